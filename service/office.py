"""The issuing office: its authorities and keys, API keys, issuance into durable storage.

One ``Office`` wraps the database, the chain and the deployment. Issuance validates, signs and
stores a credential; the same database transaction puts it in the anchoring queue (its
``anchor_state`` is ``pending``), so a crash after the answer loses nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, insert, select
from sqlalchemy.exc import IntegrityError

from service.deploy import fund_if_dev
from service.issuance import SigningIdentity, issue_credential
from service.keys import LocalSigner, MasterKey
from service.storage.db import Database
from service.storage.models import (
    AnchorState,
    ApiKey,
    Authority,
    Credential,
    CredentialStatus,
    IssuerKey,
)
from verifier.bundle import BUNDLE_VERSION
from verifier.chain import Chain
from verifier.contracts import load_artifact
from verifier.deployment import Deployment
from verifier.errors import FieldError, InvalidCredential, InvalidInput, SuixinError
from verifier.keys import Ed25519KeyPair

__all__ = [
    "SCOPES",
    "AuthContext",
    "IdempotencyConflict",
    "IssueRequest",
    "NotFound",
    "Office",
]

SCOPES = ("issue:ResidencePermit", "issue:BusinessLicense", "lifecycle", "revoke", "admin")
_KEY_PREFIX = "sx"


class NotFound(SuixinError):
    """The thing asked for does not exist (or belongs to another authority)."""


class IdempotencyConflict(SuixinError):
    """An Idempotency-Key was reused with a different request."""


@dataclass(frozen=True)
class AuthContext:
    """Who is calling: an API key's id, its authority and scopes."""

    key_id: str
    authority_id: int
    scopes: frozenset[str]


@dataclass(frozen=True)
class IssueRequest:
    """One issuance: a type and a subject, optional validity bounds."""

    credential_type: str
    subject: Mapping[str, Any]
    valid_from: datetime | None = None
    valid_until: datetime | None = None


def _now() -> datetime:
    return datetime.now(UTC)


class Office:
    """An office deployment: database, chain, registries, and the keys it holds."""

    def __init__(
        self, db: Database, chain: Chain, deployment: Deployment, master: MasterKey
    ) -> None:
        self.db = db
        self.chain = chain
        self.deployment = deployment
        self.master = master
        self._signers: dict[int, LocalSigner] = {}
        self._accounts: dict[int, LocalAccount] = {}
        self._lock = threading.Lock()

    # ------------------------------------------------------------------ authorities and keys

    def create_authority(
        self,
        did: str,
        name_zh: str,
        name_en: str,
        region: int,
        credential_types: Sequence[str],
        *,
        root: LocalAccount | None = None,
        key_id: str = "key-1",
    ) -> Authority:
        """Create the authority's chain account and first issuer key, register them, store both.

        With ``root`` (the governance root's account, development and demos) the authority is
        also accredited on chain; otherwise the province must accredit its account first.
        """
        account: LocalAccount = Account.create()
        fund_if_dev(self.chain, account.address)
        trust = load_artifact("TrustRegistry").abi
        if root is not None:
            self.chain.transact(
                self.deployment.trust_registry,
                trust,
                "accredit",
                [did, name_zh, name_en, region, list(credential_types), account.address],
                root,
            )
        pair = Ed25519KeyPair.generate()
        self.chain.transact(
            self.deployment.trust_registry,
            trust,
            "addKey",
            [did, key_id, pair.public_bytes],
            account,
        )
        return self.store_authority(
            did, name_zh, name_en, region, credential_types, account, pair, key_id, active=True
        )

    def store_authority(
        self,
        did: str,
        name_zh: str,
        name_en: str,
        region: int,
        credential_types: Sequence[str],
        account: LocalAccount,
        pair: Ed25519KeyPair,
        key_id: str,
        *,
        active: bool,
    ) -> Authority:
        """Store an authority with its account key and first issuer key, both sealed under the
        master key (the purposes ``account`` and ``signer`` open them with)."""
        with self.db.session() as s:
            authority = Authority(
                did=did,
                name_zh=name_zh,
                name_en=name_en,
                region=region,
                credential_types=list(credential_types),
                account_address=account.address,
                account_key_encrypted=self.master.seal(bytes(account.key), f"account:{did}"),
                created_at=_now(),
            )
            s.add(authority)
            s.flush()
            s.add(
                IssuerKey(
                    authority_id=authority.id,
                    key_id=key_id,
                    public_key=pair.public_bytes,
                    private_key_encrypted=self.master.seal(
                        pair.private_bytes(), f"issuer-key:{did}#{key_id}"
                    ),
                    active=active,
                    created_at=_now(),
                )
            )
        return authority

    def authorities(self) -> list[Authority]:
        """Every authority this office acts for."""
        with self.db.session() as s:
            return list(s.scalars(select(Authority).order_by(Authority.id)))

    def authority(self, authority_id: int) -> Authority:
        """One authority; raises NotFound."""
        with self.db.session() as s:
            found = s.get(Authority, authority_id)
        if found is None:
            raise NotFound(f"no authority {authority_id} in this office")
        return found

    def authority_by_did(self, did: str) -> Authority:
        """One authority by DID; raises NotFound."""
        with self.db.session() as s:
            found = s.scalar(select(Authority).where(Authority.did == did))
        if found is None:
            raise NotFound(f"no authority {did} in this office")
        return found

    def signer(self, authority_id: int) -> LocalSigner:
        """The authority's active issuer key, decrypted once and kept in memory."""
        with self._lock:
            cached = self._signers.get(authority_id)
        if cached is not None:
            return cached
        authority = self.authority(authority_id)
        with self.db.session() as s:
            key = s.scalar(
                select(IssuerKey)
                .where(IssuerKey.authority_id == authority_id, IssuerKey.active.is_(True))
                .order_by(IssuerKey.id.desc())
            )
        if key is None:
            raise NotFound(f"authority {authority.did} has no active issuer key")
        secret = self.master.open(
            key.private_key_encrypted, f"issuer-key:{authority.did}#{key.key_id}"
        )
        signer = LocalSigner(key.key_id, Ed25519KeyPair.from_private_bytes(secret))
        with self._lock:
            self._signers[authority_id] = signer
        return signer

    def account(self, authority_id: int) -> LocalAccount:
        """The authority's chain account, decrypted once and kept in memory."""
        with self._lock:
            cached = self._accounts.get(authority_id)
        if cached is not None:
            return cached
        authority = self.authority(authority_id)
        secret = self.master.open(authority.account_key_encrypted, f"account:{authority.did}")
        account: LocalAccount = Account.from_key(secret)
        with self._lock:
            self._accounts[authority_id] = account
        return account

    # ------------------------------------------------------------------ API keys

    def create_api_key(
        self, authority_id: int, scopes: Sequence[str], label: str = ""
    ) -> tuple[str, str]:
        """Create an API key; returns (its id, the whole key). The whole key is shown once."""
        unknown = sorted(set(scopes) - set(SCOPES))
        if unknown or not scopes:
            raise InvalidInput(
                f"unknown scopes {unknown}; choose from {', '.join(SCOPES)}"
                if unknown
                else "an API key needs at least one scope"
            )
        self.authority(authority_id)
        key_id = secrets.token_hex(8)
        secret = secrets.token_urlsafe(32)
        with self.db.session() as s:
            s.add(
                ApiKey(
                    id=key_id,
                    authority_id=authority_id,
                    secret_sha256=hashlib.sha256(secret.encode()).digest(),
                    scopes=sorted(set(scopes)),
                    label=label,
                    created_at=_now(),
                )
            )
        return key_id, f"{_KEY_PREFIX}_{key_id}_{secret}"

    def authenticate(self, token: str) -> AuthContext | None:
        """The caller behind a presented API key, or None if it is unknown, wrong or revoked."""
        prefix, _, rest = token.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != _KEY_PREFIX or not key_id or not secret:
            return None
        with self.db.session() as s:
            row = s.get(ApiKey, key_id)
        if row is None or row.revoked_at is not None:
            return None
        if not hmac.compare_digest(row.secret_sha256, hashlib.sha256(secret.encode()).digest()):
            return None
        return AuthContext(row.id, row.authority_id, frozenset(row.scopes))

    def api_keys(self) -> list[ApiKey]:
        """Every API key (hashes only)."""
        with self.db.session() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at)))

    def revoke_api_key(self, key_id: str) -> None:
        """Revoke an API key; raises NotFound."""
        with self.db.session() as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"no API key {key_id}")
            row.revoked_at = row.revoked_at or _now()

    # ------------------------------------------------------------------ issuance

    def _identity(self, authority: Authority) -> SigningIdentity:
        signer = self.signer(authority.id)
        return SigningIdentity(
            authority.did, authority.name_zh, authority.region, signer.key_id, signer
        )

    def _build(
        self, authority: Authority, request: IssueRequest, now: datetime
    ) -> tuple[dict[str, Any], bytes]:
        """The signed credential and its digest; raises InvalidCredential."""
        if request.credential_type not in authority.credential_types:
            raise InvalidCredential(
                [
                    FieldError(
                        "type",
                        "type_not_accredited",
                        f"{authority.name_zh} 未获授权签发 {request.credential_type}",
                        f"{authority.name_en} is not accredited to issue {request.credential_type}",
                    )
                ]
            )
        return issue_credential(
            request.credential_type,
            request.subject,
            self._identity(authority),
            chain_id=self.deployment.chain_id,  # issuance must not need the chain to be up
            anchor_registry=self.deployment.anchor_registry,
            valid_from=request.valid_from,
            valid_until=request.valid_until,
            now=now,
        )

    def issue(
        self,
        authority_id: int,
        request: IssueRequest,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: bytes | None = None,
    ) -> tuple[dict[str, Any], bool]:
        """Issue one credential; returns (bundle, created). A retried idempotency key returns
        the first credential (created False); the same key with another request raises
        IdempotencyConflict. Raises InvalidCredential for a subject that breaks the rules."""
        authority = self.authority(authority_id)
        if idempotency_key is not None:
            existing = self._by_idempotency(authority_id, idempotency_key, request_fingerprint)
            if existing is not None:
                return existing, False
        now = _now()
        credential, digest = self._build(authority, request, now)
        row = self._row(authority_id, credential, digest, now, idempotency_key, request_fingerprint)
        try:
            with self.db.session() as s:
                s.execute(insert(Credential), [row])
        except IntegrityError:
            if idempotency_key is None:
                raise
            existing = self._by_idempotency(authority_id, idempotency_key, request_fingerprint)
            if existing is None:
                raise
            return existing, False
        return _bundle(credential, None), True

    def issue_many(
        self, authority_id: int, requests: Sequence[IssueRequest]
    ) -> list[dict[str, Any]]:
        """Issue every request or none: raises InvalidCredential with per-item paths
        (``items[3].citizenId``: the item, then the subject field) if any is invalid."""
        authority = self.authority(authority_id)
        now = _now()
        credentials: list[tuple[dict[str, Any], bytes]] = []
        errors: list[FieldError] = []
        for i, request in enumerate(requests):
            try:
                credentials.append(self._build(authority, request, now))
            except InvalidCredential as e:
                errors += [
                    FieldError(f"items[{i}].{err.path}", err.code, err.zh, err.en)
                    for err in e.errors
                ]
        if errors:
            raise InvalidCredential(errors)
        with self.db.session() as s:
            # one multi-row INSERT rather than an ORM object per credential
            rows = [self._row(authority_id, c, d, now, None, None) for c, d in credentials]
            s.execute(insert(Credential), rows)
        return [_bundle(c, None) for c, _ in credentials]

    def _row(
        self,
        authority_id: int,
        credential: dict[str, Any],
        digest: bytes,
        now: datetime,
        idempotency_key: str | None,
        fingerprint: bytes | None,
    ) -> dict[str, Any]:
        return {
            "id": credential["id"],
            "authority_id": authority_id,
            "credential_type": credential["type"][1],
            "document": credential,
            "digest": digest,
            "idempotency_key": idempotency_key,
            "request_sha256": fingerprint,
            "anchor_state": AnchorState.PENDING,
            "created_at": now,
            "lineage_id": credential["id"],
            "version": 1,
            "key_id": credential["proof"]["verificationMethod"].partition("#")[2],
            "status": CredentialStatus.ACTIVE,
        }

    def _by_idempotency(
        self, authority_id: int, key: str, fingerprint: bytes | None
    ) -> dict[str, Any] | None:
        with self.db.session() as s:
            row = s.scalar(
                select(Credential).where(
                    Credential.authority_id == authority_id, Credential.idempotency_key == key
                )
            )
        if row is None:
            return None
        if fingerprint is not None and row.request_sha256 not in (None, fingerprint):
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request"
            )
        return _bundle(row.document, row.receipt)

    # ------------------------------------------------------------------ reads

    def bundle(self, credential_id: str, authority_id: int | None = None) -> dict[str, Any]:
        """The bundle of a credential (its receipt once anchored); raises NotFound."""
        with self.db.session() as s:
            row = s.scalar(select(Credential).where(Credential.id == credential_id))
        if row is None or (authority_id is not None and row.authority_id != authority_id):
            raise NotFound(f"no credential {credential_id}")
        return _bundle(row.document, row.receipt)

    def queue_depth(self) -> int:
        """Credentials waiting to be anchored (pending or in an unconfirmed batch)."""
        with self.db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(Credential)
                    .where(Credential.anchor_state != AnchorState.ANCHORED)
                )
                or 0
            )

    def counts(self) -> dict[str, int]:
        """Credentials by anchor state."""
        with self.db.session() as s:
            rows = s.execute(
                select(Credential.anchor_state, func.count()).group_by(Credential.anchor_state)
            ).all()
        return {state: int(n) for state, n in rows}


def request_fingerprint(body: Any) -> bytes:
    """A stable hash of a request body, to tell a retry from a different request."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).digest()


def _bundle(credential: dict[str, Any], receipt: dict[str, Any] | None) -> dict[str, Any]:
    return {"version": BUNDLE_VERSION, "credential": credential, "anchor": receipt}
