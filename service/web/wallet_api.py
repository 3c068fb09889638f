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
from service.issuing import status_lists
from service.issuing.office import NotFound, Office
from service.wallet.oid4vci import (
    BATCH_SIZE,
    PRE_AUTH_GRANT,
    WalletError,
    WalletIssuer,
    configuration_id,
)
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

__all__ = ["OfficeLists", "counter_check", "make_counter", "router"]

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


def _oauth_error(code: str, zh: str, en: str, status: int = 400) -> JSONResponse:
    """An OAuth 2.0 error (RFC 6749 §5.2, OpenID4VCI 1.0 §6.3, §8.3.1): ``error_description``
    in printable ASCII as those require (English), the 中文 beside it under a language-tagged
    name (``error_description#zh-CN``, as RFC 7591 tags human-readable values)."""
    ascii_only = "".join(c for c in en if " " <= c <= "~" and c not in '"\\')
    return JSONResponse(
        {"error": code, "error_description": ascii_only, "error_description#zh-CN": zh},
        status_code=status,
        headers={"Cache-Control": "no-store"},
    )


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
        "credential_configuration_ids": [configuration_id(offer.credential_type)],
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
        # this office is its own authorization server (no authorization_servers): its token
        # endpoint is in /.well-known/oauth-authorization-server; kept here for older wallets
        "token_endpoint": f"{base}/v1/oid4vci/token",
        "credential_endpoint": f"{base}/v1/oid4vci/credential",
        "nonce_endpoint": f"{base}/v1/oid4vci/nonce",
        # single-use copies, one per wallet key: a copy per counter visit, so counters cannot
        # link visits; ten last a few months and keep the anchoring cost per claim low
        "batch_credential_issuance": {"batch_size": BATCH_SIZE},
        "credential_configurations_supported": {
            configuration_id(t): {
                "format": SD_JWT_FORMAT,
                "vct": vct_of(t),
                "cryptographic_binding_methods_supported": ["jwk"],
                "credential_signing_alg_values_supported": ["EdDSA"],
                "proof_types_supported": {"jwt": {"proof_signing_alg_values_supported": ["ES256"]}},
                "credential_metadata": {
                    "display": [
                        {"name": _TYPE_NAMES.get(t, (t, t))[0], "locale": "zh-CN"},
                        {"name": _TYPE_NAMES.get(t, (t, t))[1], "locale": "en"},
                    ]
                },
            }
            for t in CREDENTIAL_TYPES
        },
    }


_TYPE_NAMES = {
    "ResidencePermit": ("居住证", "Residence permit"),
    "BusinessLicense": ("营业执照", "Business licence"),
    "ResidenceYears": ("居住年限证明", "Certificate of years of residence"),
}


@router.get("/.well-known/oauth-authorization-server")
def authorization_server_metadata(request: Request) -> dict[str, Any]:
    """OAuth 2.0 authorization server metadata (RFC 8414) of this office's token endpoint."""
    base = base_url(request)
    return {
        "issuer": base,
        "token_endpoint": f"{base}/v1/oid4vci/token",
        "grant_types_supported": [PRE_AUTH_GRANT, "refresh_token"],  # new copies (RFC 6749 §6)
        # OpenID4VCI 1.0 §12.3: a token request with the code and no client_id is taken
        "pre-authorized_grant_anonymous_access_supported": True,
    }


@router.post(
    "/v1/oid4vci/token", dependencies=[Depends(public_rate_limit)], responses=_TOKEN_ERRORS
)
async def token(request: Request, office: OfficeDep) -> JSONResponse:
    """Exchange a pre-authorised code (once) for an access token, a c_nonce and a refresh
    token; or a refresh token (once; a new one comes back) for another batch of copies."""
    raw = (await request.body()).decode("utf-8", "replace")
    if request.headers.get("content-type", "").startswith("application/json"):
        try:
            form = {k: str(v) for k, v in json.loads(raw).items()}
        except (ValueError, AttributeError):
            form = {}
    else:
        form = {k: v[0] for k, v in parse_qs(raw).items()}
    grant = form.get("grant_type")
    refreshing = grant == "refresh_token"
    if grant not in (PRE_AUTH_GRANT, "refresh_token"):
        return _oauth_error(
            "unsupported_grant_type",
            "只接受预授权码（pre-authorized_code）或刷新令牌（refresh_token）授权",
            "only the pre-authorized_code and refresh_token grants are supported",
        )
    if refreshing and not form.get("refresh_token"):
        return _oauth_error("invalid_request", "缺少刷新令牌", "refresh_token is missing")
    if not refreshing and not form.get("pre-authorized_code"):
        return _oauth_error("invalid_request", "缺少预授权码", "pre-authorized_code is missing")
    if "tx_code" in form:  # OpenID4VCI 1.0 §6.3: no transaction code was asked for
        return _oauth_error(
            "invalid_request",
            "本领取不需要交易码（tx_code）",
            "this offer asks for no transaction code (tx_code)",
        )
    try:
        if refreshing:  # new single-use copies, on the holder's visible action
            access, c_nonce, expires, following = WalletIssuer(office).refresh(
                form["refresh_token"]
            )
        else:
            access, c_nonce, expires, following = WalletIssuer(office).tokens(
                form["pre-authorized_code"]
            )
    except WalletError as e:
        return _oauth_error(e.code, e.zh, e.en, e.status)
    return JSONResponse(
        {
            "access_token": access,
            "token_type": "Bearer",
            "expires_in": expires,
            "c_nonce": c_nonce,
            "c_nonce_expires_in": expires,
            # spent on use: the next one comes with the next access token
            "refresh_token": following,
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
    """The SD-JWT VC for an access token: one single-use copy per proof JWT of a wallet key
    (``proofs.jwt``, at most ``batch_size``), each bound to its key."""
    auth = request.headers.get("authorization", "")
    token_value = auth[7:].strip() if auth.lower().startswith("bearer ") else ""
    # OpenID4VCI 1.0 §8.2: ``proofs`` holds one proof type, ``jwt``, with an array of proofs,
    # one per wallet key: a single-use copy each (batch issuance). An older ``proof`` object is
    # an unknown parameter, ignored: no proof is given.
    proofs_given: list[object] = [None]
    proofs = body.get("proofs")
    if isinstance(proofs, dict) and isinstance(proofs.get("jwt"), list) and proofs["jwt"]:
        proofs_given = list(proofs["jwt"])
    configuration = body.get("credential_configuration_id")
    try:
        copies = WalletIssuer(office).credentials(
            token_value,
            proofs_given,
            audience=base_url(request),
            configuration=configuration if isinstance(configuration, str) else "",
        )
    except WalletError as e:
        return _oauth_error(e.code, e.zh, e.en, e.status)
    return JSONResponse(
        {
            "credentials": [{"credential": sd_jwt} for sd_jwt, _ in copies],
            # the wallet's handle of each copy (its anchor receipt), in the same order
            "walletCredentialIds": [sd_id for _, sd_id in copies],
            "walletCredentialId": copies[0][1],
        },
        headers={"Cache-Control": "no-store"},
    )


@router.post("/v1/oid4vci/nonce", dependencies=[Depends(public_rate_limit)])
def nonce(office: OfficeDep) -> JSONResponse:
    """A fresh c_nonce for the wallet's key proof (OpenID4VCI 1.0 nonce endpoint)."""
    c_nonce, _ = WalletIssuer(office).nonce()
    return JSONResponse({"c_nonce": c_nonce}, headers={"Cache-Control": "no-store"})


@router.get("/v1/oid4vci/credentials/{sd_id}", dependencies=[Depends(public_rate_limit)])
def wallet_credential_state(sd_id: str, office: OfficeDep) -> dict[str, Any]:
    """Anchor receipt and status of an SD-JWT a wallet holds (by its random id)."""
    try:
        return WalletIssuer(office).state(sd_id)
    except WalletError as e:
        raise _problem(e) from e


# --------------------------------------------------------------------------- counter


class OfficeLists:
    """The office's own Status List Tokens and list sets, as it serves them (the versions on
    chain), for its counter: read from its database, not over the network."""

    def __init__(self, office: Office) -> None:
        self.office = office

    def _authority(self, uri: str, issuer: str) -> tuple[int, int] | None:
        base = status_lists.list_base(issuer)
        prefix = f"{base}/{status_lists.TOKEN}/"
        if base is None or not uri.startswith(prefix) or not uri[len(prefix) :].isdigit():
            return None
        try:
            authority = self.office.authority_by_did(issuer)
        except NotFound:
            return None
        return authority.id, int(uri[len(prefix) :])

    def token(self, uri: str, issuer: str, *, fresh: bool = False) -> str | None:
        found = self._authority(uri, issuer)
        if found is None:
            return None
        with self.office.db.session() as s:
            return status_lists.served_token(s, *found)

    def list_set(self, uri: str, issuer: str, *, fresh: bool = False) -> dict[str, Any] | None:
        found = self._authority(uri, issuer)
        if found is None:
            return None
        with self.office.db.session() as s:
            return status_lists.served_set(s, found[0])


def counter_check(verification: VerificationService) -> Check:
    """What verifies a counter's answers here: the office's shared index, synced first (a
    counter's verdict must reflect the chain now), and the office's own status lists."""
    lists = OfficeLists(verification.office)

    def check(envelope: object, nonce: str, audience: str, fresh: bool) -> PresentationReport:
        verification.sync()
        with verification._lock:
            report = verify_presentation(
                verification.verifier,
                envelope,
                nonce=nonce,
                audience=audience,
                max_age=verification.verifier.policy.clock_skew if fresh else None,
                status_lists=lists,
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
    purpose: PlainText = Field(
        "", max_length=200, description="why the counter asks, shown to the holder as its claim"
    )


@router.post("/v1/oid4vp/requests", status_code=201, dependencies=[Depends(public_rate_limit)])
def create_request(
    body: CounterRequestBody, request: Request, counter: CounterDep
) -> dict[str, Any]:
    """Create a presentation request (OpenID4VP) with a fresh nonce; answers its QR code and
    the counter session's secret."""
    return counter.create(
        base_url(request), body.credentialType, body.fields, body.verifierName, body.purpose
    )


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
        415: {"model": ProblemOut, "description": "须为表单或 JSON / a form or JSON only"},
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
                            "vp_token": {
                                "type": "string",
                                "description": "JSON object keyed by the DCQL query id",
                            },
                            "suixin_anchors": {
                                "type": "string",
                                "description": "JSON: the anchor receipts, keyed as vp_token",
                            },
                            "state": {"type": "string"},
                            "error": {"type": "string"},
                            "error_description": {"type": "string"},
                        },
                    }
                },
                "application/json": {"schema": {"type": "object"}},
            },
        }
    },
)
async def answer(
    request_id: str, request: Request, response: Response, counter: CounterDep
) -> dict[str, Any]:
    """The wallet's answer (direct_post, form or JSON; direct_post.jwt, the form's ``response``
    encrypted to the request's key), or its refusal (``error=access_denied``). The
    presentation is verified first: only one whose holder signed for this request's nonce and
    audience answers it (a junk or replayed post is refused and changes nothing); one answer
    per request."""
    body = parse_answer(await request.body(), request.headers.get("content-type", ""))
    response.headers["Cache-Control"] = "no-store"
    answered: dict[str, Any] = await run_in_threadpool(counter.answer, request_id, body)
    return answered


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
