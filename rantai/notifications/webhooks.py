"""Signed webhooks: endpoints, publishing events to them, and their delivery.

An administrator registers an endpoint (an https address and the event types it
wants, none meaning all) and gets its signing secret once. `publish` writes one
`WebhookDelivery` per subscribed endpoint in the transaction of the change that
caused the event; the worker's `deliver_due` leases due deliveries and POSTs them:

* body: the versioned JSON payload (events.py), UTF-8, keys sorted, no spaces;
* headers: `Content-Type: application/json`, `User-Agent: Rantai-Webhooks/1`,
  `Rantai-Event-Id`, `Rantai-Event-Type`, `Rantai-Timestamp` (unix seconds) and
  `Rantai-Signature: v1=<hex HMAC-SHA256 of "{timestamp}.{body}" under the secret>`;
* a 2xx answer is delivered; anything else (including redirects, which are never
  followed) is retried after 1 min · 2^(attempts−1), at most 12 hours, and after
  10 attempts the delivery has failed. Each attempt is logged on the delivery
  (the last 20 are kept).

Delivery is at least once: a worker that dies after the POST and before recording
it leaves the delivery to be sent again, so receivers drop repeats by
`Rantai-Event-Id`. No request goes to a private or loopback address unless the
deployment allows it (transport.py).
"""

from __future__ import annotations

import datetime as dt
import hashlib
import hmac
import http.client
import json
import logging
import secrets
import time
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.core import leases
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.core.validation import full_clean
from rantai.notifications import events, transport
from rantai.notifications.bulk import insert_ignoring_conflicts
from rantai.notifications.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

logger = logging.getLogger(__name__)

USER_AGENT = "Rantai-Webhooks/1"
SIGNATURE_VERSION = "v1"
TIMEOUT_SECONDS = 10
MAX_ATTEMPTS = 10
BACKOFF_BASE = dt.timedelta(minutes=1)
BACKOFF_CAP = dt.timedelta(hours=12)
LOG_ENTRIES = 20
SIGNATURE_TOLERANCE = 300
# A lease must outlast one attempt (connect, TLS and answer each time out after
# TIMEOUT_SECONDS).
MIN_LEASE_SECONDS = 4 * TIMEOUT_SECONDS

_NAME_LENGTH = WebhookEndpoint._meta.get_field("name").max_length or 200
_URL_LENGTH = WebhookEndpoint._meta.get_field("url").max_length or 500
_ERROR_LENGTH = 500


class _Unchanged:
    """Marks a keyword argument the caller did not give."""


UNCHANGED: Any = _Unchanged()


# --- signatures -------------------------------------------------------------------


def encode(payload: Mapping[str, Any]) -> bytes:
    """The exact bytes sent: JSON, UTF-8, keys sorted, no whitespace."""
    return json.dumps(
        payload, ensure_ascii=False, sort_keys=True, separators=(",", ":")
    ).encode()


def _as_bytes(value: bytes | str) -> bytes:
    return value.encode() if isinstance(value, str) else value


def sign(secret: str, timestamp: int | str, body: bytes | str) -> str:
    """`v1=<hex HMAC-SHA256 of "{timestamp}.{body}">`."""
    message = f"{timestamp}.".encode() + _as_bytes(body)
    digest = hmac.new(secret.encode(), message, hashlib.sha256).hexdigest()
    return f"{SIGNATURE_VERSION}={digest}"


def verify_signature(
    secret: str,
    timestamp: int | str,
    body: bytes | str,
    signature: str,
    *,
    tolerance: int = SIGNATURE_TOLERANCE,
    now: dt.datetime | float | None = None,
) -> bool:
    """Whether a received webhook is genuine and fresh: the `Rantai-Signature`
    header holds a `v1=` signature of `"{Rantai-Timestamp}.{raw body}"` under the
    endpoint's secret, and the timestamp is within `tolerance` seconds of now (a
    replayed old request fails). Compare in constant time; several comma-separated
    signatures are accepted (any one may match)."""
    try:
        sent_at = int(str(timestamp).strip())
    except ValueError:
        return False
    if now is None:
        current = time.time()
    elif isinstance(now, dt.datetime):
        current = now.timestamp()
    else:
        current = float(now)
    if abs(current - sent_at) > tolerance:
        return False
    expected = sign(secret, sent_at, body)
    candidates = [part.strip() for part in (signature or "").split(",")]
    return any(
        hmac.compare_digest(candidate.encode(), expected.encode())
        for candidate in candidates
        if candidate.startswith(f"{SIGNATURE_VERSION}=")
    )


def headers_for(
    *, event_id: str, event_type: str, timestamp: int, signature: str
) -> dict[str, str]:
    return {
        "Content-Type": "application/json",
        "User-Agent": USER_AGENT,
        "Rantai-Event-Id": event_id,
        "Rantai-Event-Type": event_type,
        "Rantai-Timestamp": str(timestamp),
        "Rantai-Signature": signature,
    }


def backoff(attempts: int) -> dt.timedelta:
    """The wait after `attempts` failed attempts: 1, 2, 4, … minutes, at most 12 h."""
    if attempts < 1:
        return dt.timedelta(0)
    return min(BACKOFF_BASE * 2 ** min(attempts - 1, 20), BACKOFF_CAP)


# --- endpoints --------------------------------------------------------------------


def _require_admin(organisation: Organisation, actor: User | None) -> None:
    if actor is None or not actor.is_active:
        raise NotFound()
    membership = Membership.objects.filter(
        organisation=organisation, user=actor, is_active=True
    ).first()
    if membership is None:
        raise NotFound()
    if membership.role != Role.ADMIN:
        raise PermissionDenied(_("Only organisation administrators can do this."))


def _visible_url(url: str) -> str:
    """The URL as the audit trail shows it: scheme, host and port only. The path
    of a chat tool's webhook address is often a secret of its own."""
    try:
        target = transport.parse(url)
    except transport.Refused:
        return "…"
    default = 443 if target.scheme == "https" else 80
    port = "" if target.port == default else f":{target.port}"
    host = f"[{target.host}]" if ":" in target.host else target.host
    return f"{target.scheme}://{host}{port}/…"


def _clean_name(value: Any, errors: dict[str, list[str]]) -> str:
    name = " ".join(str(value or "").split())
    if not name:
        errors.setdefault("name", []).append(_("This field is required."))
    elif len(name) > _NAME_LENGTH:
        errors.setdefault("name", []).append(
            _("Use at most %(count)d characters.") % {"count": _NAME_LENGTH}
        )
    return name


def _clean_url(value: Any, errors: dict[str, list[str]]) -> str:
    """An absolute http(s) URL without credentials; https unless the deployment
    allows private addresses; never a literal private or loopback address (names
    are resolved and checked at every delivery)."""
    url = str(value or "").strip()
    problems = errors.setdefault("url", [])
    if not url:
        problems.append(_("This field is required."))
    elif len(url) > _URL_LENGTH:
        problems.append(_("Use at most %(count)d characters.") % {"count": _URL_LENGTH})
    elif any(ch.isspace() or ord(ch) < 32 for ch in url):
        problems.append(_("An address cannot contain spaces or control characters."))
    else:
        try:
            target = transport.parse(url)
        except transport.Refused:
            problems.append(
                _(
                    "Enter a full web address starting with https://, without a "
                    "user name or password in it."
                )
            )
        else:
            allow_private = transport.private_allowed()
            literal = transport.parse_address(target.host)
            if target.scheme != "https" and not allow_private:
                problems.append(
                    _("Use an https:// address: events must not travel unencrypted.")
                )
            elif not allow_private and (
                (literal is not None and not transport.is_public(literal))
                or target.host.rstrip(".") == "localhost"
                or target.host.rstrip(".").endswith(".localhost")
            ):
                problems.append(
                    _(
                        "Webhooks cannot be sent to private, loopback or link-local "
                        "addresses."
                    )
                )
            elif "#" in url:
                problems.append(_("An address cannot contain a fragment (#…)."))
    if not problems:
        del errors["url"]
    return url


def _clean_event_types(value: Any, errors: dict[str, list[str]]) -> list[str]:
    if value is None:
        return []
    if isinstance(value, str) or not isinstance(value, Iterable):
        errors.setdefault("event_types", []).append(_("Choose event types."))
        return []
    chosen = list(value)
    unknown = [str(name) for name in chosen if not events.is_known(name)]
    if unknown:
        errors.setdefault("event_types", []).append(
            _("Unknown event types: %(types)s.") % {"types": ", ".join(unknown)}
        )
        return []
    # Catalogue order, no repeats.
    return [name for name in events.CATALOGUE if name in set(chosen)]


def new_secret() -> str:
    return secrets.token_urlsafe(32)


@transaction.atomic
def create_endpoint(
    organisation: Organisation,
    *,
    actor: User,
    name: str,
    url: str,
    event_types: Iterable[str] = (),
) -> tuple[WebhookEndpoint, str]:
    """Register an endpoint (administrators); the endpoint and its signing secret,
    which is shown to the administrator this once."""
    _require_admin(organisation, actor)
    errors: dict[str, list[str]] = {}
    endpoint = WebhookEndpoint(
        organisation=organisation,
        name=_clean_name(name, errors),
        url=_clean_url(url, errors),
        event_types=_clean_event_types(event_types, errors),
        created_by=actor,
    )
    if errors:
        raise ValidationFailed(errors)
    secret = new_secret()
    endpoint.secret = secret
    full_clean(endpoint, exclude=["url"])
    endpoint.save()
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=endpoint,
        changes={
            "name": endpoint.name,
            "url": _visible_url(endpoint.url),
            "event_types": endpoint.event_types,
            "is_active": True,
        },
    )
    return endpoint, secret


def _locked_endpoint(endpoint: WebhookEndpoint) -> WebhookEndpoint:
    """The stored row (under a lock), so a diff compares with what is stored."""
    return WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)


def _store(
    endpoint: WebhookEndpoint,
    stored: WebhookEndpoint | None,
    *,
    expected_version: int | None,
    fields: dict[str, Any],
) -> None:
    """Compare-and-set the fields; with nothing to change nothing is written, but
    a stale version is still a conflict."""
    if not fields and stored is not None:
        if expected_version is not None and stored.version != expected_version:
            raise Conflict()
        return
    compare_and_set(endpoint, expected_version=expected_version, fields=fields)


@transaction.atomic
def update_endpoint(
    endpoint: WebhookEndpoint,
    *,
    actor: User,
    expected_version: int | None,
    name: Any = UNCHANGED,
    url: Any = UNCHANGED,
    event_types: Any = UNCHANGED,
) -> WebhookEndpoint:
    """Rename an endpoint, move it to another address or change its events."""
    organisation = endpoint.organisation
    _require_admin(organisation, actor)
    errors: dict[str, list[str]] = {}
    wanted: dict[str, Any] = {}
    if name is not UNCHANGED:
        wanted["name"] = _clean_name(name, errors)
    if url is not UNCHANGED:
        wanted["url"] = _clean_url(url, errors)
    if event_types is not UNCHANGED:
        wanted["event_types"] = _clean_event_types(event_types, errors)
    if errors:
        raise ValidationFailed(errors)
    stored = _locked_endpoint(endpoint)
    changed = {k: v for k, v in wanted.items() if getattr(stored, k) != v}
    _store(endpoint, stored, expected_version=expected_version, fields=changed)
    if changed:
        audit.record(
            organisation,
            actor=actor,
            verb=AuditVerb.UPDATED,
            target=endpoint,
            changes={
                key: (
                    [_visible_url(stored.url), _visible_url(value)]
                    if key == "url"
                    else [getattr(stored, key), value]
                )
                for key, value in changed.items()
            },
        )
    return endpoint


def _set_active(
    endpoint: WebhookEndpoint,
    *,
    actor: User,
    expected_version: int | None,
    active: bool,
    now: dt.datetime | None,
) -> WebhookEndpoint:
    organisation = endpoint.organisation
    _require_admin(organisation, actor)
    stored = _locked_endpoint(endpoint)
    if stored.is_active == active:
        _store(endpoint, stored, expected_version=expected_version, fields={})
        return endpoint
    _store(
        endpoint,
        stored,
        expected_version=expected_version,
        fields={"is_active": active},
    )
    if not active:
        # What it had not received yet will not be sent: say so on each delivery.
        WebhookDelivery.objects.filter(
            endpoint=endpoint, status=DeliveryStatus.PENDING
        ).update(
            status=DeliveryStatus.FAILED,
            last_error="The endpoint was deactivated.",
            next_attempt_at=now or timezone.now(),
            lease_owner="",
            lease_until=None,
        )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.REACTIVATED if active else AuditVerb.DEACTIVATED,
        target=endpoint,
        changes={"is_active": [not active, active]},
    )
    return endpoint


@transaction.atomic
def deactivate_endpoint(
    endpoint: WebhookEndpoint,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> WebhookEndpoint:
    """Stop sending to an endpoint; its pending deliveries fail."""
    return _set_active(
        endpoint, actor=actor, expected_version=expected_version, active=False, now=now
    )


@transaction.atomic
def reactivate_endpoint(
    endpoint: WebhookEndpoint,
    *,
    actor: User,
    expected_version: int | None,
) -> WebhookEndpoint:
    """Send to a deactivated endpoint again (events from now on)."""
    return _set_active(
        endpoint, actor=actor, expected_version=expected_version, active=True, now=None
    )


@transaction.atomic
def rotate_secret(
    endpoint: WebhookEndpoint, *, actor: User, expected_version: int | None
) -> tuple[WebhookEndpoint, str]:
    """Replace the signing secret (shown this once). Every attempt from now on,
    retries included, is signed with the new one."""
    _require_admin(endpoint.organisation, actor)
    secret = new_secret()
    _store(endpoint, None, expected_version=expected_version, fields={"secret": secret})
    audit.record(
        endpoint.organisation,
        actor=actor,
        verb=AuditVerb.UPDATED,
        target=endpoint,
        changes={"secret": "rotated"},
    )
    return endpoint, secret


# --- publishing -------------------------------------------------------------------


def subscribes(endpoint: WebhookEndpoint, event_type: str) -> bool:
    return not endpoint.event_types or event_type in endpoint.event_types


def active_endpoints(organisation: Organisation) -> list[WebhookEndpoint]:
    """The organisation's active endpoints (what `publish` needs of them), for a
    caller that publishes several events in one change and reads them once."""
    return list(
        WebhookEndpoint.objects.filter(organisation=organisation, is_active=True).only(
            "id", "event_types"
        )
    )


def _checked(
    organisation: Organisation,
    event_type: str,
    payload: Mapping[str, Any],
    event_id: uuid.UUID | str | None,
) -> uuid.UUID:
    events.validate_payload(payload)
    if payload["type"] != event_type:
        raise ValueError(f"the payload is a {payload['type']}, not a {event_type}")
    if payload["organisation"] != organisation.slug:
        raise ValueError("the payload belongs to another organisation")
    payload_id = uuid.UUID(str(payload["id"]))
    if event_id is not None and uuid.UUID(str(event_id)) != payload_id:
        raise ValueError("event_id differs from the payload's id")
    return payload_id


def publish(
    organisation: Organisation,
    *,
    event_type: str,
    payload: Mapping[str, Any] | Callable[[], Mapping[str, Any]],
    event_id: uuid.UUID | str | None = None,
    endpoints: Sequence[WebhookEndpoint] | None = None,
) -> int:
    """Queue the event for every active endpoint of the organisation that
    subscribes to its type, in the caller's transaction; how many deliveries were
    written. Idempotent per (endpoint, event id): publishing the same event again
    writes nothing. `payload` is made by `events.build` — or is a function that
    makes it, called only when some endpoint takes the event (no endpoint: no
    payload built, nothing written, no savepoint). `endpoints`: the
    organisation's `active_endpoints`, when the caller already read them."""
    if not callable(payload):
        payload_id = _checked(organisation, event_type, payload, event_id)
    if endpoints is None:
        endpoints = active_endpoints(organisation)
    targets = [endpoint for endpoint in endpoints if subscribes(endpoint, event_type)]
    if not targets:
        return 0
    if callable(payload):
        payload = payload()
        payload_id = _checked(organisation, event_type, payload, event_id)
    now = timezone.now()
    with transaction.atomic():
        written = insert_ignoring_conflicts(
            WebhookDelivery,
            [
                {
                    "organisation_id": organisation.pk,
                    "endpoint_id": endpoint.pk,
                    "event_id": payload_id,
                    "event_type": event_type,
                    "payload": dict(payload),
                    "created_at": now,
                    "next_attempt_at": now,
                }
                for endpoint in targets
            ],
            unique=["endpoint_id", "event_id"],
            returning=["id"],
        )
    return len(written)


# --- delivery ---------------------------------------------------------------------


def deliver_due(
    *,
    owner: str,
    now: dt.datetime | None = None,
    limit: int = 50,
    lease_seconds: int = 60,
) -> int:
    """The worker's drain: lease up to `limit` due deliveries to `owner` and
    attempt each once; how many were delivered. `now` fixes the clock (tests)."""
    if lease_seconds < MIN_LEASE_SECONDS:
        raise ValueError(f"a delivery lease lasts at least {MIN_LEASE_SECONDS} s")
    moment = now or timezone.now()
    ids = leases.claim(
        WebhookDelivery,
        owner=owner,
        now=moment,
        limit=limit,
        lease_seconds=lease_seconds,
        due=Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=moment),
    )
    delivered = 0
    for pk in ids:
        if attempt(pk, owner=owner, now=now, lease_seconds=lease_seconds):
            delivered += 1
    return delivered


def attempt(
    delivery_id: int,
    *,
    owner: str,
    now: dt.datetime | None = None,
    lease_seconds: int = 60,
) -> bool:
    """One attempt of a delivery leased to `owner`; whether it was delivered.

    The lease is renewed first, and only while `owner` still holds it: a lease that
    ran out while this worker was busy with earlier deliveries may belong to
    another worker now, and then this one leaves it alone. The POST runs outside
    any transaction; its outcome is recorded under the row's lock.
    """
    moment = now or timezone.now()
    renewed = WebhookDelivery.objects.filter(
        pk=delivery_id,
        status=DeliveryStatus.PENDING,
        lease_owner=owner,
        lease_until__gte=moment,
    ).update(lease_until=moment + dt.timedelta(seconds=lease_seconds))
    if not renewed:
        return False
    delivery = WebhookDelivery.objects.select_related("endpoint").get(pk=delivery_id)
    endpoint = delivery.endpoint
    status_code: int | None = None
    started = time.monotonic()
    if not endpoint.is_active:
        error = "The endpoint was deactivated."
        return _record(
            delivery_id,
            owner=owner,
            moment=moment,
            status_code=None,
            error=error,
            duration_ms=0,
            final=True,
        )
    body = encode(delivery.payload)
    timestamp = int(moment.timestamp())
    headers = headers_for(
        event_id=str(delivery.event_id),
        event_type=delivery.event_type,
        timestamp=timestamp,
        signature=sign(endpoint.secret, timestamp, body),
    )
    try:
        status_code = transport.post(
            endpoint.url,
            body,
            headers,
            timeout=TIMEOUT_SECONDS,
            allow_private=transport.private_allowed(),
        )
        error = "" if 200 <= status_code < 300 else f"HTTP {status_code}"
    except transport.Refused as refused:
        error = f"refused: {refused}"
    except transport.LookupTimeout as slow:
        error = str(slow)
    except TimeoutError:
        error = f"timed out after {TIMEOUT_SECONDS} s"
    except ConnectionRefusedError:
        error = "connection refused"
    except (OSError, http.client.HTTPException) as failure:
        error = f"{type(failure).__name__}: {failure}"
    duration_ms = int((time.monotonic() - started) * 1000)
    return _record(
        delivery_id,
        owner=owner,
        moment=moment,
        status_code=status_code,
        error=error,
        duration_ms=duration_ms,
        final=False,
    )


def _record(
    delivery_id: int,
    *,
    owner: str,
    moment: dt.datetime,
    status_code: int | None,
    error: str,
    duration_ms: int,
    final: bool,
) -> bool:
    """Append the attempt to the log and set the next state; whether delivered."""
    error = error[:_ERROR_LENGTH]
    with transaction.atomic():
        delivery = (
            WebhookDelivery.objects.select_for_update()
            .filter(pk=delivery_id, status=DeliveryStatus.PENDING, lease_owner=owner)
            .first()
        )
        if delivery is None:  # the lease was taken over meanwhile: theirs now
            logger.warning(
                "webhook delivery %s: lease lost before recording (%s)",
                delivery_id,
                error or status_code,
            )
            return False
        delivery.attempts += 1
        entry = {
            "at": moment.astimezone(dt.UTC).isoformat(),
            "status_code": status_code,
            "error": error,
            "duration_ms": duration_ms,
        }
        delivery.log = [*(delivery.log or []), entry][-LOG_ENTRIES:]
        delivery.last_status_code = status_code
        delivery.last_error = error
        delivery.lease_owner = ""
        delivery.lease_until = None
        ok = not error
        if ok:
            delivery.status = DeliveryStatus.DELIVERED
            delivery.delivered_at = moment
        elif final or delivery.attempts >= MAX_ATTEMPTS:
            delivery.status = DeliveryStatus.FAILED
        else:
            delivery.next_attempt_at = moment + backoff(delivery.attempts)
        delivery.save(
            update_fields=[
                "attempts",
                "log",
                "last_status_code",
                "last_error",
                "lease_owner",
                "lease_until",
                "status",
                "delivered_at",
                "next_attempt_at",
            ]
        )
    if ok:
        logger.info("webhook delivery %s delivered (%s)", delivery_id, status_code)
    else:
        logger.warning(
            "webhook delivery %s attempt %s failed: %s",
            delivery_id,
            delivery.attempts,
            error,
        )
    return ok
