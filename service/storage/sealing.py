"""Sealing at rest: private keys and credential documents encrypted under the office's master key.

Everything sealed is AES-256-GCM under a key derived from the configured master key with
HKDF-SHA256, with the row's *purpose* bound in as associated data (``issuer-key:did…#key-1``,
``credential:urn:uuid:…``), so a ciphertext cannot be moved to another row's use. A sealed value
starts with a header — format version, algorithm, and a 4-byte fingerprint of the master key
it was sealed under — then the 12-byte nonce and the ciphertext with its tag. The fingerprint
lets a ``KeyRing`` hold the new and the previous master key while a rotation re-seals every
row (``suixin keys rotate-master``), and tells an operator which key a database needs. Values
sealed before the header existed (private keys of earlier versions: nonce and ciphertext only)
still open.

Credential documents are sealed compressed (``seal_document``). Lookups that must not decrypt
use a *blind index*: an HMAC of the identifier under a key derived from the master key
(``blind_index``), so the database holds no citizen id number or USCC in the clear and an
equality lookup still works. Nothing here logs, prints or returns a key.
"""

from __future__ import annotations

import hashlib
import hmac
import os
import zlib
from collections.abc import Iterable

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from verifier.errors import SuixinError

__all__ = ["KeyRing", "KeyStoreError", "MasterKey", "fingerprint_of"]

_NONCE = 12
_VERSION = 2
_AES_256_GCM = 1
_HEADER = 1 + 1 + 4  # version, algorithm, master key fingerprint
_BLIND_INDEX_BYTES = 16


class KeyStoreError(SuixinError):
    """A sealed value cannot be opened: wrong master key, or the value was altered."""


def _hkdf(secret: bytes, salt: bytes, info: bytes) -> bytes:
    return HKDF(algorithm=hashes.SHA256(), length=32, salt=salt, info=info).derive(secret)


class MasterKey:
    """The key everything sealed at rest is wrapped under. Its repr never shows the secret."""

    __slots__ = ("_aead", "_blind", "fingerprint")

    def __init__(self, secret: str) -> None:
        raw = secret.encode("utf-8")
        derived = _hkdf(raw, b"suixin-keystore-v1", b"aes-256-gcm")
        self._aead = AESGCM(derived)
        self._blind = _hkdf(raw, b"suixin-blind-index-v1", b"hmac-sha256")
        #: four bytes naming this key (not secret: a hash of a derived key)
        self.fingerprint = hashlib.sha256(b"suixin-master-key-fingerprint" + derived).digest()[:4]

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        """Encrypt ``plaintext`` for ``purpose`` (e.g. ``issuer-key:did:web:…#key-1``)."""
        nonce = os.urandom(_NONCE)
        header = bytes((_VERSION, _AES_256_GCM)) + self.fingerprint
        return header + nonce + self._aead.encrypt(nonce, plaintext, purpose.encode("utf-8"))

    def open(self, sealed: bytes, purpose: str) -> bytes:
        """Decrypt what ``seal`` produced for the same purpose; raises KeyStoreError otherwise."""
        aad = purpose.encode("utf-8")
        if self.sealed_here(sealed):
            try:
                body = sealed[_HEADER:]
                return self._aead.decrypt(body[:_NONCE], body[_NONCE:], aad)
            except (InvalidTag, ValueError):
                pass  # maybe a value from before the header whose nonce happens to look like one
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], aad)
        except (InvalidTag, ValueError) as e:
            raise KeyStoreError(
                f"a sealed value ({purpose.split(':', 1)[0]}) cannot be decrypted: the master key "
                "is not the one it was sealed under, or the stored value was altered"
            ) from e

    def sealed_here(self, sealed: bytes) -> bool:
        """Whether ``sealed`` carries this key's fingerprint (a value sealed before the header
        existed carries none)."""
        return (
            len(sealed) > _HEADER + _NONCE
            and sealed[0] == _VERSION
            and sealed[1] == _AES_256_GCM
            and sealed[2:_HEADER] == self.fingerprint
        )

    def seal_document(self, canonical: bytes, credential_id: str) -> bytes:
        """A credential's canonical JSON, compressed and sealed to its id."""
        return self.seal(zlib.compress(canonical, 6), f"credential:{credential_id}")

    def open_document(self, sealed: bytes, credential_id: str) -> bytes:
        """The canonical JSON ``seal_document`` sealed; raises KeyStoreError."""
        return zlib.decompress(self.open(sealed, f"credential:{credential_id}"))

    def blind_index(self, kind: str, value: str) -> bytes:
        """A keyed hash of an identifier (``kind`` names its space: ``citizen-id``, ``uscc``):
        equal for equal values, useless without the master key."""
        message = kind.encode("utf-8") + b"\x00" + value.encode("utf-8")
        return hmac.new(self._blind, message, hashlib.sha256).digest()[:_BLIND_INDEX_BYTES]

    def __repr__(self) -> str:
        return f"MasterKey(<hidden>, fingerprint {self.fingerprint.hex()})"


def fingerprint_of(sealed: bytes) -> bytes | None:
    """The master key fingerprint a sealed value names, or None for a value from before the
    header existed."""
    if len(sealed) > _HEADER + _NONCE and sealed[0] == _VERSION and sealed[1] == _AES_256_GCM:
        return sealed[2:_HEADER]
    return None


class KeyRing(MasterKey):
    """The current master key, which seals, and earlier ones that still open what was sealed
    under them (during a rotation). Blind indexes are always the current key's."""

    __slots__ = ("_previous",)

    def __init__(self, secret: str, previous: Iterable[str] = ()) -> None:
        super().__init__(secret)
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
