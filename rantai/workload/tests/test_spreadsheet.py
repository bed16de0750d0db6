"""Workload entries in Excel: the pre-filled template, its all-or-nothing import and
the export of entries and results.

The template of the Export analysis has one row per entry, in the order of the
sheets: row 2 "Prepare documents" and row 3 "Book containers" (EXP-CLERK: Budi and
Dina), row 4 "Plan loadings" (EXP-PLAN, vacant: the analyst Hana), rows 5 "Price
shipping" and 6 "Approve shipments" (EXP-HEAD: Rina), row 7 "Check certificates"
(EXP-DOC: Eko, acting).
"""

from __future__ import annotations

import io
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from django.utils import translation
from django.utils.translation import gettext
from openpyxl import Workbook, load_workbook

from rantai.audit.models import AuditVerb
from rantai.conftest import AuditTrail
from rantai.core.errors import ValidationFailed
from rantai.workload import services, spreadsheet
from rantai.workload.models import Analysis, Entry
from rantai.workload.tests import report_data
from rantai.workload.tests.conftest import NOW, Team, approve

pytestmark = pytest.mark.django_db

# The template's columns, as letters.
CODE, POSITION, DUTY_ID, DUTY, OUTPUT = "A", "B", "C", "D", "E"
VOLUME, PERIOD, STANDARD_TIME, TIME_UNIT = "F", "G", "H", "I"
HEADER = [
    "position code",
    "position",
    "duty id",
    "duty",
    "output unit",
    "volume of work",
    "per",
    "standard time",
    "time unit",
]


def filled(data: bytes, cells: dict[str, Any], rows: list[list[Any]] = ()) -> bytes:  # type: ignore[assignment]
    """The workbook with cells of the entries sheet set ({"F2": 12}) and rows added
    at the end."""
    workbook = load_workbook(io.BytesIO(data))
    sheet = workbook.worksheets[0]
    for reference, value in cells.items():
        sheet[reference] = value
    for row in rows:
        sheet.append(row)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def figures(analysis: Analysis) -> dict[str, tuple[Any, ...]]:
    """Every entry's figures and version, by duty."""
    return {
        title: tuple(rest)
        for title, *rest in Entry.objects.filter(sheet__analysis=analysis).values_list(
            "title", "volume", "volume_period", "standard_time", "time_unit", "version"
        )
    }


def refused(
    analysis: Analysis, data: bytes, *, actor: Any, language: str = "en"
) -> list[str]:
    """The problems of an import that must write nothing."""
    before = figures(analysis)
    trail = AuditTrail(analysis.organisation)
    with pytest.raises(spreadsheet.EntriesRejected) as caught:
        spreadsheet.import_entries(analysis, data, actor=actor, language=language)
    assert figures(analysis) == before
    trail.assert_nothing_new()
    assert isinstance(caught.value, ValidationFailed)
    assert list(caught.value.errors) == ["file"]
    return caught.value.errors["file"]


def duty_id(analysis: Analysis, title: str) -> int:
    return Entry.objects.get(sheet__analysis=analysis, title=title).duty_id


# --- the template ---------------------------------------------------------------------------


def test_the_template_has_a_row_per_entry_with_current_values_and_drop_downs(
    team: Team, opened: Analysis
):
    team.fill(opened, team.acme.export_staff, team.dina, report_data.CLERK)

    workbook = load_workbook(
        io.BytesIO(spreadsheet.template(opened, language="en")), data_only=True
    )

    entries, about = workbook.worksheets
    assert (entries.title, entries.sheet_state) == ("Entries", "visible")
    ids = {title: duty_id(opened, title) for title in figures(opened)}
    assert list(entries.iter_rows(values_only=True)) == [
        tuple(HEADER),
        (
            "EXP-CLERK",
            "Export clerk",
            ids["Prepare documents"],
            "Prepare documents",
            "document set",
            1200,
            "per year",
            30,
            "minutes",
        ),
        (
            "EXP-CLERK",
            "Export clerk",
            ids["Book containers"],
            "Book containers",
            "booking",
            4,
            "per day",
            15,
            "minutes",
        ),
        (
            "EXP-PLAN",
            "Export planner",
            ids["Plan loadings"],
            "Plan loadings",
            "plan",
            None,
            "per year",
            None,
            "minutes",
        ),
        (
            "EXP-HEAD",
            "Head of export",
            ids["Price shipping"],
            "Price shipping",
            "quotation",
            None,
            "per year",
            None,
            "minutes",
        ),
        (
            "EXP-HEAD",
            "Head of export",
            ids["Approve shipments"],
            "Approve shipments",
            "shipment",
            None,
            "per year",
            None,
            "minutes",
        ),
        (
            "EXP-DOC",
            "Documents officer",
            ids["Check certificates"],
            "Check certificates",
            "certificate",
            None,
            "per year",
            None,
            "minutes",
        ),
    ]
    assert [
        (str(validation.sqref), validation.formula1)
        for validation in entries.data_validations.dataValidation
    ] == [
        ("G2:G7", '"per day,per week,per month,per year"'),
        ("I2:I7", '"minutes,hours"'),
    ]
    assert (about.title, about.sheet_state) == ("About", "hidden")
    assert list(about.iter_rows(values_only=True)) == [
        ("kind", "workload-entries"),
        ("organisation", "acme"),
        ("unit", "EXP"),
        ("year", 2026),
        ("revision", 1),
    ]


# --- importing ------------------------------------------------------------------------------


def test_a_filled_in_template_imports_with_indonesian_numbers_and_words(
    team: Team, opened: Analysis
):
    # Dina fills in the clerks' rows the Indonesian way: text numbers with a
    # decimal comma and a thousands point, Indonesian words for period and unit,
    # a numeric cell and a code.
    template = spreadsheet.template(opened, language="id")
    data = filled(
        template,
        {
            "F2": "1.200",
            "G2": "per tahun",
            "H2": "0,5",
            "I2": "jam",
            "F3": 20,
            "G3": "week",
            "H3": 15.25,
            "I3": "menit",
        },
    )
    before = figures(opened)
    trail = AuditTrail(opened.organisation)

    changed = spreadsheet.import_entries(opened, data, actor=team.dina, language="id")

    assert changed == 2
    after = figures(opened)
    assert after["Prepare documents"] == (
        Decimal("1200.0000"),
        "year",
        Decimal("0.5000"),
        "hour",
        2,
    )
    assert after["Book containers"] == (
        Decimal("20.0000"),
        "week",
        Decimal("15.2500"),
        "minute",
        2,
    )
    # Only what changed: the other positions' rows were left as they were.
    assert {k: v for k, v in after.items() if k not in before or v != before[k]} == {
        "Prepare documents": after["Prepare documents"],
        "Book containers": after["Book containers"],
    }
    events = trail.new_events()
    assert [(e.verb, e.target_type) for e in events] == [
        (AuditVerb.UPDATED, "workload.entry"),
        (AuditVerb.UPDATED, "workload.entry"),
    ]


def test_english_numbers_import_with_the_english_language(team: Team, opened: Analysis):
    data = filled(
        spreadsheet.template(opened, language="en"),
        {"F5": "1,250.5", "G5": "per year", "H5": "2.5", "I5": "minutes"},
    )

    assert spreadsheet.import_entries(opened, data, actor=team.rina, language="en") == 1
    assert figures(opened)["Price shipping"][:4] == (
        Decimal("1250.5000"),
        "year",
        Decimal("2.5000"),
        "minute",
    )


def test_the_same_file_goes_round_the_unit_and_each_imports_their_rows(
    team: Team, opened: Analysis
):
    # One file with everybody's figures: Rina's rows are unchanged when Dina
    # imports hers, so only Dina's count; then Rina imports her own.
    template = spreadsheet.template(opened, language="en")
    dina = filled(template, {"F2": 100, "H2": 5, "F3": 200, "H3": 6})
    spreadsheet.import_entries(opened, dina, actor=team.dina, language="en")
    both = filled(
        spreadsheet.template(opened, language="en"),
        {"F5": 7, "H5": 8, "F6": 9, "H6": 1},
    )

    assert spreadsheet.import_entries(opened, both, actor=team.rina, language="en") == 2
    # Importing the same file again changes nothing and writes nothing.
    trail = AuditTrail(opened.organisation)
    assert spreadsheet.import_entries(opened, both, actor=team.rina, language="en") == 0
    trail.assert_nothing_new()


def test_headers_may_be_written_the_indonesian_way(team: Team, opened: Analysis):
    data = filled(
        spreadsheet.template(opened, language="en"),
        {
            "A1": "Kode jabatan",
            "C1": "ID tugas",
            "D1": "Uraian tugas",
            "E1": "Satuan hasil",
            "F1": "Beban kerja",
            "G1": "Periode",
            "H1": "Norma waktu",
            "I1": "Satuan waktu",
            "F4": 12,
            "G4": "bulan",
            "H4": 3,
            "I4": "jam",
        },
    )

    assert spreadsheet.import_entries(opened, data, actor=team.hana, language="id") == 1
    assert figures(opened)["Plan loadings"][:4] == (
        Decimal("12.0000"),
        "month",
        Decimal("3.0000"),
        "hour",
    )


def test_values_against_the_rules_are_reported_by_row_and_column(
    team: Team, opened: Analysis
):
    data = filled(
        spreadsheet.template(opened, language="en"),
        {
            "F2": -5,  # negative
            "H2": 10,
            "F3": 2_000_000,  # absurd
            "H3": 10,
            "G3": "per day",
        },
        rows=[
            # A duty of the clerks already on row 3: reported as a duplicate.
            [
                "EXP-CLERK",
                "",
                duty_id(opened, "Book containers"),
                "",
                "",
                1,
                "day",
                1,
                "minute",
            ],
        ],
    )
    more = filled(
        spreadsheet.template(opened, language="en"),
        {
            "F2": 1,
            "H2": 0,  # not more than zero
            "F3": 1,
            "G3": "day",
            "H3": 6,
            "I3": "hours",  # 360 minutes in a 300-minute day
        },
    )

    assert refused(opened, data, actor=team.dina) == [
        "Row 2, volume of work: The volume of work cannot be negative.",
        "Row 3, volume of work: More than 1,000,000 per period cannot be right: "
        "check the number and the period.",
        "Row 8: This duty is already on row 3.",
    ]
    assert refused(opened, more, actor=team.dina) == [
        "Row 2, standard time: The standard time must be more than zero.",
        "Row 3, standard time: One output would take longer than the whole period's "
        "effective working time (300 minutes per day).",
    ]


def test_numbers_periods_and_units_people_could_mean_two_ways_are_refused(
    team: Team, opened: Analysis
):
    indonesian = filled(
        spreadsheet.template(opened, language="id"),
        {
            "F2": "1.5",  # a point before other than three digits
            "H2": "abc",
            "F3": "0,12345",  # five decimals
            "G3": "fortnight",
            "I3": "seconds",
        },
    )
    english = filled(
        spreadsheet.template(opened, language="en"),
        {"F2": "1,5", "H2": "2"},
    )

    # In Indonesian, whatever the catalogue holds today: the same messages.
    with translation.override("id"):

        def row(number: int, column: str, message: str) -> str:
            return gettext("Row %(row)d, %(column)s: %(message)s") % {
                "row": number,
                "column": gettext(column),
                "message": message,
            }

        def not_one_of(value: str, choices: list[str]) -> str:
            return gettext("“%(value)s” is not one of: %(choices)s.") % {
                "value": value,
                "choices": ", ".join(gettext(choice) for choice in choices),
            }

        expected = [
            row(
                2,
                "volume of work",
                gettext("Use %(mark)s as the decimal mark: write %(suggestion)s.")
                % {"mark": "“,”", "suggestion": "1,5"},
            ),
            row(
                2,
                "standard time",
                gettext(
                    "Enter a number: digits, with separators written the usual way, for example %(example)s."
                )
                % {"example": "1.250,5"},
            ),
            row(
                3,
                "volume of work",
                gettext("Use at most %(places)s decimal places.") % {"places": "4"},
            ),
            row(
                3,
                "per",
                not_one_of(
                    "fortnight", ["per day", "per week", "per month", "per year"]
                ),
            ),
            row(3, "time unit", not_one_of("seconds", ["minutes", "hours"])),
        ]
    assert refused(opened, indonesian, actor=team.dina, language="id") == expected
    assert refused(opened, english, actor=team.dina) == [
        "Row 2, volume of work: Use “.” as the decimal mark: write 1.5.",
    ]


def test_rows_naming_nothing_of_this_analysis_are_refused(team: Team, opened: Analysis):
    prepare = duty_id(opened, "Prepare documents")
    data = filled(
        spreadsheet.template(opened, language="en"),
        {"F2": 10, "H2": 5},
        rows=[
            ["NOPE", "", prepare, "", "", 1, "year", 1, "minutes"],
            ["EXP-CLERK", "", 999_999, "", "", 1, "year", 1, "minutes"],
            ["EXP-CLERK", "", "first", "", "", 1, "year", 1, "minutes"],
            ["", "", prepare, "", "", 1, "year", 1, "minutes"],
            ["EXP-CLERK", "", prepare, "", "", 11, "year", 5, "minutes"],
        ],
    )

    assert refused(opened, data, actor=team.dina) == [
        "Row 8, position code: No position with the code NOPE is in this analysis.",
        "Row 9, duty id: The position EXP-CLERK has no duty with the id 999999 in "
        "this analysis.",
        "Row 10, duty id: The duty id is missing or not a whole number.",
        "Row 11, position code: The position code is missing.",
        "Row 12: This duty is already on row 2.",
    ]


def test_a_file_of_another_unit_year_or_organisation_is_refused(
    team: Team, opened: Analysis
):
    other_year = team.open(year=2027)
    other_unit = services.open_analysis(
        team.acme.head_office, actor=team.hana, year=2026, now=NOW
    )
    foreign = filled(spreadsheet.template(opened, language="en"), {"F2": 1})
    workbook = load_workbook(io.BytesIO(foreign))
    workbook["About"]["B2"] = "globex"
    buffer = io.BytesIO()
    workbook.save(buffer)

    assert refused(
        opened, spreadsheet.template(other_year, language="en"), actor=team.dina
    ) == [
        "This file is for the year 2027, not for 2026. Download the template of "
        "this analysis."
    ]
    assert refused(
        opened, spreadsheet.template(other_unit, language="en"), actor=team.dina
    ) == [
        "This file is for the unit HO, not for EXP. Download the template of this "
        "analysis."
    ]
    assert refused(opened, buffer.getvalue(), actor=team.dina) == [
        "This file belongs to another organisation (globex), not to acme."
    ]


def test_a_file_that_is_not_a_workload_template_is_refused(
    team: Team, opened: Analysis
):
    workbook = Workbook()
    workbook.active.append(HEADER)
    plain = io.BytesIO()
    workbook.save(plain)
    template = spreadsheet.template(opened, language="en")
    no_columns = filled(template, {"F1": "amount", "H1": None})
    zipped = io.BytesIO()
    with zipfile.ZipFile(zipped, "w") as archive:
        archive.writestr("notes.txt", "hello")
    damaged = zipfile.ZipFile(io.BytesIO(template))
    broken = io.BytesIO()
    with zipfile.ZipFile(broken, "w") as archive:
        for info in damaged.infolist():
            content = damaged.read(info)
            if info.filename.startswith("xl/worksheets/"):
                content = content[: len(content) // 2]
            archive.writestr(info, content)

    not_xlsx = (
        "This is not an Excel workbook (.xlsx). Download the workload template, fill "
        "it in and upload it."
    )
    unreadable = (
        "The Excel workbook could not be read; it may be damaged. Open it in a "
        "spreadsheet program, save it again as .xlsx and retry."
    )
    dina = team.dina
    assert refused(opened, b"", actor=dina) == ["The file is empty."]
    assert refused(opened, b"volume;period\n1;year\n", actor=dina) == [not_xlsx]
    assert refused(opened, template[: len(template) // 2], actor=dina) == [not_xlsx]
    assert refused(opened, zipped.getvalue(), actor=dina) == [not_xlsx]
    assert refused(opened, broken.getvalue(), actor=dina) == [unreadable]
    assert refused(
        opened, b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 512, actor=dina
    ) == [
        "This is an old Excel 97-2003 (.xls) file. Save it as an Excel workbook "
        "(.xlsx) and upload that."
    ]
    assert refused(opened, plain.getvalue(), actor=dina) == [
        "This file is not a workload template of Rantai (its hidden About sheet is "
        "missing). Download the template of this analysis, fill it in and upload it."
    ]
    assert refused(opened, no_columns, actor=dina) == [
        "The file lacks the columns volume of work, standard time. Download the "
        "template of this analysis and keep its header row."
    ]


def test_only_sheets_the_importer_may_edit_now_may_change(team: Team, opened: Analysis):
    # Rina's sheet is submitted (waiting for validation); Dina may not change
    # Rina's rows anyway, nor the vacant planner's (the analyst fills that in).
    head = team.fill(opened, team.acme.export_head, team.rina, report_data.HEAD)
    services.submit_sheet(head, actor=team.rina, expected_version=head.version, now=NOW)
    template = spreadsheet.template(opened, language="en")
    by_dina = filled(template, {"F2": 3, "H2": 4, "F4": 1, "H4": 1})
    by_rina = filled(template, {"F5": 11})

    assert refused(opened, by_dina, actor=team.dina) == [
        "Row 4: you may not change the entries of Export planner"
    ]
    assert refused(opened, by_rina, actor=team.rina) == [
        "Row 5: the entries of Head of export are waiting for validation; withdraw "
        "them first"
    ]
    assert refused(
        opened, filled(template, {"F2": 3, "H2": 4}), actor=team.acme.auditor
    ) == ["Row 2: you may not change the entries of Export clerk"]


def test_a_cancelled_analysis_takes_no_import(team: Team, opened: Analysis):
    data = filled(spreadsheet.template(opened, language="en"), {"F2": 3, "H2": 4})
    services.cancel_analysis(
        opened, actor=team.hana, expected_version=opened.version, reason="Merged."
    )
    opened.refresh_from_db()

    assert refused(opened, data, actor=team.dina) == [
        "This analysis is cancelled; nothing in it can change."
    ]


def test_the_rejection_counts_the_problems(team: Team, opened: Analysis):
    data = filled(spreadsheet.template(opened, language="en"), {"F2": -1, "F3": -2})

    with pytest.raises(spreadsheet.EntriesRejected) as caught:
        spreadsheet.import_entries(opened, data, actor=team.dina, language="en")

    assert caught.value.message == (
        "The file was not imported: 2 problems were found. Nothing was written."
    )
    assert caught.value.code == "import_rejected"


# --- the export -----------------------------------------------------------------------------


def test_the_export_has_a_summary_the_results_and_the_entries_as_numbers(
    team: Team, opened: Analysis
):
    analysis = report_data.computed(team, opened)

    workbook = load_workbook(
        io.BytesIO(spreadsheet.export(analysis, language="en")), data_only=True
    )

    assert workbook.sheetnames == ["Summary", "Results", "Entries"]
    summary = {
        row[0].value: (row[1].value, row[1].number_format)
        for row in workbook["Summary"].iter_rows(min_row=2)
    }
    assert summary == {
        "Organisation": ("Acme Ltd", "General"),
        "Unit": ("Export (EXP)", "General"),
        "Year": (2026, "0"),
        "Revision": (1, "0"),
        "Status": ("collecting entries", "General"),
        "Method": (
            "Permenpan RB No. 1/2020: 1,250 hours (75,000 minutes) a year",
            "General",
        ),
        "Effective working time (WKE), minutes per day": (300, "#,##0.00"),
        "Effective working time (WKE), minutes per week": (1500, "#,##0.00"),
        "Effective working time (WKE), minutes per month": (6250, "#,##0.00"),
        "Effective working time (WKE), minutes per year": (75000, "#,##0.00"),
        "Working days in the year": (261, "0"),
        "Working minutes per day": (480, "0"),
        "Computed": ("2 March 2026 08:00", "General"),
        "Positions": (4, "0"),
        "Current staff": (3, "0"),
        "Required staff (exact)": (2.270667, "0.000000"),
        "Required staff": (4, "0"),
        "Shortage (+) / surplus (-)": (1, "+0;-0;0"),
        "Approved by": ("draft — not approved", "General"),
        "Approved as": (None, "General"),
        "Approved": (None, "General"),
    }
    results = list(workbook["Results"].iter_rows(values_only=True))
    assert results[0] == (
        "No.",
        "position code",
        "position",
        "unit",
        "status",
        "current staff",
        "acting holders (Plt)",
        "required staff (exact)",
        "required staff",
        "shortage (+) / surplus (-)",
        "job effectiveness (EJ)",
        "job performance grade (PJ)",
        "activity time per year (minutes)",
        "FTE",
        "FTE category",
        "required staff (FTE)",
    )
    assert results[1:] == [
        (
            1,
            "EXP-CLERK",
            "Export clerk",
            "Export (EXP)",
            "being filled in",
            2,
            0,
            0.68,
            1,
            -1,
            0.34,
            "E",
            51000,
            0.557088,
            "underload",
            1,
        ),
        (
            2,
            "EXP-PLAN",
            "Export planner",
            "Export (EXP)",
            "being filled in",
            0,
            0,
            0.384,
            1,
            1,
            None,
            None,
            28800,
            0.379885,
            None,
            1,
        ),
        (
            3,
            "EXP-HEAD",
            "Head of export",
            "Export (EXP)",
            "being filled in",
            1,
            0,
            0.54,
            1,
            0,
            0.54,
            "D",
            40500,
            0.473276,
            "underload",
            1,
        ),
        (
            4,
            "EXP-DOC",
            "Documents officer",
            "Export documentation (EXP-DOCS)",
            "being filled in",
            0,
            1,
            0.666667,
            1,
            1,
            None,
            None,
            50000,
            0.549106,
            None,
            1,
        ),
    ]
    formats = [
        cell.number_format for cell in next(workbook["Results"].iter_rows(min_row=2))
    ]
    assert formats[5:14] == [
        *("0", "0", "0.000000", "0", "+0;-0;0", "0.00", "General"),
        *("#,##0.00", "0.00"),
    ]
    entries = list(workbook["Entries"].iter_rows(values_only=True))
    assert entries[0][9:] == (
        "standard time (minutes)",
        "WKE of the period (minutes)",
        "required staff (exact)",
        "required staff (Excel formula: volume × minutes ÷ WKE)",
    )
    assert entries[1] == (
        "EXP-CLERK",
        "Export clerk",
        duty_id(analysis, "Prepare documents"),
        "Prepare documents",
        "document set",
        1200,
        "per year",
        30,
        "minutes",
        30,
        75000,
        0.48,
        None,  # a formula: no stored value until a spreadsheet program computes it
    )
    assert [row[3] for row in entries[1:]] == [
        "Prepare documents",
        "Book containers",
        "Plan loadings",
        "Price shipping",
        "Approve shipments",
        "Check certificates",
    ]
    assert entries[3][7:] == (2, "hours", 120, 6250, 0.384, None)
    # the last column recomputes the exact one live from the row's own cells
    formulas = load_workbook(io.BytesIO(spreadsheet.export(analysis, language="en")))
    column = [row[12] for row in formulas["Entries"].iter_rows(values_only=True)]
    assert column[1:4] == ["=F2*J2/K2", "=F3*J3/K3", "=F4*J4/K4"]
    assert formulas["Entries"]["M2"].number_format == "0.000000"
    filled = [row[5] is not None for row in entries[1:]]
    assert [cell is not None for cell in column[1:]] == filled


def test_a_rule_only_the_service_knows_is_reported_on_its_row(
    team: Team, opened: Analysis, monkeypatch
):
    # Should the service refuse what the importer let through (a rule added
    # there later), its messages still name the row and the column.
    def refuses(analysis, *, actor, rows):  # type: ignore[no-untyped-def]
        assert [row.entry_id for row in rows] == [
            Entry.objects.get(sheet__analysis=analysis, title=title).pk
            for title in ("Prepare documents", "Book containers")
        ]
        raise ValidationFailed(
            {
                "rows.1.standard_time": ["Too slow."],
                "rows.0.entry_id": ["Gone."],
                "rows": ["Busy."],
            }
        )

    monkeypatch.setattr(services, "set_entries", refuses)
    data = filled(
        spreadsheet.template(opened, language="en"),
        {"F2": 1, "H2": 1, "F3": 2, "H3": 2},
    )

    assert refused(opened, data, actor=team.dina) == [
        "Row 3, standard time: Too slow.",
        "Row 2: Gone.",
        "Busy.",
    ]


# --- revisions and numbers in messages -------------------------------------------------------


def test_a_template_of_another_revision_is_refused(team: Team, opened: Analysis):
    # Revision 1's template, kept from before the approval, still names the same
    # positions and duties; importing it would put revision 1's figures back over
    # the figures changed in revision 2, so it is refused.
    old = filled(spreadsheet.template(opened, language="en"), {"F2": 5000})
    approve(team, opened)
    revision = services.start_revision(opened, actor=team.hana, now=NOW)

    assert refused(revision, old, actor=team.dina) == [
        "This file was made for revision 1, not for revision 2 of this analysis. "
        "Download the template of revision 2 and fill that in."
    ]
    current = filled(spreadsheet.template(revision, language="en"), {"F2": 5000})
    assert (
        spreadsheet.import_entries(revision, current, actor=team.dina, language="en")
        == 1
    )
    assert figures(revision)["Prepare documents"][0] == Decimal("5000.0000")


def test_a_template_without_its_revision_is_refused(team: Team, opened: Analysis):
    workbook = load_workbook(io.BytesIO(spreadsheet.template(opened, language="en")))
    workbook["About"]["B5"] = None
    buffer = io.BytesIO()
    workbook.save(buffer)

    assert refused(opened, buffer.getvalue(), actor=team.dina) == [
        "This file was made for revision ?, not for revision 1 of this analysis. "
        "Download the template of revision 1 and fill that in."
    ]


@pytest.mark.parametrize(
    ("language", "minutes", "count"),
    [("en", "(6,250 ", "2 problems"), ("id", "(6.250 ", "2 ")],
)
def test_numbers_in_import_messages_are_written_the_users_way(
    team: Team, opened: Analysis, language, minutes, count
):
    data = filled(
        spreadsheet.template(opened, language=language),
        {"F2": 1, "G2": "month", "H2": 6251, "I2": "minute", "F3": -1},
    )

    with pytest.raises(spreadsheet.EntriesRejected) as caught:
        spreadsheet.import_entries(opened, data, actor=team.dina, language=language)

    first, _second = caught.value.errors["file"]
    assert minutes in first
    assert "6250" not in first
    assert count in caught.value.message


def test_file_sizes_in_messages_are_written_the_users_way(
    team: Team, opened: Analysis, settings
):
    settings.RANTAI_IMPORT_MAX_BYTES = 1536
    data = b"x" * 2048

    # Whatever the words of the translation, the numbers are Indonesian.
    (indonesian,) = refused(opened, data, actor=team.dina, language="id")
    assert "(2,0 KB)" in indonesian
    assert indonesian.endswith(" 1,5 KB.")
    assert refused(opened, data, actor=team.dina, language="en") == [
        "The file is too large (2.0 KB); the limit is 1.5 KB."
    ]
