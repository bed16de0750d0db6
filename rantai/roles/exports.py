"""The RACI matrix of a procedure version as an Excel workbook and as a PDF
(docs/design-roles.md, "RACI matrix"; `?format=xlsx|pdf` on the matrix page).

Both take the `raci.Matrix` the page shows (so a partner's export holds only what
the partner may see) and render it in the reader's language: steps down, the
positions and parties across (grouped by party), each cell the roles "R", "A",
"R, C"… Every text cell of the workbook is made inert (`org.transfer.exporting.
inert`): a step or position named "=HYPERLINK(…)" stays text. The PDF uses the
built-in Helvetica, as the workload reports do, and splits a wide matrix into
several tables of at most `PDF_COLUMNS` positions, each repeating the steps.
"""

from __future__ import annotations

import io
from collections.abc import Sequence
from typing import Any
from xml.sax.saxutils import escape

from django.utils import translation
from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Alignment, Font, PatternFill

from rantai.chains.models import RaciRole, VersionStatus
from rantai.org.transfer.exporting import HEADER_FILL, HEADER_FONT, inert
from rantai.roles.raci import Column, Matrix

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_CONTENT_TYPE = "application/pdf"
PDF_COLUMNS = 12  # role columns per table on an A4 landscape page
ROLE_FILLS = {
    RaciRole.RESPONSIBLE: "E2EFDA",
    RaciRole.ACCOUNTABLE: "FCE4D6",
    RaciRole.CONSULTED: "FFF2CC",
    RaciRole.INFORMED: "EDEDED",
}
# Rows above the matrix in the workbook: title, legend, empty line.
XLSX_FIRST_HEADER_ROW = 4


def title(matrix: Matrix) -> str:
    return _("RACI matrix: %(procedure)s (%(code)s), version %(number)d") % {
        "procedure": matrix.procedure_name,
        "code": matrix.procedure_code,
        "number": matrix.number,
    }


def legend() -> str:
    return "; ".join(
        f"{role.value} = {role.label}"
        for role in (
            RaciRole.RESPONSIBLE,
            RaciRole.ACCOUNTABLE,
            RaciRole.CONSULTED,
            RaciRole.INFORMED,
        )
    )


def status_line(matrix: Matrix) -> str:
    return _("Status: %(status)s") % {"status": VersionStatus(matrix.status).label}


def column_heading(column: Column) -> str:
    """A column's title: the position's, or the party's own name."""
    return column.title


def _party_heading(column: Column) -> str:
    """The party a column belongs to ("(outside partner)" for an external one)."""
    if column.is_external:
        return _("%(party)s (outside partner)") % {"party": column.party_name}
    return column.party_name


# --- Excel -----------------------------------------------------------------------------


def matrix_xlsx(matrix: Matrix, *, language: str) -> bytes:
    """The matrix as .xlsx in `language`: the title, the legend, then a header
    of two rows (the positions' party, their titles) and one row per step."""
    with translation.override(language):
        workbook = Workbook(write_only=True)
        sheet = workbook.create_sheet(_("RACI"))
        widths = [6, 40, 18] + [16] * len(matrix.columns)
        for index, width in enumerate(widths):
            sheet.column_dimensions[_letter(index)].width = width
        sheet.freeze_panes = f"D{XLSX_FIRST_HEADER_ROW + 2}"
        heading = WriteOnlyCell(sheet, value=inert(title(matrix)))
        heading.font = Font(bold=True, size=14)
        sheet.append([heading])
        sheet.append([inert(status_line(matrix) + ". " + legend())])
        sheet.append([])
        sheet.append(
            _header_cells(
                sheet,
                ["", "", ""] + [_party_heading(column) for column in matrix.columns],
            )
        )
        sheet.append(
            _header_cells(
                sheet,
                [_("No."), _("Step"), _("Key")]
                + [column_heading(column) for column in matrix.columns],
            )
        )
        centred = Alignment(horizontal="center")
        for number, row in enumerate(matrix.rows, start=1):
            cells: list[Any] = [number, inert(row.name), inert(row.key)]
            for column in matrix.columns:
                roles = matrix.roles_in(row.step_id, column)
                if not roles:
                    cells.append(None)
                    continue
                cell = WriteOnlyCell(sheet, value=", ".join(roles))
                cell.alignment = centred
                cell.fill = PatternFill("solid", fgColor=ROLE_FILLS[RaciRole(roles[0])])
                if RaciRole.ACCOUNTABLE in roles:
                    cell.font = Font(bold=True)
                cells.append(cell)
            sheet.append(cells)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _letter(index: int) -> str:
    from openpyxl.utils import get_column_letter

    return get_column_letter(index + 1)


def _header_cells(sheet: Any, names: Sequence[str]) -> list[Any]:
    cells = []
    wrapped = Alignment(wrap_text=True, vertical="top")
    for name in names:
        cell = WriteOnlyCell(sheet, value=inert(name) if name else None)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cell.alignment = wrapped
        cells.append(cell)
    return cells


# --- PDF -------------------------------------------------------------------------------


def matrix_pdf(matrix: Matrix, *, language: str) -> bytes:
    """The matrix as PDF (A4 landscape) in `language`: the title block, then the
    matrix in tables of at most `PDF_COLUMNS` positions, steps repeated in each."""
    from reportlab.lib.pagesizes import A4, landscape
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    styles = _styles()
    buffer = io.BytesIO()
    with translation.override(language):
        document = SimpleDocTemplate(
            buffer,
            pagesize=landscape(A4),
            leftMargin=15 * mm,
            rightMargin=15 * mm,
            topMargin=15 * mm,
            bottomMargin=15 * mm,
            title=title(matrix),
            creator="Rantai",
        )
        story: list[Any] = [
            Paragraph(escape(title(matrix)), styles["title"]),
            Spacer(1, 2 * mm),
            Paragraph(escape(status_line(matrix)), styles["base"]),
            Paragraph(escape(legend()), styles["base"]),
            Spacer(1, 4 * mm),
        ]
        if not matrix.rows or not matrix.columns:
            story.append(
                Paragraph(escape(_("No step has a role yet.")), styles["base"])
            )
        chunks = [
            matrix.columns[start : start + PDF_COLUMNS]
            for start in range(0, len(matrix.columns), PDF_COLUMNS)
        ]
        for index, columns in enumerate(chunks):
            if len(chunks) > 1:
                story.append(
                    Paragraph(
                        escape(
                            _("Positions %(first)d to %(last)d of %(count)d")
                            % {
                                "first": index * PDF_COLUMNS + 1,
                                "last": index * PDF_COLUMNS + len(columns),
                                "count": len(matrix.columns),
                            }
                        ),
                        styles["h2"],
                    )
                )
            story.append(_table(matrix, columns, styles, document.width))
            story.append(Spacer(1, 4 * mm))
        footer = title(matrix)
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
            fontSize=7,
            leading=8.5,
            alignment=TA_CENTER,
        ),
    }


def _table(
    matrix: Matrix, columns: Sequence[Column], styles: dict[str, Any], width: float
) -> Any:
    from reportlab.lib import colors
    from reportlab.lib.units import mm
    from reportlab.platypus import LongTable, Paragraph, TableStyle

    number_width, step_width = 9 * mm, 60 * mm
    role_width = (width - number_width - step_width) / PDF_COLUMNS
    header = [
        Paragraph(escape(_("No.")), styles["heading"]),
        Paragraph(escape(_("Step")), styles["heading"]),
    ] + [
        Paragraph(
            escape(column_heading(column))
            + "<br/>"
            + f'<font name="Helvetica" size="6">{escape(_party_heading(column))}</font>',
            styles["heading"],
        )
        for column in columns
    ]
    data: list[list[Any]] = [header]
    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 1), (-1, -1), "Helvetica", 8),
        ("BACKGROUND", (0, 0), (-1, 0), colors.HexColor("#DDEBF7")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "MIDDLE"),
        ("ALIGN", (2, 1), (-1, -1), "CENTER"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 2),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    for number, row in enumerate(matrix.rows, start=1):
        line: list[Any] = [str(number), Paragraph(escape(row.name), styles["cell"])]
        for offset, column in enumerate(columns, start=2):
            roles = matrix.roles_in(row.step_id, column)
            line.append(", ".join(roles))
            if roles:
                commands.append(
                    (
                        "BACKGROUND",
                        (offset, number),
                        (offset, number),
                        colors.HexColor("#" + ROLE_FILLS[RaciRole(roles[0])]),
                    )
                )
                if RaciRole.ACCOUNTABLE in roles:
                    commands.append(
                        (
                            "FONT",
                            (offset, number),
                            (offset, number),
                            "Helvetica-Bold",
                            8,
                        )
                    )
        data.append(line)
    table = LongTable(
        data,
        colWidths=[number_width, step_width] + [role_width] * len(columns),
        repeatRows=1,
        hAlign="LEFT",
    )
    table.setStyle(TableStyle(commands))
    return table
