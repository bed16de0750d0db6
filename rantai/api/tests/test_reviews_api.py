# mypy: disable-error-code="attr-defined"
# (the test client's responses have .json(); django-stubs types them as HttpResponse)
"""Blameless reviews through the API (docs/design-obstacles.md): opening one on
request, reading it (partners only what concerns their party), writing what
happened without blame, contributing factors, action items, completing it, and
the proposed changes that feed the procedure's next draft — each with its
refusals (problem+json, nothing written), stale versions (409) and idempotent
replays.

The world (`rantai.obstacles.tests.factories`): acme's run of SHIP — `pack`
(Export clerk: Budi and Ani; accountable Rina = acme.member), `ship` (the
forwarder: Joko = acme.partner), `store` (Head of warehouse: Wati). Olga is a
partner of the Other Carrier, which takes no part in the run.
"""

from __future__ import annotations

from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.tests.conftest import api_for, audit_head, problem_of
from rantai.chains import services as chains
from rantai.chains.models import Step
from rantai.obstacles import reviews
from rantai.obstacles.models import (
    ActionItem,
    ContributingFactor,
    Review,
    ReviewTrigger,
)
from rantai.obstacles.tests import factories as f
from rantai.roles.tests import factories as rf

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "7a6b5c4d-3e2f-4a1b-9c8d-7e6f5a4b3c2d"}


@pytest.fixture
def w(db) -> f.World:
    return f.world()


@pytest.fixture
def other(db):  # type: ignore[no-untyped-def]
    return rf.organisation("globex", prefix="g-")


@pytest.fixture
def review(w: f.World) -> Review:
    return reviews.open_review(w.run, trigger=ReviewTrigger.REQUESTED, actor=w.admin)


def _refused(response: Any, status: int, code: str | None = None) -> dict[str, Any]:
    assert response.status_code == status, response.content
    body = problem_of(response)
    if code is not None:
        assert body["code"] == code
    return body


def _items(response: Any) -> list[dict[str, Any]]:
    assert response.status_code == 200, response.content
    body = response.json()
    assert body["count"] == len(body["items"])
    return body["items"]  # type: ignore[no-any-return]


def _state() -> list[Any]:
    return [
        sorted(Review.objects.values_list("pk", "version", "status", "summary")),
        sorted(ContributingFactor.objects.values_list("pk", "description")),
        sorted(ActionItem.objects.values_list("pk", "version", "status")),
    ]


class Unchanged:
    """Asserts that a refused request wrote nothing, the audit trail included."""

    def __init__(self, w: f.World) -> None:
        self.w = w
        self.state = _state()
        self.head = audit_head(w.organisation)

    def check(self) -> None:
        assert _state() == self.state
        assert audit_head(self.w.organisation) == self.head


def _factor(w: f.World, review: Review, **options: Any) -> ContributingFactor:
    return reviews.add_factor(
        review,
        actor=w.admin,
        area=options.pop("area", "outside"),
        description=options.pop("description", "Heavy rain closed the toll road."),
        **options,
    )


def _action(w: f.World, review: Review, **options: Any) -> ActionItem:
    return reviews.add_action(
        review,
        actor=w.admin,
        description=options.pop("description", "Agree a second forwarder."),
        owner=options.pop("owner", w.ani),
        **options,
    )


# --- opening and reading ---------------------------------------------------------------


def test_a_member_opens_a_review_and_asking_again_answers_the_same(w, other):
    rina = api_for(w.o.member)

    opened = rina.post(f"{BASE}/reviews", {"run_id": w.run.pk}, KEY)
    replayed = rina.post(f"{BASE}/reviews", {"run_id": w.run.pk}, KEY)
    again = api_for(w.admin).post(f"{BASE}/reviews", {"run_id": w.run.pk})

    assert opened.status_code == 201, opened.content
    body = opened.json()
    review = Review.objects.get()
    assert opened["Location"] == f"/api/v1{BASE}/reviews/{review.pk}"
    assert (body["trigger"], body["status"], body["run_id"]) == (
        "requested",
        "open",
        w.run.pk,
    )
    assert body["may_edit"] is True
    assert replayed["Idempotent-Replayed"] == "true"
    assert again.status_code == 200
    assert again.json()["id"] == review.pk
    unchanged = Unchanged(w)
    _refused(api_for(w.o.auditor).post(f"{BASE}/reviews", {"run_id": w.run.pk}), 403)
    _refused(api_for(w.o.partner).post(f"{BASE}/reviews", {"run_id": w.run.pk}), 403)
    _refused(api_for(other.admin).post(f"{BASE}/reviews", {"run_id": w.run.pk}), 404)
    unknown = rina.post(f"{BASE}/reviews", {"run_id": 999999})
    assert _refused(unknown, 422)["errors"] == {
        "run_id": ["There is no such record here."]
    }
    unchanged.check()


def test_internal_readers_see_everything_with_the_timeline(w, review):
    reviews.update_review(
        review,
        actor=w.admin,
        expected_version=review.version,
        summary="The truck broke down on the toll road.",
        learned="Keep a second forwarder on call.",
    )
    step_factor = _factor(w, review, area="step", task=w.task("pack"))
    outside = _factor(w, review)
    action = _action(w, review)

    response = api_for(w.o.auditor).get(f"{BASE}/reviews/{review.pk}")

    assert response.status_code == 200, response.content
    body = response.json()
    assert response["ETag"] == f'"{body["version"]}"'
    assert body["summary"] == "The truck broke down on the toll road."
    assert body["learned"] == "Keep a second forwarder on call."
    assert body["is_partial"] is False
    assert body["may_edit"] is False  # auditors read only
    assert [(x["id"], x["area"], x["task_name"]) for x in body["factors"]] == [
        (step_factor.pk, "step", "Pack"),
        (outside.pk, "outside", None),
    ]
    assert [(a["id"], a["owner_name"], a["status"]) for a in body["actions"]] == [
        (action.pk, "Ani", "open")
    ]
    assert body["timeline"]
    assert {"at", "actor", "sentence", "verb", "target_type", "target_id"} == set(
        body["timeline"][0]
    )


def test_a_partner_reads_only_what_concerns_its_party(w, review, other):
    reviews.update_review(
        review,
        actor=w.admin,
        expected_version=review.version,
        summary="Internal story.",
        learned="Internal lesson.",
    )
    ship = _factor(w, review, area="step", task=w.task("ship"))
    _factor(w, review, area="step", task=w.task("pack"))
    joko_action = _action(w, review, owner=w.joko, description="Service the trucks.")
    _action(w, review)

    detail = api_for(w.o.partner).get(f"{BASE}/reviews/{review.pk}").json()
    listed = _items(api_for(w.o.partner).get(f"{BASE}/reviews"))

    assert detail["is_partial"] is True
    assert (detail["summary"], detail["learned"], detail["timeline"]) == ("", "", [])
    assert [x["id"] for x in detail["factors"]] == [ship.pk]
    assert [a["id"] for a in detail["actions"]] == [joko_action.pk]
    assert [(r["id"], r["summary"], r["learned"]) for r in listed] == [
        (review.pk, "", "")
    ]
    assert _items(api_for(w.user(w.olga)).get(f"{BASE}/reviews")) == []
    _refused(api_for(w.user(w.olga)).get(f"{BASE}/reviews/{review.pk}"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/reviews/{review.pk}"), 404)
    internal = _items(api_for(w.o.member).get(f"{BASE}/reviews", status="open"))
    assert internal[0]["summary"] == "Internal story."


# --- writing --------------------------------------------------------------------------


def test_writing_what_happened_is_guided_away_from_blame(w, review):
    rina = api_for(w.o.member)
    path = f"{BASE}/reviews/{review.pk}"
    unchanged = Unchanged(w)

    blamed = rina.patch(path, {"summary": "Budi was careless.", "version": 1})

    body = _refused(blamed, 422, "blame_hints")
    assert list(body["errors"]) == ["summary"]
    assert body["errors"]["summary"]
    _refused(rina.patch(path, {"summary": "Rain.", "version": 3}), 409)
    _refused(rina.patch(path, {"summary": "Rain."}), 428)
    _refused(api_for(w.o.auditor).patch(path, {"summary": "Rain.", "version": 1}), 403)
    unchanged.check()
    kept = rina.patch(
        path,
        {"summary": "Budi was careless.", "keep_as_written": True, "version": 1},
    )
    assert kept.status_code == 200, kept.content
    assert kept.json()["summary"] == "Budi was careless."
    learned = rina.patch(
        path,
        # the summary kept as written is checked again with the new text
        {"learned": "Check the trucks.", "keep_as_written": True},
        {"If-Match": f'"{kept.json()["version"]}"'},
    )
    assert learned.status_code == 200, learned.content
    assert learned.json()["summary"] == "Budi was careless."
    assert learned.json()["learned"] == "Check the trucks."


def test_factors_are_added_per_area_and_removed(w, review, other):
    rina = api_for(w.o.member)
    path = f"{BASE}/reviews/{review.pk}/factors"
    handover = {
        "area": "handover",
        "description": "The packing list reached the forwarder a day late.",
        "task_id": w.task("pack").pk,
        "next_task_id": w.task("ship").pk,
    }

    added = rina.post(path, handover, KEY)
    replayed = rina.post(path, handover, KEY)

    assert added.status_code == 201, added.content
    factor = added.json()
    assert (factor["area"], factor["task_name"], factor["next_task_name"]) == (
        "handover",
        "Pack",
        "Ship",
    )
    assert replayed["Idempotent-Replayed"] == "true"
    assert ContributingFactor.objects.count() == 1
    unchanged = Unchanged(w)
    backwards = rina.post(
        path,
        {**handover, "task_id": w.task("ship").pk, "next_task_id": w.task("pack").pk},
    )
    assert list(_refused(backwards, 422)["errors"]) == ["next_task_id"]
    step = rina.post(path, {"area": "step", "description": "Slow."})
    assert list(_refused(step, 422)["errors"]) == ["task_id"]
    area = rina.post(path, {"area": "person", "description": "Budi."})
    assert list(_refused(area, 422)["errors"]) == ["area"]
    blame = rina.post(path, {"area": "outside", "description": "Budi's fault."})
    _refused(blame, 422, "blame_hints")
    _refused(api_for(w.o.partner).post(path, handover), 403)
    _refused(api_for(other.admin).post(path, handover), 404)
    unchanged.check()

    removed = rina.request("delete", f"{path}/{factor['id']}")
    assert removed.status_code == 204
    assert not ContributingFactor.objects.exists()
    _refused(rina.request("delete", f"{path}/{factor['id']}"), 404)


def test_action_items_are_added_and_done_by_their_owner(w, review):
    rina = api_for(w.o.member)
    step = Step.objects.get(procedure_version=w.run.procedure_version, key="ship")
    body = {
        "description": "Name a second forwarder in the procedure.",
        "owner_id": w.ani.pk,
        "due_on": "2026-04-01",
        "proposes_change": True,
        "step_id": step.pk,
    }

    added = rina.post(f"{BASE}/reviews/{review.pk}/actions", body, KEY)
    replayed = rina.post(f"{BASE}/reviews/{review.pk}/actions", body, KEY)

    assert added.status_code == 201, added.content
    action = added.json()
    assert added["ETag"] == '"1"'
    assert (action["owner_name"], action["step_name"], action["due_on"]) == (
        "Ani",
        "Ship",
        "2026-04-01",
    )
    assert action["proposes_change"] is True
    assert replayed["Idempotent-Replayed"] == "true"
    mine = _items(api_for(w.user(w.ani)).get(f"{BASE}/me/review-actions"))
    assert [row["id"] for row in mine] == [action["id"]]
    unchanged = Unchanged(w)
    no_change = rina.post(
        f"{BASE}/reviews/{review.pk}/actions", {**body, "proposes_change": False}
    )
    assert list(_refused(no_change, 422)["errors"]) == ["step_id"]
    nobody = rina.post(f"{BASE}/reviews/{review.pk}/actions", {**body, "owner_id": 0})
    assert list(_refused(nobody, 422)["errors"]) == ["owner_id"]
    path = f"{BASE}/reviews/{review.pk}/actions/{action['id']}/complete"
    _refused(api_for(w.user(w.ani)).post(path, {"version": 5}), 409)
    _refused(api_for(w.user(w.ani)).post(path), 428)
    _refused(api_for(w.o.auditor).post(path, {"version": 1}), 403)
    _refused(api_for(w.o.partner).post(path, {"version": 1}), 404)
    unchanged.check()

    done = api_for(w.user(w.ani)).post(path, {"version": 1})

    assert done.status_code == 200, done.content
    assert done.json()["status"] == "done"
    assert done["ETag"] == '"2"'


def test_completing_needs_a_factor_and_an_action(w, review):
    rina = api_for(w.o.member)
    path = f"{BASE}/reviews/{review.pk}/complete"
    unchanged = Unchanged(w)

    incomplete = rina.post(path, {"version": 1})

    assert _refused(incomplete, 422, "incomplete")["errors"] == {
        "factors": ["Add at least one thing that contributed."],
        "actions": ["Add at least one action item."],
    }
    unchanged.check()
    _factor(w, review)
    _action(w, review)
    _refused(rina.post(path, {"version": 7}), 409)
    _refused(api_for(w.o.auditor).post(path, {"version": 1}), 403)

    completed = rina.post(path, {"version": 1}, KEY)
    replayed = rina.post(path, {"version": 1}, KEY)

    assert completed.status_code == 200, completed.content
    assert completed.json()["status"] == "completed"
    assert completed.json()["completed_by_id"] == w.o.member.pk
    assert completed.json()["may_edit"] is False
    assert replayed["Idempotent-Replayed"] == "true"
    late = rina.patch(f"{BASE}/reviews/{review.pk}", {"summary": "x", "version": 2})
    _refused(late, 422, "completed")


# --- proposals for the next draft ------------------------------------------------------


def test_proposals_are_taken_into_the_procedures_draft(w, review, other):
    version = w.run.procedure_version
    procedure = version.procedure
    proposal = _action(
        w,
        review,
        description="Name a second forwarder.",
        proposes_change=True,
        step=Step.objects.get(procedure_version=version, key="ship"),
    )
    _action(w, review, description="Not a change.")
    rina = api_for(w.o.member)
    published = f"{BASE}/procedures/{procedure.pk}/versions/{version.number}/proposals"

    listed = rina.get(published)

    assert [row["id"] for row in listed.json()] == [proposal.pk]
    _refused(
        rina.post(f"{published}/apply", {"action_ids": [proposal.pk]}), 422, "not_draft"
    )
    _refused(api_for(w.o.partner).get(published), 404)
    _refused(api_for(other.admin).get(published), 404)
    draft = chains.new_draft(procedure, actor=w.admin)
    path = f"{BASE}/procedures/{procedure.pk}/versions/{draft.number}/proposals"
    unchanged = Unchanged(w)
    _refused(
        api_for(w.user(w.ani)).post(f"{path}/apply", {"action_ids": [proposal.pk]}),
        403,
    )
    wrong = rina.post(f"{path}/apply", {"action_ids": [999999]})
    assert list(_refused(wrong, 422)["errors"]) == ["action_ids"]
    unchanged.check()

    applied = rina.post(f"{path}/apply", {"action_ids": [proposal.pk]}, KEY)
    replayed = rina.post(f"{path}/apply", {"action_ids": [proposal.pk]}, KEY)

    assert applied.status_code == 200, applied.content
    assert applied.json() == {"applied": 1, "proposals": []}
    assert replayed["Idempotent-Replayed"] == "true"
    proposal.refresh_from_db()
    assert proposal.applied_in_id == draft.pk


def test_the_list_reads_a_fixed_number_of_queries(w):
    admin = api_for(w.admin)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(f"{BASE}/reviews").status_code == 200
        return len(captured)

    reviews.open_review(w.run, trigger=ReviewTrigger.REQUESTED, actor=w.admin)
    count()  # the first request also notes the token's use
    few = count()
    for _ in range(3):
        run = rf.start_run(w.run.procedure_version, actor=w.admin)
        reviews.open_review(run, trigger=ReviewTrigger.REQUESTED, actor=w.admin)
    assert count() == few
