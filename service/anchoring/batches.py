"""Anchoring: put a batch's Merkle root on chain and hand every credential its receipt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from functools import cache
from typing import Any

from eth_account.signers.local import LocalAccount

from verifier.bundle import (
    AnchorReceipt,
    credential_digest,
    credential_id_hash,
    make_bundle,
    receipts_for_batch,
)
from verifier.chain import Chain, EventDecoder
from verifier.contracts import load_artifact
from verifier.deployment import Deployment
from verifier.errors import ChainError, ContractReverted
from verifier.merkle import MerkleTree

__all__ = ["anchor_batch", "anchor_root_once", "anchored_root", "set_statuses"]


@cache
def _anchor_registry() -> tuple[list[dict[str, Any]], EventDecoder]:
    abi = load_artifact("AnchorRegistry").abi
    return abi, EventDecoder(abi)


def anchored_root(chain: Chain, registry: str, root: bytes) -> tuple[int, str] | None:
    """(block number, transaction hash) of the root's anchor if it is on chain, else None:
    the chain is asked, never guessed (a crash may have come after the send)."""
    abi, events = _anchor_registry()
    record = chain.call(registry, abi, "anchorOf", [root])
    anchored_at, block_number = int(record[2]), int(record[3])
    if anchored_at == 0:
        return None
    for log in chain.get_logs([registry], block_number, block_number):
        entry = events.decode(log)
        if entry and entry.event == "RootAnchored" and bytes(entry.args["root"]) == root:
            return block_number, entry.tx_hash
    raise ChainError(
        f"root 0x{root.hex()} is anchored in block {block_number} but its event is missing"
    )


def anchor_root_once(
    chain: Chain, registry: str, account: LocalAccount, root: bytes, leaf_count: int
) -> tuple[int, str]:
    """Put ``root`` on chain unless it is there already; returns (block number, transaction
    hash) of its one anchor. ``RootAlreadyAnchored`` (another worker, or a send before a crash
    that was not recorded) is read back, so a resend can never double an anchor."""
    found = anchored_root(chain, registry, root)
    if found is not None:
        return found
    abi, _ = _anchor_registry()
    try:
        receipt = chain.transact(registry, abi, "anchor", [root, leaf_count], account)
    except ContractReverted as e:
        if e.name != "RootAlreadyAnchored":
            raise
        found = anchored_root(chain, registry, root)
        if found is None:
            raise ChainError(f"root 0x{root.hex()} reported anchored but not found") from e
        return found
    return receipt.block_number, receipt.tx_hash


def members_receipts(
    chain: Chain,
    registry: str,
    digests: Sequence[bytes],
    root: bytes,
    *,
    block_number: int,
    block_time: int,
    transaction_hash: str,
    what: str,
) -> list[AnchorReceipt]:
    """The receipt of every member of a stored batch (``digests`` in leaf order) whose root
    went on chain in ``block_number``; raises ChainError when the stored members do not
    rebuild ``root`` (``what`` names the batch in the message)."""
    tree = MerkleTree(digests)
    if tree.root != root or tree.size != len(digests):
        raise ChainError(f"{what}: stored members do not reproduce its root")
    return receipts_for_batch(
        tree,
        chain_id=chain.chain_id,
        registry=registry,
        block_number=block_number,
        block_time=block_time,
        transaction_hash=transaction_hash,
    )


def anchor_batch(
    chain: Chain,
    deployment: Deployment,
    account: LocalAccount,
    credentials: Sequence[Mapping[str, Any]],
) -> list[dict[str, Any]]:
    """Anchor one batch (one transaction) and return a bundle per credential, in order."""
    tree = MerkleTree(credential_digest(c) for c in credentials)
    abi = load_artifact("AnchorRegistry").abi
    receipt = chain.transact(
        deployment.anchor_registry, abi, "anchor", [tree.root, tree.size], account
    )
    receipts = receipts_for_batch(
        tree,
        chain_id=chain.chain_id,
        registry=deployment.anchor_registry,
        block_number=receipt.block_number,
        block_time=chain.block_time(receipt.block_number),
        transaction_hash=receipt.tx_hash,
    )
    return [make_bundle(c, r) for c, r in zip(credentials, receipts, strict=True)]


def set_statuses(
    chain: Chain,
    deployment: Deployment,
    account: LocalAccount,
    changes: Sequence[tuple[str, int, int]],
) -> None:
    """Record (credential id, status code, reason code) changes in one transaction."""
    abi = load_artifact("AnchorRegistry").abi
    hashes = [credential_id_hash(cid) for cid, _, _ in changes]
    statuses = [status for _, status, _ in changes]
    reasons = [reason for _, _, reason in changes]
    chain.transact(
        deployment.anchor_registry, abi, "setStatusBatch", [hashes, statuses, reasons], account
    )
