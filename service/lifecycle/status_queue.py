"""The status queue: a credential's status change is queued with the change itself, in one
transaction, for the anchoring side's sender (``service.anchoring.status_sender``) to put on chain.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import event, func, select
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
    """How many transactions of this process have committed status changes so far: a reader
    that caches which credentials have changes compares it to know when to read again.

    Counted once the transaction has committed, never before: a reader that took the count
    and then read the table between the two would otherwise hold a set without the change
    as up to date."""
    return _local_changes


_COUNTED = "suixin.status_changes_counted"  # a session's key: its next commit is counted
_LISTENING = "suixin.status_changes_listening"  # a session's key: its listeners are set


def _count_on_commit(session: Session) -> None:
    """Count the status changes of ``session``'s transaction once it commits (once per
    transaction, however many it queued); the session's listeners are set once."""
    session.info[_COUNTED] = True
    if not session.info.get(_LISTENING):
        session.info[_LISTENING] = True
        event.listen(session, "after_commit", _committed)
        event.listen(session, "after_rollback", _forget)


def _committed(session: Session) -> None:
    global _local_changes
    if session.info.pop(_COUNTED, None):
        _local_changes += 1


def _forget(session: Session) -> None:
    session.info.pop(_COUNTED, None)  # rolled back: nothing was queued


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
    _count_on_commit(session)
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
