"""Webhook endpoints through the API: register one (its secret answered once),
list, read, change, deactivate and reactivate it, rotate its secret, and read its
delivery log — administrators only, with versions and idempotency."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.tests.chains_data import api_of
from rantai.api.tests.conftest import problem_of
from rantai.notifications import events, webhooks
from rantai.notifications.models import (
    DeliveryStatus,
    WebhookDelivery,
    WebhookEndpoint,
)

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "a1b2c3d4-e5f6-4789-8abc-def012345678"}
URL = "https://hooks.example.com/rantai"


@pytest.fixture
def endpoint(acme):
    made, _secret = webhooks.create_endpoint(
        acme.organisation,
        actor=acme.admin,
        name="Chat",
        url=URL,
        event_types=[events.RUN_LATE],
    )
    return made


def _publish(o, event_type=events.RUN_LATE):
    """One event of the type, published to the organisation's endpoints."""
    example = events.get(event_type).example
    payload = events.build(o.organisation, event_type, example)
    webhooks.publish(o.organisation, event_type=event_type, payload=payload)
    return payload


def _state():
    return [
        sorted(
            WebhookEndpoint.objects.values_list("pk", "version", "secret", "is_active")
        ),
        sorted(WebhookDelivery.objects.values_list("pk", "status")),
    ]


# --- endpoints ----------------------------------------------------------------------


def test_register_an_endpoint_and_get_its_secret_once(acme, audit_trail):
    api = api_of(acme.admin)
    trail = audit_trail(acme.organisation)

    made = api.post(
        f"{BASE}/webhook-endpoints",
        {"name": "Chat", "url": URL, "event_types": ["run.late", "approval.decided"]},
        headers=KEY,
    )
    replayed = api.post(
        f"{BASE}/webhook-endpoints",
        {"name": "Chat", "url": URL, "event_types": ["run.late", "approval.decided"]},
        headers=KEY,
    )

    assert made.status_code == 201, made.content
    stored = WebhookEndpoint.objects.get()
    assert made["Location"] == f"/api/v1/orgs/acme/webhook-endpoints/{stored.pk}"
    assert made["ETag"] == '"1"'
    body = made.json()
    assert body["secret"] == stored.secret
    assert len(body["secret"]) >= 32
    # catalogue order
    assert body["event_types"] == ["approval.decided", "run.late"]
    assert (body["is_active"], body["created_by_id"]) == (True, acme.admin.pk)
    assert (replayed.status_code, replayed.content) == (201, made.content)
    assert WebhookEndpoint.objects.count() == 1
    assert [e.verb for e in trail.new_events()] == ["created"]

    read = api.get(f"{BASE}/webhook-endpoints/{stored.pk}")
    listed = api.get(f"{BASE}/webhook-endpoints")
    assert read.status_code == 200
    assert "secret" not in read.json()
    assert [e["id"] for e in listed.json()["items"]] == [stored.pk]
    assert "secret" not in listed.json()["items"][0]


@pytest.mark.parametrize(
    ("body", "errors"),
    [
        (
            {"name": "Chat", "url": "http://hooks.example.com/rantai"},
            {"url": ["Use an https:// address: events must not travel unencrypted."]},
        ),
        (
            {"name": "Chat", "url": "https://127.0.0.1/hook"},
            {
                "url": [
                    "Webhooks cannot be sent to private, loopback or link-local "
                    "addresses."
                ]
            },
        ),
        (
            {"name": " ", "url": URL, "event_types": ["weather.changed"]},
            {
                "name": ["This field is required."],
                "event_types": ["Unknown event types: weather.changed."],
            },
        ),
    ],
)
def test_an_invalid_endpoint_is_422_and_writes_nothing(acme, audit_trail, body, errors):
    trail = audit_trail(acme.organisation)

    response = api_of(acme.admin).post(f"{BASE}/webhook-endpoints", body)

    assert response.status_code == 422
    assert problem_of(response)["errors"] == errors
    assert not WebhookEndpoint.objects.exists()
    trail.assert_nothing_new()


def test_change_an_endpoint_with_its_version(acme, endpoint, audit_trail):
    api = api_of(acme.admin)
    url = f"{BASE}/webhook-endpoints/{endpoint.pk}"
    trail = audit_trail(acme.organisation)

    changed = api.patch(url, {"name": "Team chat", "event_types": [], "version": 1})
    stale = api.patch(url, {"name": "Other", "version": 1})
    missing = api.patch(url, {"name": "Other"})

    assert changed.status_code == 200, changed.content
    assert changed["ETag"] == '"2"'
    assert (changed.json()["name"], changed.json()["event_types"]) == (
        "Team chat",
        [],
    )
    assert (stale.status_code, missing.status_code) == (409, 428)
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.version) == ("Team chat", 2)
    assert [e.verb for e in trail.new_events()] == ["updated"]


def test_rotate_the_secret(acme, endpoint):
    api = api_of(acme.admin)
    old = endpoint.secret

    rotated = api.post(
        f"{BASE}/webhook-endpoints/{endpoint.pk}/rotate-secret",
        headers={"If-Match": '"1"'},
    )
    stale = api.post(
        f"{BASE}/webhook-endpoints/{endpoint.pk}/rotate-secret", {"version": 1}
    )

    assert rotated.status_code == 200, rotated.content
    endpoint.refresh_from_db()
    assert rotated.json()["secret"] == endpoint.secret != old
    assert (rotated["ETag"], rotated.json()["version"]) == ('"2"', 2)
    assert stale.status_code == 409
    endpoint.refresh_from_db()
    assert endpoint.secret == rotated.json()["secret"]


def test_deactivate_and_reactivate_an_endpoint(acme, endpoint):
    api = api_of(acme.admin)
    url = f"{BASE}/webhook-endpoints/{endpoint.pk}"
    _publish(acme)

    deactivated = api.post(f"{url}/deactivate", {"version": 1})
    inactive = api.get(f"{BASE}/webhook-endpoints", is_active="false")
    reactivated = api.post(f"{url}/reactivate", headers={"If-Match": '"2"'})

    assert (deactivated.status_code, deactivated.json()["is_active"]) == (200, False)
    assert [e["id"] for e in inactive.json()["items"]] == [endpoint.pk]
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED
    assert (reactivated.status_code, reactivated.json()["is_active"]) == (200, True)


# --- deliveries ---------------------------------------------------------------------


def test_the_delivery_log_of_an_endpoint(acme, endpoint):
    other, _secret = webhooks.create_endpoint(
        acme.organisation, actor=acme.admin, name="Other", url=URL
    )
    first = _publish(acme)
    second = _publish(acme)
    _publish(acme, events.APPROVAL_DECIDED)  # the other endpoint's only
    WebhookDelivery.objects.filter(event_id=first["id"], endpoint=endpoint).update(
        status=DeliveryStatus.DELIVERED
    )
    api = api_of(acme.admin)

    log = api.get(f"{BASE}/webhook-endpoints/{endpoint.pk}/deliveries")
    delivered = api.get(
        f"{BASE}/webhook-endpoints/{endpoint.pk}/deliveries", status="delivered"
    )
    others = api.get(f"{BASE}/webhook-endpoints/{other.pk}/deliveries")

    assert log.status_code == 200
    assert [d["event_id"] for d in log.json()["items"]] == [second["id"], first["id"]]
    row = log.json()["items"][0]
    assert {k: row[k] for k in ("endpoint_id", "event_type", "status", "attempts")} == {
        "endpoint_id": endpoint.pk,
        "event_type": "run.late",
        "status": "pending",
        "attempts": 0,
    }
    assert "payload" not in row
    assert [d["event_id"] for d in delivered.json()["items"]] == [first["id"]]
    assert others.json()["count"] == 3

    detail = api.get(f"{BASE}/webhook-deliveries/{row['id']}")
    assert detail.status_code == 200
    assert detail.json()["payload"] == second
    assert detail.json()["log"] == []


# --- who may ----------------------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "auditor", "partner"])
def test_only_administrators_manage_webhooks(acme, endpoint, role, audit_trail):
    api = api_of(getattr(acme, role))
    delivery_payload = _publish(acme)
    delivery = WebhookDelivery.objects.get(event_id=delivery_payload["id"])
    url = f"{BASE}/webhook-endpoints/{endpoint.pk}"
    before = _state()
    trail = audit_trail(acme.organisation)

    answers = [
        api.get(f"{BASE}/webhook-endpoints"),
        api.get(url),
        api.get(f"{url}/deliveries"),
        api.get(f"{BASE}/webhook-deliveries/{delivery.pk}"),
        api.post(f"{BASE}/webhook-endpoints", {"name": "X", "url": URL}),
        api.patch(url, {"name": "X", "version": 1}),
        api.post(f"{url}/deactivate", {"version": 1}),
        api.post(f"{url}/rotate-secret", {"version": 1}),
    ]

    assert [a.status_code for a in answers] == [403] * len(answers)
    assert problem_of(answers[0])["detail"] == (
        "Only organisation administrators can do this."
    )
    assert _state() == before
    trail.assert_nothing_new()


def test_endpoints_of_another_organisation_are_404(acme, endpoint, other_org):
    api = api_of(other_org.admin)

    assert api.get(f"/orgs/globex/webhook-endpoints/{endpoint.pk}").status_code == 404
    assert (
        api.get(f"/orgs/globex/webhook-endpoints/{endpoint.pk}/deliveries").status_code
        == 404
    )
    assert (
        api.post(
            f"/orgs/globex/webhook-endpoints/{endpoint.pk}/rotate-secret",
            {"version": 1},
        ).status_code
        == 404
    )
    assert api.get(f"{BASE}/webhook-endpoints").status_code == 404
    assert api.get("/orgs/globex/webhook-endpoints").json()["count"] == 0


# --- query counts -----------------------------------------------------------------


def test_webhook_reads_run_a_fixed_number_of_queries(acme, endpoint):
    api = api_of(acme.admin)
    api.get("/me")  # a token's first use records its last-used time
    paths = [
        f"{BASE}/webhook-endpoints",
        f"{BASE}/webhook-endpoints/{endpoint.pk}/deliveries",
    ]

    def counts():
        result = []
        for path in paths:
            with CaptureQueriesContext(connection) as captured:
                response = api.get(path, limit=100)
            assert response.status_code == 200, response.content
            result.append(len(captured))
        return result

    _publish(acme)
    small = counts()
    for number in range(3):
        webhooks.create_endpoint(
            acme.organisation, actor=acme.admin, name=f"Hook {number}", url=URL
        )
        _publish(acme)
    large = counts()

    assert large == small
    # token, membership, (the endpoint), count and page
    assert small == [4, 5], small
