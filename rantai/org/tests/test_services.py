"""The organisation services: every change is validated, compare-and-set and audited.

Each test reads as a specification: given an organisation built through the services,
when one service is called, then exactly the stated rows and audit event exist (or,
for a refused call, nothing changed at all).
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections.abc import Callable
from typing import Any

import pytest
from django.db import models, transaction
from django.utils import timezone
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from rantai.accounts.models import Role
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.core.errors import Conflict, ValidationFailed
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Duty, Holding, Party, PartyKind, Person, Position
from rantai.testing import SmallOrg, make_user

JAN_1 = dt.date(2026, 1, 1)


def row(instance: models.Model) -> dict[str, Any]:
    """The stored row, fresh from the database."""
    return type(instance)._default_manager.filter(pk=instance.pk).values().get()


def fresh(instance: models.Model) -> Any:
    return type(instance)._default_manager.get(pk=instance.pk)


def today() -> dt.date:
    return timezone.localdate()


def assert_refused(
    call: Callable[[], object],
    trail: Any,
    *,
    errors: dict[str, list[str]],
    unchanged: list[models.Model] = (),  # type: ignore[assignment]
) -> None:
    """The call raises ValidationFailed with exactly `errors`; nothing was written."""
    before = [row(instance) for instance in unchanged]
    with pytest.raises(ValidationFailed) as refused:
        call()
    assert refused.value.errors == errors
    assert [row(instance) for instance in unchanged] == before
    trail.assert_nothing_new()


# --- organisations --------------------------------------------------------------


def test_creating_an_organisation_makes_its_creator_the_first_administrator(
    db, audit_trail
):
    # given a user
    founder = make_user("founder")

    # when they create an organisation
    organisation = org.create_organisation(
        "Sinar Jaya", slug="sinar-jaya", actor=founder
    )

    # then they are its administrator and the chain starts with two events
    assert list(organisation.memberships.values_list("user", "role", "is_active")) == [
        (founder.pk, Role.ADMIN, True)
    ]
    events = list(AuditEvent.objects.filter(organisation=organisation))
    assert [(e.sequence, e.verb, e.target_type) for e in events] == [
        (1, AuditVerb.CREATED, "accounts.organisation"),
        (2, AuditVerb.JOINED, "accounts.membership"),
    ]
    assert events[0].changes == {
        "name": "Sinar Jaya",
        "slug": "sinar-jaya",
        "time_zone": "Asia/Jakarta",
    }
    assert events[1].changes == {"user": founder.pk, "role": "admin"}
    assert audit.verify(organisation).ok


@pytest.mark.parametrize(
    ("slug", "time_zone", "errors"),
    [
        (
            "Sinar Jaya",
            None,
            {
                "slug": [
                    "Enter a valid “slug” consisting of letters, numbers, underscores "
                    "or hyphens.",
                    "Use lowercase letters, digits and hyphens (2–50 characters).",
                ]
            },
        ),
        (
            "sinar",
            "Mars/Base",
            {"time_zone": ["“Mars/Base” is not a known time zone."]},
        ),
        ("acme", None, {"slug": ["Organisation with this Short name already exists."]}),
    ],
)
def test_an_organisation_needs_a_valid_free_slug_and_a_known_time_zone(
    acme, slug, time_zone, errors
):
    count = type(acme.organisation).objects.count()
    with pytest.raises(ValidationFailed) as refused:
        org.create_organisation(
            "Sinar", slug=slug, actor=acme.admin, time_zone=time_zone
        )
    assert refused.value.errors == errors
    assert type(acme.organisation).objects.count() == count


def test_updating_organisation_settings_is_audited_as_settings_changed(
    acme, audit_trail
):
    trail = audit_trail(acme.organisation)
    organisation = acme.organisation

    org.update_organisation(
        organisation,
        actor=acme.admin,
        expected_version=organisation.version,
        name="Acme Indonesia",
        time_zone="Asia/Makassar",
    )

    assert row(organisation)["name"] == "Acme Indonesia"
    assert row(organisation)["time_zone"] == "Asia/Makassar"
    assert row(organisation)["version"] == 2
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.SETTINGS_CHANGED,
        "accounts.organisation",
        str(organisation.pk),
    )
    assert event.changes == {
        "name": ["Acme Ltd", "Acme Indonesia"],
        "time_zone": ["Asia/Jakarta", "Asia/Makassar"],
    }


# --- parties --------------------------------------------------------------------


def test_creating_a_unit_under_a_parent_records_every_field(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    unit = org.create_party(
        acme.organisation,
        actor=acme.admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="  Packing  ",
        code=" PACK ",
        parent=acme.warehouse,
        description="Packs.",
    )

    assert row(unit) | {"created_at": None, "updated_at": None} == {
        "id": unit.pk,
        "organisation_id": acme.organisation.pk,
        "kind": "internal_unit",
        "name": "Packing",
        "code": "PACK",
        "parent_id": acme.warehouse.pk,
        "description": "Packs.",
        "head_position_id": None,
        "is_active": True,
        "version": 1,
        "created_at": None,
        "updated_at": None,
    }
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id, event.actor_id) == (
        AuditVerb.CREATED,
        "org.party",
        str(unit.pk),
        acme.admin.pk,
    )
    assert event.changes == {
        "kind": "internal_unit",
        "name": "Packing",
        "code": "PACK",
        "parent": acme.warehouse.pk,
        "description": "Packs.",
        "head_position": None,
    }
    assert event.personal.target_label == "Packing"


@pytest.mark.parametrize(
    ("make_kwargs", "errors"),
    [
        (
            lambda o: {"kind": PartyKind.INTERNAL_UNIT, "name": "Copy", "code": "EXP"},
            {"__all__": ["Another party already uses this code."]},
        ),
        (
            lambda o: {
                "kind": PartyKind.EXTERNAL_PARTNER,
                "name": "Sub",
                "code": "S1",
                "parent": o.export,
            },
            {"parent": ["Only internal units can sit under a parent unit."]},
        ),
        (
            lambda o: {
                "kind": PartyKind.INTERNAL_UNIT,
                "name": "Sub",
                "code": "S2",
                "parent": o.forwarder,
            },
            {"parent": ["The parent must be an internal unit."]},
        ),
        (
            lambda o: {"kind": "department", "name": "Sub", "code": "S3"},
            {"kind": ["Value 'department' is not a valid choice."]},
        ),
        (
            lambda o: {"kind": PartyKind.INTERNAL_UNIT, "name": "  ", "code": "S4"},
            {"name": ["This field cannot be blank."]},
        ),
        (
            lambda o: {
                "kind": PartyKind.INTERNAL_UNIT,
                "name": "Sub",
                "code": "S5",
                "head_position": o.director,
            },
            {"head_position": ["The head position must belong to this party."]},
        ),
    ],
    ids=[
        "duplicate-code",
        "partner-with-parent",
        "partner-as-parent",
        "bad-kind",
        "blank-name",
        "head-of-another-party",
    ],
)
def test_creating_a_party_refuses_invalid_input(acme, audit_trail, make_kwargs, errors):
    trail = audit_trail(acme.organisation)
    count = Party.objects.count()

    assert_refused(
        lambda: org.create_party(
            acme.organisation, actor=acme.admin, **make_kwargs(acme)
        ),
        trail,
        errors=errors,
    )
    assert Party.objects.count() == count


def test_a_party_cannot_reference_another_organisation(acme, other_org, audit_trail):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.create_party(
            acme.organisation,
            actor=acme.admin,
            kind=PartyKind.INTERNAL_UNIT,
            name="Sub",
            code="SUB",
            parent=other_org.export,
        ),
        trail,
        errors={"parent": ["This belongs to another organisation."]},
    )
    assert_refused(
        lambda: org.update_party(
            acme.export,
            actor=acme.admin,
            expected_version=1,
            head_position=other_org.export_head,
        ),
        trail,
        errors={"head_position": ["This belongs to another organisation."]},
        unchanged=[acme.export],
    )
    assert_refused(
        lambda: org.move_party(
            acme.warehouse,
            actor=acme.admin,
            expected_version=1,
            parent=other_org.export,
        ),
        trail,
        errors={"parent": ["This belongs to another organisation."]},
        unchanged=[acme.warehouse],
    )


def test_updating_a_party_records_only_what_changed(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    org.update_party(
        acme.export,
        actor=acme.admin,
        expected_version=1,
        name="Ekspor",
        code="EXP",
        head_position=acme.export_head,
    )

    stored = row(acme.export)
    assert (stored["name"], stored["head_position_id"], stored["version"]) == (
        "Ekspor",
        acme.export_head.pk,
        2,
    )
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.UPDATED,
        "org.party",
        str(acme.export.pk),
    )
    assert event.changes == {
        "name": ["Export", "Ekspor"],
        "head_position": [None, acme.export_head.pk],
    }


def test_an_update_that_changes_nothing_writes_nothing(acme, audit_trail):
    trail = audit_trail(acme.organisation)
    before = row(acme.export)

    org.update_party(acme.export, actor=acme.admin, expected_version=1, name="Export")

    assert row(acme.export) == before
    trail.assert_nothing_new()


def test_updating_a_party_refuses_fields_that_have_their_own_service(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.update_party(
            acme.export,
            actor=acme.admin,
            expected_version=1,
            parent=None,
            is_active=False,
        ),
        trail,
        errors={
            "is_active": ["This field cannot be changed here."],
            "parent": ["This field cannot be changed here."],
        },
        unchanged=[acme.export],
    )


def test_the_head_position_must_belong_to_the_party(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.update_party(
            acme.export,
            actor=acme.admin,
            expected_version=1,
            head_position=acme.director,
        ),
        trail,
        errors={"head_position": ["The head position must belong to this party."]},
        unchanged=[acme.export],
    )


def test_moving_a_unit_records_the_old_and_new_parent(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    org.move_party(
        acme.warehouse, actor=acme.admin, expected_version=1, parent=acme.export
    )

    assert row(acme.warehouse)["parent_id"] == acme.export.pk
    event = trail.only_new_event()
    assert (event.verb, event.target_id) == (AuditVerb.MOVED, str(acme.warehouse.pk))
    assert event.changes == {"parent": [acme.head_office.pk, acme.export.pk]}


def test_a_unit_can_be_moved_to_the_top(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    org.move_party(acme.warehouse, actor=acme.admin, expected_version=1, parent=None)

    assert row(acme.warehouse)["parent_id"] is None
    assert trail.only_new_event().changes == {"parent": [acme.head_office.pk, None]}


CYCLE = "A unit cannot be placed under itself or one of its own sub-units."


def test_a_unit_cannot_be_its_own_parent(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.move_party(
            acme.export, actor=acme.admin, expected_version=1, parent=acme.export
        ),
        trail,
        errors={"parent": [CYCLE]},
        unchanged=[acme.export],
    )


def test_a_unit_cannot_move_under_its_own_child(acme, audit_trail):
    # given head office > export
    trail = audit_trail(acme.organisation)

    # when head office is moved under export, then the move is refused
    assert_refused(
        lambda: org.move_party(
            acme.head_office, actor=acme.admin, expected_version=1, parent=acme.export
        ),
        trail,
        errors={"parent": [CYCLE]},
        unchanged=[acme.head_office],
    )


def test_a_unit_cannot_move_under_a_deeper_descendant(acme, audit_trail):
    # given head office > export > sea freight > documents
    sea = org.create_party(
        acme.organisation,
        actor=acme.admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Sea freight",
        code="SEA",
        parent=acme.export,
    )
    documents = org.create_party(
        acme.organisation,
        actor=acme.admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Documents",
        code="DOC",
        parent=sea,
    )
    trail = audit_trail(acme.organisation)

    # when export or head office is moved under documents, then both moves are refused
    for unit in (acme.export, acme.head_office):
        assert_refused(
            lambda unit=unit: org.move_party(
                unit, actor=acme.admin, expected_version=1, parent=documents
            ),
            trail,
            errors={"parent": [CYCLE]},
            unchanged=[unit],
        )


def test_a_unit_cannot_move_under_a_deactivated_unit(acme, audit_trail):
    org.deactivate_party(acme.warehouse, actor=acme.admin, expected_version=1)
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.move_party(
            acme.export,
            actor=acme.admin,
            expected_version=1,
            parent=fresh(acme.warehouse),
        ),
        trail,
        errors={"parent": ["The parent unit is deactivated."]},
        unchanged=[acme.export],
    )
    assert_refused(
        lambda: org.create_party(
            acme.organisation,
            actor=acme.admin,
            kind=PartyKind.INTERNAL_UNIT,
            name="Cold store",
            code="COLD",
            parent=fresh(acme.warehouse),
        ),
        trail,
        errors={"parent": ["The parent unit is deactivated."]},
    )


def test_deactivating_and_reactivating_a_unit(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    org.deactivate_party(acme.warehouse, actor=acme.admin, expected_version=1)
    org.reactivate_party(acme.warehouse, actor=acme.admin, expected_version=2)

    assert (row(acme.warehouse)["is_active"], row(acme.warehouse)["version"]) == (
        True,
        3,
    )
    events = trail.new_events()
    assert [(e.verb, e.target_id, e.changes) for e in events] == [
        (AuditVerb.DEACTIVATED, str(acme.warehouse.pk), {"is_active": [True, False]}),
        (AuditVerb.REACTIVATED, str(acme.warehouse.pk), {"is_active": [False, True]}),
    ]


def test_a_unit_with_active_sub_units_cannot_be_deactivated(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.deactivate_party(
            acme.head_office, actor=acme.admin, expected_version=1
        ),
        trail,
        errors={"__all__": ["Move or deactivate its 2 active sub-units first."]},
        unchanged=[acme.head_office],
    )


def test_a_party_with_active_positions_cannot_be_deactivated(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.deactivate_party(acme.export, actor=acme.admin, expected_version=1),
        trail,
        errors={"__all__": ["Move or deactivate its 2 active positions first."]},
        unchanged=[acme.export],
    )


def test_a_partner_with_active_partner_memberships_cannot_be_deactivated(
    acme, audit_trail
):
    # given a partner party with no positions, bound to a partner's membership
    carrier = org.create_party(
        acme.organisation,
        actor=acme.admin,
        kind=PartyKind.EXTERNAL_PARTNER,
        name="Carrier",
        code="CAR",
    )
    membership.add_member(
        acme.organisation,
        actor=acme.admin,
        user=make_user("carrier"),
        role=Role.PARTNER,
        party=carrier,
    )
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.deactivate_party(carrier, actor=acme.admin, expected_version=1),
        trail,
        errors={"__all__": ["End the 1 active partner memberships bound to it first."]},
        unchanged=[carrier],
    )


def test_a_sub_unit_cannot_be_reactivated_under_a_deactivated_parent(acme, audit_trail):
    # given a deactivated unit under a deactivated unit
    sub = org.create_party(
        acme.organisation,
        actor=acme.admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Cold store",
        code="COLD",
        parent=acme.warehouse,
    )
    org.deactivate_party(sub, actor=acme.admin, expected_version=1)
    org.deactivate_party(acme.warehouse, actor=acme.admin, expected_version=1)
    sub = fresh(sub)
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.reactivate_party(sub, actor=acme.admin, expected_version=2),
        trail,
        errors={"parent": ["Reactivate the parent unit first."]},
        unchanged=[sub],
    )


# --- positions ------------------------------------------------------------------


def test_creating_a_position_records_every_field(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    position = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.warehouse,
        title=" Head of warehouse ",
        code="WH-HEAD",
        superior=acme.director,
        job_summary="Runs the warehouse.",
    )

    assert (position.title, position.max_holders, position.is_active) == (
        "Head of warehouse",
        1,
        True,
    )
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.CREATED,
        "org.position",
        str(position.pk),
    )
    assert event.changes == {
        "party": acme.warehouse.pk,
        "title": "Head of warehouse",
        "code": "WH-HEAD",
        "superior": acme.director.pk,
        "job_summary": "Runs the warehouse.",
        "max_holders": 1,
    }


@pytest.mark.parametrize(
    ("make_kwargs", "errors"),
    [
        (
            lambda o: {"party": o.warehouse, "title": "Copy", "code": "DIR"},
            {"__all__": ["Another position already uses this code."]},
        ),
        (
            lambda o: {
                "party": o.warehouse,
                "title": "Nobody",
                "code": "NB",
                "max_holders": 0,
            },
            {"__all__": ["A position must allow at least one holder."]},
        ),
    ],
    ids=["duplicate-code", "no-holders"],
)
def test_creating_a_position_refuses_invalid_input(
    acme, audit_trail, make_kwargs, errors
):
    trail = audit_trail(acme.organisation)
    count = Position.objects.count()

    assert_refused(
        lambda: org.create_position(
            acme.organisation, actor=acme.admin, **make_kwargs(acme)
        ),
        trail,
        errors=errors,
    )
    assert Position.objects.count() == count


def test_a_position_cannot_reference_another_organisation(acme, other_org, audit_trail):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.create_position(
            acme.organisation,
            actor=acme.admin,
            party=other_org.export,
            title="X",
            code="X",
        ),
        trail,
        errors={"party": ["This belongs to another organisation."]},
    )
    assert_refused(
        lambda: org.create_position(
            acme.organisation,
            actor=acme.admin,
            party=acme.export,
            title="X",
            code="X",
            superior=other_org.director,
        ),
        trail,
        errors={"superior": ["This belongs to another organisation."]},
    )
    assert_refused(
        lambda: org.move_position(
            acme.export_staff,
            actor=acme.admin,
            expected_version=1,
            superior=other_org.director,
        ),
        trail,
        errors={"superior": ["This belongs to another organisation."]},
        unchanged=[acme.export_staff],
    )


def test_a_position_cannot_be_created_in_a_deactivated_party(acme, audit_trail):
    org.deactivate_party(acme.warehouse, actor=acme.admin, expected_version=1)
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.create_position(
            acme.organisation,
            actor=acme.admin,
            party=fresh(acme.warehouse),
            title="X",
            code="X",
        ),
        trail,
        errors={"party": ["The party is deactivated."]},
    )


def test_moving_a_position_to_another_superior(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    org.move_position(
        acme.export_staff, actor=acme.admin, expected_version=1, superior=acme.director
    )

    assert row(acme.export_staff)["superior_id"] == acme.director.pk
    event = trail.only_new_event()
    assert (event.verb, event.target_id) == (AuditVerb.MOVED, str(acme.export_staff.pk))
    assert event.changes == {"superior": [acme.export_head.pk, acme.director.pk]}


def test_moving_a_position_to_another_party_keeps_its_superior(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    org.move_position(
        acme.export_staff,
        actor=acme.admin,
        expected_version=1,
        party=acme.warehouse,
        superior=acme.export_head,
    )

    stored = row(acme.export_staff)
    assert (stored["party_id"], stored["superior_id"]) == (
        acme.warehouse.pk,
        acme.export_head.pk,
    )
    assert trail.only_new_event().changes == {
        "party": [acme.export.pk, acme.warehouse.pk]
    }


SUPERIOR_CYCLE = (
    "This would make the position its own superior (a cycle in the superior line)."
)


def test_a_position_cannot_be_its_own_superior(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.move_position(
            acme.export_head,
            actor=acme.admin,
            expected_version=1,
            superior=acme.export_head,
        ),
        trail,
        errors={"superior": [SUPERIOR_CYCLE]},
        unchanged=[acme.export_head],
    )


def test_a_position_cannot_report_to_its_direct_subordinate(acme, audit_trail):
    # given director > head of export
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.move_position(
            acme.director,
            actor=acme.admin,
            expected_version=1,
            superior=acme.export_head,
        ),
        trail,
        errors={"superior": [SUPERIOR_CYCLE]},
        unchanged=[acme.director],
    )


def test_a_position_cannot_report_to_an_indirect_subordinate(acme, audit_trail):
    # given director > head of export > export clerk
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.move_position(
            acme.director,
            actor=acme.admin,
            expected_version=1,
            superior=acme.export_staff,
        ),
        trail,
        errors={"superior": [SUPERIOR_CYCLE]},
        unchanged=[acme.director],
    )


def test_a_position_cannot_report_to_a_deactivated_position(acme, audit_trail):
    spare = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.warehouse,
        title="Spare",
        code="SP",
    )
    org.deactivate_position(spare, actor=acme.admin, expected_version=1)
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.move_position(
            acme.export_staff, actor=acme.admin, expected_version=1, superior=spare
        ),
        trail,
        errors={"superior": ["The superior position is deactivated."]},
        unchanged=[acme.export_staff],
    )


def test_lowering_the_number_of_holders_below_the_current_holders_is_refused(
    acme, audit_trail
):
    # given the export clerk position (2 allowed) with two definitive holders
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    org.assign_holder(
        acme.export_staff, actor=acme.admin, person=dian, start_date=JAN_1
    )
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.update_position(
            acme.export_staff, actor=acme.admin, expected_version=1, max_holders=1
        ),
        trail,
        errors={
            "max_holders": [
                "The position has 2 current holders; end some holdings first."
            ]
        },
        unchanged=[acme.export_staff],
    )


def test_updating_a_position(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    org.update_position(
        acme.export_staff,
        actor=acme.admin,
        expected_version=1,
        title="Export officer",
        max_holders=1,
    )

    assert (row(acme.export_staff)["title"], row(acme.export_staff)["max_holders"]) == (
        "Export officer",
        1,
    )
    assert trail.only_new_event().changes == {
        "title": ["Export clerk", "Export officer"],
        "max_holders": [2, 1],
    }


def test_a_position_with_current_holders_cannot_be_deactivated(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.deactivate_position(
            acme.export_staff, actor=acme.admin, expected_version=1
        ),
        trail,
        errors={"__all__": ["End its 1 current holdings first."]},
        unchanged=[acme.export_staff],
    )


def test_a_position_with_active_subordinates_cannot_be_deactivated(acme, audit_trail):
    # given the director (no holder) with the head of export under it
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.deactivate_position(
            acme.director, actor=acme.admin, expected_version=1
        ),
        trail,
        errors={
            "__all__": ["Give its 1 subordinate positions another superior first."]
        },
        unchanged=[acme.director],
    )


def test_the_head_position_of_an_active_party_cannot_be_deactivated(acme, audit_trail):
    # given a vacant position without subordinates that heads the warehouse
    keeper = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.warehouse,
        title="Keeper",
        code="KP",
    )
    org.update_party(
        acme.warehouse, actor=acme.admin, expected_version=1, head_position=keeper
    )
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.deactivate_position(keeper, actor=acme.admin, expected_version=1),
        trail,
        errors={
            "__all__": ["It heads an active party; choose another head position first."]
        },
        unchanged=[keeper],
    )


def test_deactivating_and_reactivating_a_position(acme, audit_trail):
    spare = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.warehouse,
        title="Spare",
        code="SP",
    )
    trail = audit_trail(acme.organisation)

    org.deactivate_position(spare, actor=acme.admin, expected_version=1)
    org.reactivate_position(spare, actor=acme.admin, expected_version=2)

    assert (row(spare)["is_active"], row(spare)["version"]) == (True, 3)
    assert [(e.verb, e.changes) for e in trail.new_events()] == [
        (AuditVerb.DEACTIVATED, {"is_active": [True, False]}),
        (AuditVerb.REACTIVATED, {"is_active": [False, True]}),
    ]


def test_a_position_cannot_be_reactivated_in_a_deactivated_party(acme, audit_trail):
    spare = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.warehouse,
        title="Spare",
        code="SP",
    )
    org.deactivate_position(spare, actor=acme.admin, expected_version=1)
    org.deactivate_party(acme.warehouse, actor=acme.admin, expected_version=1)
    spare = fresh(spare)
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.reactivate_position(spare, actor=acme.admin, expected_version=2),
        trail,
        errors={"party": ["Reactivate its party first."]},
        unchanged=[spare],
    )


# --- duties ---------------------------------------------------------------------


def test_duties_are_appended_after_the_last_one(acme, audit_trail):
    # given the head of export with one duty (order 10)
    trail = audit_trail(acme.organisation)

    duty = org.create_duty(
        acme.export_head,
        actor=acme.admin,
        title=" Approve shipments ",
        output_unit=" approval ",
    )

    assert list(
        Duty.objects.filter(position=acme.export_head).values_list(
            "title", "sort_order"
        )
    ) == [("Price shipping", 10), ("Approve shipments", 20)]
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.CREATED,
        "org.duty",
        str(duty.pk),
    )
    assert event.changes == {
        "position": acme.export_head.pk,
        "title": "Approve shipments",
        "output_unit": "approval",
        "description": "",
        "sort_order": 20,
    }


def test_a_duty_needs_an_active_position_and_an_output_unit(acme, audit_trail):
    spare = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.warehouse,
        title="Spare",
        code="SP",
    )
    org.deactivate_position(spare, actor=acme.admin, expected_version=1)
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.create_duty(
            fresh(spare), actor=acme.admin, title="X", output_unit="x"
        ),
        trail,
        errors={"position": ["The position is deactivated."]},
    )
    assert_refused(
        lambda: org.create_duty(
            acme.export_head, actor=acme.admin, title="X", output_unit=""
        ),
        trail,
        errors={"output_unit": ["This field cannot be blank."]},
    )


def test_updating_deactivating_and_reactivating_a_duty(acme, audit_trail):
    duty = Duty.objects.get(position=acme.export_head)
    trail = audit_trail(acme.organisation)

    org.update_duty(
        duty, actor=acme.admin, expected_version=1, output_unit="price list"
    )
    org.deactivate_duty(duty, actor=acme.admin, expected_version=2)
    org.reactivate_duty(duty, actor=acme.admin, expected_version=3)

    assert (row(duty)["output_unit"], row(duty)["is_active"], row(duty)["version"]) == (
        "price list",
        True,
        4,
    )
    assert [(e.verb, e.target_type, e.changes) for e in trail.new_events()] == [
        (AuditVerb.UPDATED, "org.duty", {"output_unit": ["quotation", "price list"]}),
        (AuditVerb.DEACTIVATED, "org.duty", {"is_active": [True, False]}),
        (AuditVerb.REACTIVATED, "org.duty", {"is_active": [False, True]}),
    ]


# --- people and personal data ------------------------------------------------------


def test_a_persons_name_email_and_number_stay_out_of_the_hashed_event(
    acme, audit_trail
):
    trail = audit_trail(acme.organisation)

    person = org.create_person(
        acme.organisation,
        actor=acme.admin,
        full_name=" Siti Aminah ",
        email=" Siti@Example.TEST ",
        employee_number=" E-77 ",
        party=acme.forwarder,
    )

    assert (person.full_name, person.email, person.employee_number) == (
        "Siti Aminah",
        "siti@example.test",
        "E-77",
    )
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.CREATED,
        "org.person",
        str(person.pk),
    )
    assert event.changes == {"party": acme.forwarder.pk, "user": None}
    assert event.personal.changes == {
        "full_name": "Siti Aminah",
        "email": "siti@example.test",
        "employee_number": "E-77",
    }
    hashed = audit.canonical_bytes(event).decode()
    for personal in ("Siti", "siti@example.test", "E-77"):
        assert personal not in hashed


def test_renaming_a_person_records_the_names_only_in_the_personal_half(
    acme, audit_trail
):
    trail = audit_trail(acme.organisation)

    org.update_person(
        acme.budi,
        actor=acme.admin,
        expected_version=1,
        full_name="Budi S.",
        email="BUDI@Example.test",
        party=acme.warehouse,
    )

    stored = row(acme.budi)
    assert (stored["full_name"], stored["email"], stored["party_id"]) == (
        "Budi S.",
        "budi@example.test",
        acme.warehouse.pk,
    )
    event = trail.only_new_event()
    assert (event.verb, event.target_id) == (AuditVerb.UPDATED, str(acme.budi.pk))
    assert event.changes == {"party": [None, acme.warehouse.pk]}
    assert event.personal.changes == {
        "full_name": ["Budi Santoso", "Budi S."],
        "email": ["", "budi@example.test"],
    }


def test_a_name_only_change_writes_an_event_with_empty_public_changes(
    acme, audit_trail
):
    trail = audit_trail(acme.organisation)

    org.update_person(
        acme.budi, actor=acme.admin, expected_version=1, full_name="Budi S."
    )

    event = trail.only_new_event()
    assert event.changes == {}
    assert event.personal.changes == {"full_name": ["Budi Santoso", "Budi S."]}


@pytest.mark.parametrize(
    ("make_kwargs", "errors"),
    [
        (
            lambda o: {"full_name": "Twin", "user": o.member},
            {"__all__": ["This login is already linked to another person."]},
        ),
        (
            lambda o: {"full_name": "Bad", "email": "not-an-address"},
            {"email": ["Enter a valid email address."]},
        ),
        (lambda o: {"full_name": " "}, {"full_name": ["This field cannot be blank."]}),
    ],
    ids=["login-linked-twice", "bad-email", "blank-name"],
)
def test_creating_a_person_refuses_invalid_input(
    acme, audit_trail, make_kwargs, errors
):
    trail = audit_trail(acme.organisation)
    count = Person.objects.count()

    assert_refused(
        lambda: org.create_person(
            acme.organisation, actor=acme.admin, **make_kwargs(acme)
        ),
        trail,
        errors=errors,
    )
    assert Person.objects.count() == count


def test_employee_numbers_are_unique_per_organisation(acme, other_org, audit_trail):
    org.create_person(
        acme.organisation, actor=acme.admin, full_name="A", employee_number="7"
    )
    # the same number in another organisation is fine
    org.create_person(
        other_org.organisation,
        actor=other_org.admin,
        full_name="B",
        employee_number="7",
    )
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.create_person(
            acme.organisation, actor=acme.admin, full_name="C", employee_number="7"
        ),
        trail,
        errors={"__all__": ["Another person already has this employee number."]},
    )


def test_a_person_cannot_belong_to_another_organisations_party(
    acme, other_org, audit_trail
):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.create_person(
            acme.organisation,
            actor=acme.admin,
            full_name="X",
            party=other_org.forwarder,
        ),
        trail,
        errors={"party": ["This belongs to another organisation."]},
    )
    assert_refused(
        lambda: org.update_person(
            acme.budi, actor=acme.admin, expected_version=1, party=other_org.forwarder
        ),
        trail,
        errors={"party": ["This belongs to another organisation."]},
        unchanged=[acme.budi],
    )


def test_a_person_holding_a_position_cannot_be_deactivated(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.deactivate_person(acme.budi, actor=acme.admin, expected_version=1),
        trail,
        errors={"__all__": ["End this person's 1 current holdings first."]},
        unchanged=[acme.budi],
    )


def test_deactivating_and_reactivating_a_person(acme, audit_trail):
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    trail = audit_trail(acme.organisation)

    org.deactivate_person(dian, actor=acme.admin, expected_version=1)
    org.reactivate_person(dian, actor=acme.admin, expected_version=2)

    assert (row(dian)["is_active"], row(dian)["version"]) == (True, 3)
    assert [(e.verb, e.changes) for e in trail.new_events()] == [
        (AuditVerb.DEACTIVATED, {"is_active": [True, False]}),
        (AuditVerb.REACTIVATED, {"is_active": [False, True]}),
    ]


# --- holders --------------------------------------------------------------------


def test_appointing_a_holder(acme, audit_trail):
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    trail = audit_trail(acme.organisation)

    holding = org.assign_holder(
        acme.director,
        actor=acme.admin,
        person=dian,
        start_date=JAN_1,
        end_date=dt.date(2026, 12, 31),
    )

    assert row(holding) | {"created_at": None, "updated_at": None} == {
        "id": holding.pk,
        "organisation_id": acme.organisation.pk,
        "position_id": acme.director.pk,
        "person_id": dian.pk,
        "start_date": JAN_1,
        "end_date": dt.date(2026, 12, 31),
        "is_acting": False,
        "version": 1,
        "created_at": None,
        "updated_at": None,
    }
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.CREATED,
        "org.holding",
        str(holding.pk),
    )
    assert event.changes == {
        "position": acme.director.pk,
        "person": dian.pk,
        "start_date": "2026-01-01",
        "end_date": "2026-12-31",
        "is_acting": False,
    }


def occupied_message(name: str) -> str:
    return (
        f"The position already has a holder in that period ({name}). End that holding "
        "first, or appoint an acting holder (Plt)."
    )


def test_a_single_holder_position_refuses_a_second_definitive_holder(acme, audit_trail):
    # given Rina holds the head of export from 1 January, open-ended
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    trail = audit_trail(acme.organisation)

    # when Dian is appointed definitively from any later date, then it is refused
    for start in (JAN_1, dt.date(2030, 6, 1)):
        assert_refused(
            lambda start=start: org.assign_holder(
                acme.export_head, actor=acme.admin, person=dian, start_date=start
            ),
            trail,
            errors={"person": [occupied_message("Rina Kusuma")]},
        )
    # and a period that ends before Rina started is fine
    org.assign_holder(
        acme.export_head,
        actor=acme.admin,
        person=dian,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 12, 31),
    )
    assert Holding.objects.filter(position=acme.export_head).count() == 2


def test_an_acting_holder_may_serve_beside_the_definitive_holder(acme, audit_trail):
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    trail = audit_trail(acme.organisation)

    acting = org.assign_holder(
        acme.export_head,
        actor=acme.admin,
        person=dian,
        start_date=today(),
        is_acting=True,
    )

    assert list(
        Holding.objects.filter(position=acme.export_head)
        .current()
        .order_by("is_acting")
        .values_list("person__full_name", "is_acting")
    ) == [("Rina Kusuma", False), ("Dian", True)]
    assert trail.only_new_event().changes["is_acting"] is True
    assert acting.is_acting


def test_a_new_definitive_holder_may_start_after_the_previous_one_ended(
    acme, audit_trail
):
    # given Rina's holding ends on 31 March
    rina_holding = Holding.objects.get(position=acme.export_head)
    org.end_holding(
        rina_holding,
        actor=acme.admin,
        expected_version=1,
        end_date=dt.date(2026, 3, 31),
    )
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    trail = audit_trail(acme.organisation)

    # when Dian starts on 31 March it overlaps; on 1 April it does not
    assert_refused(
        lambda: org.assign_holder(
            acme.export_head,
            actor=acme.admin,
            person=dian,
            start_date=dt.date(2026, 3, 31),
        ),
        trail,
        errors={"person": [occupied_message("Rina Kusuma")]},
    )
    org.assign_holder(
        acme.export_head, actor=acme.admin, person=dian, start_date=dt.date(2026, 4, 1)
    )
    assert list(
        Holding.objects.filter(position=acme.export_head)
        .order_by("start_date")
        .values_list("person__full_name", "start_date", "end_date")
    ) == [
        ("Rina Kusuma", JAN_1, dt.date(2026, 3, 31)),
        ("Dian", dt.date(2026, 4, 1), None),
    ]


def test_a_multi_holder_position_accepts_holders_up_to_its_capacity(acme, audit_trail):
    # given the export clerk position allows 2 and Budi holds it
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    eko = org.create_person(acme.organisation, actor=acme.admin, full_name="Eko")
    org.assign_holder(
        acme.export_staff, actor=acme.admin, person=dian, start_date=JAN_1
    )
    trail = audit_trail(acme.organisation)

    # when a third definitive holder is appointed, then it is refused
    assert_refused(
        lambda: org.assign_holder(
            acme.export_staff, actor=acme.admin, person=eko, start_date=today()
        ),
        trail,
        errors={
            "person": [
                "The position allows 2 holders and already has 2 in that period."
            ]
        },
    )
    # but an acting holder comes on top
    org.assign_holder(
        acme.export_staff,
        actor=acme.admin,
        person=eko,
        start_date=today(),
        is_acting=True,
    )
    assert Holding.objects.filter(position=acme.export_staff).current().count() == 3


def test_a_person_cannot_hold_the_same_position_twice_at_once(acme, audit_trail):
    # given Budi holds the export clerk position (2 allowed) from 1 January
    trail = audit_trail(acme.organisation)

    for is_acting in (False, True):
        assert_refused(
            lambda is_acting=is_acting: org.assign_holder(
                acme.export_staff,
                actor=acme.admin,
                person=acme.budi,
                start_date=dt.date(2026, 6, 1),
                is_acting=is_acting,
            ),
            trail,
            errors={
                "person": ["This person already holds the position in that period."]
            },
        )


def test_a_holding_must_end_after_it_starts(acme, audit_trail):
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    holding = Holding.objects.get(position=acme.export_head)
    trail = audit_trail(acme.organisation)
    message = {"end_date": ["The end date must not be before the start date."]}

    assert_refused(
        lambda: org.assign_holder(
            acme.director,
            actor=acme.admin,
            person=dian,
            start_date=dt.date(2026, 5, 2),
            end_date=dt.date(2026, 5, 1),
        ),
        trail,
        errors=message,
    )
    assert_refused(
        lambda: org.end_holding(
            holding,
            actor=acme.admin,
            expected_version=1,
            end_date=dt.date(2025, 12, 31),
        ),
        trail,
        errors=message,
        unchanged=[holding],
    )
    assert_refused(
        lambda: org.update_holding(
            holding,
            actor=acme.admin,
            expected_version=1,
            start_date=dt.date(2026, 2, 1),
            end_date=dt.date(2026, 1, 31),
        ),
        trail,
        errors=message,
        unchanged=[holding],
    )


def test_a_holding_may_start_and_end_on_the_same_day(acme):
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")

    holding = org.assign_holder(
        acme.director, actor=acme.admin, person=dian, start_date=JAN_1, end_date=JAN_1
    )

    assert (holding.start_date, holding.end_date) == (JAN_1, JAN_1)


def test_holders_must_be_active_and_of_the_same_organisation(
    acme, other_org, audit_trail
):
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    org.deactivate_person(dian, actor=acme.admin, expected_version=1)
    spare = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.warehouse,
        title="Spare",
        code="SP",
    )
    org.deactivate_position(spare, actor=acme.admin, expected_version=1)
    trail = audit_trail(acme.organisation)

    assert_refused(
        lambda: org.assign_holder(
            acme.director, actor=acme.admin, person=other_org.budi, start_date=JAN_1
        ),
        trail,
        errors={"person": ["This belongs to another organisation."]},
    )
    assert_refused(
        lambda: org.assign_holder(
            acme.director, actor=acme.admin, person=fresh(dian), start_date=JAN_1
        ),
        trail,
        errors={"person": ["The person is deactivated."]},
    )
    assert_refused(
        lambda: org.assign_holder(
            spare, actor=acme.admin, person=acme.budi, start_date=JAN_1
        ),
        trail,
        errors={"position": ["The position is deactivated."]},
    )


def test_ending_a_holding(acme, audit_trail):
    holding = Holding.objects.get(position=acme.export_head)
    yesterday = today() - dt.timedelta(days=1)
    trail = audit_trail(acme.organisation)

    org.end_holding(holding, actor=acme.admin, expected_version=1, end_date=yesterday)

    assert row(holding)["end_date"] == yesterday
    assert not Holding.objects.filter(position=acme.export_head).current().exists()
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.ENDED,
        "org.holding",
        str(holding.pk),
    )
    assert event.changes == {"end_date": [None, yesterday.isoformat()]}


def test_turning_an_acting_holding_into_a_definitive_one_respects_capacity(
    acme, audit_trail
):
    # given Rina holds the head of export and Dian acts beside her
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    acting = org.assign_holder(
        acme.export_head,
        actor=acme.admin,
        person=dian,
        start_date=JAN_1,
        is_acting=True,
    )
    trail = audit_trail(acme.organisation)

    # when the acting holding is made definitive, then it is refused
    assert_refused(
        lambda: org.update_holding(
            acting, actor=acme.admin, expected_version=1, is_acting=False
        ),
        trail,
        errors={"person": [occupied_message("Rina Kusuma")]},
        unchanged=[acting],
    )

    # once Rina's holding has ended, it is accepted
    rina_holding = Holding.objects.get(position=acme.export_head, person=acme.rina)
    org.end_holding(rina_holding, actor=acme.admin, expected_version=1, end_date=JAN_1)
    trail = audit_trail(acme.organisation)
    org.update_holding(
        fresh(acting),
        actor=acme.admin,
        expected_version=1,
        start_date=dt.date(2026, 1, 2),
        is_acting=False,
    )
    assert trail.only_new_event().changes == {
        "start_date": ["2026-01-01", "2026-01-02"],
        "is_acting": [True, False],
    }


# --- compare-and-set ------------------------------------------------------------


def _rival_and_stale_call(
    name: str, o: SmallOrg
) -> tuple[models.Model, Callable, Callable]:
    """(target, rival change on a fresh copy, stale call taking expected_version)."""
    admin = o.admin
    holding = Holding.objects.get(position=o.export_head)
    duty = Duty.objects.get(position=o.export_head)
    cases: dict[str, tuple[models.Model, Callable, Callable]] = {
        "update_party": (
            o.export,
            lambda c: org.update_party(
                c, actor=admin, expected_version=1, description="r"
            ),
            lambda v: org.update_party(
                o.export, actor=admin, expected_version=v, name="Mine"
            ),
        ),
        "move_party": (
            o.warehouse,
            lambda c: org.update_party(
                c, actor=admin, expected_version=1, description="r"
            ),
            lambda v: org.move_party(
                o.warehouse, actor=admin, expected_version=v, parent=None
            ),
        ),
        "deactivate_party": (
            o.warehouse,
            lambda c: org.update_party(
                c, actor=admin, expected_version=1, description="r"
            ),
            lambda v: org.deactivate_party(
                o.warehouse, actor=admin, expected_version=v
            ),
        ),
        "update_position": (
            o.export_staff,
            lambda c: org.update_position(
                c, actor=admin, expected_version=1, job_summary="r"
            ),
            lambda v: org.update_position(
                o.export_staff, actor=admin, expected_version=v, title="Mine"
            ),
        ),
        "move_position": (
            o.export_staff,
            lambda c: org.update_position(
                c, actor=admin, expected_version=1, job_summary="r"
            ),
            lambda v: org.move_position(
                o.export_staff, actor=admin, expected_version=v, superior=o.director
            ),
        ),
        "update_duty": (
            duty,
            lambda c: org.update_duty(
                c, actor=admin, expected_version=1, description="r"
            ),
            lambda v: org.update_duty(
                duty, actor=admin, expected_version=v, title="Mine"
            ),
        ),
        "update_person": (
            o.budi,
            lambda c: org.update_person(
                c, actor=admin, expected_version=1, full_name="r"
            ),
            lambda v: org.update_person(
                o.budi, actor=admin, expected_version=v, email="b@example.test"
            ),
        ),
        "end_holding": (
            holding,
            lambda c: org.update_holding(
                c, actor=admin, expected_version=1, start_date=dt.date(2026, 1, 2)
            ),
            lambda v: org.end_holding(
                holding, actor=admin, expected_version=v, end_date=dt.date(2026, 2, 1)
            ),
        ),
        "update_organisation": (
            o.organisation,
            lambda c: org.update_organisation(
                c, actor=admin, expected_version=1, name="r"
            ),
            lambda v: org.update_organisation(
                o.organisation,
                actor=admin,
                expected_version=v,
                time_zone="Asia/Jayapura",
            ),
        ),
    }
    return cases[name]


@pytest.mark.parametrize(
    "case",
    [
        "update_party",
        "move_party",
        "deactivate_party",
        "update_position",
        "move_position",
        "update_duty",
        "update_person",
        "end_holding",
        "update_organisation",
    ],
)
def test_a_stale_version_raises_conflict_and_writes_nothing(acme, audit_trail, case):
    # given someone else changed the row after the caller read it (version 1 → 2)
    target, rival, stale_call = _rival_and_stale_call(case, acme)
    rival(fresh(target))
    assert row(target)["version"] == 2
    before = row(target)
    trail = audit_trail(acme.organisation)

    # when the caller writes with the version it read, then it conflicts
    with pytest.raises(Conflict) as conflict:
        stale_call(1)

    # and neither the row nor the audit trail changed
    assert conflict.value.status == 409
    assert row(target) == before
    trail.assert_nothing_new()


def test_a_stale_version_conflicts_even_when_the_values_look_unchanged(
    acme, audit_trail
):
    # given someone renamed Export after the caller read it
    org.update_party(
        fresh(acme.export), actor=acme.admin, expected_version=1, name="Ekspor"
    )
    before = row(acme.export)
    trail = audit_trail(acme.organisation)

    # when the caller submits the name it read, with the version it read
    with pytest.raises(Conflict):
        org.update_party(
            acme.export, actor=acme.admin, expected_version=1, name="Export"
        )

    # then nothing is written: the rename is not silently kept or undone
    assert row(acme.export) == before
    trail.assert_nothing_new()


def test_the_in_memory_version_is_used_when_no_version_is_given(acme, audit_trail):
    # given a copy read before someone else's change
    stale = fresh(acme.export)
    org.update_party(
        fresh(acme.export), actor=acme.admin, expected_version=1, name="Ekspor"
    )
    trail = audit_trail(acme.organisation)

    with pytest.raises(Conflict):
        org.update_party(stale, actor=acme.admin, expected_version=None, code="EX")

    assert row(acme.export)["code"] == "EXP"
    trail.assert_nothing_new()


def test_every_service_call_in_a_session_keeps_the_chain_verifiable(acme):
    # the fixture alone made dozens of changes through the services
    verification = audit.verify(acme.organisation)
    assert verification.ok
    assert (
        verification.events_checked
        == AuditEvent.objects.filter(organisation=acme.organisation).count()
    )


def test_the_head_position_cannot_move_to_another_party(acme, audit_trail):
    # given the head of export heads the export unit
    org.update_party(
        acme.export,
        actor=acme.admin,
        expected_version=1,
        head_position=acme.export_head,
    )
    trail = audit_trail(acme.organisation)

    # when it is moved to the warehouse, then it is refused
    assert_refused(
        lambda: org.move_position(
            acme.export_head,
            actor=acme.admin,
            expected_version=1,
            party=acme.warehouse,
            superior=acme.director,
        ),
        trail,
        errors={
            "party": ["It heads an active party; choose another head position first."]
        },
        unchanged=[acme.export_head],
    )


# --- properties over many sequences of changes ------------------------------------

PROPERTY_SETTINGS = settings(
    max_examples=25,
    deadline=None,
    suppress_health_check=[HealthCheck.function_scoped_fixture, HealthCheck.too_slow],
)


class _Rollback(Exception):
    """Undo one generated example so the next starts from the same organisation."""


def _parent_map(organisation) -> dict[int, int | None]:  # type: ignore[no-untyped-def]
    return dict(
        Party.objects.filter(
            organisation=organisation, kind=PartyKind.INTERNAL_UNIT
        ).values_list("pk", "parent_id")
    )


def _has_cycle(parents: dict[int, int | None]) -> bool:
    for start in parents:
        seen, node = set(), start
        while node is not None:
            if node in seen:
                return True
            seen.add(node)
            node = parents[node]
    return False


@PROPERTY_SETTINGS
@given(
    moves=st.lists(
        st.tuples(st.integers(0, 4), st.none() | st.integers(0, 4)),
        min_size=1,
        max_size=12,
    )
)
def test_no_sequence_of_moves_makes_a_cycle_in_the_unit_tree(acme, moves):
    with contextlib.suppress(_Rollback), transaction.atomic():
        extra = [
            org.create_party(
                acme.organisation,
                actor=acme.admin,
                kind=PartyKind.INTERNAL_UNIT,
                name=f"Unit {n}",
                code=f"PU{n}",
                parent=acme.warehouse,
            )
            for n in range(2)
        ]
        units = [acme.head_office, acme.export, acme.warehouse, *extra]
        for unit_index, parent_index in moves:
            unit = fresh(units[unit_index])
            parent = None if parent_index is None else fresh(units[parent_index])
            before = _parent_map(acme.organisation)
            head = AuditEvent.objects.filter(organisation=acme.organisation).count()
            try:
                org.move_party(
                    unit, actor=acme.admin, expected_version=unit.version, parent=parent
                )
            except ValidationFailed as refused:
                # a refused move changed nothing and says why
                assert refused.errors == {"parent": [CYCLE]}
                assert _parent_map(acme.organisation) == before
                assert (
                    AuditEvent.objects.filter(organisation=acme.organisation).count()
                    == head
                )
            assert not _has_cycle(_parent_map(acme.organisation))
        assert audit.verify(acme.organisation).ok
        raise _Rollback


@PROPERTY_SETTINGS
@given(
    max_holders=st.integers(1, 2),
    appointments=st.lists(
        st.tuples(
            st.integers(0, 3),
            st.integers(0, 20),
            st.none() | st.integers(0, 15),
            st.booleans(),
        ),
        min_size=1,
        max_size=10,
    ),
)
def test_no_sequence_of_appointments_overfills_a_position(
    acme, max_holders, appointments
):
    base = dt.date(2027, 1, 1)
    with contextlib.suppress(_Rollback), transaction.atomic():
        position = org.create_position(
            acme.organisation,
            actor=acme.admin,
            party=acme.warehouse,
            title="Keeper",
            code="KEEP",
            max_holders=max_holders,
        )
        people = [
            org.create_person(acme.organisation, actor=acme.admin, full_name=f"P{n}")
            for n in range(4)
        ]
        for person_index, start, length, is_acting in appointments:
            with contextlib.suppress(ValidationFailed):
                org.assign_holder(
                    position,
                    actor=acme.admin,
                    person=people[person_index],
                    start_date=base + dt.timedelta(days=start),
                    end_date=None
                    if length is None
                    else base + dt.timedelta(days=start + length),
                    is_acting=is_acting,
                )
        holdings = list(Holding.objects.filter(position=position))
        for offset in range(40):
            day = base + dt.timedelta(days=offset)
            on_day = [h for h in holdings if h.overlaps(day, day)]
            assert len([h for h in on_day if not h.is_acting]) <= max_holders
            held_by = [h.person_id for h in on_day]
            assert len(held_by) == len(set(held_by))
        raise _Rollback
