"""The timer service: scheduled once per subject, deadline and action; fired at most
once, under a lease, with the rule's effects in the same transaction; retried with
backoff when a rule fails; never fired once cancelled."""

from __future__ import annotations

import datetime as dt
import functools
import logging
import threading
import time
from collections.abc import Callable

import pytest
from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from rantai.approvals import timers
from rantai.approvals.models import TimeoutAction, Timer, TimerKind, TimerStatus
from rantai.core import leases, outbox
from rantai.core.models import OutboxMessage

KIND = TimerKind.TASK
OTHER = TimerKind.OBSTACLE
DEADLINE = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


class Recorder:
    """A rule that e-mails once per timer (keyed) and remembers its calls."""

    def __init__(self, outcome: str = "reminded") -> None:
        self.outcome = outcome
        self.calls: list[tuple[int, dt.datetime, str]] = []

    def __call__(self, timer: Timer, now: dt.datetime) -> str:
        self.calls.append((timer.pk, now, timer.lease_owner))
        if self.outcome:
            outbox.enqueue_email(
                recipient=f"timer-{timer.pk}@example.test",
                subject="Reminder",
                body="Please decide.",
                key=f"test:{timer.pk}",
            )
        return self.outcome


def schedule(
    organisation_id: int,
    subject_id: int,
    *,
    kind: str = KIND,
    deadline: dt.datetime = DEADLINE,
    action: str = TimeoutAction.REMIND,
    fire_at: dt.datetime | None = None,
) -> Timer | None:
    return timers.schedule(
        organisation_id,
        kind=kind,
        subject_id=subject_id,
        deadline=deadline,
        action=action,
        fire_at=fire_at,
    )


def timer(pk: int) -> Timer:
    return Timer.objects.get(pk=pk)


def effects() -> list[str]:
    return sorted(
        OutboxMessage.objects.filter(key__startswith="test:").values_list(
            "recipient", flat=True
        )
    )


# --- scheduling -------------------------------------------------------------------------


def test_a_timer_is_scheduled_once_per_subject_deadline_and_action(acme):
    org_id = acme.organisation.pk

    created = schedule(org_id, 7)

    assert created is not None
    stored = timer(created.pk)
    assert (stored.organisation_id, stored.kind, stored.subject_id) == (org_id, KIND, 7)
    assert (stored.deadline, stored.fire_at, stored.action) == (
        DEADLINE,
        DEADLINE,
        TimeoutAction.REMIND,
    )
    assert (stored.status, stored.attempts, stored.lease_owner) == (
        TimerStatus.PENDING,
        0,
        "",
    )
    # the same again writes nothing
    assert schedule(org_id, 7, fire_at=DEADLINE - dt.timedelta(hours=1)) is None
    assert Timer.objects.count() == 1
    # another action, deadline or subject is another timer
    assert schedule(org_id, 7, action=TimeoutAction.ESCALATE) is not None
    assert schedule(org_id, 7, deadline=DEADLINE + dt.timedelta(days=1)) is not None
    assert schedule(org_id, 8) is not None
    assert schedule(org_id, 7, kind=OTHER) is not None
    assert Timer.objects.count() == 5


def test_a_first_timer_is_one_insert_and_a_duplicate_is_ignored(
    acme, django_assert_num_queries
):
    org_id = acme.organisation.pk

    with django_assert_num_queries(1):
        timers.schedule_first(
            org_id, kind=KIND, subject_id=7, deadline=DEADLINE, action="remind"
        )
    # Called again (it should not be, but a duplicate must not break the
    # transaction): nothing new, and the transaction goes on.
    with transaction.atomic():
        timers.schedule_first(
            org_id, kind=KIND, subject_id=7, deadline=DEADLINE, action="remind"
        )
        assert schedule(org_id, 8) is not None

    stored = Timer.objects.get(subject_id=7)
    assert (stored.kind, stored.deadline, stored.fire_at, stored.status) == (
        KIND,
        DEADLINE,
        DEADLINE,
        TimerStatus.PENDING,
    )
    assert Timer.objects.count() == 2
    with pytest.raises(ValueError):
        timers.schedule_first(
            org_id, kind=KIND, subject_id=9, deadline=DEADLINE, action="explode"
        )


def test_a_duplicate_leaves_the_callers_transaction_usable(acme):
    org_id = acme.organisation.pk

    with transaction.atomic():
        schedule(org_id, 1)
        assert schedule(org_id, 1) is None
        # the transaction goes on (on PostgreSQL a failed statement would end it)
        later = schedule(org_id, 2, fire_at=DEADLINE - dt.timedelta(minutes=30))

    assert later is not None
    assert timer(later.pk).fire_at == DEADLINE - dt.timedelta(minutes=30)
    assert Timer.objects.count() == 2


def test_a_fired_or_cancelled_deadline_is_not_scheduled_again(acme):
    org_id = acme.organisation.pk
    schedule(org_id, 1)
    schedule(org_id, 2)
    timers.cancel(KIND, 1, now=DEADLINE)
    with timers.isolated_rules({KIND: Recorder()}):
        timers.fire_due(owner="w", now=DEADLINE)

    assert schedule(org_id, 1) is None
    assert schedule(org_id, 2) is None
    assert sorted(Timer.objects.values_list("subject_id", "status")) == [
        (1, TimerStatus.CANCELLED),
        (2, TimerStatus.FIRED),
    ]


@pytest.mark.parametrize(
    ("changes", "message"),
    [
        ({"deadline": dt.datetime(2026, 3, 2, 9, 0)}, "deadline must be an aware"),
        ({"fire_at": dt.datetime(2026, 3, 2, 8, 0)}, "fire_at must be an aware"),
        ({"action": "explode"}, "unknown timer action"),
        ({"kind": ""}, "a timer kind is 1 to 20 characters"),
        ({"kind": "k" * 21}, "a timer kind is 1 to 20 characters"),
    ],
)
def test_scheduling_refuses_a_malformed_timer(acme, changes, message):
    with pytest.raises(ValueError, match=message):
        schedule(acme.organisation.pk, 1, **changes)
    assert Timer.objects.count() == 0


def test_cancel_settles_the_subjects_pending_timers_only(acme):
    org_id = acme.organisation.pk
    fired = schedule(org_id, 1, deadline=DEADLINE - dt.timedelta(days=1))
    pending = [
        schedule(org_id, 1),
        schedule(org_id, 1, action=TimeoutAction.ESCALATE),
    ]
    other = schedule(org_id, 2)
    assert fired is not None and other is not None
    with timers.isolated_rules({KIND: Recorder()}):
        timers.fire_due(owner="w", now=DEADLINE - dt.timedelta(hours=1))

    assert timers.cancel(KIND, 1, now=DEADLINE) == 2
    assert timers.cancel(KIND, 1, now=DEADLINE) == 0

    assert timer(fired.pk).status == TimerStatus.FIRED
    for cancelled in pending:
        assert cancelled is not None
        stored = timer(cancelled.pk)
        assert (stored.status, stored.outcome, stored.fired_at) == (
            TimerStatus.CANCELLED,
            "cancelled 2026-03-02T09:00:00+00:00",
            None,
        )
    assert timer(other.pk).status == TimerStatus.PENDING
    # a cancelled timer never fires
    with timers.isolated_rules({KIND: Recorder()}):
        assert timers.fire_due(owner="w", now=DEADLINE + dt.timedelta(days=9)) == 1
    assert timer(other.pk).status == TimerStatus.FIRED
    assert Timer.objects.filter(status=TimerStatus.CANCELLED).count() == 2


# --- firing ----------------------------------------------------------------------------


def test_due_timers_fire_once_with_their_rules_effect_oldest_first(acme):
    org_id = acme.organisation.pk
    first = schedule(org_id, 1, fire_at=DEADLINE - dt.timedelta(hours=2))
    second = schedule(org_id, 2)
    third = schedule(org_id, 3, fire_at=DEADLINE - dt.timedelta(hours=1))
    not_yet = schedule(org_id, 4, deadline=DEADLINE + dt.timedelta(seconds=1))
    assert first and second and third and not_yet
    rule = Recorder()
    now = DEADLINE

    with timers.isolated_rules({KIND: rule}):
        assert timers.fire_due(owner="worker-a", now=now, limit=2) == 2
        assert timers.fire_due(owner="worker-a", now=now) == 1
        assert timers.fire_due(owner="worker-a", now=now) == 0

    # the rule ran under the worker's lease, oldest fire_at first
    assert rule.calls == [
        (first.pk, now, "worker-a"),
        (third.pk, now, "worker-a"),
        (second.pk, now, "worker-a"),
    ]
    for fired in (first, second, third):
        stored = timer(fired.pk)
        assert (
            stored.status,
            stored.fired_at,
            stored.outcome,
            stored.attempts,
            stored.lease_owner,
            stored.lease_until,
        ) == (TimerStatus.FIRED, now, "reminded", 1, "", None)
    assert timer(not_yet.pk).status == TimerStatus.PENDING
    assert effects() == sorted(
        f"timer-{t.pk}@example.test" for t in (first, second, third)
    )


def test_a_rule_finding_its_subject_settled_does_nothing(acme):
    created = schedule(acme.organisation.pk, 1)
    assert created is not None

    with timers.isolated_rules({KIND: Recorder(outcome="")}):
        assert timers.fire_due(owner="w", now=DEADLINE) == 1
        assert timers.fire_due(owner="w", now=DEADLINE) == 0

    stored = timer(created.pk)
    assert (stored.status, stored.outcome, stored.fired_at) == (
        TimerStatus.FIRED,
        "",
        DEADLINE,
    )
    assert effects() == []


def test_a_long_outcome_is_cut_to_the_column(acme):
    created = schedule(acme.organisation.pk, 1)
    assert created is not None

    with timers.isolated_rules({KIND: Recorder(outcome="x" * 400)}):
        timers.fire_due(owner="w", now=DEADLINE)

    assert timer(created.pk).outcome == "x" * 300


def test_timers_of_a_kind_without_a_rule_stay_pending_and_are_logged_once(acme, caplog):
    org_id = acme.organisation.pk
    orphan = schedule(org_id, 1, kind=OTHER)
    ruled = schedule(org_id, 2)
    assert orphan and ruled

    with (
        timers.isolated_rules({KIND: Recorder()}),
        caplog.at_level(logging.WARNING, logger="rantai.approvals.timers"),
    ):
        assert timers.fire_due(owner="w", now=DEADLINE) == 1
        assert timers.fire_due(owner="w", now=DEADLINE) == 0

    stored = timer(orphan.pk)
    assert (stored.status, stored.lease_owner, stored.attempts) == (
        TimerStatus.PENDING,
        "",
        0,
    )
    assert [r.getMessage() for r in caplog.records] == [
        "timers of kind 'obstacle' are due but no rule is registered for that "
        "kind; they stay pending"
    ]


def test_a_failing_rule_rolls_back_its_own_timer_only_and_is_retried(acme, caplog):
    org_id = acme.organisation.pk
    bad = schedule(org_id, 1)
    good = schedule(org_id, 2)
    assert bad and good
    recorder = Recorder()

    def rule(timer: Timer, now: dt.datetime) -> str:
        outcome = recorder(timer, now)  # writes its effect, then fails
        if timer.subject_id == 1:
            raise RuntimeError("directory unreachable")
        return outcome

    with (
        timers.isolated_rules({KIND: rule}),
        caplog.at_level(logging.ERROR, logger="rantai.approvals.timers"),
    ):
        assert timers.fire_due(owner="w", now=DEADLINE) == 1

    failed = timer(bad.pk)
    assert (
        failed.status,
        failed.attempts,
        failed.fire_at,
        failed.outcome,
        failed.lease_owner,
        failed.fired_at,
    ) == (
        TimerStatus.PENDING,
        1,
        DEADLINE + dt.timedelta(seconds=30),
        "failed: RuntimeError: directory unreachable",
        "",
        None,
    )
    assert timer(good.pk).status == TimerStatus.FIRED
    # the failed rule's e-mail was rolled back with it
    assert effects() == [f"timer-{good.pk}@example.test"]
    [record] = caplog.records
    assert record.getMessage() == (
        f"timer {bad.pk} failed (worker w); its rule's effects were rolled back"
    )
    assert record.exc_info is not None


def test_a_rule_that_keeps_failing_is_given_up_after_max_attempts(acme):
    created = schedule(acme.organisation.pk, 1)
    assert created is not None

    def rule(timer: Timer, now: dt.datetime) -> str:
        raise LookupError("no such stage")

    moment = DEADLINE
    waits = []
    with timers.isolated_rules({KIND: rule}):
        # not before the backoff has passed
        assert timers.fire_due(owner="w", now=moment) == 0
        assert timers.fire_due(owner="w", now=moment + dt.timedelta(seconds=29)) == 0
        assert timer(created.pk).attempts == 1
        for _ in range(timers.MAX_ATTEMPTS - 1):
            moment = timer(created.pk).fire_at
            settled = timers.fire_due(owner="w", now=moment)
            waits.append((timer(created.pk).fire_at - moment).total_seconds())

    assert settled == 1
    assert waits == [60, 120, 240, 0]
    stored = timer(created.pk)
    assert (stored.status, stored.attempts, stored.fired_at, stored.outcome) == (
        TimerStatus.FIRED,
        timers.MAX_ATTEMPTS,
        moment,
        "failed: LookupError: no such stage",
    )


def test_a_timer_leased_by_another_worker_waits_for_its_lease_to_expire(acme):
    created = schedule(acme.organisation.pk, 1)
    assert created is not None
    leases.claim(
        Timer,
        owner="worker-b",
        now=DEADLINE,
        limit=1,
        lease_seconds=60,
        due=Q(pk=created.pk),
    )
    rule = Recorder()

    with timers.isolated_rules({KIND: rule}):
        assert timers.fire_due(owner="worker-a", now=DEADLINE) == 0
        # worker-b died: after its lease, worker-a takes over
        later = DEADLINE + dt.timedelta(seconds=61)
        assert timers.fire_due(owner="worker-a", now=later) == 1

    assert rule.calls == [(created.pk, later, "worker-a")]


def test_a_worker_whose_lease_was_taken_over_does_not_fire(acme):
    created = schedule(acme.organisation.pk, 1)
    assert created is not None
    leases.claim(
        Timer,
        owner="slow",
        now=DEADLINE,
        limit=1,
        lease_seconds=60,
        due=Q(pk=created.pk),
    )
    rule = Recorder()
    later = DEADLINE + dt.timedelta(seconds=61)

    with timers.isolated_rules({KIND: rule}):
        # the lease of the slow worker ran out and another worker took the timer ...
        leases.claim(
            Timer,
            owner="quick",
            now=later,
            limit=1,
            lease_seconds=60,
            due=Q(pk=created.pk),
        )
        # ... so when the slow worker gets to it, it leaves it alone
        assert timers._fire(created.pk, owner="slow", now=later) is False
        assert timers.fire_due(owner="quick", now=later) == 0  # still leased
        assert timers._fire(created.pk, owner="quick", now=later) is True

    assert rule.calls == [(created.pk, later, "quick")]


def test_a_stopping_worker_hands_back_the_rest_of_its_batch(acme):
    org_id = acme.organisation.pk
    for subject in (1, 2, 3):
        schedule(org_id, subject)
    asked: list[bool] = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 1

    with timers.isolated_rules({KIND: Recorder()}):
        assert timers.fire_due(owner="w", now=DEADLINE, stop=stop) == 1

    assert sorted(Timer.objects.values_list("status", "lease_owner")) == [
        (TimerStatus.FIRED, ""),
        (TimerStatus.PENDING, ""),
        (TimerStatus.PENDING, ""),
    ]


def test_without_any_rule_nothing_is_claimed(acme):
    schedule(acme.organisation.pk, 1)

    with timers.isolated_rules():
        assert timers.fire_due(owner="w", now=DEADLINE) == 0

    assert Timer.objects.get().lease_owner == ""


def test_isolated_rules_restore_the_registry():
    before = timers.registered()

    with timers.isolated_rules({KIND: Recorder()}):
        assert list(timers.registered()) == [KIND]

    assert timers.registered() == before
    assert TimerKind.APPROVAL_STAGE in before  # the product's rule (wiring.py)


# --- concurrency (PostgreSQL) ------------------------------------------------------------


def in_thread(
    work: Callable[[], object], errors: list[BaseException]
) -> threading.Thread:
    def run() -> None:
        try:
            work()
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real row locks and concurrent transactions (PostgreSQL)",
)
@pytest.mark.django_db(transaction=True)
def test_two_workers_fire_every_timer_exactly_once(acme):
    org_id = acme.organisation.pk
    created = [schedule(org_id, subject) for subject in range(40)]
    now = timezone.now()
    recorder = Recorder()
    lock = threading.Lock()

    def rule(timer: Timer, at: dt.datetime) -> str:
        time.sleep(0.002)
        with lock:
            return recorder(timer, at)

    def drain(owner: str) -> None:
        while timers.fire_due(owner=owner, now=now, limit=5):
            pass

    errors: list[BaseException] = []
    with timers.isolated_rules({KIND: rule}):
        threads = [
            in_thread(functools.partial(drain, owner), errors) for owner in ("a", "b")
        ]
        for thread in threads:
            thread.join(timeout=60)

    assert errors == []
    assert sorted(pk for pk, _at, _owner in recorder.calls) == sorted(
        t.pk for t in created if t
    )
    assert set(Timer.objects.values_list("status", "attempts")) == {
        (TimerStatus.FIRED, 1)
    }
    assert len(effects()) == 40


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real row locks and concurrent transactions (PostgreSQL)",
)
@pytest.mark.django_db(transaction=True)
def test_a_cancel_racing_a_firing_waits_for_it_and_the_timer_fires_once(acme):
    created = schedule(acme.organisation.pk, 1)
    assert created is not None
    in_rule = threading.Event()
    release = threading.Event()

    def slow_rule(timer: Timer, now: dt.datetime) -> str:
        in_rule.set()
        release.wait(timeout=30)
        return "reminded"

    errors: list[BaseException] = []
    with timers.isolated_rules({KIND: slow_rule}):
        firing = in_thread(
            lambda: timers.fire_due(owner="w", now=timezone.now()), errors
        )
        try:
            assert in_rule.wait(timeout=30)
            watcher = in_thread(lambda: _release_when_blocked(release), errors)
            # the subject is settled while its timer is firing: the cancel waits
            # for the firing transaction and then finds nothing pending
            cancelled = timers.cancel(KIND, 1)
        finally:
            release.set()
            firing.join(timeout=30)
        watcher.join(timeout=30)

    assert errors == []
    assert cancelled == 0
    assert timer(created.pk).status == TimerStatus.FIRED


def _release_when_blocked(release: threading.Event) -> None:
    """Let the firing commit once another backend waits for its row lock."""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                row = cursor.fetchone()
                if row and row[0]:
                    return
            time.sleep(0.02)
    finally:
        release.set()
