"""The authorisation matrix: every scope × authority on every protected route, and 401s."""

from __future__ import annotations

import asyncio
import threading
from collections.abc import Callable
from pathlib import Path
from typing import Any

import pytest

from service.app import create_app
from service.issuing.office import SCOPES
from service.storage.models import Authority
from tests.service.conftest import Api, OfficeWorld, assert_problem, auth, settings

PERMITS_DID = "did:web:lsj.gz.gov.cn"


def _routes(api: Api) -> dict[str, Callable[[dict[str, str]], Any]]:
    """Each protected route, called with the given headers (valid bodies throughout)."""
    client = api.client
    permit = api.issue({"type": "ResidencePermit", "subject": api.permit()}).json()["credential"]
    licence = api.issue({"type": "BusinessLicense", "subject": api.licence()}).json()["credential"]
    licences_key_id = api.licence_key.split("_")[1]

    def permit_body() -> dict[str, Any]:
        return {"type": "ResidencePermit", "subject": api.permit()}

    def licence_body() -> dict[str, Any]:
        return {"type": "BusinessLicense", "subject": api.licence()}

    return {
        "issue permit": lambda h: client.post("/v1/credentials", json=permit_body(), headers=h),
        "issue licence": lambda h: client.post("/v1/credentials", json=licence_body(), headers=h),
        "batch permits": lambda h: client.post(
            "/v1/credentials/batch", json={"items": [permit_body()]}, headers=h
        ),
        "batch licences": lambda h: client.post(
            "/v1/credentials/batch", json={"items": [licence_body()]}, headers=h
        ),
        "vc issue permit": lambda h: client.post(
            "/credentials/issue",
            json={
                "credential": {
                    "type": ["VerifiableCredential", "ResidencePermit"],
                    "credentialSubject": api.permit(),
                }
            },
            headers=h,
        ),
        "read permit": lambda h: client.get(f"/v1/credentials/{permit['id']}", headers=h),
        "read licence": lambda h: client.get(f"/v1/credentials/{licence['id']}", headers=h),
        "list api keys": lambda h: client.get("/v1/apikeys", headers=h),
        "create api key": lambda h: client.post(
            "/v1/apikeys", json={"scopes": ["lifecycle"], "label": "窗口"}, headers=h
        ),
        "revoke licences' key": lambda h: client.delete(
            f"/v1/apikeys/{licences_key_id}", headers=h
        ),
    }


def _expected(route: str, scope: str, authority: Authority, permits: Authority) -> int:
    mine = authority.id == permits.id  # the key belongs to the permits authority
    if route in ("issue permit", "batch permits", "vc issue permit"):
        return 201 if scope == "issue:ResidencePermit" and mine else 403
    if route in ("issue licence", "batch licences"):
        return 201 if scope == "issue:BusinessLicense" and not mine else 403
    if route == "read permit":
        return 200 if mine else 404
    if route == "read licence":
        return 404 if mine else 200
    if route == "list api keys":
        return 200 if scope == "admin" else 403
    if route == "create api key":
        return 201 if scope == "admin" else 403
    if route == "revoke licences' key":
        # a permits admin cannot see the licences' key; a licences admin revokes it
        return (404 if mine else 204) if scope == "admin" else 403
    raise AssertionError(route)


def test_every_scope_and_authority_on_every_route(api: Api) -> None:
    world = api.world
    seen: dict[tuple[str, str, str], int] = {}
    for authority in (world.permits, world.licences):
        for scope in SCOPES:
            routes = _routes(api)  # fresh targets: the revoke route must find a live key
            key = world.key(authority, scope)
            for route, call in routes.items():
                response = call(auth(key))
                expected = _expected(route, scope, authority, world.permits)
                seen[(authority.did, scope, route)] = response.status_code
                assert response.status_code == expected, (
                    authority.did,
                    scope,
                    route,
                    response.text,
                )
                if expected >= 400:
                    assert_problem(response, expected)
            if scope == "admin" and authority.id == world.licences.id:
                api.licence_key = world.key(world.licences, "issue:BusinessLicense")
    assert len(seen) == 2 * len(SCOPES) * 10


def test_forbidden_names_the_missing_scope(api: Api) -> None:
    key = api.world.key(api.world.permits, "lifecycle", "revoke")
    response = api.issue({"type": "ResidencePermit", "subject": api.permit()}, key)
    problem = assert_problem(response, 403)
    assert problem["requiredScope"] == "issue:ResidencePermit"
    assert api.world.office.counts() == {}


def test_scope_for_a_type_the_authority_may_not_issue_is_forbidden(api: Api) -> None:
    key = api.world.key(api.world.licences, "issue:ResidencePermit")
    response = api.issue({"type": "ResidencePermit", "subject": api.permit()}, key)
    assert "BusinessLicense" not in assert_problem(response, 403)["detail"]
    assert api.world.office.counts() == {}


def test_vc_issue_as_another_authority_is_forbidden(api: Api) -> None:
    body = {
        "credential": {
            "type": ["VerifiableCredential", "BusinessLicense"],
            "issuer": "did:web:amr.gz.gov.cn",
            "credentialSubject": api.licence(),
        }
    }
    key = api.world.key(api.world.permits, "issue:BusinessLicense")
    assert_problem(api.client.post("/credentials/issue", json=body, headers=auth(key)), 403)
    permit_body = {
        "credential": {
            "type": ["VerifiableCredential", "ResidencePermit"],
            "issuer": {"id": "did:web:amr.gz.gov.cn"},
            "credentialSubject": api.permit(),
        }
    }
    response = api.client.post("/credentials/issue", json=permit_body, headers=auth(api.permit_key))
    assert_problem(response, 403)
    assert api.world.office.counts() == {}


def test_missing_wrong_and_revoked_keys_are_unauthorized(api: Api) -> None:
    world = api.world
    revoked = world.key(world.permits, *SCOPES)
    world.office.revoke_api_key(revoked.split("_")[1])
    good = world.key(world.permits, *SCOPES)
    prefix, key_id, secret = good.split("_", 2)
    bad_headers: dict[str, dict[str, str]] = {
        "no key": {},
        "empty bearer": {"Authorization": "Bearer "},
        "basic scheme": {"Authorization": f"Basic {good}"},
        "garbage": auth("not-a-key"),
        "unknown id": auth(f"{prefix}_{'0' * 16}_{secret}"),
        "wrong secret": auth(f"{prefix}_{key_id}_{secret[::-1]}"),
        "revoked": auth(revoked),
        "revoked via X-API-Key": {"X-API-Key": revoked},
    }
    for route, call in _routes(api).items():
        for name, headers in bad_headers.items():
            response = call(headers)
            problem = assert_problem(response, 401)
            assert response.headers["www-authenticate"].startswith("Bearer"), (route, name)
            assert secret not in str(problem)
    # 401 comes before body validation: no probing without a key
    assert_problem(api.client.post("/v1/credentials", json={"type": "x"}), 401)
    # the good key works in either header
    body = {"type": "ResidencePermit", "subject": api.permit()}
    assert api.client.post("/v1/credentials", json=body, headers=auth(good)).status_code == 201
    body = {"type": "ResidencePermit", "subject": api.permit()}
    response = api.client.post("/v1/credentials", json=body, headers={"X-API-Key": good})
    assert response.status_code == 201


def test_admin_manages_only_its_own_keys(api: Api) -> None:
    world = api.world
    admin = world.key(world.permits, "admin")
    created = api.client.post(
        "/v1/apikeys",
        json={"scopes": ["issue:ResidencePermit"], "label": "天河窗口"},
        headers=auth(admin),
    )
    assert created.status_code == 201
    new_key = created.json()["key"]
    listed = api.client.get("/v1/apikeys", headers=auth(admin)).json()
    ids = {k["id"] for k in listed}
    assert created.json()["id"] in ids and api.licence_key.split("_")[1] not in ids
    assert all("key" not in k and "secret" not in str(k) for k in listed)
    body = {"type": "ResidencePermit", "subject": api.permit()}
    assert api.issue(body, new_key).status_code == 201
    revoked = api.client.delete(f"/v1/apikeys/{created.json()['id']}", headers=auth(admin))
    assert revoked.status_code == 204
    assert_problem(api.issue(body, new_key), 401)
    unknown = api.client.post("/v1/apikeys", json={"scopes": ["root"]}, headers=auth(admin))
    assert assert_problem(unknown, 422)["errors"][0]["path"] == "scopes[0]"


def test_a_key_read_for_waiting_requests_outlives_one_that_goes_away(
    world: OfficeWorld, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """``ApiState.authenticated``: requests presenting a key whose cached copy expired share
    one read of it; one of them cancelled (its client went away) cancels not the read, the
    others get the caller, and a wrong secret for the same key is read and refused alone."""
    state = create_app(world.office, settings(tmp_path), start_worker=False).state.suixin
    key = world.key(world.permits, "issue:ResidencePermit")
    world.office.forget_cached()
    real = world.office.authenticate
    reads: list[str] = []
    entered, release = threading.Event(), threading.Event()

    def slow_read(token: str) -> Any:
        reads.append(token)
        entered.set()
        assert release.wait(10)
        return real(token)

    monkeypatch.setattr(world.office, "authenticate", slow_read)
    wrong = key[:-4] + ("aaaa" if not key.endswith("aaaa") else "bbbb")

    async def requests() -> list[Any]:
        gone = asyncio.create_task(state.authenticated(key))
        waiting = [asyncio.create_task(state.authenticated(key)) for _ in range(3)]
        refused = asyncio.create_task(state.authenticated(wrong))
        while not entered.is_set():
            await asyncio.sleep(0.01)
        await asyncio.sleep(0.05)
        gone.cancel()
        release.set()
        return [*(await asyncio.gather(*waiting)), await refused, gone.cancelled()]

    *callers, refused, cancelled = asyncio.run(requests())
    assert cancelled
    assert all(c is not None and c.authority_id == world.permits.id for c in callers)
    assert refused is None
    assert sorted(reads) == sorted([key, wrong])
    assert state._key_reads == {}
