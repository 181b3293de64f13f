"""Campaign caps: check them at save time, and name the calendar period a sale counts against.

Periods are local to the campaign's time zone (the schedule's, else the buyer's): a day runs from
local midnight to midnight, 23 or 25 hours on DST days. Pure: `now` is passed in, aware.
"""

from __future__ import annotations

from collections.abc import Sequence
from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

from buyers.campaigns import Cap, Period
from exchange.errors import field_invalid

PERIODS: tuple[Period, ...] = ("hour", "day", "week", "month")


def check_caps(caps: Sequence[Cap]) -> None:
    """Refuse (422) a cap that limits nothing, or a second cap on the same period and measure."""
    seen: set[tuple[str, str]] = set()
    for i, cap in enumerate(caps):
        where = f"caps.{i}"
        if cap.period not in PERIODS:
            raise field_invalid(f"{where}.period", "invalid_value", "period is hour, day, week or month")
        if cap.max_leads is None and cap.max_spend_cents is None:
            raise field_invalid(where, "required", "a cap needs max_leads or max_spend_cents (or both)")
        for kind, limit in (("max_leads", cap.max_leads), ("max_spend_cents", cap.max_spend_cents)):
            if limit is None:
                continue
            if limit < 0:
                raise field_invalid(f"{where}.{kind}", "out_of_range", "must be >= 0")
            if (cap.period, kind) in seen:
                raise field_invalid(
                    f"{where}.{kind}", "duplicate", f"another cap already sets {kind} per {cap.period}"
                )
            seen.add((cap.period, kind))


def _start_of_period(period: Period, local: datetime) -> tuple[datetime, datetime]:
    """The wall-clock (naive) start of the period holding `local`, and of the next one."""
    # Built with the constructor: datetime.replace costs several times more, per sale.
    if period == "hour":
        start = datetime(local.year, local.month, local.day, local.hour)
        return start, start + timedelta(hours=1)
    if period == "day":
        start = datetime(local.year, local.month, local.day)
        return start, start + timedelta(days=1)
    if period == "week":
        start = datetime(local.year, local.month, local.day) - timedelta(days=local.weekday())
        return start, start + timedelta(days=7)
    if period == "month":
        year, month = divmod(local.year * 12 + local.month, 12)  # the next month, 1-based
        return datetime(local.year, local.month, 1), datetime(year, month + 1, 1)
    raise ValueError(f"unknown period {period!r}")


def first_instant(wall: datetime, zone: ZoneInfo) -> datetime:
    """The first moment (UTC) the wall clock in `zone` reads `wall` or later.

    A time that occurs twice (clocks going back) is its first occurrence; a time that is skipped
    (clocks going forward, at midnight in some zones) is the first instant after the skip.
    """
    fields = (wall.year, wall.month, wall.day, wall.hour, wall.minute, wall.second)
    earlier = datetime(*fields, tzinfo=zone, fold=0)
    instant = earlier.astimezone(UTC)
    back = instant.astimezone(zone)
    if (back.year, back.month, back.day, back.hour, back.minute, back.second) == fields:
        return instant  # it exists; fold=0 is the first of two readings
    # Skipped: the two folds land either side of the jump; the jump is the first second at or
    # past `wall`. Offsets change on whole seconds.
    later = datetime(*fields, tzinfo=zone, fold=1)
    lo, hi = sorted((int(earlier.timestamp()), int(later.timestamp())))
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).replace(tzinfo=None) >= wall:
            hi = mid
        else:
            lo = mid
    return datetime.fromtimestamp(hi, UTC)


def period_bounds(period: Period, now: datetime, tz: str) -> tuple[datetime, datetime]:
    """The [start, end) in UTC of the hour, day, week (from Monday) or month holding `now` in `tz`."""
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    zone = ZoneInfo(tz)
    start, end = _start_of_period(period, now.astimezone(zone))
    return first_instant(start, zone), first_instant(end, zone)


def period_key(period: Period, now: datetime, tz: str) -> str:
    """A stable name of the period holding `now` in `tz`, for its counter row.

    `hour:2026-11-26T14`, `day:2026-11-26`, `week:2026-W48` (ISO week), `month:2026-11`.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    local = now.astimezone(ZoneInfo(tz))
    ymd = f"{local.year:04d}-{local.month:02d}-{local.day:02d}"
    if period == "hour":
        return f"hour:{ymd}T{local.hour:02d}"
    if period == "day":
        return f"day:{ymd}"
    if period == "week":
        iso = local.isocalendar()
        return f"week:{iso.year:04d}-W{iso.week:02d}"
    if period == "month":
        return f"month:{local.year:04d}-{local.month:02d}"
    raise ValueError(f"unknown period {period!r}")
