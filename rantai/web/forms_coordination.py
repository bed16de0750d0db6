"""Forms of the coordination pages: approval routes (their versions, stages and
conditions), absences and delegations, notification preferences and webhook
endpoints.

They only read input: every rule is checked by the service the view calls, and its
errors are shown on these forms (`rantai.web.access.apply_errors`). Dropdowns offer
only active objects of the caller's organisation. Moments are entered as local
date and time of the organisation (`LocalDateTimeField`) and handed to the services
as aware datetimes.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import Any

from django import forms
from django.db.models import QuerySet
from django.utils import timezone
from django.utils.translation import gettext_lazy as _

from rantai.approvals.models import (
    ApproverRule,
    Route,
    RouteCondition,
    RouteStage,
    RouteVersion,
    StageMode,
    SubjectKind,
    TimeoutAction,
)
from rantai.chains.models import ConditionOperator
from rantai.notifications.models import Delivery, Preference, WebhookEndpoint
from rantai.org.models import Absence, AbsenceKind, Party, Person, Position
from rantai.web.forms import (
    PartyChoiceField,
    PersonChoiceField,
    PositionChoiceField,
    RantaiForm,
    VersionedForm,
    help_text,
)
from rantai.web.forms import label as model_label

# The fields of a stage that only some approver rules (or modes) use, and which.
RULE_FIELDS: dict[str, frozenset[str]] = {
    "levels": frozenset({ApproverRule.SUPERIOR}),
    "position": frozenset({ApproverRule.POSITION}),
    "party": frozenset({ApproverRule.UNIT_HEAD}),
    "person": frozenset({ApproverRule.PERSON}),
}
MODE_FIELDS: dict[str, frozenset[str]] = {"quorum": frozenset({StageMode.QUORUM})}
# The part of a stage form that changes with the rule and the mode.
RULE_BLOCK = ("levels", "position", "party", "person", "mode", "quorum")
# A condition value entered as text: list operators take several, these none.
LIST_OPERATORS = frozenset({ConditionOperator.IN, ConditionOperator.NOT_IN})
VALUELESS_OPERATORS = frozenset({ConditionOperator.IS_TRUE, ConditionOperator.IS_FALSE})
RUN_FIELD_PREFIX = "run."
# The option of the condition's field list that asks for a run field's key.
RUN_FIELD_CHOICE = "run."


def _textarea(rows: int = 3) -> forms.Textarea:
    return forms.Textarea(attrs={"rows": rows})


def _lines(value: str) -> list[str]:
    """One entry per line (or per comma on a single line), blanks dropped."""
    parts = value.splitlines() if "\n" in value else value.split(",")
    return [part.strip() for part in parts if part.strip()]


# --- local date and time -----------------------------------------------------------


class LocalDateTimeInput(forms.DateTimeInput):
    input_type = "datetime-local"

    def __init__(self, **kwargs: Any) -> None:
        super().__init__(format="%Y-%m-%dT%H:%M", **kwargs)


class LocalDateTimeField(forms.DateTimeField):
    """A moment typed as the organisation's local date and time (a
    `datetime-local` input), cleaned to an aware datetime in that time zone; an
    aware initial value is shown in that time zone too. A wall-clock time that does
    not exist or is ambiguous there (daylight saving) is refused by Django's own
    check, in that zone."""

    widget = LocalDateTimeInput
    input_formats = [
        "%Y-%m-%dT%H:%M",
        "%Y-%m-%dT%H:%M:%S",
        "%Y-%m-%d %H:%M",
        "%Y-%m-%d %H:%M:%S",
    ]

    def __init__(self, *, time_zone: str = "UTC", **kwargs: Any) -> None:
        self.time_zone = time_zone
        super().__init__(**kwargs)

    def _zone(self) -> zoneinfo.ZoneInfo:
        return zoneinfo.ZoneInfo(self.time_zone)

    def to_python(self, value: Any) -> dt.datetime | None:
        with timezone.override(self._zone()):
            return super().to_python(value)

    def prepare_value(self, value: Any) -> Any:
        if isinstance(value, dt.datetime) and timezone.is_aware(value):
            return value.astimezone(self._zone()).replace(tzinfo=None)
        return value


def set_time_zone(form: forms.Form, time_zone: str) -> None:
    """Let every local date-and-time field of the form read in `time_zone`."""
    for form_field in form.fields.values():
        if isinstance(form_field, LocalDateTimeField):
            form_field.time_zone = time_zone


# --- routes ------------------------------------------------------------------------


class RouteCreateForm(RantaiForm):
    name = forms.CharField(label=model_label(Route, "name"), max_length=200)
    code = forms.CharField(
        label=model_label(Route, "code"),
        max_length=30,
        help_text=_("A short code, unique in the organisation (e.g. DEVIATIONS)."),
    )
    subject_kind = forms.ChoiceField(
        label=model_label(Route, "subject_kind"), choices=SubjectKind.choices
    )
    priority = forms.IntegerField(
        label=model_label(Route, "priority"),
        min_value=0,
        initial=100,
        help_text=help_text(Route, "priority"),
    )
    owner_position = PositionChoiceField(
        label=model_label(Route, "owner_position"),
        queryset=Position.objects.none(),
        required=False,
        help_text=_(
            "Its holders change the route (with the administrators) and hear of "
            "stages past their time limit."
        ),
    )
    description = forms.CharField(
        label=model_label(Route, "description"), widget=_textarea(), required=False
    )

    def __init__(
        self,
        *args: Any,
        positions: QuerySet[Position],
        kinds: Iterable[tuple[str, Any]] | None = None,
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["owner_position"].queryset = positions  # type: ignore[attr-defined]
        if kinds is not None:
            self.fields["subject_kind"].choices = list(kinds)  # type: ignore[attr-defined]


class RouteEditForm(VersionedForm):
    name = forms.CharField(label=model_label(Route, "name"), max_length=200)
    code = forms.CharField(label=model_label(Route, "code"), max_length=30)
    priority = forms.IntegerField(
        label=model_label(Route, "priority"),
        min_value=0,
        help_text=help_text(Route, "priority"),
    )
    owner_position = PositionChoiceField(
        label=model_label(Route, "owner_position"),
        queryset=Position.objects.none(),
        required=False,
    )
    description = forms.CharField(
        label=model_label(Route, "description"), widget=_textarea(), required=False
    )

    def __init__(self, *args: Any, positions: QuerySet[Position], **kwargs: Any):
        super().__init__(*args, **kwargs)
        self.fields["owner_position"].queryset = positions  # type: ignore[attr-defined]


def route_initial(route: Route) -> dict[str, Any]:
    return {
        "name": route.name,
        "code": route.code,
        "priority": route.priority,
        "owner_position": route.owner_position_id,
        "description": route.description,
        "version": route.version,
    }


class NewRouteDraftForm(RantaiForm):
    notes = forms.CharField(
        label=_("What changes in this version"), widget=_textarea(3), required=False
    )


class RouteVersionForm(VersionedForm):
    """A draft's own settings."""

    allow_repeat_approver = forms.BooleanField(
        label=model_label(RouteVersion, "allow_repeat_approver"),
        required=False,
        help_text=help_text(RouteVersion, "allow_repeat_approver"),
    )
    notes = forms.CharField(
        label=_("What changes in this version"), widget=_textarea(2), required=False
    )


# --- stages ------------------------------------------------------------------------


class StageForm(RantaiForm):
    """A stage: who approves (a rule and what it names), how many must, and the
    time limit. The fields a rule or mode does not use are shown only for it
    (`needed_by`), and left out of what the service receives (`stage_values`)."""

    name = forms.CharField(
        label=model_label(RouteStage, "name"),
        max_length=200,
        help_text=_("For example: Head of the warehouse checks."),
    )
    rule = forms.ChoiceField(
        label=model_label(RouteStage, "rule"),
        choices=ApproverRule.choices,
        initial=ApproverRule.SUPERIOR,
    )
    levels = forms.IntegerField(
        label=model_label(RouteStage, "levels"),
        min_value=1,
        max_value=20,
        initial=1,
        required=False,
        help_text=help_text(RouteStage, "levels"),
    )
    position = PositionChoiceField(
        label=model_label(RouteStage, "position"),
        queryset=Position.objects.none(),
        required=False,
        help_text=_(
            "For “the holders of a position”: its current holders approve (acting "
            "holders too)."
        ),
    )
    party = PartyChoiceField(
        label=model_label(RouteStage, "party"),
        queryset=Party.objects.none(),
        required=False,
        help_text=_(
            "For “the head of a unit or party”: the holders of its head position "
            "approve."
        ),
    )
    person = PersonChoiceField(
        label=model_label(RouteStage, "person"),
        queryset=Person.objects.none(),
        required=False,
        help_text=_("For “a named person”: who approves."),
    )
    mode = forms.ChoiceField(
        label=model_label(RouteStage, "mode"),
        choices=StageMode.choices,
        initial=StageMode.ANY,
        help_text=_("How many of the approvers found must approve."),
    )
    quorum = forms.IntegerField(
        label=model_label(RouteStage, "quorum"),
        min_value=1,
        max_value=100,
        required=False,
        help_text=help_text(RouteStage, "quorum"),
    )
    time_limit_hours = forms.IntegerField(
        label=model_label(RouteStage, "time_limit_hours"),
        min_value=1,
        max_value=10000,
        required=False,
        help_text=_("Counted in the organisation's working hours; empty: no limit."),
    )
    on_timeout = forms.ChoiceField(
        label=model_label(RouteStage, "on_timeout"),
        choices=TimeoutAction.choices,
        initial=TimeoutAction.REMIND,
    )

    def __init__(
        self,
        *args: Any,
        positions: QuerySet[Position],
        parties: QuerySet[Party],
        people: QuerySet[Person],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["position"].queryset = positions  # type: ignore[attr-defined]
        self.fields["party"].queryset = parties  # type: ignore[attr-defined]
        self.fields["person"].queryset = people  # type: ignore[attr-defined]

    def _chosen(self, name: str) -> str:
        """The rule or mode chosen: typed in (bound) or the initial one."""
        if self.is_bound:
            value = self.data.get(self.add_prefix(name))
        else:
            value = self.initial.get(name, self.fields[name].initial)
        return str(value or self.fields[name].initial or "")

    def needed_by(self, name: str) -> bool:
        """Whether the chosen rule (or mode) uses the field `name`."""
        if name in RULE_FIELDS:
            return self._chosen("rule") in RULE_FIELDS[name]
        if name in MODE_FIELDS:
            return self._chosen("mode") in MODE_FIELDS[name]
        return True

    def rule_field_rows(self) -> list[tuple[forms.BoundField, bool]]:
        """The fields that depend on the rule or the mode (with the mode itself),
        in form order, each with whether the current choice uses it."""
        return [(self[name], self.needed_by(name)) for name in RULE_BLOCK]

    def stage_values(self) -> dict[str, Any]:
        """The cleaned values for the service, the unused ones cleared."""
        data = {
            name: value
            for name, value in self.cleaned_data.items()
            if name != "version"
        }
        rule = data.get("rule")
        needs_levels = rule in RULE_FIELDS["levels"]
        data["levels"] = (data.get("levels") or 1) if needs_levels else 1
        for name in ("position", "party", "person"):
            if rule not in RULE_FIELDS[name]:
                data[name] = None
        if data.get("mode") not in MODE_FIELDS["quorum"]:
            data["quorum"] = None
        return data


class StageEditForm(VersionedForm, StageForm):
    pass


class StageMoveForm(VersionedForm):
    order = forms.IntegerField(min_value=1, widget=forms.HiddenInput)


def stage_initial(stage: RouteStage) -> dict[str, Any]:
    return {
        "name": stage.name,
        "rule": stage.rule,
        "levels": stage.levels,
        "position": stage.position_id,
        "party": stage.party_id,
        "person": stage.person_id,
        "mode": stage.mode,
        "quorum": stage.quorum,
        "time_limit_hours": stage.time_limit_hours,
        "on_timeout": stage.on_timeout,
        "version": stage.version,
    }


# --- conditions --------------------------------------------------------------------


class ConditionForm(RantaiForm):
    """`field operator value` on what the route's kind of subject offers; a run
    field is named by its key."""

    field = forms.ChoiceField(label=model_label(RouteCondition, "field"))
    run_key = forms.SlugField(
        label=_("Run field key"),
        max_length=70,
        required=False,
        help_text=_(
            "When the field is a run field: its key in the procedure (e.g. "
            "shipment_value)."
        ),
    )
    operator = forms.ChoiceField(
        label=model_label(RouteCondition, "operator"),
        choices=ConditionOperator.choices,
        initial=ConditionOperator.EQ,
    )
    value = forms.CharField(
        label=model_label(RouteCondition, "value"),
        max_length=500,
        required=False,
        help_text=_(
            "For “is one of” and “is none of”, separate the values by commas; "
            "“is yes” and “is no” need none."
        ),
    )

    def __init__(
        self, *args: Any, fields: Mapping[str, str] | None, **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        if fields is None:
            # No list of fields for this kind of subject (yet): the name is typed.
            self.fields["field"] = forms.CharField(
                label=model_label(RouteCondition, "field"),
                max_length=80,
                help_text=help_text(RouteCondition, "field"),
            )
            return
        choices: list[tuple[str, Any]] = [
            (name, f"{label} ({name})")
            for name, label in fields.items()
            if not name.startswith(RUN_FIELD_PREFIX)
        ]
        choices.append((RUN_FIELD_CHOICE, _("A run field (give its key)")))
        self.fields["field"].choices = choices  # type: ignore[attr-defined]

    def clean(self) -> dict[str, Any]:
        cleaned = super().clean() or {}
        if cleaned.get("field") == RUN_FIELD_CHOICE and not cleaned.get("run_key"):
            self.add_error("run_key", _("Give the key of the run field."))
        return cleaned

    def condition_values(self) -> dict[str, Any]:
        """(field, operator, value) for the service: the value as a list for the
        list operators, none for “is yes” / “is no”, else the text (numbers are
        read by the service against the field)."""
        data = self.cleaned_data
        name = data["field"]
        if name == RUN_FIELD_CHOICE:
            name = RUN_FIELD_PREFIX + data["run_key"]
        operator = data["operator"]
        text = (data.get("value") or "").strip()
        value: Any
        if operator in VALUELESS_OPERATORS:
            value = None
        elif operator in LIST_OPERATORS:
            value = _lines(text) or None
        else:
            value = text or None
        return {"field": name, "operator": operator, "value": value}

    def form_field_of(self, service_field: str) -> str | None:
        """Where a service error about `service_field` is shown."""
        return service_field if service_field in self.fields else None


# --- absences and delegations ------------------------------------------------------


class AbsenceForm(RantaiForm):
    kind = forms.ChoiceField(
        label=model_label(Absence, "kind"),
        choices=AbsenceKind.choices,
        initial=AbsenceKind.LEAVE,
    )
    starts_at = LocalDateTimeField(label=model_label(Absence, "starts_at"))
    ends_at = LocalDateTimeField(
        label=model_label(Absence, "ends_at"),
        help_text=_("The moment you are back."),
    )
    delegate = PersonChoiceField(
        label=_("Who decides approvals for you meanwhile"),
        queryset=Person.objects.none(),
        required=False,
        empty_label=_("— nobody: the approvals wait or pass up —"),
        help_text=_("Optional: a delegation for the same period, for every route."),
    )
    note = forms.CharField(
        label=model_label(Absence, "note"), max_length=300, required=False
    )

    def __init__(
        self,
        *args: Any,
        time_zone: str,
        people: QuerySet[Person],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        set_time_zone(self, time_zone)
        self.fields["delegate"].queryset = people  # type: ignore[attr-defined]


class RouteMultipleChoiceField(forms.ModelMultipleChoiceField):
    def label_from_instance(self, obj: Route) -> str:  # type: ignore[override]
        return f"{obj.name} ({obj.code})"


class DelegationForm(RantaiForm):
    delegate = PersonChoiceField(
        label=_("Delegate"),
        queryset=Person.objects.none(),
        help_text=_(
            "They decide your approvals on your behalf (a.n.); they cannot pass "
            "the authority on."
        ),
    )
    starts_at = LocalDateTimeField(label=_("From"))
    ends_at = LocalDateTimeField(label=_("Until"))
    routes = RouteMultipleChoiceField(
        label=_("Only for these routes"),
        queryset=Route.objects.none(),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=_("None chosen: every route."),
    )
    note = forms.CharField(label=_("Note"), widget=_textarea(2), required=False)

    def __init__(
        self,
        *args: Any,
        time_zone: str,
        people: QuerySet[Person],
        routes: QuerySet[Route],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        set_time_zone(self, time_zone)
        self.fields["delegate"].queryset = people  # type: ignore[attr-defined]
        self.fields["routes"].queryset = routes  # type: ignore[attr-defined]


# --- notification preferences ------------------------------------------------------

# Prefix of the per-event override fields (event types contain dots).
EVENT_PREFIX = "event__"
DEFAULT_DELIVERY = ""


def event_field_name(event_type: str) -> str:
    return EVENT_PREFIX + event_type.replace(".", "__")


HOURS = [(hour, f"{hour:02d}:00") for hour in range(24)]


class PreferenceForm(VersionedForm):
    urgent = forms.ChoiceField(
        label=model_label(Preference, "urgent"),
        choices=Delivery.choices,
        help_text=_("Approvals waiting for you, reminders, escalations, late runs."),
    )
    routine = forms.ChoiceField(
        label=model_label(Preference, "routine"), choices=Delivery.choices
    )
    digest_hour = forms.TypedChoiceField(
        label=model_label(Preference, "digest_hour"),
        choices=HOURS,
        coerce=int,
        help_text=help_text(Preference, "digest_hour"),
    )

    def __init__(
        self,
        *args: Any,
        events: Iterable[tuple[str, Any, bool]],
        **kwargs: Any,
    ) -> None:
        super().__init__(*args, **kwargs)
        self.events = list(events)
        for name, event_label, urgent in self.events:
            default = _("as urgent events") if urgent else _("as everything else")
            self.fields[event_field_name(name)] = forms.ChoiceField(
                label=event_label,
                choices=[(DEFAULT_DELIVERY, default), *Delivery.choices],
                required=False,
            )

    def event_fields(self) -> list[forms.BoundField]:
        return [self[event_field_name(name)] for name, _label, _urgent in self.events]

    def general_fields(self) -> list[forms.BoundField]:
        return [self[name] for name in ("urgent", "routine", "digest_hour")]

    def per_event(self) -> dict[str, str]:
        """{event type: delivery} for the overrides chosen."""
        return {
            name: self.cleaned_data[event_field_name(name)]
            for name, _label, _urgent in self.events
            if self.cleaned_data.get(event_field_name(name))
        }

    def form_field_of(self, service_field: str) -> str | None:
        if service_field in self.fields:
            return service_field
        if service_field.startswith("per_event."):
            name = event_field_name(service_field.removeprefix("per_event."))
            return name if name in self.fields else None
        return None


def preference_initial(preference: Preference) -> dict[str, Any]:
    initial: dict[str, Any] = {
        "urgent": preference.urgent,
        "routine": preference.routine,
        "digest_hour": preference.digest_hour,
        "version": preference.version,
    }
    for name, delivery in (preference.per_event or {}).items():
        initial[event_field_name(name)] = delivery
    return initial


# --- webhook endpoints -------------------------------------------------------------


class EndpointForm(RantaiForm):
    name = forms.CharField(
        label=model_label(WebhookEndpoint, "name"),
        max_length=200,
        help_text=_("For example: Operations chat."),
    )
    url = forms.URLField(
        label=model_label(WebhookEndpoint, "url"),
        max_length=500,
        assume_scheme="https",
        help_text=_("Where the events are sent (HTTPS), signed with the secret."),
    )
    event_types = forms.MultipleChoiceField(
        label=model_label(WebhookEndpoint, "event_types"),
        required=False,
        widget=forms.CheckboxSelectMultiple,
        help_text=help_text(WebhookEndpoint, "event_types"),
    )

    def __init__(
        self, *args: Any, events: Iterable[tuple[str, Any]], **kwargs: Any
    ) -> None:
        super().__init__(*args, **kwargs)
        self.fields["event_types"].choices = [  # type: ignore[attr-defined]
            (name, f"{event_label} ({name})") for name, event_label in events
        ]


class EndpointEditForm(VersionedForm, EndpointForm):
    pass


def endpoint_initial(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "name": endpoint.name,
        "url": endpoint.url,
        "event_types": list(endpoint.event_types or []),
        "version": endpoint.version,
    }
