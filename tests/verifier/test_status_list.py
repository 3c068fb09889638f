"""W3C Bitstring Status List v1.0: the spec's example list, bit order, entries, §3.2 and digests.

Spec facts used (W3C Recommendation of 15 May 2025, "Bitstring Status List v1.0"): the
``encodedList`` of Example 3 (§2.2), which expands to 131,072 zero bits; the two entries of
Example 1 and the ``message`` entry of Example 2 (§2.1); index 0 is the left-most bit (§2.2,
§7.1); the validate algorithm and its error names (§3.2, §3.5).
"""

from __future__ import annotations

import base64
import copy
import gzip
import hashlib
import zlib
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from tests.verifier import factories
from tests.verifier.safe_jsonld import expand_safe
from verifier.contexts import SUIXIN_CONTEXT, VC_V2_CONTEXT
from verifier.jcs import canonicalize
from verifier.keys import Ed25519KeyPair
from verifier.proofs import sign_credential
from verifier.status import ANCHOR_STATUS_TYPE
from verifier.status_list import (
    MIN_STATUS_LIST_ENTRIES,
    STATUS_LIST_DIGEST_DOMAIN,
    MalformedStatusValue,
    StatusBitstring,
    StatusListEntry,
    StatusListError,
    StatusListLengthError,
    StatusMessage,
    StatusRangeError,
    StatusRetrievalError,
    StatusVerificationError,
    build_status_list_credential,
    check_status,
    check_status_list_digest,
    sign_status_list_credential,
    status_list_digest,
    status_list_entries,
)

# §2.2 Example 3 (and A.2): a list of 131,072 entries, none set.
SPEC_ENCODED_LIST = "uH4sIAAAAAAAAA-3BMQEAAADCoPVPbQwfoAAAAAAAAAAAAAAAAAAAAIC3AYbSVKsAQAAA"
# §2.1 Example 1
SPEC_ENTRIES = [
    {
        "id": "https://example.com/credentials/status/3#94567",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "revocation",
        "statusListIndex": "94567",
        "statusListCredential": "https://example.com/credentials/status/3",
    },
    {
        "id": "https://example.com/credentials/status/4#23452",
        "type": "BitstringStatusListEntry",
        "statusPurpose": "suspension",
        "statusListIndex": "23452",
        "statusListCredential": "https://example.com/credentials/status/4",
    },
]

ISSUER = "did:web:lasui.gz.gov.cn"
METHOD = f"{ISSUER}#key-1"
KEY = Ed25519KeyPair.from_private_bytes(bytes(range(32)))
OTHER_KEY = Ed25519KeyPair.from_private_bytes(bytes(range(1, 33)))
LIST_URL = "https://lasui.gz.gov.cn/status/revocation/1"
NOW = datetime(2026, 11, 22, 9, 30, tzinfo=UTC)
CREATED = "2026-11-22T09:00:00Z"


def entry(index: int = 94567, purpose: str = "revocation", **more: Any) -> dict[str, Any]:
    return {
        "id": f"{LIST_URL}/entries#{index}",
        "type": "BitstringStatusListEntry",
        "statusPurpose": purpose,
        "statusListIndex": str(index),
        "statusListCredential": LIST_URL,
        **more,
    }


def published(
    bitstring: StatusBitstring | None = None,
    purposes: str | list[str] = "revocation",
    *,
    key: Ed25519KeyPair = KEY,
    method: str = METHOD,
    **overrides: Any,
) -> dict[str, Any]:
    """A signed list credential, as an authority publishes it."""
    unsigned = build_status_list_credential(
        LIST_URL,
        ISSUER,
        purposes,
        bitstring or StatusBitstring(),
        valid_from=NOW - timedelta(hours=1),
        valid_until=NOW + timedelta(days=1),
        ttl_ms=300_000,
    )
    unsigned.update(overrides)
    signed, _ = sign_status_list_credential(unsigned, key, method, CREATED)
    return signed


def revoked(
    *indexes: int, status_size: int = 1, value: int = 1, entries: int = MIN_STATUS_LIST_ENTRIES
) -> StatusBitstring:
    bitstring = StatusBitstring(entries, status_size)
    for index in indexes:
        bitstring[index] = value
    return bitstring


# --------------------------------------------------------------- encoding, spec example


def test_the_spec_example_expands_to_131072_zero_bits() -> None:
    bitstring = StatusBitstring.decode(SPEC_ENCODED_LIST)
    assert bitstring.entries == MIN_STATUS_LIST_ENTRIES == 131_072
    assert bitstring.to_bytes() == bytes(16 * 1024)
    assert all(bitstring[i] == 0 for i in (0, 94567, 131_071))


def test_re_encoding_the_spec_example_reproduces_it() -> None:
    # zlib's default level with a zero GZIP time gives the spec's bytes exactly; the default
    # (best) level differs only in the header's XFL byte and decodes to the same list
    assert StatusBitstring().encode(compresslevel=6) == SPEC_ENCODED_LIST
    ours = base64.urlsafe_b64decode(StatusBitstring().encode()[1:] + "==")
    spec = base64.urlsafe_b64decode(SPEC_ENCODED_LIST[1:] + "==")
    assert [i for i, (a, b) in enumerate(zip(ours, spec, strict=True)) if a != b] == [8]
    assert StatusBitstring.decode(StatusBitstring().encode()) == StatusBitstring()


def test_index_zero_is_the_left_most_bit() -> None:
    bitstring = StatusBitstring()
    bitstring[0] = 1
    assert bitstring.to_bytes()[:2] == b"\x80\x00"
    bitstring[7] = 1
    bitstring[8] = 1
    assert bitstring.to_bytes()[:2] == b"\x81\x80"
    # §2.1's index 94567 is bit 7 of byte 11820 (94567 = 8 * 11820 + 7)
    example = StatusBitstring()
    example[94567] = 1
    assert example.to_bytes()[11820] == 0x01 and sum(example.to_bytes()) == 1


def test_set_and_clear_at_the_edges() -> None:
    bitstring = StatusBitstring()
    last = MIN_STATUS_LIST_ENTRIES - 1
    for index in (0, last):
        bitstring[index] = 1
    raw = bitstring.to_bytes()
    assert raw[0] == 0x80 and raw[-1] == 0x01 and sum(raw) == 0x81
    decoded = StatusBitstring.decode(bitstring.encode())
    assert decoded[0] == decoded[last] == 1 and decoded[1] == decoded[last - 1] == 0
    decoded[0] = 0
    decoded[last] = 0
    assert decoded == StatusBitstring()
    for bad in (-1, MIN_STATUS_LIST_ENTRIES):
        with pytest.raises(IndexError):
            bitstring[bad] = 1
        with pytest.raises(IndexError):
            _ = bitstring[bad]
    with pytest.raises(ValueError, match="does not fit"):
        bitstring[5] = 2
    with pytest.raises(TypeError):
        bitstring[True] = 1


def test_status_size_two_packs_two_bits_per_entry_left_to_right() -> None:
    bitstring = StatusBitstring(status_size=2)
    assert bitstring.entries == MIN_STATUS_LIST_ENTRIES
    assert len(bitstring.to_bytes()) == 32 * 1024  # 2 bits × 131,072 entries
    bitstring[0] = 0b10
    bitstring[1] = 0b01
    bitstring[3] = 0b11
    assert bitstring.to_bytes()[0] == 0b10_01_00_11
    decoded = StatusBitstring.decode(bitstring.encode(), status_size=2)
    assert [decoded[i] for i in range(5)] == [2, 1, 0, 3, 0]
    # the same bytes read one bit at a time: twice as many entries
    assert StatusBitstring.decode(bitstring.encode()).entries == 2 * MIN_STATUS_LIST_ENTRIES


@settings(max_examples=40, deadline=None)
@given(
    size=st.integers(1, 5),
    entries=st.integers(1, 4000),
    data=st.data(),
)
def test_round_trip(size: int, entries: int, data: st.DataObject) -> None:
    values = data.draw(
        st.dictionaries(st.integers(0, entries - 1), st.integers(0, (1 << size) - 1), max_size=60)
    )
    bitstring = StatusBitstring(entries, size)
    for index, value in values.items():
        bitstring[index] = value
    decoded = StatusBitstring.decode(bitstring.encode(), size)
    assert decoded.entries >= entries  # whole bytes may hold a few more entries
    for index in range(entries):
        assert decoded[index] == values.get(index, 0)
    assert decoded.to_bytes() == bitstring.to_bytes()


def _gzip_text(data: bytes) -> str:
    return "u" + base64.urlsafe_b64encode(data).rstrip(b"=").decode()


# gzip without a modification time: the same bytes (and so test ids) in every process, as
# pytest-xdist's workers must collect the same tests
_ZEROS = gzip.compress(bytes(16384), mtime=0)


@pytest.mark.parametrize(
    ("encoded", "code"),
    [
        (SPEC_ENCODED_LIST[1:], "encoded_list_not_multibase"),  # no multibase prefix
        ("z" + SPEC_ENCODED_LIST[1:], "encoded_list_not_multibase"),  # base58btc prefix
        (42, "encoded_list_not_multibase"),
        (SPEC_ENCODED_LIST + "==", "encoded_list_not_base64url"),  # padding
        (SPEC_ENCODED_LIST.replace("-", "+"), "encoded_list_not_base64url"),  # base64, not url
        ("u" + "A" * 5, "encoded_list_not_base64url"),  # impossible length
        (_gzip_text(zlib.compress(bytes(16384))), "encoded_list_not_gzip"),  # zlib, not gzip
        (_gzip_text(b"not compressed at all"), "encoded_list_not_gzip"),
        (_gzip_text(_ZEROS[:-6]), "encoded_list_not_gzip"),  # truncated
        (_gzip_text(_ZEROS + b"junk"), "encoded_list_not_gzip"),  # trailing
        (_gzip_text(_ZEROS * 2), "encoded_list_not_gzip"),  # two members
        (_gzip_text(gzip.compress(b"", mtime=0)), "bitstring_empty"),
    ],
)
def test_malformed_encoded_lists_are_refused(encoded: object, code: str) -> None:
    if code == "bitstring_empty":
        with pytest.raises(ValueError, match="no whole entry"):
            StatusBitstring.decode(encoded)
        return
    with pytest.raises(MalformedStatusValue) as caught:
        StatusBitstring.decode(encoded)
    assert caught.value.code == code
    assert caught.value.kind == "MALFORMED_VALUE_ERROR"


def test_a_decompression_bomb_stops_at_the_limit() -> None:
    bomb = _gzip_text(gzip.compress(bytes(4 * 1024 * 1024), mtime=0))  # 4 MiB of zeros, ~4 KB
    assert len(bomb) < 10_000
    with pytest.raises(MalformedStatusValue) as caught:
        StatusBitstring.decode(bomb, max_bytes=1024 * 1024)
    assert caught.value.code == "encoded_list_too_large"
    assert StatusBitstring.decode(bomb).entries == 32 * 1024 * 1024


# ---------------------------------------------------------------------------- entries


def test_the_spec_example_entries_parse_and_round_trip() -> None:
    credential = {"credentialStatus": SPEC_ENTRIES}
    first, second = status_list_entries(credential)
    assert (first.status_purpose, first.status_list_index) == ("revocation", 94567)
    assert (second.status_purpose, second.status_list_index) == ("suspension", 23452)
    assert first.status_size == 1 and first.status_message == ()
    assert [first.to_json(), second.to_json()] == SPEC_ENTRIES


def test_a_message_entry_with_status_size_two() -> None:
    # §2.1 Example 2, with all four messages the entry must list for two bits
    raw = entry(
        492847,
        "message",
        statusSize=2,
        statusMessage=[
            {"status": "0x0", "message": "pending_review"},
            {"status": "0x1", "message": "accepted"},
            {"status": "0x2", "message": "rejected"},
            {"status": "0x3", "message": "undefined"},
        ],
        statusReference="https://example.org/status-dictionary/",
    )
    parsed = StatusListEntry.from_json(raw)
    assert parsed.status_size == 2
    assert parsed.status_message[2] == StatusMessage(2, "rejected")
    assert parsed.status_reference == ("https://example.org/status-dictionary/",)
    assert parsed.to_json() == raw
    bitstring = revoked(492847, status_size=2, value=2, entries=4 * MIN_STATUS_LIST_ENTRIES)
    result = check_status(raw, published(bitstring, "message"), KEY.public_bytes, now=NOW)
    assert result.to_json() == {
        "status": 2,
        "purpose": "message",
        "valid": False,
        "message": "rejected",
    }


def test_other_status_types_are_skipped() -> None:
    credential = {
        "credentialStatus": [
            {"id": "urn:suixin:status:eip155:1:0xabc:0x01", "type": ANCHOR_STATUS_TYPE},
            entry(7),
        ]
    }
    (found,) = status_list_entries(credential)
    assert found.status_list_index == 7
    assert status_list_entries({"credentialStatus": entry(8)})[0].status_list_index == 8
    assert status_list_entries({}) == []


@pytest.mark.parametrize(
    ("change", "code"),
    [
        ({"type": "StatusList2021Entry"}, "status_entry_type"),
        ({"statusPurpose": ""}, "status_purpose_invalid"),
        ({"statusListIndex": 94567}, "status_list_index_invalid"),  # a number, not a string
        ({"statusListIndex": "-1"}, "status_list_index_invalid"),
        ({"statusListIndex": "1e3"}, "status_list_index_invalid"),
        ({"statusListIndex": "٣"}, "status_list_index_invalid"),  # a non-ASCII digit
        ({"statusListCredential": "not a url"}, "status_list_credential_invalid"),
        ({"id": LIST_URL}, "status_entry_id_invalid"),  # MUST NOT be the list's URL
        ({"statusSize": 0}, "status_size_invalid"),
        ({"statusSize": True}, "status_size_invalid"),
        ({"statusSize": "2"}, "status_size_invalid"),
        ({"statusSize": 17}, "status_size_unsupported"),
        ({"statusSize": 2}, "status_message_missing"),
        ({"statusMessage": [{"status": "0x0", "message": "unset"}]}, "status_message_count"),
        (
            {"statusMessage": [{"status": "0", "message": "a"}, {"status": "0x1", "message": "b"}]},
            "status_message_invalid",
        ),
        (
            {
                "statusMessage": [
                    {"status": "0x0", "message": "a"},
                    {"status": "0x2", "message": "b"},
                ]
            },
            "status_message_invalid",
        ),
        ({"statusReference": ["https://ok.example/", "nope"]}, "status_reference_invalid"),
    ],
)
def test_malformed_entries_are_refused(change: dict[str, Any], code: str) -> None:
    with pytest.raises(MalformedStatusValue) as caught:
        StatusListEntry.from_json({**entry(), **change})
    assert caught.value.code == code
    assert caught.value.problem()["type"] == (
        "https://www.w3.org/TR/vc-data-model#MALFORMED_VALUE_ERROR"
    )


# ------------------------------------------------------------------ list credentials


def test_a_published_list_credential_has_the_spec_shape_and_expands() -> None:
    signed = published(revoked(3))
    assert signed["type"] == ["VerifiableCredential", "BitstringStatusListCredential"]
    assert signed["@context"] == [VC_V2_CONTEXT]  # every term it uses is VC 2.0's
    assert signed["id"] == LIST_URL
    subject = signed["credentialSubject"]
    assert subject["type"] == "BitstringStatusList" and subject["id"] == f"{LIST_URL}#list"
    assert subject["statusPurpose"] == "revocation" and subject["ttl"] == 300_000
    assert StatusBitstring.decode(subject["encodedList"])[3] == 1
    expand_safe(signed)
    two = build_status_list_credential(
        LIST_URL, ISSUER, ["revocation", "suspension"], StatusBitstring(), valid_from=NOW
    )
    assert two["credentialSubject"]["statusPurpose"] == ["revocation", "suspension"]
    assert "validUntil" not in two and "ttl" not in two["credentialSubject"]


def test_a_credential_with_both_status_channels_expands_in_safe_mode() -> None:
    credential = factories.residence_permit()
    credential["credentialStatus"] = [credential["credentialStatus"], entry(11)]
    assert credential["@context"] == [VC_V2_CONTEXT, SUIXIN_CONTEXT]
    expand_safe(credential)


@pytest.mark.parametrize(
    ("arguments", "message"),
    [
        ({"bitstring": StatusBitstring(MIN_STATUS_LIST_ENTRIES - 1)}, "herd privacy"),
        ({"purposes": []}, "statusPurpose"),
        ({"list_url": "relative/path"}, "URL"),
        ({"ttl_ms": 0}, "ttl_ms"),
        ({"valid_from": datetime(2026, 1, 1)}, "timezone-aware"),
    ],
)
def test_building_refuses_what_the_spec_forbids(arguments: dict[str, Any], message: str) -> None:
    base: dict[str, Any] = {
        "list_url": LIST_URL,
        "issuer": ISSUER,
        "purposes": "revocation",
        "bitstring": StatusBitstring(),
        "valid_from": NOW,
    }
    base.update(arguments)
    with pytest.raises(ValueError, match=message):
        build_status_list_credential(
            base.pop("list_url"),
            base.pop("issuer"),
            base.pop("purposes"),
            base.pop("bitstring"),
            **base,
        )


# --------------------------------------------------------------- validate (§3.2)


def test_check_status_reads_set_and_unset_entries() -> None:
    signed = published(revoked(94567))
    result = check_status(entry(94567), signed, KEY.public_bytes, now=NOW, issuers=[ISSUER])
    assert (result.status, result.valid, result.purpose) == (1, False, "revocation")
    assert result.message is None and result.list_entries == MIN_STATUS_LIST_ENTRIES
    assert check_status(entry(94566), signed, KEY.public_bytes, now=NOW).valid
    last = check_status(entry(MIN_STATUS_LIST_ENTRIES - 1), signed, KEY.public_bytes, now=NOW)
    assert last.to_json() == {"status": 0, "purpose": "revocation", "valid": True}


def test_one_list_may_serve_two_purposes() -> None:
    signed = published(revoked(5), ["revocation", "suspension"])
    assert not check_status(entry(5, "suspension"), signed, KEY.public_bytes, now=NOW).valid


def _tampered_list() -> dict[str, Any]:
    signed = published(revoked(10))
    signed["credentialSubject"]["encodedList"] = StatusBitstring().encode()  # un-revoke
    return signed


def _foreign_signer() -> dict[str, Any]:
    return published(method="did:web:impostor.example#key-1")


def _named_elsewhere() -> dict[str, Any]:
    return published(id="https://lasui.gz.gov.cn/status/revocation/2")


@pytest.mark.parametrize(
    ("make", "entry_args", "error", "code"),
    [
        (lambda: None, {}, StatusRetrievalError, "status_list_unavailable"),
        (
            lambda: "<html>gateway timeout</html>",
            {},
            StatusRetrievalError,
            "status_list_unavailable",
        ),
        (_tampered_list, {}, StatusVerificationError, "status_list_proof_invalid"),
        (
            lambda: published(key=OTHER_KEY),
            {},
            StatusVerificationError,
            "status_list_proof_invalid",
        ),
        (_foreign_signer, {}, StatusVerificationError, "status_list_signer_not_issuer"),
        (_named_elsewhere, {}, StatusVerificationError, "status_list_id_mismatch"),
        (
            lambda: published(),
            {"purpose": "suspension"},
            StatusVerificationError,
            "status_purpose_mismatch",
        ),
        (
            lambda: published(validUntil="2026-11-22T09:00:00Z"),
            {},
            StatusVerificationError,
            "status_list_not_current",
        ),
        (
            lambda: published(validFrom="2026-11-23T00:00:00Z"),
            {},
            StatusVerificationError,
            "status_list_not_current",
        ),
        (
            lambda: published(validFrom="tomorrow"),
            {},
            MalformedStatusValue,
            "status_list_time_invalid",
        ),
        (
            lambda: published(type=["VerifiableCredential"]),
            {},
            MalformedStatusValue,
            "status_list_credential_type",
        ),
        (lambda: published(issuer=None), {}, MalformedStatusValue, "status_list_issuer_invalid"),
        (
            lambda: published(),
            {"index": MIN_STATUS_LIST_ENTRIES},
            StatusRangeError,
            "status_list_index_out_of_range",
        ),
    ],
)
def test_check_status_raises_the_spec_errors(
    make: Any, entry_args: dict[str, Any], error: type[StatusListError], code: str
) -> None:
    with pytest.raises(error) as caught:
        check_status(entry(**entry_args), make(), KEY.public_bytes, now=NOW)
    assert caught.value.code == code
    assert caught.value.reason.zh and caught.value.reason.en
    assert caught.value.kind in caught.value.diagnostics()


def test_a_list_too_short_for_herd_privacy_is_refused() -> None:
    short = build_status_list_credential(
        LIST_URL, ISSUER, "revocation", StatusBitstring(), valid_from=NOW - timedelta(hours=1)
    )
    short["credentialSubject"]["encodedList"] = StatusBitstring(1024).encode()
    signed = sign_credential(short, KEY, METHOD, CREATED)
    with pytest.raises(StatusListLengthError) as caught:
        check_status(entry(3), signed, KEY.public_bytes, now=NOW)
    assert caught.value.problem()["type"] == (
        "https://www.w3.org/ns/credentials/status-list#STATUS_LIST_LENGTH_ERROR"
    )
    # an ecosystem may set a lower bound; then the same list is read
    assert check_status(entry(3), signed, KEY.public_bytes, now=NOW, minimum_entries=1024).valid
    # two bits per entry halve the entries of the same 16 KB: below the minimum
    with pytest.raises(StatusListLengthError):
        check_status(
            entry(
                3,
                statusSize=2,
                statusMessage=[{"status": hex(i), "message": str(i)} for i in range(4)],
            ),
            published(),
            KEY.public_bytes,
            now=NOW,
        )


def test_the_issuer_must_be_one_the_caller_accepts() -> None:
    with pytest.raises(StatusVerificationError) as caught:
        check_status(entry(), published(), KEY.public_bytes, now=NOW, issuers=["did:web:x.cn"])
    assert caught.value.code == "status_list_issuer_untrusted"


def test_errors_speak_problem_details() -> None:
    with pytest.raises(StatusRetrievalError) as caught:
        check_status(entry(), None, KEY.public_bytes, now=NOW)
    problem = caught.value.problem()
    assert problem["type"] == "https://www.w3.org/ns/credentials/status-list#STATUS_RETRIEVAL_ERROR"
    assert problem["title"] == "STATUS_RETRIEVAL_ERROR"
    assert "无法获取状态列表" in problem["detail"] and "could not be obtained" in problem["detail"]
    with pytest.raises(StatusRangeError) as out_of_range:
        check_status(entry(MIN_STATUS_LIST_ENTRIES), published(), KEY.public_bytes, now=NOW)
    assert out_of_range.value.problem_type == "https://www.w3.org/TR/vc-data-model#RANGE_ERROR"


# ------------------------------------------------------------------- anchored digests


def test_the_digest_is_domain_separated_sha256_of_the_signed_list() -> None:
    unsigned = build_status_list_credential(
        LIST_URL, ISSUER, "revocation", revoked(1), valid_from=NOW
    )
    signed, digest = sign_status_list_credential(unsigned, KEY, METHOD, CREATED)
    assert "proof" in signed and "proof" not in unsigned
    assert digest == status_list_digest(signed)
    assert digest == hashlib.sha256(b"suixin-status-list/1" + canonicalize(signed)).digest()
    assert STATUS_LIST_DIGEST_DOMAIN == b"suixin-status-list/1"
    assert digest != hashlib.sha256(canonicalize(signed)).digest()  # not a credential digest
    check_status_list_digest(signed, digest)
    check_status_list_digest(copy.deepcopy(signed), digest)  # key order is JCS's business


def test_a_tampered_or_rolled_back_list_fails_the_digest_check() -> None:
    day_one, anchored_one = sign_status_list_credential(
        build_status_list_credential(LIST_URL, ISSUER, "revocation", revoked(7), valid_from=NOW),
        KEY,
        METHOD,
        CREATED,
    )
    day_two, anchored_two = sign_status_list_credential(
        build_status_list_credential(LIST_URL, ISSUER, "revocation", revoked(7, 8), valid_from=NOW),
        KEY,
        METHOD,
        "2026-11-23T09:00:00Z",
    )
    check_status_list_digest(day_two, anchored_two)
    # rolled back: yesterday's list, honestly signed, is not the list anchored today
    with pytest.raises(StatusVerificationError) as caught:
        check_status_list_digest(day_one, anchored_two)
    assert caught.value.code == "status_list_not_anchored"
    # tampered: a bit cleared and re-signed with the issuer's own key (proof valid, digest not)
    edited = copy.deepcopy(day_two)
    del edited["proof"]
    edited["credentialSubject"]["encodedList"] = revoked(7).encode()
    resigned = sign_credential(edited, KEY, METHOD, "2026-11-23T09:00:00Z")
    assert check_status(entry(8), resigned, KEY.public_bytes, now=NOW).valid  # proof alone: fooled
    with pytest.raises(StatusVerificationError, match="anchored"):
        check_status(entry(8), resigned, KEY.public_bytes, now=NOW, anchored_digest=anchored_two)
    assert not check_status(
        entry(8), day_two, KEY.public_bytes, now=NOW, anchored_digest=anchored_two
    ).valid
    # the digest of another day does not pass either
    with pytest.raises(StatusVerificationError):
        check_status_list_digest(day_two, anchored_one)
    with pytest.raises(ValueError, match="32 bytes"):
        check_status_list_digest(day_two, anchored_two[:31])
