"""Tests for verifier.proofs with ``suixin-sm2-jcs-2025``: the specification's vector, SM2 proofs
beside eddsa-jcs-2022, and a key of the wrong algorithm."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import gmssl_pyx
import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.verifier import sm2_reference
from verifier import _sm2_curve
from verifier.bundle import credential_digest
from verifier.errors import InvalidInput
from verifier.jcs import canonicalize
from verifier.keys import (
    Ed25519KeyPair,
    PublicMultikey,
    encode_multikey_p256,
    multibase_decode,
    multibase_encode,
    resolve_did_key,
)
from verifier.proofs import (
    CRYPTOSUITE,
    CRYPTOSUITES,
    SM2_CRYPTOSUITE,
    hash_data,
    proof_config,
    sign_credential,
    sign_credential_with_digest,
    verify_proof,
)
from verifier.sm2 import Sm2KeyPair, sm2_e, sm2_signature_to_der, sm2_verify, sm2_z, sm3_hash

SPEC = Path(__file__).parents[2] / "docs" / "cryptosuites" / "suixin-sm2-jcs-2025.md"
_BLOCK = re.compile(r"^```(\w+) vector:(\w+)\n(.*?)\n```$", re.DOTALL | re.MULTILINE)
VECTOR: dict[str, str] = {name: body for _, name, body in _BLOCK.findall(SPEC.read_text())}


def _hex(name: str) -> bytes:
    return bytes.fromhex("".join(VECTOR[name].split()))


def _json(name: str) -> dict[str, Any]:
    value: dict[str, Any] = json.loads(VECTOR[name])
    return value


D = int.from_bytes(_hex("privateKeyHex"), "big")
K = int.from_bytes(_hex("k"), "big")
PAIR = Sm2KeyPair.from_private_bytes(_hex("privateKeyHex"))


class FixedKSigner:
    """Signs as GB/T 32918.2 does with the vector's k: only for reproducing the vector."""

    def sign(self, data: bytes) -> bytes:
        return sm2_reference.sign_with_k(D, data, K)


# --- the specification's test vector ---------------------------------------------------------


def test_the_specification_holds_every_vector_block() -> None:
    assert set(VECTOR) == {
        "privateKeyHex",
        "publicKeyCompressedHex",
        "publicKeyMultibase",
        "unsecured",
        "proofOptions",
        "canonicalProofConfig",
        "canonicalProofConfigHex",
        "proofConfigHash",
        "canonicalDocument",
        "canonicalDocumentHex",
        "documentHash",
        "hashData",
        "z",
        "e",
        "k",
        "r",
        "s",
        "proofValue",
        "signed",
    }


def test_vector_key() -> None:
    assert PAIR.public_bytes == _hex("publicKeyCompressedHex")
    assert PAIR.public_multikey == VECTOR["publicKeyMultibase"]
    options = _json("proofOptions")
    assert options["verificationMethod"] == PAIR.verification_method


def test_vector_every_intermediate_value() -> None:
    canonical_config = proof_config(_json("proofOptions"))
    canonical_document = canonicalize(_json("unsecured"))
    assert canonical_config.decode() == VECTOR["canonicalProofConfig"]
    assert canonical_config == _hex("canonicalProofConfigHex")
    assert canonical_document.decode() == VECTOR["canonicalDocument"]
    assert canonical_document == _hex("canonicalDocumentHex")
    for data, name in ((canonical_config, "proofConfigHash"), (canonical_document, "documentHash")):
        assert sm3_hash(data) == gmssl_pyx.sm3_hash(data) == _hex(name)
    data = hash_data(canonical_config, canonical_document, SM2_CRYPTOSUITE)
    assert data == _hex("hashData")
    assert sm2_z(PAIR.public_bytes) == _hex("z")
    assert sm2_e(PAIR.public_bytes, data) == _hex("e")
    nonce = int.from_bytes(sm3_hash(b"suixin-sm2-jcs-2025 test vector nonce"), "big")
    assert nonce < _sm2_curve.N
    assert nonce == K
    signature = FixedKSigner().sign(data)
    assert signature == _hex("r") + _hex("s")
    assert multibase_encode(signature) == VECTOR["proofValue"]


def test_vector_signature_verifies_in_tongsuo_and_gmssl() -> None:
    data, signature = _hex("hashData"), _hex("r") + _hex("s")
    assert sm2_verify(PAIR.public_bytes, signature, data)
    x, y = _sm2_curve.point_coordinates(PAIR.public_bytes)
    xy = x.to_bytes(32, "big") + y.to_bytes(32, "big")
    der = sm2_signature_to_der(signature)
    assert gmssl_pyx.sm2_verify(xy, data, der)
    assert gmssl_pyx.sm2_verify_sm3_digest(xy, _hex("e"), der)


def test_vector_signed_document_reproduced_byte_for_byte_and_verified() -> None:
    options = _json("proofOptions")
    signed = sign_credential(
        _json("unsecured"),
        FixedKSigner(),
        options["verificationMethod"],
        options["created"],
        options["proofPurpose"],
        cryptosuite=SM2_CRYPTOSUITE,
    )
    assert json.dumps(signed, indent=2, ensure_ascii=False) == VECTOR["signed"]
    key = resolve_did_key(signed["proof"]["verificationMethod"])
    assert key.algorithm == "SM2"
    check = verify_proof(_json("signed"), key)
    assert check.ok, check.reason
    assert check.reason.code == "signature_valid"
    assert check.verification_method == options["verificationMethod"]


# --- signing and verifying ---------------------------------------------------------------------

CREATED = "2026-11-21T08:00:00Z"
LICENCE: dict[str, Any] = {
    **_json("unsecured"),
    "issuer": "did:web:amr.gz.gov.cn",
}
METHOD = "did:web:amr.gz.gov.cn#key-sm2-1"
SM2_KEY = PublicMultikey("SM2", PAIR.public_bytes)


def _signed(**kwargs: Any) -> dict[str, Any]:
    return sign_credential(LICENCE, PAIR, METHOD, CREATED, **kwargs)


def _code(document: dict[str, Any], key: bytes | PublicMultikey = SM2_KEY) -> str:
    check = verify_proof(document, key)
    assert check.ok is (check.reason.code == "signature_valid")
    return check.reason.code


def test_an_sm2_key_pair_signs_the_sm2_suite_by_default() -> None:
    signed = _signed()
    assert signed["proof"]["cryptosuite"] == SM2_CRYPTOSUITE
    assert len(multibase_decode(signed["proof"]["proofValue"])) == 64
    assert _code(signed) == "signature_valid"
    assert _code(json.loads(json.dumps(signed, ensure_ascii=False))) == "signature_valid"


def test_key_pair_private_bytes_and_explicit_suite_sign_alike() -> None:
    by_pair = _signed(cryptosuite=SM2_CRYPTOSUITE)
    by_bytes = sign_credential(
        LICENCE, PAIR.private_bytes(), METHOD, CREATED, cryptosuite=SM2_CRYPTOSUITE
    )
    for signed in (by_pair, by_bytes):
        assert signed["proof"]["cryptosuite"] == SM2_CRYPTOSUITE
        assert _code(signed) == "signature_valid"
    # signatures are randomised, everything else is the same
    assert {**by_pair["proof"], "proofValue": ""} == {**by_bytes["proof"], "proofValue": ""}


def test_ed25519_signing_is_unchanged_when_no_suite_is_named() -> None:
    ed = Ed25519KeyPair.from_private_bytes(bytes(range(32)))
    signed = sign_credential(LICENCE, ed, METHOD, CREATED)
    assert signed["proof"]["cryptosuite"] == CRYPTOSUITE
    assert signed == sign_credential(LICENCE, ed, METHOD, CREATED, cryptosuite=CRYPTOSUITE)
    assert _code(signed, ed.public_bytes) == "signature_valid"
    assert _code(signed, PublicMultikey("Ed25519", ed.public_bytes)) == "signature_valid"


def test_tampering_breaks_an_sm2_proof() -> None:
    signed = _signed()
    signed["credentialSubject"] = {**signed["credentialSubject"], "name": "深圳某某科技有限公司"}
    assert _code(signed) == "signature_invalid"
    later = _signed()
    later["proof"] = {**later["proof"], "created": "2026-11-22T08:00:00Z"}
    assert _code(later) == "signature_invalid"
    assert _code(_signed(), PublicMultikey("SM2", Sm2KeyPair.generate().public_bytes)) == (
        "signature_invalid"
    )


def test_a_key_of_the_wrong_algorithm_is_a_mismatch_not_a_signature_check() -> None:
    sm2_signed = _signed()
    ed = Ed25519KeyPair.generate()
    ed_signed = sign_credential(LICENCE, ed, METHOD, CREATED)
    p256 = resolve_did_key(
        "did:key:" + encode_multikey_p256(ec.generate_private_key(ec.SECP256R1()).public_key())
    )
    assert _code(sm2_signed, ed.public_bytes) == "cryptosuite_key_mismatch"
    assert _code(sm2_signed, PublicMultikey("Ed25519", ed.public_bytes)) == (
        "cryptosuite_key_mismatch"
    )
    assert _code(ed_signed, SM2_KEY) == "cryptosuite_key_mismatch"
    assert _code(sm2_signed, p256) == "cryptosuite_key_mismatch"
    assert _code(ed_signed, p256) == "cryptosuite_key_mismatch"
    # relabelling an SM2 proof as eddsa-jcs-2022 gets nowhere either way
    relabelled = {**sm2_signed, "proof": {**sm2_signed["proof"], "cryptosuite": CRYPTOSUITE}}
    assert _code(relabelled) == "cryptosuite_key_mismatch"
    assert _code(relabelled, ed.public_bytes) == "signature_invalid"
    check = verify_proof(sm2_signed, ed.public_bytes)
    assert "suixin-sm2-jcs-2025" in check.reason.zh and "SM2" in check.reason.zh
    assert "Ed25519" in check.reason.zh and "Ed25519" in check.reason.en
    assert check.verification_method == METHOD


@pytest.mark.parametrize("suite", [["suixin-sm2-jcs-2025"], {"name": "x"}, 7, None])
def test_a_cryptosuite_that_is_not_a_string_is_unsupported(suite: Any) -> None:
    signed = _signed()
    signed["proof"] = {**signed["proof"], "cryptosuite": suite}
    assert _code(signed) == "cryptosuite_unsupported"


@pytest.mark.parametrize(
    ("proof_value", "code"),
    [
        (None, "proof_value_malformed"),
        ("z0OIl", "proof_value_malformed"),
        (multibase_encode(b"\x01" * 63), "proof_value_malformed"),
        (multibase_encode(b"\x01" * 65), "proof_value_malformed"),
        (multibase_encode(sm2_signature_to_der(b"\x01" * 64)), "proof_value_malformed"),
        (multibase_encode(bytes(64)), "signature_invalid"),
        (multibase_encode(b"\xff" * 64), "signature_invalid"),
        (multibase_encode(b"\x01" * 64), "signature_invalid"),
    ],
)
def test_broken_sm2_proof_values_are_reported_not_raised(proof_value: Any, code: str) -> None:
    signed = _signed()
    signed["proof"] = {**signed["proof"], "proofValue": proof_value}
    check = verify_proof(signed, SM2_KEY)
    assert check.reason.code == code
    if code == "proof_value_malformed":
        assert "SM2" in check.reason.zh and "r ‖ s" in check.reason.en


def test_malformed_sm2_keys_raise() -> None:
    with pytest.raises(InvalidInput, match="SM2 public key to verify with must be 33 bytes"):
        verify_proof(_signed(), PublicMultikey("SM2", PAIR.public_bytes[:32]))
    off_curve = PublicMultikey("SM2", b"\x02" + (2).to_bytes(32, "big"))
    with pytest.raises(InvalidInput, match="not an SM2 public key"):
        verify_proof(_signed(), off_curve)
    with pytest.raises(InvalidInput, match="Ed25519 public key to verify with must be 32 bytes"):
        verify_proof(_signed(), PAIR.public_bytes)


def test_signing_with_the_other_suites_key_is_refused() -> None:
    with pytest.raises(InvalidInput, match="an SM2 key cannot sign eddsa-jcs-2022"):
        sign_credential(LICENCE, PAIR, METHOD, CREATED, cryptosuite=CRYPTOSUITE)
    ed = Ed25519KeyPair.generate()
    for key in (ed, ed.private_key):
        with pytest.raises(InvalidInput, match="an Ed25519 key cannot sign suixin-sm2-jcs-2025"):
            sign_credential(LICENCE, key, METHOD, CREATED, cryptosuite=SM2_CRYPTOSUITE)
    with pytest.raises(InvalidInput, match="unsupported cryptosuite 'ecdsa-jcs-2019'"):
        sign_credential(LICENCE, PAIR, METHOD, CREATED, cryptosuite="ecdsa-jcs-2019")
    with pytest.raises(InvalidInput, match="SM2 private key"):
        sign_credential(LICENCE, b"\x00" * 32, METHOD, CREATED, cryptosuite=SM2_CRYPTOSUITE)


def test_an_sm2_signer_returning_der_is_refused() -> None:
    class DerSigner:
        def sign(self, data: bytes) -> bytes:
            return sm2_signature_to_der(PAIR.sign(data))

    with pytest.raises(InvalidInput, match="64-byte r ‖ s signature"):
        sign_credential(LICENCE, DerSigner(), METHOD, CREATED, cryptosuite=SM2_CRYPTOSUITE)


def test_hash_data_and_proof_config_know_both_suites() -> None:
    assert CRYPTOSUITES == ("eddsa-jcs-2022", "suixin-sm2-jcs-2025", "eddsa-rdfc-2022")
    assert hash_data(b"a", b"b", SM2_CRYPTOSUITE) == sm3_hash(b"a") + sm3_hash(b"b")
    with pytest.raises(InvalidInput, match="unsupported cryptosuite"):
        hash_data(b"a", b"b", "ecdsa-jcs-2019")
    with pytest.raises(InvalidInput, match="eddsa-jcs-2022 or suixin-sm2-jcs-2025"):
        proof_config({"type": "DataIntegrityProof", "cryptosuite": "ecdsa-jcs-2019"})


@pytest.mark.parametrize("anchor_hash", ["sha-256", "sm3"])
def test_sign_with_digest_gives_the_leaf_content_in_the_anchor_hash(anchor_hash: Any) -> None:
    signed, leaf = sign_credential_with_digest(
        LICENCE, PAIR, METHOD, CREATED, anchor_hash=anchor_hash
    )
    assert leaf == credential_digest(signed, anchor_hash)
    assert _code(signed) == "signature_valid"


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


@settings(max_examples=50, deadline=None)
@given(subjects, st.data())
def test_any_subject_signs_verifies_and_any_changed_value_fails(
    subject: dict[str, Any], data: st.DataObject
) -> None:
    signed = _signed_subject(subject)
    assert _code(json.loads(json.dumps(signed))) == "signature_valid"
    key = data.draw(st.sampled_from(sorted(subject)))
    changed = {**subject, key: [subject[key]]}
    assert _code({**signed, "credentialSubject": changed}) == "signature_invalid"


def _signed_subject(subject: dict[str, Any]) -> dict[str, Any]:
    return sign_credential({**LICENCE, "credentialSubject": subject}, PAIR, METHOD, CREATED)
