"""The lookup columns a credential row carries beside its sealed document.

The document itself is sealed (``service.storage.sealing``); what the office must find or sort
without opening it is kept beside it: the end of its term (the sweep), a blind index of the
person's citizen id number or the entity's USCC (one in force per authority, and lookups), the
name (the console's search; a name alone is not an identifier) and, for a residence-years
credential, the permit it derives from.
"""

from __future__ import annotations

from collections.abc import Mapping
from datetime import UTC
from typing import Any

from service.clock import parse_timestamp
from service.storage.sealing import MasterKey

__all__ = [
    "SUBJECT_KEYS",
    "credential_kind",
    "identifier_key",
    "lookup_columns",
    "plain_columns",
    "subject_identifier",
    "subject_key",
]

#: credential type → (blind index space, subject field) of the identifier it is unique by
SUBJECT_KEYS = {"ResidencePermit": ("citizen-id", "citizenId"), "BusinessLicense": ("uscc", "uscc")}
_DERIVED = "ResidenceYears"


def subject_identifier(credential_type: str, subject: Mapping[str, Any]) -> str | None:
    """The identifier a subject of ``credential_type`` is unique by (its citizen id number or
    USCC, as given); None for types without one or a subject without it."""
    if credential_type not in SUBJECT_KEYS:
        return None
    identifier = subject.get(SUBJECT_KEYS[credential_type][1])
    return identifier if isinstance(identifier, str) else None


def identifier_key(master: MasterKey, credential_type: str, identifier: str | None) -> bytes | None:
    """The blind index of an identifier ``subject_identifier`` gave (None for None)."""
    if identifier is None or credential_type not in SUBJECT_KEYS:
        return None
    return master.blind_index(SUBJECT_KEYS[credential_type][0], identifier.strip().upper())


def subject_key(master: MasterKey, credential_type: str, subject: dict[str, Any]) -> bytes | None:
    """The blind index of the subject's identifier for its type; None for types without one."""
    return identifier_key(master, credential_type, subject_identifier(credential_type, subject))


def credential_kind(credential: Mapping[str, Any]) -> str:
    """A credential's own type (the one beside ``VerifiableCredential``), "" if none."""
    return next((t for t in credential.get("type", []) if t != "VerifiableCredential"), "")


def plain_columns(credential: Mapping[str, Any]) -> dict[str, Any]:
    """``valid_until``, ``subject_name`` and ``derived_from`` of a signed credential: the lookup
    columns made without the master key (where it was signed, for a bulk run)."""
    kind = credential_kind(credential)
    subject = credential.get("credentialSubject") or {}
    name = subject.get("name")
    until = parse_timestamp(credential.get("validUntil"))
    return {
        # in UTC: SQLite compares stored times as text, so every one must have the same zone
        "valid_until": until.astimezone(UTC) if until is not None else None,
        "subject_name": name[:256] if isinstance(name, str) else None,
        "derived_from": subject.get("sourceCredential") if kind == _DERIVED else None,
    }


def lookup_columns(master: MasterKey, credential: dict[str, Any]) -> dict[str, Any]:
    """``valid_until``, ``subject_key``, ``subject_name`` and ``derived_from`` of a signed
    credential."""
    subject = credential.get("credentialSubject") or {}
    return {
        **plain_columns(credential),
        "subject_key": subject_key(master, credential_kind(credential), subject),
    }
