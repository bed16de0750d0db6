"""The approval engine plugged into chains, end to end through the real services: a
route published with `routes.py`, a run started, and the deviation, due-date change
or task completion asked for, decided by the stage's approvers and applied (or
not) to the run.

The crew (rantai/chains/tests/conftest.py): Rina (the member) holds the head of
export — the owner of the procedure and the accountable of its steps; Dina (member)
and Budi (no login) hold the export clerk, whose superior is the head of export;
Wawan (member) heads the warehouse; Dewi is a member holding nothing.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.models import User
from rantai.approvals import requesting, routes, services
from rantai.approvals.models import (
    ApprovalRequest,
    ApproverRule,
    Outcome,
    RequestStatus,
    RouteVersion,
    StageApprover,
    SubjectKind,
)
from rantai.audit.models import AuditVerb
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.models import (
    ConditionOperator,
    DeviationKind,
    DeviationStatus,
    ProcedureVersion,
    Run,
    Task,
    TaskStatus,
)
from rantai.chains.tests.conftest import Crew, crew  # noqa: F401 - the fixture
from rantai.chains.tests.helpers import StepSpec, at, build_version, start, tasks_of
from rantai.core.errors import PermissionDenied, ValidationFailed
from rantai.testing import SmallOrg


def publish_route(
    o: SmallOrg,
    kind: str,
    *,
    code: str,
    stages: list[dict[str, Any]],
    conditions: tuple[tuple[str, str, Any], ...] = (),
) -> RouteVersion:
    route = routes.create_route(
        o.organisation,
        actor=o.admin,
        code=code,
        name=f"Route {code}",
        subject_kind=kind,
    )
    version = route.versions.get()
    for number, stage in enumerate(stages, start=1):
        routes.add_stage(version, actor=o.admin, name=f"Stage {number}", **stage)
    for field, operator, value in conditions:
        routes.add_condition(
            version, actor=o.admin, field=field, operator=operator, value=value
        )
    routes.publish(version, actor=o.admin, expected_version=None, now=at(-60))
    version.refresh_from_db()
    return version


def approvers(request: ApprovalRequest) -> set[int]:
    """The people who may decide the request's open stage."""
    return set(
        StageApprover.objects.filter(
            request_stage__request=request,
            request_stage__order=request.current_stage or 0,
        ).values_list("person_id", flat=True)
    )


def request_of(kind: str, subject_id: int) -> ApprovalRequest:
    return ApprovalRequest.objects.filter(
        subject_kind=kind, subject_id=subject_id
    ).latest("id")


def decide(
    request: ApprovalRequest, user: User, outcome: str, minutes: int, comment: str = ""
) -> None:
    services.decide(
        request, actor=user, outcome=outcome, comment=comment, now=at(minutes)
    )


@pytest.fixture
def shipment(crew: Crew) -> ProcedureVersion:  # noqa: F811
    """target (export clerks) → sign off (export clerks; needs approval) → ship
    (warehouse); produce (warehouse) beside them. Everything is accountable to
    the head of export."""
    o = crew.o
    return build_version(
        o,
        [
            StepSpec("target", o.export_staff, o.export_head),
            StepSpec("produce", crew.warehouse_head, o.export_head),
            StepSpec(
                "sign-off",
                o.export_staff,
                o.export_head,
                after=["target"],
                extra={"requires_approval": True},
            ),
            StepSpec("ship", crew.warehouse_head, o.export_head, after=["sign-off"]),
        ],
        fields=[{"key": "incoterm", "label": "Incoterm", "field_type": "text"}],
    )


@pytest.fixture
def run(crew: Crew, shipment: ProcedureVersion) -> Run:  # noqa: F811
    return start(shipment, crew.o.member, field_values={"incoterm": "FOB"})


# --- deviations -------------------------------------------------------------------


@pytest.fixture
def deviation_route(crew: Crew) -> RouteVersion:  # noqa: F811
    """Skipping a step of an FOB shipment: the requester's superior decides."""
    return publish_route(
        crew.o,
        SubjectKind.DEVIATION,
        code="DEV-FOB",
        stages=[{"rule": ApproverRule.SUPERIOR}],
        conditions=(
            ("procedure", ConditionOperator.EQ, "SHIP"),
            ("kind", ConditionOperator.EQ, DeviationKind.SKIP_STEP),
            ("run.incoterm", ConditionOperator.EQ, "FOB"),
        ),
    )


def skip_target(crew: Crew, run: Run) -> Any:  # noqa: F811
    return chains.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=tasks_of(run)["target"],
        reason="The customer sent the target with the order",
        now=at(5),
    )


def test_a_routed_deviation_is_applied_once_the_route_approves(
    crew,  # noqa: F811
    run,
    deviation_route,
    audit_trail,
):
    o = crew.o
    deviation = skip_target(crew, run)

    request = request_of(SubjectKind.DEVIATION, deviation.pk)
    assert (request.status, request.route_version, request.subject_version) == (
        RequestStatus.OPEN,
        deviation_route,
        deviation.version,
    )
    assert (request.requester, request.requester_position, request.run_id) == (
        crew.dina_person,
        o.export_staff,
        run.pk,
    )
    assert request.title == "Ship 500 units to Kota A — Target"
    assert approvers(request) == {o.rina.pk}

    # while it is routed, the accountable (Rina herself) cannot decide directly
    with pytest.raises(ValidationFailed) as refused:
        chains.confirm_deviation(deviation, actor=o.member, expected_version=None)
    assert refused.value.code == "needs_approval"
    assert "Route DEV-FOB" in refused.value.message
    trail = audit_trail(o.organisation)

    decide(request, o.member, Outcome.APPROVE, 30, comment="Fine by me")

    deviation.refresh_from_db()
    assert (
        deviation.status,
        deviation.decided_by,
        deviation.decided_at,
        deviation.decision_comment,
    ) == (DeviationStatus.CONFIRMED, o.member, at(30), "Fine by me")
    target = Task.objects.get(pk=tasks_of(run)["target"].pk)
    assert target.status == TaskStatus.SKIPPED
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    verbs = {e.verb for e in trail.new_events()}
    assert {AuditVerb.APPROVED, AuditVerb.DEVIATION_CONFIRMED} <= verbs


def test_a_routed_deviation_rejected_by_the_route_is_rejected(
    crew,  # noqa: F811
    run,
    deviation_route,
):
    o = crew.o
    deviation = skip_target(crew, run)
    request = request_of(SubjectKind.DEVIATION, deviation.pk)

    decide(request, o.member, Outcome.REJECT, 30, comment="The target is not final")

    deviation.refresh_from_db()
    assert (deviation.status, deviation.decided_by, deviation.decision_comment) == (
        DeviationStatus.REJECTED,
        o.member,
        "The target is not final",
    )
    assert tasks_of(run)["target"].status == TaskStatus.READY


def test_a_withdrawn_deviation_request_is_asked_again_not_decided_directly(
    crew,  # noqa: F811
    run,
    deviation_route,
):
    o = crew.o
    deviation = skip_target(crew, run)
    first = request_of(SubjectKind.DEVIATION, deviation.pk)
    services.withdraw(first, actor=crew.dina, expected_version=None, now=at(10))

    # the route still applies: no direct decision
    with pytest.raises(ValidationFailed) as refused:
        chains.confirm_deviation(deviation, actor=o.member, expected_version=None)
    assert refused.value.code == "needs_approval"
    # only the requester (or an administrator) asks again
    with pytest.raises(PermissionDenied):
        requesting.request_deviation_approval(deviation, actor=crew.wawan)

    again = requesting.request_deviation_approval(
        deviation, actor=crew.dina, now=at(20)
    )

    assert again.pk != first.pk
    assert (again.status, again.requester_position) == (
        RequestStatus.OPEN,
        o.export_staff,
    )
    with pytest.raises(ValidationFailed) as twice:
        requesting.request_deviation_approval(deviation, actor=crew.dina)
    assert twice.value.code == "pending_approval"


def test_without_a_matching_route_the_accountable_confirms_as_before(
    crew,  # noqa: F811
    shipment,
    deviation_route,
):
    o = crew.o
    run = start(shipment, o.member, field_values={"incoterm": "CIF"})
    deviation = skip_target(crew, run)

    assert not ApprovalRequest.objects.filter(subject_id=deviation.pk).exists()
    with pytest.raises(ValidationFailed) as refused:
        requesting.request_deviation_approval(deviation, actor=crew.dina)
    assert refused.value.code == "no_route"
    chains.confirm_deviation(deviation, actor=o.member, expected_version=None)
    assert deviation.status == DeviationStatus.CONFIRMED


# --- due-date changes -------------------------------------------------------------


@pytest.fixture
def due_date_route(crew: Crew) -> RouteVersion:  # noqa: F811
    """Moving the due date more than three days later: the head of the warehouse."""
    return publish_route(
        crew.o,
        SubjectKind.DUE_DATE_CHANGE,
        code="DUE-LATE",
        stages=[{"rule": ApproverRule.POSITION, "position": crew.warehouse_head}],
        conditions=(("days_later", ConditionOperator.GT, 3),),
    )


def test_a_routed_due_date_change_moves_the_date_once_approved(
    crew,  # noqa: F811
    run,
    due_date_route,
    audit_trail,
):
    o = crew.o
    old = run.due_at

    # Dina does not hold the owner position, but the route decides
    request = requesting.request_due_date_change(
        run,
        actor=crew.dina,
        due_at=at(days=21),
        reason="The vessel sails a week later",
        expected_version=run.version,
        now=at(10),
    )

    assert isinstance(request, ApprovalRequest)
    assert request.payload == {
        "due_at": at(days=21).isoformat(),
        "reason": "The vessel sails a week later",
        "from": old.isoformat(),
    }
    assert request.title == "Ship 500 units to Kota A"
    assert approvers(request) == {crew.wawan_person.pk}
    assert Run.objects.get(pk=run.pk).due_at == old
    # the owner cannot move it directly while the change waits, nor ask twice
    with pytest.raises(ValidationFailed) as refused:
        chains.move_due_date(
            run,
            actor=o.member,
            expected_version=None,
            due_at=at(days=15),
            reason="Small change",
        )
    assert refused.value.code == "needs_approval"
    with pytest.raises(ValidationFailed) as twice:
        requesting.request_due_date_change(
            run, actor=o.member, due_at=at(days=30), reason="Later still"
        )
    assert twice.value.code == "pending_approval"
    trail = audit_trail(o.organisation)

    decide(request, crew.wawan, Outcome.APPROVE, 40)

    moved = Run.objects.get(pk=run.pk)
    assert moved.due_at == at(days=21)
    event = next(e for e in trail.new_events() if e.verb == AuditVerb.DUE_DATE_MOVED)
    assert event.actor_id == crew.wawan.pk
    assert event.changes == {"due_at": [old.isoformat(), at(days=21).isoformat()]}


def test_a_rejected_due_date_change_changes_nothing(
    crew,  # noqa: F811
    run,
    due_date_route,
):
    request = requesting.request_due_date_change(
        run, actor=crew.dina, due_at=at(days=21), reason="Later", now=at(10)
    )
    assert isinstance(request, ApprovalRequest)
    before = Run.objects.filter(pk=run.pk).values_list("due_at", "version").get()

    decide(request, crew.wawan, Outcome.REJECT, 40, comment="The customer said no")

    assert Run.objects.filter(pk=run.pk).values_list("due_at", "version").get() == (
        before
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED


def test_a_due_date_change_no_route_applies_to_moves_directly(
    crew,  # noqa: F811
    run,
    due_date_route,
):
    o = crew.o
    # two days later: no route; the direct rule (the owner position) holds
    with pytest.raises(PermissionDenied):
        requesting.request_due_date_change(
            run, actor=crew.dina, due_at=run.due_at + dt.timedelta(days=2), reason="x"
        )

    moved = requesting.request_due_date_change(
        run,
        actor=o.member,
        due_at=run.due_at + dt.timedelta(days=2),
        reason="The truck comes on Monday",
        now=at(10),
    )

    assert isinstance(moved, Run)
    assert Run.objects.get(pk=run.pk).due_at == at(days=16)
    assert not ApprovalRequest.objects.filter(
        subject_kind=SubjectKind.DUE_DATE_CHANGE
    ).exists()


def test_a_due_date_change_is_checked_before_it_is_asked_for(
    crew,  # noqa: F811
    run,
    due_date_route,
):
    o = crew.o
    for due_at, field in (
        (at(-10), "due_at"),
        (dt.datetime(2026, 4, 1, 12, 0), "due_at"),
    ):
        with pytest.raises(ValidationFailed) as refused:
            requesting.request_due_date_change(
                run, actor=crew.dina, due_at=due_at, reason="Later"
            )
        assert field in refused.value.errors
    with pytest.raises(ValidationFailed) as refused:
        requesting.request_due_date_change(
            run, actor=crew.dina, due_at=at(days=21), reason="  "
        )
    assert "reason" in refused.value.errors
    with pytest.raises(PermissionDenied):
        requesting.request_due_date_change(
            run, actor=o.auditor, due_at=at(days=21), reason="Later"
        )
    assert not ApprovalRequest.objects.exists()


# --- task completions -------------------------------------------------------------


@pytest.fixture
def sign_off_route(crew: Crew) -> RouteVersion:  # noqa: F811
    """Signing off an export: the step's accountable decides."""
    return publish_route(
        crew.o,
        SubjectKind.TASK_COMPLETION,
        code="SIGN",
        stages=[{"rule": ApproverRule.STEP_ACCOUNTABLE}],
        conditions=(("step", ConditionOperator.EQ, "Sign Off"),),
    )


def complete(task: Task, user: User, minutes: int) -> Task:
    return chains.complete_task(
        task, actor=user, expected_version=None, now=at(minutes)
    )


def ready_sign_off(crew: Crew, run: Run) -> Task:  # noqa: F811
    complete(tasks_of(run)["target"], crew.dina, 10)
    sign_off = tasks_of(run)["sign-off"]
    assert sign_off.status == TaskStatus.READY
    return sign_off


def test_a_task_that_requires_approval_is_done_once_approved(
    crew,  # noqa: F811
    run,
    sign_off_route,
    audit_trail,
):
    o = crew.o
    sign_off = ready_sign_off(crew, run)

    complete(sign_off, crew.dina, 20)

    assert (sign_off.status, sign_off.awaiting_reasons) == (
        TaskStatus.AWAITING,
        ["approval"],
    )
    assert extensions.reason_label("approval") == "approval"
    request = request_of(SubjectKind.TASK_COMPLETION, sign_off.pk)
    assert (request.status, request.subject_version, request.requester) == (
        RequestStatus.OPEN,
        1,
        crew.dina_person,
    )
    assert request.title == "Ship 500 units to Kota A — Sign Off"
    assert approvers(request) == {o.rina.pk}
    # checking again changes nothing while the approvers have not decided
    chains.recheck_task(sign_off, actor=crew.dina, expected_version=None, now=at(25))
    assert sign_off.status == TaskStatus.AWAITING
    assert ApprovalRequest.objects.filter(subject_id=sign_off.pk).count() == 1
    trail = audit_trail(o.organisation)

    decide(request, o.member, Outcome.APPROVE, 30)

    tasks = tasks_of(run)
    assert (tasks["sign-off"].status, tasks["sign-off"].done_at) == (
        TaskStatus.DONE,
        at(30),
    )
    assert tasks["ship"].status == TaskStatus.READY
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    completed = next(
        e for e in trail.new_events() if e.verb == AuditVerb.TASK_COMPLETED
    )
    assert (completed.actor_id, completed.changes["status"]) == (
        o.member.pk,
        ["awaiting", "done"],
    )


def test_a_reopened_task_needs_a_new_approval(
    crew,  # noqa: F811
    run,
    sign_off_route,
):
    o = crew.o
    sign_off = ready_sign_off(crew, run)
    complete(sign_off, crew.dina, 20)
    first = request_of(SubjectKind.TASK_COMPLETION, sign_off.pk)
    decide(first, o.member, Outcome.APPROVE, 30)
    sign_off.refresh_from_db()

    chains.reopen_task(
        sign_off,
        actor=o.member,
        expected_version=None,
        reason="The signature is on the wrong page",
        now=at(40),
    )
    complete(sign_off, crew.dina, 50)

    # the first round's approval does not count for the second
    assert (sign_off.status, sign_off.awaiting_reasons) == (
        TaskStatus.AWAITING,
        ["approval"],
    )
    second = request_of(SubjectKind.TASK_COMPLETION, sign_off.pk)
    assert second.pk != first.pk
    assert (second.status, second.subject_version) == (RequestStatus.OPEN, 2)
    first.refresh_from_db()
    assert (first.status, first.subject_version) == (RequestStatus.APPROVED, 1)

    decide(second, o.member, Outcome.APPROVE, 60)
    assert Task.objects.get(pk=sign_off.pk).status == TaskStatus.DONE


def test_a_rejected_task_stays_awaiting_until_approval_is_asked_again(
    crew,  # noqa: F811
    run,
    sign_off_route,
):
    o = crew.o
    sign_off = ready_sign_off(crew, run)
    complete(sign_off, crew.dina, 20)
    first = request_of(SubjectKind.TASK_COMPLETION, sign_off.pk)

    decide(first, o.member, Outcome.REJECT, 30, comment="Unsigned copy")

    sign_off.refresh_from_db()
    assert (sign_off.status, sign_off.awaiting_reasons) == (
        TaskStatus.AWAITING,
        ["approval_rejected"],
    )
    assert extensions.reason_label("approval_rejected") == (
        "approval rejected — ask for it again"
    )
    # nobody re-submits behind the requester's back
    chains.recheck_task(sign_off, actor=crew.dina, expected_version=None, now=at(35))
    assert ApprovalRequest.objects.filter(subject_id=sign_off.pk).count() == 1
    # only someone who may act on the task asks again
    with pytest.raises(PermissionDenied):
        requesting.request_task_approval(sign_off, actor=crew.dewi)

    second = requesting.request_task_approval(sign_off, actor=crew.dina, now=at(40))

    sign_off.refresh_from_db()
    assert sign_off.awaiting_reasons == ["approval"]
    assert (second.status, second.subject_version) == (RequestStatus.OPEN, 1)
    decide(second, o.member, Outcome.APPROVE, 50)
    assert Task.objects.get(pk=sign_off.pk).status == TaskStatus.DONE


def test_without_a_route_the_task_says_so_until_one_is_defined(
    crew,  # noqa: F811
    run,
):
    o = crew.o
    sign_off = ready_sign_off(crew, run)

    complete(sign_off, crew.dina, 20)

    assert (sign_off.status, sign_off.awaiting_reasons) == (
        TaskStatus.AWAITING,
        ["no_approval_route"],
    )
    assert extensions.reason_label("no_approval_route") == (
        "no approval route applies — ask an administrator to define one"
    )
    assert not ApprovalRequest.objects.exists()
    with pytest.raises(ValidationFailed) as refused:
        requesting.request_task_approval(sign_off, actor=crew.dina)
    assert refused.value.code == "no_route"

    publish_route(
        o,
        SubjectKind.TASK_COMPLETION,
        code="SIGN",
        stages=[{"rule": ApproverRule.STEP_ACCOUNTABLE}],
    )
    # checking again now asks the route
    chains.recheck_task(sign_off, actor=crew.dina, expected_version=None, now=at(30))

    assert sign_off.awaiting_reasons == ["approval"]
    request = request_of(SubjectKind.TASK_COMPLETION, sign_off.pk)
    decide(request, o.member, Outcome.APPROVE, 40)
    assert Task.objects.get(pk=sign_off.pk).status == TaskStatus.DONE


def test_an_approval_arriving_while_the_run_is_suspended_counts_on_resuming(
    crew,  # noqa: F811
    run,
    sign_off_route,
):
    o = crew.o
    sign_off = ready_sign_off(crew, run)
    complete(sign_off, crew.dina, 20)
    request = request_of(SubjectKind.TASK_COMPLETION, sign_off.pk)
    chains.suspend_run(
        Run.objects.get(pk=run.pk),
        actor=o.member,
        expected_version=None,
        reason="Customs strike",
        now=at(25),
    )

    decide(request, o.member, Outcome.APPROVE, 30)

    assert Task.objects.get(pk=sign_off.pk).status == TaskStatus.AWAITING
    chains.resume_run(
        Run.objects.get(pk=run.pk), actor=o.member, expected_version=None, now=at(35)
    )
    sign_off.refresh_from_db()
    chains.recheck_task(sign_off, actor=crew.dina, expected_version=None, now=at(40))
    assert sign_off.status == TaskStatus.DONE


# --- the cost for ordinary tasks --------------------------------------------------


def test_the_guard_costs_ordinary_tasks_no_query(
    crew,  # noqa: F811
    shipment,
    sign_off_route,
    django_assert_num_queries,
):
    o = crew.o
    plain, guarded = (
        start(shipment, o.member, field_values={"incoterm": "FOB"}) for _ in range(2)
    )

    with (
        extensions.isolated_registry(),
        CaptureQueriesContext(connection) as without,
    ):
        complete(tasks_of(plain)["produce"], crew.wawan, 10)
    with extensions.isolated_registry() as registry:
        registry.completion_guards.append(requesting.completion_guard)
        registry.task_awaiting.append(requesting.on_task_awaiting)
        registry.task_reopened.append(requesting.on_task_reopened)
        with django_assert_num_queries(len(without.captured_queries)) as captured:
            complete(tasks_of(guarded)["produce"], crew.wawan, 10)

    assert not any("approvals_" in q["sql"] for q in captured.captured_queries)
    produce = tasks_of(guarded)["produce"]
    assert produce.status == TaskStatus.DONE
    with django_assert_num_queries(0):
        assert requesting.completion_guard(produce).ok


def test_approvals_registers_its_guard_handlers_gate_and_rules():
    """What `wiring.register()` put into the registries of the lower apps."""
    from rantai.approvals import adapters, subjects, timers
    from rantai.approvals.models import TimerKind
    from rantai.org import extensions as org

    registry = extensions.registry
    assert requesting.completion_guard in registry.completion_guards
    assert requesting.on_deviation_requested in registry.deviation_requested
    assert requesting.on_task_awaiting in registry.task_awaiting
    assert requesting.on_task_reopened in registry.task_reopened
    assert requesting.decision_gate in registry.decision_gates
    assert subjects.adapter_for(SubjectKind.DEVIATION) is adapters.DEVIATION
    assert subjects.adapter_for(SubjectKind.DUE_DATE_CHANGE) is adapters.DUE_DATE_CHANGE
    assert subjects.adapter_for(SubjectKind.TASK_COMPLETION) is adapters.TASK_COMPLETION
    assert timers.registered()[TimerKind.APPROVAL_STAGE] is services.stage_timer_rule
    assert services.on_holders_changed in org.registry.holders_changed


# --- the cost of a decision ---------------------------------------------------------


def test_a_decision_that_applies_a_deviation_costs_a_fixed_number_of_statements(
    crew,  # noqa: F811
    run,
    deviation_route,
    django_assert_num_queries,
):
    """The statements of `decide` (benchmarks/approval_decisions.py measures the
    same path): 23 of them apply the deviation (its adapter and
    `chains.confirm_deviation`, the run's projection included), the rest are the
    engine's own (50 in all before the decision's INSERT stopped taking a
    savepoint). Inside the test's transaction, its SAVEPOINT and RELEASE stand for
    BEGIN and COMMIT. The roles app adds 4 for the task the skip releases: the
    assignment policy's candidates and its rationale row, the task read with its
    working calendar, and one INSERT of the newly ready task's late-task timer."""
    deviation = skip_target(crew, run)
    request = request_of(SubjectKind.DEVIATION, deviation.pk)

    with django_assert_num_queries(52) as captured:
        decide(request, crew.o.member, Outcome.APPROVE, 30)

    statements = [q["sql"] for q in captured.captured_queries]
    assert (
        sum("approvals_decision" in s and s.startswith("INSERT") for s in statements)
        == 1
    )
    assert request_of(SubjectKind.DEVIATION, deviation.pk).status == (
        RequestStatus.APPROVED
    )


def test_a_decision_that_opens_the_next_stage_costs_a_fixed_number_of_statements(
    crew,  # noqa: F811
    run,
    django_assert_num_queries,
):
    """41 before the decision's INSERT stopped taking a savepoint, a stage opening
    for the first time stopped deleting approvers it cannot have, and the
    request's decisions stopped being read a second time to open the next stage;
    asking who stands in for its approvers costs one."""
    publish_route(
        crew.o,
        SubjectKind.DEVIATION,
        code="DEV-TWO",
        stages=[
            {"rule": ApproverRule.SUPERIOR},
            {"rule": ApproverRule.POSITION, "position": crew.warehouse_head},
        ],
    )
    deviation = skip_target(crew, run)
    request = request_of(SubjectKind.DEVIATION, deviation.pk)

    with django_assert_num_queries(38):
        decide(request, crew.o.member, Outcome.APPROVE, 30)

    assert approvers(request_of(SubjectKind.DEVIATION, deviation.pk)) == {
        crew.wawan_person.pk
    }
