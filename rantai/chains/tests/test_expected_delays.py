"""Expected delays in the schedule: a task's expected delay lengthens its estimate,
the run's hold pushes every unfinished task later, in the projection after each
transition, the full schedule and the paths to the end alike; the run turns late
(firing `run_late`) when they push it past its due date, and clearing them
restores the schedule. And the step's wish for verified evidence reaches its
tasks."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from rantai.chains import extensions, projection, queries, services
from rantai.chains.calendar import CalendarSpec
from rantai.chains.models import Run, ScheduleStatus, Task
from rantai.chains.scheduling import (
    AT_RISK,
    DepInput,
    TaskInput,
    compute_schedule,
)
from rantai.chains.tests.helpers import DAY, StepSpec, at, build_version, start

JAKARTA = ZoneInfo("Asia/Jakarta")
CAL = CalendarSpec(
    time_zone="Asia/Jakarta",
    working_weekdays=frozenset({0, 1, 2, 3, 4}),
    day_start=dt.time(8),
    day_end=dt.time(16),
    holidays=frozenset(),
)


def wib(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in March 2026, Jakarta time (UTC+7); 2 March is a Monday."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=JAKARTA)


MONDAY = wib(2, 8)


# --- compute_schedule (pure) ------------------------------------------------------------


def chain_of_two(first: TaskInput) -> tuple[list[TaskInput], list[DepInput]]:
    """``first`` then task 2 (2 h)."""
    return [first, TaskInput(2, 120, "pending")], [DepInput(1, 2)]


def finishes(schedule) -> dict[int, dt.datetime]:  # type: ignore[no-untyped-def]
    return {task_id: s.earliest_finish for task_id, s in schedule.tasks.items()}


def test_a_delay_lengthens_an_unfinished_tasks_estimate():
    # given task 1 (3 h, ready) with an expected delay of 2 h, then task 2 (2 h)
    tasks, dependencies = chain_of_two(TaskInput(1, 180, "ready", delay_minutes=120))

    # when scheduled on Monday at 08:00
    schedule = compute_schedule(tasks, dependencies, CAL, MONDAY, None)

    # then task 1 takes 5 h (until 13:00) and task 2 finishes at 15:00
    assert finishes(schedule) == {1: wib(2, 13), 2: wib(2, 15)}
    assert schedule.tasks[2].earliest_start == wib(2, 13)
    assert schedule.projected_finish == wib(2, 15)


def test_a_delay_on_a_started_task_moves_its_finish():
    # given task 1 (3 h) started at 08:00 with a delay of 4 h, seen at 10:00
    tasks, dependencies = chain_of_two(
        TaskInput(1, 180, "in_progress", MONDAY, delay_minutes=240)
    )

    schedule = compute_schedule(tasks, dependencies, CAL, wib(2, 10), None)

    # then it finishes 7 h after its start: 15:00; task 2 runs on into Tuesday
    assert finishes(schedule) == {1: wib(2, 15), 2: wib(3, 9)}


def test_a_done_task_ignores_its_delay():
    tasks, dependencies = chain_of_two(
        TaskInput(1, 180, "done", MONDAY, wib(2, 9), delay_minutes=600)
    )

    schedule = compute_schedule(tasks, dependencies, CAL, wib(2, 10), None)

    assert finishes(schedule) == {1: wib(2, 9), 2: wib(2, 12)}


def test_a_hold_starts_waiting_tasks_later():
    # given a chain of 3 h and 2 h with a hold of one working day on the run
    tasks, dependencies = chain_of_two(TaskInput(1, 180, "ready"))

    schedule = compute_schedule(
        tasks, dependencies, CAL, MONDAY, None, hold_minutes=DAY
    )

    # then task 1 starts on Tuesday 08:00 and the chain ends Tuesday 13:00
    assert schedule.tasks[1].earliest_start == wib(3, 8)
    assert finishes(schedule) == {1: wib(3, 11), 2: wib(3, 13)}


def test_a_hold_makes_started_tasks_finish_later():
    # given task 1 (3 h) started at 08:00, a hold of 2 h, seen at 09:00
    tasks, dependencies = chain_of_two(TaskInput(1, 180, "in_progress", MONDAY))

    schedule = compute_schedule(
        tasks, dependencies, CAL, wib(2, 9), None, hold_minutes=120
    )

    # then it still started at 08:00 but finishes at 13:00 (11:00 + 2 h)
    assert schedule.tasks[1].earliest_start == MONDAY
    assert finishes(schedule) == {1: wib(2, 13), 2: wib(2, 15)}


def test_a_hold_on_an_overdue_task_counts_from_now():
    # given task 1 (1 h) started at 08:00, now 11:00 (2 h over), a hold of 1 h
    tasks, dependencies = chain_of_two(TaskInput(1, 60, "in_progress", MONDAY))

    schedule = compute_schedule(
        tasks, dependencies, CAL, wib(2, 11), None, hold_minutes=60
    )

    # then it is expected to finish an hour from now
    assert finishes(schedule) == {1: wib(2, 12), 2: wib(2, 14)}


def test_a_hold_and_a_delay_add_up_and_leave_done_tasks_alone():
    # given task 1 done (08:00-09:00), task 2 (2 h) with a 1 h delay, a 3 h hold
    tasks, dependencies = chain_of_two(TaskInput(1, 60, "done", MONDAY, wib(2, 9)))
    tasks[1] = TaskInput(2, 120, "pending", delay_minutes=60)

    schedule = compute_schedule(
        tasks, dependencies, CAL, wib(2, 9), wib(2, 15), hold_minutes=180
    )

    # then task 2 starts at 12:00 (now + hold) and takes 3 h: 15:00, on the due
    # date exactly, with less than a day to spare
    assert finishes(schedule) == {1: wib(2, 9), 2: wib(2, 15)}
    assert schedule.tasks[2].earliest_start == wib(2, 12)
    assert schedule.status == AT_RISK


def test_negative_delays_and_holds_are_refused():
    tasks, dependencies = chain_of_two(TaskInput(1, 60, "ready", delay_minutes=-1))
    with pytest.raises(ValueError, match="task 1 has a negative delay"):
        compute_schedule(tasks, dependencies, CAL, MONDAY, None)
    tasks, dependencies = chain_of_two(TaskInput(1, 60, "ready"))
    with pytest.raises(ValueError, match="hold_minutes must not be negative"):
        compute_schedule(tasks, dependencies, CAL, MONDAY, None, hold_minutes=-1)


# --- set_expected_delays on a run -------------------------------------------------------


@pytest.fixture
def shipment(crew):  # type: ignore[no-untyped-def]
    """target (1 day) and produce (5 days) in parallel; schedule (1 day) after
    both; pickup (1 day) after schedule. From Monday 2 March 08:00 WIB the run
    ends Tuesday 10 March 16:00 WIB (produce, schedule, pickup: 7 working days)."""
    o = crew.o
    return build_version(
        o,
        [
            StepSpec("target", o.export_staff, o.export_head),
            StepSpec("produce", crew.warehouse_head, o.export_head, days="5"),
            StepSpec(
                "schedule",
                crew.warehouse_head,
                o.export_head,
                after=["target", "produce"],
            ),
            StepSpec("pickup", o.forwarder, crew.warehouse_head, after=["schedule"]),
        ],
    )


@pytest.fixture
def late_runs(clean_registry):  # type: ignore[no-untyped-def]
    seen: list[tuple[int, dt.datetime]] = []
    extensions.register_run_late_handler(
        lambda event: seen.append((event.run_id, event.projected_finish_at))
    )
    return seen


def evening(day: int) -> dt.datetime:
    """16:00 WIB on a day of March 2026 (the end of its working day), in UTC."""
    return wib(day, 16).astimezone(dt.UTC)


def keyed(run: Run) -> dict[str, Task]:
    return {task.key: task for task in Task.objects.filter(run=run)}


def paths(run: Run) -> dict[str, tuple[int, int]]:
    """Per task key: (delay, path to the end), in working days."""
    return {
        key: (delay // DAY, path // DAY)
        for key, delay, path in Task.objects.filter(run=run).values_list(
            "key", "delay_minutes", "path_to_end_minutes"
        )
    }


def stored(run: Run) -> tuple[dt.datetime | None, str]:
    run.refresh_from_db()
    return run.projected_finish_at, run.schedule_status


def agrees_with_full_schedule(run: Run, now: dt.datetime) -> bool:
    run.refresh_from_db()
    full = projection.full_schedule(run, now=now)
    return (run.projected_finish_at, run.schedule_status) == (
        full.projected_finish,
        full.status,
    )


def test_a_delay_on_a_critical_task_moves_the_projected_finish(crew, shipment):
    run = start(shipment, crew.o.member)
    tasks = keyed(run)
    version, task_versions = (
        run.version,
        sorted(Task.objects.filter(run=run).values_list("version", flat=True)),
    )
    assert stored(run) == (evening(10), ScheduleStatus.ON_TRACK)

    # when produce is expected to take two working days longer
    services.set_expected_delays(
        run, task_delays={tasks["produce"].pk: 2 * DAY}, hold_minutes=0, now=at(0)
    )

    # then the run ends two working days later, Thursday 12 March
    assert (run.projected_finish_at, run.schedule_status) == (
        evening(12),
        ScheduleStatus.ON_TRACK,
    )
    assert stored(run) == (evening(12), ScheduleStatus.ON_TRACK)
    assert paths(run) == {
        "target": (0, 3),
        "produce": (2, 9),
        "schedule": (0, 2),
        "pickup": (0, 1),
    }
    assert agrees_with_full_schedule(run, at(0))
    # derived data: no version changes
    assert run.version == version
    assert (
        sorted(Task.objects.filter(run=run).values_list("version", flat=True))
        == task_versions
    )


def test_a_delay_within_a_branchs_slack_moves_nothing(crew, shipment):
    run = start(shipment, crew.o.member)
    tasks = keyed(run)

    # target has four days of slack beside produce: a three-day delay fits
    services.set_expected_delays(
        run, task_delays={tasks["target"].pk: 3 * DAY}, hold_minutes=0, now=at(0)
    )
    assert stored(run) == (evening(10), ScheduleStatus.ON_TRACK)
    assert paths(run)["target"] == (3, 6)

    # a five-day delay makes target the longer branch by a day
    services.set_expected_delays(
        run, task_delays={tasks["target"].pk: 5 * DAY}, hold_minutes=0, now=at(0)
    )
    assert stored(run) == (evening(11), ScheduleStatus.ON_TRACK)
    assert agrees_with_full_schedule(run, at(0))


def test_a_hold_on_the_run_moves_every_unfinished_task(crew, shipment):
    run = start(shipment, crew.o.member)

    services.set_expected_delays(run, task_delays={}, hold_minutes=DAY, now=at(0))

    assert run.hold_minutes == DAY
    assert Run.objects.get(pk=run.pk).hold_minutes == DAY
    assert stored(run) == (evening(11), ScheduleStatus.ON_TRACK)
    full = projection.full_schedule(run, now=at(0))
    tasks = keyed(run)
    assert full.tasks[tasks["produce"].pk].earliest_start == wib(3, 8)
    assert full.tasks[tasks["pickup"].pk].earliest_finish == evening(11)
    assert agrees_with_full_schedule(run, at(0))


def test_a_hold_and_a_delay_together(crew, shipment):
    run = start(shipment, crew.o.member)
    tasks = keyed(run)

    services.set_expected_delays(
        run,
        task_delays={tasks["produce"].pk: 2 * DAY},
        hold_minutes=DAY,
        now=at(0),
    )

    # produce 5 + 2 days, schedule, pickup, all a day later: Friday 13 March,
    # less than a working day before the due date (Monday 16 March 08:00)
    assert stored(run) == (evening(13), ScheduleStatus.AT_RISK)
    assert agrees_with_full_schedule(run, at(0))


def test_the_projection_follows_the_delays_through_transitions(crew, shipment):
    o = crew.o
    run = start(shipment, o.member)
    tasks = keyed(run)
    services.set_expected_delays(
        run,
        task_delays={tasks["produce"].pk: DAY, tasks["schedule"].pk: DAY},
        hold_minutes=120,
        now=at(0),
    )
    assert agrees_with_full_schedule(run, at(0))

    services.start_task(
        tasks["produce"], actor=crew.wawan, expected_version=None, now=at(60)
    )
    assert agrees_with_full_schedule(run, at(60))
    services.complete_task(
        tasks["target"], actor=crew.dina, expected_version=None, now=at(90)
    )
    assert agrees_with_full_schedule(run, at(90))
    # produce (started Monday 09:00, 6 days with its delay, 2 h of hold) ends
    # Tuesday 10 March 11:00; schedule (2 days), pickup (1 day): Friday 13 March
    # 11:00, five working hours before the due date
    assert stored(run) == (wib(13, 11).astimezone(dt.UTC), ScheduleStatus.AT_RISK)


def test_the_run_turns_late_and_run_late_fires(crew, shipment, late_runs):
    # due Thursday 12 March 08:00 WIB: with the run ending Tuesday 16:00, a day
    # to spare
    run = start(shipment, crew.o.member, due_days=10)
    tasks = keyed(run)
    assert stored(run) == (evening(10), ScheduleStatus.ON_TRACK)

    services.set_expected_delays(
        run, task_delays={tasks["produce"].pk: DAY}, hold_minutes=0, now=at(0)
    )
    assert stored(run) == (evening(11), ScheduleStatus.AT_RISK)
    assert late_runs == []

    services.set_expected_delays(run, task_delays={}, hold_minutes=DAY, now=at(0))
    assert stored(run) == (evening(12), ScheduleStatus.LATE)
    assert late_runs == [(run.pk, evening(12))]

    # still late with more delay: run_late does not fire again
    services.set_expected_delays(
        run, task_delays={tasks["pickup"].pk: DAY}, hold_minutes=DAY, now=at(0)
    )
    assert stored(run) == (evening(13), ScheduleStatus.LATE)
    assert len(late_runs) == 1


def test_clearing_the_delays_restores_the_schedule(crew, shipment):
    run = start(shipment, crew.o.member, due_days=10)
    tasks = keyed(run)
    before = (stored(run), paths(run))
    services.set_expected_delays(
        run,
        task_delays={tasks["produce"].pk: 3 * DAY, tasks["target"].pk: DAY},
        hold_minutes=DAY,
        now=at(0),
    )
    assert stored(run) == (evening(16), ScheduleStatus.LATE)

    services.set_expected_delays(
        run,
        task_delays={tasks["produce"].pk: 0, tasks["target"].pk: 0},
        hold_minutes=0,
        now=at(0),
    )

    assert (stored(run), paths(run)) == before
    assert stored(run) == (evening(10), ScheduleStatus.ON_TRACK)
    assert run.hold_minutes == 0


def test_tasks_not_named_keep_their_delays(crew, shipment):
    run = start(shipment, crew.o.member)
    tasks = keyed(run)
    services.set_expected_delays(
        run, task_delays={tasks["target"].pk: 60}, hold_minutes=0, now=at(0)
    )

    services.set_expected_delays(
        run, task_delays={tasks["produce"].pk: 90}, hold_minutes=0, now=at(0)
    )

    assert dict(Task.objects.filter(run=run).values_list("key", "delay_minutes")) == {
        "target": 60,
        "produce": 90,
        "schedule": 0,
        "pickup": 0,
    }


def test_another_runs_task_or_a_negative_figure_changes_nothing(crew, shipment):
    run = start(shipment, crew.o.member)
    other = start(shipment, crew.o.member, title="Another shipment")
    foreign = keyed(other)["produce"]
    own = keyed(run)["produce"]
    before = (stored(run), paths(run), Run.objects.get(pk=run.pk).hold_minutes)

    with pytest.raises(ValueError, match="not a task of run"):
        services.set_expected_delays(
            run,
            task_delays={own.pk: DAY, foreign.pk: DAY},
            hold_minutes=DAY,
            now=at(0),
        )
    with pytest.raises(ValueError, match="must not be negative"):
        services.set_expected_delays(
            run, task_delays={own.pk: -1}, hold_minutes=0, now=at(0)
        )
    with pytest.raises(ValueError, match="must not be negative"):
        services.set_expected_delays(run, task_delays={}, hold_minutes=-1, now=at(0))

    assert (stored(run), paths(run), Run.objects.get(pk=run.pk).hold_minutes) == (
        before
    )


def test_a_deviation_keeps_the_delays_in_the_paths(crew, shipment):
    run = start(shipment, crew.o.member)
    tasks = keyed(run)
    services.set_expected_delays(
        run, task_delays={tasks["pickup"].pk: DAY}, hold_minutes=0, now=at(0)
    )

    # the paths are stored again (as after a deviation changed the graph)
    projection.recompute_paths(run)

    assert paths(run) == {
        "target": (0, 4),
        "produce": (0, 8),
        "schedule": (0, 3),
        "pickup": (1, 2),
    }


# --- the step's wish for verified evidence -------------------------------------------------


def test_verified_evidence_is_copied_to_the_task_and_the_next_draft(crew):
    o = crew.o
    version = build_version(
        o,
        [
            StepSpec(
                "inspect",
                o.export_staff,
                o.export_head,
                extra={"requires_evidence": True, "requires_verified_evidence": True},
            ),
            StepSpec("ship", o.export_staff, o.export_head, after=["inspect"]),
        ],
    )

    run = start(version, o.member)
    draft = services.new_draft(version.procedure, actor=o.admin)
    inspect = draft.steps.get(key="inspect")
    services.update_step(
        inspect,
        actor=o.admin,
        expected_version=None,
        requires_verified_evidence=False,
    )

    assert {
        task.key: (task.requires_evidence, task.requires_verified_evidence)
        for task in Task.objects.filter(run=run)
    } == {"inspect": (True, True), "ship": (False, False)}
    assert draft.steps.get(key="ship").requires_verified_evidence is False
    changes = queries.diff_versions(version, draft).steps_changed
    assert [(change.key, change.changes) for change in changes] == [
        ("inspect", {"requires_verified_evidence": (True, False)})
    ]
