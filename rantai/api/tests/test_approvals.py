"""Approval requests through the API: what waits for me (with the time left), the
organisation's and my own requests, one request's coordination map, and deciding,
withdrawing, resubmitting and nudging — with versions, idempotency, refusals that
write nothing, and a due-date change routed for approval.

The deviation route of `coordination_data` asks the requester's superior within
eight working hours: when Dina (EXP-CLERK) asks to skip the pricing step, Rina
(EXP-HEAD) decides.
"""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.tests.chains_data import api_of, chain_org, shipment, start_shipment
from rantai.api.tests.conftest import problem_of
from rantai.api.tests.coordination_data import (
    NOW,
    Clock,
    ask_to_skip,
    deviation_of,
    publish_route,
)
from rantai.approvals import delegation
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    Nudge,
    RequestStatus,
    SubjectKind,
)
from rantai.chains.models import DeviationStatus
from rantai.notifications.models import Notification
from rantai.org.models import Person

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "5d2c8f0e-3b1a-4c7d-9e6f-0a1b2c3d4e5f"}


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, NOW)


@pytest.fixture
def chain(acme):
    return chain_org(acme)


@pytest.fixture
def ship(chain):
    return shipment(chain)


@pytest.fixture
def run(chain, ship, clock):
    """A shipment run started by Rina on Monday, with the deviation route."""
    publish_route(chain.o)
    return start_shipment(ship, chain.o.member)


@pytest.fixture
def asked(chain, run):
    """Dina asked on Tuesday at 08:00 to skip the pricing step: Rina decides."""
    return ask_to_skip(run, chain.dina)


def _person(user):
    return Person.objects.get(user=user)


def _state():
    """Everything a decision or a refusal could have changed."""
    return [
        sorted(ApprovalRequest.objects.values_list("pk", "version", "status")),
        sorted(Decision.objects.values_list("pk", "outcome", "is_current")),
    ]


def _url(request, action=""):
    return f"{BASE}/approvals/requests/{request.pk}" + (f"/{action}" if action else "")


# --- what waits for me ----------------------------------------------------------------


def test_pending_approvals_with_the_time_left(chain, asked, clock):
    rina = api_of(chain.o.member)

    response = rina.get(f"{BASE}/approvals/pending")

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == 1
    [item] = body["items"]
    assert item["request"]["id"] == asked.pk
    assert item["request"]["subject_kind"] == "deviation"
    assert item["request"]["requester_name"] == "Dina"
    assert (item["request"]["route_code"], item["request"]["status"]) == (
        "DEV",
        "open",
    )
    assert {k: item["stage"][k] for k in ("order", "name", "round", "required")} == {
        "order": 1,
        "name": "Stage 1",
        "round": 1,
        "required": 1,
    }
    # Eight working hours from Tuesday 08:00 WIB: Tuesday 16:00 WIB.
    assert item["stage"]["due_at"] == "2026-03-03T09:00:00Z"
    assert (item["time_left_minutes"], item["is_overdue"]) == (480, False)
    assert (item["on_behalf_of_id"], item["delegation_id"]) == (None, None)

    clock.advance(hours=9)  # 17:00 WIB, an hour past the limit
    late = rina.get(f"{BASE}/approvals/pending").json()["items"][0]

    assert (late["time_left_minutes"], late["is_overdue"]) == (-60, True)


@pytest.mark.parametrize("who", ["dina", "wawan", "auditor", "partner"])
def test_nothing_waits_for_the_requester_or_anyone_not_asked(chain, asked, who):
    user = getattr(chain, who, None) or getattr(chain.o, who)

    response = api_of(user).get(f"{BASE}/approvals/pending")

    assert response.status_code == 200
    assert response.json() == {"items": [], "count": 0}


def test_a_delegate_sees_what_waits_on_behalf_of_the_delegator(chain, asked, clock):
    rina, wawan = _person(chain.o.member), _person(chain.wawan)
    given = delegation.delegate(
        rina,
        actor=chain.o.member,
        delegate=wawan,
        starts_at=NOW,
        ends_at=NOW + dt.timedelta(days=7),
    )

    items = api_of(chain.wawan).get(f"{BASE}/approvals/pending").json()["items"]

    assert [(i["request"]["id"], i["on_behalf_of_id"]) for i in items] == [
        (asked.pk, rina.pk)
    ]
    assert (items[0]["on_behalf_of_name"], items[0]["delegation_id"]) == (
        "Rina Kusuma",
        given.pk,
    )


# --- lists ------------------------------------------------------------------------


def test_list_requests_with_filters(chain, run, clock):
    first = ask_to_skip(run, chain.dina, key="price")
    clock.advance(hours=1)
    second = ask_to_skip(run, chain.dina, key="pickup")
    api = api_of(chain.o.auditor)

    def ids(user=chain.o.auditor, **filters):
        response = api_of(user).get(f"{BASE}/approvals/requests", **filters)
        assert response.status_code == 200, response.content
        return [r["id"] for r in response.json()["items"]]

    assert ids() == [second.pk, first.pk]
    assert ids(status="open") == [second.pk, first.pk]
    assert ids(status="approved") == []
    assert ids(subject_kind="deviation", subject_id=first.subject_id) == [first.pk]
    assert ids(subject_kind="due_date_change") == []
    assert ids(run_id=run.pk) == [second.pk, first.pk]
    assert ids(chain.dina, mine="true") == [second.pk, first.pk]
    assert ids(chain.o.member, mine="true") == []
    # Neither is stuck before its stage's time limit; both are after it.
    assert ids(chain.dina, stuck="true") == []
    clock.advance(days=2)
    assert ids(chain.dina, stuck="true") == [second.pk, first.pk]
    assert ids(chain.o.partner) == []
    assert api.get(f"{BASE}/approvals/requests", status="pondering").status_code == 422


def test_requests_of_another_organisation_are_404(asked, other_org):
    api = api_of(other_org.admin)

    assert api.get(_url(asked)).status_code == 404
    assert api.get(f"/orgs/globex/approvals/requests/{asked.pk}").status_code == 404
    assert (
        api.post(
            f"/orgs/globex/approvals/requests/{asked.pk}/decide",
            {"outcome": "approve", "version": 1},
        ).status_code
        == 404
    )
    assert api.get("/orgs/globex/approvals/requests").json()["count"] == 0


# --- one request ------------------------------------------------------------------


def test_the_coordination_map_of_a_request(chain, asked, clock):
    clock.advance(hours=2)

    response = api_of(chain.o.auditor).get(_url(asked))

    assert response.status_code == 200
    assert response["ETag"] == '"1"'
    body = response.json()
    assert (body["title"], body["status"], body["current_stage"]) == (
        asked.title,
        "open",
        1,
    )
    assert body["requester_position_title"] == "Export clerk"
    [stage] = body["stages"]
    assert {
        k: stage[k]
        for k in ("order", "rule", "mode", "status", "round", "required", "approvals")
    } == {
        "order": 1,
        "rule": "superior",
        "mode": "any",
        "status": "open",
        "round": 1,
        "required": 1,
        "approvals": 0,
    }
    assert (stage["duration_minutes"], stage["time_left_minutes"]) == (120, 360)
    assert stage["approvers"] == [
        {
            "person_id": chain.o.rina.pk,
            "person_name": "Rina Kusuma",
            "position_id": chain.o.export_head.pk,
            "position_title": "Head of export",
            "via": "holder",
            "via_text": "holder of Head of export",
            "acting": False,
            "escalated": False,
            "from_position_id": None,
            "decision_id": None,
            "outcome": None,
        }
    ]
    assert stage["decisions"] == []
    [resolution] = stage["resolutions"]
    assert (resolution["cause"], resolution["round"]) == ("opened", 1)
    assert [a["person_name"] for a in resolution["approvers"]] == ["Rina Kusuma"]


def test_partners_see_no_request(chain, asked):
    api = api_of(chain.o.partner)

    assert api.get(_url(asked)).status_code == 404
    assert api.post(_url(asked, "nudge")).status_code == 404


# --- deciding ---------------------------------------------------------------------


def test_the_approver_approves_and_the_deviation_applies(
    chain, asked, clock, audit_trail
):
    trail = audit_trail(chain.o.organisation)
    clock.advance(hours=1)

    response = api_of(chain.o.member).post(
        _url(asked, "decide"),
        {"outcome": "approve", "comment": "Fine", "version": 1},
        headers=KEY,
    )

    assert response.status_code == 200, response.content
    assert response["ETag"] == '"2"'
    body = response.json()
    assert (body["status"], body["version"]) == ("approved", 2)
    [stage] = body["stages"]
    assert (stage["status"], stage["approvals"], stage["duration_minutes"]) == (
        "approved",
        1,
        60,
    )
    [decision] = stage["decisions"]
    rina = chain.o.rina.pk
    assert {
        k: decision[k]
        for k in (
            "outcome",
            "comment",
            "slot_person_id",
            "decided_by_person_id",
            "decided_by_id",
            "on_behalf_of_id",
            "position_id",
            "is_current",
        )
    } == {
        "outcome": "approve",
        "comment": "Fine",
        "slot_person_id": rina,
        "decided_by_person_id": rina,
        "decided_by_id": chain.o.member.pk,
        "on_behalf_of_id": None,
        "position_id": chain.o.export_head.pk,
        "is_current": True,
    }
    assert stage["approvers"][0]["outcome"] == "approve"
    assert deviation_of(asked).status == DeviationStatus.CONFIRMED
    assert "approved" in [e.verb for e in trail.new_events()]


def test_a_retried_decision_is_made_once(chain, asked):
    rina = api_of(chain.o.member)
    body = {"outcome": "approve", "version": 1}

    first = rina.post(_url(asked, "decide"), body, headers=KEY)
    second = rina.post(_url(asked, "decide"), body, headers=KEY)

    assert (first.status_code, second.status_code) == (200, 200)
    assert second.content == first.content
    assert second["Idempotent-Replayed"] == "true"
    assert Decision.objects.count() == 1


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"outcome": "reject", "comment": "  "},
            {"comment": ["A rejection needs a reason."]},
        ),
        (
            {"outcome": "return", "comment": "Check the tariff"},
            {"return_to_stage": ["Say where the request goes back to."]},
        ),
        (
            {"outcome": "return", "comment": "Check", "return_to_stage": 1},
            {"return_to_stage": ["Return it to an earlier stage or to the requester."]},
        ),
        (
            {"outcome": "approve", "on_behalf_of": 999999},
            {"on_behalf_of": ["There is no such record here."]},
        ),
    ],
)
def test_an_invalid_decision_is_422_and_writes_nothing(
    chain, asked, audit_trail, body, errors
):
    before = _state()
    trail = audit_trail(chain.o.organisation)

    response = api_of(chain.o.member).post(
        _url(asked, "decide"), {**body, "version": 1}
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == errors
    assert _state() == before
    trail.assert_nothing_new()


def test_an_unknown_outcome_is_422(chain, asked):
    response = api_of(chain.o.member).post(
        _url(asked, "decide"), {"outcome": "maybe", "version": 1}
    )

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["outcome"]


@pytest.mark.parametrize(
    ("who", "status", "detail"),
    [
        ("dina", 403, "You asked for this; someone else must decide."),
        ("wawan", 403, "You are not an approver of this stage."),
        ("auditor", 403, "Only administrators and members take part in approvals."),
        ("partner", 404, "Not found."),
    ],
)
def test_only_an_approver_decides_and_refusals_write_nothing(
    chain, asked, audit_trail, who, status, detail
):
    user = getattr(chain, who, None) or getattr(chain.o, who)
    before = _state()
    trail = audit_trail(chain.o.organisation)

    response = api_of(user).post(
        _url(asked, "decide"), {"outcome": "approve", "version": 1}
    )

    assert response.status_code == status
    assert problem_of(response)["detail"] == detail
    assert _state() == before
    trail.assert_nothing_new()


def test_a_stale_version_is_409_a_missing_one_428_and_a_decided_request_409(
    chain, asked, audit_trail
):
    rina = api_of(chain.o.member)
    before = _state()
    trail = audit_trail(chain.o.organisation)

    stale = rina.post(_url(asked, "decide"), {"outcome": "approve", "version": 7})
    missing = rina.post(_url(asked, "decide"), {"outcome": "approve"})

    assert (stale.status_code, missing.status_code) == (409, 428)
    assert _state() == before
    trail.assert_nothing_new()

    decided = rina.post(
        _url(asked, "decide"), {"outcome": "approve"}, headers={"If-Match": '"1"'}
    )
    again = rina.post(
        _url(asked, "decide"),
        {"outcome": "reject", "comment": "No"},
        headers={"If-Match": '"2"'},
    )

    assert decided.status_code == 200
    assert again.status_code == 409
    assert problem_of(again)["detail"] == (
        "This request is no longer waiting for a decision."
    )
    assert Decision.objects.count() == 1


def test_a_delegate_decides_on_behalf_of_the_approver(chain, asked):
    rina, wawan = _person(chain.o.member), _person(chain.wawan)
    given = delegation.delegate(
        rina,
        actor=chain.o.admin,
        delegate=wawan,
        starts_at=NOW,
        ends_at=NOW + dt.timedelta(days=7),
    )

    response = api_of(chain.wawan).post(
        _url(asked, "decide"),
        {"outcome": "approve", "on_behalf_of": rina.pk, "version": 1},
    )

    assert response.status_code == 200, response.content
    [decision] = response.json()["stages"][0]["decisions"]
    assert (
        decision["slot_person_id"],
        decision["decided_by_person_id"],
        decision["on_behalf_of_id"],
        decision["delegation_id"],
        decision["decided_by_person_name"],
    ) == (rina.pk, wawan.pk, rina.pk, given.pk, "Wawan")


def test_without_a_delegation_nobody_decides_for_an_approver(chain, asked):
    response = api_of(chain.wawan).post(
        _url(asked, "decide"),
        {"outcome": "approve", "on_behalf_of": chain.o.rina.pk, "version": 1},
    )

    assert response.status_code == 403
    assert not Decision.objects.exists()


# --- the requester's moves ------------------------------------------------------------


def test_return_to_the_requester_resubmit_and_withdraw(chain, asked, audit_trail):
    rina, dina = api_of(chain.o.member), api_of(chain.dina)
    trail = audit_trail(chain.o.organisation)

    returned = rina.post(
        _url(asked, "decide"),
        {
            "outcome": "return",
            "comment": "Attach the tariff",
            "return_to_stage": 0,
            "version": 1,
        },
    )
    not_hers = rina.post(_url(asked, "resubmit"), {"version": 2})
    resubmitted = dina.post(_url(asked, "resubmit"), {"version": 2})
    refused = rina.post(_url(asked, "withdraw"), headers={"If-Match": '"3"'})
    withdrawn = dina.post(_url(asked, "withdraw"), headers={"If-Match": '"3"'})

    assert (returned.status_code, returned.json()["status"]) == (200, "returned")
    assert returned.json()["current_stage"] is None
    assert not_hers.status_code == 403
    assert problem_of(not_hers)["detail"] == (
        "Only the requester can resubmit the request."
    )
    assert (resubmitted.status_code, resubmitted.json()["status"]) == (200, "open")
    [stage] = resubmitted.json()["stages"]
    assert (stage["status"], stage["round"]) == ("open", 2)
    assert [d["is_current"] for d in stage["decisions"]] == [False]
    assert refused.status_code == 403
    assert (withdrawn.status_code, withdrawn.json()["status"]) == (200, "withdrawn")
    assert withdrawn["ETag"] == '"4"'
    assert [e.verb for e in trail.new_events()].count("withdrawn") == 1


def test_a_stale_withdrawal_is_409(chain, asked):
    response = api_of(chain.dina).post(_url(asked, "withdraw"), {"version": 5})

    assert response.status_code == 409
    asked.refresh_from_db()
    assert asked.status == RequestStatus.OPEN


def test_ask_again_for_a_withdrawn_deviation(chain, asked):
    dina = api_of(chain.dina)
    dina.post(_url(asked, "withdraw"), {"version": 1})
    deviation = deviation_of(asked)
    url = f"{BASE}/deviations/{deviation.pk}/request-approval"

    by_other = api_of(chain.wawan).post(url)
    again = dina.post(url, headers=KEY)
    twice = dina.post(url)

    assert by_other.status_code == 403
    assert again.status_code == 201, again.content
    new = ApprovalRequest.objects.get(status=RequestStatus.OPEN)
    assert again["Location"] == f"/api/v1/orgs/acme/approvals/requests/{new.pk}"
    assert again["ETag"] == '"1"'
    assert (again.json()["id"], again.json()["subject_id"]) == (new.pk, deviation.pk)
    assert twice.status_code == 422
    assert problem_of(twice)["code"] == "pending_approval"


def test_ask_approval_from_a_position_one_does_not_name_correctly(chain, asked):
    dina = api_of(chain.dina)
    dina.post(_url(asked, "withdraw"), {"version": 1})

    response = dina.post(
        f"{BASE}/deviations/{asked.subject_id}/request-approval",
        {"requester_position_id": 999999},
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "requester_position_id": ["There is no such record here."]
    }


# --- nudging ----------------------------------------------------------------------


def test_nudge_the_approvers_at_most_once_an_hour(chain, asked, clock):
    dina = api_of(chain.dina)

    nudged = dina.post(_url(asked, "nudge"))
    too_soon = dina.post(_url(asked, "nudge"))
    clock.advance(hours=1)
    later = dina.post(_url(asked, "nudge"))

    assert nudged.status_code == 200, nudged.content
    assert {k: nudged.json()[k] for k in ("request_id", "by_id", "at")} == {
        "request_id": asked.pk,
        "by_id": chain.dina.pk,
        "at": "2026-03-03T01:00:00Z",
    }
    assert too_soon.status_code == 422
    assert problem_of(too_soon)["code"] == "rate_limited"
    assert later.status_code == 200
    assert Nudge.objects.count() == 2
    assert (
        Notification.objects.filter(
            recipient=chain.o.member, event_type="approval.nudged"
        ).count()
        == 2
    )
    asked.refresh_from_db()
    assert asked.version == 1  # a nudge does not make a decider's page stale


# --- due-date changes -------------------------------------------------------------


def test_a_due_date_change_a_route_applies_to_is_asked_for(chain, run, clock):
    publish_route(
        chain.o,
        SubjectKind.DUE_DATE_CHANGE,
        code="DUE",
        stages=[{"rule": "position", "position": chain.warehouse_head}],
    )
    rina = api_of(chain.o.member)
    body = {"due_date": "2026-03-27", "reason": "Customer agreed", "version": 1}

    asked = rina.post(f"{BASE}/runs/{run.pk}/move-due-date", body, headers=KEY)
    replayed = rina.post(f"{BASE}/runs/{run.pk}/move-due-date", body, headers=KEY)
    again = rina.post(f"{BASE}/runs/{run.pk}/move-due-date", body)

    assert asked.status_code == 202, asked.content
    request = ApprovalRequest.objects.get(subject_kind=SubjectKind.DUE_DATE_CHANGE)
    assert asked["Location"] == f"/api/v1/orgs/acme/approvals/requests/{request.pk}"
    assert asked["ETag"] == '"1"'
    answer = asked.json()
    assert (answer["id"], answer["subject_id"], answer["run_id"]) == (
        request.pk,
        run.pk,
        run.pk,
    )
    assert answer["payload"]["due_at"] == "2026-03-27T09:00:00+00:00"
    assert answer["payload"]["reason"] == "Customer agreed"
    assert (replayed.status_code, replayed.content) == (202, asked.content)
    assert again.status_code == 422
    assert problem_of(again)["code"] == "pending_approval"
    run.refresh_from_db()
    assert (run.version, run.due_at) == (1, dt.datetime(2026, 3, 16, 1, tzinfo=dt.UTC))

    approved = api_of(chain.wawan).post(
        f"{BASE}/approvals/requests/{request.pk}/decide",
        {"outcome": "approve", "version": 1},
    )

    assert (approved.status_code, approved.json()["status"]) == (200, "approved")
    run.refresh_from_db()
    assert run.due_at == dt.datetime(2026, 3, 27, 9, tzinfo=dt.UTC)


# --- query counts -----------------------------------------------------------------


def test_approval_reads_run_a_fixed_number_of_queries(chain, ship, run, clock):
    apis = {
        name: api_of(user)
        for name, user in (
            ("rina", chain.o.member),
            ("dina", chain.dina),
            ("auditor", chain.o.auditor),
        )
    }
    for api in apis.values():
        api.get("/me")  # a token's first use records its last-used time
    first = ask_to_skip(run, chain.dina)
    paths = [
        ("rina", f"{BASE}/approvals/pending", {}),
        ("auditor", f"{BASE}/approvals/requests", {}),
        ("dina", f"{BASE}/approvals/requests", {"mine": "true", "stuck": "true"}),
        ("auditor", _url(first), {}),
    ]

    def counts():
        result = {}
        for who, path, params in paths:
            with CaptureQueriesContext(connection) as captured:
                response = apis[who].get(path, limit=100, **params)
            assert response.status_code == 200, response.content
            result[(who, path, tuple(params))] = len(captured)
        return result

    def grow(n):
        for _ in range(n):
            other = start_shipment(ship, chain.o.member)
            ask_to_skip(other, chain.dina)

    small = counts()
    grow(4)
    api_of(chain.o.member).post(
        _url(first, "decide"),
        {"outcome": "return", "comment": "Again", "return_to_stage": 0, "version": 1},
    )
    api_of(chain.dina).post(_url(first, "resubmit"), {"version": 2})
    large = counts()

    assert large == small
    # pending: token, membership, person, delegations, stages (+ approvers,
    # decisions); a request: token, membership, request, stages, approvers,
    # decisions, resolutions
    assert list(small.values()) == [7, 4, 4, 7], small
