"""Tests for verifier.keys: multibase, Multikey (Ed25519, P-256, SM2), did:key, the Ed25519 pair."""

from __future__ import annotations

import json
from pathlib import Path

import base58
import pytest
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey
from hypothesis import given
from hypothesis import strategies as st

from tests.verifier import sm2_reference
from verifier import _sm2_curve
from verifier.errors import InvalidInput
from verifier.keys import (
    Ed25519KeyPair,
    PublicMultikey,
    decode_multikey,
    decode_multikey_ed25519,
    decode_multikey_p256,
    decode_multikey_sm2,
    decode_private_multikey_ed25519,
    did_key_ed25519,
    did_key_p256,
    did_key_sm2,
    did_key_verification_method,
    ed25519_verify,
    encode_multikey_ed25519,
    encode_multikey_p256,
    encode_multikey_sm2,
    encode_private_multikey_ed25519,
    multibase_decode,
    multibase_encode,
    resolve_did_key,
)

VECTORS = Path(__file__).parent / "data" / "w3c-eddsa-jcs-2022"
W3C_KEYS = json.loads((VECTORS / "keyPair.json").read_text())

# RFC 8032 §7.1, TEST 1 (empty message).
RFC8032_SECRET = bytes.fromhex("9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60")
RFC8032_PUBLIC = bytes.fromhex("d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a")
RFC8032_SIGNATURE = bytes.fromhex(
    "e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b"
)
# Example P-256 did:key from the did:key method specification (w3c-ccg/did-method-key).
SPEC_P256_DID = "did:key:zDnaerDaTF5BXEavCrfRZEk316dpbLsfPDZ3WJ5hRTPFU2169"


def _p256_point(key: ec.EllipticCurvePublicKey) -> bytes:
    return key.public_bytes(serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint)


# --- multibase ---------------------------------------------------------------------------------


@given(st.binary(max_size=80))
def test_multibase_round_trips_any_bytes_including_leading_zeros(data: bytes) -> None:
    text = multibase_encode(data)
    assert text.startswith("z")
    assert multibase_decode(text) == data
    assert multibase_decode(text) == base58.b58decode(text[1:])
    assert text[1:] == base58.b58encode(data).decode("ascii")  # the own encoder agrees


@given(st.text("123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz", max_size=120))
def test_multibase_decodes_any_base58btc_text_as_the_reference_does(digits: str) -> None:
    # not only what the encoder writes: leading ones, every length modulo five (the decoder
    # folds five digits at a time), lengths past a signature's
    assert multibase_decode("z" + digits) == base58.b58decode(digits)


def test_multibase_known_answer() -> None:
    assert multibase_encode(b"Hello World!") == "z2NEpo7TZRRrLZSi2U"
    assert multibase_encode(b"\x00\x00\x01") == "z112"
    assert multibase_encode(b"") == "z"
    assert multibase_decode("z") == b""


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "start with 'z'"),
        ("f48656c6c6f", "start with 'z'"),  # base16 multibase is not accepted
        ("Z2NEpo7TZRRrLZSi2U", "start with 'z'"),
        ("z0OIl", "not valid base58btc"),
        ("z2NEpo7TZRRrLZSi2U+", "not valid base58btc: character '\\+'"),
        ("z2NEpo7中TZRR", "not valid base58btc: character '中'"),  # non-ASCII: UTF-8 bytes
        ("z2NE\ud800po7", "not valid base58btc"),  # a lone surrogate
        ("z2NE\x00po7", "not valid base58btc"),
    ],
)
def test_multibase_decode_rejects_other_encodings(text: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        multibase_decode(text)


def test_multibase_decode_rejects_non_strings() -> None:
    with pytest.raises(InvalidInput, match="must be a string"):
        multibase_decode(b"z2NEpo7TZRRrLZSi2U")  # type: ignore[arg-type]


# --- Ed25519 Multikey and did:key --------------------------------------------------------------


def test_w3c_key_pair_secret_multikey_gives_its_public_multikey() -> None:
    pair = Ed25519KeyPair.from_private_multikey(W3C_KEYS["privateKeyMultibase"])
    assert pair.public_multikey == W3C_KEYS["publicKeyMultibase"]
    assert encode_private_multikey_ed25519(pair.private_bytes()) == W3C_KEYS["privateKeyMultibase"]
    assert decode_multikey_ed25519(W3C_KEYS["publicKeyMultibase"]) == pair.public_bytes
    assert pair.did == "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    assert pair.verification_method == (
        "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
        "#z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2"
    )


@given(st.binary(min_size=32, max_size=32))
def test_ed25519_multikey_and_did_key_round_trip(public: bytes) -> None:
    multikey = encode_multikey_ed25519(public)
    assert multikey.startswith("z6Mk")
    assert decode_multikey_ed25519(multikey) == public
    did = did_key_ed25519(public)
    assert did == "did:key:" + multikey
    assert resolve_did_key(did) == PublicMultikey("Ed25519", public)
    assert resolve_did_key(f"{did}#{multikey}").public_bytes == public
    assert did_key_verification_method(did) == f"{did}#{multikey}"


@pytest.mark.parametrize("size", [0, 31, 33, 64])
def test_ed25519_keys_of_wrong_length_are_refused(size: int) -> None:
    with pytest.raises(InvalidInput, match="must be 32 bytes"):
        encode_multikey_ed25519(b"\x01" * size)
    with pytest.raises(InvalidInput, match="must be 32 bytes"):
        encode_private_multikey_ed25519(b"\x01" * size)
    with pytest.raises(InvalidInput, match="must be 32 bytes"):
        Ed25519KeyPair.from_private_bytes(b"\x01" * size)
    with pytest.raises(InvalidInput, match=f"must hold 32 key bytes, got {size}"):
        decode_multikey_ed25519(multibase_encode(b"\xed\x01" + b"\x01" * size))


def test_ed25519_decode_names_the_wrong_key_type() -> None:
    with pytest.raises(InvalidInput, match="expected multicodec header 0xed01, got 0x8026"):
        decode_multikey_ed25519(W3C_KEYS["privateKeyMultibase"])
    with pytest.raises(InvalidInput, match="expected multicodec header 0x8026, got 0xed01"):
        decode_private_multikey_ed25519(W3C_KEYS["publicKeyMultibase"])
    with pytest.raises(InvalidInput, match="not an Ed25519 public key"):
        decode_multikey_ed25519(SPEC_P256_DID.removeprefix("did:key:"))


@pytest.mark.parametrize(
    ("value", "message"),
    [
        ("did:web:gz.gov.cn", "not a did:key"),
        ("z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2", "not a did:key"),
        (
            "did:key:z6MkrJVnaZkeFzdQyMZu1cgjg7k1pZZ6pvBQ7XJPt4swbTQ2#key-1",
            "fragment #key-1 does not match",
        ),
        ("did:key:", "start with 'z'"),
        ("did:key:" + multibase_encode(b"\x01\x02" + b"\x00" * 32), "unsupported Multikey type"),
    ],
)
def test_resolve_did_key_refuses_malformed_identifiers(value: str, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        resolve_did_key(value)


# --- P-256 -------------------------------------------------------------------------------------


def test_p256_spec_did_key_decodes_to_a_curve_point_and_re_encodes() -> None:
    key = resolve_did_key(SPEC_P256_DID)
    assert key.algorithm == "P-256"
    assert len(key.public_bytes) == 33
    assert key.did == SPEC_P256_DID
    crypto_key = key.cryptography_key()
    assert isinstance(crypto_key, ec.EllipticCurvePublicKey)
    assert did_key_p256(crypto_key) == SPEC_P256_DID


def test_p256_generated_key_round_trips_and_verifies_es256_signatures() -> None:
    private = ec.generate_private_key(ec.SECP256R1())
    multikey = encode_multikey_p256(private.public_key())
    assert multikey.startswith("zDn")
    decoded = decode_multikey_p256(multikey)
    assert decoded.public_numbers() == private.public_key().public_numbers()
    assert decode_multikey(multikey) == PublicMultikey("P-256", _p256_point(private.public_key()))
    signature = private.sign(b"presentation", ec.ECDSA(hashes.SHA256()))
    decoded.verify(signature, b"presentation", ec.ECDSA(hashes.SHA256()))


def test_p256_multikey_refuses_off_curve_uncompressed_and_other_curves() -> None:
    off_curve = multibase_encode(b"\x80\x24\x02" + (1).to_bytes(32, "big"))
    with pytest.raises(InvalidInput, match="not hold a point on the curve"):
        decode_multikey_p256(off_curve)
    with pytest.raises(InvalidInput, match="not hold a point on the curve"):
        decode_multikey(off_curve)
    point = _p256_point(ec.generate_private_key(ec.SECP256R1()).public_key())
    uncompressed = multibase_encode(b"\x80\x24\x04" + point[1:] + point[1:])
    with pytest.raises(InvalidInput, match="must hold 33 key bytes, got 65"):
        decode_multikey_p256(uncompressed)
    with pytest.raises(InvalidInput, match="expected a P-256 key"):
        encode_multikey_p256(ec.generate_private_key(ec.SECP384R1()).public_key())


# --- SM2 ---------------------------------------------------------------------------------------

# The public key of the GM/T 0003.5 / GB/T 32918.5 Annex A example (d = 3945208F…C5B8), and its
# Multikey: multicodec sm2-pub 0x1206 (varint 86 24, multiformats table.csv) ‖ compressed point.
SM2_ANNEX_X = bytes.fromhex("09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020")
SM2_ANNEX_Y = bytes.fromhex("CCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13")
SM2_ANNEX_COMPRESSED = b"\x03" + SM2_ANNEX_X  # y is odd
SM2_ANNEX_MULTIKEY = "zEPJcGHUVYyrGAXXGQhLF39KAny4ojC9RPmA777H2iVztKwBd"


def test_sm2_annex_a_key_multikey() -> None:
    assert encode_multikey_sm2(SM2_ANNEX_COMPRESSED) == SM2_ANNEX_MULTIKEY
    assert encode_multikey_sm2(b"\x04" + SM2_ANNEX_X + SM2_ANNEX_Y) == SM2_ANNEX_MULTIKEY
    # independently of our base58: the base58 package, over the header and the point
    raw = base58.b58decode(SM2_ANNEX_MULTIKEY[1:])
    assert raw == bytes.fromhex("8624") + SM2_ANNEX_COMPRESSED
    assert decode_multikey_sm2(SM2_ANNEX_MULTIKEY) == SM2_ANNEX_COMPRESSED
    assert decode_multikey(SM2_ANNEX_MULTIKEY) == PublicMultikey("SM2", SM2_ANNEX_COMPRESSED)


def test_sm2_did_key_resolves() -> None:
    did = did_key_sm2(SM2_ANNEX_COMPRESSED)
    assert did == "did:key:" + SM2_ANNEX_MULTIKEY
    key = resolve_did_key(f"{did}#{SM2_ANNEX_MULTIKEY}")
    assert key == PublicMultikey("SM2", SM2_ANNEX_COMPRESSED)
    assert key.did == did
    assert key.verification_method == f"{did}#{SM2_ANNEX_MULTIKEY}"
    assert did_key_verification_method(did) == key.verification_method
    with pytest.raises(InvalidInput, match="cryptography has no SM2 keys"):
        key.cryptography_key()


@given(st.integers(1, 2**256 - 1))
def test_sm2_multikey_round_trips_every_point(d: int) -> None:
    point = sm2_reference.public_key(d % (_sm2_curve.N - 1) or 1)
    multikey = encode_multikey_sm2(point)
    assert multikey.startswith("zEP")
    assert decode_multikey(multikey) == PublicMultikey("SM2", point)


@pytest.mark.parametrize(
    ("payload", "message"),
    [
        (b"\x86\x24" + SM2_ANNEX_COMPRESSED[:32], "must hold 33 key bytes, got 32"),
        (b"\x86\x24\x04" + SM2_ANNEX_X + SM2_ANNEX_Y, "must hold 33 key bytes, got 65"),
        (b"\x86\x24\x04" + SM2_ANNEX_X, "must hold a compressed point"),
        (b"\x86\x24\x02" + (2).to_bytes(32, "big"), "no point on the SM2 curve"),
        (b"\x86\x24\x02" + b"\xff" * 32, "not below the field prime"),
    ],
)
def test_sm2_multikey_refuses_what_is_not_a_compressed_curve_point(
    payload: bytes, message: str
) -> None:
    multikey = multibase_encode(payload)
    with pytest.raises(InvalidInput, match=message):
        decode_multikey_sm2(multikey)
    with pytest.raises(InvalidInput, match=message):
        decode_multikey(multikey)
    with pytest.raises(InvalidInput, match=message):
        resolve_did_key("did:key:" + multikey)


def test_sm2_encode_refuses_bad_points_and_headers_of_other_keys() -> None:
    with pytest.raises(InvalidInput, match="not an SM2 public key"):
        encode_multikey_sm2(b"\x02" + (2).to_bytes(32, "big"))
    with pytest.raises(InvalidInput, match="not an SM2 public key"):
        did_key_sm2(SM2_ANNEX_X)
    with pytest.raises(InvalidInput, match="expected multicodec header 0x8624"):
        decode_multikey_sm2(SPEC_P256_DID[len("did:key:") :])


# --- Ed25519 key pair --------------------------------------------------------------------------


def test_rfc8032_test_1_signature() -> None:
    pair = Ed25519KeyPair.from_private_bytes(RFC8032_SECRET)
    assert pair.public_bytes == RFC8032_PUBLIC
    assert pair.sign(b"") == RFC8032_SIGNATURE
    assert ed25519_verify(RFC8032_PUBLIC, RFC8032_SIGNATURE, b"")
    assert isinstance(decode_multikey(pair.public_multikey).cryptography_key(), Ed25519PublicKey)


def test_key_pair_signs_and_rejects_altered_messages_signatures_and_keys() -> None:
    pair = Ed25519KeyPair.generate()
    other = Ed25519KeyPair.generate()
    signature = pair.sign("居住证".encode())
    assert pair.verify(signature, "居住证".encode())
    assert not pair.verify(signature, "营业执照".encode())
    assert not other.verify(signature, "居住证".encode())
    tampered = bytes([signature[0] ^ 1]) + signature[1:]
    assert not pair.verify(tampered, "居住证".encode())
    assert not pair.verify(signature[:63], "居住证".encode())
    assert Ed25519KeyPair.from_private_bytes(pair.private_bytes()).public_bytes == pair.public_bytes


def test_ed25519_verify_refuses_a_malformed_public_key() -> None:
    with pytest.raises(InvalidInput, match="must be 32 bytes"):
        ed25519_verify(b"\x00" * 33, b"\x00" * 64, b"")


def test_key_pair_repr_does_not_reveal_the_private_key() -> None:
    pair = Ed25519KeyPair.from_private_bytes(RFC8032_SECRET)
    text = repr(pair)
    assert pair.public_multikey in text
    assert RFC8032_SECRET.hex() not in text
    assert encode_private_multikey_ed25519(RFC8032_SECRET) not in text
