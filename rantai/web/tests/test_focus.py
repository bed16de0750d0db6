"""The Focus page: each person's home — their next tasks by urgency (critical path
and slack), the approvals waiting for them, their stuck requests and the targets
their work feeds — per role, with empty states, and a fixed number of queries
whatever the number of tasks and approvals.

The people are those of test_approval_pages.py (`build_coord`): Wawan heads the
warehouse (the "pack" step of the shipment procedure); Dina is an export clerk
("ship", after "pack", claimable: Budi holds the position too) who asks for due-date
changes; Rina (head of export) decides their first stage, Wawan the second, Sari
the third.
"""

from __future__ import annotations

import datetime as dt

from django.urls import reverse
from django.utils import timezone

from rantai.approvals import delegation
from rantai.chains import services as chains
from rantai.chains.models import Task, TaskStatus
from rantai.chains.tests.helpers import StepSpec, build_version
from rantai.web.tests.test_approval_pages import (  # noqa: F401 - the fixture
    Coord,
    ask,
    assert_csp_clean,
    coord,
    count_queries,
    decide,
    section,
    start_run,
    text,
    url,
)
from rantai.web.views.accounts import organisation_home_url


def focus(client, coord: Coord) -> str:  # type: ignore[no-untyped-def]  # noqa: F811
    response = client.get(url("focus", coord))
    assert response.status_code == 200
    assert_csp_clean(response)
    return text(response)


def task_names(html: str) -> list[str]:
    """The task names of the "do next" table, in order."""
    table = section(html, "do-next-title")
    return [
        row.split(">", 1)[1].split("<", 1)[0]
        for row in table.split('<th scope="row"><a href="')[1:]
    ]


def test_members_land_on_their_focus_page(client, coord):  # noqa: F811
    assert organisation_home_url("acme") == url("focus", coord)
    client.force_login(coord.team.dina)
    response = client.get(reverse("home"))
    assert response.status_code == 302
    assert response["Location"] == url("focus", coord)
    html = focus(client, coord)
    assert '<a href="/o/acme/focus/" aria-current="page">Focus</a>' in html


def test_the_next_tasks_come_by_urgency_with_the_critical_path(client, coord):  # noqa: F811
    o, team = coord.o, coord.team
    relaxed = start_run(coord, title="Relaxed", days=90)
    tight = start_run(coord, title="Tight", days=2)
    # a run where "pack" waits beside a longer parallel branch: not critical
    parallel = build_version(
        o,
        [
            StepSpec("pack", team.warehouse_head, o.export_head),
            StepSpec("paperwork", o.export_staff, o.export_head, days="5"),
        ],
        code="PAR",
    )
    now = timezone.now()
    side = chains.start_run(
        parallel,
        actor=o.member,
        title="Side branch",
        measure_quantity=10,
        measure_unit="crates",
        due_at=now + dt.timedelta(days=60),
        now=now,
    )
    client.force_login(team.wawan)

    html = focus(client, coord)

    assert task_names(html) == ["Pack", "Pack", "Pack"]
    table = section(html, "do-next-title")
    rows = table.split("<tr ")[1:]
    # least slack first: the tight run, then the side branch (60 days), then 90
    assert [
        r.split(">Pack<", 1)[0].rsplit("#task-", 1)[1].strip('"') for r in rows
    ] == [
        str(Task.objects.get(run=run, key="pack").pk) for run in (tight, side, relaxed)
    ]
    assert "Tight" in rows[0] and "critical path" in rows[0] and "late" in rows[0]
    assert "behind" in rows[0]
    assert "Side branch" in rows[1] and "critical path" not in rows[1]  # paperwork
    assert "Relaxed" in rows[2] and "critical path" in rows[2]  # pack leads it
    pack = Task.objects.get(run=tight, key="pack")
    assert f"/tasks/{pack.pk}/start/" in rows[0]
    assert 'name="next" value="/o/acme/focus/"' in rows[0]

    # the targets their work feeds: the late run first
    targets = section(html, "targets-title")
    assert targets.index("Tight") < targets.index("Side branch")
    assert "500 units" in targets and "10 crates" in targets
    assert "badge-schedule-late" in targets.split("Relaxed", 1)[0]


def test_started_and_claimable_tasks_and_the_empty_states(client, coord):  # noqa: F811
    o, team = coord.o, coord.team
    run = start_run(coord)
    pack = Task.objects.get(run=run, key="pack")
    chains.start_task(pack, actor=team.wawan, expected_version=None)
    client.force_login(team.wawan)
    html = focus(client, coord)
    assert task_names(html) == ["Pack"]
    assert f"/tasks/{pack.pk}/complete/" in html

    chains.complete_task(pack, actor=team.wawan, expected_version=None)
    # "ship" is now ready: the assignment policy gives it to Dina, the one export
    # clerk who can log in (Budi has no login and would stall it)
    client.force_login(team.dina)
    html = focus(client, coord)
    ship = Task.objects.select_related("assignee").get(run=run, key="ship")
    assert ship.status == TaskStatus.READY
    assert ship.assignee is not None and ship.assignee.user_id == team.dina.pk
    assert task_names(html) == ["Ship"]
    assert f"/tasks/{ship.pk}/start/" in html

    client.force_login(team.dewi)  # holds nothing, asks nothing
    html = focus(client, coord)
    assert "Nothing is ready for you to work on." in html
    assert "No approval waits for you." in html
    assert "None of your requests is stuck" in html
    assert "No active run has a task of yours." in html

    client.force_login(o.partner)  # no approvals for partners
    html = focus(client, coord)
    assert 'id="approvals"' not in html and 'id="stuck"' not in html
    assert 'id="do-next"' in html and 'id="targets"' in html


def test_approvals_waiting_with_time_left_overdue_and_delegated(client, coord):  # noqa: F811
    team = coord.team
    now = timezone.now()
    fresh = ask(coord, start_run(coord, title="Fresh"))
    late = ask(
        coord,
        start_run(coord, title="Old", now=now - dt.timedelta(days=20)),
        now=now - dt.timedelta(days=10),
    )
    client.force_login(coord.rina)

    html = focus(client, coord)
    waiting = section(html, "approvals-title")
    assert waiting.index(late.title) < waiting.index(fresh.title)  # soonest due first
    late_row, fresh_row = waiting.split("<tr>")[2:4]
    assert "overdue by" in late_row and 'class="error"' in late_row
    assert "left" in fresh_row and "overdue" not in fresh_row
    assert f"{url('approval-detail', coord, fresh.pk)}?next=/o/acme/focus/#decide" in (
        fresh_row
    )

    # Rina is away: Dewi decides for her and sees on whose behalf
    delegation.delegate(
        team.person("rina"),
        actor=coord.rina,
        delegate=team.person("dewi"),
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(days=2),
    )
    client.force_login(team.dewi)
    waiting = section(focus(client, coord), "approvals-title")
    assert fresh.title in waiting and late.title in waiting
    assert "a.n. Rina Kusuma (delegated to you)" in waiting


def test_stuck_requests_returned_or_overdue_with_a_nudge(client, coord):  # noqa: F811
    team = coord.team
    now = timezone.now()
    returned = ask(coord, start_run(coord, title="Returned"))
    decide(returned, coord.rina, "return", return_to_stage=0)
    overdue = ask(
        coord,
        start_run(coord, title="Overdue", now=now - dt.timedelta(days=20)),
        now=now - dt.timedelta(days=10),
    )
    moving = ask(coord, start_run(coord, title="Moving"))
    client.force_login(team.dina)

    html = focus(client, coord)
    stuck = section(html, "stuck-title")
    assert returned.title in stuck and overdue.title in stuck
    assert moving.title not in stuck
    assert "Returned to you for revision by Rina Kusuma" in stuck
    assert "Please attach the customer" in stuck
    overdue_item = stuck.split(f'id="stuck-{overdue.pk}"', 1)[1].split("</li>", 1)[0]
    assert "waiting for: Rina Kusuma" in overdue_item
    nudge = url("approval-nudge", coord, overdue.pk)
    assert nudge in overdue_item

    response = client.post(nudge, {"next": url("focus", coord) + "#stuck"})
    assert response.status_code == 302
    assert response["Location"] == url("focus", coord) + "#stuck"
    stuck = section(focus(client, coord), "stuck-title")
    assert nudge not in stuck
    assert "You reminded them recently" in stuck


# --- query count --------------------------------------------------------------------

# 21 + the consultations waiting for the caller's input and their briefings to
# acknowledge (issue 6: one query each, `rantai.roles.queries`), + the caller's
# early warnings, the open obstacles they answer for, the mitigations and the
# review action items they own (issue 7: one query each, whatever their number).
# +1 since issue 8: the targets the caller's work contributes to
# (`insight.queries.focus_targets`; their roll-up, two more, only when there are
# some, whatever their number).
FOCUS_QUERIES = 28  # the workload sheets to fill in included


def test_the_focus_page_keeps_its_query_count(client, coord):  # noqa: F811
    """The same number of queries for a person with a few tasks, approvals and
    stuck requests as for one with five times as many."""
    team = coord.team
    now = timezone.now()
    past = now - dt.timedelta(days=10)

    def some_of_everything(label: str) -> None:
        # a task for Wawan (pack) in each run, and an approval at his stage
        waiting = ask(coord, start_run(coord, title=f"{label} waiting"))
        decide(waiting, coord.rina)
        # his own requests: one returned to him, one past its time limit
        returned = ask(
            coord, start_run(coord, title=f"{label} returned"), actor=team.wawan
        )
        decide(returned, team.sari, "return", return_to_stage=0)
        ask(
            coord,
            start_run(coord, title=f"{label} old", now=past - dt.timedelta(days=10)),
            actor=team.wawan,
            now=past,
        )

    some_of_everything("Small")
    client.force_login(team.wawan)
    count_queries(client, url("focus", coord))  # warm the calendar cache
    small = count_queries(client, url("focus", coord))

    for n in range(4):
        some_of_everything(f"More {n}")
    big = count_queries(client, url("focus", coord))
    html = focus(client, coord)
    assert len(task_names(html)) == 15
    assert section(html, "approvals-title").count("<tr>") == 1 + 5
    assert section(html, "stuck-title").count("<li ") == 10
    assert section(html, "targets-title").count("<tr>") == 1 + 15

    assert small == big == FOCUS_QUERIES
