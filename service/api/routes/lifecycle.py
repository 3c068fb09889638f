"""The life cycle of a credential over HTTP: ``/v1/credentials/{id}/endorse`` and friends.

Steps that make a new version (endorse, renew, replace, change-address, amend) need the scope
``lifecycle`` and answer 201 with the new version's bundle; revoke and cancel need ``revoke`` and
answer 200 with the status. A key acts only on its own authority's credentials (404 otherwise,
as for an unknown id). A step that does not apply to the credential as it stands is a 409 with
a stable ``code``; a retried step finds the old version no longer current (409), or, sent with
the same ``Idempotency-Key`` and body, gets the first new version back (200).
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime
from typing import Annotated, Any, Literal

from fastapi import APIRouter, Body, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, ConfigDict, Field

from service import lifecycle
from service.api.deps import Caller, IdempotencyKey, OfficeDep, StateDep, require_scope
from service.api.models import BundleOut, PlainText, ProblemOut
from service.api.routes.credentials import credential_urn
from service.issuing.office import AuthContext, request_fingerprint

__all__ = ["office_now", "router"]

router = APIRouter(prefix="/v1/credentials", tags=["life cycle"])


async def office_now() -> datetime:
    """The office clock of a life-cycle step (tests replace this dependency)."""
    return datetime.now(UTC)


Now = Annotated[datetime, Depends(office_now)]

_COMMON: dict[int | str, dict[str, Any]] = {
    401: {"model": ProblemOut, "description": "No, unknown or revoked API key"},
    403: {"model": ProblemOut, "description": "The key lacks the route's scope"},
    404: {"model": ProblemOut, "description": "Unknown, or another authority's credential"},
    409: {
        "model": ProblemOut,
        "description": "Not possible as the credential stands (`code`: credential_not_current, "
        "operation_not_applicable, endorsement_not_due, term_ended) or an Idempotency-Key "
        "reused with another body",
    },
}
_NEW_VERSION: dict[int | str, dict[str, Any]] = {
    200: {"model": BundleOut, "description": "Retry with the same Idempotency-Key: the first"},
    **_COMMON,
}


class ChangeAddressBody(BaseModel):
    """The new residence address and its region code."""

    model_config = ConfigDict(
        extra="forbid",
        populate_by_name=True,
        json_schema_extra={
            "examples": [
                {"residenceAddress": "广州市越秀区北京路50号", "residenceRegion": "440104"},
                {"residenceAddress": "广州市海珠区新港东路2号", "residenceRegion": "440105"},
            ]
        },
    )

    residence_address: str = Field(
        alias="residenceAddress", min_length=1, max_length=200, description="新居住地址"
    )
    residence_region: str = Field(
        alias="residenceRegion", pattern=r"^[0-9]{6}$", description="新居住地区划代码（GB/T 2260）"
    )


class AmendBody(BaseModel):
    """The licence fields that change, with their new values."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {
                    "subject": {
                        "legalRepresentative": "王五",
                        "domicile": "广州市海珠区新港东路1000号",
                    }
                }
            ]
        },
    )

    subject: dict[str, Any] = Field(
        min_length=1, description="变更的登记事项（字段名与签发时相同）"
    )


class RevokeBody(BaseModel):
    """Why the credential is revoked; the note stays in the office's audit trail."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={
            "examples": [
                {"reason": "licence_revoked", "note": "市监处罚〔2026〕88号：虚报注册资本"},
                {"reason": "issuer_error", "note": "录入错误，已重新签发"},
            ]
        },
    )

    reason: Literal["licence_revoked", "issuer_error"] | None = Field(
        None, description="吊销原因：licence_revoked（营业执照默认）或 issuer_error（签发错误）"
    )
    note: PlainText = Field("", max_length=500, description="说明，仅记入审计日志，不上链")


class CancelBody(BaseModel):
    """Why the credential is cancelled."""

    model_config = ConfigDict(
        extra="forbid",
        json_schema_extra={"examples": [{"reason": "hukou_registered"}, {"reason": "deceased"}]},
    )

    reason: Literal["hukou_registered", "deceased", "licence_cancelled"] | None = Field(
        None,
        description="注销原因：居住证为 hukou_registered（落户）或 deceased（死亡）；"
        "营业执照为 licence_cancelled（默认）",
    )


def _actor(caller: AuthContext) -> str:
    return f"apikey:{caller.key_id}"


def _new_version(result: lifecycle.StepResult) -> JSONResponse:
    assert result.bundle is not None
    new_id = result.bundle["credential"]["id"]
    headers = {"Location": f"/v1/credentials/{new_id}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(result.bundle, status_code=200 if result.replayed else 201, headers=headers)


def _step(
    operation: str,
    credential_id: str,
    body: dict[str, Any],
    caller: AuthContext,
    idempotency_key: str | None,
    run: Callable[..., lifecycle.StepResult],
    **kwargs: Any,
) -> JSONResponse:
    urn = credential_urn(credential_id)
    fingerprint = request_fingerprint({"operation": operation, "credential": urn, "body": body})
    result = run(
        urn,
        authority_id=caller.authority_id,
        actor=_actor(caller),
        idempotency_key=idempotency_key,
        fingerprint=fingerprint,
        **kwargs,
    )
    return _new_version(result)


@router.post(
    "/{credential_id}/endorse",
    status_code=201,
    response_model=BundleOut,
    responses=_NEW_VERSION,
    description=(
        "居住证签注. Allowed from the window start (SUIXIN_ENDORSE_WINDOW_DAYS, 30 days before "
        "the term ends): on time, the new version is valid from now until the old end plus "
        "a year, `residenceSince` kept; late (after the term ended, the permit suspended or "
        "not), a new term from now and `residenceSince` restarts today. Before the window: "
        "409 `endorsement_not_due` naming `windowStart`. The old version is superseded "
        "(reason endorsed) on chain. Scope `lifecycle`."
    ),
)
def endorse(
    credential_id: str,
    caller: Caller,
    state: StateDep,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Endorse a residence permit (签注) — 201 with the new version."""
    require_scope(caller, "lifecycle")
    return _step(
        "endorse",
        credential_id,
        {},
        caller,
        idempotency_key,
        lambda urn, **kw: lifecycle.endorse(
            state.office, urn, window_days=state.settings.endorse_window_days, **kw
        ),
        now=now,
    )


@router.post(
    "/{credential_id}/renew",
    status_code=201,
    response_model=BundleOut,
    responses=_NEW_VERSION,
    description=(
        "居住证换领 (damaged card): a new version with the same content and term; the old "
        "one superseded (reason damaged). Scope `lifecycle`."
    ),
)
def renew(
    credential_id: str,
    caller: Caller,
    office: OfficeDep,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Renew a damaged residence permit (换领) — 201 with the new version."""
    require_scope(caller, "lifecycle")
    return _step(
        "renew",
        credential_id,
        {},
        caller,
        idempotency_key,
        lambda urn, **kw: lifecycle.renew(office, urn, **kw),
        now=now,
    )


@router.post(
    "/{credential_id}/replace",
    status_code=201,
    response_model=BundleOut,
    responses=_NEW_VERSION,
    description=(
        "居住证补领 (lost card): a new version with the same content and term; the old one "
        "revoked on chain (reason lost). Scope `lifecycle`."
    ),
)
def replace(
    credential_id: str,
    caller: Caller,
    office: OfficeDep,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Replace a lost residence permit (补领) — 201 with the new version."""
    require_scope(caller, "lifecycle")
    return _step(
        "replace",
        credential_id,
        {},
        caller,
        idempotency_key,
        lambda urn, **kw: lifecycle.replace(office, urn, **kw),
        now=now,
    )


@router.post(
    "/{credential_id}/change-address",
    status_code=201,
    response_model=BundleOut,
    responses={
        **_NEW_VERSION,
        422: {
            "model": ProblemOut,
            "description": "Field errors (`residenceRegion`: region_outside_authority, …)",
        },
    },
    description=(
        "居住证变更居住地址. Inside the same city (first four digits of the region code): a "
        "new version, issue date and term kept, the old one superseded (address_changed). "
        "Into another city inside the authority's region: a fresh permit (new lineage, "
        "version 1, `residenceSince` restarts), the old one superseded (moved_city). A region "
        "outside the authority's: 422. Scope `lifecycle`."
    ),
)
def change_address(
    credential_id: str,
    body: ChangeAddressBody,
    caller: Caller,
    office: OfficeDep,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Change a residence permit's address (变更居住地址) — 201 with the new version."""
    require_scope(caller, "lifecycle")
    return _step(
        "change_address",
        credential_id,
        body.model_dump(by_alias=True),
        caller,
        idempotency_key,
        lambda urn, **kw: lifecycle.change_address(
            office, urn, body.residence_address, body.residence_region, **kw
        ),
        now=now,
    )


@router.post(
    "/{credential_id}/amend",
    status_code=201,
    response_model=BundleOut,
    responses={
        **_NEW_VERSION,
        422: {"model": ProblemOut, "description": "Field errors with `subject.<field>` paths"},
    },
    description=(
        "营业执照变更登记: the fields given replace the licence's; a new version issued today "
        "(发照日期), the old one superseded (amended). `uscc`, `establishmentDate` and "
        "`issueDate` cannot be amended; nothing changed is a 422 `no_changes`. Scope "
        "`lifecycle`."
    ),
)
def amend(
    credential_id: str,
    body: AmendBody,
    caller: Caller,
    office: OfficeDep,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Amend a business licence (变更登记) — 201 with the new version."""
    require_scope(caller, "lifecycle")
    return _step(
        "amend",
        credential_id,
        body.model_dump(),
        caller,
        idempotency_key,
        lambda urn, **kw: lifecycle.amend(office, urn, body.subject, **kw),
        now=now,
    )


_STATUS_EXAMPLE = {
    "operation": "revoke",
    "credentialId": "urn:uuid:0b7c8c1e-5d1f-4a59-9a57-3f1f1c2d9e01",
    "status": "revoked",
    "reason": "licence_revoked",
    "reasonZh": "吊销",
    "reasonEn": "licence revoked",
    "changedAt": "2026-11-22T02:00:00Z",
    "onChain": False,
    "newCredentialId": None,
}
_STATUS_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {
        "description": "The credential's status now; it goes on chain with the next batch",
        "content": {"application/json": {"example": _STATUS_EXAMPLE}},
    },
    **_COMMON,
    422: {"model": ProblemOut, "description": "A reason this credential type does not take"},
}


@router.post(
    "/{credential_id}/revoke",
    responses=_STATUS_RESPONSES,
    description=(
        "吊销. A licence: reason licence_revoked (default) or issuer_error; a permit: "
        "issuer_error only (a lost permit is replaced, a permit ending is cancelled). The note "
        "stays in the audit trail, off chain. Revoked on chain with the reason code; until the "
        "change is on chain this office's `/v1/verify` reports the status as pending. Scope "
        "`revoke`."
    ),
)
def revoke(
    credential_id: str,
    caller: Caller,
    office: OfficeDep,
    now: Now,
    body: Annotated[RevokeBody | None, Body()] = None,
) -> JSONResponse:
    """Revoke a credential (吊销) — 200 with its status."""
    require_scope(caller, "revoke")
    body = body or RevokeBody.model_validate({})
    result = lifecycle.revoke(
        office,
        credential_urn(credential_id),
        reason=body.reason,
        note=body.note,
        authority_id=caller.authority_id,
        actor=_actor(caller),
        now=now,
    )
    return JSONResponse(result.to_json())


@router.post(
    "/{credential_id}/cancel",
    responses=_STATUS_RESPONSES,
    description=(
        "注销. A permit: reason hukou_registered (落户) or deceased (死亡), required; a "
        "licence: licence_cancelled (default). Revoked on chain with that reason; the office "
        "records the credential as cancelled. Scope `revoke`."
    ),
)
def cancel(
    credential_id: str,
    caller: Caller,
    office: OfficeDep,
    now: Now,
    body: Annotated[CancelBody | None, Body()] = None,
) -> JSONResponse:
    """Cancel a credential (注销) — 200 with its status."""
    require_scope(caller, "revoke")
    body = body or CancelBody.model_validate({})
    result = lifecycle.cancel(
        office,
        credential_urn(credential_id),
        reason=body.reason,
        authority_id=caller.authority_id,
        actor=_actor(caller),
        now=now,
    )
    return JSONResponse(result.to_json())


_HISTORY_EXAMPLE = {
    "credentialId": "urn:uuid:0b7c8c1e-5d1f-4a59-9a57-3f1f1c2d9e01",
    "lineageId": "urn:uuid:0b7c8c1e-5d1f-4a59-9a57-3f1f1c2d9e01",
    "credentialType": "ResidencePermit",
    "current": "urn:uuid:6f1d2c3b-4a59-4e01-9a57-1c2d9e013f1f",
    "residenceSince": "2026-11-21",
    "residenceYears": 1,
    "versions": [
        {
            "id": "urn:uuid:0b7c8c1e-5d1f-4a59-9a57-3f1f1c2d9e01",
            "version": 1,
            "status": "superseded",
            "reason": "endorsed",
            "reasonZh": "签注",
            "statusChangedAt": "2027-11-01T02:00:00Z",
            "anchor": {"state": "anchored", "blockNumber": 120, "transactionHash": "0x…"},
            "statusOnChain": True,
        },
        {
            "id": "urn:uuid:6f1d2c3b-4a59-4e01-9a57-1c2d9e013f1f",
            "version": 2,
            "status": "active",
            "reason": None,
            "anchor": {"state": "pending", "blockNumber": None, "transactionHash": None},
            "statusOnChain": None,
        },
    ],
}


@router.get(
    "/{credential_id}/history",
    responses={
        200: {
            "description": "Every version, oldest first",
            "content": {"application/json": {"example": _HISTORY_EXAMPLE}},
        },
        401: _COMMON[401],
        404: _COMMON[404],
    },
    description=(
        "From any version's id: every version of the permit or licence (and, after a move to "
        "another city, the permits before and after it), each with its status, reason, time, "
        "anchor state and receipt summary, and whether its status change is on chain yet "
        "(`statusOnChain`: null when it never changed). For a permit, `residenceSince` and "
        "`residenceYears` of the newest version. Any key of the authority."
    ),
)
def credential_history(
    credential_id: str, caller: Caller, office: OfficeDep, now: Now
) -> JSONResponse:
    """The life story of a credential (历史版本)."""
    story = lifecycle.history(
        office, credential_urn(credential_id), authority_id=caller.authority_id, now=now
    )
    return JSONResponse(story)
