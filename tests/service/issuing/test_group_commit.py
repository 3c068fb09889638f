"""Group commit: concurrent issues stored in one transaction, each answered only once stored,
and one issue's refusal never failing or losing the others."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Sequence
from typing import Any

import pytest
from sqlalchemy import func, select
from sqlalchemy.exc import IntegrityError

from service.audit.trail import recorded
from service.issuing.group_commit import GroupCommit
from service.issuing.office import CredentialInForce, IssueRequest, PendingIssue
from service.storage.models import Credential
from tests.service.conftest import OfficeWorld
from tests.verifier.factories import residence_permit_subject


def _prepare(world: OfficeWorld, subject: dict[str, Any], **kwargs: Any) -> PendingIssue:
    prepared = world.office.prepare_issue(
        world.permits.id, IssueRequest("ResidencePermit", subject), **kwargs
    )
    assert isinstance(prepared, PendingIssue)
    return prepared


def _stored(world: OfficeWorld, ids: Sequence[str]) -> set[str]:
    with world.office.db.session() as s:
        return set(s.scalars(select(Credential.id).where(Credential.id.in_(list(ids)))))


class _Held:
    """``Office.store_issued`` whose first call waits until released: the items submitted
    meanwhile pile up and form the next group (the groups are recorded)."""

    def __init__(self, world: OfficeWorld) -> None:
        self.store = world.office.store_issued
        self.groups: list[list[str]] = []
        self.release = threading.Event()
        self.first = threading.Event()

    def __call__(self, pending: Sequence[PendingIssue]) -> None:
        if not self.groups:
            self.first.set()
            self.release.wait(10)
        self.groups.append([p.row["id"] for p in pending])
        self.store(pending)


def _outcomes(commits: GroupCommit[PendingIssue], items: Sequence[PendingIssue]) -> list[Any]:
    """Submit ``items`` (the first alone, while the store is held) and wait for every outcome."""
    outcomes: dict[int, Any] = {}
    finished = threading.Event()

    def done(i: int) -> Any:
        def answer(error: BaseException | None) -> None:
            outcomes[i] = error
            if len(outcomes) == len(items):
                finished.set()

        return answer

    for i, item in enumerate(items):
        commits.submit(item, done(i))
    assert finished.wait(30)
    return [outcomes[i] for i in range(len(items))]


def test_concurrent_issues_are_stored_in_one_transaction_and_audited(
    world: OfficeWorld,
) -> None:
    held = _Held(world)
    commits = GroupCommit(held, name="test").start()
    try:
        items = [_prepare(world, residence_permit_subject(world.rng)) for _ in range(6)]
        first = threading.Thread(target=commits.store, args=(items[0],))
        first.start()
        assert held.first.wait(10)
        outcomes: list[Any] = []
        waiter = threading.Thread(target=lambda: outcomes.extend(_outcomes(commits, items[1:])))
        waiter.start()
        held.release.set()
        first.join(10)
        waiter.join(30)
    finally:
        commits.close()
    ids = [p.row["id"] for p in items]
    assert outcomes == [None] * 5
    assert held.groups == [ids[:1], ids[1:]]  # the five that waited: one transaction
    assert _stored(world, ids) == set(ids)
    with world.office.db.session() as s:
        audited = recorded(s, action="credential.issue", credential_ids=ids)
    assert sorted(cid for cid, _ in audited) == sorted(ids)


def test_one_refused_issue_of_a_group_fails_alone(world: OfficeWorld) -> None:
    taken = residence_permit_subject(world.rng)
    existing = world.office.issue(world.permits.id, IssueRequest("ResidencePermit", taken))[0]
    held = _Held(world)
    commits = GroupCommit(held, name="test").start()
    try:
        opener = _prepare(world, residence_permit_subject(world.rng))
        first = threading.Thread(target=commits.store, args=(opener,))
        first.start()
        assert held.first.wait(10)
        # the third holds a permit already: prepared without a lookup, refused at the INSERT
        items = [_prepare(world, residence_permit_subject(world.rng)) for _ in range(2)]
        items.insert(1, _prepare(world, dict(taken, residenceAddress="广州市荔湾区")))
        items.append(_prepare(world, residence_permit_subject(world.rng)))
        outcomes: list[Any] = []
        waiter = threading.Thread(target=lambda: outcomes.extend(_outcomes(commits, items)))
        waiter.start()
        held.release.set()
        first.join(10)
        waiter.join(30)
    finally:
        commits.close()
    ids = [p.row["id"] for p in items]
    assert [type(o) for o in outcomes] == [type(None), IntegrityError, type(None), type(None)]
    # the group failed as a whole, then each was stored alone
    assert held.groups[1] == ids and held.groups[2:] == [[i] for i in ids]
    assert _stored(world, ids) == {ids[0], ids[2], ids[3]}
    # the refused one's answer is the 409 naming the permit in force, as without a group
    with pytest.raises(CredentialInForce) as refused:
        world.office.settle_refused(items[1], outcomes[1])
    assert refused.value.existing_id == existing["credential"]["id"]
    with world.office.db.session() as s:
        audited = {cid for cid, _ in recorded(s, action="credential.issue", credential_ids=ids)}
    assert audited == {ids[0], ids[2], ids[3]}


def test_a_failure_before_the_commit_reports_no_issue_stored(
    world: OfficeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A crash between the INSERTs and the commit: every request of the group gets the
    error, none a success, and nothing is stored."""
    import service.issuing.office as office_module

    def crash(*_: Any) -> None:
        raise OSError("the process died here")

    items = [_prepare(world, residence_permit_subject(world.rng)) for _ in range(3)]
    monkeypatch.setattr(office_module, "record_entries", crash)
    commits = GroupCommit(world.office.store_issued, name="test").start()
    try:
        outcomes = _outcomes(commits, items)
    finally:
        commits.close()
    assert all(isinstance(o, OSError) for o in outcomes)
    with world.office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Credential)) == 0


def test_the_coroutine_gets_its_own_outcome(world: OfficeWorld) -> None:
    taken = residence_permit_subject(world.rng)
    world.office.issue(world.permits.id, IssueRequest("ResidencePermit", taken))
    commits = GroupCommit(world.office.store_issued, name="test").start()
    fresh = _prepare(world, residence_permit_subject(world.rng))
    duplicate = _prepare(world, dict(taken))

    async def both() -> list[BaseException | None]:
        return await asyncio.gather(
            commits.store_async(fresh), commits.store_async(duplicate), return_exceptions=True
        )

    try:
        fresh_outcome, duplicate_outcome = asyncio.run(both())
    finally:
        commits.close()
    assert fresh_outcome is None and isinstance(duplicate_outcome, IntegrityError)
    assert _stored(world, [fresh.row["id"], duplicate.row["id"]]) == {fresh.row["id"]}


def test_close_stores_what_was_submitted_then_refuses_more(world: OfficeWorld) -> None:
    held = _Held(world)
    commits = GroupCommit(held, name="test").start()
    items = [_prepare(world, residence_permit_subject(world.rng)) for _ in range(3)]
    answered: list[BaseException | None] = []
    for item in items:
        commits.submit(item, answered.append)
    assert held.first.wait(10)
    closing = threading.Thread(target=commits.close)
    closing.start()
    held.release.set()
    closing.join(30)
    assert answered == [None, None, None]
    assert _stored(world, [p.row["id"] for p in items]) == {p.row["id"] for p in items}
    with pytest.raises(RuntimeError):
        commits.submit(items[0], answered.append)


def test_preparations_on_the_storing_thread_are_stored_together_each_with_its_answer(
    world: OfficeWorld,
) -> None:
    """``prepare_and_store_async``: the preparations that wait while a store runs are made
    and stored in one transaction; one that raises gets its error and stores nothing, one
    whose result is not to be stored gets it back unstored, one refused at the INSERT gets
    the refusal beside what it prepared; the others are stored."""
    taken = residence_permit_subject(world.rng)
    world.office.issue(world.permits.id, IssueRequest("ResidencePermit", taken))
    held = _Held(world)
    commits = GroupCommit(held, name="test", storable=lambda p: isinstance(p, PendingIssue)).start()
    threads: set[str] = set()

    def prepare(subject: dict[str, Any]) -> Any:
        def run() -> PendingIssue:
            threads.add(threading.current_thread().name)
            return _prepare(world, subject)

        return run

    def broken() -> Any:
        raise ValueError("not preparable")

    async def all_of_them() -> list[Any]:
        opener = asyncio.ensure_future(
            commits.prepare_and_store_async(prepare(residence_permit_subject(world.rng)))
        )
        while not held.first.is_set():  # the first store is held: the others pile up
            await asyncio.sleep(0.01)
        rest = [
            commits.prepare_and_store_async(prepare(residence_permit_subject(world.rng))),
            commits.prepare_and_store_async(broken),
            commits.prepare_and_store_async(lambda: ("not stored", False)),
            commits.prepare_and_store_async(prepare(dict(taken, residenceAddress="广州市"))),
            commits.prepare_and_store_async(prepare(residence_permit_subject(world.rng))),
        ]
        waiting = asyncio.gather(*rest, return_exceptions=True)
        await asyncio.sleep(0.05)
        held.release.set()
        return [await opener, *(await waiting)]

    try:
        outcomes = asyncio.run(all_of_them())
    finally:
        commits.close()
    assert threads == {"suixin-test-commit"}
    first, fresh, error, unstored, duplicate, last = outcomes
    assert isinstance(error, ValueError)
    assert unstored == (("not stored", False), None)
    for prepared, stored_error in (first, fresh, last):
        assert isinstance(prepared, PendingIssue) and stored_error is None
    assert isinstance(duplicate[0], PendingIssue) and isinstance(duplicate[1], IntegrityError)
    ids = [o[0].row["id"] for o in (fresh, duplicate, last)]
    # the three prepared while the first was held: one group, refused, then each alone
    assert held.groups[1] == ids and held.groups[2:] == [[i] for i in ids]
    stored = [first[0].row["id"], fresh[0].row["id"], last[0].row["id"]]
    assert _stored(world, [*stored, duplicate[0].row["id"]]) == set(stored)
