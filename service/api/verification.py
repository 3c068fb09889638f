"""The office's one online verifier, shared by every request, and its DID documents.

The registry index is kept fresh by a background thread (``run_sync``, started by the app's
lifespan) that syncs it every half ``Policy.sync_interval``: the slow part, reading the chain's
logs, holds no lock that requests take; only applying the events does, briefly. A request reads
the chain itself only when the index cannot answer it: never synced, older than a sync interval
(the thread stalled or the chain is down: then the request's own sync raises ChainUnavailable,
a 503, never a verdict), or a receipt naming a block the index has not reached, so a credential
anchored a moment ago verifies as VALID rather than as an unknown root. Syncs take turns (one
lock), and a request that waited for one checks again before reading the chain itself. The index is
kept in the data directory (``REGISTRY_INDEX_NAME``): a restarted process loads it and reads
only the blocks after it, whatever the chain's length.

This service, not the Verifier, decides when to sync, so that a request can tell beforehand
whether it needs the chain: ``verify_now`` answers at once from the index (pure computation,
fit for the event loop) or declines, and ``verify`` may wait on the chain (for a thread).
"""

from __future__ import annotations

import dataclasses
import logging
import threading
import time
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import or_, select
from sqlalchemy.exc import SQLAlchemyError

from service.api.metrics import Metrics
from service.issuing.office import NotFound, Office
from service.lifecycle.status_queue import local_changes
from service.storage.models import StatusChange
from verifier.errors import ChainError
from verifier.foreign import ForeignMaterial
from verifier.policy import Policy
from verifier.trust_list import trust_list
from verifier.verify import Report, Verifier

__all__ = ["DID_CONTEXTS", "REGISTRY_INDEX_NAME", "VerificationService"]

#: The registry index the office's verifier keeps in its data directory, so that a restarted
#: API process (each of ``--workers N``) loads it and reads only the blocks after it.
REGISTRY_INDEX_NAME = "registry-index.sqlite"

log = logging.getLogger("suixin.api")

DID_CONTEXTS = ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"]


_RECENT_REFRESH_SECONDS = 0.5
# Longer than any computation done under the index's lock (a verification, a sync's commit)
_LOCK_WAIT_SECONDS = 0.1


def _receipt_block(bundle: object) -> int | None:
    if not isinstance(bundle, Mapping):
        return None
    anchor = bundle.get("anchor")
    if not isinstance(anchor, Mapping):
        return None
    block = anchor.get("blockNumber")
    return block if isinstance(block, int) and not isinstance(block, bool) else None


class VerificationService:
    """Verifies bundles for the API and builds DID documents from the on-chain keys."""

    def __init__(
        self, office: Office, policy: Policy, metrics: Metrics, cache_path: Path | None = None
    ) -> None:
        self.office = office
        self.metrics = metrics
        self.sync_interval = policy.sync_interval.total_seconds()
        # The Verifier never syncs by itself: _sync below does, when _needs_sync says so.
        own = dataclasses.replace(policy, sync_interval=timedelta.max)
        self.verifier = Verifier.from_chain(
            office.chain,
            office.deployment.anchor_registry,
            own,
            deployment=office.deployment,
            cache_path=cache_path,
        )
        self._lock = threading.Lock()  # the index: requests read it, a sync's commit writes
        self.lock_wait = _LOCK_WAIT_SECONDS  # how long verify_now waits for ``_lock``
        self._sync_lock = threading.Lock()  # one sync at a time (taken before ``_lock``)
        self._last_sync: float | None = None  # when the last successful sync began
        # credentials whose status this office changed lately (see ``recently_changed``)
        self._recent: frozenset[str] = frozenset()
        self._recent_read: tuple[float, int] | None = None
        # one read of that set at a time: when it fell due under load, every request in
        # flight read it (on PostgreSQL each in a thread of its own)
        self._recent_lock = threading.Lock()

    def _needs_sync(self, bundle: object = None) -> bool:
        last = self._last_sync
        if last is None or time.monotonic() - last >= self.sync_interval:
            return True
        block = _receipt_block(bundle)
        return block is not None and block > self.verifier.index.synced_block

    def _sync(self, bundle: object = None, *, always: bool = False) -> None:
        """Sync the index, unless (``always`` false) a sync that finished while this one waited
        for its turn made it unneeded. The chain is read without ``_lock``."""
        with self._sync_lock:
            if not always and not self._needs_sync(bundle):
                return
            # The office may reconnect (or a test may swap) its chain; always read the current one.
            self.verifier.chain = self.office.chain
            started = time.monotonic()
            pending = self.verifier.read_sync()
            with self._lock:
                self.verifier.commit_sync(pending)
            self._last_sync = started

    def sync(self) -> None:
        """Sync the index now, whatever its age (blocks on the chain; raises ChainUnavailable):
        for a verdict that must reflect the chain as it is now (the counter's)."""
        self._sync(always=True)

    def run_sync(self, stop: threading.Event) -> None:
        """Keep the index fresh until ``stop`` is set: a sync at once, then every half sync
        interval (for a thread; a failure is logged and tried again at the next turn)."""
        period = self.sync_interval / 2
        failing = False
        while not stop.is_set():
            try:
                self._sync(always=True)
            except ChainError as e:
                if not failing:
                    log.warning("registry index sync failed (requests will retry): %s", e)
                failing = True
            except Exception:
                log.exception("registry index sync failed")
                failing = True
            else:
                if failing:
                    log.info("registry index sync recovered")
                failing = False
            stop.wait(period)

    def verify(self, bundle: object, material: ForeignMaterial | None = None) -> Report:
        """The report of ``bundle``, syncing first if needed (blocks on the chain; raises
        ChainUnavailable when a needed sync fails). ``material``: DID documents and status
        lists supplied for a foreign credential (``verifier.foreign``)."""
        if self._needs_sync(bundle):
            self._sync(bundle)
        with self._lock:
            report = self.verifier.verify(bundle, material)
        self.metrics.count_verification(report.verdict.value)
        return report

    def recent_due(self) -> bool:
        """Whether ``recently_changed`` would read the database now."""
        read = self._recent_read
        return (
            read is None
            or time.monotonic() - read[0] >= _RECENT_REFRESH_SECONDS
            or read[1] != local_changes()
        )

    def recently_changed(self, credential_id: str) -> bool:
        """Whether this office changed the credential's status lately: a change not yet on
        chain, or one put there less than a sync interval (plus a margin) ago, which the
        verifier may not have read yet. The set is read at most every half second, and at once
        after this process queued a change; a change queued by another server process shows
        here within half a second."""
        if self.recent_due():
            with self._recent_lock:
                if self.recent_due():  # not read meanwhile by the thread we waited for
                    self._read_recent()
        return credential_id in self._recent

    def run_recent(self, stop: threading.Event) -> None:
        """Keep the set of lately changed credentials read ahead of requests until ``stop`` is
        set (for a thread): read a little before it falls due, so that requests seldom find
        it due, which sends a verification on PostgreSQL to the route and a thread instead of
        the fast lane. A failed read is logged; requests then read it themselves."""
        ahead = _RECENT_REFRESH_SECONDS * 0.8  # the age at which it is read again here
        while not stop.wait(_RECENT_REFRESH_SECONDS / 5):
            read = self._recent_read
            if read is not None and time.monotonic() - read[0] < ahead:
                continue  # a request read it lately
            try:
                with self._recent_lock:
                    self._read_recent()
            except SQLAlchemyError:
                log.exception("reading the lately changed credentials failed")

    def _read_recent(self) -> None:
        """Read the set of credentials whose status changed lately (``recently_changed``)."""
        generation = local_changes()
        horizon = datetime.now(UTC) - timedelta(seconds=self.sync_interval + 120)
        with self.office.db.engine.connect() as connection:
            ids = connection.execute(
                select(StatusChange.credential_id).where(
                    or_(
                        StatusChange.state != "done",
                        StatusChange.requested_at >= horizon,
                        StatusChange.done_at >= horizon,
                    )
                )
            ).scalars()
            self._recent = frozenset(ids)
        self._recent_read = (time.monotonic(), generation)

    def verify_now(self, bundle: object, *, count: bool = True) -> Report | None:
        """The report of ``bundle`` if it needs no chain read, else None (``count``: add it to
        the metrics).

        The index's lock is held only for computation (a sync's commit, another verification):
        this waits for it up to ``lock_wait`` seconds, then declines. Declining at once when
        the lock is busy sent the request to a thread, whose verification then held the lock
        while it waited for the GIL, so that the next requests found it busy too: at 64 clients a
        third of the verifications went the slow way, through the thread pool."""
        if self._needs_sync(bundle) or not self._lock.acquire(timeout=self.lock_wait):
            return None
        try:
            if self._needs_sync(bundle):
                return None
            report = self.verifier.verify(bundle)
        finally:
            self._lock.release()
        if count:
            self.metrics.count_verification(report.verdict.value)
        return report

    def stored_receipt(self, credential: Mapping[str, Any]) -> dict[str, Any] | None:
        """The anchor receipt this office holds for the credential's id, if it issued it."""
        credential_id = credential.get("id")
        if not isinstance(credential_id, str):
            return None
        try:
            receipt = self.office.bundle(credential_id)["anchor"]
        except NotFound:
            return None
        return receipt if isinstance(receipt, dict) else None

    def trust_list(self) -> dict[str, Any]:
        """Every authority on the TrustRegistry with its names, status and keys
        (``verifier.trust_list``), from the chain as last synced."""
        if self._needs_sync():
            self._sync()
        with self._lock:
            return trust_list(self.verifier.index)

    def did_document(self, did: str) -> dict[str, Any]:
        """The DID document of an authority from its keys on chain; raises NotFound."""
        if self._needs_sync():
            self._sync()
        with self._lock:
            index = self.verifier.index
            record = index.authority(did)
            keys = (
                sorted(
                    (k for k in index.keys.values() if k.authority_id == record.id),
                    key=lambda k: (k.valid_from, k.key_id),
                )
                if record is not None
                else []
            )
        if record is None:
            raise NotFound(
                f"{did} is not an accredited authority on chain", f"{did} 不是链上已授权的发证机关"
            )
        methods = [
            {
                "id": f"{did}#{k.key_id}",
                "type": "Multikey",
                "controller": did,
                "publicKeyMultibase": k.multikey.multikey,
            }
            for k in keys
            if not k.revoked_at
        ]
        return {
            "@context": DID_CONTEXTS,
            "id": did,
            "verificationMethod": methods,
            "assertionMethod": [m["id"] for m in methods],
        }
