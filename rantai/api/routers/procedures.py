"""Procedures (SOPs) in versions: a draft's run fields, steps, step roles (RACI)
and dependencies are edited, publishing freezes it, retiring stops new runs.

Administrators and holders of a procedure's owner position change it (the services
decide; others get 403). External partners see the procedures their party takes
part in, but not their versions (404).
"""

import datetime as dt
from decimal import Decimal
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
    require,
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
from rantai.chains import queries
from rantai.chains import services as chains
from rantai.chains.models import (
    ConditionOperator,
    DependencyKind,
    DurationUnit,
    FieldType,
    Procedure,
    ProcedureVersion,
    RaciRole,
    RunField,
    Step,
    StepDependency,
    StepRole,
    VersionStatus,
)
from rantai.core.errors import NotFound
from rantai.org import queries as org_queries
from rantai.org.queries import get_or_404

router = Router(tags=["procedures"])


# --- schemas ----------------------------------------------------------------------


def two_places(value: Decimal | int | str) -> Decimal:
    """A stored decimal as the database keeps it (also before it is read back)."""
    return Decimal(value).quantize(Decimal("0.01"))


class ProcedureOut(Schema):
    id: int
    code: str
    name: str
    owner_position_id: int
    description: str
    is_active: bool
    published_version_id: int | None = Field(
        None, description="The version new runs start from (none yet: null)."
    )
    draft_version_id: int | None = Field(
        None, description="The version being edited, if any."
    )
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class ProcedureFilters(Schema):
    owner_position_id: int | None = None
    is_active: bool | None = None
    q: str | None = None


class ProcedureCreate(Schema):
    """A new procedure starts with an empty draft, version 1."""

    code: str
    name: str
    owner_position_id: int
    description: str = ""


class ProcedureUpdate(Schema):
    code: str | None = None
    name: str | None = None
    owner_position_id: int | None = None
    description: str | None = None
    version: int | None = None


class VersionOut(Schema):
    id: int
    procedure_id: int
    number: int
    status: VersionStatus
    notes: str
    published_at: dt.datetime | None
    published_by_id: int | None
    retired_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime


class NewDraft(Schema):
    """A copy of the latest version (fields, steps, roles, dependencies)."""

    notes: str = ""


class RunFieldOut(Schema):
    id: int
    procedure_version_id: int
    key: str
    label: str
    field_type: FieldType
    required: bool
    choices: list[str]
    unit: str
    sort_order: int
    version: int


class RunFieldCreate(Schema):
    key: str
    label: str
    field_type: FieldType
    required: bool = True
    choices: list[str] = []
    unit: str = ""
    sort_order: int | None = Field(None, ge=0)


class RunFieldUpdate(Schema):
    key: str | None = None
    label: str | None = None
    field_type: FieldType | None = None
    required: bool | None = None
    choices: list[str] | None = None
    unit: str | None = None
    sort_order: int | None = Field(None, ge=0)
    version: int | None = None


class StepRoleOut(Schema):
    id: int
    step_id: int
    role: RaciRole
    position_id: int | None
    party_id: int | None


class StepRoleCreate(Schema):
    """A position, or (responsible only) an external partner party."""

    role: RaciRole
    position_id: int | None = None
    party_id: int | None = None


class StepOut(Schema):
    id: int
    procedure_version_id: int
    key: str
    name: str
    description: str
    duty_id: int | None
    duration_value: Decimal
    duration_unit: DurationUnit
    evidence_description: str
    requires_evidence: bool
    requires_verified_evidence: bool = Field(
        ...,
        description="A task of this step is completed only once someone other than "
        "the one who attached its evidence has verified it.",
    )
    requires_approval: bool = Field(
        ..., description="A task of this step counts as done only once approved."
    )
    requires_consultation: bool = Field(
        ...,
        description="The consulted positions are asked for their input when a task "
        "of this step is ready; it is completed only once every one answered.",
    )
    condition_field: str | None = Field(
        None, description="Applies when this run field …"
    )
    condition_operator: ConditionOperator | None = Field(
        None, description="… compares so with …"
    )
    condition_value: Any = Field(None, description="… this value (no condition: null)")
    sort_order: int
    roles: list[StepRoleOut]
    version: int

    @staticmethod
    def resolve_duration_value(step: Step) -> Decimal:
        return two_places(step.duration_value)

    @staticmethod
    def resolve_condition_field(step: Step) -> str | None:
        return step.condition_field or None

    @staticmethod
    def resolve_condition_operator(step: Step) -> str | None:
        return step.condition_operator or None

    @staticmethod
    def resolve_roles(step: Step) -> list[StepRole]:
        return list(step.roles.all())


class StepCreate(Schema):
    key: str
    name: str
    duration_value: Decimal = Field(..., gt=0)
    duration_unit: DurationUnit = DurationUnit.WORKING_DAYS
    description: str = ""
    duty_id: int | None = None
    evidence_description: str = ""
    requires_evidence: bool = False
    requires_verified_evidence: bool = False
    requires_approval: bool = False
    requires_consultation: bool = False
    condition_field: str | None = None
    condition_operator: ConditionOperator | None = None
    condition_value: Any = None
    sort_order: int | None = Field(None, ge=0)


class StepUpdate(Schema):
    """Fields left out keep their value; `condition_field: null` (with the operator
    and value) removes the condition, `duty_id: null` the duty."""

    key: str | None = None
    name: str | None = None
    duration_value: Decimal | None = Field(None, gt=0)
    duration_unit: DurationUnit | None = None
    description: str | None = None
    duty_id: int | None = None
    evidence_description: str | None = None
    requires_evidence: bool | None = None
    requires_verified_evidence: bool | None = None
    requires_approval: bool | None = None
    requires_consultation: bool | None = None
    condition_field: str | None = None
    condition_operator: ConditionOperator | None = None
    condition_value: Any = None
    sort_order: int | None = Field(None, ge=0)
    version: int | None = None


class StepDependencyOut(Schema):
    id: int
    procedure_version_id: int
    predecessor_id: int
    successor_id: int
    kind: DependencyKind
    lag_value: Decimal
    lag_unit: DurationUnit
    version: int

    @staticmethod
    def resolve_lag_value(dependency: StepDependency) -> Decimal:
        return two_places(dependency.lag_value)


class StepDependencyCreate(Schema):
    """`successor` waits on `predecessor`'s finish (or start), plus the lag."""

    predecessor_id: int
    successor_id: int
    kind: DependencyKind = DependencyKind.FINISH_TO_START
    lag_value: Decimal = Field(Decimal(0), ge=0)
    lag_unit: DurationUnit = DurationUnit.WORKING_HOURS


class StepDependencyUpdate(Schema):
    kind: DependencyKind | None = None
    lag_value: Decimal | None = Field(None, ge=0)
    lag_unit: DurationUnit | None = None
    version: int | None = None


class VersionDetailOut(VersionOut):
    """A version with everything a run copies from it."""

    fields: list[RunFieldOut]
    steps: list[StepOut]
    dependencies: list[StepDependencyOut]

    @staticmethod
    def resolve_fields(version: ProcedureVersion) -> list[RunField]:
        return version.detail.fields  # type: ignore[attr-defined,no-any-return]

    @staticmethod
    def resolve_steps(version: ProcedureVersion) -> list[Step]:
        return version.detail.steps  # type: ignore[attr-defined,no-any-return]

    @staticmethod
    def resolve_dependencies(version: ProcedureVersion) -> list[StepDependency]:
        return version.detail.dependencies  # type: ignore[attr-defined,no-any-return]


Change = tuple[Any, Any]


class StepChangeOut(Schema):
    key: str
    changes: dict[str, Change] = Field(..., description="field → [before, after]")
    roles_added: list[str]
    roles_removed: list[str]


class FieldChangeOut(Schema):
    key: str
    changes: dict[str, Change]


class LinkOut(Schema):
    """A dependency, by the keys of its steps."""

    predecessor: str
    successor: str


class LinkChangeOut(LinkOut):
    changes: dict[str, Change]


class DiffOut(Schema):
    """What changed from version `from_number` to `to_number` (steps and fields
    matched by key)."""

    from_number: int
    to_number: int
    is_empty: bool
    steps_added: list[str]
    steps_removed: list[str]
    steps_changed: list[StepChangeOut]
    fields_added: list[str]
    fields_removed: list[str]
    fields_changed: list[FieldChangeOut]
    dependencies_added: list[LinkOut]
    dependencies_removed: list[LinkOut]
    dependencies_changed: list[LinkChangeOut]


# --- reads ------------------------------------------------------------------------


def _procedures(access: Access) -> QuerySet[Procedure]:
    """Visible procedures with the ids of their published and draft versions."""
    return with_version_ids(
        queries.procedures(access),
        ProcedureVersion.objects.filter(procedure=OuterRef("pk")),
    )


def _inside(request: HttpRequest, org_slug: str) -> Access:
    """Versions and their parts are the organisation's own: not for partners."""
    access = org_access(request, org_slug)
    access.require_whole_organisation()
    return access


def _editor(request: HttpRequest, org_slug: str) -> Access:
    return editor_access(
        request,
        org_slug,
        _("Only administrators and the procedure's owner can change it."),
    )


def _condition(payload: Schema) -> dict[str, Any]:
    """Condition fields as the model stores them ("" for none)."""
    sent = payload.model_fields_set
    values: dict[str, Any] = {}
    for name in ("condition_field", "condition_operator"):
        if name in sent:
            values[name] = getattr(payload, name) or ""
    if "condition_value" in sent:
        values["condition_value"] = payload.condition_value  # type: ignore[attr-defined]
    return values


# --- procedures -------------------------------------------------------------------


@router.get("/procedures", response=list[ProcedureOut])
@paginate(Pagination)
def list_procedures(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[ProcedureFilters]
) -> QuerySet[Procedure]:
    """Procedures visible to the caller (a partner: those its party takes part in)."""
    procedures = _procedures(org_access(request, org_slug))
    if filters.owner_position_id is not None:
        procedures = procedures.filter(owner_position_id=filters.owner_position_id)
    if filters.is_active is not None:
        procedures = procedures.filter(is_active=filters.is_active)
    if filters.q:
        procedures = procedures.filter(
            models.Q(name__icontains=filters.q) | models.Q(code__icontains=filters.q)
        )
    return procedures.order_by("name", "id")


@router.get("/procedures/{procedure_id}", response=ProcedureOut)
def get_procedure(
    request: HttpRequest, org_slug: OrgSlug, procedure_id: int, response: HttpResponse
) -> Procedure:
    access = org_access(request, org_slug)
    return single(response, get_or_404(_procedures(access), procedure_id))


@router.post("/procedures", response={201: ProcedureOut})
@idempotent
def create_procedure(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: ProcedureCreate,
    response: HttpResponse,
) -> Procedure:
    """Administrators, and holders of the owner position, create procedures."""
    access = _editor(request, org_slug)
    procedure = chains.create_procedure(
        access.organisation,
        actor=access.user,
        code=payload.code,
        name=payload.name,
        owner_position=require(
            org_queries.positions(access),
            payload.owner_position_id,
            "owner_position_id",
        ),
        description=payload.description,
    )
    return created(request, response, _procedures(access).get(pk=procedure.pk))


def _update_procedure(
    request: HttpRequest,
    access: Access,
    procedure_id: int,
    version: int | None,
    changes: dict[str, Any],
    response: HttpResponse,
) -> Procedure:
    return change(
        request,
        response,
        chains.update_procedure,
        get_or_404(_procedures(access), procedure_id),
        actor=access.user,
        version=version,
        answer=lambda: _procedures(access).get(pk=procedure_id),
        **changes,
    )


@router.patch(
    "/procedures/{procedure_id}", response=ProcedureOut, openapi_extra=IF_MATCH
)
def update_procedure(
    request: HttpRequest,
    org_slug: OrgSlug,
    procedure_id: int,
    payload: ProcedureUpdate,
    response: HttpResponse,
) -> Procedure:
    """Code, name, owner position and description (not versioned: no steps)."""
    access = _editor(request, org_slug)
    changes = payload.model_dump(
        exclude_unset=True, exclude={"version", "owner_position_id"}
    )
    if "owner_position_id" in payload.model_fields_set:
        changes["owner_position"] = require(
            org_queries.positions(access),
            payload.owner_position_id,  # type: ignore[arg-type]
            "owner_position_id",
        )
    return _update_procedure(
        request, access, procedure_id, payload.version, changes, response
    )


@router.post(
    "/procedures/{procedure_id}/deactivate",
    response=ProcedureOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def deactivate_procedure(
    request: HttpRequest,
    org_slug: OrgSlug,
    procedure_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Procedure:
    """No new runs; running runs continue."""
    access = _editor(request, org_slug)
    return _update_procedure(
        request, access, procedure_id, payload.version, {"is_active": False}, response
    )


@router.post(
    "/procedures/{procedure_id}/reactivate",
    response=ProcedureOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def reactivate_procedure(
    request: HttpRequest,
    org_slug: OrgSlug,
    procedure_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Procedure:
    access = _editor(request, org_slug)
    return _update_procedure(
        request, access, procedure_id, payload.version, {"is_active": True}, response
    )


# --- versions ---------------------------------------------------------------------


@router.get("/procedures/{procedure_id}/versions", response=list[VersionOut])
@paginate(Pagination)
def list_versions(
    request: HttpRequest, org_slug: OrgSlug, procedure_id: int
) -> QuerySet[ProcedureVersion]:
    """A procedure's versions, newest first."""
    access = _inside(request, org_slug)
    procedure = queries.procedure(access, procedure_id)
    return ProcedureVersion.objects.filter(procedure=procedure).order_by("-number")


@router.post("/procedures/{procedure_id}/versions", response={201: VersionOut})
@idempotent
def new_draft(
    request: HttpRequest,
    org_slug: OrgSlug,
    procedure_id: int,
    payload: NewDraft,
    response: HttpResponse,
) -> ProcedureVersion:
    """A new draft, copied from the latest version (one draft at a time)."""
    access = _editor(request, org_slug)
    procedure = queries.procedure(access, procedure_id)
    draft = chains.new_draft(procedure, actor=access.user, notes=payload.notes)
    return created_elsewhere(request, response, org_slug, "procedure-versions", draft)


@router.get("/procedures/{procedure_id}/diff", response=DiffOut)
def diff_versions(
    request: HttpRequest,
    org_slug: OrgSlug,
    procedure_id: int,
    from_number: int = Query(..., alias="from", description="Version number"),
    to_number: int = Query(..., alias="to", description="Version number"),
) -> dict[str, Any]:
    """What changed between two versions of the procedure (by version number)."""
    access = _inside(request, org_slug)
    procedure = queries.procedure(access, procedure_id)
    versions = {
        v.number: v
        for v in ProcedureVersion.objects.filter(
            procedure=procedure, number__in=[from_number, to_number]
        )
    }
    if from_number not in versions or to_number not in versions:
        raise NotFound()
    diff = queries.diff_versions(versions[from_number], versions[to_number])
    return {
        "from_number": from_number,
        "to_number": to_number,
        "is_empty": diff.is_empty,
        "steps_added": diff.steps_added,
        "steps_removed": diff.steps_removed,
        "steps_changed": diff.steps_changed,
        "fields_added": diff.fields_added,
        "fields_removed": diff.fields_removed,
        "fields_changed": [
            {"key": key, "changes": changes}
            for key, changes in diff.fields_changed.items()
        ],
        "dependencies_added": [
            {"predecessor": p, "successor": s} for p, s in diff.dependencies_added
        ],
        "dependencies_removed": [
            {"predecessor": p, "successor": s} for p, s in diff.dependencies_removed
        ],
        "dependencies_changed": [
            {"predecessor": p, "successor": s, "changes": changes}
            for (p, s), changes in diff.dependencies_changed.items()
        ],
    }


@router.get("/procedure-versions/{version_id}", response=VersionDetailOut)
def get_version(
    request: HttpRequest, org_slug: OrgSlug, version_id: int, response: HttpResponse
) -> ProcedureVersion:
    """A version with its run fields, steps (with their roles) and dependencies."""
    detail = queries.version_detail(org_access(request, org_slug), version_id)
    version = detail.version
    version.detail = detail  # type: ignore[attr-defined]
    return single(response, version)


@router.post(
    "/procedure-versions/{version_id}/publish",
    response=VersionOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def publish_version(
    request: HttpRequest,
    org_slug: OrgSlug,
    version_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> ProcedureVersion:
    """Validate and freeze a draft; it replaces the published version. A draft
    that cannot be published answers 422 with every problem in `errors`."""
    access = _editor(request, org_slug)
    return change(
        request,
        response,
        chains.publish,
        queries.version(access, version_id),
        actor=access.user,
        version=payload.version,
    )


@router.post(
    "/procedure-versions/{version_id}/retire",
    response=VersionOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def retire_version(
    request: HttpRequest,
    org_slug: OrgSlug,
    version_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> ProcedureVersion:
    """Stop new runs of the published version; running runs keep it."""
    access = _editor(request, org_slug)
    return change(
        request,
        response,
        chains.retire,
        queries.version(access, version_id),
        actor=access.user,
        version=payload.version,
    )


# --- run fields -------------------------------------------------------------------


@router.post("/procedure-versions/{version_id}/fields", response={201: RunFieldOut})
@idempotent
def add_run_field(
    request: HttpRequest,
    org_slug: OrgSlug,
    version_id: int,
    payload: RunFieldCreate,
    response: HttpResponse,
) -> RunField:
    """A typed value every run of the version fills in."""
    access = _editor(request, org_slug)
    run_field = chains.add_run_field(
        queries.version(access, version_id),
        actor=access.user,
        **payload.model_dump(),
    )
    return created_elsewhere(request, response, org_slug, "run-fields", run_field)


@router.get("/run-fields/{field_id}", response=RunFieldOut)
def get_run_field(
    request: HttpRequest, org_slug: OrgSlug, field_id: int, response: HttpResponse
) -> RunField:
    access = org_access(request, org_slug)
    return single(response, queries.run_field(access, field_id))


@router.patch("/run-fields/{field_id}", response=RunFieldOut, openapi_extra=IF_MATCH)
def update_run_field(
    request: HttpRequest,
    org_slug: OrgSlug,
    field_id: int,
    payload: RunFieldUpdate,
    response: HttpResponse,
) -> RunField:
    access = _editor(request, org_slug)
    run_field = chains.update_run_field(
        queries.run_field(access, field_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        **payload.model_dump(exclude_unset=True, exclude={"version"}),
    )
    return single(response, run_field)


@router.delete("/run-fields/{field_id}", response={204: None}, openapi_extra=IF_MATCH)
def delete_run_field(
    request: HttpRequest, org_slug: OrgSlug, field_id: int
) -> Status[None]:
    """Only in a draft (otherwise 422)."""
    access = _editor(request, org_slug)
    chains.delete_run_field(
        queries.run_field(access, field_id),
        actor=access.user,
        expected_version=expected_version(request, None),
    )
    return Status(204, None)


# --- steps ------------------------------------------------------------------------


@router.post("/procedure-versions/{version_id}/steps", response={201: StepOut})
@idempotent
def add_step(
    request: HttpRequest,
    org_slug: OrgSlug,
    version_id: int,
    payload: StepCreate,
    response: HttpResponse,
) -> Step:
    """A step of a draft; its roles and dependencies are added separately."""
    access = _editor(request, org_slug)
    values = payload.model_dump(
        exclude={"duty_id", "condition_field", "condition_operator", "condition_value"}
    )
    step = chains.add_step(
        queries.version(access, version_id),
        actor=access.user,
        duty=resolve(org_queries.duties(access), payload.duty_id, "duty_id"),
        condition_field=payload.condition_field or "",
        condition_operator=payload.condition_operator or "",
        condition_value=payload.condition_value,
        **values,
    )
    return created_elsewhere(request, response, org_slug, "steps", step)


@router.get("/steps/{step_id}", response=StepOut)
def get_step(
    request: HttpRequest, org_slug: OrgSlug, step_id: int, response: HttpResponse
) -> Step:
    access = org_access(request, org_slug)
    return single(response, queries.step(access, step_id))


@router.patch("/steps/{step_id}", response=StepOut, openapi_extra=IF_MATCH)
def update_step(
    request: HttpRequest,
    org_slug: OrgSlug,
    step_id: int,
    payload: StepUpdate,
    response: HttpResponse,
) -> Step:
    access = _editor(request, org_slug)
    changes = payload.model_dump(
        exclude_unset=True,
        exclude={
            "version",
            "duty_id",
            "condition_field",
            "condition_operator",
            "condition_value",
        },
    )
    changes.update(_condition(payload))
    if "duty_id" in payload.model_fields_set:
        changes["duty"] = resolve(
            org_queries.duties(access), payload.duty_id, "duty_id"
        )
    step = chains.update_step(
        queries.step(access, step_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        **changes,
    )
    return single(response, step)


@router.delete("/steps/{step_id}", response={204: None}, openapi_extra=IF_MATCH)
def delete_step(request: HttpRequest, org_slug: OrgSlug, step_id: int) -> Status[None]:
    """Only in a draft (otherwise 422); its roles and dependencies go with it."""
    access = _editor(request, org_slug)
    chains.delete_step(
        queries.step(access, step_id),
        actor=access.user,
        expected_version=expected_version(request, None),
    )
    return Status(204, None)


# --- step roles -------------------------------------------------------------------


@router.post("/steps/{step_id}/roles", response={201: StepRoleOut})
@idempotent
def add_step_role(
    request: HttpRequest,
    org_slug: OrgSlug,
    step_id: int,
    payload: StepRoleCreate,
    response: HttpResponse,
) -> StepRole:
    """A RACI row. A step needs exactly one accountable position and at least one
    responsible (checked when the version is published)."""
    access = _editor(request, org_slug)
    step_role = chains.add_step_role(
        queries.step(access, step_id),
        actor=access.user,
        role=payload.role,
        position=resolve(
            org_queries.positions(access), payload.position_id, "position_id"
        ),
        party=resolve(org_queries.parties(access), payload.party_id, "party_id"),
    )
    return created_elsewhere(request, response, org_slug, "step-roles", step_role)


@router.get("/step-roles/{step_role_id}", response=StepRoleOut)
def get_step_role(
    request: HttpRequest, org_slug: OrgSlug, step_role_id: int
) -> StepRole:
    return queries.step_role(org_access(request, org_slug), step_role_id)


@router.delete("/step-roles/{step_role_id}", response={204: None})
def delete_step_role(
    request: HttpRequest, org_slug: OrgSlug, step_role_id: int
) -> Status[None]:
    """Only in a draft (otherwise 422). To change a role, delete it and add one."""
    access = _editor(request, org_slug)
    chains.remove_step_role(queries.step_role(access, step_role_id), actor=access.user)
    return Status(204, None)


# --- dependencies -----------------------------------------------------------------


@router.post(
    "/procedure-versions/{version_id}/dependencies",
    response={201: StepDependencyOut},
)
@idempotent
def add_dependency(
    request: HttpRequest,
    org_slug: OrgSlug,
    version_id: int,
    payload: StepDependencyCreate,
    response: HttpResponse,
) -> StepDependency:
    """Cycles are allowed while editing and reported when publishing."""
    access = _editor(request, org_slug)
    steps = Step.objects.filter(organisation=access.organisation)
    dependency = chains.add_dependency(
        queries.version(access, version_id),
        actor=access.user,
        predecessor=require(steps, payload.predecessor_id, "predecessor_id"),
        successor=require(steps, payload.successor_id, "successor_id"),
        kind=payload.kind,
        lag_value=payload.lag_value,
        lag_unit=payload.lag_unit,
    )
    return created_elsewhere(
        request, response, org_slug, "step-dependencies", dependency
    )


@router.get("/step-dependencies/{dependency_id}", response=StepDependencyOut)
def get_dependency(
    request: HttpRequest,
    org_slug: OrgSlug,
    dependency_id: int,
    response: HttpResponse,
) -> StepDependency:
    access = org_access(request, org_slug)
    return single(response, queries.step_dependency(access, dependency_id))


@router.patch(
    "/step-dependencies/{dependency_id}",
    response=StepDependencyOut,
    openapi_extra=IF_MATCH,
)
def update_dependency(
    request: HttpRequest,
    org_slug: OrgSlug,
    dependency_id: int,
    payload: StepDependencyUpdate,
    response: HttpResponse,
) -> StepDependency:
    """The kind and the lag (to link other steps, delete it and add another)."""
    access = _editor(request, org_slug)
    dependency = chains.update_dependency(
        queries.step_dependency(access, dependency_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        **payload.model_dump(exclude_unset=True, exclude={"version"}),
    )
    return single(response, dependency)


@router.delete(
    "/step-dependencies/{dependency_id}",
    response={204: None},
    openapi_extra=IF_MATCH,
)
def delete_dependency(
    request: HttpRequest, org_slug: OrgSlug, dependency_id: int
) -> Status[None]:
    """Only in a draft (otherwise 422)."""
    access = _editor(request, org_slug)
    chains.remove_dependency(
        queries.step_dependency(access, dependency_id),
        actor=access.user,
        expected_version=expected_version(request, None),
    )
    return Status(204, None)
