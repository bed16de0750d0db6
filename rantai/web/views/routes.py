"""Approval route pages: the routes by kind of subject, a route with its versions,
a draft's editor (stages in order, conditions, settings; publish) and a published
or retired version as a readable summary.

Everyone who reads the whole organisation reads the routes; administrators and
the holders of a route's owner position change it. Writes call
`rantai.approvals.routes` and nothing else; the service decides who may, and a
refused change answers 403 and writes nothing.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.db.models import Exists, OuterRef, QuerySet, Subquery
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext
from django.views.decorators.http import require_http_methods, require_POST

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.approvals import routes as route_services
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
from rantai.core.errors import Conflict, ValidationFailed
from rantai.org import queries as org_queries
from rantai.org.models import Holding, PartyKind, Person, Position
from rantai.web import forms as web_forms
from rantai.web import forms_coordination as coordination_forms
from rantai.web.access import (
    confirm_action,
    form_page,
    handle_form,
    org_view,
    render_page,
    wants_partial,
)
from rantai.web.forms_procedures import ConfirmDeleteForm

# The element of a stage form that holds the fields a rule or mode needs (htmx
# replaces it when the rule or the mode changes).
RULE_FIELDS_TARGET = "stage-rule-fields"
NEW_STAGE_ID = "new-stage-%s"

OPERATOR_SYMBOLS = {
    ConditionOperator.EQ: "=",
    ConditionOperator.NE: "≠",
    ConditionOperator.GT: ">",
    ConditionOperator.GTE: "≥",
    ConditionOperator.LT: "<",
    ConditionOperator.LTE: "≤",
}


# --- shared helpers ---------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _data(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


def _page(request: HttpRequest, template: str, **options: Any) -> HttpResponse:
    options.setdefault("nav", "routes")
    return render_page(request, template, **options)


def _form_page(request: HttpRequest, form: forms.Form, **options: Any) -> HttpResponse:
    options.setdefault("nav", "routes")
    return form_page(request, form, **options)


def _reader(request: HttpRequest) -> Access:
    """Routes are read by everyone who reads the whole organisation."""
    access = _access(request)
    access.require_whole_organisation()
    return access


def _get(qs: QuerySet[Any], pk: int | str) -> Any:
    try:
        return qs.get(pk=int(pk))
    except (ValueError, TypeError, qs.model.DoesNotExist) as error:
        raise Http404 from error


def _route(access: Access, pk: int | str) -> Route:
    return _get(  # type: ignore[no-any-return]
        Route.objects.filter(organisation=access.organisation).select_related(
            "owner_position", "owner_position__party"
        ),
        pk,
    )


def _version(access: Access, pk: int | str) -> RouteVersion:
    return _get(  # type: ignore[no-any-return]
        RouteVersion.objects.filter(organisation=access.organisation).select_related(
            "route", "route__owner_position", "published_by"
        ),
        pk,
    )


def _stage(access: Access, pk: int | str) -> RouteStage:
    return _get(  # type: ignore[no-any-return]
        RouteStage.objects.filter(organisation=access.organisation).select_related(
            "route_version", "route_version__route"
        ),
        pk,
    )


def _condition(access: Access, pk: int | str) -> RouteCondition:
    return _get(  # type: ignore[no-any-return]
        RouteCondition.objects.filter(organisation=access.organisation).select_related(
            "route_version", "route_version__route"
        ),
        pk,
    )


def _may_edit(access: Access, route: Route) -> bool:
    """Administrators and the members holding the owner position (as the service
    decides it)."""
    if access.is_admin:
        return True
    if access.role != Role.MEMBER:
        return False
    return route_services.may_edit(route, access.user)


def _require_editor(access: Access, route: Route) -> None:
    if not _may_edit(access, route):
        raise DjangoPermissionDenied


def _held_positions(access: Access) -> QuerySet[Position]:
    held = (
        Holding.objects.current(org_queries.today_for(access))
        .filter(
            organisation=access.organisation,
            person__user=access.user,
            person__is_active=True,
        )
        .values("position_id")
    )
    return web_forms.active_positions(access.organisation).filter(pk__in=held)


def _positions_to_own(access: Access) -> QuerySet[Position]:
    """Positions the caller may name as a route's owner: any active position for
    administrators, the positions they hold for members, none for others."""
    if access.is_admin:
        return web_forms.active_positions(access.organisation)
    if access.role != Role.MEMBER:
        return Position.objects.none()
    return _held_positions(access)


def _version_url(access: Access, version_id: int, anchor: str = "") -> str:
    return _url("route-version", access, version_id) + anchor


# --- readable summaries -------------------------------------------------------------


def hours_label(hours: int) -> str:
    return ngettext("%(count)d working hour", "%(count)d working hours", hours) % {
        "count": hours
    }


def approvers_label(stage: RouteStage) -> str:
    """Who a stage asks, in words: “the holders of Head of warehouse”."""
    if stage.rule == ApproverRule.SUPERIOR:
        if stage.levels <= 1:
            return _("the requester's direct superior")
        return ngettext(
            "the requester's superior %(count)d level up",
            "the requester's superior %(count)d levels up",
            stage.levels,
        ) % {"count": stage.levels}
    if stage.rule == ApproverRule.POSITION:
        title = stage.position.title if stage.position else "?"
        return _("the holders of %(position)s") % {"position": title}
    if stage.rule == ApproverRule.UNIT_HEAD:
        name = stage.party.name if stage.party else "?"
        return _("the head of %(party)s") % {"party": name}
    if stage.rule == ApproverRule.STEP_ACCOUNTABLE:
        return _("the accountable of the step")
    if stage.rule == ApproverRule.PERSON:
        return stage.person.full_name if stage.person else "?"
    return str(stage.rule)


def mode_label(stage: RouteStage) -> str:
    if stage.mode == StageMode.ALL:
        return _("all of them")
    if stage.mode == StageMode.QUORUM:
        count = stage.quorum or 0
        return ngettext("%(count)d of them", "%(count)d of them", count) % {
            "count": count
        }
    return _("one of them")


TIMEOUT_VERBS = {
    TimeoutAction.REMIND: gettext_lazy("remind"),
    TimeoutAction.ESCALATE: gettext_lazy("escalate"),
    TimeoutAction.NOTIFY_OWNER: gettext_lazy("notify the process owner"),
}


def time_label(stage: RouteStage) -> str:
    if not stage.time_limit_hours:
        return _("no time limit")
    action = TIMEOUT_VERBS.get(stage.on_timeout)  # type: ignore[call-overload]
    return _("%(limit)s, then %(action)s") % {
        "limit": hours_label(stage.time_limit_hours),
        "action": str(action) if action is not None else stage.on_timeout,
    }


def stage_summary(stage: RouteStage) -> str:
    """“Stage 1: the holders of Head of warehouse — one of them — 8 working
    hours, then escalate”."""
    return _("Stage %(order)d: %(approvers)s — %(mode)s — %(time)s") % {
        "order": stage.order,
        "approvers": approvers_label(stage),
        "mode": mode_label(stage),
        "time": time_label(stage),
    }


def _value_text(value: Any) -> str:
    if value is None:
        return "…"
    if isinstance(value, list):
        return ", ".join(_value_text(item) for item in value)
    if isinstance(value, bool):
        return _("yes") if value else _("no")
    return str(value)


def condition_label(condition: RouteCondition, labels: Mapping[str, str]) -> str:
    """“procedure = SHIP”: a condition in words."""
    name = condition.field
    operator = condition.operator
    if operator == ConditionOperator.IS_TRUE:
        return _("%(field)s is yes") % {"field": name}
    if operator == ConditionOperator.IS_FALSE:
        return _("%(field)s is no") % {"field": name}
    value = _value_text(condition.value)
    if operator in OPERATOR_SYMBOLS:
        return f"{name} {OPERATOR_SYMBOLS[operator]} {value}"  # type: ignore[index]
    if operator == ConditionOperator.IN:
        return _("%(field)s is one of %(values)s") % {"field": name, "values": value}
    if operator == ConditionOperator.NOT_IN:
        return _("%(field)s is none of %(values)s") % {"field": name, "values": value}
    return f"{name} {operator} {value}"


# --- the routes list ----------------------------------------------------------------


@dataclass
class KindGroup:
    kind: str
    label: str
    routes: list[Route]


def _route_rows(access: Access) -> list[Route]:
    """The routes with their published and draft numbers: one query."""
    versions = RouteVersion.objects.filter(route=OuterRef("pk"))
    return list(
        Route.objects.filter(organisation=access.organisation)
        .select_related("owner_position", "owner_position__party")
        .annotate(
            published_number=Subquery(
                versions.filter(status=VersionStatus.PUBLISHED).values("number")[:1]
            ),
            draft_number=Subquery(
                versions.filter(status=VersionStatus.DRAFT).values("number")[:1]
            ),
        )
        .order_by("subject_kind", "priority", "code", "id")
    )


def _groups(routes: list[Route]) -> list[KindGroup]:
    by_kind: dict[str, list[Route]] = {}
    for route in routes:
        by_kind.setdefault(route.subject_kind, []).append(route)
    return [
        KindGroup(kind, str(label), by_kind[kind])
        for kind, label in SubjectKind.choices
        if kind in by_kind
    ]


def _route_create_form(access: Access, data: Any = None) -> Any:
    return coordination_forms.RouteCreateForm(
        data, positions=_positions_to_own(access), auto_id="new-route-%s"
    )


def _may_create(access: Access) -> bool:
    if access.is_admin:
        return True
    return access.role == Role.MEMBER and _held_positions(access).exists()


@org_view
@require_http_methods(["GET", "HEAD"])
def route_list(request: HttpRequest) -> HttpResponse:
    """The routes by kind of subject, with their published version and priority."""
    access = _reader(request)
    routes = _route_rows(access)
    return _page(
        request,
        "web/routes/list.html",
        groups=_groups(routes),
        route_count=len(routes),
        form=_route_create_form(access) if _may_create(access) else None,
    )


@org_view
@require_http_methods(["GET", "POST"])
def route_create(request: HttpRequest) -> HttpResponse:
    """A new route with an empty draft (administrators; members for a position
    they hold)."""
    access = _reader(request)
    if not _may_create(access):
        raise DjangoPermissionDenied
    form = _route_create_form(access, _data(request))

    def save(data: dict[str, Any]) -> str:
        route = route_services.create_route(
            access.organisation, actor=access.user, **data
        )
        draft = route_services.draft_of(route)
        if draft is None:  # pragma: no cover - create_route always makes one
            return _url("route-detail", access, route.pk)
        return _version_url(access, draft.pk)

    return _form_page(
        request,
        form,
        title=_("New approval route"),
        submit=_("Create"),
        cancel_url=_url("route-list", access),
        save=save,
        success=_("The route was created with an empty draft, version 1."),
        intro=_(
            "A route says who approves one kind of request, stage by stage. It "
            "starts as an empty draft: add its stages (and conditions, if it "
            "applies only sometimes), then publish it."
        ),
    )


# --- a route and its versions -------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def route_detail(request: HttpRequest, pk: int) -> HttpResponse:
    access = _reader(request)
    route = _route(access, pk)
    versions = route_services.versions_of(route)
    draft = next((v for v in versions if v.status == VersionStatus.DRAFT), None)
    published = next((v for v in versions if v.status == VersionStatus.PUBLISHED), None)
    summary: list[tuple[str, str]] = []
    conditions: list[str] = []
    if published is not None:
        summary = [
            (stage_summary(stage), stage.name)
            for stage in route_services.stages_of(published)
        ]
        labels = route_services.condition_fields(route.subject_kind) or {}
        conditions = [
            condition_label(c, labels) for c in route_services.conditions_of(published)
        ]
    return _page(
        request,
        "web/routes/detail.html",
        route=route,
        versions=versions,
        draft=draft,
        published=published,
        latest=versions[0] if versions else None,
        summary=summary,
        conditions=conditions,
        may_edit=_may_edit(access, route),
    )


@org_view
@require_http_methods(["GET", "POST"])
def route_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access = _reader(request)
    route = _route(access, pk)
    _require_editor(access, route)
    form = coordination_forms.RouteEditForm(
        _data(request),
        positions=web_forms.active_positions(access.organisation),
        initial=coordination_forms.route_initial(route),
    )
    name = route.name

    def save(data: dict[str, Any]) -> str:
        version = data.pop("version")
        route_services.update_route(
            route, actor=access.user, expected_version=version, **data
        )
        return _url("route-detail", access, route.pk)

    return _form_page(
        request,
        form,
        title=_("Edit “%(name)s”") % {"name": name},
        submit=_("Save"),
        cancel_url=_url("route-detail", access, route.pk),
        save=save,
        success=_("The changes were saved."),
        intro=_(
            "These settings are not versioned: requests under way keep their route "
            "version, new requests find the route by its kind and priority."
        ),
    )


def _route_active_page(request: HttpRequest, pk: int, *, active: bool) -> HttpResponse:
    access = _reader(request)
    route = _route(access, pk)
    _require_editor(access, route)
    if route.is_active == active:
        return redirect(_url("route-detail", access, route.pk))
    values = {"name": route.name}

    def act(expected: int) -> str:
        route_services.update_route(
            route, actor=access.user, expected_version=expected, is_active=active
        )
        return _url("route-detail", access, route.pk)

    if active:
        texts: dict[str, Any] = {
            "title": _("Reactivate “%(name)s”") % values,
            "submit": _("Reactivate"),
            "success": _("The route is active again."),
            "intro": _("New requests of its kind can use its published version again."),
        }
    else:
        texts = {
            "title": _("Deactivate “%(name)s”") % values,
            "submit": _("Deactivate"),
            "success": _("The route was deactivated."),
            "intro": _(
                "New requests no longer use it; requests under way keep their "
                "route version."
            ),
            "danger": True,
        }
    return confirm_action(
        request,
        version=route.version,
        act=act,
        cancel_url=_url("route-detail", access, route.pk),
        nav="routes",
        **texts,
    )


@org_view
@require_http_methods(["GET", "POST"])
def route_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _route_active_page(request, pk, active=False)


@org_view
@require_http_methods(["GET", "POST"])
def route_reactivate(request: HttpRequest, pk: int) -> HttpResponse:
    return _route_active_page(request, pk, active=True)


@org_view
@require_http_methods(["GET", "POST"])
def route_new_draft(request: HttpRequest, pk: int) -> HttpResponse:
    """A new draft, copied from the published version (or the latest)."""
    access = _reader(request)
    route = _route(access, pk)
    _require_editor(access, route)
    form = coordination_forms.NewRouteDraftForm(_data(request))

    def save(data: dict[str, Any]) -> str:
        draft = route_services.new_draft(route, actor=access.user, notes=data["notes"])
        return _version_url(access, draft.pk)

    return _form_page(
        request,
        form,
        title=_("New draft of “%(name)s”") % {"name": route.name},
        submit=_("Create the draft"),
        cancel_url=_url("route-detail", access, route.pk),
        save=save,
        success=_("A new draft was created from the published version."),
        intro=_(
            "The draft starts as a copy of the published version (or of the latest "
            "one), with its stages and conditions. New requests keep using the "
            "published version until the draft is published."
        ),
    )


# --- a version: the draft editor or the summary -------------------------------------


@dataclass
class StageRow:
    stage: RouteStage
    approvers: str
    mode: str
    time: str
    summary: str
    is_first: bool
    is_last: bool


@dataclass
class ConditionRow:
    condition: RouteCondition
    text: str


def _stage_choices(access: Access) -> dict[str, Any]:
    """What a stage may name: positions and heads of internal units, active
    people."""
    organisation = access.organisation
    return {
        "positions": web_forms.active_positions(organisation).filter(
            party__kind=PartyKind.INTERNAL_UNIT
        ),
        "parties": web_forms.active_units(organisation),
        "people": Person.objects.filter(
            organisation=organisation, is_active=True
        ).order_by("full_name", "id"),
    }


def _stage_form(
    access: Access,
    data: Any = None,
    *,
    edit: RouteStage | None = None,
    initial: Mapping[str, Any] | None = None,
) -> Any:
    choices = _stage_choices(access)
    if edit is not None:
        return coordination_forms.StageEditForm(
            data,
            initial=initial or coordination_forms.stage_initial(edit),
            **choices,
        )
    return coordination_forms.StageForm(
        data, initial=initial, auto_id=NEW_STAGE_ID, **choices
    )


def _condition_form(route: Route, data: Any = None) -> Any:
    return coordination_forms.ConditionForm(
        data,
        fields=route_services.condition_fields(route.subject_kind),
        auto_id="new-condition-%s",
    )


def _version_page(
    request: HttpRequest,
    version: RouteVersion,
    *,
    status: int = 200,
    error: str = "",
    **forms_in_error: Any,
) -> HttpResponse:
    access = _access(request)
    route = version.route
    is_draft = version.status == VersionStatus.DRAFT
    may_edit = _may_edit(access, route)
    editing = is_draft and may_edit
    stages = route_services.stages_of(version)
    labels = route_services.condition_fields(route.subject_kind) or {}
    rows = [
        StageRow(
            stage=stage,
            approvers=approvers_label(stage),
            mode=mode_label(stage),
            time=time_label(stage),
            summary=stage_summary(stage),
            is_first=index == 0,
            is_last=index == len(stages) - 1,
        )
        for index, stage in enumerate(stages)
    ]
    conditions = [
        ConditionRow(condition, condition_label(condition, labels))
        for condition in route_services.conditions_of(version)
    ]
    context: dict[str, Any] = {}
    if editing:
        context = {
            "settings_form": coordination_forms.RouteVersionForm(
                initial={
                    "allow_repeat_approver": version.allow_repeat_approver,
                    "notes": version.notes,
                    "version": version.version,
                },
                auto_id="version-%s",
            ),
            "stage_form": _stage_form(access),
            "condition_form": _condition_form(route),
        }
        context.update(forms_in_error)
    return _page(
        request,
        "web/routes/version.html",
        status=status,
        version=version,
        route=route,
        is_draft=is_draft,
        may_edit=may_edit,
        editing=editing,
        rows=rows,
        conditions=conditions,
        field_labels=labels,
        problems=route_services.publish_problems(version) if is_draft else [],
        action_error=error,
        title=_("%(route)s, version %(number)d")
        % {"route": route.name, "number": version.number},
        **context,
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def route_version(request: HttpRequest, pk: int) -> HttpResponse:
    access = _reader(request)
    return _version_page(request, _version(access, pk))


def _draft_for_editor(request: HttpRequest, pk: int) -> tuple[Access, RouteVersion]:
    """The version, for an editor of its route (403 for anyone else)."""
    access = _reader(request)
    version = _version(access, pk)
    _require_editor(access, version.route)
    return access, version


def _frozen(request: HttpRequest, access: Access, version: RouteVersion) -> Any:
    """A published or retired version cannot change: say so on its page."""
    if version.status == VersionStatus.DRAFT:
        return None
    messages.warning(
        request,
        _(
            "Version %(number)d is %(status)s and can no longer change; create a new "
            "draft to change the route."
        )
        % {"number": version.number, "status": version.get_status_display()},
    )
    return redirect(_version_url(access, version.pk))


@org_view
@require_POST
def version_settings(request: HttpRequest, pk: int) -> HttpResponse:
    """A draft's own settings: repeat approvers and notes."""
    access, version = _draft_for_editor(request, pk)
    form = coordination_forms.RouteVersionForm(request.POST, auto_id="version-%s")

    def save(data: dict[str, Any]) -> str:
        expected = data.pop("version")
        route_services.update_version(
            version, actor=access.user, expected_version=expected, **data
        )
        return _version_url(access, version.pk, "#settings")

    return handle_form(
        request,
        form,
        save,
        success=_("The changes were saved."),
        page=lambda status: _version_page(
            request, version, status=status, settings_form=form
        ),
    )


@org_view
@require_http_methods(["GET", "POST"])
def version_publish(request: HttpRequest, pk: int) -> HttpResponse:
    """Publish a draft: it shows what keeps the draft from being published, and a
    refused publication changes nothing."""
    access, version = _draft_for_editor(request, pk)
    if refusal := _frozen(request, access, version):
        return refusal  # type: ignore[no-any-return]

    def act(expected: int) -> str:
        route_services.publish(version, actor=access.user, expected_version=expected)
        return _version_url(access, version.pk)

    def page(form: forms.Form, status: int) -> HttpResponse:
        published = (
            RouteVersion.objects.filter(
                route_id=version.route_id, status=VersionStatus.PUBLISHED
            )
            .values_list("number", flat=True)
            .first()
        )
        return _page(
            request,
            "web/routes/publish.html",
            status=status,
            version=version,
            route=version.route,
            problems=route_services.publish_problems(version),
            published_number=published,
            form=form,
        )

    return confirm_action(
        request,
        version=version.version,
        act=act,
        success=_(
            "Version %(number)d is published: new requests use it, and it can no "
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
        return redirect(_version_url(access, version.pk))
    values = {"number": version.number, "name": version.route.name}

    def act(expected: int) -> str:
        route_services.retire(version, actor=access.user, expected_version=expected)
        return _url("route-detail", access, version.route_id)

    return confirm_action(
        request,
        version=version.version,
        act=act,
        success=_("Version %(number)d is retired: no new request uses it.") % values,
        title=_("Retire version %(number)d of “%(name)s”") % values,
        submit=_("Retire"),
        cancel_url=_version_url(access, version.pk),
        intro=_(
            "No new request uses a retired version; requests under way keep it. "
            "Until another version is published, requests of this kind look for "
            "another route."
        ),
        danger=True,
        nav="routes",
    )


# --- stages -------------------------------------------------------------------------


def _stage_page(
    request: HttpRequest,
    form: Any,
    *,
    version: RouteVersion,
    title: str,
    submit: str,
    fields_url: str,
    status: int = 200,
) -> HttpResponse:
    """A stage form on a page of its own (its rule fields answer htmx alone)."""
    access = _access(request)
    return _page(
        request,
        "web/routes/stage_form.html",
        partial=RULE_FIELDS_TARGET,
        status=status,
        form=form,
        version=version,
        route=version.route,
        title=title,
        submit=submit,
        fields_url=fields_url,
        cancel_url=_version_url(access, version.pk, "#stages"),
        # htmx asks for the rule's fields alone: the browser runs scripts, so the
        # fields of other rules (kept in <noscript> for browsers without) stay out.
        refreshing=wants_partial(request, RULE_FIELDS_TARGET),
    )


def _refreshed_initial(request: HttpRequest, form: Any) -> dict[str, Any] | None:
    """For htmx's refresh of the rule fields: what was typed so far, as the
    initial values of an unbound form (no errors shown yet)."""
    if not wants_partial(request, RULE_FIELDS_TARGET):
        return None
    return {name: request.GET[name] for name in form.fields if name in request.GET}


@org_view
@require_http_methods(["GET", "POST"])
def stage_create(request: HttpRequest, pk: int) -> HttpResponse:
    access, version = _draft_for_editor(request, pk)
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = _stage_form(access, _data(request))
    if request.method == "GET" and (initial := _refreshed_initial(request, form)):
        form = _stage_form(access, initial=initial)

    def save(data: dict[str, Any]) -> str:
        stage = route_services.add_stage(
            version, actor=access.user, **form.stage_values()
        )
        return _version_url(access, version.pk, f"#stage-{stage.order}")

    return handle_form(
        request,
        form,
        save,
        success=_("The stage was added."),
        page=lambda status: _stage_page(
            request,
            form,
            version=version,
            title=_("New stage"),
            submit=_("Add stage"),
            fields_url=_url("route-stage-create", access, version.pk),
            status=status,
        ),
    )


def _stage_for_editor(request: HttpRequest, pk: int) -> tuple[Access, RouteStage]:
    access = _reader(request)
    stage = _stage(access, pk)
    _require_editor(access, stage.route_version.route)
    return access, stage


@org_view
@require_http_methods(["GET", "POST"])
def stage_edit(request: HttpRequest, pk: int) -> HttpResponse:
    access, stage = _stage_for_editor(request, pk)
    version = stage.route_version
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = _stage_form(access, _data(request), edit=stage)
    if request.method == "GET" and (initial := _refreshed_initial(request, form)):
        form = _stage_form(
            access,
            edit=stage,
            initial={**coordination_forms.stage_initial(stage), **initial},
        )
    name = stage.name

    def save(data: dict[str, Any]) -> str:
        route_services.update_stage(
            stage,
            actor=access.user,
            expected_version=data["version"],
            **form.stage_values(),
        )
        return _version_url(access, version.pk, f"#stage-{stage.order}")

    return handle_form(
        request,
        form,
        save,
        success=_("The changes were saved."),
        page=lambda status: _stage_page(
            request,
            form,
            version=version,
            title=_("Edit the stage “%(name)s”") % {"name": name},
            submit=_("Save"),
            fields_url=_url("route-stage-edit", access, stage.pk),
            status=status,
        ),
    )


@org_view
@require_http_methods(["GET", "POST"])
def stage_delete(request: HttpRequest, pk: int) -> HttpResponse:
    access, stage = _stage_for_editor(request, pk)
    version = stage.route_version
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = web_forms.ConfirmForm(_data(request), initial={"version": stage.version})
    values = {"order": stage.order, "name": stage.name}

    def save(data: dict[str, Any]) -> str:
        route_services.delete_stage(
            stage, actor=access.user, expected_version=data["version"]
        )
        return _version_url(access, version.pk, "#stages")

    return _form_page(
        request,
        form,
        title=_("Delete stage %(order)d “%(name)s”") % values,
        submit=_("Delete"),
        cancel_url=_version_url(access, version.pk, "#stages"),
        save=save,
        success=_("The stage was deleted."),
        intro=_("The stages after it move up one place."),
        danger=True,
    )


@org_view
@require_POST
def stage_move(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a draft's stage to another place (the buttons move it up or down)."""
    access, stage = _stage_for_editor(request, pk)
    version = stage.route_version
    form = coordination_forms.StageMoveForm(request.POST)
    if not form.is_valid():
        return _version_page(
            request,
            version,
            status=422,
            error=_("Choose a place for the stage."),
        )
    try:
        route_services.move_stage(
            stage,
            actor=access.user,
            expected_version=form.cleaned_data["version"],
            order=form.cleaned_data["order"],
        )
    except Conflict as error:
        return _version_page(request, version, status=409, error=error.message)
    except ValidationFailed as error:
        return _version_page(
            request,
            version,
            status=422,
            error=" ".join(m for problems in error.errors.values() for m in problems),
        )
    messages.success(
        request,
        _("Stage “%(name)s” is now stage %(order)d.")
        % {"name": stage.name, "order": stage.order},
    )
    return redirect(_version_url(access, version.pk, f"#stage-{stage.order}"))


# --- conditions ---------------------------------------------------------------------


@org_view
@require_http_methods(["GET", "POST"])
def condition_create(request: HttpRequest, pk: int) -> HttpResponse:
    access, version = _draft_for_editor(request, pk)
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = _condition_form(version.route, _data(request))

    def save(data: dict[str, Any]) -> str:
        route_services.add_condition(
            version, actor=access.user, **form.condition_values()
        )
        return _version_url(access, version.pk, "#conditions")

    return _form_page(
        request,
        form,
        title=_("New condition"),
        submit=_("Add condition"),
        cancel_url=_version_url(access, version.pk, "#conditions"),
        save=save,
        success=_("The condition was added."),
        intro=_(
            "The route applies to a request only when all its conditions hold; "
            "without conditions it always applies."
        ),
    )


@org_view
@require_http_methods(["GET", "POST"])
def condition_delete(request: HttpRequest, pk: int) -> HttpResponse:
    access = _reader(request)
    condition = _condition(access, pk)
    version = condition.route_version
    _require_editor(access, version.route)
    if request.method == "GET" and (refusal := _frozen(request, access, version)):
        return refusal  # type: ignore[no-any-return]
    form = ConfirmDeleteForm(_data(request))
    labels = route_services.condition_fields(version.route.subject_kind) or {}
    text = condition_label(condition, labels)

    def save(data: dict[str, Any]) -> str:
        route_services.remove_condition(condition, actor=access.user)
        return _version_url(access, version.pk, "#conditions")

    return _form_page(
        request,
        form,
        title=_("Remove the condition “%(condition)s”") % {"condition": text},
        submit=_("Remove"),
        cancel_url=_version_url(access, version.pk, "#conditions"),
        save=save,
        success=_("The condition was removed."),
        danger=True,
    )


# --- the navigation -------------------------------------------------------------------


def owns_a_route(access: Access) -> bool:
    """Whether the caller is a member holding the owner position of one of the
    organisation's routes (administrators see the routes anyway): one query."""
    if access.role != Role.MEMBER:
        return False
    held = Holding.objects.current(org_queries.today_for(access)).filter(
        organisation=access.organisation,
        person__user=access.user,
        person__is_active=True,
        position_id=OuterRef("owner_position_id"),
    )
    return (
        Route.objects.filter(organisation=access.organisation)
        .filter(Exists(held))
        .exists()
    )
