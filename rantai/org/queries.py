"""Reads of the organisation model, scoped by the caller's access.

External partners see only their own party; everyone else in the organisation
sees all of it. Query counts are fixed whatever the size of the organisation.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from dataclasses import dataclass, field

from django.db import connection
from django.db.models import Prefetch, Q, QuerySet
from django.utils import timezone

from rantai.accounts.access import Access
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


def get_or_404(qs: QuerySet, pk: int | str):  # type: ignore[no-untyped-def]
    try:
        return qs.get(pk=int(pk))
    except (ValueError, TypeError, qs.model.DoesNotExist) as error:
        raise NotFound() from error


# --- the organisation chart -------------------------------------------------------


@dataclass
class ChartPosition:
    position: Position
    holders: list[Holding] = field(default_factory=list)

    @property
    def definitive_holders(self) -> list[Holding]:
        return [h for h in self.holders if not h.is_acting]

    @property
    def acting_holders(self) -> list[Holding]:
        return [h for h in self.holders if h.is_acting]

    @property
    def vacancies(self) -> int:
        return max(0, self.position.max_holders - len(self.definitive_holders))

    @property
    def is_vacant(self) -> bool:
        return not self.holders


@dataclass
class ChartUnit:
    party: Party
    positions: list[ChartPosition] = field(default_factory=list)
    children: list[ChartUnit] = field(default_factory=list)
    depth: int = 0

    @property
    def vacancy_count(self) -> int:
        return sum(p.vacancies for p in self.positions)


@dataclass
class Chart:
    units: list[ChartUnit]
    partners: list[ChartUnit]
    position_count: int
    vacancy_count: int
    people_count: int


def chart(access: Access, *, include_inactive: bool = False) -> Chart:
    """Units as a tree, positions with current holders and vacancies, partners.

    Three queries, whatever the size of the organisation.
    """
    day = today_for(access)
    party_qs = parties(access)
    position_qs = positions(access).select_related("superior")
    if not include_inactive:
        party_qs = party_qs.filter(is_active=True)
        position_qs = position_qs.filter(is_active=True)
    all_parties = list(party_qs.order_by("name"))
    all_positions = list(position_qs.order_by("title"))
    holding_qs = holdings(access).current(day)
    if not include_inactive:
        holding_qs = holding_qs.filter(
            position__is_active=True, position__party__is_active=True
        )
    current = list(
        holding_qs.select_related("person").order_by("is_acting", "person__full_name")
    )
    holders_by_position: dict[int, list[Holding]] = defaultdict(list)
    for holding in current:
        holders_by_position[holding.position_id].append(holding)
    nodes = {party.pk: ChartUnit(party=party) for party in all_parties}
    for position in all_positions:
        node = nodes.get(position.party_id)
        if node is not None:
            node.positions.append(
                ChartPosition(
                    position=position, holders=holders_by_position.get(position.pk, [])
                )
            )
    for node in nodes.values():
        node.positions.sort(key=_chart_order(node.party))
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
    chart_positions = [cp for node in nodes.values() for cp in node.positions]
    return Chart(
        units=roots,
        partners=partners,
        position_count=len(chart_positions),
        vacancy_count=sum(cp.vacancies for cp in chart_positions),
        people_count=len({h.person_id for h in current}),
    )


def _chart_order(party: Party):  # type: ignore[no-untyped-def]
    """The head position first, then positions reporting outside the unit, then
    positions reporting inside it; by title within each group."""

    def key(chart_position: ChartPosition) -> tuple[bool, bool, str]:
        position = chart_position.position
        superior = position.superior
        return (
            position.pk != party.head_position_id,
            superior is not None and superior.party_id == party.pk,
            position.title,
        )

    return key


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
