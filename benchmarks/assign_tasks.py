"""The assignment policy: 10,000 tasks becoming ready at once, handed out across
2,000 people, on SQLite and PostgreSQL (target: under 2 s).

What the engine does when a batch of tasks becomes ready, end to end:
`roles.assigning.ASSIGNER.choose` (the candidates of every task — current
holders of its responsible position, acting holders included, whose job
description covers the step's duty and who are not away during the task's
estimated period — their open load and round-robin history in a fixed number of
queries, then the pure rule with the batch spreading) and `ASSIGNER.record`
(one `Assignment` row with the rationale per task, bulk inserts). Both rules
are timed: least loaded (the default) and round robin. Each call runs in a
transaction that is rolled back, so every call sees the same data.

The data (made once and kept; `--fresh` builds it again): 400 positions of one
unit, each with a duty, held by 5 people each (2,000 people; every tenth
holding acting, Plt), 200 of them also acting in a second position, 100 away
for the coming weeks; 10,000 pending tasks of 20 runs, 25 per position (1 to 8
working hours; three in four name their position's duty, one in twenty a duty
of another position), and 2,000 tasks in progress already assigned (the open
load), with 2,000 earlier assignment records (the round-robin history). Each
figure is the median of `--repeat` calls after a warm-up call, DEBUG off; the
SQL statements of one call are counted (`CaptureQueriesContext`).

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/assign_tasks.py [--repeat 5] [--fresh] [--drop]
"""

from __future__ import annotations

import datetime as dt
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402
import roles_fixtures as rf  # noqa: E402
import workload_fixtures as wf  # noqa: E402

TARGET_SECONDS = 2.0
DATA_DIR = fx.ROOT / "var" / "bench" / "assign"
DATABASE = "rantai_bench_assign"
SLUG = "bench-assign"
POSITIONS = 400
HOLDERS = 5  # per position: 2,000 people
SECOND_ACTING = 200
AWAY = 100
RUNS = 20
TASKS = 10_000
STARTED = 2_000
HISTORY = 2_000
HOURS = (1, 2, 3, 4, 6, 8)
BATCH = 2_000


# --- the data --------------------------------------------------------------------------


def ensure_data() -> Any:
    from rantai.accounts.models import Organisation
    from rantai.chains.models import Task, TaskStatus

    found = Organisation.objects.filter(slug=SLUG).first()
    if found is not None:
        pending = Task.objects.filter(
            organisation=found, status=TaskStatus.PENDING
        ).count()
        if pending != TASKS:
            raise SystemExit(
                f"The kept data has {pending:,} pending tasks, not {TASKS:,}: "
                "run with --fresh."
            )
        return found
    return _make()


def _make() -> Any:
    from django.utils import timezone

    from rantai.chains import services as chains
    from rantai.chains.models import RaciRole, Task, TaskStatus
    from rantai.org.models import Absence, Duty, Holding, Position
    from rantai.roles.models import Assignment, AssignmentKind

    started = time.perf_counter()
    wf.log(f"Making {POSITIONS * HOLDERS:,} people and {TASKS:,} tasks (once) ...")
    admin, organisation, unit, head = rf.make_unit(
        SLUG, name="Bench assignment", unit_name="Assignment bench unit", code="ASG"
    )
    Position.objects.bulk_create(
        [
            Position(
                organisation=organisation,
                party=unit,
                title=f"Position {number:04d} of the assignment benchmark",
                code=f"P{number:04d}",
                superior=head,
                max_holders=HOLDERS + 2,
            )
            for number in range(POSITIONS)
        ]
    )
    positions = list(
        Position.objects.filter(organisation=organisation, superior=head).order_by(
            "code"
        )
    )
    Duty.objects.bulk_create(
        [
            Duty(
                organisation=organisation,
                position=position,
                title=f"Handle the cases of {position.code}",
                output_unit="case",
            )
            for position in positions
        ]
    )
    people = [
        person.pk
        for person in rf.make_people(
            organisation,
            (f"Person {number:05d}" for number in range(POSITIONS * HOLDERS)),
        )
    ]
    since = dt.date.today() - dt.timedelta(days=365)
    holdings = [
        Holding(
            organisation=organisation,
            position=positions[index // HOLDERS],
            person_id=person_id,
            start_date=since,
            is_acting=index % 10 == 9,
        )
        for index, person_id in enumerate(people)
    ]
    holdings += [  # acting in a second position (the next one)
        Holding(
            organisation=organisation,
            position=positions[(index * 2 // HOLDERS + 1) % POSITIONS],
            person_id=people[index * 2],
            start_date=since,
            is_acting=True,
        )
        for index in range(SECOND_ACTING)
    ]
    Holding.objects.bulk_create(holdings, batch_size=BATCH)
    now = timezone.now()
    Absence.objects.bulk_create(
        [
            Absence(
                organisation=organisation,
                person_id=people[index * 17 % len(people)],
                starts_at=now + dt.timedelta(days=index % 5),
                ends_at=now + dt.timedelta(days=index % 5 + 14),
                created_by=admin,
            )
            for index in range(AWAY)
        ]
    )
    wf.log(f"  org: {time.perf_counter() - started:.0f} s")

    # A procedure to hang runs on (one step), published through the services.
    procedure = chains.create_procedure(
        organisation, actor=admin, code="CASES", name="Cases", owner_position=head
    )
    version = procedure.versions.get()
    step = chains.add_step(
        version, actor=admin, key="case", name="Handle a case", duration_value=1
    )
    for role in (RaciRole.RESPONSIBLE, RaciRole.ACCOUNTABLE):
        chains.add_step_role(step, actor=admin, role=role, position=head)
    chains.publish(version, actor=admin, expected_version=None)
    version.refresh_from_db()
    runs = [
        chains.start_run(
            version,
            actor=admin,
            title=f"Cases batch {number}",
            measure_quantity=1,
            measure_unit="batch",
            due_at=now + dt.timedelta(days=120),
        )
        for number in range(RUNS)
    ]

    def task(number: int, *, status: str, assignee: int | None) -> Task:
        position = positions[number % POSITIONS]
        return Task(
            organisation=organisation,
            run=runs[number % RUNS],
            key=f"{status[:1]}{number:05d}",
            name=f"Case {number}",
            sort_order=number,
            duration_minutes=60 * HOURS[number % len(HOURS)],
            responsible_position=position,
            accountable_position=head,
            assignee_id=assignee,
            status=status,
            created_at=now,
            updated_at=now,
        )

    Task.objects.bulk_create(
        [task(n, status=TaskStatus.PENDING, assignee=None) for n in range(TASKS)],
        batch_size=BATCH,
    )
    Task.objects.bulk_create(
        [
            task(
                n,
                status=TaskStatus.IN_PROGRESS,
                assignee=people[(n % POSITIONS) * HOLDERS + n % 3],
            )
            for n in range(STARTED)
        ],
        batch_size=BATCH,
    )
    started_ids = list(
        Task.objects.filter(organisation=organisation, status=TaskStatus.IN_PROGRESS)
        .order_by("id")
        .values_list("pk", "responsible_position_id", "assignee_id")
    )
    Assignment.objects.bulk_create(
        [
            Assignment(
                organisation=organisation,
                task_id=task_id,
                position_id=position_id,
                person_id=person_id,
                kind=AssignmentKind.AUTOMATIC,
                rule="least_loaded",
                created_at=now - dt.timedelta(minutes=index),
            )
            for index, (task_id, position_id, person_id) in enumerate(
                started_ids[:HISTORY]
            )
        ],
        batch_size=BATCH,
    )
    wf.log(f"  made in {time.perf_counter() - started:.0f} s")
    return organisation


def _work(organisation: Any) -> list[Any]:
    """The pending tasks as the engine hands them to the assigner. The duty of
    task n: none for about one in four, another position's for about one in
    twenty, else its position's (picked by a hash of n, so every position gets
    some of each)."""
    from rantai.chains.extensions import ReadyWork
    from rantai.chains.models import Task, TaskStatus
    from rantai.org.models import Duty

    duty_by_code = dict(
        Duty.objects.filter(organisation=organisation).values_list(
            "position__code", "pk"
        )
    )
    codes = sorted(code for code in duty_by_code if code.startswith("P"))

    def duty(number: int) -> int | None:
        spread = (number * 2_654_435_761) % 2**32
        if spread % 4 == 3:
            return None
        shift = 1 if spread % 20 == 0 else 0
        return duty_by_code[codes[(number + shift) % POSITIONS]]

    return [
        ReadyWork(
            key=pk,
            run_id=run_id,
            position_id=position_id,
            party_id=None,
            duty_id=duty(sort_order),
            duration_minutes=minutes,
            sort_order=sort_order,
        )
        for pk, run_id, position_id, minutes, sort_order in Task.objects.filter(
            organisation=organisation, status=TaskStatus.PENDING
        )
        .order_by("id")
        .values_list(
            "pk", "run_id", "responsible_position_id", "duration_minutes", "sort_order"
        )
    ]


# --- the measurement -------------------------------------------------------------------


def _measure_rule(
    organisation: Any, work: list[Any], rule: str, repeat: int
) -> dict[str, Any]:
    from collections import Counter

    from django.db import transaction
    from django.utils import timezone

    from rantai.roles import policy
    from rantai.roles.assigning import ASSIGNER
    from rantai.roles.models import RoleSettings

    policy.settings_for(organisation)
    RoleSettings.objects.filter(organisation=organisation).update(assignment_rule=rule)
    now = timezone.now()
    last: dict[int, Any] = {}

    cpu: list[float] = []

    def assign() -> None:
        started = time.process_time()
        with transaction.atomic():
            choices = ASSIGNER.choose(organisation.pk, work, now=now)
            ASSIGNER.record(
                organisation.pk,
                [(item.key, item, choices[item.key]) for item in work],
                now=now,
            )
            transaction.set_rollback(True)
        cpu.append(time.process_time() - started)
        last.clear()
        last.update(choices)

    wf.log(f"timing choose + record ({rule}) ...")
    median, times = wf.median_seconds(assign, repeat)
    queries = wf.count_queries(assign)
    outcomes = Counter(choice.rationale["outcome"] for choice in last.values())
    given = Counter(
        choice.person_id for choice in last.values() if choice.person_id is not None
    )
    cpu_median = sorted(cpu[1 : repeat + 1])[repeat // 2]
    return {
        "median": median,
        "cpu": cpu_median,
        "times": times,
        "queries": queries,
        "outcomes": dict(outcomes),
        "people": len(given),
        "most": max(given.values()) if given else 0,
    }


def measure(organisation: Any, repeat: int) -> dict[str, Any]:
    from rantai.roles.models import AssignmentRule, RoleSettings

    work = _work(organisation)
    figures: dict[str, Any] = {"tasks": len(work), "rules": {}}
    for rule in (AssignmentRule.LEAST_LOADED, AssignmentRule.ROUND_ROBIN):
        figures["rules"][str(rule)] = _measure_rule(organisation, work, rule, repeat)
    RoleSettings.objects.filter(organisation=organisation).update(
        assignment_rule=AssignmentRule.LEAST_LOADED
    )
    return figures


def main() -> int:
    args = rf.arguments(__doc__.splitlines()[0], repeat=5).parse_args()
    if args.child:
        return rf.child(args, DATA_DIR, lambda: measure(ensure_data(), args.repeat))
    results = rf.run_each_database(__file__, args, database=DATABASE)
    print()
    print(
        f"{TASKS:,} tasks becoming ready at once, {POSITIONS * HOLDERS:,} people: "
        "ASSIGNER.choose + ASSIGNER.record (candidates, loads, absences, history; "
        f"the rule; the rationale rows), the median of {args.repeat} calls "
        f"(target < {TARGET_SECONDS:.0f} s)"
    )
    for result in results:
        print(f"  {result['database']}")
        for rule, figure in result["rules"].items():
            times = ", ".join(f"{t:.2f}" for t in figure["times"])
            verdict = "within" if figure["median"] < TARGET_SECONDS else "OVER"
            outcomes = ", ".join(
                f"{name} {count:,}"
                for name, count in sorted(figure["outcomes"].items())
            )
            print(
                f"    {rule}: {figure['median']:.3f} s ({verdict} the target; calls: "
                f"{times}); CPU time of this process {figure['cpu']:.3f} s; "
                f"{figure['queries']} SQL statements"
            )
            print(
                f"      outcomes: {outcomes}; {figure['people']:,} people given "
                f"tasks, at most {figure['most']} each"
            )
    return 0


if __name__ == "__main__":
    sys.exit(main())
