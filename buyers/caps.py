"""Campaign caps: check them at save time, and name the calendar period a sale counts against.

Periods are local to the campaign's time zone (the schedule's, else the buyer's): a day runs from
local midnight to midnight, 23 or 25 hours on DST days. Pure: `now` is passed in, aware.
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Mapping, Sequence
from datetime import UTC, datetime, timedelta
from typing import Literal, NamedTuple
from zoneinfo import ZoneInfo

from buyers.campaigns import Cap, CapUsage, Period
from buyers.schedule import offset_changes
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


class FullCap(NamedTuple):
    """A cap a sale would pass: which one, by which measure, and what its period has used."""

    cap: Cap
    measure: Literal["max_leads", "max_spend_cents"]
    limit: int
    used_leads: int
    used_spend_cents: int


def first_full_cap(
    caps: Sequence[Cap], used: Mapping[Period, tuple[int, int]], price_cents: int
) -> FullCap | None:
    """The first cap a sale at `price_cents` would pass, given (leads, spend_cents) used so far
    in each period (none: nothing used); None when every cap has room."""
    for cap in caps:
        leads, spend = used.get(cap.period, (0, 0))
        if cap.max_leads is not None and leads >= cap.max_leads:
            return FullCap(cap, "max_leads", cap.max_leads, leads, spend)
        if cap.max_spend_cents is not None and spend + price_cents > cap.max_spend_cents:
            return FullCap(cap, "max_spend_cents", cap.max_spend_cents, leads, spend)
    return None


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
    """The [start, end) in UTC of the hour, day, week (from Monday) or month holding `now` in `tz`.

    A period is the stretch of time the local clock spends in it: a DST day is 23 or 25 hours,
    and a repeated hour is one period of two hours. Where clocks go back across a period's
    boundary (St. John's before 2011 at 00:01, Pacific/Chatham at 03:45), the clock re-enters
    the period just left: that second stretch is its own [start, end), with the same period_key.
    """
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")
    zone = ZoneInfo(tz)
    wall_start, wall_end = _start_of_period(period, now.astimezone(zone))
    start, end = first_instant(wall_start, zone), first_instant(wall_end, zone)
    # The usual case: no clock change inside moves the clock out of the period (a change inside
    # a day, or the repeated hour itself, keeps the clock in it).
    if start <= now < end and not any(
        _label(period, t, zone) != wall_start for t in offset_changes(zone, start + _TICK, end)
    ):
        return start, end
    return _stretch_around(period, now, zone, wall_start, wall_end)


_TICK = timedelta(microseconds=1)
_SPAN = timedelta(days=40)  # longer than any period plus any clock change


def _label(period: Period, moment: datetime, zone: ZoneInfo) -> datetime:
    return _start_of_period(period, moment.astimezone(zone))[0]


def _stretch_around(
    period: Period, now: datetime, zone: ZoneInfo, wall_start: datetime, wall_end: datetime
) -> tuple[datetime, datetime]:
    """The stretch holding `now` during which the local clock stays in its period.

    Between two offset changes the clock runs evenly, so it reads a wall time at one computable
    instant; at a change it jumps, and the stretch goes on only if the jump stays in the period.
    """
    changes = offset_changes(zone, now - _SPAN, now + _SPAN)
    here = bisect_right(changes, now)  # the run of constant offset holding now is changes[here-1:here]

    def offset(k: int) -> timedelta:
        moment = changes[k - 1] if k > 0 else (changes[0] - _TICK if changes else now)
        return moment.astimezone(zone).utcoffset() or timedelta(0)

    k = here
    while True:
        start = (wall_start - offset(k)).replace(tzinfo=UTC)
        if k == 0 or start >= changes[k - 1]:
            break
        if _label(period, changes[k - 1] - _TICK, zone) != wall_start:
            start = changes[k - 1]
            break
        k -= 1
    k = here
    while True:
        end = (wall_end - offset(k)).replace(tzinfo=UTC)
        if k == len(changes) or end <= changes[k]:
            break
        if _label(period, changes[k], zone) != wall_start:
            end = changes[k]
            break
        k += 1
    return start, end


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


def cap_usage(
    caps: Sequence[Cap], used: dict[str, tuple[int, int]], now: datetime, tz: str
) -> list[CapUsage]:
    """Each cap's current period and what is used of it, from the counters by period key
    (leads, spend_cents); a period with no counter yet has used nothing."""
    found = []
    for cap in caps:
        key = period_key(cap.period, now, tz)
        leads, spend = used.get(key, (0, 0))
        found.append(
            CapUsage(
                period=cap.period,
                period_key=key,
                resets_at=period_bounds(cap.period, now, tz)[1],
                used_leads=leads,
                used_spend_cents=spend,
                max_leads=cap.max_leads,
                max_spend_cents=cap.max_spend_cents,
            )
        )
    return found
