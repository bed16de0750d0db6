"""How obstacles take part in the lower apps: every registration, in one place."""

from __future__ import annotations


def register() -> None:
    """Called once from `ObstaclesConfig.ready()`:

    * the obstacle timer rule (escalation of an open obstacle past its time limit
      to the accountable, then their superior) (`obstacles.py`);
    * reviews opened when a run completes late (`reviews.py`).
    """
