"""The database wrapper: write sessions serialise read-then-write transactions on SQLite."""

from __future__ import annotations

import os
import threading
from datetime import UTC, datetime, timedelta, timezone
from pathlib import Path
from typing import Any, cast

import pytest
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlalchemy import Table, insert, select, text
from sqlalchemy.exc import IntegrityError

from service.clock import aware
from service.storage.db import Database
from service.storage.models import Authority


def _bump_concurrently(db: Database) -> tuple[int, list[str]]:
    with db.session() as s:
        s.execute(text("CREATE TABLE counter (n INTEGER)"))
        s.execute(text("INSERT INTO counter VALUES (0)"))
    errors: list[str] = []

    def bump() -> None:
        for _ in range(40):
            try:
                with db.write_session() as s:
                    n = s.execute(text("SELECT n FROM counter")).scalar_one()
                    s.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
            except Exception as e:  # counted: the test asserts there are none
                errors.append(type(e).__name__)

    threads = [threading.Thread(target=bump) for _ in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with db.session() as s:
        return s.execute(text("SELECT n FROM counter")).scalar_one(), errors


def test_write_sessions_never_lose_an_update_on_sqlite(tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'w.sqlite'}")
    assert _bump_concurrently(db) == (160, [])


def test_a_plain_session_that_reads_first_can_lose_an_update(tmp_path: Path) -> None:
    # why write_session exists: a plain session's read takes no lock on SQLite, so a write
    # committed in between is overwritten by the value computed from the stale read
    db = Database(f"sqlite:///{tmp_path / 'p.sqlite'}")
    with db.session() as s:
        s.execute(text("CREATE TABLE counter (n INTEGER)"))
        s.execute(text("INSERT INTO counter VALUES (0)"))
    with db.session() as reader:
        n = reader.execute(text("SELECT n FROM counter")).scalar_one()
        with db.session() as other:
            other.execute(text("UPDATE counter SET n = n + 5"))
        reader.execute(text("UPDATE counter SET n = :n"), {"n": n + 1})
    with db.session() as s:
        assert s.execute(text("SELECT n FROM counter")).scalar_one() == 1  # the +5 is lost


def test_the_writer_lock_is_held_until_sqlite_has_committed(tmp_path: Path) -> None:
    # SQLAlchemy's commit event fires before the driver's COMMIT; a lock given back there let
    # the next writer of the process start while the COMMIT was still running
    from sqlalchemy import event

    db = Database(f"sqlite:///{tmp_path / 'c.sqlite'}")
    writers = db.writers
    assert writers is not None
    seen: list[bool] = []
    event.listen(db.engine, "commit", lambda _c: seen.append(writers.held_here()))
    with db.session() as s:
        s.execute(text("CREATE TABLE t (n INTEGER)"))
    with db.session() as s:
        s.execute(text("INSERT INTO t VALUES (1)"))
    assert seen[-1] is True  # still held when the COMMIT is about to run
    assert not writers.held_here()  # and given back once it has


def test_the_writer_lock_is_given_back_after_a_rollback_and_a_failed_write(
    tmp_path: Path,
) -> None:
    db = Database(f"sqlite:///{tmp_path / 'r.sqlite'}")
    assert db.writers is not None
    with db.session() as s:
        s.execute(text("CREATE TABLE t (n INTEGER PRIMARY KEY)"))
        s.execute(text("INSERT INTO t VALUES (1)"))
    try:
        with db.session() as s:
            s.execute(text("INSERT INTO t VALUES (2)"))
            s.execute(text("INSERT INTO t VALUES (1)"))  # a duplicate key: rolled back
    except Exception as e:
        assert "UNIQUE" in str(e)
    else:
        raise AssertionError("the duplicate key was accepted")
    done = threading.Event()

    def write_elsewhere() -> None:  # another thread must get the lock at once
        with db.session() as s:
            s.execute(text("INSERT INTO t VALUES (3)"))
        done.set()

    thread = threading.Thread(target=write_elsewhere)
    thread.start()
    assert done.wait(5), "the lock was kept after the rollback"
    thread.join()
    with db.session() as s:
        assert s.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 3]


def test_postgres_has_no_process_writer_lock() -> None:
    assert Database("postgresql+psycopg://postgres@127.0.0.1:5432/test").writers is None


def test_a_writer_in_another_process_holds_the_lock_file_until_it_commits(tmp_path: Path) -> None:
    # `suixin serve` and the embedded chain node beside it write to one SQLite file: they queue
    # on flock (woken at once) rather than in SQLite's busy handler (sleeps of up to 100 ms)
    import fcntl
    import subprocess
    import sys

    url = f"sqlite:///{tmp_path / 'x.sqlite'}"
    db = Database(url)
    with db.session() as s:
        s.execute(text("CREATE TABLE t (n INTEGER)"))
    script = (
        "import sys, time\n"
        "from sqlalchemy import text\n"
        "from service.storage.db import Database\n"
        f"db = Database({url!r})\n"
        "with db.session() as s:\n"
        "    s.execute(text('INSERT INTO t VALUES (1)'))\n"
        "    print('holding', flush=True)\n"
        "    time.sleep(0.5)\n"
        "db.dispose()\n"
    )
    child = subprocess.Popen([sys.executable, "-c", script], stdout=subprocess.PIPE, text=True)
    try:
        assert child.stdout is not None and child.stdout.readline() == "holding\n"
        with (tmp_path / "x.sqlite.writer-lock").open("ab") as lock_file:
            try:
                fcntl.flock(lock_file, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                pass
            else:
                raise AssertionError("the other process's write did not hold the lock file")
        with db.session() as s:  # waits for the other process's COMMIT, then goes on
            s.execute(text("INSERT INTO t SELECT 10 + count(*) FROM t"))  # sees its row
        assert child.wait(10) == 0
    finally:
        child.kill()
        child.wait()
        if child.stdout is not None:
            child.stdout.close()
    with db.session() as s:
        assert s.execute(text("SELECT n FROM t ORDER BY n")).scalars().all() == [1, 11]
    db.dispose()


# ---------------------------------------------------------------------- insert_rows (COPY)


def _authority_row(did: str) -> dict[str, Any]:
    return {
        "did": did,
        "name_zh": "广州市来穗人员服务管理局",
        "name_en": "GZ bureau, \t tab and\nnewline and \\N",  # COPY's text format escapes
        "region": 440100,
        "credential_types": ["ResidencePermit"],  # a JSON column
        "uscc": None,
        "account_address": "0x" + "ab" * 20,
        "account_key_encrypted": bytes(range(256)),  # every byte value
        "created_at": datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC),
        "next_account_address": None,
        "next_account_key_encrypted": None,
    }


def test_insert_rows_stores_every_value_as_an_insert_would(database: Database) -> None:
    rows = [_authority_row("did:web:a.example"), _authority_row("did:web:b.example")]
    rows[1]["uscc"] = "11440100007502156G"
    with database.session() as s:
        database.insert_rows(s, cast(Table, Authority.__table__), rows)
    with database.session() as s:
        stored = s.scalars(select(Authority).order_by(Authority.did)).all()
        got = [{k: getattr(a, k) for k in rows[0]} for a in stored]
    for row in got:
        row["created_at"] = aware(row["created_at"])
        row["account_key_encrypted"] = bytes(row["account_key_encrypted"])
    assert got == rows


def test_insert_rows_refuses_a_duplicate_key_and_keeps_nothing(database: Database) -> None:
    table = cast(Table, Authority.__table__)
    with database.session() as s:
        database.insert_rows(s, table, [_authority_row("did:web:a.example")])
    rows = [_authority_row("did:web:b.example"), _authority_row("did:web:a.example")]
    with pytest.raises(IntegrityError), database.session() as s:
        database.insert_rows(s, table, rows)
    with database.session() as s:
        assert s.scalars(select(Authority.did)).all() == ["did:web:a.example"]


def test_a_database_error_names_the_statement_but_never_its_values(database: Database) -> None:
    """Errors reach the logs (the worker's faults, a 500's traceback); the values bound to the
    failing statement hold personal data and must not travel with them."""
    secret = "张三丰 440106199001011234"
    with database.session() as s:
        s.execute(text("CREATE TABLE people (name TEXT PRIMARY KEY)"))
        s.execute(text("INSERT INTO people VALUES (:name)"), {"name": secret})
    with pytest.raises(IntegrityError) as caught, database.session() as s:
        s.execute(text("INSERT INTO people VALUES (:name)"), {"name": secret})
    message = str(caught.value)
    driver, ours = message.split("[SQL:", 1)
    assert "INSERT INTO people" in ours  # what failed is still said
    assert secret not in ours and "hidden due to hide_parameters" in ours
    if not database.is_postgres:
        assert secret not in driver  # "UNIQUE constraint failed: people.name"
    # PostgreSQL's own DETAIL line still names a violated key's value ("Key (name)=(…)"):
    # the server's text, not the bound values; the office's unique keys are ids, idempotency
    # keys and blind indexes, never an identifier or a name in clear


def test_insert_rows_writes_each_time_as_an_insert_would_shared_or_not(
    database: Database,
) -> None:
    # a bulk chunk's rows share their times, and insert_rows formats each distinct one once
    # (SQLite): every row must still hold what SQLAlchemy's own INSERT writes for its value,
    # for equal instants in other zones (equal, yet written as their own wall-clock fields),
    # distinct times, and None
    shared = datetime(2026, 1, 2, 3, 4, 5, 678901, tzinfo=UTC)
    times = [
        shared,
        shared,
        shared.astimezone(timezone(timedelta(hours=8))),  # the same instant, in China time
        datetime(2026, 1, 2, 3, 4, 5, tzinfo=UTC),
        shared,
        datetime(1999, 12, 31, 23, 59, 59, 1, tzinfo=timezone(timedelta(hours=-5))),
    ]
    ours = [
        dict(_authority_row(f"did:web:ours{i}.example"), created_at=t) for i, t in enumerate(times)
    ]
    theirs = [
        dict(_authority_row(f"did:web:theirs{i}.example"), created_at=t)
        for i, t in enumerate(times)
    ]
    for row in ours[1::2] + theirs[1::2]:
        row["next_account_key_encrypted"] = b"\x00\x01"  # another processed column, some None
    hexed = "encode({}, 'hex')" if database.is_postgres else "hex({})"
    stored = _stored_both_ways(
        database,
        ours,
        theirs,
        "CAST(created_at AS TEXT) || '|' || coalesce("
        + hexed.format("next_account_key_encrypted")
        + ", '-')",
    )
    assert len(stored) == 2 * len(times)
    for i in range(len(times)):
        assert stored[f"did:web:ours{i}.example"] == stored[f"did:web:theirs{i}.example"]
    if not database.is_postgres:  # SQLite keeps the wall-clock fields it was given
        assert stored["did:web:ours0.example"] != stored["did:web:ours2.example"]


@given(
    st.lists(
        st.tuples(st.binary(max_size=64), st.one_of(st.none(), st.binary(max_size=8))),
        min_size=1,
        max_size=6,
    )
)
@settings(
    max_examples=25, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture]
)
def test_insert_rows_stores_bytes_as_an_insert_would(
    database: Database, values: list[tuple[bytes, bytes | None]]
) -> None:
    # on SQLite bytes are bound as they are, not through sqlite3.Binary: the same BLOBs (empty
    # ones too), of the same storage class, as SQLAlchemy's own INSERT stores
    tag = os.urandom(4).hex()
    ours = [
        dict(
            _authority_row(f"did:web:o{tag}{i}.example"),
            account_key_encrypted=a,
            next_account_key_encrypted=b,
        )
        for i, (a, b) in enumerate(values)
    ]
    theirs = [dict(row, did=row["did"].replace(f":o{tag}", f":t{tag}")) for row in ours]
    hexed = "encode({0}, 'hex')" if database.is_postgres else "typeof({0}) || hex({0})"
    stored = _stored_both_ways(
        database,
        ours,
        theirs,
        hexed.format("account_key_encrypted")
        + " || '|' || coalesce("
        + hexed.format("next_account_key_encrypted")
        + ", '-')",
        tag=tag,
    )
    assert len(stored) == 2 * len(values)
    for row in ours:
        assert stored[row["did"]] == stored[row["did"].replace(f":o{tag}", f":t{tag}")]
        if not database.is_postgres:
            assert stored[row["did"]].startswith("blob")


def _stored_both_ways(
    database: Database,
    ours: list[dict[str, Any]],
    theirs: list[dict[str, Any]],
    read: str,
    tag: str = "",
) -> dict[str, str]:
    """``ours`` stored by ``insert_rows``, ``theirs`` by SQLAlchemy's own INSERT; returns each
    authority's did -> ``read`` (an SQL expression) as the database holds it, for the rows
    whose did holds ``tag``."""
    table = cast(Table, Authority.__table__)
    with database.session() as s:
        database.insert_rows(s, table, ours)
        s.execute(insert(table), theirs)
    with database.session() as s:
        rows = s.execute(
            text(f"SELECT did, {read} FROM authorities WHERE did LIKE :tag"), {"tag": f"%{tag}%"}
        )
        return dict(rows.all())
