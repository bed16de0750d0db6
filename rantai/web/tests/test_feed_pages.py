"""The calendar feed page (/o/<org>/settings/calendar-feed/) and the feed itself
(/feeds/calendar/<secret>.ics): a person makes an address and sees it once, makes
a new one (the old one stops at once) or stops the feed, only by POST with CSRF;
a calendar program reads the feed without a session, with the right headers, and
every address that opens nothing answers the same empty 404."""

from __future__ import annotations

import datetime as dt
import re

import icalendar
from django.test import Client
from django.urls import reverse
from django.utils import translation

from rantai.accounts.models import Membership, User
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import services as chains
from rantai.chains.tests.helpers import StepSpec, build_version
from rantai.insight import feeds
from rantai.insight.models import CalendarFeed
from rantai.obstacles import obstacles
from rantai.org import membership
from rantai.testing import SmallOrg
from rantai.web.tests.test_approval_pages import assert_csp_clean, text

PAGE = "/o/acme/settings/calendar-feed/"
CREATE = "/o/acme/settings/calendar-feed/new/"
STOP = "/o/acme/settings/calendar-feed/stop/"
ADDRESS = re.compile(r'id="feed-address" class="code" value="([^"]+)"')


def address_in(html: str) -> str:
    found = ADDRESS.search(html)
    assert found is not None, "no address on the page"
    return found.group(1)


def secret_of(address: str) -> str:
    match = re.fullmatch(
        r"http://127\.0\.0\.1:8000/feeds/calendar/(.{43})\.ics", address
    )
    assert match is not None, address
    return match.group(1)


def feed_url(secret: str) -> str:
    return f"/feeds/calendar/{secret}.ics"


def assert_empty_404(response) -> None:  # type: ignore[no-untyped-def]
    assert response.status_code == 404
    assert response.content == b""
    assert response["Cache-Control"] == "no-store"


# --- the page -----------------------------------------------------------------------


def test_the_urls():
    assert reverse("calendar-feed-settings", args=["acme"]) == PAGE
    assert reverse("calendar-feed-create", args=["acme"]) == CREATE
    assert reverse("calendar-feed-revoke", args=["acme"]) == STOP
    assert reverse("calendar-feed", args=["abc"]) == "/feeds/calendar/abc.ics"


def test_the_page_explains_the_feed_and_offers_to_create_one(client, acme):
    client.force_login(acme.member)

    response = client.get(PAGE)

    assert response.status_code == 200
    assert_csp_clean(response)
    assert "no-store" in response["Cache-Control"]
    html = text(response)
    assert "<h1>Calendar feed</h1>" in html
    assert "What it contains" in html
    assert "approval requests waiting for your decision" in html
    assert "Right now: 0 deadlines." in html
    assert "You have no calendar feed in this organisation." in html
    assert f'<form method="post" action="{CREATE}" class="inline">' in html
    assert 'name="csrfmiddlewaretoken"' in html
    assert STOP not in html
    assert 'id="feed-address"' not in html


def test_creating_shows_the_address_once(client, acme, audit_trail):
    trail = audit_trail(acme.organisation)
    client.force_login(acme.member)

    response = client.post(CREATE)

    assert response.status_code == 200
    assert "no-store" in response["Cache-Control"]
    html = text(response)
    address = address_in(html)
    secret = secret_of(address)
    assert f'href="webcal://127.0.0.1:8000/feeds/calendar/{secret}.ics"' in html
    assert "Copy it now: it is shown only this once." in html
    assert "Your previous address no longer works" not in html
    feed = CalendarFeed.objects.get()
    assert (feed.user, feed.organisation, feed.revoked_at) == (
        acme.member,
        acme.organisation,
        None,
    )
    assert feed.token_digest == feeds.digest_of(secret)
    assert trail.only_new_event().verb == AuditVerb.CREATED

    # the page again: the feed, never the address
    html = text(client.get(PAGE))
    assert secret not in html and 'id="feed-address"' not in html
    assert "Last read by a calendar" in html
    assert "never" in html
    assert f'action="{CREATE}"' in html and ">New address<" in html
    assert f'action="{STOP}"' in html and ">Stop the feed<" in html

    # a calendar reads it: the page says when
    assert Client().get(feed_url(secret)).status_code == 200
    feed.refresh_from_db()
    assert feed.last_used_at is not None
    assert "never" not in text(client.get(PAGE)).split("Last read by a calendar")[1]


def test_a_new_address_stops_the_old_one_at_once(client, acme):
    client.force_login(acme.member)
    old = secret_of(address_in(text(client.post(CREATE))))

    response = client.post(CREATE)

    html = text(response)
    new = secret_of(address_in(html))
    assert new != old
    assert "Your previous address no longer works" in html
    assert_empty_404(Client().get(feed_url(old)))
    assert Client().get(feed_url(new)).status_code == 200
    assert CalendarFeed.objects.filter(revoked_at__isnull=True).count() == 1


def test_stopping_the_feed(client, acme, audit_trail):
    client.force_login(acme.member)
    secret = secret_of(address_in(text(client.post(CREATE))))
    trail = audit_trail(acme.organisation)

    response = client.post(STOP, follow=True)

    assert response.redirect_chain == [(PAGE, 302)]
    html = text(response)
    assert "Your calendar feed is stopped." in html
    assert "You have no calendar feed in this organisation." in html
    assert_empty_404(Client().get(feed_url(secret)))
    assert trail.only_new_event().verb == AuditVerb.DEACTIVATED

    trail = audit_trail(acme.organisation)
    html = text(client.post(STOP, follow=True))
    assert "You had no calendar feed to stop." in html
    trail.assert_nothing_new()


def test_changes_are_post_only_with_csrf(acme):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(acme.member)
    events = AuditEvent.objects.count()

    assert browser.get(CREATE).status_code == 405
    assert browser.get(STOP).status_code == 405
    assert browser.post(CREATE).status_code == 403  # no CSRF token
    assert browser.post(STOP).status_code == 403

    assert not CalendarFeed.objects.exists()
    assert AuditEvent.objects.count() == events

    # with the page's token it works
    html = text(browser.get(PAGE))
    token = re.search(r'name="csrfmiddlewaretoken" value="([^"]+)"', html)
    assert token is not None
    response = browser.post(CREATE, {"csrfmiddlewaretoken": token.group(1)})
    assert response.status_code == 200
    assert CalendarFeed.objects.count() == 1


def test_only_members_reach_the_page(client, acme, other_org):
    client.force_login(other_org.member)
    assert client.get(PAGE).status_code == 404
    assert client.post(CREATE).status_code == 404
    assert not CalendarFeed.objects.exists()

    anonymous = Client()
    response = anonymous.get(PAGE)
    assert response.status_code == 302 and "/login/" in response["Location"]
    assert anonymous.post(CREATE).status_code == 302
    assert not CalendarFeed.objects.exists()


def test_every_role_has_a_feed_of_its_own(acme: SmallOrg):
    for user in (acme.admin, acme.auditor, acme.partner):
        browser = Client()
        browser.force_login(user)
        secret = secret_of(address_in(text(browser.post(CREATE))))
        assert feeds.feed_for_secret(secret).user == user  # type: ignore[union-attr]


def test_the_page_in_indonesian(client, acme):
    User.objects.filter(pk=acme.member.pk).update(language="id")
    client.force_login(acme.member)

    html = text(client.post(CREATE))

    assert '<html lang="id">' in html
    assert "← Fokus" in html
    assert "Salin sekarang: rahasia ini hanya ditampilkan kali ini." in html
    html = text(client.get(PAGE))
    assert "<dt>Dibuat</dt>" in html
    assert "belum pernah" in html


# --- the feed -----------------------------------------------------------------------


def test_the_feed_needs_no_session_and_answers_with_the_right_headers(acme):
    feed, secret = feeds.create_feed(acme.organisation, user=acme.member)
    calendar_program = Client()

    response = calendar_program.get(feed_url(secret))

    assert response.status_code == 200
    assert response["Content-Type"] == "text/calendar; charset=utf-8"
    assert response["Cache-Control"] == "private, max-age=300"
    assert response["X-Content-Type-Options"] == "nosniff"
    assert "Set-Cookie" not in response and not response.cookies
    document = icalendar.Calendar.from_ical(response.content)
    assert document["X-WR-CALNAME"] == "Rantai: my deadlines in Acme Ltd"
    assert document.walk("VEVENT") == []
    feed.refresh_from_db()
    assert feed.last_used_at is not None


def test_addresses_that_open_nothing_answer_the_same_empty_404(acme):
    feed, secret = feeds.create_feed(acme.organisation, user=acme.member)
    reader = Client()
    unknown = ("A" if secret[0] != "A" else "B") + secret[1:]

    assert_empty_404(reader.get(feed_url(unknown)))
    assert_empty_404(reader.get(feed_url("not-a-secret")))
    assert_empty_404(reader.get(feed_url(secret + "x")))
    assert reader.post(feed_url(secret)).status_code == 405
    assert reader.head(feed_url(secret)).status_code == 405

    feeds.revoke_feed(acme.organisation, user=acme.member)
    assert_empty_404(reader.get(feed_url(secret)))
    feed.refresh_from_db()
    assert feed.last_used_at is None  # nothing was read


def test_leaving_the_organisation_stops_the_feed(acme):
    _feed, secret = feeds.create_feed(acme.organisation, user=acme.member)
    ended = Membership.objects.get(user=acme.member, is_active=True)

    membership.end_membership(ended, actor=acme.admin, expected_version=None)

    assert_empty_404(Client().get(feed_url(secret)))


def test_coming_back_does_not_revive_the_old_address(acme):
    """Leaving ends the feed for good: the old address may have been passed on
    while the person was away, so after rejoining only a new one works."""
    _feed, secret = feeds.create_feed(acme.organisation, user=acme.member)
    ended = Membership.objects.get(user=acme.member, is_active=True)
    membership.end_membership(ended, actor=acme.admin, expected_version=None)
    membership.add_member(
        acme.organisation, actor=acme.admin, user=acme.member, role=ended.role
    )

    assert_empty_404(Client().get(feed_url(secret)))
    _new, fresh = feeds.create_feed(acme.organisation, user=acme.member)
    assert Client().get(feed_url(fresh)).status_code == 200
    assert_empty_404(Client().get(feed_url(secret)))


def test_the_feed_speaks_its_owners_language_not_the_readers(acme):
    User.objects.filter(pk=acme.member.pk).update(language="id")
    _feed, secret = feeds.create_feed(acme.organisation, user=acme.member)
    reader = Client()
    reader.force_login(acme.admin)  # an English session changes nothing

    response = reader.get(feed_url(secret), HTTP_ACCEPT_LANGUAGE="en")

    document = icalendar.Calendar.from_ical(response.content)
    with translation.override("id"):
        name = translation.gettext("Rantai: my deadlines in %(organisation)s")
    assert document["X-WR-CALNAME"] == name % {"organisation": "Acme Ltd"}


def test_the_feed_holds_a_real_deadline(acme):
    """A mitigation Rina owns: an all-day event on its due day."""
    version = build_version(
        acme, [StepSpec("pack", acme.export_staff, acme.export_head)]
    )
    now = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
    run = chains.start_run(
        version,
        actor=acme.member,
        title="Ship 500 units",
        measure_quantity=500,
        measure_unit="units",
        due_at=now + dt.timedelta(days=8),
        now=now,
    )
    obstacle = obstacles.raise_obstacle(
        run,
        actor=acme.member,
        title="The truck is late",
        description="Broke down",
        expected_delay_minutes=60,
        now=now,
    )
    mitigation = obstacles.add_mitigation(
        obstacle,
        actor=acme.member,
        description="Book a second truck",
        owner=acme.rina,
        due_at=now + dt.timedelta(days=1),
        now=now,
    )
    _feed, secret = feeds.create_feed(acme.organisation, user=acme.member)

    response = Client().get(feed_url(secret))

    events = icalendar.Calendar.from_ical(response.content).walk("VEVENT")
    uids = [str(event["UID"]) for event in events]
    assert f"mitigation-{mitigation.pk}@rantai" in uids
    event = events[uids.index(f"mitigation-{mitigation.pk}@rantai")]
    assert event["SUMMARY"] == "Mitigation: Book a second truck"
    assert event.decoded("DTSTART") == dt.date(2026, 3, 3)
    assert event["URL"] == (
        f"http://127.0.0.1:8000/o/acme/obstacles/{obstacle.pk}/"
        f"#mitigation-{mitigation.pk}"
    )
