"""Tests for verifier._base64url: the one strict base64url decoder of SD-JWTs and status tokens."""

from __future__ import annotations

import base64
import json

import pytest
from hypothesis import given
from hypothesis import strategies as st

from verifier._base64url import b64url_decode
from verifier.sdjwt import SdJwtError, b64url_encode
from verifier.sdjwt import b64url_decode as sdjwt_decode

_URL_SAFE = "ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789-_"

# padding, the other alphabet's characters, whitespace, letters and digits of other scripts
# (``str.isalnum`` says yes to them), a fullwidth A, a length no encoding has
REFUSED = ["QQ==", "QQ=", "a+b/", "QU JD", "QUJD\n", "中文", "٣٣٣٣", "ＡＡＡＡ", "A", "AAAAA"]


@given(st.binary(max_size=100))
def test_every_unpadded_encoding_decodes_back(data: bytes) -> None:
    text = b64url_encode(data)
    assert "=" not in text
    assert b64url_decode(text) == data
    assert sdjwt_decode(text) == data


@given(st.text(max_size=12))
def test_a_text_decodes_exactly_when_it_is_unpadded_base64url(text: str) -> None:
    readable = all(c in _URL_SAFE for c in text) and len(text) % 4 != 1
    try:
        decoded = b64url_decode(text)
    except ValueError:
        assert not readable
    else:
        assert readable
        assert decoded == base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


@pytest.mark.parametrize("text", REFUSED)
def test_padding_and_foreign_characters_are_refused(text: str) -> None:
    with pytest.raises(ValueError):
        b64url_decode(text)
    with pytest.raises(SdJwtError) as caught:
        sdjwt_decode(text)
    assert caught.value.code == "sd_jwt_malformed"


def test_a_non_string_is_refused() -> None:
    with pytest.raises(ValueError):
        b64url_decode(b"QUJD")  # type: ignore[arg-type]
    with pytest.raises(SdJwtError):
        sdjwt_decode(None)  # type: ignore[arg-type]


def test_a_status_token_with_a_padded_part_is_refused() -> None:
    from verifier.status_tokens import _token_ttl

    claims = b64url_encode(json.dumps({"ttl": 60}).encode())
    assert _token_ttl(f"e30.{claims}.c2ln".encode()) == 60
    padded = base64.urlsafe_b64encode(json.dumps({"ttl": 60}).encode()).decode()
    assert padded.endswith("=")
    assert _token_ttl(f"e30.{padded}.c2ln".encode()) == 0  # unreadable: not cached
