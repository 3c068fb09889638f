"""The machinery every life-cycle step shares: errors, results, the step's one transaction.

Every step is one database transaction (``Database.write_session``, see ``run_step``): the
acted-on row locked, the new version inserted into the anchoring queue, the old row's status,
its ``StatusChange`` queued (``service.lifecycle.status_queue``) and an audit row.

Errors: ``NotFound`` (unknown, or another authority's), ``LifecycleError`` and its subclasses
(the step does not apply to the credential as it stands: HTTP 409, stable code, 中文/English),
``InvalidCredential`` (field errors with the request's paths: HTTP 422), ``IdempotencyConflict``.
"""

from __future__ import annotations

import copy
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from functools import cached_property
from typing import Any, TypedDict, Unpack

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit import trail
from service.clock import aware, iso_z, parse_timestamp, utc_now
from service.issuing.issuance import licence_id_of, new_credential_id
from service.issuing.office import IdempotencyConflict, NotFound, Office, stored_bundle
from service.issuing.signer import LocalSigner
from service.lifecycle.status_queue import enqueue
from service.storage.columns import lookup_columns
from service.storage.models import (
    Authority,
    Credential,
    CredentialStatus,
)
from verifier.credential import (
    BUSINESS_LICENSE,
    CHINA_TIME,
    RESIDENCE_PERMIT,
    RESIDENCE_YEARS,
    build_credential,
    nfc,
    validate_credential,
)
from verifier.errors import FieldError, InvalidCredential, SuixinError
from verifier.proofs import sign_credential_with_digest
from verifier.status import StatusReason, reason_by_name

__all__ = [
    "CANCEL_REASONS",
    "DEFAULT_ENDORSE_WINDOW_DAYS",
    "IN_FORCE",
    "IN_FORCE_OR_SUSPENDED",
    "REVOKE_REASONS",
    "TERM",
    "EndorsementNotDue",
    "LifecycleError",
    "NotApplicable",
    "NotCurrent",
    "Step",
    "StepCaller",
    "StepOptions",
    "StepResult",
    "TermEnded",
    "as_request_path",
    "china_date",
    "china_time",
    "locate",
    "reason_entry",
    "require_term_open",
    "run_step",
    "subject_of",
    "term_of",
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
IN_FORCE = (CredentialStatus.ACTIVE,)
IN_FORCE_OR_SUSPENDED = (CredentialStatus.ACTIVE, CredentialStatus.SUSPENDED)


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
        reason = reason_entry(self.reason)
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


def china_date(value: datetime) -> date:
    return value.astimezone(CHINA_TIME).date()


def china_time(value: datetime) -> str:
    return value.astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M")


def term_of(step: Step) -> tuple[datetime, datetime]:
    row, document = step.row, step.document
    start, end = (
        parse_timestamp(document.get("validFrom")),
        parse_timestamp(document.get("validUntil")),
    )
    if start is None or end is None:  # every stored credential passed validation; guard anyway
        raise LifecycleError(
            "credential_term_unreadable",
            "凭证的有效期无法读取",
            f"the validity period of {row.id} cannot be read",
        )
    return start, end


def locate(office: Office, credential_id: str, authority_id: int | None) -> int:
    """The authority of a credential; NotFound when it does not exist or is another's."""
    with office.db.session() as s:
        found = s.scalar(select(Credential.authority_id).where(Credential.id == credential_id))
    if found is None or (authority_id is not None and found != authority_id):
        raise NotFound(f"no credential {credential_id}", f"没有凭证 {credential_id}")
    return int(found)


@dataclass
class Step:
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
        return china_date(self.now)

    @cached_property
    def document(self) -> dict[str, Any]:
        """The acted-on credential as signed (opened from its sealed body once)."""
        return self.office.document(self.row)

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
        of a new lineage linked back to it), with the licence identifier of that lineage and
        version; returns the signed credential. The subject's text is put in Unicode NFC, then
        the credential must pass the verifier's own rules. Raises InvalidCredential, its paths
        passed through ``path``."""
        assert self.signer is not None
        subject = nfc(dict(subject))
        row, authority = self.row, self.authority
        cid = new_credential_id()
        credential_id = cid.urn
        lineage_id = credential_id if fresh_lineage else row.lineage_id
        version = 1 if fresh_lineage else row.version + 1
        licence = licence_id_of(row.credential_type, authority.uscc, lineage_id, version)
        unsigned = build_credential(
            row.credential_type,
            subject,
            credential_id=cid,
            issuer_did=authority.did,
            authority_name=authority.name_zh,
            issue_date=issue_date,
            valid_from=valid_from,
            valid_until=valid_until,
            status=self.office.new_status(self.session, authority, credential_id),
            licence_id=licence,
        )
        errors = validate_credential(unsigned, authority_region=authority.region, now=self.now)
        if errors:
            raise InvalidCredential([FieldError(path(e.path), e.code, e.zh, e.en) for e in errors])
        credential, digest = sign_credential_with_digest(
            unsigned,
            self.signer,
            f"{authority.did}#{self.signer.key_id}",
            iso_z(self.now),
            cryptosuite=self.signer.cryptosuite,
            anchor_hash=self.office.anchoring_hash,
        )
        self.session.add(
            Credential(
                id=credential_id,
                authority_id=row.authority_id,
                credential_type=row.credential_type,
                body=self.office.seal(credential),
                digest=digest,
                idempotency_key=self.idempotency_key,
                request_sha256=self.fingerprint,
                created_at=self.now,
                lineage_id=lineage_id,
                version=version,
                previous_id=row.id,
                key_id=self.signer.key_id,
                status=CredentialStatus.ACTIVE,
                **lookup_columns(self.office.master, credential),
            )
        )
        return credential

    def record(self, details: Mapping[str, Any], new: Mapping[str, Any] | None = None) -> None:
        """The step's audit row (no subject fields: no citizen ID numbers in the trail)."""
        row = self.row
        body = {"lineageId": row.lineage_id, "version": row.version, **details}
        if new is not None:
            body["newCredentialId"] = new["id"]
        trail.record(
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


def run_step(
    office: Office,
    credential_id: str,
    operation: str,
    act: Callable[[Step], dict[str, Any] | None],
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
    owner = locate(office, credential_id, options.get("authority_id"))
    authority = office.authority(owner)
    signer = office.signer(owner) if signs else None
    with office.db.write_session() as s:
        row = s.scalar(select(Credential).where(Credential.id == credential_id).with_for_update())
        assert row is not None  # credentials are never deleted
        if idempotency_key is not None:
            replay = _replay(office, s, row, operation, idempotency_key, fingerprint)
            if replay is not None:
                return replay
        _check_applies(s, row, operation, types, statuses)
        step = Step(
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
    office: Office,
    s: Session,
    row: Credential,
    operation: str,
    key: str,
    fingerprint: bytes | None,
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
        office.bundle(first.id),
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
    reason = reason_entry(row.status_reason)
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


def reason_entry(name: str | None) -> StatusReason | None:
    """The table's entry for a stored reason name; None for none (or one this office's table
    does not know, which is then shown by name only)."""
    if not name:
        return None
    try:
        return reason_by_name(name)
    except ValueError:
        return StatusReason(-1, name, name, name)


def require_term_open(step: Step) -> tuple[datetime, datetime]:
    start, end = term_of(step)
    if step.now >= end:
        permit = step.row.credential_type == RESIDENCE_PERMIT
        raise TermEnded(
            "term_ended",
            f"有效期已于 {china_time(end)} 届满，"
            + ("请先办理签注" if permit else "请重新签发后再办理"),
            f"the validity ended at {iso_z(end)}; "
            + ("endorse the permit first" if permit else "issue the licence anew first"),
            validUntil=iso_z(end),
        )
    return start, end


def subject_of(step: Step) -> dict[str, Any]:
    subject: dict[str, Any] = copy.deepcopy(step.document["credentialSubject"])
    return subject


def as_request_path(prefix: str) -> Callable[[str], str]:
    """``credentialSubject.x`` → ``{prefix}x`` (the request's own field paths)."""

    def path(p: str) -> str:
        if p.startswith("credentialSubject."):
            return prefix + p.removeprefix("credentialSubject.")
        return p

    return path
