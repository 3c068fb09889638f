"""The registry index kept in a SQLite file: loaded at once, synced from its block, never
trusted blindly (stale, foreign, corrupt files fall back), shared by processes."""

from __future__ import annotations

import json
import logging
import sqlite3
import subprocess
import sys
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest

from service.anchoring.node import ChainNodeServer
from service.trust.deployment import deploy_registries
from tests.conftest import Registries, funded
from tests.verifier.office import GZ_PERMITS, Office
from verifier._index_store import IndexStore
from verifier.chain import Chain, EmbeddedChain
from verifier.policy import Policy
from verifier.registry import CredentialStatus, RegistryIndex
from verifier.verify import Verdict, Verifier


class LogRanges:
    """Records the block ranges of every log query made through ``chain``."""

    def __init__(self, chain: Chain, monkeypatch: pytest.MonkeyPatch) -> None:
        self.ranges: list[tuple[int, int]] = []
        original = chain.get_logs

        def recording(addresses: Any, start: int, end: int) -> Any:
            self.ranges.append((start, end))
            return original(addresses, start, end)

        monkeypatch.setattr(chain, "get_logs", recording)


def _fresh(registries: Registries) -> RegistryIndex:
    """The index read from the deployment block with no cache: what a cached one must equal."""
    index = RegistryIndex.for_deployment(registries.deployment)
    index.sync(registries.chain)
    return index


def _same(a: RegistryIndex, b: RegistryIndex) -> None:
    assert (a.synced_block, a.synced_block_hash) == (b.synced_block, b.synced_block_hash)
    assert a.authorities == b.authorities and a.keys == b.keys
    assert a.anchors == b.anchors and a.statuses == b.statuses
    assert a.status_lists == b.status_lists


def test_a_restarted_verifier_reads_only_the_blocks_after_its_cache(
    registries: Registries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    early = gz.anchor(gz.permit(), gz.permit())
    cache = tmp_path / "registry-index.sqlite"
    d = registries.deployment
    first = Verifier.from_chain(registries.chain, d.anchor_registry, deployment=d, cache_path=cache)
    assert first.verify(early[0]).verdict is Verdict.VALID
    written = first.index.synced_block
    # the office goes on after the first process stopped: a batch and a revocation
    (late,) = gz.anchor(gz.permit())
    gz.set_status(early[1]["credential"], CredentialStatus.REVOKED)

    queries = LogRanges(registries.chain, monkeypatch)
    again = Verifier.from_chain(registries.chain, d.anchor_registry, deployment=d, cache_path=cache)
    assert again.index.synced_block == written  # loaded, no chain call yet
    assert again.index.sync(registries.chain) == 2  # the anchor and the status change only
    assert queries.ranges and min(start for start, _ in queries.ranges) == written + 1
    assert again.verify(late).verdict is Verdict.VALID
    assert again.verify(early[0]).verdict is Verdict.VALID
    assert again.verify(early[1]).verdict is Verdict.INVALID
    _same(again.index, _fresh(registries))


def test_a_cache_whose_block_is_no_longer_on_the_chain_is_rebuilt(
    registries: Registries,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    cache = tmp_path / "registry-index.sqlite"
    index = RegistryIndex.cached(cache, registries.deployment)
    index.sync(registries.chain)
    # as the file of a chain whose tip was replaced: another hash at its block, and an anchor
    # of a batch the lost block held
    with sqlite3.connect(cache) as db:
        block = json.loads(db.execute("SELECT value FROM meta WHERE key = 'block'").fetchone()[0])
        block["hash"] = "0x" + "ee" * 32
        db.execute("UPDATE meta SET value = ? WHERE key = 'block'", (json.dumps(block),))
        lost = {
            **json.loads(
                db.execute("SELECT value FROM records WHERE kind = 'anchor'").fetchone()[0]
            ),
            "root": "ab" * 32,
        }
        db.execute("INSERT INTO records VALUES ('anchor', ?, ?)", ("ab" * 32, json.dumps(lost)))
    loaded = RegistryIndex.cached(cache, registries.deployment)
    assert loaded.anchor(bytes.fromhex("ab" * 32)) is not None  # as the file says, until synced
    queries = LogRanges(registries.chain, monkeypatch)
    with caplog.at_level(logging.WARNING, "verifier.registry"):
        loaded.sync(registries.chain)
    assert "is no longer on the chain" in caplog.text
    assert queries.ranges[0][0] == registries.deployment.block_number  # read again from there
    assert loaded.anchor(bytes.fromhex("ab" * 32)) is None
    _same(loaded, _fresh(registries))
    # and the file was replaced whole: a third process loads the chain's truth
    third = RegistryIndex.cached(cache, registries.deployment)
    _same(third, loaded)
    assert Verifier(third, Policy()).verify(bundle).verdict is Verdict.VALID


def test_a_cache_of_another_deployment_is_set_aside(
    registries: Registries,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    caplog: pytest.LogCaptureFixture,
) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    cache = tmp_path / "registry-index.sqlite"
    other = EmbeddedChain(None)
    try:
        foreign = deploy_registries(other, funded(other))
        stale = RegistryIndex.cached(cache, foreign)
        stale.sync(other)
        assert stale.synced_block >= 0
    finally:
        other.close()
    with caplog.at_level(logging.WARNING, "verifier.registry"):
        index = RegistryIndex.cached(cache, registries.deployment)
    assert "is for another deployment" in caplog.text
    assert index.synced_block == -1 and not index.anchors
    queries = LogRanges(registries.chain, monkeypatch)
    index.sync(registries.chain)
    assert queries.ranges[0][0] == registries.deployment.block_number
    _same(index, _fresh(registries))
    _same(RegistryIndex.cached(cache, registries.deployment), index)  # the file now this one's
    assert Verifier(index, Policy()).verify(bundle).verdict is Verdict.VALID


@pytest.mark.parametrize("damage", ["not a database", "malformed record"])
def test_an_unreadable_or_malformed_cache_is_set_aside(
    registries: Registries, tmp_path: Path, caplog: pytest.LogCaptureFixture, damage: str
) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    cache = tmp_path / "registry-index.sqlite"
    RegistryIndex.cached(cache, registries.deployment).sync(registries.chain)
    if damage == "not a database":
        for suffix in ("-wal", "-shm"):
            Path(f"{cache}{suffix}").unlink(missing_ok=True)
        cache.write_bytes(b"\x00garbage" * 1000)
    else:
        with sqlite3.connect(cache) as db:
            db.execute("UPDATE records SET value = '{\"root\": 1' WHERE kind = 'anchor'")
    with caplog.at_level(logging.WARNING, "verifier.registry"):
        index = RegistryIndex.cached(cache, registries.deployment)
    if damage == "not a database":
        assert "is unreadable" in caplog.text
        assert [p.name for p in tmp_path.glob("registry-index.sqlite.unreadable-*")]
    else:
        assert "is malformed" in caplog.text
    assert index.synced_block == -1
    index.sync(registries.chain)
    _same(index, _fresh(registries))
    _same(RegistryIndex.cached(cache, registries.deployment), index)
    assert Verifier(index, Policy()).verify(bundle).verdict is Verdict.VALID


def test_a_process_behind_another_never_steps_the_file_back(
    registries: Registries, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    gz.anchor(gz.permit())
    cache = tmp_path / "registry-index.sqlite"
    d = registries.deployment
    slow, fast = RegistryIndex.cached(cache, d), RegistryIndex.cached(cache, d)
    slow.sync(registries.chain)
    gz.anchor(gz.permit())
    gz.anchor(gz.permit())
    fast.sync(registries.chain)
    head = fast.synced_block
    gz.anchor(gz.permit())
    assert slow.sync(registries.chain, to_block=head - 1) == 1  # behind what fast wrote
    assert RegistryIndex.cached(cache, d).synced_block == head  # so not written
    slow.sync(registries.chain)  # past it: writes its own changes on top of fast's
    again = RegistryIndex.cached(cache, d)
    _same(again, _fresh(registries))


# ------------------------------------------------------------------------ two processes

_WRITER = """
import json, sys
from pathlib import Path
from verifier.chain import RpcChain
from verifier.deployment import Deployment
from verifier.registry import RegistryIndex
url, record, cache, rounds = sys.argv[1], sys.argv[2], Path(sys.argv[3]), int(sys.argv[4])
chain = RpcChain(url)
index = RegistryIndex.cached(cache, Deployment.load(Path(record)))
for _ in range(rounds):
    index.sync(chain)
print(index.synced_block)
"""


@pytest.fixture
def served(tmp_path: Path) -> Iterator[tuple[Registries, str]]:
    """Registries on an embedded chain served as a node on loopback, for child processes."""
    chain = EmbeddedChain(None)
    server = ChainNodeServer(chain).start()
    try:
        root = funded(chain)
        yield (
            Registries(chain=chain, root=root, deployment=deploy_registries(chain, root)),
            server.url,
        )
    finally:
        server.stop()
        chain.close()


def test_two_processes_share_the_cache_and_a_reader_never_sees_a_torn_write(
    served: tuple[Registries, str], tmp_path: Path
) -> None:
    registries, url = served
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    record = tmp_path / "deployment.json"
    registries.deployment.save(record)
    cache = tmp_path / "registry-index.sqlite"
    writers = [
        subprocess.Popen(
            [sys.executable, "-c", _WRITER, url, str(record), str(cache), "400"],
            stdout=subprocess.PIPE,
            stderr=subprocess.PIPE,
            text=True,
        )
        for _ in range(2)
    ]
    reads = 0
    blocks: set[int] = set()
    try:
        while any(w.poll() is None for w in writers):
            credentials = [gz.permit() for _ in range(3)]
            gz.anchor(*credentials)  # one batch a block, while both processes sync and write
            if gz.rng.random() < 0.3:
                gz.set_status(credentials[0], CredentialStatus.SUSPENDED)
            # a reader: whatever block the file holds, it holds exactly that block's index
            loaded = RegistryIndex._load_cache(IndexStore(cache))
            if loaded is None:
                continue
            reads += 1
            blocks.add(loaded.synced_block)
            expected = _fresh_to(registries, loaded.synced_block)
            assert loaded.synced_block_hash == expected.synced_block_hash
            assert loaded.anchors == expected.anchors and loaded.statuses == expected.statuses
    finally:
        outputs = [w.communicate(timeout=120) for w in writers]
    for writer, (_out, err) in zip(writers, outputs, strict=True):
        assert writer.returncode == 0, err
    assert reads >= 3 and len(blocks) >= 3, (reads, blocks)
    final = RegistryIndex.cached(cache, registries.deployment)
    final.sync(registries.chain)
    _same(final, _fresh(registries))


def _fresh_to(registries: Registries, block: int) -> RegistryIndex:
    index = RegistryIndex.for_deployment(registries.deployment)
    index.sync(registries.chain, to_block=block)
    return index
