"""The RFC 9421 profile holders and partner offices sign requests with: shape, digest, base."""

from __future__ import annotations

import base64
import json

import pytest
from cryptography.hazmat.primitives.asymmetric import ec

from verifier.errors import InvalidInput
from verifier.http_signatures import (
    ES256_ALGORITHM,
    content_digest,
    did_jwk,
    p256_key_of_did_jwk,
    read_request_signature,
    sign_request,
)
from verifier.keys import Ed25519KeyPair
from verifier.sdjwt import es256_sign, jwk_from_p256

KEY = Ed25519KeyPair.from_private_bytes(bytes(range(32)))
BODY = json.dumps({"purpose": "子女入学"}, ensure_ascii=False).encode()


def signed(**overrides: object) -> dict[str, str]:
    args: dict[str, object] = {
        "key": KEY,
        "keyid": KEY.verification_method,
        "body": BODY,
        "created": 1_800_000_000,
        "nonce": "n" * 22,
    }
    args.update(overrides)
    return sign_request("POST", "/v1/grants/abc/credential", **args)  # type: ignore[arg-type]


def read(headers: dict[str, str], body: bytes = BODY, path: str = "/v1/grants/abc/credential"):  # type: ignore[no-untyped-def]
    return read_request_signature("POST", path, "", headers, body)


def test_a_signed_request_reads_back_and_verifies() -> None:
    headers = signed()
    assert headers["Content-Digest"] == content_digest(BODY)
    signature = read(headers)
    assert signature.keyid == KEY.verification_method
    assert signature.did == KEY.did
    assert (signature.created, signature.nonce) == (1_800_000_000, "n" * 22)
    assert signature.components == ("@method", "@path", "@query", "content-digest")
    assert signature.verify(KEY.public_bytes)
    assert not signature.verify(Ed25519KeyPair.generate().public_bytes)


def test_the_signature_base_is_rfc_9421s() -> None:
    headers = signed()
    params = headers["Signature-Input"].removeprefix("sig1=")
    expected = (
        '"@method": POST\n'
        '"@path": /v1/grants/abc/credential\n'
        '"@query": ?\n'
        f'"content-digest": {content_digest(BODY)}\n'
        f'"@signature-params": {params}'
    ).encode()
    assert read(headers).base == expected
    assert params.startswith('("@method" "@path" "@query" "content-digest");created=1800000000;')
    raw = base64.b64decode(headers["Signature"].removeprefix("sig1=:").removesuffix(":"))
    assert KEY.verify(raw, expected)


def test_header_names_are_case_insensitive_and_a_body_less_request_needs_no_digest() -> None:
    headers = sign_request("GET", "/v1/grants", key=KEY, keyid=KEY.verification_method)
    assert "Content-Digest" not in headers
    lowered = {k.lower(): v for k, v in headers.items()}
    signature = read_request_signature("GET", "/v1/grants", "", lowered, b"")
    assert signature.verify(KEY.public_bytes)
    # the method, path and query are covered: another one does not verify
    for method, path, query in (("DELETE", "/v1/grants", ""), ("GET", "/v1/grants/x", "")):
        assert not read_request_signature(method, path, query, headers, b"").verify(
            KEY.public_bytes
        )
    assert not read_request_signature("GET", "/v1/grants", "a=1", headers, b"").verify(
        KEY.public_bytes
    )


@pytest.mark.parametrize(
    ("change", "code"),
    [
        (lambda h: h.pop("Signature"), "signature_missing"),
        (lambda h: h.pop("Signature-Input"), "signature_missing"),
        (lambda h: h.update({"Signature": "sig2=:AAAA:"}), "signature_malformed"),
        (lambda h: h.update({"Signature": "sig1=:!!:"}), "signature_malformed"),
        (
            lambda h: h.update({"Signature-Input": h["Signature-Input"] + ", sig2=()"}),
            "signature_malformed",
        ),
        (
            lambda h: h.update({"Signature-Input": h["Signature-Input"].replace('"@query" ', "")}),
            "signature_components",
        ),
        (
            lambda h: h.update(
                {"Signature-Input": h["Signature-Input"].replace('"@path"', '"@authority"')}
            ),
            "signature_components",
        ),
        (
            lambda h: h.update(
                {"Signature-Input": h["Signature-Input"].replace("ed25519", "rsa-pss-sha512")}
            ),
            "signature_alg_unsupported",
        ),
        (
            lambda h: h.update(
                {"Signature-Input": h["Signature-Input"].replace("n" * 22, "short")}
            ),
            "nonce_invalid",
        ),
        (
            lambda h: h.update({"Signature-Input": h["Signature-Input"].replace("#", "-", 1)}),
            "signature_keyid_invalid",
        ),
        (lambda h: h.pop("Content-Digest"), "content_digest_missing"),
        (lambda h: h.update({"Content-Digest": content_digest(b"{}")}), "content_digest_mismatch"),
        (lambda h: h.update({"Content-Digest": "sha-256=abc"}), "content_digest_mismatch"),
    ],
)
def test_requests_outside_the_profile_are_refused_with_a_code(change, code) -> None:  # type: ignore[no-untyped-def]
    headers = signed()
    change(headers)
    with pytest.raises(InvalidInput) as raised:
        read(headers)
    assert raised.value.reason.code == code  # type: ignore[attr-defined]
    assert raised.value.reason.zh and raised.value.reason.en  # type: ignore[attr-defined]


def test_a_changed_body_is_caught_by_its_digest() -> None:
    with pytest.raises(InvalidInput, match="body was changed"):
        read(signed(), body=BODY.replace("子女".encode(), "购房".encode()))


def test_a_body_signed_without_its_digest_is_refused() -> None:
    headers = sign_request("POST", "/v1/grants", key=KEY, keyid=KEY.verification_method)
    with pytest.raises(InvalidInput, match="content-digest"):
        read_request_signature("POST", "/v1/grants", "", headers, b'{"a":1}')


@pytest.mark.parametrize(
    ("keyid", "nonce"),
    [("did:key:z6Mk", "n" * 20), (KEY.verification_method, "bad nonce with spaces")],
)
def test_signing_refuses_values_outside_the_profile(keyid: str, nonce: str) -> None:
    with pytest.raises(InvalidInput):
        sign_request("GET", "/", key=KEY, keyid=keyid, nonce=nonce)


# ---------------------------------------------------------------------- ES256 (wallet keys)

P256 = ec.derive_private_key(12345678901234567890, ec.SECP256R1())
P256_KEYID = did_jwk(jwk_from_p256(P256.public_key())) + "#0"


def test_an_es256_request_reads_back_and_verifies_with_its_p256_key_only() -> None:
    headers = signed(key=P256, keyid=P256_KEYID)
    assert f'alg="{ES256_ALGORITHM}"' in headers["Signature-Input"]
    signature = read(headers)
    assert signature.alg == ES256_ALGORITHM and len(signature.signature) == 64  # r||s
    assert signature.did == P256_KEYID.partition("#")[0] and signature.key_fragment == "0"
    assert signature.verify(P256.public_key())
    assert not signature.verify(ec.generate_private_key(ec.SECP256R1()).public_key())
    assert not signature.verify(KEY.public_bytes)  # an Ed25519 key never verifies ES256
    # the other way round: an Ed25519 signature does not verify with a P-256 key
    assert not read(signed()).verify(P256.public_key())


def test_an_es256_signature_relabelled_ed25519_does_not_verify() -> None:
    headers = signed(key=P256, keyid=P256_KEYID)
    headers["Signature-Input"] = headers["Signature-Input"].replace(ES256_ALGORITHM, "ed25519")
    assert not read(headers).verify(P256.public_key())  # the declared alg is signed too


def test_a_webcrypto_style_es256_signature_verifies() -> None:
    """What the wallet page sends: r||s over the base, made by an independent signer."""
    headers = signed(key=P256, keyid=P256_KEYID)
    base = read(headers).base
    raw = es256_sign(P256, base)
    label, _ = headers["Signature"].split("=", 1)
    headers["Signature"] = f"{label}=:{base64.b64encode(raw).decode()}:"
    assert read(headers).verify(P256.public_key())


def test_did_jwk_round_trips_and_refuses_what_is_not_a_p256_public_key() -> None:
    jwk = jwk_from_p256(P256.public_key())
    did = did_jwk(jwk)
    key = p256_key_of_did_jwk(did + "#0")
    assert key is not None and key.public_numbers() == P256.public_key().public_numbers()
    assert did_jwk(dict(reversed(list(jwk.items())))) == did  # member order does not matter
    assert p256_key_of_did_jwk(did + "#1") is None
    assert p256_key_of_did_jwk(KEY.verification_method) is None
    assert p256_key_of_did_jwk("did:jwk:not-base64!") is None
    with pytest.raises(InvalidInput):
        did_jwk({**jwk, "crv": "P-384"})
    with pytest.raises(InvalidInput):
        did_jwk({**jwk, "y": jwk["x"]})  # not a point of the curve


def test_a_did_jwk_is_read_only_in_its_one_unpadded_base64url_spelling() -> None:
    """A lenient decoder dropped what is not base64url, so many strings named one key: the
    holder's DID must be one string per encoded JWK (RFC 7515 §2: no padding, no other
    character)."""
    did = did_jwk(jwk_from_p256(P256.public_key()))
    encoded = did.removeprefix("did:jwk:")
    middle = len(encoded) // 2
    spellings = {
        "padded": did + "=" * (-len(encoded) % 4 or 4),
        "a character outside the alphabet": f"did:jwk:{encoded[:middle]}!{encoded[middle:]}",
        "the standard alphabet's +": f"did:jwk:{encoded[:middle]}+{encoded[middle:]}",
        "a line break": f"did:jwk:{encoded[:middle]}\n{encoded[middle:]}",
        "another script's digit": f"did:jwk:{encoded[:middle]}٣{encoded[middle:]}",
    }
    for why, spelling in spellings.items():
        assert p256_key_of_did_jwk(spelling) is None, why
        assert p256_key_of_did_jwk(spelling + "#0") is None, why
    assert p256_key_of_did_jwk(did + "#0") is not None
