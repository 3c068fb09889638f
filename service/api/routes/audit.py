"""The audit trail of the caller's own authority: ``/v1/audit`` (scope ``admin``)."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Query

from service.api.deps import AdminCaller, OfficeDep
from service.api.models import PlainText, ProblemOut
from service.audit.trail import audit_rows, pending_rows, summarise_details
from service.storage.models import INTEGER_MAX, AuditEntry, AuditInboxEntry

router = APIRouter(prefix="/v1/audit", tags=["audit"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ProblemOut, "description": "No, unknown or revoked API key"},
    403: {"model": ProblemOut, "description": "The key lacks the scope `admin`"},
    422: {"model": ProblemOut, "description": "A query parameter out of range"},
}

_MAX_IDS = 100  # a bulk row lists at most this many credential ids here


def _show(row: AuditEntry) -> dict[str, Any]:
    return {
        "seq": row.seq,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "action": row.action,
        "credentialId": row.credential_id,
        "details": summarise_details(row.details, _MAX_IDS),
        "prevHash": bytes(row.prev_hash).hex(),
        "hash": bytes(row.row_hash).hex(),
    }


def _show_pending(row: AuditInboxEntry) -> dict[str, Any]:
    return {
        "inboxId": row.id,
        "at": row.at.isoformat(),
        "actor": row.actor,
        "action": row.action,
        "credentialId": row.credential_id,
        "details": summarise_details(row.details, _MAX_IDS),
    }


@router.get(
    "",
    responses=_ERRORS,
    description=(
        "Rows of the hash-chained audit trail that concern the caller's authority, newest "
        "first: who (`apikey:<id>`, `cli`, `worker`, `system`), what, which credential, when, "
        "and the row's hash and its predecessor's. Rows hold ids and codes, never personal "
        "data. Page with `before` = the `nextBefore` of the previous page; `credential` keeps "
        f"the rows about one credential (bulk rows list at most {_MAX_IDS} ids here, with "
        "`credentialIdsTruncated`). Rows of other authorities are left out, so the chain's "
        "links cannot be checked from here: `suixin audit verify` checks the whole trail. "
        "A row is chained (gets its `seq` and hashes) by the worker shortly after its action "
        "commits; until then it is listed, on the first page only (no `before`), under "
        "`pending`, newest first, with its `inboxId` and no seq or hash: recorded, not yet "
        "tamper-evident. Reading never chains rows itself."
    ),
)
def list_audit(
    caller: AdminCaller,
    office: OfficeDep,
    limit: Annotated[int, Query(ge=1, le=200, description="rows per page")] = 50,
    before: Annotated[
        int | None, Query(ge=1, le=INTEGER_MAX, description="only rows before this seq")
    ] = None,
    credential: Annotated[
        PlainText | None, Query(min_length=1, max_length=80, description="a credential id")
    ] = None,
) -> dict[str, Any]:
    """Read the audit trail of the caller's authority (审计日志), newest first."""
    if credential is not None and not credential.startswith("urn:"):
        credential = f"urn:uuid:{credential}"
    with office.db.session() as s:
        if office.db.is_postgres:  # both lists from one snapshot while the worker chains rows
            s.connection(execution_options={"isolation_level": "REPEATABLE READ"})
        waiting = (
            pending_rows(s, authority_id=caller.authority_id, credential_id=credential, limit=limit)
            if before is None
            else []
        )
        rows = audit_rows(
            s,
            authority_id=caller.authority_id,
            credential_id=credential,
            before=before,
            limit=limit,
        )
    return {
        "items": [_show(r) for r in rows],
        "nextBefore": rows[-1].seq if len(rows) == limit else None,
        "pending": [_show_pending(r) for r in waiting],
    }
