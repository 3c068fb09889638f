"""The field rules of a residence permit in one flat function, for the verifier's fast path.

``Verifier._fast_valid`` answers the common VALID bundle in one pass. Its ``format`` step asks
what ``_sound_by_schema`` and ``validate_credential`` ask: the bundle schema, the credential's
type schema (with its ``date`` and ``date-time`` formats) and the field rules (``verifier
.credential``). For a ``ResidencePermit`` it asks here instead, in one function: one compiled
validator holds the bundle and the credential's schema together without the formats (one
conversion of the bundle instead of two, no call back into Python per date); the formats are
checked here where the dates are read anyway; and each field rule is asked only whether it
holds, with no error built. Anything unusual (a rule that fails, an optional field in another
form than the office writes) answers None, and the general path decides and explains.

The rules are written for ``ResidencePermit.json`` and ``bundle.json`` as they are
(``SCHEMA_DIGESTS``): with either changed, ``permit_fields`` answers None for every bundle (the
general path still right, only slower) and a test fails until the rules here are reviewed.
"""

from __future__ import annotations

import hashlib
from datetime import datetime
from functools import cache
from hashlib import sha256 as _sha256
from typing import Any

import jsonschema_rs

from verifier import regions
from verifier._time import DATE_TIME, parse_timestamp
from verifier.bundle import _sound_by_schema
from verifier.credential import (
    _OLDEST_BIRTH_YEAR,
    CHINA_TIME,
    RESIDENCE_PERMIT,
    _date,
    _text_clean,
)
from verifier.identifiers import InvalidIdentifier, citizen_id_check_digit
from verifier.jcs import canonicalize
from verifier.licence_id import (
    _ALPHABET,
    _CHARACTERS,
    _SERIAL,
    _TYPE_CODE,
    _VERSION,
    LICENCE_ID_ROOT,
    _check_character,
    _parse_uscc,
)
from verifier.merkle import _NODE_PREFIX as _NODE
from verifier.schemas import CREDENTIAL_TYPES, load_schema, schema_id

__all__ = ["SCHEMA_DIGESTS", "inclusion_root", "licence_id_holds", "permit_fields"]

_LICENCE_PREFIX = LICENCE_ID_ROOT + "."
_fromhex = bytes.fromhex

#: SHA-256 of the JCS bytes of the schemas the flat rules were written for
SCHEMA_DIGESTS = {
    "bundle": "ffe89bb6697db7439f72bc074026583c023bc4473feab3e877522c56443ebb4c",
    RESIDENCE_PERMIT: "8d01dbd7033008bf34415e9d6afbf81ae282464c5f41e9b6810630e105add138",
}


def schema_digest(name: str) -> str:
    """SHA-256 (hex) of the JCS bytes of the shipped schema ``name``."""
    return hashlib.sha256(canonicalize(load_schema(name))).hexdigest()


@cache
def permit_bundle_validator() -> Any:
    """A compiled validator of the bundle schema whose ``credential`` must also pass the
    ResidencePermit schema, formats not asserted (``permit_fields`` checks them); None when the
    schemas are not the ones the flat rules were written for."""
    if any(schema_digest(name) != digest for name, digest in SCHEMA_DIGESTS.items()):
        return None
    bundle = dict(load_schema("bundle"))
    bundle["properties"] = {
        **bundle["properties"],
        "credential": {"allOf": [{"type": "object"}, {"$ref": schema_id(RESIDENCE_PERMIT)}]},
    }
    registry = jsonschema_rs.Registry(
        [(schema_id(t), dict(load_schema(t))) for t in CREDENTIAL_TYPES]
    )
    return jsonschema_rs.Draft202012Validator(bundle, registry=registry, validate_formats=False)


def permit_fields(
    bundle: dict[str, Any], cred: dict[str, Any], now: datetime
) -> tuple[datetime, datetime] | None:
    """The credential's ``validFrom`` and ``validUntil`` when ``bundle`` (a plain ``dict``
    whose ``credential``, ``cred``, a ``ResidencePermit`` on the compiled JCS path) passes the
    bundle schema, its credential's schema and every field rule at ``now``: that is, when
    ``_sound_by_schema(bundle)`` and ``validate_credential(cred, now=now) == []``. None when
    any of them fails, and for the rare clean credential these flat rules do not recognise
    (the general path then decides)."""
    validator = permit_bundle_validator()
    if validator is None or not _sound_by_schema(bundle, validator):
        return None
    subject = cred["credentialSubject"]
    # The schema's patterns hold; its formats: real dates (``schemas._is_date``), date-times
    # that exist and lie in range (``schemas._is_date_time``, read as ``parse_timestamp``).
    birth_text = subject["birthDate"]
    birth = _date(birth_text)
    issue = _date(subject["issueDate"])
    since_text = subject.get("residenceSince")
    since = None if since_text is None else _date(since_text)
    if birth is None or issue is None or (since is None and since_text is not None):
        return None
    from_text, until_text = cred["validFrom"], cred["validUntil"]
    if DATE_TIME.match(from_text) is None or DATE_TIME.match(until_text) is None:
        return None
    valid_from = parse_timestamp(from_text)
    valid_until = parse_timestamp(until_text)
    if valid_from is None or valid_until is None or valid_until <= valid_from:
        return None
    today = now.astimezone(CHINA_TIME).date()
    # text: no forbidden character, NFC
    if not _text_clean(subject):
        return None
    # the citizen ID (its form the schema's): check digit, province, birth date and sex
    citizen_id = subject["citizenId"]
    body = citizen_id[:17]
    if (
        citizen_id_check_digit(body) != citizen_id[17]
        or body[6:14] != birth_text.replace("-", "")
        or not regions.is_known(body[:2] + "0000", historical=True)
        or subject["sex"] != ("male" if int(body[16]) % 2 == 1 else "female")
    ):
        return None
    # the residence region is a code in force (no authority region: the verifier's call)
    if not regions.is_known(subject["residenceRegion"]):
        return None
    if birth > today or birth.year < _OLDEST_BIRTH_YEAR or birth > issue or issue > today:
        return None
    for endorsement in subject["endorsements"]:
        when, until = _date(endorsement["date"]), _date(endorsement["validUntil"])
        if when is None or until is None or when < issue or when > today or until <= when:
            return None
    if since is not None and (since > today or since < birth):
        return None
    # the credential's own dates
    start = valid_from.astimezone(CHINA_TIME).date()
    if issue > start or (since is not None and since > issue and since > start):
        return None
    licence = cred.get("licenceId")
    if licence is not None:
        if type(licence) is not str or licence != licence.strip():
            return None
        if not licence_id_holds(licence):
            return None
    return valid_from, valid_until


def licence_id_holds(licence: str) -> bool:
    """Whether ``parse_licence_id(licence)`` accepts ``licence`` (already stripped): the same
    steps, without the parts built or an exception raised for a refusal."""
    if not licence.startswith(_LICENCE_PREFIX):
        return False
    parts = licence[len(_LICENCE_PREFIX) :].split(".")
    if len(parts) != 5:
        return False
    type_code, issuer, serial, version, check = parts
    if (
        _TYPE_CODE.fullmatch(type_code) is None
        or _CHARACTERS.fullmatch(issuer) is None
        or _SERIAL.fullmatch(serial) is None
        or _VERSION.fullmatch(version) is None
        or len(check) != 1
        or check not in _ALPHABET
    ):
        return False
    try:
        _parse_uscc(issuer)
    except InvalidIdentifier:
        return False
    return _check_character(type_code, issuer, serial, version) == check


def inclusion_root(leaf: bytes, index: int, size: int, path: list[str]) -> bytes | None:
    """``root_from_inclusion(leaf, index, size, [the path's bytes], "sha-256")`` for a receipt
    the bundle schema accepted (integers, a path of ``0x`` and 64 hexadecimal digits), or None
    where that raises: the path read as it is walked."""
    if not 0 <= index < size:
        return None
    r = leaf
    fn = index
    sn = size - 1
    for text in path:
        if sn == 0:
            return None  # too long
        node = _fromhex(text[2:])
        if fn & 1 or fn == sn:
            r = _sha256(_NODE + node + r).digest()
            while fn and not fn & 1:
                fn >>= 1
                sn >>= 1
        else:
            r = _sha256(_NODE + r + node).digest()
        fn >>= 1
        sn >>= 1
    return r if sn == 0 else None  # else too short
