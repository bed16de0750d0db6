"""Roles pages (issue 6, docs/design-roles.md):

* a procedure version's RACI matrix — steps down, positions and parties across,
  R/A/C/I in the cells; a draft's editors tick the roles of a cell (each cell is a
  small form: htmx sends it on every change and swaps the step's row, without
  JavaScript it is sent with its button), and add a position or partner to a step;
  exported to Excel and PDF (`?format=xlsx|pdf`); partners see only their party's
  columns and steps (`raci.visible_matrix`);
* "my roles", a person's roles and a party's roles (published versions);
* the role checks of the organisation, grouped by severity and rule, each with its
  explanation and a link to fix it; warnings acknowledged with a reason, and
  withdrawn; a version's own findings (shown on the version page);
* the assignment policy (administrators change it, the others read it).

Reads go through `rantai.roles.raci` and `rantai.roles.checks`; every write calls
one roles service, which decides again (rights and rules). Partners see their own
roles, their party's and the matrices their party takes part in; the role checks
and the policy are the organisation's (404 for partners).
"""

from __future__ import annotations

import dataclasses
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.cache import patch_vary_headers
from django.utils.text import slugify
from django.utils.translation import get_language
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods, require_POST

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.chains import services as chains
from rantai.chains.models import (
    ProcedureVersion,
    RaciRole,
    Step,
    VersionStatus,
)
from rantai.core.errors import NotFound, ValidationFailed
from rantai.org import queries as org_queries
from rantai.org.models import Party, PartyKind, Person, Position
from rantai.roles import checks, exports, policy, raci
from rantai.roles.models import CheckAcknowledgement, CheckRule
from rantai.web import forms as web_forms
from rantai.web import forms_roles as roles_forms
from rantai.web.access import (
    apply_errors,
    handle_form,
    org_view,
    render_page,
)

RACI_TEMPLATE = "web/roles/raci.html"
CHECKS_TEMPLATE = "web/roles/checks.html"
VERSION_CHECKS_TEMPLATE = "web/roles/version_checks.html"
# The element of the version page that shows the version's own findings (htmx
# loads it there; without JavaScript its link opens them on a page of their own).
VERSION_CHECKS_PARTIAL = "role-checks"
# Role checks whose step is fixed on its roles page (the others on the step form).
ROLE_RULES = frozenset({CheckRule.ACCOUNTABLE_COUNT, CheckRule.EXTERNAL_ACCOUNTABLE})
# At most this many columns are read back from what a page sends.
MAX_COLUMNS = 500


# --- shared helpers ------------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _data(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _page(request: HttpRequest, template: str, **options: Any) -> HttpResponse:
    """A page in the roles' navigation unless told otherwise."""
    options.setdefault("nav", "roles")
    return render_page(request, template, **options)


def _whole_organisation(access: Access) -> None:
    """Role checks and the policy are the organisation's own: partners get 404."""
    if not access.sees_whole_organisation:
        raise Http404


def _download(data: bytes, content_type: str, file_name: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


ROLE_NAMES = {role.value: role.label for role in RaciRole}


def legend() -> list[tuple[str, str, str]]:
    """(letter, name, what it means) of R, A, C and I, for the legend."""
    return [
        (
            RaciRole.RESPONSIBLE,
            str(RaciRole.RESPONSIBLE.label),
            _("does the work; a position, or an external partner for its own step"),
        ),
        (
            RaciRole.ACCOUNTABLE,
            str(RaciRole.ACCOUNTABLE.label),
            _(
                "answers for the result: exactly one position per step; receives "
                "the escalations and confirms deviations"
            ),
        ),
        (
            RaciRole.CONSULTED,
            str(RaciRole.CONSULTED.label),
            _(
                "gives input; when the step requires consultation, the task is "
                "completed only after every consulted position answered"
            ),
        ),
        (
            RaciRole.INFORMED,
            str(RaciRole.INFORMED.label),
            _("is told when the task is done (in the daily digest)"),
        ),
    ]


# --- the RACI matrix -----------------------------------------------------------------


def _version(access: Access, pk: int) -> ProcedureVersion:
    """A version of the organisation (whether a partner may see its matrix is
    `raci.visible_matrix`'s answer)."""
    version = (
        ProcedureVersion.objects.filter(organisation=access.organisation, pk=pk)
        .select_related("procedure", "procedure__owner_position")
        .first()
    )
    if version is None:
        raise Http404
    return version


def _may_edit(access: Access, version: ProcedureVersion) -> bool:
    """A draft, and an administrator or a holder of the owner position (the chains
    services decide the same)."""
    if version.status != VersionStatus.DRAFT:
        return False
    if access.is_admin:
        return True
    if access.role != Role.MEMBER:
        return False
    return chains.holds_position(
        access.organisation, access.user, version.procedure.owner_position_id
    )


@dataclass
class Cell:
    """One cell as shown: its roles, and for an editor the roles it may take."""

    column: raci.Column
    roles: tuple[str, ...]
    choices: tuple[str, ...]
    dom_id: str
    legend_text: str = ""
    error: list[str] = field(default_factory=list)

    @property
    def field_name(self) -> str:
        return self.column.kind

    def badges(self) -> list[tuple[str, str]]:
        return [(role, str(ROLE_NAMES[role])) for role in self.roles]

    def options(self) -> list[tuple[str, str, bool, str]]:
        """(letter, name, ticked, input id) of the roles the cell may take."""
        return [
            (role, str(ROLE_NAMES[role]), role in self.roles, f"{self.dom_id}-{role}")
            for role in self.choices
        ]


@dataclass
class MatrixRow:
    row: raci.Row
    cells: list[Cell]
    problems: list[str]

    @property
    def dom_id(self) -> str:
        return f"raci-row-{self.row.step_id}"


@dataclass
class Group:
    """The columns of one party, for the header row above the columns."""

    party_id: int
    name: str
    is_external: bool
    span: int


def _row_problems(matrix: raci.Matrix, row: raci.Row) -> list[str]:
    """What the matrix shows about the row itself: the step's accountable and
    responsible (publishing refuses a step without them)."""
    accountable = sum(
        1
        for column in matrix.columns
        if RaciRole.ACCOUNTABLE in matrix.cell(row.step_id, column)
    )
    responsible = any(
        RaciRole.RESPONSIBLE in matrix.cell(row.step_id, column)
        for column in matrix.columns
    )
    problems = []
    if accountable == 0:
        problems.append(_("No accountable position."))
    elif accountable > 1:
        problems.append(
            _("%(count)d accountable positions: keep one.") % {"count": accountable}
        )
    if not responsible:
        problems.append(_("Nobody is responsible."))
    return problems


def _cell_id(row: raci.Row, column: raci.Column) -> str:
    return f"raci-{row.step_id}-{column.kind}-{column.id}"


def _matrix_rows(
    matrix: raci.Matrix,
    *,
    editing: bool,
    error: tuple[int, tuple[str, int], list[str]] | None = None,
) -> list[MatrixRow]:
    rows = []
    for row in matrix.rows:
        cells = []
        for column in matrix.columns:
            choices: tuple[str, ...] = ()
            if editing:
                choices = (
                    (RaciRole.RESPONSIBLE,)
                    if column.kind == raci.PARTY
                    else raci.ROLE_ORDER
                )
            cell = Cell(
                column=column,
                roles=matrix.roles_in(row.step_id, column),
                choices=choices,
                dom_id=_cell_id(row, column),
                legend_text=(
                    _("Roles of %(column)s in “%(step)s”")
                    % {"column": column.title, "step": row.name}
                    if editing
                    else ""
                ),
            )
            if error is not None and error[0] == row.step_id and error[1] == column.key:
                cell.error = error[2]
            cells.append(cell)
        rows.append(
            MatrixRow(
                row=row,
                cells=cells,
                problems=_row_problems(matrix, row) if matrix.is_draft else [],
            )
        )
    return rows


def _groups(columns: Sequence[raci.Column]) -> list[Group]:
    groups: list[Group] = []
    for column in columns:
        if groups and groups[-1].party_id == column.party_id:
            groups[-1].span += 1
        else:
            groups.append(
                Group(column.party_id, column.party_name, column.is_external, 1)
            )
    return groups


def _cell_form(
    access: Access,
    version: ProcedureVersion,
    steps: Sequence[Step] | None = None,
    data: Any = None,
    *,
    active_only: bool = True,
) -> roles_forms.RaciCellForm:
    """The form of a cell (every position and partner of the organisation may be
    named when a cell is sent; the form that adds one offers the active ones)."""
    if steps is None:
        steps = list(
            Step.objects.filter(procedure_version=version).order_by("sort_order", "id")
        )
    positions = (
        web_forms.active_positions(access.organisation)
        if active_only
        else Position.objects.filter(organisation=access.organisation)
    )
    partners = Party.objects.filter(
        organisation=access.organisation, kind=PartyKind.EXTERNAL_PARTNER
    ).order_by("name")
    if active_only:
        partners = partners.filter(is_active=True)
    return roles_forms.RaciCellForm(
        data,
        steps=steps,
        positions=positions,
        partners=partners,
        auto_id="raci-add-%s",
    )


def _matrix_page(
    request: HttpRequest,
    access: Access,
    version: ProcedureVersion,
    matrix: raci.Matrix,
    *,
    status: int = 200,
    add_form: roles_forms.RaciCellForm | None = None,
    error: tuple[int, tuple[str, int], list[str]] | None = None,
) -> HttpResponse:
    editing = _may_edit(access, version)
    if editing and add_form is None:
        steps = [
            Step(pk=row.step_id, key=row.key, name=row.name) for row in matrix.rows
        ]
        add_form = _cell_form(access, version, steps)
    return _page(
        request,
        RACI_TEMPLATE,
        status=status,
        nav="procedures",
        version=version,
        procedure=version.procedure,
        matrix=matrix,
        rows=_matrix_rows(matrix, editing=editing, error=error),
        groups=_groups(matrix.columns),
        editing=editing,
        cell_url=_url("raci-cell", access, version.pk),
        column_keys=column_keys(matrix.columns),
        add_form=add_form if editing else None,
        legend=legend(),
        title=_("RACI matrix of %(procedure)s, version %(number)d")
        % {"procedure": version.procedure.name, "number": version.number},
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def raci_matrix(request: HttpRequest, pk: int) -> HttpResponse:
    """The matrix of a version (`?format=xlsx|pdf`: the same matrix exported)."""
    access = _access(request)
    version = _version(access, pk)
    try:
        matrix = raci.visible_matrix(access, version)
    except NotFound as error:
        raise Http404 from error
    wanted = request.GET.get("format", "")
    stem = slugify(f"raci-{version.procedure.code}-v{version.number}") or "raci"
    language = get_language() or "en"
    if wanted == "xlsx":
        return _download(
            exports.matrix_xlsx(matrix, language=language),
            exports.XLSX_CONTENT_TYPE,
            f"{stem}.xlsx",
        )
    if wanted == "pdf":
        return _download(
            exports.matrix_pdf(matrix, language=language),
            exports.PDF_CONTENT_TYPE,
            f"{stem}.pdf",
        )
    return _matrix_page(request, access, version, matrix)


def _column_key(data: dict[str, Any]) -> tuple[str, int]:
    if data.get("position") is not None:
        return (raci.POSITION, data["position"].pk)
    return (raci.PARTY, data["party"].pk)


def column_keys(columns: Iterable[raci.Column]) -> str:
    """The columns a page shows, sent along with every cell by htmx."""
    return " ".join(f"{column.kind}:{column.id}" for column in columns)


def _parse_column_keys(value: str) -> list[tuple[str, int]]:
    keys: list[tuple[str, int]] = []
    for part in value.split()[:MAX_COLUMNS]:
        kind, _colon, pk = part.partition(":")
        if kind in (raci.POSITION, raci.PARTY) and pk.isdigit():
            keys.append((kind, int(pk)))
    return keys


def _shown_columns(
    access: Access, matrix: raci.Matrix, keys: Sequence[tuple[str, int]]
) -> tuple[raci.Column, ...]:
    """The page's columns, in its order: a column whose last role was just taken
    away stays (empty) until the page is reloaded, so the row htmx swaps in still
    lines up with the header and the role can be ticked again. Columns the page
    does not show yet come last."""
    known = {column.key: column for column in matrix.columns}
    gone = {
        kind: [pk for k, pk in keys if k == kind and (k, pk) not in known]
        for kind in (raci.POSITION, raci.PARTY)
    }
    if gone[raci.POSITION]:
        for position in Position.objects.filter(
            organisation=access.organisation, pk__in=gone[raci.POSITION]
        ).select_related("party"):
            known[(raci.POSITION, position.pk)] = raci.Column(
                kind=raci.POSITION,
                id=position.pk,
                title=position.title,
                code=position.code,
                party_id=position.party_id,
                party_name=position.party.name,
                is_external=position.party.kind == PartyKind.EXTERNAL_PARTNER,
            )
    if gone[raci.PARTY]:
        for party in Party.objects.filter(
            organisation=access.organisation, pk__in=gone[raci.PARTY]
        ):
            known[(raci.PARTY, party.pk)] = raci.Column(
                kind=raci.PARTY,
                id=party.pk,
                title=party.name,
                code=party.code,
                party_id=party.pk,
                party_name=party.name,
                is_external=party.kind == PartyKind.EXTERNAL_PARTNER,
            )
    shown = [known[key] for key in keys if key in known]
    listed = set(keys)
    return (*shown, *(c for c in matrix.columns if c.key not in listed))


def _row_response(
    request: HttpRequest,
    access: Access,
    version: ProcedureVersion,
    step_id: int,
    *,
    error: tuple[int, tuple[str, int], list[str]] | None = None,
) -> HttpResponse:
    """The step's row alone (htmx swaps it in place of the row it came from),
    with the columns of the page it came from. Should the page miss a column
    (changed meanwhile elsewhere), htmx reloads the whole page instead."""
    matrix = raci.visible_matrix(access, version)
    keys = _parse_column_keys(request.POST.get("columns", ""))
    columns = _shown_columns(access, matrix, keys)
    if [column.key for column in columns] != keys:
        response = HttpResponse(status=204)
        response["HX-Refresh"] = "true"
        return response
    matrix = dataclasses.replace(matrix, columns=columns)
    editing = _may_edit(access, version)
    row = next(
        (
            r
            for r in _matrix_rows(matrix, editing=editing, error=error)
            if r.row.step_id == step_id
        ),
        None,
    )
    if row is None:  # the step is gone: the whole page
        return redirect(_url("raci-matrix", access, version.pk))
    if error is not None and not any(cell.error for cell in row.cells):
        # a position new to the matrix: the refusal is shown on the step
        row.problems = [*error[2], *row.problems]
    response = render_page(
        request,
        f"{RACI_TEMPLATE}#raci-row",
        nav="procedures",
        version=version,
        matrix=matrix,
        editing=editing,
        cell_url=_url("raci-cell", access, version.pk),
        item=row,
    )
    patch_vary_headers(response, ("HX-Request", "HX-Target"))
    return response


@org_view
@require_POST
def raci_cell(request: HttpRequest, pk: int) -> HttpResponse:
    """Set the roles of one position (or partner) on one step of a draft: exactly
    the roles ticked. htmx gets the step's row back (with a refusal in place);
    without JavaScript the matrix page, redirected, or with the refusal."""
    access = _access(request)
    version = _version(access, pk)
    if not _may_edit(access, version):
        if version.status != VersionStatus.DRAFT and access.sees_whole_organisation:
            messages.warning(
                request,
                _(
                    "Version %(number)d is %(status)s and can no longer change; "
                    "create a new draft to change the procedure."
                )
                % {"number": version.number, "status": version.get_status_display()},
            )
            return redirect(_url("raci-matrix", access, version.pk))
        raise DjangoPermissionDenied
    steps = {
        step.pk: step
        for step in Step.objects.filter(procedure_version=version).order_by(
            "sort_order", "id"
        )
    }
    form = _cell_form(
        access, version, list(steps.values()), request.POST, active_only=False
    )
    htmx = bool(getattr(request, "htmx", False))
    if not form.is_valid():
        step_id = form.cleaned_data.get("step")
        if htmx and step_id in steps:
            problems = [str(e) for errors in form.errors.values() for e in errors]
            key = (
                _column_key(form.cleaned_data)
                if form.cleaned_data.get("position") or form.cleaned_data.get("party")
                else ("", 0)
            )
            return _row_response(
                request, access, version, step_id, error=(step_id, key, problems)
            )
        return _matrix_page(
            request,
            access,
            version,
            raci.visible_matrix(access, version),
            status=422,
            add_form=form,
        )
    data = form.cleaned_data
    step = steps[data["step"]]
    key = _column_key(data)
    try:
        raci.set_cell(
            step,
            actor=access.user,
            position=data.get("position"),
            party=data.get("party"),
            roles=data["roles"],
        )
    except ValidationFailed as error:
        problems = [str(p) for problems in error.errors.values() for p in problems]
        if htmx:
            return _row_response(
                request, access, version, step.pk, error=(step.pk, key, problems)
            )
        apply_errors(form, error)
        return _matrix_page(
            request,
            access,
            version,
            raci.visible_matrix(access, version),
            status=422,
            add_form=form,
            error=(step.pk, key, problems),
        )
    if htmx:
        return _row_response(request, access, version, step.pk)
    messages.success(
        request, _("The roles of “%(step)s” were saved.") % {"step": step.name}
    )
    return redirect(_url("raci-matrix", access, version.pk) + f"#raci-row-{step.pk}")


# --- whose roles ---------------------------------------------------------------------


@dataclass
class ProcedureRoles:
    """The roles of one procedure (its published version), step by step."""

    procedure_id: int
    name: str
    code: str
    version_id: int
    number: int
    roles: list[Any] = field(default_factory=list)


def _by_procedure(roles: Iterable[Any]) -> list[ProcedureRoles]:
    grouped: dict[int, ProcedureRoles] = {}
    for role in roles:
        group = grouped.get(role.procedure_id)
        if group is None:
            group = grouped[role.procedure_id] = ProcedureRoles(
                role.procedure_id,
                role.procedure_name,
                role.procedure_code,
                role.version_id,
                role.version_number,
            )
        group.roles.append((role, str(ROLE_NAMES[role.role])))
    return list(grouped.values())


def _role_counts(roles: Sequence[Any]) -> list[tuple[str, str, int]]:
    counts: dict[str, int] = defaultdict(int)
    for role in roles:
        counts[role.role] += 1
    return [
        (letter, str(ROLE_NAMES[letter]), counts[letter])
        for letter in raci.ROLE_ORDER
        if counts[letter]
    ]


def _roles_page(
    request: HttpRequest, *, heading: str, roles: Sequence[Any], **context: Any
) -> HttpResponse:
    return _page(
        request,
        "web/roles/roles.html",
        heading=heading,
        procedures=_by_procedure(roles),
        counts=_role_counts(roles),
        total=len(roles),
        legend=legend(),
        **context,
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def my_roles(request: HttpRequest) -> HttpResponse:
    """Every step of the published procedures where a position the caller holds
    (acting included) is R, A, C or I."""
    access = _access(request)
    person = raci.person_of(access)
    return _roles_page(
        request,
        heading=_("My roles"),
        roles=raci.roles_of_user(access),
        subject="me",
        person=person,
        tab="mine",
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def person_roles(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    try:
        person: Person = org_queries.get_or_404(org_queries.people(access), pk)
    except NotFound as error:
        raise Http404 from error
    roles = raci.roles_of_person(person)
    if access.partner_party_id is not None:
        roles = [role for role in roles if role.party_id == access.partner_party_id]
    return _roles_page(
        request,
        heading=_("Roles of %(name)s") % {"name": person.full_name},
        roles=roles,
        subject="person",
        person=person,
        nav="people",
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def party_roles(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    try:
        party: Party = org_queries.get_or_404(org_queries.parties(access), pk)
    except NotFound as error:
        raise Http404 from error
    return _roles_page(
        request,
        heading=_("Roles of %(name)s") % {"name": party.name},
        roles=raci.roles_of_party(party),
        subject="party",
        party=party,
        nav="chart",
    )


# --- role checks ---------------------------------------------------------------------


@dataclass
class FindingView:
    finding: checks.Finding
    fix_url: str
    fix_label: str
    may_acknowledge: bool
    form: roles_forms.AcknowledgeForm | None = None

    @property
    def dom_id(self) -> str:
        return "finding-" + "-".join(
            part for part in (self.finding.rule, self.finding.subject) if part
        ).replace(":", "-")


@dataclass
class RuleGroup:
    rule: str
    label: str
    explanation: str
    findings: list[FindingView]


@dataclass
class SeverityGroup:
    key: str
    title: str
    rules: list[RuleGroup]

    @property
    def count(self) -> int:
        return sum(len(group.findings) for group in self.rules)


def _fix_links(
    access: Access, found: Sequence[checks.Finding]
) -> dict[tuple[str, str], tuple[str, str]]:
    """(rule, subject) -> (url, label) of where to fix each finding: a step on its
    draft (the step's own, or the same step of the procedure's current draft) —
    its roles page or its form —, else the step on its version's page; a position
    or a person on their page. Two queries, whatever the number of findings."""
    step_ids = {f.fix[1] for f in found if f.fix[0] == "step"}
    steps = {
        pk: (key, version_id, status, procedure_id)
        for pk, key, version_id, status, procedure_id in Step.objects.filter(
            pk__in=step_ids, organisation=access.organisation
        ).values_list(
            "pk",
            "key",
            "procedure_version_id",
            "procedure_version__status",
            "procedure_version__procedure_id",
        )
    }
    drafts: dict[tuple[int, str], int] = {}
    published = {
        (procedure_id, key)
        for key, _version, status, procedure_id in steps.values()
        if status != VersionStatus.DRAFT
    }
    if published:
        for pk, key, procedure_id in Step.objects.filter(
            organisation=access.organisation,
            procedure_version__status=VersionStatus.DRAFT,
            procedure_version__procedure_id__in={p for p, _key in published},
            key__in={k for _procedure, k in published},
        ).values_list("pk", "key", "procedure_version__procedure_id"):
            drafts[(procedure_id, key)] = pk
    links = {}
    for finding in found:
        kind, target = finding.fix
        url, label = "", ""
        if kind == "step" and target in steps:
            key, version_id, status, procedure_id = steps[target]
            editable = (
                target
                if status == VersionStatus.DRAFT
                else drafts.get((procedure_id, key))
            )
            if editable is not None:
                name = "step-roles" if finding.rule in ROLE_RULES else "step-edit"
                url = _url(name, access, editable)
                label = (
                    _("Change the roles of the step")
                    if finding.rule in ROLE_RULES
                    else _("Change the step")
                )
                if status != VersionStatus.DRAFT:
                    label = _("Change it in the draft")
            else:
                url = _url("procedure-version", access, version_id) + f"#step-{key}"
                label = _("Go to the step")
        elif kind == "position":
            url, label = (
                _url("position-detail", access, target),
                _("Go to the position"),
            )
        elif kind == "person":
            url, label = _url("person-detail", access, target), _("Go to the person")
        links[(finding.rule, finding.subject)] = (url, label)
    return links


def _severity_groups(
    access: Access,
    found: Sequence[checks.Finding],
    *,
    form: roles_forms.AcknowledgeForm | None = None,
) -> list[SeverityGroup]:
    """Errors, open warnings and acknowledged warnings, each by rule (in the order
    the checks listed them), every finding with its fix link and, for those who
    may, the acknowledge form (the one sent back with a refusal keeps it)."""
    viewer = chains.actor(
        access.organisation, access.user, membership=access.membership
    )
    links = _fix_links(access, found)
    buckets: dict[str, dict[str, list[FindingView]]] = {
        "errors": {},
        "warnings": {},
        "acknowledged": {},
    }
    for finding in found:
        url, label = links.get((finding.rule, finding.subject), ("", ""))
        view = FindingView(
            finding=finding,
            fix_url=url,
            fix_label=label,
            may_acknowledge=checks.may_acknowledge(viewer, finding),
        )
        if view.may_acknowledge and not finding.is_acknowledged:
            sent = (
                form is not None
                and form.data.get("rule") == finding.rule
                and form.data.get("subject") == finding.subject
            )
            view.form = (
                form
                if sent
                else roles_forms.AcknowledgeForm(
                    initial={"rule": finding.rule, "subject": finding.subject},
                    auto_id=f"{view.dom_id}-%s",
                )
            )
        bucket = (
            "errors"
            if finding.is_error
            else "acknowledged"
            if finding.is_acknowledged
            else "warnings"
        )
        buckets[bucket].setdefault(finding.rule, []).append(view)
    titles = {
        "errors": _("Errors"),
        "warnings": _("Warnings"),
        "acknowledged": _("Acknowledged warnings"),
    }
    return [
        SeverityGroup(
            key,
            titles[key],
            [
                RuleGroup(
                    rule,
                    str(CheckRule(rule).label),
                    str(checks.EXPLANATIONS[CheckRule(rule)]),
                    views,
                )
                for rule, views in buckets[key].items()
            ],
        )
        for key in ("errors", "warnings", "acknowledged")
    ]


def _checks_page(
    request: HttpRequest,
    *,
    status: int = 200,
    form: roles_forms.AcknowledgeForm | None = None,
) -> HttpResponse:
    access = _access(request)
    found = checks.check_organisation(access.organisation)
    settings = policy.settings_for(access.organisation)
    return _page(
        request,
        CHECKS_TEMPLATE,
        status=status,
        groups=_severity_groups(access, found, form=form),
        total=len(found),
        open_count=sum(1 for f in found if f.is_open),
        settings=settings,
        tab="checks",
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def role_checks(request: HttpRequest) -> HttpResponse:
    """Every role check on the organisation: errors, warnings, acknowledged ones."""
    access = _access(request)
    _whole_organisation(access)
    return _checks_page(request)


def _version_checks_page(
    request: HttpRequest,
    version: ProcedureVersion,
    *,
    status: int = 200,
    form: roles_forms.AcknowledgeForm | None = None,
) -> HttpResponse:
    access = _access(request)
    found = checks.check_version(version)
    return render_page(
        request,
        VERSION_CHECKS_TEMPLATE,
        partial=VERSION_CHECKS_PARTIAL,
        status=status,
        nav="procedures",
        version=version,
        procedure=version.procedure,
        groups=_severity_groups(access, found, form=form),
        total=len(found),
        open_count=sum(1 for f in found if f.is_open),
        error_count=sum(1 for f in found if f.is_error),
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def version_role_checks(request: HttpRequest, pk: int) -> HttpResponse:
    """A version's own findings: a page of its own, or (htmx) the panel of the
    version page."""
    access = _access(request)
    _whole_organisation(access)
    return _version_checks_page(request, _version(access, pk))


@org_view
@require_POST
def role_check_acknowledge(request: HttpRequest) -> HttpResponse:
    """Accept a warning with a reason. A refusal (no reason, a warning that is gone
    or already acknowledged) is shown at the warning and nothing is written."""
    access = _access(request)
    _whole_organisation(access)
    version = None
    version_pk = request.POST.get("procedure_version", "")
    if version_pk:
        try:
            version = _version(access, int(version_pk))
        except ValueError as error:
            raise Http404 from error
    form = roles_forms.AcknowledgeForm(request.POST)

    def save(data: dict[str, Any]) -> str:
        checks.acknowledge(
            access.organisation,
            actor=access.user,
            rule=data["rule"],
            subject=data["subject"],
            reason=data["reason"],
            procedure_version=version,
        )
        if version is not None and request.POST.get("back") == "version":
            return _url("procedure-version", access, version.pk) + "#role-checks"
        return _url("role-checks", access) + "#acknowledged"

    def page(status: int) -> HttpResponse:
        if version is not None and request.POST.get("back") == "version":
            return _version_checks_page(request, version, status=status, form=form)
        return _checks_page(request, status=status, form=form)

    return handle_form(
        request,
        form,
        save,
        success=_("The warning is acknowledged."),
        page=page,
        where=lambda name: "reason" if name in ("__all__", "subject") else name,
    )


@org_view
@require_POST
def role_check_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw an acknowledgement: the warning counts as open again."""
    access = _access(request)
    _whole_organisation(access)
    acknowledgement = CheckAcknowledgement.objects.filter(
        organisation=access.organisation, pk=pk
    ).first()
    if acknowledgement is None:
        raise Http404
    try:
        checks.withdraw(acknowledgement, actor=access.user)
    except ValidationFailed as error:
        messages.warning(request, error.message)
    else:
        messages.success(
            request, _("The acknowledgement was withdrawn: the warning is open again.")
        )
    if request.POST.get("back") == "version" and acknowledgement.procedure_version_id:
        return redirect(
            _url("procedure-version", access, acknowledgement.procedure_version_id)
            + "#role-checks"
        )
    return redirect(_url("role-checks", access) + "#warnings")


# --- the assignment policy -------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD", "POST"])
def role_settings(request: HttpRequest) -> HttpResponse:
    """The assignment policy and the role checks' thresholds: administrators
    change them, members and auditors read them."""
    access = _access(request)
    _whole_organisation(access)
    if request.method == "POST" and not access.is_admin:
        raise DjangoPermissionDenied
    settings = policy.settings_for(access.organisation)
    form = (
        roles_forms.RoleSettingsForm(
            _data(request), initial=roles_forms.settings_initial(settings)
        )
        if access.is_admin
        else None
    )
    facts = [
        (
            roles_forms.RoleSettingsForm.base_fields[name].label,
            _value(settings, name),
        )
        for name in roles_forms.SETTINGS_FIELDS
    ]

    def page(status: int) -> HttpResponse:
        return _page(
            request,
            "web/roles/settings.html",
            status=status,
            form=form,
            settings=settings,
            facts=facts,
            tab="settings",
        )

    if form is None:
        return page(200)

    def save(data: dict[str, Any]) -> str:
        expected = data.pop("version")
        policy.update_settings(
            access.organisation, actor=access.user, expected_version=expected, **data
        )
        return _url("role-settings", access)

    return handle_form(
        request,
        form,
        save,
        success=_("The assignment policy was saved."),
        page=page,
    )


def _value(settings: Any, name: str) -> str:
    value = getattr(settings, name)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    if name == "assignment_rule":
        return str(settings.get_assignment_rule_display())
    return str(value)
