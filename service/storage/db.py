"""Engine and sessions over SQLite (WAL, embedded default) or PostgreSQL, and migrations."""

from __future__ import annotations

import fcntl
import json
import os
import sqlite3
import threading
import weakref
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from alembic import command
from alembic.config import Config
from sqlalchemy import (
    JSON,
    Connection,
    DateTime,
    Engine,
    LargeBinary,
    Table,
    create_engine,
    event,
    insert,
)
from sqlalchemy.exc import DBAPIError
from sqlalchemy.orm import Session, sessionmaker
from sqlalchemy.pool import NullPool

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


_BYTES_OR_NONE = frozenset({bytes, type(None)})  # values bound as BLOBs (or NULL) as they are


class _SqliteWriters:
    """One writing transaction at a time on one SQLite file, queued on locks that wake their
    waiters at once: a thread lock within the process, and ``flock`` on a lock file beside the
    database between processes (``suixin serve`` and the embedded chain node beside it, bulk
    issuance from the command line while an office runs).

    SQLite allows one writer; a connection that finds the database locked waits in SQLite's
    busy handler, which sleeps in growing steps (up to 100 ms) and retries. Under many
    concurrent requests an unlucky writer loses several rounds, which is a latency tail of
    hundreds of milliseconds. Writers queue here instead, from their first write statement
    until SQLite has finished their COMMIT or ROLLBACK; only a writer that bypasses these locks
    (another program on the same file) still meets the busy handler.

    The locks are released by the driver connection itself (``_LockingConnection``) once its
    ``commit()``/``rollback()`` has returned. SQLAlchemy's ``commit`` event fires *before* the
    driver's COMMIT: releasing there let the next writer start while that COMMIT was still
    running, and so meet the busy handler after all.
    """

    def __init__(self, engine: Engine, database_file: Path | None) -> None:
        self._thread_lock = threading.RLock()
        self._depth = 0  # this process's holds, changed only by the thread holding the lock
        self._fd: int | None = None
        if database_file is not None:
            lock_file = database_file.with_name(database_file.name + ".writer-lock")
            self._fd = os.open(lock_file, os.O_RDWR | os.O_CREAT, 0o600)
            self._closer = weakref.finalize(self, os.close, self._fd)
        event.listen(engine, "before_cursor_execute", self._before)

    def acquire(self) -> None:
        self._thread_lock.acquire()
        if self._depth == 0 and self._fd is not None:
            try:
                fcntl.flock(self._fd, fcntl.LOCK_EX)  # waits with the GIL released
            except BaseException:
                self._thread_lock.release()
                raise
        self._depth += 1

    def release(self) -> None:
        self._depth -= 1
        if self._depth == 0 and self._fd is not None:
            fcntl.flock(self._fd, fcntl.LOCK_UN)
        self._thread_lock.release()

    def held_here(self) -> bool:
        """Whether the calling thread holds the writer locks."""
        return bool(self._thread_lock._is_owned())  # type: ignore[attr-defined]

    def close(self) -> None:
        """Close the lock file (the database is disposed of)."""
        if self._fd is not None:
            self._closer()
            self._fd = None

    def _before(self, connection: Connection, _c: Any, statement: str, *_args: Any) -> None:
        driver = connection.connection.dbapi_connection
        if not isinstance(driver, _LockingConnection) or driver.holding:
            return
        head = statement.lstrip()[:15].upper()
        if head.startswith(_WRITES):
            self.acquire()
            driver.holding = self


class _LockingConnection(sqlite3.Connection):
    """A sqlite3 connection that gives back its writer locks once its transaction has ended
    in SQLite (commit, rollback, or close)."""

    holding: _SqliteWriters | None = None

    def _release(self) -> None:
        writers, self.holding = self.holding, None
        if writers is not None:
            writers.release()

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
        database_file = None
        if url.startswith("sqlite:///") and url != "sqlite:///:memory:":
            database_file = Path(url.removeprefix("sqlite:///"))
            database_file.parent.mkdir(parents=True, exist_ok=True)
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
        # a database error's text names the statement, never its bound values: they hold
        # personal data (names, blind indexes, sealed bodies), and such errors reach the logs
        # (the worker's faults, a 500's traceback)
        self.engine: Engine = create_engine(url, hide_parameters=True, **kwargs)
        if not self.is_postgres:
            event.listen(self.engine, "connect", _sqlite_pragmas)
        self.writers = None if self.is_postgres else _SqliteWriters(self.engine, database_file)
        self._sessions = sessionmaker(self.engine, expire_on_commit=False)
        self._lock_dir = database_file.parent if database_file is not None else None
        self._sender_threads: dict[str, threading.Lock] = {}
        self._sender_threads_lock = threading.Lock()
        # (table, columns) → the driver's INSERT and the columns' bind processors (insert_rows)
        self._inserts: dict[
            tuple[str, frozenset[str]], tuple[str, list[str], list[Callable[[Any], Any] | None]]
        ] = {}

    def migrate(self, master_key: Any = None) -> None:
        """Bring the schema to the newest migration. ``master_key`` (a ``MasterKey``) is
        handed to migrations that seal stored data (0011); a database holding credentials
        cannot pass those without it."""
        config = alembic_config(self.url)
        with self.migration_connection() as connection:
            config.attributes["connection"] = connection
            config.attributes["master_key"] = master_key
            command.upgrade(config, "head")

    @contextmanager
    def migration_connection(self) -> Iterator[Connection]:
        """A connection in one transaction that covers schema changes too, so a migration that
        fails half way changes nothing. PostgreSQL's DDL is transactional as it is; SQLite's
        driver would run each DDL statement on its own, so migrations get a connection of
        their own that begins the transaction itself."""
        if self.is_postgres:
            with self.engine.begin() as connection:
                yield connection
            return
        engine = create_engine(self.url, poolclass=NullPool, hide_parameters=True)

        def autocommit_driver(dbapi_connection: Any, _record: Any) -> None:
            dbapi_connection.isolation_level = None  # the driver opens no transaction itself

        event.listen(engine, "connect", autocommit_driver)
        event.listen(engine, "begin", lambda connection: connection.exec_driver_sql("BEGIN"))
        try:
            with engine.begin() as connection:
                yield connection
        finally:
            engine.dispose()

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

    def insert_rows(
        self, session: Session, table: Table, rows: Sequence[Mapping[str, Any]]
    ) -> None:
        """Insert ``rows`` (mappings with the same keys, table columns) into ``table`` in the
        session's transaction. On PostgreSQL through ``COPY … FROM STDIN`` (one stream, no
        statement per row or per page of rows), elsewhere one executemany INSERT. Raises what
        an INSERT raises (``IntegrityError`` for a duplicate key): nothing of ``rows`` is kept
        once the session rolls back."""
        if not rows:
            return
        if not self.is_postgres:
            # the driver's executemany with each value through its column type's own bind
            # processor, as session.execute(insert(table), rows) would store it, without
            # SQLAlchemy's per-row parameter handling (a third of a bulk chunk's insert)
            insert_sql, order, processors = self._insert_statement(table, frozenset(rows[0]))
            by_column: list[list[Any]] = []
            for c, p in zip(order, processors, strict=True):
                values = [row[c] for row in rows]
                # a binary column's processor wraps each value in sqlite3.Binary (a
                # memoryview), which sqlite3 binds as the BLOB it binds bytes as: bytes go as
                # they are (a bulk chunk's body, digest and blind index: 3,000 calls); anything
                # else (a str would be bound as TEXT, not refused) through the processor
                if (
                    p is not None
                    and isinstance(table.c[c].type, LargeBinary)
                    and set(map(type, values)) <= _BYTES_OR_NONE
                ):
                    p = None
                if p is not None:
                    if isinstance(table.c[c].type, DateTime):
                        # a chunk's rows share their times (issued at one ``now``): each
                        # distinct one is formatted once. Keyed with its UTC offset: equal
                        # instants in two zones compare equal but are written as their own
                        # wall-clock fields.
                        keys = [None if v is None else (v, v.utcoffset()) for v in values]
                        made = {k: p(k[0]) for k in set(keys) if k is not None}
                        values = [None if k is None else made[k] for k in keys]
                    else:
                        values = [None if v is None else p(v) for v in values]
                by_column.append(values)
            # column by column, then the rows as tuples: no generator frame per row
            session.connection().exec_driver_sql(insert_sql, list(zip(*by_column, strict=True)))
            return
        import psycopg  # the PostgreSQL driver; not needed (nor imported) on SQLite
        from psycopg import sql

        columns = list(rows[0])
        # JSON columns as their text (psycopg would make a list an array); the rest as they are
        as_json = [isinstance(table.c[c].type, JSON) for c in columns]
        statement = sql.SQL("COPY {} ({}) FROM STDIN").format(
            sql.Identifier(table.name), sql.SQL(", ").join(map(sql.Identifier, columns))
        )
        driver = session.connection().connection.driver_connection
        assert isinstance(driver, psycopg.Connection)
        try:
            with driver.cursor() as cursor, cursor.copy(statement) as copy:
                for row in rows:
                    copy.write_row(
                        [
                            json.dumps(row[c]) if j and row[c] is not None else row[c]
                            for c, j in zip(columns, as_json, strict=True)
                        ]
                    )
        except psycopg.Error as e:
            raise DBAPIError.instance(
                f"COPY {table.name}", None, e, psycopg.Error, ismulti=True
            ) from e

    def _insert_statement(
        self, table: Table, keys: frozenset[str]
    ) -> tuple[str, list[str], list[Callable[[Any], Any] | None]]:
        """The driver's INSERT of the columns ``keys`` into ``table``, the order of its
        positional parameters, and each one's bind processor (None: passed as it is);
        compiled once per table and columns."""
        found = self._inserts.get((table.name, keys))
        if found is None:
            dialect = self.engine.dialect
            compiled = insert(table).compile(dialect=dialect, column_keys=sorted(keys))
            order = list(compiled.positiontup or [])
            if set(order) != keys or len(order) != len(keys):  # a default of another column
                raise ValueError(f"INSERT into {table.name}: parameters {order} for {keys}")
            found = (
                str(compiled),
                order,
                [table.c[c].type.dialect_impl(dialect).bind_processor(dialect) for c in order],
            )
            self._inserts[(table.name, keys)] = found
        return found

    def select_in(
        self,
        session: Session,
        table: Table,
        columns: Sequence[str],
        equal: Mapping[str, Any],
        column: str,
        values: Sequence[Any],
        *,
        literal: str = "",
    ) -> list[tuple[Any, ...]]:
        """``columns`` of the rows of ``table`` whose ``equal`` columns have those values and
        whose ``column`` is one of ``values`` (``literal``: one more condition, SQL text
        without parameters), at the driver: one array parameter on PostgreSQL (``= ANY``), a
        list of placeholders on SQLite; no expanding IN rendered and processed per call (a
        bulk chunk's lookups by 1,000 keys). Values are passed as they are: plain strings,
        integers and bytes."""
        if not values:
            return []
        quote = self.engine.dialect.identifier_preparer.quote
        mark = "%s" if self.is_postgres else "?"
        where = [f"{quote(c)} = {mark}" for c in equal]
        params: list[Any] = list(equal.values())
        if self.is_postgres:
            where.append(f"{quote(column)} = ANY({mark})")
            params.append(list(values))
        else:
            where.append(f"{quote(column)} IN ({', '.join([mark] * len(values))})")
            params += values
        if literal:
            where.append(literal)
        statement = (
            f"SELECT {', '.join(map(quote, columns))} FROM {quote(table.name)} "
            f"WHERE {' AND '.join(where)}"
        )
        return [tuple(r) for r in session.connection().exec_driver_sql(statement, tuple(params))]

    def analyze(self, table: Table) -> None:
        """Gather the planner's statistics of ``table`` now (PostgreSQL; nothing on SQLite,
        whose plans here do not depend on them).

        For a bulk load, as PostgreSQL's documentation advises ("Populating a Database":
        run ANALYZE afterwards): a table filled faster than autovacuum looks at it (or where
        autovacuum is off) has no statistics of its columns, and the planner then guesses
        0.5 % of the rows for ``authority_id = …``. It then prefers reading an authority's
        rows through another index and filtering them to 1,000 probes of the unique
        (authority, idempotency key) index: a bulk run's per-chunk resume lookup took 0.1–2 s
        at 50,000–340,000 rows instead of a few milliseconds. Runs outside any transaction
        of the caller's (ANALYZE takes a lock that lets inserts go on)."""
        if not self.is_postgres:
            return
        name = self.engine.dialect.identifier_preparer.quote(table.name)
        with self.engine.connect() as connection:
            connection.exec_driver_sql(f"ANALYZE {name}")
            connection.commit()

    @contextmanager
    def sender_lock(self, address: str) -> Iterator[None]:
        """Hold the one lock every process of this office takes before it gives a chain
        account its next nonce and hands it a transaction: the worker, the command line's key
        operations, a second server. On PostgreSQL a session advisory lock on the account
        (every machine of the office shares it); on SQLite ``flock`` on a lock file beside the
        database (every process on this machine); with an in-memory database a thread lock."""
        account = address.lower()
        with self._sender_threads_lock:
            local = self._sender_threads.setdefault(account, threading.Lock())
        with local:
            if self.is_postgres:
                key = int.from_bytes(
                    bytes.fromhex(account.removeprefix("0x"))[:8], "big", signed=True
                )
                with self.engine.connect() as connection:
                    connection.exec_driver_sql("SELECT pg_advisory_lock(%s)", (key,))
                    try:
                        yield
                    finally:
                        connection.exec_driver_sql("SELECT pg_advisory_unlock(%s)", (key,))
                        connection.commit()
            elif self._lock_dir is not None:
                path = self._lock_dir / f"suixin.sender-{account}.lock"
                fd = os.open(path, os.O_RDWR | os.O_CREAT, 0o600)
                try:
                    fcntl.flock(fd, fcntl.LOCK_EX)
                    yield
                finally:
                    os.close(fd)  # closing drops the flock
            else:
                yield

    def dispose(self) -> None:
        """Close every pooled connection (and the writers' lock file)."""
        self.engine.dispose()
        if self.writers is not None:
            self.writers.close()
