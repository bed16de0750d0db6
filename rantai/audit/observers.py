"""Observers of the audit trail: higher apps that must follow every audited change
in the same transaction (the search index) register here in `AppConfig.ready()`.

Every service records an audit event for each change it makes, so the trail is the
one place that sees them all. An observer receives the organisation and the events
just appended, inside the service's transaction: whatever it writes commits or rolls
back with the change itself. Observers must be cheap for the events they ignore.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rantai.accounts.models import Organisation
    from rantai.audit.models import AuditEvent

Observer = Callable[["Organisation", Sequence["AuditEvent"]], None]

_observers: dict[str, Observer] = {}


def register(name: str, observer: Observer) -> None:
    """Add (or replace, by name: `ready()` may run twice in tests) an observer."""
    _observers[name] = observer


def registered() -> list[str]:
    return list(_observers)


def notify(organisation: Organisation, events: Sequence[AuditEvent]) -> None:
    for observer in list(_observers.values()):
        observer(organisation, events)
