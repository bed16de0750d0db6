"""Positions (jabatan): in a party, with a superior and a number of holders."""

import datetime as dt

from django.db.models import Q, QuerySet
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
    resolve,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.versions import IF_MATCH, expected_version
from rantai.org import queries
from rantai.org import services as org
from rantai.org.models import Position

router = Router(tags=["positions"])


class PositionOut(Schema):
    id: int
    party_id: int
    title: str
    code: str
    superior_id: int | None
    job_summary: str
    max_holders: int
    is_active: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PositionFilters(Schema):
    party_id: int | None = None
    superior_id: int | None = None
    is_active: bool | None = None
    q: str | None = None


class PositionCreate(Schema):
    party_id: int
    title: str
    code: str
    superior_id: int | None = None
    job_summary: str = ""
    max_holders: int = Field(1, ge=1, le=32767)


class PositionUpdate(Schema):
    title: str | None = None
    code: str | None = None
    job_summary: str | None = None
    max_holders: int | None = Field(None, ge=1, le=32767)
    version: int | None = None


class PositionMove(Schema):
    """Fields left out keep their value; `superior_id: null` removes the superior."""

    party_id: int | None = None
    superior_id: int | None = None
    version: int | None = None


@router.get("/positions", response=list[PositionOut])
@paginate(Pagination)
def list_positions(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[PositionFilters]
) -> QuerySet[Position]:
    """Positions visible to the caller (a partner sees only its own party's)."""
    positions = queries.positions(org_access(request, org_slug))
    if filters.party_id is not None:
        positions = positions.filter(party_id=filters.party_id)
    if filters.superior_id is not None:
        positions = positions.filter(superior_id=filters.superior_id)
    if filters.is_active is not None:
        positions = positions.filter(is_active=filters.is_active)
    if filters.q:
        positions = positions.filter(
            Q(title__icontains=filters.q) | Q(code__icontains=filters.q)
        )
    return positions.order_by("title", "id")


@router.get("/positions/{position_id}", response=PositionOut)
def get_position(
    request: HttpRequest, org_slug: OrgSlug, position_id: int, response: HttpResponse
) -> Position:
    access = org_access(request, org_slug)
    return single(response, queries.get_or_404(queries.positions(access), position_id))


@router.post("/positions", response={201: PositionOut})
@idempotent
def create_position(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: PositionCreate,
    response: HttpResponse,
) -> Position:
    access = admin_access(request, org_slug)
    position = org.create_position(
        access.organisation,
        actor=access.user,
        party=require(queries.parties(access), payload.party_id, "party_id"),
        title=payload.title,
        code=payload.code,
        superior=resolve(queries.positions(access), payload.superior_id, "superior_id"),
        job_summary=payload.job_summary,
        max_holders=payload.max_holders,
    )
    return created(request, response, position)


@router.patch("/positions/{position_id}", response=PositionOut, openapi_extra=IF_MATCH)
def update_position(
    request: HttpRequest,
    org_slug: OrgSlug,
    position_id: int,
    payload: PositionUpdate,
    response: HttpResponse,
) -> Position:
    """Change title, code, job description or the number of holders allowed."""
    access = admin_access(request, org_slug)
    position = queries.get_or_404(queries.positions(access), position_id)
    version = expected_version(request, payload.version)
    changes = payload.model_dump(exclude_unset=True, exclude={"version"})
    position = org.update_position(
        position, actor=access.user, expected_version=version, **changes
    )
    return single(response, position)


@router.post(
    "/positions/{position_id}/move", response=PositionOut, openapi_extra=IF_MATCH
)
@idempotent
def move_position(
    request: HttpRequest,
    org_slug: OrgSlug,
    position_id: int,
    payload: PositionMove,
    response: HttpResponse,
) -> Position:
    """Change the party and/or the superior. Refuses cycles in the superior line."""
    access = admin_access(request, org_slug)
    position = queries.get_or_404(queries.positions(access), position_id)
    sent = payload.model_fields_set
    party = (
        require(queries.parties(access), payload.party_id, "party_id")
        if payload.party_id is not None
        else position.party
    )
    superior = (
        resolve(queries.positions(access), payload.superior_id, "superior_id")
        if "superior_id" in sent
        else position.superior
    )
    position = org.move_position(
        position,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        party=party,
        superior=superior,
    )
    return single(response, position)


@router.post(
    "/positions/{position_id}/deactivate",
    response=PositionOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def deactivate_position(
    request: HttpRequest,
    org_slug: OrgSlug,
    position_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Position:
    access = admin_access(request, org_slug)
    position = queries.get_or_404(queries.positions(access), position_id)
    position = org.deactivate_position(
        position,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, position)


@router.post(
    "/positions/{position_id}/reactivate",
    response=PositionOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def reactivate_position(
    request: HttpRequest,
    org_slug: OrgSlug,
    position_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Position:
    access = admin_access(request, org_slug)
    position = queries.get_or_404(queries.positions(access), position_id)
    position = org.reactivate_position(
        position,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, position)
