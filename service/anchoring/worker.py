"""The anchoring worker: batches of queued credentials go on chain, exactly once, crash or not.

For each authority the worker first finishes any batch a previous run left ``prepared`` (its
root may or may not be on chain: the chain is asked, never guessed), then claims the oldest
pending credentials once there are ``batch_size`` of them or the oldest has waited
``batch_age_seconds``. A batch is written (root, members, leaf order) before its transaction
is sent, and its receipts are stored after the transaction is mined. A root can be anchored
only once on chain (``RootAlreadyAnchored``), so a resend after a crash cannot double it.

Several workers on PostgreSQL coordinate with row locks: an authority is served by one worker at
a time (``FOR NO KEY UPDATE SKIP LOCKED`` on its row), which also keeps one sender per account.

Every pass of the loop also chains the audit rows committed since the last pass
(``service.audit.trail.sequence``: they wait in ``audit_inbox`` until then; one unlocked read when
there are none), before the head anchorer's turn, so an anchored head covers them.
"""

from __future__ import annotations

import os
import sys
import threading
import time
import traceback
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta

from eth_account.signers.local import LocalAccount
from sqlalchemy import select
from sqlalchemy.exc import OperationalError

from service.anchoring.batches import BatchQueue
from service.anchoring.reconcile import Reconciler
from service.anchoring.sdjwt import SdJwtAnchorer
from service.anchoring.supervision import ChainState, Heartbeat
from service.anchoring.tasks import LifecycleTasks
from service.audit.anchor import HeadAnchorer
from service.audit.trail import AuditChainBroken, sequence
from service.config import Settings
from service.issuing.office import Office
from service.storage.models import Authority, BatchKind, Credential
from verifier.errors import ChainError, ChainMismatch, ChainUnavailable, ContractReverted

__all__ = ["PAUSE_ENV", "AnchorWorker", "WorkerStats"]

PAUSE_ENV = "SUIXIN_WORKER_PAUSE_AT"  # fault tests: claimed | sent (the process then waits)
_PREPARED, _ANCHORED = "prepared", "anchored"
# Receipts and audit rows the worker writes per transaction. Its writes share SQLite's one
# writer with the issuing requests (in this process or beside it): small steps keep their waits
# short, and a rest after each step lets a writer queued behind it go first (the worker would
# otherwise take the lock straight back: neither flock nor a thread lock is a queue).
WRITE_STEP = 100
STEP_REST_SECONDS = 0.002
MAX_BACKOFF_SECONDS = 30.0  # the longest a supervised worker waits after failed passes
_WAKE_CHECK_SECONDS = 0.05  # an idle worker notices ``stop`` at least this often


def _rest_after_step() -> None:
    """Let a writer queued behind one of the worker's write steps go first."""
    time.sleep(STEP_REST_SECONDS)


@dataclass
class WorkerStats:
    """What the worker has done, for /metrics."""

    batches: int = 0
    anchored: int = 0
    failures: int = 0
    last_error: str = ""


class AnchorWorker:
    """Anchors queued credentials in batches; ``run_once`` for one pass, ``run`` until stopped."""

    def __init__(
        self,
        office: Office,
        *,
        batch_size: int = 1000,
        batch_age_seconds: float = 5.0,
        poll_seconds: float = 0.5,
        audit_anchor_seconds: float = 60.0,
        log: Callable[[str], None] | None = None,
        lifecycle: LifecycleTasks | None = None,
        pace: float = 0.0,
        reconcile_seconds: float = 30.0,
        reconcile_window: timedelta = timedelta(hours=24),
        root: LocalAccount | None = None,
    ) -> None:
        self.office = office
        self.pace = pace  # see _breathe: 0 in a process of its own
        self.batch_size = batch_size
        self.batch_age_seconds = batch_age_seconds
        self.poll_seconds = poll_seconds
        self.stats = WorkerStats()
        self.heartbeat = Heartbeat(office.db)
        self._log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        # what the office believes is on chain, compared with the chain now and then (run only)
        self.reconciler = Reconciler(office, root=root, window=reconcile_window, log=self._log)
        self.reconcile_seconds = reconcile_seconds
        self._reconciled_at: float | None = None
        self._pause_at = os.environ.get(PAUSE_ENV, "")
        # the audit trail's head goes on chain every audit_anchor_seconds (service.audit.anchor)
        self.audit = HeadAnchorer(office, interval_seconds=audit_anchor_seconds, log=self._log)
        # after anchoring, each pass sweeps lapsed permits (when due) and sends queued status
        # changes (service.anchoring.tasks, service.anchoring.status_sender), taking the same
        # authority row lock
        self.lifecycle = lifecycle or LifecycleTasks(office, log=self._log)
        # the credential queue, and SD-JWTs claimed into wallets, anchored the same way
        self.credentials = BatchQueue(
            office,
            Credential,
            BatchKind.CREDENTIAL,
            batch_size=batch_size,
            batch_age_seconds=batch_age_seconds,
            action="batch.anchor",
            log=self._log,
            pause=self._pause,
            observe=self._observe,
        )
        self.sdjwt = SdJwtAnchorer(
            office, batch_size=batch_size, batch_age_seconds=batch_age_seconds, log=self._log
        )
        self._woken = threading.Event()  # ``wake``: work is waiting, skip the rest of the wait
        self._others_at: float | None = None  # when ``run`` last served the other queues
        self._others_busy = False  # the last pass that served them anchored SD-JWTs

    @classmethod
    def from_settings(
        cls,
        office: Office,
        settings: Settings,
        *,
        log: Callable[[str], None] | None = None,
        pace: float = 0.0,
        root: LocalAccount | None = None,
    ) -> AnchorWorker:
        """A worker configured by the service's Settings (batch size and age, polling, audit
        anchoring, life-cycle tasks, reconciliation); ``root`` is the development governance
        root, with which the reconciler may accredit again what a chain lost."""
        return cls(
            office,
            batch_size=settings.batch_size,
            batch_age_seconds=settings.batch_age_seconds,
            poll_seconds=settings.worker_poll_seconds,
            audit_anchor_seconds=settings.audit_anchor_seconds,
            log=log,
            lifecycle=LifecycleTasks.from_settings(office, settings, log=log),
            pace=pace,
            reconcile_seconds=settings.reconcile_seconds,
            reconcile_window=timedelta(hours=settings.reconcile_window_hours),
            root=root,
        )

    # ------------------------------------------------------------------ loop

    def run(self, stop: threading.Event) -> None:
        """Anchor until ``stop`` is set, supervised: no exception ends the loop. Each failed
        pass is logged, counted and written to the worker's heartbeat row, and the next one
        waits longer (doubling from the poll interval up to ``MAX_BACKOFF_SECONDS``); a chain
        that is not the deployment's (``ChainMismatch``) holds everything back until it is
        restored, since nothing may be sent to another chain.

        The credential queue is served on every pass; the other queues (SD-JWTs, the life-cycle
        tasks: status changes, sweeps) at most once a ``poll_seconds``, as an idle worker serves
        them. A pass that follows a busy one at once, or one woken by ``wake`` (a bulk run's
        chunk, every few tenths of a second), is for the credentials that are waiting: the other
        queues' empty reads on every such pass were a fifth of the worker's CPU in a bulk run,
        and their work waits no longer than it would for an idle worker's next poll (a pass that
        anchored SD-JWTs is followed by one that serves them again, as before)."""
        backoff = self.poll_seconds
        while not stop.is_set():
            done = 0
            try:
                self.office.check_chain()
                now = time.monotonic()
                others = (
                    self._others_busy
                    or self._others_at is None
                    or now - self._others_at >= self.poll_seconds
                )
                done = self.run_once(others=others)
                if others:
                    self._others_at = now
                started = time.perf_counter()
                self.sequence_audit()  # before anchoring the head; logs its own failures
                self._breathe(started)
                self.audit.tick()  # logs its own failures
                self._reconcile_if_due()
            except ChainMismatch as e:
                self._failed(
                    e.diagnostics(),
                    chain=ChainState.MISMATCH,
                    log_as="held back, the chain is not the deployment's",
                )
            except ChainUnavailable as e:
                self._failed(
                    str(e), chain=ChainState.UNAVAILABLE, log_as="paused, the chain is unavailable"
                )
            except ChainError as e:
                self._failed(str(e), log_as="paused, the chain refused")
            except OperationalError as e:
                self._failed(str(e.orig), log_as="paused, the database is unavailable")
            except Exception as e:  # supervised: an unexpected fault must not end the loop
                self._failed(f"{type(e).__name__}: {e}", log_as="failed", trace=True)
            else:
                self.heartbeat.succeeded()
                backoff = self.poll_seconds
                if not done:
                    self._idle(stop)
                continue
            stop.wait(backoff)
            backoff = min(backoff * 2, MAX_BACKOFF_SECONDS)
        self.heartbeat.stopped()

    def wake(self) -> None:
        """Say that work is waiting (a bulk run stored a chunk in this process): a ``run`` idle
        between passes starts its next pass now rather than after ``poll_seconds``. Without it
        a worker must poll often to anchor promptly, and each idle pass costs about as many
        queries as a busy one (its authorities, batches, SD-JWTs, status changes, audit inbox)."""
        self._woken.set()

    def _idle(self, stop: threading.Event) -> None:
        """Wait ``poll_seconds`` between passes, less when woken (``wake``) or stopped (both
        are looked at every ``_WAKE_CHECK_SECONDS`` at least: no query is made meanwhile)."""
        deadline = time.monotonic() + self.poll_seconds
        while not stop.is_set() and (left := deadline - time.monotonic()) > 0:
            if self._woken.wait(min(left, _WAKE_CHECK_SECONDS)):
                break
        self._woken.clear()

    def _reconcile_if_due(self) -> None:
        """Compare the office's beliefs with the chain every ``reconcile_seconds``; what it
        cannot repair is counted in the heartbeat (``/metrics``, ``/readyz`` read it)."""
        now = time.monotonic()
        if self._reconciled_at is not None and now - self._reconciled_at < self.reconcile_seconds:
            return
        self._reconciled_at = now
        report = self.reconciler.run()
        self.heartbeat.unrepairable = len(report.unrepairable)

    def _failed(
        self, error: str, *, chain: str | None = None, log_as: str, trace: bool = False
    ) -> None:
        self.stats.failures += 1
        self.stats.last_error = error
        self._log(f"anchoring {log_as}: {error}")
        if trace:
            self._log(traceback.format_exc().rstrip())
        self.heartbeat.failed(error, chain=chain)

    def run_once(self, *, force: bool = False, others: bool = True) -> int:
        """One pass over every authority; returns how many credentials were anchored.
        ``force`` anchors whatever is pending without waiting for size or age. An authority
        the chain refuses (suspended, removed) is logged and skipped: its credentials wait,
        the other authorities' are anchored. A chain outage raises (ChainUnavailable).
        ``others`` False serves the credential queue alone: not the SD-JWTs claimed into
        wallets nor the life-cycle tasks (``run`` serves those once a poll interval)."""
        anchored = 0
        for authority in self.office.authorities():
            try:
                anchored += self._serve(authority.id, force=force)
            except ContractReverted as e:
                self.stats.failures += 1
                self.stats.last_error = e.diagnostics()
                self._log(f"credentials of {authority.did} wait to be anchored: {e.diagnostics()}")
        if others:
            sdjwts = self.sdjwt.run_once(force=force)
            self._others_busy = sdjwts > 0  # more may wait: the next pass serves them too
            anchored += sdjwts
            self.lifecycle.run_once()
        return anchored

    def drain(self, timeout: float = 60.0) -> None:
        """Anchor everything pending now (tests, demos, shutdown), then chain the audit rows
        this wrote."""
        deadline = time.monotonic() + timeout
        while (
            self.credentials.depth() or self.sdjwt.queue_depth()
        ) and time.monotonic() < deadline:
            failures = self.stats.failures
            if not self.run_once(force=True) and self.stats.failures > failures:
                break  # the chain refuses what is left (a suspended authority): it waits
        self.lifecycle.drain(max(deadline - time.monotonic(), 1.0))
        self.sequence_audit()

    def sequence_audit(self) -> int:
        """Chain the committed audit inbox rows (``service.audit.trail.sequence``); returns how
        many. A database outage, or a log changed so that nothing can be chained after it, is
        logged, not raised: the rows wait in the inbox, and credentials are still anchored."""
        try:
            return sequence(
                self.office.db,
                batch_size=WRITE_STEP,
                between=_rest_after_step,
            )
        except AuditChainBroken as e:
            self.stats.failures += 1
            self.stats.last_error = e.diagnostics()
            self._log(f"audit rows not chained: {e.diagnostics()}")
            return 0
        except OperationalError as e:
            self.stats.failures += 1
            self.stats.last_error = str(e.orig)
            self._log(f"audit rows not chained, the database is unavailable: {e.orig}")
            return 0

    # ------------------------------------------------------------------ one authority

    def _serve(self, authority_id: int, *, force: bool) -> int:
        db = self.office.db
        with db.session() as lock:
            locked = lock.scalar(
                select(Authority.id)
                .where(Authority.id == authority_id)
                # NO KEY UPDATE: new batch rows referencing the authority still take their
                # key-share lock on it; plain FOR UPDATE would make the worker wait on itself.
                .with_for_update(skip_locked=True, key_share=True)
            )
            if locked is None:
                return 0  # another worker serves this authority right now
            anchored = 0
            for batch_id in self.credentials.unfinished(authority_id):
                anchored += self.credentials.advance(batch_id)
            started = time.perf_counter()
            claimed = self.credentials.claim(authority_id, force=force)
            if claimed is not None:
                self._breathe(started)
                started = time.perf_counter()
                anchored += self.credentials.advance(claimed)
                self._breathe(started)
            return anchored

    def _observe(self, _batch_id: int, members: int) -> None:
        self.stats.batches += 1
        self.stats.anchored += members

    def _breathe(self, started: float) -> None:
        """With ``pace``, sleep ``pace`` times as long as the step begun at ``started`` took:
        in a process that also serves requests (one GIL) the worker's CPU then comes in short
        bursts between them instead of one stall as long as a whole batch."""
        if self.pace > 0:
            time.sleep((time.perf_counter() - started) * self.pace)

    def _pause(self, phase: str) -> None:
        if self._pause_at == phase:
            self._log(f"PAUSED at {phase}")
            while True:  # the fault test kills the process here
                time.sleep(3600)
