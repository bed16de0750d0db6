"""Runs and their tasks: starting, assignment and claiming, who may act, the legal
transitions (and that illegal ones write nothing), reopening, completion against
the target, the run's own transitions, guards and events, and the projection."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains import extensions, projection, services
from rantai.chains.extensions import GuardResult
from rantai.chains.models import (
    ConditionOperator,
    FieldType,
    RaciRole,
    Run,
    RunResult,
    RunStatus,
    ScheduleStatus,
    Task,
    TaskRole,
    TaskStatus,
)
from rantai.chains.tests.helpers import (
    DAY,
    T0,
    StepSpec,
    at,
    build_version,
    start,
    statuses,
    tasks_of,
)
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


@pytest.fixture
def shipment(crew):  # type: ignore[no-untyped-def]
    """target (export staff: two holders) and produce (warehouse head: Wawan) in
    parallel; schedule after both; pickup by the forwarder after schedule."""
    o = crew.o
    return build_version(
        o,
        [
            StepSpec("target", o.export_staff, o.export_head, consulted=[o.director]),
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
def events(clean_registry):  # type: ignore[no-untyped-def]
    seen: list[tuple] = []
    extensions.register_task_ready_handler(
        lambda e: seen.append(("task_ready", e.task_id, e.assignee_id))
    )
    extensions.register_task_done_handler(
        lambda e: seen.append(("task_done", e.task_id))
    )
    extensions.register_run_completed_handler(
        lambda e: seen.append(("run_completed", e.run_id, e.result))
    )
    extensions.register_run_late_handler(lambda e: seen.append(("run_late", e.run_id)))
    return seen


def snapshot(run: Run) -> tuple:
    """Everything a transition could change, to prove a refusal changed nothing."""
    run.organisation.refresh_from_db(fields=["audit_sequence"])
    return (
        run.organisation.audit_sequence,
        tuple(Run.objects.filter(pk=run.pk).values_list("status", "version", "due_at")),
        tuple(
            Task.objects.filter(run=run)
            .order_by("id")
            .values_list("status", "version", "assignee_id", "flagged_after_reopen")
        ),
    )


def complete(task: Task, user, minutes: int) -> Task:  # type: ignore[no-untyped-def]
    return services.complete_task(
        task, actor=user, expected_version=None, now=at(minutes)
    )


# --- starting a run ---------------------------------------------------------------


def test_starting_a_run_copies_the_steps_and_readies_the_first_tasks(
    crew, shipment, audit_trail, events
):
    o = crew.o
    trail = audit_trail(o.organisation)

    run = start(shipment, o.member)

    tasks = tasks_of(run)
    assert statuses(run) == {
        "target": "ready",
        "produce": "ready",
        "schedule": "pending",
        "pickup": "pending",
    }
    assert [(t.duration_minutes, t.path_to_end_minutes) for t in tasks.values()] == [
        (DAY, 3 * DAY),
        (5 * DAY, 7 * DAY),
        (DAY, 2 * DAY),
        (DAY, DAY),
    ]
    # the sole holder is assigned; two holders claim; a partner's step has none
    assert tasks["produce"].assignee == crew.wawan_person
    assert tasks["target"].assignee is None
    assert tasks["pickup"].responsible_party == o.forwarder
    assert tasks["pickup"].accountable_position == crew.warehouse_head
    assert sorted(
        TaskRole.objects.filter(task=tasks["target"]).values_list("role", "position")
    ) == [
        (RaciRole.ACCOUNTABLE, o.export_head.pk),
        (RaciRole.CONSULTED, o.director.pk),
        (RaciRole.RESPONSIBLE, o.export_staff.pk),
    ]
    assert run.tasks.count() == 4 and run.dependencies.count() == 3
    # the projection: produce (5 days) + schedule + pickup from Monday 08:00 WIB
    assert run.projected_finish_at == dt.datetime(2026, 3, 10, 9, 0, tzinfo=dt.UTC)
    assert run.schedule_status == ScheduleStatus.ON_TRACK
    event = trail.only_new_event()
    assert (event.verb, event.target_type) == (AuditVerb.STARTED, "chains.run")
    assert event.changes["ready"] == ["produce", "target"]
    assert events == [
        ("task_ready", tasks["target"].pk, None),
        ("task_ready", tasks["produce"].pk, crew.wawan_person.pk),
    ]


def test_only_members_and_administrators_start_runs(crew, shipment, audit_trail):
    o = crew.o
    trail = audit_trail(o.organisation)

    for user in (o.auditor, o.partner):
        with pytest.raises(PermissionDenied):
            start(shipment, user)
    assert not Run.objects.exists()
    trail.assert_nothing_new()


def test_run_values_and_target_are_checked(crew, shipment):
    o = crew.o

    with pytest.raises(ValidationFailed) as past:
        services.start_run(
            shipment,
            actor=o.member,
            title="Late",
            measure_quantity=1,
            measure_unit="units",
            due_at=T0 - dt.timedelta(days=1),
            now=T0,
        )
    with pytest.raises(ValidationFailed) as unknown:
        start(shipment, o.member, field_values={"colour": "red"})

    assert past.value.errors == {"due_at": ["The due date must be in the future."]}
    assert unknown.value.errors == {"field_values": ["Unknown fields: colour."]}
    assert not Run.objects.exists()


@pytest.fixture
def conditional(crew):  # type: ignore[no-untyped-def]
    """check applies only above 500,000,000 and sits between schedule and ship;
    insure applies only for sea freight and has no predecessor."""
    o = crew.o
    return build_version(
        o,
        [
            StepSpec("schedule", crew.warehouse_head, o.export_head),
            StepSpec(
                "check",
                o.export_head,
                o.export_head,
                after=["schedule"],
                condition=("value", ConditionOperator.GT, "500000000"),
            ),
            StepSpec("ship", o.forwarder, crew.warehouse_head, after=["check"]),
            StepSpec(
                "insure",
                o.export_head,
                o.export_head,
                condition=("mode", ConditionOperator.EQ, "sea"),
            ),
        ],
        fields=[
            {"key": "value", "label": "Value", "field_type": FieldType.DECIMAL},
            {
                "key": "mode",
                "label": "Mode",
                "field_type": FieldType.CHOICE,
                "choices": ["road", "sea"],
            },
        ],
    )


def test_a_step_whose_condition_fails_is_skipped_when_the_chain_reaches_it(
    crew, conditional
):
    o = crew.o

    run = start(
        conditional, o.member, field_values={"value": "300000000", "mode": "road"}
    )

    # insure has nothing before it: skipped at once; check waits for schedule
    assert statuses(run) == {
        "schedule": "ready",
        "check": "pending",
        "ship": "pending",
        "insure": "skipped",
    }
    tasks = tasks_of(run)
    assert tasks["check"].skipped_reason == "condition not met"
    assert tasks["check"].path_to_end_minutes == DAY
    complete(tasks["schedule"], crew.wawan, 60)
    # check passes through and the forwarder can pick up
    assert statuses(run) == {
        "schedule": "done",
        "check": "skipped",
        "ship": "ready",
        "insure": "skipped",
    }


def test_a_step_whose_condition_holds_is_part_of_the_run(crew, conditional):
    run = start(
        conditional, crew.o.member, field_values={"value": "750000000", "mode": "sea"}
    )

    assert statuses(run) == {
        "schedule": "ready",
        "check": "pending",
        "ship": "pending",
        "insure": "ready",
    }
    assert tasks_of(run)["check"].skipped_reason == ""


# --- who acts ---------------------------------------------------------------------


def test_holders_of_a_shared_position_claim_its_task(crew, shipment, audit_trail):
    o = crew.o
    run = start(shipment, o.member)
    target = tasks_of(run)["target"]
    trail = audit_trail(o.organisation)

    # Dewi holds nothing: she cannot claim
    with pytest.raises(PermissionDenied):
        services.claim_task(target, actor=crew.dewi, expected_version=None)
    services.claim_task(target, actor=crew.dina, expected_version=target.version)

    assert Task.objects.get(pk=target.pk).assignee == crew.dina_person
    event = trail.only_new_event()
    assert (event.verb, event.changes) == (
        AuditVerb.CLAIMED,
        {"assignee": [None, crew.dina_person.pk]},
    )
    # once taken, it is taken
    with pytest.raises(ValidationFailed) as taken:
        services.claim_task(
            Task.objects.get(pk=target.pk), actor=crew.dina, expected_version=None
        )
    assert taken.value.errors == {"assignee": ["The task is already assigned."]}


def test_starting_an_unassigned_task_assigns_it(crew, shipment):
    o = crew.o
    run = start(shipment, o.member)

    task = services.start_task(
        tasks_of(run)["target"], actor=crew.dina, expected_version=None, now=at(5)
    )

    assert (task.status, task.assignee_id, task.started_at) == (
        TaskStatus.IN_PROGRESS,
        crew.dina_person.pk,
        at(5),
    )


def test_the_accountable_may_act_but_nobody_else(crew, shipment):
    o = crew.o
    run = start(shipment, o.member)
    produce = tasks_of(run)["produce"]  # assigned to Wawan, accountable: Rina
    before = snapshot(run)

    for outsider in (crew.dina, crew.dewi, o.admin, o.auditor, o.partner):
        assert services.may_act_on(produce, outsider) is False
        with pytest.raises(PermissionDenied):
            complete(produce, outsider, 10)
    assert snapshot(run) == before

    assert services.may_act_on(produce, crew.wawan) is True
    assert services.may_act_on(produce, o.member) is True  # Rina, head of export
    complete(produce, o.member, 10)
    assert Task.objects.get(pk=produce.pk).status == TaskStatus.DONE


def test_a_partners_task_is_acted_on_by_that_partner_only(crew, shipment):
    o = crew.o
    run = start(shipment, o.member)
    tasks = tasks_of(run)
    complete(tasks["target"], crew.dina, 10)
    complete(tasks["produce"], crew.wawan, 20)
    complete(Task.objects.get(pk=tasks["schedule"].pk), crew.wawan, 30)
    pickup = Task.objects.get(pk=tasks["pickup"].pk)
    assert pickup.status == TaskStatus.READY
    before = snapshot(run)

    # not the accountable head of warehouse, not an administrator
    for insider in (crew.wawan, o.admin, o.member):
        assert services.may_act_on(pickup, insider) is False
        with pytest.raises(PermissionDenied) as refused:
            complete(pickup, insider, 40)
        assert refused.value.message == (
            "Only the partner responsible for this task can act on it."
        )
    assert snapshot(run) == before

    complete(pickup, o.partner, 40)
    assert Task.objects.get(pk=pickup.pk).status == TaskStatus.DONE


# --- transitions ------------------------------------------------------------------


def test_completing_releases_successors_once_all_their_predecessors_are_done(
    crew, shipment, audit_trail, events
):
    o = crew.o
    run = start(shipment, o.member)
    tasks = tasks_of(run)
    events.clear()
    trail = audit_trail(o.organisation)

    complete(tasks["target"], crew.dina, 10)
    assert statuses(run)["schedule"] == "pending"
    complete(tasks["produce"], crew.wawan, 20)

    schedule = Task.objects.get(pk=tasks["schedule"].pk)
    assert (schedule.status, schedule.assignee_id, schedule.ready_at) == (
        TaskStatus.READY,
        crew.wawan_person.pk,
        at(20),
    )
    produced = Task.objects.get(pk=tasks["produce"].pk)
    assert (produced.started_at, produced.done_at) == (at(20), at(20))
    assert [(e.verb, e.changes) for e in trail.new_events()] == [
        (AuditVerb.TASK_COMPLETED, {"status": ["ready", "done"]}),
        (
            AuditVerb.TASK_COMPLETED,
            {"status": ["ready", "done"], "released": [schedule.pk]},
        ),
    ]
    assert events == [
        ("task_done", tasks["target"].pk),
        ("task_done", tasks["produce"].pk),
        ("task_ready", schedule.pk, crew.wawan_person.pk),
    ]


def test_start_to_start_successors_are_released_when_the_predecessor_starts(crew):
    o = crew.o
    version = build_version(
        o,
        [
            StepSpec("load", crew.warehouse_head, o.export_head),
            StepSpec("document", o.export_head, o.export_head, start_with=["load"]),
        ],
    )
    run = start(version, o.member)
    assert statuses(run) == {"load": "ready", "document": "pending"}

    services.start_task(
        tasks_of(run)["load"], actor=crew.wawan, expected_version=None, now=at(5)
    )

    assert statuses(run) == {"load": "in_progress", "document": "ready"}


@pytest.mark.parametrize(
    ("action", "task_key", "message"),
    [
        (
            "complete",
            "schedule",
            "The task “Schedule” is pending, so it cannot be completed.",
        ),
        (
            "start",
            "schedule",
            "The task “Schedule” is pending, so it cannot be started.",
        ),
        ("reopen", "produce", "The task “Produce” is ready, so it cannot be reopened."),
        (
            "recheck",
            "produce",
            "The task “Produce” is ready, so it cannot be checked again.",
        ),
    ],
)
def test_illegal_transitions_raise_and_write_nothing(
    crew, shipment, action, task_key, message
):
    o = crew.o
    run = start(shipment, o.member)
    task = tasks_of(run)[task_key]
    before = snapshot(run)
    call = {
        "complete": lambda: services.complete_task(
            task, actor=o.member, expected_version=None
        ),
        "start": lambda: services.start_task(
            task, actor=o.member, expected_version=None
        ),
        "reopen": lambda: services.reopen_task(
            task, actor=o.member, expected_version=None, reason="again"
        ),
        "recheck": lambda: services.recheck_task(
            task, actor=o.member, expected_version=None
        ),
    }[action]

    with pytest.raises(ValidationFailed) as refused:
        call()

    assert refused.value.errors == {"status": [message]}
    assert refused.value.code == "illegal_transition"
    assert snapshot(run) == before


def test_a_done_task_cannot_be_started_or_completed_again(crew, shipment):
    o = crew.o
    run = start(shipment, o.member)
    produce = complete(tasks_of(run)["produce"], crew.wawan, 10)
    before = snapshot(run)

    with pytest.raises(ValidationFailed):
        services.start_task(produce, actor=crew.wawan, expected_version=None)
    with pytest.raises(ValidationFailed):
        complete(produce, crew.wawan, 20)
    assert snapshot(run) == before


def test_a_stale_task_is_a_conflict_and_writes_nothing(crew, shipment):
    o = crew.o
    run = start(shipment, o.member)
    first = tasks_of(run)["produce"]
    second = Task.objects.get(pk=first.pk)
    services.start_task(first, actor=crew.wawan, expected_version=None, now=at(5))
    before = snapshot(run)

    with pytest.raises(Conflict):
        services.start_task(second, actor=crew.wawan, expected_version=None)
    with pytest.raises(Conflict):
        services.complete_task(
            Task.objects.get(pk=first.pk), actor=crew.wawan, expected_version=1
        )
    assert snapshot(run) == before


# --- reopening --------------------------------------------------------------------


def test_reopening_sends_unstarted_successors_back_and_flags_started_ones(
    crew, audit_trail
):
    o = crew.o
    version = build_version(
        o,
        [
            StepSpec("measure", crew.warehouse_head, o.export_head),
            StepSpec("pack", crew.warehouse_head, o.export_head, after=["measure"]),
            StepSpec("label", o.export_head, o.export_head, after=["measure"]),
            StepSpec("ship", crew.warehouse_head, o.export_head, after=["pack"]),
        ],
    )
    run = start(version, o.member)
    complete(tasks_of(run)["measure"], crew.wawan, 10)
    services.start_task(
        tasks_of(run)["label"], actor=o.member, expected_version=None, now=at(20)
    )
    assert statuses(run) == {
        "measure": "done",
        "pack": "ready",
        "label": "in_progress",
        "ship": "pending",
    }
    measure = tasks_of(run)["measure"]
    with pytest.raises(ValidationFailed) as no_reason:
        services.reopen_task(
            measure, actor=crew.wawan, expected_version=None, reason=" "
        )
    assert no_reason.value.errors == {"reason": ["This field is required."]}
    trail = audit_trail(o.organisation)

    services.reopen_task(
        measure,
        actor=crew.wawan,
        expected_version=measure.version,
        reason="Wrong scale",
        now=at(30),
    )

    assert statuses(run) == {
        "measure": "ready",
        "pack": "pending",
        "label": "in_progress",
        "ship": "pending",
    }
    tasks = tasks_of(run)
    assert (tasks["measure"].reopen_count, tasks["measure"].done_at) == (1, None)
    assert tasks["measure"].last_reopen_reason == "Wrong scale"
    assert [t.flagged_after_reopen for t in tasks.values()] == [
        False,
        False,
        True,
        False,
    ]
    event = trail.only_new_event()
    assert event.verb == AuditVerb.TASK_REOPENED
    assert event.changes == {
        "status": ["done", "ready"],
        "flagged": [tasks["label"].pk],
        "back_to_pending": [tasks["pack"].pk],
    }
    assert event.personal.changes == {"reason": "Wrong scale"}


def test_reopening_needs_an_active_run(crew, shipment):
    o = crew.o
    run = start(shipment, o.member)
    produce = complete(tasks_of(run)["produce"], crew.wawan, 10)
    services.suspend_run(run, actor=o.member, expected_version=None, reason="Audit")
    before = snapshot(run)

    with pytest.raises(ValidationFailed) as refused:
        services.reopen_task(
            produce, actor=crew.wawan, expected_version=None, reason="x"
        )

    assert refused.value.message == "The run is suspended: its tasks cannot change."
    assert snapshot(run) == before


# --- completion -------------------------------------------------------------------


def finish_all(crew, run, minutes):  # type: ignore[no-untyped-def]
    tasks = tasks_of(run)
    complete(tasks["target"], crew.dina, minutes[0])
    complete(tasks["produce"], crew.wawan, minutes[1])
    complete(Task.objects.get(pk=tasks["schedule"].pk), crew.wawan, minutes[2])
    complete(Task.objects.get(pk=tasks["pickup"].pk), crew.o.partner, minutes[3])


def test_a_run_completes_exactly_once_and_records_the_target_met(
    crew, shipment, audit_trail, events
):
    o = crew.o
    run = start(shipment, o.member)
    events.clear()
    trail = audit_trail(o.organisation)

    finish_all(crew, run, [10, 20, 30, 40])

    run.refresh_from_db()
    assert (run.status, run.completed_at, run.result, run.result_delay) == (
        RunStatus.COMPLETED,
        at(40),
        RunResult.MET,
        None,
    )
    assert run.actual_quantity == Decimal("500.00")
    assert (run.projected_finish_at, run.schedule_status) == (at(40), "on_track")
    verbs = [e.verb for e in trail.new_events()]
    assert verbs == [AuditVerb.TASK_COMPLETED] * 4 + [AuditVerb.COMPLETED]
    assert [e for e in events if e[0] == "run_completed"] == [
        ("run_completed", run.pk, RunResult.MET)
    ]
    assert audit.verify(o.organisation).ok


def test_a_late_run_records_the_target_missed_and_by_how_much(crew, shipment):
    o = crew.o
    run = start(shipment, o.member, due_days=1)  # due Tuesday 08:00 WIB

    finish_all(crew, run, [10, 20, 30, 60 * 24 * 3])

    run.refresh_from_db()
    assert (run.result, run.result_delay) == (RunResult.MISSED, dt.timedelta(days=2))
    assert run.schedule_status == ScheduleStatus.LATE


def test_a_finished_run_is_final(crew, shipment):
    o = crew.o
    run = start(shipment, o.member)
    finish_all(crew, run, [10, 20, 30, 40])
    run.refresh_from_db()
    before = snapshot(run)

    with pytest.raises(ValidationFailed):
        services.reopen_task(
            tasks_of(run)["pickup"], actor=o.partner, expected_version=None, reason="x"
        )
    for transition in (services.suspend_run, services.cancel_run):
        with pytest.raises(ValidationFailed):
            transition(run, actor=o.admin, expected_version=None, reason="x")
    with pytest.raises(ValidationFailed):
        services.resume_run(run, actor=o.admin, expected_version=None)
    with pytest.raises(ValidationFailed):
        services.move_due_date(
            run,
            actor=o.member,
            expected_version=None,
            due_at=at(days=30),
            reason="x",
        )
    assert snapshot(run) == before


def test_the_actual_quantity_decides_the_result_too(crew, shipment):
    o = crew.o
    run = start(shipment, o.member)
    finish_all(crew, run, [10, 20, 30, 40])
    run.refresh_from_db()

    services.record_actual_quantity(
        run, actor=o.member, expected_version=run.version, actual_quantity=480
    )

    assert (run.actual_quantity, run.result) == (Decimal(480), RunResult.MISSED)


# --- the process owner's transitions ----------------------------------------------


def test_the_owner_suspends_resumes_and_cancels_a_run(crew, shipment, audit_trail):
    o = crew.o
    run = start(shipment, o.member)
    produce = tasks_of(run)["produce"]
    complete(tasks_of(run)["target"], crew.dina, 10)
    before = snapshot(run)

    # Dewi does not hold the owner position
    with pytest.raises(PermissionDenied):
        services.suspend_run(run, actor=crew.dewi, expected_version=None, reason="x")
    assert snapshot(run) == before
    trail = audit_trail(o.organisation)

    services.suspend_run(run, actor=o.member, expected_version=None, reason="Strike")
    with pytest.raises(ValidationFailed) as paused:
        complete(produce, crew.wawan, 20)
    assert paused.value.message == "The run is suspended: its tasks cannot change."
    services.resume_run(run, actor=o.admin, expected_version=run.version)
    services.cancel_run(
        run, actor=o.member, expected_version=run.version, reason="Order withdrawn"
    )

    assert (run.status, run.status_reason) == (RunStatus.CANCELLED, "Order withdrawn")
    assert statuses(run) == {
        "target": "done",
        "produce": "cancelled",
        "schedule": "cancelled",
        "pickup": "cancelled",
    }
    assert [(e.verb, e.changes) for e in trail.new_events()] == [
        (AuditVerb.SUSPENDED, {"status": ["active", "suspended"]}),
        (AuditVerb.RESUMED, {"status": ["suspended", "active"]}),
        (
            AuditVerb.CANCELLED,
            {"status": ["active", "cancelled"], "cancelled_tasks": 3},
        ),
    ]


def test_only_the_accountable_of_the_procedure_moves_the_due_date(
    crew, shipment, audit_trail, events
):
    o = crew.o
    run = start(shipment, o.member)
    events.clear()
    before = snapshot(run)

    for outsider in (o.admin, crew.dewi):
        with pytest.raises(PermissionDenied):
            services.move_due_date(
                run,
                actor=outsider,
                expected_version=None,
                due_at=at(days=3),
                reason="Customer asks",
            )
    assert snapshot(run) == before
    trail = audit_trail(o.organisation)

    # Rina holds the owner position; three days is less than the work left
    services.move_due_date(
        run,
        actor=o.member,
        expected_version=run.version,
        due_at=at(days=3),
        reason="Customer asks",
        now=at(60),
    )

    assert run.due_at == at(days=3)
    assert run.schedule_status == ScheduleStatus.LATE
    event = trail.only_new_event()
    assert event.changes == {
        "due_at": [at(days=14).isoformat(), at(days=3).isoformat()]
    }
    assert events == [("run_late", run.pk)]


# --- guards and events ------------------------------------------------------------


def test_a_guard_keeps_a_task_awaiting_until_it_says_yes(
    crew, shipment, audit_trail, events
):
    o = crew.o
    evidence_in: set[int] = set()

    def needs_evidence(task: Task) -> GuardResult:
        if task.key == "produce" and task.pk not in evidence_in:
            return GuardResult(False, "The release note is missing.")
        return GuardResult(True)

    extensions.register_completion_guard(needs_evidence)
    extensions.register_completion_guard(lambda task: GuardResult(True))
    run = start(shipment, o.member)
    produce = tasks_of(run)["produce"]
    events.clear()
    trail = audit_trail(o.organisation)

    complete(produce, crew.wawan, 10)
    assert (produce.status, produce.awaiting_reasons) == (
        TaskStatus.AWAITING,
        ["The release note is missing."],
    )
    # asking again while the guard still says no writes nothing
    services.recheck_task(produce, actor=crew.wawan, expected_version=None, now=at(20))
    assert produce.status == TaskStatus.AWAITING
    evidence_in.add(produce.pk)
    services.recheck_task(produce, actor=crew.wawan, expected_version=None, now=at(30))

    assert (produce.status, produce.done_at, produce.awaiting_reasons) == (
        TaskStatus.DONE,
        at(30),
        [],
    )
    assert [(e.verb, e.changes["status"]) for e in trail.new_events()] == [
        (AuditVerb.TASK_AWAITING, ["ready", "awaiting"]),
        (AuditVerb.TASK_COMPLETED, ["awaiting", "done"]),
    ]
    assert events == [("task_done", produce.pk)]


def test_a_failing_handler_rolls_the_transition_back(crew, shipment):
    o = crew.o
    run = start(shipment, o.member)
    before = snapshot(run)

    def broken(event: extensions.TaskDone) -> None:
        raise RuntimeError("notification service down")

    extensions.register_task_done_handler(broken)
    with pytest.raises(RuntimeError):
        complete(tasks_of(run)["produce"], crew.wawan, 10)
    assert snapshot(run) == before


def test_the_registry_is_isolated_per_test(clean_registry):
    assert clean_registry.completion_guards == []
    with extensions.isolated_registry() as inner:
        extensions.register_completion_guard(lambda task: GuardResult(True))
        assert len(inner.completion_guards) == 1
    assert clean_registry.completion_guards == []


# --- the projection ---------------------------------------------------------------


def test_the_projection_matches_the_full_schedule(crew, shipment):
    o = crew.o
    run = start(shipment, o.member, due_days=8)
    tasks = tasks_of(run)

    def check(minutes: int) -> None:
        run.refresh_from_db()
        full = projection.full_schedule(run, now=at(minutes))
        assert (run.projected_finish_at, run.schedule_status) == (
            full.projected_finish,
            full.status,
        )

    check(0)
    services.start_task(
        tasks["produce"], actor=crew.wawan, expected_version=None, now=at(60)
    )
    check(60)
    complete(tasks["target"], crew.dina, 90)
    check(90)
    complete(Task.objects.get(pk=tasks["produce"].pk), crew.wawan, 60 * 24 * 9)
    check(60 * 24 * 9)
    assert run.schedule_status == ScheduleStatus.LATE


def test_refreshing_follows_the_clock(crew, shipment):
    o = crew.o
    run = start(shipment, o.member, due_days=10)  # due Thursday 12 March 08:00 WIB
    assert run.schedule_status == ScheduleStatus.ON_TRACK

    # a week later nothing has moved: the work left no longer fits
    services.refresh_schedule(run, now=at(days=7))

    assert run.schedule_status == ScheduleStatus.LATE
    assert Run.objects.get(pk=run.pk).version == run.version == 1


def test_the_periodic_refresh_sweeps_active_runs_only(crew, shipment, events):
    o = crew.o
    late_soon = start(shipment, o.member, due_days=10)
    fine = start(shipment, o.member, due_days=60)
    suspended = start(shipment, o.member, due_days=10)
    services.suspend_run(
        suspended,
        actor=o.admin,
        expected_version=None,
        reason="Stock check",
        now=at(60),
    )
    audit_before = o.organisation.__class__.objects.get(pk=o.organisation.pk)

    result = services.refresh_schedules(organisation=o.organisation, now=at(days=7))

    assert result == services.ScheduleRefresh(
        runs=2, changed=1, now_at_risk=0, now_late=1
    )
    statuses_now = dict(Run.objects.values_list("pk", "schedule_status"))
    assert statuses_now[late_soon.pk] == ScheduleStatus.LATE
    assert statuses_now[fine.pk] == ScheduleStatus.ON_TRACK
    assert statuses_now[suspended.pk] == ScheduleStatus.ON_TRACK
    assert [e for e in events if e[0] == "run_late"] == [("run_late", late_soon.pk)]
    # derived data: no audit event, no version change
    audit_after = o.organisation.__class__.objects.get(pk=o.organisation.pk)
    assert audit_after.audit_sequence == audit_before.audit_sequence
    assert Run.objects.get(pk=late_soon.pk).version == 1

    # a second sweep finds nothing new and fires nothing again
    again = services.refresh_schedules(organisation=o.organisation, now=at(days=7))
    assert (again.runs, again.changed) == (2, 0)
    assert len([e for e in events if e[0] == "run_late"]) == 1


# --- the working calendar ---------------------------------------------------------


def test_public_holidays_are_loaded_and_move_due_dates(crew, audit_trail):
    o = crew.o
    trail = audit_trail(o.organisation)

    added = services.load_public_holidays(o.organisation, actor=o.admin, year=2026)

    days = {h.date for h in added}
    assert dt.date(2026, 8, 17) in days  # Independence Day
    assert dt.date(2026, 12, 25) in days
    event = trail.only_new_event()
    assert (event.verb, event.target_type) == (
        AuditVerb.IMPORTED,
        "chains.workingcalendar",
    )
    # loading again adds nothing
    assert services.load_public_holidays(o.organisation, actor=o.admin, year=2026) == []
    # due "on 17 August" (a holiday, a Monday) is the end of Friday 14 August
    assert services.due_at_for_date(o.organisation, dt.date(2026, 8, 17)) == (
        dt.datetime(2026, 8, 14, 9, 0, tzinfo=dt.UTC)
    )


def test_the_calendar_and_holidays_are_edited_by_administrators(crew):
    o = crew.o
    with pytest.raises(PermissionDenied):
        services.add_holiday(
            o.organisation, actor=o.member, date=dt.date(2026, 3, 3), name="Outing"
        )

    holiday = services.add_holiday(
        o.organisation, actor=o.admin, date=dt.date(2026, 3, 3), name="Company outing"
    )
    calendar = services.update_working_calendar(
        o.organisation,
        actor=o.admin,
        expected_version=None,
        working_weekdays=[5, 0, 1, 2, 3, 4],
        day_end=dt.time(17, 0),
    )

    assert calendar.working_weekdays == [0, 1, 2, 3, 4, 5]
    assert calendar.minutes_per_day == 540
    spec = projection.calendar_spec(o.organisation)
    assert spec.holidays == frozenset({dt.date(2026, 3, 3)})
    assert spec.day_end == dt.time(17, 0)
    services.remove_holiday(holiday, actor=o.admin)
    assert projection.calendar_spec(o.organisation).holidays == frozenset()
    with pytest.raises(ValidationFailed) as refused:
        services.update_working_calendar(
            o.organisation, actor=o.admin, expected_version=None, working_weekdays=[]
        )
    assert list(refused.value.errors) == ["working_weekdays"]


def test_other_organisations_cannot_act(crew, shipment, other_org):
    run = start(shipment, crew.o.member)
    produce = tasks_of(run)["produce"]
    before = snapshot(run)

    with pytest.raises(PermissionDenied):
        complete(produce, other_org.admin, 10)
    with pytest.raises(NotFound):
        services.suspend_run(
            run, actor=other_org.admin, expected_version=None, reason="x"
        )
    assert snapshot(run) == before
