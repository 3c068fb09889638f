"""Tests for verifier.jcs: RFC 8785 canonical bytes and their digest."""

from __future__ import annotations

import hashlib
import json
from pathlib import Path
from typing import Any

import pytest
import rfc8785
from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.errors import InvalidInput
from verifier.jcs import canonicalize, digest

VECTORS = Path(__file__).parent / "data" / "w3c-eddsa-jcs-2022"

json_values = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1)
    | st.floats(allow_nan=False, allow_infinity=False)
    | st.text(),
    lambda children: (
        st.lists(children, max_size=4) | st.dictionaries(st.text(max_size=8), children, max_size=4)
    ),
    max_leaves=20,
)


def test_rfc8785_sorts_keys_by_utf16_code_units() -> None:
    # RFC 8785 §3.2.3 sorting example: U+1F600 (a surrogate pair) sorts before U+FB33.
    obj = {
        "\u20ac": "Euro Sign",
        "\r": "Carriage Return",
        "\ufb33": "Hebrew Letter Dalet With Dagesh",
        "1": "One",
        "\U0001f600": "Emoji: Grinning Face",
        "\u0080": "Control",
        "\u00f6": "Latin Small Letter O With Diaeresis",
    }
    values = list(json.loads(canonicalize(obj)).values())
    assert values == [
        "Carriage Return",
        "One",
        "Control",
        "Latin Small Letter O With Diaeresis",
        "Euro Sign",
        "Emoji: Grinning Face",
        "Hebrew Letter Dalet With Dagesh",
    ]


def test_rfc8785_number_and_string_forms() -> None:
    # RFC 8785 §3.2.2 example values; non-ASCII stays raw UTF-8, controls are escaped.
    obj = {"numbers": [333333333.33333329, 1e30, 4.50, 2e-3, 0.000000000000000000000000001]}
    assert canonicalize(obj) == b'{"numbers":[333333333.3333333,1e+30,4.5,0.002,1e-27]}'
    assert canonicalize({"s": '€$\u000f\nA\'B"\\\\"/'}) == (
        '{"s":"€$\\u000f\\nA\'B\\"\\\\\\\\\\"/"}'.encode()
    )
    assert canonicalize({"姓名": "张三"}) == '{"姓名":"张三"}'.encode()


def test_w3c_unsigned_credential_canonical_form_and_hash() -> None:
    unsigned = json.loads((VECTORS / "unsigned.json").read_text())
    assert canonicalize(unsigned) == (VECTORS / "canonDocJCS.txt").read_bytes()
    assert digest(unsigned).hex() == (VECTORS / "docHashJCS.txt").read_text().strip()


@pytest.mark.parametrize(
    ("value", "fragment"),
    [
        (float("nan"), "NaN and infinite"),
        (float("inf"), "NaN and infinite"),
        ({"a": [float("-inf")]}, "NaN and infinite"),
        (2**53 + 1, "encode it as a string"),
        ({"a": [10**400]}, "encode it as a string"),
        ({1: "x"}, "keys must be strings"),
        (b"bytes", "unsupported type"),
        ({"a": {1, 2}}, "unsupported type"),
        ("\ud800", "non-UTF-8"),
        ({"\udc00": 1}, "lone surrogate"),
    ],
)
def test_values_without_canonical_form_raise_invalid_input(value: Any, fragment: str) -> None:
    with pytest.raises(InvalidInput, match="cannot canonicalize JSON") as info:
        canonicalize(value)
    assert fragment in str(info.value)
    with pytest.raises(InvalidInput):
        digest(value)


def test_deep_nesting_raises_invalid_input_not_recursion_error() -> None:
    deep: list[Any] = []
    for _ in range(100_000):
        deep = [deep]
    with pytest.raises(InvalidInput, match="nested too deeply"):
        canonicalize(deep)


@given(json_values)
def test_canonical_bytes_are_a_fixed_point(value: Any) -> None:
    once = canonicalize(value)
    assert canonicalize(json.loads(once)) == once
    assert digest(value) == hashlib.sha256(once).digest()


@given(st.dictionaries(st.text(max_size=8), json_values, max_size=8))
def test_key_insertion_order_does_not_change_the_bytes(obj: dict[str, Any]) -> None:
    reversed_obj = dict(reversed(list(obj.items())))
    assert canonicalize(reversed_obj) == canonicalize(obj)
    assert digest(reversed_obj) == digest(obj)


def test_large_integers_that_are_exact_doubles_canonicalize_like_javascript() -> None:
    # json.loads("1e16") is a float but json.loads("10000000000000000") is an int; both are the
    # same JSON number, so both must give the same bytes (or a verifier could not re-check).
    assert canonicalize({"n": 10**16}) == b'{"n":10000000000000000}'
    assert canonicalize({"n": 1e16}) == canonicalize(json.loads('{"n": 10000000000000000}'))
    assert canonicalize([-1152921504606847000]) == b"[-1152921504606847000]"
    with pytest.raises(InvalidInput, match="encode it as a string"):
        canonicalize([2**60])  # JCS would write 1152921504606847000: a different integer


any_text = st.text(st.characters(exclude_categories=()), max_size=6)  # includes lone surrogates
wide_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(min_value=-(2**54), max_value=2**54)
    | st.floats()
    | any_text
    | st.sampled_from(["\U0001f600", "\ufb33", "\u20ac", "\x7f", "\u2028", "\x00\x1f"]),
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(
            any_text | st.sampled_from(["\U0001f600", "\ufb33", "\ue000", "a"]),
            children,
            max_size=5,
        )
    ),
    max_leaves=25,
)


@settings(max_examples=400)
@given(wide_json)
def test_fast_path_agrees_with_the_rfc8785_reference(value: Any) -> None:
    try:
        expected = rfc8785.dumps(value)
    except rfc8785.IntegerDomainError:
        # Integers beyond 2**53 - 1: accepted only when JCS would write them unchanged.
        try:
            result = canonicalize(value)
        except InvalidInput:
            return
        assert canonicalize(json.loads(result)) == result
        return
    except (rfc8785.CanonicalizationError, UnicodeError, RecursionError):
        with pytest.raises(InvalidInput, match="cannot canonicalize JSON"):
            canonicalize(value)
        return
    assert canonicalize(value) == expected


# Every BMP character but the surrogates, controls and the characters around the escapes most
# often: what the compiled fast path must write exactly as RFC 8785 does.
bmp_text = st.text(
    st.characters(max_codepoint=0xFFFF, exclude_categories=("Cs",))
    | st.sampled_from(list('\x00\x08\t\n\x0b\x0c\r\x1f"\\/\x7f\x80\u2028\u2029\ufeff\uffff')),
    max_size=12,
)
plain_json = st.recursive(
    st.none() | st.booleans() | st.integers(min_value=-(2**53) + 1, max_value=2**53 - 1) | bmp_text,
    lambda children: (
        st.lists(children, max_size=4)
        | st.tuples(children, children)
        | st.dictionaries(bmp_text, children, max_size=6)
    ),
    max_leaves=30,
)


@settings(max_examples=600)
@given(plain_json)
def test_the_compiled_fast_path_writes_exactly_the_rfc8785_bytes(value: Any) -> None:
    from verifier.jcs import _compiled, _plain

    assert _plain(value)  # the strategy stays on the fast path: it is what is under test
    assert _compiled(value) == rfc8785.dumps(value)
    assert canonicalize(value) == rfc8785.dumps(value)


@pytest.mark.parametrize(
    ("value", "expected"),
    [
        ({"n": 1.0}, b'{"n":1}'),  # orjson writes 1.0
        ({"n": float("nan")}, None),  # orjson writes null; JCS has no NaN
        ({"\U0001f600": 1, "\ue000": 2}, b'{"\xf0\x9f\x98\x80":1,"\xee\x80\x80":2}'),  # UTF-16
        ({"n": 2**53}, b'{"n":9007199254740992}'),  # past the safe integers, an exact double
        ({"s": "\ud800"}, None),  # a lone surrogate
        ({1: "a non-string key"}, None),
    ],
)
def test_what_the_compiled_encoder_writes_otherwise_never_takes_the_fast_path(
    value: Any, expected: bytes | None
) -> None:
    from verifier.jcs import _compiled, _plain

    if _plain(value):  # only a lone surrogate gets past _plain, and orjson refuses it
        with pytest.raises(TypeError):
            _compiled(value)
    if expected is None:
        with pytest.raises(InvalidInput, match="cannot canonicalize JSON"):
            canonicalize(value)
    else:
        assert canonicalize(value) == expected


def test_cyclic_values_raise_invalid_input() -> None:
    cycle: list[Any] = []
    cycle.append(cycle)
    with pytest.raises(InvalidInput):
        canonicalize({"a": cycle})


# --- CanonicalSplit: one canonicalization, with and without a member ------------------------

_json_values = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**53) + 1, 2**53 - 1) | st.text(max_size=8),
    lambda inner: (
        st.lists(inner, max_size=3) | st.dictionaries(st.text(max_size=5), inner, max_size=3)
    ),
    max_leaves=10,
)


@given(
    st.dictionaries(st.text(max_size=6), _json_values, max_size=8),
    st.sampled_from(["proof", "a", "", "zz", "\u00e9", "\U0001f600", "proof2"]),
    _json_values,
    st.booleans(),
)
def test_canonical_split_equals_canonicalize_with_and_without_the_member(
    obj: dict[str, object], key: str, value: object, present: bool
) -> None:
    from verifier.jcs import CanonicalSplit

    obj = {k: v for k, v in obj.items() if k != key}
    if present:
        obj[key] = value
    split = CanonicalSplit(obj, key)
    assert split.whole == canonicalize(obj)
    assert split.without == canonicalize({k: v for k, v in obj.items() if k != key})
