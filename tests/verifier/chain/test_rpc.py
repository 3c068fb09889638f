"""The JSON-RPC backend against a real anvil node: nonces, timeouts, an unreachable node."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pytest
from eth_account import Account
from eth_account.signers.local import LocalAccount

from service.anchoring.devnode import AnvilNode, anvil_binary, free_port
from tests.conftest import funded, require
from verifier.chain import RpcChain
from verifier.chain.base import DROPPED_AFTER_SECONDS
from verifier.errors import ChainUnavailable, ReceiptTimeout, TransactionDropped

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


def _send_in_thread(
    chain: RpcChain, sender: LocalAccount
) -> tuple[threading.Thread, list[BaseException]]:
    errors: list[BaseException] = []

    def send() -> None:
        try:
            chain.send_value(sender, Account.create().address, 1)
        except BaseException as e:
            errors.append(e)

    thread = threading.Thread(target=send)
    thread.start()
    return thread, errors


def test_a_node_restarted_without_a_sent_transaction_leaves_no_nonce_gap(tmp_path: Path) -> None:
    # The CI failure of stop 11: a transaction sent, the node stopped before mining it, and the
    # adapter's cached nonce then pointed past it, so every later send sat in the pool forever.
    require(anvil_binary() is not None, "anvil not installed: run `npm ci`")
    node = AnvilNode(port=free_port(), mining=False, state_path=tmp_path / "state.json").start()
    try:
        chain = RpcChain(node.url, receipt_timeout=20)
        sender = Account.from_key(chain.dev_funder().key)  # type: ignore[union-attr]
        thread, errors = _send_in_thread(chain, sender)
        time.sleep(0.5)  # sent, waiting for its receipt
        node.stop()
        thread.join(timeout=30)
        assert [type(e) for e in errors] == [ChainUnavailable]
        node.mining = True
        node.start()  # same port; the unmined transaction is gone
        started = time.monotonic()
        receipt = chain.send_value(sender, Account.create().address, 1)
        assert receipt.status == 1
        assert time.monotonic() - started < 10, "the send waited on a nonce gap"
        assert chain.w3.eth.get_transaction_count(sender.address) == 1
    finally:
        node.stop()


def test_a_dropped_transaction_is_reported_at_once_and_the_next_send_goes_through() -> None:
    require(anvil_binary() is not None, "anvil not installed: run `npm ci`")
    with AnvilNode(mining=False) as node:
        chain = RpcChain(node.url, receipt_timeout=60)
        sender = Account.from_key(chain.dev_funder().key)  # type: ignore[union-attr]
        thread, errors = _send_in_thread(chain, sender)
        time.sleep(0.5)
        chain.w3.provider.make_request("anvil_dropAllTransactions", [])  # type: ignore[arg-type]
        thread.join(timeout=DROPPED_AFTER_SECONDS + 10)
        assert not thread.is_alive(), "the wait went on for a transaction the node dropped"
        assert [type(e) for e in errors] == [TransactionDropped]
        assert "no longer knows" in str(errors[0])
        chain.w3.provider.make_request("evm_setAutomine", [True])  # type: ignore[arg-type]
        assert chain.send_value(sender, Account.create().address, 1).status == 1
        assert chain.w3.eth.get_transaction_count(sender.address) == 1
