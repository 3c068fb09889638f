"""Key operations on a real chain: rotation, backdated compromise, bulk re-issue, account rotation.

Every test gets a fresh chain (the session's shared chain must not see keys revoked or accounts
moved) and ends with the verdicts of a ``Verifier`` built from that chain. Block times are
deterministic enough for before/after: each backend mines a block at least one second after its
parent, and revocation times here are always taken from block times the test has read.
"""

from __future__ import annotations

import random
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from eth_account.signers.local import LocalAccount
from sqlalchemy import func, insert, inspect, select, text, update

from service.anchoring.batches import set_statuses
from service.anchoring.status_sender import StatusSender
from service.anchoring.worker import AnchorWorker
from service.audit.trail import sequence
from service.issuing.issuance import SigningIdentity, issue_credential
from service.issuing.office import IssueRequest, NotFound, Office
from service.issuing.signer import LocalSigner
from service.storage.db import Database
from service.storage.models import (
    AnchorState,
    AuditEntry,
    Authority,
    Batch,
    Credential,
    CredentialStatus,
    IssuerKey,
    StatusChange,
    with_membership,
)
from service.trust import compromise
from service.trust import rotation as key_rotation
from service.trust.authorities import create_authority
from service.trust.deployment import deploy_registries
from service.trust.keys import KeyOperationError, parse_time
from tests.conftest import funded
from tests.service.conftest import LICENCES, MASTER, PERMITS, USCC
from tests.verifier.factories import business_license_subject, residence_permit_subject
from verifier.chain import Chain, EmbeddedChain, EventDecoder
from verifier.contracts import load_artifact
from verifier.errors import ContractReverted
from verifier.keys import Ed25519KeyPair
from verifier.policy import Policy
from verifier.registry import KeyAlgorithmCode
from verifier.verify import Outcome, Report, Verdict, Verifier

TRUST_ABI = load_artifact("TrustRegistry").abi
ANCHOR_ABI = load_artifact("AnchorRegistry").abi


@dataclass
class KeyWorld:
    """An office on its own chain with the permits authority (and, if asked, the licences one)."""

    office: Office
    root: LocalAccount
    permits: Authority
    licences: Authority | None
    rng: random.Random

    def issue(self, n: int = 1, authority: Authority | None = None) -> list[str]:
        authority = authority or self.permits
        if "BusinessLicense" in authority.credential_types:
            requests = [
                IssueRequest("BusinessLicense", business_license_subject(self.rng))
                for _ in range(n)
            ]
        else:
            requests = [
                IssueRequest("ResidencePermit", residence_permit_subject(self.rng))
                for _ in range(n)
            ]
        return [b["credential"]["id"] for b in self.office.issue_many(authority.id, requests)]

    def anchor(self) -> int:
        """Anchor everything pending; returns the block time of the last batch anchored."""
        AnchorWorker(self.office, log=lambda _m: None).drain()
        with self.office.db.session() as s:  # not "latest": status lists may follow the batch
            last = s.scalar(select(func.max(Batch.block_time)))
        return int(last) if last is not None else self.office.chain.block_time("latest")

    def send_statuses(self) -> int:
        """Send every queued status change on chain (the status sender; the anchoring worker's
        passes may have sent them already); returns how many are on chain."""
        sender = StatusSender(self.office, log=lambda _m: None)
        sender.drain()
        assert sender.queue_depth() == 0
        with self.office.db.session() as s:
            return int(
                s.scalar(
                    select(func.count())
                    .select_from(StatusChange)
                    .where(StatusChange.state == "done")
                )
                or 0
            )

    def verify(self, credential_id: str) -> Report:
        verifier = Verifier.from_chain(
            self.office.chain,
            self.office.deployment.anchor_registry,
            Policy(sync_interval=timedelta(0)),
            start_block=self.office.deployment.block_number,
        )
        return verifier.verify(self.office.bundle(credential_id))

    def key_on_chain(self, key_id: str, authority: Authority | None = None) -> tuple[Any, ...]:
        did = (authority or self.permits).did
        return tuple(
            self.office.chain.call(
                self.office.deployment.trust_registry, TRUST_ABI, "keyOf", [did, key_id]
            )
        )

    def row(self, credential_id: str) -> Credential:
        with self.office.db.session() as s:
            found = s.scalar(select(Credential).where(Credential.id == credential_id))
        assert found is not None
        return found

    def anchor_state(self, credential_id: str) -> str:
        with self.office.db.session() as s:
            state = s.scalar(
                with_membership(select(Batch.state).select_from(Credential)).where(
                    Credential.id == credential_id
                )
            )
        return AnchorState.of(state)

    def document(self, credential_id: str) -> dict[str, Any]:
        return self.office.document(self.row(credential_id))

    def audit(self, action: str) -> list[AuditEntry]:
        sequence(self.office.db)  # as the worker does: the committed rows, chained
        with self.office.db.session() as s:
            return list(
                s.scalars(
                    select(AuditEntry).where(AuditEntry.action == action).order_by(AuditEntry.seq)
                )
            )

    def sign_with_retired_key(self, key_id: str) -> str:
        """What an office process still holding ``key_id`` in memory would store: a credential
        signed with it, queued for anchoring. Returns its id."""
        authority = self.permits
        with self.office.db.session() as s:
            key = s.scalar(
                select(IssuerKey).where(
                    IssuerKey.authority_id == authority.id, IssuerKey.key_id == key_id
                )
            )
        assert key is not None
        secret = self.office.master.open(
            key.private_key_encrypted, f"issuer-key:{authority.did}#{key_id}"
        )
        signer = LocalSigner(key_id, Ed25519KeyPair.from_private_bytes(secret))
        identity = SigningIdentity(
            authority.did, authority.name_zh, authority.region, key_id, signer
        )
        credential, digest = issue_credential(
            "ResidencePermit",
            residence_permit_subject(self.rng),
            identity,
            chain_id=self.office.deployment.chain_id,
            anchor_registry=self.office.deployment.anchor_registry,
        )
        with self.office.db.session() as s:
            s.execute(
                insert(Credential),
                [
                    {
                        "id": credential["id"],
                        "authority_id": authority.id,
                        "credential_type": "ResidencePermit",
                        "body": self.office.seal(credential),
                        "digest": digest,
                        "created_at": datetime.now(UTC),
                        "lineage_id": credential["id"],
                        "version": 1,
                        "key_id": key_id,
                        "status": CredentialStatus.ACTIVE,
                    }
                ],
            )
        return str(credential["id"])


def wait_for_chain_time(chain: Chain, at: int) -> None:
    """Until the next block is stamped ``at`` or later. The embedded chain steps at least a
    second per block and never lags the wall clock, so a block mined after the revocation is
    already late enough; anvil stamps blocks with the wall clock (two may share a second)."""
    while chain.kind != "embedded" and time.time() < at:
        time.sleep(0.05)


def make_world(chain: Chain, db: Database, *, licences: bool = False) -> KeyWorld:
    root = funded(chain)
    office = Office(db, chain, deploy_registries(chain, root), MASTER)
    permits = create_authority(office, *PERMITS, root=root, uscc=USCC[PERMITS[0]])
    other = (
        create_authority(office, *LICENCES, root=root, uscc=USCC[LICENCES[0]]) if licences else None
    )
    return KeyWorld(office, root, permits, other, random.Random(5))


@pytest.fixture
def world(database: Database) -> Iterator[KeyWorld]:
    """Both authorities on a fresh embedded chain, over SQLite or PostgreSQL."""
    chain = EmbeddedChain(None)
    yield make_world(chain, database, licences=True)
    chain.close()


def stored(world: KeyWorld) -> Authority:
    """The permits authority's row as stored now."""
    with world.office.db.session() as s:
        found = s.get(Authority, world.permits.id)
    assert found is not None
    return found


def failed(report: Report) -> dict[str, str]:
    return {c.name: c.reason.code for c in report.checks if c.outcome is Outcome.FAIL}


def no_key_material(world: KeyWorld, entries: list[AuditEntry]) -> None:
    """No private key (issuer or account), clear or sealed, in these audit rows."""
    office, did = world.office, world.permits.did
    secrets = [bytes(office.account(world.permits.id).key).hex()]
    with office.db.session() as s:
        for key in s.scalars(select(IssuerKey).where(IssuerKey.authority_id == world.permits.id)):
            sealed = key.private_key_encrypted
            secrets += [
                sealed.hex(),
                office.master.open(sealed, f"issuer-key:{did}#{key.key_id}").hex(),
            ]
    assert entries
    for entry in entries:
        text = repr(entry.details)
        assert not any(secret in text for secret in secrets)


# ---------------------------------------------------------------------- rotation


def test_rotation_before_and_after(chain: Chain, tmp_path: Path) -> None:
    """Anchored before the revocation: VALID. Signed with the old key, anchored after: INVALID
    (key_validity). Queued with the old key at rotation time: anchored first, so VALID."""
    db = Database(f"sqlite:///{tmp_path / 'office.sqlite'}")
    db.migrate()
    world = make_world(chain, db)
    [before] = world.issue()
    anchored_before = world.anchor()
    [queued] = world.issue()  # signed with key-1, still in the anchoring queue

    rotation = key_rotation.rotate_key(world.office, world.permits.id, settle_seconds=0)

    assert (rotation.old_key_id, rotation.new_key_id) == ("key-1", "key-2")
    assert rotation.anchored_first == 1
    assert world.anchor_state(queued) == AnchorState.ANCHORED
    with world.office.db.session() as s:
        queued_time = s.scalar(
            with_membership(select(Batch.block_time).select_from(Credential)).where(
                Credential.id == queued
            )
        )
    assert queued_time is not None and anchored_before <= queued_time
    assert rotation.revoked_at is not None and rotation.revoked_at > queued_time
    old = world.key_on_chain("key-1")
    assert (old[2], old[3]) == (rotation.revoked_at, 1)  # revokedAt, reason rotation
    new = world.key_on_chain("key-2")
    assert new[2] == 0 and new[1] <= world.office.chain.block_time("latest")

    [after] = world.issue()
    assert world.office.bundle(after)["credential"]["proof"]["verificationMethod"].endswith(
        "#key-2"
    )
    straggler = world.sign_with_retired_key("key-1")  # a process that missed the rotation
    wait_for_chain_time(chain, rotation.revoked_at)
    world.anchor()

    for cid in (before, queued, after):
        report = world.verify(cid)
        assert report.verdict is Verdict.VALID, report.to_json()
    late = world.verify(straggler)
    assert late.verdict is Verdict.INVALID
    assert failed(late) == {"key_validity": "key_revoked"}

    # exactly the straggler is left for re-issue
    found = compromise.affected(world.office, world.permits.id, "key-1")
    assert [c.credential_id for c in found.credentials] == [straggler]
    with world.office.db.session() as s:
        keys = {k.key_id: k for k in s.scalars(select(IssuerKey))}
    assert not keys["key-1"].active and keys["key-2"].active
    [rotated] = world.audit("key.rotate")
    assert rotated.details["oldKeyId"] == "key-1" and rotated.details["newKeyId"] == "key-2"
    [revoked] = world.audit("key.revoke")
    assert revoked.details["revokedAt"] == rotation.revoked_at
    assert revoked.details["reason"] == "rotation" and revoked.details["anchoredFirst"] == 1
    no_key_material(world, [rotated, revoked])
    db.dispose()


def test_keep_old_and_a_scheduled_revocation(database: Database) -> None:
    chain = EmbeddedChain(None)
    world = make_world(chain, database)
    [first] = world.issue()
    world.anchor()

    kept = key_rotation.rotate_key(world.office, world.permits.id, keep_old=True, settle_seconds=0)
    assert kept.revoked_at is None
    assert world.key_on_chain("key-1")[2] == 0  # still valid on chain, only no longer signing
    late_but_kept = world.sign_with_retired_key("key-1")

    later = chain.block_time("latest") + 3600
    scheduled = key_rotation.rotate_key(
        world.office, world.permits.id, revoke_old_at=later, settle_seconds=0
    )
    assert (scheduled.old_key_id, scheduled.new_key_id) == ("key-2", "key-3")
    assert scheduled.revoked_at == later  # honoured as asked: nothing of key-2 is anchored after
    assert world.key_on_chain("key-2")[2] == later
    [by_key3] = world.issue()
    world.anchor()
    for cid in (first, late_but_kept, by_key3):
        assert world.verify(cid).verdict is Verdict.VALID
    chain.close()


def test_an_interrupted_rotation_is_finished_by_running_it_again(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = EmbeddedChain(None)
    world = make_world(chain, database)
    world.issue(2)
    real = chain.transact

    def fail_once(fn_name: str) -> Any:
        calls = {"n": 0}

        def transact(address: str, abi: Any, fn: str, args: Any, sender: Any) -> Any:
            if fn == fn_name and calls["n"] == 0:
                calls["n"] += 1
                raise ConnectionError(f"power cut before {fn}")
            return real(address, abi, fn, args, sender)

        return transact

    # stops after staging the new key, before registering it
    monkeypatch.setattr(chain, "transact", fail_once("addKey"))
    with pytest.raises(ConnectionError):
        key_rotation.rotate_key(world.office, world.permits.id, settle_seconds=0)
    with world.office.db.session() as s:
        staged = s.scalar(select(IssuerKey).where(IssuerKey.key_id == "key-2"))
    assert staged is not None and not staged.active
    assert world.office.signer(world.permits.id).key_id == "key-1"  # nothing switched yet

    # stops after switching keys, before revoking the old one
    monkeypatch.setattr(chain, "transact", fail_once("revokeKey"))
    with pytest.raises(ConnectionError):
        key_rotation.rotate_key(world.office, world.permits.id, settle_seconds=0)
    assert world.office.signer(world.permits.id).key_id == "key-2"
    assert world.key_on_chain("key-2")[0] == bytes(staged.public_key)  # the staged key, reused
    assert world.key_on_chain("key-1")[2] == 0

    monkeypatch.setattr(chain, "transact", real)
    finished = key_rotation.rotate_key(world.office, world.permits.id, settle_seconds=0)
    assert finished.resumed and finished.old_key_id == "key-1" and finished.new_key_id == "key-2"
    assert world.key_on_chain("key-1")[2] == finished.revoked_at
    with world.office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(IssuerKey)) == 2  # no key-3
    assert world.office.counts() == {"anchored": 2}
    chain.close()


def test_another_office_process_picks_up_the_rotated_key(database: Database) -> None:
    chain = EmbeddedChain(None)
    world = make_world(chain, database)
    other = Office(database, chain, world.office.deployment, MASTER)  # e.g. the API server
    assert other.signer(world.permits.id).key_id == "key-1"
    key_rotation.rotate_key(world.office, world.permits.id, keep_old=True, settle_seconds=0)
    other.key_refresh_seconds = 3600
    assert other.signer(world.permits.id).key_id == "key-1"  # within its refresh interval
    other.key_refresh_seconds = 0
    assert other.signer(world.permits.id).key_id == "key-2"
    chain.close()


# ---------------------------------------------------------------------- compromise


def test_backdated_compromise_affected_list_and_bulk_reissue(world: KeyWorld) -> None:
    office, permits, licences = world.office, world.permits, world.licences
    assert licences is not None
    early = world.issue(2)
    world.anchor()
    late = world.issue(2)
    since = world.anchor()  # the block time of the batch holding ``late``
    licence = world.issue(1, licences)  # the other authority's own key-1: not affected
    world.anchor()
    pending = world.issue(1)  # signed with key-1, not anchored yet

    revocation = compromise.revoke_key(office, permits.id, "key-1", since)
    assert revocation.rotated_to == "key-2" and revocation.affected == 3
    assert world.key_on_chain("key-1")[2:4] == (since, 2)  # reason compromise
    assert world.key_on_chain("key-1", licences)[2] == 0

    found = compromise.affected(office, permits.id, "key-1")
    assert [c.credential_id for c in found.credentials] == [*late, *pending]
    assert [c.anchored_at for c in found.credentials] == [since, since, None]
    assert all(c.needs_reissue and c.version == 1 for c in found.credentials)
    assert world.verify(early[0]).verdict is Verdict.VALID
    assert world.verify(licence[0]).verdict is Verdict.VALID
    assert failed(world.verify(late[0])) == {"key_validity": "key_revoked"}

    summary = compromise.reissue(office, permits.id, "key-1", chunk=2)
    assert summary.reissued == 3 and summary.chunks == 2
    assert summary.signing_key_id == "key-2" and summary.reason == "key_compromised"
    assert [old for old, _ in summary.pairs] == [*late, *pending]
    for old_id, new_id in summary.pairs:
        old, new = world.row(old_id), world.row(new_id)
        assert (new.lineage_id, new.version, new.previous_id) == (old.lineage_id, 2, old_id)
        assert uuid.UUID(new_id).version == 7 and new_id > old_id  # made later: sorts after
        assert new.key_id == "key-2" and world.anchor_state(new_id) == AnchorState.PENDING
        new_doc, old_doc = world.document(new_id), world.document(old_id)
        for field in ("credentialSubject", "validFrom", "validUntil", "issuer", "type"):
            assert new_doc[field] == old_doc[field]
        assert new_doc["proof"]["verificationMethod"] == f"{permits.did}#key-2"
        assert (old.status, old.status_reason) == ("superseded", "key_compromised")
    with office.db.session() as s:
        queued = s.execute(
            select(
                StatusChange.credential_id,
                StatusChange.status,
                StatusChange.reason,
                StatusChange.reason_code,
                StatusChange.state,
            ).order_by(StatusChange.seq)
        ).all()
    assert [tuple(q) for q in queued] == [
        (cid, "superseded", "key_compromised", 11, "pending") for cid in (*late, *pending)
    ]
    reissued = world.audit("key.reissue")  # one row per chunk
    assert [(e.details["previousIds"], e.details["credentialIds"]) for e in reissued] == [
        ([late[0], late[1]], [summary.pairs[0][1], summary.pairs[1][1]]),
        ([pending[0]], [summary.pairs[2][1]]),
    ]
    assert {e.details["reason"] for e in reissued} == {"key_compromised"}
    no_key_material(world, reissued + world.audit("key.revoke"))

    # idempotent: nothing left to do, nothing created
    again = compromise.reissue(office, permits.id, "key-1")
    assert again.reissued == 0
    with office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Credential)) == 6 + 3
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 3
    listed = compromise.affected(office, permits.id, "key-1").credentials
    assert [c.successor_id for c in listed] == [new for _, new in summary.pairs]
    assert not any(c.needs_reissue for c in listed)

    world.anchor()
    assert world.send_statuses() == 3
    for old_id, new_id in summary.pairs:
        assert world.verify(new_id).verdict is Verdict.VALID
        old_report = world.verify(old_id)
        assert old_report.verdict is Verdict.INVALID
        assert failed(old_report)["key_validity"] == "key_revoked"
        assert old_report.check("status").outcome is Outcome.FAIL
    assert world.verify(early[0]).verdict is Verdict.VALID


def test_reissue_stopped_midway_loses_nothing_and_resumes(
    world: KeyWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    office, permits = world.office, world.permits
    world.issue(5)
    compromise.revoke_key(office, permits.id, "key-1", world.anchor())
    real_sign = compromise.sign_credential_with_digest
    calls = {"n": 0}

    def crash_on_the_fourth(*args: Any, **kwargs: Any) -> Any:
        calls["n"] += 1
        if calls["n"] == 4:
            raise RuntimeError("process killed")
        return real_sign(*args, **kwargs)

    monkeypatch.setattr(compromise, "sign_credential_with_digest", crash_on_the_fourth)
    with pytest.raises(RuntimeError):
        compromise.reissue(office, permits.id, "key-1", chunk=3)
    with office.db.session() as s:
        versions = s.scalars(select(Credential.version).order_by(Credential.seq)).all()
        changes = s.scalar(select(func.count()).select_from(StatusChange))
    assert versions == [1, 1, 1, 1, 1, 2, 2, 2]  # the first chunk, whole; the second, not at all
    assert changes == 3

    monkeypatch.setattr(compromise, "sign_credential_with_digest", real_sign)
    rest = compromise.reissue(office, permits.id, "key-1", chunk=3)
    assert rest.reissued == 2
    with office.db.session() as s:
        per_lineage = s.execute(
            select(Credential.lineage_id, func.count()).group_by(Credential.lineage_id)
        ).all()
        assert s.scalar(select(func.count()).select_from(StatusChange)) == 5
    assert sorted(n for _, n in per_lineage) == [2] * 5  # each: the old version and one new


def test_reissue_keeps_a_suspended_permit_suspended(world: KeyWorld) -> None:
    office, permits = world.office, world.permits
    active, lapsed = world.issue(2)
    with office.db.session() as s:
        s.execute(
            update(Credential)
            .where(Credential.id == lapsed)
            .values(status=CredentialStatus.SUSPENDED, status_reason="endorsement_lapsed")
        )
    compromise.revoke_key(office, permits.id, "key-1", world.anchor())
    pairs = dict(compromise.reissue(office, permits.id, "key-1").pairs)
    assert world.row(pairs[active]).status == CredentialStatus.ACTIVE
    successor = world.row(pairs[lapsed])
    assert (successor.status, successor.status_reason) == ("suspended", "endorsement_lapsed")
    with office.db.session() as s:
        queued = s.execute(
            select(StatusChange.credential_id, StatusChange.status, StatusChange.reason_code)
        ).all()
    assert (pairs[lapsed], "suspended", 6) in [tuple(q) for q in queued]
    world.anchor()
    world.send_statuses()
    assert world.verify(pairs[active]).verdict is Verdict.VALID
    suspended = world.verify(pairs[lapsed])
    assert suspended.verdict is Verdict.INVALID
    assert suspended.check("status").outcome is Outcome.FAIL
    assert suspended.check("key_validity").outcome is Outcome.PASS


def test_refusals_are_specific_and_change_nothing(world: KeyWorld) -> None:
    office, permits = world.office, world.permits
    times = []
    for _ in range(3):  # three batches, each in a later block (and second) than the one before
        world.issue()
        times.append(world.anchor())
    valid_from = world.key_on_chain("key-1")[1]

    def refused(code: str, call: Any) -> None:
        with pytest.raises(KeyOperationError) as caught:
            call()
        assert caught.value.code == code
        assert caught.value.zh and caught.value.en and code in caught.value.diagnostics()

    future = office.chain.block_time("latest") + 600
    refused(
        "revocation_in_future", lambda: compromise.revoke_key(office, permits.id, "key-1", future)
    )
    refused(
        "revocation_before_valid_from",
        lambda: compromise.revoke_key(office, permits.id, "key-1", valid_from - 1),
    )
    refused("unknown_key", lambda: compromise.revoke_key(office, permits.id, "key-9", None))
    refused("unknown_key", lambda: compromise.affected(office, permits.id, "key-9"))
    refused("key_not_revoked", lambda: compromise.reissue(office, permits.id, "key-1"))
    refused(
        "reason_invalid",
        lambda: compromise.revoke_key(office, permits.id, "key-1", None, reason="x"),
    )
    assert compromise.affected(office, permits.id, "key-1").credentials == ()
    assert world.key_on_chain("key-1")[2] == 0
    assert office.signer(permits.id).key_id == "key-1"
    assert world.audit("key.revoke") == [] and world.audit("key.rotate") == []

    # revoking twice from the same time is a no-op; a later time is refused; earlier moves it
    first = compromise.revoke_key(office, permits.id, "key-1", times[1])
    assert first.tx_hash is not None and first.affected == 2
    same = compromise.revoke_key(office, permits.id, "key-1", times[1])
    assert same.tx_hash is None and same.rotated_to is None
    refused(
        "already_revoked_earlier",
        lambda: compromise.revoke_key(office, permits.id, "key-1", times[2]),
    )
    earlier = compromise.revoke_key(office, permits.id, "key-1", times[0])
    assert earlier.affected == 3 and world.key_on_chain("key-1")[2] == times[0]
    assert [e.details["revokedAt"] for e in world.audit("key.revoke")] == [times[1], times[0]]
    refused("key_still_signing", lambda: _reissue_with_signing_key(world))


def test_a_compromised_key_is_revoked_even_when_no_new_key_can_be_registered(
    database: Database,
) -> None:
    """The province has suspended the authority (addKey refused); revokeKey is still allowed:
    the compromised key stops signing and is revoked; a later rotation makes the new key."""
    chain = EmbeddedChain(None)
    world = make_world(chain, database)
    office, permits = world.office, world.permits
    trust = office.deployment.trust_registry
    chain.transact(trust, TRUST_ABI, "suspend", [permits.did], world.root)

    with pytest.raises(KeyOperationError) as caught:
        compromise.revoke_key(office, permits.id, "key-1", None)
    assert caught.value.code == "no_signing_key" and "AuthorityNotActive" in caught.value.en
    assert world.key_on_chain("key-1")[2] != 0  # revoked all the same
    with pytest.raises(NotFound):
        office.signer(permits.id)  # and nothing signs with it any more
    with pytest.raises(NotFound):
        world.issue()

    chain.transact(trust, TRUST_ABI, "reinstate", [permits.did], world.root)
    rotation = key_rotation.rotate_key(office, permits.id, settle_seconds=0)
    assert (rotation.old_key_id, rotation.new_key_id, rotation.revoked_at) == ("", "key-2", None)
    assert rotation.resumed  # the key staged by the failed attempt
    assert office.signer(permits.id).key_id == "key-2"
    [cid] = world.issue()
    world.anchor()
    assert world.verify(cid).verdict is Verdict.VALID
    chain.close()


def _reissue_with_signing_key(world: KeyWorld) -> None:
    """Re-issue under the key that signs right now: the office refuses (test helper)."""
    office, permits = world.office, world.permits
    signing = office.signer(permits.id).key_id
    office.chain.transact(
        office.deployment.trust_registry,
        TRUST_ABI,
        "revokeKey",
        [permits.did, signing, office.chain.block_time("latest"), 2],
        world.root,  # the governance root may revoke any key
    )
    compromise.reissue(office, permits.id, signing)


def test_parse_time() -> None:
    assert parse_time("now") is None
    assert parse_time("1700000000") == 1700000000
    assert parse_time("2026-11-21T10:00:00Z") == 1795255200
    assert parse_time("2026-11-21T18:00:00+08:00") == 1795255200
    assert parse_time("2026-11-21 18:00:00") == 1795255200  # 北京时间
    with pytest.raises(KeyOperationError) as caught:
        parse_time("yesterday")
    assert caught.value.code == "time_invalid"


# ---------------------------------------------------------------------- account rotation


def test_account_rotation_keeps_the_history(chain: Chain, tmp_path: Path) -> None:
    db = Database(f"sqlite:///{tmp_path / 'office.sqlite'}")
    db.migrate()
    world = make_world(chain, db)
    office, permits = world.office, world.permits
    old_account = office.account(permits.id)
    kept, revoked = world.issue(2)
    world.anchor()
    set_statuses(chain, office.deployment, old_account, [(revoked, 1, 9)])

    rotation = key_rotation.rotate_account(office, permits.id)

    assert rotation.previous_account == old_account.address
    assert rotation.new_account != old_account.address and rotation.tx_hash is not None
    record = chain.call(
        office.deployment.trust_registry, TRUST_ABI, "authorityByDid", [permits.did]
    )
    assert record[2] == rotation.new_account
    assert office.account(permits.id).address == rotation.new_account
    assert stored(world).next_account_address is None
    with pytest.raises(ContractReverted) as refused:
        chain.transact(
            office.deployment.anchor_registry, ANCHOR_ABI, "anchor", [b"\x01" * 32, 1], old_account
        )
    assert refused.value.name == "NotAnAuthority"

    [fresh] = world.issue()
    world.anchor()  # the worker now anchors with the new account
    anchor_tx = office.bundle(fresh)["anchor"]["transactionHash"]
    assert chain.w3.eth.get_transaction(anchor_tx)["from"] == rotation.new_account

    assert world.verify(kept).verdict is Verdict.VALID  # anchored by the old account
    assert world.verify(fresh).verdict is Verdict.VALID  # anchored by the new one
    assert world.verify(revoked).check("status").outcome is Outcome.FAIL  # status kept
    [entry] = world.audit("key.rotate_account")
    assert entry.details == {
        "previousAccount": old_account.address,
        "newAccount": rotation.new_account,
        "txHash": rotation.tx_hash,
    }
    no_key_material(world, [entry])
    db.dispose()


def test_an_interrupted_account_rotation_is_finished_with_the_same_account(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = EmbeddedChain(None)
    world = make_world(chain, database)
    office, permits = world.office, world.permits
    real_record = key_rotation.trail.record

    def crash(*args: Any, **kwargs: Any) -> Any:
        if kwargs.get("action") == "key.rotate_account":
            raise RuntimeError("process killed after the chain switched")
        return real_record(*args, **kwargs)

    monkeypatch.setattr(key_rotation.trail, "record", crash)
    with pytest.raises(RuntimeError):
        key_rotation.rotate_account(office, permits.id)
    staged = stored(world).next_account_address
    assert staged is not None
    record = chain.call(
        office.deployment.trust_registry, TRUST_ABI, "authorityByDid", [permits.did]
    )
    assert record[2] == staged  # the chain moved; the office still has the key, sealed

    monkeypatch.setattr(key_rotation.trail, "record", real_record)
    finished = key_rotation.rotate_account(office, permits.id)
    assert finished.resumed and finished.tx_hash is None and finished.new_account == staged
    assert office.account(permits.id).address == staged
    [cid] = world.issue()
    world.anchor()
    assert world.verify(cid).verdict is Verdict.VALID
    chain.close()


def test_an_unfunded_new_account_is_refused_on_a_real_network(
    database: Database, monkeypatch: pytest.MonkeyPatch
) -> None:
    chain = EmbeddedChain(None)
    world = make_world(chain, database)
    office, permits = world.office, world.permits
    monkeypatch.setattr(chain, "dev_funder", lambda: None)
    with pytest.raises(KeyOperationError) as caught:
        key_rotation.rotate_account(office, permits.id)
    assert caught.value.code == "account_not_funded"
    staged = stored(world).next_account_address
    assert staged is not None and staged in caught.value.en
    assert office.account(permits.id).address == permits.account_address  # nothing switched
    finished = key_rotation.rotate_account(office, permits.id, allow_unfunded=True)
    assert finished.new_account == staged
    chain.close()


def test_key_ids_never_collide_with_keys_registered_elsewhere(database: Database) -> None:
    chain = EmbeddedChain(None)
    world = make_world(chain, database)
    office, permits = world.office, world.permits
    # key-2 registered on chain by another tool: the office must not reuse the id
    office.chain.transact(
        office.deployment.trust_registry,
        TRUST_ABI,
        "addKey",
        [permits.did, "key-2", KeyAlgorithmCode.ED25519, Ed25519KeyPair.generate().public_bytes],
        office.account(permits.id),
    )
    rotation = key_rotation.rotate_key(office, permits.id, keep_old=True, settle_seconds=0)
    assert rotation.new_key_id == "key-3"
    chain.close()


def test_events_of_a_rotation_are_what_a_verifier_indexes(database: Database) -> None:
    chain = EmbeddedChain(None)
    world = make_world(chain, database)
    office = world.office
    rotation = key_rotation.rotate_key(office, world.permits.id, settle_seconds=0)
    decoder = EventDecoder(TRUST_ABI)
    events = [
        e
        for e in map(decoder.decode, chain.get_logs([office.deployment.trust_registry], 0))
        if e is not None and e.event in ("KeyAdded", "KeyRevoked")
    ]
    assert [(e.event, e.args["keyId"]) for e in events] == [
        ("KeyAdded", "key-1"),
        ("KeyAdded", "key-2"),
        ("KeyRevoked", "key-1"),
    ]
    assert events[-1].args["revokedAt"] == rotation.revoked_at
    chain.close()


def test_the_account_rotation_migration_keeps_authorities(database: Database) -> None:
    from alembic import command

    from service.storage.db import alembic_config

    def migrate(revision: str, *, down: bool = False) -> None:
        config = alembic_config(database.url)
        with database.engine.begin() as connection:
            config.attributes["connection"] = connection
            (command.downgrade if down else command.upgrade)(config, revision)

    def columns() -> set[str]:
        with database.engine.connect() as connection:
            return {c["name"] for c in inspect(connection).get_columns("authorities")}

    migrate("0004", down=True)
    assert "next_account_address" not in columns()
    with database.engine.begin() as connection:
        connection.execute(
            text(
                "INSERT INTO authorities (id, did, name_zh, name_en, region, credential_types,"
                " account_address, account_key_encrypted, created_at) VALUES (1, 'did:web:a',"
                " '甲', 'A', 440100, '[]', '0x0', :key, :now)"
            ),
            {"key": b"sealed", "now": datetime.now(UTC)},
        )
    migrate("head")
    assert {"next_account_address", "next_account_key_encrypted"} <= columns()
    with database.session() as s:
        authority = s.get(Authority, 1)
        assert authority is not None and authority.did == "did:web:a"
        assert authority.next_account_address is None


def test_anchoring_the_old_keys_queue_stops_at_once_when_the_chain_refuses(
    database: Database,
) -> None:
    """Suspended between registering the new key and retiring the old one: the old key's
    queued credentials cannot be anchored, so the old key is not revoked, and the office is
    told why at once rather than after the anchoring timeout."""
    chain = EmbeddedChain(None)
    world = make_world(chain, database)
    office, permits = world.office, world.permits
    [queued] = world.issue()
    chain.transact(
        office.deployment.trust_registry, TRUST_ABI, "suspend", [permits.did], world.root
    )
    started = time.monotonic()
    with pytest.raises(KeyOperationError) as caught:
        key_rotation._anchor_pending(office, permits.id, "key-1", 60.0, lambda _message: None)
    assert caught.value.code == "anchoring_refused" and "AuthorityNotActive" in caught.value.en
    assert time.monotonic() - started < 30
    assert world.anchor_state(queued) != AnchorState.ANCHORED  # its batch waits, prepared
    assert world.key_on_chain("key-1")[2] == 0  # not revoked
