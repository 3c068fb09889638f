"""The embedded chain answers log queries from an index: eth-tester's answers, with work that
does not grow with the chain's length."""

from __future__ import annotations

from typing import Any

import pytest
from eth_tester import EthereumTester
from eth_tester.exceptions import BlockNotFound
from hexbytes import HexBytes
from web3.exceptions import TransactionNotFound

from tests.verifier.chain.registries import ANCHOR, anchor, populate
from verifier.chain import EmbeddedChain


def _unindexed(chain: EmbeddedChain, **query: Any) -> tuple[Any, ...]:
    """eth-tester's own get_logs (a walk over every block of the range)."""
    return EthereumTester.get_logs(chain._tester, **query)  # type: ignore[no-any-return]


def test_answers_equal_eth_testers_for_every_shape_of_query_also_after_a_rewind() -> None:
    chain = EmbeddedChain(None)
    d, authority = populate(chain)
    for n in range(6):
        anchor(chain, d, authority, n)
        chain._tester.mine_blocks(2)  # blocks without logs between them
    chain.transact(d.anchor_registry, ANCHOR, "setStatus", [b"\x03" * 32, 1, 7], authority)
    head = chain.block_number()
    topic = _unindexed(chain, from_block=0, to_block=head, address=d.anchor_registry)[0]["topics"]
    queries: list[dict[str, Any]] = [
        {"from_block": 0, "to_block": head},
        {"from_block": 0, "to_block": "latest", "address": d.anchor_registry},
        {"from_block": 3, "to_block": head - 4, "address": [d.trust_registry, d.anchor_registry]},
        {"from_block": head, "to_block": head, "address": [d.anchor_registry]},
        {"from_block": 0, "to_block": head, "topics": [topic[0]]},
        {"from_block": 0, "to_block": head, "address": d.trust_registry, "topics": [topic[0]]},
        {"from_block": head - 1, "to_block": 2},
        {"from_block": "earliest", "to_block": "latest", "address": authority.address},
    ]
    for query in queries:
        assert chain._tester.get_logs(**query) == _unindexed(chain, **query), query
    assert chain._tester.get_logs(from_block=0, to_block=head)  # not all empty

    with pytest.raises(BlockNotFound):
        _unindexed(chain, from_block=head - 1, to_block=head + 1)
    with pytest.raises(BlockNotFound):
        chain._tester.get_logs(from_block=head - 1, to_block=head + 1)

    snapshot = chain._tester.take_snapshot()
    anchor(chain, d, authority, 100)
    anchor(chain, d, authority, 101)
    chain._tester.revert_to_snapshot(snapshot)
    chain._next_nonce.clear()  # the adapter's nonces ran ahead of the rewound chain
    rewound = {"from_block": 0, "to_block": "latest"}
    assert chain._tester.get_logs(**rewound) == _unindexed(chain, **rewound)
    # mined again at the first rewound height
    replaced = anchor(chain, d, authority, 102).block_number
    assert replaced == head + 1
    assert chain._tester.get_logs(**rewound) == _unindexed(chain, **rewound)


@pytest.mark.slow
def test_on_thousands_of_blocks_a_query_reads_only_the_blocks_holding_its_logs() -> None:
    chain = EmbeddedChain(None)
    d, authority = populate(chain)
    anchored = []
    for n in range(8):
        anchored.append(anchor(chain, d, authority, n).block_number)
        chain._tester.mine_blocks(250)
    tail = anchor(chain, d, authority, 8).block_number
    head = chain.block_number()
    assert head > 2_000

    # every block's receipt was looked up as it was mined; an old one is found by its hash
    # without walking the chain back from the head
    first = chain.w3.eth.get_block(anchored[0])["transactions"][0]
    reads = 0
    canonical = chain._backend.chain.get_canonical_block_by_number

    def counted(number: int) -> Any:
        nonlocal reads
        reads += 1
        return canonical(number)

    chain._backend.chain.get_canonical_block_by_number = counted
    assert chain.w3.eth.get_transaction_receipt(first)["blockNumber"] == anchored[0]
    assert reads <= 1
    with pytest.raises(TransactionNotFound):  # nor is an unknown hash looked for block by block
        chain.w3.eth.get_transaction_receipt(HexBytes(b"\x07" * 32))
    assert reads <= 1

    tester = chain._tester
    before = tester.blocks_read
    logs = chain.get_logs([d.anchor_registry], head - 9, head)
    assert [int(log["blockNumber"]) for log in logs] == [tail]
    assert tester.blocks_read - before == 1  # not the 10 blocks of the range, nor the chain

    before = tester.blocks_read
    logs = chain.get_logs([d.anchor_registry], 0, head)
    assert [int(log["blockNumber"]) for log in logs] == [*anchored, tail]
    assert tester.blocks_read - before == len(anchored) + 1  # of more than 2,000 blocks

    before = tester.blocks_read
    assert chain.get_logs([d.anchor_registry], anchored[0] + 1, anchored[1] - 1) == []
    assert tester.blocks_read == before
