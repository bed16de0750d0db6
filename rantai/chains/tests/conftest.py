from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from dataclasses import dataclass

import pytest

from rantai.accounts.models import Role, User
from rantai.chains import extensions
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Person, Position
from rantai.testing import SmallOrg, make_user


@dataclass
class Crew:
    """acme plus people to act on tasks.

    export_head: Rina (member); export_staff: Budi (no login) and Dina (member), so
    its tasks are claimed; warehouse_head: Wawan (member), the sole holder;
    forwarder party FWD: Joko (partner). Dewi is a member holding nothing.
    """

    o: SmallOrg
    dina: User
    wawan: User
    dewi: User
    warehouse_head: Position
    dina_person: Person
    wawan_person: Person


@pytest.fixture
def crew(acme: SmallOrg) -> Crew:
    admin = acme.admin
    dina, wawan, dewi = make_user("dina"), make_user("wawan"), make_user("dewi")
    warehouse_head = org.create_position(
        acme.organisation,
        actor=admin,
        party=acme.warehouse,
        title="Head of warehouse",
        code="WH-HEAD",
    )
    people = {}
    for user in (dina, wawan, dewi):
        membership.add_member(
            acme.organisation, actor=admin, user=user, role=Role.MEMBER
        )
        people[user.username] = org.create_person(
            acme.organisation, actor=admin, full_name=user.full_name, user=user
        )
    start = dt.date(2026, 1, 1)
    org.assign_holder(
        acme.export_staff, actor=admin, person=people["dina"], start_date=start
    )
    org.assign_holder(
        warehouse_head, actor=admin, person=people["wawan"], start_date=start
    )
    return Crew(
        acme,
        dina,
        wawan,
        dewi,
        warehouse_head,
        people["dina"],
        people["wawan"],
    )


@pytest.fixture(autouse=True)
def clean_registry() -> Iterator[extensions.Registry]:
    """Each test runs with an empty extension registry (and restores the real one)."""
    with extensions.isolated_registry() as registry:
        yield registry
