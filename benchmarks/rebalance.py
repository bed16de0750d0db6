"""`rebalancing.propose` for a unit of 500 people and 5,000 ready tasks, end to end,
on SQLite and PostgreSQL (target: under 5 s), with the Gini coefficient and the
maximum load before and after, against a greedy least-loaded baseline.

`propose` reads the unit's ready tasks, their candidates under the assignment
policy (holders, duty coverage, absences) and everyone's open work, solves the
assignment (scipy's `linear_sum_assignment` on a convex slot model, then local
improvement), and stores the proposal with its audit event: what the "Propose"
button of a unit does. The baseline hands every task out again from scratch,
longest first, to the least loaded candidate (LPT), as a simple assigner would.

The unit (made once and kept; `--fresh` builds it again): 50 positions with 5 to
20 holders each (500 people), 25 of them also acting (Plt) in a second position,
10 away for the coming year; 50 runs of a procedure with two steps per position
(1 to 8 working hours), so 5,000 ready tasks, handed out unevenly (the first
holders of a position get most: weights 1, 1/2, 1/3, …), and 1,000 tasks already
started (their minutes are fixed load). Each figure is the median of `--repeat`
calls after a warm-up call, DEBUG off.

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/rebalance.py [--repeat 3] [--fresh] [--drop]
"""

from __future__ import annotations

import datetime as dt
import random
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402
import roles_fixtures as rf  # noqa: E402
import workload_fixtures as wf  # noqa: E402

TARGET_SECONDS = 5.0
DATA_DIR = fx.ROOT / "var" / "bench" / "rebalance"
DATABASE = "rantai_bench_rebalance"
SLUG = "bench-rebalance"
POSITIONS = 50
PEOPLE = 500
ACTING = 25
AWAY = 10
READY_RUNS = 50
STARTED_RUNS = 10
HOURS = (1, 2, 3, 4, 6, 8)  # step lengths, working hours
SEED = 20260302


# --- the data ------------------------------------------------------------------------


def ensure_unit() -> Any:
    from rantai.org.models import Party

    found = Party.objects.filter(organisation__slug=SLUG, code="REB").first()
    return found if found is not None else _make()


def _make() -> Any:
    """The unit, its people and its work (see the module's docstring)."""
    from django.utils import timezone

    from rantai.chains import extensions
    from rantai.chains import services as chains
    from rantai.chains.models import RaciRole, Task, TaskStatus
    from rantai.org import services as org
    from rantai.org.models import AbsenceKind, Holding

    started = time.perf_counter()
    wf.log(f"Making a unit of {PEOPLE} people and their work (once) ...")
    rng = random.Random(SEED)
    admin, organisation, unit, head = rf.make_unit(
        SLUG, name="Bench rebalance", unit_name="Rebalancing bench unit", code="REB"
    )
    me = org.create_person(organisation, actor=admin, full_name="Head", user=admin)
    since = dt.date(2025, 1, 1)
    org.assign_holder(head, actor=admin, person=me, start_date=since)
    org.update_party(unit, actor=admin, expected_version=None, head_position=head)
    positions = [
        org.create_position(
            organisation,
            actor=admin,
            party=unit,
            title=f"Position {number:02d}",
            code=f"P{number:02d}",
            superior=head,
            max_holders=40,
        )
        for number in range(1, POSITIONS + 1)
    ]
    # 5-20 holders each, 500 in all.
    sizes = [rng.randint(5, 20) for _ in positions]
    while sum(sizes) != PEOPLE:
        index = rng.randrange(POSITIONS)
        step = 1 if sum(sizes) < PEOPLE else -1
        if 5 <= sizes[index] + step <= 20:
            sizes[index] += step
    people = rf.make_people(
        organisation, (f"Holder {number:03d}" for number in range(PEOPLE))
    )
    holders: dict[int, list[int]] = {}
    holdings = []
    taken = iter(people)
    for position, size in zip(positions, sizes, strict=True):
        members = [next(taken) for _ in range(size)]
        holders[position.pk] = [person.pk for person in members]
        holdings.extend(
            Holding(
                organisation=organisation,
                position=position,
                person=person,
                start_date=since,
            )
            for person in members
        )
    for person in rng.sample(people, ACTING):
        mine = next(p for p, members in holders.items() if person.pk in members)
        other = rng.choice([p for p in holders if p != mine])
        holdings.append(
            Holding(
                organisation=organisation,
                position_id=other,
                person=person,
                start_date=since,
                is_acting=True,
            )
        )
    Holding.objects.bulk_create(holdings)
    now = timezone.now()
    for person in rng.sample(people, AWAY):
        org.record_absence(
            person,
            actor=admin,
            kind=AbsenceKind.LEAVE,
            starts_at=now - dt.timedelta(days=1),
            ends_at=now + dt.timedelta(days=365),
            now=now - dt.timedelta(days=2),
        )
    wf.log(f"  people and holders: {time.perf_counter() - started:.0f} s")

    # A procedure of two parallel steps per position, built through the services,
    # in a registry of its own (no assigner: the tasks are handed out below).
    with extensions.isolated_registry():
        procedure = chains.create_procedure(
            organisation, actor=admin, code="WORK", name="Casework", owner_position=head
        )
        version = procedure.versions.get()
        for index, position in enumerate(positions):
            for half in ("a", "b"):
                step = chains.add_step(
                    version,
                    actor=admin,
                    key=f"{position.code.lower()}-{half}",
                    name=f"{position.title} {half}",
                    duration_value=str(rng.choice(HOURS)),
                    duration_unit="working_hours",
                )
                chains.add_step_role(
                    step, actor=admin, role=RaciRole.RESPONSIBLE, position=position
                )
                chains.add_step_role(
                    step, actor=admin, role=RaciRole.ACCOUNTABLE, position=head
                )
            if index % 10 == 9:
                wf.log(f"  steps of {index + 1} positions")
        chains.publish(version, actor=admin, expected_version=None)
        version.refresh_from_db()
        runs = []
        for number in range(READY_RUNS + STARTED_RUNS):
            runs.append(
                chains.start_run(
                    version,
                    actor=admin,
                    title=f"Case {number + 1:03d}",
                    objective="Close the case",
                    measure_quantity=1,
                    measure_unit="case",
                    due_at=now + dt.timedelta(days=120),
                    field_values={},
                )
            )
    wf.log(f"  {len(runs)} runs started: {time.perf_counter() - started:.0f} s")
    # Handed out unevenly: a position's k-th definitive holder has weight 1/k.
    given: dict[int, list[int]] = {}
    for task_id, position_id in (
        Task.objects.filter(run__in=runs)
        .order_by("id")
        .values_list("id", "responsible_position_id")
    ):
        members = holders[position_id]
        weights = [1 / (rank + 1) for rank in range(len(members))]
        person = rng.choices(members, weights)[0]
        given.setdefault(person, []).append(task_id)
    for person_id, task_ids in given.items():
        Task.objects.filter(pk__in=task_ids).update(assignee_id=person_id)
    Task.objects.filter(run__in=runs[READY_RUNS:]).update(
        status=TaskStatus.IN_PROGRESS, started_at=now
    )
    wf.log(f"  work handed out; made in {time.perf_counter() - started:.0f} s")
    return unit


# --- the measurement -----------------------------------------------------------------


def measure(unit: Any, repeat: int) -> dict[str, Any]:
    from rantai.accounts.models import User
    from rantai.roles import rebalancing
    from rantai.roles.fairness import gini

    admin = User.objects.get(username=f"{SLUG}-admin")
    proposals = []

    def propose() -> None:
        proposals.append(rebalancing.propose(unit, actor=admin))

    wf.log("timing rebalancing.propose ...")
    median, times = wf.median_seconds(propose, repeat)
    queries = wf.count_queries(propose)
    proposal = proposals[-1]
    work = rebalancing.problem(unit)
    started = time.perf_counter()
    rebalancing.solve(work.tasks, work.fixed_load)
    solve_seconds = time.perf_counter() - started
    started = time.perf_counter()
    baseline = rebalancing.greedy(work.tasks, work.fixed_load)
    greedy_seconds = time.perf_counter() - started
    greedy_loads = rebalancing.loads_after(
        work.tasks, work.fixed_load, baseline, work.people
    )
    moved_by_greedy = sum(1 for task in work.tasks if baseline[task.id] != task.current)
    return {
        "people": len(work.people),
        "tasks": len(work.tasks),
        "median": median,
        "times": times,
        "queries": queries,
        "solve_seconds": solve_seconds,
        "greedy_seconds": greedy_seconds,
        "moves": len(proposal.moves),
        "gini_before": str(proposal.gini_before),
        "gini_after": str(proposal.gini_after),
        "max_before": max(proposal.load_before.values()),
        "max_after": max(proposal.load_after.values()),
        "greedy_gini": str(gini(greedy_loads.values())),
        "greedy_max": rebalancing.max_load(greedy_loads),
        "greedy_moves": moved_by_greedy,
    }


def main() -> int:
    args = rf.arguments(__doc__.splitlines()[0], repeat=3).parse_args()
    if args.child:
        return rf.child(args, DATA_DIR, lambda: measure(ensure_unit(), args.repeat))
    results = rf.run_each_database(__file__, args, database=DATABASE)
    print()
    print(
        "rebalancing.propose of one unit, end to end (read tasks, candidates and "
        "loads, solve, store the proposal, audit): the median of "
        f"{args.repeat} calls (target < {TARGET_SECONDS:.0f} s)"
    )
    for result in results:
        times = ", ".join(f"{t:.2f}" for t in result["times"])
        verdict = "within" if result["median"] < TARGET_SECONDS else "OVER"
        print(f"  {result['database']}")
        print(
            f"    {result['people']:,} people, {result['tasks']:,} ready tasks: "
            f"{result['median']:.3f} s ({verdict} the target; calls: {times}); "
            f"{result['queries']} SQL statements; the solver alone "
            f"{result['solve_seconds']:.3f} s, the greedy baseline "
            f"{result['greedy_seconds']:.3f} s"
        )
        print(
            f"    Gini before {result['gini_before']} -> after {result['gini_after']} "
            f"(greedy baseline: {result['greedy_gini']}); maximum load (minutes) "
            f"{result['max_before']:,} -> {result['max_after']:,} (greedy: "
            f"{result['greedy_max']:,}); tasks moved {result['moves']:,} (greedy: "
            f"{result['greedy_moves']:,})"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
