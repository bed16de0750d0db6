"""The engine's newer extension points: the assigner (asked for the tasks that
become ready without an assignee, told the task ids to record), the publish
guards, and the `VersionPublished` and `TaskAssigned` events; and the step's
`requires_consultation` copied to drafts and tasks."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field

import pytest

from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import extensions, services
from rantai.chains.extensions import AssignmentChoice, ReadyWork
from rantai.chains.models import ProcedureVersion, Step, Task, TaskStatus, VersionStatus
from rantai.chains.tests.helpers import (
    DAY,
    T0,
    StepSpec,
    at,
    build_version,
    start,
    tasks_of,
)
from rantai.core.errors import ValidationFailed
from rantai.org import services as org


@dataclass
class FakeAssigner:
    """Gives every position's work to the person named for it (nobody else) and
    remembers what it was asked and told."""

    picks: dict[int, int]
    asked: list[tuple[int, list[ReadyWork], dt.datetime]] = field(default_factory=list)
    recorded: list[list[tuple[int, ReadyWork, AssignmentChoice]]] = field(
        default_factory=list
    )

    def choose(
        self, organisation_id: int, work: Sequence[ReadyWork], *, now: dt.datetime
    ) -> dict[int, AssignmentChoice]:
        self.asked.append((organisation_id, list(work), now))
        return {
            item.key: AssignmentChoice(
                self.picks.get(item.position_id or 0), {"why": "test"}
            )
            for item in work
            if item.party_id is None
        }

    def record(
        self,
        organisation_id: int,
        chosen: Sequence[tuple[int, ReadyWork, AssignmentChoice]],
        *,
        now: dt.datetime,
    ) -> None:
        # The rows exist when the assigner is told their ids.
        assert Task.objects.filter(pk__in=[pk for pk, _w, _c in chosen]).count() == len(
            chosen
        )
        self.recorded.append(list(chosen))


@pytest.fixture
def duty(crew):  # type: ignore[no-untyped-def]
    return org.create_duty(
        crew.o.export_staff, actor=crew.o.admin, title="Book freight", output_unit="job"
    )


@pytest.fixture
def version(crew, duty):  # type: ignore[no-untyped-def]
    """target (export staff, with a duty, 2 days) and produce (warehouse head,
    1 day) in parallel; schedule (warehouse head) after both; pickup by the
    forwarder after schedule."""
    o = crew.o
    return build_version(
        o,
        [
            StepSpec(
                "target", o.export_staff, o.export_head, days="2", extra={"duty": duty}
            ),
            StepSpec("produce", crew.warehouse_head, o.export_head),
            StepSpec(
                "schedule",
                crew.warehouse_head,
                o.export_head,
                after=["target", "produce"],
            ),
            StepSpec("pickup", o.forwarder, crew.warehouse_head, after=["schedule"]),
        ],
    )


def _steps(version: ProcedureVersion) -> dict[str, Step]:
    return {step.key: step for step in version.steps.all()}


def test_start_run_asks_the_assigner_about_the_ready_tasks_by_step(
    crew, version, duty, clean_registry
):
    o = crew.o
    assigner = FakeAssigner({o.export_staff.pk: crew.dina_person.pk})
    extensions.register_assigner(assigner)

    run = start(version, o.admin)

    steps = _steps(version)
    tasks = tasks_of(run)
    assert assigner.asked == [
        (
            o.organisation.pk,
            [
                ReadyWork(
                    key=steps["target"].pk,
                    run_id=None,
                    position_id=o.export_staff.pk,
                    party_id=None,
                    duty_id=duty.pk,
                    duration_minutes=2 * DAY,
                    sort_order=steps["target"].sort_order,
                ),
                ReadyWork(
                    key=steps["produce"].pk,
                    run_id=None,
                    position_id=crew.warehouse_head.pk,
                    party_id=None,
                    duty_id=None,
                    duration_minutes=DAY,
                    sort_order=steps["produce"].sort_order,
                ),
            ],
            T0,
        )
    ]
    # The choice is the assignee, not the sole holder (Wawan holds WH-HEAD alone).
    assert tasks["target"].assignee_id == crew.dina_person.pk
    assert tasks["produce"].assignee_id is None
    (recorded,) = assigner.recorded
    assert [(pk, work.key) for pk, work, _c in recorded] == [
        (tasks["target"].pk, steps["target"].pk),
        (tasks["produce"].pk, steps["produce"].pk),
    ]
    assert [choice.person_id for _pk, _w, choice in recorded] == [
        crew.dina_person.pk,
        None,
    ]


def test_tasks_readied_later_are_asked_about_by_task_and_recorded(crew, version):
    o = crew.o
    assigner = FakeAssigner({crew.warehouse_head.pk: crew.wawan_person.pk})
    extensions.register_assigner(assigner)
    run = start(version, o.admin)
    tasks = tasks_of(run)
    services.claim_task(
        tasks["target"], actor=crew.dina, expected_version=None, now=at(5)
    )
    services.complete_task(
        tasks["target"], actor=crew.dina, expected_version=None, now=at(10)
    )
    assert tasks["produce"].assignee_id == crew.wawan_person.pk
    assigner.asked.clear()
    assigner.recorded.clear()

    services.complete_task(
        tasks["produce"], actor=crew.wawan, expected_version=None, now=at(20)
    )

    schedule = Task.objects.get(pk=tasks["schedule"].pk)
    assert assigner.asked == [
        (
            o.organisation.pk,
            [
                ReadyWork(
                    key=schedule.pk,
                    run_id=run.pk,
                    position_id=crew.warehouse_head.pk,
                    party_id=None,
                    duty_id=None,
                    duration_minutes=DAY,
                    sort_order=schedule.sort_order,
                )
            ],
            at(20),
        )
    ]
    assert schedule.status == TaskStatus.READY
    assert schedule.assignee_id == crew.wawan_person.pk
    assert [(pk, choice.person_id) for pk, _w, choice in assigner.recorded[0]] == [
        (schedule.pk, crew.wawan_person.pk)
    ]


def test_a_task_readied_again_keeps_its_assignee_and_is_not_asked_about(crew, version):
    o = crew.o
    assigner = FakeAssigner(
        {
            crew.warehouse_head.pk: crew.wawan_person.pk,
            o.export_staff.pk: crew.dina_person.pk,
        }
    )
    extensions.register_assigner(assigner)
    run = start(version, o.admin)
    tasks = tasks_of(run)
    for key, user in (("target", crew.dina), ("produce", crew.wawan)):
        services.complete_task(tasks[key], actor=user, expected_version=None, now=at(5))
    produce = Task.objects.get(pk=tasks["produce"].pk)
    services.reopen_task(
        produce, actor=crew.wawan, expected_version=None, reason="Recount", now=at(9)
    )
    assigner.asked.clear()
    assigner.recorded.clear()

    produce.refresh_from_db()
    services.complete_task(produce, actor=crew.wawan, expected_version=None, now=at(12))

    schedule = Task.objects.get(pk=tasks["schedule"].pk)
    assert schedule.status == TaskStatus.READY
    assert schedule.assignee_id == crew.wawan_person.pk
    assert assigner.asked == []
    assert assigner.recorded == []


def test_without_an_assigner_the_sole_holder_is_assigned(crew, version):
    run = start(version, crew.o.admin)

    tasks = tasks_of(run)
    assert tasks["produce"].assignee_id == crew.wawan_person.pk
    assert tasks["target"].assignee_id is None  # two holders: claimed


def test_claiming_a_task_emits_task_assigned(crew, version):
    seen: list[extensions.TaskAssigned] = []
    extensions.register_task_assigned_handler(seen.append)
    run = start(version, crew.o.admin)
    target = tasks_of(run)["target"]

    services.claim_task(target, actor=crew.dina, expected_version=None, now=at(5))

    assert seen == [
        extensions.TaskAssigned(
            crew.o.organisation.pk,
            run.pk,
            target.pk,
            crew.dina_person.pk,
            crew.dina.pk,
            at(5),
        )
    ]


def test_starting_an_unassigned_task_emits_task_assigned_an_assigned_one_not(
    crew, version
):
    seen: list[extensions.TaskAssigned] = []
    extensions.register_task_assigned_handler(seen.append)
    run = start(version, crew.o.admin)
    tasks = tasks_of(run)

    services.start_task(tasks["produce"], actor=crew.wawan, expected_version=None)
    assert seen == []  # Wawan already had it

    services.start_task(
        tasks["target"], actor=crew.dina, expected_version=None, now=at(7)
    )
    assert seen == [
        extensions.TaskAssigned(
            crew.o.organisation.pk,
            run.pk,
            tasks["target"].pk,
            crew.dina_person.pk,
            crew.dina.pk,
            at(7),
        )
    ]


def _draft(crew) -> ProcedureVersion:  # type: ignore[no-untyped-def]
    o = crew.o
    return build_version(
        o,
        [StepSpec("target", o.export_staff, o.export_head)],
        code="DRAFT",
        publish=False,
    )


def test_a_publish_guard_refuses_publishing_and_nothing_changes(crew, audit_trail):
    draft = _draft(crew)
    asked: list[int] = []

    def guard(version_id: int) -> list[str]:
        asked.append(version_id)
        return ["Step “Target” has no accountable holder."]

    extensions.register_publish_guard(guard)
    published: list[extensions.VersionPublished] = []
    extensions.register_version_published_handler(published.append)
    trail = audit_trail(crew.o.organisation)

    with pytest.raises(ValidationFailed) as refused:
        services.publish(draft, actor=crew.o.admin, expected_version=None, now=T0)

    assert refused.value.code == "unpublishable"
    assert refused.value.errors == {
        "__all__": ["Step “Target” has no accountable holder."]
    }
    assert asked == [draft.pk]
    draft.refresh_from_db()
    assert draft.status == VersionStatus.DRAFT
    assert published == []
    trail.assert_nothing_new()


def test_guard_messages_follow_the_engines_own_problems(crew):
    o = crew.o
    draft = build_version(o, [], code="EMPTY", publish=False)
    extensions.register_publish_guard(lambda version_id: ["A role check says no."])

    with pytest.raises(ValidationFailed) as refused:
        services.publish(draft, actor=o.admin, expected_version=None, now=T0)

    messages = refused.value.errors["__all__"]
    assert len(messages) == 2
    assert messages[-1] == "A role check says no."


def test_publishing_emits_version_published(crew, audit_trail):
    draft = _draft(crew)
    extensions.register_publish_guard(lambda version_id: [])
    published: list[extensions.VersionPublished] = []

    def handler(event: extensions.VersionPublished) -> None:
        # Emitted after the version is published, inside the transaction.
        assert (
            ProcedureVersion.objects.get(pk=event.version_id).status
            == VersionStatus.PUBLISHED
        )
        published.append(event)

    extensions.register_version_published_handler(handler)

    services.publish(draft, actor=crew.o.admin, expected_version=None, now=at(3))

    assert published == [
        extensions.VersionPublished(
            crew.o.organisation.pk, draft.procedure_id, draft.pk, crew.o.admin.pk, at(3)
        )
    ]
    assert AuditEvent.objects.filter(
        organisation=crew.o.organisation, verb=AuditVerb.PUBLISHED
    ).exists()


def test_requires_consultation_is_edited_copied_and_reaches_the_task(crew):
    o = crew.o
    version = build_version(
        o,
        [
            StepSpec(
                "target",
                o.export_staff,
                o.export_head,
                consulted=[o.director],
                extra={"requires_consultation": True},
            ),
            StepSpec("produce", crew.warehouse_head, o.export_head),
        ],
    )
    run = start(version, o.admin)
    tasks = tasks_of(run)
    assert tasks["target"].requires_consultation is True
    assert tasks["produce"].requires_consultation is False

    draft = services.new_draft(version.procedure, actor=o.admin)
    copied = _steps(draft)
    assert copied["target"].requires_consultation is True
    assert copied["produce"].requires_consultation is False

    services.update_step(
        copied["produce"],
        actor=o.admin,
        expected_version=None,
        requires_consultation=True,
    )
    copied["produce"].refresh_from_db()
    assert copied["produce"].requires_consultation is True
    event = AuditEvent.objects.filter(
        organisation=o.organisation, verb=AuditVerb.UPDATED
    ).latest("sequence")
    assert event.changes == {"requires_consultation": [False, True]}
