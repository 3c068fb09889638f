"""The SQLite file that keeps a registry index across restarts, one row per record.

The file holds two tables: ``meta`` (what the index is for, and the block it was synced to)
and ``records`` (one JSON row per authority, key, anchor, status or status list, keyed by kind
and key). A write is one ``BEGIN IMMEDIATE`` transaction: one writer at a time, from any
process, and a reader (WAL) sees the file as it was before or after a write, never between.
What to write is decided inside that transaction (``write``'s ``decide``), from what the file
holds at that moment, so that processes sharing the file never step back each other's block.

A file SQLite cannot read is renamed ``<name>.unreadable-<UTC time>`` (with its ``-wal`` and
``-shm``) and a new one started; the caller rebuilds the index.
"""

from __future__ import annotations

import contextlib
import json
import logging
import sqlite3
import threading
from collections.abc import Callable, Iterable
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, Literal

__all__ = ["IndexStore", "Row", "WriteKind"]

log = logging.getLogger("verifier.registry")

Row = tuple[str, str, str]  # kind, key, JSON value
WriteKind = Literal["full", "incremental", "skip"]

_BUSY_MS = 10_000
_SCHEMA = (
    "CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)",
    "CREATE TABLE IF NOT EXISTS records (kind TEXT NOT NULL, key TEXT NOT NULL, "
    "value TEXT NOT NULL, PRIMARY KEY (kind, key)) WITHOUT ROWID",
    "DROP TABLE IF EXISTS state",  # the one-blob format before this one: rebuilt
)


class IndexStore:
    """One connection to the index file; safe to share between the threads of a process."""

    def __init__(self, path: Path) -> None:
        self.path = Path(path)
        self._lock = threading.Lock()
        try:
            self._db = self._connect()
        except sqlite3.DatabaseError as e:
            self._set_aside(e)
            self._db = self._connect()

    def _connect(self) -> sqlite3.Connection:
        db = sqlite3.connect(
            str(self.path), check_same_thread=False, isolation_level=None, timeout=_BUSY_MS / 1000
        )
        try:
            db.execute(f"PRAGMA busy_timeout = {_BUSY_MS}")
            db.execute("PRAGMA journal_mode = WAL")
            db.execute("PRAGMA synchronous = NORMAL")
            db.execute("BEGIN IMMEDIATE")
            for statement in _SCHEMA:
                db.execute(statement)
            db.execute("COMMIT")
            (check,) = db.execute("PRAGMA quick_check(1)").fetchone()
            if check != "ok":
                raise sqlite3.DatabaseError(f"integrity check: {check}")
        except sqlite3.DatabaseError:
            db.close()
            raise
        return db

    def _set_aside(self, error: Exception) -> None:
        stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
        aside = self.path.with_name(f"{self.path.name}.unreadable-{stamp}")
        for suffix in ("", "-wal", "-shm"):
            # another process may have set it aside first, or SQLite made no such file
            with contextlib.suppress(FileNotFoundError):
                Path(f"{self.path}{suffix}").rename(f"{aside}{suffix}")
        log.warning(
            "registry index cache %s is unreadable (%s): set aside as %s; the index is rebuilt "
            "from the deployment block",
            self.path,
            error,
            aside.name,
        )

    def start_over(self, error: Exception) -> None:
        """Set the file aside as unreadable (``error`` says why) and start a new one."""
        with self._lock:
            self._db.close()
            self._set_aside(error)
            self._db = self._connect()

    def load(self) -> tuple[dict[str, Any], list[Row]] | None:
        """The meta entries and every record, read in one transaction; None when empty.
        Raises sqlite3.DatabaseError when the file cannot be read."""
        with self._lock:
            self._db.execute("BEGIN")
            try:
                meta = {
                    k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")
                }
                rows = self._db.execute("SELECT kind, key, value FROM records").fetchall()
            finally:
                self._db.execute("COMMIT")
        return (meta, rows) if meta else None

    def write(
        self,
        decide: Callable[[dict[str, Any]], WriteKind],
        meta: dict[str, Any],
        rows: Callable[[WriteKind], Iterable[Row]],
    ) -> WriteKind:
        """One write transaction: ``decide`` sees the meta entries the file holds now and says
        whether to replace every record (``full``), upsert ``rows`` (``incremental``) or leave
        the file as it is (``skip``). Raises sqlite3.Error (nothing written)."""
        with self._lock:
            self._db.execute("BEGIN IMMEDIATE")
            try:
                stored = {
                    k: json.loads(v) for k, v in self._db.execute("SELECT key, value FROM meta")
                }
                how = decide(stored)
                if how != "skip":
                    if how == "full":
                        self._db.execute("DELETE FROM records")
                    self._db.executemany(
                        "INSERT INTO records (kind, key, value) VALUES (?, ?, ?) "
                        "ON CONFLICT (kind, key) DO UPDATE SET value = excluded.value",
                        rows(how),
                    )
                    self._db.executemany(
                        "INSERT INTO meta (key, value) VALUES (?, ?) "
                        "ON CONFLICT (key) DO UPDATE SET value = excluded.value",
                        [(k, json.dumps(v, ensure_ascii=False)) for k, v in meta.items()],
                    )
                self._db.execute("COMMIT")
            except BaseException:
                self._db.execute("ROLLBACK")
                raise
        return how

    def close(self) -> None:
        with self._lock:
            self._db.close()
