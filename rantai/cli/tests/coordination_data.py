"""An approval world for the `rantai routes` and `rantai approvals` tests, built
through the services with the real subject adapters and wiring.

acme (rantai.testing.small_org) plus:

    Director (DIR) ................ Sari (member); delegates to Dewi all week
      Head of export (EXP-HEAD) ... Rina (acme.member): owns the procedure and route
      Head of warehouse (WH-HEAD) . Wawan (member)
    Dewi: a member holding nothing.

The procedure SHIP has one step, "sign-off" (EXP-HEAD), that requires approval;
the route BIG (completion of a task, run.value > 100) asks the head of the
warehouse (4 working hours, then escalate), then the requester's superior. One run
is started at T0 (Monday 08:00 in Jakarta), and Rina completes the sign-off at
09:00: the request waits at stage 1, due at 13:00. A second route, DUE, exists
only as an empty draft.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rantai.accounts.models import Role, User
from rantai.approvals import delegation, routes, services, timers
from rantai.approvals.models import (
    ApprovalRequest,
    ApproverRule,
    Route,
    RouteVersion,
    SubjectKind,
    TimeoutAction,
)
from rantai.chains import services as chains
from rantai.chains.models import ConditionOperator, FieldType, Task
from rantai.chains.tests.helpers import T0, StepSpec, at, build_version, start
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Person, Position
from rantai.testing import SmallOrg, make_user

ASKED = at(60)  # Monday 09:00: Rina completes the sign-off
DUE = at(5 * 60)  # 13:00: four working hours later
ESCALATED = at(6 * 60)  # 14:00: the worker escalates stage 1


@dataclass
class World:
    o: SmallOrg
    sari: User
    wawan: User
    dewi: User
    warehouse_head: Position
    people: dict[str, Person]
    route: Route
    request: ApprovalRequest

    @property
    def rina(self) -> User:
        return self.o.member

    def refresh(self) -> ApprovalRequest:
        self.request.refresh_from_db()
        return self.request

    def escalate(self) -> None:
        """The worker's round after the first stage's time limit."""
        timers.fire_due(owner="test", now=ESCALATED, limit=10)

    def decide(self, user: User, *, now: dt.datetime, **options: object) -> None:
        services.decide(
            self.refresh(),
            actor=user,
            outcome=str(options.pop("outcome", "approve")),
            now=now,
            **options,  # type: ignore[arg-type]
        )


def _member(o: SmallOrg, name: str) -> tuple[User, Person]:
    user = make_user(name)
    membership.add_member(o.organisation, actor=o.admin, user=user, role=Role.MEMBER)
    person = org.create_person(
        o.organisation, actor=o.admin, full_name=user.full_name, user=user
    )
    return user, person


def build_world(o: SmallOrg) -> World:
    admin = o.admin
    warehouse_head = org.create_position(
        o.organisation,
        actor=admin,
        party=o.warehouse,
        title="Head of warehouse",
        code="WH-HEAD",
        superior=o.director,
    )
    sari, sari_person = _member(o, "sari")
    wawan, wawan_person = _member(o, "wawan")
    dewi, dewi_person = _member(o, "dewi")
    start_day = dt.date(2026, 1, 1)
    org.assign_holder(o.director, actor=admin, person=sari_person, start_date=start_day)
    org.assign_holder(
        warehouse_head, actor=admin, person=wawan_person, start_date=start_day
    )
    delegation.delegate(
        sari_person,
        actor=sari,
        delegate=dewi_person,
        starts_at=T0 - dt.timedelta(days=1),
        ends_at=T0 + dt.timedelta(days=5),
        now=T0 - dt.timedelta(days=1),
    )

    route = routes.create_route(
        o.organisation,
        actor=admin,
        code="BIG",
        name="Big shipments",
        subject_kind=SubjectKind.TASK_COMPLETION,
        owner_position=o.export_head,
        description="Sign-offs of shipments worth more than 100.",
    )
    draft = RouteVersion.objects.get(route=route)
    routes.add_condition(
        draft,
        actor=admin,
        field="run.value",
        operator=ConditionOperator.GT,
        value=100,
    )
    routes.add_stage(
        draft,
        actor=admin,
        name="Warehouse",
        rule=ApproverRule.POSITION,
        position=warehouse_head,
        time_limit_hours=4,
        on_timeout=TimeoutAction.ESCALATE,
    )
    routes.add_stage(draft, actor=admin, name="Superior", rule=ApproverRule.SUPERIOR)
    routes.publish(draft, actor=admin, expected_version=None, now=T0)
    # a second route, only drafted so far
    routes.create_route(
        o.organisation,
        actor=admin,
        code="DUE",
        name="Later due dates",
        subject_kind=SubjectKind.DUE_DATE_CHANGE,
        priority=50,
    )

    version = build_version(
        o,
        [
            StepSpec(
                "sign-off",
                o.export_head,
                o.export_head,
                extra={"requires_approval": True},
            )
        ],
        fields=[
            {
                "key": "value",
                "label": "Value",
                "field_type": FieldType.DECIMAL,
                "unit": "IDR",
            }
        ],
    )
    run = start(version, admin, field_values={"value": "1000"})
    task = Task.objects.get(run=run, key="sign-off")
    chains.complete_task(task, actor=o.member, expected_version=None, now=ASKED)
    request = ApprovalRequest.objects.get(
        subject_kind=SubjectKind.TASK_COMPLETION, subject_id=task.pk
    )
    return World(
        o=o,
        sari=sari,
        wawan=wawan,
        dewi=dewi,
        warehouse_head=warehouse_head,
        people={
            "sari": sari_person,
            "wawan": wawan_person,
            "dewi": dewi_person,
            "rina": o.rina,
        },
        route=route,
        request=request,
    )
