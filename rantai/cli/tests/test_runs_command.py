"""`rantai runs list` and `rantai runs schedule RUN_ID`."""

from __future__ import annotations

import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rantai.chains import services
from rantai.chains.models import Run, Task
from rantai.chains.tests.helpers import T0, StepSpec, at, build_version, start
from rantai.testing import SmallOrg


def run_command(*args: str, **options: object) -> str:
    stdout = StringIO()
    call_command("runs", *args, stdout=stdout, **options)
    return stdout.getvalue()


def columns(line: str, header: str) -> dict[str, str]:
    """The cells of `line` by the header's column names (columns line up)."""
    found = [(m.group(), m.start()) for m in re.finditer(r"\S+", header)]
    ends = [start for _name, start in found[1:]] + [None]
    return {
        name: line[start:end].strip()
        for (name, start), end in zip(found, ends, strict=True)
    }


def chain(o: SmallOrg, code: str = "SHIP"):  # type: ignore[no-untyped-def]
    """a (1 day) then b (1 day); c (4 hours) alongside: a and b are critical."""
    head = o.export_head
    return build_version(
        o,
        [
            StepSpec("a", head, head),
            StepSpec("b", head, head, after=["a"]),
            StepSpec("c", head, head, days="4", unit="working_hours"),
        ],
        code=code,
    )


def finish(task: Task, o: SmallOrg, minutes: int) -> None:
    task = services.start_task(
        task, actor=o.member, expected_version=None, now=at(minutes)
    )
    services.complete_task(
        task, actor=o.member, expected_version=None, now=at(minutes + 30)
    )


def complete_every_task(run: Run, o: SmallOrg, *, days: int = 0) -> None:
    minutes = days * 24 * 60
    while ready := list(Task.objects.filter(run=run, status="ready").order_by("id")):
        for task in ready:
            finish(task, o, minutes)
            minutes += 60


# --- runs list ----------------------------------------------------------------------


def test_the_list_shows_runs_newest_first_in_aligned_columns(acme):
    version = chain(acme)
    older = start(version, acme.admin, title="Ship 200 units", now=T0)
    newer = start(version, acme.admin, title="Ship 500 units to Kota A", now=at(60))
    finish(Task.objects.get(run=newer, key="c"), acme, 90)

    lines = run_command("list").splitlines()

    header = lines[0]
    assert header.split() == [
        "ID",
        "ORG",
        "TITLE",
        "PROCEDURE",
        "STATUS",
        "SCHEDULE",
        "DUE",
        "FINISH",
        "DONE",
    ]
    rows = [columns(line, header) for line in lines[1:]]
    assert [
        (row["TITLE"], row["PROCEDURE"], row["STATUS"], row["SCHEDULE"], row["DUE"])
        for row in rows
    ] == [
        (
            "Ship 500 units to Kota A",
            "SHIP v1",
            "active",
            "on_track",
            "2026-03-16 09:00",
        ),
        ("Ship 200 units", "SHIP v1", "active", "on_track", "2026-03-16 08:00"),
    ]
    assert [line.split()[0] for line in lines[1:]] == [str(newer.pk), str(older.pk)]
    assert [line.split()[-1] for line in lines[1:]] == ["1/3", "0/3"]


def test_the_list_filters_by_organisation_and_status(acme, other_org):
    ours = start(chain(acme), acme.admin, title="Ours")
    theirs = start(chain(other_org), other_org.admin, title="Theirs")
    done = start(
        Run.objects.get(pk=ours.pk).procedure_version, acme.admin, title="Done"
    )
    complete_every_task(done, acme)

    by_org = run_command("list", "--org", "globex").splitlines()
    completed = run_command("list", "--status", "completed").splitlines()
    both = run_command("list", "--org", "acme", "--status", "active", "completed")

    assert [line.split()[0] for line in by_org[1:]] == [str(theirs.pk)]
    assert [line.split()[0] for line in completed[1:]] == [str(done.pk)]
    assert "Done" in both and "Ours" in both and "Theirs" not in both


def test_the_list_says_when_there_are_no_runs(acme):
    assert run_command("list", "--org", "acme") == "No runs.\n"


def test_an_unknown_organisation_is_a_clear_error(acme):
    with pytest.raises(CommandError, match="No organisation with the short name 'x'"):
        run_command("list", "--org", "x")


def test_the_list_runs_one_query_whatever_the_number_of_runs(
    acme, django_assert_num_queries
):
    version = chain(acme)
    for number in range(3):
        start(version, acme.admin, title=f"Run {number}")

    with django_assert_num_queries(1):
        run_command("list")


# --- runs schedule ------------------------------------------------------------------


def test_the_schedule_marks_the_critical_path_and_compares_with_the_due_date(acme):
    run = start(chain(acme), acme.admin, now=T0)

    lines = run_command("schedule", str(run.pk), now=T0).splitlines()

    assert lines[:5] == [
        f"Run {run.pk}: Ship 500 units to Kota A",
        "Procedure: Procedure SHIP (SHIP v1); organisation: acme",
        "Target: 500 units, due 2026-03-16 08:00",
        "Times in Asia/Jakarta; slack in working time.",
        "Status: active; projected finish 2026-03-03 16:00, 12 days 16 h before "
        "the due date: on track.",
    ]
    header = lines[6]
    assert header.split() == [
        "STEP",
        "NAME",
        "STATUS",
        "WHO",
        "START",
        "FINISH",
        "LATEST",
        "SLACK",
    ]
    rows = {
        line.split()[1] if line.startswith("*") else line.split()[0]: line
        for line in lines[7:10]
    }
    assert {key for key, line in rows.items() if line.startswith("*")} == {"a", "b"}
    a, b = columns(rows["a"], header), columns(rows["b"], header)
    assert (a["STEP"], a["STATUS"], a["WHO"]) == ("a", "ready", "Rina Kusuma")
    assert (a["START"], a["FINISH"], a["LATEST"]) == (
        "2026-03-02 08:00",
        "2026-03-02 16:00",
        "2026-03-02 16:00",
    )
    assert (b["STEP"], b["STATUS"], b["FINISH"]) == ("b", "pending", "2026-03-03 16:00")
    assert rows["c"].rstrip().endswith("1d 4h")
    assert rows["a"].rstrip().endswith(" 0")
    assert lines[-1] == "* critical path: a -> b"


def test_a_late_projection_says_by_how_much(acme):
    run = start(chain(acme), acme.admin, now=T0, due_days=1)

    lines = run_command("schedule", str(run.pk), now=T0).splitlines()

    assert lines[4] == (
        "Status: active; projected finish 2026-03-03 16:00, 8 h after the due date: "
        "late."
    )


def test_refresh_brings_active_runs_up_to_date_with_the_clock(acme):
    run = start(chain(acme), acme.admin, now=T0, due_days=3)
    assert run.schedule_status == "on_track"

    output = run_command("refresh", "--org", acme.organisation.slug, now=at(days=10))

    assert output == (
        "1 active run refreshed; 1 changed status (0 now at risk, 1 now late).\n"
    )
    assert Run.objects.get(pk=run.pk).schedule_status == "late"


def test_a_completed_run_shows_its_result(acme):
    run = start(chain(acme), acme.admin, now=T0, due_days=14)
    complete_every_task(run, acme, days=20)

    lines = run_command("schedule", str(run.pk), now=at(days=30)).splitlines()

    assert lines[4].startswith("Status: completed 2026-03-22 ")
    assert lines[4].endswith("after the due date: target missed.")


def test_a_cancelled_run_has_no_schedule(acme):
    run = start(chain(acme), acme.admin, now=T0)
    services.cancel_run(
        run,
        actor=acme.admin,
        expected_version=None,
        reason="Order withdrawn",
        now=at(5),
    )

    lines = run_command("schedule", str(run.pk), now=at(10)).splitlines()

    assert lines[-1] == (
        "Status: cancelled (Order withdrawn). A cancelled run has no schedule."
    )


def test_an_unknown_run_is_a_clear_error(acme):
    with pytest.raises(CommandError, match="No run with the id 999999"):
        run_command("schedule", "999999")
    with pytest.raises(CommandError, match="A run id is a number, not 'abc'"):
        run_command("schedule", "abc")
