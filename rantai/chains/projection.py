"""A run's schedule projection: the projected finish and the status against the
target, kept current after every transition at a cost that does not grow with the
length of the chain.

Each task stores the longest path from its start to the end of the run
(`path_to_end_minutes`, from `scheduling.longest_remaining_paths`, recomputed only
when the run's graph changes). After a transition the projection schedules only the
tasks in flight (ready, in progress, awaiting), their finished direct predecessors
(actual times and lags) and, behind each task in flight, one stand-in for the rest
of its path. For the whole schedule (Gantt, critical path) `full_schedule` runs the
critical path method over every task when it is read.

Both carry the expected delays of the open obstacles: an unfinished task's estimate
is its duration plus its `delay_minutes` (paths to the end included), and the run's
`hold_minutes` projects every unfinished task that much later.
"""

from __future__ import annotations

import datetime as dt
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from rantai.accounts.models import Organisation
from rantai.chains import extensions
from rantai.chains.calendar import CalendarSpec, minutes_per_working_day
from rantai.chains.models import (
    OPEN_TASK_STATUSES,
    Holiday,
    Run,
    RunStatus,
    ScheduleStatus,
    Task,
    TaskDependency,
    TaskStatus,
    WorkingCalendar,
)
from rantai.chains.scheduling import (
    DepInput,
    Schedule,
    TaskInput,
    compute_schedule,
    longest_remaining_paths,
)
from rantai.core import sql

DEFAULT_WEEKDAYS = frozenset({0, 1, 2, 3, 4})
DEFAULT_DAY_START = dt.time(8, 0)
DEFAULT_DAY_END = dt.time(16, 0)

# (calendar id, version, last change, time zone) -> spec. Holiday changes bump the
# calendar's version; the time of the change keeps a recreated row (or a test
# database rolled back) from matching an old entry.
_spec_cache: dict[tuple[int, int, str, str], CalendarSpec] = {}


# The working calendar's columns, for a statement that joins it as `c`.
CALENDAR_COLUMNS = (
    "c.id, c.version, c.updated_at, c.working_weekdays, c.day_start, c.day_end"
)


def calendar_spec(organisation: Organisation) -> CalendarSpec:
    """The organisation's working calendar as plain data (cached by its version)."""
    row = sql.fetchone(
        f"SELECT {CALENDAR_COLUMNS} FROM {sql.table(WorkingCalendar)} c "
        "WHERE c.organisation_id = %s",
        [organisation.pk],
    )
    return calendar_spec_from_row(organisation, row)


def calendar_spec_from_row(
    organisation: Organisation, row: Sequence[Any] | None
) -> CalendarSpec:
    """`calendar_spec` from the `CALENDAR_COLUMNS` of a row already read (all None:
    the organisation has no calendar of its own yet)."""
    if row is None or row[0] is None:
        return CalendarSpec(
            time_zone=organisation.time_zone,
            working_weekdays=DEFAULT_WEEKDAYS,
            day_start=DEFAULT_DAY_START,
            day_end=DEFAULT_DAY_END,
            holidays=frozenset(),
        )
    pk, version, updated_at, weekdays, day_start, day_end = row
    # The stored text or value of the last change, as read: no parsing per call.
    key = (pk, version, str(updated_at), organisation.time_zone)
    spec = _spec_cache.get(key)
    if spec is None:
        if isinstance(weekdays, str):
            weekdays = json.loads(weekdays)
        if isinstance(day_start, str):
            day_start = dt.time.fromisoformat(day_start)
        if isinstance(day_end, str):
            day_end = dt.time.fromisoformat(day_end)
        spec = CalendarSpec(
            time_zone=organisation.time_zone,
            working_weekdays=frozenset(weekdays),
            day_start=day_start,
            day_end=day_end,
            holidays=frozenset(
                Holiday.objects.filter(organisation_id=organisation.pk).values_list(
                    "date", flat=True
                )
            ),
        )
        if len(_spec_cache) > 1000:
            _spec_cache.clear()
        _spec_cache[key] = spec
    return spec


def minutes_per_day(organisation: Organisation) -> int:
    return minutes_per_working_day(calendar_spec(organisation))


# --- remaining paths (when the run's graph changes) ---------------------------------


def _passes_through(status: str, skipped_reason: str) -> bool:
    """A skipped task, or one marked to be skipped when it is reached, takes no time."""
    return status == TaskStatus.SKIPPED or bool(skipped_reason)


# An unfinished task's estimate includes its expected delay.
_UNFINISHED = frozenset(
    {
        TaskStatus.PENDING,
        TaskStatus.READY,
        TaskStatus.IN_PROGRESS,
        TaskStatus.AWAITING,
    }
)


def remaining_paths(
    tasks: list[tuple[int, int, str, str]],
    dependencies: list[DepInput],
    *,
    delays: Mapping[int, int] | None = None,
) -> dict[int, int]:
    """Per task (id, duration, status, skipped_reason): the working minutes from its
    start to the end of the run. An unfinished task's estimate includes its
    expected delay (``delays``, by task id)."""
    delays = delays or {}
    durations = {
        task_id: (
            0
            if _passes_through(status, reason)
            else (
                duration + delays.get(task_id, 0) if status in _UNFINISHED else duration
            )
        )
        for task_id, duration, status, reason in tasks
    }
    return longest_remaining_paths(list(durations), dependencies, durations)


def recompute_paths(run: Run, *, delays: Mapping[int, int] | None = None) -> None:
    """Store every task's path to the end again (after a deviation changed the
    graph, or the expected delays changed).

    ``delays`` (task id → working minutes) replace the stored expected delays of
    those tasks (every task of the run: a ValueError otherwise); the others keep
    theirs. Rows are written only where something changed.
    """
    tasks = sql.fetchall(
        "SELECT id, duration_minutes, status, skipped_reason, path_to_end_minutes, "
        f"delay_minutes FROM {sql.table(Task)} WHERE run_id = %s",
        [run.pk],
    )
    dependencies = [
        DepInput(p, s, k, lag)
        for p, s, k, lag in sql.fetchall(
            "SELECT predecessor_id, successor_id, kind, lag_minutes "
            f"FROM {sql.table(TaskDependency)} WHERE run_id = %s",
            [run.pk],
        )
    ]
    stored_delays = {row[0]: row[5] for row in tasks}
    new_delays = dict(stored_delays)
    if delays:
        unknown = set(delays) - stored_delays.keys()
        if unknown:
            raise ValueError(f"task {min(unknown)} is not a task of run {run.pk}")
        if min(delays.values()) < 0:
            raise ValueError("an expected delay must not be negative")
        new_delays.update(delays)
    paths = remaining_paths([t[:4] for t in tasks], dependencies, delays=new_delays)
    changed = [
        (task_id, paths[task_id], new_delays[task_id])
        for task_id, *_rest, stored_path, stored_delay in tasks
        if paths[task_id] != stored_path or new_delays[task_id] != stored_delay
    ]
    if changed:
        Task.objects.bulk_update(
            [
                Task(pk=task_id, path_to_end_minutes=path, delay_minutes=delay)
                for task_id, path, delay in changed
            ],
            ["path_to_end_minutes", "delay_minutes"],
            batch_size=500,
        )


# --- the projection after each transition -------------------------------------------


@dataclass(frozen=True, slots=True)
class Predecessor:
    """A dependency of a task in flight, with its predecessor's state."""

    id: int
    kind: str
    lag_minutes: int
    status: str
    started_at: dt.datetime | None = None
    done_at: dt.datetime | None = None


@dataclass(frozen=True, slots=True)
class FrontierTask:
    """A task in flight; ``path_to_end_minutes`` includes the expected delays
    (``delay_minutes``: this task's own)."""

    id: int
    status: str
    duration_minutes: int
    path_to_end_minutes: int
    started_at: dt.datetime | None
    predecessors: tuple[Predecessor, ...] = ()
    delay_minutes: int = 0


def load_frontier(run_id: int) -> list[FrontierTask]:
    """The run's tasks in flight (ready, in progress or awaiting) with their
    dependencies and the predecessors' states: one statement."""
    rows = sql.fetchall(
        "SELECT t.id, t.status, t.duration_minutes, t.path_to_end_minutes, "
        "t.started_at, d.predecessor_id, d.kind, d.lag_minutes, p.status, "
        f"p.started_at, p.done_at, t.delay_minutes FROM {sql.table(Task)} t "
        f"LEFT JOIN {sql.table(TaskDependency)} d ON d.successor_id = t.id "
        f"LEFT JOIN {sql.table(Task)} p ON p.id = d.predecessor_id "
        f"WHERE t.run_id = %s AND t.status IN {sql.quoted(OPEN_TASK_STATUSES)} "
        "ORDER BY t.id, d.id",
        [run_id],
    )
    frontier: list[FrontierTask] = []
    predecessors: list[Predecessor] = []
    for index, row in enumerate(rows):
        if row[5] is not None:
            predecessors.append(
                Predecessor(
                    row[5],
                    row[6],
                    row[7],
                    row[8],
                    sql.py_datetime(row[9]),
                    sql.py_datetime(row[10]),
                )
            )
        if index + 1 == len(rows) or rows[index + 1][0] != row[0]:
            frontier.append(
                FrontierTask(
                    row[0],
                    row[1],
                    row[2],
                    row[3],
                    sql.py_datetime(row[4]),
                    tuple(predecessors),
                    row[11],
                )
            )
            predecessors = []
    return frontier


def project(
    run: Run,
    *,
    frontier: list[FrontierTask],
    calendar: CalendarSpec,
    now: dt.datetime,
) -> tuple[dt.datetime, str]:
    """(projected finish, schedule status) from the tasks in flight."""
    if run.status == RunStatus.COMPLETED and run.completed_at is not None:
        late = run.completed_at > run.due_at
        return (
            run.completed_at,
            ScheduleStatus.LATE if late else ScheduleStatus.ON_TRACK,
        )
    if not frontier:
        return now, ScheduleStatus.LATE if now > run.due_at else ScheduleStatus.ON_TRACK
    inputs: dict[int, TaskInput] = {}
    dependencies: list[DepInput] = []
    for task in frontier:
        inputs[task.id] = TaskInput(
            task.id,
            task.duration_minutes,
            task.status,
            task.started_at,
            None,
            task.delay_minutes,
        )
        rest = task.path_to_end_minutes - task.duration_minutes - task.delay_minutes
        if rest > 0:
            # A stand-in for everything after this task, never optimistic.
            inputs[-task.id] = TaskInput(-task.id, rest, TaskStatus.PENDING)
            dependencies.append(DepInput(task.id, -task.id))
    for task in frontier:
        for predecessor in task.predecessors:
            if predecessor.id not in inputs:
                if predecessor.status not in (TaskStatus.DONE, TaskStatus.SKIPPED):
                    continue
                inputs[predecessor.id] = TaskInput(
                    predecessor.id,
                    0,
                    predecessor.status,
                    predecessor.started_at,
                    predecessor.done_at,
                )
            dependencies.append(
                DepInput(
                    predecessor.id, task.id, predecessor.kind, predecessor.lag_minutes
                )
            )
    schedule = compute_schedule(
        list(inputs.values()),
        dependencies,
        calendar,
        now,
        run.due_at,
        hold_minutes=run.hold_minutes,
    )
    return schedule.projected_finish, schedule.status


def refresh(
    run: Run,
    *,
    now: dt.datetime,
    frontier: list[FrontierTask] | None = None,
    calendar: CalendarSpec | None = None,
) -> None:
    """Recompute and store the run's projected finish and schedule status.

    Fires `run_late` when the status turns late. Does not touch the run's version:
    parallel task transitions must not conflict on it.
    """
    if frontier is None:
        frontier = load_frontier(run.pk)
    if calendar is None:
        calendar = calendar_spec(run.organisation)
    finish, status = project(run, frontier=frontier, calendar=calendar, now=now)
    was_late = run.schedule_status == ScheduleStatus.LATE
    fields: dict[str, Any] = {
        "projected_finish_at": finish,
        "schedule_status": status,
        "schedule_revision": run.schedule_revision + 1,
    }
    assignments, params = sql.set_clause(Run, fields)
    sql.execute(
        f"UPDATE {sql.table(Run)} SET {assignments} WHERE id = %s", [*params, run.pk]
    )
    for name, value in fields.items():
        setattr(run, name, value)
    if (
        status == ScheduleStatus.LATE
        and not was_late
        and run.status == RunStatus.ACTIVE
    ):
        extensions.emit_run_late(
            extensions.RunLate(
                organisation_id=run.organisation_id,
                run_id=run.pk,
                projected_finish_at=finish,
                due_at=run.due_at,
            )
        )


# --- the full schedule (read side) --------------------------------------------------


def full_schedule(run: Run, *, now: dt.datetime | None = None) -> Schedule:
    """The run's whole schedule by the critical path method (for timelines), with
    the expected delays of its open obstacles (the tasks' and the run's hold)."""
    from django.utils import timezone

    now = now or timezone.now()
    tasks = [
        TaskInput(
            task_id,
            duration,
            TaskStatus.SKIPPED
            if status == TaskStatus.PENDING and skipped_reason
            else status,
            started_at,
            done_at,
            delay,
        )
        for task_id, duration, status, skipped_reason, started_at, done_at, delay in (
            Task.objects.filter(run_id=run.pk).values_list(
                "id",
                "duration_minutes",
                "status",
                "skipped_reason",
                "started_at",
                "done_at",
                "delay_minutes",
            )
        )
    ]
    dependencies = [
        DepInput(p, s, k, lag)
        for p, s, k, lag in TaskDependency.objects.filter(run_id=run.pk).values_list(
            "predecessor_id", "successor_id", "kind", "lag_minutes"
        )
    ]
    return compute_schedule(
        tasks,
        dependencies,
        calendar_spec(run.organisation),
        now,
        run.due_at,
        hold_minutes=run.hold_minutes,
    )
