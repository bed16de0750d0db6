"""Who the approvers are: every rule, acting holders, vacancies passed up, the
requester and repeat approvers left out, people without a login counting as
vacant, several positions of the requester, the record of each resolution, and a
bounded number of queries."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import translation

from rantai.accounts.models import Membership
from rantai.approvals import resolution
from rantai.approvals.models import (
    ApprovalRequest,
    Resolution,
    ResolutionCause,
    StageApprover,
)
from rantai.approvals.resolution import (
    VIA_ACTING,
    VIA_HOLDER,
    VIA_NAMED,
    VIA_REPEAT,
    VIA_REQUESTER,
    VIA_VACANT,
    Resolved,
    Resolver,
    via_text,
)
from rantai.approvals.tests.conftest import DECIDED, SUBMITTED, Kit
from rantai.core.errors import ValidationFailed
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Holding

ENDED = dt.date(2026, 2, 1)  # before SUBMITTED: the holding is over by then


def resolved(request: ApprovalRequest, order: int = 1) -> list[Resolved]:
    stage = Kit.stage(request, order)
    stage.request = ApprovalRequest.objects.select_related(
        "organisation", "route_version"
    ).get(pk=request.pk)
    return resolution.resolve(stage, at=DECIDED)


def end_holding(kit: Kit, name: str, position_code: str) -> None:
    holding = Holding.objects.get(
        person=kit.team.person(name), position__code=position_code
    )
    org.end_holding(
        holding, actor=kit.o.admin, expected_version=holding.version, end_date=ENDED
    )


# --- the rules ---------------------------------------------------------------------


def test_the_superior_rule_goes_the_given_levels_up_from_the_requesters_position(
    kit,
):
    one = kit.submit(kit.route({"rule": "superior", "levels": 1}))
    two = kit.submit(kit.route({"rule": "superior", "levels": 2}))

    assert resolved(one) == [
        Resolved(kit.team.person("rina").pk, kit.o.export_head.pk, VIA_HOLDER)
    ]
    assert resolved(two) == [
        Resolved(kit.team.person("sari").pk, kit.o.director.pk, VIA_HOLDER)
    ]
    assert one.requester_position_id == kit.o.export_staff.pk


def test_a_superior_line_that_ends_too_soon_finds_nobody_and_names_the_stage(kit):
    version = kit.route({"rule": "superior", "levels": 3, "name": "Board"})

    with pytest.raises(ValidationFailed) as refused:
        kit.submit(version)

    assert "Board" in refused.value.errors["approvers"][0]
    assert refused.value.code == "no_approver"
    assert not ApprovalRequest.objects.exists()


def test_the_position_rule_asks_every_holder(kit):
    request = kit.submit(kit.route({"rule": "position", "position": kit.team.qa}))

    assert {r.person_id for r in resolved(request)} == kit.ids("ayu", "eko", "fajar")
    assert {r.via for r in resolved(request)} == {VIA_HOLDER}


def test_the_unit_head_rule_asks_the_holders_of_the_units_head_position(kit):
    org.update_party(
        kit.o.export,
        actor=kit.o.admin,
        expected_version=kit.o.export.version,
        head_position=kit.o.export_head,
    )
    request = kit.submit(kit.route({"rule": "unit_head", "party": kit.o.export}))

    assert resolved(request) == [
        Resolved(kit.team.person("rina").pk, kit.o.export_head.pk, VIA_HOLDER)
    ]


def test_the_step_accountable_rule_asks_the_subjects_accountable_position(kit):
    version = kit.route({"rule": "step_accountable"})
    subject = kit.subject()
    kit.state.accountable[subject.pk] = kit.team.warehouse_head.pk

    request = kit.submit(version, subject=subject)

    assert resolved(request) == [
        Resolved(kit.team.person("wawan").pk, kit.team.warehouse_head.pk, VIA_HOLDER)
    ]


def test_the_person_rule_asks_the_named_person(kit):
    request = kit.submit(
        kit.route({"rule": "person", "person": kit.team.person("wawan")})
    )

    assert resolved(request) == [Resolved(kit.team.person("wawan").pk, None, VIA_NAMED)]


# --- holders -----------------------------------------------------------------------


def test_an_acting_holder_plt_is_a_full_approver(kit):
    end_holding(kit, "rina", "EXP-HEAD")
    org.assign_holder(
        kit.o.export_head,
        actor=kit.o.admin,
        person=kit.team.person("wawan"),
        start_date=ENDED,
        is_acting=True,
    )

    request = kit.submit(kit.route({"rule": "superior"}))

    assert resolved(request) == [
        Resolved(
            kit.team.person("wawan").pk, kit.o.export_head.pk, VIA_ACTING, acting=True
        )
    ]
    approver = StageApprover.objects.get(request_stage__request=request)
    assert (approver.is_acting, approver.via) == (True, VIA_ACTING)


def test_a_vacant_position_passes_to_its_superior_and_says_so(kit):
    end_holding(kit, "rina", "EXP-HEAD")

    request = kit.submit(kit.route({"rule": "superior"}))

    assert resolved(request) == [
        Resolved(
            kit.team.person("sari").pk,
            kit.o.director.pk,
            VIA_VACANT,
            from_position_id=kit.o.export_head.pk,
        )
    ]
    record = Resolution.objects.get(request_stage__request=request)
    assert record.approvers == [
        {
            "person": kit.team.person("sari").pk,
            "position": kit.o.director.pk,
            "via": VIA_VACANT,
            "acting": False,
            "from_position": kit.o.export_head.pk,
        }
    ]


def test_vacancies_pass_up_as_far_as_needed(kit):
    end_holding(kit, "rina", "EXP-HEAD")
    end_holding(kit, "sari", "DIR")

    with pytest.raises(ValidationFailed) as refused:
        kit.submit(kit.route({"rule": "superior"}))

    assert refused.value.code == "no_approver"


def test_a_holder_without_an_active_member_login_counts_as_vacant(kit):
    # Dina's membership ends: the clerks are Budi (no login) and Dina (no
    # membership), so the clerk position is vacant for approvals.
    request_by = kit.team.rina
    version = kit.route({"rule": "position", "position": kit.o.export_staff})
    dina = Membership.objects.get(user=kit.team.dina, is_active=True)
    membership.end_membership(dina, actor=kit.o.admin, expected_version=dina.version)

    request = kit.submit(version, actor=request_by)

    # Rina asks as head of export, so she is passed over too: the director decides.
    assert resolved(request) == [
        Resolved(
            kit.team.person("sari").pk,
            kit.o.director.pk,
            VIA_VACANT,
            from_position_id=kit.o.export_staff.pk,
        )
    ]


def test_auditors_and_partners_never_count_as_holders(kit):
    auditor = org.create_person(
        kit.o.organisation, actor=kit.o.admin, full_name="Aud", user=kit.o.auditor
    )
    org.assign_holder(
        kit.team.warehouse_head,
        actor=kit.o.admin,
        person=auditor,
        start_date=ENDED,
        is_acting=True,
    )
    end_holding(kit, "wawan", "WH-HEAD")

    request = kit.submit(
        kit.route({"rule": "position", "position": kit.team.warehouse_head})
    )

    assert [r.person_id for r in resolved(request)] == [kit.team.person("sari").pk]


def test_a_deactivated_named_person_passes_to_the_superior_of_their_position(kit):
    version = kit.route({"rule": "person", "person": kit.team.person("wawan")})
    wawan = Membership.objects.get(user=kit.team.wawan, is_active=True)
    membership.end_membership(wawan, actor=kit.o.admin, expected_version=wawan.version)

    request = kit.submit(version)

    assert resolved(request) == [
        Resolved(
            kit.team.person("sari").pk,
            kit.o.director.pk,
            VIA_VACANT,
            from_position_id=kit.team.warehouse_head.pk,
        )
    ]


# --- who is left out ---------------------------------------------------------------


def test_the_requester_is_never_an_approver_and_the_stage_passes_up(kit):
    # The clerks are Budi (no login) and Dina, who asks.
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.o.export_staff})
    )

    assert resolved(request) == [
        Resolved(
            kit.team.person("rina").pk,
            kit.o.export_head.pk,
            VIA_REQUESTER,
            from_position_id=kit.o.export_staff.pk,
        )
    ]


def test_the_requester_among_several_holders_leaves_the_others(kit):
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.team.qa}), actor=kit.team.ayu
    )

    assert {r.person_id for r in resolved(request)} == kit.ids("eko", "fajar")


def test_a_named_requester_passes_to_the_superior_of_their_position(kit):
    request = kit.submit(
        kit.route({"rule": "person", "person": kit.team.person("dina")})
    )

    assert resolved(request) == [
        Resolved(
            kit.team.person("rina").pk,
            kit.o.export_head.pk,
            VIA_REQUESTER,
            from_position_id=kit.o.export_staff.pk,
        )
    ]


def test_who_decided_at_an_earlier_stage_is_not_asked_again(kit):
    version = kit.route(
        {"rule": "superior"},
        {"rule": "position", "position": kit.o.export_head},
    )
    request = kit.submit(version)
    kit.decide(request, kit.team.rina)

    assert kit.approvers(request, 2) == kit.ids("sari")
    assert resolved(request, 2) == [
        Resolved(
            kit.team.person("sari").pk,
            kit.o.director.pk,
            VIA_REPEAT,
            from_position_id=kit.o.export_head.pk,
        )
    ]


def test_a_route_that_allows_it_asks_the_same_person_again(kit):
    version = kit.route(
        {"rule": "superior"},
        {"rule": "position", "position": kit.o.export_head},
        allow_repeat=True,
    )
    request = kit.submit(version)
    kit.decide(request, kit.team.rina)

    assert kit.approvers(request, 2) == kit.ids("rina")


# --- the requester's position ---------------------------------------------------------


def test_a_requester_holding_several_positions_names_the_one_they_ask_from(kit):
    org.assign_holder(
        kit.team.warehouse_head,
        actor=kit.o.admin,
        person=kit.team.person("dina"),
        start_date=START_ACTING,
        is_acting=True,
    )
    version = kit.route({"rule": "superior"})

    with pytest.raises(ValidationFailed) as refused:
        kit.submit(version)
    assert list(refused.value.errors) == ["requester_position"]

    request = kit.submit(version, requester_position=kit.team.warehouse_head)
    assert request.requester_position_id == kit.team.warehouse_head.pk
    assert kit.approvers(request, 1) == kit.ids("sari")


START_ACTING = dt.date(2026, 1, 15)


def test_a_position_the_requester_does_not_hold_is_refused(kit):
    with pytest.raises(ValidationFailed) as refused:
        kit.submit(kit.route({"rule": "superior"}), requester_position=kit.team.qa)

    assert list(refused.value.errors) == ["requester_position"]


# --- records and cost ------------------------------------------------------------------


def test_every_resolution_is_recorded_with_its_cause(kit):
    request = kit.submit(kit.route({"rule": "superior"}))

    record = Resolution.objects.get(request_stage__request=request)
    assert (record.cause, record.round, record.at) == (
        ResolutionCause.OPENED,
        1,
        SUBMITTED,
    )
    assert [a["person"] for a in record.approvers] == [kit.team.person("rina").pk]


def test_resolving_costs_the_same_few_queries_whatever_the_depth(
    kit, django_assert_num_queries
):
    # A line of seven vacant positions under the director, and one of two.
    admin, organisation = kit.o.admin, kit.o.organisation
    parent = kit.o.director
    line = []
    for n in range(7):
        parent = org.create_position(
            organisation,
            actor=admin,
            party=kit.o.head_office,
            title=f"Level {n}",
            code=f"L{n}",
            superior=parent,
        )
        line.append(parent)
    deep = kit.submit(kit.route({"rule": "position", "position": line[-1]}))
    shallow = kit.submit(kit.route({"rule": "position", "position": line[1]}))

    for request in (deep, shallow):
        stage = Kit.stage(request, 1)
        stage.request = ApprovalRequest.objects.select_related(
            "organisation", "route_version"
        ).get(pk=request.pk)
        # the superior chain, its holders, the repeat approvers
        with django_assert_num_queries(3):
            found = Resolver(request.organisation, at=DECIDED).resolve(stage)
        assert [r.person_id for r in found] == [kit.team.person("sari").pk]
        assert found[0].from_position_id == stage.stage.position_id


def test_via_codes_are_worded_in_the_readers_language():
    with translation.override("en"):
        assert (
            via_text(VIA_VACANT, position="Director", from_position="Head of export")
            == "vacant: Head of export → holder of Director"
        )
        assert (
            via_text(VIA_ACTING, position="Head of export", acting=True)
            == "acting holder (Plt) of Head of export"
        )
        assert via_text(VIA_NAMED) == "named in the route"


def test_a_stage_that_needs_more_approvals_than_approvers_is_refused(kit):
    version = kit.route(
        {"rule": "position", "position": kit.team.qa, "mode": "quorum", "quorum": 3}
    )

    with pytest.raises(ValidationFailed) as refused:
        kit.submit(version, actor=kit.team.ayu)

    assert refused.value.code == "quorum_unreachable"
    assert not ApprovalRequest.objects.exists()
