"""Claim rows of a work table with a lease, so that several workers share the work.

A work table (timers, outbox messages, webhook deliveries) has `lease_owner` and
`lease_until` columns. `claim` picks the due rows whose lease is free — never held,
or expired because the worker holding it died — and writes the caller's name and
the end of its lease on them, in one short transaction of its own. On PostgreSQL
the rows are chosen with `SELECT … FOR UPDATE SKIP LOCKED`, so workers claiming at
the same moment take different rows instead of queueing behind each other; SQLite
runs one writing transaction at a time (IMMEDIATE transactions), which serialises
claims just as well.

A lease only divides the work: whoever acts on a claimed row still locks it in the
transaction that acts and re-checks its state there, so a worker whose lease ran out
while it was busy can never apply an effect twice (see
docs/decisions/0006-worker-and-leases.md).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db import connection, models, transaction
from django.db.models import Q

# The column a work table's due rows are ordered by, when the caller names none.
DUE_COLUMNS = ("fire_at", "next_attempt_at")

# Retries back off exponentially from BACKOFF_BASE up to BACKOFF_CAP.
BACKOFF_BASE = dt.timedelta(seconds=30)
BACKOFF_CAP = dt.timedelta(hours=6)


def claim(
    model: type[models.Model],
    *,
    owner: str,
    now: dt.datetime,
    limit: int,
    lease_seconds: int,
    due: Q,
    order_by: Sequence[str] | None = None,
) -> list[int]:
    """Lease up to `limit` rows of `model` that match `due` and whose lease is free
    (`lease_until` empty or before `now`) to `owner` until `now + lease_seconds`;
    their ids, oldest due first.

    Runs in its own transaction (a savepoint inside an outer one) and commits before
    the caller starts acting on the rows. `order_by` defaults to the table's due
    column (`fire_at` or `next_attempt_at`), then the id.
    """
    if not owner:
        raise ValueError("a lease needs an owner")
    if limit < 1:
        raise ValueError("claim at least one row")
    if lease_seconds < 1:
        raise ValueError("a lease lasts at least one second")
    ordering = list(order_by) if order_by is not None else _due_order(model)
    free = Q(lease_until__isnull=True) | Q(lease_until__lt=now)
    rows = model._default_manager.filter(due & free).order_by(*ordering)
    if connection.features.has_select_for_update_skip_locked:
        rows = rows.select_for_update(skip_locked=True)
    with transaction.atomic():
        ids = [int(pk) for pk in rows.values_list("pk", flat=True)[:limit]]
        if ids:
            model._default_manager.filter(pk__in=ids).update(
                lease_owner=owner,
                lease_until=now + dt.timedelta(seconds=lease_seconds),
            )
    return ids


def release(model: type[models.Model], ids: Iterable[int], *, owner: str) -> int:
    """Give back the leases `owner` still holds on these rows (work it claimed but
    will not do, e.g. when it is told to stop); the number released. Leases taken
    over by another worker in the meantime are left alone."""
    pks = list(ids)
    if not pks:
        return 0
    return model._default_manager.filter(pk__in=pks, lease_owner=owner).update(
        lease_owner="", lease_until=None
    )


def backoff(attempts: int) -> dt.timedelta:
    """How long to wait before the next try after `attempts` failed ones:
    30 s, 1 min, 2 min, … doubling, at most 6 hours."""
    if attempts < 1:
        return dt.timedelta(0)
    # 2**10 × 30 s already exceeds the cap; keep the exponent small.
    return min(BACKOFF_BASE * 2 ** min(attempts - 1, 10), BACKOFF_CAP)


def _due_order(model: type[models.Model]) -> list[str]:
    names = {field.name for field in model._meta.concrete_fields}
    for column in DUE_COLUMNS:
        if column in names:
            return [column, "pk"]
    return ["pk"]
