"""Shared by the roles benchmarks (`assign_tasks.py`, `rebalance.py`,
`role_checks.py`): their common options, one process per database (SQLite in a
file under the benchmark's data folder, then PostgreSQL in a database of the
benchmark's own when DATABASE_URL names a server) and the start of their data
(the administrator, the organisation, a unit with its head, people in bulk).

The parent and child processes use `workload_fixtures` (`_child`, `_admin`,
`database_name`) and `chain_fixtures.configure`; what is here is what those
cannot do for a benchmark with a database and data folder of its own.
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import sys
from collections.abc import Callable, Iterable
from pathlib import Path
from typing import Any, NamedTuple
from urllib.parse import urlsplit, urlunsplit

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402
import workload_fixtures as wf  # noqa: E402

BATCH = 2_000


def arguments(description: str, *, repeat: int) -> argparse.ArgumentParser:
    """The options every roles benchmark has; a script adds its own."""
    parser = argparse.ArgumentParser(description=description)
    parser.add_argument("--repeat", type=int, default=repeat)
    parser.add_argument("--fresh", action="store_true", help="build the data again")
    parser.add_argument(
        "--drop", action="store_true", help="drop the PostgreSQL database at the end"
    )
    parser.add_argument("--child", choices=("sqlite", "postgresql"), help="internal")
    parser.add_argument("--result", help=argparse.SUPPRESS)
    return parser


# --- the parent: one process per database ----------------------------------------------


def run_each_database(
    script: str, args: argparse.Namespace, *, database: str
) -> list[dict[str, Any]]:
    """Measure SQLite, then PostgreSQL (in the database `database` of the server
    DATABASE_URL names, made when missing) when DATABASE_URL is set; the figures
    of each."""
    server_url = os.environ.get("DATABASE_URL", "")
    env = {**os.environ, "PYTHONUNBUFFERED": "1"}
    sqlite_env = {k: v for k, v in env.items() if k != "DATABASE_URL"}
    results = [wf._child("sqlite", script, sqlite_env)]
    if urlsplit(server_url).scheme in {"postgres", "postgresql", "pgsql"}:
        import psycopg

        drop = f'DROP DATABASE IF EXISTS "{database}" WITH (FORCE)'
        if args.fresh:
            wf._admin(server_url, drop)
        with contextlib.suppress(psycopg.errors.DuplicateDatabase):
            wf._admin(server_url, f'CREATE DATABASE "{database}"')
        bench_url = urlunsplit(urlsplit(server_url)._replace(path=f"/{database}"))
        try:
            results.append(
                wf._child("postgresql", script, {**env, "DATABASE_URL": bench_url})
            )
        finally:
            if args.drop:
                wf._admin(server_url, drop)
    else:
        print(
            "PostgreSQL: skipped — set DATABASE_URL to any database of a PostgreSQL "
            "server (e.g. postgres://postgres@127.0.0.1:5432/postgres) to measure it "
            f"too; the benchmark keeps its data in its own database, {database}."
        )
    return results


# --- a child: one database -------------------------------------------------------------


def child(
    args: argparse.Namespace, data_dir: Path, figures: Callable[[], dict[str, Any]]
) -> int:
    """In the child process: set Django up on its database (SQLite in
    `data_dir`/sqlite, or DATABASE_URL), take the figures (`figures` makes or
    finds the data and measures) and leave them in --result."""
    if args.child == "sqlite":
        fx.configure(data_dir / "sqlite", fresh=args.fresh)
    else:
        fx.configure_postgresql(os.environ["DATABASE_URL"], data_dir / "postgresql")
    result = figures()
    result["database"] = wf.database_name()
    Path(args.result).write_text(json.dumps(result))
    return 0


# --- the data (Django set up) ----------------------------------------------------------


class BenchUnit(NamedTuple):
    admin: Any
    organisation: Any
    unit: Any
    head: Any  # the head of the unit's position (vacant)


def make_organisation(slug: str, name: str) -> tuple[Any, Any]:
    """The administrator `slug`-admin and the organisation (Asia/Jakarta),
    through the services."""
    from rantai.org import services as org
    from rantai.testing import make_user

    admin = make_user(f"{slug}-admin")
    organisation = org.create_organisation(
        name, slug=slug, actor=admin, time_zone="Asia/Jakarta"
    )
    return admin, organisation


def make_unit(slug: str, *, name: str, unit_name: str, code: str) -> BenchUnit:
    """`make_organisation`, with one internal unit and the position "Head of the
    unit" (code HEAD) in it, through the services."""
    from rantai.org import services as org
    from rantai.org.models import PartyKind

    admin, organisation = make_organisation(slug, name)
    unit = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name=unit_name,
        code=code,
    )
    head = org.create_position(
        organisation, actor=admin, party=unit, title="Head of the unit", code="HEAD"
    )
    return BenchUnit(admin, organisation, unit, head)


def make_people(organisation: Any, names: Iterable[str]) -> list[Any]:
    """One person per name, each with a login that is an active member of the
    organisation (the assignment policy passes over people who cannot log in),
    bulk inserted; the people made, in the order made."""
    from django.contrib.auth.hashers import make_password

    from rantai.accounts.models import Membership, Role, User
    from rantai.org.models import Person

    names = list(names)
    prefix = f"bench-{organisation.pk}-"
    start = User.objects.filter(username__startswith=prefix).count()
    password = make_password(None)  # unusable: nobody logs in as a benchmark person
    users = User.objects.bulk_create(
        [
            User(
                username=f"{prefix}{start + number}",
                email=f"{prefix}{start + number}@bench.invalid",
                full_name=name,
                password=password,
            )
            for number, name in enumerate(names)
        ],
        batch_size=BATCH,
    )
    users = list(
        User.objects.filter(username__startswith=prefix).order_by("id")[start:]
    )
    Membership.objects.bulk_create(
        [
            Membership(user=user, organisation=organisation, role=Role.MEMBER)
            for user in users
        ],
        batch_size=BATCH,
    )
    Person.objects.bulk_create(
        [
            Person(organisation=organisation, full_name=name, user=user)
            for name, user in zip(names, users, strict=True)
        ],
        batch_size=BATCH,
    )
    return list(
        Person.objects.filter(
            organisation=organisation, user__username__startswith=prefix
        ).order_by("id")[start:]
    )
