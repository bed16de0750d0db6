"""Procedures in versions: drafts change, published versions are frozen, a new draft
copies the latest version, publishing replaces the published version, retiring
stops new runs, and running runs keep the version they started with."""

from __future__ import annotations

from decimal import Decimal

import pytest

from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import services
from rantai.chains.models import (
    DependencyKind,
    FieldType,
    RaciRole,
    Run,
    Step,
    StepDependency,
    StepRole,
    Task,
    VersionStatus,
)
from rantai.chains.queries import StepChange, diff_versions
from rantai.chains.tests.helpers import T0, StepSpec, build_version, start
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed


@pytest.fixture
def published(crew):  # type: ignore[no-untyped-def]
    o = crew.o
    return build_version(
        o,
        [
            StepSpec("target", o.export_staff, o.export_head),
            StepSpec("ship", o.forwarder, crew.warehouse_head, after=["target"]),
        ],
        fields=[
            {
                "key": "quantity",
                "label": "Quantity",
                "field_type": "integer",
                "required": False,
            }
        ],
    )


def row_counts(version):  # type: ignore[no-untyped-def]
    return (
        version.fields.count(),
        version.steps.count(),
        StepRole.objects.filter(step__procedure_version=version).count(),
        version.dependencies.count(),
    )


def test_publishing_freezes_a_version_and_records_it(crew, published, audit_trail):
    assert published.status == VersionStatus.PUBLISHED
    assert published.published_by == crew.o.admin
    assert published.published_at == T0
    assert (
        AuditEvent.objects.filter(
            target_type="chains.procedureversion",
            target_id=str(published.pk),
            verb=AuditVerb.PUBLISHED,
        ).count()
        == 1
    )


def test_every_edit_of_a_published_version_is_refused_and_writes_nothing(
    crew, published, audit_trail
):
    o = crew.o
    admin = o.admin
    step = published.steps.get(key="target")
    field = published.fields.get()
    role = step.roles.first()
    link = published.dependencies.get()
    before = row_counts(published)
    trail = audit_trail(o.organisation)
    edits = [
        lambda: services.add_run_field(
            published, actor=admin, key="x", label="X", field_type="text"
        ),
        lambda: services.update_run_field(
            field, actor=admin, expected_version=None, label="Y"
        ),
        lambda: services.delete_run_field(field, actor=admin, expected_version=None),
        lambda: services.add_step(
            published, actor=admin, key="new", name="New", duration_value=1
        ),
        lambda: services.update_step(
            step, actor=admin, expected_version=None, name="Renamed"
        ),
        lambda: services.delete_step(step, actor=admin, expected_version=None),
        lambda: services.add_step_role(
            step, actor=admin, role=RaciRole.INFORMED, position=o.director
        ),
        lambda: services.remove_step_role(role, actor=admin),
        lambda: services.add_dependency(
            published,
            actor=admin,
            predecessor=published.steps.get(key="ship"),
            successor=step,
        ),
        lambda: services.update_dependency(
            link, actor=admin, expected_version=None, lag_value=2
        ),
        lambda: services.remove_dependency(link, actor=admin, expected_version=None),
        lambda: services.publish(published, actor=admin, expected_version=None),
    ]

    for edit in edits:
        with pytest.raises(ValidationFailed) as refused:
            edit()
        assert refused.value.message == (
            "Version 1 is published and can no longer change; create a new draft "
            "to change the procedure."
        )

    trail.assert_nothing_new()
    assert row_counts(published) == before
    assert Step.objects.get(pk=step.pk).name == "Target"


def test_a_new_draft_copies_the_latest_version(crew, published, audit_trail):
    trail = audit_trail(crew.o.organisation)

    draft = services.new_draft(published.procedure, actor=crew.o.admin)

    assert (draft.number, draft.status) == (2, VersionStatus.DRAFT)
    assert row_counts(draft) == row_counts(published) == (1, 2, 4, 1)
    assert sorted(
        draft.steps.values_list("key", "name", "duration_value", "sort_order")
    ) == sorted(
        published.steps.values_list("key", "name", "duration_value", "sort_order")
    )
    copied_link = draft.dependencies.get()
    assert (copied_link.predecessor.key, copied_link.successor.key) == (
        "target",
        "ship",
    )
    assert copied_link.predecessor.procedure_version == draft
    assert diff_versions(published, draft).is_empty
    event = trail.only_new_event()
    assert (event.verb, event.changes) == (
        AuditVerb.CREATED,
        {"procedure": published.procedure_id, "number": 2, "copied_from": 1},
    )
    # one draft at a time
    with pytest.raises(ValidationFailed) as refused:
        services.new_draft(published.procedure, actor=crew.o.admin)
    assert refused.value.message == "The procedure already has a draft version."


def test_deleting_inside_a_draft_takes_roles_and_links_along(crew, published):
    admin = crew.o.admin
    draft = services.new_draft(published.procedure, actor=admin)
    target = draft.steps.get(key="target")

    services.delete_step(target, actor=admin, expected_version=target.version)

    assert list(draft.steps.values_list("key", flat=True)) == ["ship"]
    assert StepRole.objects.filter(step__procedure_version=draft).count() == 2
    assert not StepDependency.objects.filter(procedure_version=draft).exists()
    event = AuditEvent.objects.filter(organisation=crew.o.organisation).last()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.DELETED,
        "chains.step",
        str(target.pk),
    )
    # the published version is untouched
    assert row_counts(published) == (1, 2, 4, 1)


def test_a_stale_delete_is_a_conflict_and_deletes_nothing(crew, published, audit_trail):
    admin = crew.o.admin
    draft = services.new_draft(published.procedure, actor=admin)
    field = draft.fields.get()
    step = draft.steps.get(key="target")
    link = draft.dependencies.get()
    seen = {"field": field.version, "step": step.version, "link": link.version}
    # someone else changes each of them after they were read
    services.update_run_field(field, actor=admin, expected_version=1, label="Units")
    services.update_step(step, actor=admin, expected_version=1, name="Aim")
    services.update_dependency(link, actor=admin, expected_version=1, lag_value=1)
    before = row_counts(draft)
    trail = audit_trail(crew.o.organisation)

    deletes = [
        lambda: services.delete_run_field(
            field, actor=admin, expected_version=seen["field"]
        ),
        lambda: services.delete_step(step, actor=admin, expected_version=seen["step"]),
        lambda: services.remove_dependency(
            link, actor=admin, expected_version=seen["link"]
        ),
    ]
    for delete in deletes:
        with pytest.raises(Conflict):
            delete()

    trail.assert_nothing_new()
    assert row_counts(draft) == before == (1, 2, 4, 1)
    # without a version, the one last read is the one expected
    stale_copy = StepDependency.objects.get(pk=link.pk)
    services.update_dependency(link, actor=admin, expected_version=2, lag_value=2)
    with pytest.raises(Conflict):
        services.remove_dependency(stale_copy, actor=admin, expected_version=None)
    services.remove_dependency(link, actor=admin, expected_version=None)
    assert row_counts(draft) == (1, 2, 4, 0)


def test_the_diff_between_versions_is_structured(crew, published):
    o = crew.o
    admin = o.admin
    draft = services.new_draft(published.procedure, actor=admin)
    target = draft.steps.get(key="target")
    services.update_step(
        target, actor=admin, expected_version=None, duration_value=Decimal("2")
    )
    services.add_step_role(
        target, actor=admin, role=RaciRole.INFORMED, position=o.director
    )
    pack = services.add_step(
        draft, actor=admin, key="pack", name="Pack", duration_value=1
    )
    services.delete_step(
        draft.steps.get(key="ship"), actor=admin, expected_version=None
    )
    services.add_dependency(
        draft,
        actor=admin,
        predecessor=target,
        successor=pack,
        kind=DependencyKind.START_TO_START,
    )
    services.update_run_field(
        draft.fields.get(), actor=admin, expected_version=None, label="Units"
    )
    services.add_run_field(
        draft, actor=admin, key="city", label="City", field_type=FieldType.TEXT
    )

    diff = diff_versions(published, draft)

    assert diff.steps_added == ["pack"]
    assert diff.steps_removed == ["ship"]
    assert diff.steps_changed == [
        StepChange(
            key="target",
            changes={"duration_value": (Decimal("1.00"), Decimal("2.00"))},
            roles_added=["I: DIR"],
            roles_removed=[],
        )
    ]
    assert diff.fields_added == ["city"]
    assert diff.fields_changed == {"quantity": {"label": ("Quantity", "Units")}}
    assert diff.dependencies_added == [("target", "pack")]
    assert diff.dependencies_removed == [("target", "ship")]
    assert not diff.is_empty


def test_publishing_a_new_version_retires_the_old_one_but_runs_keep_theirs(
    crew, published
):
    o = crew.o
    running = start(published, o.member)
    draft = services.new_draft(published.procedure, actor=o.admin)
    services.update_step(
        draft.steps.get(key="target"),
        actor=o.admin,
        expected_version=None,
        name="Agree the target",
    )

    services.publish(draft, actor=o.admin, expected_version=None)

    published.refresh_from_db()
    assert published.status == VersionStatus.RETIRED
    assert draft.status == VersionStatus.PUBLISHED
    running.refresh_from_db()
    assert running.procedure_version == published
    assert Task.objects.get(run=running, key="target").name == "Target"
    # new runs take the new version; the retired one cannot start any more
    newer = start(draft, o.member)
    assert Task.objects.get(run=newer, key="target").name == "Agree the target"
    with pytest.raises(ValidationFailed) as refused:
        start(published, o.member)
    assert refused.value.message == (
        "Only the published version of a procedure can be started; version 1 is "
        "retired."
    )
    assert Run.objects.count() == 2


def test_retiring_stops_new_runs(crew, published, audit_trail):
    o = crew.o
    trail = audit_trail(o.organisation)

    services.retire(published, actor=o.admin, expected_version=published.version)

    assert published.status == VersionStatus.RETIRED
    assert trail.only_new_event().verb == AuditVerb.RETIRED
    with pytest.raises(ValidationFailed):
        start(published, o.member)
    assert not Run.objects.exists()


def test_a_draft_cannot_be_started(crew):
    o = crew.o
    draft = build_version(
        o, [StepSpec("a", o.export_staff, o.export_head)], publish=False
    )

    with pytest.raises(ValidationFailed) as refused:
        start(draft, o.member)
    assert refused.value.message == (
        "Only the published version of a procedure can be started; version 1 is draft."
    )


def test_only_administrators_and_owner_holders_edit_a_procedure(crew, audit_trail):
    o = crew.o
    # Rina holds the owner position (head of export): she may build the procedure
    version = build_version(
        o, [StepSpec("a", o.export_staff, o.export_head)], actor=o.member, publish=False
    )
    trail = audit_trail(o.organisation)

    # Dewi is a member without the position; the auditor and partner are no editors
    with pytest.raises(PermissionDenied):
        services.add_step(version, actor=crew.dewi, key="b", name="B", duration_value=1)
    with pytest.raises(PermissionDenied):
        services.add_step(version, actor=o.auditor, key="b", name="B", duration_value=1)
    with pytest.raises(PermissionDenied):
        services.create_procedure(
            o.organisation,
            actor=crew.dewi,
            code="X",
            name="X",
            owner_position=o.export_head,
        )
    with pytest.raises(NotFound):
        services.publish(
            version,
            actor=crew.o.admin.__class__.objects.create(
                username="stranger", email="stranger@example.test"
            ),
            expected_version=None,
        )

    trail.assert_nothing_new()
    assert version.steps.count() == 1


def test_a_stale_version_number_is_a_conflict(crew, published):
    from rantai.core.errors import Conflict

    o = crew.o
    draft = services.new_draft(published.procedure, actor=o.admin)
    step = draft.steps.get(key="target")
    stale = step.version
    services.update_step(step, actor=o.admin, expected_version=stale, name="First")

    with pytest.raises(Conflict):
        services.update_step(
            Step.objects.get(pk=step.pk),
            actor=o.admin,
            expected_version=stale,
            name="Second",
        )
    assert Step.objects.get(pk=step.pk).name == "First"


def test_a_condition_value_given_as_text_is_stored_typed_like_its_field(crew):
    """Forms and JSON clients send "100"; comparing it with an integer must work."""
    from rantai.chains import services as chains
    from rantai.chains.models import FieldType

    admin = crew.o.admin
    procedure = chains.create_procedure(
        crew.o.organisation,
        actor=admin,
        code="COND",
        name="Conditions",
        owner_position=crew.o.export_head,
    )
    version = procedure.versions.get()
    chains.add_run_field(
        version,
        actor=admin,
        key="quantity",
        label="Quantity",
        field_type=FieldType.INTEGER,
    )
    step = chains.add_step(
        version,
        actor=admin,
        key="big-order",
        name="Big order check",
        duration_value=1,
        condition_field="quantity",
        condition_operator="gte",
        condition_value="100",
    )
    step.refresh_from_db()
    assert step.condition_value == 100
    chains.update_step(
        step, actor=admin, expected_version=step.version, condition_value="250"
    )
    step.refresh_from_db()
    assert step.condition_value == 250
