"""W3C VC API compatibility: ``/credentials/issue`` and ``/credentials/verify``."""

from __future__ import annotations

from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from service.api.deps import (
    ApiState,
    Caller,
    IdempotencyKey,
    StateDep,
    public_rate_limit,
    require_issue_scopes,
)
from service.api.errors import Problem
from service.api.issuing import issue_one
from service.api.models import IssueBody, ProblemOut, VcCredentialIn, VcIssueBody, VcVerifyBody
from service.issuing.office import AuthContext, NotFound
from verifier.credential import CREDENTIAL_TYPES, VC_V2_CONTEXT, VERIFIABLE_CREDENTIAL
from verifier.errors import FieldError, InvalidCredential
from verifier.verify import Outcome, Verdict

router = APIRouter(prefix="/credentials", tags=["W3C VC API"])


def _invalid(path: str, code: str, zh: str, en: str) -> InvalidCredential:
    return InvalidCredential([FieldError(path, code, zh, en)])


def _credential_type(credential: VcCredentialIn) -> str:
    types = credential.type
    found = [t for t in CREDENTIAL_TYPES if t in types]
    if VERIFIABLE_CREDENTIAL not in types or len(found) != 1 or len(types) != 2:
        raise _invalid(
            "credential.type",
            "type_unknown",
            'type 应为 ["VerifiableCredential", "ResidencePermit"] 或 '
            '["VerifiableCredential", "BusinessLicense"]',
            'type must be ["VerifiableCredential", "ResidencePermit"] or '
            '["VerifiableCredential", "BusinessLicense"]',
        )
    return found[0]


def _issuer_did(credential: VcCredentialIn) -> str | None:
    issuer = credential.issuer
    if isinstance(issuer, dict):
        issuer = issuer.get("id")
    if issuer is not None and not isinstance(issuer, str):
        raise _invalid("credential.issuer", "field_type", "issuer 应为 DID", "issuer must be a DID")
    return issuer


def _vc_path(path: str) -> str:
    if path.startswith("subject"):
        return "credential.credentialSubject" + path.removeprefix("subject")
    return f"credential.{path}"


@router.post(
    "/issue",
    status_code=201,
    responses={
        200: {"description": "Retry of an Idempotency-Key: the first credential"},
        403: {"model": ProblemOut, "description": "Missing scope, or another authority's DID"},
        409: {"model": ProblemOut, "description": "A credential is in force for this subject"},
        422: {"model": ProblemOut, "description": "Field errors in 中文 and English"},
    },
    description=(
        "Takes the type, `credentialSubject` and validity of the unsigned credential, issues "
        "it through the office (the office assigns `id`, adds the issuer's fields, status "
        "and proof) and answers `{verifiableCredential}`. An `issuer` naming another "
        "authority of this office is a 403; one this office does not hold is a 422."
    ),
)
async def vc_issue(
    body: VcIssueBody, caller: Caller, state: StateDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Issue a credential (W3C VC API) — 201 {verifiableCredential}."""
    # on the issuing threads, as POST /v1/credentials (SUIXIN_ISSUE_THREADS)
    return await to_thread.run_sync(
        _vc_issue, body, caller, state, idempotency_key, limiter=state.issue_limiter
    )


def _vc_issue(
    body: VcIssueBody, caller: AuthContext, state: ApiState, idempotency_key: str | None
) -> JSONResponse:
    credential = body.credential
    if credential.context is not None and (
        not credential.context or credential.context[0] != VC_V2_CONTEXT
    ):
        raise _invalid(
            "credential.@context",
            "context_invalid",
            f"@context 的第一项应为 {VC_V2_CONTEXT}",
            f"@context must start with {VC_V2_CONTEXT}",
        )
    credential_type = _credential_type(credential)
    require_issue_scopes(caller, [credential_type])
    issuer = _issuer_did(credential)
    authority = state.office.authority(caller.authority_id) if issuer is not None else None
    if issuer is not None and authority is not None and issuer != authority.did:
        try:
            state.office.authority_by_did(issuer)
        except NotFound:
            raise _invalid(
                "credential.issuer",
                "issuer_unknown",
                f"本签发服务不代表 {issuer} 签发",
                f"This office does not issue for {issuer}",
            ) from None
        raise Problem(
            403,
            "forbidden",
            "无权操作 / Forbidden",
            f"该 API 密钥属于 {authority.did}，不能以 {issuer} 的名义签发 / "
            f"this API key acts for {authority.did}, not for {issuer}",
        )
    request = IssueBody.model_validate(
        {
            "type": credential_type,
            "subject": credential.credential_subject,
            "validFrom": credential.valid_from,
            "validUntil": credential.valid_until,
        }
    )
    try:
        bundle, created = issue_one(state, caller, request, idempotency_key)
    except InvalidCredential as e:
        raise InvalidCredential(
            [FieldError(_vc_path(x.path), x.code, x.zh, x.en) for x in e.errors]
        ) from None
    return JSONResponse(
        {"verifiableCredential": bundle["credential"]}, status_code=201 if created else 200
    )


@router.post(
    "/verify",
    dependencies=[Depends(public_rate_limit)],
    responses={
        422: {"model": ProblemOut, "description": "Not verified: the failed checks"},
        429: {"model": ProblemOut, "description": "Too many requests from this client"},
        503: {"model": ProblemOut, "description": "The chain cannot be read: no verdict"},
    },
    description=(
        "Public, rate-limited. 200 `{verified: true, checks, warnings, errors}` when VALID; "
        "otherwise a 422 problem with `verified: false`, the verdict, and the failed (or "
        "pending) checks in `errors`. The anchor receipt is taken from this office's "
        "database when it issued the credential; otherwise there is none, and a credential "
        "without a receipt is at best PENDING — not verified."
    ),
)
def vc_verify(body: VcVerifyBody, state: StateDep) -> JSONResponse:
    """Verify a credential (W3C VC API)."""
    credential = body.verifiable_credential
    bundle: dict[str, Any] = {
        "version": "suixin-bundle/1",
        "credential": credential,
        "anchor": state.verification.stored_receipt(credential),
    }
    report = state.verification.verify(bundle)
    passed = [c.name for c in report.checks if c.outcome is Outcome.PASS]
    warnings = [w.as_dict() for w in report.warnings]
    if report.verdict is Verdict.VALID:
        return JSONResponse(
            {"verified": True, "checks": passed, "warnings": warnings, "errors": []}
        )
    failed = [
        FieldError(c.name, c.reason.code, c.reason.zh, c.reason.en)
        for c in report.checks
        if c.outcome in (Outcome.FAIL, Outcome.PENDING)
    ]
    verdict_zh = "尚未上链，暂不能确认" if report.verdict is Verdict.PENDING else "核验未通过"
    raise Problem(
        422,
        "not-verified",
        "凭证未通过核验 / Credential not verified",
        f"{verdict_zh} / {report.summary('en')}",
        errors=failed,
        extra={
            "verified": False,
            "verdict": report.verdict.value,
            "checks": passed,
            "warnings": warnings,
        },
    )
