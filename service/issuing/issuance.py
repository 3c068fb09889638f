"""Issuance: turn a validated subject into a signed VC 2.0 credential (eddsa-jcs-2022, or
suixin-sm2-jcs-2025 when the authority signs with an SM2 key)."""

from __future__ import annotations

import json
import secrets
import time
import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from functools import lru_cache
from typing import Any, NamedTuple

from service.clock import in_range
from service.issuing.status_lists import list_base, list_entries
from service.storage.columns import credential_kind, plain_columns, subject_identifier
from service.storage.sealing import pack_document, unpack_document
from verifier.bundle import credential_id_hash
from verifier.credential import (
    CHINA_TIME,
    build_credential,
    nfc,
    validate_credential,
    validate_subject,
)
from verifier.errors import FieldError, InvalidCredential
from verifier.licence_id import (
    LICENCE_ID_ROOT,
    LICENCE_TYPE_CODES,
    LICENSED_TYPES,
    _check_character,
    licence_id_for,
)
from verifier.merkle import MerkleHash, merkle_digest
from verifier.proofs import Ed25519Signer, Sm2Signer, sign_credential_with_jcs
from verifier.verify import Outcome, validity_period

__all__ = [
    "SignedCredential",
    "SigningIdentity",
    "first_licence_id",
    "issue_credential",
    "issue_signed",
    "licence_id_of",
    "new_credential_id",
    "require_uscc",
    "signed_form",
    "status_entry",
]

STATUS_TYPE = "SuixinAnchorRegistryStatus"


def new_credential_id() -> uuid.UUID:
    """A new credential's id: a version 7 UUID (RFC 9562, section 5.7), the Unix time in
    milliseconds in its first 48 bits, then the version, 74 random bits and the variant.

    Ids made later sort after earlier ones, so a credential's row lands at the end of every
    index keyed by its id or its lineage (the first version's id) instead of on a random page:
    with random (version 4) ids each of a bulk chunk's rows dirtied its own page in two indexes
    of a table of millions, and storing slowed as the table grew (issue 20). Ids made in one
    millisecond are ordered by their random bits, which the RFC allows. 74 random bits (a
    version 4 UUID has 122) leave ids unique and unguessable; no route of this service takes an
    id as a secret (reading a credential takes its authority's key). The time an id shows is
    the issue time the credential states anyway.
    Not ``uuid6.uuid7``: at more than one id a millisecond, that package moves its clock
    forward a millisecond an id, so a bulk run's ids would soon claim a time ahead of now."""
    value = (time.time_ns() // 1_000_000 & _MS_MASK) << 80 | secrets.randbits(80) & _RANDOM
    return uuid.UUID(int=value | _VERSION_7)


_MS_MASK = (1 << 48) - 1
_RANDOM = ((1 << 12) - 1) << 64 | ((1 << 62) - 1)  # rand_a (12 bits) and rand_b (62)
_VERSION_7 = 0x7 << 76 | 0b10 << 62  # the version and variant fields


@dataclass(frozen=True)
class SigningIdentity:
    """Who signs: the authority's DID, its names and region, and the current issuer key.

    ``cryptosuite`` is the suite the key signs (``eddsa-jcs-2022`` or ``suixin-sm2-jcs-2025``);
    None lets ``sign_credential`` choose by the key's type (an ``Sm2KeyPair`` signs SM2).
    ``uscc`` is the authority's 统一社会信用代码: with it, a 居住证 or 营业执照 carries its
    national licence identifier (``licenceId``)."""

    did: str
    name_zh: str
    region: int
    key_id: str
    key: Ed25519Signer | Sm2Signer
    cryptosuite: str | None = None
    uscc: str | None = None

    @property
    def verification_method(self) -> str:
        """The DID URL of the signing key."""
        return f"{self.did}#{self.key_id}"


def status_entry(
    credential_id: str,
    chain_id: int,
    anchor_registry: str,
    *,
    issuer_did: str | None = None,
    position: int | None = None,
) -> dict[str, Any] | list[dict[str, Any]]:
    """The ``credentialStatus`` of a new credential: the entry naming its status slot on chain
    and, given its list ``position`` and an issuer that publishes lists (a did:web), its two
    ``BitstringStatusListEntry``s after it (``service.issuing.status_lists``)."""
    slot = credential_id_hash(credential_id).hex()
    anchor = {
        "id": f"urn:suixin:status:eip155:{chain_id}:{anchor_registry}:{slot}",
        "type": STATUS_TYPE,
    }
    base = list_base(issuer_did) if issuer_did is not None and position is not None else None
    if base is None or position is None:
        return anchor
    return [anchor, *list_entries(base, position)]


def require_uscc(credential_type: str, uscc: str | None) -> None:
    """Raise InvalidCredential (``authority_uscc_missing``) when ``credential_type`` carries a
    licence identifier and the authority has no USCC: every 居住证 and 营业执照 names its
    issuing unit."""
    if credential_type in LICENSED_TYPES and not uscc:
        raise InvalidCredential(
            [
                FieldError(
                    "type",
                    "authority_uscc_missing",
                    "签发机关未以统一社会信用代码获得认证，无法生成电子证照标识：请省级主管部门"
                    "以 --uscc 认证（suixin registry accredit），并在 suixin keys init 时提供",
                    "The authority is not accredited with a unified social credit code, so no "
                    "electronic licence identifier can be made: the province accredits it with "
                    "--uscc (suixin registry accredit) and the office enrols with it",
                )
            ]
        )


def licence_id_of(
    credential_type: str, uscc: str | None, lineage_id: str, version: int
) -> str | None:
    """The licence identifier of a version of a lineage (``verifier.licence_id.licence_id_for``),
    None for a type that carries none; raises InvalidCredential as ``require_uscc`` does."""
    if credential_type not in LICENSED_TYPES:
        return None
    require_uscc(credential_type, uscc)
    assert uscc is not None
    return licence_id_for(credential_type, uscc, lineage_id, version)


def first_licence_id(credential_type: str, uscc: str, credential_id: uuid.UUID) -> str | None:
    """``licence_id_of(credential_type, uscc, credential_id.urn, 1)``: the licence identifier of
    a lineage's first version, from the serial's check character alone; the type code and the
    authority's USCC, the same for all its credentials, are checked once (``_licence_head``)
    and a UUID's serial (32 hexadecimal digits) and version 001 always pass."""
    if credential_type not in LICENSED_TYPES:
        return None
    code, head = _licence_head(credential_type, uscc)
    serial = credential_id.hex.upper()
    return f"{head}{serial}.001.{_check_character(code, uscc, serial, '001')}"


@lru_cache(maxsize=64)
def _licence_head(credential_type: str, uscc: str) -> tuple[str, str]:
    """The type code, and an identifier's text up to its serial, of ``credential_type`` issued
    by the authority of ``uscc``; raises as ``licence_id_of`` does when they cannot make one
    (each time: an error is not cached)."""
    licence_id_of(credential_type, uscc, str(uuid.UUID(int=0)), 1)  # the same checks
    code = LICENCE_TYPE_CODES[credential_type]
    return code, f"{LICENCE_ID_ROOT}.{code}.{uscc}."


class SignedCredential(NamedTuple):
    """A new credential in the form the office stores it, made where it was signed (a signing
    process of a bulk run, or the office itself): its JCS bytes — exactly ``canonicalize`` of
    the signed credential, the bytes signing spliced the proof into, never made twice — their
    digest (the Merkle leaf content), those bytes compressed for sealing
    (``storage.sealing.pack_document``), and the columns of its row that need no master key.
    Bytes and a few strings cross a process pipe for a fraction of the signed credential's
    nested dicts. ``document`` is the signed credential when it is at hand (signed in this
    process); ``credential`` reads it from the JCS bytes otherwise, or, when those did not
    travel (``jcs`` None: a signing process sends only the compressed ones), from ``packed``."""

    id: str
    credential_type: str
    key_id: str
    jcs: bytes | None
    digest: bytes
    packed: bytes
    identifier: str | None  # what its blind index (``subject_key``) is made of, in the office
    valid_until: datetime | None
    subject_name: str | None
    derived_from: str | None
    document: dict[str, Any] | None = None

    @property
    def credential(self) -> dict[str, Any]:
        """The signed credential."""
        if self.document is not None:
            return self.document
        credential: dict[str, Any] = json.loads(
            self.jcs if self.jcs is not None else unpack_document(self.packed)
        )
        return credential

    def without_document(self) -> SignedCredential:
        """The same, without ``document``."""
        return self._replace(document=None)


def signed_form(
    credential: dict[str, Any], jcs: bytes, anchor_hash: MerkleHash = "sha-256"
) -> SignedCredential:
    """The ``SignedCredential`` of a signed credential and its JCS bytes."""
    kind = credential_kind(credential)
    columns = plain_columns(credential)
    return SignedCredential(
        id=str(credential["id"]),
        credential_type=credential["type"][1],
        key_id=credential["proof"]["verificationMethod"].partition("#")[2],
        jcs=jcs,
        digest=merkle_digest(jcs, anchor_hash),
        packed=pack_document(jcs),
        identifier=subject_identifier(kind, credential.get("credentialSubject") or {}),
        valid_until=columns["valid_until"],
        subject_name=columns["subject_name"],
        derived_from=columns["derived_from"],
        document=credential,
    )


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
    anchor_hash: MerkleHash = "sha-256",
    status_position: int | None = None,
) -> tuple[dict[str, Any], bytes]:
    """``issue_signed``'s credential and digest."""
    signed = issue_signed(
        credential_type,
        subject,
        identity,
        chain_id=chain_id,
        anchor_registry=anchor_registry,
        valid_from=valid_from,
        valid_until=valid_until,
        now=now,
        credential_id=credential_id,
        status_position=status_position,
    )
    return signed[0], merkle_digest(signed[1], anchor_hash)


def issue_signed(
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
    status_position: int | None = None,
) -> tuple[dict[str, Any], bytes]:
    """Check the request, build the credential — the first version of its lineage, with its
    licence identifier when the identity has a USCC — and sign it; returns the signed
    credential and its JCS bytes (spliced from the signing JCS: ``signed_form`` makes the
    stored form of them, ``issue_credential`` their digest, the Merkle leaf content).

    The subject's text is put in Unicode NFC first. The unsigned credential must then pass
    every rule a verifier's ``format`` check applies (``verifier.credential``), and its
    validity must not have ended already: the office never signs what a verifier would reject.
    Raises InvalidCredential with paths relative to the request (``citizenId``, ``validFrom``)."""
    now = now or datetime.now(UTC)
    times = _times_at(now)
    subject = nfc(dict(subject))
    today = times.today
    errors = validate_subject(
        credential_type, subject, authority_region=identity.region, today=today
    )
    if valid_from is None and valid_until is None:  # the default validity, checked once a now
        valid_from, valid_until = times.valid_from, times.valid_until
        errors += times.validity_errors
    else:
        valid_from = valid_from or times.valid_from
        valid_until = valid_until or valid_from + timedelta(days=365)
        errors += _validity_errors(valid_from, valid_until, now)
    if errors:
        raise InvalidCredential(errors)
    cid = credential_id or new_credential_id()
    licence = first_licence_id(credential_type, identity.uscc, cid) if identity.uscc else None
    unsigned = build_credential(
        credential_type,
        subject,
        credential_id=cid,
        issuer_did=identity.did,
        authority_name=identity.name_zh,
        issue_date=today,
        valid_from=valid_from,
        valid_until=valid_until,
        status=status_entry(
            f"urn:uuid:{cid}",
            chain_id,
            anchor_registry,
            issuer_did=identity.did,
            position=status_position,
        ),
        licence_id=licence,
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
    return sign_credential_with_jcs(
        unsigned,
        identity.key,
        identity.verification_method,
        times.created,
        cryptosuite=identity.cryptosuite,
    )


class _Times(NamedTuple):
    """What ``issue_signed`` makes of its ``now`` alone: the same for every credential of a
    bulk slice or chunk, which shares one ``now``."""

    now: datetime
    today: date  # the issue date, in China time
    valid_from: datetime  # the default validity: from now (whole seconds) ...
    valid_until: datetime  # ... for 365 days
    validity_errors: tuple[FieldError, ...]  # of that default validity
    created: str  # the proof's creation time


def _times(now: datetime) -> _Times:
    valid_from = now.replace(microsecond=0)
    valid_until = valid_from + timedelta(days=365)
    return _Times(
        now,
        now.astimezone(CHINA_TIME).date(),
        valid_from,
        valid_until,
        tuple(_validity_errors(valid_from, valid_until, now)),
        now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z"),
    )


_last_times: _Times | None = None  # of the last ``now``, kept by identity: one object a slice


def _times_at(now: datetime) -> _Times:
    """``_times(now)``, made once for each ``now`` object in turn (a slice's credentials share
    theirs): the same object, so the same values; an equal ``now`` that is another object (the
    same instant in another zone, say) gets its own."""
    global _last_times
    last = _last_times  # one read: another thread may replace it meanwhile
    if last is not None and last.now is now:
        return last
    made = _times(now)
    _last_times = made
    return made


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
