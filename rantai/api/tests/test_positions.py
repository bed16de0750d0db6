"""Positions and duties through the API."""

from rantai.api.tests.conftest import audit_head, problem_of
from rantai.org.models import Duty, Position

URL = "/orgs/acme/positions"


def test_list_positions_with_filters(acme, api_as):
    api = api_as("member")

    def codes(**filters):
        response = api.get(URL, **filters)
        assert response.status_code == 200
        return [p["code"] for p in response.json()["items"]]

    assert codes() == ["DIR", "EXP-CLERK", "FWD-OPS", "EXP-HEAD"]
    assert codes(party_id=acme.export.pk) == ["EXP-CLERK", "EXP-HEAD"]
    assert codes(superior_id=acme.director.pk) == ["EXP-HEAD"]
    assert codes(q="clerk") == ["EXP-CLERK"]
    assert codes(is_active="true", party_id=acme.head_office.pk) == ["DIR"]


def test_read_one_position(acme, api_as):
    response = api_as("member").get(f"{URL}/{acme.export_staff.pk}")

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    assert {k: body[k] for k in body if k not in ("created_at", "updated_at")} == {
        "id": acme.export_staff.pk,
        "party_id": acme.export.pk,
        "title": "Export clerk",
        "code": "EXP-CLERK",
        "superior_id": acme.export_head.pk,
        "job_summary": "",
        "max_holders": 2,
        "is_active": True,
        "version": 1,
    }


def test_create_position(acme, api_as):
    response = api_as("admin").post(
        URL,
        {
            "party_id": acme.warehouse.pk,
            "title": "Warehouse lead",
            "code": "WH-LEAD",
            "superior_id": acme.director.pk,
            "max_holders": 3,
        },
    )

    assert response.status_code == 201
    position = Position.objects.get(pk=response.json()["id"])
    assert (position.party_id, position.superior_id, position.max_holders) == (
        acme.warehouse.pk,
        acme.director.pk,
        3,
    )


def test_update_position(acme, api_as):
    response = api_as("admin").patch(
        f"{URL}/{acme.export_head.pk}",
        {"job_summary": "Leads export.", "version": 1},
    )

    assert response.status_code == 200
    acme.export_head.refresh_from_db()
    assert (acme.export_head.job_summary, acme.export_head.version) == (
        "Leads export.",
        2,
    )


def test_fewer_holders_than_current_ones_is_422(acme, api_as):
    response = api_as("admin").patch(
        f"{URL}/{acme.export_staff.pk}", {"max_holders": 0, "version": 1}
    )

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["max_holders"]


def test_move_position_to_another_party_keeps_its_superior(acme, api_as):
    response = api_as("admin").post(
        f"{URL}/{acme.export_staff.pk}/move",
        {"party_id": acme.warehouse.pk, "version": 1},
    )

    assert response.status_code == 200
    acme.export_staff.refresh_from_db()
    assert (acme.export_staff.party_id, acme.export_staff.superior_id) == (
        acme.warehouse.pk,
        acme.export_head.pk,
    )


def test_move_position_removes_its_superior_with_null(acme, api_as):
    response = api_as("admin").post(
        f"{URL}/{acme.export_staff.pk}/move", {"superior_id": None, "version": 1}
    )

    assert response.status_code == 200
    assert response.json()["superior_id"] is None
    assert response.json()["party_id"] == acme.export.pk


def test_a_cycle_in_the_superior_line_is_422_and_nothing_changes(acme, api_as):
    head = audit_head(acme.organisation)

    response = api_as("admin").post(
        f"{URL}/{acme.director.pk}/move",
        {"superior_id": acme.export_staff.pk, "version": 1},
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "superior_id": [
            "This would make the position its own superior (a cycle in the "
            "superior line)."
        ]
    }
    acme.director.refresh_from_db()
    assert (acme.director.superior_id, acme.director.version) == (None, 1)
    assert audit_head(acme.organisation) == head


def test_deactivate_position_with_holders_is_422(acme, api_as):
    response = api_as("admin").post(
        f"{URL}/{acme.export_head.pk}/deactivate", {"version": 1}
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "__all__": ["End its 1 current holdings first."]
    }


def test_deactivate_and_reactivate_a_vacant_position(acme, api_as):
    api = api_as("admin")
    created = api.post(
        URL, {"party_id": acme.warehouse.pk, "title": "Picker", "code": "PICK"}
    ).json()

    off = api.post(f"{URL}/{created['id']}/deactivate", {"version": 1})
    on = api.post(f"{URL}/{created['id']}/reactivate", {"version": 2})

    assert (off.status_code, off.json()["is_active"]) == (200, False)
    assert (on.status_code, on.json()["is_active"]) == (200, True)


# --- duties -----------------------------------------------------------------------


def test_list_duties_of_a_position(acme, api_as):
    response = api_as("member").get(
        "/orgs/acme/duties", position_id=acme.export_head.pk
    )

    assert response.status_code == 200
    assert [
        (d["title"], d["output_unit"], d["sort_order"])
        for d in response.json()["items"]
    ] == [("Price shipping", "quotation", 10)]


def test_create_update_and_deactivate_a_duty(acme, api_as):
    api = api_as("admin")

    created = api.post(
        "/orgs/acme/duties",
        {
            "position_id": acme.export_head.pk,
            "title": "Book vessels",
            "output_unit": "booking",
        },
    )
    duty_id = created.json()["id"]
    updated = api.patch(
        f"/orgs/acme/duties/{duty_id}",
        {"output_unit": "confirmed booking"},
        headers={"If-Match": '"1"'},
    )
    off = api.post(f"/orgs/acme/duties/{duty_id}/deactivate", {"version": 2})
    on = api.post(f"/orgs/acme/duties/{duty_id}/reactivate", {"version": 3})

    assert (created.status_code, created.json()["sort_order"]) == (201, 20)
    assert (updated.status_code, updated.json()["output_unit"]) == (
        200,
        "confirmed booking",
    )
    assert (off.status_code, off.json()["is_active"]) == (200, False)
    assert (on.status_code, on.json()["is_active"]) == (200, True)
    duty = Duty.objects.get(pk=duty_id)
    assert (duty.output_unit, duty.version, duty.is_active) == (
        "confirmed booking",
        4,
        True,
    )


def test_read_one_duty(acme, api_as):
    duty = acme.export_head.duties.get()

    response = api_as("auditor").get(f"/orgs/acme/duties/{duty.pk}")

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    assert response.json()["title"] == "Price shipping"
