"""Reads of targets, scoped by the caller's access (docs/design-insight.md,
"Targets": visibility and focus pages).

Whole-organisation members (administrators, members, auditors) see every target.
A partner sees the targets its party sets and the targets that runs its party
takes part in contribute to; of a target's runs, only those runs (a target's
figures stay whole: its quantity is no secret from the parties working toward
it). Every helper runs a fixed number of queries, whatever the amount of data.
"""

from __future__ import annotations

import datetime as dt
from zoneinfo import ZoneInfo

from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone

from rantai.accounts.access import Access
from rantai.chains import queries as chains_queries
from rantai.chains.models import FINAL_TASK_STATUSES, Run, Target, Task
from rantai.core.errors import NotFound
from rantai.insight.targets import TargetProgress, roll_up
from rantai.org.models import Holding

__all__ = ["focus_targets", "runs_of_target", "target", "targets"]


def _today(access: Access, now: dt.datetime | None) -> dt.date:
    moment = now or timezone.now()
    return moment.astimezone(ZoneInfo(access.organisation.time_zone)).date()


def targets(access: Access) -> QuerySet[Target]:
    """The targets the caller may see, in the order of their periods, with their
    owner position, party and parent. One query when evaluated."""
    qs = Target.objects.filter(organisation=access.organisation).select_related(
        "owner_position", "party", "parent"
    )
    party_id = access.partner_party_id
    if party_id is not None:
        qs = qs.filter(
            Q(party_id=party_id)
            | Q(Exists(chains_queries.runs(access).filter(target_id=OuterRef("pk"))))
        )
    return qs.order_by("period_start", "name", "id")


def target(access: Access, pk: int | str) -> Target:
    """One visible target (NotFound otherwise: unknown and hidden look the same)."""
    try:
        found: Target = targets(access).get(pk=int(pk))
    except (ValueError, TypeError, Target.DoesNotExist) as error:
        raise NotFound() from error
    found.organisation = access.organisation  # the same row: saves a query
    return found


def runs_of_target(
    access: Access, target: Target, *, include_descendants: bool = False
) -> QuerySet[Run]:
    """The visible runs declared toward the target (with `include_descendants`,
    toward its sub-targets too), newest first. One query when evaluated (two with
    descendants)."""
    ids = [target.pk]
    if include_descendants:
        parents = dict(
            Target.objects.filter(organisation=access.organisation).values_list(
                "pk", "parent_id"
            )
        )
        children: dict[int, list[int]] = {}
        for pk, parent_id in parents.items():
            if parent_id is not None:
                children.setdefault(parent_id, []).append(pk)
        stack, seen = [target.pk], {target.pk}
        while stack:
            for child in children.get(stack.pop(), ()):
                if child not in seen:
                    seen.add(child)
                    stack.append(child)
        ids = sorted(seen)
    return chains_queries.runs(access).filter(target_id__in=ids)


def focus_targets(
    access: Access, *, now: dt.datetime | None = None
) -> list[TargetProgress]:
    """The active targets whose period contains today that the caller's work
    contributes to: runs in which their person is the assignee of a task, or
    holds the responsible or accountable position of an unfinished task (for a
    partner: also runs with an unfinished task of its party), and targets owned
    by a position they hold. Soonest ending first. Three queries."""
    today = _today(access, now)
    held = Holding.objects.current(today).filter(
        organisation=access.organisation,
        person__user=access.user,
        person__is_active=True,
    )
    positions = held.values("position_id")
    unfinished = ~Q(status__in=FINAL_TASK_STATUSES)
    work = Q(assignee__user=access.user, assignee__is_active=True) | (
        unfinished
        & (
            Q(responsible_position_id__in=positions)
            | Q(accountable_position_id__in=positions)
        )
    )
    if access.partner_party_id is not None:
        work |= unfinished & Q(responsible_party_id=access.partner_party_id)
    contributes = Task.objects.filter(
        organisation=access.organisation, run__target_id=OuterRef("pk")
    ).filter(work)
    found = list(
        targets(access)
        .filter(is_active=True, period_start__lte=today, period_end__gte=today)
        .filter(Q(owner_position_id__in=positions) | Q(Exists(contributes)))
    )
    if not found:
        return []
    progress = roll_up(access.organisation, found, now=now)
    items = [progress[item.pk] for item in found if item.pk in progress]
    items.sort(
        key=lambda item: (item.target.period_end, item.target.name, item.target.pk)
    )
    return items
