"""Approval requests: what waits for the caller's decision, the requests of the
organisation and of the caller, one request's coordination map (stages, who
approves and how they were found, decisions, resolutions, durations), and the
actions on a request — decide, withdraw, resubmit, nudge — plus asking again for
approval of a deviation or a task's completion.

Administrators, members and auditors read requests; external partners take no
part in approvals (their lists are empty, single requests 404). The engine
(`rantai/approvals/services.py`) decides who may act: a decision is checked at the
moment it is made, under the request's lock, so of two concurrent decisions one
wins and the other is 409 with nothing written.
"""

import datetime as dt
import math
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from rantai.accounts.access import Access
from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    org_access,
    resolve,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.versions import IF_MATCH, expected_version, with_etag
from rantai.approvals import queries, requesting
from rantai.approvals import services as approvals
from rantai.approvals.models import (
    ApprovalRequest,
    ApproverRule,
    Decision,
    Nudge,
    Outcome,
    RequestStatus,
    ResolutionCause,
    StageMode,
    StageStatus,
    SubjectKind,
)
from rantai.approvals.queries import ApproverView, Pending, ResolutionView, StageView
from rantai.chains import queries as chains_queries
from rantai.core.errors import ValidationFailed
from rantai.org import queries as org_queries

router = Router(tags=["approvals"])


# --- shared helpers -----------------------------------------------------------------


@contextmanager
def field_names(names: Mapping[str, str]) -> Iterator[None]:
    """Name a service's field errors after the request fields (`delegate` →
    `delegate_id`) where `problems.FIELD_NAMES` does not already."""
    try:
        yield
    except ValidationFailed as error:
        if not set(names) & set(error.errors):
            raise
        raise ValidationFailed(
            {
                names.get(name, name): messages
                for name, messages in error.errors.items()
            },
            code=error.code,
        ) from error


def location(request: HttpRequest, org_slug: str, path: str) -> str:
    """The URL of an object that lives elsewhere than the path posted to."""
    prefix = request.path.split(f"/orgs/{org_slug}/", 1)[0]
    return f"{prefix}/orgs/{org_slug}/{path}"


def minutes(delta: dt.timedelta | None) -> int | None:
    """A duration in whole minutes (rounded down; negative when overdue)."""
    if delta is None:
        return None
    return math.floor(delta.total_seconds() / 60)


# --- schemas ------------------------------------------------------------------------


class ApprovalRequestOut(Schema):
    id: int
    route_id: int
    route_code: str
    route_name: str
    route_version_id: int
    route_version_number: int
    subject_kind: SubjectKind
    subject_id: int = Field(
        ...,
        description="The deviation, run (due-date change) or task (completion) asked "
        "about.",
    )
    subject_version: int = Field(
        ..., description="The version of the subject the current decisions bind to."
    )
    run_id: int | None
    title: str
    payload: dict[str, Any] = Field(
        ...,
        description="Details of the request; a due-date change: `due_at`, `reason` "
        "and `from` (the due date before).",
    )
    requested_by_id: int = Field(..., description="The login that asked.")
    requester_id: int = Field(..., description="The person who asked.")
    requester_name: str
    requester_position_id: int | None = Field(
        None, description="The position asked from (where `superior` stages start)."
    )
    status: RequestStatus
    current_stage: int | None = Field(
        None, description="The order of the stage waiting for decisions."
    )
    submitted_at: dt.datetime
    finished_at: dt.datetime | None
    last_nudged_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_route_id(request: ApprovalRequest) -> int:
        return request.route_version.route_id

    @staticmethod
    def resolve_route_code(request: ApprovalRequest) -> str:
        return request.route_version.route.code

    @staticmethod
    def resolve_route_name(request: ApprovalRequest) -> str:
        return request.route_version.route.name

    @staticmethod
    def resolve_route_version_number(request: ApprovalRequest) -> int:
        return request.route_version.number

    @staticmethod
    def resolve_requester_name(request: ApprovalRequest) -> str:
        return request.requester.full_name


class PendingStageOut(Schema):
    id: int
    order: int
    name: str
    round: int
    required: int = Field(..., description="Approvals that complete the stage.")
    opened_at: dt.datetime | None
    due_at: dt.datetime | None


class PendingOut(Schema):
    """An open stage you can decide: in your own slot, or on behalf of an approver
    who delegated to you."""

    request: ApprovalRequestOut
    stage: PendingStageOut
    on_behalf_of_id: int | None = Field(
        None, description="The approver (person) you would decide for (a.n.)."
    )
    on_behalf_of_name: str | None
    delegation_id: int | None
    time_left_minutes: int | None = Field(
        None,
        description="Until the stage's time limit; negative when past it; null "
        "without a limit.",
    )
    is_overdue: bool

    @staticmethod
    def resolve_stage(pending: Pending) -> dict[str, Any]:
        stage = pending.stage
        return {
            "id": stage.pk,
            "order": stage.order,
            "name": stage.stage.name,
            "round": stage.round,
            "required": stage.required,
            "opened_at": stage.opened_at,
            "due_at": stage.due_at,
        }

    @staticmethod
    def resolve_on_behalf_of_id(pending: Pending) -> int | None:
        return pending.on_behalf_of.pk if pending.on_behalf_of is not None else None

    @staticmethod
    def resolve_on_behalf_of_name(pending: Pending) -> str | None:
        person = pending.on_behalf_of
        return person.full_name if person is not None else None

    @staticmethod
    def resolve_delegation_id(pending: Pending) -> int | None:
        return pending.delegation.pk if pending.delegation is not None else None

    @staticmethod
    def resolve_time_left_minutes(pending: Pending) -> int | None:
        return minutes(pending.time_left)


class ApproverOut(Schema):
    """Who may decide the stage now, and how they were found."""

    person_id: int
    person_name: str
    position_id: int | None
    position_title: str | None
    via: str = Field(
        ...,
        description="holder, acting, named, vacant_passed_up, requester_passed_up, "
        "repeat_passed_up or escalated",
    )
    via_text: str
    acting: bool = Field(..., description="An acting holder (Plt).")
    escalated: bool
    from_position_id: int | None = Field(
        None, description="Where passing up or escalation started."
    )
    decision_id: int | None = Field(None, description="Their decision this round.")
    outcome: Outcome | None


class DecisionOut(Schema):
    id: int
    round: int
    outcome: Outcome
    comment: str
    return_to_stage: int | None = Field(
        None, description="For a return: the stage it went back to (0: the requester)."
    )
    slot_person_id: int = Field(..., description="The approver whose slot it fills.")
    slot_person_name: str
    decided_by_person_id: int
    decided_by_person_name: str
    decided_by_id: int = Field(..., description="The login that decided.")
    on_behalf_of_id: int | None = Field(
        None, description="Under a delegation: the approver decided for (a.n.)."
    )
    delegation_id: int | None
    position_id: int | None = Field(
        None, description="The position that gave the authority."
    )
    subject_version: int
    decided_at: dt.datetime
    is_current: bool = Field(
        ..., description="Whether it still counts (false once its stage reopened)."
    )

    @staticmethod
    def resolve_slot_person_name(decision: Decision) -> str:
        return decision.slot_person.full_name

    @staticmethod
    def resolve_decided_by_person_name(decision: Decision) -> str:
        return decision.decided_by_person.full_name

    @staticmethod
    def resolve_on_behalf_of_id(decision: Decision) -> int | None:
        return decision.slot_person_id if decision.delegation_id else None


class ResolvedApproverOut(Schema):
    person_id: int
    person_name: str
    position_id: int | None
    via: str
    via_text: str
    acting: bool
    from_position_id: int | None


class ResolutionOut(Schema):
    """One working-out of a stage's approvers, and why it happened."""

    id: int
    round: int
    at: dt.datetime
    cause: ResolutionCause
    approvers: list[ResolvedApproverOut]


class RequestStageOut(Schema):
    id: int
    order: int
    name: str
    rule: ApproverRule
    mode: StageMode
    status: StageStatus
    round: int = Field(..., description="How often the stage was opened.")
    required: int
    approvals: int = Field(..., description="Approvals that count this round.")
    opened_at: dt.datetime | None
    due_at: dt.datetime | None
    closed_at: dt.datetime | None
    escalations: int
    duration_minutes: int | None = Field(
        None, description="Open until closed (or until now)."
    )
    time_left_minutes: int | None = Field(
        None, description="While open: until the time limit (negative when past it)."
    )
    approvers: list[ApproverOut]
    decisions: list[DecisionOut] = Field(..., description="Every round's, in order.")
    resolutions: list[ResolutionOut]


class RequestDetailOut(ApprovalRequestOut):
    """The request's coordination map."""

    requester_position_title: str | None
    stages: list[RequestStageOut]

    @staticmethod
    def resolve_requester_position_title(request: ApprovalRequest) -> str | None:
        position = request.requester_position
        return position.title if position is not None else None

    @staticmethod
    def resolve_stages(request: ApprovalRequest) -> list[dict[str, Any]]:
        return [_stage(view) for view in request.detail.stages]  # type: ignore[attr-defined]


def _approver(view: ApproverView) -> dict[str, Any]:
    return {
        "person_id": view.person.pk,
        "person_name": view.person.full_name,
        "position_id": view.position.pk if view.position is not None else None,
        "position_title": view.position.title if view.position is not None else None,
        "via": view.via,
        "via_text": view.via_text,
        "acting": view.acting,
        "escalated": view.escalated,
        "from_position_id": (
            view.from_position.pk if view.from_position is not None else None
        ),
        "decision_id": view.decision.pk if view.decision is not None else None,
        "outcome": view.decision.outcome if view.decision is not None else None,
    }


def _resolution(view: ResolutionView) -> dict[str, Any]:
    return {
        "id": view.resolution.pk,
        "round": view.resolution.round,
        "at": view.resolution.at,
        "cause": view.cause,
        "approvers": [
            {
                "person_id": int(entry["person"]),
                "person_name": entry.get("person_name", ""),
                "position_id": entry.get("position"),
                "via": str(entry.get("via", "")),
                "via_text": entry.get("via_text", ""),
                "acting": bool(entry.get("acting")),
                "from_position_id": entry.get("from_position"),
            }
            for entry in view.approvers
        ],
    }


def _stage(view: StageView) -> dict[str, Any]:
    stage = view.stage
    return {
        "id": stage.pk,
        "order": stage.order,
        "name": stage.stage.name,
        "rule": stage.stage.rule,
        "mode": stage.stage.mode,
        "status": stage.status,
        "round": stage.round,
        "required": stage.required,
        "approvals": view.approvals,
        "opened_at": stage.opened_at,
        "due_at": stage.due_at,
        "closed_at": stage.closed_at,
        "escalations": stage.escalations,
        "duration_minutes": minutes(view.duration),
        "time_left_minutes": minutes(view.time_left),
        "approvers": [_approver(approver) for approver in view.approvers],
        "decisions": view.decisions,
        "resolutions": [_resolution(resolution) for resolution in view.resolutions],
    }


class RequestFilters(Schema):
    status: RequestStatus | None = None
    mine: bool = Field(False, description="Only the requests you made.")
    stuck: bool = Field(
        False,
        description="Only your requests that are stuck: returned to you, or past "
        "their stage's time limit (implies `mine`).",
    )
    subject_kind: SubjectKind | None = None
    subject_id: int | None = None
    run_id: int | None = None


class DecisionIn(Schema):
    """Approve; reject (with a reason in `comment`); or return for revision (with a
    comment) to an earlier stage (its order) or to the requester (0)."""

    outcome: Outcome
    comment: str = ""
    return_to_stage: int | None = Field(None, ge=0)
    on_behalf_of: int | None = Field(
        None,
        description="The approver (person id) in whose slot you decide, under their "
        "delegation to you. Left out: your own slot, or else the one approver who "
        "delegated to you.",
    )
    version: int | None = None


class ResubmitIn(Schema):
    """Send a request returned for revision again, optionally with new details."""

    payload: dict[str, Any] | None = None
    version: int | None = None


class NudgeOut(Schema):
    id: int
    request_id: int
    by_id: int
    at: dt.datetime


class ApprovalAsk(Schema):
    """Ask for approval along the route that applies now."""

    requester_position_id: int | None = Field(
        None,
        description="The position you ask from (when you hold several); by default "
        "the one the rule picks.",
    )


NO_ASK = ApprovalAsk(requester_position_id=None)
NO_RESUBMIT = ResubmitIn()


# --- reads --------------------------------------------------------------------------


@router.get("/approvals/pending", response=list[PendingOut])
@paginate(Pagination)
def pending_approvals(request: HttpRequest, org_slug: OrgSlug) -> list[Pending]:
    """What waits for your decision — in your own slot or on behalf of someone who
    delegated to you — soonest due first, with the time left."""
    return queries.pending_for(org_access(request, org_slug))


@router.get("/approvals/requests", response=list[ApprovalRequestOut])
@paginate(Pagination)
def list_requests(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[RequestFilters]
) -> QuerySet[ApprovalRequest]:
    """The organisation's approval requests, newest first (partners: none)."""
    access = org_access(request, org_slug)
    if filters.mine or filters.stuck:
        requests = queries.requests_by(access, stuck_only=filters.stuck)
    else:
        requests = queries.requests(access)
    if filters.status is not None:
        requests = requests.filter(status=filters.status)
    if filters.subject_kind is not None:
        requests = requests.filter(subject_kind=filters.subject_kind)
    if filters.subject_id is not None:
        requests = requests.filter(subject_id=filters.subject_id)
    if filters.run_id is not None:
        requests = requests.filter(run_id=filters.run_id)
    return requests


def _detail(access: Access, request_id: int, response: HttpResponse) -> ApprovalRequest:
    detail = queries.request_detail(access, request_id)
    found = detail.request
    found.detail = detail  # type: ignore[attr-defined]
    return single(response, found)


@router.get("/approvals/requests/{request_id}", response=RequestDetailOut)
def get_request(
    request: HttpRequest, org_slug: OrgSlug, request_id: int, response: HttpResponse
) -> ApprovalRequest:
    """The request's stages in order, each with its approvers (how they were found,
    acting holders, passing up, escalation), every decision (on whose behalf),
    every resolution, how long it took and how long is left."""
    return _detail(org_access(request, org_slug), request_id, response)


# --- actions ------------------------------------------------------------------------


@router.post(
    "/approvals/requests/{request_id}/decide",
    response=RequestDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def decide(
    request: HttpRequest,
    org_slug: OrgSlug,
    request_id: int,
    payload: DecisionIn,
    response: HttpResponse,
) -> ApprovalRequest:
    """Decide in your slot of the open stage (or, under a delegation, in the
    delegator's). Checked now: you are an approver of the stage as it resolves
    now, not the requester nor acting for them. Answers the request as it stands
    after the decision; a stale version or a slot decided meanwhile is 409."""
    access = org_access(request, org_slug)
    approvals.decide(
        queries.request(access, request_id),
        actor=access.user,
        outcome=payload.outcome,
        comment=payload.comment,
        return_to_stage=payload.return_to_stage,
        on_behalf_of=resolve(
            org_queries.people(access), payload.on_behalf_of, "on_behalf_of"
        ),
        expected_version=expected_version(request, payload.version),
    )
    return _detail(access, request_id, response)


@router.post(
    "/approvals/requests/{request_id}/withdraw",
    response=RequestDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def withdraw(
    request: HttpRequest,
    org_slug: OrgSlug,
    request_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> ApprovalRequest:
    """The requester takes the request back (final)."""
    access = org_access(request, org_slug)
    approvals.withdraw(
        queries.request(access, request_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return _detail(access, request_id, response)


@router.post(
    "/approvals/requests/{request_id}/resubmit",
    response=RequestDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def resubmit(
    request: HttpRequest,
    org_slug: OrgSlug,
    request_id: int,
    response: HttpResponse,
    payload: ResubmitIn = NO_RESUBMIT,
) -> ApprovalRequest:
    """The requester sends a request returned for revision again: it starts over at
    the first stage, on the subject as it is now."""
    access = org_access(request, org_slug)
    approvals.resubmit(
        queries.request(access, request_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        payload=payload.payload,
    )
    return _detail(access, request_id, response)


@router.post("/approvals/requests/{request_id}/nudge", response=NudgeOut)
@idempotent
def nudge(request: HttpRequest, org_slug: OrgSlug, request_id: int) -> Nudge:
    """Remind the approvers of the open stage who have not decided yet — at most
    once an hour per person and request (sooner is 422, code `rate_limited`). It
    does not change the request's version."""
    access = org_access(request, org_slug)
    return approvals.nudge(queries.request(access, request_id), actor=access.user)


def _asked(
    request: HttpRequest,
    access: Access,
    response: HttpResponse,
    approval: ApprovalRequest,
) -> ApprovalRequest:
    """Answer a new request: 201 (declared on the route), Location and ETag."""
    slug = access.organisation.slug
    response["Location"] = location(request, slug, f"approvals/requests/{approval.pk}")
    with_etag(response, approval)
    return queries.request(access, approval.pk)


@router.post(
    "/deviations/{deviation_id}/request-approval", response={201: ApprovalRequestOut}
)
@idempotent
def request_deviation_approval(
    request: HttpRequest,
    org_slug: OrgSlug,
    deviation_id: int,
    response: HttpResponse,
    payload: ApprovalAsk = NO_ASK,
) -> ApprovalRequest:
    """Ask again for approval of a requested deviation (after its request was
    withdrawn, or when a route was published after it was asked for): whoever
    asked for the deviation, or an administrator."""
    access = org_access(request, org_slug)
    with field_names({"requester_position": "requester_position_id"}):
        approval = requesting.request_deviation_approval(
            chains_queries.deviation(access, deviation_id),
            actor=access.user,
            requester_position=resolve(
                org_queries.positions(access),
                payload.requester_position_id,
                "requester_position_id",
            ),
        )
    return _asked(request, access, response, approval)


@router.post("/tasks/{task_id}/request-approval", response={201: ApprovalRequestOut})
@idempotent
def request_task_approval(
    request: HttpRequest,
    org_slug: OrgSlug,
    task_id: int,
    response: HttpResponse,
    payload: ApprovalAsk = NO_ASK,
) -> ApprovalRequest:
    """Ask (again) for approval of an awaiting task's completion — after a
    rejection or a withdrawal, or once a route applies: whoever may act on the
    task."""
    access = org_access(request, org_slug)
    with field_names({"requester_position": "requester_position_id"}):
        approval = requesting.request_task_approval(
            chains_queries.task(access, task_id),
            actor=access.user,
            requester_position=resolve(
                org_queries.positions(access),
                payload.requester_position_id,
                "requester_position_id",
            ),
        )
    return _asked(request, access, response, approval)
