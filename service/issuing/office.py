"""The issuing office: its authorities and keys, API keys, issuance into durable storage.

One ``Office`` wraps the database, the chain and the deployment. Issuance validates, signs and
stores a credential; the same database transaction puts it in the anchoring queue (where
it has no batch yet), so a crash after the answer loses nothing.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import secrets
import threading
import time
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, cast

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import Table, func, select
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from service.audit.trail import audit_entry, record, record_entries
from service.issuing.issuance import (
    SignedCredential,
    SigningIdentity,
    issue_signed,
    require_uscc,
    signed_form,
    status_entry,
)
from service.issuing.receipts import receipt_of
from service.issuing.signer import IssuerKeyPair, LocalSigner, key_pair_from_private_bytes
from service.issuing.signing_pool import SigningPool, SlicedIdentity
from service.issuing.status_lists import StatusPositions, list_base
from service.storage.columns import SUBJECT_KEYS, identifier_key, subject_key
from service.storage.db import Database
from service.storage.errors import StoredDataAltered
from service.storage.models import (
    AnchorState,
    ApiKey,
    Authority,
    Batch,
    BatchKind,
    BatchState,
    Credential,
    CredentialStatus,
    IssuerKey,
    QueuedCredential,
    leaf_index_of,
    with_membership,
)
from service.storage.sealing import MasterKey
from verifier.bundle import BUNDLE_VERSION
from verifier.chain import Chain
from verifier.credential import DERIVED_TYPES
from verifier.deployment import Deployment
from verifier.errors import FieldError, InvalidCredential, InvalidInput, SuixinError
from verifier.jcs import canonicalize
from verifier.licence_id import LICENSED_TYPES
from verifier.merkle import MerkleHash, MerkleTree, merkle_digest

__all__ = [
    "SCOPES",
    "AuthContext",
    "CredentialInForce",
    "IdempotencyConflict",
    "IssueRequest",
    "NotFound",
    "Office",
    "PendingIssue",
    "SignedChunk",
    "Signing",
    "prepared_batch",
    "request_fingerprint",
    "stored_bundle",
]

_CREDENTIALS = cast(Table, Credential.__table__)
# authorities and API keys are read from the database at most this often per process: a
# change made by another process (a revoked key, a new scope) takes effect within it
_CACHE_SECONDS = 1.0
SCOPES = ("issue:ResidencePermit", "issue:BusinessLicense", "lifecycle", "revoke", "admin")
_KEY_PREFIX = "sx"


class NotFound(SuixinError):
    """The thing asked for does not exist (or belongs to another authority); the message in
    English, with its Chinese alongside (``zh``)."""

    def __init__(self, message: str, zh: str = "未找到") -> None:
        super().__init__(message)
        self.zh = zh

    def diagnostics(self) -> str:
        return f"{self.zh} / {self}"


@dataclass(frozen=True)
class SignedChunk:
    """Credentials ``Office.sign_many`` signed for one authority at ``now``, in the form they
    are stored (``SignedCredential``: JCS bytes, digest, compressed bytes, plain columns), not
    stored yet (``Office.store_signed``)."""

    authority_id: int
    credentials: list[SignedCredential]
    now: datetime


class Signing:
    """A chunk being signed (``Office.start_signing``)."""

    def __init__(
        self,
        authority_id: int,
        now: datetime,
        built: Callable[[], list[SignedCredential | InvalidCredential]],
    ) -> None:
        self.authority_id, self.now, self._build = authority_id, now, built
        self._built: list[SignedCredential | InvalidCredential] | None = None

    def result(self) -> SignedChunk:
        """The signed chunk; raises InvalidCredential with the per-item errors (``items[3].…``)
        of every request that could not be built. Built once: asked again, the same."""
        if self._built is None:
            self._built = self._build()
        credentials: list[SignedCredential] = []
        errors: list[FieldError] = []
        for i, built in enumerate(self._built):
            if isinstance(built, InvalidCredential):
                errors += [
                    FieldError(f"items[{i}].{err.path}", err.code, err.zh, err.en)
                    for err in built.errors
                ]
            else:
                credentials.append(built)
        if errors:
            raise InvalidCredential(errors)
        return SignedChunk(self.authority_id, credentials, self.now)


class IdempotencyConflict(SuixinError):
    """An Idempotency-Key was reused with a different request."""


_IN_FORCE = (CredentialStatus.ACTIVE, CredentialStatus.SUSPENDED)
# The predicate of the partial unique index ``ux_credentials_subject_in_force``, written with
# literal values: neither SQLite nor a generic PostgreSQL plan (a statement psycopg prepared)
# can prove bound parameters inside it, and without that proof the lookup scans every credential
# of the authority (its cost grew with everything the authority had issued).
_IN_FORCE_TEXT = "status IN (" + ", ".join(f"'{status}'" for status in _IN_FORCE) + ")"
_HOLDER_WORDS = {
    "ResidencePermit": ("该公民身份号码", "居住证", "this citizen id number", "residence permit"),
    "BusinessLicense": ("该统一社会信用代码", "营业执照", "this USCC", "business licence"),
}


class CredentialInForce(SuixinError):
    """The person (citizen id number) or entity (USCC) already holds a credential of this type
    from this authority that is in force (active or suspended): HTTP 409 naming it. The holder
    is served by a life-cycle step of that credential (签注, 换领, 补领, 变更), not a second one."""

    def __init__(
        self, credential_type: str, existing_id: str, *, earlier_item: int | None = None
    ) -> None:
        self.credential_type = credential_type
        self.existing_id = existing_id
        self.code = "credential_in_force"
        who_zh, what_zh, who_en, what_en = _HOLDER_WORDS.get(
            credential_type, ("该持证人", credential_type, "this holder", credential_type)
        )
        if earlier_item is not None:
            self.zh = (
                f"{who_zh}在本次请求中重复出现（同 items[{earlier_item}]），只能签发一张{what_zh}"
            )
            self.en = (
                f"{who_en} appears twice in this request (as items[{earlier_item}]): one "
                f"{what_en} is issued, not two"
            )
        else:
            self.zh = f"{who_zh}已有有效的{what_zh} {existing_id}，请办理签注、换领、补领或变更"
            self.en = (
                f"{who_en} already holds a {what_en} in force ({existing_id}): endorse, renew, "
                "replace or amend it instead of issuing another"
            )
        super().__init__(f"{self.code}: {self.en}")

    def field_error(self, path: str) -> FieldError:
        """The same refusal as one field's error (bulk and batch requests)."""
        return FieldError(path, self.code, self.zh, self.en)

    def diagnostics(self) -> str:
        return f"{self.zh} / {self.en}"


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


@dataclass(frozen=True)
class PendingIssue:
    """One issue prepared, not yet stored (``Office.prepare_issue``): its request, the row
    of its credential and its audit row, and the bundle it answers once they are stored."""

    authority_id: int
    request: IssueRequest
    idempotency_key: str | None
    request_fingerprint: bytes | None
    row: dict[str, Any]
    audit: dict[str, Any]
    bundle: dict[str, Any]


def _now() -> datetime:
    return datetime.now(UTC)


def prepared_batch(
    authority_id: int,
    kind: str,
    digests: Sequence[bytes],
    issued: Sequence[datetime],
    anchoring_hash: MerkleHash,
) -> Batch:
    """A batch of ``digests`` (leaf order), prepared: its Merkle tree, and when its members
    were issued (for the wait figures). The worker's claim and a bulk chunk's own batch make
    theirs here."""
    tree = MerkleTree(digests, hash=anchoring_hash)
    return Batch(
        authority_id=authority_id,
        kind=kind,
        hash=tree.hash,
        root=tree.root,
        size=tree.size,
        leaves=b"".join(digests),
        state=BatchState.PREPARED,
        created_at=datetime.now(UTC),
        queued_at=min(issued),
        queued_sum=sum(t.timestamp() for t in issued),
    )


class Office:
    """An office deployment: database, chain, registries, and the keys it holds."""

    def __init__(
        self, db: Database, chain: Chain, deployment: Deployment, master: MasterKey
    ) -> None:
        self.db = db
        self.chain = chain
        self.deployment = deployment
        self.master = master
        # decrypted keys, with the monotonic time they were last checked against the database
        self._signers: dict[int, tuple[LocalSigner, float]] = {}
        self._accounts: dict[int, tuple[LocalAccount, float]] = {}
        self._lock = threading.Lock()
        # bulk issuance signs on these processes when set (``SigningPool``), else in-process
        self.signing_pool: SigningPool | None = None
        # status list positions of new credentials (service.issuing.status_lists)
        self.status_positions = StatusPositions(db)
        self._authority_cache: dict[int, tuple[float, Authority]] = {}
        self._api_key_cache: dict[str, tuple[float, bytes, AuthContext]] = {}
        self._identity_checked = -float("inf")  # monotonic time the chain last matched
        # every transaction of the office's accounts, from any of its processes: one sender at
        # a time per account, only to the deployment's own chain
        chain.sender_guard = self._sending

    #: How long a successful check that the chain is the deployment's is relied on between
    #: the worker's passes (``check_chain``); a transaction always asks afresh.
    identity_ttl_seconds: float = 2.0

    @property
    def anchoring_hash(self) -> MerkleHash:
        """The deployment's Merkle hash (``sha-256`` or ``sm3``): every credential digest this
        office stores, and every batch tree it builds, uses it."""
        return self.deployment.anchoring_hash

    def check_chain(self, *, fresh: bool = False) -> None:
        """Raise ChainMismatch unless the node serves the deployment's chain (ChainUnavailable
        when it cannot be reached). A success is relied on for ``identity_ttl_seconds``."""
        now = time.monotonic()
        if fresh or now - self._identity_checked > self.identity_ttl_seconds:
            self.deployment.check_chain(self.chain)
            self._identity_checked = now

    @contextmanager
    def _sending(self, address: str) -> Iterator[None]:
        with self.db.sender_lock(address):
            # afresh for every transaction, once it may be sent: a node restarted empty at the
            # same URL within ``identity_ttl_seconds`` of a passed check must not be sent to
            # (two chain reads, against a transaction's many)
            self.check_chain(fresh=True)
            yield

    #: How long a decrypted key is used before the database is asked again which key (or chain
    #: account) is current, so that a rotation made by another process (``suixin keys rotate``)
    #: reaches this one within that time. A rotation waits this long before it relies on it.
    key_refresh_seconds: float = 5.0

    def forget_keys(self, authority_id: int) -> None:
        """Drop the authority's decrypted keys (and its cached row): the next use reads the
        current ones (rotation)."""
        with self._lock:
            self._signers.pop(authority_id, None)
            self._accounts.pop(authority_id, None)
        self._authority_cache.pop(authority_id, None)

    # ------------------------------------------------------------------ authorities and keys

    def store_authority(
        self,
        did: str,
        name_zh: str,
        name_en: str,
        region: int,
        credential_types: Sequence[str],
        account: LocalAccount,
        pair: IssuerKeyPair,
        key_id: str,
        *,
        active: bool,
        uscc: str | None = None,
        actor: str = "system",
    ) -> Authority:
        """Store an authority (with its 统一社会信用代码 ``uscc``, when it has one) with its
        account key and first issuer key (Ed25519 or SM2), both sealed under the master key (the
        purposes ``account`` and ``signer`` open them with); the audit trail gets one
        ``authority.create`` row in the same transaction."""
        algorithm = LocalSigner(key_id, pair).algorithm
        with self.db.session() as s:
            authority = Authority(
                did=did,
                name_zh=name_zh,
                name_en=name_en,
                region=region,
                credential_types=list(credential_types),
                uscc=uscc or None,
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
                    algorithm=algorithm,
                    public_key=pair.public_bytes,
                    private_key_encrypted=self.master.seal(
                        pair.private_bytes(), f"issuer-key:{did}#{key_id}"
                    ),
                    active=active,
                    created_at=_now(),
                )
            )
            record(
                s,
                actor=actor,
                action="authority.create",
                authority_id=authority.id,
                details={
                    "did": did,
                    "uscc": uscc or None,
                    "account": account.address,
                    "keyId": key_id,
                    "keyAlgorithm": algorithm,
                    "keyActive": active,
                    "types": sorted(credential_types),
                },
            )
        return authority

    def authorities(self) -> list[Authority]:
        """Every authority this office acts for."""
        with self.db.session() as s:
            return list(s.scalars(select(Authority).order_by(Authority.id)))

    def authority(self, authority_id: int) -> Authority:
        """One authority; raises NotFound. Read at most once a second per process (every
        request needs it; a change made elsewhere shows within ``_CACHE_SECONDS``)."""
        now = time.monotonic()
        cached = self._authority_cache.get(authority_id)
        if cached is not None and now - cached[0] < _CACHE_SECONDS:
            return cached[1]
        with self.db.session() as s:
            found = s.get(Authority, authority_id)
        if found is None:
            raise NotFound(
                f"no authority {authority_id} in this office",
                f"本机构没有编号为 {authority_id} 的发证机关",
            )
        self._authority_cache[authority_id] = (now, found)
        return found

    def forget_cached(self) -> None:
        """Drop cached authorities and API keys (after changing them)."""
        self._authority_cache.clear()
        self._api_key_cache.clear()

    def authority_by_did(self, did: str) -> Authority:
        """One authority by DID; raises NotFound."""
        with self.db.session() as s:
            found = s.scalar(select(Authority).where(Authority.did == did))
        if found is None:
            raise NotFound(f"no authority {did} in this office", f"本机构没有发证机关 {did}")
        return found

    def signer(self, authority_id: int) -> LocalSigner:
        """The authority's active issuer key (Ed25519 or SM2), decrypted once and kept in
        memory; which key is active is read again every ``key_refresh_seconds`` (rotation by
        another process)."""
        now = time.monotonic()
        with self._lock:
            cached = self._signers.get(authority_id)
        if cached is not None and now - cached[1] < self.key_refresh_seconds:
            return cached[0]
        authority = self.authority(authority_id)
        with self.db.session() as s:
            key = s.scalar(
                select(IssuerKey)
                .where(IssuerKey.authority_id == authority_id, IssuerKey.active.is_(True))
                .order_by(IssuerKey.id.desc())
            )
        if key is None:
            raise NotFound(
                f"authority {authority.did} has no active issuer key",
                f"发证机关 {authority.did} 没有可用的签发密钥",
            )
        if cached is not None and cached[0].key_id == key.key_id:
            signer = cached[0]  # still the active key: no need to decrypt it again
        else:
            secret = self.master.open(
                key.private_key_encrypted, f"issuer-key:{authority.did}#{key.key_id}"
            )
            signer = LocalSigner(key.key_id, key_pair_from_private_bytes(key.algorithm, secret))
        with self._lock:
            self._signers[authority_id] = (signer, now)
        return signer

    def account(self, authority_id: int) -> LocalAccount:
        """The authority's chain account, decrypted once and kept in memory; which account is
        current is read again every ``key_refresh_seconds`` (``suixin keys rotate-account``)."""
        now = time.monotonic()
        with self._lock:
            cached = self._accounts.get(authority_id)
        if cached is not None and now - cached[1] < self.key_refresh_seconds:
            return cached[0]
        authority = self.authority(authority_id)
        if cached is not None and cached[0].address == authority.account_address:
            account: LocalAccount = cached[0]
        else:
            secret = self.master.open(authority.account_key_encrypted, f"account:{authority.did}")
            account = Account.from_key(secret)
        with self._lock:
            self._accounts[authority_id] = (account, now)
        return account

    # ------------------------------------------------------------------ API keys

    def create_api_key(
        self, authority_id: int, scopes: Sequence[str], label: str = "", *, actor: str = "system"
    ) -> tuple[str, str]:
        """Create an API key; returns (its id, the whole key). The whole key is shown once.
        The audit row (``apikey.create``, by ``actor``) names the key's id and scopes, never
        its secret or label."""
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
            s.flush()  # the INSERT first: on SQLite it takes the write lock
            record(
                s,
                actor=actor,
                action="apikey.create",
                authority_id=authority_id,
                details={"keyId": key_id, "scopes": sorted(set(scopes))},
            )
        return key_id, f"{_KEY_PREFIX}_{key_id}_{secret}"

    def authenticate_cached(self, token: str) -> AuthContext | None:
        """The caller behind ``token`` if its key was read within ``_CACHE_SECONDS`` and the
        secret matches; None otherwise (then ask ``authenticate``). Never touches the database."""
        prefix, _, rest = token.partition("_")
        key_id, _, secret = rest.partition("_")
        cached = self._api_key_cache.get(key_id) if prefix == _KEY_PREFIX and secret else None
        if cached is None or time.monotonic() - cached[0] >= _CACHE_SECONDS:
            return None
        if not hmac.compare_digest(cached[1], hashlib.sha256(secret.encode()).digest()):
            return None
        return cached[2]

    def authenticate(self, token: str) -> AuthContext | None:
        """The caller behind a presented API key, or None if it is unknown, wrong or revoked."""
        prefix, _, rest = token.partition("_")
        key_id, _, secret = rest.partition("_")
        if prefix != _KEY_PREFIX or not key_id or not secret:
            return None
        now = time.monotonic()
        cached = self._api_key_cache.get(key_id)
        if cached is None or now - cached[0] >= _CACHE_SECONDS:
            with self.db.session() as s:
                row = s.get(ApiKey, key_id)
            if row is None or row.revoked_at is not None:
                self._api_key_cache.pop(key_id, None)
                return None
            context = AuthContext(row.id, row.authority_id, frozenset(row.scopes))
            cached = (now, row.secret_sha256, context)
            self._api_key_cache[key_id] = cached
        if not hmac.compare_digest(cached[1], hashlib.sha256(secret.encode()).digest()):
            return None
        return cached[2]

    def api_keys(self) -> list[ApiKey]:
        """Every API key (hashes only)."""
        with self.db.session() as s:
            return list(s.scalars(select(ApiKey).order_by(ApiKey.created_at)))

    def revoke_api_key(self, key_id: str, *, actor: str = "system") -> None:
        """Revoke an API key; raises NotFound. Revoking a revoked key changes nothing and
        appends no audit row."""
        self._api_key_cache.pop(key_id, None)
        with self.db.write_session() as s:
            row = s.get(ApiKey, key_id)
            if row is None:
                raise NotFound(f"no API key {key_id}", f"没有 API 密钥 {key_id}")
            if row.revoked_at is None:
                row.revoked_at = _now()
                record(
                    s,
                    actor=actor,
                    action="apikey.revoke",
                    authority_id=row.authority_id,
                    details={"keyId": key_id},
                )
        self._api_key_cache.pop(key_id, None)  # again: a request may have cached it meanwhile

    # ------------------------------------------------------------------ issuance

    def _identity(self, authority: Authority) -> SigningIdentity:
        signer = self.signer(authority.id)
        return SigningIdentity(
            authority.did,
            authority.name_zh,
            authority.region,
            signer.key_id,
            signer,
            cryptosuite=signer.cryptosuite,
            uscc=authority.uscc,
        )

    def status_positions_for(self, authority: Authority, count: int) -> list[int | None]:
        """``count`` status list positions for new credentials of ``authority`` (None each when
        it publishes no lists: not a did:web, or registries deployed before lists existed)."""
        if list_base(authority.did) is None or not self.deployment.status_lists:
            return [None] * count
        return list(self.status_positions.take(authority.id, count))

    def new_status(
        self, s: Session, authority: Authority, credential_id: str
    ) -> dict[str, Any] | list[dict[str, Any]]:
        """The ``credentialStatus`` of a new credential made inside the transaction ``s`` (a
        life-cycle step): its list position is reserved in ``s``, so it is given back if the
        step rolls back."""
        position = (
            self.status_positions.take(authority.id, 1, session=s)[0]
            if list_base(authority.did) is not None and self.deployment.status_lists
            else None
        )
        return status_entry(
            credential_id,
            self.deployment.chain_id,
            self.deployment.anchor_registry,
            issuer_did=authority.did,
            position=position,
        )

    def _build(
        self,
        authority: Authority,
        request: IssueRequest,
        now: datetime,
        position: int | None = None,
    ) -> SignedCredential:
        """The signed credential in its stored form (at status list ``position``); raises
        InvalidCredential."""
        if request.credential_type in DERIVED_TYPES:
            raise InvalidCredential(
                [
                    FieldError(
                        "type",
                        "type_derived_only",
                        f"{request.credential_type} 只能由{DERIVED_TYPES[request.credential_type]}"
                        "派生签发（POST /v1/credentials/{id}/residence-years）",
                        f"{request.credential_type} is only derived from a "
                        f"{DERIVED_TYPES[request.credential_type]} "
                        "(POST /v1/credentials/{id}/residence-years), never issued directly",
                    )
                ]
            )
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
        require_uscc(request.credential_type, authority.uscc)
        credential, jcs = issue_signed(
            request.credential_type,
            request.subject,
            self._identity(authority),
            chain_id=self.deployment.chain_id,  # issuance must not need the chain to be up
            anchor_registry=self.deployment.anchor_registry,
            valid_from=request.valid_from,
            valid_until=request.valid_until,
            now=now,
            status_position=position,
        )
        return signed_form(credential, jcs, self.anchoring_hash)

    def sliced_identity(self, authority: Authority) -> SlicedIdentity:
        """What a signing process needs to build and sign ``authority``'s credentials with its
        current key (``service.issuing.signing_pool``)."""
        signer = self.signer(authority.id)
        return SlicedIdentity(
            authority.did,
            authority.name_zh,
            authority.region,
            signer.key_id,
            signer.pair.private_bytes(),
            self.deployment.chain_id,
            self.deployment.anchor_registry,
            algorithm=signer.algorithm,
            anchoring_hash=self.anchoring_hash,
            uscc=authority.uscc,
        )

    def _start_build(
        self, authority: Authority, requests: Sequence[IssueRequest], now: datetime
    ) -> Callable[[], list[SignedCredential | InvalidCredential]]:
        """Begin building every request: on the signing pool when there is one and the
        request is big enough to be worth the trip (its slices are queued there now), else
        here, when the answer is asked for. The callable returned gives every request's
        credential or error, in order."""
        pool = self.signing_pool
        # requests the pool can sign as they are; any other is refused here, with its reason
        signable = [
            r.credential_type in authority.credential_types
            and (authority.uscc or r.credential_type not in LICENSED_TYPES)
            for r in requests
        ]
        positions = self.status_positions_for(authority, len(requests))
        if pool is None or len(requests) < 2 * pool.slice_size or not all(signable):

            def build_here() -> list[SignedCredential | InvalidCredential]:
                out: list[SignedCredential | InvalidCredential] = []
                for request, position in zip(requests, positions, strict=True):
                    try:
                        out.append(self._build(authority, request, now, position))
                    except InvalidCredential as e:
                        out.append(e)
                return out

            return build_here
        identity = self.sliced_identity(authority)
        items = [
            (r.credential_type, dict(r.subject), r.valid_from, r.valid_until, position)
            for r, position in zip(requests, positions, strict=True)
        ]
        building = pool.start(identity, items, now)

        def collect() -> list[SignedCredential | InvalidCredential]:
            return [
                InvalidCredential(built) if isinstance(built, list) else built
                for built in building.result()
            ]

        return collect

    def issue(
        self,
        authority_id: int,
        request: IssueRequest,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: bytes | None = None,
        actor: str = "system",
    ) -> tuple[dict[str, Any], bool]:
        """Issue one credential; returns (bundle, created). A retried idempotency key returns
        the first credential (created False, no audit row); the same key with another request
        raises IdempotencyConflict. Raises InvalidCredential for a subject that breaks the
        rules, CredentialInForce for a holder who holds one in force. The audit row
        (``credential.issue`` by ``actor``) holds ids, never the subject.

        ``prepare_issue``, ``store_issued`` and (when the store is refused) ``settle_refused``
        in turn; the API stores the credentials of concurrent requests together
        (``service.issuing.group_commit``)."""
        prepared = self.prepare_issue(
            authority_id,
            request,
            idempotency_key=idempotency_key,
            request_fingerprint=request_fingerprint,
            actor=actor,
        )
        if not isinstance(prepared, PendingIssue):
            return prepared
        try:
            self.store_issued([prepared])
        except IntegrityError as e:
            return self.settle_refused(prepared, e)
        return prepared.bundle, True

    def prepare_issue(
        self,
        authority_id: int,
        request: IssueRequest,
        *,
        idempotency_key: str | None = None,
        request_fingerprint: bytes | None = None,
        actor: str = "system",
    ) -> PendingIssue | tuple[dict[str, Any], bool]:
        """Everything of ``issue`` before its transaction: the signed credential's row and
        audit row, not yet stored; or (bundle, False) for a retried idempotency key. Raises
        as ``issue`` does."""
        authority = self.authority(authority_id)
        if idempotency_key is not None:
            existing = self._by_idempotency(authority_id, idempotency_key, request_fingerprint)
            if existing is not None:
                return existing, False
        now = _now()
        # No lookup of a holder already in force before signing: the partial unique index
        # (ux_credentials_subject_in_force) refuses the INSERT of a second one, and only then
        # is the holder looked up, to name the first credential. A request that is both
        # invalid and a duplicate still gets the 409, as when the lookup came first.
        try:
            signed = self._build(
                authority, request, now, self.status_positions_for(authority, 1)[0]
            )
        except InvalidCredential:
            existing = self._refuse_in_force(
                authority_id, request, idempotency_key, request_fingerprint
            )
            if existing is not None:
                return existing, False
            raise
        row = self._row(authority_id, signed, now, idempotency_key, request_fingerprint)
        audit = audit_entry(
            actor=actor,
            action="credential.issue",
            authority_id=authority_id,
            credential_id=row["id"],
            details={"type": row["credential_type"], "keyId": row["key_id"]},
        )
        return PendingIssue(
            authority_id,
            request,
            idempotency_key,
            request_fingerprint,
            row,
            audit,
            stored_bundle(signed.credential, None),
        )

    def store_issued(self, pending: Sequence[PendingIssue]) -> None:
        """Store prepared issues, their credentials and audit rows, in one transaction: all
        or none. Raises what an INSERT raises (IntegrityError: a holder in force, an
        idempotency key taken meanwhile); then nothing is stored."""
        if not pending:
            return
        with self.db.session() as s:
            if len(pending) == 1:  # Core: no ORM bookkeeping per request
                s.execute(_CREDENTIALS.insert(), pending[0].row)
            else:  # one executemany INSERT (COPY on PostgreSQL)
                self.db.insert_rows(s, _CREDENTIALS, [p.row for p in pending])
            record_entries(s, [p.audit for p in pending])

    def settle_refused(
        self, pending: PendingIssue, error: IntegrityError
    ) -> tuple[dict[str, Any], bool]:
        """The answer to an issue whose INSERT the database refused (``error``): the first
        credential of its idempotency key (stored meanwhile by a retry), or CredentialInForce
        naming the holder's credential in force; else ``error`` is raised again."""
        if pending.idempotency_key is not None:
            existing = self._by_idempotency(
                pending.authority_id, pending.idempotency_key, pending.request_fingerprint
            )
            if existing is not None:
                return existing, False
        raced = self._in_force(pending.authority_id, [pending.request])  # in force already
        if raced:
            raise next(iter(raced.values())) from None
        raise error

    def _refuse_in_force(
        self,
        authority_id: int,
        request: IssueRequest,
        idempotency_key: str | None,
        request_fingerprint: bytes | None,
    ) -> dict[str, Any] | None:
        """Raise CredentialInForce when the holder of ``request`` already holds a credential
        of its type in force, unless ``idempotency_key`` was stored meanwhile with this very
        request: then its bundle. None when the holder holds none."""
        duplicate = self._in_force(authority_id, [request])
        if not duplicate:
            return None
        if idempotency_key is not None:  # perhaps this very request, committed meanwhile
            existing = self._by_idempotency(authority_id, idempotency_key, request_fingerprint)
            if existing is not None:
                return existing
        raise next(iter(duplicate.values()))

    def issue_many(
        self,
        authority_id: int,
        requests: Sequence[IssueRequest],
        *,
        actor: str = "system",
        idempotency_keys: Sequence[str] | None = None,
        own_batch: bool = False,
    ) -> list[dict[str, Any]]:
        """Issue every request or none: raises InvalidCredential with per-item paths
        (``items[3].citizenId``: the item, then the subject field) if any is invalid. The
        whole request is one audit row (``credential.issue_batch``: count and ids).
        ``idempotency_keys`` (one per request) are stored with the credentials, in the same
        transaction: ``issued_by_keys`` finds them again (a resumed bulk run).

        ``own_batch``: the credentials are one anchoring batch of their own, claimed in the
        transaction that stores them (root and leaves in request order, state ``prepared``,
        as the worker's claim makes one): the worker only sends it, and no row is written
        twice (a claim UPDATEs every member; on PostgreSQL that is a second row version of
        each, with index entries, until a VACUUM). For bulk chunks of batch size; a few
        credentials wait in the queue to be batched with others.

        The same as ``store_signed(sign_many(…))``, the two halves a bulk run overlaps."""
        if idempotency_keys is not None and len(idempotency_keys) != len(requests):
            raise ValueError("one idempotency key per request")
        return self.store_signed(
            self.sign_many(authority_id, requests),
            actor=actor,
            idempotency_keys=idempotency_keys,
            own_batch=own_batch,
        )

    def sign_many(self, authority_id: int, requests: Sequence[IssueRequest]) -> SignedChunk:
        """Check and sign every request, storing nothing: raises InvalidCredential as
        ``issue_many`` does (a holder already in force, or twice in ``requests``, is refused
        before any signing). A holder stored by someone else between this and
        ``store_signed`` is refused there, by the database (IntegrityError)."""
        return self.start_signing(authority_id, requests).result()

    def start_signing(self, authority_id: int, requests: Sequence[IssueRequest]) -> Signing:
        """``sign_many`` in two halves: this one checks the holders (raising InvalidCredential
        for one in force, or twice in ``requests``) and queues the signing on the pool; the
        ``Signing``'s ``result`` waits for it and gives the ``SignedChunk``, or raises
        InvalidCredential with every invalid request's errors. A bulk run starts the next
        chunk before it asks for this one, so the pool never waits for the office."""
        authority = self.authority(authority_id)
        now = _now()
        duplicates = self._in_force(authority_id, requests)
        if duplicates:  # before any signing: the caller drops these and asks again
            raise InvalidCredential(
                [
                    refusal.field_error(
                        f"items[{i}].{SUBJECT_KEYS[requests[i].credential_type][1]}"
                    )
                    for i, refusal in sorted(duplicates.items())
                ]
            )
        return Signing(authority_id, now, self._start_build(authority, requests, now))

    def store_signed(
        self,
        signed: SignedChunk,
        *,
        actor: str = "system",
        idempotency_keys: Sequence[str] | None = None,
        own_batch: bool = False,
    ) -> list[dict[str, Any]]:
        """Store what ``sign_many`` signed, in one transaction with its audit row (see
        ``issue_many``); returns the bundles. Raises IntegrityError (nothing stored) when a
        holder or an idempotency key was stored meanwhile."""
        self.store_chunk(
            signed, actor=actor, idempotency_keys=idempotency_keys, own_batch=own_batch
        )
        return [stored_bundle(c.credential, None) for c in signed.credentials]

    def store_chunk(
        self,
        signed: SignedChunk,
        *,
        actor: str = "system",
        idempotency_keys: Sequence[str] | None = None,
        own_batch: bool = False,
    ) -> list[str]:
        """``store_signed``, returning the credentials' ids rather than their bundles (a bulk
        run needs only the ids: no signed credential is read back from its JCS bytes)."""
        credentials, authority_id, now = signed.credentials, signed.authority_id, signed.now
        if idempotency_keys is not None and len(idempotency_keys) != len(credentials):
            raise ValueError("one idempotency key per request")
        with self.db.session() as s:
            keys: Sequence[str | None] = idempotency_keys or [None] * len(credentials)
            rows = [
                self._row(authority_id, c, now, key, None)
                for c, key in zip(credentials, keys, strict=True)
            ]
            if own_batch and rows:
                batch_id = self._claim_own_batch(
                    s, authority_id, [c.digest for c in credentials], now
                )
                for i, row in enumerate(rows):
                    row["batch_id"], row["leaf_index"] = batch_id, i
            # COPY on PostgreSQL, one executemany INSERT on SQLite: no ORM object per row
            self.db.insert_rows(s, _CREDENTIALS, rows)
            if rows:
                record(
                    s,
                    actor=actor,
                    action="credential.issue_batch",
                    authority_id=authority_id,
                    details={
                        "count": len(rows),
                        "types": sorted({r["credential_type"] for r in rows}),
                        "keyIds": sorted({r["key_id"] for r in rows}),
                        "credentialIds": [r["id"] for r in rows],
                    },
                )
        return [c.id for c in credentials]

    def _claim_own_batch(
        self, s: Session, authority_id: int, digests: Sequence[bytes], now: datetime
    ) -> int:
        """Store the batch of ``digests`` (leaf order) in ``s``, prepared; returns its id."""
        batch = prepared_batch(
            authority_id,
            BatchKind.CREDENTIAL,
            digests,
            [now] * len(digests),  # every member was issued at ``now``
            self.anchoring_hash,
        )
        s.add(batch)
        s.flush()
        return batch.id

    def _in_force(
        self, authority_id: int, requests: Sequence[IssueRequest]
    ) -> dict[int, CredentialInForce]:
        """The requests (by index) whose person or entity already holds a credential of that
        type in force here, or appears earlier in ``requests``."""
        keys: dict[int, tuple[str, bytes]] = {}
        first: dict[tuple[str, bytes], int] = {}
        refused: dict[int, CredentialInForce] = {}
        for i, request in enumerate(requests):
            key = subject_key(self.master, request.credential_type, dict(request.subject))
            if key is None:
                continue
            if (request.credential_type, key) in first:
                earlier = first[(request.credential_type, key)]
                refused[i] = CredentialInForce(request.credential_type, "", earlier_item=earlier)
                continue
            first[(request.credential_type, key)] = i
            keys[i] = (request.credential_type, key)
        if not keys:
            return refused
        by_type: dict[str, list[bytes]] = {}
        for kind, key in keys.values():
            by_type.setdefault(kind, []).append(key)
        found: dict[tuple[str, bytes], str] = {}
        with self.db.session() as s:
            # One query per type, naming it: the type is the unique index's second column, so
            # each key is a probe of ux_credentials_subject_in_force. Without it (and without
            # the statuses below as literals, on SQLite) every credential of the authority
            # was read on each call: a bulk chunk's check grew with the table.
            # At the driver (Database.select_in): a bulk chunk asks for 1,000 keys.
            for kind, blinds in by_type.items():
                found.update(
                    ((kind, bytes(blind or b"")), cid)
                    for blind, cid in self.db.select_in(
                        s,
                        _CREDENTIALS,
                        ["subject_key", "id"],
                        {"authority_id": authority_id, "credential_type": kind},
                        "subject_key",
                        blinds,
                        literal=_IN_FORCE_TEXT,  # literals: see its definition
                    )
                )
        for i, wanted in keys.items():
            if wanted in found:
                refused[i] = CredentialInForce(wanted[0], str(found[wanted]))
        return refused

    def _row(
        self,
        authority_id: int,
        signed: SignedCredential,
        now: datetime,
        idempotency_key: str | None,
        fingerprint: bytes | None,
    ) -> dict[str, Any]:
        """The credentials row of a new credential: its compressed JCS bytes sealed here (the
        master key stays in this process), its blind index made here, the rest as signed."""
        return {
            "id": signed.id,
            "authority_id": authority_id,
            "credential_type": signed.credential_type,
            "body": self.master.seal_packed(signed.packed, signed.id),
            "digest": signed.digest,
            "idempotency_key": idempotency_key,
            "request_sha256": fingerprint,
            "created_at": now,
            "lineage_id": signed.id,
            "version": 1,
            "key_id": signed.key_id,
            "status": CredentialStatus.ACTIVE,
            "valid_until": signed.valid_until,
            "subject_key": identifier_key(self.master, signed.credential_type, signed.identifier),
            "subject_name": signed.subject_name,
            "derived_from": signed.derived_from,
        }

    def refresh_statistics(self) -> None:
        """Refresh the planner's statistics of the credentials table (PostgreSQL): a bulk run
        calls it as the table grows (``Database.analyze``)."""
        self.db.analyze(_CREDENTIALS)

    def issued_by_keys(self, authority_id: int, keys: Sequence[str]) -> dict[str, str]:
        """The credentials of ``authority_id`` stored under any of ``keys`` (idempotency keys):
        {key: credential id}."""
        if not keys:
            return {}
        with self.db.session() as s:  # at the driver: 1,000 keys a bulk chunk, each chunk
            return {
                str(key): str(cid)
                for key, cid in self.db.select_in(
                    s,
                    _CREDENTIALS,
                    ["idempotency_key", "id"],
                    {"authority_id": authority_id},
                    "idempotency_key",
                    list(keys),
                )
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
        return self.bundle(row.id)

    # ------------------------------------------------------------------ documents

    def seal(self, credential: Mapping[str, Any]) -> bytes:
        """The sealed body of a signed credential (its canonical JSON, compressed, encrypted
        to its id under the master key)."""
        return self.master.seal_document(canonicalize(credential), str(credential["id"]))

    def document(self, row: Credential) -> dict[str, Any]:
        """The signed credential a row holds; raises KeyStoreError when it cannot be opened
        (another master key, an altered body) and StoredDataAltered when the opened bytes are
        not the ones whose digest the row (and the chain) hold."""
        canonical = self.master.open_document(bytes(row.body), row.id)
        if merkle_digest(canonical, self.anchoring_hash) != bytes(row.digest):
            raise StoredDataAltered(
                f"credential {row.id}: its stored document does not match its digest"
            )
        document: dict[str, Any] = json.loads(canonical)
        return document

    def bundle_of(
        self, row: Credential, batch: Batch | None, leaf_index: int | None
    ) -> dict[str, Any]:
        """The bundle of a row, its batch (None while it waits in the queue) and its place in
        that batch (``with_membership``: the row's own, or its queue row's)."""
        return stored_bundle(self.document(row), receipt_of(batch, leaf_index))

    # ------------------------------------------------------------------ reads

    def bundle(self, credential_id: str, authority_id: int | None = None) -> dict[str, Any]:
        """The bundle of a credential (its receipt once its batch is in a block); raises
        NotFound."""
        with self.db.session() as s:
            found = s.execute(
                with_membership(select(Credential, Batch, leaf_index_of())).where(
                    Credential.id == credential_id
                )
            ).first()
        if found is None or (authority_id is not None and found[0].authority_id != authority_id):
            raise NotFound(f"no credential {credential_id}", f"没有凭证 {credential_id}")
        return self.bundle_of(found[0], found[1], found[2])

    def queue_depth(self) -> int:
        """Credentials waiting to be anchored: in no batch yet, or in a batch not final."""
        with self.db.session() as s:
            waiting = s.scalar(
                select(func.count())
                .select_from(QueuedCredential)
                .where(QueuedCredential.batch_id.is_(None))
            )
            unfinal = s.scalar(
                select(func.coalesce(func.sum(Batch.size), 0)).where(
                    Batch.kind == BatchKind.CREDENTIAL, Batch.state != BatchState.ANCHORED
                )
            )
        return int(waiting or 0) + int(unfinal or 0)

    def counts(self) -> dict[str, int]:
        """Credentials by anchor state (``AnchorState``)."""
        with self.db.session() as s:
            pending = s.scalar(
                select(func.count())
                .select_from(QueuedCredential)
                .where(QueuedCredential.batch_id.is_(None))
            )
            by_batch = s.execute(
                select(Batch.state, func.coalesce(func.sum(Batch.size), 0))
                .where(Batch.kind == BatchKind.CREDENTIAL)
                .group_by(Batch.state)
            ).all()
        counts = {AnchorState.PENDING: int(pending or 0)} if pending else {}
        for state, n in by_batch:
            if n:
                counts[AnchorState.of(state)] = counts.get(AnchorState.of(state), 0) + int(n)
        return counts


def request_fingerprint(body: Any) -> bytes:
    """A stable hash of a request body, to tell a retry from a different request."""
    return hashlib.sha256(json.dumps(body, sort_keys=True, ensure_ascii=False).encode()).digest()


def stored_bundle(credential: dict[str, Any], receipt: dict[str, Any] | None) -> dict[str, Any]:
    """The bundle of a stored credential and its receipt (None until anchored)."""
    return {"version": BUNDLE_VERSION, "credential": credential, "anchor": receipt}
