"""The target pages: the targets as a tree with their progress bars and statuses,
filtered by period; a target's page with its figures and the explanation that
leads, run by run, to the obstacles holding them up; creating, changing and
deactivating a target (the service's errors on the fields, a stale page answering
409); the run's "contributes to" (on starting a run and on the run's page); the
focus page's targets — per role, with partners seeing only what is theirs, and
a fixed number of queries.

The world is `rantai.obstacles.tests.factories.world()`, started again now
(`test_obstacle_pages.live`): the run "Ship 300 units to Kota B" of SHIP (pack by
the export clerks, ship by the forwarder, store by the warehouse), owned by the
Head of export (Rina, the member), due in six working days with two of slack.
Joko is the forwarder's partner login (his party takes part in the run), Olga a
partner of another carrier (hers takes no part).

The targets, unless a test says otherwise (`Targets`): "Kota B this quarter"
(1,000 units, the whole organisation, owned by the Head of export, a period
around today) and under it "Kota B, first batch" (300 units); the run counts
toward the first batch.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from dataclasses import dataclass
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rantai.audit.models import AuditEvent
from rantai.chains import services as chains
from rantai.chains import targets as target_services
from rantai.chains.models import Run, ScheduleStatus, Target
from rantai.obstacles.models import Obstacle
from rantai.obstacles.tests import factories
from rantai.obstacles.tests.factories import World
from rantai.roles.tests import factories as f
from rantai.web.tests.test_obstacle_pages import live
from rantai.web.tests.test_procedure_pages import assert_csp_clean

pytestmark = pytest.mark.django_db

CONFLICT = (
    "This record was changed by someone else in the meantime. Reload it and try again."
)


@dataclass
class Targets:
    w: World
    quarter: Target
    batch: Target
    today: dt.date

    @property
    def run(self) -> Run:
        return self.w.run


def today_of(w: World) -> dt.date:
    return timezone.now().astimezone(zoneinfo.ZoneInfo("Asia/Jakarta")).date()


def make_target(w: World, name: str, quantity: int, **fields: object) -> Target:
    """A target through the service (by the administrator), owned by the Head
    of export, of a period around today unless told."""
    today = today_of(w)
    values: dict[str, object] = {
        "measure_unit": "units",
        "period_start": today - dt.timedelta(days=30),
        "period_end": today + dt.timedelta(days=60),
        "owner_position": w.o.export_head,
        **fields,
    }
    return target_services.create_target(
        w.organisation,
        actor=w.admin,
        name=name,
        measure_quantity=quantity,
        **values,  # type: ignore[arg-type]
    )


def point(run: Run, target: Target | None, w: World) -> Run:
    run.refresh_from_db()
    return target_services.set_run_target(
        run, actor=w.admin, expected_version=run.version, target=target
    )


@pytest.fixture
def t() -> Targets:
    w = live(factories.world())
    quarter = make_target(w, "Kota B this quarter", 1000)
    batch = make_target(w, "Kota B, first batch", 300, parent=quarter)
    point(w.run, batch, w)
    return Targets(w, quarter, batch, today_of(w))


def url(name: str, t: Targets | World, *args: object) -> str:
    return reverse(name, args=["acme", *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def section(html: str, title_id: str) -> str:
    """The <section> labelled by the heading `title_id`."""
    start = html.index(f'aria-labelledby="{title_id}"')
    return html[start : html.index("</section>", start)]


def field_errors(html: str, name: str) -> list[str]:
    """The errors a form shows next to its field `name`."""
    block = html.split(f'<div data-field="{name}"', 1)[1].split("<div data-field=")[0]
    if 'class="errorlist"' not in block:
        return []
    listed = block.split('class="errorlist"', 1)[1].split("</ul>", 1)[0]
    return re.findall(r"<li>([^<]+)</li>", listed)


def events() -> list[int]:
    return list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))


def targets_snapshot() -> list[tuple]:
    return list(Target.objects.order_by("pk").values_list())


def count_queries(client, page: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        response = client.get(page)
    assert response.status_code == 200
    return len(queries)


def tree_names(html: str) -> list[str]:
    """The target names of a tree, in document order."""
    return re.findall(
        r'<a href="/o/acme/targets/\d+/"><strong>([^<]+)</strong></a>', html
    )


def node_of(html: str, target: Target) -> str:
    """One target's card in the tree (without its sub-targets)."""
    start = html.index(f'id="target-{target.pk}"')
    rest = html[start:]
    return re.split(r'<ul class="tree">|</li>', rest, maxsplit=1)[0]


def at_risk(t: Targets, *, delay: int = 600) -> Obstacle:
    """Rina raises an obstacle on "pack": more than a working day of delay puts
    the run at risk."""
    obstacle = factories.make_obstacle(
        t.w,
        task=t.w.task("pack"),
        title="The cartons have not arrived",
        delay=delay,
        now=timezone.now(),
    )
    t.run.refresh_from_db()
    assert t.run.schedule_status == ScheduleStatus.AT_RISK
    return obstacle


# --- the list -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "auditor"])
def test_the_list_shows_the_tree_with_progress_and_status(client, t, role):
    client.force_login(getattr(t.w.o, role))

    response = client.get(url("target-list", t))

    assert response.status_code == 200
    html = text(response)
    assert tree_names(html) == ["Kota B this quarter", "Kota B, first batch"]
    # the batch sits in the quarter's sub-tree
    quarter = html.split(f'id="target-{t.quarter.pk}"', 1)[1]
    assert f'id="target-{t.batch.pk}"' in quarter.split('<ul class="tree">', 1)[1]
    # 300 on track of the batch's 300: on track; the quarter lacks 700
    batch = node_of(html, t.batch)
    assert 'class="badge badge-schedule-on_track">on track<' in batch
    assert "0 of 300 units done (0%) · 300 on track" in batch
    assert 'class="target-bar-secure"' in batch
    assert 'class="target-bar-actual"' not in batch
    quarter = node_of(html, t.quarter)
    assert 'class="badge badge-schedule-at_risk">at risk<' in quarter
    assert "0 of 1,000 units done (0%) · 300 on track" in quarter
    assert "Nothing under way covers the remaining 700 units." in quarter
    assert "1 target" not in html and "2 targets" in html
    assert '<a href="/o/acme/targets/" aria-current="page">Targets</a>' in html
    assert_csp_clean(response)


def test_the_bar_shows_done_secure_and_at_risk_in_proportion(client, t):
    """The quarter: 300 at risk of 1,000 (the run's obstacle), nothing done."""
    at_risk(t)
    client.force_login(t.w.admin)

    quarter = node_of(text(client.get(url("target-list", t))), t.quarter)

    # 260 pixels for 1,000 units: 300 at risk are 78 pixels, hatched
    assert re.search(
        r'<rect class="target-bar-at-risk" x="0" y="0" width="78" height="14" '
        r'fill="url\(#target-bar-\d+-hatch\)"/>',
        quarter,
    )
    assert "target-bar-secure" not in quarter
    assert "0 of 1,000 units done (0%) · " in quarter
    assert '<span class="warning-text">300 at risk</span>' in quarter


def test_the_period_filter(client, t):
    today = t.today
    make_target(
        t.w,
        "Last year",
        50,
        period_start=today - dt.timedelta(days=400),
        period_end=today - dt.timedelta(days=300),
    )
    make_target(
        t.w,
        "Next year",
        70,
        period_start=today + dt.timedelta(days=300),
        period_end=today + dt.timedelta(days=400),
    )
    client.force_login(t.w.o.member)
    page = url("target-list", t)

    assert tree_names(text(client.get(page))) == [
        "Kota B this quarter",
        "Kota B, first batch",
    ]
    past = text(client.get(page + "?period=past"))
    assert tree_names(past) == ["Last year"]
    assert 'badge-result-missed">missed<' in past
    assert "The period ended 50 units short of the target." in past
    assert tree_names(text(client.get(page + "?period=upcoming"))) == ["Next year"]
    assert tree_names(text(client.get(page + "?period=all"))) == [
        "Last year",
        "Kota B this quarter",
        "Kota B, first batch",
        "Next year",
    ]
    # an unknown period is the current one, not an error
    assert tree_names(text(client.get(page + "?period=someday"))) == [
        "Kota B this quarter",
        "Kota B, first batch",
    ]
    # the htmx filter answers the results only
    partial = client.get(
        page + "?period=past", HTTP_HX_REQUEST="true", HTTP_HX_TARGET="target-results"
    )
    assert text(partial).lstrip().startswith('<div id="target-results">')
    assert tree_names(text(partial)) == ["Last year"]


def test_a_sub_target_of_the_period_keeps_its_parent_for_context(client, t):
    today = t.today
    year = make_target(
        t.w,
        "This year",
        5000,
        period_start=today - dt.timedelta(days=200),
        period_end=today - dt.timedelta(days=1),
    )
    target_services.update_target(
        t.quarter, actor=t.w.admin, expected_version=t.quarter.version, parent=year
    )
    client.force_login(t.w.o.member)

    current = text(client.get(url("target-list", t)))
    past = text(client.get(url("target-list", t) + "?period=past"))

    assert tree_names(current) == [
        "This year",
        "Kota B this quarter",
        "Kota B, first batch",
    ]
    assert tree_names(past) == ["This year"]


def test_deactivated_targets_show_only_when_asked(client, t):
    spare = make_target(t.w, "Spare", 10)
    target_services.deactivate_target(
        spare, actor=t.w.admin, expected_version=spare.version
    )
    client.force_login(t.w.o.member)

    assert "Spare" not in tree_names(text(client.get(url("target-list", t))))
    html = text(client.get(url("target-list", t) + "?inactive=1"))
    assert "Spare" in tree_names(html)
    assert 'badge-inactive">deactivated<' in node_of(html, spare)


def test_the_empty_list_says_what_to_do(client, t):
    client.force_login(t.w.admin)

    html = text(client.get(url("target-list", t) + "?period=upcoming"))

    assert "0 targets" in html
    assert "No target matches." in html
    assert f'href="{url("target-create", t)}"' in html


# --- one target -----------------------------------------------------------------------


def test_the_target_page_leads_from_at_risk_to_the_run_and_its_obstacle(client, t):
    obstacle = at_risk(t)
    client.force_login(t.w.o.member)

    response = client.get(url("target-detail", t, t.quarter.pk))

    assert response.status_code == 200
    html = text(response)
    assert "<h1>Kota B this quarter</h1>" in html
    assert 'class="badge badge-schedule-at_risk">at risk<' in html
    assert '<dd id="figure-actual">0 units' in html
    assert '<dd id="figure-secure">0 units</dd>' in html
    assert '<dd id="figure-at-risk">300 units</dd>' in html
    assert '<dd id="figure-shortfall" class="error">700 units</dd>' in html
    why = section(html, "explanation-title")
    lines = re.findall(r'<li class="deviation[^"]*"', why)
    assert len(lines) == 2  # the run at risk, then the shortfall
    run_line = why.split(f'id="why-run-{t.run.pk}"', 1)[1].split("</li>\n", 1)[0]
    assert f'<a href="{url("run-detail", t, t.run.pk)}">' in run_line
    assert "“Ship 300 units to Kota B” is at risk of finishing late" in run_line
    assert 'class="badge badge-schedule-at_risk">at risk<' in run_line
    obstacle_link = (
        f'<a href="{url("obstacle-detail", t, obstacle.pk)}">'
        "The cartons have not arrived</a>"
    )
    assert obstacle_link in run_line
    assert "expected delay: 1 working day 2 hours" in run_line
    assert "Nothing under way covers the remaining 700 units." in why
    # its sub-target, and the run that contributes (through the sub-target)
    assert tree_names(section(html, "children-title")) == ["Kota B, first batch"]
    runs = section(html, "runs-title")
    assert (
        f'<a href="{url("run-detail", t, t.run.pk)}">Ship 300 units to Kota B</a>'
        in runs
    )
    assert "Kota B, first batch" in runs
    assert "Completed" not in runs
    # the owner's actions
    assert f'href="{url("target-edit", t, t.quarter.pk)}"' in html
    assert f'href="{url("target-deactivate", t, t.quarter.pk)}"' in html
    assert f'href="{url("target-create", t)}?parent={t.quarter.pk}"' in html
    assert_csp_clean(response)


def test_a_target_on_track_says_nothing_stands_in_the_way(client, t):
    client.force_login(t.w.o.member)

    html = text(client.get(url("target-detail", t, t.batch.pk)))

    assert 'class="badge badge-schedule-on_track">on track<' in html
    assert "Nothing stands in the way" in section(html, "explanation-title")
    assert (
        f'<a href="{url("target-detail", t, t.quarter.pk)}">Kota B this quarter</a>'
        in html
    )


def test_completed_runs_count_as_done(client, t):
    w = t.w
    for key, user in (
        ("pack", w.user(w.ani)),
        ("ship", w.o.partner),
        ("store", w.user(w.wati)),
    ):
        chains.complete_task(w.task(key), actor=user, expected_version=None)
    t.run.refresh_from_db()
    assert t.run.status == "completed"
    client.force_login(t.w.o.member)

    html = text(client.get(url("target-detail", t, t.batch.pk)))

    assert 'class="badge badge-result-met">met<' in html
    assert '<dd id="figure-actual">300 units' in html
    runs = section(html, "runs-title")
    assert "<h3>Completed</h3>" in runs and "Under way" not in runs
    assert "The target is met." in section(html, "explanation-title")


def test_an_unknown_target_is_not_found(client, t, other_org):
    client.force_login(t.w.o.member)
    assert client.get(url("target-detail", t, 999999)).status_code == 404
    assert client.get(url("target-edit", t, 999999)).status_code == 404
    # another organisation's target is unknown here
    client.force_login(other_org.admin)
    assert (
        client.get(reverse("target-detail", args=["globex", t.quarter.pk])).status_code
        == 404
    )


# --- partners and auditors ------------------------------------------------------------


def test_a_partner_sees_the_targets_its_runs_contribute_to(client, t):
    """Joko's forwarder ships for the run: he sees the batch it counts toward,
    with whole figures, and not the quarter above (no run of his counts there
    directly)."""
    client.force_login(t.w.o.partner)

    listed = text(client.get(url("target-list", t)))
    response = client.get(url("target-detail", t, t.batch.pk))

    assert tree_names(listed) == ["Kota B, first batch"]
    assert response.status_code == 200
    html = text(response)
    assert '<dd id="figure-secure">300 units</dd>' in html
    assert "Ship 300 units to Kota B" in section(html, "runs-title")
    assert "target-edit" not in html and "/edit/" not in html
    assert client.get(url("target-detail", t, t.quarter.pk)).status_code == 404
    assert client.get(url("target-edit", t, t.batch.pk)).status_code == 403
    assert client.get(url("target-create", t)).status_code == 403


def test_a_partner_whose_party_takes_no_part_sees_no_target(client, t):
    client.force_login(t.w.user(t.w.olga))

    assert tree_names(text(client.get(url("target-list", t)))) == []
    for target in (t.quarter, t.batch):
        assert client.get(url("target-detail", t, target.pk)).status_code == 404
        assert client.get(url("target-edit", t, target.pk)).status_code == 404
        assert client.get(url("target-deactivate", t, target.pk)).status_code == 404


def test_the_auditor_reads_and_changes_nothing(client, t):
    client.force_login(t.w.o.auditor)
    before, audit = targets_snapshot(), events()

    listed = text(client.get(url("target-list", t)))
    detail = text(client.get(url("target-detail", t, t.quarter.pk)))

    assert tree_names(listed) == ["Kota B this quarter", "Kota B, first batch"]
    assert url("target-create", t) not in listed
    assert url("target-edit", t, t.quarter.pk) not in detail
    assert url("target-deactivate", t, t.quarter.pk) not in detail
    assert url("run-start", t) not in detail
    assert client.get(url("target-create", t)).status_code == 403
    assert client.post(url("target-create", t), form(t)).status_code == 403
    assert client.get(url("target-edit", t, t.quarter.pk)).status_code == 403
    edit = {**form(t), "version": t.quarter.version, "name": "Renamed"}
    assert client.post(url("target-edit", t, t.quarter.pk), edit).status_code == 403
    deactivate = {"version": t.quarter.version}
    assert (
        client.post(url("target-deactivate", t, t.quarter.pk), deactivate).status_code
        == 403
    )
    assert targets_snapshot() == before
    assert events() == audit


# --- creating, changing, deactivating -------------------------------------------------


def form(t: Targets, **values: object) -> dict[str, object]:
    data: dict[str, object] = {
        "name": "Kota C, December",
        "parent": "",
        "party": "",
        "owner_position": t.w.o.export_head.pk,
        "measure_quantity": "2.500",
        "measure_unit": "units",
        "period_start": (t.today - dt.timedelta(days=1)).isoformat(),
        "period_end": (t.today + dt.timedelta(days=20)).isoformat(),
        "description": "The December order.",
    }
    data.update(values)
    return data


def test_the_owner_sets_up_a_target(client, t):
    client.force_login(t.w.o.member)  # Rina holds the Head of export
    page = client.get(url("target-create", t))
    assert page.status_code == 200
    assert '<input type="date" name="period_start"' in text(page)

    response = client.post(
        url("target-create", t), form(t, parent=t.quarter.pk, party=t.w.o.export.pk)
    )

    created = Target.objects.get(name="Kota C, December")
    assert response.status_code == 302
    assert response["Location"] == url("target-detail", t, created.pk)
    assert created.measure_quantity == Decimal("2500")
    assert created.parent == t.quarter
    assert created.party == t.w.o.export
    assert created.owner_position == t.w.o.export_head
    assert created.period_end == t.today + dt.timedelta(days=20)
    assert created.description == "The December order."
    event = AuditEvent.objects.order_by("-pk").first()
    assert event is not None and event.target_id == str(created.pk)
    html = text(client.get(response["Location"]))
    assert "The target was created." in html


def test_the_services_errors_show_on_the_fields_and_nothing_is_saved(client, t):
    kilos = make_target(t.w, "Kilos", 10, measure_unit="kg")
    client.force_login(t.w.admin)
    before, audit = targets_snapshot(), events()

    response = client.post(
        url("target-create", t),
        form(
            t,
            parent=kilos.pk,
            measure_quantity="0",
            period_end=(t.today - dt.timedelta(days=5)).isoformat(),
        ),
    )

    assert response.status_code == 200
    html = text(response)
    assert "Nothing was saved." in html
    assert field_errors(html, "measure_quantity") == [
        "The target quantity must be more than zero."
    ]
    assert field_errors(html, "period_end") == [
        "The period cannot end before it starts."
    ]
    assert field_errors(html, "parent") == [
        "The parent target is counted in kg, this one in units: a target can "
        "only be part of a target of the same unit."
    ]
    assert field_errors(html, "name") == []
    assert targets_snapshot() == before
    assert events() == audit


def test_a_member_sets_a_target_only_for_a_position_they_hold(client, t):
    client.force_login(t.w.o.member)
    before = targets_snapshot()

    response = client.post(
        url("target-create", t), form(t, owner_position=t.w.warehouse_head.pk)
    )

    assert response.status_code == 200
    assert field_errors(text(response), "owner_position") == [
        "Only administrators and the holders of the owner position (or of the "
        "parent target&#x27;s owner position) can set this target."
    ]
    assert targets_snapshot() == before


def test_the_owner_changes_a_target(client, t):
    client.force_login(t.w.o.member)
    page = text(client.get(url("target-edit", t, t.quarter.pk)))
    assert f'name="version" value="{t.quarter.version}"' in page
    assert 'name="measure_quantity" value="1000"' in page

    response = client.post(
        url("target-edit", t, t.quarter.pk),
        form(
            t,
            name="Kota B, the quarter",
            measure_quantity="1.200",
            version=t.quarter.version,
        ),
    )

    assert response.status_code == 302
    assert response["Location"] == url("target-detail", t, t.quarter.pk)
    t.quarter.refresh_from_db()
    assert t.quarter.name == "Kota B, the quarter"
    assert t.quarter.measure_quantity == Decimal("1200")


def test_saving_the_edit_form_unchanged_changes_nothing(client, t):
    """The form reads back what it shows: 1,000 units stay 1,000 (not "1,000"
    read as one with a decimal comma)."""
    client.force_login(t.w.o.member)
    page = text(client.get(url("target-edit", t, t.quarter.pk)))
    shown = dict(re.findall(r'<input type="[^"]+" name="(\w+)" value="([^"]*)"', page))

    response = client.post(
        url("target-edit", t, t.quarter.pk),
        {**form(t), **shown, "owner_position": t.w.o.export_head.pk, "description": ""},
    )

    assert response.status_code == 302
    t.quarter.refresh_from_db()
    assert t.quarter.measure_quantity == Decimal("1000")
    assert t.quarter.period_start == t.today - dt.timedelta(days=30)
    assert t.quarter.name == "Kota B this quarter"


def test_a_stale_edit_answers_409_and_changes_nothing(client, t):
    stale = t.quarter.version
    target_services.update_target(
        t.quarter, actor=t.w.admin, expected_version=stale, description="Changed"
    )
    client.force_login(t.w.o.member)
    before, audit = targets_snapshot(), events()

    response = client.post(
        url("target-edit", t, t.quarter.pk), form(t, name="Mine", version=stale)
    )

    assert response.status_code == 409
    assert CONFLICT in text(response)
    assert targets_snapshot() == before
    assert events() == audit


def test_deactivating_a_target(client, t):
    client.force_login(t.w.o.member)
    # with an active sub-target, it is refused with the reason
    response = client.post(
        url("target-deactivate", t, t.quarter.pk), {"version": t.quarter.version}
    )
    assert "Deactivate or move its active sub-target first." in text(response)
    t.quarter.refresh_from_db()
    assert t.quarter.is_active

    page = client.get(url("target-deactivate", t, t.batch.pk))
    assert page.status_code == 200
    response = client.post(
        url("target-deactivate", t, t.batch.pk), {"version": t.batch.version}
    )
    assert response.status_code == 302
    t.batch.refresh_from_db()
    assert not t.batch.is_active
    html = text(client.get(response["Location"]))
    assert "The target “Kota B, first batch” was deactivated." in html
    assert url("target-edit", t, t.batch.pk) not in html
    # a deactivated target is not changed any more
    assert client.get(url("target-edit", t, t.batch.pk)).status_code == 403


def test_a_stale_deactivation_answers_409(client, t):
    stale = t.batch.version
    target_services.update_target(
        t.batch, actor=t.w.admin, expected_version=stale, description="Changed"
    )
    client.force_login(t.w.o.member)
    before = targets_snapshot()

    response = client.post(url("target-deactivate", t, t.batch.pk), {"version": stale})

    assert response.status_code == 409
    assert CONFLICT in text(response)
    assert targets_snapshot() == before


def test_a_member_who_holds_nothing_may_not_manage(client, t):
    dewi = f.person(t.w.o, "dewi")
    client.force_login(f.user_of(dewi))
    before = targets_snapshot()

    assert client.get(url("target-create", t)).status_code == 403
    assert client.get(url("target-edit", t, t.quarter.pk)).status_code == 403
    response = client.post(
        url("target-edit", t, t.quarter.pk),
        form(t, name="Mine", version=t.quarter.version),
    )
    assert response.status_code == 403
    assert targets_snapshot() == before


# --- the run's target -----------------------------------------------------------------


def test_a_run_is_started_toward_a_target(client, t):
    kilos = make_target(t.w, "Kilos", 10, measure_unit="kg")
    version = t.run.procedure_version
    client.force_login(t.w.o.member)
    # from the target's page, through the choice of procedure, the target comes along
    detail = text(client.get(url("target-detail", t, t.batch.pk)))
    start = f"{url('run-start', t)}?target={t.batch.pk}"
    assert f'href="{start}"' in detail
    choose = text(client.get(start))
    assert f'?version={version.pk}&amp;target={t.batch.pk}"' in choose
    page = url("run-start", t) + f"?version={version.pk}"

    html = text(client.get(page + f"&target={t.batch.pk}"))
    select = html.split('name="target"', 1)[1].split("</select>", 1)[0]
    assert (
        f'<option value="{t.batch.pk}" selected>Kota B, first batch (300 units, '
        in (select)
    )
    assert f'value="{kilos.pk}"' in select  # every active target; the unit decides

    data = {
        "title": "Ship 200 units to Kota B",
        "objective": "",
        "measure_quantity": "200",
        "measure_unit": "Units",
        "due_date": (t.today + dt.timedelta(days=20)).isoformat(),
    }
    refused = client.post(page, {**data, "target": kilos.pk})
    assert refused.status_code == 200
    assert "a run counts only toward a target of its own unit" in text(refused)
    assert not Run.objects.filter(title="Ship 200 units to Kota B").exists()

    response = client.post(page, {**data, "target": t.batch.pk})
    started = Run.objects.get(title="Ship 200 units to Kota B")
    assert response.status_code == 302
    assert started.target == t.batch


def test_the_run_page_shows_its_target_and_its_owner_changes_it(client, t):
    client.force_login(t.w.o.member)  # Rina owns SHIP
    page = url("run-detail", t, t.run.pk)

    html = text(client.get(page))
    box = html.split('id="run-target"', 1)[1].split("</dd>", 1)[0]
    assert (
        f'<a href="{url("target-detail", t, t.batch.pk)}">Kota B, first batch</a>'
        in box
    )
    assert f'action="{url("run-target", t, t.run.pk)}"' in box
    options = re.findall(r'<option value="(\d*)"( selected)?>', box)
    assert options[0] == ("", "")  # none
    assert sorted(options[1:]) == sorted(
        [(str(t.quarter.pk), ""), (str(t.batch.pk), " selected")]
    )

    t.run.refresh_from_db()
    response = client.post(
        url("run-target", t, t.run.pk),
        {"version": t.run.version, "target": t.quarter.pk, "next": page},
    )
    assert response.status_code == 302
    assert response["Location"] == page
    t.run.refresh_from_db()
    assert t.run.target == t.quarter

    response = client.post(
        url("run-target", t, t.run.pk), {"version": t.run.version, "target": ""}
    )
    assert response.status_code == 302
    t.run.refresh_from_db()
    assert t.run.target is None
    html = text(client.get(page))
    box = html.split('id="run-target"', 1)[1].split("</dd>", 1)[0]
    assert '<span class="muted">none</span>' in box


def test_a_stale_run_target_answers_409_and_changes_nothing(client, t):
    t.run.refresh_from_db()
    stale = t.run.version
    point(t.run, t.quarter, t.w)
    client.force_login(t.w.o.member)
    audit = events()

    response = client.post(
        url("run-target", t, t.run.pk), {"version": stale, "target": ""}
    )

    assert response.status_code == 409
    assert CONFLICT in text(response)
    t.run.refresh_from_db()
    assert t.run.target == t.quarter
    assert events() == audit


@pytest.mark.parametrize("who", ["auditor", "partner", "ani"])
def test_only_the_process_owner_changes_a_runs_target(client, t, who):
    """The auditor, the forwarder's partner and Ani (an export clerk, who works
    on the run but does not own it) see the target, not the form; what they
    post is refused and changes nothing."""
    user = t.w.user(t.w.ani) if who == "ani" else getattr(t.w.o, who)
    client.force_login(user)
    t.run.refresh_from_db()
    audit = events()

    html = text(client.get(url("run-detail", t, t.run.pk)))
    box = html.split('id="run-target"', 1)[1].split("</dd>", 1)[0]
    assert "Kota B, first batch" in box
    assert url("run-target", t, t.run.pk) not in html
    assert client.get(url("run-target", t, t.run.pk)).status_code == 403
    response = client.post(
        url("run-target", t, t.run.pk), {"version": t.run.version, "target": ""}
    )

    assert response.status_code == 403
    t.run.refresh_from_db()
    assert t.run.target == t.batch
    assert events() == audit


# --- the focus page -------------------------------------------------------------------


def test_the_focus_page_shows_the_targets_of_the_persons_work(client, t):
    """Rina holds the Head of export, the owner of both targets: the quarter at
    risk comes first, with its bar and what nothing covers."""
    client.force_login(t.w.o.member)

    response = client.get(url("focus", t))

    html = text(response)
    panel = section(html, "goal-targets-title")
    assert tree_names(panel) == ["Kota B this quarter", "Kota B, first batch"]
    quarter = panel.split(f'id="goal-target-{t.quarter.pk}"', 1)[1].split("</li>")[0]
    assert 'class="badge badge-schedule-at_risk">at risk<' in quarter
    assert "<svg" in quarter
    assert "Nothing under way covers the remaining 700 units." in quarter
    assert f'href="{url("target-detail", t, t.quarter.pk)}"' in quarter
    assert_csp_clean(response)


def test_the_focus_page_has_no_targets_panel_for_whom_no_target_concerns(client, t):
    client.force_login(t.w.user(t.w.olga))

    html = text(client.get(url("focus", t)))

    assert 'id="goal-targets"' not in html


# --- in Bahasa Indonesia --------------------------------------------------------------


def test_the_target_pages_speak_indonesian(client, t):
    at_risk(t)
    t.w.o.member.language = "id"
    t.w.o.member.save(update_fields=["language"])
    client.force_login(t.w.o.member)

    listed = text(client.get(url("target-list", t)))
    detail = text(client.get(url("target-detail", t, t.quarter.pk)))

    assert "<h1>Target</h1>" in listed
    assert '<a href="/o/acme/targets/" aria-current="page">Target</a>' in listed
    assert 'class="badge badge-schedule-at_risk">berisiko<' in listed
    assert "Terapkan" in listed  # the filter's button
    assert ">Kemajuan</h2>" in detail
    assert ">Alasan</h2>" in detail
    assert ">Ubah</a>" in detail
    assert ">Nonaktifkan</a>" in detail
    assert "Pelaksanaan" in section(detail, "runs-title")


# --- query counts ---------------------------------------------------------------------

# session, user, membership; the organisation's targets with their owner
# position and party, one grouped aggregate over their runs, whether the caller
# may create a target (the positions they hold).
TARGET_LIST_QUERIES = 6
# session, user, membership; the target; its roll-up (targets, aggregate), the
# runs that put it at risk and their open obstacles, the working calendar,
# whether the caller manages it and may add a sub-target (positions held, twice),
# the target tree's ids and the runs of the target and its sub-targets.
TARGET_PAGE_QUERIES = 14


def more_of_everything(t: Targets, label: str) -> None:
    """Another sub-target with a run at risk (an open obstacle) under the quarter."""
    extra = make_target(t.w, f"Kota B, {label}", 100, parent=t.quarter)
    run = f.start_run(
        t.run.procedure_version,
        actor=t.w.admin,
        title=f"Ship {label}",
        due_days=60,
        now=timezone.now(),
    )
    point(run, extra, t.w)


def test_the_target_pages_keep_their_query_counts(client, t):
    at_risk(t)
    client.force_login(t.w.o.member)
    list_page = url("target-list", t)
    detail_page = url("target-detail", t, t.quarter.pk)
    count_queries(client, detail_page)  # warm the calendar cache
    small = (count_queries(client, list_page), count_queries(client, detail_page))

    for label in ("second batch", "third batch", "fourth batch"):
        more_of_everything(t, label)
    big = (count_queries(client, list_page), count_queries(client, detail_page))

    assert len(tree_names(text(client.get(list_page)))) == 5
    assert small == big == (TARGET_LIST_QUERIES, TARGET_PAGE_QUERIES)
