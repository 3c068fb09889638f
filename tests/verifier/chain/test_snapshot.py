"""A restarted embedded chain loads its state snapshot and replays only the journal's tail; a
snapshot that does not match the journal is set aside, saying why, for a full replay."""

from __future__ import annotations

import logging
import re
import shutil
import sqlite3
import stat
import subprocess
import sys
import textwrap
from pathlib import Path
from typing import Any

import pytest
from eth_account import Account
from eth_utils import to_checksum_address

from service.trust.deployment import Deployment, deploy_registries
from tests.conftest import Registries, funded
from tests.verifier.chain.registries import ANCHOR, DID, TRUST, anchor, populate
from tests.verifier.office import GZ_PERMITS, Office
from verifier.chain import EmbeddedChain
from verifier.chain._snapshot import SNAPSHOT_NAME
from verifier.chain.embedded import JOURNAL_NAME, SNAPSHOT_EVERY
from verifier.verify import Verdict, Verifier

ROOT = Path(__file__).resolve().parents[3]


def _state(chain: EmbeddedChain, d: Deployment, accounts: list[str]) -> dict[str, Any]:
    """Everything a restart must give back: every block's hash, every log, the balances and
    nonces of the accounts, the registries' code and storage, what their views answer."""
    w3 = chain.w3
    head = chain.block_number()
    registries = [to_checksum_address(a) for a in (d.trust_registry, d.anchor_registry)]
    return {
        "hashes": [chain.block(n).hash for n in range(head + 1)],
        "logs": chain.get_logs(registries, 0, head),
        "accounts": [
            (w3.eth.get_balance(a), w3.eth.get_transaction_count(a))  # type: ignore[arg-type]
            for a in [to_checksum_address(x) for x in accounts]
        ],
        "code": [w3.eth.get_code(a) for a in registries],  # type: ignore[arg-type]
        "storage": [
            w3.eth.get_storage_at(a, slot)  # type: ignore[arg-type]
            for a in registries
            for slot in range(12)
        ],
        "anchors": [
            chain.call(d.anchor_registry, ANCHOR, "anchorOf", [(n + 1).to_bytes(32)])
            for n in range(40)
        ],
        "key": chain.call(d.trust_registry, TRUST, "keyOf", [DID, "key-1"]),
    }


def _crash_copy(source: Path, target: Path) -> Path:
    """The data directory's journal and snapshot as they stand: what a process killed at this
    moment leaves (the journal is synced before a block is acknowledged, a checkpoint is one
    committed transaction)."""
    target.mkdir()
    for name in (JOURNAL_NAME, SNAPSHOT_NAME):
        if (source / name).exists():
            shutil.copy2(source / name, target / name)
    return target


@pytest.fixture
def grown(tmp_path: Path) -> tuple[Path, Deployment, list[str], dict[str, Any], int]:
    """A chain of some 75 blocks with checkpoints every 20, closed; its state before."""
    data = tmp_path / "data"
    chain = EmbeddedChain(data, snapshot_every=20)
    d, authority = populate(chain)
    for n in range(20):
        anchor(chain, d, authority, n)
    accounts = [authority.address, chain.dev_funder().address]
    for _ in range(50):
        chain.send_value(chain.dev_funder(), authority.address, 1)
    state = _state(chain, d, accounts)
    head = chain.block_number()
    chain.close()
    return data, d, accounts, state, head


def test_a_restart_loads_the_snapshot_and_replays_only_the_tail(tmp_path: Path) -> None:
    data = tmp_path / "data"
    chain = EmbeddedChain(data, snapshot_every=20)
    d, authority = populate(chain)
    for n in range(30):
        anchor(chain, d, authority, n)
    accounts = [authority.address, chain.dev_funder().address]
    assert chain.snapshot is not None and chain.snapshot.checkpoint is not None
    checkpointed = chain.snapshot.checkpoint.head_number
    head = chain.block_number()
    assert checkpointed % 20 == 0 and 0 < head - checkpointed < 20
    crashed = _crash_copy(data, tmp_path / "crashed")
    state = _state(chain, d, accounts)
    chain.close()

    again = EmbeddedChain(crashed, snapshot_every=20)
    assert again.snapshot_head == checkpointed and again.snapshot_rejected is None
    assert again.replayed_blocks == head - checkpointed  # the tail, not the chain
    assert _state(again, d, accounts) == state
    # it goes on: a new block on top, and a replay of the whole journal agrees with it
    anchor(again, d, authority, 31)
    after = _state(again, d, accounts)
    again.close()
    (crashed / SNAPSHOT_NAME).unlink()
    replayed = EmbeddedChain(crashed)
    assert replayed.snapshot_head is None and replayed.replayed_blocks == head + 1
    assert _state(replayed, d, accounts) == after
    replayed.close()


def test_a_closed_chain_checkpoints_its_head_and_the_next_start_replays_nothing(
    grown: tuple[Path, Deployment, list[str], dict[str, Any], int],
) -> None:
    data, d, accounts, state, head = grown
    again = EmbeddedChain(data)
    assert again.snapshot_head == head and again.replayed_blocks == 0
    assert _state(again, d, accounts) == state
    again.close()
    mode = stat.S_IMODE((data / SNAPSHOT_NAME).stat().st_mode)
    assert mode == 0o600
    assert sorted(p.name for p in data.iterdir()) == [
        "chain-journal.jsonl",
        "chain-journal.lock",
        SNAPSHOT_NAME,
    ]


def _damage_a_row(path: Path) -> None:
    with sqlite3.connect(path) as db:
        (key,) = db.execute("SELECT key FROM entries WHERE space = 0 LIMIT 1 OFFSET 50").fetchone()
        db.execute("UPDATE entries SET value = x'00' WHERE space = 0 AND key = ?", (key,))
    db.close()


def _truncate(path: Path) -> None:
    size = path.stat().st_size
    with path.open("r+b") as f:
        f.truncate(size // 2)


def _wrong_head_hash(path: Path) -> None:
    with sqlite3.connect(path) as db:
        db.execute("UPDATE meta SET head_hash = ?", (b"\x07" * 32,))
    db.close()


def _not_a_database(path: Path) -> None:
    path.write_bytes(b"not a snapshot at all" * 100)


@pytest.mark.parametrize(
    ("damage", "reason"),
    [
        (_damage_a_row, "content is damaged"),
        (_truncate, "cannot be read|content is damaged"),
        (_wrong_head_hash, "head hash 0x0707"),
        (_not_a_database, "cannot be read"),
    ],
)
def test_a_damaged_snapshot_falls_back_to_the_whole_journal_saying_why(
    grown: tuple[Path, Deployment, list[str], dict[str, Any], int],
    caplog: pytest.LogCaptureFixture,
    damage: Any,
    reason: str,
) -> None:
    data, d, accounts, state, head = grown
    damage(data / SNAPSHOT_NAME)
    with caplog.at_level(logging.WARNING, logger="verifier.chain"):
        again = EmbeddedChain(data)
    assert again.snapshot_rejected is not None
    assert again.snapshot_head is None and again.replayed_blocks == head
    (record,) = [r for r in caplog.records if r.name == "verifier.chain"]
    assert "is not used" in record.getMessage() and "replaying the whole journal" in (
        record.getMessage()
    )
    assert re.search(reason, record.getMessage()), record.getMessage()
    assert _state(again, d, accounts) == state
    again.close()
    # the full replay wrote a sound snapshot again
    third = EmbeddedChain(data)
    assert third.snapshot_head == head and third.replayed_blocks == 0
    third.close()


def test_a_snapshot_of_another_journal_is_not_used(
    tmp_path: Path,
    grown: tuple[Path, Deployment, list[str], dict[str, Any], int],
    caplog: pytest.LogCaptureFixture,
) -> None:
    data, _, _, _, head = grown
    # a journal restored from a backup taken earlier: shorter than what the snapshot holds
    lines = (data / JOURNAL_NAME).read_bytes().splitlines(keepends=True)
    earlier = tmp_path / "earlier"
    earlier.mkdir()
    (earlier / JOURNAL_NAME).write_bytes(b"".join(lines[:-5]))
    shutil.copy2(data / SNAPSHOT_NAME, earlier / SNAPSHOT_NAME)
    with caplog.at_level(logging.WARNING, logger="verifier.chain"):
        restored = EmbeddedChain(earlier)
    assert restored.snapshot_rejected is not None and "the journal has" in (
        restored.snapshot_rejected
    )
    assert restored.block_number() == head - 5 and restored.replayed_blocks == head - 5
    restored.close()

    # another chain's journal, longer: other accounts, other registries, other blocks
    other = tmp_path / "other"
    chain = EmbeddedChain(other)
    d, authority = populate(chain)
    for n in range(20):
        anchor(chain, d, authority, n)
    for _ in range(55):
        chain.send_value(chain.dev_funder(), Account.create().address, 1)
    length = chain.block_number()
    chain.close()
    shutil.copy2(data / SNAPSHOT_NAME, other / SNAPSHOT_NAME)
    with caplog.at_level(logging.WARNING, logger="verifier.chain"):
        foreign = EmbeddedChain(other)
    assert foreign.snapshot_rejected is not None
    assert "are not those it was taken from" in foreign.snapshot_rejected
    assert foreign.replayed_blocks == length and length > head
    foreign.close()


_CRASHING_CHILD = textwrap.dedent(
    """
    import os, sys
    from pathlib import Path
    from eth_account import Account
    from verifier.chain import EmbeddedChain
    from verifier.chain import _snapshot

    data, where = Path(sys.argv[1]), sys.argv[2]
    chain = EmbeddedChain(data, snapshot_every=20)
    for _ in range(45):
        chain.send_value(chain.dev_funder(), Account.create().address, 1)
    print(chain.snapshot.checkpoint.head_number, chain.block_number(), flush=True)

    real_connect = _snapshot._connect

    class Dying:
        # a connection that kills the process once it has written part of a checkpoint
        def __init__(self, connection):
            self.connection = connection
            self.connection.execute("PRAGMA cache_size=1")  # pages spill into the file

        def __getattr__(self, name):
            return getattr(self.connection, name)

        def executemany(self, sql, rows):
            rows = list(rows)
            self.connection.executemany(sql, rows[: len(rows) // 2])
            if sql.startswith("INSERT"):
                os._exit(9)
            return self.connection.executemany(sql, rows[len(rows) // 2 :])

    _snapshot._connect = lambda path: Dying(real_connect(path))
    if where == "full":  # as if the snapshot had been set aside: the next one is written whole
        chain.snapshot.checkpoint = None
    chain.snapshot.close()  # the next checkpoint connects anew, through Dying
    for _ in range(20):
        chain.send_value(chain.dev_funder(), Account.create().address, 1)
    print("not killed", flush=True)
    """
)


@pytest.mark.parametrize("where", ["changes", "full"])
def test_a_crash_in_the_middle_of_a_checkpoint_leaves_the_previous_one_in_force(
    tmp_path: Path, where: str
) -> None:
    journaled = 60  # the checkpoint after the one at block 40
    data = tmp_path / "data"
    child = subprocess.run(
        [sys.executable, "-c", _CRASHING_CHILD, str(data), where],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=300,
    )
    assert child.returncode == 9, child.stdout + child.stderr
    checkpointed, head_then = map(int, child.stdout.split())
    assert checkpointed == 40 and head_then == 45
    # it died in the middle: the interrupted transaction's journal, or the unfinished new file
    left = SNAPSHOT_NAME + ("-journal" if where == "changes" else ".new")
    assert (data / left).stat().st_size > 0
    # the block whose checkpoint died was journaled first
    assert len((data / JOURNAL_NAME).read_bytes().splitlines()) - 1 == journaled

    again = EmbeddedChain(data)
    assert again.snapshot_rejected is None and again.snapshot_head == checkpointed
    assert again.replayed_blocks == journaled - checkpointed
    assert again.block_number() == journaled
    hashes = [again.block(n).hash for n in range(journaled + 1)]
    again.close()
    (data / SNAPSHOT_NAME).unlink()
    replayed = EmbeddedChain(data)
    assert [replayed.block(n).hash for n in range(journaled + 1)] == hashes
    replayed.close()
    assert not list(data.glob("*.new*"))  # a full write's leftovers are cleared


@pytest.mark.slow
def test_after_thousands_of_blocks_a_restart_replays_only_the_tail_and_verifies(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    chain = EmbeddedChain(data)  # checkpoints every SNAPSHOT_EVERY blocks
    root = funded(chain)
    registries = Registries(chain=chain, root=root, deployment=deploy_registries(chain, root))
    office = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = office.anchor(office.permit())  # in the chain's first blocks
    funder = chain.dev_funder()
    nonce = chain.w3.eth.get_transaction_count(funder.address)
    to = Account.create().address
    for i in range(2_050):  # one journaled block each
        tx = {"to": to, "value": 1, "gas": 21_000, "gasPrice": 10**10, "nonce": nonce + i}
        chain.send_raw(bytes(Account.sign_transaction(tx, funder.key).raw_transaction))
    chain._next_nonce.clear()
    head = chain.block_number()
    assert head > 2_000 and chain.snapshot is not None and chain.snapshot.checkpoint is not None
    checkpointed = chain.snapshot.checkpoint.head_number
    assert 0 < head - checkpointed < SNAPSHOT_EVERY
    crashed = _crash_copy(data, tmp_path / "crashed")
    hashes = [chain.block(n).hash for n in range(0, head + 1, 37)] + [chain.block().hash]
    balance = chain.w3.eth.get_balance(to)
    chain.close()

    again = EmbeddedChain(crashed)
    assert again.snapshot_head == checkpointed and again.snapshot_rejected is None
    assert again.replayed_blocks == head - checkpointed
    assert [again.block(n).hash for n in range(0, head + 1, 37)] + [again.block().hash] == hashes
    assert again.w3.eth.get_balance(to) == balance == 2_050
    verifier = Verifier.from_chain(again, registries.anchor, deployment=registries.deployment)
    report = verifier.verify(bundle)
    assert report.verdict is Verdict.VALID, report
    again.close()


def test_a_checkpoint_that_fails_is_logged_and_the_next_one_writes_everything(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    data = tmp_path / "data"
    chain = EmbeddedChain(data, snapshot_every=10)
    funder = chain.dev_funder()
    for _ in range(12):
        chain.send_value(funder, Account.create().address, 1)
    assert chain.snapshot is not None and chain.snapshot.checkpoint is not None
    assert chain.snapshot.checkpoint.head_number == 10

    def full_disk(*args: Any) -> None:
        raise sqlite3.OperationalError("database or disk is full")

    monkeypatch.setattr(type(chain.snapshot), "write_changes", full_disk)
    with caplog.at_level(logging.WARNING, logger="verifier.chain"):
        for _ in range(10):
            chain.send_value(funder, Account.create().address, 1)  # block 20's checkpoint fails
    assert chain.block_number() == 22
    (record,) = [r for r in caplog.records if r.name == "verifier.chain"]
    assert "could not be written (database or disk is full)" in record.getMessage()
    assert chain.snapshot.checkpoint is None  # what is on disk is behind: rewrite it whole
    monkeypatch.undo()
    hashes = [chain.block(n).hash for n in range(23)]
    chain.close()  # a full write, since the changes of the failed one were taken

    again = EmbeddedChain(data)
    assert again.snapshot_head == 22 and again.replayed_blocks == 0
    assert [again.block(n).hash for n in range(23)] == hashes
    again.close()


def test_an_idle_chain_checkpoints_a_short_burst_and_a_crash_then_replays_nothing(
    tmp_path: Path,
) -> None:
    data = tmp_path / "data"
    chain = EmbeddedChain(data, snapshot_every=100)
    d, authority = populate(chain)  # a burst of a few blocks, far from the 100th
    accounts = [authority.address, chain.dev_funder().address]
    head = chain.block_number()
    assert chain.snapshot is not None
    before = chain.snapshot.checkpoint
    assert before is None or before.head_number < head
    assert not chain.checkpoint_if_idle(60.0)  # blocks came just now: not idle yet
    assert chain.checkpoint_if_idle(0.0)
    assert chain.snapshot.checkpoint is not None and chain.snapshot.checkpoint.head_number == head
    assert not chain.checkpoint_if_idle(0.0)  # nothing new since: nothing written
    crashed = _crash_copy(data, tmp_path / "crashed")
    state = _state(chain, d, accounts)
    chain.close()

    again = EmbeddedChain(crashed, snapshot_every=100)
    assert again.snapshot_head == head and again.replayed_blocks == 0
    assert _state(again, d, accounts) == state
    again.close()
