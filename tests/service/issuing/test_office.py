"""The office: API keys and authorities read at most once a second per process (a revocation made
here acts at once, one made elsewhere within that second); derived types never issued directly."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
from sqlalchemy import update

import service.issuing.office as office_module
from service.storage.models import ApiKey
from tests.service.conftest import OfficeWorld


def test_a_key_revoked_here_stops_at_once(world: OfficeWorld) -> None:
    key_id, token = world.office.create_api_key(world.permits.id, ["admin"])
    assert world.office.authenticate(token) is not None
    assert world.office.authenticate_cached(token) is not None
    world.office.revoke_api_key(key_id)
    assert world.office.authenticate_cached(token) is None
    assert world.office.authenticate(token) is None


def test_a_key_revoked_elsewhere_stops_within_the_cache_time(
    world: OfficeWorld, monkeypatch: pytest.MonkeyPatch
) -> None:
    clock = [1000.0]
    monkeypatch.setattr(office_module.time, "monotonic", lambda: clock[0])
    key_id, token = world.office.create_api_key(world.permits.id, ["admin"])
    assert world.office.authenticate(token) is not None
    with world.office.db.session() as s:  # another process revokes it
        s.execute(update(ApiKey).where(ApiKey.id == key_id).values(revoked_at=datetime.now(UTC)))
    clock[0] += 0.5
    assert world.office.authenticate(token) is not None  # still within the second
    clock[0] += 0.6
    assert world.office.authenticate_cached(token) is None
    assert world.office.authenticate(token) is None


def test_a_cached_key_still_needs_its_secret(world: OfficeWorld) -> None:
    _, token = world.office.create_api_key(world.permits.id, ["admin"])
    assert world.office.authenticate(token) is not None
    forged = token[:-4] + ("AAAA" if not token.endswith("AAAA") else "BBBB")
    assert world.office.authenticate_cached(forged) is None
    assert world.office.authenticate(forged) is None


def test_a_derived_type_is_never_issued_directly(world: OfficeWorld) -> None:
    # ResidenceYears comes only from a permit's history; not even an authority accredited for it
    # may mint one from a bare request
    from service.issuing.office import IssueRequest
    from verifier.errors import InvalidCredential

    request = IssueRequest("ResidenceYears", {"years": 5})
    with pytest.raises(InvalidCredential) as caught:
        world.office.issue(world.permits.id, request)
    assert [e.code for e in caught.value.errors] == ["type_derived_only"]
    assert world.office.counts() == {}
