"""The text rule's fast path (one JSON rendering) agrees with its full walk (issue 19)."""

from __future__ import annotations

import json
import unicodedata
from typing import Any

from hypothesis import given, settings
from hypothesis import strategies as st

from verifier.credential import _text_clean, _text_errors
from verifier.interop import _clean, interop_errors

# text from the characters that matter: forbidden ones, combining marks, composables, CJK
CHARS = st.sampled_from(
    [
        *'aeA 广州\\"/',
        *("\x00", "\n", "\x1f", "\x7f", "\x85", "\u202e", "\u200b", "\ufeff"),
        *("\u0301", "\u0316", "\u1100", "\u1161", "\u212b", "\u00e9", "\ud800", "\udc00"),
    ]
)
TEXT = st.text(CHARS, max_size=6)
JSON = st.recursive(
    st.none() | st.booleans() | st.integers(-(2**60), 2**60) | TEXT,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(TEXT, inner, max_size=4),
    max_leaves=12,
)


def keys(value: Any) -> list[str]:
    if isinstance(value, dict):
        return [*value, *(k for v in value.values() for k in keys(v))]
    if isinstance(value, list):
        return [k for v in value for k in keys(v)]
    return []


def strings(value: Any) -> list[str]:
    if isinstance(value, str):
        return [value]
    if isinstance(value, dict):
        return [*value, *(s for v in value.values() for s in strings(v))]
    if isinstance(value, list):
        return [s for v in value for s in strings(v)]
    return []


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_the_fast_path_never_passes_what_the_walk_refuses(value: Any) -> None:
    errors = _text_errors(value, "")
    if _text_clean(value):
        assert errors == [], (json.dumps(value), errors)
    elif not any("\\" in s for s in strings(value)) and all(
        unicodedata.is_normalized("NFC", k) for k in keys(value)
    ):
        # only a backslash in the text, or a key not in NFC (the walk holds keys to the
        # forbidden characters alone), may raise a false alarm
        assert errors, json.dumps(value)


@settings(max_examples=400, deadline=None)
@given(JSON)
def test_the_interop_scan_agrees_with_its_full_walk(value: Any) -> None:
    if _clean(value):
        assert interop_errors(value) == []
