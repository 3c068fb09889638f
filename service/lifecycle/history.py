"""Reading a credential's story: every version of its lineage, and the office's own status."""

from __future__ import annotations

import dataclasses
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from service.audit import trail
from service.clock import aware, iso_z, utc_now
from service.issuing.office import Office
from service.issuing.receipts import receipt_of
from service.lifecycle.status_queue import ChangeState
from service.lifecycle.steps import (
    IN_FORCE_OR_SUSPENDED,
    china_date,
    locate,
    reason_entry,
)
from service.storage.models import (
    AnchorState,
    Authority,
    Batch,
    Credential,
    CredentialStatus,
    QueuedCredential,
    StatusChange,
)
from verifier.credential import (
    RESIDENCE_PERMIT,
    residence_years,
)
from verifier.messages import Reason
from verifier.status import STATUS_CODES, status_label
from verifier.verify import CheckResult, Outcome, Report, Verdict

__all__ = ["OfficeStatus", "history", "office_status", "with_office_status"]


def _lineage_rows(s: Session, start: Credential) -> list[Credential]:
    """Every version of the credential's story: its lineage and the lineages it moved from or
    to (a move to another city starts a new lineage whose first version links back)."""
    lineages = {start.lineage_id}
    rows: dict[str, Credential] = {}
    for _ in range(64):  # a permit moves city a handful of times in a life, never 64
        found = list(s.scalars(select(Credential).where(Credential.lineage_id.in_(lineages))))
        ids = {r.id for r in found}
        links = {r.previous_id for r in found if r.previous_id and r.previous_id not in ids}
        more = set(s.scalars(select(Credential.lineage_id).where(Credential.id.in_(links))))
        more |= set(s.scalars(select(Credential.lineage_id).where(Credential.previous_id.in_(ids))))
        rows.update({r.id: r for r in found})
        if more <= lineages:
            break
        lineages |= more
    return sorted(rows.values(), key=lambda r: r.seq)


def history(
    office: Office,
    credential_id: str,
    *,
    authority_id: int | None = None,
    now: datetime | None = None,
) -> dict[str, Any]:
    """The whole story of a credential from any version's id: every version with its status,
    reason, times, anchor state and receipt summary, and whether its status change is on chain.
    Raises NotFound (unknown, or another authority's)."""
    now = aware(now or utc_now())
    locate(office, credential_id, authority_id)
    with office.db.session() as s:
        start = s.scalar(select(Credential).where(Credential.id == credential_id))
        assert start is not None
        rows = _lineage_rows(s, start)
        changes: dict[str, list[StatusChange]] = {}
        for change in s.scalars(
            select(StatusChange)
            .where(StatusChange.credential_id.in_([r.id for r in rows]))
            .order_by(StatusChange.seq)
        ):
            changes.setdefault(change.credential_id, []).append(change)
        notes = {  # chained or still in the audit inbox
            credential: str(details["note"])
            for credential, details in trail.recorded(
                s, action="credential.revoke", credential_ids=[r.id for r in rows]
            )
            if details.get("note")
        }
        # each version's batch and place: stored with it, or claimed from the queue
        places: dict[int, tuple[int | None, int | None]] = {
            seq: (batch_id, leaf)
            for seq, batch_id, leaf in s.execute(
                select(
                    QueuedCredential.credential_seq,
                    QueuedCredential.batch_id,
                    QueuedCredential.leaf_index,
                ).where(QueuedCredential.credential_seq.in_([r.seq for r in rows]))
            )
        }
        for r in rows:
            if r.batch_id is not None:
                places[r.seq] = (r.batch_id, r.leaf_index)
        batch_ids = {b for b, _ in places.values() if b is not None}
        batches = (
            {b.id: b for b in s.scalars(select(Batch).where(Batch.id.in_(batch_ids)))}
            if batch_ids
            else {}
        )
    versions = []
    for r in rows:
        batch_id, leaf = places.get(r.seq, (None, None))
        batch = batches.get(batch_id) if batch_id is not None else None
        versions.append(
            _version_json(office, r, batch, leaf, changes.get(r.id, []), notes.get(r.id))
        )
    newest = rows[-1]
    result: dict[str, Any] = {
        "credentialId": credential_id,
        "lineageId": start.lineage_id,
        "credentialType": start.credential_type,
        "current": next((r.id for r in reversed(rows) if r.status in IN_FORCE_OR_SUSPENDED), None),
        "versions": versions,
    }
    if start.credential_type == RESIDENCE_PERMIT:
        subject = office.document(newest).get("credentialSubject", {})
        since = subject.get("residenceSince")
        result["residenceSince"] = since
        result["residenceYears"] = residence_years(subject, china_date(now)) if since else None
    return result


def _version_json(
    office: Office,
    row: Credential,
    batch: Batch | None,
    leaf_index: int | None,
    changes: Sequence[StatusChange],
    note: str | None,
) -> dict[str, Any]:
    receipt = receipt_of(batch, leaf_index) or {}
    document = office.document(row)
    reason = reason_entry(row.status_reason)
    last = changes[-1] if changes else None
    entry: dict[str, Any] = {
        "id": row.id,
        "lineageId": row.lineage_id,
        "version": row.version,
        "previousId": row.previous_id,
        "keyId": row.key_id,
        "issuedAt": iso_z(row.created_at),
        "validFrom": document.get("validFrom"),
        "validUntil": document.get("validUntil"),
        "status": row.status,
        "reason": row.status_reason,
        "reasonZh": reason.zh if reason else None,
        "reasonEn": reason.en if reason else None,
        "statusChangedAt": iso_z(row.status_changed_at) if row.status_changed_at else None,
        "anchor": {
            "state": AnchorState.of(batch.state if batch is not None else None),
            "blockNumber": receipt.get("blockNumber"),
            "blockTime": receipt.get("blockTime"),
            "transactionHash": receipt.get("transactionHash"),
            "root": receipt.get("root"),
            "leafIndex": receipt.get("leafIndex"),
            "treeSize": receipt.get("treeSize"),
        },
        "statusOnChain": None if last is None else last.state == ChangeState.DONE,
        "statusChanges": [
            {
                "status": c.status,
                "reason": c.reason,
                "reasonCode": c.reason_code,
                "state": c.state,
                "requestedAt": iso_z(c.requested_at),
                "doneAt": iso_z(c.done_at) if c.done_at else None,
                "transactionHash": c.tx_hash,
                "blockNumber": c.block_number,
            }
            for c in changes
        ],
    }
    if note:
        entry["note"] = note
    return entry


@dataclass(frozen=True)
class OfficeStatus:
    """A credential's status in its office's books, when it is not simply in force."""

    status: str
    reason: str | None


_OFFICE_STATUS = (
    select(Credential.status, Credential.status_reason)
    .join(Authority, Authority.id == Credential.authority_id)
    .where(Credential.id == bindparam("credential_id"), Authority.did == bindparam("issuer"))
)


def office_status(office: Office, issuer: str, credential_id: str) -> OfficeStatus | None:
    """The office's own status of one of its credentials (``issuer`` is its DID) when that is
    not ``active``; None for an active one or a credential this office did not issue. One
    indexed read on a plain connection (every ``/v1/verify`` of a credential asks it)."""
    with office.db.engine.connect() as connection:
        found = connection.execute(
            _OFFICE_STATUS, {"credential_id": credential_id, "issuer": issuer}
        ).first()
    if found is None or found.status == CredentialStatus.ACTIVE:
        return None
    return OfficeStatus(found.status, found.status_reason)


_CHAIN_STATUS = {
    CredentialStatus.SUSPENDED: "suspended",
    CredentialStatus.SUPERSEDED: "superseded",
    CredentialStatus.REVOKED: "revoked",
    CredentialStatus.CANCELLED: "revoked",
}


def with_office_status(report: Report, known: OfficeStatus) -> Report:
    """The issuer's own report of its credential: when the office has changed the status and
    the chain (as the verifier has read it) does not show it yet, the ``status`` check is
    ``pending`` with the new status and reason, and the verdict never VALID."""
    status = report.check("status")
    if status.outcome is not Outcome.PASS or known.status not in _CHAIN_STATUS:
        return report  # the chain already says so (or nothing was checked)
    if known.status == CredentialStatus.CANCELLED:
        zh, en = "已注销", "cancelled (revoked on chain)"
    else:
        zh, en = status_label(STATUS_CODES[_CHAIN_STATUS[known.status]])
    reason = reason_entry(known.reason)
    pending = CheckResult(
        "status",
        Outcome.PENDING,
        Reason(
            "status_change_pending",
            f"{zh}" + (f"（{reason.zh}）" if reason else "") + "，链上确认中",
            f"{en}" + (f" ({reason.en})" if reason else "") + ", on-chain confirmation pending",
        ),
    )
    checks = tuple(pending if c.name == "status" else c for c in report.checks)
    verdict = Verdict.INVALID if any(c.outcome is Outcome.FAIL for c in checks) else Verdict.PENDING
    return dataclasses.replace(report, checks=checks, verdict=verdict)
