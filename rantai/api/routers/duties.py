"""Duties (tugas jabatan): the lines of a position's job description."""

import datetime as dt

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    admin_access,
    created,
    org_access,
    require,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.versions import IF_MATCH, expected_version
from rantai.org import queries
from rantai.org import services as org
from rantai.org.models import Duty

router = Router(tags=["duties"])


class DutyOut(Schema):
    id: int
    position_id: int
    title: str
    output_unit: str
    description: str
    sort_order: int
    is_active: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class DutyFilters(Schema):
    position_id: int | None = None
    is_active: bool | None = None


class DutyCreate(Schema):
    position_id: int
    title: str
    output_unit: str
    description: str = ""
    sort_order: int | None = Field(None, ge=0)


class DutyUpdate(Schema):
    title: str | None = None
    output_unit: str | None = None
    description: str | None = None
    sort_order: int | None = Field(None, ge=0)
    version: int | None = None


@router.get("/duties", response=list[DutyOut])
@paginate(Pagination)
def list_duties(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[DutyFilters]
) -> QuerySet[Duty]:
    duties = queries.duties(org_access(request, org_slug))
    if filters.position_id is not None:
        duties = duties.filter(position_id=filters.position_id)
    if filters.is_active is not None:
        duties = duties.filter(is_active=filters.is_active)
    return duties.order_by("position_id", "sort_order", "id")


@router.get("/duties/{duty_id}", response=DutyOut)
def get_duty(
    request: HttpRequest, org_slug: OrgSlug, duty_id: int, response: HttpResponse
) -> Duty:
    access = org_access(request, org_slug)
    return single(response, queries.get_or_404(queries.duties(access), duty_id))


@router.post("/duties", response={201: DutyOut})
@idempotent
def create_duty(
    request: HttpRequest, org_slug: OrgSlug, payload: DutyCreate, response: HttpResponse
) -> Duty:
    """Add a duty to a position; without `sort_order` it goes last."""
    access = admin_access(request, org_slug)
    duty = org.create_duty(
        require(queries.positions(access), payload.position_id, "position_id"),
        actor=access.user,
        title=payload.title,
        output_unit=payload.output_unit,
        description=payload.description,
        sort_order=payload.sort_order,
    )
    return created(request, response, duty)


@router.patch("/duties/{duty_id}", response=DutyOut, openapi_extra=IF_MATCH)
def update_duty(
    request: HttpRequest,
    org_slug: OrgSlug,
    duty_id: int,
    payload: DutyUpdate,
    response: HttpResponse,
) -> Duty:
    access = admin_access(request, org_slug)
    duty = queries.get_or_404(queries.duties(access), duty_id)
    version = expected_version(request, payload.version)
    changes = payload.model_dump(exclude_unset=True, exclude={"version"})
    duty = org.update_duty(duty, actor=access.user, expected_version=version, **changes)
    return single(response, duty)


@router.post("/duties/{duty_id}/deactivate", response=DutyOut, openapi_extra=IF_MATCH)
@idempotent
def deactivate_duty(
    request: HttpRequest,
    org_slug: OrgSlug,
    duty_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Duty:
    access = admin_access(request, org_slug)
    duty = queries.get_or_404(queries.duties(access), duty_id)
    duty = org.deactivate_duty(
        duty,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, duty)


@router.post("/duties/{duty_id}/reactivate", response=DutyOut, openapi_extra=IF_MATCH)
@idempotent
def reactivate_duty(
    request: HttpRequest,
    org_slug: OrgSlug,
    duty_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Duty:
    access = admin_access(request, org_slug)
    duty = queries.get_or_404(queries.duties(access), duty_id)
    duty = org.reactivate_duty(
        duty,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, duty)
