"""What the chains engine offers the approval engine, tested without it: the
`requires_approval` flag of steps copied into tasks, the events of a requested
deviation, an awaiting and a reopened task, the decision gate in front of direct
decisions (and `via_route`, which the engine's adapters use), and the labels of
awaiting reasons."""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

import pytest

from rantai.audit.models import AuditVerb
from rantai.chains import extensions, services
from rantai.chains.extensions import GuardResult
from rantai.chains.models import (
    DeviationKind,
    DeviationStatus,
    ProcedureVersion,
    Run,
    Step,
    Task,
    TaskStatus,
)
from rantai.chains.tests.helpers import StepSpec, at, build_version, start, tasks_of
from rantai.core.errors import PermissionDenied, ValidationFailed


@pytest.fixture
def checked(crew) -> ProcedureVersion:  # type: ignore[no-untyped-def]
    """prepare (warehouse head: Wawan) → sign off (export staff; needs approval),
    both accountable to the head of export (Rina, the member)."""
    o = crew.o
    return build_version(
        o,
        [
            StepSpec("prepare", crew.warehouse_head, o.export_head),
            StepSpec(
                "sign-off",
                o.export_staff,
                o.export_head,
                after=["prepare"],
                extra={"requires_approval": True},
            ),
        ],
    )


def snapshot(run: Run) -> tuple:
    run.organisation.refresh_from_db(fields=["audit_sequence"])
    return (
        run.organisation.audit_sequence,
        tuple(Run.objects.filter(pk=run.pk).values_list("status", "version", "due_at")),
        tuple(
            Task.objects.filter(run=run)
            .order_by("id")
            .values_list("status", "version", "skipped_reason")
        ),
        tuple(run.deviations.values_list("status", "version")),
    )


# --- the flag ----------------------------------------------------------------------


def test_requires_approval_goes_from_the_step_into_new_drafts_and_tasks(
    crew, checked, audit_trail
):
    o = crew.o
    steps = {s.key: s for s in Step.objects.filter(procedure_version=checked)}
    assert (
        steps["prepare"].requires_approval,
        steps["sign-off"].requires_approval,
    ) == (
        False,
        True,
    )

    draft = services.new_draft(checked.procedure, actor=o.admin)
    copied = {s.key: s for s in Step.objects.filter(procedure_version=draft)}
    assert copied["sign-off"].requires_approval is True
    trail = audit_trail(o.organisation)
    services.update_step(
        copied["prepare"],
        actor=o.admin,
        expected_version=None,
        requires_approval=True,
    )
    assert trail.only_new_event().changes == {"requires_approval": [False, True]}
    copied["prepare"].refresh_from_db()
    assert copied["prepare"].requires_approval is True

    run = start(checked, o.member)
    tasks = tasks_of(run)
    assert (
        tasks["prepare"].requires_approval,
        tasks["sign-off"].requires_approval,
    ) == (
        False,
        True,
    )


# --- events -----------------------------------------------------------------------


@pytest.fixture
def seen(clean_registry) -> list[Any]:  # type: ignore[no-untyped-def]
    events: list[Any] = []
    extensions.register_deviation_requested_handler(events.append)
    extensions.register_task_awaiting_handler(events.append)
    extensions.register_task_reopened_handler(events.append)
    return events


def test_a_requested_deviation_is_announced(crew, checked, seen):
    o = crew.o
    run = start(checked, o.member)
    prepare = tasks_of(run)["prepare"]

    deviation = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=prepare,
        reason="Prepared last week",
        now=at(5),
    )

    assert seen == [
        extensions.DeviationRequested(
            o.organisation.pk, run.pk, deviation.pk, crew.dina.pk, at(5)
        )
    ]


def test_an_awaiting_task_is_announced_on_completion_and_each_recheck(
    crew, checked, seen
):
    o = crew.o
    signed: set[int] = set()
    extensions.register_completion_guard(
        lambda task: GuardResult(task.pk in signed or task.key != "prepare", "signed")
    )
    run = start(checked, o.member)
    prepare = tasks_of(run)["prepare"]

    services.complete_task(prepare, actor=crew.wawan, expected_version=None, now=at(10))
    services.recheck_task(prepare, actor=crew.wawan, expected_version=None, now=at(20))
    signed.add(prepare.pk)
    services.recheck_task(prepare, actor=crew.wawan, expected_version=None, now=at(30))

    assert prepare.status == TaskStatus.DONE
    assert seen == [
        extensions.TaskAwaiting(
            o.organisation.pk, run.pk, prepare.pk, crew.wawan.pk, ("signed",), at(10)
        ),
        extensions.TaskAwaiting(
            o.organisation.pk, run.pk, prepare.pk, crew.wawan.pk, ("signed",), at(20)
        ),
    ]


def test_a_reopened_task_is_announced(crew, checked, seen):
    o = crew.o
    run = start(checked, o.member)
    prepare = tasks_of(run)["prepare"]
    services.complete_task(prepare, actor=crew.wawan, expected_version=None, now=at(10))

    services.reopen_task(
        prepare,
        actor=crew.wawan,
        expected_version=None,
        reason="Wrong pallets",
        now=at(20),
    )

    assert seen == [
        extensions.TaskReopened(
            o.organisation.pk, run.pk, prepare.pk, crew.wawan.pk, at(20)
        )
    ]


def test_a_failing_event_handler_rolls_the_request_back(crew, checked):
    o = crew.o
    run = start(checked, o.member)

    def broken(event: extensions.DeviationRequested) -> None:
        raise ValidationFailed("No approver can be found.")

    extensions.register_deviation_requested_handler(broken)
    with pytest.raises(ValidationFailed):
        services.request_deviation(
            run,
            actor=crew.dina,
            kind=DeviationKind.SKIP_STEP,
            task=tasks_of(run)["prepare"],
            reason="Prepared last week",
        )
    assert not run.deviations.exists()


# --- the decision gate ------------------------------------------------------------


@pytest.fixture
def gate(clean_registry) -> list[tuple[str, int, dict[str, Any]]]:  # type: ignore[no-untyped-def]
    """A gate that refuses everything it is asked, and remembers what."""
    asked: list[tuple[str, int, dict[str, Any]]] = []

    def refuse(kind: str, subject_id: int, proposal: Mapping[str, Any]) -> str:
        asked.append((kind, subject_id, dict(proposal)))
        return "Decided along the route “Export deviations”."

    extensions.register_decision_gate(refuse)
    return asked


def test_the_gate_refuses_direct_decisions_on_a_deviation(crew, checked, gate):
    o = crew.o
    run = start(checked, o.member)
    deviation = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=tasks_of(run)["prepare"],
        reason="Prepared last week",
    )
    before = snapshot(run)

    for decide in (services.confirm_deviation, services.reject_deviation):
        with pytest.raises(ValidationFailed) as refused:
            decide(deviation, actor=o.member, expected_version=None)
        assert refused.value.code == "needs_approval"
        assert refused.value.errors == {
            "__all__": ["Decided along the route “Export deviations”."]
        }
    assert snapshot(run) == before
    assert gate == [("deviation", deviation.pk, {}), ("deviation", deviation.pk, {})]
    # who may decide is checked before the gate is asked
    with pytest.raises(PermissionDenied):
        services.confirm_deviation(deviation, actor=crew.dewi, expected_version=None)
    assert len(gate) == 2


def test_via_route_skips_the_gate_and_the_accountable_check_only(
    crew, checked, gate, audit_trail
):
    o = crew.o
    run = start(checked, o.member)
    prepare = tasks_of(run)["prepare"]
    skip = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=prepare,
        reason="Prepared last week",
    )
    reorder = services.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.REORDER,
        task=tasks_of(run)["sign-off"],
        details={"predecessors": []},
        reason="Sign off first",
    )
    # the requester never decides, not even through a route
    with pytest.raises(PermissionDenied):
        services.confirm_deviation(
            skip, actor=crew.dina, expected_version=None, via_route=True
        )
    trail = audit_trail(o.organisation)

    # Dewi holds no position: the route's engine vouched for her
    services.confirm_deviation(
        skip,
        actor=crew.dewi,
        expected_version=None,
        comment="Fine",
        via_route=True,
        now=at(30),
    )
    services.reject_deviation(
        reorder,
        actor=crew.dewi,
        expected_version=None,
        comment="Keep the order",
        via_route=True,
        now=at(40),
    )

    assert gate == []
    assert (skip.status, skip.decided_by, skip.decision_comment) == (
        DeviationStatus.CONFIRMED,
        crew.dewi,
        "Fine",
    )
    assert (reorder.status, reorder.decided_by) == (DeviationStatus.REJECTED, crew.dewi)
    assert Task.objects.get(pk=prepare.pk).status == TaskStatus.SKIPPED
    assert [e.verb for e in trail.new_events()] == [
        AuditVerb.DEVIATION_CONFIRMED,
        AuditVerb.DEVIATION_REJECTED,
    ]


def test_the_gate_refuses_a_direct_due_date_move_and_sees_the_proposal(
    crew, checked, gate
):
    o = crew.o
    run = start(checked, o.member)
    before = snapshot(run)

    with pytest.raises(ValidationFailed) as refused:
        services.move_due_date(
            run,
            actor=o.member,
            expected_version=None,
            due_at=at(days=20),
            reason="Customer asks",
        )
    assert refused.value.code == "needs_approval"
    assert gate == [("due_date_change", run.pk, {"due_at": at(days=20)})]
    assert snapshot(run) == before
    # the owner's right is checked before the gate: Dewi learns nothing of it
    with pytest.raises(PermissionDenied):
        services.move_due_date(
            run,
            actor=crew.dewi,
            expected_version=None,
            due_at=at(days=20),
            reason="Customer asks",
        )
    assert len(gate) == 1

    # through the route: the approver need not hold the owner position
    services.move_due_date(
        run,
        actor=crew.dewi,
        expected_version=None,
        due_at=at(days=20),
        reason="Customer asks",
        via_route=True,
        now=at(60),
    )
    assert Run.objects.get(pk=run.pk).due_at == at(days=20)
    assert len(gate) == 1


def test_without_a_gate_direct_decisions_stay_as_they_were(crew, checked):
    o = crew.o
    run = start(checked, o.member)
    assert extensions.decision_gate("deviation", 1) is None

    services.move_due_date(
        run,
        actor=o.member,
        expected_version=None,
        due_at=at(days=20),
        reason="Customer asks",
    )
    assert run.due_at == at(days=20)


def test_the_first_gate_that_refuses_gives_the_reason(clean_registry):
    extensions.register_decision_gate(lambda kind, pk, proposal: None)
    extensions.register_decision_gate(lambda kind, pk, proposal: f"{kind} {pk} no")
    extensions.register_decision_gate(lambda kind, pk, proposal: "never asked")

    assert extensions.decision_gate("deviation", 7) == "deviation 7 no"


# --- reason labels ----------------------------------------------------------------


def test_a_reason_shows_its_label_or_itself(clean_registry):
    extensions.register_reason_label("signed", "the signed note")

    assert extensions.reason_label("signed") == "the signed note"
    assert extensions.reason_label("The release note is missing.") == (
        "The release note is missing."
    )
