"""The caller: their account and the organisations they belong to."""

from django.http import HttpRequest
from ninja import Router, Schema

from rantai.accounts.access import organisations_of
from rantai.accounts.models import Language, Membership, Role, User

router = Router(tags=["me"])


class OrganisationOut(Schema):
    slug: str
    name: str
    time_zone: str
    role: Role
    party_id: int | None
    membership_id: int

    @staticmethod
    def resolve_slug(membership: Membership) -> str:
        return membership.organisation.slug

    @staticmethod
    def resolve_name(membership: Membership) -> str:
        return membership.organisation.name

    @staticmethod
    def resolve_time_zone(membership: Membership) -> str:
        return membership.organisation.time_zone

    @staticmethod
    def resolve_membership_id(membership: Membership) -> int:
        return membership.pk


class MeOut(Schema):
    id: int
    username: str
    full_name: str
    email: str
    language: Language
    organisations: list[OrganisationOut]


@router.get("/me", response=MeOut)
def me(request: HttpRequest) -> dict[str, object]:
    """The signed-in user and their memberships."""
    user: User = request.auth  # type: ignore[attr-defined]
    return {
        "id": user.pk,
        "username": user.username,
        "full_name": user.full_name,
        "email": user.email,
        "language": user.language,
        "organisations": organisations_of(user),
    }


@router.get("/orgs", response=list[OrganisationOut])
def my_organisations(request: HttpRequest) -> list[Membership]:
    """The organisations the caller belongs to, with their role in each."""
    return organisations_of(request.auth)  # type: ignore[attr-defined]
