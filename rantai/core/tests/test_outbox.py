"""Side effects are written in the business transaction and delivered after commit."""

from __future__ import annotations

from unittest import mock

import pytest
from django.core import mail
from django.db import transaction

from rantai.core import outbox
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
