"""Batch rebalancing (docs/design-roles.md, "Rebalancing"): the solver on exact
small cases and as a property (never outside the candidates, never a higher
maximum load), then proposing, applying and discarding against the database,
with the conflict path and who may."""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from dataclasses import dataclass
from decimal import Decimal
from typing import Any
from unittest import mock

import pytest
from django.db import connection
from hypothesis import given, settings
from hypothesis import strategies as st

from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import services as chains
from rantai.chains.models import DurationUnit, Run, Task, TaskStatus
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.notifications.models import Notification
from rantai.org import services as org
from rantai.org.models import Person, Position
from rantai.roles import assigning, rebalancing
from rantai.roles.models import (
    Assignment,
    AssignmentKind,
    RebalanceProposal,
    RebalanceStatus,
)
from rantai.roles.rebalancing import MovableTask, greedy, loads_after, max_load, solve
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg, make_user

D = Decimal
A, B, C = 1, 2, 3


def task(pk: int, minutes: int, current: int | None, *candidates: int) -> MovableTask:
    return MovableTask(pk, minutes, current, tuple(candidates))


# --- the solver: exact cases ----------------------------------------------------------


def test_work_moves_from_the_most_loaded_until_even():
    """A carries 120, 60 and 30 (210), B 30 of fixed work. The only even split
    (120 each) keeps the 120 with A and gives B the 60 and the 30."""
    tasks = [task(1, 120, A, A, B), task(2, 60, A, A, B), task(3, 30, A, A, B)]
    assert solve(tasks, {B: 30}) == {1: A, 2: B, 3: B}


def test_a_swap_when_no_single_move_helps():
    """A: a 100-minute task and 50 fixed (150); B: a 60-minute task (60). Moving
    either task alone raises the maximum (160, 210); swapping them gives 110 and
    100."""
    tasks = [task(1, 100, A, A, B), task(2, 60, B, A, B)]
    assert solve(tasks, {A: 50}) == {1: B, 2: A}


def test_nothing_moves_when_nothing_is_better():
    tasks = [task(1, 60, A, A, B), task(2, 60, B, A, B)]
    assert solve(tasks, {}) == {1: A, 2: B}


def test_a_task_only_its_assignee_may_do_stays():
    """No candidate (the duty is covered by nobody): the current assignee is
    the only one allowed, however loaded."""
    tasks = [task(1, 60, A), task(2, 60, A, A, B)]
    assert solve(tasks, {A: 500}) == {1: A, 2: B}


def test_the_current_assignee_stays_allowed_outside_the_candidates():
    """C was given the task as an override; moving it to A (500 fixed) would raise
    the maximum, so it stays with C."""
    assert solve([task(1, 60, C, A)], {A: 500}) == {1: C}


def test_an_unassigned_task_goes_to_the_least_loaded_and_nobody_is_left_out():
    tasks = [task(1, 60, None, A, B), task(2, 60, None)]
    assert solve(tasks, {A: 100, B: 30}) == {1: B}


def test_components_are_solved_on_their_own():
    """A and B share one position's tasks, C and D another's."""
    D_ = 4
    tasks = [
        task(1, 90, A, A, B),
        task(2, 90, A, A, B),
        task(3, 30, C, C, D_),
        task(4, 30, C, C, D_),
    ]
    assert solve(tasks, {}) == {1: A, 2: B, 3: C, 4: D_}


def test_the_assignment_problem_is_refused_when_it_raises_the_maximum():
    """Now: A 50, B 240 (task 3), C 260 (200 fixed and task 2). The slot model
    puts tasks 2 and 3 on B (300); the improvement can only bring that down to
    290 (task 3 to A): worse than today's 260, so nothing moves."""
    tasks = [task(1, 0, C, A, B, C), task(2, 60, C, B, C), task(3, 240, B, A, C)]
    fixed = {A: 50, C: 200}
    prepared = rebalancing._prepared(tasks)
    slots = rebalancing._assignment_problem(
        prepared, {t.id: t.current for t in tasks}, fixed
    )
    assert max_load(loads_after(tasks, fixed, slots, [A, B, C])) == 300
    assert solve(tasks, fixed) == {1: C, 2: C, 3: B}


def test_a_task_of_no_minutes_never_moves():
    tasks = [task(1, 0, A, A, B), task(2, 0, B, A, B), task(3, 120, A, A, B)]
    assert solve(tasks, {A: 300}) == {1: A, 2: B, 3: B}


def test_greedy_gives_the_longest_task_first_to_the_least_loaded():
    tasks = [
        task(1, 60, A, A, B, C),
        task(2, 240, A, A, B, C),
        task(3, 60, A, A, B, C),
        task(4, 120, A, A, B, C),
    ]
    assert greedy(tasks, {}) == {2: A, 4: B, 1: C, 3: C}


def test_loads_after_counts_fixed_work_and_tasks():
    tasks = [task(1, 60, A, A, B), task(2, 30, B, A, B)]
    assert loads_after(tasks, {A: 10}, {1: B}, people=[A, B, C]) == {
        A: 10,
        B: 90,
        C: 0,
    }
    assert max_load({}) == 0


# --- the solver: properties ----------------------------------------------------------


@st.composite
def instances(draw):  # type: ignore[no-untyped-def]
    """Up to 6 people and 14 tasks; each task has an assignee (as `propose` gives
    them) and any candidates, the assignee among them or not."""
    people = list(range(1, draw(st.integers(1, 6)) + 1))
    rows = draw(
        st.lists(
            st.tuples(
                st.integers(0, 480),
                st.sampled_from(people),
                st.lists(st.sampled_from(people), unique=True),
            ),
            max_size=14,
        )
    )
    tasks = [
        MovableTask(index, minutes, current, tuple(candidates))
        for index, (minutes, current, candidates) in enumerate(rows, 1)
    ]
    fixed = draw(st.dictionaries(st.sampled_from(people), st.integers(0, 900)))
    return people, tasks, fixed


def _check(people, tasks, fixed) -> dict[int, int]:  # type: ignore[no-untyped-def]
    result = solve(tasks, fixed)
    assert sorted(result) == [t.id for t in tasks]
    for moved in tasks:
        assert result[moved.id] in set(moved.candidates) | {moved.current}
    before = loads_after(tasks, fixed, {}, people)
    after = loads_after(tasks, fixed, result, people)
    assert max_load(after) <= max_load(before)
    assert sum(after.values()) == sum(before.values())
    return result


@settings(max_examples=300, deadline=None)
@given(instances())
def test_never_outside_the_candidates_never_a_higher_maximum(instance):
    people, tasks, fixed = instance
    result = _check(people, tasks, fixed)
    # The same data in another order gives the same answer.
    assert solve(list(reversed(tasks)), dict(reversed(fixed.items()))) == result


@settings(max_examples=150, deadline=None)
@given(instances())
def test_the_same_holds_when_a_component_is_solved_in_blocks(instance):
    people, tasks, fixed = instance
    with mock.patch.object(rebalancing, "BLOCK_TASKS", 3):
        _check(people, tasks, fixed)


# --- proposing and applying ----------------------------------------------------------


@dataclass
class Team:
    """The Shipping clerk position (SHIP-CLK) of Export, held by Ani, Bayu and
    Citra (members, in that order of id); the Pricing officer (PRC) has the duty
    "Quote price" and no holder. Rina holds the Head of export, Export's head
    position; Budi (Export clerk, no login) has no open work.

    One run, started at T0, of six clerk steps without dependencies: t1 (4 working
    hours), t2 (2 h), t3, t4 (1 h each) given to Ani by hand; t5 (1 h, the
    pricing duty, so nobody is a candidate) given to Ani as an override; t6 (1 h)
    given to Citra, who started it. Before: Ani 540 minutes, Citra 60, Bayu,
    Rina and Budi nothing."""

    o: SmallOrg
    clerk: Position
    ani: Person
    bayu: Person
    citra: Person
    run: Run

    def task(self, key: str) -> Task:
        return Task.objects.get(run=self.run, key=key)


@pytest.fixture(autouse=True)
def registry() -> Iterator[None]:
    with f.assigning_registry():
        yield


@pytest.fixture
def team(db) -> Team:  # type: ignore[no-untyped-def]
    o = f.organisation()
    org.update_party(
        o.export, actor=o.admin, expected_version=None, head_position=o.export_head
    )
    clerk = f.position(o, party=o.export, title="Shipping clerk", code="SHIP-CLK")
    pricing = f.position(
        o, party=o.export, title="Pricing officer", code="PRC", duties=["Quote price"]
    )
    ani, bayu, citra = (f.person(o, name) for name in ("ani", "bayu", "citra"))
    for someone in (ani, bayu, citra):
        f.hold(o, clerk, someone)
    hours = DurationUnit.WORKING_HOURS

    def step(key: str, length: str, **extra):  # type: ignore[no-untyped-def]
        return f.StepRow(
            key,
            responsible=clerk,
            accountable=o.export_head,
            days=length,
            unit=hours,
            **extra,
        )

    version = f.procedure(
        o,
        [
            step("t1", "4"),
            step("t2", "2"),
            step("t3", "1"),
            step("t4", "1"),
            step("t5", "1", duty=f.duty_of(pricing, "Quote price")),
            step("t6", "1"),
        ],
    )
    run = f.start_run(version, actor=o.admin)
    owners = {"t1": ani, "t2": ani, "t3": ani, "t4": ani, "t5": ani, "t6": citra}
    for key, someone in owners.items():
        current = Task.objects.get(run=run, key=key)
        if current.assignee_id == someone.pk:
            continue
        assigning.assign_task(
            current,
            actor=o.admin,
            person=someone,
            reason="The client asked for Ani" if key == "t5" else "",
            expected_version=current.version,
            now=f.at(1),
        )
    started = Task.objects.get(run=run, key="t6")
    chains.start_task(
        started, actor=f.user_of(citra), expected_version=started.version, now=f.at(2)
    )
    return Team(o, clerk, ani, bayu, citra, run)


def _state(team: Team) -> tuple:
    """Everything applying a proposal writes, to show a refusal wrote nothing."""
    return (
        list(
            Task.objects.filter(run=team.run)
            .order_by("id")
            .values_list("key", "assignee_id", "version", "status")
        ),
        Assignment.objects.count(),
        AuditEvent.objects.count(),
        Notification.objects.count(),
        list(RebalanceProposal.objects.order_by("id").values("status", "version")),
    )


def test_propose_moves_the_fewest_tasks_that_even_out_the_load(team):
    """Before: Ani 540 (240, 120, 60, 60 and the pinned 60), Citra 60 (started,
    fixed), Bayu, Rina, Budi 0. The maximum cannot fall below 240 (t1 alone);
    the even split around it moves t1 to Bayu and t2 to Citra: Ani 180, Bayu
    240, Citra 180. Gini before (0, 0, 0, 60, 540): 2·2940/(5·600) − 6/5 =
    0.76; after (0, 0, 180, 180, 240): 2·2460/3000 − 1.2 = 0.44."""
    o = team.o
    before = _state(team)
    proposal = rebalancing.propose(o.export, actor=o.member, now=f.at(10))
    t1, t2 = team.task("t1"), team.task("t2")
    assert proposal.moves == [
        {
            "task": t1.pk,
            "task_version": t1.version,
            "from": team.ani.pk,
            "to": team.bayu.pk,
            "minutes": 240,
            "candidates": [team.ani.pk, team.bayu.pk, team.citra.pk],
        },
        {
            "task": t2.pk,
            "task_version": t2.version,
            "from": team.ani.pk,
            "to": team.citra.pk,
            "minutes": 120,
            "candidates": [team.ani.pk, team.bayu.pk, team.citra.pk],
        },
    ]
    rina, budi = o.rina.pk, o.budi.pk
    assert proposal.load_before == {
        str(pk): minutes
        for pk, minutes in sorted(
            {
                team.ani.pk: 540,
                team.bayu.pk: 0,
                team.citra.pk: 60,
                rina: 0,
                budi: 0,
            }.items()
        )
    }
    assert proposal.load_after == {
        str(pk): minutes
        for pk, minutes in sorted(
            {
                team.ani.pk: 180,
                team.bayu.pk: 240,
                team.citra.pk: 180,
                rina: 0,
                budi: 0,
            }.items()
        )
    }
    assert (proposal.gini_before, proposal.gini_after) == (D("0.7600"), D("0.4400"))
    assert (proposal.status, proposal.created_by, proposal.unit) == (
        RebalanceStatus.PROPOSED,
        o.member,
        o.export,
    )
    event = AuditEvent.objects.order_by("-sequence").first()
    assert (event.verb, event.target_id, event.changes) == (
        AuditVerb.CREATED,
        str(proposal.pk),
        {
            "unit": o.export.pk,
            "tasks": 5,
            "moves": 2,
            "max_load": [540, 240],
            "gini": ["0.7600", "0.4400"],
        },
    )
    # Proposing moves nothing yet.
    after = _state(team)
    assert after[0] == before[0]
    assert after[1:3] == (before[1], before[2] + 1)


def test_apply_reassigns_records_audits_and_notifies(team):
    o = team.o
    proposal = rebalancing.propose(o.export, actor=o.admin, now=f.at(10))
    versions = {key: team.task(key).version for key in ("t1", "t2", "t3")}
    events = AuditEvent.objects.count()
    applied = rebalancing.apply(
        proposal, actor=o.member, expected_version=proposal.version, now=f.at(20)
    )
    assert (
        applied.status,
        applied.decided_by,
        applied.decided_at,
        applied.version,
    ) == (
        RebalanceStatus.APPLIED,
        o.member,
        f.at(20),
        2,
    )
    t1, t2, t3 = team.task("t1"), team.task("t2"), team.task("t3")
    assert (t1.assignee_id, t1.version) == (team.bayu.pk, versions["t1"] + 1)
    assert (t2.assignee_id, t2.version) == (team.citra.pk, versions["t2"] + 1)
    assert (t3.assignee_id, t3.version) == (team.ani.pk, versions["t3"])
    records = list(
        Assignment.objects.filter(kind=AssignmentKind.REBALANCED)
        .order_by("task_id")
        .values_list(
            "task_id",
            "person_id",
            "previous_person_id",
            "minutes",
            "assigned_by_id",
            "position_id",
        )
    )
    assert records == [
        (t1.pk, team.bayu.pk, team.ani.pk, 240, o.member.pk, team.clerk.pk),
        (t2.pk, team.citra.pk, team.ani.pk, 120, o.member.pk, team.clerk.pk),
    ]
    assert assigning.current(t1.pk).kind == AssignmentKind.REBALANCED
    (event,) = AuditEvent.objects.filter(sequence__gt=0).order_by("-sequence")[:1]
    assert AuditEvent.objects.count() == events + 1
    assert (event.verb, event.target_id, event.changes) == (
        AuditVerb.REBALANCED,
        str(proposal.pk),
        {
            "status": ["proposed", "applied"],
            "moves": [
                [t1.pk, team.ani.pk, team.bayu.pk],
                [t2.pk, team.ani.pk, team.citra.pk],
            ],
        },
    )
    told = list(
        Notification.objects.filter(key__startswith="rebalance:")
        .order_by("recipient_id")
        .values_list("recipient_id", "event_type", "title", "url")
    )
    slug = o.organisation.slug
    assert told == [
        (
            team.bayu.user_id,
            "task.assigned",
            "Task moved to you to even out the workload: T1",
            f"/o/{slug}/tasks/{t1.pk}/#assignment",
        ),
        (
            team.citra.user_id,
            "task.assigned",
            "Task moved to you to even out the workload: T2",
            f"/o/{slug}/tasks/{t2.pk}/#assignment",
        ),
    ]


def test_apply_refuses_when_a_task_changed_and_writes_nothing(team):
    """Ani starts t1 after the proposal: it is no longer ready, so nothing of the
    proposal is applied (not even t2, which did not change)."""
    o = team.o
    proposal = rebalancing.propose(o.export, actor=o.admin, now=f.at(10))
    t1 = team.task("t1")
    chains.start_task(
        t1, actor=f.user_of(team.ani), expected_version=t1.version, now=f.at(15)
    )
    before = _state(team)
    with pytest.raises(Conflict, match="Nothing was moved"):
        rebalancing.apply(
            proposal, actor=o.admin, expected_version=proposal.version, now=f.at(20)
        )
    assert _state(team) == before


def test_apply_refuses_a_task_reassigned_in_between(team):
    o = team.o
    proposal = rebalancing.propose(o.export, actor=o.admin, now=f.at(10))
    t2 = team.task("t2")
    assigning.assign_task(
        t2,
        actor=o.admin,
        person=team.bayu,
        expected_version=t2.version,
        now=f.at(12),
    )
    before = _state(team)
    with pytest.raises(Conflict):
        rebalancing.apply(
            proposal, actor=o.admin, expected_version=proposal.version, now=f.at(20)
        )
    assert _state(team) == before


def test_apply_refuses_a_stale_proposal_version(team):
    o = team.o
    proposal = rebalancing.propose(o.export, actor=o.admin, now=f.at(10))
    before = _state(team)
    with pytest.raises(Conflict):
        rebalancing.apply(
            proposal, actor=o.admin, expected_version=proposal.version + 1
        )
    assert _state(team) == before


def test_discard_moves_nothing_and_a_decided_proposal_stays_decided(team):
    o = team.o
    proposal = rebalancing.propose(o.export, actor=o.admin, now=f.at(10))
    tasks_before = _state(team)[0]
    discarded = rebalancing.discard(
        proposal, actor=o.admin, expected_version=proposal.version, now=f.at(11)
    )
    assert (discarded.status, discarded.decided_by, discarded.version) == (
        RebalanceStatus.DISCARDED,
        o.admin,
        2,
    )
    event = AuditEvent.objects.order_by("-sequence").first()
    assert (event.verb, event.changes) == (
        AuditVerb.CANCELLED,
        {"status": ["proposed", "discarded"]},
    )
    assert _state(team)[0] == tasks_before
    before = _state(team)
    with pytest.raises(ValidationFailed, match="already discarded"):
        rebalancing.apply(discarded, actor=o.admin, expected_version=discarded.version)
    with pytest.raises(ValidationFailed):
        rebalancing.discard(
            discarded, actor=o.admin, expected_version=discarded.version
        )
    assert _state(team) == before


def test_only_admins_and_the_unit_head_may_rebalance(team):
    o = team.o
    clerk_user = f.user_of(team.ani)  # a member, not the head
    outsider = make_user("outsider")
    before = _state(team)
    for refused in (clerk_user, o.auditor, o.partner):
        with pytest.raises(PermissionDenied):
            rebalancing.propose(o.export, actor=refused, now=f.at(10))
    with pytest.raises(NotFound):
        rebalancing.propose(o.export, actor=outsider, now=f.at(10))
    assert _state(team) == before
    # Rina heads Export, not the head office.
    assert rebalancing.may_rebalance(o.export, o.member, now=f.at(10)) is True
    assert rebalancing.may_rebalance(o.head_office, o.member, now=f.at(10)) is False
    assert rebalancing.may_rebalance(o.export, clerk_user, now=f.at(10)) is False
    assert rebalancing.may_rebalance(o.head_office, o.admin, now=f.at(10)) is True

    proposal = rebalancing.propose(o.export, actor=o.member, now=f.at(10))
    before = _state(team)
    for refused in (clerk_user, o.auditor):
        with pytest.raises(PermissionDenied):
            rebalancing.apply(proposal, actor=refused, expected_version=1)
        with pytest.raises(PermissionDenied):
            rebalancing.discard(proposal, actor=refused, expected_version=1)
    with pytest.raises(NotFound):
        rebalancing.apply(proposal, actor=outsider, expected_version=1)
    assert _state(team) == before


def test_only_an_active_internal_unit_is_rebalanced(team):
    o = team.o
    with pytest.raises(ValidationFailed, match="active internal unit"):
        rebalancing.propose(o.forwarder, actor=o.admin, now=f.at(10))
    assert not RebalanceProposal.objects.exists()


def test_a_unit_without_ready_work_proposes_no_moves(team):
    o = team.o
    proposal = rebalancing.propose(o.warehouse, actor=o.admin, now=f.at(10))
    assert (proposal.moves, proposal.load_before, proposal.load_after) == ([], {}, {})
    assert (proposal.gini_before, proposal.gini_after) == (D("0.0000"), D("0.0000"))
    applied = rebalancing.apply(proposal, actor=o.admin, expected_version=1)
    assert applied.status == RebalanceStatus.APPLIED


def test_only_ready_tasks_of_active_runs_move(team):
    """The run is suspended: its ready tasks cannot change, so nothing moves."""
    o = team.o
    run = team.run
    chains.suspend_run(
        run, actor=o.admin, expected_version=run.version, reason="Stock count"
    )
    proposal = rebalancing.propose(o.export, actor=o.admin, now=f.at(10))
    assert proposal.moves == []
    # Citra's started task and Ani's five still count as their load.
    assert proposal.load_before[str(team.ani.pk)] == 540
    assert proposal.load_before[str(team.citra.pk)] == 60
    assert proposal.load_after == proposal.load_before
    assert TaskStatus.READY in {t.status for t in Task.objects.filter(run=run)}


# --- races (PostgreSQL: real threads, real transactions) --------------------------------

needs_postgresql = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: real threads share the test database only there "
    "(the SQLite test database is in memory, one per connection)",
)


def run_in_threads(work: Callable[[int], Any], count: int) -> list[Any]:
    """Run `work(i)` in `count` threads started together; results (or errors)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = work(index)
        except BaseException as error:  # inspected by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=120)
    return results


@pytest.mark.postgres_only
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_two_people_applying_one_proposal_at_once(team):
    o = team.o
    proposal = rebalancing.propose(o.export, actor=o.admin, now=f.at(10))
    actors = (o.admin, o.member)

    def apply(index: int) -> Any:
        return rebalancing.apply(
            RebalanceProposal.objects.get(pk=proposal.pk),
            actor=actors[index],
            expected_version=1,
            now=f.at(20),
        )

    results = run_in_threads(apply, 2)

    assert sorted(type(r).__name__ for r in results) == [
        "Conflict",
        "RebalanceProposal",
    ]
    assert Assignment.objects.filter(kind=AssignmentKind.REBALANCED).count() == 2
    assert (
        AuditEvent.objects.filter(
            verb=AuditVerb.REBALANCED, target_id=str(proposal.pk)
        ).count()
        == 1
    )
    assert team.task("t1").assignee_id == team.bayu.pk


@pytest.mark.postgres_only
@needs_postgresql
@pytest.mark.django_db(transaction=True)
def test_applying_while_the_assignee_starts_a_task(team):
    """Exactly one wins: either t1 is started by Ani and nothing of the proposal
    is applied, or the proposal is applied and Ani's start is refused."""
    o = team.o
    proposal = rebalancing.propose(o.export, actor=o.admin, now=f.at(10))
    t1 = team.task("t1")
    ani = f.user_of(team.ani)

    def act(index: int) -> Any:
        if index == 0:
            return rebalancing.apply(
                RebalanceProposal.objects.get(pk=proposal.pk),
                actor=o.admin,
                expected_version=1,
                now=f.at(20),
            )
        return chains.start_task(
            Task.objects.get(pk=t1.pk), actor=ani, expected_version=t1.version
        )

    applied, started = run_in_threads(act, 2)

    t1.refresh_from_db()
    rebalanced = Assignment.objects.filter(kind=AssignmentKind.REBALANCED).count()
    if isinstance(applied, RebalanceProposal):
        assert isinstance(started, Conflict)
        assert (t1.status, t1.assignee_id, rebalanced) == (
            TaskStatus.READY,
            team.bayu.pk,
            2,
        )
    else:
        assert isinstance(applied, Conflict)
        assert isinstance(started, Task)
        assert (t1.status, t1.assignee_id, rebalanced) == (
            TaskStatus.IN_PROGRESS,
            team.ani.pk,
            0,
        )
        assert team.task("t2").assignee_id == team.ani.pk
