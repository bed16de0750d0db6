"""Forms of the procedure and working-calendar pages.

They only read input: every rule is checked by the chains service the view calls,
and its errors are shown on these forms (`rantai.web.access.apply_errors`).
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from rantai.chains.models import (
    ConditionOperator,
    DependencyKind,
    DurationUnit,
    FieldType,
    Holiday,
    Procedure,
    RaciRole,
    RunField,
    Step,
    StepDependency,
    StepRole,
    WorkingCalendar,
)
from rantai.org.models import Duty, Party, Position
from rantai.web.forms import (
    DateInput,
    PartyChoiceField,
    PositionChoiceField,
    RantaiForm,
    VersionedForm,
    help_text,
)
from rantai.web.forms import (
    label as model_label,
)

WEEKDAYS = [
    (0, _("Monday")),
    (1, _("Tuesday")),
    (2, _("Wednesday")),
    (3, _("Thursday")),
    (4, _("Friday")),
    (5, _("Saturday")),
    (6, _("Sunday")),
]


class TimeInput(forms.TimeInput):
    input_type = "time"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%H:%M", **kwargs)


class DutyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Duty) -> str:  # type: ignore[override]
        return f"{obj.title} — {obj.position.title}"


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


# --- procedures -------------------------------------------------------------------


class ProcedureCreateForm(RantaiForm):
    name = forms.CharField(label=model_label(Procedure, "name"), max_length=200)
    code = forms.CharField(
        label=model_label(Procedure, "code"),
        max_length=30,
        help_text=_("A short code, unique in the organisation (e.g. SHIP)."),
    )
    owner_position = PositionChoiceField(
        label=model_label(Procedure, "owner_position"),
        queryset=Position.objects.none(),
        help_text=_(
            "Its holders change the procedure and steer its runs (with the "
            "administrators)."
        ),
    )
    description = forms.CharField(
        label=model_label(Procedure, "description"), widget=_textarea(), required=False
    )

    def __init__(self, *args: Any, positions: QuerySet[Position], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["owner_position"].queryset = positions  # type: ignore[attr-defined]


class ProcedureEditForm(VersionedForm, ProcedureCreateForm):
    pass


# --- run fields -------------------------------------------------------------------


def _lines(value: str) -> list[str]:
    """One entry per line (or per comma on a single line), blanks dropped."""
    parts = value.splitlines() if "\n" in value else value.split(",")
    return [part.strip() for part in parts if part.strip()]


class RunFieldForm(RantaiForm):
    key = forms.SlugField(
        label=model_label(RunField, "key"),
        max_length=50,
        help_text=_(
            "Letters, digits and hyphens or underscores; step conditions name it "
            "(e.g. shipment_value)."
        ),
    )
    label = forms.CharField(label=model_label(RunField, "label"), max_length=200)
    field_type = forms.ChoiceField(
        label=model_label(RunField, "field_type"), choices=FieldType.choices
    )
    required = forms.BooleanField(
        label=model_label(RunField, "required"), required=False, initial=True
    )
    choices = forms.CharField(
        label=model_label(RunField, "choices"),
        widget=_textarea(3),
        required=False,
        help_text=_("For a choice field only: one choice per line."),
    )
    unit = forms.CharField(
        label=model_label(RunField, "unit"),
        max_length=50,
        required=False,
        help_text=_("e.g. units, IDR, kg"),
    )

    def clean_choices(self) -> list[str]:
        return _lines(self.cleaned_data.get("choices") or "")


class RunFieldEditForm(VersionedForm, RunFieldForm):
    pass


def run_field_initial(run_field: RunField) -> dict[str, Any]:
    return {
        "key": run_field.key,
        "label": run_field.label,
        "field_type": run_field.field_type,
        "required": run_field.required,
        "choices": "\n".join(run_field.choices or []),
        "unit": run_field.unit,
        "version": run_field.version,
    }


# --- steps ------------------------------------------------------------------------

NO_CONDITION = [("", _("— always applies —"))]
NO_OPERATOR = [("", "—")]


class StepForm(RantaiForm):
    key = forms.SlugField(
        label=model_label(Step, "key"),
        max_length=50,
        help_text=_("Short and unique in the procedure (e.g. price-shipping)."),
    )
    name = forms.CharField(label=model_label(Step, "name"), max_length=200)
    description = forms.CharField(
        label=model_label(Step, "description"), widget=_textarea(), required=False
    )
    duty = DutyChoiceField(
        label=model_label(Step, "duty"),
        queryset=Duty.objects.none(),
        required=False,
        help_text=_("The duty of a job description this step carries out."),
    )
    duration_value = forms.DecimalField(
        label=model_label(Step, "duration_value"),
        max_digits=8,
        decimal_places=2,
        help_text=_("Estimated, in working time."),
    )
    duration_unit = forms.ChoiceField(
        label=model_label(Step, "duration_unit"),
        choices=DurationUnit.choices,
        initial=DurationUnit.WORKING_DAYS,
    )
    evidence_description = forms.CharField(
        label=model_label(Step, "evidence_description"),
        widget=_textarea(2),
        required=False,
        help_text=_("What the step must produce to show it was done."),
    )
    requires_evidence = forms.BooleanField(
        label=model_label(Step, "requires_evidence"), required=False
    )
    requires_verified_evidence = forms.BooleanField(
        label=model_label(Step, "requires_verified_evidence"),
        required=False,
        help_text=help_text(Step, "requires_verified_evidence"),
    )
    requires_approval = forms.BooleanField(
        label=model_label(Step, "requires_approval"),
        required=False,
        help_text=_("The task counts as done only once its approval route approves."),
    )
    requires_consultation = forms.BooleanField(
        label=model_label(Step, "requires_consultation"),
        required=False,
        help_text=help_text(Step, "requires_consultation"),
    )
    condition_field = forms.ChoiceField(
        label=model_label(Step, "condition_field"),
        choices=NO_CONDITION,
        required=False,
        help_text=_(
            "An optional condition on a run field: the step is skipped when it "
            "does not hold."
        ),
    )
    condition_operator = forms.ChoiceField(
        label=model_label(Step, "condition_operator"),
        choices=NO_OPERATOR + list(ConditionOperator.choices),
        required=False,
    )
    condition_value = forms.CharField(
        label=model_label(Step, "condition_value"),
        max_length=500,
        required=False,
        help_text=_("For “is one of” and “is none of”, separate the values by commas."),
    )

    def __init__(
        self,
        *args: Any,
        duties: QuerySet[Duty],
        run_fields: Iterable[RunField],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["duty"].queryset = duties  # type: ignore[attr-defined]
        self.fields["condition_field"].choices = NO_CONDITION + [  # type: ignore[attr-defined]
            (field.key, f"{field.label} ({field.key})") for field in run_fields
        ]

    def clean_condition_value(self) -> Any:
        """The typed form of the text entered (lists for the list operators)."""
        text = (self.cleaned_data.get("condition_value") or "").strip()
        operator = self.data.get(self.add_prefix("condition_operator"), "")
        if operator in (ConditionOperator.IN, ConditionOperator.NOT_IN):
            return _lines(text) or None
        if operator in (ConditionOperator.IS_TRUE, ConditionOperator.IS_FALSE):
            return None
        return text or None


class StepEditForm(VersionedForm, StepForm):
    sort_order = forms.IntegerField(
        label=model_label(Step, "sort_order"),
        min_value=0,
        help_text=_("Steps are listed in this order."),
    )


def condition_value_text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    if isinstance(value, bool):
        return "yes" if value else "no"
    return str(value)


def step_initial(step: Step) -> dict[str, Any]:
    return {
        "key": step.key,
        "name": step.name,
        "description": step.description,
        "duty": step.duty_id,
        "duration_value": step.duration_value,
        "duration_unit": step.duration_unit,
        "evidence_description": step.evidence_description,
        "requires_evidence": step.requires_evidence,
        "requires_verified_evidence": step.requires_verified_evidence,
        "requires_approval": step.requires_approval,
        "requires_consultation": step.requires_consultation,
        "condition_field": step.condition_field,
        "condition_operator": step.condition_operator,
        "condition_value": condition_value_text(step.condition_value),
        "sort_order": step.sort_order,
        "version": step.version,
    }


# --- step roles -------------------------------------------------------------------


class StepRoleForm(RantaiForm):
    role = forms.ChoiceField(
        label=model_label(StepRole, "role"),
        choices=RaciRole.choices,
        widget=forms.RadioSelect,
        initial=RaciRole.RESPONSIBLE,
    )
    position = PositionChoiceField(
        label=model_label(StepRole, "position"),
        queryset=Position.objects.none(),
        required=False,
    )
    party = PartyChoiceField(
        label=_("or an external partner"),
        queryset=Party.objects.none(),
        required=False,
        help_text=_("Only as the responsible of a step done by a partner."),
    )

    def __init__(
        self,
        *args: Any,
        positions: QuerySet[Position],
        partners: QuerySet[Party],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["position"].queryset = positions  # type: ignore[attr-defined]
        self.fields["party"].queryset = partners  # type: ignore[attr-defined]


# --- dependencies -----------------------------------------------------------------


class DependencyForm(RantaiForm):
    predecessor = forms.TypedChoiceField(
        label=model_label(StepDependency, "predecessor"), coerce=int
    )
    successor = forms.TypedChoiceField(
        label=_("Step that waits"),
        coerce=int,
        help_text=_(
            "It starts after the predecessor finishes (or starts), plus a lag."
        ),
    )
    kind = forms.ChoiceField(
        label=model_label(StepDependency, "kind"),
        choices=DependencyKind.choices,
        initial=DependencyKind.FINISH_TO_START,
    )
    lag_value = forms.DecimalField(
        label=model_label(StepDependency, "lag_value"),
        max_digits=8,
        decimal_places=2,
        initial=0,
    )
    lag_unit = forms.ChoiceField(
        label=model_label(StepDependency, "lag_unit"),
        choices=DurationUnit.choices,
        initial=DurationUnit.WORKING_HOURS,
    )

    def __init__(self, *args: Any, steps: Sequence[Step], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        options = [("", "—")] + [
            (step.pk, f"{step.key} · {step.name}") for step in steps
        ]
        self.fields["predecessor"].choices = options  # type: ignore[attr-defined]
        self.fields["successor"].choices = options  # type: ignore[attr-defined]


class DependencyEditForm(VersionedForm):
    kind = forms.ChoiceField(
        label=model_label(StepDependency, "kind"), choices=DependencyKind.choices
    )
    lag_value = forms.DecimalField(
        label=model_label(StepDependency, "lag_value"), max_digits=8, decimal_places=2
    )
    lag_unit = forms.ChoiceField(
        label=model_label(StepDependency, "lag_unit"), choices=DurationUnit.choices
    )


# --- versions ---------------------------------------------------------------------


class NewDraftForm(RantaiForm):
    notes = forms.CharField(
        label=_("What changes in this version"),
        widget=_textarea(3),
        required=False,
    )


# --- working calendar -------------------------------------------------------------


class CalendarForm(VersionedForm):
    working_weekdays = forms.TypedMultipleChoiceField(
        label=model_label(WorkingCalendar, "working_weekdays"),
        choices=WEEKDAYS,
        coerce=int,
        widget=forms.CheckboxSelectMultiple,
    )
    day_start = forms.TimeField(
        label=model_label(WorkingCalendar, "day_start"), widget=TimeInput()
    )
    day_end = forms.TimeField(
        label=model_label(WorkingCalendar, "day_end"), widget=TimeInput()
    )


class HolidayForm(RantaiForm):
    date = forms.DateField(label=model_label(Holiday, "date"), widget=DateInput())
    name = forms.CharField(
        label=model_label(Holiday, "name"),
        max_length=200,
        help_text=help_text(Holiday, "name") or _("e.g. Company anniversary"),
    )


class LoadHolidaysForm(RantaiForm):
    year = forms.IntegerField(label=_("Year"), min_value=1950, max_value=2100)


class ConfirmDeleteForm(RantaiForm):
    """Delete or remove: nothing to fill in."""
