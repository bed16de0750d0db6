"""The RACI rows at work on a run's tasks (docs/design-roles.md, "Consultations,
informed, escalation").

* **Consulted**: when a task whose step requires consultation becomes ready, each
  consulted position (`TaskRole` C) is asked for its input for the task's round
  (`Task.reopen_count`); the holders are notified. The completion guard keeps the
  task awaiting (reason `consultation`) while an input of its round is missing;
  the last answer of the round checks an awaiting task again. A reopened task gets
  a new round.
* **Informed**: when a task is done, the holders of its informed positions
  (`TaskRole` I) are told (`task.completed`, routine: their digest by default).
* **Accountable**: a ready task gets a timer (`TimerKind.TASK`) at the end of its
  estimated duration on the working calendar. Still open when it fires, the
  holders of the accountable position and their stand-ins are told
  (`task.escalated`, level 1, timer action `notify_owner`); one duration later the
  holders of that position's superior (level 2, action `escalate`). A done task
  cancels its timers. Off when the organisation's `escalate_late_tasks` is off.

Handlers run inside the engine's transaction and cost a handful of queries per
task; notifications and webhook deliveries are written to the outbox tables and
sent after commit. Every notification key names its transition, so repeating a
handler writes nothing twice.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections.abc import Iterable, Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import OuterRef, QuerySet, Subquery
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rantai.accounts.models import Membership, Organisation, User
from rantai.approvals import delegation, timers
from rantai.approvals.models import TimeoutAction, Timer, TimerKind, TimerStatus
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.calendar import CalendarSpec, add_working_minutes
from rantai.chains.models import (
    OPEN_TASK_STATUSES,
    RaciRole,
    Run,
    RunStatus,
    Task,
    TaskRole,
    TaskStatus,
    WorkingCalendar,
)
from rantai.chains.projection import calendar_spec, calendar_spec_from_row
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.notifications import events, services, webhooks
from rantai.org.models import Person, Position
from rantai.org.queries import holders_of
from rantai.roles import policy
from rantai.roles.models import Consultation, ConsultationStatus, RoleSettings

__all__ = [
    "REASON",
    "REASON_LABELS",
    "answer",
    "completion_guard",
    "on_task_done",
    "on_task_ready",
    "on_task_reopened",
    "open_round",
    "task_timer_rule",
]

# The awaiting reason a task shows while consulted positions have not answered.
REASON = "consultation"
REASON_LABELS = {REASON: gettext_lazy("waiting for the input of the consulted")}

# Level 1 tells the accountable position, level 2 its superior (and no further).
LEVEL_ACTIONS = {1: TimeoutAction.NOTIFY_OWNER, 2: TimeoutAction.ESCALATE}
MAX_LEVEL = 2

_NAMESPACE = uuid.UUID("0b6b8f5e-8a51-4a8e-9d0b-3c7b2f9e6a14")
# No approval route is numbered 0: with it, `delegation.stand_ins` counts only the
# delegations made for every route, i.e. general stand-ins.
_ANY_ROUTE_ONLY = 0


# --- shared helpers -------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    moment = now or timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("now must be timezone-aware")
    return moment


def _local_date(organisation: Organisation, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


def _absolute(path: str) -> str:
    return settings.RANTAI_BASE_URL.rstrip("/") + path


def task_path(task: Task) -> str:
    """Where a task is shown: its own page (rationale, consultations, actions)."""
    return f"/o/{task.organisation.slug}/tasks/{task.pk}/"


def _task_data(task: Task) -> dict[str, Any]:
    return {
        "id": task.pk,
        "key": task.key,
        "name": task.name,
        "url": _absolute(task_path(task)),
    }


def _run_data(task: Task) -> dict[str, Any]:
    run = task.run
    return {
        "id": run.pk,
        "title": run.title,
        "procedure": run.procedure.code,
        "due_at": run.due_at,
        "url": _absolute(f"/o/{task.organisation.slug}/runs/{run.pk}/"),
    }


def _person_data(person: Person | None) -> dict[str, Any] | None:
    return None if person is None else {"id": person.pk, "name": person.full_name}


def _position_data(position: Position) -> dict[str, Any]:
    return {"id": position.pk, "code": position.code, "title": position.title}


def _publish(
    organisation: Organisation,
    event_type: str,
    key: str,
    data: Any,
) -> None:
    """Queue the webhook deliveries of one event (its id derived from `key`, so a
    repeated call publishes nothing new); `data` is a function making the payload
    data, called only when some endpoint subscribes."""
    event_id = uuid.uuid5(_NAMESPACE, f"{organisation.pk}:{key}")
    webhooks.publish(
        organisation,
        event_type=event_type,
        payload=lambda: events.build(
            organisation, event_type, data(), event_id=event_id
        ),
        event_id=event_id,
    )


def _task(task_id: int, *, lock: bool = False) -> Task | None:
    """The task with what the handlers show, and whether its organisation
    escalates late tasks (`escalates`: None while its settings were never read)."""
    tasks = Task.objects.select_related(
        "organisation", "organisation__working_calendar", "run", "run__procedure"
    ).annotate(
        escalates=Subquery(
            RoleSettings.objects.filter(
                organisation_id=OuterRef("organisation_id")
            ).values("escalate_late_tasks")[:1]
        )
    )
    if lock:
        tasks = tasks.select_for_update(of=("self",))
    return tasks.filter(pk=task_id).first()


def _calendar_of(task: Task) -> CalendarSpec:
    """The working calendar of the task's organisation, read with the task
    (`_task`): no statement of its own."""
    organisation = task.organisation
    try:
        found = organisation.working_calendar
    except WorkingCalendar.DoesNotExist:
        return calendar_spec_from_row(organisation, None)
    return calendar_spec_from_row(
        organisation,
        (
            found.pk,
            found.version,
            found.updated_at,
            found.working_weekdays,
            found.day_start,
            found.day_end,
        ),
    )


def _users_of(person_ids: Iterable[int]) -> QuerySet[User]:
    """The logins of the people (notify keeps the active members among them)."""
    return User.objects.filter(
        pk__in=Person.objects.filter(
            pk__in=sorted(set(person_ids)), user__isnull=False
        ).values("user_id")
    )


def _person_of(organisation_id: int, user_id: int | None) -> Person | None:
    if user_id is None:
        return None
    return Person.objects.filter(
        organisation_id=organisation_id, user_id=user_id, is_active=True
    ).first()


# --- consultations --------------------------------------------------------------------


def completion_guard(task: Task) -> extensions.GuardResult:
    """A task that requires consultation waits while an input of its round is
    missing (one query, only for such tasks)."""
    if not task.requires_consultation:
        return extensions.ALLOW
    waiting = Consultation.objects.filter(
        task_id=task.pk,
        round=task.reopen_count,
        status=ConsultationStatus.REQUESTED,
    ).exists()
    return (
        extensions.GuardResult(ok=False, reason=REASON) if waiting else extensions.ALLOW
    )


def open_round(task: Task, *, now: dt.datetime) -> list[Consultation]:
    """Ask every consulted position of the task for its input in the task's
    current round (the ones asked before in this round are left alone); the
    consultations created. Audited `consultation_requested`; each holder is
    notified (`consultation.requested`)."""
    organisation = task.organisation
    position_ids = sorted(
        set(
            TaskRole.objects.filter(
                task_id=task.pk, role=RaciRole.CONSULTED, position__isnull=False
            ).values_list("position_id", flat=True)
        )
    )
    if not position_ids:
        return []
    asked = set(
        Consultation.objects.filter(
            task_id=task.pk, round=task.reopen_count
        ).values_list("position_id", flat=True)
    )
    missing = [pk for pk in position_ids if pk not in asked]
    if not missing:
        return []
    created: list[Consultation] = []
    for position_id in missing:
        consultation = Consultation(
            organisation_id=organisation.pk,
            task_id=task.pk,
            position_id=position_id,
            round=task.reopen_count,
            requested_at=now,
            created_at=now,
            updated_at=now,
        )
        consultation.save()
        created.append(consultation)
    audit.record(
        organisation,
        actor=None,
        verb=AuditVerb.CONSULTATION_REQUESTED,
        target=task,
        changes={
            "round": task.reopen_count,
            "consultations": [c.pk for c in created],
            "positions": missing,
        },
    )
    positions = Position.objects.in_bulk(missing)
    holders = holders_of(organisation, missing, on=_local_date(organisation, now))
    for consultation in created:
        position = positions[consultation.position_id]
        key = f"consultation:{consultation.pk}:requested"
        services.notify(
            organisation,
            recipients=_users_of(holders.get(position.pk, [])),
            event_type=events.CONSULTATION_REQUESTED,
            key=key,
            title=format_lazy(
                gettext_lazy("Your input is asked: {task} ({run})"),
                task=task.name,
                run=task.run.title,
            ),
            body=format_lazy(
                gettext_lazy(
                    "As {position}, give your input before the task is completed."
                ),
                position=position.title,
            ),
            url=task_path(task),
            now=now,
        )
        _publish(
            organisation,
            events.CONSULTATION_REQUESTED,
            key,
            lambda consultation=consultation, position=position: {
                "consultation": _consultation_data(consultation, task),
                "task": _task_data(task),
                "run": _run_data(task),
                "position": _position_data(position),
            },
        )
    return created


def _consultation_data(consultation: Consultation, task: Task) -> dict[str, Any]:
    return {
        "id": consultation.pk,
        "round": consultation.round,
        "url": _absolute(task_path(task)),
    }


@transaction.atomic
def answer(
    consultation: Consultation,
    *,
    actor: User,
    answer: str,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Consultation:
    """Give a consulted position's input: a holder of the position (acting
    included), while the consultation waits and its task is open; compare-and-set
    on the consultation, audited `consultation_answered`. The task's assignee is
    told; when this was the last input of the round and the task is awaiting, the
    task is checked again (and completes when nothing else holds it)."""
    now = _now(now)
    if (
        actor is None
        or not actor.is_active
        or not Membership.objects.filter(
            organisation_id=consultation.organisation_id, user=actor, is_active=True
        ).exists()
    ):
        raise NotFound()
    text = (answer or "").strip()
    if not text:
        raise ValidationFailed({"answer": [_("Write your input.")]})
    locked = (
        Consultation.objects.select_for_update()
        .select_related("position")
        .filter(pk=consultation.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    task = _task(locked.task_id)
    assert task is not None  # a consultation's task is protected from deletion
    organisation = task.organisation
    person = _person_of(organisation.pk, actor.pk)
    holders = holders_of(
        organisation, [locked.position_id], on=_local_date(organisation, now)
    )
    if person is None or person.pk not in holders.get(locked.position_id, []):
        raise PermissionDenied(
            _("Only the holders of the consulted position can give its input.")
        )
    if locked.status != ConsultationStatus.REQUESTED:
        raise ValidationFailed(
            _("This consultation is no longer waiting for input."),
            code="not_waiting",
        )
    if task.status not in OPEN_TASK_STATUSES or locked.round != task.reopen_count:
        raise ValidationFailed(
            _("The task of this consultation is no longer open."), code="not_open"
        )
    compare_and_set(
        locked,
        expected_version=expected_version,
        fields={
            "status": ConsultationStatus.ANSWERED,
            "answer": text,
            "answered_by": actor,
            "answered_at": now,
            "updated_at": now,
        },
    )
    still_waiting = Consultation.objects.filter(
        task_id=task.pk, round=locked.round, status=ConsultationStatus.REQUESTED
    ).count()
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CONSULTATION_ANSWERED,
        target=task,
        changes={
            "consultation": locked.pk,
            "position": locked.position_id,
            "round": locked.round,
            "still_waiting": still_waiting,
        },
        personal_changes={"answer": text},
    )
    _tell_assignee(task, locked, person, still_waiting, now)
    if not still_waiting:
        _recheck(task, actor, now)
    return locked


def _tell_assignee(
    task: Task,
    consultation: Consultation,
    answered_by: Person,
    still_waiting: int,
    now: dt.datetime,
) -> None:
    organisation = task.organisation
    key = f"consultation:{consultation.pk}:answered"
    assignee_users = (
        _users_of([task.assignee_id]) if task.assignee_id is not None else []
    )
    services.notify(
        organisation,
        recipients=assignee_users,
        event_type=events.CONSULTATION_ANSWERED,
        key=key,
        title=format_lazy(
            gettext_lazy("Input given on {task}: {position}"),
            task=task.name,
            position=consultation.position.title,
        ),
        url=task_path(task),
        now=now,
    )
    _publish(
        organisation,
        events.CONSULTATION_ANSWERED,
        key,
        lambda: {
            "consultation": _consultation_data(consultation, task),
            "task": _task_data(task),
            "run": _run_data(task),
            "position": _position_data(consultation.position),
            "answered_by": _person_data(answered_by),
            "open_in_round": still_waiting,
        },
    )


def _recheck(task: Task, actor: User, now: dt.datetime) -> None:
    """Check the task again if it is awaiting in an active run."""
    run_status = (
        Run.objects.select_for_update()
        .filter(pk=task.run_id)
        .values_list("status", flat=True)
        .get()
    )
    task.refresh_from_db()
    if task.status != TaskStatus.AWAITING or run_status != RunStatus.ACTIVE:
        return
    try:
        with transaction.atomic():
            chains.recheck_task(task, actor=actor, expected_version=None, now=now)
    except PermissionDenied:
        # Someone consulted who may not act on the task (an auditor, another
        # partner's person): the answer stands; the assignee, told of it, checks
        # the task again.
        task.refresh_from_db()


# --- engine events --------------------------------------------------------------------


def on_task_ready(event: extensions.TaskReady) -> None:
    """A task became ready: open its consultation round (if its step requires
    consultation) and set its late-task timer."""
    task = _task(event.task_id)
    if task is None or task.status not in OPEN_TASK_STATUSES:
        return
    if task.requires_consultation:
        open_round(task, now=event.at)
    # Ready for the first time (inserted ready, version 1, or pending → ready,
    # version 2): there is no earlier timer to cancel, which saves a statement on
    # the engine's hottest path.
    first_time = task.reopen_count == 0 and task.version <= 2
    _schedule_escalation(task, now=event.at, first_time=first_time)


def on_task_reopened(event: extensions.TaskReopened) -> None:
    """A done task was reopened: ready again at once, it gets a new consultation
    round and a new timer; still pending, both come when it becomes ready."""
    task = _task(event.task_id)
    if task is None:
        return
    timers.cancel(TimerKind.TASK, task.pk, now=event.at)
    if task.status != TaskStatus.READY:
        return
    if task.requires_consultation:
        open_round(task, now=event.at)
    _schedule_escalation(task, now=event.at)


def on_task_done(event: extensions.TaskDone) -> None:
    """A task is done: its late-task timers are cancelled and the holders of its
    informed positions are told."""
    timers.cancel(TimerKind.TASK, event.task_id, now=event.at)
    informed = sorted(
        set(
            TaskRole.objects.filter(
                task_id=event.task_id, role=RaciRole.INFORMED, position__isnull=False
            ).values_list("position_id", flat=True)
        )
    )
    if not informed:
        return
    task = _task(event.task_id)
    if task is None:
        return
    organisation = task.organisation
    holders = holders_of(organisation, informed, on=_local_date(organisation, event.at))
    completed_by = _person_of(organisation.pk, event.actor_id)
    people = sorted({pk for ids in holders.values() for pk in ids})
    if completed_by is not None:
        people = [pk for pk in people if pk != completed_by.pk]
    key = f"task:{task.pk}:round:{task.reopen_count}:completed"
    services.notify(
        organisation,
        recipients=_users_of(people),
        event_type=events.TASK_COMPLETED,
        key=key,
        title=format_lazy(
            gettext_lazy("Completed: {task} ({run})"),
            task=task.name,
            run=task.run.title,
        ),
        url=task_path(task),
        now=event.at,
    )
    _publish(
        organisation,
        events.TASK_COMPLETED,
        key,
        lambda: {
            "task": _task_data(task),
            "run": _run_data(task),
            "completed_by": _person_data(completed_by),
            "completed_at": task.done_at or event.at,
        },
    )


# --- late-task escalation ------------------------------------------------------------


def _escalation_on(task: Task) -> bool:
    """The organisation's `escalate_late_tasks`, read with the task (`_task`)."""
    escalates = getattr(task, "escalates", None)
    if escalates is None:
        return bool(policy.settings_for(task.organisation_id).escalate_late_tasks)
    return bool(escalates)


def _schedule_escalation(
    task: Task, *, now: dt.datetime, first_time: bool = False
) -> None:
    """Set the task's level-1 timer at the end of its estimated duration from the
    moment it became ready (working calendar). Earlier timers of the task are
    cancelled — unless it is ready for the first time and so has none: then the
    timer is one INSERT (the engine's hottest path)."""
    organisation = task.organisation
    if not _escalation_on(task):
        return
    ready_at = task.ready_at or now
    deadline = add_working_minutes(_calendar_of(task), ready_at, task.duration_minutes)
    if first_time:
        timers.schedule_first(
            organisation.pk,
            kind=TimerKind.TASK,
            subject_id=task.pk,
            deadline=deadline,
            action=LEVEL_ACTIONS[1],
        )
        return
    timers.cancel(TimerKind.TASK, task.pk, now=now)
    _schedule_level(organisation, task.pk, deadline, level=1)


def _schedule_level(
    organisation: Organisation, task_id: int, deadline: dt.datetime, *, level: int
) -> Timer | None:
    action = LEVEL_ACTIONS[level]
    timer = timers.schedule(
        organisation.pk,
        kind=TimerKind.TASK,
        subject_id=task_id,
        deadline=deadline,
        action=action,
    )
    if timer is None:
        # The same deadline was set before and cancelled since (the task went
        # back to pending and became ready again at the same moment): revive it.
        Timer.objects.filter(
            kind=TimerKind.TASK,
            subject_id=task_id,
            deadline=deadline,
            action=action,
            status=TimerStatus.CANCELLED,
        ).update(status=TimerStatus.PENDING, outcome="", fire_at=deadline)
    return timer


def _level_of(timer: Timer) -> int:
    for level, action in LEVEL_ACTIONS.items():
        if timer.action == action:
            return level
    raise ValueError(f"a task timer cannot {timer.action!r}")


def task_timer_rule(timer: Timer, now: dt.datetime) -> str:
    """Fire a late-task timer: the task still open, tell the holders of the
    accountable position and their stand-ins (level 1, then set level 2 one
    duration later) or of its superior (level 2); audited `escalated` on the
    task. A task done, cancelled, skipped or back to pending, or ready again since
    the timer was set: nothing happens ("")."""
    task = _task(timer.subject_id, lock=True)
    if task is None or task.status not in OPEN_TASK_STATUSES:
        return ""
    if task.ready_at is None or timer.deadline <= task.ready_at:
        return ""
    organisation = task.organisation
    if not _escalation_on(task):
        return ""
    level = _level_of(timer)
    accountable = (
        Position.objects.filter(pk=task.accountable_position_id)
        .select_related("superior")
        .first()
    )
    told = accountable if level == 1 else (accountable and accountable.superior)
    if told is None:
        audit.record(
            organisation,
            actor=None,
            verb=AuditVerb.ESCALATED,
            target=task,
            changes={"level": level, "position": None, "notified": []},
        )
        return f"level {level}: no position to tell"
    holders = holders_of(organisation, [told.pk], on=_local_date(organisation, now))
    people = holders.get(told.pk, [])
    stand_ins = delegation.stand_ins(people, at=now, route_id=_ANY_ROUTE_ONLY)
    everyone = sorted(set(people) | set(stand_ins))
    key = f"task:{task.pk}:escalated:{level}:{timer.deadline.isoformat()}"
    title = (
        gettext_lazy("Late task you are accountable for: {task} ({run})")
        if level == 1
        else gettext_lazy("Late task in your line: {task} ({run})")
    )
    written = services.notify(
        organisation,
        recipients=_users_of(everyone),
        event_type=events.TASK_ESCALATED,
        key=key,
        title=format_lazy(title, task=task.name, run=task.run.title),
        body=format_lazy(
            gettext_lazy("It was expected to be done by {when}."),
            when=_local_moment(organisation, timer.deadline),
        ),
        url=task_path(task),
        now=now,
    )
    assignee = (
        None
        if task.assignee_id is None
        else Person.objects.filter(pk=task.assignee_id).first()
    )
    _publish(
        organisation,
        events.TASK_ESCALATED,
        key,
        lambda: {
            "task": _task_data(task),
            "run": _run_data(task),
            "assignee": _person_data(assignee),
            "position": _position_data(told),
            "level": level,
            "expected_done_at": timer.deadline,
        },
    )
    audit.record(
        organisation,
        actor=None,
        verb=AuditVerb.ESCALATED,
        target=task,
        changes={
            "level": level,
            "position": told.pk,
            "notified": everyone,
            "expected_done_at": timer.deadline,
        },
    )
    if level < MAX_LEVEL:
        _schedule_level(
            organisation,
            task.pk,
            add_working_minutes(
                calendar_spec(organisation), timer.deadline, task.duration_minutes
            ),
            level=level + 1,
        )
    return f"level {level}: told {len(everyone)} people, {written} notified"


def _local_moment(organisation: Organisation, moment: dt.datetime) -> str:
    local = moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone))
    return f"{local:%Y-%m-%d %H:%M} ({organisation.time_zone})"


def open_consultations(task: Task) -> Sequence[Consultation]:
    """The consultations of the task's current round still waiting (oldest
    first)."""
    return list(
        Consultation.objects.filter(
            task_id=task.pk,
            round=task.reopen_count,
            status=ConsultationStatus.REQUESTED,
        ).select_related("position")
    )
