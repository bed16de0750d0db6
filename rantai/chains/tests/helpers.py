"""Procedures and runs for the chains tests, built through the services."""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rantai.accounts.models import User
from rantai.chains import services
from rantai.chains.models import (
    DependencyKind,
    DurationUnit,
    ProcedureVersion,
    RaciRole,
    Run,
    Task,
)
from rantai.org.models import Party, Position
from rantai.testing import SmallOrg

# Monday 2 March 2026, 08:00 in Jakarta (UTC+7): the start of a working day.
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)
DAY = 8 * 60  # working minutes per day (08:00-16:00)


def at(minutes: int = 0, *, days: int = 0) -> dt.datetime:
    """Wall-clock time after T0 (not working time)."""
    return T0 + dt.timedelta(minutes=minutes, days=days)


@dataclass
class StepSpec:
    key: str
    responsible: Position | Party
    accountable: Position
    days: str = "1"
    unit: str = DurationUnit.WORKING_DAYS
    after: Sequence[str] = ()
    start_with: Sequence[str] = ()
    condition: tuple[str, str, Any] | None = None
    consulted: Sequence[Position] = ()
    extra: dict[str, Any] = field(default_factory=dict)


def build_version(
    o: SmallOrg,
    steps: Sequence[StepSpec],
    *,
    actor: User | None = None,
    code: str = "SHIP",
    fields: Sequence[dict[str, Any]] = (),
    owner: Position | None = None,
    publish: bool = True,
) -> ProcedureVersion:
    actor = actor or o.admin
    procedure = services.create_procedure(
        o.organisation,
        actor=actor,
        code=code,
        name=f"Procedure {code}",
        owner_position=owner or o.export_head,
    )
    version = procedure.versions.get()
    for field_spec in fields:
        services.add_run_field(version, actor=actor, **field_spec)
    made = {}
    for spec in steps:
        condition: dict[str, Any] = {}
        if spec.condition:
            condition = {
                "condition_field": spec.condition[0],
                "condition_operator": spec.condition[1],
                "condition_value": spec.condition[2],
            }
        step = services.add_step(
            version,
            actor=actor,
            key=spec.key,
            name=spec.key.replace("-", " ").title(),
            duration_value=Decimal(spec.days),
            duration_unit=spec.unit,
            **condition,
            **spec.extra,
        )
        made[spec.key] = step
        if isinstance(spec.responsible, Party):
            services.add_step_role(
                step, actor=actor, role=RaciRole.RESPONSIBLE, party=spec.responsible
            )
        else:
            services.add_step_role(
                step,
                actor=actor,
                role=RaciRole.RESPONSIBLE,
                position=spec.responsible,
            )
        services.add_step_role(
            step, actor=actor, role=RaciRole.ACCOUNTABLE, position=spec.accountable
        )
        for position in spec.consulted:
            services.add_step_role(
                step, actor=actor, role=RaciRole.CONSULTED, position=position
            )
    for spec in steps:
        for key in spec.after:
            services.add_dependency(
                version, actor=actor, predecessor=made[key], successor=made[spec.key]
            )
        for key in spec.start_with:
            services.add_dependency(
                version,
                actor=actor,
                predecessor=made[key],
                successor=made[spec.key],
                kind=DependencyKind.START_TO_START,
            )
    if publish:
        services.publish(version, actor=actor, expected_version=None, now=T0)
        version.refresh_from_db()
    return version


def start(
    version: ProcedureVersion,
    actor: User,
    *,
    field_values: dict[str, Any] | None = None,
    due_days: int = 14,
    now: dt.datetime = T0,
    title: str = "Ship 500 units to Kota A",
) -> Run:
    return services.start_run(
        version,
        actor=actor,
        title=title,
        objective="Deliver the order",
        measure_quantity=500,
        measure_unit="units",
        due_at=now + dt.timedelta(days=due_days),
        field_values=field_values or {},
        now=now,
    )


def tasks_of(run: Run) -> dict[str, Task]:
    return {task.key: task for task in Task.objects.filter(run=run)}


def statuses(run: Run) -> dict[str, str]:
    return dict(Task.objects.filter(run=run).values_list("key", "status"))
