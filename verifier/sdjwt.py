"""SD-JWT VC (RFC 9901, IETF SD-JWT VC): issue, present with key binding, and verify on chain.

A holder shows a counter only the fields it asks for. The issuer signs a JWT whose payload holds
SHA-256 digests (``_sd``) of salted *disclosures* instead of the values; the holder hands over the
JWT, the disclosures it chooses, and a key-binding JWT (``kb+jwt``, ES256 with the key named in
``cnf``) over the verifier's ``nonce`` and audience and the ``sd_hash`` of what it presents.

Why the disclosed values can be trusted exactly as much as a full credential:

- The issuer-signed JWT is signed (EdDSA, Ed25519) with the authority's issuer key: the same key
  that signs its W3C credentials, registered on chain in the TrustRegistry (``kid`` is the
  verification method ``<authority DID>#<key id>``).
- The issuer-signed JWT is *anchored itself*: the office puts SHA-256 of its ASCII bytes as a
  leaf into a Merkle batch whose root the authority's chain account anchors, exactly as it does
  for SHA-256(JCS(credential)). The envelope carries that inclusion receipt. So ``key_validity``
  is judged at the anchor time of *this* JWT, and a JWT forged with a key after it was revoked
  fails as a forged W3C credential would. Its digests commit to every value a holder can
  disclose; a value whose disclosure digest is not in the signed ``_sd`` is refused.
- It does not name the W3C credential it was derived from: no id a counter could link visits
  or copies by. Its ``status`` is ``{"status_list": {"idx", "uri"}}``, an index of its own in
  the authority's IETF Token Status List (``verifier.status_tokens``), whose token's digest the
  authority commits to on chain through its list set. Revoking, suspending or superseding the
  credential sets the entry of every SD-JWT made from it. The office derives the claims from
  the stored, signed credential and nothing else. (An SD-JWT made before, with a visible
  ``credentialId`` and no ``status``, is still checked by that id's on-chain status.)
- Claims the checks themselves need stay visible: ``iss``, ``vct``, ``iat``, ``nbf``/``exp``
  (validFrom/validUntil), ``status``, ``cnf``, and for a 居住证 ``residenceCity`` (the
  city, not the district: the issuer check tests it against the authority's region, as for a
  居住年限证明) and ``endorsedUntil`` (the latest endorsement's end). Everything else in
  ``credentialSubject`` is selectively disclosable, the district (``residenceRegion``) too,
  and derived claims are disclosures of their own: ``age_over_18``, ``age_over_60``.

``verify_presentation`` runs the ordered checks of ``verifier.verify`` (``format``,
``signature``, ``issuer``, ``key_validity``, ``anchor``, ``status``, ``validity_period``) with
the same code and reasons, then ``holder``: the key-binding JWT, signed by the ``cnf`` key, with
the expected nonce and audience, fresh, and with a matching ``sd_hash``. Replay of a nonce is
the verifier's to refuse (it hands out and consumes nonces); this module checks equality.

Errors: malformed input raises ``SdJwtError`` (an ``InvalidInput`` with a stable ``code`` and
reasons in 中文 and English); ``verify_presentation`` never raises for a bad presentation, it
reports INVALID.
"""

from __future__ import annotations

import base64
import hashlib
import json
import secrets
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, timedelta
from typing import Any

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.utils import (
    decode_dss_signature,
    encode_dss_signature,
)

from verifier import regions
from verifier._base64url import b64url_decode as _b64url_decode
from verifier.bundle import AnchorReceipt
from verifier.credential import CHINA_TIME, CREDENTIAL_TYPES, RESIDENCE_PERMIT, RESIDENCE_YEARS
from verifier.errors import InvalidInput
from verifier.keys import ed25519_verify
from verifier.merkle import MerkleHash, merkle_digest
from verifier.messages import Reason
from verifier.proofs import Ed25519Signer
from verifier.status_tokens import SnapshotLists, StatusListSource, token_list_status
from verifier.token_status_list import StatusListReference, TokenStatusListError
from verifier.verify import (
    CHECKS,
    CheckResult,
    Outcome,
    Report,
    Verdict,
    Verifier,
    _anchored_in,
    _Facts,
    _text_or_none,
)

__all__ = [
    "KB_JWT_TYPE",
    "PRESENTATION_CHECKS",
    "SD_JWT_FORMAT",
    "SD_JWT_TYPE",
    "VCT_PREFIX",
    "Disclosure",
    "PresentationReport",
    "SdJwt",
    "SdJwtError",
    "b64url_decode",
    "b64url_encode",
    "claims_from_credential",
    "credential_type_of_vct",
    "es256_sign",
    "es256_verify",
    "issue_sd_jwt",
    "issuer_jwt_digest",
    "jwk_from_p256",
    "make_presentation_envelope",
    "p256_from_jwk",
    "parse_sd_jwt",
    "present",
    "residence_city",
    "sd_hash",
    "sign_jws",
    "vct_of",
    "verify_presentation",
    "verify_sd_jwt",
]

SD_JWT_TYPE = "dc+sd-jwt"  # the issuer-signed JWT's ``typ`` (SD-JWT VC)
SD_JWT_FORMAT = "dc+sd-jwt"  # the OpenID4VP / OpenID4VCI format identifier
KB_JWT_TYPE = "kb+jwt"
VCT_PREFIX = "https://schemas.suixin.gov.cn/vct/"
PRESENTATION_CHECKS = (*CHECKS, "holder")
_SD_ALG = "sha-256"
_RESERVED = frozenset({"_sd", "_sd_alg", "...", "iss", "iat", "nbf", "exp", "cnf", "vct", "status"})


class SdJwtError(InvalidInput):
    """An SD-JWT, disclosure or key-binding JWT is malformed or does not verify."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.reason = Reason(code, zh, en)

    @property
    def code(self) -> str:
        """The stable code of the failure."""
        return self.reason.code

    def diagnostics(self) -> str:
        """Both languages, for a person."""
        return f"{self.reason.zh} / {self.reason.en}"


# --------------------------------------------------------------------------- encodings


def b64url_encode(data: bytes) -> str:
    """Base64url without padding (RFC 7515 §2)."""
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def b64url_decode(text: str) -> bytes:
    """Decode base64url without padding; raises SdJwtError for anything else (padding, a
    character outside the URL-safe alphabet, a length no encoding has)."""
    try:
        return _b64url_decode(text)
    except ValueError as e:
        raise SdJwtError("sd_jwt_malformed", "不是 base64url 编码", "Not base64url-encoded.") from e


def _json_part(text: str, what: str) -> dict[str, Any]:
    try:
        value = json.loads(b64url_decode(text))
    except (ValueError, UnicodeDecodeError) as e:
        raise SdJwtError(
            "sd_jwt_malformed", f"{what} 不是 JSON 对象", f"The {what} is not a JSON object."
        ) from e
    if not isinstance(value, dict):
        raise SdJwtError(
            "sd_jwt_malformed", f"{what} 不是 JSON 对象", f"The {what} is not a JSON object."
        )
    return value


def _encode_json(value: Any) -> str:
    return b64url_encode(json.dumps(value, ensure_ascii=False, separators=(",", ":")).encode())


def _digest(text: str) -> str:
    return b64url_encode(hashlib.sha256(text.encode("ascii")).digest())


def jwk_from_p256(public_key: ec.EllipticCurvePublicKey) -> dict[str, str]:
    """The public JWK (RFC 7518 §6.2) of a P-256 key."""
    numbers = public_key.public_numbers()
    return {
        "kty": "EC",
        "crv": "P-256",
        "x": b64url_encode(numbers.x.to_bytes(32, "big")),
        "y": b64url_encode(numbers.y.to_bytes(32, "big")),
    }


def p256_from_jwk(jwk: object) -> ec.EllipticCurvePublicKey:
    """The P-256 public key of a JWK; raises SdJwtError if it is not one."""
    if not isinstance(jwk, Mapping) or jwk.get("kty") != "EC" or jwk.get("crv") != "P-256":
        raise SdJwtError(
            "holder_key_invalid",
            "持有人密钥不是 P-256 JWK",
            "The holder key is not a P-256 JWK.",
        )
    try:
        x = int.from_bytes(b64url_decode(jwk["x"]), "big")
        y = int.from_bytes(b64url_decode(jwk["y"]), "big")
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except (KeyError, ValueError, SdJwtError) as e:
        raise SdJwtError(
            "holder_key_invalid",
            "持有人密钥不是有效的 P-256 公钥",
            "The holder key is not a valid P-256 public key.",
        ) from e


def es256_sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> bytes:
    """The JWS ES256 signature (r||s, 64 bytes) of ``data``."""
    r, s = decode_dss_signature(key.sign(data, ec.ECDSA(hashes.SHA256())))
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


def es256_verify(key: ec.EllipticCurvePublicKey, signature: bytes, data: bytes) -> bool:
    """Whether ``signature`` (r||s) is a valid ES256 signature of ``data`` by ``key``."""
    if len(signature) != 64:
        return False
    der = encode_dss_signature(
        int.from_bytes(signature[:32], "big"), int.from_bytes(signature[32:], "big")
    )
    try:
        key.verify(der, data, ec.ECDSA(hashes.SHA256()))
    except InvalidSignature:
        return False
    return True


# --------------------------------------------------------------------------- disclosures


@dataclass(frozen=True, slots=True)
class Disclosure:
    """One object-property disclosure ``[salt, name, value]`` and its base64url text."""

    salt: str
    name: str
    value: Any
    encoded: str

    @classmethod
    def make(cls, name: str, value: Any, salt: str | None = None) -> Disclosure:
        """A new disclosure with a 128-bit random salt (RFC 9901 §9.3)."""
        salt = salt or b64url_encode(secrets.token_bytes(16))
        return cls(salt, name, value, _encode_json([salt, name, value]))

    @classmethod
    def parse(cls, encoded: str) -> Disclosure:
        """Read a disclosure; array-element disclosures are refused (Suixin issues none)."""
        bad = SdJwtError(
            "disclosure_malformed",
            "披露项格式错误",
            "A disclosure is not a [salt, name, value] array.",
        )
        try:
            value = json.loads(b64url_decode(encoded))
        except (ValueError, UnicodeDecodeError) as e:
            raise bad from e
        if (
            not isinstance(value, list)
            or len(value) != 3
            or not isinstance(value[0], str)
            or not isinstance(value[1], str)
        ):
            raise bad
        if value[1] in _RESERVED:
            raise SdJwtError(
                "disclosure_malformed",
                f"披露项使用了保留名称 {value[1]}",
                f"A disclosure uses the reserved claim name {value[1]}.",
            )
        return cls(value[0], value[1], value[2], encoded)

    @property
    def digest(self) -> str:
        """base64url(SHA-256(ASCII(encoded))), as it appears in ``_sd``."""
        return _digest(self.encoded)


# --------------------------------------------------------------------------- issuing


def vct_of(credential_type: str) -> str:
    """The SD-JWT VC type (``vct``) of a Suixin credential type."""
    if credential_type not in CREDENTIAL_TYPES:
        raise ValueError(f"unknown credential type {credential_type!r}")
    return VCT_PREFIX + credential_type


def credential_type_of_vct(vct: object) -> str | None:
    """The Suixin credential type a ``vct`` names, else None."""
    if isinstance(vct, str) and vct.startswith(VCT_PREFIX):
        name = vct[len(VCT_PREFIX) :]
        return name if name in CREDENTIAL_TYPES else None
    return None


def sign_jws(header: Mapping[str, Any], payload: Mapping[str, Any], sign: Any) -> str:
    """A compact JWS of ``payload`` under ``header``, ``sign(signing input)`` the signature."""
    signing_input = f"{_encode_json(header)}.{_encode_json(payload)}"
    return f"{signing_input}.{b64url_encode(sign(signing_input.encode('ascii')))}"


def issue_sd_jwt(
    plain: Mapping[str, Any],
    disclosable: Mapping[str, Any],
    *,
    signer: Ed25519Signer,
    kid: str,
    holder_jwk: Mapping[str, str],
    decoys: int = 2,
) -> str:
    """An SD-JWT (``<issuer JWT>~<disclosure>~…~``) with ``plain`` claims visible and each of
    ``disclosable`` behind its own disclosure; ``cnf`` binds it to ``holder_jwk``. Digests are
    sorted and padded with ``decoys`` random ones, so their order and count reveal nothing."""
    overlap = set(plain) & set(disclosable)
    if overlap or any(name in _RESERVED for name in disclosable):
        raise ValueError(f"claims both plain and disclosable, or reserved: {sorted(overlap)}")
    p256_from_jwk(holder_jwk)  # refuse a key the holder could never bind with
    disclosures = [Disclosure.make(name, value) for name, value in disclosable.items()]
    digests = [d.digest for d in disclosures]
    digests += [b64url_encode(secrets.token_bytes(32)) for _ in range(decoys)]
    payload = {
        **plain,
        "cnf": {"jwk": dict(holder_jwk)},
        "_sd": sorted(digests),
        "_sd_alg": _SD_ALG,
    }
    header = {"alg": "EdDSA", "typ": SD_JWT_TYPE, "kid": kid}
    jwt = sign_jws(header, payload, signer.sign)
    return "~".join([jwt, *(d.encoded for d in disclosures)]) + "~"


def issuer_jwt_digest(sd_jwt: str, hash: MerkleHash = "sha-256") -> bytes:
    """SHA-256 (or SM3, for an SM3-anchoring deployment) of the issuer-signed JWT's ASCII
    bytes: the Merkle leaf the office anchors."""
    return merkle_digest(sd_jwt.split("~", 1)[0].encode("ascii"), hash)


# --------------------------------------------------------------------------- parsing


@dataclass(frozen=True)
class SdJwt:
    """A parsed SD-JWT or SD-JWT+KB: the issuer JWT (split), disclosures, key binding."""

    issuer_jwt: str
    header: dict[str, Any]
    payload: dict[str, Any]
    signature: bytes
    disclosures: tuple[Disclosure, ...]
    kb_jwt: str | None
    presented: str = field(repr=False)  # everything up to and including the last ``~``

    def disclosed(self) -> dict[str, Any]:
        """The claims the disclosures reveal, each checked against the signed ``_sd`` digests;
        raises SdJwtError (``disclosure_not_signed``, ``disclosure_duplicate``)."""
        digests = self.payload.get("_sd", [])
        if not isinstance(digests, list):
            raise SdJwtError("sd_jwt_malformed", "_sd 不是数组", "_sd is not an array.")
        allowed = set(digests)
        seen: set[str] = set()
        claims: dict[str, Any] = {}
        for d in self.disclosures:
            digest = d.digest
            if digest not in allowed:
                raise SdJwtError(
                    "disclosure_not_signed",
                    f"披露项“{d.name}”不在签发方签名的摘要中（被篡改或不属于此凭证）",
                    f"The disclosure of '{d.name}' is not among the issuer-signed digests "
                    "(changed, or from another credential).",
                )
            if digest in seen or d.name in claims or d.name in self.payload:
                raise SdJwtError(
                    "disclosure_duplicate",
                    f"披露项“{d.name}”重复",
                    f"The claim '{d.name}' is disclosed twice.",
                )
            seen.add(digest)
            claims[d.name] = d.value
        return claims

    def visible(self) -> dict[str, Any]:
        """The payload's plain claims (without ``_sd``, ``_sd_alg`` and ``cnf``)."""
        return {k: v for k, v in self.payload.items() if k not in ("_sd", "_sd_alg", "cnf")}


def parse_sd_jwt(text: object) -> SdJwt:
    """Split ``<JWT>~<D>~…~[<KB-JWT>]``; raises SdJwtError for a malformed one."""
    if not isinstance(text, str) or "~" not in text:
        raise SdJwtError(
            "sd_jwt_malformed",
            "不是 SD-JWT（应为 <JWT>~<披露项>~…~）",
            "Not an SD-JWT (expected <JWT>~<disclosure>~…~).",
        )
    parts = text.split("~")
    jwt, middle, last = parts[0], parts[1:-1], parts[-1]
    pieces = jwt.split(".")
    if len(pieces) != 3:
        raise SdJwtError(
            "sd_jwt_malformed", "签发方 JWT 不是三段式", "The issuer JWT is not a compact JWS."
        )
    header = _json_part(pieces[0], "JWT header")
    payload = _json_part(pieces[1], "JWT payload")
    if any(not d for d in middle):
        raise SdJwtError("sd_jwt_malformed", "存在空的披露项", "An empty disclosure.")
    disclosures = tuple(Disclosure.parse(d) for d in middle)
    presented = text[: len(text) - len(last)]
    return SdJwt(
        issuer_jwt=jwt,
        header=header,
        payload=payload,
        signature=b64url_decode(pieces[2]),
        disclosures=disclosures,
        kb_jwt=last or None,
        presented=presented,
    )


def sd_hash(presented: str) -> str:
    """The ``sd_hash`` of an SD-JWT as presented (up to and including its last ``~``)."""
    return _digest(presented)


# --------------------------------------------------------------------------- presenting


def present(
    sd_jwt: str,
    names: Iterable[str],
    holder_key: ec.EllipticCurvePrivateKey,
    *,
    nonce: str,
    audience: str,
    issued_at: datetime | None = None,
) -> str:
    """The SD-JWT+KB revealing only the claims in ``names``, bound to ``nonce`` and
    ``audience``; raises SdJwtError if ``names`` asks for a claim the SD-JWT cannot disclose."""
    parsed = parse_sd_jwt(sd_jwt)
    wanted = set(names)
    available = {d.name: d for d in parsed.disclosures}
    missing = sorted(wanted - set(available) - set(parsed.visible()))
    if missing:
        raise SdJwtError(
            "claim_unavailable",
            f"凭证中没有可披露的字段：{', '.join(missing)}",
            f"The credential cannot disclose: {', '.join(missing)}.",
        )
    kept = [available[n].encoded for n in sorted(wanted & set(available))]
    presented = "~".join([parsed.issuer_jwt, *kept]) + "~"
    when = int((issued_at or datetime.now(UTC)).timestamp())
    payload = {"iat": when, "aud": audience, "nonce": nonce, "sd_hash": sd_hash(presented)}
    header = {"alg": "ES256", "typ": KB_JWT_TYPE}
    return presented + sign_jws(header, payload, lambda data: es256_sign(holder_key, data))


def make_presentation_envelope(
    presentation: str, anchor: Mapping[str, Any] | None
) -> dict[str, Any]:
    """What a wallet hands a counter: the SD-JWT+KB and the issuer JWT's anchor receipt."""
    return {
        "format": SD_JWT_FORMAT,
        "presentation": presentation,
        "anchor": dict(anchor) if anchor is not None else None,
    }


# --------------------------------------------------------------------------- verifying


def _check_issuer_signature(parsed: SdJwt, public_key: bytes) -> None:
    if parsed.header.get("alg") != "EdDSA":
        raise SdJwtError(
            "sd_jwt_alg_unsupported",
            f"签发方 JWT 的算法 {parsed.header.get('alg')} 不受支持（应为 EdDSA）",
            f"Issuer JWT algorithm {parsed.header.get('alg')} is not supported (EdDSA).",
        )
    signing_input = parsed.issuer_jwt.rsplit(".", 1)[0].encode("ascii")
    if not ed25519_verify(public_key, parsed.signature, signing_input):
        raise SdJwtError(
            "signature_invalid",
            "签发方 JWT 的签名无效（内容被改动或密钥不符）",
            "The issuer JWT's signature is invalid (changed, or the wrong key).",
        )


def _check_key_binding(
    parsed: SdJwt,
    *,
    nonce: str,
    audience: str,
    now: datetime,
    max_age: timedelta | None,
    clock_skew: timedelta,
) -> dict[str, Any]:
    if parsed.kb_jwt is None:
        raise SdJwtError(
            "kb_missing",
            "缺少持有人绑定（KB-JWT）：无法证明出示者持有凭证密钥",
            "No key-binding JWT: nothing shows the presenter holds the credential's key.",
        )
    cnf = parsed.payload.get("cnf")
    jwk = cnf.get("jwk") if isinstance(cnf, Mapping) else None
    if jwk is None:
        raise SdJwtError(
            "cnf_missing", "凭证未绑定持有人密钥（cnf）", "The credential has no holder key (cnf)."
        )
    holder = p256_from_jwk(jwk)
    pieces = parsed.kb_jwt.split(".")
    if len(pieces) != 3:
        raise SdJwtError("kb_malformed", "KB-JWT 格式错误", "The key-binding JWT is malformed.")
    header = _json_part(pieces[0], "KB-JWT header")
    payload = _json_part(pieces[1], "KB-JWT payload")
    if header.get("typ") != KB_JWT_TYPE or header.get("alg") != "ES256":
        raise SdJwtError(
            "kb_malformed",
            "KB-JWT 的 typ 应为 kb+jwt，alg 应为 ES256",
            "The key-binding JWT must have typ kb+jwt and alg ES256.",
        )
    signing_input = f"{pieces[0]}.{pieces[1]}".encode("ascii")
    if not es256_verify(holder, b64url_decode(pieces[2]), signing_input):
        raise SdJwtError(
            "kb_signature_invalid",
            "持有人签名无效：出示者不持有该凭证绑定的密钥",
            "The holder signature is invalid: the presenter does not hold the bound key.",
        )
    if payload.get("nonce") != nonce:
        raise SdJwtError(
            "kb_nonce_mismatch",
            "出示中的随机数与本次核验请求不符（可能是重放的旧出示）",
            "The presentation's nonce is not this request's (a replayed presentation?).",
        )
    if payload.get("aud") != audience:
        raise SdJwtError(
            "kb_audience_mismatch",
            f"出示的对象是 {payload.get('aud')}，不是本核验方",
            f"The presentation was made for {payload.get('aud')}, not for this verifier.",
        )
    if payload.get("sd_hash") != sd_hash(parsed.presented):
        raise SdJwtError(
            "kb_sd_hash_mismatch",
            "持有人签名未覆盖所出示的披露项（披露项被增删）",
            "The holder's signature does not cover the disclosures presented (added or removed).",
        )
    iat = payload.get("iat")
    if not isinstance(iat, int) or isinstance(iat, bool):
        raise SdJwtError("kb_malformed", "KB-JWT 缺少 iat", "The key-binding JWT has no iat.")
    signed = datetime.fromtimestamp(iat, UTC)
    if signed > now + clock_skew:
        raise SdJwtError(
            "kb_in_future",
            "持有人签名时间在未来",
            "The key-binding JWT is dated in the future.",
        )
    if max_age is not None and now - signed > max_age:
        raise SdJwtError(
            "kb_expired",
            f"持有人签名已超过 {int(max_age.total_seconds())} 秒，已失效",
            f"The key-binding JWT is older than {int(max_age.total_seconds())} s.",
        )
    return payload


def verify_sd_jwt(
    text: str,
    issuer_public_key: bytes,
    *,
    nonce: str,
    audience: str,
    now: datetime | None = None,
    max_age: timedelta | None = timedelta(minutes=5),
    clock_skew: timedelta = timedelta(minutes=5),
) -> dict[str, Any]:
    """The disclosed claims (and only those) of a key-bound SD-JWT, checked against the issuer
    key, the nonce and the audience; raises SdJwtError with the first failure.

    This is the SD-JWT layer alone; ``verify_presentation`` adds the chain checks."""
    parsed = parse_sd_jwt(text)
    _check_issuer_signature(parsed, issuer_public_key)
    disclosed = parsed.disclosed()
    _check_key_binding(
        parsed,
        nonce=nonce,
        audience=audience,
        now=now or datetime.now(UTC),
        max_age=max_age,
        clock_skew=clock_skew,
    )
    return disclosed


# --------------------------------------------------------------------------- on chain


@dataclass(frozen=True)
class PresentationReport:
    """The report of a presentation (every check, ``holder`` last) and the disclosed claims."""

    report: Report
    disclosed: dict[str, Any]

    @property
    def verdict(self) -> Verdict:
        """The overall verdict."""
        return self.report.verdict

    def to_json(self) -> dict[str, Any]:
        """The report as JSON, with ``disclosed``: the fields the holder revealed (nothing
        undisclosed; the visible claims the checks used are under ``credential``)."""
        return {**self.report.to_json(), "disclosed": self.disclosed}


class _Whole:
    """Stands in for a canonical split: the anchored leaf is the issuer JWT's bytes."""

    def __init__(self, whole: bytes) -> None:
        self.whole = whole


# visible subject claims, shown by every presentation (see ``claims_from_credential``)
_SHOWN_ALWAYS = ("residenceCity", "endorsedUntil")


def _iso(value: object) -> str | None:
    if isinstance(value, int) and not isinstance(value, bool):
        return datetime.fromtimestamp(value, UTC).isoformat().replace("+00:00", "Z")
    return None


def _shadow_credential(parsed: SdJwt, credential_type: str) -> dict[str, Any]:
    """The facts the credential checks read, from the signed visible claims only."""
    p = parsed.payload
    subject: dict[str, Any] = {}
    # the residence the issuer check places: the visible city (or, in an SD-JWT made before
    # the city existed, the visible district)
    for claim in ("residenceRegion", "residenceCity"):
        if isinstance(p.get(claim), str):
            subject["residenceRegion"] = p[claim]
            break
    if isinstance(p.get("endorsedUntil"), str):
        subject["endorsements"] = [{"validUntil": p["endorsedUntil"]}]
    shadow: dict[str, Any] = {
        "id": p.get("credentialId"),
        "type": ["VerifiableCredential", credential_type],
        "issuer": p.get("iss"),
        "credentialSubject": subject,
    }
    for claim, member in (("nbf", "validFrom"), ("exp", "validUntil")):
        when = _iso(p.get(claim))
        if when is not None:
            shadow[member] = when
    return shadow


def _fail(name: str, reason: Reason) -> CheckResult:
    return CheckResult(name, Outcome.FAIL, reason)


_SKIPPED = Reason(
    "not_checked", "因前面的检查未通过，未检查此项", "Not checked: an earlier check failed."
)


def _format(envelope: object) -> tuple[SdJwt | None, str | None, Mapping[str, Any] | None, Reason]:
    def bad(code: str, zh: str, en: str) -> tuple[None, None, None, Reason]:
        return None, None, None, Reason(code, zh, en)

    if not isinstance(envelope, Mapping) or envelope.get("format") != SD_JWT_FORMAT:
        return bad(
            "presentation_malformed",
            "不是 SD-JWT 出示（应为 {format: dc+sd-jwt, presentation, anchor}）",
            "Not an SD-JWT presentation ({format: dc+sd-jwt, presentation, anchor}).",
        )
    anchor = envelope.get("anchor")
    if anchor is not None:
        try:
            AnchorReceipt.from_json(anchor)
        except (KeyError, TypeError, ValueError, IndexError):
            return bad("anchor_malformed", "上链凭据格式错误", "The anchor receipt is malformed.")
    try:
        parsed = parse_sd_jwt(envelope.get("presentation"))
    except SdJwtError as e:
        return None, None, None, e.reason
    p = parsed.payload
    credential_type = credential_type_of_vct(p.get("vct"))
    if parsed.header.get("typ") != SD_JWT_TYPE or credential_type is None:
        return bad(
            "vct_unknown",
            f"未知的凭证类型 vct={p.get('vct')}",
            f"Unknown credential type vct={p.get('vct')}.",
        )
    required = ("iss", "iat")
    missing = [c for c in required if c not in p]
    if "status" not in p and "credentialId" not in p:
        missing.append("status")
    if missing or not isinstance(p.get("iat"), int):
        return bad(
            "sd_jwt_claims_missing",
            f"签发方 JWT 缺少必需声明：{', '.join(missing) or 'iat'}",
            f"The issuer JWT lacks required claims: {', '.join(missing) or 'iat'}.",
        )
    if p.get("_sd_alg", _SD_ALG) != _SD_ALG:
        return bad(
            "sd_alg_unsupported",
            f"摘要算法 {p.get('_sd_alg')} 不受支持",
            f"Digest algorithm {p.get('_sd_alg')} is not supported.",
        )
    return (
        parsed,
        credential_type,
        anchor,
        Reason("format_valid", "SD-JWT 结构与必需声明均符合", "SD-JWT shape and claims hold."),
    )


def verify_presentation(
    verifier: Verifier,
    envelope: object,
    *,
    nonce: str,
    audience: str,
    max_age: timedelta | None = timedelta(minutes=5),
    status_lists: StatusListSource | None = None,
) -> PresentationReport:
    """Every check of a key-bound SD-JWT presentation against the verifier's registry index:
    the credential checks of ``Verifier.verify`` on the anchored issuer JWT, then ``holder``.

    ``status`` is read from the SD-JWT's Status List Token (``verifier.status_tokens``), got
    from ``status_lists`` (a counter's fetcher, the office's own lists) or, without one, from
    the documents of the verifier's snapshot; with neither the status cannot be decided and the
    check is PENDING.

    The verifier is not synced here; call ``verifier.refresh()`` first when it should be.
    ``max_age`` bounds the key-binding JWT's age (None: freshness was judged earlier, as when
    a counter re-checks the status of an answer it accepted). Raises ChainUnavailable only."""
    now = verifier.policy.now()
    parsed, credential_type, anchor, format_reason = _format(envelope)
    results: dict[str, CheckResult] = {}
    disclosed: dict[str, Any] = {}
    if parsed is None or credential_type is None:
        results["format"] = _fail("format", format_reason)
        for name in PRESENTATION_CHECKS[1:]:
            results[name] = CheckResult(name, Outcome.SKIPPED, _SKIPPED)
        facts = _Facts()
    else:
        results["format"] = CheckResult("format", Outcome.PASS, format_reason)
        facts = _Facts(
            credential=_shadow_credential(parsed, credential_type),
            raw_anchor=anchor,
            kind=credential_type,
        )
        facts.canonical = _Whole(parsed.issuer_jwt.encode("ascii"))  # type: ignore[assignment]
        # the signing instant is the JWT's iat, read now (``verify._created`` would otherwise
        # read the proof's ``created``, which an SD-JWT has not)
        facts.created = datetime.fromtimestamp(parsed.payload["iat"], UTC)
        facts.created_read = True
        kid = parsed.header.get("kid")
        if isinstance(kid, str) and "#" in kid:
            facts.vm_did, facts.key_id = kid.split("#", 1)
        issuer = parsed.payload.get("iss")
        if isinstance(issuer, str):
            facts.authority = verifier.index.authority(issuer)
        if facts.authority is not None and facts.vm_did == issuer and facts.key_id:
            facts.key = verifier.index.key(facts.authority.id, facts.key_id)
        facts.anchor_result = verifier._anchor(facts, now)
        results["signature"] = _signature(facts, parsed)
        signed = results["signature"].outcome is Outcome.PASS
        if signed:
            try:
                # what the holder revealed: its disclosures, and the subject claims every
                # presentation shows (the residence city), which a counter may ask for too
                disclosed = {
                    **{k: parsed.payload[k] for k in _SHOWN_ALWAYS if k in parsed.payload},
                    **parsed.disclosed(),
                }
            except SdJwtError as e:
                results["signature"] = _fail("signature", e.reason)
                signed = False
        results["issuer"] = verifier._issuer(facts)
        results["key_validity"] = verifier._key_validity(facts, now)
        results["anchor"] = facts.anchor_result
        # read only for an SD-JWT whose issuer signature holds: a forged one never makes the
        # counter fetch anything
        results["status"] = (
            _status(verifier, facts, parsed, status_lists, now)
            if signed or "status" not in parsed.payload
            else CheckResult("status", Outcome.SKIPPED, _SKIPPED)
        )
        results["validity_period"] = verifier._validity(facts, now)
        if signed:
            try:
                _check_key_binding(
                    parsed,
                    nonce=nonce,
                    audience=audience,
                    now=now,
                    max_age=max_age,
                    clock_skew=verifier.policy.clock_skew,
                )
                results["holder"] = CheckResult(
                    "holder",
                    Outcome.PASS,
                    Reason(
                        "holder_bound",
                        "出示者持有凭证绑定的密钥，且针对本次请求（随机数、核验方）签名",
                        "The presenter holds the credential's key and signed for this request "
                        "(nonce, audience).",
                    ),
                )
            except SdJwtError as e:
                results["holder"] = _fail("holder", e.reason)
        else:
            results["holder"] = CheckResult("holder", Outcome.SKIPPED, _SKIPPED)
            disclosed = {}
    checks = tuple(results[name] for name in PRESENTATION_CHECKS)
    outcomes = {c.outcome for c in checks}
    if Outcome.FAIL in outcomes:
        verdict = Verdict.INVALID
        disclosed = {}  # nothing from an invalid presentation is shown as fact
    elif Outcome.PENDING in outcomes:
        verdict = Verdict.PENDING
    else:
        verdict = Verdict.VALID
    auth = facts.authority
    credential = facts.credential
    report = Report(
        verdict=verdict,
        checks=checks,
        checked_at=now,
        trust=verifier.trust_source(),
        credential_id=credential.get("id") if isinstance(credential.get("id"), str) else None,
        credential_type=credential_type,
        issuer=credential.get("issuer") if isinstance(credential.get("issuer"), str) else None,
        issuer_name=(auth.name_zh, auth.name_en) if auth else None,
        warnings=verifier._warnings(now),
        valid_until=_text_or_none(credential.get("validUntil")),
        anchored_in=_anchored_in(facts),
    )
    return PresentationReport(report, disclosed)


def _status(
    verifier: Verifier,
    facts: _Facts,
    parsed: SdJwt,
    source: StatusListSource | None,
    now: datetime,
) -> CheckResult:
    """The status of the SD-JWT from its Status List Token; an SD-JWT made before tokens
    existed (a visible ``credentialId``, no ``status``) by that id's status on chain."""
    if "status" not in parsed.payload:
        return verifier._status(facts)
    auth = facts.authority
    if auth is None:
        return CheckResult("status", Outcome.SKIPPED, _SKIPPED)
    try:
        reference = StatusListReference.from_claims(parsed.payload)
    except TokenStatusListError as e:
        return _fail("status", e.reason)
    if source is None and verifier.index.list_documents:
        source = SnapshotLists(verifier.index)
    found = token_list_status(reference, auth, verifier.index, source, now)
    return CheckResult("status", Outcome(found.outcome), found.reason)


def _signature(facts: _Facts, parsed: SdJwt) -> CheckResult:
    if facts.vm_did is None or not facts.key_id:
        return _fail(
            "signature",
            Reason(
                "verification_method_malformed",
                "签发方 JWT 的 kid 不是 <DID>#<密钥>",
                "The issuer JWT's kid is not <DID>#<key>.",
            ),
        )
    if facts.key is None:
        return _fail(
            "signature",
            Reason(
                "verification_method_unknown",
                f"签名密钥 {facts.vm_did}#{facts.key_id} 未在链上信任注册表中登记",
                f"The signing key {facts.vm_did}#{facts.key_id} is not registered on chain.",
            ),
        )
    if facts.key.algorithm != "Ed25519":
        # JOSE registers no SM2 algorithm, so Suixin issues SD-JWT VCs with Ed25519 keys only
        return _fail(
            "signature",
            Reason(
                "sd_jwt_key_unsupported",
                f"签发方 JWT 所指密钥 {facts.key_id} 是 {facts.key.algorithm} 密钥；SD-JWT 凭证只用"
                " EdDSA（Ed25519）签名",
                f"The issuer JWT names key {facts.key_id}, an {facts.key.algorithm} key; SD-JWT "
                "VCs are signed with EdDSA (Ed25519) only.",
            ),
        )
    try:
        _check_issuer_signature(parsed, facts.key.public_key)
    except SdJwtError as e:
        return _fail("signature", e.reason)
    return CheckResult(
        "signature",
        Outcome.PASS,
        Reason(
            "signature_valid", "签发方签名有效（EdDSA）", "The issuer signature is valid (EdDSA)."
        ),
    )


def residence_city(region_code: str, authority_region: int | str | None = None) -> str:
    """The residence as an SD-JWT shows it to everyone: the city (地级市, or a municipality)
    holding the district, or the district itself when the issuing authority's own region is
    narrower than a city (so the issuer check can still place it)."""
    if authority_region is not None and regions.level(authority_region) == "county":
        return region_code
    if regions.level(region_code) != "county":
        return region_code
    return regions.parent(region_code) or region_code


def claims_from_credential(
    credential: Mapping[str, Any],
    issued_at: datetime,
    *,
    authority_region: int | str | None = None,
    status: Mapping[str, Any] | None = None,
) -> tuple[dict[str, Any], dict[str, Any]]:
    """The visible and the disclosable claims of the SD-JWT made from a signed W3C credential:
    every ``credentialSubject`` field is disclosable except those the checks need (see the
    module docstring); raises ValueError for a credential of no Suixin type.

    Visible besides ``iss``, ``iat``, ``vct``, ``nbf``/``exp`` and ``status`` (the copy's own
    Token Status List entry, when given; never the credential's id): the residence
    at city level (``residenceCity``, ``residence_city``) for the issuer check, never the
    district, and a permit's ``endorsedUntil``. Derived claims are disclosures of their own, so
    a counter can ask for them alone: ``age_over_18`` and ``age_over_60`` (on ``issued_at``'s
    day in Beijing; a holder who comes of age later asks for a new copy) from the birth date,
    ``residenceRegion`` (the district) apart from the city."""
    types = credential.get("type")
    kinds = [t for t in CREDENTIAL_TYPES if isinstance(types, list) and t in types]
    if len(kinds) != 1:
        raise ValueError("the credential has no single Suixin type")
    subject = dict(credential.get("credentialSubject") or {})
    subject.pop("id", None)
    plain: dict[str, Any] = {
        "iss": credential["issuer"],
        "iat": int(issued_at.timestamp()),
        "vct": vct_of(kinds[0]),
    }
    if status is not None:
        plain["status"] = dict(status)
    for member, claim in (("validFrom", "nbf"), ("validUntil", "exp")):
        value = credential.get(member)
        if isinstance(value, str):
            plain[claim] = int(datetime.fromisoformat(value.replace("Z", "+00:00")).timestamp())
    district = subject.get("residenceRegion")
    if kinds[0] in (RESIDENCE_PERMIT, RESIDENCE_YEARS) and isinstance(district, str):
        plain["residenceCity"] = residence_city(district, authority_region)
    if kinds[0] == RESIDENCE_PERMIT:
        endorsements = subject.get("endorsements") or []
        if endorsements:
            plain["endorsedUntil"] = max(str(e.get("validUntil", "")) for e in endorsements)
        birth = subject.get("birthDate")
        if isinstance(birth, str):
            today = issued_at.astimezone(CHINA_TIME).date()
            born = date.fromisoformat(birth)
            age = today.year - born.year - ((today.month, today.day) < (born.month, born.day))
            subject["age_over_18"] = age >= 18
            subject["age_over_60"] = age >= 60
    return plain, subject


_sign_jws = sign_jws  # the name the tests and tools used first
