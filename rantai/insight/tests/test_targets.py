"""The roll-up of targets: actuals within the period (read in the organisation's
time zone, Asia/Jakarta), secure and at-risk projections, runs finishing after the
period, suspended and cancelled runs, nested targets, the status in each case, the
explanation and the number of queries. All data is made through the services."""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal
from zoneinfo import ZoneInfo

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.access import access_for
from rantai.chains import services
from rantai.chains import targets as target_services
from rantai.chains.models import (
    ProcedureVersion,
    Run,
    RunStatus,
    ScheduleStatus,
    Target,
    TargetStatus,
    Task,
)
from rantai.chains.tests.helpers import T0, StepSpec, build_version
from rantai.insight import targets
from rantai.insight.targets import ObstacleLine, RunLine
from rantai.obstacles import obstacles
from rantai.obstacles.models import Severity
from rantai.testing import SmallOrg

MARCH = (dt.date(2026, 3, 1), dt.date(2026, 3, 31))
HOUR = dt.timedelta(hours=1)
DAY = dt.timedelta(days=1)
JAKARTA = ZoneInfo("Asia/Jakarta")


def wib(day: int, month: int, hour: int, minute: int = 0) -> dt.datetime:
    """A moment of 2026 in Jakarta (UTC+7), as UTC."""
    return dt.datetime(2026, month, day, hour, minute, tzinfo=JAKARTA).astimezone(
        dt.UTC
    )


def make_target(
    o: SmallOrg,
    name: str,
    quantity: int,
    *,
    period: tuple[dt.date, dt.date] = MARCH,
    parent: Target | None = None,
    owner=None,  # type: ignore[no-untyped-def]
    party=None,  # type: ignore[no-untyped-def]
) -> Target:
    return target_services.create_target(
        o.organisation,
        actor=o.admin,
        name=name,
        measure_quantity=quantity,
        measure_unit="units",
        period_start=period[0],
        period_end=period[1],
        owner_position=owner or o.export_head,
        parent=parent,
        party=party,
        now=T0,
    )


def run_toward(
    version: ProcedureVersion,
    o: SmallOrg,
    title: str,
    quantity: int,
    target: Target | None,
    *,
    due: dt.timedelta = 14 * DAY,
    started: dt.datetime = T0,
) -> Run:
    return services.start_run(
        version,
        actor=o.member,
        title=title,
        measure_quantity=quantity,
        measure_unit="units",
        due_at=started + due,
        target=target,
        now=started,
    )


def finish(run: Run, o: SmallOrg, at: dt.datetime) -> Run:
    """Complete every open task of the run (Rina holds the export head position)."""
    for task in Task.objects.filter(run=run).order_by("sort_order"):
        services.complete_task(task, actor=o.member, expected_version=None, now=at)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    return run


@dataclass
class Versions:
    pack: ProcedureVersion  # one working day, the export head's
    long: ProcedureVersion  # thirty working days


@pytest.fixture
def versions(acme: SmallOrg) -> Versions:
    o = acme
    return Versions(
        build_version(o, [StepSpec("pack", o.export_head, o.export_head)]),
        build_version(
            o, [StepSpec("haul", o.export_head, o.export_head, days="30")], code="LONG"
        ),
    )


@dataclass
class March:
    target: Target
    done: Run
    secure: Run
    tight: Run
    late: Run
    paused: Run
    long: Run


@pytest.fixture
def march(acme: SmallOrg, versions: Versions) -> March:
    """March: 3,000 units. Started Monday 2 March 08:00 WIB:

    * done: 400 units completed at 10:00, its actual recorded as 350;
    * secure: 300, due in 14 days (on track);
    * tight: 200, due Tuesday 10:00 (two working hours of slack: at risk);
    * late: 100, due Monday 12:00, held up by "Crane broken" (one working day);
    * paused: 50, suspended;
    * long: 700, thirty working days (finishes 10 April: after the period);
    * cancelled: 1,000; completed in February: 600; and runs toward no target
      or another one — none of them count."""
    o = acme
    target = make_target(o, "March exports", 3000)
    other = make_target(o, "Other", 5000)
    done = run_toward(versions.pack, o, "Done run", 400, target)
    finish(done, o, T0 + 2 * HOUR)
    services.record_actual_quantity(
        done, actor=o.member, expected_version=None, actual_quantity=350, now=T0
    )
    secure = run_toward(versions.pack, o, "Secure run", 300, target)
    tight = run_toward(versions.pack, o, "Tight run", 200, target, due=26 * HOUR)
    late = run_toward(versions.pack, o, "Late run", 100, target, due=4 * HOUR)
    obstacles.raise_obstacle(
        late,
        actor=o.member,
        title="Crane broken",
        description="The harbour crane is out of order.",
        expected_delay_minutes=480,
        severity=Severity.HIGH,
        now=T0,
    )
    paused = run_toward(versions.pack, o, "Paused run", 50, target)
    services.suspend_run(
        paused, actor=o.member, expected_version=None, reason="Waiting", now=T0
    )
    long = run_toward(versions.long, o, "Long run", 700, target, due=60 * DAY)
    cancelled = run_toward(versions.pack, o, "Cancelled run", 1000, target)
    services.cancel_run(
        cancelled, actor=o.member, expected_version=None, reason="Dropped", now=T0
    )
    february = run_toward(
        versions.pack, o, "February run", 600, target, started=wib(20, 2, 8)
    )
    finish(february, o, wib(20, 2, 10))
    run_toward(versions.pack, o, "No target", 999, None)
    run_toward(versions.pack, o, "Elsewhere", 888, other)
    for run in (secure, tight, late, paused, long):
        run.refresh_from_db()
    assert [
        (r.status, r.schedule_status) for r in (secure, tight, late, paused, long)
    ] == [
        (RunStatus.ACTIVE, ScheduleStatus.ON_TRACK),
        (RunStatus.ACTIVE, ScheduleStatus.AT_RISK),
        (RunStatus.ACTIVE, ScheduleStatus.LATE),
        (RunStatus.SUSPENDED, ScheduleStatus.ON_TRACK),
        (RunStatus.ACTIVE, ScheduleStatus.ON_TRACK),
    ]
    return March(target, done, secure, tight, late, paused, long)


def test_the_figures_of_a_target_during_its_period(acme, march):
    progress = targets.roll_up(acme.organisation, [march.target], now=T0 + DAY)

    item = progress[march.target.pk]
    assert list(progress) == [march.target.pk]
    assert item.target == march.target
    assert item.actual == Decimal("350")  # the recorded actual, not the 400 planned
    assert item.secure == Decimal("300")
    assert item.at_risk == Decimal("350")  # tight 200 + late 100 + paused 50
    assert item.after_period == Decimal("700")
    assert item.shortfall == Decimal("2000")
    assert item.status == TargetStatus.AT_RISK
    assert (item.percent_actual, item.percent_projected) == (11, 33)
    assert (item.completed_runs, item.active_runs) == (1, 5)
    assert (item.risky_runs, item.explanation, item.children) == ((), (), ())


def test_progress_lists_the_runs_behind_the_risk_and_explains(acme, march):
    access = access_for(acme.admin, "acme")

    item = targets.progress(access, march.target, now=T0 + DAY)

    assert item.status == TargetStatus.AT_RISK
    late = Run.objects.get(pk=march.late.pk)
    crane = late.obstacles.get()
    assert item.risky_runs[0] == RunLine(
        run_id=late.pk,
        title="Late run",
        procedure_name="Procedure SHIP",
        status=RunStatus.ACTIVE,
        schedule_status=ScheduleStatus.LATE,
        quantity=Decimal("100.00"),
        projected_finish_at=wib(3, 3, 16),
        completed_at=None,
        reason="late",
        obstacles=(ObstacleLine(crane.pk, "Crane broken", Severity.HIGH, 480),),
    )
    assert [(line.run_id, line.reason, line.obstacles) for line in item.risky_runs] == [
        (march.late.pk, "late", item.risky_runs[0].obstacles),
        (march.tight.pk, "at_risk", ()),
        (march.paused.pk, "suspended", ()),
        (march.long.pk, "after_period", ()),
    ]
    assert Run.objects.get(pk=march.long.pk).projected_finish_at == wib(10, 4, 16)
    assert item.explanation == (
        "“Late run” is late: 100 units at risk (projected to finish on 3 Mar "
        "2026). Open obstacles: “Crane broken” (1 working day).",
        "“Tight run” is at risk of finishing late: 200 units at risk (projected "
        "to finish on 2 Mar 2026).",
        "“Paused run” is suspended: its 50 units are at risk.",
        "“Long run” is projected to finish on 10 Apr 2026, after the period ends "
        "on 31 Mar 2026: its 700 units do not count.",
        "Nothing under way covers the remaining 2,000 units.",
    )


def test_after_the_period_a_target_is_met_or_missed(acme, march):
    after = wib(1, 4, 9)
    item = targets.progress(access_for(acme.admin, "acme"), march.target, now=after)

    assert item.status == TargetStatus.MISSED
    assert item.explanation[-1] == "The period ended 2,650 units short of the target."
    # Once the period has ended only the actual counts: the runs still projected
    # "within" it (stale projections of the late, tight and suspended runs) no
    # longer cover anything, so the shortfall is the same 2,650 as the sentence.
    assert (item.at_risk, item.shortfall) == (Decimal("350"), Decimal("2650"))

    target_services.update_target(
        march.target,
        actor=acme.admin,
        expected_version=None,
        measure_quantity=350,
        now=T0,
    )
    item = targets.roll_up(acme.organisation, now=after)[march.target.pk]
    assert item.status == TargetStatus.MET
    assert (item.shortfall, item.percent_actual) == (Decimal("0"), 100)


def test_met_and_on_track_during_the_period(acme, versions):
    o = acme
    met = make_target(o, "Met early", 400)
    on_track = make_target(o, "On track", 500)
    finish(run_toward(versions.pack, o, "A", 400, met), o, T0 + HOUR)
    finish(run_toward(versions.pack, o, "B", 200, on_track), o, T0 + HOUR)
    run_toward(versions.pack, o, "C", 300, on_track)

    progress = targets.roll_up(o.organisation, now=T0 + DAY)

    assert (progress[met.pk].status, progress[met.pk].percent_actual) == (
        TargetStatus.MET,
        100,
    )
    item = progress[on_track.pk]
    assert (item.status, item.actual, item.secure, item.shortfall) == (
        TargetStatus.ON_TRACK,
        Decimal("200"),
        Decimal("300"),
        Decimal("0"),
    )
    assert (item.percent_actual, item.percent_projected) == (40, 100)
    assert targets.progress(access_for(o.admin, "acme"), met, now=T0).explanation == ()


def test_the_period_is_read_in_the_organisation_time_zone(acme, versions):
    """March in Jakarta runs from 28 February 17:00 UTC to 31 March 17:00 UTC."""
    o = acme
    target = make_target(o, "March", 200)
    started = wib(26, 2, 8)
    completions = {
        "first minute": (100, wib(1, 3, 0, 1)),  # 28 February in UTC: counts
        "last minute": (50, wib(31, 3, 23, 59)),  # counts
        "a minute early": (25, wib(28, 2, 23, 59)),  # February in Jakarta
        "a minute late": (200, wib(1, 4, 0, 0)),  # still 31 March in UTC
    }
    for title, (quantity, moment) in completions.items():
        run = run_toward(versions.pack, o, title, quantity, target, started=started)
        finish(run, o, moment)
    assert wib(1, 3, 0, 1) == dt.datetime(2026, 2, 28, 17, 1, tzinfo=dt.UTC)

    during = targets.roll_up(o.organisation, now=wib(31, 3, 23, 59))[target.pk]
    after = targets.roll_up(o.organisation, now=wib(1, 4, 0, 0))[target.pk]

    assert (during.actual, during.completed_runs, during.status) == (
        Decimal("150"),
        2,
        TargetStatus.AT_RISK,
    )
    assert (after.actual, after.status) == (Decimal("150"), TargetStatus.MISSED)


def test_a_parent_counts_its_own_runs_and_all_its_descendants(acme, versions):
    o = acme
    country = make_target(o, "Indonesia", 1000)
    java = make_target(
        o, "Java", 600, parent=country, period=(dt.date(2026, 3, 1), MARCH[1])
    )
    jakarta = make_target(
        o, "Jakarta", 200, parent=java, period=(dt.date(2026, 3, 2), MARCH[1])
    )
    bali = make_target(
        o, "Bali", 100, parent=country, period=(dt.date(2026, 3, 1), MARCH[1])
    )
    finish(run_toward(versions.pack, o, "Country", 100, country), o, T0 + HOUR)
    finish(run_toward(versions.pack, o, "Java", 300, java), o, T0 + HOUR)
    run_toward(versions.pack, o, "Jakarta", 200, jakarta)
    run_toward(versions.long, o, "Java long", 700, java)

    with CaptureQueriesContext(connection) as queries:
        progress = targets.roll_up(o.organisation, now=T0 + DAY)
    assert len(queries) == 2

    figures = {
        pk: (i.actual, i.secure, i.at_risk, i.after_period, i.status)
        for pk, i in progress.items()
    }
    assert figures == {
        jakarta.pk: (Decimal("0"), Decimal("200"), 0, 0, TargetStatus.ON_TRACK),
        java.pk: (
            Decimal("300"),
            Decimal("200"),
            0,
            Decimal("700"),
            TargetStatus.AT_RISK,
        ),
        bali.pk: (0, 0, 0, 0, TargetStatus.AT_RISK),
        country.pk: (
            Decimal("400"),
            Decimal("200"),
            0,
            Decimal("700"),
            TargetStatus.AT_RISK,
        ),
    }
    assert [c.target.name for c in progress[country.pk].children] == ["Bali", "Java"]
    assert progress[java.pk].children == (progress[jakarta.pk],)
    assert (progress[country.pk].completed_runs, progress[country.pk].active_runs) == (
        2,
        2,
    )

    # Asked for one target, its descendants come with it, nothing else.
    with CaptureQueriesContext(connection) as queries:
        only = targets.roll_up(o.organisation, [java], now=T0 + DAY)
    assert len(queries) == 2
    assert list(only) == [java.pk]
    assert only[java.pk] == progress[java.pk]

    # The explanation of the country names the sub-target's run finishing late.
    item = targets.progress(access_for(o.admin, "acme"), country, now=T0 + DAY)
    assert [(line.title, line.reason) for line in item.risky_runs] == [
        ("Java long", "after_period")
    ]
    assert item.explanation == (
        "“Java long” is projected to finish on 10 Apr 2026, after the period ends "
        "on 31 Mar 2026: its 700 units do not count.",
        "Nothing under way covers the remaining 400 units.",
    )


def test_the_roll_up_costs_two_queries_whatever_the_number_of_targets(acme, versions):
    o = acme
    made = [make_target(o, f"Target {i}", 100) for i in range(12)]
    for i, target in enumerate(made[:6]):
        run_toward(versions.pack, o, f"Run {i}", 50, target)

    with CaptureQueriesContext(connection) as queries:
        progress = targets.roll_up(o.organisation, now=T0)
    assert len(queries) == 2
    assert len(progress) == 12
    assert sum(item.secure for item in progress.values()) == Decimal("300")

    access = access_for(o.admin, "acme")
    with CaptureQueriesContext(connection) as queries:
        targets.target_tree(access, now=T0)
    assert len(queries) == 2
    with CaptureQueriesContext(connection) as queries:
        targets.progress(access, made[0], now=T0)
    # targets, aggregate, the runs listed (none, so no obstacles)
    assert len(queries) == 3


def test_an_organisation_without_targets(acme):
    assert targets.roll_up(acme.organisation, now=T0) == {}
    assert targets.target_tree(access_for(acme.admin, "acme"), now=T0) == []


def test_a_cycle_written_around_the_services_does_not_hang_the_roll_up(acme):
    """The write path refuses cycles under a lock; should bad data hold one anyway
    (a restore, a hand edit), the roll-up still ends and counts each target once."""
    o = acme
    first = make_target(o, "First", 100)
    second = make_target(o, "Second", 100, parent=first)
    Target.objects.filter(pk=first.pk).update(parent=second)

    progress = targets.roll_up(o.organisation, now=T0)

    assert sorted(progress) == sorted([first.pk, second.pk])
    assert [c.target.pk for c in progress[first.pk].children] == [second.pk]
    assert progress[second.pk].children == ()
