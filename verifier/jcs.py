"""RFC 8785 JSON Canonicalization Scheme (JCS) bytes and their SHA-256 digest."""

from __future__ import annotations

import hashlib
import math
from typing import Any, cast

import rfc8785

from verifier.errors import InvalidInput

__all__ = ["canonicalize", "digest"]


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
    except RecursionError as e:
        raise InvalidInput("cannot canonicalize JSON: the value is nested too deeply") from e


def digest(obj: object) -> bytes:
    """Return the 32-byte SHA-256 of ``canonicalize(obj)``; raises ``InvalidInput`` like it."""
    return hashlib.sha256(canonicalize(obj)).digest()


_SAFE = 2**53 - 1


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
