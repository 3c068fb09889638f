"""The registry index: events to a local cache, incremental sync, SQLite cache, snapshots."""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest

from tests.conftest import Registries
from tests.verifier.office import GZ_PERMITS, SZ_PERMITS, Office
from verifier.errors import SnapshotError
from verifier.policy import Policy
from verifier.registry import AuthorityStatus, CredentialStatus, RegistryIndex
from verifier.verify import Verdict, Verifier


class CallCounter:
    """Counts JSON-RPC requests that reach the chain's provider."""

    def __init__(self, registries: Registries) -> None:
        self.calls: list[str] = []
        provider: Any = registries.chain.w3.provider
        original = provider.make_request

        def counting(method: Any, params: Any) -> Any:
            self.calls.append(str(method))
            return original(method, params)

        provider.make_request = counting
        provider._request_func_cache = (None, None)  # web3 caches the composed request function


def test_the_index_mirrors_authorities_keys_anchors_and_statuses(registries: Registries) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    gz.set_status(bundle["credential"], CredentialStatus.SUSPENDED, reason=9)
    index = RegistryIndex.for_anchor_registry(registries.chain, registries.anchor)
    assert index.sync(registries.chain) > 0
    auth = index.authority(gz.did)
    assert auth is not None and auth.region == 440100 and auth.name_zh == GZ_PERMITS[1]
    assert auth.credential_types == ("ResidencePermit",)
    assert auth.account == gz.account.address and auth.status == AuthorityStatus.ACTIVE
    key = index.key(auth.id, "key-1")
    assert key is not None and key.public_key == gz.keys["key-1"].public_bytes
    root = bytes.fromhex(bundle["anchor"]["root"][2:])
    anchor = index.anchor(root)
    assert anchor is not None and anchor.block_number == bundle["anchor"]["blockNumber"]
    assert anchor.anchored_at == bundle["anchor"]["blockTime"]
    from verifier.bundle import credential_id_hash

    status = index.status(auth.id, credential_id_hash(bundle["credential"]["id"]))
    assert status is not None and (status.status, status.reason) == (2, 9)


def test_sync_is_incremental(registries: Registries) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    index = RegistryIndex.for_anchor_registry(registries.chain, registries.anchor)
    index.sync(registries.chain)
    first = index.synced_block
    assert index.sync(registries.chain) == 0  # nothing new
    gz.anchor(gz.permit())
    assert index.sync(registries.chain) == 1
    assert index.synced_block > first


def test_a_read_changes_nothing_until_committed_and_a_stale_read_applies_nothing(
    registries: Registries,
) -> None:
    """``sync`` in two halves: ``read`` (the chain, no change here), ``commit`` (no chain)."""
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    index = RegistryIndex.for_anchor_registry(registries.chain, registries.anchor)
    index.sync(registries.chain)
    before = (index.synced_block, index.synced_block_hash, dict(index.anchors))
    (bundle,) = gz.anchor(gz.permit())
    root = bytes.fromhex(bundle["anchor"]["root"][2:])
    read = index.read(registries.chain)
    stale = index.read(registries.chain)
    assert (index.synced_block, index.synced_block_hash, index.anchors) == before
    assert index.anchor(root) is None
    assert index.commit(read) == 1
    anchor = index.anchor(root)
    assert anchor is not None and anchor.block_number == bundle["anchor"]["blockNumber"]
    assert index.synced_block >= bundle["anchor"]["blockNumber"]
    synced = index.synced_block
    assert index.commit(stale) == 0  # made from the block before: another commit came first
    assert index.synced_block == synced and index.anchor(root) == anchor


def test_after_the_first_sync_verifying_1000_bundles_makes_no_chain_call(
    registries: Registries,
) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    credentials = [gz.permit() for _ in range(100)]
    bundles = gz.anchor(*credentials)
    verifier = Verifier.from_chain(
        registries.chain, registries.anchor, Policy(sync_interval=timedelta(hours=1))
    )
    assert verifier.verify(bundles[0]).verdict is Verdict.VALID  # the first sync
    counter = CallCounter(registries)
    verdicts = [verifier.verify(bundles[i % 100]).verdict for i in range(1000)]
    assert verdicts == [Verdict.VALID] * 1000
    assert counter.calls == []
    # and once the interval has passed, the verifier does read the chain again
    verifier.refresh(force=True)
    assert counter.calls


def test_a_revocation_is_seen_after_one_sync_interval(registries: Registries) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    now = [datetime.now(UTC)]
    verifier = Verifier.from_chain(
        registries.chain,
        registries.anchor,
        Policy(sync_interval=timedelta(seconds=5), clock=lambda: now[0]),
    )
    assert verifier.verify(bundle).verdict is Verdict.VALID
    gz.set_status(bundle["credential"], CredentialStatus.REVOKED)
    assert verifier.verify(bundle).verdict is Verdict.VALID  # inside the interval: cached
    now[0] += timedelta(seconds=6)
    assert verifier.verify(bundle).verdict is Verdict.INVALID


def test_the_sqlite_cache_survives_a_restart(registries: Registries, tmp_path: Path) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    cache = tmp_path / "trust.sqlite"
    first = RegistryIndex.open(cache, registries.chain, registries.anchor)
    first.sync(registries.chain)
    again = RegistryIndex.open(cache, registries.chain, registries.anchor)
    assert again.synced_block == first.synced_block
    assert again.authority(gz.did) == first.authority(gz.did)
    assert again.anchors == first.anchors
    counter = CallCounter(registries)
    assert again.sync(registries.chain) == 0
    assert len(counter.calls) <= 2  # the head and the synced block's hash, no logs
    assert Verifier(again, Policy()).verify(bundle).verdict is Verdict.VALID


def test_a_snapshot_verifies_offline_and_reports_its_age(
    registries: Registries, tmp_path: Path
) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    sz = Office.accredit(registries, SZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    (revoked,) = sz.anchor(sz.permit(residenceRegion="440305"))
    sz.set_status(revoked["credential"], CredentialStatus.REVOKED)
    online = RegistryIndex.for_anchor_registry(registries.chain, registries.anchor)
    online.sync(registries.chain)
    path = tmp_path / "trust-snapshot.json"
    header = online.export_snapshot(path)
    assert header["block"]["hash"] == registries.chain.block(online.synced_block).hash

    offline = Verifier.from_snapshot(path)
    report = offline.verify(bundle)
    assert report.verdict is Verdict.VALID
    assert report.trust.kind == "snapshot" and report.trust.block_number == online.synced_block
    assert report.warnings == ()
    assert offline.verify(revoked).verdict is Verdict.INVALID

    later = datetime.now(UTC) + timedelta(days=3)
    stale = Verifier.from_snapshot(
        path, Policy(max_snapshot_age=timedelta(hours=24), clock=lambda: later)
    )
    old = stale.verify(bundle)
    assert [w.code for w in old.warnings] == ["snapshot_stale"]
    assert old.trust.age_seconds >= 3 * 86400 - 120  # the embedded chain may run ahead
    assert "小时" in old.warnings[0].zh


def test_an_altered_or_broken_snapshot_is_refused(registries: Registries, tmp_path: Path) -> None:
    Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    index = RegistryIndex.for_anchor_registry(registries.chain, registries.anchor)
    index.sync(registries.chain)
    path = tmp_path / "snap.json"
    index.export_snapshot(path)
    document = json.loads(path.read_text())
    document["snapshot"]["authorities"][0]["region"] = 440300
    path.write_text(json.dumps(document))
    with pytest.raises(SnapshotError, match="altered"):
        Verifier.from_snapshot(path)
    path.write_text("{not json")
    with pytest.raises(SnapshotError, match="cannot read"):
        Verifier.from_snapshot(path)
    with pytest.raises(SnapshotError):
        Verifier.from_snapshot(tmp_path / "missing.json")


def test_keys_of_either_algorithm_are_indexed_and_kept_in_snapshots(
    registries: Registries, tmp_path: Path
) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    sm2 = gz.add_key("key-2", "SM2")
    (bundle,) = gz.anchor(gz.permit())  # signed with the SM2 key
    assert bundle["credential"]["proof"]["cryptosuite"] == "suixin-sm2-jcs-2025"
    index = RegistryIndex.for_anchor_registry(registries.chain, registries.anchor)
    index.sync(registries.chain)
    auth = index.authority(gz.did)
    assert auth is not None
    first, second = index.key(auth.id, "key-1"), index.key(auth.id, "key-2")
    assert first is not None and first.algorithm == "Ed25519"
    assert second is not None and second.algorithm == "SM2"
    assert second.public_key == sm2.public_bytes  # the 33-byte compressed point
    assert second.multikey.multikey == sm2.public_multikey  # zEP…
    assert Verifier(index, Policy()).verify(bundle).verdict is Verdict.VALID

    path = tmp_path / "snapshot.json"
    index.export_snapshot(path)
    offline = RegistryIndex.from_snapshot(path)
    assert offline.keys == index.keys
    assert Verifier.from_snapshot(path).verify(bundle).verdict is Verdict.VALID

    # a snapshot written before keys recorded their algorithm holds Ed25519 keys only
    document = json.loads(path.read_text())
    body = document["snapshot"]
    body["keys"] = [k for k in body["keys"] if k["key_id"] == "key-1"]
    for key in body["keys"]:
        del key["algorithm"]
    text = json.dumps(body, ensure_ascii=False, sort_keys=True)
    document["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    path.write_text(json.dumps(document))
    old = RegistryIndex.from_snapshot(path)
    assert old.keys == {(auth.id, "key-1"): first}

    # and one naming an algorithm the registry does not know is refused
    body["keys"][0]["algorithm"] = "RSA"
    text = json.dumps(body, ensure_ascii=False, sort_keys=True)
    document["sha256"] = hashlib.sha256(text.encode()).hexdigest()
    path.write_text(json.dumps(document))
    with pytest.raises(SnapshotError, match="RSA"):
        RegistryIndex.from_snapshot(path)
