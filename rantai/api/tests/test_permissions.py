"""Who may read and write what: auditors read everything and write nothing,
members cannot change the structure, partners see only their own party."""

import pytest

from rantai.api.tests.conftest import audit_head, problem_of
from rantai.org.models import Duty, Holding, Party, Person, Position


def _writes(acme):
    """One attempt at every kind of organisation-structure write."""
    export, staff, budi = acme.export, acme.export_staff, acme.budi
    holding = budi.holdings.get()
    duty = acme.export_head.duties.get()
    return [
        ("post", "/parties", {"kind": "internal_unit", "name": "S", "code": "S"}),
        ("patch", f"/parties/{export.pk}", {"name": "S", "version": 1}),
        ("post", f"/parties/{export.pk}/move", {"parent_id": None, "version": 1}),
        ("post", f"/parties/{acme.warehouse.pk}/deactivate", {"version": 1}),
        ("post", "/positions", {"party_id": export.pk, "title": "T", "code": "T"}),
        ("patch", f"/positions/{staff.pk}", {"title": "T", "version": 1}),
        ("post", f"/positions/{staff.pk}/move", {"superior_id": None, "version": 1}),
        ("post", f"/positions/{staff.pk}/deactivate", {"version": 1}),
        (
            "post",
            "/duties",
            {"position_id": staff.pk, "title": "D", "output_unit": "u"},
        ),
        ("patch", f"/duties/{duty.pk}", {"title": "D", "version": 1}),
        ("post", "/people", {"full_name": "P"}),
        ("patch", f"/people/{budi.pk}", {"full_name": "P", "version": 1}),
        ("post", f"/people/{budi.pk}/deactivate", {"version": 1}),
        (
            "post",
            "/holdings",
            {"position_id": staff.pk, "person_id": budi.pk, "start_date": "2026-05-01"},
        ),
        ("patch", f"/holdings/{holding.pk}", {"is_acting": True, "version": 1}),
        (
            "post",
            f"/holdings/{holding.pk}/end",
            {"end_date": "2026-12-31", "version": 1},
        ),
    ]


def _state():
    """Everything a write could have changed."""
    return [
        sorted(Party.objects.values_list("pk", "version")),
        sorted(Position.objects.values_list("pk", "version")),
        sorted(Duty.objects.values_list("pk", "version")),
        sorted(Person.objects.values_list("pk", "version")),
        sorted(Holding.objects.values_list("pk", "version")),
    ]


@pytest.mark.parametrize("role", ["auditor", "member", "partner"])
def test_only_admins_change_the_structure_and_refusals_write_nothing(
    acme, api_as, role
):
    api = api_as(role)
    before = _state()
    head = audit_head(acme.organisation)

    statuses = {
        (method, path): api.request(method, "/orgs/acme" + path, body).status_code
        for method, path, body in _writes(acme)
    }

    assert set(statuses.values()) == {403}, statuses
    assert _state() == before
    assert audit_head(acme.organisation) == head


def test_a_refusal_is_a_forbidden_problem(acme, api_as):
    response = api_as("auditor").post(
        "/orgs/acme/parties", {"kind": "internal_unit", "name": "S", "code": "S"}
    )

    body = problem_of(response)
    assert (body["status"], body["code"]) == (403, "forbidden")
    assert body["detail"] == "Only organisation administrators can do this."


def test_auditor_reads_everything(acme, api_as):
    api = api_as("auditor")

    assert api.get("/orgs/acme/parties").json()["count"] == 4
    assert api.get("/orgs/acme/positions").json()["count"] == 4
    assert api.get("/orgs/acme/people").json()["count"] == 3
    assert api.get("/orgs/acme/holdings").json()["count"] == 3
    assert api.get("/orgs/acme/memberships").json()["count"] == 4


def test_partner_sees_only_its_own_party(acme, api_as):
    api = api_as("partner")

    parties = api.get("/orgs/acme/parties").json()
    positions = api.get("/orgs/acme/positions").json()
    people = api.get("/orgs/acme/people").json()
    holdings = api.get("/orgs/acme/holdings").json()

    assert [p["code"] for p in parties["items"]] == ["FWD"]
    assert [p["code"] for p in positions["items"]] == ["FWD-OPS"]
    assert [p["full_name"] for p in people["items"]] == ["Joko Susilo"]
    assert [h["person_id"] for h in holdings["items"]] == [acme.joko.pk]
    assert parties["count"] == positions["count"] == people["count"] == 1


def test_partner_gets_404_for_other_parties_objects(acme, api_as):
    api = api_as("partner")
    duty = acme.export_head.duties.get()
    holding = acme.rina.holdings.get()

    paths = [
        f"/parties/{acme.export.pk}",
        f"/positions/{acme.export_head.pk}",
        f"/duties/{duty.pk}",
        f"/people/{acme.rina.pk}",
        f"/holdings/{holding.pk}",
    ]

    for path in paths:
        response = api.get("/orgs/acme" + path)
        assert response.status_code == 404, path
        assert problem_of(response)["code"] == "not_found"
    assert api.get(f"/orgs/acme/positions/{acme.forwarder_ops.pk}").status_code == 200


def test_partner_filtering_on_other_parties_finds_nothing(acme, api_as):
    response = api_as("partner").get("/orgs/acme/positions", party_id=acme.export.pk)

    assert response.json() == {"items": [], "count": 0}


@pytest.mark.parametrize("role", ["member", "partner"])
def test_memberships_invitations_and_audit_are_for_admins_and_auditors(
    acme, api_as, role
):
    api = api_as(role)

    for path in [
        "/memberships",
        "/invitations",
        "/audit/events",
        "/audit/checkpoint",
        f"/audit/history/org.party/{acme.export.pk}",
    ]:
        response = api.get("/orgs/acme" + path)
        assert response.status_code == 403, path
    assert api.post("/orgs/acme/audit/verify").status_code == 403
