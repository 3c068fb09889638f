"""A first end-to-end pass over both backends: accredit, add a key, anchor, read back."""

from __future__ import annotations

import pytest

from tests.conftest import Registries
from verifier.errors import ContractReverted

ED25519 = 1  # KeyAlgorithm.Ed25519


def test_accredit_key_anchor_roundtrip(registries: Registries) -> None:
    authority = registries.accredit()
    registries.trust_tx(
        "addKey", ["did:web:lsj.gz.gov.cn", "key-1", ED25519, b"\x11" * 32], authority
    )
    receipt = registries.anchor_tx("anchor", [b"\x22" * 32, 7], authority)
    record = registries.anchor_call("anchorOf", b"\x22" * 32)
    assert record[0] == 1 and record[1] == 7
    assert record[2] == registries.chain.block_time(receipt.block_number)
    with pytest.raises(ContractReverted) as e:
        registries.anchor_tx("anchor", [b"\x22" * 32, 7], authority)
    assert e.value.name == "RootAlreadyAnchored"
    assert e.value.arguments["authorityId"] == 1
