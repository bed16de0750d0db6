"""Webhook endpoints: addresses the organisation's events are forwarded to, signed
with HMAC-SHA256 under each endpoint's own secret, and their delivery logs.

Administrators only (403 for everyone else). The signing secret is answered once,
when the endpoint is created and when it is rotated; it is never shown again.
"""

import datetime as dt
import uuid
from typing import Any

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    admin_access,
    created,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.versions import IF_MATCH, expected_version
from rantai.notifications import queries, webhooks
from rantai.notifications.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

router = Router(tags=["webhooks"])


# --- schemas ------------------------------------------------------------------------


class WebhookEndpointOut(Schema):
    id: int
    name: str
    url: str
    event_types: list[str] = Field(
        ..., description="The event types sent (see `GET /event-types`); empty: all."
    )
    is_active: bool
    created_by_id: int
    created_at: dt.datetime
    version: int


class WebhookEndpointWithSecretOut(WebhookEndpointOut):
    secret: str = Field(
        ...,
        description="The signing secret, shown this once: keep it to check the "
        "`Rantai-Signature` header.",
    )

    @staticmethod
    def resolve_secret(endpoint: WebhookEndpoint) -> str:
        return endpoint.new_secret  # type: ignore[attr-defined,no-any-return]


class WebhookEndpointFilters(Schema):
    is_active: bool | None = None


class WebhookEndpointCreate(Schema):
    """An https address (private and loopback addresses are refused) and the event
    types to send (empty: every event)."""

    name: str
    url: str
    event_types: list[str] = Field(default_factory=list)


class WebhookEndpointUpdate(Schema):
    """Fields left out keep their value."""

    name: str | None = None
    url: str | None = None
    event_types: list[str] | None = None
    version: int | None = None


class WebhookDeliveryOut(Schema):
    id: int
    endpoint_id: int
    event_id: uuid.UUID = Field(..., description="Also sent as `Rantai-Event-Id`.")
    event_type: str
    status: DeliveryStatus
    attempts: int
    next_attempt_at: dt.datetime
    last_status_code: int | None
    last_error: str
    created_at: dt.datetime
    delivered_at: dt.datetime | None
    log: list[dict[str, Any]] = Field(
        ...,
        description="The last attempts: `{at, status_code, error, duration_ms}` each.",
    )


class WebhookDeliveryDetailOut(WebhookDeliveryOut):
    payload: dict[str, Any] = Field(..., description="The body sent.")


class WebhookDeliveryFilters(Schema):
    status: DeliveryStatus | None = None


def _with_secret(endpoint: WebhookEndpoint, secret: str) -> WebhookEndpoint:
    endpoint.new_secret = secret  # type: ignore[attr-defined]
    return endpoint


# --- endpoints ----------------------------------------------------------------------


@router.get("/webhook-endpoints", response=list[WebhookEndpointOut])
@paginate(Pagination)
def list_webhook_endpoints(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[WebhookEndpointFilters]
) -> QuerySet[WebhookEndpoint]:
    """The organisation's webhook endpoints, by name."""
    found = queries.endpoints(admin_access(request, org_slug).organisation)
    if filters.is_active is not None:
        found = found.filter(is_active=filters.is_active)
    return found


@router.get("/webhook-endpoints/{endpoint_id}", response=WebhookEndpointOut)
def get_webhook_endpoint(
    request: HttpRequest, org_slug: OrgSlug, endpoint_id: int, response: HttpResponse
) -> WebhookEndpoint:
    access = admin_access(request, org_slug)
    return single(response, queries.endpoint(access.organisation, endpoint_id))


@router.post("/webhook-endpoints", response={201: WebhookEndpointWithSecretOut})
@idempotent
def create_webhook_endpoint(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: WebhookEndpointCreate,
    response: HttpResponse,
) -> WebhookEndpoint:
    """Register an endpoint; the answer holds its signing secret, this once."""
    access = admin_access(request, org_slug)
    endpoint, secret = webhooks.create_endpoint(
        access.organisation,
        actor=access.user,
        name=payload.name,
        url=payload.url,
        event_types=payload.event_types,
    )
    return created(request, response, _with_secret(endpoint, secret))


@router.patch(
    "/webhook-endpoints/{endpoint_id}",
    response=WebhookEndpointOut,
    openapi_extra=IF_MATCH,
)
def update_webhook_endpoint(
    request: HttpRequest,
    org_slug: OrgSlug,
    endpoint_id: int,
    payload: WebhookEndpointUpdate,
    response: HttpResponse,
) -> WebhookEndpoint:
    """Rename it, move it to another address or change its events."""
    access = admin_access(request, org_slug)
    endpoint = webhooks.update_endpoint(
        queries.endpoint(access.organisation, endpoint_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
        **payload.model_dump(exclude_unset=True, exclude={"version"}),
    )
    return single(response, endpoint)


@router.post(
    "/webhook-endpoints/{endpoint_id}/deactivate",
    response=WebhookEndpointOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def deactivate_webhook_endpoint(
    request: HttpRequest,
    org_slug: OrgSlug,
    endpoint_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> WebhookEndpoint:
    """Stop sending to it; what it had not received yet fails."""
    access = admin_access(request, org_slug)
    endpoint = webhooks.deactivate_endpoint(
        queries.endpoint(access.organisation, endpoint_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, endpoint)


@router.post(
    "/webhook-endpoints/{endpoint_id}/reactivate",
    response=WebhookEndpointOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def reactivate_webhook_endpoint(
    request: HttpRequest,
    org_slug: OrgSlug,
    endpoint_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> WebhookEndpoint:
    """Send to it again (events from now on)."""
    access = admin_access(request, org_slug)
    endpoint = webhooks.reactivate_endpoint(
        queries.endpoint(access.organisation, endpoint_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, endpoint)


@router.post(
    "/webhook-endpoints/{endpoint_id}/rotate-secret",
    response=WebhookEndpointWithSecretOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def rotate_webhook_secret(
    request: HttpRequest,
    org_slug: OrgSlug,
    endpoint_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> WebhookEndpoint:
    """A new signing secret, answered this once; every attempt from now on,
    retries included, is signed with it."""
    access = admin_access(request, org_slug)
    endpoint, secret = webhooks.rotate_secret(
        queries.endpoint(access.organisation, endpoint_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return single(response, _with_secret(endpoint, secret))


# --- deliveries ---------------------------------------------------------------------


@router.get(
    "/webhook-endpoints/{endpoint_id}/deliveries", response=list[WebhookDeliveryOut]
)
@paginate(Pagination)
def list_webhook_deliveries(
    request: HttpRequest,
    org_slug: OrgSlug,
    endpoint_id: int,
    filters: Query[WebhookDeliveryFilters],
) -> QuerySet[WebhookDelivery]:
    """The endpoint's delivery log, newest first."""
    access = admin_access(request, org_slug)
    return queries.deliveries(
        queries.endpoint(access.organisation, endpoint_id), status=filters.status
    )


@router.get("/webhook-deliveries/{delivery_id}", response=WebhookDeliveryDetailOut)
def get_webhook_delivery(
    request: HttpRequest, org_slug: OrgSlug, delivery_id: int
) -> WebhookDelivery:
    """One delivery with the body sent."""
    access = admin_access(request, org_slug)
    return queries.delivery(access.organisation, delivery_id)
