"""SD-JWTs claimed into wallets: their issuer-signed JWTs' digests anchored in Merkle batches.

``SdJwtAnchorer`` anchors the digests ``service.wallet.oid4vci`` queued, per authority, with
the authority's chain account, crash-safely in the worker's manner: the batch root and leaf
order are stored before the transaction is sent; a root already on chain is never sent twice
(the chain is asked).
"""

from __future__ import annotations

import threading
from datetime import UTC, datetime

from sqlalchemy import func, select, update

from service.anchoring.batches import anchor_root_once, members_receipts
from service.audit.trail import record
from service.clock import aware
from service.issuing.office import Office
from service.storage.models import AnchorState, Authority
from service.storage.wallet import SdJwtCredential
from verifier.merkle import MerkleTree

__all__ = ["SdJwtAnchorer"]


class SdJwtAnchorer:
    """Anchors queued SD-JWT digests per authority (see the module docstring)."""

    def __init__(self, office: Office, *, batch_size: int = 1000, batch_age_seconds: float = 5.0):
        self.office = office
        self.batch_size = batch_size
        self.batch_age_seconds = batch_age_seconds
        self._lock = threading.Lock()

    def queue_depth(self) -> int:
        """SD-JWTs not anchored yet."""
        with self.office.db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(SdJwtCredential)
                    .where(SdJwtCredential.anchor_state != AnchorState.ANCHORED)
                )
                or 0
            )

    def run_once(self, *, force: bool = False) -> int:
        """One pass over every authority; returns how many SD-JWTs were anchored."""
        done = 0
        with self._lock:
            for authority in self.office.authorities():
                done += self._serve(authority.id, force=force)
        return done

    def _serve(self, authority_id: int, *, force: bool) -> int:
        with self.office.db.session() as lock:
            locked = lock.scalar(
                select(Authority.id)
                .where(Authority.id == authority_id)
                .with_for_update(skip_locked=True, key_share=True)
            )
            if locked is None:
                return 0
            done = 0
            for root in self._unfinished(authority_id):
                done += self._finish(authority_id, root)
            claimed = self._claim(authority_id, force=force)
            if claimed is not None:
                done += self._finish(authority_id, claimed)
            return done

    def _unfinished(self, authority_id: int) -> list[bytes]:
        with self.office.db.session() as s:
            roots = s.scalars(
                select(SdJwtCredential.batch_root)
                .where(
                    SdJwtCredential.authority_id == authority_id,
                    SdJwtCredential.anchor_state == AnchorState.BATCHED,
                )
                .distinct()
            ).all()
        return [bytes(r) for r in roots if r is not None]

    def _claim(self, authority_id: int, *, force: bool) -> bytes | None:
        with self.office.db.session() as s:
            rows = s.execute(
                select(SdJwtCredential.seq, SdJwtCredential.digest, SdJwtCredential.created_at)
                .where(
                    SdJwtCredential.authority_id == authority_id,
                    SdJwtCredential.anchor_state == AnchorState.PENDING,
                )
                .order_by(SdJwtCredential.seq)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return None
            waited = (datetime.now(UTC) - aware(rows[0].created_at)).total_seconds()
            if not force and len(rows) < self.batch_size and waited < self.batch_age_seconds:
                return None
            tree = MerkleTree(bytes(r.digest) for r in rows)
            s.execute(
                update(SdJwtCredential),
                [
                    {
                        "seq": r.seq,
                        "batch_root": tree.root,
                        "leaf_index": i,
                        "anchor_state": AnchorState.BATCHED,
                    }
                    for i, r in enumerate(rows)
                ],
            )
        return tree.root

    def _finish(self, authority_id: int, root: bytes) -> int:
        office = self.office
        found = anchor_root_once(
            office.chain,
            office.deployment.anchor_registry,
            office.account(authority_id),
            root,
            self._size(root),
        )
        block_number, tx_hash = found
        block_time = office.chain.block_time(block_number)
        with office.db.write_session() as s:
            rows = s.execute(
                select(SdJwtCredential.seq, SdJwtCredential.digest)
                .where(SdJwtCredential.batch_root == root)
                .order_by(SdJwtCredential.leaf_index)
            ).all()
            receipts = members_receipts(
                office.chain,
                office.deployment.anchor_registry,
                [bytes(r.digest) for r in rows],
                root,
                block_number=block_number,
                block_time=block_time,
                transaction_hash=tx_hash,
                what=f"SD-JWT batch 0x{root.hex()}",
            )
            s.execute(
                update(SdJwtCredential),
                [
                    {"seq": r.seq, "receipt": rc.to_json(), "anchor_state": AnchorState.ANCHORED}
                    for r, rc in zip(rows, receipts, strict=True)
                ],
            )
            record(
                s,
                actor="worker",
                action="wallet.batch.anchor",
                authority_id=authority_id,
                details={
                    "root": root.hex(),
                    "size": len(rows),
                    "block": block_number,
                    "tx": tx_hash,
                },
            )
        return len(rows)

    def _size(self, root: bytes) -> int:
        with self.office.db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(SdJwtCredential)
                    .where(SdJwtCredential.batch_root == root)
                )
                or 0
            )
