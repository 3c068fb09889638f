"""Issuing and reading credentials: ``/v1/credentials``."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter
from fastapi.responses import JSONResponse

from service.api.deps import Caller, IdempotencyKey, OfficeDep, StateDep, require_issue_scopes
from service.api.issuing import issue_many, prepare_one, store_one
from service.api.models import BatchBody, BatchOut, BundleOut, IssueBody, ProblemOut
from service.api.responses import FastJSONResponse
from service.issuing.office import PendingIssue

router = APIRouter(prefix="/v1/credentials", tags=["credentials"])

_ERRORS: dict[int | str, dict[str, Any]] = {
    401: {"model": ProblemOut, "description": "No, unknown or revoked API key"},
    403: {"model": ProblemOut, "description": "The key lacks `issue:<Type>`"},
    422: {"model": ProblemOut, "description": "Field errors in 中文 and English; nothing stored"},
}


def credential_urn(credential_id: str) -> str:
    """``urn:uuid:…`` for an id given with or without its prefix."""
    return credential_id if credential_id.startswith("urn:") else f"urn:uuid:{credential_id}"


@router.post(
    "",
    status_code=201,
    response_model=BundleOut,
    responses={
        200: {"model": BundleOut, "description": "Retry of an Idempotency-Key: the first one"},
        409: {"model": ProblemOut, "description": "Idempotency-Key reused with another body"},
        **_ERRORS,
    },
    description=(
        "Validates, signs and stores one credential; it enters the anchoring queue in the "
        "same transaction, so the bundle's `anchor` is null until its batch is anchored. "
        "With an `Idempotency-Key` header a retry returns the first credential with status "
        "200 and `Idempotent-Replayed: true`; the same key with another body is a 409. "
        "Needs the scope `issue:<type>`."
    ),
)
async def issue_credential(
    body: IssueBody, caller: Caller, state: StateDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Issue one credential (签发) — 201 with its bundle, anchor pending."""
    require_issue_scopes(caller, [body.type])
    # checking and signing run on the issuing threads (SUIXIN_ISSUE_THREADS), first come
    # first served, not on the general thread pool where 40 threads share one GIL by turns;
    # storing with the concurrent requests' issues, in one transaction (a group commit)
    prepared = await to_thread.run_sync(
        prepare_one, state, caller, body, idempotency_key, limiter=state.issue_limiter
    )
    if isinstance(prepared, PendingIssue):
        bundle, created = await store_one(state, prepared)
    else:
        bundle, created = prepared
    headers = {"Location": f"/v1/credentials/{bundle['credential']['id']}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return FastJSONResponse(bundle, status_code=201 if created else 200, headers=headers)


@router.post(
    "/batch",
    status_code=201,
    response_model=BatchOut,
    responses=_ERRORS,
    description=(
        "Up to 10,000 issuances validated all or nothing: one invalid item stores none and "
        "the 422 lists every error with its item's path (`items[3].subject.citizenId`)."
    ),
)
def issue_batch(body: BatchBody, caller: Caller, state: StateDep) -> JSONResponse:
    """Issue up to 10,000 credentials at once (批量签发), all or none."""
    require_issue_scopes(caller, (item.type for item in body.items))
    bundles = issue_many(state, caller, body.items)
    return JSONResponse({"count": len(bundles), "items": bundles}, status_code=201)


@router.get(
    "/{credential_id}",
    response_model=BundleOut,
    responses={
        401: _ERRORS[401],
        404: {"model": ProblemOut, "description": "Unknown, or another authority's"},
    },
    description=(
        "Any valid key of the issuing authority may read; another authority's credential "
        "answers 404 exactly like an unknown id. The id may omit `urn:uuid:`."
    ),
)
def read_credential(credential_id: str, caller: Caller, office: OfficeDep) -> JSONResponse:
    """Read a credential's bundle, with its anchor receipt once anchored."""
    bundle = office.bundle(credential_urn(credential_id), caller.authority_id)
    return JSONResponse(bundle)
