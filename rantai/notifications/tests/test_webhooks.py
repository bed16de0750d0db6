from __future__ import annotations

import datetime as dt
import json
import re
import ssl
import threading
import time
import uuid
from pathlib import Path

import pytest
from django.db.models import Q
from django.utils import timezone

from rantai.audit.models import AuditEvent
from rantai.core import leases
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.notifications import events, transport, webhooks
from rantai.notifications.models import DeliveryStatus, WebhookDelivery
from rantai.testing import make_user

SECRET = "s3cret-for-tests"
DOCS = Path(__file__).resolve().parents[3] / "docs" / "user-guide"


def _payload(acme, event_type="run.late", event_id=None):
    return events.build(
        acme.organisation,
        event_type,
        events.CATALOGUE[event_type].example,
        event_id=event_id,
    )


def _endpoint(acme, url, *, name="Chat relay", **kwargs):
    endpoint, secret = webhooks.create_endpoint(
        acme.organisation, actor=acme.admin, name=name, url=url, **kwargs
    )
    return endpoint, secret


def _due(owner="w1", now=None):
    """Run the worker's drain once, now."""
    return webhooks.deliver_due(owner=owner, now=now or timezone.now())


# --- signatures -------------------------------------------------------------------


def test_a_signature_verifies_and_any_change_breaks_it():
    body = b'{"id":"1","type":"run.late"}'
    signature = webhooks.sign(SECRET, 1_772_400_000, body)

    assert signature.startswith("v1=") and len(signature) == 3 + 64
    assert webhooks.verify_signature(
        SECRET, "1772400000", body, signature, now=1_772_400_010
    )
    assert webhooks.verify_signature(
        SECRET, 1_772_400_000, body.decode(), f"v1=00,{signature}", now=1_772_400_000
    )
    assert not webhooks.verify_signature(
        SECRET, 1_772_400_000, body + b" ", signature, now=1_772_400_000
    )
    assert not webhooks.verify_signature(
        "another secret", 1_772_400_000, body, signature, now=1_772_400_000
    )
    assert not webhooks.verify_signature(
        SECRET, 1_772_400_001, body, signature, now=1_772_400_000
    )
    assert not webhooks.verify_signature(
        SECRET, 1_772_400_000, body, "v0=" + signature[3:], now=1_772_400_000
    )
    assert not webhooks.verify_signature(
        SECRET, "soon", body, signature, now=1_772_400_000
    )


def test_an_old_or_future_timestamp_is_refused_as_a_replay():
    body = b"{}"
    signature = webhooks.sign(SECRET, 1_772_400_000, body)
    sent = dt.datetime.fromtimestamp(1_772_400_000, tz=dt.UTC)

    for offset, accepted in ((300, True), (301, False), (-300, True), (-301, False)):
        assert (
            webhooks.verify_signature(
                SECRET,
                1_772_400_000,
                body,
                signature,
                now=sent + dt.timedelta(seconds=offset),
            )
            is accepted
        )
    assert webhooks.verify_signature(
        SECRET,
        1_772_400_000,
        body,
        signature,
        now=sent + dt.timedelta(hours=1),
        tolerance=3600,
    )


def test_the_signature_is_hmac_sha256_over_timestamp_dot_body():
    import hashlib
    import hmac

    expected = hmac.new(b"k", b"12.{}", hashlib.sha256).hexdigest()
    assert webhooks.sign("k", 12, "{}") == f"v1={expected}"


def test_backoff_doubles_from_a_minute_up_to_twelve_hours():
    minutes = [webhooks.backoff(n).total_seconds() / 60 for n in range(1, 13)]
    assert minutes[:4] == [1, 2, 4, 8]
    assert minutes[9] == 512
    assert minutes[10] == minutes[11] == 720


# --- endpoints --------------------------------------------------------------------


def test_an_administrator_registers_an_endpoint_and_sees_its_secret_once(acme):
    endpoint, secret = _endpoint(
        acme,
        "https://hooks.example.com/services/T0/B0/very-secret-token",
        event_types=["run.late", "approval.requested", "run.late"],
    )

    assert len(secret) >= 40
    assert endpoint.secret == secret
    assert endpoint.event_types == ["approval.requested", "run.late"]
    assert endpoint.created_by == acme.admin
    event = AuditEvent.objects.filter(target_type="notifications.webhookendpoint").get()
    assert event.changes["url"] == "https://hooks.example.com/…"
    assert secret not in json.dumps(event.changes)
    assert "very-secret-token" not in json.dumps(event.changes)


def test_only_administrators_manage_endpoints(acme, other_org):
    with pytest.raises(PermissionDenied):
        _endpoint_as(acme, acme.member)
    with pytest.raises(NotFound):
        _endpoint_as(acme, other_org.admin)
    with pytest.raises(NotFound):
        _endpoint_as(acme, make_user("stranger"))


def _endpoint_as(acme, user):
    return webhooks.create_endpoint(
        acme.organisation, actor=user, name="x", url="https://hooks.example.com/"
    )


@pytest.mark.parametrize(
    "url",
    [
        "https://127.0.0.1/hook",
        "https://10.1.2.3/hook",
        "https://[::1]/hook",
        "https://169.254.169.254/latest/meta-data",
        "https://[::ffff:192.168.0.1]/",
        "https://0.0.0.0/",
        "https://localhost/hook",
        "https://api.localhost/hook",
        "http://hooks.example.com/hook",
        "ftp://hooks.example.com/hook",
        "https://user:password@hooks.example.com/hook",
        "https:///hook",
        "hooks.example.com/hook",
        "https://hooks.example.com/a b",
        "https://hooks.example.com/#frag",
        "",
    ],
)
def test_endpoint_addresses_must_be_public_https_without_credentials(acme, url):
    with pytest.raises(ValidationFailed) as refused:
        _endpoint(acme, url)

    assert set(refused.value.errors) == {"url"}


def test_names_and_event_types_are_checked(acme):
    with pytest.raises(ValidationFailed) as refused:
        _endpoint(acme, "https://hooks.example.com/", name="  ", event_types=["x.y"])
    assert set(refused.value.errors) == {"name", "event_types"}

    with pytest.raises(ValidationFailed):
        webhooks.create_endpoint(
            acme.organisation,
            actor=acme.admin,
            name="x",
            url="https://hooks.example.com/",
            event_types="run.late",
        )


def test_private_addresses_and_plain_http_are_allowed_when_the_deployment_says_so(
    acme, allow_private
):
    endpoint, _secret = _endpoint(acme, "http://127.0.0.1:9/hook")
    assert endpoint.url == "http://127.0.0.1:9/hook"


def test_updating_an_endpoint_compares_and_sets_and_audits(acme):
    endpoint, _secret = _endpoint(acme, "https://hooks.example.com/one")

    webhooks.update_endpoint(
        endpoint,
        actor=acme.admin,
        expected_version=1,
        url="https://chat.example.org/two",
        event_types=["task.ready"],
    )

    assert endpoint.version == 2
    assert endpoint.event_types == ["task.ready"]
    event = AuditEvent.objects.filter(verb="updated").get()
    assert event.changes["url"] == [
        "https://hooks.example.com/…",
        "https://chat.example.org/…",
    ]
    with pytest.raises(Conflict):
        webhooks.update_endpoint(
            endpoint, actor=acme.admin, expected_version=1, name="Renamed"
        )
    with pytest.raises(ValidationFailed):
        webhooks.update_endpoint(
            endpoint, actor=acme.admin, expected_version=2, url="https://10.0.0.1/"
        )
    with pytest.raises(PermissionDenied):
        webhooks.update_endpoint(
            endpoint, actor=acme.member, expected_version=2, name="Mine"
        )


def test_rotating_the_secret_signs_the_next_attempts_with_the_new_one(
    acme, allow_private, receiver
):
    endpoint, old = _endpoint(acme, receiver.url())
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))

    endpoint, new = webhooks.rotate_secret(
        endpoint, actor=acme.admin, expected_version=1
    )
    assert _due() == 1

    request = receiver.requests[0]
    args = (request.headers["Rantai-Timestamp"], request.body)
    assert webhooks.verify_signature(new, *args, request.headers["Rantai-Signature"])
    assert not webhooks.verify_signature(
        old, *args, request.headers["Rantai-Signature"]
    )
    assert AuditEvent.objects.filter(verb="updated").get().changes == {
        "secret": "rotated"
    }


def test_deactivating_an_endpoint_stops_its_deliveries(acme, allow_private, receiver):
    endpoint, _secret = _endpoint(acme, receiver.url())
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))

    webhooks.deactivate_endpoint(endpoint, actor=acme.admin, expected_version=1)
    assert (
        webhooks.publish(
            acme.organisation, event_type="run.late", payload=_payload(acme)
        )
        == 0
    )

    assert _due() == 0
    assert receiver.requests == []
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_error == "The endpoint was deactivated."
    assert AuditEvent.objects.filter(verb="deactivated").count() == 1
    webhooks.deactivate_endpoint(endpoint, actor=acme.admin, expected_version=2)
    assert AuditEvent.objects.filter(verb="deactivated").count() == 1

    webhooks.reactivate_endpoint(endpoint, actor=acme.admin, expected_version=2)
    assert (
        webhooks.publish(
            acme.organisation, event_type="run.late", payload=_payload(acme)
        )
        == 1
    )


# --- publishing -------------------------------------------------------------------


def test_publish_writes_one_delivery_per_subscribed_active_endpoint_once(
    acme, other_org
):
    everything, _ = _endpoint(acme, "https://all.example.com/")
    late_only, _ = _endpoint(
        acme, "https://late.example.com/", event_types=["run.late"]
    )
    _endpoint(acme, "https://tasks.example.com/", event_types=["task.ready"])
    webhooks.create_endpoint(
        other_org.organisation,
        actor=other_org.admin,
        name="theirs",
        url="https://theirs.example.com/",
    )
    event_id = uuid.uuid4()
    payload = _payload(acme, event_id=event_id)

    assert (
        webhooks.publish(acme.organisation, event_type="run.late", payload=payload) == 2
    )
    assert (
        webhooks.publish(
            acme.organisation, event_type="run.late", payload=payload, event_id=event_id
        )
        == 0
    )

    deliveries = WebhookDelivery.objects.order_by("endpoint_id")
    assert [d.endpoint_id for d in deliveries] == [everything.pk, late_only.pk]
    assert {d.event_id for d in deliveries} == {event_id}
    assert all(d.payload == payload for d in deliveries)
    assert all(
        d.status == DeliveryStatus.PENDING and d.attempts == 0 for d in deliveries
    )


def test_publish_refuses_payloads_that_do_not_match(acme, other_org):
    payload = _payload(acme)
    with pytest.raises(ValueError):
        webhooks.publish(acme.organisation, event_type="task.ready", payload=payload)
    with pytest.raises(ValueError):
        webhooks.publish(other_org.organisation, event_type="run.late", payload=payload)
    with pytest.raises(ValueError):
        webhooks.publish(
            acme.organisation,
            event_type="run.late",
            payload=payload,
            event_id=uuid.uuid4(),
        )
    with pytest.raises(ValueError):
        webhooks.publish(
            acme.organisation,
            event_type="run.late",
            payload={**payload, "data": {"run": 1}},
        )


def test_a_payload_made_on_demand_is_made_only_when_some_endpoint_takes_it(
    acme,
    django_assert_num_queries,  # type: ignore[no-untyped-def]
):
    made: list[str] = []

    def payload(event_type: str = "run.late"):  # type: ignore[no-untyped-def]
        made.append(event_type)
        return _payload(acme, event_type, event_id=event_id)

    event_id = uuid.uuid4()
    # No active endpoint: one query, nothing made, nothing written.
    with django_assert_num_queries(1):
        assert (
            webhooks.publish(
                acme.organisation,
                event_type="run.late",
                payload=payload,
                event_id=event_id,
            )
            == 0
        )
    assert made == []

    _endpoint(acme, "https://late.example.com/", event_types=["run.late"])
    # An endpoint, but not for this type: still nothing made.
    assert (
        webhooks.publish(
            acme.organisation,
            event_type="task.ready",
            payload=lambda: payload("task.ready"),
        )
        == 0
    )
    assert made == []

    assert (
        webhooks.publish(
            acme.organisation, event_type="run.late", payload=payload, event_id=event_id
        )
        == 1
    )
    assert made == ["run.late"]
    assert [d.event_id for d in WebhookDelivery.objects.all()] == [event_id]


def test_endpoints_read_once_are_not_read_again(
    acme,
    django_assert_num_queries,  # type: ignore[no-untyped-def]
):
    with django_assert_num_queries(1):
        none = webhooks.active_endpoints(acme.organisation)
    assert none == []
    with django_assert_num_queries(0):
        assert (
            webhooks.publish(
                acme.organisation,
                event_type="run.late",
                payload=lambda: _payload(acme),
                endpoints=none,
            )
            == 0
        )

    endpoint, _secret = _endpoint(acme, "https://all.example.com/")
    webhooks.create_endpoint(
        acme.organisation,
        actor=acme.admin,
        name="off",
        url="https://off.example.com/",
    )
    off = webhooks.active_endpoints(acme.organisation)[-1]
    webhooks.deactivate_endpoint(off, actor=acme.admin, expected_version=1)
    found = webhooks.active_endpoints(acme.organisation)
    assert [e.pk for e in found] == [endpoint.pk]
    assert (
        webhooks.publish(
            acme.organisation,
            event_type="run.late",
            payload=_payload(acme),
            endpoints=found,
        )
        == 1
    )


def test_a_payload_made_on_demand_is_checked_like_any_other(acme):
    _endpoint(acme, "https://all.example.com/")
    with pytest.raises(ValueError):
        webhooks.publish(
            acme.organisation,
            event_type="task.ready",
            payload=lambda: _payload(acme),
        )
    with pytest.raises(ValueError):
        webhooks.publish(
            acme.organisation,
            event_type="run.late",
            payload=lambda: _payload(acme),
            event_id=uuid.uuid4(),
        )
    assert not WebhookDelivery.objects.exists()


# --- the address guard ------------------------------------------------------------


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.20.30.40",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",
        "100.64.0.1",
        "0.0.0.0",  # noqa: S104 - an address to refuse, not to bind
        "224.0.0.1",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:10.0.0.1",
        "2002:7f00:1::",
        "::",
    ],
)
def test_a_name_resolving_to_a_non_public_address_is_refused(resolve_to, address):
    resolve_to({"hooks.example.com": ["93.184.216.34", address]})

    with pytest.raises(transport.Refused, match="not a public address"):
        transport.resolve("hooks.example.com", 443, allow_private=False)
    assert transport.resolve("hooks.example.com", 443, allow_private=True) == [
        "93.184.216.34",
        address,
    ]


def test_public_addresses_pass(resolve_to):
    resolve_to({"hooks.example.com": ["93.184.216.34", "2606:2800:220:1::1"]})

    assert transport.resolve("hooks.example.com", 443, allow_private=False) == [
        "93.184.216.34",
        "2606:2800:220:1::1",
    ]


def test_a_delivery_to_a_private_address_is_refused_without_connecting(
    acme, resolve_to, monkeypatch
):
    resolve_to({"hooks.example.com": ["10.0.0.7"]})

    def no_connection(*args, **kwargs):
        raise AssertionError("must not connect")

    monkeypatch.setattr(transport.socket, "create_connection", no_connection)
    _endpoint(acme, "https://hooks.example.com/hook")
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))

    assert _due() == 0

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts == 1
    assert "10.0.0.7" in delivery.last_error
    assert "not a public address" in delivery.log[0]["error"]


@pytest.mark.parametrize("address", ["127.0.0.1", "::1"])
def test_literal_loopback_urls_are_refused_at_delivery_too(
    acme, allow_private, receiver, settings, address
):
    """An endpoint saved while the setting was on does not reach loopback once it
    is off again."""
    host = f"[{address}]" if ":" in address else address
    _endpoint(acme, f"http://{host}:{receiver.port}/hook")
    settings.RANTAI_WEBHOOKS_ALLOW_PRIVATE = False
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))

    assert _due() == 0
    assert receiver.requests == []
    assert "not a public address" in WebhookDelivery.objects.get().last_error


# --- delivery ---------------------------------------------------------------------


def test_a_delivery_reaches_a_real_server_signed_with_every_header(
    acme, allow_private, receiver
):
    _, secret = _endpoint(acme, receiver.url("/hook?team=ops"))
    payload = _payload(acme)
    webhooks.publish(acme.organisation, event_type="run.late", payload=payload)
    now = timezone.now()

    assert webhooks.deliver_due(owner="w1", now=now) == 1

    (request,) = receiver.requests
    assert request.path == "/hook?team=ops"
    assert request.json() == payload
    assert request.body == webhooks.encode(payload)
    headers = request.headers
    assert headers["Content-Type"] == "application/json"
    assert headers["User-Agent"] == "Rantai-Webhooks/1"
    assert headers["Rantai-Event-Id"] == payload["id"]
    assert headers["Rantai-Event-Type"] == "run.late"
    assert headers["Rantai-Timestamp"] == str(int(now.timestamp()))
    assert headers["Host"] == f"127.0.0.1:{receiver.port}"
    assert webhooks.verify_signature(
        secret,
        headers["Rantai-Timestamp"],
        request.body,
        headers["Rantai-Signature"],
        now=now,
    )
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert delivery.delivered_at == now
    assert (delivery.attempts, delivery.last_status_code, delivery.last_error) == (
        1,
        204,
        "",
    )
    assert (delivery.lease_owner, delivery.lease_until) == ("", None)
    (entry,) = delivery.log
    assert entry["status_code"] == 204 and entry["error"] == ""
    assert entry["at"] == now.astimezone(dt.UTC).isoformat()
    assert entry["duration_ms"] >= 0
    assert _due() == 0  # delivered once
    assert len(receiver.requests) == 1


def test_the_connection_goes_to_the_checked_address_with_the_host_name(
    acme, allow_private, receiver, resolve_to
):
    looked_up = resolve_to({"hooks.example.test": ["127.0.0.1"]})
    _endpoint(acme, f"http://hooks.example.test:{receiver.port}/hook")
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))

    assert _due() == 1

    assert looked_up.count("hooks.example.test") == 1  # resolved once, then pinned
    assert receiver.requests[0].headers["Host"] == f"hooks.example.test:{receiver.port}"


def test_https_is_pinned_to_the_checked_address_and_verifies_the_host_name(
    tls_receiver, resolve_to, trusting_test_ca
):
    resolve_to(
        {"hooks.example.test": ["127.0.0.1"], "other.example.test": ["127.0.0.1"]}
    )
    port = tls_receiver.port

    status = transport.post(
        f"https://hooks.example.test:{port}/hook",
        b"{}",
        {"Content-Type": "application/json"},
        timeout=5,
        allow_private=True,
        context=trusting_test_ca,
    )

    assert status == 204
    assert tls_receiver.server_names == ["hooks.example.test"]
    assert tls_receiver.requests[0].headers["Host"] == f"hooks.example.test:{port}"
    with pytest.raises(ssl.SSLCertVerificationError):
        transport.post(
            f"https://other.example.test:{port}/hook",
            b"{}",
            {},
            timeout=5,
            allow_private=True,
            context=trusting_test_ca,
        )
    with pytest.raises(ssl.SSLCertVerificationError):  # the platform does not trust it
        transport.post(
            f"https://hooks.example.test:{port}/hook",
            b"{}",
            {},
            timeout=5,
            allow_private=True,
        )
    assert len(tls_receiver.requests) == 1


def test_a_server_error_is_retried_with_backoff(acme, allow_private, receiver):
    receiver.statuses.extend([500, 302])
    _endpoint(acme, receiver.url())
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))
    start = timezone.now()

    assert webhooks.deliver_due(owner="w1", now=start) == 0
    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.attempts == 1
    assert delivery.next_attempt_at == start + dt.timedelta(minutes=1)
    assert (delivery.last_status_code, delivery.last_error) == (500, "HTTP 500")

    early = start + dt.timedelta(seconds=59)
    assert webhooks.deliver_due(owner="w1", now=early) == 0
    assert len(receiver.requests) == 1  # not due yet

    second = start + dt.timedelta(minutes=1)
    assert webhooks.deliver_due(owner="w1", now=second) == 0  # a redirect: not followed
    delivery.refresh_from_db()
    assert delivery.next_attempt_at == second + dt.timedelta(minutes=2)
    assert delivery.last_status_code == 302
    assert len(receiver.requests) == 2

    third = second + dt.timedelta(minutes=2)
    assert webhooks.deliver_due(owner="w1", now=third) == 1
    delivery.refresh_from_db()
    assert delivery.status == DeliveryStatus.DELIVERED
    assert [entry["status_code"] for entry in delivery.log] == [500, 302, 204]
    assert len({r.headers["Rantai-Event-Id"] for r in receiver.requests}) == 1


def test_a_refused_connection_is_retried_and_fails_after_ten_attempts(
    acme, allow_private, closed_port
):
    _endpoint(acme, f"http://127.0.0.1:{closed_port}/hook")
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))
    moment = timezone.now()

    for attempt in range(1, 11):
        assert webhooks.deliver_due(owner="w1", now=moment) == 0
        delivery = WebhookDelivery.objects.get()
        assert delivery.attempts == attempt
        if attempt < 10:
            assert delivery.status == DeliveryStatus.PENDING
            assert delivery.next_attempt_at == moment + webhooks.backoff(attempt)
            moment = delivery.next_attempt_at

    assert delivery.status == DeliveryStatus.FAILED
    assert delivery.last_status_code is None
    assert delivery.last_error == "connection refused"
    assert len(delivery.log) == 10
    assert all(entry["error"] == "connection refused" for entry in delivery.log)
    assert webhooks.deliver_due(owner="w1", now=moment + dt.timedelta(days=2)) == 0
    assert WebhookDelivery.objects.get().attempts == 10


def test_the_log_keeps_the_last_twenty_attempts(
    acme, allow_private, closed_port, monkeypatch
):
    monkeypatch.setattr(webhooks, "MAX_ATTEMPTS", 30)
    _endpoint(acme, f"http://127.0.0.1:{closed_port}/hook")
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))
    moment = timezone.now()
    times = []

    for _ in range(23):
        times.append(moment)
        webhooks.deliver_due(owner="w1", now=moment)
        moment = WebhookDelivery.objects.get().next_attempt_at

    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 23
    assert [entry["at"] for entry in delivery.log] == [
        t.astimezone(dt.UTC).isoformat() for t in times[3:]
    ]


def test_a_leased_delivery_is_left_to_its_owner_until_the_lease_ends(
    acme, allow_private, receiver
):
    _endpoint(acme, receiver.url())
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))
    now = timezone.now()
    (claimed,) = leases.claim(
        WebhookDelivery,
        owner="w1",
        now=now,
        limit=10,
        lease_seconds=60,
        due=Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now),
    )

    assert webhooks.deliver_due(owner="w2", now=now + dt.timedelta(seconds=59)) == 0
    assert receiver.requests == []
    assert WebhookDelivery.objects.get().lease_owner == "w1"

    # w1 stalled past its lease; w2 takes the delivery over and sends it
    assert webhooks.deliver_due(owner="w2", now=now + dt.timedelta(seconds=61)) == 1
    # w1 wakes up: the delivery is not its to send any more
    assert not webhooks.attempt(claimed, owner="w1", now=now + dt.timedelta(seconds=62))
    assert len(receiver.requests) == 1
    delivery = WebhookDelivery.objects.get()
    assert delivery.attempts == 1
    assert delivery.status == DeliveryStatus.DELIVERED


def test_a_worker_whose_lease_expired_meanwhile_does_not_send(
    acme, allow_private, receiver
):
    _endpoint(acme, receiver.url())
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))
    now = timezone.now()
    (claimed,) = leases.claim(
        WebhookDelivery,
        owner="w1",
        now=now,
        limit=10,
        lease_seconds=60,
        due=Q(status=DeliveryStatus.PENDING, next_attempt_at__lte=now),
    )

    assert not webhooks.attempt(claimed, owner="w1", now=now + dt.timedelta(seconds=61))
    assert receiver.requests == []
    assert WebhookDelivery.objects.get().attempts == 0


def test_a_short_lease_is_refused():
    with pytest.raises(ValueError, match="lease"):
        webhooks.deliver_due(owner="w1", lease_seconds=5)


# --- the guide's own example ------------------------------------------------------


@pytest.mark.parametrize("page", ["webhooks.md", "webhook.id.md"])
def test_the_guides_python_check_accepts_rantais_signatures_and_nothing_else(
    acme, page
):
    text = (DOCS / page).read_text(encoding="utf-8")
    check, receiver_code = re.findall(r"```python\n(.*?)```", text, flags=re.S)
    compile(receiver_code, page, "exec")  # the receiver sketch is valid Python
    namespace: dict = {}
    exec(compile(check, page, "exec"), namespace)  # noqa: S102 - our own documentation
    verify = namespace["verify"]
    body = webhooks.encode(_payload(acme))
    now = str(int(time.time()))
    stale = str(int(time.time()) - 400)

    assert verify(SECRET, now, webhooks.sign(SECRET, now, body), body)
    assert not verify(SECRET, now, webhooks.sign(SECRET, now, body), body + b" ")
    assert not verify(SECRET, now, webhooks.sign("other", now, body), body)
    assert not verify(SECRET, stale, webhooks.sign(SECRET, stale, body), body)
    assert not verify(SECRET, "", webhooks.sign(SECRET, now, body), body)


def test_a_slow_name_lookup_gives_up_after_the_timeout(monkeypatch):
    release = threading.Event()

    def hanging_getaddrinfo(*args, **kwargs):
        release.wait(10)
        raise OSError("too late")

    monkeypatch.setattr(transport.socket, "getaddrinfo", hanging_getaddrinfo)
    try:
        with pytest.raises(
            transport.LookupTimeout, match=re.escape("hooks.example.com")
        ):
            transport.resolve(
                "hooks.example.com", 443, allow_private=False, timeout=0.1
            )
    finally:
        release.set()


def test_a_slow_lookup_is_logged_and_retried(acme, monkeypatch):
    def slow(*args, **kwargs):
        raise transport.LookupTimeout("looking up hooks.example.com took longer")

    monkeypatch.setattr(transport, "resolve", slow)
    _endpoint(acme, "https://hooks.example.com/hook")
    webhooks.publish(acme.organisation, event_type="run.late", payload=_payload(acme))

    assert _due() == 0

    delivery = WebhookDelivery.objects.get()
    assert delivery.status == DeliveryStatus.PENDING
    assert delivery.last_error == "looking up hooks.example.com took longer"
