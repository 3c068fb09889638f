"""The RFC 9421 profile holders and partner offices sign requests with: shape, digest, base."""

from __future__ import annotations

import base64
import json

import pytest

from verifier.errors import InvalidInput
from verifier.http_signatures import (
    content_digest,
    read_request_signature,
    sign_request,
)
from verifier.keys import Ed25519KeyPair

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
