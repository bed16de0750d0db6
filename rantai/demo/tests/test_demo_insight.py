"""Targets, the owner's dashboard and search in the demo (docs/user-guide/targets.md,
dashboard.md, search.md): the quarter's target of shipments to Kota A is at risk
because of the forwarder's delayed truck in the Kota A run, four months of
generated shipments fill the dashboard of the shipment procedure, and search
finds the run and its obstacle for the people who may see them, and only them."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import Counter
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from rantai.accounts.access import access_for
from rantai.accounts.models import Organisation, User
from rantai.chains.models import (
    Procedure,
    Run,
    RunResult,
    RunStatus,
    ScheduleStatus,
    Target,
    TargetStatus,
)
from rantai.core.errors import NotFound
from rantai.demo import history, loader
from rantai.demo.tests.helpers import history_bells
from rantai.evidence.models import Citation, CitingKind
from rantai.insight import dashboard, search
from rantai.insight import queries as insight_queries
from rantai.insight import targets as progress_of
from rantai.notifications.models import Notification
from rantai.obstacles.models import (
    Obstacle,
    ObstacleStatus,
    Review,
    ReviewStatus,
)
from rantai.org.models import Party

pytestmark = pytest.mark.django_db

ZONE = zoneinfo.ZoneInfo("Asia/Jakarta")


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[Organisation]:  # type: ignore[no-untyped-def]
    """The demo, loaded once for the module: its tests only read it. It lives in
    an outer transaction that is rolled back afterwards, so no other test sees
    it."""
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            yield loader.load()
        finally:
            transaction.set_rollback(True)


def access(username: str):  # type: ignore[no-untyped-def]
    return access_for(User.objects.get(username=username), loader.DEMO_SLUG)


def kota_a() -> Run:
    return Run.objects.get(
        organisation__slug=loader.DEMO_SLUG, title="Ship 500 units to Kota A"
    )


def the_obstacle() -> Obstacle:
    return Obstacle.objects.get(run=kota_a())


def history_runs(demo: Organisation) -> list[Run]:
    return list(
        Run.objects.filter(organisation=demo, title__contains="(order KA-").order_by(
            "started_at", "id"
        )
    )


def quarter_of(day: dt.date) -> tuple[dt.date, dt.date]:
    first = dt.date(day.year, (day.month - 1) // 3 * 3 + 1, 1)
    after = dt.date(first.year + (first.month == 10), (first.month + 2) % 12 + 1, 1)
    return first, after - dt.timedelta(days=1)


# --- the quarter's targets ---------------------------------------------------------


def test_the_quarter_has_an_organisation_target_with_the_export_unit_s_share(demo):
    today = timezone.localdate()
    parent = Target.objects.get(organisation=demo, parent__isnull=True)
    [child] = Target.objects.filter(organisation=demo, parent=parent)
    start, end = quarter_of(today)
    due_day = kota_a().due_at.astimezone(ZONE).date()  # type: ignore[union-attr]
    if due_day > end:  # loaded in the last weeks of a quarter
        end = quarter_of(due_day)[1]

    assert Target.objects.filter(organisation=demo).count() == 2
    assert (parent.period_start, parent.period_end) == (start, end)
    assert parent.period_start <= today <= parent.period_end
    assert parent.name.startswith("Shipments to Kota A — Q")
    assert (
        parent.party,
        parent.owner_position.code,
        parent.measure_unit,
        parent.is_active,
    ) == (None, "MKT-HEAD", "units", True)
    assert child.name.startswith("Large shipments to Kota A — Q")
    assert child.party is not None and child.party.code == "EXP"
    assert (child.owner_position.code, child.measure_unit) == ("EXP-HEAD", "units")
    assert (child.period_start, child.period_end) == (start, end)
    # the large shipments under way count toward the export unit's share
    assert sorted(
        Run.objects.filter(target=child).values_list("title", "measure_quantity")
    ) == [
        ("Ship 500 units to Kota A", Decimal("500.00")),
        ("Ship 800 units to Kota A", Decimal("800.00")),
    ]
    assert child.measure_quantity == Decimal("1300.00")
    # every shipment finished in the period counts toward the organisation's
    completed = [
        run
        for run in Run.objects.filter(
            organisation=demo, procedure__code="SHIP", status=RunStatus.COMPLETED
        )
        if start <= run.completed_at.astimezone(ZONE).date() <= end  # type: ignore[union-attr]
    ]
    assert completed
    assert set(Run.objects.filter(target=parent)) == set(completed)


def test_the_target_is_at_risk_because_of_the_kota_a_obstacle(demo):
    parent = Target.objects.get(organisation=demo, parent__isnull=True)
    run, obstacle = kota_a(), the_obstacle()
    assert run.schedule_status == ScheduleStatus.AT_RISK
    assert obstacle.status == ObstacleStatus.OPEN

    progress = progress_of.progress(access("rina"), parent)

    assert progress.status == TargetStatus.AT_RISK
    # the figures, from the runs themselves
    completed = Run.objects.filter(target=parent, status=RunStatus.COMPLETED)
    assert progress.actual == sum(r.actual_quantity for r in completed)
    large = {r.title: r for r in Run.objects.filter(target__parent=parent)}
    secure = large["Ship 800 units to Kota A"]
    assert secure.schedule_status == ScheduleStatus.ON_TRACK
    assert (progress.secure, progress.at_risk, progress.after_period) == (
        secure.measure_quantity,
        run.measure_quantity,
        Decimal("0.00"),
    )
    projected = progress.actual + progress.secure + progress.at_risk
    # what every run delivers as projected, rounded down to a hundred ...
    assert parent.measure_quantity == int(projected) // 100 * 100
    # ... so that it is met with the Kota A run, and cannot be without it
    assert progress.actual + progress.secure < parent.measure_quantity <= projected
    assert projected - run.measure_quantity < parent.measure_quantity
    assert progress.shortfall == Decimal("0.00")
    # the explanation names the run and the obstacle that causes it
    [line] = progress.risky_runs
    assert (line.run_id, line.reason) == (run.pk, "at_risk")
    assert [(o.id, o.title) for o in line.obstacles] == [
        (obstacle.pk, loader.OBSTACLE_TITLE)
    ]
    assert any(
        run.title in text and loader.OBSTACLE_TITLE in text
        for text in progress.explanation
    )
    # the export unit's share is at risk for the same reason
    [child] = progress.children
    assert child.status == TargetStatus.AT_RISK
    share = progress_of.progress(access("rina"), child.target)
    assert (share.status, share.actual, share.secure, share.at_risk) == (
        TargetStatus.AT_RISK,
        Decimal("0.00"),
        Decimal("800.00"),
        Decimal("500.00"),
    )
    assert [r.run_id for r in share.risky_runs] == [run.pk]


def test_a_partner_sees_the_target_its_work_contributes_to(demo):
    parent = Target.objects.get(organisation=demo, parent__isnull=True)

    visible = insight_queries.targets(access("joko"))
    progress = progress_of.progress(access("joko"), parent)

    # the forwarder takes part in the shipments that count toward both targets
    assert set(visible) == set(Target.objects.filter(organisation=demo))
    # the same status and figures, and the Kota A run, whose pickup is his
    assert progress.status == TargetStatus.AT_RISK
    assert [line.title for line in progress.risky_runs] == [kota_a().title]


def test_the_period_covers_the_kota_a_run_whatever_day_the_demo_is_loaded(demo):
    organisation = Organisation.objects.get(slug=loader.DEMO_SLUG)
    cases = [
        # (load date, Kota A due date) → (period start, end, label)
        (
            dt.date(2026, 11, 28),
            dt.date(2026, 12, 14),
            (dt.date(2026, 10, 1), dt.date(2026, 12, 31), "Q4 2026"),
        ),
        (
            dt.date(2026, 1, 2),
            dt.date(2026, 1, 16),
            (dt.date(2026, 1, 1), dt.date(2026, 3, 31), "Q1 2026"),
        ),
        (
            dt.date(2026, 12, 22),
            dt.date(2027, 1, 5),
            (dt.date(2026, 10, 1), dt.date(2027, 3, 31), "Q4 2026 – Q1 2027"),
        ),
        (
            dt.date(2026, 6, 20),
            dt.date(2026, 7, 3),
            (dt.date(2026, 4, 1), dt.date(2026, 9, 30), "Q2 2026 – Q3 2026"),
        ),
    ]
    for today, due, expected in cases:
        now = dt.datetime.combine(today, dt.time(10), tzinfo=ZONE)
        run = Run(due_at=dt.datetime.combine(due, dt.time(16), tzinfo=ZONE))

        assert loader.target_period(organisation, run, now=now) == expected, today


# --- four months of history and the dashboard ----------------------------------------


def test_the_history_is_generated_deterministically(demo):
    now = timezone.now()
    runs = history_runs(demo)
    plans = history.plans(demo, now=now)

    assert 40 <= len(runs) <= 80
    assert [p.number for p in plans] == [
        history.FIRST_ORDER + i for i in range(len(plans))
    ]
    assert [r.title for r in runs] == [
        history.HISTORY_TITLE.format(quantity=p.quantity, number=p.number)
        for p in plans
    ]
    # the same seed and day give the same plan
    again = history.plans(demo, now=now)
    assert [(p.quantity, p.started_at, p.steps) for p in again] == [
        (p.quantity, p.started_at, p.steps) for p in plans
    ]
    # over about four months, all finished before today
    assert all(r.status == RunStatus.COMPLETED for r in runs)
    assert runs[0].started_at < now - dt.timedelta(days=110)
    assert all(r.completed_at < now - dt.timedelta(days=2) for r in runs)  # type: ignore[operator]
    # worth less than the value limit: the export manager's approval is skipped
    assert all(
        Decimal(r.field_values["shipment_value"]) <= loader.APPROVAL_THRESHOLD
        for r in runs
    )


def test_late_history_runs_have_completed_reviews_and_obstacles_were_resolved(demo):
    runs = history_runs(demo)
    late = [r for r in runs if r.result == RunResult.MISSED]

    # a few: four to eight in a hundred-odd working days
    assert 4 <= len(late) <= len(runs) // 5
    reviews = Review.objects.filter(run__in=runs)
    assert {r.run_id for r in reviews} == {r.pk for r in late}
    assert set(reviews.values_list("status", flat=True)) == {ReviewStatus.COMPLETED}
    raised = Obstacle.objects.filter(run__in=runs)
    assert raised.count() >= 3
    assert set(raised.values_list("status", flat=True)) == {ObstacleStatus.RESOLVED}
    assert all(o.resolution for o in raised)
    # each resolved on a record with evidence (cited by its resolution)
    assert (
        Citation.objects.filter(
            citing_kind=CitingKind.OBSTACLE_RESOLUTION,
            citing_id__in=raised.values("pk"),
        ).count()
        == raised.count()
    )
    assert len(set(raised.values_list("cause", flat=True))) >= 2
    # everyone read the bells of the history
    bells = history_bells(demo, Notification.objects.filter(organisation=demo))
    assert len(bells) > len(runs)
    assert all(bell.read_at is not None for bell in bells)


def the_dashboard(demo: Organisation, username: str = "rina"):  # type: ignore[no-untyped-def]
    today = timezone.localdate()
    procedure = Procedure.objects.get(organisation=demo, code="SHIP")
    who = access(username)
    scope = dashboard.scope_for(who, dashboard.ScopeKind.PROCEDURE, procedure.pk)
    start = today - dt.timedelta(days=122)
    return who, scope, start, today


def test_the_dashboard_of_the_shipment_procedure_shows_the_last_four_months(demo):
    who, scope, start, end = the_dashboard(demo)
    finished = [
        run
        for run in Run.objects.filter(
            organisation=demo, procedure__code="SHIP", status=RunStatus.COMPLETED
        )
        if start <= run.completed_at.astimezone(ZONE).date() <= end  # type: ignore[union-attr]
    ]
    late = {r.pk for r in finished if r.result == RunResult.MISSED}

    figures = dashboard.dashboard(who, scope, start=start, end=end)

    # the history and the story's finished run that missed its target
    assert len(finished) == len(history_runs(demo)) + 1
    assert figures.finished == len(finished)
    assert figures.finished - figures.on_time == len(late) >= 4
    assert set(
        dashboard.runs_behind(who, scope, start=start, end=end, figure="late")
    ) == (late)
    assert figures.lead.median_hours is not None
    assert figures.lead.p90_hours is not None
    assert figures.lead.p90_hours >= figures.lead.median_hours
    # by month: at least four months with finished runs
    assert sum(point.finished for point in figures.trend) == figures.finished
    assert len([point for point in figures.trend if point.finished]) >= 4
    # the handovers between the parties of the chain, one per finished run
    handovers = {(h.from_party, h.to_party): h.wait for h in figures.handovers}
    assert set(handovers) == {
        ("Produksi", "Gudang"),
        ("Ekspor", "Gudang"),
        ("Gudang", "PT Ekspedisi Cepat"),
        ("PT Ekspedisi Cepat", "PT Sumber Rezeki (Kota A)"),
    }
    assert {wait.count for wait in handovers.values()} == {figures.finished}
    # some trucks came a day or more after the shipment was scheduled
    to_forwarder = handovers[("Gudang", "PT Ekspedisi Cepat")]
    assert to_forwarder.p90_hours is not None and to_forwarder.median_hours is not None
    assert to_forwarder.p90_hours >= 24 > to_forwarder.median_hours
    # the critical path runs through production, the warehouse, the forwarder
    # and the customer; production caused delay in late runs
    steps = {step.key: step for step in figures.steps}
    assert steps["produce"].on_critical_path == figures.finished
    assert steps["produce"].caused_delay >= 1
    # skipped by its condition (every shipment below the value limit): left out
    assert "approve-shipment" not in steps
    # the obstacles raised on the history runs, by cause
    raised = Counter(
        Obstacle.objects.filter(run__in=finished).values_list("cause", flat=True)
    )
    assert {c.cause: c.count for c in figures.causes} == dict(raised)


def test_the_forwarder_s_dashboard_shows_its_step_and_its_handovers(demo):
    who, scope, start, end = the_dashboard(demo)
    forwarder = Party.objects.get(organisation=demo, code="FWD")
    party = dashboard.scope_for(who, dashboard.ScopeKind.PARTY, forwarder.pk)

    figures = dashboard.dashboard(who, party, start=start, end=end)

    # every shipment had its pickup; only the party's own step counts, by name
    assert figures.finished == (
        dashboard.dashboard(who, scope, start=start, end=end).finished
    )
    assert [step.name for step in figures.steps] == [
        "Penjemputan oleh forwarder (forwarder pickup)"
    ]
    assert {(h.from_party, h.to_party) for h in figures.handovers} == {
        ("Gudang", "PT Ekspedisi Cepat"),
        ("PT Ekspedisi Cepat", "PT Sumber Rezeki (Kota A)"),
    }


def test_a_partner_has_no_dashboard(demo):
    procedure = Procedure.objects.get(organisation=demo, code="SHIP")

    for username in ("joko", "lina"):
        with pytest.raises(NotFound):
            dashboard.scope_for(
                access(username), dashboard.ScopeKind.PROCEDURE, procedure.pk
            )


# --- search ---------------------------------------------------------------------------


def test_search_finds_the_kota_a_run_and_its_obstacle_for_budi(demo):
    run, obstacle = kota_a(), the_obstacle()
    budi = access("budi")

    runs = search.search(budi, "Ship 500 units Kota A", kinds=["run"])
    truck = search.search(budi, "truck delayed")

    assert ("run", run.pk) in [(h.kind, h.object_id) for h in runs.hits]
    assert runs.hits[0].object_id == run.pk
    assert ("obstacle", obstacle.pk) in [(h.kind, h.object_id) for h in truck.hits]
    hit = next(h for h in truck.hits if h.object_id == obstacle.pk)
    assert hit.title == loader.OBSTACLE_TITLE
    assert "<mark>" in hit.snippet


def test_search_does_not_show_the_customer_the_forwarder_s_obstacle(demo):
    lina = access("lina")
    obstacle = the_obstacle()

    found = search.search(lina, "truck delayed")
    kota = search.search(lina, "Kota A", limit=100)

    # no hit, no count, no snippet of the forwarder's obstacle or records
    assert (found.total, found.counts, found.hits) == (0, {}, ())
    assert "obstacle" not in kota.counts and "record" not in kota.counts
    assert "review" not in kota.counts
    assert obstacle.pk not in [h.object_id for h in kota.hits if h.kind == "obstacle"]
    # the runs she takes part in, she finds
    assert ("run", kota_a().pk) in [(h.kind, h.object_id) for h in kota.hits]


def test_the_pages_of_the_target_dashboard_and_search_open(client, demo):
    client.force_login(User.objects.get(username="budi"))
    parent = Target.objects.get(organisation=demo, parent__isnull=True)

    target_page = client.get(reverse("target-detail", args=[demo.slug, parent.pk]))
    found = client.get(reverse("search", args=[demo.slug]), {"q": "truck delayed"})

    assert target_page.status_code == 200
    assert kota_a().title in target_page.content.decode()
    assert found.status_code == 200
    assert loader.OBSTACLE_TITLE.replace("'", "&#x27;") in found.content.decode()
