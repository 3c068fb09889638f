"""The SM2 recommended curve's parameters (GB/T 32918.5) and point decoding, in plain integers.

Shared by ``keys`` (to check a Multikey holds a point on the curve) and ``sm2`` (for the Z
value, which hashes the curve and the public key's affine coordinates). Nothing here is secret
or constant-time: it handles public keys only.
"""

from __future__ import annotations

#: Prime of the field.
P = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_FFFFFFFF_00000000_FFFFFFFF_FFFFFFFF
#: Coefficients of y² = x³ + ax + b.
A = P - 3
B = 0x28E9FA9E_9D9F5E34_4D5A9E4B_CF6509A7_F39789F5_15AB8F92_DDBCBD41_4D940E93
#: Order of the base point (the cofactor is 1, so every point on the curve is in its group).
N = 0xFFFFFFFE_FFFFFFFF_FFFFFFFF_FFFFFFFF_7203DF6B_21C6052B_53BBF409_39D54123
#: The base point G.
GX = 0x32C4AE2C_1F198119_5F990446_6A39C994_8FE30BBF_F2660BE1_715A4589_334C74C7
GY = 0xBC3736A2_F4F6779C_59BDCEE3_6B692153_D0A9877C_C62A4740_02DF32E5_2139F0A0

COORDINATE_SIZE = 32
COMPRESSED_SIZE = 1 + COORDINATE_SIZE
UNCOMPRESSED_SIZE = 1 + 2 * COORDINATE_SIZE


def point_coordinates(encoded: bytes) -> tuple[int, int]:
    """The affine (x, y) of an SEC 1 / GB/T 32918.1 §4.2.9 encoded point on the curve.

    Takes the compressed form (``02``/``03`` ‖ x, 33 bytes) or the uncompressed form (``04`` ‖
    x ‖ y, 65 bytes). Raises ``ValueError`` saying what is wrong for any other length or first
    byte, a coordinate not below p, or a point that is not on the curve.
    """
    if not isinstance(encoded, bytes):
        raise ValueError(f"an SM2 point is bytes, not {type(encoded).__name__}")
    size = len(encoded)
    first = encoded[:1]
    if size == COMPRESSED_SIZE and first in (b"\x02", b"\x03"):
        x = int.from_bytes(encoded[1:], "big")
        if x >= P:
            raise ValueError("the point's x coordinate is not below the field prime")
        rhs = (pow(x, 3, P) + A * x + B) % P
        y = pow(rhs, (P + 1) // 4, P)  # p ≡ 3 (mod 4): the square root, if there is one
        if y * y % P != rhs:
            raise ValueError("no point on the SM2 curve has this x coordinate")
        if y & 1 != encoded[0] & 1:
            y = P - y
        return x, y
    if size == UNCOMPRESSED_SIZE and first == b"\x04":
        x = int.from_bytes(encoded[1:33], "big")
        y = int.from_bytes(encoded[33:], "big")
        if x >= P or y >= P:
            raise ValueError("a coordinate of the point is not below the field prime")
        if (y * y - pow(x, 3, P) - A * x - B) % P:
            raise ValueError("the point is not on the SM2 curve")
        return x, y
    raise ValueError(
        f"an SM2 public key is a 33-byte compressed point (02/03 ‖ x) or a 65-byte "
        f"uncompressed one (04 ‖ x ‖ y); got {size} bytes starting 0x{first.hex() or '(none)'}"
    )


def compress(x: int, y: int) -> bytes:
    """The 33-byte compressed encoding of the point (x, y)."""
    return bytes([2 | (y & 1)]) + x.to_bytes(COORDINATE_SIZE, "big")
