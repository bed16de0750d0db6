"""Your in-app notifications and how you want to hear of things, and the catalogue
of event types (for notification preferences and webhook subscriptions).

Notifications and preferences are personal: everyone sees and changes only their
own, in each organisation they belong to. Read marks and preferences are not
audited (they change nothing the organisation shares).
"""

import datetime as dt
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from rantai.api.common import OrgSlug, Pagination, org_access, single
from rantai.api.idempotency import idempotent
from rantai.api.versions import IF_MATCH, expected_version
from rantai.notifications import events, queries
from rantai.notifications import services as notifications
from rantai.notifications.models import Delivery, Notification, Preference

router = Router(tags=["notifications"])


# --- schemas ------------------------------------------------------------------------


class NotificationOut(Schema):
    id: int
    event_type: str = Field(..., description="See `GET /event-types`.")
    title: str
    body: str
    url: str = Field(..., description="The page in Rantai it is about.")
    urgent: bool
    delivery: Delivery = Field(..., description="How you were told outside the app.")
    created_at: dt.datetime
    read_at: dt.datetime | None


class NotificationFilters(Schema):
    unread: bool = Field(False, description="Only the unread ones.")


class UnreadCountOut(Schema):
    unread: int


class MarkedOut(Schema):
    marked: int = Field(..., description="How many were unread and are read now.")


class PreferenceOut(Schema):
    """How you hear of events outside the app: `immediate` (an e-mail at once),
    `digest` (the daily digest) or `in_app` (only here)."""

    urgent: Delivery
    routine: Delivery = Field(..., description="Every event that is not urgent.")
    per_event: dict[str, Delivery] = Field(
        ..., description="Overrides for single event types."
    )
    digest_hour: int = Field(
        ..., description="The hour (organisation time) of the daily digest."
    )
    version: int


class PreferenceIn(Schema):
    """The whole preference (what is left out of `per_event` follows `urgent` and
    `routine`)."""

    urgent: Delivery
    routine: Delivery
    per_event: dict[str, Delivery] = Field(default_factory=dict)
    digest_hour: int = Field(..., ge=0, le=23)
    version: int | None = None


class EventTypeOut(Schema):
    """One type of event, in its payload version. A webhook's body is
    `{"type", "version", "id", "occurred_at", "organisation", "data"}`; `data` has
    exactly the shape given here."""

    name: str
    version: int
    urgent: bool = Field(..., description="Whether it is urgent by default.")
    label: str
    data_schema: dict[str, Any] = Field(
        ..., description="The JSON Schema of the payload's `data`."
    )
    example: dict[str, Any] = Field(..., description="An example of `data`.")


# --- the catalogue as JSON Schema -------------------------------------------------------


def _json_schema(spec: events.Field) -> dict[str, Any]:
    schema: dict[str, Any]
    if spec.kind == "object":
        schema = _object_schema(spec.shape or {})
    elif spec.kind == "list":
        schema = {"type": "array", "items": _object_schema(spec.shape or {})}
    elif spec.kind == "choice":
        schema = {"enum": list(spec.choices)}
    elif spec.kind == "datetime":
        schema = {"type": "string", "format": "date-time"}
    else:
        schema = {
            "type": {"int": "integer", "bool": "boolean"}.get(spec.kind, "string")
        }
    if spec.nullable:
        return {"anyOf": [schema, {"type": "null"}]}
    return schema


def _object_schema(shape: Any) -> dict[str, Any]:
    return {
        "type": "object",
        "properties": {name: _json_schema(spec) for name, spec in shape.items()},
        "required": list(shape),
        "additionalProperties": False,
    }


# --- notifications ------------------------------------------------------------------


@router.get("/notifications", response=list[NotificationOut])
@paginate(Pagination)
def list_notifications(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[NotificationFilters]
) -> QuerySet[Notification]:
    """Your notifications in the organisation, newest first."""
    access = org_access(request, org_slug)
    return queries.notifications_for(
        access.organisation, access.user, unread_only=filters.unread
    )


@router.get("/notifications/unread-count", response=UnreadCountOut)
def unread_count(request: HttpRequest, org_slug: OrgSlug) -> dict[str, int]:
    access = org_access(request, org_slug)
    return {"unread": queries.unread_count(access.organisation, access.user)}


@router.post("/notifications/read-all", response=MarkedOut)
@idempotent
def mark_all_read(request: HttpRequest, org_slug: OrgSlug) -> dict[str, int]:
    """Mark all your unread notifications in the organisation read."""
    access = org_access(request, org_slug)
    return {
        "marked": notifications.mark_all_read(access.organisation, actor=access.user)
    }


@router.get("/notifications/preferences", response=PreferenceOut)
def get_preferences(
    request: HttpRequest, org_slug: OrgSlug, response: HttpResponse
) -> Preference:
    """Yours (never saved: the defaults, urgent e-mailed at once and the rest in
    the digest at 07:00, version 1)."""
    access = org_access(request, org_slug)
    return single(response, queries.get_preference(access.organisation, access.user))


@router.put(
    "/notifications/preferences", response=PreferenceOut, openapi_extra=IF_MATCH
)
def update_preferences(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: PreferenceIn,
    response: HttpResponse,
) -> Preference:
    access = org_access(request, org_slug)
    preference = notifications.update_preference(
        access.organisation,
        actor=access.user,
        urgent=payload.urgent,
        routine=payload.routine,
        per_event=payload.per_event,
        digest_hour=payload.digest_hour,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, preference)


@router.get("/notifications/{notification_id}", response=NotificationOut)
def get_notification(
    request: HttpRequest, org_slug: OrgSlug, notification_id: int
) -> Notification:
    access = org_access(request, org_slug)
    return queries.notification(access.organisation, access.user, notification_id)


@router.post("/notifications/{notification_id}/read", response=NotificationOut)
@idempotent
def mark_read(
    request: HttpRequest, org_slug: OrgSlug, notification_id: int
) -> Notification:
    """Mark one of your notifications read (again: nothing changes)."""
    access = org_access(request, org_slug)
    return notifications.mark_read(
        queries.notification(access.organisation, access.user, notification_id),
        actor=access.user,
    )


# --- the catalogue ------------------------------------------------------------------


@router.get("/event-types", response=list[EventTypeOut])
def event_types(request: HttpRequest, org_slug: OrgSlug) -> list[dict[str, Any]]:
    """Every type of event, with its payload version, whether it is urgent by
    default, the JSON Schema of its webhook `data` and an example."""
    org_access(request, org_slug)
    return [
        {
            "name": event.name,
            "version": event.version,
            "urgent": event.urgent,
            "label": str(event.label),
            "data_schema": _object_schema(event.shape),
            "example": dict(event.example),
        }
        for event in events.CATALOGUE.values()
    ]
