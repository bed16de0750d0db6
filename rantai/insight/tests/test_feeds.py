"""Calendar feeds (docs/design-insight.md, "Calendar feeds"): each person's open
deadlines — their tasks, the approvals waiting on their decision, the mitigations
they own, the briefings they must acknowledge — at the right times, nobody else's,
a partner's only what the partner sees; the feed as an iCalendar document with
stable UIDs in the user's language; the secret stored only as a digest; a new
address or stopping the feed kills the old one at once, so does leaving the
organisation; reading is noted at most hourly; changes are audited.

The deadlines use the world of the obstacles tests (rantai/obstacles/tests/
factories.py: T0 is Monday 2 March 2026, 08:00 in Jakarta; working days Monday to
Friday, 08:00 to 16:00; the SHIP run pack → ship → store is due Tuesday 10 March,
08:00) with a due-date route whose one stage (the Head of export, Rina) has a time
limit of 8 working hours.
"""

from __future__ import annotations

import datetime as dt
import hashlib

import icalendar
import pytest
from django.db import IntegrityError, connection, transaction
from django.test import override_settings
from django.utils import translation

from rantai.accounts.access import access_for
from rantai.accounts.models import Membership, Organisation, User
from rantai.approvals import requesting, routes
from rantai.approvals.models import ApprovalRequest, ApproverRule, SubjectKind
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import projection
from rantai.chains import services as chains
from rantai.chains.calendar import minutes_per_working_day
from rantai.chains.models import Task, TaskStatus
from rantai.core.errors import Conflict, NotFound
from rantai.insight import feeds
from rantai.insight.feeds import Deadline, DeadlineKind
from rantai.insight.models import CalendarFeed
from rantai.obstacles.models import Mitigation
from rantai.obstacles.tests import factories
from rantai.org import membership
from rantai.roles import policy
from rantai.roles.models import Briefing
from rantai.testing import SmallOrg, run_in_threads, small_org
from rantai.web.views.runs import urgency

T0 = factories.T0
NOW = T0 + dt.timedelta(hours=3)  # Monday 11:00 in Jakarta
UTC = dt.UTC
BASE = "https://rantai.example.id"


# --- the world with one deadline of each kind ---------------------------------------


class Deadlines:
    """The obstacles world plus: Ani (export clerk, "pack" is assigned to her)
    asks to move the run's due date — Rina decides by T0 + 8 working hours;
    an obstacle on "pack" (4 hours expected delay) with a mitigation Rina owns,
    due Tuesday 3 March; one on "ship" (the forwarder's) with a mitigation Joko,
    the forwarder's partner login, owns. Everyone with a role in SHIP was briefed
    at T0 and has not acknowledged."""

    def __init__(self) -> None:
        self.w = w = factories.world()
        o = w.o
        route = routes.create_route(
            o.organisation,
            actor=o.admin,
            code="DUE",
            name="Due-date changes",
            subject_kind=SubjectKind.DUE_DATE_CHANGE,
        )
        version = route.versions.get()
        routes.add_stage(
            version,
            actor=o.admin,
            name="Head of export",
            rule=ApproverRule.POSITION,
            position=o.export_head,
            time_limit_hours=8,
        )
        routes.publish(
            version, actor=o.admin, expected_version=None, now=T0 - dt.timedelta(days=1)
        )
        self.ani = w.user(w.ani)
        made = requesting.request_due_date_change(
            w.run,
            actor=self.ani,
            due_at=w.run.due_at + dt.timedelta(days=7),
            reason="The customer asked for a later delivery",
            now=T0,
        )
        assert isinstance(made, ApprovalRequest)
        self.request = made
        on_pack = factories.make_obstacle(w, task=w.task("pack"))
        self.mitigation = factories.make_mitigation(on_pack, w, owner=w.rina)
        on_ship = factories.make_obstacle(
            w, task=w.task("ship"), title="The forwarder's truck"
        )
        self.partner_mitigation = factories.make_mitigation(
            on_ship, w, owner=w.joko, description="Call the forwarder"
        )

    @property
    def organisation(self) -> Organisation:
        return self.w.organisation

    def of(self, user: User) -> list[Deadline]:
        return feeds.deadlines(access_for(user, "acme"), now=NOW)

    def briefing_due(self, user: User) -> dt.date:
        """The day the first reminder comes, in Jakarta."""
        briefing = Briefing.objects.get(person__user=user)
        days = policy.settings_for(self.organisation).briefing_reminder_days
        assert briefing.issued_at == T0
        return (T0 + dt.timedelta(days=days, hours=7)).date()


@pytest.fixture
def d(db) -> Deadlines:  # type: ignore[no-untyped-def]
    return Deadlines()


def briefing_id(user: User) -> int:
    return Briefing.objects.get(person__user=user).pk


def test_each_person_gets_their_own_deadlines_at_the_right_times(d):
    w, o = d.w, d.w.o
    pack = w.task("pack")
    ship = w.task("ship")
    assert pack.assignee == w.ani and ship.assignee is None

    # Rina: the approval (by 16:00 the same day), her mitigation on its due day
    # (all day), her briefing — not Ani's task, though she is accountable for it
    assert d.of(o.member) == [
        Deadline(
            kind=DeadlineKind.APPROVAL,
            object_id=d.request.pk,
            title="Ship 500 units to Kota A",
            due=dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC),
            description="Stage “Head of export”: decide by 2026-03-02 16:00 "
            "(Asia/Jakarta).",
            url=f"/o/acme/approvals/{d.request.pk}/",
        ),
        Deadline(
            kind=DeadlineKind.MITIGATION,
            object_id=d.mitigation.pk,
            title="Book a second truck",
            due=dt.date(2026, 3, 3),
            description="An action against the obstacle “The truck is delayed” on "
            "the run “Ship 500 units to Kota A”, due by 2026-03-03 08:00 "
            "(Asia/Jakarta).",
            url=f"/o/acme/obstacles/{d.mitigation.obstacle_id}/"
            f"#mitigation-{d.mitigation.pk}",
        ),
        Deadline(
            kind=DeadlineKind.BRIEFING,
            object_id=briefing_id(o.member),
            title="Your roles in Procedure SHIP (version 1)",
            due=d.briefing_due(o.member),
            description="Read what you do and acknowledge it.",
            url=f"/o/acme/briefings/{briefing_id(o.member)}/",
        ),
    ]

    # Ani: "pack" must be done by Wednesday 12:00 for the run to be on time
    # (after it: "ship", two days and its own 4 hours of expected delay, and
    # "store", one day), and her briefing; not the approval she asked for
    assert d.of(d.ani) == [
        Deadline(
            kind=DeadlineKind.TASK,
            object_id=pack.pk,
            title="Pack — Ship 500 units to Kota A",
            due=dt.datetime(2026, 3, 4, 5, 0, tzinfo=UTC),
            description="Finish by 2026-03-04 12:00 (Asia/Jakarta) for the run "
            "“Ship 500 units to Kota A” to meet its due date, 2026-03-10 08:00 "
            "(Asia/Jakarta).",
            url=f"/o/acme/tasks/{pack.pk}/",
        ),
        Deadline(
            kind=DeadlineKind.BRIEFING,
            object_id=briefing_id(d.ani),
            title="Your roles in Procedure SHIP (version 1)",
            due=d.briefing_due(d.ani),
            description="Read what you do and acknowledge it.",
            url=f"/o/acme/briefings/{briefing_id(d.ani)}/",
        ),
    ]
    # the same "finish by" as my tasks and the focus page
    spec = projection.calendar_spec(d.organisation)
    _level, finish_by, _slack = urgency(
        Task.objects.select_related("run").get(pk=pack.pk),
        calendar=spec,
        now=NOW,
        day_minutes=minutes_per_working_day(spec),
    )
    assert finish_by == dt.datetime(2026, 3, 4, 5, 0, tzinfo=UTC)

    # no decision, no task, no mitigation: nothing
    assert d.of(o.admin) == []
    assert d.of(o.auditor) == []


def test_a_partner_gets_only_what_the_partner_sees(d):
    w, o = d.w, d.w.o
    ship = w.task("ship")

    # Joko: the forwarder's task nobody took yet (still waiting on "pack") and the
    # mitigation he owns — not Rina's mitigation on "pack", and no approvals
    found = d.of(o.partner)
    assert [(x.kind, x.object_id, x.due) for x in found] == [
        (DeadlineKind.MITIGATION, d.partner_mitigation.pk, dt.date(2026, 3, 3)),
        # 2 working days plus 4 hours expected delay, then "store" (one day)
        (DeadlineKind.TASK, ship.pk, dt.datetime(2026, 3, 6, 9, 0, tzinfo=UTC)),
    ]
    assert found[1].title == "Ship — Ship 500 units to Kota A"

    # a partner whose party takes no part in the run: nothing at all
    assert d.of(w.user(w.olga)) == []

    # once someone of the party takes the task, it is theirs only
    Task.objects.filter(pk=ship.pk).update(assignee=w.ani)  # (not the partner)
    assert [x.kind for x in d.of(o.partner)] == [DeadlineKind.MITIGATION]


def test_what_is_done_drops_out(d):
    w, o = d.w, d.w.o
    pack = w.task("pack")
    chains.start_task(pack, actor=d.ani, expected_version=None, now=NOW)
    chains.complete_task(pack, actor=d.ani, expected_version=None, now=NOW)
    Mitigation.objects.filter(pk=d.mitigation.pk).update(status="done")
    Briefing.objects.filter(person__user=o.member).update(acknowledged_at=NOW)

    assert [x.kind for x in d.of(d.ani)] == [DeadlineKind.BRIEFING]
    assert [x.kind for x in d.of(o.member)] == [DeadlineKind.APPROVAL]
    assert Task.objects.get(pk=pack.pk).status == TaskStatus.DONE


@override_settings(RANTAI_BASE_URL=BASE + "/")
def test_the_feed_is_an_icalendar_document_with_stable_uids(d):
    o = d.w.o
    feed, _secret = feeds.create_feed(d.organisation, user=o.member, now=T0)

    document = icalendar.Calendar.from_ical(feeds.calendar(feed, now=NOW))

    assert document["PRODID"] == "-//Rantai//Calendar feed//EN"
    assert document["VERSION"] == "2.0"
    assert document["X-WR-CALNAME"] == "Rantai: my deadlines in Acme Ltd"
    events = document.walk("VEVENT")
    assert [str(e["UID"]) for e in events] == [
        f"approval-{d.request.pk}@rantai",
        f"mitigation-{d.mitigation.pk}@rantai",
        f"briefing-{briefing_id(o.member)}@rantai",
    ]
    approval, mitigation, briefing = events
    assert approval["SUMMARY"] == "Decide: Ship 500 units to Kota A"
    assert approval.decoded("DTSTART") == dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert approval.decoded("DTEND") == dt.datetime(2026, 3, 2, 9, 0, tzinfo=UTC)
    assert approval.decoded("DTSTAMP") == NOW
    assert approval["DESCRIPTION"] == (
        "Stage “Head of export”: decide by 2026-03-02 16:00 (Asia/Jakarta)."
    )
    assert approval["URL"] == f"{BASE}/o/acme/approvals/{d.request.pk}/"
    # all day: a DATE, ending the next day
    assert mitigation["SUMMARY"] == "Mitigation: Book a second truck"
    assert mitigation.decoded("DTSTART") == dt.date(2026, 3, 3)
    assert mitigation.decoded("DTEND") == dt.date(2026, 3, 4)
    assert briefing["SUMMARY"] == (
        "Acknowledge: Your roles in Procedure SHIP (version 1)"
    )

    # read again later, after the approval moved on: the same UIDs
    later = icalendar.Calendar.from_ical(
        feeds.calendar(feed, now=NOW + dt.timedelta(hours=2))
    )
    assert [str(e["UID"]) for e in later.walk("VEVENT")] == [
        str(e["UID"]) for e in events
    ]


def test_the_feed_speaks_the_users_language(d):
    o = d.w.o
    User.objects.filter(pk=o.member.pk).update(language="id")
    feed, _secret = feeds.create_feed(d.organisation, user=o.member, now=T0)
    feed = feeds.feed_for_secret(_secret)
    assert feed is not None
    language = translation.get_language()

    events = icalendar.Calendar.from_ical(feeds.calendar(feed, now=NOW)).walk("VEVENT")

    briefing = events[-1]
    with translation.override("id"):
        prefix = translation.gettext("Acknowledge: %(title)s")
    assert briefing["SUMMARY"] == prefix % {
        "title": "Peran Anda dalam Procedure SHIP (versi 1)"
    }
    assert briefing["DESCRIPTION"] == (
        "Baca apa yang menjadi bagian Anda, lalu konfirmasikan."
    )
    assert translation.get_language() == language  # nothing leaks to the caller


# --- the address --------------------------------------------------------------------


def test_only_the_digest_of_the_secret_is_stored(acme: SmallOrg, audit_trail):
    trail = audit_trail(acme.organisation)

    feed, secret = feeds.create_feed(acme.organisation, user=acme.member, now=T0)

    assert len(secret) == 43  # 32 random bytes, URL-safe base64
    assert feed.token_digest == hashlib.sha256(secret.encode()).hexdigest()
    stored = CalendarFeed.objects.filter(pk=feed.pk).values().get()
    assert secret not in str(stored)
    assert stored["created_at"] == T0 and stored["revoked_at"] is None
    assert feeds.feed_for_secret(secret) == feed
    assert feeds.active_feed(acme.organisation, acme.member) == feed
    assert feeds.feed_address(secret) == (
        f"http://127.0.0.1:8000/feeds/calendar/{secret}.ics"
    )
    assert feeds.webcal_address(secret) == (
        f"webcal://127.0.0.1:8000/feeds/calendar/{secret}.ics"
    )
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.CREATED,
        "insight.calendarfeed",
        str(feed.pk),
    )
    assert event.actor_id == acme.member.pk
    assert event.changes == {"user": acme.member.pk, "created_at": T0.isoformat()}
    assert secret not in str(AuditEvent.objects.values().get(pk=event.pk))
    # a second, unrelated secret of the right shape opens nothing
    assert (
        feeds.feed_for_secret(secret[:-1] + ("A" if secret[-1] != "A" else "B")) is None
    )


@pytest.mark.parametrize(
    "secret",
    [
        "",
        "short",
        "x" * 44,
        "has/slash" + "x" * 34,
        "ü" * 43,
        "x" * 42 + "=",
        "x" * 43 + "\n",
    ],
)
def test_malformed_secrets_open_nothing(acme: SmallOrg, secret: str):
    feeds.create_feed(acme.organisation, user=acme.member, now=T0)
    with CaptureNothing():
        assert feeds.feed_for_secret(secret) is None


class CaptureNothing:
    """A malformed secret is refused before the database is asked."""

    def __enter__(self) -> None:
        from django.db import connection
        from django.test.utils import CaptureQueriesContext

        self.context = CaptureQueriesContext(connection)
        self.context.__enter__()

    def __exit__(self, *exc: object) -> None:
        self.context.__exit__(*exc)
        assert len(self.context.captured_queries) == 0


def test_a_new_address_kills_the_old_one_at_once(acme: SmallOrg, audit_trail):
    old, old_secret = feeds.create_feed(acme.organisation, user=acme.member, now=T0)
    trail = audit_trail(acme.organisation)
    later = T0 + dt.timedelta(days=1)

    new, new_secret = feeds.create_feed(acme.organisation, user=acme.member, now=later)

    assert new_secret != old_secret and new.pk != old.pk
    assert feeds.feed_for_secret(old_secret) is None
    assert feeds.feed_for_secret(new_secret) == new
    old.refresh_from_db()
    assert old.revoked_at == later
    assert CalendarFeed.objects.filter(revoked_at__isnull=True).get() == new
    assert [(e.verb, e.target_id, e.changes) for e in trail.new_events()] == [
        (
            AuditVerb.DEACTIVATED,
            str(old.pk),
            {"user": acme.member.pk, "revoked_at": [None, later.isoformat()]},
        ),
        (
            AuditVerb.CREATED,
            str(new.pk),
            {"user": acme.member.pk, "created_at": later.isoformat()},
        ),
    ]


def test_stopping_the_feed_kills_its_address(acme: SmallOrg, audit_trail):
    feed, secret = feeds.create_feed(acme.organisation, user=acme.member, now=T0)
    trail = audit_trail(acme.organisation)

    assert feeds.revoke_feed(acme.organisation, user=acme.member, now=NOW) is True

    assert feeds.feed_for_secret(secret) is None
    assert feeds.active_feed(acme.organisation, acme.member) is None
    event = trail.only_new_event()
    assert (event.verb, event.target_id, event.changes) == (
        AuditVerb.DEACTIVATED,
        str(feed.pk),
        {"user": acme.member.pk, "revoked_at": [None, NOW.isoformat()]},
    )

    # nothing left to stop: nothing written
    trail = audit_trail(acme.organisation)
    assert feeds.revoke_feed(acme.organisation, user=acme.member, now=NOW) is False
    trail.assert_nothing_new()


def test_feeds_are_per_user_and_organisation(acme: SmallOrg, other_org: SmallOrg):
    mine, my_secret = feeds.create_feed(acme.organisation, user=acme.member)
    _theirs, their_secret = feeds.create_feed(acme.organisation, user=acme.admin)
    feeds.revoke_feed(acme.organisation, user=acme.admin)

    assert feeds.feed_for_secret(their_secret) is None
    assert feeds.feed_for_secret(my_secret) == mine
    assert feeds.active_feed(acme.organisation, acme.admin) is None
    assert feeds.active_feed(other_org.organisation, acme.member) is None


def test_only_members_have_feeds(acme: SmallOrg, other_org: SmallOrg, audit_trail):
    trail = audit_trail(acme.organisation)
    with pytest.raises(NotFound):
        feeds.create_feed(acme.organisation, user=other_org.member)
    trail.assert_nothing_new()
    assert not CalendarFeed.objects.exists()


def test_leaving_the_organisation_kills_the_feed(acme: SmallOrg):
    feed, secret = feeds.create_feed(acme.organisation, user=acme.member)
    assert feeds.feed_for_secret(secret) == feed
    ended = Membership.objects.get(
        user=acme.member, organisation=acme.organisation, is_active=True
    )

    membership.end_membership(ended, actor=acme.admin, expected_version=None)

    assert feeds.feed_for_secret(secret) is None
    # and a feed already found answers nothing either
    with pytest.raises(NotFound):
        feeds.calendar(feed)


def test_a_deactivated_user_has_no_feed(acme: SmallOrg):
    _feed, secret = feeds.create_feed(acme.organisation, user=acme.member)
    User.objects.filter(pk=acme.member.pk).update(is_active=False)
    assert feeds.feed_for_secret(secret) is None


def test_reading_is_noted_at_most_once_an_hour(acme: SmallOrg, audit_trail):
    feed, _secret = feeds.create_feed(acme.organisation, user=acme.member, now=T0)
    trail = audit_trail(acme.organisation)

    def last_used() -> dt.datetime | None:
        return CalendarFeed.objects.get(pk=feed.pk).last_used_at

    feeds.calendar(feed, now=T0)
    assert last_used() == T0
    fresh = CalendarFeed.objects.get(pk=feed.pk)
    feeds.calendar(fresh, now=T0 + dt.timedelta(minutes=59))
    assert last_used() == T0
    # a stale copy of the row does not write either: the update compares
    stale = CalendarFeed.objects.get(pk=feed.pk)
    stale.last_used_at = None
    feeds.calendar(stale, now=T0 + dt.timedelta(minutes=30))
    assert last_used() == T0
    feeds.calendar(fresh, now=T0 + dt.timedelta(hours=1))
    assert last_used() == T0 + dt.timedelta(hours=1)
    trail.assert_nothing_new()  # reading is not a change


def test_one_active_feed_per_user_is_the_databases_rule(acme: SmallOrg):
    feed, _secret = feeds.create_feed(acme.organisation, user=acme.member)
    with pytest.raises(IntegrityError), transaction.atomic():
        CalendarFeed.objects.create(
            organisation=acme.organisation, user=acme.member, token_digest="0" * 64
        )
    # a revoked one may sit beside the active one
    CalendarFeed.objects.create(
        organisation=acme.organisation,
        user=acme.member,
        token_digest="1" * 64,
        revoked_at=T0,
    )
    assert CalendarFeed.objects.filter(revoked_at__isnull=True).get() == feed


def test_a_feed_made_at_the_same_moment_is_a_conflict_and_nothing_is_written(
    acme: SmallOrg, audit_trail, monkeypatch
):
    """Two "new address" at once: when the other one's row lands between the
    revocation and the insert, the constraint refuses this one (409) and the
    whole change is undone."""
    old, old_secret = feeds.create_feed(acme.organisation, user=acme.member, now=T0)
    trail = audit_trail(acme.organisation)
    real = feeds.secrets.token_urlsafe

    def concurrent_insert(size: int) -> str:
        CalendarFeed.objects.create(
            organisation=acme.organisation, user=acme.member, token_digest="2" * 64
        )
        return real(size)

    monkeypatch.setattr(feeds.secrets, "token_urlsafe", concurrent_insert)

    with pytest.raises(Conflict):
        feeds.create_feed(acme.organisation, user=acme.member, now=NOW)

    trail.assert_nothing_new()
    assert list(CalendarFeed.objects.values_list("pk", "revoked_at")) == [
        (old.pk, None)
    ]
    assert feeds.feed_for_secret(old_secret) == old


@pytest.mark.postgres_only
@pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: real threads share the test database only there "
    "(the SQLite test database is in memory, one per connection)",
)
@pytest.mark.django_db(transaction=True)
def test_new_addresses_at_once_leave_exactly_one_working():
    """Six "new address" clicks at the same moment: each waits for the one
    before (the membership row is locked) and revokes it; one address works."""
    o = small_org("acme")

    results = run_in_threads(
        lambda _index: feeds.create_feed(o.organisation, user=o.member), 6
    )

    assert all(isinstance(result, tuple) for result in results), results
    working = [
        secret for _feed, secret in results if feeds.feed_for_secret(secret) is not None
    ]
    assert len(working) == 1
    assert CalendarFeed.objects.filter(revoked_at__isnull=True).count() == 1
    assert CalendarFeed.objects.count() == 6
    verbs = list(
        AuditEvent.objects.filter(
            organisation=o.organisation, target_type="insight.calendarfeed"
        ).values_list("verb", flat=True)
    )
    assert sorted(verbs) == sorted(
        [AuditVerb.CREATED] * 6 + [AuditVerb.DEACTIVATED] * 5
    )
    assert audit.verify(o.organisation).ok


def test_the_deadlines_cost_the_same_queries_however_many_there_are(d):
    """A list read: one more mitigation (on another obstacle of the run) adds a
    line, never a query."""
    from django.test.utils import CaptureQueriesContext

    w = d.w
    access = access_for(d.w.o.member, "acme")
    with CaptureQueriesContext(connection) as before:
        first = feeds.deadlines(access, now=NOW)
    other = factories.make_obstacle(w, task=w.task("pack"), title="The scale is broken")
    factories.make_mitigation(other, w, owner=w.rina, description="Borrow a scale")
    access = access_for(d.w.o.member, "acme")
    with CaptureQueriesContext(connection) as after:
        second = feeds.deadlines(access, now=NOW)

    kinds = [deadline.kind for deadline in second]
    assert kinds.count(DeadlineKind.MITIGATION) == 2
    assert len(second) == len(first) + 1
    assert len(after) == len(before)
