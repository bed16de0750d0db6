"""Forms of the approval pages: the decision on a request's open stage, and the
requester's withdrawal and resubmission.

They only read input: every rule (who may decide, a rejection needs a reason, where
a return may go, which delegation works now) is checked by
`rantai.approvals.services`, whose errors are shown on these forms
(`rantai.web.access.apply_errors`). The choices offered are the ones the page
found possible when it was read; the service decides again at the moment of the
decision.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from django import forms
from django.utils.translation import gettext_lazy as _

from rantai.approvals.models import Outcome
from rantai.web.forms import VersionedForm

# The decision, said as the approver does it (the model's labels are past tense).
OUTCOME_CHOICES = [
    (Outcome.APPROVE.value, _("Approve")),
    (Outcome.REJECT.value, _("Reject")),
    (Outcome.RETURN.value, _("Return for revision")),
]
# `return_to_stage` 0: back to the requester.
TO_REQUESTER = 0


class DecisionForm(VersionedForm):
    """Approve, reject (with a reason) or return for revision (with a comment) to an
    earlier stage or to the requester; on someone's behalf when the caller holds
    a delegation from an approver of the stage."""

    outcome = forms.ChoiceField(
        label=_("Your decision"),
        choices=OUTCOME_CHOICES,
        widget=forms.RadioSelect,
    )
    comment = forms.CharField(
        label=_("Comment"),
        required=False,
        widget=forms.Textarea(attrs={"rows": 3}),
        help_text=_(
            "Needed to reject (the reason) and to return for revision (what to "
            "change). The requester and the other approvers read it."
        ),
    )
    return_to_stage = forms.TypedChoiceField(
        label=_("Return to"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=_("Only when you return it for revision."),
    )
    on_behalf_of = forms.TypedChoiceField(
        label=_("On behalf of (a.n.)"),
        required=False,
        coerce=int,
        empty_value=None,
        help_text=_("You decide in their place, under the delegation they gave you."),
    )

    def __init__(
        self,
        *args: Any,
        requester_name: str,
        earlier_stages: Sequence[tuple[int, str]],
        behalf: Sequence[tuple[int, str]],
        **kwargs: Any,
    ) -> None:
        """`earlier_stages`: (order, name) of the stages before the open one;
        `behalf`: (person id, name) of the approvers the caller may decide for
        under a delegation (none: the field is left out)."""
        super().__init__(*args, **kwargs)
        returns = self.fields["return_to_stage"]
        returns.choices = [  # type: ignore[attr-defined]
            ("", _("— not returning —")),
            (
                TO_REQUESTER,
                _("the requester (%(name)s)") % {"name": requester_name},
            ),
            *[
                (order, _("stage %(order)d: %(name)s") % {"order": order, "name": name})
                for order, name in earlier_stages
            ],
        ]
        if behalf:
            self.fields["on_behalf_of"].choices = list(behalf)  # type: ignore[attr-defined]
            self.fields["on_behalf_of"].required = len(behalf) > 1
            if len(behalf) == 1:
                self.fields["on_behalf_of"].initial = behalf[0][0]
        else:
            del self.fields["on_behalf_of"]


class WithdrawForm(VersionedForm):
    """The requester takes the request back (final)."""


class ResubmitForm(VersionedForm):
    """The requester sends a request returned for revision again."""
