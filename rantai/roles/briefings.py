"""Role briefings (docs/design-roles.md, "Briefings"): each person's roles in plain
language, frozen when issued, acknowledged by the person.

* Issued when a procedure version is published (`issue_for_version`: one briefing
  per person holding, that day, a position with a role in it) and when someone
  starts holding a position (`issue_for_holding`: the position's job description
  and its roles in every published version; from the org `HoldersChanged` hook,
  for the holdings of the changed positions that are current or start later,
  have no briefing and whose person was not briefed about the position yet). A
  holding whose position has no role in a published version gets none: a role
  briefing without roles has nothing to say (the job description alone is on
  the position's page).
* The content is plain data with frozen titles (below), so a later edit of a
  procedure or a position does not change what was acknowledged; `render` turns
  it into sentences in the reader's language and `pdf` prints it for onboarding.
* The person acknowledges their own briefing (`acknowledge`). The process owner
  (or an administrator) reminds (`remind`); a timer (`TimerKind.BRIEFING`) reminds
  every `briefing_reminder_days` until acknowledged, at most three times.

Content::

    {"positions": [{"id", "code", "title", "acting"}],
     "job_description": {"<position id>": ["duty title", ...]},
     "roles": [{"procedure", "procedure_code", "version", "version_id", "step",
                "step_key", "role" (R/A/C/I), "position", "position_id", "does",
                "hands_over_to": [{"step", "responsible"}], "receives_from": [...],
                "approved_by" (the accountable position's title, or ""),
                "approval_route" (bool: the step's completion needs an approval),
                "evidence": {"description", "required"},
                "responsible", "consulted": [titles], "informed": [titles]}]}
"""

from __future__ import annotations

import datetime as dt
import io
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any
from xml.sax.saxutils import escape

from django.conf import settings
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import formats, timezone, translation
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.approvals import timers
from rantai.approvals.models import TimeoutAction, Timer, TimerKind, TimerStatus
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains import extensions
from rantai.chains.models import (
    ProcedureVersion,
    RaciRole,
    Step,
    StepDependency,
    StepRole,
    VersionStatus,
)
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.notifications import events, services, webhooks
from rantai.org import extensions as org_extensions
from rantai.org.models import Duty, Holding, Person
from rantai.roles import policy
from rantai.roles.models import Briefing, BriefingReason

__all__ = [
    "MAX_AUTOMATIC_REMINDERS",
    "BriefingStatus",
    "Section",
    "acknowledge",
    "briefing_path",
    "briefing_timer_rule",
    "issue_for_holding",
    "issue_for_version",
    "on_holders_changed",
    "on_version_published",
    "pdf",
    "remind",
    "render",
    "status_of_version",
]

MAX_AUTOMATIC_REMINDERS = 3
PDF_CONTENT_TYPE = "application/pdf"
_NAMESPACE = uuid.UUID("5d1c7b8a-2f4e-4b6a-8c3d-9e0f1a2b3c4d")
_ROLE_ORDER = {
    RaciRole.RESPONSIBLE: 0,
    RaciRole.ACCOUNTABLE: 1,
    RaciRole.CONSULTED: 2,
    RaciRole.INFORMED: 3,
}


# --- helpers ----------------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    moment = now or timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("now must be timezone-aware")
    return moment


def _local_date(organisation: Organisation, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


def briefing_path(briefing: Briefing) -> str:
    return f"/o/{briefing.organisation.slug}/briefings/{briefing.pk}/"


def _absolute(path: str) -> str:
    return settings.RANTAI_BASE_URL.rstrip("/") + path


def _membership(organisation_id: int, user: User | None) -> Membership | None:
    if user is None or not user.is_active:
        return None
    return Membership.objects.filter(
        organisation_id=organisation_id, user_id=user.pk, is_active=True
    ).first()


def _person_of(organisation_id: int, user: User | None) -> Person | None:
    if user is None:
        return None
    return Person.objects.filter(
        organisation_id=organisation_id, user_id=user.pk, is_active=True
    ).first()


# --- the content ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Held:
    position_id: int
    code: str
    title: str
    acting: bool


def _responsible_title(role: StepRole) -> str:
    if role.position is not None:
        return role.position.title
    return role.party.name if role.party is not None else ""


def _roles_content(
    positions: Sequence[_Held], versions: Q
) -> tuple[list[dict[str, Any]], dict[str, list[str]]]:
    """The roles of the positions in the versions (a filter on `StepRole`'s step)
    and the positions' job descriptions, as frozen plain data; a fixed number of
    queries."""
    position_ids = [held.position_id for held in positions]
    own = list(
        StepRole.objects.filter(versions, position_id__in=position_ids)
        .select_related(
            "step", "step__procedure_version", "step__procedure_version__procedure"
        )
        .order_by("step_id", "role", "id")
    )
    step_ids = {role.step_id for role in own}
    links = list(
        StepDependency.objects.filter(
            Q(predecessor_id__in=step_ids) | Q(successor_id__in=step_ids)
        ).select_related("predecessor", "successor")
    )
    neighbours = {link.predecessor_id for link in links} | {
        link.successor_id for link in links
    }
    rows_of: dict[int, list[StepRole]] = defaultdict(list)
    for row in StepRole.objects.filter(
        step_id__in=step_ids | neighbours
    ).select_related("position", "party"):
        rows_of[row.step_id].append(row)
    after: dict[int, list[Step]] = defaultdict(list)
    before: dict[int, list[Step]] = defaultdict(list)
    for link in links:
        after[link.predecessor_id].append(link.successor)
        before[link.successor_id].append(link.predecessor)

    def titles(step_id: int, role: str) -> list[str]:
        return sorted(
            {
                _responsible_title(row)
                for row in rows_of[step_id]
                if row.role == role and (row.position or row.party)
            }
        )

    def neighbour(step: Step) -> dict[str, str]:
        return {
            "step": step.name,
            "responsible": ", ".join(titles(step.pk, RaciRole.RESPONSIBLE)),
        }

    held = {h.position_id: h for h in positions}
    roles: list[dict[str, Any]] = []
    for role in own:
        if role.position_id is None:  # filtered on positions: never
            continue
        step = role.step
        version = step.procedure_version
        accountable = titles(step.pk, RaciRole.ACCOUNTABLE)
        roles.append(
            {
                "procedure": version.procedure.name,
                "procedure_code": version.procedure.code,
                "version": version.number,
                "version_id": version.pk,
                "step": step.name,
                "step_key": step.key,
                "sort_order": step.sort_order,
                "role": role.role,
                "position": held[role.position_id].title,
                "position_id": role.position_id,
                "does": step.description,
                "responsible": ", ".join(titles(step.pk, RaciRole.RESPONSIBLE)),
                "hands_over_to": [
                    neighbour(s)
                    for s in sorted(after[step.pk], key=lambda s: (s.sort_order, s.pk))
                ],
                "receives_from": [
                    neighbour(s)
                    for s in sorted(before[step.pk], key=lambda s: (s.sort_order, s.pk))
                ],
                "approved_by": accountable[0] if accountable else "",
                "approval_route": bool(step.requires_approval),
                "evidence": {
                    "description": step.evidence_description,
                    "required": bool(step.requires_evidence),
                },
                "consulted": titles(step.pk, RaciRole.CONSULTED),
                "informed": titles(step.pk, RaciRole.INFORMED),
            }
        )
    roles.sort(
        key=lambda r: (
            r["procedure"],
            r["procedure_code"],
            r["version"],
            r["sort_order"],
            r["step_key"],
            _ROLE_ORDER.get(r["role"], 9),
            r["position"],
        )
    )
    for entry in roles:
        del entry["sort_order"]
    job: dict[str, list[str]] = {str(pk): [] for pk in position_ids}
    for position_id, title in (
        Duty.objects.filter(position_id__in=position_ids, is_active=True)
        .order_by("position_id", "sort_order", "id")
        .values_list("position_id", "title")
    ):
        job[str(position_id)].append(title)
    return roles, job


def _content(positions: Sequence[_Held], versions: Q) -> dict[str, Any]:
    roles, job = _roles_content(positions, versions)
    return {
        "positions": [
            {
                "id": held.position_id,
                "code": held.code,
                "title": held.title,
                "acting": held.acting,
            }
            for held in positions
        ],
        "job_description": job,
        "roles": roles,
    }


# --- issuing ----------------------------------------------------------------------------


def _holdings_by_person(holdings: Iterable[Holding]) -> dict[int, list[_Held]]:
    """{person id: the positions they hold}, acting when every holding of the
    position is an acting one."""
    found: dict[int, dict[int, _Held]] = defaultdict(dict)
    for holding in holdings:
        position = holding.position
        known = found[holding.person_id].get(position.pk)
        acting = holding.is_acting and (known is None or known.acting)
        found[holding.person_id][position.pk] = _Held(
            position.pk, position.code, position.title, acting
        )
    return {
        person_id: sorted(by_position.values(), key=lambda h: (h.title, h.position_id))
        for person_id, by_position in found.items()
    }


@transaction.atomic
def issue_for_version(
    version: ProcedureVersion,
    *,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> list[Briefing]:
    """One briefing per person who holds (today, acting included) a position with
    a role in the published version and has none for it yet; the briefings
    issued (audited `briefed` on the version, once per batch; each person with a
    login is notified and reminded later)."""
    now = _now(now)
    version = ProcedureVersion.objects.select_related("organisation", "procedure").get(
        pk=version.pk
    )
    if version.status != VersionStatus.PUBLISHED:
        raise ValidationFailed(
            _("Briefings are issued for published versions only."),
            code="not_published",
        )
    organisation = version.organisation
    position_ids = set(
        StepRole.objects.filter(
            step__procedure_version_id=version.pk, position__isnull=False
        ).values_list("position_id", flat=True)
    )
    holdings = (
        Holding.objects.current(_local_date(organisation, now))
        .filter(
            organisation_id=organisation.pk,
            position_id__in=position_ids,
            person__is_active=True,
        )
        .exclude(
            person__briefings__procedure_version_id=version.pk,
        )
        .select_related("position")
        .order_by("person_id", "position_id", "id")
    )
    by_person = _holdings_by_person(holdings)
    if not by_person:
        return []
    every = [held for helds in by_person.values() for held in helds]
    unique = list({held.position_id: held for held in every}.values())
    in_version = Q(step__procedure_version_id=version.pk)
    roles, job = _roles_content(unique, in_version)
    made: list[Briefing] = []
    for person_id in sorted(by_person):
        helds = by_person[person_id]
        mine = {held.position_id for held in helds}
        content = {
            "positions": [
                {
                    "id": held.position_id,
                    "code": held.code,
                    "title": held.title,
                    "acting": held.acting,
                }
                for held in helds
            ],
            "job_description": {str(pk): job[str(pk)] for pk in sorted(mine)},
            "roles": [r for r in roles if r["position_id"] in mine],
        }
        made.append(
            Briefing(
                organisation_id=organisation.pk,
                person_id=person_id,
                reason=BriefingReason.VERSION_PUBLISHED,
                procedure_version_id=version.pk,
                content=content,
                issued_at=now,
                created_at=now,
                updated_at=now,
            )
        )
    for briefing in made:
        briefing.save()
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.BRIEFED,
        target=version,
        changes={
            "reason": BriefingReason.VERSION_PUBLISHED,
            "briefings": [b.pk for b in made],
            "people": [b.person_id for b in made],
        },
    )
    _announce(organisation, made, version=version, now=now)
    return made


@transaction.atomic
def issue_for_holding(
    holding: Holding,
    *,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> Briefing | None:
    """The briefing of someone who holds (or will hold) a position: its job
    description and its roles in every published version. None when the holding
    already has one, its person is inactive or the position has no role in a
    published version."""
    now = _now(now)
    holding = Holding.objects.select_related("organisation", "position", "person").get(
        pk=holding.pk
    )
    if (
        not holding.person.is_active
        or Briefing.objects.filter(holding_id=holding.pk).exists()
    ):
        return None
    organisation = holding.organisation
    position = holding.position
    held = _Held(position.pk, position.code, position.title, holding.is_acting)
    content = _content(
        [held],
        Q(
            step__procedure_version__organisation_id=organisation.pk,
            step__procedure_version__status=VersionStatus.PUBLISHED,
        ),
    )
    if not content["roles"]:
        return None
    briefing = Briefing(
        organisation_id=organisation.pk,
        person_id=holding.person_id,
        reason=BriefingReason.STARTED_HOLDING,
        holding_id=holding.pk,
        content=content,
        issued_at=now,
        created_at=now,
        updated_at=now,
    )
    briefing.save()
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.BRIEFED,
        target=briefing,
        changes={
            "reason": BriefingReason.STARTED_HOLDING,
            "briefings": [briefing.pk],
            "people": [holding.person_id],
            "holding": holding.pk,
        },
    )
    _announce(organisation, [briefing], version=None, now=now)
    return briefing


def on_version_published(event: extensions.VersionPublished) -> None:
    version = ProcedureVersion.objects.get(pk=event.version_id)
    actor = (
        None
        if event.actor_id is None
        else User.objects.filter(pk=event.actor_id).first()
    )
    issue_for_version(version, actor=actor, now=event.at)


def on_holders_changed(event: org_extensions.HoldersChanged) -> None:
    """Brief the holdings of the changed positions that are current or start
    later and have no briefing yet — unless the person was already briefed about
    the position (a holder briefed when a version was published is not briefed
    again because someone else joined the position)."""
    if not event.position_ids:
        return
    organisation = Organisation.objects.get(pk=event.organisation_id)
    today = _local_date(organisation, event.at)
    holdings = (
        Holding.objects.filter(
            organisation_id=organisation.pk,
            position_id__in=event.position_ids,
            person__is_active=True,
        )
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=today))
        .filter(~Exists(Briefing.objects.filter(holding_id=OuterRef("pk"))))
        .order_by("id")
    )
    found = list(holdings.values_list("pk", "person_id", "position_id"))
    if not found:
        return
    briefed = _positions_briefed({person_id for _pk, person_id, _pos in found})
    for pk, person_id, position_id in found:
        if position_id in briefed.get(person_id, set()):
            continue  # already briefed about the position (e.g. at a publication)
        issue_for_holding(Holding(pk=pk), now=event.at)


def _positions_briefed(person_ids: Iterable[int]) -> dict[int, set[int]]:
    """{person id: the positions their briefings are about}, one query."""
    found: dict[int, set[int]] = defaultdict(set)
    for person_id, content in Briefing.objects.filter(
        person_id__in=sorted(person_ids)
    ).values_list("person_id", "content"):
        for position in (content or {}).get("positions", []):
            found[person_id].add(position.get("id"))
    return found


def _version_data(version: ProcedureVersion | None) -> dict[str, Any] | None:
    if version is None:
        return None
    return {
        "procedure": version.procedure.code,
        "name": version.procedure.name,
        "number": version.number,
    }


def _briefing_data(briefing: Briefing) -> dict[str, Any]:
    return {
        "id": briefing.pk,
        "reason": briefing.reason,
        "issued_at": briefing.issued_at,
        "url": _absolute(briefing_path(briefing)),
    }


def _positions_data(briefing: Briefing) -> list[dict[str, Any]]:
    return [
        {"id": p["id"], "code": p["code"], "title": p["title"]}
        for p in briefing.content.get("positions", [])
    ]


def _publish(organisation: Organisation, event_type: str, key: str, data: Any) -> None:
    event_id = uuid.uuid5(_NAMESPACE, f"{organisation.pk}:{key}")
    webhooks.publish(
        organisation,
        event_type=event_type,
        payload=lambda: events.build(
            organisation, event_type, data(), event_id=event_id
        ),
        event_id=event_id,
    )


def _title_of(briefing: Briefing, version: ProcedureVersion | None) -> Any:
    if version is not None:
        return format_lazy(
            gettext_lazy("Your roles in {procedure} (version {number})"),
            procedure=version.procedure.name,
            number=version.number,
        )
    titles = ", ".join(p["title"] for p in briefing.content.get("positions", []))
    return format_lazy(gettext_lazy("Your roles as {position}"), position=titles)


def _announce(
    organisation: Organisation,
    briefings: Sequence[Briefing],
    *,
    version: ProcedureVersion | None,
    now: dt.datetime,
) -> None:
    """Tell each person with a login (`briefing.issued`) and set their first
    reminder."""
    if not briefings:
        return
    people = {
        person.pk: person
        for person in Person.objects.filter(
            pk__in=[b.person_id for b in briefings]
        ).select_related("user")
    }
    days = policy.settings_for(organisation).briefing_reminder_days
    for briefing in briefings:
        briefing.organisation = organisation
        person = people[briefing.person_id]
        key = f"briefing:{briefing.pk}:issued"
        if person.user is not None:
            services.notify(
                organisation,
                recipients=[person.user],
                event_type=events.BRIEFING_ISSUED,
                key=key,
                title=_title_of(briefing, version),
                body=gettext_lazy("Read what you do and acknowledge it."),
                url=briefing_path(briefing),
                now=now,
            )
            timers.schedule(
                organisation.pk,
                kind=TimerKind.BRIEFING,
                subject_id=briefing.pk,
                deadline=now + dt.timedelta(days=days),
                action=TimeoutAction.REMIND,
            )
        _publish(
            organisation,
            events.BRIEFING_ISSUED,
            key,
            lambda briefing=briefing, person=person: {
                "briefing": _briefing_data(briefing),
                "person": {"id": person.pk, "name": person.full_name},
                "procedure_version": _version_data(version),
                "positions": _positions_data(briefing),
            },
        )


# --- acknowledging and reminding --------------------------------------------------------


def _locked(briefing: Briefing) -> Briefing:
    found = (
        Briefing.objects.select_for_update(of=("self",))
        .select_related(
            "organisation",
            "person",
            "person__user",
            "procedure_version",
            "procedure_version__procedure",
            "holding",
        )
        .filter(pk=briefing.pk)
        .first()
    )
    if found is None:
        raise NotFound()
    return found


@transaction.atomic
def acknowledge(
    briefing: Briefing,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Briefing:
    """The person confirms they read their briefing: only their own login;
    compare-and-set, audited `acknowledged`; the reminders stop."""
    now = _now(now)
    if _membership(briefing.organisation_id, actor) is None:
        raise NotFound()
    locked = _locked(briefing)
    if locked.person.user_id != actor.pk or not locked.person.is_active:
        raise PermissionDenied(_("Only the person briefed can acknowledge it."))
    if locked.acknowledged_at is not None:
        raise ValidationFailed(
            _("This briefing is already acknowledged."), code="acknowledged"
        )
    compare_and_set(
        locked,
        expected_version=expected_version,
        fields={"acknowledged_at": now, "acknowledged_by": actor, "updated_at": now},
    )
    timers.cancel(TimerKind.BRIEFING, locked.pk, now=now)
    audit.record(
        locked.organisation,
        actor=actor,
        verb=AuditVerb.ACKNOWLEDGED,
        target=locked,
        changes={
            "person": locked.person_id,
            "procedure_version": locked.procedure_version_id,
            "holding": locked.holding_id,
        },
    )
    return locked


def may_remind(briefing: Briefing, user: User | None) -> bool:
    """Administrators; for a version's briefing the holders of its procedure's
    owner position; for a holding's briefing the holders of the position's
    superior."""
    membership = _membership(briefing.organisation_id, user)
    if membership is None or membership.role not in (Role.ADMIN, Role.MEMBER):
        return False
    if membership.role == Role.ADMIN:
        return True
    person = _person_of(briefing.organisation_id, user)
    if person is None:
        return False
    if briefing.procedure_version_id is not None:
        position_id = (
            ProcedureVersion.objects.filter(pk=briefing.procedure_version_id)
            .values_list("procedure__owner_position_id", flat=True)
            .first()
        )
    elif briefing.holding_id is not None:
        position_id = (
            Holding.objects.filter(pk=briefing.holding_id)
            .values_list("position__superior_id", flat=True)
            .first()
        )
    else:
        return False
    if position_id is None:
        return False
    today = _local_date(briefing.organisation, timezone.now())
    return (
        Holding.objects.current(today)
        .filter(position_id=position_id, person_id=person.pk)
        .exists()
    )


@transaction.atomic
def remind(
    briefing: Briefing, *, actor: User, now: dt.datetime | None = None
) -> Briefing:
    """Remind the person to acknowledge their briefing (`briefing.reminder`):
    the process owner or an administrator (see `may_remind`); counts the
    reminders, audited `reminded`."""
    now = _now(now)
    if _membership(briefing.organisation_id, actor) is None:
        raise NotFound()
    locked = _locked(briefing)
    if not may_remind(locked, actor):
        raise PermissionDenied(
            _("Only the process owner or an administrator can send a reminder.")
        )
    if locked.acknowledged_at is not None:
        raise ValidationFailed(
            _("This briefing is already acknowledged."), code="acknowledged"
        )
    if locked.person.user is None or not locked.person.is_active:
        raise ValidationFailed(
            _("%(person)s has no login: hand them the printed briefing.")
            % {"person": locked.person.full_name},
            code="no_login",
        )
    _send_reminder(locked, actor=actor, now=now)
    return locked


def _send_reminder(briefing: Briefing, *, actor: User | None, now: dt.datetime) -> int:
    """Count one reminder, notify the person and audit it; the reminder's
    number."""
    number = briefing.reminders_sent + 1
    compare_and_set(
        briefing,
        expected_version=None,
        fields={"reminders_sent": number, "last_reminded_at": now, "updated_at": now},
    )
    organisation = briefing.organisation
    version = briefing.procedure_version
    person = briefing.person
    reminded_by = _person_of(organisation.pk, actor)
    key = f"briefing:{briefing.pk}:reminder:{number}"
    services.notify(
        organisation,
        recipients=[person.user] if person.user is not None else [],
        event_type=events.BRIEFING_REMINDER,
        key=key,
        title=format_lazy(
            gettext_lazy("Please acknowledge your briefing: {title}"),
            title=_title_of(briefing, version),
        ),
        url=briefing_path(briefing),
        now=now,
    )
    _publish(
        organisation,
        events.BRIEFING_REMINDER,
        key,
        lambda: {
            "briefing": _briefing_data(briefing),
            "person": {"id": person.pk, "name": person.full_name},
            "procedure_version": _version_data(version),
            "reminder": number,
            "reminded_by": (
                None
                if reminded_by is None
                else {"id": reminded_by.pk, "name": reminded_by.full_name}
            ),
        },
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.REMINDED,
        target=briefing,
        changes={"reminder": number, "automatic": actor is None},
    )
    return number


def briefing_timer_rule(timer: Timer, now: dt.datetime) -> str:
    """Remind automatically while the briefing is not acknowledged, every
    `briefing_reminder_days`, at most `MAX_AUTOMATIC_REMINDERS` times; "" when it
    was acknowledged (or its person can no longer be reached)."""
    try:
        briefing = _locked(Briefing(pk=timer.subject_id))
    except NotFound:
        return ""
    if briefing.acknowledged_at is not None:
        return ""
    person = briefing.person
    if person.user is None or not person.is_active:
        return ""
    automatic = (
        Timer.objects.filter(
            kind=TimerKind.BRIEFING,
            subject_id=briefing.pk,
            status=TimerStatus.FIRED,
        ).count()
        + 1
    )
    if automatic > MAX_AUTOMATIC_REMINDERS:
        return ""
    number = _send_reminder(briefing, actor=None, now=now)
    if automatic < MAX_AUTOMATIC_REMINDERS:
        days = policy.settings_for(briefing.organisation).briefing_reminder_days
        timers.schedule(
            briefing.organisation_id,
            kind=TimerKind.BRIEFING,
            subject_id=briefing.pk,
            deadline=timer.deadline + dt.timedelta(days=days),
            action=TimeoutAction.REMIND,
        )
    return f"reminder {number} sent"


# --- reading ------------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class BriefingStatus:
    """One person's briefing of a version: issued, acknowledged, reminded."""

    briefing_id: int
    person_id: int
    person_name: str
    has_login: bool
    issued_at: dt.datetime
    acknowledged_at: dt.datetime | None
    reminders: int
    last_reminded_at: dt.datetime | None


def status_of_version(version: ProcedureVersion) -> list[BriefingStatus]:
    """Who was briefed on the version and who acknowledged, by name; one
    query."""
    return [
        BriefingStatus(
            briefing_id=b.pk,
            person_id=b.person_id,
            person_name=b.person.full_name,
            has_login=b.person.user_id is not None,
            issued_at=b.issued_at,
            acknowledged_at=b.acknowledged_at,
            reminders=b.reminders_sent,
            last_reminded_at=b.last_reminded_at,
        )
        for b in Briefing.objects.filter(procedure_version_id=version.pk)
        .select_related("person")
        .order_by("person__full_name", "person_id")
    ]


# --- plain language -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Section:
    title: str
    sentences: tuple[str, ...]


def _quoted(text: str) -> str:
    return _("“%(text)s”") % {"text": text}


def _listed(items: Sequence[str]) -> str:
    """ "a", "a and b", "a, b and c" in the active language."""
    items = [item for item in items if item]
    if len(items) <= 1:
        return "".join(items)
    return _("%(first)s and %(last)s") % {
        "first": ", ".join(items[:-1]),
        "last": items[-1],
    }


def _neighbours(rows: Sequence[dict[str, str]]) -> str:
    return _listed(
        [
            _("%(step)s (%(who)s)")
            % {"step": _quoted(row["step"]), "who": row["responsible"]}
            if row.get("responsible")
            else _quoted(row["step"])
            for row in rows
        ]
    )


def _role_sentences(role: dict[str, Any]) -> list[str]:
    step = _quoted(role["step"])
    position = role["position"]
    code = role["role"]
    sentences: list[str] = []
    if code == RaciRole.RESPONSIBLE:
        sentences.append(
            _("You are responsible for %(step)s (as %(position)s).")
            % {"step": step, "position": position}
        )
        if role.get("does"):
            sentences.append(_("What you do: %(does)s") % {"does": role["does"]})
        if role.get("receives_from"):
            sentences.append(
                _("You receive the work from %(steps)s.")
                % {"steps": _neighbours(role["receives_from"])}
            )
        if role.get("hands_over_to"):
            sentences.append(
                _("You hand over to %(steps)s.")
                % {"steps": _neighbours(role["hands_over_to"])}
            )
        else:
            sentences.append(_("Nothing follows it: it ends the procedure."))
        if role.get("approval_route"):
            sentences.append(_("Its completion goes through an approval route."))
        if role.get("approved_by"):
            sentences.append(
                _("%(position)s approves.") % {"position": role["approved_by"]}
            )
        evidence = role.get("evidence") or {}
        if evidence.get("required"):
            sentences.append(
                _("Evidence you owe: %(evidence)s.")
                % {
                    "evidence": evidence.get("description")
                    or _("a record that the work was done")
                }
            )
        elif evidence.get("description"):
            sentences.append(
                _("Evidence to keep (not required): %(evidence)s.")
                % {"evidence": evidence["description"]}
            )
        if role.get("consulted"):
            sentences.append(
                _("Ask %(positions)s for their input before you complete it.")
                % {"positions": _listed(role["consulted"])}
            )
        if role.get("informed"):
            sentences.append(
                _("%(positions)s will be told when it is done.")
                % {"positions": _listed(role["informed"])}
            )
    elif code == RaciRole.ACCOUNTABLE:
        sentences.append(
            _(
                "You are accountable for %(step)s (as %(position)s): %(responsible)s "
                "does it; you approve it, receive its escalations when it is late "
                "and confirm its deviations."
            )
            % {
                "step": step,
                "position": position,
                "responsible": role.get("responsible") or _("its responsible"),
            }
        )
        if role.get("approval_route"):
            sentences.append(_("Its completion goes through an approval route."))
    elif code == RaciRole.CONSULTED:
        sentences.append(
            _(
                "You are consulted on %(step)s (as %(position)s): give your input "
                "when %(responsible)s asks for it."
            )
            % {
                "step": step,
                "position": position,
                "responsible": role.get("responsible") or _("its responsible"),
            }
        )
    elif code == RaciRole.INFORMED:
        sentences.append(
            _("You are told when %(step)s is done (as %(position)s).")
            % {"step": step, "position": position}
        )
    return sentences


def render(briefing: Briefing) -> list[Section]:
    """The briefing as sections of plain sentences in the active language: the
    positions, the job description, then each procedure version's roles."""
    content = briefing.content or {}
    positions = content.get("positions", [])
    sections: list[Section] = []
    held: list[str] = []
    for position in positions:
        if position.get("acting"):
            held.append(
                _("You are acting %(position)s (Plt).")
                % {"position": position["title"]}
            )
        else:
            held.append(
                _("You hold the position %(position)s.")
                % {"position": position["title"]}
            )
    sections.append(Section(_("Your positions"), tuple(held)))
    job = content.get("job_description", {})
    duties: list[str] = []
    for position in positions:
        titles = job.get(str(position["id"]), [])
        if titles:
            duties.append(
                _("As %(position)s: %(duties)s.")
                % {"position": position["title"], "duties": "; ".join(titles)}
            )
        else:
            duties.append(
                _("The job description of %(position)s lists no duties yet.")
                % {"position": position["title"]}
            )
    sections.append(Section(_("Your job description"), tuple(duties)))
    grouped: dict[tuple[str, str, int], list[dict[str, Any]]] = {}
    for role in content.get("roles", []):
        grouped.setdefault(
            (role["procedure"], role["procedure_code"], role["version"]), []
        ).append(role)
    if not grouped:
        sections.append(
            Section(
                _("Your roles"),
                (_("Your positions have no role in a published procedure yet."),),
            )
        )
    for (procedure, code, number), roles in grouped.items():
        sentences: list[str] = []
        for role in roles:
            sentences.extend(_role_sentences(role))
        sections.append(
            Section(
                _("%(procedure)s (%(code)s), version %(number)d")
                % {"procedure": procedure, "code": code, "number": number},
                tuple(sentences),
            )
        )
    return sections


def heading(briefing: Briefing) -> str:
    """The briefing's title in the active language."""
    if briefing.procedure_version_id is not None:
        version = briefing.procedure_version
        assert version is not None
        return _("Your roles in %(procedure)s (version %(number)d)") % {
            "procedure": version.procedure.name,
            "number": version.number,
        }
    titles = ", ".join(p["title"] for p in briefing.content.get("positions", []))
    return _("Your roles as %(position)s") % {"position": titles}


# --- the printable briefing -------------------------------------------------------------


def pdf(briefing: Briefing, *, language: str | None = None) -> bytes:
    """The briefing as an A4 PDF for onboarding (the workload report's fonts and
    styles): heading, the sections of `render`, and the acknowledgement (when and
    by whom) or a line to sign."""
    from reportlab.lib.pagesizes import A4
    from reportlab.lib.units import mm
    from reportlab.platypus import Paragraph, SimpleDocTemplate, Spacer

    briefing = Briefing.objects.select_related(
        "organisation", "person", "procedure_version__procedure", "acknowledged_by"
    ).get(pk=briefing.pk)
    styles = _styles()
    buffer = io.BytesIO()
    organisation = briefing.organisation
    with translation.override(language or translation.get_language()):
        title = heading(briefing)
        document = SimpleDocTemplate(
            buffer,
            pagesize=A4,
            leftMargin=18 * mm,
            rightMargin=18 * mm,
            topMargin=18 * mm,
            bottomMargin=18 * mm,
            title=title,
            author=organisation.name,
            creator="Rantai",
        )
        story: list[Any] = [
            Paragraph(escape(_("Role briefing")), styles["title"]),
            Paragraph(escape(organisation.name), styles["centre"]),
            Spacer(1, 4 * mm),
            Paragraph(escape(title), styles["h2"]),
            Paragraph(
                escape(
                    _("For %(person)s, issued %(date)s (%(reason)s).")
                    % {
                        "person": briefing.person.full_name,
                        "date": _local_day(organisation, briefing.issued_at),
                        "reason": briefing.get_reason_display(),
                    }
                ),
                styles["base"],
            ),
        ]
        for section in render(briefing):
            story.append(Paragraph(escape(section.title), styles["h2"]))
            for sentence in section.sentences:
                story.append(Paragraph(escape(sentence), styles["base"]))
                story.append(Spacer(1, 1 * mm))
        story.append(Spacer(1, 8 * mm))
        if briefing.acknowledged_at is not None:
            story.append(
                Paragraph(
                    escape(
                        _("Acknowledged by %(person)s on %(date)s.")
                        % {
                            "person": briefing.person.full_name,
                            "date": _local_day(organisation, briefing.acknowledged_at),
                        }
                    ),
                    styles["base"],
                )
            )
        else:
            story.append(
                Paragraph(
                    escape(_("I have read and understood my roles.")), styles["base"]
                )
            )
            story.append(Spacer(1, 12 * mm))
            story.append(
                Paragraph(
                    escape(_("Signature: ______________________   Date: ____________")),
                    styles["base"],
                )
            )
        footer = f"{title} — {briefing.person.full_name}"
        page_label = _("Page %(page)d")

        def decorate(canvas: Any, doc: Any) -> None:
            canvas.saveState()
            canvas.setFont("Helvetica", 7)
            canvas.drawString(doc.leftMargin, 8 * mm, footer)
            canvas.drawRightString(
                doc.leftMargin + doc.width, 8 * mm, page_label % {"page": doc.page}
            )
            canvas.restoreState()

        document.build(story, onFirstPage=decorate, onLaterPages=decorate)
    return buffer.getvalue()


def _styles() -> dict[str, Any]:
    """The workload report's fonts and sizes (Helvetica, 9 pt body)."""
    from reportlab.lib.enums import TA_CENTER
    from reportlab.lib.styles import ParagraphStyle

    base = ParagraphStyle("base", fontName="Helvetica", fontSize=9, leading=11)
    return {
        "base": base,
        "title": ParagraphStyle(
            "title",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=14,
            leading=18,
            alignment=TA_CENTER,
        ),
        "centre": ParagraphStyle("centre", parent=base, alignment=TA_CENTER),
        "h2": ParagraphStyle(
            "h2",
            parent=base,
            fontName="Helvetica-Bold",
            fontSize=10,
            leading=13,
            spaceBefore=6,
            spaceAfter=3,
        ),
    }


def _local_day(organisation: Organisation, moment: dt.datetime) -> str:
    local = moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()
    return formats.date_format(local, "j F Y")
