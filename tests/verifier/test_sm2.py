"""Tests for verifier.sm2: SM3 and SM2 against the standards' examples and against GmSSL.

GmSSL (``gmssl_pyx``) is a code base independent of Tongsuo, the implementation under test; the
plain signer in ``sm2_reference`` reproduces signatures with a fixed nonce k.
"""

from __future__ import annotations

from typing import Any

import gmssl_pyx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from tongsuopy.crypto import exceptions as tongsuo_errors
from tongsuopy.crypto import hashes as tongsuo_hashes

from tests.verifier import sm2_reference
from verifier import _sm2_curve as curve
from verifier.errors import InvalidInput, VerificationError
from verifier.keys import resolve_did_key
from verifier.sm2 import (
    SM2_DEFAULT_ID,
    Sm2KeyPair,
    sm2_e,
    sm2_signature_from_der,
    sm2_signature_to_der,
    sm2_verify,
    sm2_z,
    sm3_hash,
)

N = curve.N

# --- SM3: GB/T 32905-2016 Appendix A, examples 1 and 2 -------------------------------------------


def test_sm3_standard_examples() -> None:
    assert sm3_hash(b"abc").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"
    )
    assert sm3_hash(b"abcd" * 16).hex() == (
        "debe9ff92275b8a138604889c18e5a4d6fdb70e5387e5765293dcba39c0c5732"
    )


def _tongsuo_sm3(data: bytes) -> bytes:
    h = tongsuo_hashes.Hash(tongsuo_hashes.SM3())
    h.update(data)
    result: bytes = h.finalize()
    return result


@settings(max_examples=200)
@given(st.binary(max_size=300))
def test_sm3_agrees_with_tongsuo_and_gmssl(data: bytes) -> None:
    assert sm3_hash(data) == _tongsuo_sm3(data) == gmssl_pyx.sm3_hash(data)


# --- SM2: GM/T 0003.5-2012 / GB/T 32918.5-2017 Annex A, on the recommended curve ----------------
# Values as restated in OpenSSL's test/sm2_internal_test.c (which cites that annex) and, for Z
# and e, GmSSL's old SM2 test; recomputed independently in the research note on 国密.

ANNEX_D = 0x3945208F7B2144B13F36E38AC6D39F95889393692860B51A42FB81EF4DF7C5B8
ANNEX_X = 0x09F9DF311E5421A150DD7D161E4BC5C672179FAD1833FC076BB08FF356F35020
ANNEX_Y = 0xCCEA490CE26775A52DC6EA718CC1AA600AED05FBF35E084A6632F6072DA9AD13
ANNEX_MESSAGE = b"message digest"
ANNEX_K = 0x59276E27D506861A16680F3AD9C02DCCEF3CC1FA3CDBE4CE6D54B80DEAC1BC21
ANNEX_Z = "B2E14C5C79C6DF5B85F4FE7ED8DB7A262B9DA7E07CCB0EA9F4747B8CCDA8A4F3"
ANNEX_E = "F0B43E94BA45ACCAACE692ED534382EB17E6AB5A19CE7B31F4486FDFC0D28640"
ANNEX_R = "F5A03B0648D2C4630EEAC513E1BB81A15944DA3827D5B74143AC7EACEEE720B3"
ANNEX_S = "B1B6AA29DF212FD8763182BC0D421CA1BB9038FD1F7F42D4840B69C485BBC1AA"
ANNEX_SIGNATURE = bytes.fromhex(ANNEX_R + ANNEX_S)
ANNEX_PAIR = Sm2KeyPair.from_private_bytes(ANNEX_D.to_bytes(32, "big"))


def _xy(public_key: bytes) -> bytes:
    """GmSSL's form of a public key: x ‖ y, 64 bytes."""
    x, y = curve.point_coordinates(public_key)
    return x.to_bytes(32, "big") + y.to_bytes(32, "big")


def test_annex_a_public_key_from_private_key() -> None:
    assert _xy(ANNEX_PAIR.public_bytes) == ANNEX_X.to_bytes(32, "big") + ANNEX_Y.to_bytes(32, "big")
    assert ANNEX_PAIR.public_bytes.hex().upper() == "03" + f"{ANNEX_X:064X}"
    assert sm2_reference.public_key(ANNEX_D) == ANNEX_PAIR.public_bytes


def test_annex_a_z_and_e() -> None:
    assert sm2_z(ANNEX_PAIR.public_bytes).hex().upper() == ANNEX_Z
    assert sm2_e(ANNEX_PAIR.public_bytes, ANNEX_MESSAGE).hex().upper() == ANNEX_E
    uncompressed = b"\x04" + _xy(ANNEX_PAIR.public_bytes)
    assert sm2_z(uncompressed).hex().upper() == ANNEX_Z


def test_annex_a_signature_verifies_here_and_in_gmssl() -> None:
    assert sm2_verify(ANNEX_PAIR.public_bytes, ANNEX_SIGNATURE, ANNEX_MESSAGE)
    assert ANNEX_PAIR.verify(ANNEX_SIGNATURE, ANNEX_MESSAGE)
    der = sm2_signature_to_der(ANNEX_SIGNATURE)
    assert der.hex().upper() == "3046022100" + ANNEX_R + "022100" + ANNEX_S
    assert gmssl_pyx.sm2_verify(_xy(ANNEX_PAIR.public_bytes), ANNEX_MESSAGE, der)
    assert not sm2_verify(ANNEX_PAIR.public_bytes, ANNEX_SIGNATURE, b"message digesT")


def test_annex_a_signature_reproduced_with_its_k() -> None:
    assert sm2_reference.sign_with_k(ANNEX_D, ANNEX_MESSAGE, ANNEX_K) == ANNEX_SIGNATURE


# --- cross-checks with GmSSL, both ways ----------------------------------------------------------

MESSAGES = [b"", b"abc", "居住证 营业执照 穗信".encode(), bytes(range(256)) * 4]


@pytest.mark.parametrize("message", MESSAGES)
def test_tongsuo_signatures_verify_in_gmssl(message: bytes) -> None:
    pair = Sm2KeyPair.generate()
    signature = pair.sign(message)
    der = sm2_signature_to_der(signature)
    assert gmssl_pyx.sm2_verify(_xy(pair.public_bytes), message, der)
    e = sm2_e(pair.public_bytes, message)
    assert gmssl_pyx.sm2_verify_sm3_digest(_xy(pair.public_bytes), e, der)
    assert not gmssl_pyx.sm2_verify(_xy(pair.public_bytes), message + b"!", der)


@pytest.mark.parametrize("message", MESSAGES)
def test_gmssl_signatures_verify_here(message: bytes) -> None:
    public_xy, private = gmssl_pyx.sm2_key_generate()
    pair = Sm2KeyPair.from_private_bytes(private)
    assert _xy(pair.public_bytes) == public_xy
    signature = sm2_signature_from_der(gmssl_pyx.sm2_sign(private, public_xy, message))
    assert sm2_verify(pair.public_bytes, signature, message)
    assert sm2_verify(b"\x04" + public_xy, signature, message)
    assert not sm2_verify(pair.public_bytes, signature, message + b"!")


def test_the_distinguishing_identifier_is_the_default_one() -> None:
    public_xy, private = gmssl_pyx.sm2_key_generate()
    pair = Sm2KeyPair.from_private_bytes(private)
    message = b"credential"
    default = gmssl_pyx.sm2_sign(private, public_xy, message, signer_id=SM2_DEFAULT_ID)
    assert sm2_verify(pair.public_bytes, sm2_signature_from_der(default), message)
    for other in (b"ALICE123@YAHOO.COM", b"did:example:suixin#sm2-1"):
        signed = gmssl_pyx.sm2_sign(private, public_xy, message, signer_id=other)
        assert not sm2_verify(pair.public_bytes, sm2_signature_from_der(signed), message)
        # and Z with another ID is what GmSSL signs with it
        e = sm2_e(pair.public_bytes, message, other)
        assert gmssl_pyx.sm2_verify_sm3_digest(public_xy, e, signed)
    # nor is a signature of SM3(M) without Z, as OpenSSL 3.0's Node binding makes
    without_z = gmssl_pyx.sm2_sign(private, public_xy, message, signer_id=None)
    assert not sm2_verify(pair.public_bytes, sm2_signature_from_der(without_z), message)


@settings(max_examples=40, deadline=None)
@given(st.binary(max_size=200), st.data())
def test_any_message_round_trips_and_any_change_fails(message: bytes, data: st.DataObject) -> None:
    signature = ANNEX_PAIR.sign(message)
    assert len(signature) == 64
    assert sm2_verify(ANNEX_PAIR.public_bytes, signature, message)
    changed = message + b"\x00" if not message else bytes([message[0] ^ 1]) + message[1:]
    assert not sm2_verify(ANNEX_PAIR.public_bytes, signature, changed)
    byte = data.draw(st.integers(0, 63))
    flipped = bytearray(signature)
    flipped[byte] ^= 1 << data.draw(st.integers(0, 7))
    assert not sm2_verify(ANNEX_PAIR.public_bytes, bytes(flipped), message)


def test_signatures_are_randomised() -> None:
    assert ANNEX_PAIR.sign(b"x") != ANNEX_PAIR.sign(b"x")


# --- key pairs -----------------------------------------------------------------------------------


def test_key_pair_names_and_private_bytes() -> None:
    pair = Sm2KeyPair.generate()
    again = Sm2KeyPair.from_private_bytes(pair.private_bytes())
    assert again.public_bytes == pair.public_bytes
    assert pair.did.startswith("did:key:zEP")
    assert pair.verification_method == f"{pair.did}#{pair.public_multikey}"
    resolved = resolve_did_key(pair.verification_method)
    assert resolved.algorithm == "SM2"
    assert resolved.public_bytes == pair.public_bytes
    assert repr(pair) == f"Sm2KeyPair(public={pair.public_multikey})"
    assert ANNEX_PAIR.public_multikey == "zEPJcGHUVYyrGAXXGQhLF39KAny4ojC9RPmA777H2iVztKwBd"


@pytest.mark.parametrize(
    "private",
    [
        b"",
        b"\x01" * 31,
        b"\x01" * 33,
        bytes(32),
        (N - 1).to_bytes(32, "big"),
        N.to_bytes(32, "big"),
    ],
)
def test_private_keys_outside_one_to_n_minus_two_are_refused(private: bytes) -> None:
    with pytest.raises(InvalidInput, match="SM2 private key"):
        Sm2KeyPair.from_private_bytes(private)


def test_largest_private_key_is_accepted() -> None:
    pair = Sm2KeyPair.from_private_bytes((N - 2).to_bytes(32, "big"))
    assert pair.verify(pair.sign(b"m"), b"m")


def test_key_pair_wraps_only_sm2_keys() -> None:
    from cryptography.hazmat.primitives.asymmetric import ec

    with pytest.raises(InvalidInput, match="SM2 private key"):
        Sm2KeyPair(ec.generate_private_key(ec.SECP256R1()))


# --- malformed input -----------------------------------------------------------------------------


def _raw(r: int, s: int) -> bytes:
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")


@pytest.mark.parametrize(
    "signature",
    [
        b"",
        b"garbage",
        ANNEX_SIGNATURE[:63],
        ANNEX_SIGNATURE + b"\x00",
        sm2_signature_to_der(ANNEX_SIGNATURE),  # DER is not the proof's form
        _raw(0, 1),
        _raw(1, 0),
        _raw(N, 1),
        _raw(1, N),
        _raw(N - 1, 1),  # r + s = n
        b"\xff" * 64,
        bytes(64),
    ],
)
def test_malformed_signatures_are_not_valid_and_raise_nothing(signature: bytes) -> None:
    assert sm2_verify(ANNEX_PAIR.public_bytes, signature, ANNEX_MESSAGE) is False


def test_signature_that_is_not_bytes_is_not_valid() -> None:
    bad: Any = ANNEX_SIGNATURE.hex()
    assert sm2_verify(ANNEX_PAIR.public_bytes, bad, ANNEX_MESSAGE) is False


OFF_CURVE_X = next(
    x
    for x in range(1, 100)
    if pow((x**3 + curve.A * x + curve.B) % curve.P, (curve.P - 1) // 2, curve.P) != 1
)


@pytest.mark.parametrize(
    ("key", "message"),
    [
        (b"", "got 0 bytes"),
        (ANNEX_PAIR.public_bytes[:32], "got 32 bytes"),
        (b"\x05" + ANNEX_PAIR.public_bytes[1:], "starting 0x05"),
        (b"\x02" + OFF_CURVE_X.to_bytes(32, "big"), "no point on the SM2 curve"),
        (b"\x02" + curve.P.to_bytes(32, "big"), "not below the field prime"),
        (b"\x04" + bytes(64), "not on the SM2 curve"),
        (b"\x04" + b"\xff" * 64, "not below the field prime"),
    ],
)
def test_malformed_public_keys_raise_invalid_input(key: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        sm2_verify(key, ANNEX_SIGNATURE, ANNEX_MESSAGE)
    with pytest.raises(InvalidInput, match=message):
        sm2_z(key)


def test_user_id_too_long_for_entl_is_refused() -> None:
    with pytest.raises(InvalidInput, match="user ID"):
        sm2_z(ANNEX_PAIR.public_bytes, b"x" * 8192)
    assert len(sm2_z(ANNEX_PAIR.public_bytes, b"x" * 8191)) == 32


def test_a_library_failure_is_an_error_not_a_verdict(monkeypatch: pytest.MonkeyPatch) -> None:
    class Failing:
        def verify(self, *args: object) -> None:
            raise tongsuo_errors.InternalError("simulated", [])

    monkeypatch.setattr("verifier.sm2._public_key", lambda key: Failing())
    with pytest.raises(VerificationError, match="Tongsuo could not check"):
        sm2_verify(ANNEX_PAIR.public_bytes, ANNEX_SIGNATURE, ANNEX_MESSAGE)


# --- DER ----------------------------------------------------------------------------------------

scalars = st.integers(1, N - 1)


@given(scalars, scalars)
def test_der_round_trip(r: int, s: int) -> None:
    raw = _raw(r, s)
    if (r + s) % N == 0:
        return
    der = sm2_signature_to_der(raw)
    assert len(der) <= 72
    assert sm2_signature_from_der(der) == raw


def test_der_of_small_values_is_minimal() -> None:
    assert sm2_signature_to_der(_raw(1, 0x80)) == bytes.fromhex(
        "3007020101020200 80".replace(" ", "")
    )


@pytest.mark.parametrize(
    ("der", "message"),
    [
        (b"", "DER SEQUENCE"),
        (bytes.fromhex("3106020101020101"), "DER SEQUENCE"),
        (bytes.fromhex("3007020101020101"), "DER SEQUENCE"),  # length says 7, 6 follow
        (bytes.fromhex("3006030101020101"), "r is not an INTEGER"),
        (bytes.fromhex("3006020101030101"), "s is not an INTEGER"),
        (bytes.fromhex("300602000201010000"), "DER SEQUENCE"),
        (bytes.fromhex("30060200020101"), "DER SEQUENCE"),
        (bytes.fromhex("3008020101020101" + "0000"), "bytes follow"),
        (bytes.fromhex("3006020002020101"), "r has a bad length"),
        (bytes.fromhex("30270222") + b"\x01" * 34 + bytes.fromhex("020101"), "r has a bad length"),
        (bytes.fromhex("3006020181020101"), "r is negative"),
        (bytes.fromhex("300702020001020101"), "r is not minimally encoded"),
        (bytes.fromhex("3006020100020101"), r"r is not in \[1, n-1\]"),
        (sm2_signature_to_der(_raw(1, 1))[:-1] + b"\x00", r"s is not in \[1, n-1\]"),
        (
            bytes.fromhex("3026022100") + N.to_bytes(32, "big") + bytes.fromhex("020101"),
            r"r is not in \[1, n-1\]",
        ),
    ],
)
def test_malformed_der_is_refused(der: bytes, message: str) -> None:
    with pytest.raises(InvalidInput, match=message):
        sm2_signature_from_der(der)


@pytest.mark.parametrize("raw", [_raw(0, 1), _raw(1, N), _raw(N - 1, 1), b"\x01" * 63])
def test_to_der_refuses_what_could_never_verify(raw: bytes) -> None:
    with pytest.raises(InvalidInput, match="64 bytes r ‖ s"):
        sm2_signature_to_der(raw)
