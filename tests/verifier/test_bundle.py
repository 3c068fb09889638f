"""Tests for verifier.bundle: anchor receipts in JSON, with and without the ``hash`` member."""

from __future__ import annotations

from typing import Any

import gmssl_pyx
import pytest

from tests.verifier.factories import residence_permit
from verifier.bundle import (
    AnchorReceipt,
    bundle_errors,
    credential_digest,
    make_bundle,
    receipts_for_batch,
)
from verifier.jcs import canonicalize, digest
from verifier.merkle import MerkleHash, MerkleTree, verify_inclusion

BATCH: dict[str, Any] = {
    "chain_id": 1337,
    "registry": "0x" + "ab" * 20,
    "block_number": 12,
    "block_time": 1_795_000_000,
    "transaction_hash": "0x" + "cd" * 32,
}


def _receipts(hash: MerkleHash) -> tuple[list[dict[str, Any]], list[AnchorReceipt]]:
    credentials = [residence_permit() for _ in range(3)]
    tree = MerkleTree((credential_digest(c, hash) for c in credentials), hash=hash)
    return credentials, receipts_for_batch(tree, **BATCH)


def test_credential_digest_with_either_hash() -> None:
    credential = residence_permit()
    assert credential_digest(credential) == digest(credential)
    assert credential_digest(credential, "sm3") == gmssl_pyx.sm3_hash(canonicalize(credential))


@pytest.mark.parametrize("hash", ["sha-256", "sm3"])
def test_receipts_name_their_tree_hash_and_prove_inclusion(hash: MerkleHash) -> None:
    credentials, receipts = _receipts(hash)
    for credential, receipt in zip(credentials, receipts, strict=True):
        assert receipt.hash == hash
        assert verify_inclusion(
            credential_digest(credential, hash),
            receipt.leaf_index,
            receipt.tree_size,
            receipt.path,
            receipt.root,
            hash,
        )
        assert AnchorReceipt.from_json(receipt.to_json()) == receipt
        assert bundle_errors(make_bundle(credential, receipt)) == []


def test_sha256_receipts_are_written_as_before_and_sm3_ones_say_so() -> None:
    _, (sha, *_) = _receipts("sha-256")
    _, (sm3, *_) = _receipts("sm3")
    assert "hash" not in sha.to_json()
    assert sm3.to_json()["hash"] == "sm3"
    assert AnchorReceipt.from_json({**sha.to_json(), "hash": "sha-256"}) == sha


@pytest.mark.parametrize("name", ["md5", "SHA-256", "", None])
def test_an_unknown_hash_is_refused_by_schema_and_reader(name: Any) -> None:
    credentials, receipts = _receipts("sm3")
    anchor = {**receipts[0].to_json(), "hash": name}
    errors = bundle_errors({**make_bundle(credentials[0], None), "anchor": anchor})
    assert [e.code for e in errors] == ["bundle_malformed"]
    with pytest.raises(ValueError, match="unknown anchor receipt hash"):
        AnchorReceipt.from_json(anchor)


def test_a_receipt_is_read_member_by_member_into_its_fields() -> None:
    raw = {
        "chainId": 11,
        "registry": "0x" + "12" * 20,
        "root": "0x" + "01" * 32,
        "leafIndex": 3,
        "treeSize": 7,
        "path": ["0x" + "02" * 32, "0x" + "03" * 32],
        "blockNumber": 5,
        "blockTime": 1_700_000_000,
        "transactionHash": "0x" + "04" * 32,
        "blockHash": "0x" + "05" * 32,
        "hash": "sm3",
    }
    receipt = AnchorReceipt.from_json(raw)
    assert receipt == AnchorReceipt(
        chain_id=11,
        registry="0x" + "12" * 20,
        root=b"\x01" * 32,
        leaf_index=3,
        tree_size=7,
        path=(b"\x02" * 32, b"\x03" * 32),
        block_number=5,
        block_time=1_700_000_000,
        transaction_hash="0x" + "04" * 32,
        block_hash="0x" + "05" * 32,
        hash="sm3",
    )
    assert receipt.to_json() == raw
