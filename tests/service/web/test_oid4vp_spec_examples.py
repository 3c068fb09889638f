"""OpenID for Verifiable Presentations 1.0 (final, openid/OpenID4VP ``1.0/``) message shapes,
taken from the specification's own examples and adapted to our identifiers, through both
counters (the office's and the standalone one): what the counter sends, and every shape of
answer a conformant wallet may send it."""

from __future__ import annotations

import json
from typing import Any

from jwcrypto import jwe, jwk

from tests.service.conftest import assert_problem
from tests.service.web.counters import Counter
from verifier.sdjwt import SD_JWT_FORMAT, b64url_decode, vct_of


def signed_request(counter: Counter, request: dict[str, Any]) -> tuple[dict[str, Any], Any]:
    got = counter.client.get(
        counter.path(request["requestUri"]), headers={"Accept": "application/oauth-authz-req+jwt"}
    )
    assert got.headers["content-type"].startswith("application/oauth-authz-req+jwt")
    head, body, _ = got.text.split(".")
    return json.loads(b64url_decode(head)), json.loads(b64url_decode(body))


def test_the_request_object_has_the_shape_of_the_specifications_examples(
    any_counter: Counter,
) -> None:
    counter = any_counter
    request = counter.ask("name", "age_over_18", "residenceCity")
    header, claims = signed_request(counter, request)
    # §5.9.3, prefix decentralized_identifier, the example header: typ, and a kid that is a
    # DID URL of the DID the client_id names (the spec signs RS256; a did:key signs EdDSA)
    assert header["typ"] == "oauth-authz-req+jwt" and header["alg"] == "EdDSA"
    prefix, did = claims["client_id"].split(":", 1)
    assert prefix == "decentralized_identifier" and did.startswith("did:key:z6Mk")
    assert header["kid"].split("#")[0] == did
    # §8.2, the example payload of a Request Object with response_mode direct_post: these
    # parameters, and no redirect_uri beside response_uri; §5.8: aud of static discovery
    for name in ("client_id", "response_uri", "response_type", "response_mode"):
        assert isinstance(claims[name], str), name
    for name in ("dcql_query", "nonce", "state"):
        assert claims[name], name
    assert claims["response_type"] == "vp_token" and "redirect_uri" not in claims
    assert claims["response_mode"] == "direct_post.jwt"  # §8.3.1
    assert claims["aud"] == "https://self-issued.me/v2"
    # §6, examples/query_lang/simple.json: one Credential Query of format dc+sd-jwt, the
    # vct in meta.vct_values, each claim as a path
    (query,) = claims["dcql_query"]["credentials"]
    assert set(query) == {"id", "format", "meta", "claims"}
    assert query["format"] == SD_JWT_FORMAT
    assert query["meta"] == {"vct_values": [vct_of("ResidencePermit")]}
    assert query["claims"] == [
        {"path": ["name"]},
        {"path": ["age_over_18"]},
        {"path": ["residenceCity"]},
    ]
    # §5.1 client_metadata, §8.3 (the example request with jwks), Appendix B.3.3
    # (examples/client_metadata/sd_jwt_vc_verifier_metadata.json)
    metadata = claims["client_metadata"]
    (key,) = metadata["jwks"]["keys"]
    assert {k: key[k] for k in ("kty", "crv", "use", "alg")} == {
        "kty": "EC",
        "crv": "P-256",
        "use": "enc",
        "alg": "ECDH-ES",
    }
    assert key["kid"] and key["x"] and key["y"] and "d" not in key
    assert "A128GCM" in metadata["encrypted_response_enc_values_supported"]
    formats = metadata["vp_formats_supported"][SD_JWT_FORMAT]
    assert formats == {"sd-jwt_alg_values": ["EdDSA"], "kb-jwt_alg_values": ["ES256"]}
    # §8.2, the example link: client_id and request_uri, and nothing else the wallet needs
    fragment = request["walletLink"].split("#", 1)[1]
    assert sorted(p.split("=")[0] for p in fragment.split("&")) == ["client_id", "request_uri"]


def test_the_specifications_direct_post_answer_is_valid(any_counter: Counter) -> None:
    """§8.2's example response: ``vp_token=...&state=...`` form-encoded, vp_token as §8.1.1's
    example (``{"my_credential": ["eyJhbGci...QMA"]}``: the id of the Credential Query, an
    array of one SD-JWT+KB string); the anchor receipt in our additional parameter."""
    counter = any_counter
    request = counter.ask("name")
    answered = counter.form(request, counter.answer_fields(request))
    assert answered.status_code == 200, answered.text
    # §8.2: 200, application/json, a JSON object; not to be cached
    assert answered.headers["content-type"].startswith("application/json")
    assert answered.headers["cache-control"] == "no-store"
    assert answered.json()["report"]["verdict"] == "VALID"
    assert set(counter.result(request)["report"]["disclosed"]) == {"name"}


def test_a_presentation_without_our_anchor_parameter_is_taken_but_not_valid(
    any_counter: Counter,
) -> None:
    """A conformant wallet that knows nothing of ``suixin_anchors``: its presentation is the
    holder's (the request is answered) but the anchor cannot be shown, so it is not VALID."""
    counter = any_counter
    request = counter.ask("name")
    fields = counter.answer_fields(request)
    del fields["suixin_anchors"]
    answered = counter.form(request, fields)
    assert answered.status_code == 200, answered.text
    report = answered.json()["report"]
    anchor = next(c for c in report["checks"] if c["name"] == "anchor")
    assert report["verdict"] != "VALID" and anchor["outcome"] != "pass"
    assert report["checks"][-1]["code"] == "holder_bound"


def test_the_specifications_encrypted_answer_is_valid(any_counter: Counter) -> None:
    """§8.3's example: a JWE (ECDH-ES, A128GCM, the kid of the chosen key) whose payload holds
    the response parameters as top-level members, posted as ``response=...`` (§8.3.1);
    encrypted by jwcrypto, not by our code."""
    counter = any_counter
    request = counter.ask("name")
    (public,) = request["request"]["client_metadata"]["jwks"]["keys"]
    token = jwe.JWE(
        json.dumps(counter.answer_fields(request)).encode(),
        protected=json.dumps({"alg": "ECDH-ES", "enc": "A128GCM", "kid": public["kid"]}),
    )
    token.add_recipient(jwk.JWK(**{k: public[k] for k in ("kty", "crv", "x", "y")}))
    answered = counter.form(request, {"response": token.serialize(compact=True)})
    assert answered.status_code == 200, answered.text
    assert answered.json()["report"]["verdict"] == "VALID"


def test_the_specifications_error_responses_reach_the_counter(any_counter: Counter) -> None:
    """§8.2's example error response (``error=invalid_request&error_description=unsupported
    %20client_id_prefix&state=...``) and §8.5's ``access_denied``: the request closes and the
    counter reads why; an error OpenID4VP does not define is refused and changes nothing."""
    counter = any_counter
    request = counter.ask("name")
    unknown = counter.form(request, {"error": "no_such_error", "state": request["requestId"]})
    assert assert_problem(unknown, 400)["code"] == "error_unknown"
    assert counter.result(request)["state"] == "waiting"
    sent = {
        "error": "invalid_request",
        "error_description": "unsupported client_id_prefix",
        "state": request["requestId"],
    }
    assert counter.form(request, sent).status_code == 200
    assert counter.result(request) == {
        "state": "declined",
        "requestId": request["requestId"],
        "error": "invalid_request",
        "errorDescription": "unsupported client_id_prefix",
    }
    declined = counter.ask("name")
    answer = counter.form(declined, {"error": "access_denied", "state": declined["requestId"]})
    assert answer.status_code == 200
    assert counter.result(declined) == {"state": "declined", "requestId": declined["requestId"]}


def test_more_than_one_presentation_for_a_query_without_multiple_is_refused(
    any_counter: Counter,
) -> None:
    """§8.1: without ``multiple``, the array holds one presentation; and the keys are the
    Credential Query ids. Either broken is refused before anything is verified."""
    counter = any_counter
    request = counter.ask("name")
    one = counter.presentation(request)
    # (the last: the presentation itself as vp_token, JSON-encoded as a form sends it)
    for token in ({"q0": [one, one]}, {"q0": []}, {"my_credential": [one]}, [one], json.dumps(one)):
        fields = {"vp_token": token, "state": request["requestId"]}
        refused = counter.form(request, fields)
        assert assert_problem(refused, 400)["code"] == "vp_token_malformed", token
    not_json = counter.form(request, {"vp_token": one, "state": request["requestId"]})
    assert assert_problem(not_json, 422)["code"] == "body_invalid"
    assert counter.result(request)["state"] == "waiting"
    assert counter.form(request, counter.answer_fields(request)).status_code == 200
