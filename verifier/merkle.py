"""RFC 6962 / RFC 9162 Merkle trees over SHA-256: roots, inclusion proofs and their checks."""

from __future__ import annotations

import hashlib
from collections.abc import Iterable, Sequence

from verifier.errors import InvalidInput

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MerkleTree",
    "leaf_hash",
    "node_hash",
    "root_from_inclusion",
    "verify_inclusion",
]

HASH_SIZE = 32
#: The root of the empty tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


def leaf_hash(data: bytes) -> bytes:
    """Return the RFC 6962 leaf hash SHA-256(0x00 || data).

    In Suixin ``data`` is a credential digest, the SHA-256 of its JCS bytes.
    """
    return hashlib.sha256(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes) -> bytes:
    """Return the RFC 6962 interior node hash SHA-256(0x01 || left || right)."""
    return hashlib.sha256(_NODE_PREFIX + left + right).digest()


def _check_hash(value: object, what: str) -> bytes:
    if not isinstance(value, bytes) or len(value) != HASH_SIZE:
        shown = f"{len(value)} bytes" if isinstance(value, bytes) else type(value).__name__
        raise InvalidInput(f"{what} must be {HASH_SIZE} bytes, got {shown}")
    return value


class MerkleTree:
    """A complete RFC 6962 Merkle tree kept in memory, built once in O(n) hashes.

    Every level is stored, so each inclusion proof costs O(log n) list lookups and no
    hashing. Building level by level, where an unpaired last node moves up unchanged, gives
    the same tree as RFC 9162's split at the largest power of two smaller than n.
    """

    __slots__ = ("_levels",)

    def __init__(self, digests: Iterable[bytes]) -> None:
        """Build the tree over credential digests (32 bytes each; ``InvalidInput`` if not)."""
        self._levels = _build_levels(
            [leaf_hash(_check_hash(d, f"digest {i}")) for i, d in enumerate(digests)]
        )

    @classmethod
    def from_leaf_hashes(cls, leaf_hashes: Iterable[bytes]) -> MerkleTree:
        """Build the tree over ready-made leaf hashes (32 bytes each; ``InvalidInput`` if not)."""
        tree = cls.__new__(cls)
        tree._levels = _build_levels(
            [_check_hash(h, f"leaf hash {i}") for i, h in enumerate(leaf_hashes)]
        )
        return tree

    @property
    def size(self) -> int:
        """The number of leaves."""
        return len(self._levels[0])

    def __len__(self) -> int:
        return self.size

    @property
    def root(self) -> bytes:
        """The 32-byte root hash; ``EMPTY_ROOT`` for a tree without leaves."""
        top = self._levels[-1]
        return top[0] if top else EMPTY_ROOT

    def leaf_hash(self, index: int) -> bytes:
        """Return the leaf hash at ``index``; ``InvalidInput`` when out of range."""
        return self._levels[0][self._check_index(index)]

    def inclusion_proof(self, index: int) -> list[bytes]:
        """Return the RFC 9162 inclusion path of the leaf at ``index``, leaf level first.

        Raises ``InvalidInput`` when ``index`` is not a leaf of this tree.
        """
        index = self._check_index(index)
        path: list[bytes] = []
        for level in self._levels[:-1]:
            sibling = index ^ 1
            if sibling < len(level):
                path.append(level[sibling])
            index >>= 1
        return path

    def _check_index(self, index: int) -> int:
        if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < self.size:
            raise InvalidInput(f"leaf index {index!r} is not in a tree of size {self.size}")
        return index

    def __repr__(self) -> str:
        return f"MerkleTree(size={self.size}, root={self.root.hex()})"


def _build_levels(leaves: list[bytes]) -> list[list[bytes]]:
    levels = [leaves]
    level = leaves
    sha256 = hashlib.sha256
    while len(level) > 1:
        parents = [
            sha256(_NODE_PREFIX + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            parents.append(level[-1])
        levels.append(parents)
        level = parents
    return levels


def root_from_inclusion(leaf: bytes, index: int, size: int, path: Sequence[bytes]) -> bytes:
    """Return the root that an inclusion path leads to, per RFC 9162 §2.1.3.2.

    ``leaf`` is the leaf *hash*. Raises ``InvalidInput`` when the proof cannot belong to a
    tree of ``size`` leaves: ``index`` not in ``0 … size-1``, a path too long or too short,
    or a hash that is not 32 bytes. Comparing the result with a trusted root is the caller's
    job (``verify_inclusion`` does both).
    """
    for value, name in ((index, "index"), (size, "size")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= index < size:
        raise InvalidInput(f"leaf index {index} is not in a tree of size {size}")
    r = _check_hash(leaf, "leaf hash")
    fn = index
    sn = size - 1
    sha256 = hashlib.sha256
    for position, p in enumerate(path):
        if type(p) is not bytes or len(p) != HASH_SIZE:  # the message only when it is needed
            _check_hash(p, f"inclusion path element {position}")
        if sn == 0:
            raise InvalidInput(f"inclusion path is too long for leaf {index} of {size}")
        if fn & 1 or fn == sn:
            r = sha256(_NODE_PREFIX + p + r).digest()
            while fn and not fn & 1:  # only when fn == sn: skip levels with no right sibling
                fn >>= 1
                sn >>= 1
        else:
            r = sha256(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidInput(f"inclusion path is too short for leaf {index} of {size}")
    return r


def verify_inclusion(
    digest: bytes, index: int, size: int, path: Sequence[bytes], root: bytes
) -> bool:
    """Return whether a credential digest sits at ``index`` of the tree with ``root``.

    ``digest`` is the 32-byte SHA-256 of the credential's JCS bytes. Any malformed input
    (wrong lengths, ``index >= size``, a path of the wrong length) gives ``False``.
    """
    if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
        return False
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        return False
    try:
        return root_from_inclusion(leaf_hash(digest), index, size, path) == root
    except InvalidInput:
        return False
