"""Campaign schedules: when a campaign takes leads, in wall-clock hours of its own time zone.

`08:00-20:00` means local 08:00 to 20:00 on every day, the 23- and 25-hour DST days included.
Pure: the moment is passed in as an aware datetime; parsed schedules are cached.
"""

from __future__ import annotations

import re
from datetime import UTC, date, datetime, time, timedelta
from functools import lru_cache
from typing import NamedTuple
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError, available_timezones

import msgspec

from buyers.campaigns import Schedule
from exchange.errors import field_invalid

DAYS: tuple[str, ...] = ("mon", "tue", "wed", "thu", "fri", "sat", "sun")
_WINDOW = re.compile(r"(\d\d):(\d\d)-(\d\d):(\d\d)", re.ASCII)
_END_OF_DAY = 24 * 60
# Names the zone database holds that are not places: a machine's own zone, a placeholder.
_NOT_PLACES = frozenset({"localtime", "posixrules", "Factory"})
# Far enough ahead to cover a week plus a DST day whose only window fell in the skipped hour.
_SEARCH_DAYS = 16

Windows = tuple[tuple[int, int], ...]


class _Plan(NamedTuple):
    zone: ZoneInfo
    days: tuple[Windows, ...]  # by weekday (Monday 0): sorted, merged [start, end) minutes


# Save time.


@lru_cache(maxsize=1)
def _zone_names() -> frozenset[str]:
    # Scanning the zone database takes ~20 ms: once per process.
    return frozenset(available_timezones()) - _NOT_PLACES


def check_timezone(name: str, field: str = "timezone") -> None:
    """Refuse (422) a name that is not an IANA time zone, e.g. `America/Los_Angeles`."""
    if not isinstance(name, str) or name not in _zone_names():
        raise field_invalid(field, "invalid_timezone", f"{name!r} is not an IANA time zone name")
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError, OSError):
        raise field_invalid(field, "invalid_timezone", f"{name!r} cannot be loaded") from None


def read_window(text: str) -> tuple[int, int]:
    """`HH:MM-HH:MM` as [start, end) minutes of the day; ValueError saying what is wrong."""
    match = _WINDOW.fullmatch(text) if isinstance(text, str) else None
    if match is None:
        raise ValueError(f"{text!r} is not a window like 08:00-20:00")
    h1, m1, h2, m2 = (int(part) for part in match.groups())
    if h1 > 23 or m1 > 59 or h2 > 24 or m2 > 59 or (h2 == 24 and m2 != 0):
        raise ValueError(f"{text!r} is not a time of day (00:00 to 24:00)")
    start, end = h1 * 60 + m1, h2 * 60 + m2
    if end < start:
        raise ValueError(
            f"{text!r} runs past midnight: split it across two days, e.g. "
            f"{text[:5]}-24:00 on one day and 00:00-{text[6:]} on the next"
        )
    if end == start:
        raise ValueError(f"{text!r} is empty: its start must be before its end")
    return start, end


def check_schedule(schedule: Schedule) -> None:
    """Refuse (422) an unknown time zone, day key or malformed window, naming the field."""
    check_timezone(schedule.timezone, "schedule.timezone")
    for day, windows in schedule.hours.items():
        if day not in DAYS:
            raise field_invalid(f"schedule.hours.{day}", "invalid_value", "day keys are mon, tue, ... sun")
        for i, text in enumerate(windows):
            try:
                read_window(text)
            except ValueError as problem:
                raise field_invalid(f"schedule.hours.{day}.{i}", "invalid_value", str(problem)) from None


# Reading a schedule.

_encoder = msgspec.msgpack.Encoder()
_decoder = msgspec.msgpack.Decoder(Schedule)


@lru_cache(maxsize=4096)
def _plan(encoded: bytes) -> _Plan:
    schedule = _decoder.decode(encoded)
    days = []
    for day in DAYS:
        windows = sorted(read_window(text) for text in schedule.hours.get(day, []))
        merged: list[tuple[int, int]] = []
        for start, end in windows:
            if merged and start <= merged[-1][1]:
                merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
            else:
                merged.append((start, end))
        days.append(tuple(merged))
    try:
        zone = ZoneInfo(schedule.timezone)
    except (ZoneInfoNotFoundError, OSError) as problem:
        raise ValueError(f"{schedule.timezone!r} is not a time zone") from problem
    return _Plan(zone, tuple(days))


def _plan_of(schedule: Schedule) -> _Plan:
    # Schedule holds a dict, so it does not hash; its encoding is a cheap exact cache key.
    return _plan(_encoder.encode(schedule))


def _require_aware(now: datetime) -> None:
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be an aware datetime")


def _is_open_in(plan: _Plan, moment: datetime) -> bool:
    local = moment.astimezone(plan.zone)
    minute = local.hour * 60 + local.minute
    for start, end in plan.days[local.weekday()]:
        if start <= minute < end:
            return True
    return False


def is_open(schedule: Schedule | None, now: datetime) -> bool:
    """Whether the campaign takes leads at `now` (no schedule: always).

    Raises ValueError for a naive `now`, or a schedule that check_schedule would refuse.
    """
    if schedule is None:
        return True
    _require_aware(now)
    return _is_open_in(_plan_of(schedule), now)


def next_open(schedule: Schedule | None, now: datetime) -> datetime | None:
    """The first moment at or after `now` when the campaign is open (`now` itself when open).

    None when the schedule names no window at all. The answer is in `now`'s time zone.
    """
    if schedule is None:
        return now
    _require_aware(now)
    plan = _plan_of(schedule)
    if not any(plan.days):
        return None
    if _is_open_in(plan, now):
        return now
    today = now.astimezone(plan.zone).date()
    found = _earliest_opening(plan, now, today - timedelta(days=1), today + timedelta(days=_SEARCH_DAYS))
    return None if found is None else found.astimezone(now.tzinfo)


def _earliest_opening(plan: _Plan, now: datetime, first: date, last: date) -> datetime | None:
    """The earliest instant after `now` at which the campaign goes from closed to open.

    It opens either when the wall clock reaches a window's start (once, or twice in a repeated
    hour), or when the clock jumps (a DST change) into a window: those are the candidates.
    """
    zone = plan.zone
    candidates: list[datetime] = []
    day = first
    while day <= last:
        for start, _end in plan.days[day.weekday()]:
            wall = datetime.combine(day, time(start // 60, start % 60))
            for fold in (0, 1):
                instant = wall.replace(tzinfo=zone, fold=fold).astimezone(UTC)
                if instant.astimezone(zone).replace(tzinfo=None) == wall:  # skipped times do not exist
                    candidates.append(instant)
        day += timedelta(days=1)
    span_start = datetime.combine(first, time(), tzinfo=UTC) - timedelta(days=1)
    span_end = datetime.combine(last, time(), tzinfo=UTC) + timedelta(days=2)
    candidates.extend(offset_changes(zone, span_start, span_end))
    opening = [t for t in candidates if t > now and _is_open_in(plan, t)]
    return min(opening, default=None)


_STEP = timedelta(hours=6)  # no zone changes its offset twice within six hours


@lru_cache(maxsize=1024)
def _year_changes(zone: ZoneInfo, year: int) -> tuple[datetime, ...]:
    """Every instant of the UTC year at which `zone` changes its offset: ~1460 steps, once."""
    low, end = datetime(year, 1, 1, tzinfo=UTC), datetime(year + 1, 1, 1, tzinfo=UTC)
    low_offset = low.astimezone(zone).utcoffset()
    changes = []
    while low < end:
        high = min(low + _STEP, end)
        high_offset = high.astimezone(zone).utcoffset()
        if high_offset != low_offset:
            changes.append(_first_change(zone, low, high))
        low, low_offset = high, high_offset
    return tuple(changes)


def offset_changes(zone: ZoneInfo, start: datetime, end: datetime) -> list[datetime]:
    """The instants (UTC, to the second) in [start, end) at which `zone` changes its UTC offset."""
    # Years 2..9998 keep every local time inside datetime's range.
    years = range(max(start.year - 1, 2), min(end.year, 9998) + 1)
    return [t for year in years for t in _year_changes(zone, year) if start <= t < end]


def _first_change(zone: ZoneInfo, low: datetime, high: datetime) -> datetime:
    """The first second in (low, high] whose offset differs from low's (one change between)."""
    before = low.astimezone(zone).utcoffset()
    lo, hi = int(low.timestamp()), int(high.timestamp())
    while hi - lo > 1:
        mid = (lo + hi) // 2
        if datetime.fromtimestamp(mid, zone).utcoffset() == before:
            lo = mid
        else:
            hi = mid
    return datetime.fromtimestamp(hi, UTC)
