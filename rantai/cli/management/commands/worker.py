from __future__ import annotations

import datetime as dt
import importlib
import logging
import os
import signal
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass
from types import FrameType, ModuleType
from typing import Any

from django.core.checks import Tags
from django.core.management import BaseCommand, CommandError
from django.db import connections
from django.utils import timezone

logger = logging.getLogger("rantai.worker")

OWNER_LENGTH = 100  # lease_owner columns
MAX_ERROR_PAUSE = 60.0  # seconds between rounds while the database keeps failing


@dataclass(frozen=True)
class Round:
    """What one round of the worker passes to each drainer."""

    owner: str
    now: dt.datetime
    batch: int
    lease_seconds: int
    stop: Callable[[], bool]


@dataclass(frozen=True)
class Drainer:
    """One kind of due work: the module that holds it and how to drain a batch of
    it; returns how many items it settled."""

    name: str
    module: str
    function: str
    call: Callable[[Callable[..., int], Round], int]


# In this order in every round. A drainer whose module is not part of this build is
# left out (and named when the worker starts).
DRAINERS: tuple[Drainer, ...] = (
    Drainer(
        "timers",
        "rantai.approvals.timers",
        "fire_due",
        lambda drain, r: drain(
            owner=r.owner,
            now=r.now,
            limit=r.batch,
            lease_seconds=r.lease_seconds,
            stop=r.stop,
        ),
    ),
    Drainer(
        "e-mails",
        "rantai.core.outbox",
        "deliver_due",
        lambda drain, r: drain(
            owner=r.owner,
            now=r.now,
            limit=r.batch,
            lease_seconds=r.lease_seconds,
            stop=r.stop,
        ),
    ),
    Drainer(
        "webhooks",
        "rantai.notifications.webhooks",
        "deliver_due",
        lambda drain, r: drain(owner=r.owner, now=r.now, limit=r.batch),
    ),
    Drainer(
        "digests",
        "rantai.notifications.digests",
        "send_due",
        lambda drain, r: drain(now=r.now),
    ),
    Drainer(
        "early warnings",
        "rantai.obstacles.warnings",
        "scan_due",
        lambda drain, r: drain(now=r.now, owner=r.owner),
    ),
    Drainer(
        "orphan files",
        "rantai.evidence.uploads",
        "sweep_due",
        lambda drain, r: drain(now=r.now),
    ),
)


def default_worker_id() -> str:
    return f"{socket.gethostname()}:{os.getpid()}"[:OWNER_LENGTH]


def available_drainers(
    drainers: tuple[Drainer, ...] | None = None,
) -> tuple[list[tuple[Drainer, Callable[..., int]]], list[Drainer]]:
    """The drainers (`DRAINERS` unless told) whose module exists, with their
    function; and the missing ones. A module that exists but fails to import, or
    lacks its function, is an error."""
    found: list[tuple[Drainer, Callable[..., int]]] = []
    missing: list[Drainer] = []
    for drainer in DRAINERS if drainers is None else drainers:
        try:
            module: ModuleType = importlib.import_module(drainer.module)
        except ModuleNotFoundError as error:
            if error.name != drainer.module:
                raise
            missing.append(drainer)
            continue
        function = getattr(module, drainer.function, None)
        if not callable(function):
            raise CommandError(
                f"{drainer.module} has no function {drainer.function}() to drain "
                f"{drainer.name} with."
            )
        found.append((drainer, function))
    return found, missing


class Command(BaseCommand):
    help = (
        "Process due work until stopped: timers (reminders and escalations), "
        "outgoing e-mails, webhooks, daily digests, the early-warning scan (every "
        "10 minutes) and the sweep of orphaned evidence files, in rounds. Several "
        "workers, on one machine or several, share the work through leases; a killed "
        "worker's leases expire and another takes its work over. SIGTERM or Ctrl+C "
        "finishes the current item and exits. `--once` runs one round and exits."
    )
    # Tests pass a fixed clock (with --once); everyone else works as of now.
    stealth_options = ("now",)
    # The models' checks only: the worker loads no URLs, views or templates, and
    # checking them would double its start-up time (`rantai check` checks all).
    requires_system_checks = [Tags.models]

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--once", action="store_true", help="run one round, then exit"
        )
        parser.add_argument(
            "--interval",
            type=float,
            default=2.0,
            metavar="SECONDS",
            help="pause after a round that found nothing to do (default 2)",
        )
        parser.add_argument(
            "--batch",
            type=int,
            default=100,
            metavar="N",
            help="items of each kind claimed per round (default 100)",
        )
        parser.add_argument(
            "--lease-seconds",
            type=int,
            default=60,
            metavar="SECONDS",
            help=(
                "how long claimed items stay reserved for this worker; longer than "
                "a batch takes (default 60)"
            ),
        )
        parser.add_argument(
            "--id",
            dest="worker_id",
            default=None,
            metavar="NAME",
            help="this worker's name in leases and logs (default host:pid)",
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        owner = options["worker_id"] or default_worker_id()
        if len(owner) > OWNER_LENGTH:
            raise CommandError(f"--id is at most {OWNER_LENGTH} characters.")
        if options["batch"] < 1:
            raise CommandError("--batch is at least 1.")
        if options["lease_seconds"] < 1:
            raise CommandError("--lease-seconds is at least 1.")
        if options["interval"] <= 0:
            raise CommandError("--interval is more than 0 seconds.")
        drainers, missing = available_drainers()
        worker = Worker(
            owner=owner,
            drainers=drainers,
            batch=options["batch"],
            lease_seconds=options["lease_seconds"],
            interval=options["interval"],
            write=self._write,
        )
        if options["once"]:
            ok = worker.run_round(now=options.get("now"))
            if not ok:
                raise CommandError("The round failed; see the log above.")
            return
        names = ", ".join(drainer.name for drainer, _drain in drainers)
        self._write(
            f"Worker {owner} started: {names}; batch {options['batch']}, lease "
            f"{options['lease_seconds']} s, idle pause {options['interval']:g} s. "
            "Ctrl+C or SIGTERM stops it."
        )
        for drainer in missing:
            self._write(f"  ({drainer.name}: not in this build, {drainer.module})")
        with worker.signals_handled():
            worker.run_until_stopped()
        cause = f" ({worker.stopped_by})" if worker.stopped_by else ""
        self._write(f"Worker {owner} stopped{cause}.")

    def _write(self, line: str) -> None:
        self.stdout.write(line)
        self.stdout.flush()


class Worker:
    """Rounds of draining until told to stop."""

    def __init__(
        self,
        *,
        owner: str,
        drainers: list[tuple[Drainer, Callable[..., int]]],
        batch: int,
        lease_seconds: int,
        interval: float,
        write: Callable[[str], None],
    ) -> None:
        self.owner = owner
        self.drainers = drainers
        self.batch = batch
        self.lease_seconds = lease_seconds
        self.interval = interval
        self.write = write
        self.stopping = threading.Event()
        self.stopped_by = ""  # the signal that asked to stop
        self.worked = False

    # --- one round ----------------------------------------------------------------

    def run_round(self, *, now: dt.datetime | None = None) -> bool:
        """Drain each kind once; log a line if anything was done. False when a
        drainer failed (logged; its transaction rolled back)."""
        ok = True
        counts: list[str] = []
        self.worked = False
        for drainer, drain in self.drainers:
            if self.stopping.is_set():
                break
            work = Round(
                owner=self.owner,
                now=now or timezone.now(),
                batch=self.batch,
                lease_seconds=self.lease_seconds,
                stop=self.stopping.is_set,
            )
            try:
                done = int(drainer.call(drain, work))
            except Exception:
                ok = False
                logger.exception(
                    "worker %s: draining %s failed", self.owner, drainer.name
                )
                _drop_connections()
                continue
            if done:
                self.worked = True
                counts.append(f"{drainer.name} {done}")
        if counts:
            stamp = timezone.now().isoformat(timespec="seconds")
            self.write(f"{stamp} {self.owner}: {', '.join(counts)}")
        return ok

    # --- the loop ---------------------------------------------------------------------

    def run_until_stopped(self) -> None:
        failures = 0
        while not self.stopping.is_set():
            ok = self.run_round()
            failures = 0 if ok else failures + 1
            if failures:
                pause = min(self.interval * 2**failures, MAX_ERROR_PAUSE)
            elif self.worked:
                continue  # more may be due: go on at once
            else:
                pause = self.interval
            self.stopping.wait(pause)

    def stop(self) -> None:
        self.stopping.set()

    def signals_handled(self) -> _SignalHandlers:
        return _SignalHandlers(self)


def _drop_connections() -> None:
    """After a failure: close the database connections (a broken one is reopened
    by the next query). One inside an atomic block belongs to a caller (a test) and
    is left alone."""
    for connection in connections.all(initialized_only=True):
        if not connection.in_atomic_block:
            connection.close()


class _SignalHandlers:
    """SIGTERM and SIGINT ask the worker to stop after the current item (the rest
    of its batch is handed back); the same signal again ends the process at once
    (its open transaction rolls back and its leases expire: nothing is lost)."""

    SIGNALS = (signal.SIGTERM, signal.SIGINT)

    def __init__(self, worker: Worker) -> None:
        self.worker = worker
        self.saved: dict[int, Any] = {}

    def __enter__(self) -> _SignalHandlers:
        # Only the main thread may handle signals (a worker run from a thread is
        # stopped with Worker.stop()).
        if threading.current_thread() is threading.main_thread():
            for signum in self.SIGNALS:
                self.saved[signum] = signal.signal(signum, self._handle)
        return self

    def __exit__(self, *exc: object) -> None:
        for signum, handler in self.saved.items():
            signal.signal(signum, handler)

    def _handle(self, signum: int, frame: FrameType | None) -> None:
        # Only flags here: writing from a signal handler could re-enter the output.
        name = signal.Signals(signum).name
        if not self.worker.stopping.is_set():
            self.worker.stopped_by = name
            self.worker.stop()
        elif name == self.worker.stopped_by:
            # The same signal twice (Ctrl+C pressed again): stop now. A different
            # one (SIGTERM from a supervisor after Ctrl+C reached the whole process
            # group) changes nothing.
            signal.signal(signum, signal.SIG_DFL)
            signal.raise_signal(signum)
