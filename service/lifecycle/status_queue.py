"""The status queue: a credential's status change is queued with the change itself, in one
transaction, for the anchoring side's sender (``service.anchoring.status_sender``) to put on chain.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from service.issuing.office import Office
from service.storage.models import StatusChange
from verifier.status import reason_by_name, status_code

__all__ = ["ChangeState", "enqueue", "local_changes", "queue_depth"]


class ChangeState:
    """Where a status change is on its way to the chain."""

    PENDING = "pending"  # in the queue
    SENT = "sent"  # claimed into a transaction whose outcome is not recorded yet
    DONE = "done"  # on chain
    REJECTED = "rejected"  # the chain refuses it for good (logged and audited)


_local_changes = 0  # status changes this process queued (see ``local_changes``)


def local_changes() -> int:
    """How many status changes this process has queued so far: a reader that caches which
    credentials have changes compares it to know when to read again."""
    return _local_changes


def queue_depth(office: Office) -> int:
    """Status changes not yet on chain (pending or sent), all authorities."""
    with office.db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(StatusChange)
                .where(StatusChange.state.in_((ChangeState.PENDING, ChangeState.SENT)))
            )
            or 0
        )


def enqueue(
    session: Session,
    *,
    authority_id: int,
    credential_id: str,
    status: str,
    reason: str,
    now: datetime | None = None,
) -> StatusChange:
    """Queue a status change in ``session``'s transaction (it commits with the change itself).

    ``status`` is an on-chain status name (``revoked``, ``suspended``, ``reinstated``,
    ``superseded``), ``reason`` a name from ``verifier.status.STATUS_REASONS``; raises
    ValueError for either unknown."""
    status_code(status)
    global _local_changes
    _local_changes += 1
    row = StatusChange(
        authority_id=authority_id,
        credential_id=credential_id,
        status=status,
        reason=reason,
        reason_code=reason_by_name(reason).code,
        state=ChangeState.PENDING,
        requested_at=now or datetime.now(UTC),
    )
    session.add(row)
    return row
