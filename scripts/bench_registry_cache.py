"""What keeping the registry index in its SQLite file costs, for an index of 1 M credentials.

A million credentials anchored in batches of 1,000 are 1,000 anchors; ``--statuses`` status
events (default 10,000: one credential in a hundred revoked, suspended or superseded) on top,
two authorities with a key each. Timed in the same run, medians:

- the first write (every record, as a new or rebuilt index writes), and the file's bytes;
- loading it (what a restarted process does before it reads any block);
- one sync's write (one anchored batch and ``--per-sync`` status changes: only those rows and
  the block), against the one-blob format it replaces (the whole index as one JSON value
  rewritten at every sync); the ratio says what the rows save.
"""

from __future__ import annotations

import argparse
import json
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import cast

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from verifier._index_store import IndexStore
from verifier.chain import Chain
from verifier.registry import (
    AnchorRecord,
    AuthorityRecord,
    KeyRecord,
    RegistryIndex,
    StatusRecord,
)

TRUST = "0x" + "11" * 20
ANCHOR = "0x" + "22" * 20
NO_CHAIN = cast(Chain, None)  # the writes below never ask the chain (one process, in order)


def synthetic(batches: int, statuses: int, rng: random.Random) -> RegistryIndex:
    index = RegistryIndex(chain_id=1337, trust_registry=TRUST, anchor_registry=ANCHOR)
    index.start_block = index.pinned_block = 1
    index.pinned_hash = "0x" + "33" * 32
    for i in (1, 2):
        did = f"did:web:authority-{i}.gz.gov.cn"
        index.authorities[i] = AuthorityRecord(
            i, did, "广州市来穗人员服务管理局", "Guangzhou", 440100, ("ResidencePermit",),
            "0x" + f"{i:02x}" * 20, 1, 1_700_000_000,
        )  # fmt: skip
        index._by_did[did] = i
        index.keys[(i, "key-1")] = KeyRecord(i, "key-1", rng.randbytes(32), 1_700_000_000)
    for n in range(batches):
        add_anchor(index, rng, 2 + n)
    for _ in range(statuses):
        add_status(index, rng, 2 + batches)
    index.synced_block = 2 + batches
    index.synced_block_hash = "0x" + rng.randbytes(32).hex()
    return index


def add_anchor(index: RegistryIndex, rng: random.Random, block: int) -> None:
    root = rng.randbytes(32)
    index.anchors[root] = AnchorRecord(
        root, 1 + block % 2, 1000, 1_700_000_000 + block, block, "0x" + rng.randbytes(32).hex()
    )
    index._changed("anchor", root)


def add_status(index: RegistryIndex, rng: random.Random, block: int) -> None:
    key = (1 + block % 2, rng.randbytes(32))
    index.statuses[key] = StatusRecord(*key, 1, 14, 1_700_000_000 + block, block)
    index._changed("status", key)


def blob_write(db: sqlite3.Connection, index: RegistryIndex) -> None:
    """The format this replaces: the whole index, one JSON value, at every sync."""
    with db:
        db.execute(
            "INSERT INTO state (key, value) VALUES ('index', ?) "
            "ON CONFLICT(key) DO UPDATE SET value = excluded.value",
            (json.dumps(index.to_json(), ensure_ascii=False),),
        )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--credentials", type=int, default=1_000_000)
    parser.add_argument("--batch", type=int, default=1_000, help="credentials an anchor")
    parser.add_argument("--statuses", type=int, default=10_000)
    parser.add_argument("--per-sync", type=int, default=10, help="status changes a sync")
    parser.add_argument("--rounds", type=int, default=30)
    args = parser.parse_args()
    rng = random.Random(20)
    batches = args.credentials // args.batch
    load = os.getloadavg()[0]

    with tempfile.TemporaryDirectory(prefix="suixin-registry-cache-") as tmp:
        firsts, loads = [], []
        for n in range(3):
            path = Path(tmp) / f"full-{n}.sqlite"
            index = synthetic(batches, args.statuses, rng)
            index._attach(IndexStore(path), loaded=False)
            t = time.perf_counter()
            index._save(NO_CHAIN)
            firsts.append(time.perf_counter() - t)
            t = time.perf_counter()
            loaded = RegistryIndex._load_cache(IndexStore(path))
            loads.append(time.perf_counter() - t)
            assert loaded is not None and len(loaded.anchors) == batches
            assert len(loaded.statuses) == args.statuses
        size = sum(p.stat().st_size for p in Path(tmp).glob("full-0.sqlite*"))

        # one sync's write, rows against the blob, on the same growing index
        assert index._store is not None
        blob = sqlite3.connect(str(Path(tmp) / "blob.sqlite"))
        blob.execute("PRAGMA journal_mode = WAL")
        blob.execute("CREATE TABLE state (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
        blob_write(blob, index)
        rows, blobs = [], []
        for _ in range(args.rounds):
            block = index.synced_block + 1
            add_anchor(index, rng, block)
            for _ in range(args.per_sync):
                add_status(index, rng, block)
            index.synced_block, index.synced_block_hash = block, "0x" + rng.randbytes(32).hex()
            t = time.perf_counter()
            index._save(NO_CHAIN)
            rows.append(time.perf_counter() - t)
            assert not index._dirty and index._written[0] == block
            t = time.perf_counter()
            blob_write(blob, index)
            blobs.append(time.perf_counter() - t)
        blob.close()

    first, loaded_in = statistics.median(firsts), statistics.median(loads)
    row, whole = statistics.median(rows), statistics.median(blobs)
    print(
        f"index of {args.credentials:,} credentials: {batches:,} anchors, "
        f"{args.statuses:,} statuses, 2 authorities (load average {load:.2f})"
    )
    print(f"  first write (every record): {first * 1000:.1f} ms; file {size / 1e6:.2f} MB")
    print(f"  load at start: {loaded_in * 1000:.1f} ms")
    print(
        f"  one sync's write (1 anchor, {args.per_sync} statuses): rows {row * 1000:.2f} ms, "
        f"whole blob {whole * 1000:.1f} ms; ratio rows / blob {row / whole:.3f} "
        f"(medians of {args.rounds})"
    )
    return 0


if __name__ == "__main__":
    sys.exit(main())
