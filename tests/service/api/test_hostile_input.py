"""Hostile input over HTTP (issue 19): every bug found by hand-made probes, as a test.

Lone surrogates, years the datetime type cannot hold, numbers and bodies beyond reason, text
that displays otherwise than it reads: each gets a 4xx in the one problem shape, with a stable
code, and changes nothing. What the office accepts, its verifier accepts.
"""

from __future__ import annotations

import json
import unicodedata
from collections.abc import Iterator
from datetime import datetime, timedelta
from typing import Any

from service.anchoring.worker import AnchorWorker
from tests.service.conftest import Api, assert_problem, auth
from verifier.credential import CHINA_TIME

JSON = {"Content-Type": "application/json"}


def raw(body: Any) -> bytes:
    """``body`` as JSON bytes, lone surrogates escaped (``\\ud800``) as a hostile client
    writes them."""
    return json.dumps(body, ensure_ascii=True).encode("ascii")


def codes(problem: dict[str, Any]) -> dict[str, str]:
    return {e["path"]: e["code"] for e in problem.get("errors", [])}


def bilingual(problem: dict[str, Any]) -> None:
    """The one problem shape: type, title, status, a stable code, detail in 中文 and English."""
    assert {"type", "title", "status", "code", "detail"} <= problem.keys(), problem
    assert isinstance(problem["code"], str) and problem["code"].islower(), problem
    zh, _, en = problem["detail"].partition(" / ")
    assert en and any("\u4e00" <= c <= "\u9fff" for c in zh), problem["detail"]
    assert en.isascii(), problem["detail"]


def anchored_bundle(api: Api) -> dict[str, Any]:
    response = api.issue({"type": "ResidencePermit", "subject": api.permit()})
    assert response.status_code == 201, response.text
    AnchorWorker(api.world.office).drain()
    bundle: dict[str, Any] = api.world.office.bundle(response.json()["credential"]["id"])
    return bundle


# ------------------------------------------------------------------ lone surrogates


def test_a_lone_surrogate_is_a_422_on_every_route_that_takes_text(api: Api) -> None:
    permit = {"type": "ResidencePermit", "subject": api.permit(name="张\ud800三")}
    licence_key = api.world.key(api.world.licences, "issue:BusinessLicense", "lifecycle")
    licence = api.issue({"type": "BusinessLicense", "subject": api.licence()}, licence_key)
    licence_id = licence.json()["credential"]["id"]
    bundle = anchored_bundle(api)
    before = api.world.office.counts()
    hostile_bundle = json.loads(json.dumps(bundle))
    hostile_bundle["credential"]["credentialSubject"]["name"] = "\udfff"
    probes: list[tuple[str, Any, str, str]] = [
        ("/v1/credentials", permit, api.permit_key, "subject.name"),
        ("/v1/credentials/batch", {"items": [permit]}, api.permit_key, "items[0].subject.name"),
        (
            "/credentials/issue",
            {
                "credential": {
                    "type": ["VerifiableCredential", "ResidencePermit"],
                    "credentialSubject": permit["subject"],
                }
            },
            api.permit_key,
            "credential.credentialSubject.name",
        ),
        (
            f"/v1/credentials/{licence_id}/amend",
            {"subject": {"domicile": "广州市\ud83d"}},
            licence_key,
            "subject.domicile",
        ),
        ("/v1/verify", hostile_bundle, "", "credential.credentialSubject.name"),
        (
            "/credentials/verify",
            {"verifiableCredential": hostile_bundle["credential"]},
            "",
            "verifiableCredential.credentialSubject.name",
        ),
        ("/v1/oid4vp/verify", hostile_bundle, "", "credential.credentialSubject.name"),
        ("/v1/verify", {"\ud800key": 1}, "", "\ufffdkey"),
    ]
    for path, body, key, field in probes:
        headers = {**JSON, **(auth(key) if key else {})}
        response = api.client.post(path, content=raw(body), headers=headers)
        problem = assert_problem(response, 422)
        bilingual(problem)
        assert problem["code"] == "validation_failed", path
        assert codes(problem) == {field: "text_forbidden_character"}, (path, problem)
    assert api.world.office.counts() == before  # nothing issued, nothing amended


# ------------------------------------------------------------------ dates


def test_dates_are_rfc3339_strings_in_range_or_refused_with_the_verifiers_codes(
    api: Api,
) -> None:
    today = datetime.now(CHINA_TIME).date()
    cases: list[tuple[dict[str, Any], str, str]] = [
        ({"validFrom": "9999-12-31T23:59:59Z"}, "validFrom", "field_datetime_out_of_range"),
        ({"validFrom": "0001-01-01T00:00:00Z"}, "validFrom", "field_datetime_out_of_range"),
        (
            {"validUntil": "9999-12-31T23:59:59-12:00"},  # an 8,000-year permit
            "validUntil",
            "field_datetime_out_of_range",
        ),
        ({"validFrom": 5}, "validFrom", "field_datetime_invalid"),  # not 1970-01-01
        ({"validFrom": "2026-12-05"}, "validFrom", "field_datetime_invalid"),
        ({"validFrom": "20261205T000000Z"}, "validFrom", "field_datetime_invalid"),
        ({"validFrom": "2030-01-01T00:00:00"}, "validFrom", "field_datetime_invalid"),
        (  # the old OpenAPI example: valid from before the issue date
            {"validFrom": f"{today - timedelta(days=14)}T00:00:00+08:00"},
            "validFrom",
            "dates_inconsistent",
        ),
    ]
    for change, path, code in cases:
        body = {"type": "ResidencePermit", "subject": api.permit(), **change}
        problem = assert_problem(api.issue(body), 422)
        bilingual(problem)
        assert codes(problem).get(path) == code, (change, problem["errors"])
    assert api.world.office.counts() == {}


def test_a_credential_that_would_be_born_expired_is_refused(api: Api) -> None:
    now = datetime.now(CHINA_TIME).replace(microsecond=0)
    start = now.replace(hour=0, minute=0, second=0)
    end = max(now - timedelta(seconds=2), start + timedelta(seconds=1))
    body = {
        "type": "ResidencePermit",
        "subject": api.permit(),
        "validFrom": start.isoformat(),
        "validUntil": end.isoformat(),
    }
    problem = assert_problem(api.issue(body), 422)
    assert codes(problem) == {"validUntil": "expired"}
    assert api.world.office.counts() == {}


def test_the_verifier_answers_year_9999_with_a_reason(api: Api) -> None:
    bundle = anchored_bundle(api)
    for value in ("9999-12-31T23:59:59Z", "9999-12-31T23:59:59-12:00", "0001-01-01T00:00:00Z"):
        far = json.loads(json.dumps(bundle))
        far["credential"]["validFrom"] = value
        for path in ("/v1/verify", "/v1/oid4vp/verify"):
            response = api.client.post(path, json=far)
            assert response.status_code == 200, response.text
            report = response.json()
            report = report.get("report", report)
            assert report["verdict"] == "INVALID"
            fmt = next(c for c in report["checks"] if c["name"] == "format")
            assert fmt["code"] == "field_datetime_out_of_range", (value, path)


# ------------------------------------------------------------------ text


def test_control_bidi_and_zero_width_characters_are_refused_before_signing(api: Api) -> None:
    for bad in ("\x00", "\u202e", "\u200f", "\u200b", "\u2066", "\ufeff", "\x85"):
        body = {"type": "ResidencePermit", "subject": api.permit(name=f"张{bad}三")}
        problem = assert_problem(api.issue(body), 422)
        assert codes(problem) == {"subject.name": "text_forbidden_character"}, repr(bad)
        detail = problem["errors"][0]
        assert "双向" in detail["zh"] and "bidirectional" in detail["en"]
    assert api.world.office.counts() == {}


def test_text_is_signed_in_nfc(api: Api) -> None:
    decomposed = unicodedata.normalize("NFD", "广州市天河区天河路100号Café")
    assert decomposed != unicodedata.normalize("NFC", decomposed)
    body = {"type": "ResidencePermit", "subject": api.permit(residenceAddress=decomposed)}
    response = api.issue(body)
    assert response.status_code == 201, response.text
    signed = response.json()["credential"]["credentialSubject"]["residenceAddress"]
    assert signed == unicodedata.normalize("NFC", decomposed)
    AnchorWorker(api.world.office).drain()
    bundle = api.world.office.bundle(response.json()["credential"]["id"])
    assert api.client.post("/v1/verify", json=bundle).json()["verdict"] == "VALID"


# ------------------------------------------------------------------ bodies


def test_bodies_past_the_route_limit_get_413_and_are_not_read(api: Api) -> None:
    big = b'{"x": "' + b"a" * (10 * 1024 * 1024) + b'"}'  # 10 MB
    for path in ("/v1/verify", "/v1/credentials", "/credentials/verify", "/v1/oid4vp/verify"):
        problem = assert_problem(
            api.client.post(path, content=big, headers={**JSON, **auth(api.permit_key)}), 413
        )
        bilingual(problem)
        assert problem["code"] == "body_too_large" and problem["limit"] == 256 * 1024
    # the batch route takes more (10,000 items), but not without end
    over = b'{"items": ["' + b"a" * (16 * 1024 * 1024) + b'"]}'
    problem = assert_problem(
        api.client.post(
            "/v1/credentials/batch", content=over, headers={**JSON, **auth(api.permit_key)}
        ),
        413,
    )
    assert problem["limit"] == 16 * 1024 * 1024

    # no Content-Length (chunked): counted as it streams
    def chunks() -> Iterator[bytes]:
        yield b'{"x": "'
        for _ in range(64):
            yield b"a" * 16 * 1024
        yield b'"}'

    problem = assert_problem(api.client.post("/v1/verify", content=chunks(), headers=JSON), 413)
    assert problem["code"] == "body_too_large"
    # a body within the limit is read as before
    assert api.client.post("/v1/verify", json={"hello": "世界"}).json()["verdict"] == "INVALID"


def test_unreadable_bodies_get_400_with_a_code(api: Api) -> None:
    cases = [
        (b'{"credential": "\xff\xfe"}', "body_not_utf8"),
        (b'{"n": ' + b"9" * 5000 + b"}", "number_too_long"),
        # 100 KB of nesting: json.loads would overflow the C stack (web3's py_ecc raises the
        # recursion limit to 100,000) and kill the process, not raise
        (b'{"n": ' + b"[" * 100_000 + b"}", "json_too_deep"),
    ]
    for body, code in cases:
        for path in ("/v1/verify", "/v1/credentials"):
            response = api.client.post(path, content=body, headers={**JSON, **auth(api.permit_key)})
            problem = assert_problem(response, 400)
            bilingual(problem)
            assert problem["code"] == code
    not_json = api.client.post("/v1/verify", content=b"{nope", headers=JSON)
    problem = assert_problem(not_json, 422)
    bilingual(problem)
    assert codes(problem) == {"": "json_invalid"}
    assert "stored" not in problem["detail"]  # nothing is stored by a verification anyway


# ------------------------------------------------------------------ one shape


def test_every_error_status_has_the_one_problem_shape(api: Api) -> None:
    client = api.client
    unknown = "urn:uuid:00000000-0000-4000-8000-000000000000"
    probes = [
        (client.get(f"/v1/credentials/{unknown}"), 401),  # no key
        (client.get(f"/v1/credentials/{unknown}", headers=auth("sx_nope_nope")), 401),
        (client.post("/v1/apikeys", json={}, headers=auth(api.permit_key)), 403),
        (client.get(f"/v1/credentials/{unknown}", headers=auth(api.permit_key)), 404),
        (client.get("/no/such/page"), 404),
        (client.delete("/v1/verify"), 405),
        (
            client.post("/v1/credentials", json={"type": "Passport"}, headers=auth(api.permit_key)),
            422,
        ),
    ]
    for response, status in probes:
        problem = assert_problem(response, status)
        bilingual(problem)


def test_oid4vp_verify_reasons_have_no_stray_colon(api: Api) -> None:
    for body in ({}, [], {"credential": {}}):
        report = api.client.post("/v1/oid4vp/verify", json=body).json()["report"]
        fmt = next(c for c in report["checks"] if c["name"] == "format")
        assert fmt["outcome"] == "fail" and fmt["zh"] and fmt["en"]
        for check in report["checks"]:
            assert not check["zh"].startswith("："), check
            assert not check["en"].startswith(":"), check


def test_nul_never_reaches_the_database(api: Api) -> None:
    """Found by the fuzzer on PostgreSQL (a 500: text cannot hold NUL): free text is held to
    the credential's text rule, and NUL in a path or query is refused before any route."""
    admin = api.world.key(api.world.permits, "admin")
    created = api.client.post(
        "/v1/apikeys",
        json={"scopes": ["revoke"], "label": "窗口\x00一"},
        headers=auth(admin),
    )
    problem = assert_problem(created, 422)
    assert codes(problem) == {"label": "text_forbidden_character"}
    for url in (
        "/v1/credentials/urn:uuid:1%00",
        "/v1/audit?credential=urn:uuid:1%00",
        "/v1/authorities/did:web:x%00/did.json",
    ):
        problem = assert_problem(api.client.get(url, headers=auth(admin)), 400)
        bilingual(problem)
        assert problem["code"] == "url_forbidden_character", url
    bundle = anchored_bundle(api)
    revoked = api.client.post(
        f"/v1/credentials/{bundle['credential']['id']}/revoke",
        json={"reason": "issuer_error", "note": "录入\u202e错误"},
        headers=auth(api.world.key(api.world.permits, "revoke")),
    )
    assert codes(assert_problem(revoked, 422)) == {"note": "text_forbidden_character"}


def test_a_page_cursor_beyond_the_seq_column_is_a_422(api: Api) -> None:
    """Found by the fuzzer on PostgreSQL (a 500: `before=559914615624216704` overflowed the
    INTEGER seq in the query): the cursor is bounded by the column and refused past it."""
    admin = api.world.key(api.world.permits, "admin")
    problem = assert_problem(
        api.client.get("/v1/audit?before=559914615624216704", headers=auth(admin)), 422
    )
    bilingual(problem)
    assert [e["path"] for e in problem["errors"]] == ["query.before"], problem
    anchored_bundle(api)  # an issuance, anchored, its audit rows chained
    largest = api.client.get(f"/v1/audit?before={2**31 - 1}", headers=auth(admin))
    assert largest.status_code == 200, largest.text
    assert largest.json()["items"], "every chained row lies before the largest cursor"
