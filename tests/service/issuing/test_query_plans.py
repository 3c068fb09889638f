"""The lookups a bulk chunk makes before it signs (lines an earlier run stored, holders already
in force) are probes of a unique index, whatever the table's size: read from the plan of the
statement exactly as the office sends it (EXPLAIN on PostgreSQL, EXPLAIN QUERY PLAN on SQLite).

Both once read a whole authority's rows per chunk: a 1,000,000-permit run slowed with the
table (SQLite), or collapsed at a few hundred thousand rows (PostgreSQL, with no statistics).
"""

from __future__ import annotations

import random
from collections.abc import Callable
from typing import Any

from sqlalchemy import event, text

from service.issuing.bulk import Row, issue_rows
from service.issuing.office import IssueRequest
from service.storage.db import Database
from tests.service.office_setup import Setup
from tests.verifier.factories import residence_permit_subject

FILLER = 60_000  # rows already stored: enough that a wrong plan costs more than probes
CHUNK = 500  # then one bulk chunk (stored as its own batch)
PROBES = 1_000  # a chunk's keys


def _statement(db: Database, call: Callable[[], object], marker: str) -> tuple[str, Any]:
    """The one SELECT naming ``marker`` that ``call`` sends, with its parameters."""
    seen: list[tuple[str, Any]] = []

    def spy(_c: object, _cur: object, statement: str, parameters: Any, *_a: object) -> None:
        if statement.lstrip().upper().startswith("SELECT") and marker in statement:
            seen.append((statement, parameters))

    event.listen(db.engine, "before_cursor_execute", spy)
    try:
        call()
    finally:
        event.remove(db.engine, "before_cursor_execute", spy)
    assert len(seen) == 1, seen
    return seen[0]


def _probe(db: Database, column: str) -> str:
    """How the lookup by many values of ``column`` reads (``Database.select_in``): one array
    parameter on PostgreSQL, a list of placeholders on SQLite."""
    return f"{column} = ANY" if db.is_postgres else f"{column} IN"


def _plan(db: Database, statement: str, parameters: Any) -> str:
    with db.engine.connect() as connection:
        if db.is_postgres:
            lines = connection.exec_driver_sql("EXPLAIN " + statement, parameters).scalars()
            return "\n".join(line for line in lines if "Filter" not in line)
        found = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
        return "\n".join(str(row[-1]) for row in found)


def _grown(setup: Setup) -> None:
    """A table of FILLER credentials (as years of issuing leave it), then a bulk run of one
    chunk: what the planner knows of the table is what the bulk run left it."""
    db = setup.office.db
    if db.is_postgres:
        numbers = "SELECT i FROM generate_series(1, :n) AS i"
        body, digest, blind = (
            "decode(repeat(md5(i::text), 20), 'hex')",
            "sha256(i::text::bytea)",
            "sha256(('s' || i)::bytea)",
        )
    else:  # SQLite: numbers from a recursive CTE
        numbers = (
            "WITH RECURSIVE c(i) AS (SELECT 1 UNION ALL SELECT i + 1 FROM c WHERE i < :n)"
            " SELECT i FROM c"
        )
        body, digest, blind = "randomblob(320)", "randomblob(32)", "randomblob(32)"
    with db.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO credentials (id, authority_id, credential_type, body, digest,"
                " idempotency_key, created_at, lineage_id, version, status, key_id, subject_key)"
                f" SELECT 'urn:uuid:filler-' || i, :authority, 'ResidencePermit', {body},"
                f" {digest}, 'bulk:earlier:' || i, CURRENT_TIMESTAMP, 'urn:uuid:filler-' || i,"
                f" 1, 'active', 'k', {blind} FROM ({numbers}) AS numbers"
            ),
            {"n": FILLER, "authority": setup.authority_id},
        )
    rng = random.Random(7)
    rows = [Row(i + 2, residence_permit_subject(rng)) for i in range(CHUNK)]
    summary = issue_rows(
        setup.office, setup.authority_id, "ResidencePermit", rows, chunk=CHUNK, run="plans"
    )
    assert summary.issued == CHUNK


def test_the_resume_lookup_probes_the_idempotency_index(setup: Setup) -> None:
    _grown(setup)
    office, db = setup.office, setup.office.db
    keys = [f"bulk:plans:{line}" for line in range(10_000, 10_000 + PROBES)]
    statement, parameters = _statement(
        db, lambda: office.issued_by_keys(setup.authority_id, keys), _probe(db, "idempotency_key")
    )
    plan = _plan(db, statement, parameters)
    if db.is_postgres:
        assert "Index Scan using credentials_authority_id_idempotency_key_key" in plan, plan
        assert "Seq Scan" not in plan and "Bitmap" not in plan, plan
    else:
        assert "(authority_id=? AND idempotency_key=?)" in plan, plan


def test_the_in_force_check_probes_the_holder_index(setup: Setup) -> None:
    _grown(setup)
    office, db = setup.office, setup.office.db
    rng = random.Random(8)
    requests = [
        IssueRequest("ResidencePermit", residence_permit_subject(rng)) for _ in range(PROBES)
    ]
    statement, parameters = _statement(
        db, lambda: office._in_force(setup.authority_id, requests), _probe(db, "subject_key")
    )
    plan = _plan(db, statement, parameters)
    if db.is_postgres:
        assert "Index Scan using ux_credentials_subject_in_force" in plan, plan
        assert "subject_key = ANY" in plan, plan  # a key column of the probe, not a filter
        assert "Seq Scan" not in plan, plan
    else:
        probe = "(authority_id=? AND credential_type=? AND subject_key=?)"
        assert f"USING INDEX ux_credentials_subject_in_force {probe}" in plan, plan
