"""The counter's OpenID4VP response endpoint under bad input, at the office's counter and at the
standalone one alike: malformed, oversized, replayed, wrong state, wrong content type, not
UTF-8, JWE garbage. Each gets a clear problem with a stable code, never a 500, and nothing is
consumed: the request still waits, and the holder's real answer is then taken."""

from __future__ import annotations

import json
from collections.abc import Callable
from typing import Any

import pytest
from jwcrypto import jwe, jwk

from tests.service.conftest import assert_problem
from tests.service.web.counters import Counter
from verifier.counter.core import MAX_BODY_BYTES

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
JSON = {"Content-Type": "application/json"}


def encrypted(request: dict[str, Any], payload: bytes) -> str:
    """``payload`` as a JWE to the request's key (jwcrypto), as a wallet would send it."""
    (public,) = request["request"]["client_metadata"]["jwks"]["keys"]
    token = jwe.JWE(payload, protected=json.dumps({"alg": "ECDH-ES", "enc": "A128GCM"}))
    token.add_recipient(jwk.JWK(**{k: public[k] for k in ("kty", "crv", "x", "y")}))
    return str(token.serialize(compact=True))


def to_a_stranger() -> str:
    """A JWE encrypted to a key no counter holds."""
    stranger = jwk.JWK.generate(kty="EC", crv="P-256")
    token = jwe.JWE(b"{}", protected=json.dumps({"alg": "ECDH-ES", "enc": "A128GCM"}))
    token.add_recipient(stranger)
    return str(token.serialize(compact=True))


def _form(text: str) -> dict[str, Any]:
    return {"content": text.encode(), "headers": FORM}


# (what is wrong, the post as a function of the request, the status, the code)
Bad = Callable[[dict[str, Any]], dict[str, Any]]
CASES: list[tuple[str, Bad, int, str]] = [
    # not UTF-8: raw bytes, and a percent-escape that decodes to none
    (
        "not UTF-8",
        lambda r: {"content": b"vp_token=\xff\xfe", "headers": FORM},
        400,
        "body_not_utf8",
    ),
    ("a %-escape not UTF-8", lambda r: _form("vp_token=%ff&state=x"), 400, "body_not_utf8"),
    # content types other than a form or JSON, or none
    (
        "text/plain",
        lambda r: {"content": b"vp_token=x", "headers": {"Content-Type": "text/plain"}},
        415,
        "content_type_unsupported",
    ),
    (
        "no content type",
        lambda r: {"content": b'{"vp_token": {}}'},
        415,
        "content_type_unsupported",
    ),
    # malformed
    ("JSON cut short", lambda r: {"content": b"{not json", "headers": JSON}, 422, "body_invalid"),
    (
        "vp_token not JSON",
        lambda r: _form("vp_token=eyJ&state=" + r["requestId"]),
        422,
        "body_invalid",
    ),
    (
        "JSON nested beyond reason",
        lambda r: {"content": b"[" * 100_000, "headers": JSON},
        400,
        "json_too_deep",
    ),
    (
        "vp_token nested beyond reason",
        lambda r: _form("vp_token=" + "%5B" * 50_000),
        400,
        "json_too_deep",
    ),
    (
        "a parameter twice",
        lambda r: _form(f"state={r['requestId']}&state=other&error=access_denied"),
        400,
        "parameter_repeated",
    ),
    (
        "vp_token keyed by another id",
        lambda r: {"json": {"vp_token": {"q9": ["x"]}}},
        400,
        "vp_token_malformed",
    ),
    (
        "suixin_anchors of another shape",
        lambda r: {"json": {"vp_token": {"q0": ["x"]}, "suixin_anchors": [1]}},
        400,
        "anchors_malformed",
    ),
    ("an error no one defines", lambda r: {"json": {"error": "please_wait"}}, 400, "error_unknown"),
    (
        "junk where a presentation goes",
        lambda r: {"json": {"vp_token": {"q0": ["x~y~"]}}},
        400,
        "presentation_not_for_request",
    ),
    ("a bare object", lambda r: {"json": {"x": 1}}, 400, "presentation_not_for_request"),
    ("a JSON list", lambda r: {"json": [1, 2]}, 400, "presentation_not_for_request"),
    # wrong state: plain, and inside the JWE
    (
        "a wrong state",
        lambda r: {"json": {"error": "access_denied", "state": "another"}},
        400,
        "state_mismatch",
    ),
    (
        "a wrong state, encrypted",
        lambda r: _form("response=" + encrypted(r, b'{"error":"access_denied","state":"x"}')),
        400,
        "state_mismatch",
    ),
    # JWE garbage
    ("response not a JWE", lambda r: _form("response=x.y.z"), 400, "response_undecryptable"),
    ("response empty", lambda r: _form("response="), 400, "response_undecryptable"),
    ("response a JSON number", lambda r: {"json": {"response": 7}}, 400, "response_undecryptable"),
    (
        "a JWE of a JSON list",
        lambda r: _form("response=" + encrypted(r, b"[1]")),
        400,
        "response_undecryptable",
    ),
    (
        "a JWE of no JSON",
        lambda r: _form("response=" + encrypted(r, b"\xff\x00")),
        400,
        "response_undecryptable",
    ),
    (
        "a JWE nested beyond reason",
        lambda r: _form("response=" + encrypted(r, b"[" * 100_000)),
        400,
        "response_undecryptable",
    ),
    (
        "a JWE to another key",
        lambda r: _form("response=" + to_a_stranger()),
        400,
        "response_undecryptable",
    ),
]


@pytest.mark.parametrize("why", [c[0] for c in CASES])
def test_bad_input_is_refused_and_consumes_nothing(any_counter: Counter, why: str) -> None:
    counter = any_counter
    (_, post, status, code) = next(c for c in CASES if c[0] == why)
    request = counter.ask("name")
    refused = counter.post(request, **post(request))
    assert assert_problem(refused, status)["code"] == code, refused.text
    assert counter.result(request)["state"] == "waiting"
    answered = counter.form(request, counter.answer_fields(request))
    assert answered.status_code == 200 and answered.json()["report"]["verdict"] == "VALID"


def test_an_oversized_answer_is_not_read(any_counter: Counter) -> None:
    """Past the limit, declared or streamed without a length: 413 before the rest is read."""
    counter = any_counter
    request = counter.ask("name")
    declared = counter.post(request, content=b"x" * (MAX_BODY_BYTES + 1), headers=FORM)
    assert assert_problem(declared, 413)["code"] == "body_too_large"

    def chunks() -> Any:
        for _ in range(MAX_BODY_BYTES // 4096 + 2):
            yield b"y" * 4096

    streamed = counter.post(request, content=chunks(), headers=FORM)
    assert assert_problem(streamed, 413)["code"] == "body_too_large"
    assert counter.result(request)["state"] == "waiting"
    assert counter.form(request, counter.answer_fields(request)).status_code == 200


def test_a_replayed_answer_changes_nothing(any_counter: Counter) -> None:
    """The same answer again (409), to another request (its holder check fails), encrypted to
    this request and sent to another (undecryptable), or after a decline (409)."""
    counter = any_counter
    request = counter.ask("name")
    fields = counter.answer_fields(request)
    assert counter.form(request, fields).status_code == 200
    before = counter.result(request)
    again = counter.form(request, fields)
    assert assert_problem(again, 409)["code"] == "nonce_already_used"
    assert counter.result(request) == before
    other = counter.ask("name")
    moved = counter.form(other, {**fields, "state": other["requestId"]})
    problem = assert_problem(moved, 400)
    assert problem["code"] == "presentation_not_for_request"
    assert problem["report"]["checks"][-1]["code"] == "kb_nonce_mismatch"
    sealed = encrypted(request, json.dumps(fields).encode())
    elsewhere = counter.form(other, {"response": sealed})
    assert assert_problem(elsewhere, 400)["code"] == "response_undecryptable"
    assert counter.result(other)["state"] == "waiting"
    declined = counter.form(other, {"error": "access_denied", "state": other["requestId"]})
    assert declined.status_code == 200
    twice = counter.form(other, {"error": "access_denied", "state": other["requestId"]})
    assert assert_problem(twice, 409)["code"] == "nonce_already_used"
    assert counter.result(other)["state"] == "declined"


def test_a_decline_anyone_can_post_does_not_shut_out_the_holder(any_counter: Counter) -> None:
    """OpenID4VP's error response is not authenticated: whoever read the QR code can post
    ``error=access_denied`` with its state. The counter shows the decline at once, but the
    holder's own presentation (which only the holder can sign for this request) still
    answers; after that, nothing more is taken."""
    counter = any_counter
    request = counter.ask("name")
    spoiled = counter.form(request, {"error": "access_denied", "state": request["requestId"]})
    assert spoiled.status_code == 200 and counter.result(request)["state"] == "declined"
    answered = counter.form(request, counter.answer_fields(request))
    assert answered.status_code == 200 and answered.json()["report"]["verdict"] == "VALID"
    assert counter.result(request)["state"] == "answered"
    late = counter.form(request, {"error": "access_denied", "state": request["requestId"]})
    assert assert_problem(late, 409)["code"] == "nonce_already_used"
    assert counter.result(request)["state"] == "answered"


def test_unknown_requests_are_404_for_every_post(any_counter: Counter) -> None:
    counter = any_counter
    for body in ({"json": {"error": "access_denied"}}, _form("response=x.y.z")):
        missing = counter.client.post("/v1/oid4vp/requests/nope/response", **body)
        assert assert_problem(missing, 404)["code"] == "request_not_found"


@pytest.mark.parametrize("name", ["肇庆\u202e心中务政", "肇庆\u200b市", "肇庆\x07"])
def test_a_counter_name_that_displays_otherwise_than_it_reads_is_refused(
    any_counter: Counter, name: str
) -> None:
    """The name is signed into the request object and shown on the holder's consent screen:
    a right-to-left override, a zero-width or a control character is refused (422) at both
    counters, as the office refuses it in any text."""
    made = any_counter.client.post(
        "/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": name},
    )
    assert_problem(made, 422)
