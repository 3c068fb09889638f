"""Anchoring the audit head on a real chain, crash-safely, and checking the trail against it."""

from __future__ import annotations

import threading
from typing import Any

import pytest
from eth_account import Account
from sqlalchemy import func, select, text

from service.anchoring.worker import AnchorWorker
from service.audit.anchor import ANCHORED, HeadAnchorer
from service.audit.trail import GENESIS, anchor_leaf_count, anchor_root, record, row_hash, sequence
from service.audit.verify import verify_audit
from service.issuing.office import IssueRequest, Office
from service.storage.db import Database
from service.storage.models import AuditAnchor, AuditEntry, AuditInboxEntry, IssuerKey
from service.trust.deployment import fund_if_dev
from tests.service.conftest import OfficeWorld
from tests.verifier.factories import residence_permit_subject
from verifier.chain import EventDecoder
from verifier.contracts import load_artifact
from verifier.merkle import MerkleTree

ANCHORS = load_artifact("AnchorRegistry").abi
TRUST = load_artifact("TrustRegistry").abi


class Crash(BaseException):
    """Stands for the process dying at a given point (not an Exception: nothing catches it)."""


def quiet(office: Office, **kwargs: Any) -> HeadAnchorer:
    return HeadAnchorer(office, log=lambda _message: None, **kwargs)


def issue(world: OfficeWorld, n: int = 1) -> None:
    for _ in range(n):
        subject = residence_permit_subject(world.rng)
        world.office.issue(world.permits.id, IssueRequest("ResidencePermit", subject))


def anchor_of(world: OfficeWorld, root: bytes) -> tuple[int, int, int, int]:
    office = world.office
    found = office.chain.call(office.deployment.anchor_registry, ANCHORS, "anchorOf", [root])
    return int(found[0]), int(found[1]), int(found[2]), int(found[3])


def anchored_events(world: OfficeWorld, root: bytes) -> list[str]:
    """Transaction hashes of the RootAnchored events of ``root``."""
    office = world.office
    decoder = EventDecoder(ANCHORS)
    logs = office.chain.get_logs(
        [office.deployment.anchor_registry], office.deployment.block_number
    )
    return [
        e.tx_hash
        for e in map(decoder.decode, logs)
        if e and e.event == "RootAnchored" and bytes(e.args["root"]) == root
    ]


def anchors(db: Database) -> list[AuditAnchor]:
    with db.session() as s:
        return list(s.scalars(select(AuditAnchor).order_by(AuditAnchor.seq)))


def entry(db: Database, seq: int) -> AuditEntry:
    with db.session() as s:
        found = s.get(AuditEntry, seq)
    assert found is not None
    return found


def sql(db: Database, statement: str, **params: object) -> None:
    with db.engine.begin() as connection:
        connection.execute(text(statement), params)


def verify(world: OfficeWorld) -> Any:
    office = world.office
    return verify_audit(office.db, office.chain, office.deployment)


# ---------------------------------------------------------------------- anchoring


def test_the_head_goes_on_chain_as_a_root_of_its_own(world: OfficeWorld) -> None:
    office, db = world.office, world.office.db
    anchorer = quiet(office)
    assert anchorer.anchor() is None  # an empty log: nothing to anchor
    issue(world, 2)
    head = anchorer.anchor()
    assert head is not None and head.seq == 3  # two issuances, then the audit.anchor row
    marker = entry(db, 3)
    assert (marker.action, marker.actor, marker.authority_id) == (
        "audit.anchor",
        "worker",
        world.permits.id,  # the lowest-id active authority's account
    )
    assert head.head_hash == bytes(marker.row_hash)
    root = anchor_root(3, head.head_hash)
    chain_authority, leaves, anchored_at, block = anchor_of(world, root)
    did = office.chain.call(
        office.deployment.trust_registry, TRUST, "authorityById", [chain_authority]
    )[5]
    assert (did, leaves, block) == (world.permits.did, 3, head.block_number)
    assert anchored_at == head.block_time
    assert anchored_events(world, root) == [head.tx_hash]
    # never a credential batch root: a one-leaf tree over the same hash differs
    assert root != MerkleTree([head.head_hash]).root
    [stored] = anchors(db)
    assert (stored.state, stored.tx_hash, stored.block_number) == (ANCHORED, head.tx_hash, block)

    assert anchorer.anchor() is None  # no rows since the last anchor: no transaction
    issue(world)
    again = anchorer.anchor()
    assert again is not None and again.seq == 5


def test_an_anchor_chains_the_inbox_first_and_covers_every_row_committed_before_it(
    world: OfficeWorld,
) -> None:
    db = world.office.db
    issue(world, 2)
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditInboxEntry)) == 2
        assert s.scalar(select(func.count()).select_from(AuditEntry)) == 0
    head = quiet(world.office).anchor()
    assert head is not None and head.seq == 3
    with db.session() as s:
        trail = [e.action for e in s.scalars(select(AuditEntry).order_by(AuditEntry.seq))]
        assert s.scalar(select(func.count()).select_from(AuditInboxEntry)) == 0
    assert trail == ["credential.issue", "credential.issue", "audit.anchor"]
    # prepare alone (as after a crash between sequencing and preparing) chains them too
    issue(world)
    anchorer = quiet(world.office)
    prepared = anchorer.prepare(world.permits.id)
    assert prepared is not None
    assert [a.seq for a in anchors(db)] == [3, 5]  # row 4 (the issuance), then the anchor row
    assert verify(world).intact


def test_a_row_forged_beyond_the_head_stops_chaining_not_the_worker(world: OfficeWorld) -> None:
    db = world.office.db
    issue(world)
    assert sequence(db) == 1
    sql(  # a forged row 2 while the head still says 1
        db,
        "INSERT INTO audit_log (seq, at, actor, action, details, prev_hash, row_hash) "
        "VALUES (2, :at, 'cli', 'forged', '{}', :h, :h)",
        at=entry(db, 1).at,
        h=bytes(32),
    )
    issue(world)  # recording goes on: the action commits with its inbox row
    said: list[str] = []
    worker = AnchorWorker(world.office, log=said.append)
    assert worker.sequence_audit() == 0  # logged, not raised
    assert any("audit_rows_beyond_head" in m for m in said)
    assert worker.stats.failures == 1
    now = [0.0]
    anchorer = HeadAnchorer(world.office, interval_seconds=1, log=said.append, clock=lambda: now[0])
    now[0] += 1
    assert anchorer.tick() is None  # logged, not raised, nothing anchored
    assert anchors(db) == []
    with db.session() as s:
        assert s.scalar(select(func.count()).select_from(AuditInboxEntry)) == 1
    report = verify(world)
    assert report.first is not None and (report.first.code, report.first.seq) == (
        "row_inserted",
        2,
    )


def test_anchor_root_and_leaf_count() -> None:
    h = bytes(range(32))
    assert anchor_root(1, h) != anchor_root(2, h) != anchor_root(1, bytes(32))
    assert anchor_leaf_count(7) == 7 and anchor_leaf_count(2**40) == 2**32 - 1
    with pytest.raises(ValueError):
        anchor_root(0, h)


def test_the_next_active_authority_anchors_when_the_lowest_is_not_active(
    world: OfficeWorld,
) -> None:
    db = world.office.db
    with db.session() as s:
        for key in s.scalars(select(IssuerKey).where(IssuerKey.authority_id == world.permits.id)):
            key.active = False  # e.g. enrolment awaiting accreditation
    append_row(db)
    head = quiet(world.office).anchor()
    assert head is not None
    assert anchors(db)[0].authority_id == world.licences.id


def append_row(db: Database) -> None:
    with db.write_session() as s:
        record(s, actor="cli", action="test", details={"n": 1})


def test_an_account_the_chain_refuses_falls_back_to_the_next_authority(
    world: OfficeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    office = world.office
    stranger = Account.create()  # not accredited: NotAnAuthority
    fund_if_dev(office.chain, stranger.address)
    real = office.account
    monkeypatch.setattr(office, "account", lambda a: stranger if a == world.permits.id else real(a))
    issue(world)
    head = quiet(office).anchor()
    assert head is not None
    [stored] = anchors(office.db)
    assert stored.authority_id == world.licences.id
    assert anchored_events(world, bytes(stored.root)) == [head.tx_hash]


# ---------------------------------------------------------------------- crashes


def restarted(world: OfficeWorld) -> Office:
    """A new office over the same database and chain, as a restarted process has."""
    office = world.office
    return Office(office.db, office.chain, office.deployment, office.master)


def test_a_crash_after_prepare_is_finished_on_restart_exactly_once(world: OfficeWorld) -> None:
    issue(world, 3)
    first = quiet(world.office)
    prepared = first.prepare(world.permits.id)  # then the process dies before sending
    assert prepared is not None
    [anchor] = anchors(world.office.db)
    assert anchor.state == "prepared" and anchor_of(world, bytes(anchor.root))[2] == 0
    report = verify(world)
    assert report.intact and report.prepared == 1 and report.last_anchored is None

    head = quiet(restarted(world)).anchor()
    assert head is not None and head.seq == anchor.seq
    assert anchored_events(world, bytes(anchor.root)) == [head.tx_hash]
    assert [a.state for a in anchors(world.office.db)] == [ANCHORED]
    assert verify(world).intact


def test_a_crash_after_send_is_stored_on_restart_without_sending_again(
    world: OfficeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue(world, 2)
    first = quiet(world.office)

    def die(*_args: Any) -> Any:
        raise Crash

    monkeypatch.setattr(first, "_store", die)  # the root is on chain, the row still prepared
    with pytest.raises(Crash):
        first.anchor()
    [anchor] = anchors(world.office.db)
    [sent] = anchored_events(world, bytes(anchor.root))
    assert anchor.state == "prepared"

    again = restarted(world)
    sends: list[str] = []
    transact = again.chain.transact
    monkeypatch.setattr(
        again.chain, "transact", lambda *a, **k: sends.append(a[2]) or transact(*a, **k)
    )
    head = quiet(again).anchor()
    assert sends == []  # asked the chain, did not send again
    assert head is not None and head.tx_hash == sent
    assert anchored_events(world, bytes(anchor.root)) == [sent]
    assert anchors(world.office.db)[0].state == ANCHORED


def test_root_already_anchored_means_it_is_there(
    world: OfficeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    issue(world)
    anchorer = quiet(world.office)
    prepared = anchorer.prepare(world.permits.id)
    assert prepared is not None
    [anchor] = anchors(world.office.db)
    office = world.office
    receipt = office.chain.transact(  # sent by a run whose answer was lost
        office.deployment.anchor_registry,
        ANCHORS,
        "anchor",
        [bytes(anchor.root), anchor.leaf_count],
        office.account(world.permits.id),
    )
    located = anchorer._reads.located
    calls = iter([None])  # the first look misses it (a node lagging behind), then the revert
    monkeypatch.setattr(anchorer._reads, "located", lambda r: next(calls, located(r)))
    head = anchorer.anchor()
    assert head is not None and head.tx_hash == receipt.tx_hash
    assert anchored_events(world, bytes(anchor.root)) == [receipt.tx_hash]


def test_tick_anchors_once_per_interval_and_only_when_rows_were_added(world: OfficeWorld) -> None:
    now = [100.0]
    anchorer = quiet(world.office, interval_seconds=60, clock=lambda: now[0])
    issue(world)
    assert anchorer.tick() is None  # the first anchor comes one interval after start
    now[0] += 60
    first = anchorer.tick()
    assert first is not None
    now[0] += 30
    issue(world)
    assert anchorer.tick() is None  # not due yet
    now[0] += 30
    second = anchorer.tick()
    assert second is not None and second.seq > first.seq
    now[0] += 60
    assert anchorer.tick() is None  # due, but nothing was added
    assert len(anchors(world.office.db)) == 2


def test_the_worker_records_batches_and_anchors_the_head_from_its_loop(
    world: OfficeWorld,
) -> None:
    issue(world, 3)
    worker = AnchorWorker(
        world.office,
        batch_age_seconds=0.01,
        poll_seconds=0.02,
        audit_anchor_seconds=0.05,
        log=lambda _message: None,
    )
    stop = threading.Event()
    thread = threading.Thread(target=worker.run, args=(stop,))
    thread.start()
    try:
        for _ in range(400):
            if anchors(world.office.db) and world.office.queue_depth() == 0:
                break
            stop.wait(0.02)
    finally:
        stop.set()
        thread.join(timeout=30)
    db = world.office.db
    with db.session() as s:
        actions = [(e.actor, e.action) for e in s.scalars(select(AuditEntry))]
        waiting = list(s.scalars(select(AuditInboxEntry)))
    assert waiting == []  # every pass chains what it and the office recorded
    assert ("worker", "batch.anchor") in actions
    assert ("worker", "audit.anchor") in actions
    assert anchors(db) and all(a.state == ANCHORED for a in anchors(db))
    assert verify(world).intact


# ---------------------------------------------------------------------- verifying


def test_an_intact_trail_verifies_against_the_chain(world: OfficeWorld) -> None:
    issue(world, 2)
    anchorer = quiet(world.office)
    first = anchorer.anchor()
    issue(world, 2)
    second = anchorer.anchor()
    issue(world, 3)
    assert first is not None and second is not None
    report = verify(world)
    assert report.intact and report.chain_checked
    assert [h.seq for h in report.anchored] == [first.seq, second.seq] == [3, 6]
    assert report.last_anchored == second
    assert (report.rows, report.head_seq, report.unanchored_rows) == (9, 9, 3)


def rewrite_consistently(db: Database, start: int) -> bytes:
    """Change row ``start``'s actor and recompute every hash after it and the head, as someone
    with database access who knows the scheme would; returns the new head hash."""
    prev = bytes(entry(db, start - 1).row_hash) if start > 1 else GENESIS
    with db.session() as s:
        last = int(s.execute(text("SELECT seq FROM audit_head")).scalar_one())
    for seq in range(start, last + 1):
        e = entry(db, seq)
        actor = "apikey:forged" if seq == start else e.actor
        forged = row_hash(
            seq, e.at, actor, e.action, e.authority_id, e.credential_id, e.details, prev
        )
        sql(
            db,
            "UPDATE audit_log SET actor = :a, prev_hash = :p, row_hash = :h WHERE seq = :s",
            a=actor,
            p=prev,
            h=forged,
            s=seq,
        )
        prev = forged
    sql(db, "UPDATE audit_head SET hash = :h WHERE id = 1", h=prev)
    return prev


def test_a_consistent_rewrite_below_an_anchored_head_is_located_between_anchors(
    world: OfficeWorld,
) -> None:
    issue(world, 2)
    anchorer = quiet(world.office)
    anchorer.anchor()  # head 3
    issue(world, 3)
    anchorer.anchor()  # head 7
    issue(world)
    rewrite_consistently(world.office.db, 5)
    offline = verify_audit(world.office.db)
    assert offline.verified_rows == 8  # every hash and link checks out: only the anchor tells
    assert offline.first is not None and offline.first.code == "anchor_mismatch"
    report = verify(world)
    assert report.first is not None
    assert (report.first.code, report.first.seq) == ("anchor_mismatch", 4)
    assert "4–7" in report.first.en


def test_truncating_the_tail_below_an_anchored_head_is_detected(world: OfficeWorld) -> None:
    issue(world, 3)
    head = quiet(world.office).anchor()  # head 4
    assert head is not None
    issue(world, 2)
    db = world.office.db
    assert sequence(db) == 2  # rows 5 and 6 chained
    # cut off rows 3…6 and move the head back consistently: the log alone checks out
    sql(db, "DELETE FROM audit_log WHERE seq >= 3")
    sql(db, "UPDATE audit_head SET seq = 2, hash = :h WHERE id = 1", h=entry(db, 2).row_hash)
    report = verify(world)
    assert report.first is not None
    assert (report.first.code, report.first.seq) == ("tail_truncated", 3)
    assert "row 4 is anchored" in report.first.en


def test_a_deleted_anchor_record_is_noticed_and_its_root_still_found(world: OfficeWorld) -> None:
    issue(world)
    head = quiet(world.office).anchor()
    assert head is not None
    sql(world.office.db, "DELETE FROM audit_anchors")
    report = verify(world)
    assert report.first is not None
    assert (report.first.code, report.first.seq) == ("anchor_record_missing", head.seq)
    assert report.last_anchored is not None and report.last_anchored.tx_hash == head.tx_hash


def test_an_anchor_record_rewritten_to_match_a_rewritten_log_is_not_on_chain(
    world: OfficeWorld,
) -> None:
    issue(world, 2)
    head = quiet(world.office).anchor()
    assert head is not None
    db = world.office.db
    rewrite_consistently(db, 2)
    forged = entry(db, head.seq).row_hash
    sql(
        db,
        "UPDATE audit_anchors SET head_hash = :h, root = :r",
        h=forged,
        r=anchor_root(head.seq, bytes(forged)),
    )
    report = verify(world)
    assert report.first is not None
    assert (report.first.code, report.first.seq) == ("anchor_not_on_chain", head.seq)


def test_an_edit_below_an_anchored_head_is_named_exactly(world: OfficeWorld) -> None:
    issue(world, 4)
    quiet(world.office).anchor()
    sql(world.office.db, "UPDATE audit_log SET action = 'apikey.revoke' WHERE seq = 2")
    report = verify(world)
    assert report.first is not None
    assert (report.first.code, report.first.seq) == ("row_edited", 2)
