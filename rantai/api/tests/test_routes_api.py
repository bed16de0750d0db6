"""Approval routes through the API: create a route (with its draft), edit the
draft's stages and conditions, publish, retire and start a new draft — with
versions, idempotency, field errors named after the request, and refusals that
write nothing."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.tests.chains_data import api_of, chain_org
from rantai.api.tests.conftest import problem_of
from rantai.approvals import routes
from rantai.approvals.models import Route, RouteCondition, RouteStage, RouteVersion
from rantai.chains.models import VersionStatus

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "c3a4e8f1-2b6d-4a9e-8f0c-7d1e2a3b4c5d"}


@pytest.fixture
def chain(acme):
    return chain_org(acme)


@pytest.fixture
def draft(chain):
    """Route DEV (deviations), owned by EXP-HEAD: a draft with two stages (the
    requester's superior, then the warehouse head) and a condition."""
    o = chain.o
    route = routes.create_route(
        o.organisation,
        actor=o.admin,
        code="DEV",
        name="Deviations",
        subject_kind="deviation",
        owner_position=o.export_head,
    )
    version = route.versions.get()
    routes.add_stage(version, actor=o.admin, name="Superior", rule="superior")
    routes.add_stage(
        version,
        actor=o.admin,
        name="Warehouse",
        rule="position",
        position=chain.warehouse_head,
    )
    routes.add_condition(
        version, actor=o.admin, field="kind", operator="eq", value="skip_step"
    )
    return version


def _state():
    return [
        sorted(Route.objects.values_list("pk", "version", "is_active")),
        sorted(RouteVersion.objects.values_list("pk", "version", "status")),
        sorted(RouteStage.objects.values_list("pk", "version", "order")),
        sorted(RouteCondition.objects.values_list("pk", "field")),
    ]


def _stages(version):
    return list(
        RouteStage.objects.filter(route_version=version)
        .order_by("order")
        .values_list("name", "order")
    )


# --- the whole flow ---------------------------------------------------------------


def test_create_edit_and_publish_a_route(chain, audit_trail):
    o = chain.o
    api = api_of(o.admin)
    trail = audit_trail(o.organisation)

    made = api.post(
        f"{BASE}/approvals/routes",
        {
            "code": "DUE",
            "name": "Due-date changes",
            "subject_kind": "due_date_change",
            "priority": 10,
            "owner_position_id": o.export_head.pk,
        },
        headers=KEY,
    )
    assert made.status_code == 201, made.content
    route = Route.objects.get(code="DUE")
    draft = RouteVersion.objects.get(route=route)
    assert made["Location"] == f"/api/v1/orgs/acme/approvals/routes/{route.pk}"
    assert made["ETag"] == '"1"'
    assert {k: made.json()[k] for k in ("subject_kind", "priority", "is_active")} == {
        "subject_kind": "due_date_change",
        "priority": 10,
        "is_active": True,
    }
    assert (made.json()["draft_version_id"], made.json()["published_version_id"]) == (
        draft.pk,
        None,
    )

    versions_url = f"{BASE}/approvals/route-versions/{draft.pk}"
    stage = api.post(
        f"{versions_url}/stages",
        {
            "name": "Head of export",
            "rule": "position",
            "position_id": o.export_head.pk,
            "mode": "any",
            "time_limit_hours": 16,
            "on_timeout": "escalate",
        },
    )
    second = api.post(
        f"{versions_url}/stages",
        {"name": "Director", "rule": "superior", "levels": 2},
    )
    condition = api.post(
        f"{versions_url}/conditions",
        {"field": "days_later", "operator": "gt", "value": "7"},
    )
    assert (stage.status_code, second.status_code, condition.status_code) == (
        201,
        201,
        201,
    )
    stage_id = stage.json()["id"]
    assert stage["Location"] == (f"/api/v1/orgs/acme/approvals/route-stages/{stage_id}")
    assert condition["Location"] == (
        f"/api/v1/orgs/acme/approvals/route-conditions/{condition.json()['id']}"
    )
    assert {k: stage.json()[k] for k in ("order", "position_id", "on_timeout")} == {
        "order": 1,
        "position_id": o.export_head.pk,
        "on_timeout": "escalate",
    }
    assert second.json()["order"] == 2
    # numbers are kept as numbers
    assert (condition.json()["operator"], condition.json()["value"]) == ("gt", 7)

    detail = api.get(versions_url)
    assert detail.status_code == 200
    assert detail["ETag"] == '"1"'
    assert [(s["name"], s["order"]) for s in detail.json()["stages"]] == [
        ("Head of export", 1),
        ("Director", 2),
    ]
    assert [(c["field"], c["value"]) for c in detail.json()["conditions"]] == [
        ("days_later", 7)
    ]

    published = api.post(f"{versions_url}/publish", headers={"If-Match": '"1"'})
    assert published.status_code == 200, published.content
    assert (published.json()["status"], published.json()["published_by_id"]) == (
        "published",
        o.admin.pk,
    )
    read = api.get(f"{BASE}/approvals/routes/{route.pk}").json()
    assert (read["published_version_id"], read["draft_version_id"]) == (
        draft.pk,
        None,
    )
    assert [e.verb for e in trail.new_events()] == [
        "created",
        "created",
        "created",
        "created",
        "created",
        "published",
    ]


def test_a_retried_creation_makes_one_route(chain):
    api = api_of(chain.o.admin)
    body = {"code": "T", "name": "Tasks", "subject_kind": "task_completion"}

    first = api.post(f"{BASE}/approvals/routes", body, headers=KEY)
    second = api.post(f"{BASE}/approvals/routes", body, headers=KEY)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert Route.objects.count() == 1


def test_list_and_read_routes(chain, draft):
    o = chain.o
    routes.create_route(
        o.organisation,
        actor=o.admin,
        code="DUE",
        name="Due",
        subject_kind="due_date_change",
    )
    api = api_of(o.auditor)

    def codes(**filters):
        response = api.get(f"{BASE}/approvals/routes", **filters)
        assert response.status_code == 200, response.content
        return [r["code"] for r in response.json()["items"]]

    assert codes() == ["DEV", "DUE"]
    assert codes(subject_kind="due_date_change") == ["DUE"]
    assert codes(q="dev") == ["DEV"]
    assert codes(is_active="false") == []
    versions = api.get(f"{BASE}/approvals/routes/{draft.route_id}/versions").json()
    assert [(v["number"], v["status"]) for v in versions["items"]] == [(1, "draft")]
    assert api.get(f"{BASE}/approvals/routes/999999").status_code == 404


def test_the_subject_kinds_and_their_condition_fields(chain):
    response = api_of(chain.o.member).get(f"{BASE}/approvals/subject-kinds")

    assert response.status_code == 200
    kinds = {k["kind"]: k for k in response.json()}
    assert {"deviation", "due_date_change", "task_completion"} <= set(kinds)
    assert set(kinds["due_date_change"]["condition_fields"]) == {
        "procedure",
        "days_later",
    }
    assert "kind" in kinds["deviation"]["condition_fields"]


# --- editing a draft --------------------------------------------------------------


def test_update_move_and_delete_stages_of_a_draft(chain, draft, audit_trail):
    api = api_of(chain.o.admin)
    superior, warehouse = RouteStage.objects.filter(route_version=draft).order_by(
        "order"
    )
    trail = audit_trail(chain.o.organisation)

    updated = api.patch(
        f"{BASE}/approvals/route-stages/{superior.pk}",
        {"name": "Direct superior", "mode": "all", "version": 1},
    )
    moved = api.post(
        f"{BASE}/approvals/route-stages/{warehouse.pk}/move",
        {"order": 1, "version": 1},
    )
    missing = api.request("delete", f"{BASE}/approvals/route-stages/{superior.pk}")
    stale = api.request(
        "delete",
        f"{BASE}/approvals/route-stages/{superior.pk}",
        headers={"If-Match": '"1"'},
    )

    assert (updated.status_code, updated.json()["mode"]) == (200, "all")
    assert updated["ETag"] == '"2"'
    assert (moved.status_code, moved.json()["order"]) == (200, 1)
    assert _stages(draft) == [("Warehouse", 1), ("Direct superior", 2)]
    assert (missing.status_code, stale.status_code) == (428, 409)

    current = RouteStage.objects.get(pk=superior.pk).version
    deleted = api.request(
        "delete",
        f"{BASE}/approvals/route-stages/{superior.pk}",
        headers={"If-Match": f'"{current}"'},
    )

    assert (deleted.status_code, deleted.content) == (204, b"")
    assert _stages(draft) == [("Warehouse", 1)]
    assert [e.verb for e in trail.new_events()] == ["updated", "moved", "deleted"]


def test_changing_the_rule_names_the_new_target(chain, draft):
    api = api_of(chain.o.admin)
    superior = RouteStage.objects.get(route_version=draft, order=1)

    response = api.patch(
        f"{BASE}/approvals/route-stages/{superior.pk}",
        {"rule": "person", "person_id": chain.o.rina.pk, "version": 1},
    )

    assert response.status_code == 200, response.content
    assert (response.json()["rule"], response.json()["person_id"]) == (
        "person",
        chain.o.rina.pk,
    )


def test_remove_a_condition_and_change_the_versions_settings(chain, draft):
    api = api_of(chain.o.admin)
    condition = RouteCondition.objects.get(route_version=draft)

    removed = api.request("delete", f"{BASE}/approvals/route-conditions/{condition.pk}")
    settings = api.patch(
        f"{BASE}/approvals/route-versions/{draft.pk}",
        {"allow_repeat_approver": True, "notes": "Both may be Rina", "version": 1},
    )

    assert removed.status_code == 204
    assert not RouteCondition.objects.exists()
    assert settings.status_code == 200
    assert (settings.json()["allow_repeat_approver"], settings.json()["version"]) == (
        True,
        2,
    )


@pytest.mark.parametrize(
    ("path", "body", "errors"),
    [
        (
            "stages",
            {"name": "Head", "rule": "position"},
            {"position_id": ["Choose the position whose holders approve."]},
        ),
        (
            "stages",
            {"name": "Head", "rule": "position", "position_id": 999999},
            {"position_id": ["There is no such record here."]},
        ),
        (
            "stages",
            {"name": "Up", "rule": "superior", "party_id": 1},
            {"party_id": ["A unit is named only when its head approves."]},
        ),
        (
            "stages",
            {"name": "Some", "rule": "position", "mode": "quorum"},
            {
                "position_id": ["Choose the position whose holders approve."],
                "quorum": ["N of them needs the number of approvals (at least 1)."],
            },
        ),
        (
            "conditions",
            {"field": "days_later", "operator": "eq", "value": 3},
            {
                "field": [
                    "“days_later” is not a field of this kind of subject. Choose "
                    "one of: kind, procedure, or run.<key> for a run field."
                ]
            },
        ),
        (
            "conditions",
            {"field": "run.value", "operator": "gt", "value": "a lot"},
            {"value": ["Enter a number."]},
        ),
        ("conditions", {"field": "kind", "operator": "like"}, None),
    ],
)
def test_an_invalid_stage_or_condition_is_422_and_writes_nothing(
    chain, draft, audit_trail, path, body, errors
):
    if "party_id" in body:
        body = {**body, "party_id": chain.o.export.pk}
    before = _state()
    trail = audit_trail(chain.o.organisation)

    response = api_of(chain.o.admin).post(
        f"{BASE}/approvals/route-versions/{draft.pk}/{path}", body
    )

    assert response.status_code == 422
    problem = problem_of(response)
    if errors is None:
        assert list(problem["errors"]) == ["operator"]
    else:
        assert problem["errors"] == errors
    assert _state() == before
    trail.assert_nothing_new()


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"code": "DEV", "name": "Again", "subject_kind": "deviation"},
            {"code": ["Another route already uses this code."]},
        ),
        (
            {
                "code": "X",
                "name": "X",
                "subject_kind": "deviation",
                "owner_position_id": 999999,
            },
            {"owner_position_id": ["There is no such record here."]},
        ),
        (
            {"code": "X", "name": "X", "subject_kind": "deviation", "priority": -1},
            None,
        ),
    ],
)
def test_an_invalid_route_is_422(chain, draft, body, errors):
    before = _state()

    response = api_of(chain.o.admin).post(f"{BASE}/approvals/routes", body)

    assert response.status_code == 422
    if errors is None:
        assert list(problem_of(response)["errors"]) == ["priority"]
    else:
        assert problem_of(response)["errors"] == errors
    assert _state() == before


# --- versions ---------------------------------------------------------------------


def test_publishing_an_empty_draft_is_422_naming_the_problem(chain):
    route = routes.create_route(
        chain.o.organisation,
        actor=chain.o.admin,
        code="E",
        name="Empty",
        subject_kind="deviation",
    )
    version = route.versions.get()

    response = api_of(chain.o.admin).post(
        f"{BASE}/approvals/route-versions/{version.pk}/publish", {"version": 1}
    )

    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["code"] == "unpublishable"
    assert problem["errors"] == {"__all__": ["The route has no stages yet."]}
    version.refresh_from_db()
    assert version.status == VersionStatus.DRAFT


def test_a_published_version_is_frozen_and_a_new_draft_replaces_it(chain, draft):
    api = api_of(chain.o.admin)
    api.post(f"{BASE}/approvals/route-versions/{draft.pk}/publish", {"version": 1})
    before = _state()

    frozen = api.post(
        f"{BASE}/approvals/route-versions/{draft.pk}/stages",
        {"name": "More", "rule": "superior"},
    )
    assert frozen.status_code == 422
    assert problem_of(frozen)["errors"] == {
        "__all__": [
            "Version 1 is published and can no longer change; create a new draft "
            "to change the route."
        ]
    }
    assert _state() == before

    made = api.post(
        f"{BASE}/approvals/routes/{draft.route_id}/versions", {"notes": "Faster"}
    )
    assert made.status_code == 201, made.content
    new = RouteVersion.objects.get(route=draft.route, number=2)
    assert made["Location"] == f"/api/v1/orgs/acme/approvals/route-versions/{new.pk}"
    assert _stages(new) == [("Superior", 1), ("Warehouse", 2)]
    assert RouteCondition.objects.filter(route_version=new).count() == 1
    twice = api.post(f"{BASE}/approvals/routes/{draft.route_id}/versions", {})
    assert twice.status_code == 422

    published = api.post(
        f"{BASE}/approvals/route-versions/{new.pk}/publish", {"version": 1}
    )
    assert published.status_code == 200
    draft.refresh_from_db()
    assert draft.status == VersionStatus.RETIRED

    retired = api.post(
        f"{BASE}/approvals/route-versions/{new.pk}/retire", {"version": 2}
    )
    assert (retired.status_code, retired.json()["status"]) == (200, "retired")


def test_update_deactivate_and_reactivate_a_route(chain, draft, audit_trail):
    api = api_of(chain.o.admin)
    url = f"{BASE}/approvals/routes/{draft.route_id}"
    trail = audit_trail(chain.o.organisation)

    renamed = api.patch(url, {"name": "Skips", "priority": 5, "version": 1})
    stale = api.patch(url, {"name": "Other", "version": 1})
    missing = api.patch(url, {"name": "Other"})
    deactivated = api.post(f"{url}/deactivate", headers={"If-Match": '"2"'})
    reactivated = api.post(f"{url}/reactivate", {"version": 3})
    no_owner = api.patch(url, {"owner_position_id": None, "version": 4})

    assert (renamed.status_code, renamed.json()["name"]) == (200, "Skips")
    assert (stale.status_code, missing.status_code) == (409, 428)
    assert deactivated.json()["is_active"] is False
    assert reactivated.json()["is_active"] is True
    assert (no_owner.status_code, no_owner.json()["owner_position_id"]) == (200, None)
    assert [e.verb for e in trail.new_events()] == ["updated"] * 4


# --- who may ----------------------------------------------------------------------


def test_the_owners_holder_edits_a_route_others_may_not(chain, draft):
    stage = RouteStage.objects.get(route_version=draft, order=1)
    body = {"name": "By Rina", "version": 1}

    by_rina = api_of(chain.o.member).patch(
        f"{BASE}/approvals/route-stages/{stage.pk}", body
    )
    by_dewi = api_of(chain.dewi).patch(
        f"{BASE}/approvals/route-stages/{stage.pk}", {"name": "By Dewi", "version": 2}
    )
    member_route = api_of(chain.dewi).post(
        f"{BASE}/approvals/routes",
        {"code": "D", "name": "Dewi's", "subject_kind": "deviation"},
    )

    assert by_rina.status_code == 200
    assert by_dewi.status_code == 403
    assert problem_of(by_dewi)["detail"] == (
        "Only administrators and holders of the route's owner position can change it."
    )
    assert member_route.status_code == 403


@pytest.mark.parametrize("who", ["auditor", "partner"])
def test_auditors_and_partners_change_no_route(chain, draft, who, audit_trail):
    api = api_of(getattr(chain.o, who))
    stage = RouteStage.objects.get(route_version=draft, order=1)
    condition = RouteCondition.objects.get()
    before = _state()
    trail = audit_trail(chain.o.organisation)

    answers = [
        api.post(
            f"{BASE}/approvals/routes",
            {"code": "X", "name": "X", "subject_kind": "deviation"},
        ),
        api.patch(
            f"{BASE}/approvals/routes/{draft.route_id}", {"name": "X", "version": 1}
        ),
        api.post(f"{BASE}/approvals/routes/{draft.route_id}/versions", {}),
        api.post(f"{BASE}/approvals/route-versions/{draft.pk}/publish", {"version": 1}),
        api.post(
            f"{BASE}/approvals/route-versions/{draft.pk}/stages",
            {"name": "X", "rule": "superior"},
        ),
        api.patch(
            f"{BASE}/approvals/route-stages/{stage.pk}", {"name": "X", "version": 1}
        ),
        api.request(
            "delete",
            f"{BASE}/approvals/route-stages/{stage.pk}",
            headers={"If-Match": '"1"'},
        ),
        api.request("delete", f"{BASE}/approvals/route-conditions/{condition.pk}"),
    ]

    assert [a.status_code for a in answers] == [403] * len(answers)
    assert problem_of(answers[0])["detail"] == (
        "Only administrators and the route's owner can change it."
    )
    assert _state() == before
    trail.assert_nothing_new()


def test_partners_and_other_organisations_read_no_route(chain, draft, other_org):
    partner = api_of(chain.o.partner)
    stranger = api_of(other_org.admin)

    assert partner.get(f"{BASE}/approvals/routes").status_code == 404
    assert partner.get(f"{BASE}/approvals/route-versions/{draft.pk}").status_code == 404
    assert stranger.get(f"{BASE}/approvals/routes/{draft.route_id}").status_code == 404
    assert (
        stranger.get(f"/orgs/globex/approvals/route-versions/{draft.pk}").status_code
        == 404
    )
    assert stranger.get("/orgs/globex/approvals/routes").json()["count"] == 0


# --- query counts -----------------------------------------------------------------


def test_route_reads_run_a_fixed_number_of_queries(chain, draft):
    api = api_of(chain.o.member)
    api.get("/me")  # a token's first use records its last-used time
    paths = [
        f"{BASE}/approvals/routes",
        f"{BASE}/approvals/routes/{draft.route_id}/versions",
        f"{BASE}/approvals/route-versions/{draft.pk}",
    ]

    def counts():
        result = []
        for path in paths:
            with CaptureQueriesContext(connection) as captured:
                response = api.get(path, limit=100)
            assert response.status_code == 200, response.content
            result.append(len(captured))
        return result

    small = counts()
    for number in range(3):
        route = routes.create_route(
            chain.o.organisation,
            actor=chain.o.admin,
            code=f"G{number}",
            name=f"Grown {number}",
            subject_kind="deviation",
        )
        routes.add_stage(
            route.versions.get(), actor=chain.o.admin, name="S", rule="superior"
        )
        routes.add_stage(draft, actor=chain.o.admin, name=f"S{number}", rule="superior")
        routes.add_condition(
            draft, actor=chain.o.admin, field="procedure", operator="eq", value="X"
        )
    large = counts()

    assert large == small
    # token, membership, (route), count and page; a version: its stages and
    # conditions
    assert small == [4, 5, 5], small
