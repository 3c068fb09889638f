"""The audit trail: ``record`` puts a row in the inbox with its action; the sequencer chains
committed rows, and concurrent writers and sequencers (threads, processes) never fork, repeat or
lose a row; edits, deletions and insertions are located."""

from __future__ import annotations

import random
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path

import pytest
from alembic import command
from sqlalchemy import func, insert, select, text

from service.audit.trail import (
    GENESIS,
    AuditChainBroken,
    check_log,
    lock_head,
    record,
    recorded,
    row_hash,
    sequence,
)
from service.audit.verify import verify_audit
from service.storage.db import Database, alembic_config
from service.storage.models import AuditEntry, AuditInboxEntry

ROOT = Path(__file__).resolve().parents[3]


def chained(db: Database) -> list[AuditEntry]:
    with db.session() as s:
        return list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))


def inbox(db: Database) -> list[AuditInboxEntry]:
    with db.session() as s:
        return list(s.scalars(select(AuditInboxEntry).order_by(AuditInboxEntry.id)))


def head(db: Database) -> tuple[int, bytes]:
    with db.session() as s:
        seq, h = s.execute(text("SELECT seq, hash FROM audit_head WHERE id = 1")).one()
    return int(seq), bytes(h)


def assert_one_unbroken_chain(db: Database, expected: int) -> list[AuditEntry]:
    """Seqs 1…expected, each row linked to the one before and hashed as the office hashes,
    the head on the last row, the inbox empty, and ``check_log`` content."""
    rows = chained(db)
    assert [r.seq for r in rows] == list(range(1, expected + 1))
    prev = GENESIS
    for r in rows:
        assert r.prev_hash == prev
        assert r.row_hash == row_hash(
            r.seq, r.at, r.actor, r.action, r.authority_id, r.credential_id, r.details, prev
        )
        prev = r.row_hash
    assert head(db) == (expected, prev if rows else GENESIS)
    assert inbox(db) == []
    with db.session() as s:
        walk, _ = check_log(s)
    assert walk.finding is None and walk.verified_rows == expected
    return rows


def test_record_only_adds_to_the_inbox_and_sequence_chains_in_id_order(database: Database) -> None:
    at = datetime(2026, 11, 22, 9, 30, tzinfo=timezone(timedelta(hours=8)))  # Beijing time
    for i in range(5):
        with database.write_session() as s:
            record(s, actor="cli", action="test", credential_id=f"urn:uuid:{i}", details={"i": i})
    with database.write_session() as s:
        record(s, actor="cli", action="timed", at=at)
    assert chained(database) == [] and head(database) == (0, GENESIS)  # nothing chained yet
    waiting = inbox(database)
    assert [r.details for r in waiting] == [{"i": i} for i in range(5)] + [{}]
    assert sequence(database) == 6
    rows = assert_one_unbroken_chain(database, 6)
    assert [r.credential_id for r in rows[:5]] == [f"urn:uuid:{i}" for i in range(5)]
    stored = rows[5].at if rows[5].at.tzinfo else rows[5].at.replace(tzinfo=UTC)
    assert stored == at  # kept as the same instant (in UTC) on both databases
    assert sequence(database) == 0  # an empty inbox: nothing to do


def test_sequence_works_in_batches_and_honours_its_limit(database: Database) -> None:
    with database.write_session() as s:
        for i in range(23):
            record(s, actor="cli", action="test", details={"i": i})
    assert sequence(database, limit=10, batch_size=4) == 10
    assert len(chained(database)) == 10 and len(inbox(database)) == 13
    assert sequence(database, batch_size=4) == 13
    rows = assert_one_unbroken_chain(database, 23)
    assert [r.details["i"] for r in rows] == list(range(23))
    with pytest.raises(ValueError, match="at least 1"):
        sequence(database, limit=0)
    with pytest.raises(ValueError, match="at least 1"):
        sequence(database, batch_size=0)


def test_sequence_rests_between_its_transactions_only(database: Database) -> None:
    # the worker sleeps there so that writers queued behind it (issuing requests) go first
    with database.write_session() as s:
        for i in range(9):
            record(s, actor="cli", action="test", details={"i": i})
    rests: list[int] = []
    assert sequence(database, batch_size=4, between=lambda: rests.append(len(chained(database))))
    assert rests == [4, 8]  # after each full batch that another follows, none after the last
    assert_one_unbroken_chain(database, 9)


def test_an_append_rolls_back_with_its_action(database: Database) -> None:
    try:
        with database.write_session() as s:
            record(s, actor="cli", action="doomed")
            raise RuntimeError("the action failed")
    except RuntimeError:
        pass
    with database.write_session() as s:
        record(s, actor="cli", action="kept")
    assert [r.action for r in inbox(database)] == ["kept"]
    assert sequence(database) == 1
    [row] = assert_one_unbroken_chain(database, 1)
    assert row.action == "kept"


class Crash(BaseException):
    """Stands for the process dying (not an Exception: nothing catches it)."""


def test_a_sequencer_that_dies_mid_batch_leaves_the_rows_in_the_inbox(database: Database) -> None:
    for i in range(3):
        with database.write_session() as s:
            record(s, actor="cli", action="test", details={"i": i})
    with pytest.raises(Crash), database.write_session() as s:
        assert lock_head(s).move_pending() == 3  # chained, inserted, deleted: not committed
        raise Crash
    assert chained(database) == [] and head(database) == (0, GENESIS)
    assert len(inbox(database)) == 3
    assert sequence(database) == 3
    assert_one_unbroken_chain(database, 3)


WRITER = """
import sys, time
from service.audit.trail import record
from service.storage.db import Database
db = Database(sys.argv[1])
with db.write_session() as s:
    record(s, actor="cli", action="committed")
with db.write_session() as s:
    record(s, actor="cli", action="uncommitted")
    print("recorded", flush=True)
    time.sleep(3600)  # killed here, its transaction open
"""


def test_a_writer_killed_before_commit_leaves_nothing_and_its_committed_row_is_chained(
    database: Database,
) -> None:
    process = subprocess.Popen(
        [sys.executable, "-c", WRITER, database.url],
        cwd=ROOT,
        stdout=subprocess.PIPE,
        text=True,
    )
    try:
        assert process.stdout is not None
        assert process.stdout.readline().strip() == "recorded"
    finally:
        process.send_signal(signal.SIGKILL)
        process.wait()
        if process.stdout is not None:
            process.stdout.close()
    sequence(database)
    [row] = assert_one_unbroken_chain(database, 1)
    assert row.action == "committed"


# ---------------------------------------------------------------------- concurrency


def write_rows(db: Database, writer: int, n: int) -> None:
    """``n`` rows of one writer, each in its own transaction; on PostgreSQL each transaction
    stays open a little after its insert, so ids commit out of order."""
    rng = random.Random(writer)
    for i in range(n):
        with db.write_session() as s:
            record(s, actor=f"apikey:{writer}", action="test", details={"w": writer, "i": i})
            if db.is_postgres:
                time.sleep(rng.random() * 0.004)


def assert_each_row_once(rows: list[AuditEntry], writers: int, n: int) -> None:
    seen = sorted((r.details["w"], r.details["i"]) for r in rows)
    assert seen == [(w, i) for w in range(writers) for i in range(n)]
    for w in range(writers):  # one writer's rows keep their order
        mine = [r.details["i"] for r in rows if r.details["w"] == w]
        assert mine == sorted(mine)


def test_concurrent_writers_and_two_sequencing_threads_form_one_chain(database: Database) -> None:
    writers, n = 4, 25
    stop = threading.Event()
    moved: list[int] = []

    def sequencer() -> None:
        while not stop.is_set():
            moved.append(sequence(database, batch_size=3))
        moved.append(sequence(database, batch_size=3))

    sequencers = [threading.Thread(target=sequencer) for _ in range(2)]
    appenders = [threading.Thread(target=write_rows, args=(database, w, n)) for w in range(writers)]
    for t in [*sequencers, *appenders]:
        t.start()
    for t in appenders:
        t.join()
    stop.set()
    for t in sequencers:
        t.join()
    rows = assert_one_unbroken_chain(database, writers * n)
    assert sum(moved) == writers * n
    assert_each_row_once(rows, writers, n)


SEQUENCER = """
import os, sys, time
from service.audit.trail import sequence
from service.storage.db import Database
db = Database(sys.argv[1])
moved = 0
print("ready", flush=True)
while not os.path.exists(sys.argv[2]):
    moved += sequence(db, batch_size=4)
    time.sleep(0.001)
moved += sequence(db, batch_size=4)
print(moved, flush=True)
"""


@contextmanager
def sequencer_processes(db: Database, stop_file: Path, count: int) -> Iterator[list[int]]:
    """``count`` processes sequencing ``db`` in a loop until ``stop_file`` exists; yields the
    list that receives how many rows each moved."""
    processes = [
        subprocess.Popen(
            [sys.executable, "-c", SEQUENCER, db.url, str(stop_file)],
            cwd=ROOT,
            stdout=subprocess.PIPE,
            text=True,
        )
        for _ in range(count)
    ]
    moved: list[int] = []
    try:
        for process in processes:
            assert process.stdout is not None and process.stdout.readline().strip() == "ready"
        yield moved
        stop_file.touch()
        for process in processes:
            out, _ = process.communicate(timeout=120)
            assert process.returncode == 0
            moved.append(int(out.strip()))
    finally:
        for process in processes:
            if process.poll() is None:
                process.send_signal(signal.SIGKILL)
                process.wait()
            if process.stdout is not None:
                process.stdout.close()


def test_two_sequencing_processes_and_concurrent_writers_form_one_chain(
    database: Database, tmp_path: Path
) -> None:
    """As ``suixin serve --workers N`` with worker processes on PostgreSQL (and SQLite)."""
    writers, n = 4, 30
    with sequencer_processes(database, tmp_path / "stop", 2) as moved:
        appenders = [
            threading.Thread(target=write_rows, args=(database, w, n)) for w in range(writers)
        ]
        for t in appenders:
            t.start()
        for t in appenders:
            t.join()
    rows = assert_one_unbroken_chain(database, writers * n)
    assert sum(moved) == writers * n
    assert_each_row_once(rows, writers, n)


ONLY_POSTGRES = pytest.mark.parametrize(
    "database", [pytest.param("postgres", marks=pytest.mark.postgres)], indirect=True
)


@ONLY_POSTGRES
def test_a_lower_id_that_commits_after_a_higher_one_was_chained_is_chained_later(
    database: Database,
) -> None:
    """PostgreSQL hands out ids at insert: the slow transaction's row has the lower id, but
    commits after the other row was chained. It is chained next, never lost or reordered
    into the past. (SQLite has one writer at a time: ids there follow commits.)"""
    with database.session() as slow:
        record(slow, actor="cli", action="slow")  # inserted: its id is taken now
        with database.session() as s:
            record(s, actor="cli", action="fast")
        ids = {r.action: r.id for r in inbox(database)}
        assert list(ids) == ["fast"]  # the slow row is not visible, let alone chained
        assert sequence(database) == 1
        assert [r.action for r in chained(database)] == ["fast"]
    # the slow transaction commits here
    [waiting] = inbox(database)
    assert waiting.action == "slow" and waiting.id < ids["fast"]
    assert sequence(database) == 1
    rows = assert_one_unbroken_chain(database, 2)
    assert [r.action for r in rows] == ["fast", "slow"]


@ONLY_POSTGRES
def test_recording_never_waits_for_the_head_lock(database: Database) -> None:
    """The point of the inbox: while a sequencer (or the head anchorer) holds the head's
    lock, actions still record and commit at once."""
    with database.write_session() as holder:
        lock_head(holder)  # held until this block ends
        done = threading.Event()

        def act() -> None:
            with database.session() as s:
                record(s, actor="cli", action="test")
            done.set()

        thread = threading.Thread(target=act)
        thread.start()
        assert done.wait(10), "record() waited for the head lock"
        thread.join()
    with database.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditInboxEntry)) == 1


def test_verify_chains_the_inbox_first(database: Database) -> None:
    with database.write_session() as s:
        record(s, actor="cli", action="test")
    assert verify_audit(database, sequence_first=False).rows == 0
    report = verify_audit(database)
    assert report.intact and (report.rows, report.head_seq, report.inbox_rows) == (1, 1, 0)
    assert any("inbox" in en for _, en in report.limits)


# ---------------------------------------------------------------------- tampering, located

N = 9  # rows in the log the tamper tests start from
POSITIONS = {"first": 1, "middle": 5, "last": N}


def fill(db: Database, n: int = N) -> None:
    """``n`` rows as the office writes them (several actors, actions, credentials), chained."""
    for i in range(1, n + 1):
        with db.write_session() as s:
            record(
                s,
                actor="apikey:0123456789abcdef" if i % 2 else "cli",
                action="credential.issue" if i % 3 else "apikey.create",
                authority_id=1 + i % 2,
                credential_id=f"urn:uuid:00000000-0000-4000-8000-{i:012d}" if i % 3 else None,
                details={"type": "ResidencePermit", "i": i},
            )
    assert sequence(db) == n


def row(db: Database, seq: int) -> AuditEntry:
    with db.session() as s:
        found = s.get(AuditEntry, seq)
    assert found is not None
    return found


def rehash(entry: AuditEntry, *, seq: int | None = None, actor: str | None = None) -> bytes:
    return row_hash(
        entry.seq if seq is None else seq,
        entry.at,
        entry.actor if actor is None else actor,
        entry.action,
        entry.authority_id,
        entry.credential_id,
        entry.details,
        bytes(entry.prev_hash),
    )


def sql(db: Database, statement: str, **params: object) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


def renumber(db: Database, from_seq: int, by: int) -> None:
    """Move rows ``from_seq``… by ``by`` (two steps: the primary key stays unique throughout)."""
    sql(db, "UPDATE audit_log SET seq = -(seq + :by) WHERE seq >= :s", by=by, s=from_seq)
    sql(db, "UPDATE audit_log SET seq = -seq WHERE seq < 0")


def first_problem(db: Database) -> tuple[str, int]:
    report = verify_audit(db)
    assert not report.intact
    assert report.first is not None
    assert report.first.zh and report.first.en and str(report.first.seq) in report.first.en
    return report.first.code, report.first.seq


def test_an_untouched_log_verifies(database: Database) -> None:
    fill(database)
    report = verify_audit(database)
    assert report.intact, report.findings
    assert (report.rows, report.head_seq, report.verified_rows) == (N, N, N)
    assert report.last_anchored is None and report.unanchored_rows == N


def test_an_empty_log_verifies(database: Database) -> None:
    report = verify_audit(database)
    assert report.intact and report.rows == 0 and report.head_seq == 0


@pytest.mark.parametrize("position", POSITIONS)
def test_an_edited_row_is_named(database: Database, position: str) -> None:
    fill(database)
    seq = POSITIONS[position]
    sql(database, "UPDATE audit_log SET actor = 'apikey:forged' WHERE seq = :s", s=seq)
    assert first_problem(database) == ("row_edited", seq)


@pytest.mark.parametrize("position", POSITIONS)
def test_an_edited_row_with_its_hash_recomputed_is_named(database: Database, position: str) -> None:
    fill(database)
    seq = POSITIONS[position]
    forged = rehash(row(database, seq), actor="apikey:forged")
    sql(
        database,
        "UPDATE audit_log SET actor = 'apikey:forged', row_hash = :h WHERE seq = :s",
        h=forged,
        s=seq,
    )
    assert first_problem(database) == ("row_rewritten", seq)


@pytest.mark.parametrize("position", POSITIONS)
def test_a_deleted_row_is_named(database: Database, position: str) -> None:
    fill(database)
    seq = POSITIONS[position]
    sql(database, "DELETE FROM audit_log WHERE seq = :s", s=seq)
    assert first_problem(database) == ("row_deleted", seq)


@pytest.mark.parametrize("position", POSITIONS)
def test_a_deleted_row_is_named_when_the_rest_are_renumbered(
    database: Database, position: str
) -> None:
    fill(database)
    seq = POSITIONS[position]
    sql(database, "DELETE FROM audit_log WHERE seq = :s", s=seq)
    renumber(database, seq + 1, -1)  # no gap any more (after the last row: nothing to move)
    assert first_problem(database) == ("row_deleted", seq)


def forge_at(db: Database, seq: int, *, good_hash: bool) -> None:
    """Insert a forged row at ``seq`` (rows from ``seq`` on move up one), linked to the row
    before it and, with ``good_hash``, with a hash computed exactly as the office does."""
    renumber(db, seq, 1)
    prev = row(db, seq - 1).row_hash if seq > 1 else GENESIS
    at = datetime.now(UTC)
    details = {"type": "ResidencePermit", "forged": True}
    digest = row_hash(seq, at, "cli", "credential.issue", 1, "urn:uuid:forged", details, prev)
    with db.engine.begin() as connection:
        connection.execute(
            insert(AuditEntry.__table__),
            [
                {
                    "seq": seq,
                    "at": at,
                    "actor": "cli",
                    "action": "credential.issue",
                    "authority_id": 1,
                    "credential_id": "urn:uuid:forged",
                    "details": details,
                    "prev_hash": prev,
                    "row_hash": digest if good_hash else bytes(32),
                }
            ],
        )


@pytest.mark.parametrize("good_hash", [True, False], ids=["hashed", "unhashed"])
@pytest.mark.parametrize("position", POSITIONS)
def test_an_inserted_row_is_named(database: Database, position: str, good_hash: bool) -> None:
    fill(database)
    seq = POSITIONS[position]  # "last": the forged row goes in before the last one
    forge_at(database, seq, good_hash=good_hash)
    assert first_problem(database) == ("row_inserted", seq)


def test_a_row_appended_after_the_head_is_named(database: Database) -> None:
    fill(database)
    forge_at(database, N + 1, good_hash=True)  # well formed, but the head was not moved
    assert first_problem(database) == ("row_inserted", N + 1)


def test_a_row_beyond_the_head_blocks_chaining_without_losing_the_inbox(
    database: Database,
) -> None:
    """Nothing is chained after a forged row (it would hide it, or collide with it): the
    sequencer refuses with a specific error, the inbox keeps its rows, verify names the row."""
    fill(database)
    forge_at(database, N + 1, good_hash=True)
    with database.write_session() as s:
        record(s, actor="cli", action="after")
    with pytest.raises(AuditChainBroken) as refused:
        sequence(database)
    assert refused.value.code == "audit_rows_beyond_head"
    assert f"row {N + 1}" in refused.value.en and f"第 {N + 1} 行" in refused.value.zh
    assert [r.action for r in inbox(database)] == ["after"]
    assert head(database)[0] == N and len(chained(database)) == N + 1
    report = verify_audit(database)  # chaining is refused; the walk names the forged row
    assert report.first is not None
    assert (report.first.code, report.first.seq, report.inbox_rows) == ("row_inserted", N + 1, 1)


def test_the_tail_cut_off_below_the_head_is_named(database: Database) -> None:
    fill(database)
    sql(database, "DELETE FROM audit_log WHERE seq >= 7")
    code, seq = first_problem(database)
    assert (code, seq) == ("row_deleted", 7)
    assert "7–9" in verify_audit(database).findings[0].en


def test_a_consistent_rewrite_of_the_unanchored_tail_is_not_detectable(database: Database) -> None:
    """What the hash chain alone cannot prove (and the report says so): rewrite the tail,
    recompute every hash after it and the head, and the log checks out."""
    fill(database)
    prev = row(database, 6).row_hash
    for seq in range(7, N + 1):
        entry = row(database, seq)
        entry.prev_hash = prev
        forged = rehash(entry, actor="apikey:forged")
        sql(
            database,
            "UPDATE audit_log SET actor = 'apikey:forged', prev_hash = :p, row_hash = :h "
            "WHERE seq = :s",
            p=prev,
            h=forged,
            s=seq,
        )
        prev = forged
    sql(database, "UPDATE audit_head SET hash = :h WHERE id = 1", h=prev)
    report = verify_audit(database)
    assert report.intact and report.unanchored_rows == N
    assert any("hash chain" in en for _, en in report.limits)


# ---------------------------------------------------------------------- reading back, migrating


def test_recorded_reads_chained_rows_then_rows_still_in_the_inbox(database: Database) -> None:
    """What the office reads back from the trail (a revocation's note in a lineage's history)
    must not depend on whether the worker has passed yet."""
    with database.write_session() as s:
        record(s, actor="cli", action="credential.revoke", credential_id="urn:a", details={"n": 1})
        record(s, actor="cli", action="credential.renew", credential_id="urn:a", details={"n": 2})
    sequence(database)
    with database.write_session() as s:
        record(s, actor="cli", action="credential.revoke", credential_id="urn:b", details={"n": 3})
        record(s, actor="cli", action="credential.revoke", credential_id="urn:c", details={"n": 4})
    with database.session() as s:
        found = recorded(s, action="credential.revoke", credential_ids=["urn:a", "urn:b"])
        assert recorded(s, action="credential.revoke", credential_ids=[]) == []
    assert found == [("urn:a", {"n": 1}), ("urn:b", {"n": 3})]


def test_downgrading_the_inbox_away_with_rows_in_it_is_refused(database: Database) -> None:
    with database.write_session() as s:
        record(s, actor="cli", action="test")
    config = alembic_config(database.url)
    with pytest.raises(RuntimeError, match="audit verify"), database.migration_connection() as c:
        config.attributes["connection"] = c
        command.downgrade(config, "0008")
    assert len(inbox(database)) == 1  # nothing changed
    sequence(database)
    with database.migration_connection() as c:
        config.attributes["connection"] = c
        command.downgrade(config, "0008")
        command.upgrade(config, "head")
    assert_one_unbroken_chain(database, 1)
