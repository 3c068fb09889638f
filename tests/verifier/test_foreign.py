"""Foreign credentials (verifier/foreign.py): any VC 2.0 credential with an eddsa-jcs-2022 proof by
a did:key or did:web issuer, checked honestly and never VALID as a government credential.

Written from W3C VC Data Model 2.0 (§4), Data Integrity EdDSA Cryptosuites v1.0 (eddsa-jcs-2022),
the did:key method (Ed25519 ``z6Mk…``), did:web (a DID document, here supplied, never fetched) and
Bitstring Status List v1.0 (§3.2): every issuer and holder key is generated afresh per test.
"""

from __future__ import annotations

import copy
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest

from verifier.foreign import (
    DidResolutionError,
    ForeignMaterial,
    check_presentation_proof,
    is_foreign,
    resolve_verification_method,
)
from verifier.jcs import canonicalize
from verifier.keys import Ed25519KeyPair, multibase_encode
from verifier.policy import Policy
from verifier.proofs import hash_data, proof_config, sign_credential
from verifier.registry import RegistryIndex
from verifier.status_list import (
    StatusBitstring,
    build_status_list_credential,
    sign_status_list_credential,
)
from verifier.verify import CHECKS, Outcome, Report, Verdict, Verifier

NOW = datetime(2026, 12, 1, 8, 0, tzinfo=UTC)
CREATED = "2026-11-30T08:00:00Z"
VC2 = "https://www.w3.org/ns/credentials/v2"
LIST_URL = "https://status.partner.example/lists/7"


def verifier() -> Verifier:
    """An offline verifier over an empty TrustRegistry: nobody is accredited."""
    index = RegistryIndex(chain_id=31337, trust_registry="", anchor_registry="0x" + "11" * 20)
    return Verifier(index, Policy(clock=lambda: NOW))


def unsigned(issuer: str, **extra: Any) -> dict[str, Any]:
    return {
        "@context": [VC2, "https://www.w3.org/ns/credentials/examples/v2"],
        "id": "urn:uuid:58172aac-d8ba-11ed-83dd-0b3aef56cc33",
        "type": ["VerifiableCredential", "ExampleAlumniCredential"],
        "issuer": issuer,
        "validFrom": "2026-01-01T00:00:00Z",
        "credentialSubject": {"id": "did:example:abcdefgh", "alumniOf": "The School of Examples"},
        **extra,
    }


def signed(key: Ed25519KeyPair, method: str | None = None, **extra: Any) -> dict[str, Any]:
    return sign_credential(
        unsigned(key.did, **extra), key, method or key.verification_method, CREATED
    )


def outcomes(report: Report) -> dict[str, tuple[Outcome, str]]:
    return {c.name: (c.outcome, c.reason.code) for c in report.checks}


def test_a_did_key_credential_with_a_sound_proof_is_not_accredited_never_valid() -> None:
    issuer = Ed25519KeyPair.generate()
    credential = signed(issuer)
    assert issuer.did.startswith("did:key:z6Mk")
    report = verifier().verify(credential)
    assert report.verdict is Verdict.NOT_ACCREDITED
    assert report.foreign and report.to_json()["foreign"] is True
    assert [c.name for c in report.checks] == list(CHECKS)
    assert outcomes(report) == {
        "format": (Outcome.PASS, "format_valid_vc2"),
        "signature": (Outcome.PASS, "signature_valid"),
        "issuer": (Outcome.FAIL, "issuer_not_accredited"),
        "key_validity": (Outcome.SKIPPED, "key_history_not_applicable"),
        "anchor": (Outcome.SKIPPED, "anchor_not_applicable"),
        "status": (Outcome.SKIPPED, "status_none"),
        "validity_period": (Outcome.PASS, "within_validity"),
    }
    issuer_reason = report.check("issuer").reason
    assert issuer.did in issuer_reason.zh and "政府凭证" in issuer_reason.zh
    assert "not an accredited government credential" in issuer_reason.en
    assert report.issuer == issuer.did and report.credential_type is None


def test_a_foreign_credential_in_a_bundle_and_bare_verify_alike() -> None:
    credential = signed(Ed25519KeyPair.generate())
    v = verifier()
    bare, bundled = v.verify(credential), v.verify({"credential": credential})
    assert bare.verdict is bundled.verdict is Verdict.NOT_ACCREDITED
    assert outcomes(bare) == outcomes(bundled)


@pytest.mark.parametrize(
    "change",
    [
        lambda c: c["credentialSubject"].update(alumniOf="Another School"),
        lambda c: c.update(validFrom="2025-01-01T00:00:00Z"),
        lambda c: c["proof"].update(created="2026-11-30T08:00:01Z"),
    ],
    ids=["subject", "validFrom", "proof-created"],
)
def test_a_tampered_foreign_credential_fails_its_proof(change: Any) -> None:
    credential = signed(Ed25519KeyPair.generate())
    change(credential)
    report = verifier().verify(credential)
    assert report.verdict is Verdict.INVALID
    assert outcomes(report)["signature"] == (Outcome.FAIL, "signature_invalid")


def test_a_proof_by_another_key_than_the_issuers_fails() -> None:
    issuer, other = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    credential = sign_credential(unsigned(issuer.did), other, other.verification_method, CREATED)
    report = verifier().verify(credential)
    assert report.verdict is Verdict.INVALID
    assert outcomes(report)["signature"] == (Outcome.FAIL, "verification_method_not_issuer")


def test_a_malformed_foreign_credential_fails_format_and_skips_the_rest() -> None:
    credential = signed(Ed25519KeyPair.generate())
    credential["@context"] = ["https://www.w3.org/2018/credentials/v1"]
    report = verifier().verify(credential)
    assert report.verdict is Verdict.INVALID
    assert outcomes(report)["format"] == (Outcome.FAIL, "context_invalid")
    assert {c.outcome for c in report.checks[1:]} == {Outcome.SKIPPED}


def test_an_expired_foreign_credential_is_invalid() -> None:
    credential = signed(Ed25519KeyPair.generate(), validUntil="2026-06-01T00:00:00Z")
    report = verifier().verify(credential)
    assert report.verdict is Verdict.INVALID
    assert outcomes(report)["validity_period"] == (Outcome.FAIL, "expired")


def test_suixin_types_are_never_foreign() -> None:
    key = Ed25519KeyPair.generate()
    assert is_foreign(unsigned(key.did))
    permit = unsigned(key.did, type=["VerifiableCredential", "ResidencePermit"])
    assert not is_foreign(permit)
    # a self-made 居住证 from a did:key goes through the government checks and fails them
    report = verifier().verify(
        {"credential": sign_credential(permit, key, key.verification_method, CREATED)}
    )
    assert report.verdict is Verdict.INVALID and not report.foreign


# ------------------------------------------------------------------ did:web


def did_web_document(did: str, key: Ed25519KeyPair, *, assertion: bool = True) -> dict[str, Any]:
    method = {
        "id": f"{did}#key-1",
        "type": "Multikey",
        "controller": did,
        "publicKeyMultibase": key.public_multikey,
    }
    return {
        "@context": ["https://www.w3.org/ns/did/v1", "https://w3id.org/security/multikey/v1"],
        "id": did,
        "verificationMethod": [method],
        "assertionMethod": ["#key-1"] if assertion else [],
        "authentication": ["#key-1"],
    }


def test_a_did_web_issuer_resolves_only_from_a_supplied_document() -> None:
    did, key = "did:web:registry.partner.example", Ed25519KeyPair.generate()
    credential = sign_credential(unsigned(did), key, f"{did}#key-1", CREATED)
    v = verifier()
    unresolved = v.verify(credential)
    assert unresolved.verdict is Verdict.INVALID
    assert outcomes(unresolved)["signature"] == (Outcome.FAIL, "did_document_missing")

    material = ForeignMaterial(did_documents=(did_web_document(did, key),))
    resolved = v.verify(credential, material)
    assert resolved.verdict is Verdict.NOT_ACCREDITED
    assert outcomes(resolved)["signature"] == (Outcome.PASS, "signature_valid")
    in_bundle = v.verify({"credential": credential, "didDocuments": [did_web_document(did, key)]})
    assert in_bundle.verdict is Verdict.NOT_ACCREDITED

    not_for_assertion = ForeignMaterial(
        did_documents=(did_web_document(did, key, assertion=False),)
    )
    refused = v.verify(credential, not_for_assertion)
    assert outcomes(refused)["signature"] == (
        Outcome.FAIL,
        "verification_method_not_authorized",
    )
    other_key = ForeignMaterial(did_documents=(did_web_document(did, Ed25519KeyPair.generate()),))
    assert outcomes(v.verify(credential, other_key))["signature"] == (
        Outcome.FAIL,
        "signature_invalid",
    )


def test_other_did_methods_are_not_resolved() -> None:
    with pytest.raises(DidResolutionError, match="only did:key and did:web") as caught:
        resolve_verification_method("did:ethr:0xabc#controller")
    assert caught.value.reason.code == "did_method_unsupported"


# ------------------------------------------------------------------ Bitstring Status List


def status_entry(index: int) -> dict[str, Any]:
    return {
        "id": f"{LIST_URL}#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": str(index),
        "statusListCredential": LIST_URL,
    }


def status_list(issuer: Ed25519KeyPair, revoked: tuple[int, ...]) -> dict[str, Any]:
    bits = StatusBitstring()
    for index in revoked:
        bits[index] = 1
    list_credential = build_status_list_credential(
        LIST_URL, issuer.did, "revocation", bits, valid_from=NOW - timedelta(days=1)
    )
    return sign_status_list_credential(
        list_credential, issuer, issuer.verification_method, CREATED
    )[0]


def test_a_revoked_entry_in_a_supplied_status_list_makes_the_credential_invalid() -> None:
    issuer = Ed25519KeyPair.generate()
    revoked = signed(issuer, credentialStatus=status_entry(94567))
    in_force = signed(issuer, credentialStatus=status_entry(1234))
    lists = ForeignMaterial(status_lists=(status_list(issuer, revoked=(94567,)),))
    v = verifier()

    report = v.verify(revoked, lists)
    assert report.verdict is Verdict.INVALID
    assert outcomes(report)["status"] == (Outcome.FAIL, "credential_revoked")
    assert "94567" in report.check("status").reason.en
    assert outcomes(report)["signature"] == (Outcome.PASS, "signature_valid")

    clear = v.verify(in_force, lists)
    assert clear.verdict is Verdict.NOT_ACCREDITED
    assert outcomes(clear)["status"] == (Outcome.PASS, "status_list_clear")

    bundled = v.verify(
        {"credential": revoked, "statusListCredentials": [status_list(issuer, revoked=(94567,))]}
    )
    assert outcomes(bundled)["status"] == (Outcome.FAIL, "credential_revoked")


def test_without_the_list_the_status_is_reported_not_checked() -> None:
    issuer = Ed25519KeyPair.generate()
    report = verifier().verify(signed(issuer, credentialStatus=status_entry(7)))
    assert report.verdict is Verdict.NOT_ACCREDITED
    outcome, code = outcomes(report)["status"]
    assert (outcome, code) == (Outcome.SKIPPED, "status_not_checked")
    assert "never fetched" in report.check("status").reason.en


def test_a_status_list_signed_by_someone_else_is_refused() -> None:
    issuer, forger = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    credential = signed(issuer, credentialStatus=status_entry(7))
    forged = ForeignMaterial(status_lists=(status_list(forger, revoked=()),))
    report = verifier().verify(credential, forged)
    assert report.verdict is Verdict.INVALID
    assert outcomes(report)["status"] == (Outcome.FAIL, "status_list_issuer_untrusted")


# ------------------------------------------------------------------ presentations


def presentation(
    holder: Ed25519KeyPair, credential: dict[str, Any], **extra: str
) -> dict[str, Any]:
    """A presentation with an eddsa-jcs-2022 ``authentication`` proof; ``extra`` (challenge,
    domain) goes into the proof options, which the signature covers."""
    document = {
        "@context": [VC2],
        "type": ["VerifiablePresentation"],
        "holder": holder.did,
        "verifiableCredential": [credential],
    }
    options = {
        "type": "DataIntegrityProof",
        "cryptosuite": "eddsa-jcs-2022",
        "created": CREATED,
        "verificationMethod": holder.verification_method,
        "proofPurpose": "authentication",
        "@context": document["@context"],
        **extra,
    }
    data = hash_data(proof_config(options), canonicalize(document))
    return {**document, "proof": {**options, "proofValue": multibase_encode(holder.sign(data))}}


def codes(results: list[Any]) -> dict[str, tuple[bool | None, str]]:
    return {r.name: (r.held, r.reason.code) for r in results}


def test_a_presentation_with_the_right_challenge_and_domain_is_accepted() -> None:
    holder = Ed25519KeyPair.generate()
    vp = presentation(
        holder, signed(Ed25519KeyPair.generate()), challenge="c-123", domain="zq.gov.cn"
    )
    assert codes(check_presentation_proof(vp, challenge="c-123", domain="zq.gov.cn")) == {
        "format": (True, "format_valid_vp2"),
        "signature": (True, "signature_valid"),
        "challenge": (True, "challenge_match"),
        "domain": (True, "domain_match"),
    }


def test_a_presentation_with_a_wrong_challenge_or_domain_is_refused() -> None:
    holder = Ed25519KeyPair.generate()
    vp = presentation(
        holder, signed(Ed25519KeyPair.generate()), challenge="c-123", domain="zq.gov.cn"
    )
    wrong_challenge = codes(check_presentation_proof(vp, challenge="c-999", domain="zq.gov.cn"))
    assert wrong_challenge["challenge"] == (False, "challenge_mismatch")
    assert wrong_challenge["signature"] == (True, "signature_valid")
    wrong_domain = codes(check_presentation_proof(vp, challenge="c-123", domain="sz.gov.cn"))
    assert wrong_domain["domain"] == (False, "domain_mismatch")
    # the challenge is signed: editing it to the expected value breaks the proof
    edited = copy.deepcopy(vp)
    edited["proof"]["challenge"] = "c-999"
    assert codes(check_presentation_proof(edited, challenge="c-999", domain=None))["signature"] == (
        False,
        "signature_invalid",
    )


def test_a_presentation_signed_by_another_than_its_holder_is_refused() -> None:
    holder, thief = Ed25519KeyPair.generate(), Ed25519KeyPair.generate()
    vp = presentation(thief, signed(Ed25519KeyPair.generate()), challenge="c-1")
    vp = {**vp, "holder": holder.did}
    result = codes(check_presentation_proof(vp, challenge="c-1", domain=None))
    assert result["signature"] == (False, "verification_method_not_issuer")


@pytest.mark.parametrize(
    "holder", [{"name": "示例公司"}, {"id": None}, "z6MkpJySvETLnxhQG9DzEdmKJtysBDj", None]
)
def test_a_presentations_holder_must_be_a_url_or_an_object_with_one(holder: object) -> None:
    """VCDM 2.0 §4.13: holder, if present, is a URL or an object with an id property; a holder
    that names nobody is a malformed presentation, whatever its proof."""
    key = Ed25519KeyPair.generate()
    vp = presentation(key, signed(Ed25519KeyPair.generate()), challenge="c-1")
    vp = {**vp, "holder": holder}
    assert codes(check_presentation_proof(vp, challenge="c-1", domain=None)) == {
        "format": (False, "holder_invalid")
    }
    as_object = {**vp, "holder": {"id": key.did, "name": "示例公司"}}
    assert codes(check_presentation_proof(as_object, challenge="c-1", domain=None))["format"] == (
        True,
        "format_valid_vp2",
    )
