"""RFC 8785 JSON Canonicalization Scheme (JCS) bytes and their SHA-256 digest."""

from __future__ import annotations

import hashlib
import math
from collections.abc import Iterable, Mapping
from typing import Any, cast

import orjson
import rfc8785

from verifier.errors import InvalidInput

__all__ = ["CanonicalSplit", "canonicalize", "digest", "with_member"]


def canonicalize(obj: object) -> bytes:
    """Return the RFC 8785 canonical UTF-8 bytes of a JSON value.

    JSON numbers are IEEE 754 doubles, so an integer beyond ±(2**53 - 1) is accepted when it
    is exactly what JCS writes for a double (``10**16`` stays ``10000000000000000``). This
    matters because ``json.loads`` reads the JCS form of a large float such as ``1e16`` back
    as an ``int``, and a verifier must reach the same bytes as the signer.

    Raises ``InvalidInput`` when the value has no canonical form: NaN or infinite floats,
    integers that would change on the way to a double (``2**53 + 1``), non-string object
    keys, lone surrogates in strings, values that are not JSON types (bytes, sets, dates…),
    or nesting too deep to walk.
    """
    if _plain(obj):
        # Fast path: for these values the compiled encoder writes exactly the JCS bytes.
        try:
            return _compiled(obj)
        except orjson.JSONEncodeError:
            pass  # a lone surrogate: let rfc8785 name the error below
    try:
        try:
            return rfc8785.dumps(cast(Any, obj))
        except rfc8785.IntegerDomainError:
            # Rare: retry with large integers as the doubles they stand for.
            return rfc8785.dumps(cast(Any, _large_ints_as_floats(obj)))
    except rfc8785.FloatDomainError as e:
        raise InvalidInput(
            f"cannot canonicalize JSON: {e} (NaN and infinite numbers are not allowed in JSON)"
        ) from e
    except rfc8785.CanonicalizationError as e:
        raise InvalidInput(f"cannot canonicalize JSON: {e}") from e
    except UnicodeError as e:  # rfc8785 lets this escape for a lone surrogate in a key
        raise InvalidInput(
            "cannot canonicalize JSON: an object key contains a lone surrogate (not UTF-8)"
        ) from e
    except RecursionError as e:
        raise InvalidInput("cannot canonicalize JSON: the value is nested too deeply") from e


class CanonicalSplit:
    """A JSON object's JCS bytes with and without one of its members, for about the cost of one
    canonicalization (a signed credential: the document without ``proof`` is what was signed,
    the whole is what a Merkle leaf commits to).

    JCS writes an object as ``{`` + its members ``"key":value`` in UTF-16 order of the keys,
    joined by commas, + ``}``, each member's bytes independent of the others. ``without`` is
    ``canonicalize`` of the object less ``key``; ``whole``, exactly ``canonicalize(obj)``, splices
    ``key``'s member into it. Raises ``InvalidInput`` like ``canonicalize``.
    """

    __slots__ = ("whole", "without")

    def __init__(self, obj: Mapping[str, Any], key: str) -> None:
        fast = _compiled_split(obj, key)
        if fast is not None:
            self.without, self.whole = fast
            return
        rest = {k: v for k, v in obj.items() if k != key}
        self.without = canonicalize(rest)
        self.whole = with_member(self.without, rest, key, obj[key]) if key in obj else self.without

    @classmethod
    def _of(cls, without: bytes, whole: bytes) -> CanonicalSplit:
        """The split whose parts ``_compiled_split`` already made."""
        split = cls.__new__(cls)
        split.without, split.whole = without, whole
        return split


def _compiled_split(obj: Mapping[str, Any], key: str) -> tuple[bytes, bytes] | None:
    """``CanonicalSplit``'s two parts from the compiled encoder, or None when ``obj`` is not
    plain (``_plain``) or holds a lone surrogate: then ``canonicalize`` must decide. A success
    also says that ``obj`` holds only JSON types, integers within ±(2**53 - 1) and text with
    no lone surrogate (what ``verifier.interop`` asks of a document)."""
    if not _plain(obj):
        return None
    rest = {k: v for k, v in obj.items() if k != key}
    try:
        without = _compiled(rest)
        return without, (_compiled(obj) if key in obj else without)
    except orjson.JSONEncodeError:
        return None  # a lone surrogate


def with_member(canonical: bytes, obj: Mapping[str, Any], key: str, value: Any) -> bytes:
    """``canonicalize({**obj, key: value})`` from ``canonical`` = ``canonicalize(obj)``, without
    canonicalizing ``obj`` again (``obj`` must not hold ``key``). Raises ``InvalidInput`` like
    ``canonicalize``."""
    member = canonicalize({key: value})[1:-1]
    pivot = key.encode("utf-16-be")
    # The members sorting after ``key`` end ``canonical``; canonicalized alone (in a credential
    # they are few and small) they say where ``key``'s member goes.
    after = {k: v for k, v in obj.items() if k.encode("utf-16-be") > pivot}
    tail = canonicalize(after)[1:-1] if after else b""
    if tail:
        cut = len(canonical) - 1 - len(tail)
        head = canonical[1 : cut - 1] if cut > 1 else b""
    else:
        head = canonical[1:-1]
    return b"{" + b",".join(p for p in (head, member, tail) if p) + b"}"


def digest(obj: object) -> bytes:
    """Return the 32-byte SHA-256 of ``canonicalize(obj)``; raises ``InvalidInput`` like it."""
    return hashlib.sha256(canonicalize(obj)).digest()


_SAFE = 2**53 - 1
_MAX_DEPTH = 200
_OPTIONS = orjson.OPT_SORT_KEYS | orjson.OPT_STRICT_INTEGER | orjson.OPT_PASSTHROUGH_SUBCLASS


def _compiled(obj: object) -> bytes:
    """The JCS bytes of a value ``_plain`` accepts, from orjson (compiled): keys sorted, no
    whitespace, strings as UTF-8 with the escapes of RFC 8785 §3.2.2.2 (the short forms for
    backspace, tab, newline, form feed, carriage return, quotation mark and backslash, other
    controls as lower-case ``\\u00xx``, every other character as itself). ``_plain`` has ruled
    out what orjson writes otherwise than JCS: floats (orjson's shortest form is not
    ECMAScript's, and NaN becomes ``null``), keys outside the Basic Multilingual Plane (orjson
    sorts by code point, JCS by UTF-16 unit), integers past 2**53 - 1 and subclasses. Raises
    ``orjson.JSONEncodeError`` for a lone surrogate (it has no UTF-8).
    Hypothesis tests hold it to the ``rfc8785`` package."""
    return orjson.dumps(obj, option=_OPTIONS)


def _plain(obj: object) -> bool:
    """Whether the compiled encoder (``_compiled``) gives the JCS form of ``obj``.

    True for trees of dicts with string keys of the Basic Multilingual Plane (where code point
    order is UTF-16 order), lists, strings, booleans, None and integers within ±(2**53 - 1),
    for which ``_compiled`` writes the JCS bytes (a lone surrogate aside, which it refuses).
    Floats (ECMAScript number form), larger integers, subclasses, non-BMP keys and trees deeper
    than ``_MAX_DEPTH`` (or cyclic) take the rfc8785 path. Iterative, so hostile nesting
    cannot exhaust the C stack.
    """
    stack: list[tuple[object, int]] = [(obj, 0)]
    pop = stack.pop
    push = stack.append
    while stack:
        item, depth = pop()
        if depth >= _MAX_DEPTH:
            return False
        kind = type(item)
        values: Iterable[object]
        if kind is dict:
            for key in item:  # type: ignore[attr-defined]
                if type(key) is not str or (not key.isascii() and max(key) > "\uffff"):
                    return False
            values = item.values()  # type: ignore[attr-defined]
        elif kind is list or kind is tuple:
            values = item  # type: ignore[assignment]
        else:
            return _plain_leaf(item)
        for value in values:
            leaf = type(value)
            if leaf is str or leaf is bool or value is None:
                continue
            if leaf is int:
                if not -_SAFE <= value <= _SAFE:  # type: ignore[operator]
                    return False
                continue
            if leaf is dict or leaf is list or leaf is tuple:
                push((value, depth + 1))
                continue
            return False
    return True


def _plain_leaf(item: object) -> bool:
    kind = type(item)
    if kind is str or kind is bool or item is None:
        return True
    return kind is int and -_SAFE <= item <= _SAFE  # type: ignore[operator]


def _large_ints_as_floats(obj: object) -> object:
    if isinstance(obj, dict):
        return {k: _large_ints_as_floats(v) for k, v in obj.items()}
    if isinstance(obj, list | tuple):
        return [_large_ints_as_floats(v) for v in obj]
    if isinstance(obj, int) and not isinstance(obj, bool) and not -_SAFE <= obj <= _SAFE:
        try:
            as_float = float(obj)
        except OverflowError:
            as_float = float("inf")
        # Accept only integers already written as JavaScript would write their double, so
        # that canonicalizing never silently changes a value.
        if math.isinf(as_float) or rfc8785.dumps(as_float) != str(obj).encode():
            raise InvalidInput(
                f"cannot canonicalize JSON: the integer {obj} is not exactly a JSON number "
                "(an IEEE 754 double in shortest form); encode it as a string"
            )
        return as_float
    return obj
