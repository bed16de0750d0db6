"""Accounts pages: log in (throttled, with an optional second factor), language,
profile, two-factor set-up, API tokens, password reset, members and invitations."""

from __future__ import annotations

import hashlib
import re
import time

import pytest
from django.core import mail
from django.test import Client, override_settings
from django.urls import reverse
from django.utils import timezone
from django_otp.oath import TOTP
from django_otp.plugins.otp_totp.models import TOTPDevice

from rantai.accounts import tokens as token_services
from rantai.accounts import two_factor
from rantai.accounts.access import access_for
from rantai.accounts.models import ApiToken, Invitation, Membership, Role, User
from rantai.core.errors import NotFound
from rantai.org import membership as membership_services
from rantai.org import services as org_services
from rantai.testing import PASSWORD, make_user

NEW_PASSWORD = "plum-orchard-lantern-42"


def code_for(device: TOTPDevice, *, steps_ago: int = 0) -> str:
    """The code an authenticator app would show now (or `steps_ago` steps before)."""
    totp = TOTP(device.bin_key, device.step, device.t0, device.digits)
    totp.time = time.time() - steps_ago * device.step
    return f"{totp.token():0{device.digits}d}"


def turn_on_two_factor(user: User) -> TOTPDevice:
    """Set up two-factor login through the service, confirming with the previous
    step's code so that the current code is still unused."""
    device = two_factor.start_setup(user)
    return two_factor.confirm_setup(user, code=code_for(device, steps_ago=1))


def logged_in(user: User) -> Client:
    client = Client()
    client.force_login(user)
    return client


def link_in(message: mail.EmailMessage) -> str:
    match = re.search(r"https?://[^/\s]+(/\S+)", message.body)
    assert match, message.body
    return match.group(1)


def messages_of(response) -> list[str]:  # type: ignore[no-untyped-def]
    return [str(message) for message in response.context["messages"]]


# --- log in -------------------------------------------------------------------------


def test_login_with_the_right_password_logs_in(acme, client):
    response = client.post(
        reverse("login"), {"username": "member", "password": PASSWORD}
    )

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.session["_auth_user_id"] == str(acme.member.pk)


def test_login_with_a_wrong_password_is_refused(acme, client):
    response = client.post(reverse("login"), {"username": "member", "password": "nope"})

    assert response.status_code == 200
    assert "The user name or password is not right" in response.content.decode()
    assert "_auth_user_id" not in client.session


def test_login_page_offers_the_password_reset_and_the_language_choice(db, client):
    response = client.get(reverse("login"))

    content = response.content.decode()
    assert response.status_code == 200
    assert reverse("password-reset") in content
    assert f'action="{reverse("set-language")}"' in content
    assert 'value="id"' in content


@override_settings(AXES_FAILURE_LIMIT=5)
def test_login_is_locked_after_five_failures_even_with_the_right_password(acme, client):
    for _ in range(4):
        response = client.post(
            reverse("login"), {"username": "member", "password": "wrong"}
        )
        assert response.status_code == 200

    fifth = client.post(reverse("login"), {"username": "member", "password": "wrong"})
    sixth = client.post(reverse("login"), {"username": "member", "password": PASSWORD})

    assert fifth.status_code == 429
    assert sixth.status_code == 429
    content = sixth.content.decode()
    assert "Too many failed logins" in content
    assert "Try again in 15 minutes." in content
    assert reverse("password-reset") in content
    assert "_auth_user_id" not in client.session


def test_logout_needs_a_post(acme):
    client = logged_in(acme.member)

    assert client.get(reverse("logout")).status_code == 405
    response = client.post(reverse("logout"))

    assert response.status_code == 302
    assert response.url == reverse("login")
    assert "_auth_user_id" not in client.session


# --- two-factor login -------------------------------------------------------------


def test_two_factor_login_asks_for_a_code_before_logging_in(acme, client):
    device = turn_on_two_factor(acme.member)

    response = client.post(
        reverse("login"), {"username": "member", "password": PASSWORD}
    )
    assert response.status_code == 302
    assert response.url == reverse("login-code")
    assert "_auth_user_id" not in client.session
    assert client.get(reverse("profile")).status_code == 302  # still anonymous

    response = client.post(reverse("login-code"), {"code": code_for(device)})

    assert response.status_code == 302
    assert response.url == reverse("home")
    assert client.session["_auth_user_id"] == str(acme.member.pk)
    assert client.session["otp_device_id"] == device.persistent_id


def test_two_factor_login_refuses_a_wrong_code_and_throttles_the_next_try(acme, client):
    device = turn_on_two_factor(acme.member)
    client.post(reverse("login"), {"username": "member", "password": PASSWORD})
    wrong = "000000" if code_for(device) != "000000" else "111111"

    refused = client.post(reverse("login-code"), {"code": wrong})
    too_soon = client.post(reverse("login-code"), {"code": code_for(device)})

    assert refused.status_code == 200
    assert "The code is not right" in refused.content.decode()
    assert "Too many wrong codes" in too_soon.content.decode()
    assert "_auth_user_id" not in client.session
    device.refresh_from_db()
    assert device.throttling_failure_count == 1


def test_two_factor_login_keeps_the_page_asked_for(acme, client):
    device = turn_on_two_factor(acme.member)

    client.post(
        reverse("login"),
        {"username": "member", "password": PASSWORD, "next": reverse("tokens")},
    )
    response = client.post(reverse("login-code"), {"code": code_for(device)})

    assert response.url == reverse("tokens")


def test_the_code_page_without_a_password_step_sends_back_to_login(db, client):
    response = client.post(reverse("login-code"), {"code": "123456"})

    assert response.status_code == 302
    assert response.url == reverse("login")


def test_two_factor_setup_shows_a_qr_code_and_confirms_with_a_code(acme):
    client = logged_in(acme.member)

    page = client.get(reverse("two-factor"))
    content = page.content.decode()
    device = TOTPDevice.objects.get(user=acme.member)
    assert device.confirmed is False
    assert '<svg width="' in content
    assert two_factor.secret_of(device) in content
    assert "style=" not in content
    assert "<style" not in content

    wrong = client.post(reverse("two-factor"), {"action": "confirm", "code": "12345"})
    assert "The code is not right" in wrong.content.decode()
    device.throttle_reset()

    response = client.post(
        reverse("two-factor"), {"action": "confirm", "code": code_for(device)}
    )

    assert response.status_code == 302
    assert response.url == reverse("profile")
    assert two_factor.has_two_factor(acme.member)
    assert client.session["otp_device_id"] == device.persistent_id


def test_turning_two_factor_off_needs_a_current_code(acme):
    device = turn_on_two_factor(acme.member)
    client = logged_in(acme.member)

    refused = client.post(reverse("two-factor"), {"action": "disable", "code": "1"})
    assert two_factor.has_two_factor(acme.member)
    assert "The code is not right" in refused.content.decode()
    device.refresh_from_db()
    device.throttle_reset()

    response = client.post(
        reverse("two-factor"), {"action": "disable", "code": code_for(device)}
    )

    assert response.status_code == 302
    assert not TOTPDevice.objects.filter(user=acme.member).exists()


def _require_admin_two_factor(acme) -> None:  # type: ignore[no-untyped-def]
    org_services.update_organisation(
        acme.organisation,
        actor=acme.admin,
        expected_version=acme.organisation.version,
        requires_admin_two_factor=True,
    )


def test_admin_without_two_factor_is_sent_to_set_it_up_when_required(acme):
    _require_admin_two_factor(acme)
    admin = logged_in(acme.admin)
    members_url = reverse("members", kwargs={"org": "acme"})

    response = admin.get(members_url)

    assert response.status_code == 302
    assert response.url == f"{reverse('two-factor')}?next=%2Fo%2Facme%2Fmembers%2F"
    # Other roles are not affected.
    assert logged_in(acme.auditor).get(members_url).status_code == 200

    page = admin.get(response.url)
    assert "Acme Ltd requires two-factor login" in page.content.decode()
    device = TOTPDevice.objects.get(user=acme.admin)
    confirmed = admin.post(
        reverse("two-factor"),
        {"action": "confirm", "code": code_for(device), "next": members_url},
    )
    assert confirmed.url == members_url
    assert admin.get(members_url).status_code == 200


def test_admin_with_two_factor_in_an_unverified_session_must_enter_a_code(acme):
    device = turn_on_two_factor(acme.admin)
    _require_admin_two_factor(acme)
    admin = logged_in(acme.admin)  # a session that never saw a code
    members_url = reverse("members", kwargs={"org": "acme"})

    response = admin.get(members_url)
    assert response.url.startswith(reverse("two-factor-verify"))
    verified = admin.post(
        reverse("two-factor-verify"), {"code": code_for(device), "next": members_url}
    )

    assert verified.url == members_url
    assert admin.get(members_url).status_code == 200


def test_an_admin_cannot_turn_two_factor_off_while_the_organisation_requires_it(
    acme,
):
    device = turn_on_two_factor(acme.admin)
    _require_admin_two_factor(acme)

    with pytest.raises(Exception, match="requires two-factor login"):
        two_factor.disable(acme.admin, code=code_for(device))

    assert two_factor.has_two_factor(acme.admin)


# --- language -----------------------------------------------------------------------


def test_language_switch_is_remembered_on_the_account(acme):
    client = logged_in(acme.member)

    response = client.post(
        reverse("set-language"), {"language": "id", "next": reverse("profile")}
    )

    assert response.status_code == 302
    assert response.url == reverse("profile")
    acme.member.refresh_from_db()
    assert acme.member.language == "id"
    page = Client()
    page.force_login(acme.member)  # a fresh browser: no language cookie
    after = page.get(reverse("profile"))
    assert '<html lang="id">' in after.content.decode()
    assert after["Content-Language"] == "id"


def test_anonymous_language_switch_sets_the_cookie_for_the_login_page(db, client):
    response = client.post(
        reverse("set-language"), {"language": "id", "next": reverse("login")}
    )

    assert response.url == reverse("login")
    assert response.cookies["django_language"].value == "id"
    assert '<html lang="id">' in client.get(reverse("login")).content.decode()


def test_language_switch_ignores_a_foreign_next_url(acme):
    client = logged_in(acme.member)

    response = client.post(
        reverse("set-language"), {"language": "en", "next": "https://evil.test/"}
    )

    assert response.url == reverse("home")


# --- profile ------------------------------------------------------------------------


def test_profile_edit_saves_name_email_and_language(acme):
    client = logged_in(acme.member)

    response = client.post(
        reverse("profile"),
        {"full_name": "Rina K.", "email": "Rina@Example.test", "language": "id"},
    )

    assert response.status_code == 302
    acme.member.refresh_from_db()
    assert (acme.member.full_name, acme.member.email, acme.member.language) == (
        "Rina K.",
        "rina@example.test",
        "id",
    )


def test_profile_edit_refuses_an_email_address_someone_else_has(acme):
    client = logged_in(acme.member)

    response = client.post(
        reverse("profile"),
        {"full_name": "Member", "email": "admin@example.test", "language": "en"},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["email"]
    acme.member.refresh_from_db()
    assert acme.member.email == "member@example.test"


def test_password_change_keeps_the_session(acme):
    client = logged_in(acme.member)

    response = client.post(
        reverse("password-change"),
        {
            "old_password": PASSWORD,
            "new_password1": NEW_PASSWORD,
            "new_password2": NEW_PASSWORD,
        },
    )

    assert response.status_code == 302
    assert client.get(reverse("profile")).status_code == 200
    acme.member.refresh_from_db()
    assert acme.member.check_password(NEW_PASSWORD)


# --- API tokens -------------------------------------------------------------------


def test_a_new_token_is_shown_once_and_only_its_digest_is_stored(acme):
    client = logged_in(acme.member)

    response = client.post(reverse("tokens"), {"name": "nightly export"})

    raw = response.context["raw_token"]
    assert raw.startswith("rnt_")
    assert raw in response.content.decode()
    assert "no-store" in response["Cache-Control"]
    token = ApiToken.objects.get(user=acme.member)
    assert token.digest == hashlib.sha256(raw.encode()).hexdigest()
    assert raw not in (token.name, token.prefix, token.digest)
    assert raw not in str(dict(client.session))
    again = client.get(reverse("tokens")).content.decode()
    assert raw not in again
    assert "nightly export" in again


def test_revoking_a_token_ends_it(acme):
    token, _raw = token_services.create_token(acme.member, name="script")
    client = logged_in(acme.member)

    response = client.post(reverse("token-revoke", args=[token.pk]))

    assert response.status_code == 302
    token.refresh_from_db()
    assert token.revoked_at is not None


def test_nobody_revokes_someone_elses_token(acme):
    token, _raw = token_services.create_token(acme.member, name="script")

    logged_in(acme.auditor).post(reverse("token-revoke", args=[token.pk]))

    token.refresh_from_db()
    assert token.revoked_at is None


# --- password reset ---------------------------------------------------------------


def test_password_reset_by_email(acme, client, django_capture_on_commit_callbacks):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("password-reset"), {"email": "member@example.test"}
        )
    assert response.url == reverse("password-reset-done")
    assert len(mail.outbox) == 1
    assert mail.outbox[0].to == ["member@example.test"]
    assert mail.outbox[0].subject == "Reset your Rantai password"

    form_page = client.get(link_in(mail.outbox[0]), follow=True)
    set_password_url = form_page.redirect_chain[-1][0]
    too_weak = client.post(
        set_password_url, {"new_password1": "member", "new_password2": "member"}
    )
    assert too_weak.context["form"].errors["new_password2"]
    done = client.post(
        set_password_url,
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    assert done.url == reverse("password-reset-complete")
    acme.member.refresh_from_db()
    assert acme.member.check_password(NEW_PASSWORD)
    login = client.post(
        reverse("login"), {"username": "member", "password": NEW_PASSWORD}
    )
    assert login.status_code == 302


@override_settings(AXES_FAILURE_LIMIT=5)
def test_a_password_reset_lifts_the_login_lockout(
    acme, client, django_capture_on_commit_callbacks
):
    for _ in range(5):
        client.post(reverse("login"), {"username": "member", "password": "wrong"})
    assert (
        client.post(
            reverse("login"), {"username": "member", "password": PASSWORD}
        ).status_code
        == 429
    )
    with django_capture_on_commit_callbacks(execute=True):
        client.post(reverse("password-reset"), {"email": "member@example.test"})
    form_page = client.get(link_in(mail.outbox[0]), follow=True)
    client.post(
        form_page.redirect_chain[-1][0],
        {"new_password1": NEW_PASSWORD, "new_password2": NEW_PASSWORD},
    )

    login = client.post(
        reverse("login"), {"username": "member", "password": NEW_PASSWORD}
    )

    assert login.status_code == 302
    assert client.session["_auth_user_id"] == str(acme.member.pk)


def test_password_reset_for_an_unknown_address_sends_nothing(
    acme, client, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        response = client.post(
            reverse("password-reset"), {"email": "nobody@example.test"}
        )

    assert response.url == reverse("password-reset-done")
    assert mail.outbox == []


# --- home ---------------------------------------------------------------------------


def test_home_sends_anonymous_visitors_to_login(db, client):
    response = client.get(reverse("home"))

    assert response.status_code == 302
    assert response.url == reverse("login")


def test_home_with_one_organisation_goes_to_its_focus_page(acme):
    response = logged_in(acme.member).get(reverse("home"))

    assert response.status_code == 302
    assert response.url == reverse("focus", kwargs={"org": "acme"})


def test_home_with_several_organisations_lists_them(acme, other_org):
    membership_services.add_member(
        other_org.organisation,
        actor=other_org.admin,
        user=acme.member,
        role=Role.MEMBER,
    )

    response = logged_in(acme.member).get(reverse("home"))

    content = response.content.decode()
    assert response.status_code == 200
    assert "Acme Ltd" in content
    assert "Globex Ltd" in content


def test_home_without_organisations_says_so(db):
    response = logged_in(make_user("loner")).get(reverse("home"))

    assert response.status_code == 200
    assert "not a member of any organisation yet" in response.content.decode()


# --- members and invitations ------------------------------------------------------


def _invite(client, **data):  # type: ignore[no-untyped-def]
    return client.post(reverse("member-invite", kwargs={"org": "acme"}), data)


def test_members_page_lists_memberships_and_invitations_for_admins(acme):
    membership_services.invite(
        acme.organisation, actor=acme.admin, email="new@example.test", role=Role.MEMBER
    )

    response = logged_in(acme.admin).get(reverse("members", kwargs={"org": "acme"}))

    content = response.content.decode()
    assert response.status_code == 200
    for name in ("Admin", "Member", "Auditor", "Partner", "Fast Forwarding"):
        assert name in content
    assert "new@example.test" in content
    assert "Send invitation" in content


def test_auditors_see_members_read_only_and_others_are_refused(acme):
    url = reverse("members", kwargs={"org": "acme"})

    auditor_page = logged_in(acme.auditor).get(url)

    assert auditor_page.status_code == 200
    assert "Send invitation" not in auditor_page.content.decode()
    assert logged_in(acme.member).get(url).status_code == 403
    assert logged_in(acme.partner).get(url).status_code == 403


def test_members_page_query_count_does_not_grow_with_members(
    acme, django_assert_max_num_queries
):
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    client = logged_in(acme.admin)
    url = reverse("members", kwargs={"org": "acme"})
    with CaptureQueriesContext(connection) as before:
        client.get(url)
    for index in range(5):
        user = make_user(f"extra{index}")
        membership_services.add_member(
            acme.organisation, actor=acme.admin, user=user, role=Role.MEMBER
        )
        membership_services.invite(
            acme.organisation,
            actor=acme.admin,
            email=f"invitee{index}@example.test",
            role=Role.PARTNER,
            party=acme.forwarder,
        )

    with django_assert_max_num_queries(len(before.captured_queries)):
        client.get(url)


def test_invitation_end_to_end(acme, django_capture_on_commit_callbacks):
    admin = logged_in(acme.admin)
    with django_capture_on_commit_callbacks(execute=True):
        response = _invite(admin, email="Nina@Example.test", role=Role.MEMBER)
    assert response.status_code == 302
    assert len(mail.outbox) == 1
    message = mail.outbox[0]
    assert message.to == ["nina@example.test"]
    assert "Acme Ltd" in message.subject
    link = link_in(message)
    assert link.startswith("/invitations/")

    invitee = Client()
    page = invitee.get(link)
    assert page.status_code == 200
    assert "Create your account for nina@example.test" in page.content.decode()
    too_weak = invitee.post(
        link,
        {
            "username": "nina",
            "full_name": "Nina",
            "password1": "nina",
            "password2": "nina",
        },
    )
    assert too_weak.context["form"].errors["password1"]
    assert not User.objects.filter(username="nina").exists()
    joined = invitee.post(
        link,
        {
            "username": "nina",
            "full_name": "Nina Wijaya",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )

    assert joined.status_code == 302
    assert joined.url == reverse("focus", kwargs={"org": "acme"})
    nina = User.objects.get(username="nina")
    assert (nina.email, nina.full_name) == ("nina@example.test", "Nina Wijaya")
    assert invitee.session["_auth_user_id"] == str(nina.pk)
    membership = Membership.objects.get(user=nina, organisation=acme.organisation)
    assert (membership.role, membership.party, membership.is_active) == (
        Role.MEMBER,
        None,
        True,
    )
    assert Invitation.objects.get(email="nina@example.test").accepted_at is not None
    reused = Client().get(link)
    assert reused.status_code == 404
    assert "not valid any more" in reused.content.decode()


def test_a_partner_invitation_must_name_an_external_partner(acme, audit_trail):
    admin = logged_in(acme.admin)
    trail = audit_trail(acme.organisation)

    without_party = _invite(admin, email="fwd@example.test", role=Role.PARTNER)
    internal_unit = _invite(
        admin, email="fwd@example.test", role=Role.PARTNER, party=acme.export.pk
    )

    assert without_party.status_code == 200
    assert without_party.context["invite_form"].errors["party"]
    assert internal_unit.context["invite_form"].errors["party"]
    assert not Invitation.objects.exists()
    trail.assert_nothing_new()


def test_a_partner_invitation_binds_the_membership_to_its_party(acme):
    _invitation, raw = membership_services.invite(
        acme.organisation,
        actor=acme.admin,
        email="ops@forwarder.test",
        role=Role.PARTNER,
        party=acme.forwarder,
    )
    invitee = Client()

    page = invitee.get(reverse("accept-invitation", args=[raw]))
    assert "Fast Forwarding" in page.content.decode()
    invitee.post(
        reverse("accept-invitation", args=[raw]),
        {
            "username": "ops",
            "full_name": "",
            "password1": NEW_PASSWORD,
            "password2": NEW_PASSWORD,
        },
    )

    membership = Membership.objects.get(user__username="ops")
    assert (membership.role, membership.party) == (Role.PARTNER, acme.forwarder)


def test_expired_and_revoked_invitations_are_refused(acme):
    expired, expired_raw = membership_services.invite(
        acme.organisation, actor=acme.admin, email="late@example.test", role="member"
    )
    Invitation.objects.filter(pk=expired.pk).update(expires_at=timezone.now())
    revoked, revoked_raw = membership_services.invite(
        acme.organisation, actor=acme.admin, email="gone@example.test", role="member"
    )
    logged_in(acme.admin).post(
        reverse(
            "invitation-revoke", kwargs={"org": "acme", "invitation_id": revoked.pk}
        )
    )

    for raw in (expired_raw, revoked_raw, "made-up"):
        response = Client().post(
            reverse("accept-invitation", args=[raw]),
            {"username": "late", "password1": NEW_PASSWORD, "password2": NEW_PASSWORD},
        )
        assert response.status_code == 404
        assert "not valid any more" in response.content.decode()
    assert not User.objects.filter(username="late").exists()
    revoked.refresh_from_db()
    assert revoked.revoked_at is not None
    states = logged_in(acme.admin).get(reverse("members", kwargs={"org": "acme"}))
    content = states.content.decode()
    assert "expired" in content
    assert "revoked" in content


def test_a_signed_in_invitee_joins_with_one_click(acme, other_org):
    _invitation, raw = membership_services.invite(
        other_org.organisation,
        actor=other_org.admin,
        email="member@example.test",
        role=Role.AUDITOR,
    )
    client = logged_in(acme.member)

    response = client.post(reverse("accept-invitation", args=[raw]))

    assert response.status_code == 302
    membership = Membership.objects.get(
        user=acme.member, organisation=other_org.organisation
    )
    assert membership.role == Role.AUDITOR


def test_an_invitation_for_another_address_is_not_taken_by_a_signed_in_user(acme):
    _invitation, raw = membership_services.invite(
        acme.organisation, actor=acme.admin, email="else@example.test", role="member"
    )
    loner = make_user("loner")
    client = logged_in(loner)

    page = client.get(reverse("accept-invitation", args=[raw]))
    client.post(reverse("accept-invitation", args=[raw]))

    assert "sent to another e-mail address" in page.content.decode()
    assert not Membership.objects.filter(user=loner).exists()


def test_ending_a_membership_ends_access_at_once(acme):
    auditor_session = logged_in(acme.auditor)
    _token, raw_token = token_services.create_token(acme.auditor, name="script")
    members_url = reverse("members", kwargs={"org": "acme"})
    api_url = "/api/v1/orgs/acme/parties"
    bearer = {"HTTP_AUTHORIZATION": f"Bearer {raw_token}"}
    assert auditor_session.get(members_url).status_code == 200
    assert Client().get(api_url, **bearer).status_code == 200
    membership = Membership.objects.get(user=acme.auditor, is_active=True)
    admin = logged_in(acme.admin)

    confirm = admin.get(
        reverse("member-end", kwargs={"org": "acme", "membership_id": membership.pk})
    )
    assert "loses access to Acme Ltd at once" in confirm.content.decode()
    response = admin.post(
        reverse("member-end", kwargs={"org": "acme", "membership_id": membership.pk}),
        {"version": membership.version},
    )

    assert response.status_code == 302
    membership.refresh_from_db()
    assert membership.is_active is False
    assert auditor_session.get(members_url).status_code == 404
    assert Client().get(api_url, **bearer).status_code == 404
    with pytest.raises(NotFound):
        access_for(acme.auditor, "acme")


def test_non_admins_change_nothing(acme, audit_trail):
    trail = audit_trail(acme.organisation)
    auditor_membership = Membership.objects.get(user=acme.auditor)
    member = logged_in(acme.member)
    auditor = logged_in(acme.auditor)

    end = member.post(
        reverse(
            "member-end",
            kwargs={"org": "acme", "membership_id": auditor_membership.pk},
        ),
        {"version": auditor_membership.version},
    )
    role = auditor.post(
        reverse(
            "member-role",
            kwargs={"org": "acme", "membership_id": auditor_membership.pk},
        ),
        {"role": "admin", "version": auditor_membership.version},
    )
    invite = _invite(auditor, email="x@example.test", role=Role.ADMIN)
    settings_page = auditor.post(
        reverse("organisation-settings", kwargs={"org": "acme"}),
        {"name": "Taken over", "time_zone": "UTC", "version": 1},
    )

    assert [end.status_code, role.status_code, invite.status_code] == [403, 403, 403]
    assert settings_page.status_code == 403
    auditor_membership.refresh_from_db()
    assert (auditor_membership.is_active, auditor_membership.role) == (
        True,
        Role.AUDITOR,
    )
    assert not Invitation.objects.exists()
    acme.organisation.refresh_from_db()
    assert acme.organisation.name == "Acme Ltd"
    trail.assert_nothing_new()


def test_an_admin_changes_a_role(acme):
    membership = Membership.objects.get(user=acme.member)

    response = logged_in(acme.admin).post(
        reverse("member-role", kwargs={"org": "acme", "membership_id": membership.pk}),
        {"role": "auditor", "version": 1},
        follow=True,
    )

    membership.refresh_from_db()
    assert membership.role == Role.AUDITOR
    assert "Member is now Auditor." in messages_of(response)


def test_a_partner_role_needs_an_external_partner(acme, audit_trail):
    trail = audit_trail(acme.organisation)
    membership = Membership.objects.get(user=acme.member)

    response = logged_in(acme.admin).post(
        reverse("member-role", kwargs={"org": "acme", "membership_id": membership.pk}),
        {"role": "partner", "version": 1},
    )

    assert response.status_code == 200
    assert response.context["form"].errors["party"]
    membership.refresh_from_db()
    assert (membership.role, membership.party) == (Role.MEMBER, None)
    trail.assert_nothing_new()


def test_the_last_admin_can_be_neither_demoted_nor_ended(acme, audit_trail):
    trail = audit_trail(acme.organisation)
    membership = Membership.objects.get(user=acme.admin)
    admin = logged_in(acme.admin)

    demoted = admin.post(
        reverse("member-role", kwargs={"org": "acme", "membership_id": membership.pk}),
        {"role": "member", "version": 1},
        follow=True,
    )
    ended = admin.post(
        reverse("member-end", kwargs={"org": "acme", "membership_id": membership.pk}),
        {"version": 1},
        follow=True,
    )

    needs_admin = "An organisation needs at least one administrator."
    assert demoted.status_code == 200
    assert needs_admin in demoted.content.decode()
    assert needs_admin in messages_of(ended)
    membership.refresh_from_db()
    assert (membership.role, membership.is_active) == (Role.ADMIN, True)
    trail.assert_nothing_new()


# --- organisation settings --------------------------------------------------------


def test_an_admin_edits_the_organisation_settings(acme):
    url = reverse("organisation-settings", kwargs={"org": "acme"})
    admin = logged_in(acme.admin)

    response = admin.post(
        url,
        {
            "name": "Acme Group",
            "time_zone": "Asia/Makassar",
            "requires_admin_two_factor": "on",
            "version": acme.organisation.version,
        },
    )

    assert response.status_code == 302
    acme.organisation.refresh_from_db()
    assert (
        acme.organisation.name,
        acme.organisation.time_zone,
        acme.organisation.requires_admin_two_factor,
    ) == ("Acme Group", "Asia/Makassar", True)


def test_organisation_settings_with_a_stale_version_change_nothing(acme):
    url = reverse("organisation-settings", kwargs={"org": "acme"})
    stale = acme.organisation.version
    org_services.update_organisation(
        acme.organisation, actor=acme.admin, expected_version=stale, name="Acme Two"
    )

    response = logged_in(acme.admin).post(
        url, {"name": "Acme Three", "time_zone": "Asia/Jakarta", "version": stale}
    )

    assert response.status_code == 200
    assert "changed by someone else" in response.content.decode()
    acme.organisation.refresh_from_db()
    assert acme.organisation.name == "Acme Two"
