"""Who belongs to the organisation: memberships (with a role) and invitations."""

import datetime as dt

from django.db.models import Q, QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from rantai.accounts.access import Access
from rantai.accounts.models import Invitation, Language, Membership, Role
from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    admin_access,
    oversight_access,
    resolve,
)
from rantai.api.idempotency import idempotent
from rantai.api.versions import IF_MATCH, expected_version, with_etag
from rantai.org import membership as members
from rantai.org import queries

router = Router(tags=["memberships"])


class MemberUserOut(Schema):
    id: int
    username: str
    full_name: str
    email: str


class MembershipOut(Schema):
    id: int
    user: MemberUserOut
    role: Role
    party_id: int | None
    is_active: bool
    ended_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class MembershipFilters(Schema):
    role: Role | None = None
    party_id: int | None = None
    is_active: bool | None = None


class MembershipUpdate(Schema):
    """Change the role; a partner membership names its external party."""

    role: Role | None = None
    party_id: int | None = None
    version: int | None = None


class InvitationOut(Schema):
    id: int
    email: str
    role: Role
    party_id: int | None
    invited_by_id: int
    status: str
    created_at: dt.datetime
    expires_at: dt.datetime
    accepted_at: dt.datetime | None
    revoked_at: dt.datetime | None

    @staticmethod
    def resolve_status(invitation: Invitation) -> str:
        if invitation.accepted_at is not None:
            return "accepted"
        if invitation.revoked_at is not None:
            return "revoked"
        if invitation.expires_at <= timezone.now():
            return "expired"
        return "open"


class InvitationFilters(Schema):
    open: bool | None = None


class InvitationCreate(Schema):
    email: str
    role: Role
    party_id: int | None = None
    language: Language | None = None


def _memberships(access: Access) -> QuerySet[Membership]:
    return Membership.objects.filter(organisation=access.organisation).select_related(
        "user"
    )


def _invitations(access: Access) -> QuerySet[Invitation]:
    return Invitation.objects.filter(organisation=access.organisation)


# --- memberships --------------------------------------------------------------------


@router.get("/memberships", response=list[MembershipOut])
@paginate(Pagination)
def list_memberships(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[MembershipFilters]
) -> QuerySet[Membership]:
    """Members of the organisation (administrators and auditors)."""
    memberships = _memberships(oversight_access(request, org_slug))
    if filters.role is not None:
        memberships = memberships.filter(role=filters.role)
    if filters.party_id is not None:
        memberships = memberships.filter(party_id=filters.party_id)
    if filters.is_active is not None:
        memberships = memberships.filter(is_active=filters.is_active)
    return memberships.order_by("-is_active", "user__username", "id")


@router.get("/memberships/{membership_id}", response=MembershipOut)
def get_membership(
    request: HttpRequest, org_slug: OrgSlug, membership_id: int, response: HttpResponse
) -> Membership:
    access = oversight_access(request, org_slug)
    membership = queries.get_or_404(_memberships(access), membership_id)
    with_etag(response, membership)
    return membership


@router.patch(
    "/memberships/{membership_id}", response=MembershipOut, openapi_extra=IF_MATCH
)
def update_membership(
    request: HttpRequest,
    org_slug: OrgSlug,
    membership_id: int,
    payload: MembershipUpdate,
    response: HttpResponse,
) -> Membership:
    """Change a member's role. Fields left out keep their value."""
    access = admin_access(request, org_slug)
    membership = queries.get_or_404(_memberships(access), membership_id)
    version = expected_version(request, payload.version)
    role = payload.role if payload.role is not None else Role(membership.role)
    if "party_id" in payload.model_fields_set:
        party = resolve(queries.parties(access), payload.party_id, "party_id")
    else:
        party = membership.party if role == Role.PARTNER else None
    membership = members.change_role(
        membership, actor=access.user, expected_version=version, role=role, party=party
    )
    with_etag(response, membership)
    return membership


@router.post(
    "/memberships/{membership_id}/end",
    response=MembershipOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def end_membership(
    request: HttpRequest,
    org_slug: OrgSlug,
    membership_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Membership:
    """End a membership: the person loses access at once (sessions and tokens)."""
    access = admin_access(request, org_slug)
    membership = queries.get_or_404(_memberships(access), membership_id)
    membership = members.end_membership(
        membership,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    with_etag(response, membership)
    return membership


# --- invitations --------------------------------------------------------------------


@router.get("/invitations", response=list[InvitationOut], tags=["invitations"])
@paginate(Pagination)
def list_invitations(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[InvitationFilters]
) -> QuerySet[Invitation]:
    """Invitations of the organisation (administrators and auditors)."""
    invitations = _invitations(oversight_access(request, org_slug))
    if filters.open is not None:
        is_open = Q(
            accepted_at__isnull=True,
            revoked_at__isnull=True,
            expires_at__gt=timezone.now(),
        )
        invitations = (
            invitations.filter(is_open)
            if filters.open
            else invitations.exclude(is_open)
        )
    return invitations.order_by("-created_at", "-id")


@router.get(
    "/invitations/{invitation_id}", response=InvitationOut, tags=["invitations"]
)
def get_invitation(
    request: HttpRequest, org_slug: OrgSlug, invitation_id: int
) -> Invitation:
    access = oversight_access(request, org_slug)
    return queries.get_or_404(_invitations(access), invitation_id)


@router.post("/invitations", response={201: InvitationOut}, tags=["invitations"])
@idempotent
def create_invitation(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: InvitationCreate,
    response: HttpResponse,
) -> Invitation:
    """Invite someone by e-mail; the link goes out by e-mail only (never here)."""
    access = admin_access(request, org_slug)
    invitation, _raw = members.invite(
        access.organisation,
        actor=access.user,
        email=payload.email,
        role=payload.role,
        party=resolve(queries.parties(access), payload.party_id, "party_id"),
        language=payload.language,
    )
    response["Location"] = f"{request.path.rstrip('/')}/{invitation.pk}"
    return invitation


@router.post(
    "/invitations/{invitation_id}/revoke",
    response=InvitationOut,
    tags=["invitations"],
)
@idempotent
def revoke_invitation(
    request: HttpRequest, org_slug: OrgSlug, invitation_id: int
) -> Invitation:
    access = admin_access(request, org_slug)
    invitation = queries.get_or_404(_invitations(access), invitation_id)
    return members.revoke_invitation(invitation, actor=access.user)
