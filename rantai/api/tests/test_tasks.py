"""Tasks through the API: a run's tasks, "my tasks", one task, and the actions on
it (claim, start, complete, recheck, reopen) with versions and idempotency."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.tests.chains_data import (
    T0,
    api_of,
    chain_org,
    internal,
    shipment,
    start_shipment,
    task_of,
)
from rantai.api.tests.conftest import problem_of
from rantai.chains import extensions, services
from rantai.chains.models import Run, RunStatus, Task, TaskStatus
from rantai.org.models import Person

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "9a0e4c2b-5d7f-4e1a-8b3c-6f2d1e0a9c87"}


@pytest.fixture(autouse=True)
def no_extensions():
    """The engine's extension points, empty unless a test registers a guard."""
    with extensions.isolated_registry() as registry:
        yield registry


@pytest.fixture
def chain(acme):
    return chain_org(acme)


@pytest.fixture
def run(chain):
    """A shipment run started at T0: target (Rina's) and produce (Wawan's) ready."""
    return start_shipment(shipment(chain), chain.o.member)


def _tasks_state():
    return [
        sorted(Task.objects.values_list("pk", "version", "status", "assignee_id")),
        sorted(Run.objects.values_list("pk", "version", "status")),
    ]


def _person(user):
    return Person.objects.get(user=user).pk


# --- reading ----------------------------------------------------------------------


def test_list_a_runs_tasks_with_a_status_filter(run, api_as):
    api = api_as("auditor")

    everything = api.get(f"{BASE}/runs/{run.pk}/tasks")
    ready = api.get(f"{BASE}/runs/{run.pk}/tasks", status="ready")

    assert [t["key"] for t in everything.json()["items"]] == [
        "target",
        "produce",
        "price",
        "pickup",
    ]
    assert everything.json()["count"] == 4
    assert [t["key"] for t in ready.json()["items"]] == ["target", "produce"]


def test_read_one_task_with_roles_and_links(chain, run, api_as):
    price = task_of(run, "price")

    response = api_as("member").get(f"{BASE}/tasks/{price.pk}")

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    o = chain.o
    assert {
        k: body[k] for k in body if k not in ("id", "created_at", "updated_at")
    } == {
        "run_id": run.pk,
        "step_id": price.step_id,
        "added_by_deviation_id": None,
        "key": "price",
        "name": "Price",
        "sort_order": 30,
        "status": "pending",
        "duration_minutes": 240,
        "requires_evidence": False,
        "requires_verified_evidence": False,
        "requires_approval": False,
        "responsible_position_id": o.export_staff.pk,
        "responsible_party_id": None,
        "accountable_position_id": o.export_head.pk,
        "assignee_id": None,
        "ready_at": None,
        "started_at": None,
        "done_at": None,
        "skipped_reason": "",
        "awaiting_reasons": [],
        "flagged_after_reopen": False,
        "reopen_count": 0,
        "last_reopen_reason": "",
        "version": 1,
        "roles": [
            {"role": "A", "position_id": o.export_head.pk, "party_id": None},
            {"role": "R", "position_id": o.export_staff.pk, "party_id": None},
        ],
        "predecessors": [
            {
                "task_id": task_of(run, "target").pk,
                "kind": "finish_to_start",
                "lag_minutes": 0,
            }
        ],
        "successors": [
            {
                "task_id": task_of(run, "pickup").pk,
                "kind": "finish_to_start",
                "lag_minutes": 0,
            }
        ],
    }


def test_a_partner_reads_its_own_tasks_only(chain, run, api_as):
    api = api_as("partner")
    pickup, price = task_of(run, "pickup"), task_of(run, "price")

    listed = api.get(f"{BASE}/runs/{run.pk}/tasks")
    own = api.get(f"{BASE}/tasks/{pickup.pk}")
    other = api.get(f"{BASE}/tasks/{price.pk}")
    acting = api.post(f"{BASE}/tasks/{price.pk}/start", {"version": 1})

    assert [t["key"] for t in listed.json()["items"]] == ["pickup"]
    assert own.status_code == 200
    # its links to other parties' tasks are not shown
    assert (own.json()["predecessors"], own.json()["successors"]) == ([], [])
    assert (other.status_code, acting.status_code) == (404, 404)


def test_tasks_of_another_organisation_are_404(run, other_org):
    api = api_of(other_org.admin)
    target = task_of(run, "target")

    assert api.get(f"{BASE}/tasks/{target.pk}").status_code == 404
    assert api.get(f"/orgs/globex/tasks/{target.pk}").status_code == 404
    assert (
        api.post(f"/orgs/globex/tasks/{target.pk}/start", {"version": 1}).status_code
        == 404
    )


def test_my_tasks(chain, run):
    o = chain.o
    coming = api_of(o.partner).get(f"{BASE}/my-tasks", include_pending="true")
    assert [(t["key"], t["status"]) for t in coming.json()["items"]] == [
        ("pickup", "pending")
    ]
    services.complete_task(
        task_of(run, "target"), actor=o.member, expected_version=None, now=T0
    )
    services.complete_task(
        task_of(run, "produce"), actor=chain.wawan, expected_version=None, now=T0
    )

    def mine(user):
        response = api_of(user).get(f"{BASE}/my-tasks")
        assert response.status_code == 200
        return [(t["key"], t["run"]["title"]) for t in response.json()["items"]]

    # price is ready and unassigned (two holders): Dina may claim it
    assert mine(chain.dina) == [("price", "Ship 500 units to Kota A")]
    assert mine(chain.wawan) == []
    assert mine(o.member) == []
    assert mine(chain.dewi) == []
    assert mine(o.partner) == []

    services.complete_task(
        task_of(run, "price"), actor=chain.dina, expected_version=None, now=T0
    )
    assert mine(o.partner) == [("pickup", "Ship 500 units to Kota A")]


# --- acting -----------------------------------------------------------------------


def test_claim_start_and_complete_a_task(chain, run, audit_trail):
    o = chain.o
    services.complete_task(
        task_of(run, "target"), actor=o.member, expected_version=None, now=T0
    )
    price = task_of(run, "price")
    api = api_of(chain.dina)
    trail = audit_trail(o.organisation)

    claimed = api.post(f"{BASE}/tasks/{price.pk}/claim", {"version": 2})
    started = api.post(f"{BASE}/tasks/{price.pk}/start", headers={"If-Match": '"3"'})
    completed = api.post(f"{BASE}/tasks/{price.pk}/complete", {"version": 4})

    assert (claimed.status_code, claimed.json()["assignee_id"]) == (
        200,
        _person(chain.dina),
    )
    assert (started.status_code, started.json()["status"]) == (200, "in_progress")
    assert (completed.status_code, completed.json()["status"], completed["ETag"]) == (
        200,
        "done",
        '"5"',
    )
    assert [e.verb for e in trail.new_events()] == [
        "claimed",
        "task_started",
        "task_completed",
    ]
    # pickup still waits on produce
    assert task_of(run, "pickup").status == TaskStatus.PENDING


def test_a_stale_version_is_409_and_a_missing_one_428(chain, run, audit_trail):
    target = task_of(run, "target")
    api = api_of(chain.o.member)
    api.post(f"{BASE}/tasks/{target.pk}/start", {"version": 1})
    before = _tasks_state()
    trail = audit_trail(chain.o.organisation)

    stale = api.post(f"{BASE}/tasks/{target.pk}/complete", {"version": 1})
    missing = api.post(f"{BASE}/tasks/{target.pk}/complete")

    assert stale.status_code == 409
    assert problem_of(stale)["code"] == "conflict"
    assert missing.status_code == 428
    assert _tasks_state() == before
    trail.assert_nothing_new()


def test_an_illegal_transition_is_422_and_changes_nothing(chain, run, audit_trail):
    o = chain.o
    price, target = task_of(run, "price"), task_of(run, "target")
    before = _tasks_state()
    trail = audit_trail(o.organisation)

    pending = api_of(chain.dina).post(
        f"{BASE}/tasks/{price.pk}/complete", {"version": 1}
    )
    not_done = api_of(o.member).post(
        f"{BASE}/tasks/{target.pk}/reopen", {"reason": "Wrong", "version": 1}
    )

    assert pending.status_code == 422
    assert problem_of(pending)["code"] == "illegal_transition"
    assert problem_of(pending)["errors"] == {
        "status": ["The task “Price” is pending, so it cannot be completed."]
    }
    assert problem_of(not_done)["errors"] == {
        "status": ["The task “Target” is ready, so it cannot be reopened."]
    }
    assert _tasks_state() == before
    trail.assert_nothing_new()


@pytest.mark.parametrize("who", ["auditor", "dewi", "partner", "admin"])
def test_only_the_people_of_the_task_act_on_it(chain, run, who, audit_trail):
    """Administrators included: acting on a task needs its positions."""
    target = task_of(run, "target")
    api = api_of(getattr(chain, who, None) or getattr(chain.o, who))
    before = _tasks_state()
    trail = audit_trail(chain.o.organisation)

    answers = [
        api.post(f"{BASE}/tasks/{target.pk}/{action}", {"version": 1})
        for action in ("claim", "start", "complete")
    ]

    expected = 404 if who == "partner" else 403  # not its party's task
    assert [a.status_code for a in answers] == [expected] * 3
    assert _tasks_state() == before
    trail.assert_nothing_new()


def test_a_partners_task_is_done_by_the_partner_only(chain, run):
    o = chain.o
    for key, user in (("target", o.member), ("produce", chain.wawan)):
        services.complete_task(
            task_of(run, key), actor=user, expected_version=None, now=T0
        )
    services.complete_task(
        task_of(run, "price"), actor=chain.dina, expected_version=None, now=T0
    )
    pickup = task_of(run, "pickup")

    by_accountable = api_of(chain.wawan).post(
        f"{BASE}/tasks/{pickup.pk}/complete", {"version": pickup.version}
    )
    by_partner = api_of(o.partner).post(
        f"{BASE}/tasks/{pickup.pk}/complete", {"version": pickup.version}
    )

    assert by_accountable.status_code == 403
    assert problem_of(by_accountable)["detail"] == (
        "Only the partner responsible for this task can act on it."
    )
    assert (by_partner.status_code, by_partner.json()["status"]) == (200, "done")
    # the last task: the run is completed, late (due 16 March 2026)
    completed = api_of(o.auditor).get(f"{BASE}/runs/{run.pk}").json()
    assert (completed["status"], completed["result"]) == ("completed", "missed")
    assert completed["late_by_minutes"] > 0


def test_a_retried_completion_acts_once(chain, run, audit_trail):
    target = task_of(run, "target")
    api = api_of(chain.o.member)

    first = api.post(f"{BASE}/tasks/{target.pk}/complete", {"version": 1}, KEY)
    trail = audit_trail(chain.o.organisation)
    second = api.post(f"{BASE}/tasks/{target.pk}/complete", {"version": 1}, KEY)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    target.refresh_from_db()
    assert (target.status, target.version) == (TaskStatus.DONE, 2)
    trail.assert_nothing_new()


def test_reopen_a_done_task_with_a_reason(chain, run, audit_trail):
    o = chain.o
    target = task_of(run, "target")
    services.complete_task(target, actor=o.member, expected_version=None, now=T0)
    api = api_of(o.member)

    without_reason = api.post(
        f"{BASE}/tasks/{target.pk}/reopen", {"reason": " ", "version": 2}
    )
    reopened = api.post(
        f"{BASE}/tasks/{target.pk}/reopen",
        {"reason": "Wrong quantity", "version": 2},
    )

    assert without_reason.status_code == 422
    assert problem_of(without_reason)["errors"] == {
        "reason": ["This field is required."]
    }
    assert reopened.status_code == 200
    body = reopened.json()
    assert (body["status"], body["reopen_count"], body["last_reopen_reason"]) == (
        "ready",
        1,
        "Wrong quantity",
    )
    # price had become ready; it waits again
    assert task_of(run, "price").status == TaskStatus.PENDING


def test_a_guarded_task_awaits_and_a_recheck_completes_it(chain, run, no_extensions):
    signed = {"yes": False}

    def customs_papers(task):
        return extensions.GuardResult(signed["yes"], "Customs papers are not signed")

    no_extensions.completion_guards.append(customs_papers)
    target = task_of(run, "target")
    api = api_of(chain.o.member)

    awaiting = api.post(f"{BASE}/tasks/{target.pk}/complete", {"version": 1})
    still = api.post(f"{BASE}/tasks/{target.pk}/recheck", {"version": 2})
    signed["yes"] = True
    done = api.post(f"{BASE}/tasks/{target.pk}/recheck", {"version": 2})

    assert (awaiting.json()["status"], awaiting.json()["awaiting_reasons"]) == (
        "awaiting",
        ["Customs papers are not signed"],
    )
    assert (still.status_code, still.json()["status"], still["ETag"]) == (
        200,
        "awaiting",
        '"2"',
    )
    assert (done.status_code, done.json()["status"]) == (200, "done")
    assert done.json()["awaiting_reasons"] == []


def test_tasks_of_a_suspended_run_do_not_move(chain, run, audit_trail):
    o = chain.o
    services.suspend_run(run, actor=o.member, expected_version=None, reason="Hold")
    target = task_of(run, "target")
    before = _tasks_state()

    response = api_of(o.member).post(f"{BASE}/tasks/{target.pk}/start", {"version": 1})

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "__all__": ["The run is suspended: its tasks cannot change."]
    }
    assert _tasks_state() == before
    assert Run.objects.get(pk=run.pk).status == RunStatus.SUSPENDED


# --- query counts -----------------------------------------------------------------


def test_task_lists_run_a_fixed_number_of_queries(chain, api_as):
    o = chain.o
    version = shipment(chain)
    count = internal(chain)
    run = start_shipment(version, o.member)
    apis = {
        "member": api_as("member"),
        "partner": api_as("partner"),
        "dina": api_of(chain.dina),
        "wawan": api_of(chain.wawan),
    }
    for api in apis.values():
        api.get("/me")  # a token's first use records its last-used time
    paths = [
        ("member", f"{BASE}/runs/{run.pk}/tasks"),
        ("partner", f"{BASE}/runs/{run.pk}/tasks"),
        ("member", f"{BASE}/my-tasks"),
        ("dina", f"{BASE}/my-tasks"),
        ("wawan", f"{BASE}/my-tasks"),
        ("partner", f"{BASE}/my-tasks"),
        ("member", f"{BASE}/tasks/{task_of(run, 'price').pk}"),
    ]

    def counts():
        result = {}
        for who, path in paths:
            with CaptureQueriesContext(connection) as captured:
                response = apis[who].get(path, limit=100)
            assert response.status_code == 200, response.content
            result[(who, path)] = len(captured)
        return result

    def grow(n):
        for i in range(n):
            other = start_shipment(version, o.member, title=f"Ship {i}")
            for key, user in (("target", o.member), ("produce", chain.wawan)):
                services.complete_task(
                    task_of(other, key), actor=user, expected_version=None, now=T0
                )
            start_shipment(count, o.member, title=f"Count {i}")

    grow(1)
    small = counts()
    grow(4)
    large = counts()

    assert large == small
    assert small == {
        ("member", f"{BASE}/runs/{run.pk}/tasks"): 5,
        ("partner", f"{BASE}/runs/{run.pk}/tasks"): 5,
        ("member", f"{BASE}/my-tasks"): 3,
        ("dina", f"{BASE}/my-tasks"): 3,
        ("wawan", f"{BASE}/my-tasks"): 3,
        ("partner", f"{BASE}/my-tasks"): 3,
        ("member", f"{BASE}/tasks/{task_of(run, 'price').pk}"): 6,
    }
    # and the lists did grow
    assert len(apis["wawan"].get(f"{BASE}/my-tasks").json()["items"]) == 6
