"""The worker's heartbeat in the database, and how healthy the office's workers are.

Every pass of an anchoring worker writes its ``worker_status`` row (at most once a second, and
at once when its state changes): when it last beat, when a pass last succeeded, since when its
passes fail and why, and whether the chain is the deployment's. Any API process reads these
rows (``worker_health``), so ``/readyz`` and ``/metrics`` see a worker that runs in the
embedded chain's node or as ``suixin worker`` as well as one in their own process.
"""

from __future__ import annotations

import os
import secrets
import socket
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import select
from sqlalchemy.exc import SQLAlchemyError

from service.storage.db import Database
from service.storage.models import WorkerStatus

__all__ = ["ChainState", "Heartbeat", "WorkerHealth", "worker_health"]

_BEAT_EVERY = timedelta(seconds=1)
_ERROR_CHARS = 500


class ChainState:
    """What the worker found the chain to be on its last pass."""

    OK = "ok"
    MISMATCH = "mismatch"  # another chain than the deployment's: nothing is sent
    UNAVAILABLE = "unavailable"


def _utc(value: datetime | None) -> datetime | None:
    if value is None:
        return None
    return value if value.tzinfo else value.replace(tzinfo=UTC)


class Heartbeat:
    """One worker's row: ``succeeded`` and ``failed`` after each pass, ``stopped`` at the end.
    A database that cannot be written is not an error of the worker's pass: the beat is
    skipped and written on a later one."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self.id = f"{socket.gethostname()}:{os.getpid()}:{secrets.token_hex(4)}"
        self.started_at = datetime.now(UTC)
        self.failing_since: datetime | None = None
        self.last_success_at: datetime | None = None
        self.failures = 0
        self.chain = ChainState.OK
        self.last_error = ""
        self.unrepairable = 0  # what the reconciler could not repair on its last run
        self._written: datetime | None = None
        self._written_state: tuple[bool, str] | None = None

    def succeeded(self) -> None:
        """A pass went through."""
        self.last_success_at = datetime.now(UTC)
        self.failing_since = None
        self.chain = ChainState.OK
        self._write()

    def failed(self, error: str, *, chain: str | None = None) -> None:
        """A pass failed with ``error`` (a text without secrets); ``chain`` when the chain was
        the reason."""
        now = datetime.now(UTC)
        self.failures += 1
        self.failing_since = self.failing_since or now
        self.last_error = error[:_ERROR_CHARS]
        if chain is not None:
            self.chain = chain
        self._write()

    def stopped(self) -> None:
        """The worker stopped on purpose: its row says so (and no longer counts as down)."""
        self._write(stopped=True)

    def _write(self, *, stopped: bool = False) -> None:
        now = datetime.now(UTC)
        state = (self.failing_since is None, self.chain)
        due = self._written is None or now - self._written >= _BEAT_EVERY
        if not (due or stopped or state != self._written_state):
            return
        values = {
            "beat_at": now,
            "last_success_at": self.last_success_at,
            "failing_since": self.failing_since,
            "failures": self.failures,
            "chain": self.chain,
            "last_error": self.last_error,
            "stopped_at": now if stopped else None,
            "unrepairable": self.unrepairable,
        }
        try:
            with self.db.session() as s:
                row = s.get(WorkerStatus, self.id)
                if row is None:
                    s.add(WorkerStatus(id=self.id, started_at=self.started_at, **values))
                else:
                    for name, value in values.items():
                        setattr(row, name, value)
        except SQLAlchemyError:
            return  # the database is down: the pass says so itself; beat again later
        self._written, self._written_state = now, state


@dataclass(frozen=True)
class WorkerHealth:
    """The office's workers as the database shows them."""

    seen: bool  # some worker has ever beaten
    up: bool  # one beat within the stale limit and has not stopped
    failing_seconds: float  # how long the healthiest live worker has been failing (0: not)
    failures: int  # failed passes of the live workers, in all
    chain: str  # the chain state the freshest live worker reports
    last_error: str
    beat_age_seconds: float | None
    unrepairable: int = 0  # findings the reconcilers of the live workers could not repair


def worker_health(db: Database, *, stale_seconds: float) -> WorkerHealth:
    """How the office's anchoring workers are, from their rows: ``up`` when one beat within
    ``stale_seconds`` and has not stopped. Raises SQLAlchemyError when the database cannot be
    read."""
    now = datetime.now(UTC)
    with db.session() as s:
        rows = list(s.scalars(select(WorkerStatus).order_by(WorkerStatus.beat_at.desc())))
    if not rows:
        return WorkerHealth(False, False, 0.0, 0, ChainState.OK, "", None)
    live = [
        r
        for r in rows
        if r.stopped_at is None
        and (now - (_utc(r.beat_at) or now)).total_seconds() <= stale_seconds
    ]
    freshest = _utc(rows[0].beat_at) or now
    if not live:
        return WorkerHealth(
            True,
            False,
            0.0,
            0,
            rows[0].chain,
            rows[0].last_error,
            (now - freshest).total_seconds(),
        )
    failing = [
        (now - since).total_seconds()
        for since in (_utc(r.failing_since) for r in live)
        if since is not None
    ]
    healthy = len(failing) < len(live)
    return WorkerHealth(
        seen=True,
        up=True,
        failing_seconds=0.0 if healthy else min(failing),
        failures=sum(r.failures for r in live),
        unrepairable=max(r.unrepairable for r in live),
        chain=live[0].chain,
        last_error=live[0].last_error,
        beat_age_seconds=(now - freshest).total_seconds(),
    )
