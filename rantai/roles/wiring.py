"""How roles take part in the lower apps: every registration, in one place."""

from __future__ import annotations


def register() -> None:
    """Called once from `RolesConfig.ready()`:

    * the assigner of the chains engine (the assignment policy) and the record of
      tasks people claimed (`assigning.py`);
    * the publish guard of the role checks (`checks.py`);
    * consultations (created when a task is ready, a completion guard with its
      awaiting-reason label, a new round when a task is reopened), informed
      positions told of completions, and the late-task timer rule
      (`consulting.py`);
    * briefings issued when a version is published or someone starts holding a
      position, and their reminder timer rule (`briefings.py`).

    Imports are made here, not at module level, so loading the app registry never
    imports the services (and through them the models of other apps) too early.
    """
    from rantai.approvals import timers
    from rantai.approvals.models import TimerKind
    from rantai.chains import extensions as chains
    from rantai.org import extensions as org
    from rantai.roles import assigning, briefings, checks, consulting

    # The assignment policy, and the record of tasks people took themselves.
    chains.register_assigner(assigning.ASSIGNER)
    chains.register_task_assigned_handler(assigning.on_task_assigned)
    # Role checks that refuse a publication.
    chains.register_publish_guard(checks.publish_guard)
    # Consultations, informed positions, late-task escalation.
    chains.register_completion_guard(consulting.completion_guard)
    for code, label in consulting.REASON_LABELS.items():
        chains.register_reason_label(code, label)
    chains.register_task_ready_handler(consulting.on_task_ready)
    chains.register_task_done_handler(consulting.on_task_done)
    chains.register_task_reopened_handler(consulting.on_task_reopened)
    timers.register(TimerKind.TASK, consulting.task_timer_rule)
    # Briefings and their reminders.
    chains.register_version_published_handler(briefings.on_version_published)
    org.register_holders_changed_handler(briefings.on_holders_changed)
    timers.register(TimerKind.BRIEFING, briefings.briefing_timer_rule)
