"""An authority's issuer keys as the office and the TrustRegistry hold them: lookups, errors,
results and times that rotation (``service.trust.rotation``) and compromise
(``service.trust.compromise``) share.

A verifier accepts a credential only if the key that signed it was valid *when the credential's
batch was anchored* (``validFrom <= anchoredAt < revokedAt`` in the TrustRegistry); every key
operation keeps that rule in view. Errors a person can fix are ``KeyOperationError`` with a
stable code, 中文 and English.
"""

from __future__ import annotations

import time
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import select

from service.issuing.office import NotFound, Office
from service.storage.models import (
    Authority,
    CredentialStatus,
    IssuerKey,
)
from verifier.contracts import load_artifact
from verifier.credential import CHINA_TIME
from verifier.errors import ContractReverted, InvalidInput

__all__ = [
    "COMPROMISE",
    "KEY_REVOCATION_REASONS",
    "REISSUABLE",
    "ROTATION",
    "AccountRotation",
    "Affected",
    "AffectedCredential",
    "KeyOperationError",
    "KeyValidity",
    "ReissueSummary",
    "Revocation",
    "Rotation",
    "authority_row",
    "chain_now",
    "epoch",
    "from_epoch",
    "key_validities",
    "keys_of",
    "on_chain_key",
    "or_now",
    "parse_time",
    "resolve_authority",
    "resolve_key",
    "show_time",
    "trust_abi",
]

#: Reason codes of ``TrustRegistry.revokeKey`` (see ``ITrustRegistry.KeyRevoked``).
KEY_REVOCATION_REASONS = {"rotation": 1, "compromise": 2}
ROTATION, COMPROMISE = 1, 2

REISSUABLE = (CredentialStatus.ACTIVE, CredentialStatus.SUSPENDED)
_TRUST_ABI: list[dict[str, Any]] | None = None


class KeyOperationError(InvalidInput):
    """A key operation cannot be done as asked; carries a stable code and 中文/English text."""

    def __init__(self, code: str, zh: str, en: str) -> None:
        self.code = code
        self.zh = zh
        self.en = en
        super().__init__(f"{en} [{code}]")

    def diagnostics(self) -> str:
        return f"{self.zh} / {self.en} [{self.code}]"


# ---------------------------------------------------------------------- results


@dataclass(frozen=True)
class Rotation:
    """What ``rotate_key`` did. ``revoked_at`` is None when the old key was kept valid;
    ``resumed`` is True when it finished a rotation an earlier run left half done."""

    authority_id: int
    did: str
    old_key_id: str
    new_key_id: str
    revoked_at: int | None
    anchored_first: int
    resumed: bool = False


@dataclass(frozen=True)
class Revocation:
    """What ``revoke_key`` did: the key, the time it is revoked from, the reason, and the key
    that took over signing if the revoked one was the signing key."""

    authority_id: int
    did: str
    key_id: str
    revoked_at: int
    reason: str
    tx_hash: str | None
    rotated_to: str | None
    affected: int


@dataclass(frozen=True)
class AffectedCredential:
    """A credential that fails verification because its key was revoked (no personal data)."""

    credential_id: str
    credential_type: str
    lineage_id: str
    version: int
    anchored_at: int | None  # block time of its anchor; None while not anchored
    status: str  # the office's status of this version
    successor_id: str | None  # the next version of its lineage, if any

    @property
    def needs_reissue(self) -> bool:
        """Whether ``reissue`` will replace it: the current, still usable version."""
        return self.status in REISSUABLE and self.successor_id is None


@dataclass(frozen=True)
class Affected:
    """The credentials a key's revocation invalidates, oldest first."""

    authority_id: int
    did: str
    key_id: str
    revoked_at: int | None  # None: the key is not revoked, so nothing is affected
    revocation_reason: int
    credentials: tuple[AffectedCredential, ...]

    @property
    def to_reissue(self) -> list[AffectedCredential]:
        """The ones ``reissue`` still has to replace."""
        return [c for c in self.credentials if c.needs_reissue]


@dataclass(frozen=True)
class ReissueSummary:
    """What ``reissue`` did: (old id, new id) pairs, the key that signed, chunks committed."""

    key_id: str
    signing_key_id: str
    reason: str
    pairs: tuple[tuple[str, str], ...]
    chunks: int

    @property
    def reissued(self) -> int:
        """How many new versions were issued."""
        return len(self.pairs)


@dataclass(frozen=True)
class AccountRotation:
    """What ``rotate_account`` did."""

    authority_id: int
    did: str
    previous_account: str
    new_account: str
    tx_hash: str | None
    resumed: bool


@dataclass(frozen=True)
class KeyValidity:
    """An issuer key's validity as the TrustRegistry records it (Unix seconds; 0 = not revoked)."""

    valid_from: int
    revoked_at: int
    revocation_reason: int


# ---------------------------------------------------------------------- inputs


def parse_time(text: str) -> int | None:
    """A moment given on the command line, as Unix seconds; None for ``now``.

    Accepts ISO 8601 with an offset (``2026-11-21T10:00:00+08:00``, ``…Z``), without one
    (read as 北京时间, UTC+8, the time an operator in Guangzhou means) and Unix seconds.
    Raises KeyOperationError for anything else.
    """
    value = text.strip()
    if value.lower() == "now":
        return None
    if value.isdigit():
        return int(value)
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise KeyOperationError(
            "time_invalid",
            f"无法识别的时间“{text}”：请使用 ISO 8601（如 2026-11-21T10:00:00+08:00；"
            "不带时区按北京时间）、Unix 秒数或 now",
            f"cannot read the time {text!r}: use ISO 8601 (2026-11-21T10:00:00+08:00; "
            "without an offset it is Beijing time, UTC+8), Unix seconds, or now",
        ) from None
    if parsed.tzinfo is None:
        parsed = parsed.replace(tzinfo=CHINA_TIME)
    return int(parsed.timestamp())


def resolve_authority(office: Office, did: str | None) -> Authority:
    """The authority named by ``did``, or the office's only one; raises KeyOperationError."""
    if did is not None:
        try:
            return office.authority_by_did(did)
        except NotFound:
            raise KeyOperationError(
                "unknown_authority",
                f"本办公室没有签发机关 {did}",
                f"this office does not act for {did}",
            ) from None
    authorities = office.authorities()
    if len(authorities) == 1:
        return authorities[0]
    if not authorities:
        raise KeyOperationError(
            "no_authority",
            "本办公室还没有签发机关：请先运行 suixin keys init",
            "this office has no authority yet: run `suixin keys init` first",
        )
    raise KeyOperationError(
        "authority_required",
        "本办公室有多个签发机关，请用 --authority DID 指明",
        "this office acts for several authorities: name one with --authority DID",
    )


def resolve_key(office: Office, ref: str, did: str | None) -> tuple[Authority, str]:
    """The authority and key id of ``key-1`` or ``did:web:…#key-1``; raises KeyOperationError."""
    if "#" in ref:
        ref_did, _, key_id = ref.partition("#")
        if did is not None and did != ref_did:
            raise KeyOperationError(
                "authority_mismatch",
                f"密钥 {ref} 不属于 --authority 指明的 {did}",
                f"key {ref} does not belong to --authority {did}",
            )
        did = ref_did
    else:
        key_id = ref
    authority = resolve_authority(office, did)
    with office.db.session() as s:
        known = s.scalar(
            select(IssuerKey.id).where(
                IssuerKey.authority_id == authority.id, IssuerKey.key_id == key_id
            )
        )
    if known is None:
        raise KeyOperationError(
            "unknown_key",
            f"{authority.did} 没有密钥 {key_id}",
            f"{authority.did} has no key {key_id}",
        )
    return authority, key_id


# ---------------------------------------------------------------------- chain reads


def trust_abi() -> list[dict[str, Any]]:
    global _TRUST_ABI
    if _TRUST_ABI is None:
        _TRUST_ABI = load_artifact("TrustRegistry").abi
    return _TRUST_ABI


def on_chain_key(office: Office, did: str, key_id: str) -> KeyValidity | None:
    """The key's record in the TrustRegistry, or None if it was never registered."""
    try:
        record = office.chain.call(
            office.deployment.trust_registry, trust_abi(), "keyOf", [did, key_id]
        )
    except ContractReverted as e:
        if e.name in ("UnknownKey", "UnknownAuthority"):
            return None
        raise
    return KeyValidity(int(record[1]), int(record[2]), int(record[3]))


def key_validities(office: Office) -> dict[tuple[str, str], KeyValidity]:
    """Every registered key of every authority of the office, as the chain records it, by
    (DID, key id)."""
    found: dict[tuple[str, str], KeyValidity] = {}
    for authority in office.authorities():
        try:
            key_ids = office.chain.call(
                office.deployment.trust_registry, trust_abi(), "keyIdsOf", [authority.did]
            )
        except ContractReverted as e:
            if e.name != "UnknownAuthority":
                raise
            continue  # awaiting accreditation
        for key_id in key_ids:
            record = on_chain_key(office, authority.did, str(key_id))
            if record is not None:
                found[(authority.did, str(key_id))] = record
    return found


def chain_now(office: Office) -> int:
    """Now, as the chain will time the next block: never earlier than the newest block."""
    return max(int(time.time()), office.chain.block_time("latest"))


def or_now(seconds: int | None) -> int:
    return int(time.time()) if seconds is None else seconds


def epoch(value: datetime) -> int:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite: naive
    return int(aware.timestamp())


def from_epoch(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def show_time(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S (UTC+8)")


def authority_row(office: Office, authority_id: int) -> Authority:
    """The authority as stored now (``Office.authority`` may answer from a short cache)."""
    with office.db.session() as s:
        found = s.get(Authority, authority_id)
    if found is None:
        raise NotFound(
            f"no authority {authority_id} in this office",
            f"本机构没有编号为 {authority_id} 的发证机关",
        )
    return found


def keys_of(office: Office, authority_id: int) -> list[IssuerKey]:
    with office.db.session() as s:
        return list(
            s.scalars(
                select(IssuerKey)
                .where(IssuerKey.authority_id == authority_id)
                .order_by(IssuerKey.id)
            )
        )
