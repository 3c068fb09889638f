"""居住证 (ResidencePermit) steps: endorse (签注), renew (换领), replace (补领), change address."""

from __future__ import annotations

from collections.abc import Callable
from datetime import date, timedelta
from typing import Any, Unpack

from service.clock import iso_z
from service.issuing.office import Office
from service.lifecycle.steps import (
    DEFAULT_ENDORSE_WINDOW_DAYS,
    IN_FORCE,
    IN_FORCE_OR_SUSPENDED,
    TERM,
    EndorsementNotDue,
    Step,
    StepOptions,
    StepResult,
    as_request_path,
    china_date,
    china_time,
    require_term_open,
    run_step,
    subject_of,
    term_of,
)
from service.storage.models import (
    CredentialStatus,
)
from verifier.credential import (
    RESIDENCE_PERMIT,
)
from verifier.errors import FieldError, InvalidCredential

__all__ = ["change_address", "endorse", "renew", "replace"]


def endorse(
    office: Office,
    credential_id: str,
    *,
    window_days: int = DEFAULT_ENDORSE_WINDOW_DAYS,
    **options: Unpack[StepOptions],
) -> StepResult:
    """签注: a new version for the next term (see the module docstring for on time and late);
    raises EndorsementNotDue before the window opens, NotCurrent, NotApplicable, NotFound."""

    def act(step: Step) -> dict[str, Any]:
        _start, end = term_of(step)
        opens = end - timedelta(days=window_days)
        if step.now < opens:
            raise EndorsementNotDue(
                "endorsement_not_due",
                f"尚未到签注办理期：办理期自 {china_time(opens)} 起（有效期届满前 {window_days} "
                f"天），至 {china_time(end)} 止",
                f"the endorsement is not due yet: the window opens at {iso_z(opens)} "
                f"({window_days} days before the term ends at {iso_z(end)})",
                windowStart=iso_z(opens),
                validUntil=iso_z(end),
            )
        late = step.now >= end
        subject = subject_of(step)
        valid_from = step.now
        valid_until = step.now + TERM if late else end + TERM
        if late or "residenceSince" not in subject:
            subject["residenceSince"] = (step.today if late else _issue_date(step)).isoformat()
        subject["endorsements"] = [
            *subject.get("endorsements", []),
            {"date": step.today.isoformat(), "validUntil": china_date(valid_until).isoformat()},
        ]
        new = step.issue(
            subject,
            issue_date=_issue_date(step),
            valid_from=valid_from,
            valid_until=valid_until,
        )
        previous = step.row.status
        step.retire(CredentialStatus.SUPERSEDED, "superseded", "endorsed")
        step.record(
            {
                "reason": "endorsed",
                "late": late,
                "previousStatus": previous,
                "previousValidUntil": iso_z(end),
                "validUntil": iso_z(valid_until),
                "residenceSince": subject["residenceSince"],
            },
            new,
        )
        return new

    return run_step(
        office,
        credential_id,
        "endorse",
        act,
        types=(RESIDENCE_PERMIT,),
        statuses=IN_FORCE_OR_SUSPENDED,
        **options,
    )


def _issue_date(step: Step) -> date:
    return date.fromisoformat(str(step.document["credentialSubject"]["issueDate"]))


def _same_again(
    office_status: str,
    chain_status: str,
    reason: str,
) -> Callable[[Step], dict[str, Any]]:
    """renew and replace: a new version with the same content and term."""

    def act(step: Step) -> dict[str, Any]:
        start, end = require_term_open(step)
        new = step.issue(
            subject_of(step),
            issue_date=_issue_date(step),
            valid_from=start,
            valid_until=end,
        )
        step.retire(office_status, chain_status, reason)
        step.record({"reason": reason}, new)
        return new

    return act


def renew(
    office: Office,
    credential_id: str,
    **options: Unpack[StepOptions],
) -> StepResult:
    """换领 (damaged card): a new version, same content and term; the old one superseded."""
    return run_step(
        office,
        credential_id,
        "renew",
        _same_again(CredentialStatus.SUPERSEDED, "superseded", "damaged"),
        types=(RESIDENCE_PERMIT,),
        statuses=IN_FORCE,
        **options,
    )


def replace(
    office: Office,
    credential_id: str,
    **options: Unpack[StepOptions],
) -> StepResult:
    """补领 (lost card): a new version, same content and term; the old one revoked (lost)."""
    return run_step(
        office,
        credential_id,
        "replace",
        _same_again(CredentialStatus.REVOKED, "revoked", "lost"),
        types=(RESIDENCE_PERMIT,),
        statuses=IN_FORCE,
        **options,
    )


def change_address(
    office: Office,
    credential_id: str,
    residence_address: str,
    residence_region: str,
    **options: Unpack[StepOptions],
) -> StepResult:
    """变更居住地址: same city → new version, issue date kept (address_changed); another city
    inside the authority's region → a fresh permit, residence years restarting (moved_city);
    outside it → InvalidCredential (``residenceRegion``: region_outside_authority)."""

    def act(step: Step) -> dict[str, Any]:
        start, end = require_term_open(step)
        subject = subject_of(step)
        old_region = str(subject.get("residenceRegion", ""))
        if (subject.get("residenceAddress"), old_region) == (residence_address, residence_region):
            raise InvalidCredential(
                [
                    FieldError(
                        "residenceAddress",
                        "no_changes",
                        "新的居住地址与现有地址相同，无需变更",
                        "the new residence address is the one on the permit already",
                    )
                ]
            )
        subject["residenceAddress"] = residence_address
        subject["residenceRegion"] = residence_region
        path = as_request_path("")
        if residence_region[:4] == old_region[:4]:
            new = step.issue(
                subject,
                issue_date=_issue_date(step),
                valid_from=start,
                valid_until=end,
                path=path,
            )
            reason = "address_changed"
        else:
            for issuer_field in ("endorsements", "residenceSince", "issueDate"):
                subject.pop(issuer_field, None)
            new = step.issue(
                subject,
                issue_date=step.today,
                valid_from=step.now,
                valid_until=step.now + TERM,
                fresh_lineage=True,
                path=path,
            )
            reason = "moved_city"
        step.retire(CredentialStatus.SUPERSEDED, "superseded", reason)
        step.record({"reason": reason, "fromRegion": old_region, "toRegion": residence_region}, new)
        return new

    return run_step(
        office,
        credential_id,
        "change_address",
        act,
        types=(RESIDENCE_PERMIT,),
        statuses=IN_FORCE,
        **options,
    )
