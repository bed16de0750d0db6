"""Delegations and absences through the API: delegate your approval authority (or,
as an administrator, someone else's), see what you gave and received, revoke it;
record an absence with a stand-in and cancel it — with versions, idempotency,
field errors named after the request, and refusals that write nothing."""

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.tests.chains_data import api_of, chain_org
from rantai.api.tests.conftest import problem_of
from rantai.api.tests.coordination_data import NOW, Clock
from rantai.approvals import delegation, routes
from rantai.approvals.models import Delegation
from rantai.org.models import Absence, Person

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "e7b1d2c3-4a5f-4e6d-9c8b-1a2b3c4d5e6f"}
DAY = dt.timedelta(days=1)


def iso(moment):
    return moment.isoformat()


@pytest.fixture
def clock(monkeypatch):
    return Clock(monkeypatch, NOW)


@pytest.fixture
def chain(acme, clock):
    return chain_org(acme)


def _person(user):
    return Person.objects.get(user=user)


def _state():
    return [
        sorted(Delegation.objects.values_list("pk", "version", "revoked_at")),
        sorted(Absence.objects.values_list("pk", "version", "cancelled_at")),
    ]


def _delegate(chain, delegator_user, delegate_user, **kwargs):
    return delegation.delegate(
        _person(delegator_user),
        actor=delegator_user,
        delegate=_person(delegate_user),
        starts_at=kwargs.pop("starts_at", NOW),
        ends_at=kwargs.pop("ends_at", NOW + 7 * DAY),
        **kwargs,
    )


# --- delegations --------------------------------------------------------------------


def test_delegate_my_authority_and_see_it_from_both_sides(chain, audit_trail):
    rina, wawan = _person(chain.o.member), _person(chain.wawan)
    trail = audit_trail(chain.o.organisation)

    made = api_of(chain.o.member).post(
        f"{BASE}/delegations",
        {
            "delegate_id": wawan.pk,
            "starts_at": iso(NOW + DAY),
            "ends_at": "2026-03-11T17:00:00+07:00",
            "note": "Annual leave",
        },
        headers=KEY,
    )

    assert made.status_code == 201, made.content
    given = Delegation.objects.get()
    assert made["Location"] == f"/api/v1/orgs/acme/delegations/{given.pk}"
    assert made["ETag"] == '"1"'
    body = made.json()
    assert {
        k: body[k]
        for k in (
            "delegator_id",
            "delegator_name",
            "delegate_id",
            "delegate_name",
            "starts_at",
            "ends_at",
            "route_ids",
            "absence_id",
            "note",
            "status",
        )
    } == {
        "delegator_id": rina.pk,
        "delegator_name": "Rina Kusuma",
        "delegate_id": wawan.pk,
        "delegate_name": "Wawan",
        "starts_at": "2026-03-04T01:00:00Z",
        "ends_at": "2026-03-11T10:00:00Z",
        "route_ids": [],
        "absence_id": None,
        "note": "Annual leave",
        "status": "upcoming",
    }
    assert [e.verb for e in trail.new_events()] == ["delegated"]

    mine = api_of(chain.o.member).get(f"{BASE}/delegations/mine").json()
    theirs = api_of(chain.wawan).get(f"{BASE}/delegations/mine").json()
    nobody = api_of(chain.dewi).get(f"{BASE}/delegations/mine").json()
    assert ([d["id"] for d in mine["given"]], mine["received"]) == ([given.pk], [])
    assert (theirs["given"], [d["id"] for d in theirs["received"]]) == (
        [],
        [given.pk],
    )
    assert nobody == {"given": [], "received": []}


def test_a_retried_delegation_is_made_once(chain):
    body = {
        "delegate_id": _person(chain.wawan).pk,
        "starts_at": iso(NOW),
        "ends_at": iso(NOW + DAY),
    }
    api = api_of(chain.o.member)

    first = api.post(f"{BASE}/delegations", body, headers=KEY)
    second = api.post(f"{BASE}/delegations", body, headers=KEY)

    assert (first.status_code, second.status_code) == (201, 201)
    assert second.content == first.content
    assert Delegation.objects.count() == 1


def test_an_administrator_delegates_for_someone_for_some_routes(chain):
    route = routes.create_route(
        chain.o.organisation,
        actor=chain.o.admin,
        code="DEV",
        name="Deviations",
        subject_kind="deviation",
    )

    made = api_of(chain.o.admin).post(
        f"{BASE}/delegations",
        {
            "delegator_id": chain.o.rina.pk,
            "delegate_id": _person(chain.dina).pk,
            "starts_at": iso(NOW),
            "ends_at": iso(NOW + DAY),
            "route_ids": [route.pk],
        },
    )

    assert made.status_code == 201, made.content
    assert (made.json()["route_ids"], made.json()["status"]) == ([route.pk], "active")
    assert made.json()["created_by_id"] == chain.o.admin.pk


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"delegate_id": "rina"},
            {"delegate_id": ["A person cannot delegate to themselves."]},
        ),
        (
            {"delegate_id": "budi"},
            {
                "delegate_id": [
                    "Budi Santoso has no login with a member's rights in this "
                    "organisation, so they cannot decide."
                ]
            },
        ),
        (
            {"delegate_id": 999999},
            {"delegate_id": ["There is no such record here."]},
        ),
        (
            {"ends_at": iso(NOW - DAY)},
            {"ends_at": ["The end must be after the start."]},
        ),
        (
            {"starts_at": iso(NOW - 2 * DAY), "ends_at": iso(NOW - DAY)},
            {"ends_at": ["The end must be in the future."]},
        ),
        (
            {"starts_at": "2026-03-04T08:00:00"},
            {"starts_at": ["Enter a date and time with its time zone."]},
        ),
        ({"route_ids": [999999]}, {"route_ids": ["There is no such record here."]}),
    ],
)
def test_an_invalid_delegation_is_422_and_writes_nothing(
    chain, audit_trail, changes, errors
):
    people = {"rina": chain.o.rina.pk, "budi": chain.o.budi.pk}
    if changes.get("delegate_id") in people:
        changes = {**changes, "delegate_id": people[changes["delegate_id"]]}
    body = {
        "delegate_id": _person(chain.wawan).pk,
        "starts_at": iso(NOW),
        "ends_at": iso(NOW + DAY),
        **changes,
    }
    trail = audit_trail(chain.o.organisation)

    response = api_of(chain.o.member).post(f"{BASE}/delegations", body)

    assert response.status_code == 422
    assert problem_of(response)["errors"] == errors
    assert not Delegation.objects.exists()
    trail.assert_nothing_new()


def test_without_a_person_one_names_the_delegator(chain):
    response = api_of(chain.o.admin).post(
        f"{BASE}/delegations",
        {
            "delegate_id": _person(chain.wawan).pk,
            "starts_at": iso(NOW),
            "ends_at": iso(NOW + DAY),
        },
    )

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "delegator_id": ["Your login is not linked to a person of this organisation."]
    }


@pytest.mark.parametrize("who", ["dewi", "auditor", "partner"])
def test_only_the_delegator_or_an_administrator_delegates(chain, who, audit_trail):
    user = getattr(chain, who, None) or getattr(chain.o, who)
    trail = audit_trail(chain.o.organisation)

    response = api_of(user).post(
        f"{BASE}/delegations",
        {
            "delegator_id": chain.o.rina.pk,
            "delegate_id": _person(chain.wawan).pk,
            "starts_at": iso(NOW),
            "ends_at": iso(NOW + DAY),
        },
    )

    assert response.status_code == 403
    if who != "dewi":  # refused before anything is looked up
        assert problem_of(response)["detail"] == (
            "Only administrators and members delegate approval authority."
        )
    assert not Delegation.objects.exists()
    trail.assert_nothing_new()


def test_revoke_a_delegation(chain, audit_trail):
    given = _delegate(chain, chain.o.member, chain.wawan)
    url = f"{BASE}/delegations/{given.pk}"
    before = _state()
    trail = audit_trail(chain.o.organisation)

    by_delegate = api_of(chain.wawan).post(f"{url}/revoke", {"version": 1})
    stale = api_of(chain.o.member).post(f"{url}/revoke", {"version": 3})
    missing = api_of(chain.o.member).post(f"{url}/revoke")
    assert (by_delegate.status_code, stale.status_code, missing.status_code) == (
        403,
        409,
        428,
    )
    assert problem_of(by_delegate)["detail"] == (
        "Only the person who delegated or an administrator can revoke a delegation."
    )
    assert _state() == before
    trail.assert_nothing_new()

    revoked = api_of(chain.o.member).post(f"{url}/revoke", headers={"If-Match": '"1"'})
    again = api_of(chain.o.member).post(f"{url}/revoke", {"version": 2})

    assert revoked.status_code == 200, revoked.content
    assert (revoked.json()["status"], revoked.json()["revoked_at"]) == (
        "revoked",
        "2026-03-03T01:00:00Z",
    )
    assert revoked["ETag"] == '"2"'
    assert again.status_code == 422
    assert problem_of(again)["errors"] == {
        "__all__": ["The delegation is already revoked."]
    }
    assert [e.verb for e in trail.new_events()] == ["delegation_revoked"]
    assert api_of(chain.wawan).get(f"{BASE}/delegations/mine").json()["received"] == []


def test_who_sees_which_delegations(chain, clock):
    rina, dina, wawan = (
        _person(chain.o.member),
        _person(chain.dina),
        _person(chain.wawan),
    )
    to_wawan = _delegate(chain, chain.o.member, chain.wawan)
    to_rina = _delegate(chain, chain.dina, chain.o.member, starts_at=NOW + DAY)
    ended = _delegate(chain, chain.dina, chain.wawan, ends_at=NOW + DAY)
    clock.advance(days=2)

    def ids(user, **filters):
        response = api_of(user).get(f"{BASE}/delegations", **filters)
        assert response.status_code == 200, response.content
        return [d["id"] for d in response.json()["items"]]

    assert ids(chain.o.admin) == [to_rina.pk, ended.pk, to_wawan.pk]
    assert ids(chain.o.auditor, current="true") == [to_rina.pk, to_wawan.pk]
    assert ids(chain.o.auditor, current="false") == [ended.pk]
    assert ids(chain.o.admin, person_id=rina.pk) == [to_rina.pk, to_wawan.pk]
    assert ids(chain.o.admin, person_id=rina.pk, direction="given") == [to_wawan.pk]
    assert ids(chain.o.admin, person_id=dina.pk, direction="given") == [
        to_rina.pk,
        ended.pk,
    ]
    assert ids(chain.o.admin, person_id=wawan.pk, direction="received") == [
        ended.pk,
        to_wawan.pk,
    ]
    assert ids(chain.wawan) == [ended.pk, to_wawan.pk]
    assert ids(chain.dewi) == []
    assert ids(chain.dewi, person_id=rina.pk) == []
    assert ids(chain.o.partner) == []
    statuses = {
        d["id"]: d["status"]
        for d in api_of(chain.o.admin).get(f"{BASE}/delegations").json()["items"]
    }
    assert statuses == {
        to_rina.pk: "active",
        ended.pk: "ended",
        to_wawan.pk: "active",
    }
    assert api_of(chain.dewi).get(f"{BASE}/delegations/{to_wawan.pk}").status_code == (
        404
    )
    read = api_of(chain.o.auditor).get(f"{BASE}/delegations/{to_wawan.pk}")
    assert (read.status_code, read["ETag"]) == (200, '"1"')


# --- absences -----------------------------------------------------------------------


def test_record_an_absence_with_a_stand_in_and_cancel_it(chain, audit_trail, clock):
    rina, wawan = _person(chain.o.member), _person(chain.wawan)
    api = api_of(chain.o.member)
    trail = audit_trail(chain.o.organisation)

    recorded = api.post(
        f"{BASE}/absences",
        {
            "kind": "leave",
            "starts_at": iso(NOW + DAY),
            "ends_at": iso(NOW + 5 * DAY),
            "note": "Family visit",
            "delegate_id": wawan.pk,
        },
        headers=KEY,
    )

    assert recorded.status_code == 201, recorded.content
    absence = Absence.objects.get()
    given = Delegation.objects.get()
    assert recorded["Location"] == f"/api/v1/orgs/acme/absences/{absence.pk}"
    body = recorded.json()
    assert {
        k: body[k]
        for k in ("person_id", "kind", "status", "delegation_id", "delegate_id")
    } == {
        "person_id": rina.pk,
        "kind": "leave",
        "status": "upcoming",
        "delegation_id": given.pk,
        "delegate_id": wawan.pk,
    }
    assert (given.absence_id, given.starts_at, given.ends_at) == (
        absence.pk,
        absence.starts_at,
        absence.ends_at,
    )
    assert [e.verb for e in trail.new_events()] == ["absence_recorded", "delegated"]

    overlapping = api.post(
        f"{BASE}/absences",
        {
            "kind": "travel",
            "starts_at": iso(NOW + 2 * DAY),
            "ends_at": iso(NOW + 9 * DAY),
        },
    )
    assert overlapping.status_code == 422
    assert problem_of(overlapping)["errors"] == {
        "starts_at": [
            "This person is already recorded as away during part of that period."
        ]
    }

    clock.advance(days=2)
    stale = api.post(f"{BASE}/absences/{absence.pk}/cancel", {"version": 2})
    cancelled = api.post(f"{BASE}/absences/{absence.pk}/cancel", {"version": 1})

    assert stale.status_code == 409
    assert cancelled.status_code == 200, cancelled.content
    assert (cancelled.json()["status"], cancelled.json()["cancelled_at"]) == (
        "cancelled",
        "2026-03-05T01:00:00Z",
    )
    after = api.get(f"{BASE}/delegations/{given.pk}").json()
    assert after["status"] == "cancelled"
    assert api_of(chain.wawan).get(f"{BASE}/delegations/mine").json()["received"] == []


def test_a_partner_records_their_own_absence_without_a_stand_in(chain, audit_trail):
    api = api_of(chain.o.partner)
    trail = audit_trail(chain.o.organisation)
    period = {"starts_at": iso(NOW), "ends_at": iso(NOW + DAY)}

    # Partners take no part in approvals: they delegate nothing, and see no one
    # outside their party to name.
    delegates = api.post(
        f"{BASE}/absences", {**period, "delegate_id": _person(chain.dewi).pk}
    )
    assert delegates.status_code == 422
    assert problem_of(delegates)["errors"] == {
        "delegate_id": ["There is no such record here."]
    }
    trail.assert_nothing_new()
    assert not Absence.objects.exists()

    alone = api.post(f"{BASE}/absences", {**period, "kind": "sick"})

    assert alone.status_code == 201, alone.content
    assert (alone.json()["person_id"], alone.json()["delegation_id"]) == (
        chain.o.joko.pk,
        None,
    )


def test_a_refused_stand_in_records_no_absence_either(chain, audit_trail):
    trail = audit_trail(chain.o.organisation)

    response = api_of(chain.o.member).post(
        f"{BASE}/absences",
        {
            "starts_at": iso(NOW),
            "ends_at": iso(NOW + DAY),
            "delegate_id": chain.o.budi.pk,  # no login: cannot decide
        },
    )

    assert response.status_code == 422
    assert list(problem_of(response)["errors"]) == ["delegate_id"]
    assert not Absence.objects.exists()
    trail.assert_nothing_new()


@pytest.mark.parametrize(
    ("who", "person", "status"),
    [("dewi", "rina", 403), ("auditor", "rina", 403), ("admin", "budi", 201)],
)
def test_who_records_someone_elses_absence(chain, who, person, status):
    user = getattr(chain, who, None) or getattr(chain.o, who)

    response = api_of(user).post(
        f"{BASE}/absences",
        {
            "person_id": getattr(chain.o, person).pk,
            "starts_at": iso(NOW),
            "ends_at": iso(NOW + DAY),
        },
    )

    assert response.status_code == status
    assert Absence.objects.count() == (1 if status == 201 else 0)


def test_who_sees_which_absences(chain, clock):
    o = chain.o
    rinas = api_of(o.member).post(
        f"{BASE}/absences", {"starts_at": iso(NOW), "ends_at": iso(NOW + DAY)}
    )
    budis = api_of(o.admin).post(
        f"{BASE}/absences",
        {
            "person_id": o.budi.pk,
            "starts_at": iso(NOW + 3 * DAY),
            "ends_at": iso(NOW + 4 * DAY),
        },
    )
    gone = api_of(o.member).post(
        f"{BASE}/absences",
        {"starts_at": iso(NOW + 5 * DAY), "ends_at": iso(NOW + 6 * DAY)},
    )
    api_of(o.member).post(f"{BASE}/absences/{gone.json()['id']}/cancel", {"version": 1})
    clock.advance(days=2)

    def ids(user, **filters):
        response = api_of(user).get(f"{BASE}/absences", **filters)
        assert response.status_code == 200, response.content
        return [a["id"] for a in response.json()["items"]]

    rina_id, budi_id, gone_id = (r.json()["id"] for r in (rinas, budis, gone))
    assert ids(o.admin) == [budi_id, rina_id]
    assert ids(o.auditor, include_cancelled="true") == [gone_id, budi_id, rina_id]
    assert ids(o.admin, current="true") == [budi_id]
    assert ids(o.admin, current="false") == [rina_id]
    assert ids(o.admin, person_id=o.rina.pk) == [rina_id]
    assert ids(o.member) == [rina_id]
    assert ids(o.member, person_id=o.budi.pk) == []
    assert ids(chain.dewi) == []
    assert api_of(chain.dewi).get(f"{BASE}/absences/{rina_id}").status_code == 404
    assert api_of(o.member).get(f"{BASE}/absences/{rina_id}").json()["status"] == (
        "ended"
    )


def test_absences_of_another_organisation_are_404(chain, other_org):
    absence = api_of(chain.o.member).post(
        f"{BASE}/absences", {"starts_at": iso(NOW), "ends_at": iso(NOW + DAY)}
    )
    api = api_of(other_org.admin)

    assert api.get(f"/orgs/globex/absences/{absence.json()['id']}").status_code == 404
    assert (
        api.post(
            f"/orgs/globex/absences/{absence.json()['id']}/cancel", {"version": 1}
        ).status_code
        == 404
    )
    assert api.get(f"{BASE}/absences").status_code == 404


# --- query counts -----------------------------------------------------------------


def test_delegation_and_absence_reads_run_a_fixed_number_of_queries(chain, clock):
    api, mine = api_of(chain.o.admin), api_of(chain.o.member)
    route = routes.create_route(
        chain.o.organisation,
        actor=chain.o.admin,
        code="DEV",
        name="Deviations",
        subject_kind="deviation",
    )

    def grow():
        clock.advance(days=10)
        for user, to in ((chain.o.member, chain.wawan), (chain.dina, chain.o.member)):
            _delegate(
                chain,
                user,
                to,
                starts_at=clock.at,
                ends_at=clock.at + 7 * DAY,
                routes=[route],
            )
            delegation.record_absence(
                _person(user),
                actor=user,
                kind="leave",
                starts_at=clock.at + DAY,
                ends_at=clock.at + 2 * DAY,
                delegate=_person(chain.dewi),
            )

    def counts():
        for client in (api, mine):
            client.get("/me")  # the clock moved: tokens record their use again
        result = []
        for client, path in (
            (api, f"{BASE}/delegations"),
            (api, f"{BASE}/absences"),
            (mine, f"{BASE}/delegations/mine"),
        ):
            with CaptureQueriesContext(connection) as captured:
                response = client.get(path, limit=100)
            assert response.status_code == 200, response.content
            result.append(len(captured))
        return result

    grow()
    small = counts()
    grow()
    grow()
    large = counts()

    assert large == small
    # token, membership, count, page (+ the routes of the delegations); "mine":
    # token, membership, person, delegations, their routes
    assert small == [5, 4, 5], small
