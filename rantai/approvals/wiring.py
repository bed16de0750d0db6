"""How approvals take part in the lower apps: every registration, in one place."""

from __future__ import annotations


def register() -> None:
    """Called once from `ApprovalsConfig.ready()`.

    * the subject adapters of the chains engine (deviation, due-date change, task
      completion; `adapters.py`);
    * the completion guard of tasks whose step requires approval, with the labels
      of its awaiting reasons;
    * the chains handlers that submit requests (`DeviationRequested`,
      `TaskAwaiting`) and tell the engine a task's round changed (`TaskReopened`);
    * the decision gate that refuses direct decisions which belong to a route;
    * the announcements of completed and late runs (notifications, webhooks);
    * the timer rule of approval stages and the org hook that re-resolves open
      stages when who holds a position changes.

    Imports are made here, not at module level, so loading the app registry never
    imports the services (and through them the models of other apps) too early.
    """
    from rantai.approvals import (
        adapters,
        announcements,
        requesting,
        services,
        subjects,
        timers,
    )
    from rantai.approvals.models import TimerKind
    from rantai.chains import extensions as chains
    from rantai.org import extensions as org

    for adapter in adapters.ADAPTERS:
        subjects.register(adapter)

    chains.register_completion_guard(requesting.completion_guard)
    for code, label in requesting.REASON_LABELS.items():
        chains.register_reason_label(code, label)
    chains.register_deviation_requested_handler(requesting.on_deviation_requested)
    chains.register_task_awaiting_handler(requesting.on_task_awaiting)
    chains.register_task_reopened_handler(requesting.on_task_reopened)
    chains.register_decision_gate(requesting.decision_gate)
    chains.register_run_completed_handler(announcements.on_run_completed)
    chains.register_run_late_handler(announcements.on_run_late)

    timers.register(TimerKind.APPROVAL_STAGE, services.stage_timer_rule)
    org.register_holders_changed_handler(services.on_holders_changed)
