"""Who may do what in one organisation, resolved from the database on every call."""

from __future__ import annotations

import pytest
from django.contrib.auth.models import AnonymousUser

from rantai.accounts.access import access_for, organisations_of
from rantai.accounts.models import Membership, Organisation, Role
from rantai.core.errors import NotFound, PermissionDenied
from rantai.org import membership
from rantai.org import services as org


@pytest.mark.parametrize(
    ("who", "role", "is_admin", "is_auditor", "is_partner", "whole", "may_verify"),
    [
        ("admin", Role.ADMIN, True, False, False, True, True),
        ("member", Role.MEMBER, False, False, False, True, False),
        ("auditor", Role.AUDITOR, False, True, False, True, True),
        ("partner", Role.PARTNER, False, False, True, False, False),
    ],
)
def test_each_role_has_its_rights(
    acme, who, role, is_admin, is_auditor, is_partner, whole, may_verify
):
    access = access_for(getattr(acme, who), "acme")

    assert access.organisation == acme.organisation
    assert (
        access.role,
        access.is_admin,
        access.is_auditor,
        access.is_partner,
        access.sees_whole_organisation,
        access.may_verify_audit,
    ) == (role, is_admin, is_auditor, is_partner, whole, may_verify)
    assert access.partner_party_id == (acme.forwarder.pk if is_partner else None)


def test_only_administrators_pass_require_admin(acme):
    access_for(acme.admin, "acme").require_admin()
    for who in ("member", "auditor", "partner"):
        with pytest.raises(PermissionDenied) as denied:
            access_for(getattr(acme, who), "acme").require_admin()
        assert denied.value.message == "Only organisation administrators can do this."


def test_partners_do_not_pass_require_whole_organisation(acme):
    access_for(acme.auditor, "acme").require_whole_organisation()
    with pytest.raises(NotFound):
        access_for(acme.partner, "acme").require_whole_organisation()


def test_unknown_forbidden_and_anonymous_look_the_same(acme, other_org):
    # a member of another organisation, an unknown slug, nobody, an anonymous visitor
    for user, slug in (
        (other_org.admin, "acme"),
        (acme.admin, "no-such-org"),
        (None, "acme"),
        (AnonymousUser(), "acme"),
    ):
        with pytest.raises(NotFound) as refused:
            access_for(user, slug)
        assert refused.value.status == 404


def test_a_deactivated_account_has_no_access(acme):
    acme.member.is_active = False
    acme.member.save(update_fields=["is_active"])

    with pytest.raises(NotFound):
        access_for(acme.member, "acme")


def test_a_deactivated_organisation_is_not_found(acme):
    Organisation.objects.filter(pk=acme.organisation.pk).update(is_active=False)

    with pytest.raises(NotFound):
        access_for(acme.admin, "acme")
    assert organisations_of(acme.admin) == []


def test_ending_a_membership_ends_access_without_touching_the_session(acme):
    ended = Membership.objects.get(user=acme.partner, organisation=acme.organisation)
    membership.end_membership(ended, actor=acme.admin, expected_version=1)

    with pytest.raises(NotFound):
        access_for(acme.partner, "acme")
    assert organisations_of(acme.partner) == []


def test_a_user_lists_the_organisations_they_belong_to(acme, other_org):
    # given the acme member is also invited into globex as an auditor
    membership.add_member(
        other_org.organisation,
        actor=other_org.admin,
        user=acme.member,
        role=Role.AUDITOR,
    )

    listed = organisations_of(acme.member)

    assert [(m.organisation.slug, m.role) for m in listed] == [
        ("acme", Role.MEMBER),
        ("globex", Role.AUDITOR),
    ]
    assert access_for(acme.member, "globex").role == Role.AUDITOR


def test_a_new_organisation_gives_its_creator_admin_access(acme):
    org.create_organisation("Second", slug="second", actor=acme.member)

    assert access_for(acme.member, "second").is_admin
    assert access_for(acme.member, "acme").role == Role.MEMBER
