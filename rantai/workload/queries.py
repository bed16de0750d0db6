"""Reads of workload analyses (docs/design-workload.md, "queries.py").

Administrators, members and auditors read every analysis of their organisation;
external partners see nothing of workload (404, as for someone outside the
organisation). Every helper runs a fixed number of queries, whatever the number
of positions and duties.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    OuterRef,
    Q,
    QuerySet,
    When,
)
from django.utils import timezone

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.core.errors import NotFound
from rantai.org.models import Holding
from rantai.workload import services
from rantai.workload.models import (
    EDITABLE_SHEET_STATUSES,
    Analysis,
    AnalysisStatus,
    Entry,
    PositionSheet,
)

READERS = (Role.ADMIN, Role.MEMBER, Role.AUDITOR)

__all__ = [
    "Change",
    "HolderRow",
    "SheetRow",
    "analyses",
    "analysis",
    "diff",
    "duty_changes",
    "entries",
    "holders",
    "may_analyse",
    "may_edit_sheet",
    "may_fill_in",
    "sheet",
    "sheets",
    "to_fill",
]


def _require_reader(organisation: Organisation, user: User | None) -> None:
    """Administrators, members and auditors; anyone else learns nothing."""
    if (
        user is None
        or not user.is_active
        or not Membership.objects.filter(
            organisation_id=organisation.pk,
            user_id=user.pk,
            is_active=True,
            role__in=READERS,
        ).exists()
    ):
        raise NotFound()


def _today(organisation: Organisation, now: dt.datetime | None = None) -> dt.date:
    moment = now or timezone.now()
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


def _pk(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise NotFound() from error


# --- analyses -------------------------------------------------------------------------


def analyses(organisation: Organisation, *, user: User | None) -> QuerySet[Analysis]:
    """The organisation's analyses (newest year first, by unit, newest revision
    first), with their unit and analyst."""
    _require_reader(organisation, user)
    return Analysis.objects.filter(organisation_id=organisation.pk).select_related(
        "unit", "analyst", "analyst_position"
    )


def analysis(organisation: Organisation, pk: Any, *, user: User | None) -> Analysis:
    """One analysis of the organisation (NotFound otherwise), with what its page
    shows."""
    _require_reader(organisation, user)
    found = (
        Analysis.objects.filter(organisation_id=organisation.pk, pk=_pk(pk))
        .select_related(
            "organisation",
            "unit",
            "analyst",
            "analyst_position",
            "approved_by",
            "approved_by_position",
            "previous",
        )
        .first()
    )
    if found is None:
        raise NotFound()
    return found


# --- sheets ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class HolderRow:
    """A holder of a position today; `fills_in`: they can fill in the sheet
    themselves (an active login as administrator or member:
    `services.holder_fills_in`)."""

    person_id: int
    name: str
    acting: bool
    fills_in: bool = True


def _fills_in() -> Case:
    return Case(
        When(services.holder_fills_in(), then=True),
        default=False,
        output_field=BooleanField(),
    )


@dataclass
class SheetRow:
    """A sheet as the analysis's table shows it: the sheet (with its position,
    the position's unit and superior, and who validated it), today's holders and
    how many of its entries are filled."""

    sheet: PositionSheet
    holders: list[HolderRow] = field(default_factory=list)
    entries_total: int = 0
    entries_filled: int = 0

    @property
    def is_vacant(self) -> bool:
        return not self.holders

    @property
    def missing_duties(self) -> bool:
        return self.entries_total == 0

    @property
    def analyst_fills_in(self) -> bool:
        """No holder can fill in the sheet (vacant, or no holder has a login):
        the analyst fills it in for them (`services.Incumbents`)."""
        return not any(holder.fills_in for holder in self.holders)

    # The sheet's own fields, as the API's schema reads them.
    def __getattr__(self, name: str) -> Any:
        if name.startswith("__"):
            raise AttributeError(name)
        return getattr(self.sheet, name)

    @property
    def position_code(self) -> str:
        return self.sheet.position.code

    @property
    def position_title(self) -> str:
        return self.sheet.position.title


def _sheet_rows(
    analysis: Analysis, queryset: QuerySet[PositionSheet], now: dt.datetime | None
) -> list[SheetRow]:
    rows = list(
        queryset.select_related(
            "position", "position__party", "position__superior", "validated_by"
        )
        .annotate(
            entries_total=Count("entries"),
            entries_filled=Count(
                "entries",
                filter=Q(
                    entries__volume__isnull=False,
                    entries__standard_time__isnull=False,
                ),
            ),
        )
        .order_by("sort_order", "id")
    )
    holders: dict[int, list[HolderRow]] = defaultdict(list)
    if rows:
        day = _today(analysis.organisation, now)
        for position_id, person_id, name, acting, fills_in in (
            Holding.objects.current(day)
            .filter(
                organisation_id=analysis.organisation_id,
                position_id__in=queryset.values("position_id"),
            )
            .annotate(fills_in=_fills_in())
            .order_by("position_id", "is_acting", "person__full_name", "person_id")
            .values_list(
                "position_id", "person_id", "person__full_name", "is_acting", "fills_in"
            )
        ):
            holders[position_id].append(
                HolderRow(person_id, name, bool(acting), bool(fills_in))
            )
    return [
        SheetRow(
            sheet=row,
            holders=holders.get(row.position_id, []),
            entries_total=row.entries_total,  # type: ignore[attr-defined]
            entries_filled=row.entries_filled,  # type: ignore[attr-defined]
        )
        for row in rows
    ]


def sheets(analysis: Analysis, *, now: dt.datetime | None = None) -> list[SheetRow]:
    """The analysis's sheets in order, with their positions, today's holders,
    statuses, entry counts and stored results. Two queries."""
    return _sheet_rows(
        analysis, PositionSheet.objects.filter(analysis_id=analysis.pk), now
    )


def sheet(analysis: Analysis, pk: Any, *, user: User | None) -> PositionSheet:
    """One sheet of the analysis (NotFound otherwise), with its analysis and
    position."""
    _require_reader(analysis.organisation, user)
    found = (
        PositionSheet.objects.filter(analysis_id=analysis.pk, pk=_pk(pk))
        .select_related(
            "analysis__organisation",
            "analysis__unit",
            "position",
            "position__party",
            "position__superior",
            "validated_by",
        )
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def holders(
    organisation: Organisation, position_id: int, *, now: dt.datetime | None = None
) -> list[HolderRow]:
    """The people holding the position today, definitive first (acting marked,
    and whether each can fill in the sheet themselves). One query."""
    return [
        HolderRow(person_id, name, bool(acting), bool(fills_in))
        for person_id, name, acting, fills_in in Holding.objects.current(
            _today(organisation, now)
        )
        .filter(organisation_id=organisation.pk, position_id=position_id)
        .annotate(fills_in=_fills_in())
        .order_by("is_acting", "person__full_name", "person_id")
        .values_list("person_id", "person__full_name", "is_acting", "fills_in")
    ]


def entries(sheet: PositionSheet) -> list[Entry]:
    """The sheet's entries in order (their duty's title and output unit copied),
    each with `duty_active`: whether its duty is still in the job description."""
    return list(
        Entry.objects.filter(sheet_id=sheet.pk)
        .annotate(duty_active=F("duty__is_active"))
        .order_by("sort_order", "id")
    )


def duty_changes(
    sheet: PositionSheet, entries: list[Entry] | None = None
) -> services.DutyChanges:
    """What taking the duties from the job description again would change on
    the sheet (`services.refresh_duties`); `entries` as `entries(sheet)` gives
    them saves a query."""
    return services.plan_duties(sheet, entries)


# --- the focus page -------------------------------------------------------------------


def to_fill(
    organisation: Organisation, person_id: int | None, *, now: dt.datetime | None = None
) -> list[PositionSheet]:
    """Sheets the person must fill in: drafts and returned sheets of analyses
    collecting entries, for the positions they hold today (acting included) when
    they can fill in themselves, and in the analyses they opened, for the
    positions no holder can fill in (vacant, or no holder has a login:
    `services.holder_fills_in`). One query."""
    if person_id is None:
        return []
    day = _today(organisation, now)
    current = (
        Holding.objects.current(day)
        .filter(organisation_id=organisation.pk, position_id=OuterRef("position_id"))
        .filter(services.holder_fills_in())
    )
    return list(
        PositionSheet.objects.filter(
            organisation_id=organisation.pk,
            status__in=EDITABLE_SHEET_STATUSES,
            analysis__status=AnalysisStatus.COLLECTING,
        )
        .filter(
            Q(Exists(current.filter(person_id=person_id)))
            | Q(analysis__analyst_id=person_id, position__is_active=True)
            & ~Q(Exists(current))
        )
        .select_related("analysis__unit", "position")
        .order_by("analysis__year", "analysis__unit__name", "sort_order", "id")
    )


# --- what changed between revisions -----------------------------------------------------


@dataclass(frozen=True, slots=True)
class Change:
    """One difference of a revision from the revision before.

    `kind`: `position_added`, `position_removed`, `entry_added`, `entry_removed`,
    `entry_changed` (with `changes`: {field: (before, after)} of volume, period,
    standard time, time unit) or `required_changed` (a position's required staff,
    exact, in `before`/`after`); `position_code`/`position_title` name the
    position, `duty` the entry's duty title. The analysis's own total comes last
    as a `required_changed` without a position."""

    kind: str
    position_code: str = ""
    position_title: str = ""
    duty: str = ""
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    before: Decimal | None = None
    after: Decimal | None = None


_ENTRY_COMPARED = ("volume", "volume_period", "standard_time", "time_unit")


def _snapshot(
    analysis_id: int,
) -> tuple[dict[int, tuple[str, str, Decimal | None]], dict[tuple[int, int], dict]]:
    positions = {
        position_id: (code, title, required)
        for position_id, code, title, required in PositionSheet.objects.filter(
            analysis_id=analysis_id
        ).values_list(
            "position_id", "position__code", "position__title", "required_staff"
        )
    }
    entries: dict[tuple[int, int], dict[str, Any]] = {}
    for row in (
        Entry.objects.filter(sheet__analysis_id=analysis_id)
        .order_by("sheet__sort_order", "sort_order", "id")
        .values("sheet__position_id", "duty_id", "title", *_ENTRY_COMPARED)
    ):
        entries[(row["sheet__position_id"], row["duty_id"])] = row
    return positions, entries


def diff(analysis: Analysis) -> list[Change]:
    """What changed against the previous revision (empty for a first revision):
    positions added and removed, entries added, removed and changed, and — once
    the revision is computed — required staff before and after (per position,
    then the analysis's total). Five queries."""
    if analysis.previous_id is None:
        return []
    old_positions, old_entries = _snapshot(analysis.previous_id)
    new_positions, new_entries = _snapshot(analysis.pk)
    changes: list[Change] = []
    for position_id, (code, title, _required) in new_positions.items():
        if position_id not in old_positions:
            changes.append(Change("position_added", code, title))
    for position_id, (code, title, _required) in old_positions.items():
        if position_id not in new_positions:
            changes.append(Change("position_removed", code, title))
    for key, row in new_entries.items():
        code, title, _required = new_positions[key[0]]
        old = old_entries.get(key)
        if old is None:
            if key[0] in old_positions:
                changes.append(Change("entry_added", code, title, row["title"]))
            continue
        changed = {
            name: (old[name], row[name])
            for name in _ENTRY_COMPARED
            if old[name] != row[name]
        }
        if changed:
            changes.append(Change("entry_changed", code, title, row["title"], changed))
    for key, row in old_entries.items():
        if key not in new_entries and key[0] in new_positions:
            code, title, _required = old_positions[key[0]]
            changes.append(Change("entry_removed", code, title, row["title"]))
    if analysis.computed_at is None:
        return changes  # required staff is compared once the revision is computed
    for position_id, (code, title, after) in new_positions.items():
        if position_id in old_positions:
            before = old_positions[position_id][2]
            if before != after:
                changes.append(
                    Change("required_changed", code, title, before=before, after=after)
                )
    previous_total = (
        Analysis.objects.filter(pk=analysis.previous_id)
        .values_list("required_total", flat=True)
        .first()
    )
    if previous_total != analysis.required_total:
        changes.append(
            Change(
                "required_changed", before=previous_total, after=analysis.required_total
            )
        )
    return changes


# --- rules for pages --------------------------------------------------------------------


def may_edit_sheet(sheet: PositionSheet, user: User | None) -> bool:
    """Whether the user may change the sheet's entries now (services' rule)."""
    return services.may_edit_sheet(sheet, user)


def may_fill_in(sheet: PositionSheet, user: User | None) -> bool:
    """Whether the user fills in, submits and withdraws the sheet, whatever its
    state (services' rule: an incumbent, or the analyst when no holder can)."""
    return services.may_fill_in(sheet, user)


def may_analyse(analysis: Analysis, user: User | None) -> bool:
    """Whether the user has the analyst's rights on the analysis (services' rule)."""
    return services.may_analyse(analysis, user)
