"""Who belongs to an organisation: invitations, joining, roles and ending access."""

from __future__ import annotations

import datetime as dt
from unittest import mock

import pytest
from django.conf import settings
from django.core import mail
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from rantai.accounts.access import access_for
from rantai.accounts.models import Invitation, Membership, Role, User
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.core.errors import Conflict, NotFound, ValidationFailed
from rantai.core.models import OutboxMessage, OutboxStatus
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import PartyKind
from rantai.testing import PASSWORD, make_user

NEW_PASSWORD = "teak-lantern-river-42"
NOT_VALID_ANY_MORE = "This invitation link is not valid any more. Ask for a new one."


def membership_of(user: User, small_org) -> Membership:  # type: ignore[no-untyped-def]
    return Membership.objects.get(
        user=user, organisation=small_org.organisation, is_active=True
    )


def counts() -> tuple[int, int, int, int]:
    return (
        Invitation.objects.count(),
        OutboxMessage.objects.count(),
        Membership.objects.count(),
        User.objects.count(),
    )


# --- inviting -------------------------------------------------------------------


def test_an_invitation_is_queued_in_the_outbox_and_mailed_after_commit(
    acme, audit_trail, django_capture_on_commit_callbacks
):
    trail = audit_trail(acme.organisation)

    # when the admin invites someone, the e-mail is only queued until commit
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        invitation, raw = membership.invite(
            acme.organisation,
            actor=acme.admin,
            email=" Siti@Example.TEST ",
            role=Role.MEMBER,
        )
        queued = OutboxMessage.objects.get()
        assert (queued.status, mail.outbox) == (OutboxStatus.PENDING, [])

    # then after commit exactly one e-mail went out, with the one-time link
    assert len(callbacks) == 1
    assert (invitation.email, invitation.role, invitation.party) == (
        "siti@example.test",
        Role.MEMBER,
        None,
    )
    valid_for = invitation.expires_at - invitation.created_at
    assert abs(valid_for - dt.timedelta(days=14)) < dt.timedelta(seconds=1)
    assert invitation.digest != raw and raw not in invitation.digest
    [message] = mail.outbox
    assert message.to == ["siti@example.test"]
    assert message.subject == "You are invited to Acme Ltd on Rantai"
    link = settings.RANTAI_BASE_URL.rstrip("/") + reverse(
        "accept-invitation", args=[raw]
    )
    assert link in message.body
    assert "Admin invites you to join Acme Ltd on Rantai as Member." in message.body
    queued.refresh_from_db()
    assert (queued.recipient, queued.status, queued.attempts) == (
        "siti@example.test",
        OutboxStatus.SENT,
        1,
    )
    # and the audit event keeps the e-mail address out of the hashed half
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.INVITED,
        "accounts.invitation",
        str(invitation.pk),
    )
    assert event.changes == {"role": "member", "party": None}
    assert event.personal.changes == {"email": "siti@example.test"}
    assert event.personal.target_label == "siti@example.test"


def test_an_invitation_rolled_back_with_its_transaction_sends_nothing(
    acme, audit_trail, django_capture_on_commit_callbacks
):
    trail = audit_trail(acme.organisation)
    before = counts()

    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(RuntimeError),
        transaction.atomic(),
    ):
        membership.invite(
            acme.organisation,
            actor=acme.admin,
            email="siti@example.test",
            role=Role.MEMBER,
        )
        raise RuntimeError("the surrounding work failed")

    assert callbacks == []
    assert mail.outbox == []
    assert counts() == before
    trail.assert_nothing_new()


def test_an_invitation_to_a_partner_names_the_partner_party(
    acme, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        invitation, _raw = membership.invite(
            acme.organisation,
            actor=acme.admin,
            email="ops@forwarder.test",
            role=Role.PARTNER,
            party=acme.forwarder,
        )

    assert (invitation.role, invitation.party) == (Role.PARTNER, acme.forwarder)
    [message] = mail.outbox
    assert "You will act for the external partner Fast Forwarding" in message.body


@pytest.mark.parametrize(
    ("make_kwargs", "errors"),
    [
        (
            lambda o, x: {"role": Role.PARTNER, "party": None},
            {"party": ["A partner must be bound to an external partner party."]},
        ),
        (
            lambda o, x: {"role": Role.PARTNER, "party": o.export},
            {"party": ["Choose an external partner of this organisation."]},
        ),
        (
            lambda o, x: {"role": Role.PARTNER, "party": x.forwarder},
            {"party": ["Choose an external partner of this organisation."]},
        ),
        (
            lambda o, x: {"role": Role.MEMBER, "party": o.forwarder},
            {"party": ["Only partner memberships are bound to a party."]},
        ),
        (lambda o, x: {"role": "owner"}, {"role": ["Choose a valid role."]}),
        (
            lambda o, x: {"role": Role.MEMBER, "email": "not-an-address"},
            {"email": ["Enter a valid e-mail address."]},
        ),
        (
            lambda o, x: {"role": Role.AUDITOR, "email": "MEMBER@example.test"},
            {"email": ["Someone with this e-mail address is already a member."]},
        ),
    ],
    ids=[
        "partner-without-party",
        "partner-with-internal-unit",
        "partner-of-another-organisation",
        "member-with-party",
        "unknown-role",
        "bad-email",
        "already-a-member",
    ],
)
def test_invitations_refuse_invalid_roles_parties_and_addresses(
    acme,
    other_org,
    audit_trail,
    django_capture_on_commit_callbacks,
    make_kwargs,
    errors,
):
    trail = audit_trail(acme.organisation)
    before = counts()
    kwargs = {"email": "siti@example.test"} | make_kwargs(acme, other_org)

    with (
        django_capture_on_commit_callbacks(execute=True),
        pytest.raises(ValidationFailed) as refused,
    ):
        membership.invite(acme.organisation, actor=acme.admin, **kwargs)

    assert refused.value.errors == errors
    assert counts() == before
    assert mail.outbox == []
    trail.assert_nothing_new()


def test_a_partner_cannot_be_invited_for_a_deactivated_party(acme, audit_trail):
    carrier = org.create_party(
        acme.organisation,
        actor=acme.admin,
        kind=PartyKind.EXTERNAL_PARTNER,
        name="Carrier",
        code="CAR",
    )
    carrier = org.deactivate_party(carrier, actor=acme.admin, expected_version=1)
    trail = audit_trail(acme.organisation)
    before = counts()

    with pytest.raises(ValidationFailed) as refused:
        membership.invite(
            acme.organisation,
            actor=acme.admin,
            email="ops@carrier.test",
            role=Role.PARTNER,
            party=carrier,
        )

    assert refused.value.errors == {"party": ["The party is deactivated."]}
    assert counts() == before
    trail.assert_nothing_new()


# --- accepting ------------------------------------------------------------------


def test_accepting_creates_an_account_with_the_chosen_password(acme, audit_trail):
    invitation, raw = membership.invite(
        acme.organisation,
        actor=acme.admin,
        email="siti@example.test",
        role=Role.AUDITOR,
    )
    trail = audit_trail(acme.organisation)

    joined = membership.accept_invitation(
        raw, username=" siti ", full_name=" Siti Aminah ", password=NEW_PASSWORD
    )

    user = User.objects.get(username="siti")
    assert (user.email, user.full_name) == ("siti@example.test", "Siti Aminah")
    assert user.check_password(NEW_PASSWORD)
    assert (joined.user, joined.role, joined.party, joined.is_active) == (
        user,
        Role.AUDITOR,
        None,
        True,
    )
    invitation.refresh_from_db()
    assert invitation.accepted_at is not None
    assert access_for(user, "acme").role == Role.AUDITOR
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id, event.actor_id) == (
        AuditVerb.JOINED,
        "accounts.membership",
        str(joined.pk),
        user.pk,
    )
    assert event.changes == {
        "user": user.pk,
        "role": "auditor",
        "party": None,
        "invitation": invitation.pk,
    }


def test_a_partner_joins_bound_to_the_invited_party(acme):
    _invitation, raw = membership.invite(
        acme.organisation,
        actor=acme.admin,
        email="ops@forwarder.test",
        role=Role.PARTNER,
        party=acme.forwarder,
    )

    joined = membership.accept_invitation(raw, username="ops", password=NEW_PASSWORD)

    access = access_for(joined.user, "acme")
    assert (access.role, access.partner_party_id) == (Role.PARTNER, acme.forwarder.pk)


@pytest.mark.parametrize(
    ("username", "password", "errors"),
    [
        (
            "siti",
            "password",
            {
                "password": [
                    "This password is too short. It must contain at least 10 characters.",
                    "This password is too common.",
                ]
            },
        ),
        (
            "siti",
            "3141592653589",
            {"password": ["This password is entirely numeric."]},
        ),
        (
            "siti",
            "siti@example.test",
            {"password": ["The password is too similar to the e-mail address."]},
        ),
        ("", NEW_PASSWORD, {"username": ["Choose a user name."]}),
        ("MEMBER", NEW_PASSWORD, {"username": ["This user name is taken."]}),
    ],
    ids=["short-and-common", "numeric", "like-the-email", "no-username", "taken"],
)
def test_a_new_account_must_pass_the_password_rules_and_have_a_free_name(
    acme, audit_trail, username, password, errors
):
    invitation, raw = membership.invite(
        acme.organisation, actor=acme.admin, email="siti@example.test", role=Role.MEMBER
    )
    trail = audit_trail(acme.organisation)
    before = counts()

    with pytest.raises(ValidationFailed) as refused:
        membership.accept_invitation(raw, username=username, password=password)

    assert refused.value.errors == errors
    assert counts() == before
    invitation.refresh_from_db()
    assert invitation.is_open
    trail.assert_nothing_new()


def test_an_existing_account_joins_when_its_email_matches(acme, audit_trail):
    # given someone with an account elsewhere is invited under its e-mail address
    siti = make_user("siti")
    _invitation, raw = membership.invite(
        acme.organisation, actor=acme.admin, email="SITI@example.test", role=Role.MEMBER
    )
    users = User.objects.count()

    joined = membership.accept_invitation(raw, user=siti)

    assert (joined.user, joined.role) == (siti, Role.MEMBER)
    assert User.objects.count() == users
    assert siti.check_password(PASSWORD)


def test_an_account_with_the_invited_email_must_sign_in_to_accept(acme, audit_trail):
    make_user("siti")
    _invitation, raw = membership.invite(
        acme.organisation, actor=acme.admin, email="siti@example.test", role=Role.MEMBER
    )
    trail = audit_trail(acme.organisation)
    before = counts()

    with pytest.raises(ValidationFailed) as refused:
        membership.accept_invitation(raw, username="siti2", password=NEW_PASSWORD)

    assert refused.value.errors == {
        "__all__": [
            "An account with this e-mail address exists: sign in first, then open the link "
            "again."
        ]
    }
    assert counts() == before
    trail.assert_nothing_new()


def test_an_invitation_cannot_be_accepted_by_another_address(acme, audit_trail):
    _invitation, raw = membership.invite(
        acme.organisation, actor=acme.admin, email="siti@example.test", role=Role.ADMIN
    )
    intruder = make_user("intruder")
    trail = audit_trail(acme.organisation)
    before = counts()

    with pytest.raises(ValidationFailed) as refused:
        membership.accept_invitation(raw, user=intruder)

    assert refused.value.errors == {
        "__all__": ["This invitation was sent to another e-mail address."]
    }
    assert counts() == before
    with pytest.raises(NotFound):
        access_for(intruder, "acme")
    trail.assert_nothing_new()


def test_a_revoked_invitation_cannot_be_accepted(acme, audit_trail):
    invitation, raw = membership.invite(
        acme.organisation, actor=acme.admin, email="siti@example.test", role=Role.MEMBER
    )
    trail = audit_trail(acme.organisation)

    membership.revoke_invitation(invitation, actor=acme.admin)

    event = trail.only_new_event()
    assert (event.verb, event.target_id) == (
        AuditVerb.INVITATION_REVOKED,
        str(invitation.pk),
    )
    trail = audit_trail(acme.organisation)
    before = counts()
    with pytest.raises(NotFound) as refused:
        membership.accept_invitation(raw, username="siti", password=NEW_PASSWORD)
    assert refused.value.message == NOT_VALID_ANY_MORE
    assert counts() == before
    trail.assert_nothing_new()


def test_an_expired_invitation_cannot_be_accepted(acme, audit_trail):
    _invitation, raw = membership.invite(
        acme.organisation, actor=acme.admin, email="siti@example.test", role=Role.MEMBER
    )
    trail = audit_trail(acme.organisation)
    before = counts()
    fifteen_days_later = timezone.now() + dt.timedelta(days=15)

    with (
        mock.patch.object(timezone, "now", return_value=fifteen_days_later),
        pytest.raises(NotFound) as refused,
    ):
        membership.accept_invitation(raw, username="siti", password=NEW_PASSWORD)

    assert refused.value.message == NOT_VALID_ANY_MORE
    assert counts() == before
    trail.assert_nothing_new()


def test_an_invitation_works_only_once(acme, audit_trail):
    _invitation, raw = membership.invite(
        acme.organisation, actor=acme.admin, email="siti@example.test", role=Role.MEMBER
    )
    membership.accept_invitation(raw, username="siti", password=NEW_PASSWORD)
    trail = audit_trail(acme.organisation)
    before = counts()

    with pytest.raises(NotFound) as refused:
        membership.accept_invitation(raw, username="siti-again", password=NEW_PASSWORD)

    assert refused.value.message == NOT_VALID_ANY_MORE
    assert counts() == before
    trail.assert_nothing_new()


def test_an_unknown_link_is_not_found(db):
    with pytest.raises(NotFound):
        membership.open_invitation("made-up-token")
    with pytest.raises(NotFound):
        membership.open_invitation("")


def test_an_accepted_invitation_cannot_be_revoked(acme, audit_trail):
    invitation, raw = membership.invite(
        acme.organisation, actor=acme.admin, email="siti@example.test", role=Role.MEMBER
    )
    membership.accept_invitation(raw, username="siti", password=NEW_PASSWORD)
    trail = audit_trail(acme.organisation)

    with pytest.raises(ValidationFailed) as refused:
        membership.revoke_invitation(invitation, actor=acme.admin)

    assert refused.value.errors == {
        "__all__": ["This invitation was already accepted."]
    }
    invitation.refresh_from_db()
    assert invitation.revoked_at is None
    trail.assert_nothing_new()


# --- roles and ending ------------------------------------------------------------


def test_changing_a_role_is_audited(acme, audit_trail):
    member = membership_of(acme.member, acme)
    trail = audit_trail(acme.organisation)

    membership.change_role(
        member, actor=acme.admin, expected_version=1, role=Role.AUDITOR
    )

    member.refresh_from_db()
    assert (member.role, member.version) == (Role.AUDITOR, 2)
    assert access_for(acme.member, "acme").role == Role.AUDITOR
    event = trail.only_new_event()
    assert (event.verb, event.target_id) == (
        AuditVerb.MEMBERSHIP_CHANGED,
        str(member.pk),
    )
    assert event.changes == {"role": ["member", "auditor"]}


def test_the_last_administrator_cannot_be_demoted(acme, audit_trail):
    admin = membership_of(acme.admin, acme)
    trail = audit_trail(acme.organisation)

    with pytest.raises(ValidationFailed) as refused:
        membership.change_role(
            admin, actor=acme.admin, expected_version=1, role=Role.MEMBER
        )

    assert refused.value.errors == {
        "__all__": ["An organisation needs at least one administrator."]
    }
    admin.refresh_from_db()
    assert (admin.role, admin.version) == (Role.ADMIN, 1)
    trail.assert_nothing_new()


def test_the_last_administrator_cannot_be_ended(acme, audit_trail):
    admin = membership_of(acme.admin, acme)
    trail = audit_trail(acme.organisation)

    with pytest.raises(ValidationFailed) as refused:
        membership.end_membership(admin, actor=acme.admin, expected_version=1)

    assert refused.value.errors == {
        "__all__": ["An organisation needs at least one administrator."]
    }
    admin.refresh_from_db()
    assert (admin.is_active, admin.ended_at) == (True, None)
    assert access_for(acme.admin, "acme").is_admin
    trail.assert_nothing_new()


def test_an_administrator_may_step_down_when_another_remains(acme):
    deputy = make_user("deputy")
    membership.add_member(
        acme.organisation, actor=acme.admin, user=deputy, role=Role.ADMIN
    )
    admin = membership_of(acme.admin, acme)

    membership.change_role(
        admin, actor=acme.admin, expected_version=1, role=Role.MEMBER
    )

    assert access_for(acme.admin, "acme").role == Role.MEMBER
    assert access_for(deputy, "acme").is_admin


def test_a_partner_role_needs_an_external_partner_party(acme, audit_trail):
    member = membership_of(acme.member, acme)
    trail = audit_trail(acme.organisation)

    with pytest.raises(ValidationFailed) as refused:
        membership.change_role(
            member,
            actor=acme.admin,
            expected_version=1,
            role=Role.PARTNER,
            party=acme.export,
        )

    assert refused.value.errors == {
        "party": ["Choose an external partner of this organisation."]
    }
    member.refresh_from_db()
    assert (member.role, member.party_id) == (Role.MEMBER, None)
    trail.assert_nothing_new()


def test_ending_a_membership_ends_access_at_once(acme, audit_trail):
    # given the member can access the organisation
    assert access_for(acme.member, "acme").role == Role.MEMBER
    member = membership_of(acme.member, acme)
    trail = audit_trail(acme.organisation)

    # when the admin ends the membership
    membership.end_membership(member, actor=acme.admin, expected_version=1)

    # then the next access check finds nothing
    with pytest.raises(NotFound):
        access_for(acme.member, "acme")
    member.refresh_from_db()
    assert (member.is_active, member.ended_at is not None, member.version) == (
        False,
        True,
        2,
    )
    event = trail.only_new_event()
    assert (event.verb, event.target_id, event.changes) == (
        AuditVerb.MEMBERSHIP_ENDED,
        str(member.pk),
        {"is_active": [True, False]},
    )


def test_an_ended_member_can_be_invited_and_join_again(acme):
    member = membership_of(acme.member, acme)
    membership.end_membership(member, actor=acme.admin, expected_version=1)

    _invitation, raw = membership.invite(
        acme.organisation,
        actor=acme.admin,
        email="member@example.test",
        role=Role.AUDITOR,
    )
    membership.accept_invitation(raw, user=acme.member)

    assert access_for(acme.member, "acme").role == Role.AUDITOR
    assert Membership.objects.filter(user=acme.member).count() == 2


def test_ending_a_membership_with_a_stale_version_conflicts(acme, audit_trail):
    member = membership_of(acme.member, acme)
    membership.change_role(
        Membership.objects.get(pk=member.pk),
        actor=acme.admin,
        expected_version=1,
        role=Role.AUDITOR,
    )
    trail = audit_trail(acme.organisation)

    with pytest.raises(Conflict):
        membership.end_membership(member, actor=acme.admin, expected_version=1)

    assert access_for(acme.member, "acme").role == Role.AUDITOR
    trail.assert_nothing_new()


def test_adding_a_member_twice_is_refused(acme, audit_trail):
    trail = audit_trail(acme.organisation)

    with pytest.raises(ValidationFailed) as refused:
        membership.add_member(
            acme.organisation, actor=acme.admin, user=acme.member, role=Role.AUDITOR
        )

    assert refused.value.errors == {
        "__all__": ["This user is already a member of the organisation."]
    }
    trail.assert_nothing_new()


def test_membership_changes_keep_the_chain_verifiable(acme):
    _invitation, raw = membership.invite(
        acme.organisation, actor=acme.admin, email="siti@example.test", role=Role.MEMBER
    )
    joined = membership.accept_invitation(raw, username="siti", password=NEW_PASSWORD)
    membership.change_role(
        joined, actor=acme.admin, expected_version=1, role=Role.AUDITOR
    )
    membership.end_membership(joined, actor=acme.admin, expected_version=2)

    assert audit.verify(acme.organisation).ok
