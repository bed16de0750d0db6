"""People of an organisation; a person may be linked to a login, need not be."""

import datetime as dt

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from rantai.accounts.access import Access
from rantai.accounts.models import User
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
from rantai.org.models import Person

router = Router(tags=["people"])


class PersonOut(Schema):
    id: int
    full_name: str
    email: str
    employee_number: str
    party_id: int | None
    user_id: int | None
    is_active: bool
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class PersonFilters(Schema):
    party_id: int | None = None
    is_active: bool | None = None
    q: str | None = None


class PersonCreate(Schema):
    full_name: str
    email: str = ""
    employee_number: str = ""
    party_id: int | None = None
    user_id: int | None = None


class PersonUpdate(Schema):
    full_name: str | None = None
    email: str | None = None
    employee_number: str | None = None
    party_id: int | None = None
    user_id: int | None = None
    version: int | None = None


def _members(access: Access) -> QuerySet[User]:
    """Logins a person may be linked to: the organisation's active members."""
    return User.objects.filter(
        memberships__organisation=access.organisation, memberships__is_active=True
    )


@router.get("/people", response=list[PersonOut])
@paginate(Pagination)
def list_people(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[PersonFilters]
) -> QuerySet[Person]:
    """People visible to the caller (a partner sees only its own party's)."""
    people = queries.people(org_access(request, org_slug))
    if filters.party_id is not None:
        people = people.filter(party_id=filters.party_id)
    if filters.is_active is not None:
        people = people.filter(is_active=filters.is_active)
    if filters.q:
        people = people.filter(
            Q(full_name__icontains=filters.q)
            | Q(email__icontains=filters.q)
            | Q(employee_number__iexact=filters.q)
        )
    return people.order_by("full_name", "id")


@router.get("/people/{person_id}", response=PersonOut)
def get_person(
    request: HttpRequest, org_slug: OrgSlug, person_id: int, response: HttpResponse
) -> Person:
    access = org_access(request, org_slug)
    return single(response, queries.get_or_404(queries.people(access), person_id))


@router.post("/people", response={201: PersonOut})
@idempotent
def create_person(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: PersonCreate,
    response: HttpResponse,
) -> Person:
    access = admin_access(request, org_slug)
    person = org.create_person(
        access.organisation,
        actor=access.user,
        full_name=payload.full_name,
        email=payload.email,
        employee_number=payload.employee_number,
        party=resolve(queries.parties(access), payload.party_id, "party_id"),
        user=resolve(_members(access), payload.user_id, "user_id"),
    )
    return created(request, response, person)


@router.patch("/people/{person_id}", response=PersonOut, openapi_extra=IF_MATCH)
def update_person(
    request: HttpRequest,
    org_slug: OrgSlug,
    person_id: int,
    payload: PersonUpdate,
    response: HttpResponse,
) -> Person:
    access = admin_access(request, org_slug)
    person = queries.get_or_404(queries.people(access), person_id)
    version = expected_version(request, payload.version)
    changes = payload.model_dump(exclude_unset=True, exclude={"version"})
    if "party_id" in changes:
        changes["party"] = resolve(
            queries.parties(access), changes.pop("party_id"), "party_id"
        )
    if "user_id" in changes:
        changes["user"] = resolve(_members(access), changes.pop("user_id"), "user_id")
    person = org.update_person(
        person, actor=access.user, expected_version=version, **changes
    )
    return single(response, person)


@router.post(
    "/people/{person_id}/deactivate", response=PersonOut, openapi_extra=IF_MATCH
)
@idempotent
def deactivate_person(
    request: HttpRequest,
    org_slug: OrgSlug,
    person_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Person:
    access = admin_access(request, org_slug)
    person = queries.get_or_404(queries.people(access), person_id)
    person = org.deactivate_person(
        person,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, person)


@router.post(
    "/people/{person_id}/reactivate", response=PersonOut, openapi_extra=IF_MATCH
)
@idempotent
def reactivate_person(
    request: HttpRequest,
    org_slug: OrgSlug,
    person_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Person:
    access = admin_access(request, org_slug)
    person = queries.get_or_404(queries.people(access), person_id)
    person = org.reactivate_person(
        person,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, person)
