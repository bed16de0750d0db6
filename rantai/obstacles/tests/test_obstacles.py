"""Obstacles move the schedule the moment they are raised, are closed only with a
resolution backed by evidence, and tell the accountable and the affected parties
(docs/design-obstacles.md, "Services").

The world (factories.py): pack (export clerk, accountable Head of export, Mon),
ship (the forwarder, accountable Head of export, Tue–Wed), store (Head of
warehouse, Thu). The run starts Monday 08:00 and is due the next Tuesday 08:00:
two working days of slack.
"""

from __future__ import annotations

import datetime as dt
import threading
from typing import Any

import pytest
from django.conf import settings
from django.db import connection
from django.db.models import Model

from rantai.accounts.access import access_for
from rantai.accounts.models import Membership
from rantai.approvals.models import TimeoutAction, Timer, TimerKind, TimerStatus
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.audit.services import target_type_of
from rantai.chains import services as chains
from rantai.chains.models import Run, ScheduleStatus, Task
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.evidence import records
from rantai.evidence.models import Citation, CitingKind
from rantai.notifications import events, webhooks
from rantai.notifications.models import Notification, WebhookDelivery
from rantai.obstacles import obstacles, queries
from rantai.obstacles.models import (
    Mitigation,
    MitigationStatus,
    Obstacle,
    ObstacleStatus,
    Review,
    ReviewTrigger,
)
from rantai.obstacles.tests import factories as f
from rantai.org import membership
from rantai.roles.tests import factories as rf
from rantai.testing import Pause, blocked_or_done, in_thread, joined, make_user

T0 = f.T0
UTC = dt.UTC


def utc(day: int, hour: int) -> dt.datetime:
    """A moment of March 2026 in UTC (Jakarta is seven hours ahead)."""
    return dt.datetime(2026, 3, day, hour, 0, tzinfo=UTC)


# Tuesday 16:00 in Jakarta: 16 working hours after Monday 08:00.
RESPOND_BY = utc(3, 9)


@pytest.fixture
def w(db) -> f.World:
    return f.world()


def _schedule(w: f.World) -> tuple[dt.datetime | None, str, int, dict[str, int]]:
    run = w.refresh()
    delays = dict(Task.objects.filter(run=run).values_list("key", "delay_minutes"))
    return run.projected_finish_at, run.schedule_status, run.hold_minutes, delays


def _told(event_type: str) -> list[str]:
    return sorted(
        Notification.objects.filter(event_type=event_type).values_list(
            "recipient__username", flat=True
        )
    )


def _timers(obstacle: Obstacle) -> list[tuple[dt.datetime, str, str]]:
    return list(
        Timer.objects.filter(kind=TimerKind.OBSTACLE, subject_id=obstacle.pk)
        .order_by("deadline")
        .values_list("deadline", "action", "status")
    )


def _events(verb: str, target: Model) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(
            verb=verb, target_type=target_type_of(target), target_id=str(target.pk)
        ).order_by("sequence")
    )


# --- the schedule moves at once -----------------------------------------------------


def test_raising_stores_the_impact_and_turns_the_target_at_risk_at_once(w):
    assert _schedule(w) == (
        f.FINISH,
        ScheduleStatus.ON_TRACK,
        0,
        {"pack": 0, "ship": 0, "store": 0},
    )

    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)

    # ship ends Friday 10:00 instead of Wednesday 16:00, store Monday 10:00: six
    # working hours before the due date, less than a day's slack
    assert _schedule(w) == (
        utc(9, 3),
        ScheduleStatus.AT_RISK,
        0,
        {"pack": 0, "ship": 600, "store": 0},
    )
    stored = Obstacle.objects.get(pk=obstacle.pk)
    assert (stored.status, stored.expected_delay_minutes, stored.raised_by) == (
        ObstacleStatus.OPEN,
        600,
        w.o.member,
    )
    assert stored.impact["status_before"] == "on_track"
    assert stored.impact["status_after"] == "at_risk"
    assert stored.impact["puts_target_at_risk"] is True
    assert stored.impact["finish_before"] == f.FINISH.isoformat()
    assert stored.impact["finish_after"] == utc(9, 3).isoformat()
    assert [
        (moved["key"], moved["shift_minutes"], moved["finish_after"])
        for moved in stored.impact["moved"]
    ] == [
        ("ship", 600, utc(6, 3).isoformat()),
        ("store", 600, utc(9, 3).isoformat()),
    ]
    assert stored.respond_by == RESPOND_BY
    assert _timers(obstacle) == [
        (RESPOND_BY, TimeoutAction.NOTIFY_OWNER, TimerStatus.PENDING)
    ]
    [raised] = _events(AuditVerb.RAISED, obstacle)
    assert raised.actor_id == w.o.member.pk
    assert raised.changes == {
        "run": w.run.pk,
        "task": w.task("ship").pk,
        "severity": "medium",
        "cause": "transport",
        "expected_delay_minutes": 600,
        "respond_by": RESPOND_BY.isoformat(),
        "records": [],
        "finish_before": f.FINISH.isoformat(),
        "finish_after": utc(9, 3).isoformat(),
        "status_before": "on_track",
        "status_after": "at_risk",
    }
    # the title and the description are free text (they may describe a person):
    # in the redactable half only
    assert raised.personal.changes == {
        "title": "The truck is delayed",
        "description": "The forwarder's truck broke down on the toll road.",
    }


def test_a_run_level_obstacle_holds_every_task_and_can_make_the_run_late(w):
    f.make_obstacle(w, delay=1200, title="Port strike")

    # Thursday 16:00 + 20 working hours: Tuesday 12:00, after the due date
    assert _schedule(w) == (
        utc(10, 5),
        ScheduleStatus.LATE,
        1200,
        {"pack": 0, "ship": 0, "store": 0},
    )
    # the engine announces the run turning late to its owner
    assert "member" in _told(events.RUN_LATE)


def test_the_delays_are_the_sums_of_the_open_obstacles(w):
    ship = w.task("ship")
    first = f.make_obstacle(w, task=ship, delay=100)
    f.make_obstacle(w, task=ship, delay=200)
    f.make_obstacle(w, task=w.task("store"), delay=30)
    f.make_obstacle(w, delay=50)
    hold = f.make_obstacle(w, delay=70)

    assert _schedule(w)[2:] == (120, {"pack": 0, "ship": 300, "store": 30})

    obstacles.withdraw(
        first, actor=w.o.member, expected_version=first.version, reason="Double"
    )
    obstacles.withdraw(
        hold, actor=w.o.member, expected_version=hold.version, reason="Double"
    )

    assert _schedule(w)[2:] == (50, {"pack": 0, "ship": 200, "store": 30})


def test_resolving_restores_the_schedule_and_cancels_the_timer(w, audit_trail):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)
    notice = f.record(w)  # unverified, with a link
    trail = audit_trail(w.organisation)

    resolved = obstacles.resolve(
        obstacle,
        actor=w.o.member,
        expected_version=obstacle.version,
        resolution="A second truck took the load.",
        records=[notice],
        now=T0,
    )

    assert _schedule(w) == (
        f.FINISH,
        ScheduleStatus.ON_TRACK,
        0,
        {"pack": 0, "ship": 0, "store": 0},
    )
    stored = Obstacle.objects.get(pk=obstacle.pk)
    assert (stored.status, stored.closed_by, stored.closed_at) == (
        ObstacleStatus.RESOLVED,
        w.o.member,
        T0,
    )
    assert stored.resolution == "A second truck took the load."
    assert stored.version == resolved.version == obstacle.version + 1
    assert list(stored.resolution_records.all()) == [notice]
    assert _timers(obstacle) == [
        (RESPOND_BY, TimeoutAction.NOTIFY_OWNER, TimerStatus.CANCELLED)
    ]
    verbs = [(e.verb, e.target_type) for e in trail.new_events()]
    assert verbs == [
        (AuditVerb.RESOLVED, "obstacles.obstacle"),
        (AuditVerb.CITED, "evidence.informationrecord"),
    ]
    event = trail.new_events()[0]
    assert event.changes == {"records": [notice.pk], "unverified": 1}
    assert event.personal.changes == {"resolution": "A second truck took the load."}
    assert list(
        Citation.objects.filter(citing_id=obstacle.pk).values_list(
            "citing_kind", "record_id", "status_when_cited"
        )
    ) == [(CitingKind.OBSTACLE_RESOLUTION, notice.pk, "unverified")]


def test_changing_the_delay_moves_the_schedule_and_a_stale_version_conflicts(
    w, audit_trail
):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)

    changed = obstacles.update_obstacle(
        obstacle,
        actor=w.o.member,
        expected_version=obstacle.version,
        expected_delay_minutes=60,
        severity="high",
        title="Budi's truck has a flat tyre",
        description="Only a flat tyre.",
        now=T0,
    )

    assert _schedule(w) == (
        utc(6, 2),  # Thursday 16:00 + 1 working hour: Friday 09:00
        ScheduleStatus.ON_TRACK,
        0,
        {"pack": 0, "ship": 60, "store": 0},
    )
    assert changed.version == obstacle.version + 1
    [updated] = _events(AuditVerb.UPDATED, obstacle)
    assert updated.changes == {
        "expected_delay_minutes": [600, 60],
        "severity": ["medium", "high"],
    }
    assert updated.personal.changes == {
        "title": ["The truck is delayed", "Budi's truck has a flat tyre"],
        "description": [
            "The forwarder's truck broke down on the toll road.",
            "Only a flat tyre.",
        ],
    }
    # the impact stays as it was when raised
    assert Obstacle.objects.get(pk=obstacle.pk).impact["delay_minutes"] == 600

    trail = audit_trail(w.organisation)
    with pytest.raises(Conflict):
        obstacles.update_obstacle(
            obstacle,
            actor=w.o.member,
            expected_version=obstacle.version,  # the version before the change
            expected_delay_minutes=900,
        )
    with pytest.raises(Conflict):
        obstacles.resolve(
            obstacle,
            actor=w.o.member,
            expected_version=obstacle.version,
            resolution="Done",
            records=[f.record(w)],
        )
    trail_events = [e.verb for e in trail.new_events()]
    assert trail_events == [AuditVerb.RECORDED]  # only the record made above
    assert _schedule(w)[3] == {"pack": 0, "ship": 60, "store": 0}
    stored = Obstacle.objects.get(pk=obstacle.pk)
    assert (stored.status, stored.version) == (ObstacleStatus.OPEN, changed.version)


@pytest.mark.parametrize(
    ("changes", "field"),
    [
        ({"expected_delay_minutes": -1}, "expected_delay_minutes"),
        ({"expected_delay_minutes": "ten"}, "expected_delay_minutes"),
        ({"title": "  "}, "title"),
        ({"severity": "apocalyptic"}, "severity"),
        ({"raised_by": 3}, "raised_by"),
    ],
)
def test_invalid_changes_are_refused_per_field(w, audit_trail, changes, field):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)
    trail = audit_trail(w.organisation)

    with pytest.raises(ValidationFailed) as refused:
        obstacles.update_obstacle(
            obstacle, actor=w.o.member, expected_version=obstacle.version, **changes
        )

    assert list(refused.value.errors) == [field]
    trail.assert_nothing_new()
    assert Obstacle.objects.get(pk=obstacle.pk).version == obstacle.version


# --- resolving needs evidence ---------------------------------------------------------


def test_a_resolution_without_evidence_is_refused_with_reasons_and_writes_nothing(
    w, audit_trail
):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)
    hearsay = f.record(w, evidence=False, title="The driver says it is fixed")
    other_run = rf.start_run(w.run.procedure_version, actor=w.admin, title="Kota B")
    elsewhere = f.record(w, run=other_run, title="Kota B's notice")
    before = _schedule(w)
    trail = audit_trail(w.organisation)

    with pytest.raises(ValidationFailed) as nothing:
        obstacles.resolve(
            obstacle,
            actor=w.o.member,
            expected_version=obstacle.version,
            resolution="  ",
            records=[],
        )
    assert nothing.value.errors == {
        "resolution": ["Say how the obstacle was resolved."],
        "records": [
            "Attach at least one information record with evidence of the resolution."
        ],
    }

    with pytest.raises(ValidationFailed) as unsupported:
        obstacles.resolve(
            obstacle,
            actor=w.o.member,
            expected_version=obstacle.version,
            resolution="Fixed.",
            records=[hearsay, elsewhere],
        )
    assert unsupported.value.errors == {
        "records": [
            "“The driver says it is fixed” has no evidence yet: add a file, link or "
            "value.",
            "“Kota B's notice” is not about this run.",
        ]
    }

    trail.assert_nothing_new()
    stored = Obstacle.objects.get(pk=obstacle.pk)
    assert (stored.status, stored.version, stored.resolution) == (
        ObstacleStatus.OPEN,
        obstacle.version,
        "",
    )
    assert not stored.resolution_records.exists()
    assert _schedule(w) == before
    assert [status for *_x, status in _timers(obstacle)] == [TimerStatus.PENDING]
    assert not Citation.objects.exists()


def test_a_record_about_the_organisation_may_back_a_resolution(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)
    general = f.record(w, run=None, title="The toll road is open again")

    obstacles.resolve(
        obstacle,
        actor=w.admin,
        expected_version=None,
        resolution="The road reopened.",
        records=[general],
    )

    assert Obstacle.objects.get(pk=obstacle.pk).status == ObstacleStatus.RESOLVED


def test_a_closed_obstacle_cannot_be_closed_or_changed_again(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)
    closed = obstacles.withdraw(
        obstacle, actor=w.o.member, expected_version=None, reason="Raised twice"
    )

    for attempt in (
        lambda: obstacles.resolve(
            closed,
            actor=w.o.member,
            expected_version=None,
            resolution="x",
            records=[f.record(w)],
        ),
        lambda: obstacles.withdraw(
            closed, actor=w.o.member, expected_version=None, reason="again"
        ),
        lambda: obstacles.update_obstacle(
            closed, actor=w.o.member, expected_version=None, title="New"
        ),
        lambda: f.make_mitigation(closed, w),
    ):
        with pytest.raises(ValidationFailed) as refused:
            attempt()
        assert refused.value.code == "not_open"
    stored = Obstacle.objects.get(pk=obstacle.pk)
    assert (stored.status, stored.resolution) == (
        ObstacleStatus.WITHDRAWN,
        "Raised twice",
    )
    [withdrawn] = _events(AuditVerb.WITHDRAWN, obstacle)
    assert withdrawn.changes == {}
    assert withdrawn.personal.changes == {"reason": "Raised twice"}


def test_a_withdrawal_needs_a_reason(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)

    with pytest.raises(ValidationFailed) as refused:
        obstacles.withdraw(
            obstacle, actor=w.o.member, expected_version=None, reason=" "
        )

    assert refused.value.errors == {"reason": ["Say why the obstacle is withdrawn."]}
    assert Obstacle.objects.get(pk=obstacle.pk).status == ObstacleStatus.OPEN


# --- reviews --------------------------------------------------------------------------


def test_resolving_a_severe_obstacle_opens_a_review_exactly_once(w):
    severe = f.make_obstacle(w, task=w.task("ship"), delay=600, severity="high")
    mild = f.make_obstacle(w, task=w.task("pack"), delay=60, severity="medium")

    obstacles.resolve(
        severe,
        actor=w.o.member,
        expected_version=None,
        resolution="A second truck.",
        records=[f.record(w)],
    )
    with pytest.raises(ValidationFailed):
        obstacles.resolve(
            severe,
            actor=w.o.member,
            expected_version=None,
            resolution="Again.",
            records=[f.record(w)],
        )
    obstacles.resolve(
        mild,
        actor=w.o.member,
        expected_version=None,
        resolution="Packed faster.",
        records=[f.record(w)],
    )

    assert list(
        Review.objects.filter(run=w.run).values_list("trigger", "obstacle_id")
    ) == [(ReviewTrigger.SEVERE_OBSTACLE, severe.pk)]


def test_a_withdrawn_severe_obstacle_opens_no_review(w):
    severe = f.make_obstacle(w, task=w.task("ship"), delay=600, severity="critical")

    obstacles.withdraw(
        severe, actor=w.o.member, expected_version=None, reason="A false alarm"
    )

    assert not Review.objects.exists()


# --- who may do what ------------------------------------------------------------------


def test_auditors_strangers_and_partners_outside_the_run_raise_nothing(w):
    stranger = make_user("stranger")
    cases = [
        (w.o.auditor, None, PermissionDenied),
        (stranger, None, NotFound),
        (w.user(w.olga), None, NotFound),  # her party takes no part in the run
        (w.o.partner, w.task("pack"), PermissionDenied),  # not the forwarder's
    ]
    for actor, task, error in cases:
        with pytest.raises(error):
            f.make_obstacle(w, task=task, actor=actor)

    assert not Obstacle.objects.exists()
    assert _schedule(w)[2:] == (0, {"pack": 0, "ship": 0, "store": 0})
    assert not Timer.objects.filter(kind=TimerKind.OBSTACLE).exists()


def test_a_partner_raises_on_its_own_task_and_on_the_run(w):
    on_ship = f.make_obstacle(w, task=w.task("ship"), actor=w.o.partner, delay=60)
    on_run = f.make_obstacle(w, actor=w.o.partner, delay=30)

    assert (on_ship.raised_by, on_run.raised_by) == (w.o.partner, w.o.partner)
    assert _schedule(w)[2:] == (30, {"pack": 0, "ship": 60, "store": 0})
    # the partner who raised it manages it
    assert obstacles.may_manage(on_ship, w.o.partner)
    obstacles.update_obstacle(
        on_run, actor=w.o.partner, expected_version=None, expected_delay_minutes=10
    )
    assert _schedule(w)[2] == 10


def test_a_finished_task_or_run_takes_no_obstacle(w):
    pack = w.task("pack")
    chains.complete_task(pack, actor=w.user(w.ani), expected_version=None, now=T0)

    with pytest.raises(ValidationFailed) as finished:
        f.make_obstacle(w, task=pack)
    assert list(finished.value.errors) == ["task"]

    other = rf.start_run(w.run.procedure_version, actor=w.admin, title="Other")
    with pytest.raises(ValidationFailed) as foreign:
        f.make_obstacle(w, task=rf.task(other, "ship"))
    assert list(foreign.value.errors) == ["task"]

    chains.cancel_run(
        w.refresh(), actor=w.admin, expected_version=None, reason="Order withdrawn"
    )
    with pytest.raises(ValidationFailed) as cancelled:
        f.make_obstacle(w)
    assert cancelled.value.code == "run_final"


def _change(obstacle: Obstacle, actor) -> None:  # type: ignore[no-untyped-def]
    obstacles.update_obstacle(
        obstacle, actor=actor, expected_version=None, title=f"Changed by {actor}"
    )


def test_the_raiser_the_accountable_and_admins_manage_an_obstacle(w):
    ship = f.make_obstacle(w, task=w.task("ship"), actor=w.user(w.ani))
    allowed = [w.user(w.ani), w.o.member, w.admin]  # raiser, accountable, admin
    refused = [
        (w.user(w.wati), PermissionDenied),  # accountable for another step only
        (w.user(w.dedi), PermissionDenied),  # the superior, not the accountable
        (w.o.auditor, PermissionDenied),
        (w.o.partner, PermissionDenied),  # sees the forwarder's task, did not raise
        (w.user(w.olga), NotFound),
        (make_user("stranger"), NotFound),
    ]

    for actor in allowed:
        assert obstacles.may_manage(ship, actor)
        _change(ship, actor)
    for actor, error in refused:
        assert not obstacles.may_manage(ship, actor)
        with pytest.raises(error):
            _change(ship, actor)
        with pytest.raises(error):
            obstacles.withdraw(ship, actor=actor, expected_version=None, reason="x")
    assert Obstacle.objects.get(pk=ship.pk).status == ObstacleStatus.OPEN
    assert len(_events(AuditVerb.UPDATED, ship)) == 3


def test_the_accountable_of_a_run_level_obstacle_is_the_procedure_owner(w):
    on_run = f.make_obstacle(w, actor=w.o.partner)
    on_store = f.make_obstacle(w, task=w.task("store"), actor=w.admin)

    assert [obstacles.may_manage(on_run, u) for u in (w.o.member, w.user(w.wati))] == [
        True,
        False,
    ]
    assert [
        obstacles.may_manage(on_store, u) for u in (w.o.member, w.user(w.wati))
    ] == [False, True]


# --- mitigations ----------------------------------------------------------------------


def test_a_mitigation_has_an_owner_who_completes_it(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)
    mitigation = f.make_mitigation(obstacle, w, owner=w.ani)

    assert (mitigation.status, mitigation.owner, mitigation.created_by) == (
        MitigationStatus.OPEN,
        w.ani,
        w.o.member,
    )
    assert _told(events.MITIGATION_ASSIGNED) == ["ani"]
    [created] = _events(AuditVerb.CREATED, mitigation)
    assert created.changes == {
        "obstacle": obstacle.pk,
        "owner": w.ani.pk,
        "due_at": (T0 + dt.timedelta(days=1)).isoformat(),
    }
    assert created.personal.changes == {"description": "Book a second truck"}

    # neither someone else nor an auditor completes it
    for actor in (w.user(w.wati), w.o.auditor):
        with pytest.raises(PermissionDenied):
            obstacles.complete_mitigation(
                mitigation, actor=actor, expected_version=None, outcome="Done"
            )
    # the owner does not cancel it (only whoever manages the obstacle)
    with pytest.raises(PermissionDenied):
        obstacles.cancel_mitigation(
            mitigation, actor=w.user(w.ani), expected_version=None, reason="No"
        )
    # the obstacle resolved, the action stays open and its owner finishes it
    obstacles.resolve(
        obstacle,
        actor=w.o.member,
        expected_version=None,
        resolution="Second truck booked.",
        records=[f.record(w)],
    )
    assert queries.my_mitigations(access_for(w.user(w.ani), "acme")).get() == (
        mitigation
    )
    with pytest.raises(ValidationFailed) as blank:
        obstacles.complete_mitigation(
            mitigation, actor=w.user(w.ani), expected_version=None, outcome=""
        )
    assert list(blank.value.errors) == ["outcome"]

    done = obstacles.complete_mitigation(
        mitigation,
        actor=w.user(w.ani),
        expected_version=mitigation.version,
        outcome="Truck 2 left at noon.",
        now=T0 + dt.timedelta(hours=4),
    )

    assert (done.status, done.done_by, done.done_at) == (
        MitigationStatus.DONE,
        w.user(w.ani),
        T0 + dt.timedelta(hours=4),
    )
    assert done.outcome == "Truck 2 left at noon."
    [completed] = _events(AuditVerb.COMPLETED, mitigation)
    assert completed.changes == {"obstacle": obstacle.pk, "status": "done"}
    assert completed.personal.changes == {"outcome": "Truck 2 left at noon."}
    assert not queries.my_mitigations(access_for(w.user(w.ani), "acme")).exists()
    with pytest.raises(ValidationFailed):
        obstacles.complete_mitigation(
            mitigation, actor=w.user(w.ani), expected_version=None, outcome="Again"
        )


def test_whoever_manages_the_obstacle_cancels_a_mitigation(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)
    # Budi has no login: he is told nothing, and someone else settles it
    mitigation = f.make_mitigation(obstacle, w, owner=w.o.budi)
    assert _told(events.MITIGATION_ASSIGNED) == []

    with pytest.raises(Conflict):
        obstacles.cancel_mitigation(
            mitigation,
            actor=w.o.member,
            expected_version=mitigation.version + 1,
            reason="Not needed",
        )
    cancelled = obstacles.cancel_mitigation(
        mitigation,
        actor=w.o.member,
        expected_version=mitigation.version,
        reason="Not needed",
    )

    assert (cancelled.status, cancelled.outcome) == (
        MitigationStatus.CANCELLED,
        "Not needed",
    )
    [event] = _events(AuditVerb.CANCELLED, mitigation)
    assert event.changes == {"obstacle": obstacle.pk, "status": "cancelled"}


def test_a_mitigation_needs_a_description_an_owner_of_the_organisation_and_a_due_time(
    w, other_org
):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)

    with pytest.raises(ValidationFailed) as refused:
        obstacles.add_mitigation(
            obstacle,
            actor=w.o.member,
            description="Call the depot",
            owner=other_org.rina,
            due_at=dt.datetime(2026, 3, 3, 9, 0),  # naive
        )
    assert set(refused.value.errors) == {"owner", "due_at"}
    with pytest.raises(ValidationFailed) as blank:
        f.make_mitigation(obstacle, w, description=" ")
    assert list(blank.value.errors) == ["description"]
    with pytest.raises(PermissionDenied):
        f.make_mitigation(obstacle, w, actor=w.user(w.wati))
    assert not obstacle.mitigations.exists()


# --- who is told ----------------------------------------------------------------------


def test_the_accountable_and_the_affected_parties_are_told_urgently(w):
    webhooks.create_endpoint(
        w.organisation,
        actor=w.admin,
        name="ERP",
        url="https://erp.example.com/hooks/rantai",
        event_types=[events.OBSTACLE_RAISED, events.OBSTACLE_RESOLVED],
    )
    # Ani (export clerk) reports a problem with packing: pack, ship and store move
    obstacle = f.make_obstacle(w, task=w.task("pack"), delay=600, actor=w.user(w.ani))

    # Rina (accountable for pack); the forwarder's partner login (ship); Wati
    # (store); Ani raised it, Budi (her fellow clerk) has no login
    assert _told(events.OBSTACLE_RAISED) == ["member", "partner", "wati"]
    told = Notification.objects.filter(event_type=events.OBSTACLE_RAISED)
    inside = told.exclude(recipient=w.o.partner)
    assert {(n.urgent, n.url, n.key) for n in inside} == {
        (True, f"/o/acme/obstacles/{obstacle.pk}/", f"obstacle:{obstacle.pk}:raised")
    }
    assert inside.first().title == (  # type: ignore[union-attr]
        "Obstacle on Ship 500 units to Kota A: The truck is delayed"
    )
    # The forwarder may not read an obstacle on the export unit's task: it is
    # told that its own task moves, on that task's page.
    ship = w.task("ship")
    to_forwarder = told.get(recipient=w.o.partner)
    assert (to_forwarder.urgent, to_forwarder.url, to_forwarder.title) == (
        True,
        f"/o/acme/tasks/{ship.pk}/",
        "An obstacle elsewhere in the run moves your task “Ship” later "
        "(Ship 500 units to Kota A)",
    )
    assert "truck" not in to_forwarder.title + to_forwarder.body
    [delivery] = WebhookDelivery.objects.filter(event_type=events.OBSTACLE_RAISED)
    events.validate_payload(delivery.payload)
    data = delivery.payload["data"]
    assert data["obstacle"] == {
        "id": obstacle.pk,
        "title": "The truck is delayed",
        "severity": "medium",
        "status": "open",
        "url": settings.RANTAI_BASE_URL.rstrip("/")
        + f"/o/acme/obstacles/{obstacle.pk}/",
    }
    assert data["task"]["key"] == "pack"
    assert data["raised_by"] == {"id": w.ani.pk, "name": "Ani"}
    assert (
        data["expected_delay_minutes"],
        data["projected_finish_at"],
        data["due_at"],
        data["puts_target_at_risk"],
    ) == (600, utc(9, 3).isoformat(), f.DUE_AT.isoformat(), True)
    assert "description" not in str(delivery.payload)

    obstacles.resolve(
        obstacle,
        actor=w.o.member,
        expected_version=None,
        resolution="Packed by the night shift.",
        records=[f.record(w)],
    )

    # the same people, and the raiser; not Rina, who resolved it
    assert _told(events.OBSTACLE_RESOLVED) == ["ani", "partner", "wati"]
    closed_note = Notification.objects.get(
        event_type=events.OBSTACLE_RESOLVED, recipient=w.o.partner
    )
    assert not closed_note.urgent
    assert closed_note.url == f"/o/acme/tasks/{ship.pk}/"
    [closed] = WebhookDelivery.objects.filter(event_type=events.OBSTACLE_RESOLVED)
    events.validate_payload(closed.payload)
    assert (closed.payload["data"]["outcome"], closed.payload["data"]["closed_by"]) == (
        "resolved",
        {"id": w.rina.pk, "name": "Rina Kusuma"},
    )
    assert "night shift" not in str(closed.payload)


def test_a_run_level_obstacle_tells_the_owner_and_every_party_of_the_run(w):
    f.make_obstacle(w, delay=60, actor=w.admin)

    # every unfinished task moves: the clerk (Ani), the forwarder, the warehouse;
    # the procedure's owner (Rina)
    assert _told(events.OBSTACLE_RAISED) == ["ani", "member", "partner", "wati"]


# --- reads --------------------------------------------------------------------------


def test_partners_see_the_obstacles_of_their_runs_on_the_run_and_their_own_tasks(w):
    on_pack = f.make_obstacle(w, task=w.task("pack"), title="Pack")
    on_ship = f.make_obstacle(w, task=w.task("ship"), title="Ship")
    on_run = f.make_obstacle(w, title="Run")

    def titles(user, **filters) -> list[str]:  # type: ignore[no-untyped-def]
        access = access_for(user, "acme")
        return sorted(o.title for o in queries.obstacles(access, **filters))

    assert titles(w.o.auditor) == ["Pack", "Run", "Ship"]
    assert titles(w.o.partner) == ["Run", "Ship"]
    assert titles(w.user(w.olga)) == []
    assert titles(w.o.member, task=w.task("pack")) == ["Pack"]
    assert titles(w.o.member, run=w.run, status="open", severity="medium") == [
        "Pack",
        "Run",
        "Ship",
    ]
    assert titles(w.o.member, status="resolved") == []

    partner = access_for(w.o.partner, "acme")
    assert queries.obstacle(partner, on_ship.pk) == on_ship
    with pytest.raises(NotFound):
        queries.obstacle(partner, on_pack.pk)
    with pytest.raises(NotFound):
        queries.obstacle(access_for(w.user(w.olga), "acme"), on_run.pk)
    assert not queries.may_manage(partner, on_ship)
    assert queries.may_manage(access_for(w.o.member, "acme"), on_ship)


def test_one_obstacle_is_read_with_its_mitigations_and_records_in_four_queries(
    w, django_assert_num_queries
):
    support = f.record(w, title="Phone call")
    obstacle = f.make_obstacle(w, task=w.task("ship"), records=[support])
    f.make_mitigation(obstacle, w, owner=w.ani)
    f.make_mitigation(obstacle, w, owner=w.wati, description="Warn the warehouse")
    access = access_for(w.o.member, "acme")

    with django_assert_num_queries(4):
        found = queries.obstacle(access, obstacle.pk)
        owners = [m.owner.full_name for m in found.mitigations.all()]
        supporting = [r.title for r in found.records.all()]
        resolution = list(found.resolution_records.all())
        assert found.task is not None and found.run.procedure.code == "SHIP"

    assert (owners, supporting, resolution) == (["Ani", "Wati"], ["Phone call"], [])
    assert list(
        Citation.objects.filter(citing_id=obstacle.pk).values_list(
            "citing_kind", "record_id"
        )
    ) == [(CitingKind.OBSTACLE, support.pk)]


def test_supporting_records_must_be_about_the_run(w):
    other_run = rf.start_run(w.run.procedure_version, actor=w.admin, title="Kota B")
    elsewhere = f.record(w, run=other_run, title="Kota B's notice")

    with pytest.raises(ValidationFailed) as refused:
        f.make_obstacle(w, records=[elsewhere])

    assert refused.value.errors == {
        "records": ["“Kota B's notice” is not about this run."]
    }
    assert not Obstacle.objects.exists()
    assert Run.objects.get(pk=w.run.pk).hold_minutes == 0


def test_lists_read_in_one_query_whatever_their_length(w, django_assert_num_queries):
    for index in range(3):
        obstacle = f.make_obstacle(w, task=w.task("ship"), title=f"Obstacle {index}")
        f.make_mitigation(obstacle, w, owner=w.ani)
    f.make_obstacle(w, title="On the run")
    access = access_for(w.user(w.ani), "acme")

    with django_assert_num_queries(2):
        rows = [
            (o.title, o.run.procedure.code, o.task.key if o.task else None, o.raised_by)
            for o in queries.obstacles(access)
        ]
        mine = [
            (m.obstacle.title, m.obstacle.run.title, m.obstacle.task.key)
            for m in queries.my_mitigations(access)
            if m.obstacle.task is not None
        ]

    assert [row[:3] for row in rows] == [
        ("On the run", "SHIP", None),
        ("Obstacle 2", "SHIP", "ship"),
        ("Obstacle 1", "SHIP", "ship"),
        ("Obstacle 0", "SHIP", "ship"),
    ]
    assert [title for title, *_rest in mine] == [
        "Obstacle 0",
        "Obstacle 1",
        "Obstacle 2",
    ]


# --- what partners and strangers get to see and do ------------------------------------


def test_a_partner_reading_a_run_level_obstacle_sees_only_the_records_it_may_see(w):
    # Rina backs an obstacle on the whole run with three records: one about the
    # run, one about the internal "pack" task, one about the organisation.
    on_run = f.record(w, title="Port notice")
    on_pack = f.record(w, task=w.task("pack"), title="Packing list")
    general = f.record(w, run=None, title="Salary advance of Budi")
    obstacle = f.make_obstacle(
        w, title="Port closed", records=[on_run, on_pack, general]
    )
    obstacles.resolve(
        obstacle,
        actor=w.o.member,
        expected_version=obstacle.version,
        resolution="The port opened again.",
        records=[on_run, general],
        now=T0 + dt.timedelta(hours=1),
    )

    def seen(user) -> tuple[list[str], list[str]]:  # type: ignore[no-untyped-def]
        found = queries.obstacle(access_for(user, "acme"), obstacle.pk)
        return (
            [r.title for r in found.records.all()],
            [r.title for r in found.resolution_records.all()],
        )

    assert seen(w.o.member) == (
        ["Packing list", "Port notice", "Salary advance of Budi"],
        ["Port notice", "Salary advance of Budi"],
    )
    # The forwarder takes part in the run: the run's record only.
    assert seen(w.o.partner) == (["Port notice"], ["Port notice"])


def test_a_mitigation_owner_must_be_able_to_see_the_obstacle(w, audit_trail):
    on_pack = f.make_obstacle(w, task=w.task("pack"), title="Tape ran out")
    on_run = f.make_obstacle(w, title="Port closed")
    trail = audit_trail(w.organisation)
    refused_owner = [
        "This person's party takes no part in what the obstacle holds up, so they "
        "could not see it: choose someone who can."
    ]

    # Joko (the forwarder) cannot see an obstacle on the internal "pack" task;
    # Olga's party takes no part in the run at all.
    for obstacle, owner in ((on_pack, w.joko), (on_run, w.olga)):
        with pytest.raises(ValidationFailed) as refused:
            f.make_mitigation(obstacle, w, owner=owner)
        assert refused.value.errors == {"owner": refused_owner}
    trail.assert_nothing_new()
    assert not Notification.objects.filter(event_type=events.MITIGATION_ASSIGNED)

    # The forwarder sees the whole run's obstacle: Joko may own an action on it.
    mitigation = f.make_mitigation(on_run, w, owner=w.joko)
    assert mitigation.owner == w.joko


def test_a_mitigation_owner_is_read_again_not_taken_from_the_callers_copy(
    w, other_org, audit_trail
):
    obstacle = f.make_obstacle(w, task=w.task("ship"))
    # A person of another organisation, whose copy claims to be of this one.
    stranger = other_org.rina
    stranger.organisation_id = w.organisation.pk
    trail = audit_trail(w.organisation)

    with pytest.raises(ValidationFailed) as refused:
        f.make_mitigation(obstacle, w, owner=stranger)

    assert refused.value.errors == {
        "owner": ["Choose an active person of the organisation."]
    }
    assert not obstacle.mitigations.exists()
    trail.assert_nothing_new()


def test_records_of_another_organisation_back_nothing(w, other_org, audit_trail):
    foreign = records.record_information(
        other_org.organisation,
        actor=other_org.member,
        title="Globex's notice",
        statement="Something else entirely.",
        source_kind="document",
        source_detail="Their letter",
        items=[records.NewLink(url="https://globex.example.com/1")],
        now=T0,
    )
    obstacle = f.make_obstacle(w, task=w.task("ship"))
    trail = audit_trail(w.organisation)
    cannot = ["This information record cannot be used here."]

    with pytest.raises(ValidationFailed) as raised:
        f.make_obstacle(w, records=[foreign])
    with pytest.raises(ValidationFailed) as added:
        obstacles.add_records(obstacle, actor=w.o.member, records=[foreign])
    with pytest.raises(ValidationFailed) as resolved:
        obstacles.resolve(
            obstacle,
            actor=w.o.member,
            expected_version=obstacle.version,
            resolution="Solved elsewhere.",
            records=[foreign],
        )

    assert [e.value.errors for e in (raised, added, resolved)] == [
        {"records": cannot}
    ] * 3
    trail.assert_nothing_new()
    assert Obstacle.objects.get(pk=obstacle.pk).status == ObstacleStatus.OPEN
    assert not Citation.objects.exists()


def test_someone_whose_membership_ended_acts_on_no_obstacle(w, audit_trail):
    obstacle = f.make_obstacle(w, task=w.task("ship"))
    mitigation = f.make_mitigation(obstacle, w, owner=w.ani)
    ani = w.user(w.ani)
    membership.end_membership(
        Membership.objects.get(user=ani, is_active=True),
        actor=w.admin,
        expected_version=None,
    )
    trail = audit_trail(w.organisation)

    with pytest.raises(NotFound):
        f.make_obstacle(w, actor=ani)
    with pytest.raises(NotFound):
        obstacles.complete_mitigation(
            mitigation, actor=ani, expected_version=mitigation.version, outcome="Done"
        )
    assert not obstacles.may_manage(obstacle, ani)

    trail.assert_nothing_new()
    assert Obstacle.objects.count() == 1


def test_text_with_nul_characters_is_refused_per_field(w, audit_trail):
    # The API and the command line reach the services without a form;
    # PostgreSQL would fail on the NUL instead of saying what is wrong.
    obstacle = f.make_obstacle(w, task=w.task("ship"))
    mitigation = f.make_mitigation(obstacle, w)
    proof = f.record(w)
    trail = audit_trail(w.organisation)
    nul = ["Null characters are not allowed."]
    attempts = {
        "title": lambda: f.make_obstacle(w, title="Truck\x00 late"),
        "description": lambda: obstacles.update_obstacle(
            obstacle, actor=w.o.member, expected_version=None, description="a\x00b"
        ),
        "resolution": lambda: obstacles.resolve(
            obstacle,
            actor=w.o.member,
            expected_version=None,
            resolution="Solved\x00.",
            records=[proof],
        ),
        "reason": lambda: obstacles.withdraw(
            obstacle, actor=w.o.member, expected_version=None, reason="Twice\x00"
        ),
        "outcome": lambda: obstacles.complete_mitigation(
            mitigation, actor=w.user(w.ani), expected_version=None, outcome="Done\x00"
        ),
    }

    for field, attempt in attempts.items():
        with pytest.raises(ValidationFailed) as refused:
            attempt()
        assert refused.value.errors == {field: nul}

    trail.assert_nothing_new()
    stored = Obstacle.objects.get(pk=obstacle.pk)
    assert (stored.status, stored.version) == (ObstacleStatus.OPEN, obstacle.version)


def test_list_filters_from_a_hostile_address_find_nothing_instead_of_failing(w):
    # A crafted `?status=%00...`: PostgreSQL refuses NUL characters outright.
    f.make_obstacle(w, task=w.task("ship"))
    access = access_for(w.o.member, "acme")

    assert list(queries.obstacles(access, status="open\x00")) == []
    assert list(queries.obstacles(access, severity="medium\x00")) == []
    assert len(queries.obstacles(access, status="open", severity="medium")) == 1


# --- at the same moment (real threads and transactions, PostgreSQL) ----------------------

needs_postgres = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: real threads share the test database only there "
    "(the SQLite test database is in memory, one per connection)",
)


@pytest.mark.postgres_only
@needs_postgres
@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("adding", ["mitigation", "records"])
def test_what_is_added_while_the_obstacle_is_resolved_waits_and_is_refused(
    adding, monkeypatch
):
    w = f.world()
    obstacle = f.make_obstacle(w, task=w.task("ship"))
    proof = f.record(w, title="Second truck arrived")
    later = f.record(w, title="The driver's message")
    pause = Pause("resolver")
    monkeypatch.setattr(
        obstacles.timers, "cancel", pause.after(obstacles.timers.cancel)
    )

    resolver, resolved = in_thread(
        "resolver",
        lambda: obstacles.resolve(
            Obstacle.objects.get(pk=obstacle.pk),
            actor=w.o.member,
            expected_version=obstacle.version,
            resolution="A second truck took the load.",
            records=[proof],
            now=T0 + dt.timedelta(hours=3),
        ),
    )
    assert pause.reached.wait(timeout=60)

    def add() -> Any:
        current = Obstacle.objects.get(pk=obstacle.pk)
        if adding == "mitigation":
            return f.make_mitigation(current, w, actor=w.admin)
        return obstacles.add_records(current, actor=w.admin, records=[later])

    adder, added = in_thread("adder", add)
    # The addition waits for the obstacle's row while it is being resolved...
    try:
        assert blocked_or_done(adder) is True
    finally:
        pause.release.set()
    joined(resolver, adder)

    # ... and then finds it closed: nothing is added to a closed obstacle.
    assert "error" not in resolved, resolved
    error = added.get("error")
    assert isinstance(error, ValidationFailed) and error.code == "not_open", added
    stored = Obstacle.objects.get(pk=obstacle.pk)
    assert stored.status == ObstacleStatus.RESOLVED
    assert not stored.mitigations.exists()
    assert list(stored.records.all()) == []


@pytest.mark.postgres_only
@needs_postgres
@pytest.mark.django_db(transaction=True)
def test_completing_and_cancelling_a_mitigation_at_once_one_wins():
    w = f.world()
    obstacle = f.make_obstacle(w, task=w.task("ship"))
    mitigation = f.make_mitigation(obstacle, w, owner=w.ani)
    barrier = threading.Barrier(2)

    def complete() -> Any:
        barrier.wait(timeout=60)
        return obstacles.complete_mitigation(
            Mitigation.objects.get(pk=mitigation.pk),
            actor=w.user(w.ani),
            expected_version=mitigation.version,
            outcome="Truck 2 left at noon.",
        )

    def cancel() -> Any:
        barrier.wait(timeout=60)
        return obstacles.cancel_mitigation(
            Mitigation.objects.get(pk=mitigation.pk),
            actor=w.o.member,
            expected_version=mitigation.version,
            reason="Not needed any more.",
        )

    first, completed = in_thread("complete", complete)
    second, cancelled = in_thread("cancel", cancel)
    joined(first, second)

    outcomes = sorted(
        "won" if "result" in box else type(box["error"]).__name__
        for box in (completed, cancelled)
    )
    # The loser is refused either way: by the version (it read the mitigation
    # before the winner committed) or as no longer open (it read it after).
    assert outcomes in (["Conflict", "won"], ["ValidationFailed", "won"]), (
        completed,
        cancelled,
    )
    stored = Mitigation.objects.get(pk=mitigation.pk)
    winner = completed if "result" in completed else cancelled
    assert stored.status == winner["result"].status
    assert stored.version == mitigation.version + 1
    assert (
        AuditEvent.objects.filter(
            target_type=target_type_of(stored),
            target_id=str(stored.pk),
            verb__in=[AuditVerb.COMPLETED, AuditVerb.CANCELLED],
        ).count()
        == 1
    )
