"""Fixtures of the approval engine's tests.

`kit` builds a team (acme plus approvers in a few positions), a run whose first
task is the thing deviations are asked about, and registers a simple adapter of
its own for the `workload_analysis` subject kind over real chains deviations, so
the engine's tests do not depend on the chains adapters. The chains and org
extension registries are isolated (empty) while a `kit` test runs; a test that
wants the org-changed hook registers `services.on_holders_changed` itself.

The team (all holdings from 1 January 2026):

    Director (DIR) ............... Sari (member)
      Head of export (EXP-HEAD) .. Rina (member: acme.member)
        Export clerk (EXP-CLERK) . Budi (no login), Dina (member): the requester
      Head of warehouse (WH-HEAD)  Wawan (member)
      QA officer (QA, 3 holders) . Ayu, Eko, Fajar (members)
    Dewi: a member holding nothing. The auditor and the partner of acme.
"""

from __future__ import annotations

import datetime as dt
import itertools
from collections.abc import Iterator
from dataclasses import dataclass, field
from typing import Any

import pytest

from rantai.accounts.models import Role, User
from rantai.approvals import routes, services, subjects
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    RequestStage,
    RouteVersion,
    StageApprover,
    StageStatus,
    SubjectKind,
)
from rantai.approvals.subjects import Adapter
from rantai.chains import extensions as chains_extensions
from rantai.chains import services as chains
from rantai.chains.models import Deviation, DeviationKind, Run, Task
from rantai.chains.tests.helpers import T0, StepSpec, build_version, start
from rantai.org import extensions as org_extensions
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Person, Position
from rantai.testing import SmallOrg, make_user

KIND = SubjectKind.WORKLOAD_ANALYSIS
START = dt.date(2026, 1, 1)
# The moment requests are made at; decisions follow a little later.
SUBMITTED = T0
DECIDED = T0 + dt.timedelta(hours=1)


@dataclass
class SubjectState:
    """What the test adapter reports and records."""

    versions: dict[int, int] = field(default_factory=dict)
    accountable: dict[int, int | None] = field(default_factory=dict)
    approved: list[tuple[int, int, int]] = field(default_factory=list)
    rejected: list[tuple[int, int, int]] = field(default_factory=list)

    def adapter(self) -> Adapter:
        def on_approved(
            subject: Deviation, request: ApprovalRequest, actor: User, at: Any
        ) -> None:
            self.approved.append((subject.pk, request.pk, actor.pk))

        def on_rejected(
            subject: Deviation, request: ApprovalRequest, actor: User, at: Any
        ) -> None:
            self.rejected.append((subject.pk, request.pk, actor.pk))

        return Adapter(
            kind=KIND,
            load=lambda pk: Deviation.objects.get(pk=pk),
            organisation_id=lambda d: d.organisation_id,
            run_id=lambda d: d.run_id,
            title=lambda d: f"Skip {d.task.name} #{d.pk}",
            fields=lambda d: {"kind": d.kind},
            version=lambda d: self.versions.get(d.pk, 1),
            accountable_position_id=lambda d: self.accountable.get(
                d.pk, d.task.accountable_position_id
            ),
            on_approved=on_approved,
            on_rejected=on_rejected,
            field_names=lambda: {"kind": "kind"},
        )


@dataclass
class Team:
    o: SmallOrg
    sari: User
    dina: User
    wawan: User
    dewi: User
    ayu: User
    eko: User
    fajar: User
    warehouse_head: Position
    qa: Position
    people: dict[str, Person]

    @property
    def rina(self) -> User:
        return self.o.member

    def person(self, name: str) -> Person:
        return self.people[name]


def build_team(o: SmallOrg) -> Team:
    admin = o.admin
    organisation = o.organisation
    warehouse_head = org.create_position(
        organisation,
        actor=admin,
        party=o.warehouse,
        title="Head of warehouse",
        code="WH-HEAD",
        superior=o.director,
    )
    qa = org.create_position(
        organisation,
        actor=admin,
        party=o.head_office,
        title="QA officer",
        code="QA",
        superior=o.director,
        max_holders=3,
    )
    users: dict[str, User] = {}
    people: dict[str, Person] = {"rina": o.rina, "budi": o.budi, "joko": o.joko}
    for name in ("sari", "dina", "wawan", "dewi", "ayu", "eko", "fajar"):
        user = make_user(name)
        membership.add_member(organisation, actor=admin, user=user, role=Role.MEMBER)
        users[name] = user
        people[name] = org.create_person(
            organisation, actor=admin, full_name=user.full_name, user=user
        )
    holdings = {
        "sari": o.director,
        "dina": o.export_staff,
        "wawan": warehouse_head,
        "ayu": qa,
        "eko": qa,
        "fajar": qa,
    }
    for name, position in holdings.items():
        org.assign_holder(position, actor=admin, person=people[name], start_date=START)
    return Team(
        o=o,
        sari=users["sari"],
        dina=users["dina"],
        wawan=users["wawan"],
        dewi=users["dewi"],
        ayu=users["ayu"],
        eko=users["eko"],
        fajar=users["fajar"],
        warehouse_head=warehouse_head,
        qa=qa,
        people=people,
    )


class Kit:
    """The team, the test subjects and shortcuts to the services."""

    codes = itertools.count(1)

    def __init__(self, team: Team, state: SubjectState) -> None:
        self.team = team
        self.o = team.o
        self.state = state
        self.procedure_version = version = build_version(
            self.o,
            [
                StepSpec("pack", team.warehouse_head, self.o.export_head),
                StepSpec(
                    "ship", self.o.export_staff, self.o.export_head, after=["pack"]
                ),
            ],
            code=f"SHIP{next(self.codes)}",
        )
        self.run: Run = start(version, self.o.admin)
        self.task: Task = Task.objects.get(run=self.run, key="ship")

    # -- routes and subjects -------------------------------------------------------

    def route(
        self,
        *stages: dict[str, Any],
        allow_repeat: bool = False,
        owner: Position | None = None,
        priority: int = 100,
    ) -> RouteVersion:
        """A published route of the test kind with the given stages (add_stage
        keyword arguments; `name` defaults to "Stage n")."""
        admin = self.o.admin
        route = routes.create_route(
            self.o.organisation,
            actor=admin,
            code=f"R{next(self.codes)}",
            name="Test route",
            subject_kind=KIND,
            priority=priority,
            owner_position=owner,
        )
        version = route.versions.get()
        for index, spec in enumerate(stages, start=1):
            routes.add_stage(version, actor=admin, **{"name": f"Stage {index}", **spec})
        if allow_repeat:
            routes.update_version(
                version,
                actor=admin,
                expected_version=None,
                allow_repeat_approver=True,
            )
            version.refresh_from_db()
        routes.publish(version, actor=admin, expected_version=None, now=SUBMITTED)
        version.refresh_from_db()
        return version

    def subject(self, run: Run | None = None) -> Deviation:
        """A new deviation (skip the run's last task): the thing asked about."""
        run = run or self.run
        return chains.request_deviation(
            run,
            actor=self.o.admin,
            kind=DeviationKind.SKIP_STEP,
            reason="Not needed for this order",
            task=self.task if run.pk == self.run.pk else run.tasks.get(key="ship"),
            now=SUBMITTED,
        )

    # -- the services --------------------------------------------------------------

    def submit(
        self,
        version: RouteVersion | None = None,
        *,
        actor: User | None = None,
        subject: Deviation | None = None,
        now: dt.datetime = SUBMITTED,
        **kwargs: Any,
    ) -> ApprovalRequest:
        subject = subject or self.subject()
        return services.submit(
            KIND,
            subject.pk,
            actor=actor or self.team.dina,
            route_version=version,
            now=now,
            **kwargs,
        )

    def decide(
        self,
        request: ApprovalRequest,
        actor: User,
        outcome: str = "approve",
        *,
        now: dt.datetime = DECIDED,
        **kwargs: Any,
    ) -> Decision:
        request.refresh_from_db()
        if outcome in ("reject", "return"):
            kwargs.setdefault("comment", "Please check the numbers")
        return services.decide(
            request,
            actor=actor,
            outcome=outcome,
            expected_version=kwargs.pop("expected_version", request.version),
            now=now,
            **kwargs,
        )

    # -- reading the state ---------------------------------------------------------

    @staticmethod
    def stage(request: ApprovalRequest, order: int) -> RequestStage:
        return RequestStage.objects.select_related("stage").get(
            request=request, order=order
        )

    @staticmethod
    def approvers(request: ApprovalRequest, order: int) -> set[int]:
        return set(
            StageApprover.objects.filter(
                request_stage__request=request, request_stage__order=order
            ).values_list("person_id", flat=True)
        )

    @staticmethod
    def statuses(request: ApprovalRequest) -> list[str]:
        return list(
            RequestStage.objects.filter(request=request)
            .order_by("order")
            .values_list("status", flat=True)
        )

    def ids(self, *names: str) -> set[int]:
        return {self.team.person(name).pk for name in names}


@pytest.fixture
def team(acme: SmallOrg) -> Team:
    return build_team(acme)


@pytest.fixture
def state() -> SubjectState:
    return SubjectState()


@pytest.fixture
def isolated_extensions() -> Iterator[None]:
    """Empty chains and org registries (restored afterwards)."""
    with (
        chains_extensions.isolated_registry(),
        org_extensions.isolated_registry(),
    ):
        yield


@pytest.fixture
def kit(team: Team, state: SubjectState, isolated_extensions: None) -> Iterator[Kit]:
    with subjects.isolated_adapters(state.adapter()):
        yield Kit(team, state)


__all__ = [
    "DECIDED",
    "KIND",
    "START",
    "SUBMITTED",
    "Kit",
    "StageStatus",
    "SubjectState",
    "Team",
]
