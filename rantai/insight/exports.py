"""The owner's dashboard as an Excel workbook and as a PDF, in the active language
(docs/design-insight.md, "Owner's dashboard").

Both show the figures of one `dashboard.Dashboard` as it was computed: a summary,
then the steps, the handovers between parties, the positions on the critical path,
the obstacles by cause and the trend. Durations are wall-clock hours. Every text
cell of the workbook is made inert (`org.transfer.exporting.inert`): a step or
party named "=HYPERLINK(…)" stays text. The PDF uses reportlab's built-in
Helvetica, as the workload reports and the RACI matrix do (decision 0007: it
covers Indonesian and English).
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.utils import translation
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment

from rantai.insight.dashboard import Dashboard, Distribution
from rantai.org.transfer.exporting import DATE_FORMAT, HEADER_FILL, HEADER_FONT, inert
from rantai.workload.numbers import format_decimal

__all__ = [
    "PDF_CONTENT_TYPE",
    "XLSX_CONTENT_TYPE",
    "dashboard_pdf",
    "dashboard_xlsx",
    "file_name",
]

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_CONTENT_TYPE = "application/pdf"
HOURS_FORMAT = "0.00"
PERCENT_FORMAT = "0.0%"

Row = list[Any]


def title(board: Dashboard) -> str:
    return _("Dashboard: %(scope)s") % {"scope": board.scope.label}


def period_line(board: Dashboard) -> str:
    return _("Runs completed from %(start)s to %(end)s") % {
        "start": board.start.strftime("%d/%m/%Y"),
        "end": board.end.strftime("%d/%m/%Y"),
    }


def file_name(board: Dashboard, extension: str) -> str:
    """A download name: dashboard-<kind>-<id>-<start>-<end>.<extension>."""
    return (
        f"dashboard-{board.scope.kind}-{board.scope.id}-"
        f"{board.start:%Y%m%d}-{board.end:%Y%m%d}.{extension}"
    )


# --- the tables, as plain rows (shared by both formats) --------------------------------
#
# A cell is text, an int, a date, None, or ("hours", float | None) / ("rate",
# float | None): each format writes those its own way.


def _hours(value: float | None) -> tuple[str, float | None]:
    return ("hours", value)


def _distribution(value: Distribution) -> Row:
    return [_hours(value.median_hours), _hours(value.p90_hours)]


def _summary(board: Dashboard) -> tuple[Row, list[Row]]:
    return [_("Figure"), _("Value")], [
        [_("Scope"), board.scope.label],
        [_("Period starts"), board.start],
        [_("Period ends"), board.end],
        [_("Runs finished"), board.finished],
        [_("Finished on time"), board.on_time],
        [_("On-time rate"), ("rate", board.on_time_rate)],
        [_("Lead time, median (hours)"), _hours(board.lead.median_hours)],
        [_("Lead time, 90th percentile (hours)"), _hours(board.lead.p90_hours)],
        [_("Time waiting (hours)"), _hours(board.waiting_hours)],
        [_("Time working (hours)"), _hours(board.working_hours)],
    ]


def _steps(board: Dashboard) -> tuple[Row, list[Row]]:
    header = [
        _("Step"),
        _("Key"),
        _("Runs"),
        _("Cycle, median (h)"),
        _("Cycle, 90th percentile (h)"),
        _("Waiting, median (h)"),
        _("Waiting, 90th percentile (h)"),
        _("Working, median (h)"),
        _("Working, 90th percentile (h)"),
        _("On the critical path"),
        _("Caused delay"),
    ]
    return header, [
        [
            step.name,
            step.key,
            step.runs,
            *_distribution(step.cycle),
            *_distribution(step.waiting),
            *_distribution(step.working),
            step.on_critical_path,
            step.caused_delay,
        ]
        for step in board.steps
    ]


def _handovers(board: Dashboard) -> tuple[Row, list[Row]]:
    header = [
        _("From party"),
        _("To party"),
        _("Handovers"),
        _("Wait, median (h)"),
        _("Wait, 90th percentile (h)"),
    ]
    return header, [
        [
            handover.from_party,
            handover.to_party,
            handover.wait.count,
            *_distribution(handover.wait),
        ]
        for handover in board.handovers
    ]


def _positions(board: Dashboard) -> tuple[Row, list[Row]]:
    header = [_("Position"), _("On the critical path"), _("Caused delay")]
    return header, [
        [position.title, position.on_critical_path, position.caused_delay]
        for position in board.positions
    ]


def _causes(board: Dashboard) -> tuple[Row, list[Row]]:
    header = [_("Cause"), _("Obstacles"), _("Expected delay (minutes)")]
    return header, [
        [cause.label, cause.count, cause.delay_minutes] for cause in board.causes
    ]


def _trend(board: Dashboard) -> tuple[Row, list[Row]]:
    header = [
        _("From"),
        _("To"),
        _("Runs finished"),
        _("Finished on time"),
        _("Lead time, median (h)"),
        _("Lead time, 90th percentile (h)"),
    ]
    return header, [
        [
            point.start,
            point.end,
            point.finished,
            point.on_time,
            *_distribution(point.lead),
        ]
        for point in board.trend
    ]


def _sections() -> list[tuple[str, Callable[[Dashboard], tuple[Row, list[Row]]]]]:
    """(sheet name, rows) in order; names translated when called."""
    return [
        (_("Summary"), _summary),
        (_("Steps"), _steps),
        (_("Handovers"), _handovers),
        (_("Positions"), _positions),
        (_("Causes"), _causes),
        (_("Trend"), _trend),
    ]


# --- Excel -----------------------------------------------------------------------------


def dashboard_xlsx(board: Dashboard) -> bytes:
    """The dashboard as .xlsx in the active language: one sheet per section
    (summary, steps, handovers, positions, causes, trend), a bold header row on
    each; hours as numbers with two decimals, dates as dates."""
    workbook = Workbook(write_only=True)
    for name, rows_of in _sections():
        sheet = workbook.create_sheet(name[:31])
        header, rows = rows_of(board)
        widths = [36 if index == 0 else 16 for index in range(len(header))]
        for index, width in enumerate(widths):
            sheet.column_dimensions[_letter(index)].width = width
        sheet.freeze_panes = "A2"
        wrapped = Alignment(wrap_text=True, vertical="top")
        cells = []
        for text in header:
            cell = WriteOnlyCell(sheet, value=inert(text))
            cell.font = HEADER_FONT
            cell.fill = HEADER_FILL
            cell.alignment = wrapped
            cells.append(cell)
        sheet.append(cells)
        for row in rows:
            sheet.append([_xlsx_cell(sheet, value) for value in row])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _xlsx_cell(sheet: Any, value: Any) -> Any:
    if isinstance(value, tuple):
        kind, number = value
        if number is None:
            return None
        cell = WriteOnlyCell(sheet, value=round(number, 4))
        cell.number_format = HOURS_FORMAT if kind == "hours" else PERCENT_FORMAT
        return cell
    if isinstance(value, dt.date):
        cell = WriteOnlyCell(sheet, value=value)
        cell.number_format = DATE_FORMAT
        return cell
    return inert(value)


# --- PDF -------------------------------------------------------------------------------


def dashboard_pdf(board: Dashboard) -> bytes:
    """The dashboard as PDF (A4 landscape) in the active language: the title and
    period, then one table per section with its header repeated on every page."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    language = translation.get_language() or "en"
    styles = _styles()
    buffer = io.BytesIO()
    document = SimpleDocTemplate(
        buffer,
        pagesize=landscape(A4),
        leftMargin=15 * mm,
        rightMargin=15 * mm,
        topMargin=15 * mm,
        bottomMargin=15 * mm,
        title=title(board),
        creator="Rantai",
    )
    story: list[Any] = [
        Paragraph(escape(title(board)), styles["title"]),
        Spacer(1, 2 * mm),
        Paragraph(escape(period_line(board)), styles["base"]),
        Paragraph(
            escape(_("Durations are wall-clock hours; percentiles are nearest-rank.")),
            styles["base"],
        ),
        Spacer(1, 4 * mm),
    ]
    for name, rows_of in _sections():
        header, rows = rows_of(board)
        story.append(Paragraph(escape(name), styles["h2"]))
        if not rows:
            story.append(
                Paragraph(escape(_("Nothing in this period.")), styles["base"])
            )
        else:
            story.append(_table(header, rows, styles, document.width, language))
        story.append(Spacer(1, 4 * mm))
    footer = f"{title(board)}. {period_line(board)}"
    page_label = _("Page %(page)d")

    def decorate(canvas: Any, doc: Any) -> None:
        canvas.saveState()
        canvas.setFont("Helvetica", 7)
        canvas.drawString(doc.leftMargin, 8 * mm, footer)
        canvas.drawRightString(
            doc.leftMargin + doc.width, 8 * mm, page_label % {"page": doc.page}
        )
        canvas.restoreState()

    document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _styles() -> dict[str, Any]:
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("base", fontName="Helvetica", fontSize=9, leading=11)
    return {
        "base": base,
        "title": ParagraphStyle(
            "title", parent=base, fontName="Helvetica-Bold", fontSize=14, leading=18
        ),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=10,
            leading=13,
            spaceBefore=4,
            spaceAfter=3,
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=9.5),
        "heading": ParagraphStyle(
            "heading",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=7.5,
            leading=9,
            alignment=TA_CENTER,
        ),
    }


def _pdf_text(value: Any, language: str) -> str:
    if value is None:
        return "–"
    if isinstance(value, tuple):
        kind, number = value
        if number is None:
            return "–"
        if kind == "rate":
            return format_decimal(Decimal(repr(number * 100)), 1, language) + "%"
        return format_decimal(Decimal(repr(number)), 2, language)
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    if isinstance(value, int):
        return format_decimal(value, 0, language)
    return str(value)


def _table(
    header: Sequence[str],
    rows: Sequence[Row],
    styles: dict[str, Any],
    width: float,
    language: str,
) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import LongTable, Paragraph, TableStyle

    first = min(width * 0.3, 80 * 2.834645669)  # the first column: up to 80 mm
    rest = (width - first) / max(len(header) - 1, 1)
    data: list[list[Any]] = [
        [Paragraph(escape(text), styles["heading"]) for text in header]
    ]
    for row in rows:
        data.append(
            [
                Paragraph(escape(_pdf_text(value, language)), styles["cell"])
                if isinstance(value, str)
                else _pdf_text(value, language)
                for value in row
            ]
        )
    table = LongTable(
        data, colWidths=[first] + [rest] * (len(header) - 1), repeatRows=1
    )
    table.setStyle(
        TableStyle(
            [
                ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
                ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDEBF7")),
                ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
                ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
                ("ALIGN", (1, 1), (-1, -1), "RIGHT"),
                ("LEFTPADDING", (0, 0), (-1, -1), 3),
                ("RIGHTPADDING", (0, 0), (-1, -1), 3),
                ("TOPPADDING", (0, 0), (-1, -1), 2),
                ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
            ]
        )
    )
    return table
