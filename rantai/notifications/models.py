"""In-app notifications, each person's preferences and daily digests, and signed
webhooks with a delivery log. Everything here is written in the transaction of the
change that causes it and delivered later by the worker."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class Delivery(models.TextChoices):
    """How a person hears of one kind of event outside the app."""

    IMMEDIATE = "immediate", _("e-mail at once")
    DIGEST = "digest", _("in the daily digest")
    IN_APP = "in_app", _("in the app only")


class Notification(models.Model):
    """One in-app notification for one user in one organisation. `key` makes it
    idempotent: a re-delivered job writes nothing new."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    recipient = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recipient"),
        on_delete=models.PROTECT,
        related_name="notifications",
    )
    event_type = models.CharField(_("event"), max_length=60)
    key = models.CharField(max_length=200)
    title = models.CharField(pgettext_lazy("notification", "title"), max_length=300)
    body = models.TextField(_("text"), blank=True)
    url = models.CharField(_("link"), max_length=500, blank=True)
    urgent = models.BooleanField(_("urgent"), default=False)
    delivery = models.CharField(
        _("delivery"), max_length=10, choices=Delivery.choices, default=Delivery.DIGEST
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    read_at = models.DateTimeField(_("read"), null=True, blank=True)
    emailed_at = models.DateTimeField(_("e-mailed"), null=True, blank=True)
    digest = models.ForeignKey(
        "notifications.Digest",
        verbose_name=_("digest"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="notifications",
    )

    class Meta:
        verbose_name = _("notification")
        verbose_name_plural = _("notifications")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["recipient", "organisation", "read_at"]),
            models.Index(fields=["delivery", "digest", "emailed_at"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["recipient", "key"], name="notification_key_unique"
            ),
        ]

    def __str__(self) -> str:
        return self.title


class Preference(models.Model):
    """One user's notification settings in one organisation (a missing row means
    the defaults: urgent by e-mail at once, the rest in a digest at 07:00)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("user"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    urgent = models.CharField(
        _("urgent events"),
        max_length=10,
        choices=Delivery.choices,
        default=Delivery.IMMEDIATE,
    )
    routine = models.CharField(
        _("everything else"),
        max_length=10,
        choices=Delivery.choices,
        default=Delivery.DIGEST,
    )
    per_event = models.JSONField(
        _("per event"),
        default=dict,
        blank=True,
        help_text=_("Overrides for single event types: {event type: delivery}."),
    )
    digest_hour = models.PositiveSmallIntegerField(
        _("digest hour"),
        default=7,
        help_text=_("The hour (0–23, organisation time) the daily digest is sent."),
    )
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        verbose_name = _("notification preference")
        verbose_name_plural = _("notification preferences")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "user"], name="one_preference_per_member"
            ),
            models.CheckConstraint(
                condition=Q(digest_hour__lte=23),
                name="digest_hour_in_day",
                violation_error_message=_("The digest hour is between 0 and 23."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.organisation_id}"


class Digest(models.Model):
    """One person's daily digest for one local date: written once (unique), then
    e-mailed through the outbox."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    day = models.DateField(_("day"))
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    items = models.PositiveIntegerField(_("items"), default=0)

    class Meta:
        verbose_name = _("digest")
        verbose_name_plural = _("digests")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "user", "day"], name="one_digest_per_day"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.user_id} @ {self.organisation_id}: {self.day}"


class WebhookEndpoint(models.Model):
    """An address an organisation forwards events to (e.g. a chat tool), signed
    with HMAC-SHA256 under its own secret."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    name = models.CharField(_("name"), max_length=200)
    url = models.URLField(_("address"), max_length=500)
    secret = models.CharField(_("signing secret"), max_length=100)
    event_types = models.JSONField(
        _("events"),
        default=list,
        blank=True,
        help_text=_("Event types to send; empty sends every event."),
    )
    is_active = models.BooleanField(_("active"), default=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    version = models.PositiveIntegerField(default=1, editable=False)

    class Meta:
        verbose_name = _("webhook endpoint")
        verbose_name_plural = _("webhook endpoints")
        ordering = ["name", "id"]

    def __str__(self) -> str:
        return self.name


class DeliveryStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("delivery", "pending")
    DELIVERED = "delivered", _("delivered")
    FAILED = "failed", _("failed")


class WebhookDelivery(models.Model):
    """One event for one endpoint: attempts with backoff, leased by one worker at a
    time; the log shows every attempt's outcome."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    endpoint = models.ForeignKey(
        WebhookEndpoint,
        verbose_name=_("endpoint"),
        on_delete=models.PROTECT,
        related_name="deliveries",
    )
    event_id = models.UUIDField(_("event id"))
    event_type = models.CharField(_("event"), max_length=60)
    payload = models.JSONField(_("payload"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=DeliveryStatus.choices,
        default=DeliveryStatus.PENDING,
    )
    attempts = models.PositiveSmallIntegerField(_("attempts"), default=0)
    next_attempt_at = models.DateTimeField(_("next attempt"), default=timezone.now)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    delivered_at = models.DateTimeField(_("delivered"), null=True, blank=True)
    lease_owner = models.CharField(max_length=100, blank=True)
    lease_until = models.DateTimeField(null=True, blank=True)
    log = models.JSONField(
        _("attempts log"),
        default=list,
        blank=True,
        help_text=_("[{at, status_code, error, duration_ms}] per attempt."),
    )

    class Meta:
        verbose_name = _("webhook delivery")
        verbose_name_plural = _("webhook deliveries")
        ordering = ["-created_at", "-id"]
        indexes = [models.Index(fields=["status", "next_attempt_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["endpoint", "event_id"], name="one_delivery_per_event"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id} → {self.endpoint_id}"
