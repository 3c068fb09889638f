"""Bulk issuance on every core: validate, build and sign in worker processes.

Signing a credential is CPU work under the GIL (schema and domain checks, JCS, Ed25519), so one
process issues on one core however many threads it runs. ``SigningPool`` keeps a few worker
processes (started with ``spawn``: the office process runs threads — the server, the anchoring
worker — and forking those is unsafe) and hands each a slice of a bulk request. Storage stays in
the office process, so the database transaction and the all-or-nothing rule do not change.
What comes back is each credential in its stored form (``issuance.SignedCredential``): the
digest of the JCS bytes signing made, those bytes compressed for sealing and the plain lookup
columns, a slice's worth as one object of a few lists (``SlicedResults``: no object per
credential to pickle, and not the JCS bytes themselves, which the office does not store). The
office process then only seals (the master key never leaves it), makes the blind index and
inserts: no second canonicalization or compression, and no nested dicts to unpickle.

The issuer key travels to the workers over their pipes, as its 32 private bytes (Ed25519's seed
or SM2's d) and its algorithm, with each slice; the workers keep it only in memory, like the
office process does. An HSM-backed signer would
replace this pool with the HSM's own parallelism (the ``Signer`` interface stays the same).
"""

from __future__ import annotations

import multiprocessing
import os
from collections.abc import Sequence
from concurrent.futures import Future, ProcessPoolExecutor
from dataclasses import dataclass
from datetime import datetime
from functools import lru_cache
from typing import Any

from service.issuing.issuance import SignedCredential
from verifier.errors import FieldError, InvalidCredential
from verifier.merkle import MerkleHash

__all__ = ["Building", "SigningPool", "SlicedIdentity", "SlicedResults", "default_processes"]

Result = SignedCredential | list[FieldError]  # a signed credential, or its errors


@dataclass(frozen=True, repr=False)
class SlicedIdentity:
    """What a worker process needs to sign for an authority (the key as its private bytes and
    algorithm, ``Ed25519`` or ``SM2``)."""

    did: str
    name_zh: str
    region: int
    key_id: str
    seed: bytes
    chain_id: int
    anchor_registry: str
    algorithm: str = "Ed25519"
    anchoring_hash: MerkleHash = "sha-256"  # of the digests (the deployment's)
    uscc: str | None = None  # the issuing unit of licence identifiers

    def __repr__(self) -> str:
        return f"SlicedIdentity({self.did!r}, {self.key_id!r}, <private key hidden>)"


def default_processes() -> int:
    """One worker per core this process may run on."""
    return len(os.sched_getaffinity(0)) if hasattr(os, "sched_getaffinity") else os.cpu_count() or 1


@lru_cache(maxsize=16)
def _identity(identity: SlicedIdentity) -> Any:
    # imported here: the worker process pays for these imports once, at its first slice
    from service.issuing.issuance import SigningIdentity
    from service.issuing.signer import LocalSigner, key_pair_from_private_bytes

    pair = key_pair_from_private_bytes(identity.algorithm, identity.seed)
    signer = LocalSigner(identity.key_id, pair)
    return SigningIdentity(
        identity.did,
        identity.name_zh,
        identity.region,
        identity.key_id,
        signer,
        cryptosuite=signer.cryptosuite,
        uscc=identity.uscc,
    )


def _warm() -> int:
    import service.issuing.issuance  # noqa: F401 - the import is the point: it loads schemas and crypto

    return os.getpid()


def build_slice(
    identity: SlicedIdentity,
    items: Sequence[tuple[str, dict[str, Any], datetime | None, datetime | None, int | None]],
    now: datetime,
) -> list[Result]:
    """Build and sign each item (type, subject, validFrom, validUntil, status list position),
    in the form the office stores it (``SignedCredential``: JCS bytes, digest, compressed
    bytes, plain columns; no nested dicts); an invalid item gives its field errors instead.
    Runs in-process (tests, and the reference ``SlicedResults`` is held to)."""
    from service.issuing.issuance import issue_signed, signed_form

    signing = _identity(identity)
    out: list[Result] = []
    for credential_type, subject, valid_from, valid_until, position in items:
        try:
            credential, jcs = issue_signed(
                credential_type,
                subject,
                signing,
                chain_id=identity.chain_id,
                anchor_registry=identity.anchor_registry,
                valid_from=valid_from,
                valid_until=valid_until,
                now=now,
                status_position=position,
            )
        except InvalidCredential as e:
            out.append(list(e.errors))
            continue
        out.append(signed_form(credential, jcs, identity.anchoring_hash).without_document())
    return out


@dataclass(frozen=True, slots=True)
class SlicedResults:
    """A slice's results as they cross the pipe back to the office: one list per column of
    the signed credentials (in item order) and the field errors of the invalid items by
    index. One pickled object of a few lists, not a ``SignedCredential`` per item, and no JCS
    bytes: the office stores the compressed ones (``packed``), and a caller that wants the
    signed credential reads it from them (``SignedCredential.credential``)."""

    columns: tuple[list[Any], ...]  # SignedCredential's fields up to ``derived_from``, less jcs
    errors: dict[int, list[FieldError]]
    count: int

    @classmethod
    def of(cls, results: Sequence[Result]) -> SlicedResults:
        """The wire form of ``build_slice``'s results."""
        signed = [r for r in results if isinstance(r, SignedCredential)]
        errors = {i: r for i, r in enumerate(results) if not isinstance(r, SignedCredential)}
        columns = tuple([getattr(c, name) for c in signed] for name in _WIRE_FIELDS)
        return cls(columns, errors, len(results))

    def results(self) -> list[Result]:
        """``build_slice``'s results again, each signed credential without its JCS bytes."""
        count = len(self.columns[0])
        absent = [None] * count  # jcs and document
        columns = [*self.columns[:_JCS], absent, *self.columns[_JCS:], absent]
        signed: list[Result] = list(map(SignedCredential._make, zip(*columns, strict=True)))
        if not self.errors:
            return signed
        rest = iter(signed)
        return [self.errors[i] if i in self.errors else next(rest) for i in range(self.count)]


_WIRE_FIELDS = tuple(name for name in SignedCredential._fields if name not in ("jcs", "document"))
_JCS = SignedCredential._fields.index("jcs")  # where the wire form leaves a field out
assert SignedCredential._fields[-1] == "document"  # left out too: the last, None


def sign_slice(
    identity: SlicedIdentity,
    items: Sequence[tuple[str, dict[str, Any], datetime | None, datetime | None, int | None]],
    now: datetime,
) -> SlicedResults:
    """``build_slice`` in a worker process, its results in their wire form."""
    return SlicedResults.of(build_slice(identity, items, now))


class Building:
    """Items queued on the pool (``SigningPool.start``)."""

    def __init__(self, slices: list[Future[SlicedResults]]) -> None:
        self._slices = slices

    def result(self) -> list[Result]:
        """Every item's result, in order, once its slice is built."""
        return [result for future in self._slices for result in future.result().results()]


class SigningPool:
    """A pool of signing processes; ``build`` splits a bulk request across them."""

    def __init__(self, processes: int, *, slice_size: int = 125) -> None:
        if processes < 1:
            raise ValueError("a signing pool needs at least one process")
        self.processes = processes
        self.slice_size = slice_size
        self._executor = ProcessPoolExecutor(
            processes, mp_context=multiprocessing.get_context("spawn")
        )

    def warm(self) -> None:
        """Start every process and load its imports now rather than at the first request."""
        futures = [self._executor.submit(_warm) for _ in range(self.processes * 2)]
        for future in futures:
            future.result()

    def build(
        self,
        identity: SlicedIdentity,
        items: Sequence[tuple[str, dict[str, Any], datetime | None, datetime | None, int | None]],
        now: datetime,
    ) -> list[Result]:
        """Build every item, in order, across the pool."""
        return self.start(identity, items, now).result()

    def start(
        self,
        identity: SlicedIdentity,
        items: Sequence[tuple[str, dict[str, Any], datetime | None, datetime | None, int | None]],
        now: datetime,
    ) -> Building:
        """Queue every item's building on the pool, in slices; ``Building.result`` waits for
        them. The pool takes slices in the order they were queued."""
        return Building(
            [
                self._executor.submit(sign_slice, identity, items[i : i + self.slice_size], now)
                for i in range(0, len(items), self.slice_size)
            ]
        )

    def close(self) -> None:
        """Stop the processes."""
        self._executor.shutdown(wait=True, cancel_futures=True)
