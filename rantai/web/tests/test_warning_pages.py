"""The early-warning pages: the list (the reader's own warnings first, by kind,
active or resolved, scoped for partners, a fixed number of queries), each with
why and what to do, acknowledging one (only its recipients), and the warnings
on the focus page.

The world is `rantai.obstacles.tests.factories.world(due_days=3)`: the run SHIP
(pack → ship → store) started at T0 and due Thursday 08:00, projected to finish
Thursday 16:00 — late. The scan at T0 + 1 hour raises `run_late` (for Rina, who
owns the procedure) and `slack_low` on pack (for Ani, its assignee, and Rina,
its accountable).
"""

from __future__ import annotations

import datetime as dt
import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rantai.audit.models import AuditEvent
from rantai.chains import services as chains
from rantai.obstacles import warnings
from rantai.obstacles.models import EarlyWarning, WarningRecipient
from rantai.obstacles.tests import factories
from rantai.obstacles.tests.factories import T0, World
from rantai.web.tests.test_procedure_pages import assert_csp_clean

pytestmark = pytest.mark.django_db


@pytest.fixture
def w() -> World:
    w = factories.world(due_days=3)
    warnings.scan(now=T0 + dt.timedelta(hours=1), organisation_ids=[w.organisation.pk])
    return w


def url(name: str, w: World, *args: object) -> str:
    return reverse(name, args=[w.organisation.slug, *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def kinds(html: str) -> list[str]:
    """The kinds of the warnings listed, in order."""
    return re.findall(r'<div class="warning-head"><strong>([^<]+)</strong>', html)


def acknowledge_buttons(html: str) -> int:
    return len(re.findall(r'action="/o/acme/warnings/\d+/acknowledge/"', html))


def warning(kind: str) -> EarlyWarning:
    return EarlyWarning.objects.get(kind=kind)


RUN_LATE = "Projected finish past the target date"
SLACK_LOW = "Slack nearly used up"


def test_the_recipient_sees_why_and_what_to_do(client, w):
    client.force_login(w.o.member)

    response = client.get(url("warning-list", w))

    assert response.status_code == 200
    html = text(response)
    assert sorted(kinds(html)) == [RUN_LATE, SLACK_LOW]
    assert html.count(">for you<") == 2
    assert (
        "“Ship 500 units to Kota A” is projected to finish at" in html
        and "after its target date" in html
    )
    assert "Look at the critical path" in html  # what to do
    assert "“Pack” of “Ship 500 units to Kota A” has" in html
    assert acknowledge_buttons(html) == 2
    assert_csp_clean(response)


@pytest.mark.parametrize("role", ["admin", "auditor"])
def test_others_of_the_organisation_read_them_without_acknowledging(client, w, role):
    client.force_login(getattr(w.o, role))
    html = text(client.get(url("warning-list", w)))
    assert sorted(kinds(html)) == [RUN_LATE, SLACK_LOW]
    assert ">for you<" not in html
    assert acknowledge_buttons(html) == 0


def test_the_readers_own_warnings_come_first(client, w):
    client.force_login(w.user(w.ani))  # slack_low is hers, run_late is not
    html = text(client.get(url("warning-list", w)))
    assert kinds(html) == [SLACK_LOW, RUN_LATE]
    assert html.count(">for you<") == 1


def test_a_partner_sees_the_runs_warnings_but_not_other_parties_tasks(client, w):
    client.force_login(w.o.partner)  # the forwarder ships; pack is the clerk's
    assert kinds(text(client.get(url("warning-list", w)))) == [RUN_LATE]
    client.force_login(w.user(w.olga))  # takes no part in the run
    assert kinds(text(client.get(url("warning-list", w)))) == []
    assert (
        client.post(url("warning-acknowledge", w, warning("run_late").pk)).status_code
        == 404
    )


def test_acknowledging_a_warning(client, w):
    late = warning("run_late")
    client.force_login(w.o.member)

    response = client.post(
        url("warning-acknowledge", w, late.pk),
        {"next": url("warning-list", w) + "?kind=run_late"},
    )

    assert response.status_code == 302
    assert response["Location"] == url("warning-list", w) + "?kind=run_late"
    delivery = WarningRecipient.objects.get(warning=late, user=w.o.member)
    assert delivery.acknowledged_at is not None
    assert AuditEvent.objects.filter(verb="acknowledged").count() == 1
    html = text(client.get(url("warning-list", w) + "?kind=run_late"))
    assert ">acknowledged<" in html
    assert acknowledge_buttons(html) == 0
    # somewhere else than our own site is not where we go next
    again = client.post(
        url("warning-acknowledge", w, late.pk), {"next": "https://example.com/"}
    )
    assert again["Location"] == url("warning-list", w)


def test_only_its_recipients_acknowledge_a_warning(client, w):
    late = warning("run_late")
    before = list(AuditEvent.objects.values_list("pk", flat=True))
    client.force_login(w.admin)
    assert client.post(url("warning-acknowledge", w, late.pk)).status_code == 403
    assert client.get(url("warning-acknowledge", w, late.pk)).status_code == 405
    assert list(AuditEvent.objects.values_list("pk", flat=True)) == before


def test_the_list_filters_by_kind_and_state(client, w):
    client.force_login(w.o.member)
    assert kinds(text(client.get(url("warning-list", w) + "?kind=slack_low"))) == [
        SLACK_LOW
    ]
    assert kinds(text(client.get(url("warning-list", w) + "?state=resolved"))) == []
    # the due date moves: the run is on time again, the warnings resolve
    run = w.refresh()
    chains.move_due_date(
        run,
        actor=w.o.member,
        expected_version=run.version,
        due_at=T0 + dt.timedelta(days=14),
        reason="The customer agreed to wait",
        now=T0 + dt.timedelta(hours=2),
    )
    warnings.scan(now=T0 + dt.timedelta(hours=3), organisation_ids=[w.organisation.pk])
    assert kinds(text(client.get(url("warning-list", w)))) == []
    resolved = text(client.get(url("warning-list", w) + "?state=resolved"))
    assert sorted(kinds(resolved)) == [RUN_LATE, SLACK_LOW]
    assert resolved.count(">resolved<") == 2
    assert acknowledge_buttons(resolved) == 0
    # unknown values fall back to the defaults
    assert len(kinds(text(client.get(url("warning-list", w) + "?kind=x&state=y")))) == 0


def test_the_list_keeps_its_query_count(client, w):
    client.force_login(w.o.member)
    client.get(url("warning-list", w))
    with CaptureQueriesContext(connection) as small:
        client.get(url("warning-list", w))
    # more late runs, each with its warnings
    for n in range(4):
        factories.f.start_run(
            w.run.procedure_version, actor=w.admin, title=f"Late {n}", due_days=3
        )
    warnings.scan(now=T0 + dt.timedelta(hours=2), organisation_ids=[w.organisation.pk])
    with CaptureQueriesContext(connection) as big:
        html = text(client.get(url("warning-list", w)))
    assert len(kinds(html)) == 10
    # session, user, membership; the count, the page of warnings
    assert len(small) == len(big) == WARNING_LIST_QUERIES


WARNING_LIST_QUERIES = 5


# --- the focus page -------------------------------------------------------------------


def test_the_focus_page_shows_the_readers_warnings_to_acknowledge(client, w):
    client.force_login(w.o.member)
    focus = url("focus", w)

    html = text(client.get(focus))

    panel = html.split('id="warnings-title"', 1)[1].split("</section>", 1)[0]
    assert sorted(kinds(panel)) == [RUN_LATE, SLACK_LOW]
    assert "is projected to finish at" in panel  # why
    assert "Look at the critical path" in panel  # what to do
    assert acknowledge_buttons(panel) == 2
    assert ">Early warnings<" in html  # the summary at the top

    late = warning("run_late")
    response = client.post(
        url("warning-acknowledge", w, late.pk), {"next": focus + "#warnings"}
    )
    assert response["Location"] == focus + "#warnings"
    panel = text(client.get(focus)).split('id="warnings-title"', 1)[1]
    panel = panel.split("</section>", 1)[0]
    # still shown (it still holds), acknowledged, after the one not yet taken in
    assert kinds(panel) == [SLACK_LOW, RUN_LATE]
    assert acknowledge_buttons(panel) == 1
    assert ">acknowledged<" in panel


def test_the_focus_page_lists_obstacles_answered_for_and_actions_owned(client, w):
    from rantai.obstacles import reviews
    from rantai.obstacles.models import ReviewTrigger

    on_ship = factories.make_obstacle(
        w, task=w.task("ship"), title="Truck", actor=w.admin
    )
    factories.make_obstacle(w, task=w.task("store"), title="Forklift", actor=w.admin)
    factories.make_mitigation(on_ship, w, description="Book a second truck")
    review = reviews.open_review(
        w.run, trigger=ReviewTrigger.REQUESTED, actor=w.o.member, now=T0
    )
    reviews.add_action(
        review, actor=w.o.member, description="Send the papers earlier", owner=w.ani
    )
    # Rina answers for "ship" (she holds its accountable position), not "store"
    client.force_login(w.o.member)
    html = text(client.get(url("focus", w)))
    panel = html.split('id="obstacles-title"', 1)[1].split("</section>", 1)[0]
    assert "Truck" in panel and "Forklift" not in panel
    assert 'id="actions-title"' not in html  # she owns no action
    # Wati answers for "store"
    client.force_login(w.user(w.wati))
    panel = text(client.get(url("focus", w))).split('id="obstacles-title"', 1)[1]
    assert "Forklift" in panel.split("</section>", 1)[0]
    # Ani owns the mitigation and the review's action
    client.force_login(w.user(w.ani))
    html = text(client.get(url("focus", w)))
    assert 'id="obstacles-title"' not in html
    actions = html.split('id="actions-title"', 1)[1].split("</section>", 1)[0]
    assert "Book a second truck" in actions and "Truck" in actions
    assert "Send the papers earlier" in actions
    assert url("mitigation-complete", w, on_ship.mitigations.get().pk) in actions


def test_the_focus_page_costs_the_same_whatever_the_number_of_them(client, w):
    from rantai.obstacles import reviews
    from rantai.obstacles.models import ReviewTrigger

    def some(label: str) -> None:
        obstacle = factories.make_obstacle(
            w, task=w.task("ship"), title=f"{label} obstacle", actor=w.o.member
        )
        factories.make_mitigation(obstacle, w, owner=w.rina)

    review = reviews.open_review(
        w.run, trigger=ReviewTrigger.REQUESTED, actor=w.o.member, now=T0
    )
    some("First")
    reviews.add_action(review, actor=w.o.member, description="One", owner=w.rina)
    client.force_login(w.o.member)
    client.get(url("focus", w))
    with CaptureQueriesContext(connection) as small:
        client.get(url("focus", w))
    for n in range(4):
        some(f"More {n}")
        reviews.add_action(review, actor=w.o.member, description=f"A{n}", owner=w.rina)
    warnings.scan(now=T0 + dt.timedelta(hours=2), organisation_ids=[w.organisation.pk])
    with CaptureQueriesContext(connection) as big:
        html = text(client.get(url("focus", w)))
    assert html.split('id="obstacles-title"', 1)[1].count('class="obstacle-item') == 5
    assert html.split('id="actions-title"', 1)[1].count('class="deviation ') == 10
    assert len(small) == len(big)
