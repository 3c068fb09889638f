"""Checkpoints of the embedded chain's state, so that a restart replays only the journal's tail.

Replaying a journal costs 20-32 ms a block on the 2-core development machine: 315 s for 10,000
blocks (scripts/bench_chain_length.py). What the replay rebuilds is three maps, and a checkpoint
keeps them in one SQLite file (``chain-snapshot.sqlite``), one row per entry:

- py-evm's key-value store (``MemoryDB.kv_store`` under the chain's ``AtomicDB``): headers,
  bodies, receipts, the canonical chain and head keys, every state and storage trie node;
- the transaction index (transaction hash -> block number, ``_DeterministicBackend``);
- the log index (block number -> its raw log entries, ``IndexedTester``).

Each map is a ``RecordingDict``, which notes the keys changed since the last checkpoint and
their values then, so a checkpoint writes only what changed: one SQLite transaction, atomic and
durable (``synchronous=FULL``), so a crash in the middle leaves the previous checkpoint in
force. A first checkpoint, or one after the chain was rewound, writes the whole file beside the
old one and renames it over it.

A checkpoint names what it was taken from: the genesis block's hash, the head's number and hash,
and the journal's length and SHA-256 up to that head's line. It also carries the count of its
entries and an order-free digest of them (the sum of their BLAKE2b hashes modulo 2**256, kept
up to date by each checkpoint from the old and new values of the keys it changes). Loading
checks all of it; on any difference (``SnapshotMismatch``, with the reason) the chain is rebuilt
from the whole journal instead.
"""

from __future__ import annotations

import hashlib
import json
import os
import sqlite3
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

__all__ = [
    "SNAPSHOT_NAME",
    "Changes",
    "Checkpoint",
    "RecordingDict",
    "SnapshotFile",
    "SnapshotMismatch",
    "decode_logs",
    "encode_logs",
]

SNAPSHOT_NAME = "chain-snapshot.sqlite"
_FORMAT = 1
_MODULUS = 2**256

# the three maps, as stored: (space number, name)
EVM, TRANSACTIONS, LOGS = 0, 1, 2
SPACES = {EVM: "py-evm database", TRANSACTIONS: "transaction index", LOGS: "log index"}

_MISSING = object()


class SnapshotMismatch(Exception):
    """The snapshot cannot stand for the journal: unreadable, from another chain or journal,
    or damaged. ``str(e)`` says which."""


class RecordingDict(dict[Any, Any]):
    """A dict that remembers, for each key set or removed since ``take()``, its value then
    (``_MISSING`` when it had none): what a checkpoint needs to write, and to update its
    digest, without walking the whole map."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.prior: dict[Any, Any] = {}

    def _note(self, key: Any) -> None:
        if key not in self.prior:
            self.prior[key] = dict.get(self, key, _MISSING)

    def __setitem__(self, key: Any, value: Any) -> None:
        self._note(key)
        super().__setitem__(key, value)

    def __delitem__(self, key: Any) -> None:
        self._note(key)
        super().__delitem__(key)

    def pop(self, key: Any, *default: Any) -> Any:
        if key in self:
            self._note(key)
        return super().pop(key, *default)

    def setdefault(self, key: Any, default: Any = None) -> Any:
        if key not in self:
            self._note(key)
        return super().setdefault(key, default)

    def update(self, *args: Any, **kwargs: Any) -> None:
        for key, value in dict(*args, **kwargs).items():
            self[key] = value

    def clear(self) -> None:
        for key in list(self):
            self._note(key)
        super().clear()

    def popitem(self) -> tuple[Any, Any]:
        key, value = super().popitem()
        self.prior.setdefault(key, value)
        return key, value

    def take(self) -> dict[Any, Any]:
        """The changes since the last ``take()``: key -> value then (``_MISSING``: none)."""
        prior, self.prior = self.prior, {}
        return prior


# ---------------------------------------------------------------------- encodings

_BYTES_FIELDS = ("transaction_hash", "block_hash", "address", "data")


def encode_logs(entries: list[dict[str, Any]]) -> bytes:
    """A block's raw log entries (eth-tester's inbound form) as JSON bytes, byte strings in hex."""
    out = []
    for entry in entries:
        item = dict(entry)
        for field in _BYTES_FIELDS:
            item[field] = item[field].hex()
        item["topics"] = [t.hex() for t in item["topics"]]
        out.append(item)
    return json.dumps(out, separators=(",", ":"), sort_keys=True).encode()


def decode_logs(raw: bytes) -> list[dict[str, Any]]:
    """The inverse of ``encode_logs``."""
    entries = json.loads(raw)
    for entry in entries:
        for field in _BYTES_FIELDS:
            entry[field] = bytes.fromhex(entry[field])
        entry["topics"] = [bytes.fromhex(t) for t in entry["topics"]]
    return list(entries)


def _number(value: int) -> bytes:
    return int(value).to_bytes(8, "big")


# how each space's keys and values become bytes
_KEY: dict[int, Callable[[Any], bytes]] = {EVM: bytes, TRANSACTIONS: bytes, LOGS: _number}
_VALUE: dict[int, Callable[[Any], bytes]] = {EVM: bytes, TRANSACTIONS: _number, LOGS: encode_logs}


def _term(space: int, key: bytes, value: bytes) -> int:
    h = hashlib.blake2b(digest_size=32)
    h.update(bytes([space]) + len(key).to_bytes(4, "big") + key)
    h.update(value)
    return int.from_bytes(h.digest(), "big")


# ---------------------------------------------------------------------- the file


@dataclass(frozen=True)
class Checkpoint:
    """What a snapshot was taken from: the chain and the journal's prefix up to its head."""

    genesis_hash: bytes
    head_number: int
    head_hash: bytes
    journal_bytes: int  # the journal's length up to and including the head's line
    journal_sha256: bytes  # of those bytes


# a map and its changes since the last checkpoint (key -> value then), as RecordingDict.take()
Changes = tuple[dict[Any, Any], dict[Any, Any]]


@dataclass
class Loaded:
    """A snapshot's content, checked against its own count and digest."""

    checkpoint: Checkpoint
    evm: dict[bytes, bytes]
    transactions: dict[bytes, int]
    logs: dict[int, list[dict[str, Any]]]
    entries: int
    digest: int


_SCHEMA = """
CREATE TABLE meta (
    format INTEGER NOT NULL, genesis_hash BLOB NOT NULL, head_number INTEGER NOT NULL,
    head_hash BLOB NOT NULL, journal_bytes INTEGER NOT NULL, journal_sha256 BLOB NOT NULL,
    entries INTEGER NOT NULL, digest TEXT NOT NULL
);
CREATE TABLE entries (
    space INTEGER NOT NULL, key BLOB NOT NULL, value BLOB NOT NULL, PRIMARY KEY (space, key)
) WITHOUT ROWID;
"""


def _connect(path: Path) -> sqlite3.Connection:
    connection = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
    connection.execute("PRAGMA synchronous=FULL")
    return connection


class SnapshotFile:
    """The snapshot of one data directory: ``load`` it, ``write_full`` or ``write_changes``.

    ``bytes_written`` and ``seconds_writing`` add up what the writes cost (for the benchmark
    and the node's figures); ``entries`` and ``digest`` describe the content as last written.
    """

    def __init__(self, path: Path) -> None:
        self.path = path
        self.entries = 0
        self.digest = 0
        self.checkpoint: Checkpoint | None = None
        self.writes = 0
        self.seconds_writing = 0.0
        self._connection: sqlite3.Connection | None = None
        # a full write that a crash interrupted leaves its temporary file: never used
        self._temporary.unlink(missing_ok=True)
        Path(str(self._temporary) + "-journal").unlink(missing_ok=True)

    @property
    def _temporary(self) -> Path:
        return self.path.with_name(self.path.name + ".new")

    def size(self) -> int:
        """The file's bytes on disk (0 when there is none)."""
        try:
            return self.path.stat().st_size
        except FileNotFoundError:
            return 0

    def close(self) -> None:
        if self._connection is not None:
            self._connection.close()
            self._connection = None

    # ------------------------------------------------------------------ reading

    def load(self) -> Loaded:
        """The snapshot's content, its entries counted and digested; raises SnapshotMismatch
        when there is none, or it cannot be read, or its content is not what it says."""
        if not self.path.exists():
            raise SnapshotMismatch("there is no snapshot")
        try:  # read-write: a write a crash interrupted is rolled back from its journal
            connection = sqlite3.connect(self.path)
        except sqlite3.Error as e:
            raise SnapshotMismatch(f"the snapshot cannot be opened: {e}") from e
        try:
            return self._read(connection)
        except sqlite3.Error as e:
            raise SnapshotMismatch(f"the snapshot cannot be read: {e}") from e
        finally:
            connection.close()

    def _read(self, connection: sqlite3.Connection) -> Loaded:
        rows = connection.execute("SELECT * FROM meta").fetchall()
        if len(rows) != 1 or rows[0][0] != _FORMAT:
            raise SnapshotMismatch(f"the snapshot is not a format {_FORMAT} chain snapshot")
        _, genesis, number, head, journal_bytes, journal_sha256, entries, digest = rows[0]
        checkpoint = Checkpoint(bytes(genesis), number, bytes(head), journal_bytes, journal_sha256)
        evm: dict[bytes, bytes] = {}
        transactions: dict[bytes, int] = {}
        logs: dict[int, list[dict[str, Any]]] = {}
        count = 0
        total = 0
        for space, key, value in connection.execute("SELECT space, key, value FROM entries"):
            count += 1
            total += _term(space, key, value)
            if space == EVM:
                evm[key] = value
            elif space == TRANSACTIONS:
                transactions[key] = int.from_bytes(value, "big")
            elif space == LOGS:
                logs[int.from_bytes(key, "big")] = decode_logs(value)
            else:
                raise SnapshotMismatch(f"the snapshot holds an unknown kind of entry ({space})")
        total %= _MODULUS
        if count != entries or format(total, "064x") != digest:
            raise SnapshotMismatch(
                f"the snapshot's content is damaged: {count:,} entries with digest "
                f"{total:064x}, where it recorded {entries:,} with {digest}"
            )
        self.checkpoint, self.entries, self.digest = checkpoint, count, total
        return Loaded(checkpoint, evm, transactions, logs, count, total)

    # ------------------------------------------------------------------ writing

    def write_full(self, checkpoint: Checkpoint, maps: dict[int, dict[Any, Any]]) -> None:
        """Write every entry of ``maps`` (space -> map) as a new snapshot, then put it in place
        of the old one by a rename: until then the old one stands."""
        self.close()
        temporary = self._temporary
        temporary.unlink(missing_ok=True)
        os.close(os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))
        rows = list(_rows(maps))
        digest = sum(_term(s, k, v) for s, k, v in rows) % _MODULUS
        connection = _connect(temporary)
        try:
            connection.executescript(_SCHEMA)
            connection.execute("BEGIN")
            connection.executemany("INSERT INTO entries VALUES (?, ?, ?)", rows)
            connection.execute(
                "INSERT INTO meta VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _meta(checkpoint, len(rows), digest),
            )
            connection.execute("COMMIT")
        finally:
            connection.close()
        os.replace(temporary, self.path)
        _sync_directory(self.path.parent)
        self.checkpoint, self.entries, self.digest = checkpoint, len(rows), digest
        self.writes += 1

    def write_changes(self, checkpoint: Checkpoint, changes: dict[int, Changes]) -> None:
        """Apply the entries changed since the last write (space -> (map, key -> value
        then)) in one transaction, with the checkpoint's description."""
        upserts: list[tuple[int, bytes, bytes]] = []
        deletes: list[tuple[int, bytes]] = []
        entries, digest = self.entries, self.digest
        for space, (current, prior) in changes.items():
            encode_key, encode_value = _KEY[space], _VALUE[space]
            for key, before in prior.items():
                raw_key = encode_key(key)
                after = dict.get(current, key, _MISSING)
                if before is not _MISSING:
                    entries -= 1
                    digest -= _term(space, raw_key, encode_value(before))
                if after is _MISSING:
                    deletes.append((space, raw_key))
                else:
                    raw_value = encode_value(after)
                    entries += 1
                    digest += _term(space, raw_key, raw_value)
                    upserts.append((space, raw_key, raw_value))
        digest %= _MODULUS
        if self._connection is None:
            self._connection = _connect(self.path)
        connection = self._connection
        connection.execute("BEGIN")
        try:
            connection.executemany("DELETE FROM entries WHERE space = ? AND key = ?", deletes)
            connection.executemany("INSERT OR REPLACE INTO entries VALUES (?, ?, ?)", upserts)
            connection.execute("DELETE FROM meta")
            connection.execute(
                "INSERT INTO meta VALUES (?, ?, ?, ?, ?, ?, ?, ?)",
                _meta(checkpoint, entries, digest),
            )
            connection.execute("COMMIT")
        except BaseException:
            connection.execute("ROLLBACK")
            raise
        self.checkpoint, self.entries, self.digest = checkpoint, entries, digest
        self.writes += 1


def _rows(maps: dict[int, dict[Any, Any]]) -> Iterator[tuple[int, bytes, bytes]]:
    for space, current in maps.items():
        encode_key, encode_value = _KEY[space], _VALUE[space]
        for key, value in current.items():
            yield space, encode_key(key), encode_value(value)


def _meta(checkpoint: Checkpoint, entries: int, digest: int) -> tuple[Any, ...]:
    return (
        _FORMAT,
        checkpoint.genesis_hash,
        checkpoint.head_number,
        checkpoint.head_hash,
        checkpoint.journal_bytes,
        checkpoint.journal_sha256,
        entries,
        format(digest, "064x"),
    )


def _sync_directory(directory: Path) -> None:
    """Make a rename in ``directory`` durable."""
    fd = os.open(directory, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)
