"""The RACI matrix exported to Excel and PDF."""

from __future__ import annotations

import io

import pytest
from openpyxl import load_workbook

from rantai.accounts.access import access_for
from rantai.chains import services as chains
from rantai.chains.models import ProcedureVersion
from rantai.roles import exports, raci
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg
from rantai.workload.tests.pdf_text import page_count, pdf_strings

pytestmark = pytest.mark.django_db


@pytest.fixture
def o() -> SmallOrg:
    return f.organisation()


@pytest.fixture
def version(o: SmallOrg) -> ProcedureVersion:
    """quote: clerk R, head A, director C and I; pickup: the forwarder (party) R,
    head A, forwarder operations I."""
    return f.procedure(
        o,
        [
            f.StepRow(
                "quote",
                responsible=o.export_staff,
                accountable=o.export_head,
                consulted=[o.director],
                informed=[o.director],
            ),
            f.StepRow(
                "pickup",
                responsible=o.forwarder,
                accountable=o.export_head,
                informed=[o.forwarder_ops],
                after=["quote"],
            ),
        ],
    )


def sheet_values(data: bytes) -> list[list[object]]:
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == ["RACI"]
    return [list(row) for row in workbook["RACI"].iter_rows(values_only=True)]


def test_the_workbook_has_a_row_per_step_and_a_column_per_position_and_party(
    version: ProcedureVersion,
):
    rows = sheet_values(exports.matrix_xlsx(raci.matrix(version), language="en"))

    assert rows[0][0] == "RACI matrix: Procedure SHIP (SHIP), version 1"
    assert rows[1][0] == (
        "Status: published. R = Responsible; A = Accountable; C = Consulted; "
        "I = Informed"
    )
    assert rows[3] == [
        None,
        None,
        None,
        "Export",
        "Export",
        "Fast Forwarding (outside partner)",
        "Fast Forwarding (outside partner)",
        "Head office",
    ]
    assert rows[4] == [
        "No.",
        "Step",
        "Key",
        "Export clerk",
        "Head of export",
        "Fast Forwarding",
        "Forwarder operations",
        "Director",
    ]
    assert rows[5:] == [
        [1, "Quote", "quote", "R", "A", None, None, "C, I"],
        [2, "Pickup", "pickup", None, "A", "R", "I", None],
    ]


def test_text_that_looks_like_a_formula_stays_text(o: SmallOrg):
    draft = f.procedure(
        o,
        [f.StepRow("sum", responsible=o.export_staff, accountable=o.export_head)],
        publish=False,
    )
    chains.update_step(
        draft.steps.get(),
        actor=o.admin,
        expected_version=None,
        name='=HYPERLINK("http://evil.test","Click")',
    )

    data = exports.matrix_xlsx(raci.matrix(draft), language="en")

    workbook = load_workbook(io.BytesIO(data))
    cell = workbook["RACI"]["B6"]
    assert cell.value == '\'=HYPERLINK("http://evil.test","Click")'
    assert cell.data_type == "s"


def test_a_partners_export_holds_only_its_own_party(
    o: SmallOrg, version: ProcedureVersion
):
    seen = raci.visible_matrix(access_for(o.partner, "acme"), version)

    rows = sheet_values(exports.matrix_xlsx(seen, language="en"))

    assert rows[4] == ["No.", "Step", "Key", "Fast Forwarding", "Forwarder operations"]
    assert rows[5:] == [[1, "Pickup", "pickup", "R", "I"]]


def test_the_pdf_shows_the_title_the_legend_and_every_cell(version: ProcedureVersion):
    data = exports.matrix_pdf(raci.matrix(version), language="en")

    strings = pdf_strings(data)
    # The page footer (drawn first), then the title block.
    assert strings[:5] == [
        "RACI matrix: Procedure SHIP (SHIP), version 1",
        "Page 1",
        "RACI matrix: Procedure SHIP (SHIP), version 1",
        "Status: published",
        "R = Responsible; A = Accountable; C = Consulted; I = Informed",
    ]
    text = " ".join(strings)  # a heading's words may be shown one by one
    for expected in (
        "Export clerk",
        "Head of export",
        "Forwarder operations",
        "Fast Forwarding (outside partner)",
        "Quote",
        "Pickup",
        "C, I",
    ):
        assert expected in text
    body = strings[strings.index("Quote") - 1 :]
    assert body[:6] == ["1", "Quote", "R", "A", "C, I", "2"]
    assert page_count(data) == 1


def test_a_wide_matrix_is_split_into_tables_of_twelve_positions(o: SmallOrg):
    positions = [
        f.position(o, party=o.export, title=f"Officer {n:02d}", code=f"OFF-{n:02d}")
        for n in range(14)
    ]
    version = f.procedure(
        o,
        [
            f.StepRow(
                "review",
                responsible=o.export_staff,
                accountable=o.export_head,
                informed=positions,
            )
        ],
    )

    strings = pdf_strings(exports.matrix_pdf(raci.matrix(version), language="en"))

    assert "Positions 1 to 12 of 16" in strings
    assert "Positions 13 to 16 of 16" in strings
    # The step is repeated in each table.
    assert strings.count("Review") == 2


def test_the_exports_speak_the_readers_language(version: ProcedureVersion):
    rows = sheet_values(exports.matrix_xlsx(raci.matrix(version), language="id"))
    english = sheet_values(exports.matrix_xlsx(raci.matrix(version), language="en"))

    # The role names come from the catalogue; the cells stay R, A, C, I.
    assert rows[1][0] != english[1][0]
    assert rows[5:] == english[5:]
