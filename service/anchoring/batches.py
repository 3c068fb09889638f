"""Batches: members of a queue go on chain as Merkle roots, exactly once, and count once final.

``BatchQueue`` serves one queue table — credentials, or SD-JWTs claimed into wallets — whose
rows have a ``digest`` and, once claimed, a ``batch_id`` and ``leaf_index`` (a credential's in its
narrow row of ``credential_queue``, never in the credential's own row). A batch's life:

- **claimed** (``prepared``): the oldest members without a batch, ``batch_size`` of them or
  whatever waited ``batch_age_seconds``, with the batch row (root, size, leaves in order, and
  the tree's hash: the deployment's anchoring hash, SHA-256 or SM3, with which every member's
  digest was made) in one transaction, before anything is sent. A bulk chunk comes claimed:
  ``Office.issue_many(own_batch=True)`` stores its credentials with their batch and places,
  so none is written twice; the worker finds such a batch prepared and sends it;
- **sent**: its root is in a block (``anchor_root_once``: a root the chain holds already is
  refused, ``RootAlreadyAnchored``, and read back, so a resend never doubles it); the block's
  number, hash, time and the transaction are stored once on the batch row, and every member's
  receipt is derived from it (``service.issuing.receipts``);
- **anchored**: final, once the deployment's ``confirmations`` blocks are on top of that block
  and the block is still the one recorded. A block that was replaced (a reorganisation, lost
  by a node restarted from older state) puts the batch back to ``prepared``: the same root is
  sent again. With 0 confirmations (development chains) a mined batch is final at once.

Module functions serve one-off anchoring (tests, demos, scripts): ``anchor_batch`` and
``set_statuses``.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from datetime import UTC, datetime
from functools import cache
from typing import Any

from eth_account.signers.local import LocalAccount
from sqlalchemy import func, select, update

from service.audit.trail import record
from service.clock import aware
from service.issuing.office import Office, prepared_batch
from service.storage.models import Batch, BatchState, Credential, QueuedCredential
from service.storage.wallet import SdJwtCredential
from verifier.bundle import (
    credential_digest,
    credential_id_hash,
    make_bundle,
    receipts_for_batch,
)
from verifier.chain import Chain, EventDecoder
from verifier.contracts import load_artifact
from verifier.deployment import Deployment
from verifier.errors import ChainError, ContractReverted
from verifier.merkle import MerkleTree

__all__ = [
    "BatchQueue",
    "QueueTable",
    "anchor_batch",
    "anchor_root_once",
    "anchored_root",
    "set_statuses",
]


@cache
def _anchor_registry() -> tuple[list[dict[str, Any]], EventDecoder]:
    abi = load_artifact("AnchorRegistry").abi
    return abi, EventDecoder(abi)


def anchored_root(chain: Chain, registry: str, root: bytes) -> tuple[int, str] | None:
    """(block number, transaction hash) of the root's anchor if it is on chain, else None:
    the chain is asked, never guessed (a crash may have come after the send)."""
    abi, events = _anchor_registry()
    record = chain.call(registry, abi, "anchorOf", [root])
    anchored_at, block_number = int(record[2]), int(record[3])
    if anchored_at == 0:
        return None
    for log in chain.get_logs([registry], block_number, block_number):
        entry = events.decode(log)
        if entry and entry.event == "RootAnchored" and bytes(entry.args["root"]) == root:
            return block_number, entry.tx_hash
    raise ChainError(
        f"root 0x{root.hex()} is anchored in block {block_number} but its event is missing"
    )


def anchor_root_once(
    chain: Chain, registry: str, account: LocalAccount, root: bytes, leaf_count: int
) -> tuple[int, str]:
    """Put ``root`` on chain unless it is there already; returns (block number, transaction
    hash) of its one anchor. A root already on chain (another worker, or a send before a crash
    that was not recorded) is read back, so a resend can never double an anchor.

    The chain is not asked before sending: the contract refuses a root it holds
    (``RootAlreadyAnchored``, found when the send's gas is estimated, before anything is
    signed), and only a refused send asks where the root is. Any refusal asks, not only that
    one: the contract checks the sender's authority first, so a root anchored before its
    authority was suspended is read back as when the chain was asked first. The same answer
    as asking first, for one EVM call less per batch (a seventh of the worker's CPU in a bulk
    run)."""
    abi, _ = _anchor_registry()
    try:
        receipt = chain.transact(registry, abi, "anchor", [root, leaf_count], account)
    except ContractReverted as e:
        found = anchored_root(chain, registry, root)
        if found is not None:
            return found
        if e.name == "RootAlreadyAnchored":
            raise ChainError(f"root 0x{root.hex()} reported anchored but not found") from e
        raise
    return receipt.block_number, receipt.tx_hash


def anchor_batch(
    chain: Chain,
    deployment: Deployment,
    account: LocalAccount,
    credentials: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Anchor one batch (one transaction) and return a bundle per credential, in order; the
    tree uses the deployment's anchoring hash."""
    hash = deployment.anchoring_hash
    tree = MerkleTree((credential_digest(c, hash) for c in credentials), hash=hash)
    abi = load_artifact("AnchorRegistry").abi
    receipt = chain.transact(
        deployment.anchor_registry, abi, "anchor", [tree.root, tree.size], account
    )
    receipts = receipts_for_batch(
        tree,
        chain_id=chain.chain_id,
        registry=deployment.anchor_registry,
        block_number=receipt.block_number,
        block_time=chain.block_time(receipt.block_number),
        transaction_hash=receipt.tx_hash,
    )
    return [make_bundle(c, r) for c, r in zip(credentials, receipts, strict=True)]


def set_statuses(
    chain: Chain,
    deployment: Deployment,
    account: LocalAccount,
    changes: Sequence[tuple[str, int, int]],
) -> None:
    """Record (credential id, status code, reason code) changes in one transaction."""
    abi = load_artifact("AnchorRegistry").abi
    hashes = [credential_id_hash(cid) for cid, _, _ in changes]
    statuses = [status for _, status, _ in changes]
    reasons = [reason for _, _, reason in changes]
    chain.transact(
        deployment.anchor_registry, abi, "setStatusBatch", [hashes, statuses, reasons], account
    )


QueueTable = type[Credential] | type[SdJwtCredential]


def _final_at(batch: Batch, now: datetime) -> None:
    """Mark ``batch`` final at ``now``, with its members' waits (for ``/metrics``)."""
    batch.anchored_at = now
    if batch.queued_at is not None and batch.queued_sum is not None:
        batch.wait_sum = max(batch.size * now.timestamp() - batch.queued_sum, 0.0)
        batch.wait_max = max((now - aware(batch.queued_at)).total_seconds(), 0.0)


class BatchQueue:
    """Anchors the members of one queue table in batches (see the module docstring).

    ``observe`` is told, once a batch is final, its id and how many members it has (the
    worker's counts; the members' waits are the batch's own ``wait_sum`` and ``wait_max``);
    ``pause`` is the fault tests' hook (``claimed``, ``sent``); ``action`` names the audit row
    written when a batch's root is in a block."""

    def __init__(
        self,
        office: Office,
        table: QueueTable,
        kind: str,
        *,
        batch_size: int,
        batch_age_seconds: float,
        action: str,
        log: Callable[[str], None],
        pause: Callable[[str], None] = lambda _phase: None,
        observe: Callable[[int, int], None] = lambda _batch, _members: None,
    ) -> None:
        self.office = office
        self.table = table
        self.kind = kind
        self.batch_size = batch_size
        self.batch_age_seconds = batch_age_seconds
        self.action = action
        self._log = log
        self._pause = pause
        self._observe = observe

    # ------------------------------------------------------------------ reads

    def depth(self) -> int:
        """Members not final yet: without a batch, or in a batch not anchored."""
        waiting_rows = self._waiting_rows()
        with self.office.db.session() as s:
            waiting = s.scalar(
                select(func.count())
                .select_from(waiting_rows)
                .where(waiting_rows.batch_id.is_(None))
            )
            unfinal = s.scalar(
                select(func.coalesce(func.sum(Batch.size), 0)).where(
                    Batch.kind == self.kind, Batch.state != BatchState.ANCHORED
                )
            )
        return int(waiting or 0) + int(unfinal or 0)

    def unfinished(self, authority_id: int) -> list[int]:
        """The authority's batches of this kind that are claimed or sent, not final."""
        with self.office.db.session() as s:
            return list(
                s.scalars(
                    select(Batch.id)
                    .where(
                        Batch.authority_id == authority_id,
                        Batch.kind == self.kind,
                        Batch.state.in_((BatchState.PREPARED, BatchState.SENT)),
                    )
                    .order_by(Batch.id)
                )
            )

    def _waiting_rows(self) -> type[QueuedCredential] | QueueTable:
        """Where this queue's members wait and are claimed: credentials in their queue table,
        SD-JWTs in their own rows."""
        return QueuedCredential if self.table is Credential else self.table

    # ------------------------------------------------------------------ claim

    def claim(self, authority_id: int, *, force: bool) -> int | None:
        """Make a batch of the oldest members without one (``batch_size``, or fewer when the
        oldest waited ``batch_age_seconds`` or ``force``); returns its id, or None."""
        table, waiting_rows = self.table, self._waiting_rows()
        query = select(table.seq, table.digest, table.created_at)
        order = table.seq
        if waiting_rows is not table:  # credentials: the queue rows, joined to what a batch needs
            query = query.join(waiting_rows, QueuedCredential.credential_seq == Credential.seq)
            order = QueuedCredential.credential_seq  # the queue index's order
        waiting = (
            query.where(waiting_rows.authority_id == authority_id, waiting_rows.batch_id.is_(None))
            .order_by(order)
            .limit(self.batch_size)
        )

        def due(rows: Sequence[Any]) -> bool:
            if not rows:
                return False
            waited = (datetime.now(UTC) - aware(rows[0].created_at)).total_seconds()
            return force or len(rows) >= self.batch_size or waited >= self.batch_age_seconds

        # a look first, without the write lock: an idle pass takes none
        with self.office.db.session() as s:
            if not due(s.execute(waiting).all()):
                return None
        self._pause("peeked")
        # then again, as the claiming transaction's first read: on SQLite under the write
        # lock (a read outside it could see members another process claims meanwhile, and
        # the claim would take them a second time), on PostgreSQL locking the rows against
        # other workers
        with self.office.db.write_session() as s:
            rows = s.execute(waiting.with_for_update(of=waiting_rows, skip_locked=True)).all()
            if not due(rows):
                return None
            issued = [aware(r.created_at) for r in rows]
            batch = prepared_batch(
                authority_id,
                self.kind,
                [bytes(r.digest) for r in rows],
                issued,
                self.office.anchoring_hash,
            )
            s.add(batch)
            s.flush()
            # one transaction: a batch's members are claimed together or not at all
            # (credentials: their narrow queue rows, not the credentials: see QueuedCredential)
            key = "credential_seq" if waiting_rows is not table else "seq"
            s.execute(
                update(waiting_rows),
                [{key: r.seq, "batch_id": batch.id, "leaf_index": i} for i, r in enumerate(rows)],
            )
            batch_id, root = batch.id, batch.root
        self._log(f"{self.kind} batch {batch_id}: {len(rows)} claimed, root 0x{root.hex()}")
        self._pause("claimed")
        return batch_id

    # ------------------------------------------------------------------ on chain

    def advance(self, batch_id: int) -> int:
        """Take a batch as far as the chain allows now: send a prepared one, confirm a sent one
        (or prepare it again when its block was replaced); returns how many members became
        final. Raises ChainError (ContractReverted when the chain refuses the authority)."""
        office = self.office
        with office.db.session() as s:
            batch = s.get(Batch, batch_id)
            assert batch is not None
            state, root, size = batch.state, bytes(batch.root), batch.size
            authority_id, block_number, block_hash = (
                batch.authority_id,
                batch.block_number,
                batch.block_hash,
            )
        if state == BatchState.ANCHORED:
            return 0
        if state == BatchState.SENT:
            assert block_number is not None
            head = office.chain.block_number()
            here = office.chain.block(block_number).hash if head >= block_number else None
            if here == block_hash:
                if head - block_number < office.deployment.confirmations:
                    return 0
                return self._final(batch_id)
            self._log(
                f"{self.kind} batch {batch_id}: block {block_number} was replaced; sending its "
                "root again"
            )
            self._prepare_again(batch_id, block_number)
        block_number, tx_hash = anchor_root_once(
            office.chain,
            office.deployment.anchor_registry,
            office.account(authority_id),
            root,
            size,
        )
        self._log(f"{self.kind} batch {batch_id}: in block {block_number} ({tx_hash})")
        self._pause("sent")
        block = office.chain.block(block_number)
        final = office.chain.block_number() - block_number >= office.deployment.confirmations
        with office.db.write_session() as s:  # reads the batch, then writes (and audits)
            batch = s.get(Batch, batch_id)
            assert batch is not None
            if batch.state != BatchState.PREPARED:
                return 0  # recorded already (by a run this one raced after a crash)
            batch.state = BatchState.ANCHORED if final else BatchState.SENT
            batch.chain_id = office.chain.chain_id
            batch.anchor_registry = office.deployment.anchor_registry
            batch.tx_hash = tx_hash
            batch.block_number = block_number
            batch.block_hash = block.hash
            batch.block_time = block.timestamp
            if final:
                _final_at(batch, datetime.now(UTC))
            record(
                s,
                actor="worker",
                action=self.action,
                authority_id=authority_id,
                details={
                    "batch": batch_id,
                    "root": root.hex(),
                    "size": size,
                    "block": block_number,
                    "tx": tx_hash,
                },
            )
        if final:
            self._observe(batch_id, size)
            return size
        return 0

    def _final(self, batch_id: int) -> int:
        with self.office.db.session() as s:
            batch = s.get(Batch, batch_id)
            assert batch is not None
            if batch.state != BatchState.SENT:
                return 0
            batch.state = BatchState.ANCHORED
            _final_at(batch, datetime.now(UTC))
            size = batch.size
        self._observe(batch_id, size)
        return size

    def _prepare_again(self, batch_id: int, block_number: int) -> None:
        with self.office.db.write_session() as s:
            batch = s.get(Batch, batch_id)
            assert batch is not None
            batch.state = BatchState.PREPARED
            batch.tx_hash = batch.block_hash = None
            batch.block_number = batch.block_time = None
            batch.anchored_at = None
            batch.wait_sum = batch.wait_max = None
            record(
                s,
                actor="worker",
                action="batch.reanchor",
                authority_id=batch.authority_id,
                details={
                    "batch": batch_id,
                    "root": bytes(batch.root).hex(),
                    "lostBlock": block_number,
                },
            )
