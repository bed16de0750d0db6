"""The chains subjects as the engine sees them (adapters.py): their fields, titles,
versions and accountable positions; the conditions a route of each kind may test;
the requester's position when nobody can be asked; the decision gate; and the
requests that cannot be made (a partner's completion, a requester without a
person)."""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest

from rantai.approvals import adapters, requesting, routes, services
from rantai.approvals.models import (
    ApprovalRequest,
    ApproverRule,
    Outcome,
    RequestStatus,
    RouteVersion,
    SubjectKind,
)
from rantai.chains import services as chains
from rantai.chains.models import (
    ConditionOperator,
    Deviation,
    DeviationKind,
    ProcedureVersion,
    Run,
    Task,
    TaskStatus,
)
from rantai.chains.tests.conftest import Crew, crew  # noqa: F401 - the fixture
from rantai.chains.tests.helpers import (
    DAY,
    StepSpec,
    at,
    build_version,
    start,
    tasks_of,
)
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.org import services as org


@pytest.fixture
def shipment(crew: Crew) -> ProcedureVersion:  # noqa: F811
    """target (export clerks) → sign off (export clerks, needs approval); pickup by
    the forwarder (needs approval, accountable: the warehouse head)."""
    o = crew.o
    return build_version(
        o,
        [
            StepSpec("target", o.export_staff, o.export_head),
            StepSpec(
                "sign-off",
                o.export_staff,
                o.export_head,
                after=["target"],
                extra={"requires_approval": True},
            ),
            StepSpec(
                "pickup",
                o.forwarder,
                crew.warehouse_head,
                extra={"requires_approval": True},
            ),
        ],
        fields=[
            {"key": "incoterm", "label": "Incoterm", "field_type": "text"},
            {
                "key": "containers",
                "label": "Containers",
                "field_type": "integer",
                "required": False,
            },
        ],
    )


@pytest.fixture
def run(crew: Crew, shipment: ProcedureVersion) -> Run:  # noqa: F811
    return start(shipment, crew.o.member, field_values={"incoterm": "FOB"})


def publish_route(
    crew: Crew,  # noqa: F811
    kind: str,
    *,
    code: str,
    stages: list[dict[str, Any]],
    conditions: tuple[tuple[str, str, Any], ...] = (),
) -> RouteVersion:
    o = crew.o
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


# --- what each subject offers ------------------------------------------------------


def test_a_deviation_offers_its_procedure_kind_and_run_values(crew, run):  # noqa: F811
    o = crew.o
    skip = chains.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=tasks_of(run)["target"],
        reason="Sent with the order",
    )
    add = chains.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.ADD_STEP,
        details={
            "key": "fumigate",
            "name": "Fumigate the pallets",
            "duration_minutes": DAY,
            "responsible_position": crew.warehouse_head.pk,
            "accountable_position": crew.warehouse_head.pk,
        },
        reason="The buyer's country asks for it",
    )
    adapter = adapters.DEVIATION

    loaded = adapter.load(skip.pk)
    assert adapter.fields(loaded) == {
        "procedure": "SHIP",
        "kind": "skip_step",
        "run.incoterm": "FOB",
    }
    assert adapter.title(loaded) == "Ship 500 units to Kota A — Target"
    assert adapter.version(loaded) == skip.version == 1
    assert adapter.accountable_position_id(loaded) == o.export_head.pk
    assert (adapter.organisation_id(loaded), adapter.run_id(loaded)) == (
        o.organisation.pk,
        run.pk,
    )
    added = adapter.load(add.pk)
    assert adapter.title(added) == "Ship 500 units to Kota A — Fumigate the pallets"
    # a new step is confirmed by the procedure's owner
    assert adapter.accountable_position_id(added) == o.export_head.pk
    with pytest.raises(NotFound):
        adapter.load(Deviation.objects.order_by("-pk").first().pk + 1)  # type: ignore[union-attr]


def test_a_due_date_change_offers_how_many_days_later(crew, run):  # noqa: F811
    o = crew.o
    adapter = adapters.DUE_DATE_CHANGE
    loaded = adapter.load(run.pk)

    assert adapter.fields(loaded) == {"procedure": "SHIP", "run.incoterm": "FOB"}
    # calendar days in Jakarta: 23:30 UTC is already the next day there
    later = run.due_at.replace(hour=23, minute=30) + dt.timedelta(days=2)
    assert adapters.due_date_fields(loaded, later)["days_later"] == 3
    assert (
        adapters.due_date_fields(loaded, run.due_at - dt.timedelta(days=4))[
            "days_later"
        ]
        == -4
    )
    assert adapter.title(loaded) == "Ship 500 units to Kota A"
    assert adapter.version(loaded) == 1
    assert adapter.accountable_position_id(loaded) == o.export_head.pk

    publish_route(
        crew,
        SubjectKind.DUE_DATE_CHANGE,
        code="DUE",
        stages=[{"rule": ApproverRule.POSITION, "position": crew.warehouse_head}],
    )
    requesting.request_due_date_change(
        run, actor=crew.dina, due_at=run.due_at + dt.timedelta(days=5), reason="Later"
    )
    # the pending proposal gives the run its days_later
    assert adapter.fields(adapter.load(run.pk))["days_later"] == 5


def test_a_task_completion_binds_to_its_round(crew, run):  # noqa: F811
    o = crew.o
    adapter = adapters.TASK_COMPLETION
    target = tasks_of(run)["target"]
    loaded = adapter.load(target.pk)

    assert adapter.fields(loaded) == {
        "procedure": "SHIP",
        "step": "Target",
        "run.incoterm": "FOB",
    }
    assert adapter.title(loaded) == "Ship 500 units to Kota A — Target"
    assert adapter.accountable_position_id(loaded) == o.export_head.pk
    assert adapter.version(loaded) == 1
    chains.complete_task(target, actor=crew.dina, expected_version=None, now=at(10))
    chains.reopen_task(
        target, actor=crew.dina, expected_version=None, reason="Typo", now=at(20)
    )
    # every transition moves Task.version; the round moves with a reopen only
    assert Task.objects.get(pk=target.pk).version == 3
    assert adapter.version(adapter.load(target.pk)) == 2


@pytest.mark.parametrize(
    ("kind", "field", "allowed"),
    [
        (SubjectKind.DEVIATION, "kind", True),
        (SubjectKind.DEVIATION, "procedure", True),
        (SubjectKind.DEVIATION, "days_later", False),
        (SubjectKind.DUE_DATE_CHANGE, "days_later", True),
        (SubjectKind.DUE_DATE_CHANGE, "step", False),
        (SubjectKind.TASK_COMPLETION, "step", True),
        (SubjectKind.TASK_COMPLETION, "run.containers", True),
        (SubjectKind.TASK_COMPLETION, "kind", False),
    ],
)
def test_routes_test_only_the_fields_a_kind_offers(
    crew,  # noqa: F811
    kind,
    field,
    allowed,
):
    o = crew.o
    route = routes.create_route(
        o.organisation, actor=o.admin, code="R", name="R", subject_kind=kind
    )
    version = route.versions.get()

    if allowed:
        routes.add_condition(
            version, actor=o.admin, field=field, operator=ConditionOperator.EQ, value=1
        )
    else:
        with pytest.raises(ValidationFailed) as refused:
            routes.add_condition(
                version,
                actor=o.admin,
                field=field,
                operator=ConditionOperator.EQ,
                value=1,
            )
        assert "field" in refused.value.errors


def test_a_route_matches_on_run_values(crew, shipment):  # noqa: F811
    o = crew.o
    big = publish_route(
        crew,
        SubjectKind.TASK_COMPLETION,
        code="BIG",
        stages=[{"rule": ApproverRule.STEP_ACCOUNTABLE}],
        conditions=(("run.containers", ConditionOperator.GTE, 10),),
    )
    small_run = start(
        shipment, o.member, field_values={"incoterm": "FOB", "containers": 2}
    )
    big_run = start(
        shipment, o.member, field_values={"incoterm": "FOB", "containers": 12}
    )

    assert requesting.task_route(tasks_of(small_run)["sign-off"]) is None
    assert requesting.task_route(tasks_of(big_run)["sign-off"]) == big


# --- the requester's position ------------------------------------------------------


def test_the_requester_asks_from_the_position_the_rule_picks(crew):  # noqa: F811
    o = crew.o
    quality = org.create_position(
        o.organisation, actor=o.admin, party=o.export, title="Quality", code="QA"
    )
    org.assign_holder(
        quality, actor=o.admin, person=crew.dina_person, start_date=dt.date(2026, 1, 1)
    )
    pick = requesting.position_for_request

    assert pick(o.organisation.pk, crew.dina, [quality.pk], at=at(0)) == quality.pk
    assert (
        pick(o.organisation.pk, crew.dina, [o.export_head.pk, quality.pk], at=at(0))
        == quality.pk
    )
    # none of the preferred ones: the lowest id
    assert pick(o.organisation.pk, crew.dina, [o.director.pk], at=at(0)) == min(
        o.export_staff.pk, quality.pk
    )
    assert pick(o.organisation.pk, crew.dewi, [o.export_head.pk], at=at(0)) is None
    assert pick(o.organisation.pk, o.admin, [o.export_head.pk], at=at(0)) is None


def test_a_deviation_is_asked_from_the_changed_tasks_position(
    crew,  # noqa: F811
    run,
):
    """Dina holds the clerk and the quality position: skipping a clerk's task is
    asked from the clerk position, without asking her which."""
    o = crew.o
    quality = org.create_position(
        o.organisation, actor=o.admin, party=o.export, title="Quality", code="QA"
    )
    org.assign_holder(
        quality, actor=o.admin, person=crew.dina_person, start_date=dt.date(2026, 1, 1)
    )
    publish_route(
        crew,
        SubjectKind.DEVIATION,
        code="DEV",
        stages=[{"rule": ApproverRule.SUPERIOR}],
    )

    deviation = chains.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=tasks_of(run)["target"],
        reason="Sent with the order",
    )

    request = ApprovalRequest.objects.get(subject_id=deviation.pk)
    assert request.requester_position == o.export_staff


def test_a_requester_without_a_person_cannot_start_a_routed_deviation(
    crew,  # noqa: F811
    run,
):
    o = crew.o
    publish_route(
        crew,
        SubjectKind.DEVIATION,
        code="DEV",
        stages=[{"rule": ApproverRule.SUPERIOR}],
    )

    with pytest.raises(PermissionDenied):
        chains.request_deviation(
            run,
            actor=o.admin,
            kind=DeviationKind.SKIP_STEP,
            task=tasks_of(run)["target"],
            reason="Sent with the order",
        )

    # all or nothing: no deviation without its request
    assert not run.deviations.exists()
    assert not ApprovalRequest.objects.exists()


def test_a_partners_completion_waits_for_the_accountable_to_ask(
    crew,  # noqa: F811
    run,
):
    o = crew.o
    publish_route(
        crew,
        SubjectKind.TASK_COMPLETION,
        code="PICK",
        stages=[{"rule": ApproverRule.POSITION, "position": o.export_head}],
    )
    pickup = tasks_of(run)["pickup"]

    chains.complete_task(pickup, actor=o.partner, expected_version=None, now=at(10))

    assert (pickup.status, pickup.awaiting_reasons) == (
        TaskStatus.AWAITING,
        ["approval"],
    )
    assert not ApprovalRequest.objects.exists()
    # the warehouse head answers for the partner's step and asks
    request = requesting.request_task_approval(pickup, actor=crew.wawan, now=at(20))
    assert (request.requester, request.requester_position) == (
        crew.wawan_person,
        crew.warehouse_head,
    )
    services.decide(request, actor=o.member, outcome=Outcome.APPROVE, now=at(30))
    assert Task.objects.get(pk=pickup.pk).status == TaskStatus.DONE


def test_an_approval_for_a_cancelled_run_changes_no_task(crew, run):  # noqa: F811
    o = crew.o
    publish_route(
        crew,
        SubjectKind.TASK_COMPLETION,
        code="SIGN",
        stages=[{"rule": ApproverRule.STEP_ACCOUNTABLE}],
    )
    chains.complete_task(
        tasks_of(run)["target"], actor=crew.dina, expected_version=None, now=at(10)
    )
    sign_off = tasks_of(run)["sign-off"]
    chains.complete_task(sign_off, actor=crew.dina, expected_version=None, now=at(20))
    request = ApprovalRequest.objects.get(subject_id=sign_off.pk)
    chains.cancel_run(
        Run.objects.get(pk=run.pk),
        actor=o.member,
        expected_version=None,
        reason="Order cancelled",
        now=at(25),
    )

    services.decide(request, actor=o.member, outcome=Outcome.APPROVE, now=at(30))

    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert Task.objects.get(pk=sign_off.pk).status == TaskStatus.CANCELLED


# --- the decision gate -------------------------------------------------------------


def test_the_gate_lets_direct_decisions_through_when_no_route_applies(
    crew,  # noqa: F811
    run,
):
    deviation = chains.request_deviation(
        run,
        actor=crew.dina,
        kind=DeviationKind.SKIP_STEP,
        task=tasks_of(run)["target"],
        reason="Sent with the order",
    )

    assert requesting.decision_gate("deviation", deviation.pk, {}) is None
    assert (
        requesting.decision_gate(
            "due_date_change", run.pk, {"due_at": run.due_at + dt.timedelta(days=9)}
        )
        is None
    )
    assert requesting.decision_gate("workload_analysis", 1, {}) is None


def test_the_gate_names_the_route_a_due_date_change_takes(crew, run):  # noqa: F811
    publish_route(
        crew,
        SubjectKind.DUE_DATE_CHANGE,
        code="DUE",
        stages=[{"rule": ApproverRule.POSITION, "position": crew.warehouse_head}],
        conditions=(("days_later", ConditionOperator.GTE, 7),),
    )
    week = {"due_at": run.due_at + dt.timedelta(days=7)}
    day = {"due_at": run.due_at + dt.timedelta(days=1)}

    assert requesting.decision_gate("due_date_change", run.pk, week) == (
        "The approval route “Route DUE” applies to this change of the due date: ask "
        "for approval instead of moving it directly."
    )
    assert requesting.decision_gate("due_date_change", run.pk, day) is None
