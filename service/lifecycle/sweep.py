"""The sweep: active permits whose term ended without endorsement become suspended."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import select

from service.audit import trail
from service.clock import aware, iso_z, utc_now
from service.issuing.office import Office
from service.lifecycle.status_queue import enqueue
from service.storage.models import (
    Credential,
    CredentialStatus,
)
from verifier.credential import (
    RESIDENCE_PERMIT,
)

__all__ = ["sweep"]


def sweep(
    office: Office, *, now: datetime | None = None, actor: str = "worker", chunk: int = 500
) -> int:
    """Suspend every active permit whose term has ended (endorsement_lapsed), ``chunk`` per
    transaction, each with its status change queued and an audit row; returns how many."""
    now = aware(now or utc_now())
    suspended, after = 0, 0
    while True:
        with office.db.write_session() as s:
            rows = s.scalars(
                select(Credential)
                .where(
                    Credential.credential_type == RESIDENCE_PERMIT,
                    Credential.status == CredentialStatus.ACTIVE,
                    Credential.seq > after,
                    Credential.valid_until <= now,
                )
                .order_by(Credential.seq)
                .limit(chunk)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return suspended
            after = rows[-1].seq
            for row in rows:
                assert row.valid_until is not None
                end = aware(row.valid_until)
                row.status = CredentialStatus.SUSPENDED
                row.status_reason = "endorsement_lapsed"
                row.status_changed_at = now
                enqueue(
                    s,
                    authority_id=row.authority_id,
                    credential_id=row.id,
                    status="suspended",
                    reason="endorsement_lapsed",
                    now=now,
                )
                trail.record(
                    s,
                    actor=actor,
                    action="credential.suspend",
                    authority_id=row.authority_id,
                    credential_id=row.id,
                    details={
                        "reason": "endorsement_lapsed",
                        "lineageId": row.lineage_id,
                        "version": row.version,
                        "validUntil": iso_z(end),
                    },
                    at=now,
                )
                suspended += 1
