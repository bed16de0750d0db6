"""Write side effects in the caller's transaction; deliver them after commit."""

from __future__ import annotations

import logging

from django.conf import settings
from django.core.mail import send_mail
from django.db import transaction
from django.utils import timezone

from rantai.core.models import OutboxChannel, OutboxMessage, OutboxStatus

logger = logging.getLogger(__name__)
MAX_ATTEMPTS = 8


def enqueue_email(*, recipient: str, subject: str, body: str) -> OutboxMessage:
    """Queue an e-mail; it is sent only if the surrounding transaction commits."""
    message = OutboxMessage.objects.create(
        channel=OutboxChannel.EMAIL, recipient=recipient, subject=subject, body=body
    )
    transaction.on_commit(lambda: deliver(message.pk))
    return message


def deliver(message_id: int) -> bool:
    """Send one pending message; record the outcome. Safe to call repeatedly."""
    with transaction.atomic():
        message = (
            OutboxMessage.objects.select_for_update()
            .filter(pk=message_id, status=OutboxStatus.PENDING)
            .first()
        )
        if message is None:
            return False
        message.attempts += 1
        try:
            send_mail(
                message.subject,
                message.body,
                settings.DEFAULT_FROM_EMAIL,
                [message.recipient],
            )
        except Exception as error:  # delivery problems must not break the request
            logger.warning("outbox delivery %s failed: %s", message.pk, error)
            message.last_error = str(error)[:2000]
            if message.attempts >= MAX_ATTEMPTS:
                message.status = OutboxStatus.FAILED
            message.save(update_fields=["attempts", "last_error", "status"])
            return False
        message.status = OutboxStatus.SENT
        message.sent_at = timezone.now()
        message.save(update_fields=["attempts", "status", "sent_at"])
        return True


def deliver_pending(limit: int = 500) -> int:
    """Retry whatever is still pending (used by `rantai outbox deliver`)."""
    ids = list(
        OutboxMessage.objects.filter(status=OutboxStatus.PENDING)
        .order_by("created_at")
        .values_list("pk", flat=True)[:limit]
    )
    return sum(1 for pk in ids if deliver(pk))
