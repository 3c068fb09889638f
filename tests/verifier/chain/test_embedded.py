"""The embedded backend keeps its chain across restarts through its journal."""

from __future__ import annotations

import time
from pathlib import Path

import pytest

from service.trust.deployment import deploy_registries, fund_if_dev
from tests.conftest import funded
from tests.verifier.chain.registries import ANCHOR, DID, TRUST, populate
from verifier.chain import EmbeddedChain
from verifier.chain.embedded import JOURNAL_NAME
from verifier.contracts import load_artifact
from verifier.errors import ChainError, ChainMismatch
from verifier.registry import KeyAlgorithmCode

USCC = "11440100007502156G"


def _populate(chain: EmbeddedChain) -> dict[str, object]:
    d, authority = populate(chain)
    anchored = chain.transact(d.anchor_registry, ANCHOR, "anchor", [b"\x02" * 32, 10], authority)
    chain.transact(d.anchor_registry, ANCHOR, "setStatus", [b"\x03" * 32, 1, 7], authority)
    return {"deployment": d, "anchored_block": anchored.block_number}


def test_restart_reads_back_anchors_keys_and_statuses_with_original_blocks(tmp_path: Path) -> None:
    first = EmbeddedChain(tmp_path)
    facts = _populate(first)
    d = facts["deployment"]
    head = first.block()
    blocks = [first.block(n) for n in range(head.number + 1)]
    anchor_before = first.call(d.anchor_registry, ANCHOR, "anchorOf", [b"\x02" * 32])
    key_before = first.call(d.trust_registry, TRUST, "keyOf", [DID, "key-1"])
    first.close()

    second = EmbeddedChain(tmp_path)
    assert second.block() == head
    assert [second.block(n) for n in range(head.number + 1)] == blocks
    assert second.call(d.anchor_registry, ANCHOR, "anchorOf", [b"\x02" * 32]) == anchor_before
    assert anchor_before[3] == facts["anchored_block"]
    assert second.call(d.trust_registry, TRUST, "keyOf", [DID, "key-1"]) == key_before
    status = second.call(d.anchor_registry, ANCHOR, "statusOf", [1, b"\x03" * 32])
    assert status[0] == 1 and status[1] == 7
    logs = second.get_logs([d.anchor_registry], 0)
    assert len(logs) == 2
    # the restarted chain keeps working, and a third start sees that too
    fund_if_dev(second, funded(second).address, minimum_wei=10**30)
    after = second.block()
    assert after.number > head.number
    second.close()
    third = EmbeddedChain(tmp_path)
    assert third.block() == after
    third.close()


def test_block_times_follow_the_wall_clock(tmp_path: Path) -> None:
    chain = EmbeddedChain(tmp_path)
    before = int(time.time())
    receipt = chain.send_value(chain.dev_funder(), funded(chain).address, 1)
    assert before <= chain.block_time(receipt.block_number) <= int(time.time()) + 5
    chain.close()


def test_a_torn_last_journal_line_is_dropped(tmp_path: Path) -> None:
    chain = EmbeddedChain(tmp_path)
    funded(chain)
    head = chain.block()
    chain.close()
    with (tmp_path / JOURNAL_NAME).open("a", encoding="utf-8") as f:
        f.write('{"t": 1, "n": 9, "txs": ["0x')  # a crash in the middle of a write
    again = EmbeddedChain(tmp_path)
    assert again.block() == head
    again.close()


def test_a_corrupt_journal_is_refused_with_a_clear_error(tmp_path: Path) -> None:
    chain = EmbeddedChain(tmp_path)
    funded(chain)
    chain.close()
    path = tmp_path / JOURNAL_NAME
    lines = path.read_text(encoding="utf-8").splitlines()
    lines.insert(1, "not json")
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    with pytest.raises(ChainError, match="not valid JSON"):
        EmbeddedChain(tmp_path)


def test_a_memory_chain_leaves_no_files(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.chdir(tmp_path)
    chain = EmbeddedChain(None)
    funded(chain)
    assert chain.journal_path is None
    assert list(tmp_path.iterdir()) == []


def test_one_run_gas_estimates_with_the_send_margin_cover_the_exact_limit() -> None:
    # py-evm's exact binary search finds the smallest limit that succeeds; the embedded chain
    # estimates from one run and the sender adds 25 %: that must never fall short of it
    from eth.estimators.gas import binary_gas_search_exact
    from eth_utils import to_checksum_address

    from verifier.chain.base import _GAS_MARGIN_DEN, _GAS_MARGIN_NUM

    chain = EmbeddedChain(None)
    root = funded(chain)
    d = deploy_registries(chain, root)
    authority = funded(chain)
    accredit = [DID, "来穗局", "GZ", 440100, ["ResidencePermit"], authority.address, USCC]
    chain.transact(d.trust_registry, TRUST, "accredit", accredit, root)
    calls = [  # an anchor (which asks the trust registry), a key, statuses in bulk
        (
            root,
            d.trust_registry,
            TRUST,
            "accredit",
            ["did:web:sz", *accredit[1:3], 440300, ["BusinessLicense"], funded(chain).address, ""],
        ),
        (
            authority,
            d.trust_registry,
            TRUST,
            "addKey",
            [DID, "key-1", KeyAlgorithmCode.ED25519, b"\x01" * 32],
        ),
        (authority, d.anchor_registry, ANCHOR, "anchor", [b"\x09" * 32, 500]),
        (
            authority,
            d.anchor_registry,
            ANCHOR,
            "setStatusBatch",
            [[bytes([i]) * 32 for i in range(1, 41)], [1] * 40, [7] * 40],
        ),
    ]
    backend = chain._backend
    for sender, address, abi, fn, args in calls:
        contract = chain.w3.eth.contract(address=to_checksum_address(address), abi=abi)
        tx = {"from": sender.address, "to": contract.address}
        tx["data"] = contract.encode_abi(fn, args=args)
        one_run = chain.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
        backend.chain.gas_estimator = binary_gas_search_exact
        try:
            exact = chain.w3.eth.estimate_gas(tx)  # type: ignore[arg-type]
        finally:
            backend.chain = backend.chain  # the setter puts the one-run estimator back
        sent = one_run * _GAS_MARGIN_NUM // _GAS_MARGIN_DEN
        assert one_run <= exact <= sent, (fn, one_run, exact)


def test_a_call_where_no_contract_is_is_a_mismatch_not_an_empty_answer() -> None:
    chain = EmbeddedChain(None)
    deployment = deploy_registries(chain, funded(chain))
    abi = load_artifact("AnchorRegistry").abi
    assert chain.call(deployment.anchor_registry, abi, "anchorOf", [b"\x01" * 32])[0] == 0
    reset = EmbeddedChain(None)  # the node's chain reset: nothing at the registry's address
    try:
        with pytest.raises(ChainMismatch, match="reset or replaced"):
            reset.call(deployment.anchor_registry, abi, "anchorOf", [b"\x01" * 32])
    finally:
        reset.close()
        chain.close()
