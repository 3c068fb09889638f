"""Verification: the ordered checks of a bundle against the chain's trust registry, and a report.

Checks, in order: ``format``, ``signature``, ``issuer``, ``key_validity``, ``anchor``,
``status``, ``validity_period``. Each passes, fails, is pending or is skipped (when an earlier
failure leaves it nothing to stand on), with a stable code and a reason in 中文 and English.
The verdict is INVALID if any check failed, PENDING if none failed and the anchor is pending
inside the policy's grace period, VALID otherwise.

A *foreign* credential (a VC 2.0 credential of none of Suixin's types, ``verifier.foreign``)
runs the same named checks with a Data Integrity proof by a did:key or did:web issuer; its
``issuer`` check never passes, and its verdict is INVALID when another check failed, else
NOT_ACCREDITED: the proof may hold, but it is not an accredited government credential.

``format`` includes the national licence identifier (``licenceId``): its structure, check
character, and that its issuing unit is the USCC the issuer is accredited with on chain.
``signature`` checks an ``eddsa-jcs-2022`` or ``suixin-sm2-jcs-2025`` proof (or an
``eddsa-rdfc-2022`` one, which the office never makes) with the registered key of its
algorithm; ``anchor`` rebuilds the root with the receipt's hash (SHA-256 or SM3) and, when the
deployment is known, refuses a receipt of another hash than the deployment's.

An unreachable chain is not a verdict: ``Verifier.verify`` raises ChainUnavailable.

``Verifier.verify`` answers the common VALID bundle (Ed25519, a SHA-256 receipt of a root its
active issuer anchored, status unchanged, in its validity period) in one pass,
``Verifier._fast_valid``, and every other bundle check by check, ``Verifier._verify_checks``;
the first answers only what the second would, report for report (``tests/verifier/
test_verify_fast_valid.py``).
"""

from __future__ import annotations

import enum
from collections.abc import Mapping
from contextlib import suppress
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from functools import lru_cache
from hashlib import sha256 as _sha256
from pathlib import Path
from typing import Any

from cryptography.exceptions import InvalidSignature

from verifier import regions
from verifier._fast_rules import inclusion_root, permit_fields
from verifier._time import parse_timestamp
from verifier.bundle import (
    AnchorReceipt,
    _bundle_errors,
    _sound_by_schema,
    credential_digest,
    credential_id_hash,
)
from verifier.chain import Chain, RpcChain
from verifier.credential import (
    CHINA_TIME,
    RESIDENCE_PERMIT,
    RESIDENCE_YEARS,
    credential_type_of,
    may_issue,
    validate_credential,
)
from verifier.deployment import Deployment
from verifier.errors import ChainMismatch, InvalidInput
from verifier.foreign import ForeignMaterial, check_foreign, is_foreign
from verifier.jcs import CanonicalSplit, _compiled, _compiled_split
from verifier.keys import _ed25519_public_key, multibase_decode
from verifier.licence_id import LICENCE_ID_ROOT
from verifier.merkle import _LEAF_PREFIX as _LEAF
from verifier.merkle import leaf_hash, merkle_digest, root_from_inclusion
from verifier.messages import Language, Reason
from verifier.policy import Policy
from verifier.proofs import (
    _DATETIME,
    _SIGNATURE_VALID,
    CRYPTOSUITE,
    PROOF_TYPE,
    split_verification_method,
    verify_proof,
)
from verifier.registry import (
    AnchorRecord,
    AuthorityRecord,
    AuthorityStatus,
    CredentialStatus,
    IndexRead,
    KeyRecord,
    RegistryIndex,
)
from verifier.status import status_label, status_reason
from verifier.status_list import (
    StatusListError,
    StatusListSet,
    StatusVerificationError,
    check_status,
    list_id_hash,
    status_list_entries,
)

__all__ = [
    "CHECKS",
    "CheckResult",
    "Outcome",
    "PendingSync",
    "Report",
    "TrustSource",
    "Verdict",
    "Verifier",
    "validity_period",
]

CHECKS = (
    "format",
    "signature",
    "issuer",
    "key_validity",
    "anchor",
    "status",
    "validity_period",
)


class Verdict(enum.StrEnum):
    """The overall answer."""

    VALID = "VALID"
    INVALID = "INVALID"
    PENDING = "PENDING"
    # a foreign credential whose checks hold but whose issuer is not accredited on chain
    NOT_ACCREDITED = "NOT_ACCREDITED"


class Outcome(enum.StrEnum):
    """The answer of one check."""

    PASS = "pass"
    FAIL = "fail"
    PENDING = "pending"
    SKIPPED = "skipped"


@dataclass(frozen=True, slots=True)
class CheckResult:
    """One named check: its outcome and why."""

    name: str
    outcome: Outcome
    reason: Reason

    def to_json(self) -> dict[str, str]:
        """The check as JSON."""
        return {"name": self.name, "outcome": self.outcome.value, **self.reason.as_dict()}


@dataclass(frozen=True, slots=True)
class TrustSource:
    """Where the registry facts came from: the chain (synced to a block) or a snapshot."""

    kind: str
    chain_id: int
    anchor_registry: str
    block_number: int
    block_hash: str
    block_time: int
    age_seconds: int

    def to_json(self) -> dict[str, Any]:
        """The source as JSON."""
        return {
            "kind": self.kind,
            "chainId": self.chain_id,
            "anchorRegistry": self.anchor_registry,
            "blockNumber": self.block_number,
            "blockHash": self.block_hash,
            "blockTime": self.block_time,
            "ageSeconds": self.age_seconds,
        }


@dataclass(frozen=True, slots=True)
class Report:
    """The verification report of one bundle."""

    verdict: Verdict
    checks: tuple[CheckResult, ...]
    checked_at: datetime
    trust: TrustSource
    credential_id: str | None = None
    credential_type: str | None = None
    issuer: str | None = None
    issuer_name: tuple[str, str] | None = None
    warnings: tuple[Reason, ...] = ()
    foreign: bool = False
    valid_until: str | None = None  # the credential's own ``validUntil``, as it says it
    anchored_in: tuple[int, str] | None = None  # (block, transaction) of its anchor, if found

    def check(self, name: str) -> CheckResult:
        """The result of the check called ``name``."""
        return next(c for c in self.checks if c.name == name)

    @property
    def failed(self) -> tuple[CheckResult, ...]:
        """The checks that failed."""
        return tuple(c for c in self.checks if c.outcome is Outcome.FAIL)

    def summary(self, language: Language = "zh") -> str:
        """One line: the verdict and, if any, the first failure's reason."""
        failed = self.failed
        return self.verdict.value + (f": {failed[0].reason.text(language)}" if failed else "")

    def to_json(self) -> dict[str, Any]:
        """The report as JSON (``"foreign": true`` for a foreign credential)."""
        out: dict[str, Any] = {
            "verdict": self.verdict.value,
            "credentialId": self.credential_id,
            "credentialType": self.credential_type,
            "issuer": self.issuer,
            "issuerName": (
                {"zh": self.issuer_name[0], "en": self.issuer_name[1]} if self.issuer_name else None
            ),
            "checkedAt": self.checked_at.isoformat().replace("+00:00", "Z"),
            "trust": self.trust.to_json(),
            "checks": [c.to_json() for c in self.checks],
            "warnings": [w.as_dict() for w in self.warnings],
        }
        if self.foreign:
            out["foreign"] = True
        if self.valid_until is not None:
            out["validUntil"] = self.valid_until
        if self.anchored_in is not None:
            out["anchoredIn"] = {
                "blockNumber": self.anchored_in[0],
                "transactionHash": self.anchored_in[1],
            }
        return out


def _r(code: str, zh: str, en: str) -> Reason:
    return Reason(code, zh, en)


def _text_or_none(value: object) -> str | None:
    return value if isinstance(value, str) else None


def _created(facts: _Facts) -> datetime | None:
    """The instant the proof's ``created`` names (``parse_timestamp``), read on first need."""
    if not facts.created_read:
        facts.created = parse_timestamp(facts.created_text)
        facts.created_read = True
    return facts.created


def _anchored_in(facts: _Facts) -> tuple[int, str] | None:
    """(block, transaction) of the anchor the receipt was found in, if it was."""
    anchor = facts.anchor
    if anchor is None or not anchor.transaction_hash:
        return None
    return anchor.block_number, anchor.transaction_hash


# where the issuing unit sits among a licence identifier's dot-separated parts: after the root's
# and the type code
_ISSUER_PART = LICENCE_ID_ROOT.count(".") + 2

_SKIPPED = _r(
    "not_checked", "因前面的检查未通过，未检查此项", "Not checked: an earlier check failed."
)


@lru_cache(maxsize=1024)
def _ts(value: int) -> str:
    return datetime.fromtimestamp(value, UTC).astimezone(CHINA_TIME).strftime("%Y-%m-%d %H:%M:%S")


# The passing results below say only what many credentials share (an authority, a key and a
# time, a batch's block): each is written once and the same immutable result returned.


@lru_cache(maxsize=1024)
def _issuer_accredited(name_zh: str, name_en: str, region: int, kind: str) -> CheckResult:
    return CheckResult(
        "issuer",
        Outcome.PASS,
        _r(
            "issuer_accredited",
            f"签发机关 {name_zh}（{region}）经链上认证，可签发 {kind}",
            f"{name_en} ({region}) is accredited on chain to issue {kind}.",
        ),
    )


@lru_cache(maxsize=1024)
def _key_valid(key_id: str, what_zh: str, what_en: str, when: int) -> CheckResult:
    return CheckResult(
        "key_validity",
        Outcome.PASS,
        _r(
            "key_valid",
            f"密钥 {key_id} {what_zh}（{_ts(when)}）有效",
            f"Key {key_id} was valid {what_en} ({_ts(when)}).",
        ),
    )


@lru_cache(maxsize=1024)
def _anchored(block_number: int, anchored_at: int) -> CheckResult:
    return CheckResult(
        "anchor",
        Outcome.PASS,
        _r(
            "anchored",
            f"已于 {_ts(anchored_at)} 在区块 {block_number} 上链存证",
            f"Anchored in block {block_number} at {_ts(anchored_at)} (UTC+8).",
        ),
    )


_STATUS_ACTIVE = CheckResult(
    "status",
    Outcome.PASS,
    _r(
        "status_active",
        "凭证状态正常（未吊销、未暂停、未被取代）",
        "The credential is in force (not revoked, suspended or superseded).",
    ),
)


@dataclass
class _Facts:
    """What the checks learn along the way and share."""

    credential: Mapping[str, Any] = field(default_factory=dict)
    raw_anchor: Mapping[str, Any] | None = None
    vm_did: str | None = None
    key_id: str | None = None
    authority: AuthorityRecord | None = None
    key: KeyRecord | None = None
    receipt: AnchorReceipt | None = None
    anchor: AnchorRecord | None = None
    anchor_result: CheckResult | None = None
    # the proof's ``created`` as written; read into ``created`` when a check needs the instant
    # (``_created``): with an anchor found, none does
    created_text: object = None
    created_read: bool = False
    created: datetime | None = None
    canonical: CanonicalSplit | None = None
    kind: str | None = None  # the credential's Suixin type, read once


@dataclass(frozen=True)
class PendingSync:
    """A chain read by ``Verifier.read_sync``, not applied yet, and when it started."""

    read: IndexRead
    started: datetime


class Verifier:
    """Verifies bundles against a RegistryIndex, kept fresh from a chain or read from a snapshot."""

    def __init__(
        self, index: RegistryIndex, policy: Policy | None = None, chain: Chain | None = None
    ) -> None:
        self.index = index
        self.policy = policy or Policy()
        self.chain = chain
        self._last_sync: datetime | None = None
        self._mismatched = False
        self._trust_source: tuple[tuple[int, str, int, str], TrustSource] | None = None

    # ------------------------------------------------------------------ construction

    @classmethod
    def from_chain(
        cls,
        chain: Chain,
        anchor_registry: str,
        policy: Policy | None = None,
        *,
        start_block: int = 0,
        cache_path: Path | None = None,
        deployment: Deployment | None = None,
    ) -> Verifier:
        """An online verifier; the index is kept in ``cache_path`` (SQLite) when given, loaded
        at once and synced from its block (``RegistryIndex.cached``). With
        the ``deployment`` record, the index is pinned to the block that deployed the
        registries, reads from there, and counts a block once the deployment's confirmations
        are on top of it; every sync raises ChainMismatch when the chain is not the record's;
        and a receipt made with another hash than the deployment's anchoring hash fails
        ``anchor`` (``anchor_hash_mismatch``)."""
        if cache_path is not None and deployment is not None:
            index = RegistryIndex.cached(cache_path, deployment)
        elif cache_path is not None:
            index = RegistryIndex.open(cache_path, chain, anchor_registry, start_block=start_block)
        elif deployment is not None:
            index = RegistryIndex.for_deployment(deployment)
        else:
            index = RegistryIndex.for_anchor_registry(
                chain, anchor_registry, start_block=start_block
            )
        if deployment is not None:
            index.anchoring_hash = deployment.anchoring_hash
        return cls(index, policy, chain)

    @classmethod
    def from_rpc(
        cls,
        url: str,
        anchor_registry: str,
        policy: Policy | None = None,
        *,
        start_block: int = 0,
        cache_path: Path | None = None,
        deployment: Deployment | None = None,
    ) -> Verifier:
        """An online verifier reading a JSON-RPC node."""
        return cls.from_chain(
            RpcChain(url),
            anchor_registry,
            policy,
            start_block=start_block,
            cache_path=cache_path,
            deployment=deployment,
        )

    @classmethod
    def from_snapshot(cls, path: Path, policy: Policy | None = None) -> Verifier:
        """An offline verifier; raises SnapshotError if the snapshot cannot be used."""
        return cls(RegistryIndex.from_snapshot(path), policy)

    # ------------------------------------------------------------------ sync

    def refresh(self, *, force: bool = False) -> None:
        """Read new chain events if the policy's sync interval has passed (online only).

        Once a sync found another chain (ChainMismatch), every call syncs again until the
        chain is the right one: the cached index is not answered from meanwhile."""
        if self.chain is not None:
            self._refresh(self.policy.now(), force=force)

    def _refresh(self, now: datetime, *, force: bool = False) -> bool:
        """``refresh`` as of ``now`` (online only); whether it synced."""
        due = self._last_sync is None or now - self._last_sync >= self.policy.sync_interval
        if force or due or self._mismatched:
            self.commit_sync(self.read_sync())
            return True
        return False

    def read_sync(self) -> PendingSync:
        """The slow half of a sync (online only): read the chain's new registry events without
        changing the index, so other threads may verify meanwhile; ``commit_sync`` applies them.
        Raises ChainUnavailable, or ChainMismatch (and every later ``refresh`` syncs again)."""
        if self.chain is None:
            raise ValueError("an offline verifier has no chain to read")
        started = self.policy.now()
        try:
            read = self.index.read(self.chain)
        except ChainMismatch:
            self._mismatched = True
            raise
        return PendingSync(read, started)

    def commit_sync(self, pending: PendingSync) -> None:
        """Apply what ``read_sync`` found (quick: no chain call)."""
        self.index.commit(pending.read)
        self._mismatched = False
        self._last_sync = pending.started

    def trust_source(self, now: datetime | None = None) -> TrustSource:
        """Where the registry facts come from, and how old they are (at ``now``)."""
        second = int((now or self.policy.now()).timestamp())
        key = (second, self.index.source, self.index.synced_block, self.index.synced_block_hash)
        cached = self._trust_source
        if cached is not None and cached[0] == key:
            return cached[1]  # one object per second and synced block: reports share it
        source = TrustSource(
            kind=self.index.source,
            chain_id=self.index.chain_id,
            anchor_registry=self.index.anchor_registry,
            block_number=self.index.synced_block,
            block_hash=self.index.synced_block_hash,
            block_time=self.index.synced_block_time,
            age_seconds=max(second - self.index.synced_block_time, 0),
        )
        self._trust_source = (key, source)
        return source

    # ------------------------------------------------------------------ verification

    def verify(self, bundle: object, material: ForeignMaterial | None = None) -> Report:
        """Run every check on ``bundle`` and return the report (raises ChainUnavailable).

        A foreign credential comes bare or as ``{"credential", "didDocuments",
        "statusListCredentials"}``; ``material`` adds DID documents and status lists."""
        now = self.policy.now()
        if self.chain is not None and self._refresh(now):
            now = self.policy.now()  # a sync reads the chain: the checks start after it
        # a bundle with a receipt and no ``type`` list of its own is never foreign; the common
        # VALID one is answered by ``_fast_valid``, anything else by the checks one by one
        if (
            material is None
            and type(bundle) is dict
            and bundle.get("anchor") is not None
            and not isinstance(bundle.get("type"), list)
        ):
            fast = self._fast_valid(bundle, now)
            if fast is not None:
                return fast
        return self._verify_checks(bundle, material, now)

    def _verify_checks(
        self, bundle: object, material: ForeignMaterial | None, now: datetime
    ) -> Report:
        """``verify`` after its sync, check by check: the general path, which ``_fast_valid``
        shortcuts for the common VALID bundle (and must answer exactly as)."""
        # a bundle with a receipt and no ``type`` list of its own is never foreign: the common
        # case answered without ``_foreign_input``'s checks
        if not (
            type(bundle) is dict
            and bundle.get("anchor") is not None
            and not isinstance(bundle.get("type"), list)
        ):
            foreign = _foreign_input(bundle)
            if foreign is not None:
                credential, own = foreign
                return self._verify_foreign(
                    credential, own.merged(material or ForeignMaterial()), now
                )
        facts = _Facts()
        formatted = self._format(bundle, now, facts)
        cred = facts.credential
        facts.kind = credential_type_of(cred) if cred else None
        checks: tuple[CheckResult, ...]
        if formatted.outcome is Outcome.FAIL:
            checks = (formatted, *_SKIPPED_AFTER_FORMAT)
        else:
            self._resolve(facts)
            anchored = facts.anchor_result = self._anchor(facts, now)
            # in CHECKS order; evaluated left to right, as the checks have always run
            checks = (
                formatted,
                self._signature(facts),
                self._issuer(facts),
                self._key_validity(facts, now),
                anchored,
                self._status(facts, now, material),
                self._validity(facts, now),
            )
        verdict = Verdict.VALID
        for check in checks:
            if check.outcome is Outcome.FAIL:
                verdict = Verdict.INVALID
                break
            if check.outcome is Outcome.PENDING:
                verdict = Verdict.PENDING
        auth = facts.authority
        credential_id = cred.get("id")
        issuer = cred.get("issuer")
        return Report(
            verdict=verdict,
            checks=checks,
            checked_at=now,
            trust=self.trust_source(now),
            credential_id=credential_id if isinstance(credential_id, str) else None,
            credential_type=facts.kind,
            issuer=issuer if isinstance(issuer, str) else None,
            issuer_name=(auth.name_zh, auth.name_en) if auth else None,
            warnings=self._warnings(now),
            valid_until=_text_or_none(cred.get("validUntil")),
            anchored_in=_anchored_in(facts),
        )

    def _fast_valid(self, bundle: dict[str, Any], now: datetime) -> Report | None:
        """The report of a bundle that passes every check, in one pass, or None to let the
        checks run one by one (``_verify_checks``).

        The common case only: an ``eddsa-jcs-2022`` proof by a key of its accredited, active
        issuer, a SHA-256 receipt of a root that issuer anchored, the credential's status
        unchanged on chain (no status lists at hand), within its validity period. Each step
        asks what the check it stands for asks and returns None at the first doubt, so what it
        answers is what the checks would (the tests hold the two to equal reports); it never
        builds a failure."""
        cred = bundle.get("credential")
        raw = bundle.get("anchor")
        if type(cred) is not dict or type(raw) is not dict:
            return None
        proof = cred.get("proof")
        if (
            type(proof) is not dict
            or proof.get("cryptosuite") != CRYPTOSUITE
            or proof.get("type") != PROOF_TYPE
            or proof.get("proofPurpose") != "assertionMethod"
            or raw.get("hash", "sha-256") != "sha-256"
        ):
            return None
        index = self.index
        if index.list_documents or index.anchoring_hash not in ("", "sha-256"):
            return None
        # format: the bundle schema, the credential canonical on the compiled path, its field
        # rules, and its licence identifier's issuing unit the issuer's USCC
        split = _compiled_split(cred, "proof")
        if split is None:
            return None
        kind = credential_type_of(cred)
        times: tuple[datetime, datetime] | None = None
        if kind == RESIDENCE_PERMIT:
            times = permit_fields(bundle, cred, now)  # flat, the same answer
            if times is None:
                return None
        elif kind is None or not _sound_by_schema(bundle) or validate_credential(cred, now=now):
            return None
        issuer = cred.get("issuer")
        if type(issuer) is not str:
            return None
        auth = index.authority(issuer)
        if auth is None or auth.status != AuthorityStatus.ACTIVE:
            return None
        licence = cred.get("licenceId")
        if isinstance(licence, str) and (
            not auth.uscc or licence.split(".")[_ISSUER_PART] != auth.uscc
        ):
            return None
        # the key: the proof's verification method is a key of the issuer's
        method = proof.get("verificationMethod")
        if type(method) is not str:
            return None
        vm_did, hash_sign, key_id = method.partition("#")
        if (
            vm_did != issuer
            or not hash_sign
            or not key_id
            or not vm_did.startswith("did:")
            or vm_did.count(":") < 2
        ):
            return None
        key = index.key(auth.id, key_id)
        if key is None or key.algorithm != "Ed25519" or len(key.public_key) != 32:
            return None
        # anchor: the receipt names this chain and registry, its path leads from the
        # credential's leaf to a root the issuer anchored, in the block the receipt names
        accepted_chain = self.policy.chain_id or index.chain_id
        accepted_registry = self.policy.anchor_registry or index.anchor_registry
        chain_id = raw["chainId"]
        if (
            chain_id != accepted_chain
            or chain_id != index.chain_id
            or str(raw["registry"]).lower() != accepted_registry.lower()
        ):
            return None
        without, whole = split
        root = inclusion_root(
            _sha256(_LEAF + _sha256(whole).digest()).digest(),
            raw["leafIndex"],
            raw["treeSize"],
            raw["path"],
        )
        if root is None or root.hex() != raw["root"][2:]:
            return None
        record = index.anchor(root)
        if (
            record is None
            or record.authority_id != auth.id
            or record.leaf_count != raw["treeSize"]
            or record.block_number != raw["blockNumber"]
            or record.anchored_at != raw["blockTime"]
            or record.transaction_hash.lower() != str(raw["transactionHash"]).lower()
        ):
            return None
        # signature: eddsa-jcs-2022 over the canonical bytes the split made (the Ed25519
        # verification itself comes last, below)
        proof_value = proof.get("proofValue")
        created = proof.get("created")
        if type(proof_value) is not str or not (
            created is None or (type(created) is str and _DATETIME.fullmatch(created))
        ):
            return None
        options = {k: v for k, v in proof.items() if k != "proofValue"}
        if "@context" in options:
            context = cred.get("@context")
            if context is None or options["@context"] != context:
                return None
        try:
            signature = multibase_decode(proof_value)
        except InvalidInput:
            return None
        if len(signature) != 64:
            return None
        # issuer: accredited for the type, the subject's region within its own
        if not may_issue(kind, auth.credential_types):
            return None
        if kind in (RESIDENCE_PERMIT, RESIDENCE_YEARS):
            region = cred.get("credentialSubject", {}).get("residenceRegion")
            if not regions.contains(auth.region, str(region)):
                return None
        # key validity at the anchor's time
        when = record.anchored_at
        if when < key.valid_from or (key.revoked_at and when >= key.revoked_at):
            return None
        # status: unchanged, or reinstated, on chain
        cred_id = cred.get("id")
        if type(cred_id) is not str:
            return None
        status = index.status(auth.id, _sha256(cred_id.encode("utf-8")).digest())
        if status is not None and status.status not in (
            CredentialStatus.NONE,
            CredentialStatus.REINSTATED,
        ):
            return None
        # validity period (``validity_period``)
        if times is None:
            if validity_period(cred, now) is not _VALIDITY_PASS:
                return None
        else:
            if now < times[0] or now >= times[1]:
                return None
            endorsements = cred["credentialSubject"]["endorsements"]  # the schema's: a list
            if endorsements and max(str(e.get("validUntil", "")) for e in endorsements) < (
                now.astimezone(CHINA_TIME).date().isoformat()
            ):
                return None
        # the signature, last: the credential's objects are read before it evicts them from the
        # processor's caches. The credential is plain and its text UTF-8 (the split said so):
        # so is the proof, and the compiled encoder writes its options' JCS bytes.
        data = _sha256(_compiled(options)).digest() + _sha256(without).digest()
        try:
            _ed25519_public_key(key.public_key).verify(signature, data)
        except InvalidSignature:
            return None
        valid_until = cred.get("validUntil")
        return Report(
            verdict=Verdict.VALID,
            checks=(
                _FORMAT_PASS,
                _SIGNATURE_PASS,
                _issuer_accredited(auth.name_zh, auth.name_en, auth.region, kind),
                _key_valid(key.key_id, "上链时", "at the anchor time", when),
                _anchored(record.block_number, when),
                _STATUS_ACTIVE,
                _VALIDITY_PASS,
            ),
            checked_at=now,
            trust=self.trust_source(now),
            credential_id=cred_id,
            credential_type=kind,
            issuer=issuer,
            issuer_name=(auth.name_zh, auth.name_en),
            warnings=self._warnings(now),
            valid_until=valid_until if isinstance(valid_until, str) else None,
            anchored_in=(record.block_number, record.transaction_hash)
            if record.transaction_hash
            else None,
        )

    def _verify_foreign(
        self, credential: Mapping[str, Any], material: ForeignMaterial, now: datetime
    ) -> Report:
        issuer = credential.get("issuer")
        issuer_id = issuer.get("id") if isinstance(issuer, Mapping) else issuer
        issuer_id = issuer_id if isinstance(issuer_id, str) else None
        auth = self.index.authority(issuer_id) if issuer_id else None
        outcomes = check_foreign(
            credential,
            now=now,
            material=material,
            authority_name=(auth.name_zh, auth.name_en) if auth else None,
        )
        marks = {True: Outcome.PASS, False: Outcome.FAIL, None: Outcome.SKIPPED}
        checks = tuple(CheckResult(o.name, marks[o.held], o.reason) for o in outcomes)
        broken = any(c.outcome is Outcome.FAIL and c.name != "issuer" for c in checks)
        cred_id = credential.get("id")
        return Report(
            verdict=Verdict.INVALID if broken else Verdict.NOT_ACCREDITED,
            checks=checks,
            checked_at=now,
            trust=self.trust_source(now),
            credential_id=cred_id if isinstance(cred_id, str) else None,
            credential_type=None,
            issuer=issuer_id,
            issuer_name=None,
            warnings=self._warnings(now),
            foreign=True,
        )

    def _warnings(self, now: datetime) -> tuple[Reason, ...]:
        if self.index.source != "snapshot":
            return ()
        age = timedelta(seconds=max(int(now.timestamp()) - self.index.synced_block_time, 0))
        if age <= self.policy.max_snapshot_age:
            return ()
        hours = age.total_seconds() / 3600
        limit = self.policy.max_snapshot_age.total_seconds() / 3600
        return (
            _r(
                "snapshot_stale",
                f"信任快照已有 {hours:.1f} 小时（区块 {self.index.synced_block}），超过政策允许的 "
                f"{limit:.1f} 小时：此后的吊销或暂停可能未反映，请更新快照",
                f"The trust snapshot is {hours:.1f} h old (block {self.index.synced_block}), "
                f"older than the {limit:.1f} h the policy allows: later revocations or "
                "suspensions may be missing; refresh the snapshot",
            ),
        )

    # -- format

    def _format(self, bundle: object, now: datetime, facts: _Facts) -> CheckResult:
        # The common bundle (plain JSON, as parsed) is canonicalized here, once: that proves
        # its credential readable (``verifier.interop``) without another walk, and the
        # signature and the Merkle leaf take the bytes (``_resolve``).
        split = None
        if type(bundle) is dict and type(bundle.get("credential")) is dict:
            split = _compiled_split(bundle["credential"], "proof")
        errors = _bundle_errors(bundle, credential_clean=split is not None)
        if not errors:
            assert type(bundle) is dict or isinstance(bundle, Mapping)
            facts.credential = bundle["credential"]
            facts.raw_anchor = bundle["anchor"]
            if split is not None:
                facts.canonical = CanonicalSplit._of(*split)
            errors = validate_credential(facts.credential, now=now)
        elif isinstance(bundle, Mapping) and isinstance(bundle.get("credential"), Mapping):
            facts.credential = bundle["credential"]
        if errors:
            first = errors[0]
            more_zh = f"（另有 {len(errors) - 1} 处）" if len(errors) > 1 else ""
            more_en = f" (and {len(errors) - 1} more)" if len(errors) > 1 else ""
            return CheckResult(
                "format",
                Outcome.FAIL,
                _r(
                    first.code,
                    f"{first.path}：{first.zh}{more_zh}" if first.path else first.zh + more_zh,
                    f"{first.path}: {first.en}{more_en}" if first.path else first.en + more_en,
                ),
            )
        licence = facts.credential.get("licenceId")
        if isinstance(licence, str):
            return self._licence_issuer(licence, facts.credential.get("issuer"))
        return _FORMAT_PASS

    def _licence_issuer(self, licence: str, issuer: object) -> CheckResult:
        """The issuing-unit part of a (well-formed) licence identifier against the USCC the
        governance root accredited the issuer with. An issuer the registry does not know is the
        ``issuer`` check's to refuse; one accredited without a USCC cannot vouch for any."""
        authority = self.index.authority(issuer) if isinstance(issuer, str) else None
        if authority is None:
            return _FORMAT_PASS
        unit = licence.split(".")[_ISSUER_PART]  # well formed: validate_credential said so
        if not authority.uscc:
            return _fail(
                "format",
                "licence_id_issuer_unknown",
                f"licenceId：签发机关 {authority.name_zh} 在链上未登记统一社会信用代码，"
                f"无法核对电子证照标识中的颁发机构代码 {unit}",
                f"licenceId: {authority.name_en} has no unified social credit code on chain, so "
                f"the identifier's issuing unit {unit} cannot be checked.",
            )
        if unit != authority.uscc:
            return _fail(
                "format",
                "licence_id_issuer_mismatch",
                f"licenceId：电子证照标识中的颁发机构代码 {unit} 不是签发机关 {authority.name_zh} "
                f"的统一社会信用代码 {authority.uscc}",
                f"licenceId: the identifier's issuing unit {unit} is not the unified social "
                f"credit code of {authority.name_en}, {authority.uscc}.",
            )
        return _FORMAT_PASS

    # -- shared lookups

    def _resolve(self, facts: _Facts) -> None:
        # One canonicalization serves the signature (without the proof) and the Merkle leaf
        # (with it). The format check passed, so the credential is plain JSON.
        if facts.canonical is None:  # ``_format`` did not: not on the compiled path
            with suppress(InvalidInput):  # not canonicalizable: the signature check says so
                facts.canonical = CanonicalSplit(facts.credential, "proof")
        proof = facts.credential.get("proof")
        if type(proof) is dict or isinstance(proof, Mapping):
            facts.created_text = proof.get("created")
            with suppress(InvalidInput):
                facts.vm_did, facts.key_id = split_verification_method(
                    proof.get("verificationMethod")  # type: ignore[arg-type]
                )
        issuer = facts.credential.get("issuer")
        if isinstance(issuer, str):
            facts.authority = self.index.authority(issuer)
        if facts.authority is not None and facts.vm_did == issuer and facts.key_id:
            facts.key = self.index.key(facts.authority.id, facts.key_id)

    # -- signature

    def _signature(self, facts: _Facts) -> CheckResult:
        if facts.vm_did is None:
            return CheckResult(
                "signature",
                Outcome.FAIL,
                _r(
                    "verification_method_malformed",
                    "签名缺少有效的验证方法（verificationMethod）",
                    "The proof has no valid verificationMethod.",
                ),
            )
        key = facts.key
        if key is None:
            vm_authority = self.index.authority(facts.vm_did)
            if vm_authority is not None and facts.key_id:
                key = self.index.key(vm_authority.id, facts.key_id)
        if key is None:
            return CheckResult(
                "signature",
                Outcome.FAIL,
                _r(
                    "verification_method_unknown",
                    f"签名密钥 {facts.vm_did}#{facts.key_id} 未在链上信任注册表中登记",
                    f"The signing key {facts.vm_did}#{facts.key_id} is not registered on chain.",
                ),
            )
        document = facts.canonical.without if facts.canonical else None
        try:
            check = verify_proof(facts.credential, key.multikey, canonical_document=document)
        except InvalidInput as e:  # the registered bytes are no key of their algorithm
            return _fail(
                "signature",
                "verification_method_key_malformed",
                f"链上登记的密钥 {facts.vm_did}#{facts.key_id} 不是有效的 {key.algorithm} 公钥",
                f"The key {facts.vm_did}#{facts.key_id} registered on chain is not a valid "
                f"{key.algorithm} public key: {e}",
            )
        return CheckResult("signature", Outcome.PASS if check.ok else Outcome.FAIL, check.reason)

    # -- issuer

    def _issuer(self, facts: _Facts) -> CheckResult:
        cred = facts.credential
        issuer = cred.get("issuer")
        auth = facts.authority
        if auth is None:
            return _fail(
                "issuer",
                "issuer_not_accredited",
                f"签发方 {issuer} 不是链上认证的签发机关",
                f"The issuer {issuer} is not an accredited authority on chain.",
            )
        if facts.vm_did != issuer:
            return _fail(
                "issuer",
                "verification_method_not_issuer",
                f"签名密钥属于 {facts.vm_did}，而不是签发方 {issuer}",
                f"The signing key belongs to {facts.vm_did}, not to the issuer {issuer}.",
            )
        if auth.status == AuthorityStatus.REMOVED:
            return _fail(
                "issuer",
                "authority_removed",
                f"签发机关 {auth.name_zh} 已被撤销认证",
                f"The authority {auth.name_en} has been removed from the registry.",
            )
        if auth.status == AuthorityStatus.SUSPENDED:
            anchored = facts.anchor.block_number if facts.anchor else None
            before = (
                anchored is not None and auth.status_after_block(anchored) == AuthorityStatus.ACTIVE
            )
            if not (self.policy.accept_suspended_authority_history and before):
                return _fail(
                    "issuer",
                    "authority_suspended",
                    f"签发机关 {auth.name_zh} 已被暂停认证",
                    f"The authority {auth.name_en} is suspended.",
                )
        kind = facts.kind
        # a derived type (居住年限证明) is covered by its source type's accreditation
        if kind is None or not may_issue(kind, auth.credential_types):
            return _fail(
                "issuer",
                "issuer_type_not_accredited",
                f"{auth.name_zh} 未获授权签发此类凭证（{kind}）",
                f"{auth.name_en} is not accredited to issue {kind}.",
            )
        if kind in (RESIDENCE_PERMIT, RESIDENCE_YEARS):
            region = cred.get("credentialSubject", {}).get("residenceRegion")
            if not regions.contains(auth.region, str(region)):
                return _fail(
                    "issuer",
                    "issuer_region_outside",
                    f"居住地区划 {region} 不在 {auth.name_zh} 的管辖区域 {auth.region} 内",
                    f"Residence region {region} lies outside {auth.name_en}'s region "
                    f"{auth.region}.",
                )
        if facts.key is None:
            return _fail(
                "issuer",
                "issuer_key_unknown",
                f"{auth.name_zh} 没有登记密钥 {facts.key_id}",
                f"{auth.name_en} has no registered key {facts.key_id}.",
            )
        return _issuer_accredited(auth.name_zh, auth.name_en, auth.region, kind)

    # -- key validity

    def _key_validity(self, facts: _Facts, now: datetime) -> CheckResult:
        key = facts.key
        if key is None:
            return CheckResult("key_validity", Outcome.SKIPPED, _SKIPPED)
        leeway = 0
        if facts.anchor is not None:
            when, what_zh, what_en = facts.anchor.anchored_at, "上链时", "at the anchor time"
        elif (created := _created(facts)) is not None:
            when, what_zh, what_en = int(created.timestamp()), "签名时", "at signing"
            # ``created`` comes from the signer's clock, key times from the chain's: allow skew.
            leeway = int(self.policy.clock_skew.total_seconds())
            if key.revoked_at and key.revoked_at <= int(now.timestamp()):
                return _fail(
                    "key_validity",
                    "key_revoked_before_anchor",
                    f"密钥 {key.key_id} 自 {_ts(key.revoked_at)} 起已吊销，而凭证尚未上链",
                    f"Key {key.key_id} is revoked since {_ts(key.revoked_at)} and the "
                    "credential is not anchored yet.",
                )
        else:
            return CheckResult("key_validity", Outcome.SKIPPED, _SKIPPED)
        if when + leeway < key.valid_from:
            return _fail(
                "key_validity",
                "key_not_yet_valid",
                f"密钥 {key.key_id} {what_zh}（{_ts(when)}）尚未生效"
                f"（生效于 {_ts(key.valid_from)}）",
                f"Key {key.key_id} was not yet valid {what_en} ({_ts(when)}); "
                f"valid from {_ts(key.valid_from)}.",
            )
        if key.revoked_at and when >= key.revoked_at:
            return _fail(
                "key_validity",
                "key_revoked",
                f"密钥 {key.key_id} 自 {_ts(key.revoked_at)} 起已吊销，"
                f"早于{what_zh}（{_ts(when)}）",
                f"Key {key.key_id} was revoked from {_ts(key.revoked_at)}, before "
                f"{what_en} ({_ts(when)}).",
            )
        return _key_valid(key.key_id, what_zh, what_en, when)

    # -- anchor

    def _anchor(self, facts: _Facts, now: datetime) -> CheckResult:
        if facts.raw_anchor is None:
            created = _created(facts)
            if created is not None and now - created <= self.policy.pending_grace:
                return CheckResult(
                    "anchor",
                    Outcome.PENDING,
                    _r(
                        "anchor_pending",
                        "凭证所在批次尚未上链（签发于 "
                        f"{created.astimezone(CHINA_TIME):%Y-%m-%d %H:%M}，在宽限期内）",
                        "The credential's batch is not anchored yet (within the grace period).",
                    ),
                )
            return _fail(
                "anchor",
                "anchor_missing",
                "凭证没有上链凭据，且已超过宽限期",
                "The credential has no anchor receipt and the grace period is over.",
            )
        return self._check_receipt(facts, facts.raw_anchor)

    def _root_unknown(self, receipt: AnchorReceipt) -> CheckResult:
        """The receipt's root is not among the anchors read so far. PENDING, within the grace
        period from the receipt's block time, when its block is not final for this verifier
        yet (newer than the blocks it has read) or no longer on the chain (the block was
        replaced: lost by a node restart or reorganised away, and the issuer anchors the root
        again); otherwise INVALID. A forged receipt gains nothing: PENDING is never VALID."""
        synced = self.index.synced_block
        now = self.policy.now()
        within = now - datetime.fromtimestamp(receipt.block_time, UTC) <= self.policy.pending_grace
        if receipt.block_number > synced and within:
            return CheckResult(
                "anchor",
                Outcome.PENDING,
                _r(
                    "anchor_not_final",
                    f"凭证所在批次于区块 {receipt.block_number} 上链，尚未达到确认深度"
                    f"（已核对至区块 {synced}）",
                    f"The batch was anchored in block {receipt.block_number}, not final yet "
                    f"for this verifier (read up to block {synced}).",
                ),
            )
        if receipt.block_hash and self.chain is not None and receipt.block_number <= synced:
            replaced = self.chain.block(receipt.block_number).hash != receipt.block_hash
            if replaced and within:
                return CheckResult(
                    "anchor",
                    Outcome.PENDING,
                    _r(
                        "anchor_block_replaced",
                        f"上链凭据所指的区块 {receipt.block_number} 已不在链上"
                        "（节点丢失或链重组），签发机关将重新上链，请稍后再核验",
                        f"Block {receipt.block_number} named by the receipt is no longer on the "
                        "chain (lost by the node or reorganised away); the issuer anchors the "
                        "batch again: verify again later.",
                    ),
                )
        return _fail(
            "anchor",
            "anchor_root_unknown",
            f"该默克尔根未在链上存证（截至区块 {synced}）",
            f"This Merkle root is not anchored on chain (as of block {synced}).",
        )

    def _check_receipt(self, facts: _Facts, raw: Mapping[str, Any]) -> CheckResult:
        receipt = AnchorReceipt.from_json(raw)
        facts.receipt = receipt
        accepted_chain = self.policy.chain_id or self.index.chain_id
        if receipt.chain_id != accepted_chain or receipt.chain_id != self.index.chain_id:
            return _fail(
                "anchor",
                "anchor_wrong_chain",
                f"上链凭据指向链 {receipt.chain_id}，本核验只接受链 {accepted_chain}",
                f"The receipt names chain {receipt.chain_id}; this verifier accepts only "
                f"chain {accepted_chain}.",
            )
        accepted_registry = self.policy.anchor_registry or self.index.anchor_registry
        if receipt.registry.lower() != accepted_registry.lower():
            return _fail(
                "anchor",
                "anchor_wrong_registry",
                f"上链凭据指向合约 {receipt.registry}，不是受信任的存证合约",
                f"The receipt names registry {receipt.registry}, not the trusted one.",
            )
        tree_hash = receipt.hash
        expected = self.index.anchoring_hash
        if expected and tree_hash != expected:
            return _fail(
                "anchor",
                "anchor_hash_mismatch",
                f"上链凭据使用 {tree_hash} 默克尔树，而该部署以 {expected} 存证",
                f"The receipt's Merkle tree uses {tree_hash}; this deployment anchors with "
                f"{expected}.",
            )
        if facts.canonical is not None:
            content = merkle_digest(facts.canonical.whole, tree_hash)
        else:
            content = credential_digest(facts.credential, tree_hash)
        try:
            root = root_from_inclusion(
                leaf_hash(content, tree_hash),
                receipt.leaf_index,
                receipt.tree_size,
                receipt.path,
                tree_hash,
            )
        except InvalidInput as e:
            return _fail(
                "anchor",
                "anchor_path_invalid",
                "默克尔包含证明不成立",
                f"The Merkle inclusion proof is malformed: {e}",
            )
        if root != receipt.root:
            return _fail(
                "anchor",
                "anchor_path_mismatch",
                "凭证内容与上链的默克尔根不符（凭证或证明被改动）",
                "The credential and its inclusion path do not lead to the receipt's root "
                "(the credential or the proof was changed).",
            )
        record = self.index.anchor(root)
        if record is None:
            return self._root_unknown(receipt)
        auth = facts.authority
        if auth is None or record.authority_id != auth.id:
            return _fail(
                "anchor",
                "anchor_other_authority",
                "该默克尔根由其他签发机关存证，而非凭证的签发方",
                "The root was anchored by another authority, not by the credential's issuer.",
            )
        if record.leaf_count != receipt.tree_size:
            return _fail(
                "anchor",
                "anchor_tree_size_mismatch",
                f"凭据中的批次大小 {receipt.tree_size} 与链上记录 {record.leaf_count} 不符",
                f"The receipt's tree size {receipt.tree_size} differs from the "
                f"{record.leaf_count} recorded on chain.",
            )
        facts.anchor = record
        if (
            record.block_number != receipt.block_number
            or record.anchored_at != receipt.block_time
            or record.transaction_hash.lower() != receipt.transaction_hash.lower()
        ):
            # A root is anchored once: the receipt names a block that does not hold it (a
            # block the chain lost, the root anchored again since, or edited block facts).
            # The inclusion path proves the credential is in the root the chain holds; the
            # chain's own record is what counts, and the holder should fetch a fresh receipt.
            return CheckResult(
                "anchor",
                Outcome.PASS,
                _r(
                    "anchor_receipt_stale",
                    f"已于 {_ts(record.anchored_at)} 在区块 {record.block_number} 上链存证"
                    f"（凭据所记区块 {receipt.block_number} 已不含该批次，请向签发机关更新凭证包）",
                    f"Anchored in block {record.block_number} at {_ts(record.anchored_at)} "
                    f"(UTC+8); the receipt names block {receipt.block_number}, which does not "
                    "hold the batch: fetch a fresh bundle from the issuer.",
                ),
            )
        return _anchored(record.block_number, record.anchored_at)

    # -- status

    def _status(
        self,
        facts: _Facts,
        now: datetime | None = None,
        material: ForeignMaterial | None = None,
    ) -> CheckResult:
        auth = facts.authority
        cred_id = facts.credential.get("id")
        if auth is None or not isinstance(cred_id, str):
            return CheckResult("status", Outcome.SKIPPED, _SKIPPED)
        record = self.index.status(auth.id, credential_id_hash(cred_id))
        chain_status = CredentialStatus.NONE if record is None else record.status
        listed = self._list_status(facts, auth, chain_status, now or self.policy.now(), material)
        if listed is not None and listed.outcome is Outcome.FAIL:
            return listed
        if record is None or record.status in (CredentialStatus.NONE, CredentialStatus.REINSTATED):
            if listed is not None:
                return listed
            return _STATUS_ACTIVE
        when = _ts(record.changed_at)
        texts = {
            CredentialStatus.REVOKED: ("credential_revoked", "已吊销", "was revoked"),
            CredentialStatus.SUSPENDED: ("credential_suspended", "已暂停使用", "is suspended"),
            CredentialStatus.SUPERSEDED: (
                "credential_superseded",
                "已被新版本取代",
                "was superseded by a newer version",
            ),
        }
        code, zh, en = texts[record.status]
        why = status_reason(record.reason)
        return _fail(
            "status",
            code,
            f"凭证于 {when} {zh}，原因：{why.zh}（原因代码 {why.code}）",
            f"The credential {en} on {when}; reason: {why.en} (reason code {why.code}).",
        )

    def _list_status(
        self,
        facts: _Facts,
        auth: AuthorityRecord,
        chain_status: int,
        now: datetime,
        material: ForeignMaterial | None,
    ) -> CheckResult | None:
        """The credential's Bitstring status list entries against the lists at hand (a
        snapshot's, or supplied with the bundle), each list proven the issuer's current one
        through its list set's digest on chain; None when no list is at hand (the chain's
        status decides alone). A list that is not the committed one, or that says otherwise
        than the chain, fails the check: the chain is the truth, and the issuer's lists must
        agree with it."""
        supplied = material.status_lists if material is not None else ()
        if not self.index.list_documents and not supplied:
            return None  # no list at hand: nothing to read (the common online case, kept cheap)
        try:
            entries = status_list_entries(facts.credential)
        except StatusListError as e:
            return CheckResult("status", Outcome.FAIL, e.reason)
        if not entries:
            return None
        documents = dict(self.index.list_documents)
        for document in supplied:
            if isinstance(document.get("id"), str):
                documents[document["id"]] = dict(document)
        held: list[str] = []
        for entry in entries:
            url = entry.status_list_credential
            listed = documents.get(url)
            if listed is None:
                return None
            try:
                anchored = self._anchored_list_digest(auth, url, documents)
                proof = listed.get("proof")
                method = proof.get("verificationMethod") if isinstance(proof, Mapping) else None
                key_id = split_verification_method(str(method))[1] if method else ""
                key = self.index.key(auth.id, key_id)
                if key is None:
                    raise StatusVerificationError(
                        "status_list_key_unknown",
                        f"状态列表的签名密钥 {key_id} 不是签发机关在链上登记的密钥",
                        f"The status list's key {key_id} is not one the issuer registered",
                    )
                result = check_status(
                    entry,
                    listed,
                    key.public_key,
                    issuers=[auth.did],
                    anchored_digest=anchored,
                    now=now,
                )
            except StatusListError as e:
                return CheckResult("status", Outcome.FAIL, e.reason)
            except InvalidInput as e:
                return _fail("status", "status_list_key_unknown", str(e), str(e))
            chain_says = (
                chain_status in (CredentialStatus.REVOKED, CredentialStatus.SUPERSEDED)
                if entry.status_purpose == "revocation"
                else chain_status == CredentialStatus.SUSPENDED
            )
            if (result.status != 0) != chain_says:
                flag = "已标记" if result.status else "未标记"
                label_zh, label_en = status_label(chain_status)
                return _fail(
                    "status",
                    "status_list_disagrees",
                    f"签发方的状态列表（{entry.status_purpose}，第 {entry.status_list_index} 项"
                    f"{flag}）与链上状态（{label_zh}）不一致",
                    f"The issuer's status list ({entry.status_purpose}, entry "
                    f"{entry.status_list_index} {'set' if result.status else 'clear'}) disagrees "
                    f"with the status on chain ({label_en})",
                )
            held.append(entry.status_purpose)
        return CheckResult(
            "status",
            Outcome.PASS,
            _r(
                "status_active",
                "凭证状态正常（未吊销、未暂停、未被取代）；签发方在链上承诺的状态列表"
                f"（{'、'.join(held)}）与之一致",
                "The credential is in force (not revoked, suspended or superseded); the "
                f"status lists the issuer committed to on chain ({', '.join(held)}) agree.",
            ),
        )

    def _anchored_list_digest(
        self, auth: AuthorityRecord, url: str, documents: Mapping[str, Mapping[str, Any]]
    ) -> bytes:
        """The digest committed for the list at ``url``: its entry in the authority's list
        set whose digest is on chain. Raises StatusVerificationError when none is."""
        for document in documents.values():
            if document.get("type") != "SuixinStatusListSet" or document.get("issuer") != auth.did:
                continue
            listed = StatusListSet.from_json(document)
            record = self.index.status_list(auth.id, list_id_hash(listed.url))
            if record is not None and url in listed.lists:
                return listed.anchored_digest_of(url, record.digest)
        raise StatusVerificationError(
            "status_list_not_anchored",
            "状态列表不在签发方链上承诺的状态列表集合中（被改动、回滚，或集合缺失）",
            "The status list is not in the list set the issuer committed to on chain (changed, "
            "rolled back, or the set is missing)",
        )

    # -- validity period

    def _validity(self, facts: _Facts, now: datetime) -> CheckResult:
        return validity_period(facts.credential, now)


def _foreign_input(bundle: object) -> tuple[Mapping[str, Any], ForeignMaterial] | None:
    """The foreign credential in ``bundle`` (bare, or a bundle's ``credential``) and the
    material the bundle carries, or None when it is no foreign credential."""
    if is_foreign(bundle):
        assert isinstance(bundle, Mapping)
        return bundle, ForeignMaterial()
    # a bundle with an anchor receipt is a Suixin bundle: verified as a government credential
    if (
        isinstance(bundle, Mapping)
        and bundle.get("anchor") is None
        and is_foreign(bundle.get("credential"))
    ):
        material = ForeignMaterial.from_json(
            bundle.get("didDocuments"), bundle.get("statusListCredentials")
        )
        return bundle["credential"], material
    return None


def validity_period(credential: Mapping[str, Any], now: datetime) -> CheckResult:
    """The ``validity_period`` check of a credential at ``now``: not yet valid, expired, a
    permit's endorsement lapsed, or a pass. The office applies it before signing (a credential
    expired when issued is refused with the same code)."""
    cred = credential
    valid_from = parse_timestamp(cred.get("validFrom"))
    valid_until = parse_timestamp(cred.get("validUntil"))
    if valid_from is not None and now < valid_from:
        return _fail(
            "validity_period",
            "not_yet_valid",
            f"凭证自 {valid_from.astimezone(CHINA_TIME):%Y-%m-%d %H:%M} 起才生效",
            f"The credential is valid only from {valid_from.isoformat()}.",
        )
    if valid_until is not None and now >= valid_until:
        return _fail(
            "validity_period",
            "expired",
            f"凭证已于 {valid_until.astimezone(CHINA_TIME):%Y-%m-%d %H:%M} 过期",
            f"The credential expired at {valid_until.isoformat()}.",
        )
    if credential_type_of(cred) == RESIDENCE_PERMIT:
        endorsements = cred.get("credentialSubject", {}).get("endorsements") or []
        if endorsements:
            latest = max(str(e.get("validUntil", "")) for e in endorsements)
            today = now.astimezone(CHINA_TIME).date().isoformat()
            if latest < today:
                return _fail(
                    "validity_period",
                    "endorsement_lapsed",
                    f"居住证签注已于 {latest} 到期，未按时签注，暂停使用",
                    f"The permit's endorsement lapsed on {latest}; its use is suspended.",
                )
    return _VALIDITY_PASS


# what follows a failed ``format``: every other check, skipped (immutable, so shared)
_SKIPPED_AFTER_FORMAT = tuple(CheckResult(name, Outcome.SKIPPED, _SKIPPED) for name in CHECKS[1:])
_FORMAT_PASS = CheckResult(
    "format",
    Outcome.PASS,
    _r("format_valid", "格式、模式与字段规则均符合", "Shape, schema and field rules hold."),
)
_SIGNATURE_PASS = CheckResult("signature", Outcome.PASS, _SIGNATURE_VALID)
_VALIDITY_PASS = CheckResult(
    "validity_period",
    Outcome.PASS,
    _r("within_validity", "在有效期内", "Within its validity period."),
)


def _fail(name: str, code: str, zh: str, en: str) -> CheckResult:
    return CheckResult(name, Outcome.FAIL, _r(code, zh, en))
