"""Issuance as the routes need it: validity checks, field paths of the request, metrics.

The office checks subjects; this module adds the request-level rules the office leaves open
(``validUntil`` after ``validFrom`` and in the future) and reports every error with the path of
the field as the caller sent it (``subject.citizenId``, ``items[3].subject.sex``).
"""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from datetime import UTC, datetime
from typing import Any

from service.api.deps import ApiState
from service.api.errors import Problem
from service.api.models import IssueBody
from service.issuing.office import AuthContext, IssueRequest, request_fingerprint
from verifier.credential import validate_subject
from verifier.errors import FieldError, InvalidCredential

__all__ = ["issue_many", "issue_one"]

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


def _validity_errors(body: IssueBody, prefix: str, now: datetime) -> list[FieldError]:
    errors = []
    start, end = body.valid_from, body.valid_until
    if start is not None and end is not None and end <= start:
        errors.append(
            FieldError(
                f"{prefix}validUntil",
                "validity_inconsistent",
                "失效时间应晚于生效时间",
                "validUntil must be after validFrom",
            )
        )
    elif end is not None and end <= now:
        errors.append(
            FieldError(
                f"{prefix}validUntil",
                "validity_in_past",
                "失效时间已过，凭证一经签发即失效",
                "validUntil has passed: the credential would be expired when issued",
            )
        )
    return errors


def _not_accredited(errors: Sequence[FieldError]) -> None:
    """A 403 when the office refused a type its authority is not accredited for."""
    refused = [e for e in errors if e.code == "type_not_accredited"]
    if refused:
        raise Problem(
            403, "forbidden", "无权操作 / Forbidden", f"{refused[0].zh} / {refused[0].en}"
        )


def _request_errors(
    state: ApiState, caller: AuthContext, bodies: Sequence[IssueBody], *, batch: bool
) -> None:
    """Raise the validity errors of the requests, with every subject error alongside (so the
    caller fixes everything in one round); a 403 first for a type the authority may not issue.
    The authority is read only on this error path: the office checks it on the happy one."""
    now = datetime.now(UTC)
    prefixes = [f"items[{i}]." if batch else "" for i in range(len(bodies))]
    errors = [
        e for body, p in zip(bodies, prefixes, strict=True) for e in _validity_errors(body, p, now)
    ]
    if not errors:
        return
    authority = state.office.authority(caller.authority_id)
    for body in bodies:
        if body.type not in authority.credential_types:
            raise Problem(
                403,
                "forbidden",
                "无权操作 / Forbidden",
                f"{authority.name_zh} 未获授权签发 {body.type} / "
                f"{authority.name_en} is not accredited to issue {body.type}",
            )
    for body, p in zip(bodies, prefixes, strict=True):
        errors += validate_subject(
            body.type, body.subject, authority_region=authority.region, prefix=f"{p}subject"
        )
    raise InvalidCredential(sorted(errors, key=lambda e: e.path))


def issue_one(
    state: ApiState, caller: AuthContext, body: IssueBody, idempotency_key: str | None
) -> tuple[dict[str, Any], bool]:
    """Issue one credential; returns (bundle, created). Raises InvalidCredential with paths
    of the request body, IdempotencyConflict, and a 403 Problem for a type the caller's
    authority is not accredited for. Check the caller's scopes first."""
    _request_errors(state, caller, [body], batch=False)
    fingerprint = (
        request_fingerprint(body.model_dump(mode="json", by_alias=True))
        if idempotency_key is not None
        else None
    )
    try:
        bundle, created = state.office.issue(
            caller.authority_id,
            body.to_request(),
            idempotency_key=idempotency_key,
            request_fingerprint=fingerprint,
            actor=f"apikey:{caller.key_id}",
        )
    except InvalidCredential as e:
        _not_accredited(e.errors)
        raise InvalidCredential([_relabel(err, _subject_path) for err in e.errors]) from None
    if created:
        state.metrics.count_issued(body.type)
    return bundle, created


def issue_many(
    state: ApiState, caller: AuthContext, bodies: Sequence[IssueBody]
) -> list[dict[str, Any]]:
    """Issue every request or none; raises InvalidCredential with ``items[i]…`` paths, and a
    403 Problem for a type the caller's authority is not accredited for."""
    _request_errors(state, caller, bodies, batch=True)
    requests: list[IssueRequest] = [b.to_request() for b in bodies]
    try:
        bundles = state.office.issue_many(
            caller.authority_id, requests, actor=f"apikey:{caller.key_id}"
        )
    except InvalidCredential as e:
        _not_accredited(e.errors)
        raise InvalidCredential([_relabel(err, _item_path) for err in e.errors]) from None
    for body in bodies:
        state.metrics.count_issued(body.type)
    return bundles
