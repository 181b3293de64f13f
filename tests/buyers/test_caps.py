"""Caps: save-time checks, and local calendar periods that contain `now` and tile across DST days."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buyers.campaigns import Cap
from buyers.caps import PERIODS, check_caps, period_bounds, period_key
from buyers.schedule import offset_changes
from exchange.errors import Invalid

NEW_YORK = "America/New_York"
LOS_ANGELES = "America/Los_Angeles"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def refusal(caps: list[Cap]) -> tuple[str, str]:
    with pytest.raises(Invalid) as caught:
        check_caps(caps)
    return caught.value.errors[0].field, caught.value.errors[0].message


# Save time.


def test_caps_on_leads_and_spend_per_period_are_accepted() -> None:
    check_caps(
        [
            Cap(period="day", max_leads=100),
            Cap(period="day", max_spend_cents=50_000),
            Cap(period="month", max_leads=2000, max_spend_cents=500_000),
            Cap(period="hour", max_leads=0),
        ]
    )


def test_cap_without_a_limit_is_refused() -> None:
    field, message = refusal([Cap(period="day", max_leads=5), Cap(period="week")])

    assert field == "caps.1"
    assert "max_leads or max_spend_cents" in message


def test_second_cap_on_the_same_period_and_measure_is_refused() -> None:
    assert refusal([Cap(period="day", max_leads=5), Cap(period="day", max_leads=9)])[0] == "caps.1.max_leads"
    field = refusal(
        [Cap(period="week", max_leads=5, max_spend_cents=1), Cap(period="week", max_spend_cents=2)]
    )[0]
    assert field == "caps.1.max_spend_cents"


def test_negative_limit_is_refused() -> None:
    assert refusal([Cap(period="day", max_spend_cents=-1)])[0] == "caps.0.max_spend_cents"


# Periods.


def test_hour_is_the_local_clock_hour() -> None:
    now = utc(2026, 11, 26, 19, 42, 10)  # 14:42 in New York

    assert period_bounds("hour", now, NEW_YORK) == (utc(2026, 11, 26, 19, 0), utc(2026, 11, 26, 20, 0))
    assert period_key("hour", now, NEW_YORK) == "hour:2026-11-26T14"


def test_hour_in_a_half_hour_zone_starts_on_the_half_hour_utc() -> None:
    now = utc(2026, 11, 26, 9, 0)  # 14:30 in Kolkata (UTC+5:30)

    assert period_bounds("hour", now, "Asia/Kolkata") == (utc(2026, 11, 26, 8, 30), utc(2026, 11, 26, 9, 30))


def test_day_runs_from_local_midnight_to_midnight() -> None:
    now = utc(2026, 11, 27, 3, 0)  # still the 26th, 22:00, in New York

    assert period_bounds("day", now, NEW_YORK) == (utc(2026, 11, 26, 5, 0), utc(2026, 11, 27, 5, 0))
    assert period_key("day", now, NEW_YORK) == "day:2026-11-26"
    assert period_key("day", now, "UTC") == "day:2026-11-27"


@pytest.mark.parametrize(
    ("zone", "moment", "start", "end", "hours"),
    [
        (NEW_YORK, utc(2026, 3, 8, 15, 0), utc(2026, 3, 8, 5, 0), utc(2026, 3, 9, 4, 0), 23),
        (NEW_YORK, utc(2026, 11, 1, 15, 0), utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0), 25),
        (LOS_ANGELES, utc(2026, 3, 8, 15, 0), utc(2026, 3, 8, 8, 0), utc(2026, 3, 9, 7, 0), 23),
        (LOS_ANGELES, utc(2026, 11, 1, 15, 0), utc(2026, 11, 1, 7, 0), utc(2026, 11, 2, 8, 0), 25),
    ],
)
def test_dst_change_days_last_23_or_25_hours(
    zone: str, moment: datetime, start: datetime, end: datetime, hours: int
) -> None:
    assert period_bounds("day", moment, zone) == (start, end)
    assert end - start == timedelta(hours=hours)


def test_repeated_hour_is_one_hour_period_of_two_hours() -> None:
    first = utc(2026, 11, 1, 5, 30)  # 01:30 EDT
    second = utc(2026, 11, 1, 6, 30)  # 01:30 EST, an hour later

    assert period_key("hour", first, NEW_YORK) == period_key("hour", second, NEW_YORK) == "hour:2026-11-01T01"
    assert period_bounds("hour", second, NEW_YORK) == (utc(2026, 11, 1, 5, 0), utc(2026, 11, 1, 7, 0))


def test_hour_before_the_skipped_hour_ends_at_the_jump() -> None:
    before = utc(2026, 3, 8, 6, 30)  # 01:30 EST; at 07:00 UTC clocks jump from 02:00 to 03:00

    assert period_bounds("hour", before, NEW_YORK) == (utc(2026, 3, 8, 6, 0), utc(2026, 3, 8, 7, 0))
    assert period_key("hour", utc(2026, 3, 8, 7, 0), NEW_YORK) == "hour:2026-03-08T03"


def test_week_starts_monday_local_midnight() -> None:
    thursday = utc(2026, 11, 26, 12, 0)

    assert period_bounds("week", thursday, NEW_YORK) == (utc(2026, 11, 23, 5, 0), utc(2026, 11, 30, 5, 0))
    assert period_key("week", thursday, NEW_YORK) == "week:2026-W48"
    # Monday 03:00 UTC is still Sunday evening in New York: the week before.
    assert period_key("week", utc(2026, 11, 30, 3, 0), NEW_YORK) == "week:2026-W48"
    assert period_key("week", utc(2026, 11, 30, 5, 0), NEW_YORK) == "week:2026-W49"


def test_week_across_the_new_year_is_its_iso_week() -> None:
    new_year = utc(2027, 1, 1, 12, 0)  # a Friday in ISO week 53 of 2026

    assert period_key("week", new_year, NEW_YORK) == "week:2026-W53"
    assert period_bounds("week", new_year, NEW_YORK) == (utc(2026, 12, 28, 5, 0), utc(2027, 1, 4, 5, 0))


def test_week_holding_a_dst_change_is_an_hour_short() -> None:
    start, end = period_bounds("week", utc(2026, 3, 5, 12, 0), NEW_YORK)

    assert (start, end) == (utc(2026, 3, 2, 5, 0), utc(2026, 3, 9, 4, 0))
    assert end - start == timedelta(days=7, hours=-1)


def test_month_runs_from_the_first_local_midnight() -> None:
    assert period_bounds("month", utc(2026, 2, 14, 12, 0), NEW_YORK) == (
        utc(2026, 2, 1, 5, 0),
        utc(2026, 3, 1, 5, 0),
    )
    assert period_bounds("month", utc(2026, 12, 31, 12, 0), NEW_YORK) == (
        utc(2026, 12, 1, 5, 0),
        utc(2027, 1, 1, 5, 0),
    )
    assert period_key("month", utc(2026, 12, 1, 3, 0), NEW_YORK) == "month:2026-11"
    assert period_key("month", utc(2026, 12, 1, 5, 0), NEW_YORK) == "month:2026-12"


def test_skipped_local_midnight_starts_the_day_at_the_jump() -> None:
    # Santiago springs forward at midnight: 2026-09-06 begins at 01:00 local (04:00 UTC).
    assert period_bounds("day", utc(2026, 9, 6, 12, 0), "America/Santiago") == (
        utc(2026, 9, 6, 4, 0),
        utc(2026, 9, 7, 3, 0),
    )
    assert period_bounds("day", utc(2026, 9, 5, 12, 0), "America/Santiago")[1] == utc(2026, 9, 6, 4, 0)
    # Havana did the same on 2026-03-08.
    assert period_bounds("day", utc(2026, 3, 8, 12, 0), "America/Havana")[0] == utc(2026, 3, 8, 5, 0)


def test_repeated_local_midnight_starts_the_day_at_its_first_reading() -> None:
    # Havana falls back from 01:00 to 00:00 on 2026-11-01: midnight comes twice; the day starts at the first.
    assert period_bounds("day", utc(2026, 11, 1, 12, 0), "America/Havana") == (
        utc(2026, 11, 1, 4, 0),
        utc(2026, 11, 2, 5, 0),
    )
    # Santiago falls back from 24:00 to 23:00 on 2026-04-04: that Saturday is 25 hours.
    start, end = period_bounds("day", utc(2026, 4, 5, 3, 30), "America/Santiago")
    assert (start, end) == (utc(2026, 4, 4, 3, 0), utc(2026, 4, 5, 4, 0))


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        period_bounds("day", datetime(2026, 11, 26, 12, 0), NEW_YORK)


# Every period holds `now`, and each ends where the next begins.

ZONES = [
    NEW_YORK,
    LOS_ANGELES,
    "Europe/London",
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Pacific/Apia",
    "Asia/Tehran",
    "UTC",
]


@st.composite
def zone_and_moment(draw: st.DrawFn) -> tuple[str, datetime]:
    """A zone and a moment, half the time within two days of a change of its offset."""
    zone = draw(st.sampled_from(ZONES))
    moment = draw(
        st.datetimes(min_value=datetime(1990, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC))
    )
    changes = offset_changes(ZoneInfo(zone), utc(moment.year, 1, 1), utc(moment.year + 1, 1, 1))
    is_near_a_change = draw(st.booleans())
    if changes and is_near_a_change:
        moment = draw(st.sampled_from(changes)) + timedelta(seconds=draw(st.integers(-2 * 86400, 2 * 86400)))
    return zone, moment


@settings(max_examples=300)
@given(case=zone_and_moment(), period=st.sampled_from(PERIODS))
def test_period_holds_now_and_the_next_period_starts_at_its_end(
    case: tuple[str, datetime], period: str
) -> None:
    zone, now = case
    start, end = period_bounds(period, now, zone)  # type: ignore[arg-type]
    following_start, following_end = period_bounds(period, end, zone)  # type: ignore[arg-type]

    assert start <= now < end
    assert following_start == end < following_end
    assert period_key(period, start, zone) == period_key(period, now, zone)  # type: ignore[arg-type]
    assert period_key(period, end, zone) != period_key(period, now, zone)  # type: ignore[arg-type]
    assert start.tzinfo is UTC and end.tzinfo is UTC
