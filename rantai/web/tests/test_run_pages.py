"""The run pages: the runs list and its filters, starting a run, a run with its
timeline, tasks and deviations, the actions on tasks and runs, and "my tasks" — who
may see and do what, and that every refused action writes nothing.

The people (see `rantai.chains.tests.conftest.Crew`): Rina heads export (owner of
the procedures); Budi (no login) and Dina hold the export clerk position, so its
tasks are claimed; Wawan is the sole head of the warehouse; Joko is the
forwarder's partner user; Dewi is a member holding nothing; the admin holds nothing.
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from decimal import Decimal

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rantai.chains import services
from rantai.chains.models import (
    Deviation,
    DeviationStatus,
    FieldType,
    Run,
    RunStatus,
    Task,
    TaskStatus,
)
from rantai.chains.tests.conftest import clean_registry, crew  # noqa: F401
from rantai.chains.tests.helpers import StepSpec, build_version, tasks_of
from rantai.web.views.runs import dependency_order, number, working_span

CONFLICT = "This record was changed by someone else in the meantime."


def url(name: str, crew, *args: object) -> str:  # type: ignore[no-untyped-def]  # noqa: F811
    return reverse(name, args=[crew.o.organisation.slug, *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def assert_csp_clean(response) -> None:  # type: ignore[no-untyped-def]
    html = text(response)
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert re.search(r"\son[a-z]+=", html) is None


def row_titles(response) -> list[str]:  # type: ignore[no-untyped-def]
    return re.findall(r'<th scope="row"><a [^>]*>([^<]+)</a>', text(response))


def task_rows(response) -> list[str]:  # type: ignore[no-untyped-def]
    """The task names of a run page's task table, in order."""
    return re.findall(
        r'<span class="task-number">\d+\.</span> ([^\n<]+)', text(response)
    )


def snapshot() -> dict[str, list[tuple]]:
    """Every row a run page could change, for 'nothing changed' checks."""
    from rantai.audit.models import AuditEvent

    return {
        "runs": list(Run.objects.order_by("pk").values_list()),
        "tasks": list(Task.objects.order_by("pk").values_list()),
        "deviations": list(Deviation.objects.order_by("pk").values_list()),
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
    }


def start_run(version, user, *, title="Ship 500 units to Kota A", days=14, **values):  # type: ignore[no-untyped-def]
    now = timezone.now()
    return services.start_run(
        version,
        actor=user,
        title=title,
        objective="Deliver the order",
        measure_quantity=500,
        measure_unit="units",
        due_at=now + dt.timedelta(days=days),
        field_values=values or {},
        now=now,
    )


@pytest.fixture
def shipment(crew):  # type: ignore[no-untyped-def]  # noqa: F811
    """target (export clerks: claimable) and produce (head of warehouse: Wawan) in
    parallel, then pickup (the forwarder) after produce."""
    o = crew.o
    return build_version(
        o,
        [
            StepSpec("target", o.export_staff, o.export_head),
            StepSpec("produce", crew.warehouse_head, o.export_head, days="5"),
            StepSpec("pickup", o.forwarder, crew.warehouse_head, after=["produce"]),
        ],
        code="SHIP",
    )


@pytest.fixture
def stock_count(crew):  # type: ignore[no-untyped-def]  # noqa: F811
    """An internal procedure the forwarder takes no part in."""
    return build_version(
        crew.o, [StepSpec("count", crew.warehouse_head, crew.o.export_head)], code="CNT"
    )


# --- the runs list ----------------------------------------------------------------


def test_the_runs_list_filters_by_status_procedure_party_and_schedule(
    client,
    crew,  # noqa: F811
    shipment,
    stock_count,
):
    o = crew.o
    first = start_run(shipment, o.member, title="Ship 1")
    start_run(stock_count, o.member, title="Stock count")
    start_run(shipment, o.member, title="Ship 2", days=1)
    services.cancel_run(first, actor=o.admin, expected_version=None, reason="Void")
    client.force_login(o.admin)
    runs = url("run-list", crew)

    response = client.get(runs)
    assert response.status_code == 200
    assert row_titles(response) == ["Ship 2", "Stock count", "Ship 1"]
    assert "3 runs" in text(response)
    assert_csp_clean(response)

    def titles(**params: object) -> list[str]:
        return row_titles(client.get(runs, params))

    assert titles(status="active") == ["Ship 2", "Stock count"]
    assert titles(status="cancelled") == ["Ship 1"]
    assert titles(procedure=stock_count.procedure_id) == ["Stock count"]
    assert titles(party=o.forwarder.pk) == ["Ship 2", "Ship 1"]
    assert titles(schedule="late") == ["Ship 2"]
    assert titles(schedule="on_track", status="active") == ["Stock count"]
    # unknown values are ignored rather than failing
    assert titles(status="bogus", procedure="x", party="-1") == [
        "Ship 2",
        "Stock count",
        "Ship 1",
    ]


def test_the_runs_list_shows_the_target_status_schedule_and_progress(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    tasks = tasks_of(run)
    services.complete_task(tasks["produce"], actor=crew.wawan, expected_version=None)
    client.force_login(o.member)

    html = text(client.get(url("run-list", crew)))

    zone = zoneinfo.ZoneInfo(o.organisation.time_zone)
    due = run.due_at.astimezone(zone)
    assert "Procedure SHIP" in html and "v1</span>" in html
    assert "500 units" in html
    assert f"{due.day} {due:%b} {due.year}" in html
    assert 'class="badge badge-run-active">active<' in html
    assert "badge-schedule-" in html
    assert "1/3 tasks" in html


def test_a_partner_sees_only_the_runs_their_party_takes_part_in(
    client,
    crew,  # noqa: F811
    shipment,
    stock_count,
):
    o = crew.o
    start_run(shipment, o.member, title="Ship 1")
    count = start_run(stock_count, o.member, title="Stock count")
    client.force_login(o.partner)

    response = client.get(url("run-list", crew))

    assert row_titles(response) == ["Ship 1"]
    assert client.get(url("run-detail", crew, count.pk)).status_code == 404
    assert client.get(url("run-history", crew, count.pk)).status_code == 404


# --- starting a run ---------------------------------------------------------------


@pytest.fixture
def typed(crew):  # type: ignore[no-untyped-def]  # noqa: F811
    """A procedure whose runs fill in one field of each type."""
    o = crew.o
    return build_version(
        o,
        [StepSpec("count", crew.warehouse_head, o.export_head)],
        code="TYPED",
        fields=[
            {"key": "quantity", "label": "Quantity", "field_type": FieldType.INTEGER},
            {
                "key": "value",
                "label": "Shipment value",
                "field_type": FieldType.DECIMAL,
                "unit": "IDR",
            },
            {"key": "express", "label": "Express", "field_type": FieldType.BOOLEAN},
            {
                "key": "destination",
                "label": "Destination",
                "field_type": FieldType.CHOICE,
                "choices": ["Kota A", "Kota B"],
            },
            {
                "key": "ship_on",
                "label": "Ship on",
                "field_type": FieldType.DATE,
                "required": False,
            },
            {"key": "note", "label": "Note", "field_type": FieldType.TEXT},
        ],
    )


def local_today(crew) -> dt.date:  # type: ignore[no-untyped-def]  # noqa: F811
    zone = zoneinfo.ZoneInfo(crew.o.organisation.time_zone)
    return timezone.now().astimezone(zone).date()


def start_form(crew, **overrides: object) -> dict[str, object]:  # type: ignore[no-untyped-def]  # noqa: F811
    data: dict[str, object] = {
        "title": "Ship 1.500 units",
        "objective": "Deliver to Kota A",
        "measure_quantity": "1.234,5",
        "measure_unit": "units",
        "due_date": (local_today(crew) + dt.timedelta(days=21)).isoformat(),
        "field_quantity": "1.500",
        "field_value": "2.500.000,50",
        "field_express": "yes",
        "field_destination": "Kota A",
        "field_ship_on": "",
        "field_note": "fragile",
    }
    data.update(overrides)
    return data


def test_the_start_page_renders_each_field_type_as_its_own_input(
    client,
    crew,  # noqa: F811
    typed,
):
    client.force_login(crew.o.member)

    response = client.get(url("run-start", crew) + f"?version={typed.pk}")

    html = text(response)
    assert response.status_code == 200
    assert 'name="field_quantity"' in html and 'inputmode="numeric"' in html
    assert 'name="field_value"' in html and 'inputmode="decimal"' in html
    assert 'type="radio" name="field_express" value="yes"' in html
    assert '<select name="field_destination"' in html
    assert '<option value="Kota B">Kota B</option>' in html
    assert 'type="date" name="field_ship_on"' in html
    assert "Unit: IDR" in html
    assert_csp_clean(response)
    # the chooser lists the procedures that can be started
    chooser = text(client.get(url("run-start", crew)))
    assert f"?version={typed.pk}" in chooser


def test_starting_a_run_reads_indonesian_numbers_and_typed_fields(
    client,
    crew,  # noqa: F811
    typed,
):
    client.force_login(crew.o.member)

    response = client.post(
        url("run-start", crew) + f"?procedure={typed.procedure_id}", start_form(crew)
    )

    run = Run.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url("run-detail", crew, run.pk)
    assert run.measure_quantity == Decimal("1234.5")
    assert run.field_values == {
        "quantity": 1500,
        "value": "2500000.5",
        "express": True,
        "destination": "Kota A",
        "note": "fragile",
    }
    assert run.due_at == services.due_at_for_date(
        crew.o.organisation, local_today(crew) + dt.timedelta(days=21)
    )
    assert run.started_by == crew.o.member


@pytest.mark.parametrize(
    ("overrides", "field", "message"),
    [
        # the service refuses a due date in the past: shown on the date field
        (
            {"due_date": "2020-01-01"},
            "due_date",
            "The due date must be in the future.",
        ),
        ({"field_quantity": "abc"}, "field_quantity", "“abc” is not a number."),
        ({"field_quantity": "1,5"}, "field_quantity", "“1,5” is not a whole number."),
        ({"measure_quantity": ""}, "measure_quantity", "This field is required."),
        ({"field_destination": "Kota C"}, "field_destination", "Select a valid"),
        ({"field_express": ""}, "field_express", "This field is required."),
    ],
)
def test_a_refused_start_shows_the_error_on_the_field_and_writes_nothing(
    client,
    crew,  # noqa: F811
    typed,
    overrides,
    field,
    message,
):
    client.force_login(crew.o.member)
    before = snapshot()

    response = client.post(
        url("run-start", crew) + f"?version={typed.pk}",
        start_form(crew, **overrides),
    )

    html = text(response)
    assert response.status_code == 200
    assert "Nothing was saved." in html
    block = html.split(f'data-field="{field}"', 1)[1].split('data-field="', 1)[0]
    assert "has-error" in html.split(f'data-field="{field}"', 1)[1][:40]
    assert message in block
    assert snapshot() == before


def test_only_members_and_admins_start_runs(client, crew, typed):  # noqa: F811
    o = crew.o
    before = snapshot()
    for user in (o.partner, o.auditor):
        client.force_login(user)
        target = url("run-start", crew) + f"?version={typed.pk}"
        assert client.get(target).status_code == 403
        assert client.post(target, start_form(crew)).status_code == 403
    assert snapshot() == before


def test_a_retired_version_cannot_be_started(client, crew, typed):  # noqa: F811
    o = crew.o
    services.retire(typed, actor=o.admin, expected_version=None)
    client.force_login(o.member)
    before = snapshot()

    response = client.post(
        url("run-start", crew) + f"?version={typed.pk}", start_form(crew)
    )

    assert response.status_code == 200
    assert "Only the published version of a procedure can be started" in text(response)
    assert snapshot() == before


# --- the run page -----------------------------------------------------------------


def test_the_run_page_shows_the_target_the_timeline_and_the_tasks(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    services.complete_task(
        tasks_of(run)["produce"], actor=crew.wawan, expected_version=None
    )
    client.force_login(o.member)

    response = client.get(url("run-detail", crew, run.pk))

    html = text(response)
    assert response.status_code == 200
    assert_csp_clean(response)
    # the target and where it stands
    assert "500 units" in html
    assert "Deliver the order" in html
    assert "of slack left before the due date" in html
    # the timeline: one bar per task, today and the due line
    svg = html.split("<svg", 1)[1].split("</svg>", 1)[0]
    assert svg.count('class="svg-gantt-row') == 3
    assert ">Today<" in svg and ">Due" in svg
    # the tasks in dependency order, with who does them
    assert task_rows(response) == ["Target", "Produce", "Pickup"]
    assert "claimable by holders of Export clerk" in html
    assert "Fast Forwarding" in html
    assert "after <a" in html


def test_the_history_names_the_engine_s_event_fields_in_the_user_s_language(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    client.force_login(o.member)

    html = text(client.get(url("run-detail", crew, run.pk)))
    panel = html.split('class="history-box"', 1)[1].split("</section>", 1)[0]
    assert "Tasks" in panel and "Target" in panel
    assert "Measure" not in panel and "Field values: {" not in panel

    o.member.language = "id"
    o.member.save(update_fields=["language"])
    panel = text(client.get(url("run-detail", crew, run.pk)))
    panel = panel.split('class="history-box"', 1)[1].split("</section>", 1)[0]
    assert "Tugas" in panel and "Siap" in panel and "Versi prosedur" in panel
    assert "Tasks" not in panel and "Ready" not in panel


def test_the_run_page_explains_a_late_run_and_a_finished_one(
    client,
    crew,  # noqa: F811
    shipment,
    stock_count,
):
    o = crew.o
    late = start_run(shipment, o.member, title="Too tight", days=1)
    count = start_run(stock_count, o.member, title="Count")
    services.complete_task(
        tasks_of(count)["count"], actor=crew.wawan, expected_version=None
    )
    client.force_login(o.member)

    late_html = text(client.get(url("run-detail", crew, late.pk)))
    done_html = text(client.get(url("run-detail", crew, count.pk)))

    assert "after the due date: the target will be missed" in late_html
    assert 'badge-schedule-late">late<' in late_html
    assert 'badge-result-met">target met<' in done_html
    assert "500 of 500 units achieved." in done_html
    assert "before the due date." in done_html


def test_buttons_show_only_what_the_services_allow(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    tasks = tasks_of(run)

    def actions(user) -> set[str]:  # type: ignore[no-untyped-def]
        client.force_login(user)
        html = text(client.get(url("run-detail", crew, run.pk)))
        found = set(re.findall(r"/tasks/(\d+)/(claim|start|complete|reopen)/", html))
        keys = {task.pk: key for key, task in tasks.items()}
        return {f"{keys[int(pk)]}:{action}" for pk, action in found}

    assert actions(crew.dina) == {"target:claim", "target:start", "target:complete"}
    assert actions(crew.wawan) == {"produce:start", "produce:complete"}
    # Rina answers for both (accountable), the process owner too
    assert actions(o.member) == {
        "target:claim",
        "target:start",
        "target:complete",
        "produce:start",
        "produce:complete",
    }
    assert actions(crew.dewi) == set()
    assert actions(o.admin) == set()
    assert actions(o.auditor) == set()
    assert actions(o.partner) == set()  # pickup is still pending
    for user, key in [(crew.dina, "target"), (crew.wawan, "produce")]:
        task = tasks[key]
        task.refresh_from_db()
        assert services.may_act_on(task, user)
    assert not services.may_act_on(tasks["produce"], crew.dewi)
    assert not services.may_act_on(tasks["produce"], o.admin)


def test_the_owner_sees_the_run_actions_and_others_do_not(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    owner_paths = ("/suspend/", "/cancel/", "/due-date/")

    client.force_login(o.member)  # Rina holds the owner position
    html = text(client.get(url("run-detail", crew, run.pk)))
    assert all(f"/runs/{run.pk}{path}" in html for path in owner_paths)

    client.force_login(o.admin)  # steers the run, but only the owner moves the date
    html = text(client.get(url("run-detail", crew, run.pk)))
    assert f"/runs/{run.pk}/suspend/" in html
    assert f"/runs/{run.pk}/due-date/" not in html

    for user in (crew.dina, o.auditor, o.partner):
        client.force_login(user)
        html = text(client.get(url("run-detail", crew, run.pk)))
        assert not any(f"/runs/{run.pk}{path}" in html for path in owner_paths)


# --- actions on tasks -------------------------------------------------------------


def test_starting_a_task_changes_exactly_its_state_and_a_second_click_conflicts(
    client,
    crew,  # noqa: F811
    shipment,
    audit_trail,
):
    o = crew.o
    run = start_run(shipment, o.member)
    produce = tasks_of(run)["produce"]
    client.force_login(crew.wawan)
    page = url("run-detail", crew, run.pk)
    before = {key: (t.status, t.version) for key, t in tasks_of(run).items()}
    trail = audit_trail(o.organisation)

    response = client.post(
        url("task-start", crew, produce.pk),
        {"version": produce.version, "next": page},
    )

    assert response.status_code == 302
    assert response["Location"] == page
    after = {key: (t.status, t.version) for key, t in tasks_of(run).items()}
    assert after == {
        **before,
        "produce": (TaskStatus.IN_PROGRESS, produce.version + 1),
    }
    assert trail.only_new_event().verb == "task_started"

    # the same click again, from the same (now stale) page
    trail = audit_trail(o.organisation)
    unchanged = snapshot()
    response = client.post(
        url("task-start", crew, produce.pk),
        {"version": produce.version, "next": page},
    )

    assert response.status_code == 409
    assert CONFLICT in text(response)
    assert f'name="version" value="{produce.version + 1}"' in text(response)
    assert snapshot() == unchanged
    trail.assert_nothing_new()


def test_claiming_then_completing_a_task_of_a_shared_position(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    target = tasks_of(run)["target"]
    client.force_login(crew.dina)

    response = client.post(url("task-claim", crew, target.pk), {"version": 1})
    target.refresh_from_db()
    assert response.status_code == 302
    assert target.assignee == crew.dina_person
    assert target.status == TaskStatus.READY

    response = client.post(
        url("task-complete", crew, target.pk), {"version": target.version}
    )
    target.refresh_from_db()
    assert response.status_code == 302
    assert target.status == TaskStatus.DONE


def test_someone_who_may_not_act_gets_403_and_nothing_is_written(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    tasks = tasks_of(run)
    produce = tasks["produce"]
    before = snapshot()

    for user in (crew.dewi, crew.dina, o.admin):
        client.force_login(user)
        for action in ("task-start", "task-complete", "task-claim"):
            target = url(action, crew, produce.pk)
            assert client.get(target).status_code == 403, (user, action)
            response = client.post(target, {"version": produce.version})
            assert response.status_code == 403, (user, action)
    client.force_login(o.auditor)
    assert (
        client.post(
            url("task-start", crew, produce.pk), {"version": produce.version}
        ).status_code
        == 403
    )
    assert snapshot() == before


def test_a_partner_acts_only_on_their_partys_tasks(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    tasks = tasks_of(run)
    services.complete_task(tasks["produce"], actor=crew.wawan, expected_version=None)
    pickup = Task.objects.get(pk=tasks["pickup"].pk)
    assert pickup.status == TaskStatus.READY

    client.force_login(o.partner)
    page = text(client.get(url("run-detail", crew, run.pk)))
    assert task_rows_html(page) == ["Pickup"]
    assert "Produce" not in page  # nor any other task of the run
    before = snapshot()
    # other tasks of the run are not theirs to see, let alone act on
    target = tasks["target"]
    assert (
        client.post(
            url("task-start", crew, target.pk), {"version": target.version}
        ).status_code
        == 404
    )
    assert snapshot() == before
    # the head of warehouse answers for the pickup, but a partner's step is theirs
    client.force_login(crew.wawan)
    assert (
        client.post(
            url("task-start", crew, pickup.pk), {"version": pickup.version}
        ).status_code
        == 403
    )
    assert snapshot() == before

    client.force_login(o.partner)
    response = client.post(
        url("task-start", crew, pickup.pk), {"version": pickup.version}
    )
    pickup.refresh_from_db()
    assert response.status_code == 302
    assert pickup.status == TaskStatus.IN_PROGRESS


def task_rows_html(html: str) -> list[str]:
    return re.findall(r'<span class="task-number">\d+\.</span> ([^\n<]+)', html)


def test_reopening_a_done_task_needs_a_reason(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    produce = tasks_of(run)["produce"]
    services.complete_task(produce, actor=crew.wawan, expected_version=None)
    produce.refresh_from_db()
    client.force_login(crew.wawan)
    before = snapshot()

    refused = client.post(
        url("task-reopen", crew, produce.pk),
        {"version": produce.version, "reason": ""},
    )
    assert refused.status_code == 200
    assert "This field is required." in text(refused)
    assert snapshot() == before

    response = client.post(
        url("task-reopen", crew, produce.pk),
        {"version": produce.version, "reason": "Wrong batch"},
    )
    produce.refresh_from_db()
    assert response.status_code == 302
    assert produce.status == TaskStatus.READY
    assert produce.last_reopen_reason == "Wrong batch"
    assert Task.objects.get(run=run, key="pickup").status == TaskStatus.PENDING


# --- the process owner's actions --------------------------------------------------


def test_the_owner_suspends_resumes_and_cancels_a_run(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    client.force_login(o.member)

    response = client.post(
        url("run-suspend", crew, run.pk), {"version": run.version, "reason": "Strike"}
    )
    run.refresh_from_db()
    assert response.status_code == 302
    assert (run.status, run.status_reason) == (RunStatus.SUSPENDED, "Strike")
    assert "Suspended: Strike" in text(client.get(url("run-detail", crew, run.pk)))

    client.post(url("run-resume", crew, run.pk), {"version": run.version})
    run.refresh_from_db()
    assert run.status == RunStatus.ACTIVE

    client.post(
        url("run-cancel", crew, run.pk), {"version": run.version, "reason": "Void"}
    )
    run.refresh_from_db()
    assert run.status == RunStatus.CANCELLED
    assert set(Task.objects.filter(run=run).values_list("status", flat=True)) == {
        TaskStatus.CANCELLED
    }
    html = text(client.get(url("run-detail", crew, run.pk)))
    assert "Cancelled: Void" in html
    assert "The run was cancelled; it has no schedule any more." in html
    assert "/suspend/" not in html
    assert re.search(r"/tasks/\d+/(claim|start|complete|recheck|reopen)/", html) is None


def test_a_stale_suspend_conflicts_and_a_non_owner_is_refused(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    stale = run.version
    services.suspend_run(run, actor=o.admin, expected_version=None, reason="Hold")
    services.resume_run(run, actor=o.admin, expected_version=None)
    before = snapshot()

    client.force_login(o.member)
    response = client.post(
        url("run-suspend", crew, run.pk), {"version": stale, "reason": "Again"}
    )
    assert response.status_code == 409
    assert CONFLICT in text(response)

    for user in (crew.dina, crew.wawan, o.auditor):
        client.force_login(user)
        target = url("run-suspend", crew, run.pk)
        assert client.get(target).status_code == 403
        run.refresh_from_db()
        response = client.post(target, {"version": run.version, "reason": "No"})
        assert response.status_code == 403
    assert snapshot() == before


def test_only_the_owner_position_moves_the_due_date(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    new_day = local_today(crew) + dt.timedelta(days=30)
    data = {"version": run.version, "due_date": new_day.isoformat(), "reason": "Late"}
    before = snapshot()

    client.force_login(o.admin)  # an administrator without the position
    assert client.get(url("run-due-date", crew, run.pk)).status_code == 403
    assert client.post(url("run-due-date", crew, run.pk), data).status_code == 403
    assert snapshot() == before

    client.force_login(o.member)
    response = client.post(url("run-due-date", crew, run.pk), data)
    run.refresh_from_db()
    assert response.status_code == 302
    assert run.due_at == services.due_at_for_date(o.organisation, new_day)


# --- deviations -------------------------------------------------------------------


def test_a_deviation_is_confirmed_by_the_accountable_never_by_its_requester(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    target = tasks_of(run)["target"]
    client.force_login(o.member)  # Rina, accountable of "target", asks herself

    response = client.post(
        url("deviation-request", crew, run.pk, "skip-step"),
        {"task": target.pk, "reason": "Customer set it already"},
    )
    assert response.status_code == 302
    deviation = Deviation.objects.get()
    assert deviation.status == DeviationStatus.REQUESTED
    page = text(client.get(url("run-detail", crew, run.pk)))
    assert "Customer set it already" in page
    assert f"/deviations/{deviation.pk}/confirm/" not in page

    before = snapshot()
    for user in (o.member, o.admin, crew.dina):
        client.force_login(user)
        for action in ("deviation-confirm", "deviation-reject"):
            target_url = url(action, crew, deviation.pk)
            assert client.get(target_url).status_code == 403, (user, action)
            response = client.post(target_url, {"version": deviation.version})
            assert response.status_code == 403, (user, action)
    assert snapshot() == before
    # everyone sees it, admins included
    client.force_login(o.admin)
    assert "Customer set it already" in text(
        client.get(url("run-detail", crew, run.pk))
    )


def test_the_accountable_confirms_a_skip_requested_by_someone_else(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    target = tasks_of(run)["target"]
    client.force_login(crew.dina)
    client.post(
        url("deviation-request", crew, run.pk, "skip-step"),
        {"task": target.pk, "reason": "Not needed this time"},
    )
    deviation = Deviation.objects.get()

    client.force_login(o.member)
    page = text(client.get(url("run-detail", crew, run.pk)))
    assert f"/deviations/{deviation.pk}/confirm/" in page
    response = client.post(
        url("deviation-confirm", crew, deviation.pk),
        {"version": deviation.version, "comment": "Agreed"},
    )

    deviation.refresh_from_db()
    target.refresh_from_db()
    assert response.status_code == 302
    assert deviation.status == DeviationStatus.CONFIRMED
    assert deviation.decided_by == o.member
    assert target.status == TaskStatus.SKIPPED
    page = text(client.get(url("run-detail", crew, run.pk)))
    assert "Not needed this time" in page and "confirmed by" in page


def test_adding_a_step_by_deviation(client, crew, shipment):  # noqa: F811
    o = crew.o
    run = start_run(shipment, o.member)
    tasks = tasks_of(run)
    client.force_login(crew.dina)
    before = snapshot()

    refused = client.post(
        url("deviation-request", crew, run.pk, "add-step"),
        {
            "name": "Customs papers",
            "duration_value": "2",
            "duration_unit": "working_hours",
            "accountable_position": o.export_head.pk,
            "reason": "New rule",
        },
    )
    assert refused.status_code == 200
    assert "Name a responsible position or an external party" in text(refused)
    assert snapshot() == before

    response = client.post(
        url("deviation-request", crew, run.pk, "add-step"),
        {
            "name": "Customs papers",
            "duration_value": "2",
            "duration_unit": "working_hours",
            "responsible_position": o.export_staff.pk,
            "accountable_position": o.export_head.pk,
            "after": [tasks["produce"].pk],
            "before": [tasks["pickup"].pk],
            "reason": "New rule",
        },
    )
    assert response.status_code == 302
    deviation = Deviation.objects.get()
    assert deviation.details["key"] == "customs-papers"
    assert deviation.details["duration_minutes"] == 120
    html = text(client.get(url("run-detail", crew, run.pk)))
    assert "Add “Customs papers”" in html


# --- my tasks ---------------------------------------------------------------------


def my_task_names(response) -> list[str]:  # type: ignore[no-untyped-def]
    return row_titles(response)


def test_my_tasks_for_a_holder_a_claimable_position_and_a_partner(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    tasks = tasks_of(run)

    client.force_login(crew.wawan)  # the sole holder: assigned
    response = client.get(url("my-tasks", crew))
    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert my_task_names(response) == ["Produce"]
    assert run.title in html
    assert f"/tasks/{tasks['produce'].pk}/start/" in html

    client.force_login(crew.dina)  # one of two clerks: claimable
    html = text(client.get(url("my-tasks", crew)))
    assert "Target" in html and "claimable by holders of Export clerk" in html
    assert f"/tasks/{tasks['target'].pk}/claim/" in html
    assert "Produce" not in html

    client.force_login(o.partner)  # pickup still waits for production
    html = text(client.get(url("my-tasks", crew)))
    assert "0 open tasks" in html
    assert "Coming up" in html and "Pickup" in html

    services.complete_task(tasks["produce"], actor=crew.wawan, expected_version=None)
    html = text(client.get(url("my-tasks", crew)))
    assert "1 open task" in html
    assert f"/tasks/{tasks['pickup'].pk}/start/" in html
    # (the task "Target"; the main menu links to the targets since issue 8)
    assert "Target" not in html.split('<main id="main"', 1)[1]

    client.force_login(crew.dewi)
    assert "Nothing to do right now." in text(client.get(url("my-tasks", crew)))


def test_my_tasks_are_grouped_by_urgency(client, crew, shipment):  # noqa: F811
    o = crew.o
    late = start_run(shipment, o.member, title="Tight", days=1)
    relaxed = start_run(shipment, o.member, title="Relaxed", days=60)
    client.force_login(crew.wawan)

    html = text(client.get(url("my-tasks", crew)))

    late_section = html.split('id="urgency-late"', 1)[1].split("</section>", 1)[0]
    later_section = html.split('id="urgency-other"', 1)[1].split("</section>", 1)[0]
    assert late.title in late_section and relaxed.title not in late_section
    assert relaxed.title in later_section


def test_my_tasks_count_the_delays_of_open_obstacles(client, crew, shipment):  # noqa: F811
    o = crew.o
    run = start_run(shipment, o.member, title="Held up", days=30)
    produce = tasks_of(run)["produce"]
    client.force_login(crew.wawan)

    def section(level: str) -> str:
        """The tasks of one urgency ("" when there are none)."""
        html = text(client.get(url("my-tasks", crew)))
        marker = f'id="urgency-{level}"'
        if marker not in html:
            return ""
        return html.split(marker, 1)[1].split("</section>", 1)[0]

    assert run.title not in section("late")
    # an obstacle on the whole run: six working weeks of hold
    services.set_expected_delays(run, task_delays={}, hold_minutes=30 * 480)
    assert run.title in section("late")
    # the same delay on the task itself
    services.set_expected_delays(
        run, task_delays={produce.pk: 30 * 480}, hold_minutes=0
    )
    assert run.title in section("late")
    services.set_expected_delays(run, task_delays={produce.pk: 0}, hold_minutes=0)
    assert run.title not in section("late")


def test_an_action_from_my_tasks_returns_there(client, crew, shipment):  # noqa: F811
    o = crew.o
    run = start_run(shipment, o.member)
    produce = tasks_of(run)["produce"]
    client.force_login(crew.wawan)
    page = url("my-tasks", crew)

    response = client.post(
        url("task-start", crew, produce.pk), {"version": produce.version, "next": page}
    )
    assert response["Location"] == page
    # a foreign "next" is ignored
    response = client.post(
        url("task-complete", crew, produce.pk),
        {"version": produce.version + 1, "next": "https://evil.example/"},
    )
    assert response["Location"] == url("run-detail", crew, run.pk) + (
        f"#task-{produce.pk}"
    )


# --- query counts -----------------------------------------------------------------


def count_queries(client, page: str) -> int:  # type: ignore[no-untyped-def]
    with CaptureQueriesContext(connection) as captured:
        response = client.get(page)
    assert response.status_code == 200
    return len(captured.captured_queries)


@pytest.fixture
def long_procedure(crew):  # type: ignore[no-untyped-def]  # noqa: F811
    """Twelve steps: production first, then eleven more across the parties."""
    o = crew.o
    positions = [o.export_staff, crew.warehouse_head, o.forwarder]
    steps = [StepSpec("produce", crew.warehouse_head, o.export_head)]
    for n in range(11):
        steps.append(
            StepSpec(
                f"step-{n}",
                positions[n % 3],
                o.export_head,
                after=[steps[-1].key] if n % 2 else ["produce"],
            )
        )
    return build_version(o, steps, code="LONG")


RUN_LIST_QUERIES = 7
# +2 since the coordination flow: the run's pending approval requests, and (for
# members who do not own the procedure) whether a due-date route applies.
# +3 since issue 7: the run's obstacles and its reviews (the obstacles panel),
# its newest information records (the information panel,
# `views.evidence.run_panels`).
RUN_PAGE_QUERIES = 20
MY_TASKS_QUERIES = 7


def test_query_counts_do_not_grow_with_the_data(
    client,
    crew,  # noqa: F811
    shipment,
    long_procedure,
):
    o = crew.o
    small = start_run(shipment, o.member, title="Small")
    services.complete_task(
        tasks_of(small)["produce"], actor=crew.wawan, expected_version=None
    )
    client.force_login(crew.wawan)
    list_small = count_queries(client, url("run-list", crew))
    mine_small = count_queries(client, url("my-tasks", crew))
    page_small = count_queries(client, url("run-detail", crew, small.pk))

    big = start_run(long_procedure, o.member, title="Big")
    services.complete_task(
        tasks_of(big)["produce"], actor=crew.wawan, expected_version=None
    )
    for n in range(6):
        start_run(long_procedure, o.member, title=f"More {n}")
    list_big = count_queries(client, url("run-list", crew))
    mine_big = count_queries(client, url("my-tasks", crew))
    page_big = count_queries(client, url("run-detail", crew, big.pk))

    assert Task.objects.filter(assignee=crew.wawan_person).count() == 10
    assert (list_small, mine_small, page_small) == (list_big, mine_big, page_big)
    assert (list_small, mine_small, page_small) == (
        RUN_LIST_QUERIES,
        MY_TASKS_QUERIES,
        RUN_PAGE_QUERIES,
    )


def test_the_partners_run_page_keeps_its_query_count(
    client,
    crew,  # noqa: F811
    shipment,
    long_procedure,
):
    o = crew.o
    small = start_run(shipment, o.member, title="Small")
    big = start_run(long_procedure, o.member, title="Big")
    client.force_login(o.partner)

    assert count_queries(client, url("run-detail", crew, small.pk)) == count_queries(
        client, url("run-detail", crew, big.pk)
    )


def history_sequences(response) -> list[int]:  # type: ignore[no-untyped-def]
    """The sequence numbers of the events in a run page's history panel, in order."""
    panel = text(response).split('class="history-box"', 1)[1].split("</section>", 1)[0]
    return [
        int(found)
        for found in re.findall(r'<div class="muted small">#(\d+)</div>', panel)
    ]


def test_the_run_page_keeps_its_query_count_as_the_audit_trail_grows(
    client,
    crew,  # noqa: F811
    shipment,
):
    """The history panel looks the run's events up: neither their number nor the
    organisation's other events add a query, and it shows the newest ten."""
    from rantai.audit.models import AuditEvent

    o = crew.o
    run = start_run(shipment, o.member)
    services.complete_task(
        tasks_of(run)["produce"], actor=crew.wawan, expected_version=None
    )
    pickup = services.start_task(
        tasks_of(run)["pickup"], actor=o.partner, expected_version=None
    )
    pages = (url("run-detail", crew, run.pk), url("run-history", crew, run.pk))
    counts = {}
    for user in (o.admin, o.partner):
        client.force_login(user)
        counts[user] = [count_queries(client, page) for page in pages]

    for n in range(6):
        services.suspend_run(
            run, actor=o.admin, expected_version=None, reason=f"Hold {n}"
        )
        services.resume_run(run, actor=o.admin, expected_version=None)
    services.complete_task(
        Task.objects.get(pk=pickup.pk), actor=o.partner, expected_version=None
    )
    for n in range(3):
        other = start_run(shipment, o.member, title=f"Other {n}")
        services.complete_task(
            tasks_of(other)["produce"], actor=crew.wawan, expected_version=None
        )

    def events_of(*targets: tuple[str, int]) -> list[int]:
        wanted = {(kind, str(pk)) for kind, pk in targets}
        return [
            event.sequence
            for event in AuditEvent.objects.filter(
                organisation=o.organisation
            ).order_by("-sequence")
            if (event.target_type, event.target_id) in wanted
        ]

    run_events = events_of(
        ("chains.run", run.pk),
        *(("chains.task", t.pk) for t in Task.objects.filter(run=run)),
    )
    assert len(run_events) == 16  # started, 6 × suspended and resumed, 3 of tasks
    client.force_login(o.admin)
    assert [count_queries(client, page) for page in pages] == counts[o.admin]
    response = client.get(pages[0])
    assert history_sequences(response) == run_events[:10]
    assert "Show the whole history" in text(response)
    client.force_login(o.partner)
    assert [count_queries(client, page) for page in pages] == counts[o.partner]
    assert history_sequences(client.get(pages[0])) == events_of(
        ("chains.task", pickup.pk)
    )


# --- pure helpers -----------------------------------------------------------------


def test_dependency_order_puts_each_task_after_what_it_waits_for():
    class T:
        def __init__(self, pk: int, sort_order: int) -> None:
            self.pk, self.sort_order = pk, sort_order

    a, b, c, d = T(1, 40), T(2, 10), T(3, 20), T(4, 30)
    # d waits for a, which comes last in the procedure's order
    ordered = dependency_order([a, b, c, d], [(1, 4), (2, 3)])  # type: ignore[list-item]
    assert [t.pk for t in ordered] == [2, 3, 1, 4]


def test_spans_and_numbers_read_as_people_say_them():
    assert working_span(0, 480) == "no time"
    assert working_span(45, 480) == "45 minutes"
    assert working_span(480 * 2 + 180, 480) == "2 working days 3 hours"
    assert working_span(-60, 480) == "1 hour"
    assert number(Decimal("1234.50")) == "1,234.5"
    assert number(Decimal("500.00")) == "500"


def test_the_pages_rights_agree_with_the_services_for_every_task_and_user(
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    tasks = tasks_of(run)
    services.claim_task(tasks["target"], actor=crew.dina, expected_version=None)
    services.complete_task(tasks["produce"], actor=crew.wawan, expected_version=None)
    users = [o.admin, o.member, o.auditor, o.partner, crew.dina, crew.wawan, crew.dewi]
    compared = 0
    for user in users:
        actor = services.actor(o.organisation, user)
        for task in Task.objects.filter(run=run):
            assert actor.may_act_on(task) == services.may_act_on(task, user), (
                user,
                task.key,
            )
            compared += 1
    assert compared == 21


def test_the_runs_list_filters_answer_htmx_with_the_results_only(
    client,
    crew,  # noqa: F811
    shipment,
):
    start_run(shipment, crew.o.member, title="Ship 1")
    client.force_login(crew.o.member)

    response = client.get(
        url("run-list", crew),
        {"status": "active"},
        headers={"HX-Request": "true", "HX-Target": "list-results"},
    )

    html = text(response)
    assert html.lstrip().startswith('<div id="list-results">')
    assert "<form" not in html
    assert row_titles(response) == ["Ship 1"]


def test_the_history_of_a_run_shows_its_tasks_and_a_partner_only_theirs(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    tasks = tasks_of(run)
    services.complete_task(tasks["produce"], actor=crew.wawan, expected_version=None)
    pickup = Task.objects.get(pk=tasks["pickup"].pk)
    services.start_task(pickup, actor=o.partner, expected_version=None)

    client.force_login(o.member)
    html = text(client.get(url("run-history", crew, run.pk)))
    assert "Produce" in html and "Pickup" in html and "task completed" in html
    assert html.count("<tr>") - 1 == 3  # started, produce completed, pickup started

    client.force_login(o.partner)
    html = text(client.get(url("run-history", crew, run.pk)))
    assert "Pickup" in html and "Produce" not in html
    assert html.count("<tr>") - 1 == 1


def test_a_task_awaiting_a_guard_shows_why_and_can_be_checked_again(
    client,
    crew,  # noqa: F811
    shipment,
    clean_registry,  # noqa: F811
):
    from rantai.chains.extensions import GuardResult, register_completion_guard

    evidence_in = {"yes": False}

    @register_completion_guard
    def needs_evidence(task):  # type: ignore[no-untyped-def]
        return GuardResult(evidence_in["yes"], "the signed loading note")

    o = crew.o
    run = start_run(shipment, o.member)
    produce = tasks_of(run)["produce"]
    client.force_login(crew.wawan)
    client.post(url("task-complete", crew, produce.pk), {"version": produce.version})
    produce.refresh_from_db()
    assert produce.status == TaskStatus.AWAITING

    html = text(client.get(url("run-detail", crew, run.pk)))
    assert "Waiting for:" in html and "the signed loading note" in html
    assert f"/tasks/{produce.pk}/recheck/" in html

    evidence_in["yes"] = True
    response = client.post(
        url("task-recheck", crew, produce.pk), {"version": produce.version}
    )
    produce.refresh_from_db()
    assert response.status_code == 302
    assert produce.status == TaskStatus.DONE


def test_a_task_started_before_its_predecessor_was_reopened_is_flagged(
    client,
    crew,  # noqa: F811
    shipment,
):
    o = crew.o
    run = start_run(shipment, o.member)
    tasks = tasks_of(run)
    services.complete_task(tasks["produce"], actor=crew.wawan, expected_version=None)
    pickup = Task.objects.get(pk=tasks["pickup"].pk)
    services.start_task(pickup, actor=o.partner, expected_version=None)
    produce = Task.objects.get(pk=tasks["produce"].pk)
    services.reopen_task(
        produce, actor=crew.wawan, expected_version=None, reason="Wrong batch"
    )
    client.force_login(o.member)

    html = text(client.get(url("run-detail", crew, run.pk)))

    assert "check again: a predecessor was reopened" in html
    assert "reopened once" in html and "why: Wrong batch" in html
