"""`suixin-verify batch` on every core against one core: does it scale with the cores?

Writes N anchored Ed25519 permits as a JSON Lines file and a trust snapshot of their chain, then
times ``verifier.batch.verify_lines`` over the file with one process (``workers=1``, in this
process: the one-core rate) and with one worker per core, alternating, in wall time (the work is
spread over processes; CPU time of one process would not see it). Target: the all-core rate at
least 0.8 x (cores x the one-core rate), as medians of the rounds. On a machine shared with other
work the figure says what the cores this run got could do; the load average is printed beside it.
"""

from __future__ import annotations

import argparse
import json
import os
import statistics
import sys
import tempfile
import time
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from scripts.bench_verify import setting
from verifier.batch import default_workers, verify_lines
from verifier.chain import EmbeddedChain
from verifier.keys import Ed25519KeyPair
from verifier.registry import RegistryIndex

TARGET = 0.8


def rate(path: Path, snapshot: Path, workers: int) -> tuple[float, int]:
    """Bundles per wall-clock second, and how many were VALID."""
    started = time.perf_counter()
    valid = sum(r.verdict == "VALID" for r in verify_lines(path, snapshot, workers=workers))
    return valid / (time.perf_counter() - started), valid


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=6000, help="bundles in the file")
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    cores = default_workers()

    chain = EmbeddedChain(None)
    ed = setting(chain, chain.dev_funder(), Ed25519KeyPair.generate(), "sha-256", args.n)
    index = RegistryIndex.for_anchor_registry(chain, ed.anchor_registry)
    index.sync(chain)
    with tempfile.TemporaryDirectory() as scratch:
        path, snapshot = Path(scratch) / "bundles.jsonl", Path(scratch) / "trust.json"
        with path.open("w", encoding="utf-8") as f:
            for bundle in ed.bundles:
                f.write(json.dumps(bundle, ensure_ascii=False) + "\n")
        index.export_snapshot(snapshot)
        one, all_cores, ratios = [], [], []
        for _ in range(args.rounds):
            single, valid = rate(path, snapshot, 1)
            assert valid == args.n, f"{valid} of {args.n} VALID"
            many, valid = rate(path, snapshot, cores)
            assert valid == args.n, f"{valid} of {args.n} VALID"
            one.append(single)
            all_cores.append(many)
            ratios.append(many / (cores * single))
    ratio = statistics.median(ratios)
    load = os.getloadavg()[0] if hasattr(os, "getloadavg") else float("nan")
    print(f"suixin-verify batch, {args.n} bundles, medians of {args.rounds} rounds (wall time):")
    print(f"  one core                {statistics.median(one):10,.0f} bundles/s")
    print(f"  {cores} workers               {statistics.median(all_cores):10,.0f} bundles/s")
    print(
        f"  ratio to {cores} x one core    {ratio:10.2f}  (target >= {TARGET}; "
        f"load average {load:.1f} on {os.cpu_count()} CPUs)"
    )
    return 0 if ratio >= TARGET else 1


if __name__ == "__main__":
    sys.exit(main())
