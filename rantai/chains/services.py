"""The one write path of the chains engine: calendars, procedure versions, runs,
tasks and deviations.

Every function takes the object acted on first, everything else keyword-only, the
acting user explicitly; runs in one transaction; changes rows by compare-and-set
(a lost race raises `Conflict` and writes nothing); and writes its audit event as
the last write. `now` is a keyword for the demo loader and tests only (a
controllable clock); everyone else leaves it out.

Task transitions lock their run's row (PostgreSQL), so two transitions of the same
run serialise and a join can never miss one of its predecessors; they do not
change the run's version, so parallel tasks never conflict with each other.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Collection, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal, InvalidOperation
from functools import cache
from typing import Any, cast

import holidays as holiday_calendars
from django.core.exceptions import ValidationError as DjangoValidationError
from django.db import connection, models, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.text import slugify
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import services as audit
from rantai.audit import writes
from rantai.audit.models import AuditVerb
from rantai.chains import extensions, projection
from rantai.chains.calendar import end_of_working_day, minutes_per_working_day
from rantai.chains.models import (
    FINAL_RUN_STATUSES,
    FINISHED_STATUSES,
    STARTED_STATUSES,
    DependencyKind,
    Deviation,
    DeviationKind,
    DeviationStatus,
    DurationUnit,
    Holiday,
    Procedure,
    ProcedureVersion,
    RaciRole,
    Run,
    RunField,
    RunResult,
    RunStatus,
    ScheduleStatus,
    Step,
    StepDependency,
    StepRole,
    Target,
    Task,
    TaskDependency,
    TaskRole,
    TaskStatus,
    VersionStatus,
    WorkingCalendar,
)
from rantai.chains.rules import (
    clean_condition_value,
    clean_field_values,
    condition_holds,
    find_cycles,
    to_minutes,
    topological_order,
    validate_version,
)
from rantai.chains.scheduling import DepInput
from rantai.core import sql, versioning
from rantai.core.concurrency import compare_and_set, lock_current
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.core.validation import field_values as _field_values
from rantai.org.models import Holding, Party, PartyKind, Person, Position

# Stored as is (data); the pages translate it.
CONDITION_NOT_MET = gettext_noop("condition not met")


# --- shared helpers ---------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _local_date(organisation: Organisation, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


_save_new = writes.save_new
_create = writes.create
_update = writes.update


def _delete(instance: models.Model, *, actor: User, organisation: Organisation) -> None:
    pk = instance.pk
    label = str(instance)
    instance.delete()
    instance.pk = pk  # the audit event names what was deleted
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.DELETED,
        target=instance,
        target_label=label,
    )


def _same_org(organisation_id: int, name: str, obj: models.Model | None) -> None:
    if obj is not None and obj.organisation_id != organisation_id:  # type: ignore[attr-defined]
        raise ValidationFailed({name: [_("This belongs to another organisation.")]})


def _required_text(name: str, value: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed({name: [_("This field is required.")]})
    return text


# --- who may do what --------------------------------------------------------------


def _membership(organisation_id: int, user: User | None) -> Membership | None:
    if user is None or not user.is_active:
        return None
    return Membership.objects.filter(
        organisation_id=organisation_id, user=user, is_active=True
    ).first()


def _require_role(
    organisation_id: int, user: User | None, roles: Iterable[str]
) -> Membership:
    membership = _membership(organisation_id, user)
    if membership is None:
        raise NotFound()
    if membership.role not in set(roles):
        raise PermissionDenied()
    return membership


def _person_id(organisation_id: int, user: User) -> int | None:
    return (
        Person.objects.filter(
            organisation_id=organisation_id, user=user, is_active=True
        )
        .values_list("pk", flat=True)
        .first()
    )


def _held_positions(
    organisation_id: int, person_id: int, position_ids: Iterable[int], day: dt.date
) -> set[int]:
    """Which of the positions the person holds on the day (acting holders count)."""
    wanted = [pk for pk in position_ids if pk is not None]
    if not wanted:
        return set()
    return set(
        Holding.objects.current(day)
        .filter(
            organisation_id=organisation_id, person_id=person_id, position_id__in=wanted
        )
        .values_list("position_id", flat=True)
    )


def holds_position(
    organisation: Organisation,
    user: User,
    position_id: int,
    *,
    on: dt.date | None = None,
) -> bool:
    """Whether the user's person currently holds the position (acting counts)."""
    person_id = _person_id(organisation.pk, user)
    if person_id is None:
        return False
    day = on or _local_date(organisation, timezone.now())
    return bool(_held_positions(organisation.pk, person_id, [position_id], day))


def _require_procedure_editor(procedure: Procedure, actor: User) -> None:
    """Administrators and holders of the owner position edit a procedure."""
    membership = _require_role(
        procedure.organisation_id, actor, {Role.ADMIN, Role.MEMBER}
    )
    if membership.role == Role.ADMIN:
        return
    if not holds_position(procedure.organisation, actor, procedure.owner_position_id):
        raise PermissionDenied(
            _("Only administrators and the procedure's owner can change it.")
        )


def _require_process_owner(run: Run, actor: User, now: dt.datetime) -> None:
    """Administrators and holders of the procedure's owner position steer a run."""
    membership = _require_role(run.organisation_id, actor, {Role.ADMIN, Role.MEMBER})
    if membership.role == Role.ADMIN:
        return
    owner = (
        Procedure.objects.filter(pk=run.procedure_id)
        .values_list("owner_position_id", flat=True)
        .get()
    )
    if not holds_position(
        run.organisation, actor, owner, on=_local_date(run.organisation, now)
    ):
        raise PermissionDenied(
            _("Only the procedure's owner (or an administrator) can do this.")
        )


@dataclass(frozen=True, slots=True)
class _Rights:
    allowed: bool
    person_id: int | None = None


def _rights(task: Task, user: User | None, day: dt.date) -> _Rights:
    membership = (
        None
        if user is None or not user.is_active
        else Membership.objects.filter(
            organisation_id=task.organisation_id, user=user, is_active=True
        )
        .values_list("role", "party_id")
        .first()
    )
    if membership is None or user is None:
        return _Rights(False)
    role, party_id = membership
    person_id = (
        _person_id(task.organisation_id, user)
        if task.responsible_party_id is None and role in (Role.ADMIN, Role.MEMBER)
        else None
    )
    return _rights_of(task, role, party_id, person_id, day)


def _rights_of(
    task: Task,
    role: str | None,
    party_id: int | None,
    person_id: int | None,
    day: dt.date,
) -> _Rights:
    """`_rights` on what is already known about the user (positions looked up only
    when the user is not the task's assignee)."""
    if role is None:
        return _Rights(False)
    if task.responsible_party_id is not None:
        return _Rights(_allowed(task, role, party_id, None, ()))
    if role not in (Role.ADMIN, Role.MEMBER) or person_id is None:
        return _Rights(False)
    if task.assignee_id == person_id:
        return _Rights(True, person_id)
    held = _held_positions(
        task.organisation_id,
        person_id,
        [task.responsible_position_id, task.accountable_position_id],  # type: ignore[list-item]
        day,
    )
    return _Rights(_allowed(task, role, party_id, person_id, held), person_id)


def _allowed(
    task: Task,
    role: str | None,
    party_id: int | None,
    person_id: int | None,
    held: Collection[int],
) -> bool:
    """The rule of `may_act_on`, on what is known about the user."""
    if task.responsible_party_id is not None:
        # A partner's step: only that party's partner users act on it.
        return role == Role.PARTNER and party_id == task.responsible_party_id
    if role not in (Role.ADMIN, Role.MEMBER) or person_id is None:
        return False
    if task.assignee_id == person_id or task.accountable_position_id in held:
        return True
    return task.assignee_id is None and task.responsible_position_id in held


def may_act_on(
    task: Task, user: User | None, *, now: dt.datetime | None = None
) -> bool:
    """Whether the user may start, complete, claim or reopen the task.

    * A task owned by an external party: that party's partner users only.
    * Any other task: its assignee; while unassigned, any current holder of the
      responsible position (acting holders count); and holders of the accountable
      position, who answer for the step. Nobody else — administrators included.
    """
    time_zone = (
        Organisation.objects.filter(pk=task.organisation_id)
        .values_list("time_zone", flat=True)
        .get()
    )
    day = _now(now).astimezone(zoneinfo.ZoneInfo(time_zone)).date()
    return _rights(task, user, day).allowed


@dataclass(frozen=True, slots=True)
class Actor:
    """Who is looking, resolved once for a page that shows many tasks and decisions:
    their role, partner party, person and the positions they hold on the day
    (acting holders count). Its answers are the services' own rules."""

    user_id: int | None
    role: str | None
    party_id: int | None
    person_id: int | None
    positions: frozenset[int]

    def holds(self, position_id: int | None) -> bool:
        return position_id is not None and position_id in self.positions

    def may_act_on(self, task: Task) -> bool:
        """Like `may_act_on`: claim, start, complete a task; reopen it (as well as
        the process owner)."""
        return _allowed(task, self.role, self.party_id, self.person_id, self.positions)

    def may_claim(self, task: Task) -> bool:
        return (
            task.responsible_party_id is None
            and task.assignee_id is None
            and task.status in (TaskStatus.PENDING, TaskStatus.READY)
            and self.person_id is not None
            and self.may_act_on(task)
        )

    def may_recheck(self, task: Task) -> bool:
        if self.role == Role.PARTNER:
            return self.party_id == task.responsible_party_id
        return self.role in (Role.ADMIN, Role.MEMBER)

    def is_process_owner(self, owner_position_id: int) -> bool:
        """Suspend, resume, cancel a run, reopen its tasks, record its result."""
        return self.role == Role.ADMIN or (
            self.role == Role.MEMBER and self.holds(owner_position_id)
        )

    def may_move_due_date(self, owner_position_id: int) -> bool:
        """Only a holder of the owner position (administrators too need it)."""
        return self.role in (Role.ADMIN, Role.MEMBER) and self.holds(owner_position_id)

    def may_request_deviation(self) -> bool:
        return self.role in (Role.ADMIN, Role.MEMBER)

    def may_decide(self, deviation: Deviation, confirmer_position: int) -> bool:
        """A holder of the confirming position who did not ask for the deviation."""
        return (
            self.role in (Role.ADMIN, Role.MEMBER)
            and deviation.requested_by_id != self.user_id
            and self.holds(confirmer_position)
        )


def actor(
    organisation: Organisation,
    user: User | None,
    *,
    now: dt.datetime | None = None,
    membership: Membership | None = None,
) -> Actor:
    """The caller's `Actor` in the organisation (two or three queries, whatever the
    number of tasks a page shows; pass the membership when it is known)."""
    if membership is None:
        membership = _membership(organisation.pk, user)
    if user is None or membership is None or not membership.is_active:
        return Actor(None, None, None, None, frozenset())
    person_id = _person_id(organisation.pk, user)
    positions: frozenset[int] = frozenset()
    if person_id is not None:
        day = _local_date(organisation, _now(now))
        positions = frozenset(
            Holding.objects.current(day)
            .filter(organisation_id=organisation.pk, person_id=person_id)
            .values_list("position_id", flat=True)
        )
    return Actor(user.pk, membership.role, membership.party_id, person_id, positions)


# --- working calendar -------------------------------------------------------------


def _calendar_for_update(organisation: Organisation) -> WorkingCalendar:
    calendar = (
        WorkingCalendar.objects.select_for_update()
        .filter(organisation=organisation)
        .first()
    )
    if calendar is None:
        calendar = WorkingCalendar(organisation=organisation)
        _save_new(calendar)
    return calendar


def _bump_calendar(calendar: WorkingCalendar) -> None:
    """Holidays changed: a new calendar version, so cached calendars are renewed."""
    compare_and_set(
        calendar, expected_version=None, fields={"updated_at": timezone.now()}
    )


@transaction.atomic
def update_working_calendar(
    organisation: Organisation,
    *,
    actor: User,
    expected_version: int | None,
    **changes: Any,
) -> WorkingCalendar:
    """Change the working days or daily hours (administrators)."""
    _require_role(organisation.pk, actor, {Role.ADMIN})
    calendar = _calendar_for_update(organisation)
    return _update(
        calendar,
        actor=actor,
        organisation=organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={"working_weekdays", "day_start", "day_end"},
        verb=AuditVerb.SETTINGS_CHANGED,
    )


@transaction.atomic
def add_holiday(
    organisation: Organisation, *, actor: User, date: dt.date, name: str
) -> Holiday:
    _require_role(organisation.pk, actor, {Role.ADMIN})
    calendar = _calendar_for_update(organisation)
    holiday = Holiday(
        organisation=organisation, date=date, name=_required_text("name", name)
    )
    _save_new(holiday)
    _bump_calendar(calendar)
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=holiday,
        changes={"date": holiday.date, "name": holiday.name},
    )
    return holiday


@transaction.atomic
def remove_holiday(holiday: Holiday, *, actor: User) -> None:
    organisation = holiday.organisation
    _require_role(organisation.pk, actor, {Role.ADMIN})
    calendar = _calendar_for_update(organisation)
    _bump_calendar(calendar)
    _delete(holiday, actor=actor, organisation=organisation)


@transaction.atomic
def load_public_holidays(
    organisation: Organisation, *, actor: User, year: int, country: str = "ID"
) -> list[Holiday]:
    """Add a country's public holidays of a year (from the `holidays` package);
    dates that already have a holiday keep it. Returns the holidays added."""
    _require_role(organisation.pk, actor, {Role.ADMIN})
    try:
        public = holiday_calendars.country_holidays(country, years=year)
    except NotImplementedError as error:
        raise ValidationFailed(
            {"country": [_("Public holidays of this country are not known.")]}
        ) from error
    calendar = _calendar_for_update(organisation)
    taken = set(
        Holiday.objects.filter(organisation=organisation, date__year=year).values_list(
            "date", flat=True
        )
    )
    added = [
        Holiday(organisation=organisation, date=day, name=str(name)[:200])
        for day, name in sorted(public.items())
        if day not in taken
    ]
    Holiday.objects.bulk_create(added)
    _bump_calendar(calendar)
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.IMPORTED,
        target=calendar,
        changes={
            "holidays": {
                "country": country,
                "year": year,
                "added": [h.date for h in added],
            }
        },
    )
    return added


def due_at_for_date(organisation: Organisation, day: dt.date) -> dt.datetime:
    """“Due on <date>”: the end of that working day in the organisation's calendar."""
    return end_of_working_day(projection.calendar_spec(organisation), day)


# --- procedures and versions ------------------------------------------------------

PROCEDURE_FIELDS = ("code", "name", "owner_position", "description")


@transaction.atomic
def create_procedure(
    organisation: Organisation,
    *,
    actor: User,
    code: str,
    name: str,
    owner_position: Position,
    description: str = "",
) -> Procedure:
    """A new procedure with an empty draft version 1."""
    _same_org(organisation.pk, "owner_position", owner_position)
    membership = _require_role(organisation.pk, actor, {Role.ADMIN, Role.MEMBER})
    if membership.role != Role.ADMIN and not holds_position(
        organisation, actor, owner_position.pk
    ):
        raise PermissionDenied(
            _(
                "Only administrators and holders of the owner position create procedures."
            )
        )
    if not owner_position.is_active:
        raise ValidationFailed({"owner_position": [_("The position is deactivated.")]})
    procedure = Procedure(
        organisation=organisation,
        code=code.strip(),
        name=name.strip(),
        owner_position=owner_position,
        description=description,
    )
    _save_new(procedure)
    version = ProcedureVersion(organisation=organisation, procedure=procedure, number=1)
    _save_new(version)
    audit.record_many(
        organisation,
        actor=actor,
        entries=[
            audit.Entry(
                verb=AuditVerb.CREATED,
                target=procedure,
                changes=_field_values(procedure, PROCEDURE_FIELDS),
            ),
            audit.Entry(
                verb=AuditVerb.CREATED,
                target=version,
                changes={"procedure": procedure.pk, "number": 1},
            ),
        ],
    )
    return procedure


@transaction.atomic
def update_procedure(
    procedure: Procedure, *, actor: User, expected_version: int | None, **changes: Any
) -> Procedure:
    """Name, code, owner, description and `is_active` (not versioned: no steps)."""
    _require_procedure_editor(procedure, actor)
    if "owner_position" in changes:
        _same_org(
            procedure.organisation_id, "owner_position", changes["owner_position"]
        )
    return _update(
        procedure,
        actor=actor,
        organisation=procedure.organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={"code", "name", "owner_position", "description", "is_active"},
    )


def _edit_draft(version_id: int, actor: User) -> ProcedureVersion:
    """The draft, locked against a concurrent publish, if the actor may edit it.

    Who may edit is checked before what state the version is in: someone without
    the right learns nothing about it.
    """
    # Lock only the version row: the organisation row is the audit chain's head,
    # locked last by audit.record; locking it here too would invert that order.
    version = (
        ProcedureVersion.objects.select_for_update(of=("self",))
        .select_related("procedure", "organisation")
        .get(pk=version_id)
    )
    _require_procedure_editor(version.procedure, actor)
    if version.status != VersionStatus.DRAFT:
        raise ValidationFailed(
            _(
                "Version %(number)d is %(status)s and can no longer change; create a "
                "new draft to change the procedure."
            )
            % {"number": version.number, "status": version.get_status_display()}
        )
    return version


@transaction.atomic
def new_draft(
    procedure: Procedure, *, actor: User, notes: str = ""
) -> ProcedureVersion:
    """A new draft, a copy of the latest version (its fields, steps, roles, links)."""
    _require_procedure_editor(procedure, actor)
    procedure = Procedure.objects.select_for_update().get(pk=procedure.pk)
    if procedure.versions.filter(status=VersionStatus.DRAFT).exists():
        raise ValidationFailed(_("The procedure already has a draft version."))
    latest = procedure.versions.order_by("-number").first()
    number = latest.number + 1 if latest else 1
    draft = ProcedureVersion(
        organisation_id=procedure.organisation_id,
        procedure=procedure,
        number=number,
        notes=notes,
    )
    _save_new(draft)
    if latest is not None:
        _copy_version(latest, draft)
    audit.record(
        procedure.organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=draft,
        changes={
            "procedure": procedure.pk,
            "number": number,
            "copied_from": latest.number if latest else None,
        },
    )
    return draft


def _copy_version(source: ProcedureVersion, target: ProcedureVersion) -> None:
    RunField.objects.bulk_create(
        versioning.copies(
            source.fields.all(),
            ("organisation", *RUN_FIELD_FIELDS, "sort_order"),
            procedure_version=target,
        )
    )
    old_steps = list(source.steps.all())
    new_steps = versioning.copies(
        old_steps, ("organisation", *STEP_FIELDS), procedure_version=target
    )
    Step.objects.bulk_create(new_steps)
    mapping = {old.pk: new.pk for old, new in zip(old_steps, new_steps, strict=True)}
    StepRole.objects.bulk_create(
        [
            StepRole(
                organisation_id=r.organisation_id,
                step_id=mapping[r.step_id],
                role=r.role,
                position_id=r.position_id,
                party_id=r.party_id,
            )
            for r in StepRole.objects.filter(step__procedure_version=source)
        ]
    )
    StepDependency.objects.bulk_create(
        [
            StepDependency(
                organisation_id=d.organisation_id,
                procedure_version=target,
                predecessor_id=mapping[d.predecessor_id],
                successor_id=mapping[d.successor_id],
                kind=d.kind,
                lag_value=d.lag_value,
                lag_unit=d.lag_unit,
            )
            for d in source.dependencies.all()
            if d.predecessor_id in mapping and d.successor_id in mapping
        ]
    )


@transaction.atomic
def publish(
    version: ProcedureVersion,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> ProcedureVersion:
    """Validate and freeze a draft; it replaces (retires) the published version."""
    now = _now(now)
    locked = _edit_draft(version.pk, actor)
    messages = [problem.message for problem in validate_version(locked)]
    messages.extend(extensions.publish_problems(locked.pk))
    if messages:
        raise ValidationFailed({"__all__": messages}, code="unpublishable")
    changes = versioning.publish(
        version,
        number=locked.number,
        previous=ProcedureVersion.objects.filter(
            procedure_id=locked.procedure_id, status=VersionStatus.PUBLISHED
        ).first(),
        expected_version=expected_version,
        actor_id=actor.pk,
        now=now,
        statuses=VersionStatus,
    )
    extensions.emit_version_published(
        extensions.VersionPublished(
            locked.organisation_id, locked.procedure_id, locked.pk, actor.pk, now
        )
    )
    audit.record_many(
        locked.organisation,
        actor=actor,
        entries=[audit.Entry(**change.entry()) for change in changes],
    )
    return version


@transaction.atomic
def retire(
    version: ProcedureVersion,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> ProcedureVersion:
    """Stop new runs of a published version; running runs keep it."""
    now = _now(now)
    _require_procedure_editor(version.procedure, actor)
    change = versioning.retire(
        version, expected_version=expected_version, now=now, statuses=VersionStatus
    )
    audit.record_many(
        version.organisation, actor=actor, entries=[audit.Entry(**change.entry())]
    )
    return version


# --- run fields -------------------------------------------------------------------

RUN_FIELD_FIELDS = ("key", "label", "field_type", "required", "choices", "unit")


@transaction.atomic
def add_run_field(
    version: ProcedureVersion,
    *,
    actor: User,
    key: str,
    label: str,
    field_type: str,
    required: bool = True,
    choices: Sequence[str] = (),
    unit: str = "",
    sort_order: int | None = None,
) -> RunField:
    version = _edit_draft(version.pk, actor)
    if sort_order is None:
        last = version.fields.aggregate(Max("sort_order"))["sort_order__max"]
        sort_order = (last or 0) + 10
    run_field = RunField(
        organisation_id=version.organisation_id,
        procedure_version=version,
        key=key.strip(),
        label=label.strip(),
        field_type=field_type,
        required=required,
        choices=list(choices),
        unit=unit.strip(),
        sort_order=sort_order,
    )
    return _create(
        run_field,
        actor=actor,
        organisation=version.organisation,
        fields=RUN_FIELD_FIELDS,
    )


@transaction.atomic
def update_run_field(
    run_field: RunField, *, actor: User, expected_version: int | None, **changes: Any
) -> RunField:
    version = _edit_draft(run_field.procedure_version_id, actor)
    return _update(
        run_field,
        actor=actor,
        organisation=version.organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={*RUN_FIELD_FIELDS, "sort_order"},
    )


@transaction.atomic
def delete_run_field(
    run_field: RunField, *, actor: User, expected_version: int | None
) -> None:
    version = _edit_draft(run_field.procedure_version_id, actor)
    lock_current(run_field, expected_version=expected_version)
    _delete(run_field, actor=actor, organisation=version.organisation)


# --- steps ------------------------------------------------------------------------

STEP_FIELDS = (
    "key",
    "name",
    "description",
    "duty",
    "duration_value",
    "duration_unit",
    "evidence_description",
    "requires_evidence",
    "requires_verified_evidence",
    "requires_approval",
    "requires_consultation",
    "condition_field",
    "condition_operator",
    "condition_value",
    "sort_order",
)


def _canonical_condition_value(
    version: ProcedureVersion, field_key: str, operator: str, value: Any
) -> Any:
    """Store a condition's value typed like its run field ("100" → 100 for an
    integer field), so evaluating it never compares text with numbers. Values that
    do not fit are kept as given: `validate_version` reports them before publishing."""
    if not field_key or not operator:
        return value
    run_field = version.fields.filter(key=field_key).first()
    if run_field is None:
        return value
    cleaned, problem = clean_condition_value(run_field, operator, value)
    return value if problem else cleaned


@transaction.atomic
def add_step(
    version: ProcedureVersion,
    *,
    actor: User,
    key: str,
    name: str,
    duration_value: Decimal | int | str,
    duration_unit: str = DurationUnit.WORKING_DAYS,
    description: str = "",
    duty: Any = None,
    evidence_description: str = "",
    requires_evidence: bool = False,
    requires_verified_evidence: bool = False,
    requires_approval: bool = False,
    requires_consultation: bool = False,
    condition_field: str = "",
    condition_operator: str = "",
    condition_value: Any = None,
    sort_order: int | None = None,
) -> Step:
    version = _edit_draft(version.pk, actor)
    _same_org(version.organisation_id, "duty", duty)
    if sort_order is None:
        last = version.steps.aggregate(Max("sort_order"))["sort_order__max"]
        sort_order = (last or 0) + 10
    try:
        duration = Decimal(str(duration_value))
    except InvalidOperation as error:
        raise ValidationFailed({"duration_value": [_("Enter a number.")]}) from error
    condition_value = _canonical_condition_value(
        version, condition_field.strip(), condition_operator, condition_value
    )
    step = Step(
        organisation_id=version.organisation_id,
        procedure_version=version,
        key=key.strip(),
        name=name.strip(),
        description=description,
        duty=duty,
        duration_value=duration,
        duration_unit=duration_unit,
        evidence_description=evidence_description,
        requires_evidence=requires_evidence,
        requires_verified_evidence=requires_verified_evidence,
        requires_approval=requires_approval,
        requires_consultation=requires_consultation,
        condition_field=condition_field.strip(),
        condition_operator=condition_operator,
        condition_value=condition_value,
        sort_order=sort_order,
    )
    return _create(
        step, actor=actor, organisation=version.organisation, fields=STEP_FIELDS
    )


@transaction.atomic
def update_step(
    step: Step, *, actor: User, expected_version: int | None, **changes: Any
) -> Step:
    version = _edit_draft(step.procedure_version_id, actor)
    if "duty" in changes:
        _same_org(version.organisation_id, "duty", changes["duty"])
    if {"condition_field", "condition_operator", "condition_value"} & set(changes):
        changes["condition_value"] = _canonical_condition_value(
            version,
            str(changes.get("condition_field", step.condition_field)).strip(),
            changes.get("condition_operator", step.condition_operator),
            changes.get("condition_value", step.condition_value),
        )
    return _update(
        step,
        actor=actor,
        organisation=version.organisation,
        expected_version=expected_version,
        changes=changes,
        allowed=set(STEP_FIELDS),
    )


@transaction.atomic
def delete_step(step: Step, *, actor: User, expected_version: int | None) -> None:
    """Delete a step of a draft with its roles and dependencies."""
    version = _edit_draft(step.procedure_version_id, actor)
    lock_current(step, expected_version=expected_version)
    _delete(step, actor=actor, organisation=version.organisation)


@transaction.atomic
def add_step_role(
    step: Step,
    *,
    actor: User,
    role: str,
    position: Position | None = None,
    party: Party | None = None,
) -> StepRole:
    """A RACI row: a position, or an external party as the responsible of its step."""
    version = _edit_draft(step.procedure_version_id, actor)
    _same_org(version.organisation_id, "position", position)
    _same_org(version.organisation_id, "party", party)
    if party is not None and party.kind != PartyKind.EXTERNAL_PARTNER:
        raise ValidationFailed(
            {"party": [_("Only an external partner can own a step as a party.")]}
        )
    if role == RaciRole.ACCOUNTABLE and (
        StepRole.objects.filter(step=step, role=RaciRole.ACCOUNTABLE).exists()
    ):
        raise ValidationFailed(
            {"role": [_("The step already has its accountable position.")]}
        )
    step_role = StepRole(
        organisation_id=version.organisation_id,
        step=step,
        role=role,
        position=position,
        party=party,
    )
    return _create(
        step_role,
        actor=actor,
        organisation=version.organisation,
        fields=("step", "role", "position", "party"),
    )


@transaction.atomic
def remove_step_role(step_role: StepRole, *, actor: User) -> None:
    version = _edit_draft(step_role.step.procedure_version_id, actor)
    _delete(step_role, actor=actor, organisation=version.organisation)


# --- dependencies -----------------------------------------------------------------

DEPENDENCY_FIELDS = ("predecessor", "successor", "kind", "lag_value", "lag_unit")


@transaction.atomic
def add_dependency(
    version: ProcedureVersion,
    *,
    actor: User,
    predecessor: Step,
    successor: Step,
    kind: str = DependencyKind.FINISH_TO_START,
    lag_value: Decimal | int | str = 0,
    lag_unit: str = DurationUnit.WORKING_HOURS,
) -> StepDependency:
    """`successor` waits on `predecessor` (cycles are reported when publishing)."""
    version = _edit_draft(version.pk, actor)
    for name, step in (("predecessor", predecessor), ("successor", successor)):
        if step.procedure_version_id != version.pk:
            raise ValidationFailed({name: [_("This step belongs to another version.")]})
    try:
        lag = Decimal(str(lag_value))
    except InvalidOperation as error:
        raise ValidationFailed({"lag_value": [_("Enter a number.")]}) from error
    dependency = StepDependency(
        organisation_id=version.organisation_id,
        procedure_version=version,
        predecessor=predecessor,
        successor=successor,
        kind=kind,
        lag_value=lag,
        lag_unit=lag_unit,
    )
    return _create(
        dependency,
        actor=actor,
        organisation=version.organisation,
        fields=DEPENDENCY_FIELDS,
    )


@transaction.atomic
def update_dependency(
    dependency: StepDependency,
    *,
    actor: User,
    expected_version: int | None,
    **changes: Any,
) -> StepDependency:
    version = _edit_draft(dependency.procedure_version_id, actor)
    return _update(
        dependency,
        actor=actor,
        organisation=version.organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={"kind", "lag_value", "lag_unit"},
    )


@transaction.atomic
def remove_dependency(
    dependency: StepDependency, *, actor: User, expected_version: int | None
) -> None:
    version = _edit_draft(dependency.procedure_version_id, actor)
    lock_current(dependency, expected_version=expected_version)
    _delete(dependency, actor=actor, organisation=version.organisation)


# --- runs: starting ---------------------------------------------------------------


def _sole_holders(
    organisation_id: int, position_ids: Iterable[int | None], day: dt.date
) -> dict[int, int]:
    """position → person, for positions with exactly one current holder (acting
    holders count); positions with several holders are claimed, not assigned."""
    wanted = sorted({pk for pk in position_ids if pk is not None})
    if not wanted:
        return {}
    on = connection.ops.adapt_datefield_value(day)
    holders: dict[int, set[int]] = defaultdict(set)
    for position_id, person_id in sql.fetchall(
        f"SELECT h.position_id, h.person_id FROM {sql.table(Holding)} h "
        f"JOIN {sql.table(Person)} p ON p.id = h.person_id "
        f"WHERE h.organisation_id = %s AND h.position_id IN {sql.in_list(wanted)} "
        "AND p.is_active = %s AND h.start_date <= %s "
        "AND (h.end_date IS NULL OR h.end_date >= %s)",
        [organisation_id, *wanted, True, on, on],
    ):
        holders[position_id].add(person_id)
    return {
        position: next(iter(people))
        for position, people in holders.items()
        if len(people) == 1
    }


def _dependency_satisfied(kind: str, predecessor_status: str) -> bool:
    if kind == DependencyKind.START_TO_START:
        return predecessor_status in STARTED_STATUSES
    return predecessor_status in FINISHED_STATUSES


@dataclass(frozen=True, slots=True)
class _PlanStep:
    """What a run copies from one step of its version (read by hand-written SQL)."""

    id: int
    key: str
    name: str
    sort_order: int
    duration_value: Decimal
    duration_unit: str
    requires_evidence: bool
    requires_approval: bool
    requires_consultation: bool
    duty_id: int | None
    condition_field: str
    condition_operator: str
    condition_value: Any
    requires_verified_evidence: bool = False


def _version_plan(
    version_id: int,
) -> tuple[
    list[RunField], list[_PlanStep], list[tuple[Any, ...]], list[tuple[Any, ...]]
]:
    """A published version's run fields, steps, step roles (step, role, position,
    party; in creation order) and dependencies (lags still as value and unit), read
    with four plain statements."""
    run_fields = [
        sql.instance(
            RunField,
            {
                "id": pk,
                "key": key,
                "label": label,
                "field_type": field_type,
                "required": bool(required),
                "choices": sql.py_json(choices) or [],
                "unit": unit,
            },
        )
        for pk, key, label, field_type, required, choices, unit in sql.fetchall(
            "SELECT id, key, label, field_type, required, choices, unit "
            f"FROM {sql.table(RunField)} WHERE procedure_version_id = %s "
            "ORDER BY sort_order, id",
            [version_id],
        )
    ]
    steps = [
        _PlanStep(
            row[0],
            row[1],
            row[2],
            row[3],
            cast(Decimal, sql.py_decimal(row[4])),
            row[5],
            bool(row[6]),
            bool(row[7]),
            bool(row[8]),
            row[9],
            row[10] or "",
            row[11] or "",
            sql.py_json(row[12]),
            bool(row[13]),
        )
        for row in sql.fetchall(
            "SELECT id, key, name, sort_order, duration_value, duration_unit, "
            "requires_evidence, requires_approval, requires_consultation, duty_id, "
            "condition_field, condition_operator, condition_value, "
            "requires_verified_evidence "
            f"FROM {sql.table(Step)} WHERE procedure_version_id = %s "
            "ORDER BY sort_order, id",
            [version_id],
        )
    ]
    roles = sql.fetchall(
        f"SELECT r.step_id, r.role, r.position_id, r.party_id FROM "
        f"{sql.table(StepRole)} r JOIN {sql.table(Step)} s ON s.id = r.step_id "
        "WHERE s.procedure_version_id = %s ORDER BY r.id",
        [version_id],
    )
    links = sql.fetchall(
        "SELECT predecessor_id, successor_id, kind, lag_value, lag_unit "
        f"FROM {sql.table(StepDependency)} WHERE procedure_version_id = %s "
        "ORDER BY id",
        [version_id],
    )
    return (
        run_fields,
        steps,
        roles,
        [
            (predecessor, successor, kind, sql.py_decimal(lag), unit)
            for predecessor, successor, kind, lag, unit in links
        ],
    )


def _check_run_target(organisation_id: int, unit: str, target_id: int) -> int:
    """`start_run`'s check of the target (one statement; on PostgreSQL a share
    lock, so a deactivation in flight is decided before or after this run)."""
    from rantai.chains.targets import check_run_target

    share = " FOR SHARE" if connection.features.has_select_for_update else ""
    row = sql.fetchone(
        "SELECT organisation_id, name, measure_unit, is_active "
        f"FROM {sql.table(Target)} WHERE id = %s{share}",
        [target_id],
    )
    if row is None:
        raise ValidationFailed({"target": [_("The target no longer exists.")]})
    check_run_target(
        organisation_id=organisation_id,
        measure_unit=unit,
        target_organisation_id=row[0],
        target_name=row[1],
        target_unit=row[2],
        target_active=bool(row[3]),
    )
    return target_id


@transaction.atomic
def start_run(
    version: ProcedureVersion,
    *,
    actor: User,
    title: str,
    measure_quantity: Decimal | int | str,
    measure_unit: str,
    due_at: dt.datetime,
    objective: str = "",
    field_values: Mapping[str, Any] | None = None,
    target: Target | None = None,
    now: dt.datetime | None = None,
) -> Run:
    """Start a run of a published version toward a target.

    `target`, when given, is the `Target` the run contributes to: an active target
    of the organisation counted in the run's unit (`chains.targets`).

    Copies the steps into tasks (roles and dependencies too); a step whose
    condition does not hold is skipped with the reason "condition not met" when
    the chain reaches it; tasks whose dependencies are satisfied become ready, with
    the assignee the registered assigner chooses (without one: the sole holder of
    the responsible position). The engine's hot path: plain statements
    (rantai.core.sql), no query per step.
    """
    now = _now(now)
    user_id = actor.pk if actor is not None and actor.is_active else None
    row = sql.fetchone(
        "SELECT v.status, v.number, v.procedure_id, pr.is_active, "
        "o.id, o.time_zone, "
        f"(SELECT m.role FROM {sql.table(Membership)} m WHERE m.organisation_id = "
        "o.id AND m.user_id = %s AND m.is_active = %s), "
        f"{projection.CALENDAR_COLUMNS} "
        f"FROM {sql.table(ProcedureVersion)} v "
        f"JOIN {sql.table(Procedure)} pr ON pr.id = v.procedure_id "
        f"JOIN {sql.table(Organisation)} o ON o.id = v.organisation_id "
        f"LEFT JOIN {sql.table(WorkingCalendar)} c ON c.organisation_id = o.id "
        f"WHERE v.id = %s{sql.for_update(of='v')}",
        [user_id, True, version.pk],
    )
    if row is None:
        raise NotFound()
    status, number, procedure_id, procedure_active = row[:4]
    organisation_id, time_zone, role = row[4:7]
    if role is None:
        raise NotFound()
    if role not in (Role.ADMIN, Role.MEMBER):
        raise PermissionDenied()
    organisation = sql.instance(
        Organisation, {"id": organisation_id, "time_zone": time_zone}
    )
    calendar = projection.calendar_spec_from_row(organisation, row[7:])
    if status != VersionStatus.PUBLISHED:
        raise ValidationFailed(
            _(
                "Only the published version of a procedure can be started; version "
                "%(number)d is %(status)s."
            )
            % {"number": number, "status": VersionStatus(status).label}
        )
    if not procedure_active:
        raise ValidationFailed(_("The procedure is deactivated."))
    if timezone.is_naive(due_at):
        raise ValidationFailed({"due_at": [_("The due date needs a time zone.")]})
    if due_at <= now:
        raise ValidationFailed({"due_at": [_("The due date must be in the future.")]})
    try:
        quantity = Decimal(str(measure_quantity))
    except InvalidOperation as error:
        raise ValidationFailed({"measure_quantity": [_("Enter a number.")]}) from error
    if not quantity.is_finite() or quantity <= 0:
        raise ValidationFailed(
            {"measure_quantity": [_("The target quantity must be more than zero.")]}
        )
    unit = _required_text("measure_unit", measure_unit)
    target_id = None
    if target is not None:
        target_id = _check_run_target(organisation_id, unit, target.pk)
    run_fields, steps, step_roles, links = _version_plan(version.pk)
    values = clean_field_values(run_fields, field_values or {})
    run = Run(
        organisation_id=organisation_id,
        procedure_id=procedure_id,
        procedure_version_id=version.pk,
        title=_required_text("title", title),
        objective=objective.strip(),
        measure_quantity=quantity,
        measure_unit=unit,
        due_at=due_at,
        target_id=target_id,
        field_values=values,
        started_by_id=actor.pk,
        started_at=now,
        created_at=now,
        updated_at=now,
    )
    try:  # the model's own field rules (lengths, digits); the rows exist
        run.clean_fields(
            exclude=[
                "organisation",
                "procedure",
                "procedure_version",
                "started_by",
                "target",
            ]
        )
    except DjangoValidationError as error:
        raise ValidationFailed(error.message_dict) from error
    run.organisation = organisation

    day_minutes = minutes_per_working_day(calendar)
    fields_by_key = {f.key: f for f in run_fields}
    roles_by_step: dict[int, list[tuple[Any, ...]]] = defaultdict(list)
    for step_role in step_roles:
        roles_by_step[step_role[0]].append(step_role)

    tasks: dict[int, dict[str, Any]] = {}
    for step in steps:
        responsible = next(
            r for r in roles_by_step[step.id] if r[1] == RaciRole.RESPONSIBLE
        )
        accountable = next(
            r for r in roles_by_step[step.id] if r[1] == RaciRole.ACCOUNTABLE
        )
        skipped_reason = ""
        if step.condition_field:
            run_field = fields_by_key[step.condition_field]
            if not condition_holds(
                field_type=run_field.field_type,
                operator=step.condition_operator,
                expected=step.condition_value,
                actual=values.get(step.condition_field),
            ):
                skipped_reason = CONDITION_NOT_MET
        tasks[step.id] = {
            "organisation_id": organisation_id,
            "step_id": step.id,
            "key": step.key,
            "name": step.name,
            "sort_order": step.sort_order,
            "duration_minutes": to_minutes(
                step.duration_value, step.duration_unit, minutes_per_day=day_minutes
            ),
            "requires_evidence": step.requires_evidence,
            "requires_verified_evidence": step.requires_verified_evidence,
            "requires_approval": step.requires_approval,
            "requires_consultation": step.requires_consultation,
            "responsible_position_id": responsible[2],
            "responsible_party_id": responsible[3],
            "accountable_position_id": accountable[2],
            "status": TaskStatus.PENDING,
            "skipped_reason": skipped_reason,
            "ready_at": None,
            "assignee_id": None,
            "created_at": now,
            "updated_at": now,
        }
    dependencies = [
        DepInput(
            predecessor,
            successor,
            kind,
            to_minutes(lag_value, lag_unit, minutes_per_day=day_minutes),
        )
        for predecessor, successor, kind, lag_value, lag_unit in links
    ]
    paths = projection.remaining_paths(
        [
            (step_id, task["duration_minutes"], task["status"], task["skipped_reason"])
            for step_id, task in tasks.items()
        ],
        dependencies,
    )
    predecessors: dict[int, list[DepInput]] = defaultdict(list)
    successors: dict[int, list[int]] = defaultdict(list)
    for dependency in dependencies:
        predecessors[dependency.successor].append(dependency)
        successors[dependency.predecessor].append(dependency.successor)
    for step_id in topological_order(tasks, successors):
        task = tasks[step_id]
        task["path_to_end_minutes"] = paths[step_id]
        if all(
            _dependency_satisfied(d.kind, tasks[d.predecessor]["status"])
            for d in predecessors[step_id]
        ):
            if task["skipped_reason"]:
                task["status"] = TaskStatus.SKIPPED
            else:
                task["status"] = TaskStatus.READY
                task["ready_at"] = now
    ready = [t for t in tasks.values() if t["status"] == TaskStatus.READY]
    assigner = extensions.registry.assigner
    work: list[extensions.ReadyWork] = []
    choices: dict[int, extensions.AssignmentChoice] = {}
    if assigner is None:
        assignees = _sole_holders(
            organisation_id,
            [t["responsible_position_id"] for t in ready],
            _local_date(organisation, now),
        )
        for task in ready:
            if task["responsible_position_id"]:
                task["assignee_id"] = assignees.get(task["responsible_position_id"])
    elif ready:
        duty_of_step = {step.id: step.duty_id for step in steps}
        work = [
            extensions.ReadyWork(
                key=task["step_id"],
                run_id=None,
                position_id=task["responsible_position_id"],
                party_id=task["responsible_party_id"],
                duty_id=duty_of_step[task["step_id"]],
                duration_minutes=task["duration_minutes"],
                sort_order=task["sort_order"],
            )
            for task in ready
        ]
        choices = assigner.choose(organisation_id, work, now=now)
        for task in ready:
            choice = choices.get(task["step_id"])
            if choice is not None:
                task["assignee_id"] = choice.person_id

    (run.pk,) = sql.insert(
        Run,
        [
            {
                f.attname: getattr(run, f.attname)
                for f in Run._meta.concrete_fields
                if not f.primary_key
            }
        ],
    )
    run._state.adding = False
    task_ids = sql.insert(Task, [{**task, "run_id": run.pk} for task in tasks.values()])
    task_id = dict(zip(tasks, task_ids, strict=True))
    if assigner is not None and work:
        assigner.record(
            organisation_id,
            [
                (task_id[item.key], item, choices[item.key])
                for item in work
                if item.key in choices
            ],
            now=now,
        )
    sql.insert(
        TaskRole,
        [
            {
                "organisation_id": organisation_id,
                "task_id": task_id[step_id],
                "role": raci,
                "position_id": position_id,
                "party_id": party_id,
            }
            for step_id, raci, position_id, party_id in step_roles
        ],
    )
    sql.insert(
        TaskDependency,
        [
            {
                "organisation_id": organisation_id,
                "run_id": run.pk,
                "predecessor_id": task_id[d.predecessor],
                "successor_id": task_id[d.successor],
                "kind": d.kind,
                "lag_minutes": d.lag_minutes,
            }
            for d in dependencies
        ],
    )
    keys = {
        status: sorted(t["key"] for t in tasks.values() if t["status"] == status)
        for status in (TaskStatus.READY, TaskStatus.SKIPPED)
    }
    entries: list[audit.Entry] = [
        audit.Entry(
            verb=AuditVerb.STARTED,
            target=run,
            changes={
                "procedure": procedure_id,
                "procedure_version": number,
                "title": run.title,
                "measure": [run.measure_quantity, run.measure_unit],
                "due_at": run.due_at,
                "field_values": values,
                "tasks": len(tasks),
                "ready": keys[TaskStatus.READY],
                "skipped": keys[TaskStatus.SKIPPED],
                **({"target": target_id} if target_id is not None else {}),
            },
        )
    ]
    frontier = [
        projection.FrontierTask(
            task_id[step_id],
            t["status"],
            t["duration_minutes"],
            t["path_to_end_minutes"],
            None,
            tuple(
                projection.Predecessor(
                    task_id[d.predecessor],
                    d.kind,
                    d.lag_minutes,
                    tasks[d.predecessor]["status"],
                )
                for d in predecessors[step_id]
            ),
        )
        for step_id, t in tasks.items()
        if t["status"] == TaskStatus.READY
    ]
    if not frontier:
        entries.append(_complete_run(run, actor=actor, now=now))
    projection.refresh(run, now=now, frontier=frontier, calendar=calendar)
    for step_id, task in tasks.items():
        if task["status"] == TaskStatus.READY:
            extensions.emit_task_ready(
                extensions.TaskReady(
                    organisation_id, run.pk, task_id[step_id], task["assignee_id"], now
                )
            )
    audit.record_many(organisation, actor=actor, entries=entries)
    return run


@transaction.atomic
def set_expected_delays(
    run: Run,
    *,
    task_delays: Mapping[int, int],
    hold_minutes: int,
    now: dt.datetime | None = None,
) -> None:
    """Carry the expected delays of a run's open obstacles into its schedule.

    Sets `Task.delay_minutes` of the tasks in `task_delays` (task id → working
    minutes, absolute; the run's other tasks keep theirs) and `Run.hold_minutes`,
    stores the paths to the end again and refreshes the projection, so the
    projected finish and the schedule status follow at once and `run_late` fires
    when the run turns late. Derived data, written by the obstacles services in
    their own transaction: no audit event, no version change (like a projection
    refresh). A task of another run or a negative figure is a ValueError.
    """
    now = _now(now)
    if hold_minutes < 0:
        raise ValueError("hold_minutes must not be negative")
    locked = _lock_run(run.pk)
    if task_delays:
        projection.recompute_paths(locked, delays=task_delays)
    if locked.hold_minutes != hold_minutes:
        sql.execute(
            f"UPDATE {sql.table(Run)} SET hold_minutes = %s WHERE id = %s",
            [hold_minutes, locked.pk],
        )
        locked.hold_minutes = hold_minutes
    projection.refresh(locked, now=now)
    for name in (
        "hold_minutes",
        "projected_finish_at",
        "schedule_status",
        "schedule_revision",
    ):
        setattr(run, name, getattr(locked, name))


def refresh_schedule(run: Run, *, now: dt.datetime | None = None) -> Run:
    """Bring a run's projection up to date with the clock (time passes without
    transitions). Derived data only: no audit event, no version change."""
    now = _now(now)
    locked = _lock_run(run.pk)
    projection.refresh(locked, now=now)
    for name in ("projected_finish_at", "schedule_status", "schedule_revision"):
        setattr(run, name, getattr(locked, name))
    return run


@dataclass(frozen=True, slots=True)
class ScheduleRefresh:
    """What a periodic refresh of the active runs' projections found."""

    runs: int
    changed: int  # runs whose schedule status changed
    now_at_risk: int
    now_late: int


def refresh_schedules(
    *, organisation: Organisation | None = None, now: dt.datetime | None = None
) -> ScheduleRefresh:
    """Bring every active run's projection up to date with the clock: a task in
    flight past its estimate pushes the projected finish, and a run can turn at
    risk or late (firing `run_late`) without anyone acting on it. Each run in its
    own short transaction, so a long sweep never holds locks; derived data only (no
    audit event, no version change). Meant to run periodically (`rantai runs
    refresh`, from cron or the worker)."""
    now = _now(now)
    runs = Run.objects.filter(status=RunStatus.ACTIVE)
    if organisation is not None:
        runs = runs.filter(organisation=organisation)
    count = changed = at_risk = late = 0
    for run_id, before in runs.order_by("pk").values_list("pk", "schedule_status"):
        with transaction.atomic():
            locked = _lock_run(run_id)
            if locked.status != RunStatus.ACTIVE:
                continue  # finished or suspended since the list was read
            projection.refresh(locked, now=now)
        count += 1
        if locked.schedule_status != before:
            changed += 1
            at_risk += locked.schedule_status == ScheduleStatus.AT_RISK
            late += locked.schedule_status == ScheduleStatus.LATE
    return ScheduleRefresh(count, changed, at_risk, late)


# --- runs: the task transitions ---------------------------------------------------


def _lock_run(run_id: int) -> Run:
    """The run, locked for the transition (PostgreSQL; SQLite writers queue)."""
    return (
        Run.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .get(pk=run_id)
    )


# What a task transition needs of its run, its organisation, the acting user and
# the working calendar, read by one hand-written statement that also locks the run
# (the engine's hot path: see rantai.core.sql).
_RUN_FIELDS = (
    "id",
    "organisation_id",
    "procedure_id",
    "title",
    "due_at",
    "status",
    "completed_at",
    "measure_quantity",
    "schedule_status",
    "schedule_revision",
    "hold_minutes",
    "version",
)


@dataclass(frozen=True, slots=True)
class _Locked:
    run: Run
    role: str | None
    party_id: int | None
    person_id: int | None
    calendar: projection.CalendarSpec


def _lock_run_for(run_id: int, user: User | None) -> _Locked:
    """Lock the run; with it read the organisation's time zone, the user's active
    membership and person (each unique by a constraint, so the subqueries have
    one row at most), and the working calendar (one statement)."""
    user_id = user.pk if user is not None and user.is_active else None
    row = sql.fetchone(
        f"SELECT {', '.join('r.' + name for name in _RUN_FIELDS)}, o.time_zone, "
        f"(SELECT m.role FROM {sql.table(Membership)} m WHERE m.organisation_id = "
        "r.organisation_id AND m.user_id = %s AND m.is_active = %s), "
        f"(SELECT m.party_id FROM {sql.table(Membership)} m WHERE m.organisation_id "
        "= r.organisation_id AND m.user_id = %s AND m.is_active = %s), "
        f"(SELECT p.id FROM {sql.table(Person)} p WHERE p.organisation_id = "
        "r.organisation_id AND p.user_id = %s AND p.is_active = %s), "
        f"{projection.CALENDAR_COLUMNS} "
        f"FROM {sql.table(Run)} r "
        f"JOIN {sql.table(Organisation)} o ON o.id = r.organisation_id "
        f"LEFT JOIN {sql.table(WorkingCalendar)} c ON c.organisation_id = "
        f"r.organisation_id WHERE r.id = %s{sql.for_update(of='r')}",
        [user_id, True, user_id, True, user_id, True, run_id],
    )
    if row is None:
        raise NotFound()
    width = len(_RUN_FIELDS)
    values = dict(zip(_RUN_FIELDS, row[:width], strict=True))
    values["due_at"] = sql.py_datetime(values["due_at"])
    values["completed_at"] = sql.py_datetime(values["completed_at"])
    values["measure_quantity"] = sql.py_decimal(values["measure_quantity"])
    run = sql.instance(Run, values)
    time_zone, role, party_id, person_id = row[width : width + 4]
    organisation = sql.instance(
        Organisation, {"id": values["organisation_id"], "time_zone": time_zone}
    )
    run.organisation = organisation
    calendar = projection.calendar_spec_from_row(organisation, row[width + 4 :])
    return _Locked(run, role, party_id, person_id, calendar)


def _require_active(run: Run) -> None:
    if run.status != RunStatus.ACTIVE:
        raise ValidationFailed(
            _("The run is %(status)s: its tasks cannot change.")
            % {"status": run.get_status_display()}
        )


def _begin_task(
    task: Task, actor: User, now: dt.datetime, *, owner_may_act: bool = False
) -> tuple[Run, _Rights, projection.CalendarSpec]:
    locked = _lock_run_for(task.run_id, actor)
    run = locked.run
    rights = _rights_of(
        task,
        locked.role,
        locked.party_id,
        locked.person_id,
        _local_date(run.organisation, now),
    )
    if not rights.allowed:
        if owner_may_act:
            _require_process_owner(run, actor, now)
        else:
            raise PermissionDenied(
                _(
                    "Only the task's assignee or the holders of its positions can act on it."
                )
                if task.responsible_party_id is None
                else _("Only the partner responsible for this task can act on it.")
            )
    _require_active(run)
    return run, rights, locked.calendar


def _transition(
    task: Task, *, expected_version: int | None, fields: dict[str, Any]
) -> None:
    """UPDATE task SET … WHERE id, version and status are what the caller saw."""
    current = task.version if expected_version is None else expected_version
    assignments, params = sql.set_clause(Task, fields)
    updated = sql.execute(
        f"UPDATE {sql.table(Task)} SET {assignments}, version = version + 1 "
        "WHERE id = %s AND version = %s AND status = %s",
        [*params, task.pk, current, task.status],
    )
    if updated != 1:
        raise Conflict()
    for name, value in fields.items():
        setattr(task, name, value)
    task.version = current + 1


def _illegal(task: Task, action: str) -> ValidationFailed:
    return ValidationFailed(
        {
            "status": [
                _("The task “%(task)s” is %(status)s, so it cannot be %(action)s.")
                % {
                    "task": task.name,
                    "status": task.get_status_display(),
                    "action": action,
                }
            ]
        },
        code="illegal_transition",
    )


@dataclass
class Settled:
    """What settling a run's tasks changed."""

    readied: list[tuple[int, int | None]] = field(default_factory=list)
    skipped: list[int] = field(default_factory=list)
    back_to_pending: list[int] = field(default_factory=list)


@cache
def _settle_sql() -> str:
    """A candidate task's row (with what an assigner needs to know of it: its
    step's duty, run, order, duration, responsible party) and whether any of its
    dependencies is unsatisfied (`_dependency_satisfied`, in SQL); `{ids}` is the
    IN list."""
    return (
        "SELECT t.id, t.status, t.skipped_reason, t.responsible_position_id, "
        "t.assignee_id, s.duty_id, t.run_id, t.sort_order, t.duration_minutes, "
        "t.responsible_party_id, EXISTS (SELECT 1 "
        f"FROM {sql.table(TaskDependency)} d JOIN {sql.table(Task)} p "
        "ON p.id = d.predecessor_id WHERE d.successor_id = t.id AND ("
        f"(d.kind = '{DependencyKind.START_TO_START}' "
        f"AND p.status NOT IN {sql.quoted(STARTED_STATUSES)}) OR "
        f"(d.kind <> '{DependencyKind.START_TO_START}' "
        f"AND p.status NOT IN {sql.quoted(FINISHED_STATUSES)}))) "
        f"FROM {sql.table(Task)} t LEFT JOIN {sql.table(Step)} s ON s.id = t.step_id "
        "WHERE t.id IN {ids} AND t.status IN "
        f"{sql.quoted([TaskStatus.PENDING, TaskStatus.READY, TaskStatus.SKIPPED])}"
    )


def _set_status(
    ids: list[int],
    status: str,
    *,
    now: dt.datetime,
    only_from: str | None = None,
    **fields: Any,
) -> None:
    """One UPDATE of several tasks' status (and the given fields), bumping versions."""
    assignments, params = sql.set_clause(
        Task, {"status": status, "updated_at": now, **fields}
    )
    guard = " AND status = %s" if only_from else ""
    sql.execute(
        f"UPDATE {sql.table(Task)} SET {assignments}, version = version + 1 "
        f"WHERE id IN {sql.in_list(ids)}{guard}",
        [*params, *ids, *([only_from] if only_from else [])],
    )


def _settle(
    run: Run,
    candidate_ids: Iterable[int] = (),
    *,
    now: dt.datetime,
    successors_of: Sequence[int] = (),
) -> Settled:
    """Make the candidates' states match their dependencies (the candidates: the
    given tasks, or the successors of `successors_of`).

    A pending task whose dependencies are satisfied becomes ready (or, marked to
    be skipped, is skipped and lets its successors through); a ready task — or a
    passed-through skipped one — whose dependencies no longer hold goes back to
    pending. Bulk statements, no query per task.
    """
    settled = Settled()
    candidates = sorted(set(candidate_ids))
    predecessors = sorted(set(successors_of))
    day: dt.date | None = None
    while candidates or predecessors:
        if predecessors:  # the successors, found by the same statement
            rows = sql.fetchall(
                _settle_sql().format(
                    ids=f"(SELECT successor_id FROM {sql.table(TaskDependency)} "
                    f"WHERE predecessor_id IN {sql.in_list(predecessors)})"
                ),
                predecessors,
            )
        else:
            rows = sql.fetchall(
                _settle_sql().format(ids=sql.in_list(candidates)), candidates
            )
        candidates, predecessors = [], []
        if not rows:
            break
        to_ready: list[tuple[int, int | None, int | None]] = []
        work: list[extensions.ReadyWork] = []
        to_skip: list[int] = []
        to_pending: list[int] = []
        reverted_skips: list[int] = []
        for row in sorted(rows):
            task_id, status, skipped_reason, position, assignee = row[:5]
            blocked = row[10]
            ok = not blocked
            if (
                status in (TaskStatus.PENDING, TaskStatus.READY)
                and ok
                and skipped_reason
            ):
                to_skip.append(task_id)
            elif status == TaskStatus.PENDING and ok:
                to_ready.append((task_id, position, assignee))
                if assignee is None:  # a reopened task keeps its assignee
                    duty_id, run_id, sort_order, minutes, party_id = row[5:10]
                    work.append(
                        extensions.ReadyWork(
                            task_id,
                            run_id,
                            position,
                            party_id,
                            duty_id,
                            minutes,
                            sort_order,
                        )
                    )
            elif status == TaskStatus.READY and not ok:
                to_pending.append(task_id)
            elif status == TaskStatus.SKIPPED and not ok and skipped_reason:
                to_pending.append(task_id)
                reverted_skips.append(task_id)
        if to_ready:
            assigner = extensions.registry.assigner
            choices: dict[int, extensions.AssignmentChoice] = {}
            holders: dict[int, int] = {}
            if assigner is not None:
                if work:
                    choices = assigner.choose(run.organisation_id, work, now=now)
            else:
                if day is None:
                    day = _local_date(run.organisation, now)
                holders = _sole_holders(
                    run.organisation_id,
                    [p for _id, p, assignee in to_ready if assignee is None],
                    day,
                )
            groups: dict[int | None, list[int]] = defaultdict(list)
            for task_id, ready_position, current in to_ready:
                chosen: int | None
                if current is not None:
                    chosen = current
                elif assigner is not None:
                    choice = choices.get(task_id)
                    chosen = choice.person_id if choice is not None else None
                else:
                    chosen = holders.get(ready_position)  # type: ignore[arg-type]
                groups[chosen].append(task_id)
                settled.readied.append((task_id, chosen))
            for chosen_id, ids in groups.items():
                _set_status(
                    ids,
                    TaskStatus.READY,
                    now=now,
                    only_from=TaskStatus.PENDING,
                    ready_at=now,
                    assignee_id=chosen_id,
                )
            if assigner is not None and work:
                assigner.record(
                    run.organisation_id,
                    [
                        (item.key, item, choices[item.key])
                        for item in work
                        if item.key in choices
                    ],
                    now=now,
                )
        if to_skip:
            _set_status(to_skip, TaskStatus.SKIPPED, now=now, ready_at=None)
            settled.skipped.extend(to_skip)
        if to_pending:
            _set_status(to_pending, TaskStatus.PENDING, now=now, ready_at=None)
            settled.back_to_pending.extend(to_pending)
        predecessors = sorted(to_skip + reverted_skips)
    return settled


def _complete_run(run: Run, *, actor: User | None, now: dt.datetime) -> audit.Entry:
    """Every task is done, skipped or cancelled: the run completes, exactly once."""
    late_by = now - run.due_at if now > run.due_at else None
    result = RunResult.MET if late_by is None else RunResult.MISSED
    fields: dict[str, Any] = {
        "status": RunStatus.COMPLETED,
        "completed_at": now,
        "result": result,
        "result_delay": late_by,
        "actual_quantity": run.measure_quantity,
        "updated_at": now,
    }
    assignments, params = sql.set_clause(Run, fields)
    updated = sql.execute(
        f"UPDATE {sql.table(Run)} SET {assignments}, version = version + 1 "
        "WHERE id = %s AND status = %s",
        [*params, run.pk, RunStatus.ACTIVE],
    )
    if updated != 1:
        raise Conflict()
    for name, value in fields.items():
        setattr(run, name, value)
    run.version += 1
    extensions.emit_run_completed(
        extensions.RunCompleted(run.organisation_id, run.pk, result, now, run.due_at)
    )
    return audit.Entry(
        verb=AuditVerb.COMPLETED,
        target=run,
        changes={
            "status": [RunStatus.ACTIVE, RunStatus.COMPLETED],
            "result": result,
            "late_by_minutes": int(late_by.total_seconds() // 60) if late_by else 0,
            "actual_quantity": run.measure_quantity,
        },
    )


def _after_transition(
    run: Run,
    *,
    actor: User,
    now: dt.datetime,
    entry: audit.Entry,
    settled: Settled | None = None,
    calendar: projection.CalendarSpec | None = None,
) -> None:
    """Shared tail of a task transition: events, completion, projection, audit."""
    entries = [entry]
    if settled is not None:
        for task_id, assignee_id in settled.readied:
            extensions.emit_task_ready(
                extensions.TaskReady(
                    run.organisation_id, run.pk, task_id, assignee_id, now
                )
            )
    frontier = projection.load_frontier(run.pk)
    if not frontier and run.status == RunStatus.ACTIVE:
        # Nothing in flight means nothing pending either: every task is final.
        entries.append(_complete_run(run, actor=actor, now=now))
    projection.refresh(run, now=now, frontier=frontier, calendar=calendar)
    audit.record_many(run.organisation, actor=actor, entries=entries)


@transaction.atomic
def claim_task(
    task: Task,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Task:
    """Take an unassigned task of a position one holds (several holders)."""
    now = _now(now)
    run, rights, _calendar = _begin_task(task, actor, now)
    if task.responsible_party_id is not None or rights.person_id is None:
        raise PermissionDenied(_("A partner's task is not claimed by a person."))
    if task.status not in (TaskStatus.PENDING, TaskStatus.READY):
        raise _illegal(task, _("claimed"))
    if task.assignee_id is not None:
        raise ValidationFailed(
            {"assignee": [_("The task is already assigned.")]}, code="assigned"
        )
    _transition(
        task,
        expected_version=expected_version,
        fields={"assignee_id": rights.person_id, "updated_at": now},
    )
    extensions.emit_task_assigned(
        extensions.TaskAssigned(
            run.organisation_id, run.pk, task.pk, rights.person_id, actor.pk, now
        )
    )
    audit.record(
        run.organisation,
        actor=actor,
        verb=AuditVerb.CLAIMED,
        target=task,
        changes={"assignee": [None, rights.person_id]},
    )
    return task


@transaction.atomic
def start_task(
    task: Task,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Task:
    """ready → in progress (an unassigned task is assigned to whoever starts it);
    start-to-start successors are released."""
    now = _now(now)
    run, rights, calendar = _begin_task(task, actor, now)
    if task.status != TaskStatus.READY:
        raise _illegal(task, _("started"))
    fields: dict[str, Any] = {
        "status": TaskStatus.IN_PROGRESS,
        "started_at": now,
        "updated_at": now,
    }
    changes: dict[str, Any] = {"status": [TaskStatus.READY, TaskStatus.IN_PROGRESS]}
    if task.assignee_id is None and rights.person_id is not None:
        fields["assignee_id"] = rights.person_id
        changes["assignee"] = [None, rights.person_id]
    _transition(task, expected_version=expected_version, fields=fields)
    if "assignee_id" in fields:
        extensions.emit_task_assigned(
            extensions.TaskAssigned(
                run.organisation_id,
                run.pk,
                task.pk,
                fields["assignee_id"],
                actor.pk,
                now,
            )
        )
    settled = _settle(run, now=now, successors_of=[task.pk])
    if settled.readied or settled.skipped:
        changes["released"] = [pk for pk, _a in settled.readied] + settled.skipped
    _after_transition(
        run,
        actor=actor,
        now=now,
        entry=audit.Entry(verb=AuditVerb.TASK_STARTED, target=task, changes=changes),
        settled=settled,
        calendar=calendar,
    )
    return task


def _finish(
    run: Run,
    task: Task,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime,
    changes: dict[str, Any],
    calendar: projection.CalendarSpec | None = None,
) -> Task:
    fields: dict[str, Any] = {
        "status": TaskStatus.DONE,
        "done_at": now,
        "awaiting_reasons": [],
        "updated_at": now,
    }
    if task.started_at is None:
        fields["started_at"] = now
    _transition(task, expected_version=expected_version, fields=fields)
    settled = _settle(run, now=now, successors_of=[task.pk])
    if settled.readied or settled.skipped:
        changes["released"] = [pk for pk, _a in settled.readied] + settled.skipped
    extensions.emit_task_done(
        extensions.TaskDone(run.organisation_id, run.pk, task.pk, actor.pk, now)
    )
    _after_transition(
        run,
        actor=actor,
        now=now,
        entry=audit.Entry(verb=AuditVerb.TASK_COMPLETED, target=task, changes=changes),
        settled=settled,
        calendar=calendar,
    )
    return task


def _await(
    run: Run,
    task: Task,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime,
    reasons: list[str],
    calendar: projection.CalendarSpec | None = None,
) -> Task:
    old = task.status
    fields: dict[str, Any] = {
        "status": TaskStatus.AWAITING,
        "awaiting_reasons": reasons,
        "updated_at": now,
    }
    if task.started_at is None:
        fields["started_at"] = now
    _transition(task, expected_version=expected_version, fields=fields)
    settled = (
        _settle(run, now=now, successors_of=[task.pk])
        if old == TaskStatus.READY
        else None
    )
    extensions.emit_task_awaiting(
        extensions.TaskAwaiting(
            run.organisation_id, run.pk, task.pk, actor.pk, tuple(reasons), now
        )
    )
    _after_transition(
        run,
        actor=actor,
        now=now,
        entry=audit.Entry(
            verb=AuditVerb.TASK_AWAITING,
            target=task,
            changes={"status": [old, TaskStatus.AWAITING], "waiting_for": reasons},
        ),
        settled=settled,
        calendar=calendar,
    )
    return task


@transaction.atomic
def complete_task(
    task: Task,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Task:
    """ready or in progress → done (or awaiting while a completion guard says no).

    Done releases its successors (finish-to-start and start-to-start); when every
    task is done, skipped or cancelled the run completes, exactly once.
    """
    now = _now(now)
    run, _rights, calendar = _begin_task(task, actor, now)
    if task.status not in (TaskStatus.READY, TaskStatus.IN_PROGRESS):
        raise _illegal(task, _("completed"))
    reasons = extensions.check_guards(task)
    if reasons:
        return _await(
            run,
            task,
            actor=actor,
            expected_version=expected_version,
            now=now,
            reasons=reasons,
            calendar=calendar,
        )
    return _finish(
        run,
        task,
        actor=actor,
        expected_version=expected_version,
        now=now,
        changes={"status": [task.status, TaskStatus.DONE]},
        calendar=calendar,
    )


@transaction.atomic
def recheck_task(
    task: Task,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Task:
    """awaiting → done once every completion guard says yes; otherwise the reasons
    are brought up to date (nothing is written when they did not change)."""
    now = _now(now)
    run = _lock_run(task.run_id)
    membership = _require_role(
        run.organisation_id, actor, {Role.ADMIN, Role.MEMBER, Role.PARTNER}
    )
    if membership.role == Role.PARTNER and (
        membership.party_id != task.responsible_party_id
    ):
        raise PermissionDenied()
    _require_active(run)
    if task.status != TaskStatus.AWAITING:
        raise _illegal(task, _("checked again"))
    reasons = extensions.check_guards(task)
    if not reasons:
        return _finish(
            run,
            task,
            actor=actor,
            expected_version=expected_version,
            now=now,
            changes={"status": [TaskStatus.AWAITING, TaskStatus.DONE]},
        )
    changed = reasons != task.awaiting_reasons
    if changed:
        old_reasons = task.awaiting_reasons
        _transition(
            task,
            expected_version=expected_version,
            fields={"awaiting_reasons": reasons, "updated_at": now},
        )
    extensions.emit_task_awaiting(
        extensions.TaskAwaiting(
            run.organisation_id, run.pk, task.pk, actor.pk, tuple(reasons), now
        )
    )
    if changed:
        audit.record(
            run.organisation,
            actor=actor,
            verb=AuditVerb.TASK_AWAITING,
            target=task,
            changes={"waiting_for": [old_reasons, reasons]},
        )
    return task


@transaction.atomic
def reopen_task(
    task: Task,
    *,
    actor: User,
    expected_version: int | None,
    reason: str,
    now: dt.datetime | None = None,
) -> Task:
    """Reopen a done task of an active run, with a reason.

    Its successors that have not started go back to pending; started ones
    continue and are flagged so someone checks them again.
    """
    now = _now(now)
    run, _rights, calendar = _begin_task(task, actor, now, owner_may_act=True)
    reason = _required_text("reason", reason)
    if task.status != TaskStatus.DONE:
        raise _illegal(task, _("reopened"))
    satisfied = all(
        _dependency_satisfied(kind, status)
        for kind, status in TaskDependency.objects.filter(
            successor_id=task.pk
        ).values_list("kind", "predecessor__status")
    )
    new_status = TaskStatus.READY if satisfied else TaskStatus.PENDING
    _transition(
        task,
        expected_version=expected_version,
        fields={
            "status": new_status,
            "ready_at": now if satisfied else None,
            "started_at": None,
            "done_at": None,
            "awaiting_reasons": [],
            "reopen_count": task.reopen_count + 1,
            "last_reopen_reason": reason,
            "updated_at": now,
        },
    )
    successors = list(
        Task.objects.filter(predecessor_links__predecessor_id=task.pk).values_list(
            "id", "status"
        )
    )
    flagged = [
        pk
        for pk, status in successors
        if status in (TaskStatus.IN_PROGRESS, TaskStatus.AWAITING, TaskStatus.DONE)
    ]
    if flagged:
        Task.objects.filter(pk__in=flagged).update(
            flagged_after_reopen=True, updated_at=now, version=F("version") + 1
        )
    settled = _settle(run, [pk for pk, _s in successors if pk not in flagged], now=now)
    extensions.emit_task_reopened(
        extensions.TaskReopened(run.organisation_id, run.pk, task.pk, actor.pk, now)
    )
    _after_transition(
        run,
        actor=actor,
        now=now,
        entry=audit.Entry(
            verb=AuditVerb.TASK_REOPENED,
            target=task,
            changes={
                "status": [TaskStatus.DONE, new_status],
                "flagged": sorted(flagged),
                "back_to_pending": sorted(settled.back_to_pending),
            },
            personal_changes={"reason": reason},
        ),
        settled=settled,
        calendar=calendar,
    )
    return task


# --- runs: the process owner's transitions ----------------------------------------


def _run_transition(
    run: Run,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime,
    allowed_from: Iterable[str],
    fields: dict[str, Any],
    action: str,
) -> tuple[Run, str]:
    locked = _lock_run(run.pk)
    _require_process_owner(locked, actor, now)
    if run.status not in set(allowed_from):
        raise ValidationFailed(
            {
                "status": [
                    _("The run is %(status)s, so it cannot be %(action)s.")
                    % {"status": run.get_status_display(), "action": action}
                ]
            },
            code="illegal_transition",
        )
    old = run.status
    current = run.version if expected_version is None else expected_version
    updated = Run.objects.filter(pk=run.pk, version=current, status=old).update(
        **fields, updated_at=now, version=F("version") + 1
    )
    if updated != 1:
        raise Conflict()
    for name, value in fields.items():
        setattr(run, name, value)
    run.version = current + 1
    run.updated_at = now
    run.organisation = locked.organisation
    return run, old


@transaction.atomic
def suspend_run(
    run: Run,
    *,
    actor: User,
    expected_version: int | None,
    reason: str,
    now: dt.datetime | None = None,
) -> Run:
    now = _now(now)
    reason = _required_text("reason", reason)
    run, old = _run_transition(
        run,
        actor=actor,
        expected_version=expected_version,
        now=now,
        allowed_from={RunStatus.ACTIVE},
        fields={"status": RunStatus.SUSPENDED, "status_reason": reason},
        action=_("suspended"),
    )
    audit.record(
        run.organisation,
        actor=actor,
        verb=AuditVerb.SUSPENDED,
        target=run,
        changes={"status": [old, RunStatus.SUSPENDED]},
        personal_changes={"reason": reason},
    )
    return run


@transaction.atomic
def resume_run(
    run: Run,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Run:
    now = _now(now)
    run, old = _run_transition(
        run,
        actor=actor,
        expected_version=expected_version,
        now=now,
        allowed_from={RunStatus.SUSPENDED},
        fields={"status": RunStatus.ACTIVE, "status_reason": ""},
        action=_("resumed"),
    )
    projection.refresh(run, now=now)
    audit.record(
        run.organisation,
        actor=actor,
        verb=AuditVerb.RESUMED,
        target=run,
        changes={"status": [old, RunStatus.ACTIVE]},
    )
    return run


@transaction.atomic
def cancel_run(
    run: Run,
    *,
    actor: User,
    expected_version: int | None,
    reason: str,
    now: dt.datetime | None = None,
) -> Run:
    """Cancel an active or suspended run: its unfinished tasks are cancelled."""
    now = _now(now)
    reason = _required_text("reason", reason)
    run, old = _run_transition(
        run,
        actor=actor,
        expected_version=expected_version,
        now=now,
        allowed_from={RunStatus.ACTIVE, RunStatus.SUSPENDED},
        fields={"status": RunStatus.CANCELLED, "status_reason": reason},
        action=_("cancelled"),
    )
    cancelled = (
        Task.objects.filter(run_id=run.pk)
        .exclude(status__in=(TaskStatus.DONE, TaskStatus.SKIPPED))
        .update(status=TaskStatus.CANCELLED, updated_at=now, version=F("version") + 1)
    )
    audit.record(
        run.organisation,
        actor=actor,
        verb=AuditVerb.CANCELLED,
        target=run,
        changes={"status": [old, RunStatus.CANCELLED], "cancelled_tasks": cancelled},
        personal_changes={"reason": reason},
    )
    return run


@transaction.atomic
def move_due_date(
    run: Run,
    *,
    actor: User,
    expected_version: int | None,
    due_at: dt.datetime,
    reason: str,
    via_route: bool = False,
    now: dt.datetime | None = None,
) -> Run:
    """Move a run's due date. The accountable of the procedure — a holder of its
    owner position — decides, so only they may do it (administrators without the
    position may not).

    When an approval route applies to the change (a decision gate says so), it is
    decided there instead: `approvals.requesting.request_due_date_change` submits
    it, and the engine calls this with `via_route=True` and the final approver as
    `actor`, whose authority it checked itself."""
    now = _now(now)
    reason = _required_text("reason", reason)
    locked = _lock_run(run.pk)
    _require_role(locked.organisation_id, actor, {Role.ADMIN, Role.MEMBER})
    if not via_route:
        owner = (
            Procedure.objects.filter(pk=locked.procedure_id)
            .values_list("owner_position_id", flat=True)
            .get()
        )
        if not holds_position(
            locked.organisation, actor, owner, on=_local_date(locked.organisation, now)
        ):
            raise PermissionDenied(
                _(
                    "Only the accountable of the procedure (its owner) can move the "
                    "due date."
                )
            )
    if timezone.is_naive(due_at):
        raise ValidationFailed({"due_at": [_("The due date needs a time zone.")]})
    if due_at <= run.started_at:
        raise ValidationFailed(
            {"due_at": [_("The due date must be after the run started.")]}
        )
    if run.status in FINAL_RUN_STATUSES:
        raise ValidationFailed(
            {
                "status": [
                    _("The run is %(status)s, so its due date cannot move.")
                    % {"status": run.get_status_display()}
                ]
            },
            code="illegal_transition",
        )
    if not via_route:
        _refuse_when_gated(extensions.DUE_DATE_CHANGE, run.pk, {"due_at": due_at})
    old = run.due_at
    run.organisation = locked.organisation
    compare_and_set(
        run,
        expected_version=expected_version,
        fields={"due_at": due_at, "updated_at": now},
    )
    projection.refresh(run, now=now)
    audit.record(
        run.organisation,
        actor=actor,
        verb=AuditVerb.DUE_DATE_MOVED,
        target=run,
        changes={"due_at": [old, due_at]},
        personal_changes={"reason": reason},
    )
    return run


@transaction.atomic
def record_actual_quantity(
    run: Run,
    *,
    actor: User,
    expected_version: int | None,
    actual_quantity: Decimal | int | str,
    now: dt.datetime | None = None,
) -> Run:
    """Record what a completed run actually achieved; short of the target quantity
    the result is missed even when it was on time."""
    now = _now(now)
    _require_process_owner(run, actor, now)
    if run.status != RunStatus.COMPLETED:
        raise ValidationFailed(_("Only a completed run has a result."))
    try:
        quantity = Decimal(str(actual_quantity))
    except InvalidOperation as error:
        raise ValidationFailed({"actual_quantity": [_("Enter a number.")]}) from error
    if quantity < 0:
        raise ValidationFailed({"actual_quantity": [_("Enter zero or more.")]})
    on_time = run.result_delay is None
    result = (
        RunResult.MET
        if on_time and quantity >= run.measure_quantity
        else RunResult.MISSED
    )
    old = {"actual_quantity": run.actual_quantity, "result": run.result}
    compare_and_set(
        run,
        expected_version=expected_version,
        fields={"actual_quantity": quantity, "result": result, "updated_at": now},
    )
    audit.record(
        run.organisation,
        actor=actor,
        verb=AuditVerb.RESULT_RECORDED,
        target=run,
        changes=audit.diff(old, {"actual_quantity": quantity, "result": result}),
    )
    return run


# --- deviations -------------------------------------------------------------------


def _task_ids_of_run(run: Run, ids: Any, name: str) -> list[int]:
    if not isinstance(ids, list) or any(
        not isinstance(i, int) or isinstance(i, bool) for i in ids
    ):
        raise ValidationFailed({name: [_("Give a list of tasks of this run.")]})
    found = set(Task.objects.filter(run=run, pk__in=ids).values_list("pk", flat=True))
    if found != set(ids):
        raise ValidationFailed({name: [_("Some tasks are not part of this run.")]})
    return sorted(set(ids))


def _clean_deviation(
    run: Run, kind: str, task: Task | None, details: Mapping[str, Any]
) -> dict[str, Any]:
    """Check a deviation against the run as it is now; canonical details out."""
    not_started = (TaskStatus.PENDING, TaskStatus.READY)
    if kind in (DeviationKind.SKIP_STEP, DeviationKind.REORDER):
        if task is None or task.run_id != run.pk:
            raise ValidationFailed({"task": [_("Choose a task of this run.")]})
        task.refresh_from_db(fields=["status", "skipped_reason", "version"])
        if task.status not in not_started or task.skipped_reason:
            raise ValidationFailed(
                {"task": [_("Only a task that has not started can be changed.")]}
            )
    if kind == DeviationKind.SKIP_STEP:
        return {}
    if kind == DeviationKind.REORDER:
        assert task is not None
        predecessors = _task_ids_of_run(
            run, details.get("predecessors", []), "predecessors"
        )
        if task.pk in predecessors:
            raise ValidationFailed(
                {"predecessors": [_("A task cannot wait on itself.")]}
            )
        return {"predecessors": predecessors}
    if kind != DeviationKind.ADD_STEP:
        raise ValidationFailed({"kind": [_("Choose a valid kind of deviation.")]})
    if task is not None:
        raise ValidationFailed({"task": [_("Adding a step names no existing task.")]})
    key = slugify(str(details.get("key", "")))
    name = str(details.get("name", "")).strip()
    errors: dict[str, list[str]] = {}
    if not key:
        errors["key"] = [_("This field is required.")]
    elif Task.objects.filter(run=run, key=key).exists():
        errors["key"] = [_("Another task of this run uses this key.")]
    if not name:
        errors["name"] = [_("This field is required.")]
    duration = details.get("duration_minutes")
    if not isinstance(duration, int) or isinstance(duration, bool) or duration <= 0:
        errors["duration_minutes"] = [_("Give the duration in working minutes.")]
    position_id = details.get("responsible_position")
    party_id = details.get("responsible_party")
    accountable_id = details.get("accountable_position")
    if (position_id is None) == (party_id is None):
        errors["responsible_position"] = [
            _("Name a responsible position or an external party (one of them).")
        ]
    if (
        position_id is not None
        and not Position.objects.filter(
            pk=position_id, organisation_id=run.organisation_id, is_active=True
        ).exists()
    ):
        errors["responsible_position"] = [_("Choose an active position.")]
    if (
        party_id is not None
        and not Party.objects.filter(
            pk=party_id,
            organisation_id=run.organisation_id,
            kind=PartyKind.EXTERNAL_PARTNER,
            is_active=True,
        ).exists()
    ):
        errors["responsible_party"] = [_("Choose an active external partner.")]
    if (
        not isinstance(accountable_id, int)
        or not Position.objects.filter(
            pk=accountable_id, organisation_id=run.organisation_id, is_active=True
        ).exists()
    ):
        errors["accountable_position"] = [_("Choose an active position.")]
    if errors:
        raise ValidationFailed(errors)
    after = _task_ids_of_run(run, details.get("after", []), "after")
    before = _task_ids_of_run(run, details.get("before", []), "before")
    if set(after) & set(before):
        raise ValidationFailed(
            {"before": [_("A task cannot come both before and after the new step.")]}
        )
    started = Task.objects.filter(pk__in=before).exclude(status__in=not_started)
    if started.exists():
        raise ValidationFailed(
            {"before": [_("The new step cannot come before a task that has started.")]}
        )
    return {
        "key": key,
        "name": name,
        "duration_minutes": duration,
        "responsible_position": position_id,
        "responsible_party": party_id,
        "accountable_position": accountable_id,
        "after": after,
        "before": before,
    }


@transaction.atomic
def request_deviation(
    run: Run,
    *,
    actor: User,
    kind: str,
    reason: str,
    task: Task | None = None,
    details: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> Deviation:
    """Ask to skip, add or reorder a step in this run; someone else confirms —
    a holder of the accountable position, or, when an approval route applies to
    the deviation, the route's approvers (a `deviation_requested` handler submits
    it; direct decisions are then refused by a decision gate).

    `details`: for add_step {key, name, duration_minutes, responsible_position or
    responsible_party, accountable_position, after: [task ids], before: [task
    ids]}; for reorder {predecessors: [task ids]} (the task's new finish-to-start
    predecessors).
    """
    now = _now(now)
    locked = _lock_run(run.pk)
    _require_role(locked.organisation_id, actor, {Role.ADMIN, Role.MEMBER})
    reason = _required_text("reason", reason)
    if locked.status in FINAL_RUN_STATUSES:
        raise ValidationFailed(_("A finished run cannot deviate any more."))
    cleaned = _clean_deviation(locked, kind, task, details or {})
    deviation = Deviation(
        organisation_id=locked.organisation_id,
        run=locked,
        kind=kind,
        task=task,
        details=cleaned,
        reason=reason,
        requested_by=actor,
        requested_at=now,
        created_at=now,
        updated_at=now,
    )
    _save_new(deviation)
    extensions.emit_deviation_requested(
        extensions.DeviationRequested(
            locked.organisation_id, locked.pk, deviation.pk, actor.pk, now
        )
    )
    audit.record(
        locked.organisation,
        actor=actor,
        verb=AuditVerb.DEVIATION_REQUESTED,
        target=deviation,
        changes={
            "run": locked.pk,
            "kind": kind,
            "task": task.pk if task else None,
            "details": cleaned,
        },
        personal_changes={"reason": reason},
    )
    return deviation


def confirmer_position_id(deviation: Deviation) -> int:
    """Who confirms: the accountable position of the task it changes; for a new
    step, the accountable of the procedure (its owner position)."""
    if deviation.task_id is not None:
        return (
            Task.objects.filter(pk=deviation.task_id)
            .values_list("accountable_position_id", flat=True)
            .get()
        )
    return (
        Procedure.objects.filter(runs__pk=deviation.run_id)
        .values_list("owner_position_id", flat=True)
        .get()
    )


def _require_confirmer(
    deviation: Deviation, actor: User, run: Run, now: dt.datetime, *, via_route: bool
) -> None:
    """A member who did not ask for the deviation; directly (not through an
    approval route, whose engine checked the approver's authority) also a holder
    of the accountable position."""
    _require_role(run.organisation_id, actor, {Role.ADMIN, Role.MEMBER})
    if deviation.requested_by_id == actor.pk:
        raise PermissionDenied(
            _("You asked for this deviation; someone else must decide on it.")
        )
    if via_route:
        return
    if not holds_position(
        run.organisation,
        actor,
        confirmer_position_id(deviation),
        on=_local_date(run.organisation, now),
    ):
        raise PermissionDenied(
            _("Only a holder of the accountable position can decide on this deviation.")
        )


def _refuse_when_gated(
    kind: str, subject_id: int, proposal: Mapping[str, Any] | None = None
) -> None:
    """A direct decision that belongs to an approval route is refused."""
    reason = extensions.decision_gate(kind, subject_id, proposal)
    if reason:
        raise ValidationFailed(reason, code="needs_approval")


def _apply_deviation(
    run: Run, deviation: Deviation, *, now: dt.datetime
) -> tuple[dict[str, Any], Settled]:
    details = _clean_deviation(run, deviation.kind, deviation.task, deviation.details)
    applied: dict[str, Any] = {}
    if deviation.kind == DeviationKind.SKIP_STEP:
        task = cast(Task, deviation.task)
        _transition(
            task,
            expected_version=None,
            fields={"skipped_reason": deviation.reason, "updated_at": now},
        )
        projection.recompute_paths(run)
        settled = _settle(run, [task.pk], now=now)
        applied["skipped"] = task.pk
        return applied, settled
    links = list(
        TaskDependency.objects.filter(run=run).values_list(
            "predecessor_id", "successor_id"
        )
    )
    if deviation.kind == DeviationKind.REORDER:
        task = cast(Task, deviation.task)
        wanted = set(details["predecessors"])
        kept = [(p, s) for p, s in links if s != task.pk]
        graph: dict[int, list[int]] = defaultdict(list)
        for p, s in kept + [(p, task.pk) for p in wanted]:
            graph[p].append(s)
            graph.setdefault(s, [])
        if find_cycles(graph):
            raise ValidationFailed(
                {"predecessors": [_("This order would make tasks wait on each other.")]}
            )
        current = {p for p, s in links if s == task.pk}
        TaskDependency.objects.filter(
            successor=task, predecessor_id__in=current - wanted
        ).delete()
        TaskDependency.objects.bulk_create(
            [
                TaskDependency(
                    organisation_id=run.organisation_id,
                    run=run,
                    predecessor_id=p,
                    successor=task,
                )
                for p in sorted(wanted - current)
            ]
        )
        applied["predecessors"] = [sorted(current), sorted(wanted)]
        projection.recompute_paths(run)
        return applied, _settle(run, [task.pk], now=now)
    # add a step
    new_id = 0  # placeholder node for the cycle check
    graph = defaultdict(list)
    for p, s in [
        *links,
        *[(p, new_id) for p in details["after"]],
        *[(new_id, s) for s in details["before"]],
    ]:
        graph[p].append(s)
        graph.setdefault(s, [])
    if find_cycles(graph):
        raise ValidationFailed(
            {"before": [_("This place would make tasks wait on each other.")]}
        )
    last = Task.objects.filter(run=run).aggregate(Max("sort_order"))["sort_order__max"]
    task = Task(
        organisation_id=run.organisation_id,
        run=run,
        added_by_deviation=deviation,
        key=details["key"],
        name=details["name"],
        sort_order=(last or 0) + 10,
        duration_minutes=details["duration_minutes"],
        responsible_position_id=details["responsible_position"],
        responsible_party_id=details["responsible_party"],
        accountable_position_id=details["accountable_position"],
        created_at=now,
        updated_at=now,
    )
    _save_new(task)
    TaskRole.objects.bulk_create(
        [
            TaskRole(
                organisation_id=run.organisation_id,
                task=task,
                role=RaciRole.RESPONSIBLE,
                position_id=details["responsible_position"],
                party_id=details["responsible_party"],
            ),
            TaskRole(
                organisation_id=run.organisation_id,
                task=task,
                role=RaciRole.ACCOUNTABLE,
                position_id=details["accountable_position"],
            ),
        ]
    )
    TaskDependency.objects.bulk_create(
        [
            TaskDependency(
                organisation_id=run.organisation_id,
                run=run,
                predecessor_id=p,
                successor=task,
            )
            for p in details["after"]
        ]
        + [
            TaskDependency(
                organisation_id=run.organisation_id,
                run=run,
                predecessor=task,
                successor_id=s,
            )
            for s in details["before"]
        ]
    )
    applied["added_task"] = task.pk
    projection.recompute_paths(run)
    return applied, _settle(run, [task.pk, *details["before"]], now=now)


@transaction.atomic
def confirm_deviation(
    deviation: Deviation,
    *,
    actor: User,
    expected_version: int | None,
    comment: str = "",
    via_route: bool = False,
    now: dt.datetime | None = None,
) -> Deviation:
    """Confirm and apply a deviation: only a holder of the accountable position
    who did not ask for it (administrators too need the position).

    While the deviation belongs to an approval route (a decision gate says so)
    it is decided there: the engine calls this with `via_route=True` and the
    final approver as `actor`, whose authority it checked itself."""
    now = _now(now)
    run = _lock_run(deviation.run_id)
    _require_confirmer(deviation, actor, run, now, via_route=via_route)
    if deviation.status != DeviationStatus.REQUESTED:
        # Someone decided first: a lost race, like a stale version.
        raise Conflict(_("This deviation was already decided."))
    if run.status in FINAL_RUN_STATUSES:
        raise ValidationFailed(_("A finished run cannot deviate any more."))
    if not via_route:
        _refuse_when_gated(extensions.DEVIATION_DECISION, deviation.pk)
    compare_and_set(
        deviation,
        expected_version=expected_version,
        fields={
            "status": DeviationStatus.CONFIRMED,
            "decided_by_id": actor.pk,
            "decided_at": now,
            "decision_comment": comment.strip(),
            "updated_at": now,
        },
    )
    applied, settled = _apply_deviation(run, deviation, now=now)
    entry = audit.Entry(
        verb=AuditVerb.DEVIATION_CONFIRMED,
        target=deviation,
        changes={
            "status": [DeviationStatus.REQUESTED, DeviationStatus.CONFIRMED],
            "applied": applied,
            "released": [pk for pk, _a in settled.readied] + settled.skipped,
            "back_to_pending": settled.back_to_pending,
        },
        personal_changes={"comment": deviation.decision_comment},
    )
    if run.status == RunStatus.ACTIVE:
        _after_transition(run, actor=actor, now=now, entry=entry, settled=settled)
    else:
        projection.refresh(run, now=now)
        audit.record_many(run.organisation, actor=actor, entries=[entry])
    return deviation


@transaction.atomic
def reject_deviation(
    deviation: Deviation,
    *,
    actor: User,
    expected_version: int | None,
    comment: str = "",
    via_route: bool = False,
    now: dt.datetime | None = None,
) -> Deviation:
    """Reject a deviation (who may: as `confirm_deviation`)."""
    now = _now(now)
    run = _lock_run(deviation.run_id)
    _require_confirmer(deviation, actor, run, now, via_route=via_route)
    if deviation.status != DeviationStatus.REQUESTED:
        # Someone decided first: a lost race, like a stale version.
        raise Conflict(_("This deviation was already decided."))
    if not via_route:
        _refuse_when_gated(extensions.DEVIATION_DECISION, deviation.pk)
    compare_and_set(
        deviation,
        expected_version=expected_version,
        fields={
            "status": DeviationStatus.REJECTED,
            "decided_by_id": actor.pk,
            "decided_at": now,
            "decision_comment": comment.strip(),
            "updated_at": now,
        },
    )
    audit.record(
        run.organisation,
        actor=actor,
        verb=AuditVerb.DEVIATION_REJECTED,
        target=deviation,
        changes={"status": [DeviationStatus.REQUESTED, DeviationStatus.REJECTED]},
        personal_changes={"comment": deviation.decision_comment},
    )
    return deviation
