"""Forms of the organisation pages.

They only read input: every rule is checked by the service the view calls, and the
service's errors are shown on these forms (`rantai.web.access.apply_errors`).
Dropdowns offer only active objects of the caller's organisation.
"""

from __future__ import annotations

from typing import Any

from django import forms
from django.db import models
from django.utils.text import capfirst
from django.utils.translation import gettext_lazy as _

from rantai.accounts.models import Organisation, User
from rantai.org.models import Duty, Holding, Party, PartyKind, Person, Position


def label(model: type[models.Model], name: str) -> Any:
    """The model field's own (translated) name, so forms and model speak alike."""
    return capfirst(model._meta.get_field(name).verbose_name)


def help_text(model: type[models.Model], name: str) -> Any:
    return model._meta.get_field(name).help_text


class DateInput(forms.DateInput):
    input_type = "date"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%d", **kwargs)


class PositionChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Position) -> str:  # type: ignore[override]
        return f"{obj.title} — {obj.party.name} ({obj.code})"


class PartyChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Party) -> str:  # type: ignore[override]
        return f"{obj.name} ({obj.code})"


class UserChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: User) -> str:  # type: ignore[override]
        return f"{obj.display_name} ({obj.username})"


class PersonChoiceField(forms.ModelChoiceField):
    def label_from_instance(self, obj: Person) -> str:  # type: ignore[override]
        suffix = f" ({obj.employee_number})" if obj.employee_number else ""
        return f"{obj.full_name}{suffix}"


def active_parties(organisation: Organisation) -> models.QuerySet[Party]:
    return Party.objects.filter(organisation=organisation, is_active=True).order_by(
        "-kind", "name"
    )


def active_units(organisation: Organisation) -> models.QuerySet[Party]:
    return active_parties(organisation).filter(kind=PartyKind.INTERNAL_UNIT)


def active_positions(organisation: Organisation) -> models.QuerySet[Position]:
    return (
        Position.objects.filter(organisation=organisation, is_active=True)
        .select_related("party")
        .order_by("title", "code")
    )


class RantaiForm(forms.Form):
    """Plain labels (no trailing colon); errors are announced next to each field."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        kwargs.setdefault("label_suffix", "")
        super().__init__(*args, **kwargs)


class VersionedForm(RantaiForm):
    """Edits carry the version they were read at, so a stale edit writes nothing."""

    version = forms.IntegerField(widget=forms.HiddenInput)


class ConfirmForm(VersionedForm):
    """Deactivate, reactivate, retire, delete: nothing to fill in but the version."""


# --- parties ----------------------------------------------------------------------


class PartyCreateForm(RantaiForm):
    kind = forms.ChoiceField(
        label=label(Party, "kind"), choices=PartyKind.choices, widget=forms.RadioSelect
    )
    name = forms.CharField(label=label(Party, "name"), max_length=200)
    code = forms.CharField(
        label=label(Party, "code"),
        max_length=30,
        help_text=_("A short code, unique in the organisation (e.g. EXP)."),
    )
    parent = PartyChoiceField(
        label=label(Party, "parent"),
        queryset=Party.objects.none(),
        required=False,
        help_text=_("Internal units only; leave empty for a top-level unit."),
    )
    description = forms.CharField(
        label=label(Party, "description"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = active_units(organisation)  # type: ignore[attr-defined]


class PartyEditForm(VersionedForm):
    name = forms.CharField(label=label(Party, "name"), max_length=200)
    code = forms.CharField(label=label(Party, "code"), max_length=30)
    description = forms.CharField(
        label=label(Party, "description"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    head_position = PositionChoiceField(
        label=label(Party, "head_position"),
        queryset=Position.objects.none(),
        required=False,
        help_text=_("The position that leads this party; one of its own positions."),
    )

    def __init__(self, *args: Any, party: Party, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["head_position"].queryset = active_positions(  # type: ignore[attr-defined]
            party.organisation
        ).filter(party=party)


class PartyMoveForm(VersionedForm):
    parent = PartyChoiceField(
        label=label(Party, "parent"),
        queryset=Party.objects.none(),
        required=False,
        empty_label=_("— none: a top-level unit —"),
    )

    def __init__(self, *args: Any, party: Party, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["parent"].queryset = active_units(party.organisation).exclude(  # type: ignore[attr-defined]
            pk=party.pk
        )


# --- positions --------------------------------------------------------------------


class PositionCreateForm(RantaiForm):
    party = PartyChoiceField(
        label=label(Position, "party"), queryset=Party.objects.none()
    )
    title = forms.CharField(label=label(Position, "title"), max_length=200)
    code = forms.CharField(
        label=label(Position, "code"),
        max_length=30,
        help_text=_("A short code, unique in the organisation (e.g. EXP-HEAD)."),
    )
    superior = PositionChoiceField(
        label=label(Position, "superior"),
        queryset=Position.objects.none(),
        required=False,
        empty_label=_("— none: top of a superior line —"),
    )
    max_holders = forms.IntegerField(
        label=label(Position, "max_holders"),
        initial=1,
        help_text=help_text(Position, "max_holders"),
    )
    job_summary = forms.CharField(
        label=label(Position, "job_summary"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["party"].queryset = active_parties(organisation)  # type: ignore[attr-defined]
        self.fields["superior"].queryset = active_positions(organisation)  # type: ignore[attr-defined]


class PositionEditForm(VersionedForm):
    title = forms.CharField(label=label(Position, "title"), max_length=200)
    code = forms.CharField(label=label(Position, "code"), max_length=30)
    max_holders = forms.IntegerField(
        label=label(Position, "max_holders"),
        help_text=help_text(Position, "max_holders"),
    )
    job_summary = forms.CharField(
        label=label(Position, "job_summary"),
        widget=forms.Textarea(attrs={"rows": 4}),
        required=False,
    )


class PositionMoveForm(VersionedForm):
    party = PartyChoiceField(
        label=label(Position, "party"), queryset=Party.objects.none()
    )
    superior = PositionChoiceField(
        label=label(Position, "superior"),
        queryset=Position.objects.none(),
        required=False,
        empty_label=_("— none: top of a superior line —"),
    )

    def __init__(self, *args: Any, position: Position, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        organisation = position.organisation
        self.fields["party"].queryset = active_parties(organisation)  # type: ignore[attr-defined]
        self.fields["superior"].queryset = active_positions(organisation).exclude(  # type: ignore[attr-defined]
            pk=position.pk
        )


# --- duties -----------------------------------------------------------------------


class DutyForm(RantaiForm):
    title = forms.CharField(label=label(Duty, "title"), max_length=300)
    output_unit = forms.CharField(
        label=label(Duty, "output_unit"),
        max_length=100,
        help_text=help_text(Duty, "output_unit"),
    )
    description = forms.CharField(
        label=label(Duty, "description"),
        widget=forms.Textarea(attrs={"rows": 3}),
        required=False,
    )
    sort_order = forms.IntegerField(
        label=label(Duty, "sort_order"),
        required=False,
        help_text=_("Duties are listed in this order; leave empty to add at the end."),
    )


class DutyEditForm(VersionedForm, DutyForm):
    sort_order = forms.IntegerField(label=label(Duty, "sort_order"))


# --- people -----------------------------------------------------------------------


class PersonForm(RantaiForm):
    full_name = forms.CharField(label=label(Person, "full_name"), max_length=200)
    email = forms.EmailField(label=label(Person, "email"), required=False)
    employee_number = forms.CharField(
        label=label(Person, "employee_number"), max_length=40, required=False
    )
    party = PartyChoiceField(
        label=label(Person, "party"),
        queryset=Party.objects.none(),
        required=False,
        help_text=help_text(Person, "party"),
    )
    user = UserChoiceField(
        label=label(Person, "user"),
        queryset=User.objects.none(),
        required=False,
        help_text=_("A member of the organisation who signs in as this person."),
    )

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["party"].queryset = active_parties(organisation)  # type: ignore[attr-defined]
        self.fields["user"].queryset = User.objects.filter(  # type: ignore[attr-defined]
            memberships__organisation=organisation,
            memberships__is_active=True,
            is_active=True,
        ).order_by("username")


class PersonEditForm(VersionedForm, PersonForm):
    pass


# --- holders ----------------------------------------------------------------------


class HoldingCreateForm(RantaiForm):
    person = PersonChoiceField(
        label=label(Holding, "person"), queryset=Person.objects.none()
    )
    start_date = forms.DateField(label=label(Holding, "start_date"), widget=DateInput())
    end_date = forms.DateField(
        label=label(Holding, "end_date"),
        widget=DateInput(),
        required=False,
        help_text=_("Leave empty while the appointment lasts."),
    )
    is_acting = forms.BooleanField(
        label=label(Holding, "is_acting"),
        required=False,
        help_text=help_text(Holding, "is_acting"),
    )

    def __init__(self, *args: Any, organisation: Organisation, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["person"].queryset = Person.objects.filter(  # type: ignore[attr-defined]
            organisation=organisation, is_active=True
        ).order_by("full_name")


class HoldingEditForm(VersionedForm):
    start_date = forms.DateField(label=label(Holding, "start_date"), widget=DateInput())
    end_date = forms.DateField(
        label=label(Holding, "end_date"),
        widget=DateInput(),
        required=False,
        help_text=_("Leave empty while the appointment lasts."),
    )
    is_acting = forms.BooleanField(
        label=label(Holding, "is_acting"),
        required=False,
        help_text=help_text(Holding, "is_acting"),
    )


class HoldingEndForm(VersionedForm):
    end_date = forms.DateField(
        label=_("Last day in the position"),
        widget=DateInput(),
    )
