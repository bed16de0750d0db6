"""How obstacles take part in the lower apps: every registration, in one place."""

from __future__ import annotations


def register() -> None:
    """Called once from `ObstaclesConfig.ready()`:

    * the obstacle timer rule (escalation of an open obstacle past its time limit
      to the accountable, then their superior) (`obstacles.py`);
    * reviews opened when a run completes late (`reviews.py`).
    """
    from rantai.approvals import timers
    from rantai.approvals.models import TimerKind
    from rantai.chains import extensions as chains
    from rantai.obstacles import obstacles, reviews

    # Open obstacles past their time limit: the accountable, then their superior.
    timers.register(TimerKind.OBSTACLE, obstacles.obstacle_timer_rule)

    # Reviews opened when a run completes after its due date.
    chains.register_run_completed_handler(reviews.on_run_completed)
