"""In-app notifications and each person's notification preferences.

`notify` is called by the services of the higher apps, inside the transaction of
the change that causes it: it writes one notification per recipient, at most once
per (recipient, key) however often it is called, and queues the e-mail of those who
want to hear at once. Everything else waits for the daily digest (digests.py) or
stays in the app — little chatter.

Preferences, read marks and e-mails are personal matters of one user, not changes
of the organisation's shared state: they are not written to the audit trail.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Mapping
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone, translation
from django.utils.functional import Promise
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Organisation, User
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict, NotFound, ValidationFailed
from rantai.notifications import events, mail
from rantai.notifications.bulk import insert_ignoring_conflicts
from rantai.notifications.models import Delivery, Notification, Preference
from rantai.notifications.queries import (
    get_preference,
    notifications_for,
    unread_count,
)

__all__ = [
    "UNCHANGED",
    "delivery_for",
    "get_preference",
    "mark_all_read",
    "mark_read",
    "notifications_for",
    "notify",
    "unread_count",
    "update_preference",
]

_TITLE_LENGTH = Notification._meta.get_field("title").max_length or 300
_KEY_LENGTH = Notification._meta.get_field("key").max_length or 200
_URL_LENGTH = Notification._meta.get_field("url").max_length or 500


class _Unchanged:
    """Marks a keyword argument the caller did not give."""


UNCHANGED: Any = _Unchanged()


def _require_member(organisation_id: int, user: User | None) -> None:
    """Only an active member of the organisation acts on their own notices."""
    if (
        user is None
        or not user.is_active
        or not Membership.objects.filter(
            organisation_id=organisation_id, user=user, is_active=True
        ).exists()
    ):
        raise NotFound()


# --- delivery ---------------------------------------------------------------------


def delivery_for(preference: Preference | None, event_type: str, urgent: bool) -> str:
    """How a person hears of an event: their override for the event type, else
    their choice for urgent or routine events (no preference: urgent e-mailed at
    once, the rest in the digest)."""
    if preference is None:
        return str(Delivery.IMMEDIATE if urgent else Delivery.DIGEST)
    override = (preference.per_event or {}).get(event_type)
    if override in Delivery.values:
        return str(override)
    return str(preference.urgent if urgent else preference.routine)


def _text(value: str | Promise, language: str) -> str:
    """Text in one language: lazy text (gettext_lazy, format_lazy) is rendered in
    it, plain text is used as given."""
    with translation.override(language):
        return str(value)


def _clip(text: str, length: int) -> str:
    return text if len(text) <= length else text[: length - 1] + "…"


@transaction.atomic
def notify(
    organisation: Organisation,
    *,
    recipients: Iterable[User],
    event_type: str,
    key: str,
    title: str | Promise,
    body: str | Promise = "",
    url: str = "",
    urgent: bool | None = None,
    now: dt.datetime | None = None,
) -> int:
    """Notify the recipients who are active members of the organisation; the
    number of notifications written.

    Idempotent on (recipient, key): a key names the transition and the effect
    (e.g. "approval:12:stage:2:round:1:opened"), so a re-delivered job writes
    nothing new and sends nothing twice. `urgent=None` takes the event type's
    default from the catalogue. Give `title` and `body` as lazy text
    (`gettext_lazy`, `format_lazy`) to have them written in each recipient's
    language; `url` is a path inside Rantai (made absolute in e-mails).

    Runs a fixed handful of queries whatever the number of recipients.
    """
    event = events.get(event_type)
    if not key or len(key) > _KEY_LENGTH:
        raise ValueError(f"a notification key has 1 to {_KEY_LENGTH} characters")
    if len(url) > _URL_LENGTH:
        raise ValueError(f"a notification link has at most {_URL_LENGTH} characters")
    is_urgent = event.urgent if urgent is None else bool(urgent)
    wanted = list(dict.fromkeys(user.pk for user in recipients if user.pk))
    if not wanted:
        return 0
    users = {
        user.pk: user
        for user in User.objects.filter(
            pk__in=wanted,
            is_active=True,
            memberships__organisation=organisation,
            memberships__is_active=True,
        )
    }
    if not users:
        return 0
    preferences = {
        preference.user_id: preference
        for preference in Preference.objects.filter(
            organisation=organisation, user_id__in=list(users)
        )
    }
    moment = now or timezone.now()
    texts: dict[str, tuple[str, str]] = {}
    rows: dict[int, dict[str, Any]] = {}
    for pk in wanted:
        user = users.get(pk)
        if user is None:
            continue
        language = mail.language_of(user)
        if language not in texts:
            texts[language] = (
                _clip(" ".join(_text(title, language).split()), _TITLE_LENGTH),
                _text(body, language),
            )
        delivery = delivery_for(preferences.get(pk), event.name, is_urgent)
        rows[pk] = {
            "organisation_id": organisation.pk,
            "recipient_id": pk,
            "event_type": event.name,
            "key": key,
            "title": texts[language][0],
            "body": texts[language][1],
            "url": url,
            "urgent": is_urgent,
            "delivery": delivery,
            "created_at": moment,
            "emailed_at": moment if delivery == Delivery.IMMEDIATE else None,
        }
    written = insert_ignoring_conflicts(
        Notification,
        list(rows.values()),
        unique=["recipient_id", "key"],
        returning=["id", "recipient_id"],
    )
    emails = []
    for pk, recipient_id in written:
        row = rows[int(recipient_id)]
        if row["delivery"] != Delivery.IMMEDIATE:
            continue
        notification = Notification(pk=int(pk), **row)
        emails.append(
            mail.notification_email(
                organisation, users[row["recipient_id"]], notification
            )
        )
    mail.queue(emails)
    return len(written)


# --- preferences ------------------------------------------------------------------


def _delivery_value(field: str, value: Any, errors: dict[str, list[str]]) -> str:
    if value not in Delivery.values:
        errors.setdefault(field, []).append(
            _("Choose how to be told: at once, in the daily digest or in the app only.")
        )
        return ""
    return str(value)


def _per_event_value(value: Any, errors: dict[str, list[str]]) -> dict[str, str]:
    if value is None:
        return {}
    if not isinstance(value, Mapping):
        errors.setdefault("per_event", []).append(_("Give one choice per event type."))
        return {}
    cleaned: dict[str, str] = {}
    for event_type, delivery in value.items():
        if not events.is_known(event_type):
            errors.setdefault("per_event", []).append(
                _("“%(event)s” is not a known event type.") % {"event": event_type}
            )
        elif delivery not in Delivery.values:
            errors.setdefault("per_event", []).append(
                _(
                    "Choose how to be told of “%(event)s”: at once, in the daily "
                    "digest or in the app only."
                )
                % {"event": event_type}
            )
        else:
            cleaned[str(event_type)] = str(delivery)
    # Catalogue order, so equal choices store equal values.
    return {name: cleaned[name] for name in events.CATALOGUE if name in cleaned}


def _digest_hour_value(value: Any, errors: dict[str, list[str]]) -> int:
    if isinstance(value, bool) or not isinstance(value, int) or not 0 <= value <= 23:
        errors.setdefault("digest_hour", []).append(
            _("The digest hour is between 0 and 23.")
        )
        return 0
    return value


@transaction.atomic
def update_preference(
    organisation: Organisation,
    *,
    actor: User,
    urgent: Any = UNCHANGED,
    routine: Any = UNCHANGED,
    per_event: Any = UNCHANGED,
    digest_hour: Any = UNCHANGED,
    expected_version: int | None = None,
) -> Preference:
    """Change the actor's own notification preference in the organisation
    (compare-and-set on its version; a person who never saved one has version 1)."""
    _require_member(organisation.pk, actor)
    errors: dict[str, list[str]] = {}
    changes: dict[str, Any] = {}
    if urgent is not UNCHANGED:
        changes["urgent"] = _delivery_value("urgent", urgent, errors)
    if routine is not UNCHANGED:
        changes["routine"] = _delivery_value("routine", routine, errors)
    if per_event is not UNCHANGED:
        changes["per_event"] = _per_event_value(per_event, errors)
    if digest_hour is not UNCHANGED:
        changes["digest_hour"] = _digest_hour_value(digest_hour, errors)
    if errors:
        raise ValidationFailed(errors)
    preference = get_preference(organisation, actor)
    if preference.pk is None:
        if expected_version not in (None, preference.version):
            raise Conflict()
        for name, value in changes.items():
            setattr(preference, name, value)
        # The defaults were version 1: the first save is version 2, so a page read
        # before it answers a conflict instead of overwriting it.
        preference.version = 2
        try:
            with transaction.atomic():
                preference.save()
        except IntegrityError as error:  # saved by a concurrent request meanwhile
            raise Conflict() from error
        return preference
    if not changes:
        if expected_version not in (None, preference.version):
            raise Conflict()
        return preference
    compare_and_set(preference, expected_version=expected_version, fields=changes)
    return preference


# --- read marks -------------------------------------------------------------------


@transaction.atomic
def mark_read(
    notification: Notification, *, actor: User, now: dt.datetime | None = None
) -> Notification:
    """Mark one of the actor's own notifications read (again: nothing changes)."""
    if notification.recipient_id != actor.pk:
        raise NotFound()
    _require_member(notification.organisation_id, actor)
    moment = now or timezone.now()
    if Notification.objects.filter(pk=notification.pk, read_at__isnull=True).update(
        read_at=moment
    ):
        notification.read_at = moment
    else:
        notification.read_at = (
            Notification.objects.filter(pk=notification.pk)
            .values_list("read_at", flat=True)
            .get()
        )
    return notification


@transaction.atomic
def mark_all_read(
    organisation: Organisation, *, actor: User, now: dt.datetime | None = None
) -> int:
    """Mark all of the actor's unread notifications in the organisation read;
    how many there were."""
    _require_member(organisation.pk, actor)
    return Notification.objects.filter(
        organisation=organisation, recipient=actor, read_at__isnull=True
    ).update(read_at=now or timezone.now())
