"""W3C Bitstring Status List v1.0: encode lists, build list credentials, read an entry's status.

A list is a bitstring of at least 131,072 entries (16 KB at one bit each) where entry ``i`` of
``statusSize`` bits occupies bits ``i·size … i·size+size−1``, bit 0 being the most significant
bit of the first byte (the spec's "left-most bit"). ``encodedList`` is the bitstring GZIP-
compressed (RFC 1952) and multibase-encoded as base64url without padding (prefix ``u``).

``check_status`` runs the spec's validate algorithm (§3.2) on an entry and a fetched list
credential and raises its errors as a small tree::

    StatusListError                  kind = the spec's error name, reason in 中文 and English
    ├── StatusRetrievalError         STATUS_RETRIEVAL_ERROR: the list could not be had
    ├── StatusVerificationError      STATUS_VERIFICATION_ERROR: proof, issuer, purpose,
    │                                validity period or anchored digest does not hold
    ├── StatusListLengthError        STATUS_LIST_LENGTH_ERROR: fewer entries than herd privacy needs
    ├── StatusRangeError             RANGE_ERROR (VCDM 2.0): the index lies outside the list
    └── MalformedStatusValue         MALFORMED_VALUE_ERROR (VCDM 2.0): a property breaks a MUST

**Anchoring.** ``status_list_digest`` is what an authority anchors on chain for a list it
publishes: SHA-256 over the domain ``b"suixin-status-list/1"`` followed by the RFC 8785 (JCS)
bytes of the *signed* list credential, proof included. The domain keeps the value apart from
a credential digest (plain SHA-256 of JCS, a Merkle leaf), since a list credential is a
credential too. ``check_status_list_digest`` compares a fetched list with the anchored value,
so an edited, re-signed or rolled-back list is caught.

**One commitment per authority.** A Suixin authority does not anchor each list: status changes
scatter over all its lists, and one storage write per list per batch would cost thousands of
gas a change. It anchors its *list set* instead (``StatusListSet``): the URL and digest of each
list it publishes, under one digest (``STATUS_LIST_SET_DOMAIN`` ‖ JCS), keyed on chain by
``list_id_hash`` of the set's URL. A list is the issuer's current one when its digest is the
set's entry for its URL and the set's digest is the one on chain.
"""

from __future__ import annotations

import base64
import gzip
import hashlib
import re
import zlib
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from verifier._time import parse_timestamp
from verifier.contexts import VC_V2_CONTEXT
from verifier.errors import SuixinError
from verifier.jcs import canonicalize
from verifier.messages import Reason
from verifier.proofs import (
    Ed25519Signer,
    sign_credential,
    split_verification_method,
    verify_proof,
)

__all__ = [
    "BITSTRING_STATUS_LIST",
    "BITSTRING_STATUS_LIST_CREDENTIAL",
    "BITSTRING_STATUS_LIST_ENTRY",
    "MAX_STATUS_LIST_BYTES",
    "MAX_STATUS_SIZE",
    "MIN_STATUS_LIST_ENTRIES",
    "STATUS_LIST_DIGEST_DOMAIN",
    "STATUS_LIST_SET_DOMAIN",
    "MalformedStatusValue",
    "StatusBitstring",
    "StatusCheck",
    "StatusListEntry",
    "StatusListError",
    "StatusListLengthError",
    "StatusListSet",
    "StatusMessage",
    "StatusRangeError",
    "StatusRetrievalError",
    "StatusVerificationError",
    "build_status_list_credential",
    "check_status",
    "check_status_list_digest",
    "list_id_hash",
    "sign_status_list_credential",
    "status_list_digest",
    "status_list_entries",
]

BITSTRING_STATUS_LIST_ENTRY = "BitstringStatusListEntry"
BITSTRING_STATUS_LIST_CREDENTIAL = "BitstringStatusListCredential"
BITSTRING_STATUS_LIST = "BitstringStatusList"
# §3.2: the smallest list a verifier accepts (herd privacy), and the default list size.
MIN_STATUS_LIST_ENTRIES = 131_072
# A Suixin limit, not the spec's: statusSize > 1 needs 2**statusSize status messages.
MAX_STATUS_SIZE = 16
# A Suixin limit against decompression bombs: 16 MiB uncompressed (134 million 1-bit entries).
MAX_STATUS_LIST_BYTES = 16 * 1024 * 1024
STATUS_LIST_DIGEST_DOMAIN = b"suixin-status-list/1"
STATUS_LIST_SET_DOMAIN = b"suixin-status-list-set/1"

_STATUS_LIST_PROBLEM = "https://www.w3.org/ns/credentials/status-list#"
_VCDM_PROBLEM = "https://www.w3.org/TR/vc-data-model#"
_INDEX = re.compile(r"[0-9]+", re.ASCII)
_HEX_STATUS = re.compile(r"0x[0-9a-fA-F]+", re.ASCII)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)
_VC = "VerifiableCredential"


# ------------------------------------------------------------------------------ errors


class StatusListError(SuixinError):
    """A status could not be established; ``kind`` is the spec's error name.

    ``reason`` carries a stable code and the text in 中文 and English; ``problem()`` is the
    error as RFC 9457 problem details with the ``type`` URL the specifications give.
    """

    kind = "STATUS_VERIFICATION_ERROR"
    _problem_base = _STATUS_LIST_PROBLEM

    def __init__(self, code: str, zh: str, en: str) -> None:
        self.reason = Reason(code, zh, en)
        super().__init__(f"{self.kind} {code}: {en}")

    @property
    def code(self) -> str:
        """The stable code of the failure (finer than ``kind``)."""
        return self.reason.code

    @property
    def problem_type(self) -> str:
        """The problem-details ``type`` URL of ``kind``."""
        return self._problem_base + self.kind

    def problem(self) -> dict[str, str]:
        """RFC 9457 problem details: ``type``, ``title`` (English), ``detail`` (both)."""
        return {
            "type": self.problem_type,
            "title": self.kind,
            "detail": f"{self.reason.zh} / {self.reason.en}",
            "code": self.reason.code,
        }

    def diagnostics(self) -> str:
        return f"{self.reason.zh} / {self.reason.en} [{self.kind}: {self.reason.code}]"


class StatusRetrievalError(StatusListError):
    """STATUS_RETRIEVAL_ERROR: the status list credential could not be obtained.

    Never read this as "not revoked": no statement about the status can be made.
    """

    kind = "STATUS_RETRIEVAL_ERROR"


class StatusVerificationError(StatusListError):
    """STATUS_VERIFICATION_ERROR: the list's proof, issuer, purpose, validity period or
    anchored digest does not hold."""

    kind = "STATUS_VERIFICATION_ERROR"


class StatusListLengthError(StatusListError):
    """STATUS_LIST_LENGTH_ERROR: the list has fewer entries than herd privacy requires."""

    kind = "STATUS_LIST_LENGTH_ERROR"


class StatusRangeError(StatusListError):
    """RANGE_ERROR (VCDM 2.0): the entry's index lies outside the list."""

    kind = "RANGE_ERROR"
    _problem_base = _VCDM_PROBLEM


class MalformedStatusValue(StatusListError):
    """MALFORMED_VALUE_ERROR (VCDM 2.0): an entry or list property breaks one of its MUSTs."""

    kind = "MALFORMED_VALUE_ERROR"
    _problem_base = _VCDM_PROBLEM


def _malformed(code: str, zh: str, en: str) -> MalformedStatusValue:
    return MalformedStatusValue(code, zh, en)


# --------------------------------------------------------------------------- bitstring


class StatusBitstring:
    """A status list: ``entries`` statuses of ``status_size`` bits each, all 0 at first.

    Entry ``i`` holds bits ``i·size … i·size+size−1`` counted from the most significant bit of
    byte 0; its value reads those bits left to right. Raises ``ValueError`` for a size below 1
    or above ``MAX_STATUS_SIZE`` or fewer than one entry.
    """

    __slots__ = ("_bits", "_data", "status_size")

    def __init__(self, entries: int = MIN_STATUS_LIST_ENTRIES, status_size: int = 1) -> None:
        _check_size(status_size)
        if isinstance(entries, bool) or not isinstance(entries, int) or entries < 1:
            raise ValueError(f"a status list needs at least one entry, not {entries!r}")
        self.status_size = status_size
        self._bits = entries * status_size
        self._data = bytearray((self._bits + 7) // 8)

    @classmethod
    def from_bytes(cls, data: bytes, status_size: int = 1) -> StatusBitstring:
        """The list whose uncompressed bitstring is ``data`` (every whole entry in it)."""
        _check_size(status_size)
        entries = len(data) * 8 // status_size
        if entries < 1:
            raise ValueError("the bitstring holds no whole entry")
        bitstring = cls(entries, status_size)
        bitstring._data[:] = data[: len(bitstring._data)]
        return bitstring

    @classmethod
    def decode(
        cls, encoded_list: object, status_size: int = 1, *, max_bytes: int = MAX_STATUS_LIST_BYTES
    ) -> StatusBitstring:
        """Expand an ``encodedList`` (§3.4): multibase base64url, then GZIP.

        Raises ``MalformedStatusValue`` when it is not a ``u``-prefixed base64url string without
        padding, not exactly one complete GZIP member, or larger than ``max_bytes`` once
        expanded.
        """
        _check_size(status_size)
        return cls.from_bytes(_expand(encoded_list, max_bytes), status_size)

    @property
    def entries(self) -> int:
        """How many whole entries the list holds."""
        return self._bits // self.status_size

    def to_bytes(self) -> bytes:
        """The uncompressed bitstring."""
        return bytes(self._data)

    def encode(self, *, compresslevel: int = 9) -> str:
        """The ``encodedList`` (§3.3): GZIP with a zero timestamp, so equal lists encode equally,
        then ``u`` + base64url without padding."""
        compressed = gzip.compress(bytes(self._data), compresslevel=compresslevel, mtime=0)
        return "u" + base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")

    def _span(self, index: int) -> tuple[int, int, int]:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"a status list index is an int, not {type(index).__name__}")
        if not 0 <= index < self.entries:
            raise IndexError(f"index {index} outside the list of {self.entries} entries")
        start = index * self.status_size
        end = start + self.status_size
        first, last = start // 8, (end - 1) // 8
        return first, last, (last + 1) * 8 - end

    def __getitem__(self, index: int) -> int:
        """The status at ``index``; ``IndexError`` outside the list."""
        first, last, shift = self._span(index)
        chunk = int.from_bytes(self._data[first : last + 1], "big")
        return (chunk >> shift) & ((1 << self.status_size) - 1)

    def __setitem__(self, index: int, value: int) -> None:
        """Set the status at ``index``; ``ValueError`` for a value that does not fit."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a status is an int, not {type(value).__name__}")
        mask = (1 << self.status_size) - 1
        if not 0 <= value <= mask:
            raise ValueError(f"status {value} does not fit in {self.status_size} bit(s)")
        first, last, shift = self._span(index)
        width = last + 1 - first
        chunk = int.from_bytes(self._data[first : last + 1], "big")
        chunk = (chunk & ~(mask << shift)) | (value << shift)
        self._data[first : last + 1] = chunk.to_bytes(width, "big")

    def __len__(self) -> int:
        return self.entries

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, StatusBitstring):
            return NotImplemented
        return (self.status_size, self._bits, self._data) == (
            other.status_size,
            other._bits,
            other._data,
        )

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"StatusBitstring(entries={self.entries}, status_size={self.status_size})"


def _check_size(status_size: object) -> None:
    if isinstance(status_size, bool) or not isinstance(status_size, int):
        raise ValueError(f"statusSize must be an integer, not {status_size!r}")
    if not 1 <= status_size <= MAX_STATUS_SIZE:
        raise ValueError(f"statusSize must be 1 to {MAX_STATUS_SIZE}, not {status_size}")


def _expand(encoded_list: object, max_bytes: int) -> bytes:
    if not isinstance(encoded_list, str) or not encoded_list.startswith("u"):
        raise _malformed(
            "encoded_list_not_multibase",
            "encodedList 应为以 u 开头的 multibase base64url 字符串",
            "encodedList must be a multibase base64url string starting with 'u'",
        )
    text = encoded_list[1:]
    if not _BASE64URL.fullmatch(text) or len(text) % 4 == 1:
        raise _malformed(
            "encoded_list_not_base64url",
            "encodedList 不是无填充的 base64url 编码",
            "encodedList is not base64url without padding",
        )
    compressed = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
    inflater = zlib.decompressobj(wbits=16 + zlib.MAX_WBITS)  # a GZIP member, header checked
    try:
        data = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error as e:
        raise _malformed(
            "encoded_list_not_gzip",
            "encodedList 解码后不是 GZIP 数据",
            f"encodedList does not hold GZIP data ({e})",
        ) from e
    if len(data) > max_bytes or inflater.unconsumed_tail:
        raise _malformed(
            "encoded_list_too_large",
            f"状态列表解压后超过 {max_bytes} 字节",
            f"The status list expands to more than {max_bytes} bytes",
        )
    if not inflater.eof or inflater.unused_data:
        raise _malformed(
            "encoded_list_not_gzip",
            "encodedList 的 GZIP 数据不完整或后面有多余数据",
            "encodedList holds a truncated GZIP member or data after it",
        )
    return data


# ------------------------------------------------------------------------------ entries


@dataclass(frozen=True, slots=True)
class StatusMessage:
    """One item of ``statusMessage``: a status value and the message for it."""

    status: int
    message: str


@dataclass(frozen=True, slots=True)
class StatusListEntry:
    """A parsed ``BitstringStatusListEntry`` (§2.1)."""

    status_purpose: str
    status_list_index: int
    status_list_credential: str
    status_size: int = 1
    status_message: tuple[StatusMessage, ...] = ()
    status_reference: tuple[str, ...] = ()
    id: str | None = None

    @classmethod
    def from_json(cls, entry: object) -> StatusListEntry:
        """Read and check an entry; ``MalformedStatusValue`` names the first broken rule."""
        if not isinstance(entry, Mapping):
            raise _malformed(
                "status_entry_not_object", "状态项应为 JSON 对象", "A status entry is an object"
            )
        if entry.get("type") != BITSTRING_STATUS_LIST_ENTRY:
            raise _malformed(
                "status_entry_type",
                f"状态项类型应为 {BITSTRING_STATUS_LIST_ENTRY}",
                f"The status entry's type must be {BITSTRING_STATUS_LIST_ENTRY}",
            )
        purpose = entry.get("statusPurpose")
        if not isinstance(purpose, str) or not purpose:
            raise _malformed(
                "status_purpose_invalid",
                "statusPurpose 应为非空字符串",
                "statusPurpose must be a non-empty string",
            )
        index = entry.get("statusListIndex")
        if not isinstance(index, str) or not _INDEX.fullmatch(index):
            raise _malformed(
                "status_list_index_invalid",
                'statusListIndex 应为十进制非负整数的字符串形式（如 "94567"）',
                "statusListIndex must be a non-negative base-10 integer written as a string "
                '(e.g. "94567")',
            )
        list_url = entry.get("statusListCredential")
        if not _is_url(list_url):
            raise _malformed(
                "status_list_credential_invalid",
                "statusListCredential 应为状态列表凭证的 URL",
                "statusListCredential must be the URL of a status list credential",
            )
        entry_id = entry.get("id")
        if entry_id is not None and (not _is_url(entry_id) or entry_id == list_url):
            raise _malformed(
                "status_entry_id_invalid",
                "状态项的 id 应为 URL，且不能是状态列表本身的 URL",
                "The status entry's id must be a URL other than the status list's",
            )
        size = entry.get("statusSize", 1)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise _malformed(
                "status_size_invalid",
                "statusSize 应为大于 0 的整数",
                "statusSize must be an integer greater than zero",
            )
        if size > MAX_STATUS_SIZE:
            raise _malformed(
                "status_size_unsupported",
                f"statusSize 最大支持 {MAX_STATUS_SIZE}",
                f"statusSize above {MAX_STATUS_SIZE} is not supported",
            )
        messages = _messages(entry.get("statusMessage"), size)
        return cls(
            status_purpose=purpose,
            status_list_index=int(index),
            status_list_credential=list_url,
            status_size=size,
            status_message=messages,
            status_reference=_references(entry.get("statusReference")),
            id=entry_id if isinstance(entry_id, str) else None,
        )

    def to_json(self) -> dict[str, Any]:
        """The entry as it goes into a credential's ``credentialStatus``."""
        out: dict[str, Any] = {}
        if self.id is not None:
            out["id"] = self.id
        out["type"] = BITSTRING_STATUS_LIST_ENTRY
        out["statusPurpose"] = self.status_purpose
        out["statusListIndex"] = str(self.status_list_index)
        out["statusListCredential"] = self.status_list_credential
        if self.status_size != 1:
            out["statusSize"] = self.status_size
        if self.status_message:
            out["statusMessage"] = [
                {"status": hex(m.status), "message": m.message} for m in self.status_message
            ]
        if self.status_reference:
            refs = list(self.status_reference)
            out["statusReference"] = refs[0] if len(refs) == 1 else refs
        return out

    def message_for(self, status: int) -> str:
        """The message of a status value: from ``statusMessage``, else ``unset``/``set``."""
        for item in self.status_message:
            if item.status == status:
                return item.message
        if not self.status_message and status in (0, 1):
            return "set" if status else "unset"
        return "undefined"


def _is_url(value: object) -> TypeGuard[str]:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    parts = urlsplit(value)
    return bool(parts.scheme) and bool(parts.netloc or parts.path)


def _messages(value: object, size: int) -> tuple[StatusMessage, ...]:
    if value is None:
        if size > 1:
            raise _malformed(
                "status_message_missing",
                "statusSize 大于 1 时必须给出 statusMessage",
                "statusMessage is required when statusSize is greater than 1",
            )
        return ()
    if not isinstance(value, list) or len(value) != 1 << size:
        raise _malformed(
            "status_message_count",
            f"statusMessage 应为含 {1 << size} 项的数组（2 的 statusSize 次方）",
            f"statusMessage must be an array of {1 << size} items (2 to the statusSize)",
        )
    out = []
    for item in value:
        status = item.get("status") if isinstance(item, Mapping) else None
        message = item.get("message") if isinstance(item, Mapping) else None
        if (
            not isinstance(status, str)
            or not _HEX_STATUS.fullmatch(status)
            or int(status, 16) >= 1 << size
            or not isinstance(message, str)
        ):
            raise _malformed(
                "status_message_invalid",
                "statusMessage 每项应含 status（0x 开头的十六进制值）和 message（字符串）",
                "Each statusMessage item needs status (a 0x-prefixed hex value in range) and "
                "message (a string)",
            )
        out.append(StatusMessage(int(status, 16), message))
    return tuple(out)


def _references(value: object) -> tuple[str, ...]:
    if value is None:
        return ()
    items = value if isinstance(value, list) else [value]
    if not items or not all(_is_url(v) for v in items):
        raise _malformed(
            "status_reference_invalid",
            "statusReference 应为 URL 或 URL 数组",
            "statusReference must be a URL or an array of URLs",
        )
    return tuple(items)


def status_list_entries(credential: Mapping[str, Any]) -> list[StatusListEntry]:
    """Every ``BitstringStatusListEntry`` in ``credentialStatus`` (an object or an array);
    other status types are skipped. Raises ``MalformedStatusValue`` for a broken entry."""
    status = credential.get("credentialStatus")
    items = status if isinstance(status, list) else [status] if status is not None else []
    return [
        StatusListEntry.from_json(item)
        for item in items
        if isinstance(item, Mapping) and item.get("type") == BITSTRING_STATUS_LIST_ENTRY
    ]


# -------------------------------------------------------------------- list credentials


def _timestamp(value: datetime, name: str) -> str:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return value.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")


def build_status_list_credential(
    list_url: str,
    issuer: str,
    purposes: str | Sequence[str],
    bitstring: StatusBitstring,
    *,
    valid_from: datetime,
    valid_until: datetime | None = None,
    ttl_ms: int | None = None,
) -> dict[str, Any]:
    """The unsigned ``BitstringStatusListCredential`` (§2.2) publishing ``bitstring``.

    ``list_url`` is where it is published (its ``id``, which entries name as
    ``statusListCredential``); its subject is ``<list_url>#list``. ``ttl_ms`` is the spec's
    ``ttl`` in milliseconds. Sign it with ``sign_status_list_credential``. Raises
    ``ValueError`` for a list shorter than ``MIN_STATUS_LIST_ENTRIES``, an empty purpose, a
    ``list_url`` that is not a URL, a non-positive ``ttl_ms`` or a naive datetime.
    """
    if not _is_url(list_url):
        raise ValueError(f"list_url must be a URL, not {list_url!r}")
    names = [purposes] if isinstance(purposes, str) else list(purposes)
    if not names or not all(isinstance(p, str) and p for p in names):
        raise ValueError("a status list needs at least one non-empty statusPurpose")
    if bitstring.entries < MIN_STATUS_LIST_ENTRIES:
        raise ValueError(
            f"a status list needs at least {MIN_STATUS_LIST_ENTRIES} entries "
            f"(herd privacy), not {bitstring.entries}"
        )
    if ttl_ms is not None and (isinstance(ttl_ms, bool) or ttl_ms <= 0):
        raise ValueError("ttl_ms must be a positive number of milliseconds")
    subject: dict[str, Any] = {
        "id": f"{list_url}#list",
        "type": BITSTRING_STATUS_LIST,
        "statusPurpose": names[0] if len(names) == 1 else names,
        "encodedList": bitstring.encode(),
    }
    if ttl_ms is not None:
        subject["ttl"] = ttl_ms
    credential: dict[str, Any] = {
        "@context": [VC_V2_CONTEXT],
        "id": list_url,
        "type": [_VC, BITSTRING_STATUS_LIST_CREDENTIAL],
        "issuer": issuer,
        "validFrom": _timestamp(valid_from, "valid_from"),
    }
    if valid_until is not None:
        credential["validUntil"] = _timestamp(valid_until, "valid_until")
    credential["credentialSubject"] = subject
    return credential


def sign_status_list_credential(
    unsigned: Mapping[str, Any],
    signer: Ed25519Signer | bytes,
    verification_method: str,
    created: str,
) -> tuple[dict[str, Any], bytes]:
    """Sign a list credential with ``eddsa-jcs-2022``; return it and its anchoring digest
    (``status_list_digest``). Raises ``InvalidInput`` as ``sign_credential`` does."""
    signed = sign_credential(unsigned, signer, verification_method, created)
    return signed, status_list_digest(signed)


def status_list_digest(list_credential: Mapping[str, Any]) -> bytes:
    """The 32 bytes an authority anchors for a list it publishes:
    ``SHA-256(b"suixin-status-list/1" ‖ JCS(list_credential))``, over the signed credential
    with its proof. Raises ``InvalidInput`` when it cannot be canonicalized."""
    return hashlib.sha256(STATUS_LIST_DIGEST_DOMAIN + canonicalize(list_credential)).digest()


def check_status_list_digest(list_credential: Mapping[str, Any], anchored: bytes) -> None:
    """Check a fetched list against the digest anchored for it on chain.

    Raises ``StatusVerificationError`` (``status_list_not_anchored``) when they differ: the
    list was edited, re-signed, rolled back to an earlier version, or is not the one the
    issuer committed to. Raises ``ValueError`` when ``anchored`` is not 32 bytes.
    """
    if not isinstance(anchored, bytes) or len(anchored) != 32:
        raise ValueError("an anchored status list digest is 32 bytes")
    try:
        digest = status_list_digest(list_credential)
    except SuixinError as e:
        raise _not_anchored() from e
    if digest != anchored:
        raise _not_anchored()


def _not_anchored() -> StatusVerificationError:
    return StatusVerificationError(
        "status_list_not_anchored",
        "获取的状态列表与链上锚定的摘要不符：列表被改动、回滚，或不是签发方承诺的那一份",
        "The fetched status list does not match the digest anchored on chain: it was "
        "changed, rolled back, or is not the list the issuer committed to",
    )


@dataclass(frozen=True, slots=True)
class StatusCheck:
    """The result of §3.2: the status value, the purpose, whether it is 0, and its message."""

    status: int
    purpose: str
    valid: bool
    message: str | None
    entry: StatusListEntry
    list_entries: int

    def to_json(self) -> dict[str, Any]:
        """The result as the spec's map (``status``, ``purpose``, ``valid``, ``message``)."""
        out: dict[str, Any] = {"status": self.status, "purpose": self.purpose, "valid": self.valid}
        if self.message is not None:
            out["message"] = self.message
        return out


def _issuer_id(value: object) -> str | None:
    if isinstance(value, str):
        return value
    if isinstance(value, Mapping) and isinstance(value.get("id"), str):
        return str(value["id"])
    return None


def _list_subject(list_credential: Mapping[str, Any]) -> Mapping[str, Any]:
    types = list_credential.get("type")
    if not isinstance(types, list) or BITSTRING_STATUS_LIST_CREDENTIAL not in types:
        raise _malformed(
            "status_list_credential_type",
            f"获取的文档不是 {BITSTRING_STATUS_LIST_CREDENTIAL}",
            f"The fetched document is not a {BITSTRING_STATUS_LIST_CREDENTIAL}",
        )
    subject = list_credential.get("credentialSubject")
    if not isinstance(subject, Mapping) or subject.get("type") != BITSTRING_STATUS_LIST:
        raise _malformed(
            "status_list_subject_type",
            f"状态列表凭证的 credentialSubject 类型应为 {BITSTRING_STATUS_LIST}",
            f"The status list credential's subject must be of type {BITSTRING_STATUS_LIST}",
        )
    return subject


def _purposes(subject: Mapping[str, Any]) -> list[str]:
    value = subject.get("statusPurpose")
    names = value if isinstance(value, list) else [value]
    if not names or not all(isinstance(p, str) and p for p in names):
        raise _malformed(
            "status_list_purpose_invalid",
            "状态列表的 statusPurpose 应为一个或多个字符串",
            "The status list's statusPurpose must be one or more strings",
        )
    return [str(p) for p in names]


def _verification_error(code: str, zh: str, en: str) -> StatusVerificationError:
    return StatusVerificationError(code, zh, en)


def _check_list_credential(
    entry: StatusListEntry,
    list_credential: Mapping[str, Any],
    public_key: bytes,
    issuers: Iterable[str] | None,
    now: datetime,
) -> None:
    """Proof, signer, identity and validity period of the fetched list (§3.2 step 4)."""
    list_id = list_credential.get("id")
    if list_id is not None and list_id != entry.status_list_credential:
        raise _verification_error(
            "status_list_id_mismatch",
            "获取的状态列表不是状态项所指的那一份（id 不同）",
            "The fetched status list is not the one the entry names (its id differs)",
        )
    issuer = _issuer_id(list_credential.get("issuer"))
    if issuer is None:
        raise _malformed(
            "status_list_issuer_invalid",
            "状态列表凭证缺少签发方",
            "The status list credential has no issuer",
        )
    if issuers is not None and issuer not in set(issuers):
        raise _verification_error(
            "status_list_issuer_untrusted",
            f"状态列表的签发方 {issuer} 不在可接受的签发方之列",
            f"The status list's issuer {issuer} is not one this check accepts",
        )
    check = verify_proof(list_credential, public_key)
    if not check.ok:
        raise _verification_error(
            "status_list_proof_invalid",
            f"状态列表的签名未通过：{check.reason.zh}",
            f"The status list's proof does not verify: {check.reason.en}",
        )
    method = check.verification_method or ""
    try:
        signer, _ = split_verification_method(method)
    except SuixinError:
        signer = ""
    if signer != issuer:
        raise _verification_error(
            "status_list_signer_not_issuer",
            "状态列表不是由其签发方的密钥签名的",
            "The status list is not signed with a key of its issuer",
        )
    valid_from = parse_timestamp(list_credential.get("validFrom"))
    valid_until = parse_timestamp(list_credential.get("validUntil"))
    for name, value in (("validFrom", valid_from), ("validUntil", valid_until)):
        if list_credential.get(name) is not None and value is None:
            raise _malformed(
                "status_list_time_invalid",
                f"状态列表的 {name} 不是带时区的时间",
                f"The status list's {name} is not a date-time with an offset",
            )
    if (valid_from is not None and now < valid_from) or (
        valid_until is not None and now > valid_until
    ):
        raise _verification_error(
            "status_list_not_current",
            "状态列表不在其有效期内",
            "The status list is outside its validity period",
        )


def check_status(
    entry: StatusListEntry | Mapping[str, Any],
    list_credential: object,
    public_key: bytes,
    *,
    issuers: Iterable[str] | None = None,
    anchored_digest: bytes | None = None,
    minimum_entries: int = MIN_STATUS_LIST_ENTRIES,
    now: datetime | None = None,
) -> StatusCheck:
    """The status of ``entry`` in the fetched ``list_credential`` (the validate algorithm, §3.2).

    ``list_credential`` is what dereferencing ``statusListCredential`` gave (``None`` when
    that failed); ``public_key`` is the raw Ed25519 key of its proof's verification method,
    which the caller resolved and trusts for the list's issuer; ``issuers``, when given, are
    the issuers accepted for the list; ``anchored_digest``, when given, is the digest anchored
    on chain for this list (``check_status_list_digest``). ``now`` (default: the current time)
    decides whether the list is within its validity period.

    Raises ``StatusRetrievalError`` for no list, ``StatusVerificationError`` when the proof,
    signer, issuer, id, validity period, purpose or anchored digest does not hold,
    ``StatusListLengthError`` for fewer than ``minimum_entries`` entries, ``StatusRangeError``
    for an index outside the list, and ``MalformedStatusValue`` for a malformed entry or list.
    A ``status`` of 0 is ``valid``; anything else is for the caller to act on by purpose.
    """
    parsed = entry if isinstance(entry, StatusListEntry) else StatusListEntry.from_json(entry)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    if not isinstance(list_credential, Mapping):
        raise StatusRetrievalError(
            "status_list_unavailable",
            f"无法获取状态列表 {parsed.status_list_credential}，不能判断凭证状态",
            f"The status list {parsed.status_list_credential} could not be obtained; the "
            "credential's status is unknown",
        )
    subject = _list_subject(list_credential)
    _check_list_credential(parsed, list_credential, public_key, issuers, now)
    if anchored_digest is not None:
        check_status_list_digest(list_credential, anchored_digest)
    if parsed.status_purpose not in _purposes(subject):
        raise _verification_error(
            "status_purpose_mismatch",
            f"状态列表不含用途“{parsed.status_purpose}”",
            f"The status list does not serve the purpose {parsed.status_purpose!r}",
        )
    bitstring = StatusBitstring.decode(subject.get("encodedList"), parsed.status_size)
    if bitstring.entries < minimum_entries:
        raise StatusListLengthError(
            "status_list_too_short",
            f"状态列表只有 {bitstring.entries} 项，少于隐私保护要求的 {minimum_entries} 项",
            f"The status list holds {bitstring.entries} entries, fewer than the "
            f"{minimum_entries} herd privacy requires",
        )
    if parsed.status_list_index >= bitstring.entries:
        raise StatusRangeError(
            "status_list_index_out_of_range",
            f"状态项序号 {parsed.status_list_index} 超出状态列表范围（共 {bitstring.entries} 项）",
            f"The status index {parsed.status_list_index} lies outside the list of "
            f"{bitstring.entries} entries",
        )
    status = bitstring[parsed.status_list_index]
    message = parsed.message_for(status) if parsed.status_purpose == "message" else None
    return StatusCheck(status, parsed.status_purpose, status == 0, message, parsed, len(bitstring))


def list_id_hash(url: str) -> bytes:
    """The key of a published list (or list set) on chain: SHA-256 of its URL (UTF-8)."""
    return hashlib.sha256(url.encode()).digest()


@dataclass(frozen=True)
class StatusListSet:
    """An authority's published status lists: each list's URL and digest, one commitment.

    ``to_json`` is the document the office serves at ``url`` and a snapshot carries; its
    ``digest`` is what the authority anchors (``publishStatusLists`` under
    ``list_id_hash(url)``) whenever any list changes, in the transaction of the changes."""

    url: str
    issuer: str
    version: int
    lists: Mapping[str, bytes]  # list URL → status_list_digest of its current version

    def to_json(self) -> dict[str, Any]:
        """The set as a JSON document (hex digests, URLs sorted)."""
        return {
            "type": "SuixinStatusListSet",
            "id": self.url,
            "issuer": self.issuer,
            "version": self.version,
            "lists": {url: self.lists[url].hex() for url in sorted(self.lists)},
        }

    @property
    def digest(self) -> bytes:
        """``SHA-256(b"suixin-status-list-set/1" ‖ JCS(to_json()))``."""
        return hashlib.sha256(STATUS_LIST_SET_DOMAIN + canonicalize(self.to_json())).digest()

    @classmethod
    def from_json(cls, document: object) -> StatusListSet:
        """Read a served set; raises ``MalformedStatusValue`` for anything else."""
        if not isinstance(document, Mapping) or document.get("type") != "SuixinStatusListSet":
            raise _malformed(
                "status_list_set_invalid",
                "不是签发方的状态列表集合（SuixinStatusListSet）",
                "Not an issuer's status list set (SuixinStatusListSet)",
            )
        try:
            lists = document["lists"]
            if not isinstance(lists, Mapping):
                raise TypeError("lists")
            parsed = {str(url): bytes.fromhex(str(digest)) for url, digest in lists.items()}
            if not all(len(d) == 32 for d in parsed.values()):
                raise ValueError("digest length")
            version = document["version"]
            if isinstance(version, bool) or not isinstance(version, int) or version < 0:
                raise ValueError("version")
            return cls(str(document["id"]), str(document["issuer"]), version, parsed)
        except (KeyError, TypeError, ValueError) as e:
            raise _malformed(
                "status_list_set_invalid",
                f"状态列表集合格式有误（{e}）",
                f"The status list set is malformed ({e})",
            ) from e

    def anchored_digest_of(self, list_url: str, anchored_set_digest: bytes) -> bytes:
        """The digest committed for ``list_url``: this set's entry, once the set is shown to be
        the one anchored. Raises ``StatusVerificationError`` (``status_list_not_anchored``)
        when the set is not the anchored one or does not hold the list."""
        if self.digest != anchored_set_digest or list_url not in self.lists:
            raise _not_anchored()
        return self.lists[list_url]
