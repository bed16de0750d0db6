"""Forms of the obstacle, warning and review pages (docs/design-obstacles.md).

They only read input — a delay in working hours or days, the information records
that back an obstacle or its resolution, a mitigation's owner and due date, a
review's factors and actions — and hand it to `rantai.obstacles`, whose errors
are shown on these forms (`rantai.web.access.apply_errors`). Dropdowns offer
only what the caller may see.
"""

from __future__ import annotations

from decimal import Decimal
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.db.models import QuerySet
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from rantai.chains.models import DurationUnit, Step, Task
from rantai.chains.rules import to_minutes
from rantai.evidence.models import InformationRecord
from rantai.obstacles.models import (
    AnticipationSettings,
    Cause,
    FactorArea,
    Obstacle,
    Severity,
)
from rantai.org.models import Party, Person
from rantai.web.forms import (
    DateInput,
    PartyChoiceField,
    PersonChoiceField,
    RantaiForm,
    VersionedForm,
    label,
)
from rantai.web.forms_runs import NumberField


def _capitalised(choices: list[tuple[str, Any]]) -> list[tuple[str, Any]]:
    """A model's choices as a form offers them: "High", "A partner" (lazily,
    so each reader gets their language)."""
    return [(value, capfirst(name)) for value, name in choices]


# The longest delay one obstacle may claim, in working days (a typing slip of
# "5000" hours is refused on the form rather than moving a run by years).
MAX_DELAY_DAYS = 365


class RecordChoiceField(forms.ModelMultipleChoiceField):
    """Information records, each with its status (unverified ones are hearsay)."""

    def label_from_instance(self, obj: InformationRecord) -> str:  # type: ignore[override]
        return f"{obj.title} ({obj.get_status_display()})"


class TaskChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Task) -> str:  # type: ignore[override]
        return obj.name


class StepChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Step) -> str:  # type: ignore[override]
        return f"{obj.name} ({obj.key})"


# --- the expected delay -------------------------------------------------------------


class DelayMixin(forms.Form):
    """The expected delay as people say it: a number of working hours or days."""

    delay_value = NumberField(
        label=_("Expected delay"),
        help_text=_("How much later the work is expected to be done, e.g. 4 or 1,5."),
    )
    delay_unit = forms.ChoiceField(
        label=_("Delay unit"),
        choices=_capitalised(DurationUnit.choices),
        initial=DurationUnit.WORKING_HOURS,
    )

    def clean_delay_value(self) -> Decimal:
        value = self.cleaned_data["delay_value"]
        if value is None:
            raise ValidationError(_("Enter the expected delay."))
        if value < 0:
            raise ValidationError(_("A delay cannot be negative."))
        return Decimal(value)

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        value, unit = data.get("delay_value"), data.get("delay_unit")
        if value is not None and unit:
            days = value if unit == DurationUnit.WORKING_DAYS else value / 8
            if days > MAX_DELAY_DAYS:
                self.add_error(
                    "delay_value",
                    _("At most %(days)d working days.") % {"days": MAX_DELAY_DAYS},
                )
        return data

    def delay_minutes(self, *, minutes_per_day: int) -> int:
        """The delay in working minutes of the organisation's calendar."""
        return to_minutes(
            self.cleaned_data["delay_value"],
            self.cleaned_data["delay_unit"],
            minutes_per_day=minutes_per_day,
        )


def delay_initial(minutes: int, minutes_per_day: int) -> dict[str, Any]:
    """A stored delay as the form shows it: whole days in days, else hours."""
    if minutes and minutes_per_day and minutes % minutes_per_day == 0:
        return {
            "delay_value": str(minutes // minutes_per_day),
            "delay_unit": DurationUnit.WORKING_DAYS,
        }
    hours = (Decimal(minutes) / 60).normalize()
    if hours == hours.to_integral_value():
        hours = hours.quantize(Decimal(1))
    return {"delay_value": str(hours), "delay_unit": DurationUnit.WORKING_HOURS}


# --- obstacles ------------------------------------------------------------------------


class ObstacleForm(DelayMixin, RantaiForm):
    """Raise an obstacle on a run (optionally one of its tasks) or on a task."""

    task = TaskChoiceField(
        label=label(Obstacle, "task"),
        queryset=Task.objects.none(),
        required=False,
        empty_label=_("— the whole run —"),
        help_text=_(
            "The task it holds up; the whole run when it holds up everything still "
            "to do."
        ),
    )
    title = forms.CharField(
        label=_("Title"),
        max_length=200,
        help_text=_("For example: the forwarder's truck is delayed."),
    )
    description = forms.CharField(
        label=label(Obstacle, "description"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("What happened, what it holds up, what is known so far."),
    )
    severity = forms.ChoiceField(
        label=label(Obstacle, "severity"),
        choices=_capitalised(Severity.choices),
        initial=Severity.MEDIUM,
    )
    cause = forms.ChoiceField(
        label=label(Obstacle, "cause"),
        choices=_capitalised(Cause.choices),
        initial=Cause.OTHER,
    )
    records = RecordChoiceField(
        label=_("Supporting information"),
        queryset=InformationRecord.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "Information records of this run that show the obstacle. Unverified "
            "ones are marked as hearsay until someone else checks them."
        ),
    )

    field_order = [
        "task",
        "title",
        "description",
        "delay_value",
        "delay_unit",
        "severity",
        "cause",
        "records",
    ]

    def __init__(
        self,
        *args: Any,
        tasks: QuerySet[Task] | None,
        records: QuerySet[InformationRecord],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        if tasks is None:  # raised on one task: the task is given
            del self.fields["task"]
        else:
            self.fields["task"].queryset = tasks  # type: ignore[attr-defined]
        self.fields["records"].queryset = records  # type: ignore[attr-defined]


class WhatIfForm(DelayMixin, RantaiForm):
    """The what-if's input only (the live preview of the raise form)."""

    task = forms.IntegerField(required=False, widget=forms.HiddenInput)


class ObstacleUpdateForm(DelayMixin, VersionedForm):
    severity = forms.ChoiceField(
        label=label(Obstacle, "severity"), choices=_capitalised(Severity.choices)
    )
    cause = forms.ChoiceField(
        label=label(Obstacle, "cause"), choices=_capitalised(Cause.choices)
    )


class RecordsForm(RantaiForm):
    """More information records behind an obstacle."""

    records = RecordChoiceField(
        label=_("Supporting information"),
        queryset=InformationRecord.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose at least one information record.")},
    )

    def __init__(
        self, *args: Any, records: QuerySet[InformationRecord], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["records"].queryset = records  # type: ignore[attr-defined]


class ResolveForm(VersionedForm):
    resolution = forms.CharField(
        label=_("How it was resolved"),
        widget=forms.Textarea(attrs={"rows": 4}),
        help_text=_("How it was resolved, and what the run can count on now."),
        error_messages={"required": _("Say how the obstacle was resolved.")},
    )
    records = RecordChoiceField(
        label=label(Obstacle, "resolution_records"),
        queryset=InformationRecord.objects.none(),
        widget=forms.CheckboxSelectMultiple,
        help_text=_(
            "At least one information record with evidence (a file, a link or a "
            "measured value) that shows the obstacle is resolved."
        ),
        error_messages={
            "required": _("Choose the information that shows it is resolved.")
        },
    )

    def __init__(
        self, *args: Any, records: QuerySet[InformationRecord], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["records"].queryset = records  # type: ignore[attr-defined]


class WithdrawForm(VersionedForm):
    reason = forms.CharField(
        label=_("Why it is withdrawn"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("For example: raised twice, or raised on the wrong run."),
        error_messages={"required": _("Say why the obstacle is withdrawn.")},
    )


class MitigationForm(RantaiForm):
    description = forms.CharField(
        label=_("Action"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What will be done against the obstacle."),
    )
    owner = PersonChoiceField(label=_("Owner"), queryset=Person.objects.none())
    due_date = forms.DateField(
        label=_("Due date"),
        widget=DateInput(),
        help_text=_("Due by the end of this working day."),
    )

    def __init__(self, *args: Any, people: QuerySet[Person], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = people  # type: ignore[attr-defined]


class OutcomeForm(VersionedForm):
    outcome = forms.CharField(
        label=_("Outcome"),
        widget=forms.Textarea(attrs={"rows": 2}),
        help_text=_("What was done, and what came of it."),
    )


class CancelForm(VersionedForm):
    reason = forms.CharField(
        label=_("Reason"), widget=forms.Textarea(attrs={"rows": 2})
    )


# --- anticipation settings ------------------------------------------------------------

SETTINGS_FIELDS = (
    "obstacle_response_hours",
    "slack_warning_percent",
    "approval_warning_hours",
    "vacancy_horizon_days",
    "evidence_warning_hours",
)


class AnticipationSettingsForm(VersionedForm):
    obstacle_response_hours = forms.IntegerField(
        label=label(AnticipationSettings, "obstacle_response_hours"),
        help_text=_(
            "The accountable is told then; their superior one such period later."
        ),
    )
    slack_warning_percent = forms.IntegerField(
        label=label(AnticipationSettings, "slack_warning_percent"),
        help_text=_("Of the slack the task had when it became ready."),
    )
    approval_warning_hours = forms.IntegerField(
        label=label(AnticipationSettings, "approval_warning_hours")
    )
    vacancy_horizon_days = forms.IntegerField(
        label=label(AnticipationSettings, "vacancy_horizon_days")
    )
    evidence_warning_hours = forms.IntegerField(
        label=label(AnticipationSettings, "evidence_warning_hours")
    )


def settings_initial(settings: AnticipationSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in SETTINGS_FIELDS} | {
        "version": settings.version
    }


# --- reviews ----------------------------------------------------------------------------


class ReviewTextForm(VersionedForm):
    summary = forms.CharField(
        label=_("What happened"),
        widget=forms.Textarea(attrs={"rows": 5}),
        required=False,
        help_text=_("Describe the conditions and decisions, not who is to blame."),
    )
    learned = forms.CharField(
        label=_("What we learned"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )
    keep_as_written = forms.BooleanField(
        label=_("Keep as written"),
        required=False,
        help_text=_(
            "The text names a person or blames: keep it only if that is really "
            "what helps the next run."
        ),
    )


class FactorForm(RantaiForm):
    area = forms.ChoiceField(
        label=_("Where it came from"),
        choices=_capitalised(FactorArea.choices),
        widget=forms.RadioSelect,
        help_text=_(
            "A step, the procedure's design, a party, a handover or outside "
            "conditions: there is no field for a person."
        ),
    )
    task = TaskChoiceField(
        label=_("Step"),
        queryset=Task.objects.none(),
        required=False,
        help_text=_("For a step, or the step that handed over."),
    )
    next_task = TaskChoiceField(
        label=_("Handed over to"),
        queryset=Task.objects.none(),
        required=False,
        help_text=_("For a handover: the step that received."),
    )
    party = PartyChoiceField(
        label=_("Party"), queryset=Party.objects.none(), required=False
    )
    description = forms.CharField(
        label=_("What contributed"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "The conditions that made the outcome likely: what was known, what "
            "was missing, what got in the way."
        ),
    )
    keep_as_written = forms.BooleanField(label=_("Keep as written"), required=False)

    def __init__(
        self,
        *args: Any,
        tasks: QuerySet[Task],
        parties: QuerySet[Party],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["task"].queryset = tasks  # type: ignore[attr-defined]
        self.fields["next_task"].queryset = tasks  # type: ignore[attr-defined]
        self.fields["party"].queryset = parties  # type: ignore[attr-defined]


class ActionForm(RantaiForm):
    description = forms.CharField(
        label=_("Action"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("What will change so it goes better next time."),
    )
    owner = PersonChoiceField(label=_("Owner"), queryset=Person.objects.none())
    due_on = forms.DateField(label=_("Due"), widget=DateInput(), required=False)
    proposes_change = forms.BooleanField(
        label=_("Proposes a change to the procedure"),
        required=False,
        help_text=_("Offered to the procedure's next draft version."),
    )
    step = StepChoiceField(
        label=_("Step to change"),
        queryset=Step.objects.none(),
        required=False,
        empty_label=_("— the procedure as a whole —"),
    )

    def __init__(
        self,
        *args: Any,
        people: QuerySet[Person],
        steps: QuerySet[Step],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner"].queryset = people  # type: ignore[attr-defined]
        self.fields["step"].queryset = steps  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if data.get("step") is not None and not data.get("proposes_change"):
            self.add_error(
                "step", _("Only a proposed change to the procedure names a step.")
            )
        return data


class ProposalsForm(RantaiForm):
    """The proposed changes taken into a draft version."""

    actions = forms.TypedMultipleChoiceField(
        label=_("Proposed changes"),
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
        error_messages={"required": _("Choose the proposals taken into this draft.")},
    )

    def __init__(
        self, *args: Any, choices: list[tuple[int, str]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["actions"].choices = choices  # type: ignore[attr-defined]
