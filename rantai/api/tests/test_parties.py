"""Parties through the API: the same rules as the web pages."""

from rantai.api.tests.conftest import audit_head, problem_of
from rantai.audit.models import AuditEvent
from rantai.org.models import Party

URL = "/orgs/acme/parties"


def test_list_parties_paginated_in_kind_and_name_order(acme, api_as):
    response = api_as("member").get(URL, limit=2, offset=1)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 4
    # external partners sort before internal units, then by name
    assert [p["code"] for p in body["items"]] == ["EXP", "HO"]


def test_list_parties_filters(acme, api_as):
    api = api_as("member")

    def codes(**filters):
        response = api.get(URL, **filters)
        assert response.status_code == 200
        return [p["code"] for p in response.json()["items"]]

    assert codes(kind="external_partner") == ["FWD"]
    assert codes(parent_id=acme.head_office.pk) == ["EXP", "WH"]
    assert codes(q="ware") == ["WH"]
    assert codes(is_active="false") == []


def test_read_one_party_with_its_version_as_etag(acme, api_as):
    response = api_as("auditor").get(f"{URL}/{acme.export.pk}")

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    assert body == {
        "id": acme.export.pk,
        "kind": "internal_unit",
        "name": "Export",
        "code": "EXP",
        "parent_id": acme.head_office.pk,
        "description": "",
        "head_position_id": None,
        "is_active": True,
        "version": 1,
        "created_at": body["created_at"],
        "updated_at": body["updated_at"],
    }


def test_create_party(acme, api_as):
    response = api_as("admin").post(
        URL,
        {
            "kind": "internal_unit",
            "name": "Sales",
            "code": "SAL",
            "parent_id": acme.head_office.pk,
            "description": "Sells.",
        },
    )

    assert response.status_code == 201
    party = Party.objects.get(pk=response.json()["id"])
    assert response["Location"] == f"/api/v1/orgs/acme/parties/{party.pk}"
    assert response["ETag"] == '"1"'
    assert (party.name, party.code, party.parent_id, party.description) == (
        "Sales",
        "SAL",
        acme.head_office.pk,
        "Sells.",
    )
    event = AuditEvent.objects.filter(organisation=acme.organisation).last()
    assert event is not None
    assert (event.verb, event.target_id, event.actor_id) == (
        "created",
        str(party.pk),
        acme.admin.pk,
    )


def test_create_party_with_a_taken_code_is_422(acme, api_as):
    response = api_as("admin").post(
        URL, {"kind": "internal_unit", "name": "Exports 2", "code": "EXP"}
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "__all__": ["Another party already uses this code."]
    }


def test_create_party_under_another_organisations_unit_is_422(acme, other_org, api_as):
    response = api_as("admin").post(
        URL,
        {
            "kind": "internal_unit",
            "name": "Sales",
            "code": "SAL",
            "parent_id": other_org.head_office.pk,
        },
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "parent_id": ["There is no such record here."]
    }


def test_schema_errors_are_422_with_field_errors(acme, api_as):
    response = api_as("admin").post(URL, {"kind": "planet", "name": "X"})

    assert response.status_code == 422
    errors = problem_of(response)["errors"]
    assert sorted(errors) == ["code", "kind"]
    assert errors["code"] == ["Field required"]


def test_update_party_with_version_in_body(acme, api_as):
    response = api_as("admin").patch(
        f"{URL}/{acme.export.pk}", {"name": "Export & Shipping", "version": 1}
    )

    assert response.status_code == 200
    assert response["ETag"] == '"2"'
    assert response.json()["name"] == "Export & Shipping"
    acme.export.refresh_from_db()
    assert (acme.export.name, acme.export.version) == ("Export & Shipping", 2)


def test_update_party_with_if_match(acme, api_as):
    response = api_as("admin").patch(
        f"{URL}/{acme.export.pk}",
        {"description": "Ships things."},
        headers={"If-Match": '"1"'},
    )

    assert response.status_code == 200
    acme.export.refresh_from_db()
    assert (acme.export.description, acme.export.version) == ("Ships things.", 2)


def test_update_with_a_stale_version_is_409_and_writes_nothing(acme, api_as):
    api = api_as("admin")
    first = api.patch(f"{URL}/{acme.export.pk}", {"name": "A", "version": 1})
    assert first.status_code == 200
    head = audit_head(acme.organisation)

    response = api.patch(f"{URL}/{acme.export.pk}", {"name": "B", "version": 1})

    assert response.status_code == 409
    assert problem_of(response)["code"] == "conflict"
    acme.export.refresh_from_db()
    assert (acme.export.name, acme.export.version) == ("A", 2)
    assert audit_head(acme.organisation) == head


def test_stale_if_match_is_409(acme, api_as):
    response = api_as("admin").patch(
        f"{URL}/{acme.export.pk}", {"name": "B"}, headers={"If-Match": "7"}
    )

    assert response.status_code == 409
    acme.export.refresh_from_db()
    assert acme.export.name == "Export"


def test_update_without_a_version_is_428_and_writes_nothing(acme, api_as):
    head = audit_head(acme.organisation)

    response = api_as("admin").patch(f"{URL}/{acme.export.pk}", {"name": "B"})

    assert response.status_code == 428
    body = problem_of(response)
    assert body["code"] == "version_required"
    assert body["title"] == "Precondition required"
    acme.export.refresh_from_db()
    assert acme.export.name == "Export"
    assert audit_head(acme.organisation) == head


def test_body_version_and_if_match_must_agree(acme, api_as):
    response = api_as("admin").patch(
        f"{URL}/{acme.export.pk}",
        {"name": "B", "version": 1},
        headers={"If-Match": '"2"'},
    )

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["version"]


def test_move_party(acme, api_as):
    response = api_as("admin").post(
        f"{URL}/{acme.warehouse.pk}/move",
        {"parent_id": acme.export.pk, "version": 1},
    )

    assert response.status_code == 200
    acme.warehouse.refresh_from_db()
    assert (acme.warehouse.parent_id, acme.warehouse.version) == (acme.export.pk, 2)


def test_move_party_to_the_top(acme, api_as):
    response = api_as("admin").post(
        f"{URL}/{acme.export.pk}/move", {"parent_id": None, "version": 1}
    )

    assert response.status_code == 200
    assert response.json()["parent_id"] is None


def test_move_party_under_its_own_sub_unit_is_422(acme, api_as):
    head = audit_head(acme.organisation)

    response = api_as("admin").post(
        f"{URL}/{acme.head_office.pk}/move",
        {"parent_id": acme.export.pk, "version": 1},
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "parent_id": [
            "A unit cannot be placed under itself or one of its own sub-units."
        ]
    }
    acme.head_office.refresh_from_db()
    assert acme.head_office.parent_id is None
    assert audit_head(acme.organisation) == head


def test_deactivate_and_reactivate_party(acme, api_as):
    api = api_as("admin")

    off = api.post(f"{URL}/{acme.warehouse.pk}/deactivate", {"version": 1})
    on = api.post(f"{URL}/{acme.warehouse.pk}/reactivate", headers={"If-Match": '"2"'})

    assert (off.status_code, off.json()["is_active"]) == (200, False)
    assert (on.status_code, on.json()["is_active"], on["ETag"]) == (200, True, '"3"')


def test_deactivate_without_version_is_428(acme, api_as):
    response = api_as("admin").post(f"{URL}/{acme.warehouse.pk}/deactivate")

    assert response.status_code == 428
    acme.warehouse.refresh_from_db()
    assert acme.warehouse.is_active


def test_deactivate_a_party_with_active_positions_is_422(acme, api_as):
    response = api_as("admin").post(
        f"{URL}/{acme.export.pk}/deactivate", {"version": 1}
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "__all__": ["Move or deactivate its 2 active positions first."]
    }
