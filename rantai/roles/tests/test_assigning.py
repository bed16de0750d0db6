"""Fair assignment (docs/design-roles.md, "The assignment policy"): who the engine
gives a ready task to, why, and manual (re)assignment.

The team (acme, see factories): the Shipping clerk position (SHIP-CLK, five
holders at most, duty "Book freight") held by Ani, Bayu and Citra (members, in
that order of person id); the Pricing officer (PRC, duty "Quote price") held by
Citra. The procedure's owner and every step's accountable is the Head of export
(Rina). Runs start at T0, Monday 2 March 2026 08:00 in Jakarta; a working day is
08:00-16:00.
"""

from __future__ import annotations

import datetime as dt
import random
from collections.abc import Iterator
from dataclasses import dataclass

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.audit.models import AuditVerb
from rantai.chains import services as chains
from rantai.chains.extensions import AssignmentChoice, ReadyWork
from rantai.chains.models import ProcedureVersion, Run, Task, TaskStatus
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.notifications.models import Notification
from rantai.org import services as org
from rantai.org.models import Person, Position
from rantai.roles import assigning, policy
from rantai.roles.assigning import Candidate
from rantai.roles.models import (
    Assignment,
    AssignmentKind,
    AssignmentOutcome,
    AssignmentRule,
)
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg, make_user

# --- fixtures ---------------------------------------------------------------------


@pytest.fixture(autouse=True)
def registry() -> Iterator[None]:
    """Only the assignment policy takes part in the engine during these tests."""
    with f.assigning_registry():
        yield


@dataclass
class Team:
    o: SmallOrg
    clerk: Position
    pricing: Position
    ani: Person
    bayu: Person
    citra: Person

    @property
    def ids(self) -> tuple[int, int, int]:
        return (self.ani.pk, self.bayu.pk, self.citra.pk)


@pytest.fixture
def team(db) -> Team:  # type: ignore[no-untyped-def]
    o = f.organisation()
    clerk = f.position(
        o, party=o.export, title="Shipping clerk", code="SHIP-CLK", duties=["Book"]
    )
    pricing = f.position(
        o, party=o.export, title="Pricing officer", code="PRC", duties=["Quote price"]
    )
    ani, bayu, citra = (f.person(o, name) for name in ("ani", "bayu", "citra"))
    for someone in (ani, bayu, citra):
        f.hold(o, clerk, someone)
    f.hold(o, pricing, citra)
    return Team(o, clerk, pricing, ani, bayu, citra)


def booking(
    team: Team,
    *,
    code: str = "BOOK",
    days: str = "1",
    duty: str | None = "Book",
    duty_of: Position | None = None,
    responsible: Position | None = None,
) -> ProcedureVersion:
    """One step "book" of the clerk (by default with the clerk's duty "Book")."""
    return f.procedure(
        team.o,
        [
            f.StepRow(
                "book",
                responsible=responsible or team.clerk,
                accountable=team.o.export_head,
                duty=f.duty_of(duty_of or team.clerk, duty) if duty else None,
                days=days,
            )
        ],
        code=code,
    )


def run_of(version: ProcedureVersion, team: Team, *, minutes: int = 0) -> Run:
    return f.start_run(version, actor=team.o.admin, now=f.at(minutes))


def book_task(run: Run) -> Task:
    return f.task(run, "book")


def record_of(task: Task) -> Assignment:
    found = assigning.current(task.pk)
    assert found is not None
    return found


def set_rule(team: Team, **changes: object) -> None:
    policy.update_settings(
        team.o.organisation, actor=team.o.admin, expected_version=None, **changes
    )


# --- the policy in the engine -----------------------------------------------------


def test_each_new_task_goes_to_the_least_loaded_holder_ties_to_the_smallest_id(team):
    version = booking(team, days="2")

    assignees = [
        book_task(run_of(version, team, minutes=i)).assignee_id for i in range(4)
    ]

    # 0/0/0 → Ani; Ani carries 960 → Bayu; → Citra; all carry 960 and 1 task → Ani.
    assert assignees == [team.ani.pk, team.bayu.pk, team.citra.pk, team.ani.pk]


def test_the_rationale_lists_every_holder_with_load_and_the_rule(team):
    version = booking(team)
    run_of(version, team)

    task = book_task(run_of(version, team, minutes=1))

    record = record_of(task)
    assert task.assignee_id == team.bayu.pk
    assert (record.kind, record.rule, record.outcome) == (
        AssignmentKind.AUTOMATIC,
        AssignmentRule.LEAST_LOADED,
        AssignmentOutcome.CHOSEN,
    )
    assert (record.person_id, record.position_id, record.minutes) == (
        team.bayu.pk,
        team.clerk.pk,
        480,
    )
    assert record.assigned_by_id is None
    assert record.created_at == f.at(1)
    base = {
        "acting": False,
        "covers_duty": True,
        "available": True,
        "can_log_in": True,
        "eligible": True,
    }
    assert record.candidates == [
        {
            "person": team.ani.pk,
            "load": 480,
            "open": 1,
            "last_assigned": f.at(0).isoformat(),
            **base,
        },
        {"person": team.bayu.pk, "load": 0, "open": 0, "last_assigned": None, **base},
        {"person": team.citra.pk, "load": 0, "open": 0, "last_assigned": None, **base},
    ]


def test_the_same_data_gives_the_same_choices(team):
    """Determinism: two organisations built alike choose alike, position for
    position (ids differ, so compare the order of the holders)."""
    version = booking(team)
    first = [book_task(run_of(version, team, minutes=i)).assignee_id for i in range(5)]

    other = _twin(f.organisation("globex", prefix="g-"))
    second = [
        book_task(run_of(other.version, other.team, minutes=i)).assignee_id
        for i in range(5)
    ]

    order = {pk: n for n, pk in enumerate(team.ids)}
    other_order = {pk: n for n, pk in enumerate(other.team.ids)}
    assert [order[pk] for pk in first] == [other_order[pk] for pk in second]
    assert [order[pk] for pk in first] == [0, 1, 2, 0, 1]


@dataclass
class _Twin:
    team: Team
    version: ProcedureVersion


def _twin(o: SmallOrg) -> _Twin:
    clerk = f.position(
        o, party=o.export, title="Shipping clerk", code="SHIP-CLK", duties=["Book"]
    )
    people = [f.person(o, name) for name in ("ani", "bayu", "citra")]
    for someone in people:
        f.hold(o, clerk, someone)
    team = Team(o, clerk, clerk, *people)
    return _Twin(team, booking(team))


def test_a_batch_spreads_over_the_holders_in_step_order(team):
    o = team.o
    version = f.procedure(
        o,
        [
            f.StepRow(key, responsible=team.clerk, accountable=o.export_head, days=days)
            for key, days in (("a", "3"), ("b", "1"), ("c", "1"), ("d", "1"))
        ],
    )

    tasks = f.tasks_of(run_of(version, team))

    # a (3 days) → Ani; b → Bayu; c → Citra; d → Bayu (480, id before Citra's).
    assert {key: task.assignee_id for key, task in tasks.items()} == {
        "a": team.ani.pk,
        "b": team.bayu.pk,
        "c": team.citra.pk,
        "d": team.bayu.pk,
    }
    # What each choice saw includes the batch's earlier choices.
    seen = {c["person"]: c["load"] for c in record_of(tasks["d"]).candidates}
    assert seen == {team.ani.pk: 1440, team.bayu.pk: 480, team.citra.pk: 480}


def test_tasks_readied_by_a_transition_are_assigned_by_the_policy(team):
    o = team.o
    version = f.procedure(
        o,
        [
            f.StepRow("check", responsible=o.export_head, accountable=o.export_head),
            f.StepRow(
                "book",
                responsible=team.clerk,
                accountable=o.export_head,
                after=["check"],
            ),
        ],
    )
    busy = booking(team, code="BUSY")
    run_of(busy, team)  # Ani carries a day of work
    run = run_of(version, team, minutes=1)
    check = f.task(run, "check")
    assert check.assignee_id == o.rina.pk  # the sole holder, sole candidate
    assert record_of(check).outcome == AssignmentOutcome.SOLE_CANDIDATE

    chains.complete_task(check, actor=o.member, expected_version=None, now=f.at(30))

    book = book_task(run)
    assert (book.status, book.assignee_id) == (TaskStatus.READY, team.bayu.pk)
    assert record_of(book).created_at == f.at(30)


# --- job descriptions, absences, acting holders -----------------------------------


def test_a_duty_of_another_position_is_covered_only_by_its_holders(team):
    version = booking(team, duty="Quote price", duty_of=team.pricing)

    task = book_task(run_of(version, team))

    # Citra also holds the Pricing officer position: the only one covering it.
    assert task.assignee_id == team.citra.pk
    record = record_of(task)
    assert record.outcome == AssignmentOutcome.SOLE_CANDIDATE
    assert [(c["person"], c["covers_duty"]) for c in record.candidates] == [
        (team.ani.pk, False),
        (team.bayu.pk, False),
        (team.citra.pk, True),
    ]


def test_a_duty_nobody_covers_leaves_the_task_to_claim(team):
    o = team.o
    version = booking(team, duty="Price shipping", duty_of=o.export_head)

    task = book_task(run_of(version, team))

    assert task.assignee_id is None
    record = record_of(task)
    assert (record.person_id, record.outcome) == (None, AssignmentOutcome.NOT_COVERED)
    assert len(record.candidates) == 3


def test_without_the_coverage_rule_every_holder_is_a_candidate(team):
    set_rule(team, require_duty_coverage=False)
    version = booking(team, duty="Price shipping", duty_of=team.o.export_head)

    task = book_task(run_of(version, team))

    assert task.assignee_id == team.ani.pk
    record = record_of(task)
    assert record.outcome == AssignmentOutcome.CHOSEN
    assert {c["covers_duty"] for c in record.candidates} == {False}
    assert {c["eligible"] for c in record.candidates} == {True}


def test_a_step_without_a_duty_keeps_every_holder(team):
    version = booking(team, duty=None)

    task = book_task(run_of(version, team))

    assert task.assignee_id == team.ani.pk
    assert {c["covers_duty"] for c in record_of(task).candidates} == {True}


def test_someone_away_during_the_tasks_period_is_passed_over(team):
    o = team.o
    # Ani is away on Tuesday: a two-day task from Monday 08:00 overlaps it.
    f.away(o, team.ani, starts_at=f.at(days=1), ends_at=f.at(days=2))
    version = booking(team, days="2")

    task = book_task(run_of(version, team))

    assert task.assignee_id == team.bayu.pk
    flags = {c["person"]: c["available"] for c in record_of(task).candidates}
    assert flags == {team.ani.pk: False, team.bayu.pk: True, team.citra.pk: True}


def test_an_absence_after_the_tasks_period_does_not_count(team):
    o = team.o
    f.away(o, team.ani, starts_at=f.at(days=1), ends_at=f.at(days=2))
    version = f.procedure(
        o,
        [
            f.StepRow(
                "book",
                responsible=team.clerk,
                accountable=o.export_head,
                days="2",
                unit="working_hours",
            )
        ],
    )

    task = book_task(run_of(version, team))  # Monday 08:00-10:00

    assert task.assignee_id == team.ani.pk


def test_a_cancelled_absence_does_not_count(team):
    o = team.o
    absence = f.away(o, team.ani, starts_at=f.at(days=1), ends_at=f.at(days=2))
    org.cancel_absence(absence, actor=o.admin, expected_version=None, now=f.at(-60))

    task = book_task(run_of(booking(team, days="2"), team))

    assert task.assignee_id == team.ani.pk


def test_when_every_candidate_is_away_nobody_is_assigned(team):
    o = team.o
    for someone in (team.ani, team.bayu, team.citra):
        f.away(o, someone, starts_at=f.at(-60), ends_at=f.at(days=1))

    task = book_task(run_of(booking(team), team))

    assert task.assignee_id is None
    assert record_of(task).outcome == AssignmentOutcome.ALL_AWAY


def test_an_acting_holder_is_a_candidate_flagged_acting(team):
    o = team.o
    dedi = f.person(o, "dedi")
    f.hold(o, team.pricing, dedi, acting=True)
    version = booking(team, duty=None, responsible=team.pricing)

    task = book_task(run_of(version, team))

    candidates = record_of(task).candidates
    assert [(c["person"], c["acting"]) for c in candidates] == [
        (team.citra.pk, False),
        (dedi.pk, True),
    ]
    assert task.assignee_id == team.citra.pk  # both idle: the smaller id
    assert assigning.explain(record_of(task))[-1] == (
        "Dedi: 0.0 hours of open work (0 open tasks), acting holder — passed over: "
        "as much open work and as many open tasks; the tie goes to the person "
        "registered first."
    )


def test_former_and_future_holders_are_not_candidates(team):
    o = team.o
    holding = team.ani.holdings.get(position=team.clerk)
    org.end_holding(
        holding, actor=o.admin, expected_version=None, end_date=dt.date(2026, 2, 1)
    )
    f.hold(o, team.clerk, f.person(o, "dedi"), start=dt.date(2026, 3, 3))
    org.end_holding(
        team.bayu.holdings.get(position=team.clerk),
        actor=o.admin,
        expected_version=None,
        end_date=dt.date(2026, 3, 2),  # still holds it on the day of the run
    )

    task = book_task(run_of(booking(team), team))

    assert [c["person"] for c in record_of(task).candidates] == [
        team.bayu.pk,
        team.citra.pk,
    ]
    assert task.assignee_id == team.bayu.pk


def test_a_vacant_position_and_a_partners_task_get_nobody(team):
    o = team.o
    version = f.procedure(
        o,
        [
            f.StepRow("decide", responsible=o.director, accountable=o.export_head),
            f.StepRow("carry", responsible=o.forwarder, accountable=o.export_head),
        ],
    )

    tasks = f.tasks_of(run_of(version, team))

    assert tasks["decide"].assignee_id is None
    assert tasks["carry"].assignee_id is None
    assert record_of(tasks["decide"]).outcome == AssignmentOutcome.VACANT
    carry = record_of(tasks["carry"])
    assert (carry.outcome, carry.position_id, carry.candidates) == (
        AssignmentOutcome.PARTY,
        None,
        [],
    )
    assert assigning.explain(record_of(tasks["decide"])) == [
        "The policy (least loaded first) assigned nobody.",
        "Nobody was assigned: the responsible position has no holder.",
        "The task's estimated work: 8.0 hours.",
    ]


# --- round robin ------------------------------------------------------------------


def test_round_robin_takes_turns_never_assigned_first(team):
    set_rule(team, assignment_rule=AssignmentRule.ROUND_ROBIN)
    version = booking(team, days="5")
    short = booking(team, code="SHORT", days="1")

    # A long task for Ani first: least loaded would avoid her for a while,
    # round robin simply takes turns.
    assignees = [book_task(run_of(version, team)).assignee_id]
    for minute in range(1, 5):
        assignees.append(book_task(run_of(short, team, minutes=minute)).assignee_id)

    assert assignees == [
        team.ani.pk,
        team.bayu.pk,
        team.citra.pk,
        team.ani.pk,
        team.bayu.pk,
    ]
    assert record_of(book_task(Run.objects.latest("id"))).rule == (
        AssignmentRule.ROUND_ROBIN
    )


def test_round_robin_spreads_a_batch(team):
    set_rule(team, assignment_rule=AssignmentRule.ROUND_ROBIN)
    o = team.o
    version = f.procedure(
        o,
        [
            f.StepRow(key, responsible=team.clerk, accountable=o.export_head)
            for key in ("a", "b", "c", "d")
        ],
    )

    tasks = f.tasks_of(run_of(version, team))

    assert [tasks[key].assignee_id for key in "abcd"] == [
        team.ani.pk,
        team.bayu.pk,
        team.citra.pk,
        team.ani.pk,
    ]


# --- the pure rule ----------------------------------------------------------------


def _work(
    key: int, *, position: int = 1, minutes: int = 60, sort: int = 0, run: int = 1
) -> ReadyWork:
    return ReadyWork(key, run, position, None, None, minutes, sort)


def _candidate(
    person: int,
    *,
    load: int = 0,
    count: int = 0,
    last: dt.datetime | None = None,
    eligible: bool = True,
) -> Candidate:
    return Candidate(person, 1, False, True, eligible, load, count, last)


def test_choose_breaks_ties_by_open_count_then_person_id():
    pools = {
        1: [
            _candidate(7, load=60, count=2),
            _candidate(5, load=60, count=1),
            _candidate(3, load=120, count=0),
            _candidate(9, load=60, count=1),
        ]
    }

    decisions = assigning.choose(
        [_work(1)], pools, rule=AssignmentRule.LEAST_LOADED, now=f.T0
    )

    assert decisions[1].person_id == 5
    assert decisions[1].outcome == AssignmentOutcome.CHOSEN


def test_choose_orders_the_batch_by_run_sort_order_and_key_whatever_the_input_order():
    work = [
        _work(30, run=2, sort=10, minutes=100),
        _work(20, run=1, sort=20, minutes=50),
        _work(10, run=1, sort=20, minutes=70),
        _work(40, run=1, sort=10, minutes=300),
    ]
    pools = {item.key: [_candidate(1), _candidate(2)] for item in work}
    # 40 (300 min) → 1; 10 (70) → 2; 20 (50) → 2 (70 < 300); 30 (100) → 2 (120).
    expected = {40: 1, 10: 2, 20: 2, 30: 2}
    for seed in range(5):
        shuffled = list(work)
        random.Random(seed).shuffle(shuffled)
        decisions = assigning.choose(
            shuffled, pools, rule=AssignmentRule.LEAST_LOADED, now=f.T0
        )
        assert {key: d.person_id for key, d in decisions.items()} == expected


def test_choose_round_robin_prefers_never_then_longest_ago():
    long_ago = f.T0 - dt.timedelta(days=9)
    recently = f.T0 - dt.timedelta(days=1)
    pools = {
        key: [
            _candidate(1, last=recently),
            _candidate(2, last=long_ago),
            _candidate(3),
            _candidate(4, eligible=False),
        ]
        for key in (1, 2, 3, 4)
    }

    decisions = assigning.choose(
        [_work(key, sort=key) for key in (1, 2, 3, 4)],
        pools,
        rule=AssignmentRule.ROUND_ROBIN,
        now=f.T0,
    )

    assert [decisions[key].person_id for key in (1, 2, 3, 4)] == [3, 2, 1, 3]


def test_choose_round_robin_keeps_turning_through_a_long_batch():
    pools = {key: [_candidate(1), _candidate(2), _candidate(3)] for key in range(8)}

    decisions = assigning.choose(
        [_work(key, sort=key) for key in range(8)],
        pools,
        rule=AssignmentRule.ROUND_ROBIN,
        now=f.T0,
    )

    assert [decisions[key].person_id for key in range(8)] == [1, 2, 3, 1, 2, 3, 1, 2]


def test_choose_outcomes_when_nobody_can_take_the_task():
    not_covering = Candidate(1, 1, False, False, True, 0, 0, None)
    away = Candidate(2, 1, False, True, False, 0, 0, None)
    pools = {1: [], 2: [not_covering], 3: [not_covering, away], 4: [away]}
    work = [_work(key) for key in (1, 2, 3, 4)] + [
        ReadyWork(5, 1, None, 8, None, 60, 0)
    ]

    decisions = assigning.choose(
        work, pools, rule=AssignmentRule.LEAST_LOADED, now=f.T0
    )

    assert {key: (d.person_id, d.outcome) for key, d in decisions.items()} == {
        1: (None, AssignmentOutcome.VACANT),
        2: (None, AssignmentOutcome.NOT_COVERED),
        3: (None, AssignmentOutcome.ALL_AWAY),
        4: (None, AssignmentOutcome.ALL_AWAY),
        5: (None, AssignmentOutcome.PARTY),
    }


# --- loads and candidates ---------------------------------------------------------


def test_open_loads_count_open_work_only(team):
    version = booking(team, days="2")
    first = book_task(run_of(version, team))  # Ani: 960
    chains.complete_task(
        first, actor=f.user_of(team.ani), expected_version=None, now=f.at(5)
    )
    second = book_task(run_of(version, team, minutes=6))  # Ani again: 960 open
    chains.start_task(
        second, actor=f.user_of(team.ani), expected_version=None, now=f.at(7)
    )

    loads = assigning.open_loads(team.o.organisation.pk, team.ids)

    assert loads == {team.ani.pk: (960, 1), team.bayu.pk: (0, 0), team.citra.pk: (0, 0)}


def test_candidates_for_runs_the_same_queries_for_one_task_or_many(team):
    version = booking(team)
    run_of(version, team)  # some load and history to read
    clerk, pricing = team.clerk.pk, team.pricing.pk
    book = f.duty_of(team.clerk, "Book").pk
    quote = f.duty_of(team.pricing, "Quote price").pk
    settings = policy.settings_for(team.o.organisation.pk)

    def count(work: list[ReadyWork]) -> int:
        with CaptureQueriesContext(connection) as captured:
            assigning.candidates_for(
                team.o.organisation.pk, work, now=f.T0, settings=settings
            )
        return len(captured)

    one = count([ReadyWork(1, None, clerk, None, book, 480, 10)])
    many = count(
        [
            ReadyWork(
                key,
                None,
                (clerk, pricing)[key % 2],
                None,
                (book, quote)[key % 3 % 2],
                60 * key,
                key,
            )
            for key in range(1, 41)
        ]
    )

    # the calendar and policy, the duties' positions, the holders with their
    # loads, history and absences
    assert (one, many) == (3, 3)


def test_record_stores_a_large_batch_as_given(team):
    """Many rows go in a few statements (COPY on PostgreSQL); read back through
    the ORM they are what was chosen."""
    task = book_task(run_of(booking(team), team))
    before = Assignment.objects.count()
    chosen = [
        (
            task.pk,
            ReadyWork(n, task.run_id, team.clerk.pk, None, None, 60 + n, n),
            AssignmentChoice(
                team.ids[n % 3] if n % 5 else None,
                {
                    "rule": AssignmentRule.ROUND_ROBIN,
                    "outcome": (
                        AssignmentOutcome.CHOSEN
                        if n % 5
                        else AssignmentOutcome.ALL_AWAY
                    ),
                    "candidates": [{"person": team.ids[n % 3], "load": n, "open": 1}],
                },
            ),
        )
        for n in range(1, 1201)
    ]

    with CaptureQueriesContext(connection) as captured:
        assigning.ASSIGNER.record(team.o.organisation.pk, chosen, now=f.at(40))

    assert len(captured) <= 2
    rows = list(
        Assignment.objects.filter(created_at=f.at(40))
        .order_by("minutes")
        .values(
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
            "assigned_by_id",
            "previous_person_id",
        )
    )
    assert Assignment.objects.count() == before + 1200
    assert rows[0] == {
        "task_id": task.pk,
        "position_id": team.clerk.pk,
        "person_id": team.bayu.pk,
        "kind": AssignmentKind.AUTOMATIC,
        "rule": AssignmentRule.ROUND_ROBIN,
        "outcome": AssignmentOutcome.CHOSEN,
        "candidates": [{"person": team.bayu.pk, "load": 1, "open": 1}],
        "minutes": 61,
        "is_override": False,
        "reason": "",
        "assigned_by_id": None,
        "previous_person_id": None,
    }
    assert (rows[4]["person_id"], rows[4]["outcome"]) == (
        None,
        AssignmentOutcome.ALL_AWAY,
    )
    assert [row["minutes"] for row in rows] == list(range(61, 1261))


# --- claimed tasks ----------------------------------------------------------------


def test_a_claimed_task_is_recorded(team):
    o = team.o
    version = booking(team, duty="Price shipping", duty_of=o.export_head)
    task = book_task(run_of(version, team))
    assert task.assignee_id is None

    chains.claim_task(
        task, actor=f.user_of(team.bayu), expected_version=None, now=f.at(9)
    )

    record = record_of(task)
    assert (record.kind, record.person_id, record.position_id) == (
        AssignmentKind.CLAIMED,
        team.bayu.pk,
        team.clerk.pk,
    )
    assert (record.assigned_by_id, record.minutes, record.created_at) == (
        f.user_of(team.bayu).pk,
        480,
        f.at(9),
    )
    assert assigning.explain(record) == [
        "Bayu took the task themselves.",
        "The task's estimated work: 8.0 hours.",
    ]


# --- manual assignment ------------------------------------------------------------


@pytest.fixture
def booked(team) -> Task:  # type: ignore[no-untyped-def]
    """A ready task of the clerks, given to Ani by the policy."""
    task = book_task(run_of(booking(team), team))
    assert task.assignee_id == team.ani.pk
    return task


def test_an_administrator_reassigns_to_another_candidate(team, booked, audit_trail):
    o = team.o
    trail = audit_trail(o.organisation)

    made = assigning.assign_task(
        booked,
        actor=o.admin,
        person=team.bayu,
        expected_version=booked.version,
        now=f.at(20),
    )

    booked.refresh_from_db()
    assert booked.assignee_id == team.bayu.pk
    assert (made.kind, made.person_id, made.previous_person_id) == (
        AssignmentKind.MANUAL,
        team.bayu.pk,
        team.ani.pk,
    )
    assert (made.is_override, made.reason, made.assigned_by_id) == (
        False,
        "",
        o.admin.pk,
    )
    assert assigning.current(booked.pk) == made
    event = trail.only_new_event()
    assert (event.verb, event.target_id) == (AuditVerb.ASSIGNED, str(booked.pk))
    assert event.changes == {"assignee": [team.ani.pk, team.bayu.pk], "override": False}
    note = Notification.objects.get(
        recipient=f.user_of(team.bayu), event_type="task.assigned"
    )
    assert (note.event_type, note.title) == (
        "task.assigned",
        "Task assigned to you: Book",
    )
    assert note.url == f"/o/acme/tasks/{booked.pk}/#assignment"


def test_an_override_needs_a_reason_kept_out_of_the_hashed_changes(
    team, booked, audit_trail
):
    o = team.o
    outsider = f.person(o, "eko")  # holds nothing
    trail = audit_trail(o.organisation)

    with pytest.raises(ValidationFailed) as refused:
        assigning.assign_task(
            booked,
            actor=o.admin,
            person=outsider,
            reason="  ",
            expected_version=None,
            now=f.at(20),
        )
    assert list(refused.value.errors) == ["reason"]
    trail.assert_nothing_new()

    made = assigning.assign_task(
        booked,
        actor=o.admin,
        person=outsider,
        reason="Knows this customer",
        expected_version=None,
        now=f.at(20),
    )

    assert (made.is_override, made.reason) == (True, "Knows this customer")
    event = trail.only_new_event()
    assert event.changes == {"assignee": [team.ani.pk, outsider.pk], "override": True}
    assert "Knows this customer" not in str(event.changes)
    assert event.personal.changes == {"reason": "Knows this customer"}
    assert assigning.explain(made)[-1] == (
        "Override: Eko was not among the candidates. Reason: Knows this customer"
    )


def test_someone_away_is_an_override_too(team, booked):
    o = team.o
    f.away(o, team.citra, starts_at=f.at(-60), ends_at=f.at(days=3))

    with pytest.raises(ValidationFailed):
        assigning.assign_task(
            booked,
            actor=o.admin,
            person=team.citra,
            expected_version=None,
            now=f.at(20),
        )

    made = assigning.assign_task(
        booked,
        actor=o.admin,
        person=team.citra,
        reason="Back early",
        expected_version=None,
        now=f.at(20),
    )
    assert made.is_override is True


def test_holders_of_the_owner_or_accountable_position_may_assign(team, booked):
    o = team.o  # Rina holds the Head of export: owner and accountable
    assert assigning.may_assign(booked, o.member, now=f.at(20)) is True
    assert assigning.may_assign(booked, o.admin, now=f.at(20)) is True
    assert assigning.may_assign(booked, f.user_of(team.bayu), now=f.at(20)) is False
    assert assigning.may_assign(booked, o.auditor, now=f.at(20)) is False
    assert assigning.may_assign(booked, o.partner, now=f.at(20)) is False

    made = assigning.assign_task(
        booked, actor=o.member, person=team.citra, expected_version=None, now=f.at(20)
    )

    assert made.assigned_by_id == o.member.pk


@pytest.mark.parametrize(
    ("who", "error"),
    [
        ("bayu", PermissionDenied),
        ("auditor", PermissionDenied),
        ("partner", PermissionDenied),
        ("outsider", NotFound),
    ],
)
def test_others_may_not_assign_and_nothing_changes(
    team, booked, audit_trail, who, error
):
    o = team.o
    users = {
        "bayu": f.user_of(team.bayu),
        "auditor": o.auditor,
        "partner": o.partner,
        "outsider": make_user("stranger"),
    }
    trail = audit_trail(o.organisation)
    before = Assignment.objects.count()

    with pytest.raises(error):
        assigning.assign_task(
            booked,
            actor=users[who],
            person=team.citra,
            reason="x",
            expected_version=None,
            now=f.at(20),
        )

    booked.refresh_from_db()
    assert booked.assignee_id == team.ani.pk
    assert Assignment.objects.count() == before
    assert Notification.objects.filter(event_type="task.assigned").count() == 0
    trail.assert_nothing_new()


def test_a_stale_version_is_a_conflict_and_nothing_changes(team, booked, audit_trail):
    o = team.o
    stale = booked.version
    chains.start_task(
        booked, actor=f.user_of(team.ani), expected_version=None, now=f.at(5)
    )
    trail = audit_trail(o.organisation)
    before = Assignment.objects.count()

    with pytest.raises(Conflict):
        assigning.assign_task(
            booked,
            actor=o.admin,
            person=team.bayu,
            expected_version=stale,
            now=f.at(20),
        )

    assert Task.objects.get(pk=booked.pk).assignee_id == team.ani.pk
    assert Assignment.objects.count() == before
    trail.assert_nothing_new()


def test_only_open_tasks_of_our_people_are_assigned(team, booked):
    o = team.o
    with pytest.raises(ValidationFailed) as refused:  # a partner's person
        assigning.assign_task(
            booked, actor=o.admin, person=o.joko, expected_version=None, now=f.at(20)
        )
    assert list(refused.value.errors) == ["person"]
    with pytest.raises(ValidationFailed) as refused:  # already hers
        assigning.assign_task(
            booked, actor=o.admin, person=team.ani, expected_version=None, now=f.at(20)
        )
    assert list(refused.value.errors) == ["person"]


def test_a_done_task_or_a_partners_task_is_not_assigned(team):
    o = team.o
    version = f.procedure(
        o,
        [
            f.StepRow("book", responsible=team.clerk, accountable=o.export_head),
            f.StepRow("carry", responsible=o.forwarder, accountable=o.export_head),
        ],
    )
    tasks = f.tasks_of(run_of(version, team))
    chains.complete_task(
        tasks["book"], actor=f.user_of(team.ani), expected_version=None, now=f.at(5)
    )
    tasks["book"].refresh_from_db()

    with pytest.raises(ValidationFailed) as refused:
        assigning.assign_task(
            tasks["book"],
            actor=o.admin,
            person=team.bayu,
            expected_version=None,
            now=f.at(20),
        )
    assert list(refused.value.errors) == ["status"]
    with pytest.raises(ValidationFailed) as refused:
        assigning.assign_task(
            tasks["carry"],
            actor=o.admin,
            person=team.bayu,
            reason="Do it ourselves",
            expected_version=None,
            now=f.at(20),
        )
    assert refused.value.code != "override_needs_reason"
    assert Task.objects.get(pk=tasks["carry"].pk).assignee_id is None


# --- the rationale in words -------------------------------------------------------


def test_explain_says_who_was_chosen_and_why_the_others_were_passed_over(team):
    o = team.o
    f.away(o, team.citra, starts_at=f.at(-60), ends_at=f.at(days=1))
    version = booking(team, days="2")
    run_of(version, team)  # Ani: 16 hours

    task = book_task(run_of(version, team, minutes=1))

    assert assigning.explain(record_of(task)) == [
        "Assigned to Bayu by the policy (least loaded first).",
        "The policy chose among the candidates.",
        "The task's estimated work: 16.0 hours.",
        "Ani: 16.0 hours of open work (1 open task) — passed over: carries more "
        "open work.",
        "Bayu: 0.0 hours of open work (0 open tasks) — chosen.",
        "Citra: 0.0 hours of open work (0 open tasks) — passed over: away during "
        "the task's estimated period.",
    ]
