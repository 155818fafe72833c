"""Time for every package: an injectable clock, the current UTC time, and UTC normalisation of stored datetimes."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def aware(value: datetime) -> datetime:
    """SQLite gives back naive datetimes: they were stored in UTC, say so."""
    return value if value.tzinfo is not None else value.replace(tzinfo=UTC)
