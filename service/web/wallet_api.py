"""The wallet and counter protocols over HTTP: OpenID4VCI (pre-authorised code) and OpenID4VP.

Issuance (``/v1/oid4vci``): an office key makes a one-time offer for one of its credentials; the
wallet redeems the code at the token endpoint and fetches an SD-JWT VC bound to its key at the
credential endpoint (see ``service.wallet.oid4vci``). The code travels only in the URL *fragment*
of the wallet link, which browsers never send to a server.

Presentation (``/v1/oid4vp``): a counter creates a request (credential type, fields, nonce, its
name); the request object is served by reference (``request_uri``) with an OpenID4VP DCQL query;
the wallet answers with ``direct_post`` of its presentation envelope; the counter reads the
result. Each request takes one answer: its nonce is consumed, a second answer is refused (409)
and the same presentation sent to another request fails the ``holder`` check (nonce). A counter
may *re-check* the answer it accepted (status may have changed since). Counter requests live in
this process's memory for 15 minutes (run the counter on one process, or sticky sessions).

Errors are RFC 9457 problems with a stable ``code`` and text in 中文 and English.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import Caller, OfficeDep, StateDep, public_rate_limit, require_scope
from service.api.errors import Problem
from service.api.models import PlainText, ProblemOut
from service.api.verification import VerificationService
from service.issuing.office import NotFound
from service.wallet.oid4vci import PRE_AUTH_GRANT, WalletError, WalletIssuer
from verifier.counter.core import (
    REQUEST_OBJECT_MEDIA_TYPE,
    Check,
    Counter,
    load_or_create_key,
    parse_answer,
    qr_svg,
)
from verifier.credential import CREDENTIAL_TYPES, credential_type_of
from verifier.sdjwt import SD_JWT_FORMAT, PresentationReport, vct_of, verify_presentation

__all__ = ["counter_check", "make_counter", "router"]

router = APIRouter(tags=["wallet"])


class OAuthErrorOut(BaseModel):
    """An OAuth 2.0 error (RFC 6749 §5.2), as OpenID4VCI's token and credential endpoints
    answer: ``{"error": "invalid_grant", "error_description": "中文 / English"}``."""

    error: str
    error_description: str | None = None


_OAUTH_WORDS = {
    400: "请求有误 / invalid request, grant or proof",
    401: "访问令牌无效 / invalid access token",
    409: "此签发机关的密钥不能签 SD-JWT / the authority's key cannot sign an SD-JWT",
}
_TOKEN_ERRORS: dict[int | str, dict[str, Any]] = {
    400: {"model": OAuthErrorOut, "description": _OAUTH_WORDS[400]}
}
_CREDENTIAL_ERRORS: dict[int | str, dict[str, Any]] = {
    status: {"model": OAuthErrorOut, "description": _OAUTH_WORDS[status]}
    for status in (400, 401, 409)
}
_CONFLICT: dict[int | str, dict[str, Any]] = {
    409: {"model": ProblemOut, "description": "与当前状态冲突 / not possible now"}
}


def _problem(e: WalletError) -> Problem:
    return Problem(
        e.status, e.code, e.zh + " / " + e.en, f"{e.zh} / {e.en}", extra={"code": e.code}
    )


def base_url(request: Request) -> str:
    """This deployment's origin as the client sees it (no trailing slash)."""
    return str(request.base_url).rstrip("/")


# --------------------------------------------------------------------------- issuance


class OfferBody(BaseModel):
    """Nothing to choose yet: the offer is for the credential in the path."""

    model_config = ConfigDict(extra="forbid")


@router.post("/v1/credentials/{credential_id}/offer", status_code=201, responses=_CONFLICT)
def create_offer(
    credential_id: str, caller: Caller, office: OfficeDep, request: Request
) -> dict[str, Any]:
    """Make a one-time wallet offer (OpenID4VCI pre-authorised code) for a credential."""
    try:
        kind = credential_type_of(office.bundle(credential_id, caller.authority_id)["credential"])
    except NotFound as e:
        raise _problem(
            WalletError(
                404, "credential_not_found", "没有这张凭证", f"no credential {credential_id}"
            )
        ) from e
    require_scope(caller, f"issue:{kind}")  # checked before anything is stored
    try:
        offer = WalletIssuer(office).create_offer(
            credential_id, caller.authority_id, actor=f"apikey:{caller.key_id}"
        )
    except WalletError as e:
        raise _problem(e) from e
    base = base_url(request)
    credential_offer = {
        "credential_issuer": base,
        "credential_configuration_ids": [f"{offer.credential_type}_sd_jwt"],
        "grants": {PRE_AUTH_GRANT: {"pre-authorized_code": offer.code}},
    }
    link = f"{base}/wallet#offer=" + quote(json.dumps(credential_offer, separators=(",", ":")))
    return {
        "offerId": offer.id,
        "credentialOffer": credential_offer,
        "walletLink": link,
        "qrSvg": qr_svg(link),
        "expiresAt": offer.expires_at.isoformat().replace("+00:00", "Z"),
    }


@router.get("/.well-known/openid-credential-issuer")
def issuer_metadata(request: Request) -> dict[str, Any]:
    """OpenID4VCI credential issuer metadata of this office."""
    base = base_url(request)
    return {
        "credential_issuer": base,
        "token_endpoint": f"{base}/v1/oid4vci/token",
        "credential_endpoint": f"{base}/v1/oid4vci/credential",
        "credential_configurations_supported": {
            f"{t}_sd_jwt": {
                "format": SD_JWT_FORMAT,
                "vct": vct_of(t),
                "cryptographic_binding_methods_supported": ["jwk"],
                "credential_signing_alg_values_supported": ["EdDSA"],
                "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
            }
            for t in CREDENTIAL_TYPES
        },
    }


@router.post(
    "/v1/oid4vci/token", dependencies=[Depends(public_rate_limit)], responses=_TOKEN_ERRORS
)
async def token(request: Request, office: OfficeDep) -> JSONResponse:
    """Exchange a pre-authorised code for an access token and a c_nonce (once)."""
    raw = (await request.body()).decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            form = {k: str(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError):
            form = {}
    else:
        form = {k: v[0] for k, v in parse_qs(raw).items()}
    if form.get("grant_type") != PRE_AUTH_GRANT or not form.get("pre-authorized_code"):
        return JSONResponse(
            {
                "error": "unsupported_grant_type",
                "error_description": "需要预授权码 / a pre-authorized_code grant is required",
            },
            status_code=400,
        )
    try:
        access, c_nonce, expires = WalletIssuer(office).token(form["pre-authorized_code"])
    except WalletError as e:
        return JSONResponse(
            {"error": e.code, "error_description": f"{e.zh} / {e.en}"}, status_code=e.status
        )
    return JSONResponse(
        {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": expires,
            "c_nonce": c_nonce,
            "c_nonce_expires_in": expires,
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post(
    "/v1/oid4vci/credential",
    dependencies=[Depends(public_rate_limit)],
    responses=_CREDENTIAL_ERRORS,
)
def credential(
    request: Request, office: OfficeDep, body: Annotated[dict[str, Any], Body()]
) -> JSONResponse:
    """The SD-JWT VC for an access token and a proof JWT of the wallet's key."""
    auth = request.headers.get("authorization", "")
    token_value = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    proof: object = None
    proofs = body.get("proofs")
    if isinstance(proofs, dict) and isinstance(proofs.get("jwt"), list) and proofs["jwt"]:
        proof = proofs["jwt"][0]
    elif isinstance(body.get("proof"), dict):
        proof = body["proof"].get("jwt")
    try:
        sd_jwt, sd_id = WalletIssuer(office).credential(
            token_value, proof, audience=base_url(request)
        )
    except WalletError as e:
        return JSONResponse(
            {"error": e.code, "error_description": f"{e.zh} / {e.en}"}, status_code=e.status
        )
    return JSONResponse(
        {"credentials": [{"credential": sd_jwt}], "walletCredentialId": sd_id},
        headers={"Cache-Control": "no-store"},
    )


@router.get("/v1/oid4vci/credentials/{sd_id}", dependencies=[Depends(public_rate_limit)])
def wallet_credential_state(sd_id: str, office: OfficeDep) -> dict[str, Any]:
    """Anchor receipt and status of an SD-JWT a wallet holds (by its random id)."""
    try:
        return WalletIssuer(office).state(sd_id)
    except WalletError as e:
        raise _problem(e) from e


# --------------------------------------------------------------------------- counter


def counter_check(verification: VerificationService) -> Check:
    """What verifies a counter's answers here: the office's shared index, synced first (a
    counter's verdict must reflect the chain now)."""

    def check(envelope: object, nonce: str, audience: str, fresh: bool) -> PresentationReport:
        verification.sync()
        with verification._lock:
            report = verify_presentation(
                verification.verifier,
                envelope,
                nonce=nonce,
                audience=audience,
                max_age=verification.verifier.policy.clock_skew if fresh else None,
            )
        verification.metrics.count_verification(report.verdict.value)
        return report

    return check


def make_counter(app: Any, data_dir: Path) -> Counter:
    """The office's counter: answers verified against the office's index, receipts signed by
    the counter's own did:key (``<data dir>/keys/counter-receipt.key``)."""

    def check(envelope: object, nonce: str, audience: str, fresh: bool) -> PresentationReport:
        return counter_check(app.state.suixin.verification)(envelope, nonce, audience, fresh)

    return Counter(check, load_or_create_key(data_dir / "keys" / "counter-receipt.key"))


def _counter(request: Request) -> Counter:
    counter: Counter = request.app.state.suixin_counter
    return counter


CounterDep = Annotated[Counter, Depends(_counter)]


class CounterRequestBody(BaseModel):
    """What the counter asks for."""

    model_config = ConfigDict(extra="forbid")
    credentialType: str = Field(description="ResidencePermit or BusinessLicense")
    fields: list[str] = Field(min_length=1, max_length=20)
    verifierName: PlainText = Field(min_length=1, max_length=100)


@router.post("/v1/oid4vp/requests", status_code=201, dependencies=[Depends(public_rate_limit)])
def create_request(
    body: CounterRequestBody, request: Request, counter: CounterDep
) -> dict[str, Any]:
    """Create a presentation request (OpenID4VP) with a fresh nonce; answers its QR code and
    the counter session's secret."""
    return counter.create(base_url(request), body.credentialType, body.fields, body.verifierName)


@router.get(
    "/v1/oid4vp/requests/{request_id}",
    responses={
        200: {
            "content": {REQUEST_OBJECT_MEDIA_TYPE: {}},
            "description": "The request object: a JWT signed by the counter's key when asked "
            "for (Accept: application/oauth-authz-req+jwt), else JSON",
        }
    },
)
def request_object(request_id: str, request: Request, counter: CounterDep) -> Any:
    """The request object a wallet fetches (by reference): signed (OpenID4VP 1.0, RFC 9101)
    for a wallet that accepts ``application/oauth-authz-req+jwt``, JSON otherwise."""
    if REQUEST_OBJECT_MEDIA_TYPE in request.headers.get("accept", ""):
        return Response(
            counter.signed_request_object(request_id), media_type=REQUEST_OBJECT_MEDIA_TYPE
        )
    return counter.request_object(request_id)


@router.post(
    "/v1/oid4vp/requests/{request_id}/response",
    responses={
        **_CONFLICT,
        400: {"model": ProblemOut, "description": "不是对本请求的出示 / not an answer to it"},
    },
    openapi_extra={
        "requestBody": {
            "required": True,
            "content": {
                "application/x-www-form-urlencoded": {
                    "schema": {
                        "type": "object",
                        "properties": {
                            "response": {"type": "string", "description": "direct_post.jwt"},
                            "vp_token": {"type": "string"},
                            "state": {"type": "string"},
                            "error": {"type": "string"},
                        },
                    }
                },
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def answer(request_id: str, request: Request, counter: CounterDep) -> dict[str, Any]:
    """The wallet's answer (direct_post, form or JSON; direct_post.jwt, the form's ``response``
    encrypted to the request's key), or its refusal (``error=access_denied``). The
    presentation is verified first: only one whose holder signed for this request's nonce and
    audience answers it (a junk or replayed post is refused and changes nothing); one answer
    per request."""
    try:
        body = parse_answer(await request.body(), request.headers.get("content-type", ""))
    except (ValueError, RecursionError) as e:  # as every route: not UTF-8 400, not JSON 422
        status = 400 if isinstance(e, UnicodeDecodeError) else 422
        raise Problem(
            status,
            "body-invalid",
            "请求体无效 / Invalid body",
            f"应答须为 UTF-8 的 JSON 或表单 / the answer must be JSON or a form in UTF-8: "
            f"{str(e)[:200]}",
            extra={"code": "body_invalid"},
        ) from e
    return await run_in_threadpool(counter.answer, request_id, body)


def _counter_secret(
    x_counter_secret: Annotated[str | None, Header(max_length=200)] = None,
) -> str | None:
    return x_counter_secret


CounterSecret = Annotated[str | None, Depends(_counter_secret)]
_SESSION: dict[int | str, dict[str, Any]] = {
    401: {"model": ProblemOut, "description": "缺少或错误的柜台会话密钥 / not this counter's"}
}


@router.get("/v1/oid4vp/requests/{request_id}/result", responses=_SESSION)
def result(request_id: str, counter: CounterDep, secret: CounterSecret) -> dict[str, Any]:
    """The result of a request: waiting, declined, or the verdict with every check."""
    return counter.result(request_id, secret)


@router.post("/v1/oid4vp/requests/{request_id}/recheck", responses={**_CONFLICT, **_SESSION})
def recheck(request_id: str, counter: CounterDep, secret: CounterSecret) -> dict[str, Any]:
    """Verify the accepted answer again against the chain now (status may have changed)."""
    return counter.recheck(request_id, secret)


@router.post("/v1/oid4vp/requests/{request_id}/receipt", responses={**_CONFLICT, **_SESSION})
def counter_receipt(request_id: str, counter: CounterDep, secret: CounterSecret) -> dict[str, Any]:
    """A verification receipt (核验回执) of the answer, signed by the counter's did:key."""
    return counter.receipt(request_id, secret)


@router.get("/v1/oid4vp/requests/{request_id}/qr.svg")
def request_qr(request_id: str, request: Request, counter: CounterDep) -> Response:
    """The request's wallet link as an SVG QR code."""
    return Response(counter.qr(base_url(request), request_id), media_type="image/svg+xml")


@router.post(
    "/v1/oid4vp/verify",
    dependencies=[Depends(public_rate_limit)],
    responses={
        **_CONFLICT,
        400: {"model": ProblemOut, "description": "不是对本请求的出示 / not an answer to it"},
        404: {"model": ProblemOut, "description": "未找到 / no such request"},
    },
)
def verify_pasted(
    state: StateDep, counter: CounterDep, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    """Verify a pasted or uploaded file: a bundle {credential, anchor}, or a presentation
    envelope with ``requestId`` (then it answers that request); the report and a receipt."""
    return counter.verify_pasted(body, state.verification.verify)
