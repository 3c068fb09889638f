"""The JSON-RPC backend against a real anvil node: nonces, timeouts, an unreachable node."""

from __future__ import annotations

from concurrent.futures import ThreadPoolExecutor

import pytest
from eth_account import Account

from service.devnode import AnvilNode, anvil_binary, free_port
from tests.conftest import funded, require
from verifier.chain import RpcChain
from verifier.errors import ChainUnavailable, ReceiptTimeout

pytestmark = pytest.mark.chain_rpc


def test_concurrent_senders_never_collide_on_nonces(anvil_node: AnvilNode) -> None:
    chain = RpcChain(anvil_node.url)
    sender = funded(chain)
    targets = [Account.create().address for _ in range(24)]
    with ThreadPoolExecutor(max_workers=8) as pool:
        receipts = list(pool.map(lambda to: chain.send_value(sender, to, 1), targets))
    assert all(r.status == 1 for r in receipts)
    assert len({r.tx_hash for r in receipts}) == len(targets)
    assert all(chain.balance(to) == 1 for to in targets)
    # a second adapter (another process, say) picks up where the node's nonce is
    other = RpcChain(anvil_node.url)
    assert other.send_value(sender, targets[0], 1).status == 1


def test_unreachable_node_is_its_own_error() -> None:
    chain = RpcChain(f"http://127.0.0.1:{free_port()}", request_timeout=2)
    with pytest.raises(ChainUnavailable, match="cannot be reached"):
        chain.block_number()


def test_receipt_wait_times_out_with_a_clear_error() -> None:
    require(anvil_binary() is not None, "anvil not installed: run `npm ci`")
    with AnvilNode(mining=False) as node:
        chain = RpcChain(node.url, receipt_timeout=0.5)
        sender = Account.from_key(chain.dev_funder().key)  # type: ignore[union-attr]
        with pytest.raises(ReceiptTimeout, match="no receipt"):
            chain.send_value(sender, Account.create().address, 1)
