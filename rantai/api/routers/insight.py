"""Insight (docs/design-insight.md): the owner's dashboard — where a procedure or
a party loses time, from the runs' own timestamps — with the runs behind every
figure, and search across everything you may see.

**Dashboard.** The scope is one procedure (all its versions) or one party (the
runs in which it had at least one task); the period is the runs *completed*
between two dates (`from`, `to`, both inclusive, in the organisation's time
zone; by default the last 90 days up to today). Figures are wall-clock hours
(what the customer feels): runs finished and on time, lead time (median and 90th
percentile, nearest rank), waiting and working time per step, handovers between
parties, the critical path of each run (per step and per responsible position,
and the steps that caused delay on late runs), obstacles by cause, and a trend
by month (by week for periods of 62 days or less). Each figure names the runs
behind it (`figure`), listed by `GET /dashboard/{kind}/{id}/runs?figure=`.

**Search.** Every word of `q` must match (as a prefix, or as an Indonesian or
English stem on PostgreSQL); results are ranked, paginated, and counted per
kind. Who may see a result is decided when searching, by the same rules as
everywhere else: a partner finds only what its party may see, and counts and
snippets never reveal anything else.

Dashboards are for the whole organisation's members: administrators, members
and auditors read the dashboard of every procedure and party; for an external
partner they do not exist (404). Everyone may search.
"""

import datetime as dt
import html
import re
import zoneinfo
from typing import Any, Literal

from django.http import HttpRequest
from django.utils import timezone
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from rantai.accounts.access import Access
from rantai.api.common import OrgSlug, Pagination, org_access
from rantai.api.routers.approvals import field_names
from rantai.api.routers.runs import RunOut
from rantai.chains import queries as chains_queries
from rantai.chains.models import Run
from rantai.insight import dashboard as dashboards
from rantai.insight import search as searching
from rantai.insight.models import SearchKind
from rantai.obstacles.models import Cause

router = Router(tags=["insight"])

DEFAULT_DAYS = 90
# The URL names a scope in the plural, the dashboard in the singular.
KINDS = {"procedures": "procedure", "parties": "party"}
ScopeKind = Literal["procedures", "parties"]
# The dashboard names the period's ends after its arguments, the API after `from`
# and `to`.
PERIOD_FIELDS = {"start": "from", "end": "to"}


def now() -> dt.datetime:
    """The moment "today" is taken from (tests fix it)."""
    return timezone.now()


# --- dashboard schemas --------------------------------------------------------------


class ScopeOut(Schema):
    kind: Literal["procedure", "party"]
    id: int
    label: str


class DistributionOut(Schema):
    """Hours over a number of values: median and 90th percentile (nearest rank;
    null without values)."""

    count: int
    median_hours: float | None
    p90_hours: float | None


class StepOut(Schema):
    """A step: by its key within a procedure, by its name within a party."""

    key: str = Field(..., description="The step's key (a party's: its name).")
    name: str
    runs: int = Field(..., description="Finished runs in which it was done.")
    cycle: DistributionOut = Field(..., description="Ready → done.")
    waiting: DistributionOut = Field(..., description="Ready → started.")
    working: DistributionOut = Field(..., description="Started → done.")
    on_critical_path: int = Field(..., description="Runs whose critical path has it.")
    caused_delay: int = Field(
        ...,
        description="Late runs in which it was on the critical path and took longer "
        "than planned.",
    )
    figure: str = Field(..., description="`step:<key>`: the runs it was done in.")
    critical_figure: str = Field(
        ..., description="`critical:<key>`: the runs whose critical path has it."
    )
    delay_figure: str = Field(
        ..., description="`delay:<key>`: the late runs it caused delay in."
    )


class HandoverOut(Schema):
    """The wait between a task of one party and the next task of another."""

    from_party_id: int | None
    from_party: str
    to_party_id: int | None
    to_party: str
    wait: DistributionOut
    figure: str = Field(
        ..., description="`handover:<from>:<to>` (`none` for no party)."
    )


class PositionOut(Schema):
    """A responsible position on the runs' critical paths."""

    position_id: int
    title: str
    on_critical_path: int
    caused_delay: int
    figure: str = Field(
        ..., description="`position:<id>`: the runs whose critical path it is on."
    )


class CauseOut(Schema):
    """Obstacles raised on the runs, by cause."""

    cause: Cause
    label: str
    count: int
    delay_minutes: int = Field(..., description="Expected delay, working minutes.")
    figure: str = Field(..., description="`cause:<cause>`.")


class TrendPointOut(Schema):
    """One month (one week for short periods)."""

    start: dt.date
    end: dt.date
    finished: int
    on_time: int
    lead: DistributionOut
    figure: str = Field(..., description="`period:<start>`.")


class DashboardOut(Schema):
    scope: ScopeOut
    start: dt.date = Field(..., description="First day (inclusive).")
    end: dt.date = Field(..., description="Last day (inclusive).")
    finished: int = Field(..., description="Runs completed in the period.")
    on_time: int = Field(..., description="Of those, met on time.")
    on_time_rate: float | None = Field(
        None, description="on_time / finished (null without runs)."
    )
    lead: DistributionOut = Field(..., description="Started → completed, per run.")
    waiting_hours: float = Field(
        ..., description="All tasks' waiting (ready → started), in total."
    )
    working_hours: float = Field(
        ..., description="All tasks' working time (started → done), in total."
    )
    steps: list[StepOut]
    handovers: list[HandoverOut]
    positions: list[PositionOut]
    causes: list[CauseOut]
    trend: list[TrendPointOut]


class PeriodIn(Schema):
    start: dt.date | None = Field(
        None, alias="from", description="First day (default: 89 days before `to`)."
    )
    end: dt.date | None = Field(
        None, alias="to", description="Last day (default: today)."
    )


class FigureIn(PeriodIn):
    figure: str = Field(
        ...,
        description="`finished`, `on_time`, `late`, `step:<key>`, "
        "`critical:<key>`, `delay:<key>`, `handover:<from>:<to>` (a party's id "
        "or `none`), `position:<id>`, `cause:<cause>`, `period:<yyyy-mm-dd>` "
        "(the start of a trend point) — as each figure names it.",
    )


# --- dashboard helpers ----------------------------------------------------------------


def period(access: Access, given: PeriodIn) -> tuple[dt.date, dt.date]:
    """The period asked for, by default the last 90 days (today included); the
    dashboard checks it (it ends on or after its start, within three years)."""
    zone = zoneinfo.ZoneInfo(access.organisation.time_zone)
    end = given.end or now().astimezone(zone).date()
    start = given.start or end - dt.timedelta(days=DEFAULT_DAYS - 1)
    return start, end


def _distribution(seen: Any) -> dict[str, Any]:
    return {
        "count": seen.count,
        "median_hours": seen.median_hours,
        "p90_hours": seen.p90_hours,
    }


def _side(party_id: int | None) -> str:
    return dashboards.NONE if party_id is None else str(party_id)


def dashboard_out(board: dashboards.Dashboard) -> dict[str, Any]:
    scope = board.scope
    return {
        "scope": {"kind": scope.kind, "id": scope.id, "label": scope.label},
        "start": board.start,
        "end": board.end,
        "finished": board.finished,
        "on_time": board.on_time,
        "on_time_rate": board.on_time_rate,
        "lead": _distribution(board.lead),
        "waiting_hours": board.waiting_hours,
        "working_hours": board.working_hours,
        "steps": [
            {
                "key": step.key,
                "name": step.name,
                "runs": step.runs,
                "cycle": _distribution(step.cycle),
                "waiting": _distribution(step.waiting),
                "working": _distribution(step.working),
                "on_critical_path": step.on_critical_path,
                "caused_delay": step.caused_delay,
                "figure": f"step:{step.key}",
                "critical_figure": f"critical:{step.key}",
                "delay_figure": f"delay:{step.key}",
            }
            for step in board.steps
        ],
        "handovers": [
            {
                "from_party_id": handover.from_party_id,
                "from_party": handover.from_party,
                "to_party_id": handover.to_party_id,
                "to_party": handover.to_party,
                "wait": _distribution(handover.wait),
                "figure": f"handover:{_side(handover.from_party_id)}:{_side(handover.to_party_id)}",
            }
            for handover in board.handovers
        ],
        "positions": [
            {
                "position_id": position.position_id,
                "title": position.title,
                "on_critical_path": position.on_critical_path,
                "caused_delay": position.caused_delay,
                "figure": f"position:{position.position_id}",
            }
            for position in board.positions
        ],
        "causes": [
            {
                "cause": cause.cause,
                "label": str(cause.label),
                "count": cause.count,
                "delay_minutes": cause.delay_minutes,
                "figure": f"cause:{cause.cause}",
            }
            for cause in board.causes
        ],
        "trend": [
            {
                "start": point.start,
                "end": point.end,
                "finished": point.finished,
                "on_time": point.on_time,
                "lead": _distribution(point.lead),
                "figure": f"period:{point.start.isoformat()}",
            }
            for point in board.trend
        ],
    }


def _board(
    request: HttpRequest, org_slug: str, kind: str, pk: int, given: PeriodIn
) -> dict[str, Any]:
    access = org_access(request, org_slug)
    scope = dashboards.scope_for(access, kind, pk)
    start, end = period(access, given)
    with field_names(PERIOD_FIELDS):
        board = dashboards.dashboard(access, scope, start=start, end=end, now=now())
    return dashboard_out(board)


class RunsPage:
    """The runs behind a figure, a page at a time: counted from their ids, and
    only the page's runs read (in the order the figure gives them)."""

    def __init__(self, access: Access, run_ids: list[int]) -> None:
        self.access = access
        self.run_ids = run_ids

    def all(self) -> "RunsPage":
        return self

    def count(self) -> int:
        return len(self.run_ids)

    def __getitem__(self, page: slice) -> list[Run]:
        wanted = self.run_ids[page]
        found = chains_queries.runs(self.access).filter(pk__in=wanted).in_bulk()
        return [found[pk] for pk in wanted if pk in found]


# --- dashboard ------------------------------------------------------------------------


@router.get("/dashboard/procedures/{procedure_id}", response=DashboardOut)
def procedure_dashboard(
    request: HttpRequest,
    org_slug: OrgSlug,
    procedure_id: int,
    given: Query[PeriodIn],
) -> dict[str, Any]:
    """Where a procedure (all its versions) loses time: the runs completed in
    the period, on time or not, their lead time, each step's cycle, waiting and
    working time, the handovers between parties, the critical paths, the
    obstacles by cause and the trend."""
    return _board(request, org_slug, "procedure", procedure_id, given)


@router.get("/dashboard/parties/{party_id}", response=DashboardOut)
def party_dashboard(
    request: HttpRequest, org_slug: OrgSlug, party_id: int, given: Query[PeriodIn]
) -> dict[str, Any]:
    """The same figures over the runs in which the party had at least one task
    (its steps by name). A partner: its own party only."""
    return _board(request, org_slug, "party", party_id, given)


@router.get("/dashboard/{kind}/{scope_id}/runs", response=list[RunOut])
@paginate(Pagination)
def runs_behind(
    request: HttpRequest,
    org_slug: OrgSlug,
    kind: ScopeKind,
    scope_id: int,
    given: Query[FigureIn],
) -> RunsPage:
    """The runs behind one figure of the dashboard (the same scope and period),
    e.g. the late runs, those in which a step was on the critical path, those
    with a handover between two parties, or with obstacles of a cause."""
    access = org_access(request, org_slug)
    scope = dashboards.scope_for(access, KINDS[kind], scope_id)
    start, end = period(access, given)
    with field_names(PERIOD_FIELDS):
        run_ids = dashboards.runs_behind(
            access, scope, start=start, end=end, figure=given.figure
        )
    return RunsPage(access, list(run_ids))


# --- search ---------------------------------------------------------------------------


class SearchIn(Schema):
    q: str = Field(..., description="The words to find (at most 200 characters).")
    kind: list[str] | None = Field(
        None,
        description="Only these kinds (repeat: kind=run&kind=target): run, "
        "procedure, step, person, position, party, record, obstacle, review, "
        "target.",
    )
    limit: int = Field(20, description="1 to 100.")
    offset: int = 0


class SearchHitOut(Schema):
    """One result. `parent_id`: the object it opens under, when it has no page
    of its own (a step: its procedure version)."""

    kind: SearchKind
    object_id: int
    parent_id: int | None
    title: str
    subtitle: str
    snippet: str = Field(..., description="The text around the matched words.")


class SearchOut(Schema):
    query: str
    total: int = Field(..., description="Results of the kinds asked for.")
    counts: dict[str, int] = Field(
        ..., description="Results per kind (of every kind, for filters)."
    )
    exact: bool = Field(
        ...,
        description="False when so many objects match that only the first ones "
        "were counted and ranked: `total` and `counts` are then lower bounds, and "
        "more words narrow the search.",
    )
    limit: int
    offset: int
    hits: list[SearchHitOut]


_MARKUP = re.compile(r"</?mark>")


def plain(snippet: str) -> str:
    """The snippet without its highlighting: plain text, as stored."""
    return html.unescape(_MARKUP.sub("", snippet))


@router.get("/search", response=SearchOut)
def search(
    request: HttpRequest, org_slug: OrgSlug, given: Query[SearchIn]
) -> dict[str, Any]:
    """Find runs, procedures, steps, people, positions, parties, information
    records, obstacles, reviews and targets by their words: every word must
    match; best first. Only what you may see is found and counted."""
    access = org_access(request, org_slug)
    found = searching.search(
        access,
        given.q,
        kinds=list(given.kind) if given.kind else None,
        limit=given.limit,
        offset=given.offset,
    )
    return {
        "query": found.query,
        "total": found.total,
        "counts": dict(found.counts),
        "exact": found.exact,
        "limit": found.limit,
        "offset": found.offset,
        "hits": [
            {
                "kind": hit.kind,
                "object_id": hit.object_id,
                "parent_id": hit.parent_id,
                "title": hit.title,
                "subtitle": hit.subtitle,
                "snippet": plain(hit.snippet),
            }
            for hit in found.hits
        ],
    }
