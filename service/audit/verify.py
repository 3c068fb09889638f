"""Checking the audit trail against its anchors: every row, every anchor, the chain.

**Checking** (``verify_audit``, ``suixin audit verify``) chains the committed inbox rows
first, so it checks everything committed so far; then every row's hash and link (see
``service.audit.trail.check_log``), the head, and every anchor: the row at its seq must still have
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

from collections.abc import Iterable
from contextlib import suppress
from dataclasses import dataclass, field

from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.orm import Session

from service.audit.anchor import ANCHORED, AnchoredHead, AuditChainReads
from service.audit.trail import (
    ANCHOR_ACTION,
    AuditChainBroken,
    Finding,
    LogCheck,
    anchor_leaf_count,
    anchor_root,
    check_log,
    pending_count,
    sequence,
)
from service.storage.db import Database
from service.storage.models import AuditAnchor, AuditEntry, Authority
from verifier.chain import Chain
from verifier.deployment import Deployment

__all__ = ["AuditReport", "verify_audit"]


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
    reads = AuditChainReads(chain, deployment) if chain is not None and deployment else None
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
