"""Prometheus text exposition of the office: issuance, anchoring, queue, verification outcomes."""

from __future__ import annotations

import threading
from collections import Counter

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
    """Counters kept by this process, and gauges read from the database when scraped."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self.issued: Counter[str] = Counter()
        self.verifications: Counter[str] = Counter()

    def count_issued(self, credential_type: str, n: int = 1) -> None:
        """Count ``n`` newly issued credentials of a type."""
        with self._lock:
            self.issued[credential_type] += n

    def count_verification(self, verdict: str) -> None:
        """Count one verification by its verdict."""
        with self._lock:
            self.verifications[verdict] += 1

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

        with self._lock:
            issued = dict(self.issued)
            verifications = dict(self.verifications)
        family(
            "suixin_credentials_issued_total",
            "counter",
            "Credentials issued through this process, by type.",
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
            "Credentials anchored by this process's worker.",
        )
        lines.append(f"suixin_credentials_anchored_total {stats.anchored}")
        family("suixin_anchor_batches_total", "counter", "Batches anchored by this process.")
        lines.append(f"suixin_anchor_batches_total {stats.batches}")
        family(
            "suixin_anchor_failures_total",
            "counter",
            "Anchoring passes that failed on a chain error (retried).",
        )
        lines.append(f"suixin_anchor_failures_total {stats.failures}")
        family(
            "suixin_anchor_latency_seconds",
            "summary",
            "Seconds from issuance to anchor receipt (the worker's last 10,000 credentials).",
        )
        latencies = sorted(stats.latencies)
        for q in _QUANTILES:
            shown = _number(_quantile(latencies, q))
            lines.append(f'suixin_anchor_latency_seconds{{quantile="{q}"}} {shown}')
        lines.append(f"suixin_anchor_latency_seconds_sum {_number(sum(latencies))}")
        lines.append(f"suixin_anchor_latency_seconds_count {len(latencies)}")
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
