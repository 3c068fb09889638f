"""IETF Token Status List (draft-ietf-oauth-status-list-20): lists, token claims, lookup.

The status of token ``i`` is ``bits`` bits (1, 2, 4 or 8) of byte ``⌊i·bits/8⌋``, packed from
the *least* significant bit (§4.1): ``(byte >> (i·bits mod 8)) & (2**bits − 1)``, the opposite
of the W3C Bitstring Status List. ``lst`` is the byte array DEFLATE-compressed with the ZLIB
wrapper (RFC 1950/1951), base64url without padding. Status values: 0 VALID, 1 INVALID,
2 SUSPENDED; 3 and 12–15 are application-specific (§7).

``token_status`` does the lookup steps of §8.3 that need no network and no signature: the
caller fetches the Status List Token, verifies its signature and ``typ`` (``statuslist+jwt``)
and hands over its claims. ``status_list_token_digest`` is what Suixin anchors for a token it
publishes: SHA-256 over ``b"suixin-token-status-list/1"`` and the compact JWT's bytes.
"""

from __future__ import annotations

import base64
import hashlib
import re
import zlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeGuard
from urllib.parse import urlsplit

from verifier.errors import InvalidInput
from verifier.messages import Reason

__all__ = [
    "MAX_TOKEN_STATUS_LIST_BYTES",
    "STATUS_LIST_TOKEN_MEDIA_TYPE",
    "STATUS_LIST_TOKEN_TYPE",
    "TOKEN_STATUS_INVALID",
    "TOKEN_STATUS_LIST_DIGEST_DOMAIN",
    "TOKEN_STATUS_SUSPENDED",
    "TOKEN_STATUS_VALID",
    "StatusListReference",
    "TokenStatusList",
    "TokenStatusListError",
    "status_list_token_claims",
    "status_list_token_digest",
    "token_status",
]

TOKEN_STATUS_VALID = 0x00
TOKEN_STATUS_INVALID = 0x01
TOKEN_STATUS_SUSPENDED = 0x02
STATUS_LIST_TOKEN_TYPE = "statuslist+jwt"  # the JOSE header ``typ`` (§5.1)
STATUS_LIST_TOKEN_MEDIA_TYPE = "application/statuslist+jwt"
TOKEN_STATUS_LIST_DIGEST_DOMAIN = b"suixin-token-status-list/1"
# A Suixin limit against decompression bombs: 16 MiB (2**27 one-bit statuses).
MAX_TOKEN_STATUS_LIST_BYTES = 16 * 1024 * 1024

_BITS = (1, 2, 4, 8)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)


class TokenStatusListError(InvalidInput):
    """A Status List, its token or a status reference is malformed, or no status can be read
    (wrong list, expired token, index out of bounds): the token must then be rejected."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.reason = Reason(code, zh, en)

    @property
    def code(self) -> str:
        """The stable code of the failure."""
        return self.reason.code

    def diagnostics(self) -> str:
        return f"{self.reason.zh} / {self.reason.en} [{self.reason.code}]"


def _error(code: str, zh: str, en: str) -> TokenStatusListError:
    return TokenStatusListError(code, zh, en)


def _check_bits(bits: object) -> int:
    if isinstance(bits, bool) or not isinstance(bits, int) or bits not in _BITS:
        raise _error(
            "status_list_bits_invalid",
            "状态列表的 bits 只能是 1、2、4 或 8",
            f"A status list's bits must be 1, 2, 4 or 8, not {bits!r}",
        )
    return bits


class TokenStatusList:
    """``size`` statuses of ``bits`` bits each (§4.1), all VALID (0) at first.

    Raises ``TokenStatusListError`` for ``bits`` other than 1, 2, 4, 8 and ``ValueError`` for
    a size below one.
    """

    __slots__ = ("_data", "bits")

    def __init__(self, size: int, bits: int = 1) -> None:
        self.bits = _check_bits(bits)
        if isinstance(size, bool) or not isinstance(size, int) or size < 1:
            raise ValueError(f"a status list needs at least one entry, not {size!r}")
        self._data = bytearray((size * bits + 7) // 8)

    @classmethod
    def from_bytes(cls, data: bytes, bits: int = 1) -> TokenStatusList:
        """The list whose uncompressed byte array is ``data``."""
        _check_bits(bits)
        if not data:
            raise ValueError("an empty byte array holds no status")
        status_list = cls(len(data) * 8 // bits, bits)
        status_list._data[:] = data
        return status_list

    @classmethod
    def from_json(
        cls, status_list: object, *, max_bytes: int = MAX_TOKEN_STATUS_LIST_BYTES
    ) -> TokenStatusList:
        """Read a JSON ``StatusList`` (``{"bits": …, "lst": …}``, §4.2).

        Raises ``TokenStatusListError`` when it is not an object with allowed ``bits`` and an
        ``lst`` that is base64url (no padding) of one complete ZLIB stream expanding to at most
        ``max_bytes``.
        """
        if not isinstance(status_list, Mapping):
            raise _error(
                "status_list_malformed",
                "status_list 应为含 bits 和 lst 的 JSON 对象",
                "status_list must be a JSON object with bits and lst",
            )
        bits = _check_bits(status_list.get("bits"))
        return cls.from_bytes(_inflate(status_list.get("lst"), max_bytes), bits)

    def to_json(self, *, compresslevel: int = 9) -> dict[str, Any]:
        """The JSON ``StatusList``: ``bits`` and ``lst`` (ZLIB at the highest level by default,
        as §4.1 recommends)."""
        compressed = zlib.compress(bytes(self._data), compresslevel)
        lst = base64.urlsafe_b64encode(compressed).rstrip(b"=").decode("ascii")
        return {"bits": self.bits, "lst": lst}

    def to_bytes(self) -> bytes:
        """The uncompressed byte array."""
        return bytes(self._data)

    @property
    def size(self) -> int:
        """How many statuses the byte array holds."""
        return len(self._data) * 8 // self.bits

    def _place(self, index: int) -> tuple[int, int]:
        if isinstance(index, bool) or not isinstance(index, int):
            raise TypeError(f"a status list index is an int, not {type(index).__name__}")
        if not 0 <= index < self.size:
            raise IndexError(f"index {index} outside the list of {self.size} statuses")
        position = index * self.bits
        return position // 8, position % 8

    def __getitem__(self, index: int) -> int:
        """The status at ``index``; ``IndexError`` outside the list."""
        byte, shift = self._place(index)
        return (self._data[byte] >> shift) & ((1 << self.bits) - 1)

    def __setitem__(self, index: int, value: int) -> None:
        """Set the status at ``index``; ``ValueError`` for a value that does not fit."""
        if isinstance(value, bool) or not isinstance(value, int):
            raise TypeError(f"a status is an int, not {type(value).__name__}")
        mask = (1 << self.bits) - 1
        if not 0 <= value <= mask:
            raise ValueError(f"status {value} does not fit in {self.bits} bit(s)")
        byte, shift = self._place(index)
        self._data[byte] = (self._data[byte] & ~(mask << shift)) | (value << shift)

    def __len__(self) -> int:
        return self.size

    def __eq__(self, other: object) -> bool:
        if not isinstance(other, TokenStatusList):
            return NotImplemented
        return (self.bits, self._data) == (other.bits, other._data)

    __hash__ = None  # type: ignore[assignment]  # mutable

    def __repr__(self) -> str:
        return f"TokenStatusList(size={self.size}, bits={self.bits})"


def _inflate(lst: object, max_bytes: int) -> bytes:
    if not isinstance(lst, str) or not _BASE64URL.fullmatch(lst) or len(lst) % 4 == 1:
        raise _error(
            "status_list_lst_invalid",
            "lst 应为无填充的 base64url 字符串",
            "lst must be a base64url string without padding",
        )
    compressed = base64.urlsafe_b64decode(lst + "=" * (-len(lst) % 4))
    inflater = zlib.decompressobj()  # the ZLIB wrapper (RFC 1950), checksum checked
    try:
        data = inflater.decompress(compressed, max_bytes + 1)
    except zlib.error as e:
        raise _error(
            "status_list_lst_invalid",
            "lst 解码后不是 ZLIB 压缩数据",
            f"lst does not hold ZLIB-compressed data ({e})",
        ) from e
    if len(data) > max_bytes or inflater.unconsumed_tail:
        raise _error(
            "status_list_too_large",
            f"状态列表解压后超过 {max_bytes} 字节",
            f"The status list expands to more than {max_bytes} bytes",
        )
    if not inflater.eof or inflater.unused_data or not data:
        raise _error(
            "status_list_lst_invalid",
            "lst 的 ZLIB 数据不完整、为空或后面有多余数据",
            "lst holds a truncated or empty ZLIB stream, or data after it",
        )
    return data


# ----------------------------------------------------------------------------- tokens


def _numeric_date(value: datetime, name: str) -> int:
    if value.tzinfo is None:
        raise ValueError(f"{name} must be timezone-aware")
    return int(value.timestamp())


def _is_uri(value: object) -> TypeGuard[str]:
    if not isinstance(value, str) or not value or any(c.isspace() for c in value):
        return False
    return bool(urlsplit(value).scheme)


def status_list_token_claims(
    uri: str,
    status_list: TokenStatusList,
    *,
    issued_at: datetime,
    expires_at: datetime | None = None,
    ttl: int | None = None,
) -> dict[str, Any]:
    """The claims of a Status List Token in JWT format (§5.1): ``sub`` (= ``uri``, where it is
    published), ``iat``, ``exp`` and ``ttl`` (seconds a consumer may cache it) when given, and
    ``status_list``. Sign it as a JWT whose header ``typ`` is ``statuslist+jwt``.

    Raises ``ValueError`` for a ``uri`` that is not a URI, a naive datetime, an expiry not
    after the issue time, or a ``ttl`` that is not a positive integer.
    """
    if not _is_uri(uri):
        raise ValueError(f"uri must be a URI, not {uri!r}")
    claims: dict[str, Any] = {"sub": uri, "iat": _numeric_date(issued_at, "issued_at")}
    if expires_at is not None:
        claims["exp"] = _numeric_date(expires_at, "expires_at")
        if claims["exp"] <= claims["iat"]:
            raise ValueError("expires_at must be after issued_at")
    if ttl is not None:
        if isinstance(ttl, bool) or not isinstance(ttl, int) or ttl <= 0:
            raise ValueError("ttl must be a positive number of seconds")
        claims["ttl"] = ttl
    claims["status_list"] = status_list.to_json()
    return claims


@dataclass(frozen=True, slots=True)
class StatusListReference:
    """A Referenced Token's ``status.status_list`` (§6.2): the index and the list's URI."""

    idx: int
    uri: str

    @classmethod
    def from_claims(cls, claims: Mapping[str, Any]) -> StatusListReference:
        """Read ``status.status_list`` from a Referenced Token's claims (§8.3 step 1).

        Raises ``TokenStatusListError`` when it is absent or its ``idx`` is not a non-negative
        integer or its ``uri`` not a URI.
        """
        status = claims.get("status")
        reference = status.get("status_list") if isinstance(status, Mapping) else None
        if not isinstance(reference, Mapping):
            raise _error(
                "status_reference_missing",
                "凭证没有 status.status_list 状态引用",
                "The token has no status.status_list reference",
            )
        return cls.from_json(reference)

    @classmethod
    def from_json(cls, reference: Mapping[str, Any]) -> StatusListReference:
        """Read a ``status_list`` object (``{"idx": …, "uri": …}``)."""
        idx = reference.get("idx")
        uri = reference.get("uri")
        if isinstance(idx, bool) or not isinstance(idx, int) or idx < 0:
            raise _error(
                "status_reference_idx_invalid",
                "status_list.idx 应为非负整数",
                "status_list.idx must be a non-negative integer",
            )
        if not _is_uri(uri):
            raise _error(
                "status_reference_uri_invalid",
                "status_list.uri 应为 URI",
                "status_list.uri must be a URI",
            )
        return cls(idx, uri)

    def to_json(self) -> dict[str, Any]:
        """The claim as a Referenced Token carries it: ``{"status_list": {"idx", "uri"}}``."""
        return {"status_list": {"idx": self.idx, "uri": self.uri}}


def _number(value: object) -> bool:
    return isinstance(value, int | float) and not isinstance(value, bool)


def token_status(
    reference: StatusListReference | Mapping[str, Any],
    token_claims: Mapping[str, Any],
    *,
    now: datetime | None = None,
) -> int:
    """The status value (0 VALID, 1 INVALID, 2 SUSPENDED, …) the Status List Token gives.

    ``reference`` is a ``StatusListReference`` or the Referenced Token's claims;
    ``token_claims`` are the claims of the Status List Token, whose signature and ``typ`` the
    caller has verified. Checks (§5.1, §8.3): ``sub``, ``iat`` and ``status_list`` are
    present, ``sub`` equals the reference's ``uri``, the token has not expired (``exp``), a
    ``ttl`` is a positive number, and the index lies inside the list. Raises
    ``TokenStatusListError`` when any fails: no statement about the status can then be made
    and the Referenced Token must be rejected.
    """
    if isinstance(reference, StatusListReference):
        ref = reference
    else:
        ref = StatusListReference.from_claims(reference)
    now = now or datetime.now(UTC)
    if now.tzinfo is None:
        raise ValueError("now must be timezone-aware")
    sub = token_claims.get("sub")
    if not isinstance(sub, str) or not _number(token_claims.get("iat")):
        raise _error(
            "status_list_token_malformed",
            "状态列表令牌缺少 sub 或 iat",
            "The Status List Token lacks sub or iat",
        )
    if sub != ref.uri:
        raise _error(
            "status_list_token_subject_mismatch",
            "状态列表令牌的 sub 与凭证所引用的 uri 不符：不是该凭证的状态列表",
            "The Status List Token's sub is not the uri the token references: wrong list",
        )
    exp = token_claims.get("exp")
    if exp is not None and (not _number(exp) or now.timestamp() >= exp):
        raise _error(
            "status_list_token_expired",
            "状态列表令牌已过期，需获取新的",
            "The Status List Token has expired; fetch a fresh one",
        )
    ttl = token_claims.get("ttl")
    if ttl is not None and (not _number(ttl) or ttl <= 0):
        raise _error(
            "status_list_token_malformed",
            "状态列表令牌的 ttl 应为正数",
            "The Status List Token's ttl must be a positive number",
        )
    status_list = TokenStatusList.from_json(token_claims.get("status_list"))
    if ref.idx >= status_list.size:
        raise _error(
            "status_list_index_out_of_range",
            f"状态序号 {ref.idx} 超出状态列表范围（共 {status_list.size} 项）",
            f"The status index {ref.idx} lies outside the list of {status_list.size} statuses",
        )
    return status_list[ref.idx]


def status_list_token_digest(token: str | bytes) -> bytes:
    """What Suixin anchors for a Status List Token it publishes:
    ``SHA-256(b"suixin-token-status-list/1" ‖ the compact JWT, ASCII)``. Raises
    ``ValueError`` for a token that is not ASCII text."""
    data = token.encode("utf-8") if isinstance(token, str) else bytes(token)
    if not data.isascii():
        raise ValueError("a compact JWT is ASCII")
    return hashlib.sha256(TOKEN_STATUS_LIST_DIGEST_DOMAIN + data).digest()
