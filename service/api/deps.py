"""Typed dependencies of the routes: the office, the caller behind an API key, scopes, limits.

Access rules (the same for every route):

- **401** — no API key, an unknown or malformed key, or a revoked one (``Authorization: Bearer
  <key>`` or ``X-API-Key: <key>``).
- **403** — a valid key without the scope the route needs (``issue:<Type>`` to issue a type,
  ``admin`` for API keys), a key whose authority is not accredited for the type, or a request
  that names another authority as the actor (an ``issuer`` in ``/credentials/issue``).
- **404** — a credential or API key that does not exist *or belongs to another authority*: a
  key of authority A never learns whether B's records exist.
"""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Annotated

from anyio import CapacityLimiter
from fastapi import Depends, Header, Request
from fastapi.security import APIKeyHeader, HTTPAuthorizationCredentials, HTTPBearer
from starlette.concurrency import run_in_threadpool

from service.anchoring.worker import AnchorWorker
from service.api.errors import Problem
from service.api.metrics import Metrics
from service.api.ratelimit import RATE_TAKEN, TokenBuckets
from service.api.verification import VerificationService
from service.config import Settings
from service.issuing.conformance import ConformanceIssuer
from service.issuing.group_commit import GroupCommit
from service.issuing.office import AuthContext, Office, PendingIssue

__all__ = [
    "AdminCaller",
    "ApiState",
    "Caller",
    "IdempotencyKey",
    "OfficeDep",
    "StateDep",
    "public_rate_limit",
    "require_issue_scopes",
    "require_scope",
]


@dataclass
class ApiState:
    """What the routes share: the office, settings, verifier, limiter, metrics, worker."""

    office: Office
    settings: Settings
    metrics: Metrics
    verification: VerificationService
    limiter: TokenBuckets
    worker: AnchorWorker | None = None
    worker_thread: threading.Thread | None = field(default=None, repr=False)
    # the W3C test suites' unaccredited issuer, when SUIXIN_CONFORMANCE_ISSUER is on
    conformance: ConformanceIssuer | None = None
    # one issue's credential stored with those of concurrent requests (while the app runs)
    commits: GroupCommit[PendingIssue] | None = None
    _issue_limiter: CapacityLimiter | None = field(default=None, repr=False)
    # the API keys being read from the database now, by the token presented (``authenticated``)
    _key_reads: dict[str, asyncio.Future[AuthContext | None]] = field(
        default_factory=dict, repr=False
    )

    @property
    def issue_limiter(self) -> CapacityLimiter:
        """The threads that requests issuing one credential run on (``SUIXIN_ISSUE_THREADS``);
        made on first use, inside the event loop."""
        if self._issue_limiter is None:
            self._issue_limiter = CapacityLimiter(self.settings.issue_threads)
        return self._issue_limiter

    async def authenticated(self, token: str) -> AuthContext | None:
        """The caller behind ``token`` (``Office.authenticate``): from memory when its key was
        read within the last second (``Office.authenticate_cached``), else from the database
        on a thread, once for every request that presents the same token meanwhile.

        When the cached key expires under load, every request in flight used to read it
        again, each on a thread of its own: 64 concurrent issues after a pause of a second
        took 200-245 ms instead of 35-50 (scripts/bench_issue.py, anvil + PostgreSQL). The
        answer is the one read's, as it would be each one's: the same token, the same row.
        An error of the read is each waiter's."""
        caller = self.office.authenticate_cached(token)
        if caller is not None:
            return caller
        loop = asyncio.get_running_loop()
        read = self._key_reads.get(token)
        if read is None or read.get_loop() is not loop:
            read = loop.create_task(run_in_threadpool(self.office.authenticate, token))
            self._key_reads[token] = read

            def finished(done: asyncio.Future[AuthContext | None]) -> None:
                if self._key_reads.get(token) is done:
                    del self._key_reads[token]
                if not done.cancelled():
                    done.exception()  # retrieved, though every waiter may have gone

            read.add_done_callback(finished)
        # one waiter's cancellation (its client went away) is not the read's
        return await asyncio.shield(read)

    @property
    def worker_up(self) -> bool | None:
        """Whether the in-process worker runs (None when this process has none)."""
        if self.worker_thread is None:
            return None
        return self.worker_thread.is_alive()


# Cheap dependencies are ``async``: FastAPI runs sync ones in its thread pool, a hop that costs
# more than they do. Dependencies and routes that touch the database or the chain stay sync.


async def _state(request: Request) -> ApiState:
    state: ApiState = request.app.state.suixin
    return state


StateDep = Annotated[ApiState, Depends(_state)]


async def _office(state: StateDep) -> Office:
    return state.office


OfficeDep = Annotated[Office, Depends(_office)]

_bearer = HTTPBearer(auto_error=False, description="An office API key: `Bearer sx_…`")
_api_key_header = APIKeyHeader(
    name="X-API-Key", auto_error=False, description="An office API key (alternative header)"
)


def _unauthorized(detail: str) -> Problem:
    return Problem(
        401,
        "unauthorized",
        "未认证 / Unauthorized",
        detail,
        headers={"WWW-Authenticate": 'Bearer realm="suixin"'},
    )


async def _authenticate(
    state: StateDep,
    bearer: Annotated[HTTPAuthorizationCredentials | None, Depends(_bearer)],
    api_key: Annotated[str | None, Depends(_api_key_header)],
) -> AuthContext:
    token = bearer.credentials if bearer is not None else api_key
    if not token:
        raise _unauthorized(
            "缺少 API 密钥：请在 Authorization: Bearer <key> 或 X-API-Key 中提供 / "
            "an API key is required (Authorization: Bearer <key> or X-API-Key)"
        )
    # A key checked within the last second answers from memory, on the event loop; otherwise
    # the database is read in the thread pool (it must not block the loop), once for the
    # concurrent requests with the same key.
    caller = await state.authenticated(token.strip())
    if caller is None:
        raise _unauthorized("API 密钥无效或已吊销 / the API key is unknown, malformed or revoked")
    return caller


Caller = Annotated[AuthContext, Depends(_authenticate)]


def require_scope(caller: AuthContext, scope: str) -> None:
    """Raise a 403 problem unless the caller's key holds ``scope``."""
    if scope not in caller.scopes:
        raise Problem(
            403,
            "forbidden",
            "无权操作 / Forbidden",
            f"该 API 密钥没有 {scope} 权限 / this API key lacks the scope {scope}",
            extra={"requiredScope": scope},
        )


def require_issue_scopes(caller: AuthContext, types: Iterable[str]) -> None:
    """Raise a 403 problem unless the caller may issue every type (``issue:<Type>``)."""
    for credential_type in sorted(set(types)):
        require_scope(caller, f"issue:{credential_type}")


async def _admin(caller: Caller) -> AuthContext:
    require_scope(caller, "admin")
    return caller


AdminCaller = Annotated[AuthContext, Depends(_admin)]

IdempotencyKey = Annotated[
    str | None,
    Header(
        alias="Idempotency-Key",
        min_length=1,
        max_length=200,
        description="Retry-safe issuance: a retry with the same key and body returns the "
        "first credential (200); the same key with another body is a 409.",
    ),
]


async def _is_partner(request: Request, state: ApiState, client: str) -> bool:
    """A partner host (``SUIXIN_PARTNER_NETWORKS``) or a caller with a valid API key."""
    if state.settings.is_partner(client):
        return True
    header = request.headers.get("authorization", "")
    scheme, _, token = header.partition(" ")
    token = token.strip() if scheme.lower() == "bearer" else ""
    token = token or request.headers.get("x-api-key", "").strip()
    if not token:
        return False
    return await state.authenticated(token) is not None


async def public_rate_limit(request: Request, state: StateDep) -> None:
    """Limit public endpoints per client address; raises a 429 problem. Partner hosts
    (``SUIXIN_PARTNER_NETWORKS``) and callers with a valid API key of this office are not
    limited: a partner city's counters share one address, and a key already names them."""
    if request.scope.get(RATE_TAKEN):
        return  # the fast lane took this request's token, then handed it on
    client = request.client.host if request.client is not None else "unknown"
    if await _is_partner(request, state, client):
        return
    wait = state.limiter.take(client)
    if wait > 0:
        seconds = max(1, int(wait + 0.999))
        raise Problem(
            429,
            "rate-limited",
            "请求过于频繁 / Too many requests",
            f"请 {seconds} 秒后再试 / retry in {seconds} s "
            f"(limit {state.settings.public_rate_per_minute} per minute per client)",
            headers={"Retry-After": str(seconds)},
        )
