"""The embedded backend: an in-process eth-tester chain that survives restarts through a journal.

Every block the process mines is appended to ``<data_dir>/chain-journal.jsonl`` (its time, its
hash and the signed raw transactions in it) and flushed to disk before the sender sees a receipt.
A transaction whose block was not journaled (a crash mid-send) was never acknowledged, so the
caller's durable queue sends it again.

Every ``snapshot_every`` blocks, when the chain is closed, and (``suixin node``) once it has
been idle a few seconds after new blocks, the chain's state is checkpointed into
``<data_dir>/chain-snapshot.sqlite`` (``verifier.chain._snapshot``). On start the snapshot is
loaded and only the journal's blocks after it are replayed, each with its original number, time
and hash; a snapshot that does not match the journal (another chain, a rewritten or shorter
journal, a damaged or truncated file) is set aside with a warning that says why, and the whole
journal is replayed into a fresh chain with the same genesis, as before snapshots existed.

One process at a time holds a data directory's chain (``flock`` on ``chain-journal.lock``): a
second one would replay the journal and then append blocks of its own to it. While it is held,
``ChainInUse`` says so, with the URL of the node serving it when there is one
(``chain-node.json``, written by ``suixin node``), which ``verifier.chain.connect`` then uses.
"""

from __future__ import annotations

import ast
import fcntl
import hashlib
import json
import logging
import os
import sqlite3
import threading
import time
import weakref
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from eth.abc import SignedTransactionAPI, StateAPI
from eth.exceptions import HeaderNotFound
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
from verifier.chain._snapshot import (
    EVM,
    LOGS,
    SNAPSHOT_NAME,
    TRANSACTIONS,
    Changes,
    Checkpoint,
    RecordingDict,
    SnapshotFile,
    SnapshotMismatch,
)
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
# Blocks between two checkpoints of the chain's state. A checkpoint writes only what changed
# since the last one (about 14 entries and 3.6 KB a block of one anchoring transaction), in
# one SQLite transaction, while the chain's lock is held; a crash costs the replay of at most
# this many blocks (20-32 ms each). Figures: scripts/bench_chain_length.py.
SNAPSHOT_EVERY = 100

log = logging.getLogger("verifier.chain")


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
    """eth-tester in process; with a ``data_dir`` its blocks persist across restarts.

    After opening, ``replayed_blocks`` is how many journaled blocks were replayed (the tail
    after the snapshot, or all of them), ``snapshot_head`` the snapshot's head block number
    when one was loaded (else None) and ``snapshot_rejected`` why a snapshot on disk was not.
    """

    kind = "embedded"

    def __init__(
        self, data_dir: Path | str | None = None, *, snapshot_every: int = SNAPSHOT_EVERY
    ) -> None:
        if snapshot_every < 1:
            raise ValueError("snapshot_every must be at least 1 block")
        self._lock = threading.RLock()
        self._journal_path = Path(data_dir) / JOURNAL_NAME if data_dir is not None else None
        self._snapshot: SnapshotFile | None = None
        self._snapshot_every = snapshot_every
        self._opened = False  # until the journal is replayed: close() checkpoints only then
        self._last_block_at = time.monotonic()  # when the last block was added (idle checkpoint)
        self._owner: weakref.finalize[Any, Any] | None = None
        if data_dir is not None:  # given back by close(), or when this object is collected
            self._owner = weakref.finalize(self, os.close, _hold(Path(data_dir)))
        try:
            self._open()
        except BaseException:
            self.close()
            raise

    def _open(self) -> None:
        header, blocks, ends, raw = self._read_journal()
        genesis = PyEVMBackend.generate_genesis_params(
            overrides={"timestamp": header["genesisTime"]}
        )
        self.replayed_blocks = 0
        self.snapshot_head: int | None = None
        self.snapshot_rejected: str | None = None
        tail = blocks
        opened = None
        if self._journal_path is not None:
            self._snapshot = SnapshotFile(self._journal_path.with_name(SNAPSHOT_NAME))
            if self._snapshot.path.exists():
                try:
                    opened = self._from_snapshot(genesis, blocks, ends, raw)
                except SnapshotMismatch as e:
                    self.snapshot_rejected = str(e)
                    log.warning(
                        "the chain snapshot %s is not used: %s; replaying the whole journal "
                        "(%d blocks) / 链状态快照与日志不符，改为完整重放日志",
                        self._snapshot.path,
                        e,
                        len(blocks),
                    )
        if opened is None:
            self._backend = _DeterministicBackend(genesis_parameters=genesis)
            self._tester = IndexedTester(backend=self._backend, auto_mine_transactions=False)
        else:
            self._backend, self._tester = opened
            self.snapshot_head = self._head_number()
            tail = [r for r in blocks if int(r["n"]) > self.snapshot_head]
        self._recording()
        super().__init__(Web3(_LockedProvider(self._tester, self._lock)), poll_interval=0.0)
        self._journal = None
        self._journal_hash = hashlib.sha256(raw)
        self._journal_bytes = len(raw)
        self._journaled_head = int(blocks[-1]["n"]) if blocks else 0
        if self._journal_path is not None:
            self._journal_path.parent.mkdir(parents=True, exist_ok=True)
            fresh = not self._journal_path.exists()
            self._journal = self._journal_path.open("a", encoding="utf-8")
            if fresh:
                self._append(header)
        self._next_checkpoint = (self.snapshot_head or 0) + self._snapshot_every
        self._replay(tail)
        if tail or (opened is None and blocks):
            self._checkpoint()
        self._opened = True

    def _from_snapshot(
        self,
        genesis: dict[str, Any],
        blocks: list[dict[str, Any]],
        ends: list[int],
        raw: bytes,
    ) -> tuple[_DeterministicBackend, IndexedTester]:
        """A backend and tester holding the snapshot's chain, once it is shown to be a prefix
        of this journal's chain; raises SnapshotMismatch saying why not."""
        assert self._snapshot is not None
        loaded = self._snapshot.load()
        checkpoint = loaded.checkpoint
        if checkpoint.journal_bytes > len(raw):
            raise SnapshotMismatch(
                f"it was taken at block {checkpoint.head_number} from a journal of "
                f"{checkpoint.journal_bytes:,} bytes, and the journal has {len(raw):,}"
            )
        if hashlib.sha256(raw[: checkpoint.journal_bytes]).digest() != checkpoint.journal_sha256:
            raise SnapshotMismatch(
                f"the journal's first {checkpoint.journal_bytes:,} bytes are not those it was "
                f"taken from (block {checkpoint.head_number})"
            )
        if checkpoint.head_number > 0:
            try:
                record = blocks[ends.index(checkpoint.journal_bytes)]
            except ValueError:
                record = {}
            if int(record.get("n", -1)) != checkpoint.head_number:
                raise SnapshotMismatch(
                    f"its head, block {checkpoint.head_number}, is not the journal's block "
                    f"ending at byte {checkpoint.journal_bytes:,}"
                )
            if "h" in record and record["h"] != "0x" + checkpoint.head_hash.hex():
                raise SnapshotMismatch(
                    f"its head hash 0x{checkpoint.head_hash.hex()} is not the journal's "
                    f"{record['h']} for block {checkpoint.head_number}"
                )
        backend = _DeterministicBackend(genesis_parameters=genesis)
        genesis_hash = backend.chain.get_canonical_block_hash(0)
        if genesis_hash != checkpoint.genesis_hash:
            raise SnapshotMismatch(
                f"its genesis block 0x{checkpoint.genesis_hash.hex()} is not the journal's "
                f"0x{genesis_hash.hex()}"
            )
        database = backend.chain.chaindb.db
        database.wrapped_db.kv_store = RecordingDict(loaded.evm)
        backend.chain = type(backend.chain)(database)
        head = backend.chain.get_canonical_head()
        if head.block_number != checkpoint.head_number or head.hash != checkpoint.head_hash:
            raise SnapshotMismatch(
                f"its database's head is block {head.block_number} 0x{head.hash.hex()}, where "
                f"it says block {checkpoint.head_number} 0x{checkpoint.head_hash.hex()}"
            )
        backend._tx_blocks = RecordingDict(loaded.transactions)
        tester = IndexedTester(backend=backend, auto_mine_transactions=False)
        tester.restore_index(loaded.logs, checkpoint.head_number)
        return backend, tester

    # ------------------------------------------------------------------ public

    @property
    def journal_path(self) -> Path | None:
        """Where blocks are journaled, or None for a chain that lives in memory only."""
        return self._journal_path

    @property
    def snapshot(self) -> SnapshotFile | None:
        """The chain's snapshot file and what writing it has cost (None in memory only)."""
        return self._snapshot

    def checkpoint(self) -> None:
        """Write the chain's state to its snapshot now (it happens every ``snapshot_every``
        blocks and on ``close`` anyway)."""
        with self._lock:
            self._checkpoint()

    def checkpoint_if_idle(self, idle_seconds: float) -> bool:
        """Checkpoint when blocks were added since the last checkpoint and none for
        ``idle_seconds``: a node that goes quiet after a burst (fewer blocks than
        ``snapshot_every``) would otherwise leave them all to replay after a crash. True when
        it wrote one. Called by ``suixin node`` every few seconds."""
        with self._lock:
            snapshot = self._snapshot
            if snapshot is None or not self._opened:
                return False
            last = snapshot.checkpoint
            if last is not None and last.head_number == self._head_number():
                return False
            if time.monotonic() - self._last_block_at < idle_seconds:
                return False
            self._checkpoint()
            last = snapshot.checkpoint
            return last is not None and last.head_number == self._head_number()

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
        """Checkpoint the chain's state, close the journal and let another process open the
        chain."""
        journal = getattr(self, "_journal", None)  # None too when opening failed early
        if journal is not None:
            with self._lock:
                snapshot = self._snapshot
                if self._opened and snapshot is not None:
                    last = snapshot.checkpoint
                    if last is None or last.head_number != self._head_number():
                        self._checkpoint()
            journal.close()
            self._journal = None
        if self._snapshot is not None:
            self._snapshot.close()
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
            head = self._backend.chain.get_canonical_head()
            self._append(
                {
                    "t": timestamp,
                    "n": int(head.block_number),
                    "h": HexBytes(head.hash).to_0x_hex(),
                    "txs": ["0x" + raw.hex()],
                }
            )
            self._last_block_at = time.monotonic()
            if self._snapshot is not None and self._head_number() >= self._next_checkpoint:
                self._checkpoint()
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
        line = (json.dumps(record, separators=(",", ":")) + "\n").encode()
        self._journal.write(line.decode())
        self._journal.flush()
        os.fsync(self._journal.fileno())
        self._journal_hash.update(line)
        self._journal_bytes += len(line)
        if "n" in record:
            self._journaled_head = int(record["n"])

    def _recording(self) -> bool:
        """Make the three maps a checkpoint writes note their changes (``RecordingDict``);
        True when one of them was not noting them (a new chain, or one eth-tester rebuilt on
        a reset), so the next checkpoint must write everything."""
        database = self._backend.chain.chaindb.db.wrapped_db
        replaced = False
        if not isinstance(database.kv_store, RecordingDict):
            database.kv_store = RecordingDict(database.kv_store)
            replaced = True
        if not isinstance(self._backend._tx_blocks, RecordingDict):
            self._backend._tx_blocks = RecordingDict(self._backend._tx_blocks)
            replaced = True
        if not isinstance(self._tester._logs, RecordingDict):
            self._tester._logs = RecordingDict(self._tester._logs)
            replaced = True
        return replaced

    def _checkpoint(self) -> None:
        """Write the chain's state to the snapshot: the changes since the last checkpoint, or
        everything when there is none or the chain no longer extends it. Skipped while the
        chain holds blocks the journal does not (mined around ``_submit``: tests); a failed
        write is logged and the next checkpoint writes everything."""
        snapshot = self._snapshot
        if snapshot is None or self._journal is None:
            return
        chain = self._backend.chain
        head = chain.get_canonical_head()
        if int(head.block_number) != self._journaled_head:
            return
        # the next one after as many blocks again, also when this one fails (a full disk is
        # not tried again at every block)
        self._next_checkpoint = int(head.block_number) + self._snapshot_every
        full = self._recording() or snapshot.checkpoint is None
        if not full:
            assert snapshot.checkpoint is not None
            try:
                kept = chain.get_canonical_block_hash(snapshot.checkpoint.head_number)
            except HeaderNotFound:  # the chain was rewound below it
                kept = None
            full = kept != snapshot.checkpoint.head_hash
        checkpoint = Checkpoint(
            genesis_hash=chain.get_canonical_block_hash(0),
            head_number=int(head.block_number),
            head_hash=bytes(head.hash),
            journal_bytes=self._journal_bytes,
            journal_sha256=self._journal_hash.digest(),
        )
        maps: dict[int, dict[Any, Any]] = {
            EVM: chain.chaindb.db.wrapped_db.kv_store,
            TRANSACTIONS: self._backend._tx_blocks,
            LOGS: self._tester._logs,
        }
        changes: dict[int, Changes] = {}
        for space, current in maps.items():
            assert isinstance(current, RecordingDict)  # made so by _recording()
            changes[space] = (current, current.take())
        started = time.perf_counter()
        try:
            if full:
                snapshot.write_full(checkpoint, maps)
            else:
                snapshot.write_changes(checkpoint, changes)
        except (OSError, sqlite3.Error) as e:
            snapshot.checkpoint = None  # what it holds is behind what was taken: write it whole
            log.warning(
                "the chain snapshot %s could not be written (%s): the next checkpoint writes "
                "it whole / 链状态快照写入失败",
                snapshot.path,
                e,
            )
        finally:
            snapshot.seconds_writing += time.perf_counter() - started

    def _read_journal(self) -> tuple[dict[str, Any], list[dict[str, Any]], list[int], bytes]:
        """The journal's header, its block records, the byte offset after each record's line
        and the bytes of those lines; a torn last line (a crash mid-write: never acknowledged)
        is cut off the file."""
        fresh = {"v": _JOURNAL_VERSION, "genesisTime": int(time.time()) - 1}
        if self._journal_path is None or not self._journal_path.exists():
            return fresh, [], [], b""
        raw = self._journal_path.read_bytes()
        lines = raw.splitlines(keepends=True)
        records = []
        ends = []
        end = 0
        for number, line in enumerate(lines, start=1):
            try:
                if not line.endswith(b"\n"):
                    raise ValueError("the line is not ended")
                records.append(json.loads(line))
            except ValueError as e:
                if number == len(lines):  # a torn last line: that block was never acknowledged
                    break
                raise ChainError(f"{self._journal_path}:{number} is not valid JSON: {e}") from e
            end += len(line)
            ends.append(end)
        if not records or records[0].get("v") != _JOURNAL_VERSION:
            raise ChainError(f"{self._journal_path} is not a Suixin chain journal (version 1)")
        if end < len(raw):
            raw = raw[:end]
            self._journal_path.write_bytes(raw)
        return records[0], records[1:], ends[1:], raw

    def _replay(self, blocks: list[dict[str, Any]]) -> None:
        with self._lock:
            for record in blocks:
                self._mine([bytes.fromhex(tx[2:]) for tx in record["txs"]], int(record["t"]))
                self.replayed_blocks += 1
                head = self._backend.chain.get_canonical_head()
                if int(head.block_number) != int(record["n"]):
                    raise ChainError(
                        f"replaying {self._journal_path} produced block {head.block_number} "
                        f"where the journal says {record['n']}: the journal is corrupt"
                    )
                if "h" in record and HexBytes(head.hash).to_0x_hex() != record["h"]:
                    raise ChainError(
                        f"replaying {self._journal_path} produced block {record['n']} with hash "
                        f"{HexBytes(head.hash).to_0x_hex()} where the journal says "
                        f"{record['h']}: the journal is corrupt"
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
