"""Anchoring: put a batch's Merkle root on chain and hand every credential its receipt."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from eth_account.signers.local import LocalAccount

from verifier.bundle import credential_digest, credential_id_hash, make_bundle, receipts_for_batch
from verifier.chain import Chain
from verifier.contracts import load_artifact
from verifier.deployment import Deployment
from verifier.merkle import MerkleTree

__all__ = ["anchor_batch", "set_statuses"]


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
