"""Authorised use (授权调用): a holder lets one partner office fetch one credential from its issuer.

A grant names one credential, one partner office (by DID), a purpose and a time window. The
partner fetches the credential's bundle with a signed request; the issuer serves it only while
the grant stands, and logs every attempt. The holder lists grants, withdraws them and reads the
log. Nobody here holds an API key: every request is signed (``verifier.http_signatures``, an
RFC 9421 profile covering method, path, query, body digest, ``created`` and ``nonce``).

**Holder.** The holder proves control of the credential with a key, in one of two ways:

- *the subject's DID*: ``credentialSubject.id`` is a ``did:key`` Ed25519 DID and the holder
  signs with that key (``alg="ed25519"``);
- *the wallet key bound at claim*: when a wallet claimed the credential (OpenID4VCI, see
  ``service.wallet.oid4vci``), the office bound the SD-JWT it issued to the wallet's P-256 key
  (``cnf``) and kept that key's RFC 7638 thumbprint with the claim
  (``SdJwtCredential.holder_thumbprint``, next to the credential id). The wallet signs with that
  key (``alg="ecdsa-p256-sha256"``, ES256, what WebCrypto makes) and names it as
  ``keyid="did:jwk:…#0"``, the DID that encodes the public JWK itself. Creating a grant for a
  credential with such a key needs a claim of *that credential version* bound to *that key*: a
  key bound to another credential, or any other P-256 key, is refused (403 ``not_holder``).
  The grant's holder is then the ``did:jwk`` DID, so the same key lists, reads and withdraws
  it; a wallet that claimed several credentials with one key sees all its grants at once.

The covered components, the time window and the nonce rules are the same for both. A credential
with neither a holder ``did:key`` nor a wallet claim cannot be shared this way: there are no
bearer tokens handed out at issuance to leak or to store (the holder claims it into a wallet, or
the office re-issues it with the holder's DID). The grant keeps the holder's signed request
(body and signature) as evidence of consent.

**Partner office.** Its ``keyid`` is a ``did:key`` (a verifier-only partner: no registration
anywhere) or the DID URL of an accredited authority's key, resolved from the on-chain registry
(the office's own registry index): the key must not be revoked and the authority not removed.

**Every signed request** is checked in this order: well-formed and within the profile (401
``signature_*``), ``created`` no more than ``max_age`` old nor ``max_ahead`` in the future (401
``request_stale`` / ``request_from_future``), the key resolves (401 ``signer_unknown``), the
signature holds with the algorithm it declares, for that key's kind (401 ``signature_invalid``),
the nonce is new for this signer (401
``request_replayed``). Nonces are stored until a request carrying them would be stale anyway,
then purged; a forged request cannot burn a nonce, because the nonce is stored only after the
signature holds.

**Answers.** No such grant, or a grant that names another partner (or belongs to another
holder): 404 ``grant_unknown``, the same answer, so a grant id reveals nothing to outsiders.
The named partner of a grant that is withdrawn, expired, not yet valid, or asked for another
purpose: 403 with that code. The served credential is the granted version exactly (a later
version needs a new grant); its status is for the partner's own verification to judge.

**Logs.** Every request by an authenticated partner for an existing grant goes into
``access_log`` (served or refused, with the code), which the holder reads. Creating and
withdrawing a grant and serving a credential also append an audit row (``grant.create``,
``grant.withdraw``, ``grant.access``); the actor is ``system`` (the audit trail's actors are
office staff and processes) and the signer's DID is in the details. Purposes stay out of audit
rows: they are the holder's free text.
"""

from __future__ import annotations

import re
import secrets
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, Protocol

from cryptography.hazmat.primitives.asymmetric import ec
from sqlalchemy import delete, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.audit import trail
from service.clock import aware, iso_z
from service.issuing.office import Office
from service.storage.models import AccessEntry, Credential, Grant, RequestNonce
from service.storage.wallet import SdJwtCredential
from service.wallet.oid4vci import jwk_thumbprint
from verifier.errors import InvalidInput, SuixinError
from verifier.http_signatures import (
    RequestSignatureError,
    p256_key_of_did_jwk,
    read_request_signature,
)
from verifier.keys import resolve_did_key
from verifier.messages import Reason
from verifier.policy import utc_now
from verifier.sdjwt import jwk_from_p256

__all__ = [
    "AccessView",
    "GrantError",
    "GrantForbidden",
    "GrantInvalid",
    "GrantNotFound",
    "GrantService",
    "GrantTerms",
    "GrantView",
    "KeyDirectory",
    "RequestUnauthenticated",
    "SignedRequest",
    "Signer",
    "did_key_ed25519_of",
]

ACTOR = "system"
GRANT_ID = re.compile(r"[0-9a-f]{32}")
SERVED, REFUSED = "served", "refused"


# ---------------------------------------------------------------------- errors


class GrantError(SuixinError):
    """A refused grant request, with a stable code and the reason in 中文 and English."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(en)
        self.reason = Reason(code, zh, en)

    @property
    def code(self) -> str:
        """The stable code."""
        return self.reason.code

    def diagnostics(self) -> str:
        return f"{self.reason.zh} / {self.reason.en} [{self.reason.code}]"


class RequestUnauthenticated(GrantError):
    """The request's signature, time or nonce does not hold (HTTP 401)."""


class GrantForbidden(GrantError):
    """The caller is known but may not do this (HTTP 403)."""


class GrantNotFound(GrantError):
    """No such grant or credential, or not the caller's (HTTP 404)."""


class GrantInvalid(GrantError):
    """The terms of a grant break a rule (HTTP 422)."""


_UNKNOWN_GRANT = (
    "grant_unknown",
    "没有该授权，或该授权不是给您的",
    "There is no such grant, or it is not addressed to you.",
)


# ---------------------------------------------------------------------- values


@dataclass(frozen=True)
class SignedRequest:
    """What the HTTP layer received: method, raw path and query, headers, body bytes."""

    method: str
    path: str
    query: str
    headers: Mapping[str, str]
    body: bytes


@dataclass(frozen=True)
class Signer:
    """Who signed a request whose signature, time and nonce held: a DID and its key's URL."""

    did: str
    keyid: str


@dataclass(frozen=True)
class GrantTerms:
    """What a holder grants: which credential, to whom, why, from when until when."""

    credential_id: str
    partner: str
    purpose: str
    valid_until: datetime
    valid_from: datetime | None = None


def _iso(value: datetime | None) -> str | None:
    return None if value is None else iso_z(value)


@dataclass(frozen=True)
class AccessView:
    """One logged request of a partner: when, who, served or refused, why."""

    at: datetime
    partner: str
    outcome: str
    code: str

    def to_json(self) -> dict[str, Any]:
        """The entry as JSON."""
        return {
            "at": _iso(self.at),
            "partner": self.partner,
            "outcome": self.outcome,
            "code": self.code,
        }


@dataclass(frozen=True)
class GrantView:
    """A grant as its holder sees it, with its state at the time it was read."""

    id: str
    credential_id: str
    holder: str
    partner: str
    purpose: str
    valid_from: datetime
    valid_until: datetime
    created_at: datetime
    withdrawn_at: datetime | None
    state: str  # scheduled | active | expired | withdrawn
    accesses: tuple[AccessView, ...] | None = None

    def to_json(self) -> dict[str, Any]:
        """The grant as JSON (``accesses`` only when they were read)."""
        body: dict[str, Any] = {
            "id": self.id,
            "credentialId": self.credential_id,
            "holder": self.holder,
            "partner": self.partner,
            "purpose": self.purpose,
            "validFrom": _iso(self.valid_from),
            "validUntil": _iso(self.valid_until),
            "createdAt": _iso(self.created_at),
            "withdrawnAt": _iso(self.withdrawn_at),
            "state": self.state,
        }
        if self.accesses is not None:
            body["accesses"] = [a.to_json() for a in self.accesses]
        return body


class KeyDirectory(Protocol):
    """Resolves the keys of signers: did:key DIDs and accredited authorities' keys."""

    def public_key(self, keyid: str) -> bytes | None:
        """The Ed25519 public key of the DID URL ``keyid``, if it is a usable key now."""
        ...

    def knows(self, did: str) -> bool:
        """Whether ``did`` can sign requests at all (a did:key, an authority in good standing)."""
        ...


def did_key_ed25519_of(did_or_method: object) -> bytes | None:
    """The Ed25519 public key of a did:key DID or verification method; None for anything else."""
    if not isinstance(did_or_method, str) or not did_or_method.startswith("did:key:"):
        return None
    try:
        resolved = resolve_did_key(did_or_method)
    except InvalidInput:
        return None
    return resolved.public_bytes if resolved.algorithm == "Ed25519" else None


# ---------------------------------------------------------------------- the service


class GrantService:
    """Grants over an office's database; see the module docstring for every rule."""

    def __init__(
        self,
        office: Office,
        keys: KeyDirectory,
        *,
        clock: Callable[[], datetime] = utc_now,
        max_age: timedelta = timedelta(minutes=5),
        max_ahead: timedelta = timedelta(minutes=1),
        max_window: timedelta = timedelta(days=366),
    ) -> None:
        self.office = office
        self.keys = keys
        self.clock = clock
        self.max_age = max_age
        self.max_ahead = max_ahead
        self.max_window = max_window

    # ------------------------------------------------------------------ authentication

    def authenticate(self, request: SignedRequest) -> Signer:
        """The signer of ``request``; raises RequestUnauthenticated (see the module docstring)."""
        try:
            signature = read_request_signature(
                request.method, request.path, request.query, request.headers, request.body
            )
        except RequestSignatureError as e:
            raise RequestUnauthenticated(e.reason.code, e.reason.zh, e.reason.en) from e
        now = self.clock()
        age = int(now.timestamp()) - signature.created  # integers: any claimed time is safe
        if age > self.max_age.total_seconds():
            raise RequestUnauthenticated(
                "request_stale",
                f"请求签名时间已超过 {int(self.max_age.total_seconds())} 秒，请重新签名后发送",
                f"The request was signed more than {int(self.max_age.total_seconds())} s ago; "
                "sign it again.",
            )
        if -age > self.max_ahead.total_seconds():
            raise RequestUnauthenticated(
                "request_from_future",
                "请求签名时间晚于服务器当前时间，请校准时钟",
                "The request claims to be signed in the future; check the signer's clock.",
            )
        key: bytes | ec.EllipticCurvePublicKey | None
        if signature.keyid.startswith("did:jwk:"):  # a wallet's P-256 key: only a holder
            key = p256_key_of_did_jwk(signature.keyid)
        else:
            key = self.keys.public_key(signature.keyid)
        if key is None:
            raise RequestUnauthenticated(
                "signer_unknown",
                f"无法确认签名密钥 {signature.keyid}：须为 did:key、钱包密钥（did:jwk P-256）"
                "或已认证签发机关的有效密钥",
                f"The key {signature.keyid} is unknown: use a did:key, a wallet key (did:jwk, "
                "P-256) or a valid key of an accredited authority.",
            )
        if not signature.verify(key):
            raise RequestUnauthenticated(
                "signature_invalid",
                "请求签名无效：请求被改动，或不是该密钥所签",
                "The request signature is invalid: the request was changed or not signed by "
                "this key.",
            )
        created = datetime.fromtimestamp(signature.created, UTC)
        self._consume_nonce(signature.did, signature.nonce, created, now)
        return Signer(signature.did, signature.keyid)

    def _consume_nonce(self, did: str, nonce: str, created: datetime, now: datetime) -> None:
        expires = created + self.max_age + self.max_ahead
        try:
            with self.office.db.session() as s:
                s.execute(delete(RequestNonce).where(RequestNonce.expires_at < now))
                s.add(RequestNonce(signer=did, nonce=nonce, expires_at=expires))
        except IntegrityError:
            raise RequestUnauthenticated(
                "request_replayed",
                "该请求已收到过（nonce 重复），不再处理",
                "This request was received before (its nonce was used); it is not processed again.",
            ) from None

    # ------------------------------------------------------------------ holder

    def create(self, holder: Signer, terms: GrantTerms, consent: Mapping[str, Any]) -> GrantView:
        """Grant ``terms.partner`` access to one of the holder's credentials.

        Raises GrantNotFound (no such credential), GrantInvalid (no holder DID on it, unknown
        partner, bad window or purpose), GrantForbidden (the signer is not the holder: neither
        the subject's did:key nor a wallet key bound to this credential at claim).
        """
        now = self.clock()
        with self.office.db.session() as s:
            row = s.scalar(select(Credential).where(Credential.id == terms.credential_id))
        if row is None:
            raise GrantNotFound(
                "credential_unknown",
                "本签发机构没有该凭证",
                "This office holds no such credential.",
            )
        subject = self.office.document(row).get("credentialSubject") or {}
        holder_did = subject.get("id") if isinstance(subject, Mapping) else None
        wallet_key = p256_key_of_did_jwk(holder.did)
        if wallet_key is not None:
            if not self._bound(terms.credential_id, wallet_key):
                raise GrantForbidden(
                    "not_holder",
                    "该钱包密钥未在领取时绑定这张凭证：只有领取该凭证的钱包（或凭证中的持证人 "
                    "DID）可以授权",
                    "This wallet key was not bound to this credential when it was claimed: only "
                    "the wallet that claimed it (or the holder DID in it) may grant access.",
                )
            holder_did = holder.did
        elif did_key_ed25519_of(holder_did) is None:
            raise GrantInvalid(
                "holder_did_missing",
                "该凭证没有持证人 did:key（credentialSubject.id），无法以 did:key 授权调用；"
                "请将凭证领取到钱包后以钱包密钥授权，或请签发机关以持证人的 DID 重新签发",
                "The credential names no holder did:key (credentialSubject.id), so it cannot "
                "be shared by a did:key grant; claim it into a wallet and grant with the wallet "
                "key, or ask the issuer to re-issue it with the holder's DID.",
            )
        if holder.did != holder_did:
            raise GrantForbidden(
                "not_holder",
                "只有持证人（凭证中的 DID）可以授权",
                "Only the holder (the DID in the credential) may grant access to it.",
            )
        purpose = terms.purpose.strip()
        if not purpose:
            raise GrantInvalid(
                "purpose_empty", "须写明授权用途", "The purpose of the grant must be stated."
            )
        if not self.keys.knows(terms.partner):
            raise GrantInvalid(
                "partner_unknown",
                f"被授权机构 {terms.partner} 无法验证身份：须为 did:key 或已认证且未撤销的签发机关",
                f"The partner {terms.partner} cannot authenticate: it must be a did:key or an "
                "accredited authority that has not been removed.",
            )
        # in UTC before storing: SQLite keeps a datetime's wall time and drops its offset, so a
        # "+08:00" end would otherwise be read back (as UTC) eight hours late
        valid_from = aware(terms.valid_from).astimezone(UTC) if terms.valid_from else now
        valid_until = aware(terms.valid_until).astimezone(UTC)
        if valid_until <= valid_from or valid_until <= now:
            raise GrantInvalid(
                "window_invalid",
                "授权截止时间须晚于开始时间和当前时间",
                "The grant must end after it starts and after now.",
            )
        if valid_until - valid_from > self.max_window:
            days = self.max_window.days
            raise GrantInvalid(
                "window_too_long",
                f"授权期限不得超过 {days} 天",
                f"A grant may last at most {days} days.",
            )
        grant = Grant(
            id=secrets.token_hex(16),
            credential_id=terms.credential_id,
            authority_id=row.authority_id,
            holder_did=holder_did,
            partner_did=terms.partner,
            purpose=purpose,
            valid_from=valid_from,
            valid_until=valid_until,
            created_at=now,
            withdrawn_at=None,
            consent=dict(consent),
        )
        with self.office.db.write_session() as s:
            s.add(grant)
            s.flush()
            trail.record(
                s,
                actor=ACTOR,
                action="grant.create",
                authority_id=row.authority_id,
                credential_id=terms.credential_id,
                details={
                    "grant": grant.id,
                    "holder": holder_did,
                    "partner": terms.partner,
                    "validFrom": _iso(valid_from),
                    "validUntil": _iso(valid_until),
                },
                at=now,
            )
        return self._view(grant, now)

    def _bound(self, credential_id: str, key: ec.EllipticCurvePublicKey) -> bool:
        """Whether a wallet claimed ``credential_id`` with ``key`` (its thumbprint was kept)."""
        thumbprint = jwk_thumbprint(jwk_from_p256(key))
        with self.office.db.session() as s:
            found = s.scalar(
                select(SdJwtCredential.id)
                .where(
                    SdJwtCredential.credential_id == credential_id,
                    SdJwtCredential.holder_thumbprint == thumbprint,
                )
                .limit(1)
            )
        return found is not None

    def grants_of(self, holder: Signer) -> list[GrantView]:
        """Every grant the signer made as a holder, newest first."""
        now = self.clock()
        with self.office.db.session() as s:
            rows = s.scalars(
                select(Grant)
                .where(Grant.holder_did == holder.did)
                .order_by(Grant.created_at.desc(), Grant.id)
            ).all()
        return [self._view(g, now) for g in rows]

    def grant(self, holder: Signer, grant_id: str) -> GrantView:
        """One of the holder's grants with every logged access, oldest first; GrantNotFound."""
        now = self.clock()
        with self.office.db.session() as s:
            grant = self._holders(s, holder, grant_id)
            entries = s.scalars(
                select(AccessEntry)
                .where(AccessEntry.grant_id == grant_id)
                .order_by(AccessEntry.seq)
            ).all()
        accesses = tuple(AccessView(aware(e.at), e.partner_did, e.outcome, e.code) for e in entries)
        return self._view(grant, now, accesses)

    def withdraw(self, holder: Signer, grant_id: str) -> GrantView:
        """Withdraw one of the holder's grants (at once; again changes nothing); GrantNotFound."""
        now = self.clock()
        with self.office.db.write_session() as s:
            grant = self._holders(s, holder, grant_id)
            if grant.withdrawn_at is None:
                grant.withdrawn_at = now
                trail.record(
                    s,
                    actor=ACTOR,
                    action="grant.withdraw",
                    authority_id=grant.authority_id,
                    credential_id=grant.credential_id,
                    details={"grant": grant.id, "holder": holder.did},
                    at=now,
                )
        return self._view(grant, now)

    def _holders(self, s: Session, holder: Signer, grant_id: str) -> Grant:
        grant = s.get(Grant, grant_id) if GRANT_ID.fullmatch(grant_id) else None
        if grant is None or grant.holder_did != holder.did:
            raise GrantNotFound(*_UNKNOWN_GRANT)
        return grant

    # ------------------------------------------------------------------ partner

    def fetch(self, partner: Signer, grant_id: str, purpose: str) -> dict[str, Any]:
        """The granted credential's bundle for the named partner, logged; raises GrantNotFound
        (no such grant, or not named in it) or GrantForbidden (withdrawn, not yet valid,
        expired, another purpose)."""
        now = self.clock()
        with self.office.db.session() as s:
            grant = s.get(Grant, grant_id) if GRANT_ID.fullmatch(grant_id) else None
        if grant is None:
            raise GrantNotFound(*_UNKNOWN_GRANT)
        if partner.did != grant.partner_did:
            self._log(grant, partner, now, REFUSED, "not_named")
            raise GrantNotFound(*_UNKNOWN_GRANT)
        refusal = self._refusal(grant, now, purpose)
        if refusal is not None:
            self._log(grant, partner, now, REFUSED, refusal.code)
            raise refusal
        bundle = self.office.bundle(grant.credential_id)
        self._log(grant, partner, now, SERVED, "served")
        return bundle

    def _refusal(self, grant: Grant, now: datetime, purpose: str) -> GrantForbidden | None:
        if grant.withdrawn_at is not None:
            when = _iso(grant.withdrawn_at)
            return GrantForbidden(
                "grant_withdrawn",
                f"持证人已于 {when} 撤回该授权",
                f"The holder withdrew this grant at {when}.",
            )
        if now < aware(grant.valid_from):
            when = _iso(grant.valid_from)
            return GrantForbidden(
                "grant_not_yet_valid",
                f"该授权自 {when} 起生效",
                f"This grant takes effect at {when}.",
            )
        if now >= aware(grant.valid_until):
            when = _iso(grant.valid_until)
            return GrantForbidden(
                "grant_expired", f"该授权已于 {when} 到期", f"This grant expired at {when}."
            )
        if purpose.strip() != grant.purpose:
            return GrantForbidden(
                "purpose_mismatch",
                "请求的用途与持证人授权的用途不符",
                "The stated purpose is not the purpose the holder granted.",
            )
        return None

    def _log(self, grant: Grant, partner: Signer, now: datetime, outcome: str, code: str) -> None:
        with self.office.db.write_session() as s:
            s.add(
                AccessEntry(
                    grant_id=grant.id, at=now, partner_did=partner.did, outcome=outcome, code=code
                )
            )
            if outcome == SERVED:
                s.flush()
                trail.record(
                    s,
                    actor=ACTOR,
                    action="grant.access",
                    authority_id=grant.authority_id,
                    credential_id=grant.credential_id,
                    details={"grant": grant.id, "partner": partner.did},
                    at=now,
                )

    # ------------------------------------------------------------------ views

    def _view(
        self, grant: Grant, now: datetime, accesses: tuple[AccessView, ...] | None = None
    ) -> GrantView:
        valid_from, valid_until = aware(grant.valid_from), aware(grant.valid_until)
        if grant.withdrawn_at is not None:
            state = "withdrawn"
        elif now >= valid_until:
            state = "expired"
        elif now < valid_from:
            state = "scheduled"
        else:
            state = "active"
        return GrantView(
            id=grant.id,
            credential_id=grant.credential_id,
            holder=grant.holder_did,
            partner=grant.partner_did,
            purpose=grant.purpose,
            valid_from=valid_from,
            valid_until=valid_until,
            created_at=aware(grant.created_at),
            withdrawn_at=aware(grant.withdrawn_at) if grant.withdrawn_at else None,
            state=state,
            accesses=accesses,
        )
