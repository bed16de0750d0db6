"""Reads of notifications, preferences and webhooks. Each helper runs a fixed
number of queries, whatever the amount of data.

A person sees only their own notifications and preferences; endpoints and their
delivery logs are for the organisation's administrators (the web and API layers
check the role with `Access.require_admin` before calling these)."""

from __future__ import annotations

from typing import Any

from django.db.models import QuerySet

from rantai.accounts.models import Organisation, User
from rantai.core.errors import NotFound
from rantai.notifications.models import (
    Notification,
    Preference,
    WebhookDelivery,
    WebhookEndpoint,
)


def _get(qs: QuerySet, pk: Any) -> Any:
    try:
        return qs.get(pk=int(pk))
    except (ValueError, TypeError, qs.model.DoesNotExist) as error:
        raise NotFound() from error


# --- notifications ----------------------------------------------------------------


def notifications_for(
    organisation: Organisation, user: User, *, unread_only: bool = False
) -> QuerySet[Notification]:
    """The user's notifications in the organisation, newest first."""
    qs = Notification.objects.filter(organisation=organisation, recipient=user)
    if unread_only:
        qs = qs.filter(read_at__isnull=True)
    return qs.order_by("-created_at", "-id")


def notification(organisation: Organisation, user: User, pk: Any) -> Notification:
    """One of the user's own notifications (anyone else's is not found)."""
    return _get(  # type: ignore[no-any-return]
        Notification.objects.filter(organisation=organisation, recipient=user), pk
    )


def unread_count(organisation: Organisation, user: User) -> int:
    return Notification.objects.filter(
        organisation=organisation, recipient=user, read_at__isnull=True
    ).count()


# --- preferences ------------------------------------------------------------------


def get_preference(organisation: Organisation, user: User) -> Preference:
    """The user's preference in the organisation; when they never saved one, the
    defaults (an unsaved row: urgent e-mailed at once, the rest in a digest at
    07:00)."""
    preference = Preference.objects.filter(organisation=organisation, user=user).first()
    if preference is None:
        preference = Preference(organisation=organisation, user=user)
    return preference


# --- webhooks ---------------------------------------------------------------------


def endpoints(
    organisation: Organisation, *, active_only: bool = False
) -> QuerySet[WebhookEndpoint]:
    qs = WebhookEndpoint.objects.filter(organisation=organisation)
    if active_only:
        qs = qs.filter(is_active=True)
    return qs.order_by("name", "id")


def endpoint(organisation: Organisation, pk: Any) -> WebhookEndpoint:
    return _get(WebhookEndpoint.objects.filter(organisation=organisation), pk)  # type: ignore[no-any-return]


def deliveries(
    endpoint: WebhookEndpoint, *, status: str | None = None
) -> QuerySet[WebhookDelivery]:
    """The delivery log of one endpoint, newest first (each row keeps the outcome
    of its last 20 attempts in `log`)."""
    qs = WebhookDelivery.objects.filter(
        organisation_id=endpoint.organisation_id, endpoint=endpoint
    )
    if status:
        qs = qs.filter(status=status)
    return qs.order_by("-created_at", "-id")


def delivery(organisation: Organisation, pk: Any) -> WebhookDelivery:
    return _get(  # type: ignore[no-any-return]
        WebhookDelivery.objects.filter(organisation=organisation).select_related(
            "endpoint"
        ),
        pk,
    )
