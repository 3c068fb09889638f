"""The counter's reading of an encrypted answer (``verifier.counter.core.decrypt_response``)
against the test vector of OpenID4VP 1.0 (final) §8.3, "Encrypted Responses": the example JWE
encrypted to the example key ``ac`` (whose private ``d`` the specification gives) opens to the
example payload. And what is not such a JWE is refused with ``response_undecryptable``."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from verifier.counter.core import CounterError, CounterRequest, decrypt_response

# OpenID4VP 1.0 §8.3: the example key (with its private part) and the JWE encrypted to it
SPEC_KEY_D = "Et-3ce0omz8_TuZ96Df9lp0GAaaDoUnDe6X-CRO7Aww"
SPEC_KEY_X = "YO4epjifD-KWeq1sL2tNmm36BhXnkJ0He-WqMYrp9Fk"
SPEC_JWE = (
    "eyJhbGciOiJFQ0RILUVTIiwiZW5jIjoiQTEyOEdDTSIsImtpZCI6ImFjIiwiZXBrIjp7Imt0eSI6IkVDIiwieCI"
    "6Im5ubVZwbTNWM2piaGNhZlFhUkJrU1ZOSGx3Wkh3dC05ck9wSnVmeVlJdWsiLCJ5IjoicjRmakRxd0p5czlxVU9"
    "QLV9iM21SNVNaRy0tQ3dPMm1pYzVWU05UWU45ZyIsImNydiI6IlAtMjU2In19..uAYcHRUSSn2X0WPX.yVzlGSYG4"
    "qbg0bq18JcUiDRw56yVnbKR8E7S7YlEtzT00RqE3Pw5oTpUG3hdLN4taHZ9gC1kwak8JOnJgQ.1wR024_3-qtAlx1"
    "oFIUpQQ"
)
SPEC_PAYLOAD = {"vp_token": {"example_credential_id": ["eyJhb...YMetA"]}}


def _b64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def _enc(value: object) -> str:
    raw = value if isinstance(value, bytes) else json.dumps(value).encode()
    return base64.urlsafe_b64encode(raw).rstrip(b"=").decode()


def request_with(key: ec.EllipticCurvePrivateKey | None) -> CounterRequest:
    return CounterRequest(
        id="r",
        nonce="n",
        credential_type="ResidencePermit",
        fields=["name"],
        verifier_name="肇庆",
        created=0.0,
        response_uri="https://zq.example/response",
        enc_key=key,
    )


def spec_key() -> ec.EllipticCurvePrivateKey:
    key = ec.derive_private_key(int.from_bytes(_b64(SPEC_KEY_D), "big"), ec.SECP256R1())
    assert key.public_key().public_numbers().x == int.from_bytes(_b64(SPEC_KEY_X), "big")
    return key


def test_the_specifications_encrypted_response_opens_to_its_payload() -> None:
    header = json.loads(_b64(SPEC_JWE.split(".")[0]))
    assert (header["alg"], header["enc"], header["kid"]) == ("ECDH-ES", "A128GCM", "ac")
    assert decrypt_response(SPEC_JWE, request_with(spec_key())) == SPEC_PAYLOAD


def _variant(part: int, value: str) -> str:
    parts = SPEC_JWE.split(".")
    parts[part] = value
    return ".".join(parts)


HEADER = json.loads(_b64(SPEC_JWE.split(".")[0]))
GARBAGE = {
    "not five parts": "a.b.c",
    "an encrypted key (not direct agreement)": _variant(1, "AAAA"),
    "a header that is not base64url": _variant(0, "!!!"),
    "a header that is not JSON": _variant(0, _enc(b"{not json")),
    "a header that is a list": _variant(0, _enc([1, 2])),
    "another alg": _variant(0, _enc({**HEADER, "alg": "RSA-OAEP"})),
    "another enc": _variant(0, _enc({**HEADER, "enc": "A128CBC-HS256"})),
    "no epk": _variant(0, _enc({k: v for k, v in HEADER.items() if k != "epk"})),
    "an epk that is a string": _variant(0, _enc({**HEADER, "epk": "x"})),
    "an epk off the curve": _variant(
        0, _enc({**HEADER, "epk": {**HEADER["epk"], "y": _enc(b"\x01" * 32)}})
    ),
    "an apu that is a number": _variant(0, _enc({**HEADER, "apu": 7})),
    "a tag that does not match": _variant(4, _enc(b"\x00" * 16)),
    "a cut ciphertext": _variant(3, SPEC_JWE.split(".")[3][:-4]),
    "an empty iv": _variant(2, ""),
    "huge numbers": _variant(0, _enc({**HEADER, "epk": {**HEADER["epk"], "x": "A" * 5000}})),
    # RFC 7516 §7.1: each part is unpadded base64url; a lenient decoder skipped these
    "a padded header": _variant(0, SPEC_JWE.split(".")[0] + "=" * 4),
    "a character outside the alphabet in the iv": _variant(2, "!" + SPEC_JWE.split(".")[2]),
    "a space in the ciphertext": _variant(
        3, SPEC_JWE.split(".")[3][:8] + " " + SPEC_JWE.split(".")[3][8:]
    ),
    "a padded tag": _variant(4, SPEC_JWE.split(".")[4] + "=="),
}


@pytest.mark.parametrize("why", list(GARBAGE))
def test_what_is_not_such_a_jwe_is_refused_with_its_reason(why: str) -> None:
    with pytest.raises(CounterError) as refused:
        decrypt_response(GARBAGE[why], request_with(spec_key()))
    assert refused.value.status == 400 and refused.value.code == "response_undecryptable"


def test_a_jwe_to_a_request_that_asked_for_no_encryption_is_refused() -> None:
    with pytest.raises(CounterError) as refused:
        decrypt_response(SPEC_JWE, request_with(None))
    assert refused.value.code == "response_undecryptable"


def test_a_jwe_for_another_key_is_refused() -> None:
    with pytest.raises(CounterError) as refused:
        decrypt_response(SPEC_JWE, request_with(ec.generate_private_key(ec.SECP256R1())))
    assert refused.value.code == "response_undecryptable"
