"""The registry index is synced off the request path (service.api.verification): a slow or
stalled chain read delays no request the index can already answer; a fresh receipt still waits
for its sync; an outage still answers 503, never a verdict."""

from __future__ import annotations

import threading
import time
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import event

import service.api.verification as verification_module
from service.anchoring.worker import AnchorWorker
from service.app import create_app
from tests.service.conftest import TestClient, assert_problem, auth, settings
from tests.verifier.factories import residence_permit_subject
from verifier.chain import Chain, RpcChain

SYNC_THREAD = "suixin-registry-sync"
DEAD_NODE = "http://127.0.0.1:9"  # discard port: nothing listens


class StallingChain:
    """A chain adapter over a live chain: once ``armed``, every call made by the background
    sync thread blocks until ``release`` is set (a node that stopped answering); calls from any
    other thread (the anchoring worker, the test) go straight through."""

    def __init__(self, live: Chain) -> None:
        self._live = live
        self.armed = threading.Event()
        self.entered = threading.Event()
        self.release = threading.Event()

    def __getattr__(self, name: str) -> Any:
        attribute = getattr(self._live, name)
        if not callable(attribute):
            return attribute

        def call(*args: Any, **kwargs: Any) -> Any:
            if self.armed.is_set() and threading.current_thread().name == SYNC_THREAD:
                self.entered.set()
                self.release.wait(60)
            return attribute(*args, **kwargs)

        return call


def _anchored(client: TestClient, office: Any, key: str, subject: dict[str, Any]) -> Any:
    response = client.post(
        "/v1/credentials",
        json={"type": "ResidencePermit", "subject": subject},
        headers=auth(key),
    )
    assert response.status_code == 201, response.text
    AnchorWorker(office).drain()
    bundle = office.bundle(response.json()["credential"]["id"])
    assert bundle["anchor"] is not None
    return bundle


def test_a_stalled_sync_delays_no_request_the_index_can_answer(world: Any, tmp_path: Path) -> None:
    office = world.office
    live = office.chain
    stalling = StallingChain(live)
    interval = 10.0  # the background thread syncs every 5 s; the index is answered for 10 s
    app = create_app(office, settings(tmp_path, verify_sync_seconds=interval), start_worker=False)
    key = world.key(world.permits, "issue:ResidencePermit")
    verification = app.state.suixin.verification
    office.chain = stalling  # type: ignore[assignment]
    try:
        with TestClient(app) as client:
            indexed = _anchored(client, office, key, residence_permit_subject(world.rng))
            assert client.post("/v1/verify", json=indexed).json()["verdict"] == "VALID"
            stalling.armed.set()
            # the background thread's next sync blocks in its first chain call
            assert stalling.entered.wait(interval), "the background sync never ran"
            fresh = _anchored(
                client, office, key, residence_permit_subject(world.rng)
            )  # a block the index lacks
            assert fresh["anchor"]["blockNumber"] > verification.verifier.index.synced_block

            slowest = 0.0
            for _ in range(20):
                start = time.monotonic()
                report = client.post("/v1/verify", json=indexed).json()
                slowest = max(slowest, time.monotonic() - start)
                assert report["verdict"] == "VALID"
            # served while the sync is still stuck on the chain
            assert not stalling.release.is_set() and verification._sync_lock.locked()
            assert slowest < 2.0, slowest

            # a receipt naming a block the index has not reached waits for a sync
            answers: list[Any] = []
            waiting = threading.Thread(
                target=lambda: answers.append(client.post("/v1/verify", json=fresh))
            )
            waiting.start()
            waiting.join(0.5)
            assert waiting.is_alive() and not answers  # it waits for the stalled sync
            stalling.release.set()
            waiting.join(30)
            assert answers and answers[0].json()["verdict"] == "VALID", answers
            assert verification.verifier.index.synced_block >= fresh["anchor"]["blockNumber"]
    finally:
        stalling.release.set()
        office.chain = live


def test_an_outage_answers_503_once_the_index_is_older_than_the_interval(
    world: Any, tmp_path: Path
) -> None:
    office = world.office
    live = office.chain
    interval = 0.5
    app = create_app(office, settings(tmp_path, verify_sync_seconds=interval), start_worker=False)
    key = world.key(world.permits, "issue:ResidencePermit")
    with TestClient(app) as client:
        bundle = _anchored(client, office, key, residence_permit_subject(world.rng))
        assert client.post("/v1/verify", json=bundle).json()["verdict"] == "VALID"
        office.chain = RpcChain(DEAD_NODE, request_timeout=2)
        try:
            time.sleep(interval * 1.5)  # the background thread's syncs fail meanwhile
            response = client.post("/v1/verify", json=bundle)
            problem = assert_problem(response, 503)
            assert problem["type"] == "urn:suixin:problem:chain-unavailable"
            assert "verdict" not in problem and "INVALID" not in response.text
        finally:
            office.chain.close()
            office.chain = live
        # the chain back: the next request syncs itself at once
        assert client.post("/v1/verify", json=bundle).json()["verdict"] == "VALID"


def test_verify_now_waits_for_a_busy_index_rather_than_handing_the_request_on(
    world: Any, tmp_path: Path
) -> None:
    """A verification the index can answer waits for the index's lock (held briefly by another
    verification or a sync's commit) instead of declining to the thread pool; only a lock held
    longer than ``lock_wait`` makes it decline."""
    app = create_app(world.office, settings(tmp_path), start_worker=False)
    verification = app.state.suixin.verification
    with TestClient(app) as client:
        key = world.key(world.permits, "issue:ResidencePermit")
        bundle = _anchored(client, world.office, key, residence_permit_subject(world.rng))
        assert client.post("/v1/verify", json=bundle).json()["verdict"] == "VALID"  # synced

        verification.lock_wait = 60.0  # far longer than the hold below, however loaded the machine
        verification._lock.acquire()
        released = threading.Timer(0.05, verification._lock.release)
        released.start()
        report = verification.verify_now(bundle)
        released.join()
        assert report is not None and report.verdict.value == "VALID"

        verification.lock_wait = 0.01
        with verification._lock:  # held throughout: it declines, the request goes to a thread
            assert verification.verify_now(bundle) is None
        assert verification.verify_now(bundle) is not None


def test_requests_that_find_the_recent_changes_due_read_them_once(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """When the set of lately changed credentials falls due, the requests in flight wait for
    one read of it rather than each reading it (on PostgreSQL each in a thread of its own)."""
    monkeypatch.setattr(verification_module, "_RECENT_REFRESH_SECONDS", 3600.0)
    app = create_app(world.office, settings(tmp_path), start_worker=False)
    verification = app.state.suixin.verification
    reads = []

    def slow_read(_conn: Any, _cursor: Any, statement: str, *_args: Any) -> None:
        if "status_changes" in statement:
            reads.append(statement)
            time.sleep(0.05)  # the others arrive while it runs

    event.listen(world.office.db.engine, "before_cursor_execute", slow_read)
    try:
        start = threading.Barrier(8)
        answers: list[bool] = []

        def ask() -> None:
            start.wait()
            answers.append(verification.recently_changed("urn:uuid:nobody"))

        threads = [threading.Thread(target=ask) for _ in range(8)]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join()
    finally:
        event.remove(world.office.db.engine, "before_cursor_execute", slow_read)
    assert answers == [False] * 8
    assert len(reads) == 1, reads


def test_the_recent_changes_are_read_ahead_of_requests(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A thread of the app reads the lately changed credentials before they fall due, so that
    a verification seldom has to (on PostgreSQL it would leave the fast lane for a thread)."""
    monkeypatch.setattr(verification_module, "_RECENT_REFRESH_SECONDS", 0.05)
    app = create_app(world.office, settings(tmp_path), start_worker=False)
    verification = app.state.suixin.verification
    with TestClient(app):
        reads = set()
        deadline = time.monotonic() + 30
        while len(reads) < 3:  # read again and again, and no request asked
            assert time.monotonic() < deadline, "the set was not read in the background"
            if verification._recent_read is not None:
                reads.add(verification._recent_read[0])
            time.sleep(0.01)
    assert not any(t.name == "suixin-recent-changes" for t in threading.enumerate())
