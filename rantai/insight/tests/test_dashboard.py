"""The owner's dashboard (`insight.dashboard`), against small hand-computed histories.

The procedure SHIP, built through the services (T0 = Monday 2 March 2026, 08:00
in Jakarta, UTC+7):

    pack     R export clerk (Export)          1 working day  (480 min)
    ship     R Fast Forwarding (FWD)          0.5 day        (240 min)  after pack
    store    R warehouse keeper (Warehouse)   2 hours        (120 min)  after ship
    invoice  R head of export (Export)        1 hour         (60 min)   after pack,
                                                          only when "billable"

Three runs completed in March, minutes after each run's start (s = started, d =
done; a task done without being started has waited nothing):

    A  starts T0 (Mon 2 Mar), due in 14 days; completes at 480 (on time, 8 h)
       pack  ready 0    s 60    d 240      ship   ready 240  d 360 (not started)
       store ready 360  s 420   d 480      invoice ready 240 s 270 d 300
    B  starts T0 + 1 day (Tue 3 Mar), due 6 hours later; completes at 1230
       (Wed 4 Mar 04:30 local = Tue 3 Mar 21:30 UTC; late, 20.5 h)
       pack  ready 0    d 600 (not started)    ship  ready 600  s 660  d 1200
       store ready 1200 d 1230 (not started)   invoice ready 600 s 600 d 720
    C  starts T0 + 7 days (Mon 9 Mar), not billable (invoice skipped), due in
       one day; completes at 360 (on time, 6 h)
       pack  ready 0    s 0     d 120      ship  ready 120  s 180  d 300
       store ready 300  s 300   d 360

Besides: D, a run of another procedure (OTHER, one step "pack" of the export
clerk) completed Thu 5 Mar at 11:00 after 3 hours; E, a SHIP run still active.
Obstacles: on A "a partner" 60 min, on B "transport" 120 min, on C one withdrawn.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.accounts.access import Access, access_for
from rantai.accounts.models import User
from rantai.chains import services
from rantai.chains.models import FieldType, ProcedureVersion, Run, Task
from rantai.chains.tests.helpers import T0, StepSpec, build_version
from rantai.core.errors import NotFound, ValidationFailed
from rantai.insight import dashboard as board
from rantai.insight.dashboard import (
    CauseFigure,
    Distribution,
    HandoverFigure,
    PositionFigure,
    Scope,
    StepFigure,
    TrendPoint,
)
from rantai.obstacles import obstacles
from rantai.obstacles.models import Cause
from rantai.org import services as org
from rantai.org.models import Position
from rantai.testing import SmallOrg

MARCH = {"start": dt.date(2026, 3, 1), "end": dt.date(2026, 3, 31)}
NOW = dt.datetime(2026, 3, 20, 3, 0, tzinfo=dt.UTC)  # Friday 20 March, 10:00 local


def minutes(origin: dt.datetime, value: int) -> dt.datetime:
    return origin + dt.timedelta(minutes=value)


@dataclass
class History:
    o: SmallOrg
    keeper: Position
    ship: ProcedureVersion
    other: ProcedureVersion
    a: Run
    b: Run
    c: Run
    d: Run
    e: Run

    def access(self, user: User | None = None) -> Access:
        return access_for(user or self.o.member, "acme")

    def scope(self, kind: str = "procedure", pk: int | None = None) -> Scope:
        return board.scope_for(
            self.access(), kind, pk if pk is not None else self.ship.procedure_id
        )


def _task(run: Run, key: str) -> Task:
    return Task.objects.get(run=run, key=key)


def _start_task(run: Run, key: str, user: User, at: dt.datetime) -> None:
    task = _task(run, key)
    services.start_task(task, actor=user, expected_version=task.version, now=at)


def _complete(run: Run, key: str, user: User, at: dt.datetime) -> None:
    task = _task(run, key)
    services.complete_task(task, actor=user, expected_version=task.version, now=at)


def _run(
    version: ProcedureVersion,
    o: SmallOrg,
    origin: dt.datetime,
    *,
    due: dt.timedelta,
    billable: bool | None = True,
    title: str,
) -> Run:
    return services.start_run(
        version,
        actor=o.member,
        title=title,
        measure_quantity=Decimal(10),
        measure_unit="boxes",
        due_at=origin + due,
        field_values={} if billable is None else {"billable": billable},
        now=origin,
    )


def make_history(o: SmallOrg) -> History:
    admin = o.admin
    keeper = org.create_position(
        o.organisation,
        actor=admin,
        party=o.warehouse,
        title="Warehouse keeper",
        code="WH-KEEP",
    )
    ship = build_version(
        o,
        [
            StepSpec("pack", o.export_staff, o.export_head, days="1"),
            StepSpec("ship", o.forwarder, o.export_head, days="0.5", after=["pack"]),
            StepSpec(
                "store",
                keeper,
                o.export_head,
                days="2",
                unit="working_hours",
                after=["ship"],
            ),
            StepSpec(
                "invoice",
                o.export_head,
                o.export_head,
                days="1",
                unit="working_hours",
                after=["pack"],
                condition=("billable", "is_true", None),
            ),
        ],
        code="SHIP",
        fields=[
            {"key": "billable", "label": "Billable", "field_type": FieldType.BOOLEAN}
        ],
    )
    other = build_version(
        o, [StepSpec("pack", o.export_staff, o.export_head, days="1")], code="OTHER"
    )
    rina, joko = o.member, o.partner  # Rina answers for every step; Joko ships

    a0 = T0
    a = _run(ship, o, a0, due=dt.timedelta(days=14), title="Run A")
    obstacles.raise_obstacle(
        a,
        actor=rina,
        title="Forwarder short of trucks",
        description="Waiting",
        expected_delay_minutes=60,
        cause=Cause.PARTNER,
        now=minutes(a0, 30),
    )
    _start_task(a, "pack", rina, minutes(a0, 60))
    _complete(a, "pack", rina, minutes(a0, 240))
    _start_task(a, "invoice", rina, minutes(a0, 270))
    _complete(a, "invoice", rina, minutes(a0, 300))
    _complete(a, "ship", joko, minutes(a0, 360))
    _start_task(a, "store", rina, minutes(a0, 420))
    _complete(a, "store", rina, minutes(a0, 480))

    b0 = T0 + dt.timedelta(days=1)
    b = _run(ship, o, b0, due=dt.timedelta(hours=6), title="Run B")
    obstacles.raise_obstacle(
        b,
        actor=rina,
        title="Truck broke down",
        description="On the toll road",
        expected_delay_minutes=120,
        cause=Cause.TRANSPORT,
        now=minutes(b0, 10),
    )
    _complete(b, "pack", rina, minutes(b0, 600))
    _start_task(b, "invoice", rina, minutes(b0, 600))
    _start_task(b, "ship", joko, minutes(b0, 660))
    _complete(b, "invoice", rina, minutes(b0, 720))
    _complete(b, "ship", joko, minutes(b0, 1200))
    _complete(b, "store", rina, minutes(b0, 1230))

    c0 = T0 + dt.timedelta(days=7)
    c = _run(ship, o, c0, due=dt.timedelta(days=1), billable=False, title="Run C")
    mistaken = obstacles.raise_obstacle(
        c,
        actor=rina,
        title="Raised by mistake",
        description="No problem after all",
        expected_delay_minutes=600,
        now=minutes(c0, 5),
    )
    obstacles.withdraw(
        mistaken,
        actor=rina,
        expected_version=mistaken.version,
        reason="Wrong run",
        now=minutes(c0, 6),
    )
    _start_task(c, "pack", rina, minutes(c0, 0))
    _complete(c, "pack", rina, minutes(c0, 120))
    _start_task(c, "ship", joko, minutes(c0, 180))
    _complete(c, "ship", joko, minutes(c0, 300))
    _start_task(c, "store", rina, minutes(c0, 300))
    _complete(c, "store", rina, minutes(c0, 360))

    d0 = T0 + dt.timedelta(days=3)
    d = _run(other, o, d0, due=dt.timedelta(days=5), billable=None, title="Run D")
    _complete(d, "pack", rina, minutes(d0, 180))

    e = _run(ship, o, T0 + dt.timedelta(days=8), due=dt.timedelta(days=5), title="E")
    _complete(e, "pack", rina, minutes(T0 + dt.timedelta(days=8), 30))

    runs = {run.title: run for run in Run.objects.filter(organisation=o.organisation)}
    return History(
        o, keeper, ship, other, runs["Run A"], runs["Run B"], runs["Run C"],
        runs["Run D"], runs["E"],
    )  # fmt: skip


@pytest.fixture
def history(acme: SmallOrg) -> History:
    return make_history(acme)


def hours(count: int, median: float | None, p90: float | None) -> Distribution:
    return Distribution(count, median, p90)


# --- the history itself --------------------------------------------------------------


def test_the_history_is_what_the_module_docstring_says(history: History) -> None:
    a, b, c, d, e = history.a, history.b, history.c, history.d, history.e
    assert [run.status for run in (a, b, c, d, e)] == [
        "completed", "completed", "completed", "completed", "active",
    ]  # fmt: skip
    assert [run.result for run in (a, b, c, d)] == ["met", "missed", "met", "met"]
    assert b.completed_at == dt.datetime(2026, 3, 3, 21, 30, tzinfo=dt.UTC)
    assert _task(c, "invoice").status == "skipped"
    assert [_task(history.a, key).duration_minutes for key in (
        "pack", "ship", "store", "invoice"
    )] == [480, 240, 120, 60]  # fmt: skip


# --- percentiles ---------------------------------------------------------------------


@pytest.mark.parametrize(
    ("values", "median", "p90"),
    [
        ([], None, None),
        ([7200], 2.0, 2.0),
        ([3600, 7200], 1.0, 2.0),
        ([5400, 3600, 7200, 9000], 1.5, 2.5),  # ranks 2 and 4 of 1, 1.5, 2, 2.5
        ([3600 * n for n in range(1, 11)], 5.0, 9.0),  # ranks 5 and 9 of 10
        ([3600 * n for n in range(1, 12)], 6.0, 10.0),  # ranks 6 and 10 of 11
    ],
)
def test_percentiles_are_nearest_rank_on_the_sorted_values(
    values: list[float], median: float | None, p90: float | None
) -> None:
    assert board.distribution(values) == Distribution(len(values), median, p90)


# --- scope ---------------------------------------------------------------------------


def test_a_scope_is_a_procedure_or_a_party_of_the_organisation(
    history: History, other_org: SmallOrg
) -> None:
    o = history.o
    assert history.scope() == Scope("procedure", history.ship.procedure_id,
                                    "Procedure SHIP (SHIP)")  # fmt: skip
    assert board.scope_for(history.access(), "party", str(o.forwarder.pk)) == Scope(
        "party", o.forwarder.pk, "Fast Forwarding (FWD)"
    )
    with pytest.raises(ValidationFailed) as refused:
        board.scope_for(history.access(), "position", history.keeper.pk)
    assert refused.value.errors == {
        "scope": ["Choose a procedure or a party for the dashboard."]
    }
    for kind, pk in (
        ("procedure", 999_999),
        ("party", other_org.forwarder.pk),
        ("party", "seven"),
    ):
        with pytest.raises(NotFound):
            board.scope_for(history.access(), kind, pk)


def test_partners_get_no_dashboard(history: History) -> None:
    partner = history.access(history.o.partner)
    with pytest.raises(NotFound):
        board.scope_for(partner, "party", history.o.forwarder.pk)
    scope = history.scope("party", history.o.forwarder.pk)
    with pytest.raises(NotFound):
        board.dashboard(partner, scope, **MARCH, now=NOW)
    for figure in ("finished", "not a figure"):
        with pytest.raises(NotFound):
            board.runs_behind(partner, scope, **MARCH, figure=figure)


def test_auditors_and_administrators_see_dashboards(history: History) -> None:
    for user in (history.o.auditor, history.o.admin):
        figures = board.dashboard(
            history.access(user), history.scope(), **MARCH, now=NOW
        )
        assert figures.finished == 3


def test_the_period_is_checked(history: History) -> None:
    scope = history.scope()
    with pytest.raises(ValidationFailed) as backwards:
        board.dashboard(
            history.access(), scope, start=dt.date(2026, 3, 2),
            end=dt.date(2026, 3, 1),
        )  # fmt: skip
    assert backwards.value.errors == {"end": ["The period ends before it starts."]}
    with pytest.raises(ValidationFailed) as long:
        board.runs_behind(
            history.access(), scope, start=dt.date(2024, 3, 1),
            end=dt.date(2027, 3, 1), figure="finished",
        )  # fmt: skip
    assert long.value.errors == {"end": ["A dashboard covers at most three years."]}
    # Exactly three years (the last day of the third year) is allowed.
    figures = board.dashboard(
        history.access(), scope, start=dt.date(2024, 3, 1),
        end=dt.date(2027, 2, 28), now=NOW,
    )  # fmt: skip
    assert figures.finished == 3


# --- the figures of a procedure ------------------------------------------------------


def test_the_figures_of_a_procedure(history: History) -> None:
    o = history.o
    figures = board.dashboard(history.access(), history.scope(), **MARCH, now=NOW)
    assert (figures.start, figures.end) == (MARCH["start"], MARCH["end"])
    assert figures.finished == 3
    assert figures.on_time == 2
    assert figures.on_time_rate == pytest.approx(2 / 3)
    # Lead times 6 h (C), 8 h (A), 20.5 h (B): ranks 2 and 3.
    assert figures.lead == hours(3, 8.0, 20.5)
    assert figures.waiting_hours == 4.5  # pack 1 + ship 2 + invoice 0.5 + store 1
    assert figures.working_hours == 33.0  # 15 + 13 + 2.5 + 2.5
    assert figures.steps == (
        StepFigure(
            key="pack", name="Pack", runs=3,
            cycle=hours(3, 4.0, 10.0),  # 2, 4, 10
            waiting=hours(3, 0.0, 1.0),  # 0, 0, 1
            working=hours(3, 3.0, 10.0),  # 2, 3, 10
            on_critical_path=3, caused_delay=1,  # B: 10 h > 8 h planned
        ),
        StepFigure(
            key="ship", name="Ship", runs=3,
            cycle=hours(3, 3.0, 10.0),  # 2, 3, 10
            waiting=hours(3, 1.0, 1.0),  # 0, 1, 1
            working=hours(3, 2.0, 9.0),  # 2, 2, 9
            on_critical_path=3, caused_delay=1,  # B: 10 h > 4 h planned
        ),
        StepFigure(
            key="store", name="Store", runs=3,
            cycle=hours(3, 1.0, 2.0),  # 0.5, 1, 2
            waiting=hours(3, 0.0, 1.0),  # 0, 0, 1
            working=hours(3, 1.0, 1.0),  # 0.5, 1, 1
            on_critical_path=3, caused_delay=0,  # B: 0.5 h within 2 h
        ),
        StepFigure(
            key="invoice", name="Invoice", runs=2,  # skipped in C
            cycle=hours(2, 1.0, 2.0),
            waiting=hours(2, 0.0, 0.5),
            working=hours(2, 0.5, 2.0),
            on_critical_path=0, caused_delay=0,  # B's took 2 h, off the path
        ),
    )  # fmt: skip
    assert figures.handovers == (
        # pack -> ship: A 2 h, B 1 h, C 1 h; ship -> store: A 1 h, B 0.5 h, C 0.
        HandoverFigure(o.export.pk, "Export", o.forwarder.pk, "Fast Forwarding",
                       hours(3, 1.0, 2.0)),
        HandoverFigure(o.forwarder.pk, "Fast Forwarding", o.warehouse.pk,
                       "Warehouse", hours(3, 0.5, 1.0)),
    )  # fmt: skip
    assert figures.positions == (
        PositionFigure(o.export_staff.pk, "Export clerk", 3, 1),
        PositionFigure(history.keeper.pk, "Warehouse keeper", 3, 0),
    )
    assert figures.causes == (
        CauseFigure("transport", "transport", 1, 120),
        CauseFigure("partner", "a partner", 1, 60),
    )
    # March is 31 days: weekly buckets, those starting after Friday 20 March left
    # out. A and B complete in the week of 2 March, C in the week of 9 March.
    assert figures.trend == (
        TrendPoint(dt.date(2026, 3, 1), dt.date(2026, 3, 1), 0, 0, hours(0, None, None)),
        TrendPoint(dt.date(2026, 3, 2), dt.date(2026, 3, 8), 2, 1, hours(2, 8.0, 20.5)),
        TrendPoint(dt.date(2026, 3, 9), dt.date(2026, 3, 15), 1, 1, hours(1, 6.0, 6.0)),
        TrendPoint(dt.date(2026, 3, 16), dt.date(2026, 3, 22), 0, 0,
                   hours(0, None, None)),
    )  # fmt: skip


def test_the_critical_path_follows_the_predecessor_that_finished_last(
    history: History,
) -> None:
    # A run whose invoice finishes last: the path is invoice <- pack, and ship and
    # store are off it, although they took longer in total.
    o = history.o
    f0 = T0 + dt.timedelta(days=10)  # Thursday 12 March
    run = _run(history.ship, o, f0, due=dt.timedelta(hours=1), title="Run F")
    _complete(run, "pack", o.member, minutes(f0, 60))
    _complete(run, "ship", o.partner, minutes(f0, 120))
    _complete(run, "store", o.member, minutes(f0, 150))
    _complete(run, "invoice", o.member, minutes(f0, 240))  # 3 h > 1 h planned
    scope = history.scope()
    figures = board.dashboard(history.access(), scope, **MARCH, now=NOW)
    by_key = {step.key: step for step in figures.steps}
    assert {key: (step.on_critical_path, step.caused_delay)
            for key, step in by_key.items()} == {
        "pack": (4, 1), "ship": (3, 1), "store": (3, 0), "invoice": (1, 1),
    }  # fmt: skip
    behind = board.runs_behind(history.access(), scope, **MARCH, figure="critical:ship")
    assert behind == [history.c.pk, history.b.pk, history.a.pk]
    behind = board.runs_behind(history.access(), scope, **MARCH, figure="delay:invoice")
    assert behind == [run.pk]
    assert figures.positions == (
        PositionFigure(o.export_staff.pk, "Export clerk", 4, 1),
        PositionFigure(history.keeper.pk, "Warehouse keeper", 3, 0),
        PositionFigure(o.export_head.pk, "Head of export", 1, 1),
    )


def test_the_period_is_read_in_the_organisation_time_zone(history: History) -> None:
    # B completes on 3 March at 21:30 UTC, which is 4 March in Jakarta.
    day = {"start": dt.date(2026, 3, 4), "end": dt.date(2026, 3, 4)}
    scope = history.scope()
    assert board.runs_behind(history.access(), scope, **day, figure="finished") == [
        history.b.pk
    ]
    day = {"start": dt.date(2026, 3, 3), "end": dt.date(2026, 3, 3)}
    assert board.runs_behind(history.access(), scope, **day, figure="finished") == []


def test_a_long_period_trends_by_month(history: History) -> None:
    figures = board.dashboard(
        history.access(), history.scope(), start=dt.date(2026, 1, 15),
        end=dt.date(2026, 6, 30), now=NOW,
    )  # fmt: skip
    # Buckets clipped to the period; April to June have not begun on 20 March.
    assert [(p.start, p.end, p.finished, p.on_time) for p in figures.trend] == [
        (dt.date(2026, 1, 15), dt.date(2026, 1, 31), 0, 0),
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28), 0, 0),
        (dt.date(2026, 3, 1), dt.date(2026, 3, 31), 3, 2),
    ]
    # 63 days: by month; 62 days: by week (Monday to Sunday), clipped.
    assert board.trend_buckets(dt.date(2026, 1, 1), dt.date(2026, 3, 4)) == [
        (dt.date(2026, 1, 1), dt.date(2026, 1, 31)),
        (dt.date(2026, 2, 1), dt.date(2026, 2, 28)),
        (dt.date(2026, 3, 1), dt.date(2026, 3, 4)),
    ]
    weekly = board.trend_buckets(dt.date(2026, 1, 1), dt.date(2026, 3, 3))
    assert len(weekly) == 10
    assert weekly[:2] == [
        (dt.date(2026, 1, 1), dt.date(2026, 1, 4)),  # Thursday to Sunday
        (dt.date(2026, 1, 5), dt.date(2026, 1, 11)),
    ]
    assert weekly[-1] == (dt.date(2026, 3, 2), dt.date(2026, 3, 3))


def test_an_empty_period_has_no_figures(history: History) -> None:
    figures = board.dashboard(
        history.access(), history.scope(), start=dt.date(2026, 2, 1),
        end=dt.date(2026, 2, 28), now=NOW,
    )  # fmt: skip
    assert figures.finished == 0
    assert figures.on_time_rate is None
    assert figures.lead == hours(0, None, None)
    assert (figures.waiting_hours, figures.working_hours) == (0.0, 0.0)
    assert figures.steps == figures.handovers == figures.positions == ()
    assert figures.causes == ()
    assert [point.finished for point in figures.trend] == [0, 0, 0, 0, 0]  # Sun 1st


# --- the figures of a party ----------------------------------------------------------


def test_a_party_sees_its_own_steps_by_name_across_procedures(
    history: History,
) -> None:
    o = history.o
    scope = history.scope("party", o.export.pk)
    figures = board.dashboard(history.access(), scope, **MARCH, now=NOW)
    # A, B, C and D (OTHER's pack is the export clerk's too); D is on time, 3 h.
    assert (figures.finished, figures.on_time) == (4, 3)
    assert figures.lead == hours(4, 6.0, 20.5)  # 3, 6, 8, 20.5: ranks 2 and 4
    assert [(s.key, s.name, s.runs, s.cycle) for s in figures.steps] == [
        ("Pack", "Pack", 4, hours(4, 3.0, 10.0)),  # 2, 3, 4, 10
        ("Invoice", "Invoice", 2, hours(2, 1.0, 2.0)),
    ]
    assert [(s.on_critical_path, s.caused_delay) for s in figures.steps] == [
        (4, 1),
        (0, 0),
    ]
    assert figures.waiting_hours == 1.5  # pack 1, invoice 0.5
    assert figures.working_hours == 20.5  # pack 2 + 3 + 3 + 10, invoice 2.5
    assert [(h.from_party_id, h.to_party_id) for h in figures.handovers] == [
        (o.export.pk, o.forwarder.pk)
    ]
    assert figures.positions == (
        PositionFigure(o.export_staff.pk, "Export clerk", 4, 1),
    )
    assert [cause.cause for cause in figures.causes] == ["transport", "partner"]


def test_a_partner_party_scope(history: History) -> None:
    o = history.o
    scope = history.scope("party", o.forwarder.pk)
    figures = board.dashboard(history.access(), scope, **MARCH, now=NOW)
    assert figures.finished == 3
    assert [(s.key, s.on_critical_path, s.caused_delay) for s in figures.steps] == [
        ("Ship", 3, 1)
    ]
    assert [(h.from_party, h.to_party) for h in figures.handovers] == [
        ("Export", "Fast Forwarding"),
        ("Fast Forwarding", "Warehouse"),
    ]
    assert figures.positions == ()  # the forwarder's step names no position


# --- the runs behind each figure -----------------------------------------------------


def test_the_runs_behind_each_figure_newest_first(history: History) -> None:
    o = history.o
    a, b, c = history.a.pk, history.b.pk, history.c.pk
    scope = history.scope()
    expected = {
        "finished": [c, b, a],
        "late": [b],
        "on_time": [c, a],
        "step:pack": [c, b, a],
        "step:invoice": [b, a],
        "step:nothing": [],
        "critical:store": [c, b, a],
        "critical:invoice": [],
        "delay:pack": [b],
        "delay:store": [],
        f"handover:{o.export.pk}:{o.forwarder.pk}": [c, b, a],
        f"handover:{o.forwarder.pk}:{o.export.pk}": [],
        "handover:none:none": [],
        f"position:{o.export_staff.pk}": [c, b, a],
        f"position:{o.forwarder_ops.pk}": [],
        "cause:transport": [b],
        "cause:other": [],  # C's was withdrawn
        "period:2026-03-01": [],
        "period:2026-03-02": [b, a],
        "period:2026-03-09": [c],
        "period:2026-03-30": [],
    }
    found = {
        figure: board.runs_behind(history.access(), scope, **MARCH, figure=figure)
        for figure in expected
    }
    assert found == expected
    party = history.scope("party", o.export.pk)
    assert board.runs_behind(history.access(), party, **MARCH, figure="step:Pack") == [
        c,
        history.d.pk,
        b,
        a,
    ]


MALFORMED = (
    "",
    "finished:1",
    "lateness",
    "step:",
    "handover:1",
    "handover:1:two",
    "handover::",
    "position:x",
    "cause:weather",
    "period:2026-13-01",
)


def test_a_malformed_figure_is_refused(history: History) -> None:
    refusals = {}
    for figure in MALFORMED:
        with pytest.raises(ValidationFailed) as refused:
            board.runs_behind(history.access(), history.scope(), **MARCH, figure=figure)
        refusals[figure] = refused.value.errors
    assert refusals == {
        figure: {"figure": [f"“{figure}” is not a figure of the dashboard."]}
        for figure in MALFORMED
    }


def test_a_period_figure_must_start_a_trend_bucket(history: History) -> None:
    with pytest.raises(ValidationFailed) as refused:
        board.runs_behind(
            history.access(), history.scope(), **MARCH, figure="period:2026-03-03"
        )
    assert refused.value.errors == {
        "figure": ["No period of the trend starts on that day."]
    }


# --- cost ----------------------------------------------------------------------------


def _queries(history: History, scope: Scope) -> int:
    with CaptureQueriesContext(connection) as captured:
        board.dashboard(history.access(), scope, **MARCH, now=NOW)
    return len(captured.captured_queries)


def test_the_number_of_queries_does_not_grow_with_the_runs(history: History) -> None:
    procedure = history.scope()
    party = history.scope("party", history.o.export.pk)
    # access_for (1) + runs, tasks, dependencies, obstacles, positions, parties.
    assert _queries(history, procedure) == 7
    assert _queries(history, party) == 7
    o = history.o
    for day in range(4):
        origin = T0 + dt.timedelta(days=14 + day)
        run = _run(history.ship, o, origin, due=dt.timedelta(days=3), title="More")
        for key, user in (("pack", o.member), ("invoice", o.member),
                          ("ship", o.partner), ("store", o.member)):  # fmt: skip
            _complete(run, key, user, minutes(origin, 60))
    assert (
        board.dashboard(
            history.access(), procedure, **MARCH, now=NOW + dt.timedelta(days=5)
        ).finished
        == 7
    )
    assert _queries(history, procedure) == 7
    assert _queries(history, party) == 7
