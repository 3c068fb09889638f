"""营业执照 (BusinessLicense) steps: amend (变更登记)."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Unpack

from service.issuing.office import Office
from service.lifecycle.steps import (
    IN_FORCE,
    Step,
    StepOptions,
    StepResult,
    as_request_path,
    require_term_open,
    run_step,
    subject_of,
)
from service.storage.models import (
    CredentialStatus,
)
from verifier.credential import (
    BUSINESS_LICENSE,
)
from verifier.errors import FieldError, InvalidCredential

_NOT_AMENDABLE = ("uscc", "establishmentDate", "issueDate")  # the entity's identity; the issuer's

__all__ = ["amend"]


def amend(
    office: Office,
    credential_id: str,
    changes: Mapping[str, Any],
    **options: Unpack[StepOptions],
) -> StepResult:
    """变更登记: the changed subject fields in a new version (issued today, same end of
    validity); the old one superseded (amended). ``uscc``, ``establishmentDate`` and
    ``issueDate`` cannot be amended; field errors carry ``subject.<field>`` paths."""

    def act(step: Step) -> dict[str, Any]:
        _start, end = require_term_open(step)
        subject = subject_of(step)
        refused = [
            FieldError(
                f"subject.{name}",
                "field_not_amendable",
                f"“{name}”不能通过变更登记修改",
                f"{name} cannot be changed by an amendment",
            )
            for name in changes
            if name in _NOT_AMENDABLE
        ]
        if refused:
            raise InvalidCredential(refused)
        changed = sorted(k for k, v in changes.items() if subject.get(k, _MISSING) != v)
        if not changed:
            raise InvalidCredential(
                [
                    FieldError(
                        "subject",
                        "no_changes",
                        "变更内容与现有登记事项相同，没有可变更的内容",
                        "nothing to amend: every field given already holds that value",
                    )
                ]
            )
        subject.update(changes)
        subject.pop("issueDate", None)
        new = step.issue(
            subject,
            issue_date=step.today,
            valid_from=step.now,
            valid_until=end,
            path=as_request_path("subject."),
        )
        step.retire(CredentialStatus.SUPERSEDED, "superseded", "amended")
        step.record({"reason": "amended", "fields": changed}, new)
        return new

    return run_step(
        office,
        credential_id,
        "amend",
        act,
        types=(BUSINESS_LICENSE,),
        statuses=IN_FORCE,
        **options,
    )


_MISSING = object()
