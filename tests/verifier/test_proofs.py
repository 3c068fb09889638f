"""Tests for verifier.proofs: eddsa-jcs-2022 Data Integrity proofs, against the W3C vectors."""

from __future__ import annotations

import copy
import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.errors import InvalidInput
from verifier.jcs import canonicalize
from verifier.keys import Ed25519KeyPair, multibase_encode, resolve_did_key
from verifier.proofs import (
    ProofCheck,
    hash_data,
    proof_config,
    sign_credential,
    split_verification_method,
    verify_proof,
)

VECTORS = Path(__file__).parent / "data" / "w3c-eddsa-jcs-2022"
W3C_PAIR = Ed25519KeyPair.from_private_multikey(
    json.loads((VECTORS / "keyPair.json").read_text())["privateKeyMultibase"]
)
W3C_UNSIGNED: dict[str, Any] = json.loads((VECTORS / "unsigned.json").read_text())
W3C_OPTIONS: dict[str, Any] = json.loads((VECTORS / "proofConfigJCS.json").read_text())
W3C_SIGNED_TEXT = (VECTORS / "signedJCS.json").read_text()

PAIR = Ed25519KeyPair.from_private_bytes(bytes(range(32)))
CREATED = "2026-11-21T08:00:00Z"
PERMIT: dict[str, Any] = {
    "@context": ["https://www.w3.org/ns/credentials/v2"],
    "id": "urn:uuid:0b5d8f6e-3c1a-4f7e-9a52-6f1d2c3b4a59",
    "type": ["VerifiableCredential", "ResidencePermit"],
    "issuer": PAIR.did,
    "validFrom": "2026-11-21T00:00:00Z",
    "credentialSubject": {
        "name": "张三",
        "citizenId": "440106199003071231",
        "residenceRegion": "440106",
    },
}


def _text(name: str) -> str:
    return (VECTORS / name).read_text().strip()


def _signed() -> dict[str, Any]:
    return sign_credential(PERMIT, PAIR, PAIR.verification_method, CREATED)


# --- the W3C test vector -----------------------------------------------------------------------


def test_w3c_vector_every_intermediate_value() -> None:
    canonical_config = proof_config(W3C_OPTIONS)
    canonical_document = canonicalize(W3C_UNSIGNED)
    assert canonical_config.decode() == _text("proofCanonJCS.txt")
    assert hashlib.sha256(canonical_config).hexdigest() == _text("proofHashJCS.txt")
    assert canonical_document.decode() == _text("canonDocJCS.txt")
    data = hash_data(canonical_config, canonical_document)
    assert data.hex() == _text("combinedHashJCS.txt")
    signature = W3C_PAIR.sign(data)
    assert signature.hex() == _text("sigHexJCS.txt")
    assert multibase_encode(signature) == _text("sigBTC58JCS.txt")


def test_w3c_vector_signed_document_reproduced_byte_for_byte() -> None:
    signed = sign_credential(
        W3C_UNSIGNED,
        W3C_PAIR,
        W3C_OPTIONS["verificationMethod"],
        W3C_OPTIONS["created"],
        W3C_OPTIONS["proofPurpose"],
    )
    # Same members in the same order as the spec prints them, so the file text matches.
    assert json.dumps(signed, indent=2, ensure_ascii=False) == W3C_SIGNED_TEXT
    assert signed["proof"]["proofValue"] == _text("sigBTC58JCS.txt")


def test_w3c_signed_document_verifies_with_the_key_its_did_key_names() -> None:
    signed = json.loads(W3C_SIGNED_TEXT)
    key = resolve_did_key(signed["proof"]["verificationMethod"])
    check = verify_proof(signed, key.public_bytes)
    assert check == ProofCheck(
        ok=True,
        reason=check.reason,
        verification_method=W3C_OPTIONS["verificationMethod"],
        created="2023-02-24T23:36:38Z",
        proof_purpose="assertionMethod",
    )
    assert check.reason.code == "signature_valid"


# --- signing -----------------------------------------------------------------------------------


def test_sign_returns_a_new_document_and_leaves_the_input_alone() -> None:
    before = copy.deepcopy(PERMIT)
    signed = _signed()
    assert before == PERMIT
    assert "proof" not in PERMIT
    assert {k: v for k, v in signed.items() if k != "proof"} == PERMIT
    assert signed["proof"]["@context"] == PERMIT["@context"]
    assert signed["proof"]["@context"] is not PERMIT["@context"]
    assert list(signed["proof"]) == [
        "type",
        "cryptosuite",
        "created",
        "verificationMethod",
        "proofPurpose",
        "@context",
        "proofValue",
    ]


def test_sign_accepts_key_pair_cryptography_key_or_seed_alike() -> None:
    by_pair = _signed()
    by_key = sign_credential(PERMIT, PAIR.private_key, PAIR.verification_method, CREATED)
    by_seed = sign_credential(PERMIT, PAIR.private_bytes(), PAIR.verification_method, CREATED)
    assert by_pair == by_key == by_seed


def test_sign_without_context_adds_none_to_the_proof() -> None:
    document = {k: v for k, v in PERMIT.items() if k != "@context"}
    signed = sign_credential(document, PAIR, PAIR.verification_method, CREATED)
    assert "@context" not in signed["proof"]
    assert verify_proof(signed, PAIR.public_bytes).ok


@pytest.mark.parametrize("created", ["2026-11-21", "2026-13-01T00:00:00Z", "yesterday", ""])
def test_sign_refuses_a_created_that_is_not_a_datetime(created: str) -> None:
    with pytest.raises(InvalidInput, match="XML Schema dateTime"):
        sign_credential(PERMIT, PAIR, PAIR.verification_method, created)


def test_sign_refuses_documents_with_a_proof_or_without_canonical_form() -> None:
    with pytest.raises(InvalidInput, match="already has a proof"):
        sign_credential(_signed(), PAIR, PAIR.verification_method, CREATED)
    with pytest.raises(InvalidInput, match="NaN"):
        sign_credential({**PERMIT, "n": float("nan")}, PAIR, PAIR.verification_method, CREATED)
    with pytest.raises(InvalidInput, match="32 bytes"):
        sign_credential(PERMIT, b"short", PAIR.verification_method, CREATED)


# --- verifying ---------------------------------------------------------------------------------


def _code(document: dict[str, Any], key: bytes = PAIR.public_bytes, **kwargs: Any) -> str:
    check = verify_proof(document, key, **kwargs)
    assert check.ok is (check.reason.code == "signature_valid")
    return check.reason.code


def _with_proof(**changes: Any) -> dict[str, Any]:
    signed = _signed()
    signed["proof"] = {**signed["proof"], **changes}
    return signed


def test_round_trip_through_json_text_verifies() -> None:
    text = json.dumps(_signed(), ensure_ascii=False)
    assert _code(json.loads(text)) == "signature_valid"


def test_altered_subject_or_proof_fields_break_the_signature() -> None:
    signed = _signed()
    signed["credentialSubject"] = {**signed["credentialSubject"], "name": "李四"}
    assert _code(signed) == "signature_invalid"
    assert _code(_with_proof(created="2026-11-22T08:00:00Z")) == "signature_invalid"
    other = Ed25519KeyPair.generate()
    assert _code(_with_proof(verificationMethod=other.verification_method)) == "signature_invalid"
    unsigned_field = {**_signed(), "validUntil": "2036-11-21T00:00:00Z"}
    assert _code(unsigned_field) == "signature_invalid"


def test_another_key_does_not_verify() -> None:
    assert _code(_signed(), Ed25519KeyPair.generate().public_bytes) == "signature_invalid"


@pytest.mark.parametrize(
    ("document", "code"),
    [
        (PERMIT, "proof_missing"),
        ({**PERMIT, "proof": [{"type": "DataIntegrityProof"}]}, "proof_malformed"),
        ({**PERMIT, "proof": "z2HnFSSP"}, "proof_malformed"),
    ],
)
def test_missing_or_non_object_proof(document: dict[str, Any], code: str) -> None:
    assert _code(document) == code


@pytest.mark.parametrize(
    ("changes", "code"),
    [
        ({"type": "Ed25519Signature2020"}, "proof_type_unsupported"),
        ({"cryptosuite": "ecdsa-rdfc-2019"}, "cryptosuite_unsupported"),
        ({"cryptosuite": None}, "cryptosuite_unsupported"),
        ({"verificationMethod": None}, "proof_malformed"),
        ({"proofPurpose": 7}, "proof_malformed"),
        ({"created": "21/11/2026"}, "proof_malformed"),
        ({"proofPurpose": "authentication"}, "proof_purpose_mismatch"),
        ({"proofValue": None}, "proof_value_malformed"),
        ({"proofValue": "u" + "A" * 86}, "proof_value_malformed"),
        ({"proofValue": "z0OIl"}, "proof_value_malformed"),
        ({"proofValue": multibase_encode(b"\x01" * 63)}, "proof_value_malformed"),
        ({"proofValue": multibase_encode(b"\x01" * 64)}, "signature_invalid"),
        ({"@context": ["https://example.org/other"]}, "proof_context_mismatch"),
    ],
)
def test_broken_proofs_are_reported_not_raised(changes: dict[str, Any], code: str) -> None:
    assert _code(_with_proof(**changes)) == code


def test_removing_the_proof_context_from_the_document_is_a_mismatch() -> None:
    signed = _signed()
    del signed["@context"]
    assert _code(signed) == "proof_context_mismatch"


def test_document_without_canonical_form_is_reported() -> None:
    signed = {**_signed(), "score": float("inf")}
    assert _code(signed) == "document_malformed"


def test_failed_check_still_names_the_verification_method() -> None:
    check = verify_proof(_with_proof(cryptosuite="ecdsa-rdfc-2019"), PAIR.public_bytes)
    assert not check.ok
    assert check.verification_method == PAIR.verification_method
    assert check.created == CREATED


def test_expected_purpose_is_enforced_and_can_be_waived() -> None:
    presentation = sign_credential(
        PERMIT, PAIR, PAIR.verification_method, CREATED, proof_purpose="authentication"
    )
    assert _code(presentation) == "proof_purpose_mismatch"
    assert _code(presentation, proof_purpose="authentication") == "signature_valid"
    assert _code(presentation, proof_purpose=None) == "signature_valid"


def test_verify_raises_for_a_public_key_that_is_not_32_bytes() -> None:
    with pytest.raises(InvalidInput, match="32 bytes"):
        verify_proof(_signed(), PAIR.public_bytes + b"\x00")


def test_every_reason_is_bilingual_and_codes_are_distinct() -> None:
    documents = [
        _signed(),
        PERMIT,
        {**PERMIT, "proof": []},
        _with_proof(type="X"),
        _with_proof(cryptosuite="X"),
        _with_proof(proofPurpose="authentication"),
        _with_proof(proofValue="X"),
        _with_proof(**{"@context": ["X"]}),
        {**_signed(), "x": float("nan")},
        {**_signed(), "x": 1},
    ]
    reasons = [verify_proof(d, PAIR.public_bytes).reason for d in documents]
    assert len({r.code for r in reasons}) == len(documents)
    for reason in reasons:
        assert reason.zh and reason.en
        assert any("\u4e00" <= ch <= "\u9fff" for ch in reason.zh)


json_leaf = (
    st.none()
    | st.booleans()
    | st.integers(-(2**53) + 1, 2**53 - 1)
    | st.text(max_size=12)
    | st.floats(allow_nan=False, allow_infinity=False)
)
subjects = st.dictionaries(
    st.text(min_size=1, max_size=10),
    st.recursive(json_leaf, lambda c: st.lists(c, max_size=3), max_leaves=6),
    min_size=1,
    max_size=6,
)


@settings(max_examples=50)
@given(subjects, st.data())
def test_any_subject_signs_verifies_and_any_changed_value_fails(
    subject: dict[str, Any], data: st.DataObject
) -> None:
    signed = sign_credential(
        {**PERMIT, "credentialSubject": subject}, PAIR, PAIR.verification_method, CREATED
    )
    assert _code(json.loads(json.dumps(signed))) == "signature_valid"
    key = data.draw(st.sampled_from(sorted(subject)))
    changed = {**subject, key: [subject[key]]}
    assert _code({**signed, "credentialSubject": changed}) == "signature_invalid"


# --- verification method -----------------------------------------------------------------------


def test_split_verification_method() -> None:
    assert split_verification_method("did:web:gz.gov.cn:authority:tianhe#key-1") == (
        "did:web:gz.gov.cn:authority:tianhe",
        "key-1",
    )
    did, fragment = split_verification_method(W3C_OPTIONS["verificationMethod"])
    assert did == "did:key:" + fragment


@pytest.mark.parametrize(
    "value", ["did:web:gz.gov.cn", "did:web:gz.gov.cn#", "#key-1", "https://gz.gov.cn#key-1", 7]
)
def test_split_verification_method_refuses_non_did_urls(value: Any) -> None:
    with pytest.raises(InvalidInput, match="verificationMethod"):
        split_verification_method(value)


def test_sign_with_digest_gives_the_digest_of_the_signed_credential() -> None:
    from tests.verifier.factories import business_license, residence_permit
    from verifier.jcs import digest
    from verifier.keys import Ed25519KeyPair
    from verifier.proofs import sign_credential_with_digest

    key = Ed25519KeyPair.generate()
    for unsigned in (residence_permit(), business_license()):
        signed, leaf = sign_credential_with_digest(
            unsigned, key, "did:web:x.gov.cn#key-1", "2026-11-21T08:00:00Z"
        )
        assert leaf == digest(signed)
        assert verify_proof(signed, key.public_bytes).ok
