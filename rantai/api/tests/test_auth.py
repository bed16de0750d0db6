"""Who may call the API: personal tokens, the signed-in session, and languages."""

import json

from django.test import Client
from django_otp.plugins.otp_totp.models import TOTPDevice

from rantai.accounts.tokens import create_token, revoke_token
from rantai.api.tests.conftest import BASE, Api, api_for, problem_of
from rantai.org import membership
from rantai.org.models import Party


def test_no_token_is_401_problem_with_bearer_challenge(acme):
    response = Api(None).get("/orgs/acme/parties")

    assert response.status_code == 401
    body = problem_of(response)
    assert body["type"] == "urn:rantai:problem:unauthenticated"
    assert body["title"] == "Authentication required"
    assert body["instance"] == "/api/v1/orgs/acme/parties"
    assert response["WWW-Authenticate"] == 'Bearer realm="rantai"'


def test_unknown_token_is_401(acme):
    response = Api("rnt_not-a-real-token").get("/me")

    assert response.status_code == 401
    assert problem_of(response)["code"] == "unauthenticated"


def test_bad_token_on_post_is_401_not_a_csrf_refusal(acme):
    before = Party.objects.count()

    response = Api("rnt_wrong").post(
        "/orgs/acme/parties", {"kind": "internal_unit", "name": "X", "code": "X"}
    )

    assert response.status_code == 401
    assert Party.objects.count() == before


def test_revoked_token_is_401(acme):
    token, raw = create_token(acme.admin, name="laptop")
    assert Api(raw).get("/me").status_code == 200

    revoke_token(token.pk, user=acme.admin)

    assert Api(raw).get("/me").status_code == 401


def test_token_of_inactive_user_is_401(acme):
    api = api_for(acme.member)
    acme.member.is_active = False
    acme.member.save(update_fields=["is_active"])

    assert api.get("/me").status_code == 401


def test_me_lists_the_users_memberships(acme, other_org, api_as):
    response = api_as("member").get("/me")

    assert response.status_code == 200
    assert response.json() == {
        "id": acme.member.pk,
        "username": "member",
        "full_name": "Member",
        "email": "member@example.test",
        "language": "en",
        "organisations": [
            {
                "slug": "acme",
                "name": "Acme Ltd",
                "time_zone": "Asia/Jakarta",
                "role": "member",
                "party_id": None,
                "membership_id": acme.member.memberships.get().pk,
            }
        ],
    }


def test_orgs_lists_only_my_organisations(acme, other_org, api_as):
    response = api_as("partner").get("/orgs")

    assert response.status_code == 200
    assert [(o["slug"], o["role"], o["party_id"]) for o in response.json()] == [
        ("acme", "partner", acme.forwarder.pk)
    ]


def test_another_organisation_answers_404_like_an_unknown_one(acme, other_org):
    api = api_for(acme.admin)

    foreign = api.get("/orgs/globex/parties")
    unknown = api.get("/orgs/no-such-org/parties")

    assert foreign.status_code == unknown.status_code == 404
    assert problem_of(foreign)["detail"] == problem_of(unknown)["detail"]


def test_another_organisations_object_is_404_through_my_organisation(
    acme, other_org, api_as
):
    response = api_as("admin").get(f"/orgs/acme/parties/{other_org.export.pk}")

    assert response.status_code == 404
    assert problem_of(response)["code"] == "not_found"


def test_token_of_an_ended_membership_answers_404_for_that_organisation(acme, api_as):
    api = api_as("member")
    assert api.get("/orgs/acme/parties").status_code == 200
    ended = acme.member.memberships.get()

    membership.end_membership(ended, actor=acme.admin, expected_version=ended.version)

    assert api.get("/orgs/acme/parties").status_code == 404
    assert api.get("/orgs").json() == []


def _signed_in(user, *, enforce_csrf: bool) -> Client:
    client = Client(enforce_csrf_checks=enforce_csrf)
    client.force_login(user)
    return client


def test_signed_in_session_reads_without_a_token(acme):
    client = _signed_in(acme.member, enforce_csrf=True)

    response = client.get(f"{BASE}/orgs/acme/parties/{acme.export.pk}")

    assert response.status_code == 200
    assert response.json()["code"] == "EXP"


def test_session_write_without_csrf_token_is_refused(acme):
    client = _signed_in(acme.admin, enforce_csrf=True)
    before = Party.objects.count()

    response = client.post(
        f"{BASE}/orgs/acme/parties",
        json.dumps({"kind": "internal_unit", "name": "Sales", "code": "SAL"}),
        content_type="application/json",
    )

    assert response.status_code == 403
    assert problem_of(response)["code"] == "forbidden"
    assert Party.objects.count() == before


def test_session_write_with_csrf_token_works(acme):
    client = _signed_in(acme.admin, enforce_csrf=True)
    client.get(f"{BASE}/docs")  # sets the CSRF cookie, as the docs page does
    csrf = client.cookies["csrftoken"].value

    response = client.post(
        f"{BASE}/orgs/acme/parties",
        json.dumps({"kind": "internal_unit", "name": "Sales", "code": "SAL"}),
        content_type="application/json",
        headers={"X-CSRFToken": csrf},
    )

    assert response.status_code == 201
    assert Party.objects.get(pk=response.json()["id"]).code == "SAL"


def test_answers_in_the_token_users_language(acme):
    acme.member.language = "id"
    acme.member.save(update_fields=["language"])
    api = api_for(acme.member)

    response = api.post(
        "/orgs/acme/parties", {"kind": "internal_unit", "name": "X", "code": "X"}
    )

    assert response.status_code == 403
    assert response["Content-Language"] == "id"
    # The Indonesian catalogue is written separately; its texts are checked there.
    assert problem_of(response)["detail"]


def test_anonymous_errors_follow_accept_language(db):
    response = Api(None).request("get", "/me", headers={"Accept-Language": "id"})

    assert response.status_code == 401
    assert response["Content-Language"] == "id"


def test_session_without_a_completed_two_factor_login_is_not_enough(acme):
    TOTPDevice.objects.create(user=acme.member, name="phone", confirmed=True)
    client = _signed_in(acme.member, enforce_csrf=True)

    response = client.get(f"{BASE}/orgs/acme/parties")

    assert response.status_code == 401


def test_admin_session_needs_two_factor_where_the_organisation_requires_it(acme):
    acme.organisation.requires_admin_two_factor = True
    acme.organisation.save(update_fields=["requires_admin_two_factor"])
    client = _signed_in(acme.admin, enforce_csrf=True)

    response = client.get(f"{BASE}/orgs/acme/parties")

    assert response.status_code == 403
    assert problem_of(response)["detail"] == (
        "This organisation requires two-factor login for administrators."
    )
    # Members are not concerned, and a token (created after signing in) still works.
    assert (
        _signed_in(acme.member, enforce_csrf=True)
        .get(f"{BASE}/orgs/acme/parties")
        .status_code
        == 200
    )
    assert api_for(acme.admin).get("/orgs/acme/parties").status_code == 200
