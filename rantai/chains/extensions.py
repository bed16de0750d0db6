"""Extension points of the chains engine: explicit, typed, ordered registries.

Higher apps (approvals, evidence, roles, notifications) take part in the engine by
registering here from their `AppConfig.ready()`; `chains` never imports them and no
Django signals are involved. Everything registered runs inside the service's
transaction: a guard or handler that raises rolls the whole transition back.

* **Completion guards** — `(task) -> GuardResult`, asked in registration order when
  someone completes a task. If any says no, the task goes to `awaiting` and shows
  every reason; `services.recheck_task` asks again.
* **Event handlers** — called with a plain, frozen event after the transition's
  rows are written (and before its audit event): `task_ready`, `task_done`,
  `run_completed`, `run_late`. A handler that needs to send something queues it in
  the outbox, which delivers after commit.

Tests use `isolated_registry()` to run with a clean (or a prepared) registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from rantai.chains.models import Task


@dataclass(frozen=True, slots=True)
class GuardResult:
    ok: bool
    reason: str = ""


ALLOW = GuardResult(ok=True)


@dataclass(frozen=True, slots=True)
class TaskReady:
    """A task's dependencies are satisfied; it can be started."""

    organisation_id: int
    run_id: int
    task_id: int
    assignee_id: int | None
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class TaskDone:
    organisation_id: int
    run_id: int
    task_id: int
    actor_id: int | None
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class RunCompleted:
    organisation_id: int
    run_id: int
    result: str
    completed_at: dt.datetime
    due_at: dt.datetime


@dataclass(frozen=True, slots=True)
class RunLate:
    """The projected finish of a run moved past its due date."""

    organisation_id: int
    run_id: int
    projected_finish_at: dt.datetime
    due_at: dt.datetime


CompletionGuard = Callable[["Task"], GuardResult]
TaskReadyHandler = Callable[[TaskReady], None]
TaskDoneHandler = Callable[[TaskDone], None]
RunCompletedHandler = Callable[[RunCompleted], None]
RunLateHandler = Callable[[RunLate], None]


@dataclass
class Registry:
    completion_guards: list[CompletionGuard] = field(default_factory=list)
    task_ready: list[TaskReadyHandler] = field(default_factory=list)
    task_done: list[TaskDoneHandler] = field(default_factory=list)
    run_completed: list[RunCompletedHandler] = field(default_factory=list)
    run_late: list[RunLateHandler] = field(default_factory=list)


registry = Registry()


def register_completion_guard(guard: CompletionGuard) -> CompletionGuard:
    registry.completion_guards.append(guard)
    return guard


def register_task_ready_handler(handler: TaskReadyHandler) -> TaskReadyHandler:
    registry.task_ready.append(handler)
    return handler


def register_task_done_handler(handler: TaskDoneHandler) -> TaskDoneHandler:
    registry.task_done.append(handler)
    return handler


def register_run_completed_handler(
    handler: RunCompletedHandler,
) -> RunCompletedHandler:
    registry.run_completed.append(handler)
    return handler


def register_run_late_handler(handler: RunLateHandler) -> RunLateHandler:
    registry.run_late.append(handler)
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


def check_guards(task: Task) -> list[str]:
    """The reasons of every guard that says no, in registration order."""
    reasons: list[str] = []
    for guard in registry.completion_guards:
        result = guard(task)
        if not result.ok:
            reasons.append(result.reason)
    return reasons


def emit_task_ready(event: TaskReady) -> None:
    for handler in registry.task_ready:
        handler(event)


def emit_task_done(event: TaskDone) -> None:
    for handler in registry.task_done:
        handler(event)


def emit_run_completed(event: RunCompleted) -> None:
    for handler in registry.run_completed:
        handler(event)


def emit_run_late(event: RunLate) -> None:
    for handler in registry.run_late:
        handler(event)
