"""A partner's standalone counter (``verifier.counter.app``, ``suixin-verify counter``): the
肇庆 counter runs with the verifier alone — no office, no credentials database, no issuer keys —
and takes the answer of a wallet the 广州 office issued to, on another origin; only the
counter that asked reads the answer; junk, replays and declines behave as at the office."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any
from urllib.parse import parse_qs, urlencode

import pytest
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient

from service.anchoring.worker import AnchorWorker
from tests.service.conftest import Api, assert_problem, auth
from tests.service.web.counters import transport_of
from tests.service.web.test_wallet_api import anchored_state, claim
from verifier.counter.app import MAX_BODY_BYTES, create_counter_app
from verifier.counter.core import load_or_create_key
from verifier.keys import ed25519_verify
from verifier.receipts import verify_receipt
from verifier.sdjwt import b64url_decode, make_presentation_envelope, present
from verifier.status_tokens import FetchedLists, office_locator
from verifier.verify import Verifier

COUNTER = "http://zhaoqing.counter.test"


@pytest.fixture
def counter(api: Api, tmp_path: Any) -> Iterator[TestClient]:
    """The 肇庆 counter over the office's chain: its own Verifier and did:key, nothing else."""
    deployment = api.world.office.deployment
    verifier = Verifier.from_chain(
        api.world.office.chain, deployment.anchor_registry, deployment=deployment
    )
    key = load_or_create_key(tmp_path / "counter.key")
    # SD-JWT status from the office's Status List Tokens, fetched whole (here answered by the
    # office's app: no network in tests)
    lists = FetchedLists(
        locate=office_locator("http://testserver"), transport=transport_of(api.client)
    )
    app = create_counter_app(
        verifier,
        key,
        name="肇庆市政务服务中心",
        wallet_url="http://testserver/wallet",
        status_lists=lists,
    )
    with TestClient(app, base_url=COUNTER) as client:
        yield client


def ask(counter: TestClient, *fields: str) -> dict[str, Any]:
    made = counter.post(
        "/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": list(fields), "verifierName": "肇庆"},
    )
    assert made.status_code == 201, made.text
    body: dict[str, Any] = made.json()
    return body


def presentation(request: dict[str, Any], sd_jwt: str, holder: Any, anchor: Any) -> Any:
    obj = request["request"]
    text = present(sd_jwt, ["name"], holder, nonce=obj["nonce"], audience=obj["client_id"])
    return make_presentation_envelope(text, anchor)


def own(request: dict[str, Any]) -> dict[str, str]:
    return {"X-Counter-Secret": request["sessionSecret"]}


def path(uri: str) -> str:
    return uri.removeprefix(COUNTER)


@pytest.fixture
def holder() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def test_a_wallet_of_the_office_answers_the_standalone_counter(
    api: Api, counter: TestClient, holder: Any
) -> None:
    credential_id, sd_jwt, sd_id = claim(api, holder)
    anchor = anchored_state(api, sd_id)["anchor"]
    request = ask(counter, "name")
    # the QR code opens the office's wallet with this counter's request by reference
    link = request["walletLink"]
    assert link.startswith("http://testserver/wallet#request_uri=")
    fragment = parse_qs(link.split("#", 1)[1])
    assert fragment["request_uri"] == [request["requestUri"]]
    key = counter.app.state.counter.key
    assert fragment["client_id"] == [f"decentralized_identifier:{key.did}"]
    # the request object by reference, signed by the counter's key (OpenID4VP 1.0, RFC 9101)
    signed = counter.get(
        path(request["requestUri"]), headers={"Accept": "application/oauth-authz-req+jwt"}
    )
    assert signed.headers["content-type"].startswith("application/oauth-authz-req+jwt")
    head, body, signature = signed.text.split(".")
    header, claims = json.loads(b64url_decode(head)), json.loads(b64url_decode(body))
    assert header == {"alg": "EdDSA", "typ": "oauth-authz-req+jwt", "kid": key.verification_method}
    assert claims["client_id"] == fragment["client_id"][0] == request["request"]["client_id"]
    assert claims["nonce"] == request["request"]["nonce"]
    assert claims["response_mode"] == "direct_post.jwt"  # answers encrypted to the request's key
    (jwk,) = claims["client_metadata"]["jwks"]["keys"]
    assert (jwk["kty"], jwk["crv"], jwk["alg"], jwk["use"]) == ("EC", "P-256", "ECDH-ES", "enc")
    assert ed25519_verify(key.public_bytes, b64url_decode(signature), f"{head}.{body}".encode())
    assert request["requestUri"].startswith(COUNTER)
    fetched = counter.get(path(request["requestUri"]), headers={"Origin": "http://testserver"})
    assert fetched.status_code == 200 and fetched.json()["answered"] is False
    assert fetched.headers["access-control-allow-origin"] == "*"  # the wallet's origin reads it
    # OpenID4VP direct_post, form-encoded: vp_token keyed by the DCQL query id
    envelope = presentation(request, sd_jwt, holder, anchor)
    form = urlencode({"vp_token": json.dumps({"q0": [envelope]}), "state": request["requestId"]})
    answered = counter.post(
        path(request["request"]["response_uri"]),
        content=form,
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert answered.status_code == 200, answered.text
    assert answered.json()["report"]["verdict"] == "VALID", answered.json()["report"]["checks"]
    result = counter.get(path(request["requestUri"]) + "/result", headers=own(request)).json()
    assert result["state"] == "answered" and set(result["report"]["disclosed"]) == {"name"}
    receipt = counter.post(path(request["requestUri"]) + "/receipt", headers=own(request)).json()
    assert verify_receipt(receipt).ok and receipt["credentialSubject"]["verdict"] == "VALID"

    # the office revokes; the counter, re-checking against the chain, sees it
    revoked = api.client.post(
        f"/v1/credentials/{credential_id}/revoke",
        json={"reason": "issuer_error"},
        headers=auth(api.world.key(api.world.permits, "revoke")),
    )
    assert revoked.status_code == 200, revoked.text
    AnchorWorker(api.world.office).drain()
    rechecked = counter.post(path(request["requestUri"]) + "/recheck", headers=own(request))
    status = next(c for c in rechecked.json()["report"]["checks"] if c["name"] == "status")
    assert status["code"] == "credential_revoked"


def test_a_bystander_junk_a_replay_and_a_decline(
    api: Api, counter: TestClient, holder: Any
) -> None:
    _, sd_jwt, sd_id = claim(api, holder)
    anchor = anchored_state(api, sd_id)["anchor"]
    request = ask(counter, "name")
    response_path = path(request["request"]["response_uri"])
    base = path(request["requestUri"])
    # a bystander who read the QR code spoils nothing and reads nothing
    junk = counter.post(response_path, json={"vp_token": {"q0": ["x"]}})
    assert assert_problem(junk, 400)["code"] == "presentation_not_for_request"
    for headers in ({}, {"X-Counter-Secret": "guess"}):
        assert assert_problem(counter.get(base + "/result", headers=headers), 401)["code"] == (
            "counter_secret_invalid"
        )
    not_json = counter.post(
        response_path, content=b"{not json", headers={"Content-Type": "application/json"}
    )
    assert assert_problem(not_json, 422)["code"] == "body_invalid"
    huge = counter.post(response_path, content=b"x" * (MAX_BODY_BYTES + 1))
    assert assert_problem(huge, 413)["code"] == "body_too_large"
    stale = counter.post(response_path, json={"error": "access_denied", "state": "another"})
    assert assert_problem(stale, 400)["code"] == "state_mismatch"  # a decline for another
    # the real answer still comes; then the same presentation sent to a new request
    envelope = presentation(request, sd_jwt, holder, anchor)
    assert counter.post(response_path, json={"vp_token": {"q0": [envelope]}}).status_code == 200
    again = counter.post(response_path, json={"vp_token": {"q0": [envelope]}})
    assert assert_problem(again, 409)["code"] == "nonce_already_used"
    fresh = ask(counter, "name")
    replay = counter.post(path(fresh["request"]["response_uri"]), json=envelope)
    assert assert_problem(replay, 400)["report"]["checks"][-1]["code"] == "kb_nonce_mismatch"
    # the holder declines: the counter knows at once
    declined = counter.post(
        path(fresh["request"]["response_uri"]),
        content=urlencode({"error": "access_denied", "state": fresh["requestId"]}),
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    assert declined.status_code == 200
    state = counter.get(path(fresh["requestUri"]) + "/result", headers=own(fresh)).json()
    assert state["state"] == "declined"
    # bad requests, unknown ones
    bad = counter.post(
        "/v1/oid4vp/requests",
        json={"credentialType": "Passport", "fields": ["name"], "verifierName": "x"},
    )
    assert assert_problem(bad, 422)["code"] == "credential_type_invalid"
    empty = counter.post(
        "/v1/oid4vp/requests", json={"credentialType": "ResidencePermit", "fields": []}
    )
    assert assert_problem(empty, 422)["code"] == "request_invalid"
    assert assert_problem(counter.get("/v1/oid4vp/requests/nope"), 404)["code"] == (
        "request_not_found"
    )


def test_the_page_a_pasted_bundle_and_health(api: Api, counter: TestClient) -> None:
    page = counter.get("/counter")
    assert page.status_code == 200 and "肇庆市政务服务中心" in page.text
    assert "connect-src 'self'" in page.headers["content-security-policy"]
    for asset in ("/static/counter.js", "/static/common.js", "/static/suixin.css"):
        assert counter.get(asset).status_code == 200, asset
    issued = api.issue({"type": "ResidencePermit", "subject": api.permit()})
    AnchorWorker(api.world.office).drain()
    bundle = api.client.get(
        f"/v1/credentials/{issued.json()['credential']['id']}", headers=auth(api.permit_key)
    ).json()
    pasted = counter.post("/v1/oid4vp/verify", json=bundle).json()
    assert pasted["report"]["verdict"] == "VALID" and verify_receipt(pasted["receipt"]).ok
    health = counter.get("/healthz").json()
    assert health["ok"] is True and health["did"].startswith("did:key:z6Mk")


def test_an_answer_encrypted_by_an_independent_jwe_implementation_is_read(
    api: Api, counter: TestClient, holder: Any
) -> None:
    """direct_post.jwt: jwcrypto (not our code) encrypts the answer to the key the signed
    request object names; the counter decrypts and verifies it. A JWE it cannot open, or one
    encrypted to another key, is refused and spends nothing."""
    from jwcrypto import jwe, jwk

    _, sd_jwt, sd_id = claim(api, holder)
    anchor = anchored_state(api, sd_id)["anchor"]

    def encrypted(request: dict[str, Any], fields: dict[str, Any], to: Any = None) -> str:
        (key,) = request["request"]["client_metadata"]["jwks"]["keys"]
        recipient = to or jwk.JWK(**{k: key[k] for k in ("kty", "crv", "x", "y")})
        token = jwe.JWE(
            json.dumps(fields).encode(),
            protected=json.dumps({"alg": "ECDH-ES", "enc": "A128GCM", "kid": key["kid"]}),
        )
        token.add_recipient(recipient)
        return str(token.serialize(compact=True))

    def post(request: dict[str, Any], jwe_text: str) -> Any:
        return counter.post(
            path(request["request"]["response_uri"]),
            content=urlencode({"response": jwe_text}),
            headers={"Content-Type": "application/x-www-form-urlencoded"},
        )

    request = ask(counter, "name")
    stranger = jwk.JWK.generate(kty="EC", crv="P-256")
    wrong_key = post(request, encrypted(request, {"x": 1}, to=stranger))
    assert assert_problem(wrong_key, 400)["code"] == "response_undecryptable"
    fields = {"vp_token": {"q0": [presentation(request, sd_jwt, holder, anchor)]}}
    good = encrypted(request, {**fields, "state": request["requestId"]})
    head, empty, iv, cipher, tag = good.split(".")
    flipped = cipher[:-2] + ("A" if cipher[-2] != "A" else "B") + cipher[-1]
    tampered = post(request, ".".join([head, empty, iv, flipped, tag]))
    assert assert_problem(tampered, 400)["code"] == "response_undecryptable"
    answered = post(request, good)
    assert answered.status_code == 200, answered.text
    assert answered.json()["report"]["verdict"] == "VALID", answered.json()["report"]["checks"]
    # a decline, encrypted the same way, for a second request
    second = ask(counter, "name")
    declined = post(
        second, encrypted(second, {"error": "access_denied", "state": second["requestId"]})
    )
    assert declined.status_code == 200 and declined.json()["state"] == "declined"
