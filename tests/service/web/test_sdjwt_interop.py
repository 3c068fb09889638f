"""Interop with an independent SD-JWT implementation (OpenWallet Foundation's ``sd-jwt``, on
jwcrypto): it plays the wallet against a counter — its presentation of an SD-JWT VC the office
issued, with its own key-binding JWT, is VALID at the standalone counter — and it plays the
verifier against our wallet's presentation (issuer signature, disclosures, key binding with
nonce, audience and sd_hash). Neither side shares code with the other."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec
from fastapi.testclient import TestClient
from jwcrypto.jwk import JWK
from sd_jwt.holder import SDJWTHolder
from sd_jwt.verifier import SDJWTVerifier

from tests.service.conftest import Api, assert_problem
from tests.service.web.counters import transport_of
from tests.service.web.test_wallet_api import anchored_state, claim
from verifier.counter.app import create_counter_app
from verifier.counter.core import load_or_create_key
from verifier.keys import decode_multikey_ed25519
from verifier.sdjwt import b64url_decode, b64url_encode, make_presentation_envelope, present
from verifier.status_tokens import FetchedLists, office_locator
from verifier.token_status_list import StatusListReference, token_status
from verifier.verify import Verifier

COUNTER = "http://zhaoqing.counter.test"


@pytest.fixture
def counter(api: Api, tmp_path: Any) -> Iterator[TestClient]:
    deployment = api.world.office.deployment
    verifier = Verifier.from_chain(
        api.world.office.chain, deployment.anchor_registry, deployment=deployment
    )
    lists = FetchedLists(
        locate=office_locator("http://testserver"), transport=transport_of(api.client)
    )
    app = create_counter_app(
        verifier, load_or_create_key(tmp_path / "counter.key"), status_lists=lists
    )
    with TestClient(app, base_url=COUNTER) as client:
        yield client


@pytest.fixture
def holder() -> ec.EllipticCurvePrivateKey:
    return ec.generate_private_key(ec.SECP256R1())


def jwk_of(key: ec.EllipticCurvePrivateKey) -> JWK:
    pem = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    return JWK.from_pem(pem)


def issuer_jwk(api: Api, did: str, kid: str) -> JWK:
    """The issuer's key as the office's DID document publishes it (Ed25519, as an OKP JWK)."""
    document = api.client.get(f"/v1/authorities/{did}/did.json").json()
    (method,) = [m for m in document["verificationMethod"] if m["id"] == kid]
    raw = decode_multikey_ed25519(method["publicKeyMultibase"])
    return JWK(kty="OKP", crv="Ed25519", x=b64url_encode(raw))


def test_an_independent_holder_answers_the_counter(
    api: Api, counter: TestClient, holder: Any
) -> None:
    _, sd_jwt, sd_id = claim(api, holder)
    anchor = anchored_state(api, sd_id)["anchor"]
    made = counter.post(
        "/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "肇庆"},
    ).json()
    request = made["request"]
    wallet = SDJWTHolder(sd_jwt)
    wallet.create_presentation(
        {"name": True},
        nonce=request["nonce"],
        aud=request["client_id"],
        holder_key=jwk_of(holder),
        sign_alg="ES256",
    )
    presentation = wallet.sd_jwt_presentation
    assert presentation.count("~") == 2  # the issuer JWT, one disclosure, the KB-JWT
    envelope = make_presentation_envelope(presentation, anchor)
    response_uri = request["response_uri"].removeprefix(COUNTER)
    answered = counter.post(response_uri, json={"vp_token": {"q0": [envelope]}})
    assert answered.status_code == 200, answered.text
    report = answered.json()["report"]
    assert report["verdict"] == "VALID", report
    assert set(report["disclosed"]) == {"name"}
    assert [c["code"] for c in report["checks"]][-1] == "holder_bound"

    # the same library's presentation for another audience is refused, the request untouched
    again = counter.post(
        "/v1/oid4vp/requests",
        json={"credentialType": "ResidencePermit", "fields": ["name"], "verifierName": "肇庆"},
    ).json()
    stranger = SDJWTHolder(sd_jwt)
    stranger.create_presentation(
        {"name": True},
        nonce=again["request"]["nonce"],
        aud="redirect_uri:https://elsewhere.example/response",
        holder_key=jwk_of(holder),
        sign_alg="ES256",
    )
    wrong = counter.post(
        again["request"]["response_uri"].removeprefix(COUNTER),
        json=make_presentation_envelope(stranger.sd_jwt_presentation, anchor),
    )
    assert assert_problem(wrong, 400)["report"]["checks"][-1]["code"] == "kb_audience_mismatch"


def test_an_independent_verifier_accepts_our_wallets_presentation(api: Api, holder: Any) -> None:
    _, sd_jwt, _ = claim(api, holder)
    header = json.loads(b64url_decode(sd_jwt.split(".")[0]))
    key = issuer_jwk(api, "did:web:lsj.gz.gov.cn", header["kid"])
    nonce, audience = "n-0S6_WzA2Mj", "redirect_uri:https://zhaoqing.example/response"
    presentation = present(sd_jwt, ["name", "sex"], holder, nonce=nonce, audience=audience)
    verified = SDJWTVerifier(
        presentation,
        lambda issuer, _header: key,
        expected_aud=audience,
        expected_nonce=nonce,
    ).get_verified_payload()
    assert verified["iss"] == "did:web:lsj.gz.gov.cn"
    assert {"name", "sex"} <= set(verified) and "citizenId" not in verified
    assert "birthDate" not in verified and "residenceAddress" not in verified
    # a presentation for another nonce does not verify there either
    with pytest.raises(ValueError, match=r"(?i)nonce"):
        SDJWTVerifier(
            presentation,
            lambda issuer, _header: key,
            expected_aud=audience,
            expected_nonce="another-nonce",
        )


def test_an_independent_jws_implementation_verifies_the_status_list_token(
    api: Api, holder: Any
) -> None:
    """jwcrypto (not our code) checks the Status List Token an SD-JWT VC points to: signed
    EdDSA by the issuer key the DID document publishes, ``typ`` ``statuslist+jwt``."""
    from jwcrypto.jws import JWS

    _, sd_jwt, sd_id = claim(api, holder)
    anchored_state(api, sd_id)  # the worker also publishes the new token list
    payload = json.loads(b64url_decode(sd_jwt.split("~")[0].split(".")[1]))
    reference = StatusListReference.from_claims(payload)
    did = payload["iss"]
    served = api.client.get(
        f"/v1/authorities/{did}/status-lists/token/{reference.uri.rsplit('/', 1)[1]}"
    )
    assert served.status_code == 200, served.text
    jws = JWS()
    jws.deserialize(served.text)
    kid = jws.jose_header["kid"]
    assert jws.jose_header["typ"] == "statuslist+jwt"
    jws.verify(issuer_jwk(api, did, kid), alg="EdDSA")
    claims = json.loads(jws.payload)
    assert claims["sub"] == reference.uri
    assert token_status(reference, claims) == 0
