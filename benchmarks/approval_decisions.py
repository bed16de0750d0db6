"""Approval decisions per second through the services, on SQLite and PostgreSQL.

Deviations asked for on runs, through the real subject adapter: the owner of the
runs asks to skip a step (`rantai.chains.services.request_deviation`); a published
deviation route applies, so the `DeviationRequested` handler submits the approval
request in the same transaction (`rantai/approvals/wiring.py`). Then the approvers
approve through `rantai.approvals.services.decide`, each decision as a request
does it: the request loaded, `decide` called as the approver with the version it
was loaded with. Two routes, matched by the procedure's code:

- **one stage, "one of them"**: the three QA officers (a position with three
  holders) are asked, one of them approves (they take turns), which settles the
  request and applies the deviation (`confirm_deviation`: the step is skipped,
  the run's projection recomputed);
- **three stages**: the QA officers ("one of them"), then the warehouse head, then
  the export manager; each `decide` counts as one decision — the first two open
  the next stage (resolving its approvers, a time limit, notifications), the third
  settles the request and applies the deviation.

Every stage has a time limit of 8 working hours (a timer per opened stage). Each
run (a 20-step sequential procedure) gets 19 skip requests, one per step after the
first, which stays ready: the run stays active.

Creating the runs and requests is not timed. `--decisions` (at least) are timed
per route and database, split over `--repetitions` in whole requests (1,000 over
3: 334 one-stage requests, 112 three-stage requests — 336 decisions — per
repetition); the routes take turns (who goes first rotates) and each figure is
the median of the repetitions' rates. E-mails go out right after commit through
the outbox's fast path, as in production, to Django's dummy backend. After each
repetition the script checks that every request was approved with one decision
per stage, every deviation confirmed and its step skipped. The SQL statements per
decision are counted on a sample (`CaptureQueriesContext`): those in the
decision's transaction (BEGIN and COMMIT included) and those after it commits.

Run time: making the requests costs more than deciding them; the default takes
about 4 minutes of CPU in its processes (both databases), 8-11 minutes on a
2-vCPU machine with a load average of 5-10.

- **SQLite**: a fresh file under `var/bench/approvals/` with the project's settings
  (WAL, IMMEDIATE transactions, `synchronous=NORMAL`), as the app runs;
- **PostgreSQL**, when DATABASE_URL names a PostgreSQL server: in a database of its
  own, `rantai_bench_approvals`, created (migrated) on that server and dropped at
  the end. Without it the script says so and skips PostgreSQL.

Each database is measured in a process of its own, DEBUG off, as in production.

    [DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres] \\
        .venv/bin/python benchmarks/approval_decisions.py [--decisions 1000]
        [--repetitions 3]
"""

from __future__ import annotations

import argparse
import gc
import json
import os
import statistics
import subprocess
import sys
import tempfile
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402

DATA_DIR = fx.ROOT / "var" / "bench" / "approvals"
DATABASE = "rantai_bench_approvals"
SLUG = "bench-approvals"
STEPS_PER_RUN = 20  # every step but the first is skipped by a deviation
TIME_LIMIT_HOURS = 8
SAMPLE_REQUESTS = 5  # requests whose decisions are counted statement by statement
WARM_UP_REQUESTS = 3
# (code, title): the first position's holder owns the procedures and asks.
TITLES = (
    ("EXP", "Export clerk"),
    ("WH", "Warehouse head"),
    ("EXP-MGR", "Export manager"),
)
QA_HOLDERS = 3
DUMMY_EMAIL_BACKEND = "django.core.mail.backends.dummy.EmailBackend"


# --- the parent: one child process per database -------------------------------------


def bench_url(server_url: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{DATABASE}"))


def recreate_database(server_url: str, *, drop_only: bool = False) -> None:
    import dj_database_url
    import psycopg

    settings = dj_database_url.parse(server_url)
    with psycopg.connect(
        dbname=settings["NAME"],
        user=settings["USER"] or None,
        password=settings["PASSWORD"] or None,
        host=settings["HOST"] or None,
        port=settings["PORT"] or None,
        autocommit=True,
    ) as admin:
        admin.execute(f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
        if not drop_only:
            admin.execute(f'CREATE DATABASE "{DATABASE}"')


def run_child(
    database: str, args: argparse.Namespace, env: dict[str, str]
) -> dict[str, Any]:
    """Measure one database in a process of its own; its figures."""
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        command = [
            sys.executable,
            __file__,
            "--child",
            database,
            "--decisions",
            str(args.decisions),
            "--repetitions",
            str(args.repetitions),
            "--result",
            result.name,
        ]
        completed = subprocess.run(command, env=env, cwd=fx.ROOT, check=False)
        if completed.returncode != 0:
            raise SystemExit(
                f"the {database} measurement failed (exit {completed.returncode})"
            )
        return json.loads(Path(result.name).read_text())


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--decisions",
        type=int,
        default=1000,
        help="decisions per route and database, at least; split over the repetitions",
    )
    parser.add_argument("--repetitions", type=int, default=3)
    parser.add_argument("--child", choices=("sqlite", "postgresql"), help="internal")
    parser.add_argument("--result", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args)

    server_url = os.environ.get("DATABASE_URL", "")
    results = []
    # E-mails go out right after commit (the outbox's fast path), as in
    # production, but to Django's dummy backend: no network is timed.
    env = {**os.environ, "EMAIL_BACKEND": DUMMY_EMAIL_BACKEND, "PYTHONUNBUFFERED": "1"}
    sqlite_env = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    results.append(run_child("sqlite", args, sqlite_env))
    if urlsplit(server_url).scheme in {"postgres", "postgresql", "pgsql"}:
        print(
            f"Creating the database {DATABASE} (not timed) ...",
            file=sys.stderr,
            flush=True,
        )
        recreate_database(server_url)
        try:
            results.append(
                run_child(
                    "postgresql", args, {**env, "DATABASE_URL": bench_url(server_url)}
                )
            )
        finally:
            recreate_database(server_url, drop_only=True)
    else:
        print(
            "PostgreSQL: skipped — set DATABASE_URL to any database of a PostgreSQL "
            "server (e.g. postgres://postgres@127.0.0.1:5432/postgres) to measure it "
            f"too; the benchmark creates and drops its own database, {DATABASE}."
        )
    summary(results, args)
    return 0


def summary(results: list[dict[str, Any]], args: argparse.Namespace) -> None:
    print()
    print(
        "Approval decisions per second through services.decide (approve; loading "
        f"the request included): the median of {args.repetitions} repetitions"
    )
    for result in results:
        print(f"  {result['database']}")
        for route in result["routes"]:
            rates = ", ".join(f"{rate:,.1f}" for rate in route["rates"])
            print(
                f"    {route['name']:<34} {route['median']:8,.1f} decisions/s  "
                f"({1000 / route['median']:.1f} ms each; {route['decided']:,} "
                f"decisions; repetitions: {rates})"
            )
    print()
    print(
        "SQL statements per decision, services.decide alone (over "
        f"{SAMPLE_REQUESTS} requests per route): in its transaction, BEGIN and "
        "COMMIT included + after the commit (delivering the e-mails) = in all; "
        "loading the request is one more:"
    )
    for result in results:
        print(f"  {result['database']}")
        for route in result["routes"]:
            for label, rows in route["statements"].items():
                inside, after, total = (
                    spread(list(column)) for column in zip(*rows, strict=True)
                )
                name = f"{route['name']}, {label}"
                print(f"    {name:<58} {inside} + {after} = {total}")


def spread(counts: list[int]) -> str:
    low, high = min(counts), max(counts)
    return str(low) if low == high else f"{low}-{high}"


# --- a child: one database ------------------------------------------------------------


@dataclass
class Route:
    name: str
    code: str  # the procedure's and the route's code
    approvers: list[list[Any]]  # per stage, the users who may decide (in turn)
    version: Any = None  # the procedure version
    rates: list[float] = field(default_factory=list)
    decided: int = 0  # decisions timed, over all repetitions
    turn: int = 0  # rotates the QA officers

    @property
    def stages(self) -> int:
        return len(self.approvers)


@dataclass
class Plan:
    """Requests ready for decisions, and who decides each of their stages."""

    request_ids: list[int]
    deviation_ids: list[int]
    decisions: list[tuple[int, Any]]


def child(args: argparse.Namespace) -> int:
    if args.child == "sqlite":
        fx.configure(DATA_DIR / "sqlite", fresh=True)
    else:
        fx.configure_postgresql(os.environ["DATABASE_URL"], DATA_DIR / "postgresql")
    from django.db import connection

    print(f"{args.child}: setting up (not timed) ...", file=sys.stderr, flush=True)
    bench, routes = set_up()
    for route in routes:  # warm up: imports, caches, first queries
        plan = prepare(bench, route, WARM_UP_REQUESTS)
        decide_all(plan)
        check(route, plan)
    # Each repetition decides its share of --decisions, in whole requests.
    share = -(-args.decisions // args.repetitions)
    for repetition in range(args.repetitions):
        order = routes[repetition % len(routes) :] + routes[: repetition % len(routes)]
        for route in order:
            started = time.perf_counter()
            plan = prepare(bench, route, -(-share // route.stages))
            prepared = time.perf_counter() - started
            gc.collect()
            elapsed = decide_all(plan)
            check(route, plan)
            route.rates.append(len(plan.decisions) / elapsed)
            route.decided += len(plan.decisions)
            print(
                f"  {args.child}, repetition {repetition + 1}: {route.name}: "
                f"{len(plan.decisions):,} decisions in {elapsed:.1f} s "
                f"({len(plan.request_ids):,} requests made in {prepared:.1f} s, "
                "not timed)",
                file=sys.stderr,
                flush=True,
            )
    statements = {route.code: count_statements(bench, route) for route in routes}
    if connection.vendor == "sqlite":
        import sqlite3

        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            mode = cursor.fetchone()[0]
        database = f"SQLite {sqlite3.sqlite_version} (file, journal_mode={mode})"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            database = f"PostgreSQL {cursor.fetchone()[0]}"
    database += (
        f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs at the end"
    )
    result = {
        "database": database,
        "routes": [
            {
                "name": route.name,
                "rates": route.rates,
                "median": statistics.median(route.rates),
                "decided": route.decided,
                "statements": statements[route.code],
            }
            for route in routes
        ],
    }
    Path(args.result).write_text(json.dumps(result))
    return 0


def set_up() -> tuple[fx.BenchOrg, list[Route]]:
    """The organisation, three QA officers, the two procedures and their routes."""
    import datetime as dt

    from rantai.accounts.models import Role
    from rantai.approvals import routes as approval_routes
    from rantai.approvals.models import ApproverRule, StageMode, SubjectKind
    from rantai.chains.models import ConditionOperator
    from rantai.org import membership
    from rantai.org import services as org
    from rantai.testing import make_user

    bench = fx.make_org(SLUG, titles=TITLES)
    admin = bench.admin
    clerk, warehouse_head, manager = bench.positions
    qa = org.create_position(
        bench.organisation,
        actor=admin,
        party=clerk.party,
        title="QA officer",
        code="QA",
        max_holders=QA_HOLDERS,
    )
    start = dt.date.today() - dt.timedelta(days=365)
    officers = []
    for number in range(1, QA_HOLDERS + 1):
        user = make_user(f"{SLUG}-qa{number}")
        membership.add_member(
            bench.organisation, actor=admin, user=user, role=Role.MEMBER
        )
        person = org.create_person(
            bench.organisation, actor=admin, full_name=f"QA officer {number}", user=user
        )
        org.assign_holder(qa, actor=admin, person=person, start_date=start)
        bench.users_by_person[person.pk] = user
        officers.append(user)

    def holder(position: Any) -> Any:
        person_id = position.holdings.values_list("person_id", flat=True).get()
        return bench.users_by_person[person_id]

    routes = [
        Route('one stage, "one of them" (of 3)', "DEV1", [officers]),
        Route(
            "three stages",
            "DEV3",
            [officers, [holder(warehouse_head)], [holder(manager)]],
        ),
    ]
    stage_positions = {"DEV1": [qa], "DEV3": [qa, warehouse_head, manager]}
    steps = [
        fx.StepDef(
            f"s{i:02d}",
            f"Step {i}",
            0,
            "1",
            unit="working_hours",
            after=(f"s{i - 1:02d}",) if i else (),
        )
        for i in range(STEPS_PER_RUN)
    ]
    for route in routes:
        route.version = fx.build_procedure(
            bench, code=route.code, name=f"Procedure {route.code}", steps=steps
        )
        made = approval_routes.create_route(
            bench.organisation,
            actor=admin,
            code=route.code,
            name=route.name,
            subject_kind=SubjectKind.DEVIATION,
        )
        version = made.versions.get()
        for number, position in enumerate(stage_positions[route.code], start=1):
            approval_routes.add_stage(
                version,
                actor=admin,
                name=f"Stage {number}",
                rule=ApproverRule.POSITION,
                position=position,
                mode=StageMode.ANY,
                time_limit_hours=TIME_LIMIT_HOURS,
            )
        approval_routes.add_condition(
            version,
            actor=admin,
            field="procedure",
            operator=ConditionOperator.EQ,
            value=route.code,
        )
        approval_routes.publish(version, actor=admin, expected_version=None)
    return bench, routes


def prepare(bench: fx.BenchOrg, route: Route, requests: int) -> Plan:
    """`requests` skip requests on new runs of the route's procedure (the
    DeviationRequested handler submits each); who decides each stage, in order."""
    from rantai.approvals.models import ApprovalRequest, SubjectKind
    from rantai.chains import services as chains
    from rantai.chains.models import DeviationKind, Task

    deviation_ids: list[int] = []
    while len(deviation_ids) < requests:
        run = fx.start_run(bench, route.version, title=f"{route.code} run")
        tasks = list(Task.objects.filter(run=run).order_by("sort_order", "id"))[1:]
        for task in tasks[: requests - len(deviation_ids)]:
            deviation = chains.request_deviation(
                run,
                actor=bench.owner,
                kind=DeviationKind.SKIP_STEP,
                reason="The customer does not need this step",
                task=task,
            )
            deviation_ids.append(deviation.pk)
    by_deviation = dict(
        ApprovalRequest.objects.filter(
            subject_kind=SubjectKind.DEVIATION, subject_id__in=deviation_ids
        ).values_list("subject_id", "pk")
    )
    if len(by_deviation) != len(deviation_ids):
        raise SystemExit(
            f"{route.name}: {len(by_deviation)} requests submitted for "
            f"{len(deviation_ids)} deviations (does the route apply?)"
        )
    request_ids = [by_deviation[pk] for pk in deviation_ids]
    decisions = []
    for request_id in request_ids:
        for stage in route.approvers:
            decisions.append((request_id, stage[route.turn % len(stage)]))
        route.turn += 1
    return Plan(request_ids, deviation_ids, decisions)


def decide(request_id: int, user: Any) -> Any:
    """One approval, as a request makes it: load the request, decide as the
    approver with the version seen."""
    from rantai.approvals import services
    from rantai.approvals.models import ApprovalRequest, Outcome

    request = ApprovalRequest.objects.get(pk=request_id)
    return services.decide(
        request, actor=user, outcome=Outcome.APPROVE, expected_version=request.version
    )


def decide_all(plan: Plan) -> float:
    started = time.perf_counter()
    for request_id, user in plan.decisions:
        decide(request_id, user)
    return time.perf_counter() - started


def check(route: Route, plan: Plan) -> None:
    """Every request approved with one decision per stage, every deviation
    confirmed and its step skipped (outside the timed part)."""
    from django.db.models import Count

    from rantai.approvals.models import ApprovalRequest, RequestStatus
    from rantai.chains.models import Deviation, DeviationStatus, Task, TaskStatus

    rows = (
        ApprovalRequest.objects.filter(pk__in=plan.request_ids)
        .annotate(decided=Count("decisions"))
        .values_list("status", "decided")
    )
    problems = [
        (status, decided)
        for status, decided in rows
        if status != RequestStatus.APPROVED or decided != route.stages
    ]
    confirmed = Deviation.objects.filter(
        pk__in=plan.deviation_ids, status=DeviationStatus.CONFIRMED
    ).count()
    skipped = (
        Task.objects.filter(deviations__pk__in=plan.deviation_ids)
        .exclude(skipped_reason="")
        .count()
    )
    expected = len(plan.request_ids)
    if (
        len(rows) != expected
        or problems
        or confirmed != expected
        or skipped != expected
    ):
        raise SystemExit(
            f"{route.name}: not as expected: {len(rows)} requests, problems "
            f"{problems[:5]}, {confirmed} deviations confirmed, {skipped} steps "
            f"skipped, of {expected}"
        )
    first_steps = Task.objects.filter(run__procedure__code=route.code, key="s00")
    if first_steps.exclude(status=TaskStatus.READY).exists():
        raise SystemExit(f"{route.name}: a run's first step is no longer ready")


def count_statements(bench: fx.BenchOrg, route: Route) -> dict[str, list[list[int]]]:
    """SQL statements of services.decide per stage, over a sample of requests:
    [in the decision's transaction (BEGIN and COMMIT included), after it commits
    (the e-mails' fast-path delivery), in all] for each decision."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from rantai.approvals import services
    from rantai.approvals.models import ApprovalRequest, Outcome

    plan = prepare(bench, route, SAMPLE_REQUESTS)
    labels = (
        ["settles the request"]
        if route.stages == 1
        else [f"stage {n} (opens the next)" for n in range(1, route.stages)]
        + [f"stage {route.stages} (settles)"]
    )
    counts: dict[str, list[list[int]]] = {label: [] for label in labels}
    for index, (request_id, user) in enumerate(plan.decisions):
        request = ApprovalRequest.objects.get(pk=request_id)
        reset_queries()  # the log keeps 9,000 queries at most
        with CaptureQueriesContext(connection) as captured:
            services.decide(
                request,
                actor=user,
                outcome=Outcome.APPROVE,
                expected_version=request.version,
            )
        statements = [query["sql"] for query in captured.captured_queries]
        committed = statements.index("COMMIT") + 1
        counts[labels[index % route.stages]].append(
            [committed, len(statements) - committed, len(statements)]
        )
    check(route, plan)
    return counts


if __name__ == "__main__":
    sys.exit(main())
