"""The organisation's working calendar: working days, daily hours and holidays.

Schedules count working time on it. Everyone inside the organisation reads it
(external partners do not: 404); administrators change it.
"""

import datetime as dt

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from rantai.accounts.access import Access
from rantai.api.common import OrgSlug, Pagination, admin_access, org_access, single
from rantai.api.idempotency import idempotent
from rantai.api.versions import IF_MATCH, expected_version
from rantai.chains import queries
from rantai.chains import services as chains
from rantai.chains.models import Holiday, WorkingCalendar

router = Router(tags=["calendar"])


class CalendarOut(Schema):
    """Working time, on the wall clock of the organisation's time zone."""

    time_zone: str
    working_weekdays: list[int] = Field(
        ..., description="0 = Monday … 6 = Sunday", examples=[[0, 1, 2, 3, 4]]
    )
    day_start: dt.time
    day_end: dt.time
    minutes_per_day: int
    version: int

    @staticmethod
    def resolve_time_zone(calendar: WorkingCalendar) -> str:
        return calendar.organisation.time_zone


class CalendarUpdate(Schema):
    working_weekdays: list[int] | None = None
    day_start: dt.time | None = None
    day_end: dt.time | None = None
    version: int | None = None


class HolidayOut(Schema):
    id: int
    date: dt.date
    name: str


class HolidayFilters(Schema):
    year: int | None = None


class HolidayCreate(Schema):
    date: dt.date
    name: str


class PublicHolidaysLoad(Schema):
    year: int = Field(..., ge=1900, le=2200)
    country: str = Field("ID", description="ISO 3166 country code")


class PublicHolidaysLoaded(Schema):
    """The holidays added (dates that already had one keep it)."""

    count: int
    items: list[HolidayOut]


def _reader(request: HttpRequest, org_slug: str) -> Access:
    access = org_access(request, org_slug)
    access.require_whole_organisation()
    return access


def _calendar(access: Access) -> WorkingCalendar:
    """The organisation's calendar; until someone changes it, the defaults."""
    calendar = WorkingCalendar.objects.filter(organisation=access.organisation).first()
    if calendar is None:
        calendar = WorkingCalendar(organisation=access.organisation)
    calendar.organisation = access.organisation
    return calendar


@router.get("/calendar", response=CalendarOut)
def get_calendar(
    request: HttpRequest, org_slug: OrgSlug, response: HttpResponse
) -> WorkingCalendar:
    """The working calendar (its version is 1 until it is first changed)."""
    return single(response, _calendar(_reader(request, org_slug)))


@router.patch("/calendar", response=CalendarOut, openapi_extra=IF_MATCH)
def update_calendar(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: CalendarUpdate,
    response: HttpResponse,
) -> WorkingCalendar:
    """Change the working days or daily hours; fields left out keep their value."""
    access = admin_access(request, org_slug)
    calendar = chains.update_working_calendar(
        access.organisation,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        **payload.model_dump(exclude_unset=True, exclude={"version"}),
    )
    calendar.organisation = access.organisation
    return single(response, calendar)


@router.get("/calendar/holidays", response=list[HolidayOut])
@paginate(Pagination)
def list_holidays(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[HolidayFilters]
) -> QuerySet[Holiday]:
    holidays = queries.holidays(org_access(request, org_slug))
    if filters.year is not None:
        holidays = holidays.filter(date__year=filters.year)
    return holidays.order_by("date")


# Before the routes with a holiday id, which would match its path too.
@router.post("/calendar/holidays/load-public", response=PublicHolidaysLoaded)
@idempotent
def load_public_holidays(
    request: HttpRequest, org_slug: OrgSlug, payload: PublicHolidaysLoad
) -> dict[str, object]:
    """Add a country's public holidays of a year (Indonesia by default)."""
    access = admin_access(request, org_slug)
    added = chains.load_public_holidays(
        access.organisation,
        actor=access.user,
        year=payload.year,
        country=payload.country.strip().upper(),
    )
    return {"count": len(added), "items": added}


@router.get("/calendar/holidays/{holiday_id}", response=HolidayOut)
def get_holiday(request: HttpRequest, org_slug: OrgSlug, holiday_id: int) -> Holiday:
    return queries.holiday(org_access(request, org_slug), holiday_id)


@router.post("/calendar/holidays", response={201: HolidayOut})
@idempotent
def add_holiday(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: HolidayCreate,
    response: HttpResponse,
) -> Holiday:
    """A day off for the whole organisation; one per date."""
    access = admin_access(request, org_slug)
    holiday = chains.add_holiday(
        access.organisation, actor=access.user, date=payload.date, name=payload.name
    )
    response["Location"] = f"{request.path.rstrip('/')}/{holiday.pk}"
    return holiday


@router.delete("/calendar/holidays/{holiday_id}", response={204: None})
def remove_holiday(
    request: HttpRequest, org_slug: OrgSlug, holiday_id: int
) -> Status[None]:
    access = admin_access(request, org_slug)
    chains.remove_holiday(queries.holiday(access, holiday_id), actor=access.user)
    return Status(204, None)
