"""Fixtures of the workload tests, for every workload test module to reuse.

`team` builds, through the services, on top of `rantai.testing.small_org`:

    Head office (HO)
      Director (DIR) ......................... Sari (member)
      Human resources (HR)
        HR analyst (HR-AN, under DIR) ........ Hana (member): the analyst
      Export (EXP)
        Head of export (EXP-HEAD, under DIR) . Rina (acme.member)
        Export clerk (EXP-CLERK, 2 holders) .. Budi (no login), Dina (member)
        Export planner (EXP-PLAN) ............ vacant
        Export documentation (EXP-DOCS), a sub-unit of Export
          Documents officer (EXP-DOC) ........ Eko (member), acting (Plt)
      Warehouse (WH)

Every export position reports to the head of export. Duties: EXP-HEAD "Price
shipping", "Approve shipments"; EXP-CLERK "Prepare documents", "Book
containers"; EXP-PLAN "Plan loadings"; EXP-DOC "Check certificates". All
holdings from 1 January 2026; the tests act on 2 March 2026 (`NOW`).

`opened` is the analysis of Export for 2026, opened by Hana at `NOW`.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest

from rantai.accounts.models import Role, User
from rantai.approvals import services as approvals
from rantai.approvals.models import ApprovalRequest, Outcome, SubjectKind
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Duty, Party, PartyKind, Person, Position
from rantai.testing import SmallOrg, make_user, small_org
from rantai.workload import services
from rantai.workload.models import Analysis, Entry, PositionSheet

START = dt.date(2026, 1, 1)
NOW = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)  # 08:00 in Jakarta
LATER = NOW + dt.timedelta(hours=1)


@dataclass
class Team:
    acme: SmallOrg
    hr: Party
    docs: Party
    analyst_position: Position
    planner: Position
    documents_officer: Position
    sari: User
    hana: User
    dina: User
    eko: User
    sari_person: Person
    hana_person: Person
    dina_person: Person
    eko_person: Person
    price: Duty
    approve: Duty
    prepare: Duty
    book: Duty
    plan: Duty
    check: Duty

    @property
    def organisation(self):  # type: ignore[no-untyped-def]
        return self.acme.organisation

    @property
    def admin(self) -> User:
        return self.acme.admin

    @property
    def rina(self) -> User:
        """The head of export's login."""
        return self.acme.member

    def open(self, *, year: int = 2026, now: dt.datetime = NOW) -> Analysis:
        """The analysis of Export for the year, opened by Hana."""
        return services.open_analysis(
            self.acme.export, actor=self.hana, year=year, now=now
        )

    def sheet(self, analysis: Analysis, position: Position) -> PositionSheet:
        return PositionSheet.objects.get(analysis=analysis, position=position)

    def fill(
        self,
        analysis: Analysis,
        position: Position,
        actor: User,
        figures: dict[str, tuple[str, str, str, str]],
        *,
        now: dt.datetime = NOW,
    ) -> PositionSheet:
        """Fill the sheet's entries, by duty title: (volume, period, standard time,
        time unit)."""
        sheet = self.sheet(analysis, position)
        for entry in Entry.objects.filter(sheet=sheet):
            volume, period, standard_time, unit = figures[entry.title]
            services.set_entry(
                entry,
                actor=actor,
                volume=Decimal(volume),
                volume_period=period,
                standard_time=Decimal(standard_time),
                time_unit=unit,
                expected_version=entry.version,
                now=now,
            )
        sheet.refresh_from_db()
        return sheet


# Figures the flow helpers fill in, by duty title: (volume, period, standard
# time, time unit).
FIGURES = {
    "Prepare documents": ("1200", "year", "30", "minute"),
    "Book containers": ("20", "week", "15", "minute"),
    "Price shipping": ("10", "week", "45", "minute"),
    "Approve shipments": ("300", "year", "1", "hour"),
    "Plan loadings": ("20", "month", "2", "hour"),
    "Check certificates": ("2500", "year", "20", "minute"),
}


def latest_request(kind: str, subject_id: int) -> ApprovalRequest:
    return ApprovalRequest.objects.filter(
        subject_kind=kind, subject_id=subject_id
    ).latest("id")


def validate_all(team: Team, analysis: Analysis, *, now: dt.datetime = NOW) -> None:
    """Every sheet filled in (`FIGURES`) by its incumbent (the analyst for the
    vacant planner), submitted and validated by the position's superior."""
    acme = team.acme
    fillers = {
        acme.export_staff.pk: (team.dina, team.rina),
        team.planner.pk: (team.hana, team.rina),
        acme.export_head.pk: (team.rina, team.sari),
        team.documents_officer.pk: (team.eko, team.rina),
    }
    for sheet in PositionSheet.objects.filter(analysis=analysis).order_by("id"):
        incumbent, superior = fillers[sheet.position_id]
        sheet = team.fill(analysis, sheet.position, incumbent, FIGURES, now=now)
        services.submit_sheet(
            sheet, actor=incumbent, expected_version=sheet.version, now=now
        )
        approvals.decide(
            latest_request(SubjectKind.WORKLOAD_SHEET, sheet.pk),
            actor=superior,
            outcome=Outcome.APPROVE,
            now=now,
        )


def approve(team: Team, analysis: Analysis, *, now: dt.datetime = NOW) -> Analysis:
    """Validated, computed, submitted by Hana and approved by Sari: frozen."""
    validate_all(team, analysis, now=now)
    analysis.refresh_from_db()
    services.submit_analysis(
        analysis, actor=team.hana, expected_version=analysis.version, now=now
    )
    approvals.decide(
        latest_request(SubjectKind.WORKLOAD_ANALYSIS, analysis.pk),
        actor=team.sari,
        outcome=Outcome.APPROVE,
        now=now,
    )
    analysis.refresh_from_db()
    return analysis


def _member(acme: SmallOrg, username: str, full_name: str) -> tuple[User, Person]:
    user = make_user(username)
    membership.add_member(
        acme.organisation, actor=acme.admin, user=user, role=Role.MEMBER
    )
    person = org.create_person(
        acme.organisation, actor=acme.admin, full_name=full_name, user=user
    )
    return user, person


def build_team(acme: SmallOrg) -> Team:
    admin = acme.admin
    organisation = acme.organisation
    hr = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Human resources",
        code="HR",
        parent=acme.head_office,
    )
    docs = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Export documentation",
        code="EXP-DOCS",
        parent=acme.export,
    )
    analyst_position = org.create_position(
        organisation,
        actor=admin,
        party=hr,
        title="HR analyst",
        code="HR-AN",
        superior=acme.director,
    )
    planner = org.create_position(
        organisation,
        actor=admin,
        party=acme.export,
        title="Export planner",
        code="EXP-PLAN",
        superior=acme.export_head,
    )
    documents_officer = org.create_position(
        organisation,
        actor=admin,
        party=docs,
        title="Documents officer",
        code="EXP-DOC",
        superior=acme.export_head,
    )
    sari, sari_person = _member(acme, "sari", "Sari Wijaya")
    hana, hana_person = _member(acme, "hana", "Hana Putri")
    dina, dina_person = _member(acme, "dina", "Dina Lestari")
    eko, eko_person = _member(acme, "eko", "Eko Prasetyo")
    org.assign_holder(acme.director, actor=admin, person=sari_person, start_date=START)
    org.assign_holder(
        analyst_position, actor=admin, person=hana_person, start_date=START
    )
    org.assign_holder(
        acme.export_staff, actor=admin, person=dina_person, start_date=START
    )
    org.assign_holder(
        documents_officer,
        actor=admin,
        person=eko_person,
        start_date=START,
        is_acting=True,
    )
    price = Duty.objects.get(position=acme.export_head, title="Price shipping")
    approve = org.create_duty(
        acme.export_head, actor=admin, title="Approve shipments", output_unit="shipment"
    )
    prepare = org.create_duty(
        acme.export_staff,
        actor=admin,
        title="Prepare documents",
        output_unit="document set",
    )
    book = org.create_duty(
        acme.export_staff, actor=admin, title="Book containers", output_unit="booking"
    )
    plan = org.create_duty(
        planner, actor=admin, title="Plan loadings", output_unit="plan"
    )
    check = org.create_duty(
        documents_officer,
        actor=admin,
        title="Check certificates",
        output_unit="certificate",
    )
    return Team(
        acme=acme,
        hr=hr,
        docs=docs,
        analyst_position=analyst_position,
        planner=planner,
        documents_officer=documents_officer,
        sari=sari,
        hana=hana,
        dina=dina,
        eko=eko,
        sari_person=sari_person,
        hana_person=hana_person,
        dina_person=dina_person,
        eko_person=eko_person,
        price=price,
        approve=approve,
        prepare=prepare,
        book=book,
        plan=plan,
        check=check,
    )


@pytest.fixture
def team(db) -> Team:  # type: ignore[no-untyped-def]
    """Acme with an HR analyst, a sub-unit, an acting holder and a vacancy."""
    return build_team(small_org("acme"))


@pytest.fixture
def opened(team: Team) -> Analysis:
    """The analysis of Export for 2026, opened by Hana at NOW."""
    return team.open()
