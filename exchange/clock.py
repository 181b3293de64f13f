"""The clock, injected wherever time matters so tests can freeze it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time, timedelta

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def day_start(day: date) -> datetime:
    """Midnight UTC opening a whole UTC day, as `since`/`until` query dates mean it."""
    return datetime.combine(day, time.min, tzinfo=UTC)


def day_after(day: date) -> datetime:
    """Where a whole UTC day ends (`until` is inclusive): the next midnight, or the last
    instant there is for 9999-12-31."""
    if day == date.max:
        return datetime.max.replace(tzinfo=UTC)
    return day_start(day) + timedelta(days=1)
