"""Shared builders of the roles tests, all through the services (so the data obeys
the same invariants as real data).

A typical test:

    o = factories.organisation()                      # acme (rantai.testing.SmallOrg)
    clerk = factories.position(o, party=o.export, title="Clerk", code="CLK",
                               max_holders=3, duties=["Book freight"])
    ani = factories.person(o, "ani")                  # a member with a login
    factories.hold(o, clerk, ani)                     # from START, definitive
    version = factories.procedure(o, [
        factories.StepRow("book", responsible=clerk, accountable=o.export_head,
                          duty=factories.duty_of(clerk, "Book freight"),
                          consulted=[o.director], informed=[o.export_head]),
    ])
    run = factories.start_run(version, actor=o.admin)
    task = factories.tasks_of(run)["book"]

`SmallOrg` (rantai.testing): admin, member (Rina: Head of export, EXP-HEAD),
auditor, partner (Joko, FWD-OPS of the external partner FWD); Budi (no login)
holds Export clerk (EXP-CLERK, 2 holders at most); Director (DIR) is vacant; the
Head of export has the duty "Price shipping". Holdings start on START.

`T0` is Monday 2 March 2026, 08:00 in Jakarta, the start of a working day; the
organisation works Monday to Friday, 08:00 to 16:00 (480 minutes a day).

`assigning_registry()` runs a block with a clean chains registry in which only
the assigner and the claimed-task record of `roles/assigning.py` are
registered (tests of one module should not depend on every other registration).
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from rantai.accounts.models import Role, User
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.models import (
    DependencyKind,
    DurationUnit,
    ProcedureVersion,
    RaciRole,
    Run,
    Task,
)
from rantai.chains.tests.helpers import DAY, T0, at, statuses, tasks_of
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import (
    Absence,
    AbsenceKind,
    Duty,
    Holding,
    Party,
    PartyKind,
    Person,
    Position,
)
from rantai.testing import SmallOrg, make_user, small_org

__all__ = [
    "DAY",
    "START",
    "T0",
    "StepRow",
    "add_steps",
    "assigning_registry",
    "at",
    "away",
    "duty",
    "duty_of",
    "hold",
    "organisation",
    "partner_party",
    "person",
    "position",
    "procedure",
    "start_run",
    "statuses",
    "task",
    "tasks_of",
    "unit",
    "user_of",
]

START = dt.date(2026, 1, 1)


# --- the organisation -------------------------------------------------------------


def organisation(slug: str = "acme", *, prefix: str = "") -> SmallOrg:
    """`small_org` with its working calendar stored (Monday to Friday, 08:00 to
    16:00): the same hours as the default, but a real row, as in production."""
    o = small_org(slug, prefix=prefix)
    chains.update_working_calendar(
        o.organisation,
        actor=o.admin,
        expected_version=None,
        working_weekdays=[0, 1, 2, 3, 4],
        day_start=dt.time(8, 0),
        day_end=dt.time(16, 0),
    )
    return o


def unit(o: SmallOrg, *, name: str, code: str, parent: Party | None = None) -> Party:
    """An internal unit (under the head office unless a parent is given)."""
    return org.create_party(
        o.organisation,
        actor=o.admin,
        kind=PartyKind.INTERNAL_UNIT,
        name=name,
        code=code,
        parent=parent or o.head_office,
    )


def partner_party(o: SmallOrg, *, name: str, code: str) -> Party:
    return org.create_party(
        o.organisation,
        actor=o.admin,
        kind=PartyKind.EXTERNAL_PARTNER,
        name=name,
        code=code,
    )


def position(
    o: SmallOrg,
    *,
    party: Party,
    title: str,
    code: str,
    superior: Position | None = None,
    max_holders: int = 5,
    duties: Sequence[str] = (),
) -> Position:
    """A position with its job description (one duty per title, in order)."""
    made = org.create_position(
        o.organisation,
        actor=o.admin,
        party=party,
        title=title,
        code=code,
        superior=superior,
        max_holders=max_holders,
    )
    for title_of_duty in duties:
        duty(o, made, title_of_duty)
    return made


def duty(o: SmallOrg, of: Position, title: str, *, output_unit: str = "item") -> Duty:
    return org.create_duty(of, actor=o.admin, title=title, output_unit=output_unit)


def duty_of(of: Position, title: str) -> Duty:
    """The position's duty with this title."""
    return Duty.objects.get(position=of, title=title)


def person(
    o: SmallOrg,
    name: str,
    *,
    login: bool = True,
    role: str = Role.MEMBER,
    party: Party | None = None,
    username: str | None = None,
) -> Person:
    """A person named `name` (title-cased); with a login, a user `username`
    (default: the name in lower case, with the organisation's test prefix when
    the user name is taken) who is a member with `role`."""
    user: User | None = None
    if login:
        wanted = username or name.lower()
        if User.objects.filter(username=wanted).exists():
            wanted = f"{o.organisation.slug}-{wanted}"
        user = make_user(wanted)
        membership.add_member(
            o.organisation,
            actor=o.admin,
            user=user,
            role=role,
            party=party if role == Role.PARTNER else None,
        )
    return org.create_person(
        o.organisation,
        actor=o.admin,
        full_name=name.title(),
        user=user,
        party=party,
    )


def user_of(someone: Person) -> User:
    assert someone.user is not None, f"{someone} has no login"
    return someone.user


def hold(
    o: SmallOrg,
    of: Position,
    someone: Person,
    *,
    start: dt.date = START,
    end: dt.date | None = None,
    acting: bool = False,
) -> Holding:
    return org.assign_holder(
        of,
        actor=o.admin,
        person=someone,
        start_date=start,
        end_date=end,
        is_acting=acting,
    )


def away(
    o: SmallOrg,
    someone: Person,
    *,
    starts_at: dt.datetime,
    ends_at: dt.datetime,
    kind: str = AbsenceKind.LEAVE,
) -> Absence:
    """Record an absence (by the administrator; `now` is T0 − 1 day)."""
    return org.record_absence(
        someone,
        actor=o.admin,
        kind=kind,
        starts_at=starts_at,
        ends_at=ends_at,
        now=T0 - dt.timedelta(days=1),
    )


# --- procedures and runs ----------------------------------------------------------


@dataclass
class StepRow:
    """One step of a procedure and its RACI row.

    `responsible` is a position or an external party; `accountable` a position;
    `consulted` and `informed` positions. `after` names the steps it waits for
    (finish-to-start), `start_with` those it starts with (start-to-start).
    `extra` goes to `chains.add_step` as is (description, evidence, condition…).
    """

    key: str
    responsible: Position | Party
    accountable: Position
    consulted: Sequence[Position] = ()
    informed: Sequence[Position] = ()
    duty: Duty | None = None
    days: str = "1"
    unit: str = DurationUnit.WORKING_DAYS
    after: Sequence[str] = ()
    start_with: Sequence[str] = ()
    requires_consultation: bool = False
    requires_approval: bool = False
    requires_evidence: bool = False
    extra: dict[str, Any] = field(default_factory=dict)


def procedure(
    o: SmallOrg,
    steps: Sequence[StepRow],
    *,
    code: str = "SHIP",
    name: str | None = None,
    owner: Position | None = None,
    actor: User | None = None,
    publish: bool = True,
    now: dt.datetime = T0,
) -> ProcedureVersion:
    """A procedure (owned by the Head of export unless `owner`) whose first version
    has the steps and their R/A/C/I rows; published unless `publish=False`."""
    actor = actor or o.admin
    created = chains.create_procedure(
        o.organisation,
        actor=actor,
        code=code,
        name=name or f"Procedure {code}",
        owner_position=owner or o.export_head,
    )
    version = created.versions.get()
    add_steps(o, version, steps, actor=actor)
    if publish:
        chains.publish(version, actor=actor, expected_version=None, now=now)
        version.refresh_from_db()
    return version


def add_steps(
    o: SmallOrg,
    version: ProcedureVersion,
    steps: Sequence[StepRow],
    *,
    actor: User | None = None,
) -> None:
    """Add the steps, their RACI rows and their dependencies to a draft."""
    actor = actor or o.admin
    made = {}
    for row in steps:
        step = chains.add_step(
            version,
            actor=actor,
            key=row.key,
            name=row.key.replace("-", " ").title(),
            duration_value=Decimal(row.days),
            duration_unit=row.unit,
            duty=row.duty,
            requires_consultation=row.requires_consultation,
            requires_approval=row.requires_approval,
            requires_evidence=row.requires_evidence,
            **row.extra,
        )
        made[row.key] = step
        if isinstance(row.responsible, Party):
            chains.add_step_role(
                step, actor=actor, role=RaciRole.RESPONSIBLE, party=row.responsible
            )
        else:
            chains.add_step_role(
                step, actor=actor, role=RaciRole.RESPONSIBLE, position=row.responsible
            )
        chains.add_step_role(
            step, actor=actor, role=RaciRole.ACCOUNTABLE, position=row.accountable
        )
        for consulted in row.consulted:
            chains.add_step_role(
                step, actor=actor, role=RaciRole.CONSULTED, position=consulted
            )
        for informed in row.informed:
            chains.add_step_role(
                step, actor=actor, role=RaciRole.INFORMED, position=informed
            )
    for row in steps:
        for key in row.after:
            chains.add_dependency(
                version, actor=actor, predecessor=made[key], successor=made[row.key]
            )
        for key in row.start_with:
            chains.add_dependency(
                version,
                actor=actor,
                predecessor=made[key],
                successor=made[row.key],
                kind=DependencyKind.START_TO_START,
            )


def start_run(
    version: ProcedureVersion,
    *,
    actor: User,
    title: str = "Ship 500 units to Kota A",
    due_days: int = 14,
    field_values: dict[str, Any] | None = None,
    now: dt.datetime = T0,
) -> Run:
    return chains.start_run(
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


def task(run: Run, key: str) -> Task:
    return Task.objects.get(run=run, key=key)


@dataclass
class ShippingWorld:
    """Two clerks (ani, eko) of Export, a legal officer (lia) consulted on booking,
    and a started run of book → pack → ship (the forwarder's step)."""

    o: SmallOrg
    clerk: Position
    legal: Position
    ani: Person
    eko: Person
    lia: Person
    version: ProcedureVersion
    run: Run

    def task(self, key: str) -> Task:
        return Task.objects.get(run=self.run, key=key)


def shipping_world() -> ShippingWorld:
    o = organisation()
    clerk = position(
        o,
        party=o.export,
        title="Clerk",
        code="CLK",
        superior=o.export_head,
        duties=["Book freight"],
    )
    legal = position(o, party=o.head_office, title="Legal officer", code="LEG")
    ani, eko, lia = (person(o, name) for name in ("ani", "eko", "lia"))
    hold(o, clerk, ani)
    hold(o, clerk, eko)
    hold(o, legal, lia)
    version = procedure(
        o,
        [
            StepRow(
                "book",
                responsible=clerk,
                accountable=o.export_head,
                consulted=[legal],
                duty=duty_of(clerk, "Book freight"),
                requires_consultation=True,
            ),
            StepRow("pack", responsible=clerk, accountable=o.export_head),
            StepRow(
                "ship",
                responsible=o.forwarder,
                accountable=o.export_head,
                after=["book", "pack"],
            ),
        ],
    )
    run = start_run(version, actor=o.admin)
    return ShippingWorld(o, clerk, legal, ani, eko, lia, version, run)


# --- the registry -----------------------------------------------------------------


@contextmanager
def assigning_registry() -> Iterator[extensions.Registry]:
    """A clean chains registry with only the assignment policy registered (the
    assigner and the record of claimed tasks); the real one is restored after."""
    from rantai.roles import assigning

    with extensions.isolated_registry() as registry:
        extensions.register_assigner(assigning.ASSIGNER)
        extensions.register_task_assigned_handler(assigning.on_task_assigned)
        yield registry
