"""A partner's own counter: the counter page and the OpenID4VP endpoints, nothing else.

``suixin-verify counter --office URL | --rpc URL --registry ADDR | --snapshot FILE`` serves it.
It needs no issuing office, no database of credentials and no issuer keys: it verifies with a
``Verifier`` (the chain, or an offline snapshot) and signs receipts with its own did:key. Its
paths are the office's (``/counter``, ``/v1/oid4vp/…``), so the same page script runs on both;
the request object and the response endpoint answer any origin (CORS), because the holder's
wallet is a page of another origin (the issuing office's).

A ``direct_post`` answer may be JSON or form-encoded (OpenID4VP 1.0: ``vp_token`` a JSON object
keyed by the DCQL query id, ``state``); ``error=access_denied`` is the holder declining.
"""

from __future__ import annotations

import threading
import time
from collections.abc import Awaitable, Callable
from typing import Annotated, Any

from fastapi import FastAPI, Header, Request
from fastapi.concurrency import run_in_threadpool
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import HTMLResponse, JSONResponse, RedirectResponse, Response
from fastapi.staticfiles import StaticFiles
from fastapi.templating import Jinja2Templates
from jinja2 import Environment, PackageLoader
from pydantic import BaseModel, ConfigDict, Field, ValidationError

from verifier.counter.core import (
    MAX_BODY_BYTES,
    REQUEST_OBJECT_MEDIA_TYPE,
    Counter,
    CounterError,
    parse_answer,
)
from verifier.keys import Ed25519KeyPair
from verifier.sdjwt import PresentationReport, verify_presentation
from verifier.status_tokens import StatusListSource
from verifier.trust_list import accredited_identity
from verifier.verify import Verifier

__all__ = ["MAX_BODY_BYTES", "create_counter_app"]

PROBLEM = "application/problem+json"
# the counter session's secret, which the result, a re-check and a receipt ask for
Secret = Annotated[str | None, Header(alias="X-Counter-Secret", max_length=200)]

_templates = Jinja2Templates(
    env=Environment(loader=PackageLoader("verifier.counter", "templates"), autoescape=True)
)


class _RequestBody(BaseModel):
    model_config = ConfigDict(extra="forbid")
    credentialType: str = Field(max_length=64)
    fields: list[Annotated[str, Field(max_length=64)]] = Field(min_length=1, max_length=20)
    verifierName: str = Field(min_length=1, max_length=100)
    purpose: str = Field("", max_length=200)


def _problem(status: int, slug: str, title: str, detail: str, **extra: Any) -> JSONResponse:
    body = {"type": f"urn:suixin:problem:{slug}", "title": title, "status": status, **extra}
    body["detail"] = detail
    return JSONResponse(body, status_code=status, media_type=PROBLEM)


def _of(e: CounterError) -> JSONResponse:
    return _problem(e.status, e.slug, e.title, e.detail, **e.extra)


def _too_large() -> CounterError:
    return CounterError(
        413,
        "body-too-large",
        "请求体过大 / Body too large",
        f"请求体超过 {MAX_BODY_BYTES} 字节，未读取 / the body is larger than {MAX_BODY_BYTES} "
        "bytes; it was not read",
        "body_too_large",
    )


async def _body(request: Request) -> bytes:
    """The body, read only up to ``MAX_BODY_BYTES`` (a declared or streamed excess is a 413
    before the rest is read)."""
    declared = request.headers.get("content-length", "")
    if declared.isdigit() and int(declared) > MAX_BODY_BYTES:
        raise _too_large()
    chunks, size = [], 0
    async for chunk in request.stream():
        size += len(chunk)
        if size > MAX_BODY_BYTES:
            raise _too_large()
        chunks.append(chunk)
    return b"".join(chunks)


def create_counter_app(
    verifier: Verifier,
    key: Ed25519KeyPair,
    *,
    name: str = "核验窗口",
    wallet_url: str | None = None,
    status_lists: StatusListSource | None = None,
) -> FastAPI:
    """The standalone counter over ``verifier`` (synced before each answer when online),
    receipts signed with ``key``; QR codes open ``wallet_url`` (default: this origin's
    ``/wallet``, which a standalone counter does not serve: give the issuing office's). An
    SD-JWT's status comes from its Status List Token, got from ``status_lists`` (online: a
    ``FetchedLists``) or, without one, from the snapshot's documents.

    If ``key`` is, when the app is made, a valid registered key of an active authority on the
    TrustRegistry, the counter asks in that authority's name (``client_id`` its DID, ``kid``
    the key); otherwise as the key's own did:key."""
    lock = threading.Lock()
    if verifier.chain is not None:  # online: the registry now (a snapshot is as it is);
        verifier.index.sync(verifier.chain)  # the verifier still syncs when it is due
    now = max(int(time.time()), verifier.index.synced_block_time)  # a chain may run ahead
    identity = accredited_identity(verifier.index, key.public_bytes, now)
    authority = verifier.index.authority(identity[0]) if identity else None

    def check(envelope: object, nonce: str, audience: str, fresh: bool) -> PresentationReport:
        with lock:  # the index is one, shared by every request
            verifier.refresh(force=True)  # a counter's verdict reflects the chain now
            return verify_presentation(
                verifier,
                envelope,
                nonce=nonce,
                audience=audience,
                max_age=verifier.policy.clock_skew if fresh else None,
                status_lists=status_lists,
            )

    def verify_bundle(bundle: object) -> Any:
        with lock:
            return verifier.verify(bundle)

    counter = Counter(
        check,
        key,
        wallet_url=(lambda _base: wallet_url) if wallet_url else None,
        identity=identity,
    )
    app = FastAPI(title=f"{name} — Suixin counter", docs_url=None, redoc_url=None)
    app.state.counter = counter
    app.add_middleware(
        CORSMiddleware,
        allow_origins=["*"],
        allow_methods=["GET", "POST"],
        allow_headers=["Content-Type", "Accept"],
    )
    app.mount("/static", StaticFiles(packages=[("verifier.counter", "static")]), name="static")

    @app.exception_handler(CounterError)
    async def counter_error(_request: Request, e: CounterError) -> JSONResponse:
        return _of(e)

    @app.exception_handler(RequestValidationError)
    async def invalid(_request: Request, e: RequestValidationError) -> JSONResponse:
        where = "; ".join(".".join(str(p) for p in err["loc"]) for err in e.errors()[:5])
        return _problem(
            422, "validation", "请求无效 / Invalid request", f"请求无效 / invalid: {where}",
            code="request_invalid",
        )  # fmt: skip

    async def body_of(request: Request) -> Any:
        return parse_answer(await _body(request), request.headers.get("content-type", ""))

    def base(request: Request) -> str:
        return str(request.base_url).rstrip("/")

    @app.middleware("http")
    async def headers(
        request: Request, call_next: Callable[[Request], Awaitable[Response]]
    ) -> Response:
        response = await call_next(request)
        response.headers.setdefault("X-Content-Type-Options", "nosniff")
        response.headers.setdefault("Referrer-Policy", "no-referrer")
        return response

    @app.get("/", include_in_schema=False)
    def home() -> RedirectResponse:
        return RedirectResponse("/counter")

    @app.get("/counter", response_class=HTMLResponse)
    def page(request: Request) -> HTMLResponse:
        """The counter page."""
        response = _templates.TemplateResponse(
            request, "counter_page.html", {"name": name, "did": key.did, "authority": authority}
        )
        response.headers["Content-Security-Policy"] = (
            "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
            "connect-src 'self'; frame-ancestors 'none'"
        )
        return response

    @app.get("/healthz")
    def healthz() -> dict[str, Any]:
        """Alive; the counter's did:key and the trust source it verifies against."""
        trust = verifier.trust_source()
        return {
            "ok": True,
            "did": key.did,
            "clientId": counter.client_id,
            "trust": trust.to_json(),
        }

    @app.post("/v1/oid4vp/requests", status_code=201)
    async def create(request: Request) -> dict[str, Any]:
        """A new request with a fresh nonce: its QR code and the session secret."""
        try:  # read here, bounded, not by the framework (see verifier.interop.json_too_deep)
            body = _RequestBody.model_validate(await body_of(request))
        except ValidationError as e:
            raise RequestValidationError(e.errors()) from e
        return counter.create(
            base(request), body.credentialType, body.fields, body.verifierName, body.purpose
        )

    @app.get("/v1/oid4vp/requests/{request_id}")
    def request_object(request_id: str, request: Request) -> Any:
        """The request object a wallet fetches (by reference): signed JWT or JSON."""
        if REQUEST_OBJECT_MEDIA_TYPE in request.headers.get("accept", ""):
            return Response(
                counter.signed_request_object(request_id), media_type=REQUEST_OBJECT_MEDIA_TYPE
            )
        return counter.request_object(request_id)

    @app.post("/v1/oid4vp/requests/{request_id}/response")
    async def response(request_id: str, request: Request) -> JSONResponse:
        """The wallet's answer (direct_post, JSON or form) or its refusal."""
        body = await body_of(request)
        answered = await run_in_threadpool(counter.answer, request_id, body)
        return JSONResponse(answered, headers={"Cache-Control": "no-store"})

    @app.get("/v1/oid4vp/requests/{request_id}/result")
    def result(request_id: str, secret: Secret = None) -> dict[str, Any]:
        """Waiting, declined, or the verdict: for the counter that asked."""
        return counter.result(request_id, secret)

    @app.post("/v1/oid4vp/requests/{request_id}/recheck")
    def recheck(request_id: str, secret: Secret = None) -> dict[str, Any]:
        """The accepted answer verified again against the chain now."""
        return counter.recheck(request_id, secret)

    @app.post("/v1/oid4vp/requests/{request_id}/receipt")
    def receipt(request_id: str, secret: Secret = None) -> dict[str, Any]:
        """A receipt of the answer signed by this counter's did:key."""
        return counter.receipt(request_id, secret)

    @app.get("/v1/oid4vp/requests/{request_id}/qr.svg")
    def qr(request_id: str, request: Request) -> Response:
        """The request's wallet link as an SVG QR code."""
        return Response(counter.qr(base(request), request_id), media_type="image/svg+xml")

    @app.post("/v1/oid4vp/verify")
    async def pasted(request: Request) -> dict[str, Any]:
        """A pasted bundle or presentation file."""
        body = await body_of(request)
        return counter.verify_pasted(body, verify_bundle)

    return app
