"""The write path of targets (docs/design-insight.md, "Targets").

A target is a measurable amount of work for a period ("10,000 units to Kota A this
quarter"), owned by a position, set by the organisation or one of its parties,
optionally part of a parent target of the same unit. Runs declare the target they
contribute to; the roll-up (`rantai.insight.targets`) reads them.

* **Who**: organisation administrators, and the current holders of a target's
  owner position (acting holders count; a partner only for a target its own party
  sets), manage it (`may_manage_target`). Administrators and members create targets
  owned by a position they hold or under a parent target they manage
  (`may_create_target`). A run's target is set by whoever steers the run: its
  process owner (administrators and holders of the procedure's owner position),
  the same people who suspend, resume or cancel it (`set_run_target`).
* **Rules**: everything in one organisation; the quantity is more than zero; the
  period ends on or after its start; a parent target is active, counted in the same
  unit (case-insensitive, trimmed) and never the target itself or one of its
  sub-targets; a run contributes only to an active target of its own unit (a final
  run may still be re-pointed: its actuals count where it is declared).
* Every change is compare-and-set and audited in the same transaction.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from rantai.accounts.access import Access
from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import services as audit
from rantai.audit import writes
from rantai.audit.models import AuditVerb
from rantai.chains import services
from rantai.chains.models import Run, Target
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.org.models import Holding, Party, Person, Position

__all__ = [
    "CREATED_FIELDS",
    "UPDATABLE_FIELDS",
    "check_run_target",
    "create_target",
    "deactivate_target",
    "may_create_target",
    "may_manage_target",
    "may_set_run_target",
    "reactivate_target",
    "same_unit",
    "set_run_target",
    "update_target",
]

# Recorded in the `created` event; what `update_target` may change.
CREATED_FIELDS = (
    "name",
    "description",
    "measure_quantity",
    "measure_unit",
    "period_start",
    "period_end",
    "owner_position",
    "parent",
    "party",
    "is_active",
)
UPDATABLE_FIELDS = (
    "name",
    "description",
    "measure_quantity",
    "measure_unit",
    "period_start",
    "period_end",
    "owner_position",
    "parent",
    "party",
)

Who = Access | User | None


# --- shared helpers ---------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _today(organisation: Organisation, now: dt.datetime | None) -> dt.date:
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    return _now(now).astimezone(zone).date()


def _user_of(who: Who) -> User | None:
    return who.user if isinstance(who, Access) else who


def _membership_of(who: Who, organisation_id: int) -> Membership | None:
    if isinstance(who, Access):
        if who.organisation.pk != organisation_id or not who.membership.is_active:
            return None
        return who.membership
    if who is None or not who.is_active:
        return None
    return Membership.objects.filter(
        organisation_id=organisation_id, user=who, is_active=True
    ).first()


def _positions_held(organisation_id: int, user: User, day: dt.date) -> set[int]:
    """The positions the user's person holds on the day (acting holders count).
    One query."""
    return set(
        Holding.objects.current(day)
        .filter(
            organisation_id=organisation_id,
            person__in=Person.objects.filter(
                organisation_id=organisation_id, user=user, is_active=True
            ),
        )
        .values_list("position_id", flat=True)
    )


def _organisation_of(who: Who, organisation_id: int) -> Organisation:
    if isinstance(who, Access) and who.organisation.pk == organisation_id:
        return who.organisation
    return Organisation.objects.get(pk=organisation_id)


def normalised_unit(unit: str | None) -> str:
    """How units compare: trimmed, case-insensitive."""
    return (unit or "").strip().casefold()


def same_unit(a: str | None, b: str | None) -> bool:
    """Whether two units are the same one ("Units " and "units" are)."""
    return normalised_unit(a) == normalised_unit(b)


def check_run_target(
    *,
    organisation_id: int,
    measure_unit: str,
    target_organisation_id: int,
    target_name: str,
    target_unit: str,
    target_active: bool,
) -> None:
    """The rule for a run's target: an active target of the run's organisation,
    counted in the run's unit. Raises ValidationFailed keyed `target`."""
    if target_organisation_id != organisation_id:
        raise ValidationFailed({"target": [_("This belongs to another organisation.")]})
    if not target_active:
        raise ValidationFailed(
            {
                "target": [
                    _("The target “%(name)s” is deactivated: it takes no new runs.")
                    % {"name": target_name}
                ]
            }
        )
    if not same_unit(target_unit, measure_unit):
        raise ValidationFailed(
            {
                "target": [
                    _(
                        "The target “%(name)s” is counted in %(target_unit)s and "
                        "this run in %(unit)s: a run counts only toward a target "
                        "of its own unit."
                    )
                    % {
                        "name": target_name,
                        "target_unit": target_unit.strip(),
                        "unit": measure_unit.strip(),
                    }
                ]
            }
        )


# --- who may ----------------------------------------------------------------------


def may_manage_target(
    who: Who, target: Target, *, now: dt.datetime | None = None
) -> bool:
    """Whether the caller (an `Access` or a user) may change, deactivate or
    reactivate the target: organisation administrators, and current holders of its
    owner position (members; partners only for a target their party sets)."""
    membership = _membership_of(who, target.organisation_id)
    user = _user_of(who)
    if membership is None or user is None:
        return False
    if membership.role == Role.ADMIN:
        return True
    if membership.role == Role.PARTNER:
        if target.party_id is None or target.party_id != membership.party_id:
            return False
    elif membership.role != Role.MEMBER:
        return False
    organisation = _organisation_of(who, target.organisation_id)
    day = _today(organisation, now)
    return target.owner_position_id in _positions_held(organisation.pk, user, day)


def may_create_target(
    who: Who,
    organisation: Organisation,
    *,
    owner_position: Position | None = None,
    parent: Target | None = None,
    now: dt.datetime | None = None,
) -> bool:
    """Whether the caller may set a target: administrators; members who hold the
    owner position or the parent target's owner position. Without a position or a
    parent (to show a "New target" button): administrators and members who hold
    any position."""
    membership = _membership_of(who, organisation.pk)
    user = _user_of(who)
    if membership is None or user is None:
        return False
    if membership.role == Role.ADMIN:
        return True
    if membership.role != Role.MEMBER:
        return False
    held = _positions_held(organisation.pk, user, _today(organisation, now))
    if owner_position is None and parent is None:
        return bool(held)
    return (owner_position is not None and owner_position.pk in held) or (
        parent is not None and parent.owner_position_id in held
    )


def may_set_run_target(who: Who, run: Run, *, now: dt.datetime | None = None) -> bool:
    """Whether the caller may point the run at a target (or clear it): its process
    owner — administrators and holders of the procedure's owner position."""
    user = _user_of(who)
    if user is None:
        return False
    try:
        services._require_process_owner(run, user, _now(now))
    except (NotFound, PermissionDenied):
        return False
    return True


def _require_membership(organisation_id: int, actor: User | None) -> Membership:
    membership = _membership_of(actor, organisation_id)
    if membership is None:
        raise NotFound()
    return membership


def _require_manager(target: Target, actor: User, now: dt.datetime) -> None:
    _require_membership(target.organisation_id, actor)
    if not may_manage_target(actor, target, now=now):
        raise PermissionDenied(
            _(
                "Only administrators and the holders of the target's owner position "
                "can change it."
            )
        )


# --- cleaning ---------------------------------------------------------------------


def _quantity(value: Any, errors: dict[str, list[str]]) -> Decimal | None:
    try:
        quantity = Decimal(str(value).strip()) if value is not None else None
    except InvalidOperation:
        quantity = None
        errors["measure_quantity"] = [_("Enter a number.")]
        return None
    if quantity is None or not quantity.is_finite():
        errors["measure_quantity"] = [_("Enter a number.")]
        return None
    if quantity <= 0:
        errors["measure_quantity"] = [_("The target quantity must be more than zero.")]
        return None
    return quantity


def _date(name: str, value: Any, errors: dict[str, list[str]]) -> dt.date | None:
    if isinstance(value, dt.datetime):
        errors[name] = [_("Enter a date without a time.")]
        return None
    if isinstance(value, dt.date):
        return value
    if isinstance(value, str):
        try:
            return dt.date.fromisoformat(value.strip())
        except ValueError:
            pass
    errors[name] = [_("Enter a valid date.")]
    return None


def _text(name: str, value: Any, errors: dict[str, list[str]]) -> str:
    text = (value or "").strip() if isinstance(value, str | type(None)) else ""
    if not text:
        errors[name] = [_("This field is required.")]
    return text


def _check_owner(
    organisation_id: int, position: Any, errors: dict[str, list[str]]
) -> None:
    if not isinstance(position, Position):
        errors["owner_position"] = [_("This field is required.")]
    elif position.organisation_id != organisation_id:
        errors["owner_position"] = [_("This belongs to another organisation.")]
    elif not position.is_active:
        errors["owner_position"] = [_("The position is deactivated.")]


def _check_party(
    organisation_id: int, party: Party | None, errors: dict[str, list[str]]
) -> None:
    if party is None:
        return
    if party.organisation_id != organisation_id:
        errors["party"] = [_("This belongs to another organisation.")]
    elif not party.is_active:
        errors["party"] = [_("The party is deactivated.")]


def _lock_target(target: Target) -> None:
    """Lock the target's row before anything else. start_run (FOR SHARE) and
    set_run_target read it before the organisation row (which the audit locks),
    so the lock order is always target, then organisation: no deadlock. And a
    run still being started toward it is decided before this change checks its
    runs (no run of the old unit slips in)."""
    Target.objects.select_for_update().filter(pk=target.pk).exists()


def _lock_organisation(organisation_id: int) -> None:
    """Serialise changes to the shape of the organisation's target tree (like the
    organisation's structural moves): one parent change at a time."""
    Organisation.objects.select_for_update().filter(pk=organisation_id).exists()


def _check_parent(
    organisation_id: int,
    parent: Target | None,
    unit: str,
    errors: dict[str, list[str]],
    *,
    target_id: int | None = None,
) -> None:
    """The parent (read afresh under the organisation's lock) is of this
    organisation, active, of the same unit, and not the target or one of its
    sub-targets."""
    if parent is None:
        return
    if parent.organisation_id != organisation_id:
        errors["parent"] = [_("This belongs to another organisation.")]
        return
    fresh = (
        Target.objects.filter(pk=parent.pk)
        .values("is_active", "measure_unit", "name")
        .first()
    )
    if fresh is None:
        errors["parent"] = [_("The parent target no longer exists.")]
        return
    if target_id is not None:
        if parent.pk == target_id:
            errors["parent"] = [_("A target cannot be part of itself.")]
            return
        parents = dict(
            Target.objects.filter(organisation_id=organisation_id).values_list(
                "pk", "parent_id"
            )
        )
        node: int | None = parent.pk
        seen: set[int] = set()
        while node is not None and node not in seen:
            if node == target_id:
                errors["parent"] = [
                    _(
                        "“%(name)s” is one of this target's sub-targets: a target "
                        "cannot be part of its own sub-target."
                    )
                    % {"name": fresh["name"]}
                ]
                return
            seen.add(node)
            node = parents.get(node)
    if not fresh["is_active"]:
        errors["parent"] = [_("The parent target is deactivated.")]
    elif unit and not same_unit(fresh["measure_unit"], unit):
        errors["parent"] = [
            _(
                "The parent target is counted in %(parent_unit)s, this one in "
                "%(unit)s: a target can only be part of a target of the same unit."
            )
            % {"parent_unit": fresh["measure_unit"], "unit": unit}
        ]


def _raise(errors: Mapping[str, list[str]]) -> None:
    if errors:
        raise ValidationFailed(dict(errors))


# --- targets ----------------------------------------------------------------------


@transaction.atomic
def create_target(
    organisation: Organisation,
    *,
    actor: User,
    name: str,
    measure_quantity: Decimal | int | str,
    measure_unit: str,
    period_start: dt.date | str,
    period_end: dt.date | str,
    owner_position: Position,
    parent: Target | None = None,
    party: Party | None = None,
    description: str = "",
    now: dt.datetime | None = None,
) -> Target:
    """Set a target. Administrators; members who hold the owner position or the
    parent target's owner position."""
    now = _now(now)
    membership = _require_membership(organisation.pk, actor)
    if membership.role not in (Role.ADMIN, Role.MEMBER):
        raise PermissionDenied()
    if not may_create_target(
        actor, organisation, owner_position=owner_position, parent=parent, now=now
    ):
        raise PermissionDenied(
            _(
                "Only administrators and the holders of the owner position (or of "
                "the parent target's owner position) can set this target."
            )
        )
    if parent is not None:
        _lock_organisation(organisation.pk)
    errors: dict[str, list[str]] = {}
    name = _text("name", name, errors)
    unit = _text("measure_unit", measure_unit, errors)
    quantity = _quantity(measure_quantity, errors)
    start = _date("period_start", period_start, errors)
    end = _date("period_end", period_end, errors)
    if start is not None and end is not None and end < start:
        errors["period_end"] = [_("The period cannot end before it starts.")]
    _check_owner(organisation.pk, owner_position, errors)
    _check_party(organisation.pk, party, errors)
    _check_parent(organisation.pk, parent, unit, errors)
    _raise(errors)
    assert quantity is not None and start is not None and end is not None
    target = Target(
        organisation=organisation,
        parent=parent,
        party=party,
        name=name,
        description=(description or "").strip(),
        measure_quantity=quantity,
        measure_unit=unit,
        period_start=start,
        period_end=end,
        owner_position=owner_position,
        created_at=now,
        updated_at=now,
    )
    return writes.create(
        target, actor=actor, organisation=organisation, fields=CREATED_FIELDS
    )


@transaction.atomic
def update_target(
    target: Target,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
    **changes: Any,
) -> Target:
    """Change a target's name, description, quantity, unit, period, owner position,
    parent or party. A new unit must still match its parent, its sub-targets and
    the runs that count toward it."""
    now = _now(now)
    _require_manager(target, actor, now)
    unknown = sorted(set(changes) - set(UPDATABLE_FIELDS))
    if unknown:
        raise ValidationFailed(
            {name: [_("This field cannot be changed here.")] for name in unknown}
        )
    organisation_id = target.organisation_id
    _lock_target(target)
    if "parent" in changes or "measure_unit" in changes:
        _lock_organisation(organisation_id)
    errors: dict[str, list[str]] = {}
    cleaned: dict[str, Any] = {}
    if "name" in changes:
        cleaned["name"] = _text("name", changes["name"], errors)
    if "description" in changes:
        cleaned["description"] = (changes["description"] or "").strip()
    if "measure_quantity" in changes:
        cleaned["measure_quantity"] = _quantity(changes["measure_quantity"], errors)
    if "measure_unit" in changes:
        cleaned["measure_unit"] = _text("measure_unit", changes["measure_unit"], errors)
    for name in ("period_start", "period_end"):
        if name in changes:
            cleaned[name] = _date(name, changes[name], errors)
    start = cleaned.get("period_start", target.period_start)
    end = cleaned.get("period_end", target.period_end)
    if start is not None and end is not None and end < start:
        errors["period_end"] = [_("The period cannot end before it starts.")]
    if "owner_position" in changes:
        cleaned["owner_position"] = changes["owner_position"]
        if changes["owner_position"] is None or (
            changes["owner_position"].pk != target.owner_position_id
        ):
            _check_owner(organisation_id, changes["owner_position"], errors)
    if "party" in changes:
        cleaned["party"] = changes["party"]
        party = changes["party"]
        if party is not None and party.pk != target.party_id:
            _check_party(organisation_id, party, errors)
        _check_partner_party(actor, target, party, errors)
    unit = cleaned.get("measure_unit", target.measure_unit)
    if "parent" in changes:
        cleaned["parent"] = changes["parent"]
        parent = changes["parent"]
        if parent is not None:
            _check_parent(organisation_id, parent, unit, errors, target_id=target.pk)
    elif "measure_unit" in changes and target.parent_id is not None:
        parent_unit = (
            Target.objects.filter(pk=target.parent_id)
            .values_list("measure_unit", flat=True)
            .get()
        )
        if unit and not same_unit(parent_unit, unit):
            errors["measure_unit"] = [
                _(
                    "The parent target is counted in %(parent_unit)s: a target can "
                    "only be part of a target of the same unit."
                )
                % {"parent_unit": parent_unit}
            ]
    if "measure_unit" in changes and unit and not same_unit(unit, target.measure_unit):
        _check_new_unit(target, unit, errors)
    _raise(errors)
    return writes.update(
        target,
        actor=actor,
        organisation=_organisation_of(actor, organisation_id),
        expected_version=expected_version,
        changes=cleaned,
        allowed=UPDATABLE_FIELDS,
    )


def _check_partner_party(
    actor: User, target: Target, party: Party | None, errors: dict[str, list[str]]
) -> None:
    """A partner manages only the targets its own party sets, and may not hand one
    to the whole organisation or to another party (that would be setting a target
    for them)."""
    membership = _membership_of(actor, target.organisation_id)
    if membership is None or membership.role != Role.PARTNER:
        return
    if party is None or party.pk != membership.party_id:
        errors["party"] = [
            _("A partner's targets stay set by its own party: keep “%(party)s”.")
            % {"party": membership.party.name if membership.party else ""}
        ]


def _check_new_unit(target: Target, unit: str, errors: dict[str, list[str]]) -> None:
    """A target's sub-targets and runs are counted in its unit: a different unit
    is refused while any of them is counted in another one."""
    children = Target.objects.filter(parent_id=target.pk).values_list(
        "measure_unit", flat=True
    )
    other_children = sum(1 for u in children if not same_unit(u, unit))
    if other_children:
        errors.setdefault("measure_unit", []).append(
            ngettext(
                "%(count)d sub-target is counted in %(unit)s: move it to another "
                "target first.",
                "%(count)d sub-targets are counted in %(unit)s: move them to "
                "another target first.",
                other_children,
            )
            % {"count": other_children, "unit": target.measure_unit}
        )
    run_units = Run.objects.filter(target_id=target.pk).values_list(
        "measure_unit", flat=True
    )
    other_runs = sum(1 for u in run_units if not same_unit(u, unit))
    if other_runs:
        errors.setdefault("measure_unit", []).append(
            ngettext(
                "%(count)d run counting toward this target is counted in "
                "%(unit)s: point it at another target first.",
                "%(count)d runs counting toward this target are counted in "
                "%(unit)s: point them at another target first.",
                other_runs,
            )
            % {"count": other_runs, "unit": target.measure_unit}
        )


def _set_active(
    target: Target,
    *,
    actor: User,
    expected_version: int | None,
    active: bool,
    now: dt.datetime,
) -> Target:
    if target.is_active == active:
        if (
            expected_version is not None
            and not Target.objects.filter(
                pk=target.pk, version=expected_version
            ).exists()
        ):
            raise Conflict()
        return target
    compare_and_set(
        target,
        expected_version=expected_version,
        fields={"is_active": active, "updated_at": now},
    )
    audit.record(
        _organisation_of(actor, target.organisation_id),
        actor=actor,
        verb=AuditVerb.REACTIVATED if active else AuditVerb.DEACTIVATED,
        target=target,
        changes={"is_active": [not active, active]},
    )
    return target


@transaction.atomic
def deactivate_target(
    target: Target,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Target:
    """Stop pursuing a target: it takes no new runs (those already counting toward
    it keep counting). Its active sub-targets must be deactivated or moved first."""
    now = _now(now)
    _require_manager(target, actor, now)
    _lock_target(target)
    _lock_organisation(target.organisation_id)
    children = Target.objects.filter(parent_id=target.pk, is_active=True).count()
    if children:
        raise ValidationFailed(
            ngettext(
                "Deactivate or move its active sub-target first.",
                "Deactivate or move its %(count)d active sub-targets first.",
                children,
            )
            % {"count": children}
        )
    return _set_active(
        target, actor=actor, expected_version=expected_version, active=False, now=now
    )


@transaction.atomic
def reactivate_target(
    target: Target,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Target:
    """Pursue a deactivated target again (its parent must be active)."""
    now = _now(now)
    _require_manager(target, actor, now)
    _lock_target(target)
    _lock_organisation(target.organisation_id)
    if (
        target.parent_id is not None
        and not Target.objects.filter(pk=target.parent_id, is_active=True).exists()
    ):
        raise ValidationFailed({"parent": [_("Reactivate the parent target first.")]})
    return _set_active(
        target, actor=actor, expected_version=expected_version, active=True, now=now
    )


# --- runs -------------------------------------------------------------------------


@transaction.atomic
def set_run_target(
    run: Run,
    *,
    actor: User,
    expected_version: int | None,
    target: Target | None,
    now: dt.datetime | None = None,
) -> Run:
    """Point a run at the target it contributes to (None: at none). Its process
    owner decides; the target must be active, of the run's organisation and unit.
    A final run may be re-pointed: its actuals count where it is declared."""
    now = _now(now)
    locked = (
        Run.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .filter(pk=run.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    services._require_process_owner(locked, actor, now)
    if target is not None:
        fresh = (
            Target.objects.select_for_update()
            .filter(pk=target.pk)
            .values("organisation_id", "name", "measure_unit", "is_active")
            .first()
        )
        if fresh is None:
            raise ValidationFailed({"target": [_("The target no longer exists.")]})
        check_run_target(
            organisation_id=locked.organisation_id,
            measure_unit=locked.measure_unit,
            target_organisation_id=fresh["organisation_id"],
            target_name=fresh["name"],
            target_unit=fresh["measure_unit"],
            target_active=fresh["is_active"],
        )
    old = locked.target_id
    new = target.pk if target is not None else None
    if old == new:
        current = run.version if expected_version is None else expected_version
        if locked.version != current:
            raise Conflict()
        return run
    compare_and_set(
        run,
        expected_version=expected_version,
        fields={"target_id": new, "updated_at": now},
    )
    run.target = target
    run.organisation = locked.organisation
    audit.record(
        locked.organisation,
        actor=actor,
        verb=AuditVerb.UPDATED,
        target=run,
        changes={"target": [old, new]},
    )
    return run
