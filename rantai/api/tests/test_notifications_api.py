"""Notifications through the API: your notifications (all or unread), the unread
count, marking read one or all, your preferences (read and replace, versioned),
and the catalogue of event types. Nobody sees anyone else's."""

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.api.tests.chains_data import api_of
from rantai.api.tests.conftest import problem_of
from rantai.notifications import events
from rantai.notifications import services as notifications
from rantai.notifications.models import Notification, Preference

BASE = "/orgs/acme"
KEY = {"Idempotency-Key": "0f1e2d3c-4b5a-4697-8877-665544332211"}


def _notify(o, user, key, *, event_type=events.TASK_READY, title=None):
    notifications.notify(
        o.organisation,
        recipients=[user],
        event_type=event_type,
        key=key,
        title=title or f"About {key}",
        url=f"/o/acme/{key}/",
    )
    return Notification.objects.get(recipient=user, key=key)


@pytest.fixture
def inbox(acme):
    """Three notifications for the member (the newest urgent), one for the admin."""
    made = [
        _notify(acme, acme.member, "first"),
        _notify(acme, acme.member, "second"),
        _notify(acme, acme.member, "third", event_type=events.APPROVAL_NUDGED),
    ]
    _notify(acme, acme.admin, "admins")
    return made


# --- notifications ----------------------------------------------------------------


def test_my_notifications_newest_first_and_the_unread_ones(acme, inbox):
    api = api_of(acme.member)
    first, second, third = inbox
    notifications.mark_read(first, actor=acme.member)

    everything = api.get(f"{BASE}/notifications")
    unread = api.get(f"{BASE}/notifications", unread="true")
    count = api.get(f"{BASE}/notifications/unread-count")

    assert everything.status_code == 200
    assert [n["id"] for n in everything.json()["items"]] == [
        third.pk,
        second.pk,
        first.pk,
    ]
    newest = everything.json()["items"][0]
    assert {k: newest[k] for k in ("event_type", "title", "url", "urgent")} == {
        "event_type": "approval.nudged",
        "title": "About third",
        "url": "/o/acme/third/",
        "urgent": True,
    }
    assert newest["delivery"] == "immediate"
    assert [n["id"] for n in unread.json()["items"]] == [third.pk, second.pk]
    assert count.json() == {"unread": 2}


def test_mark_one_read_then_all(acme, inbox, audit_trail):
    api = api_of(acme.member)
    first = inbox[0]
    trail = audit_trail(acme.organisation)

    read = api.post(f"{BASE}/notifications/{first.pk}/read", headers=KEY)
    again = api.post(f"{BASE}/notifications/{first.pk}/read")
    everything = api.post(f"{BASE}/notifications/read-all")
    nothing_left = api.post(f"{BASE}/notifications/read-all")

    assert read.status_code == 200, read.content
    assert read.json()["read_at"] is not None
    assert (again.status_code, again.json()["read_at"]) == (200, read.json()["read_at"])
    assert everything.json() == {"marked": 2}
    assert nothing_left.json() == {"marked": 0}
    assert api.get(f"{BASE}/notifications/unread-count").json() == {"unread": 0}
    # the admin's notification stays unread
    assert Notification.objects.get(recipient=acme.admin).read_at is None
    trail.assert_nothing_new()  # personal matters are not audited


def test_nobody_reads_or_marks_anyone_elses_notification(acme, inbox, other_org):
    theirs = Notification.objects.get(recipient=acme.admin)
    api = api_of(acme.member)

    assert api.get(f"{BASE}/notifications/{theirs.pk}").status_code == 404
    assert api.post(f"{BASE}/notifications/{theirs.pk}/read").status_code == 404
    assert api.get(f"{BASE}/notifications/{inbox[0].pk}").status_code == 200
    stranger = api_of(other_org.admin)
    assert stranger.get(f"{BASE}/notifications").status_code == 404
    assert stranger.get("/orgs/globex/notifications").json()["count"] == 0
    assert (
        stranger.post(f"/orgs/globex/notifications/{inbox[0].pk}/read").status_code
        == 404
    )
    theirs.refresh_from_db()
    assert theirs.read_at is None


@pytest.mark.parametrize("role", ["auditor", "partner"])
def test_every_member_has_their_own_inbox(acme, role):
    user = getattr(acme, role)
    made = _notify(acme, user, "yours")

    response = api_of(user).get(f"{BASE}/notifications")

    assert [n["id"] for n in response.json()["items"]] == [made.pk]


# --- preferences ------------------------------------------------------------------


def test_read_and_replace_my_preferences(acme):
    api = api_of(acme.member)

    defaults = api.get(f"{BASE}/notifications/preferences")
    saved = api.request(
        "put",
        f"{BASE}/notifications/preferences",
        {
            "urgent": "immediate",
            "routine": "in_app",
            "per_event": {"task.ready": "immediate"},
            "digest_hour": 6,
            "version": 1,
        },
    )
    changed = api.request(
        "put",
        f"{BASE}/notifications/preferences",
        {"urgent": "digest", "routine": "digest", "digest_hour": 9},
        headers={"If-Match": saved["ETag"]},
    )

    assert defaults.status_code == 200
    assert defaults["ETag"] == '"1"'
    assert defaults.json() == {
        "urgent": "immediate",
        "routine": "digest",
        "per_event": {},
        "digest_hour": 7,
        "version": 1,
    }
    assert saved.status_code == 200, saved.content
    assert {k: saved.json()[k] for k in ("routine", "per_event", "digest_hour")} == {
        "routine": "in_app",
        "per_event": {"task.ready": "immediate"},
        "digest_hour": 6,
    }
    assert changed.status_code == 200, changed.content
    assert changed.json()["per_event"] == {}  # replaced as a whole
    assert changed["ETag"] == f'"{changed.json()["version"]}"'
    preference = Preference.objects.get(user=acme.member)
    assert (preference.urgent, preference.digest_hour) == ("digest", 9)
    # someone else's stays the default
    assert (
        api_of(acme.admin)
        .get(f"{BASE}/notifications/preferences")
        .json()["digest_hour"]
        == 7
    )


def test_a_stale_or_missing_version_changes_no_preference(acme):
    api = api_of(acme.member)
    body = {"urgent": "digest", "routine": "digest", "digest_hour": 9}
    api.request("put", f"{BASE}/notifications/preferences", {**body, "version": 1})
    api.request("put", f"{BASE}/notifications/preferences", {**body, "version": 1})
    before = list(Preference.objects.values_list("version", "digest_hour"))

    stale = api.request(
        "put",
        f"{BASE}/notifications/preferences",
        {**body, "digest_hour": 5, "version": 1},
    )
    missing = api.request(
        "put", f"{BASE}/notifications/preferences", {**body, "digest_hour": 5}
    )

    assert (stale.status_code, missing.status_code) == (409, 428)
    assert list(Preference.objects.values_list("version", "digest_hour")) == before


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        (
            {"per_event": {"weather.changed": "immediate"}},
            {"per_event": ["“weather.changed” is not a known event type."]},
        ),
        ({"digest_hour": 24}, ["digest_hour"]),
        ({"urgent": "pigeon"}, ["urgent"]),
        ({"per_event": {"task.ready": "pigeon"}}, ["per_event.task.ready"]),
    ],
)
def test_invalid_preferences_are_422(acme, changes, errors):
    body = {"urgent": "immediate", "routine": "digest", "digest_hour": 7}

    response = api_of(acme.member).request(
        "put",
        f"{BASE}/notifications/preferences",
        {**body, **changes, "version": 1},
    )

    assert response.status_code == 422
    found = problem_of(response)["errors"]
    assert (found if isinstance(errors, dict) else list(found)) == errors
    assert not Preference.objects.exists()


# --- the catalogue ----------------------------------------------------------------


def test_the_catalogue_of_event_types(acme):
    response = api_of(acme.partner).get(f"{BASE}/event-types")

    assert response.status_code == 200
    catalogue = {e["name"]: e for e in response.json()}
    assert list(catalogue) == list(events.CATALOGUE)
    decided = catalogue["approval.decided"]
    assert (decided["version"], decided["urgent"], decided["label"]) == (
        1,
        False,
        "Someone decided on an approval",
    )
    schema = decided["data_schema"]
    assert schema["required"] == [
        "request",
        "stage",
        "outcome",
        "decided_by",
        "on_behalf_of",
        "return_to_stage",
    ]
    assert schema["additionalProperties"] is False
    assert schema["properties"]["outcome"] == {"enum": ["approve", "reject", "return"]}
    assert schema["properties"]["return_to_stage"] == {
        "anyOf": [{"type": "integer"}, {"type": "null"}]
    }
    assert schema["properties"]["stage"]["properties"]["due_at"] == {
        "anyOf": [{"type": "string", "format": "date-time"}, {"type": "null"}]
    }
    assert decided["example"]["outcome"] == "approve"
    # every example is valid against its own documented shape
    for name, event in catalogue.items():
        events.check_shape(event["example"], events.get(name).shape, name)


# --- query counts -----------------------------------------------------------------


def test_notification_reads_run_a_fixed_number_of_queries(acme, inbox):
    api = api_of(acme.member)
    api.get("/me")  # a token's first use records its last-used time
    paths = [
        f"{BASE}/notifications",
        f"{BASE}/notifications/unread-count",
        f"{BASE}/notifications/preferences",
    ]

    def counts():
        result = []
        for path in paths:
            with CaptureQueriesContext(connection) as captured:
                response = api.get(path, limit=100)
            assert response.status_code == 200, response.content
            result.append(len(captured))
        return result

    small = counts()
    for number in range(5):
        _notify(acme, acme.member, f"more-{number}")
    large = counts()

    assert large == small
    # token, membership, then count and page; the count; the preference
    assert small == [4, 3, 3], small
