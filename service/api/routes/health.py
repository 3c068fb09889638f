"""Operations: ``/healthz``, ``/readyz`` and ``/metrics``."""

from __future__ import annotations

from fastapi import APIRouter
from fastapi.responses import JSONResponse, PlainTextResponse
from sqlalchemy import text
from sqlalchemy.exc import SQLAlchemyError

from service.api.deps import StateDep
from service.api.errors import Problem
from service.api.metrics import CONTENT_TYPE
from service.api.models import ProblemOut
from verifier.errors import ChainError

router = APIRouter(tags=["operations"])


@router.get("/healthz", description="The process answers; it checks nothing else.")
def healthz() -> dict[str, str]:
    """Liveness: 200 while the process serves requests."""
    return {"status": "ok"}


@router.get(
    "/readyz",
    responses={503: {"model": ProblemOut, "description": "Database, chain or worker down"}},
    description=(
        "Runs `SELECT 1` on the database and reads the chain's newest block; with an "
        "in-process worker, also checks that its thread runs. 503 names what failed."
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
        checks["chain"] = f"ok (block {state.office.chain.block_number()})"
    except ChainError as e:
        checks["chain"] = f"unreachable ({type(e).__name__})"
        failed.append("chain")
    if state.worker_up is not None:
        checks["worker"] = "ok" if state.worker_up else "stopped"
        if not state.worker_up:
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
    body = state.metrics.render(state.office, worker, state.worker_up)
    return PlainTextResponse(body, media_type=CONTENT_TYPE)
