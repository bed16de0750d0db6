"""`obstacles.impact.what_if` on a 10,000-task run, on SQLite and PostgreSQL
(target: under 50 ms, the database reads included).

`what_if` answers, before an obstacle is saved, which unfinished tasks its expected
delay moves and by how much, and what it does to the projected finish and the
status against the due date. It reads the run with its calendar, its tasks and its
dependencies (three statements) and runs the critical path method twice in
working-minute offsets. Each figure is the median and the 95th percentile of
`--repeat` calls after a warm-up call, DEBUG off; the SQL statements of one call
are counted separately (`CaptureQueriesContext`). Also timed, for information:
`chains.services.set_expected_delays` (what raising or resolving an obstacle then
writes: the delays, the paths to the end, the projection), rolled back each time.

The run: one procedure version of `--steps` steps (default 10,000) in 100 layers,
each step after one or two steps of the layer before (one link in eight
start-to-start, one in six with a lag), 1 to 16 working hours each, and a run of
it started 40 days before the moment measured: the first 30 layers done, half of
layer 31 in progress and half ready, the rest pending, open delays on three tasks
and a hold of an hour on the run. Three what-ifs:

- a day's delay on a task in flight (its successors move, as far as the end);
- a day's delay on a pending task late in the run (few tasks move);
- a day's hold on the whole run (every unfinished task moves).

The data is made once and kept (`--fresh` makes it again): SQLite in
`var/bench/impact/sqlite/`, PostgreSQL in the database `rantai_bench_impact` on the
server DATABASE_URL names (`--drop` removes it at the end). The organisation, its
administrator, its calendar and the delays go through the services; the
procedure and the run are bulk inserts of what the services would write
(`start_run` inserts a run's tasks in one statement, more parameters than SQLite
takes at this size).

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/obstacle_impact.py [--steps 10000]
        [--repeat 50] [--fresh] [--drop]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402
import roles_fixtures as rf  # noqa: E402
import workload_fixtures as wf  # noqa: E402

TARGET_MS = 50.0
DATA_DIR = fx.ROOT / "var" / "bench" / "impact"
DATABASE = "rantai_bench_impact"
SLUG = "bench-impact"
# Monday 2 March 2026, 10:00 in Jakarta: the moment the what-ifs look from.
NOW = dt.datetime(2026, 3, 2, 3, 0, tzinfo=dt.UTC)
STARTED = NOW - dt.timedelta(days=40)
LAYERS = 100
DONE_LAYERS = 30
DAY = 480  # working minutes (08:00-16:00)
BATCH = 2_000
SEED = 7


def arguments() -> argparse.ArgumentParser:
    parser = rf.arguments(__doc__.splitlines()[0], repeat=50)
    parser.add_argument("--steps", type=int, default=10_000)
    return parser


# --- the data ----------------------------------------------------------------------------


def ensure_run(steps: int) -> Any:
    """The bench run; made once."""
    from rantai.accounts.models import Organisation
    from rantai.chains.models import Run

    found = Organisation.objects.filter(slug=SLUG).first()
    if found is not None:
        run = Run.objects.select_related("organisation").get(organisation=found)
        have = run.tasks.count()
        if have != steps:
            raise SystemExit(
                f"The kept run has {have:,} tasks, not {steps:,}: run with --fresh."
            )
        return run
    return _make(steps)


def _make(steps: int) -> Any:
    from django.db import transaction

    from rantai.chains import projection
    from rantai.chains import services as chains
    from rantai.chains.models import (
        DependencyKind,
        DurationUnit,
        Procedure,
        ProcedureVersion,
        RaciRole,
        Run,
        Step,
        StepDependency,
        StepRole,
        Task,
        TaskDependency,
        TaskStatus,
        VersionStatus,
    )
    from rantai.org.models import Party, PartyKind, Position

    started = time.perf_counter()
    wf.log(f"Making a run of {steps:,} tasks (once) ...")
    bench = rf.make_unit(SLUG, name="Bench impact", unit_name="Operations", code="OPS")
    admin, organisation = bench.admin, bench.organisation
    chains.update_working_calendar(
        organisation,
        actor=admin,
        expected_version=None,
        working_weekdays=[0, 1, 2, 3, 4],
        day_start=dt.time(8, 0),
        day_end=dt.time(16, 0),
    )
    partner = Party.objects.create(
        organisation=organisation,
        kind=PartyKind.EXTERNAL_PARTNER,
        name="Forwarder",
        code="FWD",
    )
    staff = Position.objects.bulk_create(
        [
            Position(
                organisation=organisation,
                party=bench.unit,
                title=f"Officer {n:02d}",
                code=f"OPS-{n:02d}",
            )
            for n in range(20)
        ]
    )
    procedure = Procedure.objects.create(
        organisation=organisation,
        code="BIG",
        name="A very long procedure",
        owner_position=bench.head,
    )
    version = ProcedureVersion.objects.create(
        organisation=organisation,
        procedure=procedure,
        number=1,
        status=VersionStatus.PUBLISHED,
        published_at=STARTED - dt.timedelta(days=1),
        published_by=admin,
    )
    rng = random.Random(SEED)
    per_layer = steps // LAYERS
    step_rows = Step.objects.bulk_create(
        [
            Step(
                organisation=organisation,
                procedure_version=version,
                key=f"s{number:05d}",
                name=f"Step {number:05d}",
                duration_value=Decimal(rng.randint(1, 16)),
                duration_unit=DurationUnit.WORKING_HOURS,
                sort_order=(number + 1) * 10,
            )
            for number in range(steps)
        ],
        batch_size=BATCH,
    )
    roles = []
    for number, step in enumerate(step_rows):
        if number % 13 == 0:
            roles.append(
                StepRole(
                    organisation=organisation,
                    step=step,
                    role=RaciRole.RESPONSIBLE,
                    party=partner,
                )
            )
        else:
            roles.append(
                StepRole(
                    organisation=organisation,
                    step=step,
                    role=RaciRole.RESPONSIBLE,
                    position=staff[number % len(staff)],
                )
            )
        roles.append(
            StepRole(
                organisation=organisation,
                step=step,
                role=RaciRole.ACCOUNTABLE,
                position=bench.head,
            )
        )
    StepRole.objects.bulk_create(roles, batch_size=BATCH)
    links = []
    for number in range(per_layer, steps):
        layer = number // per_layer
        previous = range((layer - 1) * per_layer, layer * per_layer)
        for predecessor in rng.sample(previous, rng.choice((1, 1, 2))):
            start_to_start = rng.random() < 1 / 8
            lag = rng.random() < 1 / 6
            links.append(
                StepDependency(
                    organisation=organisation,
                    procedure_version=version,
                    predecessor=step_rows[predecessor],
                    successor=step_rows[number],
                    kind=DependencyKind.START_TO_START
                    if start_to_start
                    else DependencyKind.FINISH_TO_START,
                    lag_value=Decimal(rng.randint(1, 4)) if lag else Decimal(0),
                    lag_unit=DurationUnit.WORKING_HOURS,
                )
            )
    StepDependency.objects.bulk_create(links, batch_size=BATCH)
    step_index = {step.pk: index for index, step in enumerate(step_rows)}
    wf.log(
        f"  {len(step_rows):,} steps, {len(links):,} dependencies: "
        f"{time.perf_counter() - started:.0f} s"
    )

    # The run as `chains.services.start_run` leaves it (which inserts a run's
    # tasks in one statement: beyond SQLite's limit on parameters at this size),
    # then the first layers done (each at its own time before now), half of the
    # next in progress, half ready, the rest pending: as the transitions would
    # leave them.
    run = Run.objects.create(
        organisation=organisation,
        procedure=procedure,
        procedure_version=version,
        title="A very long run",
        measure_quantity=1,
        measure_unit="order",
        due_at=NOW + dt.timedelta(days=200),
        started_by=admin,
        started_at=STARTED,
    )
    done_count = DONE_LAYERS * per_layer
    span = (NOW - dt.timedelta(hours=2) - STARTED) / done_count
    responsible = {
        role.step_id: role for role in roles if role.role == RaciRole.RESPONSIBLE
    }
    tasks = []
    for index, step in enumerate(step_rows):
        task = Task(
            organisation=organisation,
            run=run,
            step=step,
            key=step.key,
            name=step.name,
            sort_order=step.sort_order,
            duration_minutes=int(step.duration_value) * 60,
            responsible_position=responsible[step.pk].position,
            responsible_party=responsible[step.pk].party,
            accountable_position=bench.head,
            status=TaskStatus.PENDING,
        )
        if index < done_count:
            task.status = TaskStatus.DONE
            task.ready_at = task.started_at = STARTED + span * index
            task.done_at = STARTED + span * (index + 1)
        elif index < done_count + per_layer:
            task.ready_at = NOW - dt.timedelta(hours=2)
            if index % 2:
                task.status = TaskStatus.IN_PROGRESS
                task.started_at = NOW - dt.timedelta(hours=1)
            else:
                task.status = TaskStatus.READY
        tasks.append(task)
    Task.objects.bulk_create(tasks, batch_size=BATCH)
    TaskDependency.objects.bulk_create(
        [
            TaskDependency(
                organisation=organisation,
                run=run,
                predecessor=tasks[step_index[link.predecessor_id]],
                successor=tasks[step_index[link.successor_id]],
                kind=link.kind,
                lag_minutes=int(link.lag_value) * 60,
            )
            for link in links
        ],
        batch_size=BATCH,
    )
    with transaction.atomic():
        projection.recompute_paths(run)
        # open obstacles: delays on three tasks, an hour's hold on the run
        chains.set_expected_delays(
            run,
            task_delays={
                tasks[done_count + 1].pk: 120,
                tasks[done_count + 3 * per_layer].pk: DAY,
                tasks[steps - 5].pk: 60,
            },
            hold_minutes=60,
            now=NOW,
        )
    wf.log(f"  made in {time.perf_counter() - started:.0f} s")
    return Run.objects.select_related("organisation").get(pk=run.pk)


# --- the measurement ---------------------------------------------------------------------


def timed(function: Callable[[], Any], repeat: int) -> tuple[list[float], list[float]]:
    """Milliseconds of `repeat` calls after a warm-up call: wall-clock time, and
    the CPU time of this process (what the call costs here when other work
    competes for the CPUs; the database server's share is not in it)."""
    function()
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        started, cpu = time.perf_counter(), time.process_time()
        function()
        walls.append((time.perf_counter() - started) * 1000)
        cpus.append((time.process_time() - cpu) * 1000)
    return walls, cpus


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def figures(args: argparse.Namespace) -> dict[str, Any]:
    from django.db import transaction

    from rantai.chains import services as chains
    from rantai.chains.models import Task, TaskStatus
    from rantai.obstacles.impact import what_if

    run = ensure_run(args.steps)
    in_flight = Task.objects.filter(run=run, status=TaskStatus.IN_PROGRESS).order_by(
        "sort_order"
    )[0]
    late_pending = Task.objects.filter(run=run, status=TaskStatus.PENDING).order_by(
        "-sort_order"
    )[20]
    cases: dict[str, Callable[[], Any]] = {
        "a day on a task in flight": lambda: what_if(
            run, task=in_flight, delay_minutes=DAY, now=NOW
        ),
        "a day on a pending task late in the run": lambda: what_if(
            run, task=late_pending, delay_minutes=DAY, now=NOW
        ),
        "a day's hold on the run": lambda: what_if(run, delay_minutes=DAY, now=NOW),
    }
    results: dict[str, Any] = {}
    for name, case in cases.items():
        wf.log(f"timing what_if: {name} ...")
        times, cpus = timed(case, args.repeat)
        impact = case()
        results[name] = {
            "median": statistics.median(times),
            "p95": p95(times),
            "cpu": statistics.median(cpus),
            "queries": wf.count_queries(case),
            "moved": len(impact.moved),
            "shift": impact.shift_minutes,
            "before": impact.status_before,
            "after": impact.status_after,
        }

    class Rollback(Exception):
        pass

    def carry() -> None:
        # what raising an obstacle on the task in flight writes; undone again
        try:
            with transaction.atomic():
                chains.set_expected_delays(
                    run,
                    task_delays={in_flight.pk: 240},
                    hold_minutes=60,
                    now=NOW,
                )
                raise Rollback
        except Rollback:
            pass

    wf.log("timing set_expected_delays ...")
    carry_times, _cpus = timed(carry, max(5, args.repeat // 5))
    tasks = Task.objects.filter(run=run)
    return {
        "tasks": tasks.count(),
        "dependencies": run.dependencies.count(),
        "unfinished": tasks.exclude(
            status__in=(TaskStatus.DONE, TaskStatus.SKIPPED)
        ).count(),
        "cases": results,
        "carry": {
            "median": statistics.median(carry_times),
            "p95": p95(carry_times),
            "queries": wf.count_queries(carry),
        },
    }


def main() -> int:
    args = arguments().parse_args()
    if args.child:
        return rf.child(args, DATA_DIR, lambda: figures(args))
    results = rf.run_each_database(__file__, args, database=DATABASE)
    print()
    print(
        "obstacles.impact.what_if on one run, database reads included: the median "
        f"and 95th percentile of {args.repeat} calls (target < {TARGET_MS:.0f} ms)"
    )
    for result in results:
        print(f"  {result['database']}")
        print(
            f"    {result['tasks']:,} tasks ({result['unfinished']:,} unfinished), "
            f"{result['dependencies']:,} dependencies"
        )
        for name, case in result["cases"].items():
            verdict = "within" if case["median"] < TARGET_MS else "OVER"
            print(
                f"    {name}: median {case['median']:.1f} ms, p95 "
                f"{case['p95']:.1f} ms ({verdict} the target; CPU of this "
                f"process {case['cpu']:.1f} ms); "
                f"{case['queries']} SQL statements; tasks moved: {case['moved']:,} "
                f"(at most {case['shift']} min); {case['before']} -> {case['after']}"
            )
        carry = result["carry"]
        print(
            f"    set_expected_delays (for information): median "
            f"{carry['median']:.1f} ms, p95 {carry['p95']:.1f} ms; "
            f"{carry['queries']} SQL statements"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
