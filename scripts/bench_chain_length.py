"""The embedded chain at a province's length: log queries and a restarted office's first verify.

A journaled embedded chain grows to 1,000 and then 10,000 blocks, one anchoring transaction in
each (what an office's worker leaves behind: 10,000 batches of 1,000 are 10 M credentials). At
each length: the median time of ``get_logs`` over a window of 100 blocks at the head and at
the start of the chain; the ratio of the 10,000-block figure to the 1,000-block one says whether
a query grows with the chain (target: ≤ 1.5).

Then the office restarts. The chain checkpoints its state into its snapshot every
``SNAPSHOT_EVERY`` blocks and when it closes; the figures: the checkpoints' count, mean write time
and share of the growth time, and the snapshot's bytes. Three restarts, timed in the same run:
from the snapshot a clean stop left (nothing to replay), from the files a crash at the head would
have left (the snapshot of the last checkpoint and the journal's tail after it), and the old way,
the whole journal replayed with the snapshot set aside (``--no-full-replay`` skips it, minutes
at 10,000 blocks); the ratio of the first to the last says what the snapshot saves. After the
restart from the snapshot the chain is served as a node on loopback (what ``suixin node`` does),
and a fresh verifier over JSON-RPC, as the API process has, verifies a bundle anchored in the
first blocks: its index syncs from the deployment's block to the head on the way. The limit,
measured in the same run, is the index's own work on the same events, the logs read beforehand
(decode and apply, no chain), plus one warm verify; the ratio says what reading the chain adds
(target: ≤ 3), beside the API's 10 s RPC timeout that a restarted office used to hit after a few
hundred blocks.

The office keeps that index in its data directory (``registry-index.sqlite``): the same
verifier with the file syncs once from the deployment block and writes it; ``TAIL`` more blocks
are mined; then a new verifier, as a restarted API process makes, loads the file and verifies:
it reads only the blocks after the file's. Its limit, in the same run: loading the file without
a chain, the tail's events applied, one warm verify (target: ≤ 3); and its ratio to the
first verify that read the index from block 0. "Restart to first verdict" adds the chain's
restart and the first verify.
"""

from __future__ import annotations

import argparse
import random
import shutil
import statistics
import sys
import tempfile
import time
from datetime import timedelta
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from eth_account import Account
from eth_account.signers.local import LocalAccount
from web3 import Web3

from service.anchoring.batches import anchor_batch
from service.anchoring.node import ChainNodeServer
from service.api.verification import REGISTRY_INDEX_NAME
from service.issuing.issuance import SigningIdentity, issue_credential
from service.trust.deployment import deploy_registries, fund_if_dev
from tests.verifier.factories import residence_permit_subject
from verifier.chain import EmbeddedChain, RpcChain
from verifier.chain._snapshot import SNAPSHOT_NAME
from verifier.chain.embedded import JOURNAL_NAME, SNAPSHOT_EVERY
from verifier.contracts import load_artifact
from verifier.deployment import Deployment
from verifier.keys import Ed25519KeyPair
from verifier.policy import Policy
from verifier.registry import RegistryIndex, key_algorithm_code
from verifier.verify import Verdict, Verifier

TRUST = load_artifact("TrustRegistry").abi
ANCHOR = load_artifact("AnchorRegistry").abi
DID = "did:web:lsj.gz.gov.cn"
USCC = "11440100007502156G"
WINDOW = 100
QUERY_TARGET = 1.5
RESTART_TARGET = 3.0
RPC_TIMEOUT = 10.0  # the API process's default request timeout to its node
TAIL = 20  # blocks mined between the kept index's last write and the API process's restart


def set_up(chain: EmbeddedChain) -> tuple[Deployment, LocalAccount, dict[str, object]]:
    """Registries, an accredited authority with a key, and one bundle anchored early on."""
    root, account = Account.create(), Account.create()
    fund_if_dev(chain, root.address)
    fund_if_dev(chain, account.address)
    deployment = deploy_registries(chain, root)
    chain.transact(
        deployment.trust_registry,
        TRUST,
        "accredit",
        [DID, "广州市来穗人员服务管理局", "GZ", 440100, ["ResidencePermit"], account.address, USCC],
        root,
    )
    key = Ed25519KeyPair.generate()
    chain.transact(
        deployment.trust_registry,
        TRUST,
        "addKey",
        [DID, "key-1", key_algorithm_code("Ed25519"), key.public_bytes],
        account,
    )
    identity = SigningIdentity(DID, "广州市来穗人员服务管理局", 440100, "key-1", key, uscc=USCC)
    subject = residence_permit_subject(random.Random(1))
    credential = issue_credential(
        "ResidencePermit",
        subject,
        identity,
        chain_id=chain.chain_id,
        anchor_registry=deployment.anchor_registry,
    )[0]
    (bundle,) = anchor_batch(chain, deployment, account, [credential])
    return deployment, account, bundle


def grow(chain: EmbeddedChain, registry: str, sender: LocalAccount, to_length: int) -> None:
    """One pre-signed anchoring transaction per block, journaled, until the chain has
    ``to_length`` blocks."""
    contract = Web3().eth.contract(address=Web3.to_checksum_address(registry), abi=ANCHOR)
    nonce = chain.w3.eth.get_transaction_count(sender.address, "pending")
    base = int(chain.w3.eth.get_block("latest").get("baseFeePerGas", 0))
    for i in range(to_length - 1 - chain.block_number()):
        tx = {
            "to": contract.address,
            "chainId": chain.chain_id,
            "nonce": nonce + i,
            "gas": 80_000,
            "maxFeePerGas": 4 * base + 10**9,
            "maxPriorityFeePerGas": 10**9,
            "data": contract.encode_abi("anchor", args=[random.randbytes(32), 1000]),
        }
        chain.send_raw(bytes(Account.sign_transaction(tx, sender.key).raw_transaction))
    chain._next_nonce.clear()


def query_times(chain: EmbeddedChain, d: Deployment, rounds: int) -> tuple[float, float]:
    """Median seconds of a 100-block log query at the head and at the chain's start."""
    head, start = chain.block_number(), d.block_number
    addresses = [d.trust_registry, d.anchor_registry]
    tail, early = [], []
    for _ in range(rounds):
        t = time.perf_counter()
        assert len(chain.get_logs(addresses, head - WINDOW + 1, head)) == WINDOW
        tail.append(time.perf_counter() - t)
        t = time.perf_counter()
        assert chain.get_logs(addresses, start, start + WINDOW - 1)
        early.append(time.perf_counter() - t)
    return statistics.median(tail), statistics.median(early)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--short", type=int, default=1_000, help="first chain length (blocks)")
    parser.add_argument("--long", type=int, default=10_000, help="second chain length (blocks)")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--no-full-replay",
        dest="full_replay",
        action="store_false",
        help="skip the reference restart that replays the whole journal",
    )
    args = parser.parse_args()

    with tempfile.TemporaryDirectory(prefix="suixin-chain-length-") as tmp:
        data = Path(tmp) / "office"
        chain = EmbeddedChain(data)
        d, account, bundle = set_up(chain)
        figures = {}
        grown = {}
        for length in (args.short, args.long):
            t = time.perf_counter()
            grow(chain, d.anchor_registry, account, length)
            grown[length] = time.perf_counter() - t
            print(f"grew to {chain.block_number() + 1:,} blocks in {grown[length]:.1f} s")
            figures[length] = query_times(chain, d, args.rounds)
            tail, early = figures[length]
            print(
                f"  {length:>6,} blocks: get_logs over {WINDOW} blocks at the head "
                f"{tail * 1000:7.2f} ms, at the start {early * 1000:7.2f} ms (medians)"
            )
        grow_seconds = sum(grown.values())
        snapshot = chain.snapshot
        assert snapshot is not None
        writes, writing = snapshot.writes, snapshot.seconds_writing
        crashed = Path(tmp) / "crashed"  # the files as a crash at the head leaves them
        crashed.mkdir()
        for name in (JOURNAL_NAME, SNAPSHOT_NAME):
            shutil.copy2(data / name, crashed / name)
        chain.close()
        snapshot_bytes = snapshot.size()

        t = time.perf_counter()
        chain = EmbeddedChain(crashed)
        crash_restart = time.perf_counter() - t
        tail = chain.replayed_blocks
        chain.close()
        full_replay = None
        if args.full_replay:
            (crashed / SNAPSHOT_NAME).unlink()
            t = time.perf_counter()
            chain = EmbeddedChain(crashed)
            full_replay = time.perf_counter() - t
            assert chain.snapshot_head is None
            chain.close()

        t = time.perf_counter()
        chain = EmbeddedChain(data)
        replay = time.perf_counter() - t
        assert chain.replayed_blocks == 0 and chain.snapshot_head == chain.block_number()
        node = ChainNodeServer(chain).start()
        try:
            rpc = RpcChain(node.url, request_timeout=RPC_TIMEOUT)
            policy = Policy(sync_interval=timedelta(days=1))
            fresh = Verifier.from_chain(rpc, d.anchor_registry, policy, deployment=d)
            t = time.perf_counter()
            verdict = fresh.verify(bundle).verdict
            first = time.perf_counter() - t
            assert verdict is Verdict.VALID, verdict
            events = fresh.index.synced_block - d.block_number + 1

            # the limit: the same events applied from logs read beforehand, one warm verify
            head = chain.block_number()
            logs = chain.get_logs([d.trust_registry, d.anchor_registry], d.block_number, head)
            index = RegistryIndex.for_deployment(d)
            t = time.perf_counter()
            index.apply(logs)
            apply = time.perf_counter() - t
            t = time.perf_counter()
            fresh.verify(bundle)
            warm = time.perf_counter() - t

            # the office as it runs now: its API process keeps the index in the data directory
            cache = data / REGISTRY_INDEX_NAME
            t = time.perf_counter()
            keeper = Verifier.from_chain(
                rpc, d.anchor_registry, policy, deployment=d, cache_path=cache
            )
            assert keeper.verify(bundle).verdict is Verdict.VALID
            first_keeping = time.perf_counter() - t  # from block 0 once, and the file written
            kept = keeper.index.synced_block
            grow(chain, d.anchor_registry, account, chain.block_number() + 1 + TAIL)
            # the API process restarts (a new process, or one of --workers N) over the file
            t = time.perf_counter()
            restarted = Verifier.from_chain(
                rpc, d.anchor_registry, policy, deployment=d, cache_path=cache
            )
            assert restarted.index.synced_block == kept
            assert restarted.verify(bundle).verdict is Verdict.VALID
            first_kept = time.perf_counter() - t
            tail_read = restarted.index.synced_block - kept
            # its limit: loading the file (no chain), the tail's events applied, a warm verify
            t = time.perf_counter()
            alone = RegistryIndex.cached(cache, d)
            load_kept = time.perf_counter() - t
            tail_logs = chain.get_logs([d.trust_registry, d.anchor_registry], kept + 1, head + TAIL)
            t = time.perf_counter()
            alone.apply(tail_logs)
            load_kept += time.perf_counter() - t
            cache_bytes = sum(p.stat().st_size for p in (cache, Path(f"{cache}-wal")) if p.exists())
        finally:
            node.stop()
            chain.close()

    q_tail = figures[args.long][0] / figures[args.short][0]
    q_early = figures[args.long][1] / figures[args.short][1]
    limit = apply + warm
    restart_ratio = first / limit
    print(
        f"query ratio {args.long:,} / {args.short:,} blocks: head {q_tail:.2f}, "
        f"start {q_early:.2f} (target <= {QUERY_TARGET})"
    )
    blocks = head + 1
    print(
        f"snapshot: {snapshot_bytes:,} bytes ({snapshot_bytes / blocks:,.0f} a block); "
        f"{writes} checkpoints (every {SNAPSHOT_EVERY} blocks and at close) wrote in "
        f"{writing:.2f} s, {1000 * writing / max(writes, 1):.0f} ms each, "
        f"{100 * writing / grow_seconds:.1f} % of the {grow_seconds:.0f} s of growth"
    )
    print(f"restart after {blocks:,} blocks:")
    print(f"  from the snapshot of a clean stop: {replay:.2f} s (0 blocks replayed)")
    print(f"  after a crash at the head: {crash_restart:.2f} s ({tail} blocks of tail replayed)")
    if full_replay is not None:
        print(
            f"  the whole journal replayed, snapshot set aside: {full_replay:.1f} s; "
            f"ratio snapshot / replay {replay / full_replay:.4f}, "
            f"crash / replay {crash_restart / full_replay:.4f}"
        )
    print(
        f"  first verify over JSON-RPC (index synced over {events:,} blocks) {first:.2f} s; "
        f"limit (apply {len(logs):,} logs {apply:.2f} s + warm verify {warm * 1000:.2f} ms) "
        f"{limit:.2f} s; ratio {restart_ratio:.2f} (target <= {RESTART_TARGET}); "
        f"RPC timeout {RPC_TIMEOUT:.0f} s"
    )
    kept_limit = load_kept + warm
    kept_ratio = first_kept / kept_limit
    print(
        f"  the office keeping its index ({REGISTRY_INDEX_NAME} and its WAL, {cache_bytes:,} "
        "bytes): "
        f"its first start {first_keeping:.2f} s (from the deployment block, file written)"
    )
    print(
        f"  first verify after restart, index kept at block {kept:,} and {tail_read} blocks "
        f"read after it: {first_kept * 1000:.1f} ms (process start to verdict, file loaded); "
        f"limit (file loaded {load_kept * 1000:.1f} ms with the tail applied + warm verify) "
        f"{kept_limit * 1000:.1f} ms; ratio {kept_ratio:.2f} (target <= {RESTART_TARGET}); "
        f"against the index read from block 0: {first_kept / first:.4f}"
    )
    print(
        f"  restart to first verdict: {replay + first_kept:.2f} s from the snapshot and the "
        f"kept index, {replay + first:.2f} s reading the index from block 0"
        + (f", {full_replay + first:.1f} s replaying the journal" if full_replay else "")
    )
    met = (
        max(q_tail, q_early) <= QUERY_TARGET
        and restart_ratio <= RESTART_TARGET
        and kept_ratio <= RESTART_TARGET
    )
    print("MET" if met else "MISSED")
    return 0 if met else 1


if __name__ == "__main__":
    sys.exit(main())
