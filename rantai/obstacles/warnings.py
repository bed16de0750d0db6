"""Early warnings (docs/design-obstacles.md, "Early warnings"): the worker scans
every active run and warns the right people before trouble, each warning with
why and what to do in the reader's language.

A scan works in four steps:

* **load** — every active run, its tasks and dependencies, the current holders of
  positions, administrators and partner logins, the pending approval stages with
  their undecided approvers, the required evidence of open tasks and the active
  warnings, in a fixed number of statements whatever the number of runs (plus
  the thresholds and the working calendar of each organisation);
* **schedule** — each run's full schedule in memory (the critical path method of
  `chains.scheduling`, with the expected delays of open obstacles), which gives
  each unfinished task its slack against the run's due date, the slack it had
  when it became ready, and the moment it must finish by;
* **rules** — five pure functions over these plain rows return `Finding`s
  (`slack_low`, `run_late`, `approval_due`, `vacant_position`,
  `evidence_missing`);
* **write** — per organisation, in one transaction: raise the new warnings (once
  per kind and subject: the partial unique constraint on `EarlyWarning` holds
  even against a concurrent scan) with their recipients, told by a
  `warning.raised` notification (not urgent: the digest by default); refresh the
  facts and the check time of those still holding (and tell recipients who came
  since); resolve the ones that no longer hold.

`scan_due` is the worker's drainer: it starts a scan when the latest
`WarningScan` started more than `SCAN_INTERVAL` ago; the scan row written under a
lock is how two workers avoid scanning twice.
"""

from __future__ import annotations

import datetime as dt
import logging
import time
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any
from zoneinfo import ZoneInfo

from django.db import connection, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Subquery
from django.utils import formats, timezone, translation
from django.utils.functional import lazy
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from rantai.accounts.access import Access
from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    RequestStage,
    RequestStatus,
    RouteStage,
    StageApprover,
    StageStatus,
    SubjectKind,
)
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains.calendar import (
    MICROSECONDS_PER_MINUTE,
    CalendarSpec,
    add_working_minutes,
    compiled_calendar,
    minutes_per_working_day,
    subtract_working_minutes,
    working_minutes_between,
)
from rantai.chains.models import (
    OPEN_TASK_STATUSES,
    Procedure,
    Run,
    RunStatus,
    Task,
    TaskDependency,
    TaskStatus,
)
from rantai.chains.projection import calendar_spec
from rantai.chains.scheduling import (
    FINISH_TO_START,
    ROLE_DONE,
    ROLE_STARTED,
    DepInput,
    Network,
    plan_offsets,
    status_roles,
)
from rantai.core import sql
from rantai.core.errors import PermissionDenied
from rantai.evidence.guards import MissingEvidence
from rantai.evidence.models import EvidenceItem, InformationRecord, RecordKind
from rantai.notifications import services as notifications
from rantai.obstacles import policy
from rantai.obstacles.models import (
    AnticipationSettings,
    EarlyWarning,
    WarningKind,
    WarningRecipient,
    WarningScan,
)
from rantai.org.models import Holding, Person, Position

__all__ = [
    "EVENT_TYPE",
    "SCAN_INTERVAL",
    "Finding",
    "People",
    "RunRow",
    "RunState",
    "ScanResult",
    "StageState",
    "TaskRow",
    "TaskState",
    "Thresholds",
    "acknowledge",
    "active_for",
    "approval_due",
    "evidence_missing",
    "explain",
    "run_late",
    "scan",
    "scan_due",
    "schedule_run",
    "slack_low",
    "vacant_position",
    "warnings",
]

logger = logging.getLogger(__name__)

# How often the worker scans (the latest scan's start to the next one's).
SCAN_INTERVAL = dt.timedelta(minutes=10)
EVENT_TYPE = "warning.raised"
# Rows per write statement (well below SQLite's limit of bound parameters).
CHUNK = 500
# Task states whose work is still to come (a pending task may be marked to be
# skipped: it is then passed, not unfinished).
_UNFINISHED = frozenset(
    {
        TaskStatus.PENDING,
        TaskStatus.READY,
        TaskStatus.IN_PROGRESS,
        TaskStatus.AWAITING,
    }
)
_NOT_STARTED = frozenset({TaskStatus.PENDING, TaskStatus.READY})


# --- plain rows ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Thresholds:
    """An organisation's warning thresholds (`AnticipationSettings`)."""

    slack_warning_percent: int = 80
    approval_warning_hours: int = 8
    vacancy_horizon_days: int = 5
    evidence_warning_hours: int = 8

    @classmethod
    def of(cls, settings: AnticipationSettings) -> Thresholds:
        return cls(
            slack_warning_percent=settings.slack_warning_percent,
            approval_warning_hours=settings.approval_warning_hours,
            vacancy_horizon_days=settings.vacancy_horizon_days,
            evidence_warning_hours=settings.evidence_warning_hours,
        )


@dataclass(frozen=True, slots=True)
class RunRow:
    """An active run as read: what its schedule and its warnings need."""

    id: int
    organisation_id: int
    title: str
    due_at: dt.datetime
    hold_minutes: int
    owner_position_id: int


@dataclass(frozen=True, slots=True)
class TaskRow:
    """A task as read (`assignee_user_id`: its assignee's login, if any)."""

    id: int
    run_id: int
    name: str
    status: str
    duration_minutes: int
    delay_minutes: int = 0
    skipped_reason: str = ""
    ready_at: dt.datetime | None = None
    started_at: dt.datetime | None = None
    done_at: dt.datetime | None = None
    responsible_position_id: int | None = None
    responsible_party_id: int | None = None
    accountable_position_id: int | None = None
    assignee_id: int | None = None
    assignee_user_id: int | None = None
    requires_evidence: bool = False
    requires_verified_evidence: bool = False


@dataclass(frozen=True, slots=True)
class TaskState:
    """An unfinished task with its place in the run's schedule, in working
    minutes: the slack left against the run's due date, the slack it had when it
    became ready (the same for a task not ready yet), and the time from now until
    it must be finished for the run to meet its due date (negative: past)."""

    row: TaskRow
    slack_minutes: int
    initial_slack_minutes: int
    due_in_minutes: int

    @property
    def id(self) -> int:
        return self.row.id

    @property
    def status(self) -> str:
        return self.row.status


@dataclass(frozen=True, slots=True)
class RunState:
    """A run with its schedule as of the scan (`now`, on its organisation's
    `calendar`): the projected finish and the working minutes from it to the due
    date (negative: late by that much)."""

    id: int
    organisation_id: int
    title: str
    due_at: dt.datetime
    owner_position_id: int
    projected_finish: dt.datetime
    margin_minutes: int
    calendar: CalendarSpec
    now: dt.datetime
    party_ids: frozenset[int] = frozenset()

    @property
    def is_late(self) -> bool:
        return self.margin_minutes < 0

    @property
    def day_minutes(self) -> int:
        return minutes_per_working_day(self.calendar)

    def finish_by(self, task: TaskState) -> dt.datetime:
        """When the task must be finished for the run to meet its due date."""
        due_in = task.due_in_minutes
        if due_in > 0:
            return add_working_minutes(self.calendar, self.now, due_in)
        # A moment at the end of a working day reads as that evening (16:00), not
        # as the next morning: back one minute more, then forward one.
        return add_working_minutes(
            self.calendar,
            subtract_working_minutes(self.calendar, self.now, 1 - due_in),
            1,
        )


@dataclass(frozen=True, slots=True)
class StageState:
    """A pending approval stage with a time limit, on an active run."""

    id: int
    request_id: int
    run_id: int
    task_id: int | None
    title: str
    stage_name: str
    due_at: dt.datetime
    minutes_left: int  # working minutes until `due_at` (negative: overdue)
    day_minutes: int
    approver_user_ids: frozenset[int] = frozenset()


@dataclass(frozen=True, slots=True)
class People:
    """Who is who on the day of the scan, as logins (user ids).

    `holders`: per position, the logins of its current holders (acting holders
    included); `occupied`: the positions with a current holder, with a login or
    not; `partner_users`: per external party, its partners' logins;
    `partner_party_of`: the party each partner login is bound to; `admins`: the
    organisation's administrators; `members`: every active member's login (the
    only people a warning can be for)."""

    holders: Mapping[int, frozenset[int]] = field(default_factory=dict)
    occupied: frozenset[int] = frozenset()
    partner_users: Mapping[int, frozenset[int]] = field(default_factory=dict)
    partner_party_of: Mapping[int, int] = field(default_factory=dict)
    admins: frozenset[int] = frozenset()
    members: frozenset[int] = frozenset()

    def holders_of(self, position_id: int | None) -> frozenset[int]:
        if position_id is None:
            return frozenset()
        return self.holders.get(position_id, frozenset())

    def doers(self, task: TaskRow) -> frozenset[int]:
        """Who does the task: its assignee's login, else the holders of its
        responsible position, else its responsible party's partner logins."""
        if task.assignee_user_id is not None:
            return frozenset({task.assignee_user_id})
        if task.responsible_position_id is not None:
            return self.holders_of(task.responsible_position_id)
        if task.responsible_party_id is not None:
            return self.partner_users.get(task.responsible_party_id, frozenset())
        return frozenset()


@dataclass(frozen=True, slots=True)
class Finding:
    """A condition one rule found: one warning per kind and subject."""

    kind: str
    subject_key: str
    run_id: int
    task_id: int | None
    facts: dict[str, Any]
    recipient_user_ids: frozenset[int]


@dataclass(frozen=True, slots=True)
class ScanResult:
    """What a scan did: organisations and active runs scanned, warnings raised,
    still holding (refreshed) and resolved, and notifications written."""

    organisations: int = 0
    runs_scanned: int = 0
    raised: int = 0
    refreshed: int = 0
    resolved: int = 0
    notified: int = 0

    def __add__(self, other: ScanResult) -> ScanResult:
        return ScanResult(
            self.organisations + other.organisations,
            self.runs_scanned + other.runs_scanned,
            self.raised + other.raised,
            self.refreshed + other.refreshed,
            self.resolved + other.resolved,
            self.notified + other.notified,
        )


# --- the schedule of a run (pure) ----------------------------------------------------


def schedule_run(
    run: RunRow,
    tasks: Sequence[TaskRow],
    dependencies: Sequence[DepInput],
    *,
    calendar: CalendarSpec,
    now: dt.datetime,
) -> tuple[RunState, list[TaskState]]:
    """The run's full schedule as of `now` by the critical path method, in
    working-minute offsets from now (0), the way every schedule of a run is made
    (`scheduling.plan_offsets`: actuals for what has started or finished,
    estimates plus expected delays for the rest, the run's hold; the forward pass
    of `scheduling.Network`), and, per unfinished task, its figures against the
    due date.

    The backward pass starts from the due date instead of the projected finish,
    so a task's slack is measured against the target: how much later it may
    finish without making the run late. A task that became ready at `ready_at`
    could have finished `duration` later: whatever its expected finish lies
    beyond that is the slack it has used since (waiting, a late start, an
    expected delay), and what it has left plus that is what it had. Only the
    moments that matter are converted (no datetime per task). Raises ValueError
    for an inconsistent run (the scan skips it).
    """
    compiled = compiled_calendar(calendar)
    base = -(-compiled.position(now) // MICROSECONDS_PER_MINUTE)

    def offset(moment: dt.datetime) -> int:
        return -(-compiled.position(moment) // MICROSECONDS_PER_MINUTE) - base

    ids = [task.id for task in tasks]
    roles = status_roles(
        ids,
        [
            TaskStatus.SKIPPED
            if task.status == TaskStatus.PENDING and task.skipped_reason
            else task.status
            for task in tasks
        ],
    )
    estimates = [
        task.duration_minutes + task.delay_minutes
        if role <= ROLE_STARTED
        else task.duration_minutes
        for task, role in zip(tasks, roles, strict=True)
    ]
    network = Network(
        ids,
        [dependency.predecessor for dependency in dependencies],
        [dependency.successor for dependency in dependencies],
        [dependency.kind for dependency in dependencies],
        [dependency.lag_minutes for dependency in dependencies],
        fixed=[role in (ROLE_STARTED, ROLE_DONE) for role in roles],
    )
    # The actual times that matter: the starts of the started tasks, the times
    # of the done tasks that hold back a task still to start (every dependency
    # left in the network leads into one), the earliest start of all.
    actual_starts: dict[int, int] = {}
    actual_finishes: dict[int, int] = {}
    for position, role in enumerate(roles):
        if role == ROLE_STARTED:
            started = tasks[position].started_at
            if started is None:
                raise ValueError(f"task {ids[position]} has started but has no start")
            actual_starts[position] = offset(started)
    for position in set(network.heads):
        if roles[position] == ROLE_DONE:
            task = tasks[position]
            if task.done_at is None:
                raise ValueError(f"task {task.id} is done but has no done_at")
            finish = offset(task.done_at)
            actual_finishes[position] = finish
            actual_starts[position] = (
                finish if task.started_at is None else offset(task.started_at)
            )
    moments = [task.started_at for task in tasks if task.started_at is not None]
    moments += [task.done_at for task in tasks if task.done_at is not None]
    origin = min(0, offset(min(moments))) if moments else 0
    plan = plan_offsets(
        roles,
        estimates,
        actual_starts,
        actual_finishes,
        origin=origin,
        hold_minutes=run.hold_minutes,
    )
    spans = plan.spans
    finishes = network.earliest_finishes(plan)
    finish = max(0, *finishes) if finishes else 0
    due = offset(run.due_at)
    latest = [due - span for span in spans]  # latest starts against the due date
    for head, tail, kind, lag in zip(
        reversed(network.heads),
        reversed(network.tails),
        reversed(network.kinds),
        reversed(network.lags),
        strict=True,
    ):
        bound = latest[tail] - (lag + spans[head] if kind == FINISH_TO_START else lag)
        if bound < latest[head]:
            latest[head] = bound
    state = RunState(
        id=run.id,
        organisation_id=run.organisation_id,
        title=run.title,
        due_at=run.due_at,
        owner_position_id=run.owner_position_id,
        projected_finish=(
            compiled.moment_at_minute(base + finish, finish=True) if finish else now
        ),
        margin_minutes=due - finish,
        calendar=calendar,
        now=now,
        party_ids=frozenset(
            task.responsible_party_id
            for task in tasks
            if task.responsible_party_id is not None
        ),
    )
    states: list[TaskState] = []
    for position, role in enumerate(roles):
        if role > ROLE_STARTED:
            continue
        task = tasks[position]
        left = latest[position] - (finishes[position] - spans[position])
        used = 0
        if task.ready_at is not None and task.status in OPEN_TASK_STATUSES:
            used = max(
                0, finishes[position] - offset(task.ready_at) - task.duration_minutes
            )
        states.append(
            TaskState(task, left, left + used, latest[position] + spans[position])
        )
    return state, states


# --- the rules (pure) ------------------------------------------------------------------


def _iso(moment: dt.datetime) -> str:
    return moment.astimezone(dt.UTC).isoformat()


def _task_facts(run: RunState, task: TaskState) -> dict[str, Any]:
    return {
        "task": task.row.name,
        "run": run.title,
        "finish_by": _iso(run.finish_by(task)),
        "due_in_minutes": task.due_in_minutes,
        "day_minutes": run.day_minutes,
    }


def slack_low(
    run: RunState,
    tasks: Sequence[TaskState],
    *,
    people: People,
    thresholds: Thresholds,
) -> list[Finding]:
    """Open tasks that have used at least `slack_warning_percent` of the slack
    they had when they became ready, or have none left. Told: the doer
    (assignee, else the holders of the responsible position) and the holders of
    the accountable position."""
    found = []
    for task in tasks:
        if task.status not in OPEN_TASK_STATUSES:
            continue
        left, initial = task.slack_minutes, task.initial_slack_minutes
        used = initial - left
        threshold = thresholds.slack_warning_percent
        if left > 0 and not (initial > 0 and used * 100 >= threshold * initial):
            continue
        percent = 100 if left <= 0 or initial <= 0 else min(100, used * 100 // initial)
        found.append(
            Finding(
                WarningKind.SLACK_LOW,
                f"task:{task.id}",
                run.id,
                task.id,
                {
                    **_task_facts(run, task),
                    "slack_minutes": left,
                    "initial_slack_minutes": initial,
                    "used_percent": percent,
                    "threshold_percent": threshold,
                },
                people.doers(task.row)
                | people.holders_of(task.row.accountable_position_id),
            )
        )
    return found


def run_late(
    run: RunState, tasks: Sequence[TaskState], *, people: People
) -> list[Finding]:
    """The run's projected finish is after its due date. Told: the holders of the
    procedure's owner position and of the accountable positions of the tasks in
    flight."""
    if not run.is_late:
        return []
    recipients = set(people.holders_of(run.owner_position_id))
    for task in tasks:
        if task.status in OPEN_TASK_STATUSES:
            recipients |= people.holders_of(task.row.accountable_position_id)
    return [
        Finding(
            WarningKind.RUN_LATE,
            f"run:{run.id}",
            run.id,
            None,
            {
                "run": run.title,
                "projected_finish": _iso(run.projected_finish),
                "due_at": _iso(run.due_at),
                "late_minutes": max(0, -run.margin_minutes),
                "day_minutes": run.day_minutes,
            },
            frozenset(recipients),
        )
    ]


def approval_due(
    stages: Sequence[StageState], *, thresholds: Thresholds
) -> list[Finding]:
    """Pending approval stages whose time limit is at most
    `approval_warning_hours` working hours away (or past). Told: the stage's
    approvers who have not decided."""
    limit = thresholds.approval_warning_hours * 60
    return [
        Finding(
            WarningKind.APPROVAL_DUE,
            f"approval:{stage.id}",
            stage.run_id,
            stage.task_id,
            {
                "request": stage.title,
                "request_id": stage.request_id,
                "stage": stage.stage_name,
                "due_at": _iso(stage.due_at),
                "minutes_left": stage.minutes_left,
                "day_minutes": stage.day_minutes,
            },
            stage.approver_user_ids,
        )
        for stage in stages
        if stage.minutes_left <= limit
    ]


def vacant_position(
    run: RunState,
    tasks: Sequence[TaskState],
    *,
    people: People,
    thresholds: Thresholds,
    position_titles: Mapping[int, str],
) -> list[Finding]:
    """Pending or ready tasks due within `vacancy_horizon_days` working days whose
    responsible position nobody holds (acting holders count as holders) and that
    nobody is assigned to. Told: the holders of the procedure's owner position
    and the administrators."""
    horizon = thresholds.vacancy_horizon_days * run.day_minutes
    recipients = people.holders_of(run.owner_position_id) | people.admins
    found = []
    for task in tasks:
        position_id = task.row.responsible_position_id
        if (
            task.status not in _NOT_STARTED
            or position_id is None
            or position_id in people.occupied
            or task.row.assignee_id is not None
            or task.due_in_minutes > horizon
        ):
            continue
        found.append(
            Finding(
                WarningKind.VACANT_POSITION,
                f"task:{task.id}",
                run.id,
                task.id,
                {
                    **_task_facts(run, task),
                    "position": position_titles.get(position_id, ""),
                    "position_id": position_id,
                },
                recipients,
            )
        )
    return found


def evidence_missing(
    run: RunState,
    tasks: Sequence[TaskState],
    *,
    people: People,
    thresholds: Thresholds,
    evidence: Mapping[int, tuple[int, int]],
) -> list[Finding]:
    """Open tasks that require evidence, due within `evidence_warning_hours`
    working hours, still without it (`evidence`: per task, its records with an
    item and the verified ones among them — the completion guard's rule). Told:
    the doer and the holders of the accountable position."""
    limit = thresholds.evidence_warning_hours * 60
    found = []
    for task in tasks:
        row = task.row
        if task.status not in OPEN_TASK_STATUSES or not (
            row.requires_evidence or row.requires_verified_evidence
        ):
            continue
        attached, verified = evidence.get(task.id, (0, 0))
        missing = MissingEvidence(
            True, bool(row.requires_verified_evidence), attached, verified, ""
        )
        if missing.ok or task.due_in_minutes > limit:
            continue
        found.append(
            Finding(
                WarningKind.EVIDENCE_MISSING,
                f"task:{task.id}",
                run.id,
                task.id,
                {
                    **_task_facts(run, task),
                    "needs_verification": missing.needs_verification,
                    "attached": attached,
                    "verified": verified,
                },
                people.doers(row) | people.holders_of(row.accountable_position_id),
            )
        )
    return found


# --- loading ---------------------------------------------------------------------------


@dataclass
class _Snapshot:
    """Everything a scan reads, grouped by organisation."""

    organisations: list[Organisation]
    runs: dict[int, list[RunRow]]
    tasks: dict[int, list[TaskRow]]  # by run
    dependencies: dict[int, list[DepInput]]  # by run
    holdings: dict[int, list[tuple[int, dt.date, dt.date | None, int | None]]]
    memberships: dict[int, list[tuple[int, str, int | None]]]
    stages: dict[int, list[tuple[Any, ...]]]  # by organisation
    evidence: dict[int, tuple[int, int]]  # by task
    position_titles: dict[int, str]
    # by organisation, by (kind, subject): (id, run id, facts)
    existing: dict[int, dict[tuple[str, str], tuple[int, int, dict[str, Any]]]]
    delivered: dict[int, set[int]]  # by warning: its recipients


def _org_clause(column: str, organisation_ids: Sequence[int] | None) -> str:
    if organisation_ids is None:
        return ""
    return f" AND {column} IN {sql.in_list(organisation_ids)}"


def _org_params(organisation_ids: Sequence[int] | None) -> list[int]:
    return [] if organisation_ids is None else list(organisation_ids)


def _date(value: Any) -> dt.date | None:
    if value is None or isinstance(value, dt.date):
        return value
    return dt.date.fromisoformat(str(value))


def _load(*, now: dt.datetime, organisation_ids: Sequence[int] | None) -> _Snapshot:
    """Read what the rules need for every active run of the organisations (all
    when None): a fixed number of statements."""
    orgs = _org_params(organisation_ids)
    run_table, task_table = sql.table(Run), sql.table(Task)
    active = [RunStatus.ACTIVE]

    runs: dict[int, list[RunRow]] = defaultdict(list)
    for row in sql.fetchall(
        f"SELECT r.id, r.organisation_id, r.title, r.due_at, r.hold_minutes, "
        f"p.owner_position_id FROM {run_table} r "
        f"JOIN {sql.table(Procedure)} p ON p.id = r.procedure_id "
        f"WHERE r.status = %s{_org_clause('r.organisation_id', organisation_ids)} "
        "ORDER BY r.id",
        [*active, *orgs],
    ):
        due_at = sql.py_datetime(row[3])
        assert due_at is not None
        runs[row[1]].append(RunRow(row[0], row[1], row[2], due_at, row[4], row[5]))

    existing: dict[int, dict[tuple[str, str], tuple[int, int, dict[str, Any]]]] = (
        defaultdict(dict)
    )
    active_warnings = EarlyWarning.objects.filter(resolved_at__isnull=True)
    if organisation_ids is not None:
        active_warnings = active_warnings.filter(organisation_id__in=orgs)
    for pk, organisation_id, kind, key, run_id, facts in active_warnings.values_list(
        "id", "organisation_id", "kind", "subject_key", "run_id", "facts"
    ):
        existing[organisation_id][(kind, key)] = (pk, run_id, facts)
    delivered: dict[int, set[int]] = defaultdict(set)
    if existing:
        recipients = WarningRecipient.objects.filter(warning__resolved_at__isnull=True)
        if organisation_ids is not None:
            recipients = recipients.filter(warning__organisation_id__in=orgs)
        for warning_id, user_id in recipients.values_list("warning_id", "user_id"):
            delivered[warning_id].add(user_id)

    wanted = set(runs) | set(existing)
    organisations = (
        list(Organisation.objects.filter(pk__in=wanted, is_active=True).order_by("pk"))
        if wanted
        else []
    )
    snapshot = _Snapshot(
        organisations=organisations,
        runs=runs,
        tasks=defaultdict(list),
        dependencies=defaultdict(list),
        holdings=defaultdict(list),
        memberships=defaultdict(list),
        stages=defaultdict(list),
        evidence={},
        position_titles={},
        existing=existing,
        delivered=delivered,
    )
    if not runs:
        return snapshot
    scope = _org_clause("r.organisation_id", organisation_ids)

    for row in sql.fetchall(
        "SELECT t.id, t.run_id, t.name, t.status, t.duration_minutes, "
        "t.delay_minutes, t.skipped_reason, t.ready_at, t.started_at, t.done_at, "
        "t.responsible_position_id, t.responsible_party_id, "
        "t.accountable_position_id, t.assignee_id, a.user_id, "
        "t.requires_evidence, t.requires_verified_evidence "
        f"FROM {task_table} t JOIN {run_table} r ON r.id = t.run_id "
        f"LEFT JOIN {sql.table(Person)} a ON a.id = t.assignee_id AND a.is_active "
        f"WHERE r.status = %s{scope} ORDER BY t.run_id, t.id",
        [*active, *orgs],
    ):
        snapshot.tasks[row[1]].append(
            TaskRow(
                id=row[0],
                run_id=row[1],
                name=row[2],
                status=row[3],
                duration_minutes=row[4],
                delay_minutes=row[5],
                skipped_reason=row[6],
                ready_at=sql.py_datetime(row[7]),
                started_at=sql.py_datetime(row[8]),
                done_at=sql.py_datetime(row[9]),
                responsible_position_id=row[10],
                responsible_party_id=row[11],
                accountable_position_id=row[12],
                assignee_id=row[13],
                assignee_user_id=row[14],
                requires_evidence=bool(row[15]),
                requires_verified_evidence=bool(row[16]),
            )
        )

    for run_id, predecessor, successor, kind, lag in sql.fetchall(
        "SELECT d.run_id, d.predecessor_id, d.successor_id, d.kind, d.lag_minutes "
        f"FROM {sql.table(TaskDependency)} d JOIN {run_table} r ON r.id = d.run_id "
        f"WHERE r.status = %s{scope} ORDER BY d.id",
        [*active, *orgs],
    ):
        snapshot.dependencies[run_id].append(
            DepInput(predecessor, successor, kind, lag)
        )

    # Holdings current on any organisation's local day (each is checked against
    # its own organisation's day when the organisation is scanned).
    days = [_local_day(now, o.time_zone) for o in organisations] or [now.date()]
    for organisation_id, position_id, start, end, user_id in sql.fetchall(
        "SELECT h.organisation_id, h.position_id, h.start_date, h.end_date, "
        f"pe.user_id FROM {sql.table(Holding)} h "
        f"JOIN {sql.table(Person)} pe ON pe.id = h.person_id "
        "WHERE pe.is_active AND h.start_date <= %s "
        f"AND (h.end_date IS NULL OR h.end_date >= %s)"
        f"{_org_clause('h.organisation_id', organisation_ids)}",
        [max(days), min(days), *orgs],
    ):
        start_date = _date(start)
        assert start_date is not None
        snapshot.holdings[organisation_id].append(
            (position_id, start_date, _date(end), user_id)
        )

    for organisation_id, user_id, role, party_id in sql.fetchall(
        "SELECT m.organisation_id, m.user_id, m.role, m.party_id "
        f"FROM {sql.table(Membership)} m "
        f"JOIN {sql.table(User)} u ON u.id = m.user_id "
        "WHERE m.is_active AND u.is_active"
        f"{_org_clause('m.organisation_id', organisation_ids)}",
        orgs,
    ):
        snapshot.memberships[organisation_id].append((user_id, role, party_id))

    # Pending stages with a time limit, one row per undecided approver.
    for row in sql.fetchall(
        "SELECT s.id, s.request_id, s.due_at, q.run_id, q.title, q.subject_kind, "
        "q.subject_id, rs.name, pe.user_id, q.organisation_id "
        f"FROM {sql.table(RequestStage)} s "
        f"JOIN {sql.table(ApprovalRequest)} q ON q.id = s.request_id "
        f"JOIN {sql.table(RouteStage)} rs ON rs.id = s.stage_id "
        f"JOIN {run_table} r ON r.id = q.run_id "
        f"LEFT JOIN {sql.table(StageApprover)} a ON a.request_stage_id = s.id "
        "AND NOT EXISTS (SELECT 1 FROM "
        f"{sql.table(Decision)} d WHERE d.request_stage_id = s.id "
        "AND d.round = s.round AND d.slot_person_id = a.person_id) "
        f"LEFT JOIN {sql.table(Person)} pe ON pe.id = a.person_id AND pe.is_active "
        "WHERE s.status = %s AND q.status = %s AND s.due_at IS NOT NULL "
        f"AND r.status = %s{scope} ORDER BY s.id",
        [StageStatus.OPEN, RequestStatus.OPEN, *active, *orgs],
    ):
        snapshot.stages[row[9]].append(row)

    # Required evidence of the open tasks that require it: records with an item,
    # and the verified ones among them (the completion guard's counts, batched).
    for task_id, attached, verified in sql.fetchall(
        "SELECT rec.task_id, COUNT(*), "
        "SUM(CASE WHEN rec.status = 'verified' THEN 1 ELSE 0 END) "
        f"FROM {sql.table(InformationRecord)} rec "
        f"JOIN {task_table} t ON t.id = rec.task_id "
        f"JOIN {run_table} r ON r.id = t.run_id "
        f"WHERE rec.kind = %s AND r.status = %s{scope} "
        f"AND t.status IN {sql.quoted(OPEN_TASK_STATUSES)} "
        "AND (t.requires_evidence OR t.requires_verified_evidence) "
        f"AND EXISTS (SELECT 1 FROM {sql.table(EvidenceItem)} i "
        "WHERE i.record_id = rec.id) GROUP BY rec.task_id",
        [RecordKind.TASK_EVIDENCE, *active, *orgs],
    ):
        snapshot.evidence[task_id] = (int(attached or 0), int(verified or 0))

    # The titles of the responsible positions a vacancy warning may name: those
    # of tasks not started yet that nobody holds on the day.
    occupied: set[int] = set()
    day_of = {o.pk: _local_day(now, o.time_zone) for o in organisations}
    for organisation_id, holdings in snapshot.holdings.items():
        day = day_of.get(organisation_id)
        if day is None:
            continue
        occupied.update(
            position_id
            for position_id, start, end, _user in holdings
            if start <= day and (end is None or end >= day)
        )
    candidates = sorted(
        {
            task.responsible_position_id
            for tasks in snapshot.tasks.values()
            for task in tasks
            if task.status in _NOT_STARTED
            and task.responsible_position_id is not None
            and task.responsible_position_id not in occupied
        }
    )
    for start in range(0, len(candidates), CHUNK):
        snapshot.position_titles.update(
            Position.objects.filter(
                pk__in=candidates[start : start + CHUNK]
            ).values_list("id", "title")
        )
    return snapshot


def _local_day(now: dt.datetime, time_zone: str) -> dt.date:
    return now.astimezone(ZoneInfo(time_zone)).date()


def _people(snapshot: _Snapshot, organisation: Organisation, *, day: dt.date) -> People:
    holders: dict[int, set[int]] = defaultdict(set)
    occupied: set[int] = set()
    for position_id, start, end, user_id in snapshot.holdings.get(organisation.pk, []):
        if start <= day and (end is None or end >= day):
            occupied.add(position_id)
            if user_id is not None:
                holders[position_id].add(user_id)
    partner_users: dict[int, set[int]] = defaultdict(set)
    partner_party_of: dict[int, int] = {}
    admins: set[int] = set()
    members: set[int] = set()
    for user_id, role, party_id in snapshot.memberships.get(organisation.pk, []):
        members.add(user_id)
        if role == Role.ADMIN:
            admins.add(user_id)
        elif role == Role.PARTNER and party_id is not None:
            partner_users[party_id].add(user_id)
            partner_party_of[user_id] = party_id
    return People(
        holders={k: frozenset(v) for k, v in holders.items()},
        occupied=frozenset(occupied),
        partner_users={k: frozenset(v) for k, v in partner_users.items()},
        partner_party_of=partner_party_of,
        admins=frozenset(admins),
        members=frozenset(members),
    )


def _stages(
    rows: Sequence[tuple[Any, ...]],
    *,
    calendar: CalendarSpec,
    now: dt.datetime,
    task_ids: set[int],
) -> list[StageState]:
    by_stage: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for row in rows:
        by_stage[row[0]].append(row)
    day_minutes = minutes_per_working_day(calendar)
    stages = []
    for stage_id, stage_rows in by_stage.items():
        first = stage_rows[0]
        due_at = sql.py_datetime(first[2])
        assert due_at is not None
        task_id = (
            int(first[6])
            if first[5] == SubjectKind.TASK_COMPLETION and int(first[6]) in task_ids
            else None
        )
        stages.append(
            StageState(
                id=stage_id,
                request_id=first[1],
                run_id=first[3],
                task_id=task_id,
                title=first[4],
                stage_name=first[7],
                due_at=due_at,
                minutes_left=working_minutes_between(calendar, now, due_at),
                day_minutes=day_minutes,
                approver_user_ids=frozenset(
                    row[8] for row in stage_rows if row[8] is not None
                ),
            )
        )
    return stages


# --- the scan ----------------------------------------------------------------------------


def _thresholds(organisation: Organisation) -> Thresholds:
    return Thresholds.of(policy.settings_for(organisation))


def _findings(
    organisation: Organisation, snapshot: _Snapshot, *, now: dt.datetime
) -> tuple[dict[tuple[str, str], Finding], int, set[int]]:
    """Every condition that holds in the organisation, by (kind, subject); the
    number of runs scanned; the runs that could not be (their warnings stay as
    they are)."""
    calendar = calendar_spec(organisation)
    thresholds = _thresholds(organisation)
    people = _people(
        snapshot, organisation, day=_local_day(now, organisation.time_zone)
    )
    found: list[Finding] = []
    states: dict[int, RunState] = {}
    task_runs: dict[int, int] = {}
    task_parties: dict[int, int | None] = {}
    scanned = 0
    skipped: set[int] = set()
    for run in snapshot.runs.get(organisation.pk, []):
        rows = snapshot.tasks.get(run.id, [])
        try:
            state, tasks = schedule_run(
                run,
                rows,
                snapshot.dependencies.get(run.id, []),
                calendar=calendar,
                now=now,
            )
        except ValueError:
            # One inconsistent run must not keep the others from being warned.
            logger.exception("early warnings: cannot schedule run %s", run.id)
            skipped.add(run.id)
            continue
        scanned += 1
        states[run.id] = state
        for row in rows:
            task_runs[row.id] = run.id
            task_parties[row.id] = row.responsible_party_id
        found += slack_low(state, tasks, people=people, thresholds=thresholds)
        found += run_late(state, tasks, people=people)
        found += vacant_position(
            state,
            tasks,
            people=people,
            thresholds=thresholds,
            position_titles=snapshot.position_titles,
        )
        found += evidence_missing(
            state,
            tasks,
            people=people,
            thresholds=thresholds,
            evidence=snapshot.evidence,
        )
    stages = _stages(
        snapshot.stages.get(organisation.pk, []),
        calendar=calendar,
        now=now,
        task_ids=set(task_runs),
    )
    found += approval_due(
        [stage for stage in stages if stage.run_id in states], thresholds=thresholds
    )

    def visible(user_id: int, finding: Finding) -> bool:
        """Only active members are told; a partner only about its own party's
        tasks, or about runs it takes part in."""
        if user_id not in people.members:
            return False
        party = people.partner_party_of.get(user_id)
        if party is None:
            return True
        if finding.task_id is not None:
            return task_parties.get(finding.task_id) == party
        return party in states[finding.run_id].party_ids

    findings = {}
    for finding in found:
        recipients = frozenset(
            user_id
            for user_id in finding.recipient_user_ids
            if visible(user_id, finding)
        )
        findings[(finding.kind, finding.subject_key)] = Finding(
            finding.kind,
            finding.subject_key,
            finding.run_id,
            finding.task_id,
            finding.facts,
            recipients,
        )
    return findings, scanned, skipped


def scan(
    *, now: dt.datetime, organisation_ids: Iterable[int] | None = None
) -> ScanResult:
    """Scan the active runs of the organisations (all when None): raise the new
    warnings, refresh those still holding and resolve the others, one transaction
    per organisation. The statements read do not grow with the number of runs."""
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    wanted = None if organisation_ids is None else sorted(set(organisation_ids))
    if wanted == []:
        return ScanResult()
    snapshot = _load(now=now, organisation_ids=wanted)
    result = ScanResult()
    for organisation in snapshot.organisations:
        findings, scanned, skipped = _findings(organisation, snapshot, now=now)
        result += _write(
            organisation,
            findings,
            snapshot,
            now=now,
            scanned=scanned,
            skipped=skipped,
        )
    return result


@transaction.atomic
def _write(
    organisation: Organisation,
    findings: Mapping[tuple[str, str], Finding],
    snapshot: _Snapshot,
    *,
    now: dt.datetime,
    scanned: int,
    skipped: set[int],
) -> ScanResult:
    existing = snapshot.existing.get(organisation.pk, {})
    gone = [
        pk
        for key, (pk, run_id, _facts) in existing.items()
        if key not in findings and run_id not in skipped
    ]
    resolved = 0
    for start in range(0, len(gone), CHUNK):
        resolved += EarlyWarning.objects.filter(
            pk__in=gone[start : start + CHUNK], resolved_at__isnull=True
        ).update(resolved_at=now, checked_at=now)
    # Everything still active holds now (new warnings are written with `now`).
    EarlyWarning.objects.filter(
        organisation_id=organisation.pk, resolved_at__isnull=True
    ).update(checked_at=now)

    changed: list[tuple[int, dict[str, Any]]] = []
    told: dict[int, tuple[Finding, frozenset[int]]] = {}
    held = 0
    for key, (pk, _run_id, facts) in existing.items():
        finding = findings.get(key)
        if finding is None:
            continue
        held += 1
        if finding.facts != facts:
            changed.append((pk, finding.facts))
        newcomers = finding.recipient_user_ids - snapshot.delivered.get(pk, set())
        if newcomers:
            told[pk] = (finding, frozenset(newcomers))
    _update_facts(changed)

    new = [finding for key, finding in findings.items() if key not in existing]
    inserted = _insert(organisation, new, now=now)
    for pk, finding in inserted.items():
        told[pk] = (finding, finding.recipient_user_ids)

    WarningRecipient.objects.bulk_create(
        [
            WarningRecipient(warning_id=pk, user_id=user_id)
            for pk, (_finding, users) in told.items()
            for user_id in sorted(users)
        ],
        batch_size=CHUNK,
        ignore_conflicts=True,
    )
    notified = _tell(organisation, told, now=now)
    return ScanResult(
        organisations=1,
        runs_scanned=scanned,
        raised=len(inserted),
        refreshed=held,
        resolved=resolved,
        notified=notified,
    )


def _update_facts(changed: Sequence[tuple[int, dict[str, Any]]]) -> None:
    """Store the new facts of warnings still holding: one statement per CHUNK
    (the ORM's `bulk_update` builds the same CASE, at many times the cost)."""
    facts_field = EarlyWarning._meta.get_field("facts")
    for start in range(0, len(changed), CHUNK):
        chunk = changed[start : start + CHUNK]
        params: list[Any] = []
        for pk, facts in chunk:
            params += [pk, facts_field.get_db_prep_save(facts, connection)]
        ids = [pk for pk, _facts in chunk]
        sql.execute(
            f"UPDATE {sql.table(EarlyWarning)} SET facts = CASE id "
            + " ".join(["WHEN %s THEN %s"] * len(chunk))
            + f" END WHERE id IN {sql.in_list(ids)}",
            [*params, *ids],
        )


def _insert(
    organisation: Organisation, findings: Sequence[Finding], *, now: dt.datetime
) -> dict[int, Finding]:
    """INSERT the new warnings, skipping any a concurrent scan raised meanwhile
    (the partial unique constraint: one active warning per kind and subject); the
    ones written, by id."""
    if not findings:
        return {}
    facts_field = EarlyWarning._meta.get_field("facts")
    columns = (
        "organisation_id, kind, subject_key, run_id, task_id, facts, raised_at, "
        "checked_at, resolved_at"
    )
    by_key = {(f.kind, f.subject_key): f for f in findings}
    written: dict[int, Finding] = {}
    moment = sql.db_datetime(now)
    for start in range(0, len(findings), CHUNK):
        chunk = findings[start : start + CHUNK]
        params: list[Any] = []
        for finding in chunk:
            params += [
                organisation.pk,
                finding.kind,
                finding.subject_key,
                finding.run_id,
                finding.task_id,
                facts_field.get_db_prep_save(finding.facts, connection),
                moment,
                moment,
                None,
            ]
        rows = sql.fetchall(
            f"INSERT INTO {sql.table(EarlyWarning)} ({columns}) VALUES "
            + ", ".join(["(%s, %s, %s, %s, %s, %s, %s, %s, %s)"] * len(chunk))
            + " ON CONFLICT (organisation_id, kind, subject_key) "
            "WHERE resolved_at IS NULL DO NOTHING RETURNING id, kind, subject_key",
            params,
        )
        for pk, kind, subject_key in rows:
            written[int(pk)] = by_key[(kind, subject_key)]
    return written


def _path(organisation: Organisation, finding: Finding) -> str:
    if finding.kind == WarningKind.APPROVAL_DUE:
        return f"/o/{organisation.slug}/approvals/{finding.facts['request_id']}/"
    if finding.task_id is not None:
        return f"/o/{organisation.slug}/tasks/{finding.task_id}/"
    return f"/o/{organisation.slug}/runs/{finding.run_id}/"


def _message(
    organisation: Organisation, warning_id: int, finding: Finding
) -> dict[str, Any]:
    """The notification of a new warning: its key, title and text (why and what
    to do, rendered in each recipient's language) and link; not urgent."""
    kind, facts, zone = finding.kind, finding.facts, organisation.time_zone
    return {
        "event_type": EVENT_TYPE,
        "key": f"warning:{warning_id}:raised",
        "title": lazy(lambda: _title(kind, facts), str)(),
        "body": lazy(lambda: "\n\n".join(_explanation(kind, facts, zone)), str)(),
        "url": _path(organisation, finding),
        "urgent": False,
    }


def _tell(
    organisation: Organisation,
    told: Mapping[int, tuple[Finding, frozenset[int]]],
    *,
    now: dt.datetime,
) -> int:
    """Notify the new recipients of each warning (by id); the number of
    notifications written."""
    written = 0
    for warning_id, (finding, users) in told.items():
        if users:
            written += notifications.notify(
                organisation,
                recipients=[User(pk=user_id) for user_id in sorted(users)],
                now=now,
                **_message(organisation, warning_id, finding),
            )
    return written


# --- the worker's drainer ----------------------------------------------------------------


@transaction.atomic
def _claim_scan(*, now: dt.datetime, owner: str) -> WarningScan | None:
    """Write the scan's row if the latest scan started `SCAN_INTERVAL` ago or
    more; None otherwise. Two workers never both write one: on PostgreSQL the
    table is locked against other claims for the transaction (readers go on);
    SQLite runs one writing transaction at a time (IMMEDIATE)."""
    if connection.vendor == "postgresql":
        sql.execute(f"LOCK TABLE {sql.table(WarningScan)} IN SHARE ROW EXCLUSIVE MODE")
    latest = (
        WarningScan.objects.order_by("-started_at", "-id")
        .values_list("started_at", flat=True)
        .first()
    )
    if latest is not None and latest > now - SCAN_INTERVAL:
        return None
    return WarningScan.objects.create(started_at=now, owner=owner[:100])


def scan_due(*, now: dt.datetime, owner: str = "") -> int:
    """Scan when the latest scan started more than `SCAN_INTERVAL` ago (the
    worker calls this every round); the number of warnings raised."""
    claimed = _claim_scan(now=now, owner=owner)
    if claimed is None:
        return 0
    started = time.monotonic()
    result = scan(now=now)
    WarningScan.objects.filter(pk=claimed.pk).update(
        finished_at=now + dt.timedelta(seconds=time.monotonic() - started),
        runs_scanned=result.runs_scanned,
        raised=result.raised,
        refreshed=result.refreshed,
        resolved=result.resolved,
    )
    return result.raised


# --- acknowledging -----------------------------------------------------------------------


@transaction.atomic
def acknowledge(
    warning: EarlyWarning, *, actor: User, now: dt.datetime | None = None
) -> WarningRecipient:
    """A recipient says they have taken the warning in (once; again changes
    nothing). Audited `acknowledged`. Anyone else: PermissionDenied."""
    delivery = (
        WarningRecipient.objects.select_for_update()
        .filter(warning_id=warning.pk, user_id=actor.pk)
        .first()
    )
    member = (
        actor.is_active
        and Membership.objects.filter(
            organisation_id=warning.organisation_id, user_id=actor.pk, is_active=True
        ).exists()
    )
    if delivery is None or not member:
        raise PermissionDenied(
            _("Only the people this warning is for can acknowledge it.")
        )
    if delivery.acknowledged_at is not None:
        return delivery
    delivery.acknowledged_at = now or timezone.now()
    delivery.save(update_fields=["acknowledged_at"])
    audit.record(
        warning.organisation,
        actor=actor,
        verb=AuditVerb.ACKNOWLEDGED,
        target=warning,
        changes={"kind": warning.kind, "subject": warning.subject_key},
    )
    return delivery


# --- reading -----------------------------------------------------------------------------


def warnings(
    access: Access,
    *,
    run: Run | int | None = None,
    kind: str | None = None,
    active: bool | None = True,
) -> QuerySet[EarlyWarning]:
    """The warnings the caller may see (active ones unless `active` is False —
    resolved ones — or None — all), those addressed to the caller first, then the
    newest. A partner sees only warnings on its own party's tasks and, for the
    run as a whole, on runs it takes part in. Each row has `is_mine` (the caller
    is a recipient) and `acknowledged_at` (the caller's acknowledgement)."""
    qs = EarlyWarning.objects.filter(organisation=access.organisation)
    if active is True:
        qs = qs.filter(resolved_at__isnull=True)
    elif active is False:
        qs = qs.filter(resolved_at__isnull=False)
    if run is not None:
        qs = qs.filter(run_id=run.pk if isinstance(run, Run) else run)
    if kind:
        qs = qs.filter(kind=kind)
    party = access.partner_party_id
    if access.is_partner:
        qs = qs.filter(
            Q(task__responsible_party_id=party)
            | Q(
                Q(task__isnull=True)
                & Exists(
                    Task.objects.filter(
                        run_id=OuterRef("run_id"), responsible_party_id=party
                    )
                )
            )
        )
    mine = WarningRecipient.objects.filter(
        warning_id=OuterRef("pk"), user_id=access.user.pk
    )
    return (
        qs.select_related("organisation", "run", "task")
        .annotate(
            is_mine=Exists(mine),
            acknowledged_at=Subquery(mine.values("acknowledged_at")[:1]),
        )
        .order_by("-is_mine", "-raised_at", "-id")
    )


def active_for(access: Access) -> list[EarlyWarning]:
    """The active warnings addressed to the caller (for their focus page): not yet
    acknowledged first, then the newest."""
    found = list(
        warnings(access).filter(
            Exists(
                WarningRecipient.objects.filter(
                    warning_id=OuterRef("pk"), user_id=access.user.pk
                )
            )
        )
    )
    # Stable: the newest first within each group.
    found.sort(
        key=lambda warning: getattr(warning, "acknowledged_at", None) is not None
    )
    return found


# --- explaining ----------------------------------------------------------------------------


def _span(minutes: int, day_minutes: int) -> str:
    """Working time in words: "2 working days, 3 working hours", "45 working
    minutes"."""
    minutes = abs(int(minutes))
    days, rest = divmod(minutes, day_minutes) if day_minutes > 0 else (0, minutes)
    hours, rest = divmod(rest, 60)
    parts = []
    if days:
        parts.append(
            ngettext("%(count)d working day", "%(count)d working days", days)
            % {"count": days}
        )
    if hours:
        parts.append(
            ngettext("%(count)d working hour", "%(count)d working hours", hours)
            % {"count": hours}
        )
    if rest or not parts:
        parts.append(
            ngettext("%(count)d working minute", "%(count)d working minutes", rest)
            % {"count": rest}
        )
    return ", ".join(parts)


def _when(iso: str, time_zone: str) -> str:
    """A moment in the organisation's time zone, formatted for the reader."""
    moment = dt.datetime.fromisoformat(iso).astimezone(ZoneInfo(time_zone))
    return formats.date_format(moment, "j M Y H:i")


def _title(kind: str, facts: Mapping[str, Any]) -> str:
    label = str(WarningKind(kind).label) if kind in WarningKind.values else kind
    subject = facts.get("task") or facts.get("request") or facts.get("run") or ""
    return _("Early warning: %(what)s — %(subject)s") % {
        "what": label,
        "subject": subject,
    }


def _explain_slack_low(facts: Mapping[str, Any], zone: str) -> tuple[str, str]:
    day = facts.get("day_minutes", 480)
    values = {
        "task": facts.get("task", ""),
        "run": facts.get("run", ""),
        "finish_by": _when(facts["finish_by"], zone),
        "used": facts.get("used_percent", 100),
        "left": _span(facts.get("slack_minutes", 0), day),
    }
    if facts.get("slack_minutes", 0) <= 0:
        why = _(
            "“%(task)s” of “%(run)s” has no slack left: it must be finished by "
            "%(finish_by)s for the run to meet its target date, and it is expected "
            "to finish %(left)s after that."
        )
        if facts.get("slack_minutes", 0) == 0:
            why = _(
                "“%(task)s” of “%(run)s” has no slack left: it must be finished by "
                "%(finish_by)s, and any further delay moves the run past its target "
                "date."
            )
    else:
        why = _(
            "“%(task)s” of “%(run)s” has used %(used)s%% of the slack it had when it "
            "became ready (%(left)s left). It must be finished by %(finish_by)s for "
            "the run to meet its target date."
        )
    what = _(
        "Start or finish it now. If that is not possible, ask the accountable to "
        "move people to it, to cut the work after it, or to agree a later target "
        "date before the slack is gone."
    )
    return why % values, what


def _explain_run_late(facts: Mapping[str, Any], zone: str) -> tuple[str, str]:
    values = {
        "run": facts.get("run", ""),
        "finish": _when(facts["projected_finish"], zone),
        "due": _when(facts["due_at"], zone),
        "late": _span(facts.get("late_minutes", 0), facts.get("day_minutes", 480)),
    }
    why = _(
        "“%(run)s” is projected to finish at %(finish)s, %(late)s after its "
        "target date (%(due)s)."
    )
    what = _(
        "Look at the critical path for work that can start earlier or run in "
        "parallel, raise the obstacles that hold the run up so their impact is "
        "seen, or ask to move the target date."
    )
    return why % values, what


def _explain_approval_due(facts: Mapping[str, Any], zone: str) -> tuple[str, str]:
    left = int(facts.get("minutes_left", 0))
    values = {
        "request": facts.get("request", ""),
        "stage": facts.get("stage", ""),
        "due": _when(facts["due_at"], zone),
        "left": _span(left, facts.get("day_minutes", 480)),
    }
    if left > 0:
        why = _(
            "The approval “%(request)s” (stage “%(stage)s”) has to be decided by "
            "%(due)s (%(left)s left)."
        )
    else:
        why = _(
            "The approval “%(request)s” (stage “%(stage)s”) had to be decided by "
            "%(due)s and is %(left)s overdue."
        )
    what = _(
        "Decide it now. If you cannot, delegate the decision to someone who can, "
        "so the run does not wait."
    )
    return why % values, what


def _explain_vacant_position(facts: Mapping[str, Any], zone: str) -> tuple[str, str]:
    values = {
        "position": facts.get("position", ""),
        "task": facts.get("task", ""),
        "run": facts.get("run", ""),
        "finish_by": _when(facts["finish_by"], zone),
    }
    why = _(
        "Nobody holds the position “%(position)s”, which is responsible for "
        "“%(task)s” of “%(run)s”; the task must be finished by %(finish_by)s for "
        "the run to meet its target date."
    )
    what = _(
        "Appoint a holder or an acting holder (Plt) for the position, or assign "
        "the task to someone directly."
    )
    return why % values, what


def _explain_evidence_missing(facts: Mapping[str, Any], zone: str) -> tuple[str, str]:
    values = {
        "task": facts.get("task", ""),
        "run": facts.get("run", ""),
        "finish_by": _when(facts["finish_by"], zone),
    }
    if facts.get("attached", 0):
        why = _(
            "“%(task)s” of “%(run)s” requires verified evidence, and what is "
            "attached has not been checked yet; the task must be finished by "
            "%(finish_by)s for the run to meet its target date."
        )
        what = _(
            "Ask someone other than the author of the evidence to verify it now: "
            "the task cannot be completed before that."
        )
    else:
        why = _(
            "“%(task)s” of “%(run)s” requires evidence and none is attached yet; "
            "the task must be finished by %(finish_by)s for the run to meet its "
            "target date."
        )
        what = _("Attach the evidence now: the task cannot be completed without it.")
        if facts.get("needs_verification"):
            what += " " + _("Someone other than you then has to verify it.")
    return why % values, what


_EXPLAINERS: dict[str, Callable[[Mapping[str, Any], str], tuple[str, str]]] = {
    WarningKind.SLACK_LOW: _explain_slack_low,
    WarningKind.RUN_LATE: _explain_run_late,
    WarningKind.APPROVAL_DUE: _explain_approval_due,
    WarningKind.VACANT_POSITION: _explain_vacant_position,
    WarningKind.EVIDENCE_MISSING: _explain_evidence_missing,
}


def _explanation(
    kind: str, facts: Mapping[str, Any], time_zone: str
) -> tuple[str, str]:
    explainer = _EXPLAINERS.get(kind)
    if explainer is None:
        return "", ""
    return explainer(facts, time_zone)


def explain(warning: EarlyWarning, language: str | None = None) -> tuple[str, str]:
    """(why, what to do) as plain sentences from the warning's facts, in
    `language` (the active language when None), with moments in the
    organisation's time zone."""
    zone = warning.organisation.time_zone
    if language is None:
        return _explanation(warning.kind, warning.facts, zone)
    with translation.override(language):
        return _explanation(warning.kind, warning.facts, zone)
