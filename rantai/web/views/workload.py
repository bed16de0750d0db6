"""Workload analysis pages (analisis beban kerja, ABK, and FTE) under
/o/<org-slug>/workload/.

* the list of analyses (filter by year, unit, status) and "open an analysis";
* an analysis: its header and method, the flow (collecting → sheets validated →
  computed → awaiting approval → approved) with who acts next, the position sheets
  with every figure and its formula (the method's traces), the analyst's actions,
  downloads and the import, and the charts;
* a position's sheet: the entries table, editable by its incumbents (and the
  analyst) while it is being filled in, the superior's return comments;
* the organisation's method (administrators);
* what changed against the previous revision, and one unit in two periods.

Reads go through `rantai.workload.queries`; every write calls one
`rantai.workload.services` function, which decides again. Figures come from
`rantai.workload.method` (pure): per-entry figures and every trace are derived on
read from the entries, the totals of a computed analysis are the stored ones. Numbers
are written the user's way (Indonesian 0,480 and 1.250) by
`rantai.workload.numbers`. Partners see nothing of workload (404).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db import transaction
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_GET, require_http_methods

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    Outcome,
    RequestStatus,
    SubjectKind,
)
from rantai.core.errors import Conflict, NotFound, ValidationFailed
from rantai.core.errors import PermissionDenied as DomainPermissionDenied
from rantai.org.models import Holding, Party, PartyKind, Position
from rantai.web import forms_workload as wl_forms
from rantai.web.access import (
    FORM_PAGE_TEMPLATE,
    apply_errors,
    form_page,
    handle_form,
    org_view,
    render_page,
)
from rantai.web.svg.workload import Band, BarLabels, BarRow, Series, render_bars
from rantai.workload import method as wl_method
from rantai.workload import queries, reports, services, spreadsheet
from rantai.workload.models import (
    Analysis,
    AnalysisStatus,
    Entry,
    Period,
    PositionSheet,
    SheetStatus,
    TimeUnit,
    WorkloadSettings,
)
from rantai.workload.numbers import format_decimal

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF_CONTENT_TYPE = "application/pdf"
# Exact figures on screen: four decimals (0,0480); the rounded ones are whole.
EXACT_PLACES = 4
IMPORT_ERRORS_SHOWN = 200


# --- shared helpers ------------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    """The caller's access; partners see nothing of workload (404)."""
    access: Access = request.access  # type: ignore[attr-defined]
    if not access.sees_whole_organisation:
        raise Http404
    return access


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _language() -> str:
    return get_language() or "en"


def _number(value: Decimal | int | None, places: int | None = None) -> str:
    if value is None:
        return ""
    return format_decimal(Decimal(value), places, _language())


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


def _today(access: Access) -> dt.date:
    zone = zoneinfo.ZoneInfo(access.organisation.time_zone)
    return timezone.now().astimezone(zone).date()


def _local_time(access: Access, moment: dt.datetime | None) -> str:
    if moment is None:
        return ""
    zone = zoneinfo.ZoneInfo(access.organisation.time_zone)
    return formats.date_format(moment.astimezone(zone), "j M Y H:i")


def _analysis(access: Access, pk: int) -> Analysis:
    try:
        return queries.analysis(access.organisation, pk, user=access.user)
    except NotFound as error:
        raise Http404 from error


def _method(analysis: Analysis) -> wl_method.Method:
    return wl_method.Method.from_json(analysis.method or {})


def _download(data: bytes, content_type: str, file_name: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _file_stem(analysis: Analysis) -> str:
    return f"abk-{analysis.unit.code}-{analysis.year}-r{analysis.revision}".lower()


# --- figures and their traces --------------------------------------------------------


def entry_input(entry: Entry) -> wl_method.EntryInput:
    return wl_method.EntryInput(
        volume=entry.volume,
        period=entry.volume_period,
        standard_time=entry.standard_time,
        time_unit=entry.time_unit,
    )


@dataclass
class Figures:
    """A position's figures as shown: the stored results of a computed analysis
    (or, before that, a preview from the entries as they stand), each with the
    formula that gave it."""

    required_staff: Decimal
    required_count: int
    current: int
    shortage: int
    effectiveness: Decimal | None
    grade: str
    fte: Decimal | None
    fte_category: str
    fte_count: int
    fte_per_holder: Decimal | None
    activity_minutes: Decimal
    traces: dict[str, str]
    entries: tuple[wl_method.EntryResult, ...]
    is_preview: bool

    @property
    def surplus(self) -> int:
        return -self.shortage if self.shortage < 0 else 0

    @property
    def category_label(self) -> str:
        if not self.fte_category:
            return ""
        return wl_method.FteCategory(self.fte_category).label


def figures(
    sheet: PositionSheet,
    entries: Sequence[Entry],
    *,
    method: wl_method.Method,
    available: Decimal,
    holders: int,
    acting: int,
) -> Figures:
    """The sheet's figures: stored when the analysis computed it, else a preview
    with the holders of today. Traces always come from the entries."""
    stored = sheet.required_staff is not None and sheet.analysis.computed_at
    if stored:
        holders, acting = sheet.current_holders, sheet.acting_holders
    result = wl_method.position_result(
        [entry_input(entry) for entry in entries],
        holders=holders,
        acting=acting,
        method=method,
        available_minutes=available,
        language=_language(),
    )
    if not stored:
        return Figures(
            required_staff=result.required_staff,
            required_count=result.required_count,
            current=result.current_holders,
            shortage=result.shortage,
            effectiveness=result.effectiveness,
            grade=result.grade,
            fte=result.fte,
            fte_category=result.fte_category,
            fte_count=result.fte_count,
            fte_per_holder=result.fte_per_holder,
            activity_minutes=result.activity_minutes,
            traces=result.traces,
            entries=result.entries,
            is_preview=True,
        )
    required_count = sheet.required_count or 0
    current = result.current_holders
    return Figures(
        required_staff=sheet.required_staff or Decimal(0),
        required_count=required_count,
        current=current,
        shortage=required_count - current,
        effectiveness=sheet.effectiveness,
        grade=sheet.grade,
        fte=sheet.fte,
        fte_category=sheet.fte_category,
        fte_count=sheet.fte_count or 0,
        fte_per_holder=(
            wl_method.load_per_holder(
                sheet.activity_minutes or Decimal(0),
                current,
                method=method,
                available=available,
            )
            if sheet.fte is not None
            else None
        ),
        activity_minutes=sheet.activity_minutes or Decimal(0),
        traces=result.traces,
        entries=result.entries,
        is_preview=False,
    )


@dataclass
class SheetView:
    """One row of the analysis page: the sheet with its holders and entry counts
    (`queries.SheetRow`), its figures and its validation request."""

    row: queries.SheetRow
    figures: Figures
    request: ApprovalRequest | None = None

    @property
    def sheet(self) -> PositionSheet:
        return self.row.sheet

    @property
    def position(self) -> Position:
        return self.row.sheet.position

    @property
    def holders(self) -> list[queries.HolderRow]:
        return self.row.holders

    @property
    def missing_duties(self) -> bool:
        return self.row.missing_duties

    @property
    def analyst_fills_in(self) -> bool:
        return self.row.analyst_fills_in

    @property
    def entry_count(self) -> int:
        return self.row.entries_total

    @property
    def filled_count(self) -> int:
        return self.row.entries_filled


def current_holders(access: Access, position_id: int) -> list[queries.HolderRow]:
    """The people holding the position today (acting marked, and whether each
    can fill in the sheet themselves), one query."""
    return queries.holders(access.organisation, position_id)


def latest_requests(
    access: Access, kind: str, subject_ids: Iterable[int]
) -> dict[int, ApprovalRequest]:
    """The latest approval request of each subject of this kind, one query."""
    ids = list(subject_ids)
    if not ids:
        return {}
    found: dict[int, ApprovalRequest] = {}
    for request in ApprovalRequest.objects.filter(
        organisation=access.organisation, subject_kind=kind, subject_id__in=ids
    ).order_by("submitted_at", "id"):
        found[request.subject_id] = request
    return found


def sheet_views(
    access: Access, analysis: Analysis, method: wl_method.Method
) -> list[SheetView]:
    """Every sheet of the analysis with its holders, entries, figures and
    validation request: four queries whatever the number of positions."""
    rows = queries.sheets(analysis)
    by_sheet: dict[int, list[Entry]] = defaultdict(list)
    for entry in Entry.objects.filter(sheet__analysis=analysis).order_by(
        "sort_order", "id"
    ):
        by_sheet[entry.sheet_id].append(entry)
    requests = latest_requests(
        access, SubjectKind.WORKLOAD_SHEET, (row.sheet.pk for row in rows)
    )
    available = wl_method.available_minutes(
        analysis.working_days, analysis.minutes_per_day
    )
    views = []
    for row in rows:
        sheet = row.sheet
        sheet.analysis = analysis
        views.append(
            SheetView(
                row=row,
                figures=figures(
                    sheet,
                    by_sheet[sheet.pk],
                    method=method,
                    available=available,
                    holders=sum(1 for h in row.holders if not h.acting),
                    acting=sum(1 for h in row.holders if h.acting),
                ),
                request=requests.get(sheet.pk),
            )
        )
    return views


# --- the flow ------------------------------------------------------------------------

DONE, CURRENT, TODO = "done", "current", "todo"


@dataclass
class FlowStep:
    key: str
    label: str
    state: str
    detail: str = ""
    next_actor: str = ""


def flow(
    analysis: Analysis,
    rows: Sequence[SheetView],
    *,
    approver: str = "",
    computed_at: str = "",
) -> list[FlowStep]:
    """Where the analysis stands, step by step, and who acts next
    (`computed_at`: when the figures were last computed, written locally)."""
    total = len(rows)
    submitted = sum(
        1
        for row in rows
        if row.sheet.status in (SheetStatus.SUBMITTED, SheetStatus.VALIDATED)
    )
    validated = sum(1 for row in rows if row.sheet.status == SheetStatus.VALIDATED)
    filling = total - submitted
    waiting = submitted - validated
    status = analysis.status
    cancelled = status == AnalysisStatus.CANCELLED
    beyond = status in (AnalysisStatus.IN_REVIEW, AnalysisStatus.APPROVED)
    analyst = analysis.analyst.full_name

    def state(done: bool, current: bool) -> str:
        if done:
            return DONE
        return CURRENT if current and not cancelled else TODO

    steps = [
        FlowStep(
            "collecting",
            _("Entries filled in"),
            state(beyond or filling == 0, filling > 0),
            _("%(done)s of %(total)s sheets submitted")
            % {"done": _number(submitted), "total": _number(total)},
            ngettext(
                "the holders of %(count)s position fill in their entries",
                "the holders of %(count)s positions fill in their entries",
                filling,
            )
            % {"count": _number(filling)}
            if filling and not beyond
            else "",
        ),
        FlowStep(
            "validated",
            _("Sheets validated"),
            state(
                beyond or (total > 0 and validated == total),
                filling == 0 and waiting > 0,
            ),
            _("%(done)s of %(total)s sheets validated")
            % {"done": _number(validated), "total": _number(total)},
            ngettext(
                "the superior validates %(count)s sheet",
                "the superiors validate %(count)s sheets",
                waiting,
            )
            % {"count": _number(waiting)}
            if waiting and not beyond
            else "",
        ),
    ]
    all_valid = total > 0 and validated == total
    computed = analysis.computed_at is not None
    steps.append(
        FlowStep(
            "computed",
            _("Computed"),
            state(beyond or (computed and all_valid), all_valid and not beyond),
            _("last computed %(when)s") % {"when": computed_at} if computed_at else "",
            (
                _("%(name)s submits it for approval") % {"name": analyst}
                if computed
                else _("%(name)s computes the figures") % {"name": analyst}
            )
            if all_valid and not beyond
            else "",
        )
    )
    steps.append(
        FlowStep(
            "in_review",
            _("Awaiting approval"),
            state(
                status == AnalysisStatus.APPROVED, status == AnalysisStatus.IN_REVIEW
            ),
            "",
            approver if status == AnalysisStatus.IN_REVIEW else "",
        )
    )
    steps.append(
        FlowStep(
            "approved",
            _("Approved"),
            DONE if status == AnalysisStatus.APPROVED else TODO,
            "",
            "",
        )
    )
    return steps


# --- the list of analyses ------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def analysis_list(request: HttpRequest) -> HttpResponse:
    """Analyses, newest year first, filtered by year, unit and status."""
    access = _access(request)
    everything = queries.analyses(access.organisation, user=access.user)
    years = sorted(
        set(everything.values_list("year", flat=True).distinct()), reverse=True
    )
    units = list(
        Party.objects.filter(
            organisation=access.organisation,
            kind=PartyKind.INTERNAL_UNIT,
            workload_analyses__isnull=False,
        )
        .distinct()
        .order_by("name")
    )
    year = _positive_int(request.GET.get("year"))
    unit_id = _positive_int(request.GET.get("unit"))
    unit = next((u for u in units if u.pk == unit_id), None)
    status = request.GET.get("status", "")
    status = status if status in AnalysisStatus.values else ""
    qs = everything.select_related("unit", "analyst")
    if year:
        qs = qs.filter(year=year)
    if unit is not None:
        qs = qs.filter(unit=unit)
    if status:
        qs = qs.filter(status=status)
    analyses = list(qs.order_by("-year", "unit__name", "-revision")[:200])
    return render_page(
        request,
        "web/workload/list.html",
        partial="list-results",
        nav="workload",
        analyses=analyses,
        years=years,
        units=units,
        statuses=AnalysisStatus.choices,
        year_filter=year,
        unit_filter=unit,
        status_filter=status,
        may_open=access.role in (Role.ADMIN, Role.MEMBER),
        may_configure=access.is_admin,
    )


def _own_positions(access: Access) -> Any:
    return (
        Position.objects.filter(
            organisation=access.organisation,
            is_active=True,
            holdings__in=Holding.objects.current(_today(access)).filter(
                person__user=access.user, person__is_active=True
            ),
        )
        .select_related("party")
        .distinct()
        .order_by("title", "code")
    )


@org_view
@require_http_methods(["GET", "POST"])
def analysis_open(request: HttpRequest) -> HttpResponse:
    """Open an analysis of a unit for a year (the caller becomes its analyst)."""
    access = _access(request)
    if access.role not in (Role.ADMIN, Role.MEMBER):
        raise DjangoPermissionDenied
    positions = _own_positions(access)
    form = wl_forms.OpenAnalysisForm(
        request.POST or None,
        organisation=access.organisation,
        positions=positions,
        year=_today(access).year,
    )

    def save(data: dict[str, Any]) -> str:
        try:
            analysis = services.open_analysis(
                data["unit"],
                actor=access.user,
                year=data["year"],
                analyst_position=data.get("analyst_position"),
            )
        except DomainPermissionDenied as error:
            # e.g. a login not linked to a person: say so on the form
            raise ValidationFailed(error.message) from error
        return _url("workload-analysis", access, analysis.pk)

    return form_page(
        request,
        form,
        title=_("Open an analysis"),
        submit=_("Open the analysis"),
        cancel_url=_url("workload-list", access),
        save=save,
        success=_(
            "The analysis was opened; the holders of its positions were asked to "
            "fill in their entries."
        ),
        intro=_(
            "You become its analyst: the holders of each position fill in the volume "
            "of work and standard time of their duties, their superiors validate "
            "them, you compute the figures and submit the analysis for approval."
        ),
        nav="workload",
    )


# --- an analysis ---------------------------------------------------------------------


@dataclass
class Rights:
    """What the caller may do on the analysis page."""

    analyse: bool = False
    compute: bool = False
    submit: bool = False
    withdraw: bool = False
    cancel: bool = False
    revise: bool = False
    import_entries: bool = False
    template: bool = False

    @property
    def any(self) -> bool:
        return any(dataclasses.astuple(self))


def rights(access: Access, analysis: Analysis) -> Rights:
    analyse = queries.may_analyse(analysis, access.user)
    collecting = analysis.status == AnalysisStatus.COLLECTING
    return Rights(
        analyse=analyse,
        compute=analyse and collecting,
        submit=analyse and collecting,
        withdraw=analyse and analysis.status == AnalysisStatus.IN_REVIEW,
        cancel=analyse and collecting,
        revise=analyse and analysis.status == AnalysisStatus.APPROVED,
        import_entries=analyse and collecting,
        template=collecting and access.role in (Role.ADMIN, Role.MEMBER),
    )


def _method_summary(method: wl_method.Method) -> dict[str, Any]:
    preset = (
        wl_method.Preset(method.preset).label
        if method.preset in wl_method.Preset._value2member_map_
        else method.preset
    )
    return {
        "preset": preset,
        "effective": [
            (_("day"), method.effective.day),
            (_("week"), method.effective.week),
            (_("month"), method.effective.month),
            (_("year"), method.effective.year),
        ],
        "rounding": wl_method.Rounding(method.rounding).label,
        "convention": wl_method.FteConvention(method.fte_convention).label,
        "method": method,
    }


def _charts(
    access: Access, analysis: Analysis, rows: Sequence[SheetView], method: Any
) -> dict[str, str]:
    if not rows:
        return {}
    none = _("n/a")

    def link(row: SheetView) -> str:
        return _url("workload-sheet", access, analysis.pk, row.sheet.pk)

    staff_rows = [
        BarRow(
            id=row.sheet.pk,
            label=row.position.title,
            sublabel=row.position.party.name,
            values=(row.figures.required_staff, Decimal(row.figures.current)),
            texts=(
                f"{_number(row.figures.required_staff, EXACT_PLACES)} → "
                f"{row.figures.required_count}",
                str(row.figures.current),
            ),
            tooltip=_("Required staff: %(trace)s")
            % {"trace": row.figures.traces.get("required_staff", "")},
            href=link(row),
        )
        for row in rows
    ]
    staff = render_bars(
        staff_rows,
        series=[
            Series("required", _("Required staff (exact → rounded)")),
            Series("current", _("Current staff"), "muted"),
        ],
        labels=BarLabels(
            description=_(
                "Required staff against current staff for each position of the unit."
            ),
            axis=_("people"),
        ),
        number=lambda value: _number(value),
        id_prefix=f"workload-{analysis.pk}-staff",
    )
    fte_rows = [
        BarRow(
            id=row.sheet.pk,
            label=row.position.title,
            sublabel=row.figures.category_label or _("no holder"),
            values=(row.figures.fte_per_holder,),
            texts=(
                _number(row.figures.fte_per_holder, 2)
                if row.figures.fte_per_holder is not None
                else none,
            ),
            tooltip=row.figures.traces.get("fte_category", ""),
            href=link(row),
        )
        for row in rows
    ]
    fte = render_bars(
        fte_rows,
        series=[Series("fte", "FTE")],
        labels=BarLabels(
            description=_(
                "One holder's load (the position's FTE shared by its holders) of "
                "each position over the categories: underload, normal and overload."
            ),
            axis="FTE",
        ),
        number=lambda value: _number(value),
        bands=fte_bands(method),
        # Room right of the overload limit, so the overload band shows and reads.
        minimum_end=method.fte_overload_above * Decimal("1.35"),
        id_prefix=f"workload-{analysis.pk}-fte",
    )
    return {"staff": staff, "fte": fte}


def fte_bands(method: wl_method.Method) -> list[Band]:
    return [
        Band(
            "underload",
            wl_method.FteCategory.UNDERLOAD.label,
            Decimal(0),
            method.fte_underload_below,
        ),
        Band(
            "normal",
            wl_method.FteCategory.NORMAL.label,
            method.fte_underload_below,
            method.fte_overload_above,
        ),
        Band(
            "overload",
            wl_method.FteCategory.OVERLOAD.label,
            method.fte_overload_above,
            None,
        ),
    ]


def _approver_text(request: ApprovalRequest | None) -> str:
    if request is None or request.status != RequestStatus.OPEN:
        return ""
    return _("the approvers of stage %(order)s decide") % {
        "order": request.current_stage
    }


def _total_traces(rows: Sequence[SheetView], totals: dict[str, Any]) -> dict[str, str]:
    """The unit's totals as sums of the positions' figures."""

    def total(parts: list[str], result: str) -> str:
        return f"{' + '.join(parts)} = {result}" if len(parts) > 1 else result

    return {
        "trace_required_staff": total(
            [_number(r.figures.required_staff, EXACT_PLACES) for r in rows],
            _number(totals["required_staff"], EXACT_PLACES),
        ),
        "trace_required_count": total(
            [str(r.figures.required_count) for r in rows],
            str(totals["required_count"]),
        ),
        "trace_current": total(
            [str(r.figures.current) for r in rows], str(totals["current"])
        ),
    }


@org_view
@require_http_methods(["GET", "HEAD"])
def analysis_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """The analysis: header and method, the flow, the sheets with their figures
    and formulas, the actions, downloads and charts."""
    access = _access(request)
    analysis = _analysis(access, pk)
    method = _method(analysis)
    rows = sheet_views(access, analysis, method)
    approval = latest_requests(
        access, SubjectKind.WORKLOAD_ANALYSIS, [analysis.pk]
    ).get(analysis.pk)
    required_count = sum(r.figures.required_count for r in rows)
    current = sum(r.figures.current for r in rows)
    totals: dict[str, Any] = {
        "required_staff": sum((r.figures.required_staff for r in rows), Decimal(0)),
        "required_count": required_count,
        "current": current,
        "shortage": required_count - current,
        "surplus": max(current - required_count, 0),
    }
    totals.update(_total_traces(rows, totals))
    available = wl_method.available_minutes(
        analysis.working_days, analysis.minutes_per_day
    )
    return render_page(
        request,
        "web/workload/analysis.html",
        nav="workload",
        analysis=analysis,
        method=_method_summary(method),
        available=available,
        rows=rows,
        totals=totals,
        is_preview=any(row.figures.is_preview for row in rows),
        steps=flow(
            analysis,
            rows,
            approver=_approver_text(approval),
            computed_at=_local_time(access, analysis.computed_at),
        ),
        approval=approval,
        rights=rights(access, analysis),
        charts=_charts(access, analysis, rows, method),
        import_form=wl_forms.ImportForm(),
        cancel_form=wl_forms.CancelAnalysisForm(initial={"version": analysis.version}),
    )


def _versioned(
    action: Callable[..., object],
) -> Callable[[Access, Any, dict[str, Any]], object]:
    """The `act` of an action page whose service takes the form's version:
    `action(subject, actor=, expected_version=)`."""
    return lambda access, subject, data: action(
        subject, actor=access.user, expected_version=data["version"]
    )


def _analysis_action(
    request: HttpRequest,
    pk: int,
    *,
    allowed: Callable[[Rights], bool],
    act: Callable[[Access, Analysis, dict[str, Any]], Any],
    title: str,
    submit: str,
    success: str,
    intro: str = "",
    danger: bool = False,
    form_class: type[wl_forms.VersionedForm] = wl_forms.AnalysisActionForm,
    to: Callable[[Access, Analysis, Any], str] | None = None,
) -> HttpResponse:
    """GET: a page that confirms the action (the page's buttons post directly);
    POST: one service call. A stale version answers 409, a refusal shows on the
    form; nothing is written in either case."""
    access = _access(request)
    analysis = _analysis(access, pk)
    if not allowed(rights(access, analysis)):
        raise DjangoPermissionDenied
    form = form_class(request.POST or None, initial={"version": analysis.version})
    back = _url("workload-analysis", access, analysis.pk)

    def save(data: dict[str, Any]) -> str:
        result = act(access, analysis, data)
        return to(access, analysis, result) if to is not None else back

    values = {"unit": analysis.unit.name, "year": analysis.year}
    return form_page(
        request,
        form,
        title=title % values,
        submit=submit,
        cancel_url=back,
        save=save,
        success=success % values,
        intro=intro,
        danger=danger,
        nav="workload",
    )


@org_view
@require_http_methods(["GET", "POST"])
def analysis_compute(request: HttpRequest, pk: int) -> HttpResponse:
    return _analysis_action(
        request,
        pk,
        allowed=lambda r: r.compute,
        act=lambda access, analysis, data: services.compute(
            analysis, actor=access.user
        ),
        title=_("Compute the analysis of %(unit)s, %(year)s"),
        submit=_("Compute"),
        success=_("The figures were computed from the entries as they stand."),
        intro=_(
            "Computes the required staff, job effectiveness and FTE of every "
            "position from its entries and stores them. You can compute again "
            "while entries change."
        ),
    )


@org_view
@require_http_methods(["GET", "POST"])
def analysis_submit(request: HttpRequest, pk: int) -> HttpResponse:
    return _analysis_action(
        request,
        pk,
        allowed=lambda r: r.submit,
        act=_versioned(services.submit_analysis),
        title=_("Submit the analysis of %(unit)s, %(year)s for approval"),
        submit=_("Submit for approval"),
        success=_("The analysis was computed and submitted for approval."),
        intro=_(
            "Every sheet must be validated. The figures are computed once more, "
            "then your superior is asked to approve the analysis."
        ),
    )


@org_view
@require_http_methods(["GET", "POST"])
def analysis_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    return _analysis_action(
        request,
        pk,
        allowed=lambda r: r.withdraw,
        act=_versioned(services.withdraw_analysis),
        title=_("Withdraw the analysis of %(unit)s, %(year)s"),
        submit=_("Withdraw"),
        success=_(
            "The analysis was withdrawn from approval; it collects entries again."
        ),
        intro=_("The approval request ends; you can change and submit it again."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def analysis_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _analysis_action(
        request,
        pk,
        allowed=lambda r: r.cancel,
        act=lambda access, analysis, data: services.cancel_analysis(
            analysis,
            actor=access.user,
            expected_version=data["version"],
            reason=data["reason"],
        ),
        title=_("Cancel the analysis of %(unit)s, %(year)s"),
        submit=_("Cancel the analysis"),
        success=_("The analysis was cancelled."),
        intro=_(
            "A cancelled analysis stays visible with its entries but can no longer "
            "change. The unit can then get a new analysis for the year."
        ),
        danger=True,
        form_class=wl_forms.CancelAnalysisForm,
    )


@org_view
@require_http_methods(["GET", "POST"])
def analysis_revise(request: HttpRequest, pk: int) -> HttpResponse:
    return _analysis_action(
        request,
        pk,
        allowed=lambda r: r.revise,
        act=lambda access, analysis, data: services.start_revision(
            analysis, actor=access.user
        ),
        title=_("Start a new revision of the analysis of %(unit)s, %(year)s"),
        submit=_("Start a new revision"),
        success=_("A new revision was opened with the entries of the approved one."),
        intro=_(
            "The approved analysis stays as it is. The new revision copies its "
            "sheets and entries; the holders change what has to change and the "
            "sheets go through validation and approval again."
        ),
        to=lambda access, analysis, result: _url(
            "workload-analysis", access, result.pk
        ),
    )


# --- downloads and the import ----------------------------------------------------------


@org_view
@require_GET
def analysis_template(request: HttpRequest, pk: int) -> HttpResponse:
    """The Excel template of the analysis, pre-filled with its entries."""
    access = _access(request)
    analysis = _analysis(access, pk)
    if not rights(access, analysis).template:
        raise DjangoPermissionDenied
    return _download(
        spreadsheet.template(analysis, language=_language()),
        XLSX_CONTENT_TYPE,
        f"{_file_stem(analysis)}-template.xlsx",
    )


@org_view
@require_GET
def analysis_export(request: HttpRequest, pk: int) -> HttpResponse:
    """The entries and results as an Excel workbook."""
    access = _access(request)
    analysis = _analysis(access, pk)
    return _download(
        spreadsheet.export(analysis, language=_language()),
        XLSX_CONTENT_TYPE,
        f"{_file_stem(analysis)}.xlsx",
    )


@org_view
@require_GET
def analysis_pdf(request: HttpRequest, pk: int) -> HttpResponse:
    """The report in the government layout, as a PDF."""
    access = _access(request)
    analysis = _analysis(access, pk)
    return _download(
        reports.pdf(reports.build(analysis), language=_language()),
        PDF_CONTENT_TYPE,
        f"{_file_stem(analysis)}.pdf",
    )


@org_view
@require_http_methods(["GET", "POST"])
def analysis_import(request: HttpRequest, pk: int) -> HttpResponse:
    """Upload the filled-in template: every row checked, all or nothing; the
    problems are listed by row."""
    access = _access(request)
    analysis = _analysis(access, pk)
    if not rights(access, analysis).import_entries:
        raise DjangoPermissionDenied
    form = wl_forms.ImportForm(request.POST or None, request.FILES or None)
    problems: list[str] = []
    summary = ""
    status = 200
    if request.method == "POST":
        if form.is_valid():
            upload = form.cleaned_data["file"]
            try:
                count = spreadsheet.import_entries(
                    analysis,
                    upload.read(),
                    actor=access.user,
                    language=_language(),
                )
            except Conflict as error:
                form.add_error(None, error.message)
                status = 409
            except ValidationFailed as error:
                summary = error.message
                problems = error.errors.get("file", [])
                others = {k: v for k, v in error.errors.items() if k != "file"}
                if others:
                    apply_errors(form, ValidationFailed(others))
                if not problems and not others:
                    form.add_error(None, error.message)
                status = 422
            else:
                messages.success(
                    request,
                    ngettext(
                        "%(count)s entry was imported.",
                        "%(count)s entries were imported.",
                        count,
                    )
                    % {"count": _number(count)},
                )
                return redirect(_url("workload-analysis", access, analysis.pk))
        else:
            status = 422
    return render_page(
        request,
        "web/workload/import.html",
        status=status,
        nav="workload",
        analysis=analysis,
        form=form,
        summary=summary,
        problems=problems[:IMPORT_ERRORS_SHOWN],
        hidden_problems=max(0, len(problems) - IMPORT_ERRORS_SHOWN),
    )


# --- a position's sheet --------------------------------------------------------------


@dataclass
class EntryRow:
    entry: Entry
    result: wl_method.EntryResult
    fields: dict[str, Any] = field(default_factory=dict)


def _returns(access: Access, request: ApprovalRequest | None) -> list[Decision]:
    """The superiors' comments on the sheet's validation: returns and rejections,
    newest first."""
    if request is None:
        return []
    return list(
        Decision.objects.filter(
            request=request,
            outcome__in=(Outcome.RETURN, Outcome.REJECT),
        )
        .select_related("decided_by_person")
        .order_by("-decided_at", "-id")
    )


def _sheet(access: Access, analysis: Analysis, sheet_pk: int) -> PositionSheet:
    try:
        sheet = queries.sheet(analysis, sheet_pk, user=access.user)
    except NotFound as error:
        raise Http404 from error
    sheet.analysis = analysis
    return sheet


@org_view
@require_http_methods(["GET", "POST"])
def sheet_detail(request: HttpRequest, pk: int, sheet_pk: int) -> HttpResponse:
    """A position's entries: editable by its incumbents (and the analyst) while
    being filled in, read-only otherwise. A save writes every changed entry or
    none; a stale one answers 409."""
    access = _access(request)
    analysis = _analysis(access, pk)
    sheet = _sheet(access, analysis, sheet_pk)
    method = _method(analysis)
    entries = list(queries.entries(sheet))
    editable = queries.may_edit_sheet(sheet, access.user)
    if request.method == "POST" and not editable:
        raise DjangoPermissionDenied
    form = wl_forms.SheetForm(request.POST or None, entries=entries)
    status = 200
    if request.method == "POST":
        if form.is_valid():
            try:
                saved = _save_entries(access, form)
            except Conflict:
                form.add_error(
                    None,
                    _(
                        "Someone changed these entries since you opened the page. "
                        "Nothing was saved: reload the page to see their changes, "
                        "then enter yours again."
                    ),
                )
                status = 409
            except _Refused:
                status = 422
            else:
                if saved:
                    messages.success(
                        request,
                        ngettext(
                            "%(count)s entry was saved.",
                            "%(count)s entries were saved.",
                            saved,
                        )
                        % {"count": _number(saved)},
                    )
                else:
                    messages.info(request, _("Nothing changed."))
                return redirect(_url("workload-sheet", access, analysis.pk, sheet.pk))
        else:
            status = 422
    return _sheet_page(
        request, access, analysis, sheet, entries, method, form, editable, status
    )


class _Refused(Exception):
    """A row was refused: the form carries the messages; roll everything back."""


def _row_fields(entry_id: int) -> Callable[[str], str | None]:
    """Where a service error about an entry goes: that row's field."""

    def where(name: str) -> str | None:
        return wl_forms.entry_field(
            "period" if name == "volume_period" else name, entry_id
        )

    return where


def _save_entries(access: Access, form: wl_forms.SheetForm) -> int:
    """Every changed entry through `services.set_entry`, in one transaction: all or
    nothing. Each row's refusals land on that row's fields."""
    changes = form.changes()
    refused = False
    with transaction.atomic():
        for entry, values in changes:
            try:
                with transaction.atomic():
                    services.set_entry(entry, actor=access.user, **values)
            except ValidationFailed as error:
                refused = True
                apply_errors(form, error, _row_fields(entry.pk))
        if refused:
            transaction.set_rollback(True)
    if refused:
        raise _Refused
    return len(changes)


def _sheet_page(
    request: HttpRequest,
    access: Access,
    analysis: Analysis,
    sheet: PositionSheet,
    entries: list[Entry],
    method: wl_method.Method,
    form: wl_forms.SheetForm,
    editable: bool,
    status: int,
) -> HttpResponse:
    holders = current_holders(access, sheet.position_id)
    available = wl_method.available_minutes(
        analysis.working_days, analysis.minutes_per_day
    )
    result = figures(
        sheet,
        entries,
        method=method,
        available=available,
        holders=sum(1 for h in holders if not h.acting),
        acting=sum(1 for h in holders if h.acting),
    )
    rows = [
        EntryRow(entry, entry_result, form.row(entry) if editable else {})
        for entry, entry_result in zip(entries, result.entries, strict=True)
    ]
    validation = latest_requests(access, SubjectKind.WORKLOAD_SHEET, [sheet.pk]).get(
        sheet.pk
    )
    may_withdraw = (
        sheet.status == SheetStatus.SUBMITTED
        and analysis.status == AnalysisStatus.COLLECTING
        and queries.may_fill_in(sheet, access.user)
    )
    # Cheap (one query): only for whoever may take the duties again.
    duty_changes = queries.duty_changes(sheet, entries) if editable else None
    return render_page(
        request,
        "web/workload/sheet.html",
        status=status,
        nav="workload",
        analysis=analysis,
        sheet=sheet,
        holders=holders,
        rows=rows,
        figures=result,
        form=form,
        editable=editable,
        may_submit=editable and bool(entries),
        may_withdraw=may_withdraw,
        duty_changes=duty_changes,
        may_refresh=duty_changes is not None and duty_changes.changes_anything,
        on_behalf_of=(
            ", ".join(holder.name for holder in holders)
            if holders and not any(holder.fills_in for holder in holders)
            else ""
        ),
        validation=validation,
        returns=_returns(access, validation),
        filled=sum(1 for entry in entries if entry.is_filled),
    )


def _sheet_action(
    request: HttpRequest,
    pk: int,
    sheet_pk: int,
    *,
    allowed: Callable[[Access, Analysis, PositionSheet], bool],
    act: Callable[[Access, PositionSheet, dict[str, Any]], Any],
    title: str,
    submit: str,
    success: str,
    intro: str,
) -> HttpResponse:
    access = _access(request)
    analysis = _analysis(access, pk)
    sheet = _sheet(access, analysis, sheet_pk)
    if not allowed(access, analysis, sheet):
        raise DjangoPermissionDenied
    form = wl_forms.SheetActionForm(
        request.POST or None, initial={"version": sheet.version}
    )
    back = _url("workload-sheet", access, analysis.pk, sheet.pk)

    def save(data: dict[str, Any]) -> str:
        act(access, sheet, data)
        return back

    values = {"position": sheet.position.title}
    return form_page(
        request,
        form,
        title=title % values,
        submit=submit,
        cancel_url=back,
        save=save,
        success=success % values,
        intro=intro,
        nav="workload",
    )


@org_view
@require_http_methods(["GET", "POST"])
def sheet_submit(request: HttpRequest, pk: int, sheet_pk: int) -> HttpResponse:
    return _sheet_action(
        request,
        pk,
        sheet_pk,
        allowed=lambda access, analysis, sheet: queries.may_edit_sheet(
            sheet, access.user
        ),
        act=_versioned(services.submit_sheet),
        title=_("Submit the entries of %(position)s for validation"),
        submit=_("Submit for validation"),
        success=_("The entries of %(position)s were submitted for validation."),
        intro=_(
            "Every duty needs its volume of work and standard time. The superior "
            "of the position validates them or returns them with a comment."
        ),
    )


@org_view
@require_http_methods(["GET", "POST"])
def sheet_withdraw(request: HttpRequest, pk: int, sheet_pk: int) -> HttpResponse:
    return _sheet_action(
        request,
        pk,
        sheet_pk,
        allowed=lambda access, analysis, sheet: (
            sheet.status == SheetStatus.SUBMITTED
            and analysis.status == AnalysisStatus.COLLECTING
            and queries.may_fill_in(sheet, access.user)
        ),
        act=_versioned(services.withdraw_sheet),
        title=_("Withdraw the entries of %(position)s"),
        submit=_("Withdraw"),
        success=_("The entries of %(position)s were withdrawn; you can change them."),
        intro=_("The validation request ends; change the entries and submit again."),
    )


def duties_message(changes: services.DutyChanges) -> str:
    """What taking the duties again did, in a sentence."""
    if not changes.changes_anything:
        return _("The sheet already has the duties of the job description.")
    parts = []
    if changes.added:
        count = len(changes.added)
        parts.append(
            ngettext("%(count)s duty added", "%(count)s duties added", count)
            % {"count": _number(count)}
        )
    if changes.removed:
        count = len(changes.removed)
        parts.append(
            ngettext("%(count)s duty removed", "%(count)s duties removed", count)
            % {"count": _number(count)}
        )
    if changes.updated:
        count = len(changes.updated)
        parts.append(
            ngettext("%(count)s duty renamed", "%(count)s duties renamed", count)
            % {"count": _number(count)}
        )
    if not parts:
        parts.append(_("the duties follow the job description's order"))
    return _("The duties were taken from the job description again: %(changes)s.") % {
        "changes": "; ".join(parts)
    }


@org_view
@require_http_methods(["GET", "POST"])
def sheet_refresh_duties(request: HttpRequest, pk: int, sheet_pk: int) -> HttpResponse:
    """Take the duties from the position's job description again (whoever fills
    in the sheet, while it can be filled in): new duties get an entry, empty
    entries of retired duties go, unfilled entries take the new titles."""
    access = _access(request)
    analysis = _analysis(access, pk)
    sheet = _sheet(access, analysis, sheet_pk)
    if not queries.may_edit_sheet(sheet, access.user):
        raise DjangoPermissionDenied
    form = wl_forms.SheetActionForm(
        request.POST or None, initial={"version": sheet.version}
    )
    back = _url("workload-sheet", access, analysis.pk, sheet.pk)
    status = 200
    if request.method == "POST" and form.is_valid():
        try:
            changes = services.refresh_duties(
                sheet, actor=access.user, expected_version=form.cleaned_data["version"]
            )
        except Conflict as error:
            form.add_error(None, error.message)
            status = 409
        except ValidationFailed as error:
            apply_errors(form, error)
            status = 422
        else:
            if changes.changes_anything:
                messages.success(request, duties_message(changes))
            else:
                messages.info(request, duties_message(changes))
            if changes.kept:
                messages.warning(
                    request,
                    _(
                        "No longer in the job description, but filled in, so kept "
                        "(and counted): %(duties)s. Clear their figures if the work "
                        "is no longer done, then take the duties again."
                    )
                    % {"duties": "; ".join(changes.kept)},
                )
            return redirect(back)
    return render_page(
        request,
        FORM_PAGE_TEMPLATE,
        status=status,
        form=form,
        title=_("Take the duties of %(position)s from the job description again")
        % {"position": sheet.position.title},
        submit=_("Take the duties from the job description again"),
        cancel_url=back,
        intro=_(
            "Duties added to the job description get an entry; entries of duties no "
            "longer in it are removed when they are empty (an entry with figures "
            "stays until you clear them); entries not completely filled in take the "
            "duty's new title and output unit. Figures already entered stay."
        ),
        danger=False,
        nav="workload",
    )


# --- the organisation's method ---------------------------------------------------------


def _settings_initial(method: wl_method.Method, version: int | None) -> dict[str, Any]:
    custom = method.custom or wl_method.CustomDerivation()
    preset_method = (
        wl_method.Method.from_preset(method.preset, custom=method.custom)
        if method.preset in wl_method.Preset._value2member_map_
        else method
    )
    initial: dict[str, Any] = {
        "version": version,
        "preset": method.preset,
        "use_preset_time": method.effective == preset_method.effective,
        "effective_day": method.effective.day,
        "effective_week": method.effective.week,
        "effective_month": method.effective.month,
        "effective_year": method.effective.year,
        "working_days_per_week": custom.working_days_per_week,
        "weeks_per_year": custom.weeks_per_year,
        "public_holidays": custom.public_holidays,
        "leave_days": custom.leave_days,
        "hours_per_day": custom.hours_per_day,
        "allowance_percent": custom.allowance_percent,
        "rounding": method.rounding,
        "acting_holders_count": method.acting_holders_count,
        "fte_allowance_percent": method.fte_allowance_percent,
        "fte_convention": method.fte_convention,
        "fte_underload_below": method.fte_underload_below,
        "fte_overload_above": method.fte_overload_above,
    }
    for band in method.grades:
        if band.lower is not None:
            initial[f"grade-{band.grade}-lower"] = band.lower
            initial[f"grade-{band.grade}-inclusive"] = band.lower_inclusive
    return {
        key: wl_forms.written(value) if isinstance(value, Decimal) else value
        for key, value in initial.items()
    }


def method_from_form(
    data: dict[str, Any], *, grades: Sequence[str]
) -> wl_method.Method:
    """The method the settings form describes (validated by the service)."""
    custom = wl_method.CustomDerivation(
        working_days_per_week=data["working_days_per_week"],
        weeks_per_year=data["weeks_per_year"],
        public_holidays=data["public_holidays"],
        leave_days=data["leave_days"],
        hours_per_day=data["hours_per_day"],
        allowance_percent=data["allowance_percent"],
    )
    preset = data["preset"]
    base = wl_method.Method.from_preset(
        preset, custom=custom if preset == wl_method.Preset.CUSTOM else None
    )
    effective = base.effective
    if preset != wl_method.Preset.CUSTOM and not data.get("use_preset_time"):
        missing = {
            f"effective_{period}": [_("Enter the minutes, or use the method's.")]
            for period in wl_method.PERIODS
            if data.get(f"effective_{period}") is None
        }
        if missing:
            raise ValidationFailed(missing)
        effective = wl_method.EffectiveTime(
            day=data["effective_day"],
            week=data["effective_week"],
            month=data["effective_month"],
            year=data["effective_year"],
        )
    bands = tuple(
        wl_method.GradeBand(
            grade,
            data.get(f"grade-{grade}-lower") if index < len(grades) - 1 else None,
            bool(data.get(f"grade-{grade}-inclusive"))
            if index < len(grades) - 1
            else False,
        )
        for index, grade in enumerate(grades)
    )
    return dataclasses.replace(
        base,
        effective=effective,
        rounding=data["rounding"],
        acting_holders_count=bool(data.get("acting_holders_count")),
        grades=bands,
        fte_allowance_percent=data["fte_allowance_percent"],
        fte_convention=data["fte_convention"],
        fte_underload_below=data["fte_underload_below"],
        fte_overload_above=data["fte_overload_above"],
    )


def _settings_field(name: str) -> str | None:
    """Where a method error goes on the settings form."""
    if name.startswith("effective."):
        return "effective_" + name.split(".", 1)[1]
    if name.startswith("custom."):
        return name.split(".", 1)[1]
    if name in ("grades", "calendar") or name.startswith("calendar."):
        return None
    return name


@org_view
@require_http_methods(["GET", "POST"])
def workload_settings(request: HttpRequest) -> HttpResponse:
    """The method a new analysis snapshots (administrators). Open analyses keep
    the method they were opened with."""
    access = _access(request)
    if not access.is_admin:
        raise DjangoPermissionDenied
    current = services.method_for(access.organisation)
    version = (
        WorkloadSettings.objects.filter(organisation=access.organisation)
        .values_list("version", flat=True)
        .first()
    )
    grades = [band.grade for band in current.grades]
    form = wl_forms.SettingsForm(
        request.POST or None,
        initial=_settings_initial(current, version),
        presets=[(preset.value, preset.label) for preset in wl_method.Preset],
        roundings=[(rule.value, rule.label) for rule in wl_method.Rounding],
        conventions=[
            (convention.value, convention.label)
            for convention in wl_method.FteConvention
        ],
        grades=grades,
    )

    def save(data: dict[str, Any]) -> str:
        services.update_settings(
            access.organisation,
            actor=access.user,
            method=method_from_form(data, grades=grades),
            expected_version=data.get("version"),
        )
        return _url("workload-settings", access)

    presets = []
    for preset in wl_method.Preset:
        sample = wl_method.Method.from_preset(
            preset, custom=current.custom if preset == wl_method.Preset.CUSTOM else None
        )
        presets.append((preset, sample.effective, sample.calendar))
    custom = current.custom or wl_method.CustomDerivation()
    return handle_form(
        request,
        form,
        save,
        success=_(
            "The method was saved. Analyses opened from now on use it; open ones "
            "keep theirs."
        ),
        where=_settings_field,
        page=lambda status: render_page(
            request,
            "web/workload/settings.html",
            status=status,
            nav="workload",
            form=form,
            method=_method_summary(current),
            presets=presets,
            steps=wl_method.derivation_steps(custom, language=_language()),
        ),
    )


# --- what changed, and two periods -------------------------------------------------------


@dataclass
class ChangeView:
    """A `queries.Change` with its changed entry figures written for reading."""

    kind: str
    position_code: str
    position_title: str
    duty: str
    before: Decimal | None
    after: Decimal | None
    rows: list[tuple[str, tuple[str, str]]]


def _entry_value(name: str, value: Any) -> str:
    if value is None:
        return "—"
    if name == "volume_period":
        return str(Period(value).label) if value in Period.values else str(value)
    if name == "time_unit":
        return str(TimeUnit(value).label) if value in TimeUnit.values else str(value)
    return _number(value)


def change_view(change: queries.Change) -> ChangeView:
    labels = {
        "volume": _("volume of work"),
        "volume_period": _("per"),
        "standard_time": _("standard time"),
        "time_unit": _("time unit"),
    }
    return ChangeView(
        kind=change.kind,
        position_code=change.position_code,
        position_title=change.position_title,
        duty=change.duty,
        before=change.before,
        after=change.after,
        rows=[
            (
                labels.get(name, name),
                (_entry_value(name, before), _entry_value(name, after)),
            )
            for name, (before, after) in change.changes.items()
        ],
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def analysis_compare(request: HttpRequest, pk: int) -> HttpResponse:
    """What changed in this revision against the previous one."""
    access = _access(request)
    analysis = _analysis(access, pk)
    if analysis.previous_id is None:
        raise Http404
    return render_page(
        request,
        "web/workload/compare.html",
        nav="workload",
        analysis=analysis,
        previous=analysis.previous,
        changes=[change_view(change) for change in queries.diff(analysis)],
    )


@dataclass
class PeriodRow:
    position: Position
    first: PositionSheet | None
    second: PositionSheet | None

    @property
    def sheets(self) -> tuple[PositionSheet | None, PositionSheet | None]:
        return self.first, self.second


@org_view
@require_http_methods(["GET", "HEAD"])
def periods(request: HttpRequest) -> HttpResponse:
    """One unit's approved analyses of two years side by side: required and
    current staff and FTE per position, drawn and as a table."""
    access = _access(request)
    approved = list(
        queries.analyses(access.organisation, user=access.user)
        .filter(status=AnalysisStatus.APPROVED)
        .select_related("unit")
        .order_by("unit__name", "year", "revision")
    )
    # The latest approved revision of each unit and year.
    latest: dict[tuple[int, int], Analysis] = {}
    for item in approved:
        latest[(item.unit_id, item.year)] = item
    units = sorted(
        {item.unit_id: item.unit for item in latest.values()}.values(),
        key=lambda unit: unit.name,
    )
    unit_id = _positive_int(request.GET.get("unit"))
    unit = next((u for u in units if u.pk == unit_id), units[0] if units else None)
    years = sorted(
        (year for (uid, year) in latest if unit is not None and uid == unit.pk),
        reverse=True,
    )
    first_year = _positive_int(request.GET.get("first"))
    second_year = _positive_int(request.GET.get("second"))
    if second_year not in years:
        second_year = years[0] if years else None
    if first_year not in years or first_year == second_year:
        first_year = next((y for y in years if y != second_year), None)
    chosen = [
        latest[(unit.pk, year)]
        for year in (first_year, second_year)
        if unit is not None and year is not None
    ]
    rows: list[PeriodRow] = []
    chart = ""
    if len(chosen) == 2:
        sheets = list(
            PositionSheet.objects.filter(analysis__in=chosen)
            .select_related("position", "position__party")
            .order_by("sort_order", "id")
        )
        by_position: dict[int, PeriodRow] = {}
        for sheet in sheets:
            row = by_position.setdefault(
                sheet.position_id, PeriodRow(sheet.position, None, None)
            )
            if sheet.analysis_id == chosen[0].pk:
                row.first = sheet
            else:
                row.second = sheet
        rows = list(by_position.values())
        chart = render_bars(
            [
                BarRow(
                    id=row.position.pk,
                    label=row.position.title,
                    sublabel=row.position.party.name,
                    values=tuple(
                        sheet.required_staff if sheet is not None else None
                        for sheet in (row.first, row.second)
                    ),
                    texts=tuple(
                        _number(sheet.required_staff, EXACT_PLACES)
                        if sheet is not None and sheet.required_staff is not None
                        else _("n/a")
                        for sheet in (row.first, row.second)
                    ),
                )
                for row in rows
            ],
            series=[
                Series("first", str(chosen[0].year), "muted"),
                Series("second", str(chosen[1].year)),
            ],
            labels=BarLabels(
                description=_(
                    "Required staff of each position of %(unit)s in %(first)s and "
                    "%(second)s."
                )
                % {
                    "unit": chosen[0].unit.name,
                    "first": chosen[0].year,
                    "second": chosen[1].year,
                },
                axis=_("people"),
            ),
            number=lambda value: _number(value),
            id_prefix="workload-periods",
        )
    return render_page(
        request,
        "web/workload/periods.html",
        nav="workload",
        units=units,
        unit=unit,
        years=years,
        first_year=first_year,
        second_year=second_year,
        chosen=chosen,
        rows=rows,
        chart=chart,
    )
