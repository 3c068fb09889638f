"""The anchoring worker in process: batches by size and age, receipts, outages lose nothing."""

from __future__ import annotations

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
    first._claim(setup.authority_id, force=False)  # the process "dies" right after claiming
    assert [b.state for b in setup.batches()] == ["prepared"]
    second = AnchorWorker(setup.office, batch_size=6, batch_age_seconds=3600)
    assert second.run_once() == 6
    assert len(setup.anchor_events()) == 1


def test_a_batch_sent_but_not_stored_is_not_sent_twice(setup: Setup) -> None:
    setup.issue(4)
    office = setup.office
    worker = AnchorWorker(office, batch_size=4, batch_age_seconds=3600)
    batch_id = worker._claim(setup.authority_id, force=False)
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


def test_receipts_are_built_outside_the_write_transaction(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # hashing a batch's receipts must not keep the other writers of the process waiting
    import service.anchoring.batches as anchoring

    real = anchoring.receipts_for_batch
    held: list[bool] = []

    def spy(*args: object, **kwargs: object) -> object:
        writers = setup.office.db.writers
        held.append(writers is not None and writers.held_here())
        return real(*args, **kwargs)  # type: ignore[arg-type]

    monkeypatch.setattr(anchoring, "receipts_for_batch", spy)
    setup.issue(5)
    assert AnchorWorker(setup.office, batch_size=5).run_once() == 5
    assert held == [False]
    assert setup.office.counts() == {"anchored": 5}


def test_a_paced_worker_rests_as_long_as_each_step_took(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    import service.anchoring.worker as worker_module

    rests: list[float] = []
    monkeypatch.setattr(worker_module.time, "sleep", rests.append)
    setup.issue(4)
    step_rest = worker_module.STEP_REST_SECONDS  # after each receipt step, paced or not
    assert AnchorWorker(setup.office, batch_size=4, pace=2.0).run_once() == 4
    # claim, send, build the receipts: a rest after each (pace times the step's duration)
    paced = [r for r in rests if r != step_rest]
    assert len(paced) == 3 and all(r > 0 for r in paced)
    assert rests.count(step_rest) == 1  # 4 receipts: one step
    rests.clear()
    setup.issue(4, seed=1)
    assert AnchorWorker(setup.office, batch_size=4).run_once() == 4  # pace 0: flat out
    assert rests == [step_rest]


def test_stored_members_that_no_longer_make_the_root_stop_the_batch(setup: Setup) -> None:
    # a digest changed in the database after the claim: no receipt may be stored for it
    from sqlalchemy import update

    from service.storage.models import Credential
    from verifier.errors import ChainError

    setup.issue(3)
    worker = AnchorWorker(setup.office, batch_size=3, batch_age_seconds=3600)
    batch_id = worker._claim(setup.authority_id, force=False)
    with setup.office.db.session() as s:
        s.execute(
            update(Credential)
            .where(Credential.batch_id == batch_id, Credential.leaf_index == 1)
            .values(digest=b"\x07" * 32)
        )
    with pytest.raises(ChainError, match=f"batch {batch_id}: stored members do not reproduce"):
        worker.run_once()
    assert setup.office.counts() == {"batched": 3}


def test_a_crash_between_receipt_steps_is_finished_by_the_next_run(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # receipts are written WRITE_STEP rows per transaction (short waits for issuing
    # requests); a crash after some steps leaves the batch prepared and the rest to the next run
    import service.anchoring.worker as worker_module

    monkeypatch.setattr(worker_module, "WRITE_STEP", 2)
    ids = setup.issue(5)
    db = setup.office.db
    real_session = db.session
    calls = {"n": 0}

    def dying_session() -> object:
        calls["n"] += 1
        if calls["n"] == 4:  # the batch read, the members read, step 1; step 2 dies
            raise RuntimeError("the process died here")
        return real_session()

    worker = AnchorWorker(setup.office, batch_size=5, batch_age_seconds=3600)
    batch_id = worker._claim(setup.authority_id, force=False)
    assert batch_id is not None
    monkeypatch.setattr(db, "session", dying_session)
    with pytest.raises(RuntimeError, match="died"):
        worker._finish(batch_id)
    monkeypatch.setattr(db, "session", real_session)
    assert [b.state for b in setup.batches()] == ["prepared"]
    assert setup.office.counts() == {"anchored": 2, "batched": 3}

    assert AnchorWorker(setup.office, batch_size=5).run_once() == 5
    assert setup.office.counts() == {"anchored": 5}
    assert [b.state for b in setup.batches()] == ["anchored"]
    assert len(setup.anchor_events()) == 1  # the root went on chain once
    verifier = Verifier.from_chain(
        setup.office.chain, setup.deployment.anchor_registry, Policy(sync_interval=timedelta(0))
    )
    leaves = []
    for cid in ids:
        bundle = setup.office.bundle(cid)
        assert verifier.verify(bundle).verdict is Verdict.VALID
        leaves.append(bundle["anchor"]["leafIndex"])
    assert sorted(leaves) == [0, 1, 2, 3, 4]
