"""Reads of workload analyses: who sees what, the sheets table in a fixed number of
queries, the focus page's sheets to fill in, and the rules pages ask."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.core.errors import NotFound
from rantai.org import services as org
from rantai.testing import make_user, small_org
from rantai.workload import queries, services
from rantai.workload.models import Analysis, Entry, SheetStatus
from rantai.workload.tests.conftest import FIGURES, NOW, START, Team, approve


def test_administrators_members_and_auditors_read_analyses(
    team: Team, opened: Analysis
):
    acme = team.acme
    for user in (acme.admin, acme.member, acme.auditor, team.dina):
        assert list(queries.analyses(acme.organisation, user=user)) == [opened]
        assert queries.analysis(acme.organisation, opened.pk, user=user) == opened


@pytest.mark.parametrize("who", ["partner", "stranger", "other"])
def test_partners_and_outsiders_see_nothing(team: Team, opened: Analysis, who):
    acme = team.acme
    if who == "partner":
        user = acme.partner
    elif who == "other":
        user = small_org("globex", prefix="g-").admin
    else:
        user = make_user("stranger")
    with pytest.raises(NotFound):
        queries.analyses(acme.organisation, user=user)
    with pytest.raises(NotFound):
        queries.analysis(acme.organisation, opened.pk, user=user)
    with pytest.raises(NotFound):
        queries.sheet(opened, opened.sheets.first().pk, user=user)


def test_one_organisation_never_reads_anothers_analysis(team: Team, opened: Analysis):
    globex = small_org("globex", prefix="g-")
    with pytest.raises(NotFound):
        queries.analysis(globex.organisation, opened.pk, user=globex.admin)
    with pytest.raises(NotFound):
        queries.analysis(team.organisation, "nonsense", user=team.admin)


def test_sheets_show_positions_holders_and_entry_counts(team: Team, opened: Analysis):
    acme = team.acme
    team.fill(opened, acme.export_staff, team.dina, FIGURES)

    rows = queries.sheets(opened, now=NOW)

    assert [
        (
            row.position_code,
            [(h.name, h.acting) for h in row.holders],
            row.entries_filled,
            row.entries_total,
            row.is_vacant,
            row.status,
        )
        for row in rows
    ] == [
        (
            "EXP-CLERK",
            [("Budi Santoso", False), ("Dina Lestari", False)],
            2,
            2,
            False,
            SheetStatus.DRAFT,
        ),
        ("EXP-PLAN", [], 0, 1, True, SheetStatus.DRAFT),
        ("EXP-HEAD", [("Rina Kusuma", False)], 0, 2, False, SheetStatus.DRAFT),
        ("EXP-DOC", [("Eko Prasetyo", True)], 0, 1, False, SheetStatus.DRAFT),
    ]
    assert rows[0].position_title == "Export clerk"
    assert rows[0].entries_version == 3


def test_sheets_take_two_queries_however_many_positions(
    team: Team, django_assert_num_queries
):
    acme = team.acme
    small = team.open()
    with CaptureQueriesContext(connection) as few:
        queries.sheets(small, now=NOW)
    for number in range(8):
        position = org.create_position(
            acme.organisation,
            actor=acme.admin,
            party=team.hr,
            title=f"Clerk {number}",
            code=f"HR-{number}",
            superior=team.analyst_position,
        )
        org.create_duty(position, actor=acme.admin, title="Filing", output_unit="x")
        person = org.create_person(
            acme.organisation, actor=acme.admin, full_name=f"Clerk {number}"
        )
        org.assign_holder(position, actor=acme.admin, person=person, start_date=START)
    large = services.open_analysis(
        acme.head_office, actor=team.hana, year=2026, now=NOW
    )

    with django_assert_num_queries(2):
        rows = queries.sheets(large, now=NOW)
    assert len(few.captured_queries) == 2
    assert len(rows) == 14
    assert sum(len(row.holders) for row in rows) == 14  # Sari, Hana, 8 clerks, ...


def test_to_fill_lists_the_sheets_a_person_must_fill_in(team: Team, opened: Analysis):
    acme = team.acme
    organisation = acme.organisation

    def codes(person) -> list[str]:  # type: ignore[no-untyped-def]
        return [
            sheet.position.code
            for sheet in queries.to_fill(organisation, person.pk, now=NOW)
        ]

    assert codes(team.dina_person) == ["EXP-CLERK"]
    assert codes(acme.rina) == ["EXP-HEAD"]
    assert codes(team.eko_person) == ["EXP-DOC"]  # acting holders fill in too
    assert codes(team.hana_person) == ["EXP-PLAN"]  # the vacant position
    assert codes(team.sari_person) == []
    assert queries.to_fill(organisation, None) == []

    sheet = team.fill(opened, acme.export_staff, team.dina, FIGURES)
    services.submit_sheet(sheet, actor=team.dina, expected_version=None, now=NOW)
    assert codes(team.dina_person) == []

    # Someone appointed later fills in the vacant sheet instead of the analyst.
    org.assign_holder(
        team.planner, actor=acme.admin, person=team.sari_person, start_date=START
    )
    assert codes(team.hana_person) == []
    assert codes(team.sari_person) == ["EXP-PLAN"]


def test_to_fill_forgets_sheets_of_analyses_no_longer_collecting(
    team: Team, opened: Analysis
):
    services.cancel_analysis(
        opened, actor=team.hana, expected_version=None, reason="Reorg", now=NOW
    )
    assert queries.to_fill(team.organisation, team.dina_person.pk, now=NOW) == []


def test_entries_in_order(team: Team, opened: Analysis):
    sheet = team.sheet(opened, team.acme.export_head)
    assert [entry.title for entry in queries.entries(sheet)] == [
        "Price shipping",
        "Approve shipments",
    ]


def test_diff_is_empty_for_a_first_revision(opened: Analysis):
    assert queries.diff(opened) == []


def test_diff_shows_figures_and_required_staff_before_and_after(
    team: Team, opened: Analysis
):
    approve(team, opened)
    revision = services.start_revision(opened, actor=team.hana, now=NOW)
    entry = Entry.objects.get(sheet__analysis=revision, title="Plan loadings")
    services.set_entry(
        entry,
        actor=team.hana,
        volume=Decimal("20"),
        volume_period="month",
        standard_time=Decimal("90"),
        time_unit="minute",
        expected_version=entry.version,
        now=NOW,
    )
    services.compute(revision, actor=team.hana, now=NOW)
    revision.refresh_from_db()

    changes = queries.diff(revision)

    # 20 × 12 × 120 min ÷ 75,000 = 0.384 → 20 × 12 × 90 ÷ 75,000 = 0.288
    assert changes == [
        queries.Change(
            "entry_changed",
            "EXP-PLAN",
            "Export planner",
            "Plan loadings",
            {
                "standard_time": (Decimal("2.0000"), Decimal("90.0000")),
                "time_unit": ("hour", "minute"),
            },
        ),
        queries.Change(
            "required_changed",
            "EXP-PLAN",
            "Export planner",
            before=Decimal("0.384000"),
            after=Decimal("0.288000"),
        ),
        queries.Change(
            "required_changed",
            before=opened.required_total,
            after=opened.required_total - Decimal("0.096"),
        ),
    ]


def test_pages_ask_who_may_edit_and_analyse(team: Team, opened: Analysis):
    acme = team.acme
    clerk = queries.sheet(
        opened, team.sheet(opened, acme.export_staff).pk, user=team.dina
    )
    planner = queries.sheet(opened, team.sheet(opened, team.planner).pk, user=team.hana)
    assert queries.may_edit_sheet(clerk, team.dina)
    assert not queries.may_edit_sheet(clerk, team.hana)
    assert not queries.may_edit_sheet(clerk, acme.auditor)
    assert queries.may_edit_sheet(planner, team.hana)
    assert queries.may_analyse(opened, team.hana)
    assert queries.may_analyse(opened, acme.admin)
    assert not queries.may_analyse(opened, team.dina)
    assert not queries.may_analyse(opened, acme.auditor)
    assert not queries.may_analyse(opened, None)


def test_the_analysts_rights_pass_to_whoever_holds_the_analysts_position(
    team: Team, opened: Analysis
):
    acme = team.acme
    successor = make_user("successor")
    from rantai.accounts.models import Role
    from rantai.org import membership

    membership.add_member(
        acme.organisation, actor=acme.admin, user=successor, role=Role.MEMBER
    )
    person = org.create_person(
        acme.organisation, actor=acme.admin, full_name="Successor", user=successor
    )
    org.assign_holder(
        team.analyst_position,
        actor=acme.admin,
        person=person,
        start_date=dt.date(2026, 2, 1),
        is_acting=True,
    )
    assert queries.may_analyse(opened, successor)


def _driver(team: Team):  # type: ignore[no-untyped-def]
    """Export driver (EXP-DRV), held by Budi only (no login)."""
    acme = team.acme
    driver = org.create_position(
        acme.organisation,
        actor=acme.admin,
        party=acme.export,
        title="Export driver",
        code="EXP-DRV",
        superior=acme.export_head,
    )
    org.create_duty(driver, actor=acme.admin, title="Drive", output_unit="trip")
    org.assign_holder(driver, actor=acme.admin, person=acme.budi, start_date=START)
    return driver


def test_sheets_say_whom_the_analyst_fills_in_for(team: Team):
    _driver(team)
    analysis = team.open()

    rows = queries.sheets(analysis, now=NOW)

    assert [
        (
            row.position_code,
            [(h.name, h.fills_in) for h in row.holders],
            row.analyst_fills_in,
        )
        for row in rows
    ] == [
        (
            "EXP-CLERK",
            [("Budi Santoso", False), ("Dina Lestari", True)],
            False,
        ),
        ("EXP-DRV", [("Budi Santoso", False)], True),
        ("EXP-PLAN", [], True),
        ("EXP-HEAD", [("Rina Kusuma", True)], False),
        ("EXP-DOC", [("Eko Prasetyo", True)], False),
    ]
    assert queries.holders(team.organisation, team.acme.export_staff.pk, now=NOW) == [
        queries.HolderRow(team.acme.budi.pk, "Budi Santoso", False, False),
        queries.HolderRow(team.dina_person.pk, "Dina Lestari", False, True),
    ]


def test_to_fill_gives_the_analyst_the_sheets_nobody_else_can_fill_in(team: Team):
    driver = _driver(team)
    analysis = team.open()

    sheets = queries.to_fill(team.organisation, team.hana_person.pk, now=NOW)

    assert [sheet.position.code for sheet in sheets] == ["EXP-DRV", "EXP-PLAN"]
    assert queries.to_fill(team.organisation, team.acme.budi.pk, now=NOW) == []
    sheet = team.sheet(analysis, driver)
    assert queries.may_fill_in(sheet, team.hana)
    assert not queries.may_fill_in(sheet, team.dina)


def test_entries_say_whether_their_duty_is_still_active(team: Team, opened: Analysis):
    sheet = team.sheet(opened, team.acme.export_head)
    org.deactivate_duty(team.approve, actor=team.admin, expected_version=None)

    assert [(e.title, e.duty_active) for e in queries.entries(sheet)] == [
        ("Price shipping", True),
        ("Approve shipments", False),
    ]
    assert queries.duty_changes(sheet) == services.DutyChanges(
        removed=("Approve shipments",)
    )
