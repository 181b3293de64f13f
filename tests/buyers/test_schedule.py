"""Schedules: wall-clock windows in the campaign's zone, DST days included, and the next opening."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from buyers.campaigns import Schedule
from buyers.schedule import DAYS, check_schedule, is_open, next_open, offset_changes
from exchange.errors import Invalid

NEW_YORK = "America/New_York"
LOS_ANGELES = "America/Los_Angeles"
LONDON = "Europe/London"


def utc(year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=UTC)


def local(
    zone: str, year: int, month: int, day: int, hour: int = 0, minute: int = 0, second: int = 0, fold: int = 0
) -> datetime:
    return datetime(year, month, day, hour, minute, second, tzinfo=ZoneInfo(zone), fold=fold)


def every_day(zone: str, *windows: str) -> Schedule:
    return Schedule(timezone=zone, hours={day: list(windows) for day in DAYS})


def open_minutes(schedule: Schedule, start: datetime, end: datetime) -> int:
    """How many whole minutes between start and end the schedule is open, minute by minute."""
    minutes, moment = 0, start
    while moment < end:
        minutes += is_open(schedule, moment)
        moment += timedelta(minutes=1)
    return minutes


def refusal(schedule: Schedule) -> tuple[str, str]:
    with pytest.raises(Invalid) as caught:
        check_schedule(schedule)
    return caught.value.errors[0].field, caught.value.errors[0].message


# Save time.


def test_well_formed_schedule_is_accepted() -> None:
    check_schedule(
        Schedule(
            timezone=LOS_ANGELES,
            hours={"mon": ["08:00-12:00", "13:00-20:00"], "sat": ["00:00-24:00"], "sun": []},
        )
    )


@pytest.mark.parametrize(
    "zone", ["Mars/Olympus_Mons", "america/new_york", "", "localtime", "../etc/passwd", "EST+5"]
)
def test_unknown_time_zone_is_refused(zone: str) -> None:
    assert refusal(Schedule(timezone=zone, hours={}))[0] == "schedule.timezone"


def test_unknown_day_key_is_refused_naming_it() -> None:
    assert (
        refusal(Schedule(timezone=NEW_YORK, hours={"monday": ["08:00-20:00"]}))[0] == "schedule.hours.monday"
    )


@pytest.mark.parametrize(
    ("window", "words"),
    [
        ("8:00-20:00", "not a window"),
        ("08:00 - 20:00", "not a window"),
        ("08:00-25:00", "time of day"),
        ("08:60-20:00", "time of day"),
        ("24:00-24:00", "time of day"),
        ("08:00-24:30", "time of day"),
        ("09:00-09:00", "empty"),
        ("22:00-02:00", "split it across two days"),
    ],
)
def test_malformed_window_is_refused_naming_day_and_position(window: str, words: str) -> None:
    field, message = refusal(Schedule(timezone=NEW_YORK, hours={"tue": ["06:00-07:00", window]}))

    assert field == "schedule.hours.tue.1"
    assert words in message


def test_overnight_window_refusal_shows_the_split() -> None:
    message = refusal(Schedule(timezone=NEW_YORK, hours={"fri": ["22:00-02:00"]}))[1]

    assert "22:00-24:00" in message and "00:00-02:00" in message


# Open or closed.


def test_no_schedule_is_always_open() -> None:
    assert is_open(None, utc(2026, 11, 26, 3, 0))
    assert next_open(None, utc(2026, 11, 26, 3, 0)) == utc(2026, 11, 26, 3, 0)


def test_window_is_open_from_start_until_just_before_end_on_a_normal_day() -> None:
    schedule = Schedule(timezone=LOS_ANGELES, hours={"mon": ["08:00-20:00"]})

    assert not is_open(schedule, local(LOS_ANGELES, 2026, 11, 23, 7, 59, 59))
    assert is_open(schedule, local(LOS_ANGELES, 2026, 11, 23, 8, 0))
    assert is_open(schedule, local(LOS_ANGELES, 2026, 11, 23, 19, 59, 59))
    assert not is_open(schedule, local(LOS_ANGELES, 2026, 11, 23, 20, 0))
    # 16:00 UTC is 08:00 in Los Angeles in November (PST, UTC-8).
    assert is_open(schedule, utc(2026, 11, 23, 16, 0))
    assert not is_open(schedule, utc(2026, 11, 23, 15, 59))


def test_day_not_named_is_closed() -> None:
    schedule = Schedule(timezone=LOS_ANGELES, hours={"mon": ["00:00-24:00"], "tue": []})

    assert not is_open(schedule, local(LOS_ANGELES, 2026, 11, 24, 12, 0))  # a Tuesday
    assert not is_open(schedule, local(LOS_ANGELES, 2026, 11, 25, 12, 0))  # a Wednesday


def test_window_ending_at_24_00_runs_to_midnight() -> None:
    schedule = Schedule(timezone=NEW_YORK, hours={"fri": ["18:00-24:00"]})

    assert is_open(schedule, local(NEW_YORK, 2026, 11, 27, 23, 59, 59))
    assert not is_open(schedule, local(NEW_YORK, 2026, 11, 28, 0, 0))


def test_weekday_is_the_local_one_not_the_utc_one() -> None:
    schedule = Schedule(timezone=LOS_ANGELES, hours={"mon": ["20:00-24:00"]})

    # Tuesday 05:00 UTC is Monday 21:00 in Los Angeles.
    assert is_open(schedule, utc(2026, 11, 24, 5, 0))


def test_naive_now_is_refused() -> None:
    with pytest.raises(ValueError, match="aware"):
        is_open(every_day(NEW_YORK, "08:00-20:00"), datetime(2026, 11, 26, 12, 0))


@pytest.mark.parametrize(
    ("zone", "opens", "closes"),
    [
        # Spring forward: 2026-03-08 runs 23 hours; 08:00-20:00 is still local 08:00-20:00 (EDT/PDT).
        (NEW_YORK, utc(2026, 3, 8, 12, 0), utc(2026, 3, 9, 0, 0)),
        (LOS_ANGELES, utc(2026, 3, 8, 15, 0), utc(2026, 3, 9, 3, 0)),
        # Fall back: 2026-11-01 runs 25 hours; the window is on standard time (EST/PST).
        (NEW_YORK, utc(2026, 11, 1, 13, 0), utc(2026, 11, 2, 1, 0)),
        (LOS_ANGELES, utc(2026, 11, 1, 16, 0), utc(2026, 11, 2, 4, 0)),
    ],
)
def test_window_keeps_wall_clock_hours_on_dst_change_days(
    zone: str, opens: datetime, closes: datetime
) -> None:
    schedule = Schedule(timezone=zone, hours={"sun": ["08:00-20:00"]})

    assert not is_open(schedule, opens - timedelta(seconds=1))
    assert is_open(schedule, opens)
    assert is_open(schedule, closes - timedelta(seconds=1))
    assert not is_open(schedule, closes)
    assert open_minutes(schedule, opens - timedelta(hours=12), closes + timedelta(hours=2)) == 12 * 60


def test_window_across_the_skipped_hour_is_an_hour_shorter() -> None:
    schedule = Schedule(timezone=NEW_YORK, hours={"sun": ["01:00-04:00"]})
    day = (utc(2026, 3, 8, 4, 0), utc(2026, 3, 9, 4, 0))

    assert open_minutes(schedule, *day) == 2 * 60
    assert is_open(schedule, local(NEW_YORK, 2026, 3, 8, 3, 0))


def test_window_inside_the_skipped_hour_never_opens_that_day() -> None:
    schedule = Schedule(timezone=NEW_YORK, hours={"sun": ["02:00-03:00"]})

    assert open_minutes(schedule, utc(2026, 3, 8, 4, 0), utc(2026, 3, 9, 4, 0)) == 0
    assert next_open(schedule, utc(2026, 3, 7, 12, 0)) == local(NEW_YORK, 2026, 3, 15, 2, 0)


def test_window_across_the_repeated_hour_is_an_hour_longer() -> None:
    schedule = Schedule(timezone=NEW_YORK, hours={"sun": ["01:00-02:00"]})

    assert open_minutes(schedule, utc(2026, 11, 1, 4, 0), utc(2026, 11, 2, 5, 0)) == 2 * 60
    assert is_open(schedule, local(NEW_YORK, 2026, 11, 1, 1, 30, fold=0))
    assert is_open(schedule, local(NEW_YORK, 2026, 11, 1, 1, 30, fold=1))


@pytest.mark.parametrize(
    ("moment", "expected"),
    [
        (utc(2026, 6, 15, 7, 59), False),  # British Summer Time: 08:59 local
        (utc(2026, 6, 15, 8, 0), True),  # 09:00 BST
        (utc(2026, 6, 15, 16, 29), True),
        (utc(2026, 6, 15, 16, 30), False),  # 17:30 BST
        (utc(2026, 1, 12, 8, 59), False),  # Greenwich Mean Time in winter: 08:59 local
        (utc(2026, 1, 12, 9, 0), True),
        (utc(2026, 1, 12, 17, 29), True),
        (utc(2026, 1, 12, 17, 30), False),
        (utc(2026, 6, 13, 12, 0), False),  # a Saturday
    ],
)
def test_london_office_hours_follow_bst_and_gmt(moment: datetime, expected: bool) -> None:
    schedule = Schedule(timezone=LONDON, hours={day: ["09:00-17:30"] for day in DAYS[:5]})

    assert is_open(schedule, moment) is expected


def test_london_dst_sundays_keep_local_hours() -> None:
    schedule = Schedule(timezone=LONDON, hours={"sun": ["09:00-17:00"]})

    assert is_open(schedule, utc(2026, 3, 29, 8, 0))  # 09:00 BST, the day clocks go forward
    assert not is_open(schedule, utc(2026, 3, 29, 16, 0))
    assert is_open(schedule, utc(2026, 10, 25, 9, 0))  # 09:00 GMT, the day clocks go back
    assert not is_open(schedule, utc(2026, 10, 25, 8, 59))


# The next opening.


def test_next_open_is_now_when_open() -> None:
    schedule = every_day(NEW_YORK, "08:00-20:00")
    now = local(NEW_YORK, 2026, 11, 26, 12, 0)

    assert next_open(schedule, now) == now


def test_next_open_is_the_start_of_the_next_window() -> None:
    schedule = Schedule(
        timezone=NEW_YORK, hours={"thu": ["08:00-12:00", "14:00-18:00"], "mon": ["09:00-10:00"]}
    )

    assert next_open(schedule, local(NEW_YORK, 2026, 11, 26, 6, 0)) == local(NEW_YORK, 2026, 11, 26, 8, 0)
    assert next_open(schedule, local(NEW_YORK, 2026, 11, 26, 12, 0)) == local(NEW_YORK, 2026, 11, 26, 14, 0)
    assert next_open(schedule, local(NEW_YORK, 2026, 11, 26, 18, 0)) == local(NEW_YORK, 2026, 11, 30, 9, 0)


def test_next_open_is_in_the_time_zone_of_now() -> None:
    schedule = Schedule(timezone=NEW_YORK, hours={"thu": ["08:00-12:00"]})

    found = next_open(schedule, utc(2026, 11, 26, 3, 0))

    assert found == utc(2026, 11, 26, 13, 0)
    assert found is not None and found.tzinfo is UTC


def test_next_open_after_the_skipped_hour_is_the_jump() -> None:
    schedule = Schedule(timezone=NEW_YORK, hours={"sun": ["02:30-05:00"]})

    # 02:30 does not exist on 2026-03-08: the window opens as clocks jump to 03:00 EDT.
    assert next_open(schedule, utc(2026, 3, 8, 5, 0)) == utc(2026, 3, 8, 7, 0)


def test_next_open_in_the_repeated_hour() -> None:
    reopens_at_start = Schedule(timezone=NEW_YORK, hours={"sun": ["01:30-03:00"]})
    reopens_at_jump = Schedule(timezone=NEW_YORK, hours={"sun": ["00:30-01:30"]})

    # 06:10 UTC is 01:10 EST, after clocks went back from 02:00 EDT: open again at 01:30 EST.
    assert next_open(reopens_at_start, utc(2026, 11, 1, 6, 10)) == utc(2026, 11, 1, 6, 30)
    # 05:45 UTC is 01:45 EDT, closed; at 06:00 UTC the clock reads 01:00 EST, inside the window.
    assert next_open(reopens_at_jump, utc(2026, 11, 1, 5, 45)) == utc(2026, 11, 1, 6, 0)


def test_next_open_is_none_when_never_open() -> None:
    assert next_open(Schedule(timezone=NEW_YORK, hours={}), utc(2026, 11, 26, 3, 0)) is None
    assert next_open(Schedule(timezone=NEW_YORK, hours={"mon": []}), utc(2026, 11, 26, 3, 0)) is None


# Against a brute-force reading of the local clock.

ZONES = [
    NEW_YORK,
    LOS_ANGELES,
    LONDON,
    "America/Santiago",
    "America/Havana",
    "Australia/Lord_Howe",
    "Asia/Kolkata",
    "Asia/Kathmandu",
    "Pacific/Chatham",
    "Pacific/Apia",
    "UTC",
]
_minute = st.integers(0, 24 * 60)


@st.composite
def schedules(draw: st.DrawFn) -> Schedule:
    hours: dict[str, list[str]] = {}
    for day in draw(st.lists(st.sampled_from(DAYS), unique=True, max_size=7)):
        windows = []
        for _ in range(draw(st.integers(0, 3))):
            start = draw(st.integers(0, 24 * 60 - 1))
            end = draw(st.integers(start + 1, 24 * 60))
            windows.append(f"{start // 60:02d}:{start % 60:02d}-{end // 60:02d}:{end % 60:02d}")
        hours[day] = windows
    return Schedule(timezone=draw(st.sampled_from(ZONES)), hours=hours)


_moments = st.datetimes(
    min_value=datetime(2000, 1, 1), max_value=datetime(2040, 1, 1), timezones=st.just(UTC)
)


@st.composite
def schedule_and_moment(draw: st.DrawFn) -> tuple[Schedule, datetime]:
    """A schedule and a moment, half the time within three days of a change of its zone's offset."""
    schedule = draw(schedules())
    moment = draw(_moments)
    zone = ZoneInfo(schedule.timezone)
    changes = offset_changes(zone, utc(moment.year, 1, 1), utc(moment.year + 1, 1, 1))
    is_near_a_change = draw(st.booleans())
    if changes and is_near_a_change:
        near = draw(st.sampled_from(changes))
        moment = near + timedelta(seconds=draw(st.integers(-3 * 86400, 3 * 86400)))
    return schedule, moment


def open_by_reading_the_clock(schedule: Schedule, moment: datetime) -> bool:
    clock = moment.astimezone(ZoneInfo(schedule.timezone))
    reading = f"{clock.hour:02d}:{clock.minute:02d}"
    windows = schedule.hours.get(DAYS[clock.weekday()], [])
    # "HH:MM" strings order like times, and "24:00" after every reading.
    return any(window[:5] <= reading < window[6:] for window in windows)


@settings(max_examples=300)
@given(case=schedule_and_moment())
def test_is_open_agrees_with_reading_the_local_clock(case: tuple[Schedule, datetime]) -> None:
    schedule, moment = case
    check_schedule(schedule)

    assert is_open(schedule, moment) is open_by_reading_the_clock(schedule, moment)


@settings(max_examples=60, deadline=None)
@given(case=schedule_and_moment())
def test_next_open_is_the_first_open_minute(case: tuple[Schedule, datetime]) -> None:
    schedule, moment = case
    found = next_open(schedule, moment)

    if open_by_reading_the_clock(schedule, moment):
        assert found == moment
        return
    # Offsets are whole minutes in these years, so a schedule opens on a whole UTC minute.
    minute = moment.replace(second=0, microsecond=0) + timedelta(minutes=1)
    horizon = moment + timedelta(days=9)
    while minute < horizon and not open_by_reading_the_clock(schedule, minute):
        minute += timedelta(minutes=1)
    if minute < horizon:
        assert found == minute
    else:
        assert found is None or found >= horizon
