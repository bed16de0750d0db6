"""Organisation pages: the chart, parties, positions, people, audit history, and the
administrators' forms that change them.

Reads go through the scoped querysets of `rantai.org.queries` (a partner sees only
their own party); writes call `rantai.org.services` and nothing else. Every page
keeps a fixed number of queries, whatever the size of the organisation.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any
from urllib.parse import urlencode

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, F, Prefetch, Q, QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect, render
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from rantai.accounts.access import Access
from rantai.audit import queries as audit_queries
from rantai.audit import services as audit_services
from rantai.audit.models import AuditVerb
from rantai.core.errors import ValidationFailed
from rantai.org import queries
from rantai.org import services as org
from rantai.org.models import Holding, Party, PartyKind, Position
from rantai.web import forms as web_forms
from rantai.web.access import (
    admin_only,
    base_context,
    form_page,
    org_view,
    render_page,
)
from rantai.web.history import (
    history_of,
    history_rows,
    may_read_history,
    related_targets,
)

PAGE_SIZE = 25
AUDIT_PAGE_SIZE = 50
SEARCH_MAX = 100


# --- shared helpers ---------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _may_see_inactive(access: Access) -> bool:
    """Administrators and auditors may look at deactivated things; others see the
    organisation as it is today."""
    return access.is_admin or access.is_auditor


def _search_term(request: HttpRequest) -> str:
    return request.GET.get("q", "").strip()[:SEARCH_MAX]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _paginate(request: HttpRequest, qs: QuerySet, size: int = PAGE_SIZE) -> Any:
    return Paginator(qs, size).get_page(request.GET.get("page"))


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


# --- the organisation chart -------------------------------------------------------

# Up to this many positions in view, the chart shows every unit with its positions
# and holders. Above it the chart is "large": every unit still shows with its counts,
# but only the top levels (or, when searching, the units with matches) show their
# positions; the other units are closed and load theirs when opened.
CHART_FULL_MAX_POSITIONS = 150
# In a large chart: the positions shown at the top levels, and the matches of a
# search shown inline (the others wait in closed units).
CHART_OPEN_POSITIONS = 50
CHART_MATCHES_INLINE = 50


@dataclass(frozen=True)
class ChartLinks:
    """URL prefixes to which the chart's templates append a pk and "/": a lookup per
    link rather than a `{% url %}` tag per card, holder and unit."""

    party: str
    position: str
    person: str
    unit_positions: str
    unit_query: str  # "?inactive=1&q=…" for the positions a closed unit loads


def _chart_links(access: Access, *, include_inactive: bool, query: str) -> ChartLinks:
    def prefix(name: str) -> str:
        return _url(name, access, 0).removesuffix("0/")

    params = {"inactive": "1"} if include_inactive else {}
    if query:
        params["q"] = query
    return ChartLinks(
        party=prefix("party-detail"),
        position=prefix("position-detail"),
        person=prefix("person-detail"),
        unit_positions=prefix("org-chart-unit"),
        unit_query=f"?{urlencode(params)}" if params else "",
    )


def _contains(needle: str, *values: str) -> bool:
    return any(needle in (value or "").casefold() for value in values)


def _unit_matches(unit: queries.ChartUnit, needle: str) -> bool:
    return _contains(needle, unit.party.name, unit.party.code)


def _position_matches(chart_position: queries.ChartPosition, needle: str) -> bool:
    position = chart_position.position
    return _contains(needle, position.title, position.code) or any(
        _contains(needle, holding.person.full_name)
        for holding in chart_position.holders
    )


def _filter_units(
    units: list[queries.ChartUnit], needle: str
) -> list[queries.ChartUnit]:
    """Keep units whose name or code matches (with all their positions), and units
    with matching positions or matching sub-units (with only those)."""
    kept: list[queries.ChartUnit] = []
    for unit in units:
        children = _filter_units(unit.children, needle)
        if _unit_matches(unit, needle):
            kept.append(replace(unit, children=children))
            continue
        matching = [cp for cp in unit.positions if _position_matches(cp, needle)]
        if matching or children:
            kept.append(replace(unit, positions=matching, children=children))
    return kept


def _prune_units(
    units: list[queries.ChartUnit], keep: Callable[[queries.ChartUnit], bool]
) -> list[queries.ChartUnit]:
    """Copies of the units to keep and of those above them."""
    kept: list[queries.ChartUnit] = []
    for unit in units:
        children = _prune_units(unit.children, keep)
        if children or keep(unit):
            kept.append(replace(unit, children=children))
    return kept


def _top_levels(units: list[queries.ChartUnit], budget: int) -> set[int]:
    """Parties of the whole top levels of units that hold at most `budget` positions
    together (partners count as the top level)."""
    by_depth: dict[int, list[queries.ChartUnit]] = defaultdict(list)
    for unit in units:
        by_depth[unit.depth].append(unit)
    chosen: set[int] = set()
    total = 0
    for depth in sorted(by_depth):
        total += sum(unit.position_count for unit in by_depth[depth])
        if total > budget:
            break
        chosen.update(unit.party.pk for unit in by_depth[depth])
    return chosen


def _large_units(
    access: Access,
    chart: queries.Chart,
    query: str,
    *,
    include_inactive: bool,
) -> tuple[list[queries.ChartUnit], list[queries.ChartUnit], int, int]:
    """A large chart by unit: (units, partners, positions shown, matches not shown).

    Without a search, the top levels show their positions and the other units are
    closed. With one, the tree keeps the units with matches and those above them;
    the first units with matches, up to CHART_MATCHES_INLINE matches, show them and
    the later ones are closed (and load only their matches when opened)."""
    needle = query.casefold()
    units, partners = chart.units, chart.partners
    # party pk -> the positions to show (None: all of them)
    shown: dict[int, set[int] | None] = {}
    more = 0
    if not needle:
        shown = dict.fromkeys(_top_levels(chart.all_units(), CHART_OPEN_POSITIONS))
        for unit in chart.all_units():
            if unit.party.pk not in shown:
                unit.collapsed = True
                unit.lazy = unit.position_count > 0
    else:
        matches = queries.chart_matches(
            access, query, include_inactive=include_inactive
        )

        def has_matches(unit: queries.ChartUnit) -> bool:
            return unit.party.pk in matches or _unit_matches(unit, needle)

        units = _prune_units(units, has_matches)
        partners = _prune_units(partners, has_matches)
        inline = 0
        for unit in queries.flatten(units) + partners:
            if _unit_matches(unit, needle):
                ids, found = None, unit.position_count
            elif unit.party.pk in matches:
                ids, found = matches[unit.party.pk], len(matches[unit.party.pk])
            else:
                continue  # only on the way to a match
            if not more and inline + found <= CHART_MATCHES_INLINE:
                shown[unit.party.pk] = ids
                inline += found
            else:
                unit.collapsed = True
                unit.lazy = found > 0
                more += found
    by_party = queries.chart_positions(
        access, party_ids=list(shown), include_inactive=include_inactive
    )
    count = 0
    for unit in queries.flatten(units) + partners:
        if unit.party.pk in shown:
            ids = shown[unit.party.pk]
            unit.positions = [
                item
                for item in by_party.get(unit.party.pk, [])
                if ids is None or item.position.pk in ids
            ]
            count += len(unit.positions)
    return units, partners, count, more


def _label_units(units: list[queries.ChartUnit]) -> None:
    """The texts of each unit's summary, translated here once per unit: a
    {% blocktranslate %} per unit and count dominated the rendering of a large chart."""
    for unit in units:
        name = unit.party.name
        unit.labels = {
            "positions": ngettext(
                "%(counter)s position", "%(counter)s positions", unit.position_count
            )
            % {"counter": unit.position_count},
            "vacancies": ngettext(
                "%(counter)s vacancy", "%(counter)s vacancies", unit.vacancy_count
            )
            % {"counter": unit.vacancy_count},
            "people": ngettext(
                "%(counter)s person", "%(counter)s people", unit.people_count
            )
            % {"counter": unit.people_count},
            "open": _("Open %(name)s") % {"name": name},
            "sub_units": _("Sub-units of %(name)s") % {"name": name},
        }


@dataclass
class LineNode:
    """A position in the tree of superior lines (who reports to whom)."""

    item: queries.ChartPosition
    party: Party
    children: list[LineNode] = field(default_factory=list)
    more: int = 0  # positions under this one that a large chart does not show


def _superior_lines(
    items: list[tuple[queries.ChartPosition, Party]],
    keep: Callable[[LineNode], bool] | None = None,
) -> list[LineNode]:
    """Positions as a forest by superior; a superior outside the chart starts a tree.
    With `keep`, only the positions it keeps and those above them."""
    nodes = {
        item.position.pk: LineNode(item=item, party=party) for item, party in items
    }
    roots: list[LineNode] = []
    for node in nodes.values():
        parent = nodes.get(node.item.position.superior_id or 0)
        (parent.children if parent is not None else roots).append(node)

    def prune(branch: list[LineNode]) -> list[LineNode]:
        kept = []
        for node in branch:
            node.children = prune(node.children)
            if node.children or (keep is not None and keep(node)):
                kept.append(node)
        return kept

    def sort(branch: list[LineNode]) -> list[LineNode]:
        for node in branch:
            node.children = sort(node.children)
        return sorted(branch, key=lambda n: (n.party.name, n.item.position.title))

    roots = sort(roots)
    return prune(roots) if keep is not None else roots


def _chart_lines(
    access: Access,
    chart: queries.Chart,
    query: str,
    *,
    large: bool,
    include_inactive: bool,
) -> tuple[list[LineNode], int, int]:
    """The superior lines: (trees, positions matching the search, matches not shown).

    A large chart shows the whole top levels of the lines, up to
    CHART_OPEN_POSITIONS positions, and notes how many positions sit under the last
    ones; a search shows the first CHART_MATCHES_INLINE matches and the lines above
    them."""
    needle = query.casefold()
    party_of = {unit.party.pk: unit.party for unit in chart.all_units()}

    def party_matches(party_id: int) -> bool:
        return _contains(needle, party_of[party_id].name)

    if not large:
        by_party = queries.chart_positions(access, include_inactive=include_inactive)
        items = [
            (item, party_of[party_id])
            for party_id, positions in by_party.items()
            if party_id in party_of
            for item in positions
        ]
        if not needle:
            return _superior_lines(items), 0, 0
        matching = {
            item.position.pk
            for item, party in items
            if _position_matches(item, needle) or party_matches(party.pk)
        }
        keep = lambda node: node.item.position.pk in matching  # noqa: E731
        return _superior_lines(items, keep), len(matching), 0

    stubs = {stub.pk: stub for stub in chart.positions}
    children: dict[int | None, list[queries.PositionStub]] = defaultdict(list)
    for stub in stubs.values():
        children[stub.superior_id if stub.superior_id in stubs else None].append(stub)
    for branch in children.values():
        branch.sort(key=lambda s: (party_of[s.party_id].name, s.title))
    shown: set[int] = set()
    more = 0
    if needle:
        found = set().union(
            *queries.chart_matches(
                access, query, include_inactive=include_inactive
            ).values()
        )
        in_order: list[int] = []  # matches as the lines list them
        stack = list(reversed(children[None]))
        while stack:
            stub = stack.pop()
            if stub.pk in found or party_matches(stub.party_id):
                in_order.append(stub.pk)
            stack.extend(reversed(children[stub.pk]))
        matching = set(in_order[:CHART_MATCHES_INLINE])
        more = len(in_order) - len(matching)
        for pk in matching:  # and the lines above them
            while pk in stubs and pk not in shown:
                shown.add(pk)
                pk = stubs[pk].superior_id  # type: ignore[assignment]
    else:
        level = children[None]
        while level and len(shown) + len(level) <= CHART_OPEN_POSITIONS:
            shown.update(stub.pk for stub in level)
            level = [child for stub in level for child in children[stub.pk]]
        if not shown:  # even the first level is too long: its first positions
            shown.update(stub.pk for stub in level[:CHART_OPEN_POSITIONS])
    by_party = queries.chart_positions(
        access, position_ids=shown, include_inactive=include_inactive
    )
    items = [
        (item, party_of[party_id])
        for party_id, positions in by_party.items()
        for item in positions
    ]
    if needle:
        keep = lambda node: node.item.position.pk in matching  # noqa: E731
        return _superior_lines(items, keep), len(matching), more
    lines = _superior_lines(items)
    below: dict[int, int] = {}

    def size(pk: int) -> int:  # the positions under a position
        if pk not in below:
            below[pk] = sum(1 + size(child.pk) for child in children[pk])
        return below[pk]

    under_shown = 0
    stack_nodes = list(lines)
    while stack_nodes:
        node = stack_nodes.pop()
        if not node.children:
            node.more = size(node.item.position.pk)
            under_shown += node.more
        stack_nodes.extend(node.children)
    return lines, 0, len(stubs) - len(shown) - under_shown


@org_view
@require_http_methods(["GET", "HEAD"])
def org_chart(request: HttpRequest) -> HttpResponse:
    """Units as a tree with their positions, holders and vacancies; partners apart.

    Up to CHART_FULL_MAX_POSITIONS positions, everything; beyond, a large chart (see
    `_large_units` and `_chart_lines`). The same queries whatever the size."""
    access = _access(request)
    include_inactive = _may_see_inactive(access) and request.GET.get("inactive") == "1"
    mode = "lines" if request.GET.get("view") == "lines" else "units"
    query = _search_term(request)
    needle = query.casefold()
    chart = queries.chart_outline(access, include_inactive=include_inactive)
    large = chart.position_count > CHART_FULL_MAX_POSITIONS
    units, partners = chart.units, chart.partners
    lines: list[LineNode] = []
    shown = more = 0
    if mode == "lines":
        lines, shown, more = _chart_lines(
            access, chart, query, large=large, include_inactive=include_inactive
        )
    elif large:
        units, partners, shown, more = _large_units(
            access, chart, query, include_inactive=include_inactive
        )
    else:
        by_party = queries.chart_positions(access, include_inactive=include_inactive)
        for unit in chart.all_units():
            unit.positions = by_party.get(unit.party.pk, [])
        if needle:
            units = _filter_units(units, needle)
            partners = _filter_units(partners, needle)
        shown = sum(len(u.positions) for u in queries.flatten(units) + partners)
    if mode == "units":
        _label_units(queries.flatten(units) + partners)
    return render_page(
        request,
        "web/org/chart.html",
        partial="chart-results",
        nav="chart",
        chart=chart,
        large=large,
        units=units,
        partners=partners,
        lines=lines,
        mode=mode,
        query=query,
        include_inactive=include_inactive,
        may_see_inactive=_may_see_inactive(access),
        shown_positions=shown,
        more_matches=more,
        links=_chart_links(access, include_inactive=include_inactive, query=query),
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def org_chart_unit(request: HttpRequest, pk: int) -> HttpResponse:
    """The position cards of one unit, which a closed unit of a large chart loads
    when opened (with `q`, only the unit's matches). Without htmx, the unit's page."""
    access = _access(request)
    include_inactive = _may_see_inactive(access) and request.GET.get("inactive") == "1"
    party_qs = queries.parties(access)
    if not include_inactive:
        party_qs = party_qs.filter(is_active=True)
    party = queries.get_or_404(party_qs, pk)
    if not getattr(request, "htmx", False):
        response: HttpResponse = redirect(_url("party-detail", access, party.pk))
    else:
        query = _search_term(request)
        positions = queries.chart_positions(
            access, party_ids=[party.pk], include_inactive=include_inactive
        ).get(party.pk, [])
        needle = query.casefold()
        if needle and not _contains(needle, party.name, party.code):
            found = queries.chart_matches(
                access, query, include_inactive=include_inactive, party_id=party.pk
            ).get(party.pk, set())
            positions = [item for item in positions if item.position.pk in found]
        response = render(
            request,
            "web/org/chart.html#unit-positions",
            base_context(
                request,
                unit=queries.ChartUnit(party=party, positions=positions),
                query=query,
                links=_chart_links(
                    access, include_inactive=include_inactive, query=query
                ),
            ),
        )
    patch_vary_headers(response, ("HX-Request",))
    return response


# --- parties ----------------------------------------------------------------------


@dataclass
class PositionRow:
    position: Position
    holders: list[Holding]

    @property
    def vacancies(self) -> int:
        definitive = sum(1 for h in self.holders if not h.is_acting)
        return max(0, self.position.max_holders - definitive)


@org_view
@require_http_methods(["GET", "HEAD"])
def party_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    party = queries.get_or_404(
        queries.parties(access).select_related("parent", "head_position"), pk
    )
    show_inactive = _may_see_inactive(access)
    positions = [
        p
        for p in queries.party_detail_positions(access, party)
        if show_inactive or p.is_active
    ]
    rows = [PositionRow(p, list(p.current_holdings)) for p in positions]  # type: ignore[attr-defined]
    children = (
        queries.parties(access).filter(parent=party).order_by("-is_active", "name")
    )
    if not show_inactive:
        children = children.filter(is_active=True)
    holders = {h.person_id: h.person for row in rows for h in row.holders}
    own_people = queries.people(access).filter(party=party)
    if not show_inactive:
        own_people = own_people.filter(is_active=True)
    people = {person.pk: person for person in own_people} | holders
    head = next(
        (row for row in rows if row.position.pk == party.head_position_id), None
    )
    return render_page(
        request,
        "web/org/party_detail.html",
        nav="chart",
        party=party,
        rows=rows,
        head=head,
        children=list(children),
        people=sorted(people.values(), key=lambda p: p.full_name),
        history=history_of(access, party),
    )


# --- positions --------------------------------------------------------------------


def _split_holdings(
    holdings: list[Holding], day: dt.date
) -> tuple[list[Holding], list[Holding], list[Holding]]:
    """(current, future, past) on a day."""
    current = [
        h
        for h in holdings
        if h.start_date <= day and (h.end_date is None or h.end_date >= day)
    ]
    future = [h for h in holdings if h.start_date > day]
    past = [h for h in holdings if h.end_date is not None and h.end_date < day]
    current.sort(key=lambda h: (h.is_acting, h.person.full_name))
    future.sort(key=lambda h: h.start_date)
    return current, future, past


@org_view
@require_http_methods(["GET", "HEAD"])
def position_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    position = queries.get_or_404(
        queries.positions(access).select_related(
            "party", "superior", "superior__party"
        ),
        pk,
    )
    day = queries.today_for(access)
    show_inactive = _may_see_inactive(access)
    holdings = list(
        queries.holdings(access)
        .filter(position=position)
        .select_related("person")
        .order_by("-start_date", "id")
    )
    current, future, past = _split_holdings(holdings, day)
    duties = (
        queries.duties(access).filter(position=position).order_by("sort_order", "id")
    )
    if not show_inactive:
        duties = duties.filter(is_active=True)
    subordinates = (
        queries.positions(access)
        .filter(superior=position)
        .select_related("party")
        .prefetch_related(
            Prefetch(
                "holdings",
                queryset=Holding.objects.current(day).select_related("person"),
                to_attr="current_holdings",
            )
        )
        .order_by("-is_active", "title")
    )
    if not show_inactive:
        subordinates = subordinates.filter(is_active=True)
    definitive = sum(1 for h in current if not h.is_acting)
    superior_visible = position.superior is not None and (
        access.sees_whole_organisation
        or position.superior.party_id == access.partner_party_id
    )
    return render_page(
        request,
        "web/org/position_detail.html",
        nav="positions",
        position=position,
        today=day,
        superior_visible=superior_visible,
        superior_line=list(reversed(queries.superior_line(access, position))),
        current=current,
        future=future,
        past=past,
        vacancies=max(0, position.max_holders - definitive),
        duties=list(duties),
        subordinates=[
            PositionRow(p, list(p.current_holdings))  # type: ignore[attr-defined]
            for p in subordinates
        ],
        headed_parties=list(queries.parties(access).filter(head_position=position)),
        duty_form=web_forms.DutyForm(auto_id="new-duty-%s")
        if access.is_admin
        else None,
        history=history_of(access, position),
    )


def _current_holding_filter(day: dt.date, prefix: str = "holdings__") -> Q:
    return Q(**{f"{prefix}start_date__lte": day}) & (
        Q(**{f"{prefix}end_date__isnull": True}) | Q(**{f"{prefix}end_date__gte": day})
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def position_list(request: HttpRequest) -> HttpResponse:
    """Positions, searchable, by party, optionally only those with a vacancy."""
    access = _access(request)
    day = queries.today_for(access)
    query = _search_term(request)
    vacant_only = request.GET.get("vacant") == "1"
    include_inactive = _may_see_inactive(access) and request.GET.get("inactive") == "1"
    parties = list(queries.parties(access).order_by("kind", "name"))
    party_id = _positive_int(request.GET.get("party"))
    party = next((p for p in parties if p.pk == party_id), None)
    qs = (
        queries.positions(access)
        .select_related("party", "superior")
        .annotate(
            definitive_count=Count(
                "holdings",
                filter=_current_holding_filter(day) & Q(holdings__is_acting=False),
                distinct=True,
            )
        )
    )
    if not include_inactive:
        qs = qs.filter(is_active=True)
    if party is not None:
        qs = qs.filter(party=party)
    if query:
        qs = qs.filter(
            Q(title__icontains=query)
            | Q(code__icontains=query)
            | Q(party__name__icontains=query)
        )
    if vacant_only:
        qs = qs.filter(definitive_count__lt=F("max_holders"))
    page = _paginate(request, qs.order_by("title", "code", "id"))
    holders: dict[int, list[Holding]] = defaultdict(list)
    for holding in (
        queries.holdings(access)
        .current(day)
        .filter(position__in=[p.pk for p in page])
        .select_related("person")
        .order_by("is_acting", "person__full_name")
    ):
        holders[holding.position_id].append(holding)
    rows = [PositionRow(p, holders.get(p.pk, [])) for p in page]
    return render_page(
        request,
        "web/org/position_list.html",
        partial="list-results",
        nav="positions",
        page=page,
        rows=rows,
        query=query,
        parties=parties,
        party=party,
        vacant_only=vacant_only,
        include_inactive=include_inactive,
        may_see_inactive=_may_see_inactive(access),
        visible_parties={p.pk for p in parties},
    )


# --- people -----------------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def person_list(request: HttpRequest) -> HttpResponse:
    access = _access(request)
    day = queries.today_for(access)
    query = _search_term(request)
    include_inactive = _may_see_inactive(access) and request.GET.get("inactive") == "1"
    qs = queries.people(access).select_related("party")
    if not include_inactive:
        qs = qs.filter(is_active=True)
    if query:
        match = Q(full_name__icontains=query) | Q(party__name__icontains=query)
        if access.sees_whole_organisation:
            match |= Q(employee_number__icontains=query) | Q(email__icontains=query)
        qs = qs.filter(match)
    page = _paginate(request, qs.order_by("full_name", "id"))
    holdings: dict[int, list[Holding]] = defaultdict(list)
    for holding in (
        queries.holdings(access)
        .current(day)
        .filter(person__in=[p.pk for p in page])
        .select_related("position", "position__party")
        .order_by("is_acting", "position__title")
    ):
        holdings[holding.person_id].append(holding)
    rows = [(person, holdings.get(person.pk, [])) for person in page]
    return render_page(
        request,
        "web/org/person_list.html",
        partial="list-results",
        nav="people",
        page=page,
        rows=rows,
        query=query,
        include_inactive=include_inactive,
        may_see_inactive=_may_see_inactive(access),
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def person_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    detail = queries.person_detail(access, pk)
    day = queries.today_for(access)
    current, future, past = _split_holdings(
        detail.current_holdings + detail.other_holdings, day
    )
    return render_page(
        request,
        "web/org/person_detail.html",
        nav="people",
        person=detail.person,
        current=current,
        future=future,
        past=past,
        shows_contact=access.sees_whole_organisation,
        history=history_of(access, detail.person),
    )


# --- audit ------------------------------------------------------------------------


def _require_audit_reader(access: Access) -> None:
    if not access.may_verify_audit:
        raise DjangoPermissionDenied


AUDITED_TYPES = {
    "org.party": gettext_lazy("Parties"),
    "org.position": gettext_lazy("Positions"),
    "org.duty": gettext_lazy("Duties"),
    "org.person": gettext_lazy("People"),
    "org.holding": gettext_lazy("Holders"),
    "accounts.organisation": gettext_lazy("Organisation"),
    "accounts.membership": gettext_lazy("Memberships"),
    "accounts.invitation": gettext_lazy("Invitations"),
}


def _audit_log_page(
    request: HttpRequest,
    *,
    verification: Any = None,
    checkpoint_error: str = "",
    status: int = 200,
) -> HttpResponse:
    access = _access(request)
    events = audit_queries.events_of(access.organisation)
    target_type = request.GET.get("type", "")
    verb = request.GET.get("verb", "")
    if target_type in AUDITED_TYPES:
        events = events.filter(target_type=target_type)
    else:
        target_type = ""
    if verb in AuditVerb.values:
        events = events.filter(verb=verb)
    else:
        verb = ""
    page = _paginate(request, events, AUDIT_PAGE_SIZE)
    return render_page(
        request,
        "web/org/audit_log.html",
        partial="list-results",
        status=status,
        nav="audit",
        page=page,
        rows=history_rows(access, page),
        target_types=AUDITED_TYPES.items(),
        verbs=AuditVerb.choices,
        target_type=target_type,
        verb=verb,
        verification=verification,
        checkpoint_error=checkpoint_error,
        list_url=_url("audit-log", access),
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def audit_log(request: HttpRequest) -> HttpResponse:
    """Every event of the organisation, newest first (administrators and auditors)."""
    _require_audit_reader(_access(request))
    return _audit_log_page(request)


@org_view
@require_POST
def audit_verify(request: HttpRequest) -> HttpResponse:
    """Recompute the hash chain and show whether it is intact (writes nothing)."""
    access = _access(request)
    _require_audit_reader(access)
    checkpoint = request.POST.get("checkpoint", "").strip() or None
    try:
        verification = audit_services.verify(access.organisation, checkpoint=checkpoint)
    except ValidationFailed as error:
        return _audit_log_page(request, checkpoint_error=error.message, status=200)
    return _audit_log_page(request, verification=verification)


@org_view
@require_http_methods(["GET", "HEAD"])
def audit_history(
    request: HttpRequest, target_type: str, target_id: str
) -> HttpResponse:
    """The whole history of one object, for anyone who may see the object."""
    access = _access(request)
    if not may_read_history(access, target_type, target_id):
        raise Http404
    latest = audit_queries.events_about(
        access.organisation, {target_type: [target_id]}
    ).first()
    if latest is None:
        raise Http404
    subject = history_rows(access, [latest])[0]
    page = _paginate(
        request,
        audit_queries.events_about(
            access.organisation,
            related_targets(access, target_type, int(target_id))
            if target_id.isdigit()
            else {target_type: [target_id]},
        ),
        AUDIT_PAGE_SIZE,
    )
    rows = history_rows(access, page)
    return render_page(
        request,
        "web/org/audit_history.html",
        partial="list-results",
        nav="audit" if access.may_verify_audit else "",
        page=page,
        rows=rows,
        subject=subject,
        show_target=target_type in ("org.position", "org.person"),
    )


# --- administrators' forms --------------------------------------------------------


def _admin(request: HttpRequest) -> Access:
    access = _access(request)
    admin_only(access)
    return access


def _data(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


# parties


@org_view
@require_http_methods(["GET", "POST"])
def party_create(request: HttpRequest) -> HttpResponse:
    access = _admin(request)
    organisation = access.organisation
    kind = request.GET.get("kind")
    initial = {
        "kind": kind if kind in PartyKind.values else PartyKind.INTERNAL_UNIT,
        "parent": _positive_int(request.GET.get("parent")),
    }
    form = web_forms.PartyCreateForm(
        _data(request), initial=initial, organisation=organisation
    )

    def save(data: dict[str, Any]) -> str:
        party = org.create_party(organisation, actor=access.user, **data)
        return _url("party-detail", access, party.pk)

    return form_page(
        request,
        form,
        title=_("New party"),
        submit=_("Create"),
        cancel_url=_url("org-chart", access),
        save=save,
        success=_("The party was created."),
        intro=_(
            "An internal unit is part of the organisation and may sit under another "
            "unit; an external partner (forwarder, supplier, customer) stands apart."
        ),
    )


def _party_for_admin(request: HttpRequest, pk: int) -> tuple[Access, Party]:
    access = _admin(request)
    return access, queries.get_or_404(queries.parties(access), pk)


@org_view
@require_http_methods(["GET", "POST"])
def party_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access, party = _party_for_admin(request, pk)
    initial = {
        "name": party.name,
        "code": party.code,
        "description": party.description,
        "head_position": party.head_position_id,
        "version": party.version,
    }
    form = web_forms.PartyEditForm(_data(request), initial=initial, party=party)
    name = party.name

    def save(data: dict[str, Any]) -> str:
        version = data.pop("version")
        org.update_party(party, actor=access.user, expected_version=version, **data)
        return _url("party-detail", access, party.pk)

    return form_page(
        request,
        form,
        title=_("Edit “%(name)s”") % {"name": name},
        submit=_("Save"),
        cancel_url=_url("party-detail", access, party.pk),
        save=save,
        success=_("The changes were saved."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def party_move(request: HttpRequest, pk: int) -> HttpResponse:
    access, party = _party_for_admin(request, pk)
    if not party.is_internal:
        raise Http404
    form = web_forms.PartyMoveForm(
        _data(request),
        initial={"parent": party.parent_id, "version": party.version},
        party=party,
    )
    name = party.name

    def save(data: dict[str, Any]) -> str:
        org.move_party(
            party,
            actor=access.user,
            expected_version=data["version"],
            parent=data["parent"],
        )
        return _url("party-detail", access, party.pk)

    return form_page(
        request,
        form,
        title=_("Move “%(name)s”") % {"name": name},
        submit=_("Move"),
        cancel_url=_url("party-detail", access, party.pk),
        save=save,
        success=_("The unit was moved."),
        intro=_("Choose the unit this unit sits under. Its sub-units move with it."),
    )


# positions


@org_view
@require_http_methods(["GET", "POST"])
def position_create(request: HttpRequest) -> HttpResponse:
    access = _admin(request)
    organisation = access.organisation
    initial = {
        "party": _positive_int(request.GET.get("party")),
        "superior": _positive_int(request.GET.get("superior")),
        "max_holders": 1,
    }
    form = web_forms.PositionCreateForm(
        _data(request), initial=initial, organisation=organisation
    )

    def save(data: dict[str, Any]) -> str:
        position = org.create_position(organisation, actor=access.user, **data)
        return _url("position-detail", access, position.pk)

    return form_page(
        request,
        form,
        title=_("New position"),
        submit=_("Create"),
        cancel_url=_url("position-list", access),
        save=save,
        success=_("The position was created."),
    )


def _position_for_admin(request: HttpRequest, pk: int) -> tuple[Access, Position]:
    access = _admin(request)
    return access, queries.get_or_404(
        queries.positions(access).select_related("party"), pk
    )


@org_view
@require_http_methods(["GET", "POST"])
def position_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access, position = _position_for_admin(request, pk)
    initial = {
        "title": position.title,
        "code": position.code,
        "max_holders": position.max_holders,
        "job_summary": position.job_summary,
        "version": position.version,
    }
    form = web_forms.PositionEditForm(_data(request), initial=initial)
    title = position.title

    def save(data: dict[str, Any]) -> str:
        version = data.pop("version")
        org.update_position(
            position, actor=access.user, expected_version=version, **data
        )
        return _url("position-detail", access, position.pk)

    return form_page(
        request,
        form,
        title=_("Edit “%(name)s”") % {"name": title},
        submit=_("Save"),
        cancel_url=_url("position-detail", access, position.pk),
        save=save,
        success=_("The changes were saved."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def position_move(request: HttpRequest, pk: int) -> HttpResponse:
    access, position = _position_for_admin(request, pk)
    form = web_forms.PositionMoveForm(
        _data(request),
        initial={
            "party": position.party_id,
            "superior": position.superior_id,
            "version": position.version,
        },
        position=position,
    )
    title = position.title

    def save(data: dict[str, Any]) -> str:
        org.move_position(
            position,
            actor=access.user,
            expected_version=data["version"],
            party=data["party"],
            superior=data["superior"],
        )
        return _url("position-detail", access, position.pk)

    return form_page(
        request,
        form,
        title=_("Move “%(name)s”") % {"name": title},
        submit=_("Move"),
        cancel_url=_url("position-detail", access, position.pk),
        save=save,
        success=_("The position was moved."),
        intro=_(
            "Choose the party the position belongs to and the position it reports to."
        ),
    )


# duties


@org_view
@require_http_methods(["GET", "POST"])
def duty_create(request: HttpRequest, pk: int) -> HttpResponse:
    access, position = _position_for_admin(request, pk)
    form = web_forms.DutyForm(_data(request))

    def save(data: dict[str, Any]) -> str:
        org.create_duty(position, actor=access.user, **data)
        return _url("position-detail", access, position.pk) + "#duties"

    return form_page(
        request,
        form,
        title=_("New duty of “%(name)s”") % {"name": position.title},
        submit=_("Add duty"),
        cancel_url=_url("position-detail", access, position.pk),
        save=save,
        success=_("The duty was added."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def duty_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access = _admin(request)
    duty = queries.get_or_404(queries.duties(access).select_related("position"), pk)
    initial = {
        "title": duty.title,
        "output_unit": duty.output_unit,
        "description": duty.description,
        "sort_order": duty.sort_order,
        "version": duty.version,
    }
    form = web_forms.DutyEditForm(_data(request), initial=initial)
    back = _url("position-detail", access, duty.position_id)
    title = duty.title

    def save(data: dict[str, Any]) -> str:
        version = data.pop("version")
        org.update_duty(duty, actor=access.user, expected_version=version, **data)
        return back + "#duties"

    return form_page(
        request,
        form,
        title=_("Edit duty “%(name)s”") % {"name": title},
        submit=_("Save"),
        cancel_url=back,
        save=save,
        success=_("The changes were saved."),
    )


# people


@org_view
@require_http_methods(["GET", "POST"])
def person_create(request: HttpRequest) -> HttpResponse:
    access = _admin(request)
    organisation = access.organisation
    form = web_forms.PersonForm(
        _data(request),
        initial={"party": _positive_int(request.GET.get("party"))},
        organisation=organisation,
    )

    def save(data: dict[str, Any]) -> str:
        person = org.create_person(organisation, actor=access.user, **data)
        return _url("person-detail", access, person.pk)

    return form_page(
        request,
        form,
        title=_("New person"),
        submit=_("Create"),
        cancel_url=_url("person-list", access),
        save=save,
        success=_("The person was added."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def person_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access = _admin(request)
    person = queries.get_or_404(queries.people(access), pk)
    initial = {
        "full_name": person.full_name,
        "email": person.email,
        "employee_number": person.employee_number,
        "party": person.party_id,
        "user": person.user_id,
        "version": person.version,
    }
    form = web_forms.PersonEditForm(
        _data(request), initial=initial, organisation=access.organisation
    )
    name = person.full_name

    def save(data: dict[str, Any]) -> str:
        version = data.pop("version")
        org.update_person(person, actor=access.user, expected_version=version, **data)
        return _url("person-detail", access, person.pk)

    return form_page(
        request,
        form,
        title=_("Edit “%(name)s”") % {"name": name},
        submit=_("Save"),
        cancel_url=_url("person-detail", access, person.pk),
        save=save,
        success=_("The changes were saved."),
    )


# holders


@org_view
@require_http_methods(["GET", "POST"])
def holding_create(request: HttpRequest, pk: int) -> HttpResponse:
    access, position = _position_for_admin(request, pk)
    form = web_forms.HoldingCreateForm(
        _data(request),
        initial={
            "start_date": queries.today_for(access),
            "person": _positive_int(request.GET.get("person")),
            "is_acting": request.GET.get("acting") == "1",
        },
        organisation=access.organisation,
    )

    def save(data: dict[str, Any]) -> str:
        org.assign_holder(position, actor=access.user, **data)
        return _url("position-detail", access, position.pk)

    return form_page(
        request,
        form,
        title=_("Appoint a holder of “%(name)s”") % {"name": position.title},
        submit=_("Appoint"),
        cancel_url=_url("position-detail", access, position.pk),
        save=save,
        success=_("The holder was appointed."),
        intro=_(
            "A single-holder position takes one definitive holder at a time; an acting "
            "holder (Plt) may hold it beside them, for a while, with all its authority."
        ),
    )


def _holding_for_admin(request: HttpRequest, pk: int) -> tuple[Access, Holding]:
    access = _admin(request)
    holding = queries.get_or_404(
        queries.holdings(access).select_related("person", "position"), pk
    )
    return access, holding


@org_view
@require_http_methods(["GET", "POST"])
def holding_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access, holding = _holding_for_admin(request, pk)
    initial = {
        "start_date": holding.start_date,
        "end_date": holding.end_date,
        "is_acting": holding.is_acting,
        "version": holding.version,
    }
    form = web_forms.HoldingEditForm(_data(request), initial=initial)
    back = _url("position-detail", access, holding.position_id)
    subject = {"person": holding.person.full_name, "position": holding.position.title}

    def save(data: dict[str, Any]) -> str:
        org.update_holding(
            holding,
            actor=access.user,
            expected_version=data["version"],
            start_date=data["start_date"],
            end_date=data["end_date"],
            is_acting=data["is_acting"],
        )
        return back

    return form_page(
        request,
        form,
        title=_("Edit the holding of %(person)s as %(position)s") % subject,
        submit=_("Save"),
        cancel_url=back,
        save=save,
        success=_("The changes were saved."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def holding_end(request: HttpRequest, pk: int) -> HttpResponse:
    access, holding = _holding_for_admin(request, pk)
    form = web_forms.HoldingEndForm(
        _data(request),
        initial={
            "end_date": holding.end_date or queries.today_for(access),
            "version": holding.version,
        },
    )
    back = _url("position-detail", access, holding.position_id)
    subject = {"person": holding.person.full_name, "position": holding.position.title}

    def save(data: dict[str, Any]) -> str:
        org.end_holding(
            holding,
            actor=access.user,
            expected_version=data["version"],
            end_date=data["end_date"],
        )
        return back

    return form_page(
        request,
        form,
        title=_("End the holding of %(person)s as %(position)s") % subject,
        submit=_("End holding"),
        cancel_url=back,
        save=save,
        success=_("The holding was ended."),
        intro=_("The person holds the position up to and including this day."),
    )


# deactivate and reactivate


@dataclass(frozen=True)
class Switch:
    """How to find, name, deactivate and reactivate one kind of object."""

    scoped: Callable[[Access], QuerySet]
    deactivate: Callable[..., Any]
    reactivate: Callable[..., Any]
    back: Callable[[Access, Any], str]
    noun: Any


SWITCHES: dict[str, Switch] = {
    "party": Switch(
        queries.parties,
        org.deactivate_party,
        org.reactivate_party,
        lambda access, obj: _url("party-detail", access, obj.pk),
        gettext_lazy("party"),
    ),
    "position": Switch(
        queries.positions,
        org.deactivate_position,
        org.reactivate_position,
        lambda access, obj: _url("position-detail", access, obj.pk),
        gettext_lazy("position"),
    ),
    "duty": Switch(
        queries.duties,
        org.deactivate_duty,
        org.reactivate_duty,
        lambda access, obj: (
            _url("position-detail", access, obj.position_id) + "#duties"
        ),
        gettext_lazy("duty"),
    ),
    "person": Switch(
        queries.people,
        org.deactivate_person,
        org.reactivate_person,
        lambda access, obj: _url("person-detail", access, obj.pk),
        gettext_lazy("person"),
    ),
}


def _switch(request: HttpRequest, kind: str, pk: int, *, active: bool) -> HttpResponse:
    access = _admin(request)
    switch = SWITCHES[kind]
    obj = queries.get_or_404(switch.scoped(access), pk)
    form = web_forms.ConfirmForm(_data(request), initial={"version": obj.version})
    back = switch.back(access, obj)
    name = str(obj)

    def save(data: dict[str, Any]) -> str:
        action = switch.reactivate if active else switch.deactivate
        action(obj, actor=access.user, expected_version=data["version"])
        return back

    values = {"name": name, "noun": switch.noun}
    if active:
        return form_page(
            request,
            form,
            title=_("Reactivate “%(name)s”") % values,
            submit=_("Reactivate"),
            cancel_url=back,
            save=save,
            success=_("“%(name)s” was reactivated.") % values,
            intro=_("The %(noun)s can be chosen and used again.") % values,
        )
    return form_page(
        request,
        form,
        title=_("Deactivate “%(name)s”") % values,
        submit=_("Deactivate"),
        cancel_url=back,
        save=save,
        success=_("“%(name)s” was deactivated.") % values,
        intro=_(
            "The %(noun)s is kept with its history, but can no longer be chosen. You can "
            "reactivate it later. Nothing is deleted."
        )
        % values,
        danger=True,
    )


def _switch_view(kind: str, *, active: bool) -> Callable[..., HttpResponse]:
    @org_view
    @require_http_methods(["GET", "POST"])
    def view(request: HttpRequest, pk: int) -> HttpResponse:
        return _switch(request, kind, pk, active=active)

    view.__name__ = f"{kind}_{'reactivate' if active else 'deactivate'}"
    return view


party_deactivate = _switch_view("party", active=False)
party_reactivate = _switch_view("party", active=True)
position_deactivate = _switch_view("position", active=False)
position_reactivate = _switch_view("position", active=True)
duty_deactivate = _switch_view("duty", active=False)
duty_reactivate = _switch_view("duty", active=True)
person_deactivate = _switch_view("person", active=False)
person_reactivate = _switch_view("person", active=True)
