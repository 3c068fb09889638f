"""The credential life cycle: endorse, renew, replace, change address, amend, revoke, cancel, sweep.

居住证 (ResidencePermit): a version's ``validFrom``/``validUntil`` is its current yearly term;
``credentialSubject.endorsements`` collects one ``{date, validUntil}`` per endorsement and
``residenceSince`` (连续居住起算日期) starts the count of continuous residence years.

- ``endorse`` (签注) in the window of ``window_days`` before the term ends: a new version valid
  from now until the old end + one term (365 days, the issuance default), ``residenceSince``
  kept. Valid from now rather than from the old end, so the holder is never left between a
  superseded version and one not yet valid. After the term ended (late): a new term from now
  and ``residenceSince`` restarts today. Too early: ``endorsement_not_due``.
- ``sweep``: active permits whose term has ended become ``suspended`` (endorsement_lapsed).
- ``renew`` (换领, damaged) and ``replace`` (补领, lost): a new version, same content and term;
  the old one superseded (damaged) or revoked (lost).
- ``change_address``: inside the same city (first four digits of the region code) a new version
  with the issue date kept (address_changed); into another city a fresh permit, a new lineage
  whose first version links back (``previous_id``), residence years restarting (moved_city).
- ``cancel`` (注销): hukou_registered or deceased; revoked on chain, ``cancelled`` here.

营业执照 (BusinessLicense): ``amend`` (变更登记, amended), ``revoke`` (吊销, licence_revoked, with
a note kept off chain in the audit trail), ``cancel`` (注销, licence_cancelled).

Every step is one database transaction (``Database.write_session``): the acted-on row locked,
the new version inserted into the anchoring queue, the old row's status, its ``StatusChange``
queued for the chain (``service.status_queue``) and an audit row. Only the newest version in
force can be acted on (for a late endorsement, a suspended one), so a retried request never
makes a second version: it finds the old one no longer current (409), or with the same
``Idempotency-Key`` gets the first answer back. Every function takes ``now`` (the office clock)
so tests need not wait a year.

Errors: ``NotFound`` (unknown, or another authority's), ``LifecycleError`` and its subclasses
(the step does not apply to the credential as it stands: HTTP 409, stable code, 中文/English),
``InvalidCredential`` (field errors with the request's paths: HTTP 422), ``IdempotencyConflict``.
"""

from __future__ import annotations

import argparse
import copy
import dataclasses
import json
import sys
import time
import uuid
from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any, TypedDict, Unpack

from sqlalchemy import bindparam, select
from sqlalchemy.orm import Session

from service import audit
from service.clock import aware, iso_z, parse_timestamp, utc_now
from service.config import Settings
from service.issuance import status_entry
from service.keys import LocalSigner
from service.office import IdempotencyConflict, NotFound, Office, stored_bundle
from service.status_queue import ChangeState, StatusSender, enqueue
from service.storage.models import (
    AnchorState,
    Authority,
    Credential,
    CredentialStatus,
    StatusChange,
)
from verifier.credential import (
    BUSINESS_LICENSE,
    CHINA_TIME,
    RESIDENCE_PERMIT,
    RESIDENCE_YEARS,
    build_credential,
    residence_years,
    validate_credential,
)
from verifier.errors import FieldError, InvalidCredential, SuixinError
from verifier.messages import Reason
from verifier.proofs import sign_credential_with_digest
from verifier.status import STATUS_CODES, StatusReason, reason_by_name, status_label
from verifier.verify import CheckResult, Outcome, Report, Verdict

__all__ = [
    "CANCEL_REASONS",
    "DEFAULT_ENDORSE_WINDOW_DAYS",
    "REVOKE_REASONS",
    "TERM",
    "EndorsementNotDue",
    "LifecycleError",
    "LifecycleTasks",
    "NotApplicable",
    "NotCurrent",
    "OfficeStatus",
    "StepResult",
    "TermEnded",
    "add_commands",
    "amend",
    "cancel",
    "change_address",
    "endorse",
    "history",
    "office_status",
    "renew",
    "replace",
    "revoke",
    "sweep",
    "with_office_status",
]

TERM = timedelta(days=365)  # one yearly term, as issuance's default validity
DEFAULT_ENDORSE_WINDOW_DAYS = 30

# reasons a caller may give, by credential type (a licence's first one is its default)
CANCEL_REASONS: dict[str, tuple[str, ...]] = {
    RESIDENCE_PERMIT: ("hukou_registered", "deceased"),
    BUSINESS_LICENSE: ("licence_cancelled",),
}
REVOKE_REASONS: dict[str, tuple[str, ...]] = {
    RESIDENCE_PERMIT: ("issuer_error",),
    BUSINESS_LICENSE: ("licence_revoked", "issuer_error"),
    RESIDENCE_YEARS: ("issuer_error",),  # 居住年限证明 (service.residence_years)
}
_NOT_AMENDABLE = ("uscc", "establishmentDate", "issueDate")  # the entity's identity; the issuer's
_NOTE_MAX = 500

# 中文 name of each step, and what it does to a credential in English
_OPERATIONS: dict[str, tuple[str, str]] = {
    "endorse": ("签注", "endorsed"),
    "renew": ("换领", "renewed"),
    "replace": ("补领", "replaced"),
    "change_address": ("变更居住地址", "moved to another address"),
    "amend": ("变更登记", "amended"),
    "revoke": ("吊销", "revoked"),
    "cancel": ("注销", "cancelled"),
}
_STATUS_WORDS: dict[str, tuple[str, str]] = {
    CredentialStatus.ACTIVE: ("有效", "in force"),
    CredentialStatus.SUSPENDED: ("已暂停使用", "suspended"),
    CredentialStatus.SUPERSEDED: ("已被新版本取代", "superseded by a newer version"),
    CredentialStatus.REVOKED: ("已吊销", "revoked"),
    CredentialStatus.CANCELLED: ("已注销", "cancelled"),
}
_TYPE_WORDS = {
    RESIDENCE_PERMIT: ("居住证", "residence permit"),
    BUSINESS_LICENSE: ("营业执照", "business licence"),
    RESIDENCE_YEARS: ("居住年限证明", "residence-years credential"),
}
_IN_FORCE = (CredentialStatus.ACTIVE,)
_IN_FORCE_OR_SUSPENDED = (CredentialStatus.ACTIVE, CredentialStatus.SUSPENDED)


# ------------------------------------------------------------------------------ errors


class LifecycleError(SuixinError):
    """A life-cycle step that does not apply to the credential as it stands (HTTP 409); a
    stable ``code``, the reason in 中文 and English, and facts for the caller (``extra``)."""

    def __init__(self, code: str, zh: str, en: str, **extra: Any) -> None:
        super().__init__(f"{code}: {en}")
        self.code = code
        self.zh = zh
        self.en = en
        self.extra = extra

    def diagnostics(self) -> str:
        return f"{self.zh} / {self.en}"


class NotCurrent(LifecycleError):
    """The version is not the newest one in force: superseded, revoked, cancelled, suspended."""


class NotApplicable(LifecycleError):
    """The step does not exist for this credential type (a licence cannot be endorsed)."""


class EndorsementNotDue(LifecycleError):
    """The endorsement window has not opened yet."""


class TermEnded(LifecycleError):
    """The permit's term has ended: it must be endorsed before anything else."""


# ------------------------------------------------------------------------------ results


@dataclass(frozen=True)
class StepResult:
    """What a step did: the version acted on, its status now, and the new version if any."""

    operation: str
    credential_id: str
    status: str
    reason: str | None
    changed_at: datetime | None
    bundle: dict[str, Any] | None = None
    replayed: bool = False

    def to_json(self) -> dict[str, Any]:
        """The status part as the API returns it (revoke, cancel)."""
        reason = _reason(self.reason)
        return {
            "operation": self.operation,
            "credentialId": self.credential_id,
            "status": self.status,
            "reason": self.reason,
            "reasonZh": reason.zh if reason else None,
            "reasonEn": reason.en if reason else None,
            "changedAt": iso_z(self.changed_at) if self.changed_at else None,
            "onChain": False,
            "newCredentialId": self.bundle["credential"]["id"] if self.bundle else None,
        }


# ------------------------------------------------------------------------------ helpers


def _china_date(value: datetime) -> date:
    return value.astimezone(CHINA_TIME).date()


def _china_time(value: datetime) -> str:
    return value.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def _term(row: Credential) -> tuple[datetime, datetime]:
    start, end = (
        parse_timestamp(row.document.get("validFrom")),
        parse_timestamp(row.document.get("validUntil")),
    )
    if start is None or end is None:  # every stored credential passed validation; guard anyway
        raise LifecycleError(
            "credential_term_unreadable",
            "凭证的有效期无法读取",
            f"the validity period of {row.id} cannot be read",
        )
    return start, end


def _locate(office: Office, credential_id: str, authority_id: int | None) -> int:
    """The authority of a credential; NotFound when it does not exist or is another's."""
    with office.db.session() as s:
        found = s.scalar(select(Credential.authority_id).where(Credential.id == credential_id))
    if found is None or (authority_id is not None and found != authority_id):
        raise NotFound(f"no credential {credential_id}")
    return int(found)


@dataclass
class _Step:
    """A step's transaction: the locked row, its authority, the signer, the clock."""

    office: Office
    session: Session
    row: Credential
    authority: Authority
    signer: LocalSigner | None
    now: datetime
    actor: str
    operation: str
    idempotency_key: str | None
    fingerprint: bytes | None

    @property
    def today(self) -> date:
        return _china_date(self.now)

    def retire(self, office_status: str, chain_status: str, reason: str) -> None:
        """Change the acted-on row's status and queue the change for the chain."""
        row = self.row
        row.status, row.status_reason, row.status_changed_at = office_status, reason, self.now
        enqueue(
            self.session,
            authority_id=row.authority_id,
            credential_id=row.id,
            status=chain_status,
            reason=reason,
            now=self.now,
        )

    def issue(
        self,
        subject: Mapping[str, Any],
        *,
        issue_date: date,
        valid_from: datetime,
        valid_until: datetime,
        fresh_lineage: bool = False,
        path: Callable[[str], str] = lambda p: p,
    ) -> dict[str, Any]:
        """Sign and store a new version of the row (or, ``fresh_lineage``, the first version
        of a new lineage linked back to it); returns the signed credential. Raises
        InvalidCredential, its paths passed through ``path``."""
        assert self.signer is not None
        row, authority = self.row, self.authority
        cid = uuid.uuid4()
        credential_id = cid.urn
        unsigned = build_credential(
            row.credential_type,
            subject,
            credential_id=cid,
            issuer_did=authority.did,
            authority_name=authority.name_zh,
            issue_date=issue_date,
            valid_from=valid_from,
            valid_until=valid_until,
            status=status_entry(
                credential_id,
                self.office.deployment.chain_id,
                self.office.deployment.anchor_registry,
            ),
        )
        errors = validate_credential(unsigned, authority_region=authority.region, now=self.now)
        if errors:
            raise InvalidCredential([FieldError(path(e.path), e.code, e.zh, e.en) for e in errors])
        credential, digest = sign_credential_with_digest(
            unsigned,
            self.signer,
            f"{authority.did}#{self.signer.key_id}",
            iso_z(self.now),
        )
        self.session.add(
            Credential(
                id=credential_id,
                authority_id=row.authority_id,
                credential_type=row.credential_type,
                document=credential,
                digest=digest,
                idempotency_key=self.idempotency_key,
                request_sha256=self.fingerprint,
                anchor_state=AnchorState.PENDING,
                created_at=self.now,
                lineage_id=credential_id if fresh_lineage else row.lineage_id,
                version=1 if fresh_lineage else row.version + 1,
                previous_id=row.id,
                key_id=self.signer.key_id,
                status=CredentialStatus.ACTIVE,
            )
        )
        return credential

    def record(self, details: Mapping[str, Any], new: Mapping[str, Any] | None = None) -> None:
        """The step's audit row (no subject fields: no citizen ID numbers in the trail)."""
        row = self.row
        body = {"lineageId": row.lineage_id, "version": row.version, **details}
        if new is not None:
            body["newCredentialId"] = new["id"]
        audit.record(
            self.session,
            actor=self.actor,
            action=f"credential.{self.operation}",
            authority_id=row.authority_id,
            credential_id=row.id,
            details=body,
            at=self.now,
        )


class StepCaller(TypedDict, total=False):
    """Who takes a step, the same for every step: ``authority_id`` (None: any authority of
    this office, as the CLI; an API key's authority otherwise), ``actor`` for the audit trail
    (default ``cli``), and ``now`` (default the clock)."""

    authority_id: int | None
    actor: str
    now: datetime | None


class StepOptions(StepCaller, total=False):
    """A step that issues a new version also takes an ``idempotency_key`` (a retry with it
    replays the first answer) and the request's ``fingerprint`` (the same key with another
    request is IdempotencyConflict)."""

    idempotency_key: str | None
    fingerprint: bytes | None


def _run(
    office: Office,
    credential_id: str,
    operation: str,
    act: Callable[[_Step], dict[str, Any] | None],
    *,
    types: Sequence[str],
    statuses: Sequence[str],
    signs: bool = True,
    **options: Unpack[StepOptions],
) -> StepResult:
    """Run one step in one write transaction; ``act`` changes the locked row and returns the
    new version's credential (or None)."""
    now = aware(options.get("now") or utc_now())
    actor = options.get("actor", "cli")
    idempotency_key = options.get("idempotency_key")
    fingerprint = options.get("fingerprint")
    owner = _locate(office, credential_id, options.get("authority_id"))
    authority = office.authority(owner)
    signer = office.signer(owner) if signs else None
    with office.db.write_session() as s:
        row = s.scalar(select(Credential).where(Credential.id == credential_id).with_for_update())
        assert row is not None  # credentials are never deleted
        if idempotency_key is not None:
            replay = _replay(s, row, operation, idempotency_key, fingerprint)
            if replay is not None:
                return replay
        _check_applies(s, row, operation, types, statuses)
        step = _Step(
            office, s, row, authority, signer, now, actor, operation, idempotency_key, fingerprint
        )
        new = act(step)
        s.flush()
        result = StepResult(
            operation,
            row.id,
            row.status,
            row.status_reason,
            row.status_changed_at,
            stored_bundle(new, None) if new is not None else None,
        )
    return result


def _replay(
    s: Session, row: Credential, operation: str, key: str, fingerprint: bytes | None
) -> StepResult | None:
    """The first answer of a retried request with the same Idempotency-Key, if there is one."""
    first = s.scalar(
        select(Credential).where(
            Credential.authority_id == row.authority_id, Credential.idempotency_key == key
        )
    )
    if first is None:
        return None
    if first.request_sha256 != fingerprint or first.previous_id != row.id:
        raise IdempotencyConflict("this Idempotency-Key was already used with a different request")
    return StepResult(
        operation,
        row.id,
        row.status,
        row.status_reason,
        row.status_changed_at,
        stored_bundle(first.document, first.receipt),
        replayed=True,
    )


def _check_applies(
    s: Session, row: Credential, operation: str, types: Sequence[str], statuses: Sequence[str]
) -> None:
    op_zh, op_en = _OPERATIONS[operation]
    if row.credential_type not in types:
        kind_zh, kind_en = _TYPE_WORDS.get(row.credential_type, (row.credential_type,) * 2)
        raise NotApplicable(
            "operation_not_applicable",
            f"{kind_zh}不能办理{op_zh}",
            f"a {kind_en} cannot be {op_en}",
            credentialType=row.credential_type,
        )
    # a version with a successor is never in force (each step retires the old row in the
    # transaction that adds the new one); the lineage is asked all the same, for the message
    newest = s.scalar(
        select(Credential.id)
        .where(Credential.lineage_id == row.lineage_id, Credential.version > row.version)
        .order_by(Credential.version.desc())
        .limit(1)
    )
    if row.status in statuses and newest is None:
        return
    zh, en = _STATUS_WORDS.get(row.status, (row.status, row.status))
    reason = _reason(row.status_reason)
    why = f"（{reason.zh}）" if reason else ""
    why_en = f" ({reason.en})" if reason else ""
    later_zh = f"；最新版本为 {newest}" if newest else ""
    later_en = f"; the newest version is {newest}" if newest else ""
    raise NotCurrent(
        "credential_not_current",
        f"该凭证{zh}{why}，不能办理{op_zh}{later_zh}",
        f"this credential is {en}{why_en} and cannot be {op_en}{later_en}",
        currentStatus=row.status,
        currentReason=row.status_reason,
        newestId=newest,
    )


def _reason(name: str | None) -> StatusReason | None:
    """The table's entry for a stored reason name; None for none (or one this office's table
    does not know, which is then shown by name only)."""
    if not name:
        return None
    try:
        return reason_by_name(name)
    except ValueError:
        return StatusReason(-1, name, name, name)


def _require_term_open(step: _Step) -> tuple[datetime, datetime]:
    start, end = _term(step.row)
    if step.now >= end:
        permit = step.row.credential_type == RESIDENCE_PERMIT
        raise TermEnded(
            "term_ended",
            f"有效期已于 {_china_time(end)} 届满，"
            + ("请先办理签注" if permit else "请重新签发后再办理"),
            f"the validity ended at {iso_z(end)}; "
            + ("endorse the permit first" if permit else "issue the licence anew first"),
            validUntil=iso_z(end),
        )
    return start, end


def _subject(row: Credential) -> dict[str, Any]:
    subject: dict[str, Any] = copy.deepcopy(row.document["credentialSubject"])
    return subject


def _as_request_path(prefix: str) -> Callable[[str], str]:
    """``credentialSubject.x`` → ``{prefix}x`` (the request's own field paths)."""

    def path(p: str) -> str:
        if p.startswith("credentialSubject."):
            return prefix + p.removeprefix("credentialSubject.")
        return p

    return path


# ------------------------------------------------------------------------------ 居住证


def endorse(
    office: Office,
    credential_id: str,
    *,
    window_days: int = DEFAULT_ENDORSE_WINDOW_DAYS,
    **options: Unpack[StepOptions],
) -> StepResult:
    """签注: a new version for the next term (see the module docstring for on time and late);
    raises EndorsementNotDue before the window opens, NotCurrent, NotApplicable, NotFound."""

    def act(step: _Step) -> dict[str, Any]:
        _start, end = _term(step.row)
        opens = end - timedelta(days=window_days)
        if step.now < opens:
            raise EndorsementNotDue(
                "endorsement_not_due",
                f"尚未到签注办理期：办理期自 {_china_time(opens)} 起（有效期届满前 {window_days} "
                f"天），至 {_china_time(end)} 止",
                f"the endorsement is not due yet: the window opens at {iso_z(opens)} "
                f"({window_days} days before the term ends at {iso_z(end)})",
                windowStart=iso_z(opens),
                validUntil=iso_z(end),
            )
        late = step.now >= end
        subject = _subject(step.row)
        valid_from = step.now
        valid_until = step.now + TERM if late else end + TERM
        if late or "residenceSince" not in subject:
            subject["residenceSince"] = (step.today if late else _issue_date(step.row)).isoformat()
        subject["endorsements"] = [
            *subject.get("endorsements", []),
            {"date": step.today.isoformat(), "validUntil": _china_date(valid_until).isoformat()},
        ]
        new = step.issue(
            subject,
            issue_date=_issue_date(step.row),
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

    return _run(
        office,
        credential_id,
        "endorse",
        act,
        types=(RESIDENCE_PERMIT,),
        statuses=_IN_FORCE_OR_SUSPENDED,
        **options,
    )


def _issue_date(row: Credential) -> date:
    return date.fromisoformat(str(row.document["credentialSubject"]["issueDate"]))


def _same_again(
    office_status: str,
    chain_status: str,
    reason: str,
) -> Callable[[_Step], dict[str, Any]]:
    """renew and replace: a new version with the same content and term."""

    def act(step: _Step) -> dict[str, Any]:
        start, end = _require_term_open(step)
        new = step.issue(
            _subject(step.row), issue_date=_issue_date(step.row), valid_from=start, valid_until=end
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
    return _run(
        office,
        credential_id,
        "renew",
        _same_again(CredentialStatus.SUPERSEDED, "superseded", "damaged"),
        types=(RESIDENCE_PERMIT,),
        statuses=_IN_FORCE,
        **options,
    )


def replace(
    office: Office,
    credential_id: str,
    **options: Unpack[StepOptions],
) -> StepResult:
    """补领 (lost card): a new version, same content and term; the old one revoked (lost)."""
    return _run(
        office,
        credential_id,
        "replace",
        _same_again(CredentialStatus.REVOKED, "revoked", "lost"),
        types=(RESIDENCE_PERMIT,),
        statuses=_IN_FORCE,
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

    def act(step: _Step) -> dict[str, Any]:
        start, end = _require_term_open(step)
        subject = _subject(step.row)
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
        path = _as_request_path("")
        if residence_region[:4] == old_region[:4]:
            new = step.issue(
                subject,
                issue_date=_issue_date(step.row),
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

    return _run(
        office,
        credential_id,
        "change_address",
        act,
        types=(RESIDENCE_PERMIT,),
        statuses=_IN_FORCE,
        **options,
    )


# ------------------------------------------------------------------------------ 营业执照


def amend(
    office: Office,
    credential_id: str,
    changes: Mapping[str, Any],
    **options: Unpack[StepOptions],
) -> StepResult:
    """变更登记: the changed subject fields in a new version (issued today, same end of
    validity); the old one superseded (amended). ``uscc``, ``establishmentDate`` and
    ``issueDate`` cannot be amended; field errors carry ``subject.<field>`` paths."""

    def act(step: _Step) -> dict[str, Any]:
        _start, end = _require_term_open(step)
        subject = _subject(step.row)
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
            path=_as_request_path("subject."),
        )
        step.retire(CredentialStatus.SUPERSEDED, "superseded", "amended")
        step.record({"reason": "amended", "fields": changed}, new)
        return new

    return _run(
        office,
        credential_id,
        "amend",
        act,
        types=(BUSINESS_LICENSE,),
        statuses=_IN_FORCE,
        **options,
    )


_MISSING = object()


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

    def act(step: _Step) -> None:
        why = _choose_reason(reason, REVOKE_REASONS, step.row.credential_type)
        previous = step.row.status
        step.retire(CredentialStatus.REVOKED, "revoked", why)
        step.record({"reason": why, "note": note, "previousStatus": previous})
        if why == "issuer_error" and step.row.credential_type == RESIDENCE_PERMIT:
            from service.residence_years import revoke_derived  # (it imports this module)

            revoke_derived(step.session, step.row, reason=why, now=step.now, actor=step.actor)

    return _run(
        office,
        credential_id,
        "revoke",
        act,
        types=(RESIDENCE_PERMIT, BUSINESS_LICENSE, RESIDENCE_YEARS),
        statuses=_IN_FORCE_OR_SUSPENDED,
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

    def act(step: _Step) -> None:
        why = _choose_reason(reason, CANCEL_REASONS, step.row.credential_type)
        previous = step.row.status
        step.retire(CredentialStatus.CANCELLED, "revoked", why)
        step.record({"reason": why, "previousStatus": previous})

    return _run(
        office,
        credential_id,
        "cancel",
        act,
        types=(RESIDENCE_PERMIT, BUSINESS_LICENSE),
        statuses=_IN_FORCE_OR_SUSPENDED,
        signs=False,
        **options,
    )


# ------------------------------------------------------------------------------ the sweep

# a stored validUntil may carry any offset (±14 h): compare its text against a bound that
# late, then decide on the parsed time
_OFFSET_SLACK = timedelta(hours=14, seconds=1)


def sweep(
    office: Office, *, now: datetime | None = None, actor: str = "worker", chunk: int = 500
) -> int:
    """Suspend every active permit whose term has ended (endorsement_lapsed), ``chunk`` per
    transaction, each with its status change queued and an audit row; returns how many."""
    now = aware(now or utc_now())
    bound = iso_z(now + _OFFSET_SLACK)
    until = Credential.document["validUntil"].as_string()
    suspended, after = 0, 0
    while True:
        with office.db.write_session() as s:
            rows = s.scalars(
                select(Credential)
                .where(
                    Credential.credential_type == RESIDENCE_PERMIT,
                    Credential.status == CredentialStatus.ACTIVE,
                    Credential.seq > after,
                    until <= bound,
                )
                .order_by(Credential.seq)
                .limit(chunk)
                .with_for_update(skip_locked=True)
            ).all()
            if not rows:
                return suspended
            after = rows[-1].seq
            for row in rows:
                end = parse_timestamp(row.document.get("validUntil"))
                if end is None or end > now:
                    continue
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
                audit.record(
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


class LifecycleTasks:
    """The life-cycle side of the worker's pass: the sweep every ``sweep_seconds`` (the first
    pass sweeps at once), then the queued status changes go on chain."""

    def __init__(
        self,
        office: Office,
        *,
        sweep_seconds: float = 3600.0,
        status_batch_size: int = 200,
        log: Callable[[str], None] | None = None,
        clock: Callable[[], datetime] = utc_now,
    ) -> None:
        self.office = office
        self.sweep_seconds = sweep_seconds
        self.clock = clock
        self.sender = StatusSender(office, batch_size=status_batch_size, log=log)
        self.swept = 0
        self._log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self._last_sweep: float | None = None

    @classmethod
    def from_settings(
        cls, office: Office, settings: Settings, *, log: Callable[[str], None] | None = None
    ) -> LifecycleTasks:
        """Tasks configured by the service's Settings."""
        return cls(
            office,
            sweep_seconds=settings.sweep_interval_seconds,
            status_batch_size=settings.status_batch_size,
            log=log,
        )

    def run_once(self) -> int:
        """Sweep if due, then one pass of the status sender; returns status changes sent."""
        started = time.monotonic()
        if self._last_sweep is None or started - self._last_sweep >= self.sweep_seconds:
            count = sweep(self.office, now=self.clock())
            self._last_sweep = started
            self.swept += count
            if count:
                self._log(f"{count} permits suspended: endorsement lapsed")
        return self.sender.run_once()

    def drain(self, timeout: float = 60.0) -> None:
        """Send every queued status change now."""
        self.sender.drain(timeout)


# ------------------------------------------------------------------------------ reads


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
    _locate(office, credential_id, authority_id)
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
            for credential, details in audit.recorded(
                s, action="credential.revoke", credential_ids=[r.id for r in rows]
            )
            if details.get("note")
        }
    versions = [_version_json(r, changes.get(r.id, []), notes.get(r.id)) for r in rows]
    newest = rows[-1]
    result: dict[str, Any] = {
        "credentialId": credential_id,
        "lineageId": start.lineage_id,
        "credentialType": start.credential_type,
        "current": next((r.id for r in reversed(rows) if r.status in _IN_FORCE_OR_SUSPENDED), None),
        "versions": versions,
    }
    if start.credential_type == RESIDENCE_PERMIT:
        subject = newest.document.get("credentialSubject", {})
        since = subject.get("residenceSince")
        result["residenceSince"] = since
        result["residenceYears"] = residence_years(subject, _china_date(now)) if since else None
    return result


def _version_json(
    row: Credential, changes: Sequence[StatusChange], note: str | None
) -> dict[str, Any]:
    receipt = row.receipt or {}
    reason = _reason(row.status_reason)
    last = changes[-1] if changes else None
    entry: dict[str, Any] = {
        "id": row.id,
        "lineageId": row.lineage_id,
        "version": row.version,
        "previousId": row.previous_id,
        "keyId": row.key_id,
        "issuedAt": iso_z(row.created_at),
        "validFrom": row.document.get("validFrom"),
        "validUntil": row.document.get("validUntil"),
        "status": row.status,
        "reason": row.status_reason,
        "reasonZh": reason.zh if reason else None,
        "reasonEn": reason.en if reason else None,
        "statusChangedAt": iso_z(row.status_changed_at) if row.status_changed_at else None,
        "anchor": {
            "state": row.anchor_state,
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
    reason = _reason(known.reason)
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


# ------------------------------------------------------------------------------ commands


def add_commands(
    commands: Any,
    common: Callable[[argparse.ArgumentParser], None],
    open_office: Callable[[argparse.Namespace], AbstractContextManager[tuple[Office, Any]]],
) -> None:
    """Register ``suixin lifecycle …`` (``common`` adds --data-dir and friends; ``open_office``
    is the CLI's context manager yielding (office, settings))."""
    group = commands.add_parser("lifecycle", help="credential life cycle: sweep, history")
    sub = group.add_subparsers(dest="lifecycle_command", required=True)

    sweep_cmd = sub.add_parser(
        "sweep",
        help="suspend active permits whose term has ended (endorsement lapsed)",
        description="Marks every active residence permit whose term has ended as suspended "
        "(reason endorsement_lapsed) and queues the change for the chain; the worker sends it.",
    )
    common(sweep_cmd)
    sweep_cmd.add_argument("--json", action="store_true", help="print {suspended: N} as JSON")

    def run_sweep(args: argparse.Namespace) -> int:
        with open_office(args) as (office, _settings):
            count = sweep(office, actor="cli")
        if args.json:
            print(json.dumps({"suspended": count}))
        else:
            print(f"已暂停 {count} 张逾期未签注的居住证 / {count} permits suspended (lapsed)")
        return 0

    sweep_cmd.set_defaults(handler=run_sweep)

    show = sub.add_parser("history", help="every version of a credential, as JSON")
    common(show)
    show.add_argument("credential_id", metavar="ID", help="any version's id (urn:uuid:…)")

    def run_history(args: argparse.Namespace) -> int:
        cid = args.credential_id
        cid = cid if cid.startswith("urn:") else f"urn:uuid:{cid}"
        with open_office(args) as (office, _settings):
            story = history(office, cid)
        print(json.dumps(story, ensure_ascii=False, indent=2))
        return 0

    show.set_defaults(handler=run_history)
