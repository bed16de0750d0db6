"""The owner's dashboard of a procedure with 10,000 finished runs of ten steps,
on SQLite and PostgreSQL (target: under 500 ms server time).

What a manager's dashboard page costs (`rantai.insight.dashboard.dashboard`): the
runs completed in the period, their tasks, their dependencies and their obstacles
(a fixed number of statements), then every figure in plain Python — percentiles,
handovers, the critical path of each run, the trend.

The data (made once and kept; `--fresh` builds it again), Asia/Jakarta:

- **through the services**: the organisation; the units Logistics (a head, a
  clerk), Warehouse (a keeper) and Finance (an officer); the forwarder (an external
  partner); the procedure SHIP of ten steps

      intake (clerk) -> verify (clerk) -> pack (keeper)  -> ship (forwarder)
                                       -> label (keeper) -/
                                       -> invoice (finance officer)
      ship -> customs (forwarder) -> deliver (forwarder) -> confirm (clerk,
      also after invoice) -> archive (clerk)

  and one run started (the template of the rows below; it stays active);
- **bulk-inserted**: 10,000 completed runs of it spread over the year before the
  data was made, each with its ten tasks (copied from the template) and eleven
  dependencies; each task waits 0-4 hours, works 40-160 % of its planned
  duration (one in five is completed without being started first); runs are due
  three days after their start (about one in seven is late); every seventh run
  has a resolved obstacle, the causes in turn.

Then, DEBUG off: `dashboard()` over that year (monthly trend), the median of
`--repeat` calls after a warm-up, with its SQL statements; also the party
dashboard of the forwarder and `runs_behind(..., "critical:ship")`. Each time is
given as wall time and as the process's CPU time (on SQLite the database works
inside the process; PostgreSQL's own work is only in the wall time): on a busy
machine the CPU time is the steadier figure.

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/dashboard.py [--repeat 5] [--runs 10000] [--fresh]
"""

from __future__ import annotations

import datetime as dt
import os
import random
import sys
import time
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402
import roles_fixtures as rf  # noqa: E402
import workload_fixtures as wf  # noqa: E402

# The organisation's administrator is told by e-mail: keep it in memory (a
# benchmark machine has no mail server).
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")

TARGET_SECONDS = 0.5
DATA_DIR = fx.ROOT / "var" / "bench" / "dashboard"
DATABASE = "rantai_bench_dashboard"
SLUG = "bench-dashboard"
RUNS = 10_000
BATCH = 500  # runs per bulk insert
JAKARTA = ZoneInfo("Asia/Jakarta")
DUE_DAYS = 3  # after the start: about one run in seven is late
# key, responsible, planned duration, unit, predecessors
STEPS = (
    ("intake", "clerk", 2, "working_hours", ()),
    ("verify", "clerk", 4, "working_hours", ("intake",)),
    ("pack", "keeper", 1, "working_days", ("verify",)),
    ("label", "keeper", 2, "working_hours", ("verify",)),
    ("invoice", "officer", 4, "working_hours", ("verify",)),
    ("ship", "forwarder", 2, "working_days", ("pack", "label")),
    ("customs", "forwarder", 1, "working_days", ("ship",)),
    ("deliver", "forwarder", 1, "working_days", ("customs",)),
    ("confirm", "clerk", 1, "working_hours", ("deliver", "invoice")),
    ("archive", "clerk", 1, "working_hours", ("confirm",)),
)


def period(made_on: dt.date) -> tuple[dt.date, dt.date]:
    """The year of runs before the day the data was made."""
    return made_on - dt.timedelta(days=365), made_on


# --- the data --------------------------------------------------------------------------


def ensure_data() -> tuple[Any, Any, Any, dt.date]:
    """The organisation, the procedure, the forwarder and the day the data was made
    (kept with the data: the template run's start)."""
    from rantai.accounts.models import Organisation
    from rantai.chains.models import Procedure, Run, RunStatus
    from rantai.org.models import Party

    found = Organisation.objects.filter(slug=SLUG).first()
    if found is not None:
        completed = Run.objects.filter(organisation=found, status=RunStatus.COMPLETED)
        if completed.count() != RUNS:
            raise SystemExit(
                f"The kept data has {completed.count():,} completed runs, not "
                f"{RUNS:,}: run with --fresh."
            )
        template = Run.objects.get(organisation=found, title="Template")
        return (
            found,
            Procedure.objects.get(organisation=found, code="SHIP"),
            Party.objects.get(organisation=found, code="FWD"),
            template.started_at.astimezone(JAKARTA).date(),
        )
    return _make()


def _make() -> tuple[Any, Any, Any, dt.date]:
    from rantai.chains import services as chains
    from rantai.chains.models import RaciRole
    from rantai.org import services as org
    from rantai.org.models import PartyKind

    started = time.perf_counter()
    wf.log(f"Making {RUNS:,} completed runs (once) ...")
    admin, organisation, unit, head = rf.make_unit(
        SLUG, name="Bench dashboard", unit_name="Logistics", code="LOG"
    )
    warehouse, finance = (
        org.create_party(
            organisation,
            actor=admin,
            kind=PartyKind.INTERNAL_UNIT,
            name=name,
            code=code,
        )
        for name, code in (("Warehouse", "WH"), ("Finance", "FIN"))
    )
    forwarder = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.EXTERNAL_PARTNER,
        name="Fast Forwarding",
        code="FWD",
    )
    responsible = {
        "clerk": {
            "position": org.create_position(
                organisation, actor=admin, party=unit, title="Clerk", code="CLERK"
            )
        },
        "keeper": {
            "position": org.create_position(
                organisation, actor=admin, party=warehouse, title="Keeper", code="KEEP"
            )
        },
        "officer": {
            "position": org.create_position(
                organisation,
                actor=admin,
                party=finance,
                title="Finance officer",
                code="FIN-OFF",
            )
        },
        "forwarder": {"party": forwarder},
    }
    procedure = chains.create_procedure(
        organisation, actor=admin, code="SHIP", name="Shipment", owner_position=head
    )
    version = procedure.versions.get()
    made = {}
    for key, owner, value, unit_name, _after in STEPS:
        step = chains.add_step(
            version,
            actor=admin,
            key=key,
            name=key.title(),
            duration_value=str(value),
            duration_unit=unit_name,
        )
        chains.add_step_role(
            step, actor=admin, role=RaciRole.RESPONSIBLE, **responsible[owner]
        )
        chains.add_step_role(
            step, actor=admin, role=RaciRole.ACCOUNTABLE, position=head
        )
        made[key] = step
    for key, _owner, _value, _unit, after in STEPS:
        for before in after:
            chains.add_dependency(
                version, actor=admin, predecessor=made[before], successor=made[key]
            )
    today = dt.datetime.now(JAKARTA).replace(hour=8, minute=0, second=0, microsecond=0)
    chains.publish(version, actor=admin, expected_version=None, now=today)
    version.refresh_from_db()
    template = chains.start_run(
        version,
        actor=admin,
        title="Template",
        measure_quantity=10,
        measure_unit="boxes",
        due_at=today + dt.timedelta(days=5),
        now=today,
    )
    wf.log(
        f"  the organisation and the template: {time.perf_counter() - started:.0f} s"
    )
    written = _copy(template, today, admin)
    wf.log(f"  {RUNS:,} runs, {written:,} tasks: {time.perf_counter() - started:.0f} s")
    return organisation, procedure, forwarder, today.date()


def _copy(template: Any, today: dt.datetime, admin: Any) -> int:
    """RUNS completed copies of the template, spread over the past year."""
    from django.db import transaction
    from django.db.models.base import ModelState

    from rantai.chains.models import (
        Run,
        RunResult,
        RunStatus,
        Task,
        TaskDependency,
        TaskStatus,
    )
    from rantai.obstacles.models import Cause, Obstacle, ObstacleStatus, Severity

    tasks = {task.key: task for task in Task.objects.filter(run=template)}
    links = [(before, key) for key, *_rest, after in STEPS for before in after]
    order = [key for key, *_rest in STEPS]
    predecessors = {key: list(after) for key, *_rest, after in STEPS}
    causes = list(Cause.values)
    rng = random.Random(20261128)  # benchmark data, not security
    # Started from 362 to 7 days before today: every run completes in the year.
    first_start = today - dt.timedelta(days=362)
    spacing = dt.timedelta(days=355) / RUNS

    def clone(source: Any) -> Any:
        copy = type(source)()
        copy.__dict__.update(
            {k: v for k, v in source.__dict__.items() if not k.startswith("_")}
        )
        copy.pk = None
        copy._state = ModelState()
        return copy

    written = 0
    for first in range(0, RUNS, BATCH):
        numbers = range(first, min(first + BATCH, RUNS))
        with transaction.atomic():
            runs, plans = [], []
            for number in numbers:
                start = first_start + spacing * number
                times: dict[str, tuple[Any, Any, Any]] = {}
                for key in order:
                    ready = max(
                        (times[before][2] for before in predecessors[key]),
                        default=start,
                    )
                    planned = tasks[key].duration_minutes
                    wait = dt.timedelta(minutes=rng.randrange(0, 240))
                    work = dt.timedelta(minutes=planned * rng.uniform(0.4, 1.6))
                    if rng.random() < 0.2:  # completed without being started
                        done = ready + wait + work
                        times[key] = (ready, done, done)
                    else:
                        times[key] = (ready, ready + wait, ready + wait + work)
                completed = max(done for _r, _s, done in times.values())
                due = start + dt.timedelta(days=DUE_DAYS)
                run = clone(template)
                run.title = f"Run {number}"
                run.started_at = run.created_at = start
                run.due_at = due
                run.status = RunStatus.COMPLETED
                run.completed_at = run.updated_at = run.projected_finish_at = completed
                late = completed > due
                run.result = RunResult.MISSED if late else RunResult.MET
                run.result_delay = completed - due if late else None
                run.actual_quantity = run.measure_quantity
                run.version = 1
                runs.append(run)
                plans.append(times)
            Run.objects.bulk_create(runs)
            new_tasks, obstacles = [], []
            for run, times in zip(runs, plans, strict=True):
                for key in order:
                    task = clone(tasks[key])
                    task.run = run
                    task.status = TaskStatus.DONE
                    task.ready_at, task.started_at, task.done_at = times[key]
                    task.created_at = run.started_at
                    task.updated_at = task.done_at
                    task.assignee_id = None
                    task.version = 1
                    new_tasks.append(task)
                if int(run.title.split()[1]) % 7 == 0:
                    raised = run.started_at + dt.timedelta(hours=3)
                    obstacles.append(
                        Obstacle(
                            organisation_id=run.organisation_id,
                            run=run,
                            title="Held up",
                            description="Something held the run up",
                            cause=causes[len(obstacles) % len(causes)],
                            severity=Severity.MEDIUM,
                            expected_delay_minutes=60 * (1 + len(obstacles) % 8),
                            status=ObstacleStatus.RESOLVED,
                            raised_by=admin,
                            raised_at=raised,
                            closed_by=admin,
                            closed_at=raised + dt.timedelta(hours=5),
                            resolution="Sorted out",
                        )
                    )
            Task.objects.bulk_create(new_tasks, batch_size=1000)
            by_run: dict[int, dict[str, int]] = {}
            for task in new_tasks:
                by_run.setdefault(task.run_id, {})[task.key] = task.pk
            TaskDependency.objects.bulk_create(
                [
                    TaskDependency(
                        organisation_id=run.organisation_id,
                        run=run,
                        predecessor_id=by_run[run.pk][before],
                        successor_id=by_run[run.pk][after],
                    )
                    for run in runs
                    for before, after in links
                ],
                batch_size=1000,
            )
            Obstacle.objects.bulk_create(obstacles, batch_size=1000)
            written += len(new_tasks)
        if (first + len(numbers)) % 2_000 == 0:
            wf.log(f"  {first + len(numbers):,} runs ...")
    return written


# --- the measurement -------------------------------------------------------------------


def measure(organisation: Any, procedure: Any, forwarder: Any, made_on: dt.date,
            repeat: int) -> dict[str, Any]:  # fmt: skip
    from rantai.accounts.access import Access
    from rantai.accounts.models import Membership, Role
    from rantai.insight import dashboard as board

    membership = Membership.objects.select_related("organisation", "user").get(
        organisation=organisation, role=Role.ADMIN
    )
    access = Access(
        organisation=membership.organisation,
        user=membership.user,
        membership=membership,
    )
    start, end = period(made_on)
    now = dt.datetime.combine(end, dt.time(12), tzinfo=JAKARTA)
    scope = board.scope_for(access, "procedure", procedure.pk)
    party = board.scope_for(access, "party", forwarder.pk)

    def procedure_board() -> Any:
        return board.dashboard(access, scope, start=start, end=end, now=now)

    def party_board() -> Any:
        return board.dashboard(access, party, start=start, end=end, now=now)

    def behind() -> Any:
        return board.runs_behind(
            access, scope, start=start, end=end, figure="critical:ship"
        )

    from django.db import connection

    if connection.vendor == "postgresql":
        # A server with autovacuum analyses the bulk-inserted tables by itself
        # (the planner otherwise guesses one run and loops over an index).
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    wf.log("timing the procedure dashboard ...")
    seconds, cpu, times = timed(procedure_board, repeat)
    server_cpu = _server_cpu(procedure_board, repeat)
    wf.log("timing the party dashboard ...")
    party_seconds, party_cpu, _times = timed(party_board, repeat)
    wf.log("timing the runs behind a figure ...")
    behind_seconds, behind_cpu, _times = timed(behind, repeat)
    figures = procedure_board()
    from rantai.chains.models import Task

    return {
        "seconds": seconds,
        "cpu": cpu,
        "times": times,
        "server_cpu": server_cpu,
        "load": os.getloadavg()[0],
        "statements": wf.count_queries(procedure_board),
        "party_seconds": party_seconds,
        "party_cpu": party_cpu,
        "behind_seconds": behind_seconds,
        "behind_cpu": behind_cpu,
        "behind_runs": len(behind()),
        "finished": figures.finished,
        "on_time": figures.on_time,
        "tasks": Task.objects.filter(run__procedure=procedure).count(),
        "lead": [figures.lead.median_hours, figures.lead.p90_hours],
        "steps": len(figures.steps),
        "handovers": len(figures.handovers),
        "trend": len(figures.trend),
        "causes": len(figures.causes),
    }


def _server_cpu(function: Any, repeat: int) -> float | None:
    """The median CPU time of the PostgreSQL server process serving the
    connection during a call (read from /proc: only when the server runs on this
    machine and is readable), else None."""
    import statistics

    from django.db import connection

    if connection.vendor != "postgresql":
        return None
    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_backend_pid()")
        (pid,) = cursor.fetchone()
    stat = Path(f"/proc/{pid}/stat")
    tick = os.sysconf("SC_CLK_TCK")

    def used() -> float:
        fields = stat.read_text().rsplit(")", 1)[1].split()
        return (int(fields[11]) + int(fields[12])) / tick

    try:
        used()
    except OSError:
        return None
    spent = []
    for _ in range(repeat):
        before = used()
        function()
        spent.append(used() - before)
    return statistics.median(spent)


def timed(function: Any, repeat: int) -> tuple[float, float, list[float]]:
    """The median wall time and the median process CPU time of `repeat` calls
    (after one warm-up call), and each wall time."""
    import gc
    import statistics

    function()
    walls, cpus = [], []
    for _ in range(repeat):
        gc.collect()
        wall, cpu = time.perf_counter(), time.process_time()
        function()
        cpus.append(time.process_time() - cpu)
        walls.append(time.perf_counter() - wall)
    return statistics.median(walls), statistics.median(cpus), walls


def main() -> int:
    global RUNS
    parser = rf.arguments(__doc__.splitlines()[0], repeat=5)
    parser.add_argument("--runs", type=int, default=RUNS, help="completed runs")
    args = parser.parse_args()
    RUNS = args.runs
    if args.child:

        def figures() -> dict[str, Any]:
            organisation, procedure, forwarder, made_on = ensure_data()
            return measure(organisation, procedure, forwarder, made_on, args.repeat)

        return rf.child(args, DATA_DIR, figures)
    results = rf.run_each_database(__file__, args, database=DATABASE)
    print()
    print(
        f"The owner's dashboard of a procedure with {RUNS:,} finished runs, the "
        f"median of {args.repeat} calls (target < {TARGET_SECONDS * 1000:.0f} ms)"
    )
    for result in results:
        seconds = result["seconds"]
        verdict = "within" if seconds < TARGET_SECONDS else "OVER"
        times = ", ".join(f"{t * 1000:.0f}" for t in result["times"])
        print(f"  {result['database']}")
        print(
            f"    dashboard(): {seconds * 1000:.0f} ms wall ({verdict} the target; "
            f"{times} ms), {result['cpu'] * 1000:.0f} ms CPU; "
            f"{result['statements']} SQL statements; load average "
            f"{result['load']:.1f} at the end"
        )
        if result.get("server_cpu") is not None:
            total = result["cpu"] + result["server_cpu"]
            print(
                f"    the server's CPU: {result['server_cpu'] * 1000:.0f} ms "
                f"(process + server: {total * 1000:.0f} ms CPU)"
            )
        print(
            f"    {result['finished']:,} runs finished ({result['on_time']:,} on "
            f"time), {result['tasks']:,} tasks; lead time median "
            f"{result['lead'][0]:.1f} h, p90 {result['lead'][1]:.1f} h; "
            f"{result['steps']} steps, {result['handovers']} handovers, "
            f"{result['causes']} causes, {result['trend']} trend points"
        )
        print(
            "    the forwarder's party dashboard: "
            f"{result['party_seconds'] * 1000:.0f} ms wall, "
            f"{result['party_cpu'] * 1000:.0f} ms CPU; runs_behind(critical:ship): "
            f"{result['behind_seconds'] * 1000:.0f} ms wall, "
            f"{result['behind_cpu'] * 1000:.0f} ms CPU ({result['behind_runs']:,} runs)"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
