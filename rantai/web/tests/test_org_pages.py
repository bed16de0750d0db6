"""The organisation pages: who may read and change what, what the pages show, and
that every refused change writes nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rantai.accounts.models import Organisation
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.org import queries
from rantai.org import services as org
from rantai.org.models import Duty, Holding, Party, PartyKind, Person, Position
from rantai.testing import SmallOrg

CONFLICT = "This record was changed by someone else in the meantime."
START = dt.date(2026, 1, 1)


def url(name: str, small: SmallOrg, *args: object) -> str:
    return reverse(name, args=[small.organisation.slug, *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def assert_csp_clean(response) -> None:  # type: ignore[no-untyped-def]
    """No inline styles, inline scripts or inline event handlers (the CSP forbids
    them)."""
    html = text(response)
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert re.search(r"\son[a-z]+=", html) is None


def row_titles(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The names in the first column of a list page's table."""
    return re.findall(r'<th scope="row"><a [^>]*>([^<]+)</a>', text(response))


def snapshot() -> dict[str, list[tuple]]:
    """Every organisation row that a page could change, for 'nothing changed' checks."""
    return {
        "parties": list(Party.objects.order_by("pk").values_list()),
        "positions": list(Position.objects.order_by("pk").values_list()),
        "duties": list(Duty.objects.order_by("pk").values_list()),
        "people": list(Person.objects.order_by("pk").values_list()),
        "holdings": list(Holding.objects.order_by("pk").values_list()),
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
    }


# --- reading ---------------------------------------------------------------------


def reading_pages(acme: SmallOrg) -> list[tuple[str, list[str]]]:
    return [
        (
            url("org-chart", acme),
            [
                "Head office",
                "Export",
                "Warehouse",
                "Head of export",
                "Rina Kusuma",
                "Export clerk",
                "Budi Santoso",
                "Fast Forwarding",
                "Joko Susilo",
            ],
        ),
        (
            url("org-chart", acme) + "?view=lines",
            ["Director", "Head of export", "Export clerk", "Forwarder operations"],
        ),
        (
            url("party-detail", acme, acme.export.pk),
            [
                "Export",
                "Head office",
                "Head of export",
                "Export clerk",
                "Rina Kusuma",
                "Budi Santoso",
            ],
        ),
        (
            url("position-detail", acme, acme.export_head.pk),
            [
                "Head of export",
                "Director",
                "Price shipping",
                "quotation",
                "Rina Kusuma",
                "Export clerk",
            ],
        ),
        (
            url("person-detail", acme, acme.rina.pk),
            ["Rina Kusuma", "Head of export", "Export"],
        ),
        (
            url("person-list", acme),
            ["Rina Kusuma", "Budi Santoso", "Joko Susilo", "Head of export"],
        ),
        (
            url("position-list", acme),
            ["Director", "Head of export", "Export clerk", "Forwarder operations"],
        ),
        (
            url("audit-history", acme, "org.position", acme.export_head.pk),
            ["Head of export", "created", "Price shipping"],
        ),
    ]


@pytest.mark.parametrize("role", ["admin", "member", "auditor"])
def test_every_reading_page_shows_the_organisation_to_its_members(client, acme, role):
    client.force_login(getattr(acme, role))
    for page, names in reading_pages(acme):
        response = client.get(page)
        assert response.status_code == 200, page
        for name in names:
            assert name in text(response), (page, name)
        assert_csp_clean(response)


def test_the_chart_marks_acting_holders_vacancies_and_partners(client, acme):
    # given an acting holder (Plt) of the otherwise vacant director position
    org.assign_holder(
        acme.director,
        actor=acme.admin,
        person=acme.budi,
        start_date=START,
        is_acting=True,
    )
    client.force_login(acme.member)

    html = text(client.get(url("org-chart", acme)))

    director_card = html[html.index(">Director<") :][:800]
    assert "Plt" in director_card and "Budi Santoso" in director_card
    assert "vacant" in director_card  # an acting holder does not fill the seat
    assert 'class="badge badge-partner"' in html
    # counts: 4 positions; vacancies: director 1 + export clerk 1 = 2; 3 people
    assert re.search(r"<dt>Positions</dt><dd>4</dd>", html)
    assert re.search(r"<dt>Vacancies</dt><dd>2</dd>", html)
    assert re.search(r"<dt>People in positions</dt><dd>3</dd>", html)


def test_the_chart_filter_keeps_matching_positions_and_their_units(client, acme):
    client.force_login(acme.member)

    html = text(client.get(url("org-chart", acme), {"q": "clerk"}))

    assert "Export clerk" in html and "Head office" in html  # the unit line above it
    assert "Director" not in html
    assert "Fast Forwarding" not in html
    assert "1 position shown for “clerk”." in html


def test_the_chart_filter_answers_htmx_with_only_the_results(client, acme):
    client.force_login(acme.member)

    response = client.get(
        url("org-chart", acme),
        {"q": "Rina"},
        headers={"HX-Request": "true", "HX-Target": "chart-results"},
    )

    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<div id="chart-results">')
    assert "<html" not in html and "Rina Kusuma" in html
    assert "HX-Request" in response["Vary"]


def test_deactivated_units_show_only_to_admins_and_auditors_who_ask(client, acme):
    org.deactivate_party(acme.warehouse, actor=acme.admin, expected_version=None)
    chart = url("org-chart", acme)

    client.force_login(acme.admin)
    assert "Warehouse" not in text(client.get(chart))
    assert "Warehouse" in text(client.get(chart, {"inactive": "1"}))
    client.force_login(acme.auditor)
    assert "Warehouse" in text(client.get(chart, {"inactive": "1"}))
    client.force_login(acme.member)
    assert "Warehouse" not in text(client.get(chart, {"inactive": "1"}))


def test_the_position_page_shows_holders_in_time_and_the_superior_line(client, acme):
    # given a chair above the director, a past and a future holder of the head of export
    chair = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.head_office,
        title="Chair",
        code="CHAIR",
    )
    org.move_position(
        acme.director, actor=acme.admin, expected_version=None, superior=chair
    )
    former = org.create_person(
        acme.organisation, actor=acme.admin, full_name="Sri Former"
    )
    org.assign_holder(
        acme.export_head,
        actor=acme.admin,
        person=former,
        start_date=dt.date(2024, 1, 1),
        end_date=dt.date(2025, 12, 31),
    )
    successor = org.create_person(
        acme.organisation, actor=acme.admin, full_name="Tono Next"
    )
    org.assign_holder(
        acme.export_head,
        actor=acme.admin,
        person=successor,
        start_date=dt.date(2099, 1, 1),
        is_acting=True,
    )
    client.force_login(acme.member)

    html = text(client.get(url("position-detail", acme, acme.export_head.pk)))

    line = html[html.index('aria-label="Superior line"') :][:1000]
    assert line.index("Chair") < line.index("Director") < line.index("Head of export")
    current = html[
        html.index("Current holders") : html.index("Appointed from a later date")
    ]
    assert "Rina Kusuma" in current and "Sri Former" not in current
    assert "Tono Next" in html[html.index("Appointed from a later date") :]
    assert "1 former holder" in html and "Sri Former" in html
    # the history box includes the position's holders and duties
    history = html[html.index('id="history-title"') :]
    assert "Holder" in history and "Duty" in history


def test_the_person_page_hides_contact_details_from_partners(client, acme):
    org.update_person(
        acme.joko,
        actor=acme.admin,
        expected_version=None,
        email="joko@fwd.test",
        employee_number="F-7",
    )
    page = url("person-detail", acme, acme.joko.pk)

    client.force_login(acme.admin)
    html = text(client.get(page))
    assert "joko@fwd.test" in html and "F-7" in html and "Can log in" in html

    client.force_login(acme.partner)
    html = text(client.get(page))
    assert "Joko Susilo" in html
    assert "joko@fwd.test" not in html and "F-7" not in html  # also not in the history
    assert "Forwarder operations" in html


def test_the_people_list_is_searchable_and_paginated(client, acme):
    for number in range(30):
        org.create_person(
            acme.organisation, actor=acme.admin, full_name=f"Zed {number:02}"
        )
    client.force_login(acme.member)

    first = text(client.get(url("person-list", acme), {"q": "zed"}))
    second = text(client.get(url("person-list", acme), {"q": "zed", "page": "2"}))

    assert "30 people" in first and "Page 1 of 2" in first
    assert "Zed 00" in first and "Zed 24" in first and "Zed 25" not in first
    assert "Zed 25" in second and "Zed 29" in second and "Rina Kusuma" not in second
    # the next-page link is a plain link too (htmx only enhances it)
    assert 'href="/o/acme/people/?q=zed&amp;page=2"' in first


def test_the_positions_list_filters_by_party_and_vacancy(client, acme):
    client.force_login(acme.member)
    positions = url("position-list", acme)

    vacant = row_titles(client.get(positions, {"vacant": "1"}))
    by_party = row_titles(client.get(positions, {"party": acme.export.pk}))
    searched = row_titles(client.get(positions, {"q": "forwarder"}))

    assert vacant == ["Director", "Export clerk"]  # 0 of 1 and 1 of 2 holders
    assert by_party == ["Export clerk", "Head of export"]
    assert searched == ["Forwarder operations"]


# --- partners and other organisations ---------------------------------------------


def test_a_partner_sees_only_their_own_party(client, acme):
    client.force_login(acme.partner)

    chart = text(client.get(url("org-chart", acme)))
    assert "Fast Forwarding" in chart and "Forwarder operations" in chart
    assert "Joko Susilo" in chart
    assert "Head office" not in chart and "Rina Kusuma" not in chart
    for page in (
        url("party-detail", acme, acme.forwarder.pk),
        url("position-detail", acme, acme.forwarder_ops.pk),
        url("person-detail", acme, acme.joko.pk),
        url("audit-history", acme, "org.position", acme.forwarder_ops.pk),
    ):
        assert client.get(page).status_code == 200, page
    for page in (
        url("party-detail", acme, acme.export.pk),
        url("position-detail", acme, acme.export_head.pk),
        url("person-detail", acme, acme.rina.pk),
        url("audit-history", acme, "org.position", acme.export_head.pk),
        url("audit-history", acme, "accounts.organisation", acme.organisation.pk),
    ):
        assert client.get(page).status_code == 404, page
    assert row_titles(client.get(url("person-list", acme))) == ["Joko Susilo"]
    assert row_titles(client.get(url("position-list", acme))) == [
        "Forwarder operations"
    ]


def test_a_partner_does_not_see_a_superior_outside_their_party(client, acme):
    # given the forwarder's position reports to the head of export
    org.move_position(
        acme.forwarder_ops,
        actor=acme.admin,
        expected_version=None,
        superior=acme.export_head,
    )
    client.force_login(acme.partner)

    position = text(client.get(url("position-detail", acme, acme.forwarder_ops.pk)))
    chart = text(client.get(url("org-chart", acme)))
    lines = text(client.get(url("org-chart", acme), {"view": "lines"}))

    assert "outside your party" in position
    for html in (position, chart, lines):
        assert "Head of export" not in html and "Director" not in html
        assert "Forwarder operations" in html


def test_another_organisation_and_its_objects_are_not_found(client, acme, other_org):
    client.force_login(acme.admin)

    assert client.get(url("org-chart", other_org)).status_code == 404
    for page in (
        url("party-detail", acme, other_org.export.pk),
        url("position-detail", acme, other_org.export_head.pk),
        url("person-detail", acme, other_org.rina.pk),
        url("party-edit", acme, other_org.export.pk),
        url("audit-history", acme, "org.position", other_org.export_head.pk),
    ):
        assert client.get(page).status_code == 404, page


def test_the_audit_log_is_for_admins_and_auditors(client, acme):
    log = url("audit-log", acme)
    for user in (acme.admin, acme.auditor):
        client.force_login(user)
        response = client.get(log)
        assert response.status_code == 200
        assert "Verify the chain" in text(response)
    for user in (acme.member, acme.partner):
        client.force_login(user)
        assert client.get(log).status_code == 403
        assert client.post(url("audit-verify", acme)).status_code == 403


def test_verifying_the_chain_reports_intact_and_broken_chains(client, acme):
    client.force_login(acme.auditor)
    head = acme.organisation.audit_sequence

    intact = text(client.post(url("audit-verify", acme)))
    assert "The chain is intact." in intact
    assert f"{head} events checked" in intact

    # when someone removes the last event's trace from the head
    Organisation.objects.filter(pk=acme.organisation.pk).update(audit_sequence=head + 1)
    broken = text(client.post(url("audit-verify", acme)))
    assert "The chain is broken." in broken
    assert f"First broken event: #{head + 1}." in broken
    assert "events at the end were removed or added" in broken
    # and a checkpoint that is not one is refused with its reason
    refused = text(client.post(url("audit-verify", acme), {"checkpoint": "nonsense"}))
    assert "The checkpoint is not valid" in refused


def test_the_audit_log_pages_stay_on_the_log_after_a_verification(client, acme):
    for number in range(60):
        org.create_person(acme.organisation, actor=acme.admin, full_name=f"P {number}")
    client.force_login(acme.admin)

    html = text(client.post(url("audit-verify", acme)))

    assert "The chain is intact." in html
    assert f'href="{url("audit-log", acme)}?page=2"' in html


def test_histories_show_old_and_new_values_and_redacted_personal_data(client, acme):
    org.update_party(
        acme.export, actor=acme.admin, expected_version=None, name="Exports"
    )
    client.force_login(acme.auditor)

    html = text(client.get(url("party-detail", acme, acme.export.pk)))
    assert "<del>Export</del>" in html and "<ins>Exports</ins>" in html
    assert "Head office" in html  # the parent named, not numbered

    person_events = AuditEvent.objects.filter(
        target_type="org.person", target_id=str(acme.budi.pk)
    ).values_list("pk", flat=True)
    audit.redact_personal_data(person_events)
    html = text(client.get(url("audit-history", acme, "org.person", acme.budi.pk)))
    assert "redacted" in html and "Personal data of this event was redacted." in html


# --- administrators change the organisation ---------------------------------------


def test_an_admin_creates_edits_moves_and_deactivates_a_unit(client, acme, audit_trail):
    client.force_login(acme.admin)
    trail = audit_trail(acme.organisation)

    response = client.post(
        url("party-create", acme),
        {
            "kind": PartyKind.INTERNAL_UNIT,
            "name": "Quality",
            "code": "QA",
            "parent": acme.export.pk,
            "description": "Checks goods.",
        },
    )
    quality = Party.objects.get(organisation=acme.organisation, code="QA")
    assert response.status_code == 302
    assert response["Location"] == url("party-detail", acme, quality.pk)
    assert (quality.name, quality.parent_id, quality.kind, quality.description) == (
        "Quality",
        acme.export.pk,
        PartyKind.INTERNAL_UNIT,
        "Checks goods.",
    )

    client.post(
        url("party-edit", acme, quality.pk),
        {
            "name": "Quality control",
            "code": "QC",
            "description": "",
            "head_position": "",
            "version": quality.version,
        },
    )
    quality.refresh_from_db()
    assert (quality.name, quality.code, quality.version) == ("Quality control", "QC", 2)

    client.post(
        url("party-move", acme, quality.pk),
        {"parent": acme.warehouse.pk, "version": quality.version},
    )
    quality.refresh_from_db()
    assert (quality.parent_id, quality.version) == (acme.warehouse.pk, 3)

    response = client.post(
        url("party-deactivate", acme, quality.pk), {"version": quality.version}
    )
    quality.refresh_from_db()
    assert response.status_code == 302 and quality.is_active is False

    response = client.post(
        url("party-reactivate", acme, quality.pk), {"version": quality.version}
    )
    quality.refresh_from_db()
    assert response.status_code == 302 and quality.is_active is True
    assert [event.verb for event in trail.new_events()] == [
        AuditVerb.CREATED,
        AuditVerb.UPDATED,
        AuditVerb.MOVED,
        AuditVerb.DEACTIVATED,
        AuditVerb.REACTIVATED,
    ]


def test_an_admin_creates_an_external_partner(client, acme):
    client.force_login(acme.admin)

    response = client.post(
        url("party-create", acme),
        {"kind": PartyKind.EXTERNAL_PARTNER, "name": "Customer B", "code": "CUST-B"},
    )

    partner = Party.objects.get(organisation=acme.organisation, code="CUST-B")
    assert response.status_code == 302
    assert (partner.kind, partner.parent_id) == (PartyKind.EXTERNAL_PARTNER, None)


def test_moving_a_unit_under_its_own_sub_unit_is_refused(client, acme):
    client.force_login(acme.admin)
    before = snapshot()

    response = client.post(
        url("party-move", acme, acme.head_office.pk),
        {"parent": acme.export.pk, "version": acme.head_office.version},
    )

    assert response.status_code == 200
    assert "A unit cannot be placed under itself or one of its own sub-units." in text(
        response
    )
    assert snapshot() == before


def test_deactivating_a_unit_that_still_has_positions_is_refused(client, acme):
    client.force_login(acme.admin)
    before = snapshot()

    response = client.post(
        url("party-deactivate", acme, acme.export.pk), {"version": acme.export.version}
    )

    assert response.status_code == 200
    assert "Move or deactivate its 2 active positions first." in text(response)
    assert snapshot() == before


def test_a_stale_edit_shows_the_conflict_and_writes_nothing(client, acme):
    client.force_login(acme.admin)
    stale = acme.export.version
    org.update_party(
        acme.export, actor=acme.admin, expected_version=stale, name="Exports"
    )
    before = snapshot()

    response = client.post(
        url("party-edit", acme, acme.export.pk),
        {"name": "Export dept", "code": "EXP", "description": "", "version": stale},
    )

    assert response.status_code == 409
    assert CONFLICT in text(response)
    assert snapshot() == before
    assert Party.objects.get(pk=acme.export.pk).name == "Exports"


def test_an_admin_creates_edits_and_moves_a_position(client, acme):
    client.force_login(acme.admin)

    response = client.post(
        url("position-create", acme),
        {
            "party": acme.warehouse.pk,
            "title": "Head of warehouse",
            "code": "WH-HEAD",
            "superior": acme.director.pk,
            "max_holders": "1",
            "job_summary": "Runs it.",
        },
    )
    head = Position.objects.get(organisation=acme.organisation, code="WH-HEAD")
    assert response["Location"] == url("position-detail", acme, head.pk)
    assert (head.party_id, head.superior_id, head.max_holders, head.job_summary) == (
        acme.warehouse.pk,
        acme.director.pk,
        1,
        "Runs it.",
    )

    client.post(
        url("position-edit", acme, head.pk),
        {
            "title": "Warehouse manager",
            "code": "WH-MGR",
            "max_holders": "2",
            "job_summary": "Runs the warehouse.",
            "version": head.version,
        },
    )
    head.refresh_from_db()
    assert (head.title, head.code, head.max_holders, head.version) == (
        "Warehouse manager",
        "WH-MGR",
        2,
        2,
    )

    client.post(
        url("position-move", acme, head.pk),
        {
            "party": acme.export.pk,
            "superior": acme.export_head.pk,
            "version": head.version,
        },
    )
    head.refresh_from_db()
    assert (head.party_id, head.superior_id) == (acme.export.pk, acme.export_head.pk)


def test_a_cycle_in_the_superior_line_is_refused_on_the_form(client, acme):
    client.force_login(acme.admin)
    before = snapshot()

    response = client.post(
        url("position-move", acme, acme.director.pk),
        {
            "party": acme.head_office.pk,
            "superior": acme.export_staff.pk,
            "version": acme.director.version,
        },
    )

    assert response.status_code == 200
    assert "a cycle in the superior line" in text(response)
    assert 'aria-invalid="true"' in text(response)
    assert snapshot() == before


def test_lowering_the_number_of_holders_below_the_current_ones_is_refused(client, acme):
    org.assign_holder(
        acme.export_staff, actor=acme.admin, person=acme.joko, start_date=START
    )
    client.force_login(acme.admin)
    before = snapshot()

    response = client.post(
        url("position-edit", acme, acme.export_staff.pk),
        {
            "title": "Export clerk",
            "code": "EXP-CLERK",
            "max_holders": "1",
            "job_summary": "",
            "version": acme.export_staff.version,
        },
    )

    assert response.status_code == 200
    assert "The position has 2 current holders; end some holdings first." in text(
        response
    )
    assert snapshot() == before


def test_deactivating_a_position_with_holders_is_refused_and_an_empty_one_is_not(
    client, acme
):
    client.force_login(acme.admin)
    before = snapshot()

    refused = client.post(
        url("position-deactivate", acme, acme.export_head.pk),
        {"version": acme.export_head.version},
    )
    assert refused.status_code == 200
    assert "End its 1 current holdings first." in text(refused)
    assert snapshot() == before

    spare = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.export,
        title="Spare",
        code="SPARE",
    )
    client.post(url("position-deactivate", acme, spare.pk), {"version": spare.version})
    spare.refresh_from_db()
    assert spare.is_active is False


def test_a_second_definitive_holder_of_a_single_holder_position_is_refused(
    client, acme
):
    client.force_login(acme.admin)
    before = snapshot()

    response = client.post(
        url("holding-create", acme, acme.export_head.pk),
        {"person": acme.budi.pk, "start_date": "2026-03-01", "end_date": ""},
    )

    assert response.status_code == 200
    assert "The position already has a holder in that period (Rina Kusuma)." in text(
        response
    )
    assert snapshot() == before


def test_an_acting_holder_may_join_a_single_holder_position(client, acme):
    client.force_login(acme.admin)

    response = client.post(
        url("holding-create", acme, acme.export_head.pk),
        {
            "person": acme.budi.pk,
            "start_date": "2026-03-01",
            "end_date": "2026-06-30",
            "is_acting": "on",
        },
    )

    assert response.status_code == 302
    holding = Holding.objects.get(position=acme.export_head, person=acme.budi)
    assert (holding.start_date, holding.end_date, holding.is_acting) == (
        dt.date(2026, 3, 1),
        dt.date(2026, 6, 30),
        True,
    )


def test_dates_out_of_order_are_refused(client, acme):
    client.force_login(acme.admin)
    before = snapshot()

    response = client.post(
        url("holding-create", acme, acme.director.pk),
        {"person": acme.budi.pk, "start_date": "2026-03-01", "end_date": "2026-02-01"},
    )

    assert response.status_code == 200
    assert "The end date must not be before the start date." in text(response)
    assert snapshot() == before


def test_an_admin_edits_and_ends_a_holding(client, acme):
    client.force_login(acme.admin)
    holding = Holding.objects.get(position=acme.export_staff, person=acme.budi)

    client.post(
        url("holding-edit", acme, holding.pk),
        {"start_date": "2026-02-01", "end_date": "", "version": holding.version},
    )
    holding.refresh_from_db()
    assert (holding.start_date, holding.end_date, holding.is_acting) == (
        dt.date(2026, 2, 1),
        None,
        False,
    )

    client.post(
        url("holding-end", acme, holding.pk),
        {"end_date": "2026-04-30", "version": holding.version},
    )
    holding.refresh_from_db()
    assert holding.end_date == dt.date(2026, 4, 30)


def test_an_admin_adds_edits_and_deactivates_duties(client, acme):
    client.force_login(acme.admin)
    page = url("position-detail", acme, acme.export_head.pk)

    response = client.post(
        url("duty-create", acme, acme.export_head.pk),
        {"title": "Book the forwarder", "output_unit": "booking", "description": ""},
    )
    duty = Duty.objects.get(position=acme.export_head, title="Book the forwarder")
    assert response["Location"] == page + "#duties"
    assert (duty.output_unit, duty.sort_order) == ("booking", 20)

    client.post(
        url("duty-edit", acme, duty.pk),
        {
            "title": "Book the forwarder",
            "output_unit": "pickup",
            "description": "",
            "sort_order": "5",
            "version": duty.version,
        },
    )
    duty.refresh_from_db()
    assert (duty.output_unit, duty.sort_order) == ("pickup", 5)

    client.post(url("duty-deactivate", acme, duty.pk), {"version": duty.version})
    duty.refresh_from_db()
    assert duty.is_active is False
    # members no longer see it; the admin still does, marked deactivated
    client.force_login(acme.member)
    html = text(client.get(page))
    duties = html[
        html.index('id="duties-title"') : html.index('id="subordinates-title"')
    ]
    assert "Price shipping" in duties and "Book the forwarder" not in duties


def test_an_admin_creates_edits_and_deactivates_a_person(client, acme):
    client.force_login(acme.admin)

    response = client.post(
        url("person-create", acme),
        {
            "full_name": "Siti Aminah",
            "email": "Siti@Example.TEST",
            "employee_number": "E-9",
        },
    )
    siti = Person.objects.get(organisation=acme.organisation, full_name="Siti Aminah")
    assert response["Location"] == url("person-detail", acme, siti.pk)
    assert (siti.email, siti.employee_number, siti.user_id) == (
        "siti@example.test",
        "E-9",
        None,
    )

    client.post(
        url("person-edit", acme, siti.pk),
        {
            "full_name": "Siti Aminah",
            "email": "",
            "employee_number": "E-10",
            "party": acme.forwarder.pk,
            "user": "",
            "version": siti.version,
        },
    )
    siti.refresh_from_db()
    assert (siti.email, siti.employee_number, siti.party_id) == (
        "",
        "E-10",
        acme.forwarder.pk,
    )

    client.post(url("person-deactivate", acme, siti.pk), {"version": siti.version})
    siti.refresh_from_db()
    assert siti.is_active is False


def test_a_person_holding_a_position_cannot_be_deactivated(client, acme):
    client.force_login(acme.admin)
    before = snapshot()

    response = client.post(
        url("person-deactivate", acme, acme.rina.pk), {"version": acme.rina.version}
    )

    assert response.status_code == 200
    assert "End this person&#x27;s 1 current holdings first." in text(response)
    assert snapshot() == before


def test_dropdowns_offer_only_active_objects_of_the_same_organisation(
    client, acme, other_org
):
    org.deactivate_party(acme.warehouse, actor=acme.admin, expected_version=None)
    client.force_login(acme.admin)

    form = text(client.get(url("position-create", acme)))
    parties = re.search(r'<select name="party".*?</select>', form, re.S).group()
    offered = re.findall(r'<option value="(\d+)"', parties)
    assert offered == [
        str(p.pk) for p in (acme.export, acme.head_office, acme.forwarder)
    ]

    before = snapshot()
    response = client.post(
        url("position-create", acme),
        {
            "party": other_org.export.pk,
            "title": "Spy",
            "code": "SPY",
            "max_holders": "1",
        },
    )
    assert response.status_code == 200
    assert "Select a valid choice." in text(response)
    assert snapshot() == before


@pytest.mark.parametrize("role", ["member", "auditor", "partner"])
def test_only_admins_may_change_anything(client, acme, role):
    client.force_login(getattr(acme, role))
    before = snapshot()
    holding = Holding.objects.get(position=acme.export_head)
    duty = Duty.objects.get(position=acme.export_head)
    attempts = [
        (
            url("party-create", acme),
            {"kind": "internal_unit", "name": "X", "code": "X"},
        ),
        (
            url("party-edit", acme, acme.forwarder.pk),
            {"name": "X", "code": "X", "version": acme.forwarder.version},
        ),
        (url("party-move", acme, acme.export.pk), {"parent": "", "version": 1}),
        (url("party-deactivate", acme, acme.forwarder.pk), {"version": 1}),
        (url("party-reactivate", acme, acme.forwarder.pk), {"version": 1}),
        (
            url("position-create", acme),
            {"party": acme.forwarder.pk, "title": "X", "code": "X", "max_holders": "1"},
        ),
        (
            url("position-edit", acme, acme.forwarder_ops.pk),
            {"title": "X", "code": "X", "max_holders": "1", "version": 1},
        ),
        (
            url("position-move", acme, acme.forwarder_ops.pk),
            {"party": acme.forwarder.pk, "version": 1},
        ),
        (url("position-deactivate", acme, acme.forwarder_ops.pk), {"version": 1}),
        (
            url("duty-create", acme, acme.forwarder_ops.pk),
            {"title": "X", "output_unit": "x"},
        ),
        (
            url("duty-edit", acme, duty.pk),
            {"title": "X", "output_unit": "x", "sort_order": "1", "version": 1},
        ),
        (url("duty-deactivate", acme, duty.pk), {"version": 1}),
        (url("person-create", acme), {"full_name": "X"}),
        (url("person-edit", acme, acme.joko.pk), {"full_name": "X", "version": 1}),
        (url("person-deactivate", acme, acme.joko.pk), {"version": 1}),
        (
            url("holding-create", acme, acme.forwarder_ops.pk),
            {"person": acme.joko.pk, "start_date": "2026-01-01"},
        ),
        (
            url("holding-edit", acme, holding.pk),
            {"start_date": "2026-01-01", "version": 1},
        ),
        (
            url("holding-end", acme, holding.pk),
            {"end_date": "2026-01-01", "version": 1},
        ),
    ]
    for target, data in attempts:
        assert client.get(target).status_code == 403, target
        assert client.post(target, data).status_code == 403, target
    assert snapshot() == before


def test_writes_need_post(client, acme):
    client.force_login(acme.admin)
    before = snapshot()

    response = client.get(
        url("party-deactivate", acme, acme.warehouse.pk),
        {"version": acme.warehouse.version},
    )

    assert response.status_code == 200  # a confirmation page, not the change
    assert "Deactivate “Warehouse”" in text(response)
    assert snapshot() == before
    assert (
        client.put(url("party-deactivate", acme, acme.warehouse.pk)).status_code == 405
    )


def test_admin_forms_render_without_inline_styles_or_scripts(client, acme):
    client.force_login(acme.admin)
    holding = Holding.objects.get(position=acme.export_head)
    duty = Duty.objects.get(position=acme.export_head)
    for page in (
        url("party-create", acme),
        url("party-edit", acme, acme.export.pk),
        url("party-move", acme, acme.export.pk),
        url("party-deactivate", acme, acme.export.pk),
        url("position-create", acme),
        url("position-edit", acme, acme.export_head.pk),
        url("position-move", acme, acme.export_head.pk),
        url("position-reactivate", acme, acme.export_head.pk),
        url("duty-create", acme, acme.export_head.pk),
        url("duty-edit", acme, duty.pk),
        url("person-create", acme),
        url("person-edit", acme, acme.rina.pk),
        url("holding-create", acme, acme.export_head.pk),
        url("holding-edit", acme, holding.pk),
        url("holding-end", acme, holding.pk),
        url("audit-log", acme),
    ):
        response = client.get(page)
        assert response.status_code == 200, page
        assert_csp_clean(response)


# --- query counts -----------------------------------------------------------------


def grow(small: SmallOrg, size: int) -> None:
    """Add units, positions, people, holders and duties, and lengthen the superior
    line above the head of export."""
    organisation, admin = small.organisation, small.admin
    chair = org.create_position(
        organisation, actor=admin, party=small.head_office, title="Chair", code="CHAIR"
    )
    org.move_position(
        small.director, actor=admin, expected_version=None, superior=chair
    )
    for n in range(size):
        unit = org.create_party(
            organisation,
            actor=admin,
            kind=PartyKind.INTERNAL_UNIT,
            name=f"Unit {n}",
            code=f"U{n}",
            parent=small.export,
        )
        head = org.create_position(
            organisation,
            actor=admin,
            party=unit,
            title=f"Head {n}",
            code=f"H{n}",
            superior=small.export_head,
        )
        staff = org.create_position(
            organisation,
            actor=admin,
            party=unit,
            title=f"Staff {n}",
            code=f"S{n}",
            superior=head,
            max_holders=3,
        )
        org.create_duty(head, actor=admin, title=f"Duty {n}", output_unit="report")
        org.create_duty(
            small.export_head, actor=admin, title=f"Extra {n}", output_unit="x"
        )
        for position in (head, staff):
            person = org.create_person(
                organisation, actor=admin, full_name=f"Person {position.code}"
            )
            org.assign_holder(position, actor=admin, person=person, start_date=START)
        deputy = org.create_person(organisation, actor=admin, full_name=f"Deputy {n}")
        org.assign_holder(
            small.export_head,
            actor=admin,
            person=deputy,
            start_date=START + dt.timedelta(days=n),
            end_date=START + dt.timedelta(days=n),
            is_acting=True,
        )


def count_queries(client, page: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(page)
    assert response.status_code == 200
    return len(captured.captured_queries)


CHART_QUERIES = 8  # session, user, membership + outline (3) + positions (2)
POSITION_QUERIES = 15


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (lambda s: url("org-chart", s), CHART_QUERIES),
        (lambda s: url("org-chart", s) + "?view=lines&q=e", CHART_QUERIES),
        (lambda s: url("position-detail", s, s.export_head.pk), POSITION_QUERIES),
        (lambda s: url("party-detail", s, s.export.pk), None),
        (lambda s: url("person-list", s), None),
        (lambda s: url("position-list", s), None),
        (lambda s: url("audit-log", s) + "?type=org.position", None),
    ],
)
def test_query_counts_do_not_grow_with_the_organisation(
    client, acme, other_org, page, expected
):
    # given a small organisation and a bigger one, looked at by their admins
    grow(other_org, 12)
    client.force_login(acme.admin)
    small = count_queries(client, page(acme))
    client.force_login(other_org.admin)
    big = count_queries(client, page(other_org))

    assert small == big
    if expected is not None:
        assert small == expected


def test_the_chart_of_the_bigger_organisation_is_complete(client, other_org):
    grow(other_org, 3)
    client.force_login(other_org.admin)

    html = text(client.get(url("org-chart", other_org)))

    for name in ("Unit 0", "Unit 2", "Head 1", "Staff 2", "Person S2", "Chair"):
        assert name in html
    assert queries.chart(queries_access(other_org)).position_count == 4 + 1 + 3 * 2


def queries_access(small: SmallOrg):  # type: ignore[no-untyped-def]
    from rantai.accounts.access import access_for

    return access_for(small.admin, small.organisation.slug)


# --- a large organisation chart -----------------------------------------------------
# The thresholds are lowered so that a few positions make a "large" chart.


@pytest.fixture
def large_chart(monkeypatch, other_org):  # type: ignore[no-untyped-def]
    """The grown other organisation, charted as a large one: 11 positions; Head office
    (Chair, Director) and the partner (1) on top, Export (2) and Warehouse (0) below,
    Units 0-2 (Head n, Staff n) under Export."""
    from rantai.web.views import org as views

    grow(other_org, 3)
    monkeypatch.setattr(views, "CHART_FULL_MAX_POSITIONS", 5)
    monkeypatch.setattr(views, "CHART_OPEN_POSITIONS", 5)
    return other_org


def unit(small: SmallOrg, code: str) -> Party:
    return Party.objects.get(organisation=small.organisation, code=code)


def card_titles(html: str) -> list[str]:
    """The titles of the position cards."""
    return re.findall(r'<a class="position-title" href="[^"]*">([^<]+)</a>', html)


def unit_positions(client, small: SmallOrg, party: Party, **params: str):  # type: ignore[no-untyped-def]
    return client.get(
        url("org-chart-unit", small, party.pk),
        params,
        headers={"HX-Request": "true", "HX-Target": f"unit-positions-{party.pk}"},
    )


def test_a_small_chart_shows_every_unit_open_with_its_positions(client, other_org):
    grow(other_org, 3)
    client.force_login(other_org.member)

    html = text(client.get(url("org-chart", other_org)))

    units = re.findall(r'<details class="unit[^"]*"([^>]*)>', html)
    assert len(units) == 7 and all(attrs == " open" for attrs in units)
    assert "hx-get" not in html.split('id="chart-results"')[1]  # nothing to load
    assert "data-expand-all" in html
    for name in ("Head 0", "Staff 2", "Person S1", "Export clerk"):
        assert name in html


def test_a_large_chart_shows_every_unit_but_only_the_top_levels_positions(
    client, large_chart
):
    client.force_login(large_chart.member)
    unit0 = unit(large_chart, "U0")

    response = client.get(url("org-chart", large_chart))

    html = text(response)
    # every unit, with its counts, and the top two levels with their positions
    for name in ("Head office", "Export", "Warehouse", "Unit 0", "Unit 2"):
        assert f'<span class="unit-name">{name}</span>' in html
    for name in ("Chair", "Director", "Head of export", "Rina Kusuma", "Joko Susilo"):
        assert name in html
    assert re.search(r"<dt>Positions</dt><dd>11</dd>", html)
    # a unit below is closed, counts its positions, loads them when opened, and links
    # to its page for readers without JavaScript
    unit0_html = html[html.index('<span class="unit-name">Unit 0</span>') - 400 :]
    unit0_html = unit0_html[: unit0_html.index("</details>")]
    assert " open" not in unit0_html.split("<summary>")[0]
    assert (
        f'hx-get="{url("org-chart-unit", large_chart, unit0.pk)}" '
        f'hx-trigger="toggle once" hx-target="#unit-positions-{unit0.pk}"'
    ) in unit0_html
    assert (
        '2 positions · <span class="vacancy-text">2 vacancies</span> · 2 people'
        in unit0_html
    )
    unit0_page = url("party-detail", large_chart, unit0.pk)
    assert f'<a href="{unit0_page}">Open Unit 0</a>' in unit0_html
    for name in ("Head 0", "Staff 1", "Person H2"):
        assert name not in html
    assert "data-expand-all" not in html  # it would load every unit
    assert "only the top units show their positions" in html
    assert_csp_clean(response)


def test_opening_a_closed_unit_loads_its_position_cards(client, large_chart):
    client.force_login(large_chart.member)
    unit1 = unit(large_chart, "U1")

    response = unit_positions(client, large_chart, unit1)

    html = text(response)
    assert response.status_code == 200
    assert html.lstrip().startswith('<ul class="position-grid"')
    assert "<html" not in html
    assert card_titles(html) == ["Head 1", "Staff 1"]  # the head first
    assert "Person S1" in html and "Person H1" in html
    assert (
        f'reports to <a href="{url("position-detail", large_chart, large_chart.export_head.pk)}">'
        "Head of export</a>"
    ) in html
    assert "HX-Request" in response["Vary"]
    assert_csp_clean(response)


def test_a_units_position_cards_without_htmx_lead_to_the_units_page(
    client, large_chart
):
    client.force_login(large_chart.member)
    unit1 = unit(large_chart, "U1")

    response = client.get(url("org-chart-unit", large_chart, unit1.pk))

    assert response.status_code == 302
    assert response["Location"] == url("party-detail", large_chart, unit1.pk)


def test_a_units_position_cards_are_not_found_outside_the_callers_view(
    client, acme, large_chart
):
    # a partner: only their own party
    client.force_login(large_chart.partner)
    for party in (unit(large_chart, "U1"), large_chart.export):
        assert unit_positions(client, large_chart, party).status_code == 404
    own = unit_positions(client, large_chart, large_chart.forwarder)
    assert own.status_code == 200 and "Forwarder operations" in text(own)
    # another organisation's unit, through this organisation's address or its own
    client.force_login(acme.member)
    assert unit_positions(client, acme, large_chart.export).status_code == 404
    assert unit_positions(client, large_chart, large_chart.export).status_code == 404
    assert client.get(url("org-chart-unit", acme, 999999)).status_code == 404


def test_a_deactivated_units_cards_are_only_for_admins_and_auditors_who_ask(
    client, large_chart
):
    org.deactivate_party(
        large_chart.warehouse, actor=large_chart.admin, expected_version=None
    )

    client.force_login(large_chart.member)
    assert unit_positions(client, large_chart, large_chart.warehouse).status_code == 404
    assert (
        unit_positions(
            client, large_chart, large_chart.warehouse, inactive="1"
        ).status_code
        == 404
    )
    client.force_login(large_chart.admin)
    assert unit_positions(client, large_chart, large_chart.warehouse).status_code == 404
    shown = unit_positions(client, large_chart, large_chart.warehouse, inactive="1")
    assert shown.status_code == 200 and "No positions." in text(shown)


def test_a_search_of_a_large_chart_opens_the_units_with_matches(client, large_chart):
    client.force_login(large_chart.member)

    html = text(client.get(url("org-chart", large_chart), {"q": "person s2"}))

    # the match and the units above it, open; nothing else
    assert "Staff 2" in html and "Person S2" in html
    assert '<span class="unit-name">Unit 2</span>' in html
    assert '<span class="unit-name">Export</span>' in html  # on the way
    for name in ("Unit 0", "Unit 1", "Warehouse", "Fast Forwarding", "Staff 1"):
        assert name not in html
    assert "Head of export" not in html.split('id="chart-results"')[1]
    assert "1 position shown for “person s2”." in html
    assert "hx-get=" not in html.split('id="chart-results"')[1]


def test_a_search_of_a_large_chart_shows_only_so_many_matches_inline(
    client, monkeypatch, large_chart
):
    from rantai.web.views import org as views

    monkeypatch.setattr(views, "CHART_MATCHES_INLINE", 1)
    client.force_login(large_chart.member)
    unit1 = unit(large_chart, "U1")

    html = text(client.get(url("org-chart", large_chart), {"q": "staff"}))

    # Staff 0 inline; Staff 1 and 2 wait in closed units, which load only the matches
    assert "Staff 0" in html and "Staff 1" not in html and "Staff 2" not in html
    assert "1 position shown for “staff”." in html
    assert "2 more matches are in the closed units below" in html
    assert f'hx-get="{url("org-chart-unit", large_chart, unit1.pk)}?q=staff"' in html
    loaded = unit_positions(client, large_chart, unit1, q="staff")
    assert card_titles(text(loaded)) == ["Staff 1"]
    # a unit whose name matches shows all its positions
    named = unit_positions(client, large_chart, unit1, q="unit 1")
    assert card_titles(text(named)) == ["Head 1", "Staff 1"]


def test_a_search_of_a_large_chart_finds_units_by_name(client, large_chart):
    client.force_login(large_chart.member)

    html = text(client.get(url("org-chart", large_chart), {"q": "U1"}))

    assert "Head 1" in html and "Staff 1" in html  # all of the unit's positions
    assert "Head 0" not in html and "Unit 2" not in html


def test_the_superior_lines_of_a_large_chart_show_the_top_and_count_the_rest(
    client, monkeypatch, large_chart
):
    from rantai.web.views import org as views

    monkeypatch.setattr(views, "CHART_OPEN_POSITIONS", 3)
    client.force_login(large_chart.member)

    response = client.get(url("org-chart", large_chart), {"view": "lines"})

    # Chair and the partner's position on top, the director below; the 8 positions
    # under the director are counted, with a link to the director's page
    html = text(response)
    for name in ("Chair", "Forwarder operations", "Director"):
        assert name in html
    for name in ("Head of export", "Head 0", "Staff 2"):
        assert name not in html
    assert (
        f'<a href="{url("position-detail", large_chart, large_chart.director.pk)}">'
        "8 more positions under this one</a>"
    ) in html
    assert_csp_clean(response)


def test_a_search_of_the_large_superior_lines_shows_the_matches_and_their_lines(
    client, large_chart
):
    client.force_login(large_chart.member)

    html = text(
        client.get(url("org-chart", large_chart), {"view": "lines", "q": "Staff 1"})
    )

    for name in ("Chair", "Director", "Head of export", "Head 1", "Staff 1"):
        assert name in html
    for name in ("Staff 0", "Head 0", "Export clerk", "Forwarder operations"):
        assert name not in html
    assert "1 position shown for “Staff 1”." in html


def test_a_partner_sees_only_their_party_in_a_large_chart(
    client, monkeypatch, large_chart
):
    from rantai.web.views import org as views

    # a partner's chart counts only their party's position: make it large too
    monkeypatch.setattr(views, "CHART_FULL_MAX_POSITIONS", 0)
    client.force_login(large_chart.partner)

    for params in ({}, {"q": "o"}, {"view": "lines"}, {"view": "lines", "q": "o"}):
        html = text(client.get(url("org-chart", large_chart), params))
        assert "Forwarder operations" in html, params
        for name in ("Head office", "Director", "Unit 0", "Rina Kusuma", "Staff"):
            assert name not in html, (params, name)


@pytest.mark.parametrize(
    ("page", "expected"),
    [
        (lambda s: url("org-chart", s), CHART_QUERIES),
        (lambda s: url("org-chart", s) + "?q=o", CHART_QUERIES + 1),
        (lambda s: url("org-chart", s) + "?view=lines", CHART_QUERIES),
        (lambda s: url("org-chart", s) + "?view=lines&q=o", CHART_QUERIES + 1),
        (lambda s: url("org-chart-unit", s, s.export.pk), 6),
        (lambda s: url("org-chart-unit", s, s.export.pk) + "?q=clerk", 7),
    ],
)
def test_query_counts_of_a_large_chart_do_not_grow_with_the_organisation(
    client, monkeypatch, acme, other_org, page, expected
):
    # given a small organisation and a bigger one, both charted as large ones
    from rantai.web.views import org as views

    grow(other_org, 12)
    monkeypatch.setattr(views, "CHART_FULL_MAX_POSITIONS", 3)
    htmx = {"HX-Request": "true"}

    def count(small: SmallOrg) -> int:
        client.force_login(small.admin)
        with CaptureQueriesContext(connection) as captured:
            response = client.get(page(small), headers=htmx)
        assert response.status_code == 200
        return len(captured.captured_queries)

    assert count(acme) == count(other_org) == expected
