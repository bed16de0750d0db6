# mypy: disable-error-code="attr-defined"
# (the test client's responses have .json(); django-stubs types them as HttpResponse)
"""Targets through the API (docs/design-insight.md, "Targets"): setting, reading
(with progress, status and why), changing and deactivating targets, pointing a
run at one, and the runs that contribute — each with its success, its
problem+json refusals (a refused request writes nothing), partners' scoping,
another organisation (404), stale versions (409), missing versions (428) and
idempotent replays.

The world (`rantai.obstacles.tests.factories`): acme's run of SHIP ("Ship 500
units to Kota A", 500 units) started at T0 (Monday 2 March 2026, 08:00 in
Jakarta), due Tuesday 10 March 08:00, projected to finish Thursday 5 March
16:00: on track. Rina (acme.member) holds the Head of export (EXP-HEAD), which
owns SHIP; Ani (a member) is an export clerk; Joko (acme.partner) works for the
forwarder (FWD), which does the run's `ship` step; Olga is a partner of the
Other Carrier, which takes no part. Progress is computed as of T0.
"""

from __future__ import annotations

import datetime as dt
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.routers import targets as targets_router
from rantai.api.tests.conftest import api_for, audit_head, problem_of
from rantai.chains import targets as services
from rantai.chains.models import Run, Target
from rantai.obstacles.tests import factories as f
from rantai.roles.tests import factories as rf

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "7c1e2d3f-4a5b-4c6d-8e9f-0a1b2c3d4e5f"}
MARCH = {"period_start": "2026-03-01", "period_end": "2026-03-31"}


@pytest.fixture
def w(db) -> f.World:
    return f.world()


@pytest.fixture
def other(db):  # type: ignore[no-untyped-def]
    return rf.organisation("globex", prefix="g-")


@pytest.fixture(autouse=True)
def at_t0(monkeypatch):  # type: ignore[no-untyped-def]
    """Progress as of T0 (the run's start)."""
    monkeypatch.setattr(targets_router, "now", lambda: f.T0)


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


class Unchanged:
    """Asserts that a request wrote nothing, the audit trail included."""

    def __init__(self, w: f.World) -> None:
        self.w = w
        self.state = self._state()
        self.head = audit_head(w.organisation)

    @staticmethod
    def _state() -> list[Any]:
        return [
            sorted(
                Target.objects.values_list(
                    "pk", "version", "name", "is_active", "parent_id"
                )
            ),
            sorted(Run.objects.values_list("pk", "version", "target_id")),
        ]

    def check(self) -> None:
        assert self._state() == self.state
        assert audit_head(self.w.organisation) == self.head


def target(
    w: f.World,
    *,
    name: str = "Exports in March",
    quantity: str = "2000",
    unit: str = "units",
    parent: Target | None = None,
    party: Any = None,
    start: dt.date = dt.date(2026, 3, 1),
    end: dt.date = dt.date(2026, 3, 31),
) -> Target:
    """A target owned by the Head of export, set by the administrator."""
    return services.create_target(
        w.organisation,
        actor=w.admin,
        name=name,
        measure_quantity=Decimal(quantity),
        measure_unit=unit,
        period_start=start,
        period_end=end,
        owner_position=w.o.export_head,
        parent=parent,
        party=party,
        now=f.T0,
    )


def point(w: f.World, run: Run, at: Target | None) -> None:
    """Point the run at the target (as Rina, its process owner)."""
    run.refresh_from_db()
    services.set_run_target(
        run, actor=w.o.member, expected_version=run.version, target=at, now=f.T0
    )


def _body(w: f.World, **changes: Any) -> dict[str, Any]:
    return {
        "name": "Exports in March",
        "description": "Everything shipped to Kota A.",
        "measure_quantity": "2000",
        "measure_unit": "units",
        **MARCH,
        "owner_position_id": w.o.export_head.pk,
        "party_id": w.o.export.pk,
        **changes,
    }


NOTHING = {
    "actual": "0.00",
    "secure": "0.00",
    "at_risk": "0.00",
    "after_period": "0.00",
}


# --- creating -----------------------------------------------------------------------


def test_an_administrator_sets_a_target_and_a_retry_replays_the_answer(w):
    admin = api_for(w.admin)

    first = admin.post(f"{BASE}/targets", _body(w), headers=KEY)
    again = admin.post(f"{BASE}/targets", _body(w), headers=KEY)

    assert first.status_code == 201, first.content
    made = Target.objects.get()
    assert first["Location"] == f"/api/v1{BASE}/targets/{made.pk}"
    assert first["ETag"] == '"1"'
    body = first.json()
    assert {
        name: body[name]
        for name in (
            "id",
            "name",
            "description",
            "measure_quantity",
            "measure_unit",
            "period_start",
            "period_end",
            "parent_id",
            "party_id",
            "party_name",
            "owner_position_id",
            "owner_position_title",
            "is_active",
            "version",
            "children",
            "risky_runs",
        )
    } == {
        "id": made.pk,
        "name": "Exports in March",
        "description": "Everything shipped to Kota A.",
        "measure_quantity": "2000.00",
        "measure_unit": "units",
        "period_start": "2026-03-01",
        "period_end": "2026-03-31",
        "parent_id": None,
        "party_id": w.o.export.pk,
        "party_name": "Export",
        "owner_position_id": w.o.export_head.pk,
        "owner_position_title": "Head of export",
        "is_active": True,
        "version": 1,
        "children": [],
        "risky_runs": [],
    }
    # nothing contributes yet: all of it is short
    assert body["progress"] == {
        "status": "at_risk",
        **NOTHING,
        "shortfall": "2000.00",
        "percent_actual": 0,
        "percent_projected": 0,
        "completed_runs": 0,
        "active_runs": 0,
    }
    assert again.status_code == 201
    assert again["Idempotent-Replayed"] == "true"
    assert again.json() == body
    assert Target.objects.count() == 1


def test_the_holder_of_the_owner_position_sets_a_target_others_are_refused(w, other):
    unchanged = Unchanged(w)
    ani = api_for(w.user(w.ani))  # an export clerk: not the owner position

    _refused(ani.post(f"{BASE}/targets", _body(w)), 403)
    _refused(api_for(w.o.auditor).post(f"{BASE}/targets", _body(w)), 403)
    _refused(api_for(w.o.partner).post(f"{BASE}/targets", _body(w)), 403)
    _refused(api_for(other.admin).post(f"{BASE}/targets", _body(w)), 404)
    unchanged.check()

    made = api_for(w.o.member).post(f"{BASE}/targets", _body(w))

    assert made.status_code == 201, made.content
    assert Target.objects.get().name == "Exports in March"


def test_a_target_with_bad_fields_is_refused_naming_each_field(w, other):
    parent = target(w, name="Tonnes this year", unit="tonnes")
    unchanged = Unchanged(w)
    admin = api_for(w.admin)

    bad_period = _refused(
        admin.post(f"{BASE}/targets", _body(w, period_end="2026-02-28")), 422
    )
    no_quantity = _refused(
        admin.post(f"{BASE}/targets", _body(w, measure_quantity="0")), 422
    )
    other_unit = _refused(
        admin.post(f"{BASE}/targets", _body(w, parent_id=parent.pk)), 422
    )
    elsewhere = _refused(
        admin.post(f"{BASE}/targets", _body(w, owner_position_id=other.export_head.pk)),
        422,
    )
    blank = _refused(admin.post(f"{BASE}/targets", _body(w, name="  ")), 422)

    assert bad_period["errors"] == {
        "period_end": ["The period cannot end before it starts."]
    }
    assert list(no_quantity["errors"]) == ["measure_quantity"]
    assert other_unit["errors"] == {
        "parent_id": [
            "The parent target is counted in tonnes, this one in units: a target "
            "can only be part of a target of the same unit."
        ]
    }
    assert elsewhere["errors"] == {
        "owner_position_id": ["There is no such record here."]
    }
    assert blank["errors"] == {"name": ["This field is required."]}
    unchanged.check()


# --- reading ------------------------------------------------------------------------


def test_a_target_shows_its_progress_why_and_the_targets_under_it(w):
    march = target(w)
    kota_a = target(w, name="Kota A in March", quantity="500", parent=march)
    point(w, w.run, kota_a)
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)

    read = api_for(w.o.auditor).get(f"{BASE}/targets/{march.pk}")

    assert read.status_code == 200, read.content
    assert read["ETag"] == '"1"'
    body = read.json()
    assert body["children"] == [kota_a.pk]
    # the delay leaves less than a working day before the due date: at risk,
    # within the period; a parent counts its sub-targets' runs
    assert body["progress"] == {
        "status": "at_risk",
        "actual": "0.00",
        "secure": "0.00",
        "at_risk": "500.00",
        "after_period": "0.00",
        "shortfall": "1500.00",
        "percent_actual": 0,
        "percent_projected": 25,
        "completed_runs": 0,
        "active_runs": 1,
    }
    assert body["risky_runs"] == [
        {
            "run_id": w.run.pk,
            "title": "Ship 500 units to Kota A",
            "procedure_name": w.run.procedure.name,
            "status": "active",
            "schedule_status": "at_risk",
            "quantity": "500.00",
            "projected_finish_at": "2026-03-09T03:00:00Z",
            "completed_at": None,
            "reason": "at_risk",
            "obstacles": [
                {
                    "id": obstacle.pk,
                    "title": "The truck is delayed",
                    "severity": "medium",
                    "expected_delay_minutes": 600,
                }
            ],
        }
    ]
    assert len(body["explanation"]) == 2
    assert "Ship 500 units to Kota A" in body["explanation"][0]
    assert "1,500" in body["explanation"][1]


def test_the_list_filters_by_activity_period_party_and_parent(w):
    march = target(w, party=w.o.export)
    kota_a = target(w, name="Kota A in March", quantity="500", parent=march)
    april = target(
        w,
        name="Exports in April",
        start=dt.date(2026, 4, 1),
        end=dt.date(2026, 4, 30),
    )
    february = target(
        w,
        name="Exports in February",
        start=dt.date(2026, 2, 1),
        end=dt.date(2026, 2, 28),
    )
    services.deactivate_target(february, actor=w.admin, expected_version=1)
    point(w, w.run, kota_a)
    member = api_for(w.o.member)

    def names(**params: Any) -> list[str]:
        return [
            item["name"] for item in _items(member.get(f"{BASE}/targets", **params))
        ]

    assert names() == ["Exports in March", "Kota A in March", "Exports in April"]
    assert names(active="all") == [
        "Exports in February",
        "Exports in March",
        "Kota A in March",
        "Exports in April",
    ]
    assert names(active="false") == ["Exports in February"]
    assert names(period="current") == ["Exports in March", "Kota A in March"]
    assert names(period="upcoming") == ["Exports in April"]
    assert names(period="past", active="all") == ["Exports in February"]
    assert names(party_id=w.o.export.pk) == ["Exports in March"]
    assert names(party_id=0) == ["Kota A in March", "Exports in April"]
    assert names(parent_id=march.pk) == ["Kota A in March"]
    assert names(parent_id=0) == ["Exports in March", "Exports in April"]
    listed = {
        item["name"]: item["progress"] for item in _items(member.get(f"{BASE}/targets"))
    }
    # the run counts toward Kota A, and through it toward March
    assert listed["Kota A in March"]["secure"] == "500.00"
    assert listed["Kota A in March"]["status"] == "on_track"
    assert listed["Exports in March"]["secure"] == "500.00"
    assert listed["Exports in April"]["secure"] == "0.00"
    page = member.get(f"{BASE}/targets", limit=1, offset=1).json()
    assert (page["count"], [item["id"] for item in page["items"]]) == (
        3,
        [kota_a.pk],
    )
    assert april.pk != march.pk
    _refused(member.get(f"{BASE}/targets", period="someday"), 422)


def test_the_lists_read_a_fixed_number_of_queries(w):
    admin = api_for(w.admin)

    def count(path: str) -> int:
        with CaptureQueriesContext(connection) as captured:
            assert admin.get(path).status_code == 200
        return len(captured)

    march = target(w)
    point(w, w.run, march)
    lists = (f"{BASE}/targets", f"{BASE}/targets/{march.pk}/runs")
    count(lists[0])  # the first request also notes the token's use
    few = [count(path) for path in lists]
    for number in range(4):
        child = target(w, name=f"Part {number}", quantity="10", parent=march)
        point(w, rf.start_run(w.run.procedure_version, actor=w.admin), child)
        point(w, rf.start_run(w.run.procedure_version, actor=w.admin), march)
    assert [count(path) for path in lists] == few


def test_partners_see_the_targets_their_party_works_toward_only(w, other):
    worked_on = target(w)
    elsewhere = target(w, name="Warehouse in March")
    point(w, w.run, worked_on)
    joko = api_for(w.o.partner)
    olga = api_for(w.user(w.olga))

    listed = _items(joko.get(f"{BASE}/targets"))
    read = joko.get(f"{BASE}/targets/{worked_on.pk}")

    assert [item["id"] for item in listed] == [worked_on.pk]
    assert read.status_code == 200, read.content
    # the figures stay whole: the quantity is no secret from those working on it
    assert read.json()["progress"]["secure"] == "500.00"
    _refused(joko.get(f"{BASE}/targets/{elsewhere.pk}"), 404)
    assert _items(olga.get(f"{BASE}/targets")) == []
    _refused(olga.get(f"{BASE}/targets/{worked_on.pk}"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/targets/{worked_on.pk}"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/targets"), 404)
    _refused(api_for(w.admin).get(f"{BASE}/targets/999999"), 404)


# --- changing -----------------------------------------------------------------------


def test_the_owner_changes_a_target_with_its_version(w):
    march = target(w, party=w.o.export)
    rina = api_for(w.o.member)

    by_header = rina.patch(
        f"{BASE}/targets/{march.pk}",
        {"name": "Exports to Kota A", "measure_quantity": "2500", "party_id": None},
        headers={"If-Match": '"1"'},
    )
    by_body = rina.patch(
        f"{BASE}/targets/{march.pk}", {"description": "By sea.", "version": 2}
    )

    assert by_header.status_code == 200, by_header.content
    assert by_header["ETag"] == '"2"'
    assert (
        by_header.json()["name"],
        by_header.json()["measure_quantity"],
        by_header.json()["party_id"],
    ) == ("Exports to Kota A", "2500.00", None)
    assert by_body.status_code == 200, by_body.content
    assert by_body.json()["version"] == 3
    march.refresh_from_db()
    assert (march.name, march.description, march.party_id, march.version) == (
        "Exports to Kota A",
        "By sea.",
        None,
        3,
    )


def test_changing_a_target_is_refused_without_the_right_or_the_current_version(
    w, other
):
    march = target(w)
    path = f"{BASE}/targets/{march.pk}"
    unchanged = Unchanged(w)
    rina = api_for(w.o.member)

    _refused(api_for(w.o.auditor).patch(path, {"name": "X", "version": 1}), 403)
    _refused(api_for(w.user(w.ani)).patch(path, {"name": "X", "version": 1}), 403)
    _refused(api_for(w.o.partner).patch(path, {"name": "X", "version": 1}), 404)
    _refused(api_for(other.admin).patch(path, {"name": "X", "version": 1}), 404)
    _refused(rina.patch(path, {"name": "X", "version": 7}), 409)
    _refused(rina.patch(path, {"name": "X"}), 428)
    stale = _refused(
        rina.patch(path, {"name": "X", "version": 1}, headers={"If-Match": '"2"'}),
        422,
    )
    order = _refused(rina.patch(path, {"period_end": "2026-02-01", "version": 1}), 422)
    itself = _refused(rina.patch(path, {"parent_id": march.pk, "version": 1}), 422)

    assert list(stale["errors"]) == ["version"]
    assert order["errors"] == {
        "period_end": ["The period cannot end before it starts."]
    }
    assert itself["errors"] == {"parent_id": ["A target cannot be part of itself."]}
    unchanged.check()


def test_deactivating_a_target_after_its_sub_targets(w):
    march = target(w)
    kota_a = target(w, name="Kota A in March", quantity="500", parent=march)
    rina = api_for(w.o.member)
    unchanged = Unchanged(w)

    with_children = _refused(
        rina.post(f"{BASE}/targets/{march.pk}/deactivate", {"version": 1}), 422
    )
    _refused(
        api_for(w.o.auditor).post(
            f"{BASE}/targets/{kota_a.pk}/deactivate", {"version": 1}
        ),
        403,
    )
    _refused(rina.post(f"{BASE}/targets/{kota_a.pk}/deactivate", {"version": 4}), 409)
    _refused(rina.post(f"{BASE}/targets/{kota_a.pk}/deactivate"), 428)
    unchanged.check()
    child = rina.post(
        f"{BASE}/targets/{kota_a.pk}/deactivate",
        headers={"If-Match": '"1"', **KEY},
    )
    replayed = rina.post(
        f"{BASE}/targets/{kota_a.pk}/deactivate",
        headers={"If-Match": '"1"', **KEY},
    )
    parent = rina.post(f"{BASE}/targets/{march.pk}/deactivate", {"version": 1})

    assert with_children["detail"] == "Deactivate or move its active sub-target first."
    assert child.status_code == 200, child.content
    assert (child.json()["is_active"], child["ETag"]) == (False, '"2"')
    assert replayed["Idempotent-Replayed"] == "true"
    assert parent.status_code == 200, parent.content
    assert list(Target.objects.values_list("is_active", flat=True)) == [False, False]


# --- runs ---------------------------------------------------------------------------


def test_the_process_owner_points_a_run_at_a_target_and_clears_it(w):
    march = target(w)
    rina = api_for(w.o.member)
    path = f"{BASE}/runs/{w.run.pk}/target"
    version = w.refresh().version

    pointed = rina.post(path, {"target_id": march.pk, "version": version}, headers=KEY)
    replayed = rina.post(path, {"target_id": march.pk, "version": version}, headers=KEY)
    runs = api_for(w.o.auditor).get(f"{BASE}/targets/{march.pk}/runs")

    assert pointed.status_code == 200, pointed.content
    assert pointed["ETag"] == f'"{version + 1}"'
    assert (pointed.json()["id"], pointed.json()["contributes_to_target_id"]) == (
        w.run.pk,
        march.pk,
    )
    assert replayed["Idempotent-Replayed"] == "true"
    assert [(run["id"], run["contributes_to_target_id"]) for run in _items(runs)] == [
        (w.run.pk, march.pk)
    ]
    detail = rina.get(f"{BASE}/targets/{march.pk}").json()["progress"]
    assert (detail["secure"], detail["active_runs"], detail["status"]) == (
        "500.00",
        1,
        "at_risk",
    )

    cleared = rina.post(
        path, {"target_id": None}, headers={"If-Match": f'"{version + 1}"'}
    )

    assert cleared.status_code == 200, cleared.content
    assert cleared.json()["contributes_to_target_id"] is None
    assert _items(rina.get(f"{BASE}/targets/{march.pk}/runs")) == []


def test_pointing_a_run_is_refused_to_others_and_at_a_target_of_another_unit(w, other):
    march = target(w)
    tonnes = target(w, name="Tonnes in March", unit="tonnes")
    path = f"{BASE}/runs/{w.run.pk}/target"
    version = w.refresh().version
    unchanged = Unchanged(w)
    rina = api_for(w.o.member)

    _refused(
        api_for(w.o.auditor).post(path, {"target_id": march.pk, "version": version}),
        403,
    )
    _refused(
        api_for(w.o.partner).post(path, {"target_id": march.pk, "version": version}),
        403,
    )
    _refused(
        api_for(w.user(w.olga)).post(path, {"target_id": march.pk, "version": version}),
        403,
    )
    _refused(
        api_for(other.admin).post(path, {"target_id": march.pk, "version": version}),
        404,
    )
    _refused(rina.post(path, {"target_id": march.pk, "version": version + 5}), 409)
    _refused(rina.post(path, {"target_id": march.pk}), 428)
    unit = _refused(rina.post(path, {"target_id": tonnes.pk, "version": version}), 422)
    unknown = _refused(rina.post(path, {"target_id": 999999, "version": version}), 422)

    assert unit["errors"] == {
        "target_id": [
            "The target “Tonnes in March” is counted in tonnes and this run in "
            "units: a run counts only toward a target of its own unit."
        ]
    }
    assert unknown["errors"] == {"target_id": ["There is no such record here."]}
    unchanged.check()


def test_the_runs_of_a_target_are_those_the_caller_sees(w, other):
    march = target(w)
    point(w, w.run, march)

    for user in (w.admin, w.o.member, w.o.auditor, w.o.partner):
        assert [
            run["id"]
            for run in _items(api_for(user).get(f"{BASE}/targets/{march.pk}/runs"))
        ] == [w.run.pk]
    _refused(api_for(w.user(w.olga)).get(f"{BASE}/targets/{march.pk}/runs"), 404)
    _refused(api_for(other.admin).get(f"{BASE}/targets/{march.pk}/runs"), 404)
