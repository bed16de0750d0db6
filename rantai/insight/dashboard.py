"""The owner's dashboard: where a procedure's (or a party's) chain loses time
(docs/design-insight.md, "Owner's dashboard").

Scope: one procedure (all its versions) or one party (the runs in which the party
was responsible for at least one task, directly or through one of its positions).
Period: the runs **completed** between two dates, both inclusive, in the
organisation's time zone. Everything is read from the runs' own timestamps in
wall-clock hours (what the customer feels), not working hours.

* **Runs**: finished, on time (result met or no `result_delay`), lead time
  (`completed_at - started_at`).
* **Steps** (by step key in a procedure scope, by step name in a party scope, where
  only the party's own tasks count): cycle time (`done_at - ready_at`), waiting
  (`started_at - ready_at`) and working time (`done_at - started_at`). A task
  completed without being started first (its `started_at` is its `done_at`, set by
  the completion) has waited nothing and worked its whole cycle. Skipped and
  cancelled tasks are left out.
* **Handovers**: each finish-to-start dependency between done tasks of different
  responsible parties (a position's party when a position is responsible), the wait
  from the predecessor's `done_at` to the successor's start (its `done_at` when it
  was never started), grouped by (from party, to party). In a party scope, the
  handovers to or from that party.
* **Critical path** of each run: from the task done last, walked back along the
  predecessor (through skipped or cancelled ones) that finished last, the lowest id
  on a tie. Counted per step and per responsible position. A step **caused delay**
  when it is on the critical path of a late run and its cycle time exceeded its
  planned duration — `duration_minutes` read as wall-clock minutes, for simplicity
  (the planned duration is in working minutes; a step planned for a working day
  "exceeds" it after 8 wall-clock hours).
* **Obstacles by cause** raised on the runs (withdrawn ones, raised by mistake, are
  left out): count and total expected delay in minutes.
* **Trend**: the same run figures per calendar month, or per week (Monday to Sunday)
  when the period is at most 62 days; buckets are clipped to the period, and
  buckets that start after today are left out.

Percentiles are nearest-rank on the sorted values: the p-th percentile of n values
is the value at rank ⌈p·n/100⌉ (so the median of four values is the second).

Cost: a fixed number of queries (the runs, their tasks, their dependencies, their
obstacles, the organisation's positions and parties), only the columns needed,
then plain Python; `benchmarks/dashboard.py` measures 10,000 runs of ten steps.
Every figure links to the runs behind it (`runs_behind`, the `FIGURES` names).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from operator import itemgetter
from typing import Any

import numpy as np
from django.db import connections
from django.db.models import (
    BigIntegerField,
    BooleanField,
    Exists,
    ExpressionWrapper,
    Func,
    OuterRef,
    Q,
    QuerySet,
    Value,
)
from django.db.models.functions import Coalesce
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.access import Access
from rantai.chains.models import (
    DependencyKind,
    Procedure,
    Run,
    RunResult,
    RunStatus,
    Task,
    TaskDependency,
    TaskStatus,
)
from rantai.core.errors import NotFound, ValidationFailed
from rantai.obstacles.models import Cause, Obstacle, ObstacleStatus
from rantai.org.models import Party, Position

__all__ = [
    "FIGURES",
    "CauseFigure",
    "Dashboard",
    "Distribution",
    "HandoverFigure",
    "PositionFigure",
    "Scope",
    "ScopeKind",
    "StepFigure",
    "TrendPoint",
    "dashboard",
    "runs_behind",
    "scope_for",
]

MAX_YEARS = 3
WEEKLY_TREND_DAYS = 62  # a period of at most this many days trends by week
NONE = "none"  # a handover side without a responsible party, in figure names

# The figure names `runs_behind` understands (the web links every figure to one).
FIGURES = (
    "finished",
    "late",
    "on_time",
    "step:<key>",
    "critical:<key>",
    "delay:<key>",
    "handover:<from_party_id|none>:<to_party_id|none>",
    "position:<id>",
    "cause:<cause>",
    "period:<yyyy-mm-dd>",
)


class ScopeKind:
    PROCEDURE = "procedure"
    PARTY = "party"
    ALL = (PROCEDURE, PARTY)


@dataclass(frozen=True)
class Scope:
    """What a dashboard is about: one procedure (all its versions) or one party."""

    kind: str
    id: int
    label: str


@dataclass(frozen=True)
class Distribution:
    """How many values, their median and 90th percentile (nearest rank), in hours."""

    count: int
    median_hours: float | None
    p90_hours: float | None


@dataclass(frozen=True)
class StepFigure:
    key: str
    name: str
    runs: int
    cycle: Distribution
    waiting: Distribution
    working: Distribution
    on_critical_path: int
    caused_delay: int


@dataclass(frozen=True)
class HandoverFigure:
    from_party_id: int | None
    from_party: str
    to_party_id: int | None
    to_party: str
    wait: Distribution


@dataclass(frozen=True)
class PositionFigure:
    position_id: int
    title: str
    on_critical_path: int
    caused_delay: int


@dataclass(frozen=True)
class CauseFigure:
    cause: str
    label: str
    count: int
    delay_minutes: int


@dataclass(frozen=True)
class TrendPoint:
    start: dt.date
    end: dt.date
    finished: int
    on_time: int
    lead: Distribution


@dataclass(frozen=True)
class Dashboard:
    scope: Scope
    start: dt.date
    end: dt.date
    finished: int
    on_time: int
    on_time_rate: float | None
    lead: Distribution
    waiting_hours: float
    working_hours: float
    steps: tuple[StepFigure, ...]
    handovers: tuple[HandoverFigure, ...]
    positions: tuple[PositionFigure, ...]
    causes: tuple[CauseFigure, ...]
    trend: tuple[TrendPoint, ...]


# --- scope and period ------------------------------------------------------------------


def scope_for(access: Access, kind: str, pk: int | str) -> Scope:
    """The scope `kind` ("procedure" or "party") `pk` of the caller's organisation.

    Dashboards are for whole-organisation members (admins, members, auditors); a
    partner is answered as for anything outside its view (NotFound)."""
    if kind not in ScopeKind.ALL:
        raise ValidationFailed(
            {"scope": [_("Choose a procedure or a party for the dashboard.")]}
        )
    access.require_whole_organisation()
    try:
        number = int(pk)
    except (TypeError, ValueError) as error:
        raise NotFound() from error
    model: type[Procedure] | type[Party] = (
        Procedure if kind == ScopeKind.PROCEDURE else Party
    )
    found = (
        model.objects.filter(organisation=access.organisation, pk=number)
        .values_list("name", "code")
        .first()
    )
    if found is None:
        raise NotFound()
    name, code = found
    return Scope(kind=kind, id=number, label=f"{name} ({code})")


def _check_period(start: dt.date, end: dt.date) -> None:
    if end < start:
        raise ValidationFailed({"end": [_("The period ends before it starts.")]})
    if end >= _years_later(start, MAX_YEARS):
        raise ValidationFailed({"end": [_("A dashboard covers at most three years.")]})


def _years_later(day: dt.date, years: int) -> dt.date:
    try:
        return day.replace(year=day.year + years)
    except ValueError:  # 29 February
        return dt.date(day.year + years, 3, 1)


def _bounds(time_zone: str, start: dt.date, end: dt.date) -> tuple[dt.datetime, ...]:
    """The period as [from, until) in UTC: local midnight of `start` to local
    midnight after `end`."""
    zone = zoneinfo.ZoneInfo(time_zone)
    lower = dt.datetime.combine(start, dt.time(0), tzinfo=zone)
    upper = dt.datetime.combine(end + dt.timedelta(days=1), dt.time(0), tzinfo=zone)
    return lower.astimezone(dt.UTC), upper.astimezone(dt.UTC)


def trend_buckets(start: dt.date, end: dt.date) -> list[tuple[dt.date, dt.date]]:
    """The trend's buckets, clipped to the period: weeks (Monday to Sunday) for a
    period of at most 62 days, else calendar months."""
    weekly = (end - start).days + 1 <= WEEKLY_TREND_DAYS
    buckets = []
    first = start
    while first <= end:
        if weekly:
            last = first + dt.timedelta(days=6 - first.weekday())
        else:
            following = (first.replace(day=1) + dt.timedelta(days=32)).replace(day=1)
            last = following - dt.timedelta(days=1)
        last = min(last, end)
        buckets.append((first, last))
        first = last + dt.timedelta(days=1)
    return buckets


# --- the figures -----------------------------------------------------------------------


def _hours(seconds: float) -> float:
    return seconds / 3600


def distribution(seconds: Sequence[float]) -> Distribution:
    """Count, median and 90th percentile (nearest rank) of durations in seconds."""
    count = len(seconds)
    if not count:
        return Distribution(0, None, None)
    ordered = sorted(seconds)
    return Distribution(
        count,
        _hours(ordered[_rank(50, count)]),
        _hours(ordered[_rank(90, count)]),
    )


def _rank(percent: int, count: int) -> int:
    """The 0-based index of the nearest-rank percentile: ⌈p·n/100⌉ - 1."""
    return max(-(-percent * count // 100), 1) - 1


@dataclass
class _Step:
    name: str
    sort_order: int
    runs: Any  # the ids of the runs with a done task of the step (an array)
    cycle: Distribution
    waiting: Distribution
    working: Distribution
    critical: Any  # the ids of the runs whose critical path has it
    delayed: Any  # ... and where it caused delay (a late run, over its duration)


@dataclass
class _Analysis:
    """Every figure of a scope and period, with the runs behind each (the runs as
    arrays of ids; `runs_behind` turns the one it needs into a set)."""

    ordered_runs: list[int]  # newest completed first
    late: set[int]
    lead_seconds: dict[int, int]
    local_completion: dict[int, dt.date]
    steps: dict[str, _Step]
    waiting_seconds: int
    working_seconds: int
    handovers: dict[tuple[int | None, int | None], Distribution]
    handover_runs: dict[tuple[int | None, int | None], Any]
    position_critical: dict[int, Any]
    position_delayed: dict[int, Any]
    causes: dict[str, list[int]]  # cause -> [count, delay minutes]
    cause_runs: dict[str, set[int]]
    party_names: dict[int, str]
    position_titles: dict[int, str]


def _runs(access: Access, scope: Scope, start: dt.date, end: dt.date) -> QuerySet[Run]:
    lower, upper = _bounds(access.organisation.time_zone, start, end)
    runs = Run.objects.filter(
        organisation=access.organisation,
        status=RunStatus.COMPLETED,
        completed_at__gte=lower,
        completed_at__lt=upper,
    )
    if scope.kind == ScopeKind.PROCEDURE:
        return runs.filter(procedure_id=scope.id)
    return runs.filter(
        Exists(
            Task.objects.filter(run=OuterRef("pk")).filter(
                Q(responsible_party_id=scope.id)
                | Q(responsible_position__party_id=scope.id)
            )
        )
    )


class _Epoch(Func):
    """A moment as whole seconds since 1970 (UTC), computed by the database: the
    dashboard reads 100,000 timestamps, and turning each into a datetime costs more
    than all the figures together. PostgreSQL's `date_part` (a float) rather than
    `EXTRACT` (a numeric, several times slower): rounding half up a float of whole
    microseconds near 2,000,000,000 gives the same second."""

    output_field = BigIntegerField()
    template = "CAST(FLOOR(date_part('epoch', %(expressions)s) + 0.5) AS BIGINT)"

    def as_sqlite(self, compiler: Any, connection: Any, **extra_context: Any) -> Any:
        return self.as_sql(
            compiler,
            connection,
            template=(
                "CAST(ROUND((julianday(%(expressions)s) - 2440587.5) * 86400.0) "
                "AS INTEGER)"
            ),
            **extra_context,
        )


def _rows(qs: QuerySet[Any], *names: str, **moments: Any) -> list[tuple[Any, ...]]:
    """The columns `names`, then each of `moments` (a column or an expression) as
    epoch seconds, as plain tuples straight from the database cursor: the SQL is
    the ORM's, but none of its per-value conversions run (the values are already
    integers and text, and booleans come as 0 or 1 on SQLite)."""
    if moments:
        qs = qs.annotate(**{alias: _Epoch(column) for alias, column in moments.items()})
    sql, params = qs.values_list(*names, *moments).query.sql_with_params()
    with connections[qs.db].cursor() as cursor:
        cursor.execute(sql, params)
        return cursor.fetchall()


def _analyse(access: Access, scope: Scope, start: dt.date, end: dt.date) -> _Analysis:
    if scope.kind not in ScopeKind.ALL:
        raise ValidationFailed(
            {"scope": [_("Choose a procedure or a party for the dashboard.")]}
        )
    _check_period(start, end)
    access.require_whole_organisation()
    organisation = access.organisation
    runs = _runs(access, scope, start, end)
    run_ids = runs.values("id")
    run_rows = _rows(
        runs.annotate(
            on_time=ExpressionWrapper(
                Q(result=RunResult.MET) | Q(result_delay__isnull=True),
                output_field=BooleanField(),
            )
        ).order_by("-completed_at", "-id"),
        "id",
        "on_time",
        started_s="started_at",
        completed_s="completed_at",
    )
    # Only done tasks count (skipped and cancelled ones are left out); the
    # critical path looks through the others along the dependencies. No
    # responsible position or party reads as 0 (ids start at 1); a task never
    # started reads its done as its start, one without a ready moment its start.
    task_rows = _rows(
        Task.objects.filter(
            run_id__in=run_ids, status=TaskStatus.DONE, done_at__isnull=False
        )
        .annotate(
            position_or_0=Coalesce("responsible_position_id", Value(0)),
            party_or_0=Coalesce("responsible_party_id", Value(0)),
        )
        .order_by(),
        "id",
        "run_id",
        "key",
        "name",
        "sort_order",
        "duration_minutes",
        "position_or_0",
        "party_or_0",
        ready_s=Coalesce("ready_at", "started_at", "done_at"),
        started_s=Coalesce("started_at", "done_at"),
        done_s="done_at",
    )
    link_rows = _rows(
        TaskDependency.objects.filter(run_id__in=run_ids)
        .annotate(
            finish_to_start=ExpressionWrapper(
                Q(kind=DependencyKind.FINISH_TO_START), output_field=BooleanField()
            )
        )
        .order_by(),
        "predecessor_id",
        "successor_id",
        "finish_to_start",
    )
    obstacle_rows = _rows(
        Obstacle.objects.filter(run_id__in=run_ids)
        .exclude(status=ObstacleStatus.WITHDRAWN)
        .order_by(),
        "run_id",
        "cause",
        "expected_delay_minutes",
    )
    positions = {
        pk: (party_id, title)
        for pk, party_id, title in Position.objects.filter(
            organisation=organisation
        ).values_list("id", "party_id", "title")
    }
    party_names = dict(
        Party.objects.filter(organisation=organisation).values_list("id", "name")
    )
    return _compute(
        scope,
        zoneinfo.ZoneInfo(organisation.time_zone),
        run_rows,
        task_rows,
        link_rows,
        obstacle_rows,
        positions,
        party_names,
    )


def _column(rows: Sequence[tuple[Any, ...]], index: int) -> np.ndarray:
    """The integers of column `index` of `rows`."""
    return np.fromiter(map(itemgetter(index), rows), np.int64, len(rows))


def _locate(sorted_ids: np.ndarray, order: np.ndarray, wanted: np.ndarray) -> Any:
    """The index (in the unsorted array `sorted_ids` came from through `order`) of
    each of `wanted`, -1 where it is not there."""
    if not len(sorted_ids):
        return np.full(len(wanted), -1, np.int64)
    at = np.minimum(np.searchsorted(sorted_ids, wanted), len(sorted_ids) - 1)
    return np.where(sorted_ids[at] == wanted, order[at], -1)


def _firsts(groups: np.ndarray) -> np.ndarray:
    """Where each run of equal values of the sorted `groups` starts."""
    if not len(groups):
        return np.zeros(0, np.int64)
    return np.flatnonzero(np.concatenate(([True], groups[1:] != groups[:-1])))


def _segments(groups: np.ndarray) -> list[tuple[int, int]]:
    """The [first, last) slices of the runs of equal values of the sorted
    `groups`."""
    starts = _firsts(groups).tolist()
    return list(zip(starts, [*starts[1:], len(groups)], strict=False))


def _spread(values: np.ndarray) -> Distribution:
    """`distribution` of an array of whole seconds (np.partition: the same
    nearest ranks, without sorting everything)."""
    count = len(values)
    if not count:
        return Distribution(0, None, None)
    median, p90 = _rank(50, count), _rank(90, count)
    chosen = np.partition(values, sorted({median, p90}))
    return Distribution(count, _hours(int(chosen[median])), _hours(int(chosen[p90])))


def _pairs(first: np.ndarray, second: np.ndarray) -> tuple[np.ndarray, ...]:
    """The distinct (first, second) pairs of two arrays of non-negative integers:
    the firsts, the seconds, and for each pair its position in the input."""
    width = int(second.max()) + 1 if len(second) else 1
    unique, where = np.unique(first * width + second, return_index=True)
    return unique // width, unique % width, where


def _compute(
    scope: Scope,
    zone: dt.tzinfo,
    run_rows: Sequence[tuple[Any, ...]],
    task_rows: Sequence[tuple[Any, ...]],
    link_rows: Sequence[tuple[Any, ...]],
    obstacle_rows: Iterable[tuple[int, str, int]],
    positions: dict[int, tuple[int, str]],
    party_names: dict[int, str],
) -> _Analysis:
    """The figures from plain rows (the queries of `_analyse`; moments in epoch
    seconds), computed on arrays: 100,000 tasks for a busy procedure's year."""
    by_name = scope.kind == ScopeKind.PARTY
    ordered_runs: list[int] = []
    late: set[int] = set()
    lead_seconds: dict[int, int] = {}
    local_completion: dict[int, dt.date] = {}
    for run_id, on_time, started, completed in run_rows:
        ordered_runs.append(run_id)
        if not on_time:
            late.add(run_id)
        lead_seconds[run_id] = completed - started
        local_completion[run_id] = dt.datetime.fromtimestamp(completed, zone).date()
    run_array = np.array(ordered_runs, np.int64)
    run_order = np.argsort(run_array, kind="stable")
    late_by_index = np.array([run_id in late for run_id in ordered_runs], bool)

    # Tasks: every array in the order of the rows; a run by its index in
    # `ordered_runs` (0 = newest).
    count = len(task_rows)
    ids = _column(task_rows, 0)
    run_index = _locate(run_array[run_order], run_order, _column(task_rows, 1))
    position = _column(task_rows, 6)
    party = _column(task_rows, 7)
    if positions:
        position_ids = np.array(sorted(positions), np.int64)
        position_parties = np.array(
            [positions[pk][0] for pk in position_ids.tolist()] + [0], np.int64
        )
        found = _locate(position_ids, np.arange(len(position_ids)), position)
        party = np.where((party == 0) & (position != 0), position_parties[found], party)
    ready = _column(task_rows, 8)
    started = _column(task_rows, 9)
    done = _column(task_rows, 10)
    # Completing a task that was never started stamps its start at its done: it
    # waited nothing and worked its whole cycle.
    began = started < done
    started = np.where(began, started, done)
    cycle = done - ready
    waiting = np.where(began, started - ready, 0)
    over = cycle > _column(task_rows, 5) * 60

    # The step of each task (-1: not counted in the steps): by key, or by name
    # among the party's own tasks.
    labels = list(map(itemgetter(3 if by_name else 2), task_rows))
    codes = {label: code for code, label in enumerate(dict.fromkeys(labels))}
    step = np.array(list(map(codes.__getitem__, labels)), np.int64)
    if by_name:
        step[party != scope.id] = -1
    counted = np.flatnonzero(step >= 0)
    # By step, the newest run first, then the order of the rows.
    by_step = counted[np.lexsort((counted, run_index[counted], step[counted]))]
    bounds = _segments(step[by_step])
    working = cycle - waiting

    # The last task done of each run (the lowest id on a tie) and the binding
    # predecessor of each done task: the done predecessor that finished last
    # (lowest id on a tie); predecessors not done are looked through (`through`,
    # `undone`), which is rare.
    by_run = np.lexsort((ids, -done, run_index))
    lasts = by_run[_firsts(run_index[by_run])] if count else by_run
    id_order = np.argsort(ids, kind="stable")
    sorted_ids = ids[id_order]
    predecessor_ids = _column(link_rows, 0)
    successor_ids = _column(link_rows, 1)
    predecessor = _locate(sorted_ids, id_order, predecessor_ids)
    successor = _locate(sorted_ids, id_order, successor_ids)
    both = np.flatnonzero((predecessor >= 0) & (successor >= 0))
    before, after = predecessor[both], successor[both]
    ranked = np.lexsort((ids[before], -done[before], after))
    firsts = ranked[_firsts(after[ranked])]
    binding = np.full(count, -1, np.int64)
    binding[after[firsts]] = before[firsts]
    through: dict[int, list[int]] = defaultdict(list)
    undone: dict[int, list[int]] = defaultdict(list)
    for link in np.flatnonzero((predecessor < 0) | (successor < 0)).tolist():
        if successor[link] < 0:
            undone[int(successor_ids[link])].append(int(predecessor_ids[link]))
        else:
            through[int(successor[link])].append(int(predecessor_ids[link]))

    # Handovers: finish-to-start links between done tasks of different parties.
    finish_to_start = _column(link_rows, 2).astype(bool)[both]
    source, target = party[before], party[after]
    handing = finish_to_start & (source != target)
    if by_name:
        handing &= (source == scope.id) | (target == scope.id)
    handovers: dict[tuple[int | None, int | None], Distribution] = {}
    handover_runs: dict[tuple[int | None, int | None], Any] = {}
    if handing.any():
        chosen = np.flatnonzero(handing)
        source, target = source[chosen], target[chosen]
        waits = np.maximum(started[after[chosen]] - done[before[chosen]], 0)
        link_runs = run_index[after[chosen]]
        pair_order = np.lexsort((target, source))
        for first, last in _segments(
            source[pair_order] * (int(target.max()) + 1) + target[pair_order]
        ):
            members = pair_order[first:last]
            key = (
                int(source[members[0]]) or None,
                int(target[members[0]]) or None,
            )
            handovers[key] = _spread(waits[members])
            handover_runs[key] = run_array[np.unique(link_runs[members])]

    # The critical path of each run, walked back from its last task done.
    path = _critical_paths(
        lasts, binding, through, undone, ids, done, id_order, sorted_ids
    )
    path = path[step[path] >= 0]
    path_runs = run_index[path]
    caused = late_by_index[path_runs] & over[path]

    def runs_of(groups: np.ndarray, chosen: np.ndarray) -> dict[int, Any]:
        group, runs, _where = _pairs(groups[chosen], path_runs[chosen])
        found: dict[int, Any] = {}
        for first, last in _segments(group):
            found[int(group[first])] = run_array[runs[first:last]]
        return found

    everything = np.ones(len(path), bool)
    critical = runs_of(step[path], everything)
    delayed = runs_of(step[path], caused)
    on_path = position[path] != 0
    position_critical = runs_of(position[path], on_path)
    position_delayed = runs_of(position[path], on_path & caused)

    steps: dict[str, _Step] = {}
    empty = np.zeros(0, np.int64)
    names = [""] * len(codes)
    for key, code in codes.items():
        names[code] = key
    for first, last in bounds:
        members = by_step[first:last]
        newest = task_rows[int(members[0])]
        code = int(step[members[0]])
        steps[names[code]] = _Step(
            name=newest[3],
            sort_order=newest[4],
            runs=run_array[np.unique(run_index[members])],
            cycle=_spread(cycle[members]),
            waiting=_spread(waiting[members]),
            working=_spread(working[members]),
            critical=critical.get(code, empty),
            delayed=delayed.get(code, empty),
        )

    causes: dict[str, list[int]] = {}
    cause_runs: dict[str, set[int]] = defaultdict(set)
    for run_id, cause, delay in obstacle_rows:
        figures = causes.setdefault(cause, [0, 0])
        figures[0] += 1
        figures[1] += delay
        cause_runs[cause].add(run_id)

    return _Analysis(
        ordered_runs=ordered_runs,
        late=late,
        lead_seconds=lead_seconds,
        local_completion=local_completion,
        steps=steps,
        waiting_seconds=int(waiting[counted].sum()),
        working_seconds=int(working[counted].sum()),
        handovers=handovers,
        handover_runs=handover_runs,
        position_critical=position_critical,
        position_delayed=position_delayed,
        causes=causes,
        cause_runs=cause_runs,
        party_names=party_names,
        position_titles={pk: title for pk, (_party, title) in positions.items()},
    )


def _critical_paths(
    lasts: np.ndarray,
    binding: np.ndarray,
    through: dict[int, list[int]],
    undone: dict[int, list[int]],
    ids: np.ndarray,
    done: np.ndarray,
    id_order: np.ndarray,
    sorted_ids: np.ndarray,
) -> np.ndarray:
    """The tasks (indices) on the critical paths ending at `lasts` (each run's task
    done last), all runs a step back at a time: each step back goes to the binding
    predecessor, looking through skipped or cancelled predecessors (`through`) to
    theirs. A run's path never meets another's (a dependency stays in its run), so
    a task already on a path ends the walk (the path came back to itself)."""
    on_path = np.zeros(len(binding), bool)
    looked_through = np.array(sorted(through), np.int64)
    frontier = lasts
    while len(frontier):
        on_path[frontier] = True
        following = binding[frontier]
        if len(looked_through):
            for at in np.flatnonzero(np.isin(frontier, looked_through)).tolist():
                following[at] = _through(
                    int(frontier[at]),
                    int(following[at]),
                    through,
                    undone,
                    ids,
                    done,
                    id_order,
                    sorted_ids,
                )
        following = following[following >= 0]
        frontier = following[~on_path[following]]
    return np.flatnonzero(on_path)


def _through(
    current: int,
    best: int,
    through: dict[int, list[int]],
    undone: dict[int, list[int]],
    ids: np.ndarray,
    done: np.ndarray,
    id_order: np.ndarray,
    sorted_ids: np.ndarray,
) -> int:
    """The binding predecessor of `current` among `best` and the done tasks
    reached through its predecessors that are not done."""
    stack = list(through[current])
    visited: set[int] = set()
    while stack:
        candidate = stack.pop()
        if candidate in visited:
            continue
        visited.add(candidate)
        found = int(_locate(sorted_ids, id_order, np.array([candidate]))[0])
        if found < 0:
            stack.extend(undone.get(candidate, ()))
        elif best < 0 or (done[found], -ids[found]) > (done[best], -ids[best]):
            best = found
    return best


def _party_label(party_id: int | None, names: dict[int, str]) -> str:
    if party_id is None:
        return _("(no party)")
    return names.get(party_id, "")


def dashboard(
    access: Access,
    scope: Scope,
    *,
    start: dt.date,
    end: dt.date,
    now: dt.datetime | None = None,
) -> Dashboard:
    """The dashboard of `scope` over the runs completed from `start` to `end`
    (inclusive, the organisation's time zone); `now` decides which trend buckets
    have begun."""
    analysis = _analyse(access, scope, start, end)
    moment = now or timezone.now()
    today = moment.astimezone(zoneinfo.ZoneInfo(access.organisation.time_zone)).date()
    finished = len(analysis.ordered_runs)
    on_time = finished - len(analysis.late)
    steps = tuple(
        StepFigure(
            key=key,
            name=step.name,
            runs=len(step.runs),
            cycle=step.cycle,
            waiting=step.waiting,
            working=step.working,
            on_critical_path=len(step.critical),
            caused_delay=len(step.delayed),
        )
        for key, step in sorted(
            analysis.steps.items(), key=lambda item: (item[1].sort_order, item[0])
        )
    )
    handovers = sorted(
        (
            HandoverFigure(
                from_party_id=source,
                from_party=_party_label(source, analysis.party_names),
                to_party_id=target,
                to_party=_party_label(target, analysis.party_names),
                wait=wait,
            )
            for (source, target), wait in analysis.handovers.items()
        ),
        key=lambda figure: (
            -(figure.wait.median_hours or 0.0),
            figure.from_party,
            figure.to_party,
        ),
    )
    positions = sorted(
        (
            PositionFigure(
                position_id=position_id,
                title=analysis.position_titles.get(position_id, ""),
                on_critical_path=len(runs),
                caused_delay=len(analysis.position_delayed.get(position_id, ())),
            )
            for position_id, runs in analysis.position_critical.items()
        ),
        key=lambda figure: (
            -figure.on_critical_path,
            -figure.caused_delay,
            figure.title,
            figure.position_id,
        ),
    )
    causes = sorted(
        (
            CauseFigure(
                cause=cause,
                label=str(Cause(cause).label) if cause in Cause.values else cause,
                count=count,
                delay_minutes=delay,
            )
            for cause, (count, delay) in analysis.causes.items()
        ),
        key=lambda figure: (-figure.delay_minutes, -figure.count, figure.cause),
    )
    buckets: dict[dt.date, list[int]] = {}
    bucket_of = {}
    kept = [
        (first, last) for first, last in trend_buckets(start, end) if first <= today
    ]
    for first, last in kept:
        buckets[first] = []
        day = first
        while day <= last:
            bucket_of[day] = first
            day += dt.timedelta(days=1)
    for run_id in analysis.ordered_runs:
        first_day = bucket_of.get(analysis.local_completion[run_id])
        if first_day is not None:
            buckets[first_day].append(run_id)
    trend = tuple(
        TrendPoint(
            start=first,
            end=last,
            finished=len(buckets[first]),
            on_time=sum(1 for run in buckets[first] if run not in analysis.late),
            lead=distribution([analysis.lead_seconds[run] for run in buckets[first]]),
        )
        for first, last in kept
    )
    return Dashboard(
        scope=scope,
        start=start,
        end=end,
        finished=finished,
        on_time=on_time,
        on_time_rate=on_time / finished if finished else None,
        lead=distribution(list(analysis.lead_seconds.values())),
        waiting_hours=_hours(analysis.waiting_seconds),
        working_hours=_hours(analysis.working_seconds),
        steps=steps,
        handovers=tuple(handovers),
        positions=tuple(positions),
        causes=tuple(causes),
        trend=trend,
    )


# --- the runs behind a figure ----------------------------------------------------------

_FIGURE = re.compile(
    r"^(?:(?P<plain>finished|late|on_time)"
    r"|(?P<kind>step|critical|delay|position|cause|period):(?P<value>.+)"
    r"|handover:(?P<source>none|\d+):(?P<target>none|\d+))$",
    re.DOTALL,
)


def _malformed(figure: str) -> ValidationFailed:
    return ValidationFailed(
        {
            "figure": [
                _("“%(figure)s” is not a figure of the dashboard.")
                % {"figure": figure[:100]}
            ]
        }
    )


def _party_part(text: str) -> int | None:
    return None if text == NONE else int(text)


def runs_behind(
    access: Access, scope: Scope, *, start: dt.date, end: dt.date, figure: str
) -> list[int]:
    """The ids of the runs behind one figure of the dashboard, newest completed
    first. `figure` is one of `FIGURES`; anything else is refused."""
    access.require_whole_organisation()
    match = _FIGURE.match(figure or "")
    if match is None:
        raise _malformed(figure or "")
    kind, value = match["kind"], match["value"]
    bucket: tuple[dt.date, dt.date] | None = None
    if kind == "position" and not value.isdigit():
        raise _malformed(figure)
    if kind == "cause" and value not in Cause.values:
        raise _malformed(figure)
    if kind == "period":
        try:
            day = dt.date.fromisoformat(value)
        except ValueError as error:
            raise _malformed(figure) from error
        _check_period(start, end)
        bucket = next(
            (pair for pair in trend_buckets(start, end) if pair[0] == day), None
        )
        if bucket is None:
            raise ValidationFailed(
                {"figure": [_("No period of the trend starts on that day.")]}
            )
    analysis = _analyse(access, scope, start, end)
    ordered = analysis.ordered_runs
    chosen: Any
    if match["plain"] == "finished":
        return list(ordered)
    if match["plain"] == "late":
        chosen = analysis.late
    elif match["plain"] == "on_time":
        return [run for run in ordered if run not in analysis.late]
    elif match["source"] is not None:
        key = (_party_part(match["source"]), _party_part(match["target"]))
        chosen = analysis.handover_runs.get(key)
    elif kind in ("step", "critical", "delay"):
        step = analysis.steps.get(value)
        if step is None:
            chosen = None
        else:
            chosen = {
                "step": step.runs,
                "critical": step.critical,
                "delay": step.delayed,
            }[kind]
    elif kind == "position":
        chosen = analysis.position_critical.get(int(value))
    elif kind == "cause":
        chosen = analysis.cause_runs.get(value)
    else:
        assert bucket is not None
        first, last = bucket
        return [
            run for run in ordered if first <= analysis.local_completion[run] <= last
        ]
    if chosen is None or not len(chosen):
        return []
    if not isinstance(chosen, set):
        chosen = set(chosen.tolist())
    return [run for run in ordered if run in chosen]
