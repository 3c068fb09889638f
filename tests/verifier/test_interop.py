"""``verifier.interop.json_too_deep``: nesting bounded before parsing, strings skipped."""

from __future__ import annotations

import json

import pytest

from verifier.interop import MAX_JSON_DEPTH, json_too_deep


def nested(depth: int) -> str:
    return "[" * depth + "]" * depth


@pytest.mark.parametrize(
    ("text", "deep"),
    [
        (nested(MAX_JSON_DEPTH), False),
        (nested(MAX_JSON_DEPTH + 1), True),
        ('{"a":' * (MAX_JSON_DEPTH + 1) + "1" + "}" * (MAX_JSON_DEPTH + 1), True),
        ("[" * 100_000, True),  # unbalanced, as an attacker sends it
        (json.dumps({"text": "[" * 10_000}), False),  # brackets in a string do not nest
        (json.dumps(["\\", "[" * 100]), False),  # an escaped backslash ends no string early
        (json.dumps(['"[' * 100]), False),  # nor does an escaped quote
        (json.dumps([[i] for i in range(10_000)]), False),  # many brackets, two levels
    ],
)
def test_depth_is_judged_without_parsing(text: str, deep: bool) -> None:
    assert json_too_deep(text) is deep
    assert json_too_deep(text.encode()) is deep
