"""Delegation of approval authority (pelimpahan wewenang) and absences with a
stand-in.

A person (the delegator) lets another person of the organisation (the delegate)
decide approvals on their behalf for a period — for every route, or only some.
The delegate decides *in the delegator's slot*: the decision records both.

Rules:

* The delegator themselves (their own login) or an administrator records it; the
  delegate must be an active person of the same organisation with a login and an
  active administrator or member membership (someone who may decide at all).
* A delegation works for `starts_at <= at < ends_at`: it stops on the very moment
  it ends. Revoking it ends it at once; a delegation made for an absence stops
  when that absence is cancelled.
* **Delegations are never chained.** If A delegates to B and B delegates to C, C
  may decide in B's own slots, never in A's: `active_for` returns only the
  delegations made *to* a person, and nothing here (or in the engine) follows a
  delegation's delegator to further delegations. Authority received by delegation
  cannot be passed on.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable
from dataclasses import dataclass
from typing import Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Role, User
from rantai.approvals.models import Delegation, Route
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.core.concurrency import compare_and_set, lock_current
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.core.validation import full_clean
from rantai.org import services as org
from rantai.org.models import Absence, Person


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _aware(at: dt.datetime) -> dt.datetime:
    if timezone.is_naive(at):
        raise ValueError("at must be timezone-aware")
    return at


def _membership(organisation_id: int, user: User | None) -> Membership | None:
    if user is None or not user.is_active:
        return None
    return Membership.objects.filter(
        organisation_id=organisation_id, user=user, is_active=True
    ).first()


def _require_delegator_or_admin(delegator: Person, actor: User, refusal: str) -> None:
    """The delegator's own login (as an administrator or member) or an
    administrator. Someone outside the organisation learns nothing."""
    membership = _membership(delegator.organisation_id, actor)
    if membership is None:
        raise NotFound()
    if membership.role == Role.ADMIN:
        return
    if membership.role == Role.MEMBER and delegator.user_id == actor.pk:
        return
    raise PermissionDenied(refusal)


def _check_delegate(delegator: Person, delegate: Person) -> None:
    if delegate.organisation_id != delegator.organisation_id:
        raise ValidationFailed(
            {"delegate": [_("This belongs to another organisation.")]}
        )
    if delegate.pk == delegator.pk:
        raise ValidationFailed(
            {"delegate": [_("A person cannot delegate to themselves.")]}
        )
    if not delegate.is_active:
        raise ValidationFailed({"delegate": [_("The person is deactivated.")]})
    membership = (
        _membership(delegate.organisation_id, delegate.user)
        if delegate.user_id is not None
        else None
    )
    if membership is None or membership.role not in (Role.ADMIN, Role.MEMBER):
        raise ValidationFailed(
            {
                "delegate": [
                    _(
                        "%(person)s has no login with a member's rights in this "
                        "organisation, so they cannot decide."
                    )
                    % {"person": delegate.full_name}
                ]
            }
        )


def _check_period(starts_at: Any, ends_at: Any, now: dt.datetime) -> None:
    errors: dict[str, list[str]] = {}
    for name, value in (("starts_at", starts_at), ("ends_at", ends_at)):
        if not isinstance(value, dt.datetime):
            errors[name] = [_("Enter a date and time.")]
        elif timezone.is_naive(value):
            errors[name] = [_("Enter a date and time with its time zone.")]
    if errors:
        raise ValidationFailed(errors)
    if ends_at <= starts_at:
        raise ValidationFailed({"ends_at": [_("The end must be after the start.")]})
    if ends_at <= now:
        raise ValidationFailed({"ends_at": [_("The end must be in the future.")]})


def _check_routes(organisation_id: int, routes: Iterable[Route]) -> list[Route]:
    chosen = list({route.pk: route for route in routes}.values())
    for route in chosen:
        if route.organisation_id != organisation_id:
            raise ValidationFailed(
                {"routes": [_("This belongs to another organisation.")]}
            )
        if not route.is_active:
            raise ValidationFailed(
                {
                    "routes": [
                        _("The route “%(route)s” is deactivated.")
                        % {"route": route.name}
                    ]
                }
            )
    return chosen


def _check_absence(delegator: Person, absence: Absence | None) -> Absence | None:
    if absence is None:
        return None
    # Locked, so two delegations cannot both be linked to it.
    locked = Absence.objects.select_for_update().get(pk=absence.pk)
    if locked.person_id != delegator.pk:
        raise ValidationFailed({"absence": [_("The absence is not the delegator's.")]})
    if locked.cancelled_at is not None:
        raise ValidationFailed({"absence": [_("The absence is cancelled.")]})
    if Delegation.objects.filter(absence=locked).exists():
        raise ValidationFailed(
            {"absence": [_("The absence already has a delegation.")]}
        )
    return locked


@transaction.atomic
def delegate(
    delegator: Person,
    *,
    actor: User,
    delegate: Person,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    routes: Iterable[Route] = (),
    note: str = "",
    absence: Absence | None = None,
    now: dt.datetime | None = None,
) -> Delegation:
    """Let `delegate` decide approvals on behalf of `delegator` from `starts_at`
    until `ends_at` — for the given routes only, or (none given) for all. With an
    `absence` of the delegator, the delegation stops when the absence is cancelled.

    Not re-delegable: see the module's docstring."""
    return _delegate(
        delegator,
        actor=actor,
        to=delegate,
        starts_at=starts_at,
        ends_at=ends_at,
        routes=routes,
        note=note,
        absence=absence,
        now=_now(now),
    )


def _delegate(
    delegator: Person,
    *,
    actor: User,
    to: Person,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    routes: Iterable[Route],
    note: str,
    absence: Absence | None,
    now: dt.datetime,
) -> Delegation:
    _require_delegator_or_admin(
        delegator,
        actor,
        _(
            "Only the person themselves or an administrator can delegate their authority."
        ),
    )
    if not delegator.is_active:
        raise ValidationFailed({"delegator": [_("The person is deactivated.")]})
    _check_delegate(delegator, to)
    _check_period(starts_at, ends_at, now)
    chosen = _check_routes(delegator.organisation_id, routes)
    linked = _check_absence(delegator, absence)
    delegation = Delegation(
        organisation_id=delegator.organisation_id,
        delegator=delegator,
        delegate=to,
        starts_at=starts_at,
        ends_at=ends_at,
        absence=linked,
        note=(note or "").strip(),
        created_by=actor,
    )
    full_clean(delegation)
    delegation.save()
    if chosen:
        delegation.routes.set(chosen)
    audit.record(
        delegator.organisation,
        actor=actor,
        verb=AuditVerb.DELEGATED,
        target=delegation,
        changes={
            "delegator": delegator.pk,
            "delegate": to.pk,
            "starts_at": starts_at,
            "ends_at": ends_at,
            "routes": sorted(route.pk for route in chosen),
            "absence": linked.pk if linked is not None else None,
        },
        personal_changes={"note": delegation.note} if delegation.note else None,
        target_label=f"{delegator.full_name} → {to.full_name}",
    )
    return delegation


@transaction.atomic
def revoke(
    delegation: Delegation,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Delegation:
    """End a delegation now (the delegator or an administrator). A stale
    `expected_version` is a `Conflict`: someone changed it in the meantime."""
    now = _now(now)
    delegator = delegation.delegator
    _require_delegator_or_admin(
        delegator,
        actor,
        _("Only the person who delegated or an administrator can revoke a delegation."),
    )
    lock_current(delegation, expected_version=expected_version)
    stored = Delegation.objects.get(pk=delegation.pk)
    if stored.revoked_at is not None:
        raise ValidationFailed(_("The delegation is already revoked."))
    if stored.ends_at <= now:
        raise ValidationFailed(_("The delegation has already ended."))
    compare_and_set(
        delegation,
        expected_version=stored.version,
        fields={"revoked_at": now, "updated_at": now},
    )
    audit.record(
        delegator.organisation,
        actor=actor,
        verb=AuditVerb.DELEGATION_REVOKED,
        target=delegation,
        changes={"revoked_at": [None, now]},
        target_label=f"{delegator.full_name} → {delegation.delegate.full_name}",
    )
    return delegation


@transaction.atomic
def record_absence(
    person: Person,
    *,
    actor: User,
    kind: str,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    delegate: Person | None = None,
    note: str = "",
    now: dt.datetime | None = None,
) -> Absence:
    """Record an absence and, with a `delegate`, delegate the person's approval
    authority to them for exactly that period (linked to the absence, so
    cancelling the absence stops it) — both or neither."""
    absence = org.record_absence(
        person,
        actor=actor,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        note=note,
        now=now,
    )
    if delegate is not None:
        _delegate(
            person,
            actor=actor,
            to=delegate,
            starts_at=absence.starts_at,
            ends_at=absence.ends_at,
            routes=(),
            note="",
            absence=absence,
            now=_now(now),
        )
    return absence


# --- reads ------------------------------------------------------------------------


def _working_at(at: dt.datetime) -> Q:
    return (
        Q(starts_at__lte=at, ends_at__gt=at)
        & (Q(revoked_at__isnull=True) | Q(revoked_at__gt=at))
        & (
            Q(absence__isnull=True)
            | Q(absence__cancelled_at__isnull=True)
            | Q(absence__cancelled_at__gt=at)
        )
    )


def _for_route(
    delegations: QuerySet[Delegation], route_id: int
) -> QuerySet[Delegation]:
    """Delegations for every route, or naming this one."""
    named = Delegation.routes.through.objects.filter(delegation_id=OuterRef("pk"))
    return delegations.filter(~Exists(named) | Exists(named.filter(route_id=route_id)))


def active_for(
    delegate_person_id: int, *, at: dt.datetime, route_id: int | None = None
) -> list[Delegation]:
    """The delegations that let this person decide on someone's behalf at `at`:
    `starts_at <= at < ends_at`, not revoked by then, their absence (if any) not
    cancelled by then, and — given a route — for every route or naming it
    (`route_id=None`: whatever the routes). Oldest first.

    Only delegations made *to* the person: they are never chained."""
    _aware(at)
    delegations = Delegation.objects.filter(
        _working_at(at), delegate_id=delegate_person_id
    )
    if route_id is not None:
        delegations = _for_route(delegations, route_id)
    return list(delegations.select_related("delegator").order_by("starts_at", "id"))


def stand_ins(
    delegator_person_ids: Iterable[int], *, at: dt.datetime, route_id: int
) -> list[int]:
    """The people standing in for these people at `at` on this route: the
    delegates of their delegations working then (an absence with a delegate is
    such a delegation), for every route or naming this one. Each once, by id;
    one query.

    Only the delegations the people made themselves: they are never chained."""
    _aware(at)
    ids = sorted(set(delegator_person_ids))
    if not ids:
        return []
    delegations = _for_route(
        Delegation.objects.filter(_working_at(at), delegator_id__in=ids), route_id
    )
    return sorted(set(delegations.values_list("delegate_id", flat=True)))


@dataclass(frozen=True, slots=True)
class PersonsDelegations:
    """A person's delegations that work now or start later (for their page)."""

    given: list[Delegation]
    received: list[Delegation]


def delegations_of(person_id: int, *, at: dt.datetime) -> PersonsDelegations:
    """What the person delegated and what was delegated to them, working at `at`
    or starting later, in time order."""
    _aware(at)
    still = (
        Q(ends_at__gt=at)
        & (Q(revoked_at__isnull=True) | Q(revoked_at__gt=at))
        & (
            Q(absence__isnull=True)
            | Q(absence__cancelled_at__isnull=True)
            | Q(absence__cancelled_at__gt=at)
        )
    )
    delegations = (
        Delegation.objects.filter(still)
        .filter(Q(delegator_id=person_id) | Q(delegate_id=person_id))
        .select_related("delegator", "delegate", "absence")
        .prefetch_related("routes")
        .order_by("starts_at", "id")
    )
    given: list[Delegation] = []
    received: list[Delegation] = []
    for delegation in delegations:
        (given if delegation.delegator_id == person_id else received).append(delegation)
    return PersonsDelegations(given=given, received=received)
