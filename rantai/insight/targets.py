"""Progress toward targets: actuals, projections, status and the explanation
(docs/design-insight.md, "Roll-up").

Per target, over the runs declared toward it, with the period's dates read in the
organisation's time zone (both ends inclusive):

* **actual**: Σ actual quantity of its completed runs completed within the period;
* **secure**: Σ quantity of its active runs on track whose projected finish (else
  due date) falls on or before the end of the period;
* **at risk**: the same for its active runs at risk or late, and its suspended runs;
* **after the period**: Σ quantity of its active or suspended runs projected to
  finish after the period — they contribute nothing;
* cancelled runs and runs completed outside the period: nothing.

A parent's figures are its own plus all its descendants' (each run judged against
its own target's period). The status is computed, never stored: once the period has
ended, met when actual ≥ quantity, else missed; before, met when actual ≥ quantity
already, on track when actual + secure does, else at risk. The shortfall is what
nothing covers: the quantity less actual and projected during the period, less
the actual alone once it has ended.

Cost: one query for the organisation's targets and one grouped aggregate over runs
(conditional sums per target), then a linear pass over the tree.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, replace
from decimal import ROUND_FLOOR, Decimal
from typing import Any
from zoneinfo import ZoneInfo

from django.utils import formats, timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from rantai.accounts.access import Access
from rantai.accounts.models import Organisation
from rantai.chains import projection
from rantai.chains import queries as chains_queries
from rantai.chains.models import (
    Run,
    RunStatus,
    ScheduleStatus,
    Target,
    TargetStatus,
)
from rantai.core import sql
from rantai.core.errors import NotFound
from rantai.obstacles import queries as obstacle_queries
from rantai.obstacles.models import ObstacleStatus

__all__ = [
    "REASONS",
    "ObstacleLine",
    "RunLine",
    "TargetProgress",
    "period_bounds",
    "progress",
    "roll_up",
    "target_tree",
]

# Why a run is listed under a target, in the order the explanation gives them.
REASON_LATE = "late"
REASON_AT_RISK = "at_risk"
REASON_SUSPENDED = "suspended"
REASON_AFTER_PERIOD = "after_period"
REASONS = (REASON_LATE, REASON_AT_RISK, REASON_SUSPENDED, REASON_AFTER_PERIOD)

_ZERO = Decimal("0.00")
_CENT = Decimal("0.01")
# Targets per aggregate statement (three parameters each: SQLite takes 32,766).
_TARGETS_PER_STATEMENT = 5_000


@dataclass(frozen=True)
class ObstacleLine:
    """An open obstacle holding up a listed run."""

    id: int
    title: str
    severity: str
    expected_delay_minutes: int


@dataclass(frozen=True)
class RunLine:
    """A run that puts the target at risk or does not count toward it, and why."""

    run_id: int
    title: str
    procedure_name: str
    status: str
    schedule_status: str
    quantity: Decimal
    projected_finish_at: dt.datetime | None
    completed_at: dt.datetime | None
    reason: str  # one of REASONS
    obstacles: tuple[ObstacleLine, ...] = ()


@dataclass(frozen=True)
class TargetProgress:
    """A target's figures (its own runs and its descendants'), its status and,
    from `progress`, the runs behind a shortfall and the explanation."""

    target: Target
    actual: Decimal
    secure: Decimal
    at_risk: Decimal
    after_period: Decimal
    shortfall: Decimal
    status: str  # a chains.TargetStatus
    percent_actual: int
    percent_projected: int
    completed_runs: int
    active_runs: int
    risky_runs: tuple[RunLine, ...] = ()
    explanation: tuple[str, ...] = ()
    children: tuple[TargetProgress, ...] = ()

    @property
    def projected(self) -> Decimal:
        """Everything projected to finish within the period (secure and at risk)."""
        return self.secure + self.at_risk

    @property
    def status_label(self) -> str:
        return str(TargetStatus(self.status).label)


@dataclass(frozen=True, slots=True)
class _Own:
    """One target's sums over its own runs."""

    actual: Decimal = _ZERO
    secure: Decimal = _ZERO
    at_risk: Decimal = _ZERO
    after_period: Decimal = _ZERO
    completed_runs: int = 0
    active_runs: int = 0

    def __add__(self, other: _Own) -> _Own:
        return _Own(
            self.actual + other.actual,
            self.secure + other.secure,
            self.at_risk + other.at_risk,
            self.after_period + other.after_period,
            self.completed_runs + other.completed_runs,
            self.active_runs + other.active_runs,
        )


# --- helpers ------------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def period_bounds(
    target: Target, time_zone: str | ZoneInfo
) -> tuple[dt.datetime, dt.datetime]:
    """The period as [start, end) in UTC: from midnight of its first day to
    midnight after its last day, in the organisation's time zone."""
    zone = ZoneInfo(time_zone) if isinstance(time_zone, str) else time_zone
    start = dt.datetime.combine(target.period_start, dt.time.min, tzinfo=zone)
    end = dt.datetime.combine(
        target.period_end + dt.timedelta(days=1), dt.time.min, tzinfo=zone
    )
    return start.astimezone(dt.UTC), end.astimezone(dt.UTC)


def _decimal(value: Any) -> Decimal:
    """A sum as read (SQLite hands back floats or integers) to two places."""
    if value is None:
        return _ZERO
    return Decimal(str(value)).quantize(_CENT)


def _percent(part: Decimal, whole: Decimal) -> int:
    if whole <= 0:
        return 0
    return int((part * 100 / whole).to_integral_value(rounding=ROUND_FLOOR))


def _status(quantity: Decimal, own: _Own, ended: bool) -> str:
    if own.actual >= quantity:
        return TargetStatus.MET
    if ended:
        return TargetStatus.MISSED
    if own.actual + own.secure >= quantity:
        return TargetStatus.ON_TRACK
    return TargetStatus.AT_RISK


def _shortfall(quantity: Decimal, own: _Own, ended: bool) -> Decimal:
    """What nothing covers: during the period, the quantity less the actual and
    everything projected within it; once it has ended, less the actual only
    (nothing still under way can count any more)."""
    covered = own.actual if ended else own.actual + own.secure + own.at_risk
    return max(_ZERO, quantity - covered)


def _aggregate(
    organisation: Organisation,
    targets: Sequence[Target],
    *,
    whole_organisation: bool,
) -> dict[int, _Own]:
    """The grouped aggregate: per target, conditional sums over its runs, with the
    period bounds of each target given as a VALUES list."""
    found: dict[int, _Own] = {}
    zone = ZoneInfo(organisation.time_zone)
    run_table = sql.table(Run)
    finish = "COALESCE(r.projected_finish_at, r.due_at)"
    in_period = "r.completed_at >= b.lo AND r.completed_at < b.hi"
    for first in range(0, len(targets), _TARGETS_PER_STATEMENT):
        chunk = targets[first : first + _TARGETS_PER_STATEMENT]
        bounds: list[Any] = []
        for target in chunk:
            start, end = period_bounds(target, zone)
            bounds += [target.pk, sql.db_datetime(start), sql.db_datetime(end)]
        values = ", ".join(["(%s, %s, %s)"] * len(chunk))
        scope = ""
        scope_params: list[Any] = []
        if whole_organisation:
            scope = " AND r.organisation_id = %s"
            scope_params = [organisation.pk]
        statement = (
            f"WITH b (tid, lo, hi) AS (VALUES {values}) "  # noqa: S608 - identifiers from model metadata, values are parameters
            "SELECT r.target_id, "
            f"SUM(CASE WHEN r.status = %s AND {in_period} "
            "THEN COALESCE(r.actual_quantity, r.measure_quantity) ELSE 0 END), "
            f"SUM(CASE WHEN r.status = %s AND {in_period} THEN 1 ELSE 0 END), "
            f"SUM(CASE WHEN r.status = %s AND r.schedule_status = %s AND {finish} "
            "< b.hi THEN r.measure_quantity ELSE 0 END), "
            "SUM(CASE WHEN (r.status = %s OR (r.status = %s AND r.schedule_status "
            f"<> %s)) AND {finish} < b.hi THEN r.measure_quantity ELSE 0 END), "
            f"SUM(CASE WHEN r.status IN (%s, %s) AND {finish} >= b.hi "
            "THEN r.measure_quantity ELSE 0 END), "
            "SUM(CASE WHEN r.status IN (%s, %s) THEN 1 ELSE 0 END) "
            f"FROM {run_table} r JOIN b ON b.tid = r.target_id "
            f"WHERE r.status <> %s{scope} "
            "GROUP BY r.target_id"
        )
        active, suspended = RunStatus.ACTIVE.value, RunStatus.SUSPENDED.value
        completed = RunStatus.COMPLETED.value
        on_track = ScheduleStatus.ON_TRACK.value
        params = [
            *bounds,
            completed,
            completed,
            active,
            on_track,
            suspended,
            active,
            on_track,
            active,
            suspended,
            active,
            suspended,
            RunStatus.CANCELLED.value,
            *scope_params,
        ]
        for row in sql.fetchall(statement, params):
            found[row[0]] = _Own(
                actual=_decimal(row[1]),
                completed_runs=int(row[2] or 0),
                secure=_decimal(row[3]),
                at_risk=_decimal(row[4]),
                after_period=_decimal(row[5]),
                active_runs=int(row[6] or 0),
            )
    return found


def _order(target: Target) -> tuple[Any, ...]:
    return (target.period_start, target.name, target.pk)


def roll_up(
    organisation: Organisation,
    targets: Iterable[Target] | None = None,
    *,
    now: dt.datetime | None = None,
) -> dict[int, TargetProgress]:
    """The figures and status of the targets (all the organisation's when None),
    each with its descendants as `children`; keyed by target id. Two queries (the
    organisation's targets, one grouped aggregate over their runs) and a linear
    pass; `risky_runs` and `explanation` are left empty (see `progress`)."""
    now = _now(now)
    today = now.astimezone(ZoneInfo(organisation.time_zone)).date()
    every = list(
        Target.objects.filter(organisation=organisation)
        .select_related("owner_position", "party")
        .order_by("period_start", "name", "id")
    )
    by_id = {target.pk: target for target in every}
    children: dict[int, list[int]] = defaultdict(list)
    for target in every:
        if target.parent_id is not None and target.parent_id in by_id:
            children[target.parent_id].append(target.pk)
    if targets is None:
        wanted = [target.pk for target in every]
        needed = wanted
    else:
        wanted = [t.pk for t in targets if t.pk in by_id]
        seen: set[int] = set()
        needed = []
        stack = list(wanted)
        while stack:
            pk = stack.pop()
            if pk in seen:
                continue
            seen.add(pk)
            needed.append(pk)
            stack.extend(children[pk])
    own = _aggregate(
        organisation,
        [by_id[pk] for pk in needed],
        whole_organisation=targets is None,
    )
    # Children before parents: an explicit post-order walk (no recursion limit).
    done: dict[int, TargetProgress] = {}
    totals: dict[int, _Own] = {}
    entered: set[int] = set()
    for root in needed:
        if root in done:
            continue
        stack2: list[tuple[int, bool]] = [(root, False)]
        while stack2:
            pk, expanded = stack2.pop()
            if pk in done:
                continue
            if not expanded:
                if pk in entered:
                    # A cycle (the write path refuses them under a lock): never
                    # loop forever over bad data; the node is finished once.
                    continue
                entered.add(pk)
                stack2.append((pk, True))
                stack2.extend((child, False) for child in children[pk])
                continue
            total = own.get(pk, _Own())
            for child in children[pk]:
                total = total + totals.get(child, _Own())
            totals[pk] = total
            target = by_id[pk]
            quantity = target.measure_quantity
            ended = today > target.period_end
            done[pk] = TargetProgress(
                target=target,
                actual=total.actual,
                secure=total.secure,
                at_risk=total.at_risk,
                after_period=total.after_period,
                shortfall=_shortfall(quantity, total, ended),
                status=_status(quantity, total, ended),
                percent_actual=_percent(total.actual, quantity),
                percent_projected=_percent(
                    total.actual + total.secure + total.at_risk, quantity
                ),
                completed_runs=total.completed_runs,
                active_runs=total.active_runs,
                children=tuple(
                    done[child]
                    for child in sorted(children[pk], key=lambda c: _order(by_id[c]))
                    if child in done
                ),
            )
    return {pk: done[pk] for pk in wanted}


# --- one target, explained ----------------------------------------------------------


def _subtree(item: TargetProgress) -> list[TargetProgress]:
    found, stack = [], [item]
    while stack:
        node = stack.pop()
        found.append(node)
        stack.extend(node.children)
    return found


def _quantity_text(value: Decimal) -> str:
    places = 0 if value == value.to_integral_value() else 2
    return formats.number_format(
        value, decimal_pos=places, use_l10n=True, force_grouping=True
    )


def _date_text(moment: dt.datetime | None, zone: ZoneInfo) -> str:
    if moment is None:
        return "—"
    return formats.date_format(moment.astimezone(zone).date(), "j M Y")


def _span(minutes: int, day_minutes: int) -> str:
    """Working time in words: "2 working days, 3 working hours"."""
    minutes = abs(int(minutes))
    days, rest = divmod(minutes, day_minutes) if day_minutes > 0 else (0, minutes)
    hours, rest = divmod(rest, 60)
    parts = []
    if days:
        parts.append(
            ngettext("%(count)d working day", "%(count)d working days", days)
            % {"count": days}
        )
    if hours:
        parts.append(
            ngettext("%(count)d working hour", "%(count)d working hours", hours)
            % {"count": hours}
        )
    if rest or not parts:
        parts.append(
            ngettext("%(count)d working minute", "%(count)d working minutes", rest)
            % {"count": rest}
        )
    return ", ".join(parts)


def _classify(run: Run, period_end: dt.datetime) -> str | None:
    """Why an unfinished run is listed (None: it is secure)."""
    finish = run.projected_finish_at or run.due_at
    if finish >= period_end:
        return REASON_AFTER_PERIOD
    if run.status == RunStatus.SUSPENDED:
        return REASON_SUSPENDED
    if run.schedule_status == ScheduleStatus.LATE:
        return REASON_LATE
    if run.schedule_status == ScheduleStatus.AT_RISK:
        return REASON_AT_RISK
    return None


def _risky_runs(
    access: Access, nodes: Sequence[TargetProgress], zone: ZoneInfo
) -> tuple[list[RunLine], dict[int, int]]:
    """The unfinished runs of the targets (those the caller may see) that are late,
    at risk, suspended or finish after their target's period, with their open
    obstacles (those the caller may see). Two queries at most."""
    ends = {node.target.pk: period_bounds(node.target, zone)[1] for node in nodes}
    runs = list(
        chains_queries.runs(access)
        .filter(
            target_id__in=list(ends),
            status__in=(RunStatus.ACTIVE, RunStatus.SUSPENDED),
        )
        .order_by("id")
    )
    listed: list[tuple[Run, str]] = []
    for run in runs:
        assert run.target_id is not None
        reason = _classify(run, ends[run.target_id])
        if reason is not None:
            listed.append((run, reason))
    if not listed:
        return [], {}
    obstacles: dict[int, list[ObstacleLine]] = defaultdict(list)
    for obstacle in (
        obstacle_queries.obstacles(access, status=ObstacleStatus.OPEN)
        .filter(run_id__in=[run.pk for run, _reason in listed])
        .order_by("-expected_delay_minutes", "raised_at", "id")
    ):
        obstacles[obstacle.run_id].append(
            ObstacleLine(
                obstacle.pk,
                obstacle.title,
                obstacle.severity,
                obstacle.expected_delay_minutes,
            )
        )
    lines = [
        RunLine(
            run_id=run.pk,
            title=run.title,
            procedure_name=run.procedure.name,
            status=run.status,
            schedule_status=run.schedule_status,
            quantity=run.measure_quantity,
            projected_finish_at=run.projected_finish_at,
            completed_at=run.completed_at,
            reason=reason,
            obstacles=tuple(obstacles.get(run.pk, ())),
        )
        for run, reason in listed
    ]
    lines.sort(
        key=lambda line: (
            REASONS.index(line.reason),
            line.projected_finish_at or dt.datetime.max.replace(tzinfo=dt.UTC),
            line.run_id,
        )
    )
    return lines, {run.pk: run.target_id for run, _reason in listed}  # type: ignore[misc]


def _explain(
    item: TargetProgress,
    lines: Sequence[RunLine],
    ends: dict[int, dt.date],
    run_targets: dict[int, int],
    zone: ZoneInfo,
    day_minutes: int,
    today: dt.date,
) -> tuple[str, ...]:
    """The sentences, in the design's order: runs late or at risk (with their open
    obstacles), suspended runs, runs finishing after the period, the shortfall."""
    unit = item.target.measure_unit
    sentences = []
    for line in lines:
        values = {
            "run": line.title,
            "quantity": _quantity_text(line.quantity),
            "unit": unit,
            "date": _date_text(line.projected_finish_at, zone),
        }
        if line.reason == REASON_LATE:
            text = (
                _(
                    "“%(run)s” is late: %(quantity)s %(unit)s at risk (projected "
                    "to finish on %(date)s)."
                )
                % values
            )
        elif line.reason == REASON_AT_RISK:
            text = (
                _(
                    "“%(run)s” is at risk of finishing late: %(quantity)s %(unit)s "
                    "at risk (projected to finish on %(date)s)."
                )
                % values
            )
        elif line.reason == REASON_SUSPENDED:
            text = (
                _("“%(run)s” is suspended: its %(quantity)s %(unit)s are at risk.")
                % values
            )
        else:
            end = ends[run_targets[line.run_id]]
            text = _(
                "“%(run)s” is projected to finish on %(date)s, after the period "
                "ends on %(end)s: its %(quantity)s %(unit)s do not count."
            ) % {**values, "end": formats.date_format(end, "j M Y")}
        if line.obstacles:
            listed = ", ".join(
                f"“{obstacle.title}” ({_span(obstacle.expected_delay_minutes, day_minutes)})"
                for obstacle in line.obstacles
            )
            text += " " + _("Open obstacles: %(obstacles)s.") % {"obstacles": listed}
        sentences.append(text)
    target = item.target
    if today > target.period_end:
        if item.actual < target.measure_quantity:
            sentences.append(
                _("The period ended %(quantity)s %(unit)s short of the target.")
                % {
                    "quantity": _quantity_text(target.measure_quantity - item.actual),
                    "unit": unit,
                }
            )
    elif item.shortfall > 0:
        sentences.append(
            _("Nothing under way covers the remaining %(quantity)s %(unit)s.")
            % {"quantity": _quantity_text(item.shortfall), "unit": unit}
        )
    return tuple(sentences)


def _visible_ids(access: Access) -> set[int] | None:
    """The targets a partner may see (None: every target of the organisation)."""
    if access.sees_whole_organisation:
        return None
    from rantai.insight import queries

    return set(queries.targets(access).values_list("pk", flat=True))


def _prune(
    item: TargetProgress, keep: set[int] | None, include_inactive: bool
) -> TargetProgress:
    """The item with only the children the caller sees (figures stay whole)."""
    children = tuple(
        _prune(child, keep, include_inactive)
        for child in item.children
        if (keep is None or child.target.pk in keep)
        and (include_inactive or child.target.is_active)
    )
    return item if children == item.children else replace(item, children=children)


def progress(
    access: Access, target: Target, *, now: dt.datetime | None = None
) -> TargetProgress:
    """One target's progress with its descendants, the runs that put it at risk or
    do not count (those the caller may see, with their open obstacles) and the
    explanation, in the reader's language. A bounded number of queries. The caller
    checks the target is visible (`insight.queries.target`); another
    organisation's is NotFound."""
    now = _now(now)
    organisation = access.organisation
    if target.organisation_id != organisation.pk:
        raise NotFound()
    zone = ZoneInfo(organisation.time_zone)
    item = roll_up(organisation, [target], now=now)[target.pk]
    nodes = _subtree(item)
    lines, run_targets = _risky_runs(access, nodes, zone)
    day_minutes = (
        projection.minutes_per_day(organisation)
        if any(line.obstacles for line in lines)
        else 0
    )
    explanation = _explain(
        item,
        lines,
        {node.target.pk: node.target.period_end for node in nodes},
        run_targets,
        zone,
        day_minutes,
        now.astimezone(zone).date(),
    )
    keep = _visible_ids(access)
    item = _prune(item, keep, include_inactive=True)
    return replace(item, risky_runs=tuple(lines), explanation=explanation)


def target_tree(
    access: Access, *, now: dt.datetime | None = None, include_inactive: bool = False
) -> list[TargetProgress]:
    """The targets the caller sees as a forest: each root (a visible target whose
    parent is not shown) with its shown descendants; figures always whole. Two
    queries (three for a partner)."""
    items = roll_up(access.organisation, None, now=now)
    keep = _visible_ids(access)
    shown = {
        pk
        for pk, item in items.items()
        if (keep is None or pk in keep) and (include_inactive or item.target.is_active)
    }
    roots = [
        items[pk]
        for pk in shown
        if items[pk].target.parent_id is None or items[pk].target.parent_id not in shown
    ]
    roots.sort(key=lambda item: _order(item.target))
    return [_prune(root, shown, include_inactive) for root in roots]
