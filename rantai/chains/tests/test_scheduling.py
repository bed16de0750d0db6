"""Schedules by the critical path method (pure: no database)."""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable
from itertools import pairwise
from zoneinfo import ZoneInfo

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from rantai.chains.calendar import (
    CalendarSpec,
    add_working_minutes,
    end_of_working_day,
    next_working_moment,
    subtract_working_minutes,
    working_minutes_between,
)
from rantai.chains.scheduling import (
    DepInput,
    OffsetSchedule,
    TaskInput,
    TaskSchedule,
    compute_schedule,
    critical_path_offsets,
    longest_remaining_paths,
)

JAKARTA = ZoneInfo("Asia/Jakarta")
UTC = dt.UTC
FS = "finish_to_start"
SS = "start_to_start"
CAL = CalendarSpec(
    time_zone="Asia/Jakarta",
    working_weekdays=frozenset({0, 1, 2, 3, 4}),
    day_start=dt.time(8),
    day_end=dt.time(16),
    holidays=frozenset({dt.date(2025, 8, 18)}),  # a Monday
)


def wib(day: int, hour: int, minute: int = 0, second: int = 0) -> dt.datetime:
    """A moment in August 2025, Jakarta time (WIB = UTC+7)."""
    return dt.datetime(2025, 8, day, hour, minute, second, tzinfo=JAKARTA)


MONDAY_MORNING = wib(11, 8)


def pending(task_id: int, minutes: int) -> TaskInput:
    return TaskInput(task_id, minutes, "pending", None, None)


# The diamond used throughout, all times Monday 11 August 2025 onwards:
#
#   1 (4 h) --FS--> 2 (4 h) --FS--------> 4 (1 h)
#      \--SS +1h--> 3 (2 h) --FS +2h--/
DIAMOND_DEPS = [
    DepInput(1, 2, FS, 0),
    DepInput(1, 3, SS, 60),
    DepInput(2, 4, FS, 0),
    DepInput(3, 4, FS, 120),
]


def diamond(**statuses: TaskInput) -> list[TaskInput]:
    tasks = {
        1: pending(1, 240),
        2: pending(2, 240),
        3: pending(3, 120),
        4: pending(4, 60),
    }
    for name, task in statuses.items():
        tasks[int(name.removeprefix("t"))] = task
    return list(tasks.values())


# -- the hand-computed example ---------------------------------------------------------


def test_the_diamond_from_monday_morning():
    schedule = compute_schedule(diamond(), DIAMOND_DEPS, CAL, MONDAY_MORNING, None)

    assert schedule.tasks == {
        # 08:00-12:00; critical.
        1: TaskSchedule(wib(11, 8), wib(11, 12), wib(11, 8), wib(11, 12), 0, True),
        # 12:00-16:00: work that ends with the day ends that evening.
        2: TaskSchedule(wib(11, 12), wib(11, 16), wib(11, 12), wib(11, 16), 0, True),
        # May start an hour after 1 starts; must end two hours before 4 starts.
        3: TaskSchedule(wib(11, 9), wib(11, 11), wib(11, 12), wib(11, 14), 180, False),
        # Starts the next morning, not at 16:00.
        4: TaskSchedule(wib(12, 8), wib(12, 9), wib(12, 8), wib(12, 9), 0, True),
    }
    assert schedule.critical_path == [1, 2, 4]
    assert schedule.projected_finish == wib(12, 9)
    assert schedule.projected_finish.tzinfo is UTC
    assert schedule.status == "on_track"  # no due date


def test_the_order_of_the_inputs_does_not_matter():
    forward = compute_schedule(diamond(), DIAMOND_DEPS, CAL, MONDAY_MORNING, None)
    backward = compute_schedule(
        diamond()[::-1], DIAMOND_DEPS[::-1], CAL, MONDAY_MORNING, None
    )
    assert backward == forward


def test_the_offsets_core_gives_the_same_figures_in_minutes():
    offsets = critical_path_offsets({1: 240, 2: 240, 3: 120, 4: 60}, DIAMOND_DEPS)
    assert offsets.earliest_start == {1: 0, 2: 240, 3: 60, 4: 480}
    assert offsets.earliest_finish == {1: 240, 2: 480, 3: 180, 4: 540}
    assert offsets.latest_start == {1: 0, 2: 240, 3: 240, 4: 480}
    assert offsets.latest_finish == {1: 240, 2: 480, 3: 360, 4: 540}
    assert offsets.critical_path == [1, 2, 4]
    assert offsets.finish == 540


def test_a_long_lag_makes_the_other_branch_critical():
    deps = [*DIAMOND_DEPS[:3], DepInput(3, 4, FS, 600)]
    schedule = compute_schedule(diamond(), deps, CAL, MONDAY_MORNING, None)
    # 3 ends Monday 11:00; 10 working hours later is Tuesday 13:00.
    assert schedule.tasks[4].earliest_start == wib(12, 13)
    assert schedule.critical_path == [1, 3, 4]
    assert schedule.tasks[2].slack_minutes == 300  # may end 5 h later, at 13:00
    assert not schedule.tasks[2].critical


# -- actuals --------------------------------------------------------------------------


def test_done_tasks_keep_their_actuals_and_the_rest_starts_from_now():
    # Task 1 took five hours instead of four; task 3 started at 09:30 and has run
    # past its two hours; it is now Monday 14:00.
    tasks = diamond(
        t1=TaskInput(1, 240, "done", wib(11, 8), wib(11, 13)),
        t3=TaskInput(3, 120, "in_progress", wib(11, 9, 30), None),
    )
    schedule = compute_schedule(tasks, DIAMOND_DEPS, CAL, wib(11, 14), None)

    assert schedule.tasks[1] == TaskSchedule(
        wib(11, 8), wib(11, 13), wib(11, 8), wib(11, 13), 0, False
    )
    # Not before now (14:00), although task 1 finished at 13:00.
    assert schedule.tasks[2] == TaskSchedule(
        wib(11, 14), wib(12, 10), wib(11, 14), wib(12, 10), 0, True
    )
    # Overran: projected to finish now; it may finish as late as 16:00 (4 starts
    # Tuesday 10:00, two hours of lag before that).
    assert schedule.tasks[3] == TaskSchedule(
        wib(11, 9, 30), wib(11, 14), wib(11, 9, 30), wib(11, 16), 120, False
    )
    assert schedule.tasks[4] == TaskSchedule(
        wib(12, 10), wib(12, 11), wib(12, 10), wib(12, 11), 0, True
    )
    assert schedule.critical_path == [2, 4]  # 2 waits for now, not for 1
    assert schedule.projected_finish == wib(12, 11)


def test_an_in_progress_task_finishes_its_remaining_estimate():
    tasks = [TaskInput(1, 240, "in_progress", wib(11, 8), None)]
    schedule = compute_schedule(tasks, [], CAL, wib(11, 10), None)
    assert schedule.tasks[1].earliest_start == wib(11, 8)
    assert schedule.tasks[1].earliest_finish == wib(11, 12)
    assert schedule.critical_path == [1]


def test_an_awaiting_task_is_scheduled_like_one_in_progress():
    tasks = [TaskInput(1, 60, "awaiting", wib(11, 8), None), pending(2, 60)]
    schedule = compute_schedule(tasks, [DepInput(1, 2)], CAL, wib(11, 12), None)
    assert schedule.tasks[1].earliest_finish == wib(11, 12)  # now
    assert schedule.tasks[2].earliest_start == wib(11, 12)
    assert schedule.critical_path == [1, 2]


def test_a_done_task_without_a_start_started_when_it_finished():
    tasks = [TaskInput(1, 60, "done", None, wib(11, 9))]
    schedule = compute_schedule(tasks, [], CAL, wib(11, 10), None)
    assert schedule.tasks[1].earliest_start == wib(11, 9)
    assert schedule.projected_finish == wib(11, 9)


def test_a_lag_after_a_done_task_can_still_hold_its_successor():
    tasks = [TaskInput(1, 60, "done", wib(11, 8), wib(11, 9)), pending(2, 60)]
    schedule = compute_schedule(
        tasks, [DepInput(1, 2, FS, 480)], CAL, wib(11, 10), None
    )
    assert schedule.tasks[2].earliest_start == wib(12, 9)
    assert schedule.critical_path == [1, 2]
    assert schedule.tasks[1].critical


def test_a_started_successor_keeps_its_start_when_a_predecessor_is_reopened():
    # 2 was started after 1; 1 has been reopened and is in progress again.
    tasks = [
        TaskInput(1, 120, "in_progress", wib(11, 13), None),
        TaskInput(2, 240, "in_progress", wib(11, 10), None),
    ]
    schedule = compute_schedule(tasks, [DepInput(1, 2)], CAL, wib(11, 14), None)
    assert schedule.tasks[2].earliest_start == wib(11, 10)
    assert schedule.tasks[1].earliest_finish == wib(11, 15)
    assert schedule.tasks[1].slack_minutes == 0
    assert schedule.tasks[1].latest_finish == wib(11, 15)


def test_skipped_tasks_take_no_time_and_release_their_successors_at_once():
    tasks = diamond(t2=TaskInput(2, 240, "skipped", None, None))
    schedule = compute_schedule(tasks, DIAMOND_DEPS, CAL, MONDAY_MORNING, None)
    # 2 is passed when 1 finishes (12:00); 4 then waits only for 3 + 2 h lag.
    assert schedule.tasks[2] == TaskSchedule(
        wib(11, 12), wib(11, 12), wib(11, 13), wib(11, 13), 60, False
    )
    assert schedule.tasks[4].earliest_start == wib(11, 13)
    assert schedule.projected_finish == wib(11, 14)
    assert schedule.critical_path == [1, 3, 4]


def test_cancelled_tasks_count_like_skipped_ones():
    skipped = compute_schedule(
        diamond(t2=TaskInput(2, 240, "skipped", None, None)),
        DIAMOND_DEPS,
        CAL,
        MONDAY_MORNING,
        None,
    )
    cancelled = compute_schedule(
        diamond(t2=TaskInput(2, 240, "cancelled", None, None)),
        DIAMOND_DEPS,
        CAL,
        MONDAY_MORNING,
        None,
    )
    assert cancelled == skipped


def test_a_skipped_first_step_does_not_hold_anything_back():
    tasks = [TaskInput(1, 600, "skipped", None, None), pending(2, 60)]
    schedule = compute_schedule(tasks, [DepInput(1, 2)], CAL, MONDAY_MORNING, None)
    assert schedule.tasks[1].earliest_start == MONDAY_MORNING
    assert schedule.tasks[2].earliest_start == MONDAY_MORNING


# -- nothing before now ----------------------------------------------------------------


@pytest.mark.parametrize(
    ("now", "start"),
    [
        (wib(13, 10), wib(13, 10)),
        (wib(13, 10, 0, 30), wib(13, 10, 1)),  # whole minutes, never before now
        (wib(16, 11), wib(19, 8)),  # Saturday; Monday is a holiday
        (wib(13, 17), wib(14, 8)),  # after hours
    ],
)
def test_nothing_unfinished_is_scheduled_before_now(now, start):
    schedule = compute_schedule(diamond(), DIAMOND_DEPS, CAL, now, None)
    assert schedule.tasks[1].earliest_start == start
    assert all(task.earliest_start >= now for task in schedule.tasks.values())


def test_an_overrun_task_is_not_shown_finishing_before_now():
    # On Saturday a task started on Friday and still running finishes, at the
    # earliest, when work resumes on Tuesday (Monday is a holiday).
    tasks = [TaskInput(1, 60, "in_progress", wib(15, 9), None)]
    schedule = compute_schedule(tasks, [], CAL, wib(16, 10), None)
    assert schedule.tasks[1].earliest_finish == wib(19, 8)


# -- status against the due date ---------------------------------------------------


def status_with_due(due_at: dt.datetime | None, **options: int) -> str:
    # The diamond from Monday 08:00 finishes on Tuesday 09:00.
    return compute_schedule(
        diamond(), DIAMOND_DEPS, CAL, MONDAY_MORNING, due_at, **options
    ).status


@pytest.mark.parametrize(
    ("due_at", "status"),
    [
        (None, "on_track"),
        (wib(13, 9), "on_track"),  # one working day of slack exactly
        (wib(13, 8, 59), "at_risk"),  # a minute less
        (end_of_working_day(CAL, dt.date(2025, 8, 12)), "at_risk"),  # 7 hours
        (wib(12, 9), "at_risk"),  # finishing exactly on time, no slack
        (wib(12, 8, 59), "late"),
        (wib(11, 16), "late"),
    ],
)
def test_status_against_the_due_date(due_at, status):
    assert status_with_due(due_at) == status


def test_the_at_risk_threshold_can_be_set():
    assert status_with_due(wib(12, 9), at_risk_slack_minutes=0) == "on_track"
    assert status_with_due(wib(12, 10), at_risk_slack_minutes=61) == "at_risk"
    assert status_with_due(wib(12, 10), at_risk_slack_minutes=60) == "on_track"
    with pytest.raises(ValueError, match="must not be negative"):
        status_with_due(wib(12, 10), at_risk_slack_minutes=-1)


def test_a_finished_run_is_on_track_or_late_never_at_risk():
    tasks = [TaskInput(1, 60, "done", wib(11, 8), wib(11, 15))]
    on_time = compute_schedule(tasks, [], CAL, wib(11, 15), wib(11, 16))
    assert on_time.status == "on_track"
    late = compute_schedule(tasks, [], CAL, wib(11, 15), wib(11, 14))
    assert late.status == "late"


def test_an_empty_run_finishes_now():
    schedule = compute_schedule([], [], CAL, MONDAY_MORNING, None)
    assert schedule.tasks == {}
    assert schedule.critical_path == []
    assert schedule.projected_finish == MONDAY_MORNING


# -- the critical path -------------------------------------------------------------------


def test_ties_between_branches_go_to_the_lowest_id():
    tasks = [pending(1, 60), pending(5, 120), pending(3, 120), pending(9, 60)]
    deps = [DepInput(1, 5), DepInput(1, 3), DepInput(5, 9), DepInput(3, 9)]
    schedule = compute_schedule(tasks, deps, CAL, MONDAY_MORNING, None)
    assert schedule.critical_path == [1, 3, 9]
    assert schedule.tasks[5].slack_minutes == 0  # as long, but not the path chosen
    assert not schedule.tasks[5].critical
    assert schedule.tasks[3].critical


def test_ties_between_last_tasks_go_to_the_lowest_id():
    tasks = [pending(7, 60), pending(4, 60), pending(2, 30)]
    schedule = compute_schedule(tasks, [], CAL, MONDAY_MORNING, None)
    assert schedule.critical_path == [4]


def test_the_critical_path_follows_start_to_start_links():
    tasks = [pending(1, 600), pending(2, 60)]
    schedule = compute_schedule(
        tasks, [DepInput(1, 2, SS, 900)], CAL, MONDAY_MORNING, None
    )
    assert schedule.critical_path == [1, 2]
    assert schedule.projected_finish == wib(12, 16)  # 900 + 60 minutes
    # 1 ends long before 2, but its start holds 2's start: no slack.
    assert schedule.tasks[1].slack_minutes == 0
    assert schedule.tasks[1].latest_finish == wib(12, 10)


# -- refused input --------------------------------------------------------------------------


def test_a_cycle_is_refused_naming_it():
    tasks = [pending(i, 60) for i in (1, 2, 3, 4)]
    deps = [DepInput(1, 2), DepInput(2, 3), DepInput(3, 1), DepInput(3, 4)]
    with pytest.raises(ValueError, match=r"^dependency cycle: 1 -> 2 -> 3 -> 1$"):
        compute_schedule(tasks, deps, CAL, MONDAY_MORNING, None)
    with pytest.raises(ValueError, match=r"^dependency cycle: 1 -> 2 -> 3 -> 1$"):
        longest_remaining_paths([1, 2, 3, 4], deps, dict.fromkeys([1, 2, 3, 4], 60))


def test_a_cycle_is_named_even_behind_other_tasks():
    tasks = [pending(i, 60) for i in (1, 7, 8, 9)]
    deps = [DepInput(1, 9), DepInput(9, 8), DepInput(8, 7), DepInput(7, 9)]
    with pytest.raises(ValueError, match=r"^dependency cycle: 7 -> 9 -> 8 -> 7$"):
        compute_schedule(tasks, deps, CAL, MONDAY_MORNING, None)


def test_a_task_depending_on_itself_is_a_cycle():
    with pytest.raises(ValueError, match=r"^dependency cycle: 5 -> 5$"):
        compute_schedule([pending(5, 60)], [DepInput(5, 5)], CAL, MONDAY_MORNING, None)


@pytest.mark.parametrize(
    ("tasks", "deps", "message"),
    [
        ([pending(1, -1)], [], "task 1 has a negative duration"),
        ([TaskInput(1, 60, "lost", None, None)], [], "task 1 has an unknown status"),
        ([pending(1, 60)], [DepInput(1, 2)], "dependency on unknown task 2"),
        ([pending(1, 60), pending(2, 60)], [DepInput(1, 2, FS, -5)], "negative lag"),
        ([pending(1, 60), pending(2, 60)], [DepInput(1, 2, "sometime")], "unknown"),
        ([pending(1, 60), pending(1, 30)], [], "task 1 is listed twice"),
        ([TaskInput(1, 60, "done", None, None)], [], "done but has no done_at"),
        (
            [TaskInput(1, 60, "in_progress", None, None)],
            [],
            "in_progress but has no started_at",
        ),
        (
            [TaskInput(1, 60, "done", wib(11, 10), wib(11, 9))],
            [],
            "done before it started",
        ),
        (
            [TaskInput(1, 60, "done", None, dt.datetime(2025, 8, 11, 9))],
            [],
            "timezone-aware",
        ),
    ],
)
def test_inconsistent_input_is_refused(tasks, deps, message):
    with pytest.raises(ValueError, match=message):
        compute_schedule(tasks, deps, CAL, MONDAY_MORNING, None)


def test_a_naive_now_or_due_date_is_refused():
    with pytest.raises(ValueError, match="now must be a timezone-aware"):
        compute_schedule([], [], CAL, dt.datetime(2025, 8, 11, 8), None)
    with pytest.raises(ValueError, match="due_at must be a timezone-aware"):
        compute_schedule([], [], CAL, MONDAY_MORNING, dt.datetime(2025, 8, 12))


# -- longest remaining paths -------------------------------------------------------------------


def test_longest_remaining_paths_of_the_diamond():
    remaining = longest_remaining_paths(
        [1, 2, 3, 4], DIAMOND_DEPS, {1: 240, 2: 240, 3: 120, 4: 60}
    )
    # 4: itself; 3: 2 h + 2 h lag + 1 h; 2: 4 h + 1 h; 1: 4 h + 5 h through 2.
    assert remaining == {1: 540, 2: 300, 3: 300, 4: 60}


def test_longest_remaining_paths_through_a_start_to_start_link():
    remaining = longest_remaining_paths(
        [1, 2], [DepInput(1, 2, SS, 50)], {1: 10, 2: 100}
    )
    assert remaining == {1: 150, 2: 100}
    # A short successor after a long start: the step's own duration decides.
    remaining = longest_remaining_paths(
        [1, 2], [DepInput(1, 2, SS, 5)], {1: 500, 2: 10}
    )
    assert remaining == {1: 500, 2: 10}


def test_longest_remaining_paths_of_a_chain_and_a_lone_step():
    remaining = longest_remaining_paths(
        [3, 1, 2, 9],
        [DepInput(1, 2, FS, 30), DepInput(2, 3)],
        {1: 60, 2: 60, 3: 60, 9: 15},
    )
    assert remaining == {1: 210, 2: 120, 3: 60, 9: 15}


def test_longest_remaining_paths_needs_every_duration():
    with pytest.raises(ValueError, match="no duration for step 2"):
        longest_remaining_paths([1, 2], [DepInput(1, 2)], {1: 60})
    with pytest.raises(ValueError, match="step 1 has a negative duration"):
        longest_remaining_paths([1], [], {1: -60})


# -- properties on random procedures -------------------------------------------------------------


@st.composite
def procedures(draw: st.DrawFn) -> tuple[list[int], list[DepInput], dict[int, int]]:
    """A random DAG: edges go from a lower to a higher position; random ids."""
    size = draw(st.integers(1, 8))
    ids = draw(
        st.lists(st.integers(1, 1000), min_size=size, max_size=size, unique=True)
    )
    pairs = [(a, b) for a in range(size) for b in range(a + 1, size)]
    chosen = draw(st.lists(st.sampled_from(pairs), unique=True)) if pairs else []
    deps = [
        DepInput(
            ids[a],
            ids[b],
            draw(st.sampled_from([FS, SS])),
            draw(st.sampled_from([0, 0, 30, 480, 700])),
        )
        for a, b in chosen
    ]
    durations = {
        task_id: draw(st.sampled_from([0, 15, 60, 240, 480, 1000])) for task_id in ids
    }
    # Listed in any order: the schedule must find the topological order itself.
    listed = draw(st.permutations(ids))
    return listed, deps, durations


nows = st.datetimes(
    dt.datetime(2025, 8, 1), dt.datetime(2025, 9, 30), timezones=st.just(UTC)
)


@settings(max_examples=300, deadline=None)
@given(procedure=procedures(), now=nows)
def test_random_procedures_satisfy_the_critical_path_rules(procedure, now):
    ids, deps, durations = procedure
    tasks = [pending(task_id, durations[task_id]) for task_id in ids]
    schedule = compute_schedule(tasks, deps, CAL, now, None)
    start = next_working_moment(CAL, now.replace(second=0, microsecond=0))
    if start < now:
        start = next_working_moment(CAL, start + dt.timedelta(minutes=1))

    def minutes(a: dt.datetime, b: dt.datetime) -> int:
        return working_minutes_between(CAL, a, b)

    finish = minutes(start, schedule.projected_finish)
    for task_id, task in schedule.tasks.items():
        assert task.earliest_start >= now
        assert task.earliest_start <= task.latest_start
        assert task.slack_minutes == minutes(task.earliest_start, task.latest_start)
        assert task.slack_minutes >= 0
        assert minutes(task.earliest_start, task.earliest_finish) == durations[task_id]
        assert minutes(task.latest_start, task.latest_finish) == durations[task_id]
        assert task.latest_finish <= schedule.projected_finish
        assert not task.critical or task.slack_minutes == 0
    for dep in deps:
        before = schedule.tasks[dep.predecessor]
        after = schedule.tasks[dep.successor]
        if dep.kind == FS:
            assert (
                minutes(before.earliest_finish, after.earliest_start) >= dep.lag_minutes
            )
            assert minutes(before.latest_finish, after.latest_start) >= dep.lag_minutes
        else:
            assert (
                minutes(before.earliest_start, after.earliest_start) >= dep.lag_minutes
            )
            assert minutes(before.latest_start, after.latest_start) >= dep.lag_minutes

    # The critical path is a path, starts now, and adds up to the projected finish.
    path = schedule.critical_path
    links = {(dep.predecessor, dep.successor): dep for dep in deps}
    assert schedule.tasks[path[0]].earliest_start == start
    total = durations[path[-1]]
    for before, after in pairwise(path):
        dep = links[(before, after)]
        total += dep.lag_minutes + (durations[before] if dep.kind == FS else 0)
    assert total == finish
    assert {i for i, task in schedule.tasks.items() if task.critical} == set(path)

    # The projected finish is the longest path, found here by brute force.
    assert finish == _longest_path_by_enumeration(ids, deps, durations)

    # The offsets core and the remaining paths agree with the schedule.
    offsets = critical_path_offsets(durations, deps)
    assert offsets.finish == finish
    assert offsets.critical_path == path
    remaining = longest_remaining_paths(ids, deps, durations)
    for task_id, task in schedule.tasks.items():
        assert offsets.earliest_start[task_id] == minutes(start, task.earliest_start)
        assert offsets.latest_start[task_id] == minutes(start, task.latest_start)
        assert offsets.latest_start[task_id] == finish - remaining[task_id]


statuses = st.sampled_from(
    ["pending", "ready", "in_progress", "awaiting", "done", "skipped", "cancelled"]
)


@settings(max_examples=300, deadline=None)
@given(procedure=procedures(), now=nows, data=st.data())
def test_random_runs_in_any_state_keep_the_schedule_consistent(procedure, now, data):
    ids, deps, durations = procedure
    tasks = []
    for task_id in ids:
        status = data.draw(statuses)
        started_at = done_at = None
        if status in ("in_progress", "awaiting", "done"):
            started_at = now - data.draw(
                st.timedeltas(dt.timedelta(0), dt.timedelta(days=10))
            )
        if status == "done":
            assert started_at is not None
            done_at = started_at + data.draw(
                st.timedeltas(dt.timedelta(0), now - started_at)
            )
        tasks.append(
            TaskInput(task_id, durations[task_id], status, started_at, done_at)
        )
    schedule = compute_schedule(tasks, deps, CAL, now, None)

    by_id = {task.id: task for task in tasks}
    for task_id, task in schedule.tasks.items():
        status = by_id[task_id].status
        assert task.earliest_start <= task.earliest_finish
        assert task.earliest_start <= task.latest_start
        assert task.earliest_finish <= task.latest_finish
        assert task.slack_minutes >= 0
        assert task.earliest_finish <= schedule.projected_finish
        if status in ("pending", "ready"):
            assert task.earliest_start >= now
        if status in ("pending", "ready", "in_progress", "awaiting"):
            assert task.earliest_finish >= now
        if status in ("in_progress", "awaiting", "done"):
            assert task.earliest_start == by_id[task_id].started_at
        if status == "done":
            assert task.earliest_finish == by_id[task_id].done_at
    for dep in deps:
        if by_id[dep.successor].status in ("in_progress", "awaiting", "done"):
            continue  # already started: actuals, whatever the plan said
        before = schedule.tasks[dep.predecessor]
        after = schedule.tasks[dep.successor]
        bound = before.earliest_finish if dep.kind == FS else before.earliest_start
        assert (
            working_minutes_between(CAL, bound, after.earliest_start) >= dep.lag_minutes
        )
    path = schedule.critical_path
    links = {(dep.predecessor, dep.successor) for dep in deps}
    assert all((a, b) in links for a, b in pairwise(path))
    assert schedule.tasks[path[-1]].earliest_finish == schedule.projected_finish


def _longest_path_by_enumeration(
    ids: list[int], deps: list[DepInput], durations: dict[int, int]
) -> int:
    """The longest duration-weighted path, trying every path from every task."""
    outgoing: dict[int, list[DepInput]] = {task_id: [] for task_id in ids}
    for dep in deps:
        outgoing[dep.predecessor].append(dep)

    def longest_from(task_id: int, start: int) -> int:
        best = start + durations[task_id]
        for dep in outgoing[task_id]:
            base = start if dep.kind == SS else start + durations[task_id]
            best = max(best, longest_from(dep.successor, base + dep.lag_minutes))
        return best

    return max(longest_from(task_id, 0) for task_id in ids)


# -- against a reference: the definitions, relaxed until nothing moves ----------------------


def _reference_cpm(
    deps: list[DepInput],
    durations: dict[int, int],
    actuals: dict[int, tuple[int, int]] | None = None,
    passed: frozenset[int] = frozenset(),
) -> tuple[OffsetSchedule, Callable[[int], list[int]]]:
    """The critical path method straight from its definitions, in working minutes
    from now, and the critical chain that ends at a given task.

    No topological order and no cleverness: every dependency is checked again and
    again until no bound moves. ``actuals`` fixes a task's start and finish (it
    has started); ``passed`` tasks take no time from the earliest actual start.
    """
    actuals = actuals or {}
    origin = min([0, *(start for start, _ in actuals.values())])
    span: dict[int, int] = {}
    earliest: dict[int, int] = {}  # starts
    for task, minutes in durations.items():
        if task in actuals:
            earliest[task] = actuals[task][0]
            span[task] = actuals[task][1] - actuals[task][0]
        elif task in passed:
            earliest[task], span[task] = origin, 0
        else:
            earliest[task], span[task] = 0, minutes
    # A task that has started is not moved, nor does it hold its predecessors.
    moving = [dep for dep in deps if dep.successor not in actuals]

    def gap(dep: DepInput) -> int:  # from the predecessor's start to the successor's
        return dep.lag_minutes + (0 if dep.kind == SS else span[dep.predecessor])

    def bound(dep: DepInput) -> int:
        return earliest[dep.predecessor] + gap(dep)

    changed = True
    while changed:
        changed = False
        for dep in moving:
            if bound(dep) > earliest[dep.successor]:
                earliest[dep.successor] = bound(dep)
                changed = True
    finish = max(earliest[task] + span[task] for task in durations)
    latest = {task: finish - span[task] for task in durations}  # starts
    changed = True
    while changed:
        changed = False
        for dep in moving:
            if latest[dep.successor] - gap(dep) < latest[dep.predecessor]:
                latest[dep.predecessor] = latest[dep.successor] - gap(dep)
                changed = True

    def chain_to(task: int) -> list[int]:
        """Back along the lowest-id predecessor whose bound set each start."""
        chain = [task]
        while task not in actuals:
            setters = [
                dep.predecessor
                for dep in moving
                if dep.successor == task and bound(dep) == earliest[task]
            ]
            if not setters:
                break
            task = min(setters)
            chain.append(task)
        return chain[::-1]

    last = min(task for task in durations if earliest[task] + span[task] == finish)
    schedule = OffsetSchedule(
        earliest_start=earliest,
        earliest_finish={task: earliest[task] + span[task] for task in durations},
        latest_start=latest,
        latest_finish={task: latest[task] + span[task] for task in durations},
        critical_path=chain_to(last),
        finish=finish,
    )
    return schedule, chain_to


def _reference_remaining(
    deps: list[DepInput], durations: dict[int, int]
) -> dict[int, int]:
    """Per step, the longest path from its start, relaxed until nothing moves."""
    remaining = dict(durations)
    changed = True
    while changed:
        changed = False
        for dep in deps:
            after = 0 if dep.kind == SS else durations[dep.predecessor]
            through = after + dep.lag_minutes + remaining[dep.successor]
            if through > remaining[dep.predecessor]:
                remaining[dep.predecessor] = through
                changed = True
    return remaining


@settings(max_examples=400, deadline=None)
@given(procedure=procedures())
def test_random_procedures_match_the_reference_exactly(procedure):
    ids, deps, durations = procedure
    listed = {task_id: durations[task_id] for task_id in ids}  # in any order
    expected, _ = _reference_cpm(deps, durations)

    assert critical_path_offsets(listed, deps) == expected
    assert longest_remaining_paths(ids, deps, durations) == _reference_remaining(
        deps, durations
    )


@settings(max_examples=400, deadline=None)
@given(procedure=procedures(), data=st.data())
def test_random_runs_in_any_state_match_the_reference(procedure, data):
    ids, deps, durations = procedure
    # Now and every actual on whole working minutes, so offsets are exact.
    now = add_working_minutes(CAL, MONDAY_MORNING, data.draw(st.integers(0, 2400)))
    tasks = []
    actuals: dict[int, tuple[int, int]] = {}
    passed = set()
    for task_id in ids:
        status = data.draw(statuses)
        started_at = done_at = None
        if status in ("in_progress", "awaiting", "done"):
            began = data.draw(st.integers(0, 1440))  # working minutes before now
            started_at = subtract_working_minutes(CAL, now, began)
            # Its estimate, but never before now.
            actuals[task_id] = (-began, max(0, durations[task_id] - began))
        if status == "done":
            ended = data.draw(st.integers(0, began))
            done_at = subtract_working_minutes(CAL, now, ended)
            actuals[task_id] = (-began, -ended)
        if status in ("skipped", "cancelled"):
            passed.add(task_id)
        tasks.append(
            TaskInput(task_id, durations[task_id], status, started_at, done_at)
        )
    expected, chain_to = _reference_cpm(deps, durations, actuals, frozenset(passed))

    schedule = compute_schedule(tasks, deps, CAL, now, None)

    for task in tasks:
        if task.status == "done":
            slack = 0
        elif task.id in actuals:  # how much later it may still finish
            slack = expected.latest_finish[task.id] - expected.earliest_finish[task.id]
        else:
            slack = expected.latest_start[task.id] - expected.earliest_start[task.id]
        assert schedule.tasks[task.id].slack_minutes == slack
    last = schedule.critical_path[-1]
    assert schedule.critical_path == chain_to(last)
    assert expected.earliest_finish[last] == expected.finish
    assert working_minutes_between(CAL, now, schedule.projected_finish) == (
        expected.finish
    )
