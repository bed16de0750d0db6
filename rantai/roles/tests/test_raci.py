"""The RACI matrix of a version, editing a cell of a draft, and the roles of a
person ("my roles") and of a party (docs/design-roles.md, "RACI matrix")."""

from __future__ import annotations

import datetime as dt

import pytest

from rantai.accounts.access import access_for
from rantai.accounts.models import Role
from rantai.audit.models import AuditVerb
from rantai.chains import services as chains
from rantai.chains.models import ProcedureVersion, Step, StepRole
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.org import services as org
from rantai.roles import raci
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg

pytestmark = pytest.mark.django_db

R, A, C, I = "R", "A", "C", "I"  # noqa: E741


@pytest.fixture
def o() -> SmallOrg:
    return f.organisation()


def shipping(
    o: SmallOrg, *, publish: bool = True, code: str = "SHIP"
) -> ProcedureVersion:
    """quote: clerk R, head A, director C, head I; pickup: the forwarder (party) R,
    head A, forwarder operations I; check: head R and A, director I."""
    return f.procedure(
        o,
        [
            f.StepRow(
                "quote",
                responsible=o.export_staff,
                accountable=o.export_head,
                consulted=[o.director],
                informed=[o.export_head],
            ),
            f.StepRow(
                "pickup",
                responsible=o.forwarder,
                accountable=o.export_head,
                informed=[o.forwarder_ops],
                after=["quote"],
            ),
            f.StepRow(
                "check",
                responsible=o.export_head,
                accountable=o.export_head,
                informed=[o.director],
                after=["pickup"],
            ),
        ],
        code=code,
        publish=publish,
    )


def steps_of(version: ProcedureVersion) -> dict[str, Step]:
    return {step.key: step for step in version.steps.all()}


def roles_on(step: Step) -> set[tuple[str, str]]:
    return {
        (row.role, (row.position or row.party).code)  # type: ignore[union-attr]
        for row in StepRole.objects.filter(step=step).select_related(
            "position", "party"
        )
    }


def grid(matrix: raci.Matrix) -> dict[str, dict[str, str]]:
    """step key -> {column code: "R, C"} for the non-empty cells."""
    return {
        row.key: {
            column.code: matrix.label(row.step_id, column)
            for column in matrix.columns
            if matrix.cell(row.step_id, column)
        }
        for row in matrix.rows
    }


# --- the matrix ---------------------------------------------------------------------


def test_the_matrix_has_the_steps_in_order_and_every_position_and_party_with_a_role(
    o: SmallOrg,
):
    version = shipping(o)

    matrix = raci.matrix(version)

    assert [row.key for row in matrix.rows] == ["quote", "pickup", "check"]
    # By party (Export, Fast Forwarding, Head office), the party itself first,
    # then the positions by title.
    assert [(c.kind, c.code, c.party_name) for c in matrix.columns] == [
        ("position", "EXP-CLERK", "Export"),
        ("position", "EXP-HEAD", "Export"),
        ("party", "FWD", "Fast Forwarding"),
        ("position", "FWD-OPS", "Fast Forwarding"),
        ("position", "DIR", "Head office"),
    ]
    assert grid(matrix) == {
        "quote": {"EXP-CLERK": "R", "EXP-HEAD": "A, I", "DIR": "C"},
        "pickup": {"EXP-HEAD": "A", "FWD": "R", "FWD-OPS": "I"},
        "check": {"EXP-HEAD": "R, A", "DIR": "I"},
    }
    assert [c.is_external for c in matrix.columns] == [False, False, True, True, False]
    assert (matrix.procedure_code, matrix.number, matrix.status) == (
        "SHIP",
        1,
        "published",
    )
    check = matrix.rows[2].step_id
    assert [c.code for c in matrix.accountable_of(check)] == ["EXP-HEAD"]
    assert matrix.cell(check, ("position", o.director.pk)) == frozenset({I})


def test_the_matrix_of_a_draft_without_roles_has_no_columns(o: SmallOrg):
    created = chains.create_procedure(
        o.organisation,
        actor=o.admin,
        code="NEW",
        name="New",
        owner_position=o.export_head,
    )
    draft = created.versions.get()
    chains.add_step(draft, actor=o.admin, key="first", name="First", duration_value=1)

    matrix = raci.matrix(draft)

    assert [row.key for row in matrix.rows] == ["first"]
    assert matrix.columns == ()
    assert matrix.is_draft


def test_the_matrix_reads_three_queries_whatever_its_size(
    o: SmallOrg, django_assert_num_queries
):
    small = f.procedure(
        o, [f.StepRow("one", responsible=o.export_staff, accountable=o.export_head)]
    )
    big = f.procedure(
        o,
        [
            f.StepRow(
                f"step-{number}",
                responsible=o.forwarder if number % 3 == 0 else o.export_staff,
                accountable=o.export_head,
                consulted=[o.director, o.forwarder_ops],
                informed=[o.export_head],
            )
            for number in range(12)
        ],
        code="BIG",
    )

    with django_assert_num_queries(3):
        assert len(raci.matrix(small).rows) == 1
    with django_assert_num_queries(3):
        assert len(raci.matrix(big).columns) == 5


# --- editing a cell ----------------------------------------------------------------------


def test_setting_a_cell_applies_the_difference_through_the_chains_services(
    o: SmallOrg, audit_trail
):
    draft = shipping(o, publish=False)
    quote = steps_of(draft)["quote"]
    trail = audit_trail(o.organisation)

    result = raci.set_cell(quote, actor=o.admin, position=o.director, roles={I, C, R})

    assert result == frozenset({R, C, I})
    assert roles_on(quote) == {
        (R, "EXP-CLERK"),
        (A, "EXP-HEAD"),
        (I, "EXP-HEAD"),
        (R, "DIR"),
        (C, "DIR"),
        (I, "DIR"),
    }
    # C was there already: only R and I were added, each audited as chains does.
    events = trail.new_events()
    assert [(e.verb, e.changes["role"]) for e in events] == [
        (AuditVerb.CREATED, R),
        (AuditVerb.CREATED, I),
    ]

    trail = audit_trail(o.organisation)
    result = raci.set_cell(quote, actor=o.admin, position=o.director, roles={I})

    assert result == frozenset({I})
    assert {role for role, code in roles_on(quote) if code == "DIR"} == {I}
    assert [e.verb for e in trail.new_events()] == [
        AuditVerb.DELETED,
        AuditVerb.DELETED,
    ]


def test_an_empty_set_clears_the_cell_and_an_unchanged_cell_writes_nothing(
    o: SmallOrg, audit_trail
):
    draft = shipping(o, publish=False)
    quote = steps_of(draft)["quote"]
    trail = audit_trail(o.organisation)

    raci.set_cell(quote, actor=o.admin, position=o.export_staff, roles={R})
    trail.assert_nothing_new()

    raci.set_cell(quote, actor=o.admin, position=o.director, roles=set())
    assert not any(code == "DIR" for _role, code in roles_on(quote))


def test_a_second_accountable_is_refused_naming_the_one_there(o: SmallOrg, audit_trail):
    draft = shipping(o, publish=False)
    quote = steps_of(draft)["quote"]
    before = roles_on(quote)
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as refused:
        raci.set_cell(quote, actor=o.admin, position=o.director, roles={A, C})

    assert refused.value.errors == {
        "roles": [
            "Step “Quote” already has its accountable position, Head of export: a "
            "step has exactly one. Remove it there first."
        ]
    }
    assert roles_on(quote) == before
    trail.assert_nothing_new()


def test_moving_the_accountable_takes_two_edits(o: SmallOrg):
    draft = shipping(o, publish=False)
    quote = steps_of(draft)["quote"]

    raci.set_cell(quote, actor=o.admin, position=o.export_head, roles={I})
    raci.set_cell(quote, actor=o.admin, position=o.director, roles={A, C})

    assert {code for role, code in roles_on(quote) if role == A} == {"DIR"}


def test_a_party_can_only_be_responsible(o: SmallOrg):
    draft = shipping(o, publish=False)
    quote = steps_of(draft)["quote"]
    before = roles_on(quote)

    with pytest.raises(ValidationFailed) as refused:
        raci.set_cell(quote, actor=o.admin, party=o.forwarder, roles={R, I})
    assert refused.value.errors == {
        "roles": ["An external party can only be responsible for a step."]
    }
    with pytest.raises(ValidationFailed) as internal:
        raci.set_cell(quote, actor=o.admin, party=o.export, roles={R})
    assert internal.value.errors == {
        "party": ["Only an external partner can own a step as a party."]
    }
    assert roles_on(quote) == before

    raci.set_cell(quote, actor=o.admin, party=o.forwarder, roles={R})
    assert (R, "FWD") in roles_on(quote)


def test_unknown_roles_and_naming_both_or_neither_are_refused(o: SmallOrg):
    quote = steps_of(shipping(o, publish=False))["quote"]
    before = roles_on(quote)

    with pytest.raises(ValidationFailed) as unknown:
        raci.set_cell(quote, actor=o.admin, position=o.director, roles={"X", C})
    assert unknown.value.errors == {"roles": ["Unknown role “X”: use R, A, C or I."]}
    with pytest.raises(ValidationFailed):
        raci.set_cell(quote, actor=o.admin, roles={C})
    with pytest.raises(ValidationFailed):
        raci.set_cell(
            quote, actor=o.admin, position=o.director, party=o.forwarder, roles={R}
        )
    assert roles_on(quote) == before


def test_only_a_draft_changes(o: SmallOrg, audit_trail):
    published = shipping(o)
    quote = steps_of(published)["quote"]
    before = roles_on(quote)
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as refused:
        raci.set_cell(quote, actor=o.admin, position=o.director, roles={I})

    assert refused.value.message == (
        "Version 1 is published and can no longer change; create a new draft to "
        "change the procedure."
    )
    assert roles_on(quote) == before
    trail.assert_nothing_new()
    assert not raci.may_edit(published, o.admin)


def test_administrators_and_holders_of_the_owner_position_edit_nobody_else(
    o: SmallOrg, other_org: SmallOrg, audit_trail
):
    draft = shipping(o, publish=False)
    quote = steps_of(draft)["quote"]
    clerk = f.person(o, "dina")  # a member holding no position
    acting_owner = f.person(o, "ani")
    f.hold(o, o.export_head, acting_owner, acting=True)
    trail = audit_trail(o.organisation)

    refusals = [
        (f.user_of(clerk), PermissionDenied),
        (o.auditor, PermissionDenied),
        (o.partner, PermissionDenied),
        (other_org.admin, NotFound),
    ]
    for user, error in refusals:
        with pytest.raises(error):
            raci.set_cell(quote, actor=user, position=o.director, roles={I})
        # Refused before anything else: an unchanged cell too.
        with pytest.raises(error):
            raci.set_cell(quote, actor=user, position=o.export_staff, roles={R})
        assert not raci.may_edit(draft, user)
    trail.assert_nothing_new()
    assert {code for role, code in roles_on(quote) if role == I} == {"EXP-HEAD"}

    for user in (o.admin, o.member, f.user_of(acting_owner)):
        assert raci.may_edit(draft, user)
    raci.set_cell(quote, actor=o.member, position=o.director, roles={C, I})
    raci.set_cell(quote, actor=f.user_of(acting_owner), position=o.director, roles={I})
    assert {role for role, code in roles_on(quote) if code == "DIR"} == {I}


# --- my roles, a party's roles ------------------------------------------------------------


def test_my_roles_lists_every_published_step_through_the_positions_held(o: SmallOrg):
    shipping(o)
    draft = shipping(o, publish=False, code="DRAFT")  # not yet published: left out
    assert draft.status == "draft"

    roles = raci.roles_of_person(o.rina)

    assert [
        (
            r.procedure_code,
            r.version_number,
            r.step_key,
            r.role,
            r.position_title,
            r.acting,
        )
        for r in roles
    ] == [
        ("SHIP", 1, "quote", A, "Head of export", False),
        ("SHIP", 1, "quote", I, "Head of export", False),
        ("SHIP", 1, "pickup", A, "Head of export", False),
        ("SHIP", 1, "check", R, "Head of export", False),
        ("SHIP", 1, "check", A, "Head of export", False),
    ]
    first = roles[0]
    version = ProcedureVersion.objects.get(procedure__code="SHIP")
    assert (first.procedure_id, first.version_id, first.procedure_name) == (
        version.procedure_id,
        version.pk,
        "Procedure SHIP",
    )
    assert first.position_id == o.export_head.pk
    assert first.party_id == o.export.pk


def test_acting_holders_have_the_roles_of_the_position_marked_acting(o: SmallOrg):
    shipping(o)
    ani = f.person(o, "ani")
    f.hold(o, o.director, ani, acting=True, end=dt.date(2026, 6, 30))

    roles = raci.roles_of_person(ani, on=dt.date(2026, 3, 2))

    assert [(r.step_key, r.role, r.position_title, r.acting) for r in roles] == [
        ("quote", C, "Director", True),
        ("check", I, "Director", True),
    ]
    # After the acting holding ended: no roles.
    assert raci.roles_of_person(ani, on=dt.date(2026, 7, 1)) == []


def test_a_retired_version_gives_no_roles_and_the_new_one_does(o: SmallOrg):
    first = shipping(o)
    draft = chains.new_draft(first.procedure, actor=o.admin)
    check = draft.steps.get(key="check")
    raci.set_cell(check, actor=o.admin, position=o.director, roles=set())
    chains.publish(draft, actor=o.admin, expected_version=None)

    roles = raci.roles_of_person(o.rina)

    assert {r.version_number for r in roles} == {2}
    director = f.person(o, "dedi")
    f.hold(o, o.director, director)
    assert [(r.step_key, r.role) for r in raci.roles_of_person(director)] == [
        ("quote", C)
    ]


def test_a_party_has_its_own_steps_and_those_of_its_positions(o: SmallOrg):
    shipping(o)

    roles = raci.roles_of_party(o.forwarder)

    assert [(r.step_key, r.role, r.position_id, r.position_title) for r in roles] == [
        ("pickup", R, None, ""),
        ("pickup", I, o.forwarder_ops.pk, "Forwarder operations"),
    ]
    assert [(r.step_key, r.role) for r in raci.roles_of_party(o.warehouse)] == []


def test_my_roles_of_the_caller(o: SmallOrg):
    shipping(o)

    mine = raci.roles_of_user(access_for(o.member, "acme"))
    partner = raci.roles_of_user(access_for(o.partner, "acme"))
    admin = raci.roles_of_user(access_for(o.admin, "acme"))

    assert [(r.step_key, r.role) for r in mine] == [
        ("quote", A),
        ("quote", I),
        ("pickup", A),
        ("check", R),
        ("check", A),
    ]
    assert [(r.step_key, r.role, r.position_title) for r in partner] == [
        ("pickup", I, "Forwarder operations")
    ]
    assert admin == []  # no person of their own


def test_a_deactivated_person_has_no_roles(o: SmallOrg):
    shipping(o)
    ani = f.person(o, "ani", login=False)
    holding = f.hold(o, o.director, ani)
    org.end_holding(
        holding, actor=o.admin, end_date=dt.date(2026, 2, 1), expected_version=None
    )
    org.deactivate_person(ani, actor=o.admin, expected_version=None)

    assert raci.roles_of_person(ani, on=dt.date(2026, 1, 15)) == []


# --- who sees what ------------------------------------------------------------------------


def test_a_partner_sees_only_its_own_party_in_the_matrix(o: SmallOrg):
    version = shipping(o)

    seen = raci.visible_matrix(access_for(o.partner, "acme"), version)

    assert [c.code for c in seen.columns] == ["FWD", "FWD-OPS"]
    assert grid(seen) == {"pickup": {"FWD": "R", "FWD-OPS": "I"}}
    for user in (o.admin, o.member, o.auditor):
        assert grid(raci.visible_matrix(access_for(user, "acme"), version)) == grid(
            raci.matrix(version)
        )


def test_a_partner_does_not_see_drafts_nor_versions_without_its_party(o: SmallOrg):
    draft = shipping(o, publish=False)
    internal = f.procedure(
        o,
        [f.StepRow("pack", responsible=o.export_staff, accountable=o.export_head)],
        code="PACK",
    )
    partner = access_for(o.partner, "acme")

    for version in (draft, internal):
        with pytest.raises(NotFound):
            raci.visible_matrix(partner, version)


def test_another_organisations_version_is_not_found(o: SmallOrg, other_org: SmallOrg):
    version = shipping(o)

    with pytest.raises(NotFound):
        raci.visible_matrix(access_for(other_org.admin, "globex"), version)


def test_an_auditor_holding_the_owner_position_does_not_edit(o: SmallOrg):
    """Auditors only read, whatever position they hold."""
    draft = shipping(o, publish=False)
    reader = f.person(o, "ida", role=Role.AUDITOR)
    f.hold(o, o.export_head, reader, acting=True)

    assert not raci.may_edit(draft, f.user_of(reader))
    with pytest.raises(PermissionDenied):
        raci.set_cell(
            steps_of(draft)["quote"],
            actor=f.user_of(reader),
            position=o.director,
            roles={I},
        )
