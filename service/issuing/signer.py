"""The Signer seam: what issuance needs of a signing key, and the in-memory implementation.

An HSM-backed signer can replace ``LocalSigner``; the key material a ``LocalSigner`` holds is
opened from the key store (``service.storage.sealing``) by the office and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from verifier.keys import Ed25519KeyPair

__all__ = ["LocalSigner", "Signer"]


class Signer(Protocol):
    """What issuance needs of a signing key; an HSM-backed implementation can replace it."""

    @property
    def key_id(self) -> str:
        """The key's fragment in the authority's DID (``key-1``)."""
        ...

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The Ed25519 signature of ``data``."""
        ...


@dataclass(frozen=True, repr=False)
class LocalSigner:
    """A signer holding the key in process memory (decrypted from the key store)."""

    key_id: str
    pair: Ed25519KeyPair

    @property
    def public_key(self) -> bytes:
        """The 32-byte Ed25519 public key."""
        return self.pair.public_bytes

    def sign(self, data: bytes) -> bytes:
        """The Ed25519 signature of ``data``."""
        return self.pair.sign(data)

    def __repr__(self) -> str:
        return f"LocalSigner({self.key_id!r}, <private key hidden>)"
