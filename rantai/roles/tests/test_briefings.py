"""Role briefings: issued when a version is published or someone starts holding a
position, in plain language, acknowledged by the person, reminded by the process
owner and by a timer, printable (docs/design-roles.md, "Briefings")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest
from django.utils import translation

from rantai.accounts.models import User
from rantai.approvals import timers
from rantai.approvals.models import TimeoutAction, Timer, TimerKind, TimerStatus
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.models import ProcedureVersion
from rantai.core.errors import Conflict, PermissionDenied, ValidationFailed
from rantai.notifications.models import Notification
from rantai.org import extensions as org_extensions
from rantai.org.models import Person, Position
from rantai.roles import briefings, policy
from rantai.roles.models import Briefing, BriefingReason
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg

T0 = f.T0
DAY = dt.timedelta(days=1)


@contextmanager
def quiet() -> Iterator[None]:
    """No extensions at all (building the test data issues nothing)."""
    with extensions.isolated_registry(), org_extensions.isolated_registry():
        yield


@contextmanager
def briefing_registry() -> Iterator[None]:
    """Only what this module registers: briefings on publish and on new
    holdings, and the reminder timer rule."""
    with (
        extensions.isolated_registry(),
        org_extensions.isolated_registry(),
        timers.isolated_rules({TimerKind.BRIEFING: briefings.briefing_timer_rule}),
    ):
        extensions.register_version_published_handler(briefings.on_version_published)
        org_extensions.register_holders_changed_handler(briefings.on_holders_changed)
        yield


@dataclass
class World:
    o: SmallOrg
    clerk: Position
    legal: Position
    audit: Position
    ani: Person  # clerk: responsible for "book"
    lia: Person  # legal officer: consulted
    ita: Person  # internal auditor: informed
    rina: Person  # Head of export: accountable, and the procedure's owner


@pytest.fixture
def world(db) -> World:
    with quiet():
        o = f.organisation()
        clerk = f.position(
            o,
            party=o.export,
            title="Clerk",
            code="CLK",
            superior=o.export_head,
            duties=["Book freight", "File shipping papers"],
        )
        legal = f.position(o, party=o.head_office, title="Legal officer", code="LEG")
        audit = f.position(o, party=o.head_office, title="Internal auditor", code="AUD")
        ani, lia, ita = (f.person(o, name) for name in ("ani", "lia", "ita"))
        f.hold(o, clerk, ani)
        f.hold(o, legal, lia)
        f.hold(o, audit, ita)
    return World(o, clerk, legal, audit, ani, lia, ita, o.rina)


def _steps(w: World) -> list[f.StepRow]:
    return [
        f.StepRow(
            "book",
            responsible=w.clerk,
            accountable=w.o.export_head,
            consulted=[w.legal],
            informed=[w.audit],
            requires_evidence=True,
            extra={
                "description": "Book the container with the forwarder.",
                "evidence_description": "the booking confirmation",
            },
        ),
        f.StepRow(
            "ship",
            responsible=w.o.forwarder,
            accountable=w.o.export_head,
            after=["book"],
            requires_approval=True,
        ),
    ]


def _publish(w: World) -> ProcedureVersion:
    with briefing_registry():
        return f.procedure(w.o, _steps(w))


def _briefing(person: Person, **filters) -> Briefing:
    return Briefing.objects.get(person=person, **filters)


def _notified(person: Person, event_type: str) -> list[str]:
    return list(
        Notification.objects.filter(
            recipient_id=person.user_id, event_type=event_type
        ).values_list("key", flat=True)
    )


BOOK_ROLE = {
    "procedure": "Procedure SHIP",
    "procedure_code": "SHIP",
    "version": 1,
    "step": "Book",
    "step_key": "book",
    "does": "Book the container with the forwarder.",
    "responsible": "Clerk",
    "hands_over_to": [{"step": "Ship", "responsible": "Fast Forwarding"}],
    "receives_from": [],
    "approved_by": "Head of export",
    "approval_route": False,
    "evidence": {"description": "the booking confirmation", "required": True},
    "consulted": ["Legal officer"],
    "informed": ["Internal auditor"],
}


# --- issuing -----------------------------------------------------------------------------


def test_publishing_briefs_everyone_holding_a_position_with_a_role(world):
    w = world
    version = _publish(w)

    issued = Briefing.objects.filter(procedure_version=version)
    assert sorted(issued.values_list("person__full_name", flat=True)) == [
        "Ani",
        "Ita",
        "Lia",
        "Rina Kusuma",
    ]
    assert {b.reason for b in issued} == {BriefingReason.VERSION_PUBLISHED}
    assert {b.issued_at for b in issued} == {T0}
    event = AuditEvent.objects.get(verb=AuditVerb.BRIEFED)
    assert event.target_type == "chains.procedureversion"
    assert event.target_id == str(version.pk)
    assert event.changes == {
        "reason": "version_published",
        "briefings": [b.pk for b in issued.order_by("person_id")],
        "people": sorted(issued.values_list("person_id", flat=True)),
    }
    ani = _briefing(w.ani)
    assert _notified(w.ani, "briefing.issued") == [f"briefing:{ani.pk}:issued"]
    assert Notification.objects.get(recipient_id=w.ani.user_id).title == (
        "Your roles in Procedure SHIP (version 1)"
    )


def test_the_content_is_the_persons_roles_as_frozen_plain_data(world):
    w = world
    version = _publish(w)

    assert _briefing(w.ani).content == {
        "positions": [
            {"id": w.clerk.pk, "code": "CLK", "title": "Clerk", "acting": False}
        ],
        "job_description": {str(w.clerk.pk): ["Book freight", "File shipping papers"]},
        "roles": [
            {
                **BOOK_ROLE,
                "version_id": version.pk,
                "role": "R",
                "position": "Clerk",
                "position_id": w.clerk.pk,
            }
        ],
    }
    rina = _briefing(w.rina).content
    assert rina["job_description"] == {str(w.o.export_head.pk): ["Price shipping"]}
    assert [(r["step_key"], r["role"]) for r in rina["roles"]] == [
        ("book", "A"),
        ("ship", "A"),
    ]
    ship = rina["roles"][1]
    assert ship["approval_route"] is True
    assert ship["receives_from"] == [{"step": "Book", "responsible": "Clerk"}]
    assert ship["hands_over_to"] == []
    assert [(r["step_key"], r["role"]) for r in _briefing(w.lia).content["roles"]] == [
        ("book", "C")
    ]

    # frozen: renaming the position later does not change what was issued
    with quiet():
        from rantai.org import services as org

        org.update_position(
            w.clerk, actor=w.o.admin, expected_version=None, title="Senior clerk"
        )
    assert _briefing(w.ani).content["positions"][0]["title"] == "Clerk"


def test_issuing_again_briefs_nobody_twice(world):
    w = world
    version = _publish(w)

    with briefing_registry():
        again = briefings.issue_for_version(version, now=T0 + DAY)

    assert again == []
    assert Briefing.objects.filter(procedure_version=version).count() == 4
    assert AuditEvent.objects.filter(verb=AuditVerb.BRIEFED).count() == 1


def test_someone_without_a_login_is_briefed_but_not_notified_or_reminded(world):
    w = world
    with quiet():
        f.hold(w.o, w.clerk, w.o.budi, start=f.START)
    version = _publish(w)

    budi = _briefing(w.o.budi, procedure_version=version)
    assert budi.content["positions"][0]["title"] == "Clerk"
    assert not Notification.objects.filter(key=f"briefing:{budi.pk}:issued").exists()
    assert not Timer.objects.filter(
        kind=TimerKind.BRIEFING, subject_id=budi.pk
    ).exists()
    assert Timer.objects.filter(
        kind=TimerKind.BRIEFING, subject_id=_briefing(w.ani).pk
    ).values_list("deadline", "action").get() == (T0 + 3 * DAY, TimeoutAction.REMIND)


def test_a_new_holder_is_briefed_once_about_the_position(world):
    w = world
    version = _publish(w)
    nia = f.person(w.o, "nia")

    with briefing_registry():
        holding = f.hold(w.o, w.clerk, nia, start=dt.date(2026, 4, 1))
        # another change of the position's holders briefs nobody again
        f.hold(w.o, w.legal, f.person(w.o, "lutfi"))
        assert briefings.issue_for_holding(holding) is None

    briefing = Briefing.objects.get(person=nia)
    assert briefing.reason == BriefingReason.STARTED_HOLDING
    assert briefing.holding_id == holding.pk
    assert briefing.procedure_version_id is None
    assert briefing.content == {
        "positions": [
            {"id": w.clerk.pk, "code": "CLK", "title": "Clerk", "acting": False}
        ],
        "job_description": {str(w.clerk.pk): ["Book freight", "File shipping papers"]},
        "roles": [
            {
                **BOOK_ROLE,
                "version_id": version.pk,
                "role": "R",
                "position": "Clerk",
                "position_id": w.clerk.pk,
            }
        ],
    }
    assert _notified(nia, "briefing.issued") == [f"briefing:{briefing.pk}:issued"]
    # the holders briefed at publication get nothing new
    assert Briefing.objects.filter(person=w.ani).count() == 1


def test_a_position_without_a_role_in_a_published_version_needs_no_briefing(world):
    w = world
    _publish(w)
    idle = f.position(
        w.o, party=w.o.head_office, title="Archivist", code="ARC", duties=["Archive"]
    )
    with briefing_registry():
        f.hold(w.o, idle, f.person(w.o, "ida"))

    assert not Briefing.objects.filter(holding__position=idle).exists()


# --- plain language -------------------------------------------------------------------


def test_render_says_what_the_person_does_in_plain_sentences(world):
    w = world
    _publish(w)

    with translation.override("en"):
        sections = briefings.render(_briefing(w.ani))

    assert [(s.title, list(s.sentences)) for s in sections] == [
        ("Your positions", ["You hold the position Clerk."]),
        (
            "Your job description",
            ["As Clerk: Book freight; File shipping papers."],
        ),
        (
            "Procedure SHIP (SHIP), version 1",
            [
                "You are responsible for “Book” (as Clerk).",
                "What you do: Book the container with the forwarder.",
                "You hand over to “Ship” (Fast Forwarding).",
                "Head of export approves.",
                "Evidence you owe: the booking confirmation.",
                "Ask Legal officer for their input before you complete it.",
                "Internal auditor will be told when it is done.",
            ],
        ),
    ]
    with translation.override("en"):
        rina = briefings.render(_briefing(w.rina))
    assert rina[2].sentences[0] == (
        "You are accountable for “Book” (as Head of export): Clerk does it; you "
        "approve it, receive its escalations when it is late and confirm its "
        "deviations."
    )
    with translation.override("en"):
        lia = briefings.render(_briefing(w.lia))
    assert lia[2].sentences == (
        "You are consulted on “Book” (as Legal officer): give your input when "
        "Clerk asks for it.",
    )


def test_the_printable_briefing_is_a_pdf(world):
    w = world
    _publish(w)

    document = briefings.pdf(_briefing(w.ani), language="en")

    assert document.startswith(b"%PDF")
    assert len(document) > 1000


# --- acknowledging -------------------------------------------------------------------------


def test_the_person_acknowledges_their_own_briefing(world):
    w = world
    _publish(w)
    briefing = _briefing(w.ani)

    acknowledged = briefings.acknowledge(
        briefing,
        actor=f.user_of(w.ani),
        expected_version=briefing.version,
        now=T0 + DAY,
    )

    assert acknowledged.acknowledged_at == T0 + DAY
    assert acknowledged.acknowledged_by_id == w.ani.user_id
    assert acknowledged.version == 2
    event = AuditEvent.objects.get(verb=AuditVerb.ACKNOWLEDGED)
    assert (event.target_type, event.target_id, event.actor_id) == (
        "roles.briefing",
        str(briefing.pk),
        w.ani.user_id,
    )
    assert list(
        Timer.objects.filter(
            kind=TimerKind.BRIEFING, subject_id=briefing.pk
        ).values_list("status", flat=True)
    ) == [TimerStatus.CANCELLED]
    with pytest.raises(ValidationFailed) as again:
        briefings.acknowledge(acknowledged, actor=f.user_of(w.ani), expected_version=2)
    assert again.value.code == "acknowledged"


@pytest.mark.parametrize("who", ["rina", "admin"])
def test_nobody_else_acknowledges_and_a_refusal_writes_nothing(world, who):
    w = world
    _publish(w)
    briefing = _briefing(w.ani)
    actor: User = f.user_of(w.rina) if who == "rina" else w.o.admin
    before = AuditEvent.objects.count()

    with pytest.raises(PermissionDenied):
        briefings.acknowledge(briefing, actor=actor, expected_version=1)

    briefing.refresh_from_db()
    assert (briefing.acknowledged_at, briefing.version) == (None, 1)
    assert AuditEvent.objects.count() == before


def test_a_stale_acknowledgement_is_a_conflict(world):
    w = world
    _publish(w)
    briefing = _briefing(w.ani)

    with pytest.raises(Conflict):
        briefings.acknowledge(briefing, actor=f.user_of(w.ani), expected_version=9)

    briefing.refresh_from_db()
    assert briefing.acknowledged_at is None


# --- reminders ------------------------------------------------------------------------------


def test_the_process_owner_and_administrators_remind(world):
    w = world
    _publish(w)
    briefing = _briefing(w.ani)

    briefings.remind(briefing, actor=f.user_of(w.rina), now=T0 + DAY)
    briefings.remind(briefing, actor=w.o.admin, now=T0 + 2 * DAY)

    briefing.refresh_from_db()
    assert (briefing.reminders_sent, briefing.last_reminded_at) == (2, T0 + 2 * DAY)
    assert sorted(_notified(w.ani, "briefing.reminder")) == [
        f"briefing:{briefing.pk}:reminder:1",
        f"briefing:{briefing.pk}:reminder:2",
    ]
    assert list(
        AuditEvent.objects.filter(verb=AuditVerb.REMINDED)
        .order_by("sequence")
        .values_list("changes", flat=True)
    ) == [{"reminder": 1, "automatic": False}, {"reminder": 2, "automatic": False}]


def test_others_do_not_remind_and_an_acknowledged_briefing_is_not_reminded(world):
    w = world
    _publish(w)
    briefing = _briefing(w.ani)

    with pytest.raises(PermissionDenied):
        briefings.remind(briefing, actor=f.user_of(w.lia))
    briefing.refresh_from_db()
    assert briefing.reminders_sent == 0

    briefings.acknowledge(briefing, actor=f.user_of(w.ani), expected_version=1)
    with pytest.raises(ValidationFailed):
        briefings.remind(briefing, actor=w.o.admin)
    assert _notified(w.ani, "briefing.reminder") == []


def test_the_timer_reminds_every_few_days_three_times_at_most(world):
    w = world
    settings = policy.settings_for(w.o.organisation)
    settings.briefing_reminder_days = 2
    settings.save(update_fields=["briefing_reminder_days"])
    _publish(w)
    briefing = _briefing(w.ani)

    with briefing_registry():
        fired = [
            timers.fire_due(owner="test", now=T0 + days * DAY)
            for days in (1, 2, 3, 4, 5, 6, 7, 8, 20)
        ]

    assert fired == [0, 4, 0, 4, 0, 4, 0, 0, 0]  # four people briefed
    briefing.refresh_from_db()
    assert briefing.reminders_sent == 3
    assert briefing.last_reminded_at == T0 + 6 * DAY
    assert len(_notified(w.ani, "briefing.reminder")) == 3
    assert not Timer.objects.filter(
        kind=TimerKind.BRIEFING, subject_id=briefing.pk, status=TimerStatus.PENDING
    ).exists()


def test_the_timer_is_silent_once_acknowledged(world):
    w = world
    _publish(w)
    briefing = _briefing(w.ani)
    timer = Timer.objects.get(kind=TimerKind.BRIEFING, subject_id=briefing.pk)
    briefings.acknowledge(briefing, actor=f.user_of(w.ani), expected_version=1)

    assert briefings.briefing_timer_rule(timer, T0 + 3 * DAY) == ""

    briefing.refresh_from_db()
    assert briefing.reminders_sent == 0


# --- status per version ----------------------------------------------------------------------


def test_the_status_of_a_version_lists_who_acknowledged(world):
    w = world
    version = _publish(w)
    briefings.acknowledge(
        _briefing(w.lia), actor=f.user_of(w.lia), expected_version=1, now=T0 + DAY
    )
    briefings.remind(_briefing(w.ani), actor=w.o.admin, now=T0 + DAY)

    rows = briefings.status_of_version(version)

    assert [(r.person_name, r.acknowledged_at, r.reminders) for r in rows] == [
        ("Ani", None, 1),
        ("Ita", None, 0),
        ("Lia", T0 + DAY, 0),
        ("Rina Kusuma", None, 0),
    ]


def test_the_real_wiring_registers_briefings():
    assert briefings.on_version_published in extensions.registry.version_published
    assert briefings.on_holders_changed in org_extensions.registry.holders_changed
    assert timers.registered()[TimerKind.BRIEFING] is briefings.briefing_timer_rule
    assert chains.publish  # the engine emits VersionPublished from publish
