"""A small issuing office for verifier tests: accredited authorities that sign and anchor."""

from __future__ import annotations

import random
import uuid
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from typing import Any

from eth_account.signers.local import LocalAccount

from service.anchoring.batches import anchor_batch, set_statuses
from service.issuing.issuance import SigningIdentity, issue_credential, status_entry
from tests.conftest import Registries
from tests.verifier.factories import business_license_subject, residence_permit_subject
from verifier.credential import CHINA_TIME, build_credential
from verifier.keys import Ed25519KeyPair, KeyAlgorithm
from verifier.proofs import sign_credential
from verifier.registry import key_algorithm_code
from verifier.sm2 import Sm2KeyPair

KeyPair = Ed25519KeyPair | Sm2KeyPair

GZ_PERMITS = (
    "did:web:lsj.gz.gov.cn",
    "广州市来穗人员服务管理局",
    "Guangzhou Migrant Services",
    440100,
)
GZ_LICENCES = ("did:web:amr.gz.gov.cn", "广州市市场监督管理局", "Guangzhou AMR", 440100)
SZ_PERMITS = ("did:web:ga.sz.gov.cn", "深圳市公安局", "Shenzhen Public Security", 440300)
# the 统一社会信用代码 each is accredited with (made up, valid check characters); any other
# authority is accredited without one and issues no licence identifiers
USCCS = {
    GZ_PERMITS[0]: "11440100007502156G",
    GZ_LICENCES[0]: "11440100007502233T",
    SZ_PERMITS[0]: "11440300MB2E66230L",
}


@dataclass
class Office:
    """One authority's office on a test chain."""

    registries: Registries
    did: str
    name_zh: str
    region: int
    account: LocalAccount
    uscc: str = ""
    keys: dict[str, KeyPair] = field(default_factory=dict)
    key_id: str = "key-1"
    rng: random.Random = field(default_factory=lambda: random.Random(7))

    @classmethod
    def accredit(
        cls,
        registries: Registries,
        who: tuple[str, str, str, int],
        types: tuple[str, ...],
        *,
        algorithm: KeyAlgorithm = "Ed25519",
    ) -> Office:
        """An accredited authority whose first key, ``key-1``, is of ``algorithm``."""
        did, zh, en, region = who
        uscc = USCCS.get(did, "")
        account = registries.accredit(
            did, name_zh=zh, name_en=en, region=region, types=types, uscc=uscc
        )
        office = cls(registries, did, zh, region, account, uscc)
        office.add_key("key-1", algorithm)
        return office

    def add_key(self, key_id: str, algorithm: KeyAlgorithm = "Ed25519") -> KeyPair:
        """A new key registered on chain, which signs from now on."""
        key: KeyPair = Sm2KeyPair.generate() if algorithm == "SM2" else Ed25519KeyPair.generate()
        self.registries.trust_tx(
            "addKey",
            [self.did, key_id, key_algorithm_code(algorithm), key.public_bytes],
            self.account,
        )
        self.keys[key_id] = key
        self.key_id = key_id
        return key

    def revoke_key(self, key_id: str, revoked_at: int, reason: int = 1) -> None:
        self.registries.trust_tx("revokeKey", [self.did, key_id, revoked_at, reason], self.account)

    def identity(self, key_id: str | None = None) -> SigningIdentity:
        kid = key_id or self.key_id
        return SigningIdentity(
            self.did, self.name_zh, self.region, kid, self.keys[kid], uscc=self.uscc or None
        )

    def permit(self, *, key_id: str | None = None, **subject: Any) -> dict[str, Any]:
        return issue_credential(
            "ResidencePermit",
            residence_permit_subject(self.rng, **subject),
            self.identity(key_id),
            chain_id=self.registries.chain.chain_id,
            anchor_registry=self.registries.anchor,
        )[0]

    def licence(self, **subject: Any) -> dict[str, Any]:
        return issue_credential(
            "BusinessLicense",
            business_license_subject(self.rng, **subject),
            self.identity(),
            chain_id=self.registries.chain.chain_id,
            anchor_registry=self.registries.anchor,
        )[0]

    def rogue(self, credential_type: str, subject: dict[str, Any]) -> dict[str, Any]:
        """Sign without the office's own checks, as a misbehaving authority's software would."""
        now = datetime.now(UTC).replace(microsecond=0)
        cid = str(uuid.UUID(int=self.rng.getrandbits(128), version=4))
        unsigned = build_credential(
            credential_type,
            subject,
            credential_id=cid,
            issuer_did=self.did,
            authority_name=self.name_zh,
            issue_date=now.astimezone(CHINA_TIME).date(),  # as the office dates it
            valid_from=now,
            valid_until=now + timedelta(days=365),
            status=status_entry(
                f"urn:uuid:{cid}", self.registries.chain.chain_id, self.registries.anchor
            ),
        )
        created = now.isoformat().replace("+00:00", "Z")
        return sign_credential(
            unsigned, self.keys[self.key_id], f"{self.did}#{self.key_id}", created
        )

    def anchor(self, *credentials: dict[str, Any]) -> list[dict[str, Any]]:
        return anchor_batch(
            self.registries.chain, self.registries.deployment, self.account, list(credentials)
        )

    def set_status(self, credential: dict[str, Any], status: int, reason: int = 1) -> None:
        set_statuses(
            self.registries.chain,
            self.registries.deployment,
            self.account,
            [(credential["id"], status, reason)],
        )
