"""The embedded backend: an in-process eth-tester chain that survives restarts through a journal.

Every block the process mines is appended to ``<data_dir>/chain-journal.jsonl`` (its time and the
signed raw transactions in it) and flushed to disk before the sender sees a receipt. On start the
journal is replayed into a fresh chain with the same genesis, so every block comes back with its
original number, time and hash. A transaction whose block was not journaled (a crash mid-send)
was never acknowledged, so the caller's durable queue sends it again.

One process at a time holds a data directory's chain (``flock`` on ``chain-journal.lock``): a
second one would replay the journal and then append blocks of its own to it. While it is held,
``ChainInUse`` says so, with the URL of the node serving it when there is one
(``chain-node.json``, written by ``suixin node``), which ``verifier.chain.connect`` then uses.
"""

from __future__ import annotations

import ast
import fcntl
import json
import os
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eth.abc import SignedTransactionAPI, StateAPI
from eth.vm.spoof import SpoofTransaction
from eth_account import Account
from eth_account.signers.local import LocalAccount
from eth_tester import PyEVMBackend
from eth_tester.backends.pyevm.main import _get_transaction_by_hash as _search_transaction
from eth_tester.backends.pyevm.serializers import (
    serialize_transaction,
    serialize_transaction_receipt,
)
from eth_tester.exceptions import TransactionFailed, TransactionNotFound
from eth_utils.crypto import keccak
from hexbytes import HexBytes
from web3 import Web3
from web3.providers.eth_tester import EthereumTesterProvider

from verifier.chain._log_index import IndexedTester
from verifier.chain.base import Chain
from verifier.chain.reverts import decode_revert
from verifier.errors import ChainError

__all__ = ["ChainInUse", "EmbeddedChain", "revert_data"]


class ChainInUse(ChainError):
    """Another process holds this data directory's embedded chain; ``node_url`` is where its
    node answers JSON-RPC, if it serves one."""

    def __init__(self, data_dir: Path, node_url: str | None) -> None:
        self.node_url = node_url
        where = f", served as a node on {node_url}" if node_url else ""
        super().__init__(
            f"the embedded chain in {data_dir} is already open (another process, or another "
            f"chain object of this one){where}: stop that "
            "process, or reach the chain with --chain URL of its node / 该数据目录的内嵌链正被"
            "另一进程使用"
        )


JOURNAL_NAME = "chain-journal.jsonl"
LOCK_NAME = "chain-journal.lock"
NODE_NAME = "chain-node.json"  # {"url": ..., "pid": ...} while a node serves the chain
_JOURNAL_VERSION = 1


def _gas_in_one_run(state: StateAPI, transaction: SignedTransactionAPI) -> int:
    """The gas ``transaction`` consumes when given the block's whole gas limit: its intrinsic
    gas plus what its execution used, refunds not deducted; a failure raises as py-evm's own
    estimator does (so a revert is still reported before sending).

    py-evm's default estimator binary-searches the smallest gas limit that succeeds, running
    the transaction a dozen times: an anchoring transaction took 29.5 ms of CPU with it and
    takes 12.1 ms with this, all under the GIL of the process that serves requests (measured
    on the 2-core development machine). One run gives the consumption; the limit a
    transaction needs can exceed it by the 1/64 each call keeps back (EIP-150), which the
    sender's 25 % margin (``Chain._send``) covers.
    """
    spoof = SpoofTransaction(transaction, gas=state.gas_limit, gas_price=0)
    snapshot = state.snapshot()
    try:
        computation = state.apply_transaction(spoof)  # type: ignore[arg-type]
        if computation.is_error:
            raise computation.error
        return int(transaction.intrinsic_gas + computation.get_gas_used())
    finally:
        state.revert(snapshot)


class _DeterministicBackend(PyEVMBackend):  # type: ignore[misc]
    """py-evm backend whose blocks depend only on their contents and times (no random mix hash),
    estimating gas in one run (``_gas_in_one_run``), finding a mined transaction by its hash
    through an index of the blocks holding them.

    py-evm's backend finds a transaction by walking back from the head, block by block: every
    receipt of an old transaction cost the chain's length (``IndexedTester``'s docstring).
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._tx_blocks: dict[bytes, int] = {}  # mined transaction hash -> its block's number
        super().__init__(*args, **kwargs)

    @property
    def chain(self) -> Any:  # py-evm's MiningChain
        return self._suixin_chain

    @chain.setter
    def chain(self, value: Any) -> None:  # set by eth-tester at start and on a reset
        value.gas_estimator = _gas_in_one_run
        self._suixin_chain = value

    def mine_blocks(self, num_blocks: int = 1, coinbase: bytes = b"\0" * 20) -> tuple[bytes, ...]:
        hashes = []
        for _ in range(num_blocks):
            parent = self.chain.get_canonical_head()
            block = self.chain.mine_block(
                coinbase=coinbase,
                mix_hash=keccak(b"suixin-embedded-prevrandao" + parent.hash),
                blob_gas_used=0,
            )
            for transaction in block.transactions:
                self._tx_blocks[transaction.hash] = block.number
            hashes.append(block.hash)
        return tuple(hashes)

    def _find(self, transaction_hash: bytes) -> tuple[Any, Any, int]:
        """(block, transaction, index) of a transaction, mined or pending; raises
        TransactionNotFound. Every mined block passes through ``mine_blocks``, so a hash the
        index does not hold is in the pending block or nowhere; one whose block was rewound
        away (a snapshot reverted) is looked for as eth-tester does."""
        number = self._tx_blocks.get(transaction_hash)
        pending = self.chain.get_block()
        if number is None or number >= pending.number:
            block = pending
        else:
            block = self.chain.get_canonical_block_by_number(number)
        for index, transaction in enumerate(block.transactions):
            if transaction.hash == transaction_hash:
                return block, transaction, index
        if number is None:
            raise TransactionNotFound(
                f"no transaction {HexBytes(transaction_hash).to_0x_hex()} on this chain"
            )
        return _search_transaction(self.chain, transaction_hash)  # type: ignore[no-any-return]

    def get_transaction_by_hash(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._find(transaction_hash)
        pending = block.number == self.chain.get_block().number
        return serialize_transaction(block, transaction, index, pending)

    def get_transaction_receipt(self, transaction_hash: bytes) -> Any:
        block, transaction, index = self._find(transaction_hash)
        pending = block.number == self.chain.get_block().number
        receipts = block.get_receipts(self.chain.chaindb)
        vm = self.chain.get_vm()
        return serialize_transaction_receipt(block, receipts, transaction, index, pending, vm)


class _LockedProvider(EthereumTesterProvider):
    """eth-tester is not thread-safe: every request holds the chain's lock."""

    def __init__(self, tester: IndexedTester, lock: threading.RLock) -> None:
        super().__init__(tester)
        self._lock = lock

    def make_request(self, method: Any, params: Any) -> Any:
        with self._lock:
            return super().make_request(method, params)


class EmbeddedChain(Chain):
    """eth-tester in process; with a ``data_dir`` its blocks persist across restarts."""

    kind = "embedded"

    def __init__(self, data_dir: Path | str | None = None) -> None:
        self._lock = threading.RLock()
        self._journal_path = Path(data_dir) / JOURNAL_NAME if data_dir is not None else None
        self._owner: weakref.finalize[Any, Any] | None = None
        if data_dir is not None:  # given back by close(), or when this object is collected
            self._owner = weakref.finalize(self, os.close, _hold(Path(data_dir)))
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        header, blocks = self._read_journal()
        genesis = PyEVMBackend.generate_genesis_params(
            overrides={"timestamp": header["genesisTime"]}
        )
        self._backend = _DeterministicBackend(genesis_parameters=genesis)
        self._tester = IndexedTester(backend=self._backend, auto_mine_transactions=False)
        super().__init__(Web3(_LockedProvider(self._tester, self._lock)), poll_interval=0.0)
        self._journal = None
        if self._journal_path is not None:
            self._journal_path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self._journal_path.exists()
            self._journal = self._journal_path.open("a", encoding="utf-8")
            if fresh:
                self._append(header)
        self._replay(blocks)

    # ------------------------------------------------------------------ public

    @property
    def journal_path(self) -> Path | None:
        """Where blocks are journaled, or None for a chain that lives in memory only."""
        return self._journal_path

    def dev_funder(self) -> LocalAccount:
        """eth-tester's first pre-funded account."""
        account: LocalAccount = Account.from_key(self._backend.account_keys[0].to_bytes())
        return account

    def tester_logs(
        self, from_block: Any = None, to_block: Any = None, address: Any = None, topics: Any = None
    ) -> tuple[Any, ...]:
        """eth-tester's log entries for a query, before web3 formats them (snake_case keys,
        hex strings, integers): the node turns them into JSON-RPC's form at less cost."""
        with self._lock:
            return self._tester.get_logs(
                from_block=from_block, to_block=to_block, address=address, topics=topics
            )

    def send_raw(self, raw: bytes) -> str:
        """Mine a signed transaction in a block of its own (journaled); its hash. What
        ``eth_sendRawTransaction`` does when this chain is served as a node."""
        return self._submit(raw)

    def close(self) -> None:
        """Close the journal and let another process open the chain."""
        journal = getattr(self, "_journal", None)  # None too when opening failed early
        if journal is not None:
            journal.close()
            self._journal = None
        if self._owner is not None:
            self._owner()  # closes the descriptor, which releases the flock
            self._owner = None

    # ------------------------------------------------------------------ machinery

    @contextmanager
    def _translate(self) -> Iterator[None]:
        """Also decode eth-tester's own TransactionFailed into ContractReverted."""
        try:
            with super()._translate():
                yield
        except TransactionFailed as e:
            raise decode_revert(revert_data(e)) from e

    def _submit(self, raw: bytes) -> str:
        with self._lock:
            parent_time = int(self._backend.chain.get_canonical_head().timestamp)
            timestamp = max(parent_time + 1, int(time.time()))
            tx_hash = self._mine([raw], timestamp)
            self._append({"t": timestamp, "n": self._head_number(), "txs": ["0x" + raw.hex()]})
            return tx_hash

    def _mine(self, raws: list[bytes], timestamp: int) -> str:
        # Transactions are applied to the pending block directly, after its time is set, so that
        # TIMESTAMP inside the contracts reads the block's real time (eth-tester would otherwise
        # keep the time at which the previous block was mined).
        chain = self._backend.chain
        chain.header = chain.header.copy(timestamp=timestamp)
        tx_hash = b""
        with self._translate():
            for raw in raws:
                tx = chain.get_vm().get_transaction_builder().decode(raw)
                chain.apply_transaction(tx)
                tx_hash = tx.hash
            self._tester.mine_blocks(1)
        return HexBytes(tx_hash).to_0x_hex()

    def _head_number(self) -> int:
        return int(self._backend.chain.get_canonical_head().block_number)

    def _append(self, record: dict[str, Any]) -> None:
        if self._journal is None:
            return
        self._journal.write(json.dumps(record, separators=(",", ":")) + "\n")
        self._journal.flush()
        os.fsync(self._journal.fileno())

    def _read_journal(self) -> tuple[dict[str, Any], list[dict[str, Any]]]:
        fresh = {"v": _JOURNAL_VERSION, "genesisTime": int(time.time()) - 1}
        if self._journal_path is None or not self._journal_path.exists():
            return fresh, []
        lines = self._journal_path.read_text(encoding="utf-8").splitlines()
        records = []
        for number, line in enumerate(lines, start=1):
            try:
                records.append(json.loads(line))
            except ValueError as e:
                if number == len(lines):  # a torn last line: that block was never acknowledged
                    break
                raise ChainError(f"{self._journal_path}:{number} is not valid JSON: {e}") from e
        if not records or records[0].get("v") != _JOURNAL_VERSION:
            raise ChainError(f"{self._journal_path} is not a Suixin chain journal (version 1)")
        if len(records) < len(lines):
            self._truncate_torn_tail(len(records))
        return records[0], records[1:]

    def _truncate_torn_tail(self, keep: int) -> None:
        assert self._journal_path is not None
        lines = self._journal_path.read_text(encoding="utf-8").splitlines()[:keep]
        self._journal_path.write_text("".join(line + "\n" for line in lines), encoding="utf-8")

    def _replay(self, blocks: list[dict[str, Any]]) -> None:
        with self._lock:
            for record in blocks:
                self._mine([bytes.fromhex(tx[2:]) for tx in record["txs"]], int(record["t"]))
                if self._head_number() != int(record["n"]):
                    raise ChainError(
                        f"replaying {self._journal_path} produced block {self._head_number()} "
                        f"where the journal says {record['n']}: the journal is corrupt"
                    )


def _hold(data_dir: Path) -> int:
    """Take ``data_dir``'s chain for this process (a descriptor holding an exclusive flock);
    raises ChainInUse when another process holds it."""
    data_dir.mkdir(parents=True, exist_ok=True)
    fd = os.open(data_dir / LOCK_NAME, os.O_RDWR | os.O_CREAT, 0o600)
    try:
        fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
    except BlockingIOError:
        os.close(fd)
        raise ChainInUse(data_dir, _node_url(data_dir)) from None
    return fd


def _node_url(data_dir: Path) -> str | None:
    try:
        record = json.loads((data_dir / NODE_NAME).read_text(encoding="utf-8"))
        return str(record["url"])
    except (OSError, ValueError, KeyError, TypeError):
        return None


def revert_data(error: TransactionFailed) -> bytes:
    """Raw revert data from eth-tester: bytes, or the text "execution reverted: b'…'"."""
    arg: Any = error.args[0] if error.args else b""
    if isinstance(arg, Exception):
        arg = arg.args[0] if arg.args else b""
    if isinstance(arg, bytes):
        return arg
    text = str(arg)
    prefix = "execution reverted: "
    if text.startswith(prefix):
        try:
            literal = ast.literal_eval(text[len(prefix) :])
        except (ValueError, SyntaxError):
            return b""
        if isinstance(literal, bytes):
            return literal
    return b""
