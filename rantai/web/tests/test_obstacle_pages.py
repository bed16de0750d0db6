"""The obstacle pages: the list (filters, partner scoping, a fixed number of
queries), raising an obstacle on a run or a task with the what-if of its impact
(htmx and without JavaScript), an obstacle's page with its impact, information
and mitigations, changing, resolving and withdrawing it, the mitigations, the
panels of the run and task pages, and the anticipation settings — per role,
with the forms' own errors, and that every refused change writes nothing.

The world is `rantai.obstacles.tests.factories.world()`: the run SHIP (pack by
the export clerk, then ship by the forwarder, then store by the warehouse) of
Rina (the member, Head of export, accountable for pack and ship); Joko is the
forwarder's partner login, Olga a partner whose party takes no part in the run.
The run is on track with two working days of slack; a delay of more than one
working day puts it at risk, of more than two makes it late.
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rantai.audit.models import AuditEvent
from rantai.chains import projection
from rantai.chains import services as chains
from rantai.chains.calendar import add_working_minutes
from rantai.chains.models import ScheduleStatus
from rantai.obstacles import obstacles as obstacle_services
from rantai.obstacles import policy
from rantai.obstacles.models import (
    AnticipationSettings,
    Mitigation,
    MitigationStatus,
    Obstacle,
    ObstacleStatus,
)
from rantai.obstacles.tests import factories
from rantai.obstacles.tests.factories import World
from rantai.roles.tests import factories as f
from rantai.web.tests.test_procedure_pages import assert_csp_clean

pytestmark = pytest.mark.django_db

HTMX = {"HTTP_HX_REQUEST": "true", "HTTP_HX_TARGET": "what-if"}


@pytest.fixture
def w() -> World:
    # A run started now (so the pages' "now" and the schedule agree), due in
    # eight days: on track with slack to spare.
    return factories.world()


def url(name: str, w: World, *args: object) -> str:
    return reverse(name, args=[w.organisation.slug, *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def events() -> list[int]:
    return list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))


def count_queries(client, page: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as queries:
        response = client.get(page)
    assert response.status_code == 200
    return len(queries)


def titles(html: str) -> list[str]:
    """The obstacle titles of the list, in order."""
    return re.findall(
        r'<th scope="row"><a href="/o/acme/obstacles/\d+/">([^<]+)</a>', html
    )


# --- the list -------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "auditor"])
def test_the_list_shows_every_obstacle_to_the_organisation(client, w, role):
    factories.make_obstacle(w, task=w.task("pack"), title="Packing tape ran out")
    factories.make_obstacle(w, title="Flood on the toll road", severity="high")
    client.force_login(getattr(w.o, role))

    response = client.get(url("obstacle-list", w))

    assert response.status_code == 200
    html = text(response)
    assert titles(html) == ["Flood on the toll road", "Packing tape ran out"]
    assert "the whole run" in html
    assert 'badge-severity-high">high<' in html
    assert "4 hours" in html  # the expected delay, in working time
    assert_csp_clean(response)


def test_a_partner_sees_the_obstacles_of_its_own_tasks_and_of_the_run(client, w):
    factories.make_obstacle(w, task=w.task("pack"), title="Packing tape ran out")
    factories.make_obstacle(w, task=w.task("ship"), title="The truck is delayed")
    factories.make_obstacle(w, title="Flood on the toll road")
    client.force_login(w.o.partner)

    html = text(client.get(url("obstacle-list", w)))

    assert titles(html) == ["Flood on the toll road", "The truck is delayed"]
    assert "Packing tape" not in html


def test_a_partner_of_a_party_not_in_the_run_sees_nothing_of_it(client, w):
    obstacle = factories.make_obstacle(w, task=w.task("ship"))
    client.force_login(w.user(w.olga))

    assert titles(text(client.get(url("obstacle-list", w)))) == []
    assert client.get(url("obstacle-detail", w, obstacle.pk)).status_code == 404
    assert client.get(url("run-obstacle-new", w, w.run.pk)).status_code == 404
    assert client.get(url("task-obstacle-new", w, w.task("ship").pk)).status_code == 404
    assert client.get(url("obstacle-what-if", w, w.run.pk)).status_code == 404


def test_the_list_filters_by_status_severity_and_run(client, w):
    factories.make_obstacle(w, task=w.task("pack"), title="Tape", severity="low")
    flood = factories.make_obstacle(w, title="Flood", severity="high")
    obstacle_services.withdraw(
        flood, actor=w.o.member, expected_version=flood.version, reason="Twice."
    )
    second = f.start_run(w.run.procedure_version, actor=w.admin, title="Second run")
    obstacle_services.raise_obstacle(
        second,
        actor=w.o.member,
        title="Elsewhere",
        description="On the second run.",
        expected_delay_minutes=60,
        now=factories.T0 + dt.timedelta(hours=1),
    )
    client.force_login(w.o.member)

    assert titles(text(client.get(url("obstacle-list", w) + "?status=open"))) == [
        "Elsewhere",
        "Tape",
    ]
    assert titles(text(client.get(url("obstacle-list", w) + "?status=withdrawn"))) == [
        "Flood"
    ]
    assert titles(text(client.get(url("obstacle-list", w) + "?severity=high"))) == [
        "Flood"
    ]
    assert titles(text(client.get(url("obstacle-list", w) + f"?run={w.run.pk}"))) == [
        "Flood",
        "Tape",
    ]
    # unknown values are ignored, not errors
    response = client.get(url("obstacle-list", w) + "?status=x&severity=y&run=z")
    assert response.status_code == 200
    assert len(titles(text(response))) == 3
    # the htmx filter answers the results only
    partial = client.get(
        url("obstacle-list", w) + "?severity=low",
        HTTP_HX_REQUEST="true",
        HTTP_HX_TARGET="list-results",
    )
    assert text(partial).lstrip().startswith('<div id="list-results">')


def test_the_list_keeps_its_query_count(client, w):
    """As many queries for two obstacles as for ten."""
    for n in range(2):
        factories.make_obstacle(w, title=f"Small {n}")
    client.force_login(w.o.member)
    count_queries(client, url("obstacle-list", w))  # warm the calendar cache
    small = count_queries(client, url("obstacle-list", w))
    for n in range(8):
        factories.make_obstacle(w, task=w.task("ship"), title=f"More {n}")
    big = count_queries(client, url("obstacle-list", w))
    assert len(titles(text(client.get(url("obstacle-list", w))))) == 10
    assert small == big == OBSTACLE_LIST_QUERIES


# session, user, membership; the runs of the run filter, the count, the working
# calendar (for the delays in working days), the page of obstacles
OBSTACLE_LIST_QUERIES = 7


# --- a run started now (the pages measure against the clock) --------------------------


def live(w: World, *, working_days: int = 6) -> World:
    """Cancel the world's run (started at T0, long past) and start SHIP again
    now, due `working_days` working days from now (its four days of work leave
    two of slack); it becomes the world's run."""
    now = timezone.now()
    chains.cancel_run(
        w.run, actor=w.admin, expected_version=None, reason="Started again", now=now
    )
    calendar = projection.calendar_spec(w.organisation)
    w.run = chains.start_run(
        w.run.procedure_version,
        actor=w.admin,
        title="Ship 300 units to Kota B",
        objective="Deliver the second order",
        measure_quantity=300,
        measure_unit="units",
        due_at=add_working_minutes(calendar, now, working_days * factories.DAY),
        field_values={},
        now=now,
    )
    return w


def raise_now(w: World, **options: object) -> Obstacle:
    return factories.make_obstacle(w, now=timezone.now(), **options)  # type: ignore[arg-type]


def raise_form(**values: object) -> dict[str, object]:
    return {
        "title": "The truck is delayed",
        "description": "The forwarder's dispatcher called: the truck broke down.",
        "delay_value": "1,5",
        "delay_unit": "working_days",
        "severity": "high",
        "cause": "transport",
        **values,
    }


# --- raising an obstacle, with the what-if -----------------------------------------------


def test_the_raise_form_of_a_run_offers_its_open_tasks_and_records(client, w):
    live(w)
    record = factories.record(w, title="The dispatcher's call", evidence=False)
    client.force_login(w.o.member)

    response = client.get(url("run-obstacle-new", w, w.run.pk))

    assert response.status_code == 200
    html = text(response)
    assert "Raise an obstacle on “Ship 300 units to Kota B”" in html
    assert re.findall(r'<option value="\d+">(\w+)</option>', html) == [
        "Pack",
        "Ship",
        "Store",
    ]
    assert "— the whole run —" in html
    assert "The dispatcher&#x27;s call (unverified)" in html
    assert f'value="{record.pk}"' in html
    # the live what-if and the button that works without JavaScript
    assert f'hx-get="{url("obstacle-what-if", w, w.run.pk)}"' in html
    assert 'name="preview"' in html
    assert "Enter the expected delay" in html
    assert url("run-record-new", w, w.run.pk) in html
    assert_csp_clean(response)


def test_raising_an_obstacle_moves_the_schedule_and_shows_its_page(client, w):
    live(w)
    record = factories.record(w, title="The dispatcher's call", evidence=False)
    ship = w.task("ship")
    client.force_login(w.o.member)

    response = client.post(
        url("run-obstacle-new", w, w.run.pk),
        raise_form(task=ship.pk, records=[record.pk]),
    )

    obstacle = Obstacle.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("obstacle-detail", w, obstacle.pk)
    assert obstacle.task == ship
    assert obstacle.expected_delay_minutes == 720  # 1,5 working days of 8 hours
    assert obstacle.severity == "high" and obstacle.cause == "transport"
    assert list(obstacle.records.all()) == [record]
    assert obstacle.raised_by == w.o.member
    # the run's schedule counts with it: 720 of 960 minutes of slack are gone
    w.run.refresh_from_db()
    assert w.run.schedule_status == ScheduleStatus.AT_RISK
    assert obstacle.impact["status_before"] == ScheduleStatus.ON_TRACK
    assert obstacle.impact["status_after"] == ScheduleStatus.AT_RISK

    html = text(client.get(response["Location"]))
    assert "This puts the target at risk" in html
    assert "1 working day 4 hours" in html
    assert "rests on unverified information" in html
    assert "hearsay" in html


def test_preview_shows_the_impact_without_saving(client, w):
    live(w)
    before = events()
    client.force_login(w.o.member)

    response = client.post(
        url("task-obstacle-new", w, w.task("pack").pk),
        raise_form(delay_value="3", preview="1"),
    )

    assert response.status_code == 200
    html = text(response)
    assert (
        "This puts the target at risk: the run is projected to finish after its due date."
        in html
    )
    # pack, ship and store all move by the three days
    moved = re.findall(
        r'<th scope="row">(\w+)</th>\s*<td class="impact-shift">([^<]+)<', html
    )
    assert moved == [
        ("Pack", "3 working days"),
        ("Ship", "3 working days"),
        ("Store", "3 working days"),
    ]
    assert "1 working day after the due date." in html
    assert 'badge-schedule-on_track">on track<' in html
    # the form keeps what was typed
    assert 'value="The truck is delayed"' in html
    assert not Obstacle.objects.exists()
    assert events() == before


def test_the_htmx_what_if_answers_the_impact_only(client, w):
    live(w)
    client.force_login(w.o.member)

    response = client.get(
        url("obstacle-what-if", w, w.run.pk),
        {"task": w.task("store").pk, "delay_value": "4", "delay_unit": "working_hours"},
        **HTMX,
    )

    assert response.status_code == 200
    html = text(response)
    assert html.lstrip().startswith('<section id="what-if"')
    assert "<html" not in html
    assert "The run's finish moves, but the target is not put at risk by this." in html
    assert re.findall(r'<th scope="row">(\w+)</th>', html) == ["Store"]
    assert "4 hours" in html
    # a typing slip is said in place
    slip = text(
        client.get(
            url("obstacle-what-if", w, w.run.pk),
            {"delay_value": "-2", "delay_unit": "working_hours"},
            **HTMX,
        )
    )
    assert "A delay cannot be negative." in slip
    # without htmx the same address is a page of its own
    page = client.get(
        url("obstacle-what-if", w, w.run.pk),
        {"delay_value": "4", "delay_unit": "working_hours"},
    )
    assert "<html" in text(page)
    assert "What if “Ship 300 units to Kota B” is held up" in text(page)


def test_a_partner_sees_the_moves_of_its_own_tasks_only(client, w):
    live(w)
    client.force_login(w.o.partner)

    html = text(
        client.get(
            url("obstacle-what-if", w, w.run.pk),
            {
                "task": w.task("ship").pk,
                "delay_value": "2",
                "delay_unit": "working_days",
            },
            **HTMX,
        )
    )

    assert re.findall(r'<th scope="row">(\w+)</th>', html) == ["Ship"]
    assert "1 task of other parties moves too." in html
    assert "Store" not in html


@pytest.mark.parametrize(
    ("values", "field", "message"),
    [
        ({"delay_value": ""}, "delay_value", "This field is required."),
        ({"delay_value": "-1"}, "delay_value", "A delay cannot be negative."),
        ({"delay_value": "400"}, "delay_value", "At most 365 working days."),
        ({"delay_value": "abc"}, "delay_value", ""),
        ({"title": ""}, "title", "This field is required."),
        ({"severity": "dreadful"}, "severity", "Select a valid choice."),
    ],
)
def test_the_raise_form_says_what_is_wrong_and_saves_nothing(
    client, w, values, field, message
):
    live(w)
    before = events()
    client.force_login(w.o.member)

    response = client.post(url("run-obstacle-new", w, w.run.pk), raise_form(**values))

    assert response.status_code == 422
    html = text(response)
    assert "Nothing was saved." in html
    found = re.search(
        rf'<div data-field="{field}" class="field has-error">.*?</div>', html, re.S
    )
    assert found is not None
    assert message in html
    assert not Obstacle.objects.exists()
    assert events() == before


def test_records_of_another_run_cannot_be_chosen(client, w):
    elsewhere = factories.record(w, title="About the first run")  # on the T0 run
    live(w)
    client.force_login(w.o.member)

    response = client.post(
        url("run-obstacle-new", w, w.run.pk), raise_form(records=[elsewhere.pk])
    )

    assert response.status_code == 422
    assert "Select a valid choice." in text(response)
    assert not Obstacle.objects.exists()


def test_who_may_raise_where(client, w):
    live(w)
    pack, ship = w.task("pack"), w.task("ship")
    # an auditor reads only
    client.force_login(w.o.auditor)
    assert client.get(url("run-obstacle-new", w, w.run.pk)).status_code == 403
    assert (
        client.post(url("run-obstacle-new", w, w.run.pk), raise_form()).status_code
        == 403
    )
    # the forwarder's partner: on the run and on its own task, not on the clerk's
    client.force_login(w.o.partner)
    assert client.get(url("run-obstacle-new", w, w.run.pk)).status_code == 200
    assert client.get(url("task-obstacle-new", w, ship.pk)).status_code == 200
    assert client.get(url("task-obstacle-new", w, pack.pk)).status_code == 404
    response = client.post(url("task-obstacle-new", w, ship.pk), raise_form())
    assert response.status_code == 302
    assert Obstacle.objects.get().task == ship
    # the partner's run form offers only its own task
    html = text(client.get(url("run-obstacle-new", w, w.run.pk)))
    assert re.findall(r'<option value="\d+">(\w+)</option>', html) == ["Ship"]


def test_a_finished_task_cannot_be_held_up(client, w):
    live(w)
    pack = w.task("pack")
    chains.complete_task(pack, actor=w.user(w.ani), expected_version=pack.version)
    client.force_login(w.o.member)
    assert client.get(url("task-obstacle-new", w, pack.pk)).status_code == 403


# --- an obstacle's page ------------------------------------------------------------------


def forms_of(html: str) -> list[str]:
    """The actions of the forms in the page's content (their last path
    segments)."""
    main = html.split('<main id="main"', 1)[1].split("</main>", 1)[0]
    return sorted(
        {
            found.rstrip("/").rsplit("/", 1)[-1]
            for found in re.findall(r'<form method="post" action="([^"]+)"', main)
        }
    )


def test_the_raiser_sees_the_impact_the_information_and_the_forms(client, w):
    live(w)
    heard = factories.record(w, title="The dispatcher's call", evidence=False)
    obstacle = raise_now(w, task=w.task("ship"), delay=600, records=[heard])
    factories.make_mitigation(obstacle, w, now=timezone.now())
    client.force_login(w.o.member)

    response = client.get(url("obstacle-detail", w, obstacle.pk))

    assert response.status_code == 200
    html = text(response)
    assert "<h1>The truck is delayed</h1>" in html
    assert "1 working day 2 hours" in html  # the expected delay
    assert "When it was raised" in html and "The run now" in html
    assert "This puts the target at risk" in html
    assert "The dispatcher&#x27;s call" in html and ">hearsay<" in html
    assert "This obstacle rests on unverified information" in html
    assert "Book a second truck" in html and "Ani" in html
    # (no "add information" form: the run's only record backs it already)
    assert forms_of(html) == [
        "cancel",  # the mitigation (whoever manages the obstacle)
        "complete",  # the mitigation (its owner, or whoever manages the obstacle)
        "new",  # a mitigation
        "resolve",
        "withdraw",
    ]
    assert url("obstacle-update", w, obstacle.pk) in html
    assert_csp_clean(response)


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_others_read_the_obstacle(client, w, role):
    live(w)
    obstacle = raise_now(w, task=w.task("ship"))
    client.force_login(getattr(w.o, role))

    html = text(client.get(url("obstacle-detail", w, obstacle.pk)))

    assert "The truck is delayed" in html
    if role == "admin":
        assert "resolve" in forms_of(html)
    else:
        assert forms_of(html) == []
        assert client.get(url("obstacle-resolve", w, obstacle.pk)).status_code == 403


def test_a_partner_reads_the_obstacles_of_its_tasks_and_of_the_run_only(client, w):
    live(w)
    on_pack = raise_now(w, task=w.task("pack"), title="Tape")
    on_ship = raise_now(w, task=w.task("ship"), title="Truck")
    on_run = raise_now(w, title="Flood")
    client.force_login(w.o.partner)

    assert client.get(url("obstacle-detail", w, on_pack.pk)).status_code == 404
    assert client.get(url("obstacle-detail", w, on_ship.pk)).status_code == 200
    html = text(client.get(url("obstacle-detail", w, on_run.pk)))
    assert "Flood" in html
    assert forms_of(html) == []  # raised by Rina: not the partner's to change
    assert client.get(url("obstacle-update", w, on_run.pk)).status_code == 403


def test_changing_the_delay_moves_the_run(client, w):
    live(w)
    obstacle = raise_now(w, task=w.task("ship"), delay=240)
    w.run.refresh_from_db()
    assert w.run.schedule_status == ScheduleStatus.ON_TRACK
    client.force_login(w.o.member)

    response = client.post(
        url("obstacle-update", w, obstacle.pk),
        {
            "version": obstacle.version,
            "severity": "critical",
            "cause": "transport",
            "delay_value": "3",
            "delay_unit": "working_days",
        },
    )

    assert response.status_code == 302
    obstacle.refresh_from_db()
    assert obstacle.expected_delay_minutes == 1440
    assert obstacle.severity == "critical"
    w.run.refresh_from_db()
    assert w.run.schedule_status == ScheduleStatus.LATE
    # the impact stored when it was raised stays as it was
    assert obstacle.impact["delay_minutes"] == 240


def test_a_stale_change_is_refused_and_writes_nothing(client, w):
    live(w)
    obstacle = raise_now(w, task=w.task("ship"), delay=240)
    before = events()
    client.force_login(w.o.member)

    response = client.post(
        url("obstacle-update", w, obstacle.pk),
        {
            "version": obstacle.version - 1,
            "severity": "low",
            "cause": "transport",
            "delay_value": "1",
            "delay_unit": "working_hours",
        },
    )

    assert response.status_code == 409
    assert "changed by someone else" in text(response)
    obstacle.refresh_from_db()
    assert obstacle.expected_delay_minutes == 240
    assert events() == before


def test_resolving_needs_a_resolution_and_evidence(client, w):
    live(w)
    heard = factories.record(w, title="The dispatcher's call", evidence=False)
    obstacle = raise_now(w, task=w.task("ship"), delay=720)
    before = events()
    client.force_login(w.o.member)
    resolve = url("obstacle-resolve", w, obstacle.pk)

    # nothing chosen
    empty = client.post(resolve, {"version": obstacle.version, "resolution": ""})
    assert empty.status_code == 200
    assert "Say how the obstacle was resolved." in text(empty)
    assert "Choose the information that shows it is resolved." in text(empty)
    # a record without any evidence item
    bare = client.post(
        resolve,
        {"version": obstacle.version, "resolution": "Left.", "records": [heard.pk]},
    )
    assert bare.status_code == 200
    assert "Nothing was saved." in text(bare)
    assert events() == before
    obstacle.refresh_from_db()
    assert obstacle.status == ObstacleStatus.OPEN

    notice = factories.record(w, title="The forwarder's written notice")
    done = client.post(
        resolve,
        {
            "version": obstacle.version,
            "resolution": "A second truck left at noon.",
            "records": [notice.pk],
        },
    )
    assert done.status_code == 302
    obstacle.refresh_from_db()
    assert obstacle.status == ObstacleStatus.RESOLVED
    w.run.refresh_from_db()
    assert w.run.schedule_status == ScheduleStatus.ON_TRACK
    html = text(client.get(url("obstacle-detail", w, obstacle.pk)))
    assert "How it was resolved" in html
    assert "A second truck left at noon." in html
    assert "The resolution rests on unverified information" in html
    assert forms_of(html) == []


def test_withdrawing_needs_a_reason(client, w):
    live(w)
    obstacle = raise_now(w, delay=720)
    client.force_login(w.o.member)
    withdraw = url("obstacle-withdraw", w, obstacle.pk)

    refused = client.post(withdraw, {"version": obstacle.version, "reason": ""})
    assert "Say why the obstacle is withdrawn." in text(refused)

    done = client.post(withdraw, {"version": obstacle.version, "reason": "Twice."})
    assert done.status_code == 302
    obstacle.refresh_from_db()
    assert obstacle.status == ObstacleStatus.WITHDRAWN
    assert obstacle.resolution == "Twice."


def test_mitigations_are_added_done_by_their_owner_and_cancelled(client, w):
    live(w)
    obstacle = raise_now(w, task=w.task("ship"))
    client.force_login(w.o.member)
    due = (timezone.now() + dt.timedelta(days=3)).date()

    missing = client.post(
        url("mitigation-new", w, obstacle.pk),
        {"description": "Book a second truck", "owner": "", "due_date": ""},
    )
    assert missing.status_code == 200
    assert "Nothing was saved." in text(missing)
    response = client.post(
        url("mitigation-new", w, obstacle.pk),
        {"description": "Book a second truck", "owner": w.ani.pk, "due_date": due},
    )
    assert response.status_code == 302
    mitigation = Mitigation.objects.get()
    assert mitigation.owner == w.ani

    # Wati neither owns it nor manages the obstacle
    client.force_login(w.user(w.wati))
    page = client.get(url("mitigation-complete", w, mitigation.pk))
    assert page.status_code == 403
    # Ani owns it: she sees the button and marks it done
    client.force_login(w.user(w.ani))
    html = text(client.get(url("obstacle-detail", w, obstacle.pk)))
    assert forms_of(html) == ["complete"]
    done = client.post(
        url("mitigation-complete", w, mitigation.pk),
        {"version": mitigation.version, "outcome": "Booked with Other Carrier."},
    )
    assert done.status_code == 302
    mitigation.refresh_from_db()
    assert mitigation.status == MitigationStatus.DONE
    assert mitigation.outcome == "Booked with Other Carrier."

    client.force_login(w.o.member)
    second = factories.make_mitigation(obstacle, w, now=timezone.now())
    cancelled = client.post(
        url("mitigation-cancel", w, second.pk),
        {"version": second.version, "reason": "Not needed."},
    )
    assert cancelled.status_code == 302
    second.refresh_from_db()
    assert second.status == MitigationStatus.CANCELLED


# --- the panels of the run and task pages ------------------------------------------------


def test_the_run_page_shows_its_obstacles_and_the_raise_button(client, w):
    live(w)
    raise_now(w, task=w.task("ship"), title="Truck", delay=720)
    client.force_login(w.o.member)

    html = text(client.get(url("run-detail", w, w.run.pk)))

    panel = html.split('id="obstacles-title"', 1)[1].split("</section>", 1)[0]
    assert "Truck" in panel and "1 open" in panel
    assert "Holds up “Ship”" in panel
    assert url("run-obstacle-new", w, w.run.pk) in panel
    assert url("run-review-new", w, w.run.pk) in panel
    # the target box knows the run is at risk now
    assert 'class="target-box target-at_risk"' in html


def test_the_task_page_shows_its_obstacles(client, w):
    live(w)
    raise_now(w, task=w.task("ship"), title="Truck")
    raise_now(w, task=w.task("pack"), title="Tape")
    client.force_login(w.o.partner)

    html = text(client.get(url("task-detail", w, w.task("ship").pk)))

    panel = html.split('id="obstacles-title"', 1)[1].split("</section>", 1)[0]
    assert "Truck" in panel and "Tape" not in panel
    assert url("task-obstacle-new", w, w.task("ship").pk) in panel


# --- the anticipation settings ----------------------------------------------------------


def test_an_administrator_changes_the_thresholds(client, w):
    client.force_login(w.admin)
    page = url("anticipation-settings", w)
    settings = policy.settings_for(w.organisation)

    refused = client.post(
        page,
        {
            "version": settings.version,
            "obstacle_response_hours": 8,
            "slack_warning_percent": 0,
            "approval_warning_hours": 8,
            "vacancy_horizon_days": 5,
            "evidence_warning_hours": 8,
        },
    )
    assert refused.status_code == 200
    assert "Nothing was saved." in text(refused)
    saved = client.post(
        page,
        {
            "version": settings.version,
            "obstacle_response_hours": 8,
            "slack_warning_percent": 70,
            "approval_warning_hours": 4,
            "vacancy_horizon_days": 3,
            "evidence_warning_hours": 6,
        },
    )
    assert saved.status_code == 302
    stored = AnticipationSettings.objects.get(organisation=w.organisation)
    assert (stored.obstacle_response_hours, stored.slack_warning_percent) == (8, 70)


def test_members_read_the_thresholds_and_partners_do_not_see_them(client, w):
    client.force_login(w.o.member)
    response = client.get(url("anticipation-settings", w))
    assert response.status_code == 200
    assert 'name="slack_warning_percent"' not in text(response)
    assert "Only administrators change these settings." in text(response)
    assert client.post(url("anticipation-settings", w), {}).status_code == 403
    client.force_login(w.o.partner)
    assert client.get(url("anticipation-settings", w)).status_code == 404
