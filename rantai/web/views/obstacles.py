"""Pages of obstacles and early warnings (docs/design-obstacles.md, issue 7):

* the obstacles list, filtered by status, severity and run;
* raising an obstacle on a run or on one of its tasks, with the live what-if of
  its impact (which tasks move, by how much, the new projected finish against
  the due date, and whether that puts the target at risk) before anything is
  saved — htmx on every change of the delay, a "Preview impact" button without
  JavaScript;
* an obstacle's page: its impact when it was raised and the run as it stands
  now, the information it rests on (with the hearsay marks), its mitigations,
  and the changes, resolution and withdrawal for those who may;
* the obstacle panels of the run and task pages (`run_panels`, `task_panels`);
* the early warnings (the caller's first), acknowledging one;
* the anticipation settings (administrators change them).

Writes call one `rantai.obstacles` service each, which decides again; the
buttons only show what the service would allow. Reads keep a fixed number of
queries.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import Case, Exists, OuterRef, Q, QuerySet, Value, When
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import NoReverseMatch, reverse
from django.utils import timezone
from django.utils.dateparse import parse_datetime
from django.utils.http import url_has_allowed_host_and_scheme, urlencode
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.chains import projection
from rantai.chains import queries as chains_queries
from rantai.chains import services as chains_services
from rantai.chains.calendar import minutes_per_working_day, working_minutes_between
from rantai.chains.models import (
    FINAL_RUN_STATUSES,
    FINISHED_STATUSES,
    Run,
    ScheduleStatus,
    Task,
    TaskStatus,
)
from rantai.core.errors import Conflict, ValidationFailed
from rantai.evidence.models import InformationRecord
from rantai.obstacles import impact as impacts
from rantai.obstacles import obstacles as obstacle_services
from rantai.obstacles import policy, review_queries
from rantai.obstacles import queries as obstacle_queries
from rantai.obstacles import warnings as warning_services
from rantai.obstacles.models import (
    SEVERE,
    EarlyWarning,
    Mitigation,
    MitigationStatus,
    Obstacle,
    ObstacleStatus,
    Review,
    Severity,
    WarningKind,
)
from rantai.org.models import Person
from rantai.web import forms_obstacles as obstacle_forms
from rantai.web.access import (
    FORM_PAGE_TEMPLATE,
    apply_errors,
    handle_form,
    org_view,
    render_page,
)
from rantai.web.views import runs as run_views

PAGE_SIZE = 25
# The obstacles a run or task page lists (the open ones first; the rest on the list).
PANEL_LIMIT = 10


# --- shared helpers -------------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _optional_url(name: str, access: Access, *args: Any) -> str:
    """A URL of another part of the site, or "" while that part is not there."""
    try:
        return _url(name, access, *args)
    except NoReverseMatch:
        return ""


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


def _next_url(request: HttpRequest, default: str) -> str:
    """Where to go after an action: the page it was pressed on, if it is ours."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


def _actor(access: Access, now: dt.datetime | None = None) -> chains_services.Actor:
    return chains_services.actor(
        access.organisation, access.user, now=now, membership=access.membership
    )


def _day_minutes(access: Access) -> int:
    return minutes_per_working_day(projection.calendar_spec(access.organisation))


def _may_write(access: Access) -> bool:
    """Members, administrators and partners act on obstacles; auditors read."""
    return access.role in (Role.ADMIN, Role.MEMBER, Role.PARTNER)


def may_raise_on_run(access: Access, run: Run) -> bool:
    """Whether the caller may raise an obstacle on the run as a whole (the
    service decides again)."""
    return _may_write(access) and run.status not in FINAL_RUN_STATUSES


def may_raise_on_task(access: Access, task: Task, run: Run) -> bool:
    """An unfinished task of a run in progress: members and administrators, a
    partner on its own party's tasks."""
    if not may_raise_on_run(access, run):
        return False
    if task.status in FINISHED_STATUSES or task.status == TaskStatus.CANCELLED:
        return False
    return (
        access.partner_party_id is None
        or task.responsible_party_id == access.partner_party_id
    )


def _may_manage(access: Access, obstacle: Obstacle) -> bool:
    """The raiser, the holders of the accountable position (of the task, or the
    procedure's owner position for the whole run) and administrators change,
    resolve or withdraw an obstacle and add or cancel mitigations."""
    return _may_write(access) and obstacle_queries.may_manage(access, obstacle)


def _records_of_run(access: Access, run: Run) -> QuerySet[InformationRecord]:
    """The run's information records the caller may see (a partner: those about
    the run as a whole and about its own party's tasks), newest first."""
    qs = InformationRecord.objects.filter(
        organisation=access.organisation, run_id=run.pk
    )
    if access.partner_party_id is not None:
        qs = qs.filter(
            Q(task__isnull=True) | Q(task__responsible_party_id=access.partner_party_id)
        )
    return qs.order_by("-recorded_at", "-id")


def _record_new_url(access: Access, run: Run, back: str = "") -> str:
    """Where to record new information on the run (coming back to `back`)."""
    found = _optional_url("run-record-new", access, run.pk)
    if found and back:
        return f"{found}?{urlencode({'next': back})}"
    return found


# --- the impact, as the pages show it ---------------------------------------------------


@dataclass
class MovedRow:
    task_id: int
    name: str
    shift: str
    finish_after: dt.datetime | None


@dataclass
class ImpactView:
    """An impact (a what-if, or the one stored when an obstacle was raised) in
    the reader's words. A partner sees the tasks of its own party by name and
    only how many others move."""

    delay: str
    finish_before: dt.datetime | None
    finish_after: dt.datetime | None
    due_at: dt.datetime | None
    status_before: str
    status_after: str
    puts_target_at_risk: bool
    moved: list[MovedRow] = field(default_factory=list)
    hidden_moved: int = 0
    against_due: str = ""

    @property
    def status_before_label(self) -> str:
        return str(dict(ScheduleStatus.choices).get(self.status_before, ""))

    @property
    def status_after_label(self) -> str:
        return str(dict(ScheduleStatus.choices).get(self.status_after, ""))

    @property
    def shifts_finish(self) -> bool:
        return (
            self.finish_before is not None
            and self.finish_after is not None
            and self.finish_after > self.finish_before
        )


def _moment(value: Any) -> dt.datetime | None:
    if isinstance(value, dt.datetime):
        return value
    if isinstance(value, str) and value:
        return parse_datetime(value)
    return None


def _get(source: Any, name: str, default: Any = None) -> Any:
    if isinstance(source, dict):
        return source.get(name, default)
    return getattr(source, name, default)


def impact_view(source: Any, access: Access, *, day_minutes: int) -> ImpactView | None:
    """The page's view of an `impact.Impact`, or of its stored JSON."""
    if not source:
        return None
    due_at = _moment(_get(source, "due_at"))
    finish_after = _moment(_get(source, "finish_after"))
    rows = []
    hidden = 0
    for moved in _get(source, "moved", []) or []:
        party_id = _get(moved, "party_id")
        if access.partner_party_id is not None and party_id != access.partner_party_id:
            hidden += 1
            continue
        rows.append(
            MovedRow(
                task_id=_get(moved, "task_id"),
                name=_get(moved, "name", ""),
                shift=run_views.working_span(
                    int(_get(moved, "shift_minutes", 0)), day_minutes
                ),
                finish_after=_moment(_get(moved, "finish_after")),
            )
        )
    status_before = _get(source, "status_before", "")
    status_after = _get(source, "status_after", "")
    order = {
        ScheduleStatus.ON_TRACK: 0,
        ScheduleStatus.AT_RISK: 1,
        ScheduleStatus.LATE: 2,
    }
    against_due = ""
    if due_at is not None and finish_after is not None:
        calendar = projection.calendar_spec(access.organisation)
        if finish_after > due_at:
            against_due = _("%(span)s after the due date.") % {
                "span": run_views.working_span(
                    working_minutes_between(calendar, due_at, finish_after),
                    day_minutes,
                )
            }
        else:
            against_due = _("%(span)s of slack left before the due date.") % {
                "span": run_views.working_span(
                    working_minutes_between(calendar, finish_after, due_at),
                    day_minutes,
                )
            }
    return ImpactView(
        delay=run_views.working_span(
            int(_get(source, "delay_minutes", 0)), day_minutes
        ),
        finish_before=_moment(_get(source, "finish_before")),
        finish_after=finish_after,
        due_at=due_at,
        status_before=status_before,
        status_after=status_after,
        puts_target_at_risk=order.get(status_after, 0) > order.get(status_before, 0),
        moved=rows,
        hidden_moved=hidden,
        against_due=against_due,
    )


# --- the panels of the run and task pages -----------------------------------------------


@dataclass
class ObstacleRow:
    obstacle: Obstacle
    delay: str

    @property
    def is_severe(self) -> bool:
        return self.obstacle.severity in SEVERE


def obstacle_rows(obstacles: Iterable[Obstacle], day_minutes: int) -> list[ObstacleRow]:
    """Obstacles with their expected delay in working time."""
    return [
        ObstacleRow(
            obstacle,
            run_views.working_span(obstacle.expected_delay_minutes, day_minutes),
        )
        for obstacle in obstacles
    ]


def _panel_order(qs: QuerySet[Obstacle]) -> list[Obstacle]:
    """Open obstacles first (newest first), then the closed ones."""
    return list(
        qs.select_related("task", "raised_by").order_by(
            Case(When(status=ObstacleStatus.OPEN, then=Value(0)), default=Value(1)),
            "-raised_at",
            "-id",
        )[: PANEL_LIMIT + 1]
    )


def run_panels(access: Access, run: Run, *, day_minutes: int) -> dict[str, Any]:
    """The run page's obstacles (open first) and reviews, and whether the caller
    may raise an obstacle or ask for a review. Two queries."""
    found = _panel_order(obstacle_queries.obstacles(access).filter(run_id=run.pk))
    reviews = list(review_queries.reviews(access, run=run.pk))
    return {
        "obstacle_rows": obstacle_rows(found[:PANEL_LIMIT], day_minutes),
        "obstacles_more": len(found) > PANEL_LIMIT,
        "open_obstacles": sum(1 for o in found if o.is_open),
        "may_raise_obstacle": may_raise_on_run(access, run),
        "run_reviews": reviews,
        "may_request_review": access.role in (Role.ADMIN, Role.MEMBER),
    }


def task_panels(access: Access, task: Task, *, day_minutes: int) -> dict[str, Any]:
    """The task page's obstacles (open first) and whether the caller may raise
    one on the task. One query."""
    found = _panel_order(obstacle_queries.obstacles(access).filter(task_id=task.pk))
    return {
        "obstacle_rows": obstacle_rows(found[:PANEL_LIMIT], day_minutes),
        "obstacles_more": len(found) > PANEL_LIMIT,
        "open_obstacles": sum(1 for o in found if o.is_open),
        "may_raise_obstacle": may_raise_on_task(access, task, task.run),
    }


# --- the obstacles list ---------------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def obstacle_list(request: HttpRequest) -> HttpResponse:
    """Obstacles, newest first, filtered by status, severity and run."""
    access = _access(request)
    status = request.GET.get("status", "")
    status = status if status in ObstacleStatus.values else ""
    severity = request.GET.get("severity", "")
    severity = severity if severity in Severity.values else ""
    runs = list(
        chains_queries.runs(access)
        .filter(Exists(Obstacle.objects.filter(run_id=OuterRef("pk"))))
        .order_by("-started_at", "-id")
    )
    run_id = _positive_int(request.GET.get("run"))
    run = next((r for r in runs if r.pk == run_id), None)
    qs = obstacle_queries.obstacles(access).select_related("run", "task", "raised_by")
    if status:
        qs = qs.filter(status=status)
    if severity:
        qs = qs.filter(severity=severity)
    if run is not None:
        qs = qs.filter(run_id=run.pk)
    page = Paginator(qs.order_by("-raised_at", "-id"), PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    return render_page(
        request,
        "web/obstacles/list.html",
        partial="list-results",
        nav="obstacles",
        page=page,
        rows=obstacle_rows(page, _day_minutes(access)),
        statuses=ObstacleStatus.choices,
        severities=Severity.choices,
        runs=runs,
        status_filter=status,
        severity_filter=severity,
        run=run,
    )


# --- raising an obstacle, with the what-if ----------------------------------------------------


def _open_tasks(access: Access, run: Run) -> QuerySet[Task]:
    """The run's unfinished tasks the caller may raise an obstacle on."""
    return (
        chains_queries.tasks(access)
        .filter(run_id=run.pk)
        .exclude(status__in=[*FINISHED_STATUSES, TaskStatus.CANCELLED])
        .order_by("sort_order", "id")
    )


def _what_if(
    access: Access,
    run: Run,
    task: Task | None,
    minutes: int,
    *,
    now: dt.datetime,
) -> ImpactView | None:
    return impact_view(
        impacts.what_if(run, task=task, delay_minutes=minutes, now=now),
        access,
        day_minutes=_day_minutes(access),
    )


def _raise(request: HttpRequest, run: Run, task: Task | None) -> HttpResponse:
    """The raise form of a run (with the task to choose) or of one task."""
    access = _access(request)
    run.organisation = access.organisation
    if task is None:
        if not may_raise_on_run(access, run):
            raise DjangoPermissionDenied
        back = _url("run-detail", access, run.pk) + "#obstacles"
        tasks: QuerySet[Task] | None = _open_tasks(access, run)
        title = _("Raise an obstacle on “%(title)s”") % {"title": run.title}
    else:
        if not may_raise_on_task(access, task, run):
            raise DjangoPermissionDenied
        back = _url("task-detail", access, task.pk) + "#obstacles"
        tasks = None
        title = _("Raise an obstacle on “%(task)s”") % {"task": task.name}
    now = timezone.now()
    day_minutes = _day_minutes(access)
    records = _records_of_run(access, run)
    form = obstacle_forms.ObstacleForm(
        request.POST if request.method == "POST" else None,
        tasks=tasks,
        records=records,
        auto_id="obstacle-%s",
    )
    impact = None
    what_if_error = ""
    status = 200
    if request.method == "POST" and form.is_valid():
        data = form.cleaned_data
        chosen = task if task is not None else data.get("task")
        minutes = form.delay_minutes(minutes_per_day=day_minutes)
        if "preview" in request.POST:
            impact = _what_if(access, run, chosen, minutes, now=now)
        else:
            try:
                obstacle = obstacle_services.raise_obstacle(
                    run,
                    actor=access.user,
                    title=data["title"],
                    description=data["description"],
                    expected_delay_minutes=minutes,
                    severity=data["severity"],
                    cause=data["cause"],
                    task=chosen,
                    records=list(data["records"]),
                )
            except ValidationFailed as error:
                apply_errors(form, error, _delay_field)
                status = 422
            else:
                messages.success(
                    request,
                    _(
                        "The obstacle “%(title)s” was raised; the run's schedule now "
                        "counts with its delay."
                    )
                    % {"title": obstacle.title},
                )
                return redirect(_url("obstacle-detail", access, obstacle.pk))
    elif request.method == "POST":
        status = 422
    return render_page(
        request,
        "web/obstacles/raise.html",
        status=status,
        nav="runs",
        form=form,
        run=run,
        task=task,
        title=title,
        impact=impact,
        what_if_error=what_if_error,
        what_if_url=_url("obstacle-what-if", access, run.pk),
        cancel_url=back,
        record_new_url=_record_new_url(access, run),
        has_records=records.exists(),
    )


@org_view
@require_http_methods(["GET", "POST"])
def run_obstacle_new(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    return _raise(request, chains_queries.run(access, pk), None)


@org_view
@require_http_methods(["GET", "POST"])
def task_obstacle_new(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    task = chains_queries.task(access, pk)
    return _raise(request, task.run, task)


@org_view
@require_http_methods(["GET", "HEAD"])
def obstacle_what_if(request: HttpRequest, pk: int) -> HttpResponse:
    """What an expected delay (on a task, or on the whole run) would do to the
    run, before anything is saved: the raise form's live preview (htmx), or a
    page of its own."""
    access = _access(request)
    run = chains_queries.run(access, pk)
    if not may_raise_on_run(access, run):
        raise DjangoPermissionDenied
    form = obstacle_forms.WhatIfForm(request.GET)
    impact = None
    what_if_error = ""
    task = None
    if form.is_valid():
        task_id = form.cleaned_data.get("task")
        if task_id:
            task = _open_tasks(access, run).filter(pk=task_id).first()
            if task is None:
                raise Http404
        impact = _what_if(
            access,
            run,
            task,
            form.delay_minutes(minutes_per_day=_day_minutes(access)),
            now=timezone.now(),
        )
    elif request.GET.get("delay_value"):
        what_if_error = " ".join(
            str(problem) for problems in form.errors.values() for problem in problems
        )
    htmx = getattr(request, "htmx", None)
    template = "web/obstacles/_what_if.html" if htmx else "web/obstacles/what_if.html"
    return render_page(
        request,
        template,
        nav="runs",
        run=run,
        task=task,
        impact=impact,
        what_if_error=what_if_error,
        back_url=_url("task-obstacle-new", access, task.pk)
        if task is not None
        else _url("run-obstacle-new", access, run.pk),
    )


# --- an obstacle's page -------------------------------------------------------------------------


@dataclass
class MitigationRow:
    mitigation: Mitigation
    may_complete: bool
    may_cancel: bool


def _obstacle(access: Access, pk: int) -> Obstacle:
    """One visible obstacle with its mitigations and records (404 otherwise)."""
    found = obstacle_queries.obstacle(access, pk)
    found.run.organisation = access.organisation
    return found


def _people(access: Access) -> QuerySet[Person]:
    """Who may own a mitigation: the organisation's active people (a partner's:
    its own party's)."""
    qs = Person.objects.filter(organisation=access.organisation, is_active=True)
    if access.partner_party_id is not None:
        qs = qs.filter(party_id=access.partner_party_id)
    return qs.order_by("full_name", "pk")


@org_view
@require_http_methods(["GET", "HEAD"])
def obstacle_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """An obstacle: what it holds up and by how much, its impact when raised and
    the run now, the information behind it, its mitigations, and the forms to
    change, resolve or withdraw it."""
    access = _access(request)
    obstacle = _obstacle(access, pk)
    run = obstacle.run
    day_minutes = _day_minutes(access)
    may_manage = _may_manage(access, obstacle)
    is_open = obstacle.is_open
    records = list(obstacle.records.all())
    resolution_records = list(obstacle.resolution_records.all())
    mitigations = [
        MitigationRow(
            mitigation=mitigation,
            may_complete=mitigation.status == MitigationStatus.OPEN
            and _may_write(access)
            and (mitigation.owner.user_id == access.user.pk or may_manage),
            may_cancel=mitigation.status == MitigationStatus.OPEN and may_manage,
        )
        for mitigation in obstacle.mitigations.select_related(
            "owner", "done_by"
        ).order_by("due_at", "id")
    ]
    reviews = list(Review.objects.filter(obstacle_id=obstacle.pk))
    forms: dict[str, Any] = {}
    here = _url("obstacle-detail", access, obstacle.pk)
    if may_manage and is_open:
        run_records = _records_of_run(access, run)
        forms = {
            "update_form": obstacle_forms.ObstacleUpdateForm(
                initial={
                    "version": obstacle.version,
                    "severity": obstacle.severity,
                    "cause": obstacle.cause,
                    **obstacle_forms.delay_initial(
                        obstacle.expected_delay_minutes, day_minutes
                    ),
                },
                auto_id="update-%s",
            ),
            "records_form": obstacle_forms.RecordsForm(
                records=run_records.exclude(pk__in=[record.pk for record in records]),
                auto_id="records-%s",
            ),
            "resolve_form": obstacle_forms.ResolveForm(
                initial={"version": obstacle.version},
                records=run_records,
                auto_id="resolve-%s",
            ),
            "withdraw_form": obstacle_forms.WithdrawForm(
                initial={"version": obstacle.version}, auto_id="withdraw-%s"
            ),
            "mitigation_form": obstacle_forms.MitigationForm(
                people=_people(access), auto_id="mitigation-%s"
            ),
        }
    return render_page(
        request,
        "web/obstacles/detail.html",
        nav="obstacles",
        obstacle=obstacle,
        run=run,
        task=obstacle.task,
        delay=run_views.working_span(obstacle.expected_delay_minutes, day_minutes),
        impact=impact_view(obstacle.impact, access, day_minutes=day_minutes),
        records=records,
        rests_on_unverified=any(record.is_hearsay for record in records),
        resolution_records=resolution_records,
        resolution_rests_on_unverified=any(
            record.is_hearsay for record in resolution_records
        ),
        mitigations=mitigations,
        reviews=reviews,
        may_manage=may_manage and is_open,
        record_new_url=_record_new_url(access, run, here),
        next_url=here,
        **forms,
    )


# --- actions on an obstacle: one page each, used by the forms on its page --------------------


def _managed(request: HttpRequest, pk: int) -> tuple[Access, Obstacle]:
    """An open obstacle the caller may change (403 otherwise)."""
    access = _access(request)
    obstacle = _obstacle(access, pk)
    if not (_may_write(access) and obstacle.is_open and _may_manage(access, obstacle)):
        raise DjangoPermissionDenied
    return access, obstacle


def _obstacle_form_page(
    request: HttpRequest,
    access: Access,
    obstacle: Obstacle,
    form: Any,
    save: Callable[[dict[str, Any]], Any],
    *,
    title: str,
    submit: str,
    success: str,
    anchor: str = "",
    intro: str = "",
    danger: bool = False,
    where: Callable[[str], str | None] | None = None,
) -> HttpResponse:
    """One form about an obstacle on a page of its own (the forms on its page
    post here too, and come back here when something is refused): a valid POST
    calls the service once and goes back to the obstacle."""
    back = _url("obstacle-detail", access, obstacle.pk)
    values = {"title": obstacle.title}

    def act(data: dict[str, Any]) -> str:
        save(data)
        return back + anchor

    return handle_form(
        request,
        form,
        act,
        success=success % values,
        page=lambda status: render_page(
            request,
            FORM_PAGE_TEMPLATE,
            status=status,
            nav="obstacles",
            form=form,
            title=title % values,
            submit=submit,
            cancel_url=back,
            intro=intro,
            danger=danger,
        ),
        where=where,
    )


@org_view
@require_http_methods(["GET", "POST"])
def obstacle_update(request: HttpRequest, pk: int) -> HttpResponse:
    """Change an open obstacle's severity, cause or expected delay: the run's
    schedule follows at once."""
    access, obstacle = _managed(request, pk)
    day_minutes = _day_minutes(access)
    form = obstacle_forms.ObstacleUpdateForm(
        request.POST if request.method == "POST" else None,
        initial={
            "version": obstacle.version,
            "severity": obstacle.severity,
            "cause": obstacle.cause,
            **obstacle_forms.delay_initial(
                obstacle.expected_delay_minutes, day_minutes
            ),
        },
    )

    def save(data: dict[str, Any]) -> None:
        obstacle_services.update_obstacle(
            obstacle,
            actor=access.user,
            expected_version=data["version"],
            severity=data["severity"],
            cause=data["cause"],
            expected_delay_minutes=form.delay_minutes(minutes_per_day=day_minutes),
        )

    return _obstacle_form_page(
        request,
        access,
        obstacle,
        form,
        save,
        title=_("Change “%(title)s”"),
        submit=_("Save"),
        success=_("“%(title)s” was changed; the run's schedule follows."),
        intro=_(
            "A new expected delay moves the run's schedule at once; the impact "
            "stored when the obstacle was raised stays as it was."
        ),
        where=_delay_field,
    )


def _delay_field(name: str) -> str | None:
    """Where a service's error about the delay is shown: on the number typed."""
    return "delay_value" if name == "expected_delay_minutes" else name


@org_view
@require_http_methods(["GET", "POST"])
def obstacle_records(request: HttpRequest, pk: int) -> HttpResponse:
    """Add information records behind an open obstacle."""
    access, obstacle = _managed(request, pk)
    form = obstacle_forms.RecordsForm(
        request.POST if request.method == "POST" else None,
        records=_records_of_run(access, obstacle.run).exclude(obstacles=obstacle),
    )
    return _obstacle_form_page(
        request,
        access,
        obstacle,
        form,
        lambda data: obstacle_services.add_records(
            obstacle, actor=access.user, records=list(data["records"])
        ),
        title=_("Information behind “%(title)s”"),
        submit=_("Add"),
        success=_("The information was added to “%(title)s”."),
        anchor="#records",
    )


@org_view
@require_http_methods(["GET", "POST"])
def obstacle_resolve(request: HttpRequest, pk: int) -> HttpResponse:
    """Close an obstacle with its resolution and the information that shows it
    (at least one record with evidence)."""
    access, obstacle = _managed(request, pk)
    form = obstacle_forms.ResolveForm(
        request.POST if request.method == "POST" else None,
        initial={"version": obstacle.version},
        records=_records_of_run(access, obstacle.run),
    )
    return _obstacle_form_page(
        request,
        access,
        obstacle,
        form,
        lambda data: obstacle_services.resolve(
            obstacle,
            actor=access.user,
            expected_version=data["version"],
            resolution=data["resolution"],
            records=list(data["records"]),
        ),
        title=_("Resolve “%(title)s”"),
        submit=_("Resolve"),
        success=_("“%(title)s” was resolved; its delay no longer counts."),
        intro=_(
            "Closing an obstacle needs its resolution and at least one information "
            "record with evidence. Unverified information is allowed, but the "
            "obstacle will say that it rests on it."
        ),
    )


@org_view
@require_http_methods(["GET", "POST"])
def obstacle_withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    """Withdraw an obstacle raised by mistake."""
    access, obstacle = _managed(request, pk)
    form = obstacle_forms.WithdrawForm(
        request.POST if request.method == "POST" else None,
        initial={"version": obstacle.version},
    )
    return _obstacle_form_page(
        request,
        access,
        obstacle,
        form,
        lambda data: obstacle_services.withdraw(
            obstacle,
            actor=access.user,
            expected_version=data["version"],
            reason=data["reason"],
        ),
        title=_("Withdraw “%(title)s”"),
        submit=_("Withdraw"),
        success=_("“%(title)s” was withdrawn; its delay no longer counts."),
        intro=_(
            "Withdraw an obstacle that was raised by mistake. One that was real and "
            "is over is resolved instead, with evidence."
        ),
        danger=True,
    )


@org_view
@require_http_methods(["GET", "POST"])
def mitigation_new(request: HttpRequest, pk: int) -> HttpResponse:
    """An action against an open obstacle, with its owner and due date."""
    access, obstacle = _managed(request, pk)
    form = obstacle_forms.MitigationForm(
        request.POST if request.method == "POST" else None, people=_people(access)
    )
    return _obstacle_form_page(
        request,
        access,
        obstacle,
        form,
        lambda data: obstacle_services.add_mitigation(
            obstacle,
            actor=access.user,
            description=data["description"],
            owner=data["owner"],
            due_at=chains_services.due_at_for_date(
                access.organisation, data["due_date"]
            ),
        ),
        title=_("An action against “%(title)s”"),
        submit=_("Add the action"),
        success=_("The action against “%(title)s” was added; its owner is told."),
        anchor="#mitigations",
        where=lambda name: "due_date" if name == "due_at" else name,
    )


def _mitigation(request: HttpRequest, pk: int) -> tuple[Access, Mitigation]:
    access = _access(request)
    found = (
        Mitigation.objects.filter(
            organisation=access.organisation,
            obstacle__in=obstacle_queries.obstacles(access),
        )
        .select_related("obstacle__run", "owner")
        .filter(pk=pk)
        .first()
    )
    if found is None:
        raise Http404
    found.obstacle.run.organisation = access.organisation
    return access, found


@org_view
@require_http_methods(["GET", "POST"])
def mitigation_complete(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner of a mitigation says it is done, and what came of it."""
    access, mitigation = _mitigation(request, pk)
    if not (
        _may_write(access)
        and mitigation.status == MitigationStatus.OPEN
        and (
            mitigation.owner.user_id == access.user.pk
            or _may_manage(access, mitigation.obstacle)
        )
    ):
        raise DjangoPermissionDenied
    form = obstacle_forms.OutcomeForm(
        request.POST if request.method == "POST" else None,
        initial={"version": mitigation.version},
    )
    return _obstacle_form_page(
        request,
        access,
        mitigation.obstacle,
        form,
        lambda data: obstacle_services.complete_mitigation(
            mitigation,
            actor=access.user,
            expected_version=data["version"],
            outcome=data["outcome"],
        ),
        title=_("Done: an action against “%(title)s”"),
        submit=_("Mark as done"),
        success=_("The action against “%(title)s” is done."),
        anchor="#mitigations",
        intro=mitigation.description,
    )


@org_view
@require_http_methods(["GET", "POST"])
def mitigation_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    """Those who manage the obstacle cancel an action that is no longer needed."""
    access, mitigation = _mitigation(request, pk)
    obstacle = mitigation.obstacle
    if not (
        _may_write(access)
        and mitigation.status == MitigationStatus.OPEN
        and _may_manage(access, obstacle)
    ):
        raise DjangoPermissionDenied
    form = obstacle_forms.CancelForm(
        request.POST if request.method == "POST" else None,
        initial={"version": mitigation.version},
    )
    return _obstacle_form_page(
        request,
        access,
        obstacle,
        form,
        lambda data: obstacle_services.cancel_mitigation(
            mitigation,
            actor=access.user,
            expected_version=data["version"],
            reason=data["reason"],
        ),
        title=_("Cancel an action against “%(title)s”"),
        submit=_("Cancel the action"),
        success=_("The action against “%(title)s” was cancelled."),
        anchor="#mitigations",
        intro=mitigation.description,
        danger=True,
    )


# --- early warnings ------------------------------------------------------------------------------

WARNING_STATES = ("active", "resolved")


@dataclass
class WarningRow:
    warning: EarlyWarning
    why: str
    what_to_do: str
    is_mine: bool
    acknowledged_at: dt.datetime | None

    @property
    def may_acknowledge(self) -> bool:
        return (
            self.is_mine
            and self.acknowledged_at is None
            and (self.warning.resolved_at is None)
        )


def warning_rows(access: Access, warnings: Iterable[EarlyWarning]) -> list[WarningRow]:
    """Warnings with their explanation in the reader's language (from their
    facts) and the caller's own delivery (`warnings.warnings` annotates it)."""
    rows = []
    for warning in warnings:
        warning.organisation = access.organisation  # the same row: saves a query
        why, what_to_do = warning_services.explain(warning)
        rows.append(
            WarningRow(
                warning=warning,
                why=why,
                what_to_do=what_to_do,
                is_mine=bool(getattr(warning, "is_mine", False)),
                acknowledged_at=getattr(warning, "acknowledged_at", None),
            )
        )
    return rows


@org_view
@require_http_methods(["GET", "HEAD"])
def warning_list(request: HttpRequest) -> HttpResponse:
    """Early warnings: the caller's own first, then the organisation's; active
    ones unless asked for the resolved; by kind."""
    access = _access(request)
    kind = request.GET.get("kind", "")
    kind = kind if kind in WarningKind.values else ""
    state = request.GET.get("state", "active")
    state = state if state in WARNING_STATES else "active"
    qs = warning_services.warnings(access, kind=kind or None, active=state == "active")
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "web/warnings/list.html",
        partial="list-results",
        nav="warnings",
        page=page,
        rows=warning_rows(access, page),
        kinds=WarningKind.choices,
        kind_filter=kind,
        state=state,
        next_url=request.get_full_path(),
    )


@org_view
@require_http_methods(["POST"])
def warning_acknowledge(request: HttpRequest, pk: int) -> HttpResponse:
    """A recipient says they have taken a warning in."""
    access = _access(request)
    warning = warning_services.warnings(access, active=None).filter(pk=pk).first()
    if warning is None:
        raise Http404
    back = _next_url(request, _url("warning-list", access))
    try:
        warning_services.acknowledge(warning, actor=access.user)
    except (Conflict, ValidationFailed) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The warning was acknowledged."))
    return redirect(back)


# --- the anticipation settings -------------------------------------------------------------------


@org_view
@require_http_methods(["GET", "POST"])
def anticipation_settings(request: HttpRequest) -> HttpResponse:
    """When obstacles escalate and when the early warnings speak up:
    administrators change it, members and auditors read it."""
    access = _access(request)
    if not access.sees_whole_organisation:
        raise Http404
    if request.method == "POST" and not access.is_admin:
        raise DjangoPermissionDenied
    settings = policy.settings_for(access.organisation)
    form = (
        obstacle_forms.AnticipationSettingsForm(
            request.POST if request.method == "POST" else None,
            initial=obstacle_forms.settings_initial(settings),
        )
        if access.is_admin
        else None
    )
    facts = [
        (
            obstacle_forms.AnticipationSettingsForm.base_fields[name].label,
            getattr(settings, name),
        )
        for name in obstacle_forms.SETTINGS_FIELDS
    ]

    def page(status: int) -> HttpResponse:
        return render_page(
            request,
            "web/obstacles/settings.html",
            status=status,
            nav="settings",
            form=form,
            facts=facts,
        )

    if form is None:
        return page(200)

    def save(data: dict[str, Any]) -> str:
        expected = data.pop("version")
        policy.update_settings(
            access.organisation, actor=access.user, expected_version=expected, **data
        )
        return _url("anticipation-settings", access)

    return handle_form(
        request,
        form,
        save,
        success=_("The anticipation settings were saved."),
        page=page,
    )
