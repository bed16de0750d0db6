"""Parties: internal units (which nest) and external partners."""

import datetime as dt

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    admin_access,
    created,
    org_access,
    resolve,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.versions import IF_MATCH, expected_version
from rantai.org import queries
from rantai.org import services as org
from rantai.org.models import Party, PartyKind

router = Router(tags=["parties"])


class PartyOut(Schema):
    id: int
    kind: PartyKind
    name: str
    code: str
    parent_id: int | None
    description: str
    head_position_id: int | None
    is_active: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PartyFilters(Schema):
    kind: PartyKind | None = None
    parent_id: int | None = None
    is_active: bool | None = None
    q: str | None = None


class PartyCreate(Schema):
    kind: PartyKind
    name: str
    code: str
    parent_id: int | None = None
    description: str = ""


class PartyUpdate(Schema):
    name: str | None = None
    code: str | None = None
    description: str | None = None
    head_position_id: int | None = None
    version: int | None = None


class PartyMove(Schema):
    parent_id: int | None
    version: int | None = None


@router.get("/parties", response=list[PartyOut])
@paginate(Pagination)
def list_parties(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[PartyFilters]
) -> QuerySet[Party]:
    """Parties visible to the caller (a partner sees only its own party)."""
    parties = queries.parties(org_access(request, org_slug))
    if filters.kind is not None:
        parties = parties.filter(kind=filters.kind)
    if filters.parent_id is not None:
        parties = parties.filter(parent_id=filters.parent_id)
    if filters.is_active is not None:
        parties = parties.filter(is_active=filters.is_active)
    if filters.q:
        parties = parties.filter(
            Q(name__icontains=filters.q) | Q(code__icontains=filters.q)
        )
    return parties.order_by("kind", "name", "id")


@router.get("/parties/{party_id}", response=PartyOut)
def get_party(
    request: HttpRequest, org_slug: OrgSlug, party_id: int, response: HttpResponse
) -> Party:
    access = org_access(request, org_slug)
    return single(response, queries.get_or_404(queries.parties(access), party_id))


@router.post("/parties", response={201: PartyOut})
@idempotent
def create_party(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: PartyCreate,
    response: HttpResponse,
) -> Party:
    """Create a party; choose its head position afterwards (it needs positions)."""
    access = admin_access(request, org_slug)
    party = org.create_party(
        access.organisation,
        actor=access.user,
        kind=payload.kind,
        name=payload.name,
        code=payload.code,
        parent=resolve(queries.parties(access), payload.parent_id, "parent_id"),
        description=payload.description,
    )
    return created(request, response, party)


@router.patch("/parties/{party_id}", response=PartyOut, openapi_extra=IF_MATCH)
def update_party(
    request: HttpRequest,
    org_slug: OrgSlug,
    party_id: int,
    payload: PartyUpdate,
    response: HttpResponse,
) -> Party:
    """Change name, code, description or head position (move changes the place)."""
    access = admin_access(request, org_slug)
    party = queries.get_or_404(queries.parties(access), party_id)
    version = expected_version(request, payload.version)
    changes = payload.model_dump(exclude_unset=True, exclude={"version"})
    if "head_position_id" in changes:
        changes["head_position"] = resolve(
            queries.positions(access),
            changes.pop("head_position_id"),
            "head_position_id",
        )
    party = org.update_party(
        party, actor=access.user, expected_version=version, **changes
    )
    return single(response, party)


@router.post("/parties/{party_id}/move", response=PartyOut, openapi_extra=IF_MATCH)
@idempotent
def move_party(
    request: HttpRequest,
    org_slug: OrgSlug,
    party_id: int,
    payload: PartyMove,
    response: HttpResponse,
) -> Party:
    """Place a unit under another unit (`parent_id`), or at the top (null)."""
    access = admin_access(request, org_slug)
    party = queries.get_or_404(queries.parties(access), party_id)
    party = org.move_party(
        party,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        parent=resolve(queries.parties(access), payload.parent_id, "parent_id"),
    )
    return single(response, party)


@router.post(
    "/parties/{party_id}/deactivate", response=PartyOut, openapi_extra=IF_MATCH
)
@idempotent
def deactivate_party(
    request: HttpRequest,
    org_slug: OrgSlug,
    party_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Party:
    access = admin_access(request, org_slug)
    party = queries.get_or_404(queries.parties(access), party_id)
    party = org.deactivate_party(
        party,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, party)


@router.post(
    "/parties/{party_id}/reactivate", response=PartyOut, openapi_extra=IF_MATCH
)
@idempotent
def reactivate_party(
    request: HttpRequest,
    org_slug: OrgSlug,
    party_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Party:
    access = admin_access(request, org_slug)
    party = queries.get_or_404(queries.parties(access), party_id)
    party = org.reactivate_party(
        party,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, party)
