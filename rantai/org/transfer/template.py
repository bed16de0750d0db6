"""The templates people fill in: an .xlsx workbook and a zip of CSV files.

Each has the five sheets with their header row and one example row; the workbook
explains every column on an instructions sheet and in a comment on each header, in
the language that is active when it is made.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import zipfile
from typing import Any

from django.utils.translation import gettext as _
from openpyxl import Workbook
from openpyxl.comments import Comment
from openpyxl.styles import Alignment, Font
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from rantai.org.transfer.exporting import DATE_FORMAT, HEADER_FILL, HEADER_FONT
from rantai.org.transfer.schema import SHEETS, SheetSpec

ZIP_CONTENT_TYPE = "application/zip"
TEMPLATE_ROWS = 1000  # rows that get the date format, the text format and drop-downs


def instructions() -> list[str]:
    """The general rules, one paragraph each."""
    return [
        _("How to fill in this workbook"),
        _(
            "Fill in the sheets units, positions, duties, people and holders; keep the "
            "header row (row 1) and replace the example row. You may leave out sheets "
            "and optional columns you do not need."
        ),
        _(
            "Codes are the keys. A row whose code (or employee number) already exists "
            "in Rantai updates it; any other row adds a new one. Nothing is ever "
            "deleted. A column you leave out is not changed; an empty cell in a column "
            "you keep clears the value."
        ),
        _(
            "Dates are dd/mm/yyyy (e.g. 17/08/2026) or Excel dates. Numbers may use a "
            "decimal comma. Yes/no columns accept yes, no, ya and tidak."
        ),
        _(
            "The file is checked as a whole first. If any row has a problem, nothing "
            "is imported and every problem is listed with its sheet, row and column."
        ),
        _(
            "Column headers may also be written in Indonesian (kode, nama, induk, atasan, …)."
        ),
    ]


def _example(spec: SheetSpec) -> list[Any]:
    return [column.example for column in spec.columns]


def template_xlsx() -> bytes:
    """An .xlsx workbook: instructions, then the five sheets with an example row."""
    workbook = Workbook()
    guide = workbook.active
    guide.title = _("instructions")
    paragraphs = instructions()
    guide.append([paragraphs[0]])
    guide["A1"].font = Font(bold=True, size=14)
    for paragraph in paragraphs[1:]:
        guide.append([paragraph])
        guide.cell(row=guide.max_row, column=1).alignment = Alignment(wrap_text=True)
    guide.append([])
    guide.append([_("Sheet"), _("Column"), _("Required"), _("Explanation")])
    for cell in guide[guide.max_row]:
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
    for spec in SHEETS:
        guide.append([spec.name, "", "", str(spec.help)])
        guide.cell(row=guide.max_row, column=1).font = HEADER_FONT
        for column in spec.columns:
            guide.append(
                ["", column.name, _("yes") if column.required else "", str(column.help)]
            )
    guide.column_dimensions["A"].width = 14
    guide.column_dimensions["B"].width = 20
    guide.column_dimensions["C"].width = 10
    guide.column_dimensions["D"].width = 100
    for row in guide.iter_rows(min_col=4, max_col=4):
        row[0].alignment = Alignment(wrap_text=True, vertical="top")

    for spec in SHEETS:
        sheet = workbook.create_sheet(spec.name)
        sheet.append(spec.column_names)
        sheet.append(_example(spec))
        sheet.freeze_panes = "A2"
        for index, column in enumerate(spec.columns, start=1):
            letter = get_column_letter(index)
            header = sheet.cell(row=1, column=index)
            header.font = HEADER_FONT
            header.fill = HEADER_FILL
            text = str(column.help)
            if column.required:
                text = _("Required.") + " " + text
            header.comment = Comment(text, "Rantai", width=320, height=120)
            sheet.column_dimensions[letter].width = max(14, len(column.name) + 4)
            cells = f"{letter}2:{letter}{TEMPLATE_ROWS}"
            if column.name in ("start_date", "end_date"):
                for (cell,) in sheet[cells]:
                    cell.number_format = DATE_FORMAT
            elif column.name in ("employee_number", "code", "position_code"):
                # Text, so Excel keeps leading zeros and all 18 digits of an NIP.
                for (cell,) in sheet[cells]:
                    cell.number_format = "@"
            if column.name == "kind":
                _choices(sheet, cells, ["internal_unit", "external_partner"])
            elif column.name == "acting":
                _choices(sheet, cells, ["yes", "no", "ya", "tidak"])
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _choices(sheet: Any, cells: str, values: list[str]) -> None:
    validation = DataValidation(
        type="list", formula1='"' + ",".join(values) + '"', allow_blank=True
    )
    validation.showErrorMessage = False  # Indonesian words are welcome too
    sheet.add_data_validation(validation)
    validation.add(cells)


def _csv_value(value: Any) -> str:
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    return "" if value is None else str(value)


def template_csv_zip() -> bytes:
    """A zip with one CSV file per sheet (UTF-8, comma separated) and a README."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w", zipfile.ZIP_DEFLATED) as archive:
        for spec in SHEETS:
            text = io.StringIO()
            writer = csv.writer(text, lineterminator="\r\n")
            writer.writerow(spec.column_names)
            writer.writerow([_csv_value(v) for v in _example(spec)])
            # A byte order mark, so Excel opens the file as UTF-8.
            archive.writestr(f"{spec.name}.csv", "\ufeff" + text.getvalue())
        lines = [*instructions(), ""]
        for spec in SHEETS:
            lines.append(f"{spec.name}.csv: {spec.help}")
            for column in spec.columns:
                required = f" ({_('required')})" if column.required else ""
                lines.append(f"  {column.name}{required}: {column.help}")
            lines.append("")
        archive.writestr("README.txt", "\r\n".join(lines))
    return buffer.getvalue()
