"""Workload analysis (analisis beban kerja, ABK, and FTE): the organisation's
method, analyses of a unit for a year with one sheet per position and one entry
per duty, the flow from filling in to approval, revisions and their differences,
reports (JSON, Excel, PDF) and the import of filled-in templates.

Administrators, members and auditors read analyses (as `queries.analyses`
scopes them); external partners take no part in workload analysis (404).
Auditors and partners are refused every change with 403 before anything is
looked up; for the rest the services decide (the analyst, the incumbents of a
sheet, administrators). Figures are exact decimals, sent and answered as strings
(`"0.048000"`), never as floating-point numbers.
"""

import datetime as dt
import functools
import re
from collections.abc import Callable
from decimal import Decimal
from typing import Annotated, Any

from django.conf import settings
from django.core.exceptions import RequestDataTooBig
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.defaultfilters import filesizeformat
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import Field, File, Query, Router, Schema
from ninja.decorators import decorate_view
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import PlainSerializer, WithJsonSchema

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.api import problems
from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    org_access,
    require,
    resolve,
    single,
)
from rantai.api.idempotency import HEADER, idempotent
from rantai.api.routers.approvals import field_names, location
from rantai.api.versions import IF_MATCH, expected_version, with_etag
from rantai.core.errors import PermissionDenied, ValidationFailed
from rantai.org import queries as org_queries
from rantai.workload import method as methods
from rantai.workload import queries, reports, services, spreadsheet
from rantai.workload.method import FteConvention, Preset, Rounding
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

router = Router(tags=["workload"])

XLSX = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
PDF = "application/pdf"


# --- decimals -----------------------------------------------------------------------

# A decimal as JSON carries it exactly: a string with an optional sign and a point
# for decimals ("12.5"); no grouping, no exponent, never a float. The services
# check the ranges and the decimal places.
_DECIMAL = re.compile(r"[+-]?[0-9]{1,16}(?:\.[0-9]{1,16})?")


def _plain(value: Decimal) -> str:
    """Exact and without an exponent ("75000", "0.048000")."""
    return f"{value:f}"


ExactDecimal = Annotated[
    Decimal,
    PlainSerializer(_plain, return_type=str),
    WithJsonSchema({"type": "string", "examples": ["0.048000"]}),
]

DecimalText = Annotated[
    str,
    Field(
        description="An exact decimal as a string, with a point for decimals.",
        examples=["12.5"],
    ),
]


def parse_decimal(text: str | None, field: str) -> Decimal | None:
    """A figure sent as a decimal string (None stays None), or a field error."""
    if text is None:
        return None
    if not _DECIMAL.fullmatch(text.strip()):
        raise ValidationFailed(
            {
                field: [
                    _(
                        "Send the number as a string with a point for decimals, "
                        'for example "12.5".'
                    )
                ]
            }
        )
    return Decimal(text.strip())


# --- schemas ------------------------------------------------------------------------


class EffectiveTimeSchema(Schema):
    """Effective working time (waktu kerja efektif, WKE) per period, in minutes."""

    day: DecimalText
    week: DecimalText
    month: DecimalText
    year: DecimalText


class CalendarSchema(Schema):
    """The working days, weeks and months of a year the method states."""

    days_per_year: int
    weeks_per_year: int
    months_per_year: int


class CustomDerivationSchema(Schema):
    """A custom method's working calendar, from which its WKE is derived."""

    working_days_per_week: int = 5
    weeks_per_year: int = 52
    public_holidays: int = 16
    leave_days: int = 12
    hours_per_day: DecimalText = "8"
    allowance_percent: DecimalText = Field(
        "30", description="Time lost to breaks, prayer and the like."
    )


class GradeBandSchema(Schema):
    """A job performance grade (PJ) by its lower bound of effectiveness (EJ)."""

    grade: str
    lower: DecimalText | None = Field(None, description="null: no lower bound.")
    lower_inclusive: bool = False


class MethodOut(Schema):
    """How figures are worked out (see docs/design-workload.md)."""

    preset: Preset
    effective: EffectiveTimeSchema
    calendar: CalendarSchema
    custom: CustomDerivationSchema | None
    rounding: Rounding
    acting_holders_count: bool = Field(
        ..., description="Whether acting holders (Plt) count as current staff."
    )
    grades: list[GradeBandSchema] = Field(..., description="Highest first.")
    fte_allowance_percent: DecimalText
    fte_convention: FteConvention
    fte_underload_below: DecimalText
    fte_overload_above: DecimalText


class MethodIn(Schema):
    """Fields left out take the preset's defaults; a custom method's WKE and
    calendar are derived from `custom`."""

    preset: Preset = Preset.PANRB_2020
    effective: EffectiveTimeSchema | None = None
    calendar: CalendarSchema | None = None
    custom: CustomDerivationSchema | None = None
    rounding: Rounding | None = None
    acting_holders_count: bool | None = None
    grades: list[GradeBandSchema] | None = None
    fte_allowance_percent: DecimalText | None = None
    fte_convention: FteConvention | None = None
    fte_underload_below: DecimalText | None = None
    fte_overload_above: DecimalText | None = None


class SettingsOut(Schema):
    """The method a new analysis snapshots. Never changed: the defaults (Permenpan
    RB 1/2020), `version` 0."""

    method: MethodOut
    is_default: bool = Field(..., description="Never changed by an administrator.")
    version: int


class SettingsIn(Schema):
    """The whole method; analyses already open keep theirs."""

    method: MethodIn
    version: int | None = Field(
        None, description="The settings' version (0 while never changed)."
    )


class AnalysisFilters(Schema):
    year: int | None = None
    unit_id: int | None = None
    status: AnalysisStatus | None = None


class AnalysisOut(Schema):
    id: int
    unit_id: int
    unit_code: str
    unit_name: str
    year: int
    revision: int
    previous_id: int | None = Field(None, description="The revision this one copies.")
    status: AnalysisStatus
    analyst_id: int = Field(..., description="The person who opened it.")
    analyst_name: str
    analyst_position_id: int | None = Field(
        None, description="Its superior approves the analysis."
    )
    working_days: int = Field(..., description="Working days of the year (FTE).")
    minutes_per_day: int
    computed_at: dt.datetime | None
    required_total: ExactDecimal | None = Field(
        None, description="Required staff, exact (sum over the sheets)."
    )
    required_count: int | None = Field(None, description="Required staff, rounded.")
    current_count: int | None = Field(None, description="Current staff.")
    shortage: int | None = Field(
        None, description="Required minus current (negative: a surplus)."
    )
    approved_at: dt.datetime | None
    approved_by_id: int | None
    approved_by_position_id: int | None
    is_frozen: bool = Field(..., description="Approved or cancelled: read only.")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_unit_code(analysis: Analysis) -> str:
        return analysis.unit.code

    @staticmethod
    def resolve_unit_name(analysis: Analysis) -> str:
        return analysis.unit.name

    @staticmethod
    def resolve_analyst_name(analysis: Analysis) -> str:
        return analysis.analyst.full_name

    @staticmethod
    def resolve_shortage(analysis: Analysis) -> int | None:
        if analysis.required_count is None or analysis.current_count is None:
            return None
        return analysis.required_count - analysis.current_count


class AnalysisDetailOut(AnalysisOut):
    """With the method it was opened with."""

    method: MethodOut = Field(..., description="The method snapshotted when it opened.")

    @staticmethod
    def resolve_method(analysis: Analysis) -> dict[str, Any]:
        return methods.Method.from_json(analysis.method).to_json()


class AnalysisOpen(Schema):
    """Open the analysis of an internal unit (and its sub-units) for a year."""

    unit_id: int
    year: int = Field(..., ge=2000, le=2100)
    analyst_position_id: int | None = Field(
        None,
        description="The position you analyse from (one you hold now): its "
        "superior approves the analysis. Required when you hold several; by default "
        "the one you hold.",
    )


class CancelIn(Schema):
    reason: str
    version: int | None = None


class HolderOut(Schema):
    person_id: int
    name: str
    acting: bool = Field(..., description="An acting holder (Plt).")
    fills_in: bool = Field(
        ...,
        description="Can fill in the sheet themselves: an active login with an "
        "administrator or member membership of the organisation.",
    )


class SheetOut(Schema):
    """A position's sheet with today's holders, how far it is filled in and the
    results `compute` stored (null until computed)."""

    id: int
    analysis_id: int
    position_id: int
    position_code: str
    position_title: str
    unit_id: int = Field(..., description="The position's unit (or sub-unit).")
    unit_code: str
    unit_name: str
    status: SheetStatus
    sort_order: int
    entries_version: int = Field(
        ..., description="Moves with every change of the entries."
    )
    entries_total: int
    entries_filled: int
    missing_duties: bool = Field(
        ...,
        description="The position has no duties: add them to its job description "
        "before the sheet can be submitted.",
    )
    holders: list[HolderOut] = Field(..., description="Today's holders.")
    analyst_fills_in: bool = Field(
        ...,
        description="No holder can fill in the sheet (the position is vacant, or "
        "none of its holders has a login as administrator or member): the analyst "
        "fills it in and submits it on their behalf.",
    )
    submitted_at: dt.datetime | None
    validated_at: dt.datetime | None
    validated_by_id: int | None
    current_holders: int = Field(..., description="Counted by `compute`.")
    acting_holders: int = Field(..., description="Acting holders (Plt), by `compute`.")
    activity_minutes: ExactDecimal | None = Field(
        None, description="Activity time per year, in minutes."
    )
    required_staff: ExactDecimal | None = Field(None, description="Exact.")
    required_count: int | None = Field(None, description="Rounded by the method.")
    effectiveness: ExactDecimal | None = Field(
        None, description="Job effectiveness (EJ)."
    )
    grade: str = Field(..., description="Job performance grade (PJ), A–E.")
    fte: ExactDecimal | None
    fte_category: str = Field(..., description="underload, normal or overload.")
    fte_count: int | None
    version: int

    @staticmethod
    def resolve_unit_id(row: queries.SheetRow) -> int:
        return row.sheet.position.party_id

    @staticmethod
    def resolve_unit_code(row: queries.SheetRow) -> str:
        return row.sheet.position.party.code

    @staticmethod
    def resolve_unit_name(row: queries.SheetRow) -> str:
        return row.sheet.position.party.name


class EntryOut(Schema):
    """A duty of the position (title and output unit copied when the analysis
    opened) with its figures worked out by the analysis's method."""

    id: int
    sheet_id: int
    duty_id: int
    title: str
    output_unit: str
    sort_order: int
    volume: ExactDecimal | None = Field(None, description="Volume of work per period.")
    volume_period: Period
    standard_time: ExactDecimal | None = Field(
        None, description="Standard time per output unit, in `time_unit`."
    )
    time_unit: TimeUnit
    is_filled: bool
    duty_active: bool = Field(
        ...,
        description="false: the duty is no longer in the position's job "
        "description (taking the duties again removes the entry once it has no "
        "figures).",
    )
    version: int
    standard_minutes: ExactDecimal | None
    effective_minutes: ExactDecimal = Field(
        ..., description="Effective working time (WKE) of the entry's period."
    )
    required_staff: ExactDecimal | None = Field(
        None, description="Volume × standard minutes ÷ WKE of the period."
    )
    yearly_minutes: ExactDecimal | None = Field(
        None, description="Activity time per year (for FTE)."
    )
    trace: str = Field(..., description="How `required_staff` was worked out.")


class DutyChangesOut(Schema):
    """What taking the duties from the job description again (`POST
    …/refresh-duties`) changes, by duty title."""

    changes_anything: bool
    added: list[str] = Field(..., description="Active duties that get an entry.")
    removed: list[str] = Field(
        ..., description="Empty entries of duties no longer active: removed."
    )
    updated: list[str] = Field(
        ...,
        description="Entries not completely filled in that take their duty's new "
        "title or output unit.",
    )
    kept: list[str] = Field(
        ...,
        description="Entries of duties no longer active that keep their figures: "
        "they stay, and count, until their figures are cleared.",
    )
    reordered: bool = Field(..., description="The entries take the duties' order.")


class SheetDetailOut(SheetOut):
    duty_changes: DutyChangesOut = Field(
        ...,
        description="What taking the duties from the job description again would "
        "change now.",
    )
    entries: list[EntryOut]
    traces: dict[str, str] = Field(
        ...,
        description="How each of the sheet's figures works out with the entries as "
        "they stand (`required_staff`, `required_count`, `effectiveness`, `grade`, "
        "`fte`, …), in your language.",
    )


class EntryUpdate(Schema):
    """Fields left out keep their value; `null` clears a figure."""

    volume: DecimalText | None = Field(None, examples=["120"])
    volume_period: Period | None = None
    standard_time: DecimalText | None = Field(None, examples=["30.5"])
    time_unit: TimeUnit | None = None
    version: int | None = None


class EntryRow(Schema):
    entry_id: int
    volume: DecimalText | None = Field(None, examples=["120"])
    volume_period: Period = Period.YEAR
    standard_time: DecimalText | None = Field(None, examples=["30.5"])
    time_unit: TimeUnit = TimeUnit.MINUTE


class EntriesIn(Schema):
    """Set several entries of the analysis at once: all of them or none."""

    rows: list[EntryRow] = Field(..., min_length=1, max_length=5000)


class ChangedOut(Schema):
    changed: int = Field(..., description="Entries changed.")


class ReportQuery(Schema):
    format: str = Field(
        "json", pattern="^(json|xlsx|pdf)$", description="json, xlsx or pdf."
    )


# --- access and lookups -------------------------------------------------------------


def _reader(request: HttpRequest, org_slug: str) -> Access:
    """Workload analysis is the organisation's own: not for partners (404)."""
    access = org_access(request, org_slug)
    access.require_whole_organisation()
    return access


def _writer(request: HttpRequest, org_slug: str) -> Access:
    """Auditors and partners never change workload analyses (403 before anything
    is looked up); the services decide the rest."""
    access = org_access(request, org_slug)
    if access.role not in (Role.ADMIN, Role.MEMBER):
        raise PermissionDenied(
            _("Auditors and external partners cannot change workload analyses.")
        )
    return access


def _analysis(access: Access, analysis_id: int) -> Analysis:
    return queries.analysis(access.organisation, analysis_id, user=access.user)


def _sheet(access: Access, analysis_id: int, sheet_id: int) -> PositionSheet:
    return queries.sheet(_analysis(access, analysis_id), sheet_id, user=access.user)


def _entry(access: Access, analysis_id: int, entry_id: int) -> Entry:
    analysis = _analysis(access, analysis_id)
    return org_queries.get_or_404(  # type: ignore[no-any-return]
        Entry.objects.filter(
            organisation=access.organisation, sheet__analysis=analysis
        ).select_related("sheet", "sheet__analysis", "duty"),
        entry_id,
    )


def _detail(access: Access, analysis_id: int, response: HttpResponse) -> Analysis:
    """The analysis as it stands now, with its ETag."""
    return single(response, _analysis(access, analysis_id))


def _language() -> str:
    return translation.get_language() or "en"


def _entry_out(
    entry: Entry, method: methods.Method, language: str, *, duty_active: bool
) -> dict[str, Any]:
    result = methods.entry_result(_input(entry), method, language=language)
    return {
        "id": entry.pk,
        "sheet_id": entry.sheet_id,
        "duty_id": entry.duty_id,
        "title": entry.title,
        "output_unit": entry.output_unit,
        "sort_order": entry.sort_order,
        "volume": entry.volume,
        "volume_period": entry.volume_period,
        "standard_time": entry.standard_time,
        "time_unit": entry.time_unit,
        "is_filled": entry.is_filled,
        "duty_active": duty_active,
        "version": entry.version,
        "standard_minutes": result.standard_minutes,
        "effective_minutes": result.effective_minutes,
        "required_staff": result.required_staff,
        "yearly_minutes": result.yearly_minutes,
        "trace": result.trace,
    }


def _input(entry: Entry) -> methods.EntryInput:
    return methods.EntryInput(
        entry.volume, entry.volume_period, entry.standard_time, entry.time_unit
    )


def _sheet_detail(
    access: Access, analysis_id: int, sheet_id: int, response: HttpResponse
) -> queries.SheetRow:
    """The sheet with its entries and their figures, and how the sheet's figures
    work out now: with the holders `compute` counted once computed, else with
    today's."""
    sheet = _sheet(access, analysis_id, sheet_id)
    analysis = sheet.analysis
    row = next(row for row in queries.sheets(analysis) if row.sheet.pk == sheet.pk)
    entries = queries.entries(sheet)
    method = methods.Method.from_json(analysis.method)
    language = _language()
    if analysis.computed_at is not None:
        holders, acting = sheet.current_holders, sheet.acting_holders
    else:
        acting = sum(1 for holder in row.holders if holder.acting)
        holders = len(row.holders) - acting
    result = methods.position_result(
        [_input(entry) for entry in entries],
        holders=holders,
        acting=acting,
        method=method,
        available_minutes=methods.available_minutes(
            analysis.working_days, analysis.minutes_per_day
        ),
        language=language,
    )
    row.entries = [  # type: ignore[attr-defined]
        _entry_out(entry, method, language, duty_active=entry.duty_active)  # type: ignore[attr-defined]
        for entry in entries
    ]
    row.duty_changes = queries.duty_changes(sheet, entries)  # type: ignore[attr-defined]
    row.traces = result.traces  # type: ignore[attr-defined]
    with_etag(response, sheet)
    return row


def _analysis_action(
    request: HttpRequest,
    org_slug: str,
    analysis_id: int,
    response: HttpResponse,
    version: int | None,
    action: Callable[..., object],
) -> Analysis:
    """`action(analysis, actor=, expected_version=)` (one service call) on the
    analysis, the version from the payload or `If-Match`; the analysis after."""
    access = _writer(request, org_slug)
    action(
        _analysis(access, analysis_id),
        actor=access.user,
        expected_version=expected_version(request, version),
    )
    return _detail(access, analysis_id, response)


def _sheet_action(
    request: HttpRequest,
    org_slug: str,
    analysis_id: int,
    sheet_id: int,
    response: HttpResponse,
    version: int | None,
    action: Callable[..., object],
) -> queries.SheetRow:
    """`action(sheet, actor=, expected_version=)` (one service call) on the
    sheet, the version from the payload or `If-Match`; the sheet after."""
    access = _writer(request, org_slug)
    action(
        _sheet(access, analysis_id, sheet_id),
        actor=access.user,
        expected_version=expected_version(request, version),
    )
    return _sheet_detail(access, analysis_id, sheet_id, response)


def read_body_first(
    run: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Keep an upload's raw body, which `Idempotency-Key` fingerprints: Django
    can no longer give it once the multipart form has been parsed."""

    @functools.wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if HEADER in request.headers:
            try:
                request.body  # noqa: B018 - read and keep it
            except RequestDataTooBig:
                return problems.problem(
                    request,
                    status=422,
                    code=ValidationFailed.code,
                    detail=str(ValidationFailed.default_message),
                    errors={"file": [_too_large()]},
                )
        return run(request, *args, **kwargs)

    return wrapper


def _too_large() -> str:
    return _("The file is too large (at most %(size)s).") % {
        "size": filesizeformat(settings.DATA_UPLOAD_MAX_MEMORY_SIZE)
    }


# --- settings -----------------------------------------------------------------------


def _settings(access: Access, response: HttpResponse) -> dict[str, Any]:
    stored = WorkloadSettings.objects.filter(organisation=access.organisation).first()
    version = 0 if stored is None else stored.version
    response["ETag"] = f'"{version}"'
    return {
        # the services' rule: the stored method, or the default
        "method": methods.Method.from_json(
            {} if stored is None else stored.method
        ).to_json(),
        "is_default": stored is None,
        "version": version,
    }


@router.get("/workload/settings", response=SettingsOut)
def get_settings(
    request: HttpRequest, org_slug: OrgSlug, response: HttpResponse
) -> dict[str, Any]:
    """The organisation's method: what a new analysis snapshots."""
    return _settings(_reader(request, org_slug), response)


@router.put("/workload/settings", response=SettingsOut, openapi_extra=IF_MATCH)
def update_settings(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: SettingsIn,
    response: HttpResponse,
) -> dict[str, Any]:
    """Replace the method (administrators); analyses already open keep theirs.
    Send `version` 0 (or `If-Match: "0"`) while the defaults were never changed."""
    access = org_access(request, org_slug)
    access.require_admin()
    version = expected_version(request, payload.version)
    try:
        method = methods.Method.from_json(
            payload.method.model_dump(exclude_unset=True, exclude_none=True)
        )
    except ValidationFailed as error:
        raise ValidationFailed(
            {f"method.{name}": messages for name, messages in error.errors.items()},
            code=error.code,
        ) from error
    services.update_settings(
        access.organisation,
        actor=access.user,
        method=method,
        expected_version=version,
    )
    return _settings(access, response)


# --- analyses -----------------------------------------------------------------------


@router.get("/workload/analyses", response=list[AnalysisOut])
@paginate(Pagination)
def list_analyses(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[AnalysisFilters]
) -> QuerySet[Analysis]:
    """Analyses you may see, newest year first, by unit and revision."""
    access = _reader(request, org_slug)
    found = queries.analyses(access.organisation, user=access.user)
    if filters.year is not None:
        found = found.filter(year=filters.year)
    if filters.unit_id is not None:
        found = found.filter(unit_id=filters.unit_id)
    if filters.status is not None:
        found = found.filter(status=filters.status)
    return found


@router.post("/workload/analyses", response={201: AnalysisDetailOut})
@idempotent
def open_analysis(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: AnalysisOpen,
    response: HttpResponse,
) -> Analysis:
    """Open the analysis of an internal unit for a year: a sheet for every active
    position of the unit and its sub-units, an entry for every active duty, the
    organisation's method and the year's working calendar snapshotted. The
    incumbents are told to fill in their sheets."""
    access = _writer(request, org_slug)
    with field_names({"unit": "unit_id", "analyst_position": "analyst_position_id"}):
        analysis = services.open_analysis(
            require(org_queries.parties(access), payload.unit_id, "unit_id"),
            actor=access.user,
            year=payload.year,
            analyst_position=resolve(
                org_queries.positions(access),
                payload.analyst_position_id,
                "analyst_position_id",
            ),
        )
    response["Location"] = location(
        request, org_slug, f"workload/analyses/{analysis.pk}"
    )
    return _detail(access, analysis.pk, response)


@router.get("/workload/analyses/{analysis_id}", response=AnalysisDetailOut)
def get_analysis(
    request: HttpRequest, org_slug: OrgSlug, analysis_id: int, response: HttpResponse
) -> Analysis:
    """The analysis with its totals and the method it was opened with."""
    return _detail(_reader(request, org_slug), analysis_id, response)


@router.post(
    "/workload/analyses/{analysis_id}/compute",
    response=AnalysisDetailOut,
)
@idempotent
def compute(
    request: HttpRequest, org_slug: OrgSlug, analysis_id: int, response: HttpResponse
) -> Analysis:
    """Work out every sheet's results and the totals and store them (while
    entries are still being collected too): the analyst or an administrator."""
    access = _writer(request, org_slug)
    services.compute(_analysis(access, analysis_id), actor=access.user)
    return _detail(access, analysis_id, response)


@router.post(
    "/workload/analyses/{analysis_id}/submit",
    response=AnalysisDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def submit_analysis(
    request: HttpRequest,
    org_slug: OrgSlug,
    analysis_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Analysis:
    """Once every sheet is validated: compute, then ask the analyst's superior for
    approval (the `workload_analysis` route)."""
    return _analysis_action(
        request,
        org_slug,
        analysis_id,
        response,
        payload.version,
        services.submit_analysis,
    )


@router.post(
    "/workload/analyses/{analysis_id}/withdraw",
    response=AnalysisDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def withdraw_analysis(
    request: HttpRequest,
    org_slug: OrgSlug,
    analysis_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Analysis:
    """Take an analysis awaiting approval back to collecting entries."""
    return _analysis_action(
        request,
        org_slug,
        analysis_id,
        response,
        payload.version,
        services.withdraw_analysis,
    )


@router.post(
    "/workload/analyses/{analysis_id}/cancel",
    response=AnalysisDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def cancel_analysis(
    request: HttpRequest,
    org_slug: OrgSlug,
    analysis_id: int,
    payload: CancelIn,
    response: HttpResponse,
) -> Analysis:
    """Stop an analysis that is not approved (final; with a reason)."""
    return _analysis_action(
        request,
        org_slug,
        analysis_id,
        response,
        payload.version,
        functools.partial(services.cancel_analysis, reason=payload.reason),
    )


@router.post(
    "/workload/analyses/{analysis_id}/revisions", response={201: AnalysisDetailOut}
)
@idempotent
def start_revision(
    request: HttpRequest, org_slug: OrgSlug, analysis_id: int, response: HttpResponse
) -> Analysis:
    """A new revision of an approved analysis: its sheets (back to being filled
    in) and entries copied; the approved one stays as it was."""
    access = _writer(request, org_slug)
    revision = services.start_revision(
        _analysis(access, analysis_id), actor=access.user
    )
    response["Location"] = location(
        request, org_slug, f"workload/analyses/{revision.pk}"
    )
    return _detail(access, revision.pk, response)


# --- sheets and entries -------------------------------------------------------------


@router.get("/workload/analyses/{analysis_id}/sheets", response=list[SheetOut])
@paginate(Pagination)
def list_sheets(
    request: HttpRequest, org_slug: OrgSlug, analysis_id: int
) -> list[queries.SheetRow]:
    """The analysis's sheets in order, with today's holders, how far each is
    filled in, and the results `compute` stored."""
    return queries.sheets(_analysis(_reader(request, org_slug), analysis_id))


@router.get(
    "/workload/analyses/{analysis_id}/sheets/{sheet_id}", response=SheetDetailOut
)
def get_sheet(
    request: HttpRequest,
    org_slug: OrgSlug,
    analysis_id: int,
    sheet_id: int,
    response: HttpResponse,
) -> queries.SheetRow:
    """A sheet with its entries, each entry's figures, and how every figure was
    worked out (in your language)."""
    return _sheet_detail(_reader(request, org_slug), analysis_id, sheet_id, response)


@router.post(
    "/workload/analyses/{analysis_id}/sheets/{sheet_id}/submit",
    response=SheetDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def submit_sheet(
    request: HttpRequest,
    org_slug: OrgSlug,
    analysis_id: int,
    sheet_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> queries.SheetRow:
    """An incumbent (or the analyst, when no holder can: `analyst_fills_in`)
    sends the filled-in sheet to the position's superior for validation (the
    `workload_sheet` route). Every entry must be filled in."""
    return _sheet_action(
        request,
        org_slug,
        analysis_id,
        sheet_id,
        response,
        payload.version,
        services.submit_sheet,
    )


@router.post(
    "/workload/analyses/{analysis_id}/sheets/{sheet_id}/withdraw",
    response=SheetDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def withdraw_sheet(
    request: HttpRequest,
    org_slug: OrgSlug,
    analysis_id: int,
    sheet_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> queries.SheetRow:
    """Take a sheet awaiting validation (or returned) back to change it."""
    return _sheet_action(
        request,
        org_slug,
        analysis_id,
        sheet_id,
        response,
        payload.version,
        services.withdraw_sheet,
    )


@router.post(
    "/workload/analyses/{analysis_id}/sheets/{sheet_id}/refresh-duties",
    response=SheetDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def refresh_duties(
    request: HttpRequest,
    org_slug: OrgSlug,
    analysis_id: int,
    sheet_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> queries.SheetRow:
    """Take the duties from the position's job description again (whoever fills
    in the sheet, while it is being filled in or returned): an entry for each
    active duty that has none, in the job description's order; entries of
    duties no longer active removed when they have no figures (one with a figure
    stays, and counts, until its figures are cleared); entries not completely
    filled in take their duty's new title and output unit. The entries' version
    moves; nothing changes when the sheet already follows the job description
    (`duty_changes` of the sheet tells beforehand)."""
    return _sheet_action(
        request,
        org_slug,
        analysis_id,
        sheet_id,
        response,
        payload.version,
        services.refresh_duties,
    )


@router.patch(
    "/workload/analyses/{analysis_id}/entries/{entry_id}",
    response=EntryOut,
    openapi_extra=IF_MATCH,
)
def update_entry(
    request: HttpRequest,
    org_slug: OrgSlug,
    analysis_id: int,
    entry_id: int,
    payload: EntryUpdate,
    response: HttpResponse,
) -> dict[str, Any]:
    """Fill in one duty's volume of work and standard time: the sheet's
    incumbents (the analyst, while the position is vacant or none of its holders
    has a login: `analyst_fills_in`), while the sheet is being filled in or was
    returned."""
    access = _writer(request, org_slug)
    entry = _entry(access, analysis_id, entry_id)
    sent = payload.model_fields_set
    version = expected_version(request, payload.version)
    changed = services.set_entry(
        entry,
        actor=access.user,
        volume=(
            parse_decimal(payload.volume, "volume")
            if "volume" in sent
            else entry.volume
        ),
        volume_period=payload.volume_period or entry.volume_period,
        standard_time=(
            parse_decimal(payload.standard_time, "standard_time")
            if "standard_time" in sent
            else entry.standard_time
        ),
        time_unit=payload.time_unit or entry.time_unit,
        expected_version=version,
    )
    with_etag(response, changed)
    method = methods.Method.from_json(entry.sheet.analysis.method)
    return _entry_out(changed, method, _language(), duty_active=entry.duty.is_active)


@router.post("/workload/analyses/{analysis_id}/entries", response=ChangedOut)
@idempotent
def set_entries(
    request: HttpRequest, org_slug: OrgSlug, analysis_id: int, payload: EntriesIn
) -> dict[str, int]:
    """Set many entries at once — all of them or, on any error, none. A problem
    with a row is named `rows.<index>.<field>`."""
    access = _writer(request, org_slug)
    rows = [
        services.EntryChange(
            entry_id=row.entry_id,
            volume=parse_decimal(row.volume, f"rows.{index}.volume"),
            volume_period=row.volume_period,
            standard_time=parse_decimal(
                row.standard_time, f"rows.{index}.standard_time"
            ),
            time_unit=row.time_unit,
        )
        for index, row in enumerate(payload.rows)
    ]
    changed = services.set_entries(
        _analysis(access, analysis_id), actor=access.user, rows=rows
    )
    return {"changed": changed}


@router.post(
    "/workload/analyses/{analysis_id}/import",
    response=ChangedOut,
)
@decorate_view(read_body_first)
@idempotent
def import_entries(
    request: HttpRequest,
    org_slug: OrgSlug,
    analysis_id: int,
    file: File[UploadedFile],
) -> dict[str, int]:
    """Read the filled-in template (`GET …/template`) — all of it or, on any
    error, nothing. Every row's problems are listed under `file`. The file's
    hidden About sheet must name this analysis's organisation, unit, year and
    revision (a template of an earlier revision is refused: download this
    revision's); each row is found by its position code and duty id, which must
    be an entry of this analysis."""
    access = _writer(request, org_slug)
    if file.size is not None and file.size > settings.DATA_UPLOAD_MAX_MEMORY_SIZE:
        raise ValidationFailed({"file": [_too_large()]})
    changed = spreadsheet.import_entries(
        _analysis(access, analysis_id),
        file.read(),
        actor=access.user,
        language=_language(),
    )
    return {"changed": changed}


# --- revisions, reports, the template -----------------------------------------------


class ChangeOut(Schema):
    """One difference from the previous revision."""

    kind: str = Field(
        ...,
        description="position_added, position_removed, entry_added, entry_removed, "
        "entry_changed or required_changed.",
    )
    position_code: str = Field(
        ..., description="Empty for the analysis's own total (last)."
    )
    position_title: str
    duty: str = Field(..., description="The entry's duty.")
    changes: dict[str, list[str | None]] = Field(
        ...,
        description="entry_changed: field → [before, after] (volume, volume_period, "
        "standard_time, time_unit).",
    )
    before: ExactDecimal | None = Field(
        None, description="required_changed: required staff before (exact)."
    )
    after: ExactDecimal | None

    @staticmethod
    def resolve_changes(change: queries.Change) -> dict[str, list[str | None]]:
        return {
            name: [_text(before), _text(after)]
            for name, (before, after) in change.changes.items()
        }


def _text(value: Any) -> str | None:
    if value is None:
        return None
    return _plain(value) if isinstance(value, Decimal) else str(value)


@router.get("/workload/analyses/{analysis_id}/diff", response=list[ChangeOut])
def diff(
    request: HttpRequest, org_slug: OrgSlug, analysis_id: int
) -> list[queries.Change]:
    """What changed against the previous revision (none: an empty list)."""
    return queries.diff(_analysis(_reader(request, org_slug), analysis_id))


def _filename(analysis: Analysis, kind: str, extension: str) -> str:
    code = re.sub(r"[^A-Za-z0-9_-]+", "-", analysis.unit.code).strip("-") or "unit"
    return f"{kind}-{code}-{analysis.year}-r{analysis.revision}.{extension}"


def _download(data: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _binary(content_type: str, description: str) -> dict[str, Any]:
    return {
        "content": {content_type: {"schema": {"type": "string", "format": "binary"}}},
        "description": description,
    }


REPORT_CONTENT: dict[str, Any] = {
    "responses": {
        200: {
            "description": "The report: JSON, or the Excel workbook or PDF as a "
            "file (Content-Disposition: attachment).",
            "content": {
                "application/json": {"schema": {"type": "object"}},
                XLSX: {"schema": {"type": "string", "format": "binary"}},
                PDF: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
}


@router.get(
    "/workload/analyses/{analysis_id}/report",
    response=dict[str, Any],
    openapi_extra=REPORT_CONTENT,
)
def report(
    request: HttpRequest,
    org_slug: OrgSlug,
    analysis_id: int,
    query: Query[ReportQuery],
) -> Any:
    """The analysis report — per position the required staff, effectiveness,
    grade and FTE with the totals — as JSON (`format=json`), as an Excel
    workbook with every entry (`xlsx`) or as the PDF in the government layout
    (`pdf`), in your language."""
    analysis = _analysis(_reader(request, org_slug), analysis_id)
    language = _language()
    if query.format == "xlsx":
        return _download(
            spreadsheet.export(analysis, language=language),
            XLSX,
            _filename(analysis, "workload", "xlsx"),
        )
    built = reports.build(analysis)
    if query.format == "pdf":
        return _download(
            reports.pdf(built, language=language),
            PDF,
            _filename(analysis, "workload", "pdf"),
        )
    return reports.as_json(built)


@router.get(
    "/workload/analyses/{analysis_id}/template",
    openapi_extra={"responses": {200: _binary(XLSX, "The Excel template.")}},
)
def template(request: HttpRequest, org_slug: OrgSlug, analysis_id: int) -> Any:
    """The Excel template to fill in offline, pre-filled with every entry as it
    stands; upload it with `POST …/import`."""
    analysis = _analysis(_reader(request, org_slug), analysis_id)
    return _download(
        spreadsheet.template(analysis, language=_language()),
        XLSX,
        _filename(analysis, "workload-template", "xlsx"),
    )
