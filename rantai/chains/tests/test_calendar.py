"""Working-time arithmetic on a working calendar (pure: no database)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rantai.chains.calendar import (
    CalendarSpec,
    add_working_minutes,
    end_of_working_day,
    minutes_per_working_day,
    next_working_moment,
    subtract_working_minutes,
    working_minutes_between,
)

JAKARTA = ZoneInfo("Asia/Jakarta")  # UTC+7, no daylight saving
UTC = dt.UTC
WEEKDAYS = frozenset({0, 1, 2, 3, 4})
# Monday 18 August 2025 is a holiday in these examples; 11-15 Aug is a full week.
HOLIDAY = dt.date(2025, 8, 18)

CAL = CalendarSpec(
    time_zone="Asia/Jakarta",
    working_weekdays=WEEKDAYS,
    day_start=dt.time(8),
    day_end=dt.time(16),
    holidays=frozenset({HOLIDAY}),
)
UTC_CAL = CalendarSpec(
    time_zone="UTC",
    working_weekdays=WEEKDAYS,
    day_start=dt.time(8),
    day_end=dt.time(16),
    holidays=frozenset(),
)


def wib(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """A moment in August 2025, Jakarta time (WIB)."""
    return dt.datetime(2025, 8, day, hour, minute, second, tzinfo=JAKARTA)


def utc(day: int, hour: int, minute: int = 0) -> dt.datetime:
    return dt.datetime(2025, 8, day, hour, minute, tzinfo=UTC)


# -- the calendar itself ------------------------------------------------------


def test_a_working_day_of_eight_hours_has_480_minutes():
    assert minutes_per_working_day(CAL) == 480


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"working_weekdays": frozenset()}, "at least one working weekday"),
        ({"working_weekdays": frozenset({7})}, "working weekdays are 0"),
        ({"day_end": dt.time(8)}, "must end after it starts"),
        ({"day_end": dt.time(7)}, "must end after it starts"),
        ({"day_start": dt.time(8, 0, 30)}, "whole minute"),
        ({"day_start": dt.time(8, tzinfo=UTC)}, "without tzinfo"),
        ({"time_zone": "Asia/Atlantis"}, "unknown time zone"),
    ],
)
def test_a_calendar_without_working_time_is_refused(changes, message):
    fields = {
        "time_zone": "Asia/Jakarta",
        "working_weekdays": WEEKDAYS,
        "day_start": dt.time(8),
        "day_end": dt.time(16),
        "holidays": frozenset(),
    }
    fields.update(changes)
    with pytest.raises(ValueError, match=message):
        CalendarSpec(**fields)


def test_a_calendar_accepts_plain_sets_and_stays_hashable():
    spec = CalendarSpec("Asia/Jakarta", {0, 1}, dt.time(8), dt.time(16), {HOLIDAY})  # type: ignore[arg-type]
    assert spec.working_weekdays == frozenset({0, 1})
    assert spec.holidays == frozenset({HOLIDAY})
    assert hash(spec) == hash(
        CalendarSpec(
            "Asia/Jakarta",
            frozenset({1, 0}),
            dt.time(8),
            dt.time(16),
            frozenset({HOLIDAY}),
        )
    )


# -- adding working time --------------------------------------------------------


def test_adding_within_a_day_answers_in_utc():
    end = add_working_minutes(CAL, wib(11, 9), 90)
    assert end == wib(11, 10, 30)
    assert end.tzinfo is UTC
    assert end == utc(11, 3, 30)


def test_work_that_ends_with_the_day_ends_that_evening():
    assert add_working_minutes(CAL, wib(11, 8), 480) == wib(11, 16)


def test_adding_across_the_end_of_the_day_continues_next_morning():
    assert add_working_minutes(CAL, wib(11, 15), 120) == wib(12, 9)


def test_adding_across_a_weekend():
    assert add_working_minutes(CAL, wib(15, 15), 60) == wib(15, 16)
    # Friday 15 August 16:00 + 1 minute: Saturday, Sunday and the Monday holiday
    # are skipped.
    assert add_working_minutes(CAL, wib(15, 15), 61) == wib(19, 8, 1)


def test_adding_skips_a_holiday():
    assert add_working_minutes(CAL, wib(15, 15), 120) == wib(19, 9)
    # Without the holiday the same work ends on Monday.
    no_holiday = CalendarSpec(
        CAL.time_zone, CAL.working_weekdays, CAL.day_start, CAL.day_end, frozenset()
    )
    assert add_working_minutes(no_holiday, wib(15, 15), 120) == wib(18, 9)


def test_five_working_days_from_monday_morning_end_on_friday_evening():
    assert add_working_minutes(CAL, wib(11, 8), 5 * 480) == wib(15, 16)


@pytest.mark.parametrize(
    ("start", "minutes", "end"),
    [
        (wib(16, 10), 0, wib(19, 8)),  # Saturday, then the Monday holiday
        (wib(11, 6), 30, wib(11, 8, 30)),  # before the day starts
        (wib(11, 17), 30, wib(12, 8, 30)),  # after the day ends
        (wib(11, 16), 0, wib(12, 8)),  # the end of a day is not a start
        (wib(11, 8), 0, wib(11, 8)),  # the start of a day is
    ],
)
def test_a_start_outside_working_time_snaps_to_the_next_working_moment(
    start, minutes, end
):
    assert add_working_minutes(CAL, start, minutes) == end


def test_seconds_are_kept():
    assert add_working_minutes(CAL, wib(11, 9, 0, 30), 60) == wib(11, 10, 0, 30)


def test_negative_minutes_are_refused():
    with pytest.raises(ValueError, match="must not be negative"):
        add_working_minutes(CAL, wib(11, 9), -1)
    with pytest.raises(ValueError, match="must not be negative"):
        subtract_working_minutes(CAL, wib(11, 9), -1)


def test_naive_datetimes_are_refused():
    naive = dt.datetime(2025, 8, 11, 9)
    with pytest.raises(ValueError, match="timezone-aware"):
        add_working_minutes(CAL, naive, 10)
    with pytest.raises(ValueError, match="timezone-aware"):
        next_working_moment(CAL, naive)
    with pytest.raises(ValueError, match="timezone-aware"):
        working_minutes_between(CAL, naive, wib(11, 9))
    with pytest.raises(ValueError, match="timezone-aware"):
        subtract_working_minutes(CAL, naive, 10)


# -- time zones -------------------------------------------------------------------


def test_the_same_instant_is_read_in_the_calendars_time_zone():
    # 02:00 UTC is 09:00 in Jakarta: working time there, before hours in UTC.
    instant = utc(11, 2)
    assert add_working_minutes(CAL, instant, 60) == wib(11, 10) == utc(11, 3)
    assert add_working_minutes(UTC_CAL, instant, 60) == utc(11, 9)


def test_the_local_date_decides_the_working_day():
    # Sunday 10 August 23:30 UTC is already Monday 06:30 in Jakarta.
    sunday_night_utc = dt.datetime(2025, 8, 10, 23, 30, tzinfo=UTC)
    assert next_working_moment(CAL, sunday_night_utc) == wib(11, 8) == utc(11, 1)
    assert next_working_moment(UTC_CAL, sunday_night_utc) == utc(11, 8)


def test_the_input_time_zone_does_not_matter():
    in_tokyo = wib(11, 9).astimezone(ZoneInfo("Asia/Tokyo"))
    assert add_working_minutes(CAL, in_tokyo, 30) == wib(11, 9, 30)


def test_working_hours_follow_the_wall_clock_across_daylight_saving():
    # Amsterdam moves its clocks from 02:00 to 03:00 on Sunday 30 March 2025.
    amsterdam = ZoneInfo("Europe/Amsterdam")
    every_day = CalendarSpec(
        "Europe/Amsterdam", frozenset(range(7)), dt.time(1), dt.time(5), frozenset()
    )
    start = dt.datetime(2025, 3, 30, 1, tzinfo=amsterdam)  # 00:00 UTC
    end = add_working_minutes(every_day, start, 120)
    assert end == dt.datetime(2025, 3, 30, 3, tzinfo=amsterdam)  # 01:00 UTC
    assert end == dt.datetime(2025, 3, 30, 1, tzinfo=UTC)
    assert working_minutes_between(every_day, start, end) == 120
    # The next day has no change: four wall-clock hours, four real hours.
    monday = dt.datetime(2025, 3, 31, 1, tzinfo=amsterdam)
    assert add_working_minutes(every_day, monday, 240) == dt.datetime(
        2025, 3, 31, 3, tzinfo=UTC
    )


# -- subtracting, next moment, between ------------------------------------------------


@pytest.mark.parametrize(
    ("end", "minutes", "start"),
    [
        (wib(12, 9), 120, wib(11, 15)),
        (wib(11, 8, 30), 30, wib(11, 8)),  # begins exactly at the start of the day
        (wib(19, 8, 30), 60, wib(15, 15, 30)),  # back over the holiday and weekend
        (wib(16, 12), 60, wib(15, 15)),  # an end on Saturday snaps back to Friday
        (wib(12, 8), 0, wib(11, 16)),  # the start of a day is not an end
        (wib(12, 10), 0, wib(12, 10)),
    ],
)
def test_subtracting_working_time(end, minutes, start):
    assert subtract_working_minutes(CAL, end, minutes) == start


def test_next_working_moment_keeps_a_working_moment():
    moment = wib(12, 10, 15, 7)
    assert next_working_moment(CAL, moment) == moment
    assert next_working_moment(CAL, moment).tzinfo is UTC


def test_next_working_moment_skips_the_weekend_and_the_holiday():
    assert next_working_moment(CAL, wib(17, 10)) == wib(19, 8)
    assert next_working_moment(CAL, wib(18, 10)) == wib(19, 8)


@pytest.mark.parametrize(
    ("a", "b", "minutes"),
    [
        (wib(11, 9), wib(11, 10, 30), 90),
        (wib(15, 15), wib(19, 9), 120),  # over the weekend and the holiday
        (wib(19, 9), wib(15, 15), -120),
        (wib(11, 9), wib(11, 9), 0),
        (wib(16, 9), wib(17, 20), 0),  # both in the weekend
        (wib(11, 6), wib(11, 20), 480),  # outside hours count nothing
        (wib(11, 9), wib(11, 9, 1, 59), 1),  # whole minutes only
        (wib(11, 9, 1, 59), wib(11, 9), -1),  # truncated towards zero
        (wib(11, 8), wib(25, 8), 9 * 480),  # two weeks less the holiday
    ],
)
def test_working_minutes_between(a, b, minutes):
    assert working_minutes_between(CAL, a, b) == minutes


# -- due dates ------------------------------------------------------------------------


def test_due_on_a_working_day_means_its_end():
    assert end_of_working_day(CAL, dt.date(2025, 8, 11)) == wib(11, 16) == utc(11, 9)


def test_due_on_a_day_without_work_means_the_end_of_the_last_working_day():
    assert end_of_working_day(CAL, dt.date(2025, 8, 17)) == wib(15, 16)  # Sunday
    assert end_of_working_day(CAL, HOLIDAY) == wib(15, 16)
    assert end_of_working_day(CAL, dt.date(2025, 8, 19)) == wib(19, 16)


# -- properties -------------------------------------------------------------------------

calendars = st.builds(
    CalendarSpec,
    time_zone=st.sampled_from(["Asia/Jakarta", "UTC", "Asia/Makassar"]),
    working_weekdays=st.frozensets(st.integers(0, 6), min_size=1),
    day_start=st.sampled_from([dt.time(0), dt.time(7, 30), dt.time(8)]),
    day_end=st.sampled_from([dt.time(12), dt.time(16), dt.time(23, 59)]),
    holidays=st.frozensets(
        st.dates(dt.date(2025, 1, 1), dt.date(2025, 12, 31)), max_size=40
    ),
)
moments = st.datetimes(
    dt.datetime(2025, 1, 1), dt.datetime(2025, 12, 31), timezones=st.just(UTC)
)


@settings(max_examples=200, deadline=None)
@given(cal=calendars, start=moments, minutes=st.integers(0, 20_000))
def test_adding_then_measuring_gives_the_same_minutes(cal, start, minutes):
    end = add_working_minutes(cal, start, minutes)
    assert working_minutes_between(cal, start, end) == minutes
    assert working_minutes_between(cal, end, start) == -minutes
    if minutes > 0:
        assert subtract_working_minutes(cal, end, minutes) == next_working_moment(
            cal, start
        )
        assert _inside_working_hours(cal, end, as_end=True)
    assert _inside_working_hours(cal, next_working_moment(cal, start), as_end=False)


@settings(max_examples=200, deadline=None)
@given(cal=calendars, a=moments, b=moments)
def test_working_minutes_between_counts_the_working_hours_day_by_day(cal, a, b):
    assert working_minutes_between(cal, a, b) == _brute_force_between(cal, a, b)


@settings(max_examples=100, deadline=None)
@given(cal=calendars, day=st.dates(dt.date(2025, 1, 10), dt.date(2025, 12, 31)))
def test_the_end_of_a_working_day_is_on_the_last_working_day_up_to_it(cal, day):
    local = end_of_working_day(cal, day).astimezone(ZoneInfo(cal.time_zone))
    assert local.time() == cal.day_end
    assert local.date() <= day
    assert _is_working_day(cal, local.date())
    later = local.date() + dt.timedelta(days=1)
    while later <= day:
        assert not _is_working_day(cal, later)
        later += dt.timedelta(days=1)


def _is_working_day(cal: CalendarSpec, day: dt.date) -> bool:
    return day.weekday() in cal.working_weekdays and day not in cal.holidays


def _inside_working_hours(
    cal: CalendarSpec, moment: dt.datetime, *, as_end: bool
) -> bool:
    local = moment.astimezone(ZoneInfo(cal.time_zone))
    if not _is_working_day(cal, local.date()):
        return False
    if as_end:
        return cal.day_start < local.time() <= cal.day_end
    return cal.day_start <= local.time() < cal.day_end


def _brute_force_between(cal: CalendarSpec, a: dt.datetime, b: dt.datetime) -> int:
    """Sum, day by day, the overlap of [a, b] with each day's working hours."""
    if b < a:
        return -_brute_force_between(cal, b, a)
    zone = ZoneInfo(cal.time_zone)
    day = a.astimezone(zone).date()
    total = dt.timedelta()
    while day <= b.astimezone(zone).date():
        if _is_working_day(cal, day):
            opens = dt.datetime.combine(day, cal.day_start, tzinfo=zone)
            closes = dt.datetime.combine(day, cal.day_end, tzinfo=zone)
            overlap = min(b, closes) - max(a, opens)
            if overlap > dt.timedelta():
                total += overlap
        day += dt.timedelta(days=1)
    return total // dt.timedelta(minutes=1)
