"""Server time and SQL queries of a run's page and "my tasks" with 1,000 runs and
50,000 tasks in the database.

Generates once (cached in var/bench/runs/; `--regenerate` starts again) an
organisation with 10 procedures of 50 steps (5 lanes of 10 steps, the lanes meeting
half-way; 10 positions per procedure, each responsible for 5 steps, each held by one
person with a login) and 100 runs of each:

- **through the services** (40 runs): per procedure one run driven to completion,
  two active runs at about 30 % and 70 % of their tasks, one cancelled after a few
  tasks — `start_run`, `start_task`, `complete_task`, `cancel_run` with a past clock,
  so they carry their real audit events and projections;
- **copied** (960 runs): each procedure's service-made runs are cloned row for row
  (run, tasks, task roles, task dependencies; bulk inserts, new ids, timestamps
  shifted into the past) until the procedure has 78 completed, 19 active and 3
  cancelled runs; each copy gets audit events through `audit.record_many` (the run
  started, each task started and completed, the run completed or cancelled), so the
  audit table and its hash chain are realistic too. Copies are not re-validated by
  the services: they are copies of states the services produced.

Then requests, through Django's test client in-process (server time: routing,
middleware, view, queries, template; no network), DEBUG off:

- the page of an active run (50 tasks, 35 done) as the procedure's owner: a
  service-made one, whose audit events are among the organisation's first, and a
  copy made last, whose events are the newest (the history panel once walked the
  organisation's chain from the newest event until it had found the run's); and
  of a completed run; and the whole history of the first run (its first page);
- "my tasks" of a person who holds one position (5 steps in each of their
  procedure's runs).

Prints median and p95 per page (timed without query capture) and the number of SQL
queries of one request (captured separately); then the history panel of the two
active runs' pages alone (its query and rows, no request).

    .venv/bin/python benchmarks/run_pages.py [--repeat 30] [--regenerate]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import statistics
import sys
import time
from collections import defaultdict
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402

DATA_DIR = fx.ROOT / "var" / "bench" / "runs"
SLUG = "bench-runs"
PROCEDURES = 10
LANES, DEPTH = 5, 10  # 50 steps
POSITIONS_PER_PROCEDURE = 10
RUNS_PER_PROCEDURE = 100
# (what, copies) per procedure: 1 + 77 completed, 2 x (1 + 8 or 9) active, 1 + 2
# cancelled = 100 runs.
COPIES = {"completed": 77, "early": 8, "late": 9, "cancelled": 2}


def positions() -> list[tuple[str, str]]:
    return [
        (f"P{p:02d}-{i}", f"Procedure {p} role {i}")
        for p in range(PROCEDURES)
        for i in range(POSITIONS_PER_PROCEDURE)
    ]


def procedure_steps(number: int) -> list[fx.StepDef]:
    """5 lanes of 10 sequential steps; every lane's 6th step also waits on lane 0's
    5th. Lane i's first half belongs to position 2i, its second half to 2i + 1."""
    steps = []
    offset = number * POSITIONS_PER_PROCEDURE
    for lane in range(LANES):
        for depth in range(DEPTH):
            after = [f"l{lane}s{depth - 1:02d}"] if depth else []
            if depth == DEPTH // 2 and lane:
                after.append(f"l0s{depth - 1:02d}")
            steps.append(
                fx.StepDef(
                    f"l{lane}s{depth:02d}",
                    f"Lane {lane} step {depth}",
                    offset + lane * 2 + (depth >= DEPTH // 2),
                    str(((lane * 7 + depth * 3) % 4 + 1) * 4),
                    unit="working_hours",
                    after=tuple(after),
                )
            )
    return steps


# --- generating -----------------------------------------------------------------------


def drive_until(
    bench: fx.BenchOrg, run: Any, tasks: int, clock: list[dt.datetime]
) -> None:
    """Start and complete ready tasks (30 minutes apart on the clock) until `tasks`
    are done."""
    from rantai.chains import services as chains
    from rantai.chains.models import Task

    done = 0
    while done < tasks and (ready := fx.ready_tasks(run.pk)):
        for task_id, assignee_id in ready:
            user = bench.users_by_person[assignee_id]  # type: ignore[index]
            for action in (chains.start_task, chains.complete_task):
                task = Task.objects.get(pk=task_id)
                clock[0] += dt.timedelta(minutes=30)
                action(task, actor=user, expected_version=task.version, now=clock[0])
            done += 1
            if done >= tasks:
                break


def service_runs(bench: fx.BenchOrg, version: Any, number: int) -> dict[str, Any]:
    from rantai.chains import services as chains

    now = dt.datetime.now(dt.UTC).replace(microsecond=0)
    plan = {
        "completed": (now - dt.timedelta(days=60 + number), LANES * DEPTH),
        "early": (now - dt.timedelta(days=5), 15),
        "late": (now - dt.timedelta(days=9), 35),
        "cancelled": (now - dt.timedelta(days=20 + number), 5),
    }
    made = {}
    for what, (started, tasks) in plan.items():
        clock = [started]
        run = chains.start_run(
            version,
            actor=bench.owner,
            title=f"Procedure {number}: {what} run",
            measure_quantity=500,
            measure_unit="units",
            due_at=started + dt.timedelta(days=30),
            now=started,
        )
        drive_until(bench, run, tasks, clock)
        if what == "cancelled":
            run.refresh_from_db()
            clock[0] += dt.timedelta(hours=1)
            chains.cancel_run(
                run,
                actor=bench.admin,
                expected_version=None,
                reason="Order withdrawn",
                now=clock[0],
            )
        run.refresh_from_db()
        made[what] = run
    return made


RUN_TIMES = (
    "created_at",
    "updated_at",
    "started_at",
    "due_at",
    "completed_at",
    "projected_finish_at",
)
TASK_TIMES = ("created_at", "updated_at", "ready_at", "started_at", "done_at")


def _shifted[M](instance: M, names: tuple[str, ...], delta: dt.timedelta) -> M:
    from django.db.models.base import ModelState

    clone = copy.copy(instance)
    clone.pk = None  # type: ignore[attr-defined]
    clone._state = ModelState()  # type: ignore[attr-defined]  # no shared caches
    for name in names:
        value = getattr(clone, name)
        if value is not None:
            setattr(clone, name, value + delta)
    return clone


def copy_runs(bench: fx.BenchOrg, source: Any, copies: int, step: dt.timedelta) -> int:
    """`copies` row-for-row copies of a run, each `step` further in the past, with
    their audit events. The number of tasks written."""
    from django.db import transaction

    from rantai.audit import services as audit
    from rantai.audit.models import AuditVerb
    from rantai.chains.models import RunStatus, Task, TaskDependency, TaskRole

    tasks = list(Task.objects.filter(run=source).order_by("id"))
    roles = list(TaskRole.objects.filter(task__run=source).order_by("id"))
    links = list(TaskDependency.objects.filter(run=source).order_by("id"))
    users = bench.users_by_person
    written = 0
    with transaction.atomic():
        for number in range(1, copies + 1):
            delta = -step * number
            run = _shifted(source, RUN_TIMES, delta)
            run.title = f"{source.title} (copy {number})"
            run.version = 1
            run.save(force_insert=True)
            new_tasks = [_shifted(task, TASK_TIMES, delta) for task in tasks]
            for task in new_tasks:
                task.run = run
            Task.objects.bulk_create(new_tasks)
            mapping = {
                old.pk: new.pk for old, new in zip(tasks, new_tasks, strict=True)
            }
            TaskRole.objects.bulk_create(
                [
                    TaskRole(
                        organisation_id=role.organisation_id,
                        task_id=mapping[role.task_id],
                        role=role.role,
                        position_id=role.position_id,
                        party_id=role.party_id,
                    )
                    for role in roles
                ]
            )
            TaskDependency.objects.bulk_create(
                [
                    TaskDependency(
                        organisation_id=link.organisation_id,
                        run=run,
                        predecessor_id=mapping[link.predecessor_id],
                        successor_id=mapping[link.successor_id],
                        kind=link.kind,
                        lag_minutes=link.lag_minutes,
                    )
                    for link in links
                ]
            )
            written += len(new_tasks)
            audit.record(
                bench.organisation,
                actor=bench.owner,
                verb=AuditVerb.STARTED,
                target=run,
                changes={"copied_from": source.pk, "tasks": len(new_tasks)},
            )
            by_actor: dict[int, list[audit.Entry]] = defaultdict(list)
            for task in new_tasks:
                if task.started_at is not None:
                    by_actor[task.assignee_id].append(  # type: ignore[index]
                        audit.Entry(
                            verb=AuditVerb.TASK_STARTED,
                            target=task,
                            changes={"status": ["ready", "in_progress"]},
                        )
                    )
                if task.done_at is not None:
                    by_actor[task.assignee_id].append(  # type: ignore[index]
                        audit.Entry(
                            verb=AuditVerb.TASK_COMPLETED,
                            target=task,
                            changes={"status": ["in_progress", "done"]},
                        )
                    )
            for person_id, entries in by_actor.items():
                audit.record_many(
                    bench.organisation, actor=users[person_id], entries=entries
                )
            if run.status in (RunStatus.COMPLETED, RunStatus.CANCELLED):
                audit.record(
                    bench.organisation,
                    actor=bench.owner,
                    verb=AuditVerb.COMPLETED
                    if run.status == RunStatus.COMPLETED
                    else AuditVerb.CANCELLED,
                    target=run,
                    changes={"status": ["active", run.status]},
                )
    return written


def generate() -> None:
    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"  {text} ({time.perf_counter() - started:.0f}s)", file=sys.stderr)

    bench = fx.make_org(SLUG, titles=positions())
    say(f"{len(bench.positions)} positions with holders")
    versions = []
    for number in range(PROCEDURES):
        versions.append(
            fx.build_procedure(
                bench,
                code=f"PROC{number:02d}",
                name=f"Procedure {number}",
                steps=procedure_steps(number),
            )
        )
    say(f"{PROCEDURES} procedures of {LANES * DEPTH} steps")
    sources = []
    for number, version in enumerate(versions):
        sources.append(service_runs(bench, version, number))
        say(f"service-made runs of procedure {number}")
    for number, made in enumerate(sources):
        for what, count in COPIES.items():
            step = (
                dt.timedelta(days=3) if what == "completed" else dt.timedelta(hours=2)
            )
            copy_runs(bench, made[what], count, step)
        say(f"copies of procedure {number}'s runs")
    print(f"  generated in {time.perf_counter() - started:.0f}s", file=sys.stderr)


# --- measuring ------------------------------------------------------------------------


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def measure(client: Any, url: str, repeat: int) -> tuple[list[float], int, int]:
    """(milliseconds per request, SQL queries of one request, response size)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    response = client.get(url)  # warm: templates, URL resolver, caches
    assert response.status_code == 200, (url, response.status_code)
    times = []
    for _ in range(repeat):
        started = time.perf_counter()
        response = client.get(url)
        times.append((time.perf_counter() - started) * 1000)
        assert response.status_code == 200, (url, response.status_code)
    reset_queries()
    with CaptureQueriesContext(connection) as captured:
        client.get(url)
    return times, len(captured.captured_queries), len(response.content)


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--repeat", type=int, default=30)
    parser.add_argument("--regenerate", action="store_true")
    args = parser.parse_args()
    database = DATA_DIR / "rantai.sqlite3"
    fresh = args.regenerate or not database.exists()
    fx.configure(DATA_DIR, fresh=fresh)

    from django.test import Client
    from django.urls import reverse

    from rantai.accounts.access import access_for
    from rantai.accounts.models import Organisation, User
    from rantai.audit.models import AuditEvent
    from rantai.chains import queries
    from rantai.chains.models import Run, RunStatus, Task, TaskStatus

    organisation = Organisation.objects.filter(slug=SLUG).first()
    if organisation is None:
        print(
            "Generating 1,000 runs and 50,000 tasks (once; several minutes) ...",
            file=sys.stderr,
            flush=True,
        )
        generate()
        organisation = Organisation.objects.get(slug=SLUG)
    runs = Run.objects.filter(organisation=organisation)
    print(
        f"Data: {runs.count():,} runs ({runs.filter(status=RunStatus.ACTIVE).count()} "
        f"active), {Task.objects.filter(organisation=organisation).count():,} tasks, "
        f"{AuditEvent.objects.filter(organisation=organisation).count():,} audit "
        f"events; {args.repeat} requests per page, in-process server time, DEBUG off; "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    active = runs.filter(title="Procedure 0: late run").get()
    # The same state, but its audit events are the newest of the organisation.
    recent = runs.filter(title__startswith="Procedure 9: late run (copy").latest("pk")
    completed = runs.filter(title="Procedure 0: completed run").get()
    owner = User.objects.get(username=f"{SLUG}-p00-0")
    recent_owner = User.objects.get(username=f"{SLUG}-p09-0")
    worker = User.objects.get(username=f"{SLUG}-p00-3")
    listed = queries.my_tasks(access_for(worker, SLUG), include_pending=True)
    coming = sum(task.status == TaskStatus.PENDING for task in listed)
    open_tasks = len(listed) - coming
    pages = [
        (
            "run page (active, early events)",
            owner,
            reverse("run-detail", kwargs={"org": SLUG, "pk": active.pk}),
        ),
        (
            "run page (active, newest events)",
            recent_owner,
            reverse("run-detail", kwargs={"org": SLUG, "pk": recent.pk}),
        ),
        (
            "run page (completed)",
            owner,
            reverse("run-detail", kwargs={"org": SLUG, "pk": completed.pk}),
        ),
        (
            "run's history (active, early events)",
            owner,
            reverse("run-history", kwargs={"org": SLUG, "pk": active.pk}),
        ),
        (
            f'"my tasks" ({open_tasks} open, {coming} coming)',
            worker,
            reverse("my-tasks", kwargs={"org": SLUG}),
        ),
    ]
    for name, user, url in pages:
        client = Client()
        client.force_login(user)
        times, queries, size = measure(client, url, args.repeat)
        print(
            f"  {name:<37} median {statistics.median(times):7.1f} ms   "
            f"p95 {p95(times):7.1f} ms   {queries} SQL queries   {size // 1024} KiB"
        )
    history_panel(
        [("early events", owner, active), ("newest events", recent_owner, recent)],
        args.repeat,
    )


def history_panel(runs: list[tuple[str, Any, Any]], repeat: int) -> None:
    """The run page's history panel alone (its one audit query and the rows), which
    the page's time hides in the noise of a busy machine."""
    from rantai.accounts.access import access_for
    from rantai.chains import queries
    from rantai.web.views.runs import _run_history

    for name, user, run in runs:
        access = access_for(user, SLUG)
        detail = queries.run_detail(access, run.pk)
        _run_history(access, detail)  # warm
        times = []
        for _ in range(repeat):
            started = time.perf_counter()
            _run_history(access, detail)
            times.append((time.perf_counter() - started) * 1000)
        label = f"history panel alone ({name})"
        print(
            f"  {label:<37} median {statistics.median(times):7.1f} ms   "
            f"p95 {p95(times):7.1f} ms"
        )


if __name__ == "__main__":
    main()
