"""The bundle a wallet keeps and shares: ``{version, credential, anchor}``, anchor a receipt."""

from __future__ import annotations

import hashlib
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any

import jsonschema_rs
from jsonschema import Draft202012Validator

from verifier.errors import FieldError
from verifier.interop import interop_errors
from verifier.jcs import canonicalize, digest
from verifier.merkle import MERKLE_HASHES, MerkleHash, MerkleTree, merkle_digest
from verifier.schemas import load_schema

__all__ = [
    "BUNDLE_VERSION",
    "AnchorReceipt",
    "bundle_errors",
    "credential_digest",
    "credential_id_hash",
    "make_bundle",
    "receipts_for_batch",
]

BUNDLE_VERSION = "suixin-bundle/1"


def credential_digest(credential: Mapping[str, Any], hash: MerkleHash = "sha-256") -> bytes:
    """SHA-256 (or, for an SM3 deployment, SM3) of the JCS bytes of the signed credential: the
    Merkle leaf's content. Raises ``InvalidInput`` if the credential has no canonical form."""
    if hash == "sha-256":
        return digest(credential)
    return merkle_digest(canonicalize(credential), hash)


def credential_id_hash(credential_id: str) -> bytes:
    """SHA-256 of the credential id's UTF-8 bytes: the key of its status on chain."""
    return hashlib.sha256(credential_id.encode("utf-8")).digest()


@dataclass(frozen=True, slots=True)
class AnchorReceipt:
    """Proof that a credential's batch root is anchored: where, which leaf, which block.

    ``hash`` is the batch tree's hash, which is also the hash of the credential digest in
    its leaf. In JSON it is the optional member ``"hash"``: absent means ``"sha-256"`` (every
    receipt made before SM3 existed), and a SHA-256 receipt is written without it, so those
    bundles stay byte for byte what they were.
    """

    chain_id: int
    registry: str
    root: bytes
    leaf_index: int
    tree_size: int
    path: tuple[bytes, ...]
    block_number: int
    block_time: int
    transaction_hash: str
    block_hash: str = ""  # absent from receipts made before the office recorded it
    hash: MerkleHash = "sha-256"

    def to_json(self) -> dict[str, Any]:
        """The receipt as it appears in a bundle."""
        data: dict[str, Any] = {
            "chainId": self.chain_id,
            "registry": self.registry,
            "root": "0x" + self.root.hex(),
            "leafIndex": self.leaf_index,
            "treeSize": self.tree_size,
            "path": ["0x" + p.hex() for p in self.path],
            "blockNumber": self.block_number,
            "blockTime": self.block_time,
            "transactionHash": self.transaction_hash,
        }
        if self.block_hash:
            data["blockHash"] = self.block_hash
        if self.hash != "sha-256":
            data["hash"] = self.hash
        return data

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> AnchorReceipt:
        """Read a receipt that already passed the bundle schema.

        Raises ``ValueError`` (as for any unreadable member) when ``hash`` is present and not
        one of ``MERKLE_HASHES``.
        """
        hash = data.get("hash", "sha-256")
        if hash not in MERKLE_HASHES:
            raise ValueError(f"unknown anchor receipt hash {hash!r}")
        fromhex = bytes.fromhex
        return cls(  # positionally, in the fields' order (a receipt is read per verification)
            int(data["chainId"]),
            str(data["registry"]),
            fromhex(data["root"][2:]),
            int(data["leafIndex"]),
            int(data["treeSize"]),
            tuple([fromhex(p[2:]) for p in data["path"]]),
            int(data["blockNumber"]),
            int(data["blockTime"]),
            str(data["transactionHash"]),
            str(data.get("blockHash", "")),
            hash,
        )


def make_bundle(credential: Mapping[str, Any], anchor: AnchorReceipt | None) -> dict[str, Any]:
    """A bundle of a signed credential and its receipt (None while the batch is pending)."""
    return {
        "version": BUNDLE_VERSION,
        "credential": dict(credential),
        "anchor": anchor.to_json() if anchor is not None else None,
    }


def receipts_for_batch(
    tree: MerkleTree,
    *,
    chain_id: int,
    registry: str,
    block_number: int,
    block_time: int,
    transaction_hash: str,
    block_hash: str = "",
) -> list[AnchorReceipt]:
    """One receipt per leaf of an anchored batch tree, in leaf order, naming the tree's hash."""
    common: dict[str, Any] = {
        "hash": tree.hash,
        "chain_id": chain_id,
        "registry": registry,
        "root": tree.root,
        "tree_size": tree.size,
        "block_number": block_number,
        "block_time": block_time,
        "transaction_hash": transaction_hash,
        "block_hash": block_hash,
    }
    return [
        AnchorReceipt(leaf_index=i, path=tuple(tree.inclusion_proof(i)), **common)
        for i in range(tree.size)
    ]


@cache
def _validator() -> Draft202012Validator:
    return Draft202012Validator(load_schema("bundle"))


@cache
def _fast_validator() -> Any:
    return jsonschema_rs.Draft202012Validator(dict(load_schema("bundle")))


def bundle_errors(bundle: object) -> list[FieldError]:
    """Every way ``bundle`` breaks the bundle schema, as field errors (empty when it is sound).
    A lone surrogate or a number no double holds (``verifier.interop``) is reported alone."""
    return _bundle_errors(bundle, credential_clean=False)


def _bundle_errors(bundle: object, *, credential_clean: bool) -> list[FieldError]:
    """``bundle_errors``; ``credential_clean`` when the caller has proven that ``bundle`` is a
    ``dict`` whose ``credential`` is a ``dict`` that ``interop_errors`` finds nothing in (the
    verifier, by canonicalizing it on the compiled path): then neither check walks it again.
    The bundle schema asks of the credential only that it be an object."""
    if not (type(bundle) is dict or isinstance(bundle, Mapping)):
        return [
            FieldError(
                "", "bundle_not_object", "凭证包必须是 JSON 对象", "A bundle must be a JSON object."
            )
        ]
    outline: Mapping[Any, Any]
    if credential_clean:
        assert type(bundle) is dict and type(bundle["credential"]) is dict
        if _sound_by_schema(bundle):
            return []
        # the credential contributes no error, so the others' are the bundle's (same paths)
        outline = {k: ({} if k == "credential" else v) for k, v in bundle.items()}
        unreadable = interop_errors(outline)
    else:
        outline = bundle
        unreadable = interop_errors(bundle)
    if unreadable:  # nothing may encode or hash it: stop before anything tries
        return unreadable
    if _fast_validator().is_valid(outline):
        return []
    errors: Sequence[Any] = sorted(_validator().iter_errors(bundle), key=lambda e: list(e.path))
    return [
        FieldError(
            _path(e.path),
            "bundle_malformed",
            f"凭证包格式错误：{_path(e.path) or '根'} 不符合规范",
            f"Malformed bundle: {_path(e.path) or 'root'}: {e.message}",
        )
        for e in errors
    ]


# the anchor receipt's integers, the only values of a bundle the schema accepts that
# ``interop_errors`` could still find fault with (past doubles)
_RECEIPT_INTEGERS = ("chainId", "leafIndex", "treeSize", "blockNumber", "blockTime")
_SAFE = 2**53 - 1


def _sound_by_schema(bundle: dict[str, Any], validator: Any = None) -> bool:
    """Whether ``bundle``, its credential already proven readable, passes the bundle schema and
    holds nothing ``interop_errors`` reports: the compiled validator asked first, the walk
    spared (``_bundle_errors`` then finds nothing either). ``validator``, when given, is a
    compiled validator of a schema that includes the bundle schema (the verifier's fast path
    asks one that also holds the credential to its type's schema).

    What the schema accepts besides the credential is the version (a constant), the anchor's
    named members only (``additionalProperties`` is false), text matching ASCII patterns or an
    enumeration, and integers: no lone surrogate, so only an integer past ±(2**53 - 1) could be
    unreadable. Such an integer, any exception from the validator or anything else unexpected
    answers False, and the caller takes the full path."""
    try:
        if not (validator or _fast_validator()).is_valid(bundle):
            return False
    except Exception:  # e.g. an integer the compiled validator cannot hold: the walk decides
        return False
    anchor = bundle["anchor"]
    if anchor is None:
        return True
    if type(anchor) is not dict:
        return False
    for name in _RECEIPT_INTEGERS:
        value = anchor[name]
        if type(value) is not int or not -_SAFE <= value <= _SAFE:
            return False
    return True


def _path(parts: Any) -> str:
    out = ""
    for part in parts:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out
