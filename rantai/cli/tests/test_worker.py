"""`rantai worker`: rounds of timers, e-mails, webhooks and digests; stops cleanly on
a signal; and a worker killed in the middle of a batch loses and repeats nothing."""

from __future__ import annotations

import collections
import datetime as dt
import logging
import os
import re
import signal
import subprocess
import sys
import time
from collections.abc import Callable
from io import StringIO
from pathlib import Path
from unittest import mock
from urllib.parse import quote

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection
from django.utils import timezone

from rantai.approvals import timers
from rantai.approvals.models import TimeoutAction, Timer, TimerStatus
from rantai.cli.management.commands import worker as worker_command
from rantai.cli.tests.worker_app import (
    KIND,
    STALL_AFTER,
    recipient_for,
    send_one_email,
)
from rantai.core import outbox
from rantai.core.models import OutboxMessage, OutboxStatus

PROJECT_DIR = Path(__file__).resolve().parents[3]


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    """The worker sweeps orphan evidence files (those no evidence item references):
    here in a folder of the test's own, never the developer's `var/media`, whose
    files no row of the test database references."""
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


def run(*args: str, **options: object) -> tuple[str, str]:
    stdout, stderr = StringIO(), StringIO()
    call_command("worker", *args, stdout=stdout, stderr=stderr, **options)
    return stdout.getvalue(), stderr.getvalue()


def due_timers(organisation_id: int, count: int, *, now: dt.datetime) -> list[Timer]:
    created = [
        timers.schedule(
            organisation_id,
            kind=KIND,
            subject_id=subject,
            deadline=now - dt.timedelta(minutes=1),
            action=TimeoutAction.REMIND,
        )
        for subject in range(1, count + 1)
    ]
    return [timer for timer in created if timer is not None]


def effects_per_timer() -> collections.Counter[str]:
    return collections.Counter(
        OutboxMessage.objects.filter(recipient__startswith="timer-").values_list(
            "recipient", flat=True
        )
    )


def assert_every_timer_fired_exactly_once(created: list[Timer]) -> None:
    stored = {t.pk: t for t in Timer.objects.filter(kind=KIND)}
    assert sorted(stored) == sorted(t.pk for t in created)
    assert {
        pk: (t.status, t.attempts, t.outcome, t.lease_owner) for pk, t in stored.items()
    } == {
        pk: (TimerStatus.FIRED, 1, f"e-mailed {recipient_for(pk)}", "") for pk in stored
    }
    # one effect per timer: a second firing would have written a second e-mail
    assert effects_per_timer() == {recipient_for(pk): 1 for pk in stored}


# --- one round ------------------------------------------------------------------------


def test_once_fires_the_due_timers_and_sends_the_due_emails(acme):
    now = timezone.now() + dt.timedelta(minutes=1)
    created = due_timers(acme.organisation.pk, 2, now=now)
    later = timers.schedule(
        acme.organisation.pk,
        kind=KIND,
        subject_id=99,
        deadline=now + dt.timedelta(hours=1),
        action=TimeoutAction.REMIND,
    )
    assert later is not None

    with timers.isolated_rules({KIND: send_one_email}):
        stdout, stderr = run("--once", "--id", "w1", now=now)

    assert re.fullmatch(r"\S+ w1: timers 2, e-mails 2\n", stdout), stdout
    assert stderr == ""
    assert [
        (t.status, t.outcome)
        for t in Timer.objects.filter(pk__in=[c.pk for c in created]).order_by("pk")
    ] == [(TimerStatus.FIRED, f"e-mailed {recipient_for(c.pk)}") for c in created]
    assert Timer.objects.get(pk=later.pk).status == TimerStatus.PENDING
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        recipient_for(t.pk) for t in created
    )
    assert set(OutboxMessage.objects.values_list("status", flat=True)) == {
        OutboxStatus.SENT
    }


def test_once_with_nothing_due_writes_nothing(db):
    assert run("--once") == ("", "")


def test_a_failing_drainer_is_logged_the_others_still_run_and_once_fails(acme, caplog):
    now = timezone.now() + dt.timedelta(minutes=1)
    created = due_timers(acme.organisation.pk, 1, now=now)

    with (
        timers.isolated_rules({KIND: send_one_email}),
        mock.patch.object(
            outbox, "deliver_due", side_effect=RuntimeError("mail queue broken")
        ),
        caplog.at_level(logging.ERROR, logger="rantai.worker"),
        pytest.raises(
            CommandError, match=re.escape("The round failed; see the log above.")
        ),
    ):
        run("--once", "--id", "w1", now=now)

    assert Timer.objects.get(pk=created[0].pk).status == TimerStatus.FIRED
    [record] = caplog.records
    assert record.getMessage() == "worker w1: draining e-mails failed"
    assert record.exc_info is not None


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (["--batch", "0"], "--batch is at least 1."),
        (["--lease-seconds", "0"], "--lease-seconds is at least 1."),
        (["--interval", "0"], "--interval is more than 0 seconds."),
        (["--id", "w" * 101], "--id is at most 100 characters."),
    ],
)
def test_nonsense_options_are_refused(db, args, message):
    with pytest.raises(CommandError, match=re.escape(message)):
        run("--once", *args)


def test_the_default_worker_id_is_host_and_process():
    assert worker_command.default_worker_id().endswith(f":{os.getpid()}")


# --- the drainers ---------------------------------------------------------------------


def test_every_drainer_of_this_build_is_found():
    found, missing = worker_command.available_drainers()

    assert [drainer.name for drainer, _drain in found] == [
        "timers",
        "e-mails",
        "webhooks",
        "digests",
        "early warnings",
        "orphan files",
    ]
    assert missing == []
    assert found[0][1] is timers.fire_due
    assert found[1][1] is outbox.deliver_due


def _drainer(module: str, function: str = "drain") -> worker_command.Drainer:
    return worker_command.Drainer("things", module, function, lambda d, r: d())


def test_a_drainer_whose_module_is_absent_is_left_out():
    found, missing = worker_command.available_drainers(
        (_drainer("rantai.cli.tests.no_such_module"),)
    )

    assert found == []
    assert [drainer.module for drainer in missing] == [
        "rantai.cli.tests.no_such_module"
    ]


def test_a_drainer_module_that_fails_to_import_is_an_error():
    with pytest.raises(ModuleNotFoundError):
        worker_command.available_drainers(
            (_drainer("rantai.cli.tests.no_such_package.drains"),)
        )


def test_a_drainer_module_without_its_function_is_an_error():
    with pytest.raises(
        CommandError,
        match=re.escape(
            "rantai.core.outbox has no function no_such_function() to drain things with."
        ),
    ):
        worker_command.available_drainers(
            (_drainer("rantai.core.outbox", "no_such_function"),)
        )


# --- the loop and its signals ---------------------------------------------------------

# What the test drainer below does on its n-th call: (items settled, signals to send).
SCRIPT: list[tuple[int, tuple[signal.Signals, ...]]] = []
SEEN: list[tuple[str, int, bool, bool]] = []


def scripted_drain(
    *,
    owner: str,
    now: dt.datetime,
    limit: int,
    lease_seconds: int,
    stop: Callable[[], bool],
) -> int:
    settled, signals = SCRIPT[len(SEEN)]
    before = stop()
    for signum in signals:
        os.kill(os.getpid(), signum)
    SEEN.append((owner, limit, before, stop()))
    return settled


@pytest.fixture
def scripted_worker(monkeypatch):  # type: ignore[no-untyped-def]
    SCRIPT.clear()
    SEEN.clear()
    drainer = worker_command.Drainer(
        "things",
        __name__,
        "scripted_drain",
        lambda drain, r: drain(
            owner=r.owner,
            now=r.now,
            limit=r.batch,
            lease_seconds=r.lease_seconds,
            stop=r.stop,
        ),
    )
    monkeypatch.setattr(worker_command, "DRAINERS", (drainer,))
    yield SCRIPT
    SCRIPT.clear()
    SEEN.clear()


def test_the_worker_runs_rounds_until_sigterm_then_finishes_and_exits(
    db, scripted_worker
):
    previous = signal.getsignal(signal.SIGTERM)
    # an idle round, a busy one (the next follows at once), then SIGTERM arrives in
    # the middle of a round — and a SIGINT after it changes nothing
    scripted_worker.extend(
        [(0, ()), (3, ()), (2, (signal.SIGTERM, signal.SIGINT)), (9, ())]
    )

    stdout, _stderr = run("--id", "w1", "--interval", "0.01", "--batch", "7")

    lines = stdout.splitlines()
    assert lines[0] == (
        "Worker w1 started: things; batch 7, lease 60 s, idle pause 0.01 s. "
        "Ctrl+C or SIGTERM stops it."
    )
    assert [line.split(" ", 1)[1] for line in lines[1:-1]] == [
        "w1: things 3",
        "w1: things 2",
    ]
    assert lines[-1] == "Worker w1 stopped (SIGTERM)."
    # the drainer was told to stop once the signal had arrived, and no round followed
    assert SEEN == [
        ("w1", 7, False, False),
        ("w1", 7, False, False),
        ("w1", 7, False, True),
    ]
    assert signal.getsignal(signal.SIGTERM) == previous


def test_ctrl_c_while_idle_stops_the_worker(db, scripted_worker):
    scripted_worker.extend([(0, (signal.SIGINT,)), (1, ())])

    stdout, _stderr = run("--id", "w1", "--interval", "30")

    assert stdout.splitlines()[-1] == "Worker w1 stopped (SIGINT)."
    assert len(SEEN) == 1


# --- a worker killed mid-batch --------------------------------------------------------


class Killed(BaseException):
    """The worker process dies (not an error a worker could catch)."""


def test_a_worker_dying_mid_batch_leaves_nothing_undone_or_done_twice(acme):
    # given 12 due timers and a worker that claims 8 of them, fires 4 and dies
    # while firing the 5th (its e-mail written, its transaction not committed)
    now = timezone.now()
    created = due_timers(acme.organisation.pk, 12, now=now)
    calls = 0

    def dies_at_the_fifth(timer: Timer, at: dt.datetime) -> str:
        nonlocal calls
        calls += 1
        outcome = send_one_email(timer, at)
        if calls == 5:
            raise Killed
        return outcome

    with timers.isolated_rules({KIND: dies_at_the_fifth}), pytest.raises(Killed):
        timers.fire_due(owner="w1", now=now, limit=8, lease_seconds=30)
    assert sorted(
        Timer.objects.filter(kind=KIND).values_list("status", "lease_owner")
    ) == sorted(
        [(TimerStatus.FIRED, "")] * 4
        + [(TimerStatus.PENDING, "w1")] * 4
        + [(TimerStatus.PENDING, "")] * 4
    )
    assert len(effects_per_timer()) == 4

    # when another worker runs: first it fires what nobody holds, and once the dead
    # worker's leases have expired, the rest
    with timers.isolated_rules({KIND: send_one_email}):
        soon, _ = run("--once", "--id", "w2", now=now + dt.timedelta(seconds=10))
        after_lease, _ = run("--once", "--id", "w2", now=now + dt.timedelta(seconds=31))
        idle, _ = run("--once", "--id", "w2", now=now + dt.timedelta(seconds=60))

    # then every due effect happened exactly once
    assert re.fullmatch(r"\S+ w2: timers 4, e-mails 8\n", soon), soon
    assert re.fullmatch(r"\S+ w2: timers 4, e-mails 4\n", after_lease), after_lease
    assert idle == ""
    assert_every_timer_fired_exactly_once(created)
    assert sorted(m.to[0] for m in mail.outbox) == sorted(
        recipient_for(t.pk) for t in created
    )


def worker_database_url() -> str:
    """The test database as a DATABASE_URL for a worker process."""
    settings = connection.settings_dict
    credentials = quote(settings["USER"] or "", safe="")
    if settings["PASSWORD"]:
        credentials += ":" + quote(settings["PASSWORD"], safe="")
    host = settings["HOST"] or "localhost"
    port = f":{settings['PORT']}" if settings["PORT"] else ""
    return f"postgres://{credentials}@{host}{port}/{quote(settings['NAME'], safe='')}"


def start_worker(
    name: str, log_dir: Path, *, extra_env: dict[str, str] | None = None
) -> subprocess.Popen[bytes]:
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"RANTAI_TEST_SQLITE", STALL_AFTER}
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "rantai.cli.tests.worker_settings",
        "DATABASE_URL": worker_database_url(),
        "RANTAI_TESTING": "1",
        "PYTHONUNBUFFERED": "1",
        # The worker sweeps orphan evidence files: never the developer's.
        "MEDIA_ROOT": str(log_dir / "media"),
        **(extra_env or {}),
    }
    with (
        open(log_dir / f"{name}.out", "wb") as out,
        open(log_dir / f"{name}.err", "wb") as err,
    ):
        return subprocess.Popen(
            [
                sys.executable,
                "-m",
                "rantai",
                "worker",
                "--id",
                name,
                "--batch",
                "20",
                "--lease-seconds",
                "2",
                "--interval",
                "0.2",
            ],
            env=env,
            cwd=PROJECT_DIR,
            stdout=out,
            stderr=err,
        )


def wait_for(
    condition: Callable[[], bool],
    *,
    what: str,
    name: str,
    process: subprocess.Popen[bytes],
    log_dir: Path,
    timeout: float = 90,
) -> None:
    """Poll (no timing assertion: the deadline only stops a hung test)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if condition():
            return
        if process.poll() is not None:
            break
        time.sleep(0.05)
    state = "runs" if process.poll() is None else f"exited {process.returncode}"
    errors = (log_dir / f"{name}.err").read_text(errors="replace")[-3000:]
    pytest.fail(f"gave up waiting for {what}; worker {name} {state}:\n{errors}")


def pending_count() -> int:
    return Timer.objects.filter(kind=KIND, status=TimerStatus.PENDING).count()


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="worker processes share the test database (PostgreSQL); the SQLite run "
    "covers the same story in one process (test above)",
)
@pytest.mark.django_db(transaction=True)
def test_a_killed_worker_process_is_taken_over_and_every_effect_happens_once(
    acme, tmp_path
):
    # given 40 due timers and a worker process that stalls inside the transaction
    # firing the 6th (holding its row lock, with leases on 15 more)
    created = due_timers(acme.organisation.pk, 40, now=timezone.now())
    first = start_worker("w1", tmp_path, extra_env={STALL_AFTER: "5"})
    second: subprocess.Popen[bytes] | None = None
    try:
        wait_for(
            lambda: (
                Timer.objects.filter(kind=KIND, status=TimerStatus.FIRED).count() == 5
            ),
            what="the first worker to fire 5 timers",
            name="w1",
            process=first,
            log_dir=tmp_path,
        )
        # when it is killed mid-batch
        first.kill()
        first.wait(timeout=30)
        assert (
            Timer.objects.filter(
                kind=KIND, status=TimerStatus.PENDING, lease_owner="w1"
            ).count()
            == 15
        )
        assert pending_count() == 35

        # and another worker starts
        second = start_worker("w2", tmp_path)
        wait_for(
            lambda: pending_count() == 0,
            what="the second worker to fire the rest",
            name="w2",
            process=second,
            log_dir=tmp_path,
        )
        second.send_signal(signal.SIGTERM)
        assert second.wait(timeout=60) == 0
    finally:
        for process in (first, second):
            if process is not None and process.poll() is None:
                process.kill()
                process.wait(timeout=30)

    # then every due effect happened exactly once
    assert_every_timer_fired_exactly_once(created)
    output = (tmp_path / "w2.out").read_text()
    assert output.splitlines()[-1] == "Worker w2 stopped (SIGTERM)."
