"""``suixin chain deploy``: deploys once, records the deployment, reuses it after a restart."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from service.anchoring.devnode import AnvilNode
from service.cli import main
from verifier.chain import EmbeddedChain, RpcChain
from verifier.contracts import load_artifact
from verifier.deployment import Deployment


def test_deploy_on_the_embedded_chain_then_reuse(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chain", "deploy", "--chain", "embedded", "--data-dir", str(tmp_path)]) == 0
    first = json.loads(capsys.readouterr().out)
    record = Deployment.load(tmp_path / "deployment.json")
    assert record.to_json() == first
    assert first["compilerVersion"].startswith("0.8.30+")
    assert first["sourceHash"] == load_artifact("TrustRegistry").source_hash
    # a second run (a restart) finds the journaled chain and the same deployment
    assert main(["chain", "deploy", "--data-dir", str(tmp_path)]) == 0
    assert json.loads(capsys.readouterr().out) == first
    chain = EmbeddedChain(tmp_path)
    assert chain.call(record.anchor_registry, load_artifact("AnchorRegistry").abi, "trustRegistry")
    assert chain.block(record.block_number).hash == record.block_hash
    chain.close()


@pytest.mark.chain_rpc
def test_deploy_to_a_json_rpc_node(
    anvil_node: AnvilNode, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    assert main(["chain", "deploy", "--chain", anvil_node.url, "--data-dir", str(tmp_path)]) == 0
    record = json.loads(capsys.readouterr().out)
    assert record["chainId"] == 31337
    chain = RpcChain(anvil_node.url)
    root = chain.call(record["trustRegistry"], load_artifact("TrustRegistry").abi, "governanceRoot")
    assert root == record["governanceRoot"]


def test_version(capsys: pytest.CaptureFixture[str]) -> None:
    with pytest.raises(SystemExit) as exit_info:
        main(["--version"])
    assert exit_info.value.code == 0
    assert capsys.readouterr().out.startswith("suixin ")
