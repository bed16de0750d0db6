"""List endpoints run a fixed number of queries, whatever the amount of data."""

import datetime as dt
import itertools

from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.utils import timezone

from rantai.accounts.models import Role
from rantai.accounts.services import create_user
from rantai.approvals import delegation, routes
from rantai.notifications import events, webhooks
from rantai.notifications import services as notifications
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
        # the coordination flow: a route, an absence with Rina standing in (a
        # delegation to her), a notification and a webhook endpoint
        routes.create_route(
            acme.organisation,
            actor=acme.admin,
            code=f"RT{i}",
            name=f"Route {i}",
            subject_kind="deviation",
        )
        starts_at = timezone.now() + dt.timedelta(days=1)
        delegation.record_absence(
            person,
            actor=acme.admin,
            kind="leave",
            starts_at=starts_at,
            ends_at=starts_at + dt.timedelta(days=2),
            delegate=acme.rina,
        )
        notifications.notify(
            acme.organisation,
            recipients=[acme.member, acme.auditor, user],
            event_type=events.TASK_READY,
            key=f"grow-{i}",
            title=f"Task {i} is ready",
        )
        webhooks.create_endpoint(
            acme.organisation,
            actor=acme.admin,
            name=f"Hook {i}",
            url=f"https://hooks.example.com/{i}",
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
    ("member", "/orgs/acme/approvals/routes", {}),
    ("member", "/orgs/acme/delegations", {}),
    ("auditor", "/orgs/acme/delegations", {}),
    ("member", "/orgs/acme/absences", {}),
    ("auditor", "/orgs/acme/absences", {}),
    ("member", "/orgs/acme/notifications", {}),
    ("auditor", "/orgs/acme/notifications", {"unread": "true"}),
    ("admin", "/orgs/acme/webhook-endpoints", {}),
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
    apis = {role: api_as(role) for role in ("member", "partner", "auditor", "admin")}
    for api in apis.values():
        api.get("/me")  # a token's first use records its last-used time
    _grow(acme, 3)
    small = _query_counts(apis)

    _grow(acme, 27)
    large = _query_counts(apis)

    assert large == small
    # token, membership, count and page (plus the distinct partner join); the
    # delegations prefetch their routes
    assert {k: v for k, v in small.items() if v > 4} == {
        ("member", "/orgs/acme/delegations"): 5,
        ("auditor", "/orgs/acme/delegations"): 5,
    }, small
