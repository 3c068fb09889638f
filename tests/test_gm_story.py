"""The whole 国密 story on each chain backend: an office whose deployment anchors with SM3 and
whose key store seals with SM4 enrols an authority with an SM2 key, issues permits and licences,
anchors them, and a partner city verifies them VALID from the chain and offline; a tampered
credential, two impostors and a backdated key revocation are refused as they are for Ed25519;
an Ed25519 authority rotating to SM2 keeps what it issued VALID.
"""

from __future__ import annotations

import copy
import random
from datetime import timedelta
from pathlib import Path
from typing import Any

from sqlalchemy import select

from service.anchoring.batches import anchor_batch
from service.anchoring.worker import AnchorWorker
from service.issuing.issuance import SigningIdentity, issue_credential
from service.issuing.office import IssueRequest, Office
from service.storage.db import Database
from service.storage.models import Authority, Batch, Credential, IssuerKey
from service.storage.sealing import KeyRing
from service.trust import compromise
from service.trust import rotation as key_rotation
from service.trust.authorities import create_authority
from service.trust.deployment import deploy_registries
from tests.conftest import funded
from tests.service.trust.test_key_operations import wait_for_chain_time
from tests.verifier.factories import business_license_subject, residence_permit_subject
from verifier.chain import Chain
from verifier.jcs import canonicalize
from verifier.keys import decode_multikey
from verifier.licence_id import parse_licence_id
from verifier.policy import Policy
from verifier.registry import KeyAlgorithmCode
from verifier.sm2 import Sm2KeyPair, sm3_hash
from verifier.verify import Outcome, Report, Verdict, Verifier

MASTER = "gm-story-master-key-0123456789abcdefghij"
LSJ = ("did:web:lsj.gz.gov.cn", "广州市来穗人员服务管理局", "Guangzhou Migrant Services", 440100)
AMR = ("did:web:amr.gz.gov.cn", "广州市市场监督管理局", "Guangzhou AMR", 440100)
SZ = ("did:web:ga.sz.gov.cn", "深圳市公安局", "Shenzhen PSB", 440300)
SM2_SUITE = "suixin-sm2-jcs-2025"


def failed(report: Report) -> dict[str, str]:
    return {c.name: c.reason.code for c in report.checks if c.outcome is Outcome.FAIL}


def test_the_gm_story(chain: Chain, tmp_path: Path) -> None:
    # --- the office: SM3 anchoring chosen at deployment, SM4 at rest, SM2 issuer keys
    root = funded(chain)
    deployment = deploy_registries(chain, root, anchoring_hash="sm3")
    db = Database(f"sqlite:///{tmp_path / 'office.sqlite'}")
    db.migrate()
    office = Office(db, chain, deployment, KeyRing(MASTER, algorithm="sm4-gcm"))
    lsj = create_authority(
        office, *LSJ, ("ResidencePermit",), root=root, algorithm="SM2", uscc="11440100007502156G"
    )
    amr = create_authority(
        office, *AMR, ("BusinessLicense",), root=root, algorithm="SM2", uscc="11440100007502233T"
    )
    rng = random.Random(18)
    permits = office.issue_many(
        lsj.id, [IssueRequest("ResidencePermit", residence_permit_subject(rng)) for _ in range(3)]
    )
    [licence] = office.issue_many(
        amr.id, [IssueRequest("BusinessLicense", business_license_subject(rng))]
    )
    AnchorWorker(office, log=lambda _m: None).drain()

    # what the office holds: SM2 keys and documents sealed with SM4, SM3 digests and trees
    with db.session() as s:
        sealed = [
            *s.scalars(select(IssuerKey.private_key_encrypted)),
            *s.scalars(select(Authority.account_key_encrypted)),
            *s.scalars(select(Credential.body)),
        ]
        assert {k.algorithm for k in s.scalars(select(IssuerKey))} == {"SM2"}
        assert {b.hash for b in s.scalars(select(Batch))} == {"sm3"}
    assert {bytes(v)[:2] for v in sealed} == {bytes((2, 2))}  # header v2, SM4-GCM
    bundles = [office.bundle(b["credential"]["id"]) for b in [*permits, licence]]
    for bundle in bundles:
        credential = bundle["credential"]
        assert credential["proof"]["cryptosuite"] == SM2_SUITE
        assert bundle["anchor"]["hash"] == "sm3"
        assert parse_licence_id(credential["licenceId"]).version == "001"
    with db.session() as s:
        digest = s.scalar(
            select(Credential.digest).where(Credential.id == permits[0]["credential"]["id"])
        )
    assert digest == sm3_hash(canonicalize(bundles[0]["credential"]))

    # --- a partner city (肇庆) verifies from the chain, knowing the deployment record
    partner = Verifier.from_chain(
        chain, deployment.anchor_registry, Policy(sync_interval=timedelta(0)), deployment=deployment
    )
    for bundle in bundles:
        report = partner.verify(bundle)
        assert report.verdict is Verdict.VALID, report.to_json()
    # ... and offline, from a snapshot
    snapshot = tmp_path / "trust.json"
    partner.index.export_snapshot(snapshot)
    offline = Verifier.from_snapshot(snapshot)
    assert offline.index.anchoring_hash == "sm3"
    assert [offline.verify(b).verdict for b in bundles] == [Verdict.VALID] * 4
    key = offline.index.key(offline.index.authority(LSJ[0]).id, "key-1")  # type: ignore[union-attr]
    assert key is not None and key.algorithm == "SM2"

    # --- tampering: one character of the subject, or the licence identifier
    tampered = copy.deepcopy(bundles[0])
    tampered["credential"]["credentialSubject"]["residenceAddress"] += "甲"
    assert failed(partner.verify(tampered)) == {
        "signature": "signature_invalid",
        "anchor": "anchor_path_mismatch",
    }
    relabelled = copy.deepcopy(bundles[1])
    relabelled["credential"]["licenceId"] = bundles[2]["credential"]["licenceId"]
    assert "signature" in failed(partner.verify(relabelled))

    # --- impostors: an unaccredited DID, and 深圳's accredited SM2 key claiming 来穗局's DID
    stranger = Sm2KeyPair.generate()
    unaccredited = _signed_permit(office, "did:web:lsj-gz.gov.cn", stranger, rng)
    assert (
        failed(partner.verify({"version": "suixin-bundle/1", **_bundle(unaccredited)}))["issuer"]
        == "issuer_not_accredited"
    )
    sz_account = funded(chain)
    chain.transact(
        deployment.trust_registry,
        _trust_abi(),
        "accredit",
        [*SZ, ["ResidencePermit"], sz_account.address, "11440300MB2E66230L"],
        root,
    )
    sz_key = Sm2KeyPair.generate()
    chain.transact(
        deployment.trust_registry,
        _trust_abi(),
        "addKey",
        [SZ[0], "key-1", KeyAlgorithmCode.SM2, sz_key.public_bytes],
        sz_account,
    )
    forged = _signed_permit(office, LSJ[0], sz_key, rng, key_id="key-1")
    [forged_bundle] = anchor_batch(chain, deployment, sz_account, [forged])
    assert failed(partner.verify(forged_bundle))["signature"] == "signature_invalid"
    assert failed(partner.verify(forged_bundle))["anchor"] == "anchor_other_authority"

    # --- a backdated revocation of the SM2 key: what was anchored after it fails, the rest holds
    before = permits[0]["credential"]["id"]
    since = chain.block_time("latest") + 1
    wait_for_chain_time(chain, since)
    [late] = office.issue_many(
        lsj.id, [IssueRequest("ResidencePermit", residence_permit_subject(rng))]
    )
    AnchorWorker(office, log=lambda _m: None).drain()
    revocation = compromise.revoke_key(office, lsj.id, "key-1", since)
    assert revocation.rotated_to == "key-2"  # an SM2 key again
    assert partner.verify(office.bundle(before)).verdict is Verdict.VALID
    assert failed(partner.verify(office.bundle(late["credential"]["id"]))) == {
        "key_validity": "key_revoked"
    }
    [(_, reissued)] = compromise.reissue(office, lsj.id, "key-1").pairs
    AnchorWorker(office, log=lambda _m: None).drain()
    again = partner.verify(office.bundle(reissued))
    assert again.verdict is Verdict.VALID, again.to_json()

    # --- an Ed25519 authority moves to SM2: its earlier credentials stay VALID
    gz2 = create_authority(
        office,
        "did:web:ga.gz.gov.cn",
        "广州市公安局",
        "Guangzhou PSB",
        440100,
        ("ResidencePermit",),
        root=root,
        uscc="11440100MB2C92850K",
    )
    [old] = office.issue_many(
        gz2.id, [IssueRequest("ResidencePermit", residence_permit_subject(rng))]
    )
    assert old["credential"]["proof"]["cryptosuite"] == "eddsa-jcs-2022"
    rotation = key_rotation.rotate_key(office, gz2.id, algorithm="SM2", settle_seconds=0)
    wait_for_chain_time(chain, rotation.revoked_at or 0)
    [new] = office.issue_many(
        gz2.id, [IssueRequest("ResidencePermit", residence_permit_subject(rng))]
    )
    assert new["credential"]["proof"]["cryptosuite"] == SM2_SUITE
    AnchorWorker(office, log=lambda _m: None).drain()
    for cid in (old["credential"]["id"], new["credential"]["id"]):
        report = partner.verify(office.bundle(cid))
        assert report.verdict is Verdict.VALID, report.to_json()
    published = {
        k.key_id: decode_multikey(k.multikey.multikey).algorithm
        for k in partner.index.keys.values()
        if k.authority_id == partner.index.authority(gz2.did).id  # type: ignore[union-attr]
    }
    assert published == {"key-1": "Ed25519", "key-2": "SM2"}
    db.dispose()


def _trust_abi() -> list[dict[str, Any]]:
    from verifier.contracts import load_artifact

    return load_artifact("TrustRegistry").abi


def _signed_permit(
    office: Office, did: str, key: Sm2KeyPair, rng: random.Random, key_id: str = "key-9"
) -> dict[str, Any]:
    identity = SigningIdentity(did, "广州市来穗人员服务管理局", 440100, key_id, key)
    credential, _ = issue_credential(
        "ResidencePermit",
        residence_permit_subject(rng),
        identity,
        chain_id=office.deployment.chain_id,
        anchor_registry=office.deployment.anchor_registry,
        anchor_hash="sm3",
    )
    return credential


def _bundle(credential: dict[str, Any]) -> dict[str, Any]:
    return {"credential": credential, "anchor": None}
