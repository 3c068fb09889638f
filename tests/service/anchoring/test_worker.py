"""The anchoring worker in process: batches by size and age, receipts, outages lose nothing."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from datetime import timedelta

import pytest

from service.anchoring.devnode import free_port
from service.anchoring.worker import AnchorWorker
from tests.service.conftest import OfficeWorld
from tests.service.office_setup import Setup
from verifier.chain import RpcChain
from verifier.policy import Policy
from verifier.verify import Verdict, Verifier


def test_a_full_batch_anchors_and_every_credential_verifies(setup: Setup) -> None:
    ids = setup.issue(25)
    worker = AnchorWorker(setup.office, batch_size=10, batch_age_seconds=3600)
    assert worker.run_once() == 10  # one full batch; the remaining 15 wait for size or age
    assert worker.run_once() == 10
    assert worker.run_once() == 0
    assert setup.office.counts() == {"anchored": 20, "pending": 5}
    worker.run_once(force=True)
    assert setup.office.counts() == {"anchored": 25}
    verifier = Verifier.from_chain(
        setup.office.chain, setup.deployment.anchor_registry, Policy(sync_interval=timedelta(0))
    )
    for cid in ids[::6]:
        bundle = setup.office.bundle(cid)
        assert bundle["anchor"] is not None
        assert verifier.verify(bundle).verdict is Verdict.VALID
    events = setup.anchor_events()
    assert sorted(e["leafCount"] for e in events) == [5, 10, 10]
    assert [b.state for b in setup.batches()] == ["anchored"] * 3


def test_an_old_enough_partial_batch_is_anchored(setup: Setup) -> None:
    setup.issue(3)
    worker = AnchorWorker(setup.office, batch_size=1000, batch_age_seconds=0.0)
    assert worker.run_once() == 3


def test_a_chain_outage_delays_anchoring_and_loses_nothing(setup: Setup) -> None:
    office = setup.office
    real_chain = office.chain
    setup.issue(12)
    office.chain = RpcChain(f"http://127.0.0.1:{free_port()}", request_timeout=1)
    worker = AnchorWorker(office, batch_size=5, batch_age_seconds=0, log=lambda _m: None)
    from verifier.errors import ChainUnavailable

    with pytest.raises(ChainUnavailable):
        worker.run_once()
    setup.issue(4, seed=1)  # issuance goes on while the chain is down
    assert office.counts().get("anchored", 0) == 0
    office.chain = real_chain
    worker.drain()
    assert office.counts() == {"anchored": 16}
    events = setup.anchor_events()
    assert sum(e["leafCount"] for e in events) == 16
    assert len({bytes(e["root"]) for e in events}) == len(events)


def test_a_batch_prepared_but_never_sent_is_finished_after_a_restart(setup: Setup) -> None:
    setup.issue(6)
    first = AnchorWorker(setup.office, batch_size=6, batch_age_seconds=3600)
    first.credentials.claim(setup.authority_id, force=False)  # the process "dies" here
    assert [b.state for b in setup.batches()] == ["prepared"]
    second = AnchorWorker(setup.office, batch_size=6, batch_age_seconds=3600)
    assert second.run_once() == 6
    assert len(setup.anchor_events()) == 1


def test_a_batch_sent_but_not_stored_is_not_sent_twice(setup: Setup) -> None:
    setup.issue(4)
    office = setup.office
    worker = AnchorWorker(office, batch_size=4, batch_age_seconds=3600)
    batch_id = worker.credentials.claim(setup.authority_id, force=False)
    assert batch_id is not None
    batch = setup.batches()[0]
    from verifier.contracts import load_artifact

    office.chain.transact(  # the transaction went out, then the process died
        setup.deployment.anchor_registry,
        load_artifact("AnchorRegistry").abi,
        "anchor",
        [bytes(batch.root), batch.size],
        office.account(setup.authority_id),
    )
    assert AnchorWorker(office, batch_size=4).run_once() == 4
    assert len(setup.anchor_events()) == 1
    assert office.counts() == {"anchored": 4}


def test_a_suspended_authority_does_not_hold_up_the_others(world: OfficeWorld) -> None:
    # the permits authority is suspended on chain: its anchor is refused, the licence office's
    # credentials are anchored in the same pass, and the permit follows on reinstatement
    from service.issuing.office import IssueRequest
    from tests.verifier.factories import business_license_subject, residence_permit_subject
    from verifier.contracts import load_artifact

    office, trust = world.office, load_artifact("TrustRegistry").abi
    permit, _ = office.issue(
        world.permits.id, IssueRequest("ResidencePermit", residence_permit_subject(world.rng))
    )
    licence, _ = office.issue(
        world.licences.id, IssueRequest("BusinessLicense", business_license_subject(world.rng))
    )
    registry = office.deployment.trust_registry
    logged: list[str] = []
    worker = AnchorWorker(office, log=logged.append)
    office.chain.transact(registry, trust, "suspend", [world.permits.did], world.root)
    try:
        assert worker.run_once(force=True) == 1
        assert office.bundle(licence["credential"]["id"])["anchor"] is not None
        assert office.bundle(permit["credential"]["id"])["anchor"] is None
        assert worker.stats.failures == 1 and "AuthorityNotActive" in worker.stats.last_error
        assert any(world.permits.did in line for line in logged)
    finally:
        office.chain.transact(registry, trust, "reinstate", [world.permits.did], world.root)
    worker.drain()
    assert office.bundle(permit["credential"]["id"])["anchor"] is not None


def test_anchoring_a_batch_writes_its_row_not_its_members(setup: Setup) -> None:
    # the tree is stored once at the claim; sending and confirming touch the batch row only,
    # and every member's receipt is derived from it
    from sqlalchemy import event

    setup.issue(5)
    worker = AnchorWorker(setup.office, batch_size=5, batch_age_seconds=3600)
    batch_id = worker.credentials.claim(setup.authority_id, force=False)
    assert batch_id is not None
    written: list[str] = []

    def spy(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT")):
            written.append(statement.split("SET")[0].strip())

    event.listen(setup.office.db.engine, "before_cursor_execute", spy)
    try:
        assert worker.credentials.advance(batch_id) == 5
    finally:
        event.remove(setup.office.db.engine, "before_cursor_execute", spy)
    assert not [w for w in written if "credentials" in w], written
    assert any("batches" in w for w in written)
    assert setup.office.counts() == {"anchored": 5}


def test_a_claim_writes_the_queue_rows_not_the_credentials(setup: Setup) -> None:
    # a credential issued into the queue is claimed in its narrow queue row: the credential's
    # own row (about 1.2 KB) is written once, when it is issued
    from sqlalchemy import event, select

    from service.storage.models import QueuedCredential

    ids = setup.issue(4)
    worker = AnchorWorker(setup.office, batch_size=4, batch_age_seconds=3600)
    written: list[str] = []

    def spy(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "DELETE")):
            written.append(statement.split("SET")[0].strip())

    event.listen(setup.office.db.engine, "before_cursor_execute", spy)
    try:
        batch_id = worker.credentials.claim(setup.authority_id, force=False)
    finally:
        event.remove(setup.office.db.engine, "before_cursor_execute", spy)
    assert batch_id is not None
    assert not [w for w in written if "credentials" in w], written
    assert any(w.startswith("UPDATE credential_queue") for w in written), written
    with setup.office.db.session() as s:
        places = s.execute(
            select(QueuedCredential.batch_id, QueuedCredential.leaf_index).order_by(
                QueuedCredential.credential_seq
            )
        ).all()
    assert [tuple(p) for p in places] == [(batch_id, i) for i in range(4)]
    assert worker.run_once() == 4
    for i, cid in enumerate(ids):  # each receipt names its place, from the queue row
        assert setup.office.bundle(cid)["anchor"]["leafIndex"] == i


def test_a_paced_worker_rests_as_long_as_each_step_took(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.anchoring.worker as worker_module

    rests: list[float] = []
    monkeypatch.setattr(worker_module.time, "sleep", rests.append)
    setup.issue(4)
    assert AnchorWorker(setup.office, batch_size=4, pace=2.0).run_once() == 4
    # claim, then send and record: a rest after each (pace times the step's duration)
    assert len(rests) == 2 and all(r > 0 for r in rests)
    rests.clear()
    setup.issue(4, seed=1)
    assert AnchorWorker(setup.office, batch_size=4).run_once() == 4  # pace 0: flat out
    assert rests == []


def test_a_member_whose_row_was_altered_is_refused_not_served(setup: Setup) -> None:
    # a digest changed in the database after the claim: the batch keeps its own leaves (it is
    # anchored as claimed), and the altered row is refused when read, never served as genuine
    from sqlalchemy import select, update

    from service.storage.errors import StoredDataAltered
    from service.storage.models import Batch, Credential, QueuedCredential

    ids = setup.issue(3)
    worker = AnchorWorker(setup.office, batch_size=3, batch_age_seconds=3600)
    batch_id = worker.credentials.claim(setup.authority_id, force=False)
    second = (  # claimed from the queue: its place is in its queue row
        select(QueuedCredential.credential_seq)
        .where(QueuedCredential.batch_id == batch_id, QueuedCredential.leaf_index == 1)
        .scalar_subquery()
    )
    with setup.office.db.session() as s:
        s.execute(update(Credential).where(Credential.seq == second).values(digest=b"\x07" * 32))
    assert worker.run_once() == 3
    served = [cid for cid in ids if _serves(setup, cid)]
    assert len(served) == 2  # the altered one is refused
    with setup.office.db.session() as s:  # and a batch whose stored leaves were altered
        s.execute(update(Batch).where(Batch.id == batch_id).values(leaves=b"\x01" * 96))
    for cid in ids:
        with pytest.raises(StoredDataAltered):
            setup.office.bundle(cid)


def _serves(setup: Setup, credential_id: str) -> bool:
    from service.storage.errors import StoredDataAltered

    try:
        setup.office.bundle(credential_id)
    except StoredDataAltered:
        return False
    return True


def test_a_batch_is_final_only_at_the_deployments_depth(setup: Setup) -> None:
    # with confirmations the batch is sent (its receipt exists), and anchored only once that
    # many blocks are on top of its own
    import dataclasses

    office = setup.office
    office.deployment = dataclasses.replace(office.deployment, confirmations=2)
    ids = setup.issue(3)
    worker = AnchorWorker(office, batch_size=3, batch_age_seconds=3600)
    assert worker.run_once() == 0
    assert office.counts() == {"sent": 3}
    assert office.bundle(ids[0])["anchor"] is not None
    assert office.queue_depth() == 3
    for _ in range(2):  # two more blocks
        office.chain.send_value(setup.root, setup.root.address, 1)
    assert worker.run_once() == 3
    assert office.counts() == {"anchored": 3}
    assert office.queue_depth() == 0


def test_a_sent_batch_whose_block_was_replaced_is_sent_again(setup: Setup) -> None:
    # the recorded block no longer holds the batch (lost blocks, a reorganisation): the batch
    # goes back to prepared and its root is sent again; here the root is still on chain, so
    # the worker finds it there and records its real block, sending nothing twice
    import dataclasses

    from sqlalchemy import update

    from service.storage.models import Batch

    office = setup.office
    office.deployment = dataclasses.replace(office.deployment, confirmations=5)
    ids = setup.issue(2)
    worker = AnchorWorker(office, batch_size=2, batch_age_seconds=3600)
    worker.run_once()
    true_hash = setup.batches()[0].block_hash
    with office.db.session() as s:
        s.execute(update(Batch).values(block_hash="0x" + "dd" * 32))
    office.deployment = dataclasses.replace(office.deployment, confirmations=0)
    assert worker.run_once() == 2
    assert setup.batches()[0].block_hash == true_hash
    assert len(setup.anchor_events()) == 1
    assert office.bundle(ids[0])["anchor"]["blockHash"] == true_hash


def test_an_unexpected_fault_in_a_pass_is_retried_and_the_worker_stays_up(setup: Setup) -> None:
    # web3 raises things the worker does not know (BadFunctionCallOutput from a call that
    # returned nothing): the pass fails, is logged with its trace, counted in the heartbeat,
    # and the next pass goes on
    import threading
    import time

    from web3.exceptions import BadFunctionCallOutput

    from service.anchoring.supervision import worker_health

    logged: list[str] = []
    worker = AnchorWorker(
        setup.office,
        batch_size=1000,
        batch_age_seconds=0,
        poll_seconds=0.05,
        log=logged.append,
        reconcile_seconds=3600,
    )
    real = worker.credentials.advance
    faults = {"left": 2}

    def flaky(batch_id: int) -> int:
        if faults["left"]:
            faults["left"] -= 1
            raise BadFunctionCallOutput("Could not decode contract function call to anchorOf")
        return real(batch_id)

    worker.credentials.advance = flaky  # type: ignore[method-assign]
    ids = setup.issue(3)
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while setup.office.queue_depth() and time.monotonic() < deadline:
            time.sleep(0.05)
        assert thread.is_alive()
        assert setup.office.queue_depth() == 0
        assert worker.stats.failures == 2
        assert any("BadFunctionCallOutput" in line for line in logged)
        assert any("Traceback" in line for line in logged)
        while time.monotonic() < deadline:  # the pass that anchored ends with its heartbeat
            health = worker_health(setup.office.db, stale_seconds=15)
            if health.failing_seconds == 0:
                break
            time.sleep(0.05)
        assert health.up and health.failing_seconds == 0 and health.failures == 2
    finally:
        stop.set()
        thread.join(timeout=10)
    assert setup.office.bundle(ids[0])["anchor"] is not None
    assert not worker_health(setup.office.db, stale_seconds=15).up  # stopped on purpose


def test_a_woken_worker_anchors_at_once_and_a_stopped_one_ends_without_its_poll(
    setup: Setup,
) -> None:
    # idle between passes for a whole poll interval unless woken: what was issued meanwhile
    # is anchored as soon as ``wake`` says so, and ``stop`` still ends the wait early
    import time

    worker = hourly_worker(setup)
    with running(worker) as deadline:  # its first pass (nothing to do) is over: it waits now
        setup.issue(3)
        time.sleep(0.3)
        assert setup.office.queue_depth() == 3  # not found by itself within the hour
        worker.wake()
        while setup.office.queue_depth() and time.monotonic() < deadline:
            time.sleep(0.02)
        assert setup.office.queue_depth() == 0
        assert setup.office.counts() == {"anchored": 3}


def test_woken_passes_serve_the_credentials_and_the_other_queues_keep_their_poll(
    setup: Setup,
) -> None:
    # a bulk run wakes the worker at every chunk: those passes anchor the credentials, and the
    # SD-JWT queue and life-cycle tasks are served once a poll interval, as by an idle worker
    import time

    worker = hourly_worker(setup)
    served = {"sdjwt": 0, "lifecycle": 0}
    sdjwt_once, lifecycle_once = worker.sdjwt.run_once, worker.lifecycle.run_once

    def sdjwt(*, force: bool = False) -> int:
        served["sdjwt"] += 1
        return sdjwt_once(force=force)

    def lifecycle() -> None:
        served["lifecycle"] += 1
        lifecycle_once()

    worker.sdjwt.run_once = sdjwt  # type: ignore[method-assign]
    worker.lifecycle.run_once = lifecycle  # type: ignore[method-assign]
    with running(worker) as deadline:
        assert served == {"sdjwt": 1, "lifecycle": 1}  # the first pass serves every queue
        for chunk in range(3):  # three chunks, each woken for: anchored at once
            setup.issue(2, seed=100 + chunk)
            worker.wake()
            while setup.office.queue_depth() and time.monotonic() < deadline:
                time.sleep(0.02)
            assert setup.office.queue_depth() == 0
        assert setup.office.counts() == {"anchored": 6}
        assert served == {"sdjwt": 1, "lifecycle": 1}  # within the hour: not again
        worker.poll_seconds = 0.05  # the interval is over: the next pass serves them
        worker.wake()
        while served["lifecycle"] < 2 and time.monotonic() < deadline:
            time.sleep(0.02)
        assert served["sdjwt"] >= 2 and served["lifecycle"] >= 2
    # one pass as tests and ``drain`` make it still serves every queue
    before = dict(served)
    worker.run_once()
    assert served == {k: v + 1 for k, v in before.items()}


def hourly_worker(setup: Setup) -> AnchorWorker:
    """A worker that polls once an hour: between passes it finds work only when woken."""
    return AnchorWorker(
        setup.office,
        batch_size=1000,
        batch_age_seconds=0,
        poll_seconds=3600,
        log=lambda _m: None,
        reconcile_seconds=3600,
    )


@contextmanager
def running(worker: AnchorWorker) -> Iterator[float]:
    """``worker`` run on a thread of its own; yields once its first pass is over, with a
    deadline (``time.monotonic``) 30 s away; then stops it and requires it to end at once."""
    import threading
    import time

    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,), daemon=True)
    thread.start()
    try:
        deadline = time.monotonic() + 30
        while worker.heartbeat.last_success_at is None and time.monotonic() < deadline:
            time.sleep(0.02)
        yield deadline
    finally:
        stop.set()
        thread.join(timeout=5)
    assert not thread.is_alive()
