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


def test_the_chart_is_a_tree_with_holders_and_vacancies_in_five_queries(
    acme, django_assert_num_queries
):
    access = access_for(acme.member, "acme")

    with django_assert_num_queries(5):
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

    with django_assert_num_queries(5):
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


def test_the_chart_outline_counts_each_unit_without_loading_positions(
    acme, django_assert_num_queries
):
    # given a second, acting holder of the export clerk position and a holder who
    # holds two positions of the unit
    org.assign_holder(
        acme.export_staff,
        actor=acme.admin,
        person=acme.rina,
        start_date=JAN_1,
        is_acting=True,
    )
    access = access_for(acme.member, "acme")

    with django_assert_num_queries(3):
        outline = queries.chart_outline(access)

    by_name = {unit.party.name: unit for unit in outline.all_units()}
    assert {
        name: (u.position_count, u.vacancy_count, u.people_count, u.positions)
        for name, u in by_name.items()
    } == {
        "Head office": (1, 1, 0, []),
        "Export": (2, 1, 2, []),  # Rina twice, counted once; the acting one no seat
        "Warehouse": (0, 0, 0, []),
        "Fast Forwarding": (1, 0, 1, []),
    }
    assert (outline.position_count, outline.vacancy_count, outline.people_count) == (
        4,
        2,
        3,
    )
    assert sorted(stub.title for stub in outline.positions) == [
        "Director",
        "Export clerk",
        "Forwarder operations",
        "Head of export",
    ]
    head = next(s for s in outline.positions if s.title == "Head of export")
    assert (head.party_id, head.superior_id) == (acme.export.pk, acme.director.pk)


def test_chart_positions_loads_only_the_asked_units_or_positions(
    acme, django_assert_num_queries
):
    access = access_for(acme.member, "acme")

    with django_assert_num_queries(2):
        by_party = queries.chart_positions(access, party_ids=[acme.export.pk])
    with django_assert_num_queries(2):
        by_id = queries.chart_positions(access, position_ids=[acme.director.pk])

    assert list(by_party) == [acme.export.pk]
    head, clerk = by_party[acme.export.pk]
    assert (head.position, [h.person for h in head.holders]) == (
        acme.export_head,
        [acme.rina],
    )
    assert (head.superior_title, head.superior_visible) == ("Director", True)
    assert (clerk.superior_title, clerk.vacancies) == ("Head of export", 1)
    assert [item.position for item in by_id[acme.head_office.pk]] == [acme.director]


def test_a_partner_sees_no_superior_outside_their_party_in_the_chart(acme):
    org.move_position(
        acme.forwarder_ops,
        actor=acme.admin,
        expected_version=None,
        superior=acme.export_head,
    )

    partner = queries.chart_positions(access_for(acme.partner, "acme"))
    member = queries.chart_positions(access_for(acme.member, "acme"))

    assert list(partner) == [acme.forwarder.pk]
    assert not partner[acme.forwarder.pk][0].superior_visible
    assert member[acme.forwarder.pk][0].superior_visible


def test_chart_matches_finds_positions_by_title_code_or_holder_in_one_query(
    acme, django_assert_num_queries
):
    member = access_for(acme.member, "acme")

    with django_assert_num_queries(1):
        by_holder = queries.chart_matches(member, "rina k")

    assert by_holder == {acme.export.pk: {acme.export_head.pk}}
    assert queries.chart_matches(member, "CLERK") == {
        acme.export.pk: {acme.export_staff.pk}
    }
    assert queries.chart_matches(member, "e", party_id=acme.head_office.pk) == {
        acme.head_office.pk: {acme.director.pk}
    }
    assert queries.chart_matches(member, "nobody") == {}
    # a partner finds nothing outside their party, and a past holder is no match
    assert queries.chart_matches(access_for(acme.partner, "acme"), "rina") == {}
    holding = Holding.objects.get(position=acme.forwarder_ops)
    org.end_holding(holding, actor=acme.admin, end_date=JAN_1, expected_version=None)
    assert queries.chart_matches(member, "joko") == {}


def test_holders_of_lists_current_active_holders_acting_included(
    acme, django_assert_num_queries
):  # type: ignore[no-untyped-def]
    """Definitive and acting holders on the day count; ended holdings, later
    holdings and deactivated people do not; positions without holders are absent."""
    acting = org.create_person(acme.organisation, actor=acme.admin, full_name="Sari")
    org.assign_holder(
        acme.director,
        actor=acme.admin,
        person=acting,
        start_date=JAN_1,
        is_acting=True,
    )
    later = org.create_person(acme.organisation, actor=acme.admin, full_name="Dewi")
    org.assign_holder(
        acme.export_staff,
        actor=acme.admin,
        person=later,
        start_date=dt.date(2026, 3, 1),
    )
    gone = org.create_person(acme.organisation, actor=acme.admin, full_name="Agus")
    org.assign_holder(
        acme.export_head,
        actor=acme.admin,
        person=gone,
        start_date=JAN_1,
        end_date=dt.date(2026, 1, 31),
        is_acting=True,
    )
    Person.objects.filter(pk=acme.joko.pk).update(is_active=False)
    positions = [
        acme.director.pk,
        acme.export_head.pk,
        acme.export_staff.pk,
        acme.forwarder_ops.pk,
        None,
    ]
    with django_assert_num_queries(1):
        found = queries.holders_of(acme.organisation, positions, on=dt.date(2026, 2, 1))
    assert dict(found) == {
        acme.director.pk: [acting.pk],
        acme.export_head.pk: [acme.rina.pk],
        acme.export_staff.pk: [acme.budi.pk],
    }
    with django_assert_num_queries(0):
        assert queries.holders_of(acme.organisation, [None], on=JAN_1) == {}
