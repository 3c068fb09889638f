"""Verification against a real chain (both backends): the trust scenarios of DESIGN.md §5."""

from __future__ import annotations

import time
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from service.anchoring.devnode import free_port
from tests.conftest import Registries, funded
from tests.verifier.office import GZ_LICENCES, GZ_PERMITS, SZ_PERMITS, USCCS, Office
from verifier.bundle import credential_digest, make_bundle, receipts_for_batch
from verifier.chain import RpcChain
from verifier.errors import ChainUnavailable
from verifier.keys import Ed25519KeyPair
from verifier.licence_id import LICENCE_TYPE_CODES, build_licence_id, parse_licence_id
from verifier.merkle import MerkleTree
from verifier.policy import Policy
from verifier.proofs import sign_credential
from verifier.registry import CredentialStatus
from verifier.verify import CHECKS, Outcome, Verdict, Verifier


def verifier_for(registries: Registries, **policy: object) -> Verifier:
    return Verifier.from_chain(
        registries.chain,
        registries.anchor,
        Policy(sync_interval=timedelta(0), **policy),  # type: ignore[arg-type]
    )


@pytest.fixture
def gz(registries: Registries) -> Office:
    return Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))


def test_an_anchored_permit_is_valid_with_every_check_passing(
    registries: Registries, gz: Office
) -> None:
    (bundle,) = gz.anchor(gz.permit())
    report = verifier_for(registries).verify(bundle)
    assert report.verdict is Verdict.VALID
    assert [c.name for c in report.checks] == list(CHECKS)
    assert all(c.outcome is Outcome.PASS for c in report.checks)
    assert report.issuer_name == (GZ_PERMITS[1], GZ_PERMITS[2])
    assert report.check("issuer").reason.zh.startswith("签发机关 广州市来穗人员服务管理局")
    assert report.trust.block_number == registries.chain.block_number()
    # what a counter shows beside the verdict: the credential's end and where it was anchored
    shown = report.to_json()
    assert shown["validUntil"] == bundle["credential"]["validUntil"]
    assert shown["anchoredIn"] == {  # the chain's record of the root, not the receipt's say
        "blockNumber": bundle["anchor"]["blockNumber"],
        "transactionHash": bundle["anchor"]["transactionHash"],
    }
    assert "anchoredIn" not in verifier_for(registries).verify(gz.permit()).to_json()  # pending


def test_a_batch_of_licences_each_verifies(registries: Registries) -> None:
    amr = Office.accredit(registries, GZ_LICENCES, ("BusinessLicense",))
    bundles = amr.anchor(*(amr.licence() for _ in range(5)))
    verifier = verifier_for(registries)
    assert [verifier.verify(b).verdict for b in bundles] == [Verdict.VALID] * 5
    assert {b["anchor"]["root"] for b in bundles} == {bundles[0]["anchor"]["root"]}


def test_an_unaccredited_did_is_rejected(registries: Registries, gz: Office) -> None:
    impostor = Office(
        registries,
        "did:web:fake-lsj.gz.gov.cn",
        "广州市来穗人员服务管理局",
        440100,
        funded(registries.chain),
    )
    impostor.keys["key-1"] = Ed25519KeyPair.generate()
    credential = impostor.permit()
    report = verifier_for(registries).verify(make_bundle(credential, None))
    assert report.verdict is Verdict.INVALID
    assert report.check("issuer").reason.code == "issuer_not_accredited"
    assert report.check("signature").reason.code == "verification_method_unknown"


def test_an_impostor_claiming_a_real_did_fails_the_signature(
    registries: Registries, gz: Office
) -> None:
    stolen_name = Office(registries, gz.did, gz.name_zh, gz.region, gz.account)
    stolen_name.keys["key-1"] = Ed25519KeyPair.generate()  # not the registered key
    (bundle,) = gz.anchor(stolen_name.permit())  # even anchored by the real office
    report = verifier_for(registries).verify(bundle)
    assert report.verdict is Verdict.INVALID
    assert report.check("signature").reason.code == "signature_invalid"


def test_an_authority_issuing_a_type_it_is_not_accredited_for(
    registries: Registries, gz: Office
) -> None:
    from tests.verifier.factories import business_license_subject

    (bundle,) = gz.anchor(gz.rogue("BusinessLicense", business_license_subject()))
    report = verifier_for(registries).verify(bundle)
    assert report.verdict is Verdict.INVALID
    assert report.check("issuer").reason.code == "issuer_type_not_accredited"
    assert report.check("signature").outcome is Outcome.PASS


def test_an_authority_issuing_outside_its_region(registries: Registries) -> None:
    from tests.verifier.factories import residence_permit_subject

    sz = Office.accredit(registries, SZ_PERMITS, ("ResidencePermit",))
    subject = residence_permit_subject(residenceRegion="440106")  # 天河区, Guangzhou
    (bundle,) = sz.anchor(sz.rogue("ResidencePermit", subject))
    report = verifier_for(registries).verify(bundle)
    assert report.verdict is Verdict.INVALID
    assert report.check("issuer").reason.code == "issuer_region_outside"


def test_a_key_revoked_before_the_anchor_fails_and_after_it_holds(
    registries: Registries, gz: Office
) -> None:
    chain = registries.chain
    early = gz.permit()
    (anchored_first,) = gz.anchor(early)
    late = gz.permit()
    # revoke key-1 from just after the first anchor: anything anchored later is too late
    revoked_at = chain.block_time() + 1
    gz.revoke_key("key-1", revoked_at)
    while time.time() < revoked_at + 1:  # anvil's blocks may share a second: let one pass
        time.sleep(0.05)
    gz.add_key("key-2")
    (anchored_late,) = gz.anchor(late)
    verifier = verifier_for(registries)
    assert verifier.verify(anchored_first).verdict is Verdict.VALID
    report = verifier.verify(anchored_late)
    assert report.verdict is Verdict.INVALID
    assert report.check("key_validity").reason.code == "key_revoked"
    assert [c.name for c in report.failed] == ["key_validity"]
    (with_new_key,) = gz.anchor(gz.permit())
    assert verifier.verify(with_new_key).verdict is Verdict.VALID


def test_revoked_and_suspended_credentials(registries: Registries, gz: Office) -> None:
    revoked, suspended, fine = gz.anchor(gz.permit(), gz.permit(), gz.permit())
    gz.set_status(revoked["credential"], CredentialStatus.REVOKED, reason=3)
    gz.set_status(suspended["credential"], CredentialStatus.SUSPENDED, reason=2)
    verifier = verifier_for(registries)
    r = verifier.verify(revoked)
    assert r.verdict is Verdict.INVALID and r.check("status").reason.code == "credential_revoked"
    s = verifier.verify(suspended)
    assert s.verdict is Verdict.INVALID and s.check("status").reason.code == "credential_suspended"
    assert verifier.verify(fine).verdict is Verdict.VALID
    gz.set_status(suspended["credential"], CredentialStatus.REINSTATED)
    assert verifier.verify(suspended).verdict is Verdict.VALID


def test_another_authority_cannot_revoke_my_credential(registries: Registries, gz: Office) -> None:
    sz = Office.accredit(registries, SZ_PERMITS, ("ResidencePermit",))
    (bundle,) = gz.anchor(gz.permit())
    sz.set_status(bundle["credential"], CredentialStatus.REVOKED)  # lands in Shenzhen's namespace
    assert verifier_for(registries).verify(bundle).verdict is Verdict.VALID


def test_a_pending_anchor_inside_and_past_the_grace_period(
    registries: Registries, gz: Office
) -> None:
    bundle = make_bundle(gz.permit(), None)
    inside = verifier_for(registries, pending_grace=timedelta(hours=1)).verify(bundle)
    assert inside.verdict is Verdict.PENDING
    assert inside.check("anchor").outcome is Outcome.PENDING
    assert inside.check("key_validity").outcome is Outcome.PASS
    later = datetime.now(UTC) + timedelta(hours=2)
    past = verifier_for(registries, pending_grace=timedelta(hours=1), clock=lambda: later)
    report = past.verify(bundle)
    assert report.verdict is Verdict.INVALID
    assert report.check("anchor").reason.code == "anchor_missing"


def test_a_suspended_authority_policy(registries: Registries, gz: Office) -> None:
    (before,) = gz.anchor(gz.permit())
    registries.trust_tx("suspend", [gz.did])
    assert verifier_for(registries).verify(before).verdict is Verdict.VALID
    strict = verifier_for(registries, accept_suspended_authority_history=False).verify(before)
    assert strict.check("issuer").reason.code == "authority_suspended"
    registries.trust_tx("remove", [gz.did])
    removed = verifier_for(registries).verify(before)
    assert removed.check("issuer").reason.code == "authority_removed"


def test_an_unreachable_rpc_node_is_its_own_outcome(registries: Registries, gz: Office) -> None:
    (bundle,) = gz.anchor(gz.permit())
    verifier = verifier_for(registries)
    verifier.verify(bundle)
    verifier.chain = RpcChain(f"http://127.0.0.1:{free_port()}", request_timeout=2)
    with pytest.raises(ChainUnavailable):
        verifier.verify(bundle)


# --- SM3 anchoring ----------------------------------------------------------------------------


def anchor_sm3(registries: Registries, office: Office, *credentials: dict[str, Any]) -> list[Any]:
    """What an SM3 deployment's worker does: an SM3 tree over SM3 digests, anchored, receipts."""
    tree = MerkleTree((credential_digest(c, "sm3") for c in credentials), hash="sm3")
    sent = registries.anchor_tx("anchor", [tree.root, tree.size], office.account)
    receipts = receipts_for_batch(
        tree,
        chain_id=registries.chain.chain_id,
        registry=registries.anchor,
        block_number=sent.block_number,
        block_time=registries.chain.block_time(sent.block_number),
        transaction_hash=sent.tx_hash,
    )
    return [make_bundle(c, r) for c, r in zip(credentials, receipts, strict=True)]


def test_an_sm3_anchored_batch_verifies(registries: Registries, gz: Office) -> None:
    bundles = anchor_sm3(registries, gz, gz.permit(), gz.permit(), gz.permit())
    verifier = verifier_for(registries)
    for bundle in bundles:
        assert bundle["anchor"]["hash"] == "sm3"
        report = verifier.verify(bundle)
        assert report.verdict is Verdict.VALID, report.summary("en")
        assert report.check("anchor").reason.code == "anchored"


def test_a_receipt_must_name_the_hash_its_tree_was_built_with(
    registries: Registries, gz: Office
) -> None:
    (sm3,) = anchor_sm3(registries, gz, gz.permit())
    (sha,) = gz.anchor(gz.permit())
    assert "hash" not in sha["anchor"]  # SHA-256 receipts are written as before
    verifier = verifier_for(registries)
    claims_sha = {**sm3, "anchor": {k: v for k, v in sm3["anchor"].items() if k != "hash"}}
    claims_sm3 = {**sha, "anchor": {**sha["anchor"], "hash": "sm3"}}
    explicit_sha = {**sha, "anchor": {**sha["anchor"], "hash": "sha-256"}}
    for bundle in (claims_sha, claims_sm3):
        report = verifier.verify(bundle)
        assert report.check("anchor").reason.code == "anchor_path_mismatch"
        assert [c.name for c in report.failed] == ["anchor"]
    assert verifier.verify(explicit_sha).verdict is Verdict.VALID


def test_an_unknown_receipt_hash_is_a_format_failure(registries: Registries, gz: Office) -> None:
    (bundle,) = anchor_sm3(registries, gz, gz.permit())
    for name in ("md5", "SM3", 3):
        bad = {**bundle, "anchor": {**bundle["anchor"], "hash": name}}
        report = verifier_for(registries).verify(bad)
        assert report.check("format").reason.code == "bundle_malformed"
        assert report.check("format").reason.en.startswith("anchor: Malformed bundle")


# ------------------------------------------------------------------ the national licence id


def test_a_permit_carries_its_licence_id_naming_its_authority(
    registries: Registries, gz: Office
) -> None:
    credential = gz.permit()
    licence = parse_licence_id(credential["licenceId"])
    assert licence.issuer.code == gz.uscc and licence.version == "001"
    assert licence.serial == credential["id"].removeprefix("urn:uuid:").replace("-", "").upper()
    (bundle,) = gz.anchor(credential)
    report = verifier_for(registries).verify(bundle)
    assert report.verdict is Verdict.VALID
    assert report.check("format").reason.code == "format_valid"


def _signed_with_licence(office: Office, licence: str) -> dict[str, Any]:
    """A permit of ``office`` carrying ``licence`` as its identifier, properly signed."""
    credential = {k: v for k, v in office.permit().items() if k != "proof"}
    credential["licenceId"] = licence
    method = f"{office.did}#{office.key_id}"
    return sign_credential(credential, office.keys[office.key_id], method, "2026-11-21T00:00:00Z")


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ("other_authority", "licence_id_issuer_mismatch"),
        ("check_character", "licence_id_checksum"),
        ("root", "licence_id_root"),
        ("version", "licence_id_version"),
    ],
)
def test_a_licence_id_that_does_not_hold_fails_format(
    registries: Registries, gz: Office, change: str, code: str
) -> None:
    serial = "0123456789ABCDEF0123456789ABCDEF"
    type_code = LICENCE_TYPE_CODES["ResidencePermit"]
    good = build_licence_id(type_code, gz.uscc, serial)
    licence = {
        # well formed, signed by 广州来穗局, but its issuing unit is 深圳市公安局's USCC
        "other_authority": build_licence_id(type_code, USCCS[SZ_PERMITS[0]], serial),
        "check_character": good[:-1] + ("0" if good[-1] != "0" else "1"),
        "root": good.replace("1.2.156.3005.2.", "1.2.156.3005.3.", 1),
        "version": good.replace(".001.", ".000.", 1),
    }[change]
    (bundle,) = gz.anchor(_signed_with_licence(gz, licence))
    report = verifier_for(registries).verify(bundle)
    assert report.verdict is Verdict.INVALID
    assert report.check("format").reason.code == code
    assert report.check("format").reason.zh.startswith("licenceId")


def test_an_authority_accredited_without_a_uscc_cannot_vouch_for_a_licence_id(
    registries: Registries,
) -> None:
    zq = Office.accredit(
        registries,
        ("did:web:ga.zq.gov.cn", "肇庆市公安局", "Zhaoqing PSB", 441200),
        ("ResidencePermit",),
    )
    assert zq.uscc == "" and "licenceId" not in zq.permit(residenceRegion="441202")
    claimed = build_licence_id(LICENCE_TYPE_CODES["ResidencePermit"], "11441200MB2C928518", "0A1B")
    credential = {k: v for k, v in zq.permit(residenceRegion="441202").items() if k != "proof"}
    credential["licenceId"] = claimed
    signed = sign_credential(
        credential, zq.keys["key-1"], f"{zq.did}#key-1", "2026-11-21T00:00:00Z"
    )
    (bundle,) = zq.anchor(signed)
    report = verifier_for(registries).verify(bundle)
    assert report.check("format").reason.code == "licence_id_issuer_unknown"
