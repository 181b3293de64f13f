"""The clock, injected wherever time matters so tests can freeze it."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, date, datetime, time

Clock = Callable[[], datetime]


def utc_now() -> datetime:
    return datetime.now(UTC)


def day_start(day: date) -> datetime:
    """Midnight UTC opening a whole UTC day, as `since`/`until` query dates mean it."""
    return datetime.combine(day, time.min, tzinfo=UTC)
