"""The lookup columns a credential row carries beside its sealed document.

The document itself is sealed (``service.storage.sealing``); what the office must find or sort
without opening it is kept beside it: the end of its term (the sweep), a blind index of the
person's citizen id number or the entity's USCC (one in force per authority, and lookups), the
name (the console's search; a name alone is not an identifier) and, for a residence-years
credential, the permit it derives from.
"""

from __future__ import annotations

from datetime import UTC
from typing import Any

from service.clock import parse_timestamp
from service.storage.sealing import MasterKey

__all__ = ["SUBJECT_KEYS", "lookup_columns", "subject_key"]

#: credential type → (blind index space, subject field) of the identifier it is unique by
SUBJECT_KEYS = {"ResidencePermit": ("citizen-id", "citizenId"), "BusinessLicense": ("uscc", "uscc")}
_DERIVED = "ResidenceYears"


def subject_key(master: MasterKey, credential_type: str, subject: dict[str, Any]) -> bytes | None:
    """The blind index of the subject's identifier for its type; None for types without one."""
    if credential_type not in SUBJECT_KEYS:
        return None
    space, field = SUBJECT_KEYS[credential_type]
    identifier = subject.get(field)
    if not isinstance(identifier, str):
        return None
    return master.blind_index(space, identifier.strip().upper())


def lookup_columns(master: MasterKey, credential: dict[str, Any]) -> dict[str, Any]:
    """``valid_until``, ``subject_key``, ``subject_name`` and ``derived_from`` of a signed
    credential."""
    kind = next((t for t in credential.get("type", []) if t != "VerifiableCredential"), "")
    subject = credential.get("credentialSubject") or {}
    name = subject.get("name")
    until = parse_timestamp(credential.get("validUntil"))
    return {
        # in UTC: SQLite compares stored times as text, so every one must have the same zone
        "valid_until": until.astimezone(UTC) if until is not None else None,
        "subject_key": subject_key(master, kind, subject),
        "subject_name": name[:256] if isinstance(name, str) else None,
        "derived_from": subject.get("sourceCredential") if kind == _DERIVED else None,
    }
