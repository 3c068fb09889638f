"""W3C VC API ``/presentations/verify``: Data Integrity (eddsa-jcs-2022, eddsa-rdfc-2022)
presentations."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse

from service.api.deps import StateDep, public_rate_limit
from service.api.models import VpVerifyBody
from service.api.routes.vc import (
    VERIFY_RESPONSES,
    material_of,
    not_verified,
    verify_credential,
)
from service.api.vc_api import VcResult, requested_checks, verify_options
from verifier.errors import FieldError
from verifier.foreign import check_presentation_proof, presentation_credentials

router = APIRouter(prefix="/presentations", tags=["W3C VC API"])

_MAX_CREDENTIALS = 20


@router.post(
    "/verify",
    dependencies=[Depends(public_rate_limit)],
    responses=VERIFY_RESPONSES,
    description=(
        "Public, rate-limited. Checks the presentation's own eddsa-jcs-2022 or "
        "eddsa-rdfc-2022 proof (purpose "
        "`authentication`, by the `holder`'s did:key, or its did:web key from "
        "`options.didDocuments`), that its `challenge` and `domain` are `options.challenge` "
        "and `options.domain` (a proof carrying a challenge when none is given is refused), "
        "and verifies every embedded credential as `/credentials/verify` does (`options."
        "checks` applies to them). 200 `{verified: true, verdict, checks, warnings, errors: "
        "[], credentialResults}` when all hold; otherwise a 422 problem with `verified: "
        "false` and the failures, each credential's under `verifiableCredential[i]`."
    ),
)
def vp_verify(body: VpVerifyBody, state: StateDep) -> JSONResponse:
    """Verify a presentation (W3C VC API)."""
    options = verify_options(body.options)
    requested = requested_checks(options.checks)
    presentation = body.verifiable_presentation
    own = check_presentation_proof(
        presentation,
        challenge=options.challenge,
        domain=options.domain,
        material=material_of(options),
    )
    result = VcResult("VALID")
    for outcome in own:
        if outcome.held:
            result.checks.append(outcome.name)
        else:
            r = outcome.reason
            result.errors.append(FieldError(outcome.name, r.code, r.zh, r.en))
    errors = list(result.errors)
    results: list[dict[str, Any]] = []
    credentials = presentation_credentials(presentation)
    if len(credentials) > _MAX_CREDENTIALS:
        errors.append(
            FieldError(
                "verifiableCredential",
                "too_many_credentials",
                f"一次出示至多核验 {_MAX_CREDENTIALS} 份凭证",
                f"At most {_MAX_CREDENTIALS} credentials are verified in one presentation",
            )
        )
        credentials = []
    verdicts = []
    for i, credential in enumerate(credentials):
        where = f"verifiableCredential[{i}]."
        if not isinstance(credential, dict):
            errors.append(
                FieldError(
                    where + "format",
                    "credential_unsupported",
                    "只核验以 JSON 对象嵌入的凭证（不支持封装形式）",
                    "Only credentials embedded as JSON objects are verified (not enveloped ones)",
                )
            )
            verdicts.append("INVALID")
            continue
        one = verify_credential(state, credential, options, requested, bind=False)
        results.append(one.to_json(where))
        errors += one.errors_under(where)
        verdicts.append(one.verdict)
    # the presentation's verdict: its worst credential's (INVALID if its own proof failed)
    order = ("INVALID", "NOT_ACCREDITED", "PENDING", "VALID")
    # (a presentation of no credential proves control of a key, nothing accredited)
    result.verdict = (
        "INVALID" if result.errors else min(verdicts or ["NOT_ACCREDITED"], key=order.index)
    )
    result.warnings += [
        {**w, "check": f"verifiableCredential[{i}].{w['check']}".rstrip(".")}
        for i, one in enumerate(results)
        for w in one["warnings"]
    ]
    if errors:
        problem = not_verified(result, "出示未通过核验 / Presentation not verified", errors)
        problem.extra["credentialResults"] = results
        raise problem
    return JSONResponse({**result.to_json(), "credentialResults": results})
