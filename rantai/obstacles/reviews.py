"""Blameless reviews (evaluasi) of runs (docs/design-obstacles.md, "Blameless
reviews").

* **Opened** automatically when a run completes after its due date (the run
  completed handler, trigger `missed_target`) and when a severe obstacle is
  resolved (`severe_obstacle`, called by `obstacles.resolve`), or on request by a
  member or an administrator (`requested`). Opening is idempotent: one review per
  run and trigger (per obstacle for a severe obstacle); a request for a run whose
  missed target is already being reviewed answers with that review. The internal
  participants of the run — the assignees of its tasks, the holders of their
  accountable positions and of the procedure's owner position — are told
  (`review.opened`).
* **Contributing factors** are attributed to a step, the procedure's design, a
  party, a handover between two steps or outside conditions; there is no field
  for a person. `blame_hints` finds names of the organisation's people and
  blaming words (English and Indonesian); text with hints is refused unless the
  writer keeps it as written (`keep_as_written=True`).
* **Action items** have an owner (a person, told with `review.action_assigned`)
  and may propose a change to the procedure (its step, or the whole procedure):
  such proposals are offered to the procedure's draft version
  (`proposals_for_version`) and marked taken into it (`apply_proposals`).
* **Completing** needs at least one factor and one action item; a completed
  review no longer changes (its action items can still be done).
* **Timeline**: assembled when read from the audit trail of the run, its tasks and
  deviations, its obstacles and their mitigations, its information records and
  its approval requests — in order, each as a plain sentence in the reader's
  language (a fixed number of statements, whatever the number of events).

Admins and members write reviews; auditors and partners read them (a partner
only what concerns its own party, `review_queries.py`). Every change is audited;
free text goes to the redactable half of the event (it may describe a person).
"""

from __future__ import annotations

import datetime as dt
import re
import uuid
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, transaction
from django.db.models import Max, Q, QuerySet
from django.utils import timezone
from django.utils.text import capfirst, format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.approvals.models import ApprovalRequest
from rantai.audit import queries as audit_queries
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.models import (
    Deviation,
    ProcedureVersion,
    Run,
    RunResult,
    Step,
    Task,
    TaskDependency,
    VersionStatus,
)
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.evidence.models import InformationRecord
from rantai.evidence.records import refuse_nul_characters
from rantai.notifications import events, services, webhooks
from rantai.obstacles.models import (
    ActionItem,
    ActionStatus,
    ContributingFactor,
    FactorArea,
    Mitigation,
    Obstacle,
    Review,
    ReviewStatus,
    ReviewTrigger,
)
from rantai.org.models import Holding, Party, PartyKind, Person

__all__ = [
    "BLAME_HINTS_CODE",
    "TimelineEntry",
    "add_action",
    "add_factor",
    "apply_proposals",
    "blame_hints",
    "complete_action",
    "complete_review",
    "on_run_completed",
    "open_review",
    "proposals_for_version",
    "remove_factor",
    "review_path",
    "timeline",
    "update_review",
]

# The code of the ValidationFailed raised for text with blame hints: the form
# shows the hints and offers "keep as written".
BLAME_HINTS_CODE = "blame_hints"

_NAMESPACE = uuid.UUID("6f0b7c1e-3d52-4a7e-8a9c-5b2e1d4f7a30")
_WRITERS = frozenset({Role.ADMIN, Role.MEMBER})


# --- shared helpers -----------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    moment = now or timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("now must be timezone-aware")
    return moment


def _local_date(organisation: Organisation, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


def _membership(organisation_id: int, user: User | None) -> Membership:
    """The actor's active membership (NotFound when there is none)."""
    if user is None or not user.is_active:
        raise NotFound()
    membership = Membership.objects.filter(
        organisation_id=organisation_id, user=user, is_active=True
    ).first()
    if membership is None:
        raise NotFound()
    return membership


def _require_writer(organisation_id: int, user: User | None) -> Membership:
    """Administrators and members write reviews; auditors and partners read."""
    membership = _membership(organisation_id, user)
    if membership.role not in _WRITERS:
        raise PermissionDenied(
            _("Only members and administrators can work on a review.")
        )
    return membership


def _lock_review(review: Review) -> Review:
    """The review row, locked; refused once the review is completed."""
    locked = (
        Review.objects.select_for_update(of=("self",))
        .select_related("organisation", "run", "run__procedure")
        .filter(pk=review.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    if locked.status != ReviewStatus.OPEN:
        raise ValidationFailed(
            _("This review is completed and can no longer change."),
            code="completed",
        )
    return locked


def _required_text(name: str, value: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed({name: [_("This field is required.")]})
    refuse_nul_characters(**{name: text})
    return text


def _absolute(path: str) -> str:
    return settings.RANTAI_BASE_URL.rstrip("/") + path


def review_path(review: Review) -> str:
    """Where a review is shown (inside Rantai)."""
    return f"/o/{review.organisation.slug}/reviews/{review.pk}/"


def _review_data(review: Review) -> dict[str, Any]:
    return {
        "id": review.pk,
        "trigger": review.trigger,
        "status": review.status,
        "url": _absolute(review_path(review)),
    }


def _run_data(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "title": run.title,
        "procedure": run.procedure.code,
        "due_at": run.due_at,
        "url": _absolute(f"/o/{run.organisation.slug}/runs/{run.pk}/"),
    }


def _publish(organisation: Organisation, event_type: str, key: str, data: Any) -> None:
    """Queue the webhook deliveries of one event (its id derived from `key`);
    `data` makes the payload data, called only when some endpoint subscribes."""
    event_id = uuid.uuid5(_NAMESPACE, f"{organisation.pk}:{key}")
    webhooks.publish(
        organisation,
        event_type=event_type,
        payload=lambda: events.build(
            organisation, event_type, data(), event_id=event_id
        ),
        event_id=event_id,
    )


def _users_of_people(organisation: Organisation, person_ids: Iterable[int]) -> Any:
    """The logins of the internal people among `person_ids`: people of no party or
    of an internal unit, whose login is not a partner's (lazy: one query, which
    `notify` runs)."""
    wanted = sorted({pk for pk in person_ids if pk is not None})
    internal_people = (
        Person.objects.filter(
            organisation=organisation,
            pk__in=wanted,
            is_active=True,
            user__isnull=False,
        )
        .exclude(party__kind=PartyKind.EXTERNAL_PARTNER)
        .values("user_id")
    )
    partners = Membership.objects.filter(
        organisation=organisation, is_active=True, role=Role.PARTNER
    ).values("user_id")
    return User.objects.filter(pk__in=internal_people).exclude(pk__in=partners)


def _participants(run: Run, *, now: dt.datetime) -> list[int]:
    """The people of the run: assignees of its tasks and the current holders of
    their accountable positions and of the procedure's owner position (two
    queries)."""
    people: set[int] = set()
    positions: set[int] = {run.procedure.owner_position_id}
    for assignee_id, accountable_id in Task.objects.filter(run_id=run.pk).values_list(
        "assignee_id", "accountable_position_id"
    ):
        if assignee_id is not None:
            people.add(assignee_id)
        positions.add(accountable_id)
    people.update(
        Holding.objects.current(_local_date(run.organisation, now))
        .filter(
            organisation_id=run.organisation_id,
            position_id__in=sorted(positions),
            person__is_active=True,
        )
        .values_list("person_id", flat=True)
    )
    return sorted(people)


# --- blame hints -----------------------------------------------------------------------


def _whole_word(pattern: str) -> str:
    return r"(?<!\w)(?:" + pattern + r")(?!\w)"


# Blaming words and phrases, English and Indonesian. Each names a person's
# character or guilt rather than a condition ("faulty" valves stay allowed).
_BLAME_PATTERNS = [
    # English
    r"(?:at\s+)?faults?",
    r"blam(?:e|ed|es|ing)",
    r"careless(?:ly|ness)?",
    r"negligen(?:t|tly|ce)",
    r"incompeten(?:t|ce)",
    r"(?:his|her|their|your)\s+(?:own\s+)?(?:mistakes?|errors?|faults?)",
    r"human\s+error",
    r"lazy|laziness",
    r"sloppy|sloppiness",
    r"culprits?",
    r"irresponsible",
    r"should\s+have\s+known",
    r"screw(?:ed)?\s+up",
    # Indonesian
    r"(?:ke)?lalai(?:an)?(?:nya)?|dilalaikan|melalaikan",
    # "salah satu" (one of) and "salah seorang" (someone) are not blame.
    r"salah(?:nya)?(?!\s+(?:satu|seorang)(?!\w))",
    r"kesalahan(?:nya)?",
    r"(?:di|me|ter)?(?:per)?salahkan|menyalahkan|dipersalahkan",
    r"(?:ke)?ceroboh(?:an)?(?:nya)?",
    r"gara[-\s]gara",
    r"(?:ke)?teledor(?:an)?(?:nya)?",
    r"malas|pemalas|kemalasan",
    r"(?:tidak|nggak|gak|ga)\s+becus",
    r"tidak\s+kompeten",
    r"biang\s+(?:keladi|kerok)",
    r"sembrono",
    r"lengah",
]
_BLAME_RE = re.compile(_whole_word("|".join(_BLAME_PATTERNS)), re.IGNORECASE)
_NAME_PART = re.compile(r"\w+")
# Shorter name parts ("Ani", "Tri") match too much ordinary text to be useful.
_MIN_PART_LETTERS = 4


def _name_spans(text: str, names: Iterable[str]) -> list[tuple[int, int]]:
    """Where the people's names occur in the text: a full name anywhere, whole
    word, in any case; a surname or given name of at least four letters when
    written with its capital letter, as a name is (lower-case "putri" or "will"
    are ordinary words)."""
    words = {word.lower() for word in _NAME_PART.findall(text)}
    spans: list[tuple[int, int]] = []
    for name in names:
        parts = _NAME_PART.findall(name)
        present = [part for part in parts if part.lower() in words]
        if not present:
            continue  # the usual case, decided without a regular expression
        if len(present) == len(parts) and (
            len(parts) > 1 or len(parts[0]) >= _MIN_PART_LETTERS
        ):
            full = r"\s+".join(re.escape(part) for part in parts)
            for found in re.finditer(_whole_word(full), text, re.IGNORECASE):
                spans.append(found.span())
        if len(parts) < 2:
            continue
        for part in present:
            if len(part) < _MIN_PART_LETTERS:
                continue
            capitalised = re.escape(part[0].upper()) + f"(?i:{re.escape(part[1:])})"
            for found in re.finditer(_whole_word(capitalised), text):
                spans.append(found.span())
    return spans


def blame_hints(text: str, organisation: Organisation) -> list[str]:
    """Gentle hints about text that names the organisation's people or blames
    (in the reader's language, in the order they occur; empty: nothing to say).
    One query (the people's names), only when the text has words."""
    if not text or not _NAME_PART.search(text):
        return []
    names = Person.objects.filter(organisation=organisation).values_list(
        "full_name", flat=True
    )
    found: list[tuple[int, int, str]] = []
    for start, end in _name_spans(text, names):
        found.append((start, end, "name"))
    for match in _BLAME_RE.finditer(text):
        found.append((match.start(), match.end(), "word"))
    # Longest first at each place, then keep only what does not overlap.
    found.sort(key=lambda item: (item[0], -(item[1] - item[0])))
    hints: list[str] = []
    seen: set[tuple[str, str]] = set()
    last_end = -1
    for start, end, kind in found:
        if start < last_end:
            continue
        last_end = end
        written = " ".join(text[start:end].split())
        if kind == "name":
            hint = _(
                "“%(name)s” names a person. Describe the conditions and decisions "
                "that contributed, not who did it."
            ) % {"name": written}
        else:
            hint = _(
                "“%(word)s” sounds like blame. Describe what made the outcome "
                "likely instead: the step, the handover, the information, the "
                "conditions."
            ) % {"word": written}
        if (kind, written.lower()) not in seen:
            seen.add((kind, written.lower()))
            hints.append(hint)
    return hints


def _refuse_blame(
    organisation: Organisation, texts: dict[str, str], keep_as_written: bool
) -> None:
    """Refuse text with blame hints unless the writer keeps it as written."""
    if keep_as_written:
        return
    errors = {
        name: hints
        for name, text in texts.items()
        if (hints := blame_hints(text, organisation))
    }
    if errors:
        raise ValidationFailed(errors, code=BLAME_HINTS_CODE)


# --- opening ---------------------------------------------------------------------------


def _find_existing(run: Run, trigger: str, obstacle: Obstacle | None) -> Review | None:
    if obstacle is not None:
        return Review.objects.filter(obstacle_id=obstacle.pk).first()
    triggers = [trigger]
    if trigger == ReviewTrigger.REQUESTED:
        # A run already reviewed for its missed target needs no second review.
        triggers.insert(0, ReviewTrigger.MISSED_TARGET)
    found = {
        review.trigger: review
        for review in Review.objects.filter(
            run_id=run.pk, obstacle__isnull=True, trigger__in=triggers
        )
    }
    return next((found[t] for t in triggers if t in found), None)


@transaction.atomic
def open_review(
    run: Run,
    *,
    trigger: str,
    actor: User | None = None,
    obstacle: Obstacle | None = None,
    now: dt.datetime | None = None,
) -> Review:
    """Open the review of a run (or return the one already open for the same
    reason). `requested` needs a member or an administrator; the other triggers
    are the system's (`actor` may be None, or whoever resolved the obstacle).
    Audited `created`; the run's internal participants are told
    (`review.opened`)."""
    now = _now(now)
    if trigger not in ReviewTrigger.values:
        raise ValidationFailed({"trigger": [_("Choose why the review is opened.")]})
    run = Run.objects.select_related("organisation", "procedure").get(pk=run.pk)
    organisation = run.organisation
    if trigger == ReviewTrigger.REQUESTED:
        _require_writer(organisation.pk, actor)
    if trigger == ReviewTrigger.SEVERE_OBSTACLE:
        if obstacle is None or obstacle.run_id != run.pk:
            raise ValidationFailed(
                {"obstacle": [_("Name the run's obstacle the review is about.")]}
            )
    elif obstacle is not None:
        raise ValidationFailed(
            {"obstacle": [_("Only a review of a severe obstacle names an obstacle.")]}
        )
    existing = _find_existing(run, trigger, obstacle)
    if existing is not None:
        return existing
    review = Review(
        organisation=organisation,
        run=run,
        obstacle=obstacle,
        trigger=trigger,
        opened_at=now,
        created_at=now,
        updated_at=now,
    )
    try:
        with transaction.atomic():
            review.save()
    except IntegrityError:
        # Opened at the same moment by someone else: theirs is the review.
        existing = _find_existing(run, trigger, obstacle)
        if existing is None:
            raise
        return existing
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=review,
        changes={
            "run": run.pk,
            "trigger": trigger,
            "obstacle": obstacle.pk if obstacle is not None else None,
        },
        target_label=run.title,
    )
    _tell_participants(review, run, actor, obstacle, now)
    return review


def _opened_body(trigger: str, obstacle: Obstacle | None) -> Any:
    if trigger == ReviewTrigger.MISSED_TARGET:
        return gettext_lazy(
            "The run finished after its due date. Together, describe what "
            "contributed and what to change: conditions and decisions, not culprits."
        )
    if trigger == ReviewTrigger.SEVERE_OBSTACLE and obstacle is not None:
        return format_lazy(
            gettext_lazy(
                "A severe obstacle was closed: {obstacle}. Together, describe what "
                "contributed and what to change: conditions and decisions, not "
                "culprits."
            ),
            obstacle=obstacle.title,
        )
    return gettext_lazy(
        "A review of the run was asked for. Together, describe what contributed "
        "and what to change: conditions and decisions, not culprits."
    )


def _tell_participants(
    review: Review,
    run: Run,
    actor: User | None,
    obstacle: Obstacle | None,
    now: dt.datetime,
) -> None:
    organisation = run.organisation
    recipients = _users_of_people(organisation, _participants(run, now=now))
    if actor is not None:
        recipients = recipients.exclude(pk=actor.pk)
    key = f"review:{review.pk}:opened"
    services.notify(
        organisation,
        recipients=recipients,
        event_type=events.REVIEW_OPENED,
        key=key,
        title=format_lazy(gettext_lazy("A review of {run} was opened"), run=run.title),
        body=_opened_body(review.trigger, obstacle),
        url=review_path(review),
        now=now,
    )
    _publish(
        organisation,
        events.REVIEW_OPENED,
        key,
        lambda: {"review": _review_data(review), "run": _run_data(run)},
    )


def on_run_completed(event: extensions.RunCompleted) -> None:
    """A run completed: after its due date, its review is opened (trigger
    `missed_target`); on time, nothing happens."""
    if event.result != RunResult.MISSED and event.completed_at <= event.due_at:
        return
    run = Run.objects.filter(pk=event.run_id).first()
    if run is None:
        return
    open_review(run, trigger=ReviewTrigger.MISSED_TARGET, now=event.completed_at)


# --- the review's text ------------------------------------------------------------------


@transaction.atomic
def update_review(
    review: Review,
    *,
    actor: User,
    expected_version: int | None,
    summary: str,
    learned: str,
    keep_as_written: bool = False,
) -> Review:
    """Write what happened and what was learned (compare-and-set). Text that
    names people or blames is refused with hints (code `blame_hints`) unless
    `keep_as_written`. Audited `updated` (the text in the redactable half)."""
    _require_writer(review.organisation_id, actor)
    locked = _lock_review(review)
    organisation = locked.organisation
    summary = (summary or "").strip()
    learned = (learned or "").strip()
    refuse_nul_characters(summary=summary, learned=learned)
    _refuse_blame(
        organisation, {"summary": summary, "learned": learned}, keep_as_written
    )
    before = {"summary": locked.summary, "learned": locked.learned}
    after = {"summary": summary, "learned": learned}
    changed = {
        name: [before[name], after[name]]
        for name in after
        if before[name] != after[name]
    }
    if not changed:
        if expected_version is not None and locked.version != expected_version:
            raise Conflict()
        return locked
    compare_and_set(
        locked,
        expected_version=expected_version,
        fields={**after, "updated_at": timezone.now()},
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.UPDATED,
        target=locked,
        changes={
            "fields": sorted(changed),
            "kept_as_written": bool(keep_as_written),
        },
        personal_changes=changed,
        target_label=locked.run.title,
    )
    return locked


# --- contributing factors -------------------------------------------------------------


def _run_task(run_id: int, task: Task | None, field: str) -> Task:
    if task is None:
        raise ValidationFailed({field: [_("Choose the step.")]})
    if task.run_id != run_id:
        raise ValidationFailed({field: [_("Choose a step of this run.")]})
    return task


def _check_area(
    review: Review,
    area: str,
    task: Task | None,
    next_task: Task | None,
    party: Party | None,
) -> None:
    """The area names exactly what it is about: a step of the run, a party of the
    organisation, a handover between two linked steps of the run; the procedure's
    design and outside conditions name nothing."""
    if area not in FactorArea.values:
        raise ValidationFailed({"area": [_("Choose what the factor is about.")]})
    wants = {
        FactorArea.STEP: {"task"},
        FactorArea.PARTY: {"party"},
        FactorArea.HANDOVER: {"task", "next_task"},
        FactorArea.PROCEDURE_DESIGN: set(),
        FactorArea.OUTSIDE: set(),
    }[FactorArea(area)]
    given = {
        name
        for name, value in (("task", task), ("next_task", next_task), ("party", party))
        if value is not None
    }
    extra = sorted(given - wants)
    if extra:
        raise ValidationFailed(
            {name: [_("This area does not name this.")] for name in extra}
        )
    if "task" in wants:
        _run_task(review.run_id, task, "task")
    if area == FactorArea.HANDOVER:
        assert task is not None
        if next_task is None:
            raise ValidationFailed(
                {"next_task": [_("Choose the step that received the work.")]}
            )
        _run_task(review.run_id, next_task, "next_task")
        if not TaskDependency.objects.filter(
            run_id=review.run_id, predecessor_id=task.pk, successor_id=next_task.pk
        ).exists():
            raise ValidationFailed(
                {
                    "next_task": [
                        _("In this run, “%(task)s” does not hand over to “%(next)s”.")
                        % {"task": task.name, "next": next_task.name}
                    ]
                }
            )
    if area == FactorArea.PARTY:
        if party is None:
            raise ValidationFailed({"party": [_("Choose the party.")]})
        if party.organisation_id != review.organisation_id:
            raise ValidationFailed(
                {"party": [_("This belongs to another organisation.")]}
            )


@transaction.atomic
def add_factor(
    review: Review,
    *,
    actor: User,
    area: str,
    description: str,
    task: Task | None = None,
    next_task: Task | None = None,
    party: Party | None = None,
    keep_as_written: bool = False,
    now: dt.datetime | None = None,
) -> ContributingFactor:
    """Add what contributed, attributed to an area (never to a person). Text that
    names people or blames is refused with hints unless `keep_as_written`.
    Audited `created` (the description in the redactable half)."""
    now = _now(now)
    _require_writer(review.organisation_id, actor)
    locked = _lock_review(review)
    organisation = locked.organisation
    text = _required_text("description", description)
    _check_area(locked, area, task, next_task, party)
    _refuse_blame(organisation, {"description": text}, keep_as_written)
    last = ContributingFactor.objects.filter(review_id=locked.pk).aggregate(
        last=Max("sort_order")
    )["last"]
    factor = ContributingFactor.objects.create(
        organisation=organisation,
        review=locked,
        area=area,
        task=task,
        next_task=next_task,
        party=party,
        description=text,
        sort_order=0 if last is None else last + 1,
        added_by=actor,
        added_at=now,
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=factor,
        changes={
            "review": locked.pk,
            "area": area,
            "task": factor.task_id,
            "next_task": factor.next_task_id,
            "party": factor.party_id,
            "kept_as_written": bool(keep_as_written),
        },
        personal_changes={"description": text},
    )
    return factor


@transaction.atomic
def remove_factor(factor: ContributingFactor, *, actor: User) -> None:
    """Remove a factor from an open review. Audited `deleted`."""
    _require_writer(factor.organisation_id, actor)
    locked = _lock_review(Review(pk=factor.review_id))
    pk = factor.pk
    label = str(factor)
    deleted, _rows = ContributingFactor.objects.filter(
        pk=pk, review_id=locked.pk
    ).delete()
    if not deleted:
        raise NotFound()
    factor.pk = pk  # the audit event names what was removed
    audit.record(
        locked.organisation,
        actor=actor,
        verb=AuditVerb.DELETED,
        target=factor,
        changes={"review": locked.pk, "area": factor.area},
        target_label=label,
    )


# --- action items ---------------------------------------------------------------------


def _action_data(action: ActionItem, review: Review) -> dict[str, Any]:
    return {
        "id": action.pk,
        "due_on": action.due_on,
        "status": action.status,
        "url": _absolute(f"{review_path(review)}#action-{action.pk}"),
    }


@transaction.atomic
def add_action(
    review: Review,
    *,
    actor: User,
    description: str,
    owner: Person,
    due_on: dt.date | None = None,
    proposes_change: bool = False,
    step: Step | None = None,
    now: dt.datetime | None = None,
) -> ActionItem:
    """Add what will change, with its owner (an active person of the
    organisation). A proposed change to the procedure may name one of its steps.
    Audited `created`; the owner is told (`review.action_assigned`)."""
    now = _now(now)
    _require_writer(review.organisation_id, actor)
    locked = _lock_review(review)
    organisation = locked.organisation
    text = _required_text("description", description)
    # Read again: the caller's copy may be stale (deactivated since) or claim
    # an organisation it does not belong to.
    found = (
        Person.objects.filter(pk=owner.pk, organisation_id=organisation.pk).first()
        if owner is not None and owner.pk is not None
        else None
    )
    if found is None:
        raise ValidationFailed({"owner": [_("Choose the owner.")]})
    if not found.is_active:
        raise ValidationFailed({"owner": [_("This person is no longer active.")]})
    owner = found
    if step is not None:
        if not proposes_change:
            raise ValidationFailed(
                {"step": [_("Only a proposed change to the procedure names a step.")]}
            )
        procedure_id = (
            ProcedureVersion.objects.filter(pk=step.procedure_version_id)
            .values_list("procedure_id", flat=True)
            .first()
        )
        if procedure_id != locked.run.procedure_id:
            raise ValidationFailed(
                {"step": [_("Choose a step of the run's procedure.")]}
            )
    action = ActionItem.objects.create(
        organisation=organisation,
        review=locked,
        description=text,
        owner=owner,
        due_on=due_on,
        proposes_change=bool(proposes_change),
        step=step,
        created_by=actor,
        created_at=now,
        updated_at=now,
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=action,
        changes={
            "review": locked.pk,
            "owner": owner.pk,
            "due_on": due_on,
            "proposes_change": bool(proposes_change),
            "step": step.pk if step is not None else None,
        },
        personal_changes={"description": text},
    )
    _tell_owner(action, locked, owner, actor, now)
    return action


def _tell_owner(
    action: ActionItem,
    review: Review,
    owner: Person,
    actor: User,
    now: dt.datetime,
) -> None:
    organisation = review.organisation
    run = review.run
    recipients = (
        []
        if owner.user_id is None or owner.user_id == actor.pk
        else User.objects.filter(pk=owner.user_id)
    )
    key = f"review-action:{action.pk}:assigned"
    services.notify(
        organisation,
        recipients=recipients,
        event_type=events.REVIEW_ACTION_ASSIGNED,
        key=key,
        title=format_lazy(
            gettext_lazy("An action item of the review of {run} is yours"),
            run=run.title,
        ),
        body=action.description,
        url=f"{review_path(review)}#action-{action.pk}",
        now=now,
    )
    _publish(
        organisation,
        events.REVIEW_ACTION_ASSIGNED,
        key,
        lambda: {
            "action": _action_data(action, review),
            "review": _review_data(review),
            "run": _run_data(run),
            "owner": {"id": owner.pk, "name": owner.full_name},
        },
    )


@transaction.atomic
def complete_action(
    action: ActionItem,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> ActionItem:
    """Mark an open action item done: its owner (their login), a member or an
    administrator; also once the review is completed. Compare-and-set, audited
    `completed`."""
    now = _now(now)
    membership = _membership(action.organisation_id, actor)
    locked = (
        ActionItem.objects.select_for_update(of=("self",))
        .select_related("organisation", "owner")
        .filter(pk=action.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    # Auditors read only, also what they own.
    is_owner = (
        locked.owner.user_id is not None
        and locked.owner.user_id == actor.pk
        and membership.role != Role.AUDITOR
    )
    if membership.role not in _WRITERS and not is_owner:
        raise PermissionDenied(
            _("Only the action's owner, members and administrators can do this.")
        )
    if locked.status != ActionStatus.OPEN:
        raise ValidationFailed(
            _("This action item is no longer open."), code="not_open"
        )
    compare_and_set(
        locked,
        expected_version=expected_version,
        fields={"status": ActionStatus.DONE, "done_at": now, "updated_at": now},
    )
    audit.record(
        locked.organisation,
        actor=actor,
        verb=AuditVerb.COMPLETED,
        target=locked,
        changes={
            "review": locked.review_id,
            "status": [ActionStatus.OPEN, ActionStatus.DONE],
        },
    )
    return locked


# --- completing -------------------------------------------------------------------------


@transaction.atomic
def complete_review(
    review: Review,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Review:
    """Complete an open review: it needs at least one contributing factor and one
    action item. Compare-and-set, audited `completed`."""
    now = _now(now)
    _require_writer(review.organisation_id, actor)
    locked = _lock_review(review)
    factors = ContributingFactor.objects.filter(review_id=locked.pk).count()
    actions = (
        ActionItem.objects.filter(review_id=locked.pk)
        .exclude(status=ActionStatus.CANCELLED)
        .count()
    )
    errors: dict[str, list[str]] = {}
    if not factors:
        errors["factors"] = [_("Add at least one thing that contributed.")]
    if not actions:
        errors["actions"] = [_("Add at least one action item.")]
    if errors:
        raise ValidationFailed(errors, code="incomplete")
    compare_and_set(
        locked,
        expected_version=expected_version,
        fields={
            "status": ReviewStatus.COMPLETED,
            "completed_at": now,
            "completed_by": actor,
            "updated_at": now,
        },
    )
    audit.record(
        locked.organisation,
        actor=actor,
        verb=AuditVerb.COMPLETED,
        target=locked,
        changes={
            "status": [ReviewStatus.OPEN, ReviewStatus.COMPLETED],
            "factors": factors,
            "actions": actions,
        },
        target_label=locked.run.title,
    )
    return locked


# --- proposals for the next draft -------------------------------------------------------


def _proposals(version: ProcedureVersion) -> QuerySet[ActionItem]:
    return ActionItem.objects.filter(
        organisation_id=version.organisation_id,
        review__run__procedure_id=version.procedure_id,
        proposes_change=True,
        status=ActionStatus.OPEN,
        applied_in__isnull=True,
    )


def proposals_for_version(version: ProcedureVersion) -> list[ActionItem]:
    """The open proposed changes of reviews of the procedure's runs not yet taken
    into a version, oldest first, with their step, owner and review. One query."""
    return list(
        _proposals(version)
        .select_related("step", "owner", "review", "review__run")
        .order_by("created_at", "id")
    )


@transaction.atomic
def apply_proposals(
    version: ProcedureVersion,
    action_ids: Sequence[int],
    *,
    actor: User,
    now: dt.datetime | None = None,
) -> int:
    """Mark proposed changes taken into a draft version (its procedure's editors:
    administrators and holders of the owner position); the number marked. Every
    id must be an open proposal for the procedure. Audited `updated` on each
    action item."""
    now = _now(now)
    membership = _require_writer(version.organisation_id, actor)
    locked = (
        ProcedureVersion.objects.select_for_update(of=("self",))
        .select_related("procedure", "organisation")
        .filter(pk=version.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    if membership.role != Role.ADMIN and not chains.holds_position(
        locked.organisation,
        actor,
        locked.procedure.owner_position_id,
        on=_local_date(locked.organisation, now),
    ):
        raise PermissionDenied(
            _("Only administrators and the procedure's owner can change it.")
        )
    if locked.status != VersionStatus.DRAFT:
        raise ValidationFailed(
            _("Proposals can only be taken into a draft version."), code="not_draft"
        )
    wanted = sorted({int(pk) for pk in action_ids})
    if not wanted:
        return 0
    actions = list(
        _proposals(locked).select_for_update(of=("self",)).filter(pk__in=wanted)
    )
    if len(actions) != len(wanted):
        raise ValidationFailed(
            {"actions": [_("Some of these are not open proposals for this procedure.")]}
        )
    for action in actions:
        compare_and_set(
            action,
            expected_version=action.version,
            fields={"applied_in": locked, "updated_at": now},
        )
    audit.record_many(
        locked.organisation,
        actor=actor,
        entries=[
            audit.Entry(
                verb=AuditVerb.UPDATED,
                target=action,
                changes={"applied_in": [None, locked.pk]},
            )
            for action in actions
        ],
    )
    return len(actions)


# --- timeline ----------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class TimelineEntry:
    """One moment of a run's story, as a plain sentence in the reader's language
    (`actor` is the display name, "system" or "redacted")."""

    at: dt.datetime
    actor: str
    sentence: str
    verb: str
    target_type: str
    target_id: str


_RUN = "chains.run"
_TASK = "chains.task"
_DEVIATION = "chains.deviation"
_OBSTACLE = "obstacles.obstacle"
_MITIGATION = "obstacles.mitigation"
_RECORD = "evidence.informationrecord"
_APPROVAL = "approvals.approvalrequest"


def _timeline_targets(
    run: Run,
) -> tuple[dict[str, list[int]], dict[str, dict[int, str]]]:
    """The ids of everything the run's story is about, by target type, and their
    names (six queries, whatever the size of the run)."""
    records = (
        InformationRecord.objects.filter(
            Q(run_id=run.pk)
            | Q(obstacles__run_id=run.pk)
            | Q(resolved_obstacles__run_id=run.pk)
        )
        .order_by()
        .distinct()
    )
    names: dict[str, dict[int, str]] = {
        _RUN: {run.pk: run.title},
        _TASK: dict(
            Task.objects.filter(run_id=run.pk).order_by().values_list("pk", "name")
        ),
        _DEVIATION: dict.fromkeys(
            Deviation.objects.filter(run_id=run.pk)
            .order_by()
            .values_list("pk", flat=True),
            "",
        ),
        _OBSTACLE: dict(
            Obstacle.objects.filter(run_id=run.pk).order_by().values_list("pk", "title")
        ),
        _MITIGATION: dict(
            Mitigation.objects.filter(obstacle__run_id=run.pk)
            .order_by()
            .values_list("pk", "obstacle__title")
        ),
        _RECORD: dict(records.values_list("pk", "title")),
        _APPROVAL: dict(
            ApprovalRequest.objects.filter(run_id=run.pk)
            .order_by()
            .values_list("pk", "title")
        ),
    }
    return {kind: list(found) for kind, found in names.items()}, names


# Sentences by (target type, verb); `{actor}` the one who acted, `{name}` the
# name of what they acted on. Anything else reads "{actor}: {verb} — {name}".
_SENTENCES: dict[tuple[str, str], Any] = {
    (_RUN, AuditVerb.STARTED): gettext_lazy("{actor} started the run."),
    (_RUN, AuditVerb.SUSPENDED): gettext_lazy("{actor} suspended the run."),
    (_RUN, AuditVerb.RESUMED): gettext_lazy("{actor} resumed the run."),
    (_RUN, AuditVerb.CANCELLED): gettext_lazy("{actor} cancelled the run."),
    (_RUN, AuditVerb.DUE_DATE_MOVED): gettext_lazy("{actor} moved the run's due date."),
    (_RUN, AuditVerb.RESULT_RECORDED): gettext_lazy(
        "{actor} recorded the quantity the run delivered."
    ),
    (_TASK, AuditVerb.TASK_STARTED): gettext_lazy("{actor} started “{name}”."),
    (_TASK, AuditVerb.TASK_COMPLETED): gettext_lazy("{actor} completed “{name}”."),
    (_TASK, AuditVerb.TASK_AWAITING): gettext_lazy(
        "{actor} tried to complete “{name}”; it had to wait."
    ),
    (_TASK, AuditVerb.TASK_REOPENED): gettext_lazy("{actor} reopened “{name}”."),
    (_TASK, AuditVerb.TASK_SKIPPED): gettext_lazy("“{name}” was skipped."),
    (_TASK, AuditVerb.CLAIMED): gettext_lazy("{actor} took “{name}”."),
    (_TASK, AuditVerb.ASSIGNED): gettext_lazy("“{name}” was assigned."),
    (_TASK, AuditVerb.ESCALATED): gettext_lazy(
        "“{name}” took longer than expected and was escalated."
    ),
    (_TASK, AuditVerb.CONSULTATION_REQUESTED): gettext_lazy(
        "Input was asked for “{name}”."
    ),
    (_TASK, AuditVerb.CONSULTATION_ANSWERED): gettext_lazy(
        "{actor} gave input on “{name}”."
    ),
    (_DEVIATION, AuditVerb.DEVIATION_REQUESTED): gettext_lazy(
        "{actor} asked to deviate from the procedure."
    ),
    (_DEVIATION, AuditVerb.DEVIATION_CONFIRMED): gettext_lazy(
        "{actor} confirmed a deviation from the procedure."
    ),
    (_DEVIATION, AuditVerb.DEVIATION_REJECTED): gettext_lazy(
        "{actor} rejected a deviation from the procedure."
    ),
    (_OBSTACLE, AuditVerb.RAISED): gettext_lazy(
        "{actor} raised the obstacle “{name}”."
    ),
    (_OBSTACLE, AuditVerb.UPDATED): gettext_lazy(
        "{actor} changed the obstacle “{name}”."
    ),
    (_OBSTACLE, AuditVerb.RESOLVED): gettext_lazy(
        "{actor} resolved the obstacle “{name}”."
    ),
    (_OBSTACLE, AuditVerb.WITHDRAWN): gettext_lazy(
        "{actor} withdrew the obstacle “{name}”."
    ),
    (_OBSTACLE, AuditVerb.ESCALATED): gettext_lazy(
        "The obstacle “{name}” stayed open too long and was escalated."
    ),
    (_MITIGATION, AuditVerb.CREATED): gettext_lazy(
        "{actor} planned an action against the obstacle “{name}”."
    ),
    (_MITIGATION, AuditVerb.COMPLETED): gettext_lazy(
        "{actor} finished an action against the obstacle “{name}”."
    ),
    (_MITIGATION, AuditVerb.CANCELLED): gettext_lazy(
        "{actor} cancelled an action against the obstacle “{name}”."
    ),
    (_RECORD, AuditVerb.RECORDED): gettext_lazy(
        "{actor} recorded the information “{name}”."
    ),
    (_RECORD, AuditVerb.CREATED): gettext_lazy(
        "{actor} recorded the information “{name}”."
    ),
    (_RECORD, AuditVerb.EVIDENCE_ADDED): gettext_lazy(
        "{actor} added evidence to “{name}”."
    ),
    (_RECORD, AuditVerb.VERIFIED): gettext_lazy("{actor} checked “{name}”."),
    (_RECORD, AuditVerb.CITED): gettext_lazy("{actor} cited “{name}”."),
    (_APPROVAL, AuditVerb.APPROVAL_REQUESTED): gettext_lazy(
        "{actor} asked for approval: “{name}”."
    ),
    (_APPROVAL, AuditVerb.APPROVED): gettext_lazy("{actor} approved “{name}”."),
    (_APPROVAL, AuditVerb.REJECTED): gettext_lazy("{actor} rejected “{name}”."),
    (_APPROVAL, AuditVerb.RETURNED): gettext_lazy(
        "{actor} returned “{name}” for revision."
    ),
    (_APPROVAL, AuditVerb.WITHDRAWN): gettext_lazy(
        "{actor} withdrew the request “{name}”."
    ),
    (_APPROVAL, AuditVerb.RESUBMITTED): gettext_lazy(
        "{actor} submitted “{name}” again."
    ),
    (_APPROVAL, AuditVerb.ESCALATED): gettext_lazy(
        "The approval “{name}” waited too long and was escalated."
    ),
}
_RUN_COMPLETED: dict[str, Any] = {
    RunResult.MET: gettext_lazy("The run was completed; the target was met."),
    RunResult.MISSED: gettext_lazy(
        "The run was completed after its due date; the target was missed."
    ),
}


def _actor_of(event: AuditEvent) -> str:
    """The actor's display name as the history pages show it: "system" for the
    engine, "redacted" once the personal half was erased."""
    if event.actor_id is None:
        return _("system")
    try:
        personal = event.personal
    except ObjectDoesNotExist:
        return _("redacted")
    if personal.redacted_at is not None:
        return _("redacted")
    return personal.actor_label or _("redacted")


def _sentence(event: AuditEvent, actor: str, name: str) -> str:
    if event.target_type == _RUN and event.verb == AuditVerb.COMPLETED:
        result = (event.changes or {}).get("result")
        text = _RUN_COMPLETED.get(str(result))
        if text is not None:
            return str(text)
    template = _SENTENCES.get((event.target_type, event.verb))
    if template is not None:
        return str(capfirst(str(template).format(actor=actor, name=name)))
    verb = (
        str(AuditVerb(event.verb).label)
        if event.verb in AuditVerb.values
        else event.verb
    )
    if name:
        return str(
            capfirst(
                _("%(actor)s: %(verb)s — “%(name)s”.")
                % {"actor": actor, "verb": verb, "name": name}
            )
        )
    return str(capfirst(_("%(actor)s: %(verb)s.") % {"actor": actor, "verb": verb}))


def timeline(review: Review) -> list[TimelineEntry]:
    """What happened in the review's run, oldest first: every audit event of the
        run, its tasks and deviations, its obstacles and their mitigations, its
        information records and its approval requests, each as a plain sentence in
        the active language. Eight queries, whatever the number of events (seven when
    the review comes with its run and the run's organisation)."""
    run = review.run if Review.run.is_cached(review) else None
    if run is None or not Run.organisation.is_cached(run):
        run = Run.objects.select_related("organisation").get(pk=review.run_id)
    targets, names = _timeline_targets(run)
    found = list(audit_queries.events_about(run.organisation, targets))
    found.reverse()
    # Oldest first; within a minute (what the timeline shows), the run's start
    # before what it set off — the engine writes its handlers' events (a
    # consultation asked for, a task assigned) before the transition's own.
    found.sort(
        key=lambda event: (
            event.occurred_at.replace(second=0, microsecond=0),
            not (event.target_type == "chains.run" and event.verb == AuditVerb.STARTED),
        )
    )
    entries: list[TimelineEntry] = []
    for event in found:
        actor = _actor_of(event)
        try:
            key = int(event.target_id)
        except ValueError:
            key = -1
        name = names.get(event.target_type, {}).get(key, "")
        entries.append(
            TimelineEntry(
                at=event.occurred_at,
                actor=actor,
                sentence=_sentence(event, actor, name),
                verb=event.verb,
                target_type=event.target_type,
                target_id=event.target_id,
            )
        )
    return entries
