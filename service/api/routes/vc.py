"""W3C VC API compatibility: ``/credentials/issue`` and ``/credentials/verify``."""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

from anyio import to_thread
from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import ValidationError

from service.api.deps import (
    ApiState,
    Caller,
    IdempotencyKey,
    StateDep,
    public_rate_limit,
    require_issue_scopes,
    require_scope,
)
from service.api.errors import Problem, field_errors_from_pydantic, validation_problem
from service.api.issuing import issue_one
from service.api.models import (
    IssueBody,
    ProblemOut,
    VcCredentialIn,
    VcIssueBody,
    VcVerifyBody,
    VerifyOptions,
)
from service.api.vc_api import VcResult, credential_result, requested_checks, verify_options
from service.issuing.conformance import ConformanceIssuer
from service.issuing.office import AuthContext, NotFound
from verifier.credential import CREDENTIAL_TYPES, VC_V2_CONTEXT, VERIFIABLE_CREDENTIAL
from verifier.errors import FieldError, InvalidCredential
from verifier.foreign import ForeignMaterial, proof_binding

router = APIRouter(prefix="/credentials", tags=["W3C VC API"])

# what the VC API's verify routes (credentials and presentations) answer besides 200
VERIFY_RESPONSES: dict[int | str, dict[str, Any]] = {
    422: {"model": ProblemOut, "description": "Not verified: the failed checks"},
    429: {"model": ProblemOut, "description": "Too many requests from this client"},
    503: {"model": ProblemOut, "description": "The chain cannot be read: no verdict"},
}


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


def _conformance_issue(
    credential: dict[str, Any], caller: AuthContext, issuer: ConformanceIssuer
) -> JSONResponse:
    """Sign a well-formed VC 2.0 credential with the conformance issuer's did:key (any key
    that may issue some type may ask): neither stored nor anchored, never accredited."""
    if not any(scope.startswith("issue:") for scope in caller.scopes):
        require_scope(caller, "issue:ResidencePermit")  # the 403 of a key that issues nothing
    signed = issuer.issue(credential, datetime.now(UTC))
    return JSONResponse({"verifiableCredential": signed}, status_code=201)


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
        "authority of this office is a 403; one this office does not hold is a 422. Only "
        "`ResidencePermit` and `BusinessLicense` are issued, with their strict schemas — "
        "unless the office runs the conformance issuer (`SUIXIN_CONFORMANCE_ISSUER`, for "
        "the W3C test suites, never in production): then any other well-formed VC 2.0 "
        "credential is signed as given by the office's own unaccredited did:key (issuer "
        "absent or that did:key), not stored, not anchored, and verified as NOT_ACCREDITED."
    ),
)
async def vc_issue(
    body: VcIssueBody, caller: Caller, state: StateDep, idempotency_key: IdempotencyKey = None
) -> JSONResponse:
    """Issue a credential (W3C VC API) — 201 {verifiableCredential}."""
    # on the issuing threads (SUIXIN_ISSUE_THREADS)
    return await to_thread.run_sync(
        _vc_issue, body, caller, state, idempotency_key, limiter=state.issue_limiter
    )


def _vc_issue(
    body: VcIssueBody, caller: AuthContext, state: ApiState, idempotency_key: str | None
) -> JSONResponse:
    raw = body.credential
    types = raw.get("type")
    suixin = isinstance(types, list) and any(t in CREDENTIAL_TYPES for t in types)
    if state.conformance is not None and not suixin:
        return _conformance_issue(raw, caller, state.conformance)
    try:
        credential = VcCredentialIn.model_validate(raw)
    except ValidationError as e:
        located = [{**err, "loc": ("credential", *err["loc"])} for err in e.errors()]
        raise validation_problem(field_errors_from_pydantic(located)) from None
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
    responses=VERIFY_RESPONSES,
    description=(
        "Public, rate-limited. 200 `{verified: true, verdict, checks, warnings, errors: []}` "
        "when no check asked for failed; otherwise a 422 problem with `verified: false`, the "
        "verdict, and the failed checks in `errors`. `options.checks` chooses the checks "
        "(`proof`, `status`, `validity`, or the verifier's names; left out: every check that "
        "applies); `options.challenge` / `options.domain` must be the proof's. A credential "
        "whose anchor is still pending (inside the grace period) is verified with an "
        "`anchor_pending` warning and the verdict PENDING. The anchor receipt is taken from "
        "this office's database when it issued the credential. A foreign credential (VC 2.0, "
        "eddsa-jcs-2022 or eddsa-rdfc-2022 — the latter only with the contexts the office "
        "ships, never fetched —, a did:key issuer, or a did:web one whose DID document is in "
        "`options.didDocuments`) is checked too — its Bitstring status list when in "
        "`options.statusListCredentials` — and is never VALID: the verdict NOT_ACCREDITED and "
        "the warning `issuer_not_accredited` say it is not a government credential."
    ),
)
def vc_verify(body: VcVerifyBody, state: StateDep) -> JSONResponse:
    """Verify a credential (W3C VC API)."""
    options = verify_options(body.options)
    requested = requested_checks(options.checks)
    credential = body.verifiable_credential
    result = verify_credential(state, credential, options, requested)
    if result.verified:
        return JSONResponse(result.to_json())
    raise not_verified(result, "凭证未通过核验 / Credential not verified")


def material_of(options: VerifyOptions) -> ForeignMaterial:
    """The DID documents and status lists the caller supplied in ``options``."""
    return ForeignMaterial.from_json(options.did_documents, options.status_list_credentials)


def verify_credential(
    state: ApiState,
    credential: dict[str, Any],
    options: VerifyOptions,
    requested: list[tuple[str, str]] | None,
    *,
    bind: bool = True,
) -> VcResult:
    """The VC API result of one credential (raises ChainUnavailable: a 503, never a
    verdict); ``bind``: check ``options.challenge`` / ``domain`` against its proof."""
    bundle: dict[str, Any] = {
        "version": "suixin-bundle/1",
        "credential": credential,
        "anchor": state.verification.stored_receipt(credential),
    }
    report = state.verification.verify(bundle, material_of(options))
    binding = proof_binding(credential, options.challenge, options.domain) if bind else []
    return credential_result(report, requested, binding)


def not_verified(result: VcResult, title: str, errors: list[FieldError] | None = None) -> Problem:
    """The 422 problem of a result that is not verified."""
    errors = result.errors if errors is None else errors
    first = errors[0] if errors else None
    zh = f"核验未通过：{first.zh}" if first else "核验未通过"
    en = f"{result.verdict}: {first.en}" if first else result.verdict
    return Problem(
        422,
        "not-verified",
        title,
        f"{zh} / {en}",
        errors=errors,
        extra={
            "verified": False,
            "verdict": result.verdict,
            "checks": result.checks,
            "warnings": result.warnings,
            **({"foreign": True} if result.foreign else {}),
        },
    )
