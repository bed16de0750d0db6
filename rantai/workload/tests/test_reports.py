"""The report of a workload analysis: its data (`build`), JSON and PDF."""

from __future__ import annotations

from collections.abc import Sequence
from decimal import Decimal

import pytest
from django.utils import translation

from rantai.approvals.models import ApprovalRequest, SubjectKind
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.workload import method as methods
from rantai.workload import reports
from rantai.workload.models import Analysis, Entry
from rantai.workload.tests import report_data
from rantai.workload.tests.conftest import Team
from rantai.workload.tests.pdf_text import page_count, pdf_strings

pytestmark = pytest.mark.django_db


def contains_run(strings: Sequence[str], run: Sequence[str]) -> bool:
    """`run` appears in `strings` as consecutive items (a table row, cell by cell)."""
    width = len(run)
    return any(
        list(strings[start : start + width]) == list(run)
        for start in range(len(strings) - width + 1)
    )


def entry_ids(analysis: Analysis) -> dict[str, tuple[int, int]]:
    """Duty title -> (entry id, duty id)."""
    return {
        title: (pk, duty_id)
        for pk, duty_id, title in Entry.objects.filter(
            sheet__analysis=analysis
        ).values_list("pk", "duty_id", "title")
    }


def decision_event(analysis: Analysis) -> AuditEvent:
    request = ApprovalRequest.objects.get(
        subject_kind=SubjectKind.WORKLOAD_ANALYSIS, subject_id=analysis.pk
    )
    return AuditEvent.objects.get(
        target_type="approvals.approvalrequest",
        target_id=str(request.pk),
        verb=AuditVerb.APPROVED,
    )


# --- the data and JSON ----------------------------------------------------------------------


def test_the_json_report_of_an_approved_analysis_has_every_figure_exactly(
    team: Team, opened: Analysis, django_assert_num_queries
):
    analysis = report_data.approved(team, opened)
    event = decision_event(analysis)

    # Five queries, whatever the size: the analysis, its sheets, their entries,
    # the approval request and the decision's audit event.
    with django_assert_num_queries(5):
        report = reports.build(analysis)
    data = reports.as_json(report)

    acme = team.acme
    ids = entry_ids(analysis)

    def sheet(position) -> int:  # type: ignore[no-untyped-def]
        return team.sheet(analysis, position).pk

    def entry(number, title, unit, volume, period, time, time_unit, minutes, wke, req):  # type: ignore[no-untyped-def]
        entry_id, duty_id = ids[title]
        return {
            "number": number,
            "entry_id": entry_id,
            "duty_id": duty_id,
            "duty": title,
            "output_unit": unit,
            "volume": volume,
            "period": period,
            "standard_time": time,
            "time_unit": time_unit,
            "standard_minutes": minutes,
            "effective_minutes": wke,
            "required_staff": req,
        }

    export = {"code": "EXP", "name": "Export"}
    assert data == {
        "analysis_id": analysis.pk,
        "organisation": {
            "name": "Acme Ltd",
            "slug": "acme",
            "time_zone": "Asia/Jakarta",
        },
        "unit": export,
        "year": 2026,
        "revision": 1,
        "status": "approved",
        "computed_at": "2026-03-02T01:00:00+00:00",
        "method": {
            "preset": "permenpan_rb_1_2020",
            "rounding": "half_up_at_least_one",
            "effective_minutes": {
                "day": "300",
                "week": "1500",
                "month": "6250",
                "year": "75000",
            },
            "working_days": 261,
            "minutes_per_day": 480,
        },
        "positions": [
            {
                "number": 1,
                "sheet_id": sheet(acme.export_staff),
                "position_id": acme.export_staff.pk,
                "code": "EXP-CLERK",
                "title": "Export clerk",
                "unit": export,
                "status": "validated",
                "current_holders": 2,
                "acting_holders": 0,
                "required_staff": "0.680000",
                "required_count": 1,
                "shortage": -1,
                "effectiveness": "0.340000",
                "grade": "E",
                "fte": "0.557088",
                "fte_category": "underload",
                "fte_count": 1,
                "activity_minutes": "51000.0000",
                "entries": [
                    entry(
                        1,
                        "Prepare documents",
                        "document set",
                        "1200.0000",
                        "year",
                        "30.0000",
                        "minute",
                        "30.0000",
                        "75000",
                        "0.480000",
                    ),
                    entry(
                        2,
                        "Book containers",
                        "booking",
                        "4.0000",
                        "day",
                        "15.0000",
                        "minute",
                        "15.0000",
                        "300",
                        "0.200000",
                    ),
                ],
            },
            {
                "number": 2,
                "sheet_id": sheet(team.planner),
                "position_id": team.planner.pk,
                "code": "EXP-PLAN",
                "title": "Export planner",
                "unit": export,
                "status": "validated",
                "current_holders": 0,
                "acting_holders": 0,
                "required_staff": "0.384000",
                "required_count": 1,
                "shortage": 1,
                "effectiveness": None,
                "grade": "",
                "fte": "0.379885",
                # Nobody holds it: no load of a holder to categorise.
                "fte_category": "",
                "fte_count": 1,
                "activity_minutes": "28800.0000",
                "entries": [
                    entry(
                        1,
                        "Plan loadings",
                        "plan",
                        "20.0000",
                        "month",
                        "2.0000",
                        "hour",
                        "120.0000",
                        "6250",
                        "0.384000",
                    )
                ],
            },
            {
                "number": 3,
                "sheet_id": sheet(acme.export_head),
                "position_id": acme.export_head.pk,
                "code": "EXP-HEAD",
                "title": "Head of export",
                "unit": export,
                "status": "validated",
                "current_holders": 1,
                "acting_holders": 0,
                "required_staff": "0.540000",
                "required_count": 1,
                "shortage": 0,
                "effectiveness": "0.540000",
                "grade": "D",
                "fte": "0.473276",
                "fte_category": "underload",
                "fte_count": 1,
                "activity_minutes": "40500.0000",
                "entries": [
                    entry(
                        1,
                        "Price shipping",
                        "quotation",
                        "10.0000",
                        "week",
                        "45.0000",
                        "minute",
                        "45.0000",
                        "1500",
                        "0.300000",
                    ),
                    entry(
                        2,
                        "Approve shipments",
                        "shipment",
                        "300.0000",
                        "year",
                        "1.0000",
                        "hour",
                        "60.0000",
                        "75000",
                        "0.240000",
                    ),
                ],
            },
            {
                "number": 4,
                "sheet_id": sheet(team.documents_officer),
                "position_id": team.documents_officer.pk,
                "code": "EXP-DOC",
                "title": "Documents officer",
                "unit": {"code": "EXP-DOCS", "name": "Export documentation"},
                "status": "validated",
                # Eko acts (Plt): the default method does not count acting holders.
                "current_holders": 0,
                "acting_holders": 1,
                "required_staff": "0.666667",
                "required_count": 1,
                "shortage": 1,
                "effectiveness": None,
                "grade": "",
                "fte": "0.549106",
                "fte_category": "",
                "fte_count": 1,
                "activity_minutes": "50000.0000",
                "entries": [
                    entry(
                        1,
                        "Check certificates",
                        "certificate",
                        "2500.0000",
                        "year",
                        "20.0000",
                        "minute",
                        "20.0000",
                        "75000",
                        "0.666667",
                    )
                ],
            },
        ],
        "totals": {
            "required_staff": "2.270667",
            "required_count": 4,
            "current_staff": 3,
            "shortage": 1,
        },
        "signature": {
            "approved": True,
            "name": "Sari Wijaya",
            "position": "Director",
            "on_behalf_of": "",
            # The time of the approval decision as the audit trail recorded it.
            "approved_at": event.occurred_at.isoformat(),
            "local_date": report.signature.local_date.isoformat(),
            "audit_sequence": event.sequence,
        },
    }
    assert (
        report.signature.local_date
        == event.occurred_at.astimezone(report_data.JAKARTA).date()
    )
    # Exact decimals all the way: the per-duty figures sum to the stored totals.
    assert sum(
        (e.required_staff for p in report.positions for e in p.entries), Decimal(0)
    ) == Decimal("2.270667")


def test_an_analysis_not_computed_yet_reads_in_three_queries_without_results(
    opened: Analysis, django_assert_num_queries
):
    with django_assert_num_queries(3):
        report = reports.build(opened)

    assert report.computed_at is None
    assert report.status == "collecting"
    assert [
        (p.code, p.required_staff, p.required_count, p.shortage, p.fte)
        for p in report.positions
    ] == [
        ("EXP-CLERK", None, None, None, None),
        ("EXP-PLAN", None, None, None, None),
        ("EXP-HEAD", None, None, None, None),
        ("EXP-DOC", None, None, None, None),
    ]
    assert {e.required_staff for p in report.positions for e in p.entries} == {None}
    assert report.totals == reports.Totals(None, None, None, None)
    assert report.signature.approved is False


# --- the PDF ------------------------------------------------------------------------------


def test_the_pdf_has_the_government_layout_in_indonesian_and_english(
    team: Team, opened: Analysis
):
    analysis = report_data.approved(team, opened)
    report = reports.build(analysis)
    event = decision_event(analysis)

    indonesian = pdf_strings(reports.pdf(report, language="id"))
    english = pdf_strings(reports.pdf(report, language="en"))

    with translation.override("id"):
        title = reports.title()
        day = reports.local_day(report.signature.local_date)
    assert indonesian[2:5] == [title, "Acme Ltd", "Unit: Export (EXP)"]
    assert english[2:5] == ["WORKLOAD ANALYSIS", "Acme Ltd", "Unit: Export (EXP)"]
    assert (
        "Effective working time (WKE): 300 min per day; 1,500 min per week; "
        "6,250 min per month; 75,000 min per year"
    ) in english
    # Per position: duty, output unit, volume, standard time, WKE, required staff;
    # numbers the Indonesian way (1.200; 0,480) or the English way (1,200; 0.480).
    assert contains_run(
        english,
        [
            *("1", "Prepare documents", "document set", "1,200 per year"),
            *("30 minutes", "75,000", "0.480"),
        ],
    )
    assert contains_run(
        indonesian,
        ["1", "Prepare documents", "document set"],
    )
    assert "1.200" in " ".join(indonesian)
    assert contains_run(indonesian, ["75.000", "0,480"])
    assert contains_run(english, ["1", "Plan loadings", "plan", "20 per month"])
    assert contains_run(english, ["6,250", "0.384", "Total", "0.384"])
    assert (
        "Current staff: 2; required staff: 1 (0.680); shortage (+) / surplus (-): -1"
    ) in english
    # The unit summary: current vs required, shortage or surplus, EJ, PJ, FTE.
    assert contains_run(
        english,
        [
            *("1", "EXP-CLERK", "Export clerk", "2", "0.680", "1", "-1"),
            *("0.34", "E", "0.56", "underload"),
        ],
    )
    assert contains_run(
        english,
        [
            *("2", "EXP-PLAN", "Export planner", "0", "0.384", "1", "+1"),
            *("—", "—", "0.38", "—"),
        ],
    )
    assert contains_run(english, ["Total", "3", "2.271", "4", "+1"])
    assert contains_run(indonesian, ["Total", "3", "2,271", "4", "+1"])
    # The approving superior signs, with the time of the decision's audit event.
    with translation.override("en"):
        english_day = reports.local_day(report.signature.local_date)
        moment = reports.local_time(event.occurred_at, "Asia/Jakarta")
    assert contains_run(
        english,
        [
            f"...................., {english_day}",
            *("Approved by", "Director", "Sari Wijaya"),
        ],
    )
    assert (
        f"Approved in Rantai on {moment} (audit event no. {event.sequence})."
        in " ".join(english)
    )
    assert f"...................., {day}" in indonesian
    assert "DRAFT — NOT APPROVED" not in english


def test_a_draft_pdf_says_it_is_not_approved_and_has_no_signature(
    team: Team, opened: Analysis
):
    analysis = report_data.computed(team, opened)

    data = reports.pdf(reports.build(analysis), language="en")

    strings = pdf_strings(data)
    assert strings.count("DRAFT — NOT APPROVED") == page_count(data)
    assert "Draft — not approved." in strings
    assert "Approved by" not in strings
    assert "Sari Wijaya" not in strings


def test_a_pdf_before_computing_says_so_and_shows_no_results(opened: Analysis):
    strings = pdf_strings(reports.pdf(reports.build(opened), language="en"))

    assert "The results have not been computed yet." in strings
    assert contains_run(
        strings, ["1", "Prepare documents", "document set", "—", "—", "75,000", "—"]
    )
    assert contains_run(
        strings, ["1", "EXP-CLERK", "Export clerk", "0", "—", "—", "—", "—", "—"]
    )


def test_the_pdf_can_leave_out_the_duties_for_the_unit_summary_alone(
    team: Team, opened: Analysis
):
    report = reports.build(report_data.computed(team, opened))

    strings = pdf_strings(reports.pdf(report, language="en", duties=False))

    assert "Prepare documents" not in strings
    assert "Unit summary" in strings
    assert contains_run(strings, ["Total", "3", "2.271", "4", "+1"])


def test_a_position_without_duties_is_shown_as_such(team: Team):
    from rantai.org import services as org

    vacant = org.create_position(
        team.organisation,
        actor=team.admin,
        party=team.acme.export,
        title="Export intern",
        code="EXP-INT",
        superior=team.acme.export_head,
    )
    analysis = team.open()

    report = reports.build(analysis)
    strings = pdf_strings(reports.pdf(report, language="en"))

    intern = next(p for p in report.positions if p.position_id == vacant.pk)
    assert intern.entries == ()
    assert "This position has no duties: add them to its job description." in (strings)


def test_numbers_and_words_of_the_report_follow_the_language():
    assert reports.figure(Decimal("1200.0000"), "id") == "1.200"
    assert reports.figure(Decimal("0.48"), "id", 3) == "0,480"
    assert reports.figure(Decimal("1250.5"), "en") == "1,250.5"
    assert reports.figure(Decimal("0.123456"), "en") == "0.1235"  # at most four
    assert reports.figure(None, "en") == "—"
    assert reports.signed(2, "id") == "+2"
    assert reports.signed(-1250, "id") == "-1.250"
    assert reports.signed(0, "en") == "0"


@pytest.mark.parametrize(
    ("volume", "period", "standard_time", "unit"),
    [
        ("1200", "year", "30", "minute"),
        ("4", "day", "15", "minute"),
        ("20", "month", "2", "hour"),
        ("7", "week", "0.3333", "hour"),
        ("2500", "year", "20", "minute"),
        ("0.0001", "day", "299.9999", "minute"),
        (None, "week", "45", "minute"),
        ("10", "month", None, "hour"),
    ],
)
@pytest.mark.parametrize("preset", list(methods.Preset))
def test_the_per_duty_figures_are_those_of_the_method(
    volume, period, standard_time, unit, preset
):
    method = methods.Method.from_preset(preset)
    given = methods.EntryInput(
        volume=None if volume is None else Decimal(volume),
        period=period,
        standard_time=None if standard_time is None else Decimal(standard_time),
        time_unit=unit,
    )

    figures = reports.entry_figures(
        given.volume, period, given.standard_time, unit, method
    )

    expected = methods.entry_result(given, method)
    assert figures == (
        expected.standard_minutes,
        expected.effective_minutes,
        expected.required_staff,
    )
