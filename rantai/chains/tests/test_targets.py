"""Targets: who sets and changes them, the rules (one organisation, quantity,
period, parent of the same unit and no cycles, active), runs declared toward them
at start or later, and that every refusal writes nothing."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.access import access_for
from rantai.audit.models import AuditVerb
from rantai.chains import services
from rantai.chains import targets as target_services
from rantai.chains.models import Run, Target, Task
from rantai.chains.tests.helpers import T0, StepSpec, build_version
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.org import services as org
from rantai.testing import Pause, blocked_or_done, in_thread, joined, small_org

Q1_START, Q1_END = dt.date(2026, 1, 1), dt.date(2026, 3, 31)


def make_target(o, *, actor=None, name="Q1 exports", **changes):  # type: ignore[no-untyped-def]
    values = {
        "name": name,
        "measure_quantity": 10_000,
        "measure_unit": "units",
        "period_start": Q1_START,
        "period_end": Q1_END,
        "owner_position": o.export_head,
        "now": T0,
        **changes,
    }
    return target_services.create_target(
        o.organisation, actor=actor or o.admin, **values
    )


@pytest.fixture
def pack(crew):  # type: ignore[no-untyped-def]
    """One step (pack, one working day) for the export head (Rina), who owns the
    procedure."""
    o = crew.o
    return build_version(o, [StepSpec("pack", o.export_head, o.export_head)])


def start_run(version, actor, *, unit="units", target=None, quantity=500):  # type: ignore[no-untyped-def]
    return services.start_run(
        version,
        actor=actor,
        title="Ship to Kota A",
        measure_quantity=quantity,
        measure_unit=unit,
        due_at=T0 + dt.timedelta(days=14),
        target=target,
        now=T0,
    )


def errors_of(info: pytest.ExceptionInfo[ValidationFailed]) -> dict[str, list[str]]:
    return info.value.errors


# --- creating ---------------------------------------------------------------------


def test_an_administrator_sets_a_target_and_it_is_audited(crew, audit_trail):
    o = crew.o
    trail = audit_trail(o.organisation)

    target = target_services.create_target(
        o.organisation,
        actor=o.admin,
        name="  Q1 exports ",
        measure_quantity="10000.5",
        measure_unit=" units ",
        period_start=Q1_START,
        period_end=Q1_END,
        owner_position=o.export_head,
        party=o.export,
        description=" Everything shipped abroad ",
        now=T0,
    )

    target.refresh_from_db()
    assert (target.name, target.measure_unit, target.description) == (
        "Q1 exports",
        "units",
        "Everything shipped abroad",
    )
    assert target.measure_quantity == Decimal("10000.50")
    assert (target.period_start, target.period_end) == (Q1_START, Q1_END)
    assert (target.owner_position_id, target.party_id, target.parent_id) == (
        o.export_head.pk,
        o.export.pk,
        None,
    )
    assert target.is_active is True
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.CREATED,
        "chains.target",
        str(target.pk),
    )
    assert event.changes == {
        "name": "Q1 exports",
        "description": "Everything shipped abroad",
        "measure_quantity": "10000.5",
        "measure_unit": "units",
        "period_start": "2026-01-01",
        "period_end": "2026-03-31",
        "owner_position": o.export_head.pk,
        "parent": None,
        "party": o.export.pk,
        "is_active": True,
    }


def test_a_member_sets_targets_owned_by_a_position_they_hold_or_under_theirs(crew):
    o = crew.o
    # Rina (a member) holds the head of export position.
    own = make_target(o, actor=o.member)
    assert own.owner_position_id == o.export_head.pk
    # Under a target she manages, she may hand a sub-target to another position.
    child = make_target(
        o, actor=o.member, name="Kota A", parent=own, owner_position=o.export_staff
    )
    assert (child.parent_id, child.owner_position_id) == (own.pk, o.export_staff.pk)


def test_who_may_not_set_a_target(crew, other_org, audit_trail):
    o = crew.o
    trail = audit_trail(o.organisation)
    parent = make_target(o)
    trail = audit_trail(o.organisation)

    # Dewi holds no position; Dina holds the clerk position, not the owner's.
    for user in (crew.dewi, crew.dina):
        with pytest.raises(PermissionDenied) as info:
            make_target(o, actor=user, name="Mine")
        assert info.value.message == (
            "Only administrators and the holders of the owner position (or of the "
            "parent target's owner position) can set this target."
        )
    with pytest.raises(PermissionDenied):
        make_target(o, actor=crew.dina, name="Mine", parent=parent)
    for user in (o.auditor, o.partner):
        with pytest.raises(PermissionDenied):
            make_target(o, actor=user, name="Mine")
    with pytest.raises(NotFound):
        make_target(o, actor=other_org.admin, name="Mine")
    assert list(Target.objects.values_list("name", flat=True)) == ["Q1 exports"]
    trail.assert_nothing_new()


def test_may_create_target_answers_like_the_service(crew):
    o = crew.o
    organisation = o.organisation
    assert target_services.may_create_target(o.admin, organisation, now=T0)
    assert target_services.may_create_target(
        access_for(o.member, "acme"), organisation, now=T0
    )
    assert target_services.may_create_target(
        o.member, organisation, owner_position=o.export_head, now=T0
    )
    assert not target_services.may_create_target(
        o.member, organisation, owner_position=o.director, now=T0
    )
    assert not target_services.may_create_target(crew.dewi, organisation, now=T0)
    assert not target_services.may_create_target(o.auditor, organisation, now=T0)
    assert not target_services.may_create_target(o.partner, organisation, now=T0)
    assert not target_services.may_create_target(None, organisation, now=T0)


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"measure_quantity": 0},
            {"measure_quantity": ["The target quantity must be more than zero."]},
        ),
        (
            {"measure_quantity": "-5"},
            {"measure_quantity": ["The target quantity must be more than zero."]},
        ),
        ({"measure_quantity": "many"}, {"measure_quantity": ["Enter a number."]}),
        ({"measure_quantity": "NaN"}, {"measure_quantity": ["Enter a number."]}),
        ({"name": "  "}, {"name": ["This field is required."]}),
        ({"measure_unit": ""}, {"measure_unit": ["This field is required."]}),
        (
            {"period_end": dt.date(2025, 12, 31)},
            {"period_end": ["The period cannot end before it starts."]},
        ),
        ({"period_start": "1 January"}, {"period_start": ["Enter a valid date."]}),
        (
            {"period_end": dt.datetime(2026, 3, 31, tzinfo=dt.UTC)},
            {"period_end": ["Enter a date without a time."]},
        ),
    ],
)
def test_values_are_checked(crew, audit_trail, changes, errors):
    o = crew.o
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as info:
        make_target(o, **changes)

    assert errors_of(info) == errors
    assert not Target.objects.exists()
    trail.assert_nothing_new()


def test_every_error_is_reported_at_once(crew):
    o = crew.o
    with pytest.raises(ValidationFailed) as info:
        make_target(o, name="", measure_quantity=0, period_end=dt.date(2025, 1, 1))
    assert errors_of(info) == {
        "name": ["This field is required."],
        "measure_quantity": ["The target quantity must be more than zero."],
        "period_end": ["The period cannot end before it starts."],
    }


def test_everything_belongs_to_the_organisation(crew, other_org):
    o, g = crew.o, other_org
    theirs = make_target(g, name="Theirs")
    with pytest.raises(ValidationFailed) as info:
        make_target(o, owner_position=g.export_head)
    # An administrator: the owner position's check is the rule's, not the right's.
    assert errors_of(info) == {
        "owner_position": ["This belongs to another organisation."]
    }
    with pytest.raises(ValidationFailed) as info:
        make_target(o, party=g.export)
    assert errors_of(info) == {"party": ["This belongs to another organisation."]}
    with pytest.raises(ValidationFailed) as info:
        make_target(o, parent=theirs)
    assert errors_of(info) == {"parent": ["This belongs to another organisation."]}
    assert list(Target.objects.values_list("name", flat=True)) == ["Theirs"]


def test_deactivated_positions_and_parties_cannot_be_given(crew):
    o = crew.o
    vacant = org.create_position(
        o.organisation, actor=o.admin, party=o.export, title="Vacant", code="VAC"
    )
    org.deactivate_position(vacant, actor=o.admin, expected_version=None)
    closed = org.create_party(
        o.organisation, actor=o.admin, kind="internal_unit", name="Closed", code="CL"
    )
    org.deactivate_party(closed, actor=o.admin, expected_version=None)

    with pytest.raises(ValidationFailed) as info:
        make_target(o, owner_position=vacant, party=closed)
    assert errors_of(info) == {
        "owner_position": ["The position is deactivated."],
        "party": ["The party is deactivated."],
    }


def test_a_parent_is_active_and_of_the_same_unit(crew):
    o = crew.o
    parent = make_target(o, name="All exports")

    # Units compare trimmed and case-insensitively.
    child = make_target(o, name="Kota A", parent=parent, measure_unit=" Units")
    assert child.parent_id == parent.pk
    with pytest.raises(ValidationFailed) as info:
        make_target(o, name="Kota B", parent=parent, measure_unit="tonnes")
    assert errors_of(info) == {
        "parent": [
            "The parent target is counted in units, this one in tonnes: a target "
            "can only be part of a target of the same unit."
        ]
    }
    target_services.deactivate_target(
        child, actor=o.admin, expected_version=None, now=T0
    )
    with pytest.raises(ValidationFailed) as info:
        make_target(o, name="Kota C", parent=child)
    assert errors_of(info) == {"parent": ["The parent target is deactivated."]}
    assert Target.objects.count() == 2


def test_a_name_is_used_once_per_period_start(crew):
    o = crew.o
    make_target(o)
    with pytest.raises(ValidationFailed) as info:
        make_target(o)
    assert errors_of(info) == {
        "__all__": ["Another target with this name starts on the same day."]
    }
    make_target(o, period_start=dt.date(2026, 2, 1))
    assert Target.objects.count() == 2


# --- changing ---------------------------------------------------------------------


def test_the_owner_changes_a_target_by_compare_and_set(crew, audit_trail):
    o = crew.o
    target = make_target(o)
    trail = audit_trail(o.organisation)

    target_services.update_target(
        target,
        actor=o.member,
        expected_version=target.version,
        measure_quantity="12000",
        name="Q1 exports (revised)",
        period_end=dt.date(2026, 4, 30),
        now=T0,
    )

    target.refresh_from_db()
    assert (target.name, target.measure_quantity, target.period_end) == (
        "Q1 exports (revised)",
        Decimal("12000.00"),
        dt.date(2026, 4, 30),
    )
    event = trail.only_new_event()
    assert event.verb == AuditVerb.UPDATED
    assert event.changes == {
        "measure_quantity": ["10000", "12000"],
        "name": ["Q1 exports", "Q1 exports (revised)"],
        "period_end": ["2026-03-31", "2026-04-30"],
    }


def test_a_stale_version_conflicts_and_changes_nothing(crew, audit_trail):
    o = crew.o
    target = make_target(o)
    stale = target.version
    target_services.update_target(
        target, actor=o.admin, expected_version=stale, name="Renamed", now=T0
    )
    trail = audit_trail(o.organisation)

    with pytest.raises(Conflict):
        target_services.update_target(
            target, actor=o.admin, expected_version=stale, measure_quantity=5, now=T0
        )
    target.refresh_from_db()
    assert (target.name, target.measure_quantity) == ("Renamed", Decimal("10000.00"))
    trail.assert_nothing_new()


def test_only_administrators_and_owner_holders_change_a_target(crew, audit_trail):
    o = crew.o
    target = make_target(o)
    trail = audit_trail(o.organisation)

    for user in (crew.dina, crew.dewi, o.auditor):
        with pytest.raises(PermissionDenied) as info:
            target_services.update_target(
                target, actor=user, expected_version=None, name="Mine", now=T0
            )
        assert info.value.message == (
            "Only administrators and the holders of the target's owner position can "
            "change it."
        )
        with pytest.raises(PermissionDenied):
            target_services.deactivate_target(
                target, actor=user, expected_version=None, now=T0
            )
    target.refresh_from_db()
    assert (target.name, target.is_active) == ("Q1 exports", True)
    trail.assert_nothing_new()


def test_may_manage_target(crew, other_org):
    o = crew.o
    target = make_target(o)
    partners = make_target(
        o, name="Forwarding", owner_position=o.forwarder_ops, party=o.forwarder
    )
    organisation_wide = make_target(o, name="Pickups", owner_position=o.forwarder_ops)

    assert target_services.may_manage_target(o.admin, target, now=T0)
    assert target_services.may_manage_target(o.member, target, now=T0)
    assert target_services.may_manage_target(
        access_for(o.member, "acme"), target, now=T0
    )
    for user in (crew.dina, crew.dewi, o.auditor, o.partner, other_org.admin, None):
        assert not target_services.may_manage_target(user, target, now=T0)
    # Joko (the partner) holds the forwarder position: he manages the target his
    # party sets, not one of the organisation's owned by the same position.
    assert target_services.may_manage_target(o.partner, partners, now=T0)
    assert not target_services.may_manage_target(o.partner, organisation_wide, now=T0)
    # A holding that has not started yet does not count.
    assert not target_services.may_manage_target(
        o.member, target, now=dt.datetime(2025, 6, 1, tzinfo=dt.UTC)
    )


def test_a_partner_keeps_its_targets_set_by_its_own_party(crew, audit_trail):
    """Joko manages the target his party sets, but may not make it the whole
    organisation's or another party's: that would set a target for them."""
    o = crew.o
    target = make_target(
        o, name="Forwarding", owner_position=o.forwarder_ops, party=o.forwarder
    )
    trail = audit_trail(o.organisation)

    for party in (None, o.warehouse):
        with pytest.raises(ValidationFailed) as info:
            target_services.update_target(
                target,
                actor=o.partner,
                expected_version=None,
                name="Ours now",
                party=party,
                now=T0,
            )
        assert errors_of(info) == {
            "party": [
                "A partner's targets stay set by its own party: keep “Fast Forwarding”."
            ]
        }
    target.refresh_from_db()
    assert (target.name, target.party_id, target.version) == (
        "Forwarding",
        o.forwarder.pk,
        1,
    )
    trail.assert_nothing_new()

    target_services.update_target(
        target,
        actor=o.partner,
        expected_version=1,
        name="Forwarding Q1",
        party=o.forwarder,
        now=T0,
    )
    target.refresh_from_db()
    assert (target.name, target.party_id, target.version) == (
        "Forwarding Q1",
        o.forwarder.pk,
        2,
    )
    # An administrator may still hand it to the whole organisation.
    target_services.update_target(
        target, actor=o.admin, expected_version=2, party=None, now=T0
    )
    target.refresh_from_db()
    assert target.party_id is None


def test_fields_outside_the_list_cannot_be_changed(crew):
    o = crew.o
    target = make_target(o)
    with pytest.raises(ValidationFailed) as info:
        target_services.update_target(
            target, actor=o.admin, expected_version=None, is_active=False, now=T0
        )
    assert errors_of(info) == {"is_active": ["This field cannot be changed here."]}


def test_a_target_cannot_be_part_of_itself_or_of_its_sub_targets(crew, audit_trail):
    o = crew.o
    top = make_target(o, name="Indonesia")
    middle = make_target(o, name="Java", parent=top)
    bottom = make_target(o, name="Jakarta", parent=middle)
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as info:
        target_services.update_target(
            top, actor=o.admin, expected_version=None, parent=top, now=T0
        )
    assert errors_of(info) == {"parent": ["A target cannot be part of itself."]}
    with pytest.raises(ValidationFailed) as info:
        target_services.update_target(
            top, actor=o.admin, expected_version=None, parent=bottom, now=T0
        )
    assert errors_of(info) == {
        "parent": [
            "“Jakarta” is one of this target's sub-targets: a target cannot be part "
            "of its own sub-target."
        ]
    }
    trail.assert_nothing_new()

    # Moving a branch elsewhere is fine, and audited.
    target_services.update_target(
        bottom, actor=o.admin, expected_version=None, parent=top, now=T0
    )
    assert trail.only_new_event().changes == {"parent": [middle.pk, top.pk]}
    bottom.refresh_from_db()
    assert bottom.parent_id == top.pk


def test_a_new_unit_must_fit_its_parent_sub_targets_and_runs(crew, pack):
    o = crew.o
    top = make_target(o, name="Indonesia")
    child = make_target(o, name="Java", parent=top)
    start_run(pack, o.member, target=top)

    with pytest.raises(ValidationFailed) as info:
        target_services.update_target(
            top, actor=o.admin, expected_version=None, measure_unit="tonnes", now=T0
        )
    assert errors_of(info) == {
        "measure_unit": [
            "1 sub-target is counted in units: move it to another target first.",
            "1 run counting toward this target is counted in units: point it at "
            "another target first.",
        ]
    }
    with pytest.raises(ValidationFailed) as info:
        target_services.update_target(
            child, actor=o.admin, expected_version=None, measure_unit="tonnes", now=T0
        )
    assert errors_of(info) == {
        "measure_unit": [
            "The parent target is counted in units: a target can only be part of a "
            "target of the same unit."
        ]
    }
    # A change of spelling only is the same unit.
    target_services.update_target(
        top, actor=o.admin, expected_version=None, measure_unit="Units", now=T0
    )
    top.refresh_from_db()
    assert top.measure_unit == "Units"


# --- deactivating -----------------------------------------------------------------


def test_deactivating_and_reactivating(crew, pack, audit_trail):
    o = crew.o
    parent = make_target(o, name="Indonesia")
    child = make_target(o, name="Java", parent=parent)
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as info:
        target_services.deactivate_target(
            parent, actor=o.admin, expected_version=None, now=T0
        )
    assert info.value.message == "Deactivate or move its active sub-target first."
    trail.assert_nothing_new()

    target_services.deactivate_target(
        child, actor=o.member, expected_version=child.version, now=T0
    )
    target_services.deactivate_target(
        parent, actor=o.admin, expected_version=None, now=T0
    )
    assert [(e.verb, e.target_id, e.changes) for e in trail.new_events()] == [
        (AuditVerb.DEACTIVATED, str(child.pk), {"is_active": [True, False]}),
        (AuditVerb.DEACTIVATED, str(parent.pk), {"is_active": [True, False]}),
    ]
    # An inactive target takes no new runs.
    with pytest.raises(ValidationFailed) as info:
        start_run(pack, o.member, target=child)
    assert errors_of(info) == {
        "target": ["The target “Java” is deactivated: it takes no new runs."]
    }
    assert not Run.objects.exists()

    trail = audit_trail(o.organisation)
    with pytest.raises(ValidationFailed) as info:
        target_services.reactivate_target(
            child, actor=o.admin, expected_version=None, now=T0
        )
    assert errors_of(info) == {"parent": ["Reactivate the parent target first."]}
    trail.assert_nothing_new()
    target_services.reactivate_target(
        parent, actor=o.admin, expected_version=None, now=T0
    )
    target_services.reactivate_target(
        child, actor=o.admin, expected_version=None, now=T0
    )
    assert [e.verb for e in trail.new_events()] == [
        AuditVerb.REACTIVATED,
        AuditVerb.REACTIVATED,
    ]
    assert start_run(pack, o.member, target=child).target_id == child.pk


def test_deactivating_with_a_stale_version_conflicts(crew):
    o = crew.o
    target = make_target(o)
    stale = target.version
    target_services.update_target(
        target, actor=o.admin, expected_version=stale, name="Renamed", now=T0
    )
    with pytest.raises(Conflict):
        target_services.deactivate_target(
            target, actor=o.admin, expected_version=stale, now=T0
        )
    target.refresh_from_db()
    assert target.is_active is True


# --- runs -------------------------------------------------------------------------


def test_a_run_started_toward_a_target(crew, pack, audit_trail):
    o = crew.o
    target = make_target(o)
    trail = audit_trail(o.organisation)

    run = start_run(pack, o.member, target=target, unit=" UNITS ")

    run.refresh_from_db()
    assert run.target_id == target.pk
    event = trail.only_new_event()
    assert event.verb == AuditVerb.STARTED
    assert event.changes["target"] == target.pk
    assert event.changes["measure"] == ["500", "UNITS"]


def test_a_run_counts_only_toward_an_active_target_of_its_unit(
    crew, pack, other_org, audit_trail
):
    o = crew.o
    target = make_target(o)
    theirs = make_target(other_org, name="Theirs")
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as info:
        start_run(pack, o.member, target=target, unit="tonnes")
    assert errors_of(info) == {
        "target": [
            "The target “Q1 exports” is counted in units and this run in tonnes: a "
            "run counts only toward a target of its own unit."
        ]
    }
    with pytest.raises(ValidationFailed) as info:
        start_run(pack, o.member, target=theirs)
    assert errors_of(info) == {"target": ["This belongs to another organisation."]}
    assert not Run.objects.filter(organisation=o.organisation).exists()
    assert not Task.objects.exists()
    trail.assert_nothing_new()


def test_a_target_costs_start_run_one_statement_and_none_without(crew, pack):
    o = crew.o
    target = make_target(o)
    start_run(pack, o.member)  # warm the caches (calendar, statements)

    with CaptureQueriesContext(connection) as without:
        start_run(pack, o.member)
    with CaptureQueriesContext(connection) as toward:
        start_run(pack, o.member, target=target)

    assert len(toward) == len(without) + 1
    assert not any("chains_target" in q["sql"] for q in without.captured_queries)


def test_the_process_owner_points_a_run_at_a_target(crew, pack, audit_trail):
    o = crew.o
    first = make_target(o)
    second = make_target(o, name="Kota A", parent=first)
    run = start_run(pack, o.member)
    trail = audit_trail(o.organisation)

    # Rina holds the procedure's owner position.
    target_services.set_run_target(
        run, actor=o.member, expected_version=run.version, target=first, now=T0
    )
    target_services.set_run_target(
        run, actor=o.admin, expected_version=run.version, target=second, now=T0
    )
    target_services.set_run_target(
        run, actor=o.admin, expected_version=run.version, target=None, now=T0
    )

    run.refresh_from_db()
    assert run.target_id is None
    assert [(e.verb, e.target_id, e.changes) for e in trail.new_events()] == [
        (AuditVerb.UPDATED, str(run.pk), {"target": [None, first.pk]}),
        (AuditVerb.UPDATED, str(run.pk), {"target": [first.pk, second.pk]}),
        (AuditVerb.UPDATED, str(run.pk), {"target": [second.pk, None]}),
    ]


def test_who_may_not_point_a_run_at_a_target(crew, pack, other_org, audit_trail):
    o = crew.o
    target = make_target(o)
    run = start_run(pack, o.member)
    trail = audit_trail(o.organisation)

    for user in (crew.dina, crew.dewi, o.auditor, o.partner):
        with pytest.raises(PermissionDenied):
            target_services.set_run_target(
                run, actor=user, expected_version=None, target=target, now=T0
            )
        assert not target_services.may_set_run_target(user, run, now=T0)
    with pytest.raises(NotFound):
        target_services.set_run_target(
            run, actor=other_org.admin, expected_version=None, target=target, now=T0
        )
    assert target_services.may_set_run_target(o.member, run, now=T0)
    assert target_services.may_set_run_target(access_for(o.admin, "acme"), run)
    run.refresh_from_db()
    assert run.target_id is None
    trail.assert_nothing_new()


def test_a_run_target_is_checked_and_compare_and_set(crew, pack, audit_trail):
    o = crew.o
    target = make_target(o)
    tonnes = make_target(o, name="Tonnage", measure_unit="tonnes")
    retired = make_target(o, name="Retired")
    target_services.deactivate_target(
        retired, actor=o.admin, expected_version=None, now=T0
    )
    run = start_run(pack, o.member)
    stale = run.version
    target_services.set_run_target(
        run, actor=o.admin, expected_version=stale, target=target, now=T0
    )
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as info:
        target_services.set_run_target(
            run, actor=o.admin, expected_version=None, target=tonnes, now=T0
        )
    assert errors_of(info) == {
        "target": [
            "The target “Tonnage” is counted in tonnes and this run in units: a run "
            "counts only toward a target of its own unit."
        ]
    }
    with pytest.raises(ValidationFailed) as info:
        target_services.set_run_target(
            run, actor=o.admin, expected_version=None, target=retired, now=T0
        )
    assert errors_of(info) == {
        "target": ["The target “Retired” is deactivated: it takes no new runs."]
    }
    with pytest.raises(Conflict):
        target_services.set_run_target(
            run, actor=o.admin, expected_version=stale, target=None, now=T0
        )
    with pytest.raises(Conflict):
        # Unchanged, but from a stale copy: still a conflict.
        target_services.set_run_target(
            run, actor=o.admin, expected_version=stale, target=target, now=T0
        )
    run.refresh_from_db()
    assert run.target_id == target.pk
    trail.assert_nothing_new()


def test_a_completed_run_may_be_re_pointed(crew, pack):
    o = crew.o
    first = make_target(o)
    second = make_target(o, name="Kota A")
    run = start_run(pack, o.member, target=first)
    task = Task.objects.get(run=run)
    services.complete_task(
        task, actor=o.member, expected_version=None, now=T0 + dt.timedelta(hours=2)
    )
    run.refresh_from_db()
    assert run.status == "completed"

    target_services.set_run_target(
        run, actor=o.member, expected_version=run.version, target=second, now=T0
    )
    run.refresh_from_db()
    assert run.target_id == second.pk


# --- under real concurrency (PostgreSQL) --------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: real threads share the test database only there "
    "(the SQLite test database is in memory, one per connection)",
)
@pytest.mark.django_db(transaction=True)
def test_a_run_started_while_the_unit_changes_never_counts_in_another_unit(
    monkeypatch,
):
    """A run is being started toward the target (its check done, its transaction
    still open) when the owner changes the target's unit: the change waits for the
    run and is then refused, since a run counts in the old unit."""
    o = small_org("acme")
    version = build_version(o, [StepSpec("pack", o.export_head, o.export_head)])
    target = make_target(o)
    pause = Pause("starter")
    monkeypatch.setattr(
        services, "_check_run_target", pause.after(services._check_run_target)
    )

    starter, started = in_thread(
        "starter", lambda: start_run(version, o.member, target=target)
    )
    assert pause.reached.wait(timeout=120)
    changer, changed = in_thread(
        "changer",
        lambda: target_services.update_target(
            Target.objects.get(pk=target.pk),
            actor=o.admin,
            expected_version=None,
            measure_unit="tonnes",
            now=T0,
        ),
    )
    assert blocked_or_done(changer)
    pause.release.set()
    joined(starter, changer)

    assert "error" not in started, started
    assert isinstance(changed.get("error"), ValidationFailed), changed
    assert changed["error"].errors == {
        "measure_unit": [
            "1 run counting toward this target is counted in units: point it at "
            "another target first."
        ]
    }
    target.refresh_from_db()
    assert (target.measure_unit, target.version) == ("units", 1)
    assert Run.objects.get(target=target).measure_unit == "units"
