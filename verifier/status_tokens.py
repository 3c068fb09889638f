"""The status of an SD-JWT VC from the issuer's Token Status List, proven the committed one.

An SD-JWT VC names no credential: its ``status.status_list`` holds an index of its own and
the URI of a Status List Token (draft-ietf-oauth-status-list, ``verifier.token_status_list``).
``token_list_status`` decides the ``status`` check from a token it is *given* (fetched whole by
its URI, or carried by an offline snapshot), after these checks, each refusing with a reason:

- the token is a JWT whose header ``typ`` is ``statuslist+jwt``, ``alg`` EdDSA, and ``kid``
  ``<issuer DID>#<key>`` a key the issuing authority registered on chain, valid when its list
  set was anchored, whose signature holds (``status_list_token_invalid``,
  ``status_list_key_unknown``, ``status_list_token_signature_invalid``);
- its digest (``status_list_token_digest``) is the one the authority's *list set* commits to,
  and that set's digest is the one the authority anchored on chain (``publishStatusLists`` /
  ``setStatusBatchWithLists``, read by the verifier's index) (``status_list_not_anchored``);
- ``sub`` is the referenced URI, it has not expired, and the index lies in the list
  (``token_status``: ``status_list_token_subject_mismatch``, ``status_list_token_expired``, …).

Then 0 passes, 1 (revoked or superseded) and 2 (suspended) fail. With no token or no set at
hand the status cannot be decided: the check is PENDING (``status_list_unavailable``), never a
silent pass, and the verdict can then not be VALID.

Where the documents come from is a ``StatusListSource``: ``SnapshotLists`` (an offline
snapshot's documents), ``FetchedLists`` (HTTP, short timeout, size limit, cached for the
token's ``ttl``).
"""

from __future__ import annotations

import json
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, Protocol
from urllib.parse import quote, unquote, urlsplit

from verifier._base64url import b64url_decode
from verifier.keys import ed25519_verify
from verifier.messages import Reason
from verifier.registry import AuthorityRecord, RegistryIndex
from verifier.status_list import (
    StatusListError,
    StatusListSet,
    list_id_hash,
)
from verifier.token_status_list import (
    STATUS_LIST_TOKEN_MEDIA_TYPE,
    STATUS_LIST_TOKEN_TYPE,
    TOKEN_STATUS_INVALID,
    TOKEN_STATUS_SUSPENDED,
    TOKEN_STATUS_VALID,
    StatusListReference,
    TokenStatusListError,
    status_list_token_digest,
    token_status,
)

__all__ = [
    "FETCH_MAX_BYTES",
    "FETCH_TIMEOUT_SECONDS",
    "STATUS_LIST_TOKEN_DOCUMENT",
    "FetchedLists",
    "SnapshotLists",
    "StatusListSource",
    "TokenCheck",
    "issuer_list_base",
    "list_document_digest",
    "office_locator",
    "set_url_of",
    "token_document",
    "token_list_status",
]

# how a snapshot (and ``/v1/status-lists``) carries a Status List Token among list documents
STATUS_LIST_TOKEN_DOCUMENT = "SuixinStatusListToken"
FETCH_TIMEOUT_SECONDS = 3.0
# a token of 131,072 two-bit entries is 32 KiB before compression; a set lists ~100 bytes a list
FETCH_MAX_BYTES = 1024 * 1024
DEFAULT_TTL_SECONDS = 60


def token_document(uri: str, token: str) -> dict[str, Any]:
    """A Status List Token as a list document: ``{type, id: its URI, token}``."""
    return {"type": STATUS_LIST_TOKEN_DOCUMENT, "id": uri, "token": token}


def list_document_digest(document: Mapping[str, Any]) -> bytes:
    """The digest a list set commits to for a list document: a W3C list credential's, or a
    Status List Token's (``status_list_token_digest`` of the compact JWT)."""
    if document.get("type") == STATUS_LIST_TOKEN_DOCUMENT:
        token = document.get("token")
        if not isinstance(token, str):
            raise ValueError("a status list token document carries no token")
        return status_list_token_digest(token)
    from verifier.status_list import status_list_digest

    return status_list_digest(document)


def issuer_list_base(did: str) -> str | None:
    """Where a did:web issuer publishes its lists, ``https://<host>/status-lists``; None for
    another DID (it publishes none), as the office places them."""
    if not did.startswith("did:web:") or ":" in did.removeprefix("did:web:"):
        return None
    return f"https://{unquote(did.removeprefix('did:web:')).lower()}/status-lists"


def set_url_of(uri: str) -> str:
    """Where the list set of a token at ``<base>/token/<n>`` is served: ``<base>``."""
    return uri.rsplit("/", 2)[0]


class StatusListSource(Protocol):
    """Where a verifier gets Status List Tokens and list sets."""

    def token(self, uri: str, issuer: str, *, fresh: bool = False) -> str | None:
        """The compact Status List Token published at ``uri``, or None."""

    def list_set(self, uri: str, issuer: str, *, fresh: bool = False) -> Mapping[str, Any] | None:
        """The issuer's list set that should commit to the token at ``uri``, or None."""


class SnapshotLists:
    """The tokens and sets an offline snapshot carries (``RegistryIndex.list_documents``)."""

    def __init__(self, index: RegistryIndex) -> None:
        self.index = index

    def token(self, uri: str, issuer: str, *, fresh: bool = False) -> str | None:
        document = self.index.list_documents.get(uri)
        if document and document.get("type") == STATUS_LIST_TOKEN_DOCUMENT:
            token = document.get("token")
            return token if isinstance(token, str) else None
        return None

    def list_set(self, uri: str, issuer: str, *, fresh: bool = False) -> Mapping[str, Any] | None:
        for document in self.index.list_documents.values():
            if document.get("type") == "SuixinStatusListSet" and document.get("issuer") == issuer:
                lists = document.get("lists")
                if isinstance(lists, Mapping) and uri in lists:
                    return document
        return None


@dataclass
class _Cached:
    body: bytes
    until: float


class FetchedLists:
    """Tokens and sets fetched whole over HTTP(S): ``timeout`` seconds, at most ``max_bytes``,
    each kept for its ``ttl`` (the token's claim; the set as long as its token). ``locate``
    maps a published URI and its issuer's DID to the URL to fetch (default: the URI itself;
    a counter given an office fetches the office's ``/v1/authorities/{did}/…`` copy)."""

    def __init__(
        self,
        *,
        locate: Callable[[str, str], str] | None = None,
        timeout: float = FETCH_TIMEOUT_SECONDS,
        max_bytes: int = FETCH_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
        transport: Callable[[str, str, float, int], bytes] | None = None,
    ) -> None:
        self.locate = locate or (lambda uri, _issuer: uri)
        self.timeout = timeout
        self.max_bytes = max_bytes
        self.clock = clock
        # (url, accept, timeout, read limit) → body; HTTP(S) by urllib unless given
        self.transport = transport or _http_get
        self._cache: dict[str, _Cached] = {}
        self._lock = threading.Lock()
        self.fetches = 0  # HTTP requests made (tests, metrics)

    def _get(self, url: str, accept: str, *, fresh: bool, ttl_of: Callable[[bytes], int]) -> bytes:
        now = self.clock()
        with self._lock:
            hit = self._cache.get(url)
            if hit is not None and not fresh and hit.until > now:
                cached: bytes = hit.body
                return cached
        if not url.startswith(("https://", "http://")):
            raise OSError(f"not an http(s) URL: {url[:100]}")
        self.fetches += 1
        body = self.transport(url, accept, self.timeout, self.max_bytes + 1)
        if len(body) > self.max_bytes:
            raise OSError(f"{url[:100]} answered more than {self.max_bytes} bytes")
        with self._lock:
            self._cache[url] = _Cached(body, now + ttl_of(body))
        return body

    def token(self, uri: str, issuer: str, *, fresh: bool = False) -> str | None:
        try:
            body = self._get(
                self.locate(uri, issuer),
                STATUS_LIST_TOKEN_MEDIA_TYPE,
                fresh=fresh,
                ttl_of=_token_ttl,
            )
            return body.decode("ascii").strip()
        except (OSError, urllib.error.URLError, UnicodeDecodeError, ValueError):
            return None

    def list_set(self, uri: str, issuer: str, *, fresh: bool = False) -> Mapping[str, Any] | None:
        try:
            body = self._get(
                self.locate(set_url_of(uri), issuer),
                "application/json",
                fresh=fresh,
                ttl_of=lambda _body: DEFAULT_TTL_SECONDS,
            )
            document = json.loads(body)
        except (OSError, urllib.error.URLError, UnicodeDecodeError, ValueError):
            return None
        return document if isinstance(document, dict) else None


def _http_get(url: str, accept: str, timeout: float, limit: int) -> bytes:
    request = urllib.request.Request(url, headers={"Accept": accept})
    with urllib.request.urlopen(request, timeout=timeout) as response:
        if response.status != 200:
            raise OSError(f"{url[:100]} answered {response.status}")
        body: bytes = response.read(limit)
    return body


def office_locator(office: str) -> Callable[[str, str], str]:
    """Where an office serves the lists of its authorities: a list published at
    ``https://<did:web host>/status-lists/…`` is fetched from
    ``<office>/v1/authorities/<DID>/status-lists/…`` (for a counter that reaches the office,
    not the authority's host). Other URIs are fetched as they are."""
    root = office.rstrip("/")

    def locate(uri: str, issuer: str) -> str:
        path = urlsplit(uri).path
        if path == "/status-lists" or path.startswith("/status-lists/"):
            return f"{root}/v1/authorities/{quote(issuer, safe=':')}{path}"
        return uri

    return locate


def _token_ttl(body: bytes) -> int:
    try:
        claims = json.loads(b64url_decode(body.decode("ascii").split(".")[1]))
        ttl = claims.get("ttl")
    except (ValueError, IndexError, UnicodeDecodeError, AttributeError):
        return 0
    if isinstance(ttl, int) and not isinstance(ttl, bool) and ttl > 0:
        return min(ttl, 3600)
    return DEFAULT_TTL_SECONDS


@dataclass(frozen=True)
class TokenCheck:
    """What ``token_list_status`` found: the outcome (``pass``, ``fail``, ``pending``), why,
    and the status value when one was read."""

    outcome: str
    reason: Reason
    value: int | None = None


def _refused(code: str, zh: str, en: str) -> TokenCheck:
    return TokenCheck("fail", Reason(code, zh, en))


def _verified_claims(
    token: str, auth: AuthorityRecord, index: RegistryIndex
) -> dict[str, Any] | TokenCheck:
    """The claims of a token signed by a key ``auth`` registered, else the refusal."""
    bad = _refused(
        "status_list_token_invalid",
        "状态列表令牌格式错误（应为 typ statuslist+jwt、alg EdDSA 的 JWT）",
        "The Status List Token is malformed (a JWT with typ statuslist+jwt, alg EdDSA).",
    )
    pieces = token.split(".")
    if len(pieces) != 3:
        return bad
    try:
        header = json.loads(b64url_decode(pieces[0]))
        claims = json.loads(b64url_decode(pieces[1]))
        signature = b64url_decode(pieces[2])
    except (ValueError, UnicodeDecodeError):
        return bad
    if not isinstance(header, dict) or not isinstance(claims, dict):
        return bad
    if header.get("typ") != STATUS_LIST_TOKEN_TYPE or header.get("alg") != "EdDSA":
        return bad
    kid = header.get("kid")
    did, _, key_id = kid.partition("#") if isinstance(kid, str) else ("", "", "")
    key = index.key(auth.id, key_id) if did == auth.did and key_id else None
    if key is None or key.algorithm != "Ed25519":
        return _refused(
            "status_list_key_unknown",
            f"状态列表令牌的签名密钥 {kid} 不是签发机关 {auth.did} 在链上登记的 Ed25519 密钥",
            f"The Status List Token's key {kid} is not an Ed25519 key {auth.did} registered "
            "on chain.",
        )
    if not ed25519_verify(key.public_key, signature, f"{pieces[0]}.{pieces[1]}".encode("ascii")):
        return _refused(
            "status_list_token_signature_invalid",
            "状态列表令牌的签名无效（内容被改动，或不是该密钥所签）",
            "The Status List Token's signature is invalid (changed, or another key signed it).",
        )
    claims["__key"] = key_id
    return claims


def _anchored_at(
    token: str, uri: str, document: Mapping[str, Any] | None, auth: AuthorityRecord, index: Any
) -> int | None:
    """The block time the token's list set was anchored, if the set is the committed one and
    holds the token's digest; else None."""
    if document is None or document.get("issuer") != auth.did:
        return None
    try:
        listed = StatusListSet.from_json(document)
    except StatusListError:
        return None
    record = index.status_list(auth.id, list_id_hash(listed.url))
    if (
        record is not None
        and record.digest == listed.digest
        and listed.lists.get(uri) == status_list_token_digest(token)
    ):
        return int(record.published_at)
    return None


def token_list_status(
    reference: StatusListReference,
    auth: AuthorityRecord,
    index: RegistryIndex,
    source: StatusListSource | None,
    now: datetime | None = None,
) -> TokenCheck:
    """The ``status`` of an SD-JWT VC from its Status List Token (see the module docstring).
    A cached token or set that is not the committed one is fetched once more, fresh."""
    now = now or datetime.now(UTC)
    unavailable = TokenCheck(
        "pending",
        Reason(
            "status_list_unavailable",
            "无法取得签发方的状态列表（未发布、无法访问或快照中没有），不能判定凭证状态",
            "The issuer's status list cannot be had (not published, unreachable, or not in the "
            "snapshot): the credential's status cannot be decided.",
        ),
    )
    base = issuer_list_base(auth.did)
    if base is None or not reference.uri.startswith(base + "/"):
        # never fetched: a counter asks only the issuer's own host
        return _refused(
            "status_reference_foreign",
            f"状态列表地址 {reference.uri[:100]} 不在签发机关 {auth.did} 的主机下",
            f"The status list {reference.uri[:100]} is not published under the issuer "
            f"{auth.did}'s host.",
        )
    if source is None:
        return unavailable
    for fresh in (False, True):
        token = source.token(reference.uri, auth.did, fresh=fresh)
        listed = source.list_set(reference.uri, auth.did, fresh=fresh)
        if token is None or listed is None:
            if fresh:
                return unavailable
            continue
        checked = _verified_claims(token, auth, index)
        if isinstance(checked, TokenCheck):
            if fresh:
                return checked
            continue
        anchored_at = _anchored_at(token, reference.uri, listed, auth, index)
        if anchored_at is None:
            if fresh:
                return _refused(
                    "status_list_not_anchored",
                    "状态列表令牌不在签发方链上承诺的状态列表集合中（被改动、回滚，或集合缺失）",
                    "The Status List Token is not in the list set the issuer committed to on "
                    "chain (changed, rolled back, or the set is missing).",
                )
            continue
        key_id = str(checked.pop("__key"))
        key = index.key(auth.id, key_id)
        if key is None or not key.valid_at(anchored_at):
            # judged when the chain took the list, as an SD-JWT's key is at its anchor time
            return _refused(
                "status_list_key_unknown",
                f"状态列表上链时签名密钥 {key_id} 无效（未生效或已吊销）",
                f"Key {key_id} was not valid when the status list went on chain (not yet "
                "valid, or revoked).",
            )
        try:
            value = token_status(reference, checked, now=now)
        except TokenStatusListError as e:
            if fresh:
                return TokenCheck("fail", e.reason)
            continue
        return _decided(value, reference)
    return unavailable  # pragma: no cover - the loop returns on its fresh pass


def _decided(value: int, reference: StatusListReference) -> TokenCheck:
    where = f"{reference.uri} #{reference.idx}"
    if value == TOKEN_STATUS_VALID:
        return TokenCheck(
            "pass",
            Reason(
                "status_active",
                f"凭证状态正常（未吊销、未暂停、未被取代）：签发方链上承诺的状态列表 {where}",
                "The credential is in force (not revoked, suspended or superseded): the status "
                f"list the issuer committed to on chain, {where}.",
            ),
            value,
        )
    if value == TOKEN_STATUS_INVALID:
        return TokenCheck(
            "fail",
            Reason(
                "credential_revoked",
                f"凭证已吊销或已被新版本取代（签发方链上承诺的状态列表 {where}）",
                f"The credential was revoked or superseded (the issuer's committed status "
                f"list, {where}).",
            ),
            value,
        )
    if value == TOKEN_STATUS_SUSPENDED:
        return TokenCheck(
            "fail",
            Reason(
                "credential_suspended",
                f"凭证已暂停使用（签发方链上承诺的状态列表 {where}）",
                f"The credential is suspended (the issuer's committed status list, {where}).",
            ),
            value,
        )
    return TokenCheck(
        "fail",
        Reason(
            "status_value_unknown",
            f"状态列表给出未知的状态值 {value}（{where}）",
            f"The status list gives an unknown status value {value} ({where}).",
        ),
        value,
    )
