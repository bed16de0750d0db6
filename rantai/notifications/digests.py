"""Daily digests: everything that is not urgent, in one e-mail a day.

`send_due` is run by the worker. For each person with notifications waiting for
their digest whose local time (the organisation's time zone) is past their digest
hour today, it writes the day's `Digest` (unique per person, organisation and
local date, so a second run or a second worker writes nothing), attaches the
waiting notifications and queues one e-mail listing the unread ones, in the
person's language. Each digest is its own transaction.
"""

from __future__ import annotations

import datetime as dt
import logging
import zoneinfo
from functools import cache

from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Subquery, Value
from django.db.models.functions import Coalesce
from django.utils import timezone

from rantai.accounts.models import Membership, Organisation, User
from rantai.core import outbox
from rantai.notifications import mail
from rantai.notifications.models import Delivery, Digest, Notification, Preference

logger = logging.getLogger(__name__)

DEFAULT_DIGEST_HOUR = int(Preference._meta.get_field("digest_hour").get_default())


class _NothingToSend(Exception):
    """Everything waiting was read meanwhile: undo the day's digest."""


@cache
def _zone(name: str) -> zoneinfo.ZoneInfo:
    return zoneinfo.ZoneInfo(name)


def _waiting(moment: dt.datetime):  # type: ignore[no-untyped-def]
    return Notification.objects.filter(
        delivery=Delivery.DIGEST, digest__isnull=True, created_at__lte=moment
    )


def due(
    *, now: dt.datetime | None = None, limit: int = 500
) -> list[tuple[int, int, dt.date, int]]:
    """(organisation id, user id, local date, digest hour) of the digests to send
    now, at most `limit`, in a fixed order. Two queries."""
    moment = now or timezone.now()
    hour = Coalesce(
        Subquery(
            Preference.objects.filter(
                organisation_id=OuterRef("organisation_id"),
                user_id=OuterRef("recipient_id"),
            ).values("digest_hour")[:1]
        ),
        Value(DEFAULT_DIGEST_HOUR),
    )
    member = Membership.objects.filter(
        organisation_id=OuterRef("organisation_id"),
        user_id=OuterRef("recipient_id"),
        is_active=True,
    )
    waiting = (
        _waiting(moment)
        .filter(
            read_at__isnull=True,
            recipient__is_active=True,
            organisation__is_active=True,
        )
        .filter(Exists(member))
        .annotate(hour=hour)
        .values_list(
            "organisation_id", "recipient_id", "organisation__time_zone", "hour"
        )
        .distinct()
        .order_by("organisation_id", "recipient_id")
    )
    candidates: list[tuple[int, int, dt.date, int]] = []
    for organisation_id, user_id, zone, digest_hour in waiting:
        local = moment.astimezone(_zone(zone))
        if local.hour >= digest_hour:
            candidates.append((organisation_id, user_id, local.date(), digest_hour))
    if not candidates:
        return []
    sent = set(
        Digest.objects.filter(
            user_id__in={c[1] for c in candidates}, day__in={c[2] for c in candidates}
        ).values_list("organisation_id", "user_id", "day")
    )
    return [c for c in candidates if c[:3] not in sent][:limit]


def send_due(*, now: dt.datetime | None = None, limit: int = 500) -> int:
    """Write and queue the digests that are due; how many were sent."""
    moment = now or timezone.now()
    todo = due(now=moment, limit=limit)
    if not todo:
        return 0
    organisations = Organisation.objects.in_bulk({t[0] for t in todo})
    users = User.objects.in_bulk({t[1] for t in todo})
    sent = 0
    for organisation_id, user_id, day, hour in todo:
        try:
            if _send_one(
                organisations[organisation_id],
                users[user_id],
                day=day,
                hour=hour,
                moment=moment,
            ):
                sent += 1
        except _NothingToSend:
            continue
    return sent


def _send_one(
    organisation: Organisation,
    user: User,
    *,
    day: dt.date,
    hour: int,
    moment: dt.datetime,
) -> bool:
    with transaction.atomic():
        try:
            with transaction.atomic():
                digest = Digest.objects.create(
                    organisation=organisation, user=user, day=day, created_at=moment
                )
        except IntegrityError:
            return False  # another run wrote this day's digest first
        _waiting(moment).filter(organisation=organisation, recipient=user).update(
            digest=digest
        )
        items = list(
            Notification.objects.filter(digest=digest, read_at__isnull=True).order_by(
                "created_at", "id"
            )
        )
        if not items:
            raise _NothingToSend()
        digest.items = len(items)
        digest.save(update_fields=["items"])
        email = mail.digest_email(
            organisation, user, digest_id=digest.pk, notifications=items, hour=hour
        )
        outbox.enqueue_email(
            recipient=email.recipient,
            subject=email.subject,
            body=email.body,
            key=email.key,
        )
    logger.info("digest %s: %s items to user %s", digest.pk, len(items), user.pk)
    return True
