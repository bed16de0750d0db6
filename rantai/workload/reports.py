"""The report of a workload analysis: one plain structure (`build`) rendered as JSON
(`as_json`), as the spreadsheet export (`spreadsheet.export`) and as the PDF in the
layout government offices know (`pdf`): title, unit, year, revision, method and
effective working time (WKE); per position a table of its duties (uraian tugas),
output unit (satuan hasil), volume (beban kerja), standard time (norma waktu), WKE
and required staff; the unit summary; the signature block of the approving superior
with the approval time from the audit trail.

`build` reads the analysis in a fixed number of queries, whatever its size; the
per-duty figures are derived with `method.entry_result` (stored results are read
from the sheets, as `services.compute` left them).
"""

from __future__ import annotations

import datetime as dt
import decimal
import io
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal
from typing import Any
from xml.sax.saxutils import escape

from django.utils import formats, translation
from django.utils.translation import gettext as _

from rantai.approvals.models import ApprovalRequest, RequestStatus, SubjectKind
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.org.models import Person
from rantai.workload import method as methods
from rantai.workload import numbers
from rantai.workload.models import (
    Analysis,
    AnalysisStatus,
    Entry,
    Period,
    PositionSheet,
    SheetStatus,
    TimeUnit,
)

PDF_CONTENT_TYPE = "application/pdf"
SIX_PLACES = Decimal("0.000001")
# method.py's arithmetic: 28 significant digits.
DECIMAL_CONTEXT = decimal.Context(prec=28, rounding=decimal.ROUND_HALF_EVEN)
PERIODS = (Period.DAY, Period.WEEK, Period.MONTH, Period.YEAR)


# --- the report as plain data ---------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryLine:
    """One duty of a position with its figures (required staff exact, 6 places)."""

    number: int  # 1, 2, ... within the position
    entry_id: int
    duty_id: int
    duty: str
    output_unit: str
    volume: Decimal | None
    period: str
    standard_time: Decimal | None
    time_unit: str
    standard_minutes: Decimal | None
    effective_minutes: Decimal  # the WKE of the entry's period
    required_staff: Decimal | None


@dataclass(frozen=True, slots=True)
class PositionLine:
    """One position's sheet: its duties and the results `services.compute` stored
    (None until computed)."""

    number: int
    sheet_id: int
    position_id: int
    code: str
    title: str
    unit_code: str
    unit_name: str
    status: str
    entries: tuple[EntryLine, ...]
    current_holders: int
    acting_holders: int
    required_staff: Decimal | None
    required_count: int | None
    shortage: int | None  # required - current: positive a shortage, negative a surplus
    effectiveness: Decimal | None  # EJ
    grade: str  # PJ
    fte: Decimal | None
    fte_category: str
    fte_count: int | None
    activity_minutes: Decimal | None


@dataclass(frozen=True, slots=True)
class Totals:
    required_staff: Decimal | None
    required_count: int | None
    current_staff: int | None
    shortage: int | None


@dataclass(frozen=True, slots=True)
class Signature:
    """Who approved the analysis and when, from the approval decision's audit event;
    `approved` False for a draft."""

    approved: bool
    name: str
    position: str
    on_behalf_of: str  # a.n.: the approver whose authority was delegated, or ""
    place: str  # not recorded by Rantai: written by hand on the printout
    approved_at: dt.datetime | None  # UTC
    local_date: dt.date | None  # in the organisation's time zone
    audit_sequence: int | None  # the approval decision's audit event


@dataclass(frozen=True, slots=True)
class Report:
    analysis_id: int
    organisation: str
    organisation_slug: str
    time_zone: str
    unit_code: str
    unit_name: str
    year: int
    revision: int
    status: str
    computed_at: dt.datetime | None
    preset: str
    rounding: str
    effective_minutes: dict[str, Decimal]  # WKE per period: day, week, month, year
    working_days: int
    minutes_per_day: int
    positions: tuple[PositionLine, ...]
    totals: Totals
    signature: Signature


def build(analysis: Analysis) -> Report:
    """The report of `analysis`: a fixed number of queries (six, seven with a
    delegated approval), whatever the number of positions."""
    analysis = Analysis.objects.select_related(
        "organisation", "unit", "approved_by", "approved_by_position"
    ).get(pk=analysis.pk)
    method = methods.Method.from_json(analysis.method)
    sheets = list(
        PositionSheet.objects.filter(analysis=analysis)
        .select_related("position", "position__party")
        .order_by("sort_order", "id")
    )
    entries_by_sheet: dict[int, list[EntryLine]] = defaultdict(list)
    rows = (
        Entry.objects.filter(sheet__analysis=analysis)
        .order_by("sheet_id", "sort_order", "id")
        .values_list(
            "sheet_id",
            "id",
            "duty_id",
            "title",
            "output_unit",
            "volume",
            "volume_period",
            "standard_time",
            "time_unit",
        )
    )
    effective = {str(period): method.effective.of(period) for period in PERIODS}
    with decimal.localcontext(DECIMAL_CONTEXT):
        for sheet_id, *values in rows:
            lines = entries_by_sheet[sheet_id]
            lines.append(_entry_line(len(lines) + 1, values, effective))
    positions = tuple(
        _position_line(
            number,
            sheet,
            entries_by_sheet.get(sheet.pk, ()),
            acting_count=method.acting_holders_count,
        )
        for number, sheet in enumerate(sheets, start=1)
    )
    computed = analysis.computed_at is not None
    totals = Totals(
        required_staff=analysis.required_total,
        required_count=analysis.required_count,
        current_staff=analysis.current_count,
        shortage=(
            analysis.required_count - analysis.current_count
            if computed
            and analysis.required_count is not None
            and analysis.current_count is not None
            else None
        ),
    )
    return Report(
        analysis_id=analysis.pk,
        organisation=analysis.organisation.name,
        organisation_slug=analysis.organisation.slug,
        time_zone=analysis.organisation.time_zone,
        unit_code=analysis.unit.code,
        unit_name=analysis.unit.name,
        year=analysis.year,
        revision=analysis.revision,
        status=analysis.status,
        computed_at=analysis.computed_at,
        preset=method.preset,
        rounding=method.rounding,
        effective_minutes={period: method.effective.of(period) for period in PERIODS},
        working_days=analysis.working_days,
        minutes_per_day=analysis.minutes_per_day,
        positions=positions,
        totals=totals,
        signature=_signature(analysis),
    )


def _entry_line(
    number: int, values: Sequence[Any], effective: dict[str, Decimal]
) -> EntryLine:
    (
        entry_id,
        duty_id,
        title,
        output_unit,
        volume,
        period,
        standard_time,
        time_unit,
    ) = values
    standard, wke, required = _figures(
        volume, period, standard_time, time_unit, effective
    )
    return EntryLine(
        number=number,
        entry_id=entry_id,
        duty_id=duty_id,
        duty=title,
        output_unit=output_unit,
        volume=volume,
        period=period,
        standard_time=standard_time,
        time_unit=time_unit,
        standard_minutes=standard,
        effective_minutes=wke,
        required_staff=(
            None
            if required is None
            else required.quantize(SIX_PLACES, rounding=ROUND_HALF_UP)
        ),
    )


def entry_figures(
    volume: Decimal | None,
    period: str,
    standard_time: Decimal | None,
    time_unit: str,
    method: methods.Method,
) -> tuple[Decimal | None, Decimal, Decimal | None]:
    """(standard minutes, WKE of the period, required staff) of one duty: the
    figures of `method.entry_result` (volume x standard minutes / WKE, in its
    decimal context) without the traces it writes, which cost seconds on 100,000
    duties. A test holds the two equal."""
    with decimal.localcontext(DECIMAL_CONTEXT):
        return _figures(
            volume,
            period,
            standard_time,
            time_unit,
            {period: method.effective.of(period)},
        )


def _figures(
    volume: Decimal | None,
    period: str,
    standard_time: Decimal | None,
    time_unit: str,
    effective: dict[str, Decimal],
) -> tuple[Decimal | None, Decimal, Decimal | None]:
    """`entry_figures` in the caller's decimal context."""
    wke = effective[period]
    if standard_time is None:
        return None, wke, None
    standard = (
        standard_time * methods.MINUTES_PER_HOUR
        if time_unit == TimeUnit.HOUR
        else standard_time
    )
    if volume is None:
        return standard, wke, None
    return standard, wke, volume * standard / wke


def _position_line(
    number: int,
    sheet: PositionSheet,
    entries: Iterable[EntryLine],
    *,
    acting_count: bool,
) -> PositionLine:
    position = sheet.position
    # The staff the analysis counts: definitive holders, and acting ones (Plt) when
    # the method says so (as `method.position_result` counts them).
    current = sheet.current_holders + (sheet.acting_holders if acting_count else 0)
    shortage = (
        sheet.required_count - current if sheet.required_count is not None else None
    )
    return PositionLine(
        number=number,
        sheet_id=sheet.pk,
        position_id=position.pk,
        code=position.code,
        title=position.title,
        unit_code=position.party.code,
        unit_name=position.party.name,
        status=sheet.status,
        entries=tuple(entries),
        current_holders=current,
        acting_holders=sheet.acting_holders,
        required_staff=sheet.required_staff,
        required_count=sheet.required_count,
        shortage=shortage,
        effectiveness=sheet.effectiveness,
        grade=sheet.grade,
        fte=sheet.fte,
        fte_category=sheet.fte_category,
        fte_count=sheet.fte_count,
        activity_minutes=sheet.activity_minutes,
    )


def _signature(analysis: Analysis) -> Signature:
    """The approving superior and the time of the approval decision as the audit
    trail recorded it (the last `approved` event of the analysis's approved
    request)."""
    unsigned = Signature(
        approved=False,
        name="",
        position="",
        on_behalf_of="",
        place="",
        approved_at=None,
        local_date=None,
        audit_sequence=None,
    )
    if analysis.status != AnalysisStatus.APPROVED:
        return unsigned
    request_id = (
        ApprovalRequest.objects.filter(
            organisation=analysis.organisation,
            subject_kind=SubjectKind.WORKLOAD_ANALYSIS,
            subject_id=analysis.pk,
            status=RequestStatus.APPROVED,
        )
        .order_by("-finished_at", "-id")
        .values_list("id", flat=True)
        .first()
    )
    event = None
    if request_id is not None:
        event = (
            AuditEvent.objects.filter(
                organisation=analysis.organisation,
                target_type="approvals.approvalrequest",
                target_id=str(request_id),
                verb=AuditVerb.APPROVED,
            )
            .order_by("-sequence")
            .only("sequence", "occurred_at", "changes")
            .first()
        )
    approved_at = event.occurred_at if event is not None else analysis.approved_at
    on_behalf_of = ""
    if event is not None and event.changes.get("on_behalf_of"):
        on_behalf_of = (
            Person.objects.filter(pk=event.changes["on_behalf_of"])
            .values_list("full_name", flat=True)
            .first()
            or ""
        )
    local_date = (
        approved_at.astimezone(
            zoneinfo.ZoneInfo(analysis.organisation.time_zone)
        ).date()
        if approved_at is not None
        else None
    )
    return Signature(
        approved=True,
        name=analysis.approved_by.full_name if analysis.approved_by else "",
        position=(
            analysis.approved_by_position.title if analysis.approved_by_position else ""
        ),
        on_behalf_of=on_behalf_of,
        place="",
        approved_at=approved_at,
        local_date=local_date,
        audit_sequence=event.sequence if event is not None else None,
    )


# --- JSON -------------------------------------------------------------------------------


def _number(value: Decimal | None) -> str | None:
    """Decimals as exact strings (never floats)."""
    if value is None:
        return None
    return format(value, "f")


def _moment(value: dt.datetime | None) -> str | None:
    return None if value is None else value.astimezone(dt.UTC).isoformat()


def as_json(report: Report) -> dict[str, Any]:
    """The report as JSON-ready data: decimals as exact strings, times in UTC."""
    signature = report.signature
    return {
        "analysis_id": report.analysis_id,
        "organisation": {
            "name": report.organisation,
            "slug": report.organisation_slug,
            "time_zone": report.time_zone,
        },
        "unit": {"code": report.unit_code, "name": report.unit_name},
        "year": report.year,
        "revision": report.revision,
        "status": report.status,
        "computed_at": _moment(report.computed_at),
        "method": {
            "preset": report.preset,
            "rounding": report.rounding,
            "effective_minutes": {
                period: _number(minutes)
                for period, minutes in report.effective_minutes.items()
            },
            "working_days": report.working_days,
            "minutes_per_day": report.minutes_per_day,
        },
        "positions": [
            {
                "number": position.number,
                "sheet_id": position.sheet_id,
                "position_id": position.position_id,
                "code": position.code,
                "title": position.title,
                "unit": {"code": position.unit_code, "name": position.unit_name},
                "status": position.status,
                "current_holders": position.current_holders,
                "acting_holders": position.acting_holders,
                "required_staff": _number(position.required_staff),
                "required_count": position.required_count,
                "shortage": position.shortage,
                "effectiveness": _number(position.effectiveness),
                "grade": position.grade,
                "fte": _number(position.fte),
                "fte_category": position.fte_category,
                "fte_count": position.fte_count,
                "activity_minutes": _number(position.activity_minutes),
                "entries": [
                    {
                        "number": entry.number,
                        "entry_id": entry.entry_id,
                        "duty_id": entry.duty_id,
                        "duty": entry.duty,
                        "output_unit": entry.output_unit,
                        "volume": _number(entry.volume),
                        "period": entry.period,
                        "standard_time": _number(entry.standard_time),
                        "time_unit": entry.time_unit,
                        "standard_minutes": _number(entry.standard_minutes),
                        "effective_minutes": _number(entry.effective_minutes),
                        "required_staff": _number(entry.required_staff),
                    }
                    for entry in position.entries
                ],
            }
            for position in report.positions
        ],
        "totals": {
            "required_staff": _number(report.totals.required_staff),
            "required_count": report.totals.required_count,
            "current_staff": report.totals.current_staff,
            "shortage": report.totals.shortage,
        },
        "signature": {
            "approved": signature.approved,
            "name": signature.name,
            "position": signature.position,
            "on_behalf_of": signature.on_behalf_of,
            "approved_at": _moment(signature.approved_at),
            "local_date": (
                signature.local_date.isoformat() if signature.local_date else None
            ),
            "audit_sequence": signature.audit_sequence,
        },
    }


# --- words and numbers in the reader's language -------------------------------------------


def title() -> str:
    """The document's name as government offices print it (in the active language)."""
    return _("WORKLOAD ANALYSIS")


def preset_name(preset: str) -> str:
    try:
        return methods.Preset(preset).label
    except ValueError:
        return preset


def period_label(period: str) -> str:
    try:
        return str(Period(period).label)
    except ValueError:
        return period


def time_unit_label(unit: str) -> str:
    try:
        return str(TimeUnit(unit).label)
    except ValueError:
        return unit


def status_label(status: str) -> str:
    try:
        return str(AnalysisStatus(status).label)
    except ValueError:
        return status


def sheet_status_label(status: str) -> str:
    try:
        return str(SheetStatus(status).label)
    except ValueError:
        return status


def category_label(category: str) -> str:
    try:
        return methods.FteCategory(category).label
    except ValueError:
        return category


def figure(
    value: Decimal | int | None, language: str, places: int | None = None
) -> str:
    """A number for reading: "—" when there is none; `places` None keeps the
    value's own decimals (at most four)."""
    if value is None:
        return "—"
    if places is None and isinstance(value, Decimal):
        exponent = value.normalize().as_tuple().exponent
        natural = -exponent if isinstance(exponent, int) and exponent < 0 else 0
        places = min(natural, 4)
    return numbers.format_decimal(value, places, language)


def signed(value: int | None, language: str) -> str:
    if value is None:
        return "—"
    text = numbers.format_decimal(abs(value), 0, language)
    # A plain hyphen: the PDF's built-in fonts have no minus sign (U+2212).
    return f"+{text}" if value > 0 else (f"-{text}" if value < 0 else "0")


def local_day(value: dt.date | None) -> str:
    """A date in the active language: "17 August 2026" / "17 Agustus 2026"."""
    return "" if value is None else formats.date_format(value, "j F Y")


def local_time(value: dt.datetime | None, time_zone: str) -> str:
    if value is None:
        return ""
    moment = value.astimezone(zoneinfo.ZoneInfo(time_zone))
    return f"{formats.date_format(moment, 'j F Y')} {moment:%H:%M} ({time_zone})"


# --- PDF ---------------------------------------------------------------------------------


SUMMARY_CHUNK = 250  # rows per summary table: splitting a long table costs ~rows²


def pdf(report: Report, *, language: str, duties: bool = True) -> bytes:
    """The report as PDF (A4 landscape) in `language`: title block, a table of duties
    per position (left out with `duties=False`), the unit summary and the signature
    block."""
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
            title=f"{title()} {report.unit_name} {report.year}",
            author=report.organisation,
            creator="Rantai",
        )
        width = document.width
        story: list[Any] = []
        story.extend(_heading(report, language, styles))
        if duties:
            for position in report.positions:
                story.extend(
                    _position_section(report, position, language, styles, width)
                )
        story.append(Spacer(1, 4 * mm))
        story.append(Paragraph(escape(_("Unit summary")), styles["h2"]))
        story.extend(_summary_tables(report, language, styles, width))
        story.append(Spacer(1, 8 * mm))
        story.append(_signature_block(report, styles, width))
        page_label = _("Page %(page)d")
        footer = (
            f"{title()} — {report.unit_name} ({report.unit_code}) {report.year}, "
            + _("revision %(revision)d") % {"revision": report.revision}
        )
        draft = "" if report.signature.approved else _("DRAFT — NOT APPROVED")

        def decorate(canvas: Any, doc: Any) -> None:
            canvas.saveState()
            canvas.setFont("Helvetica", 7)
            canvas.drawString(doc.leftMargin, 8 * mm, footer)
            canvas.drawRightString(
                doc.leftMargin + doc.width,
                8 * mm,
                page_label % {"page": doc.page},
            )
            if draft:
                canvas.setFont("Helvetica-Bold", 8)
                canvas.drawRightString(
                    doc.leftMargin + doc.width, doc.pagesize[1] - 9 * mm, draft
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
            "title",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=14,
            leading=18,
            alignment=TA_CENTER,
        ),
        "centre": ParagraphStyle("centre", parent=base, alignment=TA_CENTER),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=10,
            leading=13,
            spaceBefore=6,
            spaceAfter=3,
        ),
        "cell": ParagraphStyle("cell", parent=base, fontSize=8, leading=9.5),
        "small": ParagraphStyle("small", parent=base, fontSize=8, leading=10),
    }


def _heading(report: Report, language: str, styles: dict[str, Any]) -> list[Any]:
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer

    effective = report.effective_minutes
    minutes = _("min")
    wke = "; ".join(
        f"{figure(effective[period], language)} {minutes} {period_label(period)}"
        for period in PERIODS
    )
    lines = [
        Paragraph(escape(title()), styles["title"]),
        Paragraph(escape(report.organisation), styles["centre"]),
        Spacer(1, 3 * mm),
        Paragraph(
            escape(
                _("Unit: %(unit)s (%(code)s)")
                % {"unit": report.unit_name, "code": report.unit_code}
            ),
            styles["base"],
        ),
        Paragraph(
            escape(
                _("Year: %(year)d; revision %(revision)d; status: %(status)s")
                % {
                    "year": report.year,
                    "revision": report.revision,
                    "status": status_label(report.status),
                }
            ),
            styles["base"],
        ),
        Paragraph(
            escape(_("Method: %(method)s") % {"method": preset_name(report.preset)}),
            styles["base"],
        ),
        Paragraph(
            escape(_("Effective working time (WKE): %(wke)s") % {"wke": wke}),
            styles["base"],
        ),
    ]
    if report.computed_at is None:
        lines.append(
            Paragraph(
                escape(_("The results have not been computed yet.")), styles["base"]
            )
        )
    lines.append(Spacer(1, 3 * mm))
    return lines


def _table_style(header_rows: int = 1, *, total_row: bool = False) -> Any:
    from reportlab.lib import colors
    from reportlab.platypus import TableStyle

    commands: list[tuple[Any, ...]] = [
        ("FONT", (0, 0), (-1, -1), "Helvetica", 8),
        ("FONT", (0, 0), (-1, header_rows - 1), "Helvetica-Bold", 8),
        ("BACKGROUND", (0, 0), (-1, header_rows - 1), colors.HexColor("#DDEBF7")),
        ("GRID", (0, 0), (-1, -1), 0.4, colors.grey),
        ("VALIGN", (0, 0), (-1, -1), "TOP"),
        ("LEFTPADDING", (0, 0), (-1, -1), 3),
        ("RIGHTPADDING", (0, 0), (-1, -1), 3),
        ("TOPPADDING", (0, 0), (-1, -1), 1.5),
        ("BOTTOMPADDING", (0, 0), (-1, -1), 2),
    ]
    if total_row:
        commands.append(("FONT", (0, -1), (-1, -1), "Helvetica-Bold", 8))
    return TableStyle(commands)


def _wrapped(text: str, width: float) -> str:
    """Text broken into lines that fit `width` (plain table cells are much faster
    than paragraphs on long tables)."""
    from reportlab.lib.utils import simpleSplit

    return "\n".join(simpleSplit(text, "Helvetica", 8, width - 6)) or ""


def _position_section(
    report: Report,
    position: PositionLine,
    language: str,
    styles: dict[str, Any],
    width: float,
) -> list[Any]:
    from reportlab.platypus import KeepTogether, LongTable, Paragraph

    heading = Paragraph(
        escape(
            f"{position.number}. {position.title} ({position.code}) — "
            f"{position.unit_name}"
        ),
        styles["h2"],
    )
    fractions = (0.04, 0.38, 0.12, 0.13, 0.11, 0.10, 0.12)
    widths = [width * share for share in fractions]
    header = [
        _("No."),
        _wrapped(_("Duty"), widths[1]),
        _wrapped(_("Output unit"), widths[2]),
        _wrapped(_("Volume of work"), widths[3]),
        _wrapped(_("Standard time"), widths[4]),
        _wrapped(_("WKE (min)"), widths[5]),
        _wrapped(_("Required staff"), widths[6]),
    ]
    rows: list[list[str]] = [header]
    for entry in position.entries:
        rows.append(
            [
                str(entry.number),
                _wrapped(entry.duty, widths[1]),
                _wrapped(entry.output_unit, widths[2]),
                (
                    f"{figure(entry.volume, language)} {period_label(entry.period)}"
                    if entry.volume is not None
                    else "—"
                ),
                (
                    f"{figure(entry.standard_time, language)} "
                    f"{time_unit_label(entry.time_unit)}"
                    if entry.standard_time is not None
                    else "—"
                ),
                figure(entry.effective_minutes, language),
                figure(entry.required_staff, language, 3),
            ]
        )
    if not position.entries:
        rows.append(
            [
                "",
                _wrapped(
                    _("This position has no duties: add them to its job description."),
                    widths[1],
                ),
                "",
                "",
                "",
                "",
                "",
            ]
        )
    rows.append(
        [
            "",
            _("Total"),
            "",
            "",
            "",
            "",
            figure(position.required_staff, language, 3),
        ]
    )
    table = LongTable(rows, colWidths=widths, repeatRows=1)
    style = _table_style(total_row=True)
    style.add("ALIGN", (3, 1), (-1, -1), "RIGHT")
    style.add("SPAN", (1, -1), (5, -1))
    table.setStyle(style)
    facts = Paragraph(
        escape(
            _(
                "Current staff: %(current)s; required staff: %(required)s "
                "(%(exact)s); shortage (+) / surplus (-): %(shortage)s"
            )
            % {
                "current": figure(position.current_holders, language),
                "required": figure(position.required_count, language),
                "exact": figure(position.required_staff, language, 3),
                "shortage": signed(position.shortage, language),
            }
        ),
        styles["small"],
    )
    if len(rows) <= 12:
        return [KeepTogether([heading, table, facts])]
    return [heading, table, facts]


def _summary_tables(
    report: Report, language: str, styles: dict[str, Any], width: float
) -> list[Any]:
    from reportlab.platypus import LongTable

    fractions = (0.04, 0.10, 0.28, 0.07, 0.09, 0.08, 0.09, 0.06, 0.05, 0.06, 0.08)
    widths = [width * share for share in fractions]
    header = [
        _("No."),
        _("Code"),
        _("Position"),
        _wrapped(_("Current staff"), widths[3]),
        _wrapped(_("Required (exact)"), widths[4]),
        _wrapped(_("Required staff"), widths[5]),
        _wrapped(_("Shortage (+) / surplus (-)"), widths[6]),
        _("EJ"),
        _("PJ"),
        _("FTE"),
        _wrapped(_("FTE category"), widths[10]),
    ]
    body = [
        [
            str(position.number),
            _wrapped(position.code, widths[1]),
            _wrapped(position.title, widths[2]),
            figure(position.current_holders, language),
            figure(position.required_staff, language, 3),
            figure(position.required_count, language),
            signed(position.shortage, language),
            figure(position.effectiveness, language, 2),
            position.grade or "—",
            figure(position.fte, language, 2),
            category_label(position.fte_category) if position.fte_category else "—",
        ]
        for position in report.positions
    ]
    totals = report.totals
    total_row = [
        "",
        "",
        _("Total"),
        figure(totals.current_staff, language),
        figure(totals.required_staff, language, 3),
        figure(totals.required_count, language),
        signed(totals.shortage, language),
        "",
        "",
        "",
        "",
    ]
    chunks = [
        body[start : start + SUMMARY_CHUNK]
        for start in range(0, len(body), SUMMARY_CHUNK)
    ] or [[]]
    tables = []
    for index, chunk in enumerate(chunks):
        last = index == len(chunks) - 1
        rows = [header, *chunk, *([total_row] if last else [])]
        table = LongTable(rows, colWidths=widths, repeatRows=1)
        style = _table_style(total_row=last)
        style.add("ALIGN", (3, 1), (-1, -1), "RIGHT")
        style.add("ALIGN", (8, 1), (8, -1), "CENTER")
        table.setStyle(style)
        tables.append(table)
    return tables


def _signature_block(report: Report, styles: dict[str, Any], width: float) -> Any:
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, Spacer, Table, TableStyle

    signature = report.signature
    if not signature.approved:
        lines: list[Any] = [
            Paragraph(escape(_("Draft — not approved.")), styles["base"]),
        ]
    else:
        place = signature.place or "...................."
        lines = [
            Paragraph(
                escape(f"{place}, {local_day(signature.local_date)}"), styles["base"]
            ),
            Paragraph(escape(_("Approved by")), styles["base"]),
        ]
        if signature.on_behalf_of:
            lines.append(
                Paragraph(
                    escape(
                        _("on behalf of (a.n.) %(name)s")
                        % {"name": signature.on_behalf_of}
                    ),
                    styles["base"],
                )
            )
        lines.extend(
            [
                Paragraph(escape(signature.position), styles["base"]),
                Spacer(1, 16 * mm),
                Paragraph(f"<b>{escape(signature.name)}</b>", styles["base"]),
                Paragraph(
                    escape(
                        _(
                            "Approved in Rantai on %(time)s (audit event no. %(sequence)s)."
                        )
                        % {
                            "time": local_time(signature.approved_at, report.time_zone),
                            "sequence": signature.audit_sequence or "—",
                        }
                    ),
                    styles["small"],
                ),
            ]
        )
    block = Table([["", lines]], colWidths=[width * 0.6, width * 0.4])
    block.setStyle(TableStyle([("VALIGN", (0, 0), (-1, -1), "TOP")]))
    return block
