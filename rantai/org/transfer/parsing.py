"""Reading an uploaded workbook safely, and understanding its cells.

The file is checked before it is parsed (size, kind, uncompressed size), and every
cell parser accepts what Indonesian spreadsheets produce: dd/mm/yyyy dates, decimal
commas, ya/tidak.
"""

from __future__ import annotations

import csv
import datetime as dt
import io
import re
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils.translation import gettext as _

from rantai.org.transfer.errors import ImportRejected, RowError
from rantai.org.transfer.schema import IGNORED_SHEETS, SHEETS, normalise_name, sheet_for

MAX_ROWS_PER_SHEET = 50_000
MAX_SCANNED_ROWS = 4 * MAX_ROWS_PER_SHEET
MAX_COLUMNS = 50
MAX_ZIP_MEMBERS = 200
# An honest workbook expands to a few times its size; allow generously more, then stop.
UNCOMPRESSED_FACTOR = 25
# Characters that make a spreadsheet treat text as a formula (CSV/formula injection).
FORMULA_PREFIXES = ("=", "+", "-", "@", "\t", "\r")


class CellError(ValueError):
    """A cell could not be understood; the message says why, in the user's language."""

    def __init__(self, message: str) -> None:
        self.message = message
        super().__init__(message)


@dataclass
class RawSheet:
    """One sheet as read: its headers and its non-empty rows with their row numbers."""

    name: str  # canonical sheet name
    title: str  # as the file spells it
    headers: list[str]
    rows: list[tuple[int, list[Any]]] = field(default_factory=list)


@dataclass
class RawWorkbook:
    sheets: dict[str, RawSheet]
    warnings: list[RowError]


def file_size(size: int) -> str:
    """A size for people: '8.0 MB', '512.0 KB'."""
    if size >= 1024 * 1024:
        return _("%(size).1f MB") % {"size": size / (1024 * 1024)}
    return _("%(size).1f KB") % {"size": size / 1024}


def max_size() -> str:
    """The upload limit, for telling people."""
    return file_size(settings.RANTAI_IMPORT_MAX_BYTES)


def _file_error(message: str) -> ImportRejected:
    return ImportRejected([RowError("", None, "", message)])


def check_size(size: int) -> None:
    """Refuse empty and too large files before reading them."""
    limit = settings.RANTAI_IMPORT_MAX_BYTES
    if size == 0:
        raise _file_error(_("The file is empty."))
    if size > limit:
        raise _file_error(
            _("The file is too large (%(size)s); the limit is %(limit)s.")
            % {"size": file_size(size), "limit": file_size(limit)}
        )


def read_workbook(file_name: str, data: bytes) -> RawWorkbook:
    """The sheets of an .xlsx workbook or of a zip of CSV files, or ImportRejected."""
    check_size(len(data))
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise _file_error(
            _(
                "This is an old Excel 97-2003 (.xls) file. Save it as an Excel "
                "workbook (.xlsx) and upload that."
            )
        )
    if not data.startswith(b"PK") or not zipfile.is_zipfile(io.BytesIO(data)):
        raise _file_error(_not_a_workbook(file_name))
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise _file_error(_not_a_workbook(file_name)) from error
    _check_archive(members, len(data))
    names = {info.filename for info in members}
    if "xl/workbook.xml" in names:
        return _read_xlsx(data)
    csv_members = [
        info
        for info in members
        if not info.is_dir()
        and info.filename.lower().endswith(".csv")
        and not _hidden(info.filename)
    ]
    if csv_members:
        return _read_csv_zip(archive, csv_members)
    raise _file_error(_not_a_workbook(file_name))


def _not_a_workbook(file_name: str) -> str:
    return _(
        "“%(name)s” is not an Excel workbook (.xlsx) or a zip of CSV files. Download "
        "the template from this page, fill it in and upload it."
    ) % {"name": file_name or "?"}


def _hidden(path: str) -> bool:
    return any(part.startswith((".", "__MACOSX")) for part in path.split("/"))


def _check_archive(members: list[zipfile.ZipInfo], size: int) -> None:
    """Stop zip bombs: the declared sizes are enforced by zipfile when reading."""
    if len(members) > MAX_ZIP_MEMBERS:
        raise _file_error(
            _("The file holds %(count)d files; at most %(max)d are allowed.")
            % {"count": len(members), "max": MAX_ZIP_MEMBERS}
        )
    limit = settings.RANTAI_IMPORT_MAX_BYTES * UNCOMPRESSED_FACTOR
    total = sum(info.file_size for info in members)
    if total > limit:
        raise _file_error(
            _(
                "The file unpacks to %(size)s, more than the %(limit)s allowed. "
                "It is refused as a possible zip bomb; split it into smaller files."
            )
            % {"size": file_size(total), "limit": file_size(limit)}
        )


def _too_many_rows(title: str) -> RowError:
    return RowError(
        title,
        None,
        "",
        _("The sheet has more than %(max)s rows; split it into several files.")
        % {"max": f"{MAX_ROWS_PER_SHEET:,}"},
    )


def _is_blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _collect(
    title: str,
    rows: Iterator[tuple[int, list[Any]]],
    sheets: dict[str, RawSheet],
    warnings: list[RowError],
    errors: list[RowError],
) -> None:
    spec = sheet_for(title)
    if spec is None:
        if normalise_name(title) not in IGNORED_SHEETS:
            warnings.append(
                RowError(
                    title,
                    None,
                    "",
                    _(
                        "Rantai does not know this sheet; it was ignored. The sheets "
                        "are: %(names)s."
                    )
                    % {"names": ", ".join(s.name for s in SHEETS)},
                )
            )
        return
    if spec.name in sheets:
        errors.append(
            RowError(
                title,
                None,
                "",
                _(
                    "The file has two sheets for %(name)s (“%(first)s” and “%(second)s”)."
                )
                % {
                    "name": spec.name,
                    "first": sheets[spec.name].title,
                    "second": title,
                },
            )
        )
        return
    header_row = next(rows, None)
    headers = [] if header_row is None else [_header_text(v) for v in header_row[1]]
    while headers and not headers[-1]:
        headers.pop()
    sheet = RawSheet(name=spec.name, title=title, headers=headers)
    for number, values in rows:
        # Blank rows are skipped but still counted, so a sheet padded with a million
        # empty rows cannot keep the server busy.
        if number > MAX_SCANNED_ROWS:
            errors.append(_too_many_rows(title))
            break
        if all(_is_blank(v) for v in values):
            continue
        if len(sheet.rows) >= MAX_ROWS_PER_SHEET:
            errors.append(_too_many_rows(title))
            break
        sheet.rows.append((number, values))
    sheets[spec.name] = sheet


def _header_text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _finish(
    sheets: dict[str, RawSheet], warnings: list[RowError], errors: list[RowError]
) -> RawWorkbook:
    if errors:
        raise ImportRejected(errors, warnings=warnings)
    if not sheets:
        raise ImportRejected(
            [
                RowError(
                    "",
                    None,
                    "",
                    _("The file has none of the sheets Rantai reads: %(names)s.")
                    % {"names": ", ".join(s.name for s in SHEETS)},
                )
            ],
            warnings=warnings,
        )
    if all(not sheet.rows for sheet in sheets.values()):
        raise ImportRejected(
            [RowError("", None, "", _("The file has no rows to import."))],
            warnings=warnings,
        )
    return RawWorkbook(sheets=sheets, warnings=warnings)


def _read_xlsx(data: bytes) -> RawWorkbook:
    from openpyxl import load_workbook

    sheets: dict[str, RawSheet] = {}
    warnings: list[RowError] = []
    errors: list[RowError] = []
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds on a damaged file
        raise _file_error(
            _(
                "The Excel workbook could not be read; it may be damaged. Open it in a "
                "spreadsheet program, save it again as .xlsx and retry."
            )
        ) from error
    try:
        for worksheet in workbook.worksheets:
            width = min(MAX_COLUMNS, worksheet.max_column or MAX_COLUMNS)
            rows = (
                (number, list(values))
                for number, values in enumerate(
                    worksheet.iter_rows(max_col=width, values_only=True), start=1
                )
            )
            _collect(worksheet.title, rows, sheets, warnings, errors)
    except ImportRejected:
        raise
    except Exception as error:
        raise _file_error(
            _(
                "The Excel workbook could not be read; it may be damaged. Open it in a "
                "spreadsheet program, save it again as .xlsx and retry."
            )
        ) from error
    finally:
        workbook.close()
    return _finish(sheets, warnings, errors)


def _read_csv_zip(
    archive: zipfile.ZipFile, members: list[zipfile.ZipInfo]
) -> RawWorkbook:
    sheets: dict[str, RawSheet] = {}
    warnings: list[RowError] = []
    errors: list[RowError] = []
    for info in sorted(members, key=lambda i: i.filename):
        title = info.filename.rsplit("/", 1)[-1]
        stem = title[: -len(".csv")]
        try:
            raw = archive.read(info)
        except (zipfile.BadZipFile, OSError, ValueError, NotImplementedError) as error:
            raise _file_error(
                _(
                    "“%(name)s” in the zip could not be unpacked; the zip may be damaged."
                )
                % {"name": title}
            ) from error
        text = decode_text(raw)
        if "\x00" in text:
            errors.append(RowError(title, None, "", _("This is not a text CSV file.")))
            continue
        try:
            _collect(stem, _csv_rows(text), sheets, warnings, errors)
        except csv.Error as error:
            errors.append(
                RowError(
                    stem,
                    None,
                    "",
                    _("The CSV file could not be read: %(reason)s") % {"reason": error},
                )
            )
    return _finish(sheets, warnings, errors)


def decode_text(raw: bytes) -> str:
    """UTF-8 (with or without BOM), else Windows-1252 as older Excel writes it."""
    try:
        return raw.decode("utf-8-sig")
    except UnicodeDecodeError:
        return raw.decode("cp1252", errors="replace")


def _csv_rows(text: str) -> Iterator[tuple[int, list[Any]]]:
    first_line = text.split("\n", 1)[0]
    # Indonesian Excel separates CSV fields with ';' (the comma is the decimal mark).
    delimiter = max((",", ";", "\t"), key=first_line.count)
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    for number, values in enumerate(reader, start=1):
        yield number, values[:MAX_COLUMNS]


# --- cells --------------------------------------------------------------------------


def parse_text(value: Any) -> str:
    """A cell as text: trimmed, without the quote that neutralises formulas on export."""
    if value is None:
        return ""
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    if isinstance(value, dt.datetime):
        value = value.date()
    if isinstance(value, dt.date):
        return value.strftime("%d/%m/%Y")
    text = normalise_text(str(value))
    if len(text) > 1 and text[0] == "'" and text[1] in FORMULA_PREFIXES:
        text = text[1:].strip()
    return text


def normalise_text(text: str) -> str:
    """Trimmed, without NUL characters, with plain line breaks (\n)."""
    return text.replace("\x00", "").replace("\r\n", "\n").replace("\r", "\n").strip()


_SPACES = re.compile(r"[\s\u00a0\u202f\u2009]+")


def parse_decimal(value: Any) -> Decimal:
    """A number as people type it in Indonesia or elsewhere.

    "1.234,5" and "1234,5" (Indonesian) and "1,234.5" (English) all mean 1234.5. A
    lone comma is a decimal comma ("2,5" is 2.5); a lone dot followed by exactly three
    digits groups thousands ("1.234" is 1234), otherwise it is a decimal point.
    """
    if isinstance(value, bool):
        raise CellError(_("“%(value)s” is not a number.") % {"value": value})
    if isinstance(value, int | Decimal):
        return Decimal(value)
    if isinstance(value, float):
        return Decimal(repr(value))
    text = _SPACES.sub("", parse_text(value))
    if not text:
        raise CellError(_("A number is required."))
    original = text
    sign = ""
    if text[0] in "+-":
        sign, text = text[0], text[1:]
    if not re.fullmatch(r"[0-9.,]+", text) or not any(c.isdigit() for c in text):
        raise CellError(_("“%(value)s” is not a number.") % {"value": original})
    dots, commas = text.count("."), text.count(",")
    if dots and commas:
        decimal_mark = "," if text.rfind(",") > text.rfind(".") else "."
    elif commas:
        decimal_mark = "," if commas == 1 else ""
    elif dots:
        decimal_mark = (
            "." if dots == 1 and not re.fullmatch(r"\d{1,3}\.\d{3}", text) else ""
        )
    else:
        decimal_mark = ""
    group_mark = {"": None, ",": ".", ".": ","}[decimal_mark]
    if decimal_mark:
        whole, _sep, fraction = text.rpartition(decimal_mark)
        if decimal_mark in whole or not fraction.isdigit():
            raise CellError(_("“%(value)s” is not a number.") % {"value": original})
    else:
        whole, fraction = text, ""
        group_mark = "." if dots else ("," if commas else None)
    if group_mark and group_mark in whole:
        groups = whole.split(group_mark)
        if not (1 <= len(groups[0]) <= 3 and all(len(g) == 3 for g in groups[1:])):
            raise CellError(_("“%(value)s” is not a number.") % {"value": original})
        whole = "".join(groups)
    if not whole.isdigit():
        raise CellError(_("“%(value)s” is not a number.") % {"value": original})
    try:
        return Decimal(f"{sign}{whole}.{fraction}" if fraction else f"{sign}{whole}")
    except InvalidOperation as error:  # pragma: no cover - guarded by the checks above
        raise CellError(
            _("“%(value)s” is not a number.") % {"value": original}
        ) from error


def parse_int(value: Any) -> int:
    number = parse_decimal(value)
    if number != number.to_integral_value():
        raise CellError(
            _("“%(value)s” is not a whole number.") % {"value": parse_text(value)}
        )
    return int(number)


MONTHS = {
    # Indonesian and English month names and their usual abbreviations
    "januari": 1, "january": 1, "jan": 1,
    "februari": 2, "february": 2, "feb": 2, "pebruari": 2, "peb": 2,
    "maret": 3, "march": 3, "mar": 3,
    "april": 4, "apr": 4,
    "mei": 5, "may": 5,
    "juni": 6, "june": 6, "jun": 6,
    "juli": 7, "july": 7, "jul": 7,
    "agustus": 8, "august": 8, "agu": 8, "agt": 8, "ags": 8, "aug": 8,
    "september": 9, "sep": 9, "sept": 9,
    "oktober": 10, "october": 10, "okt": 10, "oct": 10,
    "november": 11, "nopember": 11, "nov": 11, "nop": 11,
    "desember": 12, "december": 12, "des": 12, "dec": 12,
}  # fmt: skip


def parse_date(value: Any) -> dt.date:
    """dd/mm/yyyy (also with - or .), yyyy-mm-dd, '17 Agustus 2026', or an Excel date."""
    if isinstance(value, dt.datetime):
        return value.date()
    if isinstance(value, dt.date):
        return value
    text = parse_text(value)
    if not text:
        raise CellError(_("A date is required."))
    day = month = year = None
    if match := re.fullmatch(r"(\d{1,2})[/.\-](\d{1,2})[/.\-](\d{4})", text):
        day, month, year = (int(g) for g in match.groups())
    elif match := re.fullmatch(
        r"(\d{4})-(\d{1,2})-(\d{1,2})(?:[ T]00:00(?::00)?)?", text
    ):
        year, month, day = (int(g) for g in match.groups())
    elif match := re.fullmatch(r"(\d{1,2})[\s\-]+([A-Za-z]+)\.?[\s\-]+(\d{4})", text):
        day, year = int(match.group(1)), int(match.group(3))
        month = MONTHS.get(match.group(2).lower())
    if day is not None and month is not None and year is not None:
        try:
            return dt.date(year, month, day)
        except ValueError:
            pass
    raise CellError(
        _(
            "“%(value)s” is not a date. Write dates as dd/mm/yyyy, for example 17/08/2026."
        )
        % {"value": text}
    )


TRUE_WORDS = frozenset({"yes", "y", "ya", "true", "benar", "1", "plt", "acting"})
FALSE_WORDS = frozenset({"no", "n", "tidak", "tdk", "false", "salah", "0", "definitif"})


def parse_bool(value: Any) -> bool:
    """yes/no, ya/tidak, true/false, 1/0; empty means no."""
    if isinstance(value, bool):
        return value
    if isinstance(value, int | float) and value in (0, 1):
        return bool(value)
    word = parse_text(value).lower().rstrip(".")
    if not word or word in FALSE_WORDS:
        return False
    if word in TRUE_WORDS:
        return True
    raise CellError(
        _("“%(value)s” is neither yes nor no. Write yes (ya) or no (tidak).")
        % {"value": parse_text(value)}
    )
