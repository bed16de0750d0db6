"""Delegation of approval authority (pelimpahan wewenang) and absences.

A person lets another decide approvals on their behalf for a period — for every
route or only some; an absence can name a stand-in, which delegates for exactly
its period. Each person manages their own (absences: members and partners;
delegations: members), administrators anyone's; the services decide and refuse
everyone else with 403. Administrators and auditors read everyone's delegations
and absences, everyone else only their own.

Delegations are never chained: authority received by delegation cannot be passed
on (`rantai/approvals/delegation.py`).
"""

import datetime as dt
from typing import Literal

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    created,
    org_access,
    require,
    resolve,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.routers.approvals import field_names
from rantai.api.versions import IF_MATCH, expected_version
from rantai.approvals import delegation as delegations
from rantai.approvals.models import Delegation, Route
from rantai.core.errors import PermissionDenied, ValidationFailed
from rantai.org import queries as org_queries
from rantai.org import services as org
from rantai.org.models import Absence, AbsenceKind, Person
from rantai.org.queries import get_or_404

router = Router(tags=["delegations"])

# Service field names → request field names.
DELEGATION_FIELDS = {
    "delegator": "delegator_id",
    "delegate": "delegate_id",
    "routes": "route_ids",
    "absence": "absence_id",
}

DelegationStatus = Literal["upcoming", "active", "ended", "revoked", "cancelled"]
AbsenceStatus = Literal["upcoming", "current", "ended", "cancelled"]


# --- schemas ------------------------------------------------------------------------


class DelegationOut(Schema):
    id: int
    delegator_id: int = Field(..., description="The person on whose behalf (a.n.).")
    delegator_name: str
    delegate_id: int = Field(..., description="The person who may decide.")
    delegate_name: str
    starts_at: dt.datetime
    ends_at: dt.datetime = Field(..., description="It stops at this very moment.")
    route_ids: list[int] = Field(
        ..., description="Only for these approval routes; empty: for every route."
    )
    absence_id: int | None = Field(
        None, description="Made for this absence: cancelling it stops the delegation."
    )
    note: str
    created_by_id: int
    revoked_at: dt.datetime | None
    status: DelegationStatus = Field(
        ...,
        description="Now: upcoming, active, ended, revoked, or cancelled (its "
        "absence was).",
    )
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_delegator_name(delegation: Delegation) -> str:
        return delegation.delegator.full_name

    @staticmethod
    def resolve_delegate_name(delegation: Delegation) -> str:
        return delegation.delegate.full_name

    @staticmethod
    def resolve_route_ids(delegation: Delegation) -> list[int]:
        return sorted(route.pk for route in delegation.routes.all())

    @staticmethod
    def resolve_status(delegation: Delegation) -> str:
        now = timezone.now()
        absence = delegation.absence
        if delegation.revoked_at is not None and delegation.revoked_at <= now:
            return "revoked"
        if (
            absence is not None
            and absence.cancelled_at is not None
            and absence.cancelled_at <= now
        ):
            return "cancelled"
        if delegation.ends_at <= now:
            return "ended"
        if delegation.starts_at > now:
            return "upcoming"
        return "active"


class MyDelegationsOut(Schema):
    """Yours, working now or starting later."""

    given: list[DelegationOut]
    received: list[DelegationOut]


class DelegationFilters(Schema):
    person_id: int | None = Field(None, description="Given or received by this person.")
    direction: Literal["given", "received"] | None = Field(
        None, description="With `person_id`: only what they gave, or received."
    )
    current: bool | None = Field(
        None,
        description="true: working now or starting later; false: ended, revoked or "
        "cancelled.",
    )


class DelegationCreate(Schema):
    """Let `delegate_id` decide approvals on behalf of `delegator_id` (left out:
    yourself) from `starts_at` until `ends_at` (with their time zones)."""

    delegator_id: int | None = None
    delegate_id: int
    starts_at: dt.datetime
    ends_at: dt.datetime
    route_ids: list[int] = Field(
        default_factory=list, description="Only these routes; empty: every route."
    )
    note: str = ""
    absence_id: int | None = Field(
        None, description="An absence of the delegator this delegation is for."
    )


class AbsenceOut(Schema):
    id: int
    person_id: int
    person_name: str
    kind: AbsenceKind
    starts_at: dt.datetime
    ends_at: dt.datetime
    note: str
    created_by_id: int
    cancelled_at: dt.datetime | None
    delegation_id: int | None = Field(
        None, description="The delegation to the stand-in, if one was named."
    )
    delegate_id: int | None = Field(None, description="The stand-in (person).")
    status: AbsenceStatus
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_person_name(absence: Absence) -> str:
        return absence.person.full_name

    @staticmethod
    def resolve_delegation_id(absence: Absence) -> int | None:
        delegation = _delegation_of(absence)
        return delegation.pk if delegation is not None else None

    @staticmethod
    def resolve_delegate_id(absence: Absence) -> int | None:
        delegation = _delegation_of(absence)
        return delegation.delegate_id if delegation is not None else None

    @staticmethod
    def resolve_status(absence: Absence) -> str:
        now = timezone.now()
        if absence.cancelled_at is not None and absence.cancelled_at <= now:
            return "cancelled"
        if absence.ends_at <= now:
            return "ended"
        if absence.starts_at > now:
            return "upcoming"
        return "current"


class AbsenceFilters(Schema):
    person_id: int | None = None
    current: bool | None = Field(
        None, description="true: not over yet (current or coming); false: over."
    )
    include_cancelled: bool = False


class AbsenceCreate(Schema):
    """Record that `person_id` (left out: yourself) is away from `starts_at` until
    `ends_at`; with `delegate_id`, that person decides their approvals for exactly
    that period (both or neither)."""

    person_id: int | None = None
    kind: AbsenceKind = AbsenceKind.LEAVE
    starts_at: dt.datetime
    ends_at: dt.datetime
    note: str = ""
    delegate_id: int | None = None


# --- access -------------------------------------------------------------------------


def _sees_everyone(access: Access) -> bool:
    return access.is_admin or access.is_auditor


def _delegation_of(absence: Absence) -> Delegation | None:
    try:
        return absence.delegation  # type: ignore[no-any-return]
    except Delegation.DoesNotExist:
        return None


def _own_person(access: Access) -> Person | None:
    return (
        Person.objects.filter(
            organisation=access.organisation, user=access.user, is_active=True
        )
        .order_by("id")
        .first()
    )


def _person_or_me(access: Access, person_id: int | None, field: str) -> Person:
    """The person a body names, or the caller's own."""
    if person_id is not None:
        return require(org_queries.people(access), person_id, field)
    me = _own_person(access)
    if me is None:
        raise ValidationFailed(
            {field: [_("Your login is not linked to a person of this organisation.")]}
        )
    return me


def _delegations(access: Access) -> QuerySet[Delegation]:
    """The delegations the caller may read (administrators and auditors: all)."""
    found = Delegation.objects.filter(organisation=access.organisation)
    if not _sees_everyone(access):
        found = found.filter(
            Q(delegator__user=access.user) | Q(delegate__user=access.user)
        )
    return found.select_related("delegator", "delegate", "absence").prefetch_related(
        "routes"
    )


def _absences(access: Access) -> QuerySet[Absence]:
    """The absences the caller may read (administrators and auditors: all)."""
    found = Absence.objects.filter(organisation=access.organisation)
    if not _sees_everyone(access):
        found = found.filter(person__user=access.user)
    return found.select_related("person", "delegation")


def _still(now: dt.datetime) -> Q:
    """Working now or starting later."""
    return (
        Q(ends_at__gt=now)
        & Q(revoked_at__isnull=True)
        & (Q(absence__isnull=True) | Q(absence__cancelled_at__isnull=True))
    )


# --- delegations --------------------------------------------------------------------


@router.get("/delegations/mine", response=MyDelegationsOut)
def my_delegations(
    request: HttpRequest, org_slug: OrgSlug
) -> dict[str, list[Delegation]]:
    """What you delegated and what was delegated to you, working now or starting
    later, in time order."""
    access = org_access(request, org_slug)
    me = _own_person(access)
    if me is None:
        return {"given": [], "received": []}
    mine = delegations.delegations_of(me.pk, at=timezone.now())
    return {"given": mine.given, "received": mine.received}


@router.get("/delegations", response=list[DelegationOut])
@paginate(Pagination)
def list_delegations(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[DelegationFilters]
) -> QuerySet[Delegation]:
    """Delegations, latest start first: administrators and auditors see the
    organisation's, everyone else those they gave or received."""
    found = _delegations(org_access(request, org_slug))
    if filters.person_id is not None:
        if filters.direction == "given":
            found = found.filter(delegator_id=filters.person_id)
        elif filters.direction == "received":
            found = found.filter(delegate_id=filters.person_id)
        else:
            found = found.filter(
                Q(delegator_id=filters.person_id) | Q(delegate_id=filters.person_id)
            )
    if filters.current is not None:
        still = _still(timezone.now())
        found = found.filter(still) if filters.current else found.exclude(still)
    return found.order_by("-starts_at", "-id")


@router.get("/delegations/{delegation_id}", response=DelegationOut)
def get_delegation(
    request: HttpRequest,
    org_slug: OrgSlug,
    delegation_id: int,
    response: HttpResponse,
) -> Delegation:
    access = org_access(request, org_slug)
    return single(response, get_or_404(_delegations(access), delegation_id))


@router.post("/delegations", response={201: DelegationOut})
@idempotent
def create_delegation(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: DelegationCreate,
    response: HttpResponse,
) -> Delegation:
    """The delegator themselves (as a member) or an administrator delegates; the
    delegate must be a person with a login as an administrator or member."""
    access = org_access(request, org_slug)
    if access.role not in (Role.ADMIN, Role.MEMBER):
        # Auditors and partners take no part in approvals: refused before anything
        # is looked up.
        raise PermissionDenied(
            _("Only administrators and members delegate approval authority.")
        )
    routes = list(
        Route.objects.filter(organisation=access.organisation, pk__in=payload.route_ids)
    )
    if len(routes) != len(set(payload.route_ids)):
        raise ValidationFailed({"route_ids": [_("There is no such record here.")]})
    with field_names(DELEGATION_FIELDS):
        delegation = delegations.delegate(
            _person_or_me(access, payload.delegator_id, "delegator_id"),
            actor=access.user,
            delegate=require(
                org_queries.people(access), payload.delegate_id, "delegate_id"
            ),
            starts_at=payload.starts_at,
            ends_at=payload.ends_at,
            routes=routes,
            note=payload.note,
            absence=resolve(
                Absence.objects.filter(organisation=access.organisation),
                payload.absence_id,
                "absence_id",
            ),
        )
    return created(request, response, _delegations(access).get(pk=delegation.pk))


@router.post(
    "/delegations/{delegation_id}/revoke",
    response=DelegationOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def revoke_delegation(
    request: HttpRequest,
    org_slug: OrgSlug,
    delegation_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Delegation:
    """End it now (the delegator or an administrator)."""
    access = org_access(request, org_slug)
    delegations.revoke(
        get_or_404(_delegations(access), delegation_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, _delegations(access).get(pk=delegation_id))


# --- absences -----------------------------------------------------------------------


@router.get("/absences", response=list[AbsenceOut])
@paginate(Pagination)
def list_absences(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[AbsenceFilters]
) -> QuerySet[Absence]:
    """Absences, latest start first: administrators and auditors see everyone's,
    everyone else their own. Cancelled ones only when asked for."""
    found = _absences(org_access(request, org_slug))
    if filters.person_id is not None:
        found = found.filter(person_id=filters.person_id)
    if not filters.include_cancelled:
        found = found.filter(cancelled_at__isnull=True)
    if filters.current is not None:
        over = Q(ends_at__lte=timezone.now())
        found = found.exclude(over) if filters.current else found.filter(over)
    return found.order_by("-starts_at", "-id")


@router.get("/absences/{absence_id}", response=AbsenceOut)
def get_absence(
    request: HttpRequest, org_slug: OrgSlug, absence_id: int, response: HttpResponse
) -> Absence:
    access = org_access(request, org_slug)
    return single(response, get_or_404(_absences(access), absence_id))


@router.post("/absences", response={201: AbsenceOut})
@idempotent
def record_absence(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: AbsenceCreate,
    response: HttpResponse,
) -> Absence:
    """The person themselves or an administrator; absences of one person never
    overlap. With a stand-in, the delegation is made in the same transaction."""
    access = org_access(request, org_slug)
    with field_names(DELEGATION_FIELDS):
        absence = delegations.record_absence(
            _person_or_me(access, payload.person_id, "person_id"),
            actor=access.user,
            kind=payload.kind,
            starts_at=payload.starts_at,
            ends_at=payload.ends_at,
            delegate=resolve(
                org_queries.people(access), payload.delegate_id, "delegate_id"
            ),
            note=payload.note,
        )
    return created(request, response, _absences(access).get(pk=absence.pk))


@router.post(
    "/absences/{absence_id}/cancel", response=AbsenceOut, openapi_extra=IF_MATCH
)
@idempotent
def cancel_absence(
    request: HttpRequest,
    org_slug: OrgSlug,
    absence_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Absence:
    """Cancel an absence that has not ended (the person themselves or an
    administrator); a delegation made for it stops at once."""
    access = org_access(request, org_slug)
    org.cancel_absence(
        get_or_404(_absences(access), absence_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, _absences(access).get(pk=absence_id))
