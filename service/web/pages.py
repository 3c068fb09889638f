"""The three pages (wallet, counter, office console) and the console's session-backed API.

Pages are server-rendered Jinja2 templates with small scripts from ``service/web/static`` (the
counter's page body, its script and the shared style and helpers are ``verifier/counter``'s).
The office console signs in with an API key once: the key is kept server-side in this
process's session table and the browser gets only a random session id in an ``HttpOnly``,
``SameSite=Strict`` cookie (never the key, never in a URL). Console calls go to
``/office/api/…``; they need the cookie *and* the ``X-Suixin-Console`` header (a cross-site
form cannot send it), and are forwarded to the JSON API with the session's key, so every rule of
the API (scopes, validation, audit actor ``apikey:<id>``) applies unchanged. A session ends at
sign-out, after 8 hours, or when its key is revoked (checked on every call).
"""

from __future__ import annotations

import secrets
import threading
import time
from pathlib import Path
from typing import Annotated, Any

import httpx
from fastapi import APIRouter, Body, Depends, Request
from fastapi.responses import FileResponse, HTMLResponse, JSONResponse, Response
from fastapi.templating import Jinja2Templates
from jinja2 import ChoiceLoader, Environment, FileSystemLoader, PackageLoader
from sqlalchemy import func, or_, select

from service.api.deps import OfficeDep
from service.api.errors import Problem
from service.issuing.office import AuthContext
from service.storage.models import (
    AnchorState,
    Batch,
    BatchKind,
    BatchState,
    Credential,
    QueuedCredential,
    with_membership,
)
from service.storage.wallet import SdJwtCredential
from verifier.credential import CREDENTIAL_TYPES, validate_subject

__all__ = ["COOKIE", "Sessions", "router"]

HERE = Path(__file__).parent
# the counter's page body and scripts are the verifier's (``verifier.counter``): a partner's
# standalone counter serves the same ones
templates = Jinja2Templates(
    env=Environment(
        loader=ChoiceLoader(
            [FileSystemLoader(HERE / "templates"), PackageLoader("verifier.counter", "templates")]
        ),
        autoescape=True,
    )
)
router = APIRouter(include_in_schema=False)
COOKIE = "suixin_office"
SESSION_SECONDS = 8 * 3600


class Sessions:
    """Console sessions: random id → (API key, created); in this process's memory."""

    def __init__(self) -> None:
        self._items: dict[str, tuple[str, float]] = {}
        self._lock = threading.Lock()

    def create(self, token: str) -> str:
        sid = secrets.token_urlsafe(32)
        with self._lock:
            self._items[sid] = (token, time.time())
        return sid

    def token(self, sid: str | None) -> str | None:
        if not sid:
            return None
        with self._lock:
            found = self._items.get(sid)
            if found is None:
                return None
            if time.time() - found[1] > SESSION_SECONDS:
                del self._items[sid]
                return None
            return found[0]

    def end(self, sid: str | None) -> None:
        with self._lock:
            self._items.pop(sid or "", None)


def _sessions(request: Request) -> Sessions:
    sessions: Sessions = request.app.state.suixin_sessions
    return sessions


SessionsDep = Annotated[Sessions, Depends(_sessions)]


# the wallet answers counters of other origins (a partner's standalone counter): it may connect
# to any https origin, and to loopback ones for a counter on the same machine
WALLET_CONNECT = "'self' https: http://127.0.0.1:* http://localhost:*"


def _page(request: Request, name: str, connect: str = "'self'", **context: Any) -> HTMLResponse:
    response = templates.TemplateResponse(request, name, context)
    response.headers["Content-Security-Policy"] = (
        "default-src 'self'; img-src 'self' data:; style-src 'self'; script-src 'self'; "
        f"connect-src {connect}; frame-ancestors 'none'"
    )
    response.headers["Referrer-Policy"] = "no-referrer"
    return response


@router.get("/wallet", response_class=HTMLResponse)
def wallet_page(request: Request) -> HTMLResponse:
    """The citizen wallet."""
    return _page(request, "wallet.html", connect=WALLET_CONNECT, page="wallet")


# the wallet's QR decoder where the browser has no BarcodeDetector: the npm package ``jsqr``
# (pinned in package.json), served from node_modules, never copied into the repository
JSQR = HERE.parents[1] / "node_modules" / "jsqr" / "dist" / "jsQR.js"


@router.get("/vendor/jsqr.js")
def jsqr_script() -> Response:
    """jsQR 1.4.0 (Apache-2.0) when installed; 404 otherwise (the wallet then says it cannot
    scan, and the holder pastes the link)."""
    if not JSQR.is_file():
        return Response(
            "jsqr is not installed (npm install)", status_code=404, media_type="text/plain"
        )
    return FileResponse(
        JSQR,
        media_type="text/javascript; charset=utf-8",
        headers={"Cache-Control": "max-age=86400"},
    )


@router.get("/counter", response_class=HTMLResponse)
def counter_page(request: Request) -> HTMLResponse:
    """The counter (partner-city staff)."""
    return _page(request, "counter.html", page="counter", types=CREDENTIAL_TYPES)


@router.get("/office", response_class=HTMLResponse)
def office_page(request: Request, office: OfficeDep, sessions: SessionsDep) -> HTMLResponse:
    """The office console (login first)."""
    caller = _caller(request, office, sessions, required=False)
    authority = office.authority(caller.authority_id) if caller else None
    return _page(
        request,
        "office.html",
        page="office",
        signed_in=caller is not None,
        authority=authority,
        scopes=sorted(caller.scopes) if caller else [],
    )


# --------------------------------------------------------------------------- session


def _caller(
    request: Request, office: OfficeDep, sessions: Sessions, *, required: bool = True
) -> AuthContext | None:
    token = sessions.token(request.cookies.get(COOKIE))
    caller = office.authenticate(token) if token else None
    if caller is None and required:
        raise Problem(
            401,
            "unauthorized",
            "未登录 / Not signed in",
            "请先用 API 密钥登录办公控制台 / sign in to the office console with an API key",
            extra={"code": "not_signed_in"},
        )
    return caller


def _console(request: Request) -> None:
    if request.headers.get("x-suixin-console") != "1":
        raise Problem(
            403,
            "forbidden",
            "禁止 / Forbidden",
            "控制台请求缺少 X-Suixin-Console 头 / console calls need the X-Suixin-Console header",
            extra={"code": "console_header_missing"},
        )


@router.post("/office/login", dependencies=[Depends(_console)])
def login(
    request: Request,
    office: OfficeDep,
    sessions: SessionsDep,
    body: Annotated[dict[str, Any], Body()],
) -> JSONResponse:
    """Sign in with an API key; answers the authority and sets the session cookie."""
    token = str(body.get("apiKey", "")).strip()
    caller = office.authenticate(token) if token else None
    if caller is None:
        raise Problem(
            401,
            "unauthorized",
            "登录失败 / Sign-in failed",
            "API 密钥无效或已吊销 / the API key is unknown, malformed or revoked",
            extra={"code": "api_key_invalid"},
        )
    authority = office.authority(caller.authority_id)
    response = JSONResponse({"authority": authority.did, "scopes": sorted(caller.scopes)})
    response.set_cookie(
        COOKIE,
        sessions.create(token),
        httponly=True,
        samesite="strict",
        secure=request.url.scheme == "https",  # behind TLS the cookie never travels in clear
        max_age=SESSION_SECONDS,
        path="/office",
    )
    return response


@router.post("/office/logout", dependencies=[Depends(_console)])
def logout(request: Request, sessions: SessionsDep) -> Response:
    """Sign out: the session ends and its cookie is cleared."""
    sessions.end(request.cookies.get(COOKIE))
    response = Response(status_code=204)
    response.delete_cookie(COOKIE, path="/office")
    return response


# --------------------------------------------------------------------------- console API


@router.post("/office/api/validate", dependencies=[Depends(_console)])
def validate(
    request: Request,
    office: OfficeDep,
    sessions: SessionsDep,
    body: Annotated[dict[str, Any], Body()],
) -> dict[str, Any]:
    """Field errors of a draft subject (ID check digit, USCC, region…), nothing stored."""
    caller = _caller(request, office, sessions)
    assert caller is not None
    kind = body.get("type")
    if kind not in CREDENTIAL_TYPES:
        raise Problem(
            422,
            "validation",
            "类型无效 / Invalid type",
            f"未知的凭证类型 / unknown credential type {kind}",
            extra={"code": "credential_type_invalid"},
        )
    region = office.authority(caller.authority_id).region
    errors = validate_subject(str(kind), body.get("subject"), authority_region=region)
    return {"errors": [{"path": e.path, "code": e.code, "zh": e.zh, "en": e.en} for e in errors]}


@router.get("/office/api/credentials", dependencies=[Depends(_console)])
def list_credentials(
    request: Request, office: OfficeDep, sessions: SessionsDep, q: str = "", limit: int = 50
) -> dict[str, Any]:
    """The authority's credentials, newest first; ``q`` matches the id or the holder's name."""
    caller = _caller(request, office, sessions)
    assert caller is not None
    with office.db.session() as s:
        query = with_membership(select(Credential, Batch.state)).where(
            Credential.authority_id == caller.authority_id
        )
        if q.strip():
            needle = f"%{q.strip()}%"
            query = query.where(
                or_(Credential.id.like(needle), Credential.subject_name.like(needle))
            )
        rows = s.execute(query.order_by(Credential.seq.desc()).limit(min(limit, 200))).all()
    return {
        "items": [
            {
                "id": r.id,
                "type": r.credential_type,
                "name": r.subject_name,
                "status": r.status,
                "anchorState": AnchorState.of(batch_state),
                "version": r.version,
                "createdAt": r.created_at.isoformat(),
            }
            for r, batch_state in rows
        ]
    }


@router.get("/office/api/anchoring", dependencies=[Depends(_console)])
def anchoring(request: Request, office: OfficeDep, sessions: SessionsDep) -> dict[str, Any]:
    """The anchoring queue (credentials and SD-JWTs) and recent anchors with transactions."""
    caller = _caller(request, office, sessions)
    assert caller is not None
    aid = caller.authority_id
    with office.db.session() as s:
        waiting = s.scalar(
            select(func.count())
            .select_from(QueuedCredential)
            .where(QueuedCredential.authority_id == aid, QueuedCredential.batch_id.is_(None))
        )
        by_batch = s.execute(
            select(Batch.state, func.coalesce(func.sum(Batch.size), 0))
            .where(Batch.authority_id == aid, Batch.kind == BatchKind.CREDENTIAL)
            .group_by(Batch.state)
        ).all()
        sd_waiting = s.scalar(
            select(func.count())
            .select_from(SdJwtCredential)
            .where(SdJwtCredential.authority_id == aid, SdJwtCredential.batch_id.is_(None))
        )
        sd_unfinal = s.scalar(
            select(func.coalesce(func.sum(Batch.size), 0)).where(
                Batch.authority_id == aid,
                Batch.kind == BatchKind.SDJWT,
                Batch.state != BatchState.ANCHORED,
            )
        )
        batches = s.scalars(
            select(Batch)
            .where(Batch.authority_id == aid, Batch.kind == BatchKind.CREDENTIAL)
            .order_by(Batch.id.desc())
            .limit(20)
        ).all()
    queued = {AnchorState.PENDING: int(waiting or 0)} if waiting else {}
    for state, n in by_batch:
        if n:
            queued[AnchorState.of(state)] = queued.get(AnchorState.of(state), 0) + int(n)
    return {
        "credentials": queued,
        "sdJwtPending": int(sd_waiting or 0) + int(sd_unfinal or 0),
        "batches": [
            {
                "id": b.id,
                "root": "0x" + bytes(b.root).hex(),
                "size": b.size,
                "state": b.state,
                "block": b.block_number,
                "tx": b.tx_hash,
                "anchoredAt": b.anchored_at.isoformat() if b.anchored_at else None,
            }
            for b in batches
        ],
    }


_FORWARDED = ("credentials", "audit")


@router.api_route(
    "/office/api/v1/{path:path}", methods=["GET", "POST"], dependencies=[Depends(_console)]
)
async def forward(
    path: str, request: Request, office: OfficeDep, sessions: SessionsDep
) -> Response:
    """Forward a console call to the JSON API with the session's key."""
    token = sessions.token(request.cookies.get(COOKIE))
    if token is None or office.authenticate(token) is None:
        _caller(request, office, sessions)
    if path.split("/", 1)[0] not in _FORWARDED:
        raise Problem(
            404,
            "not-found",
            "不存在 / Not found",
            f"控制台不转发 /v1/{path} / the console does not forward /v1/{path}",
        )
    transport = httpx.ASGITransport(app=request.app)
    async with httpx.AsyncClient(transport=transport, base_url=str(request.base_url)) as client:
        inner = await client.request(
            request.method,
            f"/v1/{path}",
            params=dict(request.query_params),
            content=await request.body(),
            headers={
                "Authorization": f"Bearer {token}",
                "Content-Type": request.headers.get("content-type", "application/json"),
                "Idempotency-Key": request.headers.get("idempotency-key", "")
                or secrets.token_hex(8),
            },
        )
    return Response(
        inner.content,
        status_code=inner.status_code,
        media_type=inner.headers.get("content-type"),
    )
