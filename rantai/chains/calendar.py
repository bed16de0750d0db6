"""Working-time arithmetic on an organisation's working calendar.

Pure Python (no Django): a calendar is a time zone, the working weekdays, the daily
working hours and the holidays. Every function takes and returns aware datetimes
and answers in UTC.

Working time is a single line of *working positions*: working day number ``n``
(counted from 0001-01-01) covers positions ``[n * D, (n + 1) * D)`` where ``D`` is the
length of a working day. A moment outside working time sits at the boundary between
two working days, so the same position is both "the end of one working day" and "the
start of the next": work that *finishes* there ends at the end of the earlier day,
work that *starts* there starts at the beginning of the later one. Conversions are
O(log holidays), and mapping a whole-minute position back to a datetime is a dict
lookup plus one addition, which keeps large schedules cheap.

Working hours are read on the local wall clock; a daylight-saving change inside the
working hours (none in Indonesia) is handled on wall-clock time too.
"""

from __future__ import annotations

import bisect
import datetime as dt
from dataclasses import dataclass
from functools import lru_cache
from itertools import repeat
from operator import add, sub
from zoneinfo import ZoneInfo

__all__ = [
    "CalendarSpec",
    "add_working_minutes",
    "end_of_working_day",
    "minutes_per_working_day",
    "next_working_moment",
    "subtract_working_minutes",
    "working_minutes_between",
]

UTC = dt.UTC
MICROSECONDS_PER_MINUTE = 60_000_000
_MICROSECONDS_PER_SECOND = 1_000_000
# Days kept in a calendar's day cache before it is cleared (a long-running worker
# should not grow without bound).
_DAY_CACHE_LIMIT = 200_000


@dataclass(frozen=True, slots=True)
class CalendarSpec:
    """An organisation's working calendar: when work can happen, in its time zone."""

    time_zone: str
    working_weekdays: frozenset[int]
    day_start: dt.time
    day_end: dt.time
    holidays: frozenset[dt.date]

    def __post_init__(self) -> None:
        # Accept any iterable but store frozensets, so the spec stays hashable.
        object.__setattr__(self, "working_weekdays", frozenset(self.working_weekdays))
        object.__setattr__(self, "holidays", frozenset(self.holidays))
        try:
            ZoneInfo(self.time_zone)
        except (ValueError, KeyError) as error:  # ZoneInfoNotFoundError is a KeyError
            raise ValueError(f"unknown time zone {self.time_zone!r}") from error
        if not self.working_weekdays:
            raise ValueError("a calendar needs at least one working weekday")
        if not self.working_weekdays <= frozenset(range(7)):
            raise ValueError("working weekdays are 0 (Monday) to 6 (Sunday)")
        for name, value in (("day_start", self.day_start), ("day_end", self.day_end)):
            if value.tzinfo is not None:
                raise ValueError(f"{name} is a local wall-clock time, without tzinfo")
            if value.second or value.microsecond:
                raise ValueError(f"{name} must be a whole minute")
        if self.day_end <= self.day_start:
            raise ValueError("a working day must end after it starts")


def _require_aware(moment: dt.datetime, name: str = "moment") -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")


class _CompiledCalendar:
    """A calendar prepared for fast position arithmetic (built once per spec)."""

    __slots__ = (
        "day_cache",
        "day_end",
        "day_start",
        "day_start_minutes",
        "holiday_ordinals",
        "holiday_set",
        "microseconds_per_day",
        "minute_steps",
        "minutes_per_day",
        "time_zone",
        "weekday_prefix",
        "weekdays",
        "working_weekdays",
    )

    def __init__(self, spec: CalendarSpec) -> None:
        self.time_zone = ZoneInfo(spec.time_zone)
        self.day_start = spec.day_start
        self.day_end = spec.day_end
        self.day_start_minutes = spec.day_start.hour * 60 + spec.day_start.minute
        end_minutes = spec.day_end.hour * 60 + spec.day_end.minute
        self.minutes_per_day = end_minutes - self.day_start_minutes
        self.microseconds_per_day = self.minutes_per_day * MICROSECONDS_PER_MINUTE
        self.working_weekdays = spec.working_weekdays
        self.weekdays = sorted(spec.working_weekdays)
        # weekday_prefix[r]: working weekdays among Monday .. weekday r - 1.
        self.weekday_prefix = [0] * 8
        for weekday in range(7):
            self.weekday_prefix[weekday + 1] = self.weekday_prefix[weekday] + (
                weekday in spec.working_weekdays
            )
        # Only holidays on working weekdays change the count of working days.
        self.holiday_ordinals = sorted(
            day.toordinal()
            for day in spec.holidays
            if day.weekday() in spec.working_weekdays
        )
        self.holiday_set = frozenset(self.holiday_ordinals)
        self.minute_steps = [
            dt.timedelta(minutes=minute) for minute in range(self.minutes_per_day + 1)
        ]
        # working day number -> (UTC start of that day, offset constant all day?)
        self.day_cache: dict[int, tuple[dt.datetime, bool]] = {}

    # -- working days ---------------------------------------------------------

    def is_working(self, ordinal: int) -> bool:
        # date.fromordinal(1) is a Monday, so (ordinal - 1) % 7 is the weekday.
        return (
            ordinal - 1
        ) % 7 in self.working_weekdays and ordinal not in self.holiday_set

    def days_before(self, ordinal: int) -> int:
        """Working days in [0001-01-01, the day with this ordinal)."""
        weeks, rest = divmod(ordinal - 1, 7)
        return (
            weeks * len(self.weekdays)
            + self.weekday_prefix[rest]
            - bisect.bisect_left(self.holiday_ordinals, ordinal)
        )

    def nth_working_ordinal(self, number: int) -> int:
        """The ordinal of working day ``number`` (0 = the first since 0001-01-01)."""
        if number < 0:
            raise ValueError("working time before 0001-01-01")
        per_week = len(self.weekdays)
        # Find the working weekday number m (holidays ignored) with
        # m = number + holidays up to it. Iterating from m = number climbs to the
        # least such m, which is never a holiday (m - 1 would also qualify).
        candidate_number = number
        while True:
            weeks, rest = divmod(candidate_number, per_week)
            ordinal = 1 + weeks * 7 + self.weekdays[rest]
            shifted = number + bisect.bisect_right(self.holiday_ordinals, ordinal)
            if shifted == candidate_number:
                return ordinal
            candidate_number = shifted

    def day(self, number: int) -> tuple[dt.datetime, bool]:
        cached = self.day_cache.get(number)
        if cached is None:
            if len(self.day_cache) >= _DAY_CACHE_LIMIT:
                self.day_cache.clear()
            local_day = dt.date.fromordinal(self.nth_working_ordinal(number))
            local_start = dt.datetime.combine(
                local_day, self.day_start, tzinfo=self.time_zone
            )
            local_end = dt.datetime.combine(
                local_day, self.day_end, tzinfo=self.time_zone
            )
            uniform = local_start.utcoffset() == local_end.utcoffset()
            cached = (local_start.astimezone(UTC), uniform)
            self.day_cache[number] = cached
        return cached

    # -- positions ------------------------------------------------------------

    def position(self, moment: dt.datetime) -> int:
        """Working microseconds from 0001-01-01 up to ``moment``."""
        local = moment.astimezone(self.time_zone)
        ordinal = local.toordinal()
        start = self.days_before(ordinal) * self.microseconds_per_day
        if not self.is_working(ordinal):
            return start
        within = (
            (local.hour * 60 + local.minute - self.day_start_minutes) * 60
            + local.second
        ) * _MICROSECONDS_PER_SECOND + local.microsecond
        if within <= 0:
            return start
        if within >= self.microseconds_per_day:
            return start + self.microseconds_per_day
        return start + within

    def moment(self, position: int, *, finish: bool) -> dt.datetime:
        """The UTC moment at ``position``; at a day boundary, ``finish`` picks the
        end of the earlier working day, otherwise the start of the later one."""
        number, within = divmod(position, self.microseconds_per_day)
        if finish and within == 0 and number > 0:
            number -= 1
            within = self.microseconds_per_day
        start, uniform = self.day(number)
        if uniform:
            return start + dt.timedelta(microseconds=within)
        return self._wall_clock(start, within)

    def moment_at_minute(self, minute: int, *, finish: bool) -> dt.datetime:
        """``moment`` for a whole-minute position (the scheduler's hot path)."""
        number, within = divmod(minute, self.minutes_per_day)
        if finish and within == 0 and number > 0:
            number -= 1
            within = self.minutes_per_day
        start, uniform = self.day(number)
        if uniform:
            return start + self.minute_steps[within]
        return self._wall_clock(start, within * MICROSECONDS_PER_MINUTE)

    def moments_at_offsets(
        self, offsets: list[int], base: int, *, finish: bool
    ) -> list[dt.datetime]:
        """``moment_at_minute(base + offset)`` for many offsets at once.

        The scheduler's hot path: the arithmetic runs in C (``map``) over the few
        working days spanned. With ``finish``, a positive offset at a day boundary
        is the end of the earlier day; offset 0 (now) and earlier are not moved back.
        """
        if not offsets:
            return []
        per_day = self.minutes_per_day
        # The finish convention is divmod(minute - 1) plus one minute: a day
        # boundary then falls at the end of the earlier day.
        shift = base - 1 if finish else base
        numbers, withins = zip(
            *map(divmod, map(add, offsets, repeat(shift)), repeat(per_day)),
            strict=True,
        )
        first = min(numbers)
        days = [self.day(number) for number in range(first, max(numbers) + 1)]
        if not all(uniform for _, uniform in days):
            return [
                self.moment_at_minute(base + offset, finish=finish and offset > 0)
                for offset in offsets
            ]
        starts = [start for start, _ in days]
        steps = self.minute_steps[1:] if finish else self.minute_steps
        moments = list(
            map(
                add,
                map(starts.__getitem__, map(sub, numbers, repeat(first))),
                map(steps.__getitem__, withins),
            )
        )
        if finish and min(offsets) <= 0:
            for position, offset in enumerate(offsets):
                if offset <= 0:
                    moments[position] = self.moment_at_minute(
                        base + offset, finish=False
                    )
        return moments

    def _wall_clock(self, start_utc: dt.datetime, within: int) -> dt.datetime:
        local_start = start_utc.astimezone(self.time_zone)
        local = local_start + dt.timedelta(microseconds=within)  # wall-clock addition
        return local.astimezone(UTC)


@lru_cache(maxsize=64)
def _compiled(spec: CalendarSpec) -> _CompiledCalendar:
    return _CompiledCalendar(spec)


def compiled_calendar(spec: CalendarSpec) -> _CompiledCalendar:
    """The prepared form of ``spec`` (cached); for the scheduler in this package."""
    return _compiled(spec)


def minutes_per_working_day(cal: CalendarSpec) -> int:
    """The length of one working day in minutes (e.g. 480 for 08:00-16:00)."""
    return _compiled(cal).minutes_per_day


def next_working_moment(cal: CalendarSpec, moment: dt.datetime) -> dt.datetime:
    """``moment`` itself if work can start then, otherwise the next start of work."""
    _require_aware(moment)
    compiled = _compiled(cal)
    return compiled.moment(compiled.position(moment), finish=False)


def add_working_minutes(
    cal: CalendarSpec, start: dt.datetime, minutes: int
) -> dt.datetime:
    """When work of ``minutes`` working minutes begun at ``start`` ends.

    A start outside working time snaps to the next working moment; work that ends
    exactly at the end of a working day ends then, not at the next day's start.
    """
    _require_aware(start, "start")
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    compiled = _compiled(cal)
    position = compiled.position(start) + minutes * MICROSECONDS_PER_MINUTE
    return compiled.moment(position, finish=minutes > 0)


def subtract_working_minutes(
    cal: CalendarSpec, end: dt.datetime, minutes: int
) -> dt.datetime:
    """When work of ``minutes`` working minutes must begin to end at ``end``.

    An end outside working time snaps back to the previous end of working time; work
    that begins exactly at the start of a working day begins then.
    """
    _require_aware(end, "end")
    if minutes < 0:
        raise ValueError("minutes must not be negative")
    compiled = _compiled(cal)
    position = compiled.position(end) - minutes * MICROSECONDS_PER_MINUTE
    return compiled.moment(position, finish=minutes == 0)


def working_minutes_between(cal: CalendarSpec, a: dt.datetime, b: dt.datetime) -> int:
    """Whole working minutes from ``a`` to ``b`` (negative if ``b`` is before ``a``)."""
    _require_aware(a, "a")
    _require_aware(b, "b")
    compiled = _compiled(cal)
    difference = compiled.position(b) - compiled.position(a)
    whole = abs(difference) // MICROSECONDS_PER_MINUTE
    return whole if difference >= 0 else -whole


def end_of_working_day(cal: CalendarSpec, day: dt.date) -> dt.datetime:
    """The end of working time on ``day`` ("due on <date>").

    For a day without work (a weekend or a holiday) this is the end of the last
    working day before it: work due then must be done by that moment.
    """
    compiled = _compiled(cal)
    working_days_through = compiled.days_before(day.toordinal() + 1)
    return compiled.moment(
        working_days_through * compiled.microseconds_per_day, finish=True
    )
