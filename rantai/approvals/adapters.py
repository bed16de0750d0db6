"""The approval subjects of the chains engine: a deviation, a due-date change of a
run and the completion of a task (docs/design-coordination.md, "Subject kinds and
their adapters"). `wiring.register()` registers them.

Decisions made here (the design left them open):

* **Titles** are stored with the request, so they cannot follow the reader's
  language. They hold data only, no words: `"<run title> — <what>"`, where *what*
  is the task's name (a skipped or reordered task, a task to approve), the new
  step's name (a step added by a deviation) or nothing (a due-date change: the
  proposal lives in the payload). Pages show the subject kind's label, translated,
  beside it.
* **Versions** decisions bind to: a deviation's own `version` (it changes only when
  the deviation is decided); a due-date change: always 1 (the subject is the run,
  the proposal is the request's payload, and a new proposal is a new request or a
  resubmission); a task completion: the task's *completion round*,
  `reopen_count + 1`. `Task.version` is not used: it moves with bookkeeping that
  does not change the work being approved (awaiting reasons brought up to date,
  a "check again" flag), and an approval must survive that; a reopen starts a new
  round of work, and `TaskReopened` tells the engine (`subject_changed`).
* **Due-date fields**: `days_later` depends on the proposal, which the run (the
  subject) does not hold. `fields(run)` reads it from the run's pending request,
  if any; `requesting.request_due_date_change` matches the route itself with the
  proposal's fields and hands the engine the route version it found.
* **Effects** run as the final approver (`actor`): a deviation is confirmed or
  rejected with `via_route=True` (the approver's authority was checked by the
  engine; every other rule of the chains service still holds), the last
  decision's comment becoming the deviation's decision comment. An approved
  due-date change moves the date the same way; a rejected one changes nothing
  (the engine's audit event records it). An approved task completion re-checks
  the task, which now passes the completion guard and is done; a rejected one
  re-checks it too, so its reasons say "approval rejected" (the requester asks
  again with `requesting.request_task_approval`). A task whose run is suspended
  (or no longer awaiting) is left alone: the guard reads the approval when the
  task is checked again. The engine calls the effects before it stores the
  request's final status, so while they run `settling(task_id)` tells the guard
  how the request is being settled.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import Model, QuerySet
from django.utils.translation import gettext as _

from rantai.accounts.models import User
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    RequestStatus,
    SubjectKind,
)
from rantai.approvals.subjects import Adapter
from rantai.chains import services as chains
from rantai.chains.models import (
    Deviation,
    DeviationKind,
    Run,
    RunStatus,
    Task,
    TaskStatus,
)
from rantai.core.errors import NotFound, ValidationFailed

TITLE_LENGTH = 300
PENDING_STATUSES = (RequestStatus.OPEN, RequestStatus.RETURNED)


def _title(run: Run, what: str = "") -> str:
    title = f"{run.title} — {what}" if what else run.title
    if len(title) > TITLE_LENGTH:
        title = title[: TITLE_LENGTH - 1] + "…"
    return title


def run_fields(run: Run) -> dict[str, Any]:
    """`run.<key>` for every field value of the run."""
    return {f"run.{key}": value for key, value in (run.field_values or {}).items()}


def _load[M: Model](queryset: QuerySet[M], pk: int) -> M:
    try:
        return queryset.get(pk=pk)
    except ObjectDoesNotExist as error:
        raise NotFound() from error


def _last_comment(request: ApprovalRequest, user: User) -> str:
    """The comment of the decision that settled the request (the user's last one)."""
    return (
        Decision.objects.filter(request_id=request.pk, decided_by_id=user.pk)
        .order_by("-decided_at", "-id")
        .values_list("comment", flat=True)
        .first()
        or ""
    )


def local_date(run: Run, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(run.organisation.time_zone)).date()


# --- deviation --------------------------------------------------------------------


def load_deviation(pk: int) -> Deviation:
    return _load(
        Deviation.objects.select_related("run__procedure", "run__organisation", "task"),
        pk,
    )


def deviation_title(deviation: Deviation) -> str:
    if deviation.kind == DeviationKind.ADD_STEP:
        what = str((deviation.details or {}).get("name", ""))
    else:
        what = deviation.task.name if deviation.task is not None else ""
    return _title(deviation.run, what)


def deviation_fields(deviation: Deviation) -> dict[str, Any]:
    return {
        "procedure": deviation.run.procedure.code,
        "kind": deviation.kind,
        **run_fields(deviation.run),
    }


def deviation_approved(
    deviation: Deviation, request: ApprovalRequest, actor: User, at: dt.datetime
) -> None:
    chains.confirm_deviation(
        deviation,
        actor=actor,
        expected_version=None,
        comment=_last_comment(request, actor),
        via_route=True,
        now=at,
    )


def deviation_rejected(
    deviation: Deviation, request: ApprovalRequest, actor: User, at: dt.datetime
) -> None:
    chains.reject_deviation(
        deviation,
        actor=actor,
        expected_version=None,
        comment=_last_comment(request, actor),
        via_route=True,
        now=at,
    )


DEVIATION = Adapter(
    kind=SubjectKind.DEVIATION,
    load=load_deviation,
    organisation_id=lambda deviation: deviation.organisation_id,
    run_id=lambda deviation: deviation.run_id,
    title=deviation_title,
    fields=deviation_fields,
    version=lambda deviation: deviation.version,
    accountable_position_id=chains.confirmer_position_id,
    on_approved=deviation_approved,
    on_rejected=deviation_rejected,
    field_names=lambda: {
        "procedure": _("procedure (its code)"),
        "kind": _("kind of deviation (skip_step, add_step, reorder)"),
    },
)


# --- due-date change --------------------------------------------------------------


def load_run(pk: int) -> Run:
    return _load(Run.objects.select_related("procedure", "organisation"), pk)


def days_later(run: Run, due_at: dt.datetime) -> int:
    """Calendar days from the run's due date to `due_at` in the organisation's
    time zone (negative when earlier)."""
    return (local_date(run, due_at) - local_date(run, run.due_at)).days


def due_date_fields(run: Run, due_at: dt.datetime | None = None) -> dict[str, Any]:
    """The fields of a due-date change of the run to `due_at`; without it, the
    proposal of the run's pending request (if any) gives `days_later`."""
    fields: dict[str, Any] = {"procedure": run.procedure.code, **run_fields(run)}
    if due_at is None:
        payload = (
            ApprovalRequest.objects.filter(
                subject_kind=SubjectKind.DUE_DATE_CHANGE,
                subject_id=run.pk,
                status__in=PENDING_STATUSES,
            )
            .values_list("payload", flat=True)
            .first()
        )
        if payload and payload.get("due_at"):
            due_at = parse_moment(payload["due_at"])
    if due_at is not None:
        fields["days_later"] = days_later(run, due_at)
    return fields


def parse_moment(text: str) -> dt.datetime:
    moment = dt.datetime.fromisoformat(text)
    if moment.tzinfo is None:
        raise ValueError(f"a stored moment has no time zone: {text!r}")
    return moment


def due_date_approved(
    run: Run, request: ApprovalRequest, actor: User, at: dt.datetime
) -> None:
    payload = request.payload or {}
    try:
        due_at = parse_moment(str(payload["due_at"]))
    except (KeyError, ValueError) as error:
        raise ValidationFailed(
            {"due_at": [_("The request does not say which due date it proposes.")]}
        ) from error
    chains.move_due_date(
        run,
        actor=actor,
        expected_version=None,
        due_at=due_at,
        reason=str(payload.get("reason", "")),
        via_route=True,
        now=at,
    )


def due_date_rejected(
    run: Run, request: ApprovalRequest, actor: User, at: dt.datetime
) -> None:
    """Nothing changes; the engine's audit event records the rejection."""


DUE_DATE_CHANGE = Adapter(
    kind=SubjectKind.DUE_DATE_CHANGE,
    load=load_run,
    organisation_id=lambda run: run.organisation_id,
    run_id=lambda run: run.pk,
    title=lambda run: _title(run),
    fields=due_date_fields,
    version=lambda run: 1,
    accountable_position_id=lambda run: run.procedure.owner_position_id,
    on_approved=due_date_approved,
    on_rejected=due_date_rejected,
    field_names=lambda: {
        "procedure": _("procedure (its code)"),
        "days_later": _("days later (calendar days; negative when earlier)"),
    },
)


# --- task completion --------------------------------------------------------------


def load_task(pk: int) -> Task:
    return _load(Task.objects.select_related("run__procedure", "run__organisation"), pk)


def completion_round(task: Task) -> int:
    """What decisions on a task's completion bind to (see the module docstring)."""
    return task.reopen_count + 1


def task_fields(task: Task) -> dict[str, Any]:
    return {
        "procedure": task.run.procedure.code,
        "step": task.name,
        **run_fields(task.run),
    }


# task id -> (request status being settled, the completion round it binds to),
# while an approved or rejected request's effect runs.
_settling: ContextVar[dict[int, tuple[str, int]]] = ContextVar("settling")


def settling(task_id: int) -> tuple[str, int] | None:
    """How a request on the task's completion is being settled right now (status,
    round), while its effect runs; None otherwise."""
    return _settling.get({}).get(task_id)


@contextmanager
def _settles(task_id: int, status: str, round_: int) -> Iterator[None]:
    token = _settling.set({**_settling.get({}), task_id: (status, round_)})
    try:
        yield
    finally:
        _settling.reset(token)


def _recheck(task: Task, actor: User, at: dt.datetime) -> None:
    """Check the task again if it is still awaiting in an active run."""
    run_status = (
        Run.objects.select_for_update()
        .filter(pk=task.run_id)
        .values_list("status", flat=True)
        .get()
    )
    task.refresh_from_db()
    if task.status != TaskStatus.AWAITING or run_status != RunStatus.ACTIVE:
        return
    chains.recheck_task(task, actor=actor, expected_version=None, now=at)


def task_approved(
    task: Task, request: ApprovalRequest, actor: User, at: dt.datetime
) -> None:
    with _settles(task.pk, RequestStatus.APPROVED, request.subject_version):
        _recheck(task, actor, at)


def task_rejected(
    task: Task, request: ApprovalRequest, actor: User, at: dt.datetime
) -> None:
    with _settles(task.pk, RequestStatus.REJECTED, request.subject_version):
        _recheck(task, actor, at)


TASK_COMPLETION = Adapter(
    kind=SubjectKind.TASK_COMPLETION,
    load=load_task,
    organisation_id=lambda task: task.organisation_id,
    run_id=lambda task: task.run_id,
    title=lambda task: _title(task.run, task.name),
    fields=task_fields,
    version=completion_round,
    accountable_position_id=lambda task: task.accountable_position_id,
    on_approved=task_approved,
    on_rejected=task_rejected,
    field_names=lambda: {
        "procedure": _("procedure (its code)"),
        "step": _("step (its name)"),
    },
)

ADAPTERS = (DEVIATION, DUE_DATE_CHANGE, TASK_COMPLETION)
