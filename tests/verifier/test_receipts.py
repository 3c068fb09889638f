"""Verification receipts: signed by the verifying office, checkable by anyone, and tamper-evident.

Reports come from real verifications on an embedded chain; receipts are checked with a given
public key, through did:key, and against the registry when the signer is an accredited authority.
The CLI part signs and checks receipts offline, from a trust snapshot.
"""

from __future__ import annotations

import copy
import json
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest

from service.trust.deployment import deploy_registries
from tests.conftest import Registries, funded
from tests.verifier.office import GZ_PERMITS, SZ_PERMITS, Office
from verifier.bundle import credential_digest, credential_id_hash
from verifier.chain import EmbeddedChain
from verifier.cli import main
from verifier.jcs import canonicalize
from verifier.keys import Ed25519KeyPair, PublicMultikey, encode_private_multikey_ed25519
from verifier.policy import Policy
from verifier.receipts import RECEIPT_TYPE, make_receipt, verify_receipt
from verifier.registry import CredentialStatus
from verifier.sm2 import Sm2KeyPair
from verifier.verify import Verifier


@pytest.fixture(scope="module")
def city() -> Iterator[tuple[Registries, Office, Office]]:
    """One embedded chain for the module: Guangzhou issues, Shenzhen's authority verifies."""
    chain = EmbeddedChain(None)
    root = funded(chain)
    registries = Registries(chain=chain, root=root, deployment=deploy_registries(chain, root))
    gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
    sz = Office.accredit(registries, SZ_PERMITS, ("ResidencePermit",))
    yield registries, gz, sz
    chain.close()


def verifier_for(registries: Registries) -> Verifier:
    return Verifier.from_chain(
        registries.chain, registries.anchor, Policy(sync_interval=timedelta(0))
    )


@pytest.fixture(scope="module")
def verified(city: tuple[Registries, Office, Office]) -> tuple[dict[str, Any], Any]:
    registries, gz, _ = city
    (bundle,) = gz.anchor(gz.permit())
    return bundle, verifier_for(registries).verify(bundle)


def leaves(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    """The path of every scalar in a JSON value."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield from leaves(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield from leaves(item, (*path, index))
    else:
        yield path


def changed(value: Any) -> Any:
    if isinstance(value, bool):
        return not value
    if isinstance(value, int):
        return value + 1
    if value is None:
        return "x"
    return str(value) + "x" if str(value)[-1:] != "x" else str(value)[:-1] + "y"


def mutate(document: dict[str, Any], path: tuple[Any, ...]) -> dict[str, Any]:
    copied = copy.deepcopy(document)
    target: Any = copied
    for step in path[:-1]:
        target = target[step]
    target[path[-1]] = changed(target[path[-1]])
    return copied


class TestMakeAndVerify:
    def test_a_did_key_receipt_verifies_and_says_what_was_checked(
        self, verified: tuple[dict[str, Any], Any]
    ) -> None:
        bundle, report = verified
        office = Ed25519KeyPair.generate()
        receipt = make_receipt(bundle, report, office, office.verification_method)

        check = verify_receipt(receipt)
        assert check.ok, check.reason
        assert check.reason.code == "receipt_valid"
        assert check.signer == office.did and check.verdict == "VALID"
        assert receipt["type"] == ["VerifiableCredential", RECEIPT_TYPE]
        assert receipt["issuer"] == office.did
        assert receipt["proof"]["cryptosuite"] == "eddsa-jcs-2022"
        subject = receipt["credentialSubject"]
        credential = bundle["credential"]
        assert subject["credential"]["idSha256"] == credential_id_hash(credential["id"]).hex()
        assert subject["credential"]["digestSha256"] == credential_digest(credential).hex()
        assert subject["credential"]["issuer"] == GZ_PERMITS[0]
        assert [c["name"] for c in subject["checks"]] == [c.name for c in report.checks]
        assert all(c["outcome"] == "pass" and c["code"] for c in subject["checks"])
        assert subject["trust"]["blockNumber"] == report.trust.block_number
        # the case file learns the verdict, not the holder's personal data
        text = json.dumps(receipt, ensure_ascii=False)
        for field in ("citizenId", "name", "residenceAddress"):
            assert str(credential["credentialSubject"][field]) not in text
        # checked with the key given explicitly, too
        assert verify_receipt(receipt, office.public_bytes).ok

    def test_an_invalid_verdict_is_receipted_with_the_failing_check(
        self, city: tuple[Registries, Office, Office]
    ) -> None:
        registries, gz, _ = city
        (bundle,) = gz.anchor(gz.permit())
        gz.set_status(bundle["credential"], CredentialStatus.REVOKED)
        report = verifier_for(registries).verify(bundle)
        office = Ed25519KeyPair.generate()
        receipt = make_receipt(bundle, report, office, office.verification_method)
        assert verify_receipt(receipt).verdict == "INVALID"
        status = next(c for c in receipt["credentialSubject"]["checks"] if c["name"] == "status")
        assert (status["outcome"], status["code"]) == ("fail", "credential_revoked")

    def test_every_changed_field_fails(self, verified: tuple[dict[str, Any], Any]) -> None:
        bundle, report = verified
        office = Ed25519KeyPair.generate()
        receipt = make_receipt(bundle, report, office, office.verification_method)
        paths = list(leaves(receipt))
        assert len(paths) > 40
        for path in paths:
            tampered = mutate(receipt, path)
            assert canonicalize(tampered) != canonicalize(receipt)
            # with the key given, a changed verificationMethod cannot pick another key
            assert not verify_receipt(tampered, office.public_bytes).ok, path
            assert not verify_receipt(tampered).ok, path

    def test_added_or_removed_members_fail(self, verified: tuple[dict[str, Any], Any]) -> None:
        bundle, report = verified
        office = Ed25519KeyPair.generate()
        receipt = make_receipt(bundle, report, office, office.verification_method)
        added = copy.deepcopy(receipt)
        added["credentialSubject"]["note"] = "补充"
        removed = copy.deepcopy(receipt)
        del removed["credentialSubject"]["warnings"]
        dropped_check = copy.deepcopy(receipt)
        dropped_check["credentialSubject"]["checks"].pop()
        for tampered in (added, removed, dropped_check):
            check = verify_receipt(tampered)
            assert not check.ok and check.reason.code == "signature_invalid"

    def test_a_wrong_key_fails(self, verified: tuple[dict[str, Any], Any]) -> None:
        bundle, report = verified
        office, other = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
        receipt = make_receipt(bundle, report, office, office.verification_method)
        check = verify_receipt(receipt, other.public_bytes)
        assert not check.ok and check.reason.code == "signature_invalid"
        # signed by one key while claiming another did:key: the claimed key does not verify it
        forged = make_receipt(bundle, report, other, office.verification_method)
        assert not verify_receipt(forged).ok

    def test_signer_and_issuer_must_agree(self, verified: tuple[dict[str, Any], Any]) -> None:
        bundle, report = verified
        office = Ed25519KeyPair.generate()
        receipt = make_receipt(bundle, report, office, office.verification_method)
        receipt["issuer"] = "did:web:zwfw.zhaoqing.gov.cn"
        check = verify_receipt(receipt)
        assert not check.ok and check.reason.code == "receipt_signer_mismatch"

    @pytest.mark.parametrize(
        "receipt", [None, [], {"type": ["VerifiableCredential"]}, {"proof": {}, "issuer": 1}]
    )
    def test_not_a_receipt_is_malformed(self, receipt: Any) -> None:
        check = verify_receipt(receipt)
        assert not check.ok and check.reason.code == "receipt_malformed"

    def test_a_did_web_signer_needs_a_key_source(
        self, city: tuple[Registries, Office, Office], verified: tuple[dict[str, Any], Any]
    ) -> None:
        _, _, sz = city
        bundle, report = verified
        receipt = make_receipt(bundle, report, sz.keys["key-1"], f"{sz.did}#key-1")
        check = verify_receipt(receipt)
        assert not check.ok and check.reason.code == "receipt_key_unresolved"
        with pytest.raises(Exception, match="32 bytes"):
            verify_receipt(receipt, b"short")


class TestRegistrySigner:
    """An accredited authority (深圳) verifies a Guangzhou permit and signs with its issuer key."""

    def test_resolved_from_the_registry_and_checked_at_signing_time(self) -> None:
        # A chain of its own: this test revokes the signing key.
        chain = EmbeddedChain(None)
        root = funded(chain)
        registries = Registries(chain=chain, root=root, deployment=deploy_registries(chain, root))
        gz = Office.accredit(registries, GZ_PERMITS, ("ResidencePermit",))
        sz = Office.accredit(registries, SZ_PERMITS, ("ResidencePermit",))
        (bundle,) = gz.anchor(gz.permit())
        verifier = verifier_for(registries)
        report = verifier.verify(bundle)
        receipt = make_receipt(bundle, report, sz.keys["key-1"], f"{sz.did}#key-1")
        index = verifier.index
        check = verify_receipt(receipt, registry=index)
        assert check.ok and check.signer == sz.did

        unknown = make_receipt(bundle, report, sz.keys["key-1"], f"{sz.did}#key-9")
        assert verify_receipt(unknown, registry=index).reason.code == "receipt_key_unknown"

        # the key revoked from before the receipt was signed: the receipt no longer holds
        valid_from = index.key(index.authority(sz.did).id, "key-1").valid_from  # type: ignore[union-attr]
        sz.revoke_key("key-1", valid_from, reason=2)
        index.sync(chain)
        check = verify_receipt(receipt, registry=index)
        assert not check.ok and check.reason.code == "receipt_key_not_valid"
        chain.close()

    def test_an_sm2_authority_signs_with_the_sm2_suite_and_the_registry_resolves_it(
        self, city: tuple[Registries, Office, Office], verified: tuple[dict[str, Any], Any]
    ) -> None:
        registries, _, _ = city
        bundle, report = verified
        zq = Office.accredit(
            registries,
            ("did:web:zwfw.zhaoqing.gov.cn", "肇庆市政务服务数据管理局", "Zhaoqing", 441200),
            ("ResidencePermit",),
            algorithm="SM2",
        )
        key = zq.keys["key-1"]
        receipt = make_receipt(bundle, report, key, f"{zq.did}#key-1")
        assert receipt["proof"]["cryptosuite"] == "suixin-sm2-jcs-2025"
        index = verifier_for(registries).index
        index.sync(registries.chain)
        check = verify_receipt(receipt, registry=index)
        assert check.ok and check.signer == zq.did
        tampered = copy.deepcopy(receipt)
        tampered["credentialSubject"]["verdict"] = "INVALID"
        assert verify_receipt(tampered, registry=index).reason.code == "signature_invalid"
        # and an SM2 did:key signs and checks alike, offline
        office = Sm2KeyPair.generate()
        own = make_receipt(bundle, report, office, office.verification_method)
        assert verify_receipt(own).ok
        assert verify_receipt(own, PublicMultikey("SM2", office.public_bytes)).ok
        other = PublicMultikey("SM2", Sm2KeyPair.generate().public_bytes)
        assert verify_receipt(own, other).reason.code == "signature_invalid"
        ed25519 = Ed25519KeyPair.generate().public_bytes
        assert verify_receipt(own, ed25519).reason.code == "cryptosuite_key_mismatch"


class TestCli:
    """suixin-verify signs receipts with the office's own key, offline, and checks them."""

    @pytest.fixture
    def files(
        self,
        city: tuple[Registries, Office, Office],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> tuple[Path, Path, Path]:
        registries, gz, _ = city
        (bundle,) = gz.anchor(gz.permit())
        index = verifier_for(registries).index
        index.sync(registries.chain)
        snapshot = tmp_path / "trust.json"
        index.export_snapshot(snapshot)
        path = tmp_path / "permit.json"
        path.write_text(json.dumps(bundle, ensure_ascii=False), encoding="utf-8")
        key = tmp_path / "receipt.key"
        assert main(["keygen", "-o", str(key)]) == 0
        assert "did:key:z6Mk" in capsys.readouterr().out
        assert key.stat().st_mode & 0o777 == 0o600
        return path, snapshot, key

    def test_verify_with_a_receipt_then_check_it(
        self, files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bundle, snapshot, key = files
        out = tmp_path / "receipt.json"
        argv = [str(bundle), "--snapshot", str(snapshot), "--json"]
        assert main([*argv, "--receipt-key", str(key), "--receipt", str(out)]) == 0
        captured = capsys.readouterr()
        assert json.loads(captured.out)["verdict"] == "VALID"  # stdout stays pure JSON
        assert "receipt" in captured.err
        receipt = json.loads(out.read_text(encoding="utf-8"))
        signer = Ed25519KeyPair.from_private_multikey(key.read_text().strip())
        assert receipt["issuer"] == signer.did
        assert verify_receipt(receipt, signer.public_bytes).ok

        assert main(["check-receipt", str(out), "--lang", "en"]) == 0
        assert "has not been changed" in capsys.readouterr().out
        receipt["credentialSubject"]["verdict"] = "INVALID"
        out.write_text(json.dumps(receipt), encoding="utf-8")
        assert main(["check-receipt", str(out)]) == 1
        assert "✗" in capsys.readouterr().out

    def test_receipt_options_are_checked_before_verifying(
        self, files: tuple[Path, Path, Path], tmp_path: Path, capsys: pytest.CaptureFixture[str]
    ) -> None:
        bundle, snapshot, key = files
        base = [str(bundle), "--snapshot", str(snapshot)]
        assert main([*base, "--receipt-key", str(key)]) == 2
        assert "go together" in capsys.readouterr().err
        bad = tmp_path / "bad.key"
        bad.write_text("not a key\n", encoding="utf-8")
        out = tmp_path / "r.json"
        assert main([*base, "--receipt-key", str(bad), "--receipt", str(out)]) == 2
        err = capsys.readouterr().err
        assert "secret Multikey" in err and "not a key" not in err  # never echoes the file
        other = Ed25519KeyPair.generate().verification_method
        argv = [*base, "--receipt-key", str(key), "--receipt", str(out), "--receipt-method", other]
        assert main(argv) == 2
        assert not out.exists()
        assert main(["keygen", "-o", str(key)]) == 2  # never overwrites a key

    def test_a_registry_signer_is_checked_against_the_snapshot(
        self,
        city: tuple[Registries, Office, Office],
        verified: tuple[dict[str, Any], Any],
        tmp_path: Path,
        capsys: pytest.CaptureFixture[str],
    ) -> None:
        registries, _, sz = city
        bundle, report = verified
        key = tmp_path / "sz.key"
        key.write_text(encode_private_multikey_ed25519(sz.keys["key-1"].private_bytes()))
        receipt = make_receipt(bundle, report, sz.keys["key-1"], f"{sz.did}#key-1")
        path = tmp_path / "sz-receipt.json"
        path.write_text(json.dumps(receipt), encoding="utf-8")
        index = verifier_for(registries).index
        index.sync(registries.chain)
        snapshot = tmp_path / "trust.json"
        index.export_snapshot(snapshot)
        assert main(["check-receipt", str(path)]) == 1  # a did:web signer needs a key source
        assert main(["check-receipt", str(path), "--snapshot", str(snapshot)]) == 0
        assert "(VALID)" in capsys.readouterr().out
