"""Runs: a published procedure version executed toward a target (an objective, a
measure and a due date), its schedule by the critical path method, and the
deviations recorded on it.

A partner sees the runs its party owns a task in, and of those only its own tasks
and their deviations; other runs are 404.
"""

import datetime as dt
from decimal import Decimal
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from rantai.accounts.access import Access
from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    created,
    org_access,
    require,
    resolve,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.routers.approvals import ApprovalRequestOut, location
from rantai.api.routers.procedures import two_places
from rantai.api.routers.tasks import TaskOut
from rantai.api.versions import IF_MATCH, expected_version, with_etag
from rantai.approvals import queries as approval_queries
from rantai.approvals import requesting
from rantai.approvals.models import ApprovalRequest
from rantai.chains import projection, queries
from rantai.chains import services as chains
from rantai.chains.models import (
    DependencyKind,
    Deviation,
    DeviationKind,
    DeviationStatus,
    ProcedureVersion,
    Run,
    RunField,
    RunStatus,
    ScheduleStatus,
    Task,
    TaskStatus,
)
from rantai.core.errors import ValidationFailed
from rantai.insight import queries as insight_queries

router = Router(tags=["runs"])


# --- schemas ----------------------------------------------------------------------


class TargetOut(Schema):
    objective: str
    measure_quantity: Decimal
    measure_unit: str
    due_at: dt.datetime


class ProjectionOut(Schema):
    """Kept current after every change: when the run is projected to finish and
    how that compares with the due date."""

    projected_finish_at: dt.datetime | None
    schedule_status: ScheduleStatus


class RunOut(Schema):
    id: int
    procedure_id: int
    procedure_code: str
    procedure_name: str
    procedure_version_id: int
    procedure_version_number: int
    title: str
    target: TargetOut
    contributes_to_target_id: int | None = Field(
        None,
        description="The organisation's target (`/targets/{id}`) whose progress "
        "this run counts toward, if any.",
    )
    field_values: dict[str, Any]
    status: RunStatus
    status_reason: str
    started_by_id: int
    started_at: dt.datetime
    completed_at: dt.datetime | None
    result: Literal["met", "missed"] | None = Field(
        None, description="Against the target, once completed."
    )
    late_by_minutes: int | None
    actual_quantity: Decimal | None
    projection: ProjectionOut
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_contributes_to_target_id(run: Run) -> int | None:
        return run.target_id

    @staticmethod
    def resolve_procedure_code(run: Run) -> str:
        return run.procedure.code

    @staticmethod
    def resolve_procedure_name(run: Run) -> str:
        return run.procedure.name

    @staticmethod
    def resolve_procedure_version_number(run: Run) -> int:
        return run.procedure_version.number

    @staticmethod
    def resolve_target(run: Run) -> dict[str, Any]:
        return {
            "objective": run.objective,
            "measure_quantity": two_places(run.measure_quantity),
            "measure_unit": run.measure_unit,
            "due_at": run.due_at.astimezone(dt.UTC),
        }

    @staticmethod
    def resolve_result(run: Run) -> str | None:
        return run.result or None

    @staticmethod
    def resolve_actual_quantity(run: Run) -> Decimal | None:
        if run.actual_quantity is None:
            return None
        return two_places(run.actual_quantity)

    @staticmethod
    def resolve_late_by_minutes(run: Run) -> int | None:
        if run.result_delay is None:
            return None
        return int(run.result_delay.total_seconds() // 60)

    @staticmethod
    def resolve_projection(run: Run) -> dict[str, Any]:
        return {
            "projected_finish_at": run.projected_finish_at,
            "schedule_status": run.schedule_status,
        }


class TaskDependencyOut(Schema):
    id: int
    predecessor_id: int
    successor_id: int
    kind: DependencyKind
    lag_minutes: int


class DeviationOut(Schema):
    id: int
    run_id: int
    kind: DeviationKind
    task_id: int | None
    details: dict[str, Any]
    reason: str
    requested_by_id: int
    requested_at: dt.datetime
    status: DeviationStatus
    decided_by_id: int | None
    decided_at: dt.datetime | None
    decision_comment: str
    version: int


class RunDetailOut(RunOut):
    """The run with its tasks, their dependencies and its deviations (for a
    partner: its own party's)."""

    tasks: list[TaskOut]
    dependencies: list[TaskDependencyOut]
    deviations: list[DeviationOut]

    @staticmethod
    def resolve_tasks(run: Run) -> list[Task]:
        return run.detail.tasks  # type: ignore[attr-defined,no-any-return]

    @staticmethod
    def resolve_dependencies(run: Run) -> list[Any]:
        return run.detail.dependencies  # type: ignore[attr-defined,no-any-return]

    @staticmethod
    def resolve_deviations(run: Run) -> list[Deviation]:
        return run.detail.deviations  # type: ignore[attr-defined,no-any-return]


class RunFilters(Schema):
    status: RunStatus | None = None
    procedure_id: int | None = None
    party_id: int | None = Field(
        None, description="Runs the party takes part in (it or its positions)."
    )
    schedule_status: ScheduleStatus | None = None


class RunStart(Schema):
    """Start a run of a published version. The due date is either a date (the end
    of that working day) or an exact moment with its time zone."""

    version_id: int = Field(..., description="The published procedure version.")
    title: str
    objective: str = ""
    measure_quantity: Decimal = Field(..., gt=0)
    measure_unit: str
    due_date: dt.date | None = None
    due_at: dt.datetime | None = None
    field_values: dict[str, Any] = Field(
        default_factory=dict, description="Run field key → value."
    )
    contributes_to_target_id: int | None = Field(
        None,
        description="An active target of the organisation, in the run's unit, "
        "that the run counts toward.",
    )


class RunReason(Schema):
    reason: str
    version: int | None = None


class DueDateMove(Schema):
    """A new due date (a date or an exact moment) and why."""

    due_date: dt.date | None = None
    due_at: dt.datetime | None = None
    reason: str
    version: int | None = None


class ActualQuantity(Schema):
    actual_quantity: Decimal = Field(..., ge=0)
    version: int | None = None


class ScheduleTaskOut(Schema):
    """A task's place in the schedule (UTC); slack in working minutes."""

    task_id: int
    key: str
    name: str
    status: TaskStatus
    duration_minutes: int
    earliest_start: dt.datetime
    earliest_finish: dt.datetime
    latest_start: dt.datetime
    latest_finish: dt.datetime
    slack_minutes: int
    critical: bool


class ScheduleOut(Schema):
    """The run's schedule by the critical path method, computed when read: actual
    times for what has started or finished, estimates for the rest, nothing
    unfinished before now."""

    run_id: int
    computed_at: dt.datetime
    due_at: dt.datetime
    projected_finish: dt.datetime
    status: ScheduleStatus
    critical_path: list[int] = Field(..., description="Task ids, in order.")
    tasks: list[ScheduleTaskOut]


class DeviationFilters(Schema):
    status: DeviationStatus | None = None


class DeviationRequest(Schema):
    """Skip a step, add one, or change a task's predecessors, with a reason.

    * `skip_step`: `task_id`.
    * `reorder`: `task_id` and `predecessors` (its new finish-to-start
      predecessors, task ids).
    * `add_step`: `key`, `name`, `duration_minutes`, `responsible_position_id` or
      `responsible_party_id`, `accountable_position_id`, and where it goes:
      `after` and `before` (task ids).
    """

    kind: DeviationKind
    reason: str
    task_id: int | None = None
    predecessors: list[int] = []
    key: str | None = None
    name: str | None = None
    duration_minutes: int | None = None
    responsible_position_id: int | None = None
    responsible_party_id: int | None = None
    accountable_position_id: int | None = None
    after: list[int] = []
    before: list[int] = []


class DeviationDecision(Schema):
    comment: str = ""
    version: int | None = None


# A decision sent without a body (its version then comes in If-Match).
NO_DECISION = DeviationDecision()


# --- helpers ----------------------------------------------------------------------


def _due_at(
    access: Access, due_date: dt.date | None, due_at: dt.datetime | None
) -> dt.datetime:
    if (due_date is None) == (due_at is None):
        raise ValidationFailed(
            {"due_at": [_("Send either due_date or due_at (one of them).")]}
        )
    if due_date is not None:
        return chains.due_at_for_date(access.organisation, due_date)
    assert due_at is not None
    return due_at


# --- runs -------------------------------------------------------------------------


@router.get("/runs", response=list[RunOut])
@paginate(Pagination)
def list_runs(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[RunFilters]
) -> QuerySet[Run]:
    """Runs, newest first (a partner: those its party owns a task in)."""
    return queries.runs(
        org_access(request, org_slug),
        status=filters.status,
        procedure=filters.procedure_id,
        party=filters.party_id,
        schedule_status=filters.schedule_status,
    )


@router.get("/runs/{run_id}", response=RunDetailOut)
def get_run(
    request: HttpRequest, org_slug: OrgSlug, run_id: int, response: HttpResponse
) -> Run:
    """The run with its target, projection, tasks, dependencies and deviations."""
    detail = queries.run_detail(org_access(request, org_slug), run_id)
    run = detail.run
    run.detail = detail  # type: ignore[attr-defined]
    return single(response, run)


@router.post("/runs", response={201: RunOut})
@idempotent
def start_run(
    request: HttpRequest, org_slug: OrgSlug, payload: RunStart, response: HttpResponse
) -> Run:
    """Start a run: its tasks are copied from the version's steps; those whose
    dependencies are satisfied are ready at once."""
    access = org_access(request, org_slug)
    version = require(
        ProcedureVersion.objects.filter(organisation=access.organisation),
        payload.version_id,
        "version_id",
    )
    due_at = _due_at(access, payload.due_date, payload.due_at)
    target = (
        None
        if payload.contributes_to_target_id is None
        # Only a target the caller may see: a hidden one looks unknown.
        else require(
            insight_queries.targets(access),
            payload.contributes_to_target_id,
            "contributes_to_target_id",
        )
    )
    try:
        run = chains.start_run(
            version,
            actor=access.user,
            title=payload.title,
            objective=payload.objective,
            measure_quantity=payload.measure_quantity,
            measure_unit=payload.measure_unit,
            due_at=due_at,
            field_values=payload.field_values,
            target=target,
        )
    except ValidationFailed as error:
        if "target" in error.errors:
            errors = dict(error.errors)
            errors["contributes_to_target_id"] = errors.pop("target")
            raise ValidationFailed(errors) from error
        # A run field's problem names the field inside `field_values`.
        keys = set(
            RunField.objects.filter(procedure_version=version).values_list(
                "key", flat=True
            )
        )
        if not keys & set(error.errors):
            raise
        raise ValidationFailed(
            {
                (f"field_values.{name}" if name in keys else name): messages
                for name, messages in error.errors.items()
            }
        ) from error
    return created(request, response, run)


def _steer(
    request: HttpRequest,
    org_slug: str,
    run_id: int,
    response: HttpResponse,
    version: int | None,
    action: Any,
    **arguments: Any,
) -> Run:
    access = org_access(request, org_slug)
    run = action(
        queries.run(access, run_id),
        actor=access.user,
        expected_version=expected_version(request, version),
        **arguments,
    )
    return single(response, run)


@router.post("/runs/{run_id}/suspend", response=RunOut, openapi_extra=IF_MATCH)
@idempotent
def suspend_run(
    request: HttpRequest,
    org_slug: OrgSlug,
    run_id: int,
    payload: RunReason,
    response: HttpResponse,
) -> Run:
    """active → suspended (the procedure's owner or an administrator)."""
    return _steer(
        request,
        org_slug,
        run_id,
        response,
        payload.version,
        chains.suspend_run,
        reason=payload.reason,
    )


@router.post("/runs/{run_id}/resume", response=RunOut, openapi_extra=IF_MATCH)
@idempotent
def resume_run(
    request: HttpRequest,
    org_slug: OrgSlug,
    run_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Run:
    """suspended → active."""
    return _steer(
        request, org_slug, run_id, response, payload.version, chains.resume_run
    )


@router.post("/runs/{run_id}/cancel", response=RunOut, openapi_extra=IF_MATCH)
@idempotent
def cancel_run(
    request: HttpRequest,
    org_slug: OrgSlug,
    run_id: int,
    payload: RunReason,
    response: HttpResponse,
) -> Run:
    """active or suspended → cancelled (final); unfinished tasks are cancelled."""
    return _steer(
        request,
        org_slug,
        run_id,
        response,
        payload.version,
        chains.cancel_run,
        reason=payload.reason,
    )


@router.post(
    "/runs/{run_id}/move-due-date",
    response={200: RunOut, 202: ApprovalRequestOut},
    openapi_extra=IF_MATCH,
)
@idempotent
def move_due_date(
    request: HttpRequest,
    org_slug: OrgSlug,
    run_id: int,
    payload: DueDateMove,
    response: HttpResponse,
) -> Run | Status[ApprovalRequest]:
    """When an approval route for due-date changes applies to the proposal, the
    change is asked for instead: 202 with the approval request (its `Location`);
    the date moves once it is approved. Otherwise the date moves now (200 with the
    run), which only the accountable of the procedure — a holder of its owner
    position — may do (administrators without the position may not)."""
    access = org_access(request, org_slug)
    due_at = _due_at(access, payload.due_date, payload.due_at)
    moved = requesting.request_due_date_change(
        queries.run(access, run_id),
        actor=access.user,
        due_at=due_at,
        reason=payload.reason,
        expected_version=expected_version(request, payload.version),
    )
    if isinstance(moved, Run):
        return single(response, moved)
    response["Location"] = location(request, org_slug, f"approvals/requests/{moved.pk}")
    with_etag(response, moved)
    return Status(202, approval_queries.request(access, moved.pk))


@router.post("/runs/{run_id}/record-result", response=RunOut, openapi_extra=IF_MATCH)
@idempotent
def record_result(
    request: HttpRequest,
    org_slug: OrgSlug,
    run_id: int,
    payload: ActualQuantity,
    response: HttpResponse,
) -> Run:
    """What a completed run actually achieved; short of the target quantity, the
    result is missed even when it was on time."""
    return _steer(
        request,
        org_slug,
        run_id,
        response,
        payload.version,
        chains.record_actual_quantity,
        actual_quantity=payload.actual_quantity,
    )


@router.get("/runs/{run_id}/schedule", response=ScheduleOut)
def run_schedule(
    request: HttpRequest, org_slug: OrgSlug, run_id: int
) -> dict[str, Any]:
    """Per task: earliest and latest start and finish, slack, whether it is
    critical; the critical path; the projected finish; the status against the due
    date (a partner: its own tasks only)."""
    access = org_access(request, org_slug)
    run = queries.run(access, run_id)
    now = timezone.now()
    schedule = projection.full_schedule(run, now=now)
    tasks = list(
        queries.tasks(access)
        .filter(run=run)
        .order_by("sort_order", "id")
        .values_list("id", "key", "name", "status", "duration_minutes")
    )
    visible = {task[0] for task in tasks}
    rows = []
    for task_id, key, name, status, duration in tasks:
        place = schedule.tasks[task_id]
        rows.append(
            {
                "task_id": task_id,
                "key": key,
                "name": name,
                "status": status,
                "duration_minutes": duration,
                "earliest_start": place.earliest_start,
                "earliest_finish": place.earliest_finish,
                "latest_start": place.latest_start,
                "latest_finish": place.latest_finish,
                "slack_minutes": place.slack_minutes,
                "critical": place.critical,
            }
        )
    return {
        "run_id": run.pk,
        "computed_at": now,
        "due_at": run.due_at,
        "projected_finish": schedule.projected_finish,
        "status": schedule.status,
        "critical_path": [pk for pk in schedule.critical_path if pk in visible],
        "tasks": rows,
    }


# --- deviations -------------------------------------------------------------------


@router.get("/runs/{run_id}/deviations", response=list[DeviationOut])
@paginate(Pagination)
def list_deviations(
    request: HttpRequest,
    org_slug: OrgSlug,
    run_id: int,
    filters: Query[DeviationFilters],
) -> QuerySet[Deviation]:
    """Every deviation ever asked for on the run, oldest first."""
    access = org_access(request, org_slug)
    run = queries.run(access, run_id)
    deviations = queries.deviations(access).filter(run=run)
    if filters.status is not None:
        deviations = deviations.filter(status=filters.status)
    return deviations.order_by("requested_at", "id")


@router.post("/runs/{run_id}/deviations", response={201: DeviationOut})
@idempotent
def request_deviation(
    request: HttpRequest,
    org_slug: OrgSlug,
    run_id: int,
    payload: DeviationRequest,
    response: HttpResponse,
) -> Deviation:
    """Ask to depart from the procedure in this run. It applies once a holder of
    the accountable position other than you confirms it."""
    access = org_access(request, org_slug)
    run = queries.run(access, run_id)
    details: dict[str, Any] = {}
    if payload.kind == DeviationKind.REORDER:
        details = {"predecessors": payload.predecessors}
    elif payload.kind == DeviationKind.ADD_STEP:
        details = {
            "key": payload.key or "",
            "name": payload.name or "",
            "duration_minutes": payload.duration_minutes,
            "responsible_position": payload.responsible_position_id,
            "responsible_party": payload.responsible_party_id,
            "accountable_position": payload.accountable_position_id,
            "after": payload.after,
            "before": payload.before,
        }
    deviation = chains.request_deviation(
        run,
        actor=access.user,
        kind=payload.kind,
        reason=payload.reason,
        task=resolve(Task.objects.filter(run=run), payload.task_id, "task_id"),
        details=details,
    )
    prefix = request.path.split(f"/orgs/{org_slug}/", 1)[0]
    response["Location"] = f"{prefix}/orgs/{org_slug}/deviations/{deviation.pk}"
    with_etag(response, deviation)
    return deviation


@router.get("/deviations/{deviation_id}", response=DeviationOut)
def get_deviation(
    request: HttpRequest, org_slug: OrgSlug, deviation_id: int, response: HttpResponse
) -> Deviation:
    access = org_access(request, org_slug)
    return single(response, queries.deviation(access, deviation_id))


def _decide(
    request: HttpRequest,
    org_slug: str,
    deviation_id: int,
    payload: DeviationDecision,
    response: HttpResponse,
    action: Any,
) -> Deviation:
    access = org_access(request, org_slug)
    deviation = action(
        queries.deviation(access, deviation_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        comment=payload.comment,
    )
    return single(response, deviation)


@router.post(
    "/deviations/{deviation_id}/confirm",
    response=DeviationOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def confirm_deviation(
    request: HttpRequest,
    org_slug: OrgSlug,
    deviation_id: int,
    response: HttpResponse,
    payload: DeviationDecision = NO_DECISION,
) -> Deviation:
    """Confirm and apply it: a holder of the accountable position of the task it
    changes (for a new step, of the procedure's owner position) who did not ask."""
    return _decide(
        request, org_slug, deviation_id, payload, response, chains.confirm_deviation
    )


@router.post(
    "/deviations/{deviation_id}/reject",
    response=DeviationOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def reject_deviation(
    request: HttpRequest,
    org_slug: OrgSlug,
    deviation_id: int,
    response: HttpResponse,
    payload: DeviationDecision = NO_DECISION,
) -> Deviation:
    """Refuse it; it stays on the run, rejected."""
    return _decide(
        request, org_slug, deviation_id, payload, response, chains.reject_deviation
    )
