"""The database wrapper: write sessions serialise read-then-write transactions on SQLite."""

from __future__ import annotations

import threading
from pathlib import Path

from sqlalchemy import text

from service.storage.db import Database


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
