"""An obstacle still open at its time limit goes to the accountable position's
holders and their stand-ins, one response period later to that position's
superior; a settled obstacle's timer fires with no effect
(docs/design-obstacles.md, "Escalation").

The response time is 16 working hours by default: an obstacle raised on Monday
08:00 in Jakarta escalates on Tuesday 16:00 (level 1), then on Thursday 16:00
(level 2).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator

import pytest

from rantai.approvals import delegation, timers
from rantai.approvals.models import TimeoutAction, Timer, TimerKind, TimerStatus
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.notifications import events, webhooks
from rantai.notifications.models import Notification, WebhookDelivery
from rantai.obstacles import obstacles, policy
from rantai.obstacles.models import Obstacle
from rantai.obstacles.tests import factories as f
from rantai.roles.tests import factories as rf

T0 = f.T0
LEVEL_1 = dt.datetime(2026, 3, 3, 9, 0, tzinfo=dt.UTC)  # Tuesday 16:00 in Jakarta
LEVEL_2 = dt.datetime(2026, 3, 5, 9, 0, tzinfo=dt.UTC)  # Thursday 16:00


@pytest.fixture
def w(db) -> Iterator[f.World]:
    """The world, with only the obstacle timer rule registered (the late-task
    timers of the run's tasks stay pending)."""
    with timers.isolated_rules({TimerKind.OBSTACLE: obstacles.obstacle_timer_rule}):
        yield f.world()


def _told(key_part: str = "") -> list[tuple[str, str]]:
    return sorted(
        Notification.objects.filter(
            event_type=events.OBSTACLE_ESCALATED, key__contains=key_part
        ).values_list("recipient__username", "key")
    )


def _timers(obstacle: Obstacle) -> list[tuple[dt.datetime, str, str]]:
    return list(
        Timer.objects.filter(kind=TimerKind.OBSTACLE, subject_id=obstacle.pk)
        .order_by("deadline")
        .values_list("deadline", "action", "status")
    )


def _escalations(obstacle: Obstacle) -> list[dict]:
    return list(
        AuditEvent.objects.filter(
            verb=AuditVerb.ESCALATED,
            target_type="obstacles.obstacle",
            target_id=str(obstacle.pk),
        )
        .order_by("sequence")
        .values_list("changes", flat=True)
    )


def _level(obstacle: Obstacle) -> int:
    return Obstacle.objects.get(pk=obstacle.pk).escalation_level


def test_an_open_obstacle_goes_to_the_accountable_then_to_its_superior(w):
    webhooks.create_endpoint(
        w.organisation,
        actor=w.admin,
        name="ERP",
        url="https://erp.example.com/hooks/rantai",
        event_types=[events.OBSTACLE_ESCALATED],
    )
    sari = rf.person(w.o, "sari")
    delegation.delegate(
        w.rina,
        actor=w.admin,
        delegate=sari,
        starts_at=T0 - dt.timedelta(days=1),
        ends_at=T0 + dt.timedelta(days=5),
        now=T0 - dt.timedelta(days=2),
    )
    obstacle = f.make_obstacle(w, task=w.task("ship"), actor=w.user(w.ani))
    one = f"obstacle:{obstacle.pk}:escalated:1:{LEVEL_1.isoformat()}"
    two = f"obstacle:{obstacle.pk}:escalated:2:{LEVEL_2.isoformat()}"

    assert timers.fire_due(owner="t", now=LEVEL_1 - dt.timedelta(minutes=1)) == 0
    assert timers.fire_due(owner="t", now=LEVEL_1) == 1

    # Rina holds the accountable position (Head of export), Sari stands in for her
    assert _told() == [("member", one), ("sari", one)]
    assert _level(obstacle) == 1
    assert _timers(obstacle) == [
        (LEVEL_1, TimeoutAction.NOTIFY_OWNER, TimerStatus.FIRED),
        (LEVEL_2, TimeoutAction.ESCALATE, TimerStatus.PENDING),
    ]
    assert Notification.objects.get(key=one, recipient=w.o.member).urgent

    assert timers.fire_due(owner="t", now=LEVEL_2) == 1

    # the director, superior of the Head of export
    assert _told(":2:") == [("dedi", two)]
    assert _level(obstacle) == 2
    assert [status for *_x, status in _timers(obstacle)] == [
        TimerStatus.FIRED,
        TimerStatus.FIRED,
    ]  # two levels at most
    assert _escalations(obstacle) == [
        {
            "level": 1,
            "position": w.o.export_head.pk,
            "notified": sorted([w.rina.pk, sari.pk]),
        },
        {"level": 2, "position": w.o.director.pk, "notified": [w.dedi.pk]},
    ]
    sent = WebhookDelivery.objects.order_by("id")
    for delivery in sent:
        events.validate_payload(delivery.payload)
    assert [
        (d.payload["data"]["level"], d.payload["data"]["position"]["code"])
        for d in sent
    ] == [(1, "EXP-HEAD"), (2, "DIR")]


def test_a_run_level_obstacle_goes_to_the_procedure_owner_then_its_superior(w):
    obstacle = f.make_obstacle(w, actor=w.o.partner)

    timers.fire_due(owner="t", now=LEVEL_1)
    timers.fire_due(owner="t", now=LEVEL_2)

    assert [username for username, _key in _told()] == ["dedi", "member"]
    assert [(e["level"], e["position"]) for e in _escalations(obstacle)] == [
        (1, w.o.export_head.pk),
        (2, w.o.director.pk),
    ]


def test_the_accountable_of_another_step_is_told_of_its_obstacles(w):
    obstacle = f.make_obstacle(w, task=w.task("store"))

    timers.fire_due(owner="t", now=LEVEL_1)
    timers.fire_due(owner="t", now=LEVEL_2)

    assert [(e["level"], e["notified"]) for e in _escalations(obstacle)] == [
        (1, [w.wati.pk]),
        (2, [w.dedi.pk]),
    ]


def test_a_settled_obstacles_timer_fires_with_no_effect(w):
    resolved = f.make_obstacle(w, task=w.task("ship"))
    withdrawn = f.make_obstacle(w, task=w.task("store"))
    obstacles.resolve(
        resolved,
        actor=w.o.member,
        expected_version=None,
        resolution="Fixed",
        records=[f.record(w)],
    )
    timers.fire_due(owner="t", now=LEVEL_1)
    # withdrawn between the two levels: its level-2 timer is cancelled
    obstacles.withdraw(
        withdrawn, actor=w.admin, expected_version=None, reason="Not an obstacle"
    )

    assert timers.fire_due(owner="t", now=LEVEL_2) == 0
    assert [status for *_x, status in _timers(resolved)] == [TimerStatus.CANCELLED]
    assert [status for *_x, status in _timers(withdrawn)] == [
        TimerStatus.FIRED,
        TimerStatus.CANCELLED,
    ]
    # even a timer that escaped cancelling does nothing for a settled obstacle
    for obstacle in (resolved, withdrawn):
        for timer in Timer.objects.filter(
            kind=TimerKind.OBSTACLE, subject_id=obstacle.pk
        ):
            assert obstacles.obstacle_timer_rule(timer, LEVEL_2) == ""
    assert _escalations(resolved) == []
    assert [e["level"] for e in _escalations(withdrawn)] == [1]
    assert [key for _user, key in _told()] == [
        f"obstacle:{withdrawn.pk}:escalated:1:{LEVEL_1.isoformat()}"
    ]


def test_the_response_time_is_the_organisations(w):
    settings = policy.settings_for(w.organisation)
    policy.update_settings(
        w.organisation,
        actor=w.admin,
        expected_version=settings.version,
        obstacle_response_hours=4,
    )

    obstacle = f.make_obstacle(w, task=w.task("ship"))

    assert obstacle.respond_by == T0 + dt.timedelta(hours=4)  # Monday 12:00
    timers.fire_due(owner="t", now=T0 + dt.timedelta(hours=4))
    # one more response period: Monday 16:00
    assert _timers(obstacle)[1] == (
        T0 + dt.timedelta(hours=8),
        TimeoutAction.ESCALATE,
        TimerStatus.PENDING,
    )


def test_no_superior_to_tell_is_recorded(w):
    version = rf.procedure(
        w.o,
        [rf.StepRow("decide", responsible=w.o.director, accountable=w.o.director)],
        code="BOARD",
        owner=w.o.director,
    )
    run = rf.start_run(version, actor=w.admin, title="Board decision")
    obstacle = obstacles.raise_obstacle(
        run,
        actor=w.admin,
        title="Quorum missing",
        description="Two members are abroad.",
        expected_delay_minutes=120,
        now=T0,
    )

    timers.fire_due(owner="t", now=LEVEL_1)
    timers.fire_due(owner="t", now=LEVEL_2)

    assert _escalations(obstacle) == [
        {"level": 1, "position": w.o.director.pk, "notified": [w.dedi.pk]},
        {"level": 2, "position": None, "notified": []},
    ]
    assert list(
        Timer.objects.filter(subject_id=obstacle.pk, kind=TimerKind.OBSTACLE)
        .order_by("deadline")
        .values_list("outcome", flat=True)
    ) == ["level 1: told 1 people, 1 notified", "level 2: no position to tell"]
