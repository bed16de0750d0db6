"""Reading the trail: the events about several objects at once (a run with its tasks,
a position with its duties and holders) — exactly theirs, newest first, within one
organisation, and looked up in the target index rather than walked along the chain."""

from __future__ import annotations

import pytest
from django.db import connection

from rantai.accounts.models import User
from rantai.audit import queries
from rantai.audit.models import AuditEvent
from rantai.org import services as org
from rantai.org.models import Party

# The (organisation, target type, target id, sequence) index.
TARGET_INDEX = AuditEvent._meta.indexes[0].name


def rename(party: Party, name: str, *, actor: User) -> None:
    org.update_party(
        Party.objects.get(pk=party.pk), actor=actor, expected_version=None, name=name
    )


def sequences_about(organisation, targets: set[tuple[str, str]]) -> list[int]:  # type: ignore[no-untyped-def]
    """The expected answer, read the slow way: the whole chain, filtered here."""
    return [
        event.sequence
        for event in AuditEvent.objects.filter(organisation=organisation).order_by(
            "-sequence"
        )
        if (event.target_type, event.target_id) in targets
    ]


def test_the_events_about_several_objects_are_exactly_theirs_newest_first(
    acme, django_assert_num_queries
):
    rename(acme.export, "Ekspor", actor=acme.admin)
    rename(acme.warehouse, "Gudang", actor=acme.admin)
    org.update_position(
        acme.export_head, actor=acme.admin, expected_version=None, title="Kepala"
    )
    rename(acme.export, "Ekspor dan impor", actor=acme.admin)

    with django_assert_num_queries(1):  # their redactable halves come along
        events = list(
            queries.events_about(
                acme.organisation,
                {
                    "org.party": [acme.export.pk, acme.warehouse.pk, acme.export.pk],
                    "org.position": [str(acme.director.pk)],
                },
            )
        )
        labels = [event.personal.target_label for event in events[:3]]

    assert [event.sequence for event in events] == sequences_about(
        acme.organisation,
        {
            ("org.party", str(acme.export.pk)),
            ("org.party", str(acme.warehouse.pk)),
            ("org.position", str(acme.director.pk)),
        },
    )
    assert [(event.target_id, event.changes) for event in events[:3]] == [
        (str(acme.export.pk), {"name": ["Ekspor", "Ekspor dan impor"]}),
        (str(acme.warehouse.pk), {"name": ["Warehouse", "Gudang"]}),
        (str(acme.export.pk), {"name": ["Export", "Ekspor"]}),
    ]
    assert labels == ["Ekspor dan impor", "Gudang", "Ekspor"]


def test_the_events_about_objects_stay_within_the_organisation_asked(acme, other_org):
    rename(other_org.export, "Elsewhere", actor=other_org.admin)
    theirs = {"org.party": [other_org.export.pk, other_org.warehouse.pk]}
    expected = sequences_about(
        other_org.organisation,
        {
            ("org.party", str(other_org.export.pk)),
            ("org.party", str(other_org.warehouse.pk)),
        },
    )

    assert list(queries.events_about(acme.organisation, theirs)) == []
    assert len(expected) >= 3  # both created, one renamed
    assert [
        event.sequence for event in queries.events_about(other_org.organisation, theirs)
    ] == expected


@pytest.mark.parametrize("targets", [{}, {"org.party": []}])
def test_the_events_about_no_objects_are_none_and_cost_no_query(
    acme, targets, django_assert_num_queries
):
    with django_assert_num_queries(0):
        assert list(queries.events_about(acme.organisation, targets)) == []


def plan_of(queryset) -> list[str]:  # type: ignore[no-untyped-def]
    sql, params = queryset.query.sql_with_params()
    with connection.cursor() as cursor:
        if connection.vendor == "sqlite":
            cursor.execute("EXPLAIN QUERY PLAN " + sql, params)
            return [row[3] for row in cursor.fetchall()]
        cursor.execute("EXPLAIN " + sql, params)
        return [row[0] for row in cursor.fetchall()]


@pytest.mark.parametrize(
    "shape",
    ["several types", "one type, several ids", "one object"],
)
def test_the_events_about_objects_are_looked_up_not_walked_along_the_chain(acme, shape):
    parties = [acme.head_office.pk, acme.export.pk, acme.warehouse.pk]
    targets = {
        "several types": {"org.party": parties, "org.position": [acme.director.pk]},
        "one type, several ids": {"org.party": parties},
        "one object": {"org.party": parties[:1]},
    }[shape]

    plan = plan_of(queries.events_about(acme.organisation, targets)[:11])

    if connection.vendor == "sqlite":
        # SQLite estimates without statistics, as it does in production: what it
        # chooses here, it chooses on a chain of millions.
        reads = [line for line in plan if "audit_auditevent" in line]
        assert reads and all(
            line.startswith("SEARCH audit_auditevent USING INDEX " + TARGET_INDEX)
            and "target_id=?" in line
            for line in reads
        ), plan
    else:
        # PostgreSQL picks by statistics; what no table size changes is that no
        # index gives this order, so it never walks the chain backwards to a LIMIT.
        assert not any("Index Scan Backward" in line for line in plan), plan
        assert any(
            "Sort Key: ((audit_auditevent.sequence + 0)) DESC" in line for line in plan
        ), plan
