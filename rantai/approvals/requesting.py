"""Asking for approval of what the chains engine does: due-date changes, deviations
and task completions — and the chains extensions that route them (registered by
`wiring.register()`).

* **Due-date change** — `request_due_date_change` is what pages and the API call:
  when a `due_date_change` route applies to the proposal it submits a request
  (payload `{"due_at", "reason", "from"}`), otherwise it moves the date directly
  (`chains.move_due_date`, with its own rule: a holder of the procedure's owner
  position). While a route applies, or a request of the run is pending, a
  decision gate refuses direct moves.
* **Deviation** — `request_deviation` emits `DeviationRequested`; when a
  `deviation` route applies, the handler submits a request in the same
  transaction; otherwise the accountable confirms as before. While a request is
  pending, or a route applies, the gate refuses direct decisions.
  `request_deviation_approval` asks again (after a withdrawal, or for a deviation
  requested before the route existed).
* **Task completion** — the completion guard holds back a task whose step
  requires approval until a request for its current completion round is
  approved. The `TaskAwaiting` handler submits the request when the guard says
  `approval` and none is pending; `TaskReopened` tells the engine the round
  changed (`subject_changed`). `request_task_approval` asks again after a
  rejection or withdrawal, or once a route exists. Partners take no part in
  approvals: when a partner completes such a task nothing is submitted, and a
  holder of the task's accountable position asks with `request_task_approval`.

**The requester's position** (the start of a `superior` stage) when the handlers
submit — they cannot ask — is, among the positions the requester holds on the
day (acting holdings count): the task's responsible position, else its
accountable position, else the procedure's owner position (for a deviation: of
the task it changes; for a new step: of the step it adds), else the one with the
lowest id. Someone who holds no position requests without one. The `request_*`
functions take an explicit `requester_position` and fall back on the same rule.

**Awaiting reasons** the guard stores (codes; `chains.extensions.reason_label`
gives the text pages show): `approval` (waiting for the approvers),
`approval_rejected`, `approval_withdrawn` (ask again) and `no_approval_route`
(no route applies — an administrator must define one).
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.approvals import adapters, routes, services
from rantai.approvals.models import (
    ApprovalRequest,
    RequestStatus,
    RouteVersion,
    SubjectKind,
)
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.extensions import (
    ALLOW,
    DeviationRequested,
    GuardResult,
    TaskAwaiting,
    TaskReopened,
)
from rantai.chains.models import (
    FINAL_RUN_STATUSES,
    Deviation,
    DeviationStatus,
    Run,
    Task,
    TaskStatus,
)
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.org.models import Holding, Person, Position

# Awaiting reasons (codes stored in Task.awaiting_reasons).
APPROVAL = "approval"
APPROVAL_REJECTED = "approval_rejected"
APPROVAL_WITHDRAWN = "approval_withdrawn"
NO_APPROVAL_ROUTE = "no_approval_route"

REASON_LABELS = {
    APPROVAL: gettext_lazy("approval"),
    APPROVAL_REJECTED: gettext_lazy("approval rejected — ask for it again"),
    APPROVAL_WITHDRAWN: gettext_lazy("approval request withdrawn — ask for it again"),
    NO_APPROVAL_ROUTE: gettext_lazy(
        "no approval route applies — ask an administrator to define one"
    ),
}

PENDING = (RequestStatus.OPEN, RequestStatus.RETURNED)


# --- helpers ----------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _organisation(organisation_id: int) -> Organisation:
    """Enough of the organisation for `routes.match` (its id)."""
    return Organisation(pk=organisation_id)


def _pending(kind: str, subject_id: int) -> ApprovalRequest | None:
    return (
        ApprovalRequest.objects.filter(
            subject_kind=kind, subject_id=subject_id, status__in=PENDING
        )
        .select_related("route_version__route")
        .first()
    )


def _lock_run(run_id: int) -> None:
    """Lock the run first, as the chains services do (one lock order)."""
    list(Run.objects.select_for_update().filter(pk=run_id).values_list("pk"))


def _user(user_id: int | None) -> User | None:
    if user_id is None:
        return None
    return User.objects.filter(pk=user_id).first()


def _takes_part(organisation_id: int, user: User) -> bool:
    """Whether the user may ask for approvals: an active administrator or member
    linked to a person of the organisation."""
    return (
        user.is_active
        and Membership.objects.filter(
            organisation_id=organisation_id,
            user=user,
            is_active=True,
            role__in=(Role.ADMIN, Role.MEMBER),
        ).exists()
        and Person.objects.filter(
            organisation_id=organisation_id, user=user, is_active=True
        ).exists()
    )


def _require_member(organisation_id: int, actor: User) -> None:
    role = (
        Membership.objects.filter(
            organisation_id=organisation_id, user=actor, is_active=True
        )
        .values_list("role", flat=True)
        .first()
        if actor.is_active
        else None
    )
    if role is None:
        raise NotFound()
    if role not in (Role.ADMIN, Role.MEMBER):
        raise PermissionDenied()


def position_for_request(
    organisation_id: int,
    user: User,
    preferred: Iterable[int | None],
    *,
    at: dt.datetime,
) -> int | None:
    """The position a request of `user` is made from (the rule in the module
    docstring): the first of `preferred` they hold on the organisation's day of
    `at`, else the one they hold with the lowest id; None when they hold none."""
    person_id = (
        Person.objects.filter(
            organisation_id=organisation_id, user=user, is_active=True
        )
        .values_list("pk", flat=True)
        .first()
    )
    if person_id is None:
        return None
    time_zone = (
        Organisation.objects.filter(pk=organisation_id)
        .values_list("time_zone", flat=True)
        .get()
    )
    day = at.astimezone(zoneinfo.ZoneInfo(time_zone)).date()
    held = sorted(
        set(
            Holding.objects.current(day)
            .filter(organisation_id=organisation_id, person_id=person_id)
            .values_list("position_id", flat=True)
        )
    )
    if not held:
        return None
    return next((pk for pk in preferred if pk in held), held[0])


def _check_requester_position(organisation_id: int, position: Position | None) -> None:
    if position is not None and position.organisation_id != organisation_id:
        raise ValidationFailed(
            {"requester_position": [_("This belongs to another organisation.")]}
        )


# --- due-date changes -------------------------------------------------------------


def due_date_route(run: Run, due_at: dt.datetime) -> RouteVersion | None:
    """The route a change of the run's due date to `due_at` takes, if any."""
    return routes.match(
        _organisation(run.organisation_id),
        SubjectKind.DUE_DATE_CHANGE,
        adapters.due_date_fields(run, due_at),
    )


@transaction.atomic
def request_due_date_change(
    run: Run,
    *,
    actor: User,
    due_at: dt.datetime,
    reason: str,
    expected_version: int | None = None,
    requester_position: Position | None = None,
    now: dt.datetime | None = None,
) -> ApprovalRequest | Run:
    """Ask to move a run's due date: an approval request when a `due_date_change`
    route applies to the proposal (any administrator or member may ask; the route
    decides), else the date moves now (`chains.move_due_date`: only a holder of
    the procedure's owner position may). Returns the request, or the run moved."""
    now = _now(now)
    locked = (
        Run.objects.select_for_update(of=("self",))
        .select_related("procedure", "organisation")
        .filter(pk=run.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    _require_member(locked.organisation_id, actor)
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed({"reason": [_("This field is required.")]})
    if timezone.is_naive(due_at):
        raise ValidationFailed({"due_at": [_("The due date needs a time zone.")]})
    if due_at <= locked.started_at:
        raise ValidationFailed(
            {"due_at": [_("The due date must be after the run started.")]}
        )
    if locked.status in FINAL_RUN_STATUSES:
        raise ValidationFailed(
            {
                "status": [
                    _("The run is %(status)s, so its due date cannot move.")
                    % {"status": locked.get_status_display()}
                ]
            },
            code="illegal_transition",
        )
    if expected_version is not None and expected_version != locked.version:
        raise Conflict()
    pending = _pending(SubjectKind.DUE_DATE_CHANGE, locked.pk)
    if pending is not None:
        raise ValidationFailed(
            {
                "due_at": [
                    _(
                        "A change of this run's due date is already waiting for "
                        "approval."
                    )
                ]
            },
            code="pending_approval",
        )
    route = due_date_route(locked, due_at)
    if route is None:
        return chains.move_due_date(
            locked,
            actor=actor,
            expected_version=expected_version,
            due_at=due_at,
            reason=text,
            now=now,
        )
    _check_requester_position(locked.organisation_id, requester_position)
    position: Position | int | None = requester_position
    if position is None:
        position = position_for_request(
            locked.organisation_id,
            actor,
            [locked.procedure.owner_position_id],
            at=now,
        )
    return services.submit(
        SubjectKind.DUE_DATE_CHANGE,
        locked.pk,
        actor=actor,
        requester_position=position,
        payload={
            "due_at": due_at.isoformat(),
            "reason": text,
            "from": locked.due_at.isoformat(),
        },
        route_version=route,
        now=now,
    )


# --- deviations -------------------------------------------------------------------


def _deviation_preferred(deviation: Deviation) -> list[int | None]:
    """Positions to request a deviation from, in the order of the rule."""
    owner = deviation.run.procedure.owner_position_id
    if deviation.task is not None:
        return [
            deviation.task.responsible_position_id,
            deviation.task.accountable_position_id,
            owner,
        ]
    details = deviation.details or {}
    return [
        details.get("responsible_position"),
        details.get("accountable_position"),
        owner,
    ]


def deviation_route(deviation: Deviation) -> RouteVersion | None:
    """The route a deviation takes, if any."""
    return routes.match(
        _organisation(deviation.organisation_id),
        SubjectKind.DEVIATION,
        adapters.deviation_fields(deviation),
    )


def _submit_deviation(
    deviation: Deviation,
    route: RouteVersion,
    *,
    actor: User,
    requester_position: Position | int | None,
    now: dt.datetime,
) -> ApprovalRequest:
    if requester_position is None:
        requester_position = position_for_request(
            deviation.organisation_id,
            actor,
            _deviation_preferred(deviation),
            at=now,
        )
    return services.submit(
        SubjectKind.DEVIATION,
        deviation.pk,
        actor=actor,
        requester_position=requester_position,
        route_version=route,
        now=now,
    )


def on_deviation_requested(event: DeviationRequested) -> None:
    """A deviation was asked for: when a route applies, its request is submitted
    in the same transaction, with the deviation's requester as requester."""
    deviation = adapters.load_deviation(event.deviation_id)
    route = deviation_route(deviation)
    if route is None:
        return  # the accountable position confirms it directly
    actor = _user(event.actor_id)
    if actor is None:
        return
    _submit_deviation(
        deviation, route, actor=actor, requester_position=None, now=event.at
    )


@transaction.atomic
def request_deviation_approval(
    deviation: Deviation,
    *,
    actor: User,
    requester_position: Position | None = None,
    now: dt.datetime | None = None,
) -> ApprovalRequest:
    """Ask again for approval of a requested deviation along the route that
    applies to it (after its request was withdrawn, or when the route was
    published after the deviation was requested). The deviation's requester, or
    an administrator, asks."""
    now = _now(now)
    _lock_run(deviation.run_id)
    locked = adapters.load_deviation(deviation.pk)
    _require_member(locked.organisation_id, actor)
    is_admin = Membership.objects.filter(
        organisation_id=locked.organisation_id,
        user=actor,
        is_active=True,
        role=Role.ADMIN,
    ).exists()
    if actor.pk != locked.requested_by_id and not is_admin:
        raise PermissionDenied(
            _("Only whoever asked for the deviation (or an administrator) can do this.")
        )
    if locked.status != DeviationStatus.REQUESTED:
        raise ValidationFailed(
            _("This deviation was already decided."), code="illegal_transition"
        )
    if _pending(SubjectKind.DEVIATION, locked.pk) is not None:
        raise ValidationFailed(
            _("This deviation is already waiting for approval."),
            code="pending_approval",
        )
    route = deviation_route(locked)
    if route is None:
        raise ValidationFailed(
            _(
                "No approval route applies to this deviation: a holder of the "
                "accountable position decides it."
            ),
            code="no_route",
        )
    _check_requester_position(locked.organisation_id, requester_position)
    return _submit_deviation(
        locked, route, actor=actor, requester_position=requester_position, now=now
    )


# --- task completions -------------------------------------------------------------


def _with_run(task: Task) -> Task:
    """The task with its run and procedure (loaded when they are not)."""
    if Task.run.is_cached(task) and Run.procedure.is_cached(task.run):
        return task
    return adapters.load_task(task.pk)


def task_route(task: Task) -> RouteVersion | None:
    """The route a task's completion takes, if any."""
    return routes.match(
        _organisation(task.organisation_id),
        SubjectKind.TASK_COMPLETION,
        adapters.task_fields(_with_run(task)),
    )


def task_approval_reason(task: Task) -> str | None:
    """Why the task's approval holds it back (an awaiting reason code), or None
    when its current completion round is approved."""
    current = adapters.completion_round(task)
    being_settled = adapters.settling(task.pk)
    if being_settled is not None and being_settled[1] == current:
        return None if being_settled[0] == RequestStatus.APPROVED else APPROVAL_REJECTED
    latest = (
        ApprovalRequest.objects.filter(
            subject_kind=SubjectKind.TASK_COMPLETION, subject_id=task.pk
        )
        .order_by("-id")
        .values_list("status", "subject_version")
        .first()
    )
    if latest is not None:
        status, version = latest
        if status in PENDING:
            return APPROVAL
        if version == current:
            if status == RequestStatus.APPROVED:
                return None
            if status == RequestStatus.REJECTED:
                return APPROVAL_REJECTED
            return APPROVAL_WITHDRAWN
    # Nothing asked for this round yet: the TaskAwaiting handler asks when a route
    # applies.
    return APPROVAL if task_route(task) is not None else NO_APPROVAL_ROUTE


def completion_guard(task: Task) -> GuardResult:
    """A task whose step requires approval is done only once the request for its
    current completion round is approved. Ordinary tasks cost no query."""
    if not task.requires_approval:
        return ALLOW
    reason = task_approval_reason(task)
    return ALLOW if reason is None else GuardResult(False, reason)


def _task_preferred(task: Task) -> list[int | None]:
    return [
        task.responsible_position_id,
        task.accountable_position_id,
        task.run.procedure.owner_position_id,
    ]


def _submit_task(
    task: Task,
    route: RouteVersion,
    *,
    actor: User,
    requester_position: Position | int | None,
    now: dt.datetime,
) -> ApprovalRequest:
    if requester_position is None:
        requester_position = position_for_request(
            task.organisation_id, actor, _task_preferred(task), at=now
        )
    return services.submit(
        SubjectKind.TASK_COMPLETION,
        task.pk,
        actor=actor,
        requester_position=requester_position,
        route_version=route,
        now=now,
    )


def on_task_awaiting(event: TaskAwaiting) -> None:
    """The guard said `approval` and nothing is pending: submit the request, with
    whoever tried to complete (or re-check) the task as requester."""
    if APPROVAL not in event.reasons:
        return
    if _pending(SubjectKind.TASK_COMPLETION, event.task_id) is not None:
        return
    actor = _user(event.actor_id)
    if actor is None or not _takes_part(event.organisation_id, actor):
        # A partner completed it: approvals are asked by the organisation's own
        # people — the accountable asks (`request_task_approval`).
        return
    task = adapters.load_task(event.task_id)
    route = task_route(task)
    if route is None:
        return
    _submit_task(task, route, actor=actor, requester_position=None, now=event.at)


def on_task_reopened(event: TaskReopened) -> None:
    """A reopened task starts a new completion round: decisions on the old one no
    longer count (`services.subject_changed`)."""
    row = (
        Task.objects.filter(pk=event.task_id)
        .values_list("requires_approval", "reopen_count")
        .first()
    )
    if row is None or not row[0]:
        return
    if not ApprovalRequest.objects.filter(
        subject_kind=SubjectKind.TASK_COMPLETION, subject_id=event.task_id
    ).exists():
        return
    actor = _user(event.actor_id)
    if actor is None:
        return
    services.subject_changed(
        SubjectKind.TASK_COMPLETION,
        event.task_id,
        new_version=row[1] + 1,
        actor=actor,
        now=event.at,
    )


@transaction.atomic
def request_task_approval(
    task: Task,
    *,
    actor: User,
    requester_position: Position | None = None,
    now: dt.datetime | None = None,
) -> ApprovalRequest:
    """Ask (again) for approval of an awaiting task's completion: after a
    rejection or a withdrawal, once a route applies, or for a partner's task.
    Whoever may act on the task, or holds its accountable position, asks; the
    task's awaiting reasons are brought up to date."""
    now = _now(now)
    _lock_run(task.run_id)
    locked = adapters.load_task(task.pk)
    if not (
        chains.may_act_on(locked, actor, now=now)
        or chains.holds_position(
            locked.run.organisation,
            actor,
            locked.accountable_position_id,
            on=adapters.local_date(locked.run, now),
        )
    ):
        raise PermissionDenied(
            _(
                "Only the task's assignee or the holders of its positions can ask "
                "for its approval."
            )
        )
    if not locked.requires_approval:
        raise ValidationFailed(
            _("This task does not need approval."), code="illegal_transition"
        )
    if locked.status != TaskStatus.AWAITING:
        raise ValidationFailed(
            _("Approval is asked for once the task is completed."),
            code="illegal_transition",
        )
    reason = task_approval_reason(locked)
    if reason is None:
        raise ValidationFailed(
            _("The completion of this task is already approved."),
            code="illegal_transition",
        )
    if reason == APPROVAL and _pending(SubjectKind.TASK_COMPLETION, locked.pk):
        raise ValidationFailed(
            _("This task is already waiting for approval."), code="pending_approval"
        )
    route = task_route(locked)
    if route is None:
        raise ValidationFailed(
            _(
                "No approval route applies to this task: ask an administrator to "
                "define one."
            ),
            code="no_route",
        )
    _check_requester_position(locked.organisation_id, requester_position)
    request = _submit_task(
        locked, route, actor=actor, requester_position=requester_position, now=now
    )
    chains.recheck_task(locked, actor=actor, expected_version=None, now=now)
    return request


# --- the decision gate ------------------------------------------------------------


def decision_gate(
    kind: str, subject_id: int, proposal: Mapping[str, Any]
) -> str | None:
    """Refuse a direct decision that belongs to an approval route: on a deviation
    with a pending request or a route that applies; a direct move of a run's due
    date while a change is pending or a route applies to the proposal."""
    if kind == extensions.DEVIATION_DECISION:
        pending = _pending(SubjectKind.DEVIATION, subject_id)
        if pending is not None:
            return _(
                "This deviation is waiting for approval along the route "
                "“%(route)s”; it is decided there."
            ) % {"route": pending.route_version.route.name}
        route = deviation_route(adapters.load_deviation(subject_id))
        if route is not None:
            return _(
                "The approval route “%(route)s” applies to this deviation: ask for "
                "approval along it instead of deciding directly."
            ) % {"route": route.route.name}
        return None
    if kind == extensions.DUE_DATE_CHANGE:
        pending = _pending(SubjectKind.DUE_DATE_CHANGE, subject_id)
        if pending is not None:
            return _(
                "A change of this run's due date is waiting for approval along the "
                "route “%(route)s”."
            ) % {"route": pending.route_version.route.name}
        due_at = proposal.get("due_at")
        if isinstance(due_at, dt.datetime):
            route = due_date_route(adapters.load_run(subject_id), due_at)
            if route is not None:
                return _(
                    "The approval route “%(route)s” applies to this change of the "
                    "due date: ask for approval instead of moving it directly."
                ) % {"route": route.route.name}
    return None
