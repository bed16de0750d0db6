"""Reads of obstacles and mitigations, scoped by the caller's access.

External partners see the obstacles of the runs they take part in (their party
owns a task of the run): those on the run as a whole and those on their own
party's tasks. Every helper runs a fixed number of queries, whatever the amount
of data.
"""

from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet

from rantai.accounts.access import Access
from rantai.chains.models import Run, Task
from rantai.core.errors import NotFound
from rantai.evidence.queries import visible_records
from rantai.obstacles import obstacles as services
from rantai.obstacles.models import (
    Mitigation,
    MitigationStatus,
    Obstacle,
    ObstacleStatus,
    Severity,
)
from rantai.org.models import Person

__all__ = [
    "may_manage",
    "my_mitigations",
    "obstacle",
    "obstacles",
    "visible_obstacles",
]


def visible_obstacles(access: Access) -> QuerySet[Obstacle]:
    """Obstacles the caller may see (partners: of the runs their party takes part
    in, on the run as a whole or on their own party's tasks)."""
    qs = Obstacle.objects.filter(organisation=access.organisation)
    party_id = access.partner_party_id
    if party_id is not None:
        qs = qs.filter(
            Exists(
                Task.objects.filter(run=OuterRef("run"), responsible_party_id=party_id)
            )
        ).filter(Q(task__isnull=True) | Q(task__responsible_party_id=party_id))
    return qs


def obstacles(
    access: Access,
    *,
    run: Run | int | None = None,
    task: Task | int | None = None,
    status: str | None = None,
    severity: str | None = None,
) -> QuerySet[Obstacle]:
    """Visible obstacles, newest first, filtered; with their run, procedure,
    task and raiser. One query when evaluated."""
    qs = visible_obstacles(access).select_related(
        "run", "run__procedure", "task", "raised_by"
    )
    if run is not None:
        qs = qs.filter(run_id=run.pk if isinstance(run, Run) else run)
    if task is not None:
        qs = qs.filter(task_id=task.pk if isinstance(task, Task) else task)
    # A value outside the choices matches nothing (and is never sent to the
    # database: PostgreSQL refuses some characters, such as NUL, outright).
    if status:
        qs = qs.filter(status=status) if status in ObstacleStatus.values else qs.none()
    if severity:
        qs = qs.filter(severity=severity) if severity in Severity.values else qs.none()
    return qs.order_by("-raised_at", "-id")


def obstacle(access: Access, pk: int | str) -> Obstacle:
    """One visible obstacle with its mitigations (and their owners), its
    supporting records and the records of its resolution (those the caller may
    see). Four queries."""
    qs = (
        visible_obstacles(access)
        .select_related("run", "run__procedure", "task", "raised_by", "closed_by")
        .prefetch_related(
            Prefetch(
                "mitigations",
                queryset=Mitigation.objects.select_related("owner").order_by(
                    "due_at", "id"
                ),
            ),
            # Only the records the caller may see: a partner reads an obstacle on
            # the run as a whole, not what it rests on about other parties' tasks
            # or the organisation.
            Prefetch(
                "records",
                queryset=visible_records(access).order_by("title", "id"),
            ),
            Prefetch(
                "resolution_records",
                queryset=visible_records(access).order_by("title", "id"),
            ),
        )
    )
    try:
        found: Obstacle = qs.get(pk=int(pk))
    except (ValueError, TypeError, Obstacle.DoesNotExist) as error:
        raise NotFound() from error
    found.organisation = access.organisation  # the same row: saves a query
    return found


def my_mitigations(access: Access) -> QuerySet[Mitigation]:
    """The open actions against obstacles the caller owns (through their person
    in the organisation), soonest due first. One query."""
    person = Person.objects.filter(
        organisation=access.organisation, user=access.user, is_active=True
    ).values("pk")[:1]
    return (
        Mitigation.objects.filter(
            organisation=access.organisation,
            owner_id__in=person,
            status=MitigationStatus.OPEN,
        )
        .select_related("obstacle", "obstacle__run", "obstacle__task")
        .order_by("due_at", "id")
    )


def may_manage(access: Access, obstacle: Obstacle) -> bool:
    """Whether the caller may change, resolve or withdraw the obstacle and add
    mitigations (for pages: which buttons to show)."""
    if obstacle.organisation_id != access.organisation.pk:
        return False
    return services.may_manage(obstacle, access.user)
