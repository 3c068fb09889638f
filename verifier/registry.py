"""The trust registry as a verifier sees it: the contracts' events indexed into a local cache.

``RegistryIndex`` holds authorities, their keys, anchored roots and credential statuses, built
only from the TrustRegistry's and AnchorRegistry's events. ``sync(chain)`` reads the logs of new
blocks (incrementally, by block), so steady-state verification makes no chain call. The index
lives in memory and, optionally, in a SQLite file that survives restarts (``cached``, ``open``:
one row per record, written incrementally, shared by processes; ``verifier._index_store``);
``export_snapshot`` writes it at a block (with the block's hash) for offline verification.

**Chain identity.** The index is pinned to one block of its chain — the block that deployed the
registries when a deployment record is known, else the first block with a registry event — and
every sync checks that block first. A node whose chain no longer holds it (a reset, another
chain behind the same URL) raises ``ChainMismatch`` instead of being re-read from scratch, which
would report every genuine credential as unknown. Only the tip may change: a synced block that
was replaced (a reorganisation, blocks lost by a node restarted from an older state) makes the
index re-read the chain, since what is on chain is the truth. With ``confirmations`` the index
reads only blocks that deep, so an anchor counts once it is final.

**Anchoring hash.** An index made for a deployment record knows the deployment's anchoring hash
(``sha-256`` or ``sm3``) and keeps it in its snapshots, so an offline verifier refuses a receipt
made with the other hash as an online one does; an index found from a registry address alone
does not know it (``anchoring_hash`` is empty) and takes each receipt's word.
"""

from __future__ import annotations

import json
import logging
import sqlite3
import time
from collections.abc import Iterable, Iterator, Mapping
from dataclasses import asdict, dataclass, field, replace
from functools import cache
from hashlib import sha256
from pathlib import Path
from typing import Any

from eth_utils.address import to_checksum_address
from eth_utils.crypto import keccak

from verifier._index_store import IndexStore, Row, WriteKind
from verifier.chain import Chain, EventDecoder, LogEntry
from verifier.contracts import load_artifact
from verifier.deployment import Deployment
from verifier.errors import ChainError, ChainMismatch, InvalidInput, SnapshotError
from verifier.keys import KeyAlgorithm, PublicMultikey
from verifier.merkle import MERKLE_HASHES

__all__ = [
    "AnchorRecord",
    "AuthorityRecord",
    "CredentialStatus",
    "IndexRead",
    "KeyAlgorithmCode",
    "KeyRecord",
    "ListRecord",
    "RegistryIndex",
    "StatusRecord",
    "key_algorithm_code",
]

SNAPSHOT_VERSION = "suixin-trust-snapshot/1"
CACHE_VERSION = "suixin-registry-index/2"
_LOG_CHUNK = 5_000
# A sync that applied no event writes the cache's block (one row) at most this often; one that
# applied events writes them at once (only the records they changed).
CACHE_WRITE_SECONDS = 5.0

log = logging.getLogger("verifier.registry")


class CredentialStatus:
    """Credential status codes as the AnchorRegistry stores them."""

    NONE = 0
    REVOKED = 1
    SUSPENDED = 2
    REINSTATED = 3
    SUPERSEDED = 4


class AuthorityStatus:
    """Authority status codes as the TrustRegistry stores them."""

    ACTIVE = 1
    SUSPENDED = 2
    REMOVED = 3


class KeyAlgorithmCode:
    """Issuer key algorithm codes as the TrustRegistry stores them (``KeyAlgorithm``)."""

    ED25519 = 1
    SM2 = 2


_ALGORITHMS: dict[int, KeyAlgorithm] = {
    KeyAlgorithmCode.ED25519: "Ed25519",
    KeyAlgorithmCode.SM2: "SM2",
}
_CODES: dict[str, int] = {name: code for code, name in _ALGORITHMS.items()}


def key_algorithm_code(algorithm: str) -> int:
    """The TrustRegistry's code of an issuer key algorithm (``"Ed25519"`` 1, ``"SM2"`` 2).

    Raises ``InvalidInput`` for any other algorithm: the registry records no other kind.
    """
    code = _CODES.get(algorithm)
    if code is None:
        raise InvalidInput(
            f"the trust registry records Ed25519 and SM2 issuer keys, not {algorithm!r}"
        )
    return code


@dataclass(frozen=True, slots=True)
class AuthorityRecord:
    """An accredited authority and the history of its status changes (block, time, status)."""

    id: int
    did: str
    name_zh: str
    name_en: str
    region: int
    credential_types: tuple[str, ...]
    account: str
    status: int
    accredited_at: int
    status_history: tuple[tuple[int, int, int], ...] = ()
    uscc: str = ""  # its 统一社会信用代码 as accredited; empty when none was given

    def status_after_block(self, block_number: int) -> int:
        """The authority's status once block ``block_number`` was mined.

        Blocks, not times, order events here: two blocks may share a timestamp.
        """
        current = AuthorityStatus.ACTIVE
        for block, _at, status in self.status_history:
            if block <= block_number:
                current = status
        return current


@dataclass(frozen=True, slots=True)
class KeyRecord:
    """An issuer key: its algorithm and public key (32 bytes Ed25519, or SM2's 33-byte
    compressed point), valid from, revoked from (0 = not revoked)."""

    authority_id: int
    key_id: str
    public_key: bytes
    valid_from: int
    revoked_at: int = 0
    revocation_reason: int = 0
    algorithm: KeyAlgorithm = "Ed25519"  # snapshots made before SM2 keys hold Ed25519 keys

    def valid_at(self, when: int) -> bool:
        """Whether the key was good at Unix time ``when``."""
        return self.valid_from <= when and (self.revoked_at == 0 or when < self.revoked_at)

    @property
    def multikey(self) -> PublicMultikey:
        """The key with its algorithm, as proofs are verified with and DID documents publish
        it (``.multikey`` gives the Multikey string). Whether the bytes are a valid key is
        checked when it is used (``InvalidInput`` then): the registry records what its
        authority registered."""
        return PublicMultikey(self.algorithm, self.public_key)


@dataclass(frozen=True, slots=True)
class AnchorRecord:
    """An anchored batch root."""

    root: bytes
    authority_id: int
    leaf_count: int
    anchored_at: int
    block_number: int
    transaction_hash: str


@dataclass(frozen=True, slots=True)
class StatusRecord:
    """A credential's current status under its authority."""

    authority_id: int
    credential_hash: bytes
    status: int
    reason: int
    changed_at: int
    block_number: int


@dataclass(frozen=True, slots=True)
class ListRecord:
    """The digest an authority last published for a status list (or list set)."""

    authority_id: int
    list_hash: bytes
    digest: bytes
    published_at: int
    block_number: int


@cache
def _decoders() -> tuple[EventDecoder, EventDecoder]:
    return (
        EventDecoder(load_artifact("TrustRegistry").abi),
        EventDecoder(load_artifact("AnchorRegistry").abi),
    )


@dataclass
class IndexRead:
    """What ``RegistryIndex.read`` found on chain for ``RegistryIndex.commit`` to apply: the
    decoded registry events after the synced block it started from, and the new head."""

    base_block: int  # the synced block the read continues from (-1: from the start)
    base_hash: str
    reset: bool = False  # the synced tip was replaced: the index is read again from the start
    entries: list[LogEntry] = field(default_factory=list)
    head: tuple[int, str, int] | None = None  # (number, hash, timestamp); None: nothing new
    pin: tuple[int, str] | None = None  # the first block with a registry event, if unpinned
    chain: Chain | None = None  # what was read (the cache file's write may ask it a block hash)


@dataclass
class RegistryIndex:
    """Authorities, keys, anchors and statuses, indexed from the registries' events."""

    chain_id: int
    trust_registry: str
    anchor_registry: str
    start_block: int = 0
    synced_block: int = -1
    synced_block_hash: str = ""
    synced_block_time: int = 0
    authorities: dict[int, AuthorityRecord] = field(default_factory=dict)
    keys: dict[tuple[int, str], KeyRecord] = field(default_factory=dict)
    anchors: dict[bytes, AnchorRecord] = field(default_factory=dict)
    statuses: dict[tuple[int, bytes], StatusRecord] = field(default_factory=dict)
    status_lists: dict[tuple[int, bytes], ListRecord] = field(default_factory=dict)
    # list sets and list credentials an office served, as a snapshot carries them (by URL);
    # never from the chain, which holds only their digests
    list_documents: dict[str, dict[str, Any]] = field(default_factory=dict)
    source: str = "chain"
    pinned_block: int = -1  # the block the index is pinned to (see the module docstring)
    pinned_hash: str = ""
    confirmations: int = 0  # blocks on top of a block before it is read
    anchoring_hash: str = ""  # the deployment's, when known: "sha-256" or "sm3"
    _by_did: dict[str, int] = field(default_factory=dict, repr=False)
    _by_did_hash: dict[bytes, int] = field(default_factory=dict, repr=False)
    _store: IndexStore | None = field(default=None, repr=False)
    # what changed since the cache was last written (kind, key); the block it was written at
    _dirty: set[tuple[str, Any]] = field(default_factory=set, repr=False)
    _written: tuple[int, str] = field(default=(-1, ""), repr=False)
    _write_all: bool = field(default=True, repr=False)
    _written_at: float = field(default=0.0, repr=False)

    # ------------------------------------------------------------------ construction

    @classmethod
    def for_anchor_registry(
        cls,
        chain: Chain,
        anchor_registry: str,
        *,
        start_block: int = 0,
        pin: tuple[int, str] | None = None,
        confirmations: int = 0,
    ) -> RegistryIndex:
        """An empty index for the registries behind ``anchor_registry``; ``pin`` is (block
        number, hash) of the block that deployed them, when known. Raises ChainMismatch when
        the chain does not hold the pinned block."""
        index = cls(
            chain_id=chain.chain_id,
            trust_registry="",
            anchor_registry=to_checksum_address(anchor_registry),
            start_block=start_block,
            pinned_block=pin[0] if pin else -1,
            pinned_hash=pin[1] if pin else "",
            confirmations=confirmations,
        )
        index.check_identity(chain)
        if not chain.has_code(anchor_registry):
            raise ChainMismatch(
                "no registry contract at this address (reset, or another chain?)",
                expected=f"an AnchorRegistry at {anchor_registry}",
                found=f"no contract on chain {chain.chain_id}",
            )
        abi = load_artifact("AnchorRegistry").abi
        index.trust_registry = to_checksum_address(
            chain.call(anchor_registry, abi, "trustRegistry")
        )
        return index

    @classmethod
    def for_deployment(cls, deployment: Deployment) -> RegistryIndex:
        """An empty index for a deployment record: pinned to the block that deployed the
        registries, read from there, with the record's confirmations. No chain call: the first
        sync checks the chain (ChainMismatch)."""
        return cls(
            chain_id=deployment.chain_id,
            trust_registry=to_checksum_address(deployment.trust_registry),
            anchor_registry=to_checksum_address(deployment.anchor_registry),
            start_block=deployment.block_number,
            pinned_block=deployment.block_number,
            pinned_hash=deployment.block_hash,
            confirmations=deployment.confirmations,
            anchoring_hash=deployment.anchoring_hash,
        )

    @classmethod
    def open(
        cls,
        path: Path,
        chain: Chain,
        anchor_registry: str,
        *,
        start_block: int = 0,
        pin: tuple[int, str] | None = None,
        confirmations: int = 0,
    ) -> RegistryIndex:
        """An index cached in the SQLite file ``path``: loaded if it holds this chain's and
        registry's index (else rebuilt, said in a log line), kept up to date by ``sync``."""
        store = IndexStore(path)
        index = cls._load_cache(store)
        if index is not None:
            same = (
                index.chain_id == chain.chain_id
                and index.anchor_registry == to_checksum_address(anchor_registry)
            )
            if same and (pin is None or index.pinned_block in (-1, pin[0])):
                if pin is not None:
                    index.pinned_block, index.pinned_hash = pin
                index.confirmations = confirmations
                index._attach(store, loaded=True)
                return index
            log.warning(
                "registry index cache %s holds chain %d's registry %s, not %s on chain %d: "
                "set aside, the index is read from the chain again",
                path,
                index.chain_id,
                index.anchor_registry,
                anchor_registry,
                chain.chain_id,
            )
        index = cls.for_anchor_registry(
            chain, anchor_registry, start_block=start_block, pin=pin, confirmations=confirmations
        )
        index._attach(store, loaded=False)
        return index

    @classmethod
    def cached(cls, path: Path, deployment: Deployment) -> RegistryIndex:
        """The index of a deployment record, kept in the SQLite file ``path`` across restarts
        and shared by every process that opens it. No chain call: what the file holds is
        loaded as it is, and the first ``sync`` reads only the blocks after the file's block,
        once it has checked that block's hash on the chain (a replaced block: the index is
        read again from the deployment block; another chain: ChainMismatch).

        A file for another deployment (chain id, registries, pinned block, anchoring hash), a
        malformed one or one SQLite cannot read is set aside with a log line saying why, and
        the index starts empty at the deployment block; the next write replaces the file's
        content in one transaction. Writes: ``sync`` writes the records its events changed at
        once, and the block alone at most every ``CACHE_WRITE_SECONDS``; never a block older
        than the one another process wrote."""
        fresh = cls.for_deployment(deployment)
        store = IndexStore(path)
        index = cls._load_cache(store)
        if index is not None and index._identity() != fresh._identity():
            log.warning(
                "registry index cache %s is for another deployment (%s), not this one (%s): "
                "set aside, the index is rebuilt from block %d",
                path,
                _describe(index),
                _describe(fresh),
                fresh.start_block,
            )
            index = None
        if index is None:
            fresh._attach(store, loaded=False)
            return fresh
        index.confirmations = deployment.confirmations
        index._attach(store, loaded=True)
        log.info(
            "registry index loaded from %s at block %d (%d anchors, %d statuses): the next sync "
            "reads from block %d",
            path,
            index.synced_block,
            len(index.anchors),
            len(index.statuses),
            index.synced_block + 1,
        )
        return index

    @classmethod
    def _load_cache(cls, store: IndexStore) -> RegistryIndex | None:
        """The index the file holds, or None when it holds none or cannot be used (logged)."""
        try:
            loaded = store.load()
        except sqlite3.DatabaseError as e:
            store.start_over(e)
            return None
        except ValueError as e:  # a meta entry that is not JSON
            log.warning("registry index cache %s is malformed (%s): rebuilt", store.path, e)
            return None
        if loaded is None:
            return None
        meta, rows = loaded
        try:
            identity = dict(meta["identity"])
            if identity.pop("version", None) != CACHE_VERSION:
                raise ValueError(f"not a {CACHE_VERSION} file")
            tables: dict[str, list[Any]] = {kind: [] for kind in _TABLES.values()}
            for kind, _key, value in rows:
                tables[_TABLES[kind]].append(json.loads(value))
            index = cls._from_json(
                {**identity, "version": SNAPSHOT_VERSION, "block": meta["block"], **tables},
                source="chain",
            )
        except (SnapshotError, KeyError, TypeError, ValueError) as e:
            log.warning(
                "registry index cache %s is malformed (%s): set aside, the index is rebuilt",
                store.path,
                e,
            )
            return None
        return index

    def _attach(self, store: IndexStore, *, loaded: bool) -> None:
        self._store = store
        self._dirty.clear()
        self._write_all = not loaded
        self._written = (self.synced_block, self.synced_block_hash) if loaded else (-1, "")
        self._written_at = time.monotonic()

    def _identity(self) -> dict[str, Any]:
        """What a cache file must be for: chain, registries, first block, pin, anchoring hash."""
        return {
            "version": CACHE_VERSION,
            "chainId": self.chain_id,
            "trustRegistry": self.trust_registry,
            "anchorRegistry": self.anchor_registry,
            "startBlock": self.start_block,
            "pin": {"number": self.pinned_block, "hash": self.pinned_hash},
            "anchoringHash": self.anchoring_hash,
        }

    # ------------------------------------------------------------------ sync

    def check_identity(self, chain: Chain) -> None:
        """Raise ChainMismatch unless ``chain`` has this index's chain id and pinned block."""
        if chain.chain_id != self.chain_id:
            raise ChainMismatch(
                "another chain id", expected=str(self.chain_id), found=str(chain.chain_id)
            )
        if self.pinned_block < 0:
            return
        expected = f"block {self.pinned_block} {self.pinned_hash}"
        head = chain.block_number()
        if head < self.pinned_block:
            raise ChainMismatch(
                "the chain is shorter than the block the registries were found in (reset?)",
                expected=expected,
                found=f"a chain ending at block {head}",
            )
        found = chain.block(self.pinned_block).hash
        if found != self.pinned_hash:
            raise ChainMismatch(
                "the block the registries were found in is another one (reset or replaced?)",
                expected=expected,
                found=f"block {self.pinned_block} {found}",
            )

    def sync(self, chain: Chain, *, to_block: int | None = None) -> int:
        """Index the events of every final block after the last synced one; returns events
        applied (see the module docstring for identity and replaced tips).

        Raises ChainMismatch for another chain, ChainUnavailable if the node cannot be reached:
        never read an unreachable or wrong chain as "nothing new" or "not issued".
        """
        return self.commit(self.read(chain, to_block=to_block))

    def read(self, chain: Chain, *, to_block: int | None = None) -> IndexRead:
        """The slow half of ``sync``: read (and decode) the events of the blocks after the last
        synced one, changing nothing here, so that other threads may read the index meanwhile.
        ``commit`` applies what it found. Raises as ``sync`` does."""
        head = chain.block(to_block if to_block is not None else "latest")
        reset = False
        if self.synced_block < 0:
            self.check_identity(chain)
        elif (
            head.number < self.synced_block
            or chain.block(self.synced_block).hash != self.synced_block_hash
        ):
            # the synced tip was replaced; the pinned block tells a reset chain (ChainMismatch)
            # from a replaced tip on the same chain (re-read). While the tip holds, so does every
            # block before it, the pinned one included: block hashes chain.
            self.check_identity(chain)
            reset = True
        base = (-1, "") if reset else (self.synced_block, self.synced_block_hash)
        read = IndexRead(base_block=base[0], base_hash=base[1], reset=reset)
        if to_block is None and self.confirmations:
            if head.number < self.confirmations:
                return read
            head = chain.block(head.number - self.confirmations)
        if head.number <= base[0]:
            return read
        trust_decoder, anchor_decoder = _decoders()
        pinned = self.pinned_block >= 0
        start = max(base[0] + 1, self.start_block)
        while start <= head.number:
            end = min(start + _LOG_CHUNK - 1, head.number)
            logs = chain.get_logs([self.trust_registry, self.anchor_registry], start, end)
            read.entries.extend(self._decode(logs, trust_decoder, anchor_decoder))
            if not pinned and logs:
                first = int(logs[0]["blockNumber"])
                read.pin, pinned = (first, chain.block(first).hash), True
            start = end + 1
        read.head = (head.number, head.hash, head.timestamp)
        read.chain = chain
        return read

    def commit(self, read: IndexRead) -> int:
        """Apply what ``read`` found; returns the registry events applied. Quick (no chain
        call): the lock that readers of the index take needs holding only for this. A read
        made from another synced block than this index's (another commit came first) applies
        nothing."""
        if read.reset:
            log.warning(
                "registry index: block %d %s is no longer on the chain (replaced or lost); "
                "the index is read again from block %d",
                self.synced_block,
                self.synced_block_hash,
                self.start_block,
            )
            self._reset()
        elif (read.base_block, read.base_hash) != (self.synced_block, self.synced_block_hash):
            return 0
        if read.head is None:
            return 0
        if read.pin is not None and self.pinned_block < 0:
            self.pinned_block, self.pinned_hash = read.pin
        applied = sum(1 for entry in read.entries if self._apply(entry))
        self.synced_block, self.synced_block_hash, self.synced_block_time = read.head
        self._save(read.chain)
        return applied

    def _decode(
        self, logs: Iterable[Any], trust_decoder: EventDecoder, anchor_decoder: EventDecoder
    ) -> list[LogEntry]:
        entries = []
        for log in logs:
            address = to_checksum_address(log["address"])
            if address == self.trust_registry:
                entry = trust_decoder.decode(log)
            elif address == self.anchor_registry:
                entry = anchor_decoder.decode(log)
            else:
                continue
            if entry is not None:
                entries.append(entry)
        return entries

    def apply(self, logs: Iterable[Any]) -> int:
        """Apply raw logs (in chain order) to the index; returns how many were registry events."""
        trust_decoder, anchor_decoder = _decoders()
        return sum(1 for e in self._decode(logs, trust_decoder, anchor_decoder) if self._apply(e))

    def _apply(self, e: LogEntry) -> bool:
        a = e.args
        if e.event == "AuthorityAccredited":
            record = AuthorityRecord(
                id=int(a["id"]),
                did=a["did"],
                name_zh=a["nameZh"],
                name_en=a["nameEn"],
                region=int(a["region"]),
                credential_types=tuple(a["credentialTypes"]),
                account=to_checksum_address(a["account"]),
                status=AuthorityStatus.ACTIVE,
                accredited_at=int(a["at"]),
                uscc=str(a["uscc"]),
            )
            self.authorities[record.id] = record
            self._by_did[record.did] = record.id
            self._by_did_hash[bytes(a["didHash"])] = record.id
            self._changed("authority", record.id)
        elif e.event == "AuthorityScopeChanged":
            auth = self._authority_by_hash(a["didHash"])
            self.authorities[auth.id] = replace(
                auth, region=int(a["region"]), credential_types=tuple(a["credentialTypes"])
            )
            self._changed("authority", auth.id)
        elif e.event == "AuthorityAccountChanged":
            auth = self._authority_by_hash(a["didHash"])
            self.authorities[auth.id] = replace(auth, account=to_checksum_address(a["newAccount"]))
            self._changed("authority", auth.id)
        elif e.event == "AuthorityStatusChanged":
            auth = self._authority_by_hash(a["didHash"])
            history = (*auth.status_history, (e.block_number, int(a["at"]), int(a["status"])))
            self.authorities[auth.id] = replace(
                auth, status=int(a["status"]), status_history=history
            )
            self._changed("authority", auth.id)
        elif e.event == "KeyAdded":
            auth = self._authority_by_hash(a["didHash"])
            algorithm = _ALGORITHMS.get(int(a["algorithm"]))
            if algorithm is None:  # the contract refuses any other: not this registry's event
                return False
            key = KeyRecord(
                auth.id,
                a["keyId"],
                bytes(a["publicKey"]),
                int(a["validFrom"]),
                algorithm=algorithm,
            )
            self.keys[(auth.id, key.key_id)] = key
            self._changed("key", (auth.id, key.key_id))
        elif e.event == "KeyRevoked":
            auth = self._authority_by_hash(a["didHash"])
            old = self.keys[(auth.id, a["keyId"])]
            self.keys[(auth.id, old.key_id)] = replace(
                old, revoked_at=int(a["revokedAt"]), revocation_reason=int(a["reason"])
            )
            self._changed("key", (auth.id, old.key_id))
        elif e.event == "RootAnchored":
            root = bytes(a["root"])
            self.anchors[root] = AnchorRecord(
                root,
                int(a["authorityId"]),
                int(a["leafCount"]),
                int(a["anchoredAt"]),
                e.block_number,
                e.tx_hash,
            )
            self._changed("anchor", root)
        elif e.event == "StatusChanged":
            key2 = (int(a["authorityId"]), bytes(a["credentialIdHash"]))
            self.statuses[key2] = StatusRecord(
                key2[0],
                key2[1],
                int(a["status"]),
                int(a["reason"]),
                int(a["changedAt"]),
                e.block_number,
            )
            self._changed("status", key2)
        elif e.event == "StatusListPublished":
            key3 = (int(a["authorityId"]), bytes(a["listIdHash"]))
            self.status_lists[key3] = ListRecord(
                key3[0], key3[1], bytes(a["digest"]), int(a["publishedAt"]), e.block_number
            )
            self._changed("list", key3)
        else:
            return False
        return True

    def _changed(self, kind: str, key: Any) -> None:
        if self._store is not None:
            self._dirty.add((kind, key))

    def _authority_by_hash(self, did_hash: bytes) -> AuthorityRecord:
        return self.authorities[self._by_did_hash[bytes(did_hash)]]

    def _reset(self) -> None:
        self.synced_block, self.synced_block_hash, self.synced_block_time = -1, "", 0
        for table in (self.authorities, self.keys, self.anchors, self.statuses, self.status_lists):
            table.clear()
        self._by_did.clear()
        self._by_did_hash.clear()
        self._dirty.clear()
        self._write_all = True  # the cache's records are replaced at the next write

    # ------------------------------------------------------------------ reads

    def authority(self, did: str) -> AuthorityRecord | None:
        """The authority with this DID, if accredited."""
        authority_id = self._by_did.get(did)
        return self.authorities.get(authority_id) if authority_id is not None else None

    def key(self, authority_id: int, key_id: str) -> KeyRecord | None:
        """An authority's key by id."""
        return self.keys.get((authority_id, key_id))

    def anchor(self, root: bytes) -> AnchorRecord | None:
        """The anchor of a batch root."""
        return self.anchors.get(root)

    def status(self, authority_id: int, credential_hash: bytes) -> StatusRecord | None:
        """A credential's status record under its authority; None if never changed."""
        return self.statuses.get((authority_id, credential_hash))

    def status_list(self, authority_id: int, list_hash: bytes) -> ListRecord | None:
        """The digest last published for a status list (set) of an authority, if any."""
        return self.status_lists.get((authority_id, list_hash))

    # ------------------------------------------------------------------ persistence and snapshots

    def to_json(self) -> dict[str, Any]:
        """The whole index as JSON (the body of a trust snapshot)."""
        return {
            "version": SNAPSHOT_VERSION,
            "chainId": self.chain_id,
            "trustRegistry": self.trust_registry,
            "anchorRegistry": self.anchor_registry,
            "startBlock": self.start_block,
            "pin": {"number": self.pinned_block, "hash": self.pinned_hash},
            "confirmations": self.confirmations,
            **({"anchoringHash": self.anchoring_hash} if self.anchoring_hash else {}),
            "block": {
                "number": self.synced_block,
                "hash": self.synced_block_hash,
                "timestamp": self.synced_block_time,
            },
            "authorities": [_authority_json(r) for r in self.authorities.values()],
            "keys": [_key_json(k) for k in self.keys.values()],
            "anchors": [_anchor_json(r) for r in self.anchors.values()],
            "statuses": [_status_json(s) for s in self.statuses.values()],
            "statusLists": [_list_json(r) for r in self.status_lists.values()],
            **(
                {
                    "statusListDocuments": [
                        self.list_documents[u] for u in sorted(self.list_documents)
                    ]
                }
                if self.list_documents
                else {}
            ),
        }

    @classmethod
    def _from_json(cls, data: Mapping[str, Any], *, source: str) -> RegistryIndex:
        if data.get("version") != SNAPSHOT_VERSION:
            raise SnapshotError(f"not a Suixin trust snapshot ({SNAPSHOT_VERSION})")
        try:
            index = cls(
                chain_id=int(data["chainId"]),
                trust_registry=to_checksum_address(data["trustRegistry"]),
                anchor_registry=to_checksum_address(data["anchorRegistry"]),
                start_block=int(data["startBlock"]),
                synced_block=int(data["block"]["number"]),
                synced_block_hash=str(data["block"]["hash"]),
                synced_block_time=int(data["block"]["timestamp"]),
                source=source,
                pinned_block=int((data.get("pin") or {}).get("number", -1)),
                pinned_hash=str((data.get("pin") or {}).get("hash", "")),
                confirmations=int(data.get("confirmations", 0)),
                anchoring_hash=str(data.get("anchoringHash", "")),
            )
            if index.anchoring_hash not in ("", *MERKLE_HASHES):
                raise ValueError(f"unknown anchoring hash {index.anchoring_hash!r}")
            for r in data["authorities"]:
                auth = AuthorityRecord(
                    **{
                        **r,
                        "credential_types": tuple(r["credential_types"]),
                        "status_history": tuple(tuple(h) for h in r["status_history"]),
                    }
                )
                index.authorities[auth.id] = auth
                index._by_did[auth.did] = auth.id
                index._by_did_hash[keccak(text=auth.did)] = auth.id
            for k in data["keys"]:
                key = KeyRecord(**{**k, "public_key": bytes.fromhex(k["public_key"])})
                if key.algorithm not in _CODES:
                    raise ValueError(f"unknown key algorithm {key.algorithm!r}")
                index.keys[(key.authority_id, key.key_id)] = key
            for a in data["anchors"]:
                anchor = AnchorRecord(**{**a, "root": bytes.fromhex(a["root"])})
                index.anchors[anchor.root] = anchor
            for s in data["statuses"]:
                status = StatusRecord(
                    **{**s, "credential_hash": bytes.fromhex(s["credential_hash"])}
                )
                index.statuses[(status.authority_id, status.credential_hash)] = status
            for r in data.get("statusLists", []):
                record = ListRecord(
                    **{
                        **r,
                        "list_hash": bytes.fromhex(r["list_hash"]),
                        "digest": bytes.fromhex(r["digest"]),
                    }
                )
                index.status_lists[(record.authority_id, record.list_hash)] = record
            for document in data.get("statusListDocuments", []):
                index.list_documents[str(document["id"])] = dict(document)
        except (KeyError, TypeError, ValueError) as e:
            raise SnapshotError(f"trust snapshot is malformed: {e!r}") from e
        return index

    def _save(self, chain: Chain | None) -> None:
        """Write what changed to the cache file, if there is one (see ``cached``). A failed
        write is logged and tried again at the next sync: the index in memory stays right."""
        store = self._store
        if store is None:
            return
        now = time.monotonic()
        if not (self._write_all or self._dirty) and now - self._written_at < CACHE_WRITE_SECONDS:
            return
        mine = (self.synced_block, self.synced_block_hash)
        identity = self._identity()

        def decide(stored: dict[str, Any]) -> WriteKind:
            block = stored.get("block")
            if stored.get("identity") != identity or not isinstance(block, dict):
                return "full"
            there = (int(block.get("number", -1)), str(block.get("hash", "")))
            if there[0] > mine[0]:
                return "skip"  # another process wrote a later block
            if self._write_all:  # a new, rebuilt or set-aside index: what the file holds goes
                return "full"
            if there[0] == mine[0]:
                return "skip" if there[1] == mine[1] else "full"
            if there == self._written:
                return "incremental"
            if (
                chain is not None
                and there[0] > self._written[0]
                and chain.block(there[0]).hash == there[1]
            ):
                return "incremental"  # another process wrote a block between ours
            return "full"

        meta = {
            "identity": identity,
            "block": {"number": mine[0], "hash": mine[1], "timestamp": self.synced_block_time},
        }
        try:
            store.write(decide, meta, self._rows)
        except (sqlite3.Error, ChainError) as e:
            log.warning("registry index cache %s not written (%s): tried again", store.path, e)
            return
        self._dirty.clear()
        self._written, self._write_all, self._written_at = mine, False, now

    def _rows(self, how: WriteKind) -> Iterator[Row]:
        if how == "full":
            for authority in self.authorities.values():
                yield _row("authority", authority.id, _authority_json(authority))
            for record in self.keys.values():
                yield _row("key", (record.authority_id, record.key_id), _key_json(record))
            for anchor in self.anchors.values():
                yield _row("anchor", anchor.root, _anchor_json(anchor))
            for status in self.statuses.values():
                yield _row(
                    "status", (status.authority_id, status.credential_hash), _status_json(status)
                )
            for lst in self.status_lists.values():
                yield _row("list", (lst.authority_id, lst.list_hash), _list_json(lst))
            return
        for kind, name in self._dirty:
            if kind == "authority":
                yield _row(kind, name, _authority_json(self.authorities[name]))
            elif kind == "key":
                yield _row(kind, name, _key_json(self.keys[name]))
            elif kind == "anchor":
                yield _row(kind, name, _anchor_json(self.anchors[name]))
            elif kind == "status":
                yield _row(kind, name, _status_json(self.statuses[name]))
            else:
                yield _row(kind, name, _list_json(self.status_lists[name]))

    def export_snapshot(self, path: Path) -> dict[str, Any]:
        """Write the index at its synced block to ``path``; returns the snapshot's header."""
        if self.synced_block < 0:
            raise SnapshotError("the index has not been synced: nothing to export")
        body = self.to_json()
        text = json.dumps(body, ensure_ascii=False, sort_keys=True)
        document = {"snapshot": body, "sha256": sha256(text.encode()).hexdigest()}
        path.write_text(json.dumps(document, ensure_ascii=False, indent=1) + "\n", "utf-8")
        return {"block": body["block"], "chainId": self.chain_id, "sha256": document["sha256"]}

    @classmethod
    def from_snapshot(cls, path: Path) -> RegistryIndex:
        """Read a snapshot file; raises SnapshotError if unreadable, malformed or altered."""
        try:
            document = json.loads(Path(path).read_text(encoding="utf-8"))
            body = document["snapshot"]
            text = json.dumps(body, ensure_ascii=False, sort_keys=True)
            recorded = document["sha256"]
        except (OSError, ValueError, KeyError, TypeError) as e:
            raise SnapshotError(f"cannot read trust snapshot {path}: {e}") from e
        if sha256(text.encode()).hexdigest() != recorded:
            raise SnapshotError(f"trust snapshot {path} was altered: its checksum does not match")
        return cls._from_json(body, source="snapshot")


# ---------------------------------------------------------------------- records as JSON

_TABLES = {
    "authority": "authorities",
    "key": "keys",
    "anchor": "anchors",
    "status": "statuses",
    "list": "statusLists",
}


def _authority_json(r: AuthorityRecord) -> dict[str, Any]:
    return {
        **asdict(r),
        "credential_types": list(r.credential_types),
        "status_history": [list(h) for h in r.status_history],
    }


def _key_json(k: KeyRecord) -> dict[str, Any]:
    return {**asdict(k), "public_key": k.public_key.hex()}


def _anchor_json(r: AnchorRecord) -> dict[str, Any]:
    return {**asdict(r), "root": r.root.hex()}


def _status_json(s: StatusRecord) -> dict[str, Any]:
    return {**asdict(s), "credential_hash": s.credential_hash.hex()}


def _list_json(r: ListRecord) -> dict[str, Any]:
    return {**asdict(r), "list_hash": r.list_hash.hex(), "digest": r.digest.hex()}


def _row(kind: str, key: Any, value: dict[str, Any]) -> Row:
    """A cache row: its key names the record uniquely within its kind."""
    if isinstance(key, bytes):
        text = key.hex()
    elif isinstance(key, tuple):
        text = json.dumps([k.hex() if isinstance(k, bytes) else k for k in key], ensure_ascii=False)
    else:
        text = str(key)
    return kind, text, json.dumps(value, ensure_ascii=False)


def _describe(index: RegistryIndex) -> str:
    return (
        f"chain {index.chain_id}, registries {index.trust_registry} and {index.anchor_registry}, "
        f"block {index.pinned_block} {index.pinned_hash[:18]}, "
        f"anchoring hash {index.anchoring_hash or 'unknown'}"
    )
