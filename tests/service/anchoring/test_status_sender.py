"""The status queue: batches on chain in order, exactly once across crashes and chain outages,
several workers on PostgreSQL, and the gas a status change costs per batch size."""

from __future__ import annotations

import threading
import uuid
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from sqlalchemy import func, select

from service.anchoring.devnode import free_port
from service.anchoring.status_sender import StatusSender
from service.anchoring.tasks import LifecycleTasks
from service.audit.trail import sequence
from service.issuing.office import IssueRequest, Office
from service.lifecycle.status_queue import enqueue
from service.storage.db import Database
from service.storage.models import AuditEntry, StatusChange
from service.trust.authorities import create_authority
from tests.service.office_setup import Setup, make_setup, postgres_schema
from tests.verifier.factories import residence_permit_subject
from verifier.bundle import credential_id_hash
from verifier.chain import EmbeddedChain, EventDecoder, RpcChain
from verifier.contracts import load_artifact
from verifier.errors import ChainUnavailable

ABI = load_artifact("AnchorRegistry").abi


def ids(n: int) -> list[str]:
    return [uuid.uuid4().urn for _ in range(n)]


def queue(setup: Setup, *changes: tuple[str, str, str]) -> None:
    """Queue (credential id, status, reason) changes in one transaction, in order."""
    with setup.office.db.write_session() as s:
        for credential_id, status, reason in changes:
            enqueue(
                s,
                authority_id=setup.authority_id,
                credential_id=credential_id,
                status=status,
                reason=reason,
            )


def status_events(setup: Setup) -> list[dict[str, Any]]:
    """Every StatusChanged event of the registry: its args and transaction hash, in order."""
    decoder = EventDecoder(ABI)
    logs = setup.office.chain.get_logs(
        [setup.deployment.anchor_registry], setup.deployment.block_number
    )
    return [
        {**e.args, "tx": e.tx_hash}
        for e in map(decoder.decode, logs)
        if e is not None and e.event == "StatusChanged"
    ]


def states(office: Office) -> dict[str, int]:
    with office.db.session() as s:
        rows = s.execute(
            select(StatusChange.state, func.count()).group_by(StatusChange.state)
        ).all()
    return {state: int(n) for state, n in rows}


def on_chain(setup: Setup, credential_id: str) -> tuple[int, int]:
    """(status, reason) of a credential on chain."""
    record = setup.office.chain.call(
        setup.deployment.anchor_registry,
        ABI,
        "statusOf",
        [1, credential_id_hash(credential_id)],
    )
    return int(record[0]), int(record[1])


class Killed(BaseException):
    """The worker process "dies" at a pause point: not an error the sender may catch and go on
    from (it goes on past one authority's errors), as a killed process goes on from nothing."""


def dying_at(sender: StatusSender, phase: str) -> StatusSender:
    def pause(at: str) -> None:
        if at == phase:
            raise Killed(at)

    sender._pause = pause  # type: ignore[method-assign]
    return sender


# ------------------------------------------------------------------------------ batches


def test_many_changes_go_in_one_transaction_and_gas_per_change_falls(
    setup: Setup, capsys: pytest.CaptureFixture[str]
) -> None:
    sender = StatusSender(setup.office, batch_size=200, log=lambda _m: None)
    rows = []
    for n in (1, 10, 50, 200):
        before = len(status_events(setup))
        queue(setup, *((cid, "revoked", "lost") for cid in ids(n)))
        assert sender.run_once() == n
        events = status_events(setup)[before:]
        assert len(events) == n and len({e["tx"] for e in events}) == 1  # one transaction
        changes, gas = sender.stats.gas[-1]
        assert changes == n
        rows.append((n, gas, gas / n))
    per_change = {n: each for n, _, each in rows}
    assert per_change[10] < per_change[1] and per_change[200] < per_change[50] < per_change[10]
    assert per_change[200] < 0.6 * per_change[1]
    assert states(setup.office) == {"done": 261}
    with capsys.disabled():
        print("\nstatus changes per transaction | gas per transaction | gas per change")
        for n, gas, each in rows:
            print(f"{n:>30} | {gas:>19,} | {each:>14,.0f}")


def test_batches_keep_order_and_size(setup: Setup) -> None:
    credentials = ids(50)
    queue(setup, *((cid, "superseded", "endorsed") for cid in credentials))
    sender = StatusSender(setup.office, batch_size=20, log=lambda _m: None)
    assert sender.run_once() == 50
    assert [changes for changes, _gas in sender.stats.gas] == [20, 20, 10]
    events = status_events(setup)
    assert [bytes(e["credentialIdHash"]) for e in events] == [
        credential_id_hash(c) for c in credentials
    ]
    assert {(int(e["status"]), int(e["reason"])) for e in events} == {(4, 3)}


def test_one_change_per_credential_per_transaction_in_order(setup: Setup) -> None:
    x, y = ids(2)
    queue(
        setup,
        (x, "suspended", "endorsement_lapsed"),
        (y, "revoked", "lost"),
        (x, "superseded", "endorsed"),
    )
    sender = StatusSender(setup.office, log=lambda _m: None)
    assert sender.run_once() == 3
    assert [changes for changes, _gas in sender.stats.gas] == [2, 1]
    assert on_chain(setup, x) == (4, 3) and on_chain(setup, y) == (1, 1)
    events = status_events(setup)
    assert [int(e["status"]) for e in events] == [2, 1, 4]


# ------------------------------------------------------------------------------ crashes


def test_a_crash_between_send_and_confirm_is_settled_without_resending(setup: Setup) -> None:
    credentials = ids(7)
    queue(setup, *((cid, "revoked", "licence_revoked") for cid in credentials))
    first = dying_at(StatusSender(setup.office, log=lambda _m: None), "status-sent")
    with pytest.raises(Killed):
        first.run_once()
    assert states(setup.office) == {"sent": 7}  # on chain, but not recorded as such
    assert len(status_events(setup)) == 7

    restarted = StatusSender(setup.office, log=lambda _m: None)
    assert restarted.run_once() == 7
    assert restarted.stats.settled_from_chain == 7 and restarted.stats.transactions == 0
    assert states(setup.office) == {"done": 7}
    assert len(status_events(setup)) == 7  # nothing sent twice
    assert all(on_chain(setup, c) == (1, 9) for c in credentials)


def test_a_crash_after_claiming_sends_once_after_the_restart(setup: Setup) -> None:
    credentials = ids(5)
    queue(setup, *((cid, "suspended", "endorsement_lapsed") for cid in credentials))
    first = dying_at(StatusSender(setup.office, log=lambda _m: None), "status-claimed")
    with pytest.raises(Killed):
        first.run_once()
    assert states(setup.office) == {"sent": 5} and status_events(setup) == []

    restarted = StatusSender(setup.office, log=lambda _m: None)
    assert restarted.run_once() == 5
    assert restarted.stats.requeued == 5 and restarted.stats.transactions == 1
    assert states(setup.office) == {"done": 5}
    assert len(status_events(setup)) == 5


def test_a_chain_outage_keeps_changes_pending_and_loses_nothing(setup: Setup) -> None:
    office = setup.office
    real = office.chain
    credentials = ids(6)
    queue(setup, *((cid, "revoked", "deceased") for cid in credentials))
    office.chain = RpcChain(f"http://127.0.0.1:{free_port()}", request_timeout=1)
    sender = StatusSender(office, log=lambda _m: None)
    with pytest.raises(ChainUnavailable):
        sender.run_once()
    assert states(office) == {"pending": 6}
    queue(setup, (ids(1)[0], "revoked", "hukou_registered"))  # life goes on meanwhile
    office.chain = real
    assert sender.run_once() == 7
    assert states(office) == {"done": 7} and len(status_events(setup)) == 7


def test_an_outage_while_waiting_for_the_receipt_is_settled_from_the_chain(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    office = setup.office
    credentials = ids(4)
    queue(setup, *((cid, "superseded", "damaged") for cid in credentials))
    real_transact = office.chain.transact

    def sent_then_lost(*args: Any, **kwargs: Any) -> Any:
        real_transact(*args, **kwargs)
        raise ChainUnavailable("the node went away before the receipt came")

    monkeypatch.setattr(office.chain, "transact", sent_then_lost)
    sender = StatusSender(office, log=lambda _m: None)
    with pytest.raises(ChainUnavailable):
        sender.run_once()
    assert states(office) == {"sent": 4}
    monkeypatch.undo()
    assert sender.run_once() == 4
    assert sender.stats.settled_from_chain == 4 and sender.stats.transactions == 0
    assert states(office) == {"done": 4} and len(status_events(setup)) == 4


def test_a_change_the_chain_refuses_is_rejected_and_the_rest_go_on(setup: Setup) -> None:
    x, y = ids(2)
    queue(setup, (x, "revoked", "lost"))
    sender = StatusSender(setup.office, log=lambda _m: None)
    assert sender.run_once() == 1
    queue(setup, (x, "superseded", "endorsed"), (y, "revoked", "licence_revoked"))
    assert sender.run_once() == 1  # y; x cannot go from revoked (final) to superseded
    assert states(setup.office) == {"done": 2, "rejected": 1}
    assert on_chain(setup, x) == (1, 1) and on_chain(setup, y) == (1, 9)
    sequence(setup.office.db)  # as the worker does: the committed rows, chained
    with setup.office.db.session() as s:
        entry = s.scalars(select(AuditEntry).where(AuditEntry.action == "status.rejected")).one()
    assert entry.credential_id == x and entry.details["error"] == "InvalidStatusTransition"
    assert entry.details["onChainStatus"] == 1


def test_one_authority_failing_holds_back_only_its_own_changes(setup: Setup) -> None:
    """An authority whose changes fail for a reason of its own (here its key store cannot be
    read) is logged and skipped; another authority's revocations still reach the chain. Before,
    the fault ended the whole pass, every pass, and the authorities after it waited for good."""
    other = create_authority(
        setup.office,
        "did:web:amr.gz.gov.cn",
        "广州市市场监督管理局",
        "Guangzhou Administration for Market Regulation",
        440100,
        ["BusinessLicense"],
        root=setup.root,
        uscc="11440100007502233T",
    )
    x, y = ids(2)
    queue(setup, (x, "revoked", "lost"))
    with setup.office.db.write_session() as s:
        enqueue(s, authority_id=other.id, credential_id=y, status="revoked", reason="lost")
    logged: list[str] = []
    sender = StatusSender(setup.office, log=logged.append)
    serve = sender._serve

    def failing_first(authority_id: int) -> int:
        if authority_id == setup.authority_id:
            raise OSError("key store unreadable")
        return serve(authority_id)

    sender._serve = failing_first  # type: ignore[method-assign]
    assert sender.run_once() == 1  # the other authority's change
    assert sender.run_once() == 0  # the failing one's stays pending, pass after pass
    assert states(setup.office) == {"done": 1, "pending": 1}
    assert sender.stats.failures == 2 and "OSError: key store unreadable" in sender.stats.last_error
    waits = [m for m in logged if m.startswith(f"status changes of authority {setup.authority_id}")]
    assert len(waits) == 2
    assert sum("Traceback" in m for m in logged) == 1  # the traceback once, not every pass
    sender._serve = serve  # type: ignore[method-assign]
    assert sender.run_once() == 1  # mended: the held-back change goes on chain
    assert states(setup.office) == {"done": 2}
    assert on_chain(setup, x) == (1, 1)


def test_a_chain_outage_still_ends_the_pass_for_every_authority(setup: Setup) -> None:
    (x,) = ids(1)
    queue(setup, (x, "revoked", "lost"))
    sender = StatusSender(setup.office, log=lambda _m: None)

    def outage(authority_id: int) -> int:
        raise ChainUnavailable("node gone")

    sender._serve = outage  # type: ignore[method-assign]
    with pytest.raises(ChainUnavailable):
        sender.run_once()  # the worker backs off, as for any outage
    assert sender.stats.failures == 0 and states(setup.office) == {"pending": 1}


def test_unknown_statuses_and_reasons_are_refused_when_queued(setup: Setup) -> None:
    with pytest.raises(ValueError, match="unknown status"):
        queue(setup, (ids(1)[0], "deleted", "lost"))
    with pytest.raises(ValueError, match="unknown status reason"):
        queue(setup, (ids(1)[0], "revoked", "bored"))
    assert states(setup.office) == {}


# ------------------------------------------------------------------------------ the worker


def test_the_worker_pass_sweeps_lapsed_permits_and_sends_their_suspension(setup: Setup) -> None:
    office = setup.office
    bundle, _ = office.issue(
        setup.authority_id, IssueRequest("ResidencePermit", residence_permit_subject())
    )
    end = datetime.fromisoformat(bundle["credential"]["validUntil"].replace("Z", "+00:00"))
    later = end + timedelta(minutes=5)
    tasks = LifecycleTasks(office, sweep_seconds=3600, log=lambda _m: None, clock=lambda: later)
    assert tasks.run_once() == 1  # swept, then sent in the same pass
    assert tasks.swept == 1
    assert on_chain(setup, bundle["credential"]["id"]) == (2, 6)
    assert tasks.run_once() == 0 and tasks.swept == 1  # the next sweep is an hour away


# ------------------------------------------------------------------------------ two workers


@pytest.mark.postgres
def test_two_workers_on_postgresql_send_every_change_exactly_once(tmp_path: Path) -> None:
    chain = EmbeddedChain(None)
    with postgres_schema() as url:
        setup = make_setup(chain, url)
        credentials = ids(120)
        queue(setup, *((cid, "revoked", "lost") for cid in credentials))
        second = Office(Database(url), chain, setup.deployment, setup.office.master)
        senders = [
            StatusSender(setup.office, batch_size=10, log=lambda _m: None),
            StatusSender(second, batch_size=10, log=lambda _m: None),
        ]
        errors: list[BaseException] = []

        def work(sender: StatusSender) -> None:
            try:
                sender.drain(timeout=60)
            except BaseException as e:  # reported below
                errors.append(e)

        threads = [threading.Thread(target=work, args=(s,)) for s in senders]
        for t in threads:
            t.start()
        for t in threads:
            t.join()
        assert errors == []
        assert states(setup.office) == {"done": 120}
        events = status_events(setup)
        assert len(events) == 120
        assert sorted(bytes(e["credentialIdHash"]) for e in events) == sorted(
            credential_id_hash(c) for c in credentials
        )
        assert sum(s.stats.confirmed for s in senders) == 120
        second.db.dispose()
        setup.office.db.dispose()
    chain.close()
