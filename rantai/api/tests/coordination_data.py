"""Approval routes, requests and a clock for the API tests of the coordination flow,
built through the services.

On top of `chains_data` (Rina holds EXP-HEAD, the owner of the procedures; Dina
and Budi hold EXP-CLERK, whose superior is EXP-HEAD; Wawan heads the warehouse;
Dewi holds nothing), a deviation route asks the requester's superior: when Dina
asks to skip the pricing step, Rina decides.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from typing import Any

import pytest
from django.utils import timezone

from rantai.accounts.models import User
from rantai.approvals import routes
from rantai.approvals.models import ApprovalRequest, RouteVersion, SubjectKind
from rantai.chains import services as chains
from rantai.chains.models import Deviation, DeviationKind, Run, Task
from rantai.testing import SmallOrg

# Tuesday 3 March 2026, 08:00 in Jakarta (UTC+7): the start of a working day, the
# day after the runs of `chains_data` start.
NOW = dt.datetime(2026, 3, 3, 1, 0, tzinfo=dt.UTC)


class Clock:
    """`timezone.now()` for the services and the API, set by the test."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch, at: dt.datetime) -> None:
        self.at = at
        monkeypatch.setattr(timezone, "now", lambda: self.at)

    def advance(self, **delta: float) -> dt.datetime:
        self.at += dt.timedelta(**delta)
        return self.at


def publish_route(
    o: SmallOrg,
    kind: str = SubjectKind.DEVIATION,
    *,
    code: str = "DEV",
    stages: Sequence[dict[str, Any]] = ({"rule": "superior", "time_limit_hours": 8},),
    conditions: Sequence[tuple[str, str, Any]] = (),
) -> RouteVersion:
    """A published route of the kind, made by the administrator."""
    route = routes.create_route(
        o.organisation,
        actor=o.admin,
        code=code,
        name=f"Route {code}",
        subject_kind=kind,
    )
    version = route.versions.get()
    for number, stage in enumerate(stages, start=1):
        routes.add_stage(version, actor=o.admin, **{"name": f"Stage {number}", **stage})
    for field, operator, value in conditions:
        routes.add_condition(
            version, actor=o.admin, field=field, operator=operator, value=value
        )
    routes.publish(version, actor=o.admin, expected_version=None)
    version.refresh_from_db()
    return version


def ask_to_skip(run: Run, actor: User, key: str = "price") -> ApprovalRequest:
    """`actor` asks to skip the run's task `key`; the deviation route submits the
    approval request in the same transaction."""
    deviation = chains.request_deviation(
        run,
        actor=actor,
        kind=DeviationKind.SKIP_STEP,
        reason="Fixed tariff this month",
        task=Task.objects.get(run=run, key=key),
    )
    return ApprovalRequest.objects.get(
        subject_kind=SubjectKind.DEVIATION, subject_id=deviation.pk
    )


def deviation_of(request: ApprovalRequest) -> Deviation:
    return Deviation.objects.get(pk=request.subject_id)
