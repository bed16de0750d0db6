"""Runs through the API: start one toward a target (idempotently), list and read
them, steer them (suspend, resume, cancel, move the due date, record the result),
read their schedule, and ask for and decide deviations."""

import datetime as dt
import json

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rantai.api.tests.chains_data import (
    T0,
    StepSpec,
    api_of,
    build_version,
    chain_org,
    internal,
    shipment,
    start_shipment,
    task_of,
)
from rantai.api.tests.conftest import problem_of
from rantai.chains import services
from rantai.chains.models import (
    Deviation,
    DeviationStatus,
    Run,
    Task,
    TaskStatus,
)
from rantai.org.models import Person

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "0b6f1a54-7c1e-4f7a-9d55-2f3c1e5a9b10"}


@pytest.fixture
def chain(acme):
    return chain_org(acme)


@pytest.fixture
def ship(chain):
    return shipment(chain)


@pytest.fixture
def run(chain, ship):
    """A shipment run started by Rina at T0, due two weeks later."""
    return start_shipment(ship, chain.o.member)


def _start_body(version, **changes):
    return {
        "version_id": version.pk,
        "title": "Ship 500 units to Kota A",
        "objective": "Deliver the order",
        "measure_quantity": 500,
        "measure_unit": "units",
        "due_date": "2031-06-30",
        "field_values": {"destination": "Kota A", "shipment_value": "12500.50"},
        **changes,
    }


def _runs_state():
    return [
        sorted(Run.objects.values_list("pk", "version", "status", "due_at")),
        sorted(Task.objects.values_list("pk", "version", "status")),
        sorted(Deviation.objects.values_list("pk", "version", "status")),
    ]


# --- starting ---------------------------------------------------------------------


def test_start_a_run_toward_a_target(chain, ship, api_as, audit_trail):
    trail = audit_trail(chain.o.organisation)

    response = api_as("member").post(f"{BASE}/runs", _start_body(ship))

    assert response.status_code == 201, response.content
    run = Run.objects.get()
    assert response["Location"] == f"/api/v1/orgs/acme/runs/{run.pk}"
    assert response["ETag"] == '"1"'
    body = response.json()
    assert body["target"] == {
        "objective": "Deliver the order",
        "measure_quantity": "500.00",
        "measure_unit": "units",
        # "due on Monday 30 June 2031": the end of that working day, 16:00 WIB
        "due_at": "2031-06-30T09:00:00Z",
    }
    assert body["field_values"] == {
        "destination": "Kota A",
        "shipment_value": "12500.5",
    }
    assert (body["procedure_code"], body["procedure_version_number"]) == ("SHIP", 1)
    assert (body["status"], body["result"], body["started_by_id"]) == (
        "active",
        None,
        chain.o.member.pk,
    )
    assert body["projection"]["schedule_status"] == "on_track"
    assert body["projection"]["projected_finish_at"] is not None
    assert dict(Task.objects.filter(run=run).values_list("key", "status")) == {
        "target": "ready",
        "produce": "ready",
        "price": "pending",
        "pickup": "pending",
    }
    assert [e.verb for e in trail.new_events()] == ["started"]


def test_a_retried_start_creates_one_run(chain, ship, api_as, audit_trail):
    api = api_as("member")

    first = api.post(f"{BASE}/runs", _start_body(ship), headers=KEY)
    trail = audit_trail(chain.o.organisation)
    second = api.post(f"{BASE}/runs", _start_body(ship), headers=KEY)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert (second["Location"], second["ETag"]) == (first["Location"], first["ETag"])
    assert Run.objects.count() == 1
    assert Task.objects.count() == 4
    trail.assert_nothing_new()


def test_start_with_an_exact_due_moment(ship, api_as):
    body = _start_body(ship, due_date=None, due_at="2031-07-01T10:30:00+07:00")

    response = api_as("member").post(f"{BASE}/runs", body)

    assert response.status_code == 201
    assert response.json()["target"]["due_at"] == "2031-07-01T03:30:00Z"


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"due_date": None},
            {"due_at": ["Send either due_date or due_at (one of them)."]},
        ),
        (
            {"due_at": "2031-07-01T10:30:00Z"},
            {"due_at": ["Send either due_date or due_at (one of them)."]},
        ),
        (
            {"field_values": {"shipment_value": "a lot", "weight": 3}},
            {
                "field_values": ["Unknown fields: weight."],
                "field_values.destination": ["“Destination” is required."],
                "field_values.shipment_value": ["Enter a number."],
            },
        ),
        ({"title": "  "}, {"title": ["This field is required."]}),
        ({"version_id": 999999}, {"version_id": ["There is no such record here."]}),
    ],
)
def test_an_invalid_start_is_422_and_starts_nothing(
    chain, ship, api_as, audit_trail, changes, errors
):
    trail = audit_trail(chain.o.organisation)

    response = api_as("member").post(f"{BASE}/runs", _start_body(ship, **changes))

    assert response.status_code == 422
    assert problem_of(response)["errors"] == errors
    assert not Run.objects.exists()
    trail.assert_nothing_new()


def test_only_a_published_version_starts(chain, ship, api_as):
    draft = services.new_draft(ship.procedure, actor=chain.o.admin)
    api = api_as("member")

    response = api.post(f"{BASE}/runs", _start_body(draft))

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "__all__": [
            "Only the published version of a procedure can be started; version 2 "
            "is draft."
        ]
    }
    assert not Run.objects.exists()


@pytest.mark.parametrize("who", ["auditor", "partner"])
def test_auditors_and_partners_start_no_run(chain, ship, who, audit_trail):
    trail = audit_trail(chain.o.organisation)

    response = api_of(getattr(chain.o, who)).post(f"{BASE}/runs", _start_body(ship))

    assert response.status_code == 403
    assert not Run.objects.exists()
    trail.assert_nothing_new()


# --- reading ----------------------------------------------------------------------


def test_list_runs_with_filters_and_a_partner_sees_only_its_own(chain, ship, api_as):
    o = chain.o
    count = internal(chain)
    first = start_shipment(ship, o.member, title="Ship 1")
    start_shipment(count, o.member, title="Stock count")
    start_shipment(ship, o.member, title="Ship 2", now=T0 + dt.timedelta(hours=1))
    services.cancel_run(first, actor=o.admin, expected_version=None, reason="Void")
    api = api_as("auditor")

    def titles(role_api=api, **filters):
        response = role_api.get(f"{BASE}/runs", **filters)
        assert response.status_code == 200, response.content
        return [r["title"] for r in response.json()["items"]]

    assert titles() == ["Ship 2", "Stock count", "Ship 1"]
    assert titles(status="active") == ["Ship 2", "Stock count"]
    assert titles(procedure_id=count.procedure_id) == ["Stock count"]
    assert titles(party_id=o.forwarder.pk) == ["Ship 2", "Ship 1"]
    assert titles(party_id=o.warehouse.pk) == ["Ship 2", "Stock count", "Ship 1"]
    assert titles(schedule_status="at_risk") == []
    assert titles(api_as("partner")) == ["Ship 2", "Ship 1"]
    assert api.get(f"{BASE}/runs", status="sleeping").status_code == 422


def test_read_a_run_with_target_projection_tasks_and_dependencies(chain, run, api_as):
    response = api_as("auditor").get(f"{BASE}/runs/{run.pk}")

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    assert body["target"] == {
        "objective": "Deliver the order",
        "measure_quantity": "500.00",
        "measure_unit": "units",
        "due_at": "2026-03-16T01:00:00Z",
    }
    # Started at T0 (Monday 08:00): produce (2 days) and pickup (1 day) in a row
    # finish on Wednesday at 16:00 WIB.
    assert body["projection"] == {
        "projected_finish_at": "2026-03-04T09:00:00Z",
        "schedule_status": "on_track",
    }
    tasks = {t["key"]: t for t in body["tasks"]}
    assert [t["key"] for t in body["tasks"]] == ["target", "produce", "price", "pickup"]
    wawan = Person.objects.get(user=chain.wawan)
    # ready tasks are assigned to the sole holder of their responsible position
    assert (tasks["produce"]["status"], tasks["produce"]["assignee_id"]) == (
        "ready",
        wawan.pk,
    )
    assert (tasks["target"]["status"], tasks["target"]["assignee_id"]) == (
        "ready",
        chain.o.rina.pk,
    )
    assert (tasks["pickup"]["responsible_party_id"], tasks["pickup"]["status"]) == (
        chain.o.forwarder.pk,
        "pending",
    )
    keys = {t["id"]: t["key"] for t in body["tasks"]}
    assert sorted(
        (keys[d["predecessor_id"]], keys[d["successor_id"]])
        for d in body["dependencies"]
    ) == [("price", "pickup"), ("produce", "pickup"), ("target", "price")]
    assert body["deviations"] == []


def test_a_partner_reads_only_its_own_tasks_and_not_other_runs(chain, ship, api_as):
    o = chain.o
    run = start_shipment(ship, o.member)
    count = start_shipment(internal(chain), o.member, title="Stock count")
    api = api_as("partner")

    mine = api.get(f"{BASE}/runs/{run.pk}")
    other = api.get(f"{BASE}/runs/{count.pk}")
    other_schedule = api.get(f"{BASE}/runs/{count.pk}/schedule")

    assert mine.status_code == 200
    assert [t["key"] for t in mine.json()["tasks"]] == ["pickup"]
    assert mine.json()["dependencies"] == []
    assert (other.status_code, other_schedule.status_code) == (404, 404)


def test_runs_of_another_organisation_are_404(run, other_org):
    api = api_of(other_org.admin)

    assert api.get(f"{BASE}/runs/{run.pk}").status_code == 404
    assert api.get(f"/orgs/globex/runs/{run.pk}").status_code == 404
    assert (
        api.post(
            f"/orgs/globex/runs/{run.pk}/cancel", {"reason": "x", "version": 1}
        ).status_code
        == 404
    )
    assert json.loads(api.get("/orgs/globex/runs").content)["count"] == 0


# --- steering ---------------------------------------------------------------------


def test_the_owner_suspends_resumes_and_cancels_a_run(chain, run, api_as, audit_trail):
    api = api_as("member")  # Rina holds the owner position
    url = f"{BASE}/runs/{run.pk}"
    trail = audit_trail(chain.o.organisation)

    suspended = api.post(f"{url}/suspend", {"reason": "Port closed", "version": 1})
    resumed = api.post(f"{url}/resume", headers={"If-Match": '"2"'})
    cancelled = api.post(f"{url}/cancel", {"reason": "Order withdrawn", "version": 3})

    assert (suspended.status_code, suspended.json()["status"]) == (200, "suspended")
    assert suspended.json()["status_reason"] == "Port closed"
    assert (resumed.status_code, resumed.json()["status"]) == (200, "active")
    assert (cancelled.status_code, cancelled.json()["status"]) == (200, "cancelled")
    assert cancelled["ETag"] == '"4"'
    assert set(Task.objects.filter(run=run).values_list("status", flat=True)) == {
        TaskStatus.CANCELLED
    }
    assert [e.verb for e in trail.new_events()] == [
        "suspended",
        "resumed",
        "cancelled",
    ]


def test_a_stale_version_is_409_and_changes_nothing(chain, run, api_as, audit_trail):
    api = api_as("member")
    api.post(f"{BASE}/runs/{run.pk}/suspend", {"reason": "Port closed", "version": 1})
    before = _runs_state()
    trail = audit_trail(chain.o.organisation)

    stale = api.post(f"{BASE}/runs/{run.pk}/resume", {"version": 1})
    missing = api.post(f"{BASE}/runs/{run.pk}/cancel", {"reason": "Gone"})

    assert stale.status_code == 409
    assert missing.status_code == 428
    assert _runs_state() == before
    trail.assert_nothing_new()


def test_an_illegal_run_transition_is_422_and_changes_nothing(
    chain, run, api_as, audit_trail
):
    api = api_as("member")
    before = _runs_state()
    trail = audit_trail(chain.o.organisation)

    response = api.post(f"{BASE}/runs/{run.pk}/resume", {"version": 1})

    assert response.status_code == 422
    problem = problem_of(response)
    assert problem["code"] == "illegal_transition"
    assert problem["errors"] == {
        "status": ["The run is active, so it cannot be resumed."]
    }
    assert _runs_state() == before
    trail.assert_nothing_new()


@pytest.mark.parametrize("who", ["dewi", "dina", "auditor", "partner"])
def test_only_the_owner_or_an_admin_steers_a_run(chain, run, who, audit_trail):
    api = api_of(getattr(chain, who, None) or getattr(chain.o, who))
    url = f"{BASE}/runs/{run.pk}"
    before = _runs_state()
    trail = audit_trail(chain.o.organisation)

    answers = [
        api.post(f"{url}/suspend", {"reason": "x", "version": 1}),
        api.post(f"{url}/cancel", {"reason": "x", "version": 1}),
        api.post(
            f"{url}/move-due-date",
            {"due_date": "2031-01-06", "reason": "x", "version": 1},
        ),
    ]

    assert [a.status_code for a in answers] == [403, 403, 403]
    assert _runs_state() == before
    trail.assert_nothing_new()


def test_the_accountable_moves_the_due_date_but_an_admin_without_it_may_not(
    chain, run, api_as
):
    body = {"due_date": "2026-03-20", "reason": "Customer agreed", "version": 1}

    refused = api_as("admin").post(f"{BASE}/runs/{run.pk}/move-due-date", body)
    moved = api_as("member").post(f"{BASE}/runs/{run.pk}/move-due-date", body)

    assert refused.status_code == 403
    assert problem_of(refused)["detail"] == (
        "Only the accountable of the procedure (its owner) can move the due date."
    )
    assert moved.status_code == 200
    # Friday 20 March 2026, 16:00 WIB
    assert moved.json()["target"]["due_at"] == "2026-03-20T09:00:00Z"
    run.refresh_from_db()
    assert (run.due_at, run.version) == (
        dt.datetime(2026, 3, 20, 9, 0, tzinfo=dt.UTC),
        2,
    )


def test_record_the_actual_quantity_of_a_completed_run(chain, api_as):
    o = chain.o
    version = build_version(
        o, [StepSpec("count", o.export_head, o.export_head)], code="COUNT"
    )
    run = start_shipment(version, o.member)
    task = task_of(run, "count")
    services.complete_task(task, actor=o.member, expected_version=None, now=T0)
    run.refresh_from_db()

    response = api_as("member").post(
        f"{BASE}/runs/{run.pk}/record-result",
        {"actual_quantity": "480", "version": run.version},
    )

    assert response.status_code == 200
    body = response.json()
    assert (body["status"], body["result"], body["actual_quantity"]) == (
        "completed",
        "missed",  # on time, but 20 units short
        "480.00",
    )
    assert body["late_by_minutes"] is None


# --- schedule ---------------------------------------------------------------------


@pytest.fixture
def diamond(chain):
    """A (1 day) → B (2 days) and C (half a day) → D (1 day), all Rina's."""
    o = chain.o
    head = o.export_head
    version = build_version(
        o,
        [
            StepSpec("a", head, head),
            StepSpec("b", head, head, days="2", after=["a"]),
            StepSpec("c", head, head, days="0.5", after=["a"]),
            StepSpec("d", head, head, after=["b", "c"]),
        ],
        code="DIAMOND",
    )
    return start_shipment(version, o.member, title="Diamond")


def _at(monkeypatch, moment):
    monkeypatch.setattr(timezone, "now", lambda: moment)


def _places(body):
    return {
        t["key"]: (
            t["earliest_start"],
            t["earliest_finish"],
            t["latest_start"],
            t["latest_finish"],
            t["slack_minutes"],
            t["critical"],
        )
        for t in body["tasks"]
    }


def test_the_schedule_of_a_run_that_has_just_started(
    chain, diamond, api_as, monkeypatch
):
    api = api_as("member")
    _at(monkeypatch, T0)  # Monday 2 March 2026, 08:00 WIB

    response = api.get(f"{BASE}/runs/{diamond.pk}/schedule")

    assert response.status_code == 200
    body = response.json()
    ids = {t["key"]: t["task_id"] for t in body["tasks"]}
    # Working days 08:00-16:00 WIB (01:00-09:00 UTC). C may finish as late as
    # D must start (Wednesday evening): 1.5 working days of slack.
    assert _places(body) == {
        "a": ("2026-03-02T01:00:00Z", "2026-03-02T09:00:00Z",
              "2026-03-02T01:00:00Z", "2026-03-02T09:00:00Z", 0, True),
        "b": ("2026-03-03T01:00:00Z", "2026-03-04T09:00:00Z",
              "2026-03-03T01:00:00Z", "2026-03-04T09:00:00Z", 0, True),
        "c": ("2026-03-03T01:00:00Z", "2026-03-03T05:00:00Z",
              "2026-03-04T05:00:00Z", "2026-03-04T09:00:00Z", 720, False),
        "d": ("2026-03-05T01:00:00Z", "2026-03-05T09:00:00Z",
              "2026-03-05T01:00:00Z", "2026-03-05T09:00:00Z", 0, True),
    }  # fmt: skip
    assert body["critical_path"] == [ids["a"], ids["b"], ids["d"]]
    assert (body["projected_finish"], body["status"], body["due_at"]) == (
        "2026-03-05T09:00:00Z",
        "on_track",
        "2026-03-16T01:00:00Z",
    )
    assert body["computed_at"] == "2026-03-02T01:00:00Z"


def test_the_schedule_uses_actual_times_for_finished_work(
    chain, diamond, api_as, monkeypatch
):
    o = chain.o
    first = task_of(diamond, "a")
    services.start_task(first, actor=o.member, expected_version=None, now=T0)
    noon = T0 + dt.timedelta(hours=4)  # done half a day early, at 12:00 WIB
    services.complete_task(first, actor=o.member, expected_version=None, now=noon)
    _at(monkeypatch, noon)

    response = api_as("member").get(f"{BASE}/runs/{diamond.pk}/schedule")

    body = response.json()
    ids = {t["key"]: t["task_id"] for t in body["tasks"]}
    assert _places(body) == {
        "a": ("2026-03-02T01:00:00Z", "2026-03-02T05:00:00Z",
              "2026-03-02T01:00:00Z", "2026-03-02T05:00:00Z", 0, True),
        "b": ("2026-03-02T05:00:00Z", "2026-03-04T05:00:00Z",
              "2026-03-02T05:00:00Z", "2026-03-04T05:00:00Z", 0, True),
        "c": ("2026-03-02T05:00:00Z", "2026-03-02T09:00:00Z",
              "2026-03-04T01:00:00Z", "2026-03-04T05:00:00Z", 720, False),
        "d": ("2026-03-04T05:00:00Z", "2026-03-05T05:00:00Z",
              "2026-03-04T05:00:00Z", "2026-03-05T05:00:00Z", 0, True),
    }  # fmt: skip
    assert body["critical_path"] == [ids["a"], ids["b"], ids["d"]]
    assert body["projected_finish"] == "2026-03-05T05:00:00Z"
    # The stored projection agrees with the full schedule.
    run = api_as("member").get(f"{BASE}/runs/{diamond.pk}").json()
    assert run["projection"]["projected_finish_at"] == "2026-03-05T05:00:00Z"


def test_a_partner_sees_the_schedule_of_its_own_tasks(chain, run, api_as, monkeypatch):
    _at(monkeypatch, T0)

    body = api_as("partner").get(f"{BASE}/runs/{run.pk}/schedule").json()

    pickup = task_of(run, "pickup")
    assert [t["key"] for t in body["tasks"]] == ["pickup"]
    assert body["critical_path"] == [pickup.pk]
    assert body["projected_finish"] == "2026-03-04T09:00:00Z"


# --- deviations -------------------------------------------------------------------


def test_ask_for_a_skip_and_the_accountable_confirms_it(chain, run, audit_trail):
    o = chain.o
    price = task_of(run, "price")
    trail = audit_trail(o.organisation)

    asked = api_of(chain.dina).post(
        f"{BASE}/runs/{run.pk}/deviations",
        {"kind": "skip_step", "task_id": price.pk, "reason": "Fixed tariff"},
        headers=KEY,
    )
    deviation_id = asked.json()["id"]
    confirmed = api_of(o.member).post(
        f"{BASE}/deviations/{deviation_id}/confirm",
        {"comment": "Agreed", "version": 1},
    )

    assert asked.status_code == 201
    assert asked["Location"] == f"/api/v1/orgs/acme/deviations/{deviation_id}"
    assert asked["ETag"] == '"1"'
    body = asked.json()
    assert {k: body[k] for k in ("kind", "task_id", "reason", "status", "details")} == {
        "kind": "skip_step",
        "task_id": price.pk,
        "reason": "Fixed tariff",
        "status": "requested",
        "details": {},
    }
    assert body["requested_by_id"] == chain.dina.pk
    assert confirmed.status_code == 200
    assert (confirmed.json()["status"], confirmed.json()["decided_by_id"]) == (
        "confirmed",
        o.member.pk,
    )
    price.refresh_from_db()
    # it is skipped when the chain reaches it
    assert (price.status, price.skipped_reason) == (TaskStatus.PENDING, "Fixed tariff")
    assert [e.verb for e in trail.new_events()] == [
        "deviation_requested",
        "deviation_confirmed",
    ]
    listed = api_of(o.auditor).get(f"{BASE}/runs/{run.pk}/deviations")
    assert [(d["id"], d["status"]) for d in listed.json()["items"]] == [
        (deviation_id, "confirmed")
    ]


def test_add_a_step_by_deviation(chain, run):
    o = chain.o
    target, price = task_of(run, "target"), task_of(run, "price")

    asked = api_of(chain.dina).post(
        f"{BASE}/runs/{run.pk}/deviations",
        {
            "kind": "add_step",
            "reason": "The customer wants insurance",
            "key": "insure",
            "name": "Insure the shipment",
            "duration_minutes": 120,
            "responsible_position_id": o.export_staff.pk,
            "accountable_position_id": o.export_head.pk,
            "after": [target.pk],
            "before": [price.pk],
        },
    )
    confirmed = api_of(o.member).post(
        f"{BASE}/deviations/{asked.json()['id']}/confirm", {"version": 1}
    )

    assert asked.status_code == 201
    assert asked.json()["details"] == {
        "key": "insure",
        "name": "Insure the shipment",
        "duration_minutes": 120,
        "responsible_position": o.export_staff.pk,
        "responsible_party": None,
        "accountable_position": o.export_head.pk,
        "after": [target.pk],
        "before": [price.pk],
    }
    assert confirmed.status_code == 200
    insure = task_of(run, "insure")
    assert (insure.status, insure.added_by_deviation_id) == (
        TaskStatus.PENDING,
        asked.json()["id"],
    )


def test_an_invalid_deviation_names_the_request_fields(chain, run, audit_trail):
    trail = audit_trail(chain.o.organisation)

    response = api_of(chain.dina).post(
        f"{BASE}/runs/{run.pk}/deviations",
        {
            "kind": "add_step",
            "reason": "More",
            "key": "extra",
            "name": "Extra",
            "duration_minutes": 60,
            "accountable_position_id": 999999,
        },
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "responsible_position_id": [
            "Name a responsible position or an external party (one of them)."
        ],
        "accountable_position_id": ["Choose an active position."],
    }
    assert not Deviation.objects.exists()
    trail.assert_nothing_new()


def test_the_requester_cannot_decide_and_a_stale_decision_is_409(
    chain, run, audit_trail
):
    o = chain.o
    price = task_of(run, "price")
    own = services.request_deviation(
        run, actor=o.member, kind="skip_step", reason="Fixed tariff", task=price
    )
    dinas = services.request_deviation(
        run, actor=chain.dina, kind="skip_step", reason="Again", task=price
    )
    before = _runs_state()
    trail = audit_trail(o.organisation)

    by_requester = api_of(o.member).post(
        f"{BASE}/deviations/{own.pk}/confirm", {"version": 1}
    )
    stale = api_of(o.member).post(
        f"{BASE}/deviations/{dinas.pk}/reject", {"version": 2}
    )
    by_auditor = api_of(o.auditor).post(
        f"{BASE}/deviations/{own.pk}/reject", {"version": 1}
    )

    assert by_requester.status_code == 403
    assert problem_of(by_requester)["detail"] == (
        "You asked for this deviation; someone else must decide on it."
    )
    assert stale.status_code == 409
    assert by_auditor.status_code == 403
    assert _runs_state() == before
    trail.assert_nothing_new()


def test_deciding_a_decided_deviation_again_is_a_409(chain, run, audit_trail):
    o = chain.o
    deviation = services.request_deviation(
        run, actor=chain.dina, kind="skip_step", reason="x", task=task_of(run, "price")
    )
    api = api_of(o.member)
    url = f"{BASE}/deviations/{deviation.pk}"

    rejected = api.post(f"{url}/reject", {"comment": "No", "version": 1})
    before = _runs_state()
    trail = audit_trail(o.organisation)
    again = api.post(f"{url}/confirm", {"version": 2})
    twice = api.post(f"{url}/reject", headers={"If-Match": '"2"'})

    assert (rejected.status_code, rejected.json()["status"]) == (200, "rejected")
    assert rejected.json()["decision_comment"] == "No"
    assert (again.status_code, twice.status_code) == (409, 409)
    assert problem_of(again)["detail"] == "This deviation was already decided."
    assert problem_of(twice)["detail"] == "This deviation was already decided."
    assert _runs_state() == before
    trail.assert_nothing_new()
    deviation.refresh_from_db()
    assert (deviation.status, deviation.version) == (DeviationStatus.REJECTED, 2)


def test_a_partner_sees_only_deviations_about_its_own_tasks(chain, run, api_as):
    o = chain.o
    services.request_deviation(
        run, actor=o.member, kind="skip_step", reason="x", task=task_of(run, "price")
    )
    about_pickup = services.request_deviation(
        run, actor=o.member, kind="skip_step", reason="y", task=task_of(run, "pickup")
    )
    api = api_as("partner")

    listed = api.get(f"{BASE}/runs/{run.pk}/deviations")
    requested = api.post(
        f"{BASE}/runs/{run.pk}/deviations",
        {"kind": "skip_step", "task_id": task_of(run, "pickup").pk, "reason": "z"},
    )

    assert [d["id"] for d in listed.json()["items"]] == [about_pickup.pk]
    assert requested.status_code == 403
    assert Deviation.objects.count() == 2


# --- query counts -----------------------------------------------------------------


def test_run_reads_run_a_fixed_number_of_queries(chain, ship, api_as):
    o = chain.o
    run = start_shipment(ship, o.member)
    apis = {role: api_as(role) for role in ("member", "partner")}
    for api in apis.values():
        api.get("/me")  # a token's first use records its last-used time
    paths = [
        ("member", f"{BASE}/runs"),
        ("partner", f"{BASE}/runs"),
        ("member", f"{BASE}/runs/{run.pk}"),
        ("partner", f"{BASE}/runs/{run.pk}"),
        ("member", f"{BASE}/runs/{run.pk}/deviations"),
        ("member", f"{BASE}/runs/{run.pk}/schedule"),
    ]

    def counts():
        result = {}
        for role, path in paths:
            with CaptureQueriesContext(connection) as captured:
                response = apis[role].get(path, limit=100)
            assert response.status_code == 200, response.content
            result[(role, path)] = len(captured)
        return result

    def grow(n):
        for i in range(n):
            other = start_shipment(ship, o.member, title=f"Ship {i}")
            services.request_deviation(
                other,
                actor=o.member,
                kind="skip_step",
                reason="x",
                task=task_of(other, "price"),
            )
            services.request_deviation(
                run,
                actor=o.member,
                kind="skip_step",
                reason=f"x{i}",
                task=task_of(run, "pickup"),
            )

    grow(1)
    small = counts()
    grow(5)
    large = counts()

    assert large == small
    assert small == {
        ("member", f"{BASE}/runs"): 4,
        ("partner", f"{BASE}/runs"): 4,
        ("member", f"{BASE}/runs/{run.pk}"): 6,
        ("partner", f"{BASE}/runs/{run.pk}"): 6,
        ("member", f"{BASE}/runs/{run.pk}/deviations"): 5,
        ("member", f"{BASE}/runs/{run.pk}/schedule"): 7,
    }
