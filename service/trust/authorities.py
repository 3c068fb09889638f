"""Enrolling an authority in an office (``suixin keys init``, ``create_authority``) and listing
its keys.

With the governance root at hand (development, demos) enrolment is one step: the office creates the
authority's chain account and first issuer key (Ed25519, or SM2 with ``--algorithm sm2``), the root
accredits the account, the account registers the key with its algorithm. In production the province
holds the root offline, so enrolment takes two: ``keys init`` creates and stores both keys (the
issuer key inactive, so nothing can be issued under it yet) and prints the account address to
accredit; once the province has accredited it, running ``keys init`` again registers the key on
chain and activates it.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum

from eth_account import Account
from eth_account.signers.local import LocalAccount
from sqlalchemy import select

from service.audit import trail
from service.issuing.office import NotFound, Office
from service.issuing.signer import generate_key_pair
from service.storage.models import Authority, IssuerKey
from service.trust.deployment import fund_if_dev
from verifier.contracts import load_artifact
from verifier.errors import ContractReverted, InvalidInput
from verifier.identifiers import InvalidIdentifier, parse_uscc
from verifier.keys import KeyAlgorithm, PublicMultikey
from verifier.registry import key_algorithm_code

__all__ = ["Enrolment", "EnrolmentState", "KeyView", "create_authority", "enrol", "key_views"]

FIRST_KEY_ID = "key-1"


class EnrolmentState(StrEnum):
    """Where an authority's enrolment stands after ``enrol``."""

    ACTIVE = "active"  # accredited, key registered: the office can issue
    AWAITING_ACCREDITATION = "awaiting-accreditation"  # the province must accredit the account
    ALREADY_ACTIVE = "already-active"  # nothing to do


@dataclass(frozen=True)
class Enrolment:
    """The result of ``enrol``: the authority, its account address and the state it reached."""

    authority_id: int
    did: str
    account_address: str
    key_id: str
    public_multikey: str
    state: EnrolmentState
    algorithm: str = "Ed25519"


@dataclass(frozen=True)
class KeyView:
    """One issuer key as ``keys list`` shows it: public parts only."""

    did: str
    name_zh: str
    name_en: str
    region: int
    credential_types: tuple[str, ...]
    account_address: str
    key_id: str
    public_multikey: str
    active: bool
    created_at: datetime
    algorithm: str = "Ed25519"
    uscc: str | None = None


def _multikey(key: IssuerKey) -> str:
    algorithm: KeyAlgorithm = "SM2" if key.algorithm == "SM2" else "Ed25519"
    return PublicMultikey(algorithm, bytes(key.public_key)).multikey


def _checked_uscc(uscc: str) -> str:
    """A USCC as the registry records it (upper case), "" for none; InvalidInput if malformed."""
    if not uscc:
        return ""
    try:
        return parse_uscc(uscc.strip().upper()).code
    except InvalidIdentifier as e:
        raise InvalidInput(f"--uscc is not a unified social credit code: {e.reason.en}") from e


def create_authority(
    office: Office,
    did: str,
    name_zh: str,
    name_en: str,
    region: int,
    credential_types: Sequence[str],
    *,
    root: LocalAccount | None = None,
    key_id: str = "key-1",
    algorithm: str = "Ed25519",
    uscc: str = "",
    actor: str = "system",
) -> Authority:
    """Create the authority's chain account and first issuer key (``algorithm``: Ed25519 or
    SM2), register them, store both.

    With ``root`` (the governance root's account, development and demos) the authority is
    also accredited on chain, with its 统一社会信用代码 ``uscc`` ("" for none: it then issues
    no 居住证 or 营业执照); otherwise the province must accredit its account first.
    ``actor`` is who the audit row names (``cli``, ``system``). Raises InvalidInput for an
    unknown algorithm or a malformed USCC, before anything reaches the chain.
    """
    pair = generate_key_pair(algorithm)  # InvalidInput for another algorithm, before the chain
    uscc = _checked_uscc(uscc)
    account: LocalAccount = Account.create()
    fund_if_dev(office.chain, account.address)
    trust = load_artifact("TrustRegistry").abi
    if root is not None:
        office.chain.transact(
            office.deployment.trust_registry,
            trust,
            "accredit",
            [did, name_zh, name_en, region, list(credential_types), account.address, uscc],
            root,
        )
    office.chain.transact(
        office.deployment.trust_registry,
        trust,
        "addKey",
        [did, key_id, key_algorithm_code(algorithm), pair.public_bytes],
        account,
    )
    return office.store_authority(
        did,
        name_zh,
        name_en,
        region,
        credential_types,
        account,
        pair,
        key_id,
        active=True,
        uscc=uscc,
        actor=actor,
    )


def enrol(
    office: Office,
    did: str,
    name_zh: str,
    name_en: str,
    region: int,
    credential_types: Sequence[str],
    *,
    root: LocalAccount | None,
    algorithm: str = "Ed25519",
    uscc: str = "",
    actor: str = "cli",
) -> Enrolment:
    """Enrol ``did`` in the office with a first issuer key of ``algorithm`` (Ed25519 or SM2) and
    its 统一社会信用代码 ``uscc``, or finish a pending enrolment (its staged key keeps the
    algorithm it was made with; the chain's accreditation must name the same USCC); see the
    module docstring.
    Each step appends an audit row by ``actor`` (``authority.create``, ``issuer_key.activate``).

    Raises InvalidInput when ``did`` is enrolled with other details, ContractReverted when the
    chain refuses (for example the DID is accredited to another account).
    """
    if not credential_types:
        raise InvalidInput("an authority needs at least one credential type (--type)")
    try:
        existing = office.authority_by_did(did)
    except NotFound:
        existing = None
    if existing is None:
        if root is not None:
            authority = create_authority(
                office,
                did,
                name_zh,
                name_en,
                region,
                credential_types,
                root=root,
                key_id=FIRST_KEY_ID,
                algorithm=algorithm,
                uscc=uscc,
                actor=actor,
            )
            return _result(office, authority, EnrolmentState.ACTIVE)
        authority = _stage(
            office,
            did,
            name_zh,
            name_en,
            region,
            credential_types,
            algorithm,
            _checked_uscc(uscc),
            actor,
        )
        return _result(office, authority, _try_register(office, authority, actor))
    if (existing.region, sorted(existing.credential_types), existing.uscc or "") != (
        region,
        sorted(credential_types),
        _checked_uscc(uscc),
    ):
        raise InvalidInput(
            f"{did} is already enrolled with region {existing.region}, types "
            f"{', '.join(existing.credential_types)} and USCC {existing.uscc or '(none)'}; "
            "enrolment details cannot change here"
        )
    if _pending_key(office, existing.id) is None:
        return _result(office, existing, EnrolmentState.ALREADY_ACTIVE)
    return _result(office, existing, _try_register(office, existing, actor))


def key_views(office: Office) -> list[KeyView]:
    """Every issuer key of every authority, public parts only, oldest first."""
    with office.db.session() as s:
        rows = s.execute(
            select(Authority, IssuerKey)
            .join(IssuerKey, IssuerKey.authority_id == Authority.id)
            .order_by(Authority.id, IssuerKey.id)
        ).all()
    return [
        KeyView(
            did=a.did,
            name_zh=a.name_zh,
            name_en=a.name_en,
            region=a.region,
            credential_types=tuple(a.credential_types),
            account_address=a.account_address,
            key_id=k.key_id,
            public_multikey=_multikey(k),
            active=k.active,
            created_at=k.created_at,
            algorithm=k.algorithm,
            uscc=a.uscc,
        )
        for a, k in rows
    ]


# ---------------------------------------------------------------------- two-step enrolment


def _stage(
    office: Office,
    did: str,
    name_zh: str,
    name_en: str,
    region: int,
    credential_types: Sequence[str],
    algorithm: str,
    uscc: str,
    actor: str,
) -> Authority:
    """Create and store the account and first key (inactive) without touching the chain.

    ``Office.store_authority`` seals them as ``create_authority`` does, so
    ``Office.account`` and ``Office.signer`` open them like any other.
    """
    account: LocalAccount = Account.create()
    pair = generate_key_pair(algorithm)
    return office.store_authority(
        did,
        name_zh,
        name_en,
        region,
        credential_types,
        account,
        pair,
        FIRST_KEY_ID,
        active=False,
        uscc=uscc,
        actor=actor,
    )


def _pending_key(office: Office, authority_id: int) -> IssuerKey | None:
    with office.db.session() as s:
        return s.scalar(
            select(IssuerKey)
            .where(IssuerKey.authority_id == authority_id, IssuerKey.active.is_(False))
            .where(IssuerKey.revoked_at.is_(None))
            .order_by(IssuerKey.id)
        )


def _try_register(office: Office, authority: Authority, actor: str) -> EnrolmentState:
    """Register the pending key if the province has accredited the account; else say so."""
    key = _pending_key(office, authority.id)
    if key is None:
        return EnrolmentState.ALREADY_ACTIVE
    trust = load_artifact("TrustRegistry").abi
    registry = office.deployment.trust_registry
    try:
        record = office.chain.call(registry, trust, "authorityByDid", [authority.did])
    except ContractReverted as e:
        if e.name != "UnknownAuthority":
            raise
        return EnrolmentState.AWAITING_ACCREDITATION
    if str(record[2]).lower() != authority.account_address.lower():
        raise InvalidInput(
            f"{authority.did} is accredited on chain to account {record[2]}, not to this "
            f"office's account {authority.account_address}"
        )
    if str(record[9]) != (authority.uscc or ""):
        raise InvalidInput(
            f"{authority.did} is accredited on chain with USCC {record[9] or '(none)'}, not "
            f"with this office's {authority.uscc or '(none)'}: the province accredits with "
            "--uscc as the office enrolled"
        )
    fund_if_dev(office.chain, authority.account_address)
    try:
        office.chain.transact(
            registry,
            trust,
            "addKey",
            [authority.did, key.key_id, key_algorithm_code(key.algorithm), bytes(key.public_key)],
            office.account(authority.id),
        )
    except ContractReverted as e:
        if e.name != "KeyExists":  # registered by an earlier run that stopped before storing
            raise
    with office.db.write_session() as s:
        row = s.get(IssuerKey, key.id)
        assert row is not None
        if not row.active:
            row.active = True
            trail.record(
                s,
                actor=actor,
                action="issuer_key.activate",
                authority_id=authority.id,
                details={"keyId": key.key_id},
            )
    return EnrolmentState.ACTIVE


def _result(office: Office, authority: Authority, state: EnrolmentState) -> Enrolment:
    with office.db.session() as s:
        key = s.scalar(
            select(IssuerKey)
            .where(IssuerKey.authority_id == authority.id)
            .order_by(IssuerKey.id.desc())
        )
    assert key is not None
    return Enrolment(
        authority_id=authority.id,
        did=authority.did,
        account_address=authority.account_address,
        key_id=key.key_id,
        public_multikey=_multikey(key),
        state=state,
        algorithm=key.algorithm,
    )
