"""Reads of consultations and briefings for pages and the API, scoped by the
caller's access (docs/design-roles.md, "Interfaces").

* Consultations: the ones waiting for the caller's input (their focus page: the
  current round of open tasks, on positions they hold today, acting included);
  a task's consultations for whoever sees the task (`chains.queries.task`).
* Briefings: a person reads their own; administrators and auditors read every
  briefing; the process owner (holders of a procedure's owner position) reads the
  briefings of its versions, and the holders of a position's superior the
  briefings about holdings of it. Anyone else gets 404.

Every helper runs a fixed number of queries, whatever the amount of data.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass
from typing import Any

from django.db.models import F, Q, QuerySet
from django.utils import timezone

from rantai.accounts.access import Access
from rantai.chains import queries as chains_queries
from rantai.chains.models import OPEN_TASK_STATUSES, ProcedureVersion
from rantai.core.errors import NotFound, PermissionDenied
from rantai.org.models import Holding
from rantai.roles import briefings as briefing_services
from rantai.roles.models import Briefing, Consultation, ConsultationStatus

__all__ = [
    "VersionBriefings",
    "briefing",
    "briefings",
    "briefings_to_acknowledge",
    "consultation",
    "consultations_waiting",
    "my_briefings",
    "task_consultations",
    "version_briefing_status",
]


def _today(access: Access, now: dt.datetime | None = None) -> dt.date:
    moment = now or timezone.now()
    return moment.astimezone(zoneinfo.ZoneInfo(access.organisation.time_zone)).date()


def _pk(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise NotFound() from error


def _held_positions(access: Access, now: dt.datetime | None = None) -> QuerySet[Any]:
    """The ids of the positions the caller's person holds today (a subquery)."""
    return (
        Holding.objects.current(_today(access, now))
        .filter(
            organisation_id=access.organisation.pk,
            person__user_id=access.user.pk,
            person__is_active=True,
        )
        .values("position_id")
    )


# --- consultations ---------------------------------------------------------------------


def _consultations(access: Access) -> QuerySet[Consultation]:
    return Consultation.objects.filter(
        organisation_id=access.organisation.pk
    ).select_related("task", "task__run", "task__run__procedure", "position")


def consultations_waiting(
    access: Access, *, now: dt.datetime | None = None
) -> list[Consultation]:
    """The consultations waiting for the caller's input: of positions they hold
    today (acting included), in the current round of an open task; oldest first.
    One query."""
    return list(
        _consultations(access)
        .filter(
            status=ConsultationStatus.REQUESTED,
            position_id__in=_held_positions(access, now),
            task__status__in=OPEN_TASK_STATUSES,
            round=F("task__reopen_count"),
        )
        .order_by("requested_at", "id")
    )


def task_consultations(access: Access, task_pk: Any) -> list[Consultation]:
    """Every consultation of a task the caller sees (all rounds, newest round
    first), with who answered. Two queries."""
    task = chains_queries.task(access, task_pk)
    return list(
        Consultation.objects.filter(task_id=task.pk)
        .select_related("position", "answered_by")
        .order_by("-round", "position__title", "id")
    )


def consultation(access: Access, pk: Any) -> Consultation:
    """One consultation: of a task the caller sees, or asked of a position they
    hold (404 otherwise)."""
    visible = chains_queries.tasks(access).values("pk")
    found = (
        _consultations(access)
        .filter(Q(task_id__in=visible) | Q(position_id__in=_held_positions(access)))
        .filter(pk=_pk(pk))
        .first()
    )
    if found is None:
        raise NotFound()
    return found


# --- briefings -------------------------------------------------------------------------


def _briefings(access: Access) -> QuerySet[Briefing]:
    return Briefing.objects.filter(
        organisation_id=access.organisation.pk
    ).select_related(
        "organisation",
        "person",
        "procedure_version",
        "procedure_version__procedure",
        "holding",
        "holding__position",
        "acknowledged_by",
    )


def _overseen(access: Access) -> Q:
    """The briefings the caller oversees through a position they hold: of the
    versions of procedures they own, about holdings of positions below theirs."""
    held = _held_positions(access)
    return Q(procedure_version__procedure__owner_position_id__in=held) | Q(
        holding__position__superior_id__in=held
    )


def briefings(access: Access) -> QuerySet[Briefing]:
    """The briefings the caller may read: administrators and auditors every one;
    others their own and those they oversee (newest first)."""
    qs = _briefings(access)
    if access.is_admin or access.is_auditor:
        return qs
    return qs.filter(Q(person__user_id=access.user.pk) | _overseen(access))


def my_briefings(access: Access) -> list[Briefing]:
    """The caller's own briefings, newest first. One query."""
    return list(_briefings(access).filter(person__user_id=access.user.pk))


def briefings_to_acknowledge(access: Access) -> list[Briefing]:
    """The caller's briefings not acknowledged yet (their focus page), oldest
    first. One query."""
    return list(
        _briefings(access)
        .filter(person__user_id=access.user.pk, acknowledged_at__isnull=True)
        .order_by("issued_at", "id")
    )


def briefing(access: Access, pk: Any) -> Briefing:
    """One briefing the caller may read (see `briefings`), 404 otherwise."""
    found = briefings(access).filter(pk=_pk(pk)).first()
    if found is None:
        raise NotFound()
    return found


@dataclass(frozen=True, slots=True)
class VersionBriefings:
    """Who was briefed on a version and who acknowledged, and whether the caller
    may remind them."""

    version: ProcedureVersion
    rows: list[briefing_services.BriefingStatus]
    may_remind: bool

    @property
    def acknowledged(self) -> int:
        return sum(1 for row in self.rows if row.acknowledged_at is not None)


def version_briefing_status(access: Access, version_pk: Any) -> VersionBriefings:
    """A version's briefing status per person: administrators, auditors and the
    holders of the procedure's owner position (others: refused)."""
    version = chains_queries.version(access, version_pk)
    owner = (
        Holding.objects.current(_today(access))
        .filter(
            position_id=version.procedure.owner_position_id,
            person__user_id=access.user.pk,
            person__is_active=True,
        )
        .exists()
    )
    if not (access.is_admin or access.is_auditor or owner):
        raise PermissionDenied()
    return VersionBriefings(
        version=version,
        rows=briefing_services.status_of_version(version),
        may_remind=access.is_admin or owner,
    )
