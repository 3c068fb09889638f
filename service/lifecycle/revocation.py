"""Ending a credential: revoke (吊销) and cancel (注销), for every type that allows them."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Unpack

from service.issuing.office import Office
from service.lifecycle.residence_years import revoke_derived
from service.lifecycle.steps import (
    CANCEL_REASONS,
    IN_FORCE_OR_SUSPENDED,
    REVOKE_REASONS,
    Step,
    StepCaller,
    StepResult,
    run_step,
)
from service.storage.models import (
    CredentialStatus,
)
from verifier.credential import (
    BUSINESS_LICENSE,
    RESIDENCE_PERMIT,
    RESIDENCE_YEARS,
)
from verifier.errors import FieldError, InvalidCredential
from verifier.status import reason_by_name

_NOTE_MAX = 500  # characters of a revocation's note (kept in the audit trail only)

__all__ = ["cancel", "revoke"]


def _choose_reason(
    given: str | None, allowed: Mapping[str, Sequence[str]], credential_type: str
) -> str:
    """The reason given, or a licence's default (the first); a permit must name one."""
    choices = allowed.get(credential_type, ())
    if given is None and credential_type == BUSINESS_LICENSE and choices:
        return choices[0]
    if given in choices:
        assert given is not None
        return given
    shown = "、".join(f"{r}（{reason_by_name(r).zh}）" for r in choices)
    raise InvalidCredential(
        [
            FieldError(
                "reason",
                "field_required" if given is None else "reason_not_allowed",
                f"请给出原因，可选：{shown}",
                f"give a reason, one of: {', '.join(choices)}",
            )
        ]
    )


def revoke(
    office: Office,
    credential_id: str,
    *,
    reason: str | None = None,
    note: str = "",
    **options: Unpack[StepCaller],
) -> StepResult:
    """吊销: revoke on chain with ``reason`` (a licence: licence_revoked by default, or
    issuer_error; a permit or a residence-years credential: issuer_error), the free-text
    ``note`` only in the audit trail. A permit revoked for issuer_error takes the
    residence-years credentials derived from its lineage with it (same transaction)."""
    if len(note) > _NOTE_MAX:
        raise InvalidCredential(
            [
                FieldError(
                    "note",
                    "field_too_long",
                    f"说明过长，最多 {_NOTE_MAX} 个字",
                    f"the note is too long (at most {_NOTE_MAX} characters)",
                )
            ]
        )

    def act(step: Step) -> None:
        why = _choose_reason(reason, REVOKE_REASONS, step.row.credential_type)
        previous = step.row.status
        step.retire(CredentialStatus.REVOKED, "revoked", why)
        step.record({"reason": why, "note": note, "previousStatus": previous})
        if why == "issuer_error" and step.row.credential_type == RESIDENCE_PERMIT:
            revoke_derived(step.session, step.row, reason=why, now=step.now, actor=step.actor)

    return run_step(
        office,
        credential_id,
        "revoke",
        act,
        types=(RESIDENCE_PERMIT, BUSINESS_LICENSE, RESIDENCE_YEARS),
        statuses=IN_FORCE_OR_SUSPENDED,
        signs=False,
        **options,
    )


def cancel(
    office: Office,
    credential_id: str,
    *,
    reason: str | None = None,
    **options: Unpack[StepCaller],
) -> StepResult:
    """注销: a permit on hukou_registered or deceased, a licence with licence_cancelled;
    revoked on chain with that reason, ``cancelled`` in the office's books."""

    def act(step: Step) -> None:
        why = _choose_reason(reason, CANCEL_REASONS, step.row.credential_type)
        previous = step.row.status
        step.retire(CredentialStatus.CANCELLED, "revoked", why)
        step.record({"reason": why, "previousStatus": previous})

    return run_step(
        office,
        credential_id,
        "cancel",
        act,
        types=(RESIDENCE_PERMIT, BUSINESS_LICENSE),
        statuses=IN_FORCE_OR_SUSPENDED,
        signs=False,
        **options,
    )
