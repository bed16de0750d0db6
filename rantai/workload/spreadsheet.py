"""Workload entries in Excel: a pre-filled template, its import (all or nothing) and
the export of entries and results.

The template has one row per entry (a duty of a position in the analysis) with the
values known so far, drop-downs for the period and the time unit in the reader's
language, and a hidden "About" sheet naming the organisation, unit, year and
revision, so a file cannot be imported into another analysis by mistake — nor into
another revision of the same analysis, whose figures it would put back. The import
reads the whole file first and reports every problem by row and column in the
user's language; only a file without problems is written, through
`services.set_entries` (one transaction). Rows that change nothing are skipped, so
one file can go round the whole unit and each person imports what they may edit.
"""

from __future__ import annotations

import datetime as dt
import io
import zipfile
import zoneinfo
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.conf import settings
from django.utils import formats, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext, pgettext
from openpyxl import Workbook, load_workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.styles import Font, PatternFill
from openpyxl.utils import get_column_letter
from openpyxl.worksheet.datavalidation import DataValidation

from rantai.accounts.models import User
from rantai.core.errors import ValidationFailed
from rantai.org.transfer.exporting import HEADER_FILL, HEADER_FONT, inert
from rantai.org.transfer.parsing import normalise_text
from rantai.workload import method as methods
from rantai.workload import numbers, queries, reports, services
from rantai.workload.models import (
    EDITABLE_SHEET_STATUSES,
    Analysis,
    AnalysisStatus,
    Entry,
    Period,
    SheetStatus,
    TimeUnit,
)

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
ABOUT = "About"  # the hidden sheet; machine-read, so never translated
KIND = "workload-entries"
LANGUAGES = ("en", "id")
MAX_ROWS = 200_000  # 5,000 positions x 20 duties, twice over
MAX_COLUMNS = 30
MAX_PLACES = services.DECIMAL_PLACES  # what an entry keeps
INPUT_FILL = PatternFill("solid", fgColor="FFF2CC")
UNCOMPRESSED_FACTOR = 25  # as the organisation importer: more is a zip bomb

# Excel number formats: Excel shows them with the reader's own decimal marks.
EXACT = "0.000000"
TWO_PLACES = "0.00"
WHOLE = "0"
SIGNED = "+0;-0;0"
MINUTES = "#,##0.00"


@dataclass(frozen=True, slots=True)
class Column:
    key: str
    label: Any  # lazy, so it is rendered in the language active at the time
    # Other ways people write the header (Indonesian forms usually), normalised.
    aliases: tuple[str, ...] = ()
    required: bool = True


COLUMNS = (
    Column(
        "position_code",
        gettext_lazy("position code"),
        ("kode_jabatan", "kode"),
    ),
    Column("position", gettext_lazy("position"), ("jabatan",), required=False),
    Column("duty_id", gettext_lazy("duty id"), ("id_tugas", "no_tugas")),
    Column(
        "duty",
        gettext_lazy("duty"),
        ("uraian_tugas", "tugas"),
        required=False,
    ),
    Column(
        "output_unit",
        gettext_lazy("output unit"),
        ("satuan_hasil",),
        required=False,
    ),
    Column("volume", gettext_lazy("volume of work"), ("beban_kerja", "volume")),
    Column("period", gettext_lazy("per"), ("periode", "per_periode", "period")),
    Column(
        "standard_time",
        gettext_lazy("standard time"),
        ("norma_waktu", "waktu_penyelesaian"),
    ),
    Column("time_unit", gettext_lazy("time unit"), ("satuan_waktu",)),
)
INPUT_KEYS = ("volume", "period", "standard_time", "time_unit")
# The service's field names -> the columns that hold them.
FIELD_COLUMNS = {
    "volume": "volume",
    "volume_period": "period",
    "standard_time": "standard_time",
    "time_unit": "time_unit",
}

# Words people write for a period or a time unit besides the labels (any language).
PERIOD_WORDS = {
    Period.DAY: ("day", "daily", "hari", "harian", "per_hari", "/hari"),
    Period.WEEK: ("week", "weekly", "minggu", "mingguan", "pekan", "per_minggu"),
    Period.MONTH: ("month", "monthly", "bulan", "bulanan", "per_bulan"),
    Period.YEAR: ("year", "yearly", "annual", "tahun", "tahunan", "per_tahun"),
}
TIME_UNIT_WORDS = {
    TimeUnit.MINUTE: ("minute", "minutes", "min", "menit", "mnt"),
    TimeUnit.HOUR: ("hour", "hours", "h", "jam"),
}


def _figure(value: Decimal | int, places: int | None = None) -> str:
    """A number in a message, written the active language's way (1.250 / 1,250)."""
    return numbers.format_decimal(value, places, translation.get_language() or "en")


def _file_size(size: int) -> str:
    """A size for people, the active language's way: "8.0 MB", "512,0 KB"."""
    if size >= 1024 * 1024:
        return _("%(size)s MB") % {"size": _figure(Decimal(size) / (1024 * 1024), 1)}
    return _("%(size)s KB") % {"size": _figure(Decimal(size) / 1024, 1)}


def _key(text: str) -> str:
    """Text compared without case, surrounding space or the kind of spacing."""
    return "_".join(normalise_text(text).lower().replace("-", " ").split())


def _in_each_language(label: Any) -> set[str]:
    found = set()
    for language in LANGUAGES:
        with translation.override(language):
            found.add(_key(str(label)))
    return found


# --- the template ---------------------------------------------------------------------


def template(analysis: Analysis, *, language: str) -> bytes:
    """The .xlsx template of `analysis`, pre-filled: one row per entry with its
    current values, headers and drop-downs in `language`."""
    entries = list(
        Entry.objects.filter(sheet__analysis=analysis)
        .select_related("sheet__position")
        .order_by("sheet__sort_order", "sheet_id", "sort_order", "id")
    )
    analysis = Analysis.objects.select_related("organisation", "unit").get(
        pk=analysis.pk
    )
    with translation.override(language):
        workbook = Workbook()
        sheet = workbook.active
        sheet.title = _("Entries")
        header = [str(column.label) for column in COLUMNS]
        sheet.append(header)
        for entry in entries:
            sheet.append(
                [
                    inert(entry.sheet.position.code),
                    inert(entry.sheet.position.title),
                    entry.duty_id,
                    inert(entry.title),
                    inert(entry.output_unit),
                    entry.volume,
                    reports.period_label(entry.volume_period),
                    entry.standard_time,
                    reports.time_unit_label(entry.time_unit),
                ]
            )
        last = max(2, len(entries) + 1)
        sheet.freeze_panes = "A2"
        widths = (14, 30, 9, 45, 16, 14, 14, 14, 12)
        for index, (column, width) in enumerate(zip(COLUMNS, widths, strict=True), 1):
            letter = get_column_letter(index)
            sheet.column_dimensions[letter].width = width
            cell = sheet.cell(row=1, column=index)
            cell.font = HEADER_FONT
            cell.fill = HEADER_FILL
            if column.key in INPUT_KEYS:
                cell.fill = INPUT_FILL
            if column.key == "position_code":
                for (code,) in sheet[f"{letter}2:{letter}{last}"]:
                    code.number_format = "@"  # keeps leading zeros
        _choices(sheet, f"G2:G{last}", [reports.period_label(p) for p in Period])
        _choices(sheet, f"I2:I{last}", [reports.time_unit_label(u) for u in TimeUnit])
        about = workbook.create_sheet(ABOUT)
        for row in _about_rows(analysis):
            about.append(row)
        about.sheet_state = "hidden"
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _about_rows(analysis: Analysis) -> list[list[Any]]:
    return [
        ["kind", KIND],
        ["organisation", analysis.organisation.slug],
        ["unit", analysis.unit.code],
        ["year", analysis.year],
        ["revision", analysis.revision],
    ]


def _choices(sheet: Any, cells: str, values: Sequence[str]) -> None:
    validation = DataValidation(
        type="list", formula1='"' + ",".join(values) + '"', allow_blank=True
    )
    # Codes and the other language's words are welcome too: the import reads them.
    validation.showErrorMessage = False
    sheet.add_data_validation(validation)
    validation.add(cells)


# --- the import ---------------------------------------------------------------------------


class EntriesRejected(ValidationFailed):
    """The file was refused and nothing was written; `errors["file"]` lists every
    problem ("Row 7, standard time: ...")."""

    code = "import_rejected"

    def __init__(self, problems: Iterable[str]) -> None:
        self.problems = list(problems)
        super().__init__({"file": self.problems}, code=self.code)
        count = len(self.problems)
        self.message = ngettext(
            "The file was not imported: %(count)s problem was found. Nothing was written.",
            "The file was not imported: %(count)s problems were found. Nothing was written.",
            count,
        ) % {"count": _figure(count)}
        self.args = (self.message,)


@dataclass(frozen=True, slots=True)
class _Row:
    number: int
    entry: Entry
    volume: Decimal | None
    period: str
    standard_time: Decimal | None
    time_unit: str

    def changes(self) -> bool:
        entry = self.entry
        return (
            self.volume != entry.volume
            or self.standard_time != entry.standard_time
            or (self.volume is not None and self.period != entry.volume_period)
            or (self.standard_time is not None and self.time_unit != entry.time_unit)
        )


def import_entries(
    analysis: Analysis, data: bytes, *, actor: User, language: str
) -> int:
    """Set the entries of `analysis` from a filled-in template: all or nothing.

    Every problem is reported (`EntriesRejected`, a `ValidationFailed` with the
    messages under "file", in `language`); a file of another organisation, unit,
    year or revision is refused. Rows that change nothing are skipped; a changed row must
    belong to a sheet the actor may edit. Returns the number of entries changed.
    """
    with translation.override(language):
        analysis = Analysis.objects.select_related("organisation", "unit").get(
            pk=analysis.pk
        )
        rows = _read(data)
        about = rows.pop(ABOUT, None)
        _check_about(analysis, about)
        if analysis.status == AnalysisStatus.APPROVED:
            raise EntriesRejected(
                [
                    _(
                        "This analysis is approved and frozen; start a new revision "
                        "to change it."
                    )
                ]
            )
        if analysis.status == AnalysisStatus.CANCELLED:
            raise EntriesRejected(
                [_("This analysis is cancelled; nothing in it can change.")]
            )
        if analysis.status != AnalysisStatus.COLLECTING:
            raise EntriesRejected(
                [
                    _(
                        "This analysis is waiting for approval; withdraw it first "
                        "to change it."
                    )
                ]
            )
        entries_sheet = _entries_sheet(rows)
        changes = _understand(analysis, entries_sheet, actor, language)
        if not changes:
            return 0
        try:
            return services.set_entries(
                analysis,
                actor=actor,
                rows=[
                    services.EntryChange(
                        entry_id=row.entry.pk,
                        volume=row.volume,
                        volume_period=row.period,
                        standard_time=row.standard_time,
                        time_unit=row.time_unit,
                    )
                    for row in changes
                ],
            )
        except EntriesRejected:
            raise
        except ValidationFailed as error:
            # A rule only the service knows: tell it, with the row where we can.
            problems = [
                _located(field, message, changes)
                for field, messages in error.errors.items()
                for message in messages
            ]
            raise EntriesRejected(problems) from error


def _located(field: str, message: str, changes: Sequence[_Row]) -> str:
    """A message of `set_entries` (keyed `rows.<index>.<field>`) with its row and
    column."""
    parts = field.split(".")
    if len(parts) != 3 or parts[0] != "rows" or not parts[1].isdigit():
        return message
    index = int(parts[1])
    if index >= len(changes):
        return message
    number = changes[index].number
    column = FIELD_COLUMNS.get(parts[2])
    if column is None:
        return _("Row %(row)d: %(message)s") % {"row": number, "message": message}
    label = next(str(c.label) for c in COLUMNS if c.key == column)
    return _("Row %(row)d, %(column)s: %(message)s") % {
        "row": number,
        "column": label,
        "message": message,
    }


# -- reading the file


_Sheets = dict[str, list[tuple[int, list[Any]]]]


def _read(data: bytes) -> _Sheets:
    """Every sheet's non-empty rows (with their numbers), or EntriesRejected."""
    limit = settings.RANTAI_IMPORT_MAX_BYTES
    if not data:
        raise EntriesRejected([_("The file is empty.")])
    if len(data) > limit:
        raise EntriesRejected(
            [
                _("The file is too large (%(size)s); the limit is %(limit)s.")
                % {"size": _file_size(len(data)), "limit": _file_size(limit)}
            ]
        )
    if data[:8] == b"\xd0\xcf\x11\xe0\xa1\xb1\x1a\xe1":
        raise EntriesRejected(
            [
                _(
                    "This is an old Excel 97-2003 (.xls) file. Save it as an Excel "
                    "workbook (.xlsx) and upload that."
                )
            ]
        )
    not_a_template = _(
        "This is not an Excel workbook (.xlsx). Download the workload template, fill "
        "it in and upload it."
    )
    try:
        archive = zipfile.ZipFile(io.BytesIO(data))
        members = archive.infolist()
    except (zipfile.BadZipFile, OSError, ValueError) as error:
        raise EntriesRejected([not_a_template]) from error
    if "xl/workbook.xml" not in {member.filename for member in members}:
        raise EntriesRejected([not_a_template])
    unpacked = sum(member.file_size for member in members)
    if unpacked > limit * UNCOMPRESSED_FACTOR:
        raise EntriesRejected(
            [
                _(
                    "The file unpacks to %(size)s, more than the %(limit)s allowed. "
                    "It is refused as a possible zip bomb; split it into smaller files."
                )
                % {
                    "size": _file_size(unpacked),
                    "limit": _file_size(limit * UNCOMPRESSED_FACTOR),
                }
            ]
        )
    damaged = _(
        "The Excel workbook could not be read; it may be damaged. Open it in a "
        "spreadsheet program, save it again as .xlsx and retry."
    )
    sheets: _Sheets = {}
    try:
        workbook = load_workbook(io.BytesIO(data), read_only=True, data_only=True)
    except Exception as error:  # openpyxl raises many kinds on a damaged file
        raise EntriesRejected([damaged]) from error
    try:
        for worksheet in workbook.worksheets:
            rows: list[tuple[int, list[Any]]] = []
            for number, values in enumerate(
                worksheet.iter_rows(max_col=MAX_COLUMNS, values_only=True), start=1
            ):
                if number > MAX_ROWS:
                    raise EntriesRejected(
                        [
                            _(
                                "The sheet has more than %(max)s rows; split it into "
                                "several files."
                            )
                            % {"max": _figure(MAX_ROWS)}
                        ]
                    )
                if any(not _blank(value) for value in values):
                    rows.append((number, list(values)))
            sheets[worksheet.title] = rows
    except EntriesRejected:
        raise
    except Exception as error:
        raise EntriesRejected([damaged]) from error
    finally:
        workbook.close()
    return sheets


def _blank(value: Any) -> bool:
    return value is None or (isinstance(value, str) and not value.strip())


def _check_about(analysis: Analysis, about: list[tuple[int, list[Any]]] | None) -> None:
    """The file must be a template of this organisation, unit, year and revision
    (another revision's template would put its figures back over this one's)."""
    facts = {
        _key(str(values[0])): values[1] if len(values) > 1 else None
        for _number, values in about or []
        if values and values[0] is not None
    }
    if facts.get("kind") != KIND:
        raise EntriesRejected(
            [
                _(
                    "This file is not a workload template of Rantai (its hidden "
                    "About sheet is missing). Download the template of this "
                    "analysis, fill it in and upload it."
                )
            ]
        )
    problems = []
    organisation = str(facts.get("organisation") or "")
    if organisation != analysis.organisation.slug:
        problems.append(
            _(
                "This file belongs to another organisation (%(file)s), not to "
                "%(organisation)s."
            )
            % {"file": organisation or "?", "organisation": analysis.organisation.slug}
        )
    else:
        unit = str(facts.get("unit") or "")
        if unit != analysis.unit.code:
            problems.append(
                _(
                    "This file is for the unit %(file)s, not for %(unit)s. Download "
                    "the template of this analysis."
                )
                % {"file": unit or "?", "unit": analysis.unit.code}
            )
        year = facts.get("year")
        if str(year).removesuffix(".0") != str(analysis.year):
            problems.append(
                _(
                    "This file is for the year %(file)s, not for %(year)d. Download "
                    "the template of this analysis."
                )
                % {"file": year or "?", "year": analysis.year}
            )
        revision = str(facts.get("revision") or "").removesuffix(".0")
        if not problems and revision != str(analysis.revision):
            problems.append(
                _(
                    "This file was made for revision %(file)s, not for revision "
                    "%(revision)d of this analysis. Download the template of "
                    "revision %(revision)d and fill that in."
                )
                % {"file": revision or "?", "revision": analysis.revision}
            )
    if problems:
        raise EntriesRejected(problems)


def _entries_sheet(sheets: _Sheets) -> list[tuple[int, list[Any]]]:
    """The entries sheet: by its name in either language, else the first sheet."""
    names = _in_each_language(gettext_lazy("Entries"))
    for title, rows in sheets.items():
        if _key(title) in names:
            return rows
    if sheets:
        return next(iter(sheets.values()))
    return []


def _columns(header: Sequence[Any]) -> tuple[dict[str, int], list[str]]:
    """Where each column is (its key -> index) and the problems with the header."""
    known: dict[str, str] = {}
    for column in COLUMNS:
        for name in (
            column.key,
            *column.aliases,
            *_in_each_language(column.label),
        ):
            known.setdefault(_key(name), column.key)
    found: dict[str, int] = {}
    for index, value in enumerate(header):
        if _blank(value):
            continue
        key = known.get(_key(str(value)))
        if key is not None and key not in found:
            found[key] = index
    missing = [
        str(column.label)
        for column in COLUMNS
        if column.required and column.key not in found
    ]
    problems = []
    if missing:
        problems.append(
            _(
                "The file lacks the columns %(columns)s. Download the template of "
                "this analysis and keep its header row."
            )
            % {"columns": ", ".join(missing)}
        )
    return found, problems


def _understand(
    analysis: Analysis,
    rows: list[tuple[int, list[Any]]],
    actor: User,
    language: str,
) -> list[_Row]:
    """The rows that change an entry, or EntriesRejected with every problem."""
    if not rows:
        raise EntriesRejected([_("The file has no rows to import.")])
    (_header_number, header), *body = rows
    columns, problems = _columns(header)
    if problems:
        raise EntriesRejected(problems)
    method = methods.Method.from_json(analysis.method)
    entries = {
        (entry.sheet.position.code, entry.duty_id): entry
        for entry in Entry.objects.filter(sheet__analysis=analysis).select_related(
            "sheet__position"
        )
    }
    codes = {code for code, _duty in entries}
    labels = {column.key: str(column.label) for column in COLUMNS}
    period_names = _names(Period, PERIOD_WORDS)
    unit_names = _names(TimeUnit, TIME_UNIT_WORDS)
    seen: dict[tuple[str, int], int] = {}
    understood: list[_Row] = []
    for number, values in body:

        def cell(key: str, values: list[Any] = values) -> Any:
            index = columns.get(key)
            return values[index] if index is not None and index < len(values) else None

        def problem(key: str, message: str, number: int = number) -> None:
            if key:
                problems.append(
                    _("Row %(row)d, %(column)s: %(message)s")
                    % {"row": number, "column": labels[key], "message": message}
                )
            else:
                problems.append(
                    _("Row %(row)d: %(message)s") % {"row": number, "message": message}
                )

        before = len(problems)
        code = _text(cell("position_code"))
        duty_id = _whole(cell("duty_id"))
        entry = None
        if not code:
            problem("position_code", _("The position code is missing."))
        elif code not in codes:
            problem(
                "position_code",
                _("No position with the code %(code)s is in this analysis.")
                % {"code": code},
            )
        elif duty_id is None:
            problem("duty_id", _("The duty id is missing or not a whole number."))
        else:
            entry = entries.get((code, duty_id))
            if entry is None:
                problem(
                    "duty_id",
                    _(
                        "The position %(code)s has no duty with the id %(duty)d in "
                        "this analysis."
                    )
                    % {"code": code, "duty": duty_id},
                )
            elif (code, duty_id) in seen:
                problem(
                    "",
                    _("This duty is already on row %(row)d.")
                    % {"row": seen[(code, duty_id)]},
                )
                entry = None
            else:
                seen[(code, duty_id)] = number
        volume = _number(cell("volume"), language, lambda m: problem("volume", m))
        standard_time = _number(
            cell("standard_time"), language, lambda m: problem("standard_time", m)
        )
        period = _choice(
            cell("period"), period_names, Period, lambda m: problem("period", m)
        )
        time_unit = _choice(
            cell("time_unit"), unit_names, TimeUnit, lambda m: problem("time_unit", m)
        )
        if len(problems) == before and entry is not None:
            # The rules of the figures are the service's (`set_entry` checks the
            # same): negative, absurd, not more than zero, longer than the period.
            _values, refused = services.clean_figures(
                method,
                volume,
                period or entry.volume_period,
                standard_time,
                time_unit or entry.time_unit,
            )
            for field, messages in refused.items():
                for message in messages:
                    problem(FIELD_COLUMNS.get(field, ""), message)
        if len(problems) > before or entry is None:
            continue
        row = _Row(
            number=number,
            entry=entry,
            volume=volume,
            period=period or entry.volume_period,
            standard_time=standard_time,
            time_unit=time_unit or entry.time_unit,
        )
        if row.changes():
            understood.append(row)
    problems.extend(_permission_problems(analysis, understood, actor))
    if problems:
        raise EntriesRejected(problems)
    return understood


def _permission_problems(
    analysis: Analysis, rows: list[_Row], actor: User
) -> list[str]:
    """A changed row must be on a sheet the actor may edit now."""
    problems = []
    allowed: dict[int, str] = {}  # sheet id -> "" or the reason it may not change
    for row in rows:
        sheet = row.entry.sheet
        if sheet.pk not in allowed:
            sheet.analysis = analysis  # read once, not once per sheet
            if sheet.status == SheetStatus.VALIDATED:
                allowed[sheet.pk] = _(
                    "the entries of %(position)s are validated; they can no longer "
                    "change"
                ) % {"position": sheet.position.title}
            elif sheet.status not in EDITABLE_SHEET_STATUSES:
                allowed[sheet.pk] = _(
                    "the entries of %(position)s are waiting for validation; "
                    "withdraw them first"
                ) % {"position": sheet.position.title}
            elif not queries.may_edit_sheet(sheet, actor):
                allowed[sheet.pk] = _(
                    "you may not change the entries of %(position)s"
                ) % {"position": sheet.position.title}
            else:
                allowed[sheet.pk] = ""
        if allowed[sheet.pk]:
            problems.append(
                _("Row %(row)d: %(message)s")
                % {"row": row.number, "message": allowed[sheet.pk]}
            )
    return problems


def _text(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    text = normalise_text(str(value))
    if len(text) > 1 and text[0] == "'":
        text = text[1:]  # the quote `inert` puts before text that looks like a formula
    return text


def _whole(value: Any) -> int | None:
    if isinstance(value, bool):
        return None
    if isinstance(value, int):
        return value
    if isinstance(value, float):
        return int(value) if value.is_integer() else None
    text = _text(value)
    return int(text) if text.isdigit() else None


def _number(value: Any, language: str, refuse: Callable[[str], None]) -> Decimal | None:
    """A numeric cell, or text written the Indonesian or the English way; None
    when empty."""
    if _blank(value):
        return None
    if isinstance(value, bool):
        refuse(_("Enter a number."))
        return None
    if isinstance(value, int):
        number = Decimal(value)
    elif isinstance(value, float):
        number = Decimal(repr(value))
        # Binary noise of a computed cell (0.30000000000000004) is not a decimal.
        rounded = number.quantize(Decimal(1).scaleb(-MAX_PLACES))
        if abs(number - rounded) < Decimal("1e-9"):
            number = rounded
    elif isinstance(value, Decimal):
        number = value
    else:
        try:
            number = numbers.parse_decimal(str(value), language)
        except (ValueError, InvalidOperation) as error:
            refuse(str(error))
            return None
    if not number.is_finite():
        refuse(_("Enter a number."))
        return None
    exponent = number.normalize().as_tuple().exponent
    if isinstance(exponent, int) and exponent < -MAX_PLACES:
        refuse(
            _("Use at most %(places)s decimal places.")
            % {"places": _figure(MAX_PLACES)}
        )
        return None
    return number.normalize() if number else Decimal(0)


def _names(choices: Any, words: dict[Any, tuple[str, ...]]) -> dict[str, str]:
    """What people may write for each choice -> its code: the code, its label in
    either language and the usual words."""
    names: dict[str, str] = {}
    for choice in choices:
        for name in (
            choice.value,
            *_in_each_language(choice.label),
            *words.get(choice, ()),
        ):
            names.setdefault(_key(name), str(choice.value))
    return names


def _choice(
    value: Any,
    names: dict[str, str],
    choices: Any,
    refuse: Callable[[str], None],
) -> str | None:
    """The code a cell names (see `_names`); None when empty."""
    if _blank(value):
        return None
    key = _key(_text(value))
    found = names.get(key) or names.get(key.removeprefix("per_"))
    if found is not None:
        return found
    refuse(
        _("“%(value)s” is not one of: %(choices)s.")
        % {
            "value": _text(value),
            "choices": ", ".join(str(choice.label) for choice in choices),
        }
    )
    return None


# --- the export ---------------------------------------------------------------------------


def export(analysis: Analysis, *, language: str) -> bytes:
    """Entries and results of `analysis` as .xlsx: a summary, one row per position
    and one per entry; numbers as numeric cells with number formats (Excel shows
    them in the reader's own locale), words in `language`."""
    report = reports.build(analysis)
    with translation.override(language):
        workbook = Workbook(write_only=True)
        _summary_sheet(workbook, report)
        _results_sheet(workbook, report)
        _entries_sheet_export(workbook, report)
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()


def _header(sheet: Any, names: Sequence[str]) -> None:
    cells = []
    for name in names:
        cell = WriteOnlyCell(sheet, value=name)
        cell.font = HEADER_FONT
        cell.fill = HEADER_FILL
        cells.append(cell)
    sheet.append(cells)


def _value(sheet: Any, value: Any, number_format: str | None = None) -> Any:
    if value is None or value == "":
        return None
    if isinstance(value, str):
        return inert(value)
    cell = WriteOnlyCell(sheet, value=value)
    if number_format:
        cell.number_format = number_format
    return cell


def _local(moment: dt.datetime | None, time_zone: str) -> str:
    if moment is None:
        return ""
    local = moment.astimezone(zoneinfo.ZoneInfo(time_zone))
    return f"{formats.date_format(local, 'j F Y')} {local:%H:%M}"


def _summary_sheet(workbook: Workbook, report: reports.Report) -> None:
    sheet = workbook.create_sheet(_("Summary"))
    sheet.column_dimensions["A"].width = 40
    sheet.column_dimensions["B"].width = 40
    title = Font(bold=True, size=14)
    heading = WriteOnlyCell(sheet, value=reports.title())
    heading.font = title
    sheet.append([heading])
    signature = report.signature
    totals = report.totals
    rows: list[tuple[str, Any, str | None]] = [
        (_("Organisation"), report.organisation, None),
        (
            pgettext("organisation unit", "Unit"),
            f"{report.unit_name} ({report.unit_code})",
            None,
        ),
        (_("Year"), report.year, WHOLE),
        (_("Revision"), report.revision, WHOLE),
        (_("Status"), reports.status_label(report.status), None),
        (_("Method"), reports.preset_name(report.preset), None),
    ]
    rows.extend(
        (
            _("Effective working time (WKE), minutes %(period)s")
            % {"period": reports.period_label(period)},
            minutes,
            MINUTES,
        )
        for period, minutes in report.effective_minutes.items()
    )
    rows.extend(
        [
            (_("Working days in the year"), report.working_days, WHOLE),
            (_("Working minutes per day"), report.minutes_per_day, WHOLE),
            (_("Computed"), _local(report.computed_at, report.time_zone), None),
            (_("Positions"), len(report.positions), WHOLE),
            (_("Current staff"), totals.current_staff, WHOLE),
            (_("Required staff (exact)"), totals.required_staff, EXACT),
            (_("Required staff"), totals.required_count, WHOLE),
            (_("Shortage (+) / surplus (-)"), totals.shortage, SIGNED),
            (
                _("Approved by"),
                signature.name if signature.approved else _("draft — not approved"),
                None,
            ),
            (_("Approved as"), signature.position, None),
            (_("Approved"), _local(signature.approved_at, report.time_zone), None),
        ]
    )
    for label, value, number_format in rows:
        sheet.append([inert(label), _value(sheet, value, number_format)])


def _results_sheet(workbook: Workbook, report: reports.Report) -> None:
    sheet = workbook.create_sheet(_("Results"))
    sheet.freeze_panes = "A2"
    names = [
        _("No."),
        str(COLUMNS[0].label),
        _("position"),
        pgettext("organisation unit", "unit"),
        _("status"),
        _("current staff"),
        _("acting holders (Plt)"),
        _("required staff (exact)"),
        _("required staff"),
        _("shortage (+) / surplus (-)"),
        _("job effectiveness (EJ)"),
        _("job performance grade (PJ)"),
        _("activity time per year (minutes)"),
        _("FTE"),
        _("FTE category"),
        _("required staff (FTE)"),
    ]
    _header(sheet, names)
    for width, letter in zip(
        (6, 14, 30, 24, 18, 10, 10, 14, 10, 12, 10, 8, 16, 10, 12, 10),
        (get_column_letter(index) for index in range(1, len(names) + 1)),
        strict=True,
    ):
        sheet.column_dimensions[letter].width = width
    for position in report.positions:
        sheet.append(
            [
                _value(sheet, position.number, WHOLE),
                _value(sheet, position.code),
                _value(sheet, position.title),
                _value(sheet, f"{position.unit_name} ({position.unit_code})"),
                _value(sheet, reports.sheet_status_label(position.status)),
                _value(sheet, position.current_holders, WHOLE),
                _value(sheet, position.acting_holders, WHOLE),
                _value(sheet, position.required_staff, EXACT),
                _value(sheet, position.required_count, WHOLE),
                _value(sheet, position.shortage, SIGNED),
                _value(sheet, position.effectiveness, TWO_PLACES),
                _value(sheet, position.grade),
                _value(sheet, position.activity_minutes, MINUTES),
                _value(sheet, position.fte, TWO_PLACES),
                _value(
                    sheet,
                    reports.category_label(position.fte_category)
                    if position.fte_category
                    else "",
                ),
                _value(sheet, position.fte_count, WHOLE),
            ]
        )


def _check_formula(sheet: Any, entry: reports.EntryLine, row: int) -> Any:
    """The duty's required staff as a live Excel formula over the row's own cells
    (volume F × standard minutes J ÷ WKE K), so a reader can trace and check it in
    the spreadsheet; empty for a duty not filled in. Our own formula, so it is
    written as one (user text is always made inert)."""
    if entry.required_staff is None:
        return None
    cell = WriteOnlyCell(sheet, value=f"=F{row}*J{row}/K{row}")
    cell.number_format = EXACT
    return cell


def _entries_sheet_export(workbook: Workbook, report: reports.Report) -> None:
    sheet = workbook.create_sheet(_("Entries"))
    sheet.freeze_panes = "A2"
    names = [
        *(str(column.label) for column in COLUMNS),
        _("standard time (minutes)"),
        _("WKE of the period (minutes)"),
        _("required staff (exact)"),
        _("required staff (Excel formula: volume × minutes ÷ WKE)"),
    ]
    _header(sheet, names)
    for width, letter in zip(
        (14, 30, 9, 45, 16, 14, 14, 14, 12, 14, 14, 14, 18),
        (get_column_letter(index) for index in range(1, len(names) + 1)),
        strict=True,
    ):
        sheet.column_dimensions[letter].width = width
    row = 1  # the header
    for position in report.positions:
        code = _value(sheet, position.code)
        title = _value(sheet, position.title)
        for entry in position.entries:
            row += 1
            sheet.append(
                [
                    code,
                    title,
                    _value(sheet, entry.duty_id, WHOLE),
                    _value(sheet, entry.duty),
                    _value(sheet, entry.output_unit),
                    _value(sheet, entry.volume),
                    _value(sheet, reports.period_label(entry.period)),
                    _value(sheet, entry.standard_time),
                    _value(sheet, reports.time_unit_label(entry.time_unit)),
                    _value(sheet, entry.standard_minutes, MINUTES),
                    _value(sheet, entry.effective_minutes, MINUTES),
                    _value(sheet, entry.required_staff, EXACT),
                    _check_formula(sheet, entry, row),
                ]
            )
