"""Shared by the workload benchmarks: a database per kind (SQLite file, PostgreSQL
database of its own), one process per database, and an organisation whose unit has
`--positions` positions of `--duties` duties each, with its workload analysis open
and every entry filled in.

The data is kept between runs (`--fresh` builds it again): SQLite in
`var/bench/workload/sqlite/`, PostgreSQL in the database `rantai_bench_workload` on
the server DATABASE_URL names (`--drop` removes it at the end).

How the data is made (not timed):

- **through the services**: the administrator, the organisation, the unit, the
  head of the unit (held by the administrator's person), the analysis
  (`services.open_analysis`: 5,000 sheets, 100,000 entries) and every entry's
  figures (`services.set_entries`, while the positions are still vacant, so the
  analyst fills them in);
- **bulk inserts**: the positions (5,000, all under the head), their duties
  (100,000) and, after the entries are filled in, one or two holders per position
  (people and holdings; every seventh holder acting, Plt). Bulk rows are what the
  services would write for these inputs, without their one-by-one audit events.
"""

from __future__ import annotations

import argparse
import contextlib
import datetime as dt
import json
import os
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from decimal import Decimal
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402

DATA_DIR = fx.ROOT / "var" / "bench" / "workload"
DATABASE = "rantai_bench_workload"
SLUG = "bench-workload"
UNIT = "ABK"
YEAR = 2026
BATCH = 5_000


def arguments(description: str) -> argparse.ArgumentParser:
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--positions", type=int, default=5_000)
    parser.add_argument("--duties", type=int, default=20, help="per position")
    parser.add_argument("--repeat", type=int, default=5)
    parser.add_argument("--fresh", action="store_true", help="build the data again")
    parser.add_argument(
        "--drop", action="store_true", help="drop the PostgreSQL database at the end"
    )
    parser.add_argument("--child", choices=("sqlite", "postgresql"), help="internal")
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser


# --- the parent: one process per database ------------------------------------------


def _bench_url(server_url: str) -> str:
    return urlunsplit(urlsplit(server_url)._replace(path=f"/{DATABASE}"))


def _admin(server_url: str, statement: str) -> None:
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
    ) as connection:
        connection.execute(statement)


def _ensure_database(server_url: str, *, fresh: bool) -> None:
    import psycopg

    if fresh:
        _admin(server_url, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    with contextlib.suppress(psycopg.errors.DuplicateDatabase):
        _admin(server_url, f'CREATE DATABASE "{DATABASE}"')


def run_all(script: str, args: argparse.Namespace) -> list[dict[str, Any]]:
    """Measure SQLite, then PostgreSQL when DATABASE_URL names a server; the
    figures of each."""
    server_url = os.environ.get("DATABASE_URL", "")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    results = [
        _child("sqlite", script, {k: v for k, v in env.items() if k != "DATABASE_URL"})
    ]
    if urlsplit(server_url).scheme in {"postgres", "postgresql", "pgsql"}:
        _ensure_database(server_url, fresh=args.fresh)
        try:
            results.append(
                _child(
                    "postgresql",
                    script,
                    {**env, "DATABASE_URL": _bench_url(server_url)},
                )
            )
        finally:
            if args.drop:
                _admin(server_url, f'DROP DATABASE IF EXISTS "{DATABASE}" WITH (FORCE)')
    else:
        print(
            "PostgreSQL: skipped — set DATABASE_URL to any database of a PostgreSQL "
            "server (e.g. postgres://postgres@127.0.0.1:5432/postgres) to measure it "
            f"too; the benchmark keeps its data in its own database, {DATABASE}."
        )
    return results


def _child(database: str, script: str, env: dict[str, str]) -> dict[str, Any]:
    with tempfile.NamedTemporaryFile(suffix=".json") as result:
        command = [
            sys.executable,
            script,
            *sys.argv[1:],
            "--child",
            database,
            "--result",
            result.name,
        ]
        completed = subprocess.run(command, env=env, cwd=fx.ROOT, check=False)
        if completed.returncode != 0:
            raise SystemExit(
                f"the {database} measurement failed (exit {completed.returncode})"
            )
        return json.loads(Path(result.name).read_text())


def child(args: argparse.Namespace, measure: Callable[[Any], dict[str, Any]]) -> int:
    """In the child process: set Django up on the database, make (or find) the
    analysis, measure, and leave the figures in --result."""
    if args.child == "sqlite":
        fx.configure(DATA_DIR / "sqlite", fresh=args.fresh)
    else:
        fx.configure_postgresql(os.environ["DATABASE_URL"], DATA_DIR / "postgresql")
    analysis = ensure_analysis(args.positions, args.duties)
    figures = measure(analysis)
    figures["database"] = database_name()
    Path(args.result).write_text(json.dumps(figures))
    return 0


def database_name() -> str:
    from django.db import connection

    if connection.vendor == "sqlite":
        import sqlite3

        with connection.cursor() as cursor:
            cursor.execute("PRAGMA journal_mode")
            mode = cursor.fetchone()[0]
        name = f"SQLite {sqlite3.sqlite_version} (file, journal_mode={mode})"
    else:
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            name = f"PostgreSQL {cursor.fetchone()[0]}"
    return name + f"; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"


def log(message: str) -> None:
    print(message, file=sys.stderr, flush=True)


# --- the data --------------------------------------------------------------------------


def ensure_analysis(positions: int, duties: int) -> Any:
    """The open analysis of the bench unit with every entry filled in; made once."""
    from rantai.workload.models import Analysis

    found = (
        Analysis.objects.filter(organisation__slug=SLUG, unit__code=UNIT, year=YEAR)
        .order_by("-revision")
        .first()
    )
    if found is not None:
        sheets = found.sheets.count()
        if sheets != positions + 1:
            raise SystemExit(
                f"The kept data has {sheets - 1:,} positions, not {positions:,}: "
                "run with --fresh."
            )
        return found
    return _make(positions, duties)


def _make(positions: int, duties: int) -> Any:
    from rantai.org import services as org
    from rantai.org.models import Duty, Holding, PartyKind, Person, Position
    from rantai.testing import make_user
    from rantai.workload import services
    from rantai.workload.models import Entry

    started = time.perf_counter()
    log(f"Making {positions:,} positions x {duties} duties (once) ...")
    admin = make_user(f"{SLUG}-admin")
    organisation = org.create_organisation(
        "Bench workload", slug=SLUG, actor=admin, time_zone="Asia/Jakarta"
    )
    unit = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Workload bench unit",
        code=UNIT,
    )
    head = org.create_position(
        organisation, actor=admin, party=unit, title="Head of the unit", code="HEAD"
    )
    analyst = org.create_person(
        organisation, actor=admin, full_name="Analyst", user=admin
    )
    org.assign_holder(head, actor=admin, person=analyst, start_date=dt.date(2025, 1, 1))
    Position.objects.bulk_create(
        [
            Position(
                organisation=organisation,
                party=unit,
                title=f"Position {number:05d} of the workload benchmark",
                code=f"P{number:05d}",
                superior=head,
                max_holders=3,
            )
            for number in range(positions)
        ],
        batch_size=BATCH,
    )
    made = list(
        Position.objects.filter(organisation=organisation, superior=head).order_by(
            "code"
        )
    )
    for start in range(0, len(made), BATCH // duties or 1):
        Duty.objects.bulk_create(
            [
                Duty(
                    organisation=organisation,
                    position=position,
                    title=f"Duty {number + 1} of {position.code}: prepare and check "
                    "the documents of the case",
                    output_unit="document",
                    sort_order=number,
                )
                for position in made[start : start + (BATCH // duties or 1)]
                for number in range(duties)
            ]
        )
    log(f"  positions and duties: {time.perf_counter() - started:.0f} s")
    analysis = services.open_analysis(
        unit, actor=admin, year=YEAR, analyst_position=head
    )
    log(f"  analysis opened: {time.perf_counter() - started:.0f} s")
    # Each duty takes 1-9 % of a person (so a position needs about one person):
    # volume = share x WKE of the period / standard minutes.
    effective = services.method_for(organisation).effective
    periods = ("day", "week", "month", "year")
    changes = []
    for index, (entry_id, duty_sort) in enumerate(
        Entry.objects.filter(sheet__analysis=analysis)
        .order_by("id")
        .values_list("id", "sort_order")
    ):
        period = periods[(index + duty_sort) % 4]
        minutes = Decimal(5 + (index * 7) % 55)
        share = Decimal(1 + (index * 13) % 9) / 100
        volume = max(Decimal(1), (share * effective.of(period) / minutes).quantize(1))
        changes.append(
            services.EntryChange(
                entry_id=entry_id,
                volume=volume,
                volume_period=period,
                standard_time=minutes,
                time_unit="minute",
            )
        )
    for start in range(0, len(changes), 20_000):
        services.set_entries(
            analysis, actor=admin, rows=changes[start : start + 20_000]
        )
    log(f"  {len(changes):,} entries filled in: {time.perf_counter() - started:.0f} s")
    people = Person.objects.bulk_create(
        [
            Person(organisation=organisation, full_name=f"Holder {number:05d}")
            for number in range(positions + positions // 2)
        ],
        batch_size=BATCH,
    )
    people = list(
        Person.objects.filter(organisation=organisation, user__isnull=True).order_by(
            "id"
        )
    )
    holdings = []
    person = iter(people)
    for index, position in enumerate(made):
        for _holder in range(1 + (index % 2 == 0 and index % 4 == 0)):
            number = len(holdings)
            holdings.append(
                Holding(
                    organisation=organisation,
                    position=position,
                    person=next(person),
                    start_date=dt.date(2025, 1, 1),
                    is_acting=number % 7 == 6,
                )
            )
    Holding.objects.bulk_create(holdings, batch_size=BATCH)
    log(f"  {len(holdings):,} holders; made in {time.perf_counter() - started:.0f} s")
    analysis.refresh_from_db()
    return analysis


def median_seconds(
    function: Callable[[], Any], repeat: int
) -> tuple[float, list[float]]:
    """The median wall time of `repeat` calls (after one warm-up call) and each."""
    import gc
    import statistics

    function()
    times = []
    for _ in range(repeat):
        gc.collect()
        started = time.perf_counter()
        function()
        times.append(time.perf_counter() - started)
    return statistics.median(times), times


def count_queries(function: Callable[[], Any]) -> int:
    from django.db import connection
    from django.test.utils import CaptureQueriesContext

    with CaptureQueriesContext(connection) as captured:
        function()
    return len(captured.captured_queries)
