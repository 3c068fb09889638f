"""SD-JWTs claimed into wallets: their issuer-signed JWTs' digests anchored in Merkle batches.

``SdJwtAnchorer`` anchors the digests ``service.wallet.oid4vci`` queued, per authority, with
the authority's chain account, through the same ``BatchQueue`` as credentials (batches of kind
``sdjwt``): stored before sent, never sent twice, final at the deployment's depth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable

from sqlalchemy import select

from service.anchoring.batches import BatchQueue
from service.issuing.office import Office
from service.storage.models import Authority, BatchKind
from service.storage.wallet import SdJwtCredential

__all__ = ["SdJwtAnchorer"]


class SdJwtAnchorer:
    """Anchors queued SD-JWT digests per authority (see the module docstring)."""

    def __init__(
        self,
        office: Office,
        *,
        batch_size: int = 1000,
        batch_age_seconds: float = 5.0,
        log: Callable[[str], None] | None = None,
    ):
        self.office = office
        self.queue = BatchQueue(
            office,
            SdJwtCredential,
            BatchKind.SDJWT,
            batch_size=batch_size,
            batch_age_seconds=batch_age_seconds,
            action="wallet.batch.anchor",
            log=log or (lambda _message: None),
        )
        self._lock = threading.Lock()

    def queue_depth(self) -> int:
        """SD-JWTs not anchored (final) yet."""
        return self.queue.depth()

    def run_once(self, *, force: bool = False) -> int:
        """One pass over every authority; returns how many SD-JWTs became final."""
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
            for batch_id in self.queue.unfinished(authority_id):
                done += self.queue.advance(batch_id)
            claimed = self.queue.claim(authority_id, force=force)
            if claimed is not None:
                done += self.queue.advance(claimed)
            return done
