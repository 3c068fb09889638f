"""Receipts derived on read: a batch's tree is stored once (its leaves), a member's receipt is
built from it and the block the batch's root landed in.

A stored receipt per credential repeated the batch's block facts a thousand times and cost a
rewrite of every member when the batch was anchored (or anchored again after lost blocks). Now the
worker writes one batch row; ``receipt_of`` gives each member the same receipt a stored one held
(byte for byte: the migration that dropped them compared every one), plus the block's hash for
batches sent since. A batch records its tree's hash (``sha-256`` or ``sm3``, the deployment's
anchoring hash when it was claimed), and its receipts name it. Trees of recently read batches are
kept (``TREE_CACHE``), so reading a batch's members one by one builds its tree once.
"""

from __future__ import annotations

import threading
from collections import OrderedDict
from typing import Any

from service.storage.errors import StoredDataAltered
from service.storage.models import Batch, BatchState
from verifier.bundle import AnchorReceipt
from verifier.merkle import MERKLE_HASHES, MerkleHash, MerkleTree

__all__ = ["TREE_CACHE", "leaves_of", "receipt_of"]

TREE_CACHE = 64  # batches whose trees are kept (a tree of 1,000 leaves is about 100 KB)
_DIGEST = 32

_trees: OrderedDict[tuple[int, bytes, int], MerkleTree] = OrderedDict()
_lock = threading.Lock()


def leaves_of(batch: Batch) -> list[bytes]:
    """The members' digests of ``batch``, in leaf order."""
    raw = bytes(batch.leaves)
    return [raw[i : i + _DIGEST] for i in range(0, len(raw), _DIGEST)]


def _hash_of(batch: Batch) -> MerkleHash:
    """The batch's tree hash as stored; StoredDataAltered for a name no tree is built with."""
    for known in MERKLE_HASHES:
        if batch.hash == known:
            return known
    raise StoredDataAltered(f"batch {batch.id}: unknown tree hash {batch.hash!r}")


def _tree(batch: Batch) -> MerkleTree:
    # keyed by the stored leaves too: leaves altered in the database are never served from
    # a tree built before
    key = (batch.id, bytes(batch.root), hash(bytes(batch.leaves)))
    with _lock:
        tree = _trees.get(key)
        if tree is not None:
            _trees.move_to_end(key)
            return tree
    tree = MerkleTree(leaves_of(batch), hash=_hash_of(batch))
    if tree.root != bytes(batch.root):  # the stored leaves were altered: no receipt from them
        raise StoredDataAltered(f"batch {batch.id}: its stored leaves do not make its root")
    with _lock:
        _trees[key] = tree
        while len(_trees) > TREE_CACHE:
            _trees.popitem(last=False)
    return tree


def receipt_of(batch: Batch | None, leaf_index: int | None) -> dict[str, Any] | None:
    """The receipt (bundle JSON) of the member at ``leaf_index`` of ``batch``; None while the
    batch's root is not in a block (no batch yet, or prepared). Raises StoredDataAltered when
    the stored leaves no longer make the batch's root."""
    if (
        batch is None
        or leaf_index is None
        or batch.state not in (BatchState.SENT, BatchState.ANCHORED)
        or batch.block_number is None
    ):
        return None
    tree = _tree(batch)
    receipt = AnchorReceipt(
        chain_id=int(batch.chain_id or 0),
        registry=str(batch.anchor_registry),
        root=tree.root,
        leaf_index=leaf_index,
        tree_size=tree.size,
        path=tuple(tree.inclusion_proof(leaf_index)),
        block_number=int(batch.block_number),
        block_time=int(batch.block_time or 0),
        transaction_hash=str(batch.tx_hash),
        block_hash=batch.block_hash or "",
        hash=tree.hash,
    )
    return receipt.to_json()
