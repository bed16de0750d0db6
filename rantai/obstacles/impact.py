"""What an obstacle would do to a run's target, before anything is saved (what-if).

An obstacle's expected delay lengthens the estimate of its task (or holds the whole
run): `impact_of` runs the critical path method twice in working-minute offsets —
as the run stands (its open obstacles' delays included) and with the extra delay —
and reports the unfinished tasks that move, by how much and to when, the projected
finish before and after, and the status against the due date before and after.
Only the moved tasks' finishes become datetimes, so a run of ten thousand tasks is
answered in milliseconds. `what_if` reads the run in three plain statements (the
run with its calendar, its tasks, its dependencies) and calls `impact_of`.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from itertools import compress
from operator import ne
from typing import Any, NamedTuple

from django.utils import timezone

from rantai.accounts.models import Organisation
from rantai.chains import projection
from rantai.chains.calendar import (
    MICROSECONDS_PER_MINUTE,
    CalendarSpec,
    compiled_calendar,
)
from rantai.chains.models import Run, Task, TaskDependency, TaskStatus, WorkingCalendar
from rantai.chains.scheduling import (
    AT_RISK,
    LATE,
    ON_TRACK,
    ROLE_DONE,
    ROLE_STARTED,
    Network,
    plan_offsets,
    schedule_status,
    status_roles,
)
from rantai.core import sql

__all__ = [
    "DependencyRow",
    "Impact",
    "MovedTask",
    "TaskRow",
    "impact_of",
    "what_if",
]

_STATUS_RANK = {ON_TRACK: 0, AT_RISK: 1, LATE: 2}


class TaskRow(NamedTuple):
    """A task of the run as `impact_of` reads it.

    ``status`` is the task's status, except that a pending task marked to be
    skipped when reached counts as skipped. ``started_at`` and ``done_at`` are as
    read from the database (aware datetimes, or the UTC text SQLite hands back)
    and are turned into datetimes only where the schedule needs them.
    """

    id: int
    key: str
    name: str
    status: str
    duration_minutes: int
    delay_minutes: int
    started_at: Any
    done_at: Any
    party_id: int | None  # the responsible party
    position_id: int | None  # the responsible position


class DependencyRow(NamedTuple):
    predecessor_id: int
    successor_id: int
    kind: str
    lag_minutes: int


@dataclass(frozen=True, slots=True)
class MovedTask:
    """An unfinished task the delay moves: by how many working minutes its finish
    moves and from when to when; who is responsible for it."""

    task_id: int
    name: str
    key: str
    shift_minutes: int
    finish_before: dt.datetime
    finish_after: dt.datetime
    party_id: int | None
    position_id: int | None

    def as_json(self) -> dict[str, Any]:
        return {
            "task_id": self.task_id,
            "name": self.name,
            "key": self.key,
            "shift_minutes": self.shift_minutes,
            "finish_before": self.finish_before.isoformat(),
            "finish_after": self.finish_after.isoformat(),
            "party_id": self.party_id,
            "position_id": self.position_id,
        }


@dataclass(frozen=True, slots=True)
class Impact:
    """What a delay of ``delay_minutes`` working minutes does to the run: the tasks
    it moves (in task order), the projected finish and the status against the due
    date (``on_track``, ``at_risk``, ``late``) before and after."""

    delay_minutes: int
    moved: list[MovedTask]
    finish_before: dt.datetime
    finish_after: dt.datetime
    due_at: dt.datetime
    status_before: str
    status_after: str

    @property
    def puts_target_at_risk(self) -> bool:
        """The status against the due date gets worse."""
        return _STATUS_RANK[self.status_after] > _STATUS_RANK[self.status_before]

    @property
    def shift_minutes(self) -> int:
        """Working minutes the moved tasks move at most (0: nothing moves)."""
        return max((moved.shift_minutes for moved in self.moved), default=0)

    def as_json(self) -> dict[str, Any]:
        """The impact as stored on the obstacle (`Obstacle.impact`)."""
        return {
            "delay_minutes": self.delay_minutes,
            "moved": [moved.as_json() for moved in self.moved],
            "finish_before": self.finish_before.isoformat(),
            "finish_after": self.finish_after.isoformat(),
            "due_at": self.due_at.isoformat(),
            "status_before": self.status_before,
            "status_after": self.status_after,
            "puts_target_at_risk": self.puts_target_at_risk,
        }

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> Impact:
        """An impact stored by `as_json`, back."""
        moment = dt.datetime.fromisoformat
        return cls(
            delay_minutes=data["delay_minutes"],
            moved=[
                MovedTask(
                    task_id=moved["task_id"],
                    name=moved["name"],
                    key=moved["key"],
                    shift_minutes=moved["shift_minutes"],
                    finish_before=moment(moved["finish_before"]),
                    finish_after=moment(moved["finish_after"]),
                    party_id=moved["party_id"],
                    position_id=moved["position_id"],
                )
                for moved in data["moved"]
            ],
            finish_before=moment(data["finish_before"]),
            finish_after=moment(data["finish_after"]),
            due_at=moment(data["due_at"]),
            status_before=data["status_before"],
            status_after=data["status_after"],
        )


def _aware(value: Any) -> dt.datetime | None:
    if value is None:
        return None
    if not isinstance(value, dt.datetime) or value.utcoffset() is None:
        raise ValueError("task times must be timezone-aware datetimes")
    return value


# --- the pure part ---------------------------------------------------------------------


def impact_of(
    tasks: Sequence[TaskRow],
    dependencies: Sequence[DependencyRow],
    *,
    calendar: CalendarSpec,
    now: dt.datetime,
    due_at: dt.datetime,
    hold_minutes: int,
    task_id: int | None,
    delay_minutes: int,
    earliest_start: Any = None,
    last_finish: Any = None,
    parse: Callable[[Any], dt.datetime | None] = _aware,
) -> Impact:
    """The impact of ``delay_minutes`` more on task ``task_id`` (None: on the run
    as a whole, on top of its hold of ``hold_minutes``).

    The schedule is the one every schedule of the run follows
    (`scheduling.compute_schedule`): an unfinished task's estimate is its duration
    plus its expected delay, waiting tasks start no earlier than now plus the
    run's hold, started tasks finish the hold later, done and skipped tasks stay
    where they are.

    ``tasks`` may leave out the done tasks that no unfinished or skipped task
    directly follows (nothing they did can move anything); then
    ``earliest_start`` (the earliest actual start of the run, where skipped tasks
    without predecessors sit) and ``last_finish`` (its latest actual finish, the
    run's finish when nothing is left to do) say what they would have. Times are
    as read: ``parse`` turns one into an aware datetime, and is called only for
    the started tasks, the done tasks that hold back a task still to start, and
    the two figures. A delay that would leave a negative delay or hold, or a task
    not in ``tasks``, is a ValueError.
    """
    if timezone.is_naive(now):
        raise ValueError("now must be a timezone-aware datetime")
    columns = list(zip(*tasks, strict=True)) or [()] * len(TaskRow._fields)
    (
        ids,
        keys,
        names,
        statuses,
        durations,
        delays,
        started,
        done,
        parties,
        positions,
    ) = columns
    roles = status_roles(ids, statuses)
    count = len(ids)
    # Waiting and started tasks are the unfinished ones (ROLE_WAITING is 0).
    unfinished = [role <= ROLE_STARTED for role in roles]
    estimates = [
        duration + delay if open_ else duration
        for duration, delay, open_ in zip(durations, delays, unfinished, strict=True)
    ]
    fixed = [role in (ROLE_STARTED, ROLE_DONE) for role in roles]
    if dependencies:
        predecessors, successors, kinds, lags = zip(*dependencies, strict=True)
    else:
        predecessors = successors = kinds = lags = ()
    network = Network(ids, predecessors, successors, kinds, lags, fixed=fixed)

    target = -1
    if task_id is not None:
        try:
            target = ids.index(task_id)
        except ValueError:
            raise ValueError(f"task {task_id} is not a task of this run") from None
        if delays[target] + delay_minutes < 0:
            raise ValueError("the task's expected delay cannot become negative")
    elif hold_minutes + delay_minutes < 0:
        raise ValueError("the run's hold cannot become negative")

    # The actual times that matter, in offsets: the starts of the started tasks,
    # the times of the done tasks that hold back a task still to start (every
    # dependency left in the network leads into one), and the earliest start of
    # all (where skipped tasks without predecessors sit).
    compiled = compiled_calendar(calendar)
    base = -(-compiled.position(now) // MICROSECONDS_PER_MINUTE)

    def offset(value: Any) -> int:
        moment = parse(value)
        if moment is None:
            raise ValueError("a task time is missing")
        return -(-compiled.position(moment) // MICROSECONDS_PER_MINUTE) - base

    actual_starts: dict[int, int] = {}
    actual_finishes: dict[int, int] = {}
    for position in compress(range(count), fixed):
        if roles[position] == ROLE_STARTED:
            if started[position] is None:
                raise ValueError(f"task {ids[position]} has started but has no start")
            actual_starts[position] = offset(started[position])
    for position in set(network.heads):
        if roles[position] == ROLE_DONE:
            if done[position] is None:
                raise ValueError(f"task {ids[position]} is done but has no done_at")
            finish = offset(done[position])
            actual_finishes[position] = finish
            begun = started[position]
            actual_starts[position] = finish if begun is None else offset(begun)
    if earliest_start is None:
        # done_at is never before started_at: the earliest of both is a start
        times = [value for value in started if value is not None]
        times += [value for value in done if value is not None]
        earliest_start = min(times, default=None)
    origin = 0 if earliest_start is None else min(0, offset(earliest_start))

    before = plan_offsets(
        roles,
        estimates,
        actual_starts,
        actual_finishes,
        origin=origin,
        hold_minutes=hold_minutes,
    )
    if task_id is None:
        after = plan_offsets(
            roles,
            estimates,
            actual_starts,
            actual_finishes,
            origin=origin,
            hold_minutes=hold_minutes + delay_minutes,
        )
    elif unfinished[target]:
        estimates_after = list(estimates)
        estimates_after[target] += delay_minutes
        after = plan_offsets(
            roles,
            estimates_after,
            actual_starts,
            actual_finishes,
            origin=origin,
            hold_minutes=hold_minutes,
        )
    else:
        after = before  # a finished task's delay changes nothing
    finishes_before = network.earliest_finishes(before)
    finishes_after = (
        finishes_before if after is before else network.earliest_finishes(after)
    )

    moved_positions = [
        position
        for position in compress(range(count), map(ne, finishes_after, finishes_before))
        if unfinished[position]
    ]
    any_unfinished = any(unfinished)
    ends = [max(finishes_before), max(finishes_after)] if any_unfinished else []
    # Each distinct offset becomes a datetime once (finishes: a day boundary is
    # the end of the earlier day, as in every schedule).
    distinct = list(
        {finishes_before[p] for p in moved_positions}
        | {finishes_after[p] for p in moved_positions}
        | set(ends)
    )
    moment_at = dict(
        zip(
            distinct,
            compiled.moments_at_offsets(distinct, base, finish=True),
            strict=True,
        )
    )
    # A started task does not finish before it started.
    began_at = {
        position: parse(started[position])
        for position in moved_positions
        if roles[position] == ROLE_STARTED
    }
    moved = [
        MovedTask(
            ids[position],
            names[position],
            keys[position],
            finishes_after[position] - finishes_before[position],
            moment_at[finishes_before[position]],
            moment_at[finishes_after[position]],
            parties[position],
            positions[position],
        )
        for position in moved_positions
    ]
    if began_at:
        moved = [
            _not_before(task, began_at[position]) if position in began_at else task
            for position, task in zip(moved_positions, moved, strict=True)
        ]
    if any_unfinished:
        finish_before, finish_after = moment_at[ends[0]], moment_at[ends[1]]
    else:  # every task is finished: the run ended with its last one
        if last_finish is None:
            last_finish = max(
                (value for value in done if value is not None), default=None
            )
        ended = None if last_finish is None else parse(last_finish)
        finish_before = finish_after = ended or now
    return Impact(
        delay_minutes=delay_minutes,
        moved=moved,
        finish_before=finish_before,
        finish_after=finish_after,
        due_at=due_at,
        status_before=schedule_status(
            calendar, finish_before, due_at, unfinished=any_unfinished
        ),
        status_after=schedule_status(
            calendar, finish_after, due_at, unfinished=any_unfinished
        ),
    )


def _not_before(task: MovedTask, began: dt.datetime | None) -> MovedTask:
    if began is None:
        return task
    return replace(
        task,
        finish_before=max(task.finish_before, began),
        finish_after=max(task.finish_after, began),
    )


# --- the loader --------------------------------------------------------------------------


_STARTED_OR_DONE = (TaskStatus.IN_PROGRESS, TaskStatus.AWAITING, TaskStatus.DONE)
# The tasks whose start still depends on their predecessors.
_FREE = (
    TaskStatus.PENDING,
    TaskStatus.READY,
    TaskStatus.SKIPPED,
    TaskStatus.CANCELLED,
)


def what_if(
    run: Run,
    *,
    task: Task | None = None,
    delay_minutes: int,
    now: dt.datetime | None = None,
) -> Impact:
    """The impact of an expected delay of ``delay_minutes`` working minutes on
    ``task`` (added to its current expected delay) or, without a task, on the run
    as a whole (added to its current hold), as the run stands now.

    Nothing is saved. The "before" includes the expected delays of the run's open
    obstacles. Three statements: the run with its calendar (and its earliest
    actual start and latest actual finish), its tasks but the done ones nothing
    unfinished follows, and the dependencies into its tasks not yet started.
    A task of another run is a ValueError.
    """
    now = now or timezone.now()
    task_table = sql.table(Task)
    dependency_table = sql.table(TaskDependency)
    row = sql.fetchone(
        "SELECT r.due_at, r.hold_minutes, o.time_zone, "
        f"(SELECT MIN(COALESCE(a.started_at, a.done_at)) FROM {task_table} a "
        f"WHERE a.run_id = r.id AND a.status IN {sql.quoted(_STARTED_OR_DONE)}), "
        f"(SELECT MAX(a.done_at) FROM {task_table} a WHERE a.run_id = r.id "
        f"AND a.status = '{TaskStatus.DONE}'), "
        f"{projection.CALENDAR_COLUMNS} FROM {sql.table(Run)} r "
        f"JOIN {sql.table(Organisation)} o ON o.id = r.organisation_id "
        f"LEFT JOIN {sql.table(WorkingCalendar)} c ON c.organisation_id = "
        "r.organisation_id WHERE r.id = %s",
        [run.pk],
    )
    if row is None:
        raise ValueError(f"run {run.pk} does not exist")
    due_at = sql.py_datetime(row[0])
    assert due_at is not None
    organisation = sql.instance(
        Organisation, {"id": run.organisation_id, "time_zone": row[2]}
    )
    calendar = projection.calendar_spec_from_row(organisation, row[5:])
    # A done task counts only where a task still to start follows it (and the
    # task asked about, always). Only started and done tasks carry times; reading
    # them through CASE also keeps SQLite from parsing every one of them.
    tasks = sql.fetchall(
        "SELECT t.id, t.key, t.name, "
        f"CASE WHEN t.status = '{TaskStatus.PENDING}' AND t.skipped_reason <> '' "
        f"THEN '{TaskStatus.SKIPPED}' ELSE t.status END, "
        "t.duration_minutes, t.delay_minutes, "
        f"CASE WHEN t.status IN {sql.quoted(_STARTED_OR_DONE)} THEN t.started_at "
        "END, "
        f"CASE WHEN t.status = '{TaskStatus.DONE}' THEN t.done_at END, "
        "t.responsible_party_id, t.responsible_position_id "
        f"FROM {task_table} t WHERE t.run_id = %s AND (t.status <> "
        f"'{TaskStatus.DONE}' OR t.id = %s OR EXISTS (SELECT 1 FROM "
        f"{dependency_table} d JOIN {task_table} s ON s.id = d.successor_id "
        f"WHERE d.predecessor_id = t.id AND s.status IN {sql.quoted(_FREE)})) "
        "ORDER BY t.id",
        [run.pk, None if task is None else task.pk],
    )
    # Dependencies into started and done tasks move nothing.
    dependencies = sql.fetchall(
        "SELECT d.predecessor_id, d.successor_id, d.kind, d.lag_minutes "
        f"FROM {dependency_table} d JOIN {task_table} s ON s.id = d.successor_id "
        f"WHERE d.run_id = %s AND s.status IN {sql.quoted(_FREE)} "
        "ORDER BY d.predecessor_id, d.id",
        [run.pk],
    )
    return impact_of(
        tasks,  # type: ignore[arg-type]  # rows in TaskRow's order
        dependencies,  # type: ignore[arg-type]
        calendar=calendar,
        now=now,
        due_at=due_at,
        hold_minutes=row[1],
        task_id=None if task is None else task.pk,
        delay_minutes=delay_minutes,
        earliest_start=row[3],
        last_finish=row[4],
        parse=sql.py_datetime,
    )
