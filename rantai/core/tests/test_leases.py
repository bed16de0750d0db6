"""Claiming work rows with a lease: due rows only, oldest first, one owner at a time,
taken over when the lease expires."""

from __future__ import annotations

import datetime as dt
import threading
from unittest import mock

import pytest
from django.db import connection, connections, transaction
from django.db.models import Q
from django.utils import timezone

from rantai.core import leases, outbox
from rantai.core.models import OutboxMessage, OutboxStatus

NOW = dt.datetime(2026, 3, 2, 9, 0, tzinfo=dt.UTC)


def messages(count: int, *, first_due: dt.datetime = NOW) -> list[int]:
    """`count` pending e-mails, the first due at `first_due`, each next one a
    minute earlier (so the due order is the reverse of the id order)."""
    ids = []
    for number in range(count):
        message = outbox.enqueue_email(
            recipient=f"p{number}@example.test", subject="Hi", body="B"
        )
        OutboxMessage.objects.filter(pk=message.pk).update(
            next_attempt_at=first_due - dt.timedelta(minutes=number)
        )
        ids.append(message.pk)
    return ids


def due(now: dt.datetime) -> Q:
    return Q(status=OutboxStatus.PENDING, next_attempt_at__lte=now)


def claim(owner: str, *, now: dt.datetime = NOW, limit: int = 10) -> list[int]:
    return leases.claim(
        OutboxMessage,
        owner=owner,
        now=now,
        limit=limit,
        lease_seconds=60,
        due=due(now),
    )


def lease_of(pk: int) -> tuple[str, dt.datetime | None]:
    row = OutboxMessage.objects.values_list("lease_owner", "lease_until").get(pk=pk)
    return row[0], row[1]


def test_a_claim_leases_the_due_rows_oldest_first_up_to_the_limit(db):
    # given three messages due (the last one written is due first) and one later
    ids = messages(3)
    later = messages(1, first_due=NOW + dt.timedelta(minutes=1))[0]

    claimed = claim("worker-a", limit=2)

    assert claimed == [ids[2], ids[1]]
    until = NOW + dt.timedelta(seconds=60)
    assert [lease_of(pk) for pk in claimed] == [("worker-a", until)] * 2
    assert lease_of(ids[0]) == ("", None)
    assert lease_of(later) == ("", None)


def test_a_leased_row_is_not_claimed_again_until_its_lease_expires(db):
    ids = messages(2)

    assert claim("worker-a", limit=1) == [ids[1]]
    # another worker gets the other row only
    assert claim("worker-b") == [ids[0]]
    assert claim("worker-c", now=NOW + dt.timedelta(seconds=59)) == []

    # when worker-a's lease has run out (it died), the row is taken over
    later = NOW + dt.timedelta(seconds=61)
    assert claim("worker-c", now=later, limit=1) == [ids[1]]
    assert lease_of(ids[1]) == ("worker-c", later + dt.timedelta(seconds=60))


def test_rows_that_are_not_due_are_left_alone(db):
    [pk] = messages(1)
    OutboxMessage.objects.filter(pk=pk).update(status=OutboxStatus.SENT)

    assert claim("worker-a") == []
    assert lease_of(pk) == ("", None)


def test_release_gives_back_only_the_owners_own_leases(db):
    ids = messages(3)
    claim("worker-a", limit=2)  # ids[2], ids[1]
    claim("worker-b")  # ids[0]

    assert leases.release(OutboxMessage, ids, owner="worker-a") == 2

    assert [lease_of(pk) for pk in ids] == [
        ("worker-b", NOW + dt.timedelta(seconds=60)),
        ("", None),
        ("", None),
    ]
    assert leases.release(OutboxMessage, [], owner="worker-a") == 0
    # released rows can be claimed at once
    assert claim("worker-c") == [ids[2], ids[1]]


def test_an_explicit_order_is_followed(db):
    ids = messages(3)

    claimed = leases.claim(
        OutboxMessage,
        owner="worker-a",
        now=NOW,
        limit=3,
        lease_seconds=5,
        due=due(NOW),
        order_by=["pk"],
    )

    assert claimed == ids


@pytest.mark.parametrize(
    ("owner", "limit", "lease_seconds", "message"),
    [
        ("", 1, 60, "a lease needs an owner"),
        ("w", 0, 60, "claim at least one row"),
        ("w", 1, 0, "a lease lasts at least one second"),
    ],
)
def test_a_claim_refuses_nonsense(db, owner, limit, lease_seconds, message):
    with pytest.raises(ValueError, match=message):
        leases.claim(
            OutboxMessage,
            owner=owner,
            now=NOW,
            limit=limit,
            lease_seconds=lease_seconds,
            due=Q(),
        )


def test_backoff_doubles_from_thirty_seconds_up_to_six_hours():
    assert [leases.backoff(n).total_seconds() for n in range(6)] == [
        0,
        30,
        60,
        120,
        240,
        480,
    ]
    assert leases.backoff(10) == dt.timedelta(hours=4, minutes=16)
    assert leases.backoff(11) == dt.timedelta(hours=6)
    assert leases.backoff(500) == dt.timedelta(hours=6)


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs real row locks and concurrent transactions (PostgreSQL)",
)
@pytest.mark.django_db(transaction=True)
def test_concurrent_claims_skip_each_others_rows_instead_of_waiting():
    with mock.patch.object(outbox, "deliver"):  # no delivery on commit
        ids = messages(6, first_due=timezone.now() - dt.timedelta(hours=1))
    now = timezone.now()
    held = threading.Event()
    finish = threading.Event()
    first: list[int] = []
    errors: list[BaseException] = []

    def slow_claimer() -> None:
        # claims three rows and keeps its transaction (and row locks) open
        try:
            with transaction.atomic():
                first.extend(claim("worker-a", now=now, limit=3))
                held.set()
                finish.wait(timeout=30)
        except BaseException as error:  # reported by the main thread
            errors.append(error)
            held.set()
        finally:
            connections.close_all()

    thread = threading.Thread(target=slow_claimer)
    thread.start()
    try:
        assert held.wait(timeout=30)
        # while worker-a's claim has not committed, worker-b neither waits for its
        # rows (the lock timeout would fail) nor takes them
        with transaction.atomic():
            with connection.cursor() as cursor:
                cursor.execute("SET LOCAL lock_timeout = '2s'")
            second = claim("worker-b", now=now, limit=6)
    finally:
        finish.set()
        thread.join(timeout=30)

    assert errors == []
    assert sorted(first + second) == sorted(ids)
    assert set(first).isdisjoint(second)
    assert len(first) == 3
    owners = dict(OutboxMessage.objects.values_list("pk", "lease_owner"))
    assert {owners[pk] for pk in first} == {"worker-a"}
    assert {owners[pk] for pk in second} == {"worker-b"}
