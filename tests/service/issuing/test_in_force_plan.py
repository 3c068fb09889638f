"""The one-in-force lookup searches the partial unique index, not every credential of the
authority: a scan made each issue cost time in proportion to what the authority had issued."""

from __future__ import annotations

import re
from typing import Any

from sqlalchemy import event

from service.issuing.office import CredentialInForce, IssueRequest
from tests.service.conftest import OfficeWorld
from tests.verifier.factories import residence_permit_subject

INDEX = "ux_credentials_subject_in_force"


def _lookups(world: OfficeWorld, request: IssueRequest) -> list[tuple[str, Any]]:
    """The SQL and parameters of the in-force lookups made while issuing ``request``."""
    seen: list[tuple[str, Any]] = []

    def record(_conn: Any, _cursor: Any, statement: str, parameters: Any, *_: Any) -> None:
        lookup = "subject_key IN" in statement or "subject_key = ANY" in statement
        if lookup and statement.lstrip().upper().startswith("SELECT"):
            seen.append((statement, parameters))

    engine = world.office.db.engine
    event.listen(engine, "before_cursor_execute", record)
    try:
        world.office.issue(world.permits.id, request)
    except CredentialInForce:
        pass
    finally:
        event.remove(engine, "before_cursor_execute", record)
    return seen


def _lookup_statement(world: OfficeWorld) -> tuple[str, Any]:
    """The SQL and parameters of the in-force lookup of an issue refused as a duplicate (a
    new holder's issue makes none: the unique index refuses a duplicate INSERT)."""
    request = IssueRequest("ResidencePermit", residence_permit_subject(world.rng))
    assert _lookups(world, request) == []
    seen = _lookups(world, request)
    assert len(seen) == 1, seen
    return seen[0]


def test_the_in_force_lookup_uses_the_partial_unique_index(world: OfficeWorld) -> None:
    statement, parameters = _lookup_statement(world)
    engine = world.office.db.engine
    with engine.connect() as connection:
        if engine.dialect.name == "sqlite":
            rows = connection.exec_driver_sql("EXPLAIN QUERY PLAN " + statement, parameters)
            plan = " ".join(str(row[-1]) for row in rows)
        else:
            # the plan PostgreSQL keeps for a prepared statement after five runs (psycopg
            # prepares a statement it has run five times): it cannot know the parameters.
            # Named (%(name)s) or positional (%s, the driver-level lookup's) parameters.
            names: list[str] = []

            def number(match: re.Match[str]) -> str:
                names.append(match.group(1) or str(len(names)))
                return f"${len(names)}"

            numbered = re.sub(r"%(?:\((\w+)\))?s", number, statement)
            if isinstance(parameters, dict):
                values = [parameters[name] for name in names]
            else:
                values = list(parameters)
            assert len(values) == len(names), (statement, parameters)
            connection.exec_driver_sql("SET plan_cache_mode = force_generic_plan")

            def kind(value: object) -> str:
                if isinstance(value, list):  # an array parameter (= ANY)
                    return kind(value[0]) + "[]"
                if isinstance(value, int):
                    return "bigint"
                return "varchar" if isinstance(value, str) else "bytea"  # bytes, or psycopg's

            types = ", ".join(kind(value) for value in values)
            connection.exec_driver_sql(f"PREPARE in_force_lookup ({types}) AS {numbered}")

            def literal(value: object) -> str:  # ints, plain strings, bytes, arrays of them
                if isinstance(value, list):
                    return "ARRAY[" + ", ".join(literal(v) for v in value) + "]"
                if isinstance(value, int):
                    return str(value)
                if isinstance(value, str):
                    return "'" + value.replace("'", "''") + "'"
                raw = value if isinstance(value, bytes) else value.obj  # type: ignore[attr-defined]
                return f"'\\x{raw.hex()}'::bytea"

            arguments = ", ".join(literal(value) for value in values)
            rows = connection.exec_driver_sql(f"EXPLAIN EXECUTE in_force_lookup({arguments})")
            plan = " ".join(str(row[0]) for row in rows)
            connection.exec_driver_sql("DEALLOCATE in_force_lookup")
    assert INDEX in plan, plan
