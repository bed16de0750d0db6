"""Obstacles (kendala): raised on a run or one of its tasks with the delay they are
expected to cause, carried into the schedule at once, escalated while open, and
closed only with a resolution backed by evidence (docs/design-obstacles.md,
"Services").

* **Who**: members, admins and partners who can see the run raise one (a partner
  only on its own party's tasks or on the run as a whole; auditors read only).
  The raiser, the holders of the accountable position (the task's; for a
  run-level obstacle the procedure owner's) and admins change, resolve or
  withdraw it and add or cancel mitigations (`may_manage`); a mitigation's owner
  (their login) completes it, as may those who manage the obstacle.
* **The schedule**: after every raise, change, resolution or withdrawal the run's
  expected delays are recomputed from all its open obstacles in the same
  transaction (`Task.delay_minutes`: the sum per task; `Run.hold_minutes`: the sum
  of the run-level ones), so the projected finish and the schedule status follow
  at once.
* **Escalation** (`TimerKind.OBSTACLE`): level 1 at `respond_by` (raised +
  `obstacle_response_hours` working hours) tells the accountable position's
  holders and their stand-ins; level 2, one response period later, the holders
  of that position's superior. A settled obstacle's timer fires with no effect.

Free text (descriptions, resolutions, reasons, outcomes) goes to the redactable
half of the audit events and never into webhook payloads.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Count, F, QuerySet
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.approvals import delegation, timers
from rantai.approvals.models import TimeoutAction, Timer, TimerKind
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains import services as chains
from rantai.chains.calendar import add_working_minutes
from rantai.chains.models import FINAL_TASK_STATUSES, Run, RunStatus, Task
from rantai.chains.projection import calendar_spec
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.core.validation import full_clean
from rantai.evidence import citations
from rantai.evidence.models import CitingKind, InformationRecord
from rantai.evidence.records import refuse_nul_characters
from rantai.notifications import events, services, webhooks
from rantai.obstacles import impact, policy
from rantai.obstacles.models import (
    SEVERE,
    Cause,
    Mitigation,
    MitigationStatus,
    Obstacle,
    ObstacleStatus,
    ReviewTrigger,
    Severity,
)
from rantai.org.models import Party, PartyKind, Person, Position
from rantai.org.queries import holders_of

__all__ = [
    "MAX_DELAY_MINUTES",
    "UPDATABLE_FIELDS",
    "accountable_position_id",
    "add_mitigation",
    "add_records",
    "cancel_mitigation",
    "complete_mitigation",
    "may_manage",
    "mitigation_path",
    "obstacle_path",
    "obstacle_timer_rule",
    "raise_obstacle",
    "recompute_delays",
    "resolve",
    "update_obstacle",
    "withdraw",
]

# What `update_obstacle` may change.
UPDATABLE_FIELDS = (
    "title",
    "description",
    "severity",
    "cause",
    "expected_delay_minutes",
)
# An expected delay is a whole number of working minutes, at most a year of them.
MAX_DELAY_MINUTES = 365 * 24 * 60

# Level 1 tells the accountable position, level 2 its superior (and no further).
LEVEL_ACTIONS = {1: TimeoutAction.NOTIFY_OWNER, 2: TimeoutAction.ESCALATE}
MAX_LEVEL = 2

_NAMESPACE = uuid.UUID("3c0f6a52-97d4-4f4e-8d3e-5a1b7c2e9f60")
# No approval route is numbered 0: with it, `delegation.stand_ins` counts only
# the delegations made for every route, i.e. general stand-ins.
_ANY_ROUTE_ONLY = 0


# --- shared helpers -------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    moment = now or timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("now must be timezone-aware")
    return moment


def _local_date(organisation: Organisation, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


def _local_moment(organisation: Organisation, moment: dt.datetime) -> str:
    local = moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone))
    return f"{local:%Y-%m-%d %H:%M} ({organisation.time_zone})"


def _absolute(path: str) -> str:
    return settings.RANTAI_BASE_URL.rstrip("/") + path


def obstacle_path(obstacle: Obstacle) -> str:
    return f"/o/{obstacle.organisation.slug}/obstacles/{obstacle.pk}/"


def mitigation_path(mitigation: Mitigation) -> str:
    return f"{obstacle_path(mitigation.obstacle)}#mitigation-{mitigation.pk}"


def _membership(organisation_id: int, user: User | None) -> Membership:
    """The user's active membership (NotFound for anyone else: unknown and
    forbidden look the same)."""
    if user is None or not user.is_active:
        raise NotFound()
    membership = Membership.objects.filter(
        organisation_id=organisation_id, user_id=user.pk, is_active=True
    ).first()
    if membership is None:
        raise NotFound()
    return membership


def _takes_part(run_id: int, party_id: int | None) -> bool:
    """Whether the partner's party owns a task of the run (how partners see runs)."""
    return (
        party_id is not None
        and Task.objects.filter(run_id=run_id, responsible_party_id=party_id).exists()
    )


def _required_text(name: str, value: str | None, message: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed({name: [message]})
    refuse_nul_characters(**{name: text})
    return text


def _person_of(organisation_id: int, user_id: int | None) -> Person | None:
    if user_id is None:
        return None
    return Person.objects.filter(
        organisation_id=organisation_id, user_id=user_id, is_active=True
    ).first()


def _person_data(person: Person | None) -> dict[str, Any] | None:
    return None if person is None else {"id": person.pk, "name": person.full_name}


def _users_of(person_ids: Iterable[int]) -> QuerySet[User]:
    """The logins of the people (notify keeps the active members among them)."""
    return User.objects.filter(
        pk__in=Person.objects.filter(
            pk__in=sorted(set(person_ids)), user__isnull=False
        ).values("user_id")
    )


def _load(obstacle_id: int, *, lock: bool = False) -> Obstacle:
    """The obstacle with what the services show (its run, procedure, task)."""
    rows = Obstacle.objects.select_related(
        "organisation", "run", "run__procedure", "task"
    )
    if lock:
        rows = rows.select_for_update(of=("self",))
    found = rows.filter(pk=obstacle_id).first()
    if found is None:
        raise NotFound()
    return found


def accountable_position_id(obstacle: Obstacle) -> int | None:
    """Who answers for the obstacle: the task's accountable position, or for a
    run-level obstacle the procedure's owner position."""
    if obstacle.task is not None:
        return obstacle.task.accountable_position_id
    return obstacle.run.procedure.owner_position_id


# --- who may do what ------------------------------------------------------------------


def _may_manage(
    obstacle: Obstacle, membership: Membership, user: User, now: dt.datetime
) -> bool:
    if membership.role == Role.ADMIN:
        return True
    if membership.role == Role.AUDITOR:
        return False
    if obstacle.raised_by_id == user.pk:
        # A partner who raised it manages it while the party still takes part.
        return membership.role == Role.MEMBER or _takes_part(
            obstacle.run_id, membership.party_id
        )
    if membership.role != Role.MEMBER:
        return False
    position_id = accountable_position_id(obstacle)
    if position_id is None:
        return False
    return chains.holds_position(
        obstacle.organisation,
        user,
        position_id,
        on=_local_date(obstacle.organisation, now),
    )


def may_manage(
    obstacle: Obstacle, user: User | None, *, now: dt.datetime | None = None
) -> bool:
    """Whether the user may change, resolve or withdraw the obstacle and add or
    cancel its mitigations: the raiser, the accountable position's holders and
    administrators."""
    try:
        membership = _membership(obstacle.organisation_id, user)
    except NotFound:
        return False
    assert user is not None
    return _may_manage(obstacle, membership, user, _now(now))


def _require_manager(obstacle: Obstacle, actor: User, now: dt.datetime) -> Membership:
    membership = _membership(obstacle.organisation_id, actor)
    if membership.role == Role.PARTNER and not _partner_sees(obstacle, membership):
        raise NotFound()
    if not _may_manage(obstacle, membership, actor, now):
        raise PermissionDenied(
            _(
                "Only whoever raised the obstacle, the holders of the accountable "
                "position and administrators can do this."
            )
        )
    return membership


def _partner_sees(obstacle: Obstacle, membership: Membership) -> bool:
    return _party_sees(obstacle, membership.party_id)


def _party_sees(obstacle: Obstacle, party_id: int | None) -> bool:
    """Whether an external partner party sees the obstacle: one on its own task,
    or on a run it takes part in as a whole."""
    if obstacle.task is not None:
        return obstacle.task.responsible_party_id == party_id
    return _takes_part(obstacle.run_id, party_id)


def _owner_sees(obstacle: Obstacle, person: Person) -> bool:
    """Whether the person could see the obstacle (and so act on a mitigation):
    internal people see everything; a partner's person (their login's partner
    membership, else their external party) only what their party sees."""
    party_id: int | None = None
    if person.user_id is not None:
        party_id = (
            Membership.objects.filter(
                organisation_id=obstacle.organisation_id,
                user_id=person.user_id,
                is_active=True,
                role=Role.PARTNER,
            )
            .values_list("party_id", flat=True)
            .first()
        )
    if party_id is None and person.party_id is not None:
        party_id = (
            Party.objects.filter(pk=person.party_id, kind=PartyKind.EXTERNAL_PARTNER)
            .values_list("pk", flat=True)
            .first()
        )
    return party_id is None or _party_sees(obstacle, party_id)


def _require_open(obstacle: Obstacle) -> None:
    if obstacle.status != ObstacleStatus.OPEN:
        raise ValidationFailed(
            _("This obstacle is closed: it cannot be changed any more."),
            code="not_open",
        )


# --- information records --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Checked:
    records: list[InformationRecord]
    errors: list[str]


def _check_records(
    records: Sequence[InformationRecord],
    *,
    run: Run,
    membership: Membership,
    need_evidence: bool,
) -> _Checked:
    """The records, read again, if each may back an obstacle of the run: of the
    same organisation, about the run (or, for members, the organisation as a
    whole), seen by the actor, and (for a resolution) with evidence. One query."""
    wanted = list(dict.fromkeys(record.pk for record in records))
    found = {
        record.pk: record
        for record in InformationRecord.objects.filter(pk__in=wanted)
        .select_related("task")
        .annotate(evidence_count=Count("evidence"))
    }
    errors: list[str] = []
    checked: list[InformationRecord] = []
    for pk in wanted:
        record = found.get(pk)
        if record is None or record.organisation_id != run.organisation_id:
            errors.append(_("This information record cannot be used here."))
            continue
        usable = record.run_id in (None, run.pk)
        if membership.role == Role.PARTNER:
            usable = record.run_id == run.pk and (
                record.task is None
                or record.task.responsible_party_id == membership.party_id
            )
        if not usable:
            errors.append(
                _("“{title}” is not about this run.").format(title=record.title)
            )
            continue
        if need_evidence and not record.evidence_count:
            errors.append(
                _("“{title}” has no evidence yet: add a file, link or value.").format(
                    title=record.title
                )
            )
            continue
        checked.append(record)
    return _Checked(checked, errors)


def _cite(
    records: Sequence[InformationRecord],
    *,
    kind: str,
    obstacle: Obstacle,
    actor: User,
    now: dt.datetime,
) -> None:
    if records:
        citations.cite(
            records, citing_kind=kind, citing_id=obstacle.pk, actor=actor, now=now
        )


# --- the schedule ---------------------------------------------------------------------


def recompute_delays(run: Run, *, now: dt.datetime) -> None:
    """Carry the expected delays of the run's open obstacles into its schedule:
    per task the sum of its obstacles', for the run as a whole the sum of the
    run-level ones (the hold). Nothing for a completed or cancelled run."""
    if run.status not in (RunStatus.ACTIVE, RunStatus.SUSPENDED):
        return
    task_delays: dict[int, int] = defaultdict(int)
    hold = 0
    rows = Obstacle.objects.filter(
        run_id=run.pk, status=ObstacleStatus.OPEN
    ).values_list("task_id", "expected_delay_minutes")
    for task_id, minutes in rows:
        if task_id is None:
            hold += minutes
        else:
            task_delays[task_id] += minutes
    # A task whose last open obstacle closed goes back to no delay.
    for task_id in Task.objects.filter(run_id=run.pk, delay_minutes__gt=0).values_list(
        "pk", flat=True
    ):
        task_delays.setdefault(task_id, 0)
    chains.set_expected_delays(
        run, task_delays=dict(task_delays), hold_minutes=hold, now=now
    )


def _lock_run(run_id: int) -> Run:
    return (
        Run.objects.select_for_update(of=("self",))
        .select_related("organisation", "procedure")
        .get(pk=run_id)
    )


def _check_delay(value: Any) -> int:
    if (
        isinstance(value, bool)
        or not isinstance(value, int)
        or not 0 <= value <= MAX_DELAY_MINUTES
    ):
        raise ValidationFailed(
            {
                "expected_delay_minutes": [
                    _(
                        "The expected delay is a whole number of working minutes, "
                        "0 to {most}."
                    ).format(most=MAX_DELAY_MINUTES)
                ]
            }
        )
    return value


# --- announcing -----------------------------------------------------------------------


def _task_data(task: Task | None, organisation: Organisation) -> dict[str, Any] | None:
    if task is None:
        return None
    return {
        "id": task.pk,
        "key": task.key,
        "name": task.name,
        "url": _absolute(f"/o/{organisation.slug}/tasks/{task.pk}/"),
    }


def _run_data(run: Run, organisation: Organisation) -> dict[str, Any]:
    return {
        "id": run.pk,
        "title": run.title,
        "procedure": run.procedure.code,
        "due_at": run.due_at,
        "url": _absolute(f"/o/{organisation.slug}/runs/{run.pk}/"),
    }


def _obstacle_data(obstacle: Obstacle) -> dict[str, Any]:
    return {
        "id": obstacle.pk,
        "title": obstacle.title,
        "severity": obstacle.severity,
        "status": obstacle.status,
        "url": _absolute(obstacle_path(obstacle)),
    }


def _tell_and_announce(
    obstacle: Obstacle,
    *,
    people: Iterable[int],
    users: Iterable[User] = (),
    event_type: str,
    key: str,
    title: Promise,
    data: Callable[[], Mapping[str, Any]],
    body: str | Promise = "",
    url: str = "",
    now: dt.datetime,
) -> int:
    """Tell the people (and users) in the app, with the event type's urgency,
    and announce the event to the webhooks under the same key; how many were
    notified. `data` is called only when some endpoint subscribes."""
    organisation = obstacle.organisation
    recipients = [*_users_of(people), *users]
    written = services.notify(
        organisation,
        recipients=recipients,
        event_type=event_type,
        key=key,
        title=title,
        body=body,
        url=url or obstacle_path(obstacle),
        now=now,
    )
    event_id = uuid.uuid5(_NAMESPACE, f"{organisation.pk}:{key}")
    webhooks.publish(
        organisation,
        event_type=event_type,
        payload=lambda: events.build(
            organisation, event_type, data(), event_id=event_id, occurred_at=now
        ),
        event_id=event_id,
    )
    return written


@dataclass(frozen=True)
class MovedElsewhere:
    """A partner's login whose party's task the obstacle moves, while the obstacle
    itself (on another party's task) is not theirs to read: they are told about
    their task, not shown the obstacle."""

    user: User
    task_id: int
    task_name: str


def _affected(
    obstacle: Obstacle, task_ids: Iterable[int], *, now: dt.datetime
) -> tuple[list[int], list[User], list[MovedElsewhere]]:
    """(person ids, partner users, partners told about their task only) of the
    accountable position's holders and of the parties responsible for the tasks:
    their positions' holders, a partner party's users. Three queries."""
    organisation = obstacle.organisation
    ids = sorted({*task_ids, *([obstacle.task_id] if obstacle.task_id else [])})
    rows = list(
        Task.objects.filter(pk__in=ids)
        .order_by("sort_order", "id")
        .values_list("responsible_position_id", "responsible_party_id", "id", "name")
    )
    positions = {row[0] for row in rows if row[0] is not None}
    parties = sorted({row[1] for row in rows if row[1] is not None})
    first_task_of: dict[int, tuple[int, str]] = {}
    for _position, party, task_id, name in rows:
        if party is not None:
            first_task_of.setdefault(party, (task_id, name))
    # A partner reads an obstacle on the whole run or on its own party's task.
    obstacle_party = (
        None
        if obstacle.task_id is None
        else next((row[1] for row in rows if row[2] == obstacle.task_id), None)
    )
    accountable = accountable_position_id(obstacle)
    holders = holders_of(
        organisation,
        [*positions, accountable],
        on=_local_date(organisation, now),
    )
    people = sorted({pk for found in holders.values() for pk in found})
    partners: list[User] = []
    elsewhere: list[MovedElsewhere] = []
    if parties:
        found = (
            User.objects.filter(
                memberships__organisation_id=organisation.pk,
                memberships__role=Role.PARTNER,
                memberships__party_id__in=parties,
                memberships__is_active=True,
            )
            .annotate(partner_party_id=F("memberships__party_id"))
            .distinct()
        )
        for user in found:
            party_id = user.partner_party_id  # type: ignore[attr-defined]
            if obstacle.task_id is None or party_id == obstacle_party:
                partners.append(user)
            else:
                task_id, name = first_task_of[party_id]
                elsewhere.append(MovedElsewhere(user, task_id, name))
    return people, partners, elsewhere


def _tell_moved_elsewhere(
    obstacle: Obstacle,
    elsewhere: Sequence[MovedElsewhere],
    *,
    event_type: str,
    key: str,
    closed: bool,
    actor: User,
    now: dt.datetime,
) -> None:
    """Tell partners whose task the obstacle moves, on their task's page (the
    obstacle concerns another party's work and stays out of their sight)."""
    organisation = obstacle.organisation
    for item in elsewhere:
        if item.user.pk == actor.pk:
            continue
        services.notify(
            organisation,
            recipients=[item.user],
            event_type=event_type,
            key=f"{key}:task:{item.task_id}",
            title=format_lazy(
                gettext_lazy(
                    "An obstacle that held up your task “{task}” is closed ({run})"
                )
                if closed
                else gettext_lazy(
                    "An obstacle elsewhere in the run moves your task “{task}” "
                    "later ({run})"
                ),
                task=item.task_name,
                run=obstacle.run.title,
            ),
            url=f"/o/{organisation.slug}/tasks/{item.task_id}/",
            now=now,
        )


def _without(
    organisation_id: int, people: list[int], users: list[User], actor: User
) -> tuple[list[int], list[User]]:
    """Everyone but whoever acted (they know already)."""
    person = _person_of(organisation_id, actor.pk)
    return (
        [pk for pk in people if person is None or pk != person.pk],
        [user for user in users if user.pk != actor.pk],
    )


def _moved_task_ids(stored: Mapping[str, Any]) -> list[int]:
    """The tasks an obstacle's impact moved, from its stored what-if."""
    moved = stored.get("moved") if isinstance(stored, Mapping) else None
    found: list[int] = []
    for row in moved or []:
        if isinstance(row, Mapping) and isinstance(row.get("task_id"), int):
            found.append(row["task_id"])
    return found


# --- raising --------------------------------------------------------------------------


@transaction.atomic
def raise_obstacle(
    run: Run,
    *,
    actor: User,
    title: str,
    description: str,
    expected_delay_minutes: int,
    severity: str = Severity.MEDIUM,
    cause: str = Cause.OTHER,
    task: Task | None = None,
    records: Sequence[InformationRecord] = (),
    now: dt.datetime | None = None,
) -> Obstacle:
    """Raise an obstacle on the run (or one of its unfinished tasks): its what-if
    impact is stored, the run's expected delays are recomputed (the projected
    finish and schedule status move at once), the escalation timer is set at
    `respond_by`, audited `raised`, and the accountable position's holders and
    the people of the affected parties are told urgently (`obstacle.raised`).
    Supporting records are cited."""
    moment = _now(now)
    membership = _membership(run.organisation_id, actor)
    if membership.role == Role.PARTNER and not _takes_part(run.pk, membership.party_id):
        raise NotFound()
    if membership.role not in (Role.ADMIN, Role.MEMBER, Role.PARTNER):
        raise PermissionDenied(_("Auditors read obstacles; they do not raise them."))
    locked = _lock_run(run.pk)
    organisation = locked.organisation
    if locked.status not in (RunStatus.ACTIVE, RunStatus.SUSPENDED):
        raise ValidationFailed(
            _("This run is finished: no obstacle can be raised on it."),
            code="run_final",
        )
    if task is not None:
        task = Task.objects.filter(pk=task.pk, run_id=locked.pk).first()
        if task is None:
            raise ValidationFailed({"task": [_("Choose a task of this run.")]})
        if (
            membership.role == Role.PARTNER
            and task.responsible_party_id != membership.party_id
        ):
            raise PermissionDenied(
                _(
                    "External partners raise obstacles only on their own tasks or "
                    "on the run as a whole."
                )
            )
        if task.status in FINAL_TASK_STATUSES:
            raise ValidationFailed(
                {"task": [_("This task is finished: it cannot be held up any more.")]}
            )
    delay = _check_delay(expected_delay_minutes)
    refuse_nul_characters(title=title, description=description)
    checked = _check_records(
        records, run=locked, membership=membership, need_evidence=False
    )
    if checked.errors:
        raise ValidationFailed({"records": checked.errors})
    answer = policy.settings_for(organisation)
    obstacle = Obstacle(
        organisation=organisation,
        run=locked,
        task=task,
        title=(title or "").strip(),
        description=(description or "").strip(),
        cause=cause,
        severity=severity,
        expected_delay_minutes=delay,
        raised_by=actor,
        raised_at=moment,
        respond_by=add_working_minutes(
            calendar_spec(organisation), moment, answer.obstacle_response_hours * 60
        ),
        created_at=moment,
        updated_at=moment,
    )
    full_clean(obstacle)
    seen = impact.what_if(locked, task=task, delay_minutes=delay, now=moment)
    obstacle.impact = seen.as_json()
    obstacle.save()
    if checked.records:
        obstacle.records.add(*checked.records)
    recompute_delays(locked, now=moment)
    assert obstacle.respond_by is not None
    timers.schedule(
        organisation.pk,
        kind=TimerKind.OBSTACLE,
        subject_id=obstacle.pk,
        deadline=obstacle.respond_by,
        action=LEVEL_ACTIONS[1],
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.RAISED,
        target=obstacle,
        changes={
            "run": locked.pk,
            "task": task.pk if task else None,
            "severity": obstacle.severity,
            "cause": obstacle.cause,
            "expected_delay_minutes": delay,
            "respond_by": obstacle.respond_by,
            "records": [record.pk for record in checked.records],
            "finish_before": seen.finish_before,
            "finish_after": seen.finish_after,
            "status_before": seen.status_before,
            "status_after": seen.status_after,
        },
        personal_changes={
            "title": obstacle.title,
            "description": obstacle.description,
        },
    )
    _cite(
        checked.records,
        kind=CitingKind.OBSTACLE,
        obstacle=obstacle,
        actor=actor,
        now=moment,
    )
    locked.refresh_from_db(fields=["projected_finish_at", "schedule_status"])
    _tell_raised(obstacle, seen, actor=actor, now=moment)
    return obstacle


def _tell_raised(
    obstacle: Obstacle, seen: impact.Impact, *, actor: User, now: dt.datetime
) -> None:
    organisation = obstacle.organisation
    run = obstacle.run
    people, partners, elsewhere = _affected(
        obstacle, [moved.task_id for moved in seen.moved], now=now
    )
    people, partners = _without(organisation.pk, people, partners, actor)
    _tell_moved_elsewhere(
        obstacle,
        elsewhere,
        event_type=events.OBSTACLE_RAISED,
        key=f"obstacle:{obstacle.pk}:raised",
        closed=False,
        actor=actor,
        now=now,
    )
    finish = run.projected_finish_at or seen.finish_after
    raised_by = _person_of(organisation.pk, actor.pk)
    body = (
        gettext_lazy(
            "The run is now projected to finish {when}, which puts its target at risk."
        )
        if seen.puts_target_at_risk
        else gettext_lazy("The run is now projected to finish {when}.")
    )
    _tell_and_announce(
        obstacle,
        people=people,
        users=partners,
        event_type=events.OBSTACLE_RAISED,
        key=f"obstacle:{obstacle.pk}:raised",
        title=format_lazy(
            gettext_lazy("Obstacle on {run}: {title}"),
            run=run.title,
            title=obstacle.title,
        ),
        body=format_lazy(body, when=_local_moment(organisation, finish)),
        data=lambda: {
            "obstacle": _obstacle_data(obstacle),
            "run": _run_data(run, organisation),
            "task": _task_data(obstacle.task, organisation),
            "raised_by": _person_data(raised_by),
            "expected_delay_minutes": obstacle.expected_delay_minutes,
            "projected_finish_at": finish,
            "due_at": run.due_at,
            "puts_target_at_risk": bool(seen.puts_target_at_risk),
        },
        now=now,
    )


# --- changing -------------------------------------------------------------------------


@transaction.atomic
def update_obstacle(
    obstacle: Obstacle,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
    **changes: Any,
) -> Obstacle:
    """Change an open obstacle's title, description, severity, cause or expected
    delay (compare-and-set, audited `updated` with what changed). A new delay is
    carried into the schedule at once; the impact stored when it was raised
    stays as it was."""
    moment = _now(now)
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise ValidationFailed(
            {name: [_("This field cannot be changed here.")] for name in unknown}
        )
    current = _load(obstacle.pk)
    _require_manager(current, actor, moment)
    _require_open(current)
    if "expected_delay_minutes" in changes:
        changes["expected_delay_minutes"] = _check_delay(
            changes["expected_delay_minutes"]
        )
    for name in ("title", "description"):
        if name in changes:
            changes[name] = (changes[name] or "").strip()
            refuse_nul_characters(**{name: changes[name]})
    before = {name: getattr(current, name) for name in changes}
    for name, value in changes.items():
        setattr(current, name, value)
    full_clean(current)
    changed = {
        name: [before[name], value]
        for name, value in changes.items()
        if before[name] != value
    }
    if not changed:
        if (
            expected_version is not None
            and not Obstacle.objects.filter(
                pk=current.pk, version=expected_version
            ).exists()
        ):
            raise Conflict()
        return current
    run = _lock_run(current.run_id)
    compare_and_set(
        current,
        expected_version=expected_version,
        fields={**{name: changes[name] for name in changed}, "updated_at": moment},
    )
    if "expected_delay_minutes" in changed:
        recompute_delays(run, now=moment)
    # Free text may describe a person: the redactable half of the event.
    personal: dict[str, Any] = {
        name: changed.pop(name) for name in ("title", "description") if name in changed
    }
    audit.record(
        obstacle.organisation,
        actor=actor,
        verb=AuditVerb.UPDATED,
        target=current,
        changes=changed,
        personal_changes=personal,
    )
    return current


@transaction.atomic
def add_records(
    obstacle: Obstacle,
    *,
    actor: User,
    records: Sequence[InformationRecord],
    now: dt.datetime | None = None,
) -> Obstacle:
    """Let an open obstacle rest on more information records (cited; audited
    `updated` with the records added)."""
    moment = _now(now)
    # Locked: a resolution or withdrawal at the same moment waits, or is waited for.
    current = _load(obstacle.pk, lock=True)
    membership = _require_manager(current, actor, moment)
    _require_open(current)
    if not records:
        raise ValidationFailed({"records": [_("Choose at least one record.")]})
    checked = _check_records(
        records, run=current.run, membership=membership, need_evidence=False
    )
    if checked.errors:
        raise ValidationFailed({"records": checked.errors})
    already = set(current.records.values_list("pk", flat=True))
    new = [record for record in checked.records if record.pk not in already]
    if not new:
        return current
    current.records.add(*new)
    audit.record(
        current.organisation,
        actor=actor,
        verb=AuditVerb.UPDATED,
        target=current,
        changes={"records_added": [record.pk for record in new]},
    )
    _cite(new, kind=CitingKind.OBSTACLE, obstacle=current, actor=actor, now=moment)
    return current


# --- closing --------------------------------------------------------------------------


@transaction.atomic
def resolve(
    obstacle: Obstacle,
    *,
    actor: User,
    expected_version: int | None,
    resolution: str,
    records: Sequence[InformationRecord],
    now: dt.datetime | None = None,
) -> Obstacle:
    """Close the obstacle as resolved: a resolution text and at least one
    information record with at least one evidence item (unverified evidence is
    allowed; pages say the resolution rests on unverified information). The
    timer is cancelled, the delays recomputed, audited `resolved`, the records
    cited, the accountable and affected parties told (`obstacle.resolved`); a
    severe obstacle (high, critical) opens a review. Open mitigations stay open."""
    moment = _now(now)
    current = _load(obstacle.pk)
    membership = _require_manager(current, actor, moment)
    _require_open(current)
    errors: dict[str, list[str]] = {}
    text = (resolution or "").strip()
    if not text:
        errors["resolution"] = [_("Say how the obstacle was resolved.")]
    elif "\x00" in text:
        errors["resolution"] = [_("Null characters are not allowed.")]
    checked = _check_records(
        records, run=current.run, membership=membership, need_evidence=True
    )
    if checked.errors:
        errors["records"] = checked.errors
    elif not checked.records:
        errors["records"] = [
            _("Attach at least one information record with evidence of the resolution.")
        ]
    if errors:
        raise ValidationFailed(errors)
    run = _lock_run(current.run_id)
    compare_and_set(
        current,
        expected_version=expected_version,
        fields={
            "status": ObstacleStatus.RESOLVED,
            "resolution": text,
            "closed_by": actor,
            "closed_at": moment,
            "updated_at": moment,
        },
    )
    current.resolution_records.add(*checked.records)
    timers.cancel(TimerKind.OBSTACLE, current.pk, now=moment)
    recompute_delays(run, now=moment)
    audit.record(
        current.organisation,
        actor=actor,
        verb=AuditVerb.RESOLVED,
        target=current,
        changes={
            "records": [record.pk for record in checked.records],
            "unverified": sum(record.is_hearsay for record in checked.records),
        },
        personal_changes={"resolution": text},
    )
    _cite(
        checked.records,
        kind=CitingKind.OBSTACLE_RESOLUTION,
        obstacle=current,
        actor=actor,
        now=moment,
    )
    _tell_closed(current, actor=actor, now=moment)
    if current.severity in SEVERE:
        from rantai.obstacles import reviews

        reviews.open_review(
            run,
            trigger=ReviewTrigger.SEVERE_OBSTACLE,
            obstacle=current,
            actor=actor,
            now=moment,
        )
    return current


@transaction.atomic
def withdraw(
    obstacle: Obstacle,
    *,
    actor: User,
    expected_version: int | None,
    reason: str,
    now: dt.datetime | None = None,
) -> Obstacle:
    """Close the obstacle as withdrawn (raised by mistake, or no longer a
    threat), with the reason: timer cancelled, delays recomputed, audited
    `withdrawn`, the accountable and affected parties told."""
    moment = _now(now)
    current = _load(obstacle.pk)
    _require_manager(current, actor, moment)
    _require_open(current)
    text = _required_text("reason", reason, _("Say why the obstacle is withdrawn."))
    run = _lock_run(current.run_id)
    compare_and_set(
        current,
        expected_version=expected_version,
        fields={
            "status": ObstacleStatus.WITHDRAWN,
            "resolution": text,
            "closed_by": actor,
            "closed_at": moment,
            "updated_at": moment,
        },
    )
    timers.cancel(TimerKind.OBSTACLE, current.pk, now=moment)
    recompute_delays(run, now=moment)
    audit.record(
        current.organisation,
        actor=actor,
        verb=AuditVerb.WITHDRAWN,
        target=current,
        changes={},
        personal_changes={"reason": text},
    )
    _tell_closed(current, actor=actor, now=moment)
    return current


def _tell_closed(obstacle: Obstacle, *, actor: User, now: dt.datetime) -> None:
    organisation = obstacle.organisation
    run = obstacle.run
    people, partners, elsewhere = _affected(
        obstacle, _moved_task_ids(obstacle.impact), now=now
    )
    _tell_moved_elsewhere(
        obstacle,
        elsewhere,
        event_type=events.OBSTACLE_RESOLVED,
        key=f"obstacle:{obstacle.pk}:{obstacle.status}",
        closed=True,
        actor=actor,
        now=now,
    )
    raiser = _person_of(organisation.pk, obstacle.raised_by_id)
    if raiser is not None:
        people = sorted({*people, raiser.pk})
    else:
        partners = [*partners, *User.objects.filter(pk=obstacle.raised_by_id)]
    people, partners = _without(organisation.pk, people, partners, actor)
    resolved = obstacle.status == ObstacleStatus.RESOLVED
    closed_by = _person_of(organisation.pk, actor.pk)
    _tell_and_announce(
        obstacle,
        people=people,
        users=partners,
        event_type=events.OBSTACLE_RESOLVED,
        key=f"obstacle:{obstacle.pk}:{obstacle.status}",
        title=format_lazy(
            gettext_lazy("Obstacle resolved: {title} ({run})")
            if resolved
            else gettext_lazy("Obstacle withdrawn: {title} ({run})"),
            title=obstacle.title,
            run=run.title,
        ),
        data=lambda: {
            "obstacle": _obstacle_data(obstacle),
            "run": _run_data(run, organisation),
            "task": _task_data(obstacle.task, organisation),
            "closed_by": _person_data(closed_by),
            "outcome": "resolved" if resolved else "withdrawn",
        },
        now=now,
    )


# --- mitigations ----------------------------------------------------------------------


@transaction.atomic
def add_mitigation(
    obstacle: Obstacle,
    *,
    actor: User,
    description: str,
    owner: Person,
    due_at: dt.datetime,
    now: dt.datetime | None = None,
) -> Mitigation:
    """An action against an open obstacle with its owner (an active person of the
    organisation who can see the obstacle: a partner's person only one their
    party sees) and due date; audited `created`, the owner told
    (`mitigation.assigned`)."""
    moment = _now(now)
    # Locked: a resolution or withdrawal at the same moment waits, or is waited for.
    current = _load(obstacle.pk, lock=True)
    _require_manager(current, actor, moment)
    _require_open(current)
    text = _required_text("description", description, _("Say what will be done."))
    errors: dict[str, list[str]] = {}
    # Read again: the caller's copy says nothing sure about its organisation or
    # whether the person is still active.
    found = (
        Person.objects.filter(
            pk=owner.pk, organisation_id=current.organisation_id, is_active=True
        ).first()
        if owner is not None and owner.pk is not None
        else None
    )
    if found is None:
        errors["owner"] = [_("Choose an active person of the organisation.")]
    elif not _owner_sees(current, found):
        errors["owner"] = [
            _(
                "This person's party takes no part in what the obstacle holds up, "
                "so they could not see it: choose someone who can."
            )
        ]
    else:
        owner = found
    if not isinstance(due_at, dt.datetime) or timezone.is_naive(due_at):
        errors["due_at"] = [_("Give the date and time it is due.")]
    if errors:
        raise ValidationFailed(errors)
    mitigation = Mitigation(
        organisation_id=current.organisation_id,
        obstacle=current,
        description=text,
        owner=owner,
        due_at=due_at,
        created_by=actor,
        created_at=moment,
        updated_at=moment,
    )
    full_clean(mitigation)
    mitigation.save()
    audit.record(
        current.organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=mitigation,
        changes={"obstacle": current.pk, "owner": owner.pk, "due_at": due_at},
        personal_changes={"description": text},
    )
    _tell_owner(mitigation, owner, actor=actor, now=moment)
    return mitigation


def _tell_owner(
    mitigation: Mitigation, owner: Person, *, actor: User, now: dt.datetime
) -> None:
    obstacle = mitigation.obstacle
    organisation = obstacle.organisation
    run = obstacle.run
    people = [] if owner.user_id in (None, actor.pk) else [owner.pk]
    _tell_and_announce(
        obstacle,
        people=people,
        event_type=events.MITIGATION_ASSIGNED,
        key=f"mitigation:{mitigation.pk}:assigned",
        title=format_lazy(
            gettext_lazy("An action against an obstacle is yours: {title} ({run})"),
            title=obstacle.title,
            run=run.title,
        ),
        body=format_lazy(
            gettext_lazy("Due {when}."),
            when=_local_moment(organisation, mitigation.due_at),
        ),
        url=mitigation_path(mitigation),
        data=lambda: {
            "mitigation": {
                "id": mitigation.pk,
                "due_at": mitigation.due_at,
                "status": mitigation.status,
                "url": _absolute(mitigation_path(mitigation)),
            },
            "obstacle": _obstacle_data(obstacle),
            "run": _run_data(run, organisation),
            "owner": _person_data(owner),
        },
        now=now,
    )


def _load_mitigation(mitigation: Mitigation) -> Mitigation:
    found = (
        Mitigation.objects.select_related(
            "obstacle",
            "obstacle__organisation",
            "obstacle__run",
            "obstacle__run__procedure",
            "obstacle__task",
            "owner",
        )
        .filter(pk=mitigation.pk)
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def _settle_mitigation(
    mitigation: Mitigation,
    *,
    actor: User,
    expected_version: int | None,
    status: str,
    text: str,
    verb: str,
    now: dt.datetime,
) -> Mitigation:
    if mitigation.status != MitigationStatus.OPEN:
        raise ValidationFailed(
            _("This action is already done or cancelled."), code="not_open"
        )
    compare_and_set(
        mitigation,
        expected_version=expected_version,
        fields={
            "status": status,
            "outcome": text,
            "done_at": now,
            "done_by": actor,
            "updated_at": now,
        },
    )
    audit.record(
        mitigation.obstacle.organisation,
        actor=actor,
        verb=verb,
        target=mitigation,
        changes={"obstacle": mitigation.obstacle_id, "status": status},
        personal_changes={"outcome": text},
    )
    return mitigation


@transaction.atomic
def complete_mitigation(
    mitigation: Mitigation,
    *,
    actor: User,
    expected_version: int | None,
    outcome: str,
    now: dt.datetime | None = None,
) -> Mitigation:
    """The owner (their login) marks the action done with its outcome — or, for
    an owner without a login, someone who manages the obstacle. Also after the
    obstacle was closed. Compare-and-set, audited `completed`."""
    moment = _now(now)
    current = _load_mitigation(mitigation)
    membership = _membership(current.organisation_id, actor)
    obstacle = current.obstacle
    if membership.role == Role.PARTNER and not _partner_sees(obstacle, membership):
        raise NotFound()
    is_owner = current.owner.user_id == actor.pk and membership.role != Role.AUDITOR
    if not is_owner and not _may_manage(obstacle, membership, actor, moment):
        raise PermissionDenied(
            _("Only the action's owner (or whoever manages the obstacle) can do this.")
        )
    text = _required_text("outcome", outcome, _("Say what was done."))
    return _settle_mitigation(
        current,
        actor=actor,
        expected_version=expected_version,
        status=MitigationStatus.DONE,
        text=text,
        verb=AuditVerb.COMPLETED,
        now=moment,
    )


@transaction.atomic
def cancel_mitigation(
    mitigation: Mitigation,
    *,
    actor: User,
    expected_version: int | None,
    reason: str,
    now: dt.datetime | None = None,
) -> Mitigation:
    """Whoever manages the obstacle cancels an open action, with the reason;
    compare-and-set, audited `cancelled`."""
    moment = _now(now)
    current = _load_mitigation(mitigation)
    _require_manager(current.obstacle, actor, moment)
    text = _required_text("reason", reason, _("Say why the action is cancelled."))
    return _settle_mitigation(
        current,
        actor=actor,
        expected_version=expected_version,
        status=MitigationStatus.CANCELLED,
        text=text,
        verb=AuditVerb.CANCELLED,
        now=moment,
    )


# --- escalation -----------------------------------------------------------------------


def _level_of(timer: Timer) -> int:
    for level, action in LEVEL_ACTIONS.items():
        if timer.action == action:
            return level
    raise ValueError(f"an obstacle timer cannot {timer.action!r}")


def obstacle_timer_rule(timer: Timer, now: dt.datetime) -> str:
    """Fire an obstacle's escalation timer: still open, tell the holders of the
    accountable position and their stand-ins (level 1, then set level 2 one
    response period later) or of its superior (level 2); audited `escalated`.
    A resolved or withdrawn obstacle: nothing happens ("")."""
    found = (
        Obstacle.objects.select_for_update(of=("self",))
        .select_related("organisation", "run", "run__procedure", "task")
        .filter(pk=timer.subject_id)
        .first()
    )
    if found is None or found.status != ObstacleStatus.OPEN:
        return ""
    obstacle = found
    organisation = obstacle.organisation
    level = _level_of(timer)
    accountable_id = accountable_position_id(obstacle)
    accountable = (
        Position.objects.filter(pk=accountable_id).select_related("superior").first()
        if accountable_id is not None
        else None
    )
    told = accountable if level == 1 else (accountable and accountable.superior)
    Obstacle.objects.filter(pk=obstacle.pk).update(escalation_level=level)
    if told is None:
        audit.record(
            organisation,
            actor=None,
            verb=AuditVerb.ESCALATED,
            target=obstacle,
            changes={"level": level, "position": None, "notified": []},
        )
        return f"level {level}: no position to tell"
    holders = holders_of(organisation, [told.pk], on=_local_date(organisation, now))
    people = holders.get(told.pk, [])
    stand_ins = delegation.stand_ins(people, at=now, route_id=_ANY_ROUTE_ONLY)
    everyone = sorted(set(people) | set(stand_ins))
    run = obstacle.run
    title = (
        gettext_lazy("Obstacle still open, you are accountable: {title} ({run})")
        if level == 1
        else gettext_lazy("Obstacle still open in your line: {title} ({run})")
    )
    written = _tell_and_announce(
        obstacle,
        people=everyone,
        event_type=events.OBSTACLE_ESCALATED,
        key=f"obstacle:{obstacle.pk}:escalated:{level}:{timer.deadline.isoformat()}",
        title=format_lazy(title, title=obstacle.title, run=run.title),
        body=format_lazy(
            gettext_lazy("It was to be answered by {when}."),
            when=_local_moment(organisation, timer.deadline),
        ),
        data=lambda: {
            "obstacle": _obstacle_data(obstacle),
            "run": _run_data(run, organisation),
            "task": _task_data(obstacle.task, organisation),
            "position": {"id": told.pk, "code": told.code, "title": told.title},
            "level": level,
        },
        now=now,
    )
    audit.record(
        organisation,
        actor=None,
        verb=AuditVerb.ESCALATED,
        target=obstacle,
        changes={"level": level, "position": told.pk, "notified": everyone},
    )
    if level < MAX_LEVEL:
        hours = policy.settings_for(organisation).obstacle_response_hours
        deadline = add_working_minutes(
            calendar_spec(organisation), timer.deadline, hours * 60
        )
        timers.schedule(
            organisation.pk,
            kind=TimerKind.OBSTACLE,
            subject_id=obstacle.pk,
            deadline=deadline,
            action=LEVEL_ACTIONS[level + 1],
        )
    return f"level {level}: told {len(everyone)} people, {written} notified"
