"""List endpoints run a fixed number of queries, whatever the amount of data."""

import datetime as dt
import itertools

from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.models import Role
from rantai.accounts.services import create_user
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import PartyKind

_serial = itertools.count()


def _grow(acme, n):
    """Add n of every kind of object (with audit events) through the services."""
    for _ in range(n):
        i = next(_serial)
        party = org.create_party(
            acme.organisation,
            actor=acme.admin,
            kind=PartyKind.EXTERNAL_PARTNER,
            name=f"Partner {i}",
            code=f"P{i}",
        )
        position = org.create_position(
            acme.organisation,
            actor=acme.admin,
            party=party,
            title=f"Role {i}",
            code=f"R{i}",
            superior=acme.director,
        )
        org.create_duty(position, actor=acme.admin, title="Do", output_unit="it")
        person = org.create_person(
            acme.organisation, actor=acme.admin, full_name=f"Person {i}", party=party
        )
        org.assign_holder(
            position, actor=acme.admin, person=person, start_date=dt.date(2026, 1, 1)
        )
        user = create_user(
            username=f"user{i}", email=f"user{i}@example.test", password=None
        )
        membership.add_member(
            acme.organisation, actor=acme.admin, user=user, role=Role.MEMBER
        )
        membership.invite(
            acme.organisation,
            actor=acme.admin,
            email=f"x{i}@example.test",
            role="member",
        )


ENDPOINTS = [
    ("member", "/orgs/acme/parties", {}),
    ("member", "/orgs/acme/positions", {}),
    ("member", "/orgs/acme/duties", {}),
    ("member", "/orgs/acme/people", {}),
    ("member", "/orgs/acme/holdings", {"current": "true"}),
    ("partner", "/orgs/acme/people", {}),
    ("partner", "/orgs/acme/holdings", {}),
    ("auditor", "/orgs/acme/memberships", {}),
    ("auditor", "/orgs/acme/invitations", {}),
    ("auditor", "/orgs/acme/audit/events", {}),
    ("member", "/orgs", {}),
    ("member", "/me", {}),
]


def _query_counts(apis):
    counts = {}
    for role, path, params in ENDPOINTS:
        with CaptureQueriesContext(connection) as captured:
            response = apis[role].get(path, limit=100, **params)
        assert response.status_code == 200, response.content
        counts[(role, path)] = len(captured)
    return counts


def test_list_query_counts_do_not_grow_with_the_data(acme, api_as):
    apis = {role: api_as(role) for role in ("member", "partner", "auditor")}
    for api in apis.values():
        api.get("/me")  # a token's first use records its last-used time
    _grow(acme, 3)
    small = _query_counts(apis)

    _grow(acme, 27)
    large = _query_counts(apis)

    assert large == small
    # token, membership, count and page (plus the distinct partner join)
    assert max(small.values()) <= 4, small
