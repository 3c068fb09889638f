"""The office's tables: authorities, keys, API keys, credentials (the anchoring queue), batches."""

from __future__ import annotations

from datetime import datetime
from typing import Any, TypeVarTuple

from sqlalchemy import (
    JSON,
    BigInteger,
    ColumnElement,
    DateTime,
    Float,
    ForeignKey,
    Index,
    Integer,
    LargeBinary,
    Select,
    String,
    Text,
    UniqueConstraint,
    func,
    text,
)
from sqlalchemy.orm import DeclarativeBase, Mapped, mapped_column

__all__ = [
    "AccessEntry",
    "AnchorState",
    "ApiKey",
    "AuditEntry",
    "AuditHead",
    "AuditInboxEntry",
    "Authority",
    "Base",
    "Batch",
    "BatchKind",
    "BatchState",
    "Credential",
    "CredentialStatus",
    "Grant",
    "IssuerKey",
    "QueuedCredential",
    "ReconcileState",
    "RequestNonce",
    "StatusAllocation",
    "StatusChange",
    "StatusList",
    "StatusListSetRow",
    "WorkerStatus",
    "batch_id_of",
    "leaf_index_of",
    "with_membership",
]


# The largest value an INTEGER column holds (PostgreSQL's int4; SQLite's are wider). A number
# taken from a request to compare with a seq is bounded by it, or PostgreSQL refuses the query.
INTEGER_MAX = 2**31 - 1
_Row = TypeVarTuple("_Row")


class Base(DeclarativeBase):
    """Declarative base of every table."""


class AnchorState:
    """Where a credential (or SD-JWT) is on its way to the chain: none while it waits in the
    queue, else its batch's state (``BatchState``)."""

    PENDING = "pending"  # stored, waiting in the queue (no batch yet)
    BATCHED = "batched"  # in a batch whose transaction is not known to be mined
    SENT = "sent"  # its batch's root is in a block, not final yet: a receipt exists
    ANCHORED = "anchored"  # the block is final (the deployment's confirmations on top)

    @staticmethod
    def of(batch_state: str | None) -> str:
        """The anchor state of a member of a batch in ``batch_state`` (None: no batch)."""
        if batch_state is None:
            return AnchorState.PENDING
        return {"prepared": AnchorState.BATCHED, "sent": AnchorState.SENT}.get(
            batch_state, AnchorState.ANCHORED
        )


class CredentialStatus:
    """A credential's standing in the office's books (the chain follows via ``status_changes``)."""

    ACTIVE = "active"
    SUSPENDED = "suspended"  # e.g. a residence permit whose endorsement lapsed
    SUPERSEDED = "superseded"  # a newer version of the same lineage replaced it
    REVOKED = "revoked"  # final: lost (补领), 吊销, key compromise, …
    CANCELLED = "cancelled"  # final: 注销 (recorded on chain as revoked with a cancel reason)


class Authority(Base):
    """An authority this office acts for, with its chain account key (encrypted)."""

    __tablename__ = "authorities"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    did: Mapped[str] = mapped_column(String(256), unique=True)
    name_zh: Mapped[str] = mapped_column(String(256))
    name_en: Mapped[str] = mapped_column(String(256))
    region: Mapped[int] = mapped_column(Integer)
    credential_types: Mapped[list[str]] = mapped_column(JSON)
    # 统一社会信用代码, as accredited on chain: the issuing unit of its licence identifiers
    uscc: Mapped[str | None] = mapped_column(String(18), nullable=True)
    account_address: Mapped[str] = mapped_column(String(42))
    account_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # account rotation: the new account, stored before the chain moves the authority to it
    next_account_address: Mapped[str | None] = mapped_column(String(42), nullable=True)
    next_account_key_encrypted: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)


class IssuerKey(Base):
    """An issuer key of an authority, Ed25519 or SM2 (private half encrypted at rest)."""

    __tablename__ = "issuer_keys"
    __table_args__ = (UniqueConstraint("authority_id", "key_id"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    key_id: Mapped[str] = mapped_column(String(64))
    # "Ed25519" (32-byte public key) or "SM2" (33-byte compressed point), as on chain
    algorithm: Mapped[str] = mapped_column(String(16), default="Ed25519", server_default="Ed25519")
    public_key: Mapped[bytes] = mapped_column(LargeBinary)
    private_key_encrypted: Mapped[bytes] = mapped_column(LargeBinary)
    active: Mapped[bool] = mapped_column(default=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # set once the revocation is sent (1 rotation, 2 compromise: TrustRegistry.revokeKey's
    # reason); a revoked_at without it is a rotation's plan, not yet on chain
    revocation_reason: Mapped[int | None] = mapped_column(Integer, nullable=True)


class ApiKey(Base):
    """An office API key: its public id, the SHA-256 of its secret, its authority and scopes."""

    __tablename__ = "api_keys"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    secret_sha256: Mapped[bytes] = mapped_column(LargeBinary)
    scopes: Mapped[list[str]] = mapped_column(JSON)
    label: Mapped[str] = mapped_column(String(200), default="")
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    revoked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class BatchState:
    """Where a batch is on its way to the chain."""

    PREPARED = "prepared"  # root and leaves stored, the transaction not (known to be) mined
    SENT = "sent"  # mined in a block: its receipts exist, not final yet
    ANCHORED = "anchored"  # final: the deployment's confirmations are on top of its block


class BatchKind:
    """What a batch's leaves are."""

    CREDENTIAL = "credential"  # signed credentials' digests
    SDJWT = "sdjwt"  # SD-JWT issuer JWTs' digests


class Batch(Base):
    """A batch of credentials (or of SD-JWTs, ``kind``) whose Merkle root is anchored in one
    transaction. The tree is stored once, as its leaves in order (32 bytes each); every
    member's receipt is derived from it and the block the root landed in."""

    __tablename__ = "batches"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"), index=True)
    kind: Mapped[str] = mapped_column(String(16), default="credential")  # credential | sdjwt
    root: Mapped[bytes] = mapped_column(LargeBinary, unique=True)
    size: Mapped[int] = mapped_column(Integer)
    leaves: Mapped[bytes] = mapped_column(LargeBinary)  # the members' digests, leaf order
    # the tree's hash, "sha-256" or "sm3": the deployment's anchoring hash when claimed
    hash: Mapped[str] = mapped_column(String(16), default="sha-256", server_default="sha-256")
    state: Mapped[str] = mapped_column(String(16), index=True)  # see BatchState
    chain_id: Mapped[int | None] = mapped_column(BigInteger, nullable=True)  # where it was sent
    anchor_registry: Mapped[str | None] = mapped_column(String(42), nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    block_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_time: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    anchored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # when the reconciler last found the root on chain as recorded (``Reconciler._batches``)
    checked_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    # the members' waits (migration 0013): issue times when claimed, waits when final
    queued_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    queued_sum: Mapped[float | None] = mapped_column(Float, nullable=True)  # epoch seconds
    wait_sum: Mapped[float | None] = mapped_column(Float, nullable=True)
    wait_max: Mapped[float | None] = mapped_column(Float, nullable=True)


class Credential(Base):
    """An issued credential: its signed document sealed (compressed, encrypted to its id), the
    columns lookups need, and its place in a batch when it was stored with one (a bulk chunk's
    own batch; before migration 0019 every claimed credential). A credential stored without a
    batch is queued (``QueuedCredential``): its batch and place are written there when the
    worker claims it, never here. A member's anchor state is its batch's: ``with_membership``
    joins a query to both."""

    __tablename__ = "credentials"
    __table_args__ = (
        UniqueConstraint("authority_id", "idempotency_key"),
        Index("ix_credentials_lineage", "lineage_id", "version"),
        Index("ix_credentials_key", "authority_id", "key_id"),
        Index(
            "ix_credentials_previous",
            "previous_id",
            postgresql_where=text("previous_id IS NOT NULL"),
            sqlite_where=text("previous_id IS NOT NULL"),
        ),
        Index(
            "ix_credentials_derived",
            "derived_from",
            postgresql_where=text("derived_from IS NOT NULL"),
            sqlite_where=text("derived_from IS NOT NULL"),
        ),
        # one credential in force per person (or entity) and type at each authority
        Index(
            "ux_credentials_subject_in_force",
            "authority_id",
            "credential_type",
            "subject_key",
            unique=True,
            postgresql_where=text("subject_key IS NOT NULL AND status IN ('active', 'suspended')"),
            sqlite_where=text("subject_key IS NOT NULL AND status IN ('active', 'suspended')"),
        ),
        Index(
            "ix_credentials_term",
            "credential_type",
            "valid_until",
            postgresql_where=text("status = 'active'"),
            sqlite_where=text("status = 'active'"),
        ),
    )

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    id: Mapped[str] = mapped_column(String(64), unique=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    credential_type: Mapped[str] = mapped_column(String(64))
    body: Mapped[bytes] = mapped_column(LargeBinary)  # sealed canonical JSON (storage.sealing)
    # the hash of that JSON, the Merkle leaf: SHA-256, or SM3 in an SM3-anchoring deployment
    digest: Mapped[bytes] = mapped_column(LargeBinary)
    idempotency_key: Mapped[str | None] = mapped_column(String(200), nullable=True)
    request_sha256: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    # life cycle: every version of one permit or licence shares the first version's id
    lineage_id: Mapped[str] = mapped_column(String(64))
    version: Mapped[int] = mapped_column(Integer, default=1)
    previous_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    key_id: Mapped[str | None] = mapped_column(String(64), nullable=True)  # signing key
    status: Mapped[str] = mapped_column(String(16), default=CredentialStatus.ACTIVE)
    status_reason: Mapped[str | None] = mapped_column(String(32), nullable=True)
    status_changed_at: Mapped[datetime | None] = mapped_column(
        DateTime(timezone=True), nullable=True
    )
    # lookups without opening the document
    valid_until: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    subject_key: Mapped[bytes | None] = mapped_column(LargeBinary, nullable=True)  # blind index
    subject_name: Mapped[str | None] = mapped_column(String(256), nullable=True)  # console search
    derived_from: Mapped[str | None] = mapped_column(String(64), nullable=True)  # 居住年限: permit


class QueuedCredential(Base):
    """A credential stored without a batch (issued one by one, a bulk chunk under
    ``issuing.bulk.OWN_BATCH_MIN``, a life-cycle step's new version), and once the worker has
    claimed it, its batch and place. Written by a trigger on ``credentials`` (migration 0019) in
    the transaction that stores the credential, so no insert path can forget it.

    The claim updates this narrow row, never the credential's: on PostgreSQL an UPDATE writes a
    second version of the whole row (about 1.2 KB with its sealed document) and an entry in
    every index, which made one-by-one issuance cost 1.55 x its canonical JSON in storage. Rows
    with no batch are the anchoring queue."""

    __tablename__ = "credential_queue"
    __table_args__ = (
        Index(
            "ix_credential_queue_waiting",
            "authority_id",
            "credential_seq",
            postgresql_where=text("batch_id IS NULL"),
            sqlite_where=text("batch_id IS NULL"),
        ),
    )

    credential_seq: Mapped[int] = mapped_column(
        ForeignKey("credentials.seq"), primary_key=True, autoincrement=False
    )
    authority_id: Mapped[int] = mapped_column(Integer)
    batch_id: Mapped[int | None] = mapped_column(ForeignKey("batches.id"), nullable=True)
    leaf_index: Mapped[int | None] = mapped_column(Integer, nullable=True)


def batch_id_of() -> ColumnElement[int | None]:
    """A credential's batch, stored with it or claimed from the queue (``with_membership``)."""
    return func.coalesce(Credential.batch_id, QueuedCredential.batch_id)


def leaf_index_of() -> ColumnElement[int | None]:
    """A credential's place in its batch (``with_membership``)."""
    return func.coalesce(Credential.leaf_index, QueuedCredential.leaf_index)


def with_membership(query: Select[*_Row]) -> Select[*_Row]:
    """``query`` (over ``Credential``) joined to each credential's queue row, if any, and to its
    batch, if any: ``Batch`` columns and ``batch_id_of()``/``leaf_index_of()`` can be named."""
    return query.outerjoin(
        QueuedCredential, QueuedCredential.credential_seq == Credential.seq
    ).outerjoin(Batch, Batch.id == batch_id_of())


class StatusChange(Base):
    """A status change on its way to the chain; rows in state 'pending' are the status queue."""

    __tablename__ = "status_changes"
    __table_args__ = (Index("ix_status_changes_queue", "authority_id", "state", "seq"),)

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    credential_id: Mapped[str] = mapped_column(String(64), index=True)
    status: Mapped[str] = mapped_column(String(16))  # revoked | suspended | reinstated | superseded
    reason: Mapped[str] = mapped_column(String(32))  # a name from the reason table
    reason_code: Mapped[int] = mapped_column(Integer)  # its uint16 code on chain
    state: Mapped[str] = mapped_column(String(16), default="pending")  # pending | sent | done
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    requested_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    done_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class StatusAllocation(Base):
    """Where an authority's next block of status list positions starts: a position ``p`` is
    entry ``p mod 131072`` of list number ``p div 131072`` (``service.issuing.status_lists``)."""

    __tablename__ = "status_allocations"

    authority_id: Mapped[int] = mapped_column(
        ForeignKey("authorities.id"), primary_key=True, autoincrement=False
    )
    next_position: Mapped[int] = mapped_column(BigInteger)


class StatusList(Base):
    """One W3C Bitstring status list an authority publishes: the signed list credential it
    serves (``document``, committed on chain through its list set) and the next version while
    its transaction is on its way (``pending``), both JSON."""

    __tablename__ = "status_lists"
    __table_args__ = (UniqueConstraint("authority_id", "purpose", "number"),)

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    purpose: Mapped[str] = mapped_column(String(16))  # revocation | suspension
    number: Mapped[int] = mapped_column(Integer)
    document: Mapped[str | None] = mapped_column(Text, nullable=True)
    pending: Mapped[str | None] = mapped_column(Text, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class StatusListSetRow(Base):
    """An authority's list set (``verifier.status_list.StatusListSet``): the version whose
    digest is on chain (``document``) and the next one while its transaction is on its way."""

    __tablename__ = "status_list_sets"

    authority_id: Mapped[int] = mapped_column(
        ForeignKey("authorities.id"), primary_key=True, autoincrement=False
    )
    document: Mapped[str | None] = mapped_column(Text, nullable=True)
    pending: Mapped[str | None] = mapped_column(Text, nullable=True)
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    updated_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class AuditEntry(Base):
    """One row of the audit trail's hash chain (see ``service.audit.trail``)."""

    __tablename__ = "audit_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    authority_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    credential_id: Mapped[str | None] = mapped_column(String(64), nullable=True, index=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)
    prev_hash: Mapped[bytes] = mapped_column(LargeBinary)
    row_hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditHead(Base):
    """The audit chain's head (one row, ``id`` 1): the newest row's seq and hash; its lock
    orders appends (``service.audit.trail``)."""

    __tablename__ = "audit_head"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    seq: Mapped[int] = mapped_column(Integer)
    hash: Mapped[bytes] = mapped_column(LargeBinary)


class AuditInboxEntry(Base):
    """An audit row committed with its action but not chained yet (see ``service.audit.trail``):
    ``record`` inserts it, the sequencer moves it into ``audit_log`` in id order."""

    __tablename__ = "audit_inbox"
    __table_args__ = ({"sqlite_autoincrement": True},)  # ids never reused, as on PostgreSQL

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    actor: Mapped[str] = mapped_column(String(64))
    action: Mapped[str] = mapped_column(String(64))
    authority_id: Mapped[int | None] = mapped_column(Integer, nullable=True)
    credential_id: Mapped[str | None] = mapped_column(String(64), nullable=True)
    details: Mapped[dict[str, Any]] = mapped_column(JSON)


class AuditAnchor(Base):
    """An anchor of the audit head: the row it covers, the root sent, where it landed
    (``service.audit.anchor``)."""

    __tablename__ = "audit_anchors"

    id: Mapped[int] = mapped_column(Integer, primary_key=True)
    seq: Mapped[int] = mapped_column(Integer, unique=True)  # the anchored row (audit.anchor)
    head_hash: Mapped[bytes] = mapped_column(LargeBinary)  # that row's hash
    root: Mapped[bytes] = mapped_column(LargeBinary, unique=True)  # anchor_root(seq, hash)
    leaf_count: Mapped[int] = mapped_column(Integer)
    state: Mapped[str] = mapped_column(String(16), index=True)  # prepared | anchored
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))  # account used
    tx_hash: Mapped[str | None] = mapped_column(String(66), nullable=True)
    block_number: Mapped[int | None] = mapped_column(Integer, nullable=True)
    block_time: Mapped[int | None] = mapped_column(Integer, nullable=True)
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    anchored_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)


class WorkerStatus(Base):
    """One anchoring worker's heartbeat: when it last ran a pass, since when it fails, why; the
    API of any process reads it for ``/readyz`` and ``/metrics`` (``service.anchoring.worker``)."""

    __tablename__ = "worker_status"

    id: Mapped[str] = mapped_column(String(96), primary_key=True)  # host:pid:random
    started_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    beat_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
    last_success_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failing_since: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    failures: Mapped[int] = mapped_column(Integer, default=0)  # passes that failed, in all
    chain: Mapped[str] = mapped_column(String(16), default="ok")  # ok | mismatch | unavailable
    last_error: Mapped[str] = mapped_column(String(500), default="")
    stopped_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    unrepairable: Mapped[int] = mapped_column(Integer, default=0)  # the reconciler's last count


class ReconcileState(Base):
    """Where the reconciler last found the chain as the office believes it (one row, id 1):
    a later run that finds this block unchanged re-checks only what was recorded since; a
    replaced or missing block means the chain lost history, and everything in the window is
    checked again (``service.anchoring.reconcile``)."""

    __tablename__ = "reconcile_state"

    id: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=False)
    block_number: Mapped[int] = mapped_column(Integer)
    block_hash: Mapped[str] = mapped_column(String(66))
    checked_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))


class Grant(Base):
    """A holder's grant (授权调用): one partner office may fetch one credential, for a stated
    purpose, inside a time window, until withdrawn. ``consent`` keeps the holder's signed
    request (its body and RFC 9421 signature), so the consent can be checked again later."""

    __tablename__ = "grants"

    id: Mapped[str] = mapped_column(String(32), primary_key=True)
    credential_id: Mapped[str] = mapped_column(ForeignKey("credentials.id"), index=True)
    authority_id: Mapped[int] = mapped_column(ForeignKey("authorities.id"))
    holder_did: Mapped[str] = mapped_column(String(256), index=True)
    partner_did: Mapped[str] = mapped_column(String(256))
    purpose: Mapped[str] = mapped_column(String(200))
    valid_from: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    valid_until: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    created_at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    withdrawn_at: Mapped[datetime | None] = mapped_column(DateTime(timezone=True), nullable=True)
    consent: Mapped[dict[str, Any]] = mapped_column(JSON)


class AccessEntry(Base):
    """One signed request of a partner office for a granted credential: served or refused."""

    __tablename__ = "access_log"

    seq: Mapped[int] = mapped_column(Integer, primary_key=True, autoincrement=True)
    grant_id: Mapped[str] = mapped_column(ForeignKey("grants.id"), index=True)
    at: Mapped[datetime] = mapped_column(DateTime(timezone=True))
    partner_did: Mapped[str] = mapped_column(String(256))
    outcome: Mapped[str] = mapped_column(String(16))  # served | refused
    code: Mapped[str] = mapped_column(String(64))  # why (a stable code)


class RequestNonce(Base):
    """A nonce of a signed request, kept until a request carrying it would be stale anyway."""

    __tablename__ = "request_nonces"

    signer: Mapped[str] = mapped_column(String(256), primary_key=True)
    nonce: Mapped[str] = mapped_column(String(128), primary_key=True)
    expires_at: Mapped[datetime] = mapped_column(DateTime(timezone=True), index=True)
