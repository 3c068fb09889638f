"""``suixin serve``: the API over the embedded chain served by its node child process (the
``make run`` topology, which survives the node's death and its own), and ``--workers N``
API processes over one JSON-RPC chain and one database with one anchoring process beside
them."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import sqlite3
import stat
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path
from random import Random
from typing import Any

import pytest

from service.anchoring.devnode import free_port
from tests.service.processes import call as _call
from tests.service.processes import start_office as _start
from tests.service.processes import stop_office as _stop
from tests.verifier.factories import residence_permit_subject

pytestmark = [pytest.mark.slow]


def _issue(port: int, key: str, seeds: range) -> list[str]:
    ids = []
    for seed in seeds:  # a connection each: with several processes, both answer
        body = {"type": "ResidencePermit", "subject": residence_permit_subject(Random(seed))}
        status, bundle = _call(port, "POST", "/v1/credentials", body, key)
        assert status == 201, bundle
        ids.append(bundle["credential"]["id"])
    return ids


def _anchored_and_valid(port: int, key: str, ids: list[str], timeout: float = 60) -> None:
    deadline = time.monotonic() + timeout
    for credential_id in ids:
        while True:
            status, bundle = _call(port, "GET", f"/v1/credentials/{credential_id}", key=key)
            if bundle.get("anchor") is not None:
                break
            assert time.monotonic() < deadline, "not anchored by the worker"
            time.sleep(0.2)
        status, report = _call(port, "POST", "/v1/verify", bundle)
        assert status == 200 and report["verdict"] == "VALID", report


def _children(pid: int) -> list[int]:
    """Live child processes of ``pid``, whichever of its threads started them."""
    found = []
    for task in Path(f"/proc/{pid}/task").glob("*"):
        with contextlib.suppress(OSError):  # a thread that has just ended
            found += [int(p) for p in (task / "children").read_text().split()]
    return sorted(p for p in found if _alive(p))


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    stat = Path(f"/proc/{pid}/stat")
    return not (stat.exists() and stat.read_text().split(") ", 1)[1].startswith("Z"))


def _answer(port: int, path: str) -> tuple[int, Any] | None:
    """The answer of a server that may not be up yet, or None."""
    try:
        return _call(port, "GET", path)
    except OSError:
        return None


def _wait_for(condition: Any, timeout: float, what: str) -> Any:
    deadline = time.monotonic() + timeout
    while not (value := condition()):
        assert time.monotonic() < deadline, what
        time.sleep(0.1)
    return value


@pytest.mark.parametrize("chain", ["embedded", pytest.param("anvil", marks=pytest.mark.chain_rpc)])
def test_two_api_processes_issue_and_one_worker_anchors(
    chain: str, request: pytest.FixtureRequest, tmp_path: Path
) -> None:
    url = "embedded" if chain == "embedded" else request.getfixturevalue("anvil_node").url
    port = free_port()
    server = _start(tmp_path, url, port, "--workers", "2")
    try:
        keys = json.loads((tmp_path / "demo-api-keys.json").read_text(encoding="utf-8"))
        key = keys["did:web:lsj.gz.gov.cn"]
        _anchored_and_valid(port, key, _issue(port, key, range(6)))
    finally:
        out = _stop(server)
    assert server.returncode == 0, out[-3000:]


def _kept_block(data_dir: Path) -> int:
    """The block of the registry index the office keeps in its data directory."""
    with contextlib.closing(sqlite3.connect(data_dir / "registry-index.sqlite")) as db:
        (value,) = db.execute("SELECT value FROM meta WHERE key = 'block'").fetchone()
    return int(json.loads(value)["number"])


def test_restarted_api_processes_share_and_keep_the_registry_index(tmp_path: Path) -> None:
    port = free_port()
    server = _start(tmp_path, "embedded", port, "--workers", "2")
    try:
        key = json.loads((tmp_path / "demo-api-keys.json").read_text(encoding="utf-8"))[
            "did:web:lsj.gz.gov.cn"
        ]
        first = _issue(port, key, range(4))
        _anchored_and_valid(port, key, first)
    finally:
        out = _stop(server)
    assert server.returncode == 0, out[-3000:]
    kept = _kept_block(tmp_path)
    assert kept > 0

    server = _start(tmp_path, "embedded", port, "--workers", "2")
    try:
        later = _issue(port, key, range(4, 6))
        _anchored_and_valid(port, key, first + later)
    finally:
        out = _stop(server)
    assert server.returncode == 0, out[-3000:]
    assert _kept_block(tmp_path) > kept
    # neither process found the file stale, foreign or unreadable: both went on from it
    for fallback in ("set aside", "no longer on the chain", "not written"):
        assert fallback not in out, out[-3000:]
    # and the operator sees it: each process says where it went on from (an INFO line, once
    # invisible because the server configured no logging for the office's own loggers)
    assert out.count("registry index loaded from") >= 2, out[-3000:]


def test_make_run_topology_survives_its_node_dying_and_its_own_death(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    from verifier.cli import main as verify_main

    port, node_port = free_port(), free_port()
    server = _start(tmp_path, "embedded", port, node_port=node_port)
    try:
        key = json.loads((tmp_path / "demo-api-keys.json").read_text(encoding="utf-8"))[
            "did:web:lsj.gz.gov.cn"
        ]
        first = _issue(port, key, range(3))
        _anchored_and_valid(port, key, first)
        # what a partner is told: the chain, the registries and the node, on its fixed port
        status, published = _call(port, "GET", "/v1/deployment")
        assert status == 200 and published["rpcUrl"] == f"http://127.0.0.1:{node_port}"
        record = json.loads((tmp_path / "deployment.json").read_text(encoding="utf-8"))
        assert {k: published[k] for k in record} == record
        # what make run leaves on disk is its owner's alone, under a key of its own
        assert stat.S_IMODE(tmp_path.stat().st_mode) == 0o700
        modes = {
            str(p.relative_to(tmp_path)): stat.S_IMODE(p.stat().st_mode)
            for p in tmp_path.rglob("*")
            if p.is_file()
        }
        expected = {"master.key", "suixin.sqlite", "suixin.sqlite-wal", "chain-journal.jsonl"}
        assert expected <= set(modes) and set(modes.values()) == {0o600}, modes
        [node] = _children(server.pid)  # the embedded chain and the worker: one child process

        os.kill(node, signal.SIGKILL)  # the office restarts its node; nothing is lost
        issued_meanwhile = _issue(port, key, range(3, 5))
        _wait_for(lambda: _children(server.pid) not in ([], [node]), 60, "no new node")
        _anchored_and_valid(port, key, first + issued_meanwhile)
        [node] = _children(server.pid)

        server.kill()  # the office dies without warning: its node goes too
        server.communicate()
        _wait_for(lambda: not _alive(node), 30, "the node outlived the office")
    finally:
        if server.poll() is None:
            _stop(server)
    server = _start(tmp_path, "embedded", port, node_port=node_port)  # a restart keeps all
    try:
        _anchored_and_valid(port, key, first + issued_meanwhile, timeout=10)
        _anchored_and_valid(port, key, _issue(port, key, range(5, 7)))
        assert _call(port, "GET", "/v1/deployment")[1] == published  # the same node port
        # a partner needs only the office's address: suixin-verify --office URL
        status, bundle = _call(port, "GET", f"/v1/credentials/{first[0]}", key=key)
        path = tmp_path / "bundle.json"
        path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
        capsys.readouterr()
        assert verify_main([str(path), "--office", f"http://127.0.0.1:{port}"]) == 0
        shown = capsys.readouterr()
        assert f"node http://127.0.0.1:{node_port}" in shown.err and "VALID" in shown.out
        # offline: a snapshot carries the status lists the chain commits to, and they are read
        snapshot = tmp_path / "trust.json"
        office = f"http://127.0.0.1:{port}"
        assert verify_main(["snapshot", "--office", office, "-o", str(snapshot)]) == 0
        carried = json.loads(snapshot.read_text(encoding="utf-8"))["snapshot"]
        kinds = [d.get("type") for d in carried["statusListDocuments"]]
        assert kinds.count("SuixinStatusListSet") == 1 and len(kinds) == 3, kinds  # 1 set, 2 lists
        capsys.readouterr()
        assert verify_main([str(path), "--snapshot", str(snapshot), "--json"]) == 0
        shown = capsys.readouterr()
        assert "the status lists the issuer committed to on chain" in shown.out, shown.out
        # a partner's own counter, one command, from that snapshot: no office behind it
        counter_port = free_port()
        counter = subprocess.Popen(
            [str(Path(sys.executable).parent / "suixin-verify"), "counter", "--snapshot",
             str(snapshot), "--port", str(counter_port), "--key", str(tmp_path / "c.key"),
             "--name", "肇庆市政务服务中心", "--wallet", f"{office}/wallet"],
            stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True,
        )  # fmt: skip
        try:
            health = _wait_for(lambda: _answer(counter_port, "/healthz"), 30, "no counter")
            assert health[1]["did"].startswith("did:key:") and health[1]["trust"]
            created = _call(
                counter_port, "POST", "/v1/oid4vp/requests",
                {"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "肇庆"},
            )  # fmt: skip
            assert created[0] == 201 and created[1]["walletLink"].startswith(f"{office}/wallet#")
            assert (
                _call(counter_port, "GET", f"/v1/oid4vp/requests/{created[1]['requestId']}/result")[
                    0
                ]
                == 401
            )
            assert (tmp_path / "c.key").stat().st_mode & 0o077 == 0
        finally:
            counter.terminate()
            counter.communicate(timeout=30)
    finally:
        out = _stop(server)
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


def test_serve_names_a_node_port_in_use_rather_than_wander(
    data_dir: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    import socket

    from service.cli import main

    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        monkeypatch.setenv("SUIXIN_NODE_PORT", str(port))
        assert main(["serve"]) == 1  # failed (not a usage error), before anything started
    err = capsys.readouterr().err
    assert f"127.0.0.1:{port}" in err and "SUIXIN_NODE_PORT" in err


@pytest.fixture
def fresh_loggers() -> Iterator[None]:
    """The office's loggers as a fresh process has them (no handler: an earlier test of this
    worker may have configured them), and as they were again afterwards."""
    import logging

    names = ("suixin", "verifier")
    saved = {n: (logging.getLogger(n).handlers[:], logging.getLogger(n).level) for n in names}
    for n in names:
        logging.getLogger(n).handlers.clear()
    try:
        yield
    finally:
        for n, (handlers, level) in saved.items():
            logging.getLogger(n).handlers[:] = handlers
            logging.getLogger(n).setLevel(level)
            logging.getLogger(n).propagate = True


@pytest.mark.usefixtures("fresh_loggers")
def test_the_office_loggers_reach_stderr_once_however_often_configured() -> None:
    import io
    import logging

    from service.runtime import configure_logging

    stream = io.StringIO()
    configure_logging(stream)
    configure_logging(stream)  # a second server process start in the same interpreter
    logging.getLogger("suixin.api").info("worker pass %d", 7)
    logging.getLogger("verifier.registry").info("index loaded at block %d", 42)
    logging.getLogger("suixin.api").debug("not shown at INFO")
    lines = stream.getvalue().splitlines()
    assert len(lines) == 2, lines
    assert lines[0].endswith("INFO suixin.api: worker pass 7")
    assert lines[1].endswith("INFO verifier.registry: index loaded at block 42")


@pytest.mark.usefixtures("fresh_loggers")
def test_the_office_loggers_follow_stderr_when_it_is_replaced(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The CI failure of stop 25: a server run in-process (a CLI test, its stderr captured)
    configured the loggers with the stderr of that moment; once that stream was closed every
    record was a "Logging error" traceback, and the next configuration kept the dead handler.
    The office's handler writes to whatever ``sys.stderr`` is when a record is emitted."""
    import io
    import logging

    from service.runtime import configure_logging

    first, second = io.StringIO(), io.StringIO()
    monkeypatch.setattr(sys, "stderr", first)
    configure_logging()
    logging.getLogger("suixin.worker").info("pass %d", 1)
    first.close()  # the captured stream of a finished test
    monkeypatch.setattr(sys, "stderr", second)
    configure_logging()  # a later start in the same interpreter
    logging.getLogger("suixin.worker").info("pass %d", 2)
    logging.getLogger("verifier.registry").info("loaded at block %d", 3)
    lines = second.getvalue().splitlines()
    assert [line.split(" INFO ")[1] for line in lines] == [
        "suixin.worker: pass 2",
        "verifier.registry: loaded at block 3",
    ]


def test_a_node_gone_quiet_checkpoints_so_a_killed_one_replays_nothing(data_dir: Path) -> None:
    """``suixin node`` deploys the registries on a first start: a few blocks, far fewer than a
    checkpoint's 100. Once quiet for a few seconds it checkpoints them, so a kill -9 then costs
    no replay at the next start (before, every block since the last hundredth was replayed)."""
    from service.cli.serve import IDLE_CHECKPOINT_SECONDS
    from verifier.chain import EmbeddedChain

    code = "import sys; from service.cli import main; sys.exit(main(sys.argv[1:]))"
    node = subprocess.Popen(
        [sys.executable, "-c", code, "node", "--port", "0", "--no-worker"],
        env=dict(os.environ),
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    try:
        assert node.stdout is not None
        assert "embedded chain node on" in node.stdout.readline()
        snapshot = data_dir / "chain-snapshot.sqlite"

        def checkpointed() -> int:
            if not snapshot.exists():
                return 0
            with contextlib.closing(sqlite3.connect(snapshot)) as db:
                row = db.execute("SELECT head_number FROM meta").fetchone()
            return int(row[0]) if row else 0

        _wait_for(checkpointed, 6 * IDLE_CHECKPOINT_SECONDS, "no checkpoint while idle")
    finally:
        node.kill()  # no close(), no checkpoint at exit
        node.communicate(timeout=30)
    chain = EmbeddedChain(data_dir)
    try:
        assert chain.block_number() > 0 and chain.snapshot_head == chain.block_number()
        assert chain.replayed_blocks == 0
    finally:
        chain.close()
