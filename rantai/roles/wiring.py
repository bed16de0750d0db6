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
    from rantai.approvals import timers  # noqa: F401
    from rantai.approvals.models import TimerKind  # noqa: F401
    from rantai.chains import extensions as chains  # noqa: F401
    from rantai.org import extensions as org  # noqa: F401

    # --- assigning (engine helper) ---
    # --- checks (raci helper) ---
    # --- consulting and briefings (flow helper) ---
