"""IETF Token Status List: every vector of draft-ietf-oauth-status-list-20, tokens and lookups.

The vectors (``data/ietf-token-status-list/vectors.json``, source named in its README) are
the §4.1 examples and the Appendix lists of 2^20 entries at 1, 2, 4 and 8 bits.
"""

from __future__ import annotations

import base64
import hashlib
import json
import zlib
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.errors import InvalidInput
from verifier.token_status_list import (
    STATUS_LIST_TOKEN_TYPE,
    TOKEN_STATUS_INVALID,
    TOKEN_STATUS_SUSPENDED,
    TOKEN_STATUS_VALID,
    StatusListReference,
    TokenStatusList,
    TokenStatusListError,
    status_list_token_claims,
    status_list_token_digest,
    token_status,
)

DATA = json.loads(
    (Path(__file__).parent / "data" / "ietf-token-status-list" / "vectors.json").read_text()
)
VECTORS = DATA["vectors"]
SPEC_TOKEN = DATA["status_list_token"]  # §5.1's example Status List Token
URI = "https://example.com/statuslists/1"
AT = datetime(2023, 6, 16, 12, 56, 10, tzinfo=UTC)  # 1686920170, the example's iat


def expected_bytes(vector: dict[str, Any]) -> bytes:
    """The byte array a vector describes: every listed status set, LSB first, the rest 0."""
    size = vector.get("size") or len(vector["statuses"])
    bits = vector["bits"]
    raw = bytearray((size * bits + 7) // 8)
    for index, value in vector["statuses"].items():
        position = int(index) * bits
        raw[position // 8] |= value << (position % 8)
    return bytes(raw)


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_every_vector_decodes_to_its_statuses(vector: dict[str, Any]) -> None:
    status_list = TokenStatusList.from_json({"bits": vector["bits"], "lst": vector["lst"]})
    assert status_list.bits == vector["bits"]
    for index, value in vector["statuses"].items():
        assert status_list[int(index)] == value, index
    # and every index not listed is VALID: the whole byte array is exactly the described one
    assert status_list.to_bytes() == expected_bytes(vector)
    if "size" in vector:
        assert status_list.size == vector["size"] == 2**20
    if "byte_array_hex" in vector:
        assert status_list.to_bytes().hex() == vector["byte_array_hex"]


@pytest.mark.parametrize("vector", VECTORS, ids=[v["name"] for v in VECTORS])
def test_encoding_every_vector_gives_its_lst(vector: dict[str, Any]) -> None:
    """Conformance is about the decoded statuses (another compressor may write other bytes);
    at ZLIB's best level, as the draft recommends, ours happen to match the vectors exactly."""
    size = vector.get("size") or len(vector["statuses"])
    status_list = TokenStatusList(size, vector["bits"])
    for index, value in vector["statuses"].items():
        status_list[int(index)] = value
    assert status_list.to_json() == {"bits": vector["bits"], "lst": vector["lst"]}


def test_the_small_examples_bit_by_bit() -> None:
    # §4.1: 0xb9 = 1011 1001 holds statuses 0..7 from the least significant bit: 1,0,0,1,1,1,0,1
    one = TokenStatusList.from_bytes(bytes([0xB9, 0xA3]), 1)
    assert [one[i] for i in range(8)] == [1, 0, 0, 1, 1, 1, 0, 1]
    # 0xc9 = 11 00 10 01 holds two-bit statuses 0..3 as 01, 10, 00, 11
    two = TokenStatusList.from_bytes(bytes([0xC9, 0x44, 0xF9]), 2)
    assert [two[i] for i in range(4)] == [1, 2, 0, 3]


@settings(max_examples=40, deadline=None)
@given(bits=st.sampled_from([1, 2, 4, 8]), size=st.integers(1, 3000), data=st.data())
def test_round_trip(bits: int, size: int, data: st.DataObject) -> None:
    values = data.draw(
        st.dictionaries(st.integers(0, size - 1), st.integers(0, (1 << bits) - 1), max_size=50)
    )
    status_list = TokenStatusList(size, bits)
    for index, value in values.items():
        status_list[index] = value
    decoded = TokenStatusList.from_json(status_list.to_json())
    assert decoded == status_list
    assert all(decoded[i] == values.get(i, 0) for i in range(size))


def test_set_and_clear_at_the_edges() -> None:
    status_list = TokenStatusList(16, 4)
    status_list[0] = 0xF
    status_list[15] = 0x2
    assert status_list.to_bytes()[0] == 0x0F and status_list.to_bytes()[-1] == 0x20
    status_list[0] = 0
    assert status_list.to_bytes()[0] == 0
    with pytest.raises(IndexError):
        status_list[16] = 1
    with pytest.raises(ValueError, match="does not fit"):
        status_list[3] = 16
    with pytest.raises(TokenStatusListError):
        TokenStatusList(8, 3)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@pytest.mark.parametrize(
    ("status_list", "code"),
    [
        ("eNrbuRgAAhcBXQ", "status_list_malformed"),
        ({"bits": 3, "lst": "eNrbuRgAAhcBXQ"}, "status_list_bits_invalid"),
        ({"bits": True, "lst": "eNrbuRgAAhcBXQ"}, "status_list_bits_invalid"),
        ({"bits": 1}, "status_list_lst_invalid"),
        ({"bits": 1, "lst": "eNrbuRgAAhcBXQ=="}, "status_list_lst_invalid"),  # padding
        ({"bits": 1, "lst": "eNrbuRgAAhcBXQ+/"}, "status_list_lst_invalid"),  # base64, not url
        ({"bits": 1, "lst": _b64(zlib.compress(b"\x01", wbits=-15))}, "status_list_lst_invalid"),
        ({"bits": 1, "lst": _b64(zlib.compress(b"\x01")[:-2])}, "status_list_lst_invalid"),
        ({"bits": 1, "lst": _b64(zlib.compress(b"\x01") + b"x")}, "status_list_lst_invalid"),
        ({"bits": 1, "lst": _b64(zlib.compress(b""))}, "status_list_lst_invalid"),
    ],
)
def test_malformed_status_lists_are_refused(status_list: object, code: str) -> None:
    with pytest.raises(TokenStatusListError) as caught:
        TokenStatusList.from_json(status_list)
    assert caught.value.code == code
    assert isinstance(caught.value, InvalidInput)


def test_a_decompression_bomb_stops_at_the_limit() -> None:
    bomb = {"bits": 1, "lst": _b64(zlib.compress(bytes(4 * 1024 * 1024), 9))}
    with pytest.raises(TokenStatusListError) as caught:
        TokenStatusList.from_json(bomb, max_bytes=1024 * 1024)
    assert caught.value.code == "status_list_too_large"


# ---------------------------------------------------------------------------- tokens


def test_the_spec_token_claims_are_rebuilt_exactly() -> None:
    assert SPEC_TOKEN["header"]["typ"] == STATUS_LIST_TOKEN_TYPE == "statuslist+jwt"
    status_list = TokenStatusList.from_bytes(bytes([0xB9, 0xA3]), 1)
    claims = status_list_token_claims(
        URI,
        status_list,
        issued_at=AT,
        expires_at=datetime.fromtimestamp(2291720170, UTC),
        ttl=43200,
    )
    assert claims == SPEC_TOKEN["payload"]
    assert list(claims) == ["sub", "iat", "exp", "ttl", "status_list"]


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"uri": "statuslists/1"}, "URI"),
        ({"issued_at": datetime(2023, 6, 16)}, "timezone-aware"),
        ({"expires_at": AT}, "after issued_at"),
        ({"ttl": 0}, "ttl"),
        ({"ttl": 1.5}, "ttl"),
    ],
)
def test_token_claims_refuse_bad_values(arguments: dict[str, Any], message: str) -> None:
    kwargs: dict[str, Any] = {"issued_at": AT, **arguments}
    uri = kwargs.pop("uri", URI)
    with pytest.raises(ValueError, match=message):
        status_list_token_claims(uri, TokenStatusList(8), **kwargs)


def test_lookup_through_a_referenced_token() -> None:
    # §6.2's Referenced Token names index 0 of https://example.com/statuslists/1
    referenced = {
        "iss": "https://example.com/issuer",
        "status": {"status_list": {"idx": 0, "uri": URI}},
    }
    payload = SPEC_TOKEN["payload"]
    assert token_status(referenced, payload, now=AT) == TOKEN_STATUS_INVALID
    assert token_status(StatusListReference(1, URI), payload, now=AT) == TOKEN_STATUS_VALID
    assert StatusListReference.from_claims(referenced).to_json() == referenced["status"]


def test_lookup_with_suspension_in_two_bits() -> None:
    status_list = TokenStatusList(2**17, 2)
    status_list[4242] = TOKEN_STATUS_SUSPENDED
    claims = status_list_token_claims(URI, status_list, issued_at=AT, ttl=300)
    assert token_status(StatusListReference(4242, URI), claims, now=AT) == TOKEN_STATUS_SUSPENDED
    assert token_status(StatusListReference(4243, URI), claims, now=AT) == TOKEN_STATUS_VALID


@pytest.mark.parametrize(
    ("reference", "change", "code"),
    [
        ({"idx": 16, "uri": URI}, {}, "status_list_index_out_of_range"),
        (
            {"idx": 0, "uri": "https://example.com/statuslists/2"},
            {},
            "status_list_token_subject_mismatch",
        ),
        ({"idx": 0, "uri": URI}, {"exp": 1686920170}, "status_list_token_expired"),
        ({"idx": 0, "uri": URI}, {"exp": "never"}, "status_list_token_expired"),
        ({"idx": 0, "uri": URI}, {"sub": None}, "status_list_token_malformed"),
        ({"idx": 0, "uri": URI}, {"iat": None}, "status_list_token_malformed"),
        ({"idx": 0, "uri": URI}, {"ttl": -1}, "status_list_token_malformed"),
        ({"idx": 0, "uri": URI}, {"status_list": None}, "status_list_malformed"),
        ({"idx": -1, "uri": URI}, {}, "status_reference_idx_invalid"),
        ({"idx": "0", "uri": URI}, {}, "status_reference_idx_invalid"),
        ({"idx": 0, "uri": "no uri"}, {}, "status_reference_uri_invalid"),
    ],
)
def test_lookup_refusals(reference: dict[str, Any], change: dict[str, Any], code: str) -> None:
    payload = {**SPEC_TOKEN["payload"], **change}
    payload = {k: v for k, v in payload.items() if v is not None}
    with pytest.raises(TokenStatusListError) as caught:
        token_status({"status": {"status_list": reference}}, payload, now=AT)
    assert caught.value.code == code
    assert caught.value.reason.zh and caught.value.code in caught.value.diagnostics()


def test_a_token_without_a_status_reference_is_refused() -> None:
    with pytest.raises(TokenStatusListError) as caught:
        token_status({"iss": "x"}, SPEC_TOKEN["payload"], now=AT)
    assert caught.value.code == "status_reference_missing"


def test_the_token_digest_is_domain_separated() -> None:
    jwt = "eyJhbGciOiJFUzI1NiJ9.eyJzdWIiOiJ4In0.c2ln"
    digest = status_list_token_digest(jwt)
    assert digest == hashlib.sha256(b"suixin-token-status-list/1" + jwt.encode()).digest()
    assert status_list_token_digest(jwt.encode()) == digest
    assert status_list_token_digest(jwt + "x") != digest
    with pytest.raises(ValueError, match="ASCII"):
        status_list_token_digest("eyJ.é.x")
