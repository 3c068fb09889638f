"""``suixin serve --workers N``: several API processes over one JSON-RPC chain and one database,
with one anchoring worker process beside them."""

from __future__ import annotations

import http.client
import json
import os
import signal
import subprocess
import sys
import time
from pathlib import Path
from random import Random
from typing import Any

import pytest

from service.cli import main
from service.devnode import AnvilNode, free_port
from tests.verifier.factories import residence_permit_subject

pytestmark = [pytest.mark.chain_rpc, pytest.mark.slow]


def test_several_processes_need_a_json_rpc_chain(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code = main(["serve", "--data-dir", str(tmp_path), "--chain", "embedded", "--workers", "2"])
    assert code == 1
    assert "JSON-RPC" in capsys.readouterr().err
    assert not (tmp_path / "suixin.sqlite").exists()  # refused before anything was set up


def _call(port: int, method: str, path: str, body: Any = None, key: str = "") -> tuple[int, Any]:
    conn = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
    headers = {"Content-Type": "application/json"}
    if key:
        headers["Authorization"] = f"Bearer {key}"
    payload = json.dumps(body, ensure_ascii=False).encode() if body is not None else None
    conn.request(method, path, body=payload, headers=headers)
    response = conn.getresponse()
    data = response.read()
    conn.close()
    return response.status, json.loads(data) if data else None


def test_two_api_processes_issue_and_one_worker_anchors(
    anvil_node: AnvilNode, tmp_path: Path
) -> None:
    port = free_port()
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIXIN_")}
    env |= {
        "SUIXIN_DATA_DIR": str(tmp_path),
        "SUIXIN_CHAIN": anvil_node.url,
        "SUIXIN_BATCH_AGE_SECONDS": "0.3",
        "SUIXIN_WORKER_POLL_SECONDS": "0.1",
    }
    code = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
    server = subprocess.Popen(
        [sys.executable, "-c", code, "serve", "--demo", "--port", str(port), "--workers", "2"],
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        deadline = time.monotonic() + 120
        while True:
            assert server.poll() is None, server.communicate()[0][-3000:]
            try:
                if _call(port, "GET", "/healthz")[0] == 200:
                    break
            except OSError:
                pass
            assert time.monotonic() < deadline, "the server did not come up"
            time.sleep(0.3)
        keys = json.loads((tmp_path / "demo-api-keys.json").read_text(encoding="utf-8"))
        key = keys["did:web:lsj.gz.gov.cn"]
        ids = []
        for seed in range(6):  # over several connections: both processes answer
            body = {"type": "ResidencePermit", "subject": residence_permit_subject(Random(seed))}
            status, bundle = _call(port, "POST", "/v1/credentials", body, key)
            assert status == 201, bundle
            ids.append(bundle["credential"]["id"])
        deadline = time.monotonic() + 60
        for credential_id in ids:
            while True:
                status, bundle = _call(port, "GET", f"/v1/credentials/{credential_id}", key=key)
                if bundle.get("anchor") is not None:
                    break
                assert time.monotonic() < deadline, "not anchored by the worker process"
                time.sleep(0.2)
            status, report = _call(port, "POST", "/v1/verify", bundle)
            assert status == 200 and report["verdict"] == "VALID", report
    finally:
        server.send_signal(signal.SIGINT)
        try:
            out = server.communicate(timeout=30)[0]
        except subprocess.TimeoutExpired:
            server.kill()
            out = server.communicate()[0]
    assert server.returncode == 0, out[-3000:]


def test_a_server_settles_its_start_up_heap_out_of_the_collectors_sight() -> None:
    import gc

    from service.runtime import settle_heap

    before = gc.get_freeze_count()
    try:
        settle_heap()
        # everything alive now is frozen: a full collection no longer walks it
        assert gc.get_freeze_count() > before
        assert gc.get_count()[2] == 0
    finally:
        gc.unfreeze()  # this test process goes on collecting as before
