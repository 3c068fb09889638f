"""The life-cycle side of the worker's pass: the sweep when due, then queued status changes."""

from __future__ import annotations

import sys
import time
from collections.abc import Callable
from datetime import datetime

from service.anchoring.status_sender import StatusSender
from service.clock import utc_now
from service.config import Settings
from service.issuing.office import Office
from service.lifecycle.sweep import sweep

__all__ = ["LifecycleTasks"]


class LifecycleTasks:
    """The life-cycle side of the worker's pass: the sweep every ``sweep_seconds`` (the first
    pass sweeps at once), then the queued status changes go on chain."""

    def __init__(
        self,
        office: Office,
        *,
        sweep_seconds: float = 3600.0,
        status_batch_size: int = 200,
        status_max_wait_seconds: float = 0.0,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.office = office
        self.sweep_seconds = sweep_seconds
        self.clock = clock
        self.sender = StatusSender(
            office, batch_size=status_batch_size, max_wait_seconds=status_max_wait_seconds, log=log
        )
        self.swept = 0
        self._log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self._last_sweep: float | None = None

    @classmethod
    def from_settings(
        cls, office: Office, settings: Settings, *, log: Callable[[str], None] | None = None
    ) -> LifecycleTasks:
        """Tasks configured by the service's Settings."""
        return cls(
            office,
            sweep_seconds=settings.sweep_interval_seconds,
            status_batch_size=settings.status_batch_size,
            status_max_wait_seconds=settings.status_max_wait_seconds,
            log=log,
        )

    def run_once(self) -> int:
        """Sweep if due, then one pass of the status sender; returns status changes sent."""
        started = time.monotonic()
        if self._last_sweep is None or started - self._last_sweep >= self.sweep_seconds:
            count = sweep(self.office, now=self.clock())
            self._last_sweep = started
            self.swept += count
            if count:
                self._log(f"{count} permits suspended: endorsement lapsed")
        return self.sender.run_once()

    def drain(self, timeout: float = 60.0) -> None:
        """Send every queued status change now."""
        self.sender.drain(timeout)
