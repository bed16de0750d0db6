"""Reads of the organisation model, scoped by the caller's access.

External partners see only their own party; everyone else in the organisation
sees all of it. Query counts are fixed whatever the size of the organisation.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Collection, Iterable
from dataclasses import dataclass, field
from functools import cached_property
from typing import NamedTuple

from django.db import connection
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.utils import timezone

from rantai.accounts.access import Access
from rantai.accounts.models import Organisation
from rantai.core.errors import NotFound
from rantai.org.models import (
    Duty,
    Holding,
    HoldingQuerySet,
    Party,
    PartyKind,
    Person,
    Position,
)


def today_for(access: Access) -> dt.date:
    import zoneinfo

    return (
        timezone.now()
        .astimezone(zoneinfo.ZoneInfo(access.organisation.time_zone))
        .date()
    )


def parties(access: Access) -> QuerySet[Party]:
    qs = Party.objects.filter(organisation=access.organisation)
    if access.partner_party_id is not None:
        qs = qs.filter(pk=access.partner_party_id)
    return qs


def positions(access: Access) -> QuerySet[Position]:
    qs = Position.objects.filter(organisation=access.organisation)
    if access.partner_party_id is not None:
        qs = qs.filter(party_id=access.partner_party_id)
    return qs


def duties(access: Access) -> QuerySet[Duty]:
    qs = Duty.objects.filter(organisation=access.organisation)
    if access.partner_party_id is not None:
        qs = qs.filter(position__party_id=access.partner_party_id)
    return qs


def people(access: Access) -> QuerySet[Person]:
    qs = Person.objects.filter(organisation=access.organisation)
    if access.partner_party_id is not None:
        qs = qs.filter(
            Q(party_id=access.partner_party_id)
            | Q(holdings__position__party_id=access.partner_party_id)
        ).distinct()
    return qs


def holdings(access: Access) -> HoldingQuerySet:
    qs = Holding.objects.filter(organisation=access.organisation)
    if access.partner_party_id is not None:
        qs = qs.filter(position__party_id=access.partner_party_id)
    return qs


def holders_of(
    organisation: Organisation, position_ids: Iterable[int | None], *, on: dt.date
) -> dict[int, list[int]]:
    """{position id: [person ids]} of the current holders on `on` (acting
    included) who are active, one query (none when no position is given)."""
    wanted = sorted({pk for pk in position_ids if pk is not None})
    found: dict[int, list[int]] = defaultdict(list)
    if not wanted:
        return found
    rows = (
        Holding.objects.current(on)
        .filter(
            organisation_id=organisation.pk,
            position_id__in=wanted,
            person__is_active=True,
        )
        .order_by("position_id", "person_id")
        .values_list("position_id", "person_id")
    )
    for position_id, person_id in rows:
        if person_id not in found[position_id]:
            found[position_id].append(person_id)
    return found


def get_or_404(qs: QuerySet, pk: int | str):  # type: ignore[no-untyped-def]
    try:
        return qs.get(pk=int(pk))
    except (ValueError, TypeError, qs.model.DoesNotExist) as error:
        raise NotFound() from error


# --- the organisation chart -------------------------------------------------------
#
# The chart is read in two steps so that a large organisation need not load every
# position and holder: `chart_outline` gives the tree of units with each unit's
# counts (three queries, a small tuple per position and no row per holder), and
# `chart_positions` the positions and current holders of the units to show (two
# queries). `chart` does both for the whole organisation.


@dataclass
class ChartPosition:
    position: Position
    holders: list[Holding] = field(default_factory=list)
    superior_title: str = ""
    # The superior is in a party of the viewer's chart (so it may be linked to).
    superior_visible: bool = False

    @property
    def definitive_holders(self) -> list[Holding]:
        return [h for h in self.holders if not h.is_acting]

    @property
    def acting_holders(self) -> list[Holding]:
        return [h for h in self.holders if h.is_acting]

    @cached_property
    def vacancies(self) -> int:
        return max(0, self.position.max_holders - len(self.definitive_holders))

    @property
    def is_vacant(self) -> bool:
        return not self.holders


@dataclass
class ChartUnit:
    """A party in the chart: its own counts always, its positions once loaded."""

    party: Party
    positions: list[ChartPosition] = field(default_factory=list)
    children: list[ChartUnit] = field(default_factory=list)
    depth: int = 0
    position_count: int = 0
    vacancy_count: int = 0
    people_count: int = 0  # distinct people currently in the unit's positions
    # How a large chart shows the unit: closed, and with its positions not loaded
    # (the page fetches them when the unit is opened).
    collapsed: bool = False
    lazy: bool = False
    # Texts about the unit in the reader's language, set by the page showing it.
    labels: dict[str, str] = field(default_factory=dict)


class PositionStub(NamedTuple):
    """A position of the outline: enough to draw the superior lines."""

    pk: int
    party_id: int
    superior_id: int | None
    title: str


@dataclass
class Chart:
    units: list[ChartUnit]
    partners: list[ChartUnit]
    position_count: int
    vacancy_count: int
    people_count: int
    positions: list[PositionStub] = field(default_factory=list)

    def all_units(self) -> list[ChartUnit]:
        return flatten(self.units) + self.partners


def _current_q(day: dt.date, prefix: str = "") -> Q:
    """Holdings current on a day, through the relation `prefix`."""
    return Q(**{f"{prefix}start_date__lte": day}) & (
        Q(**{f"{prefix}end_date__isnull": True}) | Q(**{f"{prefix}end_date__gte": day})
    )


def _chart_positions_qs(access: Access, include_inactive: bool) -> QuerySet[Position]:
    qs = positions(access)
    if not include_inactive:
        qs = qs.filter(is_active=True, party__is_active=True)
    return qs


def _chart_holdings(
    access: Access, day: dt.date, include_inactive: bool
) -> HoldingQuerySet:
    qs = holdings(access).current(day)
    if not include_inactive:
        qs = qs.filter(position__is_active=True, position__party__is_active=True)
    return qs


def chart_outline(access: Access, *, include_inactive: bool = False) -> Chart:
    """Units as a tree with their counts (positions, vacancies, people) and partners,
    without positions: three queries, a row per party and a tuple per position."""
    day = today_for(access)
    party_qs = parties(access)
    people_filter = _current_q(day, "positions__holdings__")
    if not include_inactive:
        party_qs = party_qs.filter(is_active=True)
        people_filter &= Q(positions__is_active=True)
    all_parties = list(
        party_qs.annotate(
            people_in_positions=Count(
                "positions__holdings__person", filter=people_filter, distinct=True
            )
        ).order_by("name")
    )
    rows = (
        _chart_positions_qs(access, include_inactive)
        .order_by()
        .values_list("pk", "party_id", "superior_id", "title", "max_holders")
        .annotate(
            definitive=Count(
                "holdings",
                filter=_current_q(day, "holdings__") & Q(holdings__is_acting=False),
            )
        )
    )
    nodes = {
        party.pk: ChartUnit(party=party, people_count=party.people_in_positions)  # type: ignore[attr-defined]
        for party in all_parties
    }
    stubs: list[PositionStub] = []
    for pk, party_id, superior_id, title, max_holders, definitive in rows:
        node = nodes.get(party_id)
        if node is not None:
            node.position_count += 1
            node.vacancy_count += max(0, max_holders - definitive)
            stubs.append(PositionStub(pk, party_id, superior_id, title))
    people_count = (
        _chart_holdings(access, day, include_inactive)
        .values("person_id")
        .distinct()
        .count()
    )
    roots: list[ChartUnit] = []
    partners: list[ChartUnit] = []
    for node in nodes.values():
        party = node.party
        if party.kind == PartyKind.EXTERNAL_PARTNER:
            partners.append(node)
        elif party.parent_id is not None and party.parent_id in nodes:
            nodes[party.parent_id].children.append(node)
        else:
            roots.append(node)

    def set_depth(unit: ChartUnit, depth: int) -> None:
        unit.depth = depth
        for child in unit.children:
            set_depth(child, depth + 1)

    for root in roots:
        set_depth(root, 0)
    return Chart(
        units=roots,
        partners=partners,
        position_count=len(stubs),
        vacancy_count=sum(node.vacancy_count for node in nodes.values()),
        people_count=people_count,
        positions=stubs,
    )


def chart_positions(
    access: Access,
    *,
    party_ids: Collection[int] | None = None,
    position_ids: Collection[int] | None = None,
    include_inactive: bool = False,
) -> dict[int, list[ChartPosition]]:
    """Positions with their current holders, by party id, in chart order: those of
    `party_ids` or those in `position_ids` (all when neither is given). Two queries."""
    day = today_for(access)
    position_qs = _chart_positions_qs(access, include_inactive)
    holding_qs = _chart_holdings(access, day, include_inactive)
    if party_ids is not None:
        position_qs = position_qs.filter(party_id__in=list(party_ids))
        holding_qs = holding_qs.filter(position__party_id__in=list(party_ids))
    if position_ids is not None:
        position_qs = position_qs.filter(pk__in=list(position_ids))
        holding_qs = holding_qs.filter(position_id__in=list(position_ids))
    loaded = list(
        position_qs.annotate(
            head_of_party=F("party__head_position_id"),
            superior_title=F("superior__title"),
            superior_party=F("superior__party_id"),
            superior_party_active=F("superior__party__is_active"),
        ).order_by("title")
    )
    holders_by_position: dict[int, list[Holding]] = defaultdict(list)
    for holding in holding_qs.select_related("person").order_by(
        "is_acting", "person__full_name"
    ):
        holders_by_position[holding.position_id].append(holding)
    # The head position first, then positions reporting outside the unit, then
    # positions reporting inside it; by title within each group.
    loaded.sort(
        key=lambda p: (
            p.pk != p.head_of_party,  # type: ignore[attr-defined]
            p.superior_party == p.party_id,  # type: ignore[attr-defined]
            p.title,
        )
    )
    by_party: dict[int, list[ChartPosition]] = defaultdict(list)
    for position in loaded:
        superior_party = position.superior_party  # type: ignore[attr-defined]
        by_party[position.party_id].append(
            ChartPosition(
                position=position,
                holders=holders_by_position.get(position.pk, []),
                superior_title=position.superior_title or "",  # type: ignore[attr-defined]
                superior_visible=superior_party is not None
                and access.partner_party_id in (None, superior_party)
                and (include_inactive or position.superior_party_active),  # type: ignore[attr-defined]
            )
        )
    return dict(by_party)


def chart(access: Access, *, include_inactive: bool = False) -> Chart:
    """The whole chart: units as a tree, every position with its current holders and
    vacancies, partners. Five queries, whatever the size of the organisation."""
    outline = chart_outline(access, include_inactive=include_inactive)
    by_party = chart_positions(access, include_inactive=include_inactive)
    for unit in outline.all_units():
        unit.positions = by_party.get(unit.party.pk, [])
    return outline


def chart_matches(
    access: Access,
    text: str,
    *,
    include_inactive: bool = False,
    party_id: int | None = None,
) -> dict[int, set[int]]:
    """Ids of the positions whose title or code, or a current holder's name, contains
    `text` (ignoring case), by party id; optionally of one party. One query, which
    returns only the matches."""
    day = today_for(access)
    holders = (
        _chart_holdings(access, day, include_inactive)
        .filter(person__full_name__icontains=text)
        .values("position_id")
    )
    qs = _chart_positions_qs(access, include_inactive).filter(
        Q(title__icontains=text) | Q(code__icontains=text) | Q(pk__in=holders)
    )
    if party_id is not None:
        qs = qs.filter(party_id=party_id)
    found: dict[int, set[int]] = defaultdict(set)
    for pk, party in qs.order_by().values_list("pk", "party_id"):
        found[party].add(pk)
    return dict(found)


def flatten(units: list[ChartUnit]) -> list[ChartUnit]:
    """Depth-first list of a unit tree (for rendering without recursion)."""
    out: list[ChartUnit] = []
    stack = list(reversed(units))
    while stack:
        unit = stack.pop()
        out.append(unit)
        stack.extend(reversed(unit.children))
    return out


# --- detail pages -----------------------------------------------------------------


@dataclass
class PositionDetail:
    position: Position
    duties: list[Duty]
    current_holders: list[Holding]
    past_holders: list[Holding]
    future_holders: list[Holding]
    subordinates: list[Position]
    superior_line: list[Position]


def position_detail(access: Access, pk: int | str) -> PositionDetail:
    position = get_or_404(
        positions(access).select_related(
            "party", "party__parent", "superior", "superior__party"
        ),
        pk,
    )
    day = today_for(access)
    all_holdings = list(
        Holding.objects.filter(position=position)
        .select_related("person")
        .order_by("-start_date")
    )
    current = [
        h
        for h in all_holdings
        if h.start_date <= day and (h.end_date is None or h.end_date >= day)
    ]
    past = [h for h in all_holdings if h.end_date is not None and h.end_date < day]
    future = [h for h in all_holdings if h.start_date > day]
    subordinates = list(
        positions(access)
        .filter(superior=position, is_active=True)
        .select_related("party")
        .order_by("title")
    )
    return PositionDetail(
        position=position,
        duties=list(
            position.duties.filter(is_active=True).order_by("sort_order", "id")
        ),
        current_holders=sorted(
            current, key=lambda h: (h.is_acting, h.person.full_name)
        ),
        past_holders=past,
        future_holders=future,
        subordinates=subordinates,
        superior_line=superior_line(access, position),
    )


SUPERIOR_LINE_LIMIT = 50


def superior_line(
    access: Access, position: Position, *, limit: int = SUPERIOR_LINE_LIMIT
) -> list[Position]:
    """The superiors of a position, nearest first, in two queries however long the
    line (a recursive query), stopping at what the caller may not see."""
    if position.superior_id is None:
        return []
    table = connection.ops.quote_name(Position._meta.db_table)
    sql = (
        f"WITH RECURSIVE line(id, superior_id, depth) AS ("  # noqa: S608 - table name only
        f" SELECT id, superior_id, 0 FROM {table} WHERE id = %s"
        f" UNION ALL"
        f" SELECT p.id, p.superior_id, line.depth + 1 FROM {table} p"
        f" JOIN line ON p.id = line.superior_id WHERE line.depth < %s"
        f") SELECT id FROM line WHERE depth > 0 ORDER BY depth"
    )
    with connection.cursor() as cursor:
        cursor.execute(sql, [position.pk, limit])
        ids = [row[0] for row in cursor.fetchall()]
    found = positions(access).filter(pk__in=set(ids)).select_related("party")
    by_id = {p.pk: p for p in found}
    line: list[Position] = []
    seen = {position.pk}
    for pk in ids:
        if pk in seen or pk not in by_id:  # a cycle, or beyond what the caller sees
            break
        seen.add(pk)
        line.append(by_id[pk])
    return line


@dataclass
class PersonDetail:
    person: Person
    current_holdings: list[Holding]
    other_holdings: list[Holding]


def person_detail(access: Access, pk: int | str) -> PersonDetail:
    person = get_or_404(people(access).select_related("party", "user"), pk)
    day = today_for(access)
    all_holdings = list(
        holdings(access)
        .filter(person=person)
        .select_related("position", "position__party", "position__superior")
        .order_by("-start_date")
    )
    current = [
        h
        for h in all_holdings
        if h.start_date <= day and (h.end_date is None or h.end_date >= day)
    ]
    others = [h for h in all_holdings if h not in current]
    return PersonDetail(person=person, current_holdings=current, other_holdings=others)


def party_detail_positions(access: Access, party: Party) -> list[Position]:
    return list(
        positions(access)
        .filter(party=party)
        .select_related("superior")
        .prefetch_related(
            Prefetch(
                "holdings",
                queryset=Holding.objects.current(today_for(access)).select_related(
                    "person"
                ),
                to_attr="current_holdings",
            )
        )
        .order_by("-is_active", "title")
    )
