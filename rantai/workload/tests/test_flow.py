"""The whole flow of a workload analysis, through the services and the approval
engine: open → fill → submit → returned → edited → resubmitted → validated →
computed → submitted → rejected → resubmitted → approved → frozen → revision →
diff."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rantai.approvals import services as approvals
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    Outcome,
    RequestStatus,
    Route,
    RouteStage,
    SubjectKind,
)
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains.models import VersionStatus
from rantai.core.errors import ValidationFailed
from rantai.notifications.models import Notification
from rantai.workload import queries, services
from rantai.workload.models import (
    AnalysisStatus,
    Entry,
    PositionSheet,
    SheetStatus,
)
from rantai.workload.tests.conftest import NOW, Team

STEP = dt.timedelta(minutes=5)

CLERK = {
    "Prepare documents": ("1200", "year", "30", "minute"),
    "Book containers": ("4", "day", "15", "minute"),
}
HEAD = {
    "Price shipping": ("10", "week", "45", "minute"),
    "Approve shipments": ("300", "year", "1", "hour"),
}
PLANNER = {"Plan loadings": ("20", "month", "2", "hour")}
DOCUMENTS = {"Check certificates": ("2500", "year", "20", "minute")}


def _request(kind: str, subject_id: int) -> ApprovalRequest:
    return ApprovalRequest.objects.filter(
        subject_kind=kind, subject_id=subject_id
    ).latest("id")


def _notified(user, event_type: str) -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        Notification.objects.filter(recipient=user, event_type=event_type)
        .order_by("id")
        .values_list("title", flat=True)
    )


def _verbs(target) -> list[str]:  # type: ignore[no-untyped-def]
    return list(
        AuditEvent.objects.filter(
            target_type=f"workload.{type(target)._meta.model_name}",
            target_id=str(target.pk),
        )
        .order_by("sequence")
        .values_list("verb", flat=True)
    )


def _validate_everything_but_the_clerk(team: Team, analysis, now):  # type: ignore[no-untyped-def]
    acme = team.acme
    head = team.fill(analysis, acme.export_head, team.rina, HEAD, now=now)
    services.submit_sheet(head, actor=team.rina, expected_version=head.version, now=now)
    approvals.decide(
        _request(SubjectKind.WORKLOAD_SHEET, head.pk),
        actor=team.sari,
        outcome=Outcome.APPROVE,
        now=now,
    )
    planner = team.fill(analysis, team.planner, team.hana, PLANNER, now=now)
    services.submit_sheet(
        planner, actor=team.hana, expected_version=planner.version, now=now
    )
    documents = team.fill(
        analysis, team.documents_officer, team.eko, DOCUMENTS, now=now
    )
    services.submit_sheet(
        documents, actor=team.eko, expected_version=documents.version, now=now
    )
    for sheet in (planner, documents):
        approvals.decide(
            _request(SubjectKind.WORKLOAD_SHEET, sheet.pk),
            actor=team.rina,
            outcome=Outcome.APPROVE,
            now=now,
        )


@pytest.mark.django_db
def test_the_whole_flow_from_opening_to_a_revision(team: Team):
    acme = team.acme
    now = NOW

    # Hana, the HR analyst, opens the analysis of Export: the unit and its
    # sub-unit, four positions, the default routes, the incumbents told.
    analysis = team.open(now=now)
    assert analysis.status == AnalysisStatus.COLLECTING
    assert analysis.revision == 1
    assert analysis.analyst_id == team.hana_person.pk
    assert analysis.analyst_position_id == team.analyst_position.pk
    assert analysis.working_days == 261  # 2026: weekdays, no holidays recorded
    assert analysis.minutes_per_day == 480
    assert analysis.method == services.method_for(acme.organisation).to_json()
    assert [row.position.code for row in queries.sheets(analysis, now=now)] == [
        "EXP-CLERK",
        "EXP-PLAN",
        "EXP-HEAD",
        "EXP-DOC",
    ]
    routes = {
        route.subject_kind: route
        for route in Route.objects.filter(organisation=acme.organisation)
    }
    assert routes[SubjectKind.WORKLOAD_SHEET].code == "ABK-SHEET"
    assert routes[SubjectKind.WORKLOAD_ANALYSIS].code == "ABK"
    assert routes[SubjectKind.WORKLOAD_SHEET].owner_position == team.analyst_position
    assert list(
        RouteStage.objects.filter(
            route_version__route__in=routes.values(),
            route_version__status=VersionStatus.PUBLISHED,
        )
        .order_by("route_version__route__code")
        .values_list("route_version__route__code", "rule", "levels", "mode")
    ) == [("ABK", "superior", 1, "any"), ("ABK-SHEET", "step_accountable", 1, "any")]
    for user in (team.rina, team.dina, team.eko):
        assert _notified(user, "workload.to_fill") == [
            "Fill in the workload of your position: Export 2026"
        ]
    assert _notified(team.hana, "workload.to_fill") == []
    assert [
        s.position.code
        for s in queries.to_fill(acme.organisation, team.dina_person.pk, now=now)
    ] == ["EXP-CLERK"]
    assert [
        s.position.code
        for s in queries.to_fill(acme.organisation, team.hana_person.pk, now=now)
    ] == ["EXP-PLAN"]

    # Dina fills in the clerks' shared sheet and submits it; Rina (head of
    # export, the position's superior) is asked.
    now += STEP
    clerk = team.fill(analysis, acme.export_staff, team.dina, CLERK, now=now)
    assert clerk.entries_version == 3
    services.submit_sheet(
        clerk, actor=team.dina, expected_version=clerk.version, now=now
    )
    clerk.refresh_from_db()
    assert clerk.status == SheetStatus.SUBMITTED
    request = _request(SubjectKind.WORKLOAD_SHEET, clerk.pk)
    assert request.requester_position_id == acme.export_staff.pk
    assert request.subject_version == 3
    assert list(request.stages.get().approvers.values_list("person_id", flat=True)) == [
        acme.rina.pk
    ]
    with pytest.raises(ValidationFailed, match="withdraw it first"):
        services.set_entry(
            Entry.objects.filter(sheet=clerk).first(),
            actor=team.dina,
            volume=Decimal(1),
            volume_period="year",
            standard_time=Decimal(1),
            time_unit="minute",
            expected_version=None,
            now=now,
        )

    # Rina returns it with a comment; Dina edits and submits again.
    now += STEP
    approvals.decide(
        request,
        actor=team.rina,
        outcome=Outcome.RETURN,
        comment="Bookings are per week, not per day.",
        return_to_stage=0,
        now=now,
    )
    clerk.refresh_from_db()
    assert clerk.status == SheetStatus.RETURNED
    assert _notified(team.dina, "approval.decided") == [
        f"Returned to you for revision: {request.title}"
    ]
    booking = Entry.objects.get(sheet=clerk, title="Book containers")
    services.set_entry(
        booking,
        actor=team.dina,
        volume=Decimal(20),
        volume_period="week",
        standard_time=Decimal(15),
        time_unit="minute",
        expected_version=booking.version,
        now=now,
    )
    clerk.refresh_from_db()
    assert clerk.entries_version == 4
    services.submit_sheet(
        clerk, actor=team.dina, expected_version=clerk.version, now=now
    )
    request.refresh_from_db()
    assert request.status == RequestStatus.OPEN
    assert request.subject_version == 4
    approvals.decide(request, actor=team.rina, outcome=Outcome.APPROVE, now=now)
    clerk.refresh_from_db()
    assert clerk.status == SheetStatus.VALIDATED
    assert clerk.validated_by_id == acme.rina.pk
    assert clerk.validated_at == now

    # The other sheets: the head's by Sari, the vacant planner's (filled in by
    # Hana) and the acting officer's by Rina. Then Hana hears it is all done.
    now += STEP
    _validate_everything_but_the_clerk(team, analysis, now)
    assert _notified(team.hana, "workload.sheets_validated") == [
        "Every position is validated: Export 2026 is ready to compute and submit"
    ]
    assert queries.to_fill(acme.organisation, team.hana_person.pk, now=now) == []

    # Hana computes, then submits; Sari (the analyst's superior) rejects.
    now += STEP
    services.compute(analysis, actor=team.hana, now=now)
    analysis.refresh_from_db()
    assert analysis.computed_at == now
    assert analysis.current_count == 3  # Rina, Budi, Dina; Eko is acting (Plt)
    assert analysis.required_total is not None
    services.submit_analysis(
        analysis, actor=team.hana, expected_version=analysis.version, now=now
    )
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.IN_REVIEW
    first = _request(SubjectKind.WORKLOAD_ANALYSIS, analysis.pk)
    assert first.requester_position_id == team.analyst_position.pk
    assert first.subject_version == analysis.version
    now += STEP
    approvals.decide(
        first,
        actor=team.sari,
        outcome=Outcome.REJECT,
        comment="Check the planner's standard time.",
        now=now,
    )
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.COLLECTING
    assert Decision.objects.get(request=first).comment == (
        "Check the planner's standard time."
    )
    assert _notified(team.hana, "workload.analysis_decided") == [
        "Workload analysis rejected, collecting again: Export 2026"
    ]

    # Submitted again and approved: frozen.
    now += STEP
    services.submit_analysis(
        analysis, actor=team.hana, expected_version=analysis.version, now=now
    )
    second = _request(SubjectKind.WORKLOAD_ANALYSIS, analysis.pk)
    assert second.pk != first.pk
    approvals.decide(second, actor=team.sari, outcome=Outcome.APPROVE, now=now)
    analysis.refresh_from_db()
    assert analysis.status == AnalysisStatus.APPROVED
    assert analysis.is_frozen
    assert analysis.approved_by_id == team.sari_person.pk
    assert analysis.approved_by_position_id == acme.director.pk
    assert analysis.approved_at == now
    assert _notified(team.hana, "workload.analysis_decided")[-1] == (
        "Workload analysis approved: Export 2026"
    )
    with pytest.raises(ValidationFailed, match="approved and frozen"):
        services.compute(analysis, actor=team.hana, now=now)
    with pytest.raises(ValidationFailed, match="approved and frozen"):
        services.set_entry(
            Entry.objects.filter(sheet=clerk).first(),
            actor=team.dina,
            volume=Decimal(1),
            volume_period="year",
            standard_time=Decimal(1),
            time_unit="minute",
            expected_version=None,
            now=now,
        )

    # A revision copies the sheets and entries; a changed figure shows in the diff.
    now += STEP
    revision = services.start_revision(analysis, actor=team.hana, now=now)
    assert (revision.revision, revision.previous_id, revision.status) == (
        2,
        analysis.pk,
        AnalysisStatus.COLLECTING,
    )
    assert set(
        PositionSheet.objects.filter(analysis=revision).values_list("status", flat=True)
    ) == {SheetStatus.DRAFT}
    assert (
        Entry.objects.filter(sheet__analysis=revision, volume__isnull=True).count() == 0
    )
    assert queries.diff(revision) == []  # the same figures, not computed yet
    new_clerk = team.sheet(revision, acme.export_staff)
    preparing = Entry.objects.get(sheet=new_clerk, title="Prepare documents")
    services.set_entry(
        preparing,
        actor=team.dina,
        volume=Decimal(1500),
        volume_period="year",
        standard_time=Decimal(30),
        time_unit="minute",
        expected_version=preparing.version,
        now=now,
    )
    services.compute(revision, actor=team.hana, now=now)
    revision.refresh_from_db()
    changes = queries.diff(revision)
    assert changes[0] == queries.Change(
        "entry_changed",
        "EXP-CLERK",
        "Export clerk",
        "Prepare documents",
        {"volume": (Decimal("1200.0000"), Decimal("1500.0000"))},
    )
    assert [change.kind for change in changes[1:]] == [
        "required_changed",
        "required_changed",
    ]

    # Each step left its trace in the audit trail.
    assert _verbs(clerk) == [
        AuditVerb.SUBMITTED,
        AuditVerb.RETURNED,
        AuditVerb.SUBMITTED,
        AuditVerb.VALIDATED,
    ]
    assert _verbs(analysis) == [
        AuditVerb.CREATED,
        AuditVerb.COMPUTED,
        AuditVerb.SUBMITTED,
        AuditVerb.REJECTED,
        AuditVerb.SUBMITTED,
        AuditVerb.APPROVED,
    ]
