"""The fairness report: the maths (Gini, Lorenz, concentration) without a
database, the report over a hand-built history with exact numbers, who may see
it, and the workbook."""

from __future__ import annotations

import datetime as dt
import io
import zipfile
from decimal import Decimal

import pytest
from openpyxl import load_workbook

from rantai.accounts.access import access_for
from rantai.accounts.models import Role
from rantai.chains.models import Task
from rantai.org import services as org
from rantai.roles import fairness
from rantai.roles.fairness import Pick, concentration, gini, lorenz
from rantai.roles.models import Assignment, AssignmentKind
from rantai.roles.tests import factories
from rantai.roles.tests.factories import START, T0

D = Decimal

# --- Gini -------------------------------------------------------------------------


def test_gini_is_zero_for_nothing_and_for_equal_loads():
    assert gini([]) == D("0.0000")
    assert gini([0, 0, 0]) == D("0.0000")
    assert gini([120, 120, 120, 120]) == D("0.0000")
    assert gini([7]) == D("0.0000")


@pytest.mark.parametrize(
    ("n", "expected"), [(2, "0.5000"), (4, "0.7500"), (8, "0.8750")]
)
def test_gini_is_n_minus_one_over_n_when_one_carries_everything(n, expected):
    assert gini([0] * (n - 1) + [300]) == D(expected)


def test_gini_of_a_mixed_case_computed_by_hand():
    """10, 20, 30, 60: the absolute differences of the 6 pairs are 10, 20, 50, 10,
    40, 30 = 160, so Σᵢ Σⱼ = 320; 2 n² x̄ = 2 × 16 × 30 = 960; G = 1/3."""
    assert gini([60, 10, 30, 20]) == D("0.3333")
    # 1, 2, 3, 4: Σᵢ Σⱼ |xᵢ − xⱼ| = 20, 2 × 16 × 2.5 = 80.
    assert gini([D(4), D(3), D(2), D(1)]) == D("0.2500")


def test_gini_rounds_half_up_to_four_places():
    """401 and 399: Σᵢ Σⱼ |xᵢ − xⱼ| = 2 × 2 = 4, 2 n² x̄ = 2 × 4 × 400 = 3,200,
    G = 0.00125 exactly: 0.0013 half up (banker's rounding would give 0.0012).
    1 and 3: 4 / (2 × 4 × 2) = 0.25."""
    assert gini([401, 399]) == D("0.0013")
    assert gini([1, 3]) == D("0.2500")


def test_gini_refuses_negative_loads():
    with pytest.raises(ValueError, match="negative"):
        gini([10, -1])


# --- Lorenz and concentration ----------------------------------------------------------


def test_lorenz_points_from_the_least_loaded():
    assert lorenz([10, 0, 0, 0]) == (
        (D("0.0000"), D("0.0000")),
        (D("0.2500"), D("0.0000")),
        (D("0.5000"), D("0.0000")),
        (D("0.7500"), D("0.0000")),
        (D("1.0000"), D("1.0000")),
    )
    assert lorenz([30, 10]) == (
        (D("0.0000"), D("0.0000")),
        (D("0.5000"), D("0.2500")),
        (D("1.0000"), D("1.0000")),
    )


def test_lorenz_without_load_is_the_line_of_equality():
    assert lorenz([0, 0]) == (
        (D("0.0000"), D("0.0000")),
        (D("0.5000"), D("0.5000")),
        (D("1.0000"), D("1.0000")),
    )
    assert lorenz([]) == ((D("0.0000"), D("0.0000")),)


def test_concentration_compares_the_favourite_with_uniform_picks():
    """Assigner 1 picked person 7 four times of five, each time among 4
    candidates: share 0.8 against 0.25 expected, ratio 3.2, flagged. Assigner 2
    picked evenly among 2: share 0.5 = expected, ratio 1."""
    picks = [Pick(1, 7, 4)] * 4 + [Pick(1, 8, 4)] + [Pick(2, 5, 2), Pick(2, 6, 2)]
    first, second = concentration(picks)
    assert first == fairness.ConcentrationFigure(
        assigner_id=1,
        picks=5,
        top_person_id=7,
        top_picks=4,
        share=D("0.8000"),
        expected_share=D("0.2500"),
        ratio=D("3.20"),
        flagged=True,
    )
    assert (second.top_person_id, second.share, second.expected_share) == (
        5,  # a tie goes to the smallest person id
        D("0.5000"),
        D("0.5000"),
    )
    assert (second.ratio, second.flagged) == (D("1.00"), False)


def test_concentration_is_not_flagged_below_five_picks():
    (figure,) = concentration([Pick(3, 9, 5)] * 4)
    assert (figure.ratio, figure.flagged) == (D("5.00"), False)
    (figure,) = concentration([Pick(3, 9, 5)] * 5)
    assert figure.flagged is True


def test_expected_share_is_the_mean_of_one_over_the_pool():
    """Pools of 2 and 4: (1/2 + 1/4) / 2 = 0.375."""
    (figure,) = concentration([Pick(1, 5, 2), Pick(1, 5, 4)])
    assert (figure.share, figure.expected_share, figure.ratio) == (
        D("1.0000"),
        D("0.3750"),
        D("2.67"),
    )


# --- the report -----------------------------------------------------------------------


def _record(task, *, person, kind, at, minutes=None, by=None, override=False, pool=()):
    return Assignment.objects.create(
        organisation_id=task.organisation_id,
        task=task,
        position_id=task.responsible_position_id,
        person=person,
        kind=kind,
        minutes=task.duration_minutes if minutes is None else minutes,
        is_override=override,
        reason="urgent" if override else "",
        assigned_by=by,
        candidates=[
            {"person": p.pk, "covers_duty": True, "available": True, "eligible": True}
            for p in pool
        ],
        created_at=at,
    )


@pytest.fixture
def history(db):
    """Clerks Ani, Budi (already holding the clerk position) and Citra; Dodi
    joins on 10 March. A run of eight one-hour clerk tasks; the Head of export
    (Rina) assigns by hand. Joko, of the forwarder (a partner), never appears. Assignments (all of 480 minutes unless said):

    * t1 Ani automatic (2 Mar), then t1 Citra manual by Rina (3 Mar): counts for
      Citra only;
    * t2, t3 Ani automatic; t4 Budi automatic (240 minutes);
    * t5, t6, t7 Ani manual by Rina (t7 an override), t8 Budi manual by the admin;
    * before the period: t2 Budi automatic (27 Feb, superseded anyway).
    """
    o = factories.organisation()
    clerk = org.update_position(
        o.export_staff, actor=o.admin, expected_version=None, max_holders=5
    )
    ani = factories.person(o, "ani", login=False)
    citra = factories.person(o, "citra", login=False)
    dodi = factories.person(o, "dodi", login=False)
    factories.hold(o, clerk, ani)
    factories.hold(o, clerk, citra)
    factories.hold(o, clerk, dodi, start=dt.date(2026, 3, 10))
    steps = [
        factories.StepRow(f"t{n}", responsible=clerk, accountable=o.export_head)
        for n in range(1, 9)
    ]
    version = factories.procedure(o, steps)
    with factories.assigning_registry():
        run = factories.start_run(version, actor=o.admin)
    Assignment.objects.filter(task__run=run).delete()
    tasks = {task.key: task for task in Task.objects.filter(run=run)}
    budi = o.budi
    rina = o.member  # holds the Head of export
    day = dt.timedelta(days=1)
    pool = [ani, budi, citra]
    auto = AssignmentKind.AUTOMATIC
    manual = AssignmentKind.MANUAL
    _record(tasks["t2"], person=budi, kind=auto, at=T0 - 3 * day)
    _record(tasks["t1"], person=ani, kind=auto, at=T0)
    _record(tasks["t1"], person=citra, kind=manual, at=T0 + day, by=rina, pool=pool)
    _record(tasks["t2"], person=ani, kind=auto, at=T0)
    _record(tasks["t3"], person=ani, kind=auto, at=T0)
    _record(tasks["t4"], person=budi, kind=auto, at=T0, minutes=240)
    for key in ("t5", "t6"):
        _record(tasks[key], person=ani, kind=manual, at=T0 + day, by=rina, pool=pool)
    _record(
        tasks["t7"],
        person=ani,
        kind=manual,
        at=T0 + day,
        by=rina,
        override=True,
        pool=[budi, citra],
    )
    _record(tasks["t8"], person=budi, kind=manual, at=T0 + day, by=o.admin, pool=pool)
    return o, {"ani": ani, "budi": budi, "citra": citra, "dodi": dodi}


def test_report_over_a_hand_built_history(history):
    """Loads (newest assignment per task in 2–6 March): Ani t2 t3 t5 t6 t7 = 5 ×
    480 = 2,400; Budi t4 240 + t8 480 = 720; Citra t1 480; Dodi holds from 10
    March, inside the period → 0. Gini of 2400, 720, 480, 0 (sorted 0, 480,
    720, 2400; Σ = 3600, Σ i·x = 480·2 + 720·3 + 2400·4 = 12,720):
    2·12720 / (4·3600) − 5/4 = 1.7667 − 1.25 = 0.5167."""
    o, _people = history
    built = fairness.report(
        o.organisation, since=dt.date(2026, 3, 2), until=dt.date(2026, 3, 10)
    )
    clerk = o.export_staff
    loads = {
        (row.person_name, row.position_code): (row.tasks, row.minutes)
        for row in built.rows
    }
    assert loads == {
        ("Ani", "EXP-CLERK"): (5, 2400),
        ("Budi Santoso", "EXP-CLERK"): (2, 720),
        ("Citra", "EXP-CLERK"): (1, 480),
        ("Dodi", "EXP-CLERK"): (0, 0),
        ("Rina Kusuma", "EXP-HEAD"): (0, 0),
    }
    assert built.assignments == 8
    assert [(p.person_name, p.minutes) for p in built.people] == [
        ("Ani", 2400),
        ("Budi Santoso", 720),
        ("Citra", 480),
        ("Dodi", 0),
        ("Rina Kusuma", 0),
    ]
    # Five people (Rina with nothing): sorted 0, 0, 480, 720, 2400; Σ i·x =
    # 480·3 + 720·4 + 2400·5 = 16,320; 2·16320 / (5·3600) − 6/5 = 0.6133.
    assert built.gini == D("0.6133")
    (spread,) = [p for p in built.positions if p.position_id == clerk.pk]
    assert (spread.people, spread.tasks, spread.minutes, spread.gini) == (
        4,
        8,
        3600,
        D("0.5167"),
    )
    rina, admin = o.member, o.admin
    assert [
        (line.assigner_id, line.manual, line.overrides, line.share)
        for line in built.overrides
    ] == sorted([(rina.pk, 4, 1, D("0.2500")), (admin.pk, 1, 0, D("0.0000"))])
    by_assigner = {figure.assigner_id: figure for figure in built.concentration}
    # Rina: Citra once, Ani three times; pools 3, 3, 3 and (Budi, Citra) + Ani
    # = 3: expected 1/3; share 3/4; ratio 2.25; only 4 picks: not flagged.
    figure = by_assigner[rina.pk]
    assert (
        figure.picks,
        figure.top_person_name,
        figure.top_picks,
        figure.share,
        figure.expected_share,
        figure.ratio,
        figure.flagged,
    ) == (4, "Ani", 3, D("0.7500"), D("0.3333"), D("2.25"), False)
    assert built.lorenz[-1] == (D("1.0000"), D("1.0000"))
    assert len(built.lorenz) == 6


def test_report_of_a_unit_counts_only_its_positions(history):
    o, _people = history
    other = factories.unit(o, name="Finance", code="FIN")
    built = fairness.report(
        o.organisation, since=dt.date(2026, 3, 2), until=dt.date(2026, 3, 6), unit=other
    )
    assert (built.rows, built.people, built.gini, built.assignments) == (
        (),
        (),
        D("0.0000"),
        0,
    )
    export = fairness.report(
        o.organisation,
        since=dt.date(2026, 3, 2),
        until=dt.date(2026, 3, 6),
        unit=o.export,
    )
    # Dodi starts on 10 March, after this period: not a holder in it.
    assert {row.person_name for row in export.rows} == {
        "Ani",
        "Budi Santoso",
        "Citra",
        "Rina Kusuma",
    }
    assert export.unit_name == o.export.name


def test_report_period_excludes_earlier_and_later_assignments(history):
    """Only 2 March: t1 (Ani, then re-assigned on the 3rd: not in this period, so
    Ani's automatic one counts), t2, t3 Ani, t4 Budi."""
    o, _people = history
    built = fairness.report(
        o.organisation, since=dt.date(2026, 3, 2), until=dt.date(2026, 3, 2)
    )
    loads = {row.person_name: (row.tasks, row.minutes) for row in built.rows}
    assert loads["Ani"] == (3, 1440)
    assert loads["Budi Santoso"] == (1, 240)
    assert loads["Citra"] == (0, 0)
    assert built.overrides == ()
    assert built.concentration == ()


# --- who may see it -----------------------------------------------------------------


def test_admins_and_auditors_see_every_report_members_their_units(db):
    o = factories.organisation()
    org.update_party(
        o.export, actor=o.admin, expected_version=None, head_position=o.export_head
    )
    slug = o.organisation.slug
    sub = factories.unit(o, name="Export documents", code="EXP-DOC", parent=o.export)
    assert fairness.may_view(access_for(o.admin, slug)) is True
    assert fairness.may_view(access_for(o.auditor, slug), unit=o.export) is True
    head = access_for(o.member, slug)  # Rina holds the Head of export
    assert fairness.may_view(head, unit=o.export, on=START) is True
    assert fairness.may_view(head, unit=sub, on=START) is True  # below hers
    assert fairness.may_view(head, unit=o.head_office, on=START) is False
    assert fairness.may_view(head) is False  # the whole organisation
    assert fairness.may_view(access_for(o.partner, slug), unit=o.export) is False
    clerk = factories.person(o, "eko", role=Role.MEMBER)
    factories.hold(o, o.export_staff, clerk)
    assert (
        fairness.may_view(access_for(clerk.user, slug), unit=o.export, on=START)
        is False
    )


# --- the workbook -------------------------------------------------------------------


def test_workbook_has_every_part_and_names_are_never_formulas(history):
    o, people = history
    citra = people["citra"]
    citra.full_name = '=HYPERLINK("http://evil")'
    citra.save(update_fields=["full_name"])
    built = fairness.report(
        o.organisation, since=dt.date(2026, 3, 2), until=dt.date(2026, 3, 10)
    )
    data = fairness.to_excel(built, language="en")
    workbook = load_workbook(io.BytesIO(data))
    assert workbook.sheetnames == [
        "Summary",
        "Loads",
        "People",
        "Positions",
        "Overrides",
        "Concentration",
        "Lorenz curve",
    ]
    loads = workbook["Loads"]
    assert [cell.value for cell in loads[1]] == [
        "person",
        "position code",
        "position",
        "tasks",
        "minutes",
    ]
    values = [[cell.value for cell in row] for row in loads.iter_rows(min_row=2)]
    assert [
        '\'=HYPERLINK("http://evil")',
        "EXP-CLERK",
        "Export clerk",
        1,
        480,
    ] in values
    assert all(
        not (isinstance(v, str) and v.startswith("=")) for row in values for v in row
    )
    summary = {row[0].value: row[1].value for row in workbook["Summary"].iter_rows()}
    assert summary["Gini coefficient of minutes per person"] == pytest.approx(0.6133)
    assert summary["Tasks counted"] == 8
    with zipfile.ZipFile(io.BytesIO(data)) as package:
        charts = sorted(n for n in package.namelist() if n.startswith("xl/charts/"))
    assert charts == ["xl/charts/chart1.xml", "xl/charts/chart2.xml"]
