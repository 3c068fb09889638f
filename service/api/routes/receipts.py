"""Receipts for offices that verify through their own deployment: `/v1/verify/receipt`.

The office verifies the bundle itself (its own registry index; no other office is asked) and
signs a receipt (``verifier.receipts``) with its authority's current issuer key, whose DID URL
any verifier resolves from the on-chain registry. Nothing is stored and nothing is sent: the
receipt is the answer, for the caller's case file.
"""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body
from fastapi.responses import JSONResponse

from service.api.deps import Caller, StateDep
from service.api.models import ProblemOut
from verifier.receipts import make_receipt

router = APIRouter(tags=["verification"])


@router.post(
    "/v1/verify/receipt",
    responses={
        401: {"model": ProblemOut, "description": "No, unknown or revoked API key"},
        503: {"model": ProblemOut, "description": "The chain cannot be read: no verdict"},
    },
    description=(
        "Any API key of this office. Verifies the bundle as `/v1/verify` does and answers "
        "`{report, receipt}`: the receipt is a VC 2.0 (`SuixinVerificationReceipt`) signed "
        "(eddsa-jcs-2022, or suixin-sm2-jcs-2025 for an SM2 key) by the caller's authority's "
        "current issuer key; check it later "
        "with `verifier.receipts.verify_receipt` or `suixin-verify check-receipt`."
    ),
)
def verify_with_receipt(
    caller: Caller,
    state: StateDep,
    bundle: Annotated[Any, Body(description="A bundle: {version, credential, anchor}")],
) -> JSONResponse:
    """Verify a bundle and sign a receipt of the verification (核验回执)."""
    report = state.verification.verify(bundle)
    authority = state.office.authority(caller.authority_id)
    signer = state.office.signer(caller.authority_id)
    receipt = make_receipt(
        bundle,
        report,
        signer,
        f"{authority.did}#{signer.key_id}",
        cryptosuite=signer.cryptosuite,
    )
    return JSONResponse({"report": report.to_json(), "receipt": receipt})
