"""Server time and SQL queries of the Focus page for a person with 200 ready tasks
and 100 approvals waiting for them, in an organisation with 100,000 tasks.

Generates once (cached in var/bench/focus/; `--regenerate` starts again) an
organisation whose positions form a line — a director, the coordinator (the person
the page is measured for, superior of everyone else), a clerk and seven workers,
each held by one person with a login — and a procedure of 50 steps: the
coordinator's intake, then seven lanes of seven steps, one lane per worker. Then:

- **through the services**: one run driven to completion and one just started
  (its intake, the coordinator's, ready); a published route for due-date changes
  whose one stage is the requester's superior;
- **copied**: the completed run 1,799 times and the started one 199 times, row for
  row (run, tasks, task roles, task dependencies; bulk inserts in batches, new ids,
  timestamps shifted into the past so the runs have different due dates and slack),
  which makes 2,000 runs and 100,000 tasks, 200 of them the coordinator's ready
  intakes. Copies are not re-validated by the services: they are copies of states
  the services produced. The Focus page reads no audit events, so the copies get
  none (benchmarks/run_pages.py shows pages that do);
- **through the services again**: the clerk asks to move the due date of 100 of the
  active runs (each request waits for the coordinator, their superior), and the
  coordinator asks for 20 more (their superior, the director, returns 10 of them for
  revision; the other 10 were asked ten days ago and wait past their time limit).

Then requests, through Django's test client in-process (server time: routing,
middleware, view, queries, template; no network), DEBUG off, the Focus page and the
approvals inbox ("waiting for me") of the coordinator; prints median and p95 per
page (timed without query capture) and the number of SQL queries of one request
(captured separately; it does not depend on the number of tasks or approvals:
`rantai/web/tests/test_focus.py` pins it).

    .venv/bin/python benchmarks/focus_page.py [--repeat 30] [--regenerate]
"""

from __future__ import annotations

import argparse
import copy
import datetime as dt
import os
import statistics
import sys
import time
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402

DATA_DIR = fx.ROOT / "var" / "bench" / "focus"
SLUG = "bench-focus"
LANES, DEPTH = 7, 7  # 1 + 49 = 50 steps
COMPLETED_RUNS, ACTIVE_RUNS = 1800, 200
WAITING_FOR_ME = 100  # the clerk's requests, decided by the coordinator
MY_REQUESTS = 20  # the coordinator's: half returned, half overdue
COPY_BATCH = 100  # runs per bulk insert
# (code, title, superior code); index 0 owns the procedure, index 1 is measured.
POSITIONS = [
    ("DIR", "Director", None),
    ("COORD", "Coordinator", "DIR"),
    ("CLERK", "Clerk", "COORD"),
    *[(f"W{n}", f"Worker {n}", "COORD") for n in range(1, LANES + 1)],
]


def procedure_steps() -> list[fx.StepDef]:
    """The coordinator's intake, then one lane of DEPTH steps per worker."""
    steps = [fx.StepDef("intake", "Intake", 1, "2", unit="working_hours")]
    for lane in range(LANES):
        for depth in range(DEPTH):
            steps.append(
                fx.StepDef(
                    f"l{lane}s{depth}",
                    f"Lane {lane} step {depth}",
                    3 + lane,
                    str((lane + depth) % 4 + 2),
                    unit="working_hours",
                    after=(f"l{lane}s{depth - 1}",) if depth else ("intake",),
                )
            )
    return steps


# --- generating -----------------------------------------------------------------------


def make_org() -> fx.BenchOrg:
    """The organisation, its line of positions and their holders (with logins)."""
    from rantai.accounts.models import Role
    from rantai.chains import services as chains
    from rantai.org import membership
    from rantai.org import services as org
    from rantai.org.models import PartyKind
    from rantai.testing import make_user

    admin = make_user(f"{SLUG}-admin")
    organisation = org.create_organisation(
        "Bench focus", slug=SLUG, actor=admin, time_zone="Asia/Jakarta"
    )
    unit = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Operations",
        code="OPS",
    )
    bench = fx.BenchOrg(organisation, admin, None, [])
    made: dict[str, Any] = {}
    start = dt.date.today() - dt.timedelta(days=365)
    for code, title, superior in POSITIONS:
        position = org.create_position(
            organisation,
            actor=admin,
            party=unit,
            title=title,
            code=code,
            superior=made.get(superior) if superior else None,
        )
        made[code] = position
        user = make_user(f"{SLUG}-{code.lower()}")
        membership.add_member(organisation, actor=admin, user=user, role=Role.MEMBER)
        person = org.create_person(
            organisation, actor=admin, full_name=f"{title} holder", user=user
        )
        org.assign_holder(position, actor=admin, person=person, start_date=start)
        bench.positions.append(position)
        bench.users_by_person[person.pk] = user
        if bench.owner is None:
            bench.owner = user
    year = dt.date.today().year
    for y in (year, year + 1):
        chains.load_public_holidays(organisation, actor=admin, year=y)
    return bench


def due_date_route(bench: fx.BenchOrg) -> None:
    from rantai.approvals import routes
    from rantai.approvals.models import ApproverRule, SubjectKind

    route = routes.create_route(
        bench.organisation,
        actor=bench.admin,
        code="DUE",
        name="Due-date changes",
        subject_kind=SubjectKind.DUE_DATE_CHANGE,
    )
    version = route.versions.get()
    routes.add_stage(
        version,
        actor=bench.admin,
        name="Superior",
        rule=ApproverRule.SUPERIOR,
        time_limit_hours=16,
    )
    routes.publish(
        version,
        actor=bench.admin,
        expected_version=None,
        now=dt.datetime.now(dt.UTC) - dt.timedelta(days=60),
    )


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


def copy_runs(source: Any, copies: int, step: dt.timedelta) -> int:
    """`copies` row-for-row copies of a run, the n-th shifted `n * step` into the
    past, COPY_BATCH runs per bulk insert. The number of tasks written."""
    from django.db import transaction

    from rantai.chains.models import Run, Task, TaskDependency, TaskRole

    tasks = list(Task.objects.filter(run=source).order_by("id"))
    roles = list(TaskRole.objects.filter(task__run=source).order_by("id"))
    links = list(TaskDependency.objects.filter(run=source).order_by("id"))
    written = 0
    for first in range(1, copies + 1, COPY_BATCH):
        numbers = range(first, min(first + COPY_BATCH, copies + 1))
        with transaction.atomic():
            runs = []
            for number in numbers:
                run = _shifted(source, RUN_TIMES, -step * number)
                run.title = f"{source.title} (copy {number})"
                run.version = 1
                runs.append(run)
            Run.objects.bulk_create(runs)
            new_tasks = []
            for run, number in zip(runs, numbers, strict=True):
                for task in tasks:
                    clone = _shifted(task, TASK_TIMES, -step * number)
                    clone.run = run
                    new_tasks.append(clone)
            Task.objects.bulk_create(new_tasks, batch_size=1000)
            new_roles, new_links = [], []
            for index, run in enumerate(runs):
                mapping = {
                    old.pk: new.pk
                    for old, new in zip(
                        tasks,
                        new_tasks[index * len(tasks) : (index + 1) * len(tasks)],
                        strict=True,
                    )
                }
                new_roles += [
                    TaskRole(
                        organisation_id=role.organisation_id,
                        task_id=mapping[role.task_id],
                        role=role.role,
                        position_id=role.position_id,
                        party_id=role.party_id,
                    )
                    for role in roles
                ]
                new_links += [
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
            TaskRole.objects.bulk_create(new_roles, batch_size=1000)
            TaskDependency.objects.bulk_create(new_links, batch_size=1000)
            written += len(new_tasks)
    return written


def ask_for_approvals(bench: fx.BenchOrg) -> None:
    """The clerk's requests waiting for the coordinator; the coordinator's own,
    half returned by the director, half overdue."""
    from rantai.approvals import requesting, services
    from rantai.chains.models import Run, RunStatus

    users = {user.username: user for user in bench.users_by_person.values()}
    clerk = users[f"{SLUG}-clerk"]
    coordinator = users[f"{SLUG}-coord"]
    director = users[f"{SLUG}-dir"]
    active = list(
        Run.objects.filter(organisation=bench.organisation, status=RunStatus.ACTIVE)
        .select_related("procedure", "organisation")
        .order_by("id")
    )
    now = dt.datetime.now(dt.UTC)
    for run in active[:WAITING_FOR_ME]:
        requesting.request_due_date_change(
            run,
            actor=clerk,
            due_at=run.due_at + dt.timedelta(days=7),
            reason="The customer asked for a later delivery",
        )
    mine = active[WAITING_FOR_ME : WAITING_FOR_ME + MY_REQUESTS]
    for number, run in enumerate(mine):
        returned = number % 2 == 0
        request = requesting.request_due_date_change(
            run,
            actor=coordinator,
            due_at=run.due_at + dt.timedelta(days=14),
            reason="Waiting for the supplier",
            now=now if returned else now - dt.timedelta(days=10),
        )
        if returned:
            services.decide(
                request,  # type: ignore[arg-type]
                actor=director,
                outcome="return",
                comment="Say which supplier and until when",
                return_to_stage=0,
            )


def generate() -> None:
    from django.utils import timezone

    from rantai.chains import services as chains

    started = time.perf_counter()

    def say(text: str) -> None:
        print(f"  {text} ({time.perf_counter() - started:.0f}s)", file=sys.stderr)

    bench = make_org()
    say(f"{len(bench.positions)} positions with holders")
    version = fx.build_procedure(
        bench, code="ORDER", name="Customer order", steps=procedure_steps()
    )
    due_date_route(bench)
    say(f"a procedure of {1 + LANES * DEPTH} steps and a due-date route")
    now = timezone.now()
    done = chains.start_run(
        version,
        actor=bench.owner,
        title="Completed order",
        measure_quantity=500,
        measure_unit="units",
        due_at=now - dt.timedelta(days=30),
        now=now - dt.timedelta(days=90),
    )
    fx.drive(bench, done)
    done.refresh_from_db()
    active = chains.start_run(
        version,
        actor=bench.owner,
        title="Open order",
        measure_quantity=250,
        measure_unit="units",
        due_at=now + dt.timedelta(days=20),
        now=now,
    )
    say("a completed and an active run through the services")
    copy_runs(done, COMPLETED_RUNS - 1, dt.timedelta(hours=6))
    say(f"{COMPLETED_RUNS} completed runs")
    copy_runs(active, ACTIVE_RUNS - 1, dt.timedelta(minutes=90))
    say(f"{ACTIVE_RUNS} active runs")
    ask_for_approvals(bench)
    say(f"{WAITING_FOR_ME + MY_REQUESTS} approval requests")
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
    # Approvers are told by e-mail too; keep those in memory.
    os.environ["EMAIL_BACKEND"] = "django.core.mail.backends.locmem.EmailBackend"
    fx.configure(DATA_DIR, fresh=fresh)

    from django.test import Client
    from django.urls import reverse

    from rantai.accounts.access import access_for
    from rantai.accounts.models import Organisation, User
    from rantai.approvals import queries as approval_queries
    from rantai.chains import queries
    from rantai.chains.models import Run, RunStatus, Task, TaskStatus

    organisation = Organisation.objects.filter(slug=SLUG).first()
    if organisation is None:
        print(
            "Generating 2,000 runs, 100,000 tasks and 120 approval requests (once; "
            "a few minutes) ...",
            file=sys.stderr,
            flush=True,
        )
        generate()
        organisation = Organisation.objects.get(slug=SLUG)
    coordinator = User.objects.get(username=f"{SLUG}-coord")
    access = access_for(coordinator, SLUG)
    mine = queries.my_tasks(access)
    ready = sum(task.status == TaskStatus.READY for task in mine)
    waiting = len(approval_queries.pending_for(access))
    stuck = approval_queries.requests_by(access, stuck_only=True).count()
    runs = Run.objects.filter(organisation=organisation)
    print(
        f"Data: {runs.count():,} runs ({runs.filter(status=RunStatus.ACTIVE).count()} "
        f"active), {Task.objects.filter(organisation=organisation).count():,} tasks; "
        f"the coordinator has {ready} ready tasks, {waiting} approvals waiting and "
        f"{stuck} stuck requests; {args.repeat} requests per page, in-process "
        f"server time, DEBUG off; load average {os.getloadavg()[0]:.1f}"
    )
    pages = [
        ("Focus page", reverse("focus", kwargs={"org": SLUG})),
        (
            'approvals inbox ("waiting for me")',
            reverse("approval-inbox", kwargs={"org": SLUG}),
        ),
    ]
    for name, url in pages:
        client = Client()
        client.force_login(coordinator)
        times, count, size = measure(client, url, args.repeat)
        print(
            f"  {name:<37} median {statistics.median(times):7.1f} ms   "
            f"p95 {p95(times):7.1f} ms   {count} SQL queries   {size // 1024} KiB"
        )


if __name__ == "__main__":
    main()
