"""The notification pages: one's own notifications (unread first, read marks with
and without htmx, the bell's count), the notification settings, and the
administrators' webhook endpoints with the secret shown once, the delivery log and
the event catalogue. Every refused change writes nothing."""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rantai.accounts.models import Role
from rantai.audit.models import AuditEvent
from rantai.notifications import events, services, transport, webhooks
from rantai.notifications.models import (
    DeliveryStatus,
    Notification,
    Preference,
    WebhookDelivery,
    WebhookEndpoint,
)
from rantai.org import membership
from rantai.testing import SmallOrg, make_user

CONFLICT = "This record was changed by someone else in the meantime."
AT = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
HTTPS = "https://hooks.example.com/rantai"


def url(name: str, small: SmallOrg, *args: object) -> str:
    return reverse(name, args=[small.organisation.slug, *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def assert_csp_clean(response) -> None:  # type: ignore[no-untyped-def]
    html = text(response)
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert re.search(r"\son[a-z]+=", html) is None


def field_errors(html: str, name: str) -> str:
    """The markup of one field (its errors are inside), which must be marked as
    having an error."""
    start = html.find(f'<div data-field="{name}" class="field')
    assert start >= 0, f"no field {name}"
    ends = [
        index
        for index in (
            html.find("<div data-field=", start + 1),
            html.find("</form>", start),
        )
        if index >= 0
    ]
    markup = html[start : min(ends)]
    assert "has-error" in markup.split(">", 1)[0], f"no error on the field {name}"
    return markup


def notify(small: SmallOrg, user, key: str, **kwargs) -> None:  # type: ignore[no-untyped-def]
    values = {
        "event_type": "approval.requested",
        "title": f"Notice {key}",
        "url": "/o/acme/runs/",
    }
    services.notify(
        small.organisation, recipients=[user], key=key, **{**values, **kwargs}
    )


def endpoint_rows() -> list[tuple]:
    return list(WebhookEndpoint.objects.order_by("pk").values_list())


def snapshot() -> dict[str, list]:
    return {
        "endpoints": endpoint_rows(),
        "deliveries": list(WebhookDelivery.objects.order_by("pk").values_list()),
        "preferences": list(Preference.objects.order_by("pk").values_list()),
        "notifications": list(Notification.objects.order_by("pk").values_list()),
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
    }


def run_late_payload(small: SmallOrg) -> dict:
    return events.build(
        small.organisation,
        events.RUN_LATE,
        {
            "run": {
                "id": 1,
                "title": "Export order",
                "procedure": "SHIP",
                "due_at": AT,
                "url": "/o/acme/runs/1/",
            },
            "projected_finish_at": AT + dt.timedelta(days=1),
        },
    )


@pytest.fixture
def endpoint(acme: SmallOrg) -> WebhookEndpoint:
    created, _secret = webhooks.create_endpoint(
        acme.organisation,
        actor=acme.admin,
        name="Operations chat",
        url=HTTPS,
        event_types=[events.RUN_LATE],
    )
    return created


# --- notifications -------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "auditor", "partner"])
def test_everyone_reads_their_own_notifications_unread_first(client, acme, role):
    user = getattr(acme, role)
    notify(acme, user, "old", now=AT)
    notify(acme, user, "new", now=AT + dt.timedelta(hours=1))
    notify(acme, acme.admin if role != "admin" else acme.member, "someone-else")
    services.mark_read(Notification.objects.get(recipient=user, key="new"), actor=user)
    client.force_login(user)

    response = client.get(url("notifications", acme))

    assert response.status_code == 200
    html = text(response)
    assert html.index("Notice old") < html.index("Notice new")  # unread first
    assert "Notice someone-else" not in html
    assert "1 unread" in html
    assert_csp_clean(response)


def test_another_organisation_sees_no_notifications(client, acme, other_org):
    client.force_login(other_org.admin)
    assert client.get(url("notifications", acme)).status_code == 404
    assert client.get(url("notification-preferences", acme)).status_code == 404


def test_marking_one_read_without_and_with_htmx(client, acme):
    notify(acme, acme.member, "one")
    notify(acme, acme.member, "two")
    one, two = Notification.objects.filter(recipient=acme.member).order_by("key")
    client.force_login(acme.member)

    plain = client.post(
        url("notification-read", acme, one.pk), {"next": url("notifications", acme)}
    )
    assert plain.status_code == 302
    assert plain["Location"] == url("notifications", acme)
    one.refresh_from_db()
    assert one.read_at is not None

    htmx = client.post(
        url("notification-read", acme, two.pk),
        {"page": "1"},
        headers={"HX-Request": "true", "HX-Target": "notification-list"},
    )
    fragment = text(htmx)
    assert fragment.lstrip().startswith('<div id="notification-list">')
    assert "0 unread" in fragment
    assert "Mark read" not in fragment
    assert htmx["HX-Trigger"] == "notificationsRead"  # the bell counts again
    two.refresh_from_db()
    assert two.read_at is not None


def test_nobody_marks_someone_elses_notification(client, acme):
    notify(acme, acme.admin, "admins")
    notice = Notification.objects.get(recipient=acme.admin)
    client.force_login(acme.member)
    before = snapshot()
    assert client.post(url("notification-read", acme, notice.pk)).status_code == 404
    assert client.get(url("notification-open", acme, notice.pk)).status_code == 404
    assert snapshot() == before


def test_marking_all_read_answers_htmx_with_the_list(client, acme):
    for key in ("a", "b", "c"):
        notify(acme, acme.member, key)
    notify(acme, acme.admin, "admins")
    client.force_login(acme.member)

    response = client.post(
        url("notification-read-all", acme),
        headers={"HX-Request": "true", "HX-Target": "notification-list"},
    )

    html = text(response)
    assert html.lstrip().startswith('<div id="notification-list">')
    assert "0 unread" in html
    assert not Notification.objects.filter(
        recipient=acme.member, read_at__isnull=True
    ).exists()
    assert Notification.objects.get(recipient=acme.admin).read_at is None


def test_opening_a_notification_marks_it_read_and_follows_its_link(client, acme):
    notify(acme, acme.member, "inside", url="/o/acme/procedures/")
    notify(acme, acme.member, "outside", url="//evil.example.com/x")
    inside = Notification.objects.get(key="inside")
    outside = Notification.objects.get(key="outside")
    client.force_login(acme.member)

    followed = client.get(url("notification-open", acme, inside.pk))
    assert followed["Location"] == "/o/acme/procedures/"
    refused = client.get(url("notification-open", acme, outside.pk))
    assert refused["Location"] == url("notifications", acme)
    assert not Notification.objects.filter(read_at__isnull=True).exists()


def test_the_bell_counts_unread_notifications(client, acme):
    client.force_login(acme.member)
    assert "badge" not in text(client.get(url("notification-count", acme)))
    notify(acme, acme.member, "a")
    notify(acme, acme.member, "b")

    response = client.get(url("notification-count", acme))

    assert '<span class="badge">2</span>' in text(response)
    assert "no-cache" in response["Cache-Control"]


def test_the_list_runs_a_fixed_number_of_queries(
    client, acme, django_assert_num_queries
):
    notify(acme, acme.member, "first")
    client.force_login(acme.member)
    with CaptureQueriesContext(connection) as first:
        assert client.get(url("notifications", acme)).status_code == 200
    for index in range(30):
        notify(acme, acme.member, f"more-{index}")
    with django_assert_num_queries(len(first.captured_queries)):
        response = client.get(url("notifications", acme))
    assert "31 notifications" in text(response)
    # session, user, membership, count, page, unread count
    assert len(first.captured_queries) == 6


# --- preferences ---------------------------------------------------------------------


def test_the_settings_show_the_defaults_and_every_event_type(client, acme):
    client.force_login(acme.member)
    response = client.get(url("notification-preferences", acme))
    html = text(response)
    assert response.status_code == 200
    assert "You have not changed the defaults yet" in html
    for event in events.CATALOGUE.values():
        assert str(event.label) in html
    assert_csp_clean(response)


def test_saving_settings_with_a_per_event_choice(client, acme):
    client.force_login(acme.member)
    response = client.post(
        url("notification-preferences", acme),
        {
            "urgent": "in_app",
            "routine": "digest",
            "digest_hour": "18",
            "event__approval__decided": "immediate",
            "event__run__late": "",
            "version": "1",
        },
    )
    assert response.status_code == 302
    preference = Preference.objects.get(
        organisation=acme.organisation, user=acme.member
    )
    assert (preference.urgent, preference.routine, preference.digest_hour) == (
        "in_app",
        "digest",
        18,
    )
    assert preference.per_event == {"approval.decided": "immediate"}
    page = text(client.get(url("notification-preferences", acme)))
    assert re.search(
        r'name="event__approval__decided"[^>]*>.*?<option value="immediate" selected>',
        page,
        re.S,
    )

    # saved again from a page read now; then a page read before that is stale
    again = {"urgent": "digest", "routine": "digest", "digest_hour": "7"}
    assert (
        client.post(
            url("notification-preferences", acme), {**again, "version": "2"}
        ).status_code
        == 302
    )
    before = snapshot()
    stale = client.post(
        url("notification-preferences", acme), {**again, "version": "2"}
    )
    assert stale.status_code == 409
    assert CONFLICT in text(stale)
    assert snapshot() == before


def test_bad_settings_are_refused_next_to_the_field_in_indonesian(client, acme):
    siti = make_user("siti", language="id")
    membership.add_member(
        acme.organisation, actor=acme.admin, user=siti, role=Role.MEMBER
    )
    client.force_login(siti)
    before = snapshot()

    response = client.post(
        url("notification-preferences", acme),
        {"urgent": "pigeon", "routine": "digest", "digest_hour": "24", "version": "1"},
    )

    html = text(response)
    assert response.status_code == 200
    assert '<html lang="id">' in html
    assert "Tidak ada yang disimpan." in html
    assert "Masukkan pilihan yang valid" in field_errors(html, "urgent")
    assert "Masukkan pilihan yang valid" in field_errors(html, "digest_hour")
    assert snapshot() == before


# --- webhook endpoints ---------------------------------------------------------------


@pytest.mark.parametrize("role", ["member", "auditor", "partner"])
def test_only_administrators_see_webhooks(client, acme, endpoint, role):
    client.force_login(getattr(acme, role))
    before = snapshot()
    for page in (
        url("webhooks", acme),
        url("webhook-create", acme),
        url("webhook-events", acme),
        url("webhook-detail", acme, endpoint.pk),
        url("webhook-edit", acme, endpoint.pk),
        url("webhook-rotate", acme, endpoint.pk),
        url("webhook-deactivate", acme, endpoint.pk),
    ):
        assert client.get(page).status_code == 403, page
    refused = client.post(url("webhook-create", acme), {"name": "Mine", "url": HTTPS})
    assert refused.status_code == 403
    assert snapshot() == before


def test_another_organisation_does_not_see_an_endpoint(
    client, acme, other_org, endpoint
):
    client.force_login(other_org.admin)
    assert client.get(url("webhook-detail", other_org, endpoint.pk)).status_code == 404
    assert client.get(url("webhooks", acme)).status_code == 404


def test_every_webhook_page_renders_for_an_administrator(client, acme, endpoint):
    webhooks.publish(
        acme.organisation, event_type=events.RUN_LATE, payload=run_late_payload(acme)
    )
    delivery = WebhookDelivery.objects.get()
    client.force_login(acme.admin)
    for page, expected in (
        (url("webhooks", acme), ["Operations chat", "run.late"]),
        (url("webhook-detail", acme, endpoint.pk), ["Operations chat", "1 delivery"]),
        (url("webhook-create", acme), ["New webhook endpoint"]),
        (url("webhook-edit", acme, endpoint.pk), ["Operations chat"]),
        (url("webhook-rotate", acme, endpoint.pk), ["Rotate"]),
        (url("webhook-deactivate", acme, endpoint.pk), ["Deactivate"]),
        (url("webhook-delivery", acme, delivery.pk), ["run.late", "Export order"]),
        (url("webhook-events", acme), list(events.CATALOGUE)),
    ):
        response = client.get(page)
        assert response.status_code == 200, page
        for snippet in expected:
            assert snippet in text(response), (page, snippet)
        assert_csp_clean(response)


def test_creating_an_endpoint_shows_its_secret_once(client, acme):
    client.force_login(acme.admin)

    response = client.post(
        url("webhook-create", acme),
        {
            "name": "Data warehouse",
            "url": HTTPS,
            "event_types": [events.RUN_LATE, events.TASK_READY],
        },
    )

    endpoint = WebhookEndpoint.objects.get(organisation=acme.organisation)
    assert response.status_code == 302
    assert response["Location"] == url("webhook-detail", acme, endpoint.pk)
    assert endpoint.event_types == [events.TASK_READY, events.RUN_LATE]
    shown = client.get(response["Location"])
    assert f'value="{endpoint.secret}"' in text(shown)
    assert "shown only this once" in text(shown)
    assert "no-store" in shown["Cache-Control"]
    again = client.get(response["Location"])
    assert endpoint.secret not in text(again)


def test_a_bad_address_is_refused_on_the_address_field(client, acme):
    client.force_login(acme.admin)
    before = snapshot()

    response = client.post(
        url("webhook-create", acme),
        {"name": "Plain", "url": "http://hooks.example.com/rantai"},
    )

    assert response.status_code == 200
    assert "Use an https:// address" in field_errors(text(response), "url")
    assert snapshot() == before


def test_editing_an_endpoint_and_a_stale_edit_conflicts(client, acme, endpoint):
    client.force_login(acme.admin)
    form = {
        "name": "Ops chat",
        "url": HTTPS,
        "event_types": [events.APPROVAL_ESCALATED],
        "version": endpoint.version,
    }
    assert client.post(url("webhook-edit", acme, endpoint.pk), form).status_code == 302
    endpoint.refresh_from_db()
    assert (endpoint.name, endpoint.event_types) == (
        "Ops chat",
        [events.APPROVAL_ESCALATED],
    )
    before = snapshot()
    stale = client.post(url("webhook-edit", acme, endpoint.pk), {**form, "name": "X"})
    assert stale.status_code == 409
    assert CONFLICT in text(stale)
    assert snapshot() == before


def test_rotating_the_secret_shows_the_new_one_once(client, acme, endpoint):
    old = endpoint.secret
    client.force_login(acme.admin)

    response = client.post(
        url("webhook-rotate", acme, endpoint.pk), {"version": endpoint.version}
    )

    endpoint.refresh_from_db()
    assert response.status_code == 302
    assert endpoint.secret != old
    assert f'value="{endpoint.secret}"' in text(client.get(response["Location"]))
    assert endpoint.secret not in text(client.get(response["Location"]))
    stale = client.post(
        url("webhook-rotate", acme, endpoint.pk), {"version": endpoint.version - 1}
    )
    assert stale.status_code == 409


def test_deactivating_an_endpoint_fails_what_it_had_not_received(
    client, acme, endpoint
):
    webhooks.publish(
        acme.organisation, event_type=events.RUN_LATE, payload=run_late_payload(acme)
    )
    client.force_login(acme.admin)
    response = client.post(
        url("webhook-deactivate", acme, endpoint.pk), {"version": endpoint.version}
    )
    assert response.status_code == 302
    endpoint.refresh_from_db()
    assert not endpoint.is_active
    assert WebhookDelivery.objects.get().status == DeliveryStatus.FAILED
    page = text(client.get(url("webhook-detail", acme, endpoint.pk)))
    assert "The endpoint was deactivated." in page
    assert (
        client.post(
            url("webhook-reactivate", acme, endpoint.pk), {"version": endpoint.version}
        ).status_code
        == 302
    )
    endpoint.refresh_from_db()
    assert endpoint.is_active


def test_the_delivery_log_shows_each_attempt(client, acme, endpoint, monkeypatch):
    monkeypatch.setattr(transport, "post", lambda *args, **kwargs: 503)
    webhooks.publish(
        acme.organisation, event_type=events.RUN_LATE, payload=run_late_payload(acme)
    )
    webhooks.deliver_due(owner="test-worker", now=AT + dt.timedelta(days=400))
    delivery = WebhookDelivery.objects.get()
    client.force_login(acme.admin)

    log = text(client.get(url("webhook-detail", acme, endpoint.pk)))
    assert "HTTP 503" in log
    assert re.search(r'<td class="numeric">1</td>', log)
    assert "pending" in log

    failed_only = client.get(
        url("webhook-detail", acme, endpoint.pk) + "?status=failed",
        headers={"HX-Request": "true", "HX-Target": "delivery-log"},
    )
    assert text(failed_only).lstrip().startswith('<div id="delivery-log">')
    assert "0 deliveries" in text(failed_only)

    detail = text(client.get(url("webhook-delivery", acme, delivery.pk)))
    assert "HTTP 503" in detail
    assert str(delivery.event_id) in detail
    assert "&quot;projected_finish_at&quot;" in detail


def test_the_endpoint_list_runs_a_fixed_number_of_queries(
    client, acme, endpoint, django_assert_num_queries
):
    client.force_login(acme.admin)
    with CaptureQueriesContext(connection) as first:
        assert client.get(url("webhooks", acme)).status_code == 200
    for index in range(4):
        webhooks.create_endpoint(
            acme.organisation, actor=acme.admin, name=f"Extra {index}", url=HTTPS
        )
    with django_assert_num_queries(len(first.captured_queries)):
        response = client.get(url("webhooks", acme))
    assert text(response).count('<td class="small">every event</td>') == 4
    # session, user, membership, endpoints with their counts
    assert len(first.captured_queries) == 4
