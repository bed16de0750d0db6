"""Procedure discipline: skipping, adding or reordering a step in one run is a
deviation with a reason, confirmed by a holder of the accountable position who did
not ask for it — administrators included — and visible on the run forever."""

from __future__ import annotations

import datetime as dt

import pytest

from rantai.accounts.access import access_for
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains import queries, services
from rantai.chains.models import (
    Deviation,
    DeviationKind,
    DeviationStatus,
    RunStatus,
    Task,
    TaskDependency,
    TaskStatus,
)
from rantai.chains.tests.helpers import (
    StepSpec,
    at,
    build_version,
    start,
    statuses,
    tasks_of,
)
from rantai.core.errors import Conflict, PermissionDenied, ValidationFailed
from rantai.org import services as org


@pytest.fixture
def run(crew):  # type: ignore[no-untyped-def]
    """target and produce in parallel, schedule after both, pickup after schedule;
    every step accountable to the head of export (Rina) but pickup (warehouse)."""
    o = crew.o
    version = build_version(
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
    return start(version, o.member)


def snapshot(run):  # type: ignore[no-untyped-def]
    run.organisation.refresh_from_db(fields=["audit_sequence"])
    return (
        run.organisation.audit_sequence,
        tuple(
            Task.objects.filter(run=run)
            .order_by("id")
            .values_list("status", "version", "skipped_reason")
        ),
        tuple(TaskDependency.objects.filter(run=run).values_list("id", flat=True)),
        tuple(run.deviations.values_list("status", "version")),
    )


def test_skipping_needs_the_accountable_holder_who_did_not_ask(crew, run, audit_trail):
    o = crew.o
    target = tasks_of(run)["target"]
    trail = audit_trail(o.organisation)
    deviation = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=target,
        reason="The customer sent the target in the order",
        now=at(5),
    )
    assert (deviation.status, deviation.requested_at) == (
        DeviationStatus.REQUESTED,
        at(5),
    )
    requested = snapshot(run)

    # not the requester, not an administrator without the position, not a bystander
    for user in (crew.dina, o.admin, crew.dewi, crew.wawan):
        with pytest.raises(PermissionDenied):
            services.confirm_deviation(deviation, actor=user, expected_version=None)
    assert snapshot(run) == requested

    services.confirm_deviation(
        deviation, actor=o.member, expected_version=deviation.version, now=at(10)
    )

    assert (deviation.status, deviation.decided_by, deviation.decided_at) == (
        DeviationStatus.CONFIRMED,
        o.member,
        at(10),
    )
    skipped = Task.objects.get(pk=target.pk)
    assert (skipped.status, skipped.skipped_reason) == (
        TaskStatus.SKIPPED,
        "The customer sent the target in the order",
    )
    events = trail.new_events()
    assert [e.verb for e in events] == [
        AuditVerb.DEVIATION_REQUESTED,
        AuditVerb.DEVIATION_CONFIRMED,
    ]
    assert events[1].changes["applied"] == {"skipped": target.pk}
    assert events[0].personal.changes == {
        "reason": "The customer sent the target in the order"
    }
    # the deviation stays visible on the run
    detail = queries.run_detail(access_for(o.admin, "acme"), run.pk)
    assert [(d.kind, d.status) for d in detail.deviations] == [
        (DeviationKind.SKIP_STEP, DeviationStatus.CONFIRMED)
    ]
    assert audit.verify(o.organisation).ok


def test_an_acting_holder_may_confirm(crew, run):
    o = crew.o
    org.assign_holder(
        o.export_head,
        actor=o.admin,
        person=crew.o.rina.__class__.objects.get(user=crew.dewi),
        start_date=dt.date(2026, 1, 1),
        is_acting=True,
    )
    deviation = services.request_deviation(
        run,
        actor=o.member,
        kind=DeviationKind.SKIP_STEP,
        task=tasks_of(run)["target"],
        reason="Agreed by phone",
    )

    services.confirm_deviation(deviation, actor=crew.dewi, expected_version=None)

    assert deviation.status == DeviationStatus.CONFIRMED


def test_a_rejected_deviation_changes_nothing_in_the_run(crew, run, audit_trail):
    o = crew.o
    deviation = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=tasks_of(run)["produce"],
        reason="Stock is enough",
    )
    before = snapshot(run)[1:3]

    services.reject_deviation(
        deviation, actor=o.member, expected_version=None, comment="It is not"
    )

    assert deviation.status == DeviationStatus.REJECTED
    assert snapshot(run)[1:3] == before


def test_deciding_a_decided_deviation_is_a_conflict_and_writes_nothing(crew, run):
    o = crew.o
    deviation = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=tasks_of(run)["produce"],
        reason="Stock is enough",
    )
    stale = Deviation.objects.get(pk=deviation.pk)
    services.reject_deviation(deviation, actor=o.member, expected_version=1)
    before = snapshot(run)

    # read after the decision (its current version), or before it (stale)
    for copy, version in ((deviation, 2), (stale, 1), (stale, None)):
        for decide in (services.confirm_deviation, services.reject_deviation):
            with pytest.raises(Conflict) as again:
                decide(copy, actor=o.member, expected_version=version)
            assert again.value.status == 409

    assert again.value.message == (
        "This record was changed by someone else in the meantime. Reload it and "
        "try again."
    )
    with pytest.raises(Conflict) as decided:
        services.confirm_deviation(deviation, actor=o.member, expected_version=2)
    assert decided.value.message == "This deviation was already decided."
    assert snapshot(run) == before
    deviation.refresh_from_db()
    assert (deviation.status, deviation.version) == (DeviationStatus.REJECTED, 2)


def test_skipping_a_waiting_task_lets_it_pass_when_the_chain_reaches_it(crew, run):
    o = crew.o
    deviation = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=tasks_of(run)["schedule"],
        reason="Forwarder schedules it",
    )
    services.confirm_deviation(deviation, actor=o.member, expected_version=None)
    assert statuses(run)["schedule"] == "pending"

    tasks = tasks_of(run)
    services.complete_task(tasks["target"], actor=crew.dina, expected_version=None)
    services.complete_task(tasks["produce"], actor=crew.wawan, expected_version=None)

    assert statuses(run) == {
        "target": "done",
        "produce": "done",
        "schedule": "skipped",
        "pickup": "ready",
    }
    assert tasks_of(run)["produce"].path_to_end_minutes == 5 * 480 + 480


def test_adding_a_step_puts_a_new_task_into_this_run_only(crew, run):
    o = crew.o
    tasks = tasks_of(run)
    deviation = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.ADD_STEP,
        reason="The customer wants an inspection",
        details={
            "key": "inspect",
            "name": "Inspect the goods",
            "duration_minutes": 240,
            "responsible_position": crew.warehouse_head.pk,
            "accountable_position": o.export_head.pk,
            "after": [tasks["produce"].pk],
            "before": [tasks["schedule"].pk],
        },
    )

    # a new step is confirmed by the accountable of the procedure (its owner)
    with pytest.raises(PermissionDenied):
        services.confirm_deviation(deviation, actor=crew.wawan, expected_version=None)
    services.confirm_deviation(deviation, actor=o.member, expected_version=None)

    inspect = Task.objects.get(run=run, key="inspect")
    assert (inspect.step, inspect.added_by_deviation, inspect.status) == (
        None,
        deviation,
        TaskStatus.PENDING,
    )
    services.complete_task(tasks["produce"], actor=crew.wawan, expected_version=None)
    services.complete_task(tasks["target"], actor=crew.dina, expected_version=None)
    assert statuses(run)["inspect"] == "ready"
    assert statuses(run)["schedule"] == "pending"
    assert not run.procedure_version.steps.filter(key="inspect").exists()


def test_reordering_changes_the_dependencies_of_the_copy(crew, run):
    o = crew.o
    tasks = tasks_of(run)
    deviation = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.REORDER,
        task=tasks["produce"],
        reason="Produce only once the target is set",
        details={"predecessors": [tasks["target"].pk]},
    )

    services.confirm_deviation(deviation, actor=o.member, expected_version=None)

    assert statuses(run)["produce"] == "pending"
    assert list(
        TaskDependency.objects.filter(successor=tasks["produce"]).values_list(
            "predecessor__key", flat=True
        )
    ) == ["target"]
    services.complete_task(tasks["target"], actor=crew.dina, expected_version=None)
    assert statuses(run)["produce"] == "ready"


def test_a_reorder_that_makes_a_circle_is_refused(crew, run):
    o = crew.o
    tasks = tasks_of(run)
    deviation = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.REORDER,
        task=tasks["target"],
        reason="Target after pickup",
        details={"predecessors": [tasks["pickup"].pk]},
    )
    before = snapshot(run)

    with pytest.raises(ValidationFailed) as refused:
        services.confirm_deviation(deviation, actor=o.member, expected_version=None)

    assert refused.value.errors == {
        "predecessors": ["This order would make tasks wait on each other."]
    }
    assert snapshot(run) == before


def test_deviations_need_a_reason_and_a_task_that_has_not_started(crew, run):
    o = crew.o
    produce = tasks_of(run)["produce"]
    services.start_task(produce, actor=crew.wawan, expected_version=None)
    before = snapshot(run)

    with pytest.raises(ValidationFailed) as no_reason:
        services.request_deviation(
            run,
            actor=crew.dina,
            kind=DeviationKind.SKIP_STEP,
            task=tasks_of(run)["target"],
            reason="  ",
        )
    with pytest.raises(ValidationFailed) as started:
        services.request_deviation(
            run,
            actor=crew.dina,
            kind=DeviationKind.SKIP_STEP,
            task=produce,
            reason="Too late",
        )
    with pytest.raises(PermissionDenied):
        services.request_deviation(
            run,
            actor=o.partner,
            kind=DeviationKind.SKIP_STEP,
            task=tasks_of(run)["target"],
            reason="Partner wants it",
        )

    assert no_reason.value.errors == {"reason": ["This field is required."]}
    assert started.value.errors == {
        "task": ["Only a task that has not started can be changed."]
    }
    assert snapshot(run) == before


def test_skipping_the_last_open_task_completes_the_run(crew, run):
    o = crew.o
    tasks = tasks_of(run)
    services.complete_task(tasks["target"], actor=crew.dina, expected_version=None)
    services.complete_task(tasks["produce"], actor=crew.wawan, expected_version=None)
    services.complete_task(
        Task.objects.get(pk=tasks["schedule"].pk),
        actor=crew.wawan,
        expected_version=None,
    )
    deviation = services.request_deviation(
        run,
        actor=o.member,
        kind=DeviationKind.SKIP_STEP,
        task=tasks["pickup"],
        reason="The customer collects the goods",
    )

    services.confirm_deviation(deviation, actor=crew.wawan, expected_version=None)

    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert statuses(run)["pickup"] == "skipped"
