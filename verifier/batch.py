"""Verifying a JSON Lines file of bundles on every core (``suixin-verify batch``).

One bundle per line, read lazily: the file is never held, whatever its length. Lines go to
worker processes in chunks, at most a few chunks per worker in flight (memory stays flat), and
the results come back in file order. Every worker verifies against the same trust snapshot: the
caller's ``--snapshot``, or one the caller made from the chain when the run began, so a batch
has one answer to "as of which block" (the reports say which).

Each line gives one result: a report (``Report.to_json`` with its ``line``), or the reason the
line is not a bundle (``line_unreadable``: not UTF-8, not JSON). Blank lines are skipped but
counted, so line numbers are the file's own.
"""

from __future__ import annotations

import json
import os
from collections import deque
from collections.abc import Callable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

from verifier.interop import parse_json
from verifier.policy import Policy
from verifier.verify import Verdict, Verifier

__all__ = ["BatchSummary", "LineResult", "verify_lines"]

# lines per task: large enough that a task's round trip is noise, small enough to keep every
# core busy to the end of a short file
CHUNK = 200


@dataclass(frozen=True, slots=True)
class LineResult:
    """One line's outcome: its verdict and report, or why it could not be read."""

    line: int
    verdict: str | None  # VALID, INVALID, PENDING; None for an unreadable line
    text: str  # its JSON line, made in the worker: {"line", **report} or {"line", "error"}

    @property
    def document(self) -> dict[str, Any]:
        """The report (or the error) as a dict."""
        parsed: dict[str, Any] = json.loads(self.text)
        return parsed


@dataclass
class BatchSummary:
    """Counts per verdict, unreadable lines, and bytes read (for progress)."""

    counts: dict[str, int] = field(default_factory=lambda: {v.value: 0 for v in Verdict})
    unreadable: int = 0
    bytes_read: int = 0

    @property
    def bundles(self) -> int:
        """Lines verified (readable bundles)."""
        return sum(self.counts.values())

    def add(self, result: LineResult) -> None:
        if result.verdict is None:
            self.unreadable += 1
        else:
            self.counts[result.verdict] += 1


def default_workers() -> int:
    """One worker per core this process may use."""
    try:
        return max(len(os.sched_getaffinity(0)), 1)
    except AttributeError:  # not on Linux
        return os.cpu_count() or 1


# ---------------------------------------------------------------------------- in a worker

_verifier: Verifier | None = None


def _start_worker(snapshot: str, grace_minutes: float, max_age_hours: float) -> None:
    global _verifier
    policy = Policy(
        pending_grace=timedelta(minutes=grace_minutes),
        max_snapshot_age=timedelta(hours=max_age_hours),
    )
    _verifier = Verifier.from_snapshot(Path(snapshot), policy)


def _verify_chunk(chunk: list[tuple[int, bytes]]) -> list[LineResult]:
    verifier = _verifier
    if verifier is None:
        raise RuntimeError("the worker was not started with a snapshot")
    return [_one(verifier, number, raw) for number, raw in chunk]


def _one(verifier: Verifier, number: int, raw: bytes) -> LineResult:
    try:
        bundle = parse_json(raw.decode("utf-8"))
    except UnicodeDecodeError as e:
        return _unreadable(number, f"not UTF-8 text ({e.reason})")
    except (ValueError, RecursionError) as e:
        reason = e if isinstance(e, ValueError) else "nested too deeply"
        return _unreadable(number, f"not JSON ({reason})")
    report = verifier.verify(bundle)
    return LineResult(number, report.verdict.value, _line({"line": number, **report.to_json()}))


def _unreadable(number: int, message: str) -> LineResult:
    error = {"code": "line_unreadable", "message": f"line {number}: {message}"}
    return LineResult(number, None, _line({"line": number, "error": error}))


def _line(document: dict[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":")) + "\n"


# ---------------------------------------------------------------------------- the caller


def _chunks(path: Path, summary: BatchSummary) -> Iterator[list[tuple[int, bytes]]]:
    chunk: list[tuple[int, bytes]] = []
    with path.open("rb") as f:
        for number, raw in enumerate(f, start=1):
            summary.bytes_read += len(raw)
            if raw.strip():
                chunk.append((number, raw))
            if len(chunk) == CHUNK:
                yield chunk
                chunk = []
    if chunk:
        yield chunk


def verify_lines(
    path: Path,
    snapshot: Path,
    *,
    workers: int | None = None,
    grace_minutes: float = 60.0,
    max_snapshot_age_hours: float = 24.0,
    summary: BatchSummary | None = None,
    on_chunk: Callable[[BatchSummary], None] | None = None,
) -> Iterator[LineResult]:
    """The result of every bundle line of ``path``, in file order, verified against
    ``snapshot`` by ``workers`` processes (default: one per core; 1 verifies here).

    ``summary`` is kept up to date as results arrive, and ``on_chunk(summary)`` is called after
    each chunk (progress). Raises SnapshotError when the snapshot cannot be used, OSError when
    the file cannot be read."""
    summary = summary if summary is not None else BatchSummary()
    workers = default_workers() if workers is None else workers
    args = (str(snapshot), grace_minutes, max_snapshot_age_hours)
    if workers <= 1:
        _start_worker(*args)  # here: the snapshot's errors surface before any line
        for chunk in _chunks(path, summary):
            yield from _counted(_verify_chunk(chunk), summary, on_chunk)
        return
    Verifier.from_snapshot(snapshot)  # a bad snapshot: one clear error, not one per worker
    with ProcessPoolExecutor(workers, initializer=_start_worker, initargs=args) as pool:
        waiting: deque[Future[list[LineResult]]] = deque()
        for chunk in _chunks(path, summary):
            waiting.append(pool.submit(_verify_chunk, chunk))
            if len(waiting) >= 4 * workers:  # bounded: the file is never read ahead of us
                yield from _counted(waiting.popleft().result(), summary, on_chunk)
        while waiting:
            yield from _counted(waiting.popleft().result(), summary, on_chunk)


def _counted(
    results: list[LineResult],
    summary: BatchSummary,
    on_chunk: Callable[[BatchSummary], None] | None,
) -> Iterator[LineResult]:
    for result in results:
        summary.add(result)
        yield result
    if on_chunk is not None:
        on_chunk(summary)


def result_line(result: LineResult) -> str:
    """One line of the reports file (JSON Lines)."""
    return result.text
