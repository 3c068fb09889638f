"""W3C Bitstring status lists beside the chain status: every new credential carries its two
entries; the worker publishes the lists and anchors their set's digest in the transaction of the
status changes; the office serves only what the chain holds; a verifier proves a fetched list is
the committed one and catches a tampered, rolled-back or disagreeing list; a crash between
claiming and confirming loses nothing."""

from __future__ import annotations

import json
import time
import uuid
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi.testclient import TestClient
from sqlalchemy import select

from service.anchoring.status_sender import StatusSender
from service.anchoring.worker import AnchorWorker
from service.app import create_app
from service.issuing import status_lists
from service.issuing.status_lists import BLOCK, LIST_ENTRIES, StatusPositions, shuffled
from service.lifecycle.revocation import revoke
from service.lifecycle.status_queue import enqueue
from service.storage.models import StatusList
from tests.service.conftest import settings
from tests.service.office_setup import DID, Setup
from verifier.bundle import credential_id_hash
from verifier.contracts import load_artifact
from verifier.deployment import Deployment
from verifier.foreign import ForeignMaterial
from verifier.proofs import sign_credential
from verifier.status_list import (
    StatusBitstring,
    StatusListSet,
    build_status_list_credential,
    list_id_hash,
    status_list_digest,
    status_list_entries,
)
from verifier.verify import Verdict, Verifier

ABI = load_artifact("AnchorRegistry").abi
BASE = "https://lsj.gz.gov.cn/status-lists"


@pytest.fixture
def client(setup: Setup, tmp_path: Path) -> Iterator[TestClient]:
    """The office's app (no worker) over the setup's office."""
    with TestClient(create_app(setup.office, settings(tmp_path), start_worker=False)) as c:
        yield c


def drain(setup: Setup) -> None:
    AnchorWorker(setup.office, batch_size=100, batch_age_seconds=0, log=lambda _m: None).drain()
    StatusSender(setup.office, log=lambda _m: None).drain()


def served(setup: Setup) -> tuple[dict[str, Any], list[dict[str, Any]]]:
    with setup.office.db.session() as s:
        listed = status_lists.served_set(s, setup.authority_id)
        lists = list(status_lists.served_lists(s, setup.authority_id))
    assert listed is not None
    return listed, lists


def chain_digest(setup: Setup) -> bytes:
    record = setup.office.chain.call(
        setup.deployment.anchor_registry, ABI, "statusListOf", [1, list_id_hash(BASE)]
    )
    return bytes(record[0])


def verify(setup: Setup, credential_id: str, documents: list[dict[str, Any]]) -> Any:
    verifier = Verifier.from_chain(
        setup.office.chain, setup.deployment.anchor_registry, deployment=setup.deployment
    )
    material = ForeignMaterial.from_json(None, documents)
    return verifier.verify(setup.office.bundle(credential_id), material)


def status_of(report: Any) -> Any:
    return next(c for c in report.checks if c.name == "status")


def bit(lists: list[dict[str, Any]], purpose: str, index: int) -> int:
    (document,) = [d for d in lists if d["id"] == f"{BASE}/{purpose}/0"]
    return StatusBitstring.decode(document["credentialSubject"]["encodedList"])[index]


def test_a_new_credential_carries_its_chain_slot_and_two_list_entries(setup: Setup) -> None:
    (cid,) = setup.issue(1)
    credential = setup.office.bundle(cid)["credential"]
    anchor, revocation, suspension = credential["credentialStatus"]
    assert anchor["type"] == "SuixinAnchorRegistryStatus"
    entries = status_list_entries(credential)
    assert [e.status_purpose for e in entries] == ["revocation", "suspension"]
    assert {e.status_list_credential for e in entries} == {
        f"{BASE}/revocation/0",
        f"{BASE}/suspension/0",
    }
    assert entries[0].status_list_index == entries[1].status_list_index < LIST_ENTRIES
    assert revocation["id"] == f"{BASE}/revocation/0#{entries[0].status_list_index}"
    assert suspension["statusListIndex"] == revocation["statusListIndex"]


def test_positions_are_unique_shuffled_and_a_rolled_back_reservation_is_given_back(
    setup: Setup,
) -> None:
    positions = StatusPositions(setup.office.db)
    taken = positions.take(setup.authority_id, BLOCK + 10)
    assert len(set(taken)) == len(taken)
    assert taken[:BLOCK] != sorted(taken[:BLOCK])  # shuffled within the block
    first = min(taken[:BLOCK])  # one whole block, then the next one's first ten
    assert sorted(taken[:BLOCK]) == list(range(first, first + BLOCK))
    assert all(first + BLOCK <= p < first + 2 * BLOCK for p in taken[BLOCK:])
    other = StatusPositions(setup.office.db)  # another process: its own blocks
    assert not set(other.take(setup.authority_id, 5)) & set(taken)
    with pytest.raises(RuntimeError), setup.office.db.write_session() as s:
        (inside,) = positions.take(setup.authority_id, 1, session=s)
        raise RuntimeError("the step fails")
    with setup.office.db.write_session() as s:
        assert positions.take(setup.authority_id, 1, session=s) == [inside]


def test_lists_are_published_with_the_batch_and_served_only_once_on_chain(
    setup: Setup, client: TestClient
) -> None:
    assert served_or_none(setup) is None  # nothing on chain yet, nothing served
    (cid,) = setup.issue(1)
    drain(setup)
    listed, lists = served(setup)
    assert listed["version"] == 1 and listed["id"] == BASE and listed["issuer"] == DID
    assert sorted(d["id"] for d in lists) == [f"{BASE}/revocation/0", f"{BASE}/suspension/0"]
    assert chain_digest(setup) == StatusListSet.from_json(listed).digest
    for document in lists:
        assert listed["lists"][document["id"]] == status_list_digest(document).hex()
        bits = StatusBitstring.decode(document["credentialSubject"]["encodedList"])
        assert len(bits) == LIST_ENTRIES and not any(bits.to_bytes())
    report = verify(setup, cid, [listed, *lists])
    assert report.verdict is Verdict.VALID
    assert status_of(report).reason.code == "status_active"
    assert "revocation" in status_of(report).reason.en

    by_host = client.get("/status-lists/revocation/0", headers={"host": "lsj.gz.gov.cn"})
    assert by_host.status_code == 200
    assert by_host.headers["content-type"].startswith("application/vc")
    assert by_host.json() == next(d for d in lists if d["id"].endswith("revocation/0"))
    assert client.get(f"/v1/authorities/{DID}/status-lists").json() == listed
    assert client.get("/v1/status-lists").json() == {"sets": [listed], "lists": lists}
    for path, host in [
        ("/status-lists/revocation/0", "other.example"),
        ("/status-lists/revocation/1", "lsj.gz.gov.cn"),
        ("/status-lists", "other.example"),
    ]:
        answer = client.get(path, headers={"host": host})
        assert answer.status_code == 404, path
        assert answer.headers["content-type"].startswith("application/problem+json")
    assert (
        client.get("/status-lists/expired/0", headers={"host": "lsj.gz.gov.cn"}).status_code == 422
    )


def served_or_none(setup: Setup) -> dict[str, Any] | None:
    with setup.office.db.session() as s:
        return status_lists.served_set(s, setup.authority_id)


def test_revocation_suspension_and_reinstatement_flip_the_bits_with_the_chain(
    setup: Setup,
) -> None:
    first, second = setup.issue(2)
    drain(setup)
    index_of = {
        cid: status_list_entries(setup.office.bundle(cid)["credential"])[0].status_list_index
        for cid in (first, second)
    }
    revoke(setup.office, first, reason="issuer_error")
    with setup.office.db.write_session() as s:
        enqueue(s, authority_id=setup.authority_id, credential_id=second, status="suspended",
                reason="endorsement_lapsed")  # fmt: skip
    drain(setup)
    listed, lists = served(setup)
    assert listed["version"] == 2
    assert chain_digest(setup) == StatusListSet.from_json(listed).digest
    assert bit(lists, "revocation", index_of[first]) == 1
    assert bit(lists, "suspension", index_of[first]) == 0
    assert bit(lists, "suspension", index_of[second]) == 1
    revoked = verify(setup, first, [listed, *lists])
    assert revoked.verdict is Verdict.INVALID
    assert status_of(revoked).reason.code == "credential_revoked"  # lists agree: chain speaks
    assert status_of(verify(setup, second, [listed, *lists])).reason.code == "credential_suspended"

    with setup.office.db.write_session() as s:
        enqueue(s, authority_id=setup.authority_id, credential_id=second, status="reinstated",
                reason="endorsed")  # fmt: skip
    drain(setup)
    again, lists_now = served(setup)
    assert again["version"] == 3 and bit(lists_now, "suspension", index_of[second]) == 0
    assert verify(setup, second, [again, *lists_now]).verdict is Verdict.VALID
    # the list of version 2 (suspended) with its set: rolled back, and caught
    rolled_back = verify(setup, second, [listed, *lists])
    assert rolled_back.verdict is Verdict.INVALID
    assert status_of(rolled_back).reason.code == "status_list_not_anchored"
    # the current set with the old list: the list is not the one the set commits to
    mixed = verify(setup, second, [again, *lists])
    assert status_of(mixed).reason.code == "status_list_not_anchored"


def test_a_tampered_list_is_caught(setup: Setup) -> None:
    (cid,) = setup.issue(1)
    drain(setup)
    listed, lists = served(setup)
    tampered = json.loads(json.dumps(lists))
    for document in tampered:
        document["validFrom"] = "2026-01-01T00:00:00Z"
    report = verify(setup, cid, [listed, *tampered])
    assert report.verdict is Verdict.INVALID
    assert status_of(report).reason.code == "status_list_proof_invalid"
    # a set edited to commit to the tampered lists is not the set on chain
    forged = {**listed, "lists": {d["id"]: status_list_digest(d).hex() for d in tampered}}
    assert status_of(verify(setup, cid, [forged, *tampered])).reason.code in (
        "status_list_not_anchored",
        "status_list_proof_invalid",
    )


def test_a_list_the_issuer_anchored_but_that_disagrees_with_the_chain_is_reported(
    setup: Setup,
) -> None:
    (cid,) = setup.issue(1)
    drain(setup)
    report = verify(setup, cid, equivocate(setup, cid))
    assert report.verdict is Verdict.INVALID
    reason = status_of(report).reason
    assert reason.code == "status_list_disagrees"
    assert "链上状态" in reason.zh and "disagrees" in reason.en


def equivocate(setup: Setup, cid: str) -> list[dict[str, Any]]:
    """An equivocating issuer: marks ``cid`` revoked in a revocation list whose set it anchors,
    not on chain. Returns that set, the lying list and the issuer's other lists."""
    entry = status_list_entries(setup.office.bundle(cid)["credential"])[0]
    bits = StatusBitstring(LIST_ENTRIES)
    bits[entry.status_list_index] = 1
    url = f"{BASE}/revocation/0"
    unsigned = build_status_list_credential(url, DID, "revocation", bits, valid_from=setup_now())
    signer = setup.office.signer(setup.authority_id)
    lie = sign_credential(unsigned, signer, f"{DID}#{signer.key_id}", "2026-12-05T00:00:00Z")
    listed, lists = served(setup)
    digests = {**StatusListSet.from_json(listed).lists, url: status_list_digest(lie)}
    forged = StatusListSet(BASE, DID, listed["version"] + 1, digests)
    setup.office.chain.transact(
        setup.deployment.anchor_registry,
        ABI,
        "publishStatusLists",
        [[list_id_hash(BASE)], [forged.digest]],
        setup.office.account(setup.authority_id),
    )
    return [forged.to_json(), lie, *(d for d in lists if d["id"] != url)]


def setup_now() -> datetime:
    return datetime.now(UTC).replace(microsecond=0)


def test_a_crash_after_claiming_settles_the_pending_lists_from_the_chain(setup: Setup) -> None:
    (cid,) = setup.issue(1)
    drain(setup)
    before, _ = served(setup)
    # a claim whose transaction never went out: pending versions, nothing on chain
    revoke(setup.office, cid, reason="issuer_error")
    sender = StatusSender(setup.office, log=lambda _m: None)
    claimed, lists = sender._claim(setup.authority_id)
    assert claimed and lists is not None
    with setup.office.db.session() as s:
        assert status_lists.pending_set(s, setup.authority_id) is not None
        assert status_lists.served_set(s, setup.authority_id) == before  # still the old one
    # the restarted sender finds them not on chain: dropped, the change sent again with new ones
    StatusSender(setup.office, log=lambda _m: None).drain()
    listed, lists_now = served(setup)
    assert listed["version"] == 2 and chain_digest(setup) == StatusListSet.from_json(listed).digest
    entry = status_list_entries(setup.office.bundle(cid)["credential"])[0]
    assert bit(lists_now, "revocation", entry.status_list_index) == 1
    with setup.office.db.session() as s:
        assert status_lists.pending_set(s, setup.authority_id) is None
        assert not s.scalars(select(StatusList).where(StatusList.pending.is_not(None))).all()


def test_a_crash_after_sending_serves_the_versions_the_chain_holds(setup: Setup) -> None:
    (cid,) = setup.issue(1)
    drain(setup)
    revoke(setup.office, cid, reason="issuer_error")
    sender = StatusSender(setup.office, log=lambda _m: None)
    claimed, lists = sender._claim(setup.authority_id)
    assert lists is not None
    # sent and mined, but the process died before recording it
    setup.office.chain.transact(
        setup.deployment.anchor_registry,
        ABI,
        "setStatusBatchWithLists",
        [[credential_id_hash(c.credential_id) for c in claimed], [1] * len(claimed),
         [c.reason_code for c in claimed], [lists.set_hash], [lists.set_digest]],
        setup.office.account(setup.authority_id),
    )  # fmt: skip
    StatusSender(setup.office, log=lambda _m: None).drain()
    listed, lists_now = served(setup)
    assert StatusListSet.from_json(listed).digest == lists.set_digest == chain_digest(setup)
    assert verify(setup, cid, [listed, *lists_now]).verdict is Verdict.INVALID


def test_an_authority_without_did_web_publishes_no_lists(setup: Setup) -> None:
    assert (
        status_lists.list_base("did:key:z6MkhaXgBZDvotDkL5257faiztiGiC2QtKLGpbnnEGta2doK") is None
    )
    assert status_lists.list_base("did:web:example.com:path") is None
    assert status_lists.list_base(DID) == BASE
    assert uuid.UUID(setup.issue(1)[0].removeprefix("urn:uuid:"))


def test_changes_wait_for_a_full_batch_up_to_the_longest_wait(setup: Setup) -> None:
    first, second = setup.issue(2)
    drain(setup)
    sender = StatusSender(setup.office, batch_size=2, max_wait_seconds=3600, log=lambda _m: None)
    revoke(setup.office, first, reason="issuer_error")
    assert sender.run_once() == 0  # one change of a batch of two, waited for less than an hour
    revoke(setup.office, second, reason="issuer_error")
    assert sender.run_once() == 2  # the batch is full: both go, with one list set digest
    impatient = StatusSender(setup.office, max_wait_seconds=0.01, log=lambda _m: None)
    with setup.office.db.write_session() as s:
        enqueue(s, authority_id=setup.authority_id, credential_id=uuid.uuid4().urn,
                status="revoked", reason="issuer_error")  # fmt: skip
    time.sleep(0.05)
    assert impatient.run_once() == 1  # the oldest waited long enough
    with pytest.raises(ValueError):
        StatusSender(setup.office, max_wait_seconds=-1)


def test_registries_deployed_before_status_lists_keep_working_without_them(setup: Setup) -> None:
    # a deployment record written before status lists existed: no statusLists field
    record = {k: v for k, v in setup.deployment.to_json().items() if k != "statusLists"}
    old = Deployment.from_json(record)
    assert old.status_lists is False and setup.deployment.status_lists is True
    setup.office.deployment = old
    (cid,) = setup.issue(1)
    credential = setup.office.bundle(cid)["credential"]
    assert credential["credentialStatus"]["type"] == "SuixinAnchorRegistryStatus"  # one entry
    drain(setup)
    revoke(setup.office, cid, reason="issuer_error")
    sender = StatusSender(setup.office, log=lambda _m: None)
    assert sender.run_once() == 1  # through setStatusBatch, as before
    assert served_or_none(setup) is None
    with setup.office.db.session() as s:
        assert not s.scalars(select(StatusList)).all()


def test_lists_a_snapshot_holds_are_read_for_a_valid_bundle(setup: Setup) -> None:
    """A verifier whose index holds the issuer's lists (as a snapshot's does) reads them for a
    bundle that is otherwise VALID: the status check says the lists agree, and a list that
    disagrees with the chain is caught. (The one-pass path for the common VALID bundle must
    step aside when lists are at hand; without that it answered from the chain alone.)"""
    (cid,) = setup.issue(1)
    drain(setup)
    listed, lists = served(setup)

    def verifier_holding(documents: list[dict[str, Any]]) -> Verifier:
        verifier = Verifier.from_chain(
            setup.office.chain, setup.deployment.anchor_registry, deployment=setup.deployment
        )
        verifier.refresh(force=True)
        verifier.index.list_documents = {str(d["id"]): d for d in documents}
        return verifier

    report = verifier_holding([listed, *lists]).verify(setup.office.bundle(cid))
    assert report.verdict is Verdict.VALID
    agreed = status_of(report).reason
    assert agreed.code == "status_active" and "revocation" in agreed.en  # the lists were read

    # an equivocating issuer marks the credential revoked in a list it anchors, not on chain
    caught = verifier_holding(equivocate(setup, cid)).verify(setup.office.bundle(cid))
    assert caught.verdict is Verdict.INVALID
    assert status_of(caught).reason.code == "status_list_disagrees"


def test_a_block_is_shuffled_into_every_order_alike() -> None:
    # the positions of a block are a permutation of it, every order about as likely (6,000
    # draws of the 6 orders of three values: each expected 1,000 times; below 800 or above
    # 1,200 is more than six standard deviations off)
    from collections import Counter

    assert sorted(shuffled(range(5000, 5000 + BLOCK))) == list(range(5000, 5000 + BLOCK))
    assert shuffled([]) == [] and shuffled([7]) == [7]
    counts = Counter(tuple(shuffled([1, 2, 3])) for _ in range(6000))
    assert len(counts) == 6 and all(800 < n < 1200 for n in counts.values())
