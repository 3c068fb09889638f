"""The audit trail's hash chain: appends link, concurrent appenders never fork it."""

from __future__ import annotations

import threading

from sqlalchemy import select

from service.audit import GENESIS, record, row_hash
from service.storage.db import Database
from service.storage.models import AuditEntry


def test_concurrent_appends_form_one_unbroken_chain(database: Database) -> None:
    def append(n: int) -> None:
        for i in range(10):
            with database.write_session() as s:
                record(s, actor=f"apikey:{n}", action="test", details={"i": i})

    threads = [threading.Thread(target=append, args=(n,)) for n in range(4)]
    for t in threads:
        t.start()
    for t in threads:
        t.join()
    with database.session() as s:
        rows = list(s.scalars(select(AuditEntry).order_by(AuditEntry.seq)))
    assert [r.seq for r in rows] == list(range(1, 41))
    prev = GENESIS
    for r in rows:
        assert r.prev_hash == prev
        assert r.row_hash == row_hash(
            r.seq, r.at, r.actor, r.action, r.authority_id, r.credential_id, r.details, prev
        )
        prev = r.row_hash


def test_an_append_rolls_back_with_its_action(database: Database) -> None:
    try:
        with database.write_session() as s:
            record(s, actor="cli", action="doomed")
            raise RuntimeError("the action failed")
    except RuntimeError:
        pass
    with database.write_session() as s:
        entry = record(s, actor="cli", action="kept")
    assert entry.seq == 1
