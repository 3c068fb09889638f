"""Issuance: turn a validated subject into a signed VC 2.0 credential (eddsa-jcs-2022)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from service.clock import in_range
from verifier.bundle import credential_id_hash
from verifier.credential import (
    CHINA_TIME,
    build_credential,
    nfc,
    validate_credential,
    validate_subject,
)
from verifier.errors import FieldError, InvalidCredential
from verifier.proofs import Ed25519Signer, sign_credential_with_digest
from verifier.verify import Outcome, validity_period

__all__ = ["SigningIdentity", "issue_credential", "status_entry"]

STATUS_TYPE = "SuixinAnchorRegistryStatus"


@dataclass(frozen=True)
class SigningIdentity:
    """Who signs: the authority's DID, its names and region, and the current issuer key."""

    did: str
    name_zh: str
    region: int
    key_id: str
    key: Ed25519Signer

    @property
    def verification_method(self) -> str:
        """The DID URL of the signing key."""
        return f"{self.did}#{self.key_id}"


def status_entry(credential_id: str, chain_id: int, anchor_registry: str) -> dict[str, Any]:
    """The ``credentialStatus`` entry naming the credential's status slot on chain."""
    slot = credential_id_hash(credential_id).hex()
    return {
        "id": f"urn:suixin:status:eip155:{chain_id}:{anchor_registry}:{slot}",
        "type": STATUS_TYPE,
    }


def issue_credential(
    credential_type: str,
    subject: Mapping[str, Any],
    identity: SigningIdentity,
    *,
    chain_id: int,
    anchor_registry: str,
    valid_from: datetime | None = None,
    valid_until: datetime | None = None,
    now: datetime | None = None,
    credential_id: uuid.UUID | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Check the request, build the credential and sign it; returns the signed credential and
    its digest (the Merkle leaf content, from the signing JCS).

    The subject's text is put in Unicode NFC first. The unsigned credential must then pass
    every rule a verifier's ``format`` check applies (``verifier.credential``), and its
    validity must not have ended already: the office never signs what a verifier would reject.
    Raises InvalidCredential with paths relative to the request (``citizenId``, ``validFrom``)."""
    now = now or datetime.now(UTC)
    subject = nfc(dict(subject))
    today = now.astimezone(CHINA_TIME).date()
    errors = validate_subject(
        credential_type, subject, authority_region=identity.region, today=today
    )
    valid_from = valid_from or now.replace(microsecond=0)
    valid_until = valid_until or valid_from + timedelta(days=365)
    errors += _validity_errors(valid_from, valid_until, now)
    if errors:
        raise InvalidCredential(errors)
    cid = credential_id or uuid.uuid4()
    unsigned = build_credential(
        credential_type,
        subject,
        credential_id=cid,
        issuer_did=identity.did,
        authority_name=identity.name_zh,
        issue_date=today,
        valid_from=valid_from,
        valid_until=valid_until,
        status=status_entry(f"urn:uuid:{cid}", chain_id, anchor_registry),
    )
    errors = validate_credential(unsigned, authority_region=identity.region, now=now)
    if errors:
        raise InvalidCredential([_request_path(e) for e in errors])
    lapsed = validity_period(unsigned, now)
    if lapsed.outcome is Outcome.FAIL and lapsed.reason.code != "not_yet_valid":
        # born expired (or, for a permit, with its endorsement lapsed): the verifier's own check
        raise InvalidCredential(
            [FieldError("validUntil", lapsed.reason.code, lapsed.reason.zh, lapsed.reason.en)]
        )
    created = now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return sign_credential_with_digest(
        unsigned, identity.key, identity.verification_method, created
    )


def _request_path(error: FieldError) -> FieldError:
    """A credential path as the request names it: ``credentialSubject.x`` → ``x``."""
    path = error.path.removeprefix("credentialSubject.").removeprefix("credentialSubject")
    return FieldError(path, error.code, error.zh, error.en)


def _validity_errors(
    valid_from: datetime, valid_until: datetime, now: datetime
) -> list[FieldError]:
    """The request's validity, by the rules a verifier applies: times it can hold, a start no
    earlier than the issue date, an end after the start. (An end already past is the
    verifier's ``validity_period`` check, applied once the credential is built.)"""
    errors = []
    for name, value in (("validFrom", valid_from), ("validUntil", valid_until)):
        if value.tzinfo is None or not in_range(value):
            errors.append(
                FieldError(
                    name,
                    "field_datetime_out_of_range",
                    "时间超出可接受的范围（1900–2999 年）",
                    "The time lies outside the years 1900-2999",
                )
            )
    if errors:
        return errors
    if valid_from.astimezone(CHINA_TIME).date() < now.astimezone(CHINA_TIME).date():
        errors.append(
            FieldError(
                "validFrom",
                "dates_inconsistent",
                "生效时间早于签发日期（今天），请不早于今天",
                "validFrom is before the issue date (today); make it today or later",
            )
        )
    if valid_until <= valid_from:
        errors.append(
            FieldError(
                "validUntil",
                "dates_inconsistent",
                "失效时间应晚于生效时间",
                "The credential must become invalid after it becomes valid",
            )
        )
    return errors
