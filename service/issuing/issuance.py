"""Issuance: turn a validated subject into a signed VC 2.0 credential (eddsa-jcs-2022, or
suixin-sm2-jcs-2025 when the authority signs with an SM2 key)."""

from __future__ import annotations

import uuid
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any

from verifier.bundle import credential_id_hash
from verifier.credential import CHINA_TIME, build_credential, check_subject
from verifier.errors import FieldError, InvalidCredential
from verifier.licence_id import LICENSED_TYPES, licence_id_for
from verifier.merkle import MerkleHash
from verifier.proofs import Ed25519Signer, Sm2Signer, sign_credential_with_digest

__all__ = [
    "SigningIdentity",
    "issue_credential",
    "licence_id_of",
    "require_uscc",
    "status_entry",
]

STATUS_TYPE = "SuixinAnchorRegistryStatus"


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


def status_entry(credential_id: str, chain_id: int, anchor_registry: str) -> dict[str, Any]:
    """The ``credentialStatus`` entry naming the credential's status slot on chain."""
    slot = credential_id_hash(credential_id).hex()
    return {
        "id": f"urn:suixin:status:eip155:{chain_id}:{anchor_registry}:{slot}",
        "type": STATUS_TYPE,
    }


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
) -> tuple[dict[str, Any], bytes]:
    """Validate ``subject`` (raises InvalidCredential), build the credential — the first version
    of its lineage, with its licence identifier when the identity has a USCC — and sign it;
    returns the signed credential and its digest (the Merkle leaf content, from the signing JCS,
    with the deployment's anchoring hash ``anchor_hash``)."""
    now = now or datetime.now(UTC)
    check_subject(
        credential_type,
        subject,
        authority_region=identity.region,
        today=now.astimezone(CHINA_TIME).date(),
    )
    valid_from = valid_from or now.replace(microsecond=0)
    valid_until = valid_until or valid_from + timedelta(days=365)
    cid = credential_id or uuid.uuid4()
    licence = licence_id_of(credential_type, identity.uscc, cid.urn, 1) if identity.uscc else None
    unsigned = build_credential(
        credential_type,
        subject,
        credential_id=cid,
        issuer_did=identity.did,
        authority_name=identity.name_zh,
        issue_date=now.astimezone(CHINA_TIME).date(),
        valid_from=valid_from,
        valid_until=valid_until,
        status=status_entry(f"urn:uuid:{cid}", chain_id, anchor_registry),
        licence_id=licence,
    )
    created = now.astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
    return sign_credential_with_digest(
        unsigned,
        identity.key,
        identity.verification_method,
        created,
        cryptosuite=identity.cryptosuite,
        anchor_hash=anchor_hash,
    )
