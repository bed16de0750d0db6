"""Schedules by the critical path method: plain functions over plain data.

Everything is converted once to integer *working-minute offsets* on the calendar's
working timeline (0 = now, rounded up to the minute), the critical path method runs
on integers, and the results are mapped back to UTC datetimes. No Django here: the
services feed these functions from the database and the benchmarks and tests call
them directly.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from itertools import compress, repeat
from operator import add, eq, lt, sub
from typing import cast

from .calendar import (
    MICROSECONDS_PER_MINUTE,
    UTC,
    CalendarSpec,
    compiled_calendar,
    working_minutes_between,
)

__all__ = [
    "AT_RISK",
    "FINISH_TO_START",
    "LATE",
    "ON_TRACK",
    "START_TO_START",
    "DepInput",
    "Network",
    "OffsetPlan",
    "OffsetSchedule",
    "Schedule",
    "TaskInput",
    "TaskSchedule",
    "compute_schedule",
    "critical_path_offsets",
    "longest_remaining_paths",
    "plan_offsets",
    "schedule_status",
    "status_roles",
]

FINISH_TO_START = "finish_to_start"
START_TO_START = "start_to_start"

ON_TRACK = "on_track"
AT_RISK = "at_risk"
LATE = "late"

# How each task status takes part in the schedule.
ROLE_WAITING = 0  # pending, ready: estimated, starts no earlier than now (+ hold)
ROLE_STARTED = 1  # in progress, awaiting: actual start, estimated finish (>= now)
ROLE_DONE = 2  # actual start and finish
ROLE_PASSED = 3  # skipped, cancelled: zero time, when its predecessors allow
_WAITING = ROLE_WAITING
_STARTED = ROLE_STARTED
_DONE = ROLE_DONE
_PASSED = ROLE_PASSED
_STATUS_ROLES = {
    "pending": _WAITING,
    "ready": _WAITING,
    "in_progress": _STARTED,
    "awaiting": _STARTED,
    "done": _DONE,
    "skipped": _PASSED,
    "cancelled": _PASSED,
}


@dataclass(frozen=True, slots=True)
class TaskInput:
    """A task as the scheduler sees it (estimate in working minutes, actuals).

    ``delay_minutes`` is the expected delay of the open obstacles on the task: an
    unfinished task's estimate is ``duration_minutes + delay_minutes``."""

    id: int
    duration_minutes: int
    status: str
    started_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    delay_minutes: int = 0


@dataclass(frozen=True, slots=True)
class DepInput:
    """``successor`` may start ``lag_minutes`` working minutes after ``predecessor``
    finishes (finish_to_start) or starts (start_to_start)."""

    predecessor: int
    successor: int
    kind: str = FINISH_TO_START
    lag_minutes: int = 0


@dataclass(frozen=True, slots=True)
class TaskSchedule:
    """A task's place in the schedule (UTC); slack in working minutes."""

    earliest_start: dt.datetime
    earliest_finish: dt.datetime
    latest_start: dt.datetime
    latest_finish: dt.datetime
    slack_minutes: int
    critical: bool


@dataclass(frozen=True, slots=True)
class Schedule:
    """A run's schedule: per task, the critical path (task ids in order), the
    projected finish and the status against the due date (``on_track``,
    ``at_risk`` or ``late``)."""

    tasks: dict[int, TaskSchedule]
    critical_path: list[int]
    projected_finish: dt.datetime
    status: str


@dataclass(frozen=True, slots=True)
class OffsetSchedule:
    """The critical path method in working-minute offsets (every task from 0)."""

    earliest_start: dict[int, int]
    earliest_finish: dict[int, int]
    latest_start: dict[int, int]
    latest_finish: dict[int, int]
    critical_path: list[int]
    finish: int


# -- the graph ------------------------------------------------------------------

_KINDS = frozenset({FINISH_TO_START, START_TO_START})

# The dependencies as columns: dependency ``e`` runs from task ``heads[e]`` to task
# ``tails[e]`` (indexes into the task list), of kind ``kinds[e]``, with a lag of
# ``lags[e]`` working minutes.
_Columns = tuple[list[int], list[int], list[str], list[int]]


class _Graph:
    """Tasks by index and their dependencies as columns.

    Built column by column with comprehensions (which CPython runs faster than
    ``map`` over ``attrgetter``); the rest of the Python work per dependency is one
    short loop in each pass.
    """

    __slots__ = ("heads", "ids", "kinds", "lags", "tails")

    def __init__(self, ids: Sequence[int], dependencies: Iterable[DepInput]) -> None:
        self.ids = list(ids)
        index = self.index()
        deps = dependencies if isinstance(dependencies, list) else list(dependencies)
        try:
            heads = [index[dep.predecessor] for dep in deps]
            tails = [index[dep.successor] for dep in deps]
        except KeyError as error:
            raise ValueError(f"dependency on unknown task {error.args[0]}") from None
        kinds = [dep.kind for dep in deps]
        unknown = set(kinds) - _KINDS
        if unknown:
            raise ValueError(f"unknown dependency kind {min(map(str, unknown))!r}")
        lags = [dep.lag_minutes for dep in deps]
        if lags and min(lags) < 0:
            bad = deps[lags.index(min(lags))]
            raise ValueError(
                f"dependency {bad.predecessor} -> {bad.successor} has a negative lag"
            )
        self.heads = heads
        self.tails = tails
        self.kinds = kinds
        self.lags = lags

    @classmethod
    def from_columns(
        cls,
        ids: Sequence[int],
        predecessors: Sequence[int],
        successors: Sequence[int],
        kinds: Sequence[str],
        lags: Sequence[int],
    ) -> _Graph:
        """The graph from dependency columns (as read from the database), without
        a ``DepInput`` per dependency."""
        graph = cls.__new__(cls)
        graph.ids = list(ids)
        index = graph.index()
        try:
            graph.heads = list(map(index.__getitem__, predecessors))
            graph.tails = list(map(index.__getitem__, successors))
        except KeyError as error:
            raise ValueError(f"dependency on unknown task {error.args[0]}") from None
        graph.kinds = list(kinds)
        unknown = set(graph.kinds) - _KINDS
        if unknown:
            raise ValueError(f"unknown dependency kind {min(map(str, unknown))!r}")
        graph.lags = list(lags)
        if graph.lags and min(graph.lags) < 0:
            raise ValueError("a dependency has a negative lag")
        return graph

    def index(self) -> dict[int, int]:
        """Task id → place in the list; refuses an id listed twice."""
        count = len(self.ids)
        index = dict(zip(self.ids, range(count), strict=True))
        if len(index) != count:
            seen: set[int] = set()
            for task_id in self.ids:
                if task_id in seen:
                    raise ValueError(f"task {task_id} is listed twice")
                seen.add(task_id)
        return index

    def in_topological_order(self) -> _Columns:
        """The dependency columns sorted by the place of their predecessor in a
        topological order; raises naming a cycle when there is one.

        A single loop over the dependencies in this order is then a forward pass
        (every dependency into a task comes before those out of it), and a loop in
        the reverse order a backward pass.
        """
        heads, tails, kinds, lags = self.heads, self.tails, self.kinds, self.lags
        # Tasks usually come in procedure order, and their dependencies step by
        # step: when every dependency points forward in the given order, that
        # order is already topological.
        if all(map(lt, heads, tails)):
            if heads == sorted(heads):
                return heads, tails, kinds, lags
            by_place = sorted(range(len(heads)), key=heads.__getitem__)
        else:
            by_place = self.kahn()
        return (
            [heads[e] for e in by_place],
            [tails[e] for e in by_place],
            [kinds[e] for e in by_place],
            [lags[e] for e in by_place],
        )

    def kahn(self) -> list[int]:
        """Kahn's algorithm: the dependencies in the topological order of their
        predecessors."""
        count = len(self.ids)
        tails = self.tails
        outgoing: list[list[int]] = [[] for _ in range(count)]
        for dependency, head in enumerate(self.heads):
            outgoing[head].append(dependency)
        waiting = [0] * count  # per task, the number of its predecessors
        for tail in tails:
            waiting[tail] += 1
        order = [position for position, left in enumerate(waiting) if left == 0]
        in_order: list[int] = []
        for position in order:  # grows while being read
            dependencies = outgoing[position]
            in_order += dependencies
            for dependency in dependencies:
                successor = tails[dependency]
                left = waiting[successor] - 1
                waiting[successor] = left
                if left == 0:
                    order.append(successor)
        if len(order) != count:
            raise self.cycle_error(waiting)
        return in_order

    def cycle_error(self, waiting: list[int]) -> ValueError:
        # Every task still waiting has a predecessor still waiting: walk backwards
        # from the lowest such id until a task repeats.
        ids = self.ids
        stuck = {position for position, left in enumerate(waiting) if left > 0}
        predecessors: dict[int, list[int]] = {position: [] for position in stuck}
        for head, tail in zip(self.heads, self.tails, strict=True):
            if head in stuck and tail in stuck:
                predecessors[tail].append(head)
        current = min(stuck, key=ids.__getitem__)
        walked: list[int] = []
        seen: dict[int, int] = {}
        while current not in seen:
            seen[current] = len(walked)
            walked.append(current)
            current = min(predecessors[current], key=ids.__getitem__)
        loop = walked[seen[current] :]
        loop.reverse()  # walked against the arrows; name it along them
        first = loop.index(min(loop, key=ids.__getitem__))
        loop = loop[first:] + loop[:first]
        names = [str(ids[position]) for position in loop]
        names.append(names[0])
        return ValueError("dependency cycle: " + " -> ".join(names))


# -- the critical path method on offsets ------------------------------------------


def _weights(
    spans: list[int], heads: list[int], kinds: list[str], lags: list[int]
) -> list[int]:
    """Per dependency, the least time from its predecessor's start to its
    successor's: the lag, after the predecessor's span when finish-to-start."""
    return [
        lag + spans[head] if kind == FINISH_TO_START else lag
        for head, kind, lag in zip(heads, kinds, lags, strict=True)
    ]


class _Passes:
    """Forward and backward passes over working-minute offsets.

    Each task lasts ``spans[p]`` from its start to its finish, so a dependency holds
    its successor's start at least ``weight`` after its predecessor's start: the
    lag, plus the predecessor's span when finish-to-start. The forward pass is
    then one loop over the dependencies in topological order, the backward pass
    the same loop in reverse.

    ``starts`` are the earliest each task may start; a ``fixed`` task (one that
    has started) starts there whatever its predecessors, and so does not constrain
    them either.
    """

    __slots__ = (
        "binding",
        "earliest_finish",
        "earliest_start",
        "finish",
        "fixed",
        "latest_finish",
        "latest_start",
        "sink",
    )

    def __init__(
        self,
        graph: _Graph,
        spans: list[int],
        starts: list[int],
        fixed: list[bool] | None = None,
    ) -> None:
        heads, tails, kinds, lags = graph.in_topological_order()
        if fixed is not None and any(fixed):
            # Dependencies into a fixed task move nothing, either way.
            moves = [not fixed[tail] for tail in tails]
            heads = list(compress(heads, moves))
            tails = list(compress(tails, moves))
            kinds = list(compress(kinds, moves))
            lags = list(compress(lags, moves))
        weights = _weights(spans, heads, kinds, lags)

        # The forward pass also remembers which predecessor set each start (the
        # lowest id on a tie), which gives the critical path without another
        # walk over the dependencies.
        ids = graph.ids
        count = len(ids)
        earliest_start = list(starts)
        binding = [-1] * count
        for head, tail, weight in zip(heads, tails, weights, strict=True):
            bound = earliest_start[head] + weight
            current = earliest_start[tail]
            if bound > current:
                earliest_start[tail] = bound
                binding[tail] = head
            elif bound == current and (
                binding[tail] < 0 or ids[head] < ids[binding[tail]]
            ):
                binding[tail] = head
        earliest_finish = list(map(add, earliest_start, spans))

        # The project finishes with its latest finish; ties go to the lowest id.
        sink = -1
        finish = 0
        if count:
            finish = max(earliest_finish)
            if earliest_finish.count(finish) == 1:
                sink = earliest_finish.index(finish)
            else:
                sink = min(
                    compress(range(count), map(eq, earliest_finish, repeat(finish))),
                    key=ids.__getitem__,
                )

        latest_start = list(map(sub, repeat(finish), spans))
        for head, tail, weight in zip(
            reversed(heads), reversed(tails), reversed(weights), strict=True
        ):
            bound = latest_start[tail] - weight
            if bound < latest_start[head]:
                latest_start[head] = bound

        self.earliest_start = earliest_start
        self.earliest_finish = earliest_finish
        self.latest_start = latest_start
        self.latest_finish = list(map(add, latest_start, spans))
        self.binding = binding
        self.finish = finish
        self.sink = sink
        self.fixed = fixed

    def critical_chain(self, sink: int | None = None) -> list[int]:
        """The chain of binding dependencies that ends in the projected finish.

        Walks back from the task that finishes last (``sink``; by default the
        lowest id among those with the latest finish) along the predecessor that
        set each start (the lowest id on a tie, a predecessor before ``now``),
        until a start was set by ``now`` or by an actual start.
        """
        position = self.sink if sink is None else sink
        if position < 0:
            return []
        binding = self.binding
        fixed = self.fixed
        chain = [position]
        while fixed is None or not fixed[position]:
            position = binding[position]
            if position < 0:
                break
            chain.append(position)
        chain.reverse()
        return chain


# -- a run's tasks as offsets ------------------------------------------------------


def status_roles(ids: Sequence[int], statuses: Sequence[str]) -> list[int]:
    """Per task, how its status takes part in the schedule (``ROLE_WAITING``,
    ``ROLE_STARTED``, ``ROLE_DONE`` or ``ROLE_PASSED``)."""
    roles = list(map(_STATUS_ROLES.get, statuses))
    if None in roles:
        position = roles.index(None)
        raise ValueError(
            f"task {ids[position]} has an unknown status {statuses[position]!r}"
        )
    return cast(list[int], roles)


@dataclass(frozen=True, slots=True)
class OffsetPlan:
    """Every task from its start to its finish in working-minute offsets, as the
    critical path method takes them: the earliest each may start, how long it
    lasts, and whether it has started (its start is then a fact)."""

    starts: list[int]
    spans: list[int]
    fixed: list[bool]


def plan_offsets(
    roles: Sequence[int],
    estimates: Sequence[int],
    actual_starts: Mapping[int, int],
    actual_finishes: Mapping[int, int],
    *,
    origin: int = 0,
    hold_minutes: int = 0,
) -> OffsetPlan:
    """The tasks (by position) as offsets from now, the rule every schedule shares:

    - waiting (pending, ready): its estimate, starting no earlier than
      ``hold_minutes`` (the run's hold: 0 without open obstacles on the run);
    - started (in progress, awaiting): fixed at its actual start
      (``actual_starts``), finishing at ``max(now, start + estimate)`` plus the hold;
    - done: fixed at its actual start and finish (a done task missing from
      ``actual_starts`` sits at ``origin`` taking no time: the caller knows its
      times cannot matter);
    - passed (skipped, cancelled): no time, from ``origin`` (the earliest actual
      start, or now) at the earliest.

    ``estimates`` are in working minutes: the duration plus the expected delay of
    an unfinished task.
    """
    if hold_minutes < 0:
        raise ValueError("hold_minutes must not be negative")
    count = len(roles)
    if hold_minutes == origin:
        starts = [origin] * count
    else:
        starts = [hold_minutes if role == _WAITING else origin for role in roles]
    spans = [
        estimate if role == _WAITING else 0
        for estimate, role in zip(estimates, roles, strict=True)
    ]
    fixed = [False] * count
    for position in compress(range(count), map(lt, repeat(_WAITING), roles)):
        role = roles[position]
        if role == _STARTED:
            start = actual_starts[position]
            starts[position] = start
            # It finishes its estimate, but not before now; the hold comes on top.
            spans[position] = max(0, start + estimates[position]) + hold_minutes - start
            fixed[position] = True
        elif role == _DONE:
            start = actual_starts.get(position, origin)
            starts[position] = start
            spans[position] = actual_finishes.get(position, start) - start
            fixed[position] = True
    return OffsetPlan(starts, spans, fixed)


class Network:
    """A run's dependencies prepared once for several forward passes of the
    critical path method (what-if questions compare two plans of one run).

    ``fixed`` marks the tasks that have started: dependencies into them move
    nothing, so they are left out here once.
    """

    __slots__ = ("heads", "kinds", "lags", "tails")

    def __init__(
        self,
        ids: Sequence[int],
        predecessors: Sequence[int],
        successors: Sequence[int],
        kinds: Sequence[str],
        lags: Sequence[int],
        *,
        fixed: Sequence[bool] | None = None,
    ) -> None:
        graph = _Graph.from_columns(ids, predecessors, successors, kinds, lags)
        heads, tails, kinds_, lags_ = graph.in_topological_order()
        if fixed is not None and any(fixed):
            moves = [not fixed[tail] for tail in tails]
            heads = list(compress(heads, moves))
            tails = list(compress(tails, moves))
            kinds_ = list(compress(kinds_, moves))
            lags_ = list(compress(lags_, moves))
        self.heads = heads
        self.tails = tails
        self.kinds = kinds_
        self.lags = lags_

    def earliest_finishes(self, plan: OffsetPlan) -> list[int]:
        """The forward pass: per task (by position), its earliest finish offset."""
        earliest_start = list(plan.starts)
        spans = plan.spans
        for head, tail, weight in zip(
            self.heads,
            self.tails,
            _weights(spans, self.heads, self.kinds, self.lags),
            strict=True,
        ):
            bound = earliest_start[head] + weight
            if bound > earliest_start[tail]:
                earliest_start[tail] = bound
        return list(map(add, earliest_start, spans))


def schedule_status(
    calendar: CalendarSpec,
    projected_finish: dt.datetime,
    due_at: dt.datetime | None,
    *,
    unfinished: bool,
    at_risk_slack_minutes: int | None = None,
) -> str:
    """The status against the due date: late when the projected finish is after
    it, at risk when fewer than ``at_risk_slack_minutes`` working minutes (default:
    one working day) are left while work is unfinished, on track otherwise or
    without a due date."""
    if due_at is None:
        return ON_TRACK
    if projected_finish > due_at:
        return LATE
    if unfinished:
        threshold = (
            compiled_calendar(calendar).minutes_per_day
            if at_risk_slack_minutes is None
            else at_risk_slack_minutes
        )
        if working_minutes_between(calendar, projected_finish, due_at) < threshold:
            return AT_RISK
    return ON_TRACK


def _duration_list(
    ids: list[int], durations: Mapping[int, int], noun: str
) -> list[int]:
    """``durations`` in the order of ``ids``, refusing missing and negative ones."""
    try:
        minutes = list(map(durations.__getitem__, ids))
    except KeyError as error:
        raise ValueError(f"no duration for {noun} {error.args[0]}") from None
    if minutes and min(minutes) < 0:
        negative = ids[minutes.index(min(minutes))]
        raise ValueError(f"{noun} {negative} has a negative duration")
    return minutes


def critical_path_offsets(
    durations: Mapping[int, int], dependencies: Iterable[DepInput]
) -> OffsetSchedule:
    """The critical path method on offsets: every task waiting, the project at 0.

    The core of ``compute_schedule`` without calendar or actuals; what the
    benchmark compares with networkx.
    """
    graph = _Graph(list(durations), dependencies)
    ids = graph.ids
    minutes = _duration_list(ids, durations, "task")
    passes = _Passes(graph, minutes, [0] * len(ids))
    return OffsetSchedule(
        earliest_start=dict(zip(ids, passes.earliest_start, strict=True)),
        earliest_finish=dict(zip(ids, passes.earliest_finish, strict=True)),
        latest_start=dict(zip(ids, passes.latest_start, strict=True)),
        latest_finish=dict(zip(ids, passes.latest_finish, strict=True)),
        critical_path=[ids[p] for p in passes.critical_chain()],
        finish=passes.finish,
    )


def longest_remaining_paths(
    steps: Sequence[int],
    dependencies: Iterable[DepInput],
    durations: Mapping[int, int],
) -> dict[int, int]:
    """Per step, the working minutes from its start to the end of the procedure
    when everything after it runs as early as possible (finish-to-start and
    start-to-start links and their lags included).

    It depends on the procedure version only, so it is computed once per version.
    A run's finish can then be projected after each completion from the tasks in
    flight ``F`` (ready or started) without a full schedule::

        finish(t) = max(now, start(t) + duration[t])   # start(t) = now if ready
        projected = max(finish(t) + remaining[t] - duration[t] for t in F)

    in working minutes (``add_working_minutes`` turns it into a datetime). It
    leaves out lags still running after done tasks and tasks not yet in flight
    for other reasons; ``compute_schedule`` is exact.
    """
    graph = _Graph(steps, dependencies)
    ids = graph.ids
    minutes = _duration_list(ids, durations, "step")
    heads, tails, kinds, lags = graph.in_topological_order()
    weights = _weights(minutes, heads, kinds, lags)
    remaining = list(minutes)
    for head, tail, weight in zip(
        reversed(heads), reversed(tails), reversed(weights), strict=True
    ):
        through = remaining[tail] + weight
        if through > remaining[head]:
            remaining[head] = through
    return dict(zip(ids, remaining, strict=True))


# -- the schedule of a run ---------------------------------------------------------


def compute_schedule(
    tasks: list[TaskInput],
    dependencies: list[DepInput],
    calendar: CalendarSpec,
    now: dt.datetime,
    due_at: dt.datetime | None,
    *,
    at_risk_slack_minutes: int | None = None,
    hold_minutes: int = 0,
) -> Schedule:
    """The schedule of a run: actuals for what is finished, estimates for the rest.

    - done: its actual start and finish (a done task never started starts at its
      finish);
    - in progress / awaiting: its actual start, finishing at
      ``max(now, start + estimate)`` in working time, ``hold_minutes`` later;
    - pending / ready: as early as its dependencies allow, never before ``now``
      plus ``hold_minutes``;
    - skipped / cancelled: zero time, at the moment its predecessors allow (without
      predecessors, at the earliest moment of the schedule).

    An unfinished task's estimate is its duration plus its expected delay
    (``TaskInput.delay_minutes``); ``hold_minutes`` is the run's hold (the expected
    delay of the open obstacles on the run as a whole).

    Slack is measured against the projected finish; the status compares the
    projected finish with ``due_at``: late when after it, at risk when fewer than
    ``at_risk_slack_minutes`` working minutes (default: one working day) are left,
    on track otherwise or without a due date. A run whose tasks are all finished is
    never "at risk".
    """
    _require_aware(now, "now")
    if due_at is not None:
        _require_aware(due_at, "due_at")
    if at_risk_slack_minutes is not None and at_risk_slack_minutes < 0:
        raise ValueError("at_risk_slack_minutes must not be negative")
    if hold_minutes < 0:
        raise ValueError("hold_minutes must not be negative")
    compiled = compiled_calendar(calendar)
    now = now.astimezone(UTC)
    # Offsets are whole working minutes from ``now`` rounded up, so no estimate can
    # start before now; actual moments round up too (never before the fact).
    base = -(-compiled.position(now) // MICROSECONDS_PER_MINUTE)

    def offset(moment: dt.datetime) -> int:
        return -(-compiled.position(moment) // MICROSECONDS_PER_MINUTE) - base

    def moments(*offsets: list[int], finish: bool) -> list[list[dt.datetime]]:
        # Each distinct offset converted once: tasks share few starts and
        # finishes (parallel steps start together; without slack, a task's
        # earliest and latest figures are the same).
        distinct = list(set().union(*offsets))
        at = compiled.moments_at_offsets(distinct, base, finish=finish)
        moment_at = dict(zip(distinct, at, strict=True))
        return [[moment_at[minute] for minute in some] for some in offsets]

    ids = [task.id for task in tasks]
    roles = status_roles(ids, [task.status for task in tasks])
    durations = [task.duration_minutes for task in tasks]
    if durations and min(durations) < 0:
        negative = ids[durations.index(min(durations))]
        raise ValueError(f"task {negative} has a negative duration")
    delays = [task.delay_minutes for task in tasks]
    if delays and min(delays) < 0:
        negative = ids[delays.index(min(delays))]
        raise ValueError(f"task {negative} has a negative delay")
    # An unfinished task's estimate includes its expected delay.
    estimates = [
        duration + delay if role <= _STARTED else duration
        for duration, delay, role in zip(durations, delays, roles, strict=True)
    ]
    count = len(tasks)
    exact_starts: dict[int, dt.datetime] = {}  # by position
    exact_finishes: dict[int, dt.datetime] = {}
    actual_starts: dict[int, int] = {}
    actual_finishes: dict[int, int] = {}
    actual_positions = [p for p, role in enumerate(roles) if role in (_STARTED, _DONE)]
    for position in actual_positions:
        task = tasks[position]
        if roles[position] == _DONE:
            if task.done_at is None:
                raise ValueError(f"task {task.id} is done but has no done_at")
            _require_aware(task.done_at, f"task {task.id}'s done_at")
            finished = task.done_at.astimezone(UTC)
            started = finished
            if task.started_at is not None:
                _require_aware(task.started_at, f"task {task.id}'s started_at")
                started = task.started_at.astimezone(UTC)
                if started > finished:
                    raise ValueError(f"task {task.id} is done before it started")
            exact_finishes[position] = finished
            actual_finishes[position] = offset(finished)
        else:
            if task.started_at is None:
                raise ValueError(
                    f"task {task.id} is {task.status} but has no started_at"
                )
            _require_aware(task.started_at, f"task {task.id}'s started_at")
            started = task.started_at.astimezone(UTC)
        exact_starts[position] = started
        actual_starts[position] = offset(started)
    plan = plan_offsets(
        roles,
        estimates,
        actual_starts,
        actual_finishes,
        origin=min(0, *actual_starts.values()) if actual_starts else 0,
        hold_minutes=hold_minutes,
    )
    starts, spans, fixed = plan.starts, plan.spans, plan.fixed

    graph = _Graph(ids, dependencies)
    passes = _Passes(graph, spans, starts, fixed)
    earliest_start = passes.earliest_start
    earliest_finish = passes.earliest_finish
    latest_start = passes.latest_start
    latest_finish = passes.latest_finish
    # Starts read a day boundary as the next morning, finishes as that evening.
    earliest_start_at, latest_start_at = moments(
        earliest_start, latest_start, finish=False
    )
    earliest_finish_at, latest_finish_at = moments(
        earliest_finish, latest_finish, finish=True
    )
    slacks = list(map(sub, latest_start, earliest_start))
    for position in actual_positions:
        started = exact_starts[position]
        if roles[position] == _DONE:
            finished = exact_finishes[position]
            earliest_start_at[position] = latest_start_at[position] = started
            earliest_finish_at[position] = latest_finish_at[position] = finished
            slacks[position] = 0
        else:
            # It has started: its start can no longer move; its slack is how
            # much later it may still finish.
            earliest_start_at[position] = latest_start_at[position] = started
            earliest_finish_at[position] = max(started, earliest_finish_at[position])
            latest_finish_at[position] = max(started, latest_finish_at[position])
            slacks[position] = latest_finish[position] - earliest_finish[position]
    # Work of no duration (and a passed task) at a day boundary happens at the
    # end of the earlier day, like the work that leads to it.
    for position in compress(range(count), map(eq, earliest_finish, earliest_start)):
        if roles[position] in (_WAITING, _PASSED):
            earliest_start_at[position] = earliest_finish_at[position]
    for position in compress(range(count), map(eq, latest_finish, latest_start)):
        if roles[position] in (_WAITING, _PASSED):
            latest_start_at[position] = latest_finish_at[position]

    # The run ends when its last task does (compared as datetimes, so actuals
    # outside working time count exactly); the critical path ends there too.
    projected_finish = max(earliest_finish_at, default=now)
    if earliest_finish_at.count(projected_finish) == 1:
        sink = earliest_finish_at.index(projected_finish)
    else:  # a tie (or no task at all): the lowest id
        sink = min(
            compress(
                range(count), map(eq, earliest_finish_at, repeat(projected_finish))
            ),
            key=ids.__getitem__,
            default=-1,
        )
    chain = passes.critical_chain(sink)
    critical = [False] * count
    for position in chain:
        critical[position] = True
    schedules = dict(
        zip(
            ids,
            map(
                TaskSchedule,
                earliest_start_at,
                earliest_finish_at,
                latest_start_at,
                latest_finish_at,
                slacks,
                critical,
            ),
            strict=True,
        )
    )

    status = schedule_status(
        calendar,
        projected_finish,
        due_at,
        unfinished=_WAITING in roles or _STARTED in roles,
        at_risk_slack_minutes=at_risk_slack_minutes,
    )
    return Schedule(
        tasks=schedules,
        critical_path=[ids[p] for p in chain],
        projected_finish=projected_finish,
        status=status,
    )


def _require_aware(moment: dt.datetime, name: str) -> None:
    if moment.tzinfo is None or moment.utcoffset() is None:
        raise ValueError(f"{name} must be a timezone-aware datetime")
