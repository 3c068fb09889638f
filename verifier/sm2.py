"""SM2 signatures (GB/T 32918.2) on the recommended curve and SM3 hashes (GB/T 32905).

Signatures follow the standard exactly: the signer's identity hash
``Z = SM3(ENTL ‖ ID ‖ a ‖ b ‖ xG ‖ yG ‖ xA ‖ yA)`` with the default distinguishing identifier
``1234567812345678`` (GM/T 0009), then ``e = SM3(Z ‖ M)`` is signed. Tongsuo (``tongsuopy``) does
the elliptic-curve work; it takes and returns DER, so this module turns its signatures into the
fixed 64-byte ``r ‖ s`` form (32 bytes each, big-endian) that proofs carry, and builds the DER
it verifies from a checked ``r ‖ s`` itself: untrusted bytes never reach a DER parser.

SM3 comes from ``cryptography`` (OpenSSL's SM3): the same digest as Tongsuo's (a test holds
them together), at a quarter of the cost per call, which matters for Merkle trees.

Malformed *signatures* are not valid (``False``); malformed *keys* raise ``InvalidInput``,
because a key comes from a registry or a DID and a bad one is a resolution bug, not a forgery.
"""

from __future__ import annotations

import functools
from typing import Any

from cryptography.hazmat.primitives import hashes as _hashes
from tongsuopy.crypto import exceptions as _tongsuo_errors
from tongsuopy.crypto import hashes as _tongsuo_hashes
from tongsuopy.crypto import serialization as _tongsuo_serialization
from tongsuopy.crypto.asymciphers import ec as _tongsuo_ec

from verifier import _sm2_curve
from verifier.errors import InvalidInput, VerificationError
from verifier.keys import DID_KEY_PREFIX, encode_multikey_sm2

__all__ = [
    "SM2_DEFAULT_ID",
    "SM2_SIGNATURE_SIZE",
    "SM3_DIGEST_SIZE",
    "Sm2KeyPair",
    "sm2_e",
    "sm2_signature_from_der",
    "sm2_signature_to_der",
    "sm2_verify",
    "sm2_z",
    "sm3_hash",
]

#: The default distinguishing identifier of GM/T 0009 and GB/T 35276, used by Tongsuo, GmSSL
#: and OpenSSL 4 alike (OpenSSL 3.0's command line signs with an empty one unless told).
SM2_DEFAULT_ID = b"1234567812345678"
#: ``r ‖ s``, 32 bytes each.
SM2_SIGNATURE_SIZE = 64
SM3_DIGEST_SIZE = 32

_PRIVATE_KEY_SIZE = 32
_N = _sm2_curve.N
# ECDSA(SM3) on an SM2 key is Tongsuo's name for SM2 signing with Z over the default ID.
_ALGORITHM = _tongsuo_ec.ECDSA(_tongsuo_hashes.SM3())
_SM3 = _hashes.SM3()
# a ‖ b ‖ xG ‖ yG, the middle of Z's input
_CURVE_BYTES = b"".join(
    v.to_bytes(32, "big") for v in (_sm2_curve.A, _sm2_curve.B, _sm2_curve.GX, _sm2_curve.GY)
)


# --- SM3 ---------------------------------------------------------------------------------------


# A fresh context to copy: copying one costs less than making one (2.0 against 3.2 µs a short
# hash here), which Merkle paths and trees of SM3 deployments feel. It is never updated itself.
_SM3_CONTEXT = _hashes.Hash(_SM3)


def sm3_hash(data: bytes) -> bytes:
    """Return the 32-byte SM3 digest of ``data``."""
    h = _SM3_CONTEXT.copy()
    h.update(data)
    return h.finalize()


# --- Z and e -----------------------------------------------------------------------------------


def sm2_z(public_key: bytes, user_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """Return Z, the SM3 hash of the signer's identity and key (GB/T 32918.2 §5.5).

    ``public_key`` is the 33-byte compressed or 65-byte uncompressed point. ENTL is the bit
    length of ``user_id`` as two big-endian bytes. Raises ``InvalidInput`` when the key is not a
    point on the curve or ``user_id`` is 8192 bytes or longer (ENTL would not fit).
    """
    x, y = _coordinates(public_key)
    if not isinstance(user_id, bytes) or len(user_id) * 8 > 0xFFFF:
        raise InvalidInput("an SM2 user ID is bytes, shorter than 8192 bytes")
    entl = (len(user_id) * 8).to_bytes(2, "big")
    return sm3_hash(entl + user_id + _CURVE_BYTES + x.to_bytes(32, "big") + y.to_bytes(32, "big"))


def sm2_e(public_key: bytes, message: bytes, user_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """Return e = SM3(Z ‖ message), the value an SM2 signature of ``message`` signs.

    Raises ``InvalidInput`` as ``sm2_z`` does.
    """
    return sm3_hash(sm2_z(public_key, user_id) + message)


def _coordinates(public_key: bytes) -> tuple[int, int]:
    try:
        return _sm2_curve.point_coordinates(public_key)
    except ValueError as e:
        raise InvalidInput(f"not an SM2 public key: {e}") from e


# --- signature encodings -----------------------------------------------------------------------


def _split(signature: bytes) -> tuple[int, int] | None:
    """(r, s) of a 64-byte ``r ‖ s`` when both lie in [1, n-1] and r + s ≠ n; else None."""
    if not isinstance(signature, bytes) or len(signature) != SM2_SIGNATURE_SIZE:
        return None
    r = int.from_bytes(signature[:32], "big")
    s = int.from_bytes(signature[32:], "big")
    if not (0 < r < _N and 0 < s < _N) or (r + s) % _N == 0:
        return None
    return r, s


def _der_integer(value: int) -> bytes:
    body = value.to_bytes((value.bit_length() + 8) // 8, "big")  # room for a 0 sign bit
    return b"\x02" + bytes([len(body)]) + body


def sm2_signature_to_der(signature: bytes) -> bytes:
    """Return the DER ``SEQUENCE { INTEGER r, INTEGER s }`` (GB/T 35276) of a 64-byte ``r ‖ s``.

    Raises ``InvalidInput`` unless ``signature`` is 64 bytes with r and s in [1, n-1] and
    r + s ≠ n (a signature outside those bounds can never verify).
    """
    parts = _split(signature)
    if parts is None:
        raise InvalidInput(
            "an SM2 signature is 64 bytes r ‖ s with r and s in [1, n-1] and r + s ≠ n"
        )
    return _der(*parts)


def _der(r: int, s: int) -> bytes:
    body = _der_integer(r) + _der_integer(s)
    return b"\x30" + bytes([len(body)]) + body


def sm2_signature_from_der(der: bytes) -> bytes:
    """Return the 64-byte ``r ‖ s`` of a DER-encoded SM2 signature.

    Strict DER only: short-form lengths, minimal positive integers, nothing after the
    sequence, and r and s in [1, n-1]. Raises ``InvalidInput`` naming what is wrong otherwise.
    """
    if not isinstance(der, bytes):
        raise InvalidInput(f"a DER signature is bytes, not {type(der).__name__}")
    if len(der) < 8 or der[0] != 0x30 or der[1] != len(der) - 2:
        raise InvalidInput(
            "not a DER SEQUENCE of the right length (an SM2 signature's is at most 72 bytes)"
        )
    values: list[int] = []
    at = 2
    for name in ("r", "s"):
        if at + 2 > len(der) or der[at] != 0x02:
            raise InvalidInput(f"DER signature: {name} is not an INTEGER")
        size = der[at + 1]
        body = der[at + 2 : at + 2 + size]
        if size == 0 or size > 33 or len(body) != size:
            raise InvalidInput(f"DER signature: {name} has a bad length")
        if body[0] & 0x80:
            raise InvalidInput(f"DER signature: {name} is negative")
        if size > 1 and body[0] == 0 and not body[1] & 0x80:
            raise InvalidInput(f"DER signature: {name} is not minimally encoded")
        value = int.from_bytes(body, "big")
        if not 0 < value < _N:
            raise InvalidInput(f"DER signature: {name} is not in [1, n-1]")
        values.append(value)
        at += 2 + size
    if at != len(der):
        raise InvalidInput("DER signature: bytes follow the two integers")
    return values[0].to_bytes(32, "big") + values[1].to_bytes(32, "big")


# --- verify ------------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _public_key(public_key: bytes) -> Any:
    x, y = _coordinates(public_key)
    point = b"\x04" + x.to_bytes(32, "big") + y.to_bytes(32, "big")
    try:
        return _tongsuo_ec.EllipticCurvePublicKey.from_encoded_point(_tongsuo_ec.SM2(), point)
    except ValueError as e:  # already checked above; Tongsuo's own check agrees
        raise InvalidInput(f"not an SM2 public key: {e}") from e


def sm2_verify(public_key: bytes, signature: bytes, message: bytes) -> bool:
    """Return whether ``signature`` (64 bytes ``r ‖ s``) is an SM2 signature of ``message``
    by ``public_key`` with the default user ID.

    A signature of the wrong length or with r, s out of range is simply not valid. Raises
    ``InvalidInput`` when ``public_key`` is not a point on the curve (33 or 65 bytes), and
    ``VerificationError`` if Tongsuo fails for a reason other than a bad signature.
    """
    key = _public_key(public_key)
    parts = _split(signature)
    if parts is None:
        return False
    try:
        key.verify(_der(*parts), message, _ALGORITHM)
    except _tongsuo_errors.InvalidSignature:
        return False
    except _tongsuo_errors.InternalError as e:
        raise VerificationError(f"Tongsuo could not check the SM2 signature: {e}") from e
    return True


# --- key pair ----------------------------------------------------------------------------------


class Sm2KeyPair:
    """An SM2 signing key with its public key and did:key names."""

    __slots__ = ("_private", "public_bytes")

    def __init__(self, private_key: Any) -> None:
        """Wrap a ``tongsuopy`` SM2 private key; ``InvalidInput`` for any other key."""
        curve = getattr(private_key, "curve", None)
        if not isinstance(curve, _tongsuo_ec.SM2):
            raise InvalidInput("Sm2KeyPair needs a tongsuopy SM2 private key")
        d = private_key.private_numbers().private_value
        if not 0 < d < _N - 1:  # GB/T 32918.1 §6.1: d in [1, n-2], so 1 + d is invertible
            raise InvalidInput("an SM2 private key lies in [1, n-2]")
        self._private = private_key
        #: The 33-byte compressed public key.
        self.public_bytes: bytes = private_key.public_key().public_bytes(
            _tongsuo_serialization.Encoding.X962,
            _tongsuo_serialization.PublicFormat.CompressedPoint,
        )

    @classmethod
    def generate(cls) -> Sm2KeyPair:
        """Return a fresh random key pair (Tongsuo's generator)."""
        while True:  # d = n-1 has probability 2^-256, but GB/T 32918.1 forbids it
            key = _tongsuo_ec.generate_private_key(_tongsuo_ec.SM2())
            if key.private_numbers().private_value < _N - 1:
                return cls(key)

    @classmethod
    def from_private_bytes(cls, private_bytes: bytes) -> Sm2KeyPair:
        """Return the key pair of a 32-byte big-endian private key d.

        Raises ``InvalidInput`` unless ``private_bytes`` is 32 bytes with d in [1, n-2].
        """
        if not isinstance(private_bytes, bytes) or len(private_bytes) != _PRIVATE_KEY_SIZE:
            raise InvalidInput("an SM2 private key is 32 bytes")
        d = int.from_bytes(private_bytes, "big")
        if not 0 < d < _N - 1:
            raise InvalidInput("an SM2 private key lies in [1, n-2]")
        return cls(_tongsuo_ec.derive_private_key(d, _tongsuo_ec.SM2()))

    @property
    def private_key(self) -> Any:
        """The ``tongsuopy`` private key object."""
        return self._private

    def private_bytes(self) -> bytes:
        """Return the 32-byte big-endian private key d. Handle with care."""
        d: int = self._private.private_numbers().private_value
        return d.to_bytes(_PRIVATE_KEY_SIZE, "big")

    @property
    def public_multikey(self) -> str:
        """The public key as a Multikey (``zEP…``)."""
        return encode_multikey_sm2(self.public_bytes)

    @property
    def did(self) -> str:
        """The ``did:key`` DID of the public key."""
        return DID_KEY_PREFIX + self.public_multikey

    @property
    def verification_method(self) -> str:
        """The did:key verification method id, ``did:key:zEP…#zEP…``."""
        multikey = self.public_multikey
        return f"{DID_KEY_PREFIX}{multikey}#{multikey}"

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte ``r ‖ s`` SM2 signature of ``message`` (default user ID)."""
        der: bytes = self._private.sign(message, _ALGORITHM)
        return sm2_signature_from_der(der)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Return whether ``signature`` is this key's valid signature of ``message``."""
        return sm2_verify(self.public_bytes, signature, message)

    def __repr__(self) -> str:
        return f"Sm2KeyPair(public={self.public_multikey})"
