"""居住年限互认: derive a residence-years credential (ResidenceYears) from a residence permit.

The authority that issued a 居住证 states, in a credential of its own, that the holder has lived
continuously in a region for N full years as of today: N counts from the permit's
``residenceSince`` (连续居住起算日期), which the life cycle keeps (an on-time endorsement keeps it,
a late one or a move to another city restarts it; ``service.lifecycle``). A partner city
verifies it as it verifies any credential: signature, issuer, key, anchor, status, validity.

**Data minimisation.** The derived credential carries what a counter needs to recognise the
years and tie them to the person in front of it, and nothing else: the holder's DID when the
permit names one; the name masked to its first character (张*); a salted SHA-256 of the citizen
ID number instead of the number; the region (the city of residence, or the authority's own
region if that is smaller), N, ``residenceSince``, ``asOf`` and the source permit's id. No
birth date, sex, ethnicity, addresses or hukou. The 16-byte salt is given to the caller (for
the holder) and is not in the credential; the office can give it again because it is derived
from the source permit's signature and the new credential's id (``holder_salt``): whoever holds
that permit already sees the ID number, and nobody holding only the derived credential can
test guesses against the digest.

**Who may issue it.** An authority accredited on chain for ``ResidencePermit`` may issue
``ResidenceYears`` (``verifier.credential.may_issue``; an explicit ``ResidenceYears``
accreditation also suffices): it restates, with less data, what that authority attests already.
The verifier applies the authority's region to ``residenceRegion`` as for a permit.

**What it may be derived from.** Only the current version of a permit, in force (not revoked,
suspended, superseded or cancelled) and inside its term, showing at least one full year. The
derived credential is valid from now until the end of the permit's current term: continuity
beyond it depends on the next endorsement. It is anchored and has its own on-chain status like
any credential (``revoke`` with ``issuer_error`` applies to it); revoking a permit for
``issuer_error`` also revokes every credential derived from its lineage (``revoke_derived``).

Errors: ``NotFound``; ``NotApplicable`` (not a permit, or the authority may not issue it),
``NotCurrent``, ``TermEnded``, ``LifecycleError`` ``residence_years_none`` (HTTP 409 with a
stable code); ``IdempotencyConflict``.
"""

from __future__ import annotations

import hashlib
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import date, datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from service.audit import trail
from service.clock import aware, iso_z, parse_timestamp, utc_now
from service.issuing.issuance import new_credential_id
from service.issuing.office import IdempotencyConflict, NotFound, Office, stored_bundle
from service.lifecycle.status_queue import enqueue
from service.lifecycle.steps import LifecycleError, NotApplicable, NotCurrent, TermEnded
from service.storage.columns import lookup_columns
from service.storage.models import Authority, Credential, CredentialStatus
from verifier import regions
from verifier.credential import (
    CHINA_TIME,
    RESIDENCE_PERMIT,
    RESIDENCE_YEARS,
    build_credential,
    citizen_id_digest,
    mask_name,
    may_issue,
    residence_years,
    validate_credential,
)
from verifier.errors import FieldError, InvalidCredential
from verifier.proofs import sign_credential_with_digest

__all__ = ["ACTION", "Derived", "derive", "holder_salt", "residence_region", "revoke_derived"]

ACTION = "credential.residence_years"  # the audit action of a derivation
_SALT_DOMAIN = b"suixin/residence-years/salt/v1\x00"


@dataclass(frozen=True)
class Derived:
    """A derived residence-years credential: its bundle, the holder's salt, whether replayed."""

    bundle: dict[str, Any]
    holder_salt: bytes
    replayed: bool = False

    @property
    def credential(self) -> dict[str, Any]:
        """The signed credential."""
        credential: dict[str, Any] = self.bundle["credential"]
        return credential

    @property
    def years(self) -> int:
        """The full years of continuous residence it states."""
        return int(self.credential["credentialSubject"]["residenceYears"])

    def to_json(self) -> dict[str, Any]:
        """The API's answer: the bundle, the salt (hex) and the years."""
        return {
            "bundle": self.bundle,
            "holderSalt": self.holder_salt.hex(),
            "residenceYears": self.years,
        }


def holder_salt(source: Mapping[str, Any], derived_id: str) -> bytes:
    """The 16-byte salt of a derived credential's ``citizenIdDigest``: SHA-256 over a domain
    tag, the source permit's ``proof.proofValue`` and the derived credential's id. Raises
    ValueError when the source has no proof value (it is always signed when stored)."""
    proof = source.get("proof")
    value = proof.get("proofValue") if isinstance(proof, Mapping) else None
    if not isinstance(value, str) or not value:
        raise ValueError("the source credential has no proofValue")
    material = _SALT_DOMAIN + value.encode("ascii") + b"\x00" + derived_id.encode("ascii")
    return hashlib.sha256(material).digest()[:16]


def residence_region(residence: str, authority_region: int | str) -> str:
    """The region a residence-years credential names: the city of ``residence`` (continuity
    restarts on a move to another city), or the authority's region when that is smaller. A
    district of a municipality gives the municipality (110105 → 110000)."""
    code = regions.normalize_region_code(residence)
    city = (regions.parent(code) or code) if regions.level(code) == "county" else code
    authority = regions.normalize_region_code(authority_region)
    return city if regions.contains(authority, city) else authority


def _newest_in_force(s: Session, row: Credential) -> str | None:
    """The id of the newest version of the row's lineage that is in force, if another."""
    found = s.scalar(
        select(Credential.id)
        .where(
            Credential.lineage_id == row.lineage_id,
            Credential.version > row.version,
            Credential.status == CredentialStatus.ACTIVE,
        )
        .order_by(Credential.version.desc())
        .limit(1)
    )
    return str(found) if found is not None else None


_STATUS_WORDS = {
    CredentialStatus.SUSPENDED: ("已暂停使用", "suspended"),
    CredentialStatus.SUPERSEDED: ("已被新版本取代", "superseded by a newer version"),
    CredentialStatus.REVOKED: ("已吊销", "revoked"),
    CredentialStatus.CANCELLED: ("已注销", "cancelled"),
}


def _check_source(
    s: Session, row: Credential, document: dict[str, Any], authority: Authority, now: datetime
) -> None:
    """Raise unless ``row`` (``document`` its credential) is a permit this authority may derive
    from, as it stands now."""
    if row.credential_type != RESIDENCE_PERMIT:
        raise NotApplicable(
            "operation_not_applicable",
            "只有居住证可以出具居住年限证明",
            "only a residence permit has residence years to recognise",
            credentialType=row.credential_type,
        )
    if not may_issue(RESIDENCE_YEARS, authority.credential_types):
        raise NotApplicable(
            "type_not_accredited",
            f"{authority.name_zh} 未获授权出具居住年限证明",
            f"{authority.name_en} is not accredited to issue ResidenceYears",
        )
    if row.status != CredentialStatus.ACTIVE:
        zh, en = _STATUS_WORDS.get(row.status, (row.status, row.status))
        newest = _newest_in_force(s, row)
        later_zh = f"；请使用最新版本 {newest}" if newest else ""
        later_en = f"; use the newest version {newest}" if newest else ""
        raise NotCurrent(
            "credential_not_current",
            f"该居住证{zh}，不能出具居住年限证明{later_zh}",
            f"this permit is {en} and cannot support a residence-years credential{later_en}",
            currentStatus=row.status,
            currentReason=row.status_reason,
            newestId=newest,
        )
    start, end = (
        parse_timestamp(document.get("validFrom")),
        parse_timestamp(document.get("validUntil")),
    )
    if start is None or end is None or now < start:
        raise NotCurrent(
            "credential_not_yet_valid",
            "该居住证尚未生效，不能出具居住年限证明",
            "this permit is not valid yet and cannot support a residence-years credential",
            validFrom=document.get("validFrom"),
        )
    if now >= end:
        raise TermEnded(
            "term_ended",
            f"居住证有效期已于 {end.astimezone(CHINA_TIME):%Y-%m-%d %H:%M} 届满，请先办理签注",
            f"the permit's term ended at {iso_z(end)}; endorse it first",
            validUntil=iso_z(end),
        )


def _replay(
    office: Office, authority_id: int, source_id: str, key: str, fingerprint: bytes | None
) -> Derived | None:
    with office.db.session() as s:
        first = s.scalar(
            select(Credential).where(
                Credential.authority_id == authority_id, Credential.idempotency_key == key
            )
        )
        if first is None:
            return None
        subject = office.document(first).get("credentialSubject", {})
        if (
            first.request_sha256 != fingerprint
            or first.credential_type != RESIDENCE_YEARS
            or subject.get("sourceCredential") != source_id
        ):
            raise IdempotencyConflict(
                "this Idempotency-Key was already used with a different request"
            )
        source_row = s.scalar(select(Credential).where(Credential.id == source_id))
    assert source_row is not None  # credentials are never deleted
    source = office.document(source_row)
    return Derived(office.bundle(first.id), holder_salt(source, first.id), replayed=True)


def derive(
    office: Office,
    credential_id: str,
    *,
    authority_id: int | None = None,
    actor: str = "cli",
    now: datetime | None = None,
    idempotency_key: str | None = None,
    fingerprint: bytes | None = None,
) -> Derived:
    """Issue a ResidenceYears credential from the permit ``credential_id`` (its current version)
    as of ``now``'s day in China time; stored in the anchoring queue with an audit row, in one
    transaction. A retry with the same ``idempotency_key`` gets the first answer back.

    Raises NotFound (unknown, or another authority's when ``authority_id`` is given),
    NotApplicable, NotCurrent, TermEnded, LifecycleError ``residence_years_none`` (less than one
    full year), IdempotencyConflict."""
    now = aware(now or utc_now())
    with office.db.session() as s:
        owner = s.scalar(select(Credential.authority_id).where(Credential.id == credential_id))
    if owner is None or (authority_id is not None and owner != authority_id):
        raise NotFound(f"no credential {credential_id}", f"没有凭证 {credential_id}")
    if idempotency_key is not None:
        replayed = _replay(office, owner, credential_id, idempotency_key, fingerprint)
        if replayed is not None:
            return replayed
    authority = office.authority(owner)
    signer = office.signer(owner)
    as_of = now.astimezone(CHINA_TIME).date()
    with office.db.write_session() as s:
        # the permit is locked: no life-cycle step can change it while the statement is made
        row = s.scalar(select(Credential).where(Credential.id == credential_id).with_for_update())
        assert row is not None
        source = office.document(row)
        _check_source(s, row, source, authority, now)
        subject = source["credentialSubject"]
        years = residence_years(subject, as_of)
        if years < 1:
            since = date.fromisoformat(str(subject.get("residenceSince", as_of.isoformat())))
            raise LifecycleError(
                "residence_years_none",
                f"自 {since.isoformat()} 起连续居住不满一年，无法出具居住年限证明",
                f"less than one full year of continuous residence since {since.isoformat()}",
                residenceSince=since.isoformat(),
            )
        cid = new_credential_id()
        salt = holder_salt(source, cid.urn)
        claims: dict[str, Any] = {}
        if isinstance(subject.get("id"), str):
            claims["id"] = subject["id"]
        claims |= {
            "name": mask_name(str(subject["name"])),
            "citizenIdDigest": citizen_id_digest(str(subject["citizenId"]), salt),
            "residenceRegion": residence_region(str(subject["residenceRegion"]), authority.region),
            "residenceYears": years,
            "residenceSince": subject["residenceSince"],
            "asOf": as_of.isoformat(),
            "sourceCredential": row.id,
        }
        end = parse_timestamp(source["validUntil"])
        assert end is not None  # _check_source read it
        unsigned = build_credential(
            RESIDENCE_YEARS,
            claims,
            credential_id=cid,
            issuer_did=authority.did,
            authority_name=authority.name_zh,
            issue_date=as_of,
            valid_from=now,
            valid_until=end,
            status=office.new_status(s, authority, cid.urn),
        )
        errors = validate_credential(unsigned, authority_region=authority.region, now=now)
        if errors:  # the permit passed the same rules; guard anyway, storing nothing
            raise InvalidCredential([FieldError(e.path, e.code, e.zh, e.en) for e in errors])
        credential, digest = sign_credential_with_digest(
            unsigned,
            signer,
            f"{authority.did}#{signer.key_id}",
            iso_z(now),
            cryptosuite=signer.cryptosuite,
            anchor_hash=office.anchoring_hash,
        )
        s.add(
            Credential(
                id=cid.urn,
                authority_id=owner,
                credential_type=RESIDENCE_YEARS,
                body=office.seal(credential),
                digest=digest,
                idempotency_key=idempotency_key,
                request_sha256=fingerprint,
                created_at=now,
                lineage_id=cid.urn,
                version=1,
                key_id=signer.key_id,
                status=CredentialStatus.ACTIVE,
                **lookup_columns(office.master, credential),
            )
        )
        trail.record(
            s,
            actor=actor,
            action=ACTION,
            authority_id=owner,
            credential_id=cid.urn,
            details={
                "sourceId": row.id,
                "sourceLineageId": row.lineage_id,
                "residenceYears": years,
                "asOf": as_of.isoformat(),
                "keyId": signer.key_id,
            },
            at=now,
        )
    return Derived(stored_bundle(credential, None), salt)


def revoke_derived(
    s: Session, source: Credential, *, reason: str, now: datetime, actor: str
) -> list[str]:
    """Revoke (``reason``, queued for the chain, audited) every residence-years credential in
    force that was derived from any version of ``source``'s lineage; returns their ids. Runs
    in the caller's write transaction (the permit's own revocation)."""
    versions = list(
        s.scalars(select(Credential.id).where(Credential.lineage_id == source.lineage_id))
    )
    derived = s.scalars(
        select(Credential)
        .where(
            Credential.authority_id == source.authority_id,
            Credential.credential_type == RESIDENCE_YEARS,
            Credential.status == CredentialStatus.ACTIVE,
            Credential.derived_from.in_(versions),
        )
        .with_for_update()
    ).all()
    for row in derived:
        row.status, row.status_reason, row.status_changed_at = (
            CredentialStatus.REVOKED,
            reason,
            now,
        )
        enqueue(
            s,
            authority_id=row.authority_id,
            credential_id=row.id,
            status="revoked",
            reason=reason,
            now=now,
        )
        trail.record(
            s,
            actor=actor,
            action="credential.revoke",
            authority_id=row.authority_id,
            credential_id=row.id,
            details={"reason": reason, "sourceId": source.id, "previousStatus": "active"},
            at=now,
        )
    return [row.id for row in derived]
