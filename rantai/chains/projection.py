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
"""

from __future__ import annotations

import datetime as dt
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

DEFAULT_WEEKDAYS = frozenset({0, 1, 2, 3, 4})
DEFAULT_DAY_START = dt.time(8, 0)
DEFAULT_DAY_END = dt.time(16, 0)

# (calendar id, version, last change, time zone) -> spec. Holiday changes bump the
# calendar's version; the time of the change keeps a recreated row (or a test
# database rolled back) from matching an old entry.
_spec_cache: dict[tuple[int, int, dt.datetime, str], CalendarSpec] = {}


def calendar_spec(organisation: Organisation) -> CalendarSpec:
    """The organisation's working calendar as plain data (cached by its version)."""
    row = (
        WorkingCalendar.objects.filter(organisation_id=organisation.pk)
        .values_list(
            "pk", "version", "updated_at", "working_weekdays", "day_start", "day_end"
        )
        .first()
    )
    if row is None:
        return CalendarSpec(
            time_zone=organisation.time_zone,
            working_weekdays=DEFAULT_WEEKDAYS,
            day_start=DEFAULT_DAY_START,
            day_end=DEFAULT_DAY_END,
            holidays=frozenset(),
        )
    key = (row[0], row[1], row[2], organisation.time_zone)
    spec = _spec_cache.get(key)
    if spec is None:
        spec = CalendarSpec(
            time_zone=organisation.time_zone,
            working_weekdays=frozenset(row[3]),
            day_start=row[4],
            day_end=row[5],
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


def remaining_paths(
    tasks: list[tuple[int, int, str, str]], dependencies: list[DepInput]
) -> dict[int, int]:
    """Per task (id, duration, status, skipped_reason): the working minutes from its
    start to the end of the run."""
    durations = {
        task_id: 0 if _passes_through(status, reason) else duration
        for task_id, duration, status, reason in tasks
    }
    return longest_remaining_paths(list(durations), dependencies, durations)


def recompute_paths(run: Run) -> None:
    """Store every task's path to the end again (after a deviation changed the graph)."""
    tasks = list(
        Task.objects.filter(run_id=run.pk).values_list(
            "id", "duration_minutes", "status", "skipped_reason", "path_to_end_minutes"
        )
    )
    dependencies = [
        DepInput(p, s, k, lag)
        for p, s, k, lag in TaskDependency.objects.filter(run_id=run.pk).values_list(
            "predecessor_id", "successor_id", "kind", "lag_minutes"
        )
    ]
    paths = remaining_paths([t[:4] for t in tasks], dependencies)
    changed = [
        Task(pk=task_id, path_to_end_minutes=paths[task_id])
        for task_id, *_rest, stored in tasks
        if paths[task_id] != stored
    ]
    if changed:
        Task.objects.bulk_update(changed, ["path_to_end_minutes"], batch_size=500)


# --- the projection after each transition -------------------------------------------


@dataclass(frozen=True, slots=True)
class FrontierTask:
    id: int
    status: str
    duration_minutes: int
    path_to_end_minutes: int
    started_at: dt.datetime | None


def load_frontier(run_id: int) -> list[FrontierTask]:
    """The run's tasks in flight: ready, in progress or awaiting (one query)."""
    return [
        FrontierTask(*row)
        for row in Task.objects.filter(
            run_id=run_id, status__in=OPEN_TASK_STATUSES
        ).values_list(
            "id", "status", "duration_minutes", "path_to_end_minutes", "started_at"
        )
    ]


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
    ids = [task.id for task in frontier]
    inputs: dict[int, TaskInput] = {}
    dependencies: list[DepInput] = []
    for task in frontier:
        inputs[task.id] = TaskInput(
            task.id, task.duration_minutes, task.status, task.started_at, None
        )
        rest = task.path_to_end_minutes - task.duration_minutes
        if rest > 0:
            # A stand-in for everything after this task, never optimistic.
            inputs[-task.id] = TaskInput(-task.id, rest, TaskStatus.PENDING)
            dependencies.append(DepInput(task.id, -task.id))
    for row in TaskDependency.objects.filter(successor_id__in=ids).values_list(
        "predecessor_id",
        "successor_id",
        "kind",
        "lag_minutes",
        "predecessor__status",
        "predecessor__started_at",
        "predecessor__done_at",
    ):
        predecessor, successor, kind, lag, status, started_at, done_at = row
        if predecessor not in inputs:
            if status not in (TaskStatus.DONE, TaskStatus.SKIPPED):
                continue
            inputs[predecessor] = TaskInput(predecessor, 0, status, started_at, done_at)
        dependencies.append(DepInput(predecessor, successor, kind, lag))
    schedule = compute_schedule(
        list(inputs.values()), dependencies, calendar, now, run.due_at
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
    Run.objects.filter(pk=run.pk).update(**fields)
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
    """The run's whole schedule by the critical path method (for timelines)."""
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
        )
        for task_id, duration, status, skipped_reason, started_at, done_at in (
            Task.objects.filter(run_id=run.pk).values_list(
                "id",
                "duration_minutes",
                "status",
                "skipped_reason",
                "started_at",
                "done_at",
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
        tasks, dependencies, calendar_spec(run.organisation), now, run.due_at
    )
