"""The chain is the truth, with real processes: the anvil binary killed with -9 and brought
back from an older state, anvil restarted empty, PostgreSQL, ``suixin worker`` processes.

Nothing the office acknowledged is lost for good, nothing genuine reads as a forgery, and a
chain that is not the deployment's is refused, never read.
"""

from __future__ import annotations

import json
import shutil
import signal
import subprocess
import sys
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from service.anchoring.devnode import AnvilNode, anvil_binary, free_port
from service.app import create_app
from service.lifecycle import revoke
from service.storage.models import StatusChange
from tests.conftest import require
from tests.service.anchoring.test_worker_faults import start_worker, worker_env
from tests.service.conftest import TestClient, assert_problem, settings
from tests.service.office_setup import Setup, make_setup, postgres_schema
from verifier.chain import RpcChain
from verifier.policy import Policy
from verifier.verify import Verdict, Verifier

pytestmark = [pytest.mark.chain_rpc, pytest.mark.postgres, pytest.mark.slow]
ROOT = Path(__file__).resolve().parents[3]
_NO_WAIT = timedelta(0)


@dataclass
class Truth:
    """Anvil keeping its state in a file, an office on PostgreSQL, and its data directory."""

    node: AnvilNode
    setup: Setup
    data_dir: Path
    state: Path

    def partner(self) -> Verifier:
        """A partner city's verifier, reading the chain afresh, pinned to the deployment."""
        return Verifier.from_chain(
            RpcChain(self.node.url),
            self.setup.deployment.anchor_registry,
            Policy(sync_interval=_NO_WAIT),
            deployment=self.setup.deployment,
        )

    def worker(self, **extra: str) -> subprocess.Popen[str]:
        env = worker_env(
            self.setup,
            self.data_dir,
            self.node.url,
            SUIXIN_BATCH_SIZE="1000",
            SUIXIN_RECONCILE_SECONDS="1",
            **extra,
        )
        return start_worker(env)

    def saved_state(self) -> bytes:
        """The state file once it holds everything so far (anvil writes it every second)."""
        head = self.setup.office.chain.block_number()
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            if self.state.exists():
                text = self.state.read_text(encoding="utf-8")
                if text and int(json.loads(text)["block"]["number"], 16) >= head:
                    return text.encode()
            time.sleep(0.2)
        raise AssertionError("anvil did not write its state")


@pytest.fixture
def truth(tmp_path: Path) -> Iterator[Truth]:
    require(anvil_binary() is not None, "anvil not installed: run `npm ci` (@foundry-rs/anvil)")
    state = tmp_path / "anvil-state.json"
    node = AnvilNode(port=free_port(), state_path=state, state_interval=1).start()
    try:
        with postgres_schema() as url:
            setup = make_setup(RpcChain(node.url), url, tmp_path)
            yield Truth(node, setup, tmp_path, state)
            setup.office.db.dispose()
    finally:
        node.stop()


def _wait(condition: Any, timeout: float, what: str) -> float:
    started = time.monotonic()
    while not condition():
        assert time.monotonic() - started < timeout, what
        time.sleep(0.2)
    return time.monotonic() - started


def _stop(worker: subprocess.Popen[str]) -> str:
    worker.send_signal(signal.SIGTERM)
    try:
        out, _ = worker.communicate(timeout=60)
    except subprocess.TimeoutExpired:
        worker.kill()
        out, _ = worker.communicate()
    return out


def _status_done(truth: Truth) -> bool:
    with truth.setup.office.db.session() as s:
        return bool(
            s.scalar(
                select(func.count()).select_from(StatusChange).where(StatusChange.state == "done")
            )
        )


def test_anvil_killed_and_back_from_an_older_state_loses_nothing_acknowledged(
    truth: Truth,
) -> None:
    office, setup = truth.setup.office, truth.setup
    worker = truth.worker()
    try:
        early = setup.issue(10)
        _wait(lambda: office.counts() == {"anchored": 10}, 60, "the first batch was not anchored")
        saved = truth.saved_state()  # the state the node will come back to
        ids = setup.issue(1000, seed=1)
        _wait(lambda: office.counts() == {"anchored": 1010}, 120, "the batch was not anchored")
        wallets = {cid: office.bundle(cid) for cid in [*early, *ids]}  # what holders keep
        revoke(office, early[0], reason="issuer_error")
        _wait(lambda: _status_done(truth), 60, "the revocation did not reach the chain")
        partner = truth.partner()
        assert partner.verify(wallets[ids[0]]).verdict is Verdict.VALID
        assert partner.verify(office.bundle(early[0])).verdict is Verdict.INVALID

        # the worker is held still while the loss is observed: its reconciler (every second)
        # could otherwise repair the revocation before a partner under load has read the chain
        worker.send_signal(signal.SIGSTOP)
        truth.node.kill()  # the anvil binary itself, -9: nothing written on the way out
        truth.state.write_bytes(saved)  # its state file is older than the acknowledged work
        truth.node.start()
        lost = truth.partner()
        # what the chain lost: the revocation (the revoked permit reads VALID again) and the
        # batch of 1,000 (PENDING: its block is gone, never a forgery)
        assert lost.verify(office.bundle(early[0])).verdict is Verdict.VALID
        assert lost.verify(wallets[ids[0]]).verdict is Verdict.PENDING
        worker.send_signal(signal.SIGCONT)  # it finds the node gone and back, and repairs

        def repaired() -> bool:
            partner = truth.partner()
            if partner.verify(office.bundle(early[0])).verdict is not Verdict.INVALID:
                return False
            return all(
                partner.verify(office.bundle(cid)).verdict is Verdict.VALID
                for cid in [*early[1:], *ids]
            )

        seconds = _wait(repaired, 180, "the reconciler did not repair the lost blocks")
        print(f"\nlost batch of 1,000 and a revocation repaired {seconds:.1f} s after the restart")
        partner = truth.partner()
        for cid in [*early[1:], *ids]:  # the receipts holders kept from before: still genuine
            assert partner.verify(wallets[cid]).verdict is Verdict.VALID
        assert partner.verify(wallets[early[0]]).verdict is Verdict.INVALID
    finally:
        worker.send_signal(signal.SIGCONT)  # a stopped process would not hear the SIGTERM
        out = _stop(worker)
    assert "root_missing, repaired" in out and "status_missing, repaired" in out, out[-3000:]


def test_anvil_restarted_empty_is_a_mismatch_and_the_queue_waits_for_the_chain(
    truth: Truth, tmp_path: Path
) -> None:
    office, setup = truth.setup.office, truth.setup
    worker = truth.worker()
    app = create_app(office, settings(tmp_path), start_worker=False)
    try:
        ids = setup.issue(5)
        _wait(lambda: office.counts() == {"anchored": 5}, 60, "not anchored")
        bundle = office.bundle(ids[0])
        truth.node.stop()  # dumps its state on the way out: the chain is kept aside
        kept = tmp_path / "kept-state.json"
        shutil.move(truth.state, kept)
        truth.node.start()  # the same URL, an empty chain (its registries would be redeployed)
        with TestClient(app) as client:
            office.identity_ttl_seconds = 0
            ready = assert_problem(client.get("/readyz"), 503)
            assert ready["checks"]["chain"].startswith("mismatch")
            verified = assert_problem(client.post("/v1/verify", json=bundle), 503)
            assert verified["type"].endswith("chain-mismatch")  # never INVALID
            queued = setup.issue(3, seed=7)  # issuing goes on, into the queue
            assert office.queue_depth() == 3
        deployment = tmp_path / "deployment.json"
        bundle_file = tmp_path / "bundle.json"
        bundle_file.write_text(json.dumps(bundle), encoding="utf-8")
        cli = subprocess.run(
            [
                sys.executable,
                "-m",
                "verifier.cli",
                str(bundle_file),
                "--rpc",
                truth.node.url,
                "--deployment",
                str(deployment),
            ],
            cwd=ROOT,
            capture_output=True,
            text=True,
            timeout=60,
        )
        assert cli.returncode == 5, cli.stdout + cli.stderr
        assert "不是本部署的链" in cli.stderr
        time.sleep(2)  # the worker passes meanwhile: nothing may be sent to this chain
        assert truth.node.url and RpcChain(truth.node.url).block_number() == 0

        truth.node.stop()  # the operator restores the chain
        shutil.move(kept, truth.state)
        truth.node.start()
        _wait(lambda: office.queue_depth() == 0, 120, "the queue did not drain")
        partner = truth.partner()
        for cid in [*ids, *queued]:
            assert partner.verify(office.bundle(cid)).verdict is Verdict.VALID
        with TestClient(app) as client:
            assert client.get("/readyz").status_code == 200
    finally:
        out = _stop(worker)
    assert "held back, the chain is not the deployment's" in out, out[-3000:]
