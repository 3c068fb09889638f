"""The deployment record: which chain, which registry addresses, from which block and build.

The record pins the chain's identity: its id, the registries' addresses and the hash of the
block that deployed them. ``check_chain`` compares a live node with it on every connect and
sync; a node that serves another chain (reset, replaced, another network) raises
``ChainMismatch``, never a verdict. ``confirmations`` is the deployment's finality depth: an
anchor or status change counts once that many blocks are on top of its own.
``anchoring_hash`` is the hash of its credential Merkle trees and leaves, ``sha-256`` or ``sm3``
(GB/T 32905), chosen when the registries are deployed: a verifier that knows the deployment
refuses a receipt made with the other.
"""

from __future__ import annotations

import json
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from verifier.errors import ChainMismatch, InvalidInput
from verifier.merkle import MERKLE_HASHES, MerkleHash

if TYPE_CHECKING:
    from verifier.chain import Chain

__all__ = ["DEV_CHAIN_IDS", "Deployment", "default_confirmations"]

#: Chain ids of single-node development chains (eth-tester, anvil, hardhat, ganache): blocks are
#: final once mined, so they need no confirmations.
DEV_CHAIN_IDS = frozenset({131277322940537, 31337, 1337})


def default_confirmations(chain_id: int) -> int:
    """The finality depth a deployment on ``chain_id`` records unless told otherwise: 0 on a
    development chain; 12 elsewhere (a public proof-of-stake chain reorganises a few blocks at
    most; an instant-finality consortium chain should be deployed with ``--confirmations 0``
    or 1)."""
    return 0 if chain_id in DEV_CHAIN_IDS else 12


@dataclass(frozen=True, slots=True)
class Deployment:
    """Where the two registries live; what a verifier needs besides a chain URL."""

    chain_id: int
    trust_registry: str
    anchor_registry: str
    block_number: int
    block_hash: str
    deployed_at: int
    governance_root: str
    compiler_version: str
    source_hash: str
    confirmations: int = 0
    anchoring_hash: MerkleHash = "sha-256"
    # the AnchorRegistry takes status list digests (setStatusBatchWithLists): records of
    # registries deployed before it could say False, and their credentials carry no list entries
    status_lists: bool = False

    def __post_init__(self) -> None:
        if self.anchoring_hash not in MERKLE_HASHES:
            raise InvalidInput(
                f"a deployment anchors with {' or '.join(MERKLE_HASHES)}, "
                f"not {self.anchoring_hash!r}"
            )

    def to_json(self) -> dict[str, Any]:
        """The record as camelCase JSON."""
        d = asdict(self)
        return {_camel(k): v for k, v in d.items()}

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Deployment:
        """Read a record; raises InvalidInput naming the missing or wrong field."""
        # fields of records written before they existed, and their meaning then
        optional: dict[str, Any] = {
            "confirmations": 0,
            "anchoring_hash": "sha-256",
            "status_lists": False,
        }
        try:
            return cls(
                **{
                    name: data[_camel(name)]
                    if name not in optional
                    else data.get(_camel(name), optional[name])
                    for name in cls.__dataclass_fields__
                }
            )
        except KeyError as e:
            raise InvalidInput(f"deployment record lacks field {e.args[0]!r}") from e
        except TypeError as e:
            raise InvalidInput(f"deployment record is malformed: {e}") from e

    def identity(self) -> str:
        """The chain identity the record pins, as people read it."""
        return f"chain {self.chain_id}, block {self.block_number} {self.block_hash}"

    def check_chain(self, chain: Chain) -> None:
        """Raise ChainMismatch unless ``chain`` is this deployment's chain: the same chain id,
        and the deploying block still there with the same hash. Raises ChainUnavailable when
        the node cannot be reached. Two or three chain reads."""
        if chain.chain_id != self.chain_id:
            raise ChainMismatch(
                "another chain id", expected=str(self.chain_id), found=str(chain.chain_id)
            )
        head = chain.block_number()
        if head < self.block_number:
            raise ChainMismatch(
                "the chain is shorter than the block that deployed the registries (reset?)",
                expected=self.identity(),
                found=f"chain {self.chain_id} ending at block {head}",
            )
        found = chain.block(self.block_number).hash
        if found != self.block_hash:
            raise ChainMismatch(
                "the block that deployed the registries is another one (reset or replaced?)",
                expected=self.identity(),
                found=f"block {self.block_number} {found}",
            )

    def save(self, path: Path) -> None:
        """Write the record as indented JSON."""
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(json.dumps(self.to_json(), indent=2) + "\n", encoding="utf-8")

    @classmethod
    def load(cls, path: Path) -> Deployment:
        """Read a record file; raises InvalidInput if it cannot be read."""
        try:
            data = json.loads(path.read_text(encoding="utf-8"))
        except (OSError, ValueError) as e:
            raise InvalidInput(f"cannot read deployment record {path}: {e}") from e
        return cls.from_json(data)


def _camel(name: str) -> str:
    head, *rest = name.split("_")
    return head + "".join(part.title() for part in rest)
