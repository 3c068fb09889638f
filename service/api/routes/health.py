"""Operations: ``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.anchoring.supervision import worker_health
from service.api.deps import ApiState, StateDep
from service.api.errors import Problem
from service.api.metrics import CONTENT_TYPE
from service.api.models import ProblemOut
from verifier.errors import ChainError, ChainMismatch

router = APIRouter(tags=["operations"])


@router.get("/healthz", description="The process answers; it checks nothing else.")
def healthz() -> dict[str, str]:
    """Liveness: 200 while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"model": ProblemOut, "description": "Database, chain or worker down"}},
    description=(
        "Runs `SELECT 1` on the database, checks that the chain node serves the deployment's "
        "chain (its id and the block that deployed the registries) and reads its newest block, "
        "and checks the anchoring worker: its thread in this process, or the heartbeat of "
        "one in another process (down when stale, unready when its passes have failed for "
        "longer than SUIXIN_WORKER_FAILURE_SECONDS). 503 names what failed."
    ),
)
def readyz(state: StateDep) -> JSONResponse:
    """Readiness: database and chain reachable."""
    checks: dict[str, str] = {}
    failed: list[str] = []
    try:
        with state.office.db.engine.connect() as connection:
            connection.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except SQLAlchemyError as e:
        checks["database"] = f"unreachable ({type(e).__name__})"
        failed.append("database")
    try:
        state.office.check_chain(fresh=True)
        checks["chain"] = f"ok (block {state.office.chain.block_number()})"
    except ChainMismatch as e:
        checks["chain"] = f"mismatch: {e.problem} (expected {e.expected}, found {e.found})"
        failed.append("chain")
    except ChainError as e:
        checks["chain"] = f"unreachable ({type(e).__name__})"
        failed.append("chain")
    worker = _worker_check(state)
    if worker is not None:
        checks["worker"] = worker
        if worker != "ok":
            failed.append("worker")
    if failed:
        raise Problem(
            503,
            "not-ready",
            "服务未就绪 / Not ready",
            f"{', '.join(failed)} 不可用 / {', '.join(failed)} unavailable",
            extra={"checks": checks},
        )
    return JSONResponse({"status": "ready", "checks": checks})


def _worker_check(state: ApiState) -> str | None:
    """The anchoring worker's state for ``/readyz``: "ok", what is wrong, or None when this
    office has no worker to look at (none in this process, none ever seen in the database)."""
    if state.worker_up is False:
        return "stopped"
    try:
        health = worker_health(state.office.db, stale_seconds=state.settings.worker_stale_seconds)
    except SQLAlchemyError:
        return None if state.worker_up is None else "ok"  # the database check says it
    if not health.seen:
        return None if state.worker_up is None else "ok"
    if not health.up:
        age = health.beat_age_seconds or 0.0
        return f"down (last heartbeat {age:.0f} s ago)"
    if health.failing_seconds > state.settings.worker_failure_seconds:
        return f"failing for {health.failing_seconds:.0f} s: {health.last_error[:200]}"
    return "ok"


@router.get(
    "/metrics",
    response_class=PlainTextResponse,
    description=(
        "Prometheus text format: credentials issued by type, anchored, batches, queue depth, "
        "anchor latency quantiles, verifications by verdict."
    ),
)
def metrics(state: StateDep) -> PlainTextResponse:
    """Prometheus metrics."""
    worker = state.worker.stats if state.worker is not None else None
    try:
        health = worker_health(state.office.db, stale_seconds=state.settings.worker_stale_seconds)
    except SQLAlchemyError:
        health = None
    body = state.metrics.render(state.office, worker, state.worker_up, health)
    return PlainTextResponse(body, media_type=CONTENT_TYPE)
