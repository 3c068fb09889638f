"""Times as the office stores and writes them: UTC, aware, ISO 8601 with ``Z``.

SQLite hands back ``DateTime(timezone=True)`` columns naive (they were stored in UTC);
``aware`` puts the zone back so every comparison is between instants.
"""

from __future__ import annotations

from datetime import UTC, datetime

from verifier._time import in_range, parse_timestamp

__all__ = ["aware", "in_range", "iso_z", "parse_timestamp", "utc_now"]


def utc_now() -> datetime:
    """Now, in UTC."""
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """``value`` with its zone: a naive value (read back from SQLite) is UTC."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)


def iso_z(value: datetime) -> str:
    """``2026-11-22T03:12:46Z``: UTC, whole seconds."""
    return aware(value).astimezone(UTC).replace(microsecond=0).isoformat().replace("+00:00", "Z")
