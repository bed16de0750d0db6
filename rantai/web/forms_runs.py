"""Forms of the run pages.

They only read input — numbers as people type them ("1.234,5" or "1,234.5"), dates,
choices — and hand it to `rantai.chains.services`, whose errors are shown on these
forms. Dropdowns offer only what the service could accept.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils import formats
from django.utils.translation import gettext
from django.utils.translation import gettext_lazy as _

from rantai.chains.models import (
    DurationUnit,
    FieldType,
    RunField,
    Target,
    Task,
)
from rantai.org.models import Party, Position
from rantai.org.transfer.parsing import CellError, parse_decimal, parse_int
from rantai.web.forms import (
    DateInput,
    PartyChoiceField,
    PositionChoiceField,
    RantaiForm,
    VersionedForm,
)

# Prefix of the form fields that carry a run field's value (keys may clash with
# the run's own fields, e.g. a run field called "title").
FIELD_PREFIX = "field_"
YES, NO = "yes", "no"
TARGET_FIELDS = (
    "title",
    "objective",
    "measure_quantity",
    "measure_unit",
    "due_date",
    "target",
)


class NumberField(forms.CharField):
    """A number as typed in Indonesia or elsewhere: "1.234,5", "1,234.5", "2,5"."""

    def __init__(self, *, whole: bool = False, **kwargs: Any) -> None:
        self.whole = whole
        kwargs.setdefault(
            "widget",
            forms.TextInput(attrs={"inputmode": "numeric" if whole else "decimal"}),
        )
        super().__init__(**kwargs)

    def clean(self, value: Any) -> Decimal | int | None:  # type: ignore[override]
        text = super().clean(value)
        if text in (None, ""):
            return None
        try:
            return parse_int(text) if self.whole else parse_decimal(text)
        except CellError as error:
            raise ValidationError(error.message) from error


def quantity(value: Decimal | int) -> str:
    """A quantity in the reader's language, without trailing zeros: 10.000 or 2,5
    (as `views.runs.number` writes it)."""
    normal = Decimal(value).normalize()
    if normal == normal.to_integral_value():
        normal = normal.quantize(Decimal(1))
    return formats.number_format(normal, use_l10n=True, force_grouping=True)


def target_choice_label(target: Target) -> str:
    """A target as a dropdown names it: "Kota A, Q1 (10,000 units, 1 Jan 2026 –
    31 Mar 2026)" — the unit matters, since a run may only feed a target of its
    own unit."""
    return gettext("%(name)s (%(quantity)s %(unit)s, %(start)s – %(end)s)") % {
        "name": target.name,
        "quantity": quantity(target.measure_quantity),
        "unit": target.measure_unit,
        "start": formats.date_format(target.period_start, "j M Y"),
        "end": formats.date_format(target.period_end, "j M Y"),
    }


class TargetChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Target) -> str:  # type: ignore[override]
        return target_choice_label(obj)


class TaskChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Task) -> str:  # type: ignore[override]
        return obj.name


class TasksChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Task) -> str:  # type: ignore[override]
        return obj.name


def _run_field(run_field: RunField) -> forms.Field:
    """The form field for one of a version's typed run fields."""
    common: dict[str, Any] = {
        "label": run_field.label,
        "required": run_field.required,
        "help_text": _("Unit: %(unit)s") % {"unit": run_field.unit}
        if run_field.unit
        else "",
    }
    kind = run_field.field_type
    if kind == FieldType.INTEGER:
        return NumberField(whole=True, **common)
    if kind == FieldType.DECIMAL:
        return NumberField(**common)
    if kind == FieldType.DATE:
        return forms.DateField(widget=DateInput(), **common)
    if kind == FieldType.CHOICE:
        choices = [(choice, choice) for choice in run_field.choices or []]
        if not run_field.required:
            choices.insert(0, ("", _("— none —")))
        return forms.ChoiceField(choices=choices, **common)
    if kind == FieldType.BOOLEAN:
        return forms.ChoiceField(
            choices=[(YES, _("yes")), (NO, _("no"))],
            widget=forms.RadioSelect,
            **common,
        )
    return forms.CharField(max_length=500, **common)


class RunStartForm(RantaiForm):
    """A run's target (what, how much, by when) and the version's run fields."""

    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        help_text=_("For example: Ship 500 units to Kota A."),
    )
    objective = forms.CharField(
        label=_("Objective"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    measure_quantity = NumberField(
        label=_("Target quantity"),
        help_text=_("How much is to be achieved, e.g. 500 (or 1.234,5)."),
    )
    measure_unit = forms.CharField(
        label=_("Unit of the target"),
        max_length=50,
        help_text=_("For example: units, cartons, tonnes."),
    )
    due_date = forms.DateField(
        label=_("Due date"),
        widget=DateInput(),
        help_text=_("Due by the end of this working day."),
    )
    target = TargetChoiceField(
        label=_("Contributes to target"),
        queryset=Target.objects.none(),
        required=False,
        empty_label=_("— none —"),
        help_text=_(
            "Optional: the target this run counts toward. It must be active and "
            "in the same unit as the run."
        ),
    )

    def __init__(
        self,
        *args: Any,
        run_fields: list[RunField],
        targets: QuerySet[Target] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = (  # type: ignore[attr-defined]
            targets if targets is not None else Target.objects.none()
        )
        self.run_fields = run_fields
        for run_field in run_fields:
            self.fields[FIELD_PREFIX + run_field.key] = _run_field(run_field)

    def field_values(self) -> dict[str, Any]:
        """The run fields' values for the service (left out when empty)."""
        values: dict[str, Any] = {}
        for run_field in self.run_fields:
            value = self.cleaned_data.get(FIELD_PREFIX + run_field.key)
            if value is None or value == "":
                continue
            if run_field.field_type == FieldType.BOOLEAN:
                value = value == YES
            elif isinstance(value, Decimal):
                value = str(value)
            values[run_field.key] = value
        return values

    def form_field_of(self, service_field: str) -> str | None:
        """Where a service error about `service_field` is shown."""
        if service_field == "due_at":
            return "due_date"
        if FIELD_PREFIX + service_field in self.fields:
            return FIELD_PREFIX + service_field
        return service_field if service_field in self.fields else None


# --- actions on tasks and runs ----------------------------------------------------


class ActionForm(VersionedForm):
    """Claim, start, complete, check again, resume: only the version the page
    showed, so a second click on a stale page writes nothing."""


class ReasonForm(VersionedForm):
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("Everyone who can see the run will read it in its history."),
    )


class DueDateForm(VersionedForm):
    due_date = forms.DateField(
        label=_("New due date"),
        widget=DateInput(),
        help_text=_("Due by the end of this working day."),
    )
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3})
    )


class ResultForm(VersionedForm):
    actual_quantity = NumberField(
        label=_("Actual quantity"),
        help_text=_("What the run actually achieved, e.g. 480 (or 1.234,5)."),
    )


class RunTargetForm(VersionedForm):
    """Point a run at the target it contributes to, or at none (the run's
    version guards it: a stale page writes nothing)."""

    target = TargetChoiceField(
        label=_("Contributes to target"),
        queryset=Target.objects.none(),
        required=False,
        empty_label=_("— none —"),
        help_text=_("Active targets in the run's own unit."),
    )

    def __init__(self, *args: Any, targets: QuerySet[Target], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["target"].queryset = targets  # type: ignore[attr-defined]


class DecisionForm(VersionedForm):
    comment = forms.CharField(
        label=_("Comment"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
    )


# --- deviations -------------------------------------------------------------------


class SkipStepForm(RantaiForm):
    task = TaskChoiceField(
        label=_("Task to skip"),
        queryset=Task.objects.none(),
        help_text=_("Only a task that has not started can be skipped."),
    )
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(self, *args: Any, open_tasks: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["task"].queryset = open_tasks  # type: ignore[attr-defined]


class ReorderForm(RantaiForm):
    task = TaskChoiceField(
        label=_("Task to move"),
        queryset=Task.objects.none(),
        help_text=_("Only a task that has not started can be moved."),
    )
    predecessors = TasksChoiceField(
        label=_("It waits for"),
        queryset=Task.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "The tasks that must finish before it starts (they replace its current "
            "predecessors)."
        ),
    )
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(
        self, *args: Any, open_tasks: Any, all_tasks: Any, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["task"].queryset = open_tasks  # type: ignore[attr-defined]
        self.fields["predecessors"].queryset = all_tasks  # type: ignore[attr-defined]


class AddStepForm(RantaiForm):
    name = forms.CharField(label=_("Name of the new step"), max_length=200)
    duration_value = NumberField(label=_("Duration"))
    duration_unit = forms.ChoiceField(
        label=_("Duration unit"),
        choices=DurationUnit.choices,
        initial=DurationUnit.WORKING_DAYS,
    )
    responsible_position = PositionChoiceField(
        label=_("Responsible position"),
        queryset=Position.objects.none(),
        required=False,
        empty_label=_("— none —"),
        help_text=_("A position of the organisation, or else an external partner."),
    )
    responsible_party = PartyChoiceField(
        label=_("Responsible external partner"),
        queryset=Party.objects.none(),
        required=False,
        empty_label=_("— none —"),
    )
    accountable_position = PositionChoiceField(
        label=_("Accountable position"), queryset=Position.objects.none()
    )
    after = TasksChoiceField(
        label=_("Comes after"),
        queryset=Task.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
    )
    before = TasksChoiceField(
        label=_("Comes before"),
        queryset=Task.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("Only tasks that have not started."),
    )
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 3})
    )

    def __init__(
        self,
        *args: Any,
        positions: Any,
        partners: Any,
        all_tasks: Any,
        open_tasks: Any,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["responsible_position"].queryset = positions  # type: ignore[attr-defined]
        self.fields["accountable_position"].queryset = positions  # type: ignore[attr-defined]
        self.fields["responsible_party"].queryset = partners  # type: ignore[attr-defined]
        self.fields["after"].queryset = all_tasks  # type: ignore[attr-defined]
        self.fields["before"].queryset = open_tasks  # type: ignore[attr-defined]
