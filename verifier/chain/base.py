"""The chain adapter's interface and the web3 machinery both backends share."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import AbstractContextManager, contextmanager, nullcontext
from dataclasses import dataclass, field
from typing import Any

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.exceptions import (
    BadFunctionCallOutput,
    ContractLogicError,
    ProviderConnectionError,
    TransactionNotFound,
    Web3RPCError,
)
from web3.types import BlockIdentifier

from verifier.chain.reverts import decode_revert
from verifier.contracts import Artifact, canonical_type
from verifier.errors import (
    ChainError,
    ChainMismatch,
    ChainUnavailable,
    ContractReverted,
    ReceiptTimeout,
    TransactionDropped,
)

__all__ = ["DROPPED_AFTER_SECONDS", "BlockInfo", "Chain", "EventDecoder", "LogEntry", "Receipt"]

DEV_FUNDING_WEI = 10**19  # 10 ether on a development chain: thousands of anchors
_GAS_MARGIN_NUM, _GAS_MARGIN_DEN = 5, 4  # send estimate × 1.25
_PRIORITY_FEE = 10**9
# How long a sent transaction may be unknown to the node before it counts as dropped (a node
# behind a load balancer may not have it from a peer at once).
DROPPED_AFTER_SECONDS = 2.0


@dataclass(frozen=True, slots=True)
class BlockInfo:
    """A block's number, hash and time (Unix seconds)."""

    number: int
    hash: str
    timestamp: int


@dataclass(frozen=True, slots=True)
class Receipt:
    """What came of a mined transaction."""

    tx_hash: str
    block_number: int
    status: int
    gas_used: int
    contract_address: str | None
    logs: list[Any] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class LogEntry:
    """One decoded event: its name, arguments and where it was emitted."""

    event: str
    args: dict[str, Any]
    address: str
    block_number: int
    tx_hash: str
    log_index: int


class EventDecoder:
    """Decodes raw logs of one contract ABI into LogEntry values."""

    def __init__(self, abi: list[dict[str, Any]]) -> None:
        self._contract = Web3().eth.contract(abi=abi)
        self._by_topic: dict[bytes, str] = {}
        for item in abi:
            if item.get("type") == "event":
                types = ",".join(canonical_type(i) for i in item["inputs"])
                self._by_topic[keccak(text=f"{item['name']}({types})")] = item["name"]

    def decode(self, log: Any) -> LogEntry | None:
        """Decode one raw log; None if it is not one of this ABI's events."""
        topics = log["topics"]
        if not topics:
            return None
        name = self._by_topic.get(bytes(topics[0]))
        if name is None:
            return None
        event = self._contract.events[name]().process_log(log)
        return LogEntry(
            event=name,
            args=dict(event["args"]),
            address=to_checksum_address(log["address"]),
            block_number=int(log["blockNumber"]),
            tx_hash=HexBytes(log["transactionHash"]).to_0x_hex(),
            log_index=int(log["logIndex"]),
        )


class Chain:
    """One chain, reached through web3: deploy, transact, call, logs, receipts, blocks.

    Backends differ only in how a signed transaction reaches a block (``_submit``) and in how
    they are set up. Every method raises ChainUnavailable when the node cannot be reached and
    ContractReverted, decoded to the custom error's name and arguments, when a call reverts.
    """

    kind = "abstract"

    def __init__(self, w3: Web3, *, receipt_timeout: float = 120.0, poll_interval: float = 0.1):
        # Transactions are built, signed and checked here; web3's validation middleware would
        # ask the node for its chain id on every request, and ENS lookups have no place here.
        for name in ("validation", "ens_name_to_address"):
            if name in w3.middleware_onion:
                w3.middleware_onion.remove(name)
        self.w3 = w3
        self.receipt_timeout = receipt_timeout
        self.poll_interval = poll_interval
        self._chain_id: int | None = None
        self._nonce_lock = threading.Lock()
        self._sender_locks: dict[str, threading.Lock] = {}
        self._next_nonce: dict[str, int] = {}
        # Set by an owner whose accounts also send from other processes (an office: its worker,
        # its command line): taken around nonce and submission, and then the nonce is read from
        # the node every time instead of counted here, so no two senders ever pick the same one.
        self.sender_guard: Callable[[str], AbstractContextManager[None]] | None = None

    # ------------------------------------------------------------------ identity and blocks

    @property
    def chain_id(self) -> int:
        """The chain id (read once)."""
        if self._chain_id is None:
            with self._translate():
                self._chain_id = int(self.w3.eth.chain_id)
        return int(self._chain_id)

    def block_number(self) -> int:
        """The number of the newest block."""
        with self._translate():
            return int(self.w3.eth.block_number)

    def block(self, number: BlockIdentifier = "latest") -> BlockInfo:
        """A block's number, hash and time."""
        with self._translate():
            b = self.w3.eth.get_block(number)
        return BlockInfo(int(b["number"]), HexBytes(b["hash"]).to_0x_hex(), int(b["timestamp"]))

    def block_time(self, number: BlockIdentifier = "latest") -> int:
        """A block's time in Unix seconds."""
        return self.block(number).timestamp

    def balance(self, address: str) -> int:
        """An account's balance in wei."""
        with self._translate():
            return int(self.w3.eth.get_balance(to_checksum_address(address)))

    def has_code(self, address: str) -> bool:
        """Whether a contract is deployed at ``address``."""
        with self._translate():
            return len(self.w3.eth.get_code(to_checksum_address(address))) > 0

    def dev_funder(self) -> LocalAccount | None:
        """A pre-funded account on development chains; None on real networks."""
        return None

    def top_up_if_dev(
        self, address: str, minimum_wei: int = 10**18, amount_wei: int = DEV_FUNDING_WEI
    ) -> bool:
        """Send ``amount_wei`` from the development funder to ``address`` when its balance is
        below ``minimum_wei``; False (and nothing sent) on real networks or when it has enough."""
        funder = self.dev_funder()
        if funder is None or self.balance(address) >= minimum_wei:
            return False
        self.send_value(funder, address, amount_wei)
        return True

    def close(self) -> None:
        """Release what the backend holds (files, processes). Idempotent."""

    # ------------------------------------------------------------------ reads

    def call(
        self,
        address: str,
        abi: list[dict[str, Any]],
        fn: str,
        args: Sequence[Any] = (),
        *,
        block: BlockIdentifier = "latest",
    ) -> Any:
        """Call a view function and return its decoded result. Raises ChainMismatch when no
        contract answers at ``address`` (the node's chain was reset or replaced): an empty
        answer is never read as a registry's "nothing here"."""
        contract = self.w3.eth.contract(address=to_checksum_address(address), abi=abi)
        try:
            with self._translate():
                return contract.functions[fn](*args).call(block_identifier=block)
        except BadFunctionCallOutput as e:
            if not self.has_code(address):
                raise ChainMismatch(
                    "no contract at this address: the chain was reset or replaced",
                    expected=f"a contract at {address}",
                    found=f"no code on chain {self.chain_id}",
                ) from e
            raise ChainError(f"{fn} at {address} answered what its ABI cannot decode") from e

    def get_logs(
        self,
        addresses: Sequence[str],
        from_block: int,
        to_block: BlockIdentifier = "latest",
    ) -> list[Any]:
        """Raw logs emitted by ``addresses`` in the block range, in chain order."""
        flt: Any = {
            "address": [to_checksum_address(a) for a in addresses],
            "fromBlock": from_block,
            "toBlock": to_block,
        }
        with self._translate():
            logs = self.w3.eth.get_logs(flt)
        return sorted(logs, key=lambda log: (int(log["blockNumber"]), int(log["logIndex"])))

    # ------------------------------------------------------------------ writes

    def deploy(self, artifact: Artifact, args: Sequence[Any], sender: LocalAccount) -> Receipt:
        """Deploy a contract; the receipt carries its address."""
        factory = self.w3.eth.contract(abi=artifact.abi, bytecode=artifact.bytecode)
        data = factory.constructor(*args).data_in_transaction
        receipt = self._send(sender, {"data": data})
        if receipt.contract_address is None:
            raise ChainError(f"deploying {artifact.name} produced no contract address")
        return receipt

    def transact(
        self,
        address: str,
        abi: list[dict[str, Any]],
        fn: str,
        args: Sequence[Any],
        sender: LocalAccount,
    ) -> Receipt:
        """Sign locally, send, wait for the receipt; raises ContractReverted on a revert."""
        contract = self.w3.eth.contract(address=to_checksum_address(address), abi=abi)
        data = contract.encode_abi(fn, args=list(args))
        return self._send(sender, {"to": contract.address, "data": data})

    def send_value(self, sender: LocalAccount, to: str, wei: int) -> Receipt:
        """Transfer ``wei`` from ``sender`` to ``to``."""
        return self._send(sender, {"to": to_checksum_address(to), "value": wei})

    def wait_for_receipt(self, tx_hash: str, timeout: float | None = None) -> Receipt:
        """Wait for a transaction's receipt; raises ReceiptTimeout after ``timeout`` seconds,
        and TransactionDropped as soon as the node has not known the transaction (neither
        mined nor waiting in its pool) for ``DROPPED_AFTER_SECONDS``: a node restarted without
        it, or evicted it, will never mine it."""
        limit = self.receipt_timeout if timeout is None else timeout
        started = time.monotonic()
        unknown_since: float | None = None
        while True:
            found = self.receipt(tx_hash)
            if found is not None:
                return found
            now = time.monotonic()
            if self._knows(tx_hash):
                unknown_since = None
            elif unknown_since is None:
                unknown_since = now
            elif now - unknown_since >= DROPPED_AFTER_SECONDS:
                raise TransactionDropped(
                    f"the chain node no longer knows transaction {tx_hash} (it restarted "
                    "without it, or evicted it): it was not mined and will not be"
                )
            if now - started >= limit:
                raise ReceiptTimeout(
                    f"no receipt for transaction {tx_hash} after {limit:.1f} s; it may still be "
                    "mined later: look it up before sending it again"
                )
            time.sleep(self.poll_interval)

    def _knows(self, tx_hash: str) -> bool:
        """Whether the node holds the transaction, mined or in its pool."""
        with self._translate():
            try:
                self.w3.eth.get_transaction(HexBytes(tx_hash))
            except TransactionNotFound:
                return False
        return True

    def receipt(self, tx_hash: str) -> Receipt | None:
        """The receipt of a transaction if it is mined, else None."""
        with self._translate():
            try:
                r = self.w3.eth.get_transaction_receipt(HexBytes(tx_hash))
            except TransactionNotFound:
                return None
        return _receipt(r)

    # ------------------------------------------------------------------ machinery

    def _send(self, sender: LocalAccount, tx: dict[str, Any]) -> Receipt:
        tx = {**tx, "from": sender.address, "chainId": self.chain_id}
        with self._translate():
            estimate = int(self.w3.eth.estimate_gas(tx))  # type: ignore[arg-type]
            tx["gas"] = estimate * _GAS_MARGIN_NUM // _GAS_MARGIN_DEN
            tx.update(self._fees())
        guard = self.sender_guard
        with (
            self._sender_lock(sender.address),
            guard(sender.address) if guard is not None else nullcontext(),
        ):
            if guard is not None:
                self._next_nonce.pop(sender.address, None)  # another process may have sent
            tx["nonce"] = self._reserve_nonce(sender.address)
            signed = Account.sign_transaction(tx, sender.key)
            try:
                tx_hash = self._submit(bytes(signed.raw_transaction))
            except BaseException:
                self._next_nonce.pop(sender.address, None)  # re-read from the node next time
                raise
        try:
            receipt = self.wait_for_receipt(tx_hash)
        except ChainError:
            # Not seen mined: the node may have lost the transaction (a restart, an outage),
            # so the account's next nonce is asked of the node again. Kept, it would leave a
            # gap that no later transaction of this sender could get past.
            self._next_nonce.pop(sender.address, None)
            raise
        if receipt.status != 1:
            raise self._explain_failure(tx, receipt)
        return receipt

    def _fees(self) -> dict[str, int]:
        latest = self.w3.eth.get_block("latest")
        base = latest.get("baseFeePerGas")
        if base is None or int(base) == 0:
            return {"gasPrice": int(self.w3.eth.gas_price)}
        return {
            "maxFeePerGas": 2 * int(base) + _PRIORITY_FEE,
            "maxPriorityFeePerGas": _PRIORITY_FEE,
        }

    @contextmanager
    def _sender_lock(self, address: str) -> Iterator[None]:
        with self._nonce_lock:
            lock = self._sender_locks.setdefault(address, threading.Lock())
        with lock:
            yield

    def _reserve_nonce(self, address: str) -> int:
        if address not in self._next_nonce:
            with self._translate():
                self._next_nonce[address] = int(
                    self.w3.eth.get_transaction_count(to_checksum_address(address), "pending")
                )
        nonce = self._next_nonce[address]
        self._next_nonce[address] = nonce + 1
        return nonce

    def _submit(self, raw: bytes) -> str:
        """Hand a signed transaction to the chain and return its hash."""
        with self._translate():
            return HexBytes(self.w3.eth.send_raw_transaction(raw)).to_0x_hex()

    def _explain_failure(self, tx: dict[str, Any], receipt: Receipt) -> ChainError:
        replay = {k: v for k, v in tx.items() if k in ("from", "to", "data", "value")}
        try:
            with self._translate():
                self.w3.eth.call(replay, block_identifier=max(receipt.block_number - 1, 0))  # type: ignore[arg-type]
        except ContractReverted as e:
            return e
        return ChainError(f"transaction {receipt.tx_hash} failed in block {receipt.block_number}")

    def _endpoint(self) -> str:
        return self.kind

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """Wrap web3 and transport exceptions into the verifier's error tree."""
        try:
            yield
        except ContractLogicError as e:
            raise decode_revert(e.data if isinstance(e.data, str | bytes) else None) from e
        except (
            requests.exceptions.ConnectionError,
            requests.exceptions.Timeout,
            ProviderConnectionError,
            ConnectionError,
        ) as e:
            raise ChainUnavailable(
                f"the chain node at {self._endpoint()} cannot be reached: {e}"
            ) from e
        except Web3RPCError as e:
            raise ChainError(f"the chain node at {self._endpoint()} refused a request: {e}") from e


def _receipt(r: Any) -> Receipt:
    address = r.get("contractAddress")
    return Receipt(
        tx_hash=HexBytes(r["transactionHash"]).to_0x_hex(),
        block_number=int(r["blockNumber"]),
        status=int(r["status"]),
        gas_used=int(r["gasUsed"]),
        contract_address=to_checksum_address(address) if address else None,
        logs=list(r["logs"]),
    )
