"""Public verification of bundles: ``/v1/verify``."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Body, Depends
from starlette.concurrency import run_in_threadpool
from starlette.types import Receive, Scope, Send

from service.api.deps import ApiState, StateDep, public_rate_limit
from service.api.guard import FastLane
from service.api.models import ProblemOut
from service.api.ratelimit import RATE_TAKEN
from service.api.responses import FastJSONResponse
from service.lifecycle import office_status, with_office_status
from verifier.verify import Report, Verdict

router = APIRouter(tags=["verification"])

_EXAMPLE_BUNDLE: dict[str, Any] = {
    "version": "suixin-bundle/1",
    "credential": {
        "@context": ["https://www.w3.org/ns/credentials/v2"],
        "type": ["VerifiableCredential", "ResidencePermit"],
        "issuer": "did:web:lsj.gz.gov.cn",
        "credentialSubject": {"name": "张三", "residenceAddress": "广州市天河区天河路100号"},
    },
    "anchor": None,
}


@router.post(
    "/v1/verify",
    dependencies=[Depends(public_rate_limit)],
    responses={
        429: {"model": ProblemOut, "description": "Too many requests from this client"},
        503: {"model": ProblemOut, "description": "The chain cannot be read: no verdict"},
    },
    description=(
        "Public, no key; rate-limited per client address. Answers 200 with the report "
        "(verdict VALID, INVALID or PENDING and every check with its reason in 中文 and "
        "English) for any JSON body; a chain outage is a 503, never INVALID. A foreign "
        "credential (VC 2.0 by a did:key or did:web issuer, bare or as `{credential, "
        "didDocuments, statusListCredentials}`) is at best NOT_ACCREDITED, never VALID. For this "
        "office's own credentials, a status change (revoked, superseded, …) not yet on chain "
        "is reported at once: the `status` check is `pending` with the new status, and the "
        "verdict is never VALID."
    ),
)
async def verify_bundle(
    state: StateDep,
    bundle: Annotated[
        Any,
        Body(
            description="A bundle: {version, credential, anchor}; or a foreign credential",
            openapi_examples={
                "居住证 bundle": {"summary": "张三的居住证（示意）", "value": _EXAMPLE_BUNDLE}
            },
        ),
    ],
) -> FastJSONResponse:
    """Verify a bundle (核验) and return the report."""
    return FastJSONResponse((await report_of(state, bundle)).to_json())


async def report_of(state: ApiState, bundle: object) -> Report:
    """The report ``POST /v1/verify`` answers for ``bundle`` (raises ChainUnavailable)."""
    # From the index on the event loop when no chain read is due; otherwise in a thread.
    report = state.verification.verify_now(bundle)
    if report is None:
        report = await run_in_threadpool(state.verification.verify, bundle)
    if report.verdict is not Verdict.INVALID and report.credential_id and report.issuer:
        # the issuer's own credential: a status it changed that the chain does not show yet.
        # One indexed read: inline on SQLite (tens of µs, like the check itself), in a thread
        # when PostgreSQL is a network round trip away.
        # Only for credentials whose status this office changed lately (a set read at most
        # every half second), so the common case reads no database at all.
        verification, credential_id = state.verification, report.credential_id
        if state.office.db.is_postgres and verification.recent_due():
            changed = await run_in_threadpool(verification.recently_changed, credential_id)
        else:
            changed = verification.recently_changed(credential_id)
        if changed:
            args = (state.office, report.issuer, credential_id)
            if state.office.db.is_postgres:
                known = await run_in_threadpool(office_status, *args)
            else:
                known = office_status(*args)
            if known is not None:
                report = with_office_status(report, known)
    return report


def fast_lane(state: ApiState) -> FastLane:
    """``POST /v1/verify`` without the framework, for the common case (the request guard calls
    it with the checked body, parsed): a JSON object from a client without an API key, within
    its rate limit, whose report the index gives at once and that needs no status read. The
    route's dependencies, routing and body validation cost more CPU than the verification
    itself. The answer is the route's, byte for byte; anything else — another content type, a
    body that is not a JSON object, a partner's key, a 429, a sync or a status read due, an
    error — returns False, and the request goes on to the route as before (having taken its
    rate-limit token here, it is not charged twice)."""
    verification, limiter, settings = state.verification, state.limiter, state.settings

    async def lane(scope: Scope, bundle: Any, receive: Receive, send: Send) -> bool:
        typed = False
        for name, value in scope["headers"]:
            if name == b"content-type":
                if value.split(b";", 1)[0].strip().lower() != b"application/json":
                    return False
                typed = True
            elif name == b"authorization" or name == b"x-api-key":
                return False  # perhaps a partner: the route decides
        if not typed or type(bundle) is not dict:
            return False
        client = scope.get("client")
        host = client[0] if client else "unknown"
        if not settings.is_partner(host) and limiter.take(host) > 0:
            return False  # the route answers the 429
        scope[RATE_TAKEN] = True
        try:
            report = verification.verify_now(bundle, count=False)
            if report is None:
                return False
            if report.verdict is not Verdict.INVALID and report.credential_id and report.issuer:
                if state.office.db.is_postgres and verification.recent_due():
                    return False
                if verification.recently_changed(report.credential_id):
                    return False
            content = report.to_json()
        except Exception:
            return False  # the route does it again and answers as it always has
        verification.metrics.count_verification(report.verdict.value)
        await FastJSONResponse(content)(scope, receive, send)
        return True

    return lane
