"""Raw SM2 sign and verify rates of Tongsuo (tongsuopy) on one core: the limit SM2 figures meet.

Raw: ``tongsuopy`` itself, ``key.sign(message, ECDSA(SM3))`` and ``public_key.verify(der, …)``,
with Z over the default ID computed inside Tongsuo, on 64-byte messages (a proof's hashData).
Beside it, the same through ``verifier.sm2`` (``Sm2KeyPair.sign`` / ``sm2_verify``, which add
the r ‖ s ↔ DER conversion and the range checks), and raw Ed25519 (``cryptography``) for scale.
Every figure is the median of several rounds, in CPU time of this process pinned to one core,
so other processes on a shared machine do not count against it. ``raw_sm2_rates`` is what
bench_verify and bench_issue call for their SM2 limit, and ``raw_sm2_batches`` gives the same raw
operations as batches a benchmark can alternate with its own rounds.
"""

from __future__ import annotations

import argparse
import os
import statistics
import sys
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey
from tongsuopy.crypto import hashes as tongsuo_hashes
from tongsuopy.crypto.asymciphers import ec as tongsuo_ec

from verifier.sm2 import Sm2KeyPair, sm2_verify, sm3_hash

MESSAGE_SIZE = 64  # hashData: two 32-byte digests


@dataclass(frozen=True, slots=True)
class Sm2Rates:
    """Operations per CPU second on one core, medians of the rounds."""

    sign: float
    verify: float
    library_sign: float
    library_verify: float
    ed25519_sign: float
    ed25519_verify: float
    sm3_per_second: float


def one_core() -> None:
    """Pin this process to one core (where the OS allows it)."""
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})


def rate(operation: Callable[[int], None], n: int, rounds: int) -> float:
    """Median of ``rounds`` rates of ``operation(i)`` run for i in range(n), per CPU second."""
    rates = []
    for _ in range(rounds):
        start = time.process_time()
        for i in range(n):
            operation(i)
        rates.append(n / (time.process_time() - start))
    return statistics.median(rates)


@dataclass(frozen=True, slots=True)
class RawSm2Batches:
    """Raw Tongsuo SM2 on ``n`` 64-byte messages: each call runs them all and returns ``n``."""

    sign: Callable[[], int]
    verify: Callable[[], int]


def raw_sm2_batches(n: int = 1000) -> RawSm2Batches:
    """``n`` raw SM2 signs, and ``n`` raw verifies, of Tongsuo itself (the limit; see module)."""
    messages = [i.to_bytes(4, "big") * (MESSAGE_SIZE // 4) for i in range(n)]
    algorithm = tongsuo_ec.ECDSA(tongsuo_hashes.SM3())
    key = tongsuo_ec.generate_private_key(tongsuo_ec.SM2())
    public = key.public_key()
    ders = [key.sign(m, algorithm) for m in messages]

    def sign() -> int:
        for m in messages:
            key.sign(m, algorithm)
        return n

    def verify() -> int:
        for der, m in zip(ders, messages, strict=True):
            public.verify(der, m, algorithm)
        return n

    return RawSm2Batches(sign, verify)


def raw_sm2_rates(n: int = 1000, rounds: int = 7) -> Sm2Rates:
    """Measure raw Tongsuo SM2, the same through verifier.sm2, Ed25519 and SM3 (see module)."""
    messages = [i.to_bytes(4, "big") * (MESSAGE_SIZE // 4) for i in range(n)]
    algorithm = tongsuo_ec.ECDSA(tongsuo_hashes.SM3())
    key = tongsuo_ec.generate_private_key(tongsuo_ec.SM2())
    public = key.public_key()
    ders = [key.sign(m, algorithm) for m in messages]
    pair = Sm2KeyPair(key)
    signatures = [pair.sign(m) for m in messages]
    ed = Ed25519PrivateKey.generate()
    ed_public = ed.public_key()
    ed_signatures = [ed.sign(m) for m in messages]
    sm2_verify(pair.public_bytes, signatures[0], messages[0])  # load the key once, as a verifier

    def raw_sign(i: int) -> None:
        key.sign(messages[i], algorithm)

    def raw_verify(i: int) -> None:
        public.verify(ders[i], messages[i], algorithm)

    def wrapped_sign(i: int) -> None:
        pair.sign(messages[i])

    def wrapped_verify(i: int) -> None:
        if not sm2_verify(pair.public_bytes, signatures[i], messages[i]):
            raise AssertionError("a good signature did not verify")

    def ed_sign(i: int) -> None:
        ed.sign(messages[i])

    def ed_verify(i: int) -> None:
        ed_public.verify(ed_signatures[i], messages[i])

    def sm3(i: int) -> None:
        sm3_hash(messages[i])

    return Sm2Rates(
        sign=rate(raw_sign, n, rounds),
        verify=rate(raw_verify, n, rounds),
        library_sign=rate(wrapped_sign, n, rounds),
        library_verify=rate(wrapped_verify, n, rounds),
        ed25519_sign=rate(ed_sign, n, rounds),
        ed25519_verify=rate(ed_verify, n, rounds),
        sm3_per_second=rate(sm3, n, rounds),
    )


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("-n", type=int, default=1000, help="operations per round")
    parser.add_argument("--rounds", type=int, default=7)
    args = parser.parse_args()
    one_core()
    r = raw_sm2_rates(args.n, args.rounds)
    print(
        f"medians of {args.rounds} rounds of {args.n} operations on {MESSAGE_SIZE}-byte messages;"
    )
    print("CPU time, one core")
    print(f"  raw SM2 sign (tongsuopy)        {r.sign:9.0f} /s")
    print(f"  raw SM2 verify (tongsuopy)      {r.verify:9.0f} /s")
    print(
        f"  verifier.sm2 sign               {r.library_sign:9.0f} /s"
        f"   ({r.library_sign / r.sign:.2f} × raw)"
    )
    print(
        f"  verifier.sm2 verify             {r.library_verify:9.0f} /s"
        f"   ({r.library_verify / r.verify:.2f} × raw)"
    )
    print(f"  raw Ed25519 sign (cryptography) {r.ed25519_sign:9.0f} /s")
    print(f"  raw Ed25519 verify              {r.ed25519_verify:9.0f} /s")
    print(
        f"  SM2 / Ed25519                   sign {r.sign / r.ed25519_sign:.2f}, "
        f"verify {r.verify / r.ed25519_verify:.2f}"
    )
    print(f"  SM3 of {MESSAGE_SIZE} bytes (verifier.sm2)   {r.sm3_per_second:9.0f} /s")
    return 0


if __name__ == "__main__":
    raise SystemExit(main())
