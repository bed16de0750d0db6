"""Forms of the target pages (docs/design-insight.md, "Targets").

They only read input — a quantity as people type it ("10.000" or "2,5"), the
period's dates, the parent target, the party and the owner position — and hand
it to `rantai.chains.targets`, whose errors are shown on these forms
(`rantai.web.access.apply_errors`). Dropdowns offer only active objects of the
caller's organisation; the service decides again (same unit as the parent, no
cycle, an active owner position).
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils.translation import gettext_lazy as _

from rantai.accounts.models import Organisation
from rantai.chains.models import Target
from rantai.org.models import Party, Position
from rantai.web.forms import (
    DateInput,
    PartyChoiceField,
    PositionChoiceField,
    RantaiForm,
    VersionedForm,
    active_parties,
    active_positions,
    label,
)
from rantai.web.forms_runs import NumberField, TargetChoiceField

# The target fields the service takes, in the order the form shows them.
TARGET_FIELDS = (
    "name",
    "parent",
    "party",
    "owner_position",
    "measure_quantity",
    "measure_unit",
    "period_start",
    "period_end",
    "description",
)


def active_targets(organisation: Organisation) -> QuerySet[Target]:
    """The organisation's active targets, the most recent periods first."""
    return Target.objects.filter(organisation=organisation, is_active=True).order_by(
        "-period_start", "name", "pk"
    )


class TargetForm(RantaiForm):
    """A target's name, place in the tree, measure and period (create)."""

    name = forms.CharField(
        label=label(Target, "name"),
        max_length=200,
        help_text=_("For example: 10.000 units to Kota A, first quarter."),
    )
    parent = TargetChoiceField(
        label=label(Target, "parent"),
        queryset=Target.objects.none(),
        required=False,
        empty_label=_("— none: a top-level target —"),
        help_text=_("A larger target of the same unit that this one is part of."),
    )
    party = PartyChoiceField(
        label=label(Target, "party"),
        queryset=Party.objects.none(),
        required=False,
        empty_label=_("— none: the whole organisation —"),
        help_text=_("The party that sets the target; its members see it."),
    )
    owner_position = PositionChoiceField(
        label=label(Target, "owner_position"),
        queryset=Position.objects.none(),
        help_text=_("Its holders answer for the target and may change it."),
    )
    measure_quantity = NumberField(
        label=label(Target, "measure_quantity"),
        help_text=_("How much is to be achieved in the period, e.g. 10.000 (or 2,5)."),
    )
    measure_unit = forms.CharField(
        label=label(Target, "measure_unit"),
        max_length=50,
        help_text=_(
            "For example: units, cartons, tonnes. Runs count toward it only in "
            "the same unit."
        ),
    )
    period_start = forms.DateField(
        label=label(Target, "period_start"), widget=DateInput()
    )
    period_end = forms.DateField(
        label=label(Target, "period_end"),
        widget=DateInput(),
        help_text=_("Both days count (in the organisation's time zone)."),
    )
    description = forms.CharField(
        label=label(Target, "description"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )

    def __init__(
        self,
        *args: Any,
        organisation: Organisation,
        target: Target | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        parents = active_targets(organisation)
        if target is not None:
            parents = parents.exclude(pk=target.pk)
        self.fields["parent"].queryset = parents  # type: ignore[attr-defined]
        self.fields["party"].queryset = active_parties(organisation)  # type: ignore[attr-defined]
        self.fields["owner_position"].queryset = active_positions(organisation)  # type: ignore[attr-defined]
        # Keep the order of TARGET_FIELDS (the version, if any, stays hidden).
        self.order_fields(TARGET_FIELDS)

    def clean_measure_quantity(self) -> Any:
        value = self.cleaned_data["measure_quantity"]
        if value is None:
            raise forms.ValidationError(_("Enter the target quantity."))
        return value

    def changes(self) -> dict[str, Any]:
        """The target's fields as the service takes them."""
        return {name: self.cleaned_data[name] for name in TARGET_FIELDS}


class TargetEditForm(TargetForm, VersionedForm):
    """The same fields, and the version the page was read at (compare-and-set)."""
