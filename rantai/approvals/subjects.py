"""What a request can be about: one adapter per `SubjectKind`, registered once.

The engine (services.py) knows subjects only through their adapter: how to load one,
its organisation and run, the fields route conditions test, the version decisions bind
to, whose accountable position a `step_accountable` stage asks, and what happens when
the request is approved or rejected. The adapters for chains' deviations, due-date
changes and task completions live in `adapters.py`; later capabilities (workload
analysis) register their own.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from rantai.accounts.models import User
    from rantai.approvals.models import ApprovalRequest


@dataclass(frozen=True)
class Adapter:
    kind: str
    load: Callable[[int], Any]
    organisation_id: Callable[[Any], int]
    run_id: Callable[[Any], int | None]
    title: Callable[[Any], str]
    fields: Callable[[Any], dict[str, Any]]
    version: Callable[[Any], int]
    accountable_position_id: Callable[[Any], int | None]
    on_approved: Callable[[Any, ApprovalRequest, User, dt.datetime], None]
    on_rejected: Callable[[Any, ApprovalRequest, User, dt.datetime], None]
    # The condition fields a route of this kind may test, for validation and the UI:
    # {name: label}; "run." prefixes any run field key.
    field_names: Callable[[], dict[str, str]]
    # Optional: told when the request is returned to the requester, withdrawn or
    # resubmitted (the new status: returned, withdrawn, open), in the same
    # transaction, after the request's status is set.
    on_status_changed: (
        Callable[[Any, ApprovalRequest, str, dt.datetime], None] | None
    ) = None


_adapters: dict[str, Adapter] = {}


def register(adapter: Adapter) -> Adapter:
    _adapters[adapter.kind] = adapter
    return adapter


def adapter_for(kind: str) -> Adapter:
    try:
        return _adapters[kind]
    except KeyError:
        raise LookupError(f"no approval subject adapter for {kind!r}") from None


def registered() -> dict[str, Adapter]:
    return dict(_adapters)


@contextmanager
def isolated_adapters(*extra: Adapter) -> Iterator[None]:
    """Tests: run with the registered adapters plus `extra`, restored afterwards."""
    saved = dict(_adapters)
    try:
        for adapter in extra:
            register(adapter)
        yield
    finally:
        _adapters.clear()
        _adapters.update(saved)
