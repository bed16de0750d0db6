"""Batch rebalancing: propose a reassignment of a unit's ready tasks that evens
out load while respecting job descriptions, preview it, apply it in one step
(docs/design-roles.md, "Rebalancing"; decision 0008).

The solver is a pure function over plain data (`solve`); `propose` reads the
unit's ready tasks, their candidates (the assignment policy of `assigning.py`)
and everyone's open work, and stores the moves with the loads and Gini
coefficients before and after; `apply` re-checks every task and reassigns them
all in one transaction, or nothing.
"""

from __future__ import annotations

import datetime as dt
import heapq
import math
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext_lazy
from scipy.optimize import linear_sum_assignment

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains.extensions import ReadyWork
from rantai.chains.models import RunStatus, Task, TaskStatus
from rantai.core.concurrency import compare_and_set, lock_current
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.org.models import Holding, Party, PartyKind, Person
from rantai.roles import assigning
from rantai.roles.fairness import gini
from rantai.roles.models import (
    Assignment,
    AssignmentKind,
    AssignmentOutcome,
    RebalanceProposal,
    RebalanceStatus,
)

# --- the solver (pure) ----------------------------------------------------------------

# A component with more tasks than this is solved in blocks of about this many
# tasks (tasks with the same candidates stay together), each an exact assignment
# problem given the rest, then improved as a whole: one dense problem of 5,000
# tasks would need gigabytes.
BLOCK_TASKS = 250
# In the assignment problem a task's current assignee is cheaper by half a slot,
# so work is not shuffled between people for nothing.
KEEP_SLOTS = 0.5
# The local improvement stops after this many moves per task (it always ends on
# its own; the bound only caps pathological inputs).
IMPROVEMENT_MOVES_PER_TASK = 20


@dataclass(frozen=True, slots=True)
class MovableTask:
    """A task the rebalancing may move: its estimated minutes, its current
    assignee (None: unassigned) and the people the assignment policy allows."""

    id: int
    minutes: int
    current: int | None
    candidates: tuple[int, ...]

    @property
    def allowed(self) -> tuple[int, ...]:
        """The candidates and the current assignee (who always stays allowed)."""
        people = set(self.candidates)
        if self.current is not None:
            people.add(self.current)
        return tuple(sorted(people))


@dataclass(frozen=True, slots=True)
class _Task:
    id: int
    minutes: int
    current: int | None
    allowed: tuple[int, ...]
    allows: frozenset[int]


def _prepared(tasks: Iterable[MovableTask]) -> list[_Task]:
    prepared = []
    for task in tasks:
        if task.minutes < 0:
            raise ValueError(f"task {task.id} has negative minutes")
        allowed = task.allowed
        if allowed:
            prepared.append(
                _Task(task.id, task.minutes, task.current, allowed, frozenset(allowed))
            )
    return prepared


def _components(tasks: Sequence[_Task]) -> list[list[_Task]]:
    """The connected components of the task–person graph (union-find over
    people), each in task id order, ordered by their smallest task id."""
    parent: dict[int, int] = {}

    def find(person: int) -> int:
        root = parent.setdefault(person, person)
        while root != parent[root]:
            parent[root] = parent[parent[root]]
            root = parent[root]
        parent[person] = root
        return root

    kinds = {task.allowed for task in tasks}  # tasks of a position share theirs
    for allowed in kinds:
        root = find(allowed[0])
        for person in allowed[1:]:
            other = find(person)
            if other != root:
                root, other = min(root, other), max(root, other)
                parent[other] = root
    roots = {allowed: find(allowed[0]) for allowed in kinds}
    groups: dict[int, list[_Task]] = defaultdict(list)
    for task in sorted(tasks, key=lambda t: t.id):
        groups[roots[task.allowed]].append(task)
    return sorted(groups.values(), key=lambda group: group[0].id)


def _least_loaded(
    tasks: Iterable[_Task], loads: dict[int, int], assignment: dict[int, int]
) -> None:
    """Longest task first, each to its least loaded allowed person (smallest id
    on a tie); updates `loads` and `assignment` in place."""
    for task in sorted(tasks, key=lambda t: (-t.minutes, t.id)):
        person = min(task.allowed, key=lambda p: (loads.get(p, 0), p))
        assignment[task.id] = person
        loads[person] = loads.get(person, 0) + task.minutes


def greedy(
    tasks: Sequence[MovableTask], fixed_load: Mapping[int, int]
) -> dict[int, int]:
    """The baseline the solver is measured against: every task handed out again
    from scratch, longest first, to its least loaded allowed person (LPT)."""
    loads = dict(fixed_load)
    assignment: dict[int, int] = {}
    _least_loaded(_prepared(tasks), loads, assignment)
    return assignment


# person -> candidate list -> minutes -> task ids: a person's tasks in buckets of
# interchangeable ones, so a move is chosen per bucket, not per task.
_Buckets = dict[int, dict[tuple[int, ...], dict[int, set[int]]]]


@dataclass
class _State:
    """One component's assignment with the loads and task lists it implies."""

    assignment: dict[int, int]
    loads: dict[int, int]
    held: dict[int, set[int]]  # person -> task ids
    buckets: _Buckets

    @classmethod
    def of(
        cls,
        assignment: Mapping[int, int],
        tasks: Mapping[int, _Task],
        people: Iterable[int],
        fixed_load: Mapping[int, int],
    ) -> _State:
        loads = {person: fixed_load.get(person, 0) for person in people}
        state = cls({}, loads, {person: set() for person in loads}, {})
        for person in loads:
            state.buckets[person] = defaultdict(lambda: defaultdict(set))
        for task_id, person in assignment.items():
            state._put(tasks[task_id], person)
        return state

    def _put(self, task: _Task, person: int) -> None:
        self.assignment[task.id] = person
        self.loads[person] += task.minutes
        self.held[person].add(task.id)
        self.buckets[person][task.allowed][task.minutes].add(task.id)

    def move(self, task: _Task, to: int) -> None:
        source = self.assignment[task.id]
        self.loads[source] -= task.minutes
        self.held[source].discard(task.id)
        group = self.buckets[source][task.allowed]
        group[task.minutes].discard(task.id)
        if not group[task.minutes]:
            del group[task.minutes]
            if not group:
                del self.buckets[source][task.allowed]
        self._put(task, to)

    def score(self, start: Mapping[int, int]) -> tuple[int, int, int]:
        """Lower is better: the maximum load, then the sum of squared loads (the
        spread), then the number of tasks moved."""
        moved = sum(1 for pk, person in self.assignment.items() if start[pk] != person)
        return (
            max(self.loads.values(), default=0),
            sum(load * load for load in self.loads.values()),
            moved,
        )


def _spread(state: _State, tasks: Mapping[int, _Task], start: Mapping[int, int]) -> int:
    """Move single tasks from more to less loaded people, the most loaded first,
    while a move lowers the sum of squared loads: a move of m minutes from p to q
    does exactly when `load q + m < load p`, so neither ends at or above p's
    load and the maximum never rises. Returns the moves left in the budget."""
    loads = state.loads
    budget = IMPROVEMENT_MOVES_PER_TASK * max(1, len(state.assignment))
    changed = True
    while changed and budget > 0:
        changed = False
        for person in sorted(loads, key=lambda p: (-loads[p], p)):
            while budget > 0:
                top = loads[person]
                # The largest fall of the sum of squares, m × (top − low − m),
                # over the buckets: each candidate list's least loaded other.
                best: tuple[int, tuple[int, ...], int, int] | None = None
                for allowed, by_minutes in state.buckets[person].items():
                    low = min((loads[p] for p in allowed if p != person), default=top)
                    for minutes in by_minutes:
                        received = low + minutes
                        if minutes and received < top:
                            gain = minutes * (top - received)
                            candidate = (-gain, allowed, minutes, low)
                            if best is None or candidate < best:
                                best = candidate
                if best is None:
                    break
                _gain, allowed, minutes, low = best
                at_low = {p for p in allowed if p != person and loads[p] == low}
                # Prefer giving a task back to whoever had it; else the smallest
                # ids.
                bucket = sorted(state.buckets[person][allowed][minutes])
                task_id = next((pk for pk in bucket if start[pk] in at_low), bucket[0])
                home = start[task_id]
                state.move(tasks[task_id], home if home in at_low else min(at_low))
                budget -= 1
                changed = True
    return budget


def _relieve_the_most_loaded(
    state: _State, tasks: Mapping[int, _Task], budget: int
) -> None:
    """Move or swap single tasks away from the most loaded person while that
    lowers their load without anyone reaching it: the sorted loads fall
    lexicographically at every step, so the maximum never rises and the loop
    ends."""
    loads = state.loads
    heap = [(-load, person) for person, load in loads.items()]
    heapq.heapify(heap)
    while heap and budget > 0:
        negative, person = heapq.heappop(heap)
        top = -negative
        if loads[person] != top:
            continue  # a stale entry
        best: tuple[int, int, int, int] | None = None  # score, task, to, back (0)
        mine = sorted(state.held[person])
        for task_id in mine:
            task = tasks[task_id]
            for other in task.allowed:
                received = loads[other] + task.minutes
                if task.minutes and other != person and received < top:
                    candidate = (max(top - task.minutes, received), task_id, other, 0)
                    if best is None or candidate < best:
                        best = candidate
        if best is None:
            for task_id in mine:
                task = tasks[task_id]
                for other in task.allowed:
                    if other == person:
                        continue
                    for back_id in state.held[other]:
                        back = tasks[back_id]
                        gap = task.minutes - back.minutes
                        if gap <= 0 or person not in back.allows:
                            continue
                        received = loads[other] + gap
                        if received < top:
                            candidate = (
                                max(top - gap, received),
                                task_id,
                                other,
                                back_id,
                            )
                            if best is None or candidate < best:
                                best = candidate
        if best is None:
            break  # the most loaded person cannot give anything away
        _score, task_id, other, back_id = best
        state.move(tasks[task_id], other)
        if back_id:
            state.move(tasks[back_id], person)
        budget -= 1
        heapq.heappush(heap, (-loads[person], person))
        heapq.heappush(heap, (-loads[other], other))


def _undo_needless_moves(
    state: _State, tasks: Mapping[int, _Task], start: Mapping[int, int]
) -> None:
    """Give tasks back to whoever had them where that leaves the loads as good:
    a task of no minutes, a task whose return does not raise the sum of squares,
    and two tasks of the same minutes that merely changed places."""
    loads = state.loads
    for task_id in sorted(state.assignment):
        now, before = state.assignment[task_id], start[task_id]
        minutes = tasks[task_id].minutes
        if now != before and (not minutes or loads[before] + minutes <= loads[now]):
            state.move(tasks[task_id], before)
    crossed: dict[tuple[int, int, int], list[int]] = defaultdict(list)
    for task_id in sorted(state.assignment):
        now, before = state.assignment[task_id], start[task_id]
        if now == before:
            continue
        minutes = tasks[task_id].minutes
        partners = crossed[(now, before, minutes)]
        if partners:
            partner = partners.pop()
            state.move(tasks[task_id], before)
            state.move(tasks[partner], now)
        else:
            crossed[(before, now, minutes)].append(task_id)


def _improve(
    state: _State, tasks: Mapping[int, _Task], start: Mapping[int, int]
) -> _State:
    budget = _spread(state, tasks, start)
    _relieve_the_most_loaded(state, tasks, budget)
    _undo_needless_moves(state, tasks, start)
    return state


def _water_level(fixed: Sequence[int], total: int) -> float:
    """The load everyone would reach if `total` minutes could be poured freely
    onto people already carrying `fixed` (those above it get nothing)."""
    ordered = sorted(fixed)
    poured = 0
    for count, level in enumerate(ordered, 1):
        poured += level
        height = (total + poured) / count
        if count == len(ordered) or height <= ordered[count]:
            return height
    return 0.0


def _assignment_problem(
    block: Sequence[_Task], start: Mapping[int, int], fixed_load: Mapping[int, int]
) -> dict[int, int]:
    """The convex slot model of `block` solved with `linear_sum_assignment`: slot
    k of person p costs `minutes × (fixed_p + k × mean minutes)`, so filling
    people in turn spreads the work, and a pair the candidates forbid costs
    infinity; the current assignee is half a slot cheaper (`KEEP_SLOTS`)."""
    people = sorted({p for task in block for p in task.allowed})
    index = {person: i for i, person in enumerate(people)}
    minutes = np.array([task.minutes for task in block], dtype=np.float64)
    total = int(minutes.sum())
    mean = max(1, round(total / len(block)))
    fixed = [fixed_load.get(person, 0) for person in people]
    level = _water_level(fixed, total)
    allowing: list[list[int]] = [[] for _ in people]
    for row, task in enumerate(block):
        for person in task.allowed:
            allowing[index[person]].append(row)
    handed: dict[int, int] = {}
    _least_loaded(block, dict(fixed_load), handed)
    used: dict[int, int] = defaultdict(int)
    for person in handed.values():
        used[person] += 1
    # Enough slots for every useful assignment: never fewer than the greedy
    # assignment uses (so a full assignment exists), room above the share the
    # water level suggests, never more than the tasks allowing the person.
    slots = [
        min(
            len(allowing[i]),
            max(used[person], math.ceil(1.5 * max(0.0, level - fixed[i]) / mean) + 2),
        )
        for i, person in enumerate(people)
    ]
    offsets = np.concatenate(([0], np.cumsum(slots))).astype(int)
    owner = np.repeat(np.arange(len(people)), slots)
    costs = np.full((len(block), int(offsets[-1])), np.inf)
    for i, rows in enumerate(allowing):
        values = fixed[i] + mean * np.arange(slots[i], dtype=np.float64)
        costs[np.ix_(rows, np.arange(offsets[i], offsets[i + 1]))] = np.outer(
            minutes[rows], values
        )
    for row, task in enumerate(block):
        i = index[start[task.id]]
        costs[row, offsets[i] : offsets[i + 1]] -= KEEP_SLOTS * mean * minutes[row]
    rows_found, columns = linear_sum_assignment(costs)
    return {
        block[row].id: people[owner[column]]
        for row, column in zip(rows_found.tolist(), columns.tolist(), strict=True)
    }


def _blocks(component: Sequence[_Task]) -> list[list[_Task]]:
    """The component cut into blocks of about `BLOCK_TASKS` tasks, tasks with the
    same candidates together (in the order of their candidates, so that
    neighbouring blocks share people)."""
    if len(component) <= BLOCK_TASKS:
        return [list(component)]
    groups: dict[tuple[int, ...], list[_Task]] = defaultdict(list)
    for task in component:
        groups[task.allowed].append(task)
    blocks: list[list[_Task]] = [[]]
    for allowed in sorted(groups):
        if blocks[-1] and len(blocks[-1]) + len(groups[allowed]) > BLOCK_TASKS:
            blocks.append([])
        blocks[-1].extend(groups[allowed])
    return blocks


def solve(
    tasks: Sequence[MovableTask], fixed_load: Mapping[int, int]
) -> dict[int, int]:
    """Whom each task should be assigned to so that load is spread as evenly as
    the candidates allow: {task id: person id} for every task with anyone
    allowed.

    Each connected component of the task–candidate graph is solved on its own
    (a large one in blocks, each given the rest): the assignment problem of the
    convex slot model (`linear_sum_assignment`), then local improvement — moves
    from more to less loaded people while the spread falls, and moves or swaps
    away from the most loaded person while that lowers them. The same
    improvement is run from the current assignment too, and the better result
    is taken. So the result never assigns outside a task's candidates and its
    current assignee, and never raises the maximum load (an unassigned task is
    measured as handed to the least loaded, as the policy would).
    `fixed_load` is each person's work that does not move. Deterministic.
    """
    chosen: dict[int, int] = {}
    for component in _components(_prepared(tasks)):
        by_id = {task.id: task for task in component}
        people = sorted({p for task in component for p in task.allowed})
        start = {t.id: t.current for t in component if t.current is not None}
        loads = {person: fixed_load.get(person, 0) for person in people}
        for task_id, person in start.items():
            loads[person] += by_id[task_id].minutes
        _least_loaded((t for t in component if t.current is None), loads, start)

        solved = dict(start)
        for block in _blocks(component):
            inside = {task.id for task in block}
            others = {person: fixed_load.get(person, 0) for person in people}
            for task_id, person in solved.items():
                if task_id not in inside:
                    others[person] += by_id[task_id].minutes
            solved.update(_assignment_problem(block, solved, others))
        spread = _improve(_State.of(solved, by_id, people, fixed_load), by_id, start)
        kept = _improve(_State.of(start, by_id, people, fixed_load), by_id, start)
        best = min((spread, kept), key=lambda state: state.score(start))
        chosen.update(best.assignment)
    return chosen


def loads_after(
    tasks: Sequence[MovableTask],
    fixed_load: Mapping[int, int],
    assignment: Mapping[int, int],
    people: Iterable[int] = (),
) -> dict[int, int]:
    """Everyone's load under `assignment` (tasks it leaves out stay with their
    current assignee): their fixed load plus the minutes of their tasks."""
    loads = {person: 0 for person in people}
    for person, minutes in fixed_load.items():
        loads[person] = loads.get(person, 0) + minutes
    for task in tasks:
        assignee = assignment.get(task.id, task.current)
        if assignee is not None:
            loads[assignee] = loads.get(assignee, 0) + task.minutes
    return loads


def max_load(loads: Mapping[int, int]) -> int:
    """The largest load (0 for nobody)."""
    return max(loads.values(), default=0)


# --- proposals ------------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _local_date(organisation: Organisation, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


def _role_of(unit: Party, user: User | None, day: dt.date) -> tuple[str | None, bool]:
    """(the user's role in the unit's organisation, whether they may rebalance
    it): administrators, and members holding the unit's head position (acting
    counts)."""
    if user is None or not user.is_active:
        return None, False
    role = (
        Membership.objects.filter(
            organisation_id=unit.organisation_id, user_id=user.pk, is_active=True
        )
        .values_list("role", flat=True)
        .first()
    )
    if role == Role.ADMIN:
        return role, True
    if role != Role.MEMBER or unit.head_position_id is None:
        return role, False
    heads = (
        Holding.objects.current(day)
        .filter(
            organisation_id=unit.organisation_id,
            position_id=unit.head_position_id,
            person__user_id=user.pk,
            person__organisation_id=unit.organisation_id,
            person__is_active=True,
        )
        .exists()
    )
    return role, heads


def may_rebalance(
    unit: Party, user: User | None, *, now: dt.datetime | None = None
) -> bool:
    """Whether the user may propose, apply and discard rebalancings of the unit:
    administrators and the holders of the unit's head position."""
    organisation = Organisation.objects.only("time_zone").get(pk=unit.organisation_id)
    return _role_of(unit, user, _local_date(organisation, _now(now)))[1]


def _require_rebalancer(unit: Party, actor: User, day: dt.date) -> None:
    role, allowed = _role_of(unit, actor, day)
    if role is None:
        raise NotFound()
    if not allowed:
        raise PermissionDenied(
            _(
                "Only administrators and the holders of the unit's head position "
                "can rebalance its tasks."
            )
        )


def _unit_tree(organisation_id: int, unit: Party) -> list[int]:
    """The unit and its active internal sub-units, every level."""
    children: dict[int | None, list[int]] = defaultdict(list)
    for pk, parent_id in Party.objects.filter(
        organisation_id=organisation_id,
        kind=PartyKind.INTERNAL_UNIT,
        is_active=True,
    ).values_list("pk", "parent_id"):
        children[parent_id].append(pk)
    order = [unit.pk]
    index = 0
    while index < len(order):
        order.extend(sorted(children.get(order[index], [])))
        index += 1
    return order


@dataclass(frozen=True, slots=True)
class _ReadyTask:
    id: int
    version: int
    run_id: int
    position_id: int
    duty_id: int | None
    minutes: int
    sort_order: int
    assignee_id: int


def _movable(organisation_id: int, units: Sequence[int]) -> list[_ReadyTask]:
    """The ready (not started) and assigned tasks of active runs whose
    responsible position belongs to the units."""
    return [
        _ReadyTask(*row)
        for row in Task.objects.filter(
            organisation_id=organisation_id,
            status=TaskStatus.READY,
            run__status=RunStatus.ACTIVE,
            responsible_position__party_id__in=list(units),
            assignee_id__isnull=False,
        )
        .order_by("id")
        .values_list(
            "id",
            "version",
            "run_id",
            "responsible_position_id",
            "step__duty_id",
            "duration_minutes",
            "sort_order",
            "assignee_id",
        )
    ]


def _json_loads(loads: Mapping[int, int]) -> dict[str, int]:
    return {str(person): loads[person] for person in sorted(loads)}


@dataclass(frozen=True, slots=True)
class Problem:
    """What a rebalancing of a unit works on: its movable tasks (with their
    versions), everyone's fixed load, and the people whose load is shown (the
    holders of the unit's positions and every candidate)."""

    tasks: tuple[MovableTask, ...]
    versions: Mapping[int, int]
    fixed_load: Mapping[int, int]
    people: frozenset[int]


def problem(unit: Party, *, now: dt.datetime | None = None) -> Problem:
    """Read what rebalancing the unit (and its active sub-units) works on: the
    ready (not started) and assigned tasks of active runs whose responsible
    position is in the unit, their candidates under the assignment policy
    (`assigning.candidates_for`: duty coverage and availability included), and
    each person's open work that does not move. A fixed number of queries; no
    rights checked (`propose` does)."""
    now = _now(now)
    organisation = Organisation.objects.only("pk", "time_zone").get(
        pk=unit.organisation_id
    )
    day = _local_date(organisation, now)
    units = _unit_tree(organisation.pk, unit)
    ready = _movable(organisation.pk, units)
    # Tasks of the same position, duty and length have the same candidates: ask
    # the policy once for each such kind of work.
    kinds = {(task.position_id, task.duty_id, task.minutes): task for task in ready}
    pools = (
        assigning.candidates_for(
            organisation.pk,
            [
                ReadyWork(
                    key=task.id,
                    run_id=task.run_id,
                    position_id=task.position_id,
                    party_id=None,
                    duty_id=task.duty_id,
                    duration_minutes=task.minutes,
                    sort_order=task.sort_order,
                )
                for task in kinds.values()
            ],
            now=now,
        )
        if ready
        else {}
    )
    eligible = {
        kind: tuple(c.person_id for c in pools.get(task.id, ()) if c.eligible)
        for kind, task in kinds.items()
    }
    movable = tuple(
        MovableTask(
            id=task.id,
            minutes=task.minutes,
            current=task.assignee_id,
            candidates=eligible[(task.position_id, task.duty_id, task.minutes)],
        )
        for task in ready
    )
    people = set(
        Holding.objects.current(day)
        .filter(
            organisation_id=organisation.pk,
            position__party_id__in=units,
            person__is_active=True,
        )
        .values_list("person_id", flat=True)
    )
    for task in movable:
        people.update(task.allowed)
    open_work = assigning.open_loads(organisation.pk, people)
    moving: dict[int, int] = defaultdict(int)
    for task in movable:
        moving[task.current or 0] += task.minutes
    return Problem(
        tasks=movable,
        versions={task.id: task.version for task in ready},
        fixed_load={
            person: max(0, open_work[person][0] - moving.get(person, 0))
            for person in people
        },
        people=frozenset(people),
    )


@transaction.atomic
def propose(
    unit: Party, *, actor: User, now: dt.datetime | None = None
) -> RebalanceProposal:
    """Propose moving the unit's ready tasks (its sub-units' included) so that
    the load is spread more evenly, each only to one of its candidates under the
    assignment policy (or keeping its assignee), never raising the maximum load.

    Started work does not move: it counts, with everything else the people carry
    elsewhere, as their fixed load. The proposal keeps the moves (with each
    task's version, so `apply` can tell whether it changed), everyone's load
    before and after and the Gini coefficients. Administrators and the holders
    of the unit's head position; audited `created`.
    """
    now = _now(now)
    unit = Party.objects.select_related("organisation").get(pk=unit.pk)
    organisation = unit.organisation
    _require_rebalancer(unit, actor, _local_date(organisation, now))
    if unit.kind != PartyKind.INTERNAL_UNIT or not unit.is_active:
        raise ValidationFailed(
            {"unit": [_("Only the work of an active internal unit is rebalanced.")]}
        )
    work = problem(unit, now=now)
    plan = solve(work.tasks, work.fixed_load)
    before = loads_after(work.tasks, work.fixed_load, {}, work.people)
    after = loads_after(work.tasks, work.fixed_load, plan, work.people)
    moves = [
        {
            "task": task.id,
            "task_version": work.versions[task.id],
            "from": task.current,
            "to": plan[task.id],
            "minutes": task.minutes,
            "candidates": list(task.allowed),
        }
        for task in work.tasks
        if plan.get(task.id, task.current) != task.current
    ]
    proposal = RebalanceProposal.objects.create(
        organisation=organisation,
        unit=unit,
        moves=moves,
        load_before=_json_loads(before),
        load_after=_json_loads(after),
        gini_before=gini(before.values()),
        gini_after=gini(after.values()),
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=proposal,
        changes={
            "unit": unit.pk,
            "tasks": len(work.tasks),
            "moves": len(moves),
            "max_load": [max_load(before), max_load(after)],
            "gini": [proposal.gini_before, proposal.gini_after],
        },
    )
    return proposal


def _decide(
    proposal: RebalanceProposal,
    actor: User,
    expected_version: int | None,
    now: dt.datetime,
) -> RebalanceProposal:
    """The proposal locked at the version the caller saw, for its decision by
    someone who may; still proposed."""
    proposal = RebalanceProposal.objects.select_related("organisation", "unit").get(
        pk=proposal.pk
    )
    _require_rebalancer(proposal.unit, actor, _local_date(proposal.organisation, now))
    lock_current(proposal, expected_version=expected_version)
    if proposal.status != RebalanceStatus.PROPOSED:
        raise ValidationFailed(
            {
                "status": [
                    _("This proposal is already %(status)s.")
                    % {"status": proposal.get_status_display()}
                ]
            },
            code="decided",
        )
    return proposal


def _changed() -> Conflict:
    return Conflict(
        _(
            "Some of these tasks changed since the proposal was made (started, "
            "finished or reassigned). Nothing was moved; propose again."
        )
    )


@transaction.atomic
def apply(
    proposal: RebalanceProposal,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> RebalanceProposal:
    """Move every task of the proposal in one transaction, or none.

    Each task must still be ready, at the version the proposal saw, with the
    same assignee, in an active run, and its new assignee still active; any
    change is a `Conflict` and nothing is written. Each task is reassigned by
    compare-and-set with an `Assignment` of kind rebalanced; one audit event
    `rebalanced` on the proposal; each new assignee is notified
    (`task.assigned`).
    """
    now = _now(now)
    proposal = _decide(proposal, actor, expected_version, now)
    organisation = proposal.organisation
    moves = list(proposal.moves)
    ids = [move["task"] for move in moves]
    tasks = {
        task.pk: task
        # Locked in id order (PostgreSQL; SQLite writers queue), so the check
        # below holds until the end of the transaction.
        for task in Task.objects.select_for_update(of=("self",))
        .filter(pk__in=ids)
        .order_by("id")
        .select_related("run")
        .only(
            "id",
            "name",
            "version",
            "status",
            "assignee_id",
            "responsible_position_id",
            "run__id",
            "run__title",
            "run__status",
        )
    }
    receivers = {move["to"] for move in moves}
    active = set(
        Person.objects.filter(
            pk__in=receivers, organisation_id=organisation.pk, is_active=True
        ).values_list("pk", flat=True)
    )
    for move in moves:
        task = tasks.get(move["task"])
        if (
            task is None
            or task.version != move["task_version"]
            or task.status != TaskStatus.READY
            or task.assignee_id != move["from"]
            or task.run.status != RunStatus.ACTIVE
            or move["to"] not in active
        ):
            raise _changed()
    for move in moves:
        # Compare-and-set: a transition that slipped in since the check wins,
        # and everything written so far is rolled back with the Conflict.
        updated = Task.objects.filter(
            pk=move["task"],
            version=move["task_version"],
            status=TaskStatus.READY,
            assignee_id=move["from"],
        ).update(assignee_id=move["to"], version=F("version") + 1, updated_at=now)
        if updated != 1:
            raise _changed()
    before = proposal.load_before
    Assignment.objects.bulk_create(
        [
            Assignment(
                organisation_id=organisation.pk,
                task_id=move["task"],
                position_id=tasks[move["task"]].responsible_position_id,
                person_id=move["to"],
                previous_person_id=move["from"],
                kind=AssignmentKind.REBALANCED,
                outcome=AssignmentOutcome.CHOSEN,
                candidates=[
                    {"person": person, "load": before.get(str(person), 0)}
                    for person in move.get("candidates", [move["from"], move["to"]])
                ],
                minutes=move["minutes"],
                assigned_by=actor,
                created_at=now,
            )
            for move in moves
        ],
        batch_size=500,
    )
    compare_and_set(
        proposal,
        expected_version=expected_version,
        fields={
            "status": RebalanceStatus.APPLIED,
            "decided_by": actor,
            "decided_at": now,
            "updated_at": now,
        },
    )
    _tell_new_assignees(proposal, moves, tasks, now)
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.REBALANCED,
        target=proposal,
        changes={
            "status": [RebalanceStatus.PROPOSED, RebalanceStatus.APPLIED],
            "moves": [[m["task"], m["from"], m["to"]] for m in moves],
        },
    )
    return proposal


def _tell_new_assignees(
    proposal: RebalanceProposal,
    moves: Sequence[Mapping[str, Any]],
    tasks: Mapping[int, Task],
    now: dt.datetime,
) -> None:
    """One notification per new assignee: the task (one) or how many (several)."""
    from rantai.notifications import events
    from rantai.notifications import services as notifications

    organisation = proposal.organisation
    received: dict[int, list[int]] = defaultdict(list)
    for move in moves:
        received[move["to"]].append(move["task"])
    users = {
        person.pk: person.user
        for person in Person.objects.filter(
            pk__in=list(received), user__isnull=False
        ).select_related("user")
        if person.user is not None
    }
    for person_id in sorted(users):
        task_ids = received[person_id]
        if len(task_ids) == 1:
            task = tasks[task_ids[0]]
            title: Any = format_lazy(
                gettext_lazy("Task moved to you to even out the workload: {task}"),
                task=task.name,
            )
            body: Any = format_lazy(gettext_lazy("Run: {run}"), run=task.run.title)
            url = f"/o/{organisation.slug}/tasks/{task.pk}/#assignment"
        else:
            title = ngettext_lazy(
                "%(count)d task was moved to you to even out the workload",
                "%(count)d tasks were moved to you to even out the workload",
                "count",
            ) % {"count": len(task_ids)}
            body = ""
            url = f"/o/{organisation.slug}/focus/"
        notifications.notify(
            organisation,
            recipients=[users[person_id]],
            event_type=events.TASK_ASSIGNED,
            key=f"rebalance:{proposal.pk}:person:{person_id}",
            title=title,
            body=body,
            url=url,
            now=now,
        )


@transaction.atomic
def discard(
    proposal: RebalanceProposal,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> RebalanceProposal:
    """Set a proposal aside without moving anything (the same people as for
    applying it); audited `cancelled`."""
    now = _now(now)
    proposal = _decide(proposal, actor, expected_version, now)
    compare_and_set(
        proposal,
        expected_version=expected_version,
        fields={
            "status": RebalanceStatus.DISCARDED,
            "decided_by": actor,
            "decided_at": now,
            "updated_at": now,
        },
    )
    audit.record(
        proposal.organisation,
        actor=actor,
        verb=AuditVerb.CANCELLED,
        target=proposal,
        changes={"status": [RebalanceStatus.PROPOSED, RebalanceStatus.DISCARDED]},
    )
    return proposal
