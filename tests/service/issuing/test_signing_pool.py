"""Bulk issuance on a signing pool: the same credentials, errors and storage as in-process."""

from __future__ import annotations

import hashlib
import json
import pickle
import random
from collections.abc import Iterator
from datetime import UTC, datetime

import pytest
from sqlalchemy import select

from service.issuing.issuance import SignedCredential
from service.issuing.office import IssueRequest
from service.issuing.signing_pool import SigningPool, SlicedIdentity, SlicedResults, build_slice
from service.storage.columns import lookup_columns
from service.storage.models import Credential
from tests.service.conftest import OfficeWorld
from tests.verifier.factories import residence_permit_subject
from verifier.errors import InvalidCredential
from verifier.jcs import canonicalize
from verifier.proofs import verify_proof


@pytest.fixture(scope="module")
def pool() -> Iterator[SigningPool]:
    pool = SigningPool(2, slice_size=8)
    pool.warm()
    yield pool
    pool.close()


def _requests(n: int, seed: int) -> list[IssueRequest]:
    rng = random.Random(seed)
    return [IssueRequest("ResidencePermit", residence_permit_subject(rng)) for _ in range(n)]


def test_a_large_batch_is_signed_on_the_pool_and_stored(
    world: OfficeWorld, pool: SigningPool
) -> None:
    world.office.signing_pool = pool
    bundles = world.office.issue_many(world.permits.id, _requests(40, 1))
    public = world.office.signer(world.permits.id).public_key
    assert len({b["credential"]["id"] for b in bundles}) == 40
    for bundle in bundles:
        assert verify_proof(bundle["credential"], public).ok
        stored = world.office.bundle(bundle["credential"]["id"])
        assert stored["credential"] == bundle["credential"]


def test_a_row_signed_on_the_pool_holds_what_the_office_made_of_the_credential(
    world: OfficeWorld, pool: SigningPool
) -> None:
    # the pool sends back bytes and plain columns, not the credential: every stored column
    # must still be what the office made of the signed credential itself (lookup_columns,
    # canonicalize, the digest of those bytes), before this split as after it
    office = world.office
    office.signing_pool = pool
    bundles = office.issue_many(world.permits.id, _requests(40, 4))
    credentials = {b["credential"]["id"]: b["credential"] for b in bundles}
    with office.db.session() as s:
        rows = list(s.scalars(select(Credential).where(Credential.id.in_(list(credentials)))))
    assert len(rows) == 40
    for row in rows:
        credential = credentials[row.id]
        canonical = canonicalize(credential)
        assert office.master.open_document(bytes(row.body), row.id) == canonical
        assert bytes(row.digest) == hashlib.sha256(canonical).digest()
        assert (row.credential_type, row.key_id, row.lineage_id, row.version) == (
            "ResidencePermit",
            credential["proof"]["verificationMethod"].partition("#")[2],
            row.id,
            1,
        )
        expected = lookup_columns(office.master, credential)
        assert expected["subject_key"] is not None and row.subject_key is not None
        assert _utc(row.valid_until) == expected["valid_until"]
        assert (bytes(row.subject_key), row.subject_name, row.derived_from) == (
            expected["subject_key"],
            expected["subject_name"],
            expected["derived_from"],
        )


def _utc(at: datetime | None) -> datetime | None:
    """A stored time in UTC (SQLite gives naive UTC back)."""
    if at is None or at.tzinfo is not None:
        return at
    return at.replace(tzinfo=UTC)


def test_invalid_items_name_their_index_and_nothing_is_stored(
    world: OfficeWorld, pool: SigningPool
) -> None:
    world.office.signing_pool = pool
    requests = _requests(40, 2)
    bad = dict(requests[33].subject, citizenId="440106199003071230")  # wrong check digit
    requests[33] = IssueRequest("ResidencePermit", bad)
    requests[5] = IssueRequest("ResidencePermit", dict(requests[5].subject, sex="unknown"))
    with pytest.raises(InvalidCredential) as caught:
        world.office.issue_many(world.permits.id, requests)
    paths = {(e.path, e.code) for e in caught.value.errors}
    assert ("items[33].citizenId", "citizen_id_checksum") in paths
    assert any(path.startswith("items[5].sex") for path, _ in paths)
    assert world.office.counts() == {}


def test_the_pool_gives_what_in_process_issuance_gives(
    world: OfficeWorld, pool: SigningPool
) -> None:
    # same errors for the same input, whichever side builds it
    requests = _requests(20, 3)
    requests[7] = IssueRequest("ResidencePermit", dict(requests[7].subject, residenceRegion="1"))
    errors = []
    for signing_pool in (None, pool):
        world.office.signing_pool = signing_pool
        with pytest.raises(InvalidCredential) as caught:
            world.office.issue_many(world.permits.id, requests)
        errors.append(caught.value.errors)
    assert errors[0] == errors[1]


def test_the_identity_never_shows_its_key() -> None:
    identity = SlicedIdentity("did:web:a", "甲", 440100, "key-1", b"\x07" * 32, 1, "0x0")
    assert "07" not in repr(identity) and "hidden" in repr(identity)


def test_a_slice_crosses_the_pipe_as_it_was_built_less_its_jcs(world: OfficeWorld) -> None:
    # the wire form (columns, errors by index) gives back every result in order: the same
    # signed credentials field by field, without their JCS bytes, which ``credential`` then
    # reads from the compressed ones; the same errors at the same places
    office, authority = world.office, world.permits
    identity = office.sliced_identity(authority)
    requests = _requests(9, 5)
    for bad in (0, 4, 8):  # first, middle and last: the signed ones fill the gaps in order
        subject = dict(requests[bad].subject, citizenId="440106199003071230")
        requests[bad] = IssueRequest("ResidencePermit", subject)
    items = [(r.credential_type, dict(r.subject), None, None, None) for r in requests]
    built = build_slice(identity, items, datetime.now(UTC))
    wire = pickle.loads(pickle.dumps(SlicedResults.of(built)))
    back = wire.results()
    assert len(back) == len(built) == 9
    for original, result in zip(built, back, strict=True):
        if isinstance(original, list):
            assert result == original and original[0].code == "citizen_id_checksum"
            continue
        assert isinstance(result, SignedCredential) and isinstance(original, SignedCredential)
        assert result.jcs is None and original.jcs is not None
        assert result._replace(jcs=original.jcs) == original
        assert canonicalize(result.credential) == original.jcs
        assert result.credential == json.loads(original.jcs)
    assert [isinstance(r, list) for r in back] == [i in (0, 4, 8) for i in range(9)]
