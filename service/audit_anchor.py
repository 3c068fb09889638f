"""Anchoring the audit trail's head on chain, and checking the whole trail against those anchors.

**One audit chain per office database.** An office may act for several authorities; their
actions share one hash-chained log, and its head is anchored with the chain account of the
*lowest-id authority that is active in this office* (its enrolment finished: it holds an active
issuer key, so the province has accredited its account). If the chain refuses that account
(``NotAnAuthority``, ``AuthorityNotActive``: suspended on chain, account rotated away), the next
active authority is tried. The authority used is stored with each anchor.

**What goes on chain.** ``AnchorRegistry.anchor(root, leafCount)`` with
``root = SHA-256(b"suixin-audit/1" ‖ seq as 8 bytes ‖ row hash)`` and ``leafCount`` = ``seq``
clipped to uint32 (``service.audit.anchor_root``): a hash in a domain of its own, never a
credential batch root, and no personal data.

**Anchoring** (``HeadAnchorer``), every ``audit_anchor_seconds`` and only when rows were added
since the last anchor: committed inbox rows are chained first (``service.audit.sequence``), so
the anchor covers every action committed before it; then one transaction, under the head's
lock, chains any that arrived meanwhile, appends an ``audit.anchor`` row to the log directly and
writes the anchor as ``prepared`` (its seq is that row's, its hash that row's hash); then the
root is sent; then the anchor is stored as ``anchored`` with its transaction and block. After a
crash the prepared anchor is finished first, and the chain is asked (``anchorOf``) whether the
root is there rather than guessing; ``RootAlreadyAnchored`` means it is. Because each anchor is
itself a row of the log, an anchor record deleted from ``audit_anchors`` is noticed, and its
root is still found on chain from the row alone.

**Checking** (``verify_audit``, ``suixin audit verify``) chains the committed inbox rows
first, so it checks everything committed so far; then every row's hash and link (see
``service.audit.check_log``), the head, and every anchor: the row at its seq must still have
the anchored hash, the log must still reach it (else the tail was truncated), and the chain
must hold the root, anchored by an authority of this office.

**What it cannot prove.** Rows after the newest anchored head are protected only by the hash
chain: someone with write access to the database can rewrite them (or cut them off) and
recompute every hash after them and the head, and nothing in the database or on chain shows
it until the next anchor. Deleting the tail *together with* the anchor records that cover it
leaves a shorter log that checks out against the remaining records; the roots stay on chain
(``RootAnchored`` of the office's account, ``leafCount`` = the anchored seq), so compare the
reported last anchored head with the chain's. A row still in the inbox (between its commit and
the next worker pass, about ``SUIXIN_WORKER_POLL_SECONDS``) is in no chain yet: someone with
write access to the database can change or delete it in that window without a trace. And an
action done with raw SQL, bypassing the office, leaves no row at all.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Iterable, Sequence
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime

from sqlalchemy import (
    DateTime,
    ForeignKey,
    Integer,
    LargeBinary,
    String,
    func,
    select,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Mapped, Session, mapped_column

from service.audit import (
    ANCHOR_ACTION,
    SEQUENCE_BATCH,
    AuditChainBroken,
    Finding,
    LogCheck,
    anchor_leaf_count,
    anchor_root,
    check_log,
    lock_head,
    pending_count,
    sequence,
)
from service.office import Office
from service.storage.db import Database
from service.storage.models import AuditEntry, Authority, Base, IssuerKey
from verifier.chain import Chain, EventDecoder
from verifier.contracts import load_artifact
from verifier.deployment import Deployment
from verifier.errors import ChainError, ContractReverted

__all__ = [
    "PAUSE_ENV",
    "AnchoredHead",
    "AuditAnchor",
    "AuditReport",
    "HeadAnchorer",
    "anchoring_authorities",
    "verify_audit",
]

PAUSE_ENV = "SUIXIN_AUDIT_PAUSE_AT"  # crash tests: prepared | sent (the process then waits)
PREPARED, ANCHORED = "prepared", "anchored"
_REFUSED_ACCOUNT = ("NotAnAuthority", "AuthorityNotActive")


class AuditAnchor(Base):
    """An anchor of the audit head: the row it covers, the root sent, where it landed."""

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


@dataclass(frozen=True)
class AnchoredHead:
    """An audit head that is on chain: its seq and hash, block, block time, transaction."""

    seq: int
    head_hash: bytes
    block_number: int
    block_time: int
    tx_hash: str

    def when(self) -> str:
        """The block time, ISO 8601 UTC."""
        return datetime.fromtimestamp(self.block_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def anchoring_authorities(session: Session) -> list[int]:
    """Ids of the authorities whose accounts may anchor the audit head, in the order they are
    tried: every authority with an active issuer key, lowest id first."""
    active = select(IssuerKey.authority_id).where(IssuerKey.active.is_(True))
    return list(
        session.scalars(select(Authority.id).where(Authority.id.in_(active)).order_by(Authority.id))
    )


class _ChainReads:
    """The AnchorRegistry and TrustRegistry reads that anchoring and checking share."""

    def __init__(self, chain: Chain, deployment: Deployment) -> None:
        self.chain = chain
        self.deployment = deployment
        self.anchors = load_artifact("AnchorRegistry").abi
        self.trust = load_artifact("TrustRegistry").abi
        self._events = EventDecoder(self.anchors)
        self._dids: dict[int, str] = {}

    def anchor_of(self, root: bytes) -> tuple[int, int, int, int] | None:
        """(chain authority id, leaf count, anchored at, block number), or None."""
        registry = self.deployment.anchor_registry
        found = self.chain.call(registry, self.anchors, "anchorOf", [root])
        if int(found[2]) == 0:
            return None
        return int(found[0]), int(found[1]), int(found[2]), int(found[3])

    def located(self, root: bytes) -> tuple[int, str] | None:
        """(block number, transaction hash) of the root's anchor, if it is on chain."""
        found = self.anchor_of(root)
        if found is None:
            return None
        block = found[3]
        for log in self.chain.get_logs([self.deployment.anchor_registry], block, block):
            entry = self._events.decode(log)
            if entry and entry.event == "RootAnchored" and bytes(entry.args["root"]) == root:
                return block, entry.tx_hash
        raise ChainError(
            f"root 0x{root.hex()} is anchored in block {block} but its event is missing"
        )

    def did_of(self, chain_authority_id: int) -> str:
        """The DID of an authority by its TrustRegistry id (cached)."""
        if chain_authority_id not in self._dids:
            registry = self.deployment.trust_registry
            found = self.chain.call(registry, self.trust, "authorityById", [chain_authority_id])
            self._dids[chain_authority_id] = str(found[5])
        return self._dids[chain_authority_id]


# ---------------------------------------------------------------------- anchoring


class HeadAnchorer:
    """Anchors the audit head on chain; ``tick`` from a loop, ``anchor`` to do it now.

    ``actor`` is who the ``audit.anchor`` rows name (``worker`` in the worker, ``cli`` for
    ``suixin audit anchor``). On PostgreSQL the anchoring authority's row is locked while its
    account sends (``FOR NO KEY UPDATE``, the lock the anchoring worker takes), so one process
    at a time sends from that account: an anchorer waits for another process's batch to go
    out. Two anchorers never prepare the same head (``prepare`` runs under the head's lock); if
    both finish the same prepared anchor, the second meets ``RootAlreadyAnchored``.
    """

    def __init__(
        self,
        office: Office,
        *,
        interval_seconds: float = 60.0,
        actor: str = "worker",
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.office = office
        self.interval_seconds = interval_seconds
        self.actor = actor
        self._log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self._clock = clock
        self._due = clock() + interval_seconds  # the first anchor one interval after start
        self._reads = _ChainReads(office.chain, office.deployment)
        self._pause_at = os.environ.get(PAUSE_ENV, "")

    def tick(self) -> AnchoredHead | None:
        """Anchor if the interval has passed (and rows were added); chain and database
        failures are logged, not raised: the next tick tries again."""
        now = self._clock()
        if now < self._due:
            return None
        self._due = now + self.interval_seconds
        try:
            return self.anchor()
        except ChainError as e:
            self._log(f"audit head not anchored, the chain refused or is unavailable: {e}")
        except OperationalError as e:
            self._log(f"audit head not anchored, the database is unavailable: {e.orig}")
        except AuditChainBroken as e:
            self._log(f"audit head not anchored: {e.diagnostics()}")
        return None

    def anchor(self) -> AnchoredHead | None:
        """Chain the committed inbox rows, finish any prepared anchor, then anchor the head if
        rows were added since the last anchor; returns the newest head anchored by this call
        (None if there was nothing to do, or no active authority). Raises ChainError, and
        AuditChainBroken when the log holds a row beyond its head (nothing is anchored then)."""
        db = self.office.db
        sequence(db)
        with db.session() as s:
            candidates = anchoring_authorities(s)
        if not candidates:
            return None
        with db.session() as lock:
            locked = lock.scalar(
                select(Authority.id)
                .where(Authority.id == candidates[0])
                # NO KEY UPDATE: the anchor rows written meanwhile reference the authority
                .with_for_update(key_share=True)
            )
            if locked is None:
                return None
            done = None
            for anchor_id in self.unfinished():
                done = self._finish(anchor_id, candidates)
            prepared = self.prepare(candidates[0])
            if prepared is not None:
                done = self._finish(prepared, candidates)
            return done

    def unfinished(self) -> list[int]:
        """Ids of anchors prepared but not yet stored as anchored, oldest first."""
        with self.office.db.session() as s:
            return list(
                s.scalars(
                    select(AuditAnchor.id)
                    .where(AuditAnchor.state == PREPARED)
                    .order_by(AuditAnchor.seq)
                )
            )

    def prepare(self, authority_id: int) -> int | None:
        """Under the head's lock, in one transaction: chain up to ``SEQUENCE_BATCH`` committed
        inbox rows, then, if rows were added since the last anchor, append the ``audit.anchor``
        row directly and write its anchor as prepared; returns the anchor's id or None."""
        db = self.office.db
        with db.write_session() as s:
            head = lock_head(s)  # FOR UPDATE on PostgreSQL; SQLite: the write session's lock
            head.move_pending(SEQUENCE_BATCH)
            last = s.scalar(select(func.max(AuditAnchor.seq)))
            if head.seq == 0 or (last is not None and head.seq <= last):
                return None
            entry = head.append(actor=self.actor, action=ANCHOR_ACTION, authority_id=authority_id)
            anchor = AuditAnchor(
                seq=entry.seq,
                head_hash=entry.row_hash,
                root=anchor_root(entry.seq, entry.row_hash),
                leaf_count=anchor_leaf_count(entry.seq),
                state=PREPARED,
                authority_id=authority_id,
                created_at=datetime.now(UTC),
            )
            s.add(anchor)
            s.flush()
            anchor_id = anchor.id
        self._log(f"audit head {entry.seq} prepared as anchor {anchor_id}")
        self._pause("prepared")
        return anchor_id

    def _finish(self, anchor_id: int, candidates: Sequence[int]) -> AnchoredHead:
        office = self.office
        with office.db.session() as s:
            anchor = s.get(AuditAnchor, anchor_id)
            assert anchor is not None
            root, leaf_count, used = bytes(anchor.root), anchor.leaf_count, anchor.authority_id
        found = self._reads.located(root)
        if found is None:
            order = [used, *(c for c in candidates if c != used)]
            for i, authority_id in enumerate(order):
                try:
                    receipt = office.chain.transact(
                        office.deployment.anchor_registry,
                        self._reads.anchors,
                        "anchor",
                        [root, leaf_count],
                        office.account(authority_id),
                    )
                except ContractReverted as e:
                    if e.name == "RootAlreadyAnchored":  # sent before a crash, or by another
                        found = self._reads.located(root)
                        if found is None:
                            raise ChainError(
                                f"audit root 0x{root.hex()} reported anchored but not found"
                            ) from e
                        break
                    if e.name in _REFUSED_ACCOUNT and i + 1 < len(order):
                        self._log(f"audit head: authority {authority_id} cannot anchor ({e})")
                        continue
                    raise
                found, used = (receipt.block_number, receipt.tx_hash), authority_id
                break
        assert found is not None
        self._pause("sent")
        return self._store(anchor_id, found[0], found[1], used)

    def _store(self, anchor_id: int, block_number: int, tx_hash: str, used: int) -> AnchoredHead:
        block_time = self.office.chain.block_time(block_number)
        with self.office.db.write_session() as s:
            anchor = s.get(AuditAnchor, anchor_id)
            assert anchor is not None
            anchor.state = ANCHORED
            anchor.tx_hash = tx_hash
            anchor.block_number = block_number
            anchor.block_time = block_time
            anchor.authority_id = used
            anchor.anchored_at = datetime.now(UTC)
            head = AnchoredHead(
                anchor.seq, bytes(anchor.head_hash), block_number, block_time, tx_hash
            )
        self._log(f"audit head {head.seq} anchored in block {block_number} ({tx_hash})")
        return head

    def _pause(self, phase: str) -> None:
        if self._pause_at == phase:
            self._log(f"PAUSED at {phase}")
            while True:  # the crash test kills the process here
                time.sleep(3600)


# ---------------------------------------------------------------------- checking


_LIMITS = (
    (
        "最近一次上链锚定之后的行只受哈希链保护：有数据库写权限者可一致地改写或截断这些行"
        "（重算其后全部哈希与日志头），在下次锚定前无从发现。",
        "Rows after the last anchored head are protected only by the hash chain: someone with "
        "write access to the database can rewrite or cut them off consistently (recomputing "
        "every hash after them and the head), undetectable until the next anchor.",
    ),
    (
        "若尾部行连同覆盖它们的锚定记录一起被删除，较短的日志仍能通过核验；链上的锚定仍在"
        "（本办公室账户的 RootAnchored 事件，leafCount 即所锚定的序号），"
        "请与上面报告的最近锚定相比对。",
        "If the tail is deleted together with the anchor records covering it, the shorter log "
        "still checks out; the anchors remain on chain (RootAnchored events of the office's "
        "account, leafCount = the anchored seq): compare them with the last anchored head above.",
    ),
    (
        "已提交但尚未入链的行（在审计收件箱中，从提交到工作进程下一次处理，约一个轮询间隔）"
        "不在任何哈希链中：有数据库写权限者可在此窗口内修改或删除它们而不留痕迹。"
        "核验前会先将收件箱中已提交的行入链。",
        "Rows committed but not chained yet (in the audit inbox, from their commit until the "
        "worker's next pass, about one poll interval) are in no hash chain: someone with write "
        "access to the database can change or delete them in that window without a trace. "
        "Verification chains the committed inbox rows first.",
    ),
    (
        "绕过办公室、直接以 SQL 完成的操作根本不会留下审计行。",
        "An action done with raw SQL, bypassing the office, leaves no audit row at all.",
    ),
)


@dataclass
class AuditReport:
    """The result of ``verify_audit``: intact or not, the first bad row, what is anchored."""

    rows: int  # rows in the table
    head_seq: int
    verified_rows: int  # rows that check out before the first problem of the walk
    findings: list[Finding]  # sorted by the row they concern; empty when intact
    anchored: list[AnchoredHead]  # anchors confirmed (on chain, or recorded when unchecked)
    prepared: int  # anchors prepared but not (yet) on chain
    chain_checked: bool
    inbox_rows: int = 0  # rows committed after sequencing, still waiting in the inbox
    limits: tuple[tuple[str, str], ...] = field(default=_LIMITS)

    @property
    def intact(self) -> bool:
        """No edit, deletion, insertion or truncation was found."""
        return not self.findings

    @property
    def first(self) -> Finding | None:
        """The first bad row."""
        return self.findings[0] if self.findings else None

    @property
    def last_anchored(self) -> AnchoredHead | None:
        """The newest anchored head."""
        return self.anchored[-1] if self.anchored else None

    @property
    def unanchored_rows(self) -> int:
        """Rows after the last anchored head (protected by the hash chain alone)."""
        last = self.last_anchored
        return max(0, self.head_seq - (last.seq if last else 0))

    def to_json(self) -> dict[str, object]:
        """The report as JSON (hashes in hex)."""
        last = self.last_anchored
        return {
            "intact": self.intact,
            "rows": self.rows,
            "headSeq": self.head_seq,
            "firstBadRow": self.first.as_dict() if self.first else None,
            "findings": [f.as_dict() for f in self.findings],
            "lastAnchored": None
            if last is None
            else {
                "seq": last.seq,
                "hash": last.head_hash.hex(),
                "blockNumber": last.block_number,
                "blockTime": last.when(),
                "txHash": last.tx_hash,
            },
            "anchors": len(self.anchored),
            "preparedAnchors": self.prepared,
            "unanchoredRows": self.unanchored_rows,
            "chainChecked": self.chain_checked,
            "inboxRows": self.inbox_rows,
            "cannotProve": [{"zh": zh, "en": en} for zh, en in self.limits],
        }


@dataclass
class _Snapshot:
    """What ``verify_audit`` reads from the database, in one consistent snapshot."""

    walk: LogCheck
    head_seq: int
    rows: int
    max_seq: int
    anchors: list[AuditAnchor]
    markers: list[int]
    hashes: dict[int, bytes]
    dids: set[str]
    inbox_rows: int


def _hashes_at(session: Session, seqs: Iterable[int]) -> dict[int, bytes]:
    wanted = sorted(set(seqs))
    found: dict[int, bytes] = {}
    for i in range(0, len(wanted), 500):
        chunk = wanted[i : i + 500]
        rows = session.execute(
            select(AuditEntry.seq, AuditEntry.row_hash).where(AuditEntry.seq.in_(chunk))
        )
        found.update({int(seq): bytes(h) for seq, h in rows})
    return found


def _snapshot(db: Database) -> _Snapshot:
    with db.session() as s:
        if db.is_postgres:  # head, rows and anchors from one snapshot while appends go on
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        walk, head_seq = check_log(s)
        rows = int(s.scalar(select(func.count()).select_from(AuditEntry)) or 0)
        max_seq = int(s.scalar(select(func.max(AuditEntry.seq))) or 0)
        anchors = list(s.scalars(select(AuditAnchor).order_by(AuditAnchor.seq)))
        markers = list(s.scalars(select(AuditEntry.seq).where(AuditEntry.action == ANCHOR_ACTION)))
        hashes = _hashes_at(s, [a.seq for a in anchors] + markers)
        dids = set(s.scalars(select(Authority.did)))
        inbox_rows = pending_count(s)
    return _Snapshot(walk, head_seq, rows, max_seq, anchors, markers, hashes, dids, inbox_rows)


def verify_audit(
    db: Database,
    chain: Chain | None = None,
    deployment: Deployment | None = None,
    *,
    sequence_first: bool = True,
) -> AuditReport:
    """Check the whole audit trail: every row (``check_log``), then every anchor against its row
    and, given ``chain`` and ``deployment``, against the chain (without them, the anchor
    records are taken at their word). With ``sequence_first`` (the default) the committed inbox
    rows are chained first, so everything committed so far is checked; that is the one write
    it makes (rows committed after it are counted in ``inbox_rows``). Raises ChainUnavailable
    when the chain cannot be reached (never reported as tampering), ChainError for other chain
    faults.
    """
    if sequence_first:
        # a row beyond the head blocks chaining: the walk names it, the rows stay in the inbox
        with suppress(AuditChainBroken):
            sequence(db)
    snap = _snapshot(db)
    reads = _ChainReads(chain, deployment) if chain is not None and deployment else None
    findings: list[Finding] = [snap.walk.finding] if snap.walk.finding else []
    anchored: list[AnchoredHead] = []
    prepared = 0
    good_before = 0  # the newest anchored seq whose row still has the anchored hash
    recorded = {a.seq for a in snap.anchors}

    def on_chain(seq: int, root: bytes, leaf_count: int) -> tuple[int, int] | Finding | None:
        """(block number, block time) if the chain holds ``root`` for this office, a finding
        if it holds it otherwise, None if it does not hold it."""
        assert reads is not None
        found = reads.anchor_of(root)
        if found is None:
            return None
        chain_authority, chain_leaves, anchored_at, block = found
        did = reads.did_of(chain_authority)
        if did not in snap.dids or chain_leaves != leaf_count:
            return Finding(
                "anchor_foreign",
                seq,
                f"第 {seq} 行的锚定根在链上由非本办公室的签发机关（{did}）锚定",
                f"the root anchoring row {seq} is on chain, but anchored by {did}, not by an "
                "authority of this office",
            )
        return block, anchored_at

    for a in snap.anchors:
        seq, head_hash, root = a.seq, bytes(a.head_hash), bytes(a.root)
        if root != anchor_root(seq, head_hash) or a.leaf_count != anchor_leaf_count(seq):
            findings.append(
                Finding(
                    "anchor_record_edited",
                    seq,
                    f"第 {seq} 行的锚定记录被篡改：根与序号和哈希不符",
                    f"the anchor record of row {seq} was edited: its root does not derive "
                    "from its seq and hash",
                )
            )
            continue
        held: tuple[int, int] | Finding | None = None
        if reads is not None:
            held = on_chain(seq, root, a.leaf_count)
            if isinstance(held, Finding):
                findings.append(held)
                continue
            if held is None:
                if a.state == ANCHORED:
                    findings.append(
                        Finding(
                            "anchor_not_on_chain",
                            seq,
                            f"第 {seq} 行的锚定记录称已上链，但链上没有该根",
                            f"the anchor record of row {seq} says anchored, but the chain "
                            "does not hold its root",
                        )
                    )
                else:
                    prepared += 1  # prepared, not sent yet: nothing to check
                continue
            if a.state == ANCHORED and a.block_number != held[0]:
                findings.append(
                    Finding(
                        "anchor_record_edited",
                        seq,
                        f"第 {seq} 行的锚定记录被篡改：区块号与链上不符",
                        f"the anchor record of row {seq} was edited: its block number differs "
                        "from the chain's",
                    )
                )
                continue
        elif a.state != ANCHORED:
            prepared += 1
            continue
        # the chain holds this head (or, unchecked, the office says so): does the log?
        row = snap.hashes.get(seq)
        if row is None:
            if seq > snap.max_seq:
                findings.append(
                    Finding(
                        "tail_truncated",
                        snap.max_seq + 1,
                        f"日志尾部被截断：第 {seq} 行已上链锚定，但日志止于第 {snap.max_seq} 行",
                        f"the tail of the log was cut off: row {seq} is anchored on chain but "
                        f"the log ends at row {snap.max_seq}",
                    )
                )
            # a row missing in the middle is a gap, which the walk names
        elif row != head_hash:
            findings.append(
                Finding(
                    "anchor_mismatch",
                    good_before + 1,
                    f"第 {good_before + 1}–{seq} 行中有行被改写：第 {seq} 行的哈希与链上锚定的不符"
                    f"（第 {good_before} 行及之前已证明未变）",
                    f"rows {good_before + 1}–{seq} were rewritten: row {seq}'s hash differs "
                    f"from the one anchored on chain (rows up to {good_before} are proven "
                    "unchanged)",
                )
            )
        else:
            good_before = seq
        block, block_time = (
            held if isinstance(held, tuple) else (a.block_number or 0, a.block_time or 0)
        )
        anchored.append(AnchoredHead(seq, head_hash, block, block_time, a.tx_hash or ""))

    for seq in snap.markers:  # each audit.anchor row was written with its anchor record
        if seq in recorded:
            continue
        findings.append(
            Finding(
                "anchor_record_missing",
                seq,
                f"第 {seq} 行（锚定行）的锚定记录被删除",
                f"the anchor record of row {seq} (an audit.anchor row) was deleted",
            )
        )
        row_hash_at = snap.hashes.get(seq)
        if reads is not None and row_hash_at is not None:
            root = anchor_root(seq, row_hash_at)
            held = on_chain(seq, root, anchor_leaf_count(seq))
            if isinstance(held, tuple):  # the evidence survives on chain
                located = reads.located(root)
                tx = located[1] if located else ""
                anchored.append(AnchoredHead(seq, row_hash_at, held[0], held[1], tx))
    anchored.sort(key=lambda h: h.seq)
    findings.sort(key=lambda f: f.seq)
    return AuditReport(
        rows=snap.rows,
        head_seq=snap.head_seq,
        verified_rows=snap.walk.verified_rows,
        findings=findings,
        anchored=anchored,
        prepared=prepared,
        chain_checked=reads is not None,
        inbox_rows=snap.inbox_rows,
    )
