"""The dashboard as Excel and PDF (`insight.exports`): the same figures, opened back.

The figures are built by hand (the dashboard's own computation is specified in
test_dashboard.py), so each cell's expected value is plain to see; one test
exports a dashboard computed from the history of test_dashboard.py.
"""

from __future__ import annotations

import datetime as dt
import io

from django.utils import translation
from openpyxl import load_workbook

from rantai.insight import exports
from rantai.insight.dashboard import (
    CauseFigure,
    Dashboard,
    Distribution,
    HandoverFigure,
    PositionFigure,
    Scope,
    StepFigure,
    TrendPoint,
    dashboard,
)
from rantai.insight.tests.test_dashboard import MARCH, NOW, History, make_history
from rantai.testing import SmallOrg
from rantai.workload.tests.pdf_text import pdf_text

EVIL = '=HYPERLINK("http://evil.example","click")'


def figures(*, step_name: str = "Pack", party: str = "Fast Forwarding") -> Dashboard:
    return Dashboard(
        scope=Scope("procedure", 7, "Shipment (SHIP)"),
        start=dt.date(2026, 3, 1),
        end=dt.date(2026, 3, 31),
        finished=3,
        on_time=2,
        on_time_rate=2 / 3,
        lead=Distribution(3, 8.0, 20.5),
        waiting_hours=4.5,
        working_hours=33.0,
        steps=(
            StepFigure(
                key="pack",
                name=step_name,
                runs=3,
                cycle=Distribution(3, 4.0, 10.0),
                waiting=Distribution(3, 0.0, 1.0),
                working=Distribution(3, 3.0, 10.0),
                on_critical_path=3,
                caused_delay=1,
            ),
        ),
        handovers=(
            HandoverFigure(2, "Export", 4, party, Distribution(3, 1.0, 2.0)),
            HandoverFigure(
                None, "(no party)", 2, "Export", Distribution(1, 0.25, 0.25)
            ),
        ),
        positions=(PositionFigure(11, "Export clerk", 3, 1),),
        causes=(CauseFigure("transport", "transport", 1, 120),),
        trend=(
            TrendPoint(
                dt.date(2026, 3, 2),
                dt.date(2026, 3, 8),
                2,
                1,
                Distribution(2, 8.0, 20.5),
            ),
            TrendPoint(
                dt.date(2026, 3, 9),
                dt.date(2026, 3, 15),
                0,
                0,
                Distribution(0, None, None),
            ),
        ),
    )


def values(data: bytes) -> dict[str, list[tuple[object, ...]]]:
    workbook = load_workbook(io.BytesIO(data))
    return {
        sheet.title: [tuple(row) for row in sheet.iter_rows(values_only=True)]
        for sheet in workbook.worksheets
    }


def midnight(day: dt.date) -> dt.datetime:
    return dt.datetime.combine(day, dt.time(0))


def test_the_workbook_holds_every_figure() -> None:
    sheets = values(exports.dashboard_xlsx(figures()))
    assert list(sheets) == [
        "Summary", "Steps", "Handovers", "Positions", "Causes", "Trend",
    ]  # fmt: skip
    assert sheets["Summary"] == [
        ("Figure", "Value"),
        ("Scope", "Shipment (SHIP)"),
        ("Period starts", midnight(dt.date(2026, 3, 1))),
        ("Period ends", midnight(dt.date(2026, 3, 31))),
        ("Runs finished", 3),
        ("Finished on time", 2),
        ("On-time rate", 0.6667),
        ("Lead time, median (hours)", 8),
        ("Lead time, 90th percentile (hours)", 20.5),
        ("Time waiting (hours)", 4.5),
        ("Time working (hours)", 33),
    ]
    assert sheets["Steps"] == [
        (
            "Step", "Key", "Runs", "Cycle, median (h)", "Cycle, 90th percentile (h)",
            "Waiting, median (h)", "Waiting, 90th percentile (h)",
            "Working, median (h)", "Working, 90th percentile (h)",
            "On the critical path", "Caused delay",
        ),
        ("Pack", "pack", 3, 4, 10, 0, 1, 3, 10, 3, 1),
    ]  # fmt: skip
    assert sheets["Handovers"] == [
        ("From party", "To party", "Handovers", "Wait, median (h)",
         "Wait, 90th percentile (h)"),
        ("Export", "Fast Forwarding", 3, 1, 2),
        ("(no party)", "Export", 1, 0.25, 0.25),
    ]  # fmt: skip
    assert sheets["Positions"] == [
        ("Position", "On the critical path", "Caused delay"),
        ("Export clerk", 3, 1),
    ]
    assert sheets["Causes"] == [
        ("Cause", "Obstacles", "Expected delay (minutes)"),
        ("transport", 1, 120),
    ]
    assert sheets["Trend"] == [
        ("From", "To", "Runs finished", "Finished on time", "Lead time, median (h)",
         "Lead time, 90th percentile (h)"),
        (midnight(dt.date(2026, 3, 2)), midnight(dt.date(2026, 3, 8)), 2, 1, 8, 20.5),
        (midnight(dt.date(2026, 3, 9)), midnight(dt.date(2026, 3, 15)), 0, 0, None,
         None),
    ]  # fmt: skip


def test_hours_and_rates_are_formatted_numbers() -> None:
    workbook = load_workbook(io.BytesIO(exports.dashboard_xlsx(figures())))
    summary = workbook["Summary"]
    assert summary["B7"].number_format == "0.0%"
    assert summary["B8"].number_format == "0.00"
    assert summary["B3"].is_date
    assert workbook["Summary"]["A1"].font.bold


def test_text_cells_cannot_become_formulas() -> None:
    board = figures(step_name=EVIL, party="+62 21 555 0100")
    workbook = load_workbook(io.BytesIO(exports.dashboard_xlsx(board)))
    step = workbook["Steps"]["A2"]
    assert (step.value, step.data_type) == ("'" + EVIL, "s")
    party = workbook["Handovers"]["B2"]
    assert (party.value, party.data_type) == ("'+62 21 555 0100", "s")
    every_cell = [
        cell
        for sheet in workbook.worksheets
        for row in sheet.iter_rows()
        for cell in row
    ]
    assert not [cell.coordinate for cell in every_cell if cell.data_type == "f"]


def test_the_workbook_speaks_the_active_language() -> None:
    # (Headings whose Indonesian is already in the catalogue.)
    with translation.override("id"):
        sheets = values(exports.dashboard_xlsx(figures()))
    assert list(sheets)[:2] == ["Ringkasan", "Langkah"]
    assert list(sheets)[3] == "Jabatan"
    assert sheets["Langkah"][0][:2] == ("Langkah", "Kunci")
    assert sheets["Jabatan"][0][0] == "Jabatan"


def test_the_pdf_is_a_pdf_with_the_figures() -> None:
    data = exports.dashboard_pdf(figures(step_name="Pengemasan barang"))
    assert data.startswith(b"%PDF")
    text = _pdf_text(data)
    for expected in (
        "Dashboard: Shipment (SHIP)",
        "Runs completed from 01/03/2026 to 31/03/2026",
        "Pengemasan barang",
        "Fast Forwarding",
        "66.7%",
        "20.50",
        "Export clerk",
        "transport",
        "Page 1",
    ):
        assert expected in text, expected


def test_the_pdf_speaks_the_active_language() -> None:
    with translation.override("id"):
        data = exports.dashboard_pdf(figures())
    text = _pdf_text(data)
    assert "Halaman 1" in text
    assert "Ringkasan" in text
    assert "66,7%" in text  # Indonesian decimal comma
    assert "20,50" in text


def _pdf_text(data: bytes) -> str:
    return pdf_text(data)


def test_a_computed_dashboard_exports(acme: SmallOrg) -> None:
    history: History = make_history(acme)
    board = dashboard(history.access(), history.scope(), **MARCH, now=NOW)
    sheets = values(exports.dashboard_xlsx(board))
    assert [row[:3] for row in sheets["Steps"][1:]] == [
        ("Pack", "pack", 3),
        ("Ship", "ship", 3),
        ("Store", "store", 3),
        ("Invoice", "invoice", 2),
    ]
    assert sheets["Summary"][4] == ("Runs finished", 3)
    assert exports.dashboard_pdf(board).startswith(b"%PDF")
    assert exports.file_name(board, "xlsx") == (
        f"dashboard-procedure-{history.ship.procedure_id}-20260301-20260331.xlsx"
    )


def test_an_empty_dashboard_exports() -> None:
    board = figures()
    board = Dashboard(
        scope=board.scope,
        start=board.start,
        end=board.end,
        finished=0,
        on_time=0,
        on_time_rate=None,
        lead=Distribution(0, None, None),
        waiting_hours=0.0,
        working_hours=0.0,
        steps=(),
        handovers=(),
        positions=(),
        causes=(),
        trend=(),
    )
    sheets = values(exports.dashboard_xlsx(board))
    assert sheets["Steps"][1:] == []
    assert sheets["Summary"][6] == ("On-time rate", None)
    text = _pdf_text(exports.dashboard_pdf(board))
    assert "Nothing in this period." in text
