"""Issuance as the routes need it: field paths of the request, a 403 for a type the authority
may not issue.

The office checks every request (subject, validity) by the verifier's own rules before it
signs (``service.issuing.issuance``); this module reports each error with the path of the field
as the caller sent it (``subject.citizenId``, ``items[3].subject.sex``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from typing import Any

from anyio import to_thread
from sqlalchemy.exc import IntegrityError

from service.api.deps import ApiState
from service.api.errors import Problem
from service.api.models import IssueBody
from service.issuing.group_commit import GroupCommit
from service.issuing.office import AuthContext, IssueRequest, PendingIssue, request_fingerprint
from verifier.errors import FieldError, InvalidCredential

__all__ = ["issue_grouped", "issue_many", "issue_one", "prepare_one", "store_one"]

_ITEM = re.compile(r"^(items\[\d+\])\.?(.*)$")


def _subject_path(path: str) -> str:
    """``citizenId`` → ``subject.citizenId``; request-level paths stay as they are."""
    if path in ("type", "validFrom", "validUntil") or path.startswith("subject"):
        return path
    return f"subject.{path}" if path else "subject"


def _item_path(path: str) -> str:
    match = _ITEM.match(path)
    if match is None:
        return _subject_path(path)
    return f"{match.group(1)}.{_subject_path(match.group(2))}"


def _relabel(error: FieldError, path: Callable[[str], str]) -> FieldError:
    return FieldError(path(error.path), error.code, error.zh, error.en)


def _not_accredited(errors: Sequence[FieldError]) -> None:
    """A 403 when the office refused a type its authority is not accredited for."""
    refused = [e for e in errors if e.code == "type_not_accredited"]
    if refused:
        raise Problem(
            403, "forbidden", "无权操作 / Forbidden", f"{refused[0].zh} / {refused[0].en}"
        )


def issue_one(
    state: ApiState, caller: AuthContext, body: IssueBody, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """Issue one credential; returns (bundle, created). Raises InvalidCredential with paths
    of the request body, IdempotencyConflict, CredentialInForce, and a 403 Problem for a
    type the caller's authority is not accredited for. Check the caller's scopes first."""
    prepared = prepare_one(state, caller, body, idempotency_key)
    if not isinstance(prepared, PendingIssue):
        return prepared
    try:
        state.office.store_issued([prepared])
    except IntegrityError as e:
        return state.office.settle_refused(prepared, e)
    return prepared.bundle, True


def prepare_one(
    state: ApiState, caller: AuthContext, body: IssueBody, idempotency_key: str | None
) -> PendingIssue | tuple[dict[str, Any], bool]:
    """``issue_one`` up to its transaction (``Office.prepare_issue``): the issue to store, or
    (bundle, False) for a retried idempotency key. Raises as ``issue_one`` does."""
    fingerprint = (
        request_fingerprint(body.model_dump(mode="json", by_alias=True))
        if idempotency_key is not None
        else None
    )
    try:
        return state.office.prepare_issue(
            caller.authority_id,
            body.to_request(),
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            actor=f"apikey:{caller.key_id}",
        )
    except InvalidCredential as e:
        _not_accredited(e.errors)
        raise InvalidCredential([_relabel(err, _subject_path) for err in e.errors]) from None


async def store_one(state: ApiState, pending: PendingIssue) -> tuple[dict[str, Any], bool]:
    """Store a prepared issue with those of concurrent requests (``state.commits``, a group
    commit; alone on an issuing thread without one) and return (bundle, created) once it is
    committed; a refused store is settled on an issuing thread (``Office.settle_refused``:
    the first credential of a retried idempotency key, or CredentialInForce)."""
    office = state.office
    try:
        if state.commits is not None:
            await state.commits.store_async(pending)
        else:
            await to_thread.run_sync(office.store_issued, [pending], limiter=state.issue_limiter)
    except IntegrityError as e:
        return await to_thread.run_sync(
            office.settle_refused, pending, e, limiter=state.issue_limiter
        )
    return pending.bundle, True


async def issue_grouped(
    state: ApiState,
    commits: GroupCommit[PendingIssue],
    prepare: Callable[[], PendingIssue | tuple[dict[str, Any], bool]],
) -> tuple[dict[str, Any], bool]:
    """``prepare`` (``prepare_one`` of a request) and the store of what it prepared, both on
    the group commit's thread (``GroupCommit.prepare_and_store_async``: one hop between
    threads per issue, not two); returns (bundle, created) once committed. A refused store is
    settled as by ``store_one``; raises what ``prepare`` raised."""
    prepared, error = await commits.prepare_and_store_async(prepare)
    if not isinstance(prepared, PendingIssue):
        return prepared
    if error is None:
        return prepared.bundle, True
    if isinstance(error, IntegrityError):
        return await to_thread.run_sync(
            state.office.settle_refused, prepared, error, limiter=state.issue_limiter
        )
    raise error


def issue_many(
    state: ApiState, caller: AuthContext, bodies: Sequence[IssueBody]
) -> list[dict[str, Any]]:
    """Issue every request or none; raises InvalidCredential with ``items[i]…`` paths, and a
    403 Problem for a type the caller's authority is not accredited for."""
    requests: list[IssueRequest] = [b.to_request() for b in bodies]
    try:
        bundles = state.office.issue_many(
            caller.authority_id, requests, actor=f"apikey:{caller.key_id}"
        )
    except InvalidCredential as e:
        _not_accredited(e.errors)
        raise InvalidCredential([_relabel(err, _item_path) for err in e.errors]) from None
    return bundles
