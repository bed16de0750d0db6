# mypy: disable-error-code="attr-defined"
# (the test client's responses have .json(); django-stubs types them as HttpResponse)
"""The owner's dashboard and search through the API (docs/design-insight.md):
the figures of a procedure and of a party over a period, the runs behind each
figure, and search with counts per kind — each with what it answers, its
problem+json refusals, partners' scoping and another organisation (404).

The world (`rantai.obstacles.tests.factories`): acme's procedure SHIP — `pack`
(Export clerk, of Export), `ship` (the forwarder, Fast Forwarding), `store`
(Head of warehouse, of Warehouse), one after the other. Two runs start at T0
(Monday 2 March 2026, 08:00 in Jakarta), due eight days later; each task is
completed without being started, so it waits nothing and works its whole cycle:

    on time   pack +24 h, ship +48 h, store +72 h     lead 72 h
    late      pack +24 h, ship +48 h, store +216 h    lead 216 h (due at +192 h)

On the late run every step took longer than planned (pack and store one
working day, ship two), so each caused delay there. The on-time run had an
obstacle (transport, 240 minutes) on `ship`. "Today" is Friday 20 March 2026.
"""

from __future__ import annotations

import datetime as dt
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.routers import insight as insight_router
from rantai.api.tests.conftest import api_for, problem_of
from rantai.chains import services as chains
from rantai.chains import targets as target_services
from rantai.chains.models import Run
from rantai.obstacles.tests import factories as f
from rantai.roles.tests import factories as rf

BASE = "/orgs/acme"
H = dt.timedelta(hours=1)
MARCH = {"from": "2026-03-01", "to": "2026-03-31"}
TODAY = dt.datetime(2026, 3, 20, 1, 0, tzinfo=dt.UTC)


@pytest.fixture
def other(db):  # type: ignore[no-untyped-def]
    return rf.organisation("globex", prefix="g-")


@pytest.fixture(autouse=True)
def today(monkeypatch):  # type: ignore[no-untyped-def]
    monkeypatch.setattr(insight_router, "now", lambda: TODAY)


def finish(w: f.World, run: Run, *, store_after: dt.timedelta) -> None:
    """Complete the run's tasks at +24 h, +48 h and `store_after` (each by
    someone who may)."""
    for key, actor, at in (
        ("pack", w.o.member, f.T0 + 24 * H),
        ("ship", w.o.partner, f.T0 + 48 * H),
        ("store", w.user(w.wati), f.T0 + store_after),
    ):
        task = rf.task(run, key)
        chains.complete_task(task, actor=actor, expected_version=None, now=at)


@pytest.fixture
def w(db) -> f.World:
    world = f.world()
    f.make_obstacle(world, task=world.task("ship"), delay=240, cause="transport")
    finish(world, world.run, store_after=72 * H)
    late = rf.start_run(
        world.run.procedure_version, actor=world.admin, title="Ship late", due_days=8
    )
    finish(world, late, store_after=216 * H)
    world.late = late  # type: ignore[attr-defined]
    return world


def _refused(response: Any, status: int) -> dict[str, Any]:
    assert response.status_code == status, response.content
    return problem_of(response)


def hours(count: int, median: float | None, p90: float | None) -> dict[str, Any]:
    return {"count": count, "median_hours": median, "p90_hours": p90}


# --- the dashboard ------------------------------------------------------------------


def test_the_dashboard_of_a_procedure_over_a_period(w):
    export, forwarder, warehouse = w.o.export, w.o.forwarder, w.o.warehouse
    procedure = w.run.procedure

    read = api_for(w.o.auditor).get(
        f"{BASE}/dashboard/procedures/{procedure.pk}", **MARCH
    )

    assert read.status_code == 200, read.content
    body = read.json()
    assert body["scope"] == {
        "kind": "procedure",
        "id": procedure.pk,
        "label": f"{procedure.name} ({procedure.code})",
    }
    assert (body["start"], body["end"]) == ("2026-03-01", "2026-03-31")
    assert (body["finished"], body["on_time"], body["on_time_rate"]) == (2, 1, 0.5)
    # nearest rank: the median of two values is the first, the 90th the second
    assert body["lead"] == hours(2, 72.0, 216.0)
    assert (body["waiting_hours"], body["working_hours"]) == (0.0, 288.0)
    assert body["steps"] == [
        {
            "key": "pack",
            "name": "Pack",
            "runs": 2,
            "cycle": hours(2, 24.0, 24.0),
            "waiting": hours(2, 0.0, 0.0),
            "working": hours(2, 24.0, 24.0),
            "on_critical_path": 2,
            "caused_delay": 1,
            "figure": "step:pack",
            "critical_figure": "critical:pack",
            "delay_figure": "delay:pack",
        },
        {
            "key": "ship",
            "name": "Ship",
            "runs": 2,
            "cycle": hours(2, 24.0, 24.0),
            "waiting": hours(2, 0.0, 0.0),
            "working": hours(2, 24.0, 24.0),
            "on_critical_path": 2,
            "caused_delay": 1,
            "figure": "step:ship",
            "critical_figure": "critical:ship",
            "delay_figure": "delay:ship",
        },
        {
            "key": "store",
            "name": "Store",
            "runs": 2,
            "cycle": hours(2, 24.0, 168.0),
            "waiting": hours(2, 0.0, 0.0),
            "working": hours(2, 24.0, 168.0),
            "on_critical_path": 2,
            "caused_delay": 1,
            "figure": "step:store",
            "critical_figure": "critical:store",
            "delay_figure": "delay:store",
        },
    ]
    assert body["handovers"] == [
        {
            "from_party_id": export.pk,
            "from_party": "Export",
            "to_party_id": forwarder.pk,
            "to_party": "Fast Forwarding",
            "wait": hours(2, 24.0, 24.0),
            "figure": f"handover:{export.pk}:{forwarder.pk}",
        },
        {
            "from_party_id": forwarder.pk,
            "from_party": "Fast Forwarding",
            "to_party_id": warehouse.pk,
            "to_party": "Warehouse",
            "wait": hours(2, 24.0, 168.0),
            "figure": f"handover:{forwarder.pk}:{warehouse.pk}",
        },
    ]
    assert [
        (p["title"], p["on_critical_path"], p["caused_delay"], p["figure"])
        for p in body["positions"]
    ] == [
        ("Export clerk", 2, 1, f"position:{w.o.export_staff.pk}"),
        ("Head of warehouse", 2, 1, f"position:{w.warehouse_head.pk}"),
    ]
    assert body["causes"] == [
        {
            "cause": "transport",
            "label": "transport",
            "count": 1,
            "delay_minutes": 240,
            "figure": "cause:transport",
        }
    ]
    # weekly for a month, up to today: 1 March (a Sunday), then Monday to Sunday
    assert [
        (p["start"], p["end"], p["finished"], p["on_time"], p["figure"])
        for p in body["trend"]
    ] == [
        ("2026-03-01", "2026-03-01", 0, 0, "period:2026-03-01"),
        ("2026-03-02", "2026-03-08", 1, 1, "period:2026-03-02"),
        ("2026-03-09", "2026-03-15", 1, 0, "period:2026-03-09"),
        ("2026-03-16", "2026-03-22", 0, 0, "period:2026-03-16"),
    ]


def test_a_party_dashboard_and_the_default_period_of_ninety_days(w):
    read = api_for(w.o.member).get(f"{BASE}/dashboard/parties/{w.o.forwarder.pk}")

    assert read.status_code == 200, read.content
    body = read.json()
    assert body["scope"] == {
        "kind": "party",
        "id": w.o.forwarder.pk,
        "label": "Fast Forwarding (FWD)",
    }
    # 90 days up to today, both included
    assert (body["start"], body["end"]) == ("2025-12-21", "2026-03-20")
    assert body["finished"] == 2
    assert [(step["key"], step["runs"]) for step in body["steps"]] == [("Ship", 2)]


def test_the_dashboard_is_refused_outside_the_organisation_and_for_bad_periods(
    w, other
):
    procedure = w.run.procedure.pk
    path = f"{BASE}/dashboard/procedures/{procedure}"
    admin = api_for(w.admin)

    _refused(api_for(w.o.partner).get(path), 404)
    _refused(
        api_for(w.o.partner).get(f"{BASE}/dashboard/parties/{w.o.forwarder.pk}"), 404
    )
    _refused(api_for(other.admin).get(path), 404)
    _refused(admin.get(f"{BASE}/dashboard/procedures/999999"), 404)
    _refused(admin.get(f"{BASE}/dashboard/parties/{other.forwarder.pk}"), 404)
    backwards = _refused(
        admin.get(path, **{"from": "2026-03-31", "to": "2026-03-01"}), 422
    )
    too_long = _refused(
        admin.get(path, **{"from": "2020-01-01", "to": "2026-03-01"}), 422
    )
    not_a_date = _refused(admin.get(path, **{"from": "March"}), 422)

    assert backwards["errors"] == {"to": ["The period ends before it starts."]}
    assert too_long["errors"] == {"to": ["A dashboard covers at most three years."]}
    assert list(not_a_date["errors"]) == ["from"]


def test_the_runs_behind_a_figure(w):
    procedure = w.run.procedure.pk
    auditor = api_for(w.o.auditor)

    def behind(
        figure: str, kind: str = "procedures", scope: int = procedure, **extra: Any
    ) -> list[int]:
        answer = auditor.get(
            f"{BASE}/dashboard/{kind}/{scope}/runs", figure=figure, **MARCH, **extra
        )
        assert answer.status_code == 200, answer.content
        return [run["id"] for run in answer.json()["items"]]

    on_time, late = w.run.pk, w.late.pk
    export, forwarder = w.o.export.pk, w.o.forwarder.pk
    # newest completed first
    assert behind("finished") == [late, on_time]
    assert behind("late") == [late]
    assert behind("on_time") == [on_time]
    assert behind("delay:store") == [late]
    assert behind(f"handover:{export}:{forwarder}") == [late, on_time]
    assert behind("cause:transport") == [on_time]
    assert behind("period:2026-03-09") == [late]
    assert behind("step:Ship", kind="parties", scope=forwarder) == [late, on_time]
    assert behind("cause:equipment") == []
    page = auditor.get(
        f"{BASE}/dashboard/procedures/{procedure}/runs",
        figure="finished",
        limit=1,
        offset=1,
        **MARCH,
    ).json()
    assert (page["count"], [run["id"] for run in page["items"]]) == (2, [on_time])
    unknown = _refused(
        auditor.get(
            f"{BASE}/dashboard/procedures/{procedure}/runs", figure="fastest", **MARCH
        ),
        422,
    )
    assert unknown["errors"] == {
        "figure": ["“fastest” is not a figure of the dashboard."]
    }
    _refused(auditor.get(f"{BASE}/dashboard/procedures/{procedure}/runs", **MARCH), 422)
    _refused(
        auditor.get(f"{BASE}/dashboard/teams/{procedure}/runs", figure="late"), 422
    )
    _refused(
        api_for(w.o.partner).get(
            f"{BASE}/dashboard/procedures/{procedure}/runs", figure="late"
        ),
        404,
    )


def test_the_runs_behind_a_figure_read_a_fixed_number_of_queries(w):
    path = f"{BASE}/dashboard/procedures/{w.run.procedure.pk}/runs"
    admin = api_for(w.admin)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            answer = admin.get(path, figure="finished", **MARCH)
            assert answer.status_code == 200
        return len(captured)

    count()  # the first request also notes the token's use
    few = count()
    for number in range(3):
        run = rf.start_run(
            w.run.procedure_version, actor=w.admin, title=f"More {number}", due_days=8
        )
        finish(w, run, store_after=72 * H)
    assert count() == few


# --- search -------------------------------------------------------------------------


def _search(api: Any, **params: Any) -> dict[str, Any]:
    answer = api.get(f"{BASE}/search", **params)
    assert answer.status_code == 200, answer.content
    return answer.json()  # type: ignore[no-any-return]


def test_search_finds_what_you_may_see_with_counts_and_plain_snippets(w, other):
    target_services.create_target(
        w.organisation,
        actor=w.admin,
        name="Truck deliveries in March",
        description="Every truck that leaves the warehouse.",
        measure_quantity=40,
        measure_unit="trucks",
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 3, 31),
        owner_position=w.o.export_head,
    )

    found = _search(api_for(w.o.member), q="truck")
    only_targets = _search(api_for(w.o.auditor), q="TRUCK", kind="target")

    assert found["query"] == "truck"
    assert found["counts"] == {"obstacle": 1, "target": 1}
    assert found["total"] == 2
    assert (found["limit"], found["offset"]) == (20, 0)
    hits = {hit["kind"]: hit for hit in found["hits"]}
    assert hits["obstacle"]["title"] == "The truck is delayed"
    assert hits["obstacle"]["object_id"] > 0
    assert hits["target"]["title"] == "Truck deliveries in March"
    for hit in found["hits"]:
        assert "<mark>" not in hit["snippet"] and "&" not in hit["snippet"]
    assert hits["target"]["snippet"] == "Every truck that leaves the warehouse."
    assert only_targets["counts"] == {"obstacle": 1, "target": 1}
    assert only_targets["total"] == 1
    assert [hit["kind"] for hit in only_targets["hits"]] == ["target"]
    # the forwarder's partner sees the obstacle on its own step, not the target
    joko = _search(api_for(w.o.partner), q="truck")
    assert (joko["total"], joko["counts"]) == (1, {"obstacle": 1})
    assert [hit["kind"] for hit in joko["hits"]] == ["obstacle"]
    # a partner of a party that takes no part finds nothing, not even a count
    olga = _search(api_for(w.user(w.olga)), q="truck")
    assert (olga["total"], olga["counts"], olga["hits"]) == (0, {}, [])
    _refused(api_for(other.admin).get(f"{BASE}/search", q="truck"), 404)


def test_search_pages_and_refuses_bad_parameters(w):
    member = api_for(w.o.member)

    first = _search(member, q="ship", limit=1)
    second = _search(member, q="ship", limit=1, offset=1)
    empty = _search(member, q="  ")

    assert first["total"] == second["total"] > 1
    assert len(first["hits"]) == len(second["hits"]) == 1
    assert first["hits"] != second["hits"]
    assert (empty["total"], empty["hits"], empty["counts"]) == (0, [], {})
    long = _refused(member.get(f"{BASE}/search", q="x" * 201), 422)
    few = _refused(member.get(f"{BASE}/search", q="ship", limit=0), 422)
    negative = _refused(member.get(f"{BASE}/search", q="ship", offset=-1), 422)
    kind = _refused(member.get(f"{BASE}/search", q="ship", kind="ships"), 422)

    assert long["errors"] == {"q": ["Search for at most 200 characters."]}
    assert few["errors"] == {"limit": ["Ask for between 1 and 100 results."]}
    assert negative["errors"] == {"offset": ["The offset cannot be negative."]}
    assert kind["errors"] == {
        "kind": [
            "“ships” is not a kind of result; choose from run, procedure, step, "
            "person, position, party, record, obstacle, review, target."
        ]
    }
    _refused(member.get(f"{BASE}/search"), 422)


def test_search_reads_a_fixed_number_of_queries(w):
    member = api_for(w.o.member)

    def count() -> int:
        with CaptureQueriesContext(connection) as captured:
            assert member.get(f"{BASE}/search", q="ship").status_code == 200
        return len(captured)

    count()  # the first request also notes the token's use
    few = count()
    for number in range(3):
        rf.start_run(
            w.run.procedure_version, actor=w.admin, title=f"Ship more {number}"
        )
    assert count() == few
