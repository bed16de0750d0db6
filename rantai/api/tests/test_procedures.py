"""Procedures and their versions through the API: read, create, change, edit a
draft (run fields, steps, step roles, dependencies), publish, retire, compare."""

import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.tests.chains_data import (
    StepSpec,
    api_of,
    build_version,
    chain_org,
    internal,
    shipment,
)
from rantai.api.tests.conftest import problem_of
from rantai.chains import services
from rantai.chains.models import (
    Procedure,
    ProcedureVersion,
    RaciRole,
    RunField,
    Step,
    StepDependency,
    StepRole,
    VersionStatus,
)

BASE = "/orgs/acme"


@pytest.fixture
def chain(acme):
    return chain_org(acme)


@pytest.fixture
def ship(chain):
    """The published shipment procedure, version 1."""
    return shipment(chain)


def _writes_state():
    """Everything a procedure write could have changed."""
    return [
        sorted(Procedure.objects.values_list("pk", "version", "is_active")),
        sorted(ProcedureVersion.objects.values_list("pk", "version", "status")),
        sorted(RunField.objects.values_list("pk", "version")),
        sorted(Step.objects.values_list("pk", "version")),
        sorted(StepRole.objects.values_list("pk", "role")),
        sorted(StepDependency.objects.values_list("pk", "version")),
    ]


# --- procedures -------------------------------------------------------------------


def test_list_procedures_with_filters(chain, ship, api_as):
    internal(chain)
    api = api_as("member")

    def codes(**filters):
        response = api.get(f"{BASE}/procedures", **filters)
        assert response.status_code == 200
        return [p["code"] for p in response.json()["items"]]

    assert codes() == ["COUNT", "SHIP"]
    assert codes(q="ship") == ["SHIP"]
    assert codes(owner_position_id=chain.o.export_head.pk) == ["COUNT", "SHIP"]
    assert codes(owner_position_id=chain.o.director.pk) == []
    assert codes(is_active="false") == []


def test_a_partner_sees_only_the_procedures_its_party_takes_part_in(
    chain, ship, api_as
):
    count = internal(chain)
    api = api_as("partner")

    listed = api.get(f"{BASE}/procedures")
    other = api.get(f"{BASE}/procedures/{count.procedure_id}")
    versions = api.get(f"{BASE}/procedures/{ship.procedure_id}/versions")
    version = api.get(f"{BASE}/procedure-versions/{ship.pk}")

    assert [p["code"] for p in listed.json()["items"]] == ["SHIP"]
    assert other.status_code == 404
    # a partner sees that the procedure exists, not its content
    assert (versions.status_code, version.status_code) == (404, 404)


def test_read_one_procedure(ship, api_as):
    response = api_as("auditor").get(f"{BASE}/procedures/{ship.procedure_id}")

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    assert {k: body[k] for k in body if k not in ("created_at", "updated_at")} == {
        "id": ship.procedure_id,
        "code": "SHIP",
        "name": "Procedure SHIP",
        "owner_position_id": ship.procedure.owner_position_id,
        "description": "",
        "is_active": True,
        "published_version_id": ship.pk,
        "draft_version_id": None,
        "version": 1,
    }


def test_the_owner_positions_holder_creates_a_procedure_with_a_draft(
    chain, api_as, audit_trail
):
    trail = audit_trail(chain.o.organisation)

    response = api_as("member").post(
        f"{BASE}/procedures",
        {
            "code": "RET",
            "name": "Customer returns",
            "owner_position_id": chain.o.export_head.pk,
            "description": "Goods coming back.",
        },
    )

    assert response.status_code == 201
    procedure = Procedure.objects.get(code="RET")
    draft = procedure.versions.get()
    assert response["Location"] == f"/api/v1/orgs/acme/procedures/{procedure.pk}"
    assert response["ETag"] == '"1"'
    assert response.json()["draft_version_id"] == draft.pk
    assert response.json()["published_version_id"] is None
    assert (draft.number, draft.status) == (1, VersionStatus.DRAFT)
    assert [e.verb for e in trail.new_events()] == ["created", "created"]


@pytest.mark.parametrize("who", ["dewi", "auditor", "partner"])
def test_others_may_not_create_a_procedure(chain, who, audit_trail):
    user = getattr(chain, who, None) or getattr(chain.o, who)
    trail = audit_trail(chain.o.organisation)

    response = api_of(user).post(
        f"{BASE}/procedures",
        {"code": "RET", "name": "Returns", "owner_position_id": chain.o.director.pk},
    )

    assert response.status_code == 403
    assert problem_of(response)["code"] == "forbidden"
    assert not Procedure.objects.filter(code="RET").exists()
    trail.assert_nothing_new()


def test_update_a_procedure_with_the_version_or_if_match(chain, ship, api_as):
    api = api_as("member")
    url = f"{BASE}/procedures/{ship.procedure_id}"

    renamed = api.patch(url, {"name": "Shipment to a customer city", "version": 1})
    owner = api.patch(
        url, {"owner_position_id": chain.o.director.pk}, headers={"If-Match": '"2"'}
    )

    assert (renamed.status_code, renamed.json()["name"]) == (
        200,
        "Shipment to a customer city",
    )
    assert (owner.status_code, owner["ETag"]) == (200, '"3"')
    procedure = Procedure.objects.get(pk=ship.procedure_id)
    assert (procedure.name, procedure.owner_position_id, procedure.version) == (
        "Shipment to a customer city",
        chain.o.director.pk,
        3,
    )


def test_a_stale_version_is_409_and_a_missing_one_428_and_nothing_changes(
    chain, ship, api_as, audit_trail
):
    api = api_as("member")
    url = f"{BASE}/procedures/{ship.procedure_id}"
    api.patch(url, {"description": "v2", "version": 1})
    trail = audit_trail(chain.o.organisation)

    stale = api.patch(url, {"description": "lost update", "version": 1})
    missing = api.patch(url, {"description": "no version"})

    assert stale.status_code == 409
    assert problem_of(stale)["code"] == "conflict"
    assert missing.status_code == 428
    assert problem_of(missing)["code"] == "version_required"
    procedure = Procedure.objects.get(pk=ship.procedure_id)
    assert (procedure.description, procedure.version) == ("v2", 2)
    trail.assert_nothing_new()


def test_deactivate_and_reactivate_a_procedure(ship, api_as):
    api = api_as("admin")
    url = f"{BASE}/procedures/{ship.procedure_id}"

    off = api.post(f"{url}/deactivate", {"version": 1})
    on = api.post(f"{url}/reactivate", headers={"If-Match": '"2"'})

    assert (off.status_code, off.json()["is_active"]) == (200, False)
    assert (on.status_code, on.json()["is_active"], on["ETag"]) == (200, True, '"3"')


def test_procedures_of_another_organisation_are_404(ship, other_org):
    api = api_of(other_org.admin)

    own = api.get("/orgs/globex/procedures")
    foreign = api.get(f"{BASE}/procedures/{ship.procedure_id}")
    smuggled = api.get(f"/orgs/globex/procedures/{ship.procedure_id}")
    version = api.get(f"/orgs/globex/procedure-versions/{ship.pk}")

    assert json.loads(own.content) == {"items": [], "count": 0}
    assert (foreign.status_code, smuggled.status_code, version.status_code) == (
        404,
        404,
        404,
    )


# --- versions ---------------------------------------------------------------------


def test_a_version_with_its_fields_steps_roles_and_dependencies(chain, ship, api_as):
    o = chain.o
    response = api_as("member").get(f"{BASE}/procedure-versions/{ship.pk}")

    assert response.status_code == 200
    assert response["ETag"] == '"2"'  # published: its version moved once
    body = response.json()
    assert (body["number"], body["status"], body["published_by_id"]) == (
        1,
        "published",
        o.admin.pk,
    )
    assert [
        (f["key"], f["field_type"], f["required"], f["sort_order"])
        for f in body["fields"]
    ] == [("destination", "text", True, 10), ("shipment_value", "decimal", False, 20)]
    steps = {s["key"]: s for s in body["steps"]}
    assert [s["key"] for s in body["steps"]] == ["target", "produce", "price", "pickup"]
    assert {k: steps["price"][k] for k in steps["price"] if k != "id"} == {
        "procedure_version_id": ship.pk,
        "key": "price",
        "name": "Price",
        "description": "",
        "duty_id": None,
        "duration_value": "0.50",
        "duration_unit": "working_days",
        "evidence_description": "",
        "requires_evidence": False,
        "requires_verified_evidence": False,
        "requires_approval": False,
        "requires_consultation": False,
        "condition_field": None,
        "condition_operator": None,
        "condition_value": None,
        "sort_order": 30,
        "roles": [
            {
                "id": steps["price"]["roles"][0]["id"],
                "step_id": steps["price"]["id"],
                "role": "A",
                "position_id": o.export_head.pk,
                "party_id": None,
            },
            {
                "id": steps["price"]["roles"][1]["id"],
                "step_id": steps["price"]["id"],
                "role": "R",
                "position_id": o.export_staff.pk,
                "party_id": None,
            },
        ],
        "version": 1,
    }
    assert [(r["role"], r["party_id"]) for r in steps["pickup"]["roles"]] == [
        ("A", None),
        ("R", o.forwarder.pk),
    ]
    ids = {s["id"]: s["key"] for s in body["steps"]}
    assert [
        (ids[d["predecessor_id"]], ids[d["successor_id"]], d["kind"], d["lag_value"])
        for d in body["dependencies"]
    ] == [
        ("target", "price", "finish_to_start", "0.00"),
        ("produce", "pickup", "finish_to_start", "0.00"),
        ("price", "pickup", "finish_to_start", "0.00"),
    ]


def test_edit_a_draft_and_publish_it(chain, api_as, audit_trail):
    """A whole procedure built through the API: the owner's holder edits, publishes."""
    o = chain.o
    api = api_as("member")
    created = api.post(
        f"{BASE}/procedures",
        {"code": "RET", "name": "Returns", "owner_position_id": o.export_head.pk},
    ).json()
    draft = created["draft_version_id"]
    url = f"{BASE}/procedure-versions/{draft}"

    field = api.post(
        f"{url}/fields",
        {"key": "value", "label": "Value", "field_type": "decimal", "required": False},
    )
    receive = api.post(
        f"{url}/steps",
        {"key": "receive", "name": "Receive goods", "duration_value": "1"},
    )
    check = api.post(
        f"{url}/steps",
        {
            "key": "check",
            "name": "Check goods",
            "duration_value": 4,
            "duration_unit": "working_hours",
            "condition_field": "value",
            "condition_operator": "gt",
            "condition_value": "1000",
        },
    )
    receive_id, check_id = receive.json()["id"], check.json()["id"]
    roles = [
        api.post(f"{BASE}/steps/{step}/roles", {"role": role, "position_id": pos})
        for step, role, pos in [
            (receive_id, "A", o.export_head.pk),
            (receive_id, "R", chain.warehouse_head.pk),
            (check_id, "A", o.export_head.pk),
            (check_id, "R", o.export_staff.pk),
        ]
    ]
    link = api.post(
        f"{url}/dependencies",
        {"predecessor_id": receive_id, "successor_id": check_id, "lag_value": 2},
    )
    renamed = api.patch(
        f"{BASE}/steps/{check_id}", {"name": "Inspect goods", "version": 1}
    )
    relinked = api.patch(
        f"{BASE}/step-dependencies/{link.json()['id']}",
        {"kind": "start_to_start", "version": 1},
    )
    published = api.post(f"{url}/publish", {"version": 1})

    assert field.status_code == 201
    assert field["Location"] == (f"/api/v1/orgs/acme/run-fields/{field.json()['id']}")
    assert (receive.status_code, receive["Location"], receive["ETag"]) == (
        201,
        f"/api/v1/orgs/acme/steps/{receive_id}",
        '"1"',
    )
    assert check.json()["condition_operator"] == "gt"
    assert check.json()["condition_value"] == "1000"
    assert [r.status_code for r in roles] == [201, 201, 201, 201]
    assert roles[0]["Location"] == (
        f"/api/v1/orgs/acme/step-roles/{roles[0].json()['id']}"
    )
    assert (link.status_code, link.json()["lag_value"], link.json()["lag_unit"]) == (
        201,
        "2.00",
        "working_hours",
    )
    assert (renamed.status_code, renamed.json()["name"]) == (200, "Inspect goods")
    assert (relinked.status_code, relinked.json()["kind"]) == (200, "start_to_start")
    assert published.status_code == 200
    assert (published.json()["status"], published["ETag"]) == ("published", '"2"')
    procedure = api.get(f"{BASE}/procedures/{created['id']}").json()
    assert (procedure["published_version_id"], procedure["draft_version_id"]) == (
        draft,
        None,
    )


def test_publishing_an_invalid_draft_is_422_listing_every_problem(
    chain, api_as, audit_trail
):
    o = chain.o
    api = api_as("member")
    created = api.post(
        f"{BASE}/procedures",
        {"code": "RET", "name": "Returns", "owner_position_id": o.export_head.pk},
    ).json()
    url = f"{BASE}/procedure-versions/{created['draft_version_id']}"
    first = api.post(f"{url}/steps", {"key": "a", "name": "Pack", "duration_value": 1})
    second = api.post(
        f"{url}/steps",
        {
            "key": "b",
            "name": "Ship",
            "duration_value": 1,
            "condition_field": "weight",
            "condition_operator": "gt",
            "condition_value": 5,
        },
    )
    a, b = first.json()["id"], second.json()["id"]
    api.post(f"{BASE}/steps/{a}/roles", {"role": "A", "position_id": o.director.pk})
    api.post(f"{url}/dependencies", {"predecessor_id": a, "successor_id": b})
    api.post(f"{url}/dependencies", {"predecessor_id": b, "successor_id": a})
    trail = audit_trail(o.organisation)

    response = api.post(f"{url}/publish", {"version": 1})

    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["code"] == "unpublishable"
    assert problem["errors"] == {
        "__all__": [
            "Step “Pack” needs at least one responsible.",
            "Step “Ship” needs exactly one accountable position (it has 0).",
            "Step “Ship” needs at least one responsible.",
            "The condition of step “Ship” names the field “weight”, which the "
            "procedure does not have.",
            "These steps wait on each other in a circle: Pack → Ship → Pack.",
        ]
    }
    version = ProcedureVersion.objects.get(pk=created["draft_version_id"])
    assert (version.status, version.version) == (VersionStatus.DRAFT, 1)
    trail.assert_nothing_new()


def test_a_published_version_cannot_change_and_nothing_is_written(
    chain, ship, api_as, audit_trail
):
    api = api_as("member")
    step = Step.objects.get(procedure_version=ship, key="price")
    role = step.roles.get(role="R")
    link = StepDependency.objects.get(procedure_version=ship, successor=step)
    field = RunField.objects.get(procedure_version=ship, key="destination")
    before = _writes_state()
    trail = audit_trail(chain.o.organisation)

    answers = [
        api.patch(f"{BASE}/steps/{step.pk}", {"name": "Quote", "version": 1}),
        api.request("delete", f"{BASE}/steps/{step.pk}", headers={"If-Match": "1"}),
        api.post(
            f"{BASE}/procedure-versions/{ship.pk}/steps",
            {"key": "extra", "name": "Extra", "duration_value": 1},
        ),
        api.request("delete", f"{BASE}/step-roles/{role.pk}"),
        api.request(
            "delete", f"{BASE}/step-dependencies/{link.pk}", headers={"If-Match": "1"}
        ),
        api.request(
            "delete", f"{BASE}/run-fields/{field.pk}", headers={"If-Match": "1"}
        ),
        api.post(f"{BASE}/procedure-versions/{ship.pk}/publish", {"version": 2}),
    ]

    assert [a.status_code for a in answers] == [422] * 7
    assert problem_of(answers[1])["errors"] == {
        "__all__": [
            "Version 1 is published and can no longer change; create a new draft "
            "to change the procedure."
        ]
    }
    assert _writes_state() == before
    trail.assert_nothing_new()


def test_delete_in_a_draft_needs_the_current_version(chain, api_as, audit_trail):
    draft = shipment(chain, publish=False)
    api = api_as("member")
    step = Step.objects.get(procedure_version=draft, key="price")
    field = RunField.objects.get(procedure_version=draft, key="shipment_value")
    link = StepDependency.objects.get(predecessor=step)
    api.patch(f"{BASE}/steps/{step.pk}", {"description": "Quote it", "version": 1})
    trail = audit_trail(chain.o.organisation)

    missing = api.request("delete", f"{BASE}/steps/{step.pk}")
    stale = api.request("delete", f"{BASE}/steps/{step.pk}", headers={"If-Match": "1"})
    assert (missing.status_code, stale.status_code) == (428, 409)
    trail.assert_nothing_new()

    deleted = api.request(
        "delete", f"{BASE}/steps/{step.pk}", headers={"If-Match": '"2"'}
    )
    field_gone = api.request(
        "delete", f"{BASE}/run-fields/{field.pk}", headers={"If-Match": '"1"'}
    )

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert field_gone.status_code == 204
    assert not Step.objects.filter(pk=step.pk).exists()
    assert not StepDependency.objects.filter(pk=link.pk).exists()  # went with it
    assert list(
        RunField.objects.filter(procedure_version=draft).values_list("key", flat=True)
    ) == ["destination"]
    assert [(e.verb, e.target_type) for e in trail.new_events()] == [
        ("deleted", "chains.step"),
        ("deleted", "chains.runfield"),
    ]


def test_a_stale_delete_is_409_and_deletes_nothing(chain, api_as, audit_trail):
    draft = shipment(chain, publish=False)
    api = api_as("member")
    step = Step.objects.get(procedure_version=draft, key="price")
    field = RunField.objects.get(procedure_version=draft, key="shipment_value")
    link = StepDependency.objects.get(predecessor=step)
    # each is changed (version 2) after the caller read version 1
    api.patch(f"{BASE}/steps/{step.pk}", {"name": "Quote", "version": 1})
    api.patch(f"{BASE}/run-fields/{field.pk}", {"label": "Value", "version": 1})
    api.patch(f"{BASE}/step-dependencies/{link.pk}", {"lag_value": 1, "version": 1})
    before = _writes_state()
    trail = audit_trail(chain.o.organisation)

    answers = [
        api.request("delete", f"{BASE}/{path}/{pk}", headers={"If-Match": version})
        for path, pk in (
            ("steps", step.pk),
            ("run-fields", field.pk),
            ("step-dependencies", link.pk),
        )
        for version in ('"1"', "W/1")
    ]

    assert [a.status_code for a in answers] == [409] * 6
    assert problem_of(answers[0])["detail"] == (
        "This record was changed by someone else in the meantime. Reload it and "
        "try again."
    )
    assert _writes_state() == before
    trail.assert_nothing_new()


def test_delete_a_step_role_and_a_dependency_of_a_draft(chain, api_as):
    draft = shipment(chain, publish=False)
    api = api_as("member")
    price = Step.objects.get(procedure_version=draft, key="price")
    role = price.roles.get(role="R")
    link = StepDependency.objects.get(predecessor=price)

    role_gone = api.request("delete", f"{BASE}/step-roles/{role.pk}")
    link_gone = api.request(
        "delete", f"{BASE}/step-dependencies/{link.pk}", headers={"If-Match": "1"}
    )

    assert (role_gone.status_code, link_gone.status_code) == (204, 204)
    assert list(price.roles.values_list("role", flat=True)) == ["A"]
    assert not StepDependency.objects.filter(pk=link.pk).exists()


def test_a_new_draft_copies_the_latest_version_and_the_diff_shows_changes(
    chain, ship, api_as
):
    o = chain.o
    api = api_as("member")
    procedure_url = f"{BASE}/procedures/{ship.procedure_id}"

    created = api.post(f"{procedure_url}/versions", {"notes": "Faster pricing"})
    draft_id = created.json()["id"]
    steps = {s.key: s for s in Step.objects.filter(procedure_version_id=draft_id)}
    api.patch(
        f"{BASE}/steps/{steps['price'].pk}", {"duration_value": "0.25", "version": 1}
    )
    api.post(
        f"{BASE}/steps/{steps['price'].pk}/roles",
        {"role": "C", "position_id": o.director.pk},
    )
    api.request(
        "delete", f"{BASE}/steps/{steps['target'].pk}", headers={"If-Match": "1"}
    )
    insure = api.post(
        f"{BASE}/procedure-versions/{draft_id}/steps",
        {"key": "insure", "name": "Insure", "duration_value": 1},
    ).json()
    api.post(
        f"{BASE}/procedure-versions/{draft_id}/dependencies",
        {"predecessor_id": insure["id"], "successor_id": steps["pickup"].pk},
    )
    second_draft = api.post(f"{procedure_url}/versions", {})
    diff = api.get(f"{procedure_url}/diff", **{"from": 1, "to": 2})
    same = api.get(f"{procedure_url}/diff", **{"from": 1, "to": 1})
    unknown = api.get(f"{procedure_url}/diff", **{"from": 1, "to": 9})

    assert created.status_code == 201
    assert created["Location"] == f"/api/v1/orgs/acme/procedure-versions/{draft_id}"
    assert (created.json()["number"], created.json()["status"]) == (2, "draft")
    assert created.json()["notes"] == "Faster pricing"
    assert second_draft.status_code == 422  # one draft at a time
    assert diff.status_code == 200
    assert diff.json() == {
        "from_number": 1,
        "to_number": 2,
        "is_empty": False,
        "steps_added": ["insure"],
        "steps_removed": ["target"],
        "steps_changed": [
            {
                "key": "price",
                "changes": {"duration_value": ["0.50", "0.25"]},
                "roles_added": ["C: DIR"],
                "roles_removed": [],
            }
        ],
        "fields_added": [],
        "fields_removed": [],
        "fields_changed": [],
        "dependencies_added": [{"predecessor": "insure", "successor": "pickup"}],
        "dependencies_removed": [{"predecessor": "target", "successor": "price"}],
        "dependencies_changed": [],
    }
    assert same.json()["is_empty"] is True
    assert unknown.status_code == 404


def test_retire_a_published_version(ship, api_as):
    api = api_as("member")

    retired = api.post(
        f"{BASE}/procedure-versions/{ship.pk}/retire", headers={"If-Match": '"2"'}
    )
    again = api.post(f"{BASE}/procedure-versions/{ship.pk}/retire", {"version": 3})

    assert (retired.status_code, retired.json()["status"]) == (200, "retired")
    assert retired.json()["retired_at"] is not None
    assert again.status_code == 422
    procedure = api.get(f"{BASE}/procedures/{ship.procedure_id}").json()
    assert procedure["published_version_id"] is None


def test_list_a_procedures_versions_newest_first(chain, ship, api_as):
    api = api_as("member")
    api.post(f"{BASE}/procedures/{ship.procedure_id}/versions", {})

    response = api.get(f"{BASE}/procedures/{ship.procedure_id}/versions")

    assert response.status_code == 200
    assert [(v["number"], v["status"]) for v in response.json()["items"]] == [
        (2, "draft"),
        (1, "published"),
    ]
    assert response.json()["count"] == 2


def test_invalid_references_are_422_naming_the_request_field(chain, api_as):
    draft = shipment(chain, publish=False)
    api = api_as("member")
    step = Step.objects.get(procedure_version=draft, key="price")

    unknown_position = api.post(
        f"{BASE}/steps/{step.pk}/roles", {"role": "C", "position_id": 999999}
    )
    internal_party = api.post(
        f"{BASE}/steps/{step.pk}/roles", {"role": "R", "party_id": chain.o.export.pk}
    )
    second_accountable = api.post(
        f"{BASE}/steps/{step.pk}/roles",
        {"role": "A", "position_id": chain.o.director.pk},
    )
    self_link = api.post(
        f"{BASE}/procedure-versions/{draft.pk}/dependencies",
        {"predecessor_id": step.pk, "successor_id": step.pk},
    )

    assert problem_of(unknown_position)["errors"] == {
        "position_id": ["There is no such record here."]
    }
    assert problem_of(internal_party)["errors"] == {
        "party_id": ["Only an external partner can own a step as a party."]
    }
    assert problem_of(second_accountable)["errors"] == {
        "role": ["The step already has its accountable position."]
    }
    assert self_link.status_code == 422


# --- who may write ----------------------------------------------------------------


def _procedure_writes(chain, ship, draft):
    step = Step.objects.get(procedure_version=draft, key="price")
    role = step.roles.get(role="R")
    link = StepDependency.objects.get(successor=step)
    field = RunField.objects.get(procedure_version=draft, key="destination")
    o = chain.o
    procedure = f"/procedures/{ship.procedure_id}"
    return [
        (
            "post",
            "/procedures",
            {"code": "X", "name": "X", "owner_position_id": o.director.pk},
        ),
        ("patch", procedure, {"name": "X", "version": 1}),
        ("post", f"{procedure}/deactivate", {"version": 1}),
        ("post", f"/procedures/{draft.procedure_id}/versions", {}),
        ("post", f"/procedure-versions/{draft.pk}/publish", {"version": 1}),
        ("post", f"/procedure-versions/{ship.pk}/retire", {}),
        (
            "post",
            f"/procedure-versions/{draft.pk}/fields",
            {"key": "k", "label": "K", "field_type": "text"},
        ),
        ("patch", f"/run-fields/{field.pk}", {"label": "X", "version": 1}),
        ("delete", f"/run-fields/{field.pk}", None),
        (
            "post",
            f"/procedure-versions/{draft.pk}/steps",
            {"key": "k", "name": "K", "duration_value": 1},
        ),
        ("patch", f"/steps/{step.pk}", {"name": "X", "version": 1}),
        ("delete", f"/steps/{step.pk}", None),
        (
            "post",
            f"/steps/{step.pk}/roles",
            {"role": "I", "position_id": o.director.pk},
        ),
        ("delete", f"/step-roles/{role.pk}", None),
        (
            "post",
            f"/procedure-versions/{draft.pk}/dependencies",
            {"predecessor_id": step.pk, "successor_id": step.pk},
        ),
        ("patch", f"/step-dependencies/{link.pk}", {"lag_value": 1, "version": 1}),
        ("delete", f"/step-dependencies/{link.pk}", None),
    ]


@pytest.mark.parametrize("who", ["auditor", "partner", "dewi"])
def test_auditors_partners_and_members_without_the_owner_position_write_nothing(
    chain, ship, who, audit_trail
):
    draft = build_draft(chain)
    api = api_of(getattr(chain, who, None) or getattr(chain.o, who))
    before = _writes_state()
    trail = audit_trail(chain.o.organisation)

    statuses = {
        (method, path): api.request(
            method, BASE + path, body, headers={"If-Match": "1"}
        ).status_code
        for method, path, body in _procedure_writes(chain, ship, draft)
    }

    assert set(statuses.values()) == {403}, [k for k, v in statuses.items() if v != 403]
    assert _writes_state() == before
    trail.assert_nothing_new()


@pytest.mark.parametrize("who", ["auditor", "partner"])
def test_auditors_and_partners_are_refused_before_anything_is_looked_up(
    chain, ship, who, audit_trail
):
    """Even where the object is not theirs to see, the answer is 403."""
    api = api_of(getattr(chain.o, who))

    response = api.post(
        f"{BASE}/procedures",
        {"code": "RET", "name": "Returns", "owner_position_id": 999999},
    )
    missing = api.patch(f"{BASE}/steps/999999", {"name": "X", "version": 1})

    assert (response.status_code, missing.status_code) == (403, 403)


def build_draft(chain):
    """A second procedure with its draft (RET, a copy of the shipment's steps)."""
    o = chain.o
    return build_version(
        o,
        [
            StepSpec("target", o.export_head, o.export_head),
            StepSpec("price", o.export_staff, o.export_head, after=["target"]),
        ],
        code="RET",
        fields=[{"key": "destination", "label": "Destination", "field_type": "text"}],
        publish=False,
    )


# --- query counts -----------------------------------------------------------------


def test_procedure_lists_run_a_fixed_number_of_queries(chain, ship, api_as):
    draft = services.new_draft(ship.procedure, actor=chain.o.admin)
    apis = {role: api_as(role) for role in ("member", "partner")}
    for api in apis.values():
        api.get("/me")  # a token's first use records its last-used time

    def counts():
        result = {}
        for role, path in [
            ("member", f"{BASE}/procedures"),
            ("partner", f"{BASE}/procedures"),
            ("member", f"{BASE}/procedures/{ship.procedure_id}/versions"),
            ("member", f"{BASE}/procedure-versions/{draft.pk}"),
        ]:
            with CaptureQueriesContext(connection) as captured:
                response = apis[role].get(path, limit=100)
            assert response.status_code == 200, response.content
            result[(role, path)] = len(captured)
        return result

    small = counts()
    for code in ("A", "B", "C"):
        _grow(chain, code)
    large = counts()

    assert large == small
    assert small == {
        ("member", f"{BASE}/procedures"): 4,
        ("partner", f"{BASE}/procedures"): 4,
        ("member", f"{BASE}/procedures/{ship.procedure_id}/versions"): 5,
        ("member", f"{BASE}/procedure-versions/{draft.pk}"): 7,
    }


def _grow(chain, code):
    """Another procedure with the forwarder in it, a new draft of the shipment
    with one more step (and roles), and a new field."""
    o = chain.o
    build_version(
        o,
        [StepSpec("pickup", o.forwarder, o.export_head)],
        code=f"P{code}",
    )
    draft = ProcedureVersion.objects.get(
        procedure__code="SHIP", status=VersionStatus.DRAFT
    )
    step = services.add_step(
        draft, actor=o.admin, key=f"s-{code.lower()}", name=code, duration_value=1
    )
    services.add_step_role(
        step, actor=o.admin, role=RaciRole.ACCOUNTABLE, position=o.export_head
    )
    services.add_step_role(
        step, actor=o.admin, role=RaciRole.RESPONSIBLE, party=o.forwarder
    )
    services.add_run_field(
        draft, actor=o.admin, key=f"f-{code.lower()}", label=code, field_type="text"
    )
