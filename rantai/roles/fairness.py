"""The fairness report: who carried how much work, how evenly, and whether those
who assign by hand keep picking the same people (docs/design-roles.md, "Fairness
report").

The maths (Gini coefficient, Lorenz curve, concentration) are plain functions over
plain numbers; `report` reads the assignments of a period in a fixed number of
queries and hands them to them. `to_excel` writes the report as a workbook.
"""

from __future__ import annotations

import datetime as dt
import io
import zoneinfo
from collections import Counter, defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import Decimal
from fractions import Fraction
from typing import Any, cast

from django.db.models import Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import pgettext

from rantai.accounts.access import Access
from rantai.accounts.models import Organisation, User
from rantai.org.models import Holding, Party, PartyKind, Person, Position
from rantai.org.transfer.exporting import HEADER_FILL, HEADER_FONT, inert
from rantai.roles.models import Assignment, AssignmentKind

# Favouritism: an assigner is flagged once they made this many picks and their
# favourite got at least this many times the share a uniform pick would give.
FLAG_MIN_PICKS = 5
FLAG_MIN_RATIO = Decimal(2)

_FOUR_PLACES = Decimal("0.0001")
_TWO_PLACES = Decimal("0.01")


# --- the maths (pure) ---------------------------------------------------------------


def _numbers(values: Iterable[int | Decimal]) -> list[Fraction]:
    """The loads sorted, exactly: as Fractions, or as the ints they are when all
    are whole numbers (the same arithmetic, much faster)."""
    loads = list(values)
    for value in loads:
        if isinstance(value, bool) or not isinstance(value, int | Decimal | Fraction):
            raise TypeError(
                f"a load is an int or a Decimal, not {type(value).__name__}"
            )
        if value < 0:
            raise ValueError("a load cannot be negative")
    if all(isinstance(value, int) for value in loads):
        return cast("list[Fraction]", sorted(loads))
    return sorted(Fraction(value) for value in loads)


def _rounded(value: Fraction, exponent: Decimal = _FOUR_PLACES) -> Decimal:
    """A fraction as a Decimal rounded half up to the places of `exponent`."""
    scale = 1 / Fraction(exponent)
    scaled = value * scale
    whole = (scaled.numerator * 2 + scaled.denominator) // (scaled.denominator * 2)
    return (Decimal(whole) / Decimal(scale.numerator)).quantize(exponent)


def gini(values: Iterable[int | Decimal]) -> Decimal:
    """The Gini coefficient of non-negative loads, four places (half up).

    `G = Σᵢ Σⱼ |xᵢ − xⱼ| / (2 n² x̄)`: 0 when everyone carries the same, (n−1)/n
    when one carries everything, 0 for no values or only zeros. Computed exactly
    from the sorted values, `G = 2 Σᵢ i·x₍ᵢ₎ / (n Σx) − (n+1)/n` (i from 1), in
    O(n log n).
    """
    ordered = _numbers(values)
    n = len(ordered)
    total = sum(ordered, Fraction(0))
    if n == 0 or total == 0:
        return Decimal("0.0000")
    weighted = sum(
        (index * value for index, value in enumerate(ordered, 1)), Fraction(0)
    )
    return _rounded(Fraction(2 * weighted - (n + 1) * total) / (n * total))


def lorenz(values: Iterable[int | Decimal]) -> tuple[tuple[Decimal, Decimal], ...]:
    """The Lorenz curve for a chart: (share of people, share of the load they
    carry), the least loaded first, from (0, 0) to (1, 1); four places. With no
    load at all it is the line of equality."""
    ordered = _numbers(values)
    n = len(ordered)
    total = sum(ordered, Fraction(0))
    points = [(Decimal("0.0000"), Decimal("0.0000"))]
    running = Fraction(0)
    for index, value in enumerate(ordered, 1):
        running += value
        carried = running / total if total else Fraction(index, n)
        points.append((_rounded(Fraction(index, n)), _rounded(carried)))
    return tuple(points)


@dataclass(frozen=True, slots=True)
class Pick:
    """One manual assignment: who picked whom, out of how many candidates."""

    assigner_id: int
    person_id: int
    pool_size: int


@dataclass(frozen=True, slots=True)
class ConcentrationFigure:
    """How concentrated one assigner's picks are on their favourite person."""

    assigner_id: int
    picks: int
    top_person_id: int
    top_picks: int
    share: Decimal  # of the picks that went to the favourite
    expected_share: Decimal  # if every pick had been uniform among its candidates
    ratio: Decimal  # share / expected_share: the favouritism signal
    flagged: bool


def concentration(picks: Iterable[Pick]) -> list[ConcentrationFigure]:
    """Per assigner (in id order): the share of their picks that went to their
    most-picked person (the smallest person id on a tie) against the share a
    uniform pick among each task's candidates would give (the mean of
    `1 / pool size`). Flagged from `FLAG_MIN_PICKS` picks and a ratio of
    `FLAG_MIN_RATIO`."""
    by_assigner: dict[int, list[Pick]] = defaultdict(list)
    for pick in picks:
        if pick.pool_size < 1:
            raise ValueError("a pick is made among at least one candidate")
        by_assigner[pick.assigner_id].append(pick)
    figures = []
    for assigner_id in sorted(by_assigner):
        made = by_assigner[assigner_id]
        counts = Counter(pick.person_id for pick in made)
        top_person_id, top_picks = min(counts.items(), key=lambda c: (-c[1], c[0]))
        share = Fraction(top_picks, len(made))
        expected = sum((Fraction(1, p.pool_size) for p in made), Fraction(0)) / len(
            made
        )
        ratio = share / expected
        figures.append(
            ConcentrationFigure(
                assigner_id=assigner_id,
                picks=len(made),
                top_person_id=top_person_id,
                top_picks=top_picks,
                share=_rounded(share),
                expected_share=_rounded(expected),
                ratio=_rounded(ratio, _TWO_PLACES),
                flagged=len(made) >= FLAG_MIN_PICKS and ratio >= FLAG_MIN_RATIO,
            )
        )
    return figures


# --- the report ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class LoadRow:
    """The work one person carried through one position in the period."""

    person_id: int
    person_name: str
    position_id: int
    position_code: str
    position_title: str
    tasks: int
    minutes: int


@dataclass(frozen=True, slots=True)
class PersonLoad:
    """One person's work over every position in scope (a bar of the chart)."""

    person_id: int
    person_name: str
    tasks: int
    minutes: int


@dataclass(frozen=True, slots=True)
class PositionSpread:
    """How evenly a position's holders carried its work."""

    position_id: int
    position_code: str
    position_title: str
    people: int
    tasks: int
    minutes: int
    gini: Decimal


@dataclass(frozen=True, slots=True)
class AssignerOverrides:
    """One assigner's manual assignments and how many were overrides."""

    assigner_id: int
    assigner_name: str
    manual: int
    overrides: int
    share: Decimal  # overrides / manual


@dataclass(frozen=True, slots=True)
class AssignerConcentration:
    assigner_id: int
    assigner_name: str
    picks: int
    top_person_id: int
    top_person_name: str
    top_picks: int
    share: Decimal
    expected_share: Decimal
    ratio: Decimal
    flagged: bool


@dataclass(frozen=True, slots=True)
class FairnessReport:
    organisation_id: int
    organisation_name: str
    unit_id: int | None
    unit_name: str
    since: dt.date
    until: dt.date
    assignments: int  # the current assignments of the period that were counted
    rows: tuple[LoadRow, ...]
    people: tuple[PersonLoad, ...]
    gini: Decimal
    positions: tuple[PositionSpread, ...]
    overrides: tuple[AssignerOverrides, ...]
    concentration: tuple[AssignerConcentration, ...]
    lorenz: tuple[tuple[Decimal, Decimal], ...]

    @property
    def flagged(self) -> tuple[AssignerConcentration, ...]:
        return tuple(c for c in self.concentration if c.flagged)


def _unit_tree(organisation_id: int, unit: Party) -> list[int]:
    """The unit and its internal sub-units (every level, active or not: a report
    covers a past period)."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for pk, parent_id in Party.objects.filter(
        organisation_id=organisation_id, kind=PartyKind.INTERNAL_UNIT
    ).values_list("pk", "parent_id"):
        children[parent_id].append(pk)
    order = [unit.pk]
    index = 0
    while index < len(order):
        order.extend(sorted(children.get(order[index], [])))
        index += 1
    return order


def _bounds(
    organisation: Organisation, since: dt.date, until: dt.date
) -> tuple[dt.datetime, dt.datetime]:
    """The period as instants: from the start of `since` to the end of `until`,
    both organisation-local dates (an aware datetime is taken as it is)."""
    zone = zoneinfo.ZoneInfo(organisation.time_zone)

    def start_of(day: dt.date) -> dt.datetime:
        return dt.datetime.combine(day, dt.time.min, tzinfo=zone)

    start = since if isinstance(since, dt.datetime) else start_of(since)
    if isinstance(until, dt.datetime):
        end = until
    else:
        end = start_of(until + dt.timedelta(days=1))
    if timezone.is_naive(start) or timezone.is_naive(end):
        raise ValueError("the period's instants must be timezone-aware")
    return start, end


def _pool_size(candidates: Any, person_id: int) -> int:
    """How many people a manual pick was made among: the eligible candidates
    recorded with the assignment, the picked person included (an override picks
    someone outside them)."""
    pool = {person_id}
    if isinstance(candidates, list):
        for entry in candidates:
            if not isinstance(entry, Mapping) or entry.get("person") is None:
                continue
            eligible = entry.get(
                "eligible",
                entry.get("covers_duty", True) and entry.get("available", True),
            )
            if eligible:
                pool.add(entry["person"])
    return len(pool)


def report(
    organisation: Organisation,
    *,
    since: dt.date,
    until: dt.date,
    unit: Party | None = None,
) -> FairnessReport:
    """The fairness report of a period (organisation-local dates, both included),
    for the whole organisation's internal units or a unit and its sub-units.

    Loads count the newest assignment of each task among those made in the
    period, so a reassigned task counts for whoever holds it; every holder of a
    position in scope during the period appears, also with nothing. Overrides and
    concentration count every manual assignment of the period (each one is a
    decision of its assigner), of the positions in scope.
    """
    if until < since:
        raise ValueError("the period ends before it starts")
    start, end = _bounds(organisation, since, until)
    # The organisation's own people: positions of internal units only.
    positions_filter = Q(
        organisation_id=organisation.pk, party__kind=PartyKind.INTERNAL_UNIT
    )
    unit_name = ""
    if unit is not None:
        if unit.organisation_id != organisation.pk:
            raise ValueError("the unit belongs to another organisation")
        positions_filter &= Q(party_id__in=_unit_tree(organisation.pk, unit))
        unit_name = unit.name
    positions = {
        position.pk: position
        for position in Position.objects.filter(positions_filter).only(
            "pk", "code", "title"
        )
    }
    rows: list[dict[str, Any]] = [
        dict(row)
        for row in Assignment.objects.filter(
            organisation_id=organisation.pk,
            created_at__gte=start,
            created_at__lt=end,
            position_id__in=list(positions),
        )
        .order_by("task_id", "-created_at", "-id")
        .values(
            "task_id",
            "position_id",
            "person_id",
            "kind",
            "minutes",
            "is_override",
            "assigned_by_id",
            "candidates",
        )
    ]
    current: dict[int, dict[str, Any]] = {}
    for row in rows:
        current.setdefault(row["task_id"], row)  # newest first
    carried: dict[tuple[int, int], list[int]] = defaultdict(lambda: [0, 0])
    for row in current.values():
        if row["person_id"] is None:
            continue
        load = carried[(row["person_id"], row["position_id"])]
        load[0] += 1
        load[1] += row["minutes"]
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    first_day = start.astimezone(zone).date()
    last_day = (end - dt.timedelta(microseconds=1)).astimezone(zone).date()
    for person_id, position_id in Holding.objects.filter(
        Q(end_date__isnull=True) | Q(end_date__gte=first_day),
        organisation_id=organisation.pk,
        position_id__in=list(positions),
        start_date__lte=last_day,
    ).values_list("person_id", "position_id"):
        carried[(person_id, position_id)]  # a holder appears, also with zero
    manual = [row for row in rows if row["kind"] == AssignmentKind.MANUAL]
    person_ids = {person for person, _position in carried} | {
        row["person_id"] for row in manual if row["person_id"] is not None
    }
    names = dict(
        Person.objects.filter(pk__in=person_ids).values_list("pk", "full_name")
    )
    assigner_ids = {row["assigned_by_id"] for row in manual} - {None}
    assigners = {
        user.pk: user.display_name for user in User.objects.filter(pk__in=assigner_ids)
    }

    load_rows = sorted(
        (
            LoadRow(
                person_id=person_id,
                person_name=names.get(person_id, ""),
                position_id=position_id,
                position_code=positions[position_id].code,
                position_title=positions[position_id].title,
                tasks=tasks,
                minutes=minutes,
            )
            for (person_id, position_id), (tasks, minutes) in carried.items()
        ),
        key=lambda r: (r.position_code, r.position_id, r.person_name, r.person_id),
    )
    per_person: dict[int, list[int]] = defaultdict(lambda: [0, 0])
    per_position: dict[int, list[LoadRow]] = defaultdict(list)
    for load_row in load_rows:
        totals = per_person[load_row.person_id]
        totals[0] += load_row.tasks
        totals[1] += load_row.minutes
        per_position[load_row.position_id].append(load_row)
    people = tuple(
        sorted(
            (
                PersonLoad(pk, names.get(pk, ""), tasks, minutes)
                for pk, (tasks, minutes) in per_person.items()
            ),
            key=lambda p: (-p.minutes, p.person_name, p.person_id),
        )
    )
    spreads = tuple(
        PositionSpread(
            position_id=position_id,
            position_code=members[0].position_code,
            position_title=members[0].position_title,
            people=len(members),
            tasks=sum(r.tasks for r in members),
            minutes=sum(r.minutes for r in members),
            gini=gini(r.minutes for r in members),
        )
        for position_id, members in per_position.items()
    )

    overrides = []
    by_assigner: dict[int, list[dict[str, Any]]] = defaultdict(list)
    for row in manual:
        if row["assigned_by_id"] is not None:
            by_assigner[row["assigned_by_id"]].append(row)
    for assigner_id in sorted(by_assigner):
        made = by_assigner[assigner_id]
        count = sum(1 for row in made if row["is_override"])
        overrides.append(
            AssignerOverrides(
                assigner_id=assigner_id,
                assigner_name=assigners.get(assigner_id, ""),
                manual=len(made),
                overrides=count,
                share=_rounded(Fraction(count, len(made))),
            )
        )
    figures = concentration(
        Pick(
            assigner_id=row["assigned_by_id"],
            person_id=row["person_id"],
            pool_size=_pool_size(row["candidates"], row["person_id"]),
        )
        for row in manual
        if row["assigned_by_id"] is not None and row["person_id"] is not None
    )
    minutes_per_person = [p.minutes for p in people]
    return FairnessReport(
        organisation_id=organisation.pk,
        organisation_name=organisation.name,
        unit_id=None if unit is None else unit.pk,
        unit_name=unit_name,
        since=since,
        until=until,
        assignments=sum(1 for row in current.values() if row["person_id"]),
        rows=tuple(load_rows),
        people=people,
        gini=gini(minutes_per_person),
        positions=spreads,
        overrides=tuple(overrides),
        concentration=tuple(
            AssignerConcentration(
                assigner_id=figure.assigner_id,
                assigner_name=assigners.get(figure.assigner_id, ""),
                picks=figure.picks,
                top_person_id=figure.top_person_id,
                top_person_name=names.get(figure.top_person_id, ""),
                top_picks=figure.top_picks,
                share=figure.share,
                expected_share=figure.expected_share,
                ratio=figure.ratio,
                flagged=figure.flagged,
            )
            for figure in figures
        ),
        lorenz=lorenz(minutes_per_person),
    )


# --- who may see it -----------------------------------------------------------------


def _ancestors(organisation_id: int, unit: Party) -> list[int]:
    """The unit and the units above it, nearest first."""
    parents = dict(
        Party.objects.filter(organisation_id=organisation_id).values_list(
            "pk", "parent_id"
        )
    )
    chain: list[int] = []
    current: int | None = unit.pk
    while current is not None and current not in chain:
        chain.append(current)
        current = parents.get(current)
    return chain


def may_view(
    access: Access, *, unit: Party | None = None, on: dt.date | None = None
) -> bool:
    """Administrators and auditors see every report; a member sees the report of
    a unit whose head position they hold (acting included) or of a unit below
    it; partners never."""
    if access.is_admin or access.is_auditor:
        return True
    if access.is_partner or unit is None:
        return False
    organisation = access.organisation
    if unit.organisation_id != organisation.pk:
        return False
    day = on or timezone.localdate(
        timezone.now(), zoneinfo.ZoneInfo(organisation.time_zone)
    )
    heads = [
        head
        for head in Party.objects.filter(
            pk__in=_ancestors(organisation.pk, unit)
        ).values_list("head_position_id", flat=True)
        if head is not None
    ]
    if not heads:
        return False
    return (
        Holding.objects.current(day)
        .filter(
            organisation_id=organisation.pk,
            position_id__in=heads,
            person__user=access.user,
            person__is_active=True,
        )
        .exists()
    )


# --- the workbook -------------------------------------------------------------------

PERCENT = "0.00%"
WHOLE = "0"
FOUR_PLACES = "0.0000"


def _header(sheet: Any, names: Sequence[str], widths: Sequence[int]) -> None:
    sheet.append([inert(name) for name in names])
    for index, width in enumerate(widths, 1):
        cell = sheet.cell(row=1, column=index)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        sheet.column_dimensions[cell.column_letter].width = width
    sheet.freeze_panes = "A2"


def _row(sheet: Any, values: Sequence[tuple[Any, str | None]]) -> None:
    """Append a row: text made inert (never a formula), numbers with a format."""
    sheet.append([inert(value) for value, _format in values])
    row = sheet.max_row
    for index, (_value, number_format) in enumerate(values, 1):
        if number_format:
            sheet.cell(row=row, column=index).number_format = number_format


def to_excel(fairness: FairnessReport, *, language: str | None = None) -> bytes:
    """The report as an .xlsx workbook: a summary, loads per person and position,
    the spread per position, overrides and concentration per assigner, and two
    charts (load per person, the Lorenz curve). Names are written as inert text."""
    from openpyxl import Workbook
    from openpyxl.chart import BarChart, Reference, ScatterChart, Series

    with translation.override(language or translation.get_language() or "en"):
        workbook = Workbook()
        summary = workbook.active
        summary.title = _("Summary")
        summary.column_dimensions["A"].width = 40
        summary.column_dimensions["B"].width = 40
        for label, value, number_format in (
            (_("Organisation"), fairness.organisation_name, None),
            (
                pgettext("organisation unit", "Unit"),
                fairness.unit_name or _("the whole organisation"),
                None,
            ),
            (_("From"), fairness.since, "yyyy-mm-dd"),
            (_("Until"), fairness.until, "yyyy-mm-dd"),
            (_("Tasks counted"), fairness.assignments, WHOLE),
            (_("People"), len(fairness.people), WHOLE),
            (_("Gini coefficient of minutes per person"), fairness.gini, FOUR_PLACES),
            (
                _("Assigners flagged for concentrated picks"),
                len(fairness.flagged),
                WHOLE,
            ),
        ):
            _row(summary, [(label, None), (value, number_format)])

        loads = workbook.create_sheet(_("Loads"))
        _header(
            loads,
            [
                _("person"),
                _("position code"),
                _("position"),
                _("tasks"),
                _("minutes"),
            ],
            (30, 16, 30, 10, 12),
        )
        for row in fairness.rows:
            _row(
                loads,
                [
                    (row.person_name, None),
                    (row.position_code, "@"),
                    (row.position_title, None),
                    (row.tasks, WHOLE),
                    (row.minutes, WHOLE),
                ],
            )

        people = workbook.create_sheet(_("People"))
        _header(people, [_("person"), _("tasks"), _("minutes")], (30, 10, 12))
        for person in fairness.people:
            _row(
                people,
                [
                    (person.person_name, None),
                    (person.tasks, WHOLE),
                    (person.minutes, WHOLE),
                ],
            )
        if fairness.people:
            bars = BarChart()
            bars.type = "bar"
            bars.title = _("Load per person (minutes)")
            bars.legend = None
            count = len(fairness.people) + 1
            bars.add_data(
                Reference(people, min_col=3, min_row=1, max_row=count),
                titles_from_data=True,
            )
            bars.set_categories(Reference(people, min_col=1, min_row=2, max_row=count))
            bars.height = max(7.5, 0.5 * len(fairness.people))
            people.add_chart(bars, "E2")

        spread = workbook.create_sheet(_("Positions"))
        _header(
            spread,
            [
                _("position code"),
                _("position"),
                _("people"),
                _("tasks"),
                _("minutes"),
                _("Gini coefficient"),
            ],
            (16, 30, 10, 10, 12, 16),
        )
        for position in fairness.positions:
            _row(
                spread,
                [
                    (position.position_code, "@"),
                    (position.position_title, None),
                    (position.people, WHOLE),
                    (position.tasks, WHOLE),
                    (position.minutes, WHOLE),
                    (position.gini, FOUR_PLACES),
                ],
            )

        overrides = workbook.create_sheet(_("Overrides"))
        _header(
            overrides,
            [
                _("assigned by"),
                _("manual assignments"),
                _("overrides"),
                _("share of overrides"),
            ],
            (30, 18, 12, 18),
        )
        for line in fairness.overrides:
            _row(
                overrides,
                [
                    (line.assigner_name, None),
                    (line.manual, WHOLE),
                    (line.overrides, WHOLE),
                    (line.share, PERCENT),
                ],
            )

        concentrated = workbook.create_sheet(_("Concentration"))
        _header(
            concentrated,
            [
                _("assigned by"),
                _("picks"),
                _("most picked person"),
                _("their picks"),
                _("their share"),
                _("share if picked evenly"),
                _("ratio"),
                _("flagged"),
            ],
            (30, 10, 30, 12, 12, 20, 10, 10),
        )
        for figure in fairness.concentration:
            _row(
                concentrated,
                [
                    (figure.assigner_name, None),
                    (figure.picks, WHOLE),
                    (figure.top_person_name, None),
                    (figure.top_picks, WHOLE),
                    (figure.share, PERCENT),
                    (figure.expected_share, PERCENT),
                    (figure.ratio, "0.00"),
                    (_("yes") if figure.flagged else _("no"), None),
                ],
            )

        curve = workbook.create_sheet(_("Lorenz curve"))
        _header(
            curve,
            [_("share of people"), _("share of minutes"), _("equal shares")],
            (18, 18, 18),
        )
        for people_share, minutes_share in fairness.lorenz:
            _row(
                curve,
                [
                    (people_share, PERCENT),
                    (minutes_share, PERCENT),
                    (people_share, PERCENT),
                ],
            )
        last = len(fairness.lorenz) + 1
        chart = ScatterChart()
        chart.title = _("Lorenz curve of minutes per person")
        chart.style = 13
        chart.x_axis.title = _("share of people")
        chart.y_axis.title = _("share of minutes")
        shares = Reference(curve, min_col=1, min_row=2, max_row=last)
        for column in (2, 3):
            series = Series(
                Reference(curve, min_col=column, min_row=1, max_row=last),
                shares,
                title_from_data=True,
            )
            chart.series.append(series)
        curve.add_chart(chart, "E2")

    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
