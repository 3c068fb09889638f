"""Anchor transactions per second through the chain adapter, per backend, against the raw rate.

The limit for each backend is measured in the same run: the same kind of anchor transaction,
pre-signed, handed straight to the node (applied to py-evm's pending block and mined, as the
embedded adapter itself does, or anvil's eth_sendRawTransaction), with none of the adapter's
work (gas estimate, fees, nonce, receipt, journal, revert decoding).
The ratio says how much of the backend's own speed the adapter keeps. Medians of several rounds.
"""

from __future__ import annotations

import argparse
import secrets
import statistics
import sys
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import requests
from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from service.anchoring.devnode import AnvilNode, anvil_binary
from service.trust.deployment import deploy_registries, fund_if_dev
from verifier.chain import Chain, EmbeddedChain, RpcChain
from verifier.contracts import load_artifact

ANCHOR = load_artifact("AnchorRegistry").abi
TRUST = load_artifact("TrustRegistry").abi


def _setup(chain: Chain) -> tuple[str, LocalAccount]:
    root, authority = Account.create(), Account.create()
    fund_if_dev(chain, root.address)
    fund_if_dev(chain, authority.address)
    d = deploy_registries(chain, root)
    chain.transact(
        d.trust_registry,
        TRUST,
        "accredit",
        [
            "did:web:bench.example",
            "基准",
            "Bench",
            440100,
            ["ResidencePermit"],
            authority.address,
            "",
        ],
        root,
    )
    return d.anchor_registry, authority


def adapter_rate(chain: Chain, registry: str, sender: LocalAccount, n: int) -> float:
    start = time.perf_counter()
    for _ in range(n):
        chain.transact(registry, ANCHOR, "anchor", [secrets.token_bytes(32), 1000], sender)
    return n / (time.perf_counter() - start)


def _presigned(chain: Chain, registry: str, sender: LocalAccount, n: int) -> list[bytes]:
    contract = Web3().eth.contract(address=Web3.to_checksum_address(registry), abi=ANCHOR)
    nonce = chain.w3.eth.get_transaction_count(sender.address, "pending")
    base = int(chain.w3.eth.get_block("latest").get("baseFeePerGas", 0))
    raws = []
    for i in range(n):
        tx = {
            "to": contract.address,
            "chainId": chain.chain_id,
            "nonce": nonce + i,
            "gas": 80_000,
            "maxFeePerGas": 4 * base + 10**9,
            "maxPriorityFeePerGas": 10**9,
            "data": contract.encode_abi("anchor", args=[secrets.token_bytes(32), 1000]),
        }
        raws.append(bytes(Account.sign_transaction(tx, sender.key).raw_transaction))
    return raws


def raw_rate_embedded(chain: EmbeddedChain, registry: str, sender: LocalAccount, n: int) -> float:
    raws = _presigned(chain, registry, sender, n)
    start = time.perf_counter()
    for raw in raws:
        # the adapter's own way into py-evm (apply to the pending block, mine it), without
        # its journal; eth-tester's send_raw_transaction + mine_blocks, used before, cost
        # 2.7 times as much (66 against 179 tx/s) and was no limit: the adapter outran it
        head = int(chain._backend.chain.get_canonical_head().timestamp)
        chain._mine([raw], max(head + 1, int(time.time())))
    return n / (time.perf_counter() - start)


def raw_rate_rpc(url: str, chain: Chain, registry: str, sender: LocalAccount, n: int) -> float:
    raws = _presigned(chain, registry, sender, n)
    session = requests.Session()
    start = time.perf_counter()
    for i, raw in enumerate(raws):
        body = {
            "jsonrpc": "2.0",
            "id": i,
            "method": "eth_sendRawTransaction",
            "params": ["0x" + raw.hex()],
        }
        tx_hash = session.post(url, json=body, timeout=10).json()["result"]
        receipt = {
            "jsonrpc": "2.0",
            "id": i,
            "method": "eth_getTransactionReceipt",
            "params": [tx_hash],
        }
        while session.post(url, json=receipt, timeout=10).json().get("result") is None:
            pass
    return n / (time.perf_counter() - start)


def report(name: str, adapter: list[float], raw: list[float]) -> None:
    a, r = statistics.median(adapter), statistics.median(raw)
    print(
        f"{name:9s} adapter {a:8.1f} tx/s   raw {r:8.1f} tx/s   ratio {a / r:.2f}"
        f"   (medians of {len(adapter)} rounds)"
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("-n", type=int, default=40, help="transactions per round")
    args = parser.parse_args()

    chain = EmbeddedChain(None)
    registry, sender = _setup(chain)
    adapter, raw = [], []
    for _ in range(args.rounds):
        adapter.append(adapter_rate(chain, registry, sender, args.n))
        chain._next_nonce.clear()
        raw.append(raw_rate_embedded(chain, registry, sender, args.n))
        chain._next_nonce.clear()
    report("embedded", adapter, raw)

    if anvil_binary() is None:
        print("anvil not installed: rpc backend not measured (npm ci)")
        return 0
    with AnvilNode() as node:
        rpc = RpcChain(node.url)
        registry, sender = _setup(rpc)
        adapter, raw = [], []
        for _ in range(args.rounds):
            adapter.append(adapter_rate(rpc, registry, sender, args.n * 4))
            rpc._next_nonce.clear()
            raw.append(raw_rate_rpc(node.url, rpc, registry, sender, args.n * 4))
            rpc._next_nonce.clear()
        report("rpc", adapter, raw)
    return 0


if __name__ == "__main__":
    sys.exit(main())
