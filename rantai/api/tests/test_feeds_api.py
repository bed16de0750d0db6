"""The caller's calendar feed through the API (/orgs/{slug}/me/calendar-feed):
read whether it exists and when it was last read, make a new address (answered
once; the old one stops at once), stop it. An Idempotency-Key replays the answer
without the address, which is never kept anywhere."""

from __future__ import annotations

import re

from django.test import Client

from rantai.api.models import IdempotencyRecord
from rantai.api.tests.conftest import api_for, audit_head, problem_of
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.insight import feeds
from rantai.insight.models import CalendarFeed

PATH = "/orgs/acme/me/calendar-feed"
KEY = {"Idempotency-Key": "6c1f7a0e-3b0a-4f7e-9a55-0e5d2b8c4a11"}
ADDRESS = re.compile(
    r"http://127\.0\.0\.1:8000/feeds/calendar/([A-Za-z0-9_-]{43})\.ics"
)


def secret_of(address: str) -> str:
    match = ADDRESS.fullmatch(address)
    assert match is not None, address
    return match.group(1)


def read_feed(secret: str) -> int:
    return Client().get(f"/feeds/calendar/{secret}.ics").status_code


def test_no_feed_yet(acme, api_as):
    response = api_as("member").get(PATH)

    assert response.status_code == 200
    assert response.json() == {
        "active": False,
        "created_at": None,
        "last_used_at": None,
    }


def test_make_an_address_and_read_the_feed(acme, api_as):
    api = api_as("member")
    head = audit_head(acme.organisation)

    response = api.post(PATH)

    assert response.status_code == 201
    body = response.json()
    secret = secret_of(body["address"])
    assert body["webcal_address"] == (
        f"webcal://127.0.0.1:8000/feeds/calendar/{secret}.ics"
    )
    feed = CalendarFeed.objects.get()
    assert (feed.user, feed.token_digest) == (acme.member, feeds.digest_of(secret))
    assert body["active"] is True and body["last_used_at"] is None
    assert body["created_at"].startswith(feed.created_at.isoformat()[:19])
    assert audit_head(acme.organisation) == head + 1
    assert AuditEvent.objects.order_by("-pk").first().verb == AuditVerb.CREATED  # type: ignore[union-attr]

    assert read_feed(secret) == 200
    state = api.get(PATH).json()
    assert state["active"] is True and state["last_used_at"] is not None
    assert "address" not in state and secret not in str(state)


def test_a_new_address_stops_the_old_one(acme, api_as):
    api = api_as("member")
    old = secret_of(api.post(PATH).json()["address"])

    new = secret_of(api.post(PATH).json()["address"])

    assert new != old
    assert read_feed(old) == 404
    assert read_feed(new) == 200
    assert CalendarFeed.objects.filter(revoked_at__isnull=True).count() == 1


def test_a_retry_with_the_same_key_replays_without_the_address(acme, api_as):
    api = api_as("member")
    first = api.post(PATH, headers=KEY)
    secret = secret_of(first.json()["address"])
    head = audit_head(acme.organisation)

    second = api.post(PATH, headers=KEY)

    assert second.status_code == 201
    assert second["Idempotent-Replayed"] == "true"
    assert second["Content-Type"] == first["Content-Type"]
    assert second.json() == {**first.json(), "address": None, "webcal_address": None}
    assert CalendarFeed.objects.count() == 1
    assert audit_head(acme.organisation) == head
    assert read_feed(secret) == 200  # the first address still works
    record = IdempotencyRecord.objects.get()
    assert secret not in record.response_body
    assert secret not in str(record.response_headers)


def test_stop_the_feed(acme, api_as):
    api = api_as("member")
    secret = secret_of(api.post(PATH).json()["address"])
    head = audit_head(acme.organisation)

    response = api.request("delete", PATH)

    assert response.status_code == 204
    assert read_feed(secret) == 404
    assert audit_head(acme.organisation) == head + 1
    assert api.get(PATH).json()["active"] is False

    again = api.request("delete", PATH)
    assert again.status_code == 404
    assert problem_of(again)["detail"] == (
        "You have no calendar feed in this organisation."
    )
    assert audit_head(acme.organisation) == head + 1


def test_every_role_has_its_own_feed_and_outsiders_none(acme, other_org, api_as):
    for role in ("admin", "auditor", "partner"):
        assert api_as(role).post(PATH).status_code == 201
    assert CalendarFeed.objects.filter(revoked_at__isnull=True).count() == 3

    outsider = api_for(other_org.member)
    head = audit_head(acme.organisation)
    assert outsider.get(PATH).status_code == 404
    assert outsider.post(PATH).status_code == 404
    assert outsider.request("delete", PATH).status_code == 404
    assert CalendarFeed.objects.count() == 3
    assert audit_head(acme.organisation) == head


def test_anonymous_callers_are_refused(acme):
    response = Client().post("/api/v1" + PATH)
    assert response.status_code == 401
    assert not CalendarFeed.objects.exists()
