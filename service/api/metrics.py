"""Prometheus text exposition of the office: issuance, anchoring, queue, verification outcomes.

Issuance and anchoring are counted from the database (``service.anchoring.figures``): every
path that issues (one, a batch, a bulk file, a life-cycle step) and every worker, in this
process or another, is counted, and a restart loses nothing. The figures are read at most once
per ``cache_seconds``. Verifications are this process's own (they leave no rows).
"""

from __future__ import annotations

import threading
import time
from collections import Counter

from service.anchoring.figures import AnchoringFigures, anchoring_figures, issued_by_type
from service.anchoring.supervision import WorkerHealth
from service.anchoring.worker import WorkerStats
from service.issuing.office import Office
from service.lifecycle.status_queue import queue_depth as status_queue_depth

__all__ = ["CONTENT_TYPE", "Metrics"]

CONTENT_TYPE = "text/plain; version=0.0.4; charset=utf-8"
_QUANTILES = (0.5, 0.9, 0.99)


def _quantile(ordered: list[float], q: float) -> float:
    if not ordered:
        return float("nan")
    index = min(len(ordered) - 1, max(0, round(q * (len(ordered) - 1))))
    return ordered[index]


def _number(value: float) -> str:
    if value != value:  # NaN
        return "NaN"
    return repr(float(value)) if not float(value).is_integer() else str(int(value))


class Metrics:
    """Verification counters kept by this process; issuance and anchoring figures read from
    the database when scraped (cached ``cache_seconds``)."""

    def __init__(self, cache_seconds: float = 5.0) -> None:
        self._lock = threading.Lock()
        self.verifications: Counter[str] = Counter()
        self.cache_seconds = cache_seconds
        self._figures: tuple[float, dict[str, int], AnchoringFigures] | None = None

    def count_verification(self, verdict: str) -> None:
        """Count one verification by its verdict."""
        with self._lock:
            self.verifications[verdict] += 1

    def _database_figures(self, office: Office) -> tuple[dict[str, int], AnchoringFigures]:
        now = time.monotonic()
        cached = self._figures
        if cached is not None and now - cached[0] < self.cache_seconds:
            return cached[1], cached[2]
        issued, anchoring = issued_by_type(office.db), anchoring_figures(office.db)
        self._figures = (now, issued, anchoring)
        return issued, anchoring

    def render(
        self,
        office: Office,
        worker: WorkerStats | None,
        worker_up: bool | None,
        health: WorkerHealth | None = None,
    ) -> str:
        """The exposition text (reads queue depth and counts from the database)."""
        lines: list[str] = []

        def family(name: str, kind: str, help_text: str) -> None:
            lines.append(f"# HELP {name} {help_text}")
            lines.append(f"# TYPE {name} {kind}")

        issued, anchoring = self._database_figures(office)
        with self._lock:
            verifications = dict(self.verifications)
        family(
            "suixin_credentials_issued_total",
            "counter",
            "Credentials issued by this office, by type: single, batch, bulk and life-cycle "
            "versions (from the database).",
        )
        for kind in sorted({"ResidencePermit", "BusinessLicense", *issued}):
            lines.append(f'suixin_credentials_issued_total{{type="{kind}"}} {issued.get(kind, 0)}')
        family("suixin_verifications_total", "counter", "Verifications answered, by verdict.")
        for verdict in sorted({"VALID", "INVALID", "PENDING", *verifications}):
            value = verifications.get(verdict, 0)
            lines.append(f'suixin_verifications_total{{verdict="{verdict}"}} {value}')

        family(
            "suixin_anchor_queue_depth",
            "gauge",
            "Credentials stored but not yet anchored (all authorities, from the database).",
        )
        lines.append(f"suixin_anchor_queue_depth {office.queue_depth()}")
        family(
            "suixin_status_queue_depth",
            "gauge",
            "Status changes (revoked, suspended, superseded, …) not yet on chain.",
        )
        lines.append(f"suixin_status_queue_depth {status_queue_depth(office)}")
        family("suixin_credentials", "gauge", "Credentials in the database, by anchor state.")
        counts = office.counts()
        for state in sorted({"pending", "batched", "anchored", *counts}):
            lines.append(f'suixin_credentials{{state="{state}"}} {counts.get(state, 0)}')

        stats = worker or WorkerStats()
        family(
            "suixin_credentials_anchored_total",
            "counter",
            "Credentials in final anchored batches (from the database: every worker's).",
        )
        lines.append(f"suixin_credentials_anchored_total {anchoring.anchored}")
        family(
            "suixin_anchor_batches_total",
            "counter",
            "Credential batches anchored and final (from the database).",
        )
        lines.append(f"suixin_anchor_batches_total {anchoring.batches}")
        family(
            "suixin_anchor_failures_total",
            "counter",
            "Anchoring passes of this process's worker that failed on a chain error (retried).",
        )
        lines.append(f"suixin_anchor_failures_total {stats.failures}")
        family(
            "suixin_anchor_latency_seconds",
            "summary",
            "Seconds from issuance to a final anchor, over every anchored credential (from the "
            "database).",
        )
        lines.append(f"suixin_anchor_latency_seconds_sum {_number(anchoring.wait_sum)}")
        lines.append(f"suixin_anchor_latency_seconds_count {anchoring.wait_count}")
        family(
            "suixin_anchor_batch_wait_seconds",
            "summary",
            "Seconds the oldest member of each of the latest 1,000 batches waited for its anchor.",
        )
        waits = sorted(anchoring.recent_wait_max)
        for q in _QUANTILES:
            lines.append(
                f'suixin_anchor_batch_wait_seconds{{quantile="{q}"}} {_number(_quantile(waits, q))}'
            )
        lines.append(f"suixin_anchor_batch_wait_seconds_sum {_number(sum(waits))}")
        lines.append(f"suixin_anchor_batch_wait_seconds_count {len(waits)}")
        seen = health is not None and health.seen
        if worker_up is not None or seen:
            up = worker_up if worker_up is not None else bool(health and health.up)
            family(
                "suixin_worker_up",
                "gauge",
                "1 while an anchoring worker runs (this process's thread, or a fresh heartbeat "
                "of one in another process).",
            )
            lines.append(f"suixin_worker_up {int(up)}")
        if health is not None and health.seen:
            family(
                "suixin_worker_failing_seconds",
                "gauge",
                "How long the anchoring worker's passes have failed (0 while they succeed).",
            )
            lines.append(f"suixin_worker_failing_seconds {_number(health.failing_seconds)}")
            family(
                "suixin_worker_pass_failures_total",
                "counter",
                "Failed passes of the live anchoring workers (from their heartbeats).",
            )
            lines.append(f"suixin_worker_pass_failures_total {health.failures}")
            family(
                "suixin_chain_mismatch",
                "gauge",
                "1 while the worker finds the node serving another chain than the deployment's.",
            )
            lines.append(f"suixin_chain_mismatch {int(health.chain == 'mismatch')}")
        return "\n".join(lines) + "\n"
