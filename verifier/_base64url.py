"""Strict unpadded base64url (RFC 7515 §2), decoded the one way every JWT reader here shares."""

from __future__ import annotations

import base64
import re

__all__ = ["b64url_decode"]

# the URL-safe alphabet only: no padding, no whitespace, no other character (ASCII: no other
# script's letters or digits either)
_BASE64URL = re.compile(r"[A-Za-z0-9_-]*", re.ASCII)


def b64url_decode(text: str) -> bytes:
    """The bytes of unpadded base64url ``text``. Raises ``ValueError`` for anything else: not
    a string, a character outside the URL-safe alphabet (``=`` padding included), or a length
    no encoding has (one more than a multiple of four)."""
    if not isinstance(text, str) or not _BASE64URL.fullmatch(text):
        raise ValueError("not unpadded base64url")
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))
