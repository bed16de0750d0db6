"""Worker throughput on PostgreSQL: due timers fired per second by one and by two
`rantai worker` processes.

Each run schedules N timers that are all due (through `approvals.timers.schedule`,
one transaction), starts the worker processes — the real `rantai worker` loop
(timers, e-mails, webhooks and digests drained in every round; `--batch` items
claimed per round with `FOR UPDATE SKIP LOCKED`), with the benchmark's timer kind
registered in each — waits until every process has started, then lets them go at
once and times until no timer is pending. The rule is product-like: one e-mail per
timer with an idempotency key through the outbox, sent after commit by the worker's
fast path (to Django's dummy backend). Start-up is not timed. After each run the
script checks that every timer fired once and wrote exactly one e-mail.

It works in a database of its own, `rantai_bench_worker`, created (migrated) on the
server of DATABASE_URL and dropped at the end; DEBUG off, as in production.

    DATABASE_URL=postgres://postgres@127.0.0.1:5432/postgres \\
        .venv/bin/python benchmarks/worker_throughput.py [--timers 5000] [--batch 100]

Prints timers per second for one and two workers and `ratio: X` (two / one). On a
machine with few cores that also runs PostgreSQL the ratio stays well below 2: the
workers and the database share the same CPUs.
"""

from __future__ import annotations

import argparse
import os
import secrets
import signal
import subprocess
import sys
import time
from pathlib import Path
from urllib.parse import urlsplit, urlunsplit

ROOT = Path(__file__).resolve().parent.parent
DATA_DIR = ROOT / "var" / "bench" / "worker"
DATABASE = "rantai_bench_worker"
KIND = "bench_reminder"
WORKER_COUNTS = (1, 2)


# --- environment ----------------------------------------------------------------------


def bench_url(server_url: str) -> str:
    parts = urlsplit(server_url)
    return urlunsplit(parts._replace(path=f"/{DATABASE}"))


def environment(url: str) -> dict[str, str]:
    """The production-like settings every process of the benchmark runs with."""
    DATA_DIR.mkdir(parents=True, exist_ok=True)
    (DATA_DIR / "static").mkdir(exist_ok=True)
    env = dict(os.environ)
    env.update(
        DATABASE_URL=url,
        DJANGO_SETTINGS_MODULE="rantai.settings",
        RANTAI_DATA_DIR=str(DATA_DIR),
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        AXES_ENABLED="0",
        EMAIL_BACKEND="django.core.mail.backends.dummy.EmailBackend",
        RANTAI_TESTING="1",  # fast password hashing for the set-up's user
        PYTHONUNBUFFERED="1",
    )
    return env


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


# --- the worker processes -------------------------------------------------------------


def reminder_rule(timer, now):  # type: ignore[no-untyped-def]
    """A reminder as the product sends one: an e-mail keyed by the timer."""
    from rantai.core import outbox

    outbox.enqueue_email(
        recipient=f"approver-{timer.subject_id % 50}@example.test",
        subject=f"Reminder: request {timer.subject_id} waits for your decision",
        body="A request waits for your decision since its deadline passed.",
        key=f"bench:{timer.pk}",
    )
    return "reminded"


def child(name: str, batch: int) -> int:
    """One worker process: set up, say ready, wait for the go, run `rantai worker`
    until SIGTERM."""
    import django

    django.setup()
    from django.core.management import call_command

    from rantai.approvals import timers

    timers.register(KIND, reminder_rule)
    print("ready", flush=True)
    if sys.stdin.readline().strip() != "go":
        return 1
    with open(os.devnull, "w") as quiet:
        call_command(
            "worker",
            "--id",
            name,
            "--batch",
            str(batch),
            "--interval",
            "0.05",
            stdout=quiet,
        )
    return 0


def start_workers(
    count: int, batch: int, env: dict[str, str]
) -> list[subprocess.Popen]:
    processes = [
        subprocess.Popen(
            [
                sys.executable,
                __file__,
                "--child",
                f"bench-{number}",
                "--batch",
                str(batch),
            ],
            env=env,
            cwd=ROOT,
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
        )
        for number in range(1, count + 1)
    ]
    for process in processes:
        assert process.stdout is not None
        if process.stdout.readline().strip() != "ready":
            raise SystemExit(f"a worker did not start (exit {process.wait()})")
    return processes


def stop_workers(processes: list[subprocess.Popen]) -> None:
    for process in processes:
        if process.poll() is None:
            process.send_signal(signal.SIGTERM)
    for process in processes:
        try:
            process.wait(timeout=60)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


# --- one measured run -----------------------------------------------------------------


def schedule_timers(organisation_id: int, count: int, first_subject: int) -> None:
    import datetime as dt

    from django.db import transaction
    from django.utils import timezone

    from rantai.approvals import timers
    from rantai.approvals.models import TimeoutAction

    deadline = timezone.now() - dt.timedelta(minutes=5)
    with transaction.atomic():
        for subject in range(first_subject, first_subject + count):
            timers.schedule(
                organisation_id,
                kind=KIND,
                subject_id=subject,
                deadline=deadline,
                action=TimeoutAction.REMIND,
            )


def pending() -> int:
    from rantai.approvals.models import Timer, TimerStatus

    return Timer.objects.filter(kind=KIND, status=TimerStatus.PENDING).count()


def check_exactly_once(count: int, first_subject: int) -> None:
    from django.db.models import Count

    from rantai.approvals.models import Timer, TimerStatus
    from rantai.core.models import OutboxMessage

    fired = Timer.objects.filter(
        kind=KIND,
        subject_id__gte=first_subject,
        subject_id__lt=first_subject + count,
        status=TimerStatus.FIRED,
        attempts=1,
    )
    keys = {f"bench:{pk}" for pk in fired.values_list("pk", flat=True)}
    emails = OutboxMessage.objects.filter(key__in=keys)
    if len(keys) != count or emails.count() != count:
        raise SystemExit(
            f"not exactly once: {len(keys)} timers fired once, {emails.count()} "
            f"e-mails, for {count} timers"
        )
    twice = emails.values("key").annotate(n=Count("pk")).filter(n__gt=1)
    if twice.exists():
        raise SystemExit(f"e-mails written twice: {list(twice)[:5]}")


def measure(
    workers: int,
    *,
    organisation_id: int,
    count: int,
    batch: int,
    first_subject: int,
    env: dict[str, str],
) -> float:
    from django.db import connections

    schedule_timers(organisation_id, count, first_subject)
    processes = start_workers(workers, batch, env)
    try:
        started = time.perf_counter()
        for process in processes:
            assert process.stdin is not None
            process.stdin.write("go\n")
            process.stdin.flush()
        while pending():
            if any(p.poll() is not None for p in processes):
                raise SystemExit("a worker stopped during the run")
            time.sleep(0.01)
        elapsed = time.perf_counter() - started
    finally:
        stop_workers(processes)
    check_exactly_once(count, first_subject)
    connections.close_all()
    return elapsed


def main() -> int:
    parser = argparse.ArgumentParser()
    parser.add_argument("--timers", type=int, default=5000)
    parser.add_argument("--batch", type=int, default=100)
    parser.add_argument("--child", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.child:
        return child(args.child, args.batch)

    server_url = os.environ.get("DATABASE_URL", "")
    if urlsplit(server_url).scheme not in {"postgres", "postgresql", "pgsql"}:
        print(
            "worker_throughput.py measures workers on PostgreSQL: set DATABASE_URL to "
            "any database of a PostgreSQL server (e.g. "
            "postgres://postgres@127.0.0.1:5432/postgres); the benchmark creates and "
            f"drops its own database, {DATABASE}. Not run."
        )
        return 0

    url = bench_url(server_url)
    env = environment(url)
    os.environ.update(env)
    sys.path.insert(0, str(ROOT))
    print(
        f"Creating the database {DATABASE} (not timed) ...", file=sys.stderr, flush=True
    )
    recreate_database(server_url)
    try:
        import django

        django.setup()
        from django.core.management import call_command
        from django.db import connection

        from rantai.org import services as org
        from rantai.testing import make_user

        call_command("migrate", interactive=False, verbosity=0)
        admin = make_user("bench-worker-admin")
        organisation = org.create_organisation(
            "Bench workers", slug="bench-workers", actor=admin
        )
        with connection.cursor() as cursor:
            cursor.execute("SHOW server_version")
            server = cursor.fetchone()[0]
        rates = {}
        for round_number, workers in enumerate(WORKER_COUNTS):
            elapsed = measure(
                workers,
                organisation_id=organisation.pk,
                count=args.timers,
                batch=args.batch,
                first_subject=round_number * args.timers + 1,
                env=env,
            )
            rates[workers] = args.timers / elapsed
            print(
                f"  {workers} worker{'s' if workers > 1 else ''}: {args.timers:,} "
                f"timers in {elapsed:.2f} s",
                file=sys.stderr,
                flush=True,
            )
    finally:
        from django.db import connections

        connections.close_all()
        recreate_database(server_url, drop_only=True)

    print(
        f"Worker throughput: {args.timers:,} due timers per run, each rule writing "
        f"one keyed e-mail (sent after commit), batch {args.batch}; PostgreSQL "
        f"{server}; load average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for workers, rate in rates.items():
        label = f"{workers} worker{'s' if workers > 1 else ''}"
        print(f"{label + ':':<11}{rate:8,.0f} timers/s")
    print("every timer fired once, one e-mail each: checked")
    print(f"ratio: {rates[2] / rates[1]:.2f}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
