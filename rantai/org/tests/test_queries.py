"""Reads of the organisation model, scoped by the caller's access."""

from __future__ import annotations

import datetime as dt

import pytest
from django.utils import timezone

from rantai.accounts.access import access_for
from rantai.core.errors import NotFound
from rantai.org import queries
from rantai.org import services as org
from rantai.org.models import Duty, Holding, Person

JAN_1 = dt.date(2026, 1, 1)


def names(qs, field: str = "pk") -> list:  # type: ignore[no-untyped-def]
    return sorted(qs.values_list(field, flat=True))


@pytest.fixture
def forwarder_world(acme):  # type: ignore[no-untyped-def]
    """Extra rows around the forwarder: a duty, a forwarder employee without a position,
    and an internal person acting in the forwarder's position."""
    ops_duty = org.create_duty(
        acme.forwarder_ops,
        actor=acme.admin,
        title="Pick up goods",
        output_unit="pickup",
    )
    driver = org.create_person(
        acme.organisation, actor=acme.admin, full_name="Wawan", party=acme.forwarder
    )
    org.assign_holder(
        acme.forwarder_ops,
        actor=acme.admin,
        person=acme.budi,
        start_date=JAN_1,
        is_acting=True,
    )
    return ops_duty, driver


def test_a_partner_sees_only_its_own_party(acme, other_org, forwarder_world):
    ops_duty, driver = forwarder_world
    access = access_for(acme.partner, "acme")

    assert names(queries.parties(access)) == [acme.forwarder.pk]
    assert names(queries.positions(access)) == [acme.forwarder_ops.pk]
    assert names(queries.duties(access)) == [ops_duty.pk]
    assert names(queries.people(access), "full_name") == [
        "Budi Santoso",
        "Joko Susilo",
        "Wawan",
    ]
    assert names(queries.holdings(access)) == sorted(
        Holding.objects.filter(position=acme.forwarder_ops).values_list("pk", flat=True)
    )
    assert driver.pk in names(queries.people(access))


def test_a_member_sees_the_whole_organisation_and_nothing_of_another(
    acme, other_org, forwarder_world
):
    access = access_for(acme.member, "acme")
    mine = acme.organisation

    assert names(queries.parties(access)) == names(mine.parties.all())
    assert names(queries.positions(access)) == names(mine.positions.all())
    assert names(queries.duties(access)) == names(
        Duty.objects.filter(organisation=mine)
    )
    assert names(queries.people(access)) == names(
        Person.objects.filter(organisation=mine)
    )
    assert names(queries.holdings(access)) == names(
        Holding.objects.filter(organisation=mine)
    )
    assert len(names(queries.parties(access))) == 4
    for qs in (
        queries.parties(access),
        queries.positions(access),
        queries.people(access),
    ):
        assert not qs.filter(organisation=other_org.organisation).exists()


def test_rows_outside_the_callers_view_are_not_found(acme, other_org):
    partner = access_for(acme.partner, "acme")
    member = access_for(acme.member, "acme")

    with pytest.raises(NotFound):
        queries.get_or_404(queries.positions(partner), acme.director.pk)
    with pytest.raises(NotFound):
        queries.get_or_404(queries.positions(member), other_org.director.pk)
    with pytest.raises(NotFound):
        queries.person_detail(partner, acme.rina.pk)
    with pytest.raises(NotFound):
        queries.position_detail(member, other_org.export_head.pk)
    for bad in ("abc", None, "", "1.5"):
        with pytest.raises(NotFound):
            queries.get_or_404(queries.positions(member), bad)
    assert queries.get_or_404(
        queries.positions(partner), str(acme.forwarder_ops.pk)
    ) == (acme.forwarder_ops)


def test_another_organisation_is_not_found_for_everyone(acme, other_org):
    for user in (acme.admin, acme.member, acme.auditor, acme.partner):
        with pytest.raises(NotFound):
            access_for(user, "globex")


def test_the_chart_is_a_tree_with_holders_and_vacancies_in_three_queries(
    acme, django_assert_num_queries
):
    access = access_for(acme.member, "acme")

    with django_assert_num_queries(3):
        chart = queries.chart(access)

    flat = queries.flatten(chart.units)
    assert [(unit.party.name, unit.depth) for unit in flat] == [
        ("Head office", 0),
        ("Export", 1),
        ("Warehouse", 1),
    ]
    assert [unit.party.name for unit in chart.partners] == ["Fast Forwarding"]
    # within a unit, positions reporting to a position outside it come first
    export = flat[1]
    assert [
        (cp.position.title, [h.person.full_name for h in cp.holders], cp.vacancies)
        for cp in export.positions
    ] == [("Head of export", ["Rina Kusuma"], 0), ("Export clerk", ["Budi Santoso"], 1)]
    # director vacant (1) + export clerk (1 of 2 filled)
    assert (chart.position_count, chart.vacancy_count, chart.people_count) == (4, 2, 3)


def test_a_partners_chart_shows_only_its_party(acme):
    chart = queries.chart(access_for(acme.partner, "acme"))

    assert chart.units == []
    assert [unit.party.name for unit in chart.partners] == ["Fast Forwarding"]
    assert (chart.position_count, chart.vacancy_count, chart.people_count) == (1, 0, 1)


def test_the_chart_query_count_does_not_grow_with_the_organisation(
    acme, django_assert_num_queries
):
    for number in range(5):
        unit = org.create_party(
            acme.organisation,
            actor=acme.admin,
            kind="internal_unit",
            name=f"Unit {number}",
            code=f"U{number}",
            parent=acme.export,
        )
        position = org.create_position(
            acme.organisation,
            actor=acme.admin,
            party=unit,
            title=f"Lead {number}",
            code=f"L{number}",
            superior=acme.export_head,
        )
        person = org.create_person(
            acme.organisation, actor=acme.admin, full_name=f"P{number}"
        )
        org.assign_holder(position, actor=acme.admin, person=person, start_date=JAN_1)
    access = access_for(acme.member, "acme")

    with django_assert_num_queries(3):
        chart = queries.chart(access)

    assert chart.position_count == 9


def test_the_position_detail_separates_current_past_and_future_holders(acme):
    # given the head of export: Rina until yesterday, Dian from today, Eko from next year
    today = timezone.localdate()
    rina = Holding.objects.get(position=acme.export_head)
    org.end_holding(
        rina,
        actor=acme.admin,
        expected_version=1,
        end_date=today - dt.timedelta(days=1),
    )
    dian = org.create_person(acme.organisation, actor=acme.admin, full_name="Dian")
    eko = org.create_person(acme.organisation, actor=acme.admin, full_name="Eko")
    org.assign_holder(
        acme.export_head,
        actor=acme.admin,
        person=dian,
        start_date=today,
        end_date=today + dt.timedelta(days=300),
    )
    org.assign_holder(
        acme.export_head,
        actor=acme.admin,
        person=eko,
        start_date=today + dt.timedelta(days=301),
    )

    detail = queries.position_detail(
        access_for(acme.auditor, "acme"), acme.export_head.pk
    )

    assert [h.person.full_name for h in detail.current_holders] == ["Dian"]
    assert [h.person.full_name for h in detail.past_holders] == ["Rina Kusuma"]
    assert [h.person.full_name for h in detail.future_holders] == ["Eko"]
    assert [d.title for d in detail.duties] == ["Price shipping"]
    assert [p.title for p in detail.subordinates] == ["Export clerk"]
    assert [p.title for p in detail.superior_line] == ["Director"]


def test_the_superior_line_runs_nearest_first(acme):
    assert [
        p.title
        for p in queries.superior_line(
            access_for(acme.member, "acme"), acme.export_staff
        )
    ] == [
        "Head of export",
        "Director",
    ]
    assert queries.superior_line(access_for(acme.member, "acme"), acme.director) == []


def test_the_person_detail_lists_only_holdings_the_caller_may_see(acme):
    # given Budi holds the export clerk position and acts for the forwarder
    org.assign_holder(
        acme.forwarder_ops,
        actor=acme.admin,
        person=acme.budi,
        start_date=JAN_1,
        is_acting=True,
    )

    as_member = queries.person_detail(access_for(acme.member, "acme"), acme.budi.pk)
    as_partner = queries.person_detail(access_for(acme.partner, "acme"), acme.budi.pk)

    assert sorted(h.position.title for h in as_member.current_holdings) == [
        "Export clerk",
        "Forwarder operations",
    ]
    assert [h.position.title for h in as_partner.current_holdings] == [
        "Forwarder operations"
    ]
