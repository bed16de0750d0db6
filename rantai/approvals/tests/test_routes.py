"""Approval routes in versions: who may change them, how a draft's stages and
conditions are checked, that a published version is frozen, that a new draft copies
the published one and publishing replaces it, and which route a subject matches."""

from __future__ import annotations

import datetime as dt
import threading
from collections.abc import Callable, Iterator
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection, models

from rantai.accounts.models import Role, User
from rantai.approvals import routes, subjects
from rantai.approvals.models import (
    ApproverRule,
    Route,
    RouteCondition,
    RouteStage,
    RouteVersion,
    StageMode,
    SubjectKind,
    TimeoutAction,
)
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains.models import VersionStatus
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.org import extensions as org_extensions
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Holding, Person
from rantai.testing import SmallOrg, make_user

DEVIATION = SubjectKind.DEVIATION
DUE_DATE = SubjectKind.DUE_DATE_CHANGE


def _unused(*args: Any) -> Any:
    raise AssertionError("not used by routes")


def test_adapter(kind: str, fields: dict[str, str]) -> subjects.Adapter:
    return subjects.Adapter(
        kind=kind,
        load=_unused,
        organisation_id=_unused,
        run_id=_unused,
        title=_unused,
        fields=_unused,
        version=_unused,
        accountable_position_id=_unused,
        on_approved=_unused,
        on_rejected=_unused,
        field_names=lambda: dict(fields),
    )


test_adapter.__test__ = False  # type: ignore[attr-defined]


@pytest.fixture(autouse=True)
def adapters() -> Iterator[None]:
    """Known fields for two kinds, none for workload analysis; no org handlers."""
    with (
        subjects.isolated_adapters(
            test_adapter(
                DEVIATION, {"procedure": "Procedure", "kind": "Kind of deviation"}
            ),
            test_adapter(
                DUE_DATE,
                {
                    "procedure": "Procedure",
                    "days_later": "Days later",
                    "urgent": "Urgent",
                },
            ),
        ),
        org_extensions.isolated_registry(),
    ):
        subjects._adapters.pop(SubjectKind.WORKLOAD_ANALYSIS, None)
        yield


@pytest.fixture
def dewi(acme: SmallOrg) -> User:
    """A member holding no position."""
    user = make_user("dewi")
    membership.add_member(
        acme.organisation, actor=acme.admin, user=user, role=Role.MEMBER
    )
    org.create_person(acme.organisation, actor=acme.admin, full_name="Dewi", user=user)
    return user


def row(instance: models.Model) -> dict[str, Any]:
    return type(instance)._default_manager.filter(pk=instance.pk).values().get()


def fresh(instance: Any) -> Any:
    return type(instance)._default_manager.get(pk=instance.pk)


def new_route(o: SmallOrg, code: str = "DEV", **overrides: Any) -> Route:
    values: dict[str, Any] = {
        "code": code,
        "name": f"Route {code}",
        "subject_kind": DEVIATION,
        "owner_position": o.export_head,
    }
    values.update(overrides)
    return routes.create_route(o.organisation, actor=o.admin, **values)


def draft(route: Route) -> RouteVersion:
    version = routes.draft_of(route)
    assert version is not None
    return version


def superior_stage(
    o: SmallOrg, version: RouteVersion, name: str = "Superior"
) -> RouteStage:
    return routes.add_stage(
        version, actor=o.admin, name=name, rule=ApproverRule.SUPERIOR
    )


def published(o: SmallOrg, code: str = "DEV", **overrides: Any) -> RouteVersion:
    """A route whose version 1 (one superior stage) is published."""
    route = new_route(o, code, **overrides)
    version = draft(route)
    superior_stage(o, version)
    return routes.publish(version, actor=o.admin, expected_version=version.version)


def orders(version: RouteVersion) -> list[tuple[str, int]]:
    return [(stage.name, stage.order) for stage in routes.stages_of(version)]


# --- routes -----------------------------------------------------------------------


def test_creating_a_route_makes_its_draft_version_one(
    acme: SmallOrg, audit_trail
) -> None:  # type: ignore[no-untyped-def]
    trail = audit_trail(acme.organisation)

    route = routes.create_route(
        acme.organisation,
        actor=acme.admin,
        code=" DEV-EXP ",
        name=" Export deviations ",
        subject_kind=DEVIATION,
        priority=10,
        owner_position=acme.export_head,
        description="Skips and new steps in export procedures",
    )

    assert (route.code, route.name, route.priority, route.is_active) == (
        "DEV-EXP",
        "Export deviations",
        10,
        True,
    )
    assert [(v.number, v.status) for v in routes.versions_of(route)] == [
        (1, VersionStatus.DRAFT)
    ]
    version = draft(route)
    assert version.organisation == acme.organisation
    created = trail.new_events()
    assert [(e.verb, e.target_type) for e in created] == [
        (AuditVerb.CREATED, "approvals.route"),
        (AuditVerb.CREATED, "approvals.routeversion"),
    ]
    assert created[0].changes == {
        "code": "DEV-EXP",
        "name": "Export deviations",
        "subject_kind": "deviation",
        "priority": 10,
        "owner_position": acme.export_head.pk,
        "description": "Skips and new steps in export procedures",
    }
    assert created[1].changes == {"route": route.pk, "number": 1}


def test_a_member_creates_a_route_owned_by_a_position_they_hold(acme: SmallOrg) -> None:
    route = routes.create_route(
        acme.organisation,
        actor=acme.member,  # Rina, head of export
        code="DEV",
        name="Deviations",
        subject_kind=DEVIATION,
        owner_position=acme.export_head,
    )
    assert route.owner_position == acme.export_head


@pytest.mark.parametrize(
    ("who", "owner"),
    [
        ("member", "director"),
        ("member", None),
        ("dewi", "export_head"),
        ("auditor", None),
    ],
)
def test_others_may_not_create_routes(
    acme: SmallOrg,
    dewi: User,
    audit_trail,  # type: ignore[no-untyped-def]
    who: str,
    owner: str | None,
) -> None:
    actor = {"member": acme.member, "dewi": dewi, "auditor": acme.auditor}[who]
    trail = audit_trail(acme.organisation)
    with pytest.raises(PermissionDenied):
        routes.create_route(
            acme.organisation,
            actor=actor,
            code="DEV",
            name="Deviations",
            subject_kind=DEVIATION,
            owner_position=getattr(acme, owner) if owner else None,
        )
    assert not Route.objects.exists()
    trail.assert_nothing_new()


def test_outsiders_and_partners_learn_nothing(
    acme: SmallOrg, other_org: SmallOrg
) -> None:
    route = new_route(acme)
    with pytest.raises(NotFound):
        routes.create_route(
            acme.organisation,
            actor=other_org.admin,
            code="X",
            name="X",
            subject_kind=DEVIATION,
        )
    with pytest.raises(NotFound):
        routes.add_stage(
            draft(route), actor=other_org.admin, name="S", rule=ApproverRule.SUPERIOR
        )
    with pytest.raises(PermissionDenied):
        routes.add_stage(
            draft(route), actor=acme.partner, name="S", rule=ApproverRule.SUPERIOR
        )


@pytest.mark.parametrize(
    ("overrides", "errors"),
    [
        ({"code": "DEV"}, {"code": ["Another route already uses this code."]}),
        ({"code": "  "}, {"code": ["This field cannot be blank."]}),
        ({"name": ""}, {"name": ["This field cannot be blank."]}),
        (
            {"subject_kind": "invoice"},
            {"subject_kind": ["Value 'invoice' is not a valid choice."]},
        ),
        (
            {"priority": -1},
            {"priority": ["Ensure this value is greater than or equal to 0."]},
        ),
        (
            {"owner_position": "deactivated"},
            {"owner_position": ["The position is deactivated."]},
        ),
        (
            {"owner_position": "other_org"},
            {"owner_position": ["This belongs to another organisation."]},
        ),
    ],
    ids=[
        "duplicate-code",
        "blank-code",
        "blank-name",
        "kind",
        "priority",
        "inactive",
        "foreign",
    ],
)
def test_a_route_needs_valid_settings(
    acme: SmallOrg,
    other_org: SmallOrg,
    audit_trail,  # type: ignore[no-untyped-def]
    overrides: dict[str, Any],
    errors: dict[str, list[str]],
) -> None:
    new_route(acme, "DEV")
    if overrides.get("owner_position") == "deactivated":
        spare = org.create_position(
            acme.organisation, actor=acme.admin, party=acme.export, title="S", code="S"
        )
        org.deactivate_position(spare, actor=acme.admin, expected_version=1)
        overrides["owner_position"] = spare
    if overrides.get("owner_position") == "other_org":
        overrides["owner_position"] = other_org.export_head
    values = {"code": "NEW", "name": "New", "subject_kind": DEVIATION, **overrides}
    trail = audit_trail(acme.organisation)
    with pytest.raises(ValidationFailed) as refused:
        routes.create_route(acme.organisation, actor=acme.admin, **values)
    assert refused.value.errors == errors
    assert Route.objects.count() == 1
    trail.assert_nothing_new()


def test_updating_a_route(acme: SmallOrg, audit_trail) -> None:  # type: ignore[no-untyped-def]
    route = new_route(acme)
    trail = audit_trail(acme.organisation)

    routes.update_route(
        route, actor=acme.member, expected_version=1, priority=5, name=" Deviations "
    )

    assert (fresh(route).priority, fresh(route).name, fresh(route).version) == (
        5,
        "Deviations",
        2,
    )
    event = trail.only_new_event()
    assert event.verb == AuditVerb.UPDATED
    assert event.changes == {"priority": [100, 5], "name": ["Route DEV", "Deviations"]}

    with pytest.raises(Conflict):
        routes.update_route(route, actor=acme.admin, expected_version=1, priority=7)
    with pytest.raises(ValidationFailed) as refused:
        routes.update_route(
            route, actor=acme.admin, expected_version=2, subject_kind=DUE_DATE
        )
    assert refused.value.errors == {
        "subject_kind": ["This field cannot be changed here."]
    }
    new_route(acme, "OTHER")
    with pytest.raises(ValidationFailed) as taken:
        routes.update_route(route, actor=acme.admin, expected_version=2, code="OTHER")
    assert taken.value.errors == {"code": ["Another route already uses this code."]}
    assert fresh(route).priority == 5


def test_only_holders_of_the_owner_position_and_administrators_edit_a_route(
    acme: SmallOrg, dewi: User
) -> None:
    route = new_route(acme)
    version = draft(route)
    routes.add_stage(
        version, actor=acme.member, name="By Rina", rule=ApproverRule.SUPERIOR
    )
    with pytest.raises(PermissionDenied) as refused:
        routes.add_stage(
            version, actor=dewi, name="By Dewi", rule=ApproverRule.SUPERIOR
        )
    assert refused.value.message == (
        "Only administrators and holders of the route's owner position can change it."
    )
    assert routes.may_edit(route, acme.member)
    assert not routes.may_edit(route, dewi)
    assert not routes.may_edit(route, acme.auditor)

    # When Rina no longer holds the position, she may no longer edit.
    holding = Holding.objects.get(person=acme.rina, position=acme.export_head)
    org.end_holding(
        holding, actor=acme.admin, expected_version=1, end_date=dt.date(2026, 1, 1)
    )
    org.update_holding(
        holding,
        actor=acme.admin,
        expected_version=2,
        start_date=dt.date(2025, 1, 1),
        end_date=dt.date(2025, 12, 31),
    )
    with pytest.raises(PermissionDenied):
        routes.add_stage(
            version, actor=acme.member, name="Late", rule=ApproverRule.SUPERIOR
        )
    assert orders(version) == [("By Rina", 1)]


# --- stages -----------------------------------------------------------------------


def test_stages_are_appended_in_order_and_audited(acme: SmallOrg, audit_trail) -> None:  # type: ignore[no-untyped-def]
    version = draft(new_route(acme))
    trail = audit_trail(acme.organisation)

    first = superior_stage(acme, version, "Superior")
    second = routes.add_stage(
        version,
        actor=acme.admin,
        name=" Head of export ",
        rule=ApproverRule.POSITION,
        position=acme.export_head,
        mode=StageMode.ALL,
        time_limit_hours=8,
        on_timeout=TimeoutAction.ESCALATE,
    )
    third = routes.add_stage(
        version,
        actor=acme.admin,
        name="Unit head",
        rule=ApproverRule.UNIT_HEAD,
        party=acme.export,
        mode=StageMode.QUORUM,
        quorum=2,
    )
    fourth = routes.add_stage(
        version,
        actor=acme.admin,
        name="Rina",
        rule=ApproverRule.PERSON,
        person=acme.rina,
    )
    fifth = routes.add_stage(
        version,
        actor=acme.admin,
        name="Two up",
        rule=ApproverRule.SUPERIOR,
        levels=2,
    )

    assert [s.order for s in (first, second, third, fourth, fifth)] == [1, 2, 3, 4, 5]
    assert (second.name, second.mode, second.time_limit_hours, second.on_timeout) == (
        "Head of export",
        StageMode.ALL,
        8,
        TimeoutAction.ESCALATE,
    )
    assert third.quorum == 2 and fifth.levels == 2
    events = trail.new_events()
    assert [e.verb for e in events] == [AuditVerb.CREATED] * 5
    assert events[1].changes == {
        "route_version": version.pk,
        "order": 2,
        "name": "Head of export",
        "rule": "position",
        "levels": 1,
        "position": acme.export_head.pk,
        "party": None,
        "person": None,
        "mode": "all",
        "quorum": None,
        "time_limit_hours": 8,
        "on_timeout": "escalate",
    }


@pytest.mark.parametrize(
    ("values", "errors"),
    [
        (
            {"rule": ApproverRule.POSITION},
            {"position": ["Choose the position whose holders approve."]},
        ),
        (
            {"rule": ApproverRule.UNIT_HEAD},
            {"party": ["Choose the unit or party whose head approves."]},
        ),
        (
            {"rule": ApproverRule.PERSON},
            {"person": ["Choose the person who approves."]},
        ),
        (
            {"rule": ApproverRule.SUPERIOR, "position": "export_head"},
            {"position": ["A position is named only when its holders approve."]},
        ),
        (
            {"rule": ApproverRule.SUPERIOR, "party": "export"},
            {"party": ["A unit is named only when its head approves."]},
        ),
        (
            {"rule": ApproverRule.POSITION, "position": "forwarder_ops"},
            {"position": ["Choose a position of an internal unit."]},
        ),
        (
            {"rule": ApproverRule.UNIT_HEAD, "party": "forwarder"},
            {"party": ["Choose an internal unit."]},
        ),
        (
            {"rule": ApproverRule.POSITION, "position": "other_org"},
            {"position": ["This belongs to another organisation."]},
        ),
        (
            {"rule": ApproverRule.PERSON, "person": "gone"},
            {"person": ["The person is deactivated."]},
        ),
        ({"rule": "boss"}, {"rule": ["Choose who approves."]}),
        ({"name": "  "}, {"name": ["This field is required."]}),
        ({"levels": 0}, {"levels": ["Levels up must be at least 1."]}),
        (
            {"mode": StageMode.QUORUM},
            {"quorum": ["N of them needs the number of approvals (at least 1)."]},
        ),
        (
            {"mode": StageMode.QUORUM, "quorum": 0},
            {"quorum": ["N of them needs the number of approvals (at least 1)."]},
        ),
        (
            {"quorum": 2},
            {"quorum": ["The number of approvals is set only for “N of them”."]},
        ),
        (
            {
                "rule": ApproverRule.PERSON,
                "person": "rina",
                "mode": StageMode.QUORUM,
                "quorum": 2,
            },
            {"quorum": ["A named person can give only one approval."]},
        ),
        (
            {"mode": "most"},
            {"mode": ["Choose how many of the approvers must approve."]},
        ),
        (
            {"time_limit_hours": 0},
            {
                "time_limit_hours": [
                    "Enter a time limit of at least one working hour, or leave it empty."
                ]
            },
        ),
        (
            {"on_timeout": "panic"},
            {"on_timeout": ["Choose what happens when the time limit passes."]},
        ),
    ],
)
def test_a_stage_needs_what_its_rule_and_mode_use(
    acme: SmallOrg,
    other_org: SmallOrg,
    audit_trail,  # type: ignore[no-untyped-def]
    values: dict[str, Any],
    errors: dict[str, list[str]],
) -> None:
    version = draft(new_route(acme))
    gone = org.create_person(acme.organisation, actor=acme.admin, full_name="Gone")
    org.deactivate_person(gone, actor=acme.admin, expected_version=1)
    named = {
        "export_head": acme.export_head,
        "export": acme.export,
        "forwarder_ops": acme.forwarder_ops,
        "forwarder": acme.forwarder,
        "other_org": other_org.export_head,
        "gone": gone,
        "rina": acme.rina,
    }
    arguments: dict[str, Any] = {"name": "Stage", "rule": ApproverRule.SUPERIOR}
    arguments.update(
        {
            key: named.get(value, value) if isinstance(value, str) else value
            for key, value in values.items()
        }
    )
    trail = audit_trail(acme.organisation)
    with pytest.raises(ValidationFailed) as refused:
        routes.add_stage(version, actor=acme.admin, **arguments)
    assert refused.value.errors == errors
    assert not RouteStage.objects.exists()
    trail.assert_nothing_new()


def test_changing_a_stage_s_rule_clears_what_the_old_rule_named(
    acme: SmallOrg,
    audit_trail,  # type: ignore[no-untyped-def]
) -> None:
    version = draft(new_route(acme))
    stage = routes.add_stage(
        version,
        actor=acme.admin,
        name="Head",
        rule=ApproverRule.POSITION,
        position=acme.export_head,
        mode=StageMode.QUORUM,
        quorum=1,
    )
    trail = audit_trail(acme.organisation)

    routes.update_stage(
        stage,
        actor=acme.admin,
        expected_version=1,
        rule=ApproverRule.PERSON,
        person=acme.rina,
        mode=StageMode.ANY,
    )

    stored = fresh(stage)
    assert (
        stored.rule,
        stored.person,
        stored.position,
        stored.mode,
        stored.quorum,
    ) == (
        ApproverRule.PERSON,
        acme.rina,
        None,
        StageMode.ANY,
        None,
    )
    assert stored.version == 2
    assert trail.only_new_event().changes == {
        "rule": ["position", "person"],
        "person": [None, acme.rina.pk],
        "mode": ["quorum", "any"],
        "position": [acme.export_head.pk, None],
        "quorum": [1, None],
    }


def test_updating_a_stage_is_checked_and_compare_and_set(acme: SmallOrg) -> None:
    version = draft(new_route(acme))
    stage = superior_stage(acme, version)
    stale = fresh(stage)
    routes.update_stage(stage, actor=acme.admin, expected_version=1, name="Boss")

    with pytest.raises(Conflict):
        routes.update_stage(stale, actor=acme.admin, expected_version=1, levels=2)
    with pytest.raises(ValidationFailed) as refused:
        routes.update_stage(stage, actor=acme.admin, expected_version=2, order=3)
    assert refused.value.errors == {"order": ["This field cannot be changed here."]}
    with pytest.raises(ValidationFailed) as unused:
        routes.update_stage(
            stage, actor=acme.admin, expected_version=2, position=acme.director
        )
    assert unused.value.errors == {
        "position": ["A position is named only when its holders approve."]
    }
    assert (fresh(stage).name, fresh(stage).levels, fresh(stage).version) == (
        "Boss",
        1,
        2,
    )


def test_deleting_a_stage_keeps_the_orders_dense(acme: SmallOrg, audit_trail) -> None:  # type: ignore[no-untyped-def]
    version = draft(new_route(acme))
    a, b, c, d = (superior_stage(acme, version, name) for name in "ABCD")
    trail = audit_trail(acme.organisation)

    routes.delete_stage(b, actor=acme.admin, expected_version=1)

    assert orders(version) == [("A", 1), ("C", 2), ("D", 3)]
    assert not RouteStage.objects.filter(pk=b.pk).exists()
    # The stages that moved have a new row version; the one before did not move.
    assert [fresh(s).version for s in (a, c, d)] == [1, 2, 2]
    event = trail.only_new_event()
    assert (event.verb, event.target_id, event.changes) == (
        AuditVerb.DELETED,
        str(b.pk),
        {"route_version": version.pk, "order": 2},
    )

    with pytest.raises(Conflict):
        routes.delete_stage(c, actor=acme.admin, expected_version=1)
    routes.delete_stage(a, actor=acme.admin, expected_version=1)
    assert orders(version) == [("C", 1), ("D", 2)]


def test_moving_a_stage_shifts_the_others(acme: SmallOrg, audit_trail) -> None:  # type: ignore[no-untyped-def]
    version = draft(new_route(acme))
    a, b, _c, d = (superior_stage(acme, version, name) for name in "ABCD")
    trail = audit_trail(acme.organisation)

    moved = routes.move_stage(d, actor=acme.admin, expected_version=1, order=1)

    assert orders(version) == [("D", 1), ("A", 2), ("B", 3), ("C", 4)]
    assert (moved.order, moved.version) == (1, 2)
    event = trail.only_new_event()
    assert (event.verb, event.changes) == (AuditVerb.MOVED, {"order": [4, 1]})

    routes.move_stage(fresh(d), actor=acme.admin, expected_version=2, order=3)
    assert orders(version) == [("A", 1), ("B", 2), ("D", 3), ("C", 4)]
    routes.move_stage(fresh(a), actor=acme.admin, expected_version=3, order=4)
    assert orders(version) == [("B", 1), ("D", 2), ("C", 3), ("A", 4)]

    with pytest.raises(Conflict):
        routes.move_stage(b, actor=acme.admin, expected_version=1, order=2)
    bad_places: tuple[Any, ...] = (0, 5, "2")
    for bad in bad_places:
        with pytest.raises(ValidationFailed) as refused:
            routes.move_stage(
                fresh(b), actor=acme.admin, expected_version=None, order=bad
            )
        assert refused.value.errors == {"order": ["Choose a place from 1 to 4."]}
    assert orders(version) == [("B", 1), ("D", 2), ("C", 3), ("A", 4)]


def test_moving_a_stage_to_its_own_place_writes_nothing(
    acme: SmallOrg, audit_trail
) -> None:  # type: ignore[no-untyped-def]
    version = draft(new_route(acme))
    stage = superior_stage(acme, version)
    trail = audit_trail(acme.organisation)
    assert (
        routes.move_stage(stage, actor=acme.admin, expected_version=1, order=1).version
        == 1
    )
    trail.assert_nothing_new()


# --- conditions -------------------------------------------------------------------


@pytest.mark.parametrize(
    ("field", "operator", "value", "stored"),
    [
        ("procedure", "eq", " EXP-01 ", "EXP-01"),
        ("kind", "in", ["skip_step", "add_step"], ["skip_step", "add_step"]),
        ("kind", "not_in", ("reorder",), ["reorder"]),
        ("run.value", "gt", "1000000", 1000000),
        ("run.weight_kg", "lte", Decimal("12.50"), "12.5"),
        ("run.rate", "gte", 2.5, "2.5"),
        ("run.hazardous", "is_true", None, None),
        ("run.hazardous", "is_false", "", None),
        ("procedure", "ne", 7, 7),
        ("run.count", "eq", 1.0, 1),
    ],
)
def test_a_condition_is_stored_in_canonical_form(
    acme: SmallOrg, field: str, operator: str, value: Any, stored: Any
) -> None:
    version = draft(new_route(acme))
    condition = routes.add_condition(
        version, actor=acme.admin, field=field, operator=operator, value=value
    )
    assert (condition.field, condition.operator) == (field.strip(), operator)
    assert fresh(condition).value == stored


@pytest.mark.parametrize(
    ("kind", "field", "operator", "value", "errors"),
    [
        (
            DEVIATION,
            "days_later",
            "gt",
            3,
            {
                "field": [
                    "“days_later” is not a field of this kind of subject. Choose one "
                    "of: kind, procedure, or run.<key> for a run field."
                ]
            },
        ),
        (DEVIATION, " ", "eq", "x", {"field": ["This field is required."]}),
        (
            DEVIATION,
            "run.",
            "eq",
            "x",
            {
                "field": [
                    "Write run. followed by the key of a run field (letters, digits, - and _)."
                ]
            },
        ),
        (
            DEVIATION,
            "run.a b",
            "eq",
            "x",
            {
                "field": [
                    "Write run. followed by the key of a run field (letters, digits, - and _)."
                ]
            },
        ),
        (DEVIATION, "kind", "like", "x", {"operator": ["Choose a valid operator."]}),
        (
            DEVIATION,
            "kind",
            "in",
            "skip_step",
            {"value": ["The condition needs a list of values."]},
        ),
        (
            DEVIATION,
            "kind",
            "not_in",
            [],
            {"value": ["The condition needs a list of values."]},
        ),
        (
            DEVIATION,
            "kind",
            "in",
            ["a", ["b"]],
            {"value": ["Every value in the list must be a word or a number."]},
        ),
        (
            DEVIATION,
            "kind",
            "in",
            ["a", " "],
            {"value": ["Every value in the list must be a word or a number."]},
        ),
        (DUE_DATE, "days_later", "gt", "soon", {"value": ["Enter a number."]}),
        (DUE_DATE, "days_later", "lt", True, {"value": ["Enter a number."]}),
        (DUE_DATE, "days_later", "gte", "NaN", {"value": ["Enter a number."]}),
        (
            DUE_DATE,
            "urgent",
            "is_true",
            True,
            {"value": ["This operator takes no value."]},
        ),
        (DEVIATION, "kind", "eq", None, {"value": ["The condition needs one value."]}),
        (DEVIATION, "kind", "eq", ["a"], {"value": ["The condition needs one value."]}),
        (DEVIATION, "kind", "ne", "  ", {"value": ["The condition needs one value."]}),
        (
            SubjectKind.WORKLOAD_ANALYSIS,
            "Team Size",
            "gt",
            3,
            {
                "field": [
                    "Enter a field name (lowercase letters, digits and _), or "
                    "run.<key> for a run field."
                ]
            },
        ),
    ],
)
def test_a_condition_must_fit_the_subject_kind_and_its_operator(
    acme: SmallOrg,
    audit_trail,  # type: ignore[no-untyped-def]
    kind: str,
    field: str,
    operator: str,
    value: Any,
    errors: dict[str, list[str]],
) -> None:
    version = draft(new_route(acme, subject_kind=kind))
    trail = audit_trail(acme.organisation)
    with pytest.raises(ValidationFailed) as refused:
        routes.add_condition(
            version, actor=acme.admin, field=field, operator=operator, value=value
        )
    assert refused.value.errors == errors
    assert not RouteCondition.objects.exists()
    trail.assert_nothing_new()


def test_a_kind_without_an_adapter_accepts_plain_field_names(acme: SmallOrg) -> None:
    assert routes.condition_fields(SubjectKind.WORKLOAD_ANALYSIS) is None
    assert routes.condition_fields(DEVIATION) == {
        "procedure": "Procedure",
        "kind": "Kind of deviation",
    }
    version = draft(new_route(acme, subject_kind=SubjectKind.WORKLOAD_ANALYSIS))
    condition = routes.add_condition(
        version, actor=acme.admin, field="team_size", operator="gt", value=3
    )
    assert condition.field == "team_size"


def test_conditions_are_added_and_removed_with_an_audit_event(
    acme: SmallOrg,
    audit_trail,  # type: ignore[no-untyped-def]
) -> None:
    version = draft(new_route(acme))
    trail = audit_trail(acme.organisation)
    condition = routes.add_condition(
        version, actor=acme.admin, field="kind", operator="eq", value="skip_step"
    )
    routes.remove_condition(condition, actor=acme.admin)

    created, deleted = trail.new_events()
    assert (created.verb, created.changes) == (
        AuditVerb.CREATED,
        {
            "route_version": version.pk,
            "field": "kind",
            "operator": "eq",
            "value": "skip_step",
        },
    )
    assert (deleted.verb, deleted.target_id) == (AuditVerb.DELETED, str(condition.pk))
    assert routes.conditions_of(version) == []
    with pytest.raises(Conflict):
        routes.remove_condition(condition, actor=acme.admin)


# --- versions ---------------------------------------------------------------------


def test_publishing_freezes_the_draft(acme: SmallOrg, audit_trail) -> None:  # type: ignore[no-untyped-def]
    route = new_route(acme)
    version = draft(route)
    stage = superior_stage(acme, version)
    condition = routes.add_condition(
        version, actor=acme.admin, field="kind", operator="eq", value="skip_step"
    )
    trail = audit_trail(acme.organisation)
    now = dt.datetime(2026, 3, 2, 2, 0, tzinfo=dt.UTC)

    routes.publish(version, actor=acme.member, expected_version=1, now=now)

    stored = fresh(version)
    assert (
        stored.status,
        stored.published_at,
        stored.published_by,
        stored.version,
    ) == (
        VersionStatus.PUBLISHED,
        now,
        acme.member,
        2,
    )
    event = trail.only_new_event()
    assert (event.verb, event.changes) == (
        AuditVerb.PUBLISHED,
        {"status": ["draft", "published"]},
    )
    assert routes.published_version(route) == version
    assert routes.draft_of(route) is None

    frozen = "Version 1 is published and can no longer change; create a new draft to change the route."
    attempts = [
        lambda: superior_stage(acme, version),
        lambda: routes.update_stage(
            stage, actor=acme.admin, expected_version=1, name="X"
        ),
        lambda: routes.delete_stage(stage, actor=acme.admin, expected_version=1),
        lambda: routes.move_stage(stage, actor=acme.admin, expected_version=1, order=1),
        lambda: routes.add_condition(
            version, actor=acme.admin, field="kind", operator="eq", value="x"
        ),
        lambda: routes.remove_condition(condition, actor=acme.admin),
        lambda: routes.update_version(
            version, actor=acme.admin, expected_version=2, notes="changed"
        ),
        lambda: routes.publish(version, actor=acme.admin, expected_version=2),
    ]
    before = (row(version), row(stage), row(condition))
    for attempt in attempts:
        with pytest.raises(ValidationFailed) as refused:
            attempt()
        assert refused.value.errors == {"__all__": [frozen]}
    assert (row(version), row(stage), row(condition)) == before


def test_a_version_without_stages_cannot_be_published(
    acme: SmallOrg, audit_trail
) -> None:  # type: ignore[no-untyped-def]
    version = draft(new_route(acme))
    trail = audit_trail(acme.organisation)
    with pytest.raises(ValidationFailed) as refused:
        routes.publish(version, actor=acme.admin, expected_version=1)
    assert refused.value.code == "unpublishable"
    assert refused.value.errors == {"__all__": ["The route has no stages yet."]}
    assert fresh(version).status == VersionStatus.DRAFT
    trail.assert_nothing_new()


def test_publishing_checks_that_every_stage_can_find_its_approvers(
    acme: SmallOrg, other_org: SmallOrg
) -> None:
    version = draft(new_route(acme))
    spare = org.create_position(
        acme.organisation, actor=acme.admin, party=acme.export, title="Spare", code="SP"
    )
    routes.add_stage(
        version,
        actor=acme.admin,
        name="Spare",
        rule=ApproverRule.POSITION,
        position=spare,
    )
    routes.add_stage(
        version,
        actor=acme.admin,
        name="Unit",
        rule=ApproverRule.UNIT_HEAD,
        party=acme.warehouse,
    )
    routes.add_stage(
        version,
        actor=acme.admin,
        name="Budi",
        rule=ApproverRule.PERSON,
        person=acme.budi,
    )
    routes.add_stage(
        version,
        actor=acme.admin,
        name="Rina",
        rule=ApproverRule.PERSON,
        person=acme.rina,
    )
    routes.add_condition(
        version, actor=acme.admin, field="kind", operator="eq", value="x"
    )
    org.deactivate_position(spare, actor=acme.admin, expected_version=1)

    # The adapter no longer offers "kind".
    with (
        subjects.isolated_adapters(test_adapter(DEVIATION, {"procedure": "Procedure"})),
        pytest.raises(ValidationFailed) as refused,
    ):
        routes.publish(version, actor=acme.admin, expected_version=1)

    assert refused.value.errors == {
        "__all__": [
            "Stage 1 “Spare”: the position “Spare” is deactivated.",
            "Stage 2 “Unit”: the unit “Warehouse” has no head position.",
            "Stage 3 “Budi”: Budi Santoso has no login with a member's rights in "
            "this organisation, so they cannot decide.",
            "Condition “kind eq x”: “kind” is not a field of this kind of subject. "
            "Choose one of: procedure, or run.<key> for a run field.",
        ]
    }
    assert fresh(version).status == VersionStatus.DRAFT


def test_a_new_draft_copies_the_published_version_and_publishing_replaces_it(
    acme: SmallOrg,
    audit_trail,  # type: ignore[no-untyped-def]
) -> None:
    route = new_route(acme)
    v1 = draft(route)
    routes.update_version(
        v1, actor=acme.admin, expected_version=1, allow_repeat_approver=True
    )
    superior_stage(acme, v1, "Superior")
    routes.add_stage(
        v1,
        actor=acme.admin,
        name="Head",
        rule=ApproverRule.POSITION,
        position=acme.export_head,
        mode=StageMode.QUORUM,
        quorum=2,
        time_limit_hours=16,
    )
    routes.add_condition(
        v1, actor=acme.admin, field="kind", operator="in", value=["skip_step"]
    )
    routes.publish(v1, actor=acme.admin, expected_version=2)
    trail = audit_trail(acme.organisation)

    v2 = routes.new_draft(route, actor=acme.member, notes="Add the director")

    assert (v2.number, v2.status, v2.notes, v2.allow_repeat_approver) == (
        2,
        VersionStatus.DRAFT,
        "Add the director",
        True,
    )
    copied = routes.stages_of(v2)
    original = routes.stages_of(v1)
    assert [s.pk for s in copied] != [s.pk for s in original]
    keys = (
        "order",
        "name",
        "rule",
        "levels",
        "position_id",
        "mode",
        "quorum",
        "time_limit_hours",
        "on_timeout",
    )
    assert [[getattr(s, k) for k in keys] for s in copied] == [
        [getattr(s, k) for k in keys] for s in original
    ]
    assert [(c.field, c.operator, c.value) for c in routes.conditions_of(v2)] == [
        ("kind", "in", ["skip_step"])
    ]
    event = trail.only_new_event()
    assert (event.verb, event.changes) == (
        AuditVerb.CREATED,
        {"route": route.pk, "number": 2, "copied_from": 1},
    )
    with pytest.raises(ValidationFailed) as twice:
        routes.new_draft(route, actor=acme.admin)
    assert twice.value.errors == {"__all__": ["The route already has a draft version."]}

    # Changing the draft leaves the published version alone...
    routes.add_stage(
        v2,
        actor=acme.admin,
        name="Director",
        rule=ApproverRule.POSITION,
        position=acme.director,
    )
    assert len(routes.stages_of(v1)) == 2
    # ...until it is published: then it replaces version 1, in one transaction.
    trail = audit_trail(acme.organisation)
    routes.publish(v2, actor=acme.admin, expected_version=1)
    assert (fresh(v1).status, fresh(v2).status) == (
        VersionStatus.RETIRED,
        VersionStatus.PUBLISHED,
    )
    assert fresh(v1).retired_at is not None
    retired, published_event = trail.new_events()
    assert (retired.verb, retired.target_id, retired.changes) == (
        AuditVerb.RETIRED,
        str(v1.pk),
        {"status": ["published", "retired"], "replaced_by": 2},
    )
    assert (published_event.verb, published_event.target_id) == (
        AuditVerb.PUBLISHED,
        str(v2.pk),
    )
    assert routes.published_version(route) == v2


def test_a_stale_publish_changes_nothing(acme: SmallOrg, audit_trail) -> None:  # type: ignore[no-untyped-def]
    v1 = published(acme)
    route = v1.route
    v2 = routes.new_draft(route, actor=acme.admin)
    routes.update_version(
        v2, actor=acme.admin, expected_version=1, notes="Second thoughts"
    )
    trail = audit_trail(acme.organisation)

    with pytest.raises(Conflict):
        routes.publish(fresh(v2), actor=acme.admin, expected_version=1)

    # The old version is still the published one: nothing was half done.
    assert (fresh(v1).status, fresh(v2).status) == (
        VersionStatus.PUBLISHED,
        VersionStatus.DRAFT,
    )
    trail.assert_nothing_new()


def test_a_new_draft_without_a_published_version_copies_the_latest(
    acme: SmallOrg,
) -> None:
    v1 = published(acme)
    routes.retire(v1, actor=acme.admin, expected_version=2)
    v2 = routes.new_draft(v1.route, actor=acme.admin)
    assert [s.name for s in routes.stages_of(v2)] == ["Superior"]
    assert v2.number == 2


def test_retiring_stops_new_requests(acme: SmallOrg, audit_trail) -> None:  # type: ignore[no-untyped-def]
    version = published(acme)
    assert routes.match(acme.organisation, DEVIATION, {}) == version
    trail = audit_trail(acme.organisation)

    with pytest.raises(Conflict):
        routes.retire(version, actor=acme.admin, expected_version=1)
    routes.retire(version, actor=acme.admin, expected_version=2)

    assert fresh(version).status == VersionStatus.RETIRED
    assert trail.only_new_event().verb == AuditVerb.RETIRED
    assert routes.match(acme.organisation, DEVIATION, {}) is None
    with pytest.raises(ValidationFailed) as again:
        routes.retire(version, actor=acme.admin, expected_version=3)
    assert again.value.errors == {
        "__all__": ["Only a published version can be retired."]
    }
    draft_version = draft(new_route(acme, "OTHER"))
    with pytest.raises(ValidationFailed):
        routes.retire(draft_version, actor=acme.admin, expected_version=1)


def test_updating_a_draft_s_settings(acme: SmallOrg) -> None:
    version = draft(new_route(acme))
    routes.update_version(
        version,
        actor=acme.admin,
        expected_version=1,
        allow_repeat_approver=True,
        notes="n",
    )
    assert (fresh(version).allow_repeat_approver, fresh(version).notes) == (True, "n")
    with pytest.raises(Conflict):
        routes.update_version(version, actor=acme.admin, expected_version=1, notes="m")
    with pytest.raises(ValidationFailed) as refused:
        routes.update_version(version, actor=acme.admin, expected_version=2, number=9)
    assert refused.value.errors == {"number": ["This field cannot be changed here."]}


# --- matching ---------------------------------------------------------------------


def with_conditions(
    o: SmallOrg, code: str, conditions: list[tuple[str, str, Any]], **overrides: Any
) -> RouteVersion:
    route = new_route(o, code, **overrides)
    version = draft(route)
    superior_stage(o, version)
    for field, operator, value in conditions:
        routes.add_condition(
            version, actor=o.admin, field=field, operator=operator, value=value
        )
    return routes.publish(version, actor=o.admin, expected_version=version.version)


def test_the_lowest_priority_then_the_code_wins(acme: SmallOrg) -> None:
    general = with_conditions(acme, "GENERAL", [], priority=100)
    skips = with_conditions(acme, "SKIPS", [("kind", "eq", "skip_step")], priority=10)
    tie_b = with_conditions(acme, "B-TIE", [("procedure", "eq", "EXP")], priority=50)
    tie_a = with_conditions(acme, "A-TIE", [("procedure", "eq", "EXP")], priority=50)

    assert (
        routes.match(
            acme.organisation, DEVIATION, {"kind": "skip_step", "procedure": "EXP"}
        )
        == skips
    )
    assert (
        routes.match(
            acme.organisation, DEVIATION, {"kind": "add_step", "procedure": "EXP"}
        )
        == tie_a
    )
    assert routes.match(acme.organisation, DEVIATION, {"kind": "add_step"}) == general
    assert tie_b != tie_a


def test_only_published_versions_of_active_routes_of_the_kind_and_organisation_match(
    acme: SmallOrg, other_org: SmallOrg
) -> None:
    with_conditions(other_org, "THEIRS", [], priority=0)
    inactive = with_conditions(acme, "OFF", [], priority=1)
    routes.update_route(
        inactive.route, actor=acme.admin, expected_version=1, is_active=False
    )
    with_conditions(acme, "DUE", [], priority=2, subject_kind=DUE_DATE)
    superior_stage(acme, draft(new_route(acme, "DRAFT", priority=3)))

    assert routes.match(acme.organisation, DEVIATION, {}) is None
    mine = with_conditions(acme, "MINE", [], priority=99)
    assert routes.match(acme.organisation, DEVIATION, {}) == mine


def test_matching_reads_the_versions_and_their_conditions_in_two_queries(
    acme: SmallOrg,
    django_assert_num_queries,  # type: ignore[no-untyped-def]
) -> None:
    for n in range(4):
        with_conditions(
            acme, f"R{n}", [("procedure", "eq", f"P{n}"), ("kind", "ne", "x")]
        )
    with django_assert_num_queries(2):
        found = routes.match(
            acme.organisation, DEVIATION, {"procedure": "P3", "kind": "y"}
        )
    assert found is not None and found.route.code == "R3"


@pytest.mark.parametrize(
    ("operator", "expected", "actual", "holds"),
    [
        ("eq", "EXP-01", "EXP-01", True),
        ("eq", "EXP-01", "exp-01", False),
        ("eq", "EXP-01", " EXP-01 ", True),
        ("eq", 10, 10, True),
        ("eq", 10, "10.0", True),
        ("eq", "12.5", Decimal("12.50"), True),
        ("eq", 10, 11, False),
        ("eq", "yes", True, True),
        ("eq", "no", True, False),
        ("ne", "EXP-01", "EXP-02", True),
        ("ne", "EXP-01", "EXP-01", False),
        ("ne", 3, 3.0, False),
        ("gt", 5, 6, True),
        ("gt", 5, 5, False),
        ("gt", "1000000", "1000000.01", True),
        ("gt", 5, "many", False),
        ("gt", 5, True, False),
        ("gte", 5, 5, True),
        ("gte", 5, 4, False),
        ("lt", 0, -1, True),
        ("lt", 0, 0, False),
        ("lte", "2.5", Decimal("2.50"), True),
        ("lte", "2.5", 2.51, False),
        ("in", ["skip_step", "add_step"], "add_step", True),
        ("in", ["skip_step", "add_step"], "reorder", False),
        ("in", [1, 2, 3], "2", True),
        ("not_in", ["skip_step"], "reorder", True),
        ("not_in", ["skip_step"], "skip_step", False),
        ("is_true", None, True, True),
        ("is_true", None, False, False),
        ("is_true", None, "yes", True),
        ("is_true", None, 1, False),
        ("is_false", None, False, True),
        ("is_false", None, True, False),
        ("is_false", None, "off", True),
        # A missing value satisfies nothing, not even "is not" or "none of".
        ("eq", "x", None, False),
        ("ne", "x", None, False),
        ("not_in", ["x"], None, False),
        ("is_false", None, None, False),
        ("lt", 5, None, False),
    ],
)
def test_conditions_compare_numbers_as_numbers_and_the_rest_as_text(
    operator: str, expected: Any, actual: Any, holds: bool
) -> None:
    assert routes.condition_holds(operator, expected, actual) is holds


@pytest.mark.parametrize(
    ("conditions", "fields", "matches"),
    [
        ([("days_later", "gt", 7)], {"days_later": 8}, True),
        ([("days_later", "gt", 7)], {"days_later": 7}, False),
        ([("days_later", "gte", 7)], {"days_later": 7}, True),
        ([("days_later", "lt", 0)], {"days_later": -2}, True),
        ([("days_later", "lte", 0)], {"days_later": 1}, False),
        ([("procedure", "in", ["EXP", "IMP"])], {"procedure": "IMP"}, True),
        ([("procedure", "not_in", ["EXP", "IMP"])], {"procedure": "IMP"}, False),
        ([("urgent", "is_true", None)], {"urgent": True}, True),
        ([("urgent", "is_false", None)], {"urgent": True}, False),
        ([("run.value", "gte", "1000000")], {"run.value": "1500000.00"}, True),
        ([("run.value", "gte", "1000000")], {}, False),
        ([("procedure", "ne", "EXP")], {"procedure": "IMP"}, True),
        (
            [("procedure", "eq", "EXP"), ("days_later", "gt", 7)],
            {"procedure": "EXP", "days_later": 3},
            False,
        ),
        (
            [("procedure", "eq", "EXP"), ("days_later", "gt", 7)],
            {"procedure": "EXP", "days_later": 30},
            True,
        ),
    ],
)
def test_a_route_matches_when_all_its_conditions_hold(
    acme: SmallOrg,
    conditions: list[tuple[str, str, Any]],
    fields: dict[str, Any],
    matches: bool,
) -> None:
    version = with_conditions(acme, "DUE", conditions, subject_kind=DUE_DATE)
    expected = version if matches else None
    assert routes.match(acme.organisation, DUE_DATE, fields) == expected


def test_routes_for_lists_an_organisation_s_routes(
    acme: SmallOrg, other_org: SmallOrg
) -> None:
    b = new_route(acme, "B", priority=5)
    a = new_route(acme, "A", priority=50)
    due = new_route(acme, "D", subject_kind=DUE_DATE)
    new_route(other_org, "A")
    routes.update_route(a, actor=acme.admin, expected_version=1, is_active=False)
    assert routes.routes_for(acme.organisation) == [b, a, due]
    assert routes.routes_for(acme.organisation, subject_kind=DEVIATION) == [b, a]
    assert routes.routes_for(acme.organisation, include_inactive=False) == [b, due]


def test_a_person_stage_needs_someone_who_may_decide(acme: SmallOrg) -> None:
    # Joko is a partner: he may not decide approvals.
    version = draft(new_route(acme))
    routes.add_stage(
        version,
        actor=acme.admin,
        name="Joko",
        rule=ApproverRule.PERSON,
        person=acme.joko,
    )
    with pytest.raises(ValidationFailed) as refused:
        routes.publish(version, actor=acme.admin, expected_version=1)
    assert refused.value.errors == {
        "__all__": [
            "Stage 1 “Joko”: Joko Susilo has no login with a member's rights in this "
            "organisation, so they cannot decide."
        ]
    }
    person: Person = acme.rina
    routes.update_stage(
        RouteStage.objects.get(route_version=version),
        actor=acme.admin,
        expected_version=1,
        person=person,
        name="Rina",
    )
    routes.publish(version, actor=acme.admin, expected_version=1)
    assert fresh(version).status == VersionStatus.PUBLISHED


# --- real races (PostgreSQL: threads share the test database only there) -----------

on_postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real row locks and concurrent transactions (PostgreSQL)",
)


def run_in_threads(work: Callable[[int], object], count: int) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as error:  # inspected by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return results


@pytest.mark.postgres_only
@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_stage_edits_keep_the_orders_dense(acme: SmallOrg) -> None:
    version = draft(new_route(acme))
    first, second, third = (superior_stage(acme, version, name) for name in "ABC")

    def edit(index: int) -> object:
        if index == 0:
            return routes.delete_stage(first, actor=acme.admin, expected_version=1)
        if index == 1:
            return routes.move_stage(
                third, actor=acme.admin, expected_version=None, order=1
            )
        return superior_stage(acme, version, f"N{index}")

    results = run_in_threads(edit, 6)

    assert not any(
        isinstance(result, Exception) and not isinstance(result, Conflict)
        for result in results
    ), results
    stored = [stage.order for stage in routes.stages_of(version)]
    assert stored == list(range(1, len(stored) + 1))
    assert {stage.name for stage in routes.stages_of(version)} >= {
        "N2",
        "N3",
        "N4",
        "N5",
    }
    assert second.pk in {stage.pk for stage in routes.stages_of(version)}
    assert audit.verify(acme.organisation).ok


@pytest.mark.postgres_only
@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_publishing_leaves_one_published_version(acme: SmallOrg) -> None:
    v1 = published(acme)
    v2 = routes.new_draft(v1.route, actor=acme.admin)

    def act(index: int) -> object:
        if index % 2:
            return routes.publish(
                RouteVersion.objects.get(pk=v2.pk), actor=acme.admin, expected_version=1
            )
        return routes.retire(
            RouteVersion.objects.get(pk=v1.pk), actor=acme.admin, expected_version=2
        )

    results = run_in_threads(act, 4)

    statuses = sorted(
        RouteVersion.objects.filter(route=v1.route).values_list("status", flat=True)
    )
    assert statuses == [VersionStatus.PUBLISHED, VersionStatus.RETIRED]
    assert sum(isinstance(result, RouteVersion) for result in results) >= 1
    assert all(
        isinstance(result, RouteVersion | Conflict | ValidationFailed)
        for result in results
    ), results
    assert audit.verify(acme.organisation).ok
