"""Procedures and runs for the API tests, built through the chains services.

acme's people (rantai.testing.small_org) plus:

* Rina (`acme.member`) holds EXP-HEAD, the owner position of the procedures here,
  and is accountable for most steps;
* export_staff EXP-CLERK has two holders, Budi (no login) and Dina (a member), so
  its tasks are claimed;
* WH-HEAD is held by Wawan (a member) alone, so its tasks are assigned to him;
* the forwarder party FWD's partner user (`acme.partner`) owns the pickup step;
* Dewi is a member who holds nothing.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

from rantai.accounts.models import Role, User
from rantai.api.tests.conftest import api_for
from rantai.chains import services
from rantai.chains.models import (
    DependencyKind,
    DurationUnit,
    ProcedureVersion,
    RaciRole,
    Run,
    Task,
)
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Party, Position
from rantai.testing import SmallOrg, make_user

# Monday 2 March 2026, 08:00 in Jakarta (UTC+7): the start of a working day.
T0 = dt.datetime(2026, 3, 2, 1, 0, tzinfo=dt.UTC)


@dataclass
class StepSpec:
    key: str
    responsible: Position | Party
    accountable: Position
    days: str = "1"
    unit: str = DurationUnit.WORKING_DAYS
    after: Sequence[str] = ()
    start_with: Sequence[str] = ()


def build_version(
    o: SmallOrg,
    steps: Sequence[StepSpec],
    *,
    code: str,
    fields: Sequence[dict[str, Any]] = (),
    publish: bool = True,
) -> ProcedureVersion:
    """A procedure owned by EXP-HEAD with one version, built by the admin."""
    actor = o.admin
    procedure = services.create_procedure(
        o.organisation,
        actor=actor,
        code=code,
        name=f"Procedure {code}",
        owner_position=o.export_head,
    )
    version = procedure.versions.get()
    for field_spec in fields:
        services.add_run_field(version, actor=actor, **field_spec)
    made = {}
    for spec in steps:
        step = services.add_step(
            version,
            actor=actor,
            key=spec.key,
            name=spec.key.replace("-", " ").title(),
            duration_value=Decimal(spec.days),
            duration_unit=spec.unit,
        )
        made[spec.key] = step
        if isinstance(spec.responsible, Party):
            services.add_step_role(
                step, actor=actor, role=RaciRole.RESPONSIBLE, party=spec.responsible
            )
        else:
            services.add_step_role(
                step, actor=actor, role=RaciRole.RESPONSIBLE, position=spec.responsible
            )
        services.add_step_role(
            step, actor=actor, role=RaciRole.ACCOUNTABLE, position=spec.accountable
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


@dataclass
class Chain:
    o: SmallOrg
    dina: User
    wawan: User
    dewi: User
    warehouse_head: Position


def chain_org(acme: SmallOrg) -> Chain:
    admin = acme.admin
    users = {name: make_user(name) for name in ("dina", "wawan", "dewi")}
    people = {}
    for name, user in users.items():
        membership.add_member(
            acme.organisation, actor=admin, user=user, role=Role.MEMBER
        )
        people[name] = org.create_person(
            acme.organisation, actor=admin, full_name=user.full_name, user=user
        )
    warehouse_head = org.create_position(
        acme.organisation,
        actor=admin,
        party=acme.warehouse,
        title="Head of warehouse",
        code="WH-HEAD",
    )
    start = dt.date(2026, 1, 1)
    org.assign_holder(
        acme.export_staff, actor=admin, person=people["dina"], start_date=start
    )
    org.assign_holder(
        warehouse_head, actor=admin, person=people["wawan"], start_date=start
    )
    return Chain(acme, users["dina"], users["wawan"], users["dewi"], warehouse_head)


def shipment(chain: Chain, *, publish: bool = True) -> ProcedureVersion:
    """target (1 day) and produce (2 days) in parallel; price (0.5 day) after
    target; pickup by the forwarder (1 day) after produce and price."""
    o = chain.o
    return build_version(
        o,
        [
            StepSpec("target", o.export_head, o.export_head),
            StepSpec("produce", chain.warehouse_head, o.export_head, days="2"),
            StepSpec(
                "price", o.export_staff, o.export_head, days="0.5", after=["target"]
            ),
            StepSpec(
                "pickup",
                o.forwarder,
                chain.warehouse_head,
                after=["produce", "price"],
            ),
        ],
        code="SHIP",
        fields=[
            {"key": "destination", "label": "Destination", "field_type": "text"},
            {
                "key": "shipment_value",
                "label": "Shipment value",
                "field_type": "decimal",
                "required": False,
            },
        ],
        publish=publish,
    )


def internal(chain: Chain) -> ProcedureVersion:
    """A procedure the forwarder takes no part in."""
    return build_version(
        chain.o,
        [StepSpec("count", chain.warehouse_head, chain.o.export_head)],
        code="COUNT",
    )


def start_shipment(
    version: ProcedureVersion,
    actor: User,
    *,
    title: str = "Ship 500 units to Kota A",
    now: dt.datetime = T0,
    due_days: int = 14,
) -> Run:
    return services.start_run(
        version,
        actor=actor,
        title=title,
        objective="Deliver the order",
        measure_quantity=500,
        measure_unit="units",
        due_at=now + dt.timedelta(days=due_days),
        field_values=(
            {"destination": "Kota A"}
            if version.fields.filter(key="destination").exists()
            else {}
        ),
        now=now,
    )


def api_of(user: User) -> Any:
    """An API client with a token of the user (its answers have `.json()`)."""
    return api_for(user)


def task_of(run: Run, key: str) -> Task:
    return Task.objects.get(run=run, key=key)
