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

Every step is one database transaction (``Database.write_session``): the acted-on row locked, the
new version inserted into the anchoring queue, the old row's status, its ``StatusChange`` queued for
the chain (``service.lifecycle.status_queue``) and an audit row. Only the newest version in force
can be acted on (for a late endorsement, a suspended one), so a retried request never makes a second
version: it finds the old one no longer current (409), or with the same ``Idempotency-Key`` gets the
first answer back. Every function takes ``now`` (the office clock) so tests need not wait a year.

Errors: ``NotFound`` (unknown, or another authority's), ``LifecycleError`` and its subclasses
(the step does not apply to the credential as it stands: HTTP 409, stable code, 中文/English),
``InvalidCredential`` (field errors with the request's paths: HTTP 422), ``IdempotencyConflict``.

Modules: ``steps`` (the shared machinery and errors), ``permit`` (居住证 steps), ``licence``
(营业执照 steps), ``revocation`` (revoke, cancel), ``sweep``, ``history`` (reads, the office's
own status for ``/v1/verify``), ``residence_years`` (居住年限互认), ``status_queue`` (status
changes queued for the chain).

May import: ``service.issuing``, ``service.audit``, ``service.storage``, ``config``, ``clock``
and ``verifier``; never ``anchoring``, ``trust``, ``wallet``, ``cli``, ``api`` or ``web``.
"""

from service.lifecycle.history import OfficeStatus, history, office_status, with_office_status
from service.lifecycle.licence import amend
from service.lifecycle.permit import change_address, endorse, renew, replace
from service.lifecycle.revocation import cancel, revoke
from service.lifecycle.steps import (
    CANCEL_REASONS,
    DEFAULT_ENDORSE_WINDOW_DAYS,
    REVOKE_REASONS,
    TERM,
    EndorsementNotDue,
    LifecycleError,
    NotApplicable,
    NotCurrent,
    StepResult,
    TermEnded,
)
from service.lifecycle.sweep import sweep

__all__ = [
    "CANCEL_REASONS",
    "DEFAULT_ENDORSE_WINDOW_DAYS",
    "REVOKE_REASONS",
    "TERM",
    "EndorsementNotDue",
    "LifecycleError",
    "NotApplicable",
    "NotCurrent",
    "OfficeStatus",
    "StepResult",
    "TermEnded",
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
