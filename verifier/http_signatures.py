"""HTTP Message Signatures (RFC 9421, Ed25519 or ES256): how holders and partners sign requests.

Authorised use (授权调用) has two callers who hold no API key: the holder, who grants, lists and
withdraws access with the key of the holder DID in the credential, and the partner office, which
fetches a granted credential with its own key. Both sign each HTTP request; the issuing office
checks the signature, the time and the nonce before it looks at anything else. This module is
the profile both sides share, a strict subset of RFC 9421:

- covered components: ``"@method"``, ``"@path"``, ``"@query"`` and, when the request has a body,
  ``"content-digest"`` (RFC 9530, ``sha-256``), which binds the body (and so a grant's terms);
- parameters: ``created`` (Unix seconds), ``nonce`` (16–128 characters of ``[A-Za-z0-9_-]``),
  ``keyid`` (a DID URL: ``did:key:z6Mk…#z6Mk…``, an accredited authority's ``did:web:…#key-1``,
  or a wallet's P-256 key as ``did:jwk:…#0``) and ``alg``: ``"ed25519"`` (Ed25519 keys) or
  ``"ecdsa-p256-sha256"`` (RFC 9421 §3.3.4, the JWS ES256 signature: ``r‖s``, 64 bytes, over
  SHA-256; what a browser's WebCrypto makes with a P-256 key);
- exactly one signature per request (label ``sig1`` by default; any label is accepted).

``sign_request`` returns the headers to send. ``read_request_signature`` parses them, checks the
profile and the body's digest, and returns a ``RequestSignature`` whose ``verify(public_key)``
checks the signature (with the algorithm the request declares) over the RFC 9421 signature
base; a request outside the profile
raises ``RequestSignatureError`` with a bilingual reason. Whether ``created`` is fresh and the
nonce unused is for the receiving server to decide: only it knows its clock and its nonce store.
Any RFC 9421 library that produces this profile interoperates.
"""

from __future__ import annotations

import base64
import binascii
import hashlib
import json
import re
import secrets
import time
from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from verifier._base64url import b64url_decode
from verifier.errors import InvalidInput
from verifier.keys import ed25519_verify
from verifier.messages import Reason
from verifier.proofs import Ed25519Signer, split_verification_method

__all__ = [
    "ES256_ALGORITHM",
    "REQUIRED_COMPONENTS",
    "SIGNATURE_ALGORITHM",
    "SIGNATURE_ALGORITHMS",
    "RequestSignature",
    "RequestSignatureError",
    "content_digest",
    "did_jwk",
    "p256_key_of_did_jwk",
    "read_request_signature",
    "sign_request",
]

SIGNATURE_ALGORITHM = "ed25519"
ES256_ALGORITHM = "ecdsa-p256-sha256"
SIGNATURE_ALGORITHMS = (ES256_ALGORITHM, SIGNATURE_ALGORITHM)
_DID_JWK = "did:jwk:"
REQUIRED_COMPONENTS = ("@method", "@path", "@query")
_BODY_COMPONENT = "content-digest"
_SUPPORTED = frozenset((*REQUIRED_COMPONENTS, _BODY_COMPONENT))

_KEY = r"[a-z*][a-z0-9_.*-]*"
_STRING = r'"[\x20\x21\x23-\x5b\x5d-\x7e]*"'  # sf-string without escapes
_INPUT = re.compile(
    rf"(?P<label>{_KEY})=\((?P<items>(?:{_STRING}(?: {_STRING})*)?)\)"
    rf"(?P<params>(?:;{_KEY}=(?:-?[0-9]{{1,15}}|{_STRING}))*)"
)
_PARAM = re.compile(rf";(?P<name>{_KEY})=(?P<value>-?[0-9]{{1,15}}|{_STRING})")
_SIGNATURE = re.compile(rf"(?P<label>{_KEY})=:(?P<value>[A-Za-z0-9+/=]*):")
_DIGEST_MEMBER = re.compile(r"\s*(?P<alg>[a-z0-9-]+)=:(?P<value>[A-Za-z0-9+/=]*):\s*")
_NONCE = re.compile(r"[A-Za-z0-9_-]{16,128}")


class RequestSignatureError(InvalidInput):
    """A request's signature headers are missing, malformed, or outside the profile."""

    def __init__(self, reason: Reason) -> None:
        super().__init__(reason.en)
        self.reason = reason

    def diagnostics(self) -> str:
        return f"{self.reason.zh} / {self.reason.en} [{self.reason.code}]"


def _reason(code: str, zh: str, en: str) -> RequestSignatureError:
    return RequestSignatureError(Reason(code, zh, en))


def content_digest(body: bytes) -> str:
    """The ``Content-Digest`` header value of ``body`` (RFC 9530, SHA-256)."""
    return "sha-256=:" + base64.b64encode(hashlib.sha256(body).digest()).decode("ascii") + ":"


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def did_jwk(jwk: Mapping[str, Any]) -> str:
    """The ``did:jwk`` DID of a P-256 public JWK (its members ``crv, kty, x, y`` in that order,
    base64url-encoded JSON); its one key is ``did:jwk:…#0``. Raises ``InvalidInput`` for
    anything but a P-256 public JWK."""
    members = {k: jwk.get(k) for k in ("crv", "kty", "x", "y")}
    if members["kty"] != "EC" or members["crv"] != "P-256":
        raise InvalidInput("did:jwk here takes a P-256 public JWK (kty EC, crv P-256)")
    text = json.dumps(members, separators=(",", ":"))
    did = _DID_JWK + _b64url(text.encode())
    if p256_key_of_did_jwk(did) is None:
        raise InvalidInput("the JWK's x and y are not a point of P-256")
    return did


def p256_key_of_did_jwk(did_or_keyid: str) -> ec.EllipticCurvePublicKey | None:
    """The P-256 public key a ``did:jwk`` DID (or its ``#0`` key URL) encodes; None for another
    DID, a key fragment other than ``0``, or a JWK that is not a P-256 public key."""
    did, _, fragment = did_or_keyid.partition("#")
    if not did.startswith(_DID_JWK) or fragment not in ("", "0"):
        return None
    try:
        jwk = json.loads(b64url_decode(did[len(_DID_JWK) :]))
        if not isinstance(jwk, dict) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
            return None
        if "d" in jwk:  # a private key has no business in an identifier
            return None
        x, y = (int.from_bytes(b64url_decode(jwk[c]), "big") for c in ("x", "y"))
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except (ValueError, KeyError, TypeError, binascii.Error):
        return None


def _params(created: int, nonce: str, keyid: str, components: tuple[str, ...], alg: str) -> str:
    items = " ".join(f'"{c}"' for c in components)
    return f'({items});created={created};nonce="{nonce}";keyid="{keyid}";alg="{alg}"'


def _base(values: Mapping[str, str], components: tuple[str, ...], params: str) -> bytes:
    lines = [f'"{c}": {values[c]}' for c in components]
    lines.append(f'"@signature-params": {params}')
    return "\n".join(lines).encode("ascii")


def _query_value(query: str) -> str:
    return "?" + query.removeprefix("?")


def sign_request(
    method: str,
    path: str,
    *,
    key: Ed25519Signer | ec.EllipticCurvePrivateKey,
    keyid: str,
    body: bytes = b"",
    query: str = "",
    created: int | None = None,
    nonce: str | None = None,
    label: str = "sig1",
) -> dict[str, str]:
    """The headers that sign one request: ``Signature-Input``, ``Signature`` and, with a body,
    ``Content-Digest``.

    ``path`` is the request path as sent (percent-encoded, no query); ``query`` the query string
    without ``?``; ``keyid`` the DID URL of ``key``: an Ed25519 signer signs ``ed25519``, a P-256
    private key ``ecdsa-p256-sha256``. ``created`` defaults to now and ``nonce`` to
    a fresh random value. Raises ``InvalidInput`` for a keyid, nonce or label outside the profile.
    """
    split_verification_method(keyid)  # raises InvalidInput unless a DID URL with a fragment
    if not re.fullmatch(_STRING, f'"{keyid}"'):
        raise InvalidInput(f"keyid must be printable ASCII without quotes: {keyid!r}")
    nonce = nonce if nonce is not None else secrets.token_urlsafe(24)
    if not _NONCE.fullmatch(nonce):
        raise InvalidInput("nonce must be 16-128 characters of A-Z, a-z, 0-9, _ and -")
    if not re.fullmatch(_KEY, label):
        raise InvalidInput(f"signature label {label!r} is not a structured-field key")
    created = int(time.time()) if created is None else created
    components: tuple[str, ...] = REQUIRED_COMPONENTS + ((_BODY_COMPONENT,) if body else ())
    values = {"@method": method.upper(), "@path": path or "/", "@query": _query_value(query)}
    headers: dict[str, str] = {}
    if body:
        values[_BODY_COMPONENT] = headers["Content-Digest"] = content_digest(body)
    if isinstance(key, ec.EllipticCurvePrivateKey):
        if not isinstance(key.curve, ec.SECP256R1):
            raise InvalidInput("an ECDSA request signature needs a P-256 key")
        params = _params(created, nonce, keyid, components, ES256_ALGORITHM)
        der = key.sign(_base(values, components, params), ec.ECDSA(hashes.SHA256()))
        r, s = decode_dss_signature(der)
        signature = r.to_bytes(32, "big") + s.to_bytes(32, "big")
    else:
        params = _params(created, nonce, keyid, components, SIGNATURE_ALGORITHM)
        signature = key.sign(_base(values, components, params))
    headers["Signature-Input"] = f"{label}={params}"
    headers["Signature"] = f"{label}=:{base64.b64encode(signature).decode('ascii')}:"
    return headers


@dataclass(frozen=True, slots=True)
class RequestSignature:
    """A parsed request signature: who claims to sign (``keyid``, its DID and fragment), when,
    with which nonce and algorithm, and the signature base the signature must cover."""

    label: str
    keyid: str
    did: str
    key_fragment: str
    created: int
    nonce: str
    components: tuple[str, ...]
    signature: bytes
    base: bytes
    alg: str = SIGNATURE_ALGORITHM

    def verify(self, public_key: bytes | ec.EllipticCurvePublicKey) -> bool:
        """Whether the signature is ``public_key``'s signature of the signature base, with the
        declared algorithm: ``ed25519`` takes raw Ed25519 key bytes, ``ecdsa-p256-sha256`` a
        P-256 public key. A key of the other kind never verifies."""
        if self.alg == ES256_ALGORITHM:
            if not isinstance(public_key, ec.EllipticCurvePublicKey) or not isinstance(
                public_key.curve, ec.SECP256R1
            ):
                return False
            if len(self.signature) != 64:
                return False
            der = encode_dss_signature(
                int.from_bytes(self.signature[:32], "big"),
                int.from_bytes(self.signature[32:], "big"),
            )
            try:
                public_key.verify(der, self.base, ec.ECDSA(hashes.SHA256()))
            except InvalidSignature:
                return False
            return True
        if not isinstance(public_key, bytes):
            return False
        return ed25519_verify(public_key, self.signature, self.base)


def _header(headers: Mapping[str, str], name: str) -> str | None:
    lowered = {k.lower(): v for k, v in headers.items()}
    return lowered.get(name)


def read_request_signature(
    method: str, path: str, query: str, headers: Mapping[str, str], body: bytes
) -> RequestSignature:
    """Parse and check a request's signature headers against the request as received.

    ``path`` is the path as received (percent-encoded), ``query`` the raw query string.
    Raises ``RequestSignatureError`` (codes ``signature_missing``, ``signature_malformed``,
    ``signature_components``, ``signature_alg_unsupported``, ``signature_keyid_invalid``,
    ``nonce_invalid``, ``content_digest_missing``, ``content_digest_mismatch``). It does not
    check the signature itself: resolve ``keyid`` to a key and call ``verify``.
    """
    signature_input = _header(headers, "signature-input")
    signature_header = _header(headers, "signature")
    if not signature_input or not signature_header:
        raise _reason(
            "signature_missing",
            "请求未签名：缺少 Signature-Input 与 Signature 头（RFC 9421）",
            "The request is not signed: Signature-Input and Signature headers (RFC 9421) "
            "are required.",
        )
    malformed = _reason(
        "signature_malformed",
        "请求签名头格式不正确（须为单个 RFC 9421 签名）",
        "The signature headers are malformed (expected one RFC 9421 signature).",
    )
    parsed = _INPUT.fullmatch(signature_input.strip())
    signed = _SIGNATURE.fullmatch(signature_header.strip())
    if parsed is None or signed is None or parsed["label"] != signed["label"]:
        raise malformed
    components = tuple(item.strip('"') for item in parsed["items"].split(" ") if item)
    params: dict[str, str] = {}
    for match in _PARAM.finditer(parsed["params"]):
        if match["name"] in params:
            raise malformed
        params[match["name"]] = match["value"]
    if len(set(components)) != len(components) or not set(components) <= _SUPPORTED:
        raise _reason(
            "signature_components",
            "签名覆盖的请求成分不受支持或有重复",
            f"The signature covers unsupported or repeated components; use "
            f"{', '.join(sorted(_SUPPORTED))}.",
        )
    if not set(REQUIRED_COMPONENTS) <= set(components) or (
        body and _BODY_COMPONENT not in components
    ):
        raise _reason(
            "signature_components",
            "签名必须覆盖请求方法、路径、查询串，有请求体时还须覆盖 content-digest",
            "The signature must cover @method, @path, @query and, with a body, content-digest.",
        )
    alg = (params.get("alg") or "").strip('"')
    if not (params.get("alg") or "").startswith('"') or alg not in SIGNATURE_ALGORITHMS:
        raise _reason(
            "signature_alg_unsupported",
            "签名算法须为 ed25519 或 ecdsa-p256-sha256",
            'The signature must declare alg="ed25519" or alg="ecdsa-p256-sha256".',
        )
    created, nonce, keyid = params.get("created"), params.get("nonce"), params.get("keyid")
    if created is None or created.startswith('"') or nonce is None or keyid is None:
        raise malformed
    nonce, keyid = nonce.strip('"'), keyid.strip('"')
    if not _NONCE.fullmatch(nonce):
        raise _reason(
            "nonce_invalid",
            "nonce 须为 16–128 个字母、数字、下划线或连字符",
            "The nonce must be 16-128 characters of A-Z, a-z, 0-9, _ and -.",
        )
    try:
        did, fragment = split_verification_method(keyid)
    except InvalidInput:
        raise _reason(
            "signature_keyid_invalid",
            "keyid 须为带密钥片段的 DID URL（如 did:key:z6Mk…#z6Mk…）",
            "The keyid must be a DID URL with a key fragment (did:key:z6Mk…#z6Mk…).",
        ) from None
    try:
        signature = base64.b64decode(signed["value"], validate=True)
    except (binascii.Error, ValueError):
        raise malformed from None
    values = {"@method": method.upper(), "@path": path or "/", "@query": _query_value(query)}
    if _BODY_COMPONENT in components:
        values[_BODY_COMPONENT] = _checked_digest(_header(headers, "content-digest"), body)
    raw_params = signature_input.strip()[len(parsed["label"]) + 1 :]
    return RequestSignature(
        label=parsed["label"],
        keyid=keyid,
        did=did,
        key_fragment=fragment,
        created=int(created),
        nonce=nonce,
        components=components,
        signature=signature,
        base=_base(values, components, raw_params),
        alg=alg,
    )


def _checked_digest(header: str | None, body: bytes) -> str:
    if not header:
        raise _reason(
            "content_digest_missing",
            "缺少 Content-Digest 头",
            "The Content-Digest header is missing.",
        )
    members = {}
    for part in header.split(","):
        match = _DIGEST_MEMBER.fullmatch(part)
        if match is None:
            raise _reason(
                "content_digest_mismatch",
                "Content-Digest 头格式不正确",
                "The Content-Digest header is malformed.",
            )
        members[match["alg"]] = match["value"]
    expected = base64.b64encode(hashlib.sha256(body).digest()).decode("ascii")
    if members.get("sha-256") != expected:
        raise _reason(
            "content_digest_mismatch",
            "请求体与签名时的摘要不符（请求体被改动）",
            "The body does not match its signed SHA-256 digest (the body was changed).",
        )
    return header.strip()
