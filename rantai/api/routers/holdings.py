"""Holders: who holds which position, from when until when, acting (Plt) or not."""

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from rantai.api.common import (
    OrgSlug,
    Pagination,
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
from rantai.org.models import Holding

router = Router(tags=["holdings"])


class HoldingOut(Schema):
    id: int
    position_id: int
    person_id: int
    start_date: dt.date
    end_date: dt.date | None
    is_acting: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class HoldingFilters(Schema):
    position_id: int | None = None
    person_id: int | None = None
    current: bool | None = None


class HoldingCreate(Schema):
    position_id: int
    person_id: int
    start_date: dt.date
    end_date: dt.date | None = None
    is_acting: bool = False


class HoldingUpdate(Schema):
    """Fields left out keep their value; `end_date: null` makes it open-ended."""

    start_date: dt.date | None = None
    end_date: dt.date | None = None
    is_acting: bool | None = None
    version: int | None = None


class HoldingEnd(Schema):
    end_date: dt.date
    version: int | None = None


@router.get("/holdings", response=list[HoldingOut])
@paginate(Pagination)
def list_holdings(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[HoldingFilters]
) -> QuerySet[Holding]:
    """Holdings visible to the caller; `current` means on the organisation's today."""
    access = org_access(request, org_slug)
    holdings = queries.holdings(access)
    if filters.position_id is not None:
        holdings = holdings.filter(position_id=filters.position_id)
    if filters.person_id is not None:
        holdings = holdings.filter(person_id=filters.person_id)
    if filters.current is not None:
        current = Holding.objects.current(queries.today_for(access)).values("pk")
        holdings = (
            holdings.filter(pk__in=current)
            if filters.current
            else holdings.exclude(pk__in=current)
        )
    return holdings.order_by("-start_date", "id")


@router.get("/holdings/{holding_id}", response=HoldingOut)
def get_holding(
    request: HttpRequest, org_slug: OrgSlug, holding_id: int, response: HttpResponse
) -> Holding:
    access = org_access(request, org_slug)
    return single(response, queries.get_or_404(queries.holdings(access), holding_id))


@router.post("/holdings", response={201: HoldingOut})
@idempotent
def create_holding(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: HoldingCreate,
    response: HttpResponse,
) -> Holding:
    """Appoint a person to a position (definitive, or acting with `is_acting`)."""
    access = admin_access(request, org_slug)
    holding = org.assign_holder(
        require(queries.positions(access), payload.position_id, "position_id"),
        actor=access.user,
        person=require(queries.people(access), payload.person_id, "person_id"),
        start_date=payload.start_date,
        end_date=payload.end_date,
        is_acting=payload.is_acting,
    )
    return created(request, response, holding)


@router.patch("/holdings/{holding_id}", response=HoldingOut, openapi_extra=IF_MATCH)
def update_holding(
    request: HttpRequest,
    org_slug: OrgSlug,
    holding_id: int,
    payload: HoldingUpdate,
    response: HttpResponse,
) -> Holding:
    access = admin_access(request, org_slug)
    holding = queries.get_or_404(
        queries.holdings(access).select_related("person"), holding_id
    )
    version = expected_version(request, payload.version)
    changes: dict[str, Any] = payload.model_dump(
        exclude_unset=True, exclude={"version"}
    )
    holding = org.update_holding(
        holding, actor=access.user, expected_version=version, **changes
    )
    return single(response, holding)


@router.post("/holdings/{holding_id}/end", response=HoldingOut, openapi_extra=IF_MATCH)
@idempotent
def end_holding(
    request: HttpRequest,
    org_slug: OrgSlug,
    holding_id: int,
    payload: HoldingEnd,
    response: HttpResponse,
) -> Holding:
    """End a holding: the person no longer holds the position after `end_date`."""
    access = admin_access(request, org_slug)
    holding = queries.get_or_404(queries.holdings(access), holding_id)
    holding = org.end_holding(
        holding,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        end_date=payload.end_date,
    )
    return single(response, holding)
