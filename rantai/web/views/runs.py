"""Run pages: the runs list, starting a run, a run with its timeline, tasks,
deviations and history, the actions on tasks and runs, and "my tasks".

Reads go through `rantai.chains.queries` (a partner sees only runs in which their
party owns a task, and only those tasks); writes call `rantai.chains.services` and
nothing else. Buttons show only what the services would allow (`services.Actor`);
the services decide again when the button is pressed. Every page keeps a fixed
number of queries, whatever the number of runs and tasks.
"""

from __future__ import annotations

import datetime as dt
import heapq
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django import forms
from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Count, Q
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import formats, timezone
from django.utils.dates import MONTHS_3
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.text import capfirst, slugify
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.approvals import queries as approval_queries
from rantai.approvals import requesting
from rantai.approvals.models import (
    ApprovalRequest,
    RequestStatus,
    RouteVersion,
    SubjectKind,
)
from rantai.audit import queries as audit_queries
from rantai.chains import projection, queries, services
from rantai.chains import targets as target_services
from rantai.chains.calendar import (
    CalendarSpec,
    add_working_minutes,
    minutes_per_working_day,
    subtract_working_minutes,
    working_minutes_between,
)
from rantai.chains.models import (
    FINAL_RUN_STATUSES,
    FINISHED_STATUSES,
    Deviation,
    DeviationKind,
    DeviationStatus,
    ProcedureVersion,
    Run,
    RunField,
    RunResult,
    RunStatus,
    ScheduleStatus,
    Task,
    TaskStatus,
    VersionStatus,
)
from rantai.chains.models import Target as TargetModel
from rantai.chains.rules import to_minutes
from rantai.chains.scheduling import Schedule, TaskSchedule
from rantai.core.errors import Conflict, PermissionDenied, ValidationFailed
from rantai.evidence.models import CitingKind
from rantai.insight import queries as insight_queries
from rantai.org.models import Party, PartyKind, Position
from rantai.web import forms_evidence, forms_runs, forms_targets
from rantai.web.access import apply_errors, handle_form, org_view
from rantai.web.access import render_page as _page
from rantai.web.forms import active_positions
from rantai.web.history import History, history_rows
from rantai.web.svg.gantt import GanttLabels, GanttRow, render_gantt
from rantai.web.views import assignment as assignment_views
from rantai.web.views import evidence as evidence_views
from rantai.web.views import obstacles as obstacle_views

PAGE_SIZE = 25
HISTORY_PAGE_SIZE = 50
HISTORY_LIMIT = 10
# A task whose latest finish (for the run to meet its due date) is this many working
# days away or fewer is "due soon" on "my tasks".
DUE_SOON_WORKING_DAYS = 3


# --- shared helpers ---------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _actor(access: Access, now: dt.datetime | None = None) -> services.Actor:
    return services.actor(
        access.organisation, access.user, now=now, membership=access.membership
    )


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


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


def working_span(minutes: int, minutes_per_day: int) -> str:
    """Working time as people say it: "2 working days 3 hours", "45 minutes"."""
    minutes = abs(minutes)
    days, rest = divmod(minutes, minutes_per_day) if minutes_per_day else (0, minutes)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(
            ngettext("%(count)d working day", "%(count)d working days", days)
            % {"count": days}
        )
    if hours:
        parts.append(
            ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
        )
    if mins and not days:
        parts.append(
            ngettext("%(count)d minute", "%(count)d minutes", mins) % {"count": mins}
        )
    if not parts:
        return _("no time")
    return " ".join(parts)


def wall_span(delta: dt.timedelta) -> str:
    """Calendar time: "2 days 4 hours"."""
    minutes = int(abs(delta.total_seconds()) // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, mins = divmod(rest, 60)
    parts = []
    if days:
        parts.append(
            ngettext("%(count)d day", "%(count)d days", days) % {"count": days}
        )
    if hours:
        parts.append(
            ngettext("%(count)d hour", "%(count)d hours", hours) % {"count": hours}
        )
    if mins and not days:
        parts.append(
            ngettext("%(count)d minute", "%(count)d minutes", mins) % {"count": mins}
        )
    return " ".join(parts) or _("no time")


def number(value: Decimal | int | None) -> str:
    """A quantity in the reader's language, without trailing zeros: 1.234,5."""
    if value is None:
        return "—"
    normal = Decimal(value).normalize()
    if normal == normal.to_integral_value():
        normal = normal.quantize(Decimal(1))
    return formats.number_format(normal, use_l10n=True, force_grouping=True)


def _get(qs: Any, pk: int, **lookups: Any) -> Any:
    """The one object of the scoped queryset (by pk, or by other lookups), or 404."""
    found = qs.filter(**(lookups or {"pk": pk})).first()
    if found is None:
        raise Http404
    return found


def _same_name(name: str) -> str | None:
    return name


# --- the runs list ----------------------------------------------------------------


@dataclass
class RunRow:
    run: Run
    done: int
    total: int

    @property
    def percent(self) -> int:
        return round(100 * self.done / self.total) if self.total else 100


@org_view
@require_http_methods(["GET", "HEAD"])
def run_list(request: HttpRequest) -> HttpResponse:
    """Runs, newest first, filtered by status, procedure, party and schedule."""
    access = _access(request)
    procedures = list(queries.procedures(access).order_by("name", "id"))
    parties = list(queries.parties_in_runs(access))
    status = request.GET.get("status", "")
    status = status if status in RunStatus.values else ""
    schedule = request.GET.get("schedule", "")
    schedule = schedule if schedule in ScheduleStatus.values else ""
    procedure_id = _positive_int(request.GET.get("procedure"))
    procedure = next((p for p in procedures if p.pk == procedure_id), None)
    party_id = _positive_int(request.GET.get("party"))
    party = next((p for p in parties if p.pk == party_id), None)
    own = Q()
    if access.partner_party_id is not None:
        own = Q(tasks__responsible_party_id=access.partner_party_id)
    qs = queries.runs(
        access,
        status=status or None,
        procedure=procedure.pk if procedure else None,
        party=party.pk if party else None,
        schedule_status=schedule or None,
    ).annotate(
        task_count=Count("tasks", filter=own),
        finished_count=Count(
            "tasks", filter=own & Q(tasks__status__in=FINISHED_STATUSES)
        ),
    )
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    rows = [RunRow(run, run.finished_count, run.task_count) for run in page]  # type: ignore[attr-defined]
    return _page(
        request,
        "web/runs/run_list.html",
        partial="list-results",
        nav="runs",
        page=page,
        rows=rows,
        procedures=procedures,
        parties=parties,
        statuses=RunStatus.choices,
        schedules=ScheduleStatus.choices,
        status_filter=status,
        schedule=schedule,
        procedure=procedure,
        party=party,
        may_start=access.role in (Role.ADMIN, Role.MEMBER),
    )


# --- starting a run ---------------------------------------------------------------


def _may_start(access: Access) -> None:
    if access.role not in (Role.ADMIN, Role.MEMBER):
        raise DjangoPermissionDenied


def _startable_versions(access: Access) -> list[ProcedureVersion]:
    return list(
        ProcedureVersion.objects.filter(
            organisation=access.organisation,
            status=VersionStatus.PUBLISHED,
            procedure__is_active=True,
        )
        .select_related("procedure", "procedure__owner_position")
        .order_by("procedure__name", "procedure_id")
    )


@org_view
@require_http_methods(["GET", "POST"])
def run_start(request: HttpRequest) -> HttpResponse:
    """Start a run of a published procedure version toward a target.

    `?version=<pk>` (or `?procedure=<pk>`, its published version); without either,
    the page lists the procedures that can be started.
    """
    access = _access(request)
    _may_start(access)
    versions = ProcedureVersion.objects.filter(
        organisation=access.organisation
    ).select_related("procedure")
    version_id = _positive_int(request.GET.get("version"))
    procedure_id = _positive_int(request.GET.get("procedure"))
    if version_id is not None:
        version = queries.version(access, version_id)
    elif procedure_id is not None:
        version = _get(
            versions.filter(status=VersionStatus.PUBLISHED),
            0,
            procedure_id=procedure_id,
        )
    else:
        return _page(
            request,
            "web/runs/run_start_choose.html",
            nav="runs",
            versions=_startable_versions(access),
            # Started from a target's page: the target comes along.
            target_id=_positive_int(request.GET.get("target")),
        )
    run_fields = list(RunField.objects.filter(procedure_version=version))
    form = forms_runs.RunStartForm(
        request.POST if request.method == "POST" else None,
        run_fields=run_fields,
        targets=_visible_active_targets(access),
        # `?target=<pk>`: started from the target's page.
        initial={"target": _positive_int(request.GET.get("target"))},
    )

    def save(data: dict[str, Any]) -> str:
        run = services.start_run(
            version,
            actor=access.user,
            title=data["title"],
            objective=data["objective"],
            measure_quantity=data["measure_quantity"],
            measure_unit=data["measure_unit"],
            due_at=services.due_at_for_date(access.organisation, data["due_date"]),
            field_values=form.field_values(),
            target=data["target"],
        )
        return _url("run-detail", access, run.pk)

    return handle_form(
        request,
        form,
        save,
        success=_("The run was started."),
        page=lambda status: _page(
            request,
            "web/runs/run_start.html",
            status=status,
            nav="runs",
            form=form,
            version=version,
            is_published=version.status == VersionStatus.PUBLISHED,
            target_fields=[form[name] for name in forms_runs.TARGET_FIELDS],
            procedure_fields=[
                form[forms_runs.FIELD_PREFIX + run_field.key]
                for run_field in run_fields
            ],
        ),
        where=form.form_field_of,
    )


# --- the run page -----------------------------------------------------------------


@dataclass
class TaskRow:
    task: Task
    number: int
    planned: TaskSchedule | None
    critical: bool
    slack: str
    predecessors: list[Task]
    may_claim: bool = False
    may_start: bool = False
    may_complete: bool = False
    may_recheck: bool = False
    may_reopen: bool = False
    skipped_reason: str = ""
    approval: ApprovalRequest | None = None

    @property
    def has_actions(self) -> bool:
        return (
            self.may_claim
            or self.may_start
            or self.may_complete
            or self.may_recheck
            or self.may_reopen
        )


@dataclass
class DeviationRow:
    deviation: Deviation
    summary: str
    may_decide: bool
    may_confirm: bool
    approval: ApprovalRequest | None = None
    cited: evidence_views.Cited | None = None


@dataclass
class Target:
    """The run's target and how it stands: the status and the words explaining it."""

    status: str
    status_label: str
    projected_finish: dt.datetime | None
    explanation: str
    result_lines: list[str] = field(default_factory=list)


def dependency_order(tasks: list[Task], links: Iterable[tuple[int, int]]) -> list[Task]:
    """Tasks so that each comes after everything it waits for; among those free to
    go, the procedure's order."""
    by_id = {task.pk: task for task in tasks}
    successors: dict[int, list[int]] = defaultdict(list)
    waiting = dict.fromkeys(by_id, 0)
    for predecessor, successor in links:
        if predecessor in by_id and successor in by_id:
            successors[predecessor].append(successor)
            waiting[successor] += 1
    ready = [(by_id[pk].sort_order, pk) for pk, count in waiting.items() if count == 0]
    heapq.heapify(ready)
    ordered: list[Task] = []
    while ready:
        _order, pk = heapq.heappop(ready)
        ordered.append(by_id[pk])
        for successor in successors[pk]:
            waiting[successor] -= 1
            if waiting[successor] == 0:
                heapq.heappush(ready, (by_id[successor].sort_order, successor))
    if len(ordered) != len(tasks):  # a cycle cannot be stored; be safe anyway
        seen = {task.pk for task in ordered}
        ordered += [task for task in tasks if task.pk not in seen]
    return ordered


def _target(
    run: Run, schedule: Schedule | None, calendar: CalendarSpec, day_minutes: int
) -> Target:
    """Where the run stands against its target, in words."""
    labels = dict(ScheduleStatus.choices)
    if run.status == RunStatus.COMPLETED:
        met = run.result == RunResult.MET
        lines = []
        actual = run.actual_quantity
        if actual is not None and actual < run.measure_quantity:
            lines.append(
                _("%(actual)s of %(target)s %(unit)s: %(short)s short.")
                % {
                    "actual": number(actual),
                    "target": number(run.measure_quantity),
                    "unit": run.measure_unit,
                    "short": number(run.measure_quantity - actual),
                }
            )
        elif actual is not None:
            lines.append(
                _("%(actual)s of %(target)s %(unit)s achieved.")
                % {
                    "actual": number(actual),
                    "target": number(run.measure_quantity),
                    "unit": run.measure_unit,
                }
            )
        if run.result_delay:
            lines.append(
                _("Finished %(late)s after the due date.")
                % {"late": wall_span(run.result_delay)}
            )
        elif run.completed_at is not None:
            lines.append(
                _("Finished %(early)s before the due date.")
                % {"early": wall_span(run.due_at - run.completed_at)}
            )
        return Target(
            status=RunResult.MET if met else RunResult.MISSED,
            status_label=str(run.get_result_display()),
            projected_finish=run.completed_at,
            explanation="",
            result_lines=lines,
        )
    if run.status == RunStatus.CANCELLED or schedule is None:
        return Target(
            status="",
            status_label="",
            projected_finish=None,
            explanation=_("The run was cancelled; it has no schedule any more."),
        )
    finish = schedule.projected_finish
    status = schedule.status
    if status == ScheduleStatus.LATE:
        explanation = _(
            "Projected to finish %(late)s after the due date: the target will be "
            "missed unless the critical path speeds up."
        ) % {
            "late": working_span(
                working_minutes_between(calendar, run.due_at, finish), day_minutes
            )
        }
    elif status == ScheduleStatus.AT_RISK:
        explanation = _(
            "Only %(slack)s of slack left: any longer delay on the critical path "
            "misses the due date."
        ) % {
            "slack": working_span(
                working_minutes_between(calendar, finish, run.due_at), day_minutes
            )
        }
    else:
        explanation = capfirst(
            _("%(slack)s of slack left before the due date.")
            % {
                "slack": working_span(
                    working_minutes_between(calendar, finish, run.due_at), day_minutes
                )
            }
        )
    if run.status == RunStatus.SUSPENDED:
        explanation += " " + _(
            "The run is suspended: the projection assumes work resumes now."
        )
    return Target(
        status=status,
        status_label=str(labels[status]),
        projected_finish=finish,
        explanation=explanation,
    )


def _gantt_labels(run: Run) -> GanttLabels:
    return GanttLabels(
        description=_(
            "Timeline of the run “%(title)s”: one bar per task from its planned or "
            "actual start to its finish, with today and the due date."
        )
        % {"title": run.title},
        today=_("Today"),
        due=_("Due"),
        critical_path=_("Critical path"),
        slack=_("Slack"),
        done=_("Done"),
        scheduled=_("Scheduled"),
        month_abbreviations=tuple(str(capfirst(MONTHS_3[m])) for m in range(1, 13)),
        non_working=_("Non-working day"),
    )


def _non_working_days(
    calendar: CalendarSpec, start: dt.datetime, end: dt.datetime
) -> list[dt.date]:
    zone = zoneinfo.ZoneInfo(calendar.time_zone)
    day = start.astimezone(zone).date()
    last = end.astimezone(zone).date()
    days = []
    while day <= last:
        if day.weekday() not in calendar.working_weekdays or day in calendar.holidays:
            days.append(day)
        day += dt.timedelta(days=1)
    return days


def _gantt(
    run: Run,
    rows: list[TaskRow],
    *,
    calendar: CalendarSpec,
    now: dt.datetime,
) -> str:
    """The run's timeline (SVG): bars from the schedule, today and the due line."""
    zone = zoneinfo.ZoneInfo(calendar.time_zone)
    bars: list[GanttRow] = []
    for row in rows:
        planned = row.planned
        if planned is None:
            continue
        task = row.task
        finished = (
            task.status in FINISHED_STATUSES or task.status == TaskStatus.CANCELLED
        )
        lane = (
            task.responsible_party.name
            if task.responsible_party
            else task.responsible_position.title
            if task.responsible_position
            else ""
        )
        bars.append(
            GanttRow(
                id=task.pk,
                label=f"{row.number}. {task.name}",
                lane_label=lane,
                status=task.status,
                bar_start=planned.earliest_start,
                bar_finish=planned.earliest_finish,
                latest_finish=None
                if finished or planned.slack_minutes <= 0
                else planned.latest_finish,
                critical=row.critical,
                done=task.status == TaskStatus.DONE,
                href=f"#task-{task.pk}",
            )
        )
    moments = [run.started_at, run.due_at]
    if not run.is_final:  # a finished run is drawn as it went, without today
        moments.append(now)
    for bar in bars:
        moments += [bar.bar_start, bar.bar_finish]
        if bar.latest_finish is not None:
            moments.append(bar.latest_finish)
    first = min(moments).astimezone(zone).date()
    last = max(moments).astimezone(zone).date()
    start = dt.datetime.combine(first, dt.time(0), tzinfo=zone)
    end = dt.datetime.combine(last + dt.timedelta(days=2), dt.time(0), tzinfo=zone)
    return render_gantt(
        bars,
        start=start,
        end=end,
        today=now,
        due=run.due_at,
        labels=_gantt_labels(run),
        time_zone=calendar.time_zone,
        non_working_days=_non_working_days(calendar, start, end),
        title=_("Timeline of %(title)s") % {"title": run.title},
        id_prefix=f"run-{run.pk}-gantt",
    )


def _skipped_reason(task: Task) -> str:
    if task.skipped_reason == services.CONDITION_NOT_MET:
        return _("condition not met")
    return task.skipped_reason


def _task_rows(
    detail: queries.RunDetail,
    schedule: Schedule | None,
    actor: services.Actor,
    *,
    is_owner: bool,
    day_minutes: int,
) -> list[TaskRow]:
    run = detail.run
    links = [(d.predecessor_id, d.successor_id) for d in detail.dependencies]
    by_id = {task.pk: task for task in detail.tasks}
    predecessors: dict[int, list[Task]] = defaultdict(list)
    for predecessor, successor in links:
        predecessors[successor].append(by_id[predecessor])
    critical = set(schedule.critical_path) if schedule else set()
    active = run.status == RunStatus.ACTIVE
    rows = []
    for number_, task in enumerate(dependency_order(detail.tasks, links), start=1):
        planned = schedule.tasks.get(task.pk) if schedule else None
        open_task = task.status not in FINISHED_STATUSES and task.status != (
            TaskStatus.CANCELLED
        )
        may_act = active and actor.may_act_on(task)
        rows.append(
            TaskRow(
                task=task,
                number=number_,
                planned=planned,
                critical=task.pk in critical and open_task,
                slack=(
                    working_span(planned.slack_minutes, day_minutes)
                    if planned.slack_minutes > 0
                    else _("none")
                )
                if planned is not None and open_task
                else "",
                predecessors=sorted(
                    predecessors[task.pk], key=lambda t: (t.sort_order, t.pk)
                ),
                may_claim=active and actor.may_claim(task),
                may_start=may_act and task.status == TaskStatus.READY,
                may_complete=may_act
                and task.status in (TaskStatus.READY, TaskStatus.IN_PROGRESS),
                may_recheck=active
                and task.status == TaskStatus.AWAITING
                and actor.may_recheck(task),
                may_reopen=active
                and task.status == TaskStatus.DONE
                and (may_act or is_owner),
                skipped_reason=_skipped_reason(task),
            )
        )
    return rows


def _deviation_rows(
    detail: queries.RunDetail,
    actor: services.Actor,
    names: dict[str, dict[int, str]],
    tasks: dict[int, Task],
) -> list[DeviationRow]:
    run = detail.run
    rows = []
    for deviation in detail.deviations:
        confirmer = (
            deviation.task.accountable_position_id  # type: ignore[union-attr]
            if deviation.task_id
            else run.procedure.owner_position_id
        )
        may_decide = deviation.status == DeviationStatus.REQUESTED and actor.may_decide(
            deviation, confirmer
        )
        rows.append(
            DeviationRow(
                deviation=deviation,
                summary=_deviation_summary(deviation, names, tasks),
                may_decide=may_decide,
                may_confirm=may_decide and not run.is_final,
            )
        )
    return rows


def _deviation_summary(
    deviation: Deviation, names: dict[str, dict[int, str]], tasks: dict[int, Task]
) -> str:
    details = deviation.details or {}

    def task_names(ids: Iterable[int]) -> str:
        found = [tasks[i].name for i in ids if i in tasks]
        return ", ".join(found) if found else _("nothing")

    if deviation.kind == DeviationKind.SKIP_STEP:
        return _("Skip “%(task)s”.") % {"task": deviation.task.name}  # type: ignore[union-attr]
    if deviation.kind == DeviationKind.REORDER:
        return _("“%(task)s” waits for: %(tasks)s.") % {
            "task": deviation.task.name,  # type: ignore[union-attr]
            "tasks": task_names(details.get("predecessors", [])),
        }
    responsible = names["position"].get(
        details.get("responsible_position") or 0
    ) or names["party"].get(details.get("responsible_party") or 0, "—")
    text = _(
        "Add “%(name)s” (%(duration)s working minutes), responsible: %(responsible)s."
    ) % {
        "name": details.get("name", ""),
        "duration": details.get("duration_minutes", ""),
        "responsible": responsible,
    }
    if details.get("after"):
        text += " " + _("After: %(tasks)s.") % {"tasks": task_names(details["after"])}
    if details.get("before"):
        text += " " + _("Before: %(tasks)s.") % {"tasks": task_names(details["before"])}
    return text


def _deviation_names(deviations: list[Deviation]) -> dict[str, dict[int, str]]:
    """Names of the positions and parties that requested new steps name (one query
    each, only when there are such deviations)."""
    position_ids: set[int] = set()
    party_ids: set[int] = set()
    for deviation in deviations:
        if deviation.kind == DeviationKind.ADD_STEP:
            details = deviation.details or {}
            for key in ("responsible_position", "accountable_position"):
                if isinstance(details.get(key), int):
                    position_ids.add(details[key])
            if isinstance(details.get("responsible_party"), int):
                party_ids.add(details["responsible_party"])
    names: dict[str, dict[int, str]] = {"position": {}, "party": {}}
    if position_ids:
        names["position"] = dict(
            Position.objects.filter(pk__in=position_ids).values_list("pk", "title")
        )
    if party_ids:
        names["party"] = dict(
            Party.objects.filter(pk__in=party_ids).values_list("pk", "name")
        )
    return names


def _run_events(access: Access, detail: queries.RunDetail) -> Any:
    """The audit events of a run, its visible tasks and its visible deviations (a
    partner: only those of their party's tasks)."""
    targets: dict[str, list[int]] = {
        "chains.task": [task.pk for task in detail.tasks],
        "chains.deviation": [deviation.pk for deviation in detail.deviations],
    }
    if access.sees_whole_organisation:
        targets["chains.run"] = [detail.run.pk]
    return audit_queries.events_about(access.organisation, targets)


def _run_history(access: Access, detail: queries.RunDetail) -> History:
    events = list(_run_events(access, detail)[: HISTORY_LIMIT + 1])
    url = _url("run-history", access, detail.run.pk)
    rows = history_rows(access, events[:HISTORY_LIMIT])
    if not access.sees_whole_organisation:
        for row in rows:  # the per-object history pages are not theirs to read
            row.history_url = url
    return History(
        rows=rows, has_more=len(events) > HISTORY_LIMIT, url=url, show_target=True
    )


@dataclass
class RunRights:
    """What the caller may do to the run as a whole."""

    suspend: bool = False
    resume: bool = False
    cancel: bool = False
    move_due_date: bool = False
    record_result: bool = False
    request_deviation: bool = False
    # Not the owner: the change is asked for along an approval route.
    ask_due_date: bool = False

    @property
    def any(self) -> bool:
        return any(
            (
                self.suspend,
                self.resume,
                self.cancel,
                self.move_due_date,
                self.record_result,
            )
        )


def _due_date_route_exists(access: Access) -> bool:
    """Whether an approval route for due-date changes is in force (one query)."""
    return RouteVersion.objects.filter(
        organisation=access.organisation,
        status=VersionStatus.PUBLISHED,
        route__is_active=True,
        route__subject_kind=SubjectKind.DUE_DATE_CHANGE,
    ).exists()


def _may_ask_due_date(access: Access, run: Run) -> bool:
    """A member or administrator who does not own the procedure may ask to move
    the due date when a route for such changes exists (the route decides)."""
    return (
        access.role in (Role.ADMIN, Role.MEMBER)
        and run.status not in FINAL_RUN_STATUSES
        and _due_date_route_exists(access)
    )


def _run_rights(
    run: Run,
    actor: services.Actor,
    access: Access,
    *,
    due_date_pending: bool = False,
) -> RunRights:
    owner = run.procedure.owner_position_id
    is_owner = actor.is_process_owner(owner)
    move = actor.may_move_due_date(owner) and not run.is_final and not due_date_pending
    return RunRights(
        suspend=is_owner and run.status == RunStatus.ACTIVE,
        resume=is_owner and run.status == RunStatus.SUSPENDED,
        cancel=is_owner and run.status in (RunStatus.ACTIVE, RunStatus.SUSPENDED),
        move_due_date=move,
        record_result=is_owner and run.status == RunStatus.COMPLETED,
        request_deviation=actor.may_request_deviation() and not run.is_final,
        ask_due_date=not move
        and not due_date_pending
        and _may_ask_due_date(access, run),
    )


def _may_set_target(actor: services.Actor, run: Run) -> bool:
    """Whoever may manage the run (its process owner) points it at a target —
    the rule of the run's due date; a final run may still be re-pointed."""
    return actor.is_process_owner(run.procedure.owner_position_id)


def _visible_active_targets(access: Access) -> Any:
    """The active targets the caller may see (a partner: only its party's and those
    its runs contribute to, so no other target is shown or can be picked)."""
    targets = forms_targets.active_targets(access.organisation)
    if access.sees_whole_organisation:
        return targets
    return targets.filter(pk__in=insight_queries.targets(access).values("pk"))


def _target_choices(access: Access, run: Run) -> Any:
    """The targets a run may be pointed at: the visible active targets of the
    run's own unit (compared without case, as the service compares them)."""
    return _visible_active_targets(access).filter(
        measure_unit__iexact=run.measure_unit.strip()
    )


def _run_target(
    access: Access, run: Run, actor: services.Actor
) -> tuple[TargetModel | None, list[TargetModel] | None]:
    """The target the run contributes to, and — for those who may change it —
    the targets it may be pointed at instead. One query when the run has a
    target or the caller may change it, none otherwise."""
    if not _may_set_target(actor, run):
        if run.target_id is None:
            return None, None
        if Run.target.is_cached(run):  # already read with the run
            return run.target, None
        return TargetModel.objects.filter(pk=run.target_id).first(), None
    found = list(
        TargetModel.objects.filter(organisation=access.organisation)
        .filter(
            Q(pk=run.target_id)
            | Q(is_active=True, measure_unit__iexact=run.measure_unit.strip())
        )
        .order_by("-period_start", "name", "pk")
    )
    current = next((target for target in found if target.pk == run.target_id), None)
    options = [
        target
        for target in found
        if target.is_active
        and target.measure_unit.strip().lower() == run.measure_unit.strip().lower()
    ]
    return current, options


def _pending_approvals(access: Access, run: Run) -> list[ApprovalRequest]:
    """The run's approval requests in progress (its due date, deviations, task
    completions), oldest first: one query (none for a partner, who sees none)."""
    return list(
        approval_queries.requests(access)
        .filter(run_id=run.pk, status__in=(RequestStatus.OPEN, RequestStatus.RETURNED))
        .order_by("submitted_at", "id")
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def run_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A run: its target and where it stands, the timeline, the tasks in dependency
    order with what the caller may do, the deviations and the history."""
    access = _access(request)
    now = timezone.now()
    detail = queries.run_detail(access, pk)
    run = detail.run
    run.organisation = access.organisation
    actor = _actor(access, now)
    calendar = projection.calendar_spec(access.organisation)
    day_minutes = minutes_per_working_day(calendar)
    schedule = (
        None
        if run.status == RunStatus.CANCELLED
        else projection.full_schedule(run, now=now)
    )
    approvals = _pending_approvals(access, run)
    pending = {(a.subject_kind, a.subject_id): a for a in approvals}
    rights = _run_rights(
        run,
        actor,
        access,
        due_date_pending=(SubjectKind.DUE_DATE_CHANGE, run.pk) in pending,
    )
    is_owner = actor.is_process_owner(run.procedure.owner_position_id)
    rows = _task_rows(
        detail, schedule, actor, is_owner=is_owner, day_minutes=day_minutes
    )
    for row in rows:
        row.approval = pending.get((SubjectKind.TASK_COMPLETION, row.task.pk))
    tasks = {task.pk: task for task in detail.tasks}
    deviations = _deviation_rows(
        detail, actor, _deviation_names(detail.deviations), tasks
    )
    for item in deviations:
        item.approval = pending.get((SubjectKind.DEVIATION, item.deviation.pk))
        if item.approval is not None:  # decided along its route, not here
            item.may_decide = item.may_confirm = False
    deviation_cited = (
        evidence_views.cited(
            CitingKind.DEVIATION_DECISION, [item.deviation.pk for item in deviations]
        )
        if deviations
        else {}
    )
    for item in deviations:
        item.cited = deviation_cited.get(item.deviation.pk)
    contributes_to, target_options = _run_target(access, run, actor)
    fields: list[tuple[RunField, Any]] = []
    if access.sees_whole_organisation:
        for run_field in RunField.objects.filter(
            procedure_version_id=run.procedure_version_id
        ):
            fields.append((run_field, run.field_values.get(run_field.key)))
    return _page(
        request,
        "web/runs/run_detail.html",
        nav="runs",
        run=run,
        target=_target(run, schedule, calendar, day_minutes),
        contributes_to=contributes_to,
        target_options=None
        if target_options is None
        else [
            (option.pk, forms_runs.target_choice_label(option))
            for option in target_options
        ],
        fields=fields,
        rows=rows,
        gantt=_gantt(run, rows, calendar=calendar, now=now) if rows else "",
        deviations=deviations,
        approvals=approvals,
        rights=rights,
        history=_run_history(access, detail),
        next_url=_url("run-detail", access, run.pk),
        deviation_kinds=[
            ("skip-step", _("Skip a step")),
            ("add-step", _("Add a step")),
            ("reorder", _("Change the order")),
        ],
        **obstacle_views.run_panels(access, run, day_minutes=day_minutes),
        **evidence_views.run_panels(request, access, run),
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def run_history(request: HttpRequest, pk: int) -> HttpResponse:
    """Everything that happened to a run, its tasks and its deviations."""
    access = _access(request)
    detail = queries.run_detail(access, pk)
    page = Paginator(_run_events(access, detail), HISTORY_PAGE_SIZE).get_page(
        request.GET.get("page")
    )
    rows = history_rows(access, page)
    if not access.sees_whole_organisation:
        for row in rows:
            row.history_url = request.path
    return _page(
        request,
        "web/runs/run_history.html",
        partial="list-results",
        nav="runs",
        run=detail.run,
        page=page,
        rows=rows,
    )


# --- the task page ----------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def task_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """One task: where it stands and what the caller may do to it, why it has the
    assignee it has (the assignment rationale in plain language and its history),
    reassigning it for those who may, and the input of the consulted positions
    with the answer form for their holders. A fixed number of queries."""
    access = _access(request)
    now = timezone.now()
    task = _get(
        queries.tasks(access).select_related(
            "run__procedure",
            "run__procedure_version",
            "assignee",
            "responsible_position",
            "responsible_party",
            "accountable_position",
            "step",
        ),
        pk,
    )
    task.run.organisation = access.organisation
    task.organisation = access.organisation
    run = task.run
    actor = _actor(access, now)
    day_minutes = minutes_per_working_day(projection.calendar_spec(access.organisation))
    active = run.status == RunStatus.ACTIVE
    may_act = active and actor.may_act_on(task)
    is_owner = actor.is_process_owner(run.procedure.owner_position_id)
    item = TaskRow(
        task=task,
        number=0,
        planned=None,
        critical=False,
        slack="",
        predecessors=[],
        may_claim=active and actor.may_claim(task),
        may_start=may_act and task.status == TaskStatus.READY,
        may_complete=may_act
        and task.status in (TaskStatus.READY, TaskStatus.IN_PROGRESS),
        may_recheck=active
        and task.status == TaskStatus.AWAITING
        and actor.may_recheck(task),
        may_reopen=active and task.status == TaskStatus.DONE and (may_act or is_owner),
        skipped_reason=_skipped_reason(task),
    )
    panels = {
        **assignment_views.task_panels(access, task, actor=actor, now=now),
        **obstacle_views.task_panels(access, task, day_minutes=day_minutes),
        **evidence_views.task_panels(request, access, task),
    }
    return _page(
        request,
        "web/runs/task_detail.html",
        nav="runs",
        task=task,
        run=run,
        item=item,
        work=working_span(task.duration_minutes, day_minutes),
        next_url=request.path,
        **panels,
    )


# --- actions: one page per action, used by the buttons and without JavaScript -----


def _action_page(
    request: HttpRequest,
    *,
    make_form: Callable[..., forms.Form],
    current_version: int | None,
    act: Callable[[dict[str, Any]], Any],
    title: str,
    submit: str,
    back: str,
    success: str | Callable[[Any], str],
    intro: str = "",
    danger: bool = False,
    run: Run | None = None,
    task: Task | None = None,
    where: Callable[[str], str | None] = _same_name,
) -> HttpResponse:
    """GET shows the action's form; POST calls the service once. A stale version
    (the page was read before someone else changed the object) answers 409 and
    writes nothing; the service's refusals are shown on the form. `success` is
    the message, or makes it from what the service returned."""
    status = 200
    conflict = ""
    initial = {"version": current_version} if current_version is not None else {}
    if request.method == "POST":
        form = make_form(request.POST, initial=initial)
        if form.is_valid():
            data = form.cleaned_data
            try:
                if current_version is not None and data.get("version") != (
                    current_version
                ):
                    raise Conflict()
                result = act(data)
            except Conflict as error:
                conflict = error.message
                status = 409
                kept = {k: v for k, v in data.items() if k != "version"}
                form = make_form(None, initial={**kept, **initial})
            except ValidationFailed as error:
                apply_errors(form, error, where)
            else:
                messages.success(
                    request, success(result) if callable(success) else success
                )
                return redirect(_next_url(request, back))
    else:
        form = make_form(None, initial=initial)
    return _page(
        request,
        "web/runs/action.html",
        status=status,
        nav="runs",
        form=form,
        conflict=conflict,
        title=title,
        submit=submit,
        cancel_url=back,
        next_url=_next_url(request, back),
        intro=intro,
        danger=danger,
        run=run,
        task=task,
    )


def _visible_task(request: HttpRequest, pk: int) -> tuple[Access, Task]:
    access = _access(request)
    return access, queries.task(access, pk)


def _task_action(
    request: HttpRequest,
    pk: int,
    *,
    allowed: Callable[[services.Actor, Task], bool],
    service: Callable[..., Any],
    title: str,
    submit: str,
    success: str,
    intro: str = "",
    with_reason: bool = False,
) -> HttpResponse:
    access, task = _visible_task(request, pk)
    actor = _actor(access)
    if request.method == "GET" and not allowed(actor, task):
        raise DjangoPermissionDenied
    name = task.name

    def act(data: dict[str, Any]) -> None:
        extra = {"reason": data["reason"]} if with_reason else {}
        service(task, actor=access.user, expected_version=data["version"], **extra)

    return _action_page(
        request,
        make_form=forms_runs.ReasonForm if with_reason else forms_runs.ActionForm,
        current_version=task.version,
        act=act,
        title=title % {"task": name},
        submit=submit,
        back=_url("run-detail", access, task.run_id) + f"#task-{task.pk}",
        success=success % {"task": name},
        intro=intro,
        task=task,
        run=task.run,
    )


@org_view
@require_http_methods(["GET", "POST"])
def task_claim(request: HttpRequest, pk: int) -> HttpResponse:
    return _task_action(
        request,
        pk,
        allowed=lambda actor, task: actor.may_claim(task),
        service=services.claim_task,
        title=_("Claim “%(task)s”"),
        submit=_("Claim"),
        success=_("You took “%(task)s”."),
        intro=_(
            "Several people hold the responsible position; claiming makes you the "
            "assignee, so the others know you are on it."
        ),
    )


@org_view
@require_http_methods(["GET", "POST"])
def task_start(request: HttpRequest, pk: int) -> HttpResponse:
    return _task_action(
        request,
        pk,
        allowed=lambda actor, task: actor.may_act_on(task),
        service=services.start_task,
        title=_("Start “%(task)s”"),
        submit=_("Start"),
        success=_("“%(task)s” was started."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def task_complete(request: HttpRequest, pk: int) -> HttpResponse:
    return _task_action(
        request,
        pk,
        allowed=lambda actor, task: actor.may_act_on(task),
        service=services.complete_task,
        title=_("Complete “%(task)s”"),
        submit=_("Complete"),
        success=_("“%(task)s” was completed (or waits for what it still needs)."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def task_recheck(request: HttpRequest, pk: int) -> HttpResponse:
    return _task_action(
        request,
        pk,
        allowed=lambda actor, task: actor.may_recheck(task),
        service=services.recheck_task,
        title=_("Check “%(task)s” again"),
        submit=_("Check again"),
        success=_("“%(task)s” was checked again."),
        intro=_("The task is done once everything it waits for is in."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def task_reopen(request: HttpRequest, pk: int) -> HttpResponse:
    return _task_action(
        request,
        pk,
        allowed=lambda actor, task: (
            actor.may_act_on(task)
            or actor.is_process_owner(task.run.procedure.owner_position_id)
        ),
        service=services.reopen_task,
        title=_("Reopen “%(task)s”"),
        submit=_("Reopen"),
        success=_("“%(task)s” was reopened."),
        intro=_(
            "Its successors that have not started go back to waiting; those already "
            "started continue and are flagged to be checked again."
        ),
        with_reason=True,
    )


# --- the process owner's actions on a run -----------------------------------------


def _visible_run(request: HttpRequest, pk: int) -> tuple[Access, Run]:
    access = _access(request)
    return access, queries.run(access, pk)


def _run_action(
    request: HttpRequest,
    pk: int,
    *,
    allowed: Callable[[services.Actor, Run], bool],
    make_form: Callable[..., forms.Form],
    act: Callable[[Access, Run, dict[str, Any]], Any],
    title: str,
    submit: str,
    success: str | Callable[[Any], str],
    intro: str = "",
    danger: bool = False,
    where: Callable[[str], str | None] = _same_name,
) -> HttpResponse:
    access, run = _visible_run(request, pk)
    if request.method == "GET" and not allowed(_actor(access), run):
        raise DjangoPermissionDenied
    values = {"title": run.title}
    return _action_page(
        request,
        make_form=make_form,
        current_version=run.version,
        act=lambda data: act(access, run, data),
        title=title % values,
        submit=submit,
        back=_url("run-detail", access, run.pk),
        success=success % values if isinstance(success, str) else success,
        intro=intro,
        danger=danger,
        run=run,
        where=where,
    )


def _owner(actor: services.Actor, run: Run) -> bool:
    return actor.is_process_owner(run.procedure.owner_position_id)


@org_view
@require_http_methods(["GET", "POST"])
def run_suspend(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_action(
        request,
        pk,
        allowed=_owner,
        make_form=forms_runs.ReasonForm,
        act=lambda access, run, data: services.suspend_run(
            run,
            actor=access.user,
            expected_version=data["version"],
            reason=data["reason"],
        ),
        title=_("Suspend “%(title)s”"),
        submit=_("Suspend"),
        success=_("“%(title)s” was suspended."),
        intro=_("While the run is suspended, none of its tasks can change."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def run_resume(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_action(
        request,
        pk,
        allowed=_owner,
        make_form=forms_runs.ActionForm,
        act=lambda access, run, data: services.resume_run(
            run, actor=access.user, expected_version=data["version"]
        ),
        title=_("Resume “%(title)s”"),
        submit=_("Resume"),
        success=_("“%(title)s” was resumed."),
    )


@org_view
@require_http_methods(["GET", "POST"])
def run_cancel(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_action(
        request,
        pk,
        allowed=_owner,
        make_form=forms_runs.ReasonForm,
        act=lambda access, run, data: services.cancel_run(
            run,
            actor=access.user,
            expected_version=data["version"],
            reason=data["reason"],
        ),
        title=_("Cancel “%(title)s”"),
        submit=_("Cancel the run"),
        success=_("“%(title)s” was cancelled."),
        intro=_(
            "Its unfinished tasks are cancelled with it. A cancelled run cannot be "
            "resumed; it stays visible with its history."
        ),
        danger=True,
    )


@org_view
@require_http_methods(["GET", "POST"])
def run_due_date(request: HttpRequest, pk: int) -> HttpResponse:
    """Move a run's due date — or, when an approval route for due-date changes
    applies to the proposal, ask for it (`approvals.requesting`): the date moves
    once the route's approvers agree."""
    access, run = _visible_run(request, pk)
    is_owner = _actor(access).may_move_due_date(run.procedure.owner_position_id)
    may_ask = _may_ask_due_date(access, run)

    def act(access: Access, run: Run, data: dict[str, Any]) -> Any:
        try:
            return requesting.request_due_date_change(
                run,
                actor=access.user,
                expected_version=data["version"],
                due_at=services.due_at_for_date(access.organisation, data["due_date"]),
                reason=data["reason"],
            )
        except PermissionDenied as error:
            if not may_ask:
                raise
            # Routes exist, but none applies to this proposal: only the owner
            # moves it directly. Say so on the form.
            raise ValidationFailed(error.message) from error

    def success(result: Any) -> str:
        if isinstance(result, ApprovalRequest):
            return _("Your request was sent for approval.")
        return _("The due date of “%(title)s” was moved.") % {"title": run.title}

    if is_owner and may_ask:
        intro = _(
            "As the accountable of the procedure you move the due date yourself, "
            "unless an approval route applies to the change: then it is sent for "
            "approval and moves once approved. The old date stays in the run's "
            "history."
        )
    elif may_ask:
        intro = _(
            "Your proposal goes to the approvers of the route for due-date changes; "
            "the date moves once they approve it. If no route applies to it, only "
            "the accountable of the procedure can move the date."
        )
    else:
        intro = _(
            "Only the accountable of the procedure (a holder of its owner position) "
            "moves a run's due date. The old date stays in the run's history."
        )
    return _run_action(
        request,
        pk,
        allowed=lambda actor, run: is_owner or may_ask,
        make_form=forms_runs.DueDateForm,
        act=act,
        title=_("Move the due date of “%(title)s”")
        if is_owner
        else _("Ask to move the due date of “%(title)s”"),
        submit=_("Move the due date") if is_owner else _("Ask for approval"),
        success=success,
        intro=intro,
        where=lambda name: "due_date" if name == "due_at" else name,
    )


@org_view
@require_http_methods(["GET", "POST"])
def run_result(request: HttpRequest, pk: int) -> HttpResponse:
    return _run_action(
        request,
        pk,
        allowed=_owner,
        make_form=forms_runs.ResultForm,
        act=lambda access, run, data: services.record_actual_quantity(
            run,
            actor=access.user,
            expected_version=data["version"],
            actual_quantity=data["actual_quantity"],
        ),
        title=_("Record the result of “%(title)s”"),
        submit=_("Record"),
        success=_("The result of “%(title)s” was recorded."),
        intro=_(
            "Short of the target quantity the target is missed, even when the run "
            "finished on time."
        ),
    )


# --- deviations -------------------------------------------------------------------

DEVIATION_KINDS = {
    "skip-step": DeviationKind.SKIP_STEP,
    "add-step": DeviationKind.ADD_STEP,
    "reorder": DeviationKind.REORDER,
}
# Where the service's errors about a new step are shown (its key is made from the
# name; its duration is typed in days or hours).
ADD_STEP_FIELDS = {"duration_minutes": "duration_value", "key": "name"}


def _unique_key(name: str, taken: set[str]) -> str:
    base = slugify(name)[:44] or "step"
    key, counter = base, 2
    while key in taken:
        key = f"{base}-{counter}"
        counter += 1
    return key


@org_view
@require_http_methods(["GET", "POST"])
def deviation_request(request: HttpRequest, pk: int, kind: str) -> HttpResponse:
    """Ask to skip, add or reorder a step in this run; someone else confirms."""
    if kind not in DEVIATION_KINDS:
        raise Http404
    access, run = _visible_run(request, pk)
    actor = _actor(access)
    if not actor.may_request_deviation():
        raise DjangoPermissionDenied
    all_tasks = Task.objects.filter(run=run).order_by("sort_order", "id")
    open_tasks = all_tasks.filter(
        status__in=(TaskStatus.PENDING, TaskStatus.READY), skipped_reason=""
    )
    data = request.POST if request.method == "POST" else None
    deviation_kind = DEVIATION_KINDS[kind]
    form: forms.Form
    where: Callable[[str], str | None] = _same_name
    if deviation_kind == DeviationKind.SKIP_STEP:
        form = forms_runs.SkipStepForm(data, open_tasks=open_tasks)
        title = _("Ask to skip a step of “%(title)s”")
    elif deviation_kind == DeviationKind.REORDER:
        form = forms_runs.ReorderForm(data, open_tasks=open_tasks, all_tasks=all_tasks)
        title = _("Ask to change the order of “%(title)s”")
    else:
        form = forms_runs.AddStepForm(
            data,
            positions=active_positions(access.organisation),
            partners=Party.objects.filter(
                organisation=access.organisation,
                kind=PartyKind.EXTERNAL_PARTNER,
                is_active=True,
            ).order_by("name"),
            all_tasks=all_tasks,
            open_tasks=open_tasks,
        )
        title = _("Ask to add a step to “%(title)s”")

        def where(name: str) -> str | None:
            return ADD_STEP_FIELDS.get(name, name)

    def act(values: dict[str, Any]) -> None:
        task: Task | None = values.get("task")
        details: dict[str, Any] = {}
        if deviation_kind == DeviationKind.REORDER:
            details = {"predecessors": [t.pk for t in values["predecessors"]]}
        elif deviation_kind == DeviationKind.ADD_STEP:
            minutes = to_minutes(
                values["duration_value"],
                values["duration_unit"],
                minutes_per_day=projection.minutes_per_day(access.organisation),
            )
            details = {
                "key": _unique_key(
                    values["name"], set(all_tasks.values_list("key", flat=True))
                ),
                "name": values["name"],
                "duration_minutes": minutes,
                "responsible_position": values["responsible_position"].pk
                if values["responsible_position"]
                else None,
                "responsible_party": values["responsible_party"].pk
                if values["responsible_party"]
                else None,
                "accountable_position": values["accountable_position"].pk,
                "after": [t.pk for t in values["after"]],
                "before": [t.pk for t in values["before"]],
            }
        services.request_deviation(
            run,
            actor=access.user,
            kind=deviation_kind,
            reason=values["reason"],
            task=task,
            details=details,
        )

    values = {"title": run.title}
    return _action_page(
        request,
        make_form=lambda *args, **kwargs: form,  # bound above, with its choices
        current_version=None,
        act=act,
        title=title % values,
        submit=_("Ask for confirmation"),
        back=_url("run-detail", access, run.pk) + "#deviations",
        success=_(
            "The deviation was requested. A holder of the accountable position "
            "confirms or rejects it."
        ),
        intro=_(
            "A deviation from the procedure needs a reason and the confirmation of "
            "the step's accountable (never the person who asks). It stays visible "
            "on the run for everyone, for good."
        ),
        run=run,
        where=where,
    )


def _decide(request: HttpRequest, pk: int, *, confirm: bool) -> HttpResponse:
    access = _access(request)
    deviation = queries.deviation(access, pk)
    run = deviation.run
    confirmer = (
        deviation.task.accountable_position_id
        if deviation.task_id
        else run.procedure.owner_position_id
    )
    if not _actor(access).may_decide(deviation, confirmer):
        raise DjangoPermissionDenied
    service = services.confirm_deviation if confirm else services.reject_deviation

    citable = evidence_views.citable_records(access, run.pk)

    def make_form(*args: Any, **kwargs: Any) -> forms.Form:
        form = forms_runs.DecisionForm(*args, **kwargs)
        forms_evidence.add_rests_on(form, citable)
        return form

    def act(data: dict[str, Any]) -> None:
        # The decision and what it rests on are written together, or neither.
        with transaction.atomic():
            service(
                deviation,
                actor=access.user,
                expected_version=data["version"],
                comment=data["comment"],
            )
            evidence_views.cite_decision(
                data.get(forms_evidence.REST_ON_FIELD),
                citing_kind=CitingKind.DEVIATION_DECISION,
                citing_id=deviation.pk,
                access=access,
            )

    summary = _deviation_summary(
        deviation,
        _deviation_names([deviation]),
        {t.pk: t for t in Task.objects.filter(run=run)},
    )
    return _action_page(
        request,
        make_form=make_form,
        current_version=deviation.version,
        act=act,
        title=(_("Confirm the deviation") if confirm else _("Reject the deviation")),
        submit=_("Confirm") if confirm else _("Reject"),
        back=_url("run-detail", access, run.pk) + "#deviations",
        success=_("The deviation was confirmed and applied.")
        if confirm
        else _("The deviation was rejected."),
        intro=f"{summary} " + _("Reason: %(reason)s") % {"reason": deviation.reason},
        danger=not confirm,
        run=run,
    )


@org_view
@require_http_methods(["GET", "POST"])
def deviation_confirm(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, confirm=True)


@org_view
@require_http_methods(["GET", "POST"])
def deviation_reject(request: HttpRequest, pk: int) -> HttpResponse:
    return _decide(request, pk, confirm=False)


# --- my tasks ---------------------------------------------------------------------

URGENCY_LATE = "late"
URGENCY_AT_RISK = "at_risk"
URGENCY_DUE_SOON = "due_soon"
URGENCY_OTHER = "other"


@dataclass
class MyTask:
    task: Task
    urgency: str
    finish_by: dt.datetime
    slack: str
    may_claim: bool
    may_start: bool
    may_complete: bool
    may_recheck: bool


def urgency(
    task: Task,
    *,
    calendar: CalendarSpec,
    now: dt.datetime,
    day_minutes: int,
) -> tuple[str, dt.datetime, int]:
    """(urgency, latest finish, slack in working minutes) of an open task.

    The latest finish is when the task must be done for the run to still meet its
    due date (everything after it takes `path_to_end - estimate`); the expected
    finish is now plus its estimate (from its start, if it started). A task's
    estimate includes the expected delay of the open obstacles on it, and the
    run's obstacles hold every unfinished task back (`Run.hold_minutes`), as in
    every schedule. Late: expected after the latest finish; at risk: less than a
    working day of slack; due soon: the latest finish is at most
    DUE_SOON_WORKING_DAYS working days away.
    """
    estimate = task.duration_minutes + task.delay_minutes
    rest = max(task.path_to_end_minutes - estimate, 0)
    if estimate:
        # read as the end of work (16:00), not as the next morning's start
        latest = add_working_minutes(
            calendar,
            subtract_working_minutes(calendar, task.run.due_at, rest + estimate),
            estimate,
        )
    else:
        latest = subtract_working_minutes(calendar, task.run.due_at, rest)
    hold = task.run.hold_minutes
    if task.started_at is not None and task.status != TaskStatus.READY:
        expected = max(now, add_working_minutes(calendar, task.started_at, estimate))
    else:
        expected = add_working_minutes(calendar, now, estimate)
    if hold:
        expected = add_working_minutes(calendar, expected, hold)
    slack = working_minutes_between(calendar, expected, latest)
    if slack < 0:
        return URGENCY_LATE, latest, slack
    if slack < day_minutes:
        return URGENCY_AT_RISK, latest, slack
    if working_minutes_between(calendar, now, latest) <= (
        DUE_SOON_WORKING_DAYS * day_minutes
    ):
        return URGENCY_DUE_SOON, latest, slack
    return URGENCY_OTHER, latest, slack


@org_view
@require_http_methods(["GET", "HEAD"])
def my_tasks(request: HttpRequest) -> HttpResponse:
    """The caller's next actions, by urgency: assigned to them, claimable through
    their positions and, for a partner, their party's tasks."""
    access = _access(request)
    now = timezone.now()
    tasks = queries.my_tasks(access, now=now, include_pending=True)
    coming = [
        task
        for task in tasks
        if task.status == TaskStatus.PENDING and not task.skipped_reason
    ]
    tasks = [task for task in tasks if task.status != TaskStatus.PENDING]
    actor = _actor(access, now)
    calendar = projection.calendar_spec(access.organisation)
    day_minutes = minutes_per_working_day(calendar)
    groups: dict[str, list[MyTask]] = {
        URGENCY_LATE: [],
        URGENCY_AT_RISK: [],
        URGENCY_DUE_SOON: [],
        URGENCY_OTHER: [],
    }
    for task in tasks:
        level, finish_by, slack = urgency(
            task, calendar=calendar, now=now, day_minutes=day_minutes
        )
        may_act = actor.may_act_on(task)
        groups[level].append(
            MyTask(
                task=task,
                urgency=level,
                finish_by=finish_by,
                slack=working_span(slack, day_minutes),
                may_claim=actor.may_claim(task),
                may_start=may_act and task.status == TaskStatus.READY,
                may_complete=may_act
                and task.status in (TaskStatus.READY, TaskStatus.IN_PROGRESS),
                may_recheck=task.status == TaskStatus.AWAITING
                and actor.may_recheck(task),
            )
        )
    upcoming = []
    for task in coming:
        _level, finish_by, _slack = urgency(
            task, calendar=calendar, now=now, day_minutes=day_minutes
        )
        upcoming.append(
            MyTask(
                task=task,
                urgency="",
                finish_by=finish_by,
                slack="",
                may_claim=actor.may_claim(task),
                may_start=False,
                may_complete=False,
                may_recheck=False,
            )
        )
    for items in [*groups.values(), upcoming]:
        items.sort(key=lambda item: (item.finish_by, item.task.pk))
    titles = {
        URGENCY_LATE: (
            _("Late"),
            _("The run misses its due date unless these finish sooner."),
        ),
        URGENCY_AT_RISK: (
            _("At risk"),
            _("Less than a working day of slack left."),
        ),
        URGENCY_DUE_SOON: (
            _("Due soon"),
            _("To finish within %(count)d working days.")
            % {"count": DUE_SOON_WORKING_DAYS},
        ),
        URGENCY_OTHER: (_("Later"), _("Time enough, for now.")),
    }
    return _page(
        request,
        "web/runs/my_tasks.html",
        nav="my-tasks",
        groups=[(key, titles[key][0], titles[key][1], groups[key]) for key in groups],
        count=len(tasks),
        upcoming=upcoming,
        next_url=_url("my-tasks", access),
    )


# --- the target a run contributes to -------------------------------------------------


@org_view
@require_http_methods(["GET", "POST"])
def run_target(request: HttpRequest, pk: int) -> HttpResponse:
    """Point a run at the target it contributes to, or at none: its process
    owner does (`chains.targets.set_run_target` decides again). A stale page
    answers 409 and changes nothing."""
    access, run = _visible_run(request, pk)
    choices = _target_choices(access, run)

    def make_form(data: Any, *, initial: dict[str, Any]) -> forms.Form:
        return forms_runs.RunTargetForm(
            data, initial={"target": run.target_id, **initial}, targets=choices
        )

    return _run_action(
        request,
        pk,
        allowed=_may_set_target,
        make_form=make_form,
        act=lambda access, run, data: target_services.set_run_target(
            run,
            actor=access.user,
            expected_version=data["version"],
            target=data["target"],
        ),
        title=_("Choose the target “%(title)s” contributes to"),
        submit=_("Save"),
        success=_("The target of “%(title)s” was saved."),
        intro=_(
            "A run counts toward one target: within the target's period, what it "
            "achieves when completed, and what it is projected to achieve while "
            "under way."
        ),
    )
