"""The Signer seam: what issuance needs of a signing key, and the in-memory implementation.

An authority's issuer key is Ed25519 (proofs ``eddsa-jcs-2022``) or SM2 (``suixin-sm2-jcs-2025``,
GB/T 32918 with SM3); the signer says which, so issuance, life-cycle steps and re-issue sign
with whatever the authority's current key is. An HSM-backed signer (a 密码机 for SM2) can
replace ``LocalSigner``; the key material a ``LocalSigner`` holds is opened from the key store
(``service.storage.sealing``) by the office and never logged.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from verifier.errors import InvalidInput
from verifier.keys import Ed25519KeyPair, KeyAlgorithm
from verifier.proofs import CRYPTOSUITE, SM2_CRYPTOSUITE
from verifier.sm2 import Sm2KeyPair

__all__ = [
    "ISSUER_KEY_ALGORITHMS",
    "IssuerKeyPair",
    "LocalSigner",
    "Signer",
    "generate_key_pair",
    "key_pair_from_private_bytes",
]

IssuerKeyPair = Ed25519KeyPair | Sm2KeyPair
#: The algorithms an issuer key may have (as ``verifier.keys.KeyAlgorithm`` names them).
ISSUER_KEY_ALGORITHMS: tuple[KeyAlgorithm, ...] = ("Ed25519", "SM2")
_SUITES: dict[str, str] = {"Ed25519": CRYPTOSUITE, "SM2": SM2_CRYPTOSUITE}


def _checked(algorithm: str) -> KeyAlgorithm:
    for known in ISSUER_KEY_ALGORITHMS:
        if algorithm == known:
            return known
    raise InvalidInput(f"an issuer key is Ed25519 or SM2, not {algorithm!r}")


def generate_key_pair(algorithm: str) -> IssuerKeyPair:
    """A fresh issuer key of ``algorithm`` (``Ed25519`` or ``SM2``); InvalidInput otherwise."""
    if _checked(algorithm) == "SM2":
        return Sm2KeyPair.generate()
    return Ed25519KeyPair.generate()


def key_pair_from_private_bytes(algorithm: str, private_bytes: bytes) -> IssuerKeyPair:
    """The issuer key of ``algorithm`` whose 32 private bytes (Ed25519's seed, SM2's d) are
    given; InvalidInput for another algorithm or malformed bytes."""
    if _checked(algorithm) == "SM2":
        return Sm2KeyPair.from_private_bytes(private_bytes)
    return Ed25519KeyPair.from_private_bytes(private_bytes)


class Signer(Protocol):
    """What issuance needs of a signing key; an HSM-backed implementation can replace it."""

    @property
    def key_id(self) -> str:
        """The key's fragment in the authority's DID (``key-1``)."""
        ...

    @property
    def algorithm(self) -> KeyAlgorithm:
        """``Ed25519`` or ``SM2``."""
        ...

    @property
    def public_key(self) -> bytes:
        """The public key: 32 bytes (Ed25519) or the 33-byte compressed point (SM2)."""
        ...

    @property
    def cryptosuite(self) -> str:
        """The Data Integrity cryptosuite its signatures make proofs of."""
        ...

    def sign(self, data: bytes) -> bytes:
        """The 64-byte signature of ``data`` (Ed25519, or SM2's r ‖ s)."""
        ...


@dataclass(frozen=True, repr=False)
class LocalSigner:
    """A signer holding the key in process memory (decrypted from the key store)."""

    key_id: str
    pair: IssuerKeyPair

    @property
    def algorithm(self) -> KeyAlgorithm:
        """``Ed25519`` or ``SM2``."""
        return "SM2" if isinstance(self.pair, Sm2KeyPair) else "Ed25519"

    @property
    def public_key(self) -> bytes:
        """The public key: 32 bytes (Ed25519) or the 33-byte compressed point (SM2)."""
        return self.pair.public_bytes

    @property
    def cryptosuite(self) -> str:
        """``eddsa-jcs-2022`` or ``suixin-sm2-jcs-2025``."""
        return _SUITES[self.algorithm]

    def sign(self, data: bytes) -> bytes:
        """The 64-byte signature of ``data`` (Ed25519, or SM2's r ‖ s with the default ID)."""
        return self.pair.sign(data)

    def __repr__(self) -> str:
        return f"LocalSigner({self.key_id!r}, {self.algorithm}, <private key hidden>)"
