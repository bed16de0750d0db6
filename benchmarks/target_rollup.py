"""The roll-up of 1,000 targets over 100,000 runs, on SQLite and PostgreSQL
(target: under 1 s).

What a targets page and the owner's overview ask for (`rantai.insight.targets.
roll_up`): every target of the organisation with its actual, secure, at-risk and
after-the-period figures and its status — its own runs plus all its descendants'.
One query for the targets, one grouped aggregate over the runs (conditional sums
per target, the period bounds of each target in the organisation's time zone as a
VALUES list), then a linear pass over the tree.

The data (made once and kept; `--fresh` builds it again), Asia/Jakarta:

- **through the services**: the organisation, a unit, the owner position and its
  holder, and a published one-step procedure;
- **in bulk** (plain INSERTs through `rantai.core.sql`): 1,000 targets in units —
  200 top-level targets, 500 under them and 300 a level further down — with
  quarterly or monthly periods around today, and 100,000 runs toward them, mixed:
  40% completed (most within their target's period, some before it), 35% active
  on track, 8% at risk, 5% late, 4% suspended, 3% projected after the period and
  5% cancelled.

Then, DEBUG off: `roll_up` over every target (the median of `--repeat` calls after
a warm-up, with its SQL statements), `target_tree` as an administrator, and
`progress` of the busiest top-level target (its runs at risk and the explanation).

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/target_rollup.py [--repeat 5] [--fresh] [--drop]
"""

from __future__ import annotations

import datetime as dt
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

TARGET_SECONDS = 1.0
DATA_DIR = fx.ROOT / "var" / "bench" / "targets"
DATABASE = "rantai_bench_targets"
SLUG = "bench-targets"
TARGETS = 1_000
RUNS = 100_000
TOP, MIDDLE = 200, 500  # the rest are a level further down
BATCH = 5_000
JAKARTA = ZoneInfo("Asia/Jakarta")


def moment() -> dt.datetime:
    """The moment of the measurement: today 10:00 in Jakarta."""
    today = dt.datetime.now(JAKARTA).date()
    return dt.datetime.combine(today, dt.time(10), tzinfo=JAKARTA).astimezone(dt.UTC)


def ensure_data() -> tuple[Any, Any]:
    """The organisation and its administrator, built unless already there."""
    from rantai.accounts.models import Organisation
    from rantai.chains.models import Run, Target

    found = Organisation.objects.filter(slug=SLUG).first()
    if (
        found is not None
        and Target.objects.filter(organisation=found).count() == TARGETS
        and Run.objects.filter(organisation=found).count() == RUNS
    ):
        wf.log(f"  data found: {TARGETS:,} targets, {RUNS:,} runs")
        from rantai.accounts.models import Membership, Role

        admin = (
            Membership.objects.filter(organisation=found, role=Role.ADMIN)
            .select_related("user")
            .first()
        )
        assert admin is not None
        return found, admin.user
    if found is not None:
        raise SystemExit(
            f"the organisation {SLUG} is incomplete: run again with --fresh"
        )
    return build()


def build() -> tuple[Any, Any]:
    from django.db import transaction

    from rantai.chains.models import (
        Run,
        RunResult,
        RunStatus,
        ScheduleStatus,
        Target,
    )
    from rantai.core import sql

    started = time.perf_counter()
    bench = fx.make_org(SLUG, titles=(("OPS-HEAD", "Head of operations"),))
    organisation, owner = bench.organisation, bench.positions[0]
    version = fx.build_procedure(
        bench,
        code="SHIP",
        name="Shipment",
        steps=[fx.StepDef("ship", "Ship", 0)],
    )
    wf.log(f"  organisation and procedure ({time.perf_counter() - started:.0f}s)")

    rng = random.Random(8)
    now = moment()
    today = now.astimezone(JAKARTA).date()
    quarter_start = dt.date(today.year, 3 * ((today.month - 1) // 3) + 1, 1)
    quarter_end = (
        dt.date(quarter_start.year + (quarter_start.month + 2) // 12, 1, 1)
        if quarter_start.month == 10
        else dt.date(quarter_start.year, quarter_start.month + 3, 1)
    ) - dt.timedelta(days=1)
    month_start = dt.date(today.year, today.month, 1)
    month_end = (
        dt.date(today.year + 1, 1, 1)
        if today.month == 12
        else dt.date(today.year, today.month + 1, 1)
    ) - dt.timedelta(days=1)

    def utc(day: dt.date, hour: int) -> dt.datetime:
        return dt.datetime.combine(day, dt.time(hour), tzinfo=JAKARTA).astimezone(
            dt.UTC
        )

    with transaction.atomic():
        target_ids: list[int] = []
        periods: dict[int, tuple[dt.date, dt.date]] = {}
        for level, count in ((0, TOP), (1, MIDDLE), (2, TARGETS - TOP - MIDDLE)):
            rows = []
            for i in range(count):
                parent = None
                if level == 1:
                    parent = target_ids[rng.randrange(TOP)]
                elif level == 2:
                    parent = target_ids[TOP + rng.randrange(MIDDLE)]
                monthly = level == 2 or rng.random() < 0.3
                period = (
                    (month_start, month_end)
                    if monthly
                    else (quarter_start, quarter_end)
                )
                rows.append(
                    {
                        "organisation_id": organisation.pk,
                        "parent_id": parent,
                        "party_id": None,
                        "name": f"Target {level}-{i:04d}",
                        "description": "",
                        "measure_quantity": rng.choice((2_000, 5_000, 10_000)),
                        "measure_unit": "units",
                        "period_start": period[0],
                        "period_end": period[1],
                        "owner_position_id": owner.pk,
                        "is_active": True,
                        "version": 1,
                        "created_at": now,
                        "updated_at": now,
                    }
                )
            ids = sql.insert(Target, rows)
            for row, pk in zip(rows, ids, strict=True):
                periods[pk] = (row["period_start"], row["period_end"])
            target_ids += ids
        wf.log(f"  {len(target_ids):,} targets ({time.perf_counter() - started:.0f}s)")

        rows = []
        for i in range(RUNS):
            target_id = target_ids[rng.randrange(len(target_ids))]
            first, last = periods[target_id]
            quantity = rng.choice((50, 100, 200, 500))
            roll = rng.random()
            began = utc(first, 8) - dt.timedelta(days=rng.randrange(0, 20))
            due = began + dt.timedelta(days=rng.randrange(5, 30))
            row: dict[str, Any] = {
                "organisation_id": organisation.pk,
                "procedure_id": version.procedure_id,
                "procedure_version_id": version.pk,
                "title": f"Run {i:06d}",
                "objective": "",
                "measure_quantity": quantity,
                "measure_unit": "units",
                "due_at": due,
                "target_id": target_id,
                "field_values": {},
                "status": RunStatus.ACTIVE,
                "status_reason": "",
                "started_by_id": bench.owner.pk,
                "started_at": began,
                "completed_at": None,
                "result": RunResult.NONE,
                "result_delay": None,
                "actual_quantity": None,
                "projected_finish_at": None,
                "schedule_status": ScheduleStatus.ON_TRACK,
                "schedule_revision": 1,
                "hold_minutes": 0,
                "version": 1,
                "created_at": began,
                "updated_at": began,
            }
            days_in = max(1, (min(today, last) - first).days)
            if roll < 0.40:  # completed: mostly within the period, some before
                inside = rng.random() < 0.9
                day = (
                    first + dt.timedelta(days=rng.randrange(days_in))
                    if inside
                    else first - dt.timedelta(days=rng.randrange(1, 30))
                )
                done = utc(day, rng.randrange(8, 17))
                row.update(
                    status=RunStatus.COMPLETED,
                    completed_at=done,
                    result=RunResult.MET,
                    actual_quantity=quantity - rng.choice((0, 0, 0, 10)),
                    projected_finish_at=done,
                    started_at=min(began, done - dt.timedelta(days=1)),
                )
            elif roll < 0.95:
                finish = utc(
                    today
                    + dt.timedelta(
                        days=rng.randrange(0, max(1, (last - today).days + 1))
                    ),
                    15,
                )
                row["projected_finish_at"] = finish
                if roll < 0.75:
                    pass  # on track
                elif roll < 0.83:
                    row["schedule_status"] = ScheduleStatus.AT_RISK
                elif roll < 0.88:
                    row["schedule_status"] = ScheduleStatus.LATE
                elif roll < 0.92:
                    row["status"] = RunStatus.SUSPENDED
                    row["status_reason"] = "Waiting for the customer"
                else:  # projected after the period
                    row["projected_finish_at"] = utc(
                        last + dt.timedelta(days=rng.randrange(1, 20)), 15
                    )
                    row["schedule_status"] = ScheduleStatus.LATE
            else:
                row.update(status=RunStatus.CANCELLED, status_reason="Dropped")
            rows.append(row)
            if len(rows) == BATCH:
                sql.insert(Run, rows)
                rows = []
                if (i + 1) % 20_000 == 0:
                    wf.log(
                        f"  runs {i + 1:,}/{RUNS:,} "
                        f"({time.perf_counter() - started:.0f}s)"
                    )
        if rows:
            sql.insert(Run, rows)
    from django.db import connection

    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("ANALYZE")
    wf.log(f"  built in {time.perf_counter() - started:.0f}s")
    return organisation, bench.admin


def cpu_seconds(function: Any, repeat: int) -> tuple[float, list[float]]:
    """Like `median_seconds`, in this process's CPU time: on a busy machine the
    wall time counts the other processes' turns too (SQLite runs in this
    process, so its CPU time is the whole cost; PostgreSQL's server work is not
    in it)."""
    import gc
    import statistics

    function()
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.process_time()
        function()
        times.append(time.process_time() - started)
    return statistics.median(times), times


def measure(organisation: Any, admin: Any, repeat: int) -> dict[str, Any]:
    from rantai.accounts.access import access_for
    from rantai.chains.models import Run, Target
    from rantai.insight import targets

    now = moment()
    access = access_for(admin, SLUG)
    result: dict[str, Any] = {}
    seconds, times = wf.median_seconds(
        lambda: targets.roll_up(organisation, now=now), repeat
    )
    cpu, cpu_times = cpu_seconds(lambda: targets.roll_up(organisation, now=now), repeat)
    result.update(
        roll_up=seconds,
        roll_up_times=times,
        roll_up_cpu=cpu,
        roll_up_cpu_times=cpu_times,
        roll_up_statements=wf.count_queries(
            lambda: targets.roll_up(organisation, now=now)
        ),
    )
    progress = targets.roll_up(organisation, now=now)
    statuses: dict[str, int] = {}
    for item in progress.values():
        statuses[item.status] = statuses.get(item.status, 0) + 1
    result["statuses"] = statuses
    seconds, times = wf.median_seconds(
        lambda: targets.target_tree(access, now=now), repeat
    )
    result.update(tree=seconds, tree_times=times)
    busiest = max(
        (item for item in progress.values() if item.target.parent_id is None),
        key=lambda item: item.active_runs + item.completed_runs,
    )
    seconds, times = wf.median_seconds(
        lambda: targets.progress(access, busiest.target, now=now), repeat
    )
    explained = targets.progress(access, busiest.target, now=now)
    result.update(
        progress=seconds,
        progress_times=times,
        progress_statements=wf.count_queries(
            lambda: targets.progress(access, busiest.target, now=now)
        ),
        progress_runs=busiest.active_runs + busiest.completed_runs,
        progress_listed=len(explained.risky_runs),
        targets=Target.objects.filter(organisation=organisation).count(),
        runs=Run.objects.filter(organisation=organisation).count(),
    )
    return result


def main() -> int:
    parser = rf.arguments(__doc__.splitlines()[0], repeat=5)
    args = parser.parse_args()
    if args.child:

        def figures() -> dict[str, Any]:
            organisation, admin = ensure_data()
            return measure(organisation, admin, args.repeat)

        return rf.child(args, DATA_DIR, figures)
    results = rf.run_each_database(__file__, args, database=DATABASE)
    print()
    print(
        f"The roll-up of {TARGETS:,} targets over {RUNS:,} runs, the median of "
        f"{args.repeat} calls (target < {TARGET_SECONDS:.0f} s)"
    )
    for result in results:
        print(f"  {result['database']}")
        seconds = result["roll_up"]
        verdict = "within" if seconds < TARGET_SECONDS else "OVER"
        times = ", ".join(f"{t:.3f}" for t in result["roll_up_times"])
        print(
            f"    roll_up, every target: {seconds:.3f} s ({verdict} the target; "
            f"{times}); {result['roll_up_statements']} SQL statements"
        )
        print(
            f"    roll_up, CPU time of this process: {result['roll_up_cpu']:.3f} s "
            f"({', '.join(f'{t:.3f}' for t in result['roll_up_cpu_times'])})"
        )
        statuses = ", ".join(
            f"{status} {count:,}"
            for status, count in sorted(result["statuses"].items())
        )
        print(f"    statuses: {statuses}")
        print(f"    target_tree (administrator): {result['tree']:.3f} s")
        print(
            f"    progress of the busiest top-level target ({result['progress_runs']:,} "
            f"runs, {result['progress_listed']:,} listed): {result['progress']:.3f} s, "
            f"{result['progress_statements']} SQL statements"
        )
        print(f"    data: {result['targets']:,} targets, {result['runs']:,} runs")
    return 0


if __name__ == "__main__":
    sys.exit(main())
