"""`rantai dashboard procedure|party ID`: the owner's dashboard on the command line —
printed, as JSON, as an Excel workbook and as a PDF — and its exit code 2 for
anything that does not exist (or is not for the caller) or is malformed.

The world (`rantai.obstacles.tests.factories`): acme's procedure SHIP — `pack`
(Export clerk), `ship` (the forwarder, Fast Forwarding), `store` (Head of
warehouse) — with two runs started at T0 (Monday 2 March 2026, 08:00 in
Jakarta), due eight days later, each task completed without being started:

    on time   pack +24 h, ship +48 h, store +72 h     lead 72 h
    late      pack +24 h, ship +48 h, store +216 h    lead 216 h

The on-time run had an obstacle (transport, 240 minutes). "Today" is Friday
20 March 2026.
"""

from __future__ import annotations

import datetime as dt
import json
from io import BytesIO, StringIO

import pytest
from django.core.management import CommandError, call_command
from openpyxl import load_workbook

from rantai.chains import services as chains
from rantai.chains.models import Run
from rantai.obstacles.tests import factories as f
from rantai.roles.tests import factories as rf

H = dt.timedelta(hours=1)
TODAY = dt.datetime(2026, 3, 20, 1, 0, tzinfo=dt.UTC)
MARCH = ("--from", "2026-03-01", "--to", "2026-03-31")


def finish(w: f.World, run: Run, *, store_after: dt.timedelta) -> None:
    for key, actor, at in (
        ("pack", w.o.member, f.T0 + 24 * H),
        ("ship", w.o.partner, f.T0 + 48 * H),
        ("store", w.user(w.wati), f.T0 + store_after),
    ):
        chains.complete_task(
            rf.task(run, key), actor=actor, expected_version=None, now=at
        )


@pytest.fixture
def w(db) -> f.World:
    world = f.world()
    f.make_obstacle(world, task=world.task("ship"), delay=240, cause="transport")
    finish(world, world.run, store_after=72 * H)
    late = rf.start_run(
        world.run.procedure_version, actor=world.admin, title="Ship late", due_days=8
    )
    finish(world, late, store_after=216 * H)
    return world


def run(*args: str) -> str:
    out = StringIO()
    call_command("dashboard", *args, stdout=out, stderr=StringIO(), now=TODAY)
    return out.getvalue()


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return caught.value


def test_a_procedure_dashboard_is_printed(w):
    procedure = w.run.procedure

    lines = run("procedure", str(procedure.pk), "--org", "acme", *MARCH).splitlines()

    assert lines == [
        f"Dashboard of procedure {procedure.pk} ({procedure.name} ({procedure.code})), "
        "runs completed 2026-03-01 to 2026-03-31.",
        "2 runs finished, 1 on time (50%); lead time 72.0 / 216.0.",
        "All tasks together: 0.0 h waiting, 288.0 h working.",
        "",
        "STEP   NAME   RUNS  CYCLE H       WAITING H  WORKING H     CRITICAL  DELAYED",
        "pack   Pack      2  24.0 / 24.0   0.0 / 0.0  24.0 / 24.0          2        1",
        "ship   Ship      2  24.0 / 24.0   0.0 / 0.0  24.0 / 24.0          2        1",
        "store  Store     2  24.0 / 168.0  0.0 / 0.0  24.0 / 168.0         2        1",
        "",
        "FROM             TO               HANDOVERS  WAIT H",
        "Export           Fast Forwarding          2  24.0 / 24.0",
        "Fast Forwarding  Warehouse                2  24.0 / 168.0",
        "",
        "POSITION           CRITICAL  DELAYED",
        "Export clerk              2        1",
        "Head of warehouse         2        1",
        "",
        "OBSTACLE CAUSE  COUNT  DELAY MIN",
        "transport           1        240",
        "",
        "PERIOD                   FINISHED  ON TIME  LEAD H",
        "2026-03-01 – 2026-03-01         0        0  -",
        "2026-03-02 – 2026-03-08         1        1  72.0 / 72.0",
        "2026-03-09 – 2026-03-15         1        0  216.0 / 216.0",
        "2026-03-16 – 2026-03-22         0        0  -",
        "Hours: median / 90th percentile, wall-clock.",
    ]


def test_a_party_dashboard_as_json_over_the_default_ninety_days(w):
    data = json.loads(
        run(
            "party", str(w.o.forwarder.pk), "--org", "acme", "--as", "auditor", "--json"
        )
    )

    assert data["scope"] == {
        "kind": "party",
        "id": w.o.forwarder.pk,
        "label": "Fast Forwarding (FWD)",
    }
    assert (data["start"], data["end"]) == ("2025-12-21", "2026-03-20")
    assert (data["finished"], data["on_time"], data["on_time_rate"]) == (2, 1, 0.5)
    assert data["lead"] == {"count": 2, "median_hours": 72.0, "p90_hours": 216.0}
    assert [(step["key"], step["runs"]) for step in data["steps"]] == [("Ship", 2)]


def test_the_dashboard_is_written_to_excel_and_pdf(w, tmp_path):
    procedure = str(w.run.procedure.pk)
    workbook = tmp_path / "dashboard.xlsx"
    document = tmp_path / "dashboard.pdf"

    said_xlsx = run(
        "procedure", procedure, "--org", "acme", *MARCH, "--xlsx", str(workbook)
    )
    said_pdf = run(
        "procedure",
        procedure,
        "--org",
        "acme",
        *MARCH,
        "--pdf",
        str(document),
        "--language",
        "id",
    )

    data = workbook.read_bytes()
    assert said_xlsx == f"Wrote {workbook} ({len(data):,} bytes).\n"
    assert len(load_workbook(BytesIO(data)).sheetnames) == 6
    assert document.read_bytes().startswith(b"%PDF")
    assert said_pdf == f"Wrote {document} ({document.stat().st_size:,} bytes).\n"


def test_the_dashboard_refuses_what_does_not_exist_or_is_malformed(w, tmp_path):
    procedure = str(w.run.procedure.pk)

    unknown = fails("procedure", "999", "--org", "acme")
    partner = fails("party", str(w.o.forwarder.pk), "--org", "acme", "--as", "partner")
    backwards = fails(
        "procedure",
        procedure,
        "--org",
        "acme",
        "--from",
        "2026-03-31",
        "--to",
        "2026-03-01",
    )
    too_long = fails(
        "procedure",
        procedure,
        "--org",
        "acme",
        "--from",
        "2020-01-01",
        "--to",
        "2026-03-01",
    )
    bad_date = fails("procedure", procedure, "--org", "acme", "--from", "March")
    no_directory = fails(
        "procedure", procedure, "--org", "acme", "--pdf", str(tmp_path / "no" / "x.pdf")
    )

    assert (unknown.returncode, str(unknown)) == (
        2,
        "No procedure with the id 999 in acme.",
    )
    assert (partner.returncode, str(partner)) == (
        2,
        f"No party with the id {w.o.forwarder.pk} in acme.",
    )
    assert (backwards.returncode, str(backwards)) == (
        2,
        "The period ends (--to) before it starts (--from).",
    )
    assert (too_long.returncode, str(too_long)) == (
        2,
        "--to: A dashboard covers at most three years.",
    )
    assert (bad_date.returncode, str(bad_date)) == (
        2,
        "--from is a date as YYYY-MM-DD, not 'March'.",
    )
    assert no_directory.returncode == 2
    assert str(no_directory).startswith(f"Cannot write {tmp_path / 'no' / 'x.pdf'}:")
    assert fails("procedure", "x", "--org", "acme").returncode == 2
    assert fails("procedure", procedure, "--org", "nowhere").returncode == 2
