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
  `task_awaiting`, `task_reopened`, `deviation_requested`, `run_completed`,
  `run_late`. A handler that needs to send something queues it in the outbox,
  which delivers after commit. Emitting costs no query: a handler that needs more
  than the event reads it itself.
* **Decision gates** — `(kind, subject_id, proposal) -> reason | None`, asked before
  a direct decision (`"deviation"`: confirming or rejecting a deviation;
  `"due_date_change"`: moving a run's due date, `proposal={"due_at": …}`). A gate
  that answers with a reason refuses the direct decision (the decision belongs to
  an approval route); the approval engine's own calls pass `via_route=True` and are
  not asked.
* **The assigner** — one object (`register_assigner`) that picks the assignee of
  tasks becoming ready (`choose`, a batch of `ReadyWork`) and records why
  (`record`, once the task ids exist). Without one, the sole current holder of the
  responsible position is assigned and nothing is recorded.
* **Publish guards** — `(version_id) -> [message]`, asked when a draft is
  published; any message refuses the publication (with the chains' own checks).
* **Awaiting-reason labels** — a guard stores a short code in a task's
  `awaiting_reasons` (data, kept as is); `reason_label(code)` is what a page shows
  for it, in the reader's language (a code nobody registered is shown as is).

Tests use `isolated_registry()` to run with a clean (or a prepared) registry.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Protocol

from django.utils.functional import Promise

if TYPE_CHECKING:
    from rantai.chains.models import Task

# The kinds of direct decision a gate is asked about.
DEVIATION_DECISION = "deviation"
DUE_DATE_CHANGE = "due_date_change"


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
class TaskAwaiting:
    """A completion attempt left the task awaiting: some completion guard said no
    (`complete_task`, and `recheck_task` when the task stays awaiting)."""

    organisation_id: int
    run_id: int
    task_id: int
    actor_id: int | None
    reasons: tuple[str, ...]
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class TaskReopened:
    """A done task was reopened (its work will be done again)."""

    organisation_id: int
    run_id: int
    task_id: int
    actor_id: int | None
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class DeviationRequested:
    """Someone asked to skip, add or reorder a step of a run."""

    organisation_id: int
    run_id: int
    deviation_id: int
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
class TaskAssigned:
    """A person took an unassigned task themselves (claimed it, or started it)."""

    organisation_id: int
    run_id: int
    task_id: int
    person_id: int
    actor_id: int | None
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class VersionPublished:
    """A procedure version was published (it replaced the previous one, if any)."""

    organisation_id: int
    procedure_id: int
    version_id: int
    actor_id: int | None
    at: dt.datetime


@dataclass(frozen=True, slots=True)
class ReadyWork:
    """A task about to become ready, to be given an assignee. `key` is the task's
    id, or — while a run is being started and its tasks do not exist yet — the id
    of its step (`record` then receives the task ids)."""

    key: int
    run_id: int | None
    position_id: int | None
    party_id: int | None
    duty_id: int | None
    duration_minutes: int
    sort_order: int


@dataclass(frozen=True, slots=True)
class AssignmentChoice:
    """Whom the assigner chose (None: nobody; the task stays open to claim) and
    why, as plain data the assigner itself records."""

    person_id: int | None
    rationale: Mapping[str, Any] = field(default_factory=dict)


class Assigner(Protocol):
    def choose(
        self,
        organisation_id: int,
        work: Sequence[ReadyWork],
        *,
        now: dt.datetime,
    ) -> dict[int, AssignmentChoice]:
        """A choice for each work item's key (missing keys: nobody)."""
        ...

    def record(
        self,
        organisation_id: int,
        chosen: Sequence[tuple[int, ReadyWork, AssignmentChoice]],
        *,
        now: dt.datetime,
    ) -> None:
        """Store the rationale of the choices: (task id, work, choice)."""
        ...


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
TaskAwaitingHandler = Callable[[TaskAwaiting], None]
TaskReopenedHandler = Callable[[TaskReopened], None]
DeviationRequestedHandler = Callable[[DeviationRequested], None]
RunCompletedHandler = Callable[[RunCompleted], None]
RunLateHandler = Callable[[RunLate], None]
# (kind, subject id, proposal) -> why a direct decision is refused, or None.
DecisionGate = Callable[[str, int, Mapping[str, Any]], "str | None"]
TaskAssignedHandler = Callable[[TaskAssigned], None]
VersionPublishedHandler = Callable[[VersionPublished], None]
# (version id) -> the messages that refuse publishing it (empty: fine).
PublishGuard = Callable[[int], "list[str]"]


@dataclass
class Registry:
    completion_guards: list[CompletionGuard] = field(default_factory=list)
    task_ready: list[TaskReadyHandler] = field(default_factory=list)
    task_done: list[TaskDoneHandler] = field(default_factory=list)
    task_awaiting: list[TaskAwaitingHandler] = field(default_factory=list)
    task_reopened: list[TaskReopenedHandler] = field(default_factory=list)
    deviation_requested: list[DeviationRequestedHandler] = field(default_factory=list)
    run_completed: list[RunCompletedHandler] = field(default_factory=list)
    run_late: list[RunLateHandler] = field(default_factory=list)
    decision_gates: list[DecisionGate] = field(default_factory=list)
    task_assigned: list[TaskAssignedHandler] = field(default_factory=list)
    version_published: list[VersionPublishedHandler] = field(default_factory=list)
    publish_guards: list[PublishGuard] = field(default_factory=list)
    assigner: Assigner | None = None
    reason_labels: dict[str, Promise | str] = field(default_factory=dict)


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


def register_task_awaiting_handler(
    handler: TaskAwaitingHandler,
) -> TaskAwaitingHandler:
    registry.task_awaiting.append(handler)
    return handler


def register_task_reopened_handler(
    handler: TaskReopenedHandler,
) -> TaskReopenedHandler:
    registry.task_reopened.append(handler)
    return handler


def register_deviation_requested_handler(
    handler: DeviationRequestedHandler,
) -> DeviationRequestedHandler:
    registry.deviation_requested.append(handler)
    return handler


def register_decision_gate(gate: DecisionGate) -> DecisionGate:
    registry.decision_gates.append(gate)
    return gate


def register_task_assigned_handler(
    handler: TaskAssignedHandler,
) -> TaskAssignedHandler:
    registry.task_assigned.append(handler)
    return handler


def register_version_published_handler(
    handler: VersionPublishedHandler,
) -> VersionPublishedHandler:
    registry.version_published.append(handler)
    return handler


def register_publish_guard(guard: PublishGuard) -> PublishGuard:
    registry.publish_guards.append(guard)
    return guard


def register_assigner(assigner: Assigner) -> Assigner:
    """Make `assigner` the one that picks assignees (there is one at most)."""
    registry.assigner = assigner
    return assigner


def register_reason_label(code: str, label: Promise | str) -> None:
    """What pages show for an awaiting reason `code` (pass a lazy translation)."""
    registry.reason_labels[code] = label


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


def decision_gate(
    kind: str, subject_id: int, proposal: Mapping[str, Any] | None = None
) -> str | None:
    """The first gate's reason to refuse a direct decision, or None (allowed)."""
    for gate in registry.decision_gates:
        reason = gate(kind, subject_id, proposal or {})
        if reason:
            return reason
    return None


def reason_label(code: str) -> str:
    """The text a page shows for an awaiting reason (the code itself when no
    label was registered: guards may also store readable text)."""
    label = registry.reason_labels.get(code)
    return code if label is None else str(label)


def emit_task_ready(event: TaskReady) -> None:
    for handler in registry.task_ready:
        handler(event)


def emit_task_done(event: TaskDone) -> None:
    for handler in registry.task_done:
        handler(event)


def emit_task_awaiting(event: TaskAwaiting) -> None:
    for handler in registry.task_awaiting:
        handler(event)


def emit_task_reopened(event: TaskReopened) -> None:
    for handler in registry.task_reopened:
        handler(event)


def emit_deviation_requested(event: DeviationRequested) -> None:
    for handler in registry.deviation_requested:
        handler(event)


def emit_run_completed(event: RunCompleted) -> None:
    for handler in registry.run_completed:
        handler(event)


def emit_run_late(event: RunLate) -> None:
    for handler in registry.run_late:
        handler(event)


def emit_task_assigned(event: TaskAssigned) -> None:
    for handler in registry.task_assigned:
        handler(event)


def emit_version_published(event: VersionPublished) -> None:
    for handler in registry.version_published:
        handler(event)


def publish_problems(version_id: int) -> list[str]:
    """Every guard's messages refusing to publish the version, in order."""
    problems: list[str] = []
    for guard in registry.publish_guards:
        problems.extend(guard(version_id))
    return problems
