"""Engine and sessions over SQLite (WAL, embedded default) or PostgreSQL, and migrations."""

from __future__ import annotations

import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import Connection, Engine, create_engine, event
from sqlalchemy.orm import Session, sessionmaker

__all__ = ["Database", "alembic_config"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config(url: str) -> Config:
    """An Alembic configuration for ``url`` without an alembic.ini."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.set_main_option("sqlalchemy.url", url.replace("%", "%%"))
    return config


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA journal_mode=WAL")
    cursor.execute("PRAGMA synchronous=NORMAL")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.close()


_WRITES = ("INSERT", "UPDATE", "DELETE", "REPLACE", "BEGIN IMMEDIATE")


class _SqliteWriters:
    """One writing transaction at a time per process, queued on a lock in Python.

    SQLite allows one writer; a connection that finds the database locked waits in SQLite's
    busy handler, which sleeps in growing steps (up to 100 ms) and retries. Under many
    concurrent requests an unlucky writer loses several rounds, which is a latency tail of
    hundreds of milliseconds. Writers of this process queue here instead, from their first
    write statement until SQLite has finished their COMMIT or ROLLBACK, and wake as soon as the
    lock is free; only writers of other processes still meet the busy handler.

    The lock is released by the driver connection itself (``_LockingConnection``) once its
    ``commit()``/``rollback()`` has returned. SQLAlchemy's ``commit`` event fires *before* the
    driver's COMMIT: releasing there let the next writer of this process start while that
    COMMIT was still running, and so meet the busy handler after all.
    """

    def __init__(self, engine: Engine) -> None:
        self.lock = threading.RLock()
        event.listen(engine, "before_cursor_execute", self._before)

    def _before(self, connection: Connection, _c: Any, statement: str, *_args: Any) -> None:
        driver = connection.connection.dbapi_connection
        if not isinstance(driver, _LockingConnection) or driver.holding:
            return
        head = statement.lstrip()[:15].upper()
        if head.startswith(_WRITES):
            self.lock.acquire()
            driver.holding = self.lock


class _LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that gives back its writer lock once its transaction has ended
    in SQLite (commit, rollback, or close)."""

    holding: threading.RLock | None = None

    def _release(self) -> None:
        lock, self.holding = self.holding, None
        if lock is not None:
            lock.release()

    def commit(self) -> None:
        try:
            super().commit()
        finally:
            self._release()

    def rollback(self) -> None:
        try:
            super().rollback()
        finally:
            self._release()

    def close(self) -> None:
        try:
            super().close()
        finally:
            self._release()


class Database:
    """One database: its engine, a session factory, and whether it is PostgreSQL."""

    def __init__(self, url: str) -> None:
        self.url = url
        self.is_postgres = url.startswith("postgresql")
        if url.startswith("sqlite:///"):
            Path(url.removeprefix("sqlite:///")).parent.mkdir(parents=True, exist_ok=True)
        kwargs: dict[str, Any] = {}
        if self.is_postgres:
            kwargs = {"pool_size": 10, "max_overflow": 20, "pool_pre_ping": True}
        else:
            kwargs = {
                "connect_args": {
                    "check_same_thread": False,
                    "timeout": 30,
                    "factory": _LockingConnection,
                }
            }
        self.engine: Engine = create_engine(url, **kwargs)
        if not self.is_postgres:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.writers = None if self.is_postgres else _SqliteWriters(self.engine)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)

    def migrate(self) -> None:
        """Bring the schema to the newest migration."""
        config = alembic_config(self.url)
        with self.engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, "head")

    @contextmanager
    def session(self) -> Iterator[Session]:
        """A session in one transaction: committed on success, rolled back on error."""
        with self._sessions() as session, session.begin():
            yield session

    @contextmanager
    def write_session(self) -> Iterator[Session]:
        """A session for a transaction that reads and then writes (a life-cycle step, an audit
        append). On SQLite it takes the write lock at its start (``BEGIN IMMEDIATE``): a
        deferred transaction that read first could not upgrade once another writer committed
        (``SQLITE_BUSY_SNAPSHOT``). On PostgreSQL it is a plain session (use row locks)."""
        with self._sessions() as session, session.begin():
            if not self.is_postgres:
                # The driver (legacy transaction control) begins a deferred transaction only
                # before its first write, and leaves one it finds open alone: opening it here
                # takes the write lock now, waiting up to busy_timeout for other writers.
                session.connection().exec_driver_sql("BEGIN IMMEDIATE")
            yield session

    def dispose(self) -> None:
        """Close every pooled connection."""
        self.engine.dispose()
