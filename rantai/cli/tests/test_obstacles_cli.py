"""`rantai obstacles list|show|raise|what-if|resolve|withdraw|mitigate`: obstacles on
the command line — output, exit codes (2: the input names nothing that exists or
is malformed; 1: the rules refused) and nothing written when refused.

The world (`rantai.obstacles.tests.factories`): acme's run of SHIP started at T0
(Monday 2 March 2026, 08:00 in Jakarta), due Tuesday 10 March 08:00 — `pack`
(Export clerk: Budi and Ani; accountable Rina = user "member"), `ship` (the
forwarder: Joko = user "partner"), `store` (Head of warehouse: Wati), one after
the other, finishing Thursday 16:00: on track, two working days early.
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rantai.chains.models import Task
from rantai.obstacles.models import Mitigation, Obstacle
from rantai.obstacles.tests import factories as f


@pytest.fixture
def w(db) -> f.World:
    return f.world()


def run(*args: str) -> str:
    out = StringIO()
    call_command("obstacles", *args, stdout=out, stderr=StringIO(), now=f.T0)
    return out.getvalue()


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return caught.value


def _state() -> list[object]:
    return [
        sorted(Obstacle.objects.values_list("pk", "version", "status")),
        sorted(Mitigation.objects.values_list("pk", "version")),
        sorted(Task.objects.values_list("pk", "delay_minutes")),
    ]


def test_what_if_prints_the_moved_tasks_and_saves_nothing(w):
    before = _state()

    lines = run(
        "what-if",
        "--org",
        "acme",
        "--run",
        str(w.run.pk),
        "--task",
        str(w.task("ship").pk),
        "--delay",
        "10h",
    ).splitlines()

    ship, store = w.task("ship").pk, w.task("store").pk
    assert lines == [
        f"What if task {ship} (Ship) of run {w.run.pk} ({w.run.title}) is held up "
        "1d 2h? Nothing is saved.",
        "TASK  NAME   MOVES  FINISH BEFORE     FINISH AFTER",
        f"{ship:>4}  Ship   1d 2h  2026-03-04 16:00  2026-03-06 10:00",
        f"{store:>4}  Store  1d 2h  2026-03-05 16:00  2026-03-09 10:00",
        "Projected finish 2026-03-05 16:00 → 2026-03-09 10:00 (due 2026-03-10 "
        "08:00); on_track → at_risk.",
        "This puts the target at risk.",
    ]
    assert _state() == before


def test_what_if_as_json_and_as_a_partner(w):
    data = json.loads(
        run(
            "what-if",
            "--org",
            "acme",
            "--run",
            str(w.run.pk),
            "--delay",
            "3d",
            "--as",
            "partner",
            "--json",
        )
    )

    assert data["delay_minutes"] == 1440
    assert [moved["key"] for moved in data["moved"]] == ["ship"]
    assert data["other_moved"] == 2
    assert (data["status_before"], data["status_after"]) == ("on_track", "late")


def test_what_if_refuses_bad_input_with_exit_code_2(w):
    for delay in ("soon", "0", "-3h", "2w"):
        refused = fails(
            "what-if", "--org", "acme", "--run", str(w.run.pk), f"--delay={delay}"
        )
        assert refused.returncode == 2
        assert "--delay is working time" in str(refused)
    assert (
        fails("what-if", "--org", "acme", "--run", "999", "--delay", "60").returncode
        == 2
    )


def test_raise_show_and_list(w):
    record = f.record(w)

    said = run(
        "raise",
        "--org",
        "acme",
        "--as",
        "member",
        "--run",
        str(w.run.pk),
        "--task",
        str(w.task("ship").pk),
        "--title",
        "The truck is delayed",
        "--description",
        "Broke down on the toll road.",
        "--delay",
        "600",
        "--severity",
        "high",
        "--cause",
        "transport",
        "--record",
        str(record.pk),
    )

    obstacle = Obstacle.objects.get()
    assert said == (
        f"Raised obstacle {obstacle.pk}: The truck is delayed. The schedule moved: "
        "projected finish 2026-03-09 10:00 (at_risk).\n"
    )
    assert w.task("ship").delay_minutes == 600
    shown = run("show", str(obstacle.pk), "--org", "acme").splitlines()
    assert shown[0] == f"Obstacle {obstacle.pk}: The truck is delayed [open]"
    assert shown[1] == (
        f"On task {w.task('ship').pk} (Ship) of run {w.run.pk} ({w.run.title}); "
        "high, cause transport; expected delay 1d 2h."
    )
    assert "Impact when raised:" in shown
    assert f"  {record.pk}: The forwarder's written notice [unverified HEARSAY]" in (
        shown
    )
    listed = run("list", "--org", "acme").splitlines()
    assert listed[0].split() == [
        "ID",
        "STATUS",
        "SEVERITY",
        "TITLE",
        "RUN",
        "ON",
        "DELAY",
        "RAISED",
    ]
    assert listed[-1] == "1 obstacle, 1 open; times in Asia/Jakarta."
    data = json.loads(run("list", "--org", "acme", "--as", "olga", "--json"))
    assert data == []


def test_raise_refusals_write_nothing(w):
    before = _state()
    base = [
        "raise",
        "--org",
        "acme",
        "--run",
        str(w.run.pk),
        "--title",
        "Late",
        "--description",
        "Late.",
        "--delay",
        "60",
    ]

    auditor = fails(*base, "--as", "auditor")
    partner = fails(*base, "--as", "partner", "--task", str(w.task("pack").pk))
    unknown_record = fails(*base, "--as", "member", "--record", "999")
    no_title = fails(*base[:5], "--title", " ", *base[7:], "--as", "member")

    assert (auditor.returncode, str(auditor)) == (
        1,
        "Auditors read obstacles; they do not raise them.",
    )
    assert partner.returncode == 2  # not its task: it cannot see it
    assert unknown_record.returncode == 2
    assert no_title.returncode == 1
    assert str(no_title).startswith("title: ")
    assert _state() == before


def test_resolve_needs_evidence_and_withdraw_a_reason(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)
    bare = f.record(w, evidence=False, title="Heard it is fixed")
    notice = f.record(w)
    before = _state()

    without = fails(
        "resolve",
        str(obstacle.pk),
        "--org",
        "acme",
        "--as",
        "member",
        "--resolution",
        "Fixed.",
        "--record",
        str(bare.pk),
    )
    stranger = fails(
        "resolve",
        str(obstacle.pk),
        "--org",
        "acme",
        "--as",
        "ani",
        "--resolution",
        "Fixed.",
        "--record",
        str(notice.pk),
    )
    assert (without.returncode, str(without)) == (
        1,
        "records: “Heard it is fixed” has no evidence yet: add a file, link or value.",
    )
    assert stranger.returncode == 1
    assert _state() == before

    said = run(
        "resolve",
        str(obstacle.pk),
        "--org",
        "acme",
        "--as",
        "member",
        "--resolution",
        "A new truck came.",
        "--record",
        str(notice.pk),
    )

    assert said == (
        f"Obstacle {obstacle.pk} resolved (resting on unverified information).\n"
    )
    assert w.task("ship").delay_minutes == 0
    again = fails(
        "withdraw",
        str(obstacle.pk),
        "--org",
        "acme",
        "--as",
        "member",
        "--reason",
        "Mistake.",
    )
    assert again.returncode == 1
    other = f.make_obstacle(w, delay=60)
    assert (
        run(
            "withdraw",
            str(other.pk),
            "--org",
            "acme",
            "--as",
            "admin",
            "--reason",
            "Raised by mistake.",
        )
        == f"Obstacle {other.pk} withdrawn.\n"
    )


def test_mitigate_adds_an_action_with_an_owner(w):
    obstacle = f.make_obstacle(w, task=w.task("ship"))

    said = run(
        "mitigate",
        str(obstacle.pk),
        "--org",
        "acme",
        "--as",
        "member",
        "--description",
        "Book a second truck",
        "--owner",
        str(w.ani.pk),
        "--due",
        "2026-03-03T10:00",
    )

    mitigation = Mitigation.objects.get()
    assert said == (
        f"Mitigation {mitigation.pk} of obstacle {obstacle.pk}: Ani, due "
        "2026-03-03 10:00.\n"
    )
    assert (
        fails(
            "mitigate",
            str(obstacle.pk),
            "--org",
            "acme",
            "--as",
            "member",
            "--description",
            "x",
            "--owner",
            "999",
            "--due",
            "2026-03-03",
        ).returncode
        == 2
    )
    assert (
        fails(
            "mitigate",
            str(obstacle.pk),
            "--org",
            "acme",
            "--as",
            "member",
            "--description",
            "x",
            "--owner",
            str(w.ani.pk),
            "--due",
            "tomorrow",
        ).returncode
        == 2
    )
    refused = fails(
        "mitigate",
        str(obstacle.pk),
        "--org",
        "acme",
        "--as",
        "ani",
        "--description",
        "x",
        "--owner",
        str(w.ani.pk),
        "--due",
        "2026-03-03",
    )
    assert refused.returncode == 1
    assert Mitigation.objects.count() == 1
