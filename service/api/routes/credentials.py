"""Issuing and reading credentials: ``/v1/credentials``."""

from __future__ import annotations

import functools
import inspect
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Request
from fastapi.responses import JSONResponse
from pydantic import ValidationError
from starlette.types import Receive, Scope, Send

from service.api.deps import (
    ApiState,
    Caller,
    IdempotencyKey,
    OfficeDep,
    StateDep,
    require_issue_scopes,
)
from service.api.guard import FastLane
from service.api.issuing import issue_grouped, issue_many, prepare_one, store_one
from service.api.models import BatchBody, BatchOut, BundleOut, IssueBody, ProblemOut
from service.api.responses import FastJSONResponse
from service.issuing.office import AuthContext, PendingIssue

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
    bundle, created = await _issue(state, caller, body, idempotency_key)
    return _issued(bundle, created)


async def _issue(
    state: ApiState, caller: AuthContext, body: IssueBody, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    # checking, signing and storing with the concurrent requests' issues, in one transaction,
    # on the group commit's thread (service.issuing.group_commit); without it (before the
    # app's start-up), checking and signing on the issuing threads (SUIXIN_ISSUE_THREADS)
    commits = state.commits
    if commits is not None:
        return await issue_grouped(
            state, commits, functools.partial(prepare_one, state, caller, body, idempotency_key)
        )
    prepared = await to_thread.run_sync(
        prepare_one, state, caller, body, idempotency_key, limiter=state.issue_limiter
    )
    if isinstance(prepared, PendingIssue):
        return await store_one(state, prepared)
    return prepared


def _issued(bundle: dict[str, Any], created: bool) -> JSONResponse:
    headers = {"Location": f"/v1/credentials/{bundle['credential']['id']}"}
    if not created:
        headers["Idempotent-Replayed"] = "true"
    return FastJSONResponse(bundle, status_code=201 if created else 200, headers=headers)


_MAX_IDEMPOTENCY_KEY = 200  # as IdempotencyKey declares


def fast_lane(state: ApiState) -> FastLane:
    """``POST /v1/credentials`` without the framework, for the common case (the request guard
    calls it with the checked body, parsed): a JSON object that ``IssueBody`` takes, from a
    caller whose API key is valid (``ApiState.authenticated``: from memory, or read once for
    the concurrent requests with the same key) and holds the scope ``issue:<type>``, with at
    most one well-formed ``Idempotency-Key``.
    Routing, the dependencies and their thread hops cost about as much CPU as signing.

    Anything else returns False before any work, and the route answers as before: another
    content type, headers it would read otherwise (two keys, a malformed one, an
    ``Idempotency-Key`` it refuses), a body it refuses (422), a key it refuses (401) or could
    not read, a missing scope (403). Once the issue has begun, the lane answers whatever comes
    of it: the same bundle and headers as the route, and an error through the application's
    own handler for it (the route's exception handlers), so the problem is the route's, byte
    for byte; an error without one (a bug) goes, like the route's, to the server-error handler."""

    async def lane(scope: Scope, parsed: Any, receive: Receive, send: Send) -> bool:
        typed = False
        token: bytes | None = None
        key: bytes | None = None
        for name, value in scope["headers"]:
            if name == b"content-type":
                if typed or value.split(b";", 1)[0].strip().lower() != b"application/json":
                    return False
                typed = True
            elif name == b"authorization" or name == b"x-api-key":
                if token is not None:
                    return False  # two keys: the route picks one
                if name == b"authorization":
                    scheme, _, value = value.partition(b" ")
                    if scheme.lower() != b"bearer":
                        return False
                if not value or value != value.strip():
                    return False
                token = value
            elif name == b"idempotency-key":
                if key is not None:
                    return False
                key = value
        if not typed or token is None or type(parsed) is not dict:
            return False
        idempotency_key = key.decode("latin-1") if key is not None else None
        if idempotency_key is not None and not 0 < len(idempotency_key) <= _MAX_IDEMPOTENCY_KEY:
            return False
        try:
            body = IssueBody.model_validate(parsed)
        except ValidationError:
            return False  # the route's 422, with the paths as it words them
        try:
            # from memory, or read once for the concurrent requests with this key
            caller = await state.authenticated(token.decode("latin-1"))
        except Exception:
            return False  # the route reads the key again, and answers what comes of it
        if caller is None:
            return False  # the route's 401 (it reads the key itself)
        if f"issue:{body.type}" not in caller.scopes:
            return False  # the route's 403
        try:
            bundle, created = await _issue(state, caller, body, idempotency_key)
        except Exception as e:
            handler = _handler_of(scope, e)
            if handler is None:
                raise  # to the server-error handler, as from the route
            response = handler(Request(scope, receive), e)
            if inspect.isawaitable(response):
                response = await response
            await response(scope, receive, send)
            return True
        await _issued(bundle, created)(scope, receive, send)
        return True

    return lane


def _handler_of(scope: Scope, error: Exception) -> Any:
    """The application's handler of ``error`` as its routes' exception middleware finds it
    (the nearest class with one), or None when only the catch-all for every exception (the
    server-error handler's) would take it."""
    handlers = scope["app"].exception_handlers
    for kind in type(error).__mro__:
        if kind is Exception:
            return None
        if kind in handlers:
            return handlers[kind]
    return None


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
