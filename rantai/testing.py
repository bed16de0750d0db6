"""Test data built through the services, so it obeys the same invariants."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from rantai.accounts.models import Organisation, Role, User
from rantai.accounts.services import create_user
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Party, PartyKind, Person, Position

PASSWORD = "correct-horse-battery-9"  # noqa: S105 - test accounts only


def make_user(username: str, *, language: str = "en") -> User:
    return create_user(
        username=username,
        email=f"{username}@example.test",
        password=PASSWORD,
        full_name=username.title(),
        language=language,
    )


@dataclass
class SmallOrg:
    """An organisation with a unit tree, a partner, positions, people and every role."""

    organisation: Organisation
    admin: User
    member: User
    auditor: User
    partner: User
    head_office: Party
    export: Party
    warehouse: Party
    forwarder: Party
    director: Position
    export_head: Position
    export_staff: Position
    forwarder_ops: Position
    rina: Person
    budi: Person
    joko: Person


def small_org(slug: str = "acme", *, prefix: str = "") -> SmallOrg:
    admin = make_user(f"{prefix}admin")
    member = make_user(f"{prefix}member")
    auditor = make_user(f"{prefix}auditor")
    partner = make_user(f"{prefix}partner")
    organisation = org.create_organisation(
        f"{slug.title()} Ltd", slug=slug, actor=admin
    )
    head_office = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Head office",
        code="HO",
    )
    export = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Export",
        code="EXP",
        parent=head_office,
    )
    warehouse = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Warehouse",
        code="WH",
        parent=head_office,
    )
    forwarder = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.EXTERNAL_PARTNER,
        name="Fast Forwarding",
        code="FWD",
    )
    director = org.create_position(
        organisation, actor=admin, party=head_office, title="Director", code="DIR"
    )
    export_head = org.create_position(
        organisation,
        actor=admin,
        party=export,
        title="Head of export",
        code="EXP-HEAD",
        superior=director,
    )
    export_staff = org.create_position(
        organisation,
        actor=admin,
        party=export,
        title="Export clerk",
        code="EXP-CLERK",
        superior=export_head,
        max_holders=2,
    )
    forwarder_ops = org.create_position(
        organisation,
        actor=admin,
        party=forwarder,
        title="Forwarder operations",
        code="FWD-OPS",
    )
    org.create_duty(
        export_head, actor=admin, title="Price shipping", output_unit="quotation"
    )
    rina = org.create_person(
        organisation, actor=admin, full_name="Rina Kusuma", user=member
    )
    budi = org.create_person(organisation, actor=admin, full_name="Budi Santoso")
    joko = org.create_person(
        organisation,
        actor=admin,
        full_name="Joko Susilo",
        party=forwarder,
        user=partner,
    )
    start = dt.date(2026, 1, 1)
    org.assign_holder(export_head, actor=admin, person=rina, start_date=start)
    org.assign_holder(export_staff, actor=admin, person=budi, start_date=start)
    org.assign_holder(forwarder_ops, actor=admin, person=joko, start_date=start)
    membership.add_member(organisation, actor=admin, user=member, role=Role.MEMBER)
    membership.add_member(organisation, actor=admin, user=auditor, role=Role.AUDITOR)
    membership.add_member(
        organisation, actor=admin, user=partner, role=Role.PARTNER, party=forwarder
    )
    return SmallOrg(
        organisation,
        admin,
        member,
        auditor,
        partner,
        head_office,
        export,
        warehouse,
        forwarder,
        director,
        export_head,
        export_staff,
        forwarder_ops,
        rina,
        budi,
        joko,
    )
