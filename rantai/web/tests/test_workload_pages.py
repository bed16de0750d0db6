"""The workload pages: the list of analyses, an analysis (its flow, its sheets with
every figure and its formula, the analyst's actions, downloads, import, charts), a
position's sheet (the entries form of its incumbents), the method settings, what
changed against the previous revision and one unit in two years — who sees and may
do what, that every form goes through the services, that refused or stale input
writes nothing and is explained in the user's language, that numbers are written
the user's way, and that the pages keep a fixed number of queries.

The team is the workload one (rantai/workload/tests/conftest.py `build_team`): Hana
(HR analyst) analyses Export; Dina and Budi (no login) are export clerks, Eko the
acting (Plt) documents officer, the export planner is vacant; Rina (head of
export) validates the export sheets and Sari (director) the head's sheet and the
analysis. The auditor reads; the partner sees nothing.
"""

from __future__ import annotations

import io
import re
import xml.etree.ElementTree as ET
from decimal import Decimal
from typing import Any

import openpyxl
import pytest
from django.urls import reverse
from django.utils import translation
from django.utils.translation import gettext

from rantai.accounts import services as accounts
from rantai.accounts.models import User
from rantai.approvals import services as approvals
from rantai.approvals.models import ApprovalRequest, Outcome, SubjectKind
from rantai.audit.models import AuditEvent
from rantai.org import services as org
from rantai.org.models import Position
from rantai.testing import make_user, small_org
from rantai.web.svg import PALETTE
from rantai.web.svg.workload import (
    Band,
    BarLabels,
    BarRow,
    Series,
    axis_end,
    nice_step,
    render_bars,
)
from rantai.web.tests.test_approval_pages import assert_csp_clean, count_queries
from rantai.workload import services
from rantai.workload.models import (
    Analysis,
    AnalysisStatus,
    Entry,
    PositionSheet,
    SheetStatus,
    WorkloadSettings,
)
from rantai.workload.tests.conftest import NOW, Team, build_team

CLERK = {
    "Prepare documents": ("1200", "year", "30", "minute"),
    "Book containers": ("20", "week", "15", "minute"),
}
HEAD = {
    "Price shipping": ("10", "week", "45", "minute"),
    "Approve shipments": ("300", "year", "1", "hour"),
}
PLANNER = {"Plan loadings": ("20", "month", "2", "hour")}
DOCUMENTS = {"Check certificates": ("2500", "year", "20", "minute")}
XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


@pytest.fixture
def team(db: Any) -> Team:
    return build_team(small_org("acme"))


@pytest.fixture
def analysis(team: Team) -> Analysis:
    return team.open()


def url(name: str, *args: object) -> str:
    return reverse(name, args=["acme", *args])


def text(response: Any) -> str:
    return str(response.content.decode())


def page(client: Any, user: User, address: str) -> str:
    client.force_login(user)
    response = client.get(address)
    assert response.status_code == 200, address
    assert_csp_clean(response)
    return text(response)


def section(html: str, element_id: str) -> str:
    assert f'id="{element_id}"' in html, element_id
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


def sheet_of(team: Team, analysis: Analysis, position: Any) -> PositionSheet:
    return team.sheet(analysis, position)


def entry(sheet: PositionSheet, title: str) -> Entry:
    return Entry.objects.get(sheet=sheet, title=title)


def add_position(
    team: Team, title: str, code: str, *, party: Any, superior: Any
) -> Position:
    """A new position of `party` under `superior`, made by the administrator."""
    return org.create_position(
        team.organisation,
        actor=team.admin,
        party=party,
        title=title,
        code=code,
        superior=superior,
    )


def forklift_sheet(team: Team) -> tuple[Any, Analysis, PositionSheet]:
    """A warehouse position with no duties yet, the warehouse's 2026 analysis,
    and the position's (empty) sheet."""
    empty = add_position(
        team,
        "Forklift driver",
        "WH-FL",
        party=team.acme.warehouse,
        superior=team.acme.director,
    )
    analysis = services.open_analysis(
        team.acme.warehouse, actor=team.hana, year=2026, now=NOW
    )
    return empty, analysis, sheet_of(team, analysis, empty)


def post_version(client: Any, name: str, analysis: Analysis, version: int) -> Any:
    """Post an analysis action's form with `version`."""
    return client.post(url(name, analysis.pk), {"version": version})


def entries_form(sheet: PositionSheet, **typed: tuple[str, str, str, str]) -> dict:
    """The sheet form's fields, every entry as it stands unless `typed` (by entry
    title, with spaces as underscores) gives (volume, period, time, unit)."""
    data: dict[str, str] = {}
    for item in Entry.objects.filter(sheet=sheet):
        figures = typed.get(item.title.replace(" ", "_"))
        if figures is None:
            figures = (
                "" if item.volume is None else str(item.volume),
                item.volume_period,
                "" if item.standard_time is None else str(item.standard_time),
                item.time_unit,
            )
        volume, period, standard_time, time_unit = figures
        data[f"version-{item.pk}"] = str(item.version)
        data[f"volume-{item.pk}"] = volume
        data[f"period-{item.pk}"] = period
        data[f"standard_time-{item.pk}"] = standard_time
        data[f"time_unit-{item.pk}"] = time_unit
    return data


def field_errors(html: str, name: str) -> list[str]:
    """The messages shown next to the form field `name`."""
    after = html.split(f'name="{name}"', 1)[1]
    cell = after.split("</td>", 1)[0]
    return re.findall(r"<li>(.*?)</li>", cell)


def request_of(kind: str, subject_id: int) -> ApprovalRequest:
    return ApprovalRequest.objects.filter(
        subject_kind=kind, subject_id=subject_id
    ).latest("id")


def validate_all(team: Team, analysis: Analysis) -> None:
    """Every sheet filled in, submitted and validated by its superior."""
    acme = team.acme
    for position, actor, figures, superior in (
        (acme.export_staff, team.dina, CLERK, team.rina),
        (acme.export_head, team.rina, HEAD, team.sari),
        (team.planner, team.hana, PLANNER, team.rina),
        (team.documents_officer, team.eko, DOCUMENTS, team.rina),
    ):
        sheet = team.fill(analysis, position, actor, figures)
        services.submit_sheet(sheet, actor=actor, expected_version=sheet.version)
        approvals.decide(
            request_of(SubjectKind.WORKLOAD_SHEET, sheet.pk),
            actor=superior,
            outcome=Outcome.APPROVE,
        )


def approve(team: Team, analysis: Analysis) -> Analysis:
    validate_all(team, analysis)
    analysis.refresh_from_db()
    services.submit_analysis(
        analysis, actor=team.hana, expected_version=analysis.version
    )
    approvals.decide(
        request_of(SubjectKind.WORKLOAD_ANALYSIS, analysis.pk),
        actor=team.sari,
        outcome=Outcome.APPROVE,
    )
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.APPROVED
    return analysis


def indonesian(user: User) -> User:
    return accounts.set_language(user, language="id")


def snapshot() -> dict[str, list[Any]]:
    return {
        "entries": list(Entry.objects.order_by("pk").values_list()),
        "sheets": list(PositionSheet.objects.order_by("pk").values_list()),
        "analyses": list(Analysis.objects.order_by("pk").values_list()),
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
    }


# --- who sees what ---------------------------------------------------------------------


def test_every_page_renders_for_each_role_and_partners_see_nothing(
    client, team, analysis
):
    approved = approve(team, analysis)
    revision = services.start_revision(approved, actor=team.hana)
    sheet = sheet_of(team, revision, team.acme.export_staff)
    pages = [
        url("workload-list"),
        url("workload-analysis", revision.pk),
        url("workload-sheet", revision.pk, sheet.pk),
        url("workload-compare", revision.pk),
        url("workload-periods"),
    ]
    readers = [team.admin, team.hana, team.dina, team.rina, team.acme.auditor]
    for user in readers:
        for address in pages:
            page(client, user, address)
    assert "Workload" in page(client, team.dina, url("workload-list"))

    # the method is the administrators' page
    page(client, team.admin, url("workload-settings"))
    for user in (team.hana, team.dina, team.acme.auditor):
        client.force_login(user)
        assert client.get(url("workload-settings")).status_code == 403

    # partners and outsiders: nothing, not even the menu entry
    for user in (team.acme.partner, make_user("stranger")):
        client.force_login(user)
        for address in [*pages, url("workload-settings"), url("workload-open")]:
            assert client.get(address).status_code == 404, address
    client.force_login(team.acme.partner)
    assert url("workload-list") not in text(client.get(url("focus")))


def list_rows(html: str) -> list[str]:
    """The units of the list's rows, in order."""
    results = html.split('id="list-results"', 1)[1]
    return re.findall(r'<th scope="row"><a href="[^"]+">([^<]+)</a>', results)


def test_the_list_filters_by_year_unit_and_status(client, team, analysis):
    services.open_analysis(team.acme.warehouse, actor=team.hana, year=2027, now=NOW)
    html = page(client, team.acme.auditor, url("workload-list"))
    assert list_rows(html) == ["Warehouse", "Export"]  # newest year first
    assert "2 analyses" in html
    html = page(client, team.acme.auditor, url("workload-list") + "?year=2027")
    assert list_rows(html) == ["Warehouse"] and "1 analysis" in html
    html = page(
        client,
        team.acme.auditor,
        url("workload-list") + f"?unit={team.acme.export.pk}&status=approved",
    )
    assert list_rows(html) == [] and "No analysis matches." in html
    # an htmx filter gets only the results
    response = client.get(
        url("workload-list") + "?year=2026",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="list-results",
    )
    assert text(response).lstrip().startswith('<div id="list-results">')
    assert list_rows(text(response)) == ["Export"]
    # read-only roles get no "open" button
    assert url("workload-open") not in html
    assert url("workload-open") in page(client, team.hana, url("workload-list"))


# --- the analysis page ------------------------------------------------------------------


def test_the_analysis_page_shows_the_flow_sheets_figures_and_formulas(
    client, team, analysis
):
    acme = team.acme
    team.fill(analysis, acme.export_staff, team.dina, CLERK)
    html = page(client, team.hana, url("workload-analysis", analysis.pk))
    # the header and the method
    assert "Workload of Export, 2026" in html
    assert "Revision 1" in html and "Hana Putri" in html and "HR analyst" in html
    assert "Permenpan RB No. 1/2020" in html
    assert "75,000 min/year" in html and "6,250 min/month" in html
    assert "available time 125,280 min (261 working days)" in html
    # the flow: collecting, nobody validated yet, with who acts next
    flow = section(html, "flow-title")
    assert "0 of 4 sheets submitted" in flow
    assert "Next: the holders of 4 positions fill in their entries" in flow
    assert 'class="flow-step flow-current" aria-current="step"' in flow
    # the sheets: holders with Plt and vacancy, the preview figures and formulas
    sheets = section(html, "sheets-title")
    assert "Not computed yet" in sheets
    clerk = sheets.split(
        f'id="sheet-{sheet_of(team, analysis, acme.export_staff).pk}"'
    )[1].split('class="trace-row"')[0]
    assert "Budi Santoso" in clerk and "Dina Lestari" in clerk
    # 1200 × 30 ÷ 75,000 = 0.48; 20 × 15 ÷ 1,500 = 0.2
    assert 'title="0.4800 + 0.2000 = 0.6800">0.6800<' in clerk
    assert "0.6800 → 1 (round half up, at least 1" in clerk
    assert 'title="1 − 2 = −1">−1<' in clerk
    assert 'title="0.6800 ÷ 2 = 0.3400">0.34<' in clerk
    # FTE (36,000 + 15,000 min + 15% × 125,280) ÷ 125,280 = 0.56; its category
    # judges one holder's load: (51,000 ÷ 2 + 18,792) ÷ 125,280 = 0.35
    assert ">0.56</span>" in clerk
    assert "0.35 per holder" in clerk
    documents = sheets.split(
        f'id="sheet-{sheet_of(team, analysis, team.documents_officer).pk}"'
    )[1].split('class="trace-row"')[0]
    assert "Eko Prasetyo" in documents and ">Plt</abbr>" in documents
    assert "no current holders: not applicable" in documents  # EJ n/a
    planner = sheets.split(f'id="sheet-{sheet_of(team, analysis, team.planner).pk}"')[
        1
    ].split('class="trace-row"')[0]
    assert "vacant" in planner
    # every figure of the table carries its formula
    for cell in re.findall(r'<td class="numeric">(.*?)</td>', sheets, re.S):
        if cell.strip():
            assert "title=" in cell, cell
    assert sheets.count("<summary>Formulas") == 4
    # the analyst's actions, the charts and the downloads
    actions = html.split('id="analysis-actions"', 1)[1].split("</div>", 1)[0]
    for name in ("workload-compute", "workload-submit", "workload-cancel"):
        assert url(name, analysis.pk) in actions
    assert url("workload-withdraw", analysis.pk) not in actions
    assert url("workload-revise", analysis.pk) not in actions
    charts = section(html, "charts-title")
    assert charts.count("<svg") == 2
    fte_table = charts.split("One holder&#x27;s load", 1)[1]
    assert '<td class="numeric"' in fte_table and ">0.35<" in fte_table
    assert "<title id=" in charts and "<desc id=" in charts
    assert "The chart as a table" in charts
    files = section(html, "files-title")
    for name in ("workload-template", "workload-export", "workload-pdf"):
        assert url(name, analysis.pk) in files
    assert url("workload-import", analysis.pk) in files


def test_read_only_roles_get_no_actions(client, team, analysis):
    for user in (team.acme.auditor, team.dina, team.rina):
        html = page(client, user, url("workload-analysis", analysis.pk))
        actions = html.split('id="analysis-actions"', 1)[1].split("</div>", 1)[0]
        assert "<form" not in actions and "<a " not in actions
        assert url("workload-import", analysis.pk) not in html
    client.force_login(team.acme.auditor)
    before = snapshot()
    for name in ("workload-compute", "workload-submit", "workload-cancel"):
        assert client.get(url(name, analysis.pk)).status_code == 403
        response = client.post(url(name, analysis.pk), {"version": analysis.version})
        assert response.status_code == 403
    assert snapshot() == before


def test_the_analyst_computes_submits_withdraws_and_revises_through_the_page(
    client, team, analysis
):
    client.force_login(team.hana)
    # computing while collecting stores the figures
    response = post_version(client, "workload-compute", analysis, analysis.version)
    assert response.status_code == 302
    analysis.refresh_from_db()
    assert analysis.computed_at is not None
    # submitting before every sheet is validated is refused, with the reason
    response = post_version(client, "workload-submit", analysis, analysis.version)
    assert response.status_code == 200
    assert "4 of 4 positions are not validated yet" in text(response)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.COLLECTING

    validate_all(team, analysis)
    analysis.refresh_from_db()
    html = page(client, team.hana, url("workload-analysis", analysis.pk))
    assert "4 of 4 sheets validated" in html
    assert "Next: Hana Putri computes the figures" in html or (
        "Next: Hana Putri submits it for approval" in html
    )
    response = post_version(client, "workload-submit", analysis, analysis.version)
    assert response.status_code == 302
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.IN_REVIEW
    html = page(client, team.hana, url("workload-analysis", analysis.pk))
    request = request_of(SubjectKind.WORKLOAD_ANALYSIS, analysis.pk)
    assert url("approval-detail", request.pk) in section(html, "flow-title")
    assert url("workload-withdraw", analysis.pk) in html

    # a stale page answers 409 and writes nothing
    before = snapshot()
    response = post_version(client, "workload-withdraw", analysis, analysis.version - 1)
    assert response.status_code == 409
    assert snapshot() == before

    response = post_version(client, "workload-withdraw", analysis, analysis.version)
    assert response.status_code == 302
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.COLLECTING

    # approved: frozen, a new revision from the page, then what changed
    services.submit_analysis(
        analysis, actor=team.hana, expected_version=analysis.version
    )
    approvals.decide(
        request_of(SubjectKind.WORKLOAD_ANALYSIS, analysis.pk),
        actor=team.sari,
        outcome=Outcome.APPROVE,
    )
    analysis.refresh_from_db()
    html = page(client, team.hana, url("workload-analysis", analysis.pk))
    assert url("workload-compute", analysis.pk) not in html
    assert url("workload-import", analysis.pk) not in html
    response = post_version(client, "workload-revise", analysis, analysis.version)
    assert response.status_code == 302
    revision = Analysis.objects.get(previous=analysis)
    assert response["Location"] == url("workload-analysis", revision.pk)
    html = page(client, team.hana, url("workload-analysis", revision.pk))
    assert "Revision 2" in html and url("workload-compare", revision.pk) in html


def test_cancelling_needs_a_reason(client, team, analysis):
    client.force_login(team.hana)
    address = url("workload-cancel", analysis.pk)
    assert "Cancel the analysis" in text(client.get(address))
    before = snapshot()
    response = client.post(address, {"version": analysis.version, "reason": ""})
    assert response.status_code == 200
    assert "This field is required." in text(response)
    assert snapshot() == before
    response = client.post(
        address, {"version": analysis.version, "reason": "Wrong unit"}
    )
    assert response.status_code == 302
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.CANCELLED


def test_opening_an_analysis_through_the_form(client, team):
    client.force_login(team.hana)
    address = url("workload-open")
    html = text(client.get(address))
    assert 'name="unit"' in html and 'name="year"' in html
    assert 'name="analyst_position"' not in html  # Hana holds one position
    response = client.post(address, {"unit": team.acme.warehouse.pk, "year": 2026})
    assert response.status_code == 302
    opened = Analysis.objects.get(unit=team.acme.warehouse, year=2026)
    assert response["Location"] == url("workload-analysis", opened.pk)
    assert opened.analyst_position == team.analyst_position
    # the same unit and year again: refused on the year, nothing written
    before = snapshot()
    response = client.post(address, {"unit": team.acme.warehouse.pk, "year": 2026})
    assert response.status_code == 200
    assert field_message(text(response), "year") == [
        "An analysis of this unit for this year is already in progress."
    ]
    assert snapshot() == before
    # someone holding two positions says which one they analyse from
    org.assign_holder(
        team.planner, actor=team.admin, person=team.hana_person, start_date=NOW.date()
    )
    assert 'name="analyst_position"' in text(client.get(address))
    # an administrator whose login is no person is told so on the form
    client.force_login(team.admin)
    before = snapshot()
    response = client.post(address, {"unit": team.acme.export.pk, "year": 2027})
    assert response.status_code == 200
    assert "Your login is not linked to a person of this organisation." in text(
        response
    )
    assert snapshot() == before
    # auditors open nothing
    client.force_login(team.acme.auditor)
    assert client.get(address).status_code == 403


def field_message(html: str, name: str) -> list[str]:
    """The messages of a field of a stacked form (web/forms/_field.html)."""
    block = html.split(f'data-field="{name}"', 1)[1].split('<div data-field="', 1)[0]
    return re.findall(r"<li>(.*?)</li>", block)


# --- the sheet page ---------------------------------------------------------------------


def test_incumbents_fill_in_their_sheet_the_english_way(client, team, analysis):
    sheet = sheet_of(team, analysis, team.acme.export_staff)
    address = url("workload-sheet", analysis.pk, sheet.pk)
    html = page(client, team.dina, address)
    prepare = entry(sheet, "Prepare documents")
    assert f'name="volume-{prepare.pk}"' in html
    response = client.post(
        address,
        entries_form(
            sheet,
            Prepare_documents=("1,200", "year", "0.5", "hour"),
            Book_containers=("20", "week", "15", "minute"),
        ),
    )
    assert response.status_code == 302
    prepare.refresh_from_db()
    assert (prepare.volume, prepare.standard_time, prepare.time_unit) == (
        Decimal("1200"),
        Decimal("0.5"),
        "hour",
    )
    html = page(client, team.dina, address)
    # 1200 × 0.5 h × 60 ÷ 75,000 min = 0.48 with its formula
    assert 'title="1,200 × 0.5 h × 60 ÷ 75,000 min = 0.4800">0.4800<' in html
    assert 'value="1,200"' in html and 'value="0.5"' in html


def test_numbers_are_read_and_shown_the_indonesian_way(client, team, analysis):
    indonesian(team.dina)
    sheet = sheet_of(team, analysis, team.acme.export_staff)
    address = url("workload-sheet", analysis.pk, sheet.pk)
    client.force_login(team.dina)
    response = client.post(
        address,
        entries_form(
            sheet,
            Prepare_documents=("1.200", "year", "0,5", "hour"),
            Book_containers=("20", "week", "15", "minute"),
        ),
    )
    assert response.status_code == 302
    assert entry(sheet, "Prepare documents").volume == Decimal("1200")
    assert entry(sheet, "Prepare documents").standard_time == Decimal("0.5")
    html = page(client, team.dina, address)
    assert 'value="1.200"' in html and 'value="0,5"' in html
    assert ">0,4800<" in html and "1.200 × 0,5" in html
    html = page(client, team.dina, url("workload-analysis", analysis.pk))
    assert re.search(r">75\.000 [^<]*/", html)  # WKE per year
    assert ">0,6800<" in html  # the clerks' required staff


def test_bad_input_is_explained_next_to_the_field_in_the_users_language(
    client, team, analysis
):
    sheet = sheet_of(team, analysis, team.acme.export_staff)
    address = url("workload-sheet", analysis.pk, sheet.pk)
    prepare = entry(sheet, "Prepare documents")
    book = entry(sheet, "Book containers")
    before = snapshot()

    # English: a number it would have to guess, and a rule of the service
    client.force_login(team.dina)
    response = client.post(
        address,
        entries_form(
            sheet,
            Prepare_documents=("1,5", "year", "30", "minute"),
            Book_containers=("-3", "week", "15", "minute"),
        ),
    )
    html = text(response)
    assert response.status_code == 422
    assert field_errors(html, f"volume-{prepare.pk}") == [
        "Use “.” as the decimal mark: write 1.5."
    ]
    assert "Nothing was saved." in html
    # the parse error comes first; fix it and the service's rule shows
    response = client.post(
        address,
        entries_form(
            sheet,
            Prepare_documents=("1.5", "year", "30", "minute"),
            Book_containers=("-3", "week", "15", "minute"),
        ),
    )
    html = text(response)
    assert response.status_code == 422
    assert field_errors(html, f"volume-{book.pk}") == [
        "The volume of work cannot be negative."
    ]
    assert snapshot() == before  # all or nothing: the good row was not saved

    # Indonesian: the same mistakes, told in Indonesian
    indonesian(team.dina)
    response = client.post(
        address,
        entries_form(
            sheet,
            Prepare_documents=("1.5", "year", "30", "minute"),
            Book_containers=("20", "week", "0", "minute"),
        ),
    )
    html = text(response)
    assert response.status_code == 422
    with translation.override("id"):
        hint = gettext("Use %(mark)s as the decimal mark: write %(suggestion)s.") % {
            "mark": "“,”",
            "suggestion": "1,5",
        }
        nothing_saved = gettext("Nothing was saved.")
    assert field_errors(html, f"volume-{prepare.pk}") == [hint]
    assert nothing_saved == "Tidak ada yang disimpan." and nothing_saved in html
    response = client.post(
        address,
        entries_form(
            sheet,
            Prepare_documents=("1,5", "year", "30", "minute"),
            Book_containers=("20", "week", "0", "minute"),
        ),
    )
    html = text(response)
    with translation.override("id"):
        positive = gettext("The standard time must be more than zero.")
    assert field_errors(html, f"standard_time-{book.pk}") == [positive]
    assert snapshot() == before


def test_a_stale_save_answers_409_and_writes_nothing(client, team, analysis):
    sheet = sheet_of(team, analysis, team.acme.export_staff)
    address = url("workload-sheet", analysis.pk, sheet.pk)
    stale = entries_form(
        sheet,
        Prepare_documents=("100", "year", "30", "minute"),
        Book_containers=("20", "week", "15", "minute"),
    )
    # Budi's colleague Dina changes the entry in another tab meanwhile
    prepare = entry(sheet, "Prepare documents")
    services.set_entry(
        prepare,
        actor=team.dina,
        volume=Decimal(900),
        volume_period="year",
        standard_time=Decimal(30),
        time_unit="minute",
        expected_version=prepare.version,
    )
    before = snapshot()
    client.force_login(team.dina)
    response = client.post(address, stale)
    assert response.status_code == 409
    assert "Someone changed these entries since you opened the page." in text(response)
    assert snapshot() == before


def test_submitting_withdrawing_and_the_superiors_comments(client, team, analysis):
    sheet = sheet_of(team, analysis, team.acme.export_staff)
    address = url("workload-sheet", analysis.pk, sheet.pk)
    client.force_login(team.dina)
    # unfilled: refused with the reason, nothing written
    response = client.post(
        url("workload-sheet-submit", analysis.pk, sheet.pk), {"version": sheet.version}
    )
    assert response.status_code == 200
    assert "Fill in the volume and the standard time of every duty first" in text(
        response
    )
    sheet = team.fill(analysis, team.acme.export_staff, team.dina, CLERK)
    response = client.post(
        url("workload-sheet-submit", analysis.pk, sheet.pk), {"version": sheet.version}
    )
    assert response.status_code == 302
    sheet.refresh_from_db()
    assert sheet.status == SheetStatus.SUBMITTED
    html = page(client, team.dina, address)
    assert f'name="volume-{entry(sheet, "Prepare documents").pk}"' not in html
    assert url("workload-sheet-withdraw", analysis.pk, sheet.pk) in html
    assert "withdraw the sheet to change its entries" in html
    # the superior returns it with a comment: shown on the sheet, editable again
    approvals.decide(
        request_of(SubjectKind.WORKLOAD_SHEET, sheet.pk),
        actor=team.rina,
        outcome=Outcome.RETURN,
        comment="Bookings are per week, not per day.",
        return_to_stage=0,
    )
    html = page(client, team.dina, address)
    comments = section(html, "returns-title")
    assert "Bookings are per week, not per day." in comments
    assert "Rina Kusuma" in comments
    assert f'name="volume-{entry(sheet, "Prepare documents").pk}"' in html
    # the superior and the auditor read it without a form
    for user in (team.rina, team.acme.auditor):
        html = page(client, user, address)
        assert 'id="entries-form"' not in html
        client.force_login(user)
        assert client.post(address, entries_form(sheet)).status_code == 403


def test_a_position_without_duties_says_what_to_do(client, team):
    empty, analysis, sheet = forklift_sheet(team)
    html = page(client, team.hana, url("workload-sheet", analysis.pk, sheet.pk))
    missing = html.split('id="missing-duties"', 1)[1]
    assert "This position has no duties yet." in missing
    assert url("position-detail", empty.pk) in missing
    html = page(client, team.hana, url("workload-analysis", analysis.pk))
    assert "no duties" in section(html, "sheets-title")


# --- downloads and import ---------------------------------------------------------------


def test_downloads_and_the_import(client, team, analysis):
    client.force_login(team.hana)
    for name, content_type in (
        ("workload-template", XLSX),
        ("workload-export", XLSX),
        ("workload-pdf", "application/pdf"),
    ):
        response = client.get(url(name, analysis.pk))
        assert response.status_code == 200, name
        assert response["Content-Type"] == content_type
        assert response["Content-Disposition"].startswith("attachment; filename=")
    assert client.get(url("workload-pdf", analysis.pk)).content.startswith(b"%PDF")

    workbook = openpyxl.load_workbook(
        io.BytesIO(client.get(url("workload-template", analysis.pk)).content)
    )
    sheet = workbook.worksheets[0]
    rows = {row[3].value: row for row in sheet.iter_rows(min_row=2)}
    rows["Plan loadings"][5].value = 20
    rows["Plan loadings"][7].value = -2  # refused: nothing is written
    buffer = io.BytesIO()
    workbook.save(buffer)
    before = snapshot()
    response = client.post(
        url("workload-import", analysis.pk),
        {"file": upload(buffer.getvalue())},
    )
    assert response.status_code == 422
    problems = text(response).split('id="import-problems"', 1)[1].split("</ul>")[0]
    assert "The standard time must be more than zero." in problems
    assert "The file was not imported: 1 problem was found." in text(response)
    assert "Row " in problems
    assert snapshot() == before

    rows["Plan loadings"][7].value = 2
    buffer = io.BytesIO()
    workbook.save(buffer)
    response = client.post(
        url("workload-import", analysis.pk), {"file": upload(buffer.getvalue())}
    )
    assert response.status_code == 302
    plan = Entry.objects.get(sheet__analysis=analysis, title="Plan loadings")
    assert (plan.volume, plan.standard_time) == (Decimal(20), Decimal(2))

    # read-only roles download the results, not the template, and import nothing
    client.force_login(team.acme.auditor)
    assert client.get(url("workload-export", analysis.pk)).status_code == 200
    assert client.get(url("workload-template", analysis.pk)).status_code == 403
    assert client.get(url("workload-import", analysis.pk)).status_code == 403


def upload(data: bytes) -> Any:
    from django.core.files.uploadedfile import SimpleUploadedFile

    return SimpleUploadedFile("entries.xlsx", data, content_type=XLSX)


# --- the method -------------------------------------------------------------------------


def settings_form(**changes: str) -> dict[str, str]:
    data = {
        "preset": "permenpan_rb_1_2020",
        "use_preset_time": "on",
        "effective_day": "300",
        "effective_week": "1500",
        "effective_month": "6250",
        "effective_year": "75000",
        "working_days_per_week": "5",
        "weeks_per_year": "52",
        "public_holidays": "16",
        "leave_days": "12",
        "hours_per_day": "8",
        "allowance_percent": "30",
        "rounding": "half_up_at_least_one",
        "fte_allowance_percent": "15",
        "fte_convention": "allowance_added",
        "fte_underload_below": "1",
        "fte_overload_above": "1.28",
        "grade-A-lower": "1",
        "grade-B-lower": "0.9",
        "grade-B-inclusive": "on",
        "grade-C-lower": "0.7",
        "grade-C-inclusive": "on",
        "grade-D-lower": "0.5",
        "grade-D-inclusive": "on",
    }
    data.update(changes)
    return {key: value for key, value in data.items() if value is not None}


def test_administrators_set_the_method(client, team):
    address = url("workload-settings")
    html = page(client, team.admin, address)
    assert "Perka BKN No. 19/2011" in html
    assert ">1,500<" in html  # BKN's WKE per week, among the presets
    steps = html.split('class="derivation-steps"', 1)[1].split("</ol>", 1)[0]
    assert "5 × 52 − 16 − 12" in steps and "8 × 60 × (1 − 30 ÷ 100)" in steps

    response = client.post(address, settings_form(preset="perka_bkn_19_2011"))
    assert response.status_code == 302
    method = services.method_for(team.organisation)
    assert method.preset == "perka_bkn_19_2011"
    assert method.effective.month == Decimal(6000)

    # a custom method, derived from the calendar the form gives
    stored = WorkloadSettings.objects.get(organisation=team.organisation)
    response = client.post(
        address,
        settings_form(
            preset="custom", hours_per_day="7.5", version=str(stored.version)
        ),
    )
    assert response.status_code == 302
    method = services.method_for(team.organisation)
    assert method.preset == "custom" and method.effective.day == Decimal("315")

    # refused by Method.validate(), next to the field; nothing written
    stored.refresh_from_db()
    before = stored.method
    response = client.post(
        address,
        settings_form(fte_overload_above="0.9", version=str(stored.version)),
    )
    assert response.status_code == 200
    assert field_message(text(response), "fte_overload_above") == [
        "The overload limit must be above the underload limit."
    ]
    stored.refresh_from_db()
    assert stored.method == before

    # an Indonesian administrator types Indonesian numbers and reads Indonesian
    indonesian(team.admin)
    response = client.post(
        address,
        settings_form(
            fte_overload_above="1.5",
            fte_allowance_percent="12,5",
            version=str(stored.version),
        ),
    )
    html = text(response)
    with translation.override("id"):
        hint = gettext("Use %(mark)s as the decimal mark: write %(suggestion)s.") % {
            "mark": "“,”",
            "suggestion": "1,5",
        }
    assert field_message(html, "fte_overload_above") == [hint]
    response = client.post(
        address,
        settings_form(
            preset="permenpan_rb_1_2020",
            fte_overload_above="1,3",
            fte_underload_below="1",
            fte_allowance_percent="12,5",
            hours_per_day="7,5",
            effective_week="1.500",
            effective_month="6.250",
            effective_year="75.000",
            **{
                "grade-B-lower": "0,9",
                "grade-C-lower": "0,7",
                "grade-D-lower": "0,5",
            },
            version=str(stored.version),
        ),
    )
    assert response.status_code == 302
    method = services.method_for(team.organisation)
    assert method.fte_allowance_percent == Decimal("12.5")
    assert method.fte_overload_above == Decimal("1.3")
    assert "12,5" in page(client, team.admin, address)


# --- charts, revisions and two years ---------------------------------------------------


def test_compare_revisions_and_two_years(client, team, analysis):
    first = approve(team, analysis)
    revision = services.start_revision(first, actor=team.hana)
    clerk = sheet_of(team, revision, team.acme.export_staff)
    prepare = entry(clerk, "Prepare documents")
    services.set_entry(
        prepare,
        actor=team.dina,
        volume=Decimal(2400),
        volume_period="year",
        standard_time=Decimal(30),
        time_unit="minute",
        expected_version=prepare.version,
    )
    html = page(client, team.acme.auditor, url("workload-compare", revision.pk))
    assert "Revision 2 against revision 1" in html
    assert "figures of “Prepare documents” changed" in html
    assert "1,200" in html and "2,400" in html

    # the same unit approved in 2027: the two years side by side
    later = services.open_analysis(
        team.acme.export, actor=team.hana, year=2027, now=NOW
    )
    approve(team, later)
    html = page(
        client,
        team.acme.auditor,
        url("workload-periods") + f"?unit={team.acme.export.pk}&first=2026&second=2027",
    )
    assert "Export: 2026 and 2027" in html
    assert html.count("<svg") == 1 and "<desc id=" in html
    assert url("workload-analysis", later.pk) in html


# --- the focus page and query counts ----------------------------------------------------


def test_the_focus_page_lists_the_sheets_to_fill_in(client, team, analysis):
    html = page(client, team.dina, url("focus"))
    sheet = sheet_of(team, analysis, team.acme.export_staff)
    listed = section(html, "workload-title")
    assert url("workload-sheet", analysis.pk, sheet.pk) in listed
    assert "Export clerk" in listed and "Export, 2026" in listed
    # Hana fills in the vacant planner's sheet
    assert "Export planner" in section(
        page(client, team.hana, url("focus")), "workload-title"
    )
    # nothing to fill in: no section
    assert 'id="workload-title"' not in page(client, team.acme.auditor, url("focus"))


LIST_QUERIES = 7
ANALYSIS_QUERIES = 12
SHEET_QUERIES = 13


def test_the_pages_keep_their_query_counts(client, team, analysis):
    """The same number of queries with more analyses, positions and duties."""
    client.force_login(team.hana)
    sheet = sheet_of(team, analysis, team.acme.export_staff)
    pages = [
        url("workload-list"),
        url("workload-analysis", analysis.pk),
        url("workload-sheet", analysis.pk, sheet.pk),
    ]
    count_queries(client, pages[0])  # warm the caches
    small = [count_queries(client, address) for address in pages]

    for number in range(4):
        position = add_position(
            team,
            f"Export assistant {number}",
            f"EXP-AS{number}",
            party=team.acme.export,
            superior=team.acme.export_head,
        )
        person = org.create_person(
            team.organisation, actor=team.admin, full_name=f"Assistant {number}"
        )
        org.assign_holder(
            position, actor=team.admin, person=person, start_date=NOW.date()
        )
        org.create_duty(
            position, actor=team.admin, title=f"Task {number}", output_unit="task"
        )
        org.create_duty(
            team.acme.export_staff,
            actor=team.admin,
            title=f"Extra duty {number}",
            output_unit="item",
        )
        services.open_analysis(
            team.acme.warehouse, actor=team.hana, year=2030 + number, now=NOW
        )
    bigger = services.open_analysis(
        team.acme.export, actor=team.hana, year=2027, now=NOW
    )
    big_sheet = sheet_of(team, bigger, team.acme.export_staff)
    assert PositionSheet.objects.filter(analysis=bigger).count() == 8
    assert Entry.objects.filter(sheet=big_sheet).count() == 6
    big = [
        count_queries(client, address)
        for address in (
            url("workload-list"),
            url("workload-analysis", bigger.pk),
            url("workload-sheet", bigger.pk, big_sheet.pk),
        )
    ]
    assert small == big == [LIST_QUERIES, ANALYSIS_QUERIES, SHEET_QUERIES]


# --- the chart drawing (pure) -------------------------------------------------------------

SVG = "{http://www.w3.org/2000/svg}"


def fte_chart(**kwargs: Any) -> str:
    rows = [
        BarRow(1, "Head of export", (Decimal("1.37"),), ("1,37",), tooltip="f1"),
        BarRow(2, "Export clerk", (Decimal("0.4"),), ("0,40",), href="/o/a/x/"),
        BarRow(3, "Planner <b>", (None,), ("n/a",)),
    ]
    return render_bars(
        rows,
        series=[Series("fte", "FTE")],
        labels=BarLabels("FTE of each position.", "FTE"),
        number=lambda value: str(value).replace(".", ","),
        bands=[
            Band("underload", "underload", Decimal(0), Decimal(1)),
            Band("normal", "normal", Decimal(1), Decimal("1.28")),
            Band("overload", "overload", Decimal("1.28"), None),
        ],
        minimum_end=Decimal("1.7"),
        id_prefix="fte",
        **kwargs,
    )


def test_the_bar_chart_is_one_accessible_svg_with_bands_and_formulas():
    svg = fte_chart()
    root = ET.fromstring(svg)  # noqa: S314 - our own output
    assert root.get("role") == "group"  # it has a link
    assert root.find(f"{SVG}title").text == "FTE of each position."
    assert root.find(f"{SVG}desc").text == "FTE of each position."
    rows = root.findall(f".//{SVG}g[@class='svg-bar-row']")
    assert [row.get("data-row-id") for row in rows] == ["1", "2", "3"]
    # every row's tooltip names the position, its value and its formula
    assert rows[0].find(f"{SVG}title").text == "Head of export — FTE: 1,37 — f1"
    # no bar for a missing value, its text says why
    assert rows[2].find(f".//{SVG}rect") is None
    assert "n/a" in ET.tostring(rows[2], encoding="unicode")
    assert "Planner &lt;b&gt;" in svg  # escaped
    # the bands sit behind the bars, in order, with their limits as a title
    bands = root.findall(f".//{SVG}g[@class='svg-band svg-band-overload']")
    assert bands[0].find(f"{SVG}title").text == "overload: ≥ 1,28"
    # the axis runs in nice steps to at least the minimum end, written the
    # caller's way
    ticks = [
        text.text for text in root.findall(f".//{SVG}text[@class='svg-axis-label']")
    ]
    assert ticks == ["0", "0,25", "0,50", "0,75", "1,00", "1,25", "1,50", "1,75"]
    assert " style=" not in svg
    assert svg == fte_chart()  # deterministic
    fills = {rect.get("fill") for rect in root.iter(f"{SVG}rect")}
    assert fills <= set(PALETTE.values())


def test_the_bar_chart_refuses_inconsistent_input():
    with pytest.raises(ValueError, match="negative"):
        render_bars(
            [BarRow(1, "x", (Decimal(-1),), ("-1",))],
            series=[Series("a", "A")],
            labels=BarLabels("d", "a"),
            number=str,
        )
    with pytest.raises(ValueError, match="one value and text per series"):
        render_bars(
            [BarRow(1, "x", (Decimal(1),), ("1",))],
            series=[Series("a", "A"), Series("b", "B")],
            labels=BarLabels("d", "a"),
            number=str,
        )
    with pytest.raises(ValueError, match="scheme"):
        render_bars(
            [BarRow(1, "x", (Decimal(1),), ("1",), href="javascript:alert(1)")],
            series=[Series("a", "A")],
            labels=BarLabels("d", "a"),
            number=str,
        )
    assert axis_end(Decimal("1.7"), Decimal("0.25")) == Decimal("1.75")
    assert axis_end(Decimal("0"), Decimal("0.25")) == Decimal("0.25")
    assert [nice_step(Decimal(v)) for v in ("0.3", "1.5", "2", "17", "120")] == [
        Decimal("0.05"),
        Decimal("0.2"),
        Decimal("0.25"),
        Decimal("2.5"),
        Decimal("20"),
    ]


# --- duties that change while the analysis is open ------------------------------------------


def test_duties_added_later_are_taken_into_an_empty_sheet(client, team):
    empty, analysis, sheet = forklift_sheet(team)
    address = url("workload-sheet", analysis.pk, sheet.pk)
    refresh = url("workload-sheet-duties", analysis.pk, sheet.pk)
    html = page(client, team.hana, address)
    missing = html.split('id="missing-duties"', 1)[1].split("</div>", 1)[0]
    assert "Take the duties from the job description again" in missing
    assert refresh not in html  # nothing to take yet
    org.create_duty(empty, actor=team.admin, title="Move pallets", output_unit="pallet")

    html = page(client, team.hana, address)
    missing = html.split('id="missing-duties"', 1)[1].split("</div>", 1)[0]
    assert f'action="{refresh}"' in missing
    response = client.post(refresh, {"version": sheet.version}, follow=True)

    assert response.redirect_chain == [(address, 302)]
    html = text(response)
    assert "The duties were taken from the job description again: 1 duty added." in (
        html
    )
    assert 'id="missing-duties"' not in html
    moved = entry(sheet, "Move pallets")
    assert f'name="volume-{moved.pk}"' in html
    assert refresh not in html


def test_a_changed_job_description_is_offered_and_retired_duties_are_flagged(
    client, team, analysis
):
    sheet = sheet_of(team, analysis, team.acme.export_staff)
    address = url("workload-sheet", analysis.pk, sheet.pk)
    refresh = url("workload-sheet-duties", analysis.pk, sheet.pk)
    team.fill(analysis, team.acme.export_staff, team.dina, {**CLERK})
    html = page(client, team.dina, address)
    assert 'id="duties-changed"' not in html
    org.create_duty(
        team.acme.export_staff,
        actor=team.admin,
        title="Weigh <crates>",
        output_unit="t",
    )
    org.deactivate_duty(team.book, actor=team.admin, expected_version=None)

    html = page(client, team.dina, address)

    changed = html.split('id="duties-changed"', 1)[1].split("</div>", 1)[0]
    assert "New duties: Weigh &lt;crates&gt;" in changed
    assert f'action="{refresh}"' in changed
    booked = html.split(f'id="entry-{entry(sheet, "Book containers").pk}"', 1)[1]
    assert (
        "No longer in the job description: clear its figures"
        in (booked.split("</th>", 1)[0])
    )
    # the superior and the auditor are offered nothing and may not do it
    for user in (team.rina, team.acme.auditor):
        assert 'id="duties-changed"' not in page(client, user, address)
        client.force_login(user)
        before = snapshot()
        assert client.post(refresh, {"version": sheet.version}).status_code == 403
        assert snapshot() == before
    # a stale version writes nothing
    client.force_login(team.dina)
    before = snapshot()
    response = client.post(refresh, {"version": sheet.version + 1})
    assert response.status_code == 409
    assert snapshot() == before
    # the page without the button asks first, then takes them
    assert client.get(refresh).status_code == 200
    response = client.post(refresh, {"version": sheet.version}, follow=True)
    html = text(response)
    assert "1 duty added" in html
    assert "No longer in the job description, but filled in, so kept" in html
    assert [e.title for e in Entry.objects.filter(sheet=sheet)] == [
        "Prepare documents",
        "Weigh <crates>",
        "Book containers",
    ]


def test_the_analyst_fills_in_for_holders_without_logins(client, team):
    driver = add_position(
        team,
        "Export driver",
        "EXP-DRV",
        party=team.acme.export,
        superior=team.acme.export_head,
    )
    org.create_duty(driver, actor=team.admin, title="Drive", output_unit="trip")
    org.assign_holder(
        driver, actor=team.admin, person=team.acme.budi, start_date=NOW.date()
    )
    analysis = team.open()
    sheet = sheet_of(team, analysis, driver)
    address = url("workload-sheet", analysis.pk, sheet.pk)

    html = page(client, team.hana, address)

    assert (
        "filled in by the analyst on behalf of Budi Santoso (no login)"
        in html.split('id="on-behalf"', 1)[1]
    )
    assert f'name="volume-{entry(sheet, "Drive").pk}"' in html
    client.force_login(team.hana)
    response = client.post(
        address, entries_form(sheet, Drive=("3", "day", "1", "hour"))
    )
    assert response.status_code == 302
    response = client.post(
        url("workload-sheet-submit", analysis.pk, sheet.pk), {"version": sheet.version}
    )
    assert response.status_code == 302
    sheet.refresh_from_db()
    assert sheet.status == SheetStatus.SUBMITTED
    assert url("workload-sheet-withdraw", analysis.pk, sheet.pk) in page(
        client, team.hana, address
    )
    table = section(
        page(client, team.hana, url("workload-analysis", analysis.pk)), "sheets-title"
    )
    assert table.count("no login: the analyst fills in") == 1
    # Dina holds a position with a login: her sheet is hers, not the analyst's.
    clerk = sheet_of(team, analysis, team.acme.export_staff)
    html = page(client, team.hana, url("workload-sheet", analysis.pk, clerk.pk))
    assert 'id="on-behalf"' not in html
    assert 'id="entries-form"' not in html
