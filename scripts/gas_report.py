"""Print the gas of every registry operation on both chain backends (anvil if installed)."""

from __future__ import annotations

import argparse
import os
import secrets
import sys
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_account import Account
from rich.console import Console
from rich.table import Table

from service.anchoring.devnode import AnvilNode, anvil_binary
from service.trust.deployment import fund_if_dev
from verifier.chain import Chain, EmbeddedChain, RpcChain
from verifier.contracts import load_artifact
from verifier.registry import KeyAlgorithmCode
from verifier.sm2 import Sm2KeyPair

ANCHOR_LIMIT = 60_000
BATCH = 100


def measure(chain: Chain) -> dict[str, int]:
    """Run each operation once on a fresh deployment and return its gas."""
    trust, anchor = load_artifact("TrustRegistry"), load_artifact("AnchorRegistry")
    root = Account.create()
    authority = Account.create()
    fund_if_dev(chain, root.address)
    fund_if_dev(chain, authority.address)
    gas: dict[str, int] = {}
    tr = chain.deploy(trust, [root.address], root)
    assert tr.contract_address
    gas["deploy TrustRegistry"] = tr.gas_used
    ar = chain.deploy(anchor, [tr.contract_address], root)
    assert ar.contract_address
    gas["deploy AnchorRegistry"] = ar.gas_used
    did = "did:web:lsj.gz.gov.cn"
    gas["accredit"] = chain.transact(
        tr.contract_address,
        trust.abi,
        "accredit",
        [
            did,
            "广州市来穗人员服务管理局",
            "Guangzhou Migrant Population Service Administration",
            440100,
            ["ResidencePermit"],
            authority.address,
            "11440100007502156G",
        ],
        root,
    ).gas_used
    ed25519 = secrets.token_bytes(32)
    gas["add key (Ed25519, 32 bytes)"] = chain.transact(
        tr.contract_address,
        trust.abi,
        "addKey",
        [did, "key-1", KeyAlgorithmCode.ED25519, ed25519],
        authority,
    ).gas_used
    gas["add key (SM2, 33-byte point)"] = chain.transact(
        tr.contract_address,
        trust.abi,
        "addKey",
        [did, "key-2", KeyAlgorithmCode.SM2, Sm2KeyPair.generate().public_bytes],
        authority,
    ).gas_used
    valid_from = chain.call(tr.contract_address, trust.abi, "keyOf", [did, "key-1"])[1]
    gas["revoke key"] = chain.transact(
        tr.contract_address, trust.abi, "revokeKey", [did, "key-1", valid_from, 1], authority
    ).gas_used
    gas["anchor"] = chain.transact(
        ar.contract_address, anchor.abi, "anchor", [secrets.token_bytes(32), 1000], authority
    ).gas_used
    gas["one status change"] = chain.transact(
        ar.contract_address, anchor.abi, "setStatus", [secrets.token_bytes(32), 1, 1], authority
    ).gas_used
    ids = [secrets.token_bytes(32) for _ in range(BATCH)]
    gas[f"batch of {BATCH} status changes"] = chain.transact(
        ar.contract_address,
        anchor.abi,
        "setStatusBatch",
        [ids, [1] * BATCH, [1] * BATCH],
        authority,
    ).gas_used
    # the status list channel: one list-set digest per transaction, whatever the lists touched
    set_hash = secrets.token_bytes(32)
    chain.transact(  # the first publication creates the slot; later ones update it
        ar.contract_address,
        anchor.abi,
        "publishStatusLists",
        [[set_hash], [secrets.token_bytes(32)]],
        authority,
    )
    gas["list set digest, own transaction"] = chain.transact(
        ar.contract_address,
        anchor.abi,
        "publishStatusLists",
        [[set_hash], [secrets.token_bytes(32)]],
        authority,
    ).gas_used
    ids = [secrets.token_bytes(32) for _ in range(BATCH)]
    gas[f"batch of {BATCH} status changes with the list set"] = chain.transact(
        ar.contract_address,
        anchor.abi,
        "setStatusBatchWithLists",
        [ids, [1] * BATCH, [1] * BATCH, [set_hash], [secrets.token_bytes(32)]],
        authority,
    ).gas_used
    return gas


CHANGES_PER_DAY = 1_000_000
LIST_GOAL = 100  # gas per status change through the lists (issue 17)


def list_channel(gas: dict[str, int]) -> list[tuple[float, float, float, float]]:
    """Gas per status change through the lists at a million changes a day, by the interval
    between status transactions: (seconds, changes per transaction, gas per change with the
    digest in the changes' own transaction, gas per change with the digest alone)."""
    shared = (
        gas[f"batch of {BATCH} status changes with the list set"]
        - gas[f"batch of {BATCH} status changes"]
    )
    alone = gas["list set digest, own transaction"]
    rows = []
    for seconds in (1, 5, 10, 30, 60):
        changes = CHANGES_PER_DAY * seconds / 86_400
        rows.append((seconds, changes, shared / changes, alone / changes))
    return rows


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--embedded-only", action="store_true")
    args = parser.parse_args()
    results = {"embedded": measure(EmbeddedChain(None))}
    if not args.embedded_only and anvil_binary() is not None:
        with AnvilNode() as node:
            results["anvil"] = measure(RpcChain(node.url))
    elif os.environ.get("CI"):
        print("anvil missing", file=sys.stderr)
        return 1
    table = Table(title="Suixin registry gas")
    table.add_column("operation")
    for backend in results:
        table.add_column(f"gas ({backend})", justify="right")
    for op in results["embedded"]:
        table.add_row(op, *(f"{results[b][op]:,}" for b in results))
    batch_key = f"batch of {BATCH} status changes"
    table.add_row(
        "  per entry in the batch",
        *(f"{results[b][batch_key] / BATCH:,.0f}" for b in results),
    )
    Console().print(table)
    for backend, gas in results.items():
        per_change = gas[f"batch of {BATCH} status changes"] / BATCH
        lists = Table(
            title=f"Status change gas, {backend}: setStatusBatch {per_change:,.0f} a change; "
            f"the status lists at {CHANGES_PER_DAY:,} changes a day"
        )
        for column in ("interval (s)", "changes a tx", "lists, in the tx", "lists, own tx"):
            lists.add_column(column, justify="right")
        for seconds, changes, shared, alone in list_channel(gas):
            lists.add_row(f"{seconds}", f"{changes:,.0f}", f"{shared:,.1f}", f"{alone:,.1f}")
        Console().print(lists)
        met = [s for s, _c, shared, _a in list_channel(gas) if shared < LIST_GOAL]
        print(
            f"{backend}: status list channel under {LIST_GOAL} gas a change from a "
            f"{met[0] if met else '>60'} s interval between status transactions "
            f"(setStatusBatch alone: {per_change:,.0f} a change, "
            f"{per_change / LIST_GOAL:,.0f}x the goal)"
        )
    for backend, gas in results.items():
        ratio = gas["anchor"] / ANCHOR_LIMIT
        print(
            f"{backend}: anchor {gas['anchor']:,} gas = {ratio:.2f} of the {ANCHOR_LIMIT:,} limit"
        )
    return 0 if all(g["anchor"] <= ANCHOR_LIMIT for g in results.values()) else 1


if __name__ == "__main__":
    sys.exit(main())
