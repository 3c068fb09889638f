"""The embedded chain as a JSON-RPC node: wire form, errors, one holder per data directory.

The chain tests run on the node through the RPC backend as a backend of their own (the
``node`` parameter of the ``chain`` fixture); these cover what only the node has."""

from __future__ import annotations

import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from typing import Any

import pytest
import requests
from hexbytes import HexBytes

from service.anchoring.devnode import free_port
from service.anchoring.node import ChainNodeServer, answer, to_wire
from service.trust.deployment import deploy_registries
from tests.conftest import funded
from verifier.chain import ChainInUse, EmbeddedChain, RpcChain, connect
from verifier.chain.embedded import JOURNAL_NAME, NODE_NAME
from verifier.contracts import load_artifact
from verifier.errors import ContractReverted

TRUST = load_artifact("TrustRegistry").abi
ANCHOR = load_artifact("AnchorRegistry").abi


def test_results_take_json_rpc_wire_form() -> None:
    block = {
        "number": 7,
        "hash": HexBytes(b"\x01" * 32),
        "logsBloom": 0,
        "transactions": [HexBytes(b"\x02" * 32)],
        "miner": "0x0000000000000000000000000000000000000000",
        "withdrawals": [],
    }
    wire = to_wire(block)
    assert wire["number"] == "0x7"
    assert wire["hash"] == "0x" + "01" * 32
    assert wire["logsBloom"] == "0x" + "00" * 256  # eth-tester keeps the bloom as an int
    assert wire["transactions"] == ["0x" + "02" * 32]
    assert wire["miner"] == block["miner"]
    assert to_wire(True) is True and to_wire(None) is None
    with pytest.raises(TypeError, match="cannot send a float"):
        to_wire(1.5)


def test_bad_requests_get_json_rpc_errors_and_change_nothing() -> None:
    chain = EmbeddedChain(None)
    head = chain.block_number()
    assert answer(chain, ["not", "an", "object"])["error"]["code"] == -32600
    assert answer(chain, {"id": 1, "method": "eth_chainId", "params": {}})["error"]["code"] == (
        -32602
    )
    bad_raw = answer(chain, {"id": 2, "method": "eth_sendRawTransaction", "params": [1]})
    assert bad_raw["error"]["code"] == -32602
    garbage = answer(chain, {"id": 3, "method": "eth_sendRawTransaction", "params": ["0x01"]})
    assert garbage["id"] == 3 and garbage["error"]["code"] == -32000
    unknown = answer(chain, {"id": 4, "method": "eth_noSuchMethod", "params": []})
    assert unknown["error"]["code"] in (-32601, -32000)
    assert chain.block_number() == head


def test_the_node_answers_over_http_with_keep_alive_and_reports_reverts() -> None:
    server = ChainNodeServer(EmbeddedChain(None)).start()
    try:
        with requests.Session() as http:
            parse = http.post(server.url, data=b"{not json", timeout=5).json()
            assert parse["error"]["code"] == -32700
            batch = http.post(
                server.url,
                json=[
                    {"jsonrpc": "2.0", "id": 1, "method": "eth_chainId", "params": []},
                    {"jsonrpc": "2.0", "id": 2, "method": "eth_blockNumber", "params": []},
                ],
                timeout=5,
            ).json()
            assert [r["id"] for r in batch] == [1, 2]
            assert int(batch[0]["result"], 16) == server.chain.chain_id
        chain = RpcChain(server.url)
        from service.trust.deployment import deploy_registries, fund_if_dev
        from tests.conftest import funded

        root = funded(chain)
        assert fund_if_dev(chain, root.address) is False  # funded: the node's dev funder paid
        deployment = deploy_registries(chain, root)
        abi = load_artifact("AnchorRegistry").abi
        sender = funded(chain)
        with pytest.raises(ContractReverted) as refused:  # decoded from the node's error data
            chain.transact(deployment.anchor_registry, abi, "anchor", [b"\x05" * 32, 3], sender)
        assert refused.value.name == "NotAnAuthority"
    finally:
        server.stop()


def test_one_process_holds_a_data_directorys_chain(tmp_path: Path) -> None:
    first = connect("embedded", tmp_path)
    assert isinstance(first, EmbeddedChain)
    with pytest.raises(ChainInUse, match="already open") as held:
        EmbeddedChain(tmp_path)
    assert held.value.node_url is None
    with pytest.raises(ChainInUse):  # no node serves it: nothing to connect to
        connect("embedded", tmp_path)
    first.close()
    again = connect("embedded", tmp_path)
    assert isinstance(again, EmbeddedChain)
    again.close()


def test_other_commands_reach_a_running_nodes_chain_through_it(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIXIN_")}
    env["SUIXIN_DATA_DIR"] = str(tmp_path)
    code = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
    node = subprocess.Popen(
        [sys.executable, "-c", code, "node", "--port", str(port), "--no-worker"],
        env=env,
        stdout=subprocess.DEVNULL,
        stderr=subprocess.PIPE,
    )
    try:
        deadline = time.monotonic() + 120
        while not (tmp_path / NODE_NAME).exists():
            assert node.poll() is None, node.communicate()[1].decode()[-2000:]
            assert time.monotonic() < deadline, "the node did not start"
            time.sleep(0.1)
        record = json.loads((tmp_path / NODE_NAME).read_text(encoding="utf-8"))
        assert record == {"url": f"http://127.0.0.1:{port}", "pid": node.pid}
        chain = connect("embedded", tmp_path)
        assert isinstance(chain, RpcChain) and chain.url == record["url"]
        deployed = json.loads((tmp_path / "deployment.json").read_text(encoding="utf-8"))
        assert chain.block(deployed["blockNumber"]).hash == deployed["blockHash"]
        head = chain.block_number()
        chain.close()
        from service.cli import main

        # a second node on the same data directory is refused, clearly, and changes nothing
        assert main(["node", "--data-dir", str(tmp_path), "--port", str(free_port())]) == 1
        assert "already served by a node at" in capsys.readouterr().err
        assert node.poll() is None
    finally:
        node.send_signal(signal.SIGTERM)
        stderr = node.communicate(timeout=30)[1].decode()
    assert node.returncode == 0, stderr[-2000:]
    assert not (tmp_path / NODE_NAME).exists()  # gone with the node
    reopened = connect("embedded", tmp_path)  # now this process holds it, journal replayed
    assert isinstance(reopened, EmbeddedChain) and reopened.block_number() == head
    reopened.close()


def test_the_offices_node_child_starts_deploys_and_stops_cleanly(tmp_path: Path) -> None:
    from service.anchoring.node import EmbeddedNode

    node = EmbeddedNode({"SUIXIN_DATA_DIR": str(tmp_path)}, worker=True).start()
    try:
        chain = connect("embedded", tmp_path)  # held by the child: reached through it
        assert isinstance(chain, RpcChain) and chain.url == node.url
        assert (tmp_path / "deployment.json").exists()  # the first start deployed
        chain.close()
    finally:
        code = node.stop()
    assert code == 0  # SIGTERM ends it cleanly, its stdin watcher included
    assert node.restarts == 0


def test_the_wait_for_a_restarted_node_covers_the_replay_of_a_long_journal(
    tmp_path: Path,
) -> None:
    from service.anchoring.node import READY_TIMEOUT, EmbeddedNode

    journal = tmp_path / JOURNAL_NAME
    journal.write_text('{"v":1,"genesisTime":1}\n' + '{"t":2,"n":1,"txs":[]}\n' * 10_000)
    # replaying 10,000 blocks of one anchoring each took about 20 ms a block on the 2-core
    # machine (scripts/bench_chain_length.py): the wait must cover twice that, and more
    waited = EmbeddedNode({}, worker=False, journal=journal).ready_timeout()
    assert waited >= READY_TIMEOUT + 2 * 0.02 * 10_000
    assert EmbeddedNode({}, worker=False, journal=tmp_path / "none").ready_timeout() == (
        READY_TIMEOUT
    )


def test_log_queries_answer_as_through_web3_from_the_log_index() -> None:
    chain = EmbeddedChain(None)
    root, authority = funded(chain), funded(chain)
    d = deploy_registries(chain, root)
    chain.transact(
        d.trust_registry,
        TRUST,
        "accredit",
        ["did:web:a.example", "甲", "A", 440100, ["ResidencePermit"], authority.address, ""],
        root,
    )
    for n in range(1, 4):
        chain.transact(d.anchor_registry, ANCHOR, "anchor", [n.to_bytes(32), 10], authority)
    head = chain.block_number()
    queries: list[dict[str, Any]] = [
        {"fromBlock": "0x0", "toBlock": "latest", "address": [d.trust_registry, d.anchor_registry]},
        {"fromBlock": hex(head - 1), "toBlock": hex(head), "address": d.anchor_registry},
        {"fromBlock": "earliest", "toBlock": hex(head)},
        {"fromBlock": "0x0", "address": d.anchor_registry},  # toBlock absent: latest
    ]
    for i, query in enumerate(queries):
        fast = answer(chain, {"id": i, "method": "eth_getLogs", "params": [query]})
        general = to_wire(chain.w3.manager.request_blocking("eth_getLogs", [query]))
        assert fast == {"jsonrpc": "2.0", "id": i, "result": general}, query
    every = answer(chain, {"id": 9, "method": "eth_getLogs", "params": [queries[0]]})
    assert len(every["result"]) >= 4  # the accreditation and three anchors at least
    beyond = {"fromBlock": "0x0", "toBlock": hex(head + 5)}
    assert answer(chain, {"id": 9, "method": "eth_getLogs", "params": [beyond]})["error"]
