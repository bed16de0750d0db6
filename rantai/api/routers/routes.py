"""Approval routes in versions: a draft's stages (who approves, how many must, the
time limit and what happens when it passes) and conditions (which subjects the
route applies to) are edited, publishing freezes it and replaces the published
version, retiring stops new requests on it.

Administrators, and members who hold a route's owner position, change routes (the
services decide; others get 403 — auditors and partners before anything is looked
up). Everyone inside the organisation reads them; external partners take no part
in approvals (404).
"""

import datetime as dt
from typing import Any

from django.db import models
from django.db.models import OuterRef, QuerySet
from django.http import HttpRequest, HttpResponse
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
    resolve,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.routers.versioned import (
    change,
    created_elsewhere,
    editor_access,
    with_version_ids,
)
from rantai.api.versions import IF_MATCH, expected_version
from rantai.approvals import routes
from rantai.approvals.models import (
    ApproverRule,
    Route,
    RouteCondition,
    RouteStage,
    RouteVersion,
    StageMode,
    SubjectKind,
    TimeoutAction,
)
from rantai.chains.models import ConditionOperator, VersionStatus
from rantai.org import queries as org_queries
from rantai.org.queries import get_or_404

router = Router(tags=["approval routes"])


# --- schemas ------------------------------------------------------------------------


class SubjectKindOut(Schema):
    """What requests can be about, and the fields a route's conditions may test."""

    kind: SubjectKind
    label: str
    condition_fields: dict[str, str] = Field(
        ...,
        description="Field name → what it is; `run.<key>` tests any run field too.",
    )


class RouteOut(Schema):
    id: int
    code: str
    name: str
    subject_kind: SubjectKind
    priority: int = Field(
        ..., description="When several routes match a subject, the lowest wins."
    )
    owner_position_id: int | None = Field(
        None, description="The process owner (told when a stage runs late)."
    )
    description: str
    is_active: bool
    published_version_id: int | None = Field(
        None, description="The version new requests use (none yet: null)."
    )
    draft_version_id: int | None = Field(
        None, description="The version being edited, if any."
    )
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class RouteFilters(Schema):
    subject_kind: SubjectKind | None = None
    is_active: bool | None = None
    q: str | None = None


class RouteCreate(Schema):
    """A new route starts with an empty draft, version 1."""

    code: str
    name: str
    subject_kind: SubjectKind
    priority: int = Field(100, ge=0)
    owner_position_id: int | None = None
    description: str = ""


class RouteUpdate(Schema):
    """Fields left out keep their value; `owner_position_id: null` removes the
    owner."""

    code: str | None = None
    name: str | None = None
    priority: int | None = Field(None, ge=0)
    owner_position_id: int | None = None
    description: str | None = None
    version: int | None = None


class RouteVersionOut(Schema):
    id: int
    route_id: int
    number: int
    status: VersionStatus
    allow_repeat_approver: bool = Field(
        ...,
        description="Whether one person may fill slots at several stages of a request.",
    )
    notes: str
    published_at: dt.datetime | None
    published_by_id: int | None
    retired_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class RouteVersionUpdate(Schema):
    allow_repeat_approver: bool | None = None
    notes: str | None = None
    version: int | None = None


class NewRouteDraft(Schema):
    """A copy of the published version (or, none being published, the latest)."""

    notes: str = ""


class RouteStageOut(Schema):
    id: int
    route_version_id: int
    order: int
    name: str
    rule: ApproverRule
    levels: int = Field(..., description="For `superior`: 1 is the direct superior.")
    position_id: int | None = Field(None, description="For `position`.")
    party_id: int | None = Field(None, description="For `unit_head`.")
    person_id: int | None = Field(None, description="For `person`.")
    mode: StageMode
    quorum: int | None = Field(None, description="For `quorum`: approvals needed.")
    time_limit_hours: int | None = Field(None, description="In working hours.")
    on_timeout: TimeoutAction
    version: int


class RouteStageCreate(Schema):
    """Who approves (`rule`, with the position, unit or person it names), how many
    of them must (`mode`, `quorum`), and the time limit in working hours with what
    happens when it passes. The stage goes last."""

    name: str
    rule: ApproverRule
    levels: int = Field(1, ge=1)
    position_id: int | None = None
    party_id: int | None = None
    person_id: int | None = None
    mode: StageMode = StageMode.ANY
    quorum: int | None = Field(None, ge=1)
    time_limit_hours: int | None = Field(None, ge=1)
    on_timeout: TimeoutAction = TimeoutAction.REMIND


class RouteStageUpdate(Schema):
    """Fields left out keep their value; changing the rule clears what the old
    rule named."""

    name: str | None = None
    rule: ApproverRule | None = None
    levels: int | None = Field(None, ge=1)
    position_id: int | None = None
    party_id: int | None = None
    person_id: int | None = None
    mode: StageMode | None = None
    quorum: int | None = Field(None, ge=1)
    time_limit_hours: int | None = Field(None, ge=1)
    on_timeout: TimeoutAction | None = None
    version: int | None = None


class StageMove(Schema):
    order: int = Field(..., ge=1, description="The new place, 1 … number of stages.")
    version: int | None = None


class RouteConditionOut(Schema):
    id: int
    route_version_id: int
    field: str
    operator: ConditionOperator
    value: Any = None


class RouteConditionCreate(Schema):
    """`field operator value` on the subject's fields (see `GET
    /approvals/subject-kinds`); a version applies only when all its conditions
    hold."""

    field: str
    operator: ConditionOperator
    value: Any = None


class RouteVersionDetailOut(RouteVersionOut):
    stages: list[RouteStageOut]
    conditions: list[RouteConditionOut]

    @staticmethod
    def resolve_stages(version: RouteVersion) -> list[RouteStage]:
        return routes.stages_of(version)

    @staticmethod
    def resolve_conditions(version: RouteVersion) -> list[RouteCondition]:
        return routes.conditions_of(version)


# --- reads and access -----------------------------------------------------------------


def _reader(request: HttpRequest, org_slug: str) -> Access:
    """Routes are the organisation's own: not for partners (404)."""
    access = org_access(request, org_slug)
    access.require_whole_organisation()
    return access


def _editor(request: HttpRequest, org_slug: str) -> Access:
    return editor_access(
        request, org_slug, _("Only administrators and the route's owner can change it.")
    )


def _routes(access: Access) -> QuerySet[Route]:
    """The organisation's routes with the ids of their published and draft
    versions."""
    return with_version_ids(
        Route.objects.filter(organisation=access.organisation),
        RouteVersion.objects.filter(route=OuterRef("pk")),
    )


def _route(access: Access, route_id: int) -> Route:
    return get_or_404(  # type: ignore[no-any-return]
        Route.objects.filter(organisation=access.organisation).select_related(
            "organisation"
        ),
        route_id,
    )


def _version(access: Access, version_id: int) -> RouteVersion:
    return get_or_404(  # type: ignore[no-any-return]
        RouteVersion.objects.filter(organisation=access.organisation).select_related(
            "route", "organisation"
        ),
        version_id,
    )


def _stage(access: Access, stage_id: int) -> RouteStage:
    return get_or_404(  # type: ignore[no-any-return]
        RouteStage.objects.filter(organisation=access.organisation), stage_id
    )


def _condition(access: Access, condition_id: int) -> RouteCondition:
    return get_or_404(  # type: ignore[no-any-return]
        RouteCondition.objects.filter(organisation=access.organisation), condition_id
    )


def _targets(access: Access, payload: Schema) -> dict[str, Any]:
    """The position, unit and person a stage names, from the ids sent."""
    sent = payload.model_fields_set
    found: dict[str, Any] = {}
    for name, queryset in (
        ("position", org_queries.positions(access)),
        ("party", org_queries.parties(access)),
        ("person", org_queries.people(access)),
    ):
        if f"{name}_id" in sent:
            found[name] = resolve(
                queryset, getattr(payload, f"{name}_id"), f"{name}_id"
            )
    return found


# --- subject kinds ------------------------------------------------------------------


@router.get("/approvals/subject-kinds", response=list[SubjectKindOut])
def subject_kinds(request: HttpRequest, org_slug: OrgSlug) -> list[dict[str, Any]]:
    """What approval requests can be about here, with the fields route conditions
    may test for each."""
    _reader(request, org_slug)
    kinds = []
    for kind, label in SubjectKind.choices:
        fields = routes.condition_fields(kind)
        if fields is not None:  # no adapter: nothing can be asked about it yet
            kinds.append(
                {
                    "kind": kind,
                    "label": str(label),
                    "condition_fields": {name: str(t) for name, t in fields.items()},
                }
            )
    return kinds


# --- routes -------------------------------------------------------------------------


@router.get("/approvals/routes", response=list[RouteOut])
@paginate(Pagination)
def list_routes(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[RouteFilters]
) -> QuerySet[Route]:
    """The organisation's approval routes, by subject kind and priority."""
    found = _routes(_reader(request, org_slug))
    if filters.subject_kind is not None:
        found = found.filter(subject_kind=filters.subject_kind)
    if filters.is_active is not None:
        found = found.filter(is_active=filters.is_active)
    if filters.q:
        found = found.filter(
            models.Q(name__icontains=filters.q) | models.Q(code__icontains=filters.q)
        )
    return found.order_by("subject_kind", "priority", "name", "id")


@router.get("/approvals/routes/{route_id}", response=RouteOut)
def get_route(
    request: HttpRequest, org_slug: OrgSlug, route_id: int, response: HttpResponse
) -> Route:
    access = _reader(request, org_slug)
    return single(response, get_or_404(_routes(access), route_id))


@router.post("/approvals/routes", response={201: RouteOut})
@idempotent
def create_route(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: RouteCreate,
    response: HttpResponse,
) -> Route:
    """Administrators create routes; a member one owned by a position they hold."""
    access = _editor(request, org_slug)
    route = routes.create_route(
        access.organisation,
        actor=access.user,
        code=payload.code,
        name=payload.name,
        subject_kind=payload.subject_kind,
        priority=payload.priority,
        owner_position=resolve(
            org_queries.positions(access),
            payload.owner_position_id,
            "owner_position_id",
        ),
        description=payload.description,
    )
    return created(request, response, _routes(access).get(pk=route.pk))


def _update_route(
    request: HttpRequest,
    access: Access,
    route_id: int,
    version: int | None,
    changes: dict[str, Any],
    response: HttpResponse,
) -> Route:
    return change(
        request,
        response,
        routes.update_route,
        _route(access, route_id),
        actor=access.user,
        version=version,
        answer=lambda: _routes(access).get(pk=route_id),
        **changes,
    )


@router.patch("/approvals/routes/{route_id}", response=RouteOut, openapi_extra=IF_MATCH)
def update_route(
    request: HttpRequest,
    org_slug: OrgSlug,
    route_id: int,
    payload: RouteUpdate,
    response: HttpResponse,
) -> Route:
    """Code, name, priority, owner position and description (not versioned:
    requests keep their route version, not these)."""
    access = _editor(request, org_slug)
    changes = payload.model_dump(
        exclude_unset=True, exclude={"version", "owner_position_id"}
    )
    if "owner_position_id" in payload.model_fields_set:
        changes["owner_position"] = resolve(
            org_queries.positions(access),
            payload.owner_position_id,
            "owner_position_id",
        )
    return _update_route(request, access, route_id, payload.version, changes, response)


@router.post(
    "/approvals/routes/{route_id}/deactivate",
    response=RouteOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def deactivate_route(
    request: HttpRequest,
    org_slug: OrgSlug,
    route_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Route:
    """No new requests take it; requests in progress continue."""
    access = _editor(request, org_slug)
    return _update_route(
        request, access, route_id, payload.version, {"is_active": False}, response
    )


@router.post(
    "/approvals/routes/{route_id}/reactivate",
    response=RouteOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def reactivate_route(
    request: HttpRequest,
    org_slug: OrgSlug,
    route_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Route:
    access = _editor(request, org_slug)
    return _update_route(
        request, access, route_id, payload.version, {"is_active": True}, response
    )


# --- versions -----------------------------------------------------------------------


@router.get("/approvals/routes/{route_id}/versions", response=list[RouteVersionOut])
@paginate(Pagination)
def list_route_versions(
    request: HttpRequest, org_slug: OrgSlug, route_id: int
) -> QuerySet[RouteVersion]:
    """A route's versions, newest first."""
    route = _route(_reader(request, org_slug), route_id)
    return RouteVersion.objects.filter(route=route).order_by("-number")


@router.post("/approvals/routes/{route_id}/versions", response={201: RouteVersionOut})
@idempotent
def new_route_draft(
    request: HttpRequest,
    org_slug: OrgSlug,
    route_id: int,
    payload: NewRouteDraft,
    response: HttpResponse,
) -> RouteVersion:
    """A new draft with the published version's settings, stages and conditions
    (one draft at a time)."""
    access = _editor(request, org_slug)
    draft = routes.new_draft(
        _route(access, route_id), actor=access.user, notes=payload.notes
    )
    return created_elsewhere(
        request, response, org_slug, "approvals/route-versions", draft
    )


@router.get("/approvals/route-versions/{version_id}", response=RouteVersionDetailOut)
def get_route_version(
    request: HttpRequest, org_slug: OrgSlug, version_id: int, response: HttpResponse
) -> RouteVersion:
    """A version with its stages in order and its conditions."""
    return single(response, _version(_reader(request, org_slug), version_id))


@router.patch(
    "/approvals/route-versions/{version_id}",
    response=RouteVersionOut,
    openapi_extra=IF_MATCH,
)
def update_route_version(
    request: HttpRequest,
    org_slug: OrgSlug,
    version_id: int,
    payload: RouteVersionUpdate,
    response: HttpResponse,
) -> RouteVersion:
    """A draft's settings (`allow_repeat_approver`, `notes`)."""
    access = _editor(request, org_slug)
    version = routes.update_version(
        _version(access, version_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        **payload.model_dump(exclude_unset=True, exclude={"version"}),
    )
    return single(response, version)


@router.post(
    "/approvals/route-versions/{version_id}/publish",
    response=RouteVersionOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def publish_route_version(
    request: HttpRequest,
    org_slug: OrgSlug,
    version_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> RouteVersion:
    """Check and freeze a draft; it retires the published version. A draft that
    cannot be published answers 422 (code `unpublishable`) with every problem in
    `errors`."""
    access = _editor(request, org_slug)
    return change(
        request,
        response,
        routes.publish,
        _version(access, version_id),
        actor=access.user,
        version=payload.version,
    )


@router.post(
    "/approvals/route-versions/{version_id}/retire",
    response=RouteVersionOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def retire_route_version(
    request: HttpRequest,
    org_slug: OrgSlug,
    version_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> RouteVersion:
    """Stop new requests on the published version; requests in progress keep it."""
    access = _editor(request, org_slug)
    return change(
        request,
        response,
        routes.retire,
        _version(access, version_id),
        actor=access.user,
        version=payload.version,
    )


# --- stages -------------------------------------------------------------------------


@router.post(
    "/approvals/route-versions/{version_id}/stages", response={201: RouteStageOut}
)
@idempotent
def add_route_stage(
    request: HttpRequest,
    org_slug: OrgSlug,
    version_id: int,
    payload: RouteStageCreate,
    response: HttpResponse,
) -> RouteStage:
    """A stage of a draft, placed last."""
    access = _editor(request, org_slug)
    stage = routes.add_stage(
        _version(access, version_id),
        actor=access.user,
        **payload.model_dump(exclude={"position_id", "party_id", "person_id"}),
        **_targets(access, payload),
    )
    return created_elsewhere(
        request, response, org_slug, "approvals/route-stages", stage
    )


@router.get("/approvals/route-stages/{stage_id}", response=RouteStageOut)
def get_route_stage(
    request: HttpRequest, org_slug: OrgSlug, stage_id: int, response: HttpResponse
) -> RouteStage:
    return single(response, _stage(_reader(request, org_slug), stage_id))


@router.patch(
    "/approvals/route-stages/{stage_id}",
    response=RouteStageOut,
    openapi_extra=IF_MATCH,
)
def update_route_stage(
    request: HttpRequest,
    org_slug: OrgSlug,
    stage_id: int,
    payload: RouteStageUpdate,
    response: HttpResponse,
) -> RouteStage:
    """A draft's stage (to change its place: `move`)."""
    access = _editor(request, org_slug)
    changes = payload.model_dump(
        exclude_unset=True,
        exclude={"version", "position_id", "party_id", "person_id"},
    )
    stage = routes.update_stage(
        _stage(access, stage_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        **changes,
        **_targets(access, payload),
    )
    return single(response, stage)


@router.post(
    "/approvals/route-stages/{stage_id}/move",
    response=RouteStageOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def move_route_stage(
    request: HttpRequest,
    org_slug: OrgSlug,
    stage_id: int,
    payload: StageMove,
    response: HttpResponse,
) -> RouteStage:
    """Put a draft's stage at another place; the others shift around it."""
    access = _editor(request, org_slug)
    stage = routes.move_stage(
        _stage(access, stage_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        order=payload.order,
    )
    return single(response, stage)


@router.delete(
    "/approvals/route-stages/{stage_id}", response={204: None}, openapi_extra=IF_MATCH
)
def delete_route_stage(
    request: HttpRequest, org_slug: OrgSlug, stage_id: int
) -> Status[None]:
    """Only in a draft (otherwise 422); the stages after it move up."""
    access = _editor(request, org_slug)
    routes.delete_stage(
        _stage(access, stage_id),
        actor=access.user,
        expected_version=expected_version(request, None),
    )
    return Status(204, None)


# --- conditions ---------------------------------------------------------------------


@router.post(
    "/approvals/route-versions/{version_id}/conditions",
    response={201: RouteConditionOut},
)
@idempotent
def add_route_condition(
    request: HttpRequest,
    org_slug: OrgSlug,
    version_id: int,
    payload: RouteConditionCreate,
    response: HttpResponse,
) -> RouteCondition:
    """A condition of a draft, checked against the fields of the route's kind."""
    access = _editor(request, org_slug)
    condition = routes.add_condition(
        _version(access, version_id),
        actor=access.user,
        field=payload.field,
        operator=payload.operator,
        value=payload.value,
    )
    return created_elsewhere(
        request, response, org_slug, "approvals/route-conditions", condition
    )


@router.get("/approvals/route-conditions/{condition_id}", response=RouteConditionOut)
def get_route_condition(
    request: HttpRequest, org_slug: OrgSlug, condition_id: int
) -> RouteCondition:
    return _condition(_reader(request, org_slug), condition_id)


@router.delete("/approvals/route-conditions/{condition_id}", response={204: None})
def delete_route_condition(
    request: HttpRequest, org_slug: OrgSlug, condition_id: int
) -> Status[None]:
    """Only in a draft (otherwise 422). To change a condition, delete it and add
    another."""
    access = _editor(request, org_slug)
    routes.remove_condition(_condition(access, condition_id), actor=access.user)
    return Status(204, None)
