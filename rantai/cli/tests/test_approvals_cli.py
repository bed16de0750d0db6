"""`rantai approvals pending|show`: what waits for someone's decision, and a request's
coordination map, on the command line."""

from __future__ import annotations

import json
import re
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rantai.chains.tests.helpers import at
from rantai.cli.tests.coordination_data import ASKED, DUE, World, build_world
from rantai.testing import SmallOrg, make_user

BASE = "http://127.0.0.1:8000"


@pytest.fixture
def world(acme: SmallOrg, settings) -> World:  # type: ignore[no-untyped-def]
    settings.RANTAI_BASE_URL = BASE
    return build_world(acme)


def run(*args: str, **options: object) -> str:
    stdout = StringIO()
    call_command("approvals", *args, stdout=stdout, stderr=StringIO(), **options)
    return stdout.getvalue()


def refused(*args: str) -> CommandError:
    with pytest.raises(CommandError) as raised:
        run(*args)
    return raised.value


def columns(line: str, header: str) -> dict[str, str]:
    """The cells of `line` by the header's column names: columns are two or more
    spaces apart (a right-aligned cell need not start under its header)."""
    names = re.split(r"\s{2,}", header.strip())
    cells = re.split(r"\s{2,}", line.strip())
    return dict(zip(names, cells, strict=True))


def pending_rows(username: str, **options: object) -> list[dict[str, str]]:
    lines = run("pending", "--org", "acme", "--user", username, **options).splitlines()
    assert lines[-1] == "Times in Asia/Jakarta; time left in working time."
    return [columns(line, lines[0]) for line in lines[1:-1]]


# --- pending ------------------------------------------------------------------------


def test_pending_lists_what_waits_for_the_user_with_the_working_time_left(world):
    request = world.request

    assert pending_rows("wawan", now=at(120)) == [
        {
            "ID": str(request.pk),
            "REQUEST": "Ship 500 units to Kota A — Sign Off",
            "STAGE": "1. Warehouse",
            "ON BEHALF OF": "-",
            "REQUESTED BY": "Rina Kusuma",
            "DUE": "2026-03-02 13:00",
            "TIME LEFT": "3h left",
        }
    ]
    # past the time limit (before the worker escalated it), in working time
    assert pending_rows("wawan", now=at(6 * 60 + 15))[0]["TIME LEFT"] == (
        "overdue by 1h 15m"
    )
    # outside working hours the working time overdue stays the same
    assert pending_rows("wawan", now=at(11 * 60))[0]["TIME LEFT"] == "overdue by 3h"


def test_pending_includes_what_the_user_decides_on_someones_behalf(world):
    world.escalate()  # the director joins stage 1; Dewi decides for her

    assert pending_rows("sari", now=at(400))[0]["ON BEHALF OF"] == "-"
    [row] = pending_rows("dewi", now=at(400))

    assert (row["ON BEHALF OF"], row["DUE"], row["TIME LEFT"]) == (
        "a.n. Sari",
        "2026-03-03 10:00",
        "3h 20m left",
    )


def test_nothing_waits_for_the_requester_nor_for_those_not_asked(world):
    assert run("pending", "--org", "acme", "--user", "member", now=at(120)) == (
        "Nothing waits for member's decision.\n"
    )
    assert run("pending", "--org", "acme", "--user", "partner", now=at(120)) == (
        "Nothing waits for partner's decision.\n"
    )


def test_pending_can_be_json(world):
    world.escalate()
    request = world.request

    [item] = json.loads(
        run("pending", "--org", "acme", "--user", "dewi", "--json", now=at(400))
    )

    assert item == {
        "id": request.pk,
        "title": "Ship 500 units to Kota A — Sign Off",
        "subject_kind": "task_completion",
        "subject_id": request.subject_id,
        "run_id": request.run_id,
        "route": {"code": "BIG", "version": 1},
        "stage": {"order": 1, "name": "Warehouse", "round": 1},
        "requester": {"id": world.people["rina"].pk, "name": "Rina Kusuma"},
        "on_behalf_of": {"id": world.people["sari"].pk, "name": "Sari"},
        "delegation": item["delegation"],
        "submitted_at": "2026-03-02T02:00:00+00:00",
        "due_at": "2026-03-03T03:00:00+00:00",
        "time_left_seconds": 19 * 3600 + 20 * 60,
        "working_minutes_left": 200,
        "overdue": False,
        "url": f"{BASE}/o/acme/approvals/{request.pk}/",
    }
    assert isinstance(item["delegation"], int)
    assert (
        json.loads(
            run("pending", "--org", "acme", "--user", "member", "--json", now=at(120))
        )
        == []
    )


def test_pending_names_bad_input(world, other_org):
    make_user("stranger")

    unknown_org = refused("pending", "--org", "nowhere", "--user", "wawan")
    unknown_user = refused("pending", "--org", "acme", "--user", "nobody")
    outsider = refused("pending", "--org", "acme", "--user", "stranger")

    assert (unknown_org.returncode, str(unknown_org)) == (
        2,
        "No organisation with the short name 'nowhere'.",
    )
    assert (unknown_user.returncode, str(unknown_user)) == (
        2,
        "No active user with the username 'nobody'.",
    )
    assert (outsider.returncode, str(outsider)) == (
        2,
        "stranger is not a member of acme.",
    )


# --- show ---------------------------------------------------------------------------


def test_show_prints_the_map_of_an_open_request(world):
    world.escalate()
    pk = world.request.pk

    text = run("show", str(pk), "--org", "acme", now=at(400))

    assert text.splitlines() == [
        f"Request {pk}: Ship 500 units to Kota A — Sign Off",
        f"About: completion of a task (task_completion {world.request.subject_id}), "
        f"run {world.request.run_id}",
        "Route: BIG v1, Big shipments",
        "Requested by Rina Kusuma as Head of export (EXP-HEAD), 2026-03-02 09:00",
        "Status: open, stage 1 of 2 is deciding",
        f"Page: {BASE}/o/acme/approvals/{pk}/",
        "Times in Asia/Jakarta; time left in working time, durations in calendar time.",
        "",
        "Stage 1: Warehouse — open",
        "  Who: holders of Head of warehouse (WH-HEAD); one of them; 4 working h, "
        "then escalate to the approvers' superior",
        "  Opened 2026-03-02 09:00, open for 5 h 40 min; due 2026-03-03 10:00, "
        "3h 20m left; escalated once",
        "  Approvers:",
        "    PERSON  FOUND AS                                                DECISION",
        "    Wawan   holder of Head of warehouse                             "
        "not decided yet",
        "    Sari    escalated: holder of Director, above Head of warehouse  "
        "not decided yet",
        "  Resolutions of its approvers:",
        "    2026-03-02 09:00  round 1, stage opened: Wawan",
        "    2026-03-02 14:00  round 1, escalated: Wawan, Sari",
        "",
        "Stage 2: Superior — waiting",
        "  Who: the requester's superior; one of them; no time limit",
        "  Its approvers are found when it opens.",
    ]


def test_show_prints_decisions_with_an_and_durations(world):
    world.escalate()
    world.decide(world.wawan, now=at(390), comment="Stock checked")
    world.decide(world.dewi, now=at(420))

    text = run("show", str(world.request.pk), "--org", "acme", now=at(500))

    assert "Status: approved 2026-03-02 15:00" in text
    stage_1, _, stage_2 = text.partition("\nStage 2: ")
    assert "Stage 1: Warehouse — approved" in stage_1
    assert "Opened 2026-03-02 09:00, closed 2026-03-02 14:30, took 5 h 30 min; " in (
        stage_1
    )
    assert (
        "    2026-03-02 14:30  approved by Wawan (Head of warehouse): “Stock checked”"
        in stage_1.splitlines()
    )
    assert re.search(r"Sari +escalated: .* +did not decide", stage_1)
    assert stage_2.startswith("Superior — approved")
    assert "took 30 min" in stage_2
    assert (
        "    2026-03-02 15:00  approved by Dewi a.n. Sari (Director)"
        in stage_2.splitlines()
    )


def test_show_marks_decisions_that_no_longer_count(world):
    world.decide(
        world.wawan,
        now=at(180),
        outcome="return",
        comment="Attach the packing list",
        return_to_stage=0,
    )

    text = run("show", str(world.request.pk), "--org", "acme", now=at(200))

    assert "Status: returned to Rina Kusuma for revision" in text
    assert (
        "    2026-03-02 11:00  returned for revision by Wawan (Head of warehouse) to "
        "the requester: “Attach the packing list” (round 1; no longer counts)"
        in text.splitlines()
    )


@pytest.mark.parametrize(
    ("raw", "message"),
    [
        ("abc", "A request id is a number, not 'abc'."),
        ("999999", "No approval request with the id 999999 in acme."),
    ],
)
def test_show_names_bad_input(world, raw, message):
    error = refused("show", raw, "--org", "acme")

    assert (error.returncode, str(error)) == (2, message)


def test_a_request_of_another_organisation_is_not_found(world, other_org):
    error = refused("show", str(world.request.pk), "--org", "globex")

    assert (error.returncode, str(error)) == (
        2,
        f"No approval request with the id {world.request.pk} in globex.",
    )


def test_the_request_is_asked_at_nine_and_due_at_one(world):
    # the fixture's clock, as the tests above read it
    assert world.request.submitted_at == ASKED
    assert world.request.stages.get(order=1).due_at == DUE
