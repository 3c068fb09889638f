"""Fault tests with real processes: a worker killed (-9) in every phase of a batch, the chain node
stopped during issuance, two workers on PostgreSQL. Nothing is lost; nothing is anchored twice."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import threading
import time
from collections.abc import Iterator
from pathlib import Path

import pytest

from service.anchoring.devnode import AnvilNode, anvil_binary, free_port
from service.anchoring.worker import PAUSE_ENV
from tests.conftest import require
from tests.service.office_setup import MASTER, Setup, make_setup, postgres_schema
from verifier.chain import RpcChain

pytestmark = [pytest.mark.chain_rpc, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]


def worker_env(setup: Setup, data_dir: Path, url: str, **extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith("SUIXIN_")}
    env.update(
        SUIXIN_DATA_DIR=str(data_dir),
        SUIXIN_CHAIN=url,
        SUIXIN_DATABASE_URL=setup.db_url,
        SUIXIN_MASTER_KEY=MASTER,
        SUIXIN_BATCH_SIZE="40",
        SUIXIN_BATCH_AGE_SECONDS="0.2",
        SUIXIN_WORKER_POLL_SECONDS="0.1",
    )
    env.update(extra)
    return env


def start_worker(env: dict[str, str], *args: str) -> subprocess.Popen[str]:
    code = "import sys; from service.cli import main; sys.exit(main(['worker', *sys.argv[1:]]))"
    return subprocess.Popen(
        [sys.executable, "-c", code, *args],
        cwd=ROOT,
        env=env,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )


def wait_for_line(process: subprocess.Popen[str], needle: str, timeout: float = 60) -> list[str]:
    seen: list[str] = []
    deadline = time.monotonic() + timeout
    assert process.stdout is not None
    while time.monotonic() < deadline:
        line = process.stdout.readline()
        if not line and process.poll() is not None:
            break
        seen.append(line)
        if needle in line:
            return seen
    raise AssertionError(f"{needle!r} not seen; worker said: {''.join(seen)[-2000:]}")


def kill_9(process: subprocess.Popen[str]) -> None:
    process.send_signal(signal.SIGKILL)
    process.wait()
    if process.stdout is not None:
        process.stdout.close()


def assert_exactly_once(setup: Setup, total: int) -> None:
    assert setup.office.counts() == {"anchored": total}
    events = setup.anchor_events()
    roots = [bytes(e["root"]) for e in events]
    assert len(roots) == len(set(roots)), "a root was anchored twice"
    assert sum(int(e["leafCount"]) for e in events) == total, "a credential was anchored twice"
    batches = setup.batches()
    assert {bytes(b.root) for b in batches} == set(roots)
    assert all(b.state == "anchored" for b in batches)


@pytest.fixture
def world(anvil_node: AnvilNode, tmp_path: Path) -> Iterator[tuple[Setup, Path, str]]:
    chain = RpcChain(anvil_node.url)
    setup = make_setup(chain, f"sqlite:///{tmp_path}/office.sqlite", tmp_path)
    yield setup, tmp_path, anvil_node.url
    setup.office.db.dispose()


@pytest.mark.parametrize("phase", ["claimed", "sent"])
def test_kill_9_in_a_phase_then_restart_finishes_exactly_once(
    world: tuple[Setup, Path, str], phase: str
) -> None:
    setup, data_dir, url = world
    setup.issue(100)
    paused = start_worker(worker_env(setup, data_dir, url, **{PAUSE_ENV: phase}))
    try:
        wait_for_line(paused, f"PAUSED at {phase}")
    finally:
        kill_9(paused)
    counts = setup.office.counts()
    assert counts.get("anchored", 0) < 100  # the crash left work undone
    again = start_worker(worker_env(setup, data_dir, url), "--once")
    out, _ = again.communicate(timeout=120)
    assert again.returncode == 0, out
    assert_exactly_once(setup, 100)


def test_kill_9_at_random_moments(world: tuple[Setup, Path, str]) -> None:
    setup, data_dir, url = world
    setup.issue(400)
    for delay in (0.8, 1.3, 0.5, 1.7):
        process = start_worker(worker_env(setup, data_dir, url))
        time.sleep(delay)
        kill_9(process)
    final = start_worker(worker_env(setup, data_dir, url), "--once")
    out, _ = final.communicate(timeout=180)
    assert final.returncode == 0, out
    assert_exactly_once(setup, 400)


def test_the_chain_node_stops_during_bulk_issuance_and_everything_anchors(tmp_path: Path) -> None:
    require(anvil_binary() is not None, "anvil not installed: run `npm ci`")
    node = AnvilNode(port=free_port(), state_path=tmp_path / "anvil-state.json").start()
    worker: subprocess.Popen[str] | None = None
    try:
        setup = make_setup(RpcChain(node.url), f"sqlite:///{tmp_path}/office.sqlite", tmp_path)
        worker = start_worker(worker_env(setup, tmp_path, node.url))
        wait_for_line(worker, "anchoring (batches")
        issued: list[str] = []
        stop = threading.Event()

        def issue_continuously() -> None:
            seed = 0
            while not stop.is_set():
                issued.extend(setup.issue(25, seed=seed))
                seed += 1
                time.sleep(0.05)

        issuer = threading.Thread(target=issue_continuously)
        issuer.start()
        time.sleep(1.5)
        node.stop()  # the chain goes away (its state is dumped to the state file)
        during = len(issued)
        time.sleep(2.0)
        assert len(issued) > during, "issuance must go on while the chain is down"
        node.start()  # same port, state loaded back
        time.sleep(1.0)
        stop.set()
        issuer.join()
        deadline = time.monotonic() + 120
        while setup.office.queue_depth() and time.monotonic() < deadline:
            time.sleep(0.3)
        worker.send_signal(signal.SIGTERM)
        out, _ = worker.communicate(timeout=30)
        assert "chain is unavailable" in out
        assert_exactly_once(setup, len(issued))
    finally:
        if worker is not None and worker.poll() is None:
            kill_9(worker)  # a failed wait above must not leave the process to later tests
        node.stop()


@pytest.mark.postgres
def test_two_workers_on_postgres_never_anchor_a_root_twice(
    anvil_node: AnvilNode, tmp_path: Path
) -> None:
    with postgres_schema() as db_url:
        setup = make_setup(RpcChain(anvil_node.url), db_url, tmp_path)
        setup.issue(300)
        env = worker_env(setup, tmp_path, anvil_node.url, SUIXIN_BATCH_SIZE="20")
        workers = [start_worker(env) for _ in range(2)]
        try:
            setup.issue(300, seed=9)
            deadline = time.monotonic() + 120
            while setup.office.queue_depth() and time.monotonic() < deadline:
                time.sleep(0.3)
        finally:
            for w in workers:
                w.send_signal(signal.SIGTERM)
            outputs = [w.communicate(timeout=30)[0] for w in workers]
        assert all(w.returncode == 0 for w in workers), outputs
        assert_exactly_once(setup, 600)
        setup.office.db.dispose()
