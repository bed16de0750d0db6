"""Forms of the roles pages: reassigning a task, answering a consultation,
acknowledging a briefing, the rebalancing proposal's buttons and the fairness
report's filters.

They only read input; every rule (who may, who is a candidate, when a reason is
needed) is checked by the `rantai.roles` service the view calls, and its errors
are shown on these forms.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

from django import forms
from django.core.exceptions import ValidationError
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rantai.org.models import Party
from rantai.web.forms import DateInput, RantaiForm, VersionedForm


class ReassignForm(VersionedForm):
    """A new assignee: the candidates of the policy first, everyone else of the
    organisation after them (choosing one of those is an override and the
    service asks for a reason)."""

    person = forms.TypedChoiceField(
        label=_("New assignee"),
        coerce=int,
        empty_value=None,
    )
    reason = forms.CharField(
        label=_("Reason"),
        widget=forms.Textarea(attrs={"rows": 2}),
        required=False,
        help_text=_(
            "Required when you choose someone outside the candidates: it is kept "
            "with the assignment and shown in the fairness report."
        ),
    )

    def __init__(
        self,
        *args: Any,
        candidates: Sequence[tuple[int, str]],
        others: Sequence[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        choices: list[Any] = [("", _("— choose —"))]
        if candidates:
            choices.append((_("Candidates"), list(candidates)))
        if others:
            choices.append((_("Others (an override: give a reason)"), list(others)))
        self.fields["person"].choices = choices  # type: ignore[attr-defined]


class AnswerForm(VersionedForm):
    """A consulted holder's input on a task."""

    answer = forms.CharField(
        label=_("Your input"),
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_("The assignee and everyone who can see the task will read it."),
    )


class AcknowledgeForm(VersionedForm):
    """ "I have read my briefing": nothing to fill in but the version."""


class ProposalForm(VersionedForm):
    """Apply or discard a rebalancing proposal as it was shown."""


class FairnessFilterForm(RantaiForm):
    """The period (from and until, both included) and optionally one unit (the
    units the reader may see; the whole organisation only for those who see it
    whole)."""

    since = forms.DateField(label=_("From"), widget=DateInput(), required=False)
    until = forms.DateField(label=_("Until"), widget=DateInput(), required=False)
    unit = forms.TypedChoiceField(
        label=pgettext_lazy("organisation unit", "Unit"),
        coerce=int,
        empty_value=None,
        required=False,
        help_text=_("Its sub-units included."),
    )

    def __init__(
        self, *args: Any, units: Sequence[Party], whole: bool, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        choices: list[tuple[Any, str]] = [
            (unit.pk, f"{unit.name} ({unit.code})") for unit in units
        ]
        if whole:
            choices.insert(0, ("", str(_("The whole organisation"))))
        self.fields["unit"].choices = choices  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        data = super().clean() or {}
        since: dt.date | None = data.get("since")
        until: dt.date | None = data.get("until")
        if since and until and until < since:
            raise ValidationError(_("The period ends before it starts."), code="period")
        return data
