"""What anchoring has done, read from the database (``/metrics``): every worker's work, in
whichever process it ran, survives restarts, and agrees with the rows it counts."""

from __future__ import annotations

from dataclasses import dataclass

from sqlalchemy import func, select

from service.storage.db import Database
from service.storage.models import Batch, BatchKind, BatchState, Credential

__all__ = ["AnchoringFigures", "anchoring_figures", "issued_by_type"]

RECENT_BATCHES = 1000


@dataclass(frozen=True)
class AnchoringFigures:
    """Final credential batches: how many, their members, the members' summed waits (over
    batches that recorded them) and the oldest member's wait of each of the latest batches."""

    batches: int
    anchored: int
    wait_sum: float
    wait_count: int
    recent_wait_max: tuple[float, ...]


def anchoring_figures(db: Database) -> AnchoringFigures:
    """The figures (three indexed queries; no member rows are read)."""
    final = (Batch.kind == BatchKind.CREDENTIAL, Batch.state == BatchState.ANCHORED)
    with db.session() as s:
        batches, anchored = s.execute(
            select(func.count(), func.coalesce(func.sum(Batch.size), 0)).where(*final)
        ).one()
        wait_sum, wait_count = s.execute(
            select(
                func.coalesce(func.sum(Batch.wait_sum), 0.0),
                func.coalesce(func.sum(Batch.size), 0),
            ).where(*final, Batch.wait_sum.is_not(None))
        ).one()
        recent = s.scalars(
            select(Batch.wait_max)
            .where(*final, Batch.wait_max.is_not(None))
            .order_by(Batch.id.desc())
            .limit(RECENT_BATCHES)
        ).all()
    return AnchoringFigures(
        int(batches),
        int(anchored),
        float(wait_sum or 0.0),
        int(wait_count),
        tuple(float(w) for w in recent if w is not None),
    )


def issued_by_type(db: Database) -> dict[str, int]:
    """Credentials ever issued here, by type: single, batch, bulk and life-cycle versions
    alike (rows are never deleted)."""
    with db.session() as s:
        rows = s.execute(
            select(Credential.credential_type, func.count()).group_by(Credential.credential_type)
        ).all()
    return {str(kind): int(n) for kind, n in rows}
