"""How roles take part in the lower apps: every registration, in one place."""

from __future__ import annotations


def register() -> None:
    """Called once from `RolesConfig.ready()`.

    Imports are made here, not at module level, so loading the app registry never
    imports the services (and through them the models of other apps) too early.
    """
