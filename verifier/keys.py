"""Multibase, Multikey and did:key for Ed25519, P-256 and SM2 keys, and an Ed25519 key pair."""

from __future__ import annotations

import functools
from dataclasses import dataclass
from typing import Literal

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.hazmat.primitives.asymmetric.ed25519 import (
    Ed25519PrivateKey,
    Ed25519PublicKey,
)

from verifier import _sm2_curve
from verifier.errors import InvalidInput

__all__ = [
    "DID_KEY_PREFIX",
    "ED25519_PRIVATE_HEADER",
    "ED25519_PUBLIC_HEADER",
    "P256_PUBLIC_HEADER",
    "SM2_PUBLIC_HEADER",
    "Ed25519KeyPair",
    "KeyAlgorithm",
    "PublicMultikey",
    "decode_multikey",
    "decode_multikey_ed25519",
    "decode_multikey_p256",
    "decode_multikey_sm2",
    "decode_private_multikey_ed25519",
    "did_key_ed25519",
    "did_key_p256",
    "did_key_sm2",
    "did_key_verification_method",
    "ed25519_verify",
    "encode_multikey_ed25519",
    "encode_multikey_p256",
    "encode_multikey_sm2",
    "encode_private_multikey_ed25519",
    "multibase_decode",
    "multibase_encode",
    "resolve_did_key",
]

KeyAlgorithm = Literal["Ed25519", "P-256", "SM2"]

#: Multicodec ``ed25519-pub`` (0xed) as an unsigned varint.
ED25519_PUBLIC_HEADER = b"\xed\x01"
#: Multicodec ``ed25519-priv`` (0x1300) as an unsigned varint.
ED25519_PRIVATE_HEADER = b"\x80\x26"
#: Multicodec ``p256-pub`` (0x1200) as an unsigned varint.
P256_PUBLIC_HEADER = b"\x80\x24"
#: Multicodec ``sm2-pub`` (0x1206, "SM2 public key (compressed)") as an unsigned varint.
SM2_PUBLIC_HEADER = b"\x86\x24"

DID_KEY_PREFIX = "did:key:"

_ED25519_KEY_SIZE = 32
_ED25519_SIGNATURE_SIZE = 64
_P256_COMPRESSED_SIZE = 33
_SM2_COMPRESSED_SIZE = _sm2_curve.COMPRESSED_SIZE
_BASE58_ALPHABET = "123456789ABCDEFGHJKLMNPQRSTUVWXYZabcdefghijkmnopqrstuvwxyz"
_BASE58_INDEX = {char: value for value, char in enumerate(_BASE58_ALPHABET)}
#: byte -> its base58btc digit value, 0xFF for every byte outside the alphabet (the UTF-8
#: bytes of non-ASCII characters included, since all of those are >= 0x80)
_BASE58_VALUES = bytes(_BASE58_INDEX.get(chr(byte), 0xFF) for byte in range(256))


# --- multibase ---------------------------------------------------------------------------------


_BASE58_PAIRS = tuple(a + b for a in _BASE58_ALPHABET for b in _BASE58_ALPHABET)
_CHUNK = 58**10  # ten base58 digits: the big-integer division runs once per ten digits


def _base58_encode(data: bytes) -> str:
    number = int.from_bytes(data, "big")
    chunks: list[str] = []
    while number:
        number, rest = divmod(number, _CHUNK)
        pairs = []
        for _ in range(5):
            rest, pair = divmod(rest, 3364)  # 58 * 58
            pairs.append(_BASE58_PAIRS[pair])
        chunks.append("".join(reversed(pairs)))
    digits = "".join(reversed(chunks)).lstrip("1")
    zeros = len(data) - len(data.lstrip(b"\0"))
    return "1" * zeros + digits


def multibase_encode(data: bytes) -> str:
    """Return ``data`` as a multibase base58btc string (``z`` prefix)."""
    return "z" + _base58_encode(data)


def multibase_decode(text: str) -> bytes:
    """Decode a multibase base58btc string (``z`` prefix).

    Raises ``InvalidInput`` when ``text`` is not a string, uses another multibase prefix, or
    holds a character outside the base58btc alphabet.
    """
    if not isinstance(text, str):
        raise InvalidInput(f"multibase value must be a string, not {type(text).__name__}")
    if not text.startswith("z"):
        shown = repr(text[:1]) if text else "an empty string"
        raise InvalidInput(f"multibase value must be base58btc and start with 'z'; got {shown}")
    # One C call maps the characters to their digit values (0xFF: not base58btc), then a
    # plain big-integer fold: this runs once per verified proof.
    digits = text[1:]
    values = digits.encode("utf-8", "surrogatepass").translate(_BASE58_VALUES)
    if 0xFF in values:
        bad = next(char for char in digits if char not in _BASE58_INDEX)
        raise InvalidInput(
            f"multibase value is not valid base58btc: character {bad!r} is not in the "
            "base58btc alphabet"
        )
    # Five digits at a time (58**5 < 2**30: one machine word) before the big-integer step, so
    # a signature's 88 digits take 18 big-integer multiplications instead of 88.
    head = len(values) % 5
    number = 0
    for value in values[:head]:
        number = number * 58 + value
    rest = iter(values[head:])
    for a, b, c, d, e in zip(rest, rest, rest, rest, rest, strict=True):
        number = number * 656356768 + ((((a * 58 + b) * 58 + c) * 58 + d) * 58 + e)
    zeros = len(digits) - len(digits.lstrip("1"))
    return b"\x00" * zeros + number.to_bytes((number.bit_length() + 7) // 8, "big")


# --- Multikey ----------------------------------------------------------------------------------


def _strip_header(raw: bytes, header: bytes, what: str, size: int) -> bytes:
    if not raw.startswith(header):
        raise InvalidInput(
            f"Multikey is not an {what}: expected multicodec header 0x{header.hex()}, "
            f"got 0x{raw[: len(header)].hex()}"
        )
    body = raw[len(header) :]
    if len(body) != size:
        raise InvalidInput(f"{what} Multikey must hold {size} key bytes, got {len(body)}")
    return body


def encode_multikey_ed25519(public_bytes: bytes) -> str:
    """Return the Multikey (``z6Mk…``) of a raw 32-byte Ed25519 public key.

    Raises ``InvalidInput`` when the key is not 32 bytes.
    """
    if len(public_bytes) != _ED25519_KEY_SIZE:
        raise InvalidInput(f"Ed25519 public key must be 32 bytes, got {len(public_bytes)}")
    return multibase_encode(ED25519_PUBLIC_HEADER + public_bytes)


def decode_multikey_ed25519(multikey: str) -> bytes:
    """Return the raw 32-byte Ed25519 public key held in a Multikey.

    Raises ``InvalidInput`` for bad multibase, another key type, or a wrong length.
    """
    return _strip_header(
        multibase_decode(multikey), ED25519_PUBLIC_HEADER, "Ed25519 public key", 32
    )


def encode_private_multikey_ed25519(private_bytes: bytes) -> str:
    """Return the secret Multikey (``z3u2…``) of a 32-byte Ed25519 private key (seed).

    Raises ``InvalidInput`` when the key is not 32 bytes.
    """
    if len(private_bytes) != _ED25519_KEY_SIZE:
        raise InvalidInput(f"Ed25519 private key must be 32 bytes, got {len(private_bytes)}")
    return multibase_encode(ED25519_PRIVATE_HEADER + private_bytes)


def decode_private_multikey_ed25519(multikey: str) -> bytes:
    """Return the 32-byte Ed25519 private key (seed) held in a secret Multikey.

    Raises ``InvalidInput`` for bad multibase, another key type, or a wrong length.
    """
    return _strip_header(
        multibase_decode(multikey), ED25519_PRIVATE_HEADER, "Ed25519 private key", 32
    )


def encode_multikey_p256(public_key: ec.EllipticCurvePublicKey) -> str:
    """Return the Multikey (``zDn…``) of a P-256 public key, as a compressed point.

    Raises ``InvalidInput`` when the key is on another curve.
    """
    if not isinstance(public_key.curve, ec.SECP256R1):
        raise InvalidInput(f"expected a P-256 key, got curve {public_key.curve.name}")
    point = public_key.public_bytes(
        serialization.Encoding.X962, serialization.PublicFormat.CompressedPoint
    )
    return multibase_encode(P256_PUBLIC_HEADER + point)


def _load_p256(point: bytes) -> ec.EllipticCurvePublicKey:
    if point[:1] not in (b"\x02", b"\x03"):
        raise InvalidInput("P-256 Multikey must hold a compressed point (first byte 02 or 03)")
    try:
        return ec.EllipticCurvePublicKey.from_encoded_point(ec.SECP256R1(), point)
    except ValueError as e:
        raise InvalidInput(f"P-256 Multikey does not hold a point on the curve: {e}") from e


def decode_multikey_p256(multikey: str) -> ec.EllipticCurvePublicKey:
    """Return the P-256 public key held in a Multikey (compressed 33-byte point).

    Raises ``InvalidInput`` for bad multibase, another key type, a wrong length, or bytes
    that are not a point on the curve.
    """
    point = _strip_header(
        multibase_decode(multikey), P256_PUBLIC_HEADER, "P-256 public key", _P256_COMPRESSED_SIZE
    )
    return _load_p256(point)


def _sm2_point(point: bytes) -> bytes:
    """The compressed form of an SM2 public key given compressed or uncompressed."""
    try:
        x, y = _sm2_curve.point_coordinates(point)
    except ValueError as e:
        raise InvalidInput(f"not an SM2 public key: {e}") from e
    return _sm2_curve.compress(x, y)


def encode_multikey_sm2(public_key: bytes) -> str:
    """Return the Multikey (``zEP…``) of an SM2 public key, as a compressed point.

    ``public_key`` is the 33-byte compressed or 65-byte uncompressed point. Raises
    ``InvalidInput`` when it is neither, or not a point on the SM2 curve.
    """
    return multibase_encode(SM2_PUBLIC_HEADER + _sm2_point(public_key))


def decode_multikey_sm2(multikey: str) -> bytes:
    """Return the 33-byte compressed SM2 public key held in a Multikey.

    Raises ``InvalidInput`` for bad multibase, another key type, a wrong length, or bytes
    that are not a compressed point on the SM2 curve.
    """
    point = _strip_header(
        multibase_decode(multikey), SM2_PUBLIC_HEADER, "SM2 public key", _SM2_COMPRESSED_SIZE
    )
    if point[:1] not in (b"\x02", b"\x03"):
        raise InvalidInput("SM2 Multikey must hold a compressed point (first byte 02 or 03)")
    return _sm2_point(point)


_HEADERS: dict[str, bytes] = {
    "Ed25519": ED25519_PUBLIC_HEADER,
    "P-256": P256_PUBLIC_HEADER,
    "SM2": SM2_PUBLIC_HEADER,
}


@dataclass(frozen=True, slots=True)
class PublicMultikey:
    """A decoded public Multikey: its algorithm and raw public bytes.

    ``public_bytes`` is the 32-byte key for Ed25519 and the 33-byte compressed point for P-256
    and SM2.
    """

    algorithm: KeyAlgorithm
    public_bytes: bytes

    @property
    def multikey(self) -> str:
        """The Multikey string (``z6Mk…``, ``zDn…`` or ``zEP…``)."""
        return multibase_encode(_HEADERS[self.algorithm] + self.public_bytes)

    @property
    def did(self) -> str:
        """The ``did:key`` DID of this key."""
        return DID_KEY_PREFIX + self.multikey

    @property
    def verification_method(self) -> str:
        """The did:key verification method id, ``did:key:z…#z…``."""
        multikey = self.multikey
        return f"{DID_KEY_PREFIX}{multikey}#{multikey}"

    def cryptography_key(self) -> Ed25519PublicKey | ec.EllipticCurvePublicKey:
        """Return the key as a ``cryptography`` public key object.

        Raises ``InvalidInput`` for an SM2 key, which ``cryptography`` cannot load: check SM2
        signatures with ``verifier.sm2.sm2_verify``.
        """
        if self.algorithm == "Ed25519":
            return Ed25519PublicKey.from_public_bytes(self.public_bytes)
        if self.algorithm == "SM2":
            raise InvalidInput(
                "cryptography has no SM2 keys; verify SM2 signatures with verifier.sm2.sm2_verify"
            )
        return _load_p256(self.public_bytes)


def decode_multikey(multikey: str) -> PublicMultikey:
    """Decode an Ed25519, P-256 or SM2 public Multikey.

    Raises ``InvalidInput`` for bad multibase, an unsupported key type, a wrong length, or a
    P-256 or SM2 point that is not on its curve.
    """
    raw = multibase_decode(multikey)
    if raw.startswith(ED25519_PUBLIC_HEADER):
        key = _strip_header(raw, ED25519_PUBLIC_HEADER, "Ed25519 public key", _ED25519_KEY_SIZE)
        return PublicMultikey("Ed25519", key)
    if raw.startswith(P256_PUBLIC_HEADER):
        point = _strip_header(raw, P256_PUBLIC_HEADER, "P-256 public key", _P256_COMPRESSED_SIZE)
        _load_p256(point)  # rejects bytes that are not a point on the curve
        return PublicMultikey("P-256", point)
    if raw.startswith(SM2_PUBLIC_HEADER):
        return PublicMultikey("SM2", decode_multikey_sm2(multikey))
    raise InvalidInput(
        f"unsupported Multikey type (multicodec header 0x{raw[:2].hex()}); "
        "expected Ed25519 (0xed01), P-256 (0x8024) or SM2 (0x8624)"
    )


# --- did:key -----------------------------------------------------------------------------------


def did_key_ed25519(public_bytes: bytes) -> str:
    """Return the ``did:key:z6Mk…`` DID of a raw Ed25519 public key; ``InvalidInput`` if bad."""
    return DID_KEY_PREFIX + encode_multikey_ed25519(public_bytes)


def did_key_p256(public_key: ec.EllipticCurvePublicKey) -> str:
    """Return the ``did:key:zDn…`` DID of a P-256 public key; ``InvalidInput`` for other curves."""
    return DID_KEY_PREFIX + encode_multikey_p256(public_key)


def did_key_sm2(public_key: bytes) -> str:
    """Return the ``did:key:zEP…`` DID of an SM2 public key (33 or 65 bytes); ``InvalidInput``
    if it is not a point on the SM2 curve."""
    return DID_KEY_PREFIX + encode_multikey_sm2(public_key)


def resolve_did_key(did_or_method: str) -> PublicMultikey:
    """Return the public key named by a did:key DID or by its verification method id.

    Accepts ``did:key:z…`` and ``did:key:z…#z…``; a fragment must repeat the DID's own
    Multikey, as did:key documents define exactly one verification method. Raises
    ``InvalidInput`` for anything else.
    """
    if not isinstance(did_or_method, str) or not did_or_method.startswith(DID_KEY_PREFIX):
        raise InvalidInput(f"not a did:key identifier: {did_or_method!r}")
    did, hash_sign, fragment = did_or_method.partition("#")
    multikey = did[len(DID_KEY_PREFIX) :]
    if hash_sign and fragment != multikey:
        raise InvalidInput(
            f"did:key verification method fragment #{fragment} does not match the key {multikey}"
        )
    return decode_multikey(multikey)


def did_key_verification_method(did: str) -> str:
    """Return the verification method id ``did:key:z…#z…`` of a did:key DID.

    Raises ``InvalidInput`` when ``did`` is not a did:key DID with a supported key.
    """
    return resolve_did_key(did).verification_method


# --- Ed25519 -----------------------------------------------------------------------------------


@functools.lru_cache(maxsize=1024)
def _ed25519_public_key(public_bytes: bytes) -> Ed25519PublicKey:
    return Ed25519PublicKey.from_public_bytes(public_bytes)


def ed25519_verify(public_bytes: bytes, signature: bytes, message: bytes) -> bool:
    """Return whether ``signature`` is a valid Ed25519 signature of ``message``.

    A wrong-length signature is simply not valid. Raises ``InvalidInput`` when the public key
    is not 32 bytes, because that is a key-resolution bug, not a forged document.
    """
    if not isinstance(public_bytes, bytes) or len(public_bytes) != _ED25519_KEY_SIZE:
        raise InvalidInput("Ed25519 public key must be 32 bytes")
    if len(signature) != _ED25519_SIGNATURE_SIZE:
        return False
    try:
        _ed25519_public_key(public_bytes).verify(signature, message)
    except InvalidSignature:
        return False
    return True


class Ed25519KeyPair:
    """An Ed25519 signing key with its public key and did:key names."""

    __slots__ = ("_private", "public_bytes")

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._private = private_key
        #: The raw 32-byte public key.
        self.public_bytes: bytes = private_key.public_key().public_bytes(
            serialization.Encoding.Raw, serialization.PublicFormat.Raw
        )

    @classmethod
    def generate(cls) -> Ed25519KeyPair:
        """Return a fresh random key pair."""
        return cls(Ed25519PrivateKey.generate())

    @classmethod
    def from_private_bytes(cls, private_bytes: bytes) -> Ed25519KeyPair:
        """Return the key pair of a 32-byte private key (seed); ``InvalidInput`` otherwise."""
        if not isinstance(private_bytes, bytes) or len(private_bytes) != _ED25519_KEY_SIZE:
            raise InvalidInput("Ed25519 private key must be 32 bytes")
        return cls(Ed25519PrivateKey.from_private_bytes(private_bytes))

    @classmethod
    def from_private_multikey(cls, multikey: str) -> Ed25519KeyPair:
        """Return the key pair of a secret Multikey (``z3u2…``); ``InvalidInput`` if malformed."""
        return cls.from_private_bytes(decode_private_multikey_ed25519(multikey))

    @property
    def private_key(self) -> Ed25519PrivateKey:
        """The ``cryptography`` private key object."""
        return self._private

    def private_bytes(self) -> bytes:
        """Return the raw 32-byte private key (seed). Handle with care."""
        return self._private.private_bytes(
            serialization.Encoding.Raw,
            serialization.PrivateFormat.Raw,
            serialization.NoEncryption(),
        )

    @property
    def public_multikey(self) -> str:
        """The public key as a Multikey (``z6Mk…``)."""
        return encode_multikey_ed25519(self.public_bytes)

    @property
    def did(self) -> str:
        """The ``did:key`` DID of the public key."""
        return DID_KEY_PREFIX + self.public_multikey

    @property
    def verification_method(self) -> str:
        """The did:key verification method id, ``did:key:z6Mk…#z6Mk…``."""
        multikey = self.public_multikey
        return f"{DID_KEY_PREFIX}{multikey}#{multikey}"

    def sign(self, message: bytes) -> bytes:
        """Return the 64-byte Ed25519 signature of ``message``."""
        return self._private.sign(message)

    def verify(self, signature: bytes, message: bytes) -> bool:
        """Return whether ``signature`` is this key's valid signature of ``message``."""
        return ed25519_verify(self.public_bytes, signature, message)

    def __repr__(self) -> str:
        return f"Ed25519KeyPair(public={self.public_multikey})"
