# mypy: disable-error-code="attr-defined"
# (the test client's responses have .json(); django-stubs types them as HttpResponse)
"""Obstacles through the API (docs/design-obstacles.md): what a delay would do
before anything is saved (what-if), raising, changing, resolving and withdrawing
obstacles, their mitigations, and early warnings — each with its success, its
problem+json refusals (a refused request writes nothing), partners' scoping,
another organisation (404), stale versions (409) and idempotent replays.

The world (`rantai.obstacles.tests.factories`): acme's run of SHIP started at T0
(Monday 2 March 2026, 08:00 in Jakarta), due Tuesday 10 March 08:00 — `pack`
(Export clerk: Budi and Ani; accountable Rina = acme.member, who owns SHIP),
`ship` (the forwarder: Joko = acme.partner), `store` (Head of warehouse: Wati),
one after the other, finishing Thursday 16:00: on track, two working days
early. Olga is a partner of the Other Carrier, which takes no part in the run.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rantai.api.routers import obstacles as obstacles_router
from rantai.api.tests.conftest import api_for, audit_head, problem_of
from rantai.chains.models import Run, Task
from rantai.obstacles import warnings
from rantai.obstacles.models import (
    EarlyWarning,
    Mitigation,
    Obstacle,
    WarningKind,
    WarningRecipient,
)
from rantai.obstacles.tests import factories as f
from rantai.roles.tests import factories as rf

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "3f2a1b0c-9d8e-4f7a-8b6c-5d4e3f2a1b0c"}
UTC = dt.UTC


def utc(day: int, hour: int) -> dt.datetime:
    """A moment of March 2026, in UTC (Jakarta is UTC+7)."""
    return dt.datetime(2026, 3, day, hour, tzinfo=UTC)


def iso(moment: dt.datetime) -> str:
    return moment.isoformat().replace("+00:00", "Z")


@pytest.fixture
def w(db) -> f.World:
    return f.world()


@pytest.fixture
def other(db):  # type: ignore[no-untyped-def]
    return rf.organisation("globex", prefix="g-")


@pytest.fixture
def at_t0(monkeypatch):  # type: ignore[no-untyped-def]
    """What-ifs computed as of T0 (the run's start), as the factories' world."""
    monkeypatch.setattr(obstacles_router, "now", lambda: f.T0)


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
    """Everything an obstacles write could have changed."""
    return [
        sorted(Obstacle.objects.values_list("pk", "version", "status")),
        sorted(Mitigation.objects.values_list("pk", "version", "status")),
        sorted(Task.objects.values_list("pk", "delay_minutes")),
        sorted(
            Run.objects.values_list(
                "pk", "hold_minutes", "projected_finish_at", "schedule_status"
            )
        ),
        sorted(WarningRecipient.objects.values_list("pk", "acknowledged_at")),
    ]


class Unchanged:
    """Asserts that a request wrote nothing, the audit trail included."""

    def __init__(self, w: f.World) -> None:
        self.w = w
        self.state = _state()
        self.head = audit_head(w.organisation)

    def check(self) -> None:
        assert _state() == self.state
        assert audit_head(self.w.organisation) == self.head


def _raise_body(w: f.World, **changes: Any) -> dict[str, Any]:
    return {
        "run_id": w.run.pk,
        "task_id": w.task("ship").pk,
        "title": "The truck is delayed",
        "description": "The forwarder's truck broke down on the toll road.",
        "expected_delay_minutes": 600,
        "severity": "high",
        "cause": "transport",
        **changes,
    }


# --- what-if -----------------------------------------------------------------------------


def test_what_if_shows_the_moved_tasks_and_the_target_at_risk_without_saving(w, at_t0):
    unchanged = Unchanged(w)
    rina = api_for(w.o.member)

    by_run = rina.post(
        f"{BASE}/runs/{w.run.pk}/obstacles/what-if",
        {"delay_minutes": 600, "task_id": w.task("ship").pk},
    )
    by_task = rina.post(
        f"{BASE}/tasks/{w.task('ship').pk}/obstacles/what-if", {"delay_minutes": 600}
    )

    assert by_run.status_code == 200, by_run.content
    # ship ends Friday 10:00 instead of Wednesday 16:00, store Monday 10:00:
    # six working hours before the due date
    assert by_run.json() == {
        "delay_minutes": 600,
        "moved": [
            {
                "task_id": w.task("ship").pk,
                "name": "Ship",
                "key": "ship",
                "shift_minutes": 600,
                "finish_before": iso(utc(4, 9)),
                "finish_after": iso(utc(6, 3)),
                "party_id": w.o.forwarder.pk,
                "position_id": None,
            },
            {
                "task_id": w.task("store").pk,
                "name": "Store",
                "key": "store",
                "shift_minutes": 600,
                "finish_before": iso(f.FINISH),
                "finish_after": iso(utc(9, 3)),
                "party_id": None,
                "position_id": w.warehouse_head.pk,
            },
        ],
        "other_moved": 0,
        "finish_before": iso(f.FINISH),
        "finish_after": iso(utc(9, 3)),
        "due_at": iso(f.DUE_AT),
        "status_before": "on_track",
        "status_after": "at_risk",
        "puts_target_at_risk": True,
    }
    assert by_task.json() == by_run.json()
    unchanged.check()
    assert not Obstacle.objects.exists()


def test_a_whole_run_what_if_and_a_partner_sees_only_its_own_moved_tasks(w, at_t0):
    whole = api_for(w.admin).post(
        f"{BASE}/runs/{w.run.pk}/obstacles/what-if", {"delay_minutes": 1200}
    )
    joko = api_for(w.o.partner).post(
        f"{BASE}/tasks/{w.task('ship').pk}/obstacles/what-if", {"delay_minutes": 600}
    )

    body = whole.json()
    assert [moved["key"] for moved in body["moved"]] == ["pack", "ship", "store"]
    assert (body["status_before"], body["status_after"]) == ("on_track", "late")
    assert [moved["key"] for moved in joko.json()["moved"]] == ["ship"]
    assert joko.json()["other_moved"] == 1


def test_what_if_is_refused_to_auditors_outsiders_and_bad_input(w, other, at_t0):
    path = f"{BASE}/runs/{w.run.pk}/obstacles/what-if"

    _refused(api_for(w.o.auditor).post(path, {"delay_minutes": 60}), 403)
    _refused(api_for(w.user(w.olga)).post(path, {"delay_minutes": 60}), 404)
    _refused(api_for(other.admin).post(path, {"delay_minutes": 60}), 404)
    # a partner holds up only its own tasks
    pack = {"delay_minutes": 60, "task_id": w.task("pack").pk}
    assert _refused(api_for(w.o.partner).post(path, pack), 422)["errors"] == {
        "task_id": ["There is no such record here."]
    }
    for delay in (0, -5, f.DAY * 10_000, "soon"):
        body = _refused(api_for(w.admin).post(path, {"delay_minutes": delay}), 422)
        assert list(body["errors"]) == ["delay_minutes"]


def test_a_what_if_retry_replays(w, at_t0):
    rina = api_for(w.o.member)
    path = f"{BASE}/runs/{w.run.pk}/obstacles/what-if"

    first = rina.post(path, {"delay_minutes": 60}, KEY)
    again = rina.post(path, {"delay_minutes": 60}, KEY)

    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()


# --- raising and reading -------------------------------------------------------------------


def test_a_member_raises_an_obstacle_and_the_schedule_moves_at_once(w):
    record = f.record(w)
    rina = api_for(w.o.member)
    body = _raise_body(w, record_ids=[record.pk])
    head = audit_head(w.organisation)

    first = rina.post(f"{BASE}/obstacles", body, KEY)
    again = rina.post(f"{BASE}/obstacles", body, KEY)

    assert first.status_code == 201, first.content
    raised = first.json()
    obstacle = Obstacle.objects.get()
    assert first["Location"] == f"/api/v1{BASE}/obstacles/{obstacle.pk}"
    assert first["ETag"] == '"1"'
    assert (raised["status"], raised["severity"], raised["cause"]) == (
        "open",
        "high",
        "transport",
    )
    assert (raised["task_id"], raised["task_name"], raised["run_id"]) == (
        w.task("ship").pk,
        "Ship",
        w.run.pk,
    )
    assert raised["expected_delay_minutes"] == 600
    assert raised["respond_by"] is not None
    assert [(m["key"], m["shift_minutes"]) for m in raised["impact"]["moved"]] == [
        ("ship", 600),
        ("store", 600),
    ]
    assert raised["records"] == [
        {
            "id": record.pk,
            "kind": "claim",
            "title": "The forwarder's written notice",
            "status": "unverified",
            "is_hearsay": True,
        }
    ]
    assert raised["rests_on_unverified"] is True
    assert raised["mitigations"] == []
    assert raised["may_manage"] is True
    assert w.task("ship").delay_minutes == 600
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == raised
    assert Obstacle.objects.count() == 1
    assert audit_head(w.organisation) > head


def test_a_partner_raises_on_its_own_task_or_the_run_only(w, other):
    joko = api_for(w.o.partner)

    own = joko.post(f"{BASE}/obstacles", _raise_body(w))
    whole = joko.post(f"{BASE}/obstacles", _raise_body(w, task_id=None))

    assert own.status_code == 201, own.content
    assert whole.status_code == 201, whole.content
    assert whole.json()["task_id"] is None
    unchanged = Unchanged(w)
    pack = joko.post(f"{BASE}/obstacles", _raise_body(w, task_id=w.task("pack").pk))
    assert _refused(pack, 422)["errors"] == {
        "task_id": ["There is no such record here."]
    }
    olga = api_for(w.user(w.olga)).post(f"{BASE}/obstacles", _raise_body(w))
    assert _refused(olga, 422)["errors"] == {
        "run_id": ["There is no such record here."]
    }
    _refused(api_for(w.o.auditor).post(f"{BASE}/obstacles", _raise_body(w)), 403)
    _refused(api_for(other.admin).post(f"{BASE}/obstacles", _raise_body(w)), 404)
    unchanged.check()


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"expected_delay_minutes": 0}, "expected_delay_minutes"),
        ({"severity": "dire"}, "severity"),
        ({"cause": "gremlins"}, "cause"),
        ({"title": ""}, "title"),
        ({"record_ids": [999999]}, "record_ids"),
        ({"run_id": 999999}, "run_id"),
    ],
)
def test_raising_validates_its_input(w, changes, field):
    unchanged = Unchanged(w)

    response = api_for(w.o.member).post(f"{BASE}/obstacles", _raise_body(w, **changes))

    assert field in _refused(response, 422)["errors"]
    unchanged.check()


def test_partners_read_the_obstacles_of_the_run_and_their_own_tasks_only(w, other):
    on_pack = f.make_obstacle(w, task=w.task("pack"), title="No boxes")
    on_ship = f.make_obstacle(w, task=w.task("ship"))
    on_run = f.make_obstacle(w, title="Port strike")

    admin = [row["id"] for row in _items(api_for(w.admin).get(f"{BASE}/obstacles"))]
    joko = [row["id"] for row in _items(api_for(w.o.partner).get(f"{BASE}/obstacles"))]
    olga = _items(api_for(w.user(w.olga)).get(f"{BASE}/obstacles"))

    assert admin == [on_run.pk, on_ship.pk, on_pack.pk]
    assert joko == [on_run.pk, on_ship.pk]
    assert olga == []
    _refused(api_for(w.o.partner).get(f"{BASE}/obstacles/{on_pack.pk}"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/obstacles/{on_run.pk}"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/obstacles"), 404)
    filtered = _items(
        api_for(w.admin).get(f"{BASE}/obstacles", task_id=w.task("pack").pk)
    )
    assert [row["id"] for row in filtered] == [on_pack.pk]
    auditor = api_for(w.o.auditor).get(f"{BASE}/obstacles/{on_ship.pk}")
    assert auditor.status_code == 200
    assert auditor.json()["may_manage"] is False
    # a partner sees its own moved task of the stored impact by name, the rest counted
    impact = api_for(w.o.partner).get(f"{BASE}/obstacles/{on_run.pk}").json()["impact"]
    assert [moved["key"] for moved in impact["moved"]] == ["ship"]
    assert impact["other_moved"] == 2


# --- changing and closing ----------------------------------------------------------------


def test_the_accountable_changes_the_delay_with_the_version(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)
    path = f"{BASE}/obstacles/{obstacle.pk}"
    rina = api_for(w.o.member)

    changed = rina.patch(path, {"expected_delay_minutes": 120, "version": 1})

    assert changed.status_code == 200, changed.content
    assert changed.json()["expected_delay_minutes"] == 120
    assert changed.json()["title"] == "The truck is delayed"
    assert changed["ETag"] == f'"{changed.json()["version"]}"'
    assert w.task("ship").delay_minutes == 120
    unchanged = Unchanged(w)
    _refused(rina.patch(path, {"title": "x", "version": 1}), 409, "conflict")
    _refused(rina.patch(path, {"title": "x"}), 428)
    _refused(api_for(w.user(w.ani)).patch(path, {"title": "x", "version": 2}), 403)
    _refused(api_for(w.o.auditor).patch(path, {"title": "x", "version": 2}), 403)
    bad = rina.patch(path, {"expected_delay_minutes": 0, "version": 2})
    assert list(_refused(bad, 422)["errors"]) == ["expected_delay_minutes"]
    unchanged.check()
    via_header = rina.patch(path, {"severity": "critical"}, {"If-Match": '"2"'})
    assert via_header.json()["severity"] == "critical"


def test_resolving_needs_evidence_and_restores_the_schedule(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)
    bare = f.record(w, evidence=False, title="We heard it is fixed")
    notice = f.record(w)
    path = f"{BASE}/obstacles/{obstacle.pk}/resolve"
    rina = api_for(w.o.member)
    unchanged = Unchanged(w)

    without = rina.post(path, {"resolution": "", "record_ids": [bare.pk], "version": 1})
    stale = rina.post(
        path, {"resolution": "A new truck.", "record_ids": [notice.pk], "version": 5}
    )
    strange = api_for(w.user(w.ani)).post(
        path, {"resolution": "A new truck.", "record_ids": [notice.pk], "version": 1}
    )

    assert _refused(without, 422)["errors"] == {
        "resolution": ["Say how the obstacle was resolved."],
        "record_ids": [
            "“We heard it is fixed” has no evidence yet: add a file, link or value."
        ],
    }
    _refused(stale, 409)
    _refused(strange, 403)
    unchanged.check()

    body = {"resolution": "A new truck.", "record_ids": [notice.pk], "version": 1}
    resolved = rina.post(path, body, KEY)
    again = rina.post(path, body, KEY)

    assert resolved.status_code == 200, resolved.content
    answer = resolved.json()
    assert (answer["status"], answer["resolution"]) == ("resolved", "A new truck.")
    assert [r["id"] for r in answer["resolution_records"]] == [notice.pk]
    assert answer["resolution_rests_on_unverified"] is True
    assert answer["closed_by_id"] == w.o.member.pk
    assert w.task("ship").delay_minutes == 0
    assert again["Idempotent-Replayed"] == "true"
    closed = rina.post(
        f"{BASE}/obstacles/{obstacle.pk}/withdraw",
        {"reason": "Mistake.", "version": answer["version"]},
    )
    _refused(closed, 422, "not_open")


def test_withdrawing_needs_a_reason(w):
    obstacle = f.make_obstacle(w, delay=240)
    path = f"{BASE}/obstacles/{obstacle.pk}/withdraw"
    admin = api_for(w.admin)

    assert list(
        _refused(admin.post(path, {"reason": " ", "version": 1}), 422)["errors"]
    ) == ["reason"]
    withdrawn = admin.post(path, {"reason": "Raised by mistake."}, {"If-Match": '"1"'})

    assert withdrawn.status_code == 200, withdrawn.content
    assert withdrawn.json()["status"] == "withdrawn"
    assert w.refresh().hold_minutes == 0


def test_more_records_for_an_open_obstacle(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"))
    record = f.record(w, evidence=False)

    added = api_for(w.o.member).post(
        f"{BASE}/obstacles/{obstacle.pk}/records", {"record_ids": [record.pk]}
    )

    assert [r["id"] for r in added.json()["records"]] == [record.pk]
    _refused(
        api_for(w.o.member).post(
            f"{BASE}/obstacles/{obstacle.pk}/records", {"record_ids": []}
        ),
        422,
    )


# --- mitigations ----------------------------------------------------------------------------


def test_a_mitigation_is_added_completed_by_its_owner_or_cancelled(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"))
    rina = api_for(w.o.member)
    due = "2026-03-03T10:00:00+07:00"

    added = rina.post(
        f"{BASE}/obstacles/{obstacle.pk}/mitigations",
        {"description": "Book a second truck", "owner_id": w.ani.pk, "due_at": due},
        KEY,
    )
    replayed = rina.post(
        f"{BASE}/obstacles/{obstacle.pk}/mitigations",
        {"description": "Book a second truck", "owner_id": w.ani.pk, "due_at": due},
        KEY,
    )

    assert added.status_code == 201, added.content
    mitigation = added.json()
    assert (mitigation["owner_name"], mitigation["status"], mitigation["due_at"]) == (
        "Ani",
        "open",
        "2026-03-03T03:00:00Z",
    )
    assert added["Location"] == f"/api/v1{BASE}/mitigations/{mitigation['id']}"
    assert replayed["Idempotent-Replayed"] == "true"
    assert Mitigation.objects.count() == 1
    path = f"{BASE}/mitigations/{mitigation['id']}"
    mine = _items(api_for(w.user(w.ani)).get(f"{BASE}/me/mitigations"))
    assert [row["id"] for row in mine] == [mitigation["id"]]

    unchanged = Unchanged(w)
    _refused(
        api_for(w.user(w.ani)).post(
            f"{path}/complete", {"outcome": "Booked.", "version": 9}
        ),
        409,
    )
    _refused(api_for(w.user(w.wati)).post(f"{path}/complete", {"outcome": "x"}), 428)
    _refused(
        api_for(w.user(w.wati)).post(
            f"{path}/complete", {"outcome": "x", "version": 1}
        ),
        403,
    )
    _refused(
        api_for(w.user(w.ani)).post(f"{path}/complete", {"outcome": "", "version": 1}),
        422,
    )
    unchanged.check()
    done = api_for(w.user(w.ani)).post(
        f"{path}/complete", {"outcome": "Booked with Cepat.", "version": 1}
    )
    assert done.status_code == 200, done.content
    assert (done.json()["status"], done.json()["outcome"]) == (
        "done",
        "Booked with Cepat.",
    )
    second = f.make_mitigation(obstacle, w, description="Call the port")
    cancelled = rina.post(
        f"{BASE}/mitigations/{second.pk}/cancel",
        {"reason": "The truck came.", "version": 1},
    )
    assert cancelled.json()["status"] == "cancelled"


def test_mitigation_owners_are_people_the_caller_may_name(w, other):
    obstacle = f.make_obstacle(w, task=w.task("ship"), actor=w.o.partner)
    joko = api_for(w.o.partner)
    body = {"description": "Send another driver", "due_at": "2026-03-03T10:00:00Z"}
    unchanged = Unchanged(w)

    ani = joko.post(
        f"{BASE}/obstacles/{obstacle.pk}/mitigations", {**body, "owner_id": w.ani.pk}
    )
    foreign = api_for(w.o.member).post(
        f"{BASE}/obstacles/{obstacle.pk}/mitigations",
        {**body, "owner_id": other.rina.pk},
    )
    naive = api_for(w.o.member).post(
        f"{BASE}/obstacles/{obstacle.pk}/mitigations",
        {**body, "owner_id": w.ani.pk, "due_at": "2026-03-03T10:00:00"},
    )

    assert _refused(ani, 422)["errors"] == {
        "owner_id": ["There is no such record here."]
    }
    assert _refused(foreign, 422)["errors"] == {
        "owner_id": ["There is no such record here."]
    }
    assert list(_refused(naive, 422)["errors"]) == ["due_at"]
    unchanged.check()
    own = joko.post(
        f"{BASE}/obstacles/{obstacle.pk}/mitigations",
        {**body, "owner_id": w.joko.pk},
    )
    assert own.status_code == 201, own.content


# --- early warnings ----------------------------------------------------------------------------


def _scan(w: f.World) -> None:
    """The scan as of now: the run, due in March 2026, is long past its date."""
    warnings.scan(now=timezone.now(), organisation_ids=[w.organisation.pk])


def test_warnings_addressed_to_me_with_why_and_what_to_do(w):
    _scan(w)
    late = EarlyWarning.objects.get(kind=WarningKind.RUN_LATE)
    rina = api_for(w.o.member)

    mine = _items(rina.get(f"{BASE}/warnings", mine=True))
    everything = _items(api_for(w.o.auditor).get(f"{BASE}/warnings"))
    resolved = _items(rina.get(f"{BASE}/warnings", active=False))

    row = next(row for row in mine if row["id"] == late.pk)
    assert row["kind"] == "run_late"
    assert row["subject_key"] == late.subject_key
    assert (row["run_id"], row["run_title"]) == (w.run.pk, w.run.title)
    assert row["is_mine"] is True
    assert row["is_active"] is True
    assert row["acknowledged_at"] is None
    assert row["why"] and row["what_to_do"]
    assert all(row["is_mine"] for row in mine)
    assert {row["id"] for row in everything} == set(
        EarlyWarning.objects.values_list("pk", flat=True)
    )
    assert resolved == []
    assert _items(rina.get(f"{BASE}/warnings", kind="slack_low", mine=True)) == [
        row for row in mine if row["kind"] == "slack_low"
    ]


def test_a_recipient_acknowledges_a_warning_once(w, other):
    _scan(w)
    late = EarlyWarning.objects.get(kind=WarningKind.RUN_LATE)
    path = f"{BASE}/warnings/{late.pk}/acknowledge"
    unchanged = Unchanged(w)

    _refused(api_for(w.o.auditor).post(path), 403)
    _refused(api_for(other.admin).post(path), 404)
    _refused(api_for(w.user(w.olga)).post(path), 404)
    unchanged.check()
    first = api_for(w.o.member).post(path, headers=KEY)
    again = api_for(w.o.member).post(path, headers=KEY)

    assert first.status_code == 200, first.content
    assert first.json()["acknowledged_at"] is not None
    assert again["Idempotent-Replayed"] == "true"
    assert (
        WarningRecipient.objects.get(warning=late, user=w.o.member).acknowledged_at
        is not None
    )


# --- query counts ------------------------------------------------------------------------------


def test_lists_read_a_fixed_number_of_queries(w):
    admin = api_for(w.admin)

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(path).status_code == 200
        return len(captured)

    f.make_obstacle(w, task=w.task("ship"))
    _scan(w)
    count(f"{BASE}/obstacles")  # the first request also notes the token's use
    few = (count(f"{BASE}/obstacles"), count(f"{BASE}/warnings"))
    for number in range(4):
        f.make_obstacle(w, task=w.task("pack"), title=f"Obstacle {number}")
    rf.start_run(w.run.procedure_version, actor=w.admin)
    _scan(w)
    assert (count(f"{BASE}/obstacles"), count(f"{BASE}/warnings")) == few


def test_one_mitigation_and_one_warning_are_read_by_those_who_see_them(w, other):
    on_pack = f.make_obstacle(w, task=w.task("pack"), title="No boxes")
    mitigation = f.make_mitigation(on_pack, w)
    _scan(w)
    late = EarlyWarning.objects.get(kind=WarningKind.RUN_LATE)

    read = api_for(w.o.auditor).get(f"{BASE}/mitigations/{mitigation.pk}")
    warning = api_for(w.o.member).get(f"{BASE}/warnings/{late.pk}")

    assert read.status_code == 200, read.content
    assert read["ETag"] == '"1"'
    assert (read.json()["obstacle_id"], read.json()["owner_name"]) == (
        on_pack.pk,
        "Ani",
    )
    assert warning.json()["id"] == late.pk
    assert warning.json()["is_mine"] is True
    _refused(api_for(w.o.partner).get(f"{BASE}/mitigations/{mitigation.pk}"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/mitigations/{mitigation.pk}"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/warnings/{late.pk}"), 404)
    _refused(api_for(w.admin).get(f"{BASE}/warnings/999999"), 404)


def test_cancelling_a_mitigation_is_for_whoever_manages_the_obstacle(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"))
    mitigation = f.make_mitigation(obstacle, w)
    path = f"{BASE}/mitigations/{mitigation.pk}/cancel"
    unchanged = Unchanged(w)

    _refused(api_for(w.user(w.ani)).post(path, {"reason": "x", "version": 1}), 403)
    _refused(api_for(w.o.auditor).post(path, {"reason": "x", "version": 1}), 403)
    _refused(api_for(w.o.member).post(path, {"reason": "x", "version": 4}), 409)
    reason = api_for(w.o.member).post(path, {"reason": " ", "version": 1})
    assert list(_refused(reason, 422)["errors"]) == ["reason"]
    unchanged.check()

    cancelled = api_for(w.o.member).post(path, {"reason": "Came.", "version": 1}, KEY)
    replayed = api_for(w.o.member).post(path, {"reason": "Came.", "version": 1}, KEY)

    assert cancelled.json()["status"] == "cancelled"
    assert cancelled.json()["outcome"] == "Came."
    assert replayed["Idempotent-Replayed"] == "true"
