"""Tests for verifier.merkle: RFC 6962 / RFC 9162 trees over SHA-256 and SM3, inclusion proofs."""

from __future__ import annotations

import base64
import hashlib
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any

import gmssl_pyx
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.errors import InvalidInput
from verifier.merkle import (
    EMPTY_ROOT,
    MERKLE_HASHES,
    MerkleHash,
    MerkleTree,
    empty_root,
    leaf_hash,
    merkle_digest,
    node_hash,
    root_from_inclusion,
    verify_inclusion,
)

PROBES = Path(__file__).parent / "data" / "rfc6962-inclusion"

# transparency-dev/merkle testonly/constants.go: the eight RFC 6962 test leaves, and the roots
# of the trees over the first n of them (index n, from the empty tree up to all eight).
LEAF_INPUTS = [
    bytes.fromhex(h)
    for h in [
        "",
        "00",
        "10",
        "2021",
        "3031",
        "40414243",
        "5051525354555657",
        "606162636465666768696a6b6c6d6e6f",
    ]
]
ROOTS = [
    bytes.fromhex(h)
    for h in [
        "e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855",
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
        "fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125",
        "aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77",
        "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        "4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4",
        "76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef",
        "ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c",
        "5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328",
    ]
]
# The SM3 tree over all eight, computed with GmSSL's SM3 and the RFC's recursive definition.
SM3_ROOT_OF_EIGHT = "bc48ba7a709184b5f2a631e1adeb8dc2a0d4c018c1d6cc89b5664fe154c93b38"
# transparency-dev/merkle cmd/proofgen/main.go: (leaf index, tree size, path), index 0-based.
INCLUSION_PROOFS = [
    (0, 1, []),
    (
        0,
        8,
        [
            "96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4",
        ],
    ),
    (
        5,
        8,
        [
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
            "ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0",
            "d37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7",
        ],
    ),
    (2, 3, ["fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125"]),
    (
        1,
        5,
        [
            "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d",
            "5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e",
            "bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b",
        ],
    ),
]


# --- an independent oracle: RFC 6962 §2.1, written recursively as the RFC states it -----------


def _split(n: int) -> int:
    k = 1
    while k * 2 < n:
        k *= 2
    return k


def _sha256(data: bytes) -> bytes:
    return hashlib.sha256(data).digest()


# SM3 from GmSSL, another code base than the one verifier.merkle uses
_sm3: Callable[[bytes], bytes] = gmssl_pyx.sm3_hash


def _mth(leaves: list[bytes], h: Callable[[bytes], bytes] = _sha256) -> bytes:
    if not leaves:
        return h(b"")
    if len(leaves) == 1:
        return leaves[0]
    k = _split(len(leaves))
    return h(b"\x01" + _mth(leaves[:k], h) + _mth(leaves[k:], h))


def _path(m: int, leaves: list[bytes], h: Callable[[bytes], bytes] = _sha256) -> list[bytes]:
    if len(leaves) == 1:
        return []
    k = _split(len(leaves))
    if m < k:
        return [*_path(m, leaves[:k], h), _mth(leaves[k:], h)]
    return [*_path(m - k, leaves[k:], h), _mth(leaves[:k], h)]


def _sides(m: int, n: int) -> list[bool]:
    """For each path element, whether it lies left of the running hash (RFC 6962 PATH)."""
    if n == 1:
        return []
    k = _split(n)
    return [*_sides(m, k), False] if m < k else [*_sides(m - k, n - k), True]


def _digests(n: int) -> list[bytes]:
    return [hashlib.sha256(f"credential {i}".encode()).digest() for i in range(n)]


def _flip(value: bytes, bit: int) -> bytes:
    bit %= len(value) * 8
    flipped = bytearray(value)
    flipped[bit // 8] ^= 1 << (bit % 8)
    return bytes(flipped)


# --- known answers -----------------------------------------------------------------------------


def test_hash_prefixes_separate_leaves_from_nodes() -> None:
    assert leaf_hash(b"") == bytes.fromhex(
        "6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d"
    )
    assert leaf_hash(b"ab") == hashlib.sha256(b"\x00ab").digest()
    assert node_hash(b"a", b"b") == hashlib.sha256(b"\x01ab").digest()
    assert leaf_hash(b"\x01ab") != node_hash(b"a", b"b")


@pytest.mark.parametrize("size", range(9))
def test_rfc6962_roots_of_the_eight_test_leaves(size: int) -> None:
    tree = MerkleTree.from_leaf_hashes(leaf_hash(x) for x in LEAF_INPUTS[:size])
    assert tree.size == len(tree) == size
    assert tree.root == ROOTS[size]


@pytest.mark.parametrize(("index", "size", "path"), INCLUSION_PROOFS)
def test_rfc6962_inclusion_proofs(index: int, size: int, path: list[str]) -> None:
    tree = MerkleTree.from_leaf_hashes(leaf_hash(x) for x in LEAF_INPUTS[:size])
    expected = [bytes.fromhex(h) for h in path]
    assert tree.inclusion_proof(index) == expected
    assert root_from_inclusion(leaf_hash(LEAF_INPUTS[index]), index, size, expected) == ROOTS[size]


def _probes() -> list[Any]:
    files = sorted(PROBES.rglob("*.json"))
    assert len(files) == 98
    return [pytest.param(p, id=str(p.relative_to(PROBES))) for p in files]


@pytest.mark.parametrize("probe_file", _probes())
def test_transparency_dev_inclusion_probes(probe_file: Path) -> None:
    probe = json.loads(probe_file.read_text())
    decode = base64.b64decode
    try:
        computed = root_from_inclusion(
            decode(probe["leafHash"]),
            probe["leafIdx"],
            probe["treeSize"],
            [decode(p) for p in probe["proof"] or []],  # Go writes an empty path as null
        )
        accepted = computed == decode(probe["root"])
    except InvalidInput:
        accepted = False
    assert accepted is not probe["wantErr"], probe["desc"]


# --- every size, every leaf --------------------------------------------------------------------


def test_every_tree_size_1_to_300_matches_the_rfc_and_every_leaf_proof_verifies() -> None:
    digests = _digests(300)
    leaves = [leaf_hash(d) for d in digests]
    for size in range(1, 301):
        tree = MerkleTree(digests[:size])
        assert tree.root == _mth(leaves[:size]), size
        for index in range(size):
            path = tree.inclusion_proof(index)
            assert verify_inclusion(digests[index], index, size, path, tree.root), (index, size)


@settings(max_examples=300, deadline=None)
@given(st.integers(1, 300), st.data())
def test_proof_matches_rfc_path_and_any_tampering_fails(size: int, data: st.DataObject) -> None:
    digests = _digests(size)
    tree = MerkleTree(digests)
    index = data.draw(st.integers(0, size - 1), label="index")
    path = tree.inclusion_proof(index)
    root = tree.root
    assert path == _path(index, [leaf_hash(d) for d in digests])
    assert verify_inclusion(digests[index], index, size, path, root)

    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_inclusion(_flip(digests[index], bit), index, size, path, root)
    assert not verify_inclusion(digests[index], index, size, path, _flip(root, bit))
    if path:
        at = data.draw(st.integers(0, len(path) - 1), label="path element")
        bad_path = [*path[:at], _flip(path[at], bit), *path[at + 1 :]]
        assert not verify_inclusion(digests[index], index, size, bad_path, root)
        assert not verify_inclusion(digests[index], index, size, path[:-1], root)
    assert not verify_inclusion(digests[index], index, size, [*path, root], root)

    other_index = data.draw(st.integers(-2, size + 2).filter(lambda i: i != index), label="i'")
    assert not verify_inclusion(digests[index], other_index, size, path, root)

    # The size only shapes the path: another size verifies exactly when the RFC's path for
    # this leaf has the same shape there (leaf 0 of 3 and of 4, say), and never otherwise.
    other_size = data.draw(st.integers(0, 2 * size + 2).filter(lambda n: n != size), label="n'")
    same_shape = index < other_size and _sides(index, other_size) == _sides(index, size)
    assert verify_inclusion(digests[index], index, other_size, path, root) is same_shape


def test_a_size_that_shares_the_path_shape_verifies_the_same_leaf() -> None:
    # Documented RFC 9162 behaviour: the anchor's tree size must be checked on chain.
    digests = _digests(3)
    tree = MerkleTree(digests)
    path = tree.inclusion_proof(0)
    assert verify_inclusion(digests[0], 0, 4, path, tree.root)
    assert not verify_inclusion(digests[2], 2, 4, tree.inclusion_proof(2), tree.root)


def test_batch_of_ten_thousand_every_proof_verifies() -> None:
    digests = _digests(10_000)
    tree = MerkleTree(digests)
    root = tree.root
    for index in range(0, 10_000, 7):
        path = tree.inclusion_proof(index)
        assert len(path) <= 14
        assert verify_inclusion(digests[index], index, 10_000, path, root)


# --- refusals ----------------------------------------------------------------------------------


def test_empty_tree_has_the_rfc_empty_root_and_no_proofs() -> None:
    tree = MerkleTree([])
    assert tree.size == 0
    assert tree.root == EMPTY_ROOT == hashlib.sha256(b"").digest()
    with pytest.raises(InvalidInput, match="not in a tree of size 0"):
        tree.inclusion_proof(0)


def test_tree_refuses_digests_that_are_not_32_bytes() -> None:
    digests = _digests(3)
    with pytest.raises(InvalidInput, match="digest 1 must be 32 bytes, got 64 bytes"):
        MerkleTree([digests[0], digests[1].hex().encode(), digests[2]])
    with pytest.raises(InvalidInput, match="digest 0 must be 32 bytes, got str"):
        MerkleTree([digests[0].hex()])  # type: ignore[list-item]
    with pytest.raises(InvalidInput, match="leaf hash 0 must be 32 bytes"):
        MerkleTree.from_leaf_hashes([b""])


@pytest.mark.parametrize("index", [-1, 5, True, 1.0])
def test_inclusion_proof_refuses_indices_outside_the_tree(index: Any) -> None:
    tree = MerkleTree(_digests(5))
    with pytest.raises(InvalidInput, match="not in a tree of size 5"):
        tree.inclusion_proof(index)
    with pytest.raises(InvalidInput, match="not in a tree of size 5"):
        tree.leaf_hash(index)


def test_root_from_inclusion_names_what_is_wrong() -> None:
    digests = _digests(5)
    tree = MerkleTree(digests)
    leaf = leaf_hash(digests[1])
    path = tree.inclusion_proof(1)
    assert root_from_inclusion(leaf, 1, 5, path) == tree.root
    with pytest.raises(InvalidInput, match="leaf index 5 is not in a tree of size 5"):
        root_from_inclusion(leaf, 5, 5, path)
    with pytest.raises(InvalidInput, match="leaf index 0 is not in a tree of size 0"):
        root_from_inclusion(leaf, 0, 0, [])
    with pytest.raises(InvalidInput, match="too long"):
        root_from_inclusion(leaf, 1, 5, [*path, path[0]])
    with pytest.raises(InvalidInput, match="too short"):
        root_from_inclusion(leaf, 1, 5, path[:-1])
    with pytest.raises(InvalidInput, match="path element 2 must be 32 bytes"):
        root_from_inclusion(leaf, 1, 5, [*path[:2], path[2][:31]])
    with pytest.raises(InvalidInput, match="size must be an integer"):
        root_from_inclusion(leaf, 1, "5", path)  # type: ignore[arg-type]


def test_verify_inclusion_is_false_for_malformed_digest_or_root() -> None:
    digests = _digests(4)
    tree = MerkleTree(digests)
    path = tree.inclusion_proof(3)
    assert verify_inclusion(digests[3], 3, 4, path, tree.root)
    assert not verify_inclusion(digests[3][:31], 3, 4, path, tree.root)
    assert not verify_inclusion(digests[3], 3, 4, path, tree.root.hex().encode())
    assert not verify_inclusion(digests[3], 4, 4, path, tree.root)


# --- SM3 trees -----------------------------------------------------------------------------------
# Expected values come from the RFC's recursive definition above with GmSSL's SM3, so they are
# independent of both the level-by-level construction and the SM3 the library uses.


def _sm3_leaf(content: bytes) -> bytes:
    return _sm3(b"\x00" + content)


def test_sm3_hash_prefixes_and_empty_root() -> None:
    assert merkle_digest(b"abc", "sm3").hex() == (
        "66c7f0f462eeedd9d1f2d46bdc10e4e24167c4875cf2f7a2297da02b8f4ba8e0"  # GB/T 32905 A.1
    )
    assert leaf_hash(b"ab", "sm3") == _sm3(b"\x00ab")
    assert node_hash(b"a", b"b", "sm3") == _sm3(b"\x01ab")
    assert leaf_hash(b"\x01ab", "sm3") != node_hash(b"a", b"b", "sm3")
    assert empty_root("sm3") == _sm3(b"") == MerkleTree([], hash="sm3").root
    assert empty_root() == EMPTY_ROOT


@pytest.mark.parametrize("size", range(9))
def test_sm3_roots_of_the_eight_rfc_test_leaves(size: int) -> None:
    tree = MerkleTree.from_leaf_hashes(
        (leaf_hash(x, "sm3") for x in LEAF_INPUTS[:size]), hash="sm3"
    )
    expected = _mth([_sm3_leaf(x) for x in LEAF_INPUTS[:size]], _sm3)
    assert tree.root == expected
    assert tree.hash == "sm3"
    if size:
        assert tree.root != ROOTS[size]  # not the SHA-256 tree by accident


def test_sm3_known_root_of_the_eight_rfc_test_leaves() -> None:
    # Pinned so that a change of either SM3 is seen even if both changed alike.
    tree = MerkleTree.from_leaf_hashes((leaf_hash(x, "sm3") for x in LEAF_INPUTS), hash="sm3")
    assert tree.root.hex() == SM3_ROOT_OF_EIGHT


def test_sm3_every_tree_size_1_to_70_and_every_leaf_proof() -> None:
    digests = [_sm3(f"credential {i}".encode()) for i in range(70)]
    leaves = [_sm3_leaf(d) for d in digests]
    for size in range(1, 71):
        tree = MerkleTree(digests[:size], hash="sm3")
        assert tree.root == _mth(leaves[:size], _sm3), size
        for index in range(size):
            path = tree.inclusion_proof(index)
            assert path == _path(index, leaves[:size], _sm3)
            assert verify_inclusion(digests[index], index, size, path, tree.root, "sm3")
            assert root_from_inclusion(leaves[index], index, size, path, "sm3") == tree.root


@settings(max_examples=100, deadline=None)
@given(st.integers(1, 200), st.data())
def test_sm3_proofs_verify_only_with_sm3_and_tampering_fails(
    size: int, data: st.DataObject
) -> None:
    digests = [_sm3(f"licence {i}".encode()) for i in range(size)]
    tree = MerkleTree(digests, hash="sm3")
    index = data.draw(st.integers(0, size - 1), label="index")
    path = tree.inclusion_proof(index)
    root = tree.root
    assert verify_inclusion(digests[index], index, size, path, root, "sm3")
    assert not verify_inclusion(digests[index], index, size, path, root)  # as SHA-256
    bit = data.draw(st.integers(0, 255), label="bit")
    assert not verify_inclusion(_flip(digests[index], bit), index, size, path, root, "sm3")
    assert not verify_inclusion(digests[index], index, size, path, _flip(root, bit), "sm3")
    if path:
        at = data.draw(st.integers(0, len(path) - 1), label="path element")
        bad_path = [*path[:at], _flip(path[at], bit), *path[at + 1 :]]
        assert not verify_inclusion(digests[index], index, size, bad_path, root, "sm3")
    sha_tree = MerkleTree(digests)
    if size > 1:
        assert sha_tree.root != root


@pytest.mark.parametrize("name", ["SM3", "sha256", "", None, 3])
def test_unknown_hash_names_are_refused(name: Any) -> None:
    digests = _digests(2)
    for call in (
        lambda: MerkleTree(digests, hash=name),
        lambda: MerkleTree.from_leaf_hashes(digests, hash=name),
        lambda: leaf_hash(b"", name),
        lambda: node_hash(b"", b"", name),
        lambda: merkle_digest(b"", name),
        lambda: root_from_inclusion(digests[0], 0, 1, [], name),
        lambda: verify_inclusion(digests[0], 0, 1, [], digests[0], name),
    ):
        with pytest.raises(InvalidInput, match="unknown Merkle hash"):
            call()


def test_hash_names_and_repr() -> None:
    names: tuple[MerkleHash, ...] = ("sha-256", "sm3")
    assert names == MERKLE_HASHES
    assert "hash=sm3" in repr(MerkleTree(_digests(1), hash="sm3"))
    assert MerkleTree(_digests(1)).hash == "sha-256"
