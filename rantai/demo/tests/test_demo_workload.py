"""The workload analysis of the demo: the Export unit's analysis for the current
year, half-way through its flow and computed, with one position overloaded and one
underloaded — built through the services like the rest of the demo."""

from __future__ import annotations

import json
from collections.abc import Iterator
from decimal import ROUND_HALF_UP, Decimal
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from rantai.accounts.access import access_for
from rantai.accounts.models import Organisation, User
from rantai.approvals import queries as approval_queries
from rantai.approvals import routes
from rantai.approvals.models import ApprovalRequest, SubjectKind
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains.models import VersionStatus
from rantai.core.models import OutboxMessage
from rantai.demo import loader
from rantai.notifications.models import Notification
from rantai.org.models import Person
from rantai.workload import queries
from rantai.workload.models import Analysis, AnalysisStatus, Entry, PositionSheet

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[Organisation]:  # type: ignore[no-untyped-def]
    """The demo, loaded once for the module (its history makes a load take a
    while): its tests only read it. It lives in an outer transaction that is
    rolled back afterwards, so no other test sees it."""
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            yield loader.load()
        finally:
            transaction.set_rollback(True)


def the_analysis(demo: Organisation) -> Analysis:
    return Analysis.objects.select_related("unit", "analyst", "analyst_position").get(
        organisation=demo
    )


def sheets_by_code(analysis: Analysis) -> dict[str, PositionSheet]:
    return {
        sheet.position.code: sheet
        for sheet in PositionSheet.objects.filter(analysis=analysis).select_related(
            "position", "validated_by"
        )
    }


def person(demo: Organisation, name: str) -> Person:
    return Person.objects.get(organisation=demo, full_name=name)


def test_the_export_unit_is_analysed_for_the_current_year_by_the_hr_analyst(demo):
    analysis = the_analysis(demo)

    assert (analysis.unit.code, analysis.year, analysis.revision) == (
        "EXP",
        timezone.localdate().year,
        1,
    )
    assert analysis.status == AnalysisStatus.COLLECTING
    assert analysis.analyst.full_name == "Fajar Nugroho"
    assert analysis.analyst_position is not None
    assert analysis.analyst_position.code == "HR-ANALYST"
    # the default method (Permenpan RB 1/2020) and the working calendar of the year
    assert analysis.method["preset"] == "permenpan_rb_1_2020"
    assert analysis.method["effective"]["year"] == "75000"
    assert analysis.minutes_per_day == 480
    assert 230 <= analysis.working_days <= 262
    # one sheet per position of the unit, by title; one entry per duty
    assert [
        (sheet.position.code, sheet.entries.count())
        for sheet in PositionSheet.objects.filter(analysis=analysis)
    ] == [
        ("EXP-CUSTOMS", 3),
        ("EXP-HEAD", 5),
        ("EXP-ADM", 4),
        ("EXP-DOC", 4),
    ]


def test_the_flow_is_half_way(demo):
    sheets = sheets_by_code(the_analysis(demo))

    assert {code: sheet.status for code, sheet in sheets.items()} == {
        "EXP-CUSTOMS": "validated",  # vacant: the analyst filled it in
        "EXP-ADM": "validated",
        "EXP-HEAD": "draft",  # the head of export has not submitted her own
        "EXP-DOC": "submitted",  # waiting for the head of export
    }
    for code in ("EXP-CUSTOMS", "EXP-ADM"):
        validated_by = sheets[code].validated_by
        assert validated_by is not None and validated_by.full_name == "Rina Kusuma"
    # every entry is filled in, with the figures of the demo's table
    for code, rows in loader.WORKLOAD_FIGURES.items():
        assert [
            (
                entry.title,
                entry.volume,
                entry.volume_period,
                entry.standard_time,
                entry.time_unit,
            )
            for entry in Entry.objects.filter(sheet=sheets[code])
        ] == [
            (title, Decimal(volume), period, Decimal(time), unit)
            for title, volume, period, time, unit in rows
        ], code
    assert Entry.objects.get(title="Memverifikasi harga pengiriman").output_unit == (
        "pengiriman"
    )


def test_the_computed_results_show_one_position_overloaded_and_one_underloaded(demo):
    analysis = the_analysis(demo)
    sheets = sheets_by_code(analysis)

    results = {
        code: (
            sheet.current_holders,
            sheet.required_staff,
            sheet.required_count,
            sheet.effectiveness,
            sheet.grade,
        )
        for code, sheet in sheets.items()
    }
    assert results == {
        # 4 × 45 ÷ 300 + 3 × 60 ÷ 1,500 + 6 × 45 ÷ 300 + 16 × 60 ÷ 6,250 + 2 × 120 ÷ 1,500
        "EXP-HEAD": (1, Decimal("1.933600"), 2, Decimal("1.933600"), "A"),
        "EXP-ADM": (1, Decimal("0.399467"), 1, Decimal("0.399467"), "E"),
        "EXP-DOC": (2, Decimal("1.621333"), 2, Decimal("0.810667"), "C"),
        "EXP-CUSTOMS": (0, Decimal("0.731200"), 1, None, ""),  # vacant
    }
    assert (
        analysis.required_total,
        analysis.required_count,
        analysis.current_count,
    ) == (Decimal("4.685600"), 6, 4)
    assert analysis.computed_at is not None

    # FTE: (activity + 15 % of the available time) ÷ the available time
    available = Decimal(analysis.working_days * analysis.minutes_per_day)
    for code, activity, category in [
        ("EXP-HEAD", Decimal("145020"), "overload"),
        ("EXP-ADM", Decimal("29960"), "underload"),
    ]:
        sheet = sheets[code]
        assert sheet.activity_minutes == activity, code
        expected = ((activity + available * Decimal("0.15")) / available).quantize(
            Decimal("0.000001"), rounding=ROUND_HALF_UP
        )
        assert (sheet.fte, sheet.fte_category) == (expected, category), code
    head, clerk = sheets["EXP-HEAD"], sheets["EXP-ADM"]
    assert head.fte is not None and head.fte > Decimal("1.28")
    assert clerk.fte is not None and clerk.fte < Decimal("1.00")


def test_each_person_has_their_part_waiting(demo):
    analysis = the_analysis(demo)
    sheets = sheets_by_code(analysis)
    year = analysis.year

    def waiting_for(username: str) -> list[str]:
        access = access_for(User.objects.get(username=username), loader.DEMO_SLUG)
        return [
            pending.request.title
            for pending in approval_queries.pending_for(access)
            if pending.request.subject_kind == SubjectKind.WORKLOAD_SHEET
        ]

    def to_fill(name: str) -> list[str]:
        return [
            sheet.position.code
            for sheet in queries.to_fill(demo, person(demo, name).pk)
        ]

    # the head of export: her own sheet to submit, her staff's to validate
    assert to_fill("Rina Kusuma") == ["EXP-HEAD"]
    assert waiting_for("rina") == [f"Staf Dokumen Ekspor — Ekspor {year}"]
    # the staff: submitted or validated, nothing left to fill in
    assert to_fill("Yusuf Hidayat") == []
    assert to_fill("Dimas Saputra") == []
    # nobody else decides anything about the workload
    for username in ("hendra", "sari", "admin", "fajar", "yusuf", "dimas"):
        assert waiting_for(username) == [], username
    # the analyst may compute and submit, once every sheet is validated
    fajar = User.objects.get(username="fajar")
    assert queries.may_analyse(analysis, fajar) is True
    assert queries.may_analyse(analysis, User.objects.get(username="rina")) is False
    assert queries.may_edit_sheet(sheets["EXP-HEAD"], User.objects.get(username="rina"))
    assert not queries.may_edit_sheet(
        sheets["EXP-DOC"], User.objects.get(username="yusuf")
    )


def test_the_default_routes_were_made_when_the_analysis_opened(demo):
    made = {
        route.subject_kind: route
        for route in routes.routes_for(demo)
        if route.subject_kind
        in (SubjectKind.WORKLOAD_SHEET, SubjectKind.WORKLOAD_ANALYSIS)
    }

    assert {kind: route.code for kind, route in made.items()} == {
        SubjectKind.WORKLOAD_SHEET: "ABK-SHEET",
        SubjectKind.WORKLOAD_ANALYSIS: "ABK",
    }
    for route in made.values():
        assert route.owner_position is not None
        assert route.owner_position.code == "HR-ANALYST"
        [version] = route.versions.all()
        assert version.status == VersionStatus.PUBLISHED
    requests = ApprovalRequest.objects.filter(
        organisation=demo, subject_kind=SubjectKind.WORKLOAD_SHEET
    ).order_by("pk")
    assert [(r.title.split(" — ")[0], r.status) for r in requests] == [
        ("Analis Kepabeanan", "approved"),
        ("Pengadministrasi Ekspor", "approved"),
        ("Staf Dokumen Ekspor", "open"),
    ]


def test_the_workload_bells_and_audit_trail(demo):
    analysis = the_analysis(demo)
    requests = {
        r.pk: r.title.split(" — ")[0]
        for r in ApprovalRequest.objects.filter(
            organisation=demo, subject_kind=SubjectKind.WORKLOAD_SHEET
        )
    }

    def about(key: str) -> str:
        if key.startswith("workload:"):
            return "analysis"
        if key.startswith("approval:"):
            return requests.get(int(key.split(":")[1]), "")
        return ""

    bells = {
        (n.recipient.username, n.event_type, about(n.key), n.read_at is not None)
        for n in Notification.objects.filter(organisation=demo)
        if about(n.key)
    }
    assert bells == {
        # the incumbents with a login were told to fill in their sheets
        ("rina", "workload.to_fill", "analysis", False),
        ("yusuf", "workload.to_fill", "analysis", False),
        ("dimas", "workload.to_fill", "analysis", False),
        # the head of export was asked to validate: two done, one waiting
        ("rina", "approval.stage_opened", "Analis Kepabeanan", True),
        ("rina", "approval.stage_opened", "Pengadministrasi Ekspor", True),
        ("rina", "approval.stage_opened", "Staf Dokumen Ekspor", False),
        # the requesters heard of the validations
        ("fajar", "approval.completed", "Analis Kepabeanan", False),
        ("dimas", "approval.completed", "Pengadministrasi Ekspor", False),
    }
    # nobody is e-mailed about the demo's past
    assert OutboxMessage.objects.count() == 0
    # the analysis's life is in the audit trail, which verifies
    verbs = list(
        AuditEvent.objects.filter(
            organisation=demo,
            target_type=audit.target_type_of(analysis),
            target_id=analysis.pk,
        )
        .order_by("sequence")
        .values_list("verb", flat=True)
    )
    assert verbs == [AuditVerb.CREATED, AuditVerb.COMPUTED]
    assert audit.verify(demo).ok


def test_the_command_line_reports_the_demo_analysis(demo):
    year = str(the_analysis(demo).year)
    stdout = StringIO()

    call_command("workload", "report", "EXP", year, "--format", "json", stdout=stdout)

    report = json.loads(stdout.getvalue())
    assert (
        report["unit"]["code"],
        report["status"],
        report["signature"]["approved"],
    ) == (
        "EXP",
        "collecting",
        False,
    )
    assert [
        (p["code"], p["status"], p["grade"], p["fte_category"])
        for p in report["positions"]
    ] == [
        ("EXP-CUSTOMS", "validated", "", ""),
        ("EXP-HEAD", "draft", "A", "overload"),
        ("EXP-ADM", "validated", "E", "underload"),
        ("EXP-DOC", "submitted", "C", "underload"),
    ]
    assert report["totals"] == {
        "required_staff": "4.685600",
        "required_count": 6,
        "current_staff": 4,
        "shortage": 2,
    }
