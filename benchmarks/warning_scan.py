"""The early-warning scan over 10,000 active runs, on SQLite and PostgreSQL
(target: under 10 s).

What the worker does every ten minutes (`rantai.obstacles.warnings.scan`): read
every active run's tasks, dependencies, holders, memberships, pending approval
stages and task evidence (a fixed number of statements), schedule each run by the
critical path method in memory, run the five rules, and write per organisation —
the new warnings with their recipients and `warning.raised` notifications, the
refreshed ones, the resolved ones.

The data (made once and kept; `--fresh` builds it again), Asia/Jakarta, Monday to
Friday 08:00-16:00:

- **through the services**: the organisation; a unit with its head (the process
  owner), a director, 20 clerks, an inspector and a second inspection position
  nobody holds; a forwarder (an external partner with a partner login); the
  procedure intake (clerk, 2 h) → pack (clerk, 1 day, evidence required) → ship
  (the forwarder, 2 days) → inspect (inspector, 4 h) → store (clerk, 1 day) and
  invoice (head, 2 h); four runs driven to four stages (just started; pack in
  progress; intake and pack done, ship ready; ship in progress), each due 14 days
  after its start;
- **copied**: 9,996 more runs row for row from those four (run, tasks, task roles,
  dependencies; bulk inserts, new ids), each shifted 0 to 72 hours into the past
  with its due date 10 to 16 days after its start; every tenth run's inspection
  is the vacant position's and every third run's packing requires evidence —
  so some runs are behind, some late, some short of evidence or of people;
- **through the services again**: 100 due-date change requests waiting for the
  director (8 working hours each), asked over the last two days.

Then, DEBUG off, inside a transaction rolled back after each repetition (so every
repetition sees the same data): the first scan (raises every warning and tells
its recipients) and the next one ten minutes later (refreshes them); the median
of `--repeat` repetitions after a warm-up, with the SQL statements of each and
the warnings by kind.

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/warning_scan.py [--repeat 3] [--fresh] [--drop]
"""

from __future__ import annotations

import datetime as dt
import os
import statistics
import sys
import time
from collections import Counter
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402
import roles_fixtures as rf  # noqa: E402
import workload_fixtures as wf  # noqa: E402

# The approval requests of the data tell their approvers by e-mail: keep it in
# memory (a benchmark machine has no mail server).
os.environ.setdefault("EMAIL_BACKEND", "django.core.mail.backends.locmem.EmailBackend")

TARGET_SECONDS = 10.0
DATA_DIR = fx.ROOT / "var" / "bench" / "warnings"
DATABASE = "rantai_bench_warnings"
SLUG = "bench-warnings"
RUNS = 10_000
CLERKS = 20
REQUESTS = 100
COPY_BATCH = 200  # runs per bulk insert
JAKARTA = ZoneInfo("Asia/Jakarta")
RUN_TIMES = ("due_at", "started_at", "projected_finish_at", "created_at", "updated_at")
TASK_TIMES = ("ready_at", "started_at", "done_at", "created_at", "updated_at")


def scan_moment() -> dt.datetime:
    """Monday 10:00 in Jakarta, a week and a bit before the data was made (so the
    holdings, which started a year before that, cover it)."""
    today = dt.datetime.now(JAKARTA).date()
    monday = today - dt.timedelta(days=today.weekday() + 7)
    return dt.datetime.combine(monday, dt.time(10, 0), tzinfo=JAKARTA)


# --- the data --------------------------------------------------------------------------


def ensure_data() -> tuple[Any, dt.datetime]:
    """The organisation and the moment its scan is measured at (kept with the data:
    the start of the first template run plus 7 days 2 hours)."""
    from rantai.accounts.models import Organisation
    from rantai.chains.models import Run, RunStatus

    found = Organisation.objects.filter(slug=SLUG).first()
    if found is not None:
        active = Run.objects.filter(organisation=found, status=RunStatus.ACTIVE)
        if active.count() != RUNS:
            raise SystemExit(
                f"The kept data has {active.count():,} active runs, not {RUNS:,}: "
                "run with --fresh."
            )
        first = Run.objects.get(organisation=found, title="Template C")
        return found, first.started_at + dt.timedelta(days=7, hours=2)
    return _make()


def _make() -> tuple[Any, dt.datetime]:
    from rantai.accounts.models import Role
    from rantai.approvals import requesting, routes
    from rantai.approvals.models import ApproverRule, SubjectKind
    from rantai.chains import services as chains
    from rantai.chains.models import RaciRole, Run, Task
    from rantai.evidence import records
    from rantai.org import membership
    from rantai.org import services as org
    from rantai.org.models import PartyKind
    from rantai.testing import make_user

    started = time.perf_counter()
    now = scan_moment()
    base = now - dt.timedelta(days=7, hours=2)  # Monday 08:00 a week before
    wf.log(f"Making {RUNS:,} active runs (once) ...")
    admin, organisation, unit, head = rf.make_unit(
        SLUG, name="Bench warnings", unit_name="Logistics", code="LOG"
    )
    director = org.create_position(
        organisation, actor=admin, party=unit, title="Director", code="DIR"
    )
    clerk = org.create_position(
        organisation,
        actor=admin,
        party=unit,
        title="Logistics clerk",
        code="CLERK",
        max_holders=CLERKS,
    )
    inspector = org.create_position(
        organisation, actor=admin, party=unit, title="Inspector", code="INSP"
    )
    vacant = org.create_position(
        organisation, actor=admin, party=unit, title="Quality inspector", code="QI"
    )
    forwarder = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.EXTERNAL_PARTNER,
        name="Fast Forwarding",
        code="FWD",
    )
    people = rf.make_people(
        organisation,
        ["Head Hartono", "Director Dewi", "Inspector Indra"]
        + [f"Clerk {number:02d}" for number in range(CLERKS)],
    )
    since = base.date() - dt.timedelta(days=365)
    for person, position in zip(
        people, [head, director, inspector] + [clerk] * CLERKS, strict=True
    ):
        org.assign_holder(position, actor=admin, person=person, start_date=since)
    partner = make_user(f"{SLUG}-forwarder")
    membership.add_member(
        organisation, actor=admin, user=partner, role=Role.PARTNER, party=forwarder
    )
    org.create_person(
        organisation,
        actor=admin,
        full_name="Forwarder operations",
        user=partner,
        party=forwarder,
    )
    users = {person.pk: person.user for person in people}
    owner = people[0].user

    procedure = chains.create_procedure(
        organisation, actor=admin, code="SHIP", name="Shipment", owner_position=head
    )
    version = procedure.versions.get()
    made = {}
    for key, responsible, value, unit_name, evidence in (
        ("intake", clerk, 2, "working_hours", False),
        ("pack", clerk, 1, "working_days", True),
        ("ship", forwarder, 2, "working_days", False),
        ("inspect", inspector, 4, "working_hours", False),
        ("store", clerk, 1, "working_days", False),
        ("invoice", head, 2, "working_hours", False),
    ):
        step = chains.add_step(
            version,
            actor=admin,
            key=key,
            name=key.title(),
            duration_value=str(value),
            duration_unit=unit_name,
            requires_evidence=evidence,
        )
        target = (
            {"party": responsible}
            if responsible is forwarder
            else {"position": responsible}
        )
        chains.add_step_role(step, actor=admin, role=RaciRole.RESPONSIBLE, **target)
        chains.add_step_role(
            step, actor=admin, role=RaciRole.ACCOUNTABLE, position=head
        )
        made[key] = step
    for before, after in (
        ("intake", "pack"),
        ("pack", "ship"),
        ("ship", "inspect"),
        ("inspect", "store"),
        ("inspect", "invoice"),
    ):
        chains.add_dependency(
            version, actor=admin, predecessor=made[before], successor=made[after]
        )
    chains.publish(version, actor=admin, expected_version=None, now=base)
    version.refresh_from_db()

    def start(title: str, at: dt.datetime) -> Any:
        return chains.start_run(
            version,
            actor=owner,
            title=title,
            measure_quantity=500,
            measure_unit="units",
            due_at=at + dt.timedelta(days=14),
            now=at,
        )

    def work(run: Any, key: str, at: dt.datetime, *, finish: bool = True) -> None:
        task = Task.objects.get(run=run, key=key)
        user = partner if task.responsible_party_id else users[task.assignee_id]
        if task.requires_evidence:
            records.attach_task_evidence(
                task,
                actor=user,
                items=[records.NewLink(url="https://example.com/proof", label="")],
                now=at,
            )
        task = chains.start_task(
            task, actor=user, expected_version=task.version, now=at
        )
        if finish:
            chains.complete_task(
                task,
                actor=user,
                expected_version=task.version,
                now=at + dt.timedelta(hours=2),
            )

    # C: started a week ago, ship in progress since Tuesday; B: started Wednesday,
    # ship ready since Thursday; D: started Friday, pack in progress since then;
    # A: started an hour ago.
    template_c = start("Template C", base)
    work(template_c, "intake", base)
    work(template_c, "pack", base + dt.timedelta(hours=2))
    work(template_c, "ship", base + dt.timedelta(days=1, hours=2), finish=False)
    template_b = start("Template B", base + dt.timedelta(days=2))
    work(template_b, "intake", base + dt.timedelta(days=2))
    work(template_b, "pack", base + dt.timedelta(days=3))
    template_d = start("Template D", base + dt.timedelta(days=4))
    work(template_d, "intake", base + dt.timedelta(days=4))
    work(template_d, "pack", base + dt.timedelta(days=4, hours=2), finish=False)
    template_a = start("Template A", now - dt.timedelta(hours=1))
    wf.log(f"  the organisation and four runs: {time.perf_counter() - started:.0f} s")

    templates = [template_a, template_b, template_c, template_d]
    copies = RUNS - len(templates)
    written = copy_runs(templates, copies, vacant_position_id=vacant.pk)
    wf.log(
        f"  {copies:,} copies, {written:,} tasks: {time.perf_counter() - started:.0f} s"
    )

    route = routes.create_route(
        organisation,
        actor=admin,
        code="DUE",
        name="Due-date changes",
        subject_kind=SubjectKind.DUE_DATE_CHANGE,
    )
    route_version = route.versions.get()
    routes.add_stage(
        route_version,
        actor=admin,
        name="Director",
        rule=ApproverRule.POSITION,
        position=director,
        time_limit_hours=8,
    )
    routes.publish(route_version, actor=admin, expected_version=None, now=base)
    asked = list(
        Run.objects.filter(organisation=organisation, title__startswith="Copy")
        .order_by("id")
        .select_related("procedure", "organisation")[:REQUESTS]
    )
    for number, run in enumerate(asked):
        requesting.request_due_date_change(
            run,
            actor=owner,
            due_at=run.due_at + dt.timedelta(days=7),
            reason="The customer asked for a later delivery",
            now=now - dt.timedelta(minutes=29 * number),
        )
    wf.log(f"  made in {time.perf_counter() - started:.0f} s")
    return organisation, now


def _shifted(source: Any, names: tuple[str, ...], delta: dt.timedelta) -> Any:
    from django.db.models.base import ModelState

    clone = type(source)()
    clone.__dict__.update(
        {k: v for k, v in source.__dict__.items() if not k.startswith("_")}
    )
    clone.pk = None
    clone._state = ModelState()
    for name in names:
        value = getattr(clone, name)
        if value is not None:
            setattr(clone, name, value + delta)
    return clone


def copy_runs(templates: list[Any], copies: int, *, vacant_position_id: int) -> int:
    """`copies` row-for-row copies of the templates in turn, the n-th shifted 0 to
    72 hours into the past, due 10 to 16 days after its start; every tenth one's
    inspection the vacant position's, every third one's packing needing
    evidence. The number of tasks written."""
    from django.db import transaction

    from rantai.chains.models import Run, Task, TaskDependency, TaskRole

    rows = {
        template.pk: (
            list(Task.objects.filter(run=template).order_by("id")),
            list(TaskRole.objects.filter(task__run=template).order_by("id")),
            list(TaskDependency.objects.filter(run=template).order_by("id")),
        )
        for template in templates
    }
    written = 0
    for first in range(0, copies, COPY_BATCH):
        numbers = range(first, min(first + COPY_BATCH, copies))
        with transaction.atomic():
            runs, shifts = [], []
            for number in numbers:
                template = templates[number % len(templates)]
                shift = -dt.timedelta(minutes=45 * (number * 7919 % 97))
                run = _shifted(template, RUN_TIMES, shift)
                run.due_at += dt.timedelta(days=number % 7 - 4)
                run.title = f"Copy {number} of {template.title}"
                run.version = 1
                runs.append(run)
                shifts.append(shift)
            Run.objects.bulk_create(runs)
            new_tasks = []
            for run, number, shift in zip(runs, numbers, shifts, strict=True):
                tasks, _roles, _links = rows[templates[number % len(templates)].pk]
                for task in tasks:
                    clone = _shifted(task, TASK_TIMES, shift)
                    clone.run = run
                    if task.key == "inspect" and number % 10 == 0:
                        clone.responsible_position_id = vacant_position_id
                    if task.key == "pack":
                        clone.requires_evidence = number % 3 == 0
                    new_tasks.append(clone)
            Task.objects.bulk_create(new_tasks, batch_size=1000)
            new_roles, new_links = [], []
            offset = 0
            for run, number in zip(runs, numbers, strict=True):
                tasks, roles, links = rows[templates[number % len(templates)].pk]
                mapping = {
                    old.pk: new.pk
                    for old, new in zip(
                        tasks, new_tasks[offset : offset + len(tasks)], strict=True
                    )
                }
                offset += len(tasks)
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


# --- the measurement -------------------------------------------------------------------


def measure(organisation: Any, now: dt.datetime, repeat: int) -> dict[str, Any]:
    from django.db import connection, transaction

    from rantai.chains.models import Run, RunStatus, Task
    from rantai.obstacles import warnings
    from rantai.obstacles.models import EarlyWarning

    later = now + warnings.SCAN_INTERVAL
    observed: dict[str, Any] = {}

    statements = [0]

    def counted(execute: Any, sql: str, params: Any, many: bool, context: Any) -> Any:
        statements[0] += 1
        return execute(sql, params, many, context)

    def rounds(*, count: bool) -> tuple[float, float]:
        with transaction.atomic():
            if count:
                with connection.execute_wrapper(counted):
                    first = warnings.scan(now=now)
                observed["first_statements"] = statements[0]
                observed["kinds"] = Counter(
                    EarlyWarning.objects.filter(
                        organisation=organisation, resolved_at__isnull=True
                    ).values_list("kind", flat=True)
                )
                statements[0] = 0
                with connection.execute_wrapper(counted):
                    second = warnings.scan(now=later)
                observed["next_statements"] = statements[0]
                observed["first"] = first
                observed["next"] = second
                transaction.set_rollback(True)
                return 0.0, 0.0
            started = time.perf_counter()
            warnings.scan(now=now)
            middle = time.perf_counter()
            warnings.scan(now=later)
            finished = time.perf_counter()
            transaction.set_rollback(True)
        return middle - started, finished - middle

    wf.log("warming up ...")
    rounds(count=False)
    firsts, nexts = [], []
    for number in range(repeat):
        wf.log(f"timing the scans ({number + 1}/{repeat}) ...")
        first, second = rounds(count=False)
        firsts.append(first)
        nexts.append(second)
    rounds(count=True)
    first_result, next_result = observed["first"], observed["next"]
    return {
        "runs": Run.objects.filter(
            organisation=organisation, status=RunStatus.ACTIVE
        ).count(),
        "tasks": Task.objects.filter(
            organisation=organisation, run__status=RunStatus.ACTIVE
        ).count(),
        "first": statistics.median(firsts),
        "next": statistics.median(nexts),
        "first_times": firsts,
        "next_times": nexts,
        "first_statements": observed["first_statements"],
        "next_statements": observed["next_statements"],
        "scanned": first_result.runs_scanned,
        "raised": first_result.raised,
        "notified": first_result.notified,
        "refreshed": next_result.refreshed,
        "next_raised": next_result.raised,
        "resolved": next_result.resolved,
        "kinds": dict(sorted(observed["kinds"].items())),
    }


def main() -> int:
    global RUNS
    parser = rf.arguments(__doc__.splitlines()[0], repeat=3)
    parser.add_argument("--runs", type=int, default=RUNS, help="active runs")
    args = parser.parse_args()
    RUNS = args.runs
    if args.child:

        def figures() -> dict[str, Any]:
            organisation, now = ensure_data()
            return measure(organisation, now, args.repeat)

        return rf.child(args, DATA_DIR, figures)
    results = rf.run_each_database(__file__, args, database=DATABASE)
    print()
    print(
        f"The early-warning scan over {RUNS:,} active runs, the median of "
        f"{args.repeat} repetitions (target < {TARGET_SECONDS:.0f} s)"
    )
    for result in results:
        print(f"  {result['database']}")
        kinds = ", ".join(
            f"{kind} {count:,}" for kind, count in result["kinds"].items()
        )
        for name, label in (
            ("first", "first scan (raises and tells)"),
            ("next", "next scan (refreshes)"),
        ):
            seconds = result[name]
            verdict = "within" if seconds < TARGET_SECONDS else "OVER"
            times = ", ".join(f"{t:.2f}" for t in result[f"{name}_times"])
            print(
                f"    {label}: {seconds:.2f} s ({verdict} the target; {times}); "
                f"{result[f'{name}_statements']:,} SQL statements"
            )
        print(
            f"    {result['runs']:,} active runs ({result['scanned']:,} scanned), "
            f"{result['tasks']:,} tasks; raised {result['raised']:,} warnings "
            f"({kinds}), {result['notified']:,} notifications; the next scan "
            f"refreshed {result['refreshed']:,}, raised {result['next_raised']:,} "
            f"and resolved {result['resolved']:,}"
        )
    return 0


if __name__ == "__main__":
    sys.exit(main())
