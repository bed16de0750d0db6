"""The workload services one by one: what they write, what they refuse (and that a
refusal writes nothing), who may act, and the queries `compute` runs."""

from __future__ import annotations

import dataclasses
import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import translation

from rantai.accounts.models import Membership, Role
from rantai.approvals import services as approvals
from rantai.approvals.models import (
    ApprovalRequest,
    Outcome,
    RequestStatus,
    Route,
    SubjectKind,
)
from rantai.audit.models import AuditVerb
from rantai.chains import services as chains
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.notifications.models import Notification
from rantai.org import membership
from rantai.org import services as org
from rantai.testing import make_user
from rantai.workload import method as methods
from rantai.workload import services
from rantai.workload.models import (
    Analysis,
    AnalysisStatus,
    Entry,
    PositionSheet,
    SheetStatus,
    WorkloadSettings,
)
from rantai.workload.tests.conftest import (
    FIGURES,
    LATER,
    NOW,
    START,
    Team,
    approve,
    latest_request,
    validate_all,
)


def _entry(analysis: Analysis, title: str) -> Entry:
    return Entry.objects.get(sheet__analysis=analysis, title=title)


def _set(entry: Entry, actor, **figures):  # type: ignore[no-untyped-def]
    values = {
        "volume": Decimal("10"),
        "volume_period": "year",
        "standard_time": Decimal("30"),
        "time_unit": "minute",
        **figures,
    }
    return services.set_entry(
        entry, actor=actor, expected_version=entry.version, now=NOW, **values
    )


def _state() -> tuple:
    """Everything a workload service may write, to show a refusal wrote nothing."""
    return (
        list(Analysis.objects.order_by("id").values()),
        list(PositionSheet.objects.order_by("id").values()),
        list(Entry.objects.order_by("id").values()),
        list(ApprovalRequest.objects.order_by("id").values("id", "status", "version")),
        Notification.objects.count(),
        Route.objects.count(),
    )


@pytest.fixture
def unchanged(team, audit_trail):  # type: ignore[no-untyped-def]
    """`with unchanged(): ...` — the block is refused and writes nothing."""
    from contextlib import contextmanager

    @contextmanager
    def watch():  # type: ignore[no-untyped-def]
        trail = audit_trail(team.organisation)
        before = _state()
        yield
        assert _state() == before
        trail.assert_nothing_new()

    return watch


# --- opening ------------------------------------------------------------------------


def test_open_makes_a_sheet_per_active_position_and_an_entry_per_active_duty(
    team: Team, audit_trail
):
    acme = team.acme
    org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.export,
        title="Export trainee",
        code="EXP-TRAIN",
        superior=acme.export_head,
    )
    gone = org.create_duty(
        acme.export_head, actor=acme.admin, title="Old duty", output_unit="x"
    )
    org.deactivate_duty(gone, actor=acme.admin, expected_version=None)
    trail = audit_trail(team.organisation)

    analysis = team.open()

    sheets = list(
        PositionSheet.objects.filter(analysis=analysis)
        .order_by("sort_order")
        .values_list("position__code", "status", "sort_order")
    )
    assert sheets == [
        ("EXP-CLERK", "draft", 10),
        ("EXP-PLAN", "draft", 20),
        ("EXP-TRAIN", "draft", 30),
        ("EXP-HEAD", "draft", 40),
        ("EXP-DOC", "draft", 50),
    ]
    assert list(
        Entry.objects.filter(sheet__analysis=analysis)
        .order_by("sheet__sort_order", "sort_order")
        .values_list("sheet__position__code", "title", "output_unit", "volume")
    ) == [
        ("EXP-CLERK", "Prepare documents", "document set", None),
        ("EXP-CLERK", "Book containers", "booking", None),
        ("EXP-PLAN", "Plan loadings", "plan", None),
        ("EXP-HEAD", "Price shipping", "quotation", None),
        ("EXP-HEAD", "Approve shipments", "shipment", None),
        ("EXP-DOC", "Check certificates", "certificate", None),
    ]
    created = [e for e in trail.new_events() if e.target_type == "workload.analysis"]
    assert len(created) == 1
    assert created[0].verb == AuditVerb.CREATED
    assert created[0].changes["sheets"] == 5
    assert created[0].changes["entries"] == 6
    assert created[0].actor_id == team.hana.pk


def test_the_snapshot_takes_the_settings_and_the_calendar_without_holidays(
    team: Team,
):
    acme = team.acme
    chains.add_holiday(
        acme.organisation, actor=acme.admin, date=dt.date(2026, 8, 17), name="HUT RI"
    )
    chains.add_holiday(  # a Sunday: no working day lost
        acme.organisation, actor=acme.admin, date=dt.date(2026, 3, 22), name="X"
    )
    method = methods.Method.from_preset(methods.Preset.PERMENDAGRI_2008)
    services.update_settings(
        acme.organisation, actor=acme.admin, method=method, expected_version=None
    )

    analysis = team.open()

    assert analysis.working_days == 260
    assert analysis.minutes_per_day == 480
    assert analysis.method == method.to_json()


def test_update_settings_is_for_administrators(team: Team, audit_trail):
    acme = team.acme
    method = methods.Method.from_preset(methods.Preset.BKN_2011)
    trail = audit_trail(team.organisation)
    with pytest.raises(PermissionDenied):
        services.update_settings(
            acme.organisation, actor=team.hana, method=method, expected_version=None
        )
    trail.assert_nothing_new()

    saved = services.update_settings(
        acme.organisation, actor=acme.admin, method=method, expected_version=None
    )
    assert saved.version == 1
    assert trail.only_new_event().verb == AuditVerb.SETTINGS_CHANGED
    with pytest.raises(Conflict):
        services.update_settings(
            acme.organisation,
            actor=acme.admin,
            method=methods.Method.default(),
            expected_version=5,
        )
    assert WorkloadSettings.objects.get().method == method.to_json()
    assert services.method_for(acme.organisation) == method


def test_open_uses_existing_routes_and_makes_no_default(team: Team, opened: Analysis):
    before = Route.objects.count()
    approve(team, opened)
    services.start_revision(opened, actor=team.hana, now=NOW)
    assert Route.objects.count() == before == 2


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("auditor", PermissionDenied),
        ("partner", PermissionDenied),
        ("stranger", NotFound),
    ],
)
def test_only_administrators_and_members_open_analyses(
    team: Team, unchanged, who, error
):
    actor = make_user("stranger") if who == "stranger" else getattr(team.acme, who)
    with unchanged(), pytest.raises(error):
        services.open_analysis(team.acme.export, actor=actor, year=2026, now=NOW)


def test_open_refuses_partners_units_a_second_analysis_and_odd_years(
    team: Team, opened: Analysis, unchanged
):
    acme = team.acme
    with unchanged():
        with pytest.raises(ValidationFailed) as partner:
            services.open_analysis(acme.forwarder, actor=team.hana, year=2026, now=NOW)
        with pytest.raises(ValidationFailed) as again:
            services.open_analysis(acme.export, actor=team.hana, year=2026, now=NOW)
        with pytest.raises(ValidationFailed) as year:
            services.open_analysis(acme.export, actor=team.hana, year=1999, now=NOW)
    assert partner.value.errors == {
        "unit": ["Workload is analysed for internal units only."]
    }
    assert again.value.errors == {
        "year": ["An analysis of this unit for this year is already in progress."]
    }
    assert year.value.errors == {"year": ["The year must be between 2000 and 2100."]}


def test_an_analyst_holding_several_positions_names_one(team: Team, unchanged):
    acme = team.acme
    org.assign_holder(
        team.planner, actor=acme.admin, person=team.hana_person, start_date=START
    )
    with unchanged(), pytest.raises(ValidationFailed) as error:
        services.open_analysis(acme.export, actor=team.hana, year=2026, now=NOW)
    assert list(error.value.errors) == ["analyst_position"]

    analysis = services.open_analysis(
        acme.export,
        actor=team.hana,
        year=2026,
        analyst_position=team.analyst_position,
        now=NOW,
    )
    assert analysis.analyst_position_id == team.analyst_position.pk


# --- entries ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("figures", "field", "message"),
    [
        ({"volume": Decimal("-1")}, "volume", "The volume of work cannot be negative."),
        (
            {"volume": Decimal("1000000.0001")},
            "volume",
            "More than 1,000,000 per period cannot be right: check the number and "
            "the period.",
        ),
        (
            {"standard_time": Decimal("0")},
            "standard_time",
            "The standard time must be more than zero.",
        ),
        (
            {"volume_period": "day", "standard_time": Decimal("301")},
            "standard_time",
            "One output would take longer than the whole period's effective working "
            "time (300 minutes per day).",
        ),
        (
            {
                "volume_period": "day",
                "time_unit": "hour",
                "standard_time": Decimal("6"),
            },
            "standard_time",
            "One output would take longer than the whole period's effective working "
            "time (300 minutes per day).",
        ),
        (
            {"volume": Decimal("1.00001")},
            "volume",
            "Use at most 4 decimal places.",
        ),
        (
            {"volume_period": "fortnight"},
            "volume_period",
            "Choose per day, week, month or year.",
        ),
    ],
)
def test_bad_figures_are_refused_with_a_clear_message(
    team: Team, opened: Analysis, unchanged, figures, field, message
):
    entry = _entry(opened, "Prepare documents")
    with unchanged(), pytest.raises(ValidationFailed) as error:
        _set(entry, team.dina, **figures)
    assert error.value.errors == {field: [message]}


def test_the_largest_plausible_figures_are_accepted(team: Team, opened: Analysis):
    entry = _entry(opened, "Prepare documents")
    _set(
        entry,
        team.dina,
        volume=Decimal("1000000"),
        volume_period="day",
        standard_time=Decimal("300"),
    )
    entry.refresh_from_db()
    assert (entry.volume, entry.standard_time) == (
        Decimal("1000000.0000"),
        Decimal("300.0000"),
    )


def test_every_incumbent_of_a_shared_sheet_edits_it_and_each_change_is_audited(
    team: Team, opened: Analysis, audit_trail
):
    acme = team.acme
    # Eko also acts (Plt) as a clerk: the sheet now has two incumbents with logins.
    org.assign_holder(
        acme.export_staff,
        actor=acme.admin,
        person=team.eko_person,
        start_date=START,
        is_acting=True,
    )
    entry = _entry(opened, "Prepare documents")
    trail = audit_trail(team.organisation)

    _set(entry, team.dina, volume=Decimal("100"))
    entry.refresh_from_db()
    _set(entry, team.eko, volume=Decimal("120"))

    events = trail.new_events()
    assert [(e.verb, e.actor_id, e.changes) for e in events] == [
        (
            AuditVerb.UPDATED,
            team.dina.pk,
            {
                "volume": [None, "100.0000"],
                "standard_time": [None, "30.0000"],
                "entries_version": 2,
            },
        ),
        (
            AuditVerb.UPDATED,
            team.eko.pk,
            {"volume": ["100.0000", "120.0000"], "entries_version": 3},
        ),
    ]
    entry.refresh_from_db()
    assert (entry.volume, entry.version, entry.sheet.entries_version) == (
        Decimal("120"),
        3,
        3,
    )


def test_an_unchanged_entry_writes_nothing(team: Team, opened: Analysis, audit_trail):
    entry = _entry(opened, "Prepare documents")
    _set(entry, team.dina)
    entry.refresh_from_db()
    trail = audit_trail(team.organisation)
    _set(entry, team.dina, volume=Decimal("10.0000"))
    trail.assert_nothing_new()
    entry.refresh_from_db()
    assert (entry.version, entry.sheet.entries_version) == (2, 2)


@pytest.mark.parametrize(
    ("who", "title", "error"),
    [
        ("rina", "Prepare documents", PermissionDenied),  # the superior
        ("hana", "Prepare documents", PermissionDenied),  # analyst, not vacant
        ("auditor", "Prepare documents", PermissionDenied),
        ("partner", "Prepare documents", PermissionDenied),
        ("stranger", "Prepare documents", NotFound),
        ("dina", "Plan loadings", PermissionDenied),  # a vacant sheet: the analyst's
    ],
)
def test_only_incumbents_edit_a_sheet_and_the_analyst_a_vacant_one(
    team: Team, opened: Analysis, unchanged, who, title, error
):
    users = {
        "rina": team.rina,
        "hana": team.hana,
        "dina": team.dina,
        "auditor": team.acme.auditor,
        "partner": team.acme.partner,
    }
    actor = users.get(who) or make_user(who)
    with unchanged(), pytest.raises(error):
        _set(_entry(opened, title), actor)


def test_the_analyst_fills_in_a_vacant_position(team: Team, opened: Analysis):
    _set(_entry(opened, "Plan loadings"), team.hana)
    assert _entry(opened, "Plan loadings").volume == Decimal("10")


def test_a_stale_entry_is_a_conflict(team: Team, opened: Analysis, unchanged):
    entry = _entry(opened, "Prepare documents")
    stale = _entry(opened, "Prepare documents")
    _set(entry, team.dina)
    with unchanged(), pytest.raises(Conflict):
        _set(stale, team.dina, volume=Decimal("11"))  # still at version 1


def test_set_entries_writes_all_rows_or_none(
    team: Team, opened: Analysis, unchanged, audit_trail
):
    prepare = _entry(opened, "Prepare documents")
    book = _entry(opened, "Book containers")
    rows = [
        services.EntryChange(prepare.pk, Decimal("12"), "month", Decimal("2"), "hour"),
        services.EntryChange(book.pk, Decimal("-3"), "week", Decimal("0"), "minute"),
    ]
    with unchanged(), pytest.raises(ValidationFailed) as error:
        services.set_entries(opened, actor=team.dina, rows=rows, now=NOW)
    assert error.value.errors == {
        "rows.1.volume": ["The volume of work cannot be negative."],
        "rows.1.standard_time": ["The standard time must be more than zero."],
    }
    with unchanged(), pytest.raises(ValidationFailed) as twice:
        services.set_entries(opened, actor=team.dina, rows=[rows[0], rows[0]], now=NOW)
    assert twice.value.errors == {"rows": ["Each entry may appear only once."]}
    with unchanged(), pytest.raises(PermissionDenied):
        services.set_entries(
            opened,
            actor=team.dina,
            rows=[
                rows[0],
                services.EntryChange(
                    _entry(opened, "Price shipping").pk,
                    Decimal("1"),
                    "year",
                    Decimal("1"),
                    "minute",
                ),
            ],
            now=NOW,
        )

    trail = audit_trail(team.organisation)
    rows[1] = dataclasses.replace(
        rows[1], volume=Decimal("3"), standard_time=Decimal("5")
    )
    assert services.set_entries(opened, actor=team.dina, rows=rows, now=NOW) == 2
    assert [(e.verb, e.target_id) for e in trail.new_events()] == [
        (AuditVerb.UPDATED, str(prepare.pk)),
        (AuditVerb.UPDATED, str(book.pk)),
    ]
    prepare.refresh_from_db()
    assert (prepare.volume, prepare.volume_period, prepare.standard_time) == (
        Decimal("12"),
        "month",
        Decimal("2"),
    )
    assert prepare.sheet.entries_version == 2


# --- sheets -----------------------------------------------------------------------------


def test_a_sheet_is_submitted_only_when_every_entry_is_filled(
    team: Team, opened: Analysis, unchanged
):
    sheet = team.sheet(opened, team.acme.export_staff)
    _set(_entry(opened, "Prepare documents"), team.dina)
    sheet.refresh_from_db()
    with unchanged(), pytest.raises(ValidationFailed) as error:
        services.submit_sheet(
            sheet, actor=team.dina, expected_version=sheet.version, now=NOW
        )
    assert error.value.errors == {
        "entries": [
            "Fill in the volume and the standard time of every duty first: Book "
            "containers."
        ]
    }


def test_a_position_without_duties_cannot_be_submitted(team: Team, unchanged):
    acme = team.acme
    trainee = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.export,
        title="Export trainee",
        code="EXP-TRAIN",
        superior=acme.export_head,
    )
    analysis = team.open()
    sheet = team.sheet(analysis, trainee)
    with (
        unchanged(),
        pytest.raises(ValidationFailed, match="add them to its job description"),
    ):
        services.submit_sheet(
            sheet, actor=team.hana, expected_version=sheet.version, now=NOW
        )


def test_submit_refusals(team: Team, opened: Analysis, unchanged):
    sheet = team.fill(opened, team.acme.export_staff, team.dina, FIGURES)
    with unchanged():
        with pytest.raises(PermissionDenied):  # the analyst, not vacant
            services.submit_sheet(
                sheet, actor=team.hana, expected_version=None, now=NOW
            )
        with pytest.raises(PermissionDenied):
            services.submit_sheet(
                sheet, actor=team.acme.auditor, expected_version=None, now=NOW
            )
        with pytest.raises(Conflict):
            services.submit_sheet(
                sheet, actor=team.dina, expected_version=sheet.version + 1, now=NOW
            )
    services.submit_sheet(sheet, actor=team.dina, expected_version=None, now=NOW)
    with unchanged(), pytest.raises(ValidationFailed, match="already waiting"):
        services.submit_sheet(sheet, actor=team.dina, expected_version=None, now=NOW)


def test_withdrawing_a_sheet_makes_it_a_draft_again(team: Team, opened: Analysis):
    sheet = team.fill(opened, team.acme.export_staff, team.dina, FIGURES)
    services.submit_sheet(sheet, actor=team.dina, expected_version=None, now=NOW)
    sheet.refresh_from_db()

    services.withdraw_sheet(
        sheet, actor=team.dina, expected_version=sheet.version, now=NOW
    )

    sheet.refresh_from_db()
    assert sheet.status == SheetStatus.DRAFT
    request = latest_request(SubjectKind.WORKLOAD_SHEET, sheet.pk)
    assert request.status == RequestStatus.WITHDRAWN
    _set(_entry(opened, "Prepare documents"), team.dina, volume=Decimal("7"))
    with pytest.raises(ValidationFailed, match="not waiting for validation"):
        services.withdraw_sheet(sheet, actor=team.dina, expected_version=None, now=NOW)


def test_a_rejected_sheet_is_returned_and_its_other_incumbents_are_told(
    team: Team, opened: Analysis
):
    acme = team.acme
    org.assign_holder(
        acme.export_staff,
        actor=acme.admin,
        person=team.eko_person,
        start_date=START,
        is_acting=True,
    )
    sheet = team.fill(opened, acme.export_staff, team.dina, FIGURES)
    services.submit_sheet(sheet, actor=team.dina, expected_version=None, now=NOW)

    approvals.decide(
        latest_request(SubjectKind.WORKLOAD_SHEET, sheet.pk),
        actor=team.rina,
        outcome=Outcome.REJECT,
        comment="Too high.",
        now=NOW,
    )

    sheet.refresh_from_db()
    assert sheet.status == SheetStatus.RETURNED
    titles = Notification.objects.filter(
        event_type="workload.to_fill", key__contains="returned"
    ).values_list("recipient__username", "title")
    assert list(titles) == [
        ("eko", "Workload entries returned for revision: Export clerk — Export 2026")
    ]
    # Anyone of them may submit it again: a new request (the old one is final).
    services.submit_sheet(sheet, actor=team.eko, expected_version=None, now=NOW)
    request = latest_request(SubjectKind.WORKLOAD_SHEET, sheet.pk)
    assert (request.status, request.requester_id) == (
        RequestStatus.OPEN,
        team.eko_person.pk,
    )


def test_the_acting_holder_submits_and_the_superior_validates(
    team: Team, opened: Analysis
):
    sheet = team.fill(opened, team.documents_officer, team.eko, FIGURES)
    services.submit_sheet(sheet, actor=team.eko, expected_version=None, now=NOW)
    request = latest_request(SubjectKind.WORKLOAD_SHEET, sheet.pk)
    assert request.requester_position_id == team.documents_officer.pk
    approvals.decide(request, actor=team.rina, outcome=Outcome.APPROVE, now=NOW)
    sheet.refresh_from_db()
    assert sheet.status == SheetStatus.VALIDATED


# --- computing ---------------------------------------------------------------------------


def test_compute_stores_each_positions_results_and_the_totals(
    team: Team, opened: Analysis, audit_trail
):
    acme = team.acme
    team.fill(opened, acme.export_staff, team.dina, FIGURES)
    team.fill(opened, team.documents_officer, team.eko, FIGURES)
    trail = audit_trail(team.organisation)

    services.compute(opened, actor=team.hana, now=NOW)

    rows = {
        row[0]: row[1:]
        for row in PositionSheet.objects.filter(analysis=opened).values_list(
            "position__code",
            "current_holders",
            "acting_holders",
            "required_staff",
            "required_count",
            "effectiveness",
            "grade",
        )
    }
    # 1,200 × 30 ÷ 75,000 = 0.48; 20 × 15 ÷ 1,500 (a week) = 0.2
    assert rows["EXP-CLERK"] == (2, 0, Decimal("0.68"), 1, Decimal("0.34"), "E")
    # 2,500 × 20 ÷ 75,000 = 0.666667; Eko acts (Plt): not counted by default
    assert rows["EXP-DOC"] == (0, 1, Decimal("0.666667"), 1, None, "")
    assert rows["EXP-PLAN"] == (0, 0, Decimal("0"), 0, None, "")
    opened.refresh_from_db()
    assert opened.required_total == Decimal("1.346667")
    assert opened.required_count == 2
    assert opened.current_count == 3
    assert opened.computed_at == NOW
    event = trail.only_new_event()
    assert event.verb == AuditVerb.COMPUTED
    assert event.changes["required_count"] == [None, 2]


def test_compute_runs_the_same_statements_however_many_positions(
    team: Team, django_assert_num_queries
):
    acme = team.acme
    small = team.open()
    with CaptureQueriesContext(connection) as few:
        services.compute(small, actor=team.hana, now=NOW)
    for number in range(12):
        position = org.create_position(
            acme.organisation,
            actor=acme.admin,
            party=team.hr,
            title=f"Clerk {number}",
            code=f"HR-{number}",
            superior=team.analyst_position,
        )
        for duty in range(3):
            org.create_duty(
                position, actor=acme.admin, title=f"Duty {duty}", output_unit="x"
            )
    large = services.open_analysis(
        acme.head_office, actor=team.hana, year=2026, now=NOW
    )
    assert large.sheets.count() == 18

    with django_assert_num_queries(len(few.captured_queries)):
        services.compute(large, actor=team.hana, now=NOW)
    # The savepoint and its release; the analysis locked; the analyst's role and
    # positions (2); sheets, holders and entries (3); one UPDATE of every sheet
    # (executemany); the analysis's compare-and-set; the audit event (4).
    assert len(few.captured_queries) == 14


def test_only_the_analyst_or_an_administrator_computes(
    team: Team, opened: Analysis, unchanged
):
    with unchanged():
        for actor in (team.rina, team.dina):
            with pytest.raises(PermissionDenied):
                services.compute(opened, actor=actor, now=NOW)
        with pytest.raises(PermissionDenied):
            services.compute(opened, actor=team.acme.auditor, now=NOW)
    services.compute(opened, actor=team.acme.admin, now=NOW)


# --- the analysis -----------------------------------------------------------------------


def test_an_analysis_is_submitted_once_every_sheet_is_validated(
    team: Team, opened: Analysis, unchanged
):
    with unchanged(), pytest.raises(ValidationFailed) as error:
        services.submit_analysis(
            opened, actor=team.hana, expected_version=None, now=NOW
        )
    assert error.value.message == (
        "4 of 4 positions are not validated yet; every position's entries must be "
        "validated first."
    )
    validate_all(team, opened)
    opened.refresh_from_db()
    with unchanged(), pytest.raises(PermissionDenied):
        services.submit_analysis(
            opened, actor=team.rina, expected_version=None, now=NOW
        )
    with unchanged(), pytest.raises(Conflict):
        services.submit_analysis(
            opened, actor=team.hana, expected_version=opened.version - 1, now=NOW
        )
    services.submit_analysis(
        opened, actor=team.hana, expected_version=opened.version, now=NOW
    )
    opened.refresh_from_db()
    assert opened.status == AnalysisStatus.IN_REVIEW
    assert opened.required_count == 4


def test_returned_analysis_collects_again_and_is_resubmitted_on_the_same_request(
    team: Team, opened: Analysis
):
    validate_all(team, opened)
    opened.refresh_from_db()
    services.submit_analysis(opened, actor=team.hana, expected_version=None, now=NOW)
    request = latest_request(SubjectKind.WORKLOAD_ANALYSIS, opened.pk)
    approvals.decide(
        request,
        actor=team.sari,
        outcome=Outcome.RETURN,
        comment="Explain the planner.",
        return_to_stage=0,
        now=NOW,
    )
    opened.refresh_from_db()
    assert opened.status == AnalysisStatus.COLLECTING

    services.submit_analysis(opened, actor=team.hana, expected_version=None, now=NOW)

    request.refresh_from_db()
    opened.refresh_from_db()
    assert request.status == RequestStatus.OPEN
    assert request.subject_version == opened.version
    assert opened.status == AnalysisStatus.IN_REVIEW
    approvals.decide(request, actor=team.sari, outcome=Outcome.APPROVE, now=NOW)
    opened.refresh_from_db()
    assert opened.status == AnalysisStatus.APPROVED


def test_a_withdrawn_analysis_collects_again(team: Team, opened: Analysis):
    validate_all(team, opened)
    services.submit_analysis(opened, actor=team.hana, expected_version=None, now=NOW)
    opened.refresh_from_db()
    services.withdraw_analysis(
        opened, actor=team.hana, expected_version=opened.version, now=NOW
    )
    opened.refresh_from_db()
    assert opened.status == AnalysisStatus.COLLECTING


def test_an_approved_analysis_refuses_every_write(
    team: Team, opened: Analysis, unchanged
):
    approve(team, opened)
    sheet = team.sheet(opened, team.acme.export_staff)
    frozen = "approved and frozen"
    with unchanged():
        with pytest.raises(ValidationFailed, match=frozen):
            _set(_entry(opened, "Prepare documents"), team.dina)
        with pytest.raises(ValidationFailed, match=frozen):
            services.set_entries(
                opened,
                actor=team.dina,
                rows=[
                    services.EntryChange(
                        _entry(opened, "Prepare documents").pk,
                        Decimal(1),
                        "year",
                        Decimal(1),
                        "minute",
                    )
                ],
                now=NOW,
            )
        with pytest.raises(ValidationFailed, match=frozen):
            services.compute(opened, actor=team.hana, now=NOW)
        with pytest.raises(ValidationFailed, match=frozen):
            services.submit_analysis(
                opened, actor=team.hana, expected_version=None, now=NOW
            )
        with pytest.raises(ValidationFailed, match=frozen):
            services.withdraw_sheet(
                sheet, actor=team.dina, expected_version=None, now=NOW
            )
        with pytest.raises(ValidationFailed, match=frozen):
            services.cancel_analysis(
                opened, actor=team.hana, expected_version=None, reason="x", now=NOW
            )
        with pytest.raises(ValidationFailed, match="start a new revision"):
            services.open_analysis(
                team.acme.export, actor=team.hana, year=2026, now=NOW
            )


def test_cancel_needs_a_reason_and_not_a_pending_approval(
    team: Team, opened: Analysis, unchanged, audit_trail
):
    with unchanged(), pytest.raises(ValidationFailed) as error:
        services.cancel_analysis(
            opened, actor=team.hana, expected_version=None, reason=" ", now=NOW
        )
    assert error.value.errors == {"reason": ["This field is required."]}
    trail = audit_trail(team.organisation)
    services.cancel_analysis(
        opened,
        actor=team.hana,
        expected_version=opened.version,
        reason="Reorg",
        now=NOW,
    )
    opened.refresh_from_db()
    assert opened.status == AnalysisStatus.CANCELLED
    event = trail.only_new_event()
    assert (event.verb, event.personal.changes) == (
        AuditVerb.CANCELLED,
        {"reason": "Reorg"},
    )
    # A cancelled analysis of the unit and year does not stop a new one.
    again = team.open()
    assert again.revision == 2
    assert again.previous_id is None


def test_a_revision_follows_the_organisation_as_it_is_now(team: Team, opened: Analysis):
    acme = team.acme
    approve(team, opened)
    org.deactivate_position(team.planner, actor=acme.admin, expected_version=None)
    org.create_duty(
        acme.export_staff, actor=acme.admin, title="Track vessels", output_unit="call"
    )
    org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.export,
        title="Export analyst",
        code="EXP-AN",
        superior=acme.export_head,
    )

    revision = services.start_revision(opened, actor=team.hana, now=NOW)

    assert [
        (change.kind, change.position_code, change.duty)
        for change in __import__("rantai.workload.queries").workload.queries.diff(
            revision
        )
    ] == [
        ("position_added", "EXP-AN", ""),
        ("position_removed", "EXP-PLAN", ""),
        ("entry_added", "EXP-CLERK", "Track vessels"),
    ]
    copied = _entry(revision, "Prepare documents")
    assert (copied.volume, copied.standard_time) == (Decimal("1200"), Decimal("30"))
    with pytest.raises(ValidationFailed, match="already exists"):
        services.start_revision(opened, actor=team.hana, now=NOW)
    with pytest.raises(ValidationFailed, match="Only an approved analysis"):
        services.start_revision(revision, actor=team.hana, now=NOW)


def test_notifications_go_to_the_incumbents_with_logins_only(team: Team):
    analysis = team.open()
    recipients = set(
        Notification.objects.filter(
            event_type="workload.to_fill", key=f"workload:analysis:{analysis.pk}:opened"
        ).values_list("recipient__username", flat=True)
    )
    # Budi has no login; the planner is vacant; Hana opened it.
    assert recipients == {"member", "dina", "eko"}


# --- duties that change while the analysis is open ---------------------------------------


def _entries(sheet: PositionSheet) -> list[tuple[str, str, int, Decimal | None]]:
    return [
        (e.title, e.output_unit, e.sort_order, e.volume)
        for e in Entry.objects.filter(sheet=sheet).order_by("sort_order", "id")
    ]


def _refresh(sheet: PositionSheet, actor, **kwargs):  # type: ignore[no-untyped-def]
    sheet.refresh_from_db()
    return services.refresh_duties(
        sheet,
        actor=actor,
        expected_version=kwargs.pop("expected_version", sheet.version),
        now=LATER,
        **kwargs,
    )


def test_a_position_given_duties_later_takes_them_and_can_be_submitted(
    team: Team, audit_trail
):
    acme = team.acme
    trainee = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.export,
        title="Export trainee",
        code="EXP-TRAIN",
        superior=acme.export_head,
    )
    org.assign_holder(
        trainee, actor=acme.admin, person=team.eko_person, start_date=START
    )
    analysis = team.open()
    sheet = team.sheet(analysis, trainee)
    assert services.plan_duties(sheet) == services.DutyChanges()
    learn = org.create_duty(
        trainee, actor=acme.admin, title="Learn customs codes", output_unit="lesson"
    )
    org.create_duty(trainee, actor=acme.admin, title="File papers", output_unit="file")
    trail = audit_trail(team.organisation)

    changes = _refresh(sheet, team.eko)

    assert changes == services.DutyChanges(added=("Learn customs codes", "File papers"))
    assert changes.changes_anything
    assert _entries(sheet) == [
        ("Learn customs codes", "lesson", 10, None),
        ("File papers", "file", 20, None),
    ]
    sheet.refresh_from_db()
    assert (sheet.entries_version, sheet.version, sheet.status) == (2, 1, "draft")
    (event,) = trail.new_events()
    assert (event.verb, event.actor_id, event.target_id, event.changes) == (
        AuditVerb.UPDATED,
        team.eko.pk,
        str(sheet.pk),
        {
            "entries_added": [learn.pk, learn.pk + 1],
            "entries_removed": [],
            "entries_updated": {},
            "entries_version": [1, 2],
        },
    )
    team.fill(
        analysis,
        trainee,
        team.eko,
        {
            "Learn customs codes": ("2", "week", "1", "hour"),
            "File papers": ("30", "month", "10", "minute"),
        },
    )
    submitted = services.submit_sheet(
        sheet, actor=team.eko, expected_version=sheet.version, now=LATER
    )
    assert submitted.status == SheetStatus.SUBMITTED


def test_taking_the_duties_again_follows_the_job_description(
    team: Team, opened: Analysis, audit_trail
):
    acme = team.acme
    sheet = team.sheet(opened, acme.export_staff)
    prepare = _entry(opened, "Prepare documents")
    _set(prepare, team.dina)  # filled: keeps its title, and its place
    # The job description changes: a duty first in the order, another retired
    # (its entry empty), a renamed one (unfilled), a retired one with figures.
    first = org.create_duty(
        acme.export_staff,
        actor=acme.admin,
        title="Check the booking list",
        output_unit="list",
        sort_order=1,
    )
    org.update_duty(
        team.prepare, actor=acme.admin, expected_version=None, title="Prepare papers"
    )
    org.update_duty(
        team.book,
        actor=acme.admin,
        expected_version=None,
        title="Book containers and trucks",
        output_unit="booking request",
    )
    assert services.plan_duties(sheet) == services.DutyChanges(
        added=("Check the booking list",),
        updated=("Book containers and trucks",),
        reordered=True,
    )
    trail = audit_trail(team.organisation)

    changes = _refresh(sheet, team.dina)

    assert changes == services.DutyChanges(
        added=("Check the booking list",),
        updated=("Book containers and trucks",),
        reordered=True,
    )
    assert _entries(sheet) == [
        ("Check the booking list", "list", 10, None),
        ("Prepare documents", "document set", 20, Decimal("10")),
        ("Book containers and trucks", "booking request", 30, None),
    ]
    book = _entry(opened, "Book containers and trucks")
    (event,) = trail.new_events()
    assert event.changes == {
        "entries_added": [first.pk],
        "entries_removed": [],
        "entries_updated": {
            str(team.book.pk): [
                ["Book containers", "booking"],
                ["Book containers and trucks", "booking request"],
            ]
        },
        "entries_version": [2, 3],
    }
    assert book.version == 2
    # Nothing left to change: the same call writes nothing.
    trail = audit_trail(team.organisation)
    assert _refresh(sheet, team.dina) == services.DutyChanges()
    trail.assert_nothing_new()
    sheet.refresh_from_db()
    assert sheet.entries_version == 3


def test_retired_duties_go_when_empty_and_stay_while_they_have_figures(
    team: Team, opened: Analysis
):
    acme = team.acme
    sheet = team.sheet(opened, acme.export_staff)
    prepare = _entry(opened, "Prepare documents")
    _set(prepare, team.dina, standard_time=None)  # one figure is enough to keep it
    for duty in (team.prepare, team.book):
        org.deactivate_duty(duty, actor=acme.admin, expected_version=None)

    changes = _refresh(sheet, team.dina)

    assert changes == services.DutyChanges(
        removed=("Book containers",), kept=("Prepare documents",)
    )
    assert _entries(sheet) == [("Prepare documents", "document set", 10, Decimal(10))]
    # It stays, flagged, until its figures are cleared; then it goes.
    assert services.plan_duties(sheet) == services.DutyChanges(
        kept=("Prepare documents",)
    )
    prepare.refresh_from_db()
    _set(prepare, team.dina, volume=None, standard_time=None)
    assert _refresh(sheet, team.dina) == services.DutyChanges(
        removed=("Prepare documents",)
    )
    assert _entries(sheet) == []
    with pytest.raises(ValidationFailed, match="has no duties"):
        services.submit_sheet(sheet, actor=team.dina, expected_version=None, now=LATER)


def test_the_analyst_takes_the_duties_of_a_vacant_position(
    team: Team, opened: Analysis
):
    org.create_duty(
        team.planner, actor=team.admin, title="Plan trucks", output_unit="plan"
    )
    sheet = team.sheet(opened, team.planner)

    changes = _refresh(sheet, team.hana)

    assert changes.added == ("Plan trucks",)
    assert [title for title, *_rest in _entries(sheet)] == [
        "Plan loadings",
        "Plan trucks",
    ]


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("rina", PermissionDenied),  # the superior
        ("hana", PermissionDenied),  # the analyst, the position has a holder
        ("auditor", PermissionDenied),
        ("stranger", NotFound),
    ],
)
def test_only_who_fills_in_a_sheet_takes_its_duties_again(
    team: Team, opened: Analysis, unchanged, who, error
):
    org.create_duty(
        team.acme.export_staff, actor=team.admin, title="Weigh", output_unit="load"
    )
    users = {"rina": team.rina, "hana": team.hana, "auditor": team.acme.auditor}
    actor = users.get(who) or make_user(who)
    sheet = team.sheet(opened, team.acme.export_staff)
    with unchanged(), pytest.raises(error):
        _refresh(sheet, actor)


def test_duties_are_taken_again_only_while_the_sheet_can_change(
    team: Team, opened: Analysis, unchanged
):
    acme = team.acme
    sheet = team.fill(opened, acme.export_staff, team.dina, FIGURES)
    org.create_duty(acme.export_staff, actor=team.admin, title="Weigh", output_unit="t")
    with unchanged(), pytest.raises(Conflict):
        _refresh(sheet, team.dina, expected_version=sheet.version + 1)
    services.submit_sheet(sheet, actor=team.dina, expected_version=None, now=NOW)
    with unchanged(), pytest.raises(ValidationFailed, match="withdraw it first"):
        _refresh(sheet, team.dina)


def test_an_approved_analysis_takes_no_duties(team: Team, opened: Analysis, unchanged):
    approve(team, opened)
    org.create_duty(
        team.acme.export_staff, actor=team.admin, title="Weigh", output_unit="t"
    )
    sheet = team.sheet(opened, team.acme.export_staff)
    sheet.status = SheetStatus.DRAFT  # as a stale page would think
    with unchanged(), pytest.raises(ValidationFailed):
        _refresh(sheet, team.dina)


# --- staff without logins ------------------------------------------------------------------


def _without_logins(team: Team):  # type: ignore[no-untyped-def]
    """Export driver (EXP-DRV), held by Budi and a new driver, neither with a
    login; duty "Drive containers"."""
    acme = team.acme
    driver = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.export,
        title="Export driver",
        code="EXP-DRV",
        superior=acme.export_head,
        max_holders=2,
    )
    org.create_duty(
        driver, actor=acme.admin, title="Drive containers", output_unit="trip"
    )
    org.assign_holder(driver, actor=acme.admin, person=acme.budi, start_date=START)
    tono = org.create_person(acme.organisation, actor=acme.admin, full_name="Tono")
    org.assign_holder(driver, actor=acme.admin, person=tono, start_date=START)
    return driver, tono


def test_the_analyst_fills_in_for_holders_without_logins(team: Team):
    driver, _tono = _without_logins(team)
    analysis = team.open()
    sheet = team.sheet(analysis, driver)
    assert services.may_edit_sheet(sheet, team.hana, now=NOW)
    assert not services.may_edit_sheet(sheet, team.dina, now=NOW)
    assert not services.may_edit_sheet(sheet, team.acme.auditor, now=NOW)

    team.fill(
        analysis, driver, team.hana, {"Drive containers": ("3", "day", "1", "hour")}
    )
    services.submit_sheet(sheet, actor=team.hana, expected_version=None, now=NOW)

    request = latest_request(SubjectKind.WORKLOAD_SHEET, sheet.pk)
    assert (request.requested_by_id, request.requester_position_id) == (
        team.hana.pk,
        team.analyst_position.pk,
    )
    approvals.decide(request, actor=team.rina, outcome=Outcome.APPROVE, now=NOW)
    sheet.refresh_from_db()
    assert sheet.status == SheetStatus.VALIDATED


@pytest.mark.parametrize("login", ["auditor", "inactive_member", "inactive_user"])
def test_a_login_that_cannot_write_counts_as_none(team: Team, login):
    driver, tono = _without_logins(team)
    acme = team.acme
    user = acme.auditor if login == "auditor" else make_user("tono")
    if login != "auditor":
        membership.add_member(
            acme.organisation, actor=acme.admin, user=user, role=Role.MEMBER
        )
    org.update_person(tono, actor=acme.admin, expected_version=None, user=user)
    if login == "inactive_member":
        membership.end_membership(
            Membership.objects.get(organisation=acme.organisation, user=user),
            actor=acme.admin,
            expected_version=None,
        )
    if login == "inactive_user":  # as Django's admin does it (no service)
        user.is_active = False
        user.save(update_fields=["is_active"])
    analysis = team.open()

    assert services.may_edit_sheet(team.sheet(analysis, driver), team.hana, now=NOW)


def test_once_a_holder_has_a_login_the_analyst_no_longer_fills_in(
    team: Team, unchanged
):
    driver, tono = _without_logins(team)
    acme = team.acme
    analysis = team.open()
    sheet = team.sheet(analysis, driver)
    user = make_user("tono")
    membership.add_member(
        acme.organisation, actor=acme.admin, user=user, role=Role.MEMBER
    )
    org.update_person(tono, actor=acme.admin, expected_version=None, user=user)

    assert not services.may_edit_sheet(sheet, team.hana, now=NOW)
    assert services.may_edit_sheet(sheet, user, now=NOW)
    entry = Entry.objects.get(sheet=sheet)
    with unchanged(), pytest.raises(PermissionDenied, match="none of its holders"):
        _set(entry, team.hana)
    _set(entry, user)


def test_the_incumbents_say_who_fills_in(team: Team):
    driver, tono = _without_logins(team)
    day = dt.date(2026, 3, 2)

    found = services.incumbents(
        team.organisation.pk,
        [driver.pk, team.acme.export_staff.pk, team.planner.pk],
        day,
    )

    assert found == {
        driver.pk: services.Incumbents(
            frozenset({team.acme.budi.pk, tono.pk}), frozenset()
        ),
        team.acme.export_staff.pk: services.Incumbents(
            frozenset({team.acme.budi.pk, team.dina_person.pk}),
            frozenset({team.dina_person.pk}),
        ),
        team.planner.pk: services.Incumbents(),
    }
    assert [
        found[pk].analyst_fills_in
        for pk in (driver.pk, team.acme.export_staff.pk, team.planner.pk)
    ] == [True, False, True]


# --- numbers in messages ------------------------------------------------------------------


@pytest.mark.parametrize(
    ("language", "minutes", "limit"),
    [("en", "75,000", "1,000,000"), ("id", "75.000", "1.000.000")],
)
def test_numbers_in_messages_are_written_the_users_way(language, minutes, limit):
    method = methods.Method.default()
    with translation.override(language):
        _values, errors = services.clean_figures(
            method, "1000001", "year", "75001", "minute"
        )
        _values, places = services.clean_figures(
            method, "1.12345", "year", "1", "minute"
        )
    assert minutes in errors["standard_time"][0]
    assert "75000" not in errors["standard_time"][0]
    assert limit in errors["volume"][0]
    assert "4" in places["volume"][0]


def test_a_returned_sheet_left_without_duties_cannot_be_resubmitted(
    team: Team, opened: Analysis
):
    acme = team.acme
    sheet = team.fill(opened, team.planner, team.hana, FIGURES)
    services.submit_sheet(sheet, actor=team.hana, expected_version=None, now=NOW)
    request = latest_request(SubjectKind.WORKLOAD_SHEET, sheet.pk)
    approvals.decide(
        request,
        actor=team.rina,
        outcome=Outcome.RETURN,
        comment="Planning moved to the head office.",
        return_to_stage=0,
        now=NOW,
    )
    org.deactivate_duty(team.plan, actor=acme.admin, expected_version=None)
    plan = _entry(opened, "Plan loadings")
    _set(plan, team.hana, volume=None, standard_time=None)
    assert _refresh(sheet, team.hana).removed == ("Plan loadings",)

    request.refresh_from_db()
    with pytest.raises(ValidationFailed, match="has no duties"):
        approvals.resubmit(request, actor=team.hana, expected_version=None, now=LATER)
    sheet.refresh_from_db()
    assert sheet.status == SheetStatus.RETURNED
