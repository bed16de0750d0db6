"""Who belongs to an organisation: invitations, joining, roles and ending access.

These live above `accounts` because a partner membership is bound to a party and
every change is audited in the organisation's chain.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import secrets

from django.conf import settings
from django.contrib.auth.password_validation import validate_password
from django.core.exceptions import ValidationError
from django.core.validators import validate_email
from django.db import transaction
from django.template.loader import render_to_string
from django.urls import reverse
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from rantai.accounts.models import Invitation, Membership, Organisation, Role, User
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.core import outbox
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import NotFound, ValidationFailed
from rantai.org import extensions
from rantai.org.models import Holding, Party, PartyKind

INVITATION_DAYS = 14


def _authority_may_have_moved(membership: Membership) -> None:
    """Who may decide follows the membership too (only administrators and members
    decide): tell the holders-changed handlers about the positions the member's
    person holds, so open approval stages are resolved again."""
    position_ids = list(
        Holding.objects.filter(
            organisation_id=membership.organisation_id,
            person__user_id=membership.user_id,
        )
        .current()
        .values_list("position_id", flat=True)
    )
    if position_ids:
        extensions.emit_holders_changed(
            extensions.holders_changed(
                membership.organisation_id, position_ids, timezone.now()
            )
        )


def _digest(raw: str) -> str:
    return hashlib.sha256(raw.encode()).hexdigest()


def _check_role_and_party(
    organisation: Organisation, role: str, party: Party | None
) -> None:
    if role not in Role.values:
        raise ValidationFailed({"role": [_("Choose a valid role.")]})
    if role == Role.PARTNER:
        if party is None:
            raise ValidationFailed(
                {"party": [_("A partner must be bound to an external partner party.")]}
            )
        if (
            party.organisation_id != organisation.pk
            or party.kind != PartyKind.EXTERNAL_PARTNER
        ):
            raise ValidationFailed(
                {"party": [_("Choose an external partner of this organisation.")]}
            )
        if not party.is_active:
            raise ValidationFailed({"party": [_("The party is deactivated.")]})
    elif party is not None:
        raise ValidationFailed(
            {"party": [_("Only partner memberships are bound to a party.")]}
        )


@transaction.atomic
def invite(
    organisation: Organisation,
    *,
    actor: User,
    email: str,
    role: str,
    party: Party | None = None,
    language: str | None = None,
) -> tuple[Invitation, str]:
    """Invite someone by e-mail; returns the invitation and the raw link token."""
    email = (email or "").strip().lower()
    try:
        validate_email(email)
    except ValidationError as error:
        raise ValidationFailed(
            {"email": [_("Enter a valid e-mail address.")]}
        ) from error
    _check_role_and_party(organisation, role, party)
    if Membership.objects.filter(
        organisation=organisation, user__email__iexact=email, is_active=True
    ).exists():
        raise ValidationFailed(
            {"email": [_("Someone with this e-mail address is already a member.")]}
        )
    raw = secrets.token_urlsafe(32)
    invitation = Invitation.objects.create(
        organisation=organisation,
        email=email,
        role=role,
        party=party,
        digest=_digest(raw),
        invited_by=actor,
        expires_at=timezone.now() + dt.timedelta(days=INVITATION_DAYS),
    )
    link = settings.RANTAI_BASE_URL.rstrip("/") + reverse(
        "accept-invitation", args=[raw]
    )
    with translation.override(language or actor.language or "en"):
        subject = _("You are invited to %(organisation)s on Rantai") % {
            "organisation": organisation.name
        }
        body = render_to_string(
            "accounts/email/invitation.txt",
            {
                "organisation": organisation,
                "inviter": actor,
                "link": link,
                "role": Role(role).label,
                "party": party,
                "days": INVITATION_DAYS,
            },
        )
    outbox.enqueue_email(recipient=email, subject=subject, body=body)
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.INVITED,
        target=invitation,
        changes={"role": role, "party": party.pk if party else None},
        personal_changes={"email": email},
        target_label=email,
    )
    return invitation, raw


def open_invitation(raw: str) -> Invitation:
    invitation = (
        Invitation.objects.select_related("organisation", "party")
        .filter(digest=_digest(raw or ""))
        .first()
    )
    if invitation is None or not invitation.is_open:
        raise NotFound(
            _("This invitation link is not valid any more. Ask for a new one.")
        )
    return invitation


@transaction.atomic
def accept_invitation(
    raw: str,
    *,
    user: User | None = None,
    username: str = "",
    full_name: str = "",
    password: str = "",
) -> Membership:
    """Join through an invitation: as a signed-in user, or by creating an account
    with a password the invitee chooses."""
    invitation = open_invitation(raw)
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if not invitation.is_open:
        raise NotFound(
            _("This invitation link is not valid any more. Ask for a new one.")
        )
    if user is None:
        errors: dict[str, list[str]] = {}
        username = username.strip()
        if not username:
            errors["username"] = [_("Choose a user name.")]
        elif User.objects.filter(username__iexact=username).exists():
            errors["username"] = [_("This user name is taken.")]
        if User.objects.filter(email__iexact=invitation.email).exists():
            errors["__all__"] = [
                _(
                    "An account with this e-mail address exists: sign in first, then open the link again."
                )
            ]
        candidate = User(
            username=username, email=invitation.email, full_name=full_name.strip()
        )
        try:
            validate_password(password, user=candidate)
        except ValidationError as error:
            errors["password"] = list(error.messages)
        if errors:
            raise ValidationFailed(errors)
        candidate.set_password(password)
        candidate.save()
        user = candidate
    elif user.email.lower() != invitation.email.lower():
        raise ValidationFailed(_("This invitation was sent to another e-mail address."))
    if Membership.objects.filter(
        user=user, organisation=invitation.organisation, is_active=True
    ).exists():
        raise ValidationFailed(_("You are already a member of this organisation."))
    membership = Membership.objects.create(
        user=user,
        organisation=invitation.organisation,
        role=invitation.role,
        party=invitation.party,
    )
    invitation.accepted_at = timezone.now()
    invitation.save(update_fields=["accepted_at"])
    audit.record(
        invitation.organisation,
        actor=user,
        verb=AuditVerb.JOINED,
        target=membership,
        changes={
            "user": user.pk,
            "role": membership.role,
            "party": membership.party_id,
            "invitation": invitation.pk,
        },
        target_label=user.display_name,
    )
    _authority_may_have_moved(membership)
    return membership


@transaction.atomic
def revoke_invitation(invitation: Invitation, *, actor: User) -> Invitation:
    invitation = Invitation.objects.select_for_update().get(pk=invitation.pk)
    if invitation.accepted_at is not None:
        raise ValidationFailed(_("This invitation was already accepted."))
    if invitation.revoked_at is None:
        invitation.revoked_at = timezone.now()
        invitation.save(update_fields=["revoked_at"])
        audit.record(
            invitation.organisation,
            actor=actor,
            verb=AuditVerb.INVITATION_REVOKED,
            target=invitation,
            target_label=invitation.email,
        )
    return invitation


@transaction.atomic
def add_member(
    organisation: Organisation,
    *,
    actor: User,
    user: User,
    role: str,
    party: Party | None = None,
) -> Membership:
    """Add an existing account directly (used by the demo loader and the CLI)."""
    _check_role_and_party(organisation, role, party)
    if Membership.objects.filter(
        user=user, organisation=organisation, is_active=True
    ).exists():
        raise ValidationFailed(_("This user is already a member of the organisation."))
    membership = Membership.objects.create(
        user=user, organisation=organisation, role=role, party=party
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.JOINED,
        target=membership,
        changes={"user": user.pk, "role": role, "party": party.pk if party else None},
        target_label=user.display_name,
    )
    _authority_may_have_moved(membership)
    return membership


def _check_last_admin(membership: Membership) -> None:
    if membership.role == Role.ADMIN:
        others = Membership.objects.filter(
            organisation_id=membership.organisation_id, role=Role.ADMIN, is_active=True
        ).exclude(pk=membership.pk)
        if not others.exists():
            raise ValidationFailed(
                _("An organisation needs at least one administrator.")
            )


@transaction.atomic
def change_role(
    membership: Membership,
    *,
    actor: User,
    expected_version: int | None,
    role: str,
    party: Party | None = None,
) -> Membership:
    organisation = Organisation.objects.select_for_update().get(
        pk=membership.organisation_id
    )
    _check_role_and_party(organisation, role, party)
    if role != Role.ADMIN:
        _check_last_admin(membership)
    before = {"role": membership.role, "party": membership.party_id}
    compare_and_set(
        membership,
        expected_version=expected_version,
        fields={
            "role": role,
            "party_id": party.pk if party else None,
            "updated_at": timezone.now(),
        },
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.MEMBERSHIP_CHANGED,
        target=membership,
        changes=audit.diff(
            before, {"role": role, "party": party.pk if party else None}
        ),
        target_label=membership.user.display_name,
    )
    if before["role"] != role:
        _authority_may_have_moved(membership)
    return membership


@transaction.atomic
def end_membership(
    membership: Membership, *, actor: User, expected_version: int | None
) -> Membership:
    """End access at once: every request re-checks the membership, sessions and
    tokens alike, so nothing else needs to be revoked."""
    organisation = Organisation.objects.select_for_update().get(
        pk=membership.organisation_id
    )
    if not membership.is_active:
        return membership
    _check_last_admin(membership)
    compare_and_set(
        membership,
        expected_version=expected_version,
        fields={
            "is_active": False,
            "ended_at": timezone.now(),
            "updated_at": timezone.now(),
        },
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.MEMBERSHIP_ENDED,
        target=membership,
        changes={"is_active": [True, False]},
        target_label=membership.user.display_name,
    )
    _authority_may_have_moved(membership)
    return membership
