"""How evidence takes part in the lower apps: every registration, in one place."""

from __future__ import annotations


def register() -> None:
    """Called once from `EvidenceConfig.ready()`: the completion guard that keeps a
    task awaiting until its required evidence is attached (and verified, where
    the step says so), with its awaiting-reason label (`guards.py`).

    Imports are made here, not at module level, so loading the app registry never
    imports the services (and through them the models of other apps) too early.
    """
    from rantai.chains import extensions as chains
    from rantai.evidence import guards

    chains.register_completion_guard(guards.completion_guard)
    for code, label in guards.REASON_LABELS.items():
        chains.register_reason_label(code, label)
