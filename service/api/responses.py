"""JSON responses rendered by orjson: the bytes Starlette's ``JSONResponse`` writes, faster.

Starlette renders with ``json.dumps(ensure_ascii=False, allow_nan=False, separators=(",",
":"))``: 22 µs for a verification report, where orjson takes under 2 µs. For what the hot
routes answer (reports and bundles: dicts, lists, strings, integers, booleans, None) both write
the same bytes, which a test holds. Anything else, a float above all (orjson's shortest form is
not Python's ``repr``, and it writes NaN as ``null`` where Starlette refuses it), or anything
orjson refuses (an integer past 64 bits, a non-string key), is rendered by Starlette itself.
"""

from __future__ import annotations

from typing import Any

import orjson
from starlette.responses import JSONResponse

__all__ = ["FastJSONResponse"]


def _floatless(content: Any) -> bool:
    """Whether ``content`` holds no float (iteratively; a response is a small tree)."""
    stack = [content]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is dict:
            stack.extend(node.values())
        elif kind is list or kind is tuple:
            stack.extend(node)
        elif kind is float:
            return False
    return True


class FastJSONResponse(JSONResponse):
    """``JSONResponse`` with the same bytes, rendered by orjson when they are surely the same."""

    def render(self, content: Any) -> bytes:
        if _floatless(content):
            try:
                return orjson.dumps(content)
            except TypeError:
                pass  # orjson refuses it: Starlette renders it, or says why not
        return super().render(content)
