"""RFC 6962 / RFC 9162 Merkle trees over SHA-256 or SM3: roots, inclusion proofs and checks.

The hash is a parameter, ``"sha-256"`` (the default) or ``"sm3"`` (GB/T 32905), for
deployments that anchor with the national algorithm. Either way the tree keeps RFC 9162's
domain separation: a leaf is H(0x00 ‖ content), an interior node H(0x01 ‖ left ‖ right), so
a leaf can never pass for a node. Both digests are 32 bytes. In Suixin a leaf's content is the
credential digest, H(JCS bytes of the signed credential), with the same H as the tree.
"""

from __future__ import annotations

import hashlib
from collections.abc import Callable, Iterable, Sequence
from typing import Literal, Protocol

from verifier.errors import InvalidInput
from verifier.sm2 import sm3_hash

__all__ = [
    "EMPTY_ROOT",
    "HASH_SIZE",
    "MERKLE_HASHES",
    "MerkleHash",
    "MerkleTree",
    "empty_root",
    "leaf_hash",
    "merkle_digest",
    "node_hash",
    "root_from_inclusion",
    "verify_inclusion",
]

HASH_SIZE = 32
#: The root of the empty SHA-256 tree: SHA-256 of the empty string (RFC 9162 §2.1.1).
EMPTY_ROOT = hashlib.sha256(b"").digest()

MerkleHash = Literal["sha-256", "sm3"]
#: The hash names a tree, a receipt and a deployment may use; the first is the default.
MERKLE_HASHES: tuple[MerkleHash, ...] = ("sha-256", "sm3")

_LEAF_PREFIX = b"\x00"
_NODE_PREFIX = b"\x01"


class _Digest(Protocol):
    def digest(self) -> bytes: ...


class _Sm3:
    """SM3 shaped like ``hashlib.sha256``: ``_Sm3(data).digest()``."""

    __slots__ = ("_data",)

    def __init__(self, data: bytes) -> None:
        self._data = data

    def digest(self) -> bytes:
        return sm3_hash(self._data)


# Each hash as a hashlib-style constructor, so the SHA-256 loops stay exactly as fast as before.
_CONSTRUCTORS: dict[str, Callable[[bytes], _Digest]] = {
    "sha-256": hashlib.sha256,
    "sm3": _Sm3,
}


def _constructor(hash: object) -> Callable[[bytes], _Digest]:
    constructor = _CONSTRUCTORS.get(hash) if isinstance(hash, str) else None
    if constructor is None:
        raise InvalidInput(
            f"unknown Merkle hash {hash!r}; expected one of {', '.join(MERKLE_HASHES)}"
        )
    return constructor


def merkle_digest(data: bytes, hash: MerkleHash = "sha-256") -> bytes:
    """Return H(data), the plain digest (no prefix) with the tree's hash: a leaf's content.

    Raises ``InvalidInput`` for an unknown hash name.
    """
    return _constructor(hash)(data).digest()


def empty_root(hash: MerkleHash = "sha-256") -> bytes:
    """Return the root of the empty tree, H of the empty string (RFC 9162 §2.1.1)."""
    return merkle_digest(b"", hash)


def leaf_hash(data: bytes, hash: MerkleHash = "sha-256") -> bytes:
    """Return the RFC 6962 leaf hash H(0x00 || data), SHA-256 unless ``hash`` says ``"sm3"``.

    In Suixin ``data`` is a credential digest, the H of its JCS bytes. Raises ``InvalidInput``
    for an unknown hash name.
    """
    return _constructor(hash)(_LEAF_PREFIX + data).digest()


def node_hash(left: bytes, right: bytes, hash: MerkleHash = "sha-256") -> bytes:
    """Return the RFC 6962 interior node hash H(0x01 || left || right).

    Raises ``InvalidInput`` for an unknown hash name.
    """
    return _constructor(hash)(_NODE_PREFIX + left + right).digest()


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

    __slots__ = ("_levels", "hash")

    def __init__(self, digests: Iterable[bytes], *, hash: MerkleHash = "sha-256") -> None:
        """Build the tree over credential digests (32 bytes each) with SHA-256 or SM3.

        Raises ``InvalidInput`` for a digest that is not 32 bytes or an unknown hash name.
        """
        make = _constructor(hash)
        #: The tree's hash, ``"sha-256"`` or ``"sm3"``.
        self.hash: MerkleHash = hash
        self._levels = _build_levels(
            [
                make(_LEAF_PREFIX + _check_hash(d, f"digest {i}")).digest()
                for i, d in enumerate(digests)
            ],
            make,
        )

    @classmethod
    def from_leaf_hashes(
        cls, leaf_hashes: Iterable[bytes], *, hash: MerkleHash = "sha-256"
    ) -> MerkleTree:
        """Build the tree over ready-made leaf hashes (32 bytes each; ``InvalidInput`` if not,
        or for an unknown hash name)."""
        make = _constructor(hash)
        tree = cls.__new__(cls)
        tree.hash = hash
        tree._levels = _build_levels(
            [_check_hash(h, f"leaf hash {i}") for i, h in enumerate(leaf_hashes)], make
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
        """The 32-byte root hash; ``empty_root(hash)`` for a tree without leaves."""
        top = self._levels[-1]
        return top[0] if top else empty_root(self.hash)

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
        return f"MerkleTree(size={self.size}, hash={self.hash}, root={self.root.hex()})"


def _build_levels(leaves: list[bytes], make: Callable[[bytes], _Digest]) -> list[list[bytes]]:
    levels = [leaves]
    level = leaves
    while len(level) > 1:
        parents = [
            make(_NODE_PREFIX + left + right).digest()
            for left, right in zip(level[0::2], level[1::2], strict=False)
        ]
        if len(level) % 2:
            parents.append(level[-1])
        levels.append(parents)
        level = parents
    return levels


def root_from_inclusion(
    leaf: bytes, index: int, size: int, path: Sequence[bytes], hash: MerkleHash = "sha-256"
) -> bytes:
    """Return the root that an inclusion path leads to, per RFC 9162 §2.1.3.2.

    ``leaf`` is the leaf *hash*; ``hash`` the tree's hash. Raises ``InvalidInput`` when the
    proof cannot belong to a tree of ``size`` leaves: ``index`` not in ``0 … size-1``, a path
    too long or too short, or a hash that is not 32 bytes; and for an unknown hash name.
    Comparing the result with a trusted root is the caller's job (``verify_inclusion`` does
    both).
    """
    make = _constructor(hash)
    for value, name in ((index, "index"), (size, "size")):
        if isinstance(value, bool) or not isinstance(value, int):
            raise InvalidInput(f"{name} must be an integer, got {type(value).__name__}")
    if not 0 <= index < size:
        raise InvalidInput(f"leaf index {index} is not in a tree of size {size}")
    r = _check_hash(leaf, "leaf hash")
    fn = index
    sn = size - 1
    for position, p in enumerate(path):
        if type(p) is not bytes or len(p) != HASH_SIZE:  # the message only when it is needed
            _check_hash(p, f"inclusion path element {position}")
        if sn == 0:
            raise InvalidInput(f"inclusion path is too long for leaf {index} of {size}")
        if fn & 1 or fn == sn:
            r = make(_NODE_PREFIX + p + r).digest()
            while fn and not fn & 1:  # only when fn == sn: skip levels with no right sibling
                fn >>= 1
                sn >>= 1
        else:
            r = make(_NODE_PREFIX + r + p).digest()
        fn >>= 1
        sn >>= 1
    if sn != 0:
        raise InvalidInput(f"inclusion path is too short for leaf {index} of {size}")
    return r


def verify_inclusion(
    digest: bytes,
    index: int,
    size: int,
    path: Sequence[bytes],
    root: bytes,
    hash: MerkleHash = "sha-256",
) -> bool:
    """Return whether a credential digest sits at ``index`` of the tree with ``root``.

    ``digest`` is the 32-byte H of the credential's JCS bytes, with the tree's ``hash``. Any
    malformed input (wrong lengths, ``index >= size``, a path of the wrong length) gives
    ``False``; an unknown hash name raises ``InvalidInput``, as that is the caller's mistake.
    """
    _constructor(hash)
    if not isinstance(digest, bytes) or len(digest) != HASH_SIZE:
        return False
    if not isinstance(root, bytes) or len(root) != HASH_SIZE:
        return False
    try:
        return root_from_inclusion(leaf_hash(digest, hash), index, size, path, hash) == root
    except InvalidInput:
        return False
