"""Helpers for the contract suites: revert assertions by selector, event decoding, hashes."""

from __future__ import annotations

import itertools
from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils import keccak

from tests.conftest import Registries
from verifier.chain import EventDecoder, Receipt
from verifier.errors import ContractReverted

ZERO_ADDRESS = "0x" + "00" * 20
ZERO_BYTES32 = b"\x00" * 32

DID = "did:web:lsj.gz.gov.cn"
OTHER_DID = "did:web:amr.sz.gov.cn"

_unique = itertools.count(1)


def unique(prefix: str) -> str:
    """A string no other call in this process returns, so fuzzed examples never collide."""
    return f"{prefix}{next(_unique)}"


def selector(signature: str) -> str:
    """The 4-byte selector of a custom error, hex without 0x, computed from its signature."""
    return keccak(text=signature)[:4].hex()


def h(text: str) -> bytes:
    """keccak256 of a UTF-8 string, as the registries hash DIDs and key ids."""
    return keccak(text.encode("utf-8"))


def _normalise(value: Any) -> Any:
    # eth-abi decodes addresses in revert data in lower case; events give checksummed ones.
    if isinstance(value, str) and value.startswith("0x") and len(value) == 42:
        return value.lower()
    return value


@contextmanager
def reverts(signature: str, **arguments: Any) -> Iterator[None]:
    """Expect a revert with exactly this custom error (by selector) and these arguments."""
    with pytest.raises(ContractReverted) as info:
        yield
    error = info.value
    assert error.name == signature.split("(", 1)[0], str(error)
    assert error.selector == selector(signature), str(error)
    assert {k: _normalise(v) for k, v in error.arguments.items()} == {
        k: _normalise(v) for k, v in arguments.items()
    }


def events(receipt: Receipt, abi: list[dict[str, Any]]) -> list[tuple[str, dict[str, Any]]]:
    """The (name, arguments) of every event of ``abi`` in the receipt, in log order."""
    decoder = EventDecoder(abi)
    decoded = [decoder.decode(log) for log in receipt.logs]
    return [(e.event, e.args) for e in decoded if e is not None]


def trust_events(registries: Registries, receipt: Receipt) -> list[tuple[str, dict[str, Any]]]:
    """The TrustRegistry events in a receipt."""
    return events(receipt, registries.trust_abi)


def anchor_events(registries: Registries, receipt: Receipt) -> list[tuple[str, dict[str, Any]]]:
    """The AnchorRegistry events in a receipt."""
    return events(receipt, registries.anchor_abi)


def block_time(registries: Registries, receipt: Receipt) -> int:
    """The time of the block that holds ``receipt``."""
    return registries.chain.block_time(receipt.block_number)


def bystander() -> LocalAccount:
    """An address that never sends a transaction (no funds needed)."""
    return Account.create()
