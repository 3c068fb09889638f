"""Suixin issuing-office service."""

import importlib.util
import os

# Keccak-256 (the embedded chain's EVM and state trie, transaction hashes, checksummed
# addresses) is eth-hash's, from the first backend it finds unless ETH_HASH_BACKEND names one:
# pycryptodome, about 7.6 µs a call through its Python wrapper, a seventh of the anchoring
# worker's CPU in a bulk run. safe-pysha3 (installed with web3[tester]) computes the same
# function in C in about 0.6 µs. Chosen here, before any hash is made (eth-hash chooses at its
# first call); a backend named in the environment stays as given (tests/service/test_keccak.py).
if "ETH_HASH_BACKEND" not in os.environ and importlib.util.find_spec("sha3") is not None:
    os.environ["ETH_HASH_BACKEND"] = "pysha3"
