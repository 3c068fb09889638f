"""``POST /v1/verify``'s fast lane (service.api.routes.verify.fast_lane): the route's answer
byte for byte without the framework in the common case, the route itself otherwise, and one
rate-limit token per request either way."""

from __future__ import annotations

import copy
import dataclasses
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from fastapi import FastAPI

import service.api.routes.verify as verify_route
from service.anchoring.worker import AnchorWorker
from service.api.guard import RequestGuard
from service.app import create_app
from tests.service.conftest import TestClient, assert_problem, auth, settings
from tests.verifier.factories import residence_permit_subject


def _without_fast_lane(app: FastAPI) -> FastAPI:
    """``app`` with its guard's fast lanes removed (before its first request)."""
    for middleware in app.user_middleware:
        if middleware.cls is RequestGuard:
            middleware.kwargs["fast_lanes"] = {}
    return app


def _anchored(world: Any, client: TestClient) -> dict[str, Any]:
    key = world.key(world.permits, "issue:ResidencePermit")
    body = {"type": "ResidencePermit", "subject": residence_permit_subject(world.rng)}
    response = client.post("/v1/credentials", json=body, headers=auth(key))
    assert response.status_code == 201, response.text
    AnchorWorker(world.office).drain()
    bundle: dict[str, Any] = world.office.bundle(response.json()["credential"]["id"])
    return bundle


def test_the_fast_lane_answers_what_the_route_answers(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    fast = create_app(world.office, settings(tmp_path), start_worker=False)
    slow = _without_fast_lane(create_app(world.office, settings(tmp_path), start_worker=False))
    with TestClient(fast) as fast_client, TestClient(slow) as slow_client:
        valid = _anchored(world, fast_client)
        tampered = copy.deepcopy(valid)
        tampered["credential"]["credentialSubject"]["residenceAddress"] = "广州市越秀区某路1号"
        pending = copy.deepcopy(valid)
        pending["anchor"] = None
        bodies = [valid, tampered, pending, {}, {"hello": "世界"}, {"credential": 1}]
        # both apps have synced, so that both report the same block and trust source
        for body in bodies:
            slow_client.post("/v1/verify", json=body)
            fast_client.post("/v1/verify", json=body)
        expected = [slow_client.post("/v1/verify", json=body) for body in bodies]

        def route_unused(*_args: Any) -> Any:
            raise AssertionError("the route ran: the fast lane declined")

        monkeypatch.setattr(verify_route, "report_of", route_unused)
        for body, slow_answer in zip(bodies, expected, strict=True):
            answer = fast_client.post("/v1/verify", json=body)
            assert answer.status_code == slow_answer.status_code == 200
            assert answer.headers["content-type"] == slow_answer.headers["content-type"]
            assert answer.headers["content-length"] == str(len(answer.content))
            # the same report but for the moment it was made and the trust source's age then
            fast_report, slow_report = answer.json(), slow_answer.json()
            for report in (fast_report, slow_report):
                del report["checkedAt"], report["trust"]["ageSeconds"]
            assert fast_report == slow_report
        assert fast_client.post("/v1/verify", json=valid).json()["verdict"] == "VALID"

        # what the lane declines goes to the route, which answers as before
        monkeypatch.undo()
        assert_problem(
            fast_client.post(
                "/v1/verify", content=b"{", headers={"content-type": "application/json"}
            ),
            422,
        )
        assert_problem(
            fast_client.post(
                "/v1/verify", content=b"", headers={"content-type": "application/json"}
            ),
            422,
        )
        for other in ([valid], "text", None):  # not an object: the route's answer, whatever it is
            fast_answer = fast_client.post("/v1/verify", json=other)
            slow_answer = slow_client.post("/v1/verify", json=other)
            assert fast_answer.status_code == slow_answer.status_code


def test_a_request_the_lane_hands_on_takes_one_token(world: Any, tmp_path: Path) -> None:
    app = create_app(world.office, settings(tmp_path, public_rate_per_minute=3), start_worker=False)
    verification = app.state.suixin.verification
    with TestClient(app, client=("203.0.113.9", 50000)) as client:
        statuses = []
        for _ in range(4):
            verification._last_sync = None  # a sync is due: the lane hands the request on
            statuses.append(client.post("/v1/verify", json={}).status_code)
        assert statuses == [200, 200, 200, 429], statuses


def test_the_fast_lane_answers_the_routes_bytes(
    world: Any, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With the clock held still, the lane's answer and the route's are the same bytes."""
    fast = create_app(world.office, settings(tmp_path), start_worker=False)
    slow = _without_fast_lane(create_app(world.office, settings(tmp_path), start_worker=False))
    with TestClient(fast) as fast_client, TestClient(slow) as slow_client:
        valid = _anchored(world, fast_client)
        tampered = copy.deepcopy(valid)
        tampered["credential"]["credentialSubject"]["residenceAddress"] = "广州市越秀区某路2号"
        bodies = [valid, tampered, {}, {"hello": "世界", "n": [1.5, -0.0, 10**15]}]
        for body in bodies:  # both synced to the same block
            slow_client.post("/v1/verify", json=body)
            fast_client.post("/v1/verify", json=body)
        now = datetime.now(UTC)
        for app in (fast, slow):
            verifier = app.state.suixin.verification.verifier
            monkeypatch.setattr(
                verifier, "policy", dataclasses.replace(verifier.policy, clock=lambda: now)
            )
        expected = [slow_client.post("/v1/verify", json=body) for body in bodies]
        monkeypatch.setattr(verify_route, "report_of", _route_unused)
        for body, slow_answer in zip(bodies, expected, strict=True):
            answer = fast_client.post("/v1/verify", json=body)
            assert answer.status_code == slow_answer.status_code == 200
            assert answer.headers["content-type"] == slow_answer.headers["content-type"]
            assert answer.content == slow_answer.content
        assert [r.json()["verdict"] for r in expected] == ["VALID", "INVALID", "INVALID", "INVALID"]


def _route_unused(*_args: Any) -> Any:
    raise AssertionError("the route ran: the fast lane declined")


def test_the_guard_checks_the_lanes_bodies_and_survives_deep_nesting(api: Any) -> None:
    """On the lane's path (no key) the body is parsed once, by orjson, yet every body the guard
    refused before is refused with the same code, and 100 KB of ``[`` (which would overflow the
    C stack in ``json.loads``) is a 400, after which the process still verifies."""
    json_type = {"content-type": "application/json"}
    nested = b'{"n": ' + b"[" * 64 + b"]" * 64 + b"}"  # 65 levels with the object
    cases = [
        (b'{"credential": "\xff\xfe"}', 400, "body_not_utf8"),
        (b'{"n": ' + b"9" * 5000 + b"}", 400, "number_too_long"),
        (b'{"n": -' + b"9" * 641 + b"}", 400, "number_too_long"),
        (b"[" * 100_000, 400, "json_too_deep"),
        (b'{"n": ' + b"[" * 100_000 + b"}", 400, "json_too_deep"),
        (b'{"n": ' + b"[" * 2000 + b"]" * 2000 + b"}", 400, "json_too_deep"),
        (nested, 400, "json_too_deep"),
    ]
    for body, status, code in cases:
        problem = assert_problem(
            api.client.post("/v1/verify", content=body, headers=json_type), status
        )
        assert problem["code"] == code, (body[:40], problem)
    surrogate = assert_problem(
        api.client.post("/v1/verify", content=b'{"credential": "\\ud800"}', headers=json_type),
        422,
    )
    assert surrogate["errors"][0]["code"] == "text_forbidden_character"
    # 64 levels is within the limit: verified (INVALID: no bundle), not refused
    within = b'{"n": ' + b"[" * 63 + b"]" * 63 + b"}"
    answer = api.client.post("/v1/verify", content=within, headers=json_type)
    assert answer.status_code == 200 and answer.json()["verdict"] == "INVALID"
    # 300 digits: a double orjson refuses as infinite, which the guard lets through as before;
    # the route answers it
    big = api.client.post("/v1/verify", content=b'{"n": ' + b"9" * 300 + b"}", headers=json_type)
    assert big.status_code == 200 and big.json()["verdict"] == "INVALID"
    assert api.client.post("/v1/verify", json={"hello": "世界"}).json()["verdict"] == "INVALID"
