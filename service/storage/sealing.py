"""Sealing at rest: private keys and credential documents encrypted under the office's master key.

Everything sealed is encrypted with an AEAD under a key derived from the configured master key,
with the row's *purpose* bound in as associated data (``issuer-key:did…#key-1``,
``credential:urn:uuid:…``), so a ciphertext cannot be moved to another row's use. The AEAD is
the deployment's choice (``SUIXIN_SEALING``):

- ``aes-256-gcm`` (algorithm 1, the default): AES-256-GCM, the key derived with HKDF-SHA256;
- ``sm4-gcm`` (algorithm 2, 国密): SM4 (GB/T 32907) in GCM as RFC 8998 uses it, the 128-bit key
  derived with HKDF-SM3. The same guarantees: 96-bit random nonces, 128-bit tags, the purpose
  as associated data, one derived key per master key and algorithm.

A sealed value starts with a header — format version, algorithm, and a 4-byte fingerprint of the
master key it was sealed under — then the 12-byte nonce and the ciphertext with its tag. A
master key opens values of either algorithm (the header says which) and seals with its own, so
switching ``SUIXIN_SEALING`` takes effect for new values at once and ``suixin keys rotate-master``
moves the stored ones over (``sealed_here`` is false for a value under the other algorithm).
The fingerprint names the master key whatever the algorithm; it lets a ``KeyRing`` hold the new
and the previous master key while a rotation re-seals every row, and tells an operator which
key a database needs. Values sealed before the header existed (private keys of earlier
versions: nonce and ciphertext only, AES) still open.

Credential documents are sealed compressed (``seal_document``: zlib primed with a preset
dictionary of the text every credential repeats, which halves them; a document sealed before
dictionaries, or with an earlier one, still opens). Lookups that must not decrypt
use a *blind index*: an HMAC of the identifier under a key derived from the master key
(``blind_index``), so the database holds no citizen id number or USCC in the clear and an
equality lookup still works (HMAC-SHA256 under either sealing algorithm). Nothing here logs,
prints or returns a key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import zlib
from collections.abc import Iterable
from typing import Literal, Protocol

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers import Cipher, algorithms, modes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from service.storage import _dictionaries
from verifier.errors import InvalidInput, SuixinError

__all__ = [
    "PACKING",
    "SEALING_ALGORITHMS",
    "KeyRing",
    "KeyStoreError",
    "MasterKey",
    "SealingAlgorithm",
    "Sm4Gcm",
    "fingerprint_of",
    "pack_document",
    "unpack_document",
]

SealingAlgorithm = Literal["aes-256-gcm", "sm4-gcm"]
#: The sealing algorithms (``SUIXIN_SEALING``) and their header bytes.
SEALING_ALGORITHMS: dict[str, int] = {"aes-256-gcm": 1, "sm4-gcm": 2}

_NONCE = 12
_TAG = 16
_VERSION = 2
_AES_256_GCM = 1
_SM4_GCM = 2
_HEADER = 1 + 1 + 4  # version, algorithm, master key fingerprint
_BLIND_INDEX_BYTES = 16


class KeyStoreError(SuixinError):
    """A sealed value cannot be opened: wrong master key, or the value was altered."""


def _hkdf(
    secret: bytes, salt: bytes, info: bytes, *, hash: hashes.HashAlgorithm | None = None
) -> bytes:
    algorithm = hash or hashes.SHA256()
    length = 16 if isinstance(algorithm, hashes.SM3) else 32
    return HKDF(algorithm=algorithm, length=length, salt=salt, info=info).derive(secret)


class _Aead(Protocol):
    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes: ...


class Sm4Gcm:
    """SM4-GCM (GB/T 32907 in GCM, as RFC 8998 specifies it) with AESGCM's interface: a 16-byte
    key, 12-byte nonces, the 16-byte tag appended to the ciphertext. ``decrypt`` raises
    ``InvalidTag`` for a wrong key, nonce, associated data or any changed byte."""

    __slots__ = ("_key",)

    def __init__(self, key: bytes) -> None:
        if len(key) != 16:
            raise ValueError("an SM4 key is 16 bytes")
        self._key = algorithms.SM4(key)

    def encrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """The ciphertext of ``data`` with its tag."""
        encryptor = Cipher(self._key, modes.GCM(nonce)).encryptor()
        if associated_data:
            encryptor.authenticate_additional_data(associated_data)
        return encryptor.update(data) + encryptor.finalize() + encryptor.tag

    def decrypt(self, nonce: bytes, data: bytes, associated_data: bytes | None) -> bytes:
        """The plaintext of what ``encrypt`` made; InvalidTag if anything differs."""
        if len(data) < _TAG:
            raise InvalidTag
        decryptor = Cipher(self._key, modes.GCM(nonce, data[-_TAG:])).decryptor()
        if associated_data:
            decryptor.authenticate_additional_data(associated_data)
        return decryptor.update(data[:-_TAG]) + decryptor.finalize()


class MasterKey:
    """The key everything sealed at rest is wrapped under; it seals with ``algorithm``
    (``aes-256-gcm`` or ``sm4-gcm``) and opens either. Its repr never shows the secret."""

    __slots__ = ("_aeads", "_blind", "algorithm", "fingerprint")

    def __init__(self, secret: str, algorithm: str = "aes-256-gcm") -> None:
        """Raises InvalidInput for an unknown ``algorithm``."""
        if algorithm not in SEALING_ALGORITHMS:
            raise InvalidInput(
                f"the key store seals with {' or '.join(SEALING_ALGORITHMS)}, not {algorithm!r}"
            )
        raw = secret.encode("utf-8")
        derived = _hkdf(raw, b"suixin-keystore-v1", b"aes-256-gcm")
        sm4 = _hkdf(raw, b"suixin-keystore-v1", b"sm4-gcm", hash=hashes.SM3())
        self._aeads: dict[int, _Aead] = {_AES_256_GCM: AESGCM(derived), _SM4_GCM: Sm4Gcm(sm4)}
        self._blind = _hkdf(raw, b"suixin-blind-index-v1", b"hmac-sha256")
        #: the header byte of the algorithm this key seals with
        self.algorithm = SEALING_ALGORITHMS[algorithm]
        #: four bytes naming this key (not secret: a hash of a derived key), whatever the
        #: algorithm
        self.fingerprint = hashlib.sha256(b"suixin-master-key-fingerprint" + derived).digest()[:4]

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        """Encrypt ``plaintext`` for ``purpose`` (e.g. ``issuer-key:did:web:…#key-1``)."""
        nonce = os.urandom(_NONCE)
        header = bytes((_VERSION, self.algorithm)) + self.fingerprint
        aead = self._aeads[self.algorithm]
        return header + nonce + aead.encrypt(nonce, plaintext, purpose.encode("utf-8"))

    def open(self, sealed: bytes, purpose: str) -> bytes:
        """Decrypt what ``seal`` produced for the same purpose, under either algorithm; raises
        KeyStoreError otherwise."""
        aad = purpose.encode("utf-8")
        if fingerprint_of(sealed) == self.fingerprint:
            try:
                body = sealed[_HEADER:]
                return self._aeads[sealed[1]].decrypt(body[:_NONCE], body[_NONCE:], aad)
            except (InvalidTag, ValueError):
                pass  # maybe a value from before the header whose nonce happens to look like one
        try:
            return self._aeads[_AES_256_GCM].decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
        except (InvalidTag, ValueError) as e:
            raise KeyStoreError(
                f"a sealed value ({purpose.split(':', 1)[0]}) cannot be decrypted: the master key "
                "is not the one it was sealed under, or the stored value was altered"
            ) from e

    def sealed_here(self, sealed: bytes) -> bool:
        """Whether ``sealed`` is sealed as this key seals: its fingerprint and its algorithm (a
        value sealed before the header existed carries neither)."""
        return fingerprint_of(sealed) == self.fingerprint and sealed[1] == self.algorithm

    def seal_document(self, canonical: bytes, credential_id: str) -> bytes:
        """A credential's canonical JSON, compressed (zlib primed with the current preset
        dictionary, ``storage._dictionaries``) and sealed to its id."""
        return self.seal_packed(pack_document(canonical), credential_id)

    def seal_packed(self, packed: bytes, credential_id: str) -> bytes:
        """``seal_document`` of the canonical JSON that ``pack_document`` compressed to
        ``packed`` (compressed where it was signed: a signing process, no key needed)."""
        return self.seal(packed, f"credential:{credential_id}")

    def open_document(self, sealed: bytes, credential_id: str) -> bytes:
        """The canonical JSON ``seal_document`` sealed, with whichever dictionary it names (or
        none: documents sealed before dictionaries); raises KeyStoreError."""
        return _inflate(self.open(sealed, f"credential:{credential_id}"))

    def blind_index(self, kind: str, value: str) -> bytes:
        """A keyed hash of an identifier (``kind`` names its space: ``citizen-id``, ``uscc``):
        equal for equal values, useless without the master key."""
        message = kind.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._blind, message, hashlib.sha256).digest()[:_BLIND_INDEX_BYTES]

    def __repr__(self) -> str:
        name = next(n for n, b in SEALING_ALGORITHMS.items() if b == self.algorithm)
        return f"MasterKey(<hidden>, {name}, fingerprint {self.fingerprint.hex()})"


def pack_document(canonical: bytes) -> bytes:
    """A credential's canonical JSON compressed as ``MasterKey.seal_document`` stores it (zlib
    as ``PACKING`` says, primed with the current preset dictionary), before sealing.

    Each document's compressor is a copy of one primed once (``_PRIMED``): the same state,
    hence the same bytes, as priming a new one, for about a third less work per document."""
    packer = _PRIMED.copy()
    return packer.compress(canonical) + packer.flush()


#: zlib's (level, window bits, memory level) for documents. A document (about 2 KB) and the
#: dictionary (2 KB) fit an 8 KB window: with it and a smaller hash table, the compressor state
#: copied per document is a third the size, for the same bytes (bench_scale's permits: 530
#: bytes either way, 33 -> 30 µs). Level 3 would save 5 µs more for 16 bytes more, and that
#: tips PostgreSQL's credential rows from 9 to 8 per page (910 -> 1,012 heap bytes each).
#: Any setting opens with the same inflater (``_inflate``: its window is the largest).
PACKING = (6, 13, 6)
# never compresses anything itself: only copied (zlib's copy holds the object's lock)
_PRIMED = zlib.compressobj(
    PACKING[0], zlib.DEFLATED, PACKING[1], PACKING[2], zdict=_dictionaries.CURRENT
)


def unpack_document(packed: bytes) -> bytes:
    """The canonical JSON ``pack_document`` compressed (with whichever dictionary it names);
    raises KeyStoreError for a dictionary not known here."""
    return _inflate(packed)


def _inflate(compressed: bytes) -> bytes:
    """A zlib stream decompressed with the preset dictionary its header names (RFC 1950: the
    FDICT flag, then the dictionary's Adler-32); raises KeyStoreError for one not known here."""
    if len(compressed) >= 6 and compressed[1] & 0x20:
        named = int.from_bytes(compressed[2:6], "big")
        dictionary = _dictionaries.DICTIONARIES.get(named)
        if dictionary is None:
            raise KeyStoreError(
                f"a sealed document was compressed with a dictionary this version does not "
                f"know (Adler-32 {named:08x}): it was sealed by a newer office"
            )
        inflater = zlib.decompressobj(zdict=dictionary)
    else:
        inflater = zlib.decompressobj()
    return inflater.decompress(compressed) + inflater.flush()


def fingerprint_of(sealed: bytes) -> bytes | None:
    """The master key fingerprint a sealed value names, or None for a value from before the
    header existed."""
    if (
        len(sealed) > _HEADER + _NONCE
        and sealed[0] == _VERSION
        and sealed[1] in (_AES_256_GCM, _SM4_GCM)
    ):
        return sealed[2:_HEADER]
    return None


class KeyRing(MasterKey):
    """The current master key, which seals, and earlier ones that still open what was sealed
    under them (during a rotation). Blind indexes are always the current key's."""

    __slots__ = ("_previous",)

    def __init__(
        self, secret: str, previous: Iterable[str] = (), algorithm: str = "aes-256-gcm"
    ) -> None:
        """The current key ``secret`` seals with ``algorithm``; the ``previous`` ones only open
        (either algorithm). Raises InvalidInput for an unknown ``algorithm``."""
        super().__init__(secret, algorithm)
        self._previous = tuple(MasterKey(s) for s in previous)

    def open(self, sealed: bytes, purpose: str) -> bytes:
        """Open with the key the value names (or, for one without a header, with each in
        turn); raises KeyStoreError when none opens it."""
        named = fingerprint_of(sealed)
        last: KeyStoreError | None = None
        if named is None or named == self.fingerprint:
            try:
                return super().open(sealed, purpose)
            except KeyStoreError as e:
                last = e
        for key in self._previous:
            if named is None or named == key.fingerprint:
                try:
                    return key.open(sealed, purpose)
                except KeyStoreError as e:
                    last = e
        raise last or KeyStoreError(
            "a sealed value names a master key this office does not hold (fingerprint "
            f"{named.hex() if named else '?'}): give the key it was sealed under"
        )
