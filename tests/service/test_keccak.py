"""The office hashes Keccak-256 with safe-pysha3 (C) rather than pycryptodome: the same
function, byte for byte, chosen before the first hash unless the environment names a backend."""

from __future__ import annotations

import os
import subprocess
import sys

from eth_hash.backends import pycryptodome, pysha3
from hypothesis import given, settings
from hypothesis import strategies as st

_PROBE = (
    "import service, eth_hash.auto as a, eth_utils; a.keccak(b'x');"
    "print(type(a.keccak._backend.keccak256.__self__).__name__,"
    " eth_utils.keccak(b'').hex())"
)


def _probe(env: dict[str, str]) -> list[str]:
    done = subprocess.run(
        [sys.executable, "-c", _PROBE], env=env, capture_output=True, text=True, check=True
    )
    return done.stdout.split()


def test_the_office_process_hashes_with_pysha3() -> None:
    env = {k: v for k, v in os.environ.items() if k != "ETH_HASH_BACKEND"}
    backend, empty = _probe(env)
    assert backend == "PySha3Backend"
    assert empty == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


def test_a_backend_named_in_the_environment_stays() -> None:
    backend, empty = _probe({**os.environ, "ETH_HASH_BACKEND": "pycryptodome"})
    assert backend == "CryptodomeBackend"
    assert empty == "c5d2460186f7233c927e7db2dcc703c0e500b653ca82273b7bfad8045d85a470"


@settings(max_examples=500, deadline=None)
@given(st.binary(max_size=2048))
def test_both_backends_give_the_same_digest(data: bytes) -> None:
    assert pysha3.backend.keccak256(data) == pycryptodome.backend.keccak256(data)
    a, b = pysha3.backend.preimage(data[:7]), pycryptodome.backend.preimage(data[:7])
    a.update(data[7:])
    b.update(data[7:])
    assert a.digest() == b.digest() == pycryptodome.backend.keccak256(data)
