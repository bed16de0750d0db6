"""Procedure pages: the list, a procedure with its versions, a version drawn as a
swimlane with its fields, steps and dependencies (editable while it is a draft), the
difference between two versions, and the organisation's working calendar.

Reads go through `rantai.chains.queries` (partners see only procedures in which
their party owns a step); writes call `rantai.chains.services` and nothing else.
Administrators and the holders of a procedure's owner position change it; members
read; a refused change answers 403 and writes nothing.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Count, IntegerField, OuterRef, Q, Subquery
from django.db.models.functions import Coalesce
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import formats
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.chains import extensions, queries
from rantai.chains import services as chains
from rantai.chains.models import (
    ConditionOperator,
    DependencyKind,
    DurationUnit,
    FieldType,
    Holiday,
    Procedure,
    ProcedureVersion,
    RaciRole,
    Run,
    RunField,
    RunStatus,
    Step,
    StepDependency,
    StepRole,
    VersionStatus,
    WorkingCalendar,
)
from rantai.chains.rules import Problem, clean_condition_value, validate_version
from rantai.core.errors import NotFound, ValidationFailed
from rantai.org import queries as org_queries
from rantai.org.models import Duty, Holding, Party, PartyKind
from rantai.web import forms as web_forms
from rantai.web import forms_procedures as procedure_forms
from rantai.web.access import (
    admin_only,
    apply_errors,
    confirm_action,
    form_page,
    handle_form,
    org_view,
    render_page,
)
from rantai.web.svg.swimlane import (
    Arrow,
    Lane,
    StepBox,
    SwimlaneLabels,
    render_swimlane,
)
from rantai.web.views import reviews as review_views

PAGE_SIZE = 25
SEARCH_MAX = 100


# --- shared helpers ---------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _data(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _page(request: HttpRequest, template: str, **options: Any) -> HttpResponse:
    """A page in the procedures' navigation unless told otherwise."""
    options.setdefault("nav", "procedures")
    return render_page(request, template, **options)


def _get(qs: Any, pk: int | str) -> Any:
    try:
        return qs.get(pk=int(pk))
    except (ValueError, TypeError, qs.model.DoesNotExist) as error:
        raise Http404 from error


def _number(value: Decimal | int | float | str) -> str:
    """A quantity as people write it: no trailing zeros, grouped, localised."""
    try:
        number = Decimal(str(value))
    except InvalidOperation:
        return str(value)
    if number == number.to_integral_value():
        number = number.quantize(Decimal(1))
    else:
        number = number.normalize()
    return formats.number_format(number, use_l10n=True, force_grouping=True)


def duration_label(value: Decimal, unit: str) -> str:
    """“2 d”, “4 h”: a duration in working days or working hours."""
    if unit == DurationUnit.WORKING_HOURS:
        return _("%(value)s h") % {"value": _number(value)}
    return _("%(value)s d") % {"value": _number(value)}


def lag_label(dependency: StepDependency) -> str:
    if not dependency.lag_value:
        return ""
    return "+" + duration_label(dependency.lag_value, dependency.lag_unit)


OPERATOR_SYMBOLS = {
    ConditionOperator.EQ: "=",
    ConditionOperator.NE: "≠",
    ConditionOperator.GT: ">",
    ConditionOperator.GTE: "≥",
    ConditionOperator.LT: "<",
    ConditionOperator.LTE: "≤",
}


def _condition_value(run_field: RunField | None, value: Any) -> str:
    if isinstance(value, list):
        return ", ".join(_condition_value(run_field, item) for item in value)
    if value is None:
        return "…"
    if run_field is not None and run_field.field_type in (
        FieldType.INTEGER,
        FieldType.DECIMAL,
    ):
        return _number(value)
    return str(value)


def condition_label(step: Step, fields_by_key: dict[str, RunField]) -> str:
    """“shipment value > 500,000,000”: a step's condition in words."""
    if not step.condition_field:
        return ""
    run_field = fields_by_key.get(step.condition_field)
    name = run_field.label if run_field else step.condition_field
    operator = step.condition_operator
    if operator == ConditionOperator.IS_TRUE:
        return _("%(field)s is yes") % {"field": name}
    if operator == ConditionOperator.IS_FALSE:
        return _("%(field)s is no") % {"field": name}
    value = _condition_value(run_field, step.condition_value)
    if operator in OPERATOR_SYMBOLS:
        return f"{name} {OPERATOR_SYMBOLS[operator]} {value}"  # type: ignore[index]
    if operator == ConditionOperator.IN:
        return _("%(field)s is one of %(values)s") % {"field": name, "values": value}
    if operator == ConditionOperator.NOT_IN:
        return _("%(field)s is none of %(values)s") % {"field": name, "values": value}
    return f"{name} {operator} {value}"


def _may_edit(access: Access, procedure: Procedure) -> bool:
    """Administrators and the current holders of the owner position (as the
    services decide it)."""
    if access.is_admin:
        return True
    if access.role != Role.MEMBER:
        return False
    return chains.holds_position(
        access.organisation, access.user, procedure.owner_position_id
    )


def _require_editor(access: Access, procedure: Procedure) -> None:
    if not _may_edit(access, procedure):
        raise DjangoPermissionDenied


def _positions_to_own(access: Access) -> Any:
    """Positions the caller may name as a procedure's owner: any active position for
    administrators, the positions they hold for members, none for others."""
    positions = web_forms.active_positions(access.organisation)
    if access.is_admin:
        return positions
    if access.role != Role.MEMBER:
        return positions.none()
    held = (
        Holding.objects.current(org_queries.today_for(access))
        .filter(
            organisation=access.organisation,
            person__user=access.user,
            person__is_active=True,
        )
        .values("position_id")
    )
    return positions.filter(pk__in=held)


def _form_page(request: HttpRequest, form: forms.Form, **options: Any) -> HttpResponse:
    """One form on a page of its own (`form_page`), in the procedures' navigation
    unless told otherwise."""
    options.setdefault("nav", "procedures")
    return form_page(request, form, **options)


# --- the procedures list ----------------------------------------------------------


def _search_term(request: HttpRequest) -> str:
    return request.GET.get("q", "").strip()[:SEARCH_MAX]


def _procedure_rows(access: Access) -> Any:
    """Procedures with their published and draft numbers and active runs: one query."""
    versions = ProcedureVersion.objects.filter(procedure=OuterRef("pk"))
    active_runs = (
        Run.objects.filter(procedure=OuterRef("pk"), status=RunStatus.ACTIVE)
        .order_by()
        .values("procedure")
        .annotate(count=Count("pk"))
        .values("count")
    )
    return (
        queries.procedures(access)
        .select_related("owner_position", "owner_position__party")
        .annotate(
            published_number=Subquery(
                versions.filter(status=VersionStatus.PUBLISHED).values("number")[:1]
            ),
            draft_number=Subquery(
                versions.filter(status=VersionStatus.DRAFT).values("number")[:1]
            ),
            active_runs=Coalesce(Subquery(active_runs, output_field=IntegerField()), 0),
        )
    )


def _procedure_list_page(
    request: HttpRequest,
    *,
    form: forms.Form | None = None,
    status: int = 200,
) -> HttpResponse:
    access = _access(request)
    query = _search_term(request)
    qs = _procedure_rows(access)
    if query:
        qs = qs.filter(Q(name__icontains=query) | Q(code__icontains=query))
    page = Paginator(qs.order_by("name", "id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    if form is None and access.role in (Role.ADMIN, Role.MEMBER):
        positions = _positions_to_own(access)
        if access.is_admin or positions.exists():
            form = procedure_forms.ProcedureCreateForm(
                positions=positions, auto_id="new-procedure-%s"
            )
    return _page(
        request,
        "web/procedures/list.html",
        partial="list-results",
        status=status,
        page=page,
        query=query,
        form=form,
        list_url=_url("procedure-list", access),
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def procedure_list(request: HttpRequest) -> HttpResponse:
    """Procedures with their owner, published version, draft and active runs."""
    return _procedure_list_page(request)


@org_view
@require_http_methods(["GET", "POST"])
def procedure_create(request: HttpRequest) -> HttpResponse:
    """A new procedure with an empty draft (administrators; members for a position
    they hold)."""
    access = _access(request)
    positions = _positions_to_own(access)
    if not access.is_admin and not positions.exists():
        raise DjangoPermissionDenied
    form = procedure_forms.ProcedureCreateForm(
        _data(request), positions=positions, auto_id="new-procedure-%s"
    )

    def save(data: dict[str, Any]) -> str:
        procedure = chains.create_procedure(
            access.organisation, actor=access.user, **data
        )
        return _url("procedure-version", access, procedure.versions.get().pk)

    return _form_page(
        request,
        form,
        title=_("New procedure"),
        submit=_("Create"),
        cancel_url=_url("procedure-list", access),
        save=save,
        success=_("The procedure was created with an empty draft, version 1."),
        intro=_(
            "A procedure (SOP) starts as an empty draft: add its run fields, steps, "
            "roles and dependencies, then publish it."
        ),
    )


# --- a procedure and its versions -------------------------------------------------


def _procedure(access: Access, pk: int | str) -> Procedure:
    return queries.procedure(access, pk)


def _version(access: Access, pk: int | str) -> ProcedureVersion:
    """A version of the organisation (whole-organisation readers only)."""
    return queries.version(access, pk)


@org_view
@require_http_methods(["GET", "HEAD"])
def procedure_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    procedure = _procedure(access, pk)
    versions = list(
        ProcedureVersion.objects.filter(procedure=procedure)
        .select_related("published_by")
        .annotate(
            run_count=Count("runs", distinct=True),
            active_run_count=Count(
                "runs", filter=Q(runs__status=RunStatus.ACTIVE), distinct=True
            ),
        )
        .order_by("-number")
    )
    draft = next((v for v in versions if v.status == VersionStatus.DRAFT), None)
    published = next((v for v in versions if v.status == VersionStatus.PUBLISHED), None)
    partner_steps: list[Step] = []
    if not access.sees_whole_organisation:
        # A partner sees the steps its own party does, in the published version.
        partner_steps = list(
            Step.objects.filter(
                procedure_version=published,
                roles__party_id=access.partner_party_id,
            )
            .distinct()
            .order_by("sort_order", "id")
        )
        for step in partner_steps:
            step.duration_text = duration_label(  # type: ignore[attr-defined]
                step.duration_value, step.duration_unit
            )
    latest = versions[0] if versions else None
    compare_b = latest
    compare_a = versions[1] if len(versions) > 1 else None
    return _page(
        request,
        "web/procedures/detail.html",
        procedure=procedure,
        versions=versions,
        draft=draft,
        published=published,
        latest=latest,
        compare_a=compare_a,
        compare_b=compare_b,
        may_edit=_may_edit(access, procedure),
        partner_steps=partner_steps,
    )


@org_view
@require_http_methods(["GET", "POST"])
def procedure_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    procedure = _procedure(access, pk)
    _require_editor(access, procedure)
    positions = web_forms.active_positions(access.organisation)
    form = procedure_forms.ProcedureEditForm(
        _data(request),
        positions=positions,
        initial={
            "name": procedure.name,
            "code": procedure.code,
            "owner_position": procedure.owner_position_id,
            "description": procedure.description,
            "version": procedure.version,
        },
    )
    name = procedure.name

    def save(data: dict[str, Any]) -> str:
        version = data.pop("version")
        chains.update_procedure(
            procedure, actor=access.user, expected_version=version, **data
        )
        return _url("procedure-detail", access, procedure.pk)

    return _form_page(
        request,
        form,
        title=_("Edit “%(name)s”") % {"name": name},
        submit=_("Save"),
        cancel_url=_url("procedure-detail", access, procedure.pk),
        save=save,
        success=_("The changes were saved."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def procedure_new_draft(request: HttpRequest, pk: int) -> HttpResponse:
    """A new draft, copied from the latest version."""
    access = _access(request)
    procedure = _procedure(access, pk)
    _require_editor(access, procedure)
    form = procedure_forms.NewDraftForm(_data(request))

    def save(data: dict[str, Any]) -> str:
        draft = chains.new_draft(procedure, actor=access.user, notes=data["notes"])
        return _url("procedure-version", access, draft.pk)

    return _form_page(
        request,
        form,
        title=_("New draft of “%(name)s”") % {"name": procedure.name},
        submit=_("Create the draft"),
        cancel_url=_url("procedure-detail", access, procedure.pk),
        save=save,
        success=_("A new draft was created from the latest version."),
        intro=_(
            "The draft starts as a copy of the latest version, with its fields, "
            "steps, roles and dependencies. Runs keep using the published version "
            "until the draft is published."
        ),
    )


# --- a version: swimlane, fields, steps, dependencies -------------------------------


@dataclass
class StepRow:
    step: Step
    duration: str
    condition: str
    roles: list[tuple[str, str, list[str]]]
    predecessors: list[tuple[Step, str, str]] = field(default_factory=list)
    problems: list[str] = field(default_factory=list)


def _swimlane_labels() -> SwimlaneLabels:
    return SwimlaneLabels(
        description=_(
            "The steps of the procedure in lanes by who is responsible for them; "
            "arrows show which step waits on which."
        ),
        finish_to_start=_("Finish to start"),
        start_to_start=_("Start to start"),
        conditional=_("Conditional step"),
        condition_prefix=_("if"),
        evidence_required=_("Evidence required"),
        partner=_("Partner"),
        unassigned=_("No responsible yet"),
    )


def _role_holder(role: StepRole, parties: dict[int, Party]) -> str:
    """A position with its party (unless its title already names it), or a party."""
    if role.position is None:
        return role.party.name if role.party else "?"
    title = role.position.title
    party = parties.get(role.position.party_id)
    if party is None or party.name.casefold() in title.casefold():
        return title
    return f"{title} · {party.name}"


def _lane_of(step: Step, parties: dict[int, Party]) -> tuple[str, str, str] | None:
    """(lane id, label, kind) of the step's first responsible, None without one."""
    responsible = [r for r in step.roles.all() if r.role == RaciRole.RESPONSIBLE]
    if not responsible:
        return None
    role = responsible[0]
    if role.party is not None:
        return f"party-{role.party_id}", role.party.name, "partner"
    return f"position-{role.position_id}", _role_holder(role, parties), "internal"


def _swimlane(
    detail: queries.VersionDetail,
    rows: list[StepRow],
    parties: dict[int, Party],
    title: str,
) -> Any:
    lanes: dict[str, Lane] = {}
    boxes: list[StepBox] = []
    for row in rows:
        step = row.step
        lane = _lane_of(step, parties)
        if lane is not None and lane[0] not in lanes:
            lanes[lane[0]] = Lane(id=lane[0], label=lane[1], kind=lane[2])  # type: ignore[arg-type]
        boxes.append(
            StepBox(
                id=step.pk,
                key=step.key,
                label=step.name,
                lane_id=lane[0] if lane else None,
                duration_label=row.duration,
                is_conditional=bool(step.condition_field),
                condition_label=row.condition or None,
                requires_evidence=step.requires_evidence
                or step.requires_verified_evidence,
                href=f"#step-{step.key}",
            )
        )
    step_ids = {step.pk for step in detail.steps}
    arrows = [
        Arrow(
            from_id=link.predecessor_id,
            to_id=link.successor_id,
            kind=link.kind,  # type: ignore[arg-type]
            lag_label=lag_label(link) or None,
        )
        for link in detail.dependencies
        if link.predecessor_id in step_ids and link.successor_id in step_ids
    ]
    return render_swimlane(
        list(lanes.values()),
        boxes,
        arrows,
        title=title,
        labels=_swimlane_labels(),
        id_prefix=f"swimlane-{detail.version.pk}",
    )


def _parties_of(detail: queries.VersionDetail) -> dict[int, Party]:
    """The parties of the positions named by the version's roles: one query."""
    party_ids = {
        role.position.party_id
        for step in detail.steps
        for role in step.roles.all()
        if role.position is not None
    }
    if not party_ids:
        return {}
    return {party.pk: party for party in Party.objects.filter(pk__in=party_ids)}


def _step_rows(
    detail: queries.VersionDetail,
    parties: dict[int, Party],
    problems: Sequence[Problem],
) -> list[StepRow]:
    fields_by_key = {f.key: f for f in detail.fields}
    by_id = {step.pk: step for step in detail.steps}
    predecessors: dict[int, list[tuple[Step, str, str]]] = defaultdict(list)
    for link in detail.dependencies:
        if link.predecessor_id in by_id:
            predecessors[link.successor_id].append(
                (by_id[link.predecessor_id], link.kind, lag_label(link))
            )
    problems_by_key: dict[str, list[str]] = defaultdict(list)
    for problem in problems:
        if problem.step_key:
            problems_by_key[problem.step_key].append(problem.message)
    rows = []
    for step in detail.steps:
        holders: dict[str, list[str]] = {role: [] for role in RaciRole.values}
        for role in step.roles.all():
            holders[role.role].append(_role_holder(role, parties))
        roles = [
            (role, str(RaciRole(role).label), names)
            for role, names in holders.items()
            if names
        ]
        rows.append(
            StepRow(
                step=step,
                duration=duration_label(step.duration_value, step.duration_unit),
                condition=condition_label(step, fields_by_key),
                roles=roles,
                predecessors=predecessors.get(step.pk, []),
                problems=problems_by_key.get(step.key, []),
            )
        )
    return rows


@dataclass
class DependencyRow:
    link: StepDependency
    predecessor: Step
    successor: Step
    lag: str


def _dependency_rows(detail: queries.VersionDetail) -> list[DependencyRow]:
    by_id = {step.pk: step for step in detail.steps}
    return [
        DependencyRow(
            link, by_id[link.predecessor_id], by_id[link.successor_id], lag_label(link)
        )
        for link in detail.dependencies
        if link.predecessor_id in by_id and link.successor_id in by_id
    ]


def _duties(access: Access) -> Any:
    return (
        Duty.objects.filter(
            organisation=access.organisation, is_active=True, position__is_active=True
        )
        .select_related("position")
        .order_by("position__title", "sort_order", "id")
    )


def _version_page(
    request: HttpRequest,
    pk: int | str,
    *,
    status: int = 200,
    **forms_in_error: Any,
) -> HttpResponse:
    access = _access(request)
    try:
        detail = queries.version_detail(access, pk)
    except NotFound as error:
        raise Http404 from error
    version = detail.version
    procedure = version.procedure
    is_draft = version.status == VersionStatus.DRAFT
    may_edit = _may_edit(access, procedure)
    problems = validate_version(version) if is_draft else []
    parties = _parties_of(detail)
    rows = _step_rows(detail, parties, problems)
    title = _("%(procedure)s, version %(number)d") % {
        "procedure": procedure.name,
        "number": version.number,
    }
    context: dict[str, Any] = {}
    if is_draft and may_edit:
        context = {
            "field_form": procedure_forms.RunFieldForm(auto_id="new-field-%s"),
            "step_form": procedure_forms.StepForm(
                auto_id="new-step-%s", duties=_duties(access), run_fields=detail.fields
            ),
            "dependency_form": procedure_forms.DependencyForm(
                auto_id="new-dependency-%s", steps=detail.steps
            ),
        }
        context.update(forms_in_error)
    return _page(
        request,
        "web/procedures/version.html",
        status=status,
        version=version,
        procedure=procedure,
        detail=detail,
        rows=rows,
        problems=problems,
        general_problems=[p for p in problems if not p.step_key],
        is_draft=is_draft,
        may_edit=may_edit,
        editing=is_draft and may_edit,
        swimlane=_swimlane(detail, rows, parties, title) if rows else None,
        dependencies=_dependency_rows(detail),
        title=title,
        **review_views.proposals_panel(access, version, may_edit=may_edit),
        **context,
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def procedure_version(request: HttpRequest, pk: int) -> HttpResponse:
    return _version_page(request, pk)


def _draft_for_editor(
    request: HttpRequest, version_id: int
) -> tuple[Access, ProcedureVersion]:
    """The version, for an editor of its procedure (403 for anyone else)."""
    access = _access(request)
    version = _version(access, version_id)
    _require_editor(access, version.procedure)
    return access, version


def _frozen(request: HttpRequest, access: Access, version: ProcedureVersion) -> Any:
    """A published or retired version cannot change: say so on its page."""
    if version.status == VersionStatus.DRAFT:
        return None
    messages.warning(
        request,
        _(
            "Version %(number)d is %(status)s and can no longer change; create a new "
            "draft to change the procedure."
        )
        % {"number": version.number, "status": version.get_status_display()},
    )
    return redirect(_url("procedure-version", access, version.pk))


def _version_url(access: Access, version_id: int, anchor: str = "") -> str:
    return _url("procedure-version", access, version_id) + anchor


# run fields


@org_view
@require_http_methods(["GET", "POST"])
def run_field_create(request: HttpRequest, pk: int) -> HttpResponse:
    access, version = _draft_for_editor(request, pk)
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = procedure_forms.RunFieldForm(_data(request))

    def save(data: dict[str, Any]) -> str:
        chains.add_run_field(version, actor=access.user, **data)
        return _version_url(access, version.pk, "#fields")

    return _form_page(
        request,
        form,
        title=_("New run field"),
        submit=_("Add field"),
        cancel_url=_version_url(access, version.pk, "#fields"),
        save=save,
        success=_("The field was added."),
        intro=_("A value every run of the procedure fills in when it starts."),
    )


def _run_field(request: HttpRequest, pk: int) -> tuple[Access, RunField]:
    access = _access(request)
    run_field = queries.run_field(access, pk)
    _require_editor(access, run_field.procedure_version.procedure)
    return access, run_field


@org_view
@require_http_methods(["GET", "POST"])
def run_field_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access, run_field = _run_field(request, pk)
    version = run_field.procedure_version
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = procedure_forms.RunFieldEditForm(
        _data(request), initial=procedure_forms.run_field_initial(run_field)
    )
    label = run_field.label

    def save(data: dict[str, Any]) -> str:
        expected = data.pop("version")
        chains.update_run_field(
            run_field, actor=access.user, expected_version=expected, **data
        )
        return _version_url(access, version.pk, "#fields")

    return _form_page(
        request,
        form,
        title=_("Edit the field “%(name)s”") % {"name": label},
        submit=_("Save"),
        cancel_url=_version_url(access, version.pk, "#fields"),
        save=save,
        success=_("The changes were saved."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def run_field_delete(request: HttpRequest, pk: int) -> HttpResponse:
    access, run_field = _run_field(request, pk)
    version = run_field.procedure_version
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = web_forms.ConfirmForm(_data(request), initial={"version": run_field.version})
    label = run_field.label

    def save(data: dict[str, Any]) -> str:
        chains.delete_run_field(
            run_field, actor=access.user, expected_version=data["version"]
        )
        return _version_url(access, version.pk, "#fields")

    return _form_page(
        request,
        form,
        title=_("Delete the field “%(name)s”") % {"name": label},
        submit=_("Delete"),
        cancel_url=_version_url(access, version.pk, "#fields"),
        save=save,
        success=_("The field was deleted."),
        intro=_(
            "Steps whose condition names this field will be reported until you "
            "change their condition."
        ),
        danger=True,
    )


# steps


def _step_values(data: dict[str, Any], version: ProcedureVersion) -> dict[str, Any]:
    """The step's values for the service, with the condition value in its canonical
    form when the field and operator allow it (rules.clean_condition_value)."""
    key = data.get("condition_field") or ""
    operator = data.get("condition_operator") or ""
    if not key:
        data["condition_operator"] = ""
        data["condition_value"] = None
    elif operator:
        run_field = RunField.objects.filter(procedure_version=version, key=key).first()
        if run_field is not None:
            canonical, problem = clean_condition_value(
                run_field, operator, data.get("condition_value")
            )
            if problem is None:
                data["condition_value"] = canonical
    return data


@org_view
@require_http_methods(["GET", "POST"])
def step_create(request: HttpRequest, pk: int) -> HttpResponse:
    access, version = _draft_for_editor(request, pk)
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = procedure_forms.StepForm(
        _data(request),
        duties=_duties(access),
        run_fields=RunField.objects.filter(procedure_version=version),
    )

    def save(data: dict[str, Any]) -> str:
        step = chains.add_step(
            version, actor=access.user, **_step_values(data, version)
        )
        return _url("step-roles", access, step.pk)

    return _form_page(
        request,
        form,
        title=_("New step"),
        submit=_("Add step"),
        cancel_url=_version_url(access, version.pk, "#steps"),
        save=save,
        success=_(
            "The step was added. Give it its roles: one accountable and at least "
            "one responsible."
        ),
    )


def _step(request: HttpRequest, pk: int) -> tuple[Access, Step]:
    access = _access(request)
    step = queries.step(access, pk)
    _require_editor(access, step.procedure_version.procedure)
    return access, step


@org_view
@require_http_methods(["GET", "POST"])
def step_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access, step = _step(request, pk)
    version = step.procedure_version
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = procedure_forms.StepEditForm(
        _data(request),
        initial=procedure_forms.step_initial(step),
        duties=_duties(access),
        run_fields=RunField.objects.filter(procedure_version=version),
    )
    name = step.name

    def save(data: dict[str, Any]) -> str:
        expected = data.pop("version")
        chains.update_step(
            step,
            actor=access.user,
            expected_version=expected,
            **_step_values(data, version),
        )
        return _version_url(access, version.pk, f"#step-{step.key}")

    return _form_page(
        request,
        form,
        title=_("Edit the step “%(name)s”") % {"name": name},
        submit=_("Save"),
        cancel_url=_version_url(access, version.pk, f"#step-{step.key}"),
        save=save,
        success=_("The changes were saved."),
        secondary_links=[
            (_url("step-roles", access, step.pk), _("Roles of this step")),
        ],
    )


@org_view
@require_http_methods(["GET", "POST"])
def step_delete(request: HttpRequest, pk: int) -> HttpResponse:
    access, step = _step(request, pk)
    version = step.procedure_version
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = web_forms.ConfirmForm(_data(request), initial={"version": step.version})
    name = step.name

    def save(data: dict[str, Any]) -> str:
        chains.delete_step(step, actor=access.user, expected_version=data["version"])
        return _version_url(access, version.pk, "#steps")

    return _form_page(
        request,
        form,
        title=_("Delete the step “%(name)s”") % {"name": name},
        submit=_("Delete"),
        cancel_url=_version_url(access, version.pk, f"#step-{step.key}"),
        save=save,
        success=_("The step was deleted."),
        intro=_("Its roles and its dependencies are deleted with it."),
        danger=True,
    )


# step roles


def _partners(access: Access) -> Any:
    return web_forms.active_parties(access.organisation).filter(
        kind=PartyKind.EXTERNAL_PARTNER
    )


@org_view
@require_http_methods(["GET", "POST"])
def step_roles(request: HttpRequest, pk: int) -> HttpResponse:
    """A step's RACI rows; an editor adds one here (POST) or removes one."""
    access, step = _step(request, pk)
    form = procedure_forms.StepRoleForm(
        _data(request),
        positions=web_forms.active_positions(access.organisation),
        partners=_partners(access),
        auto_id="new-role-%s",
    )

    def save(data: dict[str, Any]) -> str:
        chains.add_step_role(step, actor=access.user, **data)
        return _url("step-roles", access, step.pk)

    return handle_form(
        request,
        form,
        save,
        success=_("The role was added."),
        page=lambda status: _step_roles_page(request, step, form, status=status),
    )


def _step_roles_page(
    request: HttpRequest, step: Step, form: forms.Form, *, status: int
) -> HttpResponse:
    version = step.procedure_version
    roles = list(
        StepRole.objects.filter(step=step)
        .select_related("position", "position__party", "party")
        .order_by("role", "id")
    )
    order = {value: index for index, value in enumerate(RaciRole.values)}
    roles.sort(key=lambda role: (order[role.role], role.pk))
    return _page(
        request,
        "web/procedures/step_roles.html",
        status=status,
        step=step,
        version=version,
        procedure=version.procedure,
        roles=roles,
        form=form,
        editing=version.status == VersionStatus.DRAFT,
        counts={
            "accountable": sum(1 for r in roles if r.role == RaciRole.ACCOUNTABLE),
            "responsible": sum(1 for r in roles if r.role == RaciRole.RESPONSIBLE),
        },
    )


@org_view
@require_http_methods(["GET", "POST"])
def step_role_delete(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    step_role = queries.step_role(access, pk)
    step = step_role.step
    _require_editor(access, step.procedure_version.procedure)
    version = step.procedure_version
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = procedure_forms.ConfirmDeleteForm(_data(request))
    values = {
        "role": step_role.get_role_display(),
        "holder": step_role.position or step_role.party,
        "step": step.name,
    }

    def save(data: dict[str, Any]) -> str:
        chains.remove_step_role(step_role, actor=access.user)
        return _url("step-roles", access, step.pk)

    return _form_page(
        request,
        form,
        title=_("Remove %(role)s: %(holder)s from “%(step)s”") % values,
        submit=_("Remove"),
        cancel_url=_url("step-roles", access, step.pk),
        save=save,
        success=_("The role was removed."),
        danger=True,
    )


# dependencies


@org_view
@require_http_methods(["GET", "POST"])
def dependency_create(request: HttpRequest, pk: int) -> HttpResponse:
    access, version = _draft_for_editor(request, pk)
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    steps = list(Step.objects.filter(procedure_version=version).order_by("sort_order"))
    by_id = {step.pk: step for step in steps}
    form = procedure_forms.DependencyForm(
        _data(request),
        steps=steps,
        initial={
            "successor": _positive_int(request.GET.get("successor")),
            "predecessor": _positive_int(request.GET.get("predecessor")),
        },
    )

    def save(data: dict[str, Any]) -> str:
        data["predecessor"] = by_id[data["predecessor"]]
        data["successor"] = by_id[data["successor"]]
        chains.add_dependency(version, actor=access.user, **data)
        return _version_url(access, version.pk, "#dependencies")

    return _form_page(
        request,
        form,
        title=_("New dependency"),
        submit=_("Add dependency"),
        cancel_url=_version_url(access, version.pk, "#dependencies"),
        save=save,
        success=_("The dependency was added."),
        intro=_(
            "Finish to start: the step starts when the predecessor is done. Start to "
            "start: it may start once the predecessor has started. A lag adds "
            "working time in between."
        ),
    )


def _dependency(request: HttpRequest, pk: int) -> tuple[Access, StepDependency]:
    access = _access(request)
    dependency = queries.step_dependency(access, pk)
    _require_editor(access, dependency.procedure_version.procedure)
    return access, dependency


@org_view
@require_http_methods(["GET", "POST"])
def dependency_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access, dependency = _dependency(request, pk)
    version = dependency.procedure_version
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = procedure_forms.DependencyEditForm(
        _data(request),
        initial={
            "kind": dependency.kind,
            "lag_value": dependency.lag_value,
            "lag_unit": dependency.lag_unit,
            "version": dependency.version,
        },
    )
    values = {
        "predecessor": dependency.predecessor.name,
        "successor": dependency.successor.name,
    }

    def save(data: dict[str, Any]) -> str:
        expected = data.pop("version")
        chains.update_dependency(
            dependency, actor=access.user, expected_version=expected, **data
        )
        return _version_url(access, version.pk, "#dependencies")

    return _form_page(
        request,
        form,
        title=_("“%(successor)s” waits on “%(predecessor)s”") % values,
        submit=_("Save"),
        cancel_url=_version_url(access, version.pk, "#dependencies"),
        save=save,
        success=_("The changes were saved."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def dependency_delete(request: HttpRequest, pk: int) -> HttpResponse:
    access, dependency = _dependency(request, pk)
    version = dependency.procedure_version
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = web_forms.ConfirmForm(
        _data(request), initial={"version": dependency.version}
    )
    values = {
        "predecessor": dependency.predecessor.name,
        "successor": dependency.successor.name,
    }

    def save(data: dict[str, Any]) -> str:
        chains.remove_dependency(
            dependency, actor=access.user, expected_version=data["version"]
        )
        return _version_url(access, version.pk, "#dependencies")

    return _form_page(
        request,
        form,
        title=_("Remove the dependency of “%(successor)s” on “%(predecessor)s”")
        % values,
        submit=_("Remove"),
        cancel_url=_version_url(access, version.pk, "#dependencies"),
        save=save,
        success=_("The dependency was removed."),
        danger=True,
    )


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


# publishing and retiring


@org_view
@require_http_methods(["GET", "POST"])
def version_publish(request: HttpRequest, pk: int) -> HttpResponse:
    """Publish a draft: it shows what keeps the draft from being published, and a
    refused publication changes nothing."""
    access, version = _draft_for_editor(request, pk)
    if refusal := _frozen(request, access, version):
        return refusal  # type: ignore[no-any-return]

    def act(expected: int) -> str:
        chains.publish(version, actor=access.user, expected_version=expected)
        return _url("procedure-version", access, version.pk)

    def page(form: forms.Form, status: int) -> HttpResponse:
        # chains' own rules, then what the publish guards (the role checks) refuse
        problems = validate_version(version) + [
            Problem(code="publish_guard", message=message)
            for message in extensions.publish_problems(version.pk)
        ]
        published = (
            ProcedureVersion.objects.filter(
                procedure_id=version.procedure_id, status=VersionStatus.PUBLISHED
            )
            .values_list("number", flat=True)
            .first()
        )
        return _page(
            request,
            "web/procedures/publish.html",
            status=status,
            version=version,
            procedure=version.procedure,
            problems=problems,
            published_number=published,
            form=form,
        )

    return confirm_action(
        request,
        version=version.version,
        act=act,
        success=_(
            "Version %(number)d is published: new runs use it, and it can no "
            "longer change."
        )
        % {"number": version.number},
        page=page,
        shown_by_page="unpublishable",
    )


@org_view
@require_http_methods(["GET", "POST"])
def version_retire(request: HttpRequest, pk: int) -> HttpResponse:
    access, version = _draft_for_editor(request, pk)
    if version.status != VersionStatus.PUBLISHED:
        messages.warning(request, _("Only a published version can be retired."))
        return redirect(_url("procedure-version", access, version.pk))
    values = {"number": version.number, "name": version.procedure.name}

    def act(expected: int) -> str:
        chains.retire(version, actor=access.user, expected_version=expected)
        return _url("procedure-detail", access, version.procedure_id)

    return confirm_action(
        request,
        version=version.version,
        act=act,
        success=_("Version %(number)d is retired: no new run can start from it.")
        % values,
        title=_("Retire version %(number)d of “%(name)s”") % values,
        submit=_("Retire"),
        cancel_url=_url("procedure-version", access, version.pk),
        intro=_(
            "No new run can start from a retired version; runs already under way "
            "keep it. Until another version is published, the procedure cannot be "
            "started."
        ),
        danger=True,
        nav="procedures",
    )


# --- the difference between two versions -----------------------------------------


@dataclass
class Change:
    label: str
    old: str
    new: str


@dataclass
class StepDiff:
    key: str
    name: str
    changes: list[Change] = field(default_factory=list)
    roles_added: list[str] = field(default_factory=list)
    roles_removed: list[str] = field(default_factory=list)


def _field_label(model: Any, name: str) -> str:
    model_field = model._meta.get_field(name.removesuffix("_id"))
    return str(model_field.verbose_name).capitalize()


def _show(name: str, value: Any, duties: dict[int, str]) -> str:
    """A compared value as people read it."""
    if value is None or value == "" or value == []:
        return "—"
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if name == "duty_id":
        return duties.get(value, str(value))
    choices = {
        "duration_unit": DurationUnit,
        "lag_unit": DurationUnit,
        "condition_operator": ConditionOperator,
        "kind": DependencyKind,
        "field_type": FieldType,
    }
    if name in choices and value in choices[name].values:
        return str(choices[name](value).label)
    if isinstance(value, Decimal):
        return _number(value)
    if isinstance(value, list):
        return ", ".join(str(item) for item in value)
    return str(value)


@org_view
@require_http_methods(["GET", "HEAD"])
def procedure_compare(request: HttpRequest, pk: int) -> HttpResponse:
    """What changed from version `a` to version `b` of a procedure."""
    access = _access(request)
    access.require_whole_organisation()
    procedure = _procedure(access, pk)
    versions = list(
        ProcedureVersion.objects.filter(procedure=procedure).order_by("-number")
    )
    by_pk = {v.pk: v for v in versions}
    b = by_pk.get(_positive_int(request.GET.get("b")) or 0) or (
        versions[0] if versions else None
    )
    a = by_pk.get(_positive_int(request.GET.get("a")) or 0)
    if a is None and b is not None:
        a = next((v for v in versions if v.number < b.number), None)
    if a is None or b is None:
        messages.warning(request, _("The procedure has only one version so far."))
        return redirect(_url("procedure-detail", access, procedure.pk))
    diff = queries.diff_versions(a, b)
    names = dict(
        Step.objects.filter(procedure_version__in=[a, b])
        .order_by("procedure_version__number")
        .values_list("key", "name")
    )
    duty_ids = {
        value
        for change in diff.steps_changed
        for value in change.changes.get("duty_id", ())
        if value
    }
    duties = dict(
        Duty.objects.filter(
            pk__in=duty_ids, organisation=access.organisation
        ).values_list("pk", "title")
    )
    steps_changed = [
        StepDiff(
            key=change.key,
            name=names.get(change.key, change.key),
            changes=[
                Change(
                    _field_label(Step, name),
                    _show(name, old, duties),
                    _show(name, new, duties),
                )
                for name, (old, new) in change.changes.items()
            ],
            roles_added=change.roles_added,
            roles_removed=change.roles_removed,
        )
        for change in diff.steps_changed
    ]
    fields_changed = [
        (
            key,
            [
                Change(
                    _field_label(RunField, name),
                    _show(name, old, {}),
                    _show(name, new, {}),
                )
                for name, (old, new) in changes.items()
            ],
        )
        for key, changes in diff.fields_changed.items()
    ]
    dependencies_changed = [
        (
            link,
            [
                Change(
                    _field_label(StepDependency, name),
                    _show(name, old, {}),
                    _show(name, new, {}),
                )
                for name, (old, new) in changes.items()
            ],
        )
        for link, changes in diff.dependencies_changed.items()
    ]
    return _page(
        request,
        "web/procedures/compare.html",
        procedure=procedure,
        versions=versions,
        a=a,
        b=b,
        diff=diff,
        names=names,
        steps_added=[(key, names.get(key, key)) for key in diff.steps_added],
        steps_removed=[(key, names.get(key, key)) for key in diff.steps_removed],
        steps_changed=steps_changed,
        fields_changed=fields_changed,
        dependencies_changed=dependencies_changed,
    )


# --- the working calendar ---------------------------------------------------------


def _calendar(access: Access) -> WorkingCalendar:
    return WorkingCalendar.objects.filter(
        organisation=access.organisation
    ).first() or WorkingCalendar(organisation=access.organisation)


def _calendar_year(request: HttpRequest, access: Access) -> int:
    year = _positive_int(request.GET.get("year") or request.POST.get("year"))
    if year is None or not 1950 <= year <= 2100:
        return org_queries.today_for(access).year
    return year


def _calendar_page(
    request: HttpRequest,
    *,
    status: int = 200,
    calendar_form: forms.Form | None = None,
    holiday_form: forms.Form | None = None,
    load_form: forms.Form | None = None,
) -> HttpResponse:
    access = _access(request)
    access.require_whole_organisation()
    calendar = _calendar(access)
    year = _calendar_year(request, access)
    holidays = list(
        Holiday.objects.filter(organisation=access.organisation, date__year=year)
    )
    years = sorted(
        {
            day.year
            for day in Holiday.objects.filter(organisation=access.organisation).dates(
                "date", "year"
            )
        }
        | {year, org_queries.today_for(access).year}
    )
    if access.is_admin:
        calendar_form = calendar_form or procedure_forms.CalendarForm(
            initial={
                "working_weekdays": calendar.working_weekdays,
                "day_start": calendar.day_start,
                "day_end": calendar.day_end,
                "version": calendar.version,
            },
            auto_id="calendar-%s",
        )
        holiday_form = holiday_form or procedure_forms.HolidayForm(
            auto_id="holiday-%s", initial={"date": dt.date(year, 1, 1)}
        )
        load_form = load_form or procedure_forms.LoadHolidaysForm(
            initial={"year": year}, auto_id="load-%s"
        )
    weekday_names = dict(procedure_forms.WEEKDAYS)
    return _page(
        request,
        "web/procedures/calendar.html",
        status=status,
        nav="calendar",
        calendar=calendar,
        working_days=[str(weekday_names[d]) for d in calendar.working_weekdays],
        hours_per_day=_number(Decimal(calendar.minutes_per_day) / 60),
        holidays=holidays,
        year=year,
        years=years,
        calendar_form=calendar_form,
        holiday_form=holiday_form,
        load_form=load_form,
    )


def _calendar_url(access: Access, year: int | None = None) -> str:
    url = _url("calendar", access)
    return f"{url}?year={year}" if year else url


@org_view
@require_http_methods(["GET", "HEAD", "POST"])
def calendar(request: HttpRequest) -> HttpResponse:
    """The working calendar; administrators change the days and hours here (POST)."""
    access = _access(request)
    if request.method != "POST":
        return _calendar_page(request)
    admin_only(access)
    form = procedure_forms.CalendarForm(request.POST, auto_id="calendar-%s")

    def save(data: dict[str, Any]) -> str:
        chains.update_working_calendar(
            access.organisation,
            actor=access.user,
            expected_version=data.pop("version"),
            **data,
        )
        return _calendar_url(access)

    return handle_form(
        request,
        form,
        save,
        success=_("The working calendar was saved."),
        page=lambda status: _calendar_page(request, status=status, calendar_form=form),
    )


@org_view
@require_POST
def holiday_create(request: HttpRequest) -> HttpResponse:
    access = _access(request)
    admin_only(access)
    form = procedure_forms.HolidayForm(request.POST, auto_id="holiday-%s")

    def save(data: dict[str, Any]) -> str:
        holiday = chains.add_holiday(access.organisation, actor=access.user, **data)
        return _calendar_url(access, holiday.date.year)

    return handle_form(
        request,
        form,
        save,
        success=_("The holiday was added."),
        page=lambda status: _calendar_page(request, status=status, holiday_form=form),
    )


@org_view
@require_POST
def holiday_load(request: HttpRequest) -> HttpResponse:
    """Add the Indonesian public holidays of a year (dates already taken keep
    theirs)."""
    access = _access(request)
    admin_only(access)
    form = procedure_forms.LoadHolidaysForm(request.POST, auto_id="load-%s")
    if form.is_valid():
        year = form.cleaned_data["year"]
        try:
            added = chains.load_public_holidays(
                access.organisation, actor=access.user, year=year
            )
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            messages.success(
                request,
                ngettext(
                    "%(count)d public holiday of %(year)d was added.",
                    "%(count)d public holidays of %(year)d were added.",
                    len(added),
                )
                % {"count": len(added), "year": year},
            )
            return redirect(_calendar_url(access, year))
    return _calendar_page(request, load_form=form)


@org_view
@require_http_methods(["GET", "POST"])
def holiday_delete(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    admin_only(access)
    holiday = queries.holiday(access, pk)
    form = procedure_forms.ConfirmDeleteForm(_data(request))
    values = {
        "name": holiday.name,
        "date": formats.date_format(holiday.date, "DATE_FORMAT"),
    }
    year = holiday.date.year

    def save(data: dict[str, Any]) -> str:
        chains.remove_holiday(holiday, actor=access.user)
        return _calendar_url(access, year)

    return _form_page(
        request,
        form,
        title=_("Remove the holiday “%(name)s” (%(date)s)") % values,
        submit=_("Remove"),
        cancel_url=_calendar_url(access, year),
        save=save,
        success=_("The holiday was removed: %(date)s is a working day again.") % values,
        danger=True,
        nav="calendar",
    )
