"""The audit trail: every state-changing action appends one row to a hash chain.

Row ``n`` holds who (an actor: ``apikey:<id>``, ``cli``, ``worker``), what (an action name),
which authority and credential, when, a few details (never a citizen ID number or a key), the
hash of row ``n-1`` and its own hash: SHA-256 over the JCS form of all of those. Editing,
deleting or inserting a row breaks the chain at that row. ``audit_head`` (one row) holds the
newest sequence number and hash.

**Recording and sequencing are two steps.** ``record`` only INSERTs one row into
``audit_inbox`` in the caller's transaction: it commits or rolls back with the action it
records, and takes no lock, so concurrent actions (threads, API processes) never wait for each
other here. ``sequence`` (the worker on every pass, ``suixin audit verify``, ``show`` and
``anchor`` before they read or anchor) moves committed inbox rows into ``audit_log`` in
inbox-id order under the ``audit_head`` row lock (``SELECT … FOR UPDATE`` on PostgreSQL, the
write lock on SQLite), giving them their seq, previous hash and hash, and deletes them from the
inbox in the same transaction, a batch at a time. Sequencers in several processes therefore
take turns and never fork or repeat the chain. PostgreSQL hands out inbox ids at insert, not at
commit: a row with a lower id that commits after a higher one was chained is simply chained
later (the chain's order is the order rows were sequenced, its ``at`` the action's time).

``check_log`` walks the chain and names the first row that was edited, deleted or inserted;
``service.audit.anchor`` anchors the head on chain and checks the log against those anchors.
A hash chain alone proves only that rows were not changed *by someone who did not recompute the
hashes after them*: whoever can write the database can rewrite the tail consistently. The
anchors on chain close that gap up to the newest anchored head, and no further. And a row still
in the inbox (from its commit until the next sequencing, about one worker poll interval) is in
no chain at all: someone with write access to the database can change or delete it then, and
nothing will show it.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, NamedTuple, Protocol
from typing import cast as cast_type

from sqlalchemy import Table, Text, cast, delete, func, insert, or_, select, text
from sqlalchemy.orm import Session

from service.storage.db import Database
from service.storage.models import AuditEntry, AuditInboxEntry
from verifier.errors import SuixinError
from verifier.jcs import canonicalize

__all__ = [
    "ANCHOR_ACTION",
    "ANCHOR_DOMAIN",
    "GENESIS",
    "SEQUENCE_BATCH",
    "AuditChainBroken",
    "AuditRecord",
    "Finding",
    "LockedHead",
    "LogCheck",
    "anchor_leaf_count",
    "anchor_root",
    "audit_entry",
    "audit_rows",
    "check_chain",
    "check_log",
    "lock_head",
    "pending_count",
    "pending_rows",
    "record",
    "record_entries",
    "recorded",
    "row_hash",
    "sequence",
    "summarise_details",
]

GENESIS = bytes(32)  # the "previous hash" of the first row
ANCHOR_DOMAIN = b"suixin-audit/1"  # prefix of an anchored audit root (see ``anchor_root``)
ANCHOR_ACTION = "audit.anchor"  # the row the head anchorer appends and anchors
SEQUENCE_BATCH = 1000  # inbox rows chained per transaction
_UINT32_MAX = 2**32 - 1


class AuditChainBroken(SuixinError):
    """Rows cannot be chained because the log was changed under the head: it holds a row
    beyond ``audit_head`` (code ``audit_rows_beyond_head``), or inbox rows vanished while being
    chained (``audit_inbox_changed``). Nothing was chained; the rows stay in the inbox, and
    ``suixin audit verify`` names the row."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        super().__init__(f"{zh} / {en}")
        self.code, self.zh, self.en = code, zh, en

    def diagnostics(self) -> str:
        """The reason in 中文 and English, with its code."""
        return f"[{self.code}] {self.zh} / {self.en}"


@dataclass(frozen=True)
class AuditRecord:
    """An appended row's sequence number and hash."""

    seq: int
    row_hash: bytes


def _timestamp(at: datetime) -> str:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # SQLite reads back naive
    return aware.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


_LOG = cast_type(Table, AuditEntry.__table__)
_INBOX = cast_type(Table, AuditInboxEntry.__table__)
_INSERT_ROW = insert(_LOG)
_INSERT_PENDING = insert(_INBOX)
_SET_HEAD = text("UPDATE audit_head SET seq = :seq, hash = :h WHERE id = 1")


def row_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    authority_id: int | None,
    credential_id: str | None,
    details: Mapping[str, Any],
    prev_hash: bytes,
) -> bytes:
    """The hash of one row: SHA-256 of the JCS form of its fields and the previous hash."""
    body = {
        "seq": seq,
        "at": _timestamp(at),
        "actor": actor,
        "action": action,
        "authorityId": authority_id,
        "credentialId": credential_id,
        "details": dict(details),
        "prev": prev_hash.hex(),
    }
    return hashlib.sha256(canonicalize(body)).digest()


def _utc(at: datetime | None) -> datetime:
    """``at`` (now when None) in UTC: SQLite keeps no offset, so a local time would shift."""
    if at is None:
        return datetime.now(UTC)
    return at.replace(tzinfo=UTC) if at.tzinfo is None else at.astimezone(UTC)


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    authority_id: int | None = None,
    credential_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> None:
    """Record an action in ``session``'s transaction: one row INSERTed into ``audit_inbox``.
    It commits or rolls back with the action; ``sequence`` chains it after it committed.

    No lock is taken (the head is not touched), so concurrent actions do not wait for each
    other here. On SQLite the session should already hold the write lock
    (``Database.write_session`` or an earlier write in the same transaction), as for any
    write after a read. The caller's pending ORM objects are flushed first."""
    record_entries(
        session,
        [
            audit_entry(
                actor=actor,
                action=action,
                authority_id=authority_id,
                credential_id=credential_id,
                details=details,
                at=at,
            )
        ],
    )


def audit_entry(
    *,
    actor: str,
    action: str,
    authority_id: int | None = None,
    credential_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> dict[str, Any]:
    """The inbox row ``record`` would insert (``at``: now when None), for ``record_entries``:
    an action made ready outside the transaction that records it."""
    return {
        "at": _utc(at),
        "actor": actor,
        "action": action,
        "authority_id": authority_id,
        "credential_id": credential_id,
        "details": dict(details or {}),
    }


def record_entries(session: Session, entries: Sequence[Mapping[str, Any]]) -> None:
    """Record ``audit_entry`` rows in ``session``'s transaction, in order (one INSERT, many
    parameter sets), as ``record`` records one."""
    if not entries:
        return
    session.flush()
    session.connection().execute(
        _INSERT_PENDING, [dict(e) for e in entries] if len(entries) > 1 else dict(entries[0])
    )


# ---------------------------------------------------------------------- sequencing


class _Fields(NamedTuple):
    """The fields of a row before it is chained (an inbox row has them too)."""

    at: datetime
    actor: str
    action: str
    authority_id: int | None
    credential_id: str | None
    details: dict[str, Any]


class LockedHead:
    """The ``audit_head`` row, locked until the session's transaction ends: rows appended
    through it follow one another from the head, and the head row is moved with them.

    Take it with ``lock_head`` inside ``Database.write_session`` (on SQLite that session's
    write lock is the lock; on PostgreSQL it is ``SELECT … FOR UPDATE`` on the head row).
    """

    def __init__(self, session: Session) -> None:
        self._connection = session.connection()
        lock = " FOR UPDATE" if self._connection.dialect.name == "postgresql" else ""
        seq, head = self._connection.execute(
            text(f"SELECT seq, hash FROM audit_head WHERE id = 1{lock}")
        ).one()
        self.seq = int(seq)
        self.hash = bytes(head)

    def _chain(self, rows: Sequence[Any]) -> list[dict[str, Any]]:
        """``rows`` (with the inbox's columns) as ``audit_log`` rows after the head. Raises
        AuditChainBroken if the log already holds a row beyond the head."""
        beyond = self._connection.execute(select(func.max(_LOG.c.seq))).scalar()
        if beyond is not None and beyond > self.seq:
            raise AuditChainBroken(
                "audit_rows_beyond_head",
                f"审计日志中有第 {beyond} 行，超出日志头（第 {self.seq} 行）：日志被改动过，"
                "无法继续入链；请运行 suixin audit verify",
                f"the audit log holds row {beyond}, beyond its head (row {self.seq}): it was "
                "changed, so no row can be chained after it; run `suixin audit verify`",
            )
        entries = []
        seq, prev = self.seq, self.hash
        for r in rows:
            seq += 1
            details = dict(r.details)
            digest = row_hash(
                seq, r.at, r.actor, r.action, r.authority_id, r.credential_id, details, prev
            )
            entries.append(
                {
                    "seq": seq,
                    "at": r.at,
                    "actor": r.actor,
                    "action": r.action,
                    "authority_id": r.authority_id,
                    "credential_id": r.credential_id,
                    "details": details,
                    "prev_hash": prev,
                    "row_hash": digest,
                }
            )
            prev = digest
        self._connection.execute(_INSERT_ROW, entries)
        self._connection.execute(_SET_HEAD, {"seq": seq, "h": prev})
        self.seq, self.hash = seq, prev
        return entries

    def move_pending(self, limit: int = SEQUENCE_BATCH) -> int:
        """Chain up to ``limit`` committed inbox rows, lowest id first, and delete them from
        the inbox; returns how many. Raises AuditChainBroken (the transaction must then roll
        back) if the log holds a row beyond the head, or if a row vanished from the inbox
        meanwhile, which only a write bypassing the head lock can cause."""
        rows = self._connection.execute(
            select(
                _INBOX.c.id,
                _INBOX.c.at,
                _INBOX.c.actor,
                _INBOX.c.action,
                _INBOX.c.authority_id,
                _INBOX.c.credential_id,
                _INBOX.c.details,
            )
            .order_by(_INBOX.c.id)
            .limit(limit)
        ).all()
        if not rows:
            return 0
        self._chain(rows)
        ids = [r.id for r in rows]
        deleted = 0
        for i in range(0, len(ids), 500):
            chunk = ids[i : i + 500]
            deleted += self._connection.execute(
                delete(_INBOX).where(_INBOX.c.id.in_(chunk))
            ).rowcount
        if deleted != len(ids):
            raise AuditChainBroken(
                "audit_inbox_changed",
                f"审计收件箱在入链时被改动（应删 {len(ids)} 行，实删 {deleted} 行）",
                f"the audit inbox changed while it was being chained ({deleted} of {len(ids)} "
                "rows deleted)",
            )
        return len(rows)

    def append(
        self,
        *,
        actor: str,
        action: str,
        authority_id: int | None = None,
        credential_id: str | None = None,
        details: Mapping[str, Any] | None = None,
        at: datetime | None = None,
    ) -> AuditRecord:
        """Chain one row now, right after the head (no inbox): for a row whose seq and hash
        the caller needs at once, such as the head anchorer's ``audit.anchor`` row."""
        row = _Fields(_utc(at), actor, action, authority_id, credential_id, dict(details or {}))
        [entry] = self._chain([row])
        return AuditRecord(entry["seq"], entry["row_hash"])


def lock_head(session: Session) -> LockedHead:
    """Lock the audit head in ``session``'s transaction (see ``LockedHead``)."""
    return LockedHead(session)


def sequence(
    db: Database,
    *,
    limit: int | None = None,
    batch_size: int = SEQUENCE_BATCH,
    between: Callable[[], None] | None = None,
) -> int:
    """Chain the committed inbox rows (at most ``limit``; all when None), ``batch_size`` per
    transaction, in inbox-id order; returns how many rows were chained.

    Cheap when the inbox is empty: one unlocked read, no transaction that writes. Each batch
    is one write transaction holding the head's lock, so any number of sequencers, in threads
    or processes, take turns; a crash rolls its batch back and the rows stay in the inbox.
    Rows committed while it runs are chained too; it stops at the first batch that is not
    full. ``between`` runs after each batch that is followed by another (the worker rests
    there, so writers queued behind it go first). Raises ValueError for a ``limit`` or
    ``batch_size`` below 1, AuditChainBroken when the log was changed so that no row can be
    chained (its batch rolled back).
    """
    if batch_size < 1 or (limit is not None and limit < 1):
        raise ValueError("limit and batch_size must be at least 1")
    with db.session() as s:
        if s.scalar(select(_INBOX.c.id).limit(1)) is None:
            return 0
    moved = 0
    while limit is None or moved < limit:
        size = batch_size if limit is None else min(batch_size, limit - moved)
        with db.write_session() as s:
            n = lock_head(s).move_pending(size)
        moved += n
        if n < size or (limit is not None and moved >= limit):
            break
        if between is not None:
            between()
    return moved


# ---------------------------------------------------------------------- anchoring the head


def anchor_root(seq: int, head_hash: bytes) -> bytes:
    """The root that anchors the audit head (``seq``, ``head_hash``) on chain.

    SHA-256 over ``b"suixin-audit/1"`` ‖ ``seq`` (8 bytes, big-endian) ‖ the row hash: 54 bytes
    starting with ``s`` (0x73). Credential batch roots are Merkle nodes over inputs that start
    with 0x00 (a leaf, 33 bytes) or 0x01 (a node, 65 bytes), so an audit root can never be
    taken for a batch root or the other way round. It reveals nothing but a hash.
    """
    if seq < 1 or len(head_hash) != 32:
        raise ValueError("an audit head has a sequence number >= 1 and a 32-byte hash")
    return hashlib.sha256(ANCHOR_DOMAIN + seq.to_bytes(8, "big") + head_hash).digest()


def anchor_leaf_count(seq: int) -> int:
    """The ``leafCount`` sent with an audit root: the head's sequence number, clipped to the
    contract's uint32 (it is informative only; the root binds the exact number)."""
    return max(1, min(seq, _UINT32_MAX))


# ---------------------------------------------------------------------- checking the chain


@dataclass(frozen=True)
class Finding:
    """One way the audit trail was tampered with: a stable code, the first row concerned (the
    first one that is wrong, missing or no longer provably original), and the reason in 中文
    and English."""

    code: str
    seq: int
    zh: str
    en: str

    def as_dict(self) -> dict[str, Any]:
        """The finding as JSON."""
        return {"code": self.code, "seq": self.seq, "zh": self.zh, "en": self.en}


class _Row(Protocol):
    """The columns of an audit row that ``check_log`` reads."""

    seq: int
    at: datetime
    actor: str
    action: str
    authority_id: int | None
    credential_id: str | None
    details: dict[str, Any]
    prev_hash: bytes
    row_hash: bytes


@dataclass(frozen=True)
class LogCheck:
    """What walking the log found: the rows that check out before the first problem, the last
    of them, and the problem (None when the whole log and its head agree)."""

    verified_rows: int
    last_seq: int
    finding: Finding | None


_SHIFT_SEARCH = 64  # how far a renumbered row's original sequence number is looked for


def _hash_at(row: _Row, seq: int) -> bytes:
    return row_hash(
        seq,
        row.at,
        row.actor,
        row.action,
        row.authority_id,
        row.credential_id,
        row.details,
        bytes(row.prev_hash),
    )


def _original_seq(row: _Row) -> int | None:
    """The sequence number a renumbered row was written with (its content still hashes to its
    stored hash there), searched up to ``_SHIFT_SEARCH`` either way; None if there is none."""
    stored = bytes(row.row_hash)
    for k in range(1, _SHIFT_SEARCH + 1):
        for seq in (row.seq - k, row.seq + k):
            if seq >= 1 and _hash_at(row, seq) == stored:
                return seq
    return None


def _edited(seq: int) -> Finding:
    return Finding(
        "row_edited",
        seq,
        f"第 {seq} 行被篡改：其内容与存储的哈希不符",
        f"row {seq} was edited: its content no longer matches its stored hash",
    )


def _rewritten(seq: int, *, by_head: bool = False) -> Finding:
    if by_head:
        zh = f"第 {seq} 行被改写（内容与哈希一并重算），或其后的行被删除：与日志头记录的哈希不符"
        en = (
            f"row {seq} was rewritten (content and hash), or rows after it were deleted: the "
            "head of the log names another hash"
        )
    else:
        zh = f"第 {seq} 行被改写（内容与哈希一并重算）：下一行不再链接到它"
        en = f"row {seq} was rewritten (content and hash): the next row no longer links to it"
    return Finding("row_rewritten", seq, zh, en)


def _deleted(
    first: int, last: int, *, renumbered: bool = False, head: int | None = None
) -> Finding:
    rows_zh = f"第 {first} 行" if first == last else f"第 {first}–{last} 行"
    rows_en = f"row {first}" if first == last else f"rows {first}–{last}"
    if head is not None:
        why_zh, why_en = f"日志头记录到第 {head} 行", f"the head of the log names row {head}"
    elif renumbered:
        why_zh, why_en = "其后的行被重新编号", "the rows after them were renumbered"
    else:
        why_zh, why_en = "序号出现缺口", "the sequence numbers have a gap"
    return Finding(
        "row_deleted",
        first,
        f"{rows_zh}被删除：{why_zh}",
        f"{rows_en} {'was' if first == last else 'were'} deleted: {why_en}",
    )


def _inserted(first: int, last: int, *, head: int | None = None) -> Finding:
    rows_zh = f"第 {first} 行" if first == last else f"第 {first}–{last} 行"
    rows_en = f"row {first}" if first == last else f"rows {first}–{last}"
    if head is not None:
        why_zh, why_en = (
            f"位于日志头（第 {head} 行）之后",
            f"after the head of the log (row {head})",
        )
    else:
        why_zh, why_en = "其后的原有行被重新编号", "the original rows after it were renumbered"
    return Finding(
        "row_inserted",
        first,
        f"{rows_zh}是插入的：{why_zh}",
        f"{rows_en} {'was' if first == last else 'were'} inserted: {why_en}",
    )


def _check_row(
    prev: _Row | None, cur: _Row, nxt: _Row | None, expected: int, prev_hash: bytes, head: int
) -> Finding | None:
    """The problem at ``cur`` (the row after ``prev``, before ``nxt``), if any."""
    if cur.seq > expected:
        return _deleted(expected, cur.seq - 1)

    def next_is_shifted() -> bool:  # the next row is the original of this seq, moved up one
        return (
            nxt is not None
            and nxt.seq == cur.seq + 1
            and _hash_at(nxt, cur.seq) == bytes(nxt.row_hash)
        )

    if _hash_at(cur, cur.seq) != bytes(cur.row_hash):
        original = _original_seq(cur)
        if original is not None and original < cur.seq:
            return _inserted(original, cur.seq - 1)
        if original is not None:
            return _deleted(cur.seq, original - 1, renumbered=True)
        if next_is_shifted():
            return _inserted(cur.seq, cur.seq)
        if cur.seq > head:
            return _inserted(cur.seq, cur.seq, head=head)
        return _edited(cur.seq)
    if bytes(cur.prev_hash) != prev_hash:
        if next_is_shifted():
            return _inserted(cur.seq, cur.seq)
        if cur.seq > head:
            return _inserted(cur.seq, cur.seq, head=head)
        if prev is None or (nxt is not None and bytes(nxt.prev_hash) != bytes(cur.row_hash)):
            return _rewritten(cur.seq)  # its own link was changed (and its hash recomputed)
        return _rewritten(prev.seq)  # the row before was rewritten: this one still links to
        # its original hash
    if cur.seq > head:
        return _inserted(cur.seq, cur.seq, head=head)
    return None


def _with_next(rows: Iterable[_Row]) -> Iterator[tuple[_Row, _Row | None]]:
    it = iter(rows)
    cur = next(it, None)
    while cur is not None:
        nxt = next(it, None)
        yield cur, nxt
        cur = nxt


def check_chain(rows: Iterable[_Row], head_seq: int, head_hash: bytes) -> LogCheck:
    """Walk ``rows`` (in sequence order) against the head; see ``check_log``."""
    expected, prev_hash, prev, verified = 1, GENESIS, None, 0
    for cur, nxt in _with_next(rows):
        finding = _check_row(prev, cur, nxt, expected, prev_hash, head_seq)
        if finding is not None:
            return LogCheck(verified, expected - 1, finding)
        verified += 1
        expected, prev_hash, prev = cur.seq + 1, bytes(cur.row_hash), cur
    last = expected - 1
    if last < head_seq:
        return LogCheck(verified, last, _deleted(last + 1, head_seq, head=head_seq))
    if last and prev_hash != head_hash:
        return LogCheck(verified - 1, last - 1, _rewritten(last, by_head=True))
    return LogCheck(verified, last, None)


def check_log(session: Session) -> tuple[LogCheck, int]:
    """Walk the whole log in ``session``: recompute every row's hash and link, compare the end
    with ``audit_head``; returns the result and the head's sequence number.

    The first problem is named and classified: a row whose content no longer matches its hash
    (``row_edited``); a row whose content and hash were both recomputed, so the next row (or the
    head) no longer links to it (``row_rewritten``); a gap, or rows renumbered down, or a head
    beyond the last row (``row_deleted``); a row that pushed the original rows up by one, or
    that lies beyond the head (``row_inserted``). Rows are streamed, not loaded at once.
    """
    head_seq, head_hash = session.execute(
        text("SELECT seq, hash FROM audit_head WHERE id = 1")
    ).one()
    columns = (
        AuditEntry.seq,
        AuditEntry.at,
        AuditEntry.actor,
        AuditEntry.action,
        AuditEntry.authority_id,
        AuditEntry.credential_id,
        AuditEntry.details,
        AuditEntry.prev_hash,
        AuditEntry.row_hash,
    )
    rows = session.execute(
        select(*columns).order_by(AuditEntry.seq).execution_options(yield_per=1000)
    )
    try:
        walk = check_chain(rows, int(head_seq), bytes(head_hash))
    finally:
        rows.close()  # the walk stops at the first problem
    return walk, int(head_seq)


# ---------------------------------------------------------------------- reading


def audit_rows(
    session: Session,
    *,
    authority_id: int | None = None,
    credential_id: str | None = None,
    before: int | None = None,
    limit: int = 50,
) -> list[AuditEntry]:
    """Rows newest first: of one authority, about one credential (its own rows and the bulk
    rows that list it), before a seq (keyset paging)."""
    query = select(AuditEntry).order_by(AuditEntry.seq.desc()).limit(limit)
    if authority_id is not None:
        query = query.where(AuditEntry.authority_id == authority_id)
    if before is not None:
        query = query.where(AuditEntry.seq < before)
    if credential_id is not None:
        listed = cast(AuditEntry.details, Text).contains(f'"{credential_id}"', autoescape=True)
        query = query.where(or_(AuditEntry.credential_id == credential_id, listed))
    return list(session.scalars(query))


def pending_rows(
    session: Session,
    *,
    authority_id: int | None = None,
    credential_id: str | None = None,
    limit: int = 50,
) -> list[AuditInboxEntry]:
    """Inbox rows (committed, not chained yet: no seq, no hash) newest first, filtered as
    ``audit_rows`` filters."""
    query = select(AuditInboxEntry).order_by(AuditInboxEntry.id.desc()).limit(limit)
    if authority_id is not None:
        query = query.where(AuditInboxEntry.authority_id == authority_id)
    if credential_id is not None:
        listed = cast(AuditInboxEntry.details, Text).contains(f'"{credential_id}"', autoescape=True)
        query = query.where(or_(AuditInboxEntry.credential_id == credential_id, listed))
    return list(session.scalars(query))


def pending_count(session: Session) -> int:
    """How many rows wait in the inbox."""
    return int(session.scalar(select(func.count()).select_from(_INBOX)) or 0)


def recorded(
    session: Session, *, action: str, credential_ids: Iterable[str]
) -> list[tuple[str, dict[str, Any]]]:
    """(credential id, details) of every row of ``action`` about these credentials, chained
    rows first (in chain order), then rows still in the inbox (in id order): what the office
    itself reads back from the trail, which must not depend on whether the worker has passed."""
    ids = list(credential_ids)
    if not ids:
        return []
    # the inbox first: a row chained between the two reads is then seen twice, never missed
    waiting = session.execute(
        select(AuditInboxEntry.credential_id, AuditInboxEntry.details)
        .where(AuditInboxEntry.credential_id.in_(ids), AuditInboxEntry.action == action)
        .order_by(AuditInboxEntry.id)
    ).all()
    chained = session.execute(
        select(AuditEntry.credential_id, AuditEntry.details)
        .where(AuditEntry.credential_id.in_(ids), AuditEntry.action == action)
        .order_by(AuditEntry.seq)
    ).all()
    return [(str(c), dict(d)) for c, d in [*chained, *waiting]]


def summarise_details(details: Mapping[str, Any], max_ids: int = 100) -> dict[str, Any]:
    """A row's details for display: a bulk row's id list cut to ``max_ids`` (the count and
    ``credentialIdsTruncated`` say so)."""
    shown = dict(details)
    ids = shown.get("credentialIds")
    if isinstance(ids, list) and len(ids) > max_ids:
        shown["credentialIds"] = ids[:max_ids]
        shown["credentialIdsTruncated"] = True
    return shown
