"""Consultations hold a task until the consulted answered, the informed hear of its
completion, and a late task is escalated to its accountable, then higher
(docs/design-roles.md, "Consultations, informed, escalation")."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from rantai.accounts.models import User
from rantai.approvals import delegation, timers
from rantai.approvals.models import TimeoutAction, Timer, TimerKind, TimerStatus
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.models import Run, Task, TaskStatus
from rantai.core.errors import Conflict, PermissionDenied, ValidationFailed
from rantai.notifications.models import Notification
from rantai.org import extensions as org_extensions
from rantai.org.models import Person, Position
from rantai.roles import consulting, policy, wiring
from rantai.roles.models import Consultation, ConsultationStatus
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg

T0 = f.T0  # Monday 2 March 2026, 08:00 in Jakarta
END_OF_MONDAY = T0 + dt.timedelta(hours=8)  # one working day after T0
END_OF_TUESDAY = END_OF_MONDAY + dt.timedelta(days=1)


@contextmanager
def flow_registry() -> Iterator[None]:
    """Only what this module registers: the completion guard, its label, the
    ready / done / reopened handlers and the task timer rule."""
    with (
        extensions.isolated_registry(),
        org_extensions.isolated_registry(),
        timers.isolated_rules({TimerKind.TASK: consulting.task_timer_rule}),
    ):
        extensions.register_completion_guard(consulting.completion_guard)
        for code, label in consulting.REASON_LABELS.items():
            extensions.register_reason_label(code, label)
        extensions.register_task_ready_handler(consulting.on_task_ready)
        extensions.register_task_done_handler(consulting.on_task_done)
        extensions.register_task_reopened_handler(consulting.on_task_reopened)
        yield


@dataclass
class World:
    o: SmallOrg
    clerk: Position
    legal: Position
    audit: Position
    ani: Person  # the clerk, sole holder: assigned the tasks
    lia: Person  # legal officer, consulted
    ita: Person  # internal auditor, informed
    dedi: Person  # director, superior of the Head of export
    rina: Person  # Head of export (SmallOrg), accountable

    def user(self, person: Person) -> User:
        return f.user_of(person)


@pytest.fixture
def world(db) -> World:
    o = f.organisation()
    clerk = f.position(
        o, party=o.export, title="Clerk", code="CLK", superior=o.export_head
    )
    legal = f.position(o, party=o.head_office, title="Legal officer", code="LEG")
    audit = f.position(o, party=o.head_office, title="Internal auditor", code="AUD")
    ani, lia, ita, dedi = (f.person(o, name) for name in ("ani", "lia", "ita", "dedi"))
    f.hold(o, clerk, ani)
    f.hold(o, legal, lia)
    f.hold(o, audit, ita)
    f.hold(o, o.director, dedi)
    return World(o, clerk, legal, audit, ani, lia, ita, dedi, o.rina)


def _run(
    w: World, *, consulted: bool = True, requires: bool = True, days: str = "1"
) -> Run:
    version = f.procedure(
        w.o,
        [
            f.StepRow(
                "book",
                responsible=w.clerk,
                accountable=w.o.export_head,
                consulted=[w.legal] if consulted else [],
                informed=[w.audit],
                requires_consultation=requires,
                days=days,
            ),
            f.StepRow(
                "ship",
                responsible=w.clerk,
                accountable=w.o.export_head,
                after=["book"],
            ),
        ],
    )
    return f.start_run(version, actor=w.o.admin)


def _notified(person: Person, event_type: str) -> list[str]:
    return list(
        Notification.objects.filter(
            recipient_id=person.user_id, event_type=event_type
        ).values_list("key", flat=True)
    )


def _audit(verb: str, task: Task) -> list[dict]:
    return list(
        AuditEvent.objects.filter(
            verb=verb, target_type="chains.task", target_id=str(task.pk)
        )
        .order_by("sequence")
        .values_list("changes", flat=True)
    )


# --- consultations ----------------------------------------------------------------------


def test_a_ready_task_asks_each_consulted_position_and_notifies_its_holders(world):
    w = world
    with flow_registry():
        run = _run(w)

    book = f.task(run, "book")
    consultation = Consultation.objects.get(task=book)
    assert (consultation.position_id, consultation.round, consultation.status) == (
        w.legal.pk,
        0,
        ConsultationStatus.REQUESTED,
    )
    assert consultation.requested_at == T0
    assert _notified(w.lia, "consultation.requested") == [
        f"consultation:{consultation.pk}:requested"
    ]
    assert _notified(w.ani, "consultation.requested") == []
    assert _audit(AuditVerb.CONSULTATION_REQUESTED, book) == [
        {"round": 0, "consultations": [consultation.pk], "positions": [w.legal.pk]}
    ]
    # the next step does not require consultation: nobody is asked for it
    assert not Consultation.objects.filter(task=f.task(run, "ship")).exists()


def test_a_step_that_does_not_require_consultation_asks_nobody(world):
    with flow_registry():
        run = _run(world, requires=False)

    assert not Consultation.objects.filter(task__run=run).exists()


def test_the_consultation_holds_completion_until_answered_then_the_task_completes(
    world,
):
    w = world
    with flow_registry():
        run = _run(w)
        book = f.task(run, "book")
        chains.complete_task(
            book,
            actor=w.user(w.ani),
            expected_version=None,
            now=T0 + dt.timedelta(hours=1),
        )
        book.refresh_from_db()
        assert book.status == TaskStatus.AWAITING
        assert book.awaiting_reasons == ["consultation"]
        assert extensions.reason_label("consultation") == (
            "waiting for the input of the consulted"
        )
        assert f.task(run, "ship").status == TaskStatus.PENDING

        consultation = Consultation.objects.get(task=book)
        answered = consulting.answer(
            consultation,
            actor=w.user(w.lia),
            answer="Export licence is valid until June.",
            expected_version=consultation.version,
            now=T0 + dt.timedelta(hours=2),
        )

    assert answered.status == ConsultationStatus.ANSWERED
    assert answered.answer == "Export licence is valid until June."
    assert answered.answered_by_id == w.lia.user_id
    assert answered.answered_at == T0 + dt.timedelta(hours=2)
    book.refresh_from_db()
    assert book.status == TaskStatus.DONE
    assert book.done_at == T0 + dt.timedelta(hours=2)
    assert f.task(run, "ship").status == TaskStatus.READY
    assert _notified(w.ani, "consultation.answered") == [
        f"consultation:{consultation.pk}:answered"
    ]
    assert _audit(AuditVerb.CONSULTATION_ANSWERED, book) == [
        {
            "consultation": consultation.pk,
            "position": w.legal.pk,
            "round": 0,
            "still_waiting": 0,
        }
    ]


def test_an_answer_before_completion_leaves_the_task_open_and_completing_is_direct(
    world,
):
    w = world
    with flow_registry():
        run = _run(w)
        book = f.task(run, "book")
        consultation = Consultation.objects.get(task=book)
        consulting.answer(
            consultation,
            actor=w.user(w.lia),
            answer="Fine by legal.",
            expected_version=None,
            now=T0 + dt.timedelta(minutes=30),
        )
        book.refresh_from_db()
        assert book.status == TaskStatus.READY

        chains.complete_task(
            book,
            actor=w.user(w.ani),
            expected_version=None,
            now=T0 + dt.timedelta(hours=1),
        )

    book.refresh_from_db()
    assert book.status == TaskStatus.DONE


def test_only_a_holder_of_the_consulted_position_answers_and_a_refusal_writes_nothing(
    world,
):
    w = world
    with flow_registry():
        run = _run(w)
        consultation = Consultation.objects.get(task=f.task(run, "book"))
        before = AuditEvent.objects.count()

        for outsider in (w.rina, w.ani):
            with pytest.raises(PermissionDenied):
                consulting.answer(
                    consultation,
                    actor=w.user(outsider),
                    answer="I think so.",
                    expected_version=consultation.version,
                )

    consultation.refresh_from_db()
    assert consultation.status == ConsultationStatus.REQUESTED
    assert consultation.answer == ""
    assert consultation.version == 1
    assert AuditEvent.objects.count() == before
    assert _notified(w.ani, "consultation.answered") == []


def test_an_acting_holder_answers(world):
    w = world
    acting = f.person(w.o, "pak")
    f.hold(w.o, w.legal, acting, acting=True)
    with flow_registry():
        run = _run(w)
        consultation = Consultation.objects.get(task=f.task(run, "book"))

        answered = consulting.answer(
            consultation, actor=w.user(acting), answer="OK.", expected_version=1
        )

    assert answered.answered_by_id == acting.user_id


def test_answering_needs_text_a_current_version_and_an_open_consultation(world):
    w = world
    with flow_registry():
        run = _run(w)
        consultation = Consultation.objects.get(task=f.task(run, "book"))
        lia = w.user(w.lia)

        with pytest.raises(ValidationFailed) as empty:
            consulting.answer(consultation, actor=lia, answer="   ", expected_version=1)
        assert empty.value.errors == {"answer": ["Write your input."]}
        with pytest.raises(Conflict):
            consulting.answer(
                consultation, actor=lia, answer="Late.", expected_version=7
            )
        consultation.refresh_from_db()
        assert consultation.status == ConsultationStatus.REQUESTED

        consulting.answer(consultation, actor=lia, answer="Yes.", expected_version=1)
        with pytest.raises(ValidationFailed) as again:
            consulting.answer(
                consultation, actor=lia, answer="Yes again.", expected_version=2
            )

    assert again.value.code == "not_waiting"
    consultation.refresh_from_db()
    assert (consultation.answer, consultation.version) == ("Yes.", 2)


def test_a_reopened_task_asks_again_in_a_new_round(world):
    w = world
    with flow_registry():
        run = _run(w)
        book = f.task(run, "book")
        first = Consultation.objects.get(task=book)
        consulting.answer(
            first, actor=w.user(w.lia), answer="Yes.", expected_version=None
        )
        chains.complete_task(book, actor=w.user(w.ani), expected_version=None)
        book.refresh_from_db()
        assert book.status == TaskStatus.DONE

        chains.reopen_task(
            book,
            actor=w.o.admin,
            expected_version=None,
            reason="The buyer changed the order.",
        )
        book.refresh_from_db()
        assert (book.status, book.reopen_count) == (TaskStatus.READY, 1)
        second = Consultation.objects.get(task=book, round=1)
        assert second.status == ConsultationStatus.REQUESTED
        assert second.position_id == w.legal.pk

        chains.complete_task(book, actor=w.user(w.ani), expected_version=None)
        book.refresh_from_db()

    assert book.status == TaskStatus.AWAITING
    assert book.awaiting_reasons == ["consultation"]
    first.refresh_from_db()
    assert first.status == ConsultationStatus.ANSWERED
    assert sorted(_notified(w.lia, "consultation.requested")) == sorted(
        [
            f"consultation:{first.pk}:requested",
            f"consultation:{second.pk}:requested",
        ]
    )


# --- informed -------------------------------------------------------------------------


def test_the_informed_are_told_when_the_task_is_done(world):
    w = world
    with flow_registry():
        run = _run(w, consulted=False)
        book = f.task(run, "book")

        chains.complete_task(book, actor=w.user(w.ani), expected_version=None)

    assert _notified(w.ita, "task.completed") == [f"task:{book.pk}:round:0:completed"]
    notice = Notification.objects.get(recipient_id=w.ita.user_id)
    assert notice.title == "Completed: Book (Ship 500 units to Kota A)"
    assert _notified(w.ani, "task.completed") == []
    assert _notified(w.rina, "task.completed") == []


# --- escalation ------------------------------------------------------------------------


def _task_timers(task: Task) -> list[tuple]:
    return list(
        Timer.objects.filter(kind=TimerKind.TASK, subject_id=task.pk)
        .order_by("deadline")
        .values_list("deadline", "action", "status")
    )


def test_a_ready_task_gets_a_timer_at_the_end_of_its_estimated_duration(world):
    with flow_registry():
        run = _run(world)

    assert _task_timers(f.task(run, "book")) == [
        (END_OF_MONDAY, TimeoutAction.NOTIFY_OWNER, TimerStatus.PENDING)
    ]
    assert _task_timers(f.task(run, "ship")) == []  # still pending


def test_a_late_task_goes_to_the_accountable_then_to_its_superior(world):
    w = world
    with flow_registry():
        run = _run(w)
        book = f.task(run, "book")

        assert (
            timers.fire_due(owner="test", now=END_OF_MONDAY - dt.timedelta(minutes=1))
            == 0
        )
        assert timers.fire_due(owner="test", now=END_OF_MONDAY) == 1

        assert _notified(w.rina, "task.escalated") == [
            f"task:{book.pk}:escalated:1:{END_OF_MONDAY.isoformat()}"
        ]
        assert _notified(w.dedi, "task.escalated") == []
        assert _task_timers(book) == [
            (END_OF_MONDAY, TimeoutAction.NOTIFY_OWNER, TimerStatus.FIRED),
            (END_OF_TUESDAY, TimeoutAction.ESCALATE, TimerStatus.PENDING),
        ]

        assert timers.fire_due(owner="test", now=END_OF_TUESDAY) == 1

    assert _notified(w.dedi, "task.escalated") == [
        f"task:{book.pk}:escalated:2:{END_OF_TUESDAY.isoformat()}"
    ]
    assert len(_notified(w.rina, "task.escalated")) == 1
    # two levels at most: nothing further is scheduled
    assert [status for *_x, status in _task_timers(book)] == [
        TimerStatus.FIRED,
        TimerStatus.FIRED,
    ]
    assert _audit(AuditVerb.ESCALATED, book) == [
        {
            "level": 1,
            "position": w.o.export_head.pk,
            "notified": [w.rina.pk],
            "expected_done_at": END_OF_MONDAY.isoformat(),
        },
        {
            "level": 2,
            "position": w.o.director.pk,
            "notified": [w.dedi.pk],
            "expected_done_at": END_OF_TUESDAY.isoformat(),
        },
    ]


def test_the_accountables_stand_in_is_told_too(world):
    w = world
    sari = f.person(w.o, "sari")
    delegation.delegate(
        w.rina,
        actor=w.o.admin,
        delegate=sari,
        starts_at=T0 - dt.timedelta(days=1),
        ends_at=T0 + dt.timedelta(days=5),
        now=T0 - dt.timedelta(days=2),
    )
    with flow_registry():
        run = _run(w)
        timers.fire_due(owner="test", now=END_OF_MONDAY)

    book = f.task(run, "book")
    assert _notified(sari, "task.escalated") == [
        f"task:{book.pk}:escalated:1:{END_OF_MONDAY.isoformat()}"
    ]
    assert _audit(AuditVerb.ESCALATED, book)[0]["notified"] == sorted(
        [w.rina.pk, sari.pk]
    )


def test_a_done_task_cancels_its_timer_and_its_rule_stays_silent(world):
    w = world
    with flow_registry():
        run = _run(w, consulted=False)
        book = f.task(run, "book")
        timer = Timer.objects.get(kind=TimerKind.TASK, subject_id=book.pk)
        chains.complete_task(book, actor=w.user(w.ani), expected_version=None)

        assert _task_timers(book) == [
            (END_OF_MONDAY, TimeoutAction.NOTIFY_OWNER, TimerStatus.CANCELLED)
        ]
        assert timers.fire_due(owner="test", now=END_OF_TUESDAY) == 0
        # even a timer that escaped cancelling does nothing for a done task
        assert consulting.task_timer_rule(timer, END_OF_MONDAY) == ""

    assert Notification.objects.filter(event_type="task.escalated").count() == 0
    assert _audit(AuditVerb.ESCALATED, book) == []


def test_no_timer_when_the_organisation_does_not_escalate_late_tasks(world):
    w = world
    settings = policy.settings_for(w.o.organisation)
    settings.escalate_late_tasks = False
    settings.save(update_fields=["escalate_late_tasks"])
    with flow_registry():
        run = _run(w)

    assert _task_timers(f.task(run, "book")) == []


def test_the_real_wiring_registers_consulting():
    registry = extensions.registry

    assert consulting.completion_guard in registry.completion_guards
    assert consulting.on_task_ready in registry.task_ready
    assert consulting.on_task_done in registry.task_done
    assert consulting.on_task_reopened in registry.task_reopened
    assert timers.registered()[TimerKind.TASK] is consulting.task_timer_rule
    assert wiring.register.__doc__


def test_a_consulted_partner_answers_and_the_assignee_checks_the_task_again(world):
    w = world
    version = f.procedure(
        w.o,
        [
            f.StepRow(
                "book",
                responsible=w.clerk,
                accountable=w.o.export_head,
                consulted=[w.o.forwarder_ops],
                requires_consultation=True,
            ),
            f.StepRow(
                "ship", responsible=w.clerk, accountable=w.o.export_head, after=["book"]
            ),
        ],
        code="PART",
    )
    with flow_registry():
        run = f.start_run(version, actor=w.o.admin)
        book = f.task(run, "book")
        chains.complete_task(book, actor=w.user(w.ani), expected_version=None)
        consultation = Consultation.objects.get(task=book)

        consulting.answer(
            consultation,
            actor=w.o.partner,  # Joko, Forwarder operations
            answer="The vessel leaves on Friday.",
            expected_version=1,
        )
        book.refresh_from_db()
        assert book.status == TaskStatus.AWAITING  # the partner may not act on it
        consultation.refresh_from_db()
        assert consultation.status == ConsultationStatus.ANSWERED

        chains.recheck_task(book, actor=w.user(w.ani), expected_version=None)

    book.refresh_from_db()
    assert book.status == TaskStatus.DONE


def test_a_task_ready_again_after_going_back_to_pending_gets_a_new_timer(world):
    w = world
    hour = dt.timedelta(hours=1)
    with flow_registry():
        run = _run(w, consulted=False)
        book, ship = f.task(run, "book"), f.task(run, "ship")
        ani = w.user(w.ani)
        chains.complete_task(book, actor=ani, expected_version=None, now=T0 + hour)
        book.refresh_from_db()
        chains.reopen_task(
            book,
            actor=w.o.admin,
            expected_version=None,
            reason="Redo",
            now=T0 + 2 * hour,
        )
        assert f.task(run, "ship").status == TaskStatus.PENDING
        book.refresh_from_db()
        chains.complete_task(book, actor=ani, expected_version=None, now=T0 + 3 * hour)

    one_day = dt.timedelta(days=1)
    assert _task_timers(ship) == [
        (T0 + one_day + hour, TimeoutAction.NOTIFY_OWNER, TimerStatus.CANCELLED),
        (T0 + one_day + 3 * hour, TimeoutAction.NOTIFY_OWNER, TimerStatus.PENDING),
    ]
