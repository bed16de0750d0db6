"""Reading absences: who is away at a moment, and a person's absences.

An absence counts at a moment `at` when `starts_at <= at < ends_at` and it was not
cancelled by then (a cancelled absence still counts before the moment it was
cancelled: history stays true). The writes are in `org/services.py`
(`record_absence`, `cancel_absence`).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable

from django.db.models import Q
from django.utils import timezone

from rantai.org.models import Absence


def _aware(at: dt.datetime) -> dt.datetime:
    if timezone.is_naive(at):
        raise ValueError("at must be timezone-aware")
    return at


def counting_at(at: dt.datetime) -> Q:
    """The filter of absences that count at the moment `at`."""
    _aware(at)
    return Q(starts_at__lte=at, ends_at__gt=at) & (
        Q(cancelled_at__isnull=True) | Q(cancelled_at__gt=at)
    )


def people_away(
    organisation_id: int, person_ids: Iterable[int], *, at: dt.datetime
) -> set[int]:
    """Which of the people (of the organisation) are away at `at`."""
    wanted = {pk for pk in person_ids if pk is not None}
    if not wanted:
        return set()
    return set(
        Absence.objects.filter(
            counting_at(at), organisation_id=organisation_id, person_id__in=wanted
        ).values_list("person_id", flat=True)
    )


def absence_at(person_id: int, *, at: dt.datetime) -> Absence | None:
    """The person's absence that counts at `at`, if any."""
    return (
        Absence.objects.filter(counting_at(at), person_id=person_id)
        .order_by("starts_at", "id")
        .first()
    )


def absences_of(
    person_id: int,
    *,
    since: dt.datetime | None = None,
    include_cancelled: bool = False,
) -> list[Absence]:
    """A person's absences in time order; with `since`, only those that end after
    it (current and coming); cancelled ones only when asked for."""
    absences = Absence.objects.filter(person_id=person_id).select_related("created_by")
    if since is not None:
        absences = absences.filter(ends_at__gt=_aware(since))
    if not include_cancelled:
        absences = absences.filter(cancelled_at__isnull=True)
    return list(absences.order_by("starts_at", "id"))
