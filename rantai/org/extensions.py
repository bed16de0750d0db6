"""Extension points of the organisation model: explicit, typed, ordered registries.

Higher apps take part in changes of the organisation by registering here from their
`AppConfig.ready()`; `org` never imports them and no Django signals are involved.

* **Holders changed** — `(HoldersChanged) -> None`, called whenever who holds
  authority can have changed: a holder appointed, a holding updated or ended, a
  position's superior changed, a position deactivated, a party's head position
  changed, a person's login changed, an absence recorded or cancelled (absences
  decide substitutes). The approvals engine re-resolves the approvers of its open
  stages from it.

Handlers run inside the service's transaction, after its rows (and its audit
event) are written: a handler that raises rolls the whole change back. A handler
that needs to send something queues it in the outbox, which delivers after commit.

Tests use `isolated_registry()` to run with a clean (or a prepared) registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field


@dataclass(frozen=True, slots=True)
class HoldersChanged:
    """Who holds (or stands in for) these positions, or the line above them, may
    have changed at `at`.

    `position_ids` are the positions the change is about (sorted, no duplicates):
    the position of a holding, the moved position with its old and new superior,
    a party's old and new head position, the positions an absent person holds.
    Anything resolved through them (a superior line passing through, a vacancy
    passed up) may be affected too.
    """

    organisation_id: int
    position_ids: tuple[int, ...]
    at: dt.datetime


HoldersChangedHandler = Callable[[HoldersChanged], None]


@dataclass
class Registry:
    holders_changed: list[HoldersChangedHandler] = field(default_factory=list)


registry = Registry()


def register_holders_changed_handler(
    handler: HoldersChangedHandler,
) -> HoldersChangedHandler:
    registry.holders_changed.append(handler)
    return handler


@contextmanager
def isolated_registry(replacement: Registry | None = None) -> Iterator[Registry]:
    """Run with a clean registry (or the one given); restore the real one after."""
    global registry
    saved = registry
    registry = replacement if replacement is not None else Registry()
    try:
        yield registry
    finally:
        registry = saved


def holders_changed(
    organisation_id: int, position_ids: Iterable[int | None], at: dt.datetime
) -> HoldersChanged:
    """The event, with the position ids cleaned (no None, no duplicates, sorted)."""
    ids = tuple(sorted({pk for pk in position_ids if pk is not None}))
    return HoldersChanged(organisation_id=organisation_id, position_ids=ids, at=at)


def emit_holders_changed(event: HoldersChanged) -> None:
    for handler in registry.holders_changed:
        handler(event)
