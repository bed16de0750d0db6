"""Reads scoped by access: what waits for me (own slots and delegated ones, with
the time left), what I asked for (and what is stuck), one request's coordination
map, and the requests about a subject — each in a pinned number of queries."""

from __future__ import annotations

import datetime as dt

import pytest

from rantai.accounts.access import access_for
from rantai.approvals import delegation, queries, services
from rantai.approvals.models import RequestStatus, StageStatus
from rantai.approvals.resolution import VIA_VACANT
from rantai.approvals.tests.conftest import DECIDED, KIND, SUBMITTED, Kit
from rantai.core.errors import NotFound
from rantai.org import services as org
from rantai.org.models import Holding

LATER = DECIDED + dt.timedelta(hours=1)


def access(kit: Kit, user):  # type: ignore[no-untyped-def]
    return access_for(user, kit.o.organisation.slug)


def test_pending_lists_my_open_slots_with_the_time_left(kit, django_assert_num_queries):
    version = kit.route({"rule": "superior", "time_limit_hours": 4})
    first = kit.submit(version)
    second = kit.submit(version, now=SUBMITTED + dt.timedelta(hours=1))
    kit.decide(second, kit.team.rina)
    third = kit.submit(version)
    mine = access(kit, kit.team.rina)

    with django_assert_num_queries(5):
        pending = queries.pending_for(mine, now=LATER)

    assert [p.request.pk for p in pending] == [first.pk, third.pk]
    assert pending[0].time_left == dt.timedelta(hours=2)
    assert pending[0].on_behalf_of is None and pending[0].delegation is None
    assert not pending[0].is_overdue
    assert queries.pending_for(mine, now=SUBMITTED + dt.timedelta(hours=5))[
        0
    ].is_overdue


def test_pending_includes_the_slots_of_those_who_delegated_to_me(
    kit, django_assert_num_queries
):
    grant = delegation.delegate(
        kit.team.person("rina"),
        actor=kit.o.admin,
        delegate=kit.team.person("dewi"),
        starts_at=SUBMITTED - dt.timedelta(days=1),
        ends_at=SUBMITTED + dt.timedelta(days=5),
        now=SUBMITTED - dt.timedelta(days=1),
    )
    request = kit.submit(kit.route({"rule": "superior"}))
    dewi = access(kit, kit.team.dewi)

    with django_assert_num_queries(6):
        pending = queries.pending_for(dewi, now=LATER)

    assert [(p.request.pk, p.on_behalf_of, p.delegation) for p in pending] == [
        (request.pk, kit.team.person("rina"), grant)
    ]
    # outside the delegation's period nothing waits for Dewi
    assert queries.pending_for(dewi, now=SUBMITTED + dt.timedelta(days=6)) == []


def test_pending_is_empty_for_the_requester_partners_and_auditors(kit):
    kit.submit(kit.route({"rule": "position", "position": kit.o.export_staff}))

    for user in (kit.team.dina, kit.o.partner, kit.o.auditor):
        assert queries.pending_for(access(kit, user), now=LATER) == []
    assert len(queries.pending_for(access(kit, kit.team.rina), now=LATER)) == 1


def test_my_requests_and_the_stuck_ones(kit, django_assert_num_queries):
    version = kit.route({"rule": "superior", "time_limit_hours": 2})
    on_time = kit.submit(version, now=LATER)
    late = kit.submit(version)
    returned = kit.submit(version)
    kit.decide(returned, kit.team.rina, "return", return_to_stage=0)
    kit.submit(version, actor=kit.team.wawan)  # someone else's
    dina = access(kit, kit.team.dina)

    with django_assert_num_queries(1):
        mine = list(queries.requests_by(dina))
    with django_assert_num_queries(1):
        stuck = list(
            queries.requests_by(
                dina, stuck_only=True, now=LATER + dt.timedelta(minutes=30)
            )
        )

    assert {r.pk for r in mine} == {on_time.pk, late.pk, returned.pk}
    assert {r.pk for r in stuck} == {late.pk, returned.pk}


def test_the_coordination_map_of_one_request(kit, django_assert_num_queries):
    holding = Holding.objects.get(
        person=kit.team.person("rina"), position__code="EXP-HEAD"
    )
    org.end_holding(
        holding,
        actor=kit.o.admin,
        expected_version=holding.version,
        end_date=dt.date(2026, 2, 1),
    )
    version = kit.route(
        {"rule": "superior", "time_limit_hours": 8},
        {"rule": "position", "position": kit.team.qa, "mode": "quorum", "quorum": 2},
    )
    request = kit.submit(version)
    kit.decide(request, kit.team.sari, comment="Fine")
    kit.decide(request, kit.team.ayu, now=LATER)
    viewer = access(kit, kit.o.auditor)

    with django_assert_num_queries(6):
        detail = queries.request_detail(viewer, request.pk, now=LATER)

    assert detail.request.pk == request.pk
    first, second = detail.stages
    assert first.stage.status == StageStatus.APPROVED
    assert first.duration == dt.timedelta(hours=1)
    [sari] = first.approvers
    assert (sari.person.full_name, sari.via, sari.from_position) == (
        "Sari",
        VIA_VACANT,
        kit.o.export_head,
    )
    assert sari.via_text == "vacant: Head of export → holder of Director"
    assert sari.decision is not None and sari.decision.comment == "Fine"
    assert [r.cause for r in first.resolutions] == ["opened"]
    assert first.resolutions[0].approvers[0]["person_name"] == "Sari"
    assert second.stage.status == StageStatus.OPEN
    assert second.approvals == 1
    assert second.time_left is None
    assert {a.person.full_name for a in second.approvers} == {"Ayu", "Eko", "Fajar"}
    assert [d.decided_by_person.full_name for d in second.decisions] == ["Ayu"]
    assert detail.open_stage is second


def test_a_request_outside_the_callers_scope_is_not_found(kit):
    request = kit.submit(kit.route({"rule": "superior"}))

    with pytest.raises(NotFound):
        queries.request_detail(access(kit, kit.o.partner), request.pk)
    with pytest.raises(NotFound):
        queries.request(access(kit, kit.team.rina), "nonsense")
    assert queries.request(access(kit, kit.team.rina), request.pk).pk == request.pk


def test_the_requests_about_a_subject(kit, django_assert_num_queries):
    version = kit.route({"rule": "superior"})
    subject = kit.subject()
    old = kit.submit(version, subject=subject)
    old.refresh_from_db()
    services.withdraw(
        old, actor=kit.team.dina, expected_version=old.version, now=DECIDED
    )
    new = kit.submit(version, subject=subject, now=LATER)
    kit.submit(version)  # another subject

    wawan = access(kit, kit.team.wawan)

    with django_assert_num_queries(1):
        found = list(queries.requests_for_subject(wawan, KIND, subject.pk))

    assert [(r.pk, r.status) for r in found] == [
        (new.pk, RequestStatus.OPEN),
        (old.pk, RequestStatus.WITHDRAWN),
    ]
    assert (
        list(queries.requests_for_subject(access(kit, kit.o.partner), KIND, subject.pk))
        == []
    )
