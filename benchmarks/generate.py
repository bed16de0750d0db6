"""Generate a large organisation through the services (so it obeys every rule)."""

from __future__ import annotations

import datetime as dt
import random
import sys
import time

from rantai.accounts.models import Organisation, Role
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import PartyKind
from rantai.testing import make_user


def generate(
    slug: str, *, units: int, positions: int, people: int, seed: int = 7
) -> Organisation:
    rng = random.Random(seed)
    started = time.perf_counter()
    admin = make_user(f"{slug}-admin")
    organisation = org.create_organisation(f"Bench {slug}", slug=slug, actor=admin)
    member = make_user(f"{slug}-member")
    membership.add_member(organisation, actor=admin, user=member, role=Role.MEMBER)
    all_units = []
    for i in range(units):
        parent = all_units[rng.randrange(len(all_units))] if all_units else None
        all_units.append(
            org.create_party(
                organisation,
                actor=admin,
                kind=PartyKind.INTERNAL_UNIT,
                name=f"Unit {i:04d}",
                code=f"U{i:04d}",
                parent=parent,
            )
        )
    all_positions = []
    per_position = max(1, people // positions)
    for i in range(positions):
        superior = (
            all_positions[rng.randrange(len(all_positions))] if all_positions else None
        )
        position = org.create_position(
            organisation,
            actor=admin,
            party=all_units[i % units],
            title=f"Position {i:04d}",
            code=f"P{i:04d}",
            superior=superior,
            max_holders=per_position + 1,
        )
        for d in range(3):
            org.create_duty(
                position, actor=admin, title=f"Duty {d} of {i}", output_unit="document"
            )
        all_positions.append(position)
        if i % 100 == 0:
            print(
                f"  positions {i}/{positions} ({time.perf_counter() - started:.0f}s)",
                file=sys.stderr,
            )
    start = dt.date(2025, 1, 1)
    for i in range(people):
        person = org.create_person(
            organisation,
            actor=admin,
            full_name=f"Person {i:05d}",
            employee_number=f"E{i:05d}",
        )
        org.assign_holder(
            all_positions[i % positions], actor=admin, person=person, start_date=start
        )
        if i % 1000 == 0:
            print(
                f"  people {i}/{people} ({time.perf_counter() - started:.0f}s)",
                file=sys.stderr,
            )
    print(f"  generated in {time.perf_counter() - started:.0f}s", file=sys.stderr)
    return organisation
