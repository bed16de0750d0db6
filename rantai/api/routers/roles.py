"""Roles with teeth (docs/design-roles.md): the RACI matrix of a procedure version
and editing a draft's cells; the roles of the caller, of a person and of a party;
the role checks and acknowledged warnings; briefings and their acknowledgement;
why a task has its assignee and assigning it by hand; consultations and their
answers; rebalancing a unit's open tasks; the fairness report; the assignment
policy.

Administrators, members and auditors read the organisation's roles; an external
partner sees only its own party's part (its roles, its columns of a published
matrix, its briefings and consultations) and nothing of the role checks, the
rebalancing, the fairness report or the policy (404). Auditors and partners are
refused every change — but acknowledging their own briefing and answering a
consultation of their position — with 403 before anything is looked up; for the
rest the services decide.
"""

import datetime as dt
import re
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import translation
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    org_access,
    require,
    resolve,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.routers.approvals import field_names, location
from rantai.api.routers.tasks import TaskOut
from rantai.api.routers.workload import ExactDecimal
from rantai.api.versions import IF_MATCH, expected_version, with_etag
from rantai.chains import queries as chains_queries
from rantai.chains.models import ProcedureVersion, RaciRole, Step, Task, VersionStatus
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.org import queries as org_queries
from rantai.org.models import PartyKind, Person
from rantai.roles import (
    assigning,
    briefings,
    checks,
    consulting,
    exports,
    fairness,
    policy,
    queries,
    raci,
    rebalancing,
)
from rantai.roles.models import (
    Assignment,
    AssignmentKind,
    AssignmentOutcome,
    AssignmentRule,
    Briefing,
    BriefingReason,
    CheckAcknowledgement,
    CheckRule,
    Consultation,
    ConsultationStatus,
    RebalanceProposal,
    RebalanceStatus,
    RoleSettings,
)

router = Router(tags=["roles"])

XLSX = exports.XLSX_CONTENT_TYPE
PDF = exports.PDF_CONTENT_TYPE


# --- access ---------------------------------------------------------------------------


def _inside(request: HttpRequest, org_slug: str) -> Access:
    """The organisation's own matters (role checks, rebalancing, the policy): not
    for external partners (404)."""
    access = org_access(request, org_slug)
    access.require_whole_organisation()
    return access


def _changer(request: HttpRequest, org_slug: str) -> Access:
    """Auditors and partners change nothing here (403, before anything is looked
    up); the services decide the rest."""
    access = org_access(request, org_slug)
    if access.role not in (Role.ADMIN, Role.MEMBER):
        raise PermissionDenied(
            _("Auditors and outside partners cannot change roles or assignments.")
        )
    return access


def _language() -> str:
    return translation.get_language() or "en"


def _download(data: bytes, content_type: str, filename: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{filename}"'
    return response


def _safe(text: str) -> str:
    return re.sub(r"[^A-Za-z0-9_-]+", "-", text).strip("-") or "procedure"


def _version(access: Access, procedure_id: int, number: int) -> ProcedureVersion:
    """Version `number` of a procedure the caller sees (else 404)."""
    procedure = chains_queries.procedure(access, procedure_id)
    found = (
        ProcedureVersion.objects.filter(procedure=procedure, number=number)
        .select_related("organisation", "procedure", "procedure__owner_position")
        .first()
    )
    if found is None:
        raise NotFound()
    return found


# --- the RACI matrix ------------------------------------------------------------------


class RaciColumnOut(Schema):
    """A position or an external party with a role in the version."""

    key: str = Field(..., description='"position:<id>" or "party:<id>".')
    kind: str = Field(..., description="position or party")
    id: int
    title: str = Field(..., description="The position's title, or the party's name.")
    code: str
    party_id: int = Field(..., description="The position's party, or the party.")
    party_name: str
    is_external: bool = Field(..., description="Of an external partner.")


class RaciRowOut(Schema):
    """A step of the version (in order) and its cells."""

    step_id: int
    key: str
    name: str
    sort_order: int
    requires_consultation: bool
    cells: dict[str, list[RaciRole]] = Field(
        ...,
        description="Column key → the roles of that column on this step, in R, A, "
        "C, I order (empty cells are left out).",
    )


class RaciMatrixOut(Schema):
    """Steps × positions and parties. A partner sees only its own party's columns
    and the steps where they have a role."""

    procedure_id: int
    procedure_code: str
    procedure_name: str
    owner_position_id: int
    version_id: int
    number: int
    status: VersionStatus
    is_editable: bool = Field(
        ..., description="A draft, and you may change it (PUT …/raci/cells)."
    )
    columns: list[RaciColumnOut]
    rows: list[RaciRowOut]


class RaciCellIn(Schema):
    """Make the roles of a position (or of an external party, responsible only) on
    a step exactly `roles`; an empty list clears the cell."""

    step_id: int
    position_id: int | None = None
    party_id: int | None = None
    roles: list[RaciRole] = Field(..., description="A subset of R, A, C, I.")


class MatrixQuery(Schema):
    format: str = Field(
        "json",
        pattern="^(json|xlsx|pdf)$",
        description="json (default), xlsx or pdf (as a file).",
    )


def _column_key(kind: str, pk: int) -> str:
    return f"{kind}:{pk}"


def _matrix_out(matrix: raci.Matrix, *, editable: bool) -> dict[str, Any]:
    return {
        "procedure_id": matrix.procedure_id,
        "procedure_code": matrix.procedure_code,
        "procedure_name": matrix.procedure_name,
        "owner_position_id": matrix.owner_position_id,
        "version_id": matrix.version_id,
        "number": matrix.number,
        "status": matrix.status,
        "is_editable": editable,
        "columns": [
            {
                "key": _column_key(column.kind, column.id),
                "kind": column.kind,
                "id": column.id,
                "title": column.title,
                "code": column.code,
                "party_id": column.party_id,
                "party_name": column.party_name,
                "is_external": column.is_external,
            }
            for column in matrix.columns
        ],
        "rows": [
            {
                "step_id": row.step_id,
                "key": row.key,
                "name": row.name,
                "sort_order": row.sort_order,
                "requires_consultation": row.requires_consultation,
                "cells": {
                    _column_key(column.kind, column.id): list(
                        matrix.roles_in(row.step_id, column)
                    )
                    for column in matrix.columns
                    if matrix.cell(row.step_id, column)
                },
            }
            for row in matrix.rows
        ],
    }


def _matrix_answer(access: Access, version: ProcedureVersion) -> dict[str, Any]:
    matrix = raci.visible_matrix(access, version)
    editable = access.sees_whole_organisation and raci.may_edit(version, access.user)
    return _matrix_out(matrix, editable=editable)


FILE_CONTENT: dict[str, Any] = {
    "responses": {
        200: {
            "description": "JSON, or the Excel workbook or PDF as a file "
            "(Content-Disposition: attachment).",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/RaciMatrixOut"}
                },
                XLSX: {"schema": {"type": "string", "format": "binary"}},
                PDF: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
}


@router.get(
    "/procedures/{procedure_id}/versions/{number}/raci",
    response=RaciMatrixOut,
    openapi_extra=FILE_CONTENT,
)
def raci_matrix(
    request: HttpRequest,
    org_slug: OrgSlug,
    procedure_id: int,
    number: int,
    query: Query[MatrixQuery],
) -> Any:
    """The RACI matrix of version `number`: its steps in order × every position
    and party with a role in it; as JSON, or (`format=xlsx|pdf`) as a file in
    your language. A partner sees its own party's columns of published and
    retired versions its party takes part in."""
    access = org_access(request, org_slug)
    version = _version(access, procedure_id, number)
    if query.format == "json":
        return _matrix_answer(access, version)
    matrix = raci.visible_matrix(access, version)
    name = f"raci-{_safe(matrix.procedure_code)}-v{matrix.number}.{query.format}"
    if query.format == "xlsx":
        return _download(exports.matrix_xlsx(matrix, language=_language()), XLSX, name)
    return _download(exports.matrix_pdf(matrix, language=_language()), PDF, name)


@router.put(
    "/procedures/{procedure_id}/versions/{number}/raci/cells",
    response=RaciMatrixOut,
)
def set_raci_cell(
    request: HttpRequest,
    org_slug: OrgSlug,
    procedure_id: int,
    number: int,
    payload: RaciCellIn,
) -> dict[str, Any]:
    """Set one cell of a draft (administrators and holders of the procedure's
    owner position): the roles left out are removed, the new ones added, in one
    transaction, by the rules of step roles (one accountable per step; an
    external party is only responsible). Answers the matrix as it stands after."""
    access = _changer(request, org_slug)
    version = _version(access, procedure_id, number)
    step = require(
        Step.objects.filter(procedure_version=version), payload.step_id, "step_id"
    )
    raci.set_cell(
        step,
        actor=access.user,
        position=resolve(
            org_queries.positions(access), payload.position_id, "position_id"
        ),
        party=resolve(org_queries.parties(access), payload.party_id, "party_id"),
        roles=[RaciRole(role) for role in payload.roles],
    )
    return _matrix_answer(access, version)


# --- whose roles ------------------------------------------------------------------------


class PersonRoleOut(Schema):
    """A role on a step of a published version, through a position held today."""

    procedure_id: int
    procedure_code: str
    procedure_name: str
    version_id: int
    version_number: int
    step_id: int
    step_key: str
    step_name: str
    role: RaciRole
    position_id: int = Field(..., description="The position through which.")
    position_title: str
    acting: bool = Field(..., description="Held only as an acting holder (Plt).")


class PartyRoleOut(Schema):
    """A role of the party itself (responsible) or of one of its positions, on a
    step of a published version."""

    procedure_id: int
    procedure_code: str
    procedure_name: str
    version_id: int
    version_number: int
    step_id: int
    step_key: str
    step_name: str
    role: RaciRole
    position_id: int | None = Field(
        None, description="The party's position; null: the party itself."
    )
    position_title: str


@router.get("/me/roles", response=list[PersonRoleOut])
@paginate(Pagination)
def my_roles(request: HttpRequest, org_slug: OrgSlug) -> list[raci.PersonRole]:
    """Every step of every published procedure where you are responsible,
    accountable, consulted or informed through the positions you hold today
    (acting included); by procedure, step and role. None without a person
    linked to your login."""
    return raci.roles_of_user(org_access(request, org_slug))


@router.get("/people/{person_id}/roles", response=list[PersonRoleOut])
@paginate(Pagination)
def person_roles(
    request: HttpRequest, org_slug: OrgSlug, person_id: int
) -> list[raci.PersonRole]:
    """A person's roles (as `GET /me/roles`). A partner sees the people of its
    party, and of them only the roles through its party's positions."""
    access = org_access(request, org_slug)
    person = org_queries.get_or_404(org_queries.people(access), person_id)
    roles = raci.roles_of_person(person)
    if access.partner_party_id is not None:
        roles = [role for role in roles if role.party_id == access.partner_party_id]
    return roles


@router.get("/parties/{party_id}/roles", response=list[PartyRoleOut])
@paginate(Pagination)
def party_roles(
    request: HttpRequest, org_slug: OrgSlug, party_id: int
) -> list[raci.PartyRole]:
    """The roles of a party: the steps it is responsible for itself and every
    role of its positions, in published versions. A partner sees only its own."""
    access = org_access(request, org_slug)
    party = org_queries.get_or_404(org_queries.parties(access), party_id)
    return raci.roles_of_party(party)


# --- role checks --------------------------------------------------------------------


class AcknowledgementOut(Schema):
    """A warning someone accepted with a reason; it covers the finding with the
    same rule and subject while it is not withdrawn."""

    id: int
    rule: CheckRule
    subject: str
    procedure_version_id: int | None
    reason: str
    acknowledged_by_id: int
    acknowledged_at: dt.datetime
    withdrawn_at: dt.datetime | None
    withdrawn_by_id: int | None
    is_active: bool

    @staticmethod
    def resolve_is_active(acknowledgement: CheckAcknowledgement) -> bool:
        return acknowledgement.withdrawn_at is None


class FindingOut(Schema):
    """One problem a role check found, in your language."""

    rule: CheckRule
    severity: checks.Severity = Field(
        ..., description="error (refuses publishing) or warning (may be acknowledged)"
    )
    subject: str = Field(
        ...,
        description="A stable key of what it is about (`v12:step:34`, `person:5`, "
        "`position:7`, …): acknowledge the warning with it.",
    )
    message: str
    explanation: str
    fix_kind: str = Field(..., description="What to change: step, position, person.")
    fix_id: int
    procedure_id: int | None
    version_id: int | None = Field(
        None, description="The procedure version (for its warnings' acknowledgement)."
    )
    step_id: int | None
    is_acknowledged: bool
    acknowledgement: AcknowledgementOut | None

    @staticmethod
    def resolve_fix_kind(finding: checks.Finding) -> str:
        return finding.fix[0]

    @staticmethod
    def resolve_fix_id(finding: checks.Finding) -> int:
        return finding.fix[1]

    @staticmethod
    def resolve_acknowledgement(
        finding: checks.Finding,
    ) -> CheckAcknowledgement | None:
        return finding.acknowledged


class FindingFilters(Schema):
    severity: checks.Severity | None = None
    rule: CheckRule | None = None
    acknowledged: bool | None = Field(
        None, description="true: only acknowledged warnings; false: only open ones."
    )


class AcknowledgeIn(Schema):
    """Accept a current warning (errors must be fixed)."""

    rule: CheckRule
    subject: str
    reason: str
    procedure_version_id: int | None = Field(
        None,
        description="For a warning about a procedure version (its `version_id`); "
        "left out for one about the organisation (over_capacity, "
        "consulted_bottleneck).",
    )


class AcknowledgementFilters(Schema):
    is_active: bool | None = Field(None, description="Not withdrawn.")
    procedure_version_id: int | None = None


def _checker(request: HttpRequest, org_slug: str) -> Access:
    """Role checks: administrators, members and auditors (partners: 404)."""
    access = _inside(request, org_slug)
    if not checks.may_view(access):
        raise NotFound()
    return access


def _filtered(
    findings: list[checks.Finding], filters: FindingFilters
) -> list[checks.Finding]:
    return [
        finding
        for finding in findings
        if (filters.severity is None or finding.severity == filters.severity)
        and (filters.rule is None or finding.rule == filters.rule)
        and (
            filters.acknowledged is None
            or finding.is_acknowledged == filters.acknowledged
        )
    ]


@router.get("/role-checks", response=list[FindingOut])
@paginate(Pagination)
def organisation_checks(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[FindingFilters]
) -> list[checks.Finding]:
    """Every role check over the organisation: the published procedures (and those
    with runs under way, for vacancies), people over capacity in the load window
    and consulted bottlenecks. Errors first."""
    access = _checker(request, org_slug)
    return _filtered(checks.check_organisation(access.organisation), filters)


@router.get(
    "/procedures/{procedure_id}/versions/{number}/role-checks",
    response=list[FindingOut],
)
@paginate(Pagination)
def version_checks(
    request: HttpRequest,
    org_slug: OrgSlug,
    procedure_id: int,
    number: int,
    filters: Query[FindingFilters],
) -> list[checks.Finding]:
    """The role checks of one version (a draft too: its errors refuse publishing)."""
    access = _checker(request, org_slug)
    version = _version(access, procedure_id, number)
    return _filtered(checks.check_version(version), filters)


def _acknowledgements(access: Access) -> QuerySet[CheckAcknowledgement]:
    return CheckAcknowledgement.objects.filter(organisation=access.organisation)


@router.get("/role-checks/acknowledgements", response=list[AcknowledgementOut])
@paginate(Pagination)
def list_acknowledgements(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[AcknowledgementFilters]
) -> QuerySet[CheckAcknowledgement]:
    """Acknowledged warnings, newest first (withdrawn ones too, unless filtered)."""
    acknowledgements = _acknowledgements(_checker(request, org_slug))
    if filters.is_active is not None:
        acknowledgements = acknowledgements.filter(
            withdrawn_at__isnull=filters.is_active
        )
    if filters.procedure_version_id is not None:
        acknowledgements = acknowledgements.filter(
            procedure_version_id=filters.procedure_version_id
        )
    return acknowledgements.order_by("-acknowledged_at", "-id")


@router.get(
    "/role-checks/acknowledgements/{acknowledgement_id}", response=AcknowledgementOut
)
def get_acknowledgement(
    request: HttpRequest, org_slug: OrgSlug, acknowledgement_id: int
) -> CheckAcknowledgement:
    access = _checker(request, org_slug)
    return org_queries.get_or_404(_acknowledgements(access), acknowledgement_id)  # type: ignore[no-any-return]


@router.post("/role-checks/acknowledgements", response={201: AcknowledgementOut})
@idempotent
def acknowledge_warning(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: AcknowledgeIn,
    response: HttpResponse,
) -> CheckAcknowledgement:
    """Accept a warning with a reason: a procedure version's warning —
    administrators and holders of the procedure's owner position; one about the
    organisation — administrators. The warning must be current and not yet
    acknowledged; errors cannot be acknowledged (422)."""
    access = _changer(request, org_slug)
    with field_names({"procedure_version": "procedure_version_id"}):
        acknowledgement = checks.acknowledge(
            access.organisation,
            actor=access.user,
            rule=payload.rule,
            subject=payload.subject,
            reason=payload.reason,
            procedure_version=resolve(
                ProcedureVersion.objects.filter(organisation=access.organisation),
                payload.procedure_version_id,
                "procedure_version_id",
            ),
        )
    response["Location"] = location(
        request, org_slug, f"role-checks/acknowledgements/{acknowledgement.pk}"
    )
    return acknowledgement


@router.post(
    "/role-checks/acknowledgements/{acknowledgement_id}/withdraw",
    response=AcknowledgementOut,
)
@idempotent
def withdraw_acknowledgement(
    request: HttpRequest, org_slug: OrgSlug, acknowledgement_id: int
) -> CheckAcknowledgement:
    """The warning counts as open again (the same people as for acknowledging it).
    Withdrawing twice is 422."""
    access = _changer(request, org_slug)
    acknowledgement = org_queries.get_or_404(
        _acknowledgements(access), acknowledgement_id
    )
    return checks.withdraw(acknowledgement, actor=access.user)


# --- the assignment policy ------------------------------------------------------------


class RoleSettingsOut(Schema):
    """How tasks are assigned and the thresholds of the role checks."""

    assignment_rule: AssignmentRule
    require_duty_coverage: bool = Field(
        ...,
        description="Only holders whose job description covers the step's duty "
        "are candidates.",
    )
    load_window_days: int = Field(
        ..., description="Capacity is weighed over this many working days (1–120)."
    )
    consulted_bottleneck_steps: int = Field(
        ..., description="A position consulted on more steps is a bottleneck."
    )
    briefing_reminder_days: int = Field(
        ..., description="Remind about an unacknowledged briefing after (1–60 days)."
    )
    escalate_late_tasks: bool
    version: int
    updated_at: dt.datetime


class RoleSettingsUpdate(Schema):
    """Fields left out keep their value."""

    assignment_rule: AssignmentRule | None = None
    require_duty_coverage: bool | None = None
    load_window_days: int | None = None
    consulted_bottleneck_steps: int | None = None
    briefing_reminder_days: int | None = None
    escalate_late_tasks: bool | None = None
    version: int | None = None


@router.get("/roles/settings", response=RoleSettingsOut)
def get_role_settings(
    request: HttpRequest, org_slug: OrgSlug, response: HttpResponse
) -> RoleSettings:
    """The organisation's assignment policy (the defaults until changed)."""
    access = _inside(request, org_slug)
    return single(response, policy.settings_for(access.organisation))


@router.patch("/roles/settings", response=RoleSettingsOut, openapi_extra=IF_MATCH)
def update_role_settings(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: RoleSettingsUpdate,
    response: HttpResponse,
) -> RoleSettings:
    """Change the policy: administrators."""
    access = org_access(request, org_slug)
    access.require_admin()
    changes = payload.model_dump(exclude_unset=True, exclude={"version"})
    for name, value in changes.items():
        if value is None:
            raise ValidationFailed({name: [_("This field cannot be empty.")]})
    settings = policy.update_settings(
        access.organisation,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        **changes,
    )
    return single(response, settings)


# --- the fairness report ----------------------------------------------------------------


class FairnessQuery(Schema):
    since: dt.date = Field(..., description="First day (organisation-local).")
    until: dt.date = Field(..., description="Last day, included.")
    unit: int | None = Field(
        None, description="An internal unit's id: it and its sub-units only."
    )
    format: str = Field("json", pattern="^(json|xlsx)$", description="json or xlsx.")


class LoadRowOut(Schema):
    """The work one person carried through one position in the period."""

    person_id: int
    person_name: str
    position_id: int
    position_code: str
    position_title: str
    tasks: int
    minutes: int


class PersonLoadOut(Schema):
    person_id: int
    person_name: str
    tasks: int
    minutes: int


class PositionSpreadOut(Schema):
    position_id: int
    position_code: str
    position_title: str
    people: int
    tasks: int
    minutes: int
    gini: ExactDecimal


class OverridesOut(Schema):
    assigner_id: int = Field(..., description="The login that assigned by hand.")
    assigner_name: str
    manual: int = Field(..., description="Manual assignments.")
    overrides: int = Field(..., description="Of them, outside the candidates.")
    share: ExactDecimal = Field(..., description="overrides ÷ manual")


class ConcentrationOut(Schema):
    """How concentrated an assigner's manual picks are on one person, against a
    uniform pick among each task's candidates."""

    assigner_id: int
    assigner_name: str
    picks: int
    top_person_id: int
    top_person_name: str
    top_picks: int
    share: ExactDecimal = Field(..., description="Of the picks, to the top person.")
    expected_share: ExactDecimal = Field(
        ..., description="Expected with uniform picks among the candidates."
    )
    ratio: ExactDecimal = Field(..., description="share ÷ expected_share")
    flagged: bool = Field(..., description="At least 5 picks and a ratio of 2.")


class FairnessOut(Schema):
    """Load per person per position over the period, its spread (Gini: 0 when
    everyone carried the same), manual overrides and concentration per assigner,
    and the Lorenz curve. Decimals are exact, as strings."""

    organisation_id: int
    unit_id: int | None
    unit_name: str
    since: dt.date
    until: dt.date
    assignments: int = Field(..., description="Current assignments counted.")
    rows: list[LoadRowOut]
    people: list[PersonLoadOut]
    gini: ExactDecimal
    positions: list[PositionSpreadOut]
    overrides: list[OverridesOut]
    concentration: list[ConcentrationOut]
    lorenz: list[list[ExactDecimal]] = Field(
        ..., description="[share of people, share of minutes] points, from [0, 0]."
    )


FAIRNESS_CONTENT: dict[str, Any] = {
    "responses": {
        200: {
            "description": "JSON, or the Excel workbook as a file.",
            "content": {
                "application/json": {
                    "schema": {"$ref": "#/components/schemas/FairnessOut"}
                },
                XLSX: {"schema": {"type": "string", "format": "binary"}},
            },
        }
    }
}


@router.get("/fairness", response=FairnessOut, openapi_extra=FAIRNESS_CONTENT)
def fairness_report(
    request: HttpRequest, org_slug: OrgSlug, query: Query[FairnessQuery]
) -> Any:
    """The fairness report of a period: administrators and auditors; a member for
    a unit whose head position they hold (or a unit below it)."""
    access = _inside(request, org_slug)
    unit = resolve(
        org_queries.parties(access).filter(kind=PartyKind.INTERNAL_UNIT),
        query.unit,
        "unit",
    )
    if query.until < query.since:
        raise ValidationFailed({"until": [_("The period ends before it starts.")]})
    if not fairness.may_view(access, unit=unit):
        raise PermissionDenied(
            _(
                "Only administrators, auditors and the heads of the unit can see "
                "its fairness report."
            )
        )
    built = fairness.report(
        access.organisation, since=query.since, until=query.until, unit=unit
    )
    if query.format == "xlsx":
        return _download(
            fairness.to_excel(built, language=_language()),
            XLSX,
            f"fairness-{query.since:%Y%m%d}-{query.until:%Y%m%d}.xlsx",
        )
    return built


# --- briefings --------------------------------------------------------------------------


class BriefingOut(Schema):
    """A person's roles in plain language, frozen when issued, to acknowledge."""

    id: int
    person_id: int
    person_name: str
    reason: BriefingReason
    title: str = Field(..., description="In your language.")
    procedure_version_id: int | None = Field(
        None, description="The version published (reason version_published)."
    )
    holding_id: int | None = Field(
        None, description="The holding started (reason started_holding)."
    )
    issued_at: dt.datetime
    acknowledged_at: dt.datetime | None
    is_acknowledged: bool
    reminders_sent: int
    last_reminded_at: dt.datetime | None
    version: int

    @staticmethod
    def resolve_person_name(briefing: Briefing) -> str:
        return briefing.person.full_name

    @staticmethod
    def resolve_title(briefing: Briefing) -> str:
        return briefings.heading(briefing)


class SectionOut(Schema):
    title: str
    sentences: list[str]


class BriefingDetailOut(BriefingOut):
    content: dict[str, Any] = Field(
        ...,
        description="As issued: `positions`, `job_description` (position id → duty "
        "titles) and `roles` (procedure, step, role, what it does, who it hands "
        "over to and receives from, who approves, the evidence, the consulted and "
        "the informed).",
    )
    sections: list[SectionOut] = Field(
        ..., description="The briefing as plain sentences, in your language."
    )
    acknowledged_by_id: int | None
    may_acknowledge: bool = Field(..., description="It is yours and not acknowledged.")

    @staticmethod
    def resolve_sections(briefing: Briefing) -> list[dict[str, Any]]:
        return [
            {"title": section.title, "sentences": list(section.sentences)}
            for section in briefings.render(briefing)
        ]


class BriefingStatusOut(Schema):
    """One person's briefing on the version."""

    briefing_id: int
    person_id: int
    person_name: str
    has_login: bool = Field(
        ..., description="Without a login they get the printed briefing."
    )
    issued_at: dt.datetime
    acknowledged_at: dt.datetime | None
    reminders: int
    last_reminded_at: dt.datetime | None


class BriefingFilters(Schema):
    acknowledged: bool | None = Field(
        None, description="false: only those still to acknowledge."
    )


class BriefingQuery(Schema):
    format: str = Field(
        "json", pattern="^(json|pdf)$", description="json, or pdf (to print)."
    )


class VersionBriefingsOut(Schema):
    """Who was briefed on a version and who acknowledged."""

    procedure_id: int
    version_id: int
    number: int
    issued: int
    acknowledged: int
    may_remind: bool = Field(
        ..., description="You may remind them (POST /briefings/{id}/remind)."
    )
    people: list[BriefingStatusOut] = Field(..., description="By name.")


def _briefing_detail(access: Access, briefing_id: int) -> Briefing:
    found = queries.briefing(access, briefing_id)
    found.may_acknowledge = (  # type: ignore[attr-defined]
        found.acknowledged_at is None and found.person.user_id == access.user.pk
    )
    return found


@router.get("/briefings", response=list[BriefingOut])
@paginate(Pagination)
def list_my_briefings(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[BriefingFilters]
) -> list[Briefing]:
    """Your briefings, newest first (`acknowledged=false`: those to acknowledge)."""
    found = queries.my_briefings(org_access(request, org_slug))
    if filters.acknowledged is not None:
        found = [
            briefing
            for briefing in found
            if briefing.is_acknowledged == filters.acknowledged
        ]
    return found


@router.get(
    "/briefings/{briefing_id}",
    response=BriefingDetailOut,
    openapi_extra={
        "responses": {
            200: {
                "description": "JSON, or the printable briefing as PDF.",
                "content": {
                    "application/json": {
                        "schema": {"$ref": "#/components/schemas/BriefingDetailOut"}
                    },
                    PDF: {"schema": {"type": "string", "format": "binary"}},
                },
            }
        }
    },
)
def get_briefing(
    request: HttpRequest,
    org_slug: OrgSlug,
    briefing_id: int,
    response: HttpResponse,
    query: Query[BriefingQuery],
) -> Any:
    """A briefing with its content as issued and in plain sentences; `format=pdf`
    prints it. The person reads their own; administrators and auditors every
    one; the process owner those of its procedure's versions; the holders of a
    position's superior those about holdings of it."""
    briefing = _briefing_detail(org_access(request, org_slug), briefing_id)
    if query.format == "pdf":
        return _download(
            briefings.pdf(briefing, language=_language()),
            PDF,
            f"briefing-{briefing.pk}.pdf",
        )
    return single(response, briefing)


@router.post(
    "/briefings/{briefing_id}/acknowledge",
    response=BriefingDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def acknowledge_briefing(
    request: HttpRequest,
    org_slug: OrgSlug,
    briefing_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Briefing:
    """Confirm you read your briefing (only the person briefed); the reminders
    stop. Twice is 422 (code `acknowledged`)."""
    access = org_access(request, org_slug)
    briefings.acknowledge(
        queries.briefing(access, briefing_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, _briefing_detail(access, briefing_id))


@router.post("/briefings/{briefing_id}/remind", response=BriefingOut)
@idempotent
def remind_briefing(
    request: HttpRequest, org_slug: OrgSlug, briefing_id: int, response: HttpResponse
) -> Briefing:
    """Remind the person to acknowledge (a notification): administrators, the
    process owner, for a holding's briefing the holders of the position's
    superior. An acknowledged briefing, or a person without a login, is 422."""
    access = _changer(request, org_slug)
    briefings.remind(queries.briefing(access, briefing_id), actor=access.user)
    return single(response, queries.briefing(access, briefing_id))


@router.get(
    "/procedures/{procedure_id}/versions/{number}/briefings",
    response=VersionBriefingsOut,
)
def version_briefings(
    request: HttpRequest, org_slug: OrgSlug, procedure_id: int, number: int
) -> dict[str, Any]:
    """Who was briefed on the version and who has acknowledged: administrators,
    auditors and the holders of the procedure's owner position."""
    access = _inside(request, org_slug)
    version = _version(access, procedure_id, number)
    status = queries.version_briefing_status(access, version.pk)
    return {
        "procedure_id": version.procedure_id,
        "version_id": version.pk,
        "number": version.number,
        "issued": len(status.rows),
        "acknowledged": status.acknowledged,
        "may_remind": status.may_remind,
        "people": status.rows,
    }


# --- assignments --------------------------------------------------------------------------


class CandidateOut(Schema):
    """A holder of the responsible position as the policy saw them."""

    person_id: int
    person_name: str
    load: int = Field(..., description="Estimated minutes of their open tasks.")
    open: int = Field(..., description="Their open tasks.")
    acting: bool = Field(..., description="An acting holder (Plt).")
    covers_duty: bool = Field(
        ..., description="Their job description covers the step's duty."
    )
    available: bool = Field(..., description="Not away during the task's period.")
    eligible: bool = Field(..., description="A candidate under the policy.")
    last_assigned: dt.datetime | None = Field(
        None, description="When last given a task of this position."
    )


class AssignmentOut(Schema):
    """Why a task got its assignee (or nobody), as recorded at the time."""

    id: int
    task_id: int
    kind: AssignmentKind
    rule: AssignmentRule | None = Field(
        None, description="The policy's rule (automatic assignments)."
    )
    outcome: AssignmentOutcome
    position_id: int | None = Field(None, description="The responsible position.")
    person_id: int | None = Field(None, description="The assignee (null: nobody).")
    person_name: str | None
    previous_person_id: int | None
    minutes: int = Field(..., description="The task's estimated work.")
    is_override: bool = Field(
        ..., description="Assigned by hand to someone outside the candidates."
    )
    reason: str
    assigned_by_id: int | None = Field(None, description="The login (by hand).")
    created_at: dt.datetime
    candidates: list[CandidateOut]


class AssignmentsOut(Schema):
    """A task's assignee, the rationale of the current assignment in plain
    sentences, and every (re)assignment, newest first."""

    task_id: int
    task_version: int
    assignee_id: int | None
    current: AssignmentOut | None
    explanation: list[str] = Field(
        ..., description="The current rationale in plain sentences, your language."
    )
    history: list[AssignmentOut]


class AssignIn(Schema):
    """Give an open task to a person by hand; someone outside the candidates needs
    a reason (recorded as an override)."""

    person_id: int
    reason: str = ""
    version: int | None = Field(None, description="The task's version.")


class AssignedOut(Schema):
    task: TaskOut
    assignment: AssignmentOut


def _assignment_out(assignment: Assignment, names: dict[int, str]) -> dict[str, Any]:
    candidates = []
    for entry in assignment.candidates or []:
        if not isinstance(entry, dict) or entry.get("person") is None:
            continue
        covers = bool(entry.get("covers_duty", True))
        available = bool(entry.get("available", True))
        candidates.append(
            {
                "person_id": entry["person"],
                "person_name": names.get(entry["person"], ""),
                "load": int(entry.get("load", 0)),
                "open": int(entry.get("open", 0)),
                "acting": bool(entry.get("acting", False)),
                "covers_duty": covers,
                "available": available,
                "eligible": bool(entry.get("eligible", covers and available)),
                "last_assigned": entry.get("last_assigned"),
            }
        )
    return {
        "id": assignment.pk,
        "task_id": assignment.task_id,
        "kind": assignment.kind,
        "rule": assignment.rule or None,
        "outcome": assignment.outcome,
        "position_id": assignment.position_id,
        "person_id": assignment.person_id,
        "person_name": names.get(assignment.person_id)
        if assignment.person_id
        else None,
        "previous_person_id": assignment.previous_person_id,
        "minutes": assignment.minutes,
        "is_override": assignment.is_override,
        "reason": assignment.reason,
        "assigned_by_id": assignment.assigned_by_id,
        "created_at": assignment.created_at,
        "candidates": candidates,
    }


def _names(organisation_id: int, assignments: list[Assignment]) -> dict[int, str]:
    """The names of every person the assignments mention, in one query."""
    ids: set[int] = set()
    for assignment in assignments:
        ids.update(
            pk
            for pk in (assignment.person_id, assignment.previous_person_id)
            if pk is not None
        )
        ids.update(
            entry["person"]
            for entry in assignment.candidates or []
            if isinstance(entry, dict) and entry.get("person") is not None
        )
    if not ids:
        return {}
    return dict(
        Person.objects.filter(organisation_id=organisation_id, pk__in=ids).values_list(
            "pk", "full_name"
        )
    )


@router.get("/tasks/{task_id}/assignments", response=AssignmentsOut)
def task_assignments(
    request: HttpRequest, org_slug: OrgSlug, task_id: int, response: HttpResponse
) -> dict[str, Any]:
    """Why the task has its assignee: the candidates the policy considered (their
    load, open tasks, acting, duty coverage, availability), the rule and its
    outcome, an override's reason, and every earlier (re)assignment."""
    access = org_access(request, org_slug)
    task = chains_queries.task(access, task_id)
    history = list(
        Assignment.objects.filter(task_id=task.pk)
        .select_related("assigned_by")
        .order_by("-created_at", "-id")
    )
    names = _names(access.organisation.pk, history)
    current = history[0] if history else None
    with_etag(response, task)
    return {
        "task_id": task.pk,
        "task_version": task.version,
        "assignee_id": task.assignee_id,
        "current": _assignment_out(current, names) if current else None,
        "explanation": assigning.explain(current) if current else [],
        "history": [_assignment_out(assignment, names) for assignment in history],
    }


@router.post("/tasks/{task_id}/assign", response=AssignedOut, openapi_extra=IF_MATCH)
@idempotent
def assign_task(
    request: HttpRequest,
    org_slug: OrgSlug,
    task_id: int,
    payload: AssignIn,
    response: HttpResponse,
) -> dict[str, Any]:
    """Assign an open task by hand: administrators and the holders of the
    procedure's owner position or of the task's accountable position. The person
    is an active person of the organisation (not a partner's); outside the
    current candidates a `reason` is required and the assignment is marked as an
    override. The new assignee is notified."""
    access = _changer(request, org_slug)
    task = chains_queries.task(access, task_id)
    assignment = assigning.assign_task(
        task,
        actor=access.user,
        person=require(org_queries.people(access), payload.person_id, "person_id"),
        reason=payload.reason,
        expected_version=expected_version(request, payload.version),
    )
    task = chains_queries.task(access, task_id)
    with_etag(response, task)
    return {
        "task": task,
        "assignment": _assignment_out(
            assignment, _names(access.organisation.pk, [assignment])
        ),
    }


# --- consultations ----------------------------------------------------------------------


class ConsultationOut(Schema):
    """A consulted position's input on one round of a task."""

    id: int
    task_id: int
    task_name: str
    run_id: int
    run_title: str
    procedure_id: int
    procedure_name: str
    position_id: int = Field(..., description="The consulted position.")
    position_title: str
    round: int = Field(..., description="The task's completion round.")
    status: ConsultationStatus
    requested_at: dt.datetime
    answer: str
    answered_by_id: int | None
    answered_at: dt.datetime | None
    version: int

    @staticmethod
    def resolve_task_name(consultation: Consultation) -> str:
        return consultation.task.name

    @staticmethod
    def resolve_run_id(consultation: Consultation) -> int:
        return consultation.task.run_id

    @staticmethod
    def resolve_run_title(consultation: Consultation) -> str:
        return consultation.task.run.title

    @staticmethod
    def resolve_procedure_id(consultation: Consultation) -> int:
        return consultation.task.run.procedure_id

    @staticmethod
    def resolve_procedure_name(consultation: Consultation) -> str:
        return consultation.task.run.procedure.name

    @staticmethod
    def resolve_position_title(consultation: Consultation) -> str:
        return consultation.position.title


class AnswerIn(Schema):
    answer: str = Field(..., description="Your input (required).")
    version: int | None = Field(None, description="The consultation's version.")


@router.get("/consultations", response=list[ConsultationOut])
@paginate(Pagination)
def consultations_waiting(
    request: HttpRequest, org_slug: OrgSlug
) -> list[Consultation]:
    """What waits for your input: consultations of positions you hold today
    (acting included) on open tasks, oldest first."""
    return queries.consultations_waiting(org_access(request, org_slug))


@router.post(
    "/consultations/{consultation_id}/answer",
    response=ConsultationOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def answer_consultation(
    request: HttpRequest,
    org_slug: OrgSlug,
    consultation_id: int,
    payload: AnswerIn,
    response: HttpResponse,
) -> Consultation:
    """Give your position's input (a holder of the consulted position, while the
    task is open). The task's assignee is told; with the last input of the round
    an awaiting task is checked again."""
    access = org_access(request, org_slug)
    consulting.answer(
        queries.consultation(access, consultation_id),
        actor=access.user,
        answer=payload.answer,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, queries.consultation(access, consultation_id))


# --- rebalancing ------------------------------------------------------------------------


class MoveOut(Schema):
    task_id: int
    task_name: str
    run_id: int | None
    task_version: int = Field(..., description="The version the proposal saw.")
    from_person_id: int | None
    from_person_name: str | None
    to_person_id: int
    to_person_name: str
    minutes: int


class PersonLoadChangeOut(Schema):
    person_id: int
    person_name: str
    before: int = Field(..., description="Minutes of open work before the moves.")
    after: int


class ProposalOut(Schema):
    """A proposed reassignment of a unit's ready tasks that evens out the load;
    applied in one step only if none of its tasks changed meanwhile."""

    id: int
    unit_id: int
    unit_code: str
    unit_name: str
    status: RebalanceStatus
    moves: list[MoveOut]
    loads: list[PersonLoadChangeOut] = Field(
        ..., description="Every person concerned, most loaded before first."
    )
    max_before: int
    max_after: int
    gini_before: ExactDecimal
    gini_after: ExactDecimal
    created_by_id: int
    created_at: dt.datetime
    decided_by_id: int | None
    decided_at: dt.datetime | None
    may_decide: bool = Field(..., description="You may apply or discard it.")
    version: int


def _proposal_out(access: Access, proposal: RebalanceProposal) -> dict[str, Any]:
    moves = list(proposal.moves or [])
    before = {int(k): int(v) for k, v in (proposal.load_before or {}).items()}
    after = {int(k): int(v) for k, v in (proposal.load_after or {}).items()}
    people = set(before) | set(after)
    people.update(m["to"] for m in moves)
    people.update(m["from"] for m in moves if m.get("from") is not None)
    names = dict(
        Person.objects.filter(
            organisation_id=access.organisation.pk, pk__in=people
        ).values_list("pk", "full_name")
    )
    tasks = {
        pk: (name, run_id)
        for pk, name, run_id in Task.objects.filter(
            organisation_id=access.organisation.pk, pk__in=[m["task"] for m in moves]
        ).values_list("pk", "name", "run_id")
    }
    unit = proposal.unit
    return {
        "id": proposal.pk,
        "unit_id": unit.pk,
        "unit_code": unit.code,
        "unit_name": unit.name,
        "status": proposal.status,
        "moves": [
            {
                "task_id": move["task"],
                "task_name": tasks.get(move["task"], ("", None))[0],
                "run_id": tasks.get(move["task"], ("", None))[1],
                "task_version": move["task_version"],
                "from_person_id": move.get("from"),
                "from_person_name": names.get(move["from"])
                if move.get("from") is not None
                else None,
                "to_person_id": move["to"],
                "to_person_name": names.get(move["to"], ""),
                "minutes": move["minutes"],
            }
            for move in moves
        ],
        "loads": [
            {
                "person_id": person,
                "person_name": names.get(person, ""),
                "before": before.get(person, 0),
                "after": after.get(person, 0),
            }
            for person in sorted(
                people,
                key=lambda p: (-before.get(p, 0), names.get(p, "").casefold(), p),
            )
        ],
        "max_before": max(before.values(), default=0),
        "max_after": max(after.values(), default=0),
        "gini_before": proposal.gini_before,
        "gini_after": proposal.gini_after,
        "created_by_id": proposal.created_by_id,
        "created_at": proposal.created_at,
        "decided_by_id": proposal.decided_by_id,
        "decided_at": proposal.decided_at,
        "may_decide": proposal.status == RebalanceStatus.PROPOSED
        and rebalancing.may_rebalance(unit, access.user),
        "version": proposal.version,
    }


def _proposal(access: Access, proposal_id: int) -> RebalanceProposal:
    """A proposal of the organisation: administrators, auditors and whoever may
    rebalance its unit (others 403)."""
    found: RebalanceProposal = org_queries.get_or_404(
        RebalanceProposal.objects.filter(
            organisation=access.organisation
        ).select_related("unit"),
        proposal_id,
    )
    if not (
        access.is_admin
        or access.is_auditor
        or rebalancing.may_rebalance(found.unit, access.user)
    ):
        raise PermissionDenied(
            _(
                "Only administrators, auditors and the holders of the unit's head "
                "position can see its rebalancing."
            )
        )
    return found


def _proposal_answer(
    access: Access, proposal_id: int, response: HttpResponse
) -> dict[str, Any]:
    proposal = _proposal(access, proposal_id)
    with_etag(response, proposal)
    return _proposal_out(access, proposal)


@router.post("/units/{unit_id}/rebalance", response={201: ProposalOut})
@idempotent
def propose_rebalancing(
    request: HttpRequest, org_slug: OrgSlug, unit_id: int, response: HttpResponse
) -> dict[str, Any]:
    """Propose moving the unit's ready tasks (its sub-units' too) so the load is
    spread more evenly, each only to one of its candidates, never raising the
    maximum load (started work does not move). Nothing moves until applied:
    administrators and the holders of the unit's head position."""
    access = _changer(request, org_slug)
    unit = org_queries.get_or_404(
        org_queries.parties(access).filter(kind=PartyKind.INTERNAL_UNIT), unit_id
    )
    proposal = rebalancing.propose(unit, actor=access.user)
    response["Location"] = location(
        request, org_slug, f"rebalance-proposals/{proposal.pk}"
    )
    return _proposal_answer(access, proposal.pk, response)


@router.get("/rebalance-proposals/{proposal_id}", response=ProposalOut)
def get_proposal(
    request: HttpRequest, org_slug: OrgSlug, proposal_id: int, response: HttpResponse
) -> dict[str, Any]:
    """The proposal: its moves and every person's load before and after."""
    return _proposal_answer(_inside(request, org_slug), proposal_id, response)


@router.post(
    "/rebalance-proposals/{proposal_id}/apply",
    response=ProposalOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def apply_proposal(
    request: HttpRequest,
    org_slug: OrgSlug,
    proposal_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> dict[str, Any]:
    """Move every task of the proposal, or none: a task that changed since (started,
    done, reassigned) is 409 and nothing moves. The new assignees are notified."""
    access = _changer(request, org_slug)
    rebalancing.apply(
        _proposal(access, proposal_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return _proposal_answer(access, proposal_id, response)


@router.post(
    "/rebalance-proposals/{proposal_id}/discard",
    response=ProposalOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def discard_proposal(
    request: HttpRequest,
    org_slug: OrgSlug,
    proposal_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> dict[str, Any]:
    """Set the proposal aside; nothing moves."""
    access = _changer(request, org_slug)
    rebalancing.discard(
        _proposal(access, proposal_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return _proposal_answer(access, proposal_id, response)
