"""The e-mails of notifications and digests: rendered in the recipient's language
and queued in the outbox (`core.OutboxMessage`) with an idempotency key, in the
caller's transaction."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

from django.conf import settings
from django.db import transaction
from django.template.loader import render_to_string
from django.utils import timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from rantai.accounts.models import Organisation, User
from rantai.core import outbox
from rantai.core.models import OutboxChannel, OutboxMessage
from rantai.notifications.bulk import insert_ignoring_conflicts
from rantai.notifications.models import Notification

# The e-mails of one transaction sent right after it commits; the worker delivers
# the rest within its interval, so a notice to many people does not hold up the
# request that caused it.
FAST_PATH_LIMIT = 10
# A digest lists at most this many notifications; it says how many more there are.
DIGEST_ITEMS = 50
_SUBJECT_LENGTH = OutboxMessage._meta.get_field("subject").max_length or 300
_DIGEST_BODY_LENGTH = 300


@dataclass(frozen=True, slots=True)
class Email:
    recipient: str
    subject: str
    body: str
    key: str


def absolute_url(url: str) -> str:
    """A link for an e-mail: paths are made absolute with `RANTAI_BASE_URL`."""
    if not url:
        return ""
    if url.startswith("/"):
        return str(settings.RANTAI_BASE_URL).rstrip("/") + url
    return url


def language_of(user: User) -> str:
    return user.language or settings.LANGUAGE_CODE


def _subject(organisation: Organisation, text: str) -> str:
    subject = _("[%(organisation)s] %(title)s") % {
        "organisation": organisation.name,
        "title": " ".join(text.split()),
    }
    if len(subject) > _SUBJECT_LENGTH:
        subject = subject[: _SUBJECT_LENGTH - 1] + "…"
    return subject


def notification_email(
    organisation: Organisation, user: User, notification: Notification
) -> Email:
    """The e-mail of one notification delivered at once."""
    with translation.override(language_of(user)):
        subject = _subject(organisation, notification.title)
        body = render_to_string(
            "notifications/email/notification.txt",
            {
                "organisation": organisation,
                "user": user,
                "notification": notification,
                "link": absolute_url(notification.url),
            },
        )
    return Email(user.email, subject, body, f"notification:{notification.pk}")


def _shorten(text: str) -> str:
    text = " ".join(text.split())
    if len(text) > _DIGEST_BODY_LENGTH:
        return text[: _DIGEST_BODY_LENGTH - 1] + "…"
    return text


def digest_email(
    organisation: Organisation,
    user: User,
    *,
    digest_id: int,
    notifications: Sequence[Notification],
    hour: int,
) -> Email:
    """The e-mail of one digest listing the (unread) notifications, newest last."""
    total = len(notifications)
    listed = notifications[:DIGEST_ITEMS]
    with translation.override(language_of(user)):
        subject = _subject(
            organisation,
            ngettext(
                "Your daily digest: %(count)d notification",
                "Your daily digest: %(count)d notifications",
                total,
            )
            % {"count": total},
        )
        body = render_to_string(
            "notifications/email/digest.txt",
            {
                "organisation": organisation,
                "user": user,
                "total": total,
                "items": [
                    {
                        "title": n.title,
                        "body": _shorten(n.body),
                        "link": absolute_url(n.url),
                        "urgent": n.urgent,
                    }
                    for n in listed
                ],
                "more": total - len(listed),
                "at": f"{hour:02d}:00",
            },
        )
    return Email(user.email, subject, body, f"digest:{digest_id}")


def queue(emails: Sequence[Email]) -> list[int]:
    """Write the e-mails to the outbox in one statement (a key already there writes
    nothing: the effect is idempotent) and send the first few right after commit;
    the ids of the messages written."""
    if not emails:
        return []
    now = timezone.now()
    written = insert_ignoring_conflicts(
        OutboxMessage,
        [
            {
                "channel": OutboxChannel.EMAIL,
                "recipient": email.recipient,
                "subject": email.subject[:_SUBJECT_LENGTH],
                "body": email.body,
                "key": email.key,
                "created_at": now,
                "next_attempt_at": now,
            }
            for email in emails
        ],
        unique=["key"],
        returning=["id"],
    )
    ids = sorted(int(row[0]) for row in written)
    fast = ids[:FAST_PATH_LIMIT]
    if fast:
        transaction.on_commit(lambda: _send(fast), robust=True)
    return ids


def _send(ids: Sequence[int]) -> None:
    for pk in ids:
        outbox.deliver(pk)
