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

import hashlib
import hmac
import json
import secrets
import threading
import time
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Annotated, Any
from urllib.parse import parse_qs, quote

import segno
from fastapi import APIRouter, Body, Depends, Header, Request
from fastapi.responses import JSONResponse, Response
from pydantic import BaseModel, ConfigDict, Field

from service.api.deps import Caller, OfficeDep, StateDep, public_rate_limit, require_scope
from service.api.errors import Problem
from service.api.models import PlainText, ProblemOut
from service.api.verification import VerificationService
from service.issuing.office import NotFound
from service.wallet.oid4vci import PRE_AUTH_GRANT, WalletError, WalletIssuer
from verifier.credential import CREDENTIAL_TYPES, credential_type_of
from verifier.keys import Ed25519KeyPair
from verifier.receipts import make_receipt
from verifier.sdjwt import SD_JWT_FORMAT, PresentationReport, vct_of, verify_presentation
from verifier.verify import Outcome

__all__ = ["CounterRequests", "counter_key", "router"]

router = APIRouter(tags=["wallet"])
REQUEST_TTL_SECONDS = 15 * 60


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


def qr_svg(text: str) -> str:
    """An SVG QR code (segno, error correction M) of ``text``."""
    svg: str = segno.make(text, error="m").svg_inline(scale=4, title="QR")
    return svg


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


@dataclass
class CounterRequest:
    """One counter request and, once answered, the answer and its report."""

    id: str
    nonce: str
    credential_type: str
    fields: list[str]
    verifier_name: str
    created: float
    response_uri: str
    secret_sha256: bytes = b""  # the counter session's secret: results are the counter's alone
    answer: dict[str, Any] | None = None
    report: PresentationReport | None = None
    answered_at: float | None = None
    declined: bool = False

    @property
    def client_id(self) -> str:
        """OpenID4VP client identifier with the ``redirect_uri`` prefix."""
        return f"redirect_uri:{self.response_uri}"

    def request_object(self) -> dict[str, Any]:
        """The OpenID4VP authorization request (by reference) with its DCQL query."""
        return {
            "client_id": self.client_id,
            "response_type": "vp_token",
            "response_mode": "direct_post",
            "response_uri": self.response_uri,
            "nonce": self.nonce,
            "state": self.id,
            "dcql_query": {
                "credentials": [
                    {
                        "id": "q0",
                        "format": SD_JWT_FORMAT,
                        "meta": {"vct_values": [vct_of(self.credential_type)]},
                        "claims": [{"path": [f]} for f in self.fields],
                    }
                ]
            },
            "client_metadata": {"client_name": self.verifier_name},
        }

    def result(self) -> dict[str, Any]:
        """The verdict, every check and the requested fields the holder disclosed."""
        if self.declined:
            return {"state": "declined", "requestId": self.id}
        if self.report is None:
            return {"state": "waiting", "requestId": self.id}
        report = self.report.to_json()
        disclosed = self.report.disclosed
        report["disclosed"] = {k: v for k, v in disclosed.items() if k in self.fields}
        report["notProvided"] = [f for f in self.fields if f not in disclosed]
        report["unrequested"] = sorted(k for k in disclosed if k not in self.fields)
        return {"state": "answered", "requestId": self.id, "report": report}


@dataclass
class CounterRequests:
    """The counter's open requests (in memory, with a time limit)."""

    items: dict[str, CounterRequest] = field(default_factory=dict)
    lock: threading.Lock = field(default_factory=threading.Lock)

    def add(self, item: CounterRequest) -> None:
        with self.lock:
            now = time.time()
            for key in [k for k, v in self.items.items() if now - v.created > REQUEST_TTL_SECONDS]:
                del self.items[key]
            self.items[item.id] = item

    def get(self, request_id: str) -> CounterRequest:
        with self.lock:
            item = self.items.get(request_id)
        if item is None or time.time() - item.created > REQUEST_TTL_SECONDS:
            raise Problem(
                404,
                "request-not-found",
                "核验请求不存在或已过期 / No such request",
                "核验请求不存在或已过期 / the request is unknown or has expired",
                extra={"code": "request_not_found"},
            )
        return item


def counter_key(data_dir: Path) -> Ed25519KeyPair:
    """The counter's own receipt-signing key (a did:key), kept in the data directory."""
    path = data_dir / "keys" / "counter-receipt.key"
    if path.exists():
        return Ed25519KeyPair.from_private_bytes(bytes.fromhex(path.read_text().strip()))
    pair = Ed25519KeyPair.generate()
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(pair.private_bytes().hex() + "\n")
    path.chmod(0o600)
    return pair


def _requests(request: Request) -> CounterRequests:
    store: CounterRequests = request.app.state.suixin_counter
    return store


Requests = Annotated[CounterRequests, Depends(_requests)]


class CounterRequestBody(BaseModel):
    """What the counter asks for."""

    model_config = ConfigDict(extra="forbid")
    credentialType: str = Field(description="ResidencePermit or BusinessLicense")
    fields: list[str] = Field(min_length=1, max_length=20)
    verifierName: PlainText = Field(min_length=1, max_length=100)


@router.post("/v1/oid4vp/requests", status_code=201, dependencies=[Depends(public_rate_limit)])
def create_request(body: CounterRequestBody, request: Request, store: Requests) -> dict[str, Any]:
    """Create a presentation request (OpenID4VP) with a fresh nonce; answers its QR code."""
    if body.credentialType not in CREDENTIAL_TYPES:
        raise Problem(
            422,
            "validation",
            "请求无效 / Invalid request",
            f"未知的凭证类型 / unknown credential type {body.credentialType}",
            extra={"code": "credential_type_invalid"},
        )
    base = base_url(request)
    request_id = secrets.token_urlsafe(12)
    secret = secrets.token_urlsafe(32)
    item = CounterRequest(
        id=request_id,
        nonce=secrets.token_urlsafe(24),
        credential_type=body.credentialType,
        fields=list(dict.fromkeys(body.fields)),
        verifier_name=body.verifierName,
        created=time.time(),
        response_uri=f"{base}/v1/oid4vp/requests/{request_id}/response",
        secret_sha256=hashlib.sha256(secret.encode()).digest(),
    )
    store.add(item)
    request_uri = f"{base}/v1/oid4vp/requests/{request_id}"
    link = f"{base}/wallet#request_uri=" + quote(request_uri, safe="")
    return {
        "requestId": request_id,
        # the counter's own: its result, re-check and receipt ask for it (X-Counter-Secret)
        "sessionSecret": secret,
        "requestUri": request_uri,
        "walletLink": link,
        "qrSvg": qr_svg(link),
        "request": item.request_object(),
    }


@router.get("/v1/oid4vp/requests/{request_id}")
def request_object(request_id: str, store: Requests) -> dict[str, Any]:
    """The request object a wallet fetches (by reference)."""
    item = store.get(request_id)
    return {**item.request_object(), "answered": item.report is not None}


def _verify(
    verification: VerificationService, item: CounterRequest, envelope: object, *, fresh: bool
) -> PresentationReport:
    # a counter's verdict must reflect the chain now: sync the shared index first
    with verification._lock:
        verification._sync()
        report = verify_presentation(
            verification.verifier,
            envelope,
            nonce=item.nonce,
            audience=item.client_id,
            max_age=None if not fresh else verification.verifier.policy.clock_skew,
        )
    verification.metrics.count_verification(report.verdict.value)
    return report


def _envelope(body: object) -> object:
    if isinstance(body, dict) and isinstance(body.get("vp_token"), dict):
        values = next(iter(body["vp_token"].values()), None)
        if isinstance(values, list) and values:
            return values[0]
        return values
    return body


@router.post(
    "/v1/oid4vp/requests/{request_id}/response",
    responses={
        **_CONFLICT,
        400: {"model": ProblemOut, "description": "不是对本请求的出示 / not an answer to it"},
    },
)
def answer(
    request_id: str, state: StateDep, store: Requests, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    """The wallet's answer (direct_post), or its refusal (``error=access_denied``). The
    presentation is verified first: only one whose holder signed for this request's nonce and
    audience answers it (a junk or replayed post is refused and changes nothing); one answer
    per request."""
    item = store.get(request_id)
    if item.answer is not None or item.declined:
        raise _answered()
    if isinstance(body, dict) and body.get("error") == "access_denied":
        with store.lock:
            if item.answer is not None or item.declined:
                raise _answered()
            item.declined, item.answered_at = True, time.time()
        return item.result()
    envelope = _envelope(body)
    report = _verify(state.verification, item, envelope, fresh=True)
    holder = next((c for c in report.report.checks if c.name == "holder"), None)
    if holder is None or holder.outcome is not Outcome.PASS:
        raise Problem(
            400,
            "presentation-not-for-request",
            "不是对本请求的有效出示 / Not an answer to this request",
            "出示未针对本次请求签名（随机数、核验方），或内容无法核验；请求仍然有效 / the "
            "presentation is not signed for this request (nonce, audience) or cannot be "
            "verified; the request still waits for its answer",
            # the report says what failed; nothing of an unverified answer is shown as fact
            extra={
                "code": "presentation_not_for_request",
                "report": {**report.report.to_json(), "disclosed": {}},
            },
        )
    with store.lock:
        if item.answer is not None or item.declined:
            raise _answered()
        item.answer = envelope if isinstance(envelope, dict) else {"invalid": envelope}
        item.report, item.answered_at = report, time.time()
    return item.result()


def _answered() -> Problem:
    return Problem(
        409,
        "request-answered",
        "此请求已被应答 / Already answered",
        "此核验请求已收到应答，随机数已使用，不能再次应答（重放） / this request was "
        "already answered; its nonce is used and cannot be answered again (replay)",
        extra={"code": "nonce_already_used"},
    )


def _counter_secret(
    x_counter_secret: Annotated[str | None, Header(max_length=200)] = None,
) -> str | None:
    return x_counter_secret


CounterSecret = Annotated[str | None, Depends(_counter_secret)]
_SESSION: dict[int | str, dict[str, Any]] = {
    401: {"model": ProblemOut, "description": "缺少或错误的柜台会话密钥 / not this counter's"}
}


def _own(store: CounterRequests, request_id: str, secret: str | None) -> CounterRequest:
    """The request, for the counter that made it: its session secret is asked for."""
    item = store.get(request_id)
    given = hashlib.sha256((secret or "").encode()).digest()
    if not secret or not hmac.compare_digest(given, item.secret_sha256):
        raise Problem(
            401,
            "counter-session",
            "无权查看 / Not this counter's request",
            "核验结果只给发起请求的柜台：请带上创建请求时得到的会话密钥（X-Counter-Secret） / "
            "the result belongs to the counter that asked: send the session secret it got "
            "(X-Counter-Secret)",
            extra={"code": "counter_secret_invalid"},
        )
    return item


@router.get("/v1/oid4vp/requests/{request_id}/result", responses=_SESSION)
def result(request_id: str, store: Requests, secret: CounterSecret) -> dict[str, Any]:
    """The result of a request: waiting, declined, or the verdict with every check."""
    return _own(store, request_id, secret).result()


def _not_answered() -> Problem:
    return Problem(
        409,
        "request-waiting",
        "尚未收到应答 / Not answered yet",
        "尚未收到应答 / the request has no answer yet",
        extra={"code": "not_answered"},
    )


@router.post("/v1/oid4vp/requests/{request_id}/recheck", responses={**_CONFLICT, **_SESSION})
def recheck(
    request_id: str, state: StateDep, store: Requests, secret: CounterSecret
) -> dict[str, Any]:
    """Verify the accepted answer again against the chain now (status may have changed)."""
    item = _own(store, request_id, secret)
    if item.answer is None:
        raise _not_answered()
    item.report = _verify(state.verification, item, item.answer, fresh=False)
    return item.result()


@router.post("/v1/oid4vp/requests/{request_id}/receipt", responses={**_CONFLICT, **_SESSION})
def counter_receipt(
    request_id: str, request: Request, store: Requests, secret: CounterSecret
) -> dict[str, Any]:
    """A verification receipt (核验回执) of the answer, signed by the counter's did:key."""
    item = _own(store, request_id, secret)
    if item.report is None:
        raise _not_answered()
    key: Ed25519KeyPair = request.app.state.suixin_counter_key
    return make_receipt(None, item.report.report, key, key.verification_method)


@router.get("/v1/oid4vp/requests/{request_id}/qr.svg")
def request_qr(request_id: str, request: Request, store: Requests) -> Response:
    """The request's wallet link as an SVG QR code."""
    store.get(request_id)
    base = base_url(request)
    link = f"{base}/wallet#request_uri=" + quote(f"{base}/v1/oid4vp/requests/{request_id}", safe="")
    return Response(qr_svg(link), media_type="image/svg+xml")


@router.post(
    "/v1/oid4vp/verify",
    dependencies=[Depends(public_rate_limit)],
    responses={**_CONFLICT, 404: {"model": ProblemOut, "description": "未找到 / no such request"}},
)
def verify_pasted(
    request: Request, state: StateDep, store: Requests, body: Annotated[Any, Body()]
) -> dict[str, Any]:
    """Verify a pasted or uploaded file: a bundle {credential, anchor}, or a presentation
    envelope with ``requestId`` (then it answers that request); the report and a receipt."""
    key: Ed25519KeyPair = request.app.state.suixin_counter_key
    if isinstance(body, dict) and body.get("format") == SD_JWT_FORMAT:
        request_id = body.get("requestId")
        if not isinstance(request_id, str):
            raise Problem(
                422,
                "validation",
                "缺少核验请求 / No request",
                "SD-JWT 出示须针对一个核验请求（requestId） / an SD-JWT presentation answers a "
                "request: give its requestId",
                extra={"code": "request_required"},
            )
        envelope = {k: v for k, v in body.items() if k != "requestId"}
        return answer(request_id, state, store, envelope)
    report = state.verification.verify(body)
    return {
        "report": report.to_json(),
        "receipt": make_receipt(body, report, key, key.verification_method),
        "checkedAt": datetime.now(UTC).isoformat(),
    }
