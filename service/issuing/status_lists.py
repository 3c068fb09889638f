"""W3C Bitstring status lists an authority publishes beside its chain status (issue 17).

Every credential an authority with a did:web issues carries, besides its chain status entry
(``SuixinAnchorRegistryStatus``), two ``BitstringStatusListEntry``s at one *position*: entry
``position mod 131072`` of list ``position div 131072``, once for the purpose ``revocation`` and
once for ``suspension``. The lists are published as signed list credentials at
``https://<did:web host>/status-lists/<purpose>/<number>``; a standard verifier reads them
without knowing anything of Suixin.

**Positions** are handed out in blocks of ``BLOCK`` (reserved in ``status_allocations``) and
shuffled within the block, so neighbouring entries do not tell issuance order. A block reserved
by a process that stops unused leaves zero bits nobody points at: harmless. A life-cycle step
reserves in its own transaction (``take(..., session=)``): no block is cached then, so a step
rolled back gives its position back with it.

**Publication** (``prepare``, ``promote``, ``discard``) is driven by the status sender: the
changes it claims set or clear bits in new versions of the lists they touch, each signed by the
authority's current key; the authority's *list set* (``verifier.status_list.StatusListSet``:
every list's URL and digest) gets a new version too, and the set's digest goes on chain in the
same transaction as the changes (``setStatusBatchWithLists``). The new versions wait in
``pending`` until the transaction is mined, and only then are served: what the office serves is
always what the chain committed to. A list never published yet (a new list number) is
published, all zeros, on the sender's next pass.

**Token Status Lists** (draft-ietf-oauth-status-list) give the status of the SD-JWT VCs made
from the credentials (``service.wallet.oid4vci``): every copy takes a position of its own from
the same shuffled blocks, entry ``position mod 131072`` of token list ``position div 131072``
(``purpose`` ``token`` in ``status_lists``), 2 bits each: 0 valid, 1 invalid (revoked or
superseded), 2 suspended. A token list is a Status List Token, a JWT (``typ``
``statuslist+jwt``) signed by the authority's current Ed25519 key with ``sub`` its URL
``https://<host>/status-lists/token/<number>``, ``iat``, ``exp`` and ``ttl``; it is kept as a
list document (``verifier.status_tokens.token_document``) and its digest
(``status_list_token_digest``) sits in the same list set, so the same pending, promote and
discard steps carry it to the chain with the changes. A change of a credential sets the entry
of every copy made from it. A token is signed again when less than ``TOKEN_RENEW`` of its
``TOKEN_LIFETIME`` is left.
"""

from __future__ import annotations

import json
import secrets
import threading
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import unquote

from sqlalchemy import select, update
from sqlalchemy.dialects import postgresql, sqlite
from sqlalchemy.orm import Session

from service.storage.db import Database
from service.storage.models import StatusAllocation, StatusList, StatusListSetRow
from service.storage.wallet import SdJwtCredential
from verifier.status_list import (
    BITSTRING_STATUS_LIST_ENTRY,
    MIN_STATUS_LIST_ENTRIES,
    StatusBitstring,
    StatusListSet,
    build_status_list_credential,
    list_id_hash,
    status_list_entries,
)
from verifier.status_tokens import list_document_digest, token_document
from verifier.token_status_list import (
    TOKEN_STATUS_INVALID,
    TOKEN_STATUS_SUSPENDED,
    TOKEN_STATUS_VALID,
    TokenStatusList,
    status_list_token_claims,
)

__all__ = [
    "BLOCK",
    "LIST_ENTRIES",
    "PURPOSES",
    "TOKEN",
    "TOKEN_BITS",
    "ListUpdate",
    "StatusPositions",
    "did_web_host",
    "discard",
    "ensure_token_lists",
    "list_base",
    "list_entries",
    "list_url",
    "pending_set",
    "prepare",
    "promote",
    "served_list",
    "served_lists",
    "served_set",
    "served_token",
    "set_url",
    "token_reference",
]

LIST_ENTRIES = MIN_STATUS_LIST_ENTRIES  # 131,072: the spec's minimum, for herd privacy
PURPOSES = ("revocation", "suspension")
BLOCK = 1024  # positions reserved at a time; divides LIST_ENTRIES, so a block is in one list
LIST_TTL_MS = 60_000  # a verifier may cache a list this long (the spec's ``ttl``)

TOKEN = "token"  # the ``purpose`` of Token Status Lists (SD-JWT VC copies)
TOKEN_BITS = 2
TOKEN_LIFETIME = timedelta(days=365)  # a token's ``exp``: signed again before it runs out
TOKEN_RENEW = timedelta(days=30)
_TOKEN_VALUES = {
    "revoked": TOKEN_STATUS_INVALID,
    "superseded": TOKEN_STATUS_INVALID,
    "suspended": TOKEN_STATUS_SUSPENDED,
    "reinstated": TOKEN_STATUS_VALID,
}

# the bit each chain status sets in each purpose's list (a superseded version is no longer
# valid: a standard verifier reads it as revoked; the chain keeps the finer status)
_BITS: dict[str, tuple[str, int]] = {
    "revoked": ("revocation", 1),
    "superseded": ("revocation", 1),
    "suspended": ("suspension", 1),
    "reinstated": ("suspension", 0),
}


def did_web_host(did: str) -> str | None:
    """The host of a did:web served at ``/.well-known/did.json`` (no path), else None."""
    if not did.startswith("did:web:"):
        return None
    rest = did.removeprefix("did:web:")
    if ":" in rest:
        return None  # did:web:host:path lives under /path/did.json, not .well-known
    return unquote(rest).lower()


def list_base(did: str) -> str | None:
    """Where an authority's lists live (``https://<host>/status-lists``); None for a DID that
    is not a plain did:web (such an authority publishes no lists)."""
    host = did_web_host(did)
    return f"https://{host}/status-lists" if host else None


def list_url(base: str, purpose: str, number: int) -> str:
    """The URL (the list credential's ``id``) of list ``number`` for ``purpose``."""
    return f"{base}/{purpose}/{number}"


def set_url(base: str) -> str:
    """The URL of the authority's list set, whose digest is anchored."""
    return base


def list_entries(base: str, position: int) -> list[dict[str, Any]]:
    """The two ``BitstringStatusListEntry``s of ``position``."""
    number, index = divmod(position, LIST_ENTRIES)
    out = []
    for purpose in PURPOSES:
        url = list_url(base, purpose, number)
        out.append(
            {
                "id": f"{url}#{index}",
                "type": BITSTRING_STATUS_LIST_ENTRY,
                "statusPurpose": purpose,
                "statusListIndex": str(index),
                "statusListCredential": url,
            }
        )
    return out


def token_reference(base: str, position: int) -> dict[str, Any]:
    """The ``status`` claim of an SD-JWT VC at ``position``: ``{"status_list": {idx, uri}}``."""
    number, index = divmod(position, LIST_ENTRIES)
    return {"status_list": {"idx": index, "uri": list_url(base, TOKEN, number)}}


def ensure_token_lists(s: Session, authority_id: int, positions: Iterable[int]) -> None:
    """Create the token list rows ``positions`` fall in (published on the sender's next
    pass, all zeros, if new)."""
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    now = datetime.now(UTC)
    for number in sorted({p // LIST_ENTRIES for p in positions}):
        s.execute(
            dialect.insert(StatusList)
            .values(authority_id=authority_id, purpose=TOKEN, number=number, updated_at=now)
            .on_conflict_do_nothing(index_elements=["authority_id", "purpose", "number"])
        )


# ---------------------------------------------------------------------------- positions


class StatusPositions:
    """Hands out list positions per authority (thread-safe; see the module docstring)."""

    def __init__(self, db: Database) -> None:
        self.db = db
        self._lock = threading.Lock()
        self._free: dict[int, list[int]] = {}

    def take(
        self, authority_id: int, count: int = 1, *, session: Session | None = None
    ) -> list[int]:
        """``count`` unused positions of the authority. With ``session``, reserved in that
        transaction (exactly ``count``, nothing cached); else from cached blocks, reserving
        more in a transaction of their own."""
        if count < 0:
            raise ValueError("count must not be negative")
        if session is not None:
            start = _reserve(session, authority_id, count)
            return list(range(start, start + count))
        out: list[int] = []
        with self._lock:
            free = self._free.setdefault(authority_id, [])
            while len(out) < count:
                if not free:
                    wanted = max(BLOCK, -(-(count - len(out)) // BLOCK) * BLOCK)
                    with self.db.session() as s:
                        start = _reserve(s, authority_id, wanted)
                    fresh: list[int] = []
                    for i in range(start, start + wanted, BLOCK):  # shuffled block by block
                        fresh += shuffled(range(i, min(i + BLOCK, start + wanted)))
                    free.extend(reversed(fresh))
                out.append(free.pop())
        return out


def shuffled(values: Sequence[int]) -> list[int]:
    """``values`` in an order drawn from the operating system's CSPRNG: each sorted by a key of
    8 random bytes of its own, all read at once. Every order is equally likely but for keys
    that tie (about 1 in 10**13 for a block): ``SystemRandom().shuffle`` read the CSPRNG once
    per value, a system call each, a sixth of a bulk run's issuing thread."""
    keys = memoryview(secrets.token_bytes(8 * len(values))).cast("Q")  # 64-bit integers
    return [values[i] for i in sorted(range(len(values)), key=keys.__getitem__)]


def _reserve(s: Session, authority_id: int, count: int) -> int:
    """Advance the authority's next position by ``count`` (rounded up to whole blocks when a
    block is cached) and return where the reserved run starts; creates the lists it reaches."""
    dialect = postgresql if s.get_bind().dialect.name == "postgresql" else sqlite
    s.execute(
        dialect.insert(StatusAllocation)
        .values(authority_id=authority_id, next_position=0)
        .on_conflict_do_nothing(index_elements=["authority_id"])
    )
    end = s.execute(
        update(StatusAllocation)
        .where(StatusAllocation.authority_id == authority_id)
        .values(next_position=StatusAllocation.next_position + count)
        .returning(StatusAllocation.next_position)
    ).scalar_one()
    start = end - count
    if count:
        now = datetime.now(UTC)
        for number in range(start // LIST_ENTRIES, (end - 1) // LIST_ENTRIES + 1):
            for purpose in PURPOSES:
                s.execute(
                    dialect.insert(StatusList)
                    .values(
                        authority_id=authority_id, purpose=purpose, number=number, updated_at=now
                    )
                    .on_conflict_do_nothing(index_elements=["authority_id", "purpose", "number"])
                )
    return int(start)


# ---------------------------------------------------------------------------- publication


@dataclass(frozen=True)
class ListUpdate:
    """What ``prepare`` made ready: the set's key and digest for the chain, lists changed."""

    set_hash: bytes
    set_digest: bytes
    lists: int  # list versions in this update (new ones and changed ones)


def _bits_of(document: str | None) -> StatusBitstring:
    if document is None:
        return StatusBitstring(LIST_ENTRIES)
    subject = json.loads(document)["credentialSubject"]
    return StatusBitstring.decode(subject["encodedList"])


def _dump(document: Mapping[str, Any]) -> str:
    return json.dumps(document, ensure_ascii=False, separators=(",", ":"))


def prepare(
    s: Session,
    *,
    authority_id: int,
    did: str,
    sign: Any,
    changes: Iterable[tuple[Mapping[str, Any], str]],
    now: datetime,
    sign_token: Any = None,
) -> ListUpdate | None:
    """New pending versions of the lists ``changes`` touch — each (credential document, chain
    status) — and of every list never published, and of the set; None when there is nothing
    to publish (or the authority publishes no lists). ``sign(unsigned)`` returns the list
    credential signed with the authority's current key; ``sign_token(claims)`` the compact
    Status List Token (without it — an SM2 key — the token lists leave the set). Runs in the
    sender's claim
    transaction: the versions are pending exactly while the changes are ``sent``."""
    base = list_base(did)
    if base is None:
        return None
    rows = {
        (r.purpose, r.number): r
        for r in s.scalars(
            select(StatusList).where(StatusList.authority_id == authority_id).with_for_update()
        )
    }
    flips: dict[tuple[str, int], dict[int, int]] = {}
    prefix = base + "/"
    changes = list(changes)
    by_id = {str(d.get("id")): status for d, status in changes}
    if sign_token is not None and by_id:
        for credential_id, held in s.execute(
            select(SdJwtCredential.credential_id, SdJwtCredential.status_position).where(
                SdJwtCredential.authority_id == authority_id,
                SdJwtCredential.credential_id.in_(list(by_id)),
                SdJwtCredential.status_position.is_not(None),
            )
        ):
            value = _TOKEN_VALUES.get(by_id[credential_id])
            slot, index = divmod(int(held or 0), LIST_ENTRIES)
            if value is not None and (TOKEN, slot) in rows:
                flips.setdefault((TOKEN, slot), {})[index] = value
    for document, status in changes:
        target = _BITS.get(status)
        if target is None:
            continue
        for entry in status_list_entries(document):
            url = entry.status_list_credential
            if not url.startswith(prefix) or entry.status_purpose != target[0]:
                continue
            purpose, _, number = url.removeprefix(prefix).partition("/")
            if (purpose, int(number)) in rows:
                flips.setdefault((purpose, int(number)), {})[entry.status_list_index] = target[1]
    touched = set(flips) | {k for k, r in rows.items() if r.document is None and r.pending is None}
    touched |= {k for k, r in rows.items() if k[0] == TOKEN and _renew(r, now)}
    set_row = s.get(StatusListSetRow, authority_id, with_for_update=True)
    committed = set_row.pending or set_row.document if set_row is not None else None
    withdrawn = False
    if sign_token is None:
        # an authority that cannot sign a Status List Token (its key is SM2 now) withdraws its
        # token lists from the set rather than leave a stale one committed: its SD-JWT copies
        # then fail ``status_list_not_anchored``, never pass on an old list
        touched = {k for k in touched if k[0] != TOKEN}
        token_prefix = list_url(base, TOKEN, 0).rsplit("/", 1)[0] + "/"
        withdrawn = committed is not None and any(
            url.startswith(token_prefix) for url in json.loads(committed)["lists"]
        )
    if not touched and not withdrawn:
        return None
    stamp = now.astimezone(UTC).replace(microsecond=0)
    for key in sorted(touched):
        row = rows[key]
        if key[0] == TOKEN:
            statuses = _token_list_of(row.pending or row.document)
            for index, value in flips.get(key, {}).items():
                statuses[index] = value
            uri = list_url(base, *key)
            claims = status_list_token_claims(
                uri,
                statuses,
                issued_at=stamp,
                expires_at=stamp + TOKEN_LIFETIME,
                ttl=LIST_TTL_MS // 1000,
            )
            row.pending = _dump(token_document(uri, sign_token(claims)))
            row.updated_at = now
            continue
        bits = _bits_of(row.pending or row.document)
        for index, value in flips.get(key, {}).items():
            bits[index] = value
        unsigned = build_status_list_credential(
            list_url(base, *key), did, key[0], bits, valid_from=stamp, ttl_ms=LIST_TTL_MS
        )
        row.pending = _dump(sign(unsigned))
        row.updated_at = now
    digests = {
        list_url(base, r.purpose, r.number): list_document_digest(json.loads(text))
        for r in rows.values()
        if (text := r.pending or r.document) is not None
        and (sign_token is not None or r.purpose != TOKEN)
    }
    if set_row is None:
        set_row = StatusListSetRow(authority_id=authority_id, updated_at=now)
        s.add(set_row)
    version = json.loads(set_row.document)["version"] + 1 if set_row.document else 1
    listed = StatusListSet(set_url(base), did, version, digests)
    set_row.pending = _dump(listed.to_json())
    set_row.updated_at = now
    return ListUpdate(list_id_hash(listed.url), listed.digest, len(touched))


def _token_list_of(document: str | None) -> TokenStatusList:
    if document is None:
        return TokenStatusList(LIST_ENTRIES, TOKEN_BITS)
    token = json.loads(document)["token"]
    claims = json.loads(_unb64(token.split(".")[1]))
    return TokenStatusList.from_json(claims["status_list"])


def _unb64(text: str) -> bytes:
    import base64

    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _renew(row: StatusList, now: datetime) -> bool:
    """Whether a served token list runs out within ``TOKEN_RENEW`` (and none is pending)."""
    if row.document is None or row.pending is not None:
        return False
    claims = json.loads(_unb64(json.loads(row.document)["token"].split(".")[1]))
    return bool(claims.get("exp", 0) <= (now + TOKEN_RENEW).timestamp())


def served_token(s: Session, authority_id: int, number: int) -> str | None:
    """The Status List Token served as token list ``number``: the version on chain."""
    document = served_list(s, authority_id, TOKEN, number)
    return str(document["token"]) if document else None


def pending_set(s: Session, authority_id: int) -> StatusListSet | None:
    """The authority's set version on its way to the chain, if any."""
    row = s.get(StatusListSetRow, authority_id)
    return StatusListSet.from_json(json.loads(row.pending)) if row and row.pending else None


def promote(s: Session, authority_id: int, *, tx_hash: str | None, block_number: int | None) -> int:
    """The pending versions are on chain: serve them. Returns lists promoted."""
    now = datetime.now(UTC)
    promoted = 0
    for row in s.scalars(
        select(StatusList).where(
            StatusList.authority_id == authority_id, StatusList.pending.is_not(None)
        )
    ):
        row.document, row.pending, row.updated_at = row.pending, None, now
        promoted += 1
    set_row = s.get(StatusListSetRow, authority_id)
    if set_row is not None and set_row.pending is not None:
        set_row.document, set_row.pending = set_row.pending, None
        set_row.tx_hash, set_row.block_number, set_row.updated_at = tx_hash, block_number, now
    return promoted


def discard(s: Session, authority_id: int) -> None:
    """The pending versions never reached the chain: drop them (the changes are sent again,
    and ``prepare`` builds them anew from what is served)."""
    s.execute(
        update(StatusList)
        .where(StatusList.authority_id == authority_id, StatusList.pending.is_not(None))
        .values(pending=None)
    )
    s.execute(
        update(StatusListSetRow)
        .where(StatusListSetRow.authority_id == authority_id)
        .values(pending=None)
    )


def served_list(s: Session, authority_id: int, purpose: str, number: int) -> dict[str, Any] | None:
    """The list credential served for (purpose, number): the version the chain committed to."""
    document = s.scalar(
        select(StatusList.document).where(
            StatusList.authority_id == authority_id,
            StatusList.purpose == purpose,
            StatusList.number == number,
        )
    )
    return json.loads(document) if document else None


def served_set(s: Session, authority_id: int) -> dict[str, Any] | None:
    """The authority's list set as served (its digest is the one on chain)."""
    row = s.get(StatusListSetRow, authority_id)
    return json.loads(row.document) if row and row.document else None


def served_lists(s: Session, authority_id: int) -> Sequence[dict[str, Any]]:
    """Every list credential the authority serves."""
    return [
        json.loads(d or "null")
        for d in s.scalars(
            select(StatusList.document)
            .where(StatusList.authority_id == authority_id, StatusList.document.is_not(None))
            .order_by(StatusList.purpose, StatusList.number)
        )
    ]
