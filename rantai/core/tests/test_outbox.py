"""Side effects are written in the business transaction and delivered after commit."""

from __future__ import annotations

import datetime as dt
import threading
import time
from unittest import mock

import pytest
from django.core import mail
from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from rantai.core import leases, outbox
from rantai.core.models import OutboxChannel, OutboxMessage, OutboxStatus


def test_an_email_is_delivered_only_after_commit(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True):
        queued = outbox.enqueue_email(
            recipient="siti@example.test", subject="Hello", body="A body."
        )
        assert mail.outbox == []

    [message] = mail.outbox
    assert (message.to, message.subject, message.body) == (
        ["siti@example.test"],
        "Hello",
        "A body.",
    )
    queued.refresh_from_db()
    assert (queued.channel, queued.status, queued.attempts, queued.last_error) == (
        OutboxChannel.EMAIL,
        OutboxStatus.SENT,
        1,
        "",
    )
    assert queued.sent_at is not None


def test_a_rolled_back_transaction_queues_and_sends_nothing(
    db, django_capture_on_commit_callbacks
):
    with (
        django_capture_on_commit_callbacks(execute=True) as callbacks,
        pytest.raises(ZeroDivisionError),
        transaction.atomic(),
    ):
        outbox.enqueue_email(recipient="siti@example.test", subject="Hi", body="B")
        1 / 0  # noqa: B018

    assert callbacks == []
    assert mail.outbox == []
    assert OutboxMessage.objects.count() == 0


def test_delivering_twice_sends_once(db):
    queued = outbox.enqueue_email(recipient="siti@example.test", subject="Hi", body="B")

    assert outbox.deliver(queued.pk) is True
    assert outbox.deliver(queued.pk) is False

    assert len(mail.outbox) == 1


def test_a_failed_delivery_is_retried_and_finally_given_up(db):
    queued = outbox.enqueue_email(recipient="siti@example.test", subject="Hi", body="B")

    with mock.patch.object(
        outbox, "send_mail", side_effect=OSError("mail server down")
    ):
        assert outbox.deliver(queued.pk) is False
        queued.refresh_from_db()
        assert (queued.status, queued.attempts, queued.last_error) == (
            OutboxStatus.PENDING,
            1,
            "mail server down",
        )
        for _ in range(outbox.MAX_ATTEMPTS - 1):
            outbox.deliver(queued.pk)

    queued.refresh_from_db()
    assert (queued.status, queued.attempts) == (
        OutboxStatus.FAILED,
        outbox.MAX_ATTEMPTS,
    )
    assert outbox.deliver_pending() == 0
    assert mail.outbox == []


def test_pending_messages_are_delivered_oldest_first_up_to_a_limit(db):
    for number in range(3):
        outbox.enqueue_email(
            recipient=f"p{number}@example.test", subject="Hi", body="B"
        )

    assert outbox.deliver_pending(limit=2) == 2
    assert [m.to for m in mail.outbox] == [["p0@example.test"], ["p1@example.test"]]
    assert outbox.deliver_pending() == 1
    assert OutboxMessage.objects.filter(status=OutboxStatus.SENT).count() == 3


# --- idempotency keys -----------------------------------------------------------------


def test_a_second_enqueue_with_the_same_key_writes_and_sends_nothing(
    db, django_capture_on_commit_callbacks
):
    with django_capture_on_commit_callbacks(execute=True) as callbacks:
        first = outbox.enqueue_email(
            recipient="siti@example.test", subject="Hello", body="A", key="k:1"
        )
        again = outbox.enqueue_email(
            recipient="other@example.test", subject="Other", body="B", key="k:1"
        )

    assert again.pk == first.pk
    assert (again.recipient, again.subject) == ("siti@example.test", "Hello")
    assert len(callbacks) == 1
    assert [m.to for m in mail.outbox] == [["siti@example.test"]]
    assert OutboxMessage.objects.count() == 1
    # after it was sent, the key still says "done"
    assert outbox.enqueue_email(
        recipient="siti@example.test", subject="Hello", body="A", key="k:1"
    ).status == (OutboxStatus.SENT)
    assert OutboxMessage.objects.count() == 1


def test_messages_without_a_key_are_all_written(db):
    for _ in range(2):
        outbox.enqueue_email(recipient="siti@example.test", subject="Hi", body="B")

    assert OutboxMessage.objects.count() == 2


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent transactions (PostgreSQL)",
)
@pytest.mark.django_db(transaction=True)
def test_a_concurrent_duplicate_key_leaves_the_callers_transaction_usable():
    """One writer inserts the key and has not committed; a second writer's insert
    waits for it, fails on the unique key once it commits, and — inside its own
    open transaction — gets the first writer's row and carries on."""
    written = threading.Event()
    commit = threading.Event()
    errors: list[BaseException] = []

    def first_writer() -> None:
        try:
            with mock.patch.object(outbox, "deliver"), transaction.atomic():
                outbox.enqueue_email(
                    recipient="first@example.test", subject="1", body="1", key="k:race"
                )
                written.set()
                commit.wait(timeout=30)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
            written.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=first_writer)
    thread.start()
    try:
        assert written.wait(timeout=30)
        with mock.patch.object(outbox, "deliver"), transaction.atomic():
            waiter = threading.Thread(target=_commit_when_blocked, args=(commit,))
            waiter.start()
            second = outbox.enqueue_email(
                recipient="second@example.test", subject="2", body="2", key="k:race"
            )
            waiter.join(timeout=30)
            # the transaction is still usable
            outbox.enqueue_email(recipient="after@example.test", subject="3", body="3")
    finally:
        commit.set()
        thread.join(timeout=30)

    assert errors == []
    assert second.recipient == "first@example.test"
    assert sorted(OutboxMessage.objects.values_list("recipient", flat=True)) == [
        "after@example.test",
        "first@example.test",
    ]


def _commit_when_blocked(commit: threading.Event) -> None:
    """Let the first writer commit once another backend waits for a lock (the
    second writer's insert on the unique key)."""
    try:
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity "
                    "WHERE datname = current_database() AND wait_event_type = 'Lock'"
                )
                if cursor.fetchone()[0]:
                    break
            time.sleep(0.02)
    finally:
        commit.set()
        connections.close_all()


# --- the worker's drain ---------------------------------------------------------------


def queued(count: int) -> list[int]:
    return [
        outbox.enqueue_email(
            recipient=f"p{number}@example.test", subject="Hi", body="B"
        ).pk
        for number in range(count)
    ]


def later(seconds: float) -> dt.datetime:
    return timezone.now() + dt.timedelta(seconds=seconds)


def test_the_worker_sends_the_due_messages_and_clears_its_leases(db):
    ids = queued(3)
    OutboxMessage.objects.filter(pk=ids[2]).update(next_attempt_at=later(3600))
    now = later(1)

    assert outbox.deliver_due(owner="worker-a", now=now) == 2

    assert sorted(m.to[0] for m in mail.outbox) == [
        "p0@example.test",
        "p1@example.test",
    ]
    rows = {m.pk: m for m in OutboxMessage.objects.all()}
    assert [
        (rows[pk].status, rows[pk].attempts, rows[pk].sent_at, rows[pk].lease_owner)
        for pk in ids[:2]
    ] == [(OutboxStatus.SENT, 1, now, "")] * 2
    assert rows[ids[0]].lease_until is None
    assert rows[ids[2]].status == OutboxStatus.PENDING
    assert outbox.deliver_due(owner="worker-a", now=now) == 0


def test_the_worker_leaves_messages_leased_to_another_worker(db):
    ids = queued(2)
    now = later(1)
    leases.claim(
        OutboxMessage,
        owner="worker-b",
        now=now,
        limit=1,
        lease_seconds=60,
        due=Q(pk=ids[0]),
    )

    assert outbox.deliver_due(owner="worker-a", now=now) == 1
    assert [m.to for m in mail.outbox] == [["p1@example.test"]]

    # worker-b died: its lease expires and the message is taken over
    assert outbox.deliver_due(owner="worker-a", now=now + dt.timedelta(seconds=61)) == 1
    assert OutboxMessage.objects.filter(status=OutboxStatus.SENT).count() == 2


def test_a_failure_is_retried_with_exponential_backoff_then_given_up(db):
    [pk] = queued(1)
    now = later(1)

    with mock.patch.object(outbox, "send_mail", side_effect=OSError("no server")):
        assert outbox.deliver_due(owner="w", now=now) == 0
        message = OutboxMessage.objects.get(pk=pk)
        assert (message.status, message.attempts, message.last_error) == (
            OutboxStatus.PENDING,
            1,
            "no server",
        )
        assert message.next_attempt_at == now + dt.timedelta(seconds=30)
        assert (message.lease_owner, message.lease_until) == ("", None)
        # not before the backoff has passed
        assert outbox.deliver_due(owner="w", now=now + dt.timedelta(seconds=29)) == 0
        assert OutboxMessage.objects.get(pk=pk).attempts == 1

        moment = message.next_attempt_at
        waits = []
        for _ in range(outbox.MAX_ATTEMPTS - 1):
            outbox.deliver_due(owner="w", now=moment)
            message = OutboxMessage.objects.get(pk=pk)
            waits.append((message.next_attempt_at - moment).total_seconds())
            moment = message.next_attempt_at

    assert waits[:-1] == [60, 120, 240, 480, 960, 1920]
    assert (message.status, message.attempts) == (
        OutboxStatus.FAILED,
        outbox.MAX_ATTEMPTS,
    )
    assert outbox.deliver_due(owner="w", now=moment + dt.timedelta(days=1)) == 0
    assert mail.outbox == []


def test_the_fast_path_and_the_worker_never_both_send_a_message(db):
    first, second = queued(2)
    now = later(1)
    # the worker has claimed both ...
    leases.claim(
        OutboxMessage,
        owner="worker-a",
        now=now,
        limit=2,
        lease_seconds=60,
        due=Q(status=OutboxStatus.PENDING),
    )
    # ... when the fast path of the first one runs
    assert outbox.deliver(first) is True

    assert outbox.deliver_due(owner="worker-a", now=now + dt.timedelta(seconds=61)) == 1
    # the fast path of the second one comes too late
    assert outbox.deliver(second) is False
    assert sorted(m.to[0] for m in mail.outbox) == [
        "p0@example.test",
        "p1@example.test",
    ]


def test_a_stopping_worker_hands_back_the_rest_of_its_batch(db):
    ids = queued(3)
    now = later(1)
    asked = []

    def stop() -> bool:
        asked.append(True)
        return len(asked) > 1

    assert outbox.deliver_due(owner="w", now=now, stop=stop) == 1

    rows = dict(OutboxMessage.objects.values_list("pk", "lease_owner"))
    assert [rows[pk] for pk in ids] == ["", "", ""]
    assert OutboxMessage.objects.filter(status=OutboxStatus.PENDING).count() == 2


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs concurrent transactions (PostgreSQL)",
)
@pytest.mark.django_db(transaction=True)
def test_two_workers_and_the_fast_path_together_send_every_message_once():
    with mock.patch.object(outbox, "deliver"):  # the fast path runs below
        ids = queued(30)
    sent: list[str] = []
    lock = threading.Lock()
    errors: list[BaseException] = []

    def slow_send(subject, body, sender, recipients):  # type: ignore[no-untyped-def]
        time.sleep(0.002)
        with lock:
            sent.extend(recipients)
        return 1

    def run(work) -> None:  # type: ignore[no-untyped-def]
        try:
            work()
        except BaseException as error:  # reported by the main thread
            errors.append(error)
        finally:
            connections.close_all()

    workers = [
        threading.Thread(
            target=run,
            args=(lambda name=name: _drain_all(name),),
        )
        for name in ("worker-a", "worker-b")
    ]
    fast_path = threading.Thread(
        target=run, args=(lambda: [outbox.deliver(pk) for pk in ids],)
    )
    with mock.patch.object(outbox, "send_mail", side_effect=slow_send):
        for thread in [*workers, fast_path]:
            thread.start()
        for thread in [*workers, fast_path]:
            thread.join(timeout=60)

    assert errors == []
    assert sorted(sent) == sorted(f"p{n}@example.test" for n in range(30))
    assert OutboxMessage.objects.filter(status=OutboxStatus.SENT).count() == 30
    assert set(OutboxMessage.objects.values_list("attempts", flat=True)) == {1}


def _drain_all(owner: str) -> None:
    while outbox.deliver_due(owner=owner, now=later(1), limit=5):
        pass
