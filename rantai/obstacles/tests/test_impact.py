"""The what-if impact of an expected delay: which unfinished tasks move and by how
much, the projected finish and the status against the due date before and after.
`impact_of` against hand-computed schedules (no database), then `what_if` on a
real run (what it reads, that it saves nothing, that it agrees with the schedule
once the delay is carried into it)."""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

import pytest

from rantai.chains import projection
from rantai.chains import services as chains
from rantai.chains.calendar import CalendarSpec
from rantai.chains.models import Run, Task
from rantai.chains.scheduling import DepInput, TaskInput, compute_schedule
from rantai.chains.tests.helpers import DAY, StepSpec, at, build_version, start
from rantai.obstacles.impact import (
    DependencyRow,
    Impact,
    MovedTask,
    TaskRow,
    impact_of,
    what_if,
)

JAKARTA = ZoneInfo("Asia/Jakarta")
CAL = CalendarSpec(
    time_zone="Asia/Jakarta",
    working_weekdays=frozenset({0, 1, 2, 3, 4}),
    day_start=dt.time(8),
    day_end=dt.time(16),
    holidays=frozenset(),
)
FS = "finish_to_start"
SS = "start_to_start"


def wib(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in March 2026, Jakarta time (UTC+7); 2 March is a Monday."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=JAKARTA)


NOW = wib(2, 8)
FAR = wib(20, 16)  # a due date nothing here comes near


def task(
    task_id: int,
    minutes: int,
    status: str = "pending",
    *,
    delay: int = 0,
    started: dt.datetime | None = None,
    done: dt.datetime | None = None,
) -> TaskRow:
    return TaskRow(
        task_id,
        f"t{task_id}",
        f"Task {task_id}",
        status,
        minutes,
        delay,
        started,
        done,
        None,
        task_id * 10,
    )


def link(
    predecessor: int, successor: int, kind: str = FS, lag: int = 0
) -> DependencyRow:
    return DependencyRow(predecessor, successor, kind, lag)


def impact(
    tasks: list[TaskRow],
    dependencies: list[DependencyRow],
    *,
    task_id: int | None,
    delay: int,
    hold: int = 0,
    now: dt.datetime = NOW,
    due_at: dt.datetime = FAR,
) -> Impact:
    return impact_of(
        tasks,
        dependencies,
        calendar=CAL,
        now=now,
        due_at=due_at,
        hold_minutes=hold,
        task_id=task_id,
        delay_minutes=delay,
    )


def moves(result: Impact) -> dict[int, tuple[int, dt.datetime, dt.datetime]]:
    """Per moved task: (shift, finish before, finish after)."""
    return {
        moved.task_id: (moved.shift_minutes, moved.finish_before, moved.finish_after)
        for moved in result.moved
    }


# A chain: 1 (1 h) -> 2 (2 h) -> 3 (1 h), from Monday 08:00: 09:00, 11:00, 12:00.
CHAIN = [task(1, 60, "ready"), task(2, 120), task(3, 60)]
CHAIN_LINKS = [link(1, 2), link(2, 3)]


def test_a_delay_on_the_first_task_of_a_chain_moves_the_whole_chain():
    result = impact(CHAIN, CHAIN_LINKS, task_id=1, delay=30)

    assert moves(result) == {
        1: (30, wib(2, 9), wib(2, 9, 30)),
        2: (30, wib(2, 11), wib(2, 11, 30)),
        3: (30, wib(2, 12), wib(2, 12, 30)),
    }
    assert (result.finish_before, result.finish_after) == (wib(2, 12), wib(2, 12, 30))
    assert result.delay_minutes == 30
    assert result.moved[0] == MovedTask(
        1, "Task 1", "t1", 30, wib(2, 9), wib(2, 9, 30), None, 10
    )


def test_a_delay_in_the_middle_leaves_the_tasks_before_it():
    result = impact(CHAIN, CHAIN_LINKS, task_id=2, delay=300)

    # task 2 runs 7 h from 09:00, to the end of the day; task 3 on Tuesday
    assert moves(result) == {
        2: (300, wib(2, 11), wib(2, 16)),
        3: (300, wib(2, 12), wib(3, 9)),
    }
    assert result.finish_after == wib(3, 9)


def test_the_before_includes_the_open_delays():
    tasks = [task(1, 60, "ready", delay=60), task(2, 120), task(3, 60)]

    result = impact(tasks, CHAIN_LINKS, task_id=3, delay=60)

    # task 1 already takes 2 h: the chain ended at 13:00, now at 14:00
    assert moves(result) == {3: (60, wib(2, 13), wib(2, 14))}
    assert (result.finish_before, result.finish_after) == (wib(2, 13), wib(2, 14))


# A branch: 1 (1 h) -> {2 (4 h), 3 (1 h)} -> 4 (1 h). 2 is critical (09:00-13:00,
# then 4 until 14:00); 3 (09:00-10:00) has 3 h of slack.
BRANCH = [task(1, 60, "ready"), task(2, 240), task(3, 60), task(4, 60)]
BRANCH_LINKS = [link(1, 2), link(1, 3), link(2, 4), link(3, 4)]


def test_a_delay_within_the_slack_of_a_branch_moves_only_that_branch():
    result = impact(BRANCH, BRANCH_LINKS, task_id=3, delay=120)

    assert moves(result) == {3: (120, wib(2, 10), wib(2, 12))}
    assert result.finish_before == result.finish_after == wib(2, 14)
    assert result.status_before == result.status_after == "on_track"
    assert not result.puts_target_at_risk


def test_a_delay_beyond_the_slack_moves_what_follows_by_the_excess():
    result = impact(BRANCH, BRANCH_LINKS, task_id=3, delay=240)

    # 3 now ends at 14:00, an hour after 2: task 4 moves by that hour
    assert moves(result) == {
        3: (240, wib(2, 10), wib(2, 14)),
        4: (60, wib(2, 14), wib(2, 15)),
    }
    assert result.finish_after == wib(2, 15)


def test_start_to_start_successors_follow_the_start_not_the_finish():
    # 1 (1 h) -> 2 (4 h); 3 (1 h) starts an hour after 2 starts; 3 -> 4 (1 h).
    # 2: 09:00-13:00; 3: 10:00-11:00; 4: 11:00-12:00.
    tasks = [task(1, 60, "ready"), task(2, 240), task(3, 60), task(4, 60)]
    links = [link(1, 2), link(2, 3, SS, 60), link(3, 4)]

    longer = impact(tasks, links, task_id=2, delay=120)
    later = impact(tasks, links, task_id=1, delay=30)

    # a longer task 2 moves only itself; a later start moves everything after it
    assert moves(longer) == {2: (120, wib(2, 13), wib(2, 15))}
    assert moves(later) == {
        1: (30, wib(2, 9), wib(2, 9, 30)),
        2: (30, wib(2, 13), wib(2, 13, 30)),
        3: (30, wib(2, 11), wib(2, 11, 30)),
        4: (30, wib(2, 12), wib(2, 12, 30)),
    }


def test_a_hold_on_the_run_comes_on_top_of_the_current_hold():
    # the run is already held an hour: the chain runs 09:00-13:00
    result = impact(CHAIN, CHAIN_LINKS, task_id=None, delay=DAY, hold=60)

    # a working day more: every task a day later
    assert moves(result) == {
        1: (DAY, wib(2, 10), wib(3, 10)),
        2: (DAY, wib(2, 12), wib(3, 12)),
        3: (DAY, wib(2, 13), wib(3, 13)),
    }


def test_a_done_task_never_moves():
    # 1 done (Monday 08:00-09:00), 2 (2 h) in progress since 09:00, 3 (1 h)
    # pending; seen at 10:00
    tasks = [
        task(1, 60, "done", started=wib(2, 8), done=wib(2, 9)),
        task(2, 120, "in_progress", started=wib(2, 9)),
        task(3, 60),
    ]

    held = impact(tasks, CHAIN_LINKS, task_id=None, delay=120, now=wib(2, 10))
    on_done = impact(tasks, CHAIN_LINKS, task_id=1, delay=600, now=wib(2, 10))

    assert moves(held) == {
        2: (120, wib(2, 11), wib(2, 13)),
        3: (120, wib(2, 12), wib(2, 14)),
    }
    assert on_done.moved == []
    assert on_done.finish_before == on_done.finish_after == wib(2, 12)


def test_a_done_tasks_lag_still_holds_its_successor():
    # 1 done at 09:00 with 3 h of lag before 2 (1 h) may start: 12:00-13:00
    tasks = [task(1, 60, "done", started=wib(2, 8), done=wib(2, 9)), task(2, 60)]
    links = [link(1, 2, FS, 180)]

    small_hold = impact(tasks, links, task_id=None, delay=60, now=wib(2, 10))
    big_hold = impact(tasks, links, task_id=None, delay=180, now=wib(2, 10))

    # a hold that ends before the lag does moves nothing; a longer one does
    assert small_hold.moved == []
    assert moves(big_hold) == {2: (60, wib(2, 13), wib(2, 14))}


def test_the_status_against_the_due_date_before_and_after():
    # the chain ends Monday 12:00; due Tuesday 12:00: a working day to spare
    due = wib(3, 12)

    nothing = impact(CHAIN, CHAIN_LINKS, task_id=3, delay=0, due_at=due)
    hour = impact(CHAIN, CHAIN_LINKS, task_id=3, delay=60, due_at=due)
    days = impact(CHAIN, CHAIN_LINKS, task_id=3, delay=600, due_at=due)

    assert (nothing.status_before, nothing.status_after) == ("on_track", "on_track")
    assert nothing.moved == [] and not nothing.puts_target_at_risk
    assert (hour.status_before, hour.status_after) == ("on_track", "at_risk")
    assert hour.puts_target_at_risk
    assert (days.finish_after, days.status_after) == (wib(3, 14), "late")
    assert days.puts_target_at_risk
    assert days.due_at == due


def test_a_shorter_delay_moves_tasks_earlier():
    tasks = [task(1, 60, "ready", delay=120), task(2, 120), task(3, 60)]

    result = impact(tasks, CHAIN_LINKS, task_id=1, delay=-120)

    assert [moved.shift_minutes for moved in result.moved] == [-120, -120, -120]
    assert result.finish_after == wib(2, 12)
    with pytest.raises(ValueError, match="cannot become negative"):
        impact(tasks, CHAIN_LINKS, task_id=1, delay=-121)


def test_an_unknown_task_is_refused():
    with pytest.raises(ValueError, match="task 9 is not a task of this run"):
        impact(CHAIN, CHAIN_LINKS, task_id=9, delay=60)


def test_a_broken_graph_is_refused():
    with pytest.raises(ValueError, match="dependency on unknown task 7"):
        impact(CHAIN, [*CHAIN_LINKS, link(7, 1)], task_id=1, delay=60)
    with pytest.raises(ValueError, match="dependency cycle: 1 -> 2 -> 3 -> 1"):
        impact(CHAIN, [*CHAIN_LINKS, link(3, 1)], task_id=1, delay=60)


def test_the_impact_as_stored_and_back():
    result = impact(CHAIN, CHAIN_LINKS, task_id=2, delay=60, due_at=wib(2, 12, 30))

    data = result.as_json()

    assert data["moved"][0] == {
        "task_id": 2,
        "name": "Task 2",
        "key": "t2",
        "shift_minutes": 60,
        "finish_before": "2026-03-02T04:00:00+00:00",
        "finish_after": "2026-03-02T05:00:00+00:00",
        "party_id": None,
        "position_id": 20,
    }
    assert (data["status_before"], data["status_after"]) == ("at_risk", "late")
    assert data["puts_target_at_risk"] is True
    assert Impact.from_json(data) == result


def test_leaving_out_done_tasks_that_hold_nothing_back_changes_nothing():
    # 1 done 08:00-09:00, 2 done 09:00-10:00, 3 (1 h) pending; seen at 10:00
    tasks = [
        task(1, 60, "done", started=wib(2, 8), done=wib(2, 9)),
        task(2, 60, "done", started=wib(2, 9), done=wib(2, 10)),
        task(3, 60),
    ]

    every = impact(tasks, CHAIN_LINKS, task_id=3, delay=30, now=wib(2, 10))
    fewer = impact_of(
        tasks[1:],
        CHAIN_LINKS[1:],
        calendar=CAL,
        now=wib(2, 10),
        due_at=FAR,
        hold_minutes=0,
        task_id=3,
        delay_minutes=30,
        earliest_start=wib(2, 8),
        last_finish=wib(2, 10),
    )

    assert every == fewer
    assert moves(every) == {3: (30, wib(2, 11), wib(2, 11, 30))}


def test_a_skipped_task_without_predecessors_sits_at_the_earliest_start():
    # 1 done 08:00-09:00; 2 skipped, no predecessors; 3 (1 h) two hours after 2
    tasks = [
        task(1, 60, "done", started=wib(2, 8), done=wib(2, 9)),
        task(2, 60, "skipped"),
        task(3, 60),
    ]
    links = [link(2, 3, FS, 120)]

    result = impact(tasks, links, task_id=None, delay=30, now=wib(2, 9))

    # 2 counts from 08:00, so 3 may start at 10:00; the hold (09:30) is earlier
    assert result.moved == []
    assert result.finish_before == result.finish_after == wib(2, 11)
    schedule = compute_schedule(
        [
            TaskInput(1, 60, "done", wib(2, 8), wib(2, 9)),
            TaskInput(2, 60, "skipped"),
            TaskInput(3, 60, "pending"),
        ],
        [DepInput(2, 3, FS, 120)],
        CAL,
        wib(2, 9),
        FAR,
        hold_minutes=30,
    )
    assert schedule.projected_finish == result.finish_after


# --- what_if on a run ------------------------------------------------------------------


@pytest.fixture
def chain_run(acme):  # type: ignore[no-untyped-def]
    """pack (1 day) -> load (2 days) -> ship (1 day), started Monday 2 March
    08:00 WIB, due in 14 days (Monday 16 March 08:00): ends Thursday 5 March."""
    o = acme
    version = build_version(
        o,
        [
            StepSpec("pack", o.export_head, o.export_head),
            StepSpec("load", o.export_staff, o.export_head, days="2", after=["pack"]),
            StepSpec("ship", o.forwarder, o.export_head, after=["load"]),
        ],
    )
    return start(version, o.member)


def by_key(run: Run) -> dict[str, Task]:
    return {t.key: t for t in Task.objects.filter(run=run)}


def test_what_if_on_a_task_reports_the_moves_and_saves_nothing(acme, chain_run):
    tasks = by_key(chain_run)
    before = list(Task.objects.filter(run=chain_run).values_list("delay_minutes"))

    result = what_if(chain_run, task=tasks["load"], delay_minutes=2 * DAY, now=at(0))

    # load and ship two working days later: Monday 9 March instead of Thursday
    assert [(m.key, m.shift_minutes) for m in result.moved] == [
        ("load", 2 * DAY),
        ("ship", 2 * DAY),
    ]
    assert (result.finish_before, result.finish_after) == (wib(5, 16), wib(9, 16))
    assert (result.status_before, result.status_after) == ("on_track", "on_track")
    assert [(m.party_id, m.position_id) for m in result.moved] == [
        (None, acme.export_staff.pk),
        (acme.forwarder.pk, None),
    ]
    assert list(Task.objects.filter(run=chain_run).values_list("delay_minutes")) == (
        before
    )


def test_what_if_agrees_with_the_schedule_once_the_delay_is_carried(acme, chain_run):
    # given pack done at 09:00, load expected an hour late, the run held 30 min
    tasks = by_key(chain_run)
    chains.complete_task(
        tasks["pack"], actor=acme.member, expected_version=None, now=at(60)
    )
    chains.set_expected_delays(
        chain_run, task_delays={tasks["load"].pk: 60}, hold_minutes=30, now=at(120)
    )

    # when a day's hold more is asked about, then carried into the schedule
    held = what_if(chain_run, delay_minutes=DAY, now=at(120))
    chains.set_expected_delays(
        chain_run,
        task_delays={tasks["load"].pk: 60},
        hold_minutes=30 + DAY,
        now=at(120),
    )
    chain_run.refresh_from_db()
    full = projection.full_schedule(chain_run, now=at(120))

    # then the what-if foresaw the schedule: load and ship a day later, pack not
    assert [m.key for m in held.moved] == ["load", "ship"]
    assert held.finish_after == chain_run.projected_finish_at == full.projected_finish
    assert held.status_after == chain_run.schedule_status == full.status
    assert {m.task_id: m.finish_after for m in held.moved} == {
        task.pk: full.tasks[task.pk].earliest_finish
        for task in (tasks["load"], tasks["ship"])
    }
    # load (2 days + 1 h) from Tuesday 10:30 (now, 30 min and a day later):
    # Thursday 5 March 11:30
    assert full.tasks[tasks["load"].pk].earliest_finish == wib(5, 11, 30)


def test_what_if_refuses_a_task_of_another_run(acme, chain_run):
    other = start(chain_run.procedure_version, acme.member, title="Another run")

    with pytest.raises(ValueError, match="is not a task of this run"):
        what_if(chain_run, task=by_key(other)["load"], delay_minutes=60, now=at(0))


def test_what_if_reads_three_statements(chain_run, django_assert_num_queries):
    tasks = by_key(chain_run)
    what_if(chain_run, task=tasks["pack"], delay_minutes=60, now=at(0))  # warm

    # the run with its calendar, its tasks, its dependencies
    with django_assert_num_queries(3):
        what_if(chain_run, task=tasks["pack"], delay_minutes=60, now=at(0))
    with django_assert_num_queries(3):
        what_if(chain_run, delay_minutes=60, now=at(0))
