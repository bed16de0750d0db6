"""Early warnings: each rule raises a warning when its condition holds and none
when it does not; a warning is raised once, refreshed while it holds and resolved
when it stops; the right people are told and only they can acknowledge it;
partners see only their own part; the worker scans every ten minutes, once even
with two workers; a scan reads a fixed number of statements whatever the number
of runs.

The world of `factories.world()` (Jakarta, 08:00-16:00, Monday to Friday; T0 is
Monday 2 March 2026, 08:00): pack (export clerk, Ani assigned; accountable Rina)
→ ship (the forwarder, 2 days) → store (head of warehouse Wati), due Tuesday 10
March 08:00, projected to finish Thursday 5 March 16:00: 960 working minutes of
margin.
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import threading
import time
from collections.abc import Callable
from typing import Any
from unittest import mock
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.access import access_for
from rantai.accounts.models import Membership, User
from rantai.approvals import requesting, routes
from rantai.approvals import services as approvals
from rantai.approvals.models import ApprovalRequest, ApproverRule, SubjectKind
from rantai.audit.models import AuditVerb
from rantai.chains import services as chains
from rantai.chains.calendar import CalendarSpec, working_minutes_between
from rantai.chains.models import Run, Task
from rantai.chains.scheduling import DepInput, TaskInput, compute_schedule
from rantai.core.errors import PermissionDenied
from rantai.evidence import records
from rantai.evidence import verification as evidence_verification
from rantai.notifications.models import Delivery, Notification
from rantai.obstacles import policy
from rantai.obstacles import warnings as w_
from rantai.obstacles.models import (
    EarlyWarning,
    WarningKind,
    WarningRecipient,
    WarningScan,
)
from rantai.obstacles.tests import factories
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Holding
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg

JAKARTA = ZoneInfo("Asia/Jakarta")
T0 = factories.T0
pytestmark = pytest.mark.django_db

CALENDAR = CalendarSpec(
    "Asia/Jakarta", frozenset(range(5)), dt.time(8), dt.time(16), frozenset()
)


def local(day: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment in March 2026, Jakarta time."""
    return dt.datetime(2026, 3, day, hour, minute, tzinfo=JAKARTA)


def scan(w: factories.World, now: dt.datetime) -> w_.ScanResult:
    return w_.scan(now=now, organisation_ids=[w.organisation.pk])


def active(organisation: Any) -> dict[tuple[str, str], EarlyWarning]:
    return {
        (warning.kind, warning.subject_key): warning
        for warning in EarlyWarning.objects.filter(
            organisation=organisation, resolved_at__isnull=True
        )
    }


def recipients(warning: EarlyWarning) -> set[int]:
    return set(warning.deliveries.values_list("user_id", flat=True))


def task_key(w: factories.World, key: str) -> str:
    return f"task:{w.task(key).pk}"


# --- the schedule and the rules, without a database --------------------------------


def run_row(due_at: dt.datetime) -> w_.RunRow:
    return w_.RunRow(1, 1, "Ship", due_at, 0, owner_position_id=10)


def three_tasks(*, pack_status: str = "ready", started: dt.datetime | None = None):
    ready = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # Monday 08:00
    return [
        w_.TaskRow(
            1,
            1,
            "Pack",
            pack_status,
            480,
            ready_at=ready,
            started_at=started,
            responsible_position_id=20,
            accountable_position_id=10,
        ),
        w_.TaskRow(2, 1, "Ship", "pending", 960, responsible_party_id=30),
        w_.TaskRow(
            3,
            1,
            "Store",
            "pending",
            480,
            responsible_position_id=40,
            accountable_position_id=40,
        ),
    ]


DEPENDENCIES = [DepInput(1, 2), DepInput(2, 3)]


def test_the_schedule_gives_slack_against_the_due_date_and_the_slack_used():
    # Tuesday 13:00: pack has waited 780 working minutes since it became ready
    due = local(10, 8)
    run, tasks = w_.schedule_run(
        run_row(due), three_tasks(), DEPENDENCIES, calendar=CALENDAR, now=local(3, 13)
    )

    # it ends Monday 9 March 13:00: 180 minutes before the due date
    assert run.projected_finish == local(9, 13)
    assert run.margin_minutes == 180
    assert not run.is_late
    assert run.party_ids == frozenset({30})
    pack, ship, store = tasks
    # pack had 960 minutes of slack when ready; 180 are left; it must be done by
    # Wednesday 16:00 (due date minus ship and store)
    assert (pack.slack_minutes, pack.initial_slack_minutes) == (180, 960)
    assert run.finish_by(pack) == local(4, 16)
    assert pack.due_in_minutes == 180 + 480
    # pending tasks have not become ready: nothing used
    assert (ship.slack_minutes, ship.initial_slack_minutes) == (180, 180)
    # the end of the day before Tuesday 08:00
    assert run.finish_by(store) == local(9, 16)


def test_a_started_task_uses_slack_by_running_longer_than_its_estimate():
    due = local(10, 8)
    # started Monday 10:00, still in progress on Tuesday 12:00: expected to end now
    # at the earliest, 240 minutes past its estimate (and 120 after a late start)
    run, tasks = w_.schedule_run(
        run_row(due),
        three_tasks(pack_status="in_progress", started=local(2, 10)),
        DEPENDENCIES,
        calendar=CALENDAR,
        now=local(3, 12),
    )

    pack = tasks[0]
    assert run.margin_minutes == 960 - 240
    assert (pack.slack_minutes, pack.initial_slack_minutes) == (720, 960)


def test_an_expected_delay_uses_slack_and_a_hold_moves_the_finish():
    due = local(10, 8)
    rows = three_tasks()
    rows[0] = dataclasses.replace(rows[0], delay_minutes=600)
    held = w_.RunRow(1, 1, "Ship", due, 300, owner_position_id=10)

    run, tasks = w_.schedule_run(
        held, rows, DEPENDENCIES, calendar=CALENDAR, now=local(2, 8)
    )

    assert run.margin_minutes == 960 - 600 - 300
    assert (tasks[0].slack_minutes, tasks[0].initial_slack_minutes) == (60, 960)


def test_the_scan_schedule_agrees_with_the_full_schedule():
    # a split (done), two branches — one in progress with an expected delay, one
    # ready after a lag and followed start-to-start — and a join; a hold of 30
    tasks = [
        w_.TaskRow(
            1, 1, "Split", "done", 240, started_at=local(2, 8), done_at=local(2, 12)
        ),
        w_.TaskRow(
            2,
            1,
            "A",
            "in_progress",
            480,
            delay_minutes=120,
            ready_at=local(2, 12),
            started_at=local(2, 13),
        ),
        w_.TaskRow(3, 1, "B", "ready", 360, ready_at=local(2, 12)),
        w_.TaskRow(4, 1, "C", "pending", 120),
        w_.TaskRow(5, 1, "Join", "pending", 480),
    ]
    dependencies = [
        DepInput(1, 2),
        DepInput(1, 3, lag_minutes=60),
        DepInput(3, 4, "start_to_start", 90),
        DepInput(2, 5),
        DepInput(4, 5),
    ]
    now, due = local(3, 10), local(6, 12)

    run, found = w_.schedule_run(
        w_.RunRow(1, 1, "Run", due, 30, 10),
        tasks,
        dependencies,
        calendar=CALENDAR,
        now=now,
    )

    full = compute_schedule(
        [
            TaskInput(
                t.id,
                t.duration_minutes,
                t.status,
                t.started_at,
                t.done_at,
                t.delay_minutes,
            )
            for t in tasks
        ],
        dependencies,
        CALENDAR,
        now,
        due,
        hold_minutes=30,
    )
    margin = working_minutes_between(CALENDAR, full.projected_finish, due)
    assert run.projected_finish == full.projected_finish
    assert run.margin_minutes == margin
    assert [task.id for task in found] == [2, 3, 4, 5]
    for task in found:
        planned = full.tasks[task.id]
        assert task.slack_minutes == planned.slack_minutes + margin
        assert task.due_in_minutes == (
            working_minutes_between(CALENDAR, now, planned.latest_finish) + margin
        )
    a, b, c, _join = found
    # A: ready Monday 12:00, expected at its estimate plus delay plus hold
    assert a.initial_slack_minutes - a.slack_minutes == 60 + 120 + 30
    # B: ready Monday 12:00, waiting since: 240 + 120 + the hold
    assert b.initial_slack_minutes - b.slack_minutes == 240 + 120 + 30
    assert c.initial_slack_minutes == c.slack_minutes


def test_an_inconsistent_run_is_skipped_and_the_others_are_scanned(caplog):
    w = factories.world(due_days=3)
    scan(w, T0 + dt.timedelta(hours=1))
    before = set(active(w.organisation))
    other = f.start_run(w.run.procedure_version, actor=w.admin, due_days=3)
    # pack in progress without a start: the schedule cannot place it
    Task.objects.filter(run=w.run, key="pack").update(status="in_progress")

    result = scan(w, T0 + dt.timedelta(hours=2))

    assert (result.runs_scanned, result.resolved) == (1, 0)
    # the run's warnings stay as they were; the other run is warned
    found = active(w.organisation)
    mine = {key for key, warning in found.items() if warning.run_id == w.run.pk}
    assert mine == before
    assert {warning.run_id for warning in found.values()} == {w.run.pk, other.pk}
    assert f"cannot schedule run {w.run.pk}" in caplog.text


def states(slack: int, initial: int, *, status: str = "ready", **row: Any):
    task = w_.TaskRow(
        7,
        1,
        "Pack",
        status,
        480,
        accountable_position_id=10,
        responsible_position_id=20,
        **row,
    )
    return [w_.TaskState(task, slack, initial, 600)]


RUN = w_.RunState(1, 1, "Ship", local(10, 8), 10, local(9, 13), 180, CALENDAR, T0)
PEOPLE = w_.People(
    holders={10: frozenset({101}), 20: frozenset({201, 202})},
    occupied=frozenset({10, 20}),
    admins=frozenset({1}),
)


@pytest.mark.parametrize(
    ("slack", "initial", "warned"),
    [
        (193, 960, False),  # 79.9 % used
        (192, 960, True),  # exactly 80 %
        (1, 960, True),
        (0, 0, True),  # none left, none ever
        (-60, 960, True),  # behind
        (500, 500, False),  # nothing used
    ],
)
def test_slack_low_warns_from_the_threshold_on(slack, initial, warned):
    found = w_.slack_low(
        RUN, states(slack, initial), people=PEOPLE, thresholds=w_.Thresholds()
    )

    assert bool(found) is warned
    if warned:
        [finding] = found
        assert (finding.kind, finding.subject_key, finding.task_id) == (
            WarningKind.SLACK_LOW,
            "task:7",
            7,
        )
        # nobody assigned: the holders of the responsible position, and the
        # accountable's
        assert finding.recipient_user_ids == {201, 202, 101}


def test_slack_low_tells_the_assignee_instead_of_the_responsible_holders():
    [finding] = w_.slack_low(
        RUN,
        states(0, 960, assignee_id=5, assignee_user_id=555),
        people=PEOPLE,
        thresholds=w_.Thresholds(),
    )
    assert finding.recipient_user_ids == {555, 101}
    assert finding.facts["used_percent"] == 100


def test_slack_low_ignores_tasks_not_yet_ready():
    assert (
        w_.slack_low(
            RUN,
            states(-10, -10, status="pending"),
            people=PEOPLE,
            thresholds=w_.Thresholds(),
        )
        == []
    )


# --- slack_low -------------------------------------------------------------------------


def test_slack_low_is_raised_once_most_of_the_slack_is_used():
    w = factories.world()
    pack = w.task("pack")
    assert pack.assignee_id == w.ani.pk

    # Tuesday 13:00, pack still not started: 780 of its 960 minutes are used
    result = scan(w, local(3, 13))

    assert (result.raised, result.refreshed, result.resolved) == (1, 0, 0)
    [warning] = active(w.organisation).values()
    assert (warning.kind, warning.subject_key, warning.run_id, warning.task_id) == (
        WarningKind.SLACK_LOW,
        f"task:{pack.pk}",
        w.run.pk,
        pack.pk,
    )
    assert warning.facts == {
        "task": "Pack",
        "run": w.run.title,
        "finish_by": local(4, 16).astimezone(dt.UTC).isoformat(),
        "due_in_minutes": 660,
        "day_minutes": 480,
        "slack_minutes": 180,
        "initial_slack_minutes": 960,
        "used_percent": 81,
        "threshold_percent": 80,
    }
    # the assignee and the accountable (Rina)
    assert recipients(warning) == {w.user(w.ani).pk, w.o.member.pk}
    assert warning.raised_at == warning.checked_at == local(3, 13)


def test_slack_low_is_not_raised_while_enough_slack_is_left():
    w = factories.world()

    result = scan(w, T0 + dt.timedelta(hours=4))  # a quarter used

    assert result == w_.ScanResult(organisations=1, runs_scanned=1)
    assert active(w.organisation) == {}


def test_the_threshold_is_the_organisations():
    w = factories.world()
    settings = policy.settings_for(w.organisation)
    policy.update_settings(
        w.organisation,
        actor=w.admin,
        expected_version=settings.version,
        slack_warning_percent=20,
    )

    scan(w, T0 + dt.timedelta(hours=4))  # 25 % used

    assert set(active(w.organisation)) == {(WarningKind.SLACK_LOW, task_key(w, "pack"))}


def test_slack_low_is_resolved_when_the_task_is_done():
    w = factories.world()
    scan(w, local(3, 13))
    pack = w.task("pack")
    ani = w.user(w.ani)
    pack = chains.start_task(
        pack, actor=ani, expected_version=pack.version, now=local(3, 13, 30)
    )
    chains.complete_task(
        pack, actor=ani, expected_version=pack.version, now=local(3, 14)
    )

    result = scan(w, local(3, 14, 10))

    assert result.resolved == 1
    warning = EarlyWarning.objects.get(subject_key=f"task:{pack.pk}")
    assert warning.resolved_at == warning.checked_at == local(3, 14, 10)
    # ship is now ready with no slack used
    assert active(w.organisation) == {}


# --- run_late --------------------------------------------------------------------------


def test_run_late_is_raised_when_the_projected_finish_passes_the_due_date():
    w = factories.world(due_days=3)  # due Thursday 08:00, done Thursday 16:00

    scan(w, T0 + dt.timedelta(hours=1))

    found = active(w.organisation)
    late = found[(WarningKind.RUN_LATE, f"run:{w.run.pk}")]
    assert late.task_id is None
    assert late.facts == {
        "run": w.run.title,
        "projected_finish": local(6, 9).astimezone(dt.UTC).isoformat(),
        "due_at": local(5, 8).astimezone(dt.UTC).isoformat(),
        "late_minutes": 540,
        "day_minutes": 480,
    }
    # the owner position's holder and the accountable of pack: Rina
    assert recipients(late) == {w.o.member.pk}
    # pack has no slack left either
    assert set(found) == {
        (WarningKind.RUN_LATE, f"run:{w.run.pk}"),
        (WarningKind.SLACK_LOW, task_key(w, "pack")),
    }


def test_run_late_is_not_raised_for_a_run_on_track():
    w = factories.world()

    scan(w, T0 + dt.timedelta(hours=1))

    assert active(w.organisation) == {}


def test_an_obstacle_that_pushes_the_run_past_its_due_date_raises_run_late():
    w = factories.world()
    factories.make_obstacle(w, delay=1200)  # the whole run held up 2.5 days

    scan(w, T0 + dt.timedelta(hours=2))

    late = active(w.organisation)[(WarningKind.RUN_LATE, f"run:{w.run.pk}")]
    assert late.facts["late_minutes"] == 1200 - 960 + 120


def test_run_late_is_resolved_when_the_due_date_moves():
    w = factories.world(due_days=3)
    scan(w, T0 + dt.timedelta(hours=1))
    run = w.refresh()
    chains.move_due_date(
        run,
        actor=w.o.member,
        expected_version=run.version,
        due_at=T0 + dt.timedelta(days=14),
        reason="The customer agreed to wait",
        now=T0 + dt.timedelta(hours=2),
    )

    result = scan(w, T0 + dt.timedelta(hours=3))

    assert result.resolved == 2  # late, and pack's slack is back
    assert active(w.organisation) == {}
    assert EarlyWarning.objects.filter(resolved_at__isnull=False).count() == 2


# --- approval_due ------------------------------------------------------------------------


def due_date_route(w: factories.World, *, hours: int) -> None:
    """Due-date changes need the director's approval within `hours` working
    hours."""
    route = routes.create_route(
        w.organisation,
        actor=w.admin,
        code="DUE",
        name="Due-date changes",
        subject_kind=SubjectKind.DUE_DATE_CHANGE,
    )
    version = route.versions.get()
    routes.add_stage(
        version,
        actor=w.admin,
        name="Director",
        rule=ApproverRule.POSITION,
        position=w.o.director,
        time_limit_hours=hours,
    )
    routes.publish(version, actor=w.admin, expected_version=None, now=T0)


def ask_for_later_due_date(w: factories.World) -> ApprovalRequest:
    request = requesting.request_due_date_change(
        w.run,
        actor=w.o.member,
        due_at=T0 + dt.timedelta(days=20),
        reason="The vessel sails later",
        now=T0 + dt.timedelta(hours=1),
    )
    assert isinstance(request, ApprovalRequest)
    return request


def test_approval_due_is_raised_near_the_time_limit_for_the_undecided():
    w = factories.world()
    due_date_route(w, hours=8)
    request = ask_for_later_due_date(w)  # due Tuesday 09:00

    scan(w, T0 + dt.timedelta(hours=2))

    [warning] = active(w.organisation).values()
    stage = request.stages.get()
    assert (warning.kind, warning.subject_key, warning.task_id) == (
        WarningKind.APPROVAL_DUE,
        f"approval:{stage.pk}",
        None,
    )
    assert warning.facts == {
        "request": request.title,
        "request_id": request.pk,
        "stage": "Director",
        "due_at": local(3, 9).astimezone(dt.UTC).isoformat(),
        "minutes_left": 420,
        "day_minutes": 480,
    }
    assert recipients(warning) == {w.user(w.dedi).pk}


def test_approval_due_is_not_raised_while_the_time_limit_is_far():
    w = factories.world()
    due_date_route(w, hours=24)
    ask_for_later_due_date(w)

    scan(w, T0 + dt.timedelta(hours=2))

    assert active(w.organisation) == {}


def test_approval_due_is_resolved_once_decided():
    w = factories.world()
    due_date_route(w, hours=8)
    request = ask_for_later_due_date(w)
    scan(w, T0 + dt.timedelta(hours=2))
    approvals.decide(
        request,
        actor=w.user(w.dedi),
        outcome="approve",
        expected_version=request.version,
        now=T0 + dt.timedelta(hours=3),
    )

    result = scan(w, T0 + dt.timedelta(hours=4))

    assert result.resolved == 1
    assert active(w.organisation) == {}


# --- vacant_position -----------------------------------------------------------------------


def vacate_warehouse_head(w: factories.World) -> None:
    holding = Holding.objects.get(position=w.warehouse_head, person=w.wati)
    org.end_holding(
        holding,
        actor=w.admin,
        expected_version=holding.version,
        end_date=dt.date(2026, 2, 27),
    )


def widen_the_vacancy_horizon(w: factories.World) -> None:
    # store must be done by Monday 9 March 16:00: 5 working days 7 hours away
    settings = policy.settings_for(w.organisation)
    policy.update_settings(
        w.organisation,
        actor=w.admin,
        expected_version=settings.version,
        vacancy_horizon_days=10,
    )


def test_vacant_position_is_raised_for_a_step_due_soon_that_nobody_can_do():
    w = factories.world()
    vacate_warehouse_head(w)
    widen_the_vacancy_horizon(w)

    scan(w, T0 + dt.timedelta(hours=1))

    [warning] = active(w.organisation).values()
    store = w.task("store")
    assert (warning.kind, warning.subject_key, warning.task_id) == (
        WarningKind.VACANT_POSITION,
        f"task:{store.pk}",
        store.pk,
    )
    assert warning.facts["position"] == "Head of warehouse"
    assert warning.facts["due_in_minutes"] == 5 * 480 + 420
    # the owner position's holder (Rina) and the administrators
    assert recipients(warning) == {w.o.member.pk, w.admin.pk}


def test_vacant_position_is_not_raised_beyond_the_horizon():
    w = factories.world()
    vacate_warehouse_head(w)

    scan(w, T0 + dt.timedelta(hours=1))  # 5 working days (the default) ahead

    assert active(w.organisation) == {}


def test_an_acting_holder_fills_the_position():
    w = factories.world()
    vacate_warehouse_head(w)
    widen_the_vacancy_horizon(w)
    f.hold(w.o, w.warehouse_head, w.dedi, start=dt.date(2026, 3, 1), acting=True)

    scan(w, T0 + dt.timedelta(hours=1))

    assert active(w.organisation) == {}


# --- evidence_missing -----------------------------------------------------------------------


def evidence_run(w: factories.World, **step: Any) -> Run:
    """A one-step run whose step requires evidence: 4 working hours, due at the end
    of Monday (T0 + 1 day)."""
    version = f.procedure(
        w.o,
        [
            f.StepRow(
                "check",
                responsible=w.o.export_staff,
                accountable=w.o.export_head,
                days="4",
                unit="working_hours",
                **step,
            )
        ],
        code="CHECK",
    )
    return f.start_run(version, actor=w.admin, title="Check the cargo", due_days=1)


def test_evidence_missing_is_raised_close_to_the_due_date():
    w = factories.world()
    run = evidence_run(w, requires_evidence=True)
    check = f.task(run, "check")

    scan(w, T0 + dt.timedelta(hours=1))  # due in 7 working hours

    warning = active(w.organisation)[(WarningKind.EVIDENCE_MISSING, f"task:{check.pk}")]
    assert warning.facts["needs_verification"] is False
    assert (warning.facts["attached"], warning.facts["verified"]) == (0, 0)
    assignee = User.objects.get(people__pk=check.assignee_id)
    assert recipients(warning) == {assignee.pk, w.o.member.pk}


def test_evidence_missing_is_not_raised_once_the_evidence_is_attached():
    w = factories.world()
    run = evidence_run(w, requires_evidence=True)
    check = f.task(run, "check")
    records.attach_task_evidence(
        check,
        actor=w.o.member,
        items=[records.NewLink(url="https://example.com/photo/1", label="")],
        now=T0 + dt.timedelta(minutes=30),
    )

    scan(w, T0 + dt.timedelta(hours=1))

    assert (WarningKind.EVIDENCE_MISSING, f"task:{check.pk}") not in active(
        w.organisation
    )


def test_evidence_to_be_verified_is_missing_until_someone_else_verifies_it():
    w = factories.world()
    run = evidence_run(w, extra={"requires_verified_evidence": True})
    check = f.task(run, "check")
    record = records.attach_task_evidence(
        check,
        actor=w.o.member,
        items=[records.NewLink(url="https://example.com/photo/1", label="")],
        now=T0 + dt.timedelta(minutes=30),
    )
    key = (WarningKind.EVIDENCE_MISSING, f"task:{check.pk}")

    scan(w, T0 + dt.timedelta(hours=1))
    warning = active(w.organisation)[key]
    assert (warning.facts["attached"], warning.facts["verified"]) == (1, 0)
    assert warning.facts["needs_verification"] is True

    evidence_verification.verify(
        record,
        actor=w.admin,
        verdict="verified",
        note="Checked against the photo",
        expected_version=record.version,
        now=T0 + dt.timedelta(hours=2),
    )
    scan(w, T0 + dt.timedelta(hours=3))

    assert key not in active(w.organisation)
    warning.refresh_from_db()
    assert warning.resolved_at == T0 + dt.timedelta(hours=3)


# --- raised once, refreshed, resolved ----------------------------------------------------


def test_a_warning_is_raised_once_and_refreshed_while_it_holds():
    w = factories.world()
    first = scan(w, local(3, 13))
    [warning] = active(w.organisation).values()

    again = scan(w, local(3, 14))

    assert (first.raised, again.raised, again.refreshed, again.resolved) == (
        1,
        0,
        1,
        0,
    )
    assert list(EarlyWarning.objects.values_list("pk", flat=True)) == [warning.pk]
    warning.refresh_from_db()
    assert (warning.raised_at, warning.checked_at) == (local(3, 13), local(3, 14))
    # the facts follow the time: one more hour used
    assert (warning.facts["slack_minutes"], warning.facts["used_percent"]) == (
        120,
        87,
    )
    # nobody is told twice
    assert Notification.objects.filter(event_type="warning.raised").count() == 2


def test_a_resolved_warning_is_raised_again_when_the_condition_returns():
    w = factories.world(due_days=3)
    scan(w, T0 + dt.timedelta(hours=1))
    run = w.refresh()
    chains.move_due_date(
        run,
        actor=w.o.member,
        expected_version=run.version,
        due_at=T0 + dt.timedelta(days=14),
        reason="Later",
        now=T0 + dt.timedelta(hours=2),
    )
    scan(w, T0 + dt.timedelta(hours=3))
    run.refresh_from_db()
    chains.move_due_date(
        run,
        actor=w.o.member,
        expected_version=run.version,
        due_at=T0 + dt.timedelta(days=3),
        reason="Sooner after all",
        now=T0 + dt.timedelta(hours=4),
    )

    result = scan(w, T0 + dt.timedelta(hours=5))

    assert result.raised == 2
    assert (
        EarlyWarning.objects.filter(
            kind=WarningKind.RUN_LATE, subject_key=f"run:{run.pk}"
        ).count()
        == 2
    )


def test_new_recipients_of_a_warning_still_holding_are_added_and_told():
    w = factories.world()
    scan(w, local(3, 13))
    pack = w.task("pack")
    # Dedi becomes an acting Head of export: accountable for pack too
    f.hold(w.o, w.o.export_head, w.dedi, start=dt.date(2026, 3, 1), acting=True)

    scan(w, local(3, 14))

    [warning] = active(w.organisation).values()
    assert warning.task_id == pack.pk
    assert recipients(warning) == {w.user(w.ani).pk, w.o.member.pk, w.user(w.dedi).pk}
    assert set(
        Notification.objects.filter(event_type="warning.raised").values_list(
            "recipient_id", flat=True
        )
    ) == {w.user(w.ani).pk, w.o.member.pk, w.user(w.dedi).pk}


def test_only_active_members_are_recipients():
    w = factories.world()
    ani = w.user(w.ani)
    ended = Membership.objects.get(organisation=w.organisation, user=ani)
    membership.end_membership(ended, actor=w.admin, expected_version=ended.version)

    scan(w, local(3, 13))

    [warning] = active(w.organisation).values()
    assert recipients(warning) == {w.o.member.pk}


def test_recipients_are_told_in_their_language_in_the_digest():
    w = factories.world()
    ani = w.user(w.ani)
    ani.language = "id"
    ani.save(update_fields=["language"])

    scan(w, local(3, 13))

    [warning] = active(w.organisation).values()
    told = {
        n.recipient_id: n
        for n in Notification.objects.filter(event_type="warning.raised")
    }
    assert set(told) == {ani.pk, w.o.member.pk}
    english = told[w.o.member.pk]
    assert (english.key, english.urgent, english.delivery, english.url) == (
        f"warning:{warning.pk}:raised",
        False,
        Delivery.DIGEST,
        f"/o/acme/tasks/{warning.task_id}/",
    )
    why, what = w_.explain(warning, "en")
    assert english.title == "Early warning: slack nearly used up — Pack"
    assert english.body == f"{why}\n\n{what}"
    why_id, what_id = w_.explain(warning, "id")
    assert told[ani.pk].body == f"{why_id}\n\n{what_id}"


# --- partners -----------------------------------------------------------------------------


def test_partners_see_and_are_told_only_their_own_part():
    w = factories.world(due_days=3)
    scan(w, T0 + dt.timedelta(hours=1))  # run late, pack without slack
    pack = w.task("pack")
    ani = w.user(w.ani)
    pack = chains.start_task(
        pack, actor=ani, expected_version=pack.version, now=T0 + dt.timedelta(hours=1)
    )
    chains.complete_task(
        pack, actor=ani, expected_version=pack.version, now=T0 + dt.timedelta(hours=2)
    )

    scan(w, T0 + dt.timedelta(hours=3))  # ship (the forwarder's) has no slack

    found = active(w.organisation)
    ship_key = (WarningKind.SLACK_LOW, task_key(w, "ship"))
    late_key = (WarningKind.RUN_LATE, f"run:{w.run.pk}")
    assert set(found) == {ship_key, late_key}
    joko = w.o.partner  # the forwarder's partner
    assert recipients(found[ship_key]) == {joko.pk, w.o.member.pk}

    # pack's warning (resolved) is the export clerks': not the forwarder's
    joko_sees = list(w_.warnings(access_for(joko, "acme"), active=None))
    assert [(x.kind, x.subject_key, x.is_mine) for x in joko_sees] == [
        (*ship_key, True),
        (*late_key, False),
    ]
    olga = w.user(w.olga)  # the other carrier takes no part
    assert list(w_.warnings(access_for(olga, "acme"), active=None)) == []
    assert w_.active_for(access_for(joko, "acme")) == [found[ship_key]]


def test_members_see_every_warning_their_own_first(django_assert_num_queries):
    w = factories.world(due_days=3)
    scan(w, T0 + dt.timedelta(hours=1))
    ani = w.user(w.ani)
    access = access_for(ani, "acme")

    with django_assert_num_queries(1):
        seen = list(w_.warnings(access))

    assert [(x.kind, x.is_mine) for x in seen] == [
        (WarningKind.SLACK_LOW, True),
        (WarningKind.RUN_LATE, False),
    ]
    assert [x.kind for x in w_.warnings(access, kind=WarningKind.RUN_LATE)] == [
        WarningKind.RUN_LATE
    ]
    assert list(w_.warnings(access, run=w.run.pk + 1000)) == []
    assert list(w_.warnings(access, active=False)) == []
    assert [x.kind for x in w_.active_for(access)] == [WarningKind.SLACK_LOW]


# --- acknowledging ------------------------------------------------------------------------


def test_a_recipient_acknowledges_a_warning_once(audit_trail):
    w = factories.world()
    scan(w, local(3, 13))
    [warning] = active(w.organisation).values()
    ani = w.user(w.ani)
    trail = audit_trail(w.organisation)

    delivery = w_.acknowledge(warning, actor=ani, now=local(3, 13, 5))
    again = w_.acknowledge(warning, actor=ani, now=local(3, 14))

    assert delivery.acknowledged_at == again.acknowledged_at == local(3, 13, 5)
    event = trail.only_new_event()
    assert (event.verb, event.actor_id, event.target_id) == (
        AuditVerb.ACKNOWLEDGED,
        ani.pk,
        str(warning.pk),
    )
    access = access_for(ani, "acme")
    [seen] = w_.active_for(access)
    assert seen.acknowledged_at == local(3, 13, 5)
    # Rina has not acknowledged it
    assert (
        WarningRecipient.objects.get(warning=warning, user=w.o.member).acknowledged_at
        is None
    )


@pytest.mark.parametrize("who", ["admin", "auditor", "partner"])
def test_nobody_else_can_acknowledge_a_warning(who, audit_trail):
    w = factories.world()
    scan(w, local(3, 13))
    [warning] = active(w.organisation).values()
    trail = audit_trail(w.organisation)

    with pytest.raises(PermissionDenied):
        w_.acknowledge(warning, actor=getattr(w.o, who), now=local(3, 14))

    assert not WarningRecipient.objects.filter(acknowledged_at__isnull=False).exists()
    trail.assert_nothing_new()


# --- explanations ------------------------------------------------------------------------


def test_every_kind_is_explained_in_english():
    w = factories.world(due_days=3)
    scan(w, T0 + dt.timedelta(hours=1))
    found = active(w.organisation)

    late = found[(WarningKind.RUN_LATE, f"run:{w.run.pk}")]
    slack = found[(WarningKind.SLACK_LOW, task_key(w, "pack"))]

    assert w_.explain(late, "en") == (
        "“Ship 500 units to Kota A” is projected to finish at 6 Mar 2026 09:00, "
        "1 working day, 1 working hour after its target date (5 Mar 2026 08:00).",
        "Look at the critical path for work that can start earlier or run in "
        "parallel, raise the obstacles that hold the run up so their impact is "
        "seen, or ask to move the target date.",
    )
    assert w_.explain(slack, "en")[0] == (
        "“Pack” of “Ship 500 units to Kota A” has no slack left: it must be "
        "finished by 27 Feb 2026 16:00 for the run to meet its target "
        "date, "
        "and it is expected to finish 1 working day, 1 working hour after that."
    )
    facts = {"finish_by": slack.facts["finish_by"], "task": "Pack", "run": "Ship"}
    others = [
        (WarningKind.APPROVAL_DUE, {**late.facts, "request": "Move", "stage": "A"}),
        (WarningKind.VACANT_POSITION, {**facts, "position": "Head"}),
        (WarningKind.EVIDENCE_MISSING, {**facts, "attached": 0}),
        (WarningKind.EVIDENCE_MISSING, {**facts, "attached": 1}),
    ]
    for kind, kind_facts in others:
        warning = EarlyWarning(organisation=w.organisation, kind=kind, facts=kind_facts)
        why, what = w_.explain(warning, "en")
        assert why and what


def test_the_explanations_are_in_indonesian_too():
    w = factories.world(due_days=3)
    scan(w, T0 + dt.timedelta(hours=1))
    for warning in active(w.organisation).values():
        english = w_.explain(warning, "en")
        indonesian = w_.explain(warning, "id")
        assert indonesian[0] and indonesian[1]
        assert indonesian[0] != english[0]
        assert indonesian[1] != english[1]


# --- the worker --------------------------------------------------------------------------


def test_the_worker_scans_every_ten_minutes():
    w = factories.world()
    now = local(3, 13)

    assert w_.scan_due(now=now, owner="w1") == 1
    assert w_.scan_due(now=now + dt.timedelta(minutes=9), owner="w1") == 0
    assert w_.scan_due(now=now + dt.timedelta(minutes=10), owner="w2") == 0  # holds

    scans = list(WarningScan.objects.order_by("started_at"))
    assert [(s.started_at, s.owner, s.raised, s.refreshed) for s in scans] == [
        (now, "w1", 1, 0),
        (now + dt.timedelta(minutes=10), "w2", 0, 1),
    ]
    assert scans[0].runs_scanned == 1
    assert scans[0].finished_at is not None and scans[0].finished_at >= now
    assert len(active(w.organisation)) == 1


def test_a_second_worker_at_the_same_moment_does_not_scan_again():
    factories.world()
    now = local(3, 13)

    with mock.patch.object(w_, "scan", wraps=w_.scan) as scanning:
        first = w_.scan_due(now=now, owner="w1")
        second = w_.scan_due(now=now, owner="w2")

    assert (first, second) == (1, 0)
    assert scanning.call_count == 1
    assert list(WarningScan.objects.values_list("owner", flat=True)) == ["w1"]


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: real threads share the test database only there",
)
@pytest.mark.django_db(transaction=True)
def test_two_workers_racing_scan_once():
    now = local(3, 13)
    created = WarningScan.objects.create
    first_inside = threading.Event()
    release = threading.Event()
    calls: list[str] = []

    def slow_create(**values: Any) -> WarningScan:
        calls.append(values["owner"])
        if values["owner"] == "w1":
            first_inside.set()
            assert release.wait(30)
        return created(**values)

    results: dict[str, Any] = {}

    def worker(owner: str) -> None:
        try:
            results[owner] = w_.scan_due(now=now, owner=owner)
        except BaseException as error:  # inspected below
            results[owner] = error
        finally:
            connection.close()

    with mock.patch.object(WarningScan.objects, "create", side_effect=slow_create):
        one = threading.Thread(target=worker, args=("w1",))
        one.start()
        assert first_inside.wait(30)
        two = threading.Thread(target=worker, args=("w2",))
        two.start()
        wait_until_blocked()  # w2 waits for w1's lock
        release.set()
        one.join(30)
        two.join(30)

    assert results == {"w1": 0, "w2": 0}
    assert calls == ["w1"]
    assert list(WarningScan.objects.values_list("owner", flat=True)) == ["w1"]


def wait_until_blocked() -> None:
    for _ in range(3000):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND wait_event_type = 'Lock'"
            )
            (count,) = cursor.fetchone()
        if count:
            return
        time.sleep(0.01)
    raise AssertionError("the second worker never waited for the first")


def test_the_worker_drains_early_warnings():
    from rantai.cli.management.commands import worker as worker_command

    found, _missing = worker_command.available_drainers()
    drains = {drainer.name: drain for drainer, drain in found}
    assert drains["early warnings"] is w_.scan_due


# --- the cost of a scan ------------------------------------------------------------------


def fleet(slug: str, runs: int) -> SmallOrg:
    """An organisation with `runs` runs of pack → ship → store, started at T0."""
    o = f.organisation(slug, prefix=f"{slug}-")
    version = f.procedure(
        o,
        [
            f.StepRow("pack", responsible=o.export_staff, accountable=o.export_head),
            f.StepRow(
                "ship",
                responsible=o.forwarder,
                accountable=o.export_head,
                days="2",
                after=["pack"],
            ),
            f.StepRow(
                "store",
                responsible=o.export_head,
                accountable=o.export_head,
                after=["ship"],
            ),
        ],
    )
    for number in range(runs):
        f.start_run(version, actor=o.admin, title=f"Order {number}", due_days=8)
    return o


def statements(work: Callable[[], Any]) -> int:
    with CaptureQueriesContext(connection) as captured:
        work()
    return len(captured.captured_queries)


def test_a_scan_costs_the_same_statements_for_5_runs_as_for_50(db):
    small, large = fleet("small", 5), fleet("large", 50)

    def scanner(o: SmallOrg, now: dt.datetime) -> Callable[[], Any]:
        return lambda: w_.scan(now=now, organisation_ids=[o.organisation.pk])

    quiet = T0 + dt.timedelta(hours=1)
    assert statements(scanner(small, quiet)) == statements(scanner(large, quiet))
    # Wednesday 10:00 every run is late and pack has no slack: raised (a fixed
    # number of statements per warning for its notification), then refreshed
    late = local(4, 10)
    w_.scan(now=late, organisation_ids=[small.organisation.pk])
    w_.scan(now=late, organisation_ids=[large.organisation.pk])
    assert len(active(large.organisation)) == 100
    later = late + dt.timedelta(minutes=10)
    refresh_small = statements(scanner(small, later))
    refresh_large = statements(scanner(large, later))
    assert refresh_small == refresh_large
