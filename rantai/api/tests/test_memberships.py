"""Memberships and invitations through the API."""

from rantai.accounts.models import Invitation, Membership
from rantai.api.tests.conftest import api_for, problem_of
from rantai.core.models import OutboxMessage


def _membership(user):
    return Membership.objects.get(user=user, is_active=True)


def test_list_memberships(acme, api_as):
    response = api_as("auditor").get("/orgs/acme/memberships")

    assert response.status_code == 200
    items = response.json()["items"]
    assert [(m["user"]["username"], m["role"], m["party_id"]) for m in items] == [
        ("admin", "admin", None),
        ("auditor", "auditor", None),
        ("member", "member", None),
        ("partner", "partner", acme.forwarder.pk),
    ]
    assert items[0]["user"] == {
        "id": acme.admin.pk,
        "username": "admin",
        "full_name": "Admin",
        "email": "admin@example.test",
    }


def test_filter_memberships_by_role(acme, api_as):
    response = api_as("admin").get("/orgs/acme/memberships", role="partner")

    assert [m["user"]["username"] for m in response.json()["items"]] == ["partner"]


def test_change_a_members_role(acme, api_as):
    membership = _membership(acme.member)

    response = api_as("admin").patch(
        f"/orgs/acme/memberships/{membership.pk}",
        {"role": "auditor"},
        headers={"If-Match": '"1"'},
    )

    assert response.status_code == 200
    assert response["ETag"] == '"2"'
    membership.refresh_from_db()
    assert (membership.role, membership.version) == ("auditor", 2)


def test_a_partner_role_needs_an_external_party(acme, api_as):
    membership = _membership(acme.member)

    missing = api_as("admin").patch(
        f"/orgs/acme/memberships/{membership.pk}", {"role": "partner", "version": 1}
    )
    internal = api_as("admin").patch(
        f"/orgs/acme/memberships/{membership.pk}",
        {"role": "partner", "party_id": acme.export.pk, "version": 1},
    )

    assert missing.status_code == internal.status_code == 422
    assert list(problem_of(missing)["errors"]) == ["party_id"]
    assert problem_of(internal)["errors"] == {
        "party_id": ["Choose an external partner of this organisation."]
    }
    membership.refresh_from_db()
    assert (membership.role, membership.version) == ("member", 1)


def test_the_last_administrator_cannot_step_down(acme, api_as):
    membership = _membership(acme.admin)

    response = api_as("admin").patch(
        f"/orgs/acme/memberships/{membership.pk}", {"role": "member", "version": 1}
    )

    assert response.status_code == 422
    assert problem_of(response)["detail"] == (
        "An organisation needs at least one administrator."
    )


def test_ending_a_membership_ends_the_members_api_access(acme, api_as):
    member_api = api_for(acme.member)
    membership = _membership(acme.member)

    response = api_as("admin").post(
        f"/orgs/acme/memberships/{membership.pk}/end", {"version": 1}
    )

    assert response.status_code == 200
    assert (response.json()["is_active"], response.json()["ended_at"] is None) == (
        False,
        False,
    )
    assert member_api.get("/orgs/acme/parties").status_code == 404


def test_member_cannot_change_memberships(acme, api_as):
    membership = _membership(acme.auditor)

    response = api_as("member").patch(
        f"/orgs/acme/memberships/{membership.pk}", {"role": "admin", "version": 1}
    )

    assert response.status_code == 403
    membership.refresh_from_db()
    assert membership.role == "auditor"


def test_invite_sends_an_email_and_never_returns_the_link(acme, api_as):
    response = api_as("admin").post(
        "/orgs/acme/invitations",
        {"email": "New.Person@Example.test", "role": "member"},
    )

    assert response.status_code == 201
    body = response.json()
    invitation = Invitation.objects.get(pk=body["id"])
    assert response["Location"] == f"/api/v1/orgs/acme/invitations/{invitation.pk}"
    assert (body["email"], body["role"], body["status"]) == (
        "new.person@example.test",
        "member",
        "open",
    )
    assert "digest" not in body and "link" not in body
    assert (
        OutboxMessage.objects.filter(recipient="new.person@example.test").count() == 1
    )


def test_invite_a_partner(acme, api_as):
    response = api_as("admin").post(
        "/orgs/acme/invitations",
        {"email": "ops@fast.test", "role": "partner", "party_id": acme.forwarder.pk},
    )

    assert response.status_code == 201
    assert response.json()["party_id"] == acme.forwarder.pk


def test_invite_with_a_bad_address_is_422(acme, api_as):
    response = api_as("admin").post(
        "/orgs/acme/invitations", {"email": "not-an-address", "role": "member"}
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "email": ["Enter a valid e-mail address."]
    }
    assert not Invitation.objects.exists()


def test_list_and_revoke_invitations(acme, api_as):
    api = api_as("admin")
    first = api.post(
        "/orgs/acme/invitations", {"email": "a@example.test", "role": "member"}
    ).json()
    api.post("/orgs/acme/invitations", {"email": "b@example.test", "role": "auditor"})

    revoked = api.post(f"/orgs/acme/invitations/{first['id']}/revoke")
    open_ones = api.get("/orgs/acme/invitations", open="true").json()
    closed = api.get("/orgs/acme/invitations", open="false").json()
    one = api.get(f"/orgs/acme/invitations/{first['id']}")

    assert (revoked.status_code, revoked.json()["status"]) == (200, "revoked")
    assert [i["email"] for i in open_ones["items"]] == ["b@example.test"]
    assert [i["email"] for i in closed["items"]] == ["a@example.test"]
    assert one.json()["status"] == "revoked"


def test_auditor_lists_invitations_but_cannot_invite(acme, api_as):
    api = api_as("auditor")

    listed = api.get("/orgs/acme/invitations")
    invited = api.post(
        "/orgs/acme/invitations", {"email": "x@example.test", "role": "member"}
    )

    assert listed.status_code == 200
    assert invited.status_code == 403
    assert not Invitation.objects.exists()
    assert not OutboxMessage.objects.exists()
