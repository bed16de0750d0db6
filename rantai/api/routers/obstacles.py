"""Anticipation (docs/design-obstacles.md): obstacles with the delay they are
expected to cause — carried into the run's schedule the moment they are raised —
what a delay would do before anything is saved (what-if), mitigations with owners
and due dates, closing an obstacle with a resolution backed by evidence, and the
early warnings the worker's scan raises.

Administrators, members and auditors read every obstacle and warning of the
organisation; an external partner reads those of the runs its party takes part
in — on the run as a whole, or on its own party's tasks — and of an impact only
its own party's moved tasks by name (the others are counted). Members,
administrators and partners raise obstacles (a partner on its own tasks or the
whole run); the raiser, the holders of the accountable position and
administrators change, resolve and withdraw them and manage their mitigations; a
mitigation's owner completes it. Auditors read only (403 before anything is
looked up). A warning is acknowledged by the people it is for.
"""

import datetime as dt
from collections.abc import Callable
from typing import Any

from django.db import models
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate
from pydantic import AwareDatetime

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.api.common import OrgSlug, Pagination, org_access, require, resolve
from rantai.api.idempotency import idempotent
from rantai.api.routers.approvals import field_names
from rantai.api.routers.evidence import org_url
from rantai.api.versions import IF_MATCH, expected_version, with_etag
from rantai.chains import queries as chains_queries
from rantai.chains.models import (
    FINAL_RUN_STATUSES,
    FINISHED_STATUSES,
    Run,
    ScheduleStatus,
    Task,
    TaskStatus,
)
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.evidence import citations
from rantai.evidence import queries as evidence_queries
from rantai.evidence.models import InformationRecord, RecordKind, RecordStatus
from rantai.obstacles import impact as impacts
from rantai.obstacles import obstacles as services
from rantai.obstacles import queries, warnings
from rantai.obstacles.models import (
    Cause,
    EarlyWarning,
    Mitigation,
    MitigationStatus,
    Obstacle,
    ObstacleStatus,
    Severity,
    WarningKind,
)
from rantai.org import queries as org_queries

router = Router(tags=["obstacles"])

FIELDS = {
    "owner": "owner_id",
    "records": "record_ids",
    "run": "run_id",
}
MAX_DELAY = services.MAX_DELAY_MINUTES


def now() -> dt.datetime:
    """The moment a what-if is computed for (tests fix it)."""
    return timezone.now()


def _writer(request: HttpRequest, org_slug: str) -> Access:
    """Auditors read obstacles and change nothing (403, before anything is looked
    up); the services decide the rest."""
    access = org_access(request, org_slug)
    if access.role not in (Role.ADMIN, Role.MEMBER, Role.PARTNER):
        raise PermissionDenied(_("Auditors read obstacles; they do not act on them."))
    return access


# --- impact -------------------------------------------------------------------------------


class MovedTaskOut(Schema):
    """An unfinished task the delay moves."""

    task_id: int
    name: str
    key: str
    shift_minutes: int = Field(..., description="Working minutes its finish moves.")
    finish_before: dt.datetime
    finish_after: dt.datetime
    party_id: int | None = Field(None, description="The responsible party.")
    position_id: int | None = Field(None, description="The responsible position.")


class ImpactOut(Schema):
    """What a delay does to the run: the tasks it moves (in task order), the
    projected finish and the status against the due date (on_track, at_risk,
    late) before and after. A partner sees its own party's moved tasks; the
    others are counted in `other_moved`."""

    delay_minutes: int = Field(..., description="Working minutes.")
    moved: list[MovedTaskOut]
    other_moved: int = Field(0, description="Moved tasks of other parties (partners).")
    finish_before: dt.datetime
    finish_after: dt.datetime
    due_at: dt.datetime
    status_before: ScheduleStatus
    status_after: ScheduleStatus
    puts_target_at_risk: bool = Field(..., description="The status got worse.")


def impact_out(seen: impacts.Impact, access: Access) -> dict[str, Any]:
    party_id = access.partner_party_id
    shown = [
        moved for moved in seen.moved if party_id is None or moved.party_id == party_id
    ]
    return {
        "delay_minutes": seen.delay_minutes,
        "moved": [
            {
                "task_id": moved.task_id,
                "name": moved.name,
                "key": moved.key,
                "shift_minutes": moved.shift_minutes,
                "finish_before": moved.finish_before,
                "finish_after": moved.finish_after,
                "party_id": moved.party_id,
                "position_id": moved.position_id,
            }
            for moved in shown
        ],
        "other_moved": len(seen.moved) - len(shown),
        "finish_before": seen.finish_before,
        "finish_after": seen.finish_after,
        "due_at": seen.due_at,
        "status_before": seen.status_before,
        "status_after": seen.status_after,
        "puts_target_at_risk": seen.puts_target_at_risk,
    }


class WhatIfIn(Schema):
    delay_minutes: int = Field(
        ..., ge=1, le=MAX_DELAY, description="The expected delay, in working minutes."
    )
    task_id: int | None = Field(
        None, description="On one task (else: the run as a whole)."
    )


class TaskWhatIfIn(Schema):
    delay_minutes: int = Field(
        ..., ge=1, le=MAX_DELAY, description="The expected delay, in working minutes."
    )


def _open_tasks(access: Access, run: Run) -> QuerySet[Task]:
    """The run's unfinished tasks the caller may hold up."""
    return (
        chains_queries.tasks(access)
        .filter(run_id=run.pk)
        .exclude(status__in=[*FINISHED_STATUSES, TaskStatus.CANCELLED])
    )


def _what_if(
    access: Access, run: Run, task: Task | None, minutes: int
) -> dict[str, Any]:
    if run.status in FINAL_RUN_STATUSES:
        raise ValidationFailed(
            _("This run is finished: no obstacle can be raised on it."),
            code="run_final",
        )
    return impact_out(
        impacts.what_if(run, task=task, delay_minutes=minutes, now=now()),
        access,
    )


@router.post("/runs/{run_id}/obstacles/what-if", response=ImpactOut)
@idempotent
def run_what_if(
    request: HttpRequest, org_slug: OrgSlug, run_id: int, payload: WhatIfIn
) -> dict[str, Any]:
    """What an expected delay on the run as a whole (or on one of its unfinished
    tasks, `task_id`) would do, as the run stands now — nothing is saved: which
    tasks move and by how much, the projected finish and the status against the
    due date before and after."""
    access = _writer(request, org_slug)
    run = chains_queries.run(access, run_id)
    task = resolve(_open_tasks(access, run), payload.task_id, "task_id")
    return _what_if(access, run, task, payload.delay_minutes)


@router.post("/tasks/{task_id}/obstacles/what-if", response=ImpactOut)
@idempotent
def task_what_if(
    request: HttpRequest, org_slug: OrgSlug, task_id: int, payload: TaskWhatIfIn
) -> dict[str, Any]:
    """What an expected delay on this unfinished task would do (nothing is
    saved)."""
    access = _writer(request, org_slug)
    task = chains_queries.task(access, task_id)
    if not _open_tasks(access, task.run).filter(pk=task.pk).exists():
        raise ValidationFailed(
            {"task_id": [_("This task is finished: it cannot be held up any more.")]}
        )
    return _what_if(access, task.run, task, payload.delay_minutes)


# --- obstacles ----------------------------------------------------------------------------


class RecordRefOut(Schema):
    """An information record an obstacle rests on, with its status now."""

    id: int
    kind: RecordKind
    title: str
    status: RecordStatus
    is_hearsay: bool


class MitigationOut(Schema):
    id: int
    obstacle_id: int
    description: str
    owner_id: int
    owner_name: str
    due_at: dt.datetime
    status: MitigationStatus
    outcome: str = Field(..., description="What was done, or why it was cancelled.")
    created_by_id: int
    done_at: dt.datetime | None = Field(None, description="Done or cancelled at.")
    done_by_id: int | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_owner_name(mitigation: Mitigation) -> str:
        return mitigation.owner.full_name


class ObstacleOut(Schema):
    id: int
    run_id: int
    run_title: str
    procedure_code: str
    task_id: int | None = Field(None, description="Empty: the whole run.")
    task_name: str | None
    title: str
    description: str
    cause: Cause
    severity: Severity
    expected_delay_minutes: int = Field(..., description="Working minutes.")
    status: ObstacleStatus
    raised_by_id: int
    raised_at: dt.datetime
    respond_by: dt.datetime | None = Field(
        None, description="Escalates if still open at."
    )
    escalation_level: int
    closed_by_id: int | None
    closed_at: dt.datetime | None
    resolution: str = Field(..., description="How it was resolved, or why withdrawn.")
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_run_title(obstacle: Obstacle) -> str:
        return obstacle.run.title

    @staticmethod
    def resolve_procedure_code(obstacle: Obstacle) -> str:
        return obstacle.run.procedure.code

    @staticmethod
    def resolve_task_name(obstacle: Obstacle) -> str | None:
        task = obstacle.task
        return task.name if task is not None else None


class ObstacleDetailOut(ObstacleOut):
    """An obstacle with its impact when raised, what it rests on, its resolution's
    evidence and its mitigations."""

    impact: ImpactOut | None = Field(None, description="As computed when raised.")
    records: list[RecordRefOut] = Field(..., description="Supporting information.")
    rests_on_unverified: bool
    resolution_records: list[RecordRefOut]
    resolution_rests_on_unverified: bool
    mitigations: list[MitigationOut]
    may_manage: bool = Field(
        ..., description="You may change, resolve or withdraw it, add mitigations."
    )

    @staticmethod
    def resolve_impact(obstacle: Obstacle) -> dict[str, Any] | None:
        return obstacle.impact_shown  # type: ignore[attr-defined,no-any-return]

    @staticmethod
    def resolve_records(obstacle: Obstacle) -> list[InformationRecord]:
        return list(obstacle.records.all())

    @staticmethod
    def resolve_rests_on_unverified(obstacle: Obstacle) -> bool:
        return citations.rests_on_unverified(obstacle.records.all())

    @staticmethod
    def resolve_resolution_records(obstacle: Obstacle) -> list[InformationRecord]:
        return list(obstacle.resolution_records.all())

    @staticmethod
    def resolve_resolution_rests_on_unverified(obstacle: Obstacle) -> bool:
        return citations.rests_on_unverified(obstacle.resolution_records.all())

    @staticmethod
    def resolve_mitigations(obstacle: Obstacle) -> list[Mitigation]:
        return list(obstacle.mitigations.all())


def obstacle_answer(
    access: Access, obstacle_id: int, response: HttpResponse
) -> Obstacle:
    """The obstacle as the caller sees it now, with its ETag."""
    obstacle = queries.obstacle(access, obstacle_id)
    obstacle.impact_shown = (  # type: ignore[attr-defined]
        impact_out(impacts.Impact.from_json(obstacle.impact), access)
        if obstacle.impact
        else None
    )
    obstacle.may_manage = access.role != Role.AUDITOR and queries.may_manage(  # type: ignore[attr-defined]
        access, obstacle
    )
    with_etag(response, obstacle)
    return obstacle


def _created(
    request: HttpRequest, access: Access, response: HttpResponse, obstacle_id: int
) -> Obstacle:
    response["Location"] = org_url(request, f"obstacles/{obstacle_id}")
    return obstacle_answer(access, obstacle_id, response)


def _records(access: Access, ids: list[int]) -> list[InformationRecord]:
    """The records named, of those the caller sees (422 on `record_ids` else)."""
    wanted = list(dict.fromkeys(ids))
    found = {
        record.pk: record
        for record in evidence_queries.visible_records(access).filter(pk__in=wanted)
    }
    missing = [pk for pk in wanted if pk not in found]
    if missing:
        raise ValidationFailed(
            {
                "record_ids": [
                    _("There is no information record {id} here.").format(id=pk)
                    for pk in missing
                ]
            }
        )
    return [found[pk] for pk in wanted]


class ObstacleFilters(Schema):
    run_id: int | None = None
    task_id: int | None = None
    status: ObstacleStatus | None = None
    severity: Severity | None = None


class ObstacleIn(Schema):
    """An obstacle on a run (or on one of its unfinished tasks) with the delay it
    is expected to cause."""

    run_id: int
    task_id: int | None = Field(None, description="Empty: the whole run.")
    title: str = Field(..., max_length=200)
    description: str
    expected_delay_minutes: int = Field(
        ..., ge=1, le=MAX_DELAY, description="Working minutes."
    )
    severity: Severity = Severity.MEDIUM
    cause: Cause = Cause.OTHER
    record_ids: list[int] = Field(
        default_factory=list, description="Supporting information records."
    )


class ObstaclePatch(Schema):
    """Change an open obstacle; fields left out keep their value."""

    title: str | None = Field(None, max_length=200)
    description: str | None = None
    severity: Severity | None = None
    cause: Cause | None = None
    expected_delay_minutes: int | None = Field(None, ge=1, le=MAX_DELAY)
    version: int | None = None


class RecordsIn(Schema):
    record_ids: list[int] = Field(..., min_length=1)


class ResolveIn(Schema):
    """How it was resolved, backed by at least one record with evidence."""

    resolution: str
    record_ids: list[int] = Field(
        ..., description="Records with at least one evidence item each."
    )
    version: int | None = None


class WithdrawIn(Schema):
    reason: str = Field(..., description="Raised by mistake, or no longer a threat.")
    version: int | None = None


@router.get("/obstacles", response=list[ObstacleOut])
@paginate(Pagination)
def list_obstacles(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[ObstacleFilters]
) -> QuerySet[Obstacle]:
    """The obstacles you may see, newest first."""
    return queries.obstacles(
        org_access(request, org_slug),
        run=filters.run_id,
        task=filters.task_id,
        status=filters.status,
        severity=filters.severity,
    )


@router.get("/obstacles/{obstacle_id}", response=ObstacleDetailOut)
def get_obstacle(
    request: HttpRequest, org_slug: OrgSlug, obstacle_id: int, response: HttpResponse
) -> Obstacle:
    """An obstacle with its impact when raised, the records it and its resolution
    rest on (and whether any is unverified) and its mitigations."""
    return obstacle_answer(org_access(request, org_slug), obstacle_id, response)


@router.post("/obstacles", response={201: ObstacleDetailOut})
@idempotent
def raise_obstacle(
    request: HttpRequest, org_slug: OrgSlug, payload: ObstacleIn, response: HttpResponse
) -> Obstacle:
    """Raise an obstacle: its impact is computed and stored, the expected delay
    goes into the run's schedule at once (the projected finish and the status
    against the due date follow), the escalation timer is set and the accountable
    and affected people are told."""
    access = _writer(request, org_slug)
    run = require(chains_queries.runs(access), payload.run_id, "run_id")
    with field_names(FIELDS):
        obstacle = services.raise_obstacle(
            run,
            actor=access.user,
            title=payload.title,
            description=payload.description,
            expected_delay_minutes=payload.expected_delay_minutes,
            severity=payload.severity,
            cause=payload.cause,
            task=resolve(chains_queries.tasks(access), payload.task_id, "task_id"),
            records=_records(access, payload.record_ids),
        )
    return _created(request, access, response, obstacle.pk)


@router.patch(
    "/obstacles/{obstacle_id}", response=ObstacleDetailOut, openapi_extra=IF_MATCH
)
def update_obstacle(
    request: HttpRequest,
    org_slug: OrgSlug,
    obstacle_id: int,
    payload: ObstaclePatch,
    response: HttpResponse,
) -> Obstacle:
    """Change an open obstacle's title, description, severity, cause or expected
    delay (a new delay moves the schedule at once; the impact stored when it was
    raised stays)."""
    access = _writer(request, org_slug)
    changes = payload.dict(exclude_unset=True)
    body_version = changes.pop("version", None)
    services.update_obstacle(
        queries.obstacle(access, obstacle_id),
        actor=access.user,
        expected_version=expected_version(request, body_version),
        **{name: value for name, value in changes.items() if value is not None},
    )
    return obstacle_answer(access, obstacle_id, response)


@router.post("/obstacles/{obstacle_id}/records", response=ObstacleDetailOut)
@idempotent
def add_records(
    request: HttpRequest,
    org_slug: OrgSlug,
    obstacle_id: int,
    payload: RecordsIn,
    response: HttpResponse,
) -> Obstacle:
    """Let an open obstacle rest on more information records."""
    access = _writer(request, org_slug)
    with field_names(FIELDS):
        services.add_records(
            queries.obstacle(access, obstacle_id),
            actor=access.user,
            records=_records(access, payload.record_ids),
        )
    return obstacle_answer(access, obstacle_id, response)


@router.post(
    "/obstacles/{obstacle_id}/resolve",
    response=ObstacleDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def resolve_obstacle(
    request: HttpRequest,
    org_slug: OrgSlug,
    obstacle_id: int,
    payload: ResolveIn,
    response: HttpResponse,
) -> Obstacle:
    """Close the obstacle as resolved, with the resolution and at least one record
    with evidence (unverified evidence is allowed; the answer says whether the
    resolution rests on unverified information). The expected delay leaves the
    schedule; a severe obstacle opens a review."""
    access = _writer(request, org_slug)
    version = expected_version(request, payload.version)
    with field_names(FIELDS):
        services.resolve(
            queries.obstacle(access, obstacle_id),
            actor=access.user,
            expected_version=version,
            resolution=payload.resolution,
            records=_records(access, payload.record_ids),
        )
    return obstacle_answer(access, obstacle_id, response)


@router.post(
    "/obstacles/{obstacle_id}/withdraw",
    response=ObstacleDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def withdraw_obstacle(
    request: HttpRequest,
    org_slug: OrgSlug,
    obstacle_id: int,
    payload: WithdrawIn,
    response: HttpResponse,
) -> Obstacle:
    """Close the obstacle as withdrawn (raised by mistake, or no longer a threat),
    with the reason; its expected delay leaves the schedule."""
    access = _writer(request, org_slug)
    version = expected_version(request, payload.version)
    services.withdraw(
        queries.obstacle(access, obstacle_id),
        actor=access.user,
        expected_version=version,
        reason=payload.reason,
    )
    return obstacle_answer(access, obstacle_id, response)


# --- mitigations --------------------------------------------------------------------------


class MitigationIn(Schema):
    description: str = Field(..., description="What will be done.")
    owner_id: int = Field(..., description="The person who does it.")
    due_at: AwareDatetime


class OutcomeIn(Schema):
    outcome: str = Field(..., description="What was done.")
    version: int | None = None


class CancelIn(Schema):
    reason: str
    version: int | None = None


def _mitigation(access: Access, mitigation_id: int) -> Mitigation:
    """A mitigation of an obstacle the caller sees (404 otherwise)."""
    found: Mitigation | None = (
        Mitigation.objects.filter(
            organisation=access.organisation,
            obstacle__in=queries.obstacles(access).values("pk"),
            pk=mitigation_id,
        )
        .select_related("owner")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


def _mitigation_answer(
    access: Access, mitigation_id: int, response: HttpResponse
) -> Mitigation:
    found = _mitigation(access, mitigation_id)
    with_etag(response, found)
    return found


@router.get("/me/mitigations", response=list[MitigationOut])
@paginate(Pagination)
def my_mitigations(request: HttpRequest, org_slug: OrgSlug) -> QuerySet[Mitigation]:
    """The open actions against obstacles you own, soonest due first."""
    return queries.my_mitigations(org_access(request, org_slug)).select_related("owner")


@router.post("/obstacles/{obstacle_id}/mitigations", response={201: MitigationOut})
@idempotent
def add_mitigation(
    request: HttpRequest,
    org_slug: OrgSlug,
    obstacle_id: int,
    payload: MitigationIn,
    response: HttpResponse,
) -> Mitigation:
    """An action against an open obstacle, with its owner (an active person of
    the organisation; a partner names its own party's people) and due date; the
    owner is told."""
    access = _writer(request, org_slug)
    obstacle = queries.obstacle(access, obstacle_id)
    people = org_queries.people(access).filter(is_active=True)
    with field_names(FIELDS):
        mitigation = services.add_mitigation(
            obstacle,
            actor=access.user,
            description=payload.description,
            owner=require(people, payload.owner_id, "owner_id"),
            due_at=payload.due_at,
        )
    response["Location"] = org_url(request, f"mitigations/{mitigation.pk}")
    return _mitigation_answer(access, mitigation.pk, response)


@router.get("/mitigations/{mitigation_id}", response=MitigationOut)
def get_mitigation(
    request: HttpRequest, org_slug: OrgSlug, mitigation_id: int, response: HttpResponse
) -> Mitigation:
    return _mitigation_answer(org_access(request, org_slug), mitigation_id, response)


@router.post(
    "/mitigations/{mitigation_id}/complete",
    response=MitigationOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def complete_mitigation(
    request: HttpRequest,
    org_slug: OrgSlug,
    mitigation_id: int,
    payload: OutcomeIn,
    response: HttpResponse,
) -> Mitigation:
    """Mark the action done with its outcome: its owner (their login), or whoever
    manages the obstacle; also after the obstacle was closed."""
    access = _writer(request, org_slug)
    version = expected_version(request, payload.version)
    services.complete_mitigation(
        _mitigation(access, mitigation_id),
        actor=access.user,
        expected_version=version,
        outcome=payload.outcome,
    )
    return _mitigation_answer(access, mitigation_id, response)


@router.post(
    "/mitigations/{mitigation_id}/cancel",
    response=MitigationOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def cancel_mitigation(
    request: HttpRequest,
    org_slug: OrgSlug,
    mitigation_id: int,
    payload: CancelIn,
    response: HttpResponse,
) -> Mitigation:
    """Cancel an open action, with the reason (whoever manages the obstacle)."""
    access = _writer(request, org_slug)
    version = expected_version(request, payload.version)
    services.cancel_mitigation(
        _mitigation(access, mitigation_id),
        actor=access.user,
        expected_version=version,
        reason=payload.reason,
    )
    return _mitigation_answer(access, mitigation_id, response)


# --- early warnings -----------------------------------------------------------------------


class WarningOut(Schema):
    """A condition the worker's scan found, while it holds: why and what to do,
    in your language."""

    id: int
    kind: WarningKind
    subject_key: str = Field(..., description='"task:12", "run:3", "approval:7".')
    run_id: int
    run_title: str
    task_id: int | None
    task_name: str | None
    why: str
    what_to_do: str
    facts: dict[str, Any] = Field(
        ..., description="The numbers and names the explanation is written from."
    )
    raised_at: dt.datetime
    checked_at: dt.datetime = Field(..., description="The scan that last saw it.")
    resolved_at: dt.datetime | None = Field(
        None, description="No longer holds (null: active)."
    )
    is_active: bool
    is_mine: bool = Field(..., description="It is addressed to you.")
    acknowledged_at: dt.datetime | None = Field(
        None, description="When you acknowledged it."
    )

    @staticmethod
    def resolve_run_title(warning: EarlyWarning) -> str:
        return warning.run.title

    @staticmethod
    def resolve_task_name(warning: EarlyWarning) -> str | None:
        task = warning.task
        return task.name if task is not None else None

    @staticmethod
    def resolve_why(warning: EarlyWarning) -> str:
        return warnings.explain(warning)[0]

    @staticmethod
    def resolve_what_to_do(warning: EarlyWarning) -> str:
        return warnings.explain(warning)[1]


class WarningFilters(Schema):
    mine: bool = Field(
        False, description="Only those addressed to you (else: all you may see)."
    )
    active: bool | None = Field(
        True,
        description="true (default): those that hold; false: resolved ones; "
        "leave empty (active=) for all.",
    )
    run_id: int | None = None
    kind: WarningKind | None = None


class Page[M: models.Model]:
    """A query answered a page at a time: the pagination counts and slices the
    query, then `prepare` readies only the rows of the page."""

    def __init__(self, found: QuerySet[M], prepare: Callable[[M], None]) -> None:
        self.found = found
        self.prepare = prepare

    def all(self) -> "Page[M]":
        return self

    def count(self) -> int:
        return self.found.count()

    def __getitem__(self, page: slice) -> list[M]:
        rows = list(self.found[page])
        for row in rows:
            self.prepare(row)
        return rows


def _warnings(access: Access, filters: WarningFilters) -> QuerySet[EarlyWarning]:
    found = warnings.warnings(
        access, run=filters.run_id, kind=filters.kind, active=filters.active
    )
    if filters.mine:
        found = found.filter(is_mine=True)  # type: ignore[misc]
    return found


@router.get("/warnings", response=list[WarningOut])
@paginate(Pagination)
def list_warnings(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[WarningFilters]
) -> Any:
    """The early warnings you may see (`mine=true`: those addressed to you), those
    for you first, then the newest; each with why and what to do."""
    access = org_access(request, org_slug)

    def prepare(warning: EarlyWarning) -> None:
        # The explanation reads the organisation's time zone: the one row read.
        warning.organisation = access.organisation

    return Page(_warnings(access, filters), prepare)


def _warning(access: Access, warning_id: int) -> EarlyWarning:
    found = warnings.warnings(access, active=None).filter(pk=warning_id).first()
    if found is None:
        raise NotFound()
    found.organisation = access.organisation
    return found


@router.get("/warnings/{warning_id}", response=WarningOut)
def get_warning(
    request: HttpRequest, org_slug: OrgSlug, warning_id: int
) -> EarlyWarning:
    return _warning(org_access(request, org_slug), warning_id)


@router.post("/warnings/{warning_id}/acknowledge", response=WarningOut)
@idempotent
def acknowledge_warning(
    request: HttpRequest, org_slug: OrgSlug, warning_id: int
) -> EarlyWarning:
    """Say you have taken the warning in (the people it is for; again changes
    nothing)."""
    access = org_access(request, org_slug)
    warnings.acknowledge(_warning(access, warning_id), actor=access.user)
    return _warning(access, warning_id)
