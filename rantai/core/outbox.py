"""Write side effects in the caller's transaction; deliver them after commit.

An e-mail is a row of `OutboxMessage` written in the transaction of the change that
causes it. Right after that transaction commits, the process that wrote it tries to
send it once (the fast path); whatever is still pending then — the fast path failed,
or the process died first — is delivered by the worker (`rantai worker`), which
claims due messages with a lease (`core.leases`) and retries failures with
exponential backoff. Both paths send a message only while holding its row lock and
only if it is still pending, so it is never sent twice by Rantai.
"""

from __future__ import annotations

import datetime as dt
import logging
from collections.abc import Callable

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from rantai.core import leases
from rantai.core.models import OutboxChannel, OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


def enqueue_email(
    *, recipient: str, subject: str, body: str, key: str | None = None
) -> OutboxMessage:
    """Queue an e-mail; it is sent only if the surrounding transaction commits.

    `key` makes the effect idempotent (e.g. "approval:12:stage:2:remind:alice"):
    when a message with this key already exists nothing is written and that
    message is returned. The check survives concurrent writers — the key is unique
    and the insert runs in a savepoint — and never breaks the caller's transaction.
    """
    if key is None:
        message = OutboxMessage.objects.create(
            channel=OutboxChannel.EMAIL, recipient=recipient, subject=subject, body=body
        )
    else:
        message, created = OutboxMessage.objects.get_or_create(
            key=key,
            defaults={
                "channel": OutboxChannel.EMAIL,
                "recipient": recipient,
                "subject": subject,
                "body": body,
            },
        )
        if not created:
            return message
    message_id = message.pk
    transaction.on_commit(lambda: deliver(message_id))
    return message


def deliver(message_id: int, *, now: dt.datetime | None = None) -> bool:
    """Send one pending message now, whatever its next attempt time; record the
    outcome. Safe to call repeatedly and concurrently with the worker: True only
    for the call that sent it."""
    return _deliver(message_id, owner=None, now=now)


def deliver_pending(limit: int = 500) -> int:
    """Try every pending message now, oldest first, ignoring backoff (used by
    `rantai outbox deliver`); the number sent."""
    ids = list(
        OutboxMessage.objects.filter(status=OutboxStatus.PENDING)
        .order_by("created_at", "pk")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in ids if deliver(pk))


def deliver_due(
    *,
    owner: str,
    now: dt.datetime | None = None,
    limit: int = 100,
    lease_seconds: int = 60,
    stop: Callable[[], bool] | None = None,
) -> int:
    """The worker's drain: lease up to `limit` pending messages that are due
    (`next_attempt_at` reached) to `owner` and send each in its own transaction;
    the number sent. A failure waits 30 s, 1 min, 2 min, … (at most 6 h) before the
    next try and gives up after `MAX_ATTEMPTS`. `stop()`, asked before each message,
    lets a worker that was told to stop hand back the rest of its batch at once."""
    moment = now or timezone.now()
    ids = leases.claim(
        OutboxMessage,
        owner=owner,
        now=moment,
        limit=limit,
        lease_seconds=lease_seconds,
        due=Q(status=OutboxStatus.PENDING, next_attempt_at__lte=moment),
    )
    sent = 0
    for index, pk in enumerate(ids):
        if stop is not None and stop():
            leases.release(OutboxMessage, ids[index:], owner=owner)
            break
        sent += _deliver(pk, owner=owner, now=now)
    return sent


def _deliver(message_id: int, *, owner: str | None, now: dt.datetime | None) -> bool:
    """Send one message under its row lock if it is still pending (and, for the
    worker, still leased to `owner`: a lease taken over by another worker is theirs
    to act on)."""
    with transaction.atomic():
        pending = OutboxMessage.objects.select_for_update().filter(
            pk=message_id, status=OutboxStatus.PENDING
        )
        if owner is not None:
            pending = pending.filter(lease_owner=owner)
        message = pending.first()
        if message is None:
            return False
        moment = now or timezone.now()
        message.attempts += 1
        message.lease_owner = ""
        message.lease_until = None
        try:
            send_mail(
                message.subject,
                message.body,
                settings.DEFAULT_FROM_EMAIL,
                [message.recipient],
            )
        except Exception as error:  # delivery problems must not break the caller
            logger.warning(
                "outbox message %s to %s failed (attempt %s): %s",
                message.pk,
                message.recipient,
                message.attempts,
                error,
            )
            message.last_error = str(error)[:2000]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = OutboxStatus.FAILED
            else:
                message.next_attempt_at = moment + leases.backoff(message.attempts)
            message.save(
                update_fields=[
                    "attempts",
                    "last_error",
                    "status",
                    "next_attempt_at",
                    "lease_owner",
                    "lease_until",
                ]
            )
            return False
        message.status = OutboxStatus.SENT
        message.sent_at = moment
        message.save(
            update_fields=[
                "attempts",
                "status",
                "sent_at",
                "lease_owner",
                "lease_until",
            ]
        )
        return True
