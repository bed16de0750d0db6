"""An analysis taken through the whole flow, for the report, spreadsheet and CLI
tests: every sheet filled in, validated, computed, submitted and approved by the
analyst's superior, through the services and the approval engine.

With the default method (Permenpan RB 1/2020: WKE 300 min a day, 1,500 a week,
6,250 a month, 75,000 a year):

    EXP-CLERK  1,200 a year x 30 min / 75,000 = 0.48; 4 a day x 15 min / 300 = 0.2
    EXP-PLAN   20 a month x 2 h (120 min) / 6,250 = 0.384
    EXP-HEAD   10 a week x 45 min / 1,500 = 0.3; 300 a year x 1 h / 75,000 = 0.24
    EXP-DOC    2,500 a year x 20 min / 75,000 = 0.666667
"""

from __future__ import annotations

import datetime as dt
import zoneinfo

from rantai.approvals import services as approvals
from rantai.approvals.models import ApprovalRequest, Outcome, SubjectKind
from rantai.workload import services
from rantai.workload.models import Analysis
from rantai.workload.tests.conftest import NOW, Team

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
APPROVED_AT = NOW + dt.timedelta(minutes=30)
JAKARTA = zoneinfo.ZoneInfo("Asia/Jakarta")


def _request(kind: str, subject_id: int) -> ApprovalRequest:
    return ApprovalRequest.objects.filter(
        subject_kind=kind, subject_id=subject_id
    ).latest("id")


def fill_everything(team: Team, analysis: Analysis, *, now: dt.datetime = NOW) -> None:
    acme = team.acme
    team.fill(analysis, acme.export_staff, team.dina, CLERK, now=now)
    team.fill(analysis, acme.export_head, team.rina, HEAD, now=now)
    team.fill(analysis, team.planner, team.hana, PLANNER, now=now)
    team.fill(analysis, team.documents_officer, team.eko, DOCUMENTS, now=now)


def computed(team: Team, analysis: Analysis, *, now: dt.datetime = NOW) -> Analysis:
    """Every sheet filled in and the results computed (still collecting)."""
    fill_everything(team, analysis, now=now)
    services.compute(analysis, actor=team.hana, now=now)
    analysis.refresh_from_db()
    return analysis


def approved(team: Team, analysis: Analysis) -> Analysis:
    """Filled in, validated, computed, submitted and approved by Sari (the
    director, the analyst's superior) at APPROVED_AT."""
    acme = team.acme
    now = NOW
    fill_everything(team, analysis, now=now)
    by_whom = (
        (acme.export_staff, team.dina, team.rina),
        (acme.export_head, team.rina, team.sari),
        (team.planner, team.hana, team.rina),
        (team.documents_officer, team.eko, team.rina),
    )
    for position, incumbent, superior in by_whom:
        sheet = team.sheet(analysis, position)
        services.submit_sheet(
            sheet, actor=incumbent, expected_version=sheet.version, now=now
        )
        approvals.decide(
            _request(SubjectKind.WORKLOAD_SHEET, sheet.pk),
            actor=superior,
            outcome=Outcome.APPROVE,
            now=now,
        )
    services.compute(analysis, actor=team.hana, now=now)
    analysis.refresh_from_db()
    services.submit_analysis(
        analysis, actor=team.hana, expected_version=analysis.version, now=now
    )
    approvals.decide(
        _request(SubjectKind.WORKLOAD_ANALYSIS, analysis.pk),
        actor=team.sari,
        outcome=Outcome.APPROVE,
        now=APPROVED_AT,
    )
    analysis.refresh_from_db()
    return analysis
