"""A slow, plain SM2 signer that takes k, written from GB/T 32918.2 §6.1, for known answers only.

No library lets a caller fix the nonce k, and a fixed k is what makes a signature a test
vector. This module signs with a given k in affine coordinates, with no regard for speed or
side channels: tests use it to reproduce the standard's example and the cryptosuite's vector,
and check every signature it makes with Tongsuo and GmSSL. Never sign anything real with it.
"""

from __future__ import annotations

from verifier import _sm2_curve as curve
from verifier.sm2 import SM2_DEFAULT_ID, sm2_e

Point = tuple[int, int] | None  # None is the point at infinity


def _add(p1: Point, p2: Point) -> Point:
    if p1 is None:
        return p2
    if p2 is None:
        return p1
    (x1, y1), (x2, y2) = p1, p2
    if x1 == x2 and (y1 + y2) % curve.P == 0:
        return None
    if p1 == p2:
        slope = (3 * x1 * x1 + curve.A) * pow(2 * y1, -1, curve.P)
    else:
        slope = (y2 - y1) * pow(x2 - x1, -1, curve.P)
    x3 = (slope * slope - x1 - x2) % curve.P
    return x3, (slope * (x1 - x3) - y1) % curve.P


def multiply(k: int, point: Point = (curve.GX, curve.GY)) -> Point:
    """k·point by double-and-add."""
    result: Point = None
    addend = point
    while k:
        if k & 1:
            result = _add(result, addend)
        addend = _add(addend, addend)
        k >>= 1
    return result


def public_key(d: int) -> bytes:
    """The 33-byte compressed public key d·G."""
    point = multiply(d)
    assert point is not None
    return curve.compress(*point)


def sign_with_k(d: int, message: bytes, k: int, user_id: bytes = SM2_DEFAULT_ID) -> bytes:
    """The 64-byte r ‖ s that GB/T 32918.2 §6.1 gives for private key d, message and nonce k."""
    e = int.from_bytes(sm2_e(public_key(d), message, user_id), "big")
    point = multiply(k)
    assert point is not None
    r = (e + point[0]) % curve.N
    assert r != 0 and r + k != curve.N, "this k is unusable (A5): pick another"
    s = pow(1 + d, -1, curve.N) * (k - r * d) % curve.N
    assert s != 0, "this k is unusable (A6): pick another"
    return r.to_bytes(32, "big") + s.to_bytes(32, "big")
