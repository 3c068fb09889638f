"""Key operations: issuer key rotation, backdated compromise with bulk re-issue, account rotation.

A verifier accepts a credential only if the key that signed it was valid *when the credential's
batch was anchored* (``validFrom <= anchoredAt < revokedAt`` in the TrustRegistry). Every
operation here keeps that rule in view:

- **Rotation** (``rotate_key``): a new Ed25519 key is stored (sealed, inactive), registered on
  chain, then made the signing key; the old key stops signing at once. Credentials the old key
  already signed but the anchoring queue still holds are anchored *before* the old key is
  revoked: the rotation waits ``settle_seconds`` (other office processes re-read the active key
  that often, see ``Office.key_refresh_seconds``), anchors every pending credential of the old
  key, and revokes it from ``max(requested time, last such anchor + 1 s)``. So no honest
  credential is invalidated by a rotation; one signed with the old key that still reaches the
  chain afterwards fails ``key_validity`` and shows up in ``affected``. Each step is durable
  before the next starts, so running the command again after a crash finishes the rotation.
- **Compromise** (``revoke_key``): the key is revoked from an earlier moment ``since`` (the
  registry only ever moves a revocation earlier). If it was the signing key, it stops signing
  first and a new key takes over after the revocation. ``affected`` lists exactly the
  credentials that now fail: anchored at or after ``since`` with that key, and those of that
  key not anchored yet. ``reissue`` gives each current version among them a successor in the
  same lineage (same subject and term, signed with the current key, queued for anchoring) and
  supersedes the old version (``key_compromised``, 11), queueing the on-chain status change;
  one transaction per chunk, idempotent, resumable.
- **Account rotation** (``rotate_account``): the TrustRegistry lets the authority's current
  account (or the governance root) move the authority to a new account. The new account is
  stored sealed before the chain switches, so a crash never strands the authority. Anchors and
  statuses are keyed by the authority's id on chain, so its history stays with it.

Every operation appends an audit row (``key.rotate``, ``key.revoke``, ``key.rotate_account``;
``key.reissue`` once per chunk, naming the old and new credential ids) with key ids, times and
transaction hashes, never key material. Errors a person can fix are ``KeyOperationError`` with
a stable code, 中文 and English.
"""

from __future__ import annotations

import re
import time
import uuid
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, insert, select, update
from sqlalchemy.orm import aliased

from service import audit
from service.deploy import fund_if_dev
from service.issuance import status_entry
from service.office import NotFound, Office
from service.status_queue import enqueue
from service.storage.models import (
    AnchorState,
    Authority,
    Batch,
    Credential,
    CredentialStatus,
    IssuerKey,
)
from service.worker import AnchorWorker
from verifier.contracts import load_artifact
from verifier.credential import CHINA_TIME
from verifier.errors import ChainError, ContractReverted, InvalidInput
from verifier.keys import Ed25519KeyPair
from verifier.proofs import sign_credential_with_digest

__all__ = [
    "KEY_REVOCATION_REASONS",
    "AccountRotation",
    "Affected",
    "AffectedCredential",
    "KeyOperationError",
    "KeyValidity",
    "ReissueSummary",
    "Revocation",
    "Rotation",
    "affected",
    "key_validities",
    "parse_time",
    "reissue",
    "resolve_authority",
    "resolve_key",
    "revoke_key",
    "rotate_account",
    "rotate_key",
]

#: Reason codes of ``TrustRegistry.revokeKey`` (see ``ITrustRegistry.KeyRevoked``).
KEY_REVOCATION_REASONS = {"rotation": 1, "compromise": 2}
_ROTATION, _COMPROMISE = 1, 2

_REISSUABLE = (CredentialStatus.ACTIVE, CredentialStatus.SUSPENDED)
_KEY_ID = re.compile(r"^key-(\d+)$")
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
        return self.status in _REISSUABLE and self.successor_id is None


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


def _trust_abi() -> list[dict[str, Any]]:
    global _TRUST_ABI
    if _TRUST_ABI is None:
        _TRUST_ABI = load_artifact("TrustRegistry").abi
    return _TRUST_ABI


def _on_chain_key(office: Office, did: str, key_id: str) -> KeyValidity | None:
    """The key's record in the TrustRegistry, or None if it was never registered."""
    try:
        record = office.chain.call(
            office.deployment.trust_registry, _trust_abi(), "keyOf", [did, key_id]
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
                office.deployment.trust_registry, _trust_abi(), "keyIdsOf", [authority.did]
            )
        except ContractReverted as e:
            if e.name != "UnknownAuthority":
                raise
            continue  # awaiting accreditation
        for key_id in key_ids:
            record = _on_chain_key(office, authority.did, str(key_id))
            if record is not None:
                found[(authority.did, str(key_id))] = record
    return found


def _chain_now(office: Office) -> int:
    """Now, as the chain will time the next block: never earlier than the newest block."""
    return max(int(time.time()), office.chain.block_time("latest"))


def _or_now(seconds: int | None) -> int:
    return int(time.time()) if seconds is None else seconds


def _epoch(value: datetime) -> int:
    aware = value if value.tzinfo is not None else value.replace(tzinfo=UTC)  # SQLite: naive
    return int(aware.timestamp())


def _dt(seconds: int) -> datetime:
    return datetime.fromtimestamp(seconds, UTC)


def _show(seconds: int) -> str:
    return datetime.fromtimestamp(seconds, CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S (UTC+8)")


def _authority(office: Office, authority_id: int) -> Authority:
    """The authority as stored now (``Office.authority`` may answer from a short cache)."""
    with office.db.session() as s:
        found = s.get(Authority, authority_id)
    if found is None:
        raise NotFound(f"no authority {authority_id} in this office")
    return found


def _keys(office: Office, authority_id: int) -> list[IssuerKey]:
    with office.db.session() as s:
        return list(
            s.scalars(
                select(IssuerKey)
                .where(IssuerKey.authority_id == authority_id)
                .order_by(IssuerKey.id)
            )
        )


# ---------------------------------------------------------------------- rotation


def rotate_key(
    office: Office,
    authority_id: int,
    *,
    revoke_old_at: int | None = None,
    keep_old: bool = False,
    settle_seconds: float | None = None,
    anchor_timeout: float = 300.0,
    actor: str = "cli",
    log: Callable[[str], None] | None = None,
) -> Rotation:
    """Rotate the authority's issuer key (see the module docstring); returns what was done.

    ``revoke_old_at`` (Unix seconds) is the earliest time the old key is revoked from; the
    revocation is moved later if credentials signed with the old key are anchored up to then.
    ``keep_old`` leaves the old key valid on chain (it only stops signing). If an earlier run
    stopped half way, this finishes that rotation instead of starting another; with no signing
    key at all (after a compromise whose new key could not be registered) it makes one. Raises
    KeyOperationError, and ChainError when the chain refuses or cannot be reached.
    """
    say = log or (lambda _message: None)
    authority = _authority(office, authority_id)
    settle = office.key_refresh_seconds if settle_seconds is None else settle_seconds
    keys = _keys(office, authority_id)
    active = [k for k in keys if k.active]
    if not active and not _registered_key_ids(office, authority.did):
        raise KeyOperationError(
            "not_enrolled",
            f"{authority.did} 还没有启用的签发密钥：请先完成 suixin keys init",
            f"{authority.did} has no active issuer key yet: finish `suixin keys init` first",
        )
    current = active[-1] if active else None
    for key in keys:  # an earlier rotation that switched keys but did not revoke the old one
        if not key.active and key.revoked_at is not None:
            on_chain = _on_chain_key(office, authority.did, key.key_id)
            if on_chain is not None and on_chain.revoked_at != _epoch(key.revoked_at):
                say(f"finishing the interrupted rotation away from {key.key_id}")
                revoked_at, anchored = _retire(
                    office, authority, key, _epoch(key.revoked_at), settle, anchor_timeout, actor
                )
                return Rotation(
                    authority_id,
                    authority.did,
                    key.key_id,
                    current.key_id if current is not None else "",
                    revoked_at,
                    anchored,
                    resumed=True,
                )
    return _rotate(
        office,
        authority,
        current,
        keys,
        revoke_old_at=None if keep_old else _or_now(revoke_old_at),
        settle=settle,
        anchor_timeout=anchor_timeout,
        actor=actor,
        say=say,
    )


def _registered_key_ids(office: Office, did: str) -> list[str]:
    try:
        ids = office.chain.call(office.deployment.trust_registry, _trust_abi(), "keyIdsOf", [did])
    except ContractReverted as e:
        if e.name != "UnknownAuthority":
            raise
        return []
    return [str(k) for k in ids]


def _rotate(
    office: Office,
    authority: Authority,
    current: IssuerKey | None,
    keys: Sequence[IssuerKey],
    *,
    revoke_old_at: int | None,
    settle: float,
    anchor_timeout: float,
    actor: str,
    say: Callable[[str], None],
) -> Rotation:
    """Stage (or reuse the staged), register and switch to a new key; then retire ``current``
    unless ``revoke_old_at`` is None. ``current`` is None when no key signs any more."""
    newest = keys[-1] if keys else None
    staged = (
        newest is not None
        and not newest.active
        and newest.revoked_at is None
        and (current is None or newest.id > current.id)
    )
    new = newest if staged and newest is not None else _stage_key(office, authority, keys)
    old_key_id = current.key_id if current is not None else ""
    say(f"registering {new.key_id} on chain")
    valid_from = _register(office, authority, new)
    with office.db.write_session() as s:
        new_row = s.get(IssuerKey, new.id)
        assert new_row is not None
        new_row.active = True
        if current is not None:
            old_row = s.get(IssuerKey, current.id)
            assert old_row is not None
            old_row.active = False
            if revoke_old_at is not None:
                # the planned revocation, refined once the old key's last credential is
                # anchored; a crash before then leaves this mark, and the next run finishes
                old_row.revoked_at = _dt(revoke_old_at)
        audit.record(
            s,
            actor=actor,
            action="key.rotate",
            authority_id=authority.id,
            details={
                "oldKeyId": old_key_id or None,
                "newKeyId": new.key_id,
                "newKeyValidFrom": valid_from,
                "revokeOldFrom": revoke_old_at if current is not None else None,
            },
        )
    office.forget_keys(authority.id)
    say(f"{new.key_id} now signs" + (f"; {old_key_id} no longer does" if old_key_id else ""))
    if current is None or revoke_old_at is None:
        return Rotation(authority.id, authority.did, old_key_id, new.key_id, None, 0, staged)
    with office.db.session() as s:
        old = s.get(IssuerKey, current.id)
    assert old is not None
    revoked_at, anchored = _retire(
        office, authority, old, revoke_old_at, settle, anchor_timeout, actor, say
    )
    return Rotation(
        authority.id, authority.did, old_key_id, new.key_id, revoked_at, anchored, staged
    )


def _stage_key(office: Office, authority: Authority, keys: Sequence[IssuerKey]) -> IssuerKey:
    """Create the next key (``key-N``), sealed and inactive, before the chain hears of it."""
    taken = {k.key_id for k in keys} | set(_registered_key_ids(office, authority.did))
    numbers = [int(m.group(1)) for m in map(_KEY_ID.match, taken) if m]
    key_id = f"key-{max(numbers, default=0) + 1}"
    pair = Ed25519KeyPair.generate()
    row = IssuerKey(
        authority_id=authority.id,
        key_id=key_id,
        public_key=pair.public_bytes,
        private_key_encrypted=office.master.seal(
            pair.private_bytes(), f"issuer-key:{authority.did}#{key_id}"
        ),
        active=False,
        created_at=datetime.now(UTC),
    )
    with office.db.session() as s:
        s.add(row)
    return row


def _register(office: Office, authority: Authority, key: IssuerKey) -> int:
    """Register ``key`` on chain (again after a crash is fine); returns its validFrom."""
    fund_if_dev(office.chain, authority.account_address)
    try:
        office.chain.transact(
            office.deployment.trust_registry,
            _trust_abi(),
            "addKey",
            [authority.did, key.key_id, bytes(key.public_key)],
            office.account(authority.id),
        )
    except ContractReverted as e:
        if e.name != "KeyExists":
            raise
    record = office.chain.call(
        office.deployment.trust_registry, _trust_abi(), "keyOf", [authority.did, key.key_id]
    )
    if bytes(record[0]) != bytes(key.public_key):
        raise KeyOperationError(
            "key_id_taken",
            f"链上 {authority.did} 的 {key.key_id} 是另一把公钥：本办公室不能使用该密钥编号",
            f"{authority.did}#{key.key_id} is registered on chain with another public key: "
            "this office cannot use that key id",
        )
    return int(record[1])


def _unanchored(office: Office, authority_id: int, key_id: str) -> int:
    with office.db.session() as s:
        return int(
            s.scalar(
                select(func.count())
                .select_from(Credential)
                .where(
                    Credential.authority_id == authority_id,
                    Credential.key_id == key_id,
                    Credential.anchor_state != AnchorState.ANCHORED,
                )
            )
            or 0
        )


def _anchor_pending(
    office: Office, authority_id: int, key_id: str, timeout: float, say: Callable[[str], None]
) -> int:
    """Anchor every credential signed with ``key_id`` that is not anchored yet; returns how
    many there were. Uses the worker's crash-safe batches, so a worker process running at the
    same time (PostgreSQL) cannot double an anchor; waits for it when it holds the authority."""
    waiting = _unanchored(office, authority_id, key_id)
    if not waiting:
        return 0
    say(f"anchoring the {waiting} credential(s) {key_id} signed that are still queued")
    worker = AnchorWorker(office, batch_size=10_000, log=lambda _message: None)
    deadline = time.monotonic() + timeout
    while _unanchored(office, authority_id, key_id):
        if time.monotonic() > deadline:
            raise KeyOperationError(
                "anchoring_timeout",
                f"{timeout:.0f} 秒内未能将 {key_id} 签发的待上链凭证全部上链；旧密钥尚未吊销，"
                "请检查链和上链进程后再次运行本命令",
                f"the credentials {key_id} signed were not all anchored within {timeout:.0f} s; "
                "the old key is not revoked yet: check the chain and the worker, then run "
                "this command again",
            )
        failures = worker.stats.failures
        if not worker.run_once(force=True):
            if worker.stats.failures > failures:  # the chain refuses this authority's anchors
                raise KeyOperationError(
                    "anchoring_refused",
                    f"链拒绝为 {key_id} 签发的待上链凭证存证（{worker.stats.last_error}）；"
                    "旧密钥尚未吊销",
                    f"the chain refuses to anchor the credentials {key_id} signed "
                    f"({worker.stats.last_error}); the old key is not revoked yet",
                )
            time.sleep(0.2)  # another worker holds this authority: let it finish
    return waiting


def _retire(
    office: Office,
    authority: Authority,
    key: IssuerKey,
    planned: int,
    settle: float,
    timeout: float,
    actor: str,
    say: Callable[[str], None] | None = None,
) -> tuple[int, int]:
    """Revoke a key that no longer signs, after everything it signed is anchored; returns
    (the time it is revoked from, how many of its credentials were anchored first)."""
    say = say or (lambda _message: None)
    if settle > 0:
        say(f"waiting {settle:.0f} s for other office processes to switch keys")
        time.sleep(settle)
    anchored = _anchor_pending(office, authority.id, key.key_id, timeout, say)
    with office.db.session() as s:
        last = s.scalar(
            select(func.max(Batch.block_time))
            .join(Credential, Credential.batch_id == Batch.id)
            .where(Credential.authority_id == authority.id, Credential.key_id == key.key_id)
        )
    on_chain = _on_chain_key(office, authority.did, key.key_id)
    if on_chain is None:
        raise KeyOperationError(
            "key_not_registered",
            f"{key.key_id} 未在链上登记，无需吊销",
            f"{key.key_id} is not registered on chain: there is nothing to revoke",
        )
    revoked_at = max(planned, int(last or 0) + 1, on_chain.valid_from)
    tx_hash = None
    if on_chain.revoked_at == 0:
        receipt = office.chain.transact(
            office.deployment.trust_registry,
            _trust_abi(),
            "revokeKey",
            [authority.did, key.key_id, revoked_at, _ROTATION],
            office.account(authority.id),
        )
        tx_hash = receipt.tx_hash
    else:
        revoked_at = on_chain.revoked_at  # revoked by an earlier run that stopped before storing
    with office.db.write_session() as s:
        row = s.get(IssuerKey, key.id)
        assert row is not None
        row.active = False
        row.revoked_at = _dt(revoked_at)
        audit.record(
            s,
            actor=actor,
            action="key.revoke",
            authority_id=authority.id,
            details={
                "keyId": key.key_id,
                "revokedAt": revoked_at,
                "requestedFrom": planned,
                "reason": "rotation",
                "anchoredFirst": anchored,
                "txHash": tx_hash,
            },
        )
    say(f"{key.key_id} revoked from {_show(revoked_at)}")
    return revoked_at, anchored


# ---------------------------------------------------------------------- compromise


def revoke_key(
    office: Office,
    authority_id: int,
    key_id: str,
    since: int | None,
    *,
    reason: str = "compromise",
    actor: str = "cli",
    log: Callable[[str], None] | None = None,
) -> Revocation:
    """Revoke ``key_id`` from ``since`` (Unix seconds, at most now; None: now).

    If it is the signing key, it stops signing at once, is revoked, and then a new key is
    registered to take over (the revocation does not wait on that: if the new key cannot be
    registered, KeyOperationError ``no_signing_key`` says so and ``rotate_key`` makes one
    later). Running it again with the same time changes nothing (no transaction, no audit
    row); after an interruption it finishes what is left. Raises KeyOperationError when
    ``since`` lies in the future, before the key became valid, or after an existing
    revocation of the key.
    """
    say = log or (lambda _message: None)
    if reason not in KEY_REVOCATION_REASONS:
        raise KeyOperationError(
            "reason_invalid",
            f"吊销原因只能是 {'、'.join(KEY_REVOCATION_REASONS)}",
            f"the reason must be one of {', '.join(KEY_REVOCATION_REASONS)}",
        )
    authority = _authority(office, authority_id)
    keys = _keys(office, authority_id)
    row = next((k for k in keys if k.key_id == key_id), None)
    if row is None:
        raise KeyOperationError(
            "unknown_key",
            f"{authority.did} 没有密钥 {key_id}",
            f"{authority.did} has no key {key_id}",
        )
    on_chain = _on_chain_key(office, authority.did, key_id)
    if on_chain is None:
        raise KeyOperationError(
            "key_not_registered",
            f"{key_id} 未在链上登记，无需吊销",
            f"{key_id} is not registered on chain: there is nothing to revoke",
        )
    now = _chain_now(office)
    since = now if since is None else since
    if since > now:
        raise KeyOperationError(
            "revocation_in_future",
            f"吊销起始时间 {_show(since)} 晚于现在；计划中的密钥更换请用 suixin keys rotate "
            "--revoke-old-at",
            f"the revocation time {_show(since)} is in the future; to schedule a key change "
            "use `suixin keys rotate --revoke-old-at`",
        )
    if since < on_chain.valid_from:
        raise KeyOperationError(
            "revocation_before_valid_from",
            f"{key_id} 自 {_show(on_chain.valid_from)} 起生效，吊销时间不能早于此",
            f"{key_id} became valid at {_show(on_chain.valid_from)}: it cannot be revoked "
            "from an earlier time",
        )
    if on_chain.revoked_at and on_chain.revoked_at < since:
        raise KeyOperationError(
            "already_revoked_earlier",
            f"{key_id} 已自更早的 {_show(on_chain.revoked_at)} 起吊销；吊销时间只能提前",
            f"{key_id} is already revoked from an earlier time, {_show(on_chain.revoked_at)}; "
            "a revocation can only move earlier",
        )
    if row.active:  # stop signing with it before anything else
        with office.db.session() as s:
            stored = s.get(IssuerKey, row.id)
            assert stored is not None
            stored.active = False
        office.forget_keys(authority.id)
    tx_hash = None
    if on_chain.revoked_at != since:
        receipt = office.chain.transact(
            office.deployment.trust_registry,
            _trust_abi(),
            "revokeKey",
            [authority.did, key_id, since, KEY_REVOCATION_REASONS[reason]],
            office.account(authority.id),
        )
        tx_hash = receipt.tx_hash
    with office.db.write_session() as s:
        stored = s.get(IssuerKey, row.id)
        assert stored is not None
        if stored.revoked_at is None or _epoch(stored.revoked_at) != since:
            stored.revoked_at = _dt(since)  # else: a repeat that changes nothing, no audit row
            audit.record(
                s,
                actor=actor,
                action="key.revoke",
                authority_id=authority.id,
                details={"keyId": key_id, "revokedAt": since, "reason": reason, "txHash": tx_hash},
            )
    rotated_to = None
    if not any(k.active for k in _keys(office, authority.id)):
        say(f"{key_id} was the signing key: a new key takes over")
        try:
            rotation = _rotate(
                office,
                authority,
                None,
                _keys(office, authority.id),
                revoke_old_at=None,
                settle=0.0,
                anchor_timeout=0.0,
                actor=actor,
                say=say,
            )
        except ChainError as e:
            raise KeyOperationError(
                "no_signing_key",
                f"{key_id} 已吊销，但新签发密钥未能在链上登记（{e}）：在此之前无法签发；"
                "请在问题解决后运行 suixin keys rotate",
                f"{key_id} is revoked, but a new signing key could not be registered on chain "
                f"({e}): nothing can be issued until `suixin keys rotate` succeeds",
            ) from e
        rotated_to = rotation.new_key_id
    count = len(affected(office, authority.id, key_id).credentials)
    return Revocation(
        authority.id, authority.did, key_id, since, reason, tx_hash, rotated_to, count
    )


def affected(office: Office, authority_id: int, key_id: str) -> Affected:
    """Exactly the credentials that fail ``key_validity`` because ``key_id`` is revoked.

    As a verifier decides: anchored at or after the revocation time, or not anchored yet once
    the revocation time has come. A batch whose root went on chain but whose receipts the
    worker has not stored yet is timed by asking the chain. Reads ids, types, versions and
    times only, never a credential's content.
    """
    authority = _authority(office, authority_id)
    on_chain = _on_chain_key(office, authority.did, key_id)
    if on_chain is None:
        with office.db.session() as s:
            known = s.scalar(
                select(IssuerKey.id).where(
                    IssuerKey.authority_id == authority_id, IssuerKey.key_id == key_id
                )
            )
        if known is None:
            raise KeyOperationError(
                "unknown_key",
                f"{authority.did} 没有密钥 {key_id}",
                f"{authority.did} has no key {key_id}",
            )
    if on_chain is None or on_chain.revoked_at == 0:
        return Affected(authority_id, authority.did, key_id, None, 0, ())
    revoked_at = on_chain.revoked_at
    due = revoked_at <= _chain_now(office)
    successor = aliased(Credential)
    with office.db.session() as s:
        rows = s.execute(
            select(
                Credential.id,
                Credential.credential_type,
                Credential.lineage_id,
                Credential.version,
                Credential.status,
                Credential.anchor_state,
                Batch.block_time,
                Batch.root,
                successor.id,
            )
            .outerjoin(Batch, Batch.id == Credential.batch_id)
            .outerjoin(successor, successor.previous_id == Credential.id)
            .where(
                Credential.authority_id == authority_id,
                Credential.key_id == key_id,
                (Credential.anchor_state != AnchorState.ANCHORED)
                | (Batch.block_time >= revoked_at),
            )
            .order_by(Credential.seq)
        ).all()
    anchor_abi = load_artifact("AnchorRegistry").abi
    on_chain_roots: dict[bytes, int | None] = {}
    found: dict[str, AffectedCredential] = {}
    for cid, ctype, lineage, version, status, state, block_time, root, next_id in rows:
        anchored_at: int | None = None
        if state == AnchorState.ANCHORED and block_time is not None:
            anchored_at = int(block_time)
        if state == AnchorState.BATCHED and root is not None:
            key = bytes(root)
            if key not in on_chain_roots:  # sent, perhaps mined, receipts not stored yet
                record = office.chain.call(
                    office.deployment.anchor_registry, anchor_abi, "anchorOf", [key]
                )
                on_chain_roots[key] = int(record[2]) or None
            anchored_at = on_chain_roots[key]
        hit = anchored_at >= revoked_at if anchored_at is not None else due
        if hit and cid not in found:
            found[cid] = AffectedCredential(
                cid, ctype, lineage, int(version), anchored_at, status, next_id
            )
    return Affected(
        authority_id,
        authority.did,
        key_id,
        revoked_at,
        on_chain.revocation_reason,
        tuple(found.values()),
    )


def reissue(
    office: Office,
    authority_id: int,
    key_id: str,
    *,
    chunk: int = 500,
    actor: str = "cli",
    progress: Callable[[int], None] | None = None,
) -> ReissueSummary:
    """Re-issue every current version ``affected`` lists, signed with the signing key.

    Each chunk is one transaction: new versions (same lineage, ``version + 1``,
    ``previous_id``, same subject and term, queued for anchoring), the old versions superseded
    with reason ``key_compromised`` (or ``reissued`` for a key revoked by rotation), their
    status changes queued for the chain, and one audit row naming old and new ids. A version
    already superseded is skipped, so running it again, or after a crash, re-issues only what
    is left. A suspended version's successor is suspended too (its status change is queued as
    well).
    """
    if chunk < 1:
        raise KeyOperationError("chunk_invalid", "--chunk 至少为 1", "--chunk must be at least 1")
    found = affected(office, authority_id, key_id)
    if found.revoked_at is None:
        raise KeyOperationError(
            "key_not_revoked",
            f"{key_id} 未被吊销：没有需要重新签发的凭证",
            f"{key_id} is not revoked: no credential needs re-issuing",
        )
    authority = _authority(office, authority_id)
    office.forget_keys(authority_id)
    signer = office.signer(authority_id)
    if signer.key_id == key_id:
        raise KeyOperationError(
            "key_still_signing",
            f"{key_id} 仍是签发密钥：请先运行 suixin keys rotate",
            f"{key_id} is still the signing key: run `suixin keys rotate` first",
        )
    signing = _on_chain_key(office, authority.did, signer.key_id)
    if signing is None or (signing.revoked_at and signing.revoked_at <= _chain_now(office)):
        raise KeyOperationError(
            "signing_key_not_valid",
            f"当前签发密钥 {signer.key_id} 在链上未登记或已吊销：请先运行 suixin keys rotate",
            f"the signing key {signer.key_id} is not registered on chain or is revoked: run "
            "`suixin keys rotate` first",
        )
    reason = "key_compromised" if found.revocation_reason == _COMPROMISE else "reissued"
    method = f"{authority.did}#{signer.key_id}"
    todo = [c.credential_id for c in found.to_reissue]
    pairs: list[tuple[str, str]] = []
    chunks = 0
    for start in range(0, len(todo), chunk):
        ids = todo[start : start + chunk]
        now = datetime.now(UTC)
        created = now.replace(microsecond=0).isoformat().replace("+00:00", "Z")
        done: list[tuple[str, str]] = []
        with office.db.write_session() as s:
            replaced = set(
                s.scalars(select(Credential.previous_id).where(Credential.previous_id.in_(ids)))
            )
            olds = s.scalars(
                select(Credential)
                .where(
                    Credential.id.in_(ids),
                    Credential.authority_id == authority_id,
                    Credential.status.in_(_REISSUABLE),
                )
                .order_by(Credential.seq)
                .with_for_update()
            ).all()
            rows: list[dict[str, Any]] = []
            for old in olds:
                if old.id in replaced:
                    continue
                new_id = f"urn:uuid:{uuid.uuid4()}"
                unsigned = {k: v for k, v in old.document.items() if k != "proof"}
                unsigned["id"] = new_id
                unsigned["credentialStatus"] = status_entry(
                    new_id, office.deployment.chain_id, office.deployment.anchor_registry
                )
                credential, digest = sign_credential_with_digest(unsigned, signer, method, created)
                rows.append(
                    {
                        "id": new_id,
                        "authority_id": authority_id,
                        "credential_type": old.credential_type,
                        "document": credential,
                        "digest": digest,
                        "anchor_state": AnchorState.PENDING,
                        "created_at": now,
                        "lineage_id": old.lineage_id,
                        "version": old.version + 1,
                        "previous_id": old.id,
                        "key_id": signer.key_id,
                        "status": old.status,
                        "status_reason": old.status_reason
                        if old.status == CredentialStatus.SUSPENDED
                        else None,
                        "status_changed_at": now
                        if old.status == CredentialStatus.SUSPENDED
                        else None,
                    }
                )
                enqueue(
                    s,
                    authority_id=authority_id,
                    credential_id=old.id,
                    status="superseded",
                    reason=reason,
                    now=now,
                )
                if old.status == CredentialStatus.SUSPENDED:  # the successor stays suspended
                    enqueue(
                        s,
                        authority_id=authority_id,
                        credential_id=new_id,
                        status="suspended",
                        reason=old.status_reason or "unspecified",
                        now=now,
                    )
                done.append((old.id, new_id))
            if rows:
                s.execute(insert(Credential), rows)
                s.execute(  # one statement for the chunk, not one per row
                    update(Credential)
                    .where(Credential.id.in_([old_id for old_id, _ in done]))
                    .values(
                        status=CredentialStatus.SUPERSEDED,
                        status_reason=reason,
                        status_changed_at=now,
                    )
                    .execution_options(synchronize_session=False)
                )
            if done:  # one row per chunk, as bulk issuance writes one per request
                audit.record(
                    s,
                    actor=actor,
                    action="key.reissue",
                    authority_id=authority_id,
                    details={
                        "keyId": key_id,
                        "signingKeyId": signer.key_id,
                        "reason": reason,
                        "count": len(done),
                        "previousIds": [old_id for old_id, _ in done],
                        "credentialIds": [new_id for _, new_id in done],
                    },
                    at=now,
                )
        pairs += done
        chunks += 1
        if progress is not None:
            progress(len(done))
    return ReissueSummary(key_id, signer.key_id, reason, tuple(pairs), chunks)


# ---------------------------------------------------------------------- account rotation


def rotate_account(
    office: Office,
    authority_id: int,
    *,
    allow_unfunded: bool = False,
    actor: str = "cli",
) -> AccountRotation:
    """Move the authority to a new chain account (``TrustRegistry.setAccount``, sent by the
    current account, which the registry allows); returns what was done.

    The new account is stored sealed first; if the run stops later, the next run uses that same
    account and finishes. On a chain without a development funder a new account with no funds
    is refused unless ``allow_unfunded`` (chains without gas fees): fund its address (printed
    in the error) and run again. The old account keeps whatever funds it has left.
    """
    authority = _authority(office, authority_id)
    resumed = authority.next_account_address is not None
    if authority.next_account_key_encrypted is not None:
        secret = office.master.open(
            authority.next_account_key_encrypted, f"account:{authority.did}"
        )
        new: LocalAccount = Account.from_key(secret)
    else:
        new = Account.create()
        with office.db.session() as s:
            row = s.get(Authority, authority_id)
            assert row is not None
            row.next_account_address = new.address
            row.next_account_key_encrypted = office.master.seal(
                bytes(new.key), f"account:{authority.did}"
            )
    fund_if_dev(office.chain, new.address)
    unfunded = office.chain.dev_funder() is None and office.chain.balance(new.address) == 0
    if unfunded and not allow_unfunded:
        raise KeyOperationError(
            "account_not_funded",
            f"新账户 {new.address} 没有余额，无法支付上链费用：请先转入资金后再次运行本命令"
            "（无手续费的链可加 --allow-unfunded）",
            f"the new account {new.address} has no funds to pay for anchoring: fund it, "
            "then run this command again (--allow-unfunded on a chain without gas fees)",
        )
    record = office.chain.call(
        office.deployment.trust_registry, _trust_abi(), "authorityByDid", [authority.did]
    )
    on_chain = str(record[2])
    tx_hash = None
    if on_chain.lower() == new.address.lower():
        pass  # an earlier run switched the chain and stopped before storing the result
    elif on_chain.lower() == authority.account_address.lower():
        receipt = office.chain.transact(
            office.deployment.trust_registry,
            _trust_abi(),
            "setAccount",
            [authority.did, new.address],
            office.account(authority_id),
        )
        tx_hash = receipt.tx_hash
    else:
        raise KeyOperationError(
            "account_mismatch",
            f"链上 {authority.did} 的账户是 {on_chain}，既不是本办公室的账户 "
            f"{authority.account_address}，也不是新账户",
            f"{authority.did} acts on chain through {on_chain}, neither this office's account "
            f"{authority.account_address} nor the new one",
        )
    with office.db.write_session() as s:
        row = s.get(Authority, authority_id)
        assert row is not None and row.next_account_key_encrypted is not None
        previous = row.account_address
        row.account_address = new.address
        row.account_key_encrypted = row.next_account_key_encrypted
        row.next_account_address = None
        row.next_account_key_encrypted = None
        audit.record(
            s,
            actor=actor,
            action="key.rotate_account",
            authority_id=authority_id,
            details={"previousAccount": previous, "newAccount": new.address, "txHash": tx_hash},
        )
    office.forget_keys(authority_id)
    return AccountRotation(authority_id, authority.did, previous, new.address, tx_hash, resumed)
