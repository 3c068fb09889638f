"""The deployment record pins its chain: another chain is a ChainMismatch, never a verdict."""

from __future__ import annotations

import copy
import dataclasses
import json
from pathlib import Path
from typing import Any

import pytest

from service.anchoring.batches import anchor_batch
from service.trust.deployment import deploy_registries
from tests.conftest import Registries, funded
from tests.verifier.office import GZ_PERMITS, Office
from verifier.chain import EmbeddedChain
from verifier.deployment import DEV_CHAIN_IDS, Deployment, default_confirmations
from verifier.errors import ChainMismatch, InvalidInput
from verifier.policy import Policy
from verifier.registry import RegistryIndex
from verifier.verify import Outcome, Verdict, Verifier


def _another_chain(blocks: int) -> EmbeddedChain:
    """A fresh embedded chain with registries of its own, ``blocks`` blocks or more long."""
    other = EmbeddedChain(None)
    root = funded(other)
    deploy_registries(other, root)
    if other.block_number() < blocks:  # empty blocks: a session's node may be thousands long
        other._tester.mine_blocks(blocks - other.block_number())
    return other


def test_the_deployments_own_chain_passes(registries: Registries) -> None:
    registries.deployment.check_chain(registries.chain)


def test_a_reset_chain_is_a_mismatch_not_a_verdict(registries: Registries) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    verifier = Verifier.from_chain(
        registries.chain, registries.anchor, Policy(), deployment=registries.deployment
    )
    assert verifier.verify(bundle).verdict is Verdict.VALID
    # the node now serves a chain that never held these registries (reset, replaced)
    for blocks in (0, registries.deployment.block_number + 5):  # shorter, then longer
        other = _another_chain(blocks)
        try:
            with pytest.raises(ChainMismatch) as raised:
                registries.deployment.check_chain(other)
            # the same chain id (a reset node) or another one (the rpc case: anvil's id)
            assert "reset" in raised.value.problem or raised.value.problem == "another chain id"
            verifier.chain = other
            with pytest.raises(ChainMismatch):
                verifier.refresh(force=True)
            with pytest.raises(ChainMismatch):
                verifier.verify(bundle)  # no INVALID, no re-read from block 0
            assert verifier.index.anchors  # what it had read is kept
        finally:
            other.close()
    verifier.chain = registries.chain  # the chain restored: verdicts again
    assert verifier.verify(bundle).verdict is Verdict.VALID


def test_another_chain_id_is_a_mismatch(registries: Registries) -> None:
    record = dataclasses.replace(registries.deployment, chain_id=registries.chain.chain_id + 1)
    with pytest.raises(ChainMismatch) as raised:
        record.check_chain(registries.chain)
    assert raised.value.problem == "another chain id"
    assert "不是本部署的链" in raised.value.diagnostics()


def test_an_index_without_a_record_pins_itself_on_first_sync(registries: Registries) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    index = RegistryIndex.for_anchor_registry(registries.chain, registries.anchor)
    assert index.pinned_block < 0
    index.sync(registries.chain)
    assert index.pinned_block >= 0
    assert index.pinned_hash == registries.chain.block(index.pinned_block).hash
    other = _another_chain(index.synced_block + 3)
    try:
        with pytest.raises(ChainMismatch):
            index.sync(other)
    finally:
        other.close()
    assert Verifier(index, Policy()).verify(bundle).verdict is Verdict.VALID


def test_a_replaced_tip_of_the_same_chain_is_read_again(registries: Registries) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    index = RegistryIndex.for_deployment(registries.deployment)
    index.sync(registries.chain)
    index.synced_block_hash = "0x" + "ee" * 32  # as if the tip had been reorganised away
    index.anchors.clear()
    index.sync(registries.chain)  # same chain (the pinned block holds): read again
    assert Verifier(index, Policy()).verify(bundle).verdict is Verdict.VALID


def _mine(registries: Registries, blocks: int) -> None:
    for _ in range(blocks):
        registries.chain.send_value(registries.root, registries.root.address, 1)


def test_confirmations_hold_an_anchor_pending_until_final(registries: Registries) -> None:
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    _mine(registries, 3)  # the accreditation is final; the anchor below is not yet
    (bundle,) = gz.anchor(gz.permit())
    record = dataclasses.replace(registries.deployment, confirmations=3)
    verifier = Verifier.from_chain(registries.chain, registries.anchor, deployment=record)
    report = verifier.verify(bundle)
    assert report.verdict is Verdict.PENDING
    assert report.check("anchor").reason.code == "anchor_not_final"
    _mine(registries, 3)  # three blocks on top of the anchor's
    verifier.refresh(force=True)
    assert verifier.verify(bundle).verdict is Verdict.VALID


def _unknown_root(registries: Registries) -> tuple[Verifier, dict[str, Any]]:
    """A verifier that has read past an anchor the chain no longer holds (lost blocks)."""
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    verifier = Verifier.from_chain(registries.chain, registries.anchor, Policy())
    verifier.refresh(force=True)
    verifier.index.anchors.clear()
    return verifier, bundle


def test_a_receipt_whose_block_was_replaced_is_pending_not_forged(
    registries: Registries,
) -> None:
    verifier, bundle = _unknown_root(registries)
    number = bundle["anchor"]["blockNumber"]
    genuine = copy.deepcopy(bundle)
    genuine["anchor"]["blockHash"] = registries.chain.block(number).hash
    report = verifier.verify(genuine)  # the block is there, the root is not: not anchored
    assert report.verdict is Verdict.INVALID
    assert report.check("anchor").reason.code == "anchor_root_unknown"
    lost = copy.deepcopy(bundle)
    lost["anchor"]["blockHash"] = "0x" + "ab" * 32  # the block it names is gone from the chain
    report = verifier.verify(lost)
    assert report.verdict is Verdict.PENDING
    assert report.check("anchor").outcome is Outcome.PENDING
    assert report.check("anchor").reason.code == "anchor_block_replaced"
    old = copy.deepcopy(lost)  # past the grace period it is not final any more: INVALID
    old["anchor"]["blockTime"] = 1_000_000
    assert verifier.verify(old).check("anchor").reason.code == "anchor_root_unknown"


def test_records_written_before_confirmations_existed_still_load(
    registries: Registries, tmp_path: Path
) -> None:
    data = registries.deployment.to_json()
    assert data["confirmations"] == 0  # a development chain
    del data["confirmations"]
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert Deployment.load(path).confirmations == 0


def test_default_confirmations_by_chain() -> None:
    assert all(default_confirmations(chain_id) == 0 for chain_id in DEV_CHAIN_IDS)
    assert default_confirmations(1) == 12  # a public chain


def test_records_written_before_the_anchoring_hash_existed_anchor_with_sha256(
    registries: Registries, tmp_path: Path
) -> None:
    data = registries.deployment.to_json()
    assert data["anchoringHash"] == "sha-256"
    del data["anchoringHash"]
    path = tmp_path / "deployment.json"
    path.write_text(json.dumps(data), encoding="utf-8")
    assert Deployment.load(path).anchoring_hash == "sha-256"
    data["anchoringHash"] = "md5"
    path.write_text(json.dumps(data), encoding="utf-8")
    with pytest.raises(InvalidInput, match="sha-256 or sm3"):
        Deployment.load(path)


def test_an_sm3_deployment_and_a_verifier_that_knows_it(tmp_path: Path) -> None:
    chain = EmbeddedChain(None)
    root = funded(chain)
    deployment = deploy_registries(chain, root, anchoring_hash="sm3")
    assert deployment.anchoring_hash == "sm3"
    registries = Registries(chain=chain, root=root, deployment=deployment)
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    credential = gz.permit()
    (bundle,) = gz.anchor(credential)
    assert bundle["anchor"]["hash"] == "sm3"
    knows = Verifier.from_chain(chain, registries.anchor, Policy(), deployment=deployment)
    assert knows.verify(bundle).verdict is Verdict.VALID

    # the same credential also sits in a SHA-256 tree its authority anchored: a receipt of
    # the hash this deployment does not anchor with is refused by whoever knows the record
    sha = dataclasses.replace(deployment, anchoring_hash="sha-256")
    (other,) = anchor_batch(chain, sha, gz.account, [credential])
    assert "hash" not in other["anchor"]
    report = knows.verify(other)
    assert report.verdict is Verdict.INVALID
    assert report.check("anchor").reason.code == "anchor_hash_mismatch"
    assert "sm3" in report.check("anchor").reason.zh
    # a verifier with the registry address alone takes each receipt's word
    blind = Verifier.from_chain(chain, registries.anchor, Policy())
    assert blind.verify(other).verdict is Verdict.VALID

    # a snapshot of the deployment carries its anchoring hash offline
    knows.index.sync(chain)
    path = tmp_path / "trust.json"
    knows.index.export_snapshot(path)
    offline = Verifier.from_snapshot(path)
    assert offline.index.anchoring_hash == "sm3"
    assert offline.verify(bundle).verdict is Verdict.VALID
    assert offline.verify(other).check("anchor").reason.code == "anchor_hash_mismatch"
    chain.close()
