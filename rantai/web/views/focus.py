"""The Focus page (Fokus): each person's home in an organisation. One glance tells
them what to do next, and nothing else:

* **Do next** — their ready and started tasks, most urgent first: least slack
  against the run's due date first (the same figures as "my tasks"), and on a tie
  the tasks on the critical path of their run (from the run's schedule as it
  stands now);
* **Approvals waiting for you** — open stages they can decide, in their own slot
  or on behalf of someone who delegated to them, soonest due first;
* **Your requests that are stuck** — returned to them for revision, or waiting past
  the time limit of their stage (with a nudge to the approvers);
* **Targets** — the targets of the period their work contributes to or that a
  position they hold owns (`insight.queries.focus_targets`), at risk first, each
  with its progress bar and the first line of why;
* **Targets your work feeds** — the runs their tasks belong to: the target, the due
  date, the projected finish and whether it will be met;
* **Your input is asked** — consultations waiting for a position they hold (the
  task cannot be completed before they answer), oldest first;
* **Briefings to acknowledge** — their role briefings not acknowledged yet;
* **Early warnings** — the trouble ahead the worker found for them, each with
  why and what to do, to acknowledge;
* **Obstacles you answer for** — open obstacles they raised or whose accountable
  position (the task's, or the procedure owner's for a whole run) they hold;
* **Your actions** — the open mitigations and review action items they own.

The page keeps a fixed number of queries, whatever the number of tasks, runs and
requests: the run schedules are projected from the tasks in flight of all the runs
at once (two statements), the way `chains.projection` projects one run.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db.models import Prefetch, Q, Subquery
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.views.decorators.http import require_http_methods

from rantai.accounts.access import Access
from rantai.approvals import queries as approval_queries
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    Nudge,
    Outcome,
    RequestStage,
    RequestStatus,
    StageApprover,
    StageStatus,
)
from rantai.chains import projection, services
from rantai.chains import queries as chains_queries
from rantai.chains.calendar import (
    CalendarSpec,
    minutes_per_working_day,
    working_minutes_between,
)
from rantai.chains.models import (
    OPEN_TASK_STATUSES,
    Run,
    ScheduleStatus,
    Task,
    TaskDependency,
    TaskStatus,
)
from rantai.chains.scheduling import DepInput, Schedule, TaskInput, compute_schedule
from rantai.insight import queries as insight_queries
from rantai.obstacles import queries as obstacle_queries
from rantai.obstacles import review_queries
from rantai.obstacles import warnings as warning_services
from rantai.obstacles.models import Obstacle, ObstacleStatus
from rantai.org.models import Holding, Person
from rantai.roles import briefings as briefing_services
from rantai.roles import queries as roles_queries
from rantai.web.access import org_view, render_page
from rantai.web.views import obstacles as obstacle_views
from rantai.web.views import targets as target_views
from rantai.web.views.approvals import nudge_interval, time_left
from rantai.web.views.runs import (
    URGENCY_AT_RISK,
    URGENCY_DUE_SOON,
    URGENCY_LATE,
    urgency,
    working_span,
)
from rantai.workload import queries as workload_queries

# How many rows each section shows; the rest is one link away.
SECTION_LIMIT = 20
# Tasks someone works on now: what "do next" lists.
WORKING_STATUSES = frozenset({TaskStatus.READY, TaskStatus.IN_PROGRESS})
# Targets: the worst first.
SCHEDULE_ORDER: dict[str, int] = {
    ScheduleStatus.LATE: 0,
    ScheduleStatus.AT_RISK: 1,
    ScheduleStatus.ON_TRACK: 2,
}


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


# --- the schedules of the runs, projected from their tasks in flight -----------------


def run_schedules(
    runs: Iterable[Run], *, calendar: CalendarSpec, now: dt.datetime
) -> dict[int, Schedule]:
    """Per run id, the schedule of its tasks in flight (ready, in progress,
    awaiting) as `chains.projection.project` builds it: each task with a stand-in
    for the rest of its path to the end, after its finished predecessors' actual
    times and lags. A task's slack is exact against the run's projected finish; a
    task with none is on the critical path. Two statements for all the runs."""
    by_id = {run.pk: run for run in runs}
    if not by_id:
        return {}
    inputs: dict[int, dict[int, TaskInput]] = defaultdict(dict)
    dependencies: dict[int, list[DepInput]] = defaultdict(list)
    for (
        task_id,
        run_id,
        status,
        duration,
        path,
        started_at,
        delay,
    ) in Task.objects.filter(
        run_id__in=by_id, status__in=OPEN_TASK_STATUSES
    ).values_list(
        "id",
        "run_id",
        "status",
        "duration_minutes",
        "path_to_end_minutes",
        "started_at",
        "delay_minutes",
    ):
        # The expected delay of the task's open obstacles lengthens it (and is
        # part of its path to the end), as in `chains.projection`.
        inputs[run_id][task_id] = TaskInput(
            task_id, duration, status, started_at, None, delay
        )
        rest = path - duration - delay
        if rest > 0:
            # A stand-in for everything after this task, never optimistic.
            inputs[run_id][-task_id] = TaskInput(-task_id, rest, TaskStatus.PENDING)
            dependencies[run_id].append(DepInput(task_id, -task_id))
    for (
        run_id,
        successor,
        predecessor,
        kind,
        lag,
        status,
        started_at,
        done_at,
    ) in TaskDependency.objects.filter(
        run_id__in=by_id, successor__status__in=OPEN_TASK_STATUSES
    ).values_list(
        "run_id",
        "successor_id",
        "predecessor_id",
        "kind",
        "lag_minutes",
        "predecessor__status",
        "predecessor__started_at",
        "predecessor__done_at",
    ):
        tasks = inputs[run_id]
        if predecessor not in tasks:
            if status not in (TaskStatus.DONE, TaskStatus.SKIPPED):
                continue
            tasks[predecessor] = TaskInput(predecessor, 0, status, started_at, done_at)
        dependencies[run_id].append(DepInput(predecessor, successor, kind, lag))
    return {
        run_id: compute_schedule(
            list(tasks.values()),
            dependencies[run_id],
            calendar,
            now,
            by_id[run_id].due_at,
            hold_minutes=by_id[run_id].hold_minutes,
        )
        for run_id, tasks in inputs.items()
        if tasks
    }


# --- the four sections -------------------------------------------------------------


@dataclass
class FocusTask:
    """A task to do next, with what the caller may do to it (the names the task
    action buttons read)."""

    task: Task
    urgency: str
    finish_by: dt.datetime
    slack_minutes: int
    slack: str
    critical: bool
    may_claim: bool
    may_start: bool
    may_complete: bool
    may_recheck: bool = False

    @property
    def behind(self) -> bool:
        return self.slack_minutes < 0


@dataclass
class WaitingApproval:
    """An approval the caller can give now, and how long is left for it."""

    pending: approval_queries.Pending
    time_left: str

    @property
    def request(self) -> ApprovalRequest:
        return self.pending.request

    @property
    def stage(self) -> RequestStage:
        return self.pending.stage

    @property
    def overdue(self) -> bool:
        return self.pending.is_overdue


@dataclass
class StuckRequest:
    """One of the caller's requests that does not move: returned to them (by
    whom, why), or past its stage's time limit (waiting on whom)."""

    request: ApprovalRequest
    stage: RequestStage | None = None
    waiting_on: list[Person] = field(default_factory=list)
    returned_by: Decision | None = None
    overdue_by: str = ""
    nudge_again_at: dt.datetime | None = None

    @property
    def is_returned(self) -> bool:
        return self.request.status == RequestStatus.RETURNED

    @property
    def may_nudge(self) -> bool:
        return (
            self.request.status == RequestStatus.OPEN
            and bool(self.waiting_on)
            and self.nudge_again_at is None
        )


@dataclass
class TargetRow:
    """A run the caller's work feeds: its target and where it stands."""

    run: Run
    projected_finish: dt.datetime | None
    status: str
    status_label: str
    open_tasks: int


def _do_next(
    tasks: list[Task],
    *,
    actor: services.Actor,
    schedules: dict[int, Schedule],
    calendar: CalendarSpec,
    now: dt.datetime,
    day_minutes: int,
) -> list[FocusTask]:
    found = []
    for task in tasks:
        level, finish_by, slack = urgency(
            task, calendar=calendar, now=now, day_minutes=day_minutes
        )
        schedule = schedules.get(task.run_id)
        planned = schedule.tasks.get(task.pk) if schedule is not None else None
        may_act = actor.may_act_on(task)
        found.append(
            FocusTask(
                task=task,
                urgency=level,
                finish_by=finish_by,
                slack_minutes=slack,
                slack=working_span(slack, day_minutes),
                critical=planned is not None and planned.slack_minutes <= 0,
                may_claim=actor.may_claim(task),
                may_start=may_act and task.status == TaskStatus.READY,
                may_complete=may_act,
            )
        )
    found.sort(
        key=lambda item: (
            item.slack_minutes,
            not item.critical,
            item.finish_by,
            item.task.pk,
        )
    )
    return found


def _waiting_approvals(
    access: Access, *, calendar: CalendarSpec, now: dt.datetime, day_minutes: int
) -> tuple[list[WaitingApproval], int, int]:
    """The first SECTION_LIMIT approvals waiting for the caller (soonest due
    first) with their time left, how many there are and how many are overdue."""
    pending = approval_queries.pending_for(access, now=now)
    shown = [
        WaitingApproval(
            pending=item,
            time_left=time_left(
                item.stage.due_at, calendar=calendar, now=now, day_minutes=day_minutes
            ),
        )
        for item in pending[:SECTION_LIMIT]
    ]
    return shown, len(pending), sum(1 for item in pending if item.is_overdue)


def _stuck_requests(
    access: Access,
    *,
    calendar: CalendarSpec,
    now: dt.datetime,
    day_minutes: int,
) -> tuple[list[StuckRequest], bool]:
    """The caller's stuck requests (at most SECTION_LIMIT) and whether there are more:
    the stages they wait at with the approvers who have not decided, who returned
    them and why, and when the caller may nudge again. At most five queries."""
    stuck = list(
        approval_queries.requests_by(access, stuck_only=True, now=now)[
            : SECTION_LIMIT + 1
        ]
    )
    more = len(stuck) > SECTION_LIMIT
    stuck = stuck[:SECTION_LIMIT]
    rows = {request.pk: StuckRequest(request) for request in stuck}
    waiting = [r.pk for r in stuck if r.status == RequestStatus.OPEN]
    returned = [r.pk for r in stuck if r.status == RequestStatus.RETURNED]
    if waiting:
        stages = (
            RequestStage.objects.filter(request_id__in=waiting, status=StageStatus.OPEN)
            .select_related("stage")
            .prefetch_related(
                Prefetch(
                    "approvers",
                    queryset=StageApprover.objects.select_related("person").order_by(
                        "id"
                    ),
                    to_attr="slots",
                ),
                Prefetch(
                    "decisions",
                    queryset=Decision.objects.filter(is_current=True),
                    to_attr="current_decisions",
                ),
            )
        )
        for stage in stages:
            row = rows[stage.request_id]
            decided = {
                d.slot_person_id
                for d in stage.current_decisions  # type: ignore[attr-defined]
                if d.round == stage.round
            }
            row.stage = stage
            row.waiting_on = [
                slot.person
                for slot in stage.slots  # type: ignore[attr-defined]
                if slot.person_id not in decided
            ]
            if stage.due_at is not None:
                row.overdue_by = working_span(
                    working_minutes_between(calendar, stage.due_at, now), day_minutes
                )
        since = now - nudge_interval()
        for request_id, at in (
            Nudge.objects.filter(request_id__in=waiting, by=access.user, at__gt=since)
            .order_by("at")
            .values_list("request_id", "at")
        ):
            rows[request_id].nudge_again_at = at + nudge_interval()
    if returned:
        for decision in (
            Decision.objects.filter(
                request_id__in=returned,
                outcome=Outcome.RETURN,
                return_to_stage=0,
            )
            .select_related("decided_by_person", "slot_person")
            .order_by("decided_at", "id")
        ):
            rows[decision.request_id].returned_by = decision  # the latest wins
    return list(rows.values()), more


def _targets(
    tasks: list[Task],
    schedules: dict[int, Schedule],
) -> list[TargetRow]:
    labels = dict(ScheduleStatus.choices)
    runs: dict[int, Run] = {}
    counts: dict[int, int] = defaultdict(int)
    for task in tasks:
        runs[task.run_id] = task.run
        counts[task.run_id] += 1
    rows = []
    for run_id, run in runs.items():
        schedule = schedules.get(run_id)
        finish = schedule.projected_finish if schedule else run.projected_finish_at
        status = schedule.status if schedule else run.schedule_status
        rows.append(
            TargetRow(
                run=run,
                projected_finish=finish,
                status=status,
                status_label=str(labels.get(status, status)),
                open_tasks=counts[run_id],
            )
        )
    rows.sort(
        key=lambda row: (
            SCHEDULE_ORDER.get(row.status, len(SCHEDULE_ORDER)),
            row.run.due_at,
            row.run.pk,
        )
    )
    return rows


def _obstacles_to_answer(access: Access, *, now: dt.datetime) -> list[Obstacle]:
    """Open obstacles the caller raised or answers for — they hold the task's
    accountable position or, for an obstacle on a whole run, the procedure's
    owner position — newest first (at most SECTION_LIMIT + 1). One query."""
    zone = zoneinfo.ZoneInfo(access.organisation.time_zone)
    positions = (
        Holding.objects.current(now.astimezone(zone).date())
        .filter(
            organisation=access.organisation,
            person__user=access.user,
            person__is_active=True,
        )
        .values("position_id")
    )
    return list(
        obstacle_queries.obstacles(access, status=ObstacleStatus.OPEN).filter(
            Q(raised_by=access.user)
            | Q(task__accountable_position_id__in=positions)
            | Q(task__isnull=True, run__procedure__owner_position_id__in=positions)
        )[: SECTION_LIMIT + 1]
    )


# --- the page ----------------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def focus(request: HttpRequest) -> HttpResponse:
    """The caller's home in the organisation: what to do next, the approvals
    waiting for them, their stuck requests, the targets their work feeds, the
    input asked of them and their briefings to acknowledge."""
    access = _access(request)
    now = timezone.now()
    calendar = projection.calendar_spec(access.organisation)
    day_minutes = minutes_per_working_day(calendar)
    actor = services.actor(
        access.organisation, access.user, now=now, membership=access.membership
    )
    mine = chains_queries.my_tasks(access, now=now, include_pending=True)
    working = [task for task in mine if task.status in WORKING_STATUSES]
    awaiting = sum(1 for task in mine if task.status == TaskStatus.AWAITING)
    schedules = run_schedules(
        {task.run_id: task.run for task in mine}.values(), calendar=calendar, now=now
    )
    do_next = _do_next(
        working,
        actor=actor,
        schedules=schedules,
        calendar=calendar,
        now=now,
        day_minutes=day_minutes,
    )
    targets = _targets(mine, schedules)
    approvals: list[WaitingApproval] = []
    approvals_count = overdue_count = 0
    stuck: list[StuckRequest] = []
    stuck_more = False
    takes_part = access.sees_whole_organisation
    if takes_part:
        approvals, approvals_count, overdue_count = _waiting_approvals(
            access, calendar=calendar, now=now, day_minutes=day_minutes
        )
        stuck, stuck_more = _stuck_requests(
            access, calendar=calendar, now=now, day_minutes=day_minutes
        )
    to_fill = []
    if takes_part:
        # The caller's person as a subquery: the workload sheets cost one query.
        person = Person.objects.filter(
            organisation=access.organisation, user=access.user, is_active=True
        ).values("pk")[:1]
        to_fill = workload_queries.to_fill(
            access.organisation,
            Subquery(person),  # type: ignore[arg-type]
            now=now,
        )
    # Consultations asked of a position the caller holds, and their briefings to
    # acknowledge: one query each.
    asked = roles_queries.consultations_waiting(access, now=now)
    to_acknowledge = roles_queries.briefings_to_acknowledge(access)
    # Issue 7: the caller's early warnings, the obstacles they answer for, the
    # mitigations and review actions they own (one query each).
    warnings = obstacle_views.warning_rows(access, warning_services.active_for(access))
    obstacles = _obstacles_to_answer(access, now=now)
    mitigations = list(obstacle_queries.my_mitigations(access)[: SECTION_LIMIT + 1])
    review_actions = review_queries.my_actions(access)
    # Issue 8: the targets the caller's work contributes to (`focus_targets`).
    goal_targets = sorted(
        insight_queries.focus_targets(access, now=now),
        key=lambda item: target_views.STATUS_ORDER.get(item.status, 9),
    )
    urgent = {URGENCY_LATE, URGENCY_AT_RISK, URGENCY_DUE_SOON}
    return render_page(
        request,
        "web/focus/focus.html",
        nav="focus",
        do_next=do_next[:SECTION_LIMIT],
        do_next_count=len(do_next),
        urgent_count=sum(1 for item in do_next if item.urgency in urgent),
        awaiting_count=awaiting,
        approvals=approvals,
        approvals_count=approvals_count,
        overdue_count=overdue_count,
        stuck=stuck,
        stuck_more=stuck_more,
        targets=targets[:SECTION_LIMIT],
        targets_count=len(targets),
        goal_targets=[
            target_views.node(progress, id_prefix="focus-target", with_children=False)
            for progress in goal_targets[:SECTION_LIMIT]
        ],
        goal_targets_count=len(goal_targets),
        takes_part=takes_part,
        to_fill=to_fill,
        asked=asked[:SECTION_LIMIT],
        asked_count=len(asked),
        to_acknowledge=[
            (briefing, briefing_services.heading(briefing))
            for briefing in to_acknowledge[:SECTION_LIMIT]
        ],
        to_acknowledge_count=len(to_acknowledge),
        warnings=warnings[:SECTION_LIMIT],
        warnings_count=len(warnings),
        warnings_new=sum(1 for row in warnings if row.acknowledged_at is None),
        obstacle_rows=obstacle_views.obstacle_rows(
            obstacles[:SECTION_LIMIT], day_minutes
        ),
        obstacles_more=len(obstacles) > SECTION_LIMIT,
        mitigations=mitigations[:SECTION_LIMIT],
        mitigations_more=len(mitigations) > SECTION_LIMIT,
        review_actions=review_actions[:SECTION_LIMIT],
        review_actions_count=len(review_actions),
        limit=SECTION_LIMIT,
        next_url=request.path,
    )
