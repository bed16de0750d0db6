"""Tasks: a run's copies of its procedure's steps, and the people's actions on them.

Who may act is the engine's rule: a task's assignee; while it is unassigned, any
current holder of its responsible position; holders of its accountable position;
for a partner's step, that party's users only. Everyone else gets 403. A partner
sees only its own party's tasks (others are 404).
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    org_access,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.versions import IF_MATCH, expected_version
from rantai.chains import queries
from rantai.chains import services as chains
from rantai.chains.models import (
    DependencyKind,
    RaciRole,
    RunStatus,
    ScheduleStatus,
    Task,
    TaskStatus,
)

router = Router(tags=["tasks"])


class TaskOut(Schema):
    id: int
    run_id: int
    step_id: int | None
    added_by_deviation_id: int | None
    key: str
    name: str
    sort_order: int
    status: TaskStatus
    duration_minutes: int
    requires_evidence: bool
    requires_verified_evidence: bool
    requires_approval: bool
    responsible_position_id: int | None
    responsible_party_id: int | None
    accountable_position_id: int
    assignee_id: int | None
    ready_at: dt.datetime | None
    started_at: dt.datetime | None
    done_at: dt.datetime | None
    skipped_reason: str
    awaiting_reasons: list[str]
    flagged_after_reopen: bool
    reopen_count: int
    last_reopen_reason: str
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class TaskRoleOut(Schema):
    role: RaciRole
    position_id: int | None
    party_id: int | None


class TaskLinkOut(Schema):
    """A dependency of the task, naming the task at its other end."""

    task_id: int
    kind: DependencyKind
    lag_minutes: int


class TaskDetailOut(TaskOut):
    roles: list[TaskRoleOut]
    predecessors: list[TaskLinkOut]
    successors: list[TaskLinkOut]

    @staticmethod
    def resolve_roles(task: Task) -> list[Any]:
        return list(task.roles.all())

    @staticmethod
    def resolve_predecessors(task: Task) -> list[dict[str, Any]]:
        return [
            {
                "task_id": link.predecessor_id,
                "kind": link.kind,
                "lag_minutes": link.lag_minutes,
            }
            for link in task.predecessor_links.all()
        ]

    @staticmethod
    def resolve_successors(task: Task) -> list[dict[str, Any]]:
        return [
            {
                "task_id": link.successor_id,
                "kind": link.kind,
                "lag_minutes": link.lag_minutes,
            }
            for link in task.successor_links.all()
        ]


class RunBriefOut(Schema):
    id: int
    title: str
    status: RunStatus
    due_at: dt.datetime
    schedule_status: ScheduleStatus


class MyTaskOut(TaskOut):
    run: RunBriefOut


class TaskFilters(Schema):
    status: TaskStatus | None = None


class MyTaskFilters(Schema):
    include_pending: bool = Field(
        False, description="Also the tasks still waiting on others (what comes next)."
    )


class TaskReopen(Schema):
    """Why the task is done again (required)."""

    reason: str
    version: int | None = None


@router.get("/runs/{run_id}/tasks", response=list[TaskOut])
@paginate(Pagination)
def list_run_tasks(
    request: HttpRequest, org_slug: OrgSlug, run_id: int, filters: Query[TaskFilters]
) -> QuerySet[Task]:
    """A run's tasks in procedure order (a partner: its own party's)."""
    access = org_access(request, org_slug)
    run = queries.run(access, run_id)
    tasks = queries.tasks(access).filter(run=run)
    if filters.status is not None:
        tasks = tasks.filter(status=filters.status)
    return tasks.order_by("sort_order", "id")


@router.get("/my-tasks", response=list[MyTaskOut])
@paginate(Pagination)
def my_tasks(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[MyTaskFilters]
) -> list[Task]:
    """The caller's next actions in active runs: tasks assigned to them, tasks they
    can claim through the positions they hold and, for a partner, its party's
    tasks; soonest due first."""
    return queries.my_tasks(
        org_access(request, org_slug), include_pending=filters.include_pending
    )


@router.get("/tasks/{task_id}", response=TaskDetailOut)
def get_task(
    request: HttpRequest, org_slug: OrgSlug, task_id: int, response: HttpResponse
) -> Task:
    """A task with its roles and the tasks it waits on and that wait on it."""
    access = org_access(request, org_slug)
    return single(response, queries.task_detail(access, task_id))


def _act(
    request: HttpRequest,
    org_slug: str,
    task_id: int,
    response: HttpResponse,
    version: int | None,
    action: Callable[..., Task],
    **arguments: Any,
) -> Task:
    access = org_access(request, org_slug)
    task = action(
        queries.task(access, task_id),
        actor=access.user,
        expected_version=expected_version(request, version),
        **arguments,
    )
    return single(response, task)


@router.post("/tasks/{task_id}/claim", response=TaskOut, openapi_extra=IF_MATCH)
@idempotent
def claim_task(
    request: HttpRequest,
    org_slug: OrgSlug,
    task_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Task:
    """Take an unassigned task of a position you hold (it has several holders)."""
    return _act(
        request, org_slug, task_id, response, payload.version, chains.claim_task
    )


@router.post("/tasks/{task_id}/start", response=TaskOut, openapi_extra=IF_MATCH)
@idempotent
def start_task(
    request: HttpRequest,
    org_slug: OrgSlug,
    task_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Task:
    """ready → in progress; start-to-start successors are released."""
    return _act(
        request, org_slug, task_id, response, payload.version, chains.start_task
    )


@router.post("/tasks/{task_id}/complete", response=TaskOut, openapi_extra=IF_MATCH)
@idempotent
def complete_task(
    request: HttpRequest,
    org_slug: OrgSlug,
    task_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Task:
    """ready or in progress → done, releasing its successors; or awaiting, with
    the reasons in `awaiting_reasons`, while a completion guard says no."""
    return _act(
        request, org_slug, task_id, response, payload.version, chains.complete_task
    )


@router.post("/tasks/{task_id}/recheck", response=TaskOut, openapi_extra=IF_MATCH)
@idempotent
def recheck_task(
    request: HttpRequest,
    org_slug: OrgSlug,
    task_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Task:
    """awaiting → done once every completion guard says yes."""
    return _act(
        request, org_slug, task_id, response, payload.version, chains.recheck_task
    )


@router.post("/tasks/{task_id}/reopen", response=TaskOut, openapi_extra=IF_MATCH)
@idempotent
def reopen_task(
    request: HttpRequest,
    org_slug: OrgSlug,
    task_id: int,
    payload: TaskReopen,
    response: HttpResponse,
) -> Task:
    """A done task of an active run is done again: successors that have not
    started go back to pending, started ones are flagged."""
    return _act(
        request,
        org_slug,
        task_id,
        response,
        payload.version,
        chains.reopen_task,
        reason=payload.reason,
    )
