"""Who sees which targets and runs (a partner: its party's targets and those its
runs count toward, only its runs listed, figures whole), the target tree, and the
targets on a person's focus page — each in a fixed number of queries."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.access import access_for
from rantai.chains import targets as target_services
from rantai.chains.models import ProcedureVersion, Run, Target, TargetStatus
from rantai.chains.tests.helpers import T0, StepSpec, build_version
from rantai.core.errors import NotFound
from rantai.insight import queries, targets
from rantai.insight.tests.test_targets import HOUR, make_target, run_toward
from rantai.testing import SmallOrg

LATER = T0 + dt.timedelta(days=1)


@dataclass
class World:
    o: SmallOrg
    pack: ProcedureVersion  # the export head packs
    handover: ProcedureVersion  # the export head packs, the forwarder picks up
    clerks: ProcedureVersion  # the export clerk files, the director answers
    organisation_target: Target
    forwarders_target: Target
    shared: Target
    shared_child: Target
    shared_handover: Run
    shared_internal: Run


@pytest.fixture
def world(acme: SmallOrg) -> World:
    """* "Organisation target" (the export head's): one internal run;
    * "Forwarder's target" (set by the forwarder, its operations position's);
    * "Shared" (the director's): a late run the forwarder takes part in and a
      late internal one (100 units each), and a sub-target "Shared child"."""
    o = acme
    pack = build_version(o, [StepSpec("pack", o.export_head, o.export_head)])
    handover = build_version(
        o,
        [
            StepSpec("pack", o.export_head, o.export_head),
            StepSpec("pickup", o.forwarder, o.export_head, after=["pack"]),
        ],
        code="HAND",
    )
    clerks = build_version(
        o, [StepSpec("file", o.export_staff, o.director)], code="FILE"
    )
    organisation_target = make_target(o, "Organisation target", 1000)
    forwarders_target = make_target(
        o,
        "Forwarder's target",
        50,
        owner=o.forwarder_ops,
        party=o.forwarder,
    )
    shared = make_target(o, "Shared", 500, owner=o.director)
    shared_child = make_target(o, "Shared child", 100, parent=shared, owner=o.director)
    run_toward(pack, o, "Internal", 100, organisation_target)
    shared_handover = run_toward(
        handover, o, "With the forwarder", 100, shared, due=4 * HOUR
    )
    shared_internal = run_toward(pack, o, "Internal late", 100, shared, due=4 * HOUR)
    return World(
        o,
        pack,
        handover,
        clerks,
        organisation_target,
        forwarders_target,
        shared,
        shared_child,
        shared_handover,
        shared_internal,
    )


def names(found) -> list[str]:  # type: ignore[no-untyped-def]
    return [item.name for item in found]


def test_whole_organisation_users_see_every_target(world):
    o = world.o
    for user in (o.admin, o.member, o.auditor):
        assert names(queries.targets(access_for(user, "acme"))) == [
            "Forwarder's target",
            "Organisation target",
            "Shared",
            "Shared child",
        ]
        found = queries.target(access_for(user, "acme"), world.shared_child.pk)
        assert (found, found.parent) == (world.shared_child, world.shared)


def test_a_partner_sees_its_partys_targets_and_those_its_runs_count_toward(
    world, other_org
):
    o = world.o
    access = access_for(o.partner, "acme")

    assert names(queries.targets(access)) == ["Forwarder's target", "Shared"]
    assert queries.target(access, str(world.shared.pk)) == world.shared
    for hidden in (world.organisation_target.pk, world.shared_child.pk, "x", None):
        with pytest.raises(NotFound):
            queries.target(access, hidden)  # type: ignore[arg-type]
    theirs = make_target(other_org, "Theirs", 10)
    with pytest.raises(NotFound):
        queries.target(access_for(o.admin, "acme"), theirs.pk)
    with pytest.raises(NotFound):
        targets.progress(access_for(o.admin, "acme"), theirs, now=LATER)


def test_runs_of_a_target_are_those_the_caller_sees(world):
    o = world.o
    admin, partner = access_for(o.admin, "acme"), access_for(o.partner, "acme")
    child_run = run_toward(world.pack, o, "Child's", 10, world.shared_child)

    assert names_of(queries.runs_of_target(admin, world.shared)) == [
        "Internal late",
        "With the forwarder",
    ]
    assert names_of(
        queries.runs_of_target(admin, world.shared, include_descendants=True)
    ) == ["Child's", "Internal late", "With the forwarder"]
    assert names_of(queries.runs_of_target(partner, world.shared)) == [
        "With the forwarder"
    ]
    assert child_run.target_id == world.shared_child.pk


def names_of(runs) -> list[str]:  # type: ignore[no-untyped-def]
    return sorted(run.title for run in runs)


def test_a_partner_reads_whole_figures_but_only_its_own_runs(world):
    o = world.o
    partner = access_for(o.partner, "acme")

    item = targets.progress(partner, world.shared, now=LATER)
    whole = targets.progress(access_for(o.admin, "acme"), world.shared, now=LATER)

    assert (item.at_risk, item.shortfall, item.status) == (
        Decimal("200"),
        Decimal("300"),
        TargetStatus.AT_RISK,
    )
    assert [line.title for line in item.risky_runs] == ["With the forwarder"]
    assert [line.title for line in whole.risky_runs] == [
        "Internal late",
        "With the forwarder",
    ]
    assert item.explanation == (
        "“With the forwarder” is late: 100 units at risk (projected to finish on 3 "
        "Mar 2026).",
        "Nothing under way covers the remaining 300 units.",
    )
    # The sub-target is not the partner's: its figures count, it is not listed.
    assert item.children == ()
    assert [child.target for child in whole.children] == [world.shared_child]


def test_the_target_tree(world):
    o = world.o
    target_services.deactivate_target(
        world.shared_child, actor=o.admin, expected_version=None, now=T0
    )
    admin, partner = access_for(o.admin, "acme"), access_for(o.partner, "acme")

    with CaptureQueriesContext(connection) as counted:
        tree = targets.target_tree(admin, now=LATER)
    assert len(counted) == 2
    assert [(i.target.name, [c.target.name for c in i.children]) for i in tree] == [
        ("Forwarder's target", []),
        ("Organisation target", []),
        ("Shared", []),
    ]
    tree = targets.target_tree(admin, now=LATER, include_inactive=True)
    assert [(i.target.name, [c.target.name for c in i.children]) for i in tree] == [
        ("Forwarder's target", []),
        ("Organisation target", []),
        ("Shared", ["Shared child"]),
    ]

    with CaptureQueriesContext(connection) as counted:
        tree = targets.target_tree(partner, now=LATER, include_inactive=True)
    assert len(counted) == 3
    assert [(i.target.name, i.children, i.at_risk) for i in tree] == [
        ("Forwarder's target", (), Decimal("0")),
        ("Shared", (), Decimal("200")),
    ]


def test_focus_targets_are_those_the_persons_work_counts_toward(world):
    o = world.o
    # Rina (the export head): "Organisation target" is her position's and her
    # task's; "Shared" holds tasks assigned to her. Nothing of the clerk's
    # target, nor of targets outside today or deactivated.
    clerks = make_target(o, "Clerks", 100, owner=o.director)
    run_toward(world.clerks, o, "Filing", 10, clerks)
    make_target(o, "April", 100, period=(dt.date(2026, 4, 1), dt.date(2026, 4, 30)))
    retired = make_target(o, "Retired", 100)
    target_services.deactivate_target(
        retired, actor=o.admin, expected_version=None, now=T0
    )
    rina = access_for(o.member, "acme")

    with CaptureQueriesContext(connection) as counted:
        focus = queries.focus_targets(rina, now=LATER)
    assert len(counted) == 3
    assert [item.target.name for item in focus] == ["Organisation target", "Shared"]
    assert focus[1].at_risk == Decimal("200")

    # Joko, the partner: his position's target and the one his party's unfinished
    # pickup counts toward.
    partner_focus = queries.focus_targets(access_for(o.partner, "acme"), now=LATER)
    assert [item.target.name for item in partner_focus] == [
        "Forwarder's target",
        "Shared",
    ]
    # The auditor holds nothing and works on nothing.
    assert queries.focus_targets(access_for(o.auditor, "acme"), now=LATER) == []
