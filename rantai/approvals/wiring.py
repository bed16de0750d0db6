"""How approvals take part in the lower apps: every registration, in one place."""

from __future__ import annotations


def register() -> None:
    """Called once from `ApprovalsConfig.ready()`."""
