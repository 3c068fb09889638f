"""FastJSONResponse writes exactly the bytes of Starlette's JSONResponse, or lets it write them."""

from __future__ import annotations

from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from starlette.responses import JSONResponse

from service.api.responses import FastJSONResponse

_text = st.text(
    st.characters(max_codepoint=0x10FFFF, exclude_categories=("Cs",))
    | st.sampled_from(list('\x00\x1f\x7f\u2028\ufeff"\\/\n\t')),
    max_size=10,
)
_json = st.recursive(
    st.none()
    | st.booleans()
    | st.integers(-(2**70), 2**70)  # past 64 bits too: orjson refuses, Starlette writes them
    | st.floats(allow_nan=False, allow_infinity=False)
    | _text,
    lambda inner: st.lists(inner, max_size=4) | st.dictionaries(_text, inner, max_size=5),
    max_leaves=25,
)


@settings(max_examples=400)
@given(_json)
def test_the_bytes_are_starlettes(content: Any) -> None:
    assert FastJSONResponse(content).body == JSONResponse(content).body


@pytest.mark.parametrize(
    "content",
    [
        {"n": float("nan")},  # Starlette refuses NaN; orjson would write null
        {"s": "\ud800"},  # a lone surrogate: no UTF-8
    ],
)
def test_what_starlette_refuses_is_still_refused(content: Any) -> None:
    with pytest.raises(ValueError):
        JSONResponse(content)
    with pytest.raises(ValueError):
        FastJSONResponse(content)


def test_headers_and_status_are_starlettes() -> None:
    fast = FastJSONResponse({"a": 1}, status_code=201, headers={"Location": "/x"})
    slow = JSONResponse({"a": 1}, status_code=201, headers={"Location": "/x"})
    assert fast.status_code == slow.status_code == 201
    assert fast.raw_headers == slow.raw_headers
