"""Personal calendar feeds (docs/design-insight.md, "Calendar feeds").

A person subscribes their calendar program to `/feeds/calendar/<secret>.ics`: the
secret in the address is the credential (32 random bytes, URL-safe), and only its
SHA-256 digest is stored. One active feed per user and organisation; a new address
revokes the old one at once; both changes are audited in the organisation's chain.

The feed holds the person's open deadlines in that organisation, each as one
VEVENT with a UID that stays the same for the same object:

* tasks assigned to them and not finished (for a partner, also its party's tasks
  nobody took yet), due when they must be done for the run to meet its due date
  (the "finish by" of my tasks and the focus page);
* approval requests waiting on their decision, due by the stage's time limit (a
  stage without a time limit has no deadline and is left out);
* mitigations they own, all day on their due date;
* briefings they must acknowledge, all day on the day the first reminder comes.

Partners' feeds hold only what they may see anyway (the same queries as their
pages). Reading the feed notes `last_used_at`, at most once an hour.
"""

from __future__ import annotations

import datetime as dt
import enum
import hashlib
import hmac
import re
import secrets
import zoneinfo
from dataclasses import dataclass

import icalendar
from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from rantai.accounts.access import Access, access_for
from rantai.accounts.models import Membership, Organisation, User
from rantai.approvals import queries as approval_queries
from rantai.approvals.services import request_path
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains import projection
from rantai.chains import queries as chains_queries
from rantai.chains.calendar import (
    CalendarSpec,
    add_working_minutes,
    subtract_working_minutes,
)
from rantai.chains.models import Task
from rantai.core.errors import Conflict, NotFound
from rantai.insight.models import CalendarFeed
from rantai.notifications.mail import language_of
from rantai.obstacles import queries as obstacle_queries
from rantai.obstacles.obstacles import mitigation_path
from rantai.roles import briefings as briefing_services
from rantai.roles import policy as role_policy
from rantai.roles import queries as roles_queries
from rantai.roles.consulting import task_path

__all__ = [
    "Deadline",
    "DeadlineKind",
    "active_feed",
    "calendar",
    "create_feed",
    "deadlines",
    "digest_of",
    "feed_address",
    "feed_for_secret",
    "feed_path",
    "finish_by",
    "revoke_feed",
    "webcal_address",
]

SECRET_BYTES = 32
# secrets.token_urlsafe(32): 43 characters of the URL-safe base64 alphabet.
_SECRET = re.compile(r"[A-Za-z0-9_-]{43}")
# Reading a feed notes the moment at most this often (calendar programs poll).
LAST_USED_EVERY = dt.timedelta(hours=1)
PRODID = "-//Rantai//Calendar feed//EN"
UID_DOMAIN = "rantai"


class DeadlineKind(enum.StrEnum):
    TASK = "task"
    APPROVAL = "approval"
    MITIGATION = "mitigation"
    BRIEFING = "briefing"


@dataclass(frozen=True, slots=True)
class Deadline:
    """One open deadline of a person: a moment (timed) or a day (all day, in the
    organisation's time zone). `url` is the path of the object's page."""

    kind: DeadlineKind
    object_id: int
    title: str
    due: dt.datetime | dt.date
    description: str
    url: str

    @property
    def all_day(self) -> bool:
        return not isinstance(self.due, dt.datetime)

    @property
    def uid(self) -> str:
        """Stable per object: the same event is updated, never duplicated."""
        return f"{self.kind}-{self.object_id}@{UID_DOMAIN}"


# --- the secret ------------------------------------------------------------------------


def digest_of(secret: str) -> str:
    return hashlib.sha256(secret.encode()).hexdigest()


def feed_path(secret: str) -> str:
    """The feed's address inside Rantai (what a calendar program subscribes to)."""
    return f"/feeds/calendar/{secret}.ics"


def feed_address(secret: str) -> str:
    """The feed's full address (`RANTAI_BASE_URL`, as the links of e-mails)."""
    return _absolute(feed_path(secret))


def webcal_address(secret: str) -> str:
    """The same address for calendar programs that subscribe on a click."""
    address = feed_address(secret)
    return "webcal://" + address.split("://", 1)[1] if "://" in address else address


def _now(now: dt.datetime | None) -> dt.datetime:
    moment = now or timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("now must be timezone-aware")
    return moment


def _active(organisation: Organisation, user: User) -> Q:
    return Q(organisation=organisation, user=user, revoked_at__isnull=True)


# --- creating and revoking ------------------------------------------------------------------


@transaction.atomic
def create_feed(
    organisation: Organisation, *, user: User, now: dt.datetime | None = None
) -> tuple[CalendarFeed, str]:
    """A new feed address for the user in the organisation; their active one, if
    any, is revoked first (audited `deactivated`, then the new one `created`).
    Returns the feed and its secret, which is never stored: only its digest is.

    Only an active member may have a feed (NotFound otherwise, as for any
    organisation one does not belong to). Two at once: the membership row is
    locked, so the second revokes the first's address; the partial unique
    constraint stays the last word (a clash is a `Conflict`, nothing written)."""
    moment = _now(now)
    membership = (
        # Only the membership row: the chain head is locked last, by the audit.
        Membership.objects.select_for_update(of=("self",))
        .filter(
            user=user,
            organisation=organisation,
            is_active=True,
            organisation__is_active=True,
        )
        .first()
    )
    if membership is None or not user.is_active:
        raise NotFound()
    entries = [
        _revoked_entry(feed, moment)
        for feed in CalendarFeed.objects.filter(_active(organisation, user))
    ]
    if entries:
        CalendarFeed.objects.filter(
            pk__in=[entry.target.pk for entry in entries], revoked_at__isnull=True
        ).update(revoked_at=moment)
    secret = secrets.token_urlsafe(SECRET_BYTES)
    try:
        with transaction.atomic():
            feed = CalendarFeed.objects.create(
                organisation=organisation,
                user=user,
                token_digest=digest_of(secret),
                created_at=moment,
            )
    except IntegrityError as error:
        raise Conflict(
            _("Your calendar feed was changed at the same moment. Try again.")
        ) from error
    entries.append(
        audit.Entry(
            verb=AuditVerb.CREATED,
            target=feed,
            changes={"user": user.pk, "created_at": moment},
        )
    )
    audit.record_many(organisation, actor=user, entries=entries)
    return feed, secret


def _revoked_entry(feed: CalendarFeed, moment: dt.datetime) -> audit.Entry:
    return audit.Entry(
        verb=AuditVerb.DEACTIVATED,
        target=feed,
        changes={"user": feed.user_id, "revoked_at": [None, moment]},
    )


@transaction.atomic
def revoke_feed(
    organisation: Organisation, *, user: User, now: dt.datetime | None = None
) -> bool:
    """Stop the user's feed in the organisation: its address answers 404 from now
    on. False (and nothing written) when there was none. Compare-and-set: of two
    at once, one revokes and audits, the other finds nothing."""
    moment = _now(now)
    feed = CalendarFeed.objects.filter(_active(organisation, user)).first()
    if feed is None:
        return False
    changed = CalendarFeed.objects.filter(pk=feed.pk, revoked_at__isnull=True).update(
        revoked_at=moment
    )
    if not changed:
        return False
    audit.record_many(organisation, actor=user, entries=[_revoked_entry(feed, moment)])
    return True


def active_feed(organisation: Organisation, user: User) -> CalendarFeed | None:
    """The user's feed in the organisation, if one is active. One query."""
    return CalendarFeed.objects.filter(_active(organisation, user)).first()


def feed_for_secret(secret: str) -> CalendarFeed | None:
    """The active feed a secret opens, or None: unknown, revoked and malformed
    secrets alike, and so for a user no longer active or no longer an active
    member of an active organisation, or whose membership ended after the feed
    was made (coming back does not bring an old address back to life). Looked up by digest (the secret itself is
    never compared), then compared in constant time. One query."""
    if not isinstance(secret, str) or not _SECRET.fullmatch(secret):
        return None
    digest = digest_of(secret)
    feed = (
        CalendarFeed.objects.select_related("organisation", "user")
        .filter(
            token_digest=digest,
            revoked_at__isnull=True,
            user__is_active=True,
            organisation__is_active=True,
        )
        .filter(
            Exists(
                Membership.objects.filter(
                    user_id=OuterRef("user_id"),
                    organisation_id=OuterRef("organisation_id"),
                    is_active=True,
                )
            )
        )
        .exclude(
            # Leaving ends a feed for good: after coming back, the person makes a
            # new address (the old one may have been passed on meanwhile).
            Exists(
                Membership.objects.filter(
                    user_id=OuterRef("user_id"),
                    organisation_id=OuterRef("organisation_id"),
                    is_active=False,
                    ended_at__gte=OuterRef("created_at"),
                )
            )
        )
        .first()
    )
    if feed is None or not hmac.compare_digest(feed.token_digest, digest):
        return None
    return feed


# --- the deadlines ----------------------------------------------------------------------------


def finish_by(task: Task, calendar_spec: CalendarSpec) -> dt.datetime:
    """When the task must be done for its run to still meet its due date:
    everything after it takes `path_to_end - estimate` working minutes (the
    estimate includes the expected delay of its open obstacles). The same moment
    as "finish by" on my tasks and the focus page (`web.views.runs.urgency`)."""
    estimate = task.duration_minutes + task.delay_minutes
    rest = max(task.path_to_end_minutes - estimate, 0)
    if estimate:
        # Read as the end of work (16:00), not as the next morning's start.
        return add_working_minutes(
            calendar_spec,
            subtract_working_minutes(calendar_spec, task.run.due_at, rest + estimate),
            estimate,
        )
    return subtract_working_minutes(calendar_spec, task.run.due_at, rest)


def _local(organisation: Organisation, moment: dt.datetime) -> str:
    local = moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone))
    return f"{local:%Y-%m-%d %H:%M} ({organisation.time_zone})"


def _local_date(organisation: Organisation, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


def _sort_key(deadline: Deadline, organisation: Organisation) -> tuple[object, ...]:
    due = deadline.due
    if not isinstance(due, dt.datetime):
        # An all-day deadline counts from the start of its day.
        due = dt.datetime.combine(
            due, dt.time(0), tzinfo=zoneinfo.ZoneInfo(organisation.time_zone)
        )
    return (due, list(DeadlineKind).index(deadline.kind), deadline.object_id)


def deadlines(access: Access, *, now: dt.datetime | None = None) -> list[Deadline]:
    """The caller's open deadlines in the organisation, soonest first, in the
    active language. What a partner sees is what their pages show them."""
    moment = _now(now)
    organisation = access.organisation
    found = [
        *_task_deadlines(access, moment),
        *_approval_deadlines(access, moment),
        *_mitigation_deadlines(access),
        *_briefing_deadlines(access),
    ]
    return sorted(found, key=lambda deadline: _sort_key(deadline, organisation))


def _task_deadlines(access: Access, now: dt.datetime) -> list[Deadline]:
    organisation = access.organisation
    # Assigned to them; a partner's are also its party's tasks nobody took yet
    # (their "my tasks"). Tasks a member could claim are not theirs yet.
    tasks = [
        task
        for task in chains_queries.my_tasks(access, now=now, include_pending=True)
        if (task.assignee is not None and task.assignee.user_id == access.user.pk)
        or (access.is_partner and task.assignee is None)
    ]
    if not tasks:
        return []
    spec = projection.calendar_spec(organisation)
    found = []
    for task in tasks:
        task.organisation = organisation  # the same row: saves a query
        due = finish_by(task, spec)
        found.append(
            Deadline(
                kind=DeadlineKind.TASK,
                object_id=task.pk,
                title=f"{task.name} — {task.run.title}",
                due=due,
                description=_(
                    "Finish by %(when)s for the run “%(run)s” to meet its due "
                    "date, %(due)s."
                )
                % {
                    "when": _local(organisation, due),
                    "run": task.run.title,
                    "due": _local(organisation, task.run.due_at),
                },
                url=task_path(task),
            )
        )
    return found


def _approval_deadlines(access: Access, now: dt.datetime) -> list[Deadline]:
    organisation = access.organisation
    found = []
    seen: set[int] = set()
    for pending in approval_queries.pending_for(access, now=now):
        stage, request = pending.stage, pending.request
        # A request waits at one stage; on behalf of two delegators, once.
        if stage.due_at is None or request.pk in seen:
            continue
        seen.add(request.pk)
        request.organisation = organisation
        description = _("Stage “%(stage)s”: decide by %(when)s.") % {
            "stage": stage.stage.name,
            "when": _local(organisation, stage.due_at),
        }
        if pending.on_behalf_of is not None:
            description += " " + _("a.n. %(name)s (delegated to you)") % {
                "name": pending.on_behalf_of.full_name
            }
        found.append(
            Deadline(
                kind=DeadlineKind.APPROVAL,
                object_id=request.pk,
                title=request.title,
                due=stage.due_at,
                description=description,
                url=request_path(request),
            )
        )
    return found


def _mitigation_deadlines(access: Access) -> list[Deadline]:
    organisation = access.organisation
    visible = obstacle_queries.obstacles(access).order_by().values("pk")
    found = []
    for mitigation in obstacle_queries.my_mitigations(access).filter(
        obstacle_id__in=visible
    ):
        mitigation.obstacle.organisation = organisation
        found.append(
            Deadline(
                kind=DeadlineKind.MITIGATION,
                object_id=mitigation.pk,
                title=str(mitigation),
                due=_local_date(organisation, mitigation.due_at),
                description=_(
                    "An action against the obstacle “%(obstacle)s” on the run "
                    "“%(run)s”, due by %(when)s."
                )
                % {
                    "obstacle": mitigation.obstacle.title,
                    "run": mitigation.obstacle.run.title,
                    "when": _local(organisation, mitigation.due_at),
                },
                url=mitigation_path(mitigation),
            )
        )
    return found


def _briefing_deadlines(access: Access) -> list[Deadline]:
    organisation = access.organisation
    briefings = roles_queries.briefings_to_acknowledge(access)
    if not briefings:
        return []
    days = role_policy.settings_for(organisation).briefing_reminder_days
    found = []
    for briefing in briefings:
        briefing.organisation = organisation
        found.append(
            Deadline(
                kind=DeadlineKind.BRIEFING,
                object_id=briefing.pk,
                title=briefing_services.heading(briefing),
                due=_local_date(
                    organisation, briefing.issued_at + dt.timedelta(days=days)
                ),
                description=_("Read what you do and acknowledge it."),
                url=briefing_services.briefing_path(briefing),
            )
        )
    return found


# --- the calendar ---------------------------------------------------------------------------


def _summary(deadline: Deadline) -> str:
    prefix = {
        DeadlineKind.TASK: _("Task: %(title)s"),
        DeadlineKind.APPROVAL: _("Decide: %(title)s"),
        DeadlineKind.MITIGATION: _("Mitigation: %(title)s"),
        DeadlineKind.BRIEFING: _("Acknowledge: %(title)s"),
    }[deadline.kind]
    return prefix % {"title": deadline.title}


def _absolute(path: str) -> str:
    base = str(getattr(settings, "RANTAI_BASE_URL", "") or "").rstrip("/")
    return base + path


def calendar(feed: CalendarFeed, *, now: dt.datetime | None = None) -> bytes:
    """The feed as an iCalendar document, in the user's language; notes that it
    was read (at most once an hour). NotFound if its user is no longer a member."""
    moment = _now(now)
    access = access_for(feed.user, feed.organisation.slug)
    organisation = access.organisation
    with translation.override(language_of(feed.user)):
        found = deadlines(access, now=moment)
        document = icalendar.Calendar()
        document.add("prodid", PRODID)
        document.add("version", "2.0")
        document.add("calscale", "GREGORIAN")
        document.add("method", "PUBLISH")
        document.add(
            "x-wr-calname",
            _("Rantai: my deadlines in %(organisation)s")
            % {"organisation": organisation.name},
        )
        document.add("x-wr-timezone", organisation.time_zone)
        for deadline in found:
            document.add_component(_event(deadline, moment))
    _note_read(feed, moment)
    return document.to_ical()


def _event(deadline: Deadline, now: dt.datetime) -> icalendar.Event:
    event = icalendar.Event()
    event.add("uid", deadline.uid)
    event.add("dtstamp", now.astimezone(dt.UTC))
    if isinstance(deadline.due, dt.datetime):
        due = deadline.due.astimezone(dt.UTC)
        # A deadline is a moment: the event starts and ends there.
        event.add("dtstart", due)
        event.add("dtend", due)
    else:
        event.add("dtstart", deadline.due)
        event.add("dtend", deadline.due + dt.timedelta(days=1))
        event.add("transp", "TRANSPARENT")
    event.add("summary", _summary(deadline))
    event.add("description", deadline.description)
    event.add("url", _absolute(deadline.url))
    event.add("categories", [str(deadline.kind)])
    return event


def _note_read(feed: CalendarFeed, now: dt.datetime) -> None:
    """`last_used_at`, at most once an hour: a conditional UPDATE, so programs
    polling at once write it once."""
    if feed.last_used_at is not None and now - feed.last_used_at < LAST_USED_EVERY:
        return
    changed = (
        CalendarFeed.objects.filter(pk=feed.pk, revoked_at__isnull=True)
        .filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lte=now - LAST_USED_EVERY)
        )
        .update(last_used_at=now)
    )
    if changed:
        feed.last_used_at = now
