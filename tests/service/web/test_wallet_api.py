"""Wallet protocols over HTTP: the one-time offer, token and credential endpoints (OpenID4VCI),
and the counter's request, answer, re-check and receipt (OpenID4VP), on the real chain."""

from __future__ import annotations

import json
import time
from typing import Any
from urllib.parse import unquote

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from service.anchoring.worker import AnchorWorker
from tests.service.conftest import Api, assert_problem, auth
from verifier.receipts import verify_receipt
from verifier.sdjwt import (
    Disclosure,
    _sign_jws,
    b64url_decode,
    b64url_encode,
    es256_sign,
    jwk_from_p256,
    make_presentation_envelope,
    present,
)

BASE = "http://testserver"
PRE_AUTH = "urn:ietf:params:oauth:grant-type:pre-authorized_code"


def proof_jwt(key: ec.EllipticCurvePrivateKey, nonce: str, aud: str = BASE) -> str:
    header = {"typ": "openid4vci-proof+jwt", "alg": "ES256", "jwk": jwk_from_p256(key.public_key())}
    payload = {"aud": aud, "iat": int(time.time()), "nonce": nonce}
    return _sign_jws(header, payload, lambda data: es256_sign(key, data))


def issue_permit(api: Api) -> str:
    response = api.issue({"type": "ResidencePermit", "subject": api.permit()})
    assert response.status_code == 201, response.text
    credential_id: str = response.json()["credential"]["id"]
    return credential_id


def offer(api: Api, credential_id: str) -> dict[str, Any]:
    response = api.client.post(
        f"/v1/credentials/{credential_id}/offer", headers=auth(api.permit_key)
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def redeem(api: Api, code: str) -> dict[str, Any]:
    response = api.client.post(
        "/v1/oid4vci/token",
        content=f"grant_type={PRE_AUTH}&pre-authorized_code={code}",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    body: dict[str, Any] = response.json()
    body["_status"] = response.status_code
    return body


def claim(api: Api, key: ec.EllipticCurvePrivateKey) -> tuple[str, str, str]:
    """(credential id, sd-jwt, wallet credential id) of a freshly issued, claimed permit."""
    credential_id = issue_permit(api)
    made = offer(api, credential_id)
    code = made["credentialOffer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    token = redeem(api, code)
    response = api.client.post(
        "/v1/oid4vci/credential",
        json={
            "credential_configuration_id": "ResidencePermit_sd_jwt",
            "proofs": {"jwt": [proof_jwt(key, token["c_nonce"])]},
        },
        headers=auth(token["access_token"]),
    )
    assert response.status_code == 200, response.text
    body = response.json()
    return credential_id, body["credentials"][0]["credential"], body["walletCredentialId"]


def counter_request(api: Api, *fields: str) -> dict[str, Any]:
    response = api.client.post(
        "/v1/oid4vp/requests",
        json={
            "credentialType": "ResidencePermit",
            "fields": list(fields),
            "verifierName": "肇庆市政务服务中心",
        },
    )
    assert response.status_code == 201, response.text
    body: dict[str, Any] = response.json()
    return body


def answer_with(
    api: Api, request: dict[str, Any], sd_jwt: str, key: Any, anchor: Any, names: list[str]
) -> tuple[Any, dict[str, Any]]:
    obj = request["request"]
    text = present(sd_jwt, names, key, nonce=obj["nonce"], audience=obj["client_id"])
    envelope = make_presentation_envelope(text, anchor)
    response = api.client.post(
        obj["response_uri"][len(BASE) :], json={"vp_token": {"q0": [envelope]}}
    )
    return response, envelope


def own(request: dict[str, Any]) -> dict[str, str]:
    """The counter session's header: its results are the counter's alone."""
    return {"X-Counter-Secret": request["sessionSecret"]}


def result_of(api: Api, request: dict[str, Any]) -> dict[str, Any]:
    response = api.client.get(
        f"/v1/oid4vp/requests/{request['requestId']}/result", headers=own(request)
    )
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


@pytest.fixture
def holder() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def anchored_state(api: Api, sd_id: str) -> dict[str, Any]:
    AnchorWorker(api.world.office).drain()
    state: dict[str, Any] = api.client.get(f"/v1/oid4vci/credentials/{sd_id}").json()
    return state


class TestClaim:
    def test_offer_link_carries_the_code_only_in_the_fragment(self, api: Api) -> None:
        made = offer(api, issue_permit(api))
        link = made["walletLink"]
        assert link.startswith(f"{BASE}/wallet#offer=")
        assert "?" not in link.split("#")[0]
        assert json.loads(unquote(link.split("#offer=")[1])) == made["credentialOffer"]
        assert made["qrSvg"].startswith("<svg")

    def test_the_sd_jwt_is_bound_to_the_proven_key_and_anchored(self, api: Api, holder) -> None:
        _, sd_jwt, sd_id = claim(api, holder)
        assert api.client.get(f"/v1/oid4vci/credentials/{sd_id}").json()["anchorState"] == "pending"
        state = anchored_state(api, sd_id)
        assert state["anchorState"] == "anchored" and state["status"] == "active"
        assert state["anchor"]["treeSize"] >= 1
        names = {Disclosure.parse(d).name for d in sd_jwt.split("~")[1:-1]}
        # the district is a disclosure like any field; age and city claims are their own
        assert {"citizenId", "residenceRegion", "age_over_18", "age_over_60"} <= names
        visible = json.loads(b64url_decode(sd_jwt.split(".")[1]))
        assert visible["residenceCity"] == "440100" and "residenceRegion" not in visible

    def test_a_code_is_redeemed_once(self, api: Api) -> None:
        made = offer(api, issue_permit(api))
        code = made["credentialOffer"]["grants"][PRE_AUTH]["pre-authorized_code"]
        assert redeem(api, code)["_status"] == 200
        again = redeem(api, code)
        assert again["_status"] == 400 and again["error"] == "invalid_grant"

    def test_a_token_fetches_one_credential(self, api: Api, holder) -> None:
        made = offer(api, issue_permit(api))
        token = redeem(api, made["credentialOffer"]["grants"][PRE_AUTH]["pre-authorized_code"])
        body = {
            "credential_configuration_id": "ResidencePermit_sd_jwt",
            "proofs": {"jwt": [proof_jwt(holder, token["c_nonce"])]},
        }
        first = api.client.post(
            "/v1/oid4vci/credential", json=body, headers=auth(token["access_token"])
        )
        assert first.status_code == 200
        second = api.client.post(
            "/v1/oid4vci/credential", json=body, headers=auth(token["access_token"])
        )
        assert second.status_code == 401 and second.json()["error"] == "invalid_token"

    @pytest.mark.parametrize("fault", ["nonce", "aud", "key"])
    def test_a_bad_proof_issues_nothing(self, api: Api, holder, fault: str) -> None:
        made = offer(api, issue_permit(api))
        token = redeem(api, made["credentialOffer"]["grants"][PRE_AUTH]["pre-authorized_code"])
        jwt = proof_jwt(
            holder,
            "other" if fault == "nonce" else token["c_nonce"],
            "https://elsewhere.example" if fault == "aud" else BASE,
        )
        if fault == "key":  # signed by another key than the one it names
            head, body, _ = jwt.split(".")
            other = ec.generate_private_key(ec.SECP256R1())
            jwt = f"{head}.{body}." + b64url_encode(es256_sign(other, f"{head}.{body}".encode()))
        response = api.client.post(
            "/v1/oid4vci/credential",
            json={
                "credential_configuration_id": "ResidencePermit_sd_jwt",
                "proofs": {"jwt": [jwt]},
            },
            headers=auth(token["access_token"]),
        )
        expected = "invalid_nonce" if fault == "nonce" else "invalid_proof"  # §8.3.1.2
        assert response.status_code == 400 and response.json()["error"] == expected

    def test_a_key_without_the_issue_scope_cannot_offer(self, api: Api) -> None:
        credential_id = issue_permit(api)
        response = api.client.post(
            f"/v1/credentials/{credential_id}/offer",
            headers=auth(api.world.key(api.world.permits, "revoke")),
        )
        assert_problem(response, 403)

    def test_another_authoritys_key_cannot_offer(self, api: Api) -> None:
        credential_id = issue_permit(api)
        response = api.client.post(
            f"/v1/credentials/{credential_id}/offer", headers=auth(api.licence_key)
        )
        assert_problem(response, 404)


class TestCounter:
    def test_valid_then_revoked_replayed_and_tampered(self, api: Api, holder) -> None:
        credential_id, sd_jwt, sd_id = claim(api, holder)
        anchor = anchored_state(api, sd_id)["anchor"]
        request = counter_request(api, "name", "residenceAddress", "validUntil")
        # validUntil is not a subject field: the wallet cannot provide it
        response, envelope = answer_with(
            api, request, sd_jwt, holder, anchor, ["name", "residenceAddress"]
        )
        assert response.status_code == 200, response.text
        report = response.json()["report"]
        assert report["verdict"] == "VALID", report
        assert [c["name"] for c in report["checks"]][-1] == "holder"
        assert set(report["disclosed"]) == {"name", "residenceAddress"}
        assert report["notProvided"] == ["validUntil"]
        assert "citizenId" not in json.dumps(report)

        # one answer per request
        again = api.client.post(request["request"]["response_uri"][len(BASE) :], json=envelope)
        assert assert_problem(again, 409)["code"] == "nonce_already_used"

        # the same presentation sent to a new request: the nonce is not this request's, and
        # the request is not spent by it
        fresh = counter_request(api, "name")
        replay = api.client.post(fresh["request"]["response_uri"][len(BASE) :], json=envelope)
        assert assert_problem(replay, 400)["code"] == "presentation_not_for_request"
        holder_check = replay.json()["report"]["checks"][-1]
        assert replay.json()["report"]["verdict"] == "INVALID"
        assert holder_check["code"] == "kb_nonce_mismatch"
        assert replay.json()["report"]["disclosed"] == {}
        assert result_of(api, fresh)["state"] == "waiting"

        # a tampered disclosure
        obj = counter_request(api, "name")
        text = present(
            sd_jwt,
            ["name"],
            holder,
            nonce=obj["request"]["nonce"],
            audience=obj["request"]["client_id"],
        )
        jwt, disclosure, kb = text.split("~")
        d = Disclosure.parse(disclosure)
        forged = b64url_encode(json.dumps([d.salt, d.name, "王二"]).encode())
        tampered = make_presentation_envelope("~".join([jwt, forged, kb]), anchor)
        refused = api.client.post(obj["request"]["response_uri"][len(BASE) :], json=tampered)
        bad = assert_problem(refused, 400)
        assert bad["report"]["verdict"] == "INVALID"
        assert bad["report"]["checks"][1]["code"] == "disclosure_not_signed"
        assert result_of(api, obj)["state"] == "waiting"  # the real answer can still come

        # revoke: the accepted answer, re-checked, is now revoked
        revoked = api.client.post(
            f"/v1/credentials/{credential_id}/revoke",
            json={"reason": "issuer_error"},
            headers=auth(api.world.key(api.world.permits, "revoke")),
        )
        assert revoked.status_code == 200, revoked.text
        AnchorWorker(api.world.office).drain()
        rechecked = api.client.post(
            f"/v1/oid4vp/requests/{request['requestId']}/recheck", headers=own(request)
        ).json()
        status = next(c for c in rechecked["report"]["checks"] if c["name"] == "status")
        assert rechecked["report"]["verdict"] == "INVALID"
        assert status["code"] == "credential_revoked"

    def test_pending_before_anchoring_and_receipt(self, api: Api, holder) -> None:
        _, sd_jwt, _ = claim(api, holder)
        request = counter_request(api, "name")
        response, _ = answer_with(api, request, sd_jwt, holder, None, ["name"])
        assert response.json()["report"]["verdict"] == "PENDING"
        receipt = api.client.post(
            f"/v1/oid4vp/requests/{request['requestId']}/receipt", headers=own(request)
        ).json()
        assert receipt["credentialSubject"]["verdict"] == "PENDING"
        assert verify_receipt(receipt).ok

    def test_the_answer_belongs_to_the_counter_that_asked(self, api: Api, holder) -> None:
        _, sd_jwt, sd_id = claim(api, holder)
        anchor = anchored_state(api, sd_id)["anchor"]
        request = counter_request(api, "name")
        base = f"/v1/oid4vp/requests/{request['requestId']}"
        # a bystander who read the QR code: no secret, a wrong one, junk posted first
        junk = api.client.post(request["request"]["response_uri"][len(BASE) :], json={"x": 1})
        assert assert_problem(junk, 400)["code"] == "presentation_not_for_request"
        response, _ = answer_with(api, request, sd_jwt, holder, anchor, ["name"])
        assert response.status_code == 200 and response.json()["report"]["verdict"] == "VALID"
        for headers in ({}, {"X-Counter-Secret": "guess"}):
            for method, path in (("GET", "/result"), ("POST", "/recheck"), ("POST", "/receipt")):
                answer = api.client.request(method, base + path, headers=headers)
                assert assert_problem(answer, 401)["code"] == "counter_secret_invalid"
                assert "report" not in answer.json()
        other = counter_request(api, "name")  # another counter's secret opens nothing here
        wrong = api.client.get(base + "/result", headers=own(other))
        assert assert_problem(wrong, 401)["code"] == "counter_secret_invalid"
        mine = result_of(api, request)
        assert mine["state"] == "answered" and set(mine["report"]["disclosed"]) == {"name"}
        # the request object a wallet fetches says it was answered, and nothing of the answer
        public = api.client.get(base).json()
        assert public["answered"] is True and "report" not in public

    def test_the_holder_declines_and_the_counter_knows_at_once(self, api: Api, holder) -> None:
        request = counter_request(api, "name", "birthDate")
        uri = request["request"]["response_uri"][len(BASE) :]
        declined = api.client.post(
            uri, json={"error": "access_denied", "state": request["requestId"]}
        )
        assert declined.status_code == 200 and declined.json()["state"] == "declined"
        assert result_of(api, request) == {"state": "declined", "requestId": request["requestId"]}
        again = api.client.post(uri, json={"error": "access_denied"})
        assert assert_problem(again, 409)["code"] == "nonce_already_used"

    def test_pasted_bundle_verifies_with_a_receipt(self, api: Api) -> None:
        response = api.issue({"type": "ResidencePermit", "subject": api.permit()})
        AnchorWorker(api.world.office).drain()
        bundle = api.client.get(
            f"/v1/credentials/{response.json()['credential']['id']}", headers=auth(api.permit_key)
        ).json()
        result = api.client.post("/v1/oid4vp/verify", json=bundle).json()
        assert result["report"]["verdict"] == "VALID"
        assert verify_receipt(result["receipt"]).ok

    def test_unknown_request_and_type(self, api: Api) -> None:
        assert assert_problem(api.client.get("/v1/oid4vp/requests/nope"), 404)["code"] == (
            "request_not_found"
        )
        bad = api.client.post(
            "/v1/oid4vp/requests",
            json={"credentialType": "Passport", "fields": ["name"], "verifierName": "x"},
        )
        assert assert_problem(bad, 422)["code"] == "credential_type_invalid"
