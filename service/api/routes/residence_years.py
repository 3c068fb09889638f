"""居住年限互认 over HTTP: ``POST /v1/credentials/{id}/residence-years``."""

from __future__ import annotations

from datetime import datetime
from typing import Annotated, Any

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from pydantic import BaseModel, Field

from service.api.deps import Caller, IdempotencyKey, StateDep, require_scope
from service.api.models import BundleOut, ProblemOut
from service.api.routes.credentials import credential_urn
from service.api.routes.lifecycle import office_now
from service.issuing.office import request_fingerprint
from service.lifecycle import residence_years

__all__ = ["router"]

router = APIRouter(prefix="/v1/credentials", tags=["life cycle"])

Now = Annotated[datetime, Depends(office_now)]  # the life cycle's clock (tests replace it)


class ResidenceYearsOut(BaseModel):
    """The derived credential's bundle, the holder's salt and the years it states."""

    bundle: BundleOut
    holderSalt: str = Field(
        description="16 bytes, hex: with the ID number it gives citizenIdDigest "
        "(SHA-256 of salt ‖ number). For the holder only; it is not in the credential.",
        examples=["9f1c0a5e2b7d4c3a8e6f1b2d3c4a5e6f"],
    )
    residenceYears: int = Field(description="连续居住满 N 年", examples=[6])


_RESPONSES: dict[int | str, dict[str, Any]] = {
    200: {"model": ResidenceYearsOut, "description": "Retry with the same Idempotency-Key"},
    401: {"model": ProblemOut, "description": "No, unknown or revoked API key"},
    403: {"model": ProblemOut, "description": "The key lacks the scope `lifecycle`"},
    404: {"model": ProblemOut, "description": "Unknown, or another authority's credential"},
    409: {
        "model": ProblemOut,
        "description": "Not possible as the permit stands (`code`: operation_not_applicable, "
        "type_not_accredited, credential_not_current, credential_not_yet_valid, term_ended, "
        "residence_years_none) or an Idempotency-Key reused with another request",
    },
}


@router.post(
    "/{credential_id}/residence-years",
    status_code=201,
    response_model=ResidenceYearsOut,
    responses=_RESPONSES,
    description=(
        "居住年限证明. From the current version of a residence permit in force (not revoked, "
        "suspended, superseded or cancelled, inside its term), a `ResidenceYears` credential "
        "stating N full years of continuous residence, counted from the permit's "
        "`residenceSince` to today (China time), in the city of residence. It holds no other "
        "personal data: the holder DID if any, a masked name, a salted digest of the citizen "
        "ID number (the salt is answered here, never put in the credential), region, N, "
        "since, as-of date and the permit's id. Valid until the permit's term ends; anchored "
        "like any credential. Less than a full year: 409 `residence_years_none`. Scope "
        "`lifecycle`."
    ),
)
def derive_residence_years(
    credential_id: str,
    caller: Caller,
    state: StateDep,
    now: Now,
    idempotency_key: IdempotencyKey = None,
) -> JSONResponse:
    """Issue a residence-years credential from a permit (居住年限证明) — 201."""
    require_scope(caller, "lifecycle")
    urn = credential_urn(credential_id)
    result = residence_years.derive(
        state.office,
        urn,
        authority_id=caller.authority_id,
        actor=f"apikey:{caller.key_id}",
        now=now,
        idempotency_key=idempotency_key,
        fingerprint=request_fingerprint({"operation": "residence_years", "credential": urn}),
    )
    headers = {"Location": f"/v1/credentials/{result.credential['id']}"}
    if result.replayed:
        headers["Idempotent-Replayed"] = "true"
    return JSONResponse(
        result.to_json(), status_code=200 if result.replayed else 201, headers=headers
    )
