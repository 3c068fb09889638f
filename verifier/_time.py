"""Timestamps as credentials and receipts write them (XML Schema dateTime with an offset).

Only instants between ``EARLIEST`` and ``LATEST`` (UTC) count as timestamps here: a credential
dated in year 9999 with an offset west of UTC lies past the last instant Python's datetime can
hold once converted, and nothing honest needs a date outside 1900–2999.
"""

from __future__ import annotations

import re
from datetime import UTC, datetime

__all__ = [
    "DATE_TIME",
    "EARLIEST",
    "LATEST",
    "TimestampRefused",
    "in_range",
    "parse_timestamp",
    "rfc3339",
]

# RFC 3339 §5.6 ``date-time`` with an offset (the profile XML Schema and the VC data model
# use): 2026-11-21T00:00:00Z, 2026-11-21T08:00:00.5+08:00
DATE_TIME = re.compile(
    r"^\d{4}-\d{2}-\d{2}T\d{2}:\d{2}:\d{2}(\.\d+)?(Z|[+-]([01]\d|2[0-3]):[0-5]\d)$", re.ASCII
)

EARLIEST = datetime(1900, 1, 1, tzinfo=UTC)
LATEST = datetime(2999, 12, 31, 23, 59, 59, tzinfo=UTC)


def in_range(value: datetime) -> bool:
    """Whether an aware ``value`` lies between ``EARLIEST`` and ``LATEST``."""
    try:
        return EARLIEST <= value.astimezone(UTC) <= LATEST
    except OverflowError:  # 9999-12-31T23:59:59-12:00 and the like
        return False


def parse_timestamp(value: object) -> datetime | None:
    """The aware datetime ``value`` names (``…Z`` or ``…+08:00``), or None when it is not a
    string, not a date-time, has no offset (a naive time is no instant), or lies outside
    ``EARLIEST``–``LATEST``."""
    if not isinstance(value, str):
        return None
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    if parsed.tzinfo is None or not in_range(parsed):
        return None
    return parsed


class TimestampRefused(ValueError):
    """A value that is no usable timestamp; ``code`` says why (``field_datetime_invalid``:
    not an RFC 3339 date-time with an offset; ``field_datetime_out_of_range``: outside
    ``EARLIEST``–``LATEST``)."""

    def __init__(self, code: str) -> None:
        super().__init__(code)
        self.code = code


def rfc3339(value: object) -> datetime:
    """The instant an RFC 3339 date-time string with an offset names, in range; anything else
    (a number, a date, a naive time, ``20261121T000000Z``) raises TimestampRefused."""
    if not isinstance(value, str) or not DATE_TIME.match(value):
        raise TimestampRefused("field_datetime_invalid")
    try:
        parsed = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:  # 2026-02-30 and the like
        raise TimestampRefused("field_datetime_invalid") from None
    if not in_range(parsed):
        raise TimestampRefused("field_datetime_out_of_range")
    return parsed
