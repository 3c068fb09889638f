"""OpenID for Verifiable Credential Issuance 1.0 (final, openid/OpenID4VCI ``1.0/``) message
shapes, from the specification's own examples adapted to our identifiers, through the office:
the credential offer (§4.1.1), issuer metadata (§12.2.4), authorization server metadata
(§12.3, RFC 8414), token request and response (§6), nonce endpoint (§7), credential request
and response (§8), and the errors of each (§6.3, §8.3.1)."""

from __future__ import annotations

import time
from typing import Any

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from tests.service.conftest import Api
from tests.service.web.test_wallet_api import BASE, PRE_AUTH, issue_permit, offer, proof_jwt
from verifier.sdjwt import _sign_jws, es256_sign, jwk_from_p256

FORM = {"Content-Type": "application/x-www-form-urlencoded"}
CONFIGURATION = "ResidencePermit_sd_jwt"


def token_request(api: Api, form: str) -> Any:
    return api.client.post("/v1/oid4vci/token", content=form, headers=FORM)


def fresh_token(api: Api) -> dict[str, Any]:
    made = offer(api, issue_permit(api))
    code = made["credentialOffer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    # §6.1: the token request of the pre-authorized code flow, form-encoded
    response = token_request(api, f"grant_type={PRE_AUTH}&pre-authorized_code={code}")
    assert response.status_code == 200, response.text
    body: dict[str, Any] = response.json()
    return body


def nonce(api: Api) -> str:
    # §7.1: "POST /nonce", no body
    response = api.client.post("/v1/oid4vci/nonce", content=b"")
    assert response.status_code == 200, response.text
    # §7.2: c_nonce, and not to be cached
    assert response.headers["cache-control"] == "no-store"
    assert set(response.json()) == {"c_nonce"}
    c_nonce: str = response.json()["c_nonce"]
    return c_nonce


def credential_request(api: Api, token: str, body: dict[str, Any]) -> Any:
    return api.client.post(
        "/v1/oid4vci/credential", json=body, headers={"Authorization": f"Bearer {token}"}
    )


def printable_ascii(text: str) -> bool:
    """RFC 6749 §5.2 and OpenID4VCI §8.3.1.2: ``error_description`` in %x20-21 / %x23-5B /
    %x5D-7E."""
    return all(" " <= c <= "~" and c not in '"\\' for c in text)


def test_the_offer_has_the_shape_of_the_specifications_example(api: Api) -> None:
    """§4.1.1, examples/credential_offer_pre-authz_code.json (without tx_code: none asked)."""
    made = offer(api, issue_permit(api))["credentialOffer"]
    assert set(made) == {"credential_issuer", "credential_configuration_ids", "grants"}
    assert made["credential_issuer"] == BASE
    assert made["credential_configuration_ids"] == [CONFIGURATION]
    assert set(made["grants"]) == {PRE_AUTH}
    assert set(made["grants"][PRE_AUTH]) == {"pre-authorized_code"}
    metadata = api.client.get("/.well-known/openid-credential-issuer").json()
    assert set(made["credential_configuration_ids"]) <= set(
        metadata["credential_configurations_supported"]
    )


def test_issuer_metadata_has_the_shape_of_the_specifications_example(api: Api) -> None:
    """§12.2.4 and examples/credential_metadata_sd_jwt_vc.json; §12.2.2: the identifier is the
    URL the well-known path was inserted into; a nonce endpoint, since c_nonce is required."""
    metadata = api.client.get("/.well-known/openid-credential-issuer").json()
    assert metadata["credential_issuer"] == BASE
    assert metadata["credential_endpoint"] == f"{BASE}/v1/oid4vci/credential"
    assert metadata["nonce_endpoint"] == f"{BASE}/v1/oid4vci/nonce"
    configuration = metadata["credential_configurations_supported"][CONFIGURATION]
    assert configuration["format"] == "dc+sd-jwt" and configuration["vct"]
    assert configuration["cryptographic_binding_methods_supported"] == ["jwk"]
    # MUST be present when binding methods are (§12.2.4)
    proof = configuration["proof_types_supported"]["jwt"]
    assert proof["proof_signing_alg_values_supported"] == ["ES256"]
    assert configuration["credential_signing_alg_values_supported"] == ["EdDSA"]
    display = configuration["credential_metadata"]["display"]
    assert {d["locale"]: d["name"] for d in display} == {
        "zh-CN": "居住证",
        "en": "Residence permit",
    }


def test_authorization_server_metadata_names_the_token_endpoint(api: Api) -> None:
    """§12.3 and RFC 8414 §3: the issuer is its own authorization server (no
    ``authorization_servers``), so its token endpoint is found at the well-known location."""
    metadata = api.client.get("/.well-known/oauth-authorization-server").json()
    assert metadata["issuer"] == BASE
    assert metadata["token_endpoint"] == f"{BASE}/v1/oid4vci/token"
    assert metadata["grant_types_supported"] == [PRE_AUTH, "refresh_token"]
    assert metadata["pre-authorized_grant_anonymous_access_supported"] is True
    issuer = api.client.get("/.well-known/openid-credential-issuer").json()
    assert "authorization_servers" not in issuer


def test_the_token_response_has_the_shape_of_the_specifications_example(api: Api) -> None:
    """§6.2's example: access_token, token_type, expires_in; Cache-Control no-store."""
    made = offer(api, issue_permit(api))
    code = made["credentialOffer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    response = token_request(api, f"grant_type={PRE_AUTH}&pre-authorized_code={code}")
    assert response.status_code == 200 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["token_type"] == "Bearer" and body["access_token"]
    assert isinstance(body["expires_in"], int) and body["expires_in"] > 0


@pytest.mark.parametrize(
    ("form", "error"),
    [
        # §6.3: the code is missing, or a transaction code no offer asked for is sent
        (f"grant_type={PRE_AUTH}", "invalid_request"),
        (f"grant_type={PRE_AUTH}&pre-authorized_code=CODE&tx_code=493536", "invalid_request"),
        # §6.3: a wrong or used code
        (f"grant_type={PRE_AUTH}&pre-authorized_code=adhjhdjajkdkhjhdj", "invalid_grant"),
        # RFC 6749 §5.2
        ("grant_type=authorization_code&code=SplxlOBeZQQYbYS6WxSbIA", "unsupported_grant_type"),
    ],
)
def test_token_errors_are_the_specifications(api: Api, form: str, error: str) -> None:
    """§6.3's example error response: 400, ``{"error": ...}``, Cache-Control no-store; the
    description printable ASCII, its 中文 beside it. A refused request spends no code."""
    made = offer(api, issue_permit(api))
    code = made["credentialOffer"]["grants"][PRE_AUTH]["pre-authorized_code"]
    response = token_request(api, form.replace("CODE", code))
    assert response.status_code == 400 and response.headers["cache-control"] == "no-store"
    body = response.json()
    assert body["error"] == error
    assert printable_ascii(body["error_description"]), body
    assert any("\u4e00" <= c <= "\u9fff" for c in body["error_description#zh-CN"])
    spent = token_request(api, f"grant_type={PRE_AUTH}&pre-authorized_code={code}")
    assert spent.status_code == 200  # the offer's code still works


def test_the_specifications_credential_request_with_a_nonce_endpoint_nonce(api: Api) -> None:
    """§8.2's example request (credential_configuration_id and ``proofs.jwt``, an array of one
    proof) with a c_nonce from the nonce endpoint; §8.3's example response."""
    holder = ec.generate_private_key(ec.SECP256R1())
    token = fresh_token(api)
    c_nonce = nonce(api)
    assert c_nonce != nonce(api)  # §7.2: new values are unpredictable
    body = {
        "credential_configuration_id": CONFIGURATION,
        "proofs": {"jwt": [proof_jwt(holder, c_nonce)]},
    }
    response = credential_request(api, token["access_token"], body)
    assert response.status_code == 200, response.text
    assert response.headers["cache-control"] == "no-store"
    (issued,) = response.json()["credentials"]
    assert set(issued) == {"credential"} and issued["credential"].count("~") >= 2


@pytest.mark.parametrize(
    ("fault", "error"),
    [
        ("no configuration", "invalid_credential_request"),
        ("unknown configuration", "unknown_credential_configuration"),
        ("another configuration", "unknown_credential_configuration"),
        ("no proofs", "invalid_proof"),
        ("the pre-final proof object", "invalid_proof"),
        ("a proof without nonce", "invalid_proof"),
        ("a nonce never issued", "invalid_nonce"),
        ("a nonce forged after an issued one", "invalid_nonce"),
    ],
)
def test_credential_request_errors_are_the_specifications(api: Api, fault: str, error: str) -> None:
    """§8.3.1.2: each payload error with its own code, 400, ASCII description; nothing is
    issued, and the access token still fetches the credential afterwards."""
    holder = ec.generate_private_key(ec.SECP256R1())
    token = fresh_token(api)
    good = proof_jwt(holder, nonce(api))
    body: dict[str, Any] = {"credential_configuration_id": CONFIGURATION, "proofs": {"jwt": [good]}}
    if fault == "no configuration":
        del body["credential_configuration_id"]
    elif fault == "unknown configuration":
        body["credential_configuration_id"] = "UniversityDegreeCredential"
    elif fault == "another configuration":
        body["credential_configuration_id"] = "BusinessLicense_sd_jwt"
    elif fault == "no proofs":
        del body["proofs"]
    elif fault == "the pre-final proof object":
        body = {
            "credential_configuration_id": CONFIGURATION,
            "proof": {"proof_type": "jwt", "jwt": good},
        }
    elif fault == "a proof without nonce":
        header = {
            "typ": "openid4vci-proof+jwt",
            "alg": "ES256",
            "jwk": jwk_from_p256(holder.public_key()),
        }
        payload = {"aud": BASE, "iat": int(time.time())}
        body["proofs"] = {"jwt": [_sign_jws(header, payload, lambda d: es256_sign(holder, d))]}
    elif fault == "a nonce never issued":
        body["proofs"] = {"jwt": [proof_jwt(holder, "wKI4LT17ac15ES9bw8ac4")]}  # §7.2's example
    else:
        issued = nonce(api)
        text, mac = issued.split(".")
        body["proofs"] = {"jwt": [proof_jwt(holder, f"{text[:-2]}AA.{mac}")]}
    refused = credential_request(api, token["access_token"], body)
    assert refused.status_code == 400, refused.text
    assert refused.json()["error"] == error
    assert printable_ascii(refused.json()["error_description"])
    retried = credential_request(
        api,
        token["access_token"],
        {"credential_configuration_id": CONFIGURATION, "proofs": {"jwt": [good]}},
    )
    assert retried.status_code == 200, retried.text
