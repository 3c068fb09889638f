"""The embedded chain's logs indexed by block and address as blocks are mined.

eth-tester answers ``eth_getLogs`` by walking every block of the range and, for each of its
transactions, looking the receipt up by hash, which py-evm's backend does by walking back from
the head: a query costs (blocks in range) × (blocks after them), the square of the chain's
length for a sync from block 0 (blocks 0–1,024 took 72 s, issue 20). ``IndexedTester`` keeps
each mined block's logs in eth-tester's own raw form, and the numbers of the blocks holding a
log of each address, so a query reads only the blocks of its range that hold a matching log:
its work grows with what it returns, not with the chain. Matching, ordering and the answer's
form are eth-tester's own (``check_if_log_matches``, ``normalize_outbound_log_entry``).
"""

from __future__ import annotations

from bisect import bisect_left, bisect_right
from collections.abc import Iterable, Iterator
from typing import Any

from eth_tester import EthereumTester
from eth_tester.utils.filters import check_if_log_matches

__all__ = ["IndexedTester"]


class IndexedTester(EthereumTester):  # type: ignore[misc]
    """eth-tester whose ``get_logs`` reads an index kept as blocks are mined.

    ``blocks_read`` counts the indexed blocks that queries have read (the work a query does);
    a chain rewound by ``revert_to_snapshot`` or ``reset_to_genesis`` drops the blocks above
    its new head from the index before it answers again.
    """

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        self._logs: dict[int, list[Any]] = {}  # block number -> its raw log entries, in order
        self._numbers: list[int] = []  # numbers of blocks holding a log, ascending
        self._by_address: dict[bytes, list[int]] = {}  # address -> such numbers, ascending
        self._indexed_to = -1  # the highest block number indexed
        self.blocks_read = 0
        super().__init__(*args, **kwargs)

    # ------------------------------------------------------------------ upkeep

    def _process_block_logs(self, block: Any) -> None:
        """Called by eth-tester for every block it mines: feed its filters, index its logs."""
        super()._process_block_logs(block)
        self._index(block)

    def revert_to_snapshot(self, snapshot_id: Any) -> None:
        super().revert_to_snapshot(snapshot_id)
        self._forget_after(self._latest_number())

    def reset_to_genesis(self) -> None:
        super().reset_to_genesis()
        self._forget_after(self._latest_number())

    def _latest_number(self) -> int:
        return int(self.get_block_by_number("latest")["number"])

    def _index(self, block: Any) -> None:
        number = int(block["number"])
        self._forget_after(number - 1)  # a block mined again at a height after a rewind
        entries: list[Any] = []
        for transaction_hash in block["transactions"]:
            receipt = self.get_transaction_receipt(transaction_hash)
            entries.extend(self.normalizer.normalize_inbound_log_entry(e) for e in receipt["logs"])
        self._indexed_to = number
        if not entries:
            return
        self._logs[number] = entries
        self._numbers.append(number)
        for address in dict.fromkeys(e["address"] for e in entries):
            self._by_address.setdefault(address, []).append(number)

    def restore_index(self, logs: dict[int, list[Any]], indexed_to: int) -> None:
        """Take an index kept elsewhere (a snapshot's): block number -> its raw log entries,
        for the blocks up to ``indexed_to``."""
        self._logs = logs
        self._numbers = sorted(logs)
        self._by_address = {}
        for number in self._numbers:
            for address in dict.fromkeys(e["address"] for e in logs[number]):
                self._by_address.setdefault(address, []).append(number)
        self._indexed_to = indexed_to

    def _forget_after(self, number: int) -> None:
        """Drop the index's blocks above ``number``."""
        if self._indexed_to <= number:
            return
        while self._numbers and self._numbers[-1] > number:
            for entry in self._logs.pop(self._numbers.pop()):
                numbers = self._by_address[entry["address"]]
                while numbers and numbers[-1] > number:
                    numbers.pop()
        self._indexed_to = number

    # ------------------------------------------------------------------ queries

    def get_logs(
        self,
        from_block: Any = None,
        to_block: Any = None,
        address: Any = None,
        topics: Any = None,
    ) -> tuple[Any, ...]:
        """eth-tester's ``get_logs``, answered from the index."""
        self.validator.validate_inbound_filter_params(
            from_block=from_block, to_block=to_block, address=address, topics=topics
        )
        raw_from, raw_to, raw_address, raw_topics = self.normalizer.normalize_inbound_filter_params(
            from_block=from_block, to_block=to_block, address=address, topics=topics
        )
        self._forget_after(self._latest_number())
        lower = self._bound("latest" if raw_from is None else raw_from)
        upper = self._bound("latest" if raw_to is None else raw_to)
        if lower > upper:
            return ()
        if upper > self._indexed_to:  # eth-tester raises BlockNotFound for a block not mined
            self.get_block_by_number(upper)
        params = {
            "from_block": raw_from,
            "to_block": raw_to,
            "addresses": raw_address,
            "topics": raw_topics,
        }
        return tuple(
            self.normalizer.normalize_outbound_log_entry(entry)
            for number in self._candidates(raw_address, lower, upper)
            for entry in self._logs[number]
            if check_if_log_matches(entry, **params)
        )

    def _bound(self, block: Any) -> int:
        if isinstance(block, int):
            return block
        return int(self.get_block_by_number(block)["number"])

    def _candidates(self, addresses: Any, lower: int, upper: int) -> Iterator[int]:
        """Numbers of the indexed blocks in [lower, upper] holding a log of ``addresses`` (of
        any address for None), ascending; each one counted in ``blocks_read``."""
        if addresses is None:
            lists: Iterable[list[int]] = [self._numbers]
        elif isinstance(addresses, bytes):
            lists = [self._by_address.get(addresses, [])]
        else:
            lists = [self._by_address.get(a, []) for a in addresses]
        found: set[int] = set()
        for numbers in lists:
            found.update(numbers[bisect_left(numbers, lower) : bisect_right(numbers, upper)])
        self.blocks_read += len(found)
        return iter(sorted(found))
