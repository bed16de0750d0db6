"""Forms of the workload pages: open an analysis, a position's entries, the
organisation's method, import, cancel.

They only read input: every rule (who may edit, a sheet must be complete to submit,
sensible volumes and standard times, a valid method) is checked by
`rantai.workload.services` and `Method.validate()`, whose errors are shown on these
forms (`rantai.web.access.apply_errors`). Numbers are typed the Indonesian or the
English way and read with `rantai.workload.numbers.parse_decimal` in the active
language, so its messages come in the user's language.
"""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal
from typing import Any

from django import forms
from django.db import models
from django.utils.translation import get_language, pgettext_lazy
from django.utils.translation import gettext_lazy as _

from rantai.accounts.models import Organisation
from rantai.org.models import Party, Position
from rantai.web.forms import (
    PartyChoiceField,
    PositionChoiceField,
    RantaiForm,
    VersionedForm,
    active_units,
)
from rantai.workload.models import Entry, Period, TimeUnit
from rantai.workload.numbers import format_decimal, parse_decimal

# The widest the year field goes (the model's check says the same).
FIRST_YEAR, LAST_YEAR = 2000, 2100


def language() -> str:
    return get_language() or "en"


def written(value: Decimal | int | None) -> str:
    """A figure as the user would type it back: their marks, no trailing zeros."""
    if value is None:
        return ""
    return format_decimal(Decimal(value), None, language())


class DecimalText(forms.CharField):
    """A number typed the user's way ("1.250,5" in Indonesian, "1,250.5" in
    English), read in the active language; blank is None unless required."""

    longest = 30

    def widget_attrs(self, widget: forms.Widget) -> dict[str, Any]:
        attrs = super().widget_attrs(widget)
        attrs.update(
            {"inputmode": "decimal", "autocomplete": "off", "maxlength": self.longest}
        )
        return attrs

    def to_python(self, value: Any) -> Decimal | None:  # type: ignore[override]
        text = super().to_python(value)
        if not text:
            return None
        if len(text) > self.longest:
            raise forms.ValidationError(_("Enter a shorter number."), code="invalid")
        try:
            return parse_decimal(text, language())
        except ValueError as error:
            raise forms.ValidationError(str(error), code="invalid") from error

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, Decimal | int) and not isinstance(value, bool):
            return written(value)
        return value


# --- opening an analysis -------------------------------------------------------------


class OpenAnalysisForm(RantaiForm):
    """The unit and year to analyse, and the analyst's position when they hold
    several (its superior approves the analysis)."""

    unit = PartyChoiceField(
        label=pgettext_lazy("organisation unit", "Unit"),
        queryset=Party.objects.none(),
        help_text=_(
            "Every active position of the unit and of its sub-units gets a sheet, "
            "with one entry per duty of its job description."
        ),
    )
    year = forms.IntegerField(
        label=_("Year"), min_value=FIRST_YEAR, max_value=LAST_YEAR
    )
    analyst_position = PositionChoiceField(
        label=_("Your position for this analysis"),
        queryset=Position.objects.none(),
        required=False,
        help_text=_("The superior of this position approves the analysis."),
    )

    def __init__(
        self,
        *args: Any,
        organisation: Organisation,
        positions: models.QuerySet[Position],
        year: int,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["unit"].queryset = active_units(organisation)  # type: ignore[attr-defined]
        self.fields["year"].initial = year
        if positions.count() > 1:
            self.fields["analyst_position"].queryset = positions  # type: ignore[attr-defined]
            self.fields["analyst_position"].required = True
        else:
            del self.fields["analyst_position"]


# --- a position's entries ------------------------------------------------------------


def entry_field(name: str, entry_id: int) -> str:
    return f"{name}-{entry_id}"


class SheetForm(RantaiForm):
    """One row per duty: volume, period, standard time and time unit, each entry
    with the version it was read at."""

    def __init__(self, *args: Any, entries: Sequence[Entry], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.entries = list(entries)
        for entry in self.entries:
            pk = entry.pk
            self.fields[entry_field("version", pk)] = forms.IntegerField(
                widget=forms.HiddenInput, initial=entry.version
            )
            self.fields[entry_field("volume", pk)] = DecimalText(
                label=_("Volume of work"), required=False, initial=entry.volume
            )
            self.fields[entry_field("period", pk)] = forms.ChoiceField(
                label=_("Per"), choices=Period.choices, initial=entry.volume_period
            )
            self.fields[entry_field("standard_time", pk)] = DecimalText(
                label=_("Standard time"),
                required=False,
                initial=entry.standard_time,
            )
            self.fields[entry_field("time_unit", pk)] = forms.ChoiceField(
                label=_("Time unit"), choices=TimeUnit.choices, initial=entry.time_unit
            )

    def row(self, entry: Entry) -> dict[str, forms.BoundField]:
        pk = entry.pk
        return {
            name: self[entry_field(name, pk)]
            for name in ("version", "volume", "period", "standard_time", "time_unit")
        }

    def changes(self) -> list[tuple[Entry, dict[str, Any]]]:
        """The entries whose figures differ from what they hold, with the new ones
        (cleaned data) and the version they were read at."""
        found = []
        for entry in self.entries:
            pk = entry.pk
            values = {
                "volume": self.cleaned_data[entry_field("volume", pk)],
                "volume_period": self.cleaned_data[entry_field("period", pk)],
                "standard_time": self.cleaned_data[entry_field("standard_time", pk)],
                "time_unit": self.cleaned_data[entry_field("time_unit", pk)],
            }
            same = (
                values["volume"] == entry.volume
                and values["volume_period"] == entry.volume_period
                and values["standard_time"] == entry.standard_time
                and values["time_unit"] == entry.time_unit
            )
            if not same:
                values["expected_version"] = self.cleaned_data[
                    entry_field("version", pk)
                ]
                found.append((entry, values))
        return found


class SheetActionForm(VersionedForm):
    """Submit a sheet for validation, or withdraw it: nothing but the version."""


class AnalysisActionForm(VersionedForm):
    """Submit, withdraw: nothing but the analysis version."""


class CancelAnalysisForm(VersionedForm):
    reason = forms.CharField(
        label=_("Reason"),
        max_length=500,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Everyone who took part reads it. The analysis cannot be reopened."
        ),
    )


class ImportForm(RantaiForm):
    file = forms.FileField(
        label=_("Workbook"),
        help_text=_(
            "The Excel template of this analysis (.xlsx), filled in. Every row is "
            "checked first; nothing is saved when a row is wrong."
        ),
        widget=forms.ClearableFileInput(attrs={"accept": ".xlsx"}),
    )


# --- the organisation's method -------------------------------------------------------


class SettingsForm(VersionedForm):
    """The method a new analysis snapshots: the preset and its effective working
    time (WKE), the custom derivation, rounding, acting holders, the job
    performance grades (PJ), and the FTE allowance, convention and categories."""

    version = forms.IntegerField(widget=forms.HiddenInput, required=False)
    preset = forms.ChoiceField(label=_("Method"), widget=forms.RadioSelect)
    use_preset_time = forms.BooleanField(
        label=_("Use the effective working time of the method"),
        required=False,
        help_text=_(
            "Untick to enter the minutes per day, week, month and year yourself."
        ),
    )
    effective_day = DecimalText(label=_("Minutes per day"), required=False)
    effective_week = DecimalText(label=_("Minutes per week"), required=False)
    effective_month = DecimalText(label=_("Minutes per month"), required=False)
    effective_year = DecimalText(label=_("Minutes per year"), required=False)
    working_days_per_week = forms.IntegerField(
        label=_("Working days per week"), min_value=1, max_value=7
    )
    weeks_per_year = forms.IntegerField(
        label=_("Weeks per year"), min_value=1, max_value=53
    )
    public_holidays = forms.IntegerField(
        label=_("Public holidays per year"), min_value=0, max_value=366
    )
    leave_days = forms.IntegerField(
        label=_("Leave days per year"), min_value=0, max_value=366
    )
    hours_per_day = DecimalText(label=_("Working hours per day"))
    allowance_percent = DecimalText(
        label=_("Allowance for lost time (%)"),
        help_text=_("Breaks, prayer and other time that is not work."),
    )
    rounding = forms.ChoiceField(label=_("Rounding of the required staff"))
    acting_holders_count = forms.BooleanField(
        label=_("Count acting holders (Plt) as current staff"), required=False
    )
    fte_allowance_percent = DecimalText(label=_("FTE allowance (%)"))
    fte_convention = forms.ChoiceField(label=_("FTE convention"))
    fte_underload_below = DecimalText(label=_("Underload below"))
    fte_overload_above = DecimalText(label=_("Overload above"))

    def __init__(
        self,
        *args: Any,
        presets: Sequence[tuple[str, str]],
        roundings: Sequence[tuple[str, str]],
        conventions: Sequence[tuple[str, str]],
        grades: Sequence[str],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["preset"].choices = list(presets)  # type: ignore[attr-defined]
        self.fields["rounding"].choices = list(roundings)  # type: ignore[attr-defined]
        self.fields["fte_convention"].choices = list(conventions)  # type: ignore[attr-defined]
        self.grades = list(grades)
        # Every band but the last has a lower bound; the last takes the rest.
        for grade in self.grades[:-1]:
            self.fields[f"grade-{grade}-lower"] = DecimalText(
                label=_("Grade %(grade)s from") % {"grade": grade}
            )
            self.fields[f"grade-{grade}-inclusive"] = forms.BooleanField(
                label=_("including the bound"), required=False
            )

    def grade_rows(self) -> list[tuple[str, forms.BoundField | None, Any]]:
        return [
            (
                grade,
                self[f"grade-{grade}-lower"] if index < len(self.grades) - 1 else None,
                self[f"grade-{grade}-inclusive"]
                if index < len(self.grades) - 1
                else None,
            )
            for index, grade in enumerate(self.grades)
        ]

    def effective_fields(self) -> list[forms.BoundField]:
        return [
            self[name]
            for name in (
                "effective_day",
                "effective_week",
                "effective_month",
                "effective_year",
            )
        ]

    def derivation_fields(self) -> list[forms.BoundField]:
        return [
            self[name]
            for name in (
                "working_days_per_week",
                "weeks_per_year",
                "public_holidays",
                "leave_days",
                "hours_per_day",
                "allowance_percent",
            )
        ]

    def fte_fields(self) -> list[forms.BoundField]:
        return [
            self[name]
            for name in (
                "fte_allowance_percent",
                "fte_underload_below",
                "fte_overload_above",
            )
        ]
