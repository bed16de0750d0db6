"""A timer kind whose rule e-mails one address per timer, for the worker tests.

The in-process tests register `send_one_email` with `timers.isolated_rules`; the
worker processes started by the fault test load `worker_settings`, which installs
this app so that its `ready()` registers the rule there too.
"""

from __future__ import annotations

import datetime as dt
import os
import time

from django.apps import AppConfig

KIND = "worker_test"
# Set in a worker process's environment: after this many timers the rule stalls
# inside its transaction (holding the timer's row lock) until the process is killed.
STALL_AFTER = "RANTAI_WORKER_TEST_STALL_AFTER"

_fired_here = 0


def recipient_for(timer_id: int) -> str:
    return f"timer-{timer_id}@example.test"


def send_one_email(timer, now: dt.datetime) -> str:  # type: ignore[no-untyped-def]
    """The effect of one timer: one e-mail to an address of its own, without an
    idempotency key, so a second firing would show as a second row."""
    global _fired_here
    from rantai.core import outbox

    stall_after = int(os.environ.get(STALL_AFTER) or 0)
    if stall_after and _fired_here >= stall_after:
        time.sleep(3600)
    recipient = recipient_for(timer.pk)
    outbox.enqueue_email(
        recipient=recipient,
        subject=f"Timer {timer.pk} passed",
        body=f"The deadline {timer.deadline.isoformat()} passed.",
    )
    _fired_here += 1
    return f"e-mailed {recipient}"


class WorkerTestConfig(AppConfig):
    name = "rantai.cli.tests"
    label = "worker_test"
    verbose_name = "Worker tests"

    def ready(self) -> None:
        from rantai.approvals import timers

        timers.register(KIND, send_one_email)
