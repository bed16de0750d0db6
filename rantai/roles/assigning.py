"""Fair assignment (docs/design-roles.md, "The assignment policy").

When tasks become ready, the chains engine asks the registered assigner
(`ASSIGNER`) whom to give them to: the current holders of the responsible
position (acting holders included) whose job description covers the step's duty
and who are not away during the task's estimated period, choosing the least
loaded (or round robin), ties broken by the smallest person id. Every choice is
recorded with its rationale (`Assignment`); so are tasks people claim and manual
(re)assignments, which need a reason when they go outside the candidates.

* `candidates_for` loads everything a batch needs in a fixed number of queries;
* `choose` is the rule itself, a pure function over plain data;
* `ASSIGNER` wires both into the engine (`chains.extensions.Assigner`);
* `assign_task` is the manual assignment service, `explain` the rationale in
  plain sentences.
"""

from __future__ import annotations

import datetime as dt
import json
import time
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from functools import cache
from typing import Any, cast

from django.db import connection, transaction
from django.db.models import Count, Sum
from django.utils import timezone
from django.utils.formats import number_format
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains import extensions, projection
from rantai.chains.calendar import CalendarSpec, add_working_minutes
from rantai.chains.models import (
    Procedure,
    Run,
    RunStatus,
    Task,
    TaskStatus,
    WorkingCalendar,
)
from rantai.core import sql
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.notifications import events
from rantai.notifications import services as notifications
from rantai.org.models import Absence, Duty, Holding, Person
from rantai.roles import policy
from rantai.roles.models import (
    Assignment,
    AssignmentKind,
    AssignmentOutcome,
    AssignmentRule,
    RoleSettings,
)

# The statuses of work a person still carries (their load).
OPEN_STATUSES = (TaskStatus.READY, TaskStatus.IN_PROGRESS, TaskStatus.AWAITING)


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


# --- candidates -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Candidate:
    """A current holder of a task's responsible position, as the policy sees them.

    `load` is the estimated minutes of the open tasks assigned to them,
    `open_count` how many; `last_assigned` when they were last given a task of
    this position (None: never). `duty_required` is the policy's
    `require_duty_coverage`: when off, a holder who does not cover the duty is
    still eligible (the flag is still shown)."""

    person_id: int
    position_id: int
    acting: bool
    covers_duty: bool
    available: bool
    load: int
    open_count: int
    last_assigned: dt.datetime | None
    duty_required: bool = True
    can_log_in: bool = True

    @property
    def eligible(self) -> bool:
        """Covers the duty (when the policy asks), is not away, and can act on
        the task in Rantai (a person without a login would stall it)."""
        return (
            self.available
            and self.can_log_in
            and (self.covers_duty or not self.duty_required)
        )

    def to_json(self) -> dict[str, Any]:
        """The form stored in `Assignment.candidates` (ids only)."""
        return {
            "person": self.person_id,
            "load": self.load,
            "open": self.open_count,
            "acting": self.acting,
            "covers_duty": self.covers_duty,
            "available": self.available,
            "can_log_in": self.can_log_in,
            "eligible": self.eligible,
            "last_assigned": (
                self.last_assigned.isoformat() if self.last_assigned else None
            ),
        }


def open_loads(
    organisation_id: int, person_ids: Iterable[int]
) -> dict[int, tuple[int, int]]:
    """person → (estimated minutes, number) of the open tasks (ready, in progress,
    awaiting) assigned to them in the organisation's runs; (0, 0) for nobody's
    work. One grouped query."""
    wanted = sorted({pk for pk in person_ids if pk is not None})
    loads = dict.fromkeys(wanted, (0, 0))
    if not wanted:
        return loads
    for person_id, minutes, count in (
        Task.objects.filter(
            organisation_id=organisation_id,
            assignee_id__in=wanted,
            status__in=OPEN_STATUSES,
        )
        .values("assignee_id")
        .annotate(minutes=Sum("duration_minutes"), count=Count("id"))
        .values_list("assignee_id", "minutes", "count")
        .order_by()
    ):
        loads[person_id] = (int(minutes or 0), int(count))
    return loads


@dataclass(frozen=True, slots=True)
class _Context:
    """What the policy needs to know of the organisation."""

    time_zone: str
    calendar: CalendarSpec
    rule: str
    require_duty_coverage: bool


def _context(organisation_id: int) -> _Context:
    """The organisation's time zone, working calendar and policy, read by one
    statement (the settings are created with their defaults the first time)."""
    row = sql.fetchone(
        f"SELECT o.time_zone, s.assignment_rule, s.require_duty_coverage, "  # noqa: S608 - identifiers from model metadata
        f"{projection.CALENDAR_COLUMNS} FROM {sql.table(Organisation)} o "
        f"LEFT JOIN {sql.table(WorkingCalendar)} c ON c.organisation_id = o.id "
        f"LEFT JOIN {sql.table(RoleSettings)} s ON s.organisation_id = o.id "
        "WHERE o.id = %s",
        [organisation_id],
    )
    if row is None:
        raise NotFound()
    time_zone, rule, require_duty_coverage = row[:3]
    if rule is None:
        settings = policy.settings_for(organisation_id)
        rule, require_duty_coverage = (
            settings.assignment_rule,
            settings.require_duty_coverage,
        )
    organisation = sql.instance(
        Organisation, {"id": organisation_id, "time_zone": time_zone}
    )
    return _Context(
        time_zone,
        projection.calendar_spec_from_row(organisation, row[3:]),
        rule,
        bool(require_duty_coverage),
    )


def candidates_for(
    organisation_id: int,
    work: Sequence[extensions.ReadyWork],
    *,
    now: dt.datetime,
    settings: RoleSettings | None = None,
) -> dict[int, list[Candidate]]:
    """work key → every current holder of its responsible position (ordered by
    person id) with the policy's flags, loads and round-robin history.

    Work of a party (or without a position) has no candidates. A fixed number of
    queries whatever the size of the batch: the organisation's calendar and
    policy, the duties' positions, the holdings, the loads, the absences and the
    last assignments. `settings` (when given) decides the duty coverage rule."""
    if not any(item.position_id is not None for item in work):
        return {item.key: [] for item in work}
    context = _context(organisation_id)
    return _candidates(
        organisation_id,
        work,
        now=_now(now),
        context=context,
        require_duty_coverage=(
            context.require_duty_coverage
            if settings is None
            else settings.require_duty_coverage
        ),
    )


@cache
def _holders_sql(positions: int) -> str:
    """The current holders of the positions (active people) with, per holder,
    their open load (minutes, count), when they were last given a task of the
    position, and the start of their first absence not ended by now (correlated
    subqueries on indexed columns: one statement whatever the batch size)."""
    # People, positions and their tasks, assignments and absences all belong to
    # the holding's organisation: the subqueries filter by person (and position)
    # only, so each uses its (person, …) index.
    task, absence = sql.table(Task), sql.table(Absence)
    open_work = (
        f"FROM {task} t WHERE t.assignee_id = h.person_id "
        f"AND t.status IN {sql.quoted(OPEN_STATUSES)}"
    )
    return (
        "SELECT h.position_id, h.person_id, h.is_acting, "  # noqa: S608 - identifiers from model metadata
        f"(SELECT SUM(t.duration_minutes) {open_work}), "
        f"(SELECT COUNT(*) {open_work}), "
        f"(SELECT MAX(a.created_at) FROM {sql.table(Assignment)} a "
        "WHERE a.position_id = h.position_id AND a.person_id = h.person_id), "
        f"(SELECT MIN(b.starts_at) FROM {absence} b "
        "WHERE b.person_id = h.person_id AND b.ends_at > %s "
        "AND (b.cancelled_at IS NULL OR b.cancelled_at > %s)), "
        f"EXISTS (SELECT 1 FROM {sql.table(Membership)} m "
        "WHERE m.user_id = p.user_id AND m.organisation_id = h.organisation_id "
        "AND m.is_active = %s) "
        f"FROM {sql.table(Holding)} h JOIN {sql.table(Person)} p "
        "ON p.id = h.person_id WHERE h.organisation_id = %s "
        f"AND h.position_id IN ({sql.placeholders(positions)}) AND p.is_active = %s "
        "AND h.start_date <= %s AND (h.end_date IS NULL OR h.end_date >= %s)"
    )


def _holders_params(
    organisation_id: int, positions: Sequence[int], day: dt.date, now: dt.datetime
) -> list[Any]:
    on = connection.ops.adapt_datefield_value(day)
    moment = sql.db_datetime(now)
    return [
        moment,
        moment,
        True,
        organisation_id,
        *positions,
        True,
        on,
        on,
    ]


def _candidates(
    organisation_id: int,
    work: Sequence[extensions.ReadyWork],
    *,
    now: dt.datetime,
    context: _Context,
    require_duty_coverage: bool,
) -> dict[int, list[Candidate]]:
    positions = sorted(
        {item.position_id for item in work if item.position_id is not None}
    )
    if not positions:
        return {item.key: [] for item in work}
    calendar = context.calendar
    day = now.astimezone(zoneinfo.ZoneInfo(context.time_zone)).date()

    duty_ids = sorted({item.duty_id for item in work if item.duty_id is not None})
    duty_position: dict[int, int] = (
        dict(
            sql.fetchall(
                f"SELECT id, position_id FROM {sql.table(Duty)} "  # noqa: S608 - identifiers from model metadata
                f"WHERE id IN {sql.in_list(duty_ids)}",
                duty_ids,
            )
        )
        if duty_ids
        else {}
    )
    looked_up = sorted(set(positions) | set(duty_position.values()))
    # position → person → acting (definitive wins over acting for the flag)
    holders: dict[int, dict[int, bool]] = defaultdict(dict)
    loads: dict[int, tuple[int, int]] = {}
    last: dict[tuple[int, int], dt.datetime] = {}
    # person → the start of their first absence that has not ended by now
    next_absence: dict[int, dt.datetime] = {}
    can_log_in: dict[int, bool] = {}
    for row in sql.fetchall(
        _holders_sql(len(looked_up)),
        _holders_params(organisation_id, looked_up, day, now),
    ):
        (
            position_id,
            person_id,
            acting,
            minutes,
            count,
            assigned_at,
            away_from,
            logs_in,
        ) = row
        can_log_in[person_id] = bool(logs_in)
        known = holders[position_id].get(person_id)
        holders[position_id][person_id] = bool(acting) and (known is None or known)
        loads[person_id] = (int(minutes or 0), int(count or 0))
        if assigned_at is not None:
            last[(position_id, person_id)] = cast(
                dt.datetime, sql.py_datetime(assigned_at)
            )
        if away_from is not None:
            next_absence[person_id] = cast(dt.datetime, sql.py_datetime(away_from))
    if not any(holders.get(position_id) for position_id in positions):
        return {item.key: [] for item in work}

    ends = {
        minutes: add_working_minutes(calendar, now, minutes)
        for minutes in {item.duration_minutes for item in work}
    }

    def away(person_id: int, end: dt.datetime) -> bool:
        """An absence overlaps [now, end] (or covers now, for a task of no time):
        the first absence not ended by now starts before the end (or by now)."""
        starts = next_absence[person_id]
        return starts < end or starts <= now

    required = require_duty_coverage
    by_position = {
        position_id: sorted(holders.get(position_id, {}).items())
        for position_id in positions
    }
    # Candidates are immutable: items alike (same position, coverage and
    # availability) share them, which keeps a large batch cheap.
    made: dict[tuple[int, int, bool, bool], Candidate] = {}
    result: dict[int, list[Candidate]] = {}
    for item in work:
        if item.position_id is None or item.party_id is not None:
            result[item.key] = []
            continue
        position_id = item.position_id
        covering = (
            None
            if item.duty_id is None
            else holders.get(duty_position.get(item.duty_id, -1), {})
        )
        end = ends[item.duration_minutes]
        pool = []
        for person_id, acting in by_position[position_id]:
            covers = covering is None or person_id in covering
            available = person_id not in next_absence or not away(person_id, end)
            key = (position_id, person_id, covers, available)
            candidate = made.get(key)
            if candidate is None:
                minutes, count = loads[person_id]
                candidate = made[key] = Candidate(
                    person_id,
                    position_id,
                    acting,
                    covers,
                    available,
                    minutes,
                    count,
                    last.get((position_id, person_id)),
                    required,
                    can_log_in[person_id],
                )
            pool.append(candidate)
        result[item.key] = pool
    return result


# --- the rule (pure) --------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Decision:
    """Whom the policy chose for one work item (None: nobody) and why; the
    candidates as they were seen when choosing (loads include the batch's
    earlier choices)."""

    key: int
    person_id: int | None
    outcome: str
    rule: str
    position_id: int | None
    minutes: int
    candidates: tuple[Candidate, ...]

    def rationale(
        self, made: dict[int, dict[str, Any]] | None = None
    ) -> dict[str, Any]:
        """As stored; `made` (candidate object id → its JSON) lets the decisions
        of one batch share the JSON of the candidates they share."""
        if made is None:
            made = {}
        candidates = []
        for candidate in self.candidates:
            stored = made.get(id(candidate))
            if stored is None:
                stored = made[id(candidate)] = candidate.to_json()
            candidates.append(stored)
        return {
            "rule": self.rule,
            "outcome": self.outcome,
            "position": self.position_id,
            "minutes": self.minutes,
            "candidates": candidates,
        }


def _as_seen(
    candidate: Candidate,
    extra_minutes: Mapping[int, int],
    extra_open: Mapping[int, int],
    picked: Mapping[tuple[int, int], int],
    now: dt.datetime,
) -> Candidate:
    """The candidate with the batch's earlier choices counted in (the same object
    when there are none: most candidates of a large batch, cheaply)."""
    person_id = candidate.person_id
    extra = extra_minutes.get(person_id)
    if extra is None:
        return candidate
    return Candidate(
        person_id,
        candidate.position_id,
        candidate.acting,
        candidate.covers_duty,
        candidate.available,
        candidate.load + extra,
        candidate.open_count + extra_open[person_id],
        (
            now
            if (candidate.position_id, person_id) in picked
            else candidate.last_assigned
        ),
        candidate.duty_required,
        candidate.can_log_in,
    )


def _least_loaded(candidate: Candidate) -> tuple[int, int, int]:
    return (candidate.load, candidate.open_count, candidate.person_id)


def choose(
    work: Sequence[extensions.ReadyWork],
    candidates: Mapping[int, Sequence[Candidate]],
    *,
    rule: str,
    now: dt.datetime,
) -> dict[int, Decision]:
    """The policy's choice for every work item, in the order (run, sort order,
    key); each choice adds the task's minutes (and one open task) to the chosen
    person's load and makes them the most recently assigned of the position, so a
    batch spreads. Deterministic: the same input gives the same choices.

    `least_loaded`: the smallest load, then the fewest open tasks, then the
    smallest person id. `round_robin`: never assigned first, then the one
    assigned longest ago for the position, then the smallest person id."""
    extra_minutes: dict[int, int] = {}
    extra_open: dict[int, int] = {}
    # (position, person) → order of their latest pick in this batch (higher =
    # more recent)
    picked: dict[tuple[int, int], int] = {}
    picks = 0
    decisions: dict[int, Decision] = {}
    for item in sorted(work, key=lambda w: (w.run_id or 0, w.sort_order, w.key)):
        if item.party_id is not None or item.position_id is None:
            outcome = (
                AssignmentOutcome.PARTY
                if item.party_id is not None
                else AssignmentOutcome.VACANT
            )
            decisions[item.key] = Decision(
                item.key, None, outcome, rule, None, item.duration_minutes, ()
            )
            continue
        position_id = item.position_id
        seen = tuple(
            _as_seen(candidate, extra_minutes, extra_open, picked, now)
            for candidate in candidates.get(item.key, ())
        )
        eligible = [candidate for candidate in seen if candidate.eligible]
        chosen: Candidate | None = None
        if not seen:
            outcome = AssignmentOutcome.VACANT
        elif not eligible:
            covering = [c for c in seen if c.covers_duty or not c.duty_required]
            present = [c for c in covering if c.available]
            if not covering:
                outcome = AssignmentOutcome.NOT_COVERED
            elif not present:
                outcome = AssignmentOutcome.ALL_AWAY
            else:
                outcome = AssignmentOutcome.NO_LOGIN
        else:
            if rule == AssignmentRule.ROUND_ROBIN:
                chosen = min(
                    eligible,
                    key=lambda c: (
                        c.last_assigned is not None,
                        c.last_assigned or now,
                        picked.get((position_id, c.person_id), -1),
                        c.person_id,
                    ),
                )
            else:
                chosen = min(eligible, key=_least_loaded)
            outcome = (
                AssignmentOutcome.SOLE_CANDIDATE
                if len(eligible) == 1
                else AssignmentOutcome.CHOSEN
            )
            person_id = chosen.person_id
            extra_minutes[person_id] = (
                extra_minutes.get(person_id, 0) + item.duration_minutes
            )
            extra_open[person_id] = extra_open.get(person_id, 0) + 1
            picks += 1
            picked[(position_id, person_id)] = picks
        decisions[item.key] = Decision(
            item.key,
            chosen.person_id if chosen else None,
            outcome,
            rule,
            position_id,
            item.duration_minutes,
            seen,
        )
    return decisions


# --- the engine's assigner --------------------------------------------------------

# Rows per INSERT of assignment records (well below both databases' limits on
# parameters per statement).
_ROWS_PER_INSERT = 1000


class PolicyAssigner:
    """The `chains.extensions.Assigner` of the assignment policy."""

    def choose(
        self,
        organisation_id: int,
        work: Sequence[extensions.ReadyWork],
        *,
        now: dt.datetime,
    ) -> dict[int, extensions.AssignmentChoice]:
        if any(item.position_id is not None for item in work):
            context = _context(organisation_id)
            rule = context.rule
            pools = _candidates(
                organisation_id,
                work,
                now=now,
                context=context,
                require_duty_coverage=context.require_duty_coverage,
            )
        else:  # only partners' work: nobody of ours to choose, no query
            rule, pools = "", {}
        decisions = choose(work, pools, rule=rule, now=now)
        made: dict[int, dict[str, Any]] = {}
        return {
            key: extensions.AssignmentChoice(
                decision.person_id, decision.rationale(made)
            )
            for key, decision in decisions.items()
        }

    def record(
        self,
        organisation_id: int,
        chosen: Sequence[tuple[int, extensions.ReadyWork, extensions.AssignmentChoice]],
        *,
        now: dt.datetime,
    ) -> None:
        """One `Assignment` of kind automatic per task (bulk INSERTs). No audit
        event of its own: the run's start or the task transition that readied the
        task is audited, and this is its rationale."""
        if not chosen:
            return
        # The engine's hot path: plain statements, values adapted the way the ORM
        # adapts them (one timestamp for all; the candidates as JSON).
        automatic = str(AssignmentKind.AUTOMATIC)
        rows = []
        for task_id, item, choice in chosen:
            rationale = choice.rationale
            rows.append(
                [
                    organisation_id,
                    task_id,
                    item.position_id,
                    choice.person_id,
                    automatic,
                    str(rationale.get("rule", "")),
                    str(
                        rationale.get(
                            "outcome",
                            AssignmentOutcome.CHOSEN
                            if choice.person_id
                            else AssignmentOutcome.VACANT,
                        )
                    ),
                    list(rationale.get("candidates", ())),
                    item.duration_minutes,
                    False,
                    "",
                    now,
                ]
            )
        if connection.vendor == "postgresql" and len(rows) >= _COPY_FROM:
            _copy_assignments(rows)
            return
        adapt_json = connection.ops.adapt_json_value
        created_at = sql.db_datetime(now)
        for row in rows:
            row[7] = adapt_json(row[7], None)
            row[11] = created_at
        one_row = f"({sql.placeholders(len(_RECORD_COLUMNS))})"
        for start in range(0, len(rows), _ROWS_PER_INSERT):
            batch = rows[start : start + _ROWS_PER_INSERT]
            sql.execute(
                f"INSERT INTO {sql.table(Assignment)} ({', '.join(_RECORD_COLUMNS)}) "  # noqa: S608 - identifiers from model metadata
                f"VALUES {', '.join([one_row] * len(batch))}",
                [value for row in batch for value in row],
            )


# The columns `record` writes (the others: NULL, the previous assignee and who
# assigned, for an automatic assignment).
_RECORD_COLUMNS = (
    "organisation_id",
    "task_id",
    "position_id",
    "person_id",
    "kind",
    "rule",
    "outcome",
    "candidates",
    "minutes",
    "is_override",
    "reason",
    "created_at",
)
# From this many rows on, PostgreSQL receives them by COPY (2 to 3 times faster
# than INSERTs for a large batch; a handful of rows is quicker as an INSERT).
_COPY_FROM = 200


def _copy_assignments(rows: Sequence[list[Any]]) -> None:
    """COPY the rows into the assignment table through the connection's own
    psycopg cursor (same transaction); logged like a statement, so query counts
    stay true."""
    statement = (
        f"COPY {sql.table(Assignment)} ({', '.join(_RECORD_COLUMNS)}) FROM STDIN"
    )
    started = time.monotonic()
    with (
        connection.cursor() as cursor,
        cursor.cursor.copy(statement) as copy,  # type: ignore[attr-defined]
    ):
        for row in rows:
            copy.write_row([*row[:7], json.dumps(row[7]), *row[8:]])
    if connection.queries_logged:
        connection.queries_log.append(
            {"sql": statement, "time": f"{time.monotonic() - started:.3f}"}
        )


ASSIGNER = PolicyAssigner()


def on_task_assigned(event: extensions.TaskAssigned) -> None:
    """A person claimed (or started) an unassigned task: record it."""
    position_id, minutes = (
        Task.objects.filter(pk=event.task_id)
        .values_list("responsible_position_id", "duration_minutes")
        .get()
    )
    Assignment.objects.create(
        organisation_id=event.organisation_id,
        task_id=event.task_id,
        position_id=position_id,
        person_id=event.person_id,
        kind=AssignmentKind.CLAIMED,
        outcome=AssignmentOutcome.CHOSEN,
        minutes=minutes,
        assigned_by_id=event.actor_id,
        created_at=event.at,
    )


# --- manual assignment ------------------------------------------------------------


def _local_date(time_zone: str, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def _assigner_role(
    task: Task, owner_position_id: int, user: User | None, day: dt.date
) -> tuple[str | None, bool]:
    """(the user's role in the task's organisation, whether they may assign it):
    administrators, and members holding the procedure's owner position or the
    task's accountable position (acting counts)."""
    if user is None or not user.is_active:
        return None, False
    role = (
        Membership.objects.filter(
            organisation_id=task.organisation_id, user_id=user.pk, is_active=True
        )
        .values_list("role", flat=True)
        .first()
    )
    if role == Role.ADMIN:
        return role, True
    if role != Role.MEMBER:
        return role, False
    held = (
        Holding.objects.current(day)
        .filter(
            organisation_id=task.organisation_id,
            person__user_id=user.pk,
            person__organisation_id=task.organisation_id,
            person__is_active=True,
            position_id__in=[owner_position_id, task.accountable_position_id],
        )
        .exists()
    )
    return role, held


def may_assign(
    task: Task, user: User | None, *, now: dt.datetime | None = None
) -> bool:
    """Whether the user may assign the task by hand (whatever its state)."""
    row = (
        Run.objects.filter(pk=task.run_id)
        .values_list("procedure__owner_position_id", "organisation__time_zone")
        .first()
    )
    if row is None:
        return False
    owner_position_id, time_zone = row
    return _assigner_role(
        task, owner_position_id, user, _local_date(time_zone, _now(now))
    )[1]


def work_of(task: Task) -> extensions.ReadyWork:
    """The task as the assigner sees it (its step's duty read unless the step was
    loaded with the task, or it has none)."""
    if task.step_id is None:
        duty_id = None
    elif Task.step.is_cached(task):
        duty_id = task.step.duty_id if task.step is not None else None
    else:
        duty_id = (
            Task.objects.filter(pk=task.pk)
            .values_list("step__duty_id", flat=True)
            .get()
        )
    return extensions.ReadyWork(
        key=task.pk,
        run_id=task.run_id,
        position_id=task.responsible_position_id,
        party_id=task.responsible_party_id,
        duty_id=duty_id,
        duration_minutes=task.duration_minutes,
        sort_order=task.sort_order,
    )


def _task_path(run: Run, task: Task) -> str:
    return f"/o/{run.organisation.slug}/tasks/{task.pk}/#assignment"


@transaction.atomic
def assign_task(
    task: Task,
    *,
    actor: User,
    person: Person,
    reason: str = "",
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Assignment:
    """Give an open task to a person by hand (administrators, holders of the
    procedure's owner position or of the task's accountable position).

    Someone outside the current candidates needs a reason and is recorded as an
    override. Compare-and-set on the task; an `Assignment` of kind manual; audited
    `assigned` (the reason kept out of the hashed changes); the new assignee is
    notified (`task.assigned`)."""
    now = _now(now)
    run = (
        Run.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .get(pk=task.run_id)
    )
    organisation = run.organisation
    owner_position_id = (
        Procedure.objects.filter(pk=run.procedure_id)
        .values_list("owner_position_id", flat=True)
        .get()
    )
    role, allowed = _assigner_role(
        task, owner_position_id, actor, _local_date(organisation.time_zone, now)
    )
    if role is None:
        raise NotFound()
    if not allowed:
        raise PermissionDenied(
            _(
                "Only administrators and the holders of the procedure's owner "
                "position or of the task's accountable position can assign it."
            )
        )
    if run.status != RunStatus.ACTIVE:
        raise ValidationFailed(
            _("The run is %(status)s: its tasks cannot change.")
            % {"status": run.get_status_display()}
        )
    if task.status not in OPEN_STATUSES:
        raise ValidationFailed(
            {
                "status": [
                    _("The task is %(status)s: only open tasks can be assigned.")
                    % {"status": task.get_status_display()}
                ]
            },
            code="illegal_transition",
        )
    if task.responsible_position_id is None:
        raise ValidationFailed(
            _("The task belongs to an external party: it has no assignee.")
        )
    if (
        person.organisation_id != task.organisation_id
        or not person.is_active
        or person.party_id is not None
    ):
        raise ValidationFailed(
            {"person": [_("Choose an active person of the organisation.")]}
        )
    if person.pk == task.assignee_id:
        raise ValidationFailed(
            {"person": [_("The task is already assigned to this person.")]}
        )
    reason = (reason or "").strip()
    pool = candidates_for(organisation.pk, [work_of(task)], now=now)[task.pk]
    is_override = person.pk not in {c.person_id for c in pool if c.eligible}
    if is_override and not reason:
        raise ValidationFailed(
            {
                "reason": [
                    _(
                        "This person is not among the candidates (holders of the "
                        "responsible position who cover the duty and are not "
                        "away): give a reason."
                    )
                ]
            },
            code="override_needs_reason",
        )
    previous = task.assignee_id
    compare_and_set(
        task,
        expected_version=expected_version,
        fields={"assignee_id": person.pk, "updated_at": now},
    )
    assignment = Assignment.objects.create(
        organisation_id=organisation.pk,
        task_id=task.pk,
        position_id=task.responsible_position_id,
        person=person,
        previous_person_id=previous,
        kind=AssignmentKind.MANUAL,
        outcome=AssignmentOutcome.CHOSEN,
        candidates=[candidate.to_json() for candidate in pool],
        minutes=task.duration_minutes,
        is_override=is_override,
        reason=reason,
        assigned_by=actor,
        created_at=now,
    )
    if person.user_id is not None and person.user is not None:
        notifications.notify(
            organisation,
            recipients=[person.user],
            event_type=events.TASK_ASSIGNED,
            key=f"task:{task.pk}:assignment:{assignment.pk}",
            title=format_lazy(
                gettext_lazy("Task assigned to you: {task}"), task=task.name
            ),
            body=format_lazy(gettext_lazy("Run: {run}"), run=run.title),
            url=_task_path(run, task),
            now=now,
        )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.ASSIGNED,
        target=task,
        changes={"assignee": [previous, person.pk], "override": is_override},
        personal_changes={"reason": reason} if reason else None,
    )
    return assignment


# --- reading the rationale --------------------------------------------------------


def current(task_id: int) -> Assignment | None:
    """The task's newest assignment record (its current rationale), if any."""
    return (
        Assignment.objects.filter(task_id=task_id)
        .select_related("person", "previous_person", "assigned_by", "position")
        .order_by("-created_at", "-id")
        .first()
    )


def _hours(minutes: int) -> str:
    return number_format(minutes / 60, decimal_pos=1)


def _outcome_sentence(outcome: str) -> str:
    sentences: dict[str, str] = {
        AssignmentOutcome.CHOSEN: _("The policy chose among the candidates."),
        AssignmentOutcome.SOLE_CANDIDATE: _("Only one candidate was available."),
        AssignmentOutcome.PARTY: _(
            "The task belongs to an external party: nobody of ours is assigned."
        ),
        AssignmentOutcome.VACANT: _(
            "Nobody was assigned: the responsible position has no holder."
        ),
        AssignmentOutcome.NOT_COVERED: _(
            "Nobody was assigned: no holder's job description covers the step's "
            "duty. The holders can claim the task."
        ),
        AssignmentOutcome.ALL_AWAY: _(
            "Nobody was assigned: every candidate is away during the task's "
            "estimated period. The holders can claim the task."
        ),
        AssignmentOutcome.NO_LOGIN: _(
            "Nobody was assigned: no available candidate can log in to Rantai. "
            "The accountable or the process owner can assign the task by hand."
        ),
        AssignmentOutcome.KEPT: _("The task kept its assignee."),
    }
    return sentences.get(outcome, outcome)


def _passed_over(
    candidate: Mapping[str, Any],
    chosen: Mapping[str, Any] | None,
    rule: str,
) -> str:
    """Why a candidate was not the one chosen ("" when the choice was made by
    hand among eligible people, or nobody was chosen)."""
    eligible = candidate.get(
        "eligible", candidate.get("covers_duty") and candidate.get("available")
    )
    if not eligible:
        if not candidate.get("covers_duty", True):
            return _("their job description does not cover the step's duty")
        if not candidate.get("available", True):
            return _("away during the task's estimated period")
        return _("cannot log in to Rantai")
    if chosen is None or not rule:
        return ""
    if rule == AssignmentRule.ROUND_ROBIN:
        return _("was given a task of this position more recently")
    if candidate["load"] > chosen["load"]:
        return _("carries more open work")
    if candidate["open"] > chosen["open"]:
        return _("as much open work, but more open tasks")
    return _(
        "as much open work and as many open tasks; the tie goes to the person "
        "registered first"
    )


def explain(assignment: Assignment) -> list[str]:
    """The rationale in plain sentences, in the active language: how the task was
    assigned, the rule and its outcome, every candidate with their load in hours
    and why they were passed over, and an override's reason."""
    candidates: list[Mapping[str, Any]] = list(assignment.candidates or [])
    ids = {c["person"] for c in candidates}
    ids.update(pk for pk in (assignment.person_id, assignment.previous_person_id) if pk)
    names = dict(Person.objects.filter(pk__in=ids).values_list("pk", "full_name"))

    def name(pk: int | None) -> str:
        return names.get(pk, _("(unknown person)")) if pk else _("nobody")

    who = name(assignment.person_id)
    by = (
        (assignment.assigned_by.full_name or assignment.assigned_by.username)
        if assignment.assigned_by_id and assignment.assigned_by
        else ""
    )
    lines: list[str] = []
    kind = assignment.kind
    if kind == AssignmentKind.AUTOMATIC:
        if assignment.person_id:
            lines.append(
                _("Assigned to %(person)s by the policy (%(rule)s).")
                % {"person": who, "rule": assignment.get_rule_display()}
            )
        elif assignment.rule:
            lines.append(
                _("The policy (%(rule)s) assigned nobody.")
                % {"rule": assignment.get_rule_display()}
            )
        lines.append(_outcome_sentence(assignment.outcome))
    elif kind == AssignmentKind.CLAIMED:
        lines.append(_("%(person)s took the task themselves.") % {"person": who})
    elif kind == AssignmentKind.MANUAL:
        lines.append(
            _("Assigned to %(person)s by hand by %(user)s.")
            % {"person": who, "user": by or _("someone")}
        )
        if assignment.previous_person_id:
            lines.append(
                _("Before, it was assigned to %(person)s.")
                % {"person": name(assignment.previous_person_id)}
            )
    elif kind == AssignmentKind.REBALANCED:
        lines.append(
            _("Assigned to %(person)s when the unit's load was rebalanced.")
            % {"person": who}
        )
    if assignment.minutes:
        lines.append(
            _("The task's estimated work: %(hours)s hours.")
            % {"hours": _hours(assignment.minutes)}
        )
    chosen = next((c for c in candidates if c["person"] == assignment.person_id), None)
    rule = assignment.rule if kind == AssignmentKind.AUTOMATIC else ""
    for candidate in candidates:
        facts = ngettext(
            "%(person)s: %(hours)s hours of open work (%(count)d open task)",
            "%(person)s: %(hours)s hours of open work (%(count)d open tasks)",
            candidate["open"],
        ) % {
            "person": name(candidate["person"]),
            "hours": _hours(candidate["load"]),
            "count": candidate["open"],
        }
        if candidate.get("acting"):
            facts = _("%(facts)s, acting holder") % {"facts": facts}
        if candidate["person"] == assignment.person_id:
            lines.append(_("%(facts)s — chosen.") % {"facts": facts})
            continue
        why = _passed_over(candidate, chosen, rule)
        if why:
            lines.append(
                _("%(facts)s — passed over: %(why)s.") % {"facts": facts, "why": why}
            )
        else:
            lines.append(_("%(facts)s.") % {"facts": facts})
    if assignment.is_override:
        lines.append(
            _("Override: %(person)s was not among the candidates. Reason: %(reason)s")
            % {"person": who, "reason": assignment.reason}
        )
    elif assignment.reason:
        lines.append(_("Reason: %(reason)s") % {"reason": assignment.reason})
    return lines
