"""Bulk issuance: a full chunk is stored as its own anchoring batch, each line once."""

from __future__ import annotations

import io
import json
import random
import threading
from collections.abc import Iterable, Iterator
from datetime import timedelta
from typing import Any

import pytest
from sqlalchemy import event, func, select

import service.issuing.bulk as bulk
from service.anchoring.worker import AnchorWorker
from service.issuing.bulk import Row, issue_rows
from service.issuing.office import IssueRequest, Office, Signing
from service.storage.models import Batch, Credential
from tests.service.office_setup import Setup
from tests.verifier.factories import residence_permit_subject
from verifier.merkle import MerkleTree
from verifier.policy import Policy
from verifier.verify import Verdict, Verifier


def _rows(n: int, seed: int) -> list[Row]:
    rng = random.Random(seed)
    return [Row(i + 2, residence_permit_subject(rng)) for i in range(n)]


def _members(setup: Setup) -> dict[int, list[Credential]]:
    """Each batch's members in leaf order."""
    with setup.office.db.session() as s:
        rows = s.scalars(
            select(Credential)
            .where(Credential.batch_id.is_not(None))
            .order_by(Credential.batch_id, Credential.leaf_index)
        ).all()
    members: dict[int, list[Credential]] = {}
    for row in rows:
        assert row.batch_id is not None
        members.setdefault(row.batch_id, []).append(row)
    return members


def test_a_full_chunk_is_stored_claimed_and_anchored_without_a_second_write(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "OWN_BATCH_MIN", 4)
    summary = issue_rows(
        setup.office, setup.authority_id, "ResidencePermit", _rows(8, 1), chunk=4, keep_ids=True
    )
    assert summary.issued == 8
    assert setup.office.counts() == {"batched": 8}  # claimed as stored: nothing in the queue
    batches = setup.batches()
    assert [(b.state, b.size) for b in batches] == [("prepared", 4), ("prepared", 4)]
    members = _members(setup)
    lines = dict((cid, line) for line, cid in summary.credential_ids)
    for batch in batches:
        rows = members[batch.id]
        assert [r.leaf_index for r in rows] == [0, 1, 2, 3]
        # leaf order is line order, and the stored tree is the members' digests
        assert [lines[r.id] for r in rows] == sorted(lines[r.id] for r in rows)
        assert bytes(batch.leaves) == b"".join(bytes(r.digest) for r in rows)
        assert MerkleTree([bytes(r.digest) for r in rows]).root == bytes(batch.root)

    written: list[str] = []

    def spy(_conn: object, _cursor: object, statement: str, *_args: object) -> None:
        if statement.lstrip().upper().startswith(("UPDATE", "INSERT", "COPY")):
            written.append(statement.split("SET")[0].strip())

    worker = AnchorWorker(setup.office, batch_size=1000, batch_age_seconds=3600)
    event.listen(setup.office.db.engine, "before_cursor_execute", spy)
    try:
        assert worker.run_once() == 8  # sent as they are, though smaller than batch_size
    finally:
        event.remove(setup.office.db.engine, "before_cursor_execute", spy)
    assert not [w for w in written if "credentials" in w], written
    assert worker.stats.anchored == 8 and worker.stats.batches == 2  # for /metrics
    assert setup.office.counts() == {"anchored": 8}
    verifier = Verifier.from_chain(
        setup.office.chain, setup.deployment.anchor_registry, Policy(sync_interval=timedelta(0))
    )
    for cid in lines:
        bundle = setup.office.bundle(cid)
        assert bundle["anchor"]["treeSize"] == 4
        assert verifier.verify(bundle).verdict is Verdict.VALID
    assert sorted(e["leafCount"] for e in setup.anchor_events()) == [4, 4]


def test_a_smaller_chunk_waits_in_the_queue_for_the_worker_to_batch_it(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "OWN_BATCH_MIN", 4)
    # the second chunk loses a row to validation: 3 left, fewer than OWN_BATCH_MIN
    rows = _rows(8, 2)
    bad = rows[5].subject
    assert bad is not None
    rows[5] = Row(rows[5].line, dict(bad, citizenId="440106199003071230"))  # check digit
    summary = issue_rows(setup.office, setup.authority_id, "ResidencePermit", rows, chunk=4)
    assert (summary.issued, summary.rejected) == (7, 1)
    assert setup.office.counts() == {"batched": 4, "pending": 3}
    AnchorWorker(setup.office, batch_size=1000, batch_age_seconds=3600).drain()
    assert setup.office.counts() == {"anchored": 7}
    assert sorted(b.size for b in setup.batches()) == [3, 4]


def test_a_run_killed_after_a_commit_resumes_and_each_line_is_in_one_batch(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bulk, "OWN_BATCH_MIN", 3)
    rows = _rows(9, 3)
    real = Office.store_chunk
    calls = {"n": 0}

    def dies_after_the_second_commit(self: Office, *args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        stored = real(self, *args, **kwargs)
        if calls["n"] == 2:
            raise KeyboardInterrupt  # killed between the commit and anything else
        return stored

    monkeypatch.setattr(Office, "store_chunk", dies_after_the_second_commit)
    with pytest.raises(KeyboardInterrupt):
        issue_rows(setup.office, setup.authority_id, "ResidencePermit", rows, chunk=3, run="r1")
    monkeypatch.setattr(Office, "store_chunk", real)
    summary = issue_rows(
        setup.office, setup.authority_id, "ResidencePermit", rows, chunk=3, run="r1"
    )
    assert (summary.issued, summary.resumed, summary.rejected) == (3, 6, 0)
    members = _members(setup)
    assert sorted(len(m) for m in members.values()) == [3, 3, 3]
    with setup.office.db.session() as s:
        keys = s.scalars(select(Credential.idempotency_key)).all()
        assert s.scalar(select(Batch.id).where(Batch.size != 3)) is None
    assert sorted(keys) == sorted(f"bulk:r1:{row.line}" for row in rows)  # each line once
    AnchorWorker(setup.office, batch_size=1000, batch_age_seconds=3600).drain()
    assert setup.office.counts() == {"anchored": 9}


def test_a_holder_in_the_chunk_being_stored_is_refused_in_the_next_as_without_overlap(
    setup: Setup, monkeypatch: pytest.MonkeyPatch
) -> None:
    # the next chunk is checked and queued for signing before the one before is stored: hold
    # the first store until that check is done, so the database must catch the second permit
    rows = _rows(6, 4)
    first = rows[1].subject
    assert first is not None
    rows[4] = Row(rows[4].line, dict(first))  # the same person again, three lines on
    checked_twice = threading.Event()
    calls = {"sign": 0}
    real_start, real_store = Office.start_signing, Office.store_chunk

    def start(self: Office, *args: Any, **kwargs: Any) -> Any:
        signing = real_start(self, *args, **kwargs)
        calls["sign"] += 1
        if calls["sign"] == 2:
            checked_twice.set()
        return signing

    def store(self: Office, *args: Any, **kwargs: Any) -> Any:
        assert checked_twice.wait(30)
        return real_store(self, *args, **kwargs)

    monkeypatch.setattr(Office, "start_signing", start)
    monkeypatch.setattr(Office, "store_chunk", store)
    report = io.StringIO()
    summary = issue_rows(
        setup.office, setup.authority_id, "ResidencePermit", rows, chunk=3, report=report
    )
    assert (summary.issued, summary.rejected) == (5, 1)
    assert calls["sign"] == 3  # the second chunk signed again, alone, after the refusal
    [refused] = [json.loads(line) for line in report.getvalue().splitlines()]
    assert refused["line"] == rows[4].line
    assert [e["code"] for e in refused["errors"]] == ["credential_in_force"]
    with setup.office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Credential)) == 5


@pytest.mark.parametrize("ahead", [1, 2])
def test_chunks_are_queued_for_signing_ahead_of_the_one_awaited(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, ahead: int
) -> None:
    # the signing pool does not wait for the bulk thread to read and check the next chunks
    monkeypatch.setattr(bulk, "SIGNING_AHEAD", ahead)
    log: list[tuple[str, int]] = []
    chunk_of: dict[int, int] = {}
    real_start, real_result = Office.start_signing, Signing.result

    def start(self: Office, *args: Any, **kwargs: Any) -> Signing:
        signing = real_start(self, *args, **kwargs)
        chunk_of[id(signing)] = len(chunk_of)
        log.append(("start", chunk_of[id(signing)]))
        return signing

    def result(self: Signing) -> Any:
        log.append(("result", chunk_of[id(self)]))
        return real_result(self)

    monkeypatch.setattr(Office, "start_signing", start)
    monkeypatch.setattr(Signing, "result", result)
    summary = issue_rows(setup.office, setup.authority_id, "ResidencePermit", _rows(9, 5), chunk=2)
    assert summary.issued == 9
    expected: list[tuple[str, int]] = []
    for k in range(5):  # chunk k is awaited once ``ahead`` more are queued behind it
        expected.append(("start", k))
        if k >= ahead:
            expected.append(("result", k - ahead))
    expected += [("result", k) for k in range(5 - ahead, 5)]  # the input ended
    assert log == expected


def _failing_after(rows: list[Row], error: Exception) -> Iterator[Row]:
    yield from rows
    raise error


@pytest.mark.parametrize("where", ["reading", "checking"])
def test_an_error_on_the_next_chunk_stores_the_signed_one_before_it_first(
    setup: Setup, monkeypatch: pytest.MonkeyPatch, where: str
) -> None:
    rows = _rows(6, 6)
    if where == "reading":  # the file fails after four lines: two whole chunks
        source: Iterable[Row] = _failing_after(rows[:4], OSError("the disk went away"))
    else:  # the database fails the third chunk's check
        source = rows
        real_start = Office.start_signing
        calls = {"n": 0}

        def start(self: Office, *args: Any, **kwargs: Any) -> Signing:
            calls["n"] += 1
            if calls["n"] == 3:
                raise OSError("the disk went away")
            return real_start(self, *args, **kwargs)

        monkeypatch.setattr(Office, "start_signing", start)
    out = io.StringIO()
    with pytest.raises(OSError, match="the disk went away"):
        issue_rows(setup.office, setup.authority_id, "ResidencePermit", source, chunk=2, out=out)
    written = [json.loads(line) for line in out.getvalue().splitlines()]
    assert [w["line"] for w in written] == [row.line for row in rows[:4]]
    with setup.office.db.session() as s:
        stored = set(s.scalars(select(Credential.id)))
    assert stored == {w["id"] for w in written}


def test_a_signing_asked_twice_gives_the_same_credentials(setup: Setup) -> None:
    # built here, not on a pool, so the building happens when the answer is first asked for
    requests = [IssueRequest("ResidencePermit", row.subject or {}) for row in _rows(3, 8)]
    signing = setup.office.start_signing(setup.authority_id, requests)
    first, again = signing.result(), signing.result()
    assert [c.id for c in first.credentials] == [c.id for c in again.credentials]
    assert [c.digest for c in first.credentials] == [c.digest for c in again.credentials]
