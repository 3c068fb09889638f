"""``POST /v1/credentials``'s fast lane (service.api.routes.credentials.fast_lane): the
route's answer without the framework for a request it can take whole, errors included (byte
for byte), and the route itself for everything else."""

from __future__ import annotations

import threading
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI
from sqlalchemy import func, select
from sqlalchemy.exc import OperationalError

import service.api.routes.credentials as credentials_route
from service.api.guard import RequestGuard
from service.app import create_app
from service.storage.models import Credential
from tests.service.conftest import OfficeWorld, TestClient, auth, settings
from tests.verifier.factories import business_license_subject, residence_permit_subject


def _without_fast_lane(app: FastAPI) -> FastAPI:
    """``app`` with its guard's fast lanes removed (before its first request)."""
    for middleware in app.user_middleware:
        if middleware.cls is RequestGuard:
            middleware.kwargs["fast_lanes"] = {}
    return app


def _route_unused(*_args: Any) -> Any:
    raise AssertionError("the route ran: the fast lane declined")


def _same(fast: Any, slow: Any) -> None:
    assert fast.status_code == slow.status_code
    assert fast.content == slow.content
    for name in ("content-type", "www-authenticate", "idempotent-replayed"):
        assert fast.headers.get(name) == slow.headers.get(name), name


@pytest.fixture
def apps(world: OfficeWorld, tmp_path: Path) -> Any:
    fast = create_app(world.office, settings(tmp_path), start_worker=False)
    slow = _without_fast_lane(create_app(world.office, settings(tmp_path), start_worker=False))
    with TestClient(fast) as fast_client, TestClient(slow) as slow_client:
        yield fast_client, slow_client


def test_the_lane_issues_as_the_route_does(
    world: OfficeWorld, apps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = apps
    key = world.key(world.permits, "issue:ResidencePermit")
    by_route = slow.post(
        "/v1/credentials",
        json={"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)},
        headers=auth(key),
    )
    world.office.authenticate(key)  # checked within the last second: the lane takes it
    monkeypatch.setattr(credentials_route, "require_issue_scopes", _route_unused)
    body = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
    by_lane = fast.post("/v1/credentials", json=body, headers=auth(key))
    assert by_lane.status_code == by_route.status_code == 201
    for response in (by_lane, by_route):
        credential_id = response.json()["credential"]["id"]
        assert response.headers["location"] == f"/v1/credentials/{credential_id}"
        assert response.headers["content-type"] == "application/json"
        assert "idempotent-replayed" not in response.headers
    assert by_lane.json().keys() == by_route.json().keys()
    assert by_lane.json()["credential"].keys() == by_route.json()["credential"].keys()
    stored = world.office.bundle(by_lane.json()["credential"]["id"], world.permits.id)
    assert stored == by_lane.json()
    # an idempotent retry and a conflicting one, by the lane, then by the route: the same
    monkeypatch.undo()
    headers = {**auth(key), "Idempotency-Key": "lane-1"}
    again = fast.post("/v1/credentials", json=body, headers=auth(key))
    assert again.status_code == 409  # the same holder again (no key): in force
    fresh = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
    created = fast.post("/v1/credentials", json=fresh, headers=headers)
    assert created.status_code == 201
    world.office.authenticate(key)
    monkeypatch.setattr(credentials_route, "require_issue_scopes", _route_unused)
    lane_retry = fast.post("/v1/credentials", json=fresh, headers=headers)
    monkeypatch.undo()
    route_retry = slow.post("/v1/credentials", json=fresh, headers=headers)
    _same(lane_retry, route_retry)
    assert lane_retry.status_code == 200 and lane_retry.json() == created.json()
    assert lane_retry.headers["location"] == created.headers["location"]


def test_the_lane_answers_errors_with_the_route_s_problems(
    world: OfficeWorld, apps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Errors that arise once the issue has begun: the lane's problem is the route's."""
    fast, slow = apps
    permit_key = world.key(world.permits, "issue:ResidencePermit")
    # a key of the permits authority with a licence scope: its authority is not accredited
    licence_scope = world.key(world.permits, "issue:BusinessLicense")
    held = residence_permit_subject(world.rng)
    assert (
        slow.post(
            "/v1/credentials",
            json={"type": "ResidencePermit", "subject": held},
            headers={**auth(permit_key), "Idempotency-Key": "taken"},
        ).status_code
        == 201
    )
    cases = [
        # the office's rules: residence outside the authority's region (422)
        (permit_key, {"subject": residence_permit_subject(world.rng, residenceRegion="110101")}),
        # several field errors at once (422)
        (permit_key, {"subject": residence_permit_subject(world.rng, sex="x", birthDate="1")}),
        # the holder holds a permit in force (409), also when the request is invalid too
        (permit_key, {"subject": dict(held, name="李四")}),
        (permit_key, {"subject": dict(held, residenceRegion="110101")}),
        # a validity that has ended (422)
        (
            permit_key,
            {"subject": residence_permit_subject(world.rng), "validUntil": "2001-01-01T00:00:00Z"},
        ),
        # a type the authority is not accredited for (403)
        (
            licence_scope,
            {"type": "BusinessLicense", "subject": business_license_subject(world.rng)},
        ),
    ]
    requests = [(key, {"type": "ResidencePermit"} | fields, {}) for key, fields in cases]
    # the same idempotency key with another request (409)
    other = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
    requests.append((permit_key, other, {"Idempotency-Key": "taken"}))
    expected = [
        slow.post("/v1/credentials", json=body, headers={**auth(key), **extra})
        for key, body, extra in requests
    ]
    assert [r.status_code for r in expected] == [422, 422, 409, 409, 422, 403, 409]
    for key in (permit_key, licence_scope):
        world.office.authenticate(key)
    monkeypatch.setattr(credentials_route, "require_issue_scopes", _route_unused)
    for (key, body, extra), slow_answer in zip(requests, expected, strict=True):
        _same(fast.post("/v1/credentials", json=body, headers={**auth(key), **extra}), slow_answer)


def test_what_the_lane_declines_the_route_answers(
    world: OfficeWorld, apps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast, slow = apps
    key = world.key(world.permits, "issue:ResidencePermit")
    other_scope = world.key(world.permits, "lifecycle")
    valid = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
    json_type = {"content-type": "application/json"}
    requests: list[tuple[bytes | None, dict[str, Any], dict[str, str]]] = [
        (None, valid, {}),  # no key (401)
        (None, valid, {"Authorization": "Bearer sx_nothing_here"}),  # unknown key (401)
        (None, valid, {"Authorization": f"Basic {key}"}),  # not a bearer key (401)
        (None, valid, auth(other_scope)),  # no issue scope (403)
        (None, {"type": "ResidencePermit"}, auth(key)),  # no subject (422, pydantic)
        (None, {"type": "Passport", "subject": {}}, auth(key)),  # unknown type (422)
        (None, [valid], auth(key)),  # not an object (422)
        (None, valid, {**auth(key), "Idempotency-Key": "k" * 201}),  # key too long (422)
        (b"{", {}, {**auth(key), **json_type}),  # not JSON (422)
        (b"type=ResidencePermit", {}, {**auth(key), "content-type": "text/plain"}),
    ]
    expected = []
    for content, body, headers in requests:
        if content is None:
            expected.append(slow.post("/v1/credentials", json=body, headers=headers))
        else:
            expected.append(slow.post("/v1/credentials", content=content, headers=headers))
    assert [r.status_code for r in expected] == [401, 401, 401, 403, 422, 422, 422, 422, 422, 422]
    calls: list[int] = []
    real = credentials_route.require_issue_scopes

    def counted(*args: Any) -> Any:
        calls.append(1)
        return real(*args)

    monkeypatch.setattr(credentials_route, "require_issue_scopes", counted)
    for key_ in (key, other_scope):
        world.office.authenticate(key_)
    for (content, body, headers), slow_answer in zip(requests, expected, strict=True):
        if content is None:
            answer = fast.post("/v1/credentials", json=body, headers=headers)
        else:
            answer = fast.post("/v1/credentials", content=content, headers=headers)
        _same(answer, slow_answer)
    # the route ran for each that reached it past its dependencies and body validation
    assert len(calls) == 1  # the key without the issue scope
    # a key not checked lately: the lane reads it from the database and issues
    world.office.forget_cached()
    fresh = fast.post("/v1/credentials", json=valid, headers=auth(key))
    assert fresh.status_code == 201 and len(calls) == 1


def test_concurrent_requests_read_an_expired_key_once(
    world: OfficeWorld, apps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The key's cached copy has expired and 16 requests arrive together: one reads it from
    the database, all are issued by the lane (as the route would: 201 each), none waits for
    a read of its own. (Every request reading it again made the first requests after a
    pause 4-5 times slower than the others in scripts/bench_issue.py.)"""
    fast, _ = apps
    key = world.key(world.permits, "issue:ResidencePermit")
    world.office.forget_cached()
    reads: list[str] = []
    real = world.office.authenticate
    entered, release = threading.Event(), threading.Event()

    def slow_read(token: str) -> Any:
        reads.append(token)
        entered.set()
        assert release.wait(10)  # the others arrive while this read runs
        return real(token)

    monkeypatch.setattr(world.office, "authenticate", slow_read)
    monkeypatch.setattr(credentials_route, "require_issue_scopes", _route_unused)
    bodies = [
        {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
        for _ in range(16)
    ]
    with ThreadPoolExecutor(16) as pool:
        answers = [
            pool.submit(fast.post, "/v1/credentials", json=body, headers=auth(key))
            for body in bodies
        ]
        assert entered.wait(10)
        time.sleep(0.3)  # the other 15 reach the lane and wait on the read
        release.set()
        statuses = [answer.result().status_code for answer in answers]
    assert statuses == [201] * 16
    assert reads == [key]


def test_a_key_the_lane_cannot_read_is_the_route_s_to_answer(
    world: OfficeWorld, apps: Any, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The database fails while the key is read: the lane declines, and the route answers
    what the application without a lane answers; nothing is stored."""
    fast, slow = apps
    key = world.key(world.permits, "issue:ResidencePermit")
    body = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}

    def unreadable(_token: str) -> Any:
        raise OperationalError("SELECT", None, Exception("database is locked"))

    world.office.forget_cached()
    monkeypatch.setattr(world.office, "authenticate", unreadable)
    with (
        TestClient(fast.app, raise_server_exceptions=False) as fast_client,
        TestClient(slow.app, raise_server_exceptions=False) as slow_client,
    ):
        by_route = slow_client.post("/v1/credentials", json=body, headers=auth(key))
        by_lane = fast_client.post("/v1/credentials", json=body, headers=auth(key))
    assert by_route.status_code >= 500
    _same(by_lane, by_route)
    assert world.office.counts() == {}


@pytest.mark.parametrize("lane", [True, False])
def test_a_store_that_fails_reports_no_credential(
    world: OfficeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch, lane: bool
) -> None:
    """The database fails between the INSERTs and the commit: the request is answered with
    the 500 problem, never a 201, and nothing is stored; by the lane as by the route."""
    import service.issuing.office as office_module

    app = create_app(world.office, settings(tmp_path), start_worker=False)
    if not lane:
        _without_fast_lane(app)
    key = world.key(world.permits, "issue:ResidencePermit")

    def crash(*_: Any) -> None:
        raise OperationalError("COMMIT", None, Exception("disk I/O error"))

    monkeypatch.setattr(office_module, "record_entries", crash)
    if lane:
        monkeypatch.setattr(credentials_route, "require_issue_scopes", _route_unused)
    with TestClient(app, raise_server_exceptions=False) as client:
        world.office.authenticate(key)
        body = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
        answer = client.post("/v1/credentials", json=body, headers=auth(key))
    assert answer.status_code == 500
    assert answer.json()["code"] == "internal"
    assert world.office.counts() == {}
    with world.office.db.session() as s:
        assert s.scalar(select(func.count()).select_from(Credential)) == 0


def test_issues_on_the_group_thread_answer_as_on_the_issuing_threads(
    world: OfficeWorld, tmp_path: Path
) -> None:
    """Checked and signed on the group commit's thread, then stored there (the running app),
    or on the issuing threads and stored alone (the app without its group commit): the same
    answers, byte for byte, for every refusal, and the same shape for an issue."""
    grouped_app = create_app(world.office, settings(tmp_path), start_worker=False)
    threaded_app = create_app(world.office, settings(tmp_path), start_worker=False)
    permit_key = world.key(world.permits, "issue:ResidencePermit")
    licence_scope = world.key(world.permits, "issue:BusinessLicense")
    held = residence_permit_subject(world.rng)
    retried = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
    with TestClient(grouped_app) as grouped, TestClient(threaded_app) as threaded:
        commits = threaded_app.state.suixin.commits
        threaded_app.state.suixin.commits = None
        commits.close()
        first = grouped.post(
            "/v1/credentials",
            json={"type": "ResidencePermit", "subject": held},
            headers={**auth(permit_key), "Idempotency-Key": "taken"},
        )
        assert first.status_code == 201
        created = grouped.post(
            "/v1/credentials", json=retried, headers={**auth(permit_key), "Idempotency-Key": "r"}
        )
        assert created.status_code == 201
        requests = [
            (permit_key, {"subject": residence_permit_subject(world.rng, residenceRegion="1")}, {}),
            (permit_key, {"subject": residence_permit_subject(world.rng, sex="x")}, {}),
            (permit_key, {"subject": dict(held, name="李四")}, {}),
            (permit_key, {"subject": dict(held, residenceRegion="110101")}, {}),
            (
                licence_scope,
                {"type": "BusinessLicense", "subject": business_license_subject(world.rng)},
                {},
            ),
            (
                permit_key,
                {"subject": residence_permit_subject(world.rng)},
                {"Idempotency-Key": "taken"},
            ),
            (permit_key, retried, {"Idempotency-Key": "r"}),
        ]
        answers = []
        for client in (grouped, threaded):
            answers.append(
                [
                    client.post(
                        "/v1/credentials",
                        json={"type": "ResidencePermit"} | body,
                        headers={**auth(key), **extra},
                    )
                    for key, body, extra in requests
                ]
            )
        fresh = [
            client.post(
                "/v1/credentials",
                json={"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)},
                headers=auth(permit_key),
            )
            for client in (grouped, threaded)
        ]
    by_group, by_threads = answers
    assert [r.status_code for r in by_group] == [422, 422, 409, 409, 403, 409, 200]
    for one, other in zip(by_group, by_threads, strict=True):
        _same(one, other)
        assert one.headers.get("location") == other.headers.get("location")
    assert by_group[-1].json() == created.json()
    assert [r.status_code for r in fresh] == [201, 201]
    assert fresh[0].json().keys() == fresh[1].json().keys()
    for answer in fresh:
        stored = world.office.bundle(answer.json()["credential"]["id"], world.permits.id)
        assert stored == answer.json()
