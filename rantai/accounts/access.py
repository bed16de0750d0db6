"""Who may do what inside one organisation, resolved per request from the database.

Nothing is cached in the session: ending a membership ends access at once, for
sessions and API tokens alike.
"""

from __future__ import annotations

from dataclasses import dataclass

from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.core.errors import NotFound, PermissionDenied


@dataclass(frozen=True, slots=True)
class Access:
    organisation: Organisation
    user: User
    membership: Membership

    @property
    def role(self) -> str:
        return self.membership.role

    @property
    def is_admin(self) -> bool:
        return self.membership.role == Role.ADMIN

    @property
    def is_auditor(self) -> bool:
        return self.membership.role == Role.AUDITOR

    @property
    def is_partner(self) -> bool:
        return self.membership.role == Role.PARTNER

    @property
    def partner_party_id(self) -> int | None:
        return self.membership.party_id if self.is_partner else None

    @property
    def sees_whole_organisation(self) -> bool:
        """Admins, members and auditors read everything; partners only their party."""
        return not self.is_partner

    @property
    def may_verify_audit(self) -> bool:
        return self.membership.role in (Role.ADMIN, Role.AUDITOR)

    def require_admin(self) -> None:
        if not self.is_admin:
            raise PermissionDenied(_("Only organisation administrators can do this."))

    def require_whole_organisation(self) -> None:
        if not self.sees_whole_organisation:
            raise NotFound()


def access_for(user: User | None, organisation_slug: str) -> Access:
    """The caller's access to an organisation; unknown and forbidden look the same."""
    if user is None or not user.is_authenticated or not user.is_active:
        raise NotFound()
    membership = (
        Membership.objects.select_related("organisation")
        .filter(
            user=user,
            organisation__slug=organisation_slug,
            organisation__is_active=True,
            is_active=True,
        )
        .first()
    )
    if membership is None:
        raise NotFound()
    return Access(
        organisation=membership.organisation, user=user, membership=membership
    )


def organisations_of(user: User) -> list[Membership]:
    return list(
        Membership.objects.select_related("organisation", "party")
        .filter(user=user, is_active=True, organisation__is_active=True)
        .order_by("organisation__name")
    )
