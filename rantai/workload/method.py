"""The workload method (analisis beban kerja, ABK, and FTE) and its calculation (pure).

For each duty: a volume of work (beban kerja) per period and a standard time (norma
waktu) per output unit. The required staff of a duty is

    volume × standard time (minutes) ÷ effective working time of the same period (WKE)

and of a position the sum over its duties. Job effectiveness EJ = required staff ÷
current holders, graded A..E (prestasi jabatan, PJ). FTE compares the yearly activity
time with the organisation's available time. Every figure carries a trace: the formula
with its numbers put in, written in the reader's language.

Plain functions over plain data: `Decimal` only (never float), in a local context of
precision 28; minutes are the internal time unit. No models, no database.
"""

from __future__ import annotations

import dataclasses
import decimal
import itertools
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, ROUND_HALF_UP, Decimal
from enum import StrEnum
from typing import Any

from django.utils import translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rantai.core.errors import ValidationFailed
from rantai.workload.numbers import format_decimal

__all__ = [
    "PERIODS",
    "TIME_UNITS",
    "Calendar",
    "CustomDerivation",
    "EffectiveTime",
    "EntryInput",
    "EntryResult",
    "FteCategory",
    "FteConvention",
    "GradeBand",
    "Method",
    "PositionResult",
    "Preset",
    "Rounding",
    "Step",
    "available_minutes",
    "default_grades",
    "derivation_steps",
    "entry_result",
    "grade_for",
    "position_result",
]

PERIODS = ("day", "week", "month", "year")  # = models.Period values
TIME_UNITS = ("minute", "hour")  # = models.TimeUnit values
MINUTES_PER_HOUR = Decimal(60)
RESULT_PLACES = 4  # decimals shown in traces for results (0,0480)


def _context() -> decimal.Context:
    return decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN)


# -- enumerations -------------------------------------------------------------


class Preset(StrEnum):
    """Where the effective working time (WKE) comes from. Values are stored in JSON.

    * PANRB_2020 (Permenpan RB No. 1/2020, the default): 1,250 hours = 75,000
      minutes a year. The regulation states only the year; the per-period figures
      are Rantai's derivation over its stated 250 days, 50 weeks and 12 months
      (300 a day, 1,500 a week, 6,250 a month) and can be edited in the settings.
    * PERMENDAGRI_2008 (Permendagri No. 12/2008): 1,300 hours = 78,000 minutes a
      year; per period Rantai's derivation again over 260 days, 52 weeks, 12 months
      (300, 1,500, 6,500), editable.
    * BKN_2011 (Perka BKN No. 19/2011): the regulation's own figures, 72,000 minutes
      a year (240 days × 5 hours), 300 a day, 1,500 a week (5 days), 6,000 a month
      (20 days).
    * CUSTOM: derived from the organisation's calendar (`CustomDerivation`).
    """

    PANRB_2020 = "permenpan_rb_1_2020"
    PERMENDAGRI_2008 = "permendagri_12_2008"
    BKN_2011 = "perka_bkn_19_2011"
    CUSTOM = "custom"

    @property
    def label(self) -> str:
        return str(_PRESET_LABELS[self])


_PRESET_LABELS = {
    Preset.PANRB_2020: gettext_lazy(
        "Permenpan RB No. 1/2020: 1,250 hours (75,000 minutes) a year"
    ),
    Preset.PERMENDAGRI_2008: gettext_lazy(
        "Permendagri No. 12/2008: 1,300 hours (78,000 minutes) a year"
    ),
    Preset.BKN_2011: gettext_lazy("Perka BKN No. 19/2011: 72,000 minutes a year"),
    Preset.CUSTOM: gettext_lazy("Custom: derived from the working calendar"),
}


class Rounding(StrEnum):
    """How the exact required staff becomes a number of people."""

    HALF_UP_AT_LEAST_ONE = "half_up_at_least_one"
    HALF_UP = "half_up"
    CEILING = "ceiling"

    @property
    def label(self) -> str:
        return str(_ROUNDING_LABELS[self])


_ROUNDING_LABELS = {
    Rounding.HALF_UP_AT_LEAST_ONE: gettext_lazy(
        "round half up, at least 1 when there is any workload"
    ),
    Rounding.HALF_UP: gettext_lazy("round half up"),
    Rounding.CEILING: gettext_lazy("round up"),
}


class FteConvention(StrEnum):
    """Where the FTE allowance goes: added to the activity time, or deducted from
    the available time."""

    ALLOWANCE_ADDED = "allowance_added"
    ALLOWANCE_DEDUCTED = "allowance_deducted"

    @property
    def label(self) -> str:
        return str(_CONVENTION_LABELS[self])


_CONVENTION_LABELS = {
    FteConvention.ALLOWANCE_ADDED: gettext_lazy(
        "(activity time + allowance) ÷ available time"
    ),
    FteConvention.ALLOWANCE_DEDUCTED: gettext_lazy(
        "activity time ÷ (available time − allowance)"
    ),
}


class FteCategory(StrEnum):
    UNDERLOAD = "underload"
    NORMAL = "normal"
    OVERLOAD = "overload"

    @property
    def label(self) -> str:
        return str(_CATEGORY_LABELS[self])


_CATEGORY_LABELS = {
    FteCategory.UNDERLOAD: gettext_lazy("underload"),
    FteCategory.NORMAL: gettext_lazy("normal"),
    FteCategory.OVERLOAD: gettext_lazy("overload"),
}


# -- the method ---------------------------------------------------------------


@dataclass(frozen=True)
class EffectiveTime:
    """Effective working time (waktu kerja efektif, WKE) per period, in minutes."""

    day: Decimal
    week: Decimal
    month: Decimal
    year: Decimal

    def of(self, period: str) -> Decimal:
        if period not in PERIODS:
            raise ValueError(f"unknown period {period!r}")
        value: Decimal = getattr(self, period)
        return value


@dataclass(frozen=True)
class Calendar:
    """The working days, weeks and months a year has under the method: how many
    times a daily, weekly or monthly volume recurs in a year (FTE)."""

    days_per_year: int
    weeks_per_year: int
    months_per_year: int

    def periods_per_year(self, period: str) -> int:
        return {
            "day": self.days_per_year,
            "week": self.weeks_per_year,
            "month": self.months_per_year,
            "year": 1,
        }[period]


@dataclass(frozen=True)
class CustomDerivation:
    """The organisation's own WKE, derived from its working calendar (see
    `derivation_steps`)."""

    working_days_per_week: int = 5
    weeks_per_year: int = 52
    public_holidays: int = 16
    leave_days: int = 12
    hours_per_day: Decimal = Decimal("8")
    allowance_percent: Decimal = Decimal("30")  # lost time: breaks, prayer, etc.

    @property
    def working_days(self) -> int:
        """Working days = days a week × weeks − public holidays − leave days."""
        return (
            self.working_days_per_week * self.weeks_per_year
            - self.public_holidays
            - self.leave_days
        )

    @property
    def minutes_per_day(self) -> Decimal:
        """Effective minutes a day = hours × 60 × (1 − allowance ÷ 100)."""
        with decimal.localcontext(_context()):
            return (
                self.hours_per_day
                * MINUTES_PER_HOUR
                * (1 - self.allowance_percent / Decimal(100))
            )

    @property
    def working_weeks(self) -> int:
        """Working weeks a year (for FTE) = working days ÷ days a week, rounded half
        up."""
        if self.working_days_per_week <= 0:
            return 0
        with decimal.localcontext(_context()):
            weeks = Decimal(self.working_days) / self.working_days_per_week
            return int(weeks.to_integral_value(rounding=ROUND_HALF_UP))

    def effective(self) -> EffectiveTime:
        with decimal.localcontext(_context()):
            per_day = self.minutes_per_day
            year = self.working_days * per_day
            return EffectiveTime(
                day=per_day,
                week=self.working_days_per_week * per_day,
                month=year / 12,
                year=year,
            )

    def calendar(self) -> Calendar:
        return Calendar(
            days_per_year=self.working_days,
            weeks_per_year=self.working_weeks,
            months_per_year=12,
        )


@dataclass(frozen=True)
class Step:
    """One step of a derivation, for display: what, how, how much."""

    label: str
    formula: str
    value: Decimal


def derivation_steps(
    custom: CustomDerivation, *, language: str | None = None
) -> list[Step]:
    """The custom WKE derived step by step, each with its formula and value
    (`language`: of the labels and numbers; None = the active language)."""
    language = language or translation.get_language() or "en"

    def n(value: Decimal | int) -> str:
        return _plain(value, language)

    with translation.override(language), decimal.localcontext(_context()):
        effective = custom.effective()
        per_day = effective.day
        days = custom.working_days
        return [
            Step(
                _("Working days per year"),
                f"{n(custom.working_days_per_week)} × {n(custom.weeks_per_year)}"
                f" − {n(custom.public_holidays)} − {n(custom.leave_days)}",
                Decimal(days),
            ),
            Step(
                _("Effective minutes per day"),
                f"{n(custom.hours_per_day)} × 60 × "
                f"(1 − {n(custom.allowance_percent)} ÷ 100)",
                per_day,
            ),
            Step(
                _("Effective minutes per year"),
                f"{n(days)} × {n(per_day)}",
                effective.year,
            ),
            Step(
                _("Effective minutes per week"),
                f"{n(custom.working_days_per_week)} × {n(per_day)}",
                effective.week,
            ),
            Step(
                _("Effective minutes per month"),
                f"{n(effective.year)} ÷ 12",
                effective.month,
            ),
            Step(
                _("Working weeks per year"),
                f"{n(days)} ÷ {n(custom.working_days_per_week)}",
                Decimal(custom.working_weeks),
            ),
        ]


@dataclass(frozen=True)
class GradeBand:
    """A half-open band of job effectiveness (EJ): EJ > lower (or ≥ when
    `lower_inclusive`) and below the band above it. Bands are listed highest first;
    the last has no lower bound, so every EJ falls in exactly one band."""

    grade: str
    lower: Decimal | None
    lower_inclusive: bool


def default_grades() -> tuple[GradeBand, ...]:
    """A: EJ > 1.00; B: 0.90 ≤ EJ ≤ 1.00; C: 0.70 ≤ EJ < 0.90; D: 0.50 ≤ EJ < 0.70;
    E: EJ < 0.50 (the job performance table of Permendagri 12/2008); configurable."""
    return (
        GradeBand("A", Decimal("1.00"), False),
        GradeBand("B", Decimal("0.90"), True),
        GradeBand("C", Decimal("0.70"), True),
        GradeBand("D", Decimal("0.50"), True),
        GradeBand("E", None, False),
    )


def _from_year(year: int, calendar: Calendar) -> EffectiveTime:
    with decimal.localcontext(_context()):
        return EffectiveTime(
            day=Decimal(year) / calendar.days_per_year,
            week=Decimal(year) / calendar.weeks_per_year,
            month=Decimal(year) / calendar.months_per_year,
            year=Decimal(year),
        )


# Permenpan RB No. 1 of 2020 states only the year: 1,250 hours = 75,000 minutes.
# The per-period figures are Rantai's derivation (year ÷ 250 days, 50 weeks, 12
# months: 300, 1,500 and 6,250 minutes), editable in the settings.
PANRB_CALENDAR = Calendar(days_per_year=250, weeks_per_year=50, months_per_year=12)
PANRB_EFFECTIVE = _from_year(75_000, PANRB_CALENDAR)
# Permendagri No. 12 of 2008 states 1,300 hours = 78,000 minutes a year. Per period
# Rantai's derivation again (÷ 260 days, 52 weeks, 12 months: 300, 1,500, 6,500).
PERMENDAGRI_CALENDAR = Calendar(
    days_per_year=260, weeks_per_year=52, months_per_year=12
)
PERMENDAGRI_EFFECTIVE = _from_year(78_000, PERMENDAGRI_CALENDAR)
# Perka BKN No. 19 of 2011 states every figure itself: 240 days × 5 hours = 72,000
# minutes a year, 300 a day, 1,500 a week (5 days), 6,000 a month (20 days); 48
# weeks = 240 days ÷ 5.
BKN_CALENDAR = Calendar(days_per_year=240, weeks_per_year=48, months_per_year=12)
BKN_EFFECTIVE = EffectiveTime(
    day=Decimal(300), week=Decimal(1_500), month=Decimal(6_000), year=Decimal(72_000)
)

_PRESETS: dict[str, tuple[EffectiveTime, Calendar]] = {
    Preset.PANRB_2020: (PANRB_EFFECTIVE, PANRB_CALENDAR),
    Preset.PERMENDAGRI_2008: (PERMENDAGRI_EFFECTIVE, PERMENDAGRI_CALENDAR),
    Preset.BKN_2011: (BKN_EFFECTIVE, BKN_CALENDAR),
}


@dataclass(frozen=True)
class Method:
    """Everything that decides the figures of an analysis: stored as JSON in the
    organisation's settings and snapshotted by every analysis."""

    preset: str = Preset.PANRB_2020
    effective: EffectiveTime = PANRB_EFFECTIVE
    calendar: Calendar = PANRB_CALENDAR
    custom: CustomDerivation | None = None
    rounding: str = Rounding.HALF_UP_AT_LEAST_ONE
    acting_holders_count: bool = False
    grades: tuple[GradeBand, ...] = default_grades()
    fte_allowance_percent: Decimal = Decimal("15")
    fte_convention: str = FteConvention.ALLOWANCE_ADDED
    fte_underload_below: Decimal = Decimal("1.00")
    fte_overload_above: Decimal = Decimal("1.28")

    @classmethod
    def default(cls) -> Method:
        """Permenpan RB 1/2020, rounding half up with at least one, default grades
        and FTE (15 % allowance added; normal 1.00–1.28)."""
        return cls()

    @classmethod
    def from_preset(
        cls, preset: str, *, custom: CustomDerivation | None = None
    ) -> Method:
        """The default method with the preset's WKE and calendar (CUSTOM: derived
        from `custom`, or from the default derivation)."""
        if preset == Preset.CUSTOM:
            custom = custom or CustomDerivation()
            return cls(
                preset=Preset.CUSTOM,
                effective=custom.effective(),
                calendar=custom.calendar(),
                custom=custom,
            )
        if preset not in _PRESETS:
            raise ValidationFailed({"preset": [_unknown_choice()]})
        effective, calendar = _PRESETS[preset]
        return cls(preset=Preset(preset), effective=effective, calendar=calendar)

    def to_json(self) -> dict[str, Any]:
        """Plain JSON: Decimals as strings, enumerations as their values."""
        return {
            "preset": str(self.preset),
            "effective": {period: str(self.effective.of(period)) for period in PERIODS},
            "calendar": {
                "days_per_year": self.calendar.days_per_year,
                "weeks_per_year": self.calendar.weeks_per_year,
                "months_per_year": self.calendar.months_per_year,
            },
            "custom": None
            if self.custom is None
            else {
                "working_days_per_week": self.custom.working_days_per_week,
                "weeks_per_year": self.custom.weeks_per_year,
                "public_holidays": self.custom.public_holidays,
                "leave_days": self.custom.leave_days,
                "hours_per_day": str(self.custom.hours_per_day),
                "allowance_percent": str(self.custom.allowance_percent),
            },
            "rounding": str(self.rounding),
            "acting_holders_count": self.acting_holders_count,
            "grades": [
                {
                    "grade": band.grade,
                    "lower": None if band.lower is None else str(band.lower),
                    "lower_inclusive": band.lower_inclusive,
                }
                for band in self.grades
            ],
            "fte_allowance_percent": str(self.fte_allowance_percent),
            "fte_convention": str(self.fte_convention),
            "fte_underload_below": str(self.fte_underload_below),
            "fte_overload_above": str(self.fte_overload_above),
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Method:
        """The method stored by `to_json`; missing keys take the preset's defaults
        ({} is the default method). A CUSTOM method's WKE and calendar are always
        derived again from its derivation. Bad data raises ValidationFailed."""
        if not isinstance(data, Mapping):
            raise ValidationFailed(
                {"method": [_("The method settings are not valid.")]}
            )
        reader = _Reader()
        preset = data.get("preset", Preset.PANRB_2020)
        if preset not in Preset._value2member_map_:
            raise ValidationFailed({"preset": [_unknown_choice()]})
        custom = None
        if data.get("custom") is not None:
            raw = reader.mapping(data["custom"], "custom")
            base = CustomDerivation()

            def whole(name: str) -> int:
                return reader.integer(
                    raw.get(name, getattr(base, name)), f"custom.{name}"
                )

            def number(name: str) -> Decimal:
                return reader.decimal(
                    raw.get(name, getattr(base, name)), f"custom.{name}"
                )

            custom = CustomDerivation(
                working_days_per_week=whole("working_days_per_week"),
                weeks_per_year=whole("weeks_per_year"),
                public_holidays=whole("public_holidays"),
                leave_days=whole("leave_days"),
                hours_per_day=number("hours_per_day"),
                allowance_percent=number("allowance_percent"),
            )
            reader.raise_if_any()
        method = cls.from_preset(preset, custom=custom)
        changes: dict[str, Any] = {}
        if preset != Preset.CUSTOM:
            if "effective" in data:
                raw = reader.mapping(data["effective"], "effective")
                changes["effective"] = EffectiveTime(
                    **{
                        period: reader.decimal(
                            raw.get(period, method.effective.of(period)),
                            f"effective.{period}",
                        )
                        for period in PERIODS
                    }
                )
            if "calendar" in data:
                raw = reader.mapping(data["calendar"], "calendar")
                changes["calendar"] = Calendar(
                    **{
                        field.name: reader.integer(
                            raw.get(field.name, getattr(method.calendar, field.name)),
                            f"calendar.{field.name}",
                        )
                        for field in dataclasses.fields(Calendar)
                    }
                )
        for name in ("rounding", "fte_convention"):
            if name in data:
                changes[name] = reader.text(data[name], name)
        if "acting_holders_count" in data:
            changes["acting_holders_count"] = reader.boolean(
                data["acting_holders_count"], "acting_holders_count"
            )
        for name in (
            "fte_allowance_percent",
            "fte_underload_below",
            "fte_overload_above",
        ):
            if name in data:
                changes[name] = reader.decimal(data[name], name)
        if "grades" in data:
            changes["grades"] = reader.grades(data["grades"])
        reader.raise_if_any()
        method = dataclasses.replace(method, **changes)
        method.validate()
        return method

    def validate(self) -> None:
        """Refuse a method that cannot give sensible figures (ValidationFailed with
        field keys)."""
        errors: dict[str, list[str]] = {}

        def refuse(key: str, message: str) -> None:
            errors.setdefault(key, []).append(message)

        if self.preset not in Preset._value2member_map_:
            refuse("preset", _unknown_choice())
        if self.rounding not in Rounding._value2member_map_:
            refuse("rounding", _unknown_choice())
        if self.fte_convention not in FteConvention._value2member_map_:
            refuse("fte_convention", _unknown_choice())
        if self.preset == Preset.CUSTOM:
            if self.custom is None:
                refuse("custom", _("A custom method needs its working calendar."))
            else:
                _validate_custom(self.custom, refuse)
        for period in PERIODS:
            if not _positive(self.effective.of(period)):
                refuse(
                    f"effective.{period}",
                    _("The effective working time must be more than zero."),
                )
        calendar_limits = {
            "days_per_year": 366,
            "weeks_per_year": 53,
            "months_per_year": 12,
        }
        for name, most in calendar_limits.items():
            value = getattr(self.calendar, name)
            if not isinstance(value, int) or not 1 <= value <= most:
                refuse(
                    f"calendar.{name}",
                    _("Enter a whole number from %(least)s to %(most)s.")
                    % {"least": 1, "most": most},
                )
        _validate_grades(self.grades, refuse)
        allowance = self.fte_allowance_percent
        if not _finite(allowance) or not Decimal(0) <= allowance <= Decimal(100):
            refuse(
                "fte_allowance_percent",
                _("The allowance must be between 0 and 100 percent."),
            )
        elif (
            self.fte_convention == FteConvention.ALLOWANCE_DEDUCTED and allowance >= 100
        ):
            refuse(
                "fte_allowance_percent",
                _(
                    "Deducted from the available time, the allowance must leave "
                    "some time: enter less than 100 percent."
                ),
            )
        under, over = self.fte_underload_below, self.fte_overload_above
        if not _positive(under):
            refuse("fte_underload_below", _("Enter a number more than zero."))
        if not _positive(over):
            refuse("fte_overload_above", _("Enter a number more than zero."))
        elif _positive(under) and under >= over:
            refuse(
                "fte_overload_above",
                _("The overload limit must be above the underload limit."),
            )
        if errors:
            raise ValidationFailed(errors)


def _finite(value: object) -> bool:
    return isinstance(value, Decimal) and value.is_finite()


def _positive(value: object) -> bool:
    return _finite(value) and value > 0  # type: ignore[operator]


def _unknown_choice() -> str:
    return _("Choose one of the offered options.")


def _validate_custom(custom: CustomDerivation, refuse: Callable[[str, str], None]):
    whole_ranges = {
        "working_days_per_week": (1, 7),
        "weeks_per_year": (1, 53),
        "public_holidays": (0, 366),
        "leave_days": (0, 366),
    }
    for name, (least, most) in whole_ranges.items():
        value = getattr(custom, name)
        if not isinstance(value, int) or not least <= value <= most:
            refuse(
                f"custom.{name}",
                _("Enter a whole number from %(least)s to %(most)s.")
                % {"least": least, "most": most},
            )
    hours = custom.hours_per_day
    if not _positive(hours) or hours > 24:
        refuse(
            "custom.hours_per_day",
            _("Enter the working hours of a day: more than 0, at most 24."),
        )
    allowance = custom.allowance_percent
    if not _finite(allowance) or not Decimal(0) <= allowance < Decimal(100):
        refuse(
            "custom.allowance_percent",
            _("The allowance must be at least 0 and less than 100 percent."),
        )
    if (
        all(isinstance(getattr(custom, name), int) for name in whole_ranges)
        and custom.working_days <= 0
    ):
        refuse(
            "custom.leave_days",
            _("After public holidays and leave, no working days remain in the year."),
        )


def _validate_grades(
    grades: Sequence[GradeBand], refuse: Callable[[str, str], None]
) -> None:
    """Bands strictly descending by lower bound, distinct non-empty grades, the last
    (and only the last) without a lower bound: no gaps, no overlaps."""
    if not grades:
        refuse("grades", _("Enter at least one grade."))
        return
    names = [band.grade for band in grades]
    if any(
        not isinstance(name, str) or not name.strip() or len(name) > 4 for name in names
    ):
        refuse("grades", _("Each grade needs a name of at most 4 characters."))
    elif len(set(names)) != len(names):
        refuse("grades", _("Each grade may appear only once."))
    if grades[-1].lower is not None:
        refuse("grades", _("The last grade must have no lower bound."))
    bounds = [band.lower for band in grades[:-1]]
    if any(bound is None for bound in bounds):
        refuse("grades", _("Only the last grade may have no lower bound."))
    elif any(not _finite(bound) for bound in bounds):
        refuse("grades", _("Each lower bound must be a number."))
    elif any(
        higher <= lower  # type: ignore[operator]
        for higher, lower in itertools.pairwise(bounds)
    ):
        refuse(
            "grades",
            _("List the grades from the highest lower bound down, each one lower."),
        )


class _Reader:
    """Reads JSON values into typed ones, collecting field-keyed errors."""

    def __init__(self) -> None:
        self.errors: dict[str, list[str]] = {}

    def refuse(self, key: str, message: str) -> None:
        self.errors.setdefault(key, []).append(message)

    def raise_if_any(self) -> None:
        if self.errors:
            raise ValidationFailed(self.errors)

    def mapping(self, value: Any, key: str) -> Mapping[str, Any]:
        if isinstance(value, Mapping):
            return value
        self.refuse(key, _("The method settings are not valid."))
        return {}

    def decimal(self, value: Any, key: str) -> Decimal:
        if isinstance(value, bool):
            pass
        elif isinstance(value, Decimal | int):
            return Decimal(value)
        elif isinstance(value, float):
            return Decimal(repr(value))
        elif isinstance(value, str):
            try:
                number = Decimal(value.strip())
            except decimal.InvalidOperation:
                pass
            else:
                if number.is_finite():
                    return number
        self.refuse(key, _("Enter a number."))
        return Decimal(0)

    def integer(self, value: Any, key: str) -> int:
        if isinstance(value, int) and not isinstance(value, bool):
            return value
        if isinstance(value, str) and value.strip().isdigit():
            return int(value.strip())
        self.refuse(key, _("Enter a whole number."))
        return 0

    def boolean(self, value: Any, key: str) -> bool:
        if isinstance(value, bool):
            return value
        self.refuse(key, _("Choose yes or no."))
        return False

    def text(self, value: Any, key: str) -> str:
        if isinstance(value, str):
            return value
        self.refuse(key, _unknown_choice())
        return ""

    def grades(self, value: Any) -> tuple[GradeBand, ...]:
        if not isinstance(value, list | tuple):
            self.refuse("grades", _("The method settings are not valid."))
            return ()
        bands = []
        for item in value:
            if not isinstance(item, Mapping):
                self.refuse("grades", _("The method settings are not valid."))
                continue
            lower = item.get("lower")
            bands.append(
                GradeBand(
                    grade=self.text(item.get("grade"), "grades"),
                    lower=None if lower is None else self.decimal(lower, "grades"),
                    lower_inclusive=self.boolean(
                        item.get("lower_inclusive", False), "grades"
                    ),
                )
            )
        return tuple(bands)


# -- the calculation ----------------------------------------------------------


@dataclass(frozen=True)
class EntryInput:
    """One duty's figures: volume of work per period and standard time per unit."""

    volume: Decimal | None
    period: str
    standard_time: Decimal | None
    time_unit: str

    @property
    def is_filled(self) -> bool:
        return self.volume is not None and self.standard_time is not None


@dataclass(frozen=True)
class EntryResult:
    standard_minutes: Decimal | None
    effective_minutes: Decimal  # WKE of the entry's period
    required_staff: Decimal | None  # volume × standard minutes ÷ WKE(period)
    yearly_minutes: Decimal | None  # volume × periods a year × standard minutes
    trace: str  # "120 × 30 min ÷ 75,000 min = 0.0480"
    yearly_trace: str = ""  # "120 × 1 × 30 min = 3,600 min"


@dataclass(frozen=True)
class PositionResult:
    required_staff: Decimal  # sum over filled entries (exact)
    required_count: int  # by the rounding rule
    current_holders: int  # definitive (+ acting when the method counts them)
    shortage: int  # required_count − current_holders (negative = surplus)
    effectiveness: Decimal | None  # EJ; None with no holders ("not applicable")
    grade: str  # "" when EJ is None
    activity_minutes: Decimal  # per year
    fte: Decimal | None  # None when there is no available time
    fte_category: str  # FteCategory value, "" when FTE is None
    fte_count: int  # ceiling of FTE
    traces: dict[str, str]
    entries: tuple[EntryResult, ...] = ()
    fte_per_holder: Decimal | None = None  # one holder's load (the category's basis)


def _plain(value: Decimal | int, language: str) -> str:
    """An input figure as written (no trailing zeros; at most 4 decimals)."""
    number = Decimal(value)
    places = None if number.normalize().as_tuple().exponent >= -4 else RESULT_PLACES  # type: ignore[operator]
    return format_decimal(number, places, language)


def _bound(value: Decimal, language: str) -> str:
    """A limit as set (1,00; 0,90; 1,28): at least 2 decimals, at most 4."""
    exponent = value.normalize().as_tuple().exponent
    places = min(RESULT_PLACES, max(2, -exponent if isinstance(exponent, int) else 2))
    return format_decimal(value, places, language)


def _result(value: Decimal, language: str) -> str:
    return format_decimal(value, RESULT_PLACES, language)


def _standard_minutes(entry: EntryInput) -> Decimal | None:
    if entry.standard_time is None:
        return None
    if entry.time_unit == "hour":
        return entry.standard_time * MINUTES_PER_HOUR
    return entry.standard_time


def _check_entry(entry: EntryInput) -> None:
    errors = {}
    if entry.period not in PERIODS:
        errors["volume_period"] = [_unknown_choice()]
    if entry.time_unit not in TIME_UNITS:
        errors["time_unit"] = [_unknown_choice()]
    if errors:
        raise ValidationFailed(errors)


def entry_result(
    entry: EntryInput, method: Method, *, language: str = "en", traces: bool = True
) -> EntryResult:
    """A duty's required staff: volume × standard minutes ÷ WKE of its period; and
    its yearly activity time for FTE. `traces=False` leaves the traces empty (the
    same figures, much faster: `services.compute` stores figures only)."""
    _check_entry(entry)
    effective = method.effective.of(entry.period)
    standard = _standard_minutes(entry)
    if standard is None or entry.volume is None:
        empty = ""
        if traces:
            with translation.override(language):
                empty = _("not filled in")
        return EntryResult(
            standard_minutes=standard,
            effective_minutes=effective,
            required_staff=None,
            yearly_minutes=None,
            trace=empty,
            yearly_trace=empty,
        )
    with decimal.localcontext(_context()):
        required = entry.volume * standard / effective
        per_year = method.calendar.periods_per_year(entry.period)
        yearly = entry.volume * per_year * standard
    if not traces:
        return EntryResult(
            standard_minutes=standard,
            effective_minutes=effective,
            required_staff=required,
            yearly_minutes=yearly,
            trace="",
        )
    with translation.override(language):
        minute, hour = _("min"), _("h")
        volume = _plain(entry.volume, language)
        if entry.time_unit == "hour":
            time = f"{_plain(entry.standard_time or 0, language)} {hour} × 60"
        else:
            time = f"{_plain(standard, language)} {minute}"
        return EntryResult(
            standard_minutes=standard,
            effective_minutes=effective,
            required_staff=required,
            yearly_minutes=yearly,
            trace=f"{volume} × {time} ÷ {_plain(effective, language)} {minute}"
            f" = {_result(required, language)}",
            yearly_trace=f"{volume} × {_plain(per_year, language)} × {time}"
            f" = {_plain(yearly, language)} {minute}",
        )


def available_minutes(working_days: int, minutes_per_day: int) -> Decimal:
    """Available time of the year for FTE: working days × working minutes a day (of
    the organisation's calendar)."""
    return Decimal(working_days) * Decimal(minutes_per_day)


def grade_for(effectiveness: Decimal, grades: Sequence[GradeBand]) -> str:
    """The grade (PJ) of the band holding EJ: the first band, highest first, whose
    lower bound EJ passes (or meets, when inclusive)."""
    for band in grades:
        if band.lower is None:
            return band.grade
        if effectiveness > band.lower or (
            band.lower_inclusive and effectiveness == band.lower
        ):
            return band.grade
    return ""


def _band_text(index: int, grades: Sequence[GradeBand], language: str) -> str:
    """The band as an inequality: "0,90 ≤ EJ ≤ 1,00"."""
    band = grades[index]
    parts = []
    if band.lower is not None:
        parts.append(
            f"{_bound(band.lower, language)} {'≤' if band.lower_inclusive else '<'} "
        )
    parts.append("EJ")
    above = grades[index - 1] if index > 0 else None
    if above is not None and above.lower is not None:
        sign = "<" if above.lower_inclusive else "≤"
        parts.append(f" {sign} {_bound(above.lower, language)}")
    return "".join(parts)


def _rounded(required: Decimal, rounding: str) -> int:
    if rounding == Rounding.CEILING:
        return int(required.to_integral_value(rounding=ROUND_CEILING))
    count = int(required.to_integral_value(rounding=ROUND_HALF_UP))
    if rounding == Rounding.HALF_UP_AT_LEAST_ONE and required > 0:
        return max(count, 1)
    return count


@dataclass(frozen=True)
class _Figures:
    required: Decimal
    count: int
    current: int
    shortage: int
    effectiveness: Decimal | None
    grade: str
    activity: Decimal
    allowance: Decimal
    fte: Decimal | None
    fte_per_holder: Decimal | None
    category: str
    fte_count: int


def _fte(activity: Decimal, allowance: Decimal, available: Decimal, method: Method):  # type: ignore[no-untyped-def]
    """FTE by the method's convention; None without available time."""
    if method.fte_convention == FteConvention.ALLOWANCE_DEDUCTED:
        denominator = available - allowance
        return activity / denominator if available > 0 and denominator > 0 else None
    return (activity + allowance) / available if available > 0 else None


def load_per_holder(
    activity: Decimal, holders: int, *, method: Method, available: Decimal
) -> Decimal | None:
    """One holder's load, what the FTE category judges: the position's activity
    time shared by its holders, plus one person's allowance; None without holders
    or available time."""
    if holders <= 0:
        return None
    with decimal.localcontext(_context()):
        allowance = available * method.fte_allowance_percent / 100
        return _fte(activity / holders, allowance, available, method)


def _category(value: Decimal, method: Method) -> str:
    if value < method.fte_underload_below:
        return FteCategory.UNDERLOAD
    if value > method.fte_overload_above:
        return FteCategory.OVERLOAD
    return FteCategory.NORMAL


def _sums(entries: Sequence[EntryInput], method: Method) -> tuple[Decimal, Decimal]:
    """Required staff and yearly activity minutes of filled entries, without the
    per-entry results: the same operations in the same order as `entry_result`
    (each duty's quotient, then the sum), so the same exact figures, several
    times faster — `services.compute` runs it over every duty of a unit."""
    effective = {period: method.effective.of(period) for period in PERIODS}
    per_year = {period: method.calendar.periods_per_year(period) for period in PERIODS}
    required = Decimal(0)
    activity = Decimal(0)
    with decimal.localcontext(_context()):
        for entry in entries:
            if entry.period not in effective or entry.time_unit not in TIME_UNITS:
                _check_entry(entry)
            volume, standard = entry.volume, entry.standard_time
            if volume is None or standard is None:
                continue
            if entry.time_unit == "hour":
                standard = standard * MINUTES_PER_HOUR
            required += volume * standard / effective[entry.period]
            activity += volume * per_year[entry.period] * standard
    return required, activity


def _figures(
    required: Decimal,
    activity: Decimal,
    *,
    holders: int,
    acting: int,
    method: Method,
    available: Decimal,
) -> _Figures:
    with decimal.localcontext(_context()):
        count = _rounded(required, method.rounding)
        current = holders + (acting if method.acting_holders_count else 0)
        effectiveness = required / current if current > 0 else None
        grade = (
            grade_for(effectiveness, method.grades) if effectiveness is not None else ""
        )
        allowance = available * method.fte_allowance_percent / 100
        fte = _fte(activity, allowance, available, method)
        # The load of one holder: the position's activity shared by its holders, with
        # one person's allowance (the same as the FTE with a single holder).
        fte_per_holder = (
            load_per_holder(activity, current, method=method, available=available)
            if fte is not None
            else None
        )
        category = (
            str(_category(fte_per_holder, method)) if fte_per_holder is not None else ""
        )
        fte_count = (
            int(fte.to_integral_value(rounding=ROUND_CEILING)) if fte is not None else 0
        )
    return _Figures(
        required=required,
        count=count,
        current=current,
        shortage=count - current,
        effectiveness=effectiveness,
        grade=grade,
        activity=activity,
        allowance=allowance,
        fte=fte,
        fte_per_holder=fte_per_holder,
        category=category,
        fte_count=fte_count,
    )


def position_result(
    entries: Sequence[EntryInput],
    *,
    holders: int,
    acting: int,
    method: Method,
    available_minutes: Decimal,
    language: str = "en",
    traces: bool = True,
) -> PositionResult:
    """A position's figures from its duties: required staff (exact, and counted by
    the rounding rule), shortage, EJ and its grade, FTE and its category, each with
    its trace in `language` (`traces=False`: the same figures without traces).

    The FTE category is the load of one holder — the position's activity shared by
    its current holders, plus one person's allowance — so a normal position with two
    holders is not called overloaded; a position without holders has no category.
    The FTE itself (and the staff it asks for, its ceiling) is the position's."""
    if traces:
        results = tuple(
            entry_result(entry, method, language=language) for entry in entries
        )
        with decimal.localcontext(_context()):
            required = sum(
                (r.required_staff for r in results if r.required_staff is not None),
                Decimal(0),
            )
            activity = sum(
                (r.yearly_minutes or Decimal(0) for r in results), Decimal(0)
            )
    else:
        results = ()
        required, activity = _sums(entries, method)
    figures = _figures(
        required,
        activity,
        holders=holders,
        acting=acting,
        method=method,
        available=available_minutes,
    )
    return PositionResult(
        required_staff=figures.required,
        required_count=figures.count,
        current_holders=figures.current,
        shortage=figures.shortage,
        effectiveness=figures.effectiveness,
        grade=figures.grade,
        activity_minutes=figures.activity,
        fte=figures.fte,
        fte_category=figures.category,
        fte_count=figures.fte_count,
        fte_per_holder=figures.fte_per_holder,
        traces=(
            _traces(
                results,
                figures,
                holders=holders,
                acting=acting,
                method=method,
                available=available_minutes,
                language=language,
            )
            if traces
            else {}
        ),
        entries=results,
    )


def _traces(
    results: Sequence[EntryResult],
    figures: _Figures,
    *,
    holders: int,
    acting: int,
    method: Method,
    available: Decimal,
    language: str,
) -> dict[str, str]:
    """Every figure of a position as its formula with the numbers put in."""
    traces: dict[str, str] = {}
    with translation.override(language):
        minute = _("min")
        filled = [result for result in results if result.required_staff is not None]
        required, count, current = figures.required, figures.count, figures.current
        terms = [
            _result(result.required_staff or Decimal(0), language) for result in filled
        ]
        if not terms:
            traces["required_staff"] = _("no filled duties: %(zero)s") % {
                "zero": _result(Decimal(0), language)
            }
        elif len(terms) == 1:
            traces["required_staff"] = terms[0]
        else:
            traces["required_staff"] = (
                " + ".join(terms) + f" = {_result(required, language)}"
            )
        rule = (
            Rounding(method.rounding).label
            if method.rounding in Rounding._value2member_map_
            else method.rounding
        )
        traces["required_count"] = f"{_result(required, language)} → {count} ({rule})"
        if not acting:
            traces["current_holders"] = _("definitive holders: %(holders)s") % {
                "holders": holders
            }
        elif method.acting_holders_count:
            traces["current_holders"] = _(
                "definitive %(holders)s + acting (Plt) %(acting)s = %(current)s"
            ) % {"holders": holders, "acting": acting, "current": current}
        else:
            traces["current_holders"] = _(
                "definitive holders: %(holders)s (acting (Plt) %(acting)s not counted)"
            ) % {"holders": holders, "acting": acting}
        traces["shortage"] = f"{count} − {current} = {_signed(figures.shortage)}"
        if figures.effectiveness is not None:
            effectiveness = figures.effectiveness
            traces["effectiveness"] = (
                f"{_result(required, language)} ÷ {current}"
                f" = {_result(effectiveness, language)}"
            )
            names = [band.grade for band in method.grades]
            band = _band_text(names.index(figures.grade), method.grades, language)
            traces["grade"] = (
                f"EJ = {_result(effectiveness, language)}: {band} → {figures.grade}"
            )
        else:
            traces["effectiveness"] = _("no current holders: not applicable")
            traces["grade"] = _("no current holders: not applicable")

        yearly_terms = [result.yearly_trace.rsplit(" = ", 1)[0] for result in filled]
        total = f"{_plain(figures.activity, language)} {minute}"
        traces["activity_minutes"] = (
            " + ".join(yearly_terms) + f" = {total}" if yearly_terms else total
        )
        percent = method.fte_allowance_percent
        available_text = f"{_plain(available, language)} {minute}"
        allowance_text = f"{_plain(percent, language)}% × {available_text}"

        def formula(activity_text: str) -> str:
            if method.fte_convention == FteConvention.ALLOWANCE_DEDUCTED:
                return f"{activity_text} ÷ ({available_text} − {allowance_text})"
            return f"({activity_text} + {allowance_text}) ÷ {available_text}"

        if figures.fte is None:
            traces["fte"] = _("no available time: not applicable")
            traces["fte_category"] = traces["fte"]
            traces["fte_count"] = traces["fte"]
            return traces
        fte_text = _result(figures.fte, language)
        traces["fte"] = f"{formula(total)} = {fte_text}"
        traces["fte_count"] = f"⌈{fte_text}⌉ = {figures.fte_count}"
        if figures.fte_per_holder is None:
            traces["fte_category"] = _("no current holders: not applicable")
            return traces
        per_holder = figures.fte_per_holder
        per_text = _result(per_holder, language)
        under = _bound(method.fte_underload_below, language)
        over = _bound(method.fte_overload_above, language)
        if figures.category == FteCategory.UNDERLOAD:
            comparison = f"{per_text} < {under}"
        elif figures.category == FteCategory.OVERLOAD:
            comparison = f"{per_text} > {over}"
        else:
            comparison = f"{under} ≤ {per_text} ≤ {over}"
        label = FteCategory(figures.category).label
        if current == 1:
            traces["fte_category"] = f"{comparison} → {label}"
        else:
            share = f"{total} ÷ {current}"
            traces["fte_category"] = _(
                "one holder's load: %(formula)s = %(value)s; %(comparison)s → %(label)s"
            ) % {
                "formula": formula(share),
                "value": per_text,
                "comparison": comparison,
                "label": label,
            }
    return traces


def _signed(value: int) -> str:
    return f"−{-value}" if value < 0 else str(value)
