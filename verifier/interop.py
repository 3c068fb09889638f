"""JSON every party can read alike: no lone surrogates, no numbers past IEEE 754 doubles.

Python's ``json`` module accepts two things other parsers (and every encoder) do not:

- a string holding a lone UTF-16 surrogate, written ``"\\ud800"`` in JSON. It is no text at
  all: UTF-8 cannot encode it, so hashing, canonicalising (JCS) or storing it fails;
- an integer of any size, or ``1e400`` read as infinity. RFC 7493 (I-JSON) §2.2 asks for
  numbers an IEEE 754 double holds exactly, and JCS (RFC 8785) canonicalises no other
  (``verifier.jcs``: an integer past 2^53 counts when it is such a double, below 10^21).

``interop_errors`` finds both in a parsed value, iteratively (a deeply nested document cannot
exhaust the stack here), as field errors with stable codes; the verifier's ``format`` check and
the office's request guard use it before anything encodes the value.

``json_too_deep`` bounds nesting *before* parsing. ``json.loads`` recurses in C; it stops at
the interpreter's recursion limit, which web3's py_ecc raises to 100,000 when imported, so a
body of 100,000 ``[`` (100 KB) overflows the C stack and kills the process (SIGSEGV) instead
of raising RecursionError. Every JSON text a request carries is checked first.
"""

from __future__ import annotations

import json
import math
import re
from collections.abc import Mapping
from typing import Any

from verifier.errors import FieldError

__all__ = [
    "MAX_DIGITS",
    "MAX_JSON_DEPTH",
    "MAX_SAFE_INTEGER",
    "has_lone_surrogate",
    "interop_errors",
    "json_too_deep",
    "parse_json",
    "printable_path",
]

MAX_SAFE_INTEGER = 2**53 - 1  # RFC 7493 §2.2
_MAX_REPORTED = 20
MAX_DIGITS = 640  # far beyond any number a document needs; int() of long strings is slow


def _integer(text: str) -> int:
    if len(text.lstrip("-")) > MAX_DIGITS:
        raise ValueError(f"a number has {len(text.lstrip('-'))} digits (at most {MAX_DIGITS})")
    return int(text)


MAX_JSON_DEPTH = 64  # a credential, a presentation or a receipt nests under 10 levels
_STRING = re.compile(rb'"[^"\\]*(?:\\.[^"\\]*)*"', re.DOTALL)  # a JSON string, escapes and all
_NOT_BRACKETS = bytes(range(256)).translate(None, b"[]{}")


def json_too_deep(data: str | bytes, limit: int = MAX_JSON_DEPTH) -> bool:
    """Whether JSON ``data`` nests arrays and objects more than ``limit`` deep (strings, and
    brackets in them, are skipped); decided without parsing, in one scan."""
    raw = data.encode("utf-8", "surrogatepass") if isinstance(data, str) else data
    if raw.count(b"[") + raw.count(b"{") <= limit:  # cannot be deeper: most bodies stop here
        return False
    depth = 0
    for bracket in _STRING.sub(b"", raw).translate(None, _NOT_BRACKETS):
        depth += 1 if bracket in b"[{" else -1
        if depth > limit:
            return True
    return False


def parse_json(text: str | bytes) -> Any:
    """``json.loads`` that refuses an integer longer than ``MAX_DIGITS`` digits with a plain
    ValueError (``json.JSONDecodeError`` for what is not JSON at all)."""
    return json.loads(text, parse_int=_integer)


def has_lone_surrogate(text: str) -> bool:
    """Whether ``text`` holds a code point U+D800–U+DFFF (only a lone surrogate can)."""
    if text.isascii():
        return False
    try:
        text.encode("utf-8")  # strict UTF-8 refuses exactly the surrogates, at C speed
    except UnicodeEncodeError:
        return True
    return False


def printable_path(name: str) -> str:
    """``name`` with each lone surrogate shown as U+FFFD, fit for a message."""
    if not has_lone_surrogate(name):
        return name
    return "".join("\ufffd" if "\ud800" <= c <= "\udfff" else c for c in name)


def _surrogate(path: str) -> FieldError:
    return FieldError(
        path,
        "text_forbidden_character",
        "含有不成对的代理码位（\\uD800–\\uDFFF），不是有效文本",
        "Holds a lone surrogate (\\uD800-\\uDFFF): not valid text",
    )


def _number(path: str) -> FieldError:
    return FieldError(
        path,
        "number_out_of_range",
        "数字超出可互通的范围：须为 IEEE 754 双精度数能精确表示的有限数（RFC 7493），"
        "更大的数请写成字符串",
        "The number is not one an IEEE 754 double holds exactly (RFC 7493); write larger "
        "numbers as strings",
    )


def _exact(number: int) -> bool:
    """Whether an IEEE 754 double holds ``number`` exactly and JCS writes it in integer
    digits (ECMAScript does so below 10^21): ``10**16`` yes, ``2**53 + 1`` and ``2**256`` no."""
    if abs(number) <= MAX_SAFE_INTEGER:
        return True
    return abs(number) < 10**21 and float(number) == number


def _clean(value: Any) -> bool:
    """Whether ``value`` holds no lone surrogate and no number past IEEE 754 doubles: the
    common case, answered without building a path for every node."""
    stack = [value]
    while stack:
        node = stack.pop()
        kind = type(node)
        if kind is str:
            if not node.isascii() and has_lone_surrogate(node):
                return False
        elif kind is dict:
            for key in node:
                if type(key) is not str or (not key.isascii() and has_lone_surrogate(key)):
                    return False
            stack.extend(node.values())
        elif kind is list:
            stack.extend(node)
        elif kind is int:
            if not -MAX_SAFE_INTEGER <= node <= MAX_SAFE_INTEGER:
                return False
        elif kind is float:
            if not math.isfinite(node):
                return False
        elif node is None or kind is bool:
            continue
        else:
            return False  # another type (a Mapping, a subclass): the full walk decides
    return True


def interop_errors(value: Any, path: str = "") -> list[FieldError]:
    """Lone surrogates (``text_forbidden_character``) and numbers past IEEE 754 doubles
    (``number_out_of_range``) in ``value``, with their paths (at most twenty)."""
    if _clean(value):
        return []
    errors: list[FieldError] = []
    stack: list[tuple[Any, str]] = [(value, path)]
    while stack and len(errors) < _MAX_REPORTED:
        node, at = stack.pop()
        if isinstance(node, str):
            if has_lone_surrogate(node):
                errors.append(_surrogate(at))
        elif isinstance(node, bool):
            continue
        elif isinstance(node, int):
            if not _exact(node):
                errors.append(_number(at))
        elif isinstance(node, float):
            if not math.isfinite(node):
                errors.append(_number(at))
        elif isinstance(node, Mapping):
            children = []
            for key, item in node.items():
                name = str(key)
                child = f"{at}.{printable_path(name)}" if at else printable_path(name)
                if has_lone_surrogate(name):
                    errors.append(_surrogate(child))
                children.append((item, child))
            stack.extend(reversed(children))
        elif isinstance(node, list):
            stack.extend((item, f"{at}[{i}]") for i, item in reversed(list(enumerate(node))))
    return errors[:_MAX_REPORTED]
