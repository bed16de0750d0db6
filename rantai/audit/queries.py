from __future__ import annotations

from collections.abc import Iterable, Mapping
from functools import reduce
from operator import or_

from django.db import models
from django.db.models import F, OrderBy, Q, QuerySet

from rantai.accounts.models import Organisation
from rantai.audit.models import AuditEvent
from rantai.audit.services import target_type_of


def events_of(organisation: Organisation) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.objects.filter(organisation=organisation)
        .select_related("personal")
        .order_by("-sequence")
    )


def history_of(
    organisation: Organisation, target: models.Model
) -> QuerySet[AuditEvent]:
    """Every event about one object, newest first."""
    return events_of(organisation).filter(
        target_type=target_type_of(target), target_id=str(target.pk)
    )


def events_about(
    organisation: Organisation, targets: Mapping[str, Iterable[object]]
) -> QuerySet[AuditEvent]:
    """Every event about several objects (their ids by target type), newest first:
    a history that gathers an object and its parts, such as a run with its tasks.

    The query looks the objects' events up in the (organisation, target type,
    target id, sequence) index and sorts the few it finds; it must never walk the
    organisation's chain, whose length it would then cost. Two things keep both
    databases from doing so:

    - the newest-first order is by `sequence + 0`, which no index provides: asked
      for `sequence`, PostgreSQL walks the (organisation, sequence) index backwards
      with a LIMIT, reckoning the objects' events spread evenly over the chain when
      they are bunched in their own weeks (an old run's are at the far end);
    - the organisation is named only inside each object condition, never as a
      condition of its own: SQLite, without statistics, takes `organisation = ?`
      for a narrow condition and would scan the organisation's events rather than
      look up lists of ids. For the same reason a type's first id is a condition
      apart from the list of the others, so that one list is never alone.
    """
    conditions: list[Q] = []
    for target_type, ids in targets.items():
        unique = list(dict.fromkeys(str(pk) for pk in ids))
        if not unique:
            continue
        about = {"organisation": organisation, "target_type": target_type}
        conditions.append(Q(**about, target_id=unique[0]))
        if len(unique) > 1:
            conditions.append(Q(**about, target_id__in=unique[1:]))
    if not conditions:
        return AuditEvent.objects.none()
    return (
        AuditEvent.objects.filter(reduce(or_, conditions))
        .select_related("personal")
        .order_by(OrderBy(F("sequence") + 0, descending=True))
    )
