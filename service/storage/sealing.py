"""Sealing at rest: private keys encrypted under the office's master key.

Private keys (Ed25519 issuer keys, secp256k1 chain account keys) are stored as AES-256-GCM
ciphertexts under a key derived from the configured master key with HKDF-SHA256; the row's
purpose is bound in as associated data, so a ciphertext cannot be moved to another row's use.
Nothing here logs, prints or returns a private key.
"""

from __future__ import annotations

import os

from cryptography.exceptions import InvalidTag
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.ciphers.aead import AESGCM
from cryptography.hazmat.primitives.kdf.hkdf import HKDF

from verifier.errors import SuixinError

__all__ = ["KeyStoreError", "MasterKey"]

_NONCE = 12


class KeyStoreError(SuixinError):
    """A stored key cannot be decrypted: wrong master key, or the ciphertext was altered."""


class MasterKey:
    """The key that wraps every stored private key. Its repr never shows the secret."""

    __slots__ = ("_aead",)

    def __init__(self, secret: str) -> None:
        derived = HKDF(
            algorithm=hashes.SHA256(), length=32, salt=b"suixin-keystore-v1", info=b"aes-256-gcm"
        ).derive(secret.encode("utf-8"))
        self._aead = AESGCM(derived)

    def seal(self, plaintext: bytes, purpose: str) -> bytes:
        """Encrypt ``plaintext`` for ``purpose`` (e.g. ``issuer-key:did:web:…#key-1``)."""
        nonce = os.urandom(_NONCE)
        return nonce + self._aead.encrypt(nonce, plaintext, purpose.encode("utf-8"))

    def open(self, sealed: bytes, purpose: str) -> bytes:
        """Decrypt what ``seal`` produced for the same purpose; raises KeyStoreError otherwise."""
        try:
            return self._aead.decrypt(sealed[:_NONCE], sealed[_NONCE:], purpose.encode("utf-8"))
        except (InvalidTag, ValueError) as e:
            raise KeyStoreError(
                f"a stored key ({purpose.split(':', 1)[0]}) cannot be decrypted: the master key "
                "is not the one it was stored under, or the stored value was altered"
            ) from e

    def __repr__(self) -> str:
        return "MasterKey(<hidden>)"
