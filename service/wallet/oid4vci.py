"""Wallet issuance: one-time offers and the OpenID4VCI pre-authorised code flow.

An office clerk makes a one-time *offer* for a credential (a pre-authorised code, shown as a QR
code or a same-device link). The wallet exchanges the code for an access token (token endpoint)
and takes a ``c_nonce`` from the nonce endpoint (OpenID4VCI 1.0 §7; the token response carries
one too, bound to the token), then asks for the credential with proof JWTs signed by its own
P-256 keys over that nonce and the issuer's URL (credential endpoint): one proof per key, up to
``BATCH_SIZE``, and one single-use copy per key (OpenID4VCI 1.0 batch issuance, ``proofs.jwt``).
The nonce endpoint's nonces are stateless: an expiry and random bytes, MACed with a key derived
from the master key, so every process of the office accepts them for ``NONCE_TTL``; the
single-use access token bounds what a replayed proof could fetch. The office derives each SD-JWT
VC from the stored, signed W3C credential (``verifier.sdjwt.claims_from_credential``), with its
own Token Status List entry and no credential id, binds it to the proven key (``cnf``), signs it
with the authority's current Ed25519 issuer key and queues the issuer-signed JWT's digest for
anchoring. An authority whose current key is SM2 cannot issue SD-JWT VCs: JOSE registers no SM2
algorithm, so a JWS signed with one would be Suixin's alone; offers and claims are refused (409
``sd_jwt_algorithm_unsupported``) and its holders keep the W3C credential
(``suixin-sm2-jcs-2025``), which every check verifies. Each step is single-use: a code is
redeemed once, a token fetches one batch of copies, and an expired offer does nothing.

The worker anchors the queued digests (``service.anchoring.sdjwt``).

Errors: ``WalletError`` (an ``InvalidInput`` with an HTTP status, a stable code and 中文/English
text); nothing changes when one is raised.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import secrets
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from sqlalchemy import select

from service.audit.trail import record
from service.clock import aware
from service.issuing.office import Office
from service.issuing.receipts import receipt_of
from service.issuing.signer import LocalSigner
from service.issuing.status_lists import ensure_token_lists, list_base, token_reference
from service.storage.models import AnchorState, Batch, Credential, CredentialStatus
from service.storage.wallet import CredentialOffer, SdJwtCredential
from verifier.errors import InvalidInput
from verifier.sdjwt import (
    SdJwtError,
    b64url_decode,
    b64url_encode,
    claims_from_credential,
    es256_verify,
    issue_sd_jwt,
    issuer_jwt_digest,
    p256_from_jwk,
)
from verifier.status import reason_by_name

__all__ = [
    "BATCH_SIZE",
    "OFFER_TTL",
    "PRE_AUTH_GRANT",
    "PROOF_TYPE",
    "Offer",
    "WalletError",
    "WalletIssuer",
    "configuration_id",
    "jwk_thumbprint",
]

PRE_AUTH_GRANT = "urn:ietf:params:oauth:grant-type:pre-authorized_code"
PROOF_TYPE = "openid4vci-proof+jwt"
OFFER_TTL = timedelta(minutes=15)
TOKEN_TTL = timedelta(minutes=5)
PROOF_MAX_AGE = timedelta(minutes=5)
NONCE_TTL = timedelta(minutes=5)


def configuration_id(credential_type: str) -> str:
    """The credential configuration (issuer metadata, offers) of an SD-JWT VC of a type."""
    return f"{credential_type}_sd_jwt"


# single-use copies per claim (OpenID4VCI ``batch_credential_issuance.batch_size``): a copy per
# counter visit, so no two counters see the same JWT, key, salts or status index. Ten last a
# few months of visits; each copy is one more anchored leaf and status entry, so the number
# stays small (docs/standards.md)
BATCH_SIZE = 10


class WalletError(InvalidInput):
    """A wallet request that cannot be honoured; ``status`` is its HTTP status."""

    def __init__(self, status: int, code: str, zh: str, en: str) -> None:
        super().__init__(f"{code}: {en}")
        self.status, self.code, self.zh, self.en = status, code, zh, en

    def diagnostics(self) -> str:
        """Both languages."""
        return f"{self.zh} / {self.en}"


def _sd_jwt_signer(office: Office, authority_id: int) -> LocalSigner:
    """The authority's signing key if it can sign an SD-JWT (EdDSA); WalletError 409 when it is
    an SM2 key, for which JOSE has no algorithm."""
    signer = office.signer(authority_id)
    if signer.algorithm != "Ed25519":
        raise WalletError(
            409,
            "sd_jwt_algorithm_unsupported",
            f"本签发机关当前以 {signer.algorithm} 密钥签发；钱包凭证（SD-JWT）只能用"
            " Ed25519（EdDSA）签名，请向持证人提供 W3C 凭证包",
            f"this authority signs with an {signer.algorithm} key; wallet credentials (SD-JWT) "
            "are signed with Ed25519 (EdDSA) only: give the holder the W3C bundle instead",
        )
    return signer


def _sha(text: str) -> bytes:
    return hashlib.sha256(text.encode()).digest()


def jwk_thumbprint(jwk: dict[str, Any]) -> str:
    """The RFC 7638 SHA-256 thumbprint of an EC public JWK."""
    members = {k: jwk[k] for k in ("crv", "kty", "x", "y")}
    canonical = json.dumps(members, separators=(",", ":"), sort_keys=True)
    return b64url_encode(hashlib.sha256(canonical.encode()).digest())


@dataclass(frozen=True)
class Offer:
    """A new offer: its id, the one-time code (shown once) and when it expires."""

    id: str
    code: str
    credential_id: str
    credential_type: str
    expires_at: datetime


class WalletIssuer:
    """The OpenID4VCI pre-authorised code flow over an office."""

    def __init__(self, office: Office) -> None:
        self.office = office

    # -- offer (office side)

    def create_offer(
        self, credential_id: str, authority_id: int, *, actor: str, now: datetime | None = None
    ) -> Offer:
        """A one-time offer of one of the authority's credentials that is in force; raises
        WalletError (404 unknown or another authority's, 409 not in force)."""
        now = now or datetime.now(UTC)
        _sd_jwt_signer(self.office, authority_id)  # refuse an offer that could not be claimed
        code = secrets.token_urlsafe(32)
        offer_id = secrets.token_hex(16)
        with self.office.db.write_session() as s:
            row = s.scalar(select(Credential).where(Credential.id == credential_id))
            if row is None or row.authority_id != authority_id:
                raise WalletError(
                    404, "credential_not_found", "没有这张凭证", f"no credential {credential_id}"
                )
            if row.status != CredentialStatus.ACTIVE:
                raise WalletError(
                    409,
                    "credential_not_in_force",
                    f"凭证状态为 {row.status}，不能领取到钱包",
                    f"the credential is {row.status}; it cannot be claimed into a wallet",
                )
            s.add(
                CredentialOffer(
                    id=offer_id,
                    credential_id=credential_id,
                    authority_id=authority_id,
                    code_sha256=_sha(code),
                    created_at=now,
                    expires_at=now + OFFER_TTL,
                    created_by=actor,
                )
            )
            record(
                s,
                actor=actor,
                action="wallet.offer",
                authority_id=authority_id,
                credential_id=credential_id,
                details={"offer": offer_id},
            )
            kind = row.credential_type
        return Offer(offer_id, code, credential_id, kind, now + OFFER_TTL)

    # -- token endpoint

    def token(self, code: str, *, now: datetime | None = None) -> tuple[str, str, int]:
        """Redeem a pre-authorised code once: (access token, c_nonce, expires in seconds)."""
        access, c_nonce, expires, _refresh = self.tokens(code, now=now)
        return access, c_nonce, expires

    def refresh(
        self, refresh_token: str, *, now: datetime | None = None
    ) -> tuple[str, str, int, str]:
        """A new access token for another batch of copies, on the holder's visible action:
        (access token, c_nonce, expires in seconds, the next refresh token; this one is spent).
        Raises WalletError 400 ``invalid_grant`` for an unknown or spent token, or a
        credential no longer in force (a revoked credential gets no new copies)."""
        now = now or datetime.now(UTC)
        token, c_nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
        following = secrets.token_urlsafe(32)
        with self.office.db.write_session() as s:
            offer = s.scalar(
                select(CredentialOffer)
                .where(CredentialOffer.refresh_sha256 == _sha(refresh_token))
                .with_for_update()
            )
            if offer is None:
                raise WalletError(
                    400,
                    "invalid_grant",
                    "刷新令牌无效或已使用",
                    "the refresh token is unknown or was already used",
                )
            status = s.scalar(select(Credential.status).where(Credential.id == offer.credential_id))
            if status != CredentialStatus.ACTIVE:
                raise WalletError(
                    400,
                    "invalid_grant",
                    f"凭证状态为 {status}，不能再领取副本",
                    f"the credential is {status}; no new copies can be had",
                )
            offer.redeemed_at, offer.delivered_at = now, None
            offer.token_sha256, offer.c_nonce = _sha(token), c_nonce
            offer.refresh_sha256 = _sha(following)
            record(
                s,
                actor="system",
                action="wallet.refresh",
                authority_id=offer.authority_id,
                credential_id=offer.credential_id,
                details={"offer": offer.id},
            )
        return token, c_nonce, int(TOKEN_TTL.total_seconds()), following

    def tokens(self, code: str, *, now: datetime | None = None) -> tuple[str, str, int, str]:
        """Redeem a pre-authorised code once: (access token, c_nonce, expires in seconds,
        refresh token for new copies later)."""
        now = now or datetime.now(UTC)
        token, c_nonce = secrets.token_urlsafe(32), secrets.token_urlsafe(16)
        following = secrets.token_urlsafe(32)
        with self.office.db.write_session() as s:
            offer = s.scalar(
                select(CredentialOffer).where(CredentialOffer.code_sha256 == _sha(code))
            )
            if offer is None or offer.redeemed_at is not None:
                raise WalletError(
                    400,
                    "invalid_grant",
                    "领取码无效或已使用",
                    "the pre-authorised code is unknown or was already used",
                )
            if aware(offer.expires_at) <= now:
                raise WalletError(400, "invalid_grant", "领取码已过期", "the offer has expired")
            offer.redeemed_at = now
            offer.token_sha256 = _sha(token)
            offer.c_nonce = c_nonce
            offer.refresh_sha256 = _sha(following)
        return token, c_nonce, int(TOKEN_TTL.total_seconds()), following

    # -- nonce endpoint

    def nonce(self, *, now: datetime | None = None) -> tuple[str, int]:
        """A fresh, unpredictable ``c_nonce`` (OpenID4VCI 1.0 §7.2) and its lifetime in seconds:
        no row is written; ``nonce_is_fresh`` recognises it for ``NONCE_TTL``."""
        now = now or datetime.now(UTC)
        expires = int((now + NONCE_TTL).timestamp())
        body = expires.to_bytes(8, "big") + secrets.token_bytes(16)
        text = base64.urlsafe_b64encode(body).rstrip(b"=").decode("ascii")
        return f"{text}.{self._nonce_mac(text)}", int(NONCE_TTL.total_seconds())

    def nonce_is_fresh(self, nonce: object, *, now: datetime | None = None) -> bool:
        """Whether ``nonce`` came from this office's nonce endpoint and has not expired."""
        now = now or datetime.now(UTC)
        if not isinstance(nonce, str) or nonce.count(".") != 1 or len(nonce) > 100:
            return False
        text, mac = nonce.split(".")
        if not hmac.compare_digest(mac, self._nonce_mac(text)):
            return False
        try:
            body = base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
        except ValueError:
            return False
        return len(body) == 24 and int.from_bytes(body[:8], "big") > now.timestamp()

    def _nonce_mac(self, text: str) -> str:
        mac = self.office.master.blind_index("oid4vci-c-nonce", text)
        return base64.urlsafe_b64encode(mac).rstrip(b"=").decode("ascii")

    # -- credential endpoint

    def credential(
        self,
        token: str,
        proof_jwt: object,
        *,
        audience: str,
        configuration: str | None = None,
        now: datetime | None = None,
    ) -> tuple[str, str]:
        """The SD-JWT for a valid access token and proof of the wallet's key: (sd-jwt, id).
        ``configuration`` is the request's ``credential_configuration_id`` ("" when it gave
        none; None: not checked), which must be the one offered."""
        return self.credentials(
            token, [proof_jwt], audience=audience, configuration=configuration, now=now
        )[0]

    def credentials(
        self,
        token: str,
        proof_jwts: Sequence[object],
        *,
        audience: str,
        configuration: str | None = None,
        now: datetime | None = None,
    ) -> list[tuple[str, str]]:
        """A batch of single-use copies for a valid access token: one SD-JWT per proof (each
        proof a different wallet key, at most ``BATCH_SIZE``), each with its own salts, its
        own Token Status List entry and its own anchored issuer-signed JWT; (sd-jwt, id) each.
        ``configuration`` as for ``credential``. Raises WalletError; nothing is stored then."""
        now = now or datetime.now(UTC)
        if not proof_jwts or len(proof_jwts) > BATCH_SIZE:
            raise WalletError(
                400,
                "invalid_proof",
                f"密钥证明应为 1 到 {BATCH_SIZE} 个",
                f"between 1 and {BATCH_SIZE} proofs are accepted (batch_size {BATCH_SIZE})",
            )
        with self.office.db.session() as s:
            offer = s.scalar(
                select(CredentialOffer).where(CredentialOffer.token_sha256 == _sha(token))
            )
        if (
            offer is None
            or offer.redeemed_at is None
            or aware(offer.redeemed_at) + TOKEN_TTL <= now
        ):
            raise WalletError(
                401,
                "invalid_token",
                "访问令牌无效或已过期",
                "the access token is invalid or expired",
            )
        if offer.delivered_at is not None:
            raise WalletError(
                401, "invalid_token", "访问令牌已使用", "the access token was already used"
            )
        issued = offer.c_nonce or ""
        jwks = [
            _check_proof(
                proof,
                audience=audience,
                nonce_ok=lambda n: n == issued or self.nonce_is_fresh(n, now=now),
                now=now,
            )
            for proof in proof_jwts
        ]
        if len({jwk_thumbprint(jwk) for jwk in jwks}) != len(jwks):
            raise WalletError(
                400,
                "invalid_proof",
                "每份副本须用不同的钱包密钥证明",
                "each copy needs a proof of a different wallet key",
            )
        office = self.office
        signer = _sd_jwt_signer(office, offer.authority_id)
        authority = office.authority(offer.authority_id)
        with office.db.session() as s:
            row = s.scalar(select(Credential).where(Credential.id == offer.credential_id))
        assert row is not None
        if configuration is not None:
            _check_configuration(configuration, configuration_id(row.credential_type))
        if row.status != CredentialStatus.ACTIVE:
            raise WalletError(
                409,
                "credential_not_in_force",
                f"凭证状态为 {row.status}，不能领取",
                f"the credential is {row.status}; it cannot be claimed",
            )
        document = office.document(row)
        base = list_base(authority.did) if office.deployment.status_lists else None
        positions: list[int | None] = (
            list(office.status_positions.take(authority.id, len(jwks)))
            if base is not None
            else [None] * len(jwks)
        )
        copies: list[tuple[str, str, dict[str, Any], int | None]] = []
        for jwk, position in zip(jwks, positions, strict=True):
            # each copy on its own: its status entry, its salts and decoys, its key
            plain, disclosable = claims_from_credential(
                document,
                now,
                authority_region=authority.region,
                status=token_reference(base, position) if base and position is not None else None,
            )
            if position is None:
                # registries without list sets (or an authority that is no did:web) publish
                # no token lists: the copy is checked by the credential's id, as before
                plain["credentialId"] = row.id
            sd_jwt = issue_sd_jwt(
                plain,
                disclosable,
                signer=signer,
                kid=f"{authority.did}#{signer.key_id}",
                holder_jwk=jwk,
            )
            copies.append((sd_jwt, secrets.token_hex(16), jwk, position))
        with office.db.write_session() as s:
            fresh = s.get(CredentialOffer, offer.id)
            assert fresh is not None
            if fresh.delivered_at is not None:  # a concurrent request won
                raise WalletError(
                    401, "invalid_token", "访问令牌已使用", "the access token was already used"
                )
            # read again under the credential's row lock, which a life-cycle step takes too: a
            # revocation committed since the first read refuses the copies, and one after this
            # finds them stored, so its status change sets their entries
            current = s.scalar(
                select(Credential.status).where(Credential.id == row.id).with_for_update()
            )
            if current != CredentialStatus.ACTIVE:
                raise WalletError(
                    409,
                    "credential_not_in_force",
                    f"凭证状态为 {current}，不能领取",
                    f"the credential is {current}; it cannot be claimed",
                )
            fresh.delivered_at = now
            taken = [p for p in positions if p is not None]
            if taken:
                ensure_token_lists(s, row.authority_id, taken)
            for sd_jwt, sd_id, jwk, position in copies:
                s.add(
                    SdJwtCredential(
                        id=sd_id,
                        credential_id=row.id,
                        authority_id=row.authority_id,
                        issuer_jwt=sd_jwt.split("~", 1)[0],
                        digest=issuer_jwt_digest(sd_jwt, office.anchoring_hash),
                        holder_thumbprint=jwk_thumbprint(jwk),
                        created_at=now,
                        status_position=position,
                    )
                )
            record(
                s,
                actor="system",
                action="wallet.claim",
                authority_id=row.authority_id,
                credential_id=row.id,
                details={
                    "offer": offer.id,
                    "sdJwt": [c[1] for c in copies],
                    "holderKeys": [jwk_thumbprint(c[2]) for c in copies],
                },
            )
        return [(sd_jwt, sd_id) for sd_jwt, sd_id, _jwk, _position in copies]

    # -- the wallet's view of one SD-JWT

    def state(self, sd_id: str) -> dict[str, Any]:
        """Anchor state, receipt and the credential's office status of an issued SD-JWT."""
        with self.office.db.session() as s:
            found = s.execute(
                select(SdJwtCredential, Batch, Credential.status, Credential.status_reason)
                .join(Credential, Credential.id == SdJwtCredential.credential_id)
                .outerjoin(Batch, Batch.id == SdJwtCredential.batch_id)
                .where(SdJwtCredential.id == sd_id)
            ).first()
        if found is None:
            raise WalletError(404, "not_found", "没有这张凭证", "no such wallet credential")
        row, batch, status, reason = found
        authority = self.office.authority(row.authority_id)
        return {
            "id": row.id,
            # the holder's own record of which credential this is (for authorised use): kept
            # by the wallet, never inside the SD-JWT a counter sees
            "credentialId": row.credential_id,
            "anchorState": AnchorState.of(batch.state if batch is not None else None),
            "anchor": receipt_of(batch, row.leaf_index),
            "status": status,
            "statusReason": reason,
            # what a holder reads: the reason in words, and the issuer's registered name
            "statusReasonText": _reason_text(reason),
            "issuerName": {"zh": authority.name_zh, "en": authority.name_en},
        }


def _reason_text(reason: str | None) -> dict[str, str] | None:
    if reason is None:
        return None
    try:
        found = reason_by_name(reason)
    except ValueError:
        return {"zh": reason, "en": reason}
    return {"zh": found.zh, "en": found.en}


def _check_configuration(given: str, offered: str) -> None:
    """The credential request names the offered configuration (OpenID4VCI 1.0 §8.2, §8.3.1.2);
    raises WalletError."""
    if not given:
        raise WalletError(
            400,
            "invalid_credential_request",
            "凭证请求缺少 credential_configuration_id",
            "the credential request has no credential_configuration_id",
        )
    if given != offered:
        raise WalletError(
            400,
            "unknown_credential_configuration",
            "所请求的凭证配置不是本次领取的",
            "the requested credential configuration is not the one offered",
        )


def _check_proof(
    proof_jwt: object, *, audience: str, nonce_ok: Callable[[object], bool], now: datetime
) -> dict[str, Any]:
    """The wallet's public JWK from its OpenID4VCI proof JWT; raises WalletError."""

    def bad(zh: str, en: str) -> WalletError:
        return WalletError(400, "invalid_proof", zh, en)

    if not isinstance(proof_jwt, str) or proof_jwt.count(".") != 2:
        raise bad("缺少密钥证明 JWT", "a proof JWT is required")
    head_b64, body_b64, sig_b64 = proof_jwt.split(".")
    try:
        header = json.loads(b64url_decode(head_b64))
        payload = json.loads(b64url_decode(body_b64))
        signature = b64url_decode(sig_b64)
    except (ValueError, SdJwtError) as e:
        raise bad("密钥证明 JWT 格式错误", "the proof JWT is malformed") from e
    if not isinstance(header, dict) or not isinstance(payload, dict):
        raise bad("密钥证明 JWT 格式错误", "the proof JWT is malformed")
    if header.get("typ") != PROOF_TYPE or header.get("alg") != "ES256":
        raise bad(
            "密钥证明应为 typ openid4vci-proof+jwt、alg ES256",
            "the proof must have typ openid4vci-proof+jwt and alg ES256",
        )
    jwk = header.get("jwk")
    try:
        key = p256_from_jwk(jwk)
    except SdJwtError as e:
        raise bad("密钥证明中的公钥不是 P-256", "the proof's jwk is not a P-256 key") from e
    if not es256_verify(key, signature, f"{head_b64}.{body_b64}".encode("ascii")):
        raise bad("密钥证明签名无效", "the proof signature is invalid")
    if "nonce" not in payload:
        raise bad("密钥证明缺少 nonce", "the proof has no nonce (c_nonce)")
    if not nonce_ok(payload["nonce"]):  # §8.3.1.2: the wallet should fetch a new c_nonce
        raise WalletError(
            400,
            "invalid_nonce",
            "密钥证明的 nonce 无效或已过期，请重新获取",
            "the proof's nonce is not a current c_nonce; fetch a new one",
        )
    if payload.get("aud") != audience:
        raise bad("密钥证明的 aud 不是本签发方", "the proof's aud is not this issuer")
    iat = payload.get("iat")
    if not isinstance(iat, int) or abs(now.timestamp() - iat) > PROOF_MAX_AGE.total_seconds():
        raise bad("密钥证明已过期或时间不符", "the proof's iat is missing or not recent")
    assert isinstance(jwk, dict)
    return {k: jwk[k] for k in ("kty", "crv", "x", "y")}
