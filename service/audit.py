"""The audit trail: every state-changing action appends one row to a hash chain.

Row ``n`` holds who (an actor: ``apikey:<id>``, ``cli``, ``worker``), what (an action name),
which authority and credential, when, a few details (never a citizen ID number or a key), the
hash of row ``n-1`` and its own hash: SHA-256 over the JCS form of all of those. Editing,
deleting or inserting a row breaks the chain at that row. ``audit_head`` (one row) holds the
newest sequence number and hash; an append updates it first, which serialises appenders on both
databases and keeps an append in the same transaction as the action it records.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import text
from sqlalchemy.orm import Session

from service.storage.models import AuditEntry
from verifier.jcs import canonicalize

__all__ = ["GENESIS", "AuditRecord", "record", "row_hash"]

GENESIS = bytes(32)  # the "previous hash" of the first row


@dataclass(frozen=True)
class AuditRecord:
    """An appended row's sequence number and hash."""

    seq: int
    row_hash: bytes


def _timestamp(at: datetime) -> str:
    aware = at if at.tzinfo is not None else at.replace(tzinfo=UTC)  # SQLite reads back naive
    return aware.astimezone(UTC).isoformat(timespec="microseconds").replace("+00:00", "Z")


def row_hash(
    seq: int,
    at: datetime,
    actor: str,
    action: str,
    authority_id: int | None,
    credential_id: str | None,
    details: Mapping[str, Any],
    prev_hash: bytes,
) -> bytes:
    """The hash of one row: SHA-256 of the JCS form of its fields and the previous hash."""
    body = {
        "seq": seq,
        "at": _timestamp(at),
        "actor": actor,
        "action": action,
        "authorityId": authority_id,
        "credentialId": credential_id,
        "details": dict(details),
        "prev": prev_hash.hex(),
    }
    return hashlib.sha256(canonicalize(body)).digest()


def record(
    session: Session,
    *,
    actor: str,
    action: str,
    authority_id: int | None = None,
    credential_id: str | None = None,
    details: Mapping[str, Any] | None = None,
    at: datetime | None = None,
) -> AuditRecord:
    """Append a row in ``session``'s transaction (it commits or rolls back with the action).

    On SQLite the session must already hold the write lock (``Database.write_session`` or an
    earlier write in the same transaction)."""
    at = at or datetime.now(UTC)
    details = dict(details or {})
    seq, prev = session.execute(
        text("UPDATE audit_head SET seq = seq + 1 WHERE id = 1 RETURNING seq, hash")
    ).one()
    digest = row_hash(seq, at, actor, action, authority_id, credential_id, details, bytes(prev))
    session.add(
        AuditEntry(
            seq=seq,
            at=at,
            actor=actor,
            action=action,
            authority_id=authority_id,
            credential_id=credential_id,
            details=details,
            prev_hash=bytes(prev),
            row_hash=digest,
        )
    )
    session.execute(text("UPDATE audit_head SET hash = :h WHERE id = 1"), {"h": digest})
    session.flush()
    return AuditRecord(seq, digest)
