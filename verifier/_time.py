"""Timestamps as credentials and receipts write them (XML Schema dateTime with an offset)."""

from __future__ import annotations

from datetime import datetime

__all__ = ["parse_timestamp"]


def parse_timestamp(value: object) -> datetime | None:
    """The aware datetime ``value`` names (``…Z`` or ``…+08:00``), or None when it is not a
    string, not a date-time, or has no offset (a naive time is no instant)."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return parsed if parsed.tzinfo is not None else None
