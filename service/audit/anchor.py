"""Anchoring the audit trail's head on chain, and checking the whole trail against those anchors.

**One audit chain per office database.** An office may act for several authorities; their
actions share one hash-chained log, and its head is anchored with the chain account of the
*lowest-id authority that is active in this office* (its enrolment finished: it holds an active
issuer key, so the province has accredited its account). If the chain refuses that account
(``NotAnAuthority``, ``AuthorityNotActive``: suspended on chain, account rotated away), the next
active authority is tried. The authority used is stored with each anchor.

**What goes on chain.** ``AnchorRegistry.anchor(root, leafCount)`` with
``root = SHA-256(b"suixin-audit/1" ‖ seq as 8 bytes ‖ row hash)`` and ``leafCount`` = ``seq``
clipped to uint32 (``service.audit.trail.anchor_root``): a hash in a domain of its own, never a
credential batch root, and no personal data.

**Anchoring** (``HeadAnchorer``), every ``audit_anchor_seconds`` and only when rows were added
since the last anchor: committed inbox rows are chained first (``service.audit.trail.sequence``), so
the anchor covers every action committed before it; then one transaction, under the head's
lock, chains any that arrived meanwhile, appends an ``audit.anchor`` row to the log directly and
writes the anchor as ``prepared`` (its seq is that row's, its hash that row's hash); then the
root is sent; then the anchor is stored as ``anchored`` with its transaction and block. After a
crash the prepared anchor is finished first, and the chain is asked (``anchorOf``) whether the
root is there rather than guessing; ``RootAlreadyAnchored`` means it is. Because each anchor is
itself a row of the log, an anchor record deleted from ``audit_anchors`` is noticed, and its
root is still found on chain from the row alone.

``service.audit.verify`` checks the trail against these anchors.
"""

from __future__ import annotations

import os
import sys
import time
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Protocol

from eth_account.signers.local import LocalAccount
from sqlalchemy import (
    func,
    select,
)
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.audit.trail import (
    ANCHOR_ACTION,
    SEQUENCE_BATCH,
    AuditChainBroken,
    anchor_leaf_count,
    anchor_root,
    lock_head,
    sequence,
)
from service.storage.db import Database
from service.storage.models import AuditAnchor, Authority, IssuerKey
from verifier.chain import Chain, EventDecoder
from verifier.contracts import load_artifact
from verifier.deployment import Deployment
from verifier.errors import ChainError, ContractReverted

__all__ = [
    "ANCHORED",
    "PAUSE_ENV",
    "PREPARED",
    "AnchoredHead",
    "AuditChainReads",
    "ChainOffice",
    "HeadAnchorer",
    "anchoring_authorities",
]

PAUSE_ENV = "SUIXIN_AUDIT_PAUSE_AT"  # crash tests: prepared | sent (the process then waits)
PREPARED, ANCHORED = "prepared", "anchored"
_REFUSED_ACCOUNT = ("NotAnAuthority", "AuthorityNotActive")


@dataclass(frozen=True)
class AnchoredHead:
    """An audit head that is on chain: its seq and hash, block, block time, transaction."""

    seq: int
    head_hash: bytes
    block_number: int
    block_time: int
    tx_hash: str

    def when(self) -> str:
        """The block time, ISO 8601 UTC."""
        return datetime.fromtimestamp(self.block_time, UTC).strftime("%Y-%m-%dT%H:%M:%SZ")


def anchoring_authorities(session: Session) -> list[int]:
    """Ids of the authorities whose accounts may anchor the audit head, in the order they are
    tried: every authority with an active issuer key, lowest id first."""
    active = select(IssuerKey.authority_id).where(IssuerKey.active.is_(True))
    return list(
        session.scalars(select(Authority.id).where(Authority.id.in_(active)).order_by(Authority.id))
    )


class AuditChainReads:
    """The AnchorRegistry and TrustRegistry reads that anchoring and checking share."""

    def __init__(self, chain: Chain, deployment: Deployment) -> None:
        self.chain = chain
        self.deployment = deployment
        self.anchors = load_artifact("AnchorRegistry").abi
        self.trust = load_artifact("TrustRegistry").abi
        self._events = EventDecoder(self.anchors)
        self._dids: dict[int, str] = {}

    def anchor_of(self, root: bytes) -> tuple[int, int, int, int] | None:
        """(chain authority id, leaf count, anchored at, block number), or None."""
        registry = self.deployment.anchor_registry
        found = self.chain.call(registry, self.anchors, "anchorOf", [root])
        if int(found[2]) == 0:
            return None
        return int(found[0]), int(found[1]), int(found[2]), int(found[3])

    def located(self, root: bytes) -> tuple[int, str] | None:
        """(block number, transaction hash) of the root's anchor, if it is on chain."""
        found = self.anchor_of(root)
        if found is None:
            return None
        block = found[3]
        for log in self.chain.get_logs([self.deployment.anchor_registry], block, block):
            entry = self._events.decode(log)
            if entry and entry.event == "RootAnchored" and bytes(entry.args["root"]) == root:
                return block, entry.tx_hash
        raise ChainError(
            f"root 0x{root.hex()} is anchored in block {block} but its event is missing"
        )

    def did_of(self, chain_authority_id: int) -> str:
        """The DID of an authority by its TrustRegistry id (cached)."""
        if chain_authority_id not in self._dids:
            registry = self.deployment.trust_registry
            found = self.chain.call(registry, self.trust, "authorityById", [chain_authority_id])
            self._dids[chain_authority_id] = str(found[5])
        return self._dids[chain_authority_id]


class ChainOffice(Protocol):
    """What the head anchorer needs of an office: its database, chain, deployment, accounts."""

    db: Database
    chain: Chain
    deployment: Deployment

    def account(self, authority_id: int) -> LocalAccount:
        """The authority's chain account (its key opened from the key store)."""
        ...


# ---------------------------------------------------------------------- anchoring


class HeadAnchorer:
    """Anchors the audit head on chain; ``tick`` from a loop, ``anchor`` to do it now.

    ``actor`` is who the ``audit.anchor`` rows name (``worker`` in the worker, ``cli`` for
    ``suixin audit anchor``). On PostgreSQL the anchoring authority's row is locked while its
    account sends (``FOR NO KEY UPDATE``, the lock the anchoring worker takes), so one process
    at a time sends from that account: an anchorer waits for another process's batch to go
    out. Two anchorers never prepare the same head (``prepare`` runs under the head's lock); if
    both finish the same prepared anchor, the second meets ``RootAlreadyAnchored``.
    """

    def __init__(
        self,
        office: ChainOffice,
        *,
        interval_seconds: float = 60.0,
        actor: str = "worker",
        log: Callable[[str], None] | None = None,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self.office = office
        self.interval_seconds = interval_seconds
        self.actor = actor
        self._log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self._clock = clock
        self._due = clock() + interval_seconds  # the first anchor one interval after start
        self._reads = AuditChainReads(office.chain, office.deployment)
        self._pause_at = os.environ.get(PAUSE_ENV, "")

    def tick(self) -> AnchoredHead | None:
        """Anchor if the interval has passed (and rows were added); chain and database
        failures are logged, not raised: the next tick tries again."""
        now = self._clock()
        if now < self._due:
            return None
        self._due = now + self.interval_seconds
        try:
            return self.anchor()
        except ChainError as e:
            self._log(f"audit head not anchored, the chain refused or is unavailable: {e}")
        except OperationalError as e:
            self._log(f"audit head not anchored, the database is unavailable: {e.orig}")
        except AuditChainBroken as e:
            self._log(f"audit head not anchored: {e.diagnostics()}")
        return None

    def anchor(self) -> AnchoredHead | None:
        """Chain the committed inbox rows, finish any prepared anchor, then anchor the head if
        rows were added since the last anchor; returns the newest head anchored by this call
        (None if there was nothing to do, or no active authority). Raises ChainError, and
        AuditChainBroken when the log holds a row beyond its head (nothing is anchored then)."""
        db = self.office.db
        sequence(db)
        with db.session() as s:
            candidates = anchoring_authorities(s)
        if not candidates:
            return None
        with db.session() as lock:
            locked = lock.scalar(
                select(Authority.id)
                .where(Authority.id == candidates[0])
                # NO KEY UPDATE: the anchor rows written meanwhile reference the authority
                .with_for_update(key_share=True)
            )
            if locked is None:
                return None
            done = None
            for anchor_id in self.unfinished():
                done = self._finish(anchor_id, candidates)
            prepared = self.prepare(candidates[0])
            if prepared is not None:
                done = self._finish(prepared, candidates)
            return done

    def unfinished(self) -> list[int]:
        """Ids of anchors prepared but not yet stored as anchored, oldest first."""
        with self.office.db.session() as s:
            return list(
                s.scalars(
                    select(AuditAnchor.id)
                    .where(AuditAnchor.state == PREPARED)
                    .order_by(AuditAnchor.seq)
                )
            )

    def prepare(self, authority_id: int) -> int | None:
        """Under the head's lock, in one transaction: chain up to ``SEQUENCE_BATCH`` committed
        inbox rows, then, if rows were added since the last anchor, append the ``audit.anchor``
        row directly and write its anchor as prepared; returns the anchor's id or None."""
        db = self.office.db
        with db.write_session() as s:
            head = lock_head(s)  # FOR UPDATE on PostgreSQL; SQLite: the write session's lock
            head.move_pending(SEQUENCE_BATCH)
            last = s.scalar(select(func.max(AuditAnchor.seq)))
            if head.seq == 0 or (last is not None and head.seq <= last):
                return None
            entry = head.append(actor=self.actor, action=ANCHOR_ACTION, authority_id=authority_id)
            anchor = AuditAnchor(
                seq=entry.seq,
                head_hash=entry.row_hash,
                root=anchor_root(entry.seq, entry.row_hash),
                leaf_count=anchor_leaf_count(entry.seq),
                state=PREPARED,
                authority_id=authority_id,
                created_at=datetime.now(UTC),
            )
            s.add(anchor)
            s.flush()
            anchor_id = anchor.id
        self._log(f"audit head {entry.seq} prepared as anchor {anchor_id}")
        self._pause("prepared")
        return anchor_id

    def _finish(self, anchor_id: int, candidates: Sequence[int]) -> AnchoredHead:
        office = self.office
        with office.db.session() as s:
            anchor = s.get(AuditAnchor, anchor_id)
            assert anchor is not None
            root, leaf_count, used = bytes(anchor.root), anchor.leaf_count, anchor.authority_id
        found = self._reads.located(root)
        if found is None:
            order = [used, *(c for c in candidates if c != used)]
            for i, authority_id in enumerate(order):
                try:
                    receipt = office.chain.transact(
                        office.deployment.anchor_registry,
                        self._reads.anchors,
                        "anchor",
                        [root, leaf_count],
                        office.account(authority_id),
                    )
                except ContractReverted as e:
                    if e.name == "RootAlreadyAnchored":  # sent before a crash, or by another
                        found = self._reads.located(root)
                        if found is None:
                            raise ChainError(
                                f"audit root 0x{root.hex()} reported anchored but not found"
                            ) from e
                        break
                    if e.name in _REFUSED_ACCOUNT and i + 1 < len(order):
                        self._log(f"audit head: authority {authority_id} cannot anchor ({e})")
                        continue
                    raise
                found, used = (receipt.block_number, receipt.tx_hash), authority_id
                break
        assert found is not None
        self._pause("sent")
        return self._store(anchor_id, found[0], found[1], used)

    def _store(self, anchor_id: int, block_number: int, tx_hash: str, used: int) -> AnchoredHead:
        block_time = self.office.chain.block_time(block_number)
        with self.office.db.write_session() as s:
            anchor = s.get(AuditAnchor, anchor_id)
            assert anchor is not None
            anchor.state = ANCHORED
            anchor.tx_hash = tx_hash
            anchor.block_number = block_number
            anchor.block_time = block_time
            anchor.authority_id = used
            anchor.anchored_at = datetime.now(UTC)
            head = AnchoredHead(
                anchor.seq, bytes(anchor.head_hash), block_number, block_time, tx_hash
            )
        self._log(f"audit head {head.seq} anchored in block {block_number} ({tx_hash})")
        return head

    def _pause(self, phase: str) -> None:
        if self._pause_at == phase:
            self._log(f"PAUSED at {phase}")
            while True:  # the crash test kills the process here
                time.sleep(3600)
