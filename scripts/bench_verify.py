"""Verification and signing throughput against the raw cost of the cryptography, Ed25519 and SM2.

Ed25519 (eddsa-jcs-2022, SHA-256 anchoring). Verify: bundles verified per second by
``Verifier.verify`` with a warm cache (registry indexed, no chain call), against the raw rate of
the cryptographic core on the same credentials — JCS of the document and of the proof
configuration, two SHA-256, one Ed25519 verify (``verify`` answers such a valid bundle on its
one-pass fast path, ``Verifier._fast_valid``: the run says for how many it did). Sign:
credentials signed per second by ``sign_credential`` against raw JCS + Ed25519 sign of the same
unsigned documents. Target: both ratios >= 0.6.

SM2 (suixin-sm2-jcs-2025, a deployment anchoring with SM3, the verifier knowing it): the same
measurements against the raw SM2 sign and verify of the chosen library, Tongsuo
(``scripts/bench_sm2.py``), on 64-byte messages. Target: both ratios >= 0.5.

Every figure is measured in this run, on one core (this process), in CPU time, as medians of
several rounds in which ours and the raw limit alternate; the ratio is the share of the raw rate
we keep. Also printed: full issuance (validate, build, sign) against the same raw signing, for
reference, and the library's raw rates from ``raw_sm2_rates``. Both authorities carry USCCs, so
every credential holds a national licence identifier that ``format`` checks.
"""

from __future__ import annotations

import argparse
import hashlib
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import timedelta
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import random

from eth_account import Account
from eth_account.signers.local import LocalAccount

from scripts.bench_sm2 import raw_sm2_batches, raw_sm2_rates
from service.anchoring.batches import anchor_batch
from service.issuing.issuance import SigningIdentity, issue_credential
from service.trust.deployment import deploy_registries, fund_if_dev
from tests.verifier.factories import residence_permit_subject
from verifier._fast_rules import inclusion_root, permit_fields
from verifier.chain import EmbeddedChain
from verifier.contracts import load_artifact
from verifier.credential import credential_type_of
from verifier.jcs import _compiled_split, canonicalize
from verifier.keys import Ed25519KeyPair, ed25519_verify, multibase_decode
from verifier.merkle import MerkleHash
from verifier.policy import Policy
from verifier.proofs import sign_credential
from verifier.registry import key_algorithm_code
from verifier.sm2 import Sm2KeyPair
from verifier.verify import Verdict, Verifier, _Facts

TARGET = 0.6  # Ed25519, against raw JCS + Ed25519
SM2_TARGET = 0.5  # SM2, against the library's raw SM2
DID = "did:web:lsj.gz.gov.cn"
USCC = "11440100007502156G"


def paired(
    ours: Callable[[], int], raw: Callable[[], int], rounds: int
) -> tuple[float, float, float]:
    """Median rates of ``ours`` and ``raw`` (items per CPU second of this process) and the median
    of the per-round ratios; the two run alternately so that both see the same machine. CPU
    time, not wall time: other processes on this shared machine do not count against either."""
    ours_rates, raw_rates, ratios = [], [], []
    for _ in range(rounds):
        start = time.process_time()
        n = ours()
        mine = n / (time.process_time() - start)
        start = time.process_time()
        n = raw()
        limit = n / (time.process_time() - start)
        ours_rates.append(mine)
        raw_rates.append(limit)
        ratios.append(mine / limit)
    return statistics.median(ours_rates), statistics.median(raw_rates), statistics.median(ratios)


@dataclass
class Setting:
    """One authority on its own deployment, with credentials issued and anchored."""

    key: Ed25519KeyPair | Sm2KeyPair
    identity: SigningIdentity
    subjects: list[dict[str, Any]]
    credentials: list[dict[str, Any]]
    bundles: list[dict[str, Any]]
    verifier: Verifier
    chain_id: int
    anchor_registry: str
    anchoring_hash: MerkleHash
    unsigned: list[dict[str, Any]] = field(init=False)  # the credentials without their proofs
    proofs: list[dict[str, Any]] = field(init=False)  # their proofs without proofValue

    def __post_init__(self) -> None:
        self.unsigned = [{k: v for k, v in c.items() if k != "proof"} for c in self.credentials]
        self.proofs = [
            {k: v for k, v in c["proof"].items() if k != "proofValue"} for c in self.credentials
        ]

    def issue_all(self) -> int:
        for s in self.subjects:
            issue_credential(
                "ResidencePermit",
                s,
                self.identity,
                chain_id=self.chain_id,
                anchor_registry=self.anchor_registry,
                anchor_hash=self.anchoring_hash,
            )
        return len(self.subjects)

    def sign_all(self) -> int:
        method = self.identity.verification_method
        for doc in self.unsigned:
            sign_credential(doc, self.key, method, "2026-11-21T08:00:00Z")
        return len(self.unsigned)

    def verify_all(self) -> int:
        for b in self.bundles:
            self.verifier.verify(b)
        return len(self.bundles)


def setting(
    chain: EmbeddedChain,
    root: LocalAccount,
    key: Ed25519KeyPair | Sm2KeyPair,
    anchoring_hash: MerkleHash,
    n: int,
) -> Setting:
    """Registries of their own (anchoring with ``anchoring_hash``), an authority with ``key``,
    ``n`` permits issued, anchored in one batch and verified once (the cache warmed)."""
    account = Account.create()
    fund_if_dev(chain, account.address)
    deployment = deploy_registries(chain, root, anchoring_hash=anchoring_hash)
    trust = load_artifact("TrustRegistry").abi
    chain.transact(
        deployment.trust_registry,
        trust,
        "accredit",
        [DID, "广州市来穗人员服务管理局", "GZ", 440100, ["ResidencePermit"], account.address, USCC],
        root,
    )
    algorithm = "SM2" if isinstance(key, Sm2KeyPair) else "Ed25519"
    chain.transact(
        deployment.trust_registry,
        trust,
        "addKey",
        [DID, "key-1", key_algorithm_code(algorithm), key.public_bytes],
        account,
    )
    identity = SigningIdentity(DID, "广州市来穗人员服务管理局", 440100, "key-1", key, uscc=USCC)
    rng = random.Random(1)
    subjects = [residence_permit_subject(rng) for _ in range(n)]
    credentials = [
        issue_credential(
            "ResidencePermit",
            s,
            identity,
            chain_id=chain.chain_id,
            anchor_registry=deployment.anchor_registry,
            anchor_hash=anchoring_hash,
        )[0]
        for s in subjects
    ]
    bundles = anchor_batch(chain, deployment, account, credentials)
    verifier = Verifier.from_chain(
        chain,
        deployment.anchor_registry,
        Policy(sync_interval=timedelta(days=1)),
        deployment=deployment,
    )
    assert all(verifier.verify(b).verdict is Verdict.VALID for b in bundles)
    return Setting(
        key,
        identity,
        subjects,
        credentials,
        bundles,
        verifier,
        chain.chain_id,
        deployment.anchor_registry,
        anchoring_hash,
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=500, help="credentials per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument(
        "--breakdown",
        action="store_true",
        help="also print where an Ed25519 verification's time goes, check by check (µs)",
    )
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})  # one core

    chain = EmbeddedChain(None)
    root = chain.dev_funder()
    ed = setting(chain, root, Ed25519KeyPair.generate(), "sha-256", args.n)
    sm2 = setting(chain, root, Sm2KeyPair.generate(), "sm3", args.n)

    ed_key = ed.key
    assert isinstance(ed_key, Ed25519KeyPair)
    unsigned, proofs = ed.unsigned, ed.proofs

    def raw_sign() -> int:
        for doc, proof in zip(unsigned, proofs, strict=True):
            data = (
                hashlib.sha256(canonicalize(proof)).digest()
                + hashlib.sha256(canonicalize(doc)).digest()
            )
            ed_key.sign(data)
        return len(unsigned)

    signatures = [multibase_decode(c["proof"]["proofValue"]) for c in ed.credentials]
    public = ed_key.public_bytes

    def raw_verify() -> int:
        for doc, proof, sig in zip(unsigned, proofs, signatures, strict=True):
            data = (
                hashlib.sha256(canonicalize(proof)).digest()
                + hashlib.sha256(canonicalize(doc)).digest()
            )
            ed25519_verify(public, sig, data)
        return len(unsigned)

    raw_sm2 = raw_sm2_batches(args.n)
    rows = [
        ("verify", "Ed25519", TARGET, paired(ed.verify_all, raw_verify, args.rounds)),
        ("sign", "Ed25519", TARGET, paired(ed.sign_all, raw_sign, args.rounds)),
        ("issue", "Ed25519", None, paired(ed.issue_all, raw_sign, args.rounds)),
        ("verify", "SM2", SM2_TARGET, paired(sm2.verify_all, raw_sm2.verify, args.rounds)),
        ("sign", "SM2", SM2_TARGET, paired(sm2.sign_all, raw_sm2.sign, args.rounds)),
        ("issue", "SM2", None, paired(sm2.issue_all, raw_sm2.sign, args.rounds)),
    ]
    library = raw_sm2_rates(args.n, args.rounds)
    what = {
        "verify": "Verifier.verify, warm cache",
        "sign": "sign_credential",
        "issue": "validate + build + sign",
    }
    limits = {"Ed25519": "raw JCS+Ed25519", "SM2": "raw SM2 (Tongsuo)"}
    ok = True
    for name, algorithm, target, (ours, raw, ratio) in rows:
        if target is not None:
            ok &= ratio >= target
        aim = f"(target >= {target})" if target is not None else "(no target)"
        print(
            f"{name:6s} {algorithm:7s} {ours:7.0f}/s   {limits[algorithm]:17s} {raw:7.0f}/s   "
            f"ratio {ratio:.2f} {aim:16s}  {what[name]}"
        )
    print(
        f"raw SM2 of Tongsuo in this run (raw_sm2_rates): sign {library.sign:,.0f}/s, verify "
        f"{library.verify:,.0f}/s; raw Ed25519 sign {library.ed25519_sign:,.0f}/s, verify "
        f"{library.ed25519_verify:,.0f}/s (64-byte messages)"
    )
    by_name = {(name, algorithm): figures for name, algorithm, _, figures in rows}
    print(
        "SM2 against Ed25519, end to end: verify "
        f"{by_name[('verify', 'SM2')][0] / by_name[('verify', 'Ed25519')][0]:.2f}, sign "
        f"{by_name[('sign', 'SM2')][0] / by_name[('sign', 'Ed25519')][0]:.2f}, issue "
        f"{by_name[('issue', 'SM2')][0] / by_name[('issue', 'Ed25519')][0]:.2f}"
    )
    rounds, n = args.rounds, args.n
    print(
        f"medians of {rounds} alternating rounds of {n} credentials; CPU time, one core; "
        f"load average {os.getloadavg()[0]:.1f} (a busy machine lowers the ratio: the two share "
        "caches and cores with everything else)"
    )
    now = ed.verifier.policy.now()
    taken = sum(ed.verifier._fast_valid(b, now) is not None for b in ed.bundles)
    print(
        f"Ed25519: Verifier.verify answered {taken} of {len(ed.bundles)} bundles on its one-pass "
        "fast path (_fast_valid); SM2 bundles take the checks one by one"
    )
    if args.breakdown:
        print_fast_breakdown(ed.verifier, ed.bundles, public, raw_verify, rounds)
        print_breakdown("Ed25519", ed.verifier, ed.bundles, raw_verify, "raw JCS+Ed25519", rounds)
        print_breakdown("SM2", sm2.verifier, sm2.bundles, raw_sm2.verify, "raw SM2 verify", rounds)
    return 0 if ok else 1


def print_fast_breakdown(
    verifier: Verifier,
    bundles: list[dict[str, Any]],
    public: bytes,
    raw: Callable[[], int],
    rounds: int,
) -> None:
    """Where the fast path's time goes (``Verifier._fast_valid``, what ``verify`` answers a
    valid Ed25519 bundle with): its costly steps timed alone on the same bundles, the lookups,
    checks and report that remain by difference from the whole."""
    clock = time.process_time_ns
    now = verifier.policy.now()
    names = [
        "JCS split (format, signature, leaf)",
        "schema + field rules (format)",
        "proofValue decode (signature)",
        "Ed25519 verify (signature)",
        "leaf + inclusion path (anchor)",
        "the rest: lookups, checks, report",
        "total (_fast_valid)",
    ]
    medians: dict[str, list[float]] = {name: [] for name in [*names, "raw"]}
    prepared = []
    for bundle in bundles:
        cred = bundle["credential"]
        split = _compiled_split(cred, "proof")
        assert split is not None
        options = {k: v for k, v in cred["proof"].items() if k != "proofValue"}
        data = hashlib.sha256(canonicalize(options)).digest() + hashlib.sha256(split[0]).digest()
        signature = multibase_decode(cred["proof"]["proofValue"])
        prepared.append((bundle, cred, split[1], signature, data))
    for _ in range(rounds):
        spent = dict.fromkeys(names, 0)
        for bundle, cred, whole, signature, data in prepared:
            t0 = clock()
            _compiled_split(cred, "proof")
            t1 = clock()
            permit_fields(bundle, cred, now)
            t2 = clock()
            multibase_decode(cred["proof"]["proofValue"])
            t3 = clock()
            ed25519_verify(public, signature, data)
            t4 = clock()
            anchor = bundle["anchor"]
            leaf = hashlib.sha256(b"\x00" + hashlib.sha256(whole).digest()).digest()
            inclusion_root(leaf, anchor["leafIndex"], anchor["treeSize"], anchor["path"])
            t5 = clock()
            report = verifier._fast_valid(bundle, now)
            t6 = clock()
            assert report is not None and report.verdict is Verdict.VALID
            for name, took in zip(
                names[:5], (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4), strict=True
            ):
                spent[name] += took
            spent[names[6]] += t6 - t5
            spent[names[5]] += max((t6 - t5) - (t5 - t0), 0)
        start = clock()
        n = raw()
        limit = clock() - start
        for name in names:
            medians[name].append(spent[name] / len(bundles) / 1000)
        medians["raw"].append(limit / n / 1000)
    print("where the fast path's time goes, Ed25519 (µs per bundle, medians of the rounds):")
    for name in names:
        print(f"  {name:36s} {statistics.median(medians[name]):7.1f}")
    print(f"  {'raw JCS+Ed25519, for scale':36s} {statistics.median(medians['raw']):7.1f}")


def print_breakdown(
    label: str,
    verifier: Verifier,
    bundles: list[dict[str, Any]],
    raw: Callable[[], int],
    raw_label: str,
    rounds: int,
) -> None:
    """Time the general path's stages (``Verifier._verify_checks``, what ``verify`` runs for a
    bundle its fast path declines, and every SM2 bundle) one by one, in its own order.

    It calls the verifier's private steps as ``_verify_checks`` does (and checks that the
    verdicts agree), so it breaks loudly when they change shape: mend it alongside. The last
    line, for scale, is the raw limit on as many documents (``raw``: JCS + Ed25519 verify, or
    the library's SM2 verify); the signature call in it is also the bulk of the ``signature``
    stage.
    """
    stages = [
        "format (with the JCS split)",
        "resolve (lookups)",
        "anchor",
        "signature",
        "issuer",
        "key_validity",
        "status",
        "validity_period",
        "the report and the rest",
    ]
    medians: dict[str, list[float]] = {name: [] for name in [*stages, "total", "raw"]}
    clock = time.process_time_ns
    for _ in range(rounds):
        spent = dict.fromkeys(stages, 0)
        for bundle in bundles:
            t0 = clock()
            verifier.refresh()
            now = verifier.policy.now()
            facts = _Facts()
            fmt = verifier._format(bundle, now, facts)
            facts.kind = credential_type_of(facts.credential)
            t1 = clock()
            verifier._resolve(facts)
            t2 = clock()
            facts.anchor_result = verifier._anchor(facts, now)
            t3 = clock()
            checks = [fmt, verifier._signature(facts)]
            t4 = clock()
            checks.append(verifier._issuer(facts))
            t5 = clock()
            checks.append(verifier._key_validity(facts, now))
            t6 = clock()
            checks.append(facts.anchor_result)
            checks.append(verifier._status(facts))
            t7 = clock()
            checks.append(verifier._validity(facts, now))
            t8 = clock()
            # the report's own cost, by difference: the general path as ``verify`` takes it for
            # a bundle ``_fast_valid`` declines
            verdict = verifier._verify_checks(bundle, None, now).verdict
            t9 = clock()
            assert verdict is Verdict.VALID and all(c.outcome.value == "pass" for c in checks)
            for name, took in zip(
                stages[:-1],
                (t1 - t0, t2 - t1, t3 - t2, t4 - t3, t5 - t4, t6 - t5, t7 - t6, t8 - t7),
                strict=True,
            ):
                spent[name] += took
            spent[stages[-1]] += max((t9 - t8) - (t8 - t0), 0)
        start = clock()
        n = raw()
        limit = clock() - start
        for name in stages:
            medians[name].append(spent[name] / len(bundles) / 1000)
        medians["total"].append(sum(spent.values()) / len(bundles) / 1000)
        medians["raw"].append(limit / n / 1000)
    print(
        f"where an {label} verification's time goes on the general path, check by check (µs per "
        "bundle, medians of the rounds):"
    )
    for name in [*stages, "total"]:
        print(f"  {name:30s} {statistics.median(medians[name]):7.1f}")
    print(f"  {raw_label + ', for scale':30s} {statistics.median(medians['raw']):7.1f}")


if __name__ == "__main__":
    sys.exit(main())
