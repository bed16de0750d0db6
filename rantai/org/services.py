"""The one write path for the organisation model. Every change is validated by the
model's own rules, applied by compare-and-set and audited in the same transaction."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable
from typing import Any

from django.db import models, transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import services as audit
from rantai.audit import writes
from rantai.audit.models import AuditVerb
from rantai.core.concurrency import compare_and_set, lock_current
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.core.validation import field_values, full_clean
from rantai.org import extensions
from rantai.org.models import Absence, Duty, Holding, Party, Person, Position


class _Unchanged:
    """Marks a keyword argument the caller did not give (None is a real value)."""


UNCHANGED = _Unchanged()


# --- shared helpers ---------------------------------------------------------------


_split_personal = writes.split_personal
_create = writes.create
_update = writes.update


def _set_active[M: models.Model](
    instance: M,
    *,
    actor: User,
    organisation: Organisation,
    expected_version: int | None,
    active: bool,
) -> M:
    if instance.is_active == active:  # type: ignore[attr-defined]
        return instance
    compare_and_set(
        instance,
        expected_version=expected_version,
        fields={"is_active": active, "updated_at": timezone.now()},
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.REACTIVATED if active else AuditVerb.DEACTIVATED,
        target=instance,
        changes={"is_active": [not active, active]},
    )
    return instance


def _same_org(organisation: Organisation, field: str, obj: models.Model | None) -> None:
    if obj is not None and obj.organisation_id != organisation.pk:  # type: ignore[attr-defined]
        raise ValidationFailed({field: [_("This belongs to another organisation.")]})


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _local_date(organisation: Organisation, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


def _holders_changed(
    organisation_id: int,
    position_ids: Iterable[int | None],
    at: dt.datetime | None = None,
) -> None:
    """Tell the registered handlers (org/extensions.py) that authority may have moved.

    Called inside the service's transaction after its rows are written."""
    extensions.emit_holders_changed(
        extensions.holders_changed(organisation_id, position_ids, at or timezone.now())
    )


def _positions_held(person: Person, first_day: dt.date, last_day: dt.date) -> list[int]:
    """The positions the person holds on any day of the period (acting included)."""
    return list(
        Holding.objects.filter(person=person, start_date__lte=last_day)
        .filter(Q(end_date__isnull=True) | Q(end_date__gte=first_day))
        .values_list("position_id", flat=True)
    )


# --- organisations ----------------------------------------------------------------


@transaction.atomic
def create_organisation(
    name: str, *, slug: str, actor: User, time_zone: str | None = None
) -> Organisation:
    """Create an organisation; its creator becomes its first administrator."""
    organisation = Organisation(name=name.strip(), slug=slug.strip().lower())
    if time_zone:
        organisation.time_zone = time_zone
    full_clean(organisation)
    organisation.save()
    membership = Membership.objects.create(
        user=actor, organisation=organisation, role=Role.ADMIN
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=organisation,
        changes={
            "name": organisation.name,
            "slug": organisation.slug,
            "time_zone": organisation.time_zone,
        },
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.JOINED,
        target=membership,
        changes={"user": actor.pk, "role": Role.ADMIN},
        target_label=actor.display_name,
    )
    return organisation


@transaction.atomic
def update_organisation(
    organisation: Organisation,
    *,
    actor: User,
    expected_version: int | None,
    **changes: Any,
) -> Organisation:
    return _update(
        organisation,
        actor=actor,
        organisation=organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={"name", "time_zone", "requires_admin_two_factor"},
        verb=AuditVerb.SETTINGS_CHANGED,
    )


# --- parties ----------------------------------------------------------------------


def _check_parent(party: Party, parent: Party | None) -> None:
    """No cycles: the new parent must not be the party or one of its descendants."""
    seen: set[int] = set()
    node = parent
    while node is not None:
        if node.pk == party.pk:
            raise ValidationFailed(
                {
                    "parent": [
                        _(
                            "A unit cannot be placed under itself or one of its own sub-units."
                        )
                    ]
                }
            )
        if node.pk in seen:  # pre-existing corruption: refuse rather than loop
            raise ValidationFailed({"parent": [_("The unit tree contains a cycle.")]})
        seen.add(node.pk)
        node = node.parent
    if parent is not None and not parent.is_active:
        raise ValidationFailed({"parent": [_("The parent unit is deactivated.")]})


PARTY_FIELDS = ("kind", "name", "code", "parent", "description", "head_position")


@transaction.atomic
def create_party(
    organisation: Organisation,
    *,
    actor: User,
    kind: str,
    name: str,
    code: str,
    parent: Party | None = None,
    description: str = "",
    head_position: Position | None = None,
) -> Party:
    _same_org(organisation, "parent", parent)
    _same_org(organisation, "head_position", head_position)
    if head_position is not None:
        # A new party has no positions yet, so no position can be its head.
        raise ValidationFailed(
            {"head_position": [_("The head position must belong to this party.")]}
        )
    party = Party(
        organisation=organisation,
        kind=kind,
        name=name.strip(),
        code=code.strip(),
        parent=parent,
        description=description,
        head_position=head_position,
    )
    if parent is not None:
        _check_parent(party, parent)
    return _create(party, actor=actor, organisation=organisation, fields=PARTY_FIELDS)


@transaction.atomic
def update_party(
    party: Party, *, actor: User, expected_version: int | None, **changes: Any
) -> Party:
    """Edit a party's name, code, description or head position (not its place)."""
    head = changes.get("head_position")
    _same_org(party.organisation, "head_position", head)
    if head is not None and head.party_id != party.pk:
        raise ValidationFailed(
            {"head_position": [_("The head position must belong to this party.")]}
        )
    if head is not None and not head.is_active:
        raise ValidationFailed({"head_position": [_("The position is deactivated.")]})
    old_head = party.head_position_id
    party = _update(
        party,
        actor=actor,
        organisation=party.organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={"name", "code", "description", "head_position"},
    )
    if party.head_position_id != old_head:
        _holders_changed(party.organisation_id, [old_head, party.head_position_id])
    return party


@transaction.atomic
def move_party(
    party: Party, *, actor: User, expected_version: int | None, parent: Party | None
) -> Party:
    """Place a unit under another unit (or at the top). Refuses cycles."""
    organisation = Organisation.objects.select_for_update().get(
        pk=party.organisation_id
    )
    _same_org(organisation, "parent", parent)
    if parent is not None:
        parent = Party.objects.get(
            pk=parent.pk
        )  # fresh, so the cycle check sees the truth
    _check_parent(party, parent)
    return _update(
        party,
        actor=actor,
        organisation=organisation,
        expected_version=expected_version,
        changes={"parent": parent},
        allowed={"parent"},
        verb=AuditVerb.MOVED,
    )


@transaction.atomic
def deactivate_party(
    party: Party, *, actor: User, expected_version: int | None
) -> Party:
    """Deactivate a party that no longer has active sub-units or positions."""
    children = party.children.filter(is_active=True).count()
    if children:
        raise ValidationFailed(
            _("Move or deactivate its %(count)d active sub-units first.")
            % {"count": children}
        )
    positions = party.positions.filter(is_active=True).count()
    if positions:
        raise ValidationFailed(
            _("Move or deactivate its %(count)d active positions first.")
            % {"count": positions}
        )
    members = party.partner_memberships.filter(is_active=True).count()
    if members:
        raise ValidationFailed(
            _("End the %(count)d active partner memberships bound to it first.")
            % {"count": members}
        )
    return _set_active(
        party,
        actor=actor,
        organisation=party.organisation,
        expected_version=expected_version,
        active=False,
    )


@transaction.atomic
def reactivate_party(
    party: Party, *, actor: User, expected_version: int | None
) -> Party:
    if party.parent is not None and not party.parent.is_active:
        raise ValidationFailed({"parent": [_("Reactivate the parent unit first.")]})
    return _set_active(
        party,
        actor=actor,
        organisation=party.organisation,
        expected_version=expected_version,
        active=True,
    )


# --- positions --------------------------------------------------------------------


def _check_superior(position: Position, superior: Position | None) -> None:
    """No cycles in the superior line."""
    seen: set[int] = set()
    node = superior
    while node is not None:
        if position.pk is not None and node.pk == position.pk:
            raise ValidationFailed(
                {
                    "superior": [
                        _(
                            "This would make the position its own superior (a cycle in the superior line)."
                        )
                    ]
                }
            )
        if node.pk in seen:
            raise ValidationFailed(
                {"superior": [_("The superior line contains a cycle.")]}
            )
        seen.add(node.pk)
        node = node.superior
    if superior is not None and not superior.is_active:
        raise ValidationFailed(
            {"superior": [_("The superior position is deactivated.")]}
        )


POSITION_FIELDS = ("party", "title", "code", "superior", "job_summary", "max_holders")


@transaction.atomic
def create_position(
    organisation: Organisation,
    *,
    actor: User,
    party: Party,
    title: str,
    code: str,
    superior: Position | None = None,
    job_summary: str = "",
    max_holders: int = 1,
) -> Position:
    _same_org(organisation, "party", party)
    _same_org(organisation, "superior", superior)
    if not party.is_active:
        raise ValidationFailed({"party": [_("The party is deactivated.")]})
    position = Position(
        organisation=organisation,
        party=party,
        title=title.strip(),
        code=code.strip(),
        superior=superior,
        job_summary=job_summary,
        max_holders=max_holders,
    )
    _check_superior(position, superior)
    return _create(
        position, actor=actor, organisation=organisation, fields=POSITION_FIELDS
    )


@transaction.atomic
def update_position(
    position: Position, *, actor: User, expected_version: int | None, **changes: Any
) -> Position:
    """Edit title, code, job description or the number of holders allowed."""
    if "max_holders" in changes:
        current = position.holdings.current().filter(is_acting=False).count()
        if changes["max_holders"] is not None and changes["max_holders"] < current:
            raise ValidationFailed(
                {
                    "max_holders": [
                        _(
                            "The position has %(count)d current holders; end some holdings first."
                        )
                        % {"count": current}
                    ]
                }
            )
    return _update(
        position,
        actor=actor,
        organisation=position.organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={"title", "code", "job_summary", "max_holders"},
    )


@transaction.atomic
def move_position(
    position: Position,
    *,
    actor: User,
    expected_version: int | None,
    party: Party | None = None,
    superior: Position | None = None,
) -> Position:
    """Change a position's party and/or superior. Refuses cycles in the superior line."""
    organisation = Organisation.objects.select_for_update().get(
        pk=position.organisation_id
    )
    target_party = party or position.party
    _same_org(organisation, "party", target_party)
    _same_org(organisation, "superior", superior)
    if not target_party.is_active:
        raise ValidationFailed({"party": [_("The party is deactivated.")]})
    if (
        target_party.pk != position.party_id
        and Party.objects.filter(head_position=position, is_active=True).exists()
    ):
        # A party's head position must stay one of its own positions.
        raise ValidationFailed(
            {
                "party": [
                    _("It heads an active party; choose another head position first.")
                ]
            }
        )
    if superior is not None:
        superior = Position.objects.get(pk=superior.pk)
    _check_superior(position, superior)
    old_superior = position.superior_id
    position = _update(
        position,
        actor=actor,
        organisation=organisation,
        expected_version=expected_version,
        changes={"party": target_party, "superior": superior},
        allowed={"party", "superior"},
        verb=AuditVerb.MOVED,
    )
    if position.superior_id != old_superior:
        _holders_changed(
            organisation.pk, [position.pk, old_superior, position.superior_id]
        )
    return position


@transaction.atomic
def deactivate_position(
    position: Position, *, actor: User, expected_version: int | None
) -> Position:
    holders = position.holdings.current().count()
    if holders:
        raise ValidationFailed(
            _("End its %(count)d current holdings first.") % {"count": holders}
        )
    subordinates = position.subordinates.filter(is_active=True).count()
    if subordinates:
        raise ValidationFailed(
            _("Give its %(count)d subordinate positions another superior first.")
            % {"count": subordinates}
        )
    if Party.objects.filter(head_position=position, is_active=True).exists():
        raise ValidationFailed(
            _("It heads an active party; choose another head position first.")
        )
    was_active = position.is_active
    position = _set_active(
        position,
        actor=actor,
        organisation=position.organisation,
        expected_version=expected_version,
        active=False,
    )
    if was_active:
        _holders_changed(position.organisation_id, [position.pk])
    return position


@transaction.atomic
def reactivate_position(
    position: Position, *, actor: User, expected_version: int | None
) -> Position:
    if not position.party.is_active:
        raise ValidationFailed({"party": [_("Reactivate its party first.")]})
    return _set_active(
        position,
        actor=actor,
        organisation=position.organisation,
        expected_version=expected_version,
        active=True,
    )


# --- duties -----------------------------------------------------------------------

DUTY_FIELDS = ("position", "title", "output_unit", "description", "sort_order")


@transaction.atomic
def create_duty(
    position: Position,
    *,
    actor: User,
    title: str,
    output_unit: str,
    description: str = "",
    sort_order: int | None = None,
) -> Duty:
    if not position.is_active:
        raise ValidationFailed({"position": [_("The position is deactivated.")]})
    if sort_order is None:
        last = position.duties.aggregate(models.Max("sort_order"))["sort_order__max"]
        sort_order = (last or 0) + 10
    duty = Duty(
        organisation=position.organisation,
        position=position,
        title=title.strip(),
        output_unit=output_unit.strip(),
        description=description,
        sort_order=sort_order,
    )
    return _create(
        duty, actor=actor, organisation=position.organisation, fields=DUTY_FIELDS
    )


@transaction.atomic
def update_duty(
    duty: Duty, *, actor: User, expected_version: int | None, **changes: Any
) -> Duty:
    return _update(
        duty,
        actor=actor,
        organisation=duty.organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={"title", "output_unit", "description", "sort_order"},
    )


@transaction.atomic
def deactivate_duty(duty: Duty, *, actor: User, expected_version: int | None) -> Duty:
    return _set_active(
        duty,
        actor=actor,
        organisation=duty.organisation,
        expected_version=expected_version,
        active=False,
    )


@transaction.atomic
def reactivate_duty(duty: Duty, *, actor: User, expected_version: int | None) -> Duty:
    return _set_active(
        duty,
        actor=actor,
        organisation=duty.organisation,
        expected_version=expected_version,
        active=True,
    )


# --- people -----------------------------------------------------------------------

PERSON_FIELDS = ("full_name", "email", "employee_number", "party", "user")


@transaction.atomic
def create_person(
    organisation: Organisation,
    *,
    actor: User,
    full_name: str,
    email: str = "",
    employee_number: str = "",
    party: Party | None = None,
    user: User | None = None,
) -> Person:
    _same_org(organisation, "party", party)
    person = Person(
        organisation=organisation,
        full_name=full_name.strip(),
        email=email.strip().lower(),
        employee_number=employee_number.strip(),
        party=party,
        user=user,
    )
    return _create(person, actor=actor, organisation=organisation, fields=PERSON_FIELDS)


@transaction.atomic
def update_person(
    person: Person, *, actor: User, expected_version: int | None, **changes: Any
) -> Person:
    if "party" in changes:
        _same_org(person.organisation, "party", changes["party"])
    if changes.get("email"):
        changes["email"] = changes["email"].strip().lower()
    old_user = person.user_id
    person = _update(
        person,
        actor=actor,
        organisation=person.organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={"full_name", "email", "employee_number", "party", "user"},
    )
    if person.user_id != old_user:
        # A holder without a login cannot decide: their positions count as vacant.
        now = timezone.now()
        today = _local_date(person.organisation, now)
        _holders_changed(
            person.organisation_id, _positions_held(person, today, dt.date.max), now
        )
    return person


@transaction.atomic
def deactivate_person(
    person: Person, *, actor: User, expected_version: int | None
) -> Person:
    holdings = person.holdings.current().count()
    if holdings:
        raise ValidationFailed(
            _("End this person's %(count)d current holdings first.")
            % {"count": holdings}
        )
    return _set_active(
        person,
        actor=actor,
        organisation=person.organisation,
        expected_version=expected_version,
        active=False,
    )


@transaction.atomic
def reactivate_person(
    person: Person, *, actor: User, expected_version: int | None
) -> Person:
    return _set_active(
        person,
        actor=actor,
        organisation=person.organisation,
        expected_version=expected_version,
        active=True,
    )


# --- holders ----------------------------------------------------------------------


def _check_holding(
    position: Position,
    person: Person,
    start_date: dt.date,
    end_date: dt.date | None,
    is_acting: bool,
    *,
    exclude_id: int | None = None,
) -> None:
    errors: dict[str, list[str]] = {}
    if end_date is not None and end_date < start_date:
        errors["end_date"] = [_("The end date must not be before the start date.")]
        raise ValidationFailed(errors)
    if not position.is_active:
        errors["position"] = [_("The position is deactivated.")]
    if not person.is_active:
        errors["person"] = [_("The person is deactivated.")]
    if errors:
        raise ValidationFailed(errors)
    overlapping = Holding.objects.filter(
        position=position, start_date__lte=end_date or dt.date.max
    ).filter(Q(end_date__isnull=True) | Q(end_date__gte=start_date))
    if exclude_id is not None:
        overlapping = overlapping.exclude(pk=exclude_id)
    if overlapping.filter(person=person).exists():
        raise ValidationFailed(
            {"person": [_("This person already holds the position in that period.")]}
        )
    if not is_acting:
        definitive = list(overlapping.filter(is_acting=False).select_related("person"))
        if len(definitive) >= position.max_holders:
            if position.max_holders == 1:
                message = _(
                    "The position already has a holder in that period (%(name)s). End that "
                    "holding first, or appoint an acting holder (Plt)."
                ) % {"name": definitive[0].person.full_name}
            else:
                message = _(
                    "The position allows %(max)d holders and already has %(count)d in that period."
                ) % {"max": position.max_holders, "count": len(definitive)}
            raise ValidationFailed({"person": [message]})


HOLDING_FIELDS = ("position", "person", "start_date", "end_date", "is_acting")


@transaction.atomic
def assign_holder(
    position: Position,
    *,
    actor: User,
    person: Person,
    start_date: dt.date,
    end_date: dt.date | None = None,
    is_acting: bool = False,
) -> Holding:
    """Appoint a person to a position (definitive or acting, Plt)."""
    _same_org(position.organisation, "person", person)
    # Serialise appointments to one position so the capacity check cannot race.
    position = Position.objects.select_for_update().get(pk=position.pk)
    _check_holding(position, person, start_date, end_date, is_acting)
    holding = Holding(
        organisation=position.organisation,
        position=position,
        person=person,
        start_date=start_date,
        end_date=end_date,
        is_acting=is_acting,
    )
    holding = _create(
        holding, actor=actor, organisation=position.organisation, fields=HOLDING_FIELDS
    )
    _holders_changed(position.organisation_id, [position.pk])
    return holding


@transaction.atomic
def update_holding(
    holding: Holding,
    *,
    actor: User,
    expected_version: int | None,
    start_date: dt.date | None = None,
    end_date: dt.date | _Unchanged | None = UNCHANGED,
    is_acting: bool | None = None,
) -> Holding:
    position = Position.objects.select_for_update().get(pk=holding.position_id)
    new_start = start_date or holding.start_date
    new_end = holding.end_date if isinstance(end_date, _Unchanged) else end_date
    new_acting = holding.is_acting if is_acting is None else is_acting
    _check_holding(
        position, holding.person, new_start, new_end, new_acting, exclude_id=holding.pk
    )  # type: ignore[arg-type]
    before = holding.version
    holding = _update(
        holding,
        actor=actor,
        organisation=holding.organisation,
        expected_version=expected_version,
        changes={"start_date": new_start, "end_date": new_end, "is_acting": new_acting},
        allowed={"start_date", "end_date", "is_acting"},
    )
    if holding.version != before:
        _holders_changed(holding.organisation_id, [holding.position_id])
    return holding


@transaction.atomic
def end_holding(
    holding: Holding, *, actor: User, expected_version: int | None, end_date: dt.date
) -> Holding:
    """End a holding on a date (the person no longer holds the position after it)."""
    if end_date < holding.start_date:
        raise ValidationFailed(
            {"end_date": [_("The end date must not be before the start date.")]}
        )
    before = holding.version
    holding = _update(
        holding,
        actor=actor,
        organisation=holding.organisation,
        expected_version=expected_version,
        changes={"end_date": end_date},
        allowed={"end_date"},
        verb=AuditVerb.ENDED,
    )
    if holding.version != before:
        _holders_changed(holding.organisation_id, [holding.position_id])
    return holding


# --- absences ---------------------------------------------------------------------


def _require_self_or_admin(person: Person, actor: User, refusal: str) -> None:
    """The person themselves (their own login) or an administrator of the
    organisation. Someone outside the organisation learns nothing about it."""
    membership = (
        Membership.objects.filter(
            organisation_id=person.organisation_id, user=actor, is_active=True
        ).first()
        if actor.is_active
        else None
    )
    if membership is None:
        raise NotFound()
    if membership.role == Role.ADMIN:
        return
    if person.user_id == actor.pk and membership.role in (Role.MEMBER, Role.PARTNER):
        return
    raise PermissionDenied(refusal)


def _check_period(starts_at: Any, ends_at: Any) -> None:
    errors: dict[str, list[str]] = {}
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if not isinstance(value, dt.datetime):
            errors[name] = [_("Enter a date and time.")]
        elif timezone.is_naive(value):
            errors[name] = [_("Enter a date and time with its time zone.")]
    if not errors and ends_at <= starts_at:
        errors["ends_at"] = [_("The end must be after the start.")]
    if errors:
        raise ValidationFailed(errors)


ABSENCE_FIELDS = ("person", "kind", "starts_at", "ends_at")


@transaction.atomic
def record_absence(
    person: Person,
    *,
    actor: User,
    kind: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    note: str = "",
    now: dt.datetime | None = None,
) -> Absence:
    """Record that a person is away (leave, official travel, sick leave) from a
    moment until a moment. The person themselves or an administrator may.

    A person is never recorded as away twice at the same moment: absences of one
    person that are not cancelled do not overlap (checked under the person's row
    lock, so two concurrent recordings cannot both pass)."""
    now = _now(now)
    _require_self_or_admin(
        person,
        actor,
        _("Only the person themselves or an administrator can record their absence."),
    )
    _check_period(starts_at, ends_at)
    person = Person.objects.select_for_update().get(pk=person.pk)
    if not person.is_active:
        raise ValidationFailed({"person": [_("The person is deactivated.")]})
    absence = Absence(
        organisation_id=person.organisation_id,
        person=person,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        note=(note or "").strip(),
        created_by=actor,
    )
    full_clean(absence)
    overlapping = Absence.objects.filter(
        person=person,
        cancelled_at__isnull=True,
        starts_at__lt=ends_at,
        ends_at__gt=starts_at,
    ).exists()
    if overlapping:
        raise ValidationFailed(
            {
                "starts_at": [
                    _(
                        "This person is already recorded as away during part of "
                        "that period."
                    )
                ]
            }
        )
    absence.save()
    organisation = person.organisation
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.ABSENCE_RECORDED,
        target=absence,
        changes=field_values(absence, ABSENCE_FIELDS),
        personal_changes={"note": absence.note} if absence.note else None,
    )
    # Who stands in for the person's positions may change (substitutes).
    _holders_changed(
        organisation.pk,
        _positions_held(
            person,
            _local_date(organisation, starts_at),
            _local_date(organisation, ends_at),
        ),
        now,
    )
    return absence


@transaction.atomic
def cancel_absence(
    absence: Absence,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Absence:
    """Cancel an absence that has not ended yet (the person stays, or came back
    early). From the moment of cancelling, it no longer counts — nor does a
    delegation made for it."""
    now = _now(now)
    person = absence.person
    _require_self_or_admin(
        person,
        actor,
        _("Only the person themselves or an administrator can cancel their absence."),
    )
    lock_current(absence, expected_version=expected_version)
    stored = Absence.objects.get(pk=absence.pk)
    if stored.cancelled_at is not None:
        raise ValidationFailed(_("The absence is already cancelled."))
    if stored.ends_at <= now:
        raise ValidationFailed(_("The absence is over; it can no longer be cancelled."))
    compare_and_set(
        absence,
        expected_version=stored.version,
        fields={"cancelled_at": now, "updated_at": now},
    )
    organisation = person.organisation
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.ABSENCE_CANCELLED,
        target=absence,
        changes={"cancelled_at": [None, now]},
    )
    _holders_changed(
        organisation.pk,
        _positions_held(
            person,
            _local_date(organisation, max(stored.starts_at, now)),
            _local_date(organisation, stored.ends_at),
        ),
        now,
    )
    return absence
