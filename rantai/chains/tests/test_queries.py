"""Reads: the runs list and its filters, a run with its tasks, "my tasks" — scoped
for partners, with query counts that do not grow with the data."""

from __future__ import annotations

import datetime as dt

import pytest

from rantai.accounts.access import access_for
from rantai.chains import queries, services
from rantai.chains.models import DeviationKind, RunStatus, ScheduleStatus
from rantai.chains.tests.helpers import StepSpec, build_version, start, tasks_of
from rantai.core.errors import NotFound


@pytest.fixture
def versions(crew):  # type: ignore[no-untyped-def]
    o = crew.o
    shipment = build_version(
        o,
        [
            StepSpec("target", o.export_staff, o.export_head),
            StepSpec("produce", crew.warehouse_head, o.export_head, days="5"),
            StepSpec("pickup", o.forwarder, crew.warehouse_head, after=["produce"]),
        ],
        code="SHIP",
    )
    internal = build_version(
        o, [StepSpec("count", crew.warehouse_head, o.export_head)], code="COUNT"
    )
    return shipment, internal


def access(user):  # type: ignore[no-untyped-def]
    return access_for(user, "acme")


def titles(qs) -> list[str]:  # type: ignore[no-untyped-def]
    return [run.title for run in qs]


def test_runs_are_filtered_and_partners_see_only_theirs(crew, versions):
    o = crew.o
    shipment, internal = versions
    first = start(shipment, o.member, title="Ship 1")
    start(internal, o.member, title="Stock count")
    third = start(shipment, o.member, title="Ship 2", due_days=1)
    services.cancel_run(first, actor=o.admin, expected_version=None, reason="Void")

    everyone = access(o.admin)
    assert titles(queries.runs(everyone)) == ["Ship 2", "Stock count", "Ship 1"]
    assert titles(queries.runs(everyone, status=RunStatus.ACTIVE)) == [
        "Ship 2",
        "Stock count",
    ]
    assert titles(queries.runs(everyone, procedure=internal.procedure_id)) == [
        "Stock count"
    ]
    assert titles(queries.runs(everyone, party=o.forwarder.pk)) == ["Ship 2", "Ship 1"]
    assert titles(queries.runs(everyone, party=o.warehouse.pk)) == [
        "Ship 2",
        "Stock count",
        "Ship 1",
    ]
    third.refresh_from_db()
    assert third.schedule_status == ScheduleStatus.LATE
    assert titles(queries.runs(everyone, schedule_status=ScheduleStatus.LATE)) == [
        "Ship 2"
    ]
    # the forwarder's partner sees the runs its party takes part in, nothing else
    assert titles(queries.runs(access(o.partner))) == ["Ship 2", "Ship 1"]
    assert [p.code for p in queries.parties_in_runs(everyone)] == ["EXP", "FWD", "WH"]


def test_a_partner_sees_only_its_own_tasks_of_a_run(crew, versions):
    o = crew.o
    shipment, internal = versions
    run = start(shipment, o.member)
    count = start(internal, o.member)

    detail = queries.run_detail(access(o.partner), run.pk)

    assert [task.key for task in detail.tasks] == ["pickup"]
    assert detail.dependencies == []
    assert [task.key for task in queries.run_detail(access(o.admin), run.pk).tasks] == [
        "target",
        "produce",
        "pickup",
    ]
    with pytest.raises(NotFound):
        queries.run_detail(access(o.partner), count.pk)


def test_my_tasks_are_assigned_claimable_or_my_partys(crew, versions):
    o = crew.o
    shipment, _internal = versions
    run = start(shipment, o.member)
    tasks = tasks_of(run)

    assert [t.key for t in queries.my_tasks(access(crew.dina))] == ["target"]
    assert [t.key for t in queries.my_tasks(access(crew.wawan))] == ["produce"]
    assert queries.my_tasks(access(o.partner)) == []
    assert queries.my_tasks(access(crew.dewi)) == []

    services.claim_task(tasks["target"], actor=crew.dina, expected_version=None)
    services.complete_task(tasks["produce"], actor=crew.wawan, expected_version=None)

    assert [t.key for t in queries.my_tasks(access(crew.dina))] == ["target"]
    assert queries.my_tasks(access(crew.wawan)) == []
    assert [t.key for t in queries.my_tasks(access(o.partner))] == ["pickup"]


def test_query_counts_do_not_grow_with_the_data(
    crew, versions, django_assert_num_queries
):
    o = crew.o
    shipment, internal = versions
    for number in range(3):
        start(shipment, o.member, title=f"Ship {number}")
    run = start(internal, o.member)
    admin, dina = access(o.admin), access(crew.dina)

    def counts() -> None:
        with django_assert_num_queries(1):
            list(queries.runs(admin, party=o.forwarder.pk))
        with django_assert_num_queries(4):
            queries.run_detail(admin, run.pk)
        with django_assert_num_queries(1):
            queries.my_tasks(dina)
        with django_assert_num_queries(1):
            list(queries.procedures(admin))

    counts()
    for number in range(5):
        start(shipment, o.member, title=f"More {number}")
    counts()


def test_a_version_and_its_steps_read_in_five_queries(
    crew, versions, django_assert_num_queries
):
    shipment, _internal = versions
    admin = access(crew.o.admin)

    with django_assert_num_queries(5):
        detail = queries.version_detail(admin, shipment.pk)
        roles = [[role.role for role in step.roles.all()] for step in detail.steps]

    assert roles == [["A", "R"], ["A", "R"], ["A", "R"]]
    with pytest.raises(NotFound):
        queries.version_detail(access(crew.o.partner), shipment.pk)


def test_single_reads_are_scoped_and_anything_else_is_not_found(
    crew, versions, other_org, django_assert_num_queries
):
    o = crew.o
    shipment, internal = versions
    run = start(shipment, o.member)
    count = start(internal, o.member)
    tasks = tasks_of(run)
    about_target = services.request_deviation(
        run,
        actor=o.member,
        kind=DeviationKind.SKIP_STEP,
        task=tasks["target"],
        reason="Agreed already",
    )
    about_pickup = services.request_deviation(
        run,
        actor=o.member,
        kind=DeviationKind.SKIP_STEP,
        task=tasks["pickup"],
        reason="The buyer collects",
    )
    step = shipment.steps.get(key="pickup")
    role = step.roles.get(role="R")
    link = shipment.dependencies.get()
    holiday = services.add_holiday(
        o.organisation, actor=o.admin, date=dt.date(2026, 8, 17), name="Merdeka"
    )
    elsewhere = build_version(
        other_org,
        [StepSpec("count", other_org.export_staff, other_org.export_head)],
        code="COUNT",
    )
    foreign_run = start(elsewhere, other_org.member)
    admin, partner = access(o.admin), access(o.partner)

    # inside the organisation: everything, by id (also as text)
    assert queries.run(admin, str(run.pk)) == run
    task = queries.task(admin, tasks["target"].pk)
    assert (task, task.run.procedure) == (tasks["target"], shipment.procedure)
    with django_assert_num_queries(4):
        detail = queries.task_detail(admin, tasks["produce"].pk)
        successors = [each.successor_id for each in detail.successor_links.all()]
        roles = sorted(each.role for each in detail.roles.all())
    assert (successors, roles) == ([tasks["pickup"].pk], ["A", "R"])
    assert queries.deviation(admin, about_target.pk) == about_target
    assert queries.procedure(admin, shipment.procedure_id) == shipment.procedure
    assert queries.version(admin, shipment.pk) == shipment
    assert queries.step(admin, step.pk) == step
    assert queries.step_role(admin, role.pk) == role
    assert queries.step_dependency(admin, link.pk) == link
    assert queries.holiday(admin, holiday.pk) == holiday
    # a partner: its party's task, the deviations about it, the run it is in, and
    # the procedure it takes part in
    assert queries.task(partner, tasks["pickup"].pk) == tasks["pickup"]
    assert queries.task_detail(partner, tasks["pickup"].pk) == tasks["pickup"]
    assert queries.deviation(partner, about_pickup.pk) == about_pickup
    assert queries.run(partner, run.pk) == run
    assert queries.procedure(partner, shipment.procedure_id) == shipment.procedure

    not_found = {
        "another party's task": lambda: queries.task(partner, tasks["target"].pk),
        "its detail": lambda: queries.task_detail(partner, tasks["target"].pk),
        "a deviation about it": lambda: queries.deviation(partner, about_target.pk),
        "a run without the party": lambda: queries.run(partner, count.pk),
        "a procedure without it": lambda: queries.procedure(
            partner, internal.procedure_id
        ),
        "a version": lambda: queries.version(partner, shipment.pk),
        "a step": lambda: queries.step(partner, step.pk),
        "a step role": lambda: queries.step_role(partner, role.pk),
        "a dependency": lambda: queries.step_dependency(partner, link.pk),
        "a holiday": lambda: queries.holiday(partner, holiday.pk),
        "another organisation's run": lambda: queries.run(admin, foreign_run.pk),
        "its task": lambda: queries.task(admin, tasks_of(foreign_run)["count"].pk),
        "its version": lambda: queries.version(admin, elsewhere.pk),
        "its step": lambda: queries.step(admin, elsewhere.steps.get().pk),
        "no such id": lambda: queries.task(admin, 999999),
        "not an id": lambda: queries.deviation(admin, "first"),
    }
    for name, read in not_found.items():
        with pytest.raises(NotFound):
            read()
            pytest.fail(name)
