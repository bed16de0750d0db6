"""Forms of the roles pages: a cell of the RACI matrix, acknowledging a role-check
warning, the assignment policy.

They only read input: every rule (one accountable, parties only responsible, a
reason for an acknowledgement, the policy's ranges) is checked by the roles service
the view calls, and its errors are shown on these forms
(`rantai.web.access.apply_errors`).
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from rantai.chains.models import RaciRole, Step
from rantai.org.models import Party, Position
from rantai.roles.models import AssignmentRule, CheckRule, RoleSettings
from rantai.web.forms import (
    PartyChoiceField,
    PositionChoiceField,
    RantaiForm,
    VersionedForm,
    help_text,
    label,
)

# --- the RACI matrix --------------------------------------------------------------


class RaciCellForm(RantaiForm):
    """The roles of one position (or one external party) on one step of a draft:
    the cell is set to exactly the roles ticked (none ticked empties it)."""

    step = forms.TypedChoiceField(label=_("Step"), coerce=int)
    position = PositionChoiceField(
        label=_("Position"), queryset=Position.objects.none(), required=False
    )
    party = PartyChoiceField(
        label=_("or an external partner"),
        queryset=Party.objects.none(),
        required=False,
        help_text=_("Only as the responsible of a step done by a partner."),
    )
    roles = forms.MultipleChoiceField(
        label=_("Roles"),
        choices=RaciRole.choices,
        widget=forms.CheckboxSelectMultiple,
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        steps: Sequence[Step],
        positions: QuerySet[Position],
        partners: QuerySet[Party],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["step"].choices = [("", "—")] + [  # type: ignore[attr-defined]
            (step.pk, f"{step.key} · {step.name}") for step in steps
        ]
        self.fields["position"].queryset = positions  # type: ignore[attr-defined]
        self.fields["party"].queryset = partners  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        if bool(data.get("position")) == bool(data.get("party")):
            raise forms.ValidationError(
                _("Choose a position or an external partner (one of them).")
            )
        return data


# --- role checks ------------------------------------------------------------------


class AcknowledgeForm(RantaiForm):
    """Accept a warning, with the reason why it is acceptable (the service refuses
    an acknowledgement without one too, in the same words)."""

    rule = forms.ChoiceField(choices=CheckRule.choices, widget=forms.HiddenInput)
    subject = forms.CharField(max_length=120, widget=forms.HiddenInput)
    reason = forms.CharField(
        label=_("Why this is acceptable"),
        widget=forms.Textarea(attrs={"rows": 2}),
        max_length=2000,
        error_messages={"required": _("Give the reason for accepting this warning.")},
    )


# --- the assignment policy --------------------------------------------------------


def _field(name: str) -> Any:
    return label(RoleSettings, name)


class RoleSettingsForm(VersionedForm):
    assignment_rule = forms.ChoiceField(
        label=_field("assignment_rule"),
        choices=AssignmentRule.choices,
        widget=forms.RadioSelect,
        help_text=_(
            "Least loaded first: the candidate with the least estimated open work. "
            "Round robin: the candidate assigned longest ago for the position."
        ),
    )
    require_duty_coverage = forms.BooleanField(
        label=_field("require_duty_coverage"),
        required=False,
        help_text=help_text(RoleSettings, "require_duty_coverage"),
    )
    load_window_days = forms.IntegerField(
        label=_field("load_window_days"),
        help_text=help_text(RoleSettings, "load_window_days"),
    )
    consulted_bottleneck_steps = forms.IntegerField(
        label=_field("consulted_bottleneck_steps"),
        help_text=_(
            "The role checks warn about a position consulted on more steps of "
            "published procedures than this."
        ),
    )
    briefing_reminder_days = forms.IntegerField(
        label=_field("briefing_reminder_days"),
    )
    escalate_late_tasks = forms.BooleanField(
        label=_field("escalate_late_tasks"),
        required=False,
        help_text=help_text(RoleSettings, "escalate_late_tasks"),
    )


SETTINGS_FIELDS = (
    "assignment_rule",
    "require_duty_coverage",
    "load_window_days",
    "consulted_bottleneck_steps",
    "briefing_reminder_days",
    "escalate_late_tasks",
)


def settings_initial(settings: RoleSettings) -> dict[str, Any]:
    return {name: getattr(settings, name) for name in SETTINGS_FIELDS} | {
        "version": settings.version
    }
