"""How evidence takes part in the lower apps: every registration, in one place."""

from __future__ import annotations


def register() -> None:
    """Called once from `EvidenceConfig.ready()`: the completion guard that keeps a
    task awaiting until its required evidence is attached (and verified, where
    the step says so), with its awaiting-reason label (`guards.py`)."""
