"""The request guard's byte scans: the fast long-number search finds what the plain pattern does."""

from __future__ import annotations

import re

from hypothesis import given, settings
from hypothesis import strategies as st

from service.api.guard import _check_json, _long_number_at
from verifier.interop import MAX_DIGITS

_PLAIN = re.compile(rb"[0-9]{%d}" % (MAX_DIGITS + 1))  # the rule, tried at every position

# bodies made of digit runs around the limit's length and other bytes between them
_runs = st.lists(
    st.one_of(
        st.integers(0, MAX_DIGITS + 3).map(lambda n: b"7" * n),
        st.binary(max_size=6),
        st.sampled_from([b'"', b"0x", b"-", b"a", b" ", "٩".encode(), b"\xef\xbc\x99"]),
    ),
    max_size=12,
).map(b"".join)


@settings(max_examples=300)
@given(_runs)
def test_the_long_number_scan_matches_the_plain_pattern(body: bytes) -> None:
    plain = _PLAIN.search(body)
    assert _long_number_at(body) == (plain.start() if plain is not None else -1)


def test_a_number_one_digit_past_the_limit_is_refused_and_one_at_it_is_not() -> None:
    at_limit = b'{"hash": "0x' + b"1" * 64 + b'", "n": ' + b"9" * MAX_DIGITS + b"}"
    past = b'{"hash": "0x' + b"1" * 64 + b'", "n": ' + b"9" * (MAX_DIGITS + 1) + b"}"
    assert _check_json(at_limit) is None
    problem = _check_json(past)
    assert problem is not None and problem.extra["code"] == "number_too_long"
