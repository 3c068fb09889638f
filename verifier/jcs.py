"""RFC 8785 JSON Canonicalization Scheme (JCS) bytes and their SHA-256 digest."""

from __future__ import annotations

import hashlib
import json
import json.encoder
import math
from collections.abc import Callable, Iterable, Mapping
from typing import Any, cast

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
        # Fast path: for these values the C JSON encoder writes exactly the JCS bytes.
        text = _dumps(obj)
        try:
            return text.encode("utf-8")
        except UnicodeEncodeError:
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
        rest = {k: v for k, v in obj.items() if k != key}
        if _plain(obj):  # one walk proves every part plain: the C encoder writes each one
            try:
                without = _dumps(rest)
                whole = _splice(without, rest, key, obj[key]) if key in obj else without
                self.without = without.encode("utf-8")
                self.whole = whole.encode("utf-8")
                return
            except UnicodeEncodeError:
                pass  # a lone surrogate: canonicalize names the error below
        self.without = canonicalize(rest)
        self.whole = with_member(self.without, rest, key, obj[key]) if key in obj else self.without


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


def _splice(without: str, rest: Mapping[str, Any], key: str, value: Any) -> str:
    """``_dumps({**rest, key: value})`` from ``without`` = ``_dumps(rest)``, for plain values
    with BMP keys (code point order is UTF-16 order there): only the member and the members
    sorting after it are encoded again."""
    member = _dumps({key: value})[1:-1]
    after = {k: v for k, v in rest.items() if k > key}
    tail = _dumps(after)[1:-1] if after else ""
    if tail:
        cut = len(without) - 1 - len(tail)
        head = without[1 : cut - 1] if cut > 1 else ""
    else:
        head = without[1:-1]
    return "{" + ",".join(p for p in (head, member, tail) if p) + "}"


def digest(obj: object) -> bytes:
    """Return the 32-byte SHA-256 of ``canonicalize(obj)``; raises ``InvalidInput`` like it."""
    return hashlib.sha256(canonicalize(obj)).digest()


_SAFE = 2**53 - 1
_MAX_DEPTH = 200
_ENCODER = json.JSONEncoder(
    ensure_ascii=False, allow_nan=False, sort_keys=True, separators=(",", ":")
)


def _make_dumps() -> Callable[[object], str]:
    """``_ENCODER.encode`` for values ``_plain`` accepts, with CPython's C encoder made once.

    ``JSONEncoder.encode`` builds a new C encoder and a dict of the containers it has seen (to
    catch cycles) on every call. ``_plain`` has already proved the value a finite tree, so the
    encoder is built once, without that dict. A Hypothesis test holds the result to rfc8785.
    """
    make = json.encoder.c_make_encoder  # type: ignore[attr-defined]
    if make is None:  # no C accelerator (another interpreter): the plain encoder
        return _ENCODER.encode
    encoder = make(
        None, _ENCODER.default, json.encoder.encode_basestring, None, ":", ",", True, False, False
    )
    join = "".join

    def dumps(obj: object) -> str:
        return join(encoder(obj, 0))

    return dumps


_dumps = _make_dumps()


def _plain(obj: object) -> bool:
    """Whether ``json.dumps`` gives the JCS form of ``obj``.

    True for trees of dicts with string keys of the Basic Multilingual Plane (where code point
    order is UTF-16 order), lists, strings, booleans, None and integers within ±(2**53 - 1).
    Its string escapes are those of RFC 8785 §3.2.2.2. Floats (ECMAScript number form), larger
    integers, subclasses, non-BMP keys and trees deeper than ``_MAX_DEPTH`` (or cyclic) take
    the rfc8785 path. Iterative, so hostile nesting cannot exhaust the C stack.
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
