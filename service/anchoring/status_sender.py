"""The status sender: queued credential status changes go on chain in batches, in order, once.

A life-cycle step (or a key compromise, or the sweep) writes a ``StatusChange`` row in the same
database transaction as the change itself (``service.lifecycle.status_queue.enqueue``); the row
is ``pending``. The sender
takes an authority's pending rows in ``seq`` order, marks them ``sent`` and commits, sends them
in one ``AnchorRegistry.setStatusBatch`` transaction, and marks them ``done`` with the
transaction's hash and block once it is mined.

Crash safety, as the anchoring worker's: rows found ``sent`` when an authority is served again
(the process died between send and confirm, or the chain went away mid-send) are settled by
asking the chain, never by guessing: ``statusOf(authorityId, sha256(credential id))`` shows the
target status → ``done``; otherwise → back to ``pending``, resent later in the same order. This
is exact because a batch holds at most one change per credential and every transition the
contract accepts changes the status (``_allowed``): a credential's status before the batch can
never equal the batch's target for it. The contract refuses repeated transitions anyway, so
nothing can be applied twice; a refusal (``InvalidStatusTransition``) is settled the same way,
and a change the chain can never take is marked ``rejected`` (logged and audited) instead of
blocking the queue for good.

**Status lists.** The same transaction carries the authority's list set digest when the
changes touch its W3C Bitstring status lists or the Token Status Lists of its SD-JWT VCs
(``setStatusBatchWithLists``; the list versions
are made in the claim transaction by ``service.issuing.status_lists.prepare`` and served once
mined), so the chain's statuses and the lists a verifier fetches never disagree. A list never
published yet goes out on the next pass, with or without changes. After a crash the pending
versions are settled like the rows: served if the chain holds their set's digest, else dropped
and made again from what is served.

A chain outage leaves rows ``pending`` (or ``sent``, settled as above) for the next pass. On
PostgreSQL several workers coordinate through the authority row lock the anchoring worker takes
(``FOR NO KEY UPDATE SKIP LOCKED``): one worker, hence one transaction sender, per authority.
"""

from __future__ import annotations

import os
import sys
import time
import traceback
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import Any

from sqlalchemy import Select, func, select, update
from sqlalchemy.exc import OperationalError
from sqlalchemy.orm import Session

from service.audit import trail
from service.issuing import status_lists
from service.issuing.office import Office
from service.issuing.status_lists import ListUpdate
from service.lifecycle.status_queue import ChangeState, queue_depth
from service.storage.models import Authority, Credential, StatusChange
from verifier.bundle import credential_id_hash
from verifier.contracts import load_artifact
from verifier.errors import ChainError, ContractReverted
from verifier.proofs import sign_credential
from verifier.sdjwt import sign_jws
from verifier.status import STATUS_CODES
from verifier.status_list import list_id_hash
from verifier.token_status_list import STATUS_LIST_TOKEN_TYPE

__all__ = ["PAUSE_PHASES", "SenderStats", "StatusSender", "authority_lock"]

# the anchoring worker's fault-test switch (``service.anchoring.worker.PAUSE_ENV``), with
# phases of its own
_PAUSE_ENV = "SUIXIN_WORKER_PAUSE_AT"
PAUSE_PHASES = ("status-claimed", "status-sent")


@contextmanager
def authority_lock(office: Office, authority_id: int) -> Iterator[bool]:
    """Hold the authority's row lock, the one the anchoring worker takes, while inside; yields
    False when another worker holds it (PostgreSQL; SQLite has one writer and takes none)."""
    with office.db.session() as lock:
        locked = lock.scalar(
            select(Authority.id)
            .where(Authority.id == authority_id)
            # NO KEY UPDATE: rows referencing the authority (status changes, audit rows) still
            # take their key-share lock on it while the lock is held
            .with_for_update(skip_locked=True, key_share=True)
        )
        yield locked is not None


@dataclass
class SenderStats:
    """What the sender has done: transactions, changes, gas (for the note and /metrics)."""

    transactions: int = 0
    confirmed: int = 0  # changes recorded on chain by this sender's transactions
    settled_from_chain: int = 0  # ``sent`` changes found on chain after a crash or refusal
    requeued: int = 0  # ``sent`` changes found not on chain, put back in the queue
    rejected: int = 0
    failures: int = 0
    last_error: str = ""
    gas: list[tuple[int, int]] = field(default_factory=list)  # (changes, gas used) per tx
    list_gas: list[tuple[int, int]] = field(default_factory=list)  # list-only publications

    def observe(self, changes: int, gas_used: int) -> None:
        self.transactions += 1
        self.confirmed += changes
        self.gas.append((changes, gas_used))
        if len(self.gas) > 1000:
            del self.gas[: len(self.gas) - 1000]


@dataclass(frozen=True)
class _Change:
    seq: int
    credential_id: str
    status: str
    reason_code: int


def _in_state(authority_id: int, state: str) -> Select[int, str, str, int]:
    """An authority's status changes in ``state``, oldest first: what a ``_Change`` holds."""
    return (
        select(
            StatusChange.seq,
            StatusChange.credential_id,
            StatusChange.status,
            StatusChange.reason_code,
        )
        .where(StatusChange.authority_id == authority_id, StatusChange.state == state)
        .order_by(StatusChange.seq)
    )


class StatusSender:
    """Sends queued status changes in batches; ``run_once`` for one pass over every authority."""

    def __init__(
        self,
        office: Office,
        *,
        batch_size: int = 200,
        max_wait_seconds: float = 0.0,
        log: Callable[[str], None] | None = None,
    ) -> None:
        if batch_size < 1:
            raise ValueError("batch_size must be at least 1")
        if max_wait_seconds < 0:
            raise ValueError("max_wait_seconds must not be negative")
        self.office = office
        self.batch_size = batch_size
        # an authority's changes wait for a full batch up to this long (0: every pass sends):
        # fewer, fuller transactions spread the list set's digest over more changes
        self.max_wait_seconds = max_wait_seconds
        self._draining = False
        self.stats = SenderStats()
        self._log = log or (lambda message: print(message, file=sys.stderr, flush=True))
        self._pause_at = os.environ.get(_PAUSE_ENV, "")
        self._abi = load_artifact("AnchorRegistry").abi
        self._trust_abi = load_artifact("TrustRegistry").abi
        self._chain_ids: dict[int, int] = {}
        self._reported: set[tuple[int, type[BaseException]]] = set()  # tracebacks logged once

    # ------------------------------------------------------------------ passes

    def run_once(self) -> int:
        """One pass: settle what a crash left ``sent``, then send every authority's pending
        changes; returns how many changes were recorded on chain. A chain outage raises
        (ChainUnavailable) and loses nothing, as does a database outage; an authority the chain
        refuses (not active), or whose changes fail for any other reason of its own, is logged
        and skipped, the others go on."""
        total = 0
        for authority in self.office.authorities():
            try:
                total += self._serve(authority.id)
            except ContractReverted as e:
                self.stats.failures += 1
                self.stats.last_error = e.diagnostics()
                self._log(f"status changes of authority {authority.id} wait: {e.diagnostics()}")
            except (ChainError, OperationalError):
                raise  # the chain (or the database) fails every authority: the worker backs off
            except Exception as e:  # one authority's fault (a key that cannot be opened, a bug)
                # must not hold back the others' revocations: they are served, this one waits
                self.stats.failures += 1
                self.stats.last_error = f"{type(e).__name__}: {e}"
                self._log(
                    f"status changes of authority {authority.id} wait: {self.stats.last_error}"
                )
                if (authority.id, type(e)) not in self._reported:
                    self._reported.add((authority.id, type(e)))
                    self._log(traceback.format_exc().rstrip())
        return total

    def drain(self, timeout: float = 60.0) -> None:
        """Send everything queued now (tests, demos, shutdown)."""
        deadline = time.monotonic() + timeout
        self._draining = True
        try:
            while self.queue_depth() and time.monotonic() < deadline:
                if not self.run_once():
                    time.sleep(0.05)  # another worker holds an authority, or the chain refused
        finally:
            self._draining = False

    def queue_depth(self) -> int:
        """Status changes not yet on chain (pending or sent)."""
        return queue_depth(self.office)

    # ------------------------------------------------------------------ one authority

    def _serve(self, authority_id: int) -> int:
        with authority_lock(self.office, authority_id) as mine:
            if not mine:
                return 0  # another worker serves this authority right now
            self._recover_lists(authority_id)
            done = self._recover(authority_id)
            while True:
                claimed, lists = self._claim(authority_id)
                if not claimed and lists is None:
                    return done
                done += self._send(authority_id, claimed, lists)

    def _recover(self, authority_id: int) -> int:
        """Settle rows left ``sent`` by reading their statuses on chain."""
        with self.office.db.session() as s:
            rows = s.execute(_in_state(authority_id, ChangeState.SENT)).all()
        if not rows:
            return 0
        changes = [_Change(r.seq, r.credential_id, r.status, r.reason_code) for r in rows]
        on_chain = [c for c in changes if self._on_chain(authority_id, c)]
        self._settle(authority_id, on_chain, [c for c in changes if c not in on_chain], [])
        self.stats.settled_from_chain += len(on_chain)
        self.stats.requeued += len(changes) - len(on_chain)
        self._log(
            f"status changes of authority {authority_id} found sent after a restart: "
            f"{len(on_chain)} already on chain, {len(changes) - len(on_chain)} back in the queue"
        )
        return len(on_chain)

    def _recover_lists(self, authority_id: int) -> None:
        """Settle list versions left pending: served if the chain holds their set's digest."""
        office = self.office
        with office.db.session() as s:
            pending = status_lists.pending_set(s, authority_id)
        if pending is None:
            return
        record = office.chain.call(
            office.deployment.anchor_registry,
            self._abi,
            "statusListOf",
            [self._chain_authority_id(authority_id), list_id_hash(pending.url)],
        )
        on_chain = bytes(record[0]) == pending.digest
        with office.db.write_session() as s:
            if on_chain:
                status_lists.promote(s, authority_id, tx_hash=None, block_number=int(record[2]))
            else:
                status_lists.discard(s, authority_id)
        self._log(
            f"status lists of authority {authority_id} found pending after a restart: "
            + ("on chain, now served" if on_chain else "not on chain, made again")
        )

    def _due(self, s: Session, authority_id: int) -> bool:
        """Whether the authority's pending changes go now: a full batch, or the oldest has
        waited ``max_wait_seconds`` (always when draining or with no wait)."""
        if self._draining or self.max_wait_seconds <= 0:
            return True
        pending = StatusChange.authority_id == authority_id, StatusChange.state == "pending"
        count = s.scalar(select(func.count()).select_from(StatusChange).where(*pending))
        if not count or count >= self.batch_size:
            return True
        oldest: datetime | None = s.scalar(
            select(func.min(StatusChange.requested_at)).where(*pending)
        )
        if oldest is None:
            return True
        if oldest.tzinfo is None:  # SQLite gives naive UTC back
            oldest = oldest.replace(tzinfo=UTC)
        return (datetime.now(UTC) - oldest).total_seconds() >= self.max_wait_seconds

    def _claim(self, authority_id: int) -> tuple[list[_Change], ListUpdate | None]:
        """Mark the oldest pending changes ``sent`` (at most one per credential) and make the
        list versions they (and lists never published) need, in one transaction."""
        office = self.office
        with office.db.session() as s:
            if not self._due(s, authority_id):
                return [], None
            rows = s.execute(
                _in_state(authority_id, ChangeState.PENDING)
                .limit(self.batch_size)
                .with_for_update(skip_locked=True)
            ).all()
            claimed: list[_Change] = []
            seen: set[str] = set()
            for r in rows:
                if r.credential_id in seen:
                    break  # its next change waits for the next transaction, in order
                seen.add(r.credential_id)
                claimed.append(_Change(r.seq, r.credential_id, r.status, r.reason_code))
            authority = office.authority(authority_id)
            documents = {
                row.id: office.document(row)
                for row in s.scalars(
                    select(Credential).where(Credential.id.in_([c.credential_id for c in claimed]))
                )
            }
            lists = (
                None
                if not office.deployment.status_lists
                else status_lists.prepare(
                    s,
                    authority_id=authority_id,
                    did=authority.did,
                    sign=lambda unsigned: self._sign_list(authority_id, unsigned),
                    sign_token=(
                        (lambda claims: self._sign_token(authority_id, claims))
                        if office.signer(authority_id).algorithm == "Ed25519"
                        else None  # no JOSE algorithm for SM2: the token lists are withdrawn
                    ),
                    changes=[
                        (documents[c.credential_id], c.status)
                        for c in claimed
                        if c.credential_id in documents
                    ],
                    now=datetime.now(UTC),
                )
            )
            if claimed or lists is not None:
                # ask the chain first: while it is down the rows stay pending, not in doubt
                office.chain.block_number()
            if claimed:
                s.execute(
                    update(StatusChange)
                    .where(StatusChange.seq.in_([c.seq for c in claimed]))
                    .values(state=ChangeState.SENT)
                )
        if claimed or lists is not None:
            self._pause("status-claimed")
        return claimed, lists

    def _sign_list(self, authority_id: int, unsigned: dict[str, Any]) -> dict[str, Any]:
        """A list credential signed with the authority's current key."""
        signer = self.office.signer(authority_id)
        authority = self.office.authority(authority_id)
        created = datetime.now(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
        return sign_credential(
            unsigned,
            signer,
            f"{authority.did}#{signer.key_id}",
            created,
            cryptosuite=signer.cryptosuite,
        )

    def _sign_token(self, authority_id: int, claims: dict[str, Any]) -> str:
        """A Status List Token (JWT, ``typ`` ``statuslist+jwt``, EdDSA) of ``claims`` signed
        with the authority's current key, which must be Ed25519 (JOSE has no SM2): an
        authority that signs with SM2 issues no SD-JWT VCs, so has no token list."""
        signer = self.office.signer(authority_id)
        if signer.algorithm != "Ed25519":
            raise ChainError(
                f"authority {authority_id} signs with {signer.algorithm}: a Status List Token "
                "needs an Ed25519 (EdDSA) key"
            )
        authority = self.office.authority(authority_id)
        header = {
            "alg": "EdDSA",
            "typ": STATUS_LIST_TOKEN_TYPE,
            "kid": f"{authority.did}#{signer.key_id}",
        }
        return sign_jws(header, claims, signer.sign)

    def _send(self, authority_id: int, claimed: Sequence[_Change], lists: ListUpdate | None) -> int:
        office = self.office
        args: list[Any] = [
            [credential_id_hash(c.credential_id) for c in claimed],
            [STATUS_CODES[c.status] for c in claimed],
            [c.reason_code for c in claimed],
        ]
        if lists is not None:
            args += [[lists.set_hash], [lists.set_digest]]
        try:
            receipt = office.chain.transact(
                office.deployment.anchor_registry,
                self._abi,
                "setStatusBatch" if lists is None else "setStatusBatchWithLists",
                args,
                office.account(authority_id),
            )
        except ContractReverted as e:
            # a revert (at estimation or in the block) changed nothing on chain
            if lists is not None:
                with office.db.write_session() as s:
                    status_lists.discard(s, authority_id)
            if not claimed:
                raise
            return self._refused(authority_id, claimed, e)
        # any other chain error propagates: the rows stay ``sent`` and are settled next pass
        self._pause("status-sent")
        now = datetime.now(UTC)
        with office.db.write_session() as s:
            if lists is not None:
                status_lists.promote(
                    s, authority_id, tx_hash=receipt.tx_hash, block_number=receipt.block_number
                )
            if not claimed:
                self._log(
                    f"{lists.lists if lists else 0} status lists of authority {authority_id} "
                    f"published in block {receipt.block_number} ({receipt.gas_used} gas)"
                )
                self.stats.list_gas.append((0, receipt.gas_used))
                return 0
            s.execute(
                update(StatusChange)
                .where(StatusChange.seq.in_([c.seq for c in claimed]))
                .values(
                    state=ChangeState.DONE,
                    tx_hash=receipt.tx_hash,
                    block_number=receipt.block_number,
                    done_at=now,
                )
            )
            trail.record(
                s,
                actor="worker",
                action="status.onchain",
                authority_id=authority_id,
                details={
                    "changes": len(claimed),
                    "firstSeq": claimed[0].seq,
                    "lastSeq": claimed[-1].seq,
                    "transactionHash": receipt.tx_hash,
                    "blockNumber": receipt.block_number,
                    "gasUsed": receipt.gas_used,
                    **({"statusLists": lists.lists} if lists is not None else {}),
                },
                at=now,
            )
        self.stats.observe(len(claimed), receipt.gas_used)
        self._log(
            f"{len(claimed)} status changes of authority {authority_id} on chain in block "
            f"{receipt.block_number} ({receipt.tx_hash}, {receipt.gas_used} gas)"
        )
        return len(claimed)

    def _refused(
        self, authority_id: int, claimed: Sequence[_Change], error: ContractReverted
    ) -> int:
        """Settle a batch the contract refused: what the chain already shows is done, the
        change it can never take is rejected, the rest go back to the queue."""
        if error.name != "InvalidStatusTransition":
            self._settle(authority_id, [], claimed, [])
            raise error  # e.g. AuthorityNotActive: the authority's changes wait
        refused = bytes(error.arguments.get("credentialIdHash", b""))
        done: list[_Change] = []
        rejected: list[_Change] = []
        requeue: list[_Change] = []
        for c in claimed:
            if self._on_chain(authority_id, c):
                done.append(c)
            elif credential_id_hash(c.credential_id) == refused:
                rejected.append(c)
            else:
                requeue.append(c)
        self._settle(authority_id, done, requeue, rejected, error=error)
        if not done and not rejected:
            raise error  # nothing to learn from it: the batch waits rather than loops
        self.stats.settled_from_chain += len(done)
        self.stats.rejected += len(rejected)
        return len(done)

    def _settle(
        self,
        authority_id: int,
        done: Sequence[_Change],
        requeue: Sequence[_Change],
        rejected: Sequence[_Change],
        *,
        error: ContractReverted | None = None,
    ) -> None:
        now = datetime.now(UTC)
        with self.office.db.write_session() as s:
            if done:
                s.execute(
                    update(StatusChange)
                    .where(StatusChange.seq.in_([c.seq for c in done]))
                    .values(state=ChangeState.DONE, done_at=now)
                )
            if requeue:
                s.execute(
                    update(StatusChange)
                    .where(StatusChange.seq.in_([c.seq for c in requeue]))
                    .values(state=ChangeState.PENDING)
                )
            for c in rejected:
                s.execute(
                    update(StatusChange)
                    .where(StatusChange.seq == c.seq)
                    .values(state=ChangeState.REJECTED, done_at=now)
                )
                details = {"seq": c.seq, "status": c.status, "reasonCode": c.reason_code}
                if error is not None:
                    details["error"] = error.name
                    details["onChainStatus"] = int(error.arguments.get("from", 0))
                trail.record(
                    s,
                    actor="worker",
                    action="status.rejected",
                    authority_id=authority_id,
                    credential_id=c.credential_id,
                    details=details,
                    at=now,
                )
                self._log(
                    f"status change {c.seq} ({c.status}) of {c.credential_id} refused by the "
                    f"chain for good: {error.diagnostics() if error else 'rejected'}"
                )

    # ------------------------------------------------------------------ chain reads

    def _on_chain(self, authority_id: int, change: _Change) -> bool:
        """Whether the chain shows the change's target status for its credential now."""
        office = self.office
        record = office.chain.call(
            office.deployment.anchor_registry,
            self._abi,
            "statusOf",
            [self._chain_authority_id(authority_id), credential_id_hash(change.credential_id)],
        )
        return int(record[0]) == STATUS_CODES[change.status]

    def _chain_authority_id(self, authority_id: int) -> int:
        """The authority's id in the registries (not the office's row id), read once."""
        found = self._chain_ids.get(authority_id)
        if found is None:
            office = self.office
            account = office.account(authority_id)
            found, _status = office.chain.call(
                office.deployment.trust_registry,
                self._trust_abi,
                "anchoringAuthority",
                [account.address],
            )
            if int(found) == 0:
                raise ChainError(
                    f"the chain account {account.address} of authority {authority_id} acts "
                    "for no authority on chain"
                )
            self._chain_ids[authority_id] = found = int(found)
        return found

    def _pause(self, phase: str) -> None:
        if self._pause_at == phase:
            self._log(f"PAUSED at {phase}")
            while True:  # the fault test kills the process here
                time.sleep(3600)
