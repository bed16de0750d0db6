"""Shared builders of the obstacles tests, all through the services.

A typical test:

    w = factories.world()                  # the organisation, its people, a run
    obstacle = factories.make_obstacle(w, task=w.task("ship"), delay=600)
    record = factories.record(w, evidence=True)   # an information record

The world (`World`), on the working calendar of `rantai.roles.tests.factories`
(Monday to Friday, 08:00 to 16:00 in Jakarta; `T0` is Monday 2 March 2026,
08:00):

    Director (DIR)            held by Dedi (login)
    ├── Head of export (EXP-HEAD)     held by Rina (member, SmallOrg)
    │   └── Export clerk (EXP-CLERK)  held by Budi (no login) and Ani (login)
    └── Head of warehouse (WH-HEAD)   held by Wati (login)
    Forwarder operations (FWD-OPS)   held by Joko, the forwarder's partner login
    Other Carrier (OTH, a partner)   Olga's partner login; takes no part in the run

The procedure SHIP (owner: the Head of export) has three steps, one after
the other:

    pack   R export clerk      A head of export   1 working day
    ship   R the forwarder     A head of export   2 working days
    store  R head of warehouse A head of warehouse 1 working day

The run starts at T0 and is due `due_days` calendar days later (default 8:
Tuesday 10 March 08:00). Its tasks finish on Thursday 5 March at 16:00, two
working days (960 minutes) before the due date: on track. An expected delay of
more than 480 minutes turns it at risk (less than a working day left), one of
more than 960 minutes late.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from rantai.accounts.models import Role, User
from rantai.chains.models import Run, Task
from rantai.org.models import Party, Person, Position
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg

if TYPE_CHECKING:
    from rantai.evidence.models import InformationRecord
    from rantai.obstacles.models import Mitigation, Obstacle

__all__ = [
    "DAY",
    "DUE_AT",
    "FINISH",
    "T0",
    "World",
    "make_mitigation",
    "make_obstacle",
    "record",
    "world",
]

T0 = f.T0
DAY = f.DAY  # working minutes in a day
# Where the run's tasks end without obstacles (Thursday 16:00 in Jakarta) and
# when it is due with the default `due_days` (Tuesday 10 March, 08:00).
FINISH = T0 + dt.timedelta(days=3, hours=8)
DUE_AT = T0 + dt.timedelta(days=8)


@dataclass
class World:
    o: SmallOrg
    run: Run
    warehouse_head: Position
    other_carrier: Party
    ani: Person  # an export clerk with a login (Budi, the other, has none)
    dedi: Person  # the director: superior of both heads
    wati: Person  # head of warehouse: accountable for "store"
    olga: Person  # a partner of the other carrier, not in the run

    @property
    def organisation(self):  # type: ignore[no-untyped-def]
        return self.o.organisation

    @property
    def admin(self) -> User:
        return self.o.admin

    @property
    def rina(self) -> Person:
        """The Head of export: accountable for "pack" and "ship", owns SHIP."""
        return self.o.rina

    @property
    def joko(self) -> Person:
        """The forwarder's partner login: responsible for "ship"."""
        return self.o.joko

    def task(self, key: str) -> Task:
        return f.task(self.run, key)

    def user(self, person: Person) -> User:
        return f.user_of(person)

    def refresh(self) -> Run:
        self.run.refresh_from_db()
        return self.run


def world(*, due_days: int = 8, slug: str = "acme") -> World:
    """The organisation, its people and a run started at T0 (see the module)."""
    o = f.organisation(slug)
    warehouse_head = f.position(
        o,
        party=o.warehouse,
        title="Head of warehouse",
        code="WH-HEAD",
        superior=o.director,
    )
    other_carrier = f.partner_party(o, name="Other Carrier", code="OTH")
    ani = f.person(o, "ani")
    dedi = f.person(o, "dedi")
    wati = f.person(o, "wati")
    olga = f.person(o, "olga", role=Role.PARTNER, party=other_carrier)
    f.hold(o, o.export_staff, ani)
    f.hold(o, o.director, dedi)
    f.hold(o, warehouse_head, wati)
    version = f.procedure(
        o,
        [
            f.StepRow("pack", responsible=o.export_staff, accountable=o.export_head),
            f.StepRow(
                "ship",
                responsible=o.forwarder,
                accountable=o.export_head,
                days="2",
                after=["pack"],
            ),
            f.StepRow(
                "store",
                responsible=warehouse_head,
                accountable=warehouse_head,
                after=["ship"],
            ),
        ],
    )
    run = f.start_run(version, actor=o.admin, due_days=due_days)
    return World(o, run, warehouse_head, other_carrier, ani, dedi, wati, olga)


def make_obstacle(
    w: World,
    *,
    task: Task | None = None,
    delay: int = 240,
    actor: User | None = None,
    title: str = "The truck is delayed",
    description: str = "The forwarder's truck broke down on the toll road.",
    severity: str = "medium",
    cause: str = "transport",
    records: Sequence[InformationRecord] = (),
    now: dt.datetime | None = None,
) -> Obstacle:
    """An obstacle raised through the service (by Rina unless `actor`, at T0
    unless `now`)."""
    from rantai.obstacles import obstacles

    return obstacles.raise_obstacle(
        w.run,
        actor=actor or w.o.member,
        title=title,
        description=description,
        expected_delay_minutes=delay,
        severity=severity,
        cause=cause,
        task=task,
        records=records,
        now=now or T0,
    )


def make_mitigation(
    obstacle: Obstacle,
    w: World,
    *,
    owner: Person | None = None,
    actor: User | None = None,
    description: str = "Book a second truck",
    due_at: dt.datetime | None = None,
    now: dt.datetime | None = None,
) -> Mitigation:
    """A mitigation (by Rina, owned by Ani, due T0 + 1 day unless told)."""
    from rantai.obstacles import obstacles

    return obstacles.add_mitigation(
        obstacle,
        actor=actor or w.o.member,
        description=description,
        owner=owner or w.ani,
        due_at=due_at or T0 + dt.timedelta(days=1),
        now=now or T0 + dt.timedelta(hours=2),
    )


def record(
    w: World,
    *,
    actor: User | None = None,
    run: Run | Any | None = ...,
    task: Task | None = None,
    evidence: bool = True,
    title: str = "The forwarder's written notice",
    now: dt.datetime | None = None,
) -> InformationRecord:
    """An information record about the run (or `run=None`: the organisation),
    recorded by Rina unless `actor`, with one link as evidence unless
    `evidence=False`."""
    from rantai.evidence import records

    items = (
        [records.NewLink(url="https://forwarder.example.com/notice/118", label="")]
        if evidence
        else []
    )
    return records.record_information(
        w.organisation,
        actor=actor or w.o.member,
        title=title,
        statement="The truck leaves on the 12th.",
        source_kind="document",
        source_detail="The forwarder's letter",
        run=w.run if run is ... else run,
        task=task,
        items=items,
        now=now or T0,
    )
