"""`rantai workload list|show|report`."""

from __future__ import annotations

import io
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from rantai.testing import small_org
from rantai.workload import reports, services
from rantai.workload.tests import report_data
from rantai.workload.tests.conftest import NOW, Team, build_team
from rantai.workload.tests.pdf_text import pdf_strings


@pytest.fixture
def team(db) -> Team:  # type: ignore[no-untyped-def]
    return build_team(small_org("acme"))


def run_command(*args: str, stdout: io.TextIOBase | None = None) -> str:
    out = stdout or StringIO()
    call_command("workload", *args, stdout=out)
    return out.getvalue() if isinstance(out, StringIO) else ""


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run_command(*args)
    return caught.value


class Terminal(StringIO):
    def isatty(self) -> bool:
        return True


class Redirected(StringIO):
    """A standard output redirected to a file: text and bytes."""

    def __init__(self) -> None:
        super().__init__()
        self.buffer = io.BytesIO()


def test_list_shows_every_analysis_newest_year_first(team: Team):
    computed = report_data.computed(team, team.open())
    team.open(year=2027)

    lines = run_command("list").splitlines()

    assert [line.split() for line in lines] == [
        [
            "ORG",
            "UNIT",
            "NAME",
            "YEAR",
            "REV",
            "STATUS",
            "CURRENT",
            "REQUIRED",
            "ROUNDED",
            "COMPUTED",
        ],
        ["acme", "EXP", "Export", "2027", "1", "collecting", "-", "-", "-", "-"],
        [
            "acme",
            "EXP",
            "Export",
            "2026",
            "1",
            "collecting",
            "3",
            "2.271",
            "4",
            "2026-03-02",
            "08:00",
        ],
    ]
    assert computed.year == 2026
    assert run_command("list", "--org", "acme").splitlines() == lines


def test_list_says_when_there_is_none_and_refuses_an_unknown_organisation(team: Team):
    assert run_command("list", "--org", "acme") == "No workload analyses.\n"
    error = fails("list", "--org", "nope")
    assert (str(error), error.returncode) == (
        "No organisation with the short name 'nope'.",
        2,
    )


def test_show_prints_the_positions_and_their_results(team: Team):
    report_data.computed(team, team.open())

    lines = run_command("show", "EXP", "2026").splitlines()

    assert lines[:6] == [
        "Workload analysis of Export (EXP), 2026, revision 1; organisation: acme",
        "Status: collecting",
        "Method: Permenpan RB No. 1/2020: 1,250 hours (75,000 minutes) a year",
        "Effective working time (WKE): 300 min per day, 1,500 min per week, "
        "6,250 min per month, 75,000 min per year",
        "Computed: 2026-03-02 08:00 (Asia/Jakarta)",
        "Draft — not approved.",
    ]
    assert [line.split() for line in lines[7:]] == [
        [
            "NO",
            "CODE",
            "POSITION",
            "SHEET",
            "DUTIES",
            "CURRENT",
            "REQUIRED",
            "ROUNDED",
            "+/-",
            "EJ",
            "PJ",
            "FTE",
            "CATEGORY",
        ],
        [
            "1",
            "EXP-CLERK",
            "Export",
            "clerk",
            "draft",
            "2",
            "2",
            "0.680",
            "1",
            "-1",
            "0.34",
            "E",
            "0.56",
            "underload",
        ],
        [
            "2",
            "EXP-PLAN",
            "Export",
            "planner",
            "draft",
            "1",
            "0",
            "0.384",
            "1",
            "+1",
            "-",
            "-",
            "0.38",
            "-",
        ],
        [
            "3",
            "EXP-HEAD",
            "Head",
            "of",
            "export",
            "draft",
            "2",
            "1",
            "0.540",
            "1",
            "0",
            "0.54",
            "D",
            "0.47",
            "underload",
        ],
        [
            "4",
            "EXP-DOC",
            "Documents",
            "officer",
            "draft",
            "1",
            "0",
            "0.667",
            "1",
            "+1",
            "-",
            "-",
            "0.55",
            "-",
        ],
        ["Total", "6", "3", "2.271", "4", "+1"],
        [
            "+/-:",
            "shortage",
            "(+)",
            "or",
            "surplus",
            "(-)",
            "of",
            "staff;",
            "EJ:",
            "job",
            "effectiveness;",
        ],
        ["PJ:", "job", "performance", "grade."],
    ]


def test_show_picks_the_latest_revision_unless_told(team: Team):
    analysis = report_data.approved(team, team.open())
    services.start_revision(analysis, actor=team.hana, now=NOW)

    latest = run_command("show", "EXP", "2026").splitlines()
    first = run_command("show", "EXP", "2026", "--revision", "1").splitlines()

    assert latest[0].endswith("2026, revision 2; organisation: acme")
    assert latest[5] == "Draft — not approved."
    assert first[0].endswith("2026, revision 1; organisation: acme")
    assert first[5].startswith("Approved by Sari Wijaya (Director) 20")


def test_the_json_report_is_the_report_data(team: Team):
    analysis = report_data.computed(team, team.open())

    written = run_command("report", "EXP", "2026", "--format", "json")

    assert json.loads(written) == reports.as_json(reports.build(analysis))


def test_the_pdf_and_xlsx_reports_go_to_a_file(team: Team, tmp_path):
    report_data.computed(team, team.open())
    pdf = tmp_path / "abk.pdf"
    xlsx = tmp_path / "abk.xlsx"

    said_pdf = run_command(
        "report", "EXP", "2026", "--format", "pdf", "--output", str(pdf)
    ) + run_command(
        "report",
        "EXP",
        "2026",
        "--format",
        "pdf",
        "--language",
        "id",
        "--output",
        str(tmp_path / "abk-id.pdf"),
    )
    said_xlsx = run_command(
        "report", "EXP", "2026", "--format", "xlsx", "--output", str(xlsx)
    )

    assert said_pdf.splitlines()[0] == (
        f"Wrote the pdf report of EXP 2026 revision 1 to {pdf} "
        f"({pdf.stat().st_size:,} bytes)."
    )
    assert "0.480" in pdf_strings(pdf.read_bytes())
    assert "0,480" in pdf_strings((tmp_path / "abk-id.pdf").read_bytes())
    assert said_xlsx.startswith(
        f"Wrote the xlsx report of EXP 2026 revision 1 to {xlsx}"
    )
    assert load_workbook(xlsx).sheetnames == ["Summary", "Results", "Entries"]


def test_a_binary_report_goes_to_a_redirected_output_but_never_to_a_terminal(
    team: Team,
):
    report_data.computed(team, team.open())
    redirected = Redirected()

    run_command("report", "EXP", "2026", "--format", "pdf", stdout=redirected)

    assert redirected.buffer.getvalue().startswith(b"%PDF-")
    with pytest.raises(CommandError) as caught:
        run_command("report", "EXP", "2026", "--format", "xlsx", stdout=Terminal())
    assert (str(caught.value), caught.value.returncode) == (
        "A xlsx report is binary: give --output FILE or redirect the standard "
        "output to a file.",
        2,
    )


def test_unknown_units_years_and_revisions_are_named(team: Team):
    team.open()
    other = small_org("globex", prefix="g-")
    assert other.export.code == "EXP"

    cases = {
        ("show", "NOPE", "2026"): "No unit with the code 'NOPE'.",
        ("show", "EXP", "2026"): "Several organisations have a unit 'EXP': name "
        "one with --org.",
        ("show", "EXP", "2025", "--org", "acme"): "acme has no workload analysis of "
        "EXP for 2025 (it has: 2026).",
        ("show", "WH", "2026", "--org", "acme"): "acme has no workload analysis of "
        "WH for 2026 (it has none).",
        ("show", "EXP", "2026", "--org", "acme", "--revision", "3"): "The workload "
        "analysis of EXP for 2026 has no revision 3.",
        ("show", "EXP", "last", "--org", "acme"): "A year is a number, not 'last'.",
        ("report", "EXP", "2026", "--org", "nope", "--format", "json"): "No "
        "organisation with the short name 'nope'.",
        ("show", "FWD", "2026", "--org", "acme"): "No unit with the code 'FWD' in "
        "acme.",
    }
    for args, message in cases.items():
        error = fails(*args)
        assert (str(error), error.returncode) == (message, 2), args
