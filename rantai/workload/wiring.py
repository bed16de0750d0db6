"""How workload analysis takes part in the lower apps: every registration, in one
place."""

from __future__ import annotations


def register() -> None:
    """Called once from `WorkloadConfig.ready()`: the approval subject adapters of a
    position's entries (`workload_sheet`) and of an analysis (`workload_analysis`).

    Imports are made here, not at module level, so loading the app registry never
    imports the services (and through them the models of other apps) too early."""
    from rantai.approvals import subjects
    from rantai.workload import adapters

    for adapter in adapters.ADAPTERS:
        subjects.register(adapter)
