"""The audit trail's hash chain: appends link, concurrent appenders never fork it."""

from __future__ import annotations

import threading
from datetime import UTC, datetime

import pytest
from sqlalchemy import insert, select, text

from service.audit import GENESIS, record, row_hash
from service.audit_anchor import verify_audit
from service.storage.db import Database
from service.storage.models import AuditEntry


def test_concurrent_appends_form_one_unbroken_chain(database: Database) -> None:
    def append(n: int) -> None:
        for i in range(10):
            with database.write_session() as s:
                record(s, actor=f"apikey:{n}", action="test", details={"i": i})

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with database.session() as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [r.seq for r in rows] == list(range(1, 41))
    prev = GENESIS
    for r in rows:
        assert r.prev_hash == prev
        assert r.row_hash == row_hash(
            r.seq, r.at, r.actor, r.action, r.authority_id, r.credential_id, r.details, prev
        )
        prev = r.row_hash


def test_an_append_rolls_back_with_its_action(database: Database) -> None:
    try:
        with database.write_session() as s:
            record(s, actor="cli", action="doomed")
            raise RuntimeError("the action failed")
    except RuntimeError:
        pass
    with database.write_session() as s:
        entry = record(s, actor="cli", action="kept")
    assert entry.seq == 1


# ---------------------------------------------------------------------- tampering, located

N = 9  # rows in the log the tamper tests start from
POSITIONS = {"first": 1, "middle": 5, "last": N}


def fill(db: Database, n: int = N) -> None:
    """``n`` rows as the office writes them (several actors, actions, credentials)."""
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
