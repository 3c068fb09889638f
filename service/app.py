"""The office's web application: the HTTP API (``service.api``) and the pages (``service.web``)
in one FastAPI app, with error handling and (optionally) the anchoring worker."""

from __future__ import annotations

import logging
import threading
from collections.abc import AsyncIterator
from contextlib import asynccontextmanager
from datetime import timedelta

from fastapi import FastAPI
from fastapi.routing import APIRoute, APIRouter

from service.api.deps import ApiState
from service.api.errors import install_error_handlers
from service.api.guard import RequestGuard
from service.api.metrics import Metrics
from service.api.openapi import install_openapi
from service.api.ratelimit import TokenBuckets
from service.api.routes import (
    apikeys,
    audit,
    credentials,
    definitions,
    deployment,
    dids,
    grants,
    health,
    lifecycle,
    presentations,
    receipts,
    residence_years,
    status_lists,
    vc,
    verify,
)
from service.api.verification import REGISTRY_INDEX_NAME, VerificationService
from service.config import Settings
from service.issuing.conformance import ConformanceIssuer
from service.issuing.group_commit import GroupCommit
from service.issuing.office import Office, PendingIssue
from service.issuing.signing_pool import SigningPool
from service.runtime import worker_from_settings
from service.web import install_web
from verifier.policy import Policy

__all__ = ["create_app"]

log = logging.getLogger("suixin.api")

DESCRIPTION = """\
穗信签发服务 — the issuing office of Suixin: signs 居住证 (ResidencePermit) and 营业执照
(BusinessLicense) credentials at once and anchors them on chain in Merkle batches, and derives
居住年限证明 (ResidenceYears) from permits.

**Access.** Office routes take an API key (`Authorization: Bearer sx_…` or `X-API-Key`).
401: no, unknown or revoked key. 403: the key lacks the route's scope (`issue:<Type>`,
`admin`), its authority is not accredited for the type, or the request names another
authority as issuer. 404: the credential or key does not exist *or belongs to another
authority*. Verification (`/v1/verify`, `/credentials/verify`) is public and rate-limited.

**Errors** are RFC 9457 problem details (`application/problem+json`) with a stable `code`
and a `detail` in 中文 and English; validation problems list `errors: [{path, code, zh, en}]`.
Request bodies are limited to 256 KiB (`POST /v1/credentials/batch`: 16 MiB): 413 beyond.
"""


def _summaries_from_docstrings(router: APIRouter) -> APIRouter:
    """Each route's one-line docstring becomes its OpenAPI summary (set on the router before
    it is included: the application keeps included routers wrapped)."""
    for route in router.routes:
        if isinstance(route, APIRoute) and route.summary is None and route.endpoint.__doc__:
            route.summary = route.endpoint.__doc__.strip().splitlines()[0]
    return router


def create_app(office: Office, settings: Settings, *, start_worker: bool) -> FastAPI:
    """The API over ``office``; with ``start_worker`` an anchoring worker thread runs while
    the app does (started by the lifespan, stopped at shutdown)."""
    metrics = Metrics()
    policy = Policy(
        chain_id=office.chain.chain_id,
        anchor_registry=office.deployment.anchor_registry,
        pending_grace=timedelta(minutes=settings.pending_grace_minutes),
        sync_interval=timedelta(seconds=settings.verify_sync_seconds),
    )
    state = ApiState(
        office=office,
        settings=settings,
        metrics=metrics,
        verification=VerificationService(
            office, policy, metrics, cache_path=settings.data_dir / REGISTRY_INDEX_NAME
        ),
        limiter=TokenBuckets(settings.public_rate_per_minute),
        conformance=ConformanceIssuer(settings.data_dir) if settings.conformance_issuer else None,
    )

    @asynccontextmanager
    async def lifespan(_app: FastAPI) -> AsyncIterator[None]:
        stop = threading.Event()
        # the registry index, refreshed off the request path (service.api.verification)
        syncer = threading.Thread(
            target=state.verification.run_sync,
            args=(stop,),
            name="suixin-registry-sync",
            daemon=True,
        )
        syncer.start()
        # the credentials whose status changed lately, read ahead of the requests that ask
        recent = threading.Thread(
            target=state.verification.run_recent,
            args=(stop,),
            name="suixin-recent-changes",
            daemon=True,
        )
        recent.start()
        # checks, signs and stores POST /v1/credentials's issues (service.api.issuing)
        state.commits = GroupCommit(office.store_issued, name="issue", storable=_is_pending).start()
        if settings.signing_processes and office.signing_pool is None:
            office.signing_pool = SigningPool(settings.signing_processes)
        if start_worker:
            worker = worker_from_settings(office, settings, log=log.info, pace=settings.worker_pace)
            thread = threading.Thread(
                target=worker.run, args=(stop,), name="suixin-anchor-worker", daemon=True
            )
            state.worker, state.worker_thread = worker, thread
            thread.start()
        try:
            yield
        finally:
            commits, state.commits = state.commits, None
            if commits is not None:
                commits.close()  # what was submitted is stored (and answered) first
            stop.set()
            syncer.join(timeout=30)  # a sync in progress ends at its RPC timeout at worst
            recent.join(timeout=30)
            if state.worker_thread is not None:
                state.worker_thread.join(timeout=30)
            if office.signing_pool is not None:
                office.signing_pool.close()
                office.signing_pool = None

    app = FastAPI(
        title="Suixin 穗信 — issuing office",
        version="0.1.0",
        description=DESCRIPTION,
        lifespan=lifespan,
        docs_url=None,  # service.web.api_docs serves both pages with their scripts
        redoc_url=None,
    )
    app.state.suixin = state
    install_error_handlers(app)
    for module in (
        credentials,
        lifecycle,
        residence_years,
        verify,
        deployment,
        definitions,
        receipts,
        vc,
        presentations,
        dids,
        status_lists,
        apikeys,
        audit,
        grants,
        health,
    ):
        app.include_router(_summaries_from_docstrings(module.router))
    install_web(app, settings)  # /wallet, /counter, /office and the OpenID4VCI/VP endpoints
    # the errors every route shares, in their real shape, and each route's body limit
    install_openapi(
        app, max_body=settings.max_body_bytes, max_batch_body=settings.max_batch_body_bytes
    )
    # outermost: bodies are bounded and readable before any route (or other middleware) runs
    app.add_middleware(
        RequestGuard,
        max_body=settings.max_body_bytes,
        max_batch_body=settings.max_batch_body_bytes,
        fast_lanes={
            ("POST", "/v1/verify"): verify.fast_lane(state),
            ("POST", "/v1/credentials"): credentials.fast_lane(state),
        },
    )
    return app


def _is_pending(prepared: object) -> bool:
    """Whether an issue's preparation is to be stored (not a retried idempotency key's)."""
    return isinstance(prepared, PendingIssue)


def app_from_environment() -> FastAPI:
    """The API for one of several server processes (``suixin serve --workers N``): the office
    from ``SUIXIN_*`` settings, already deployed; anchoring runs in its own process."""
    from service.runtime import configure_logging, open_office, settle_heap

    configure_logging()
    settings = Settings(**{})  # every value from SUIXIN_* variables
    office = open_office(settings, allow_deploy=False)
    app = create_app(office, settings, start_worker=False)
    settle_heap()
    return app
