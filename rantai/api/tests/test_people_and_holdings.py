"""People and holders through the API."""

import datetime as dt

from django.utils import timezone

from rantai.api.tests.conftest import audit_head, problem_of
from rantai.org import services as org
from rantai.org.models import Holding, Person


def test_list_people_with_filters(acme, api_as):
    api = api_as("member")

    def names(**filters):
        response = api.get("/orgs/acme/people", **filters)
        assert response.status_code == 200
        return [p["full_name"] for p in response.json()["items"]]

    assert names() == ["Budi Santoso", "Joko Susilo", "Rina Kusuma"]
    assert names(party_id=acme.forwarder.pk) == ["Joko Susilo"]
    assert names(q="rina") == ["Rina Kusuma"]
    assert names(is_active="false") == []


def test_read_one_person(acme, api_as):
    response = api_as("member").get(f"/orgs/acme/people/{acme.rina.pk}")

    assert response.status_code == 200
    body = response.json()
    assert {k: body[k] for k in body if k not in ("created_at", "updated_at")} == {
        "id": acme.rina.pk,
        "full_name": "Rina Kusuma",
        "email": "",
        "employee_number": "",
        "party_id": None,
        "user_id": acme.member.pk,
        "is_active": True,
        "version": 1,
    }


def test_create_person_linked_to_a_member(acme, api_as):
    response = api_as("admin").post(
        "/orgs/acme/people",
        {
            "full_name": "Sari Dewi",
            "email": "Sari@Example.test",
            "employee_number": "E-7",
            "user_id": acme.auditor.pk,
        },
    )

    assert response.status_code == 201
    person = Person.objects.get(pk=response.json()["id"])
    assert (person.full_name, person.email, person.employee_number) == (
        "Sari Dewi",
        "sari@example.test",
        "E-7",
    )
    assert person.user_id == acme.auditor.pk


def test_a_person_cannot_be_linked_to_a_login_outside_the_organisation(
    acme, other_org, api_as
):
    response = api_as("admin").post(
        "/orgs/acme/people", {"full_name": "Spy", "user_id": other_org.admin.pk}
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "user_id": ["There is no such record here."]
    }
    assert not Person.objects.filter(full_name="Spy").exists()


def test_update_person(acme, api_as):
    response = api_as("admin").patch(
        f"/orgs/acme/people/{acme.budi.pk}",
        {"employee_number": "E-1", "party_id": acme.forwarder.pk, "version": 1},
    )

    assert response.status_code == 200
    acme.budi.refresh_from_db()
    assert (acme.budi.employee_number, acme.budi.party_id, acme.budi.version) == (
        "E-1",
        acme.forwarder.pk,
        2,
    )


def test_deactivate_a_person_holding_a_position_is_422(acme, api_as):
    response = api_as("admin").post(
        f"/orgs/acme/people/{acme.budi.pk}/deactivate", {"version": 1}
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "__all__": ["End this person's 1 current holdings first."]
    }


def test_deactivate_and_reactivate_a_person(acme, api_as):
    api = api_as("admin")
    person = org.create_person(acme.organisation, actor=acme.admin, full_name="Ani")

    off = api.post(f"/orgs/acme/people/{person.pk}/deactivate", {"version": 1})
    on = api.post(f"/orgs/acme/people/{person.pk}/reactivate", {"version": 2})

    assert (off.status_code, off.json()["is_active"]) == (200, False)
    assert (on.status_code, on.json()["is_active"]) == (200, True)


# --- holdings ---------------------------------------------------------------------


def test_list_holdings_with_filters(acme, api_as):
    api = api_as("member")
    past = org.create_person(acme.organisation, actor=acme.admin, full_name="Old")
    org.assign_holder(
        acme.director,
        actor=acme.admin,
        person=past,
        start_date=dt.date(2020, 1, 1),
        end_date=dt.date(2020, 12, 31),
    )

    def people(**filters):
        response = api.get("/orgs/acme/holdings", **filters)
        assert response.status_code == 200
        return sorted(h["person_id"] for h in response.json()["items"])

    assert people(position_id=acme.director.pk) == [past.pk]
    assert people(person_id=acme.rina.pk) == [acme.rina.pk]
    assert people(current="true") == sorted([acme.rina.pk, acme.budi.pk, acme.joko.pk])
    assert people(current="false") == [past.pk]


def test_appoint_a_holder(acme, api_as):
    person = org.create_person(acme.organisation, actor=acme.admin, full_name="Ani")

    response = api_as("admin").post(
        "/orgs/acme/holdings",
        {
            "position_id": acme.export_staff.pk,
            "person_id": person.pk,
            "start_date": "2026-03-01",
        },
    )

    assert response.status_code == 201
    body = response.json()
    assert (body["start_date"], body["end_date"], body["is_acting"]) == (
        "2026-03-01",
        None,
        False,
    )
    holding = Holding.objects.get(pk=body["id"])
    assert (holding.position_id, holding.person_id) == (
        acme.export_staff.pk,
        person.pk,
    )


def test_a_full_position_is_422_on_the_person(acme, api_as):
    person = org.create_person(acme.organisation, actor=acme.admin, full_name="Ani")
    head = audit_head(acme.organisation)

    response = api_as("admin").post(
        "/orgs/acme/holdings",
        {
            "position_id": acme.export_head.pk,
            "person_id": person.pk,
            "start_date": "2026-03-01",
        },
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "person_id": [
            "The position already has a holder in that period (Rina Kusuma). End "
            "that holding first, or appoint an acting holder (Plt)."
        ]
    }
    assert not Holding.objects.filter(person=person).exists()
    assert audit_head(acme.organisation) == head


def test_an_acting_holder_may_join_a_full_position(acme, api_as):
    person = org.create_person(acme.organisation, actor=acme.admin, full_name="Ani")

    response = api_as("admin").post(
        "/orgs/acme/holdings",
        {
            "position_id": acme.export_head.pk,
            "person_id": person.pk,
            "start_date": "2026-03-01",
            "is_acting": True,
        },
    )

    assert response.status_code == 201
    assert response.json()["is_acting"] is True


def test_update_holding_dates(acme, api_as):
    holding = acme.budi.holdings.get()

    response = api_as("admin").patch(
        f"/orgs/acme/holdings/{holding.pk}",
        {"end_date": "2027-06-30", "version": 1},
    )

    assert response.status_code == 200
    holding.refresh_from_db()
    assert (holding.start_date, holding.end_date, holding.version) == (
        dt.date(2026, 1, 1),
        dt.date(2027, 6, 30),
        2,
    )


def test_end_a_holding(acme, api_as):
    holding = acme.budi.holdings.get()
    today = timezone.localdate()

    response = api_as("admin").post(
        f"/orgs/acme/holdings/{holding.pk}/end",
        {"end_date": today.isoformat(), "version": 1},
    )

    assert response.status_code == 200
    assert response["ETag"] == '"2"'
    holding.refresh_from_db()
    assert holding.end_date == today


def test_end_before_start_is_422(acme, api_as):
    holding = acme.budi.holdings.get()

    response = api_as("admin").post(
        f"/orgs/acme/holdings/{holding.pk}/end",
        {"end_date": "2025-01-01", "version": 1},
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "end_date": ["The end date must not be before the start date."]
    }
    holding.refresh_from_db()
    assert holding.end_date is None


def test_a_malformed_date_is_422(acme, api_as):
    holding = acme.budi.holdings.get()

    response = api_as("admin").post(
        f"/orgs/acme/holdings/{holding.pk}/end",
        {"end_date": "31/12/2026", "version": 1},
    )

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["end_date"]
