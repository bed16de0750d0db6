"""Audit events shaped for reading: verb, actor, time and each change as old → new,
with referenced objects named instead of numbered.

Personal labels come from the redactable half of an event; once redacted they read
"redacted". Names of referenced objects are looked up with one query per kind of
object, whatever the number of events, and only within what the caller may see.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field
from typing import Any

from django.apps import apps
from django.core.exceptions import FieldDoesNotExist, ObjectDoesNotExist
from django.db import models
from django.db.models import F, QuerySet, Value
from django.db.models.functions import Coalesce, NullIf
from django.urls import reverse
from django.utils import formats
from django.utils.text import capfirst
from django.utils.translation import gettext as _
from django.utils.translation import pgettext_lazy

from rantai.accounts.access import Access
from rantai.accounts.models import Membership, User
from rantai.audit import queries as audit_queries
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.org import queries
from rantai.org.models import Party, Person, Position

# Verbs whose `changes` hold plain values rather than [old, new] pairs.
# Verbs whose changes are plain values (what was created), not [old, new] pairs.
VALUE_VERBS = frozenset(
    {
        AuditVerb.CREATED,
        AuditVerb.IMPORTED,
        AuditVerb.INVITED,
        AuditVerb.JOINED,
        AuditVerb.STARTED,
        AuditVerb.DEVIATION_REQUESTED,
    }
)
# Target types with their own page (URL name), for links from the audit log.
DETAIL_PAGES = {
    "org.party": "party-detail",
    "org.position": "position-detail",
    "org.person": "person-detail",
}
# Target types a partner may read the history of, with the scoped queryset to check.
PARTNER_READABLE = {
    "org.party": queries.parties,
    "org.position": queries.positions,
    "org.person": queries.people,
    "org.duty": queries.duties,
    "org.holding": queries.holdings,
}


@dataclass
class Change:
    label: str
    new: str
    old: str | None = None
    is_personal: bool = False

    @property
    def is_diff(self) -> bool:
        return self.old is not None


@dataclass
class HistoryRow:
    event: AuditEvent
    verb: str
    actor: str
    target_type: str
    target_label: str
    occurred_at: dt.datetime
    changes: list[Change] = field(default_factory=list)
    is_redacted: bool = False
    target_url: str = ""
    history_url: str = ""


def _model_of(target_type: str) -> type[models.Model] | None:
    try:
        return apps.get_model(target_type)
    except (LookupError, ValueError):
        return None


def _field(model: type[models.Model] | None, name: str) -> models.Field | None:
    if model is None:
        return None
    try:
        found = model._meta.get_field(name)
    except FieldDoesNotExist:
        return None
    return found if isinstance(found, models.Field) else None


def _personal(event: AuditEvent) -> Any:
    try:
        return event.personal
    except ObjectDoesNotExist:
        return None


class _Names:
    """Names of referenced objects, fetched in one query per model."""

    def __init__(self, access: Access) -> None:
        self.access = access
        self.wanted: dict[type[models.Model], set[int]] = defaultdict(set)
        self.names: dict[type[models.Model], dict[int, str]] = {}

    def want(self, model: type[models.Model], value: Any) -> None:
        if isinstance(value, int) and not isinstance(value, bool):
            self.wanted[model].add(value)

    def load(self) -> None:
        """One query for every name wanted, whatever the kinds of objects."""
        access = self.access
        parts: list[QuerySet] = []
        for model, ids in self.wanted.items():
            if model is Party:
                qs: QuerySet = queries.parties(access)
                label: Any = F("name")
            elif model is Position:
                qs, label = queries.positions(access), F("title")
            elif model is Person:
                qs, label = queries.people(access), F("full_name")
            elif model is User and access.sees_whole_organisation:
                qs = Membership.objects.filter(organisation=access.organisation)
                ids = {pk for pk in ids}
                parts.append(
                    qs.filter(user_id__in=ids)
                    .order_by()
                    .annotate(
                        name_kind=Value(model._meta.label_lower),
                        name_id=F("user_id"),
                        name_label=Coalesce(
                            NullIf(F("user__full_name"), Value("")), F("user__username")
                        ),
                    )
                    .values_list("name_kind", "name_id", "name_label")
                )
                continue
            else:
                continue
            parts.append(
                qs.filter(pk__in=ids)
                .order_by()
                .annotate(
                    name_kind=Value(model._meta.label_lower),
                    name_id=F("pk"),
                    name_label=label,
                )
                .values_list("name_kind", "name_id", "name_label")
            )
        if not parts:
            return
        combined = parts[0].union(*parts[1:], all=True) if len(parts) > 1 else parts[0]
        combined = combined.order_by()
        models_by_label = {model._meta.label_lower: model for model in self.wanted}
        for kind, ident, name in combined:
            self.names.setdefault(models_by_label[kind], {})[ident] = name

    def name(self, model: type[models.Model], value: Any) -> str | None:
        return self.names.get(model, {}).get(value)


def _related_model(model_field: models.Field | None) -> type[models.Model] | None:
    if model_field is not None and model_field.is_relation and model_field.many_to_one:
        related = model_field.related_model
        if related in (Party, Position, Person, User):
            return related  # type: ignore[return-value]
    return None


def _show(value: Any, model_field: models.Field | None, names: _Names) -> str:
    if value is None or value == "":
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    related = _related_model(model_field)
    if related is not None:
        name = names.name(related, value)
        return name if name is not None else f"#{value}"
    if model_field is not None and model_field.choices:
        choices = {str(k): v for k, v in model_field.flatchoices}
        if str(value) in choices:
            return str(choices[str(value)])
    if isinstance(model_field, models.DateField) and isinstance(value, str):
        try:
            parsed: dt.date = (
                dt.datetime.fromisoformat(value)
                if isinstance(model_field, models.DateTimeField)
                else dt.date.fromisoformat(value)
            )
        except ValueError:
            return value
        return formats.date_format(parsed, "DATE_FORMAT")
    if isinstance(value, list):
        return ", ".join(str(v) for v in value)
    if isinstance(value, dict):
        return "; ".join(f"{key}: {item}" for key, item in value.items())
    return str(value)


def _pairs(verb: str, changes: Any) -> Iterable[tuple[str, Any, Any, bool]]:
    """(field, old, new, is_diff) for each entry of an event's changes."""
    if not isinstance(changes, dict):
        return
    for name, value in changes.items():
        if verb not in VALUE_VERBS and isinstance(value, list) and len(value) == 2:
            yield name, value[0], value[1], True
        else:
            yield name, None, value, False


# Keys of the engine's events that are not model fields.
EVENT_LABELS = {
    "measure": pgettext_lazy("history", "target"),
    "tasks": pgettext_lazy("history", "tasks"),
    "ready": pgettext_lazy("history", "ready"),
    "skipped": pgettext_lazy("history", "skipped"),
    "released": pgettext_lazy("history", "released"),
    "waiting_for": pgettext_lazy("history", "waiting for"),
    "flagged": pgettext_lazy("history", "to check again"),
    "back_to_pending": pgettext_lazy("history", "back to pending"),
    "late_by_minutes": pgettext_lazy("history", "late by (minutes)"),
    "procedure_version": pgettext_lazy("history", "procedure version"),
}


def _label(model: type[models.Model] | None, name: str) -> str:
    model_field = _field(model, name)
    if model_field is not None:
        return str(capfirst(model_field.verbose_name))
    if name in EVENT_LABELS:
        return str(capfirst(EVENT_LABELS[name]))
    return name.replace("_", " ").capitalize()


def history_rows(access: Access, events: Iterable[AuditEvent]) -> list[HistoryRow]:
    """Readable rows for audit events (which must come with `personal` selected)."""
    events = list(events)
    names = _Names(access)
    for event in events:
        model = _model_of(event.target_type)
        for source in (event.changes, getattr(_personal(event), "changes", None)):
            for name, old, new, _diff in _pairs(event.verb, source):
                related = _related_model(_field(model, name))
                if related is not None:
                    names.want(related, old)
                    names.want(related, new)
    names.load()
    organisation = access.organisation.slug
    rows: list[HistoryRow] = []
    for event in events:
        model = _model_of(event.target_type)
        personal = _personal(event)
        redacted = personal is None or personal.redacted_at is not None
        changes: list[Change] = []
        for source, is_personal in (
            (event.changes, False),
            (personal and personal.changes, True),
        ):
            for name, old, new, is_diff in _pairs(event.verb, source):
                if name in HIDDEN_FROM_PARTNERS and not access.sees_whole_organisation:
                    continue
                model_field = _field(model, name)
                changes.append(
                    Change(
                        label=_label(model, name),
                        old=_show(old, model_field, names) if is_diff else None,
                        new=_show(new, model_field, names),
                        is_personal=is_personal,
                    )
                )
        if event.actor_id is None:
            actor = _("system")
        elif redacted:
            actor = _("redacted")
        else:
            actor = personal.actor_label or _("redacted")
        target_label = _("redacted") if redacted else (personal.target_label or "")
        page = DETAIL_PAGES.get(event.target_type)
        rows.append(
            HistoryRow(
                event=event,
                verb=str(AuditVerb(event.verb).label)
                if event.verb in AuditVerb.values
                else event.verb,
                actor=actor,
                target_type=str(capfirst(model._meta.verbose_name))
                if model is not None
                else event.target_type,
                target_label=target_label,
                occurred_at=event.occurred_at,
                changes=changes,
                is_redacted=redacted,
                target_url=reverse(page, args=[organisation, event.target_id])
                if page
                else "",
                history_url=reverse(
                    "audit-history",
                    args=[organisation, event.target_type, event.target_id],
                ),
            )
        )
    return rows


HISTORY_LIMIT = 10
# Personal values a partner does not see in a history (names they do see).
HIDDEN_FROM_PARTNERS = frozenset({"email", "employee_number", "user"})


@dataclass
class History:
    rows: list[HistoryRow]
    has_more: bool
    url: str
    show_target: bool = False


def related_targets(access: Access, target_type: str, pk: int) -> dict[str, list[int]]:
    """Which objects an object's history gathers (their ids by target type): the
    object itself, and for a position its duties and holders, for a person their
    holdings."""
    targets: dict[str, list[int]] = {target_type: [pk]}
    if target_type == "org.position":
        targets["org.duty"] = list(
            queries.duties(access).filter(position_id=pk).values_list("pk", flat=True)
        )
        targets["org.holding"] = list(
            queries.holdings(access).filter(position_id=pk).values_list("pk", flat=True)
        )
    elif target_type == "org.person":
        targets["org.holding"] = list(
            queries.holdings(access).filter(person_id=pk).values_list("pk", flat=True)
        )
    return targets


def history_of(
    access: Access, target: models.Model, *, limit: int = HISTORY_LIMIT
) -> History:
    """The latest events about one object (and the parts shown on its page), for the
    history box of a detail page."""
    meta = target._meta
    target_type = f"{meta.app_label}.{meta.model_name}"
    events = list(
        audit_queries.events_about(
            access.organisation, related_targets(access, target_type, target.pk)
        )[: limit + 1]
    )
    return History(
        rows=history_rows(access, events[:limit]),
        has_more=len(events) > limit,
        url=reverse(
            "audit-history", args=[access.organisation.slug, target_type, target.pk]
        ),
        show_target=target_type in ("org.position", "org.person"),
    )


def may_read_history(access: Access, target_type: str, target_id: str) -> bool:
    """Everyone in the organisation reads every history; a partner only the history of
    objects of their own party."""
    if access.sees_whole_organisation:
        return True
    scoped = PARTNER_READABLE.get(target_type)
    if scoped is None:
        return False
    try:
        pk = int(target_id)
    except ValueError:
        return False
    return scoped(access).filter(pk=pk).exists()
