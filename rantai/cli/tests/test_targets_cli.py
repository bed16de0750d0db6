"""`rantai targets list|show|create|update|deactivate|set-run`: targets on the command
line — output, exit codes (2: the input names nothing that exists or is
malformed; 1: the rules refused) and nothing written when refused.

The world (`rantai.obstacles.tests.factories`): acme's run of SHIP ("Ship 500
units to Kota A", 500 units) started at T0 (Monday 2 March 2026, 08:00 in
Jakarta), projected to finish Thursday 5 March 16:00, due Tuesday 10 March:
on track. Rina (user "member") holds the Head of export (EXP-HEAD), which owns
SHIP; Ani (user "ani") is an export clerk; Joko (user "partner") works for the
forwarder.
"""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rantai.audit.models import AuditEvent
from rantai.chains import targets as services
from rantai.chains.models import Run, Target
from rantai.obstacles.tests import factories as f


@pytest.fixture
def w(db) -> f.World:
    return f.world()


def run(*args: str) -> str:
    out = StringIO()
    call_command("targets", *args, stdout=out, stderr=StringIO(), now=f.T0)
    return out.getvalue()


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return caught.value


def _state() -> list[object]:
    return [
        sorted(Target.objects.values_list("pk", "version", "name", "is_active")),
        sorted(Run.objects.values_list("pk", "version", "target_id")),
        AuditEvent.objects.count(),
    ]


def target(w: f.World, name: str = "Exports in March", **changes: object) -> Target:
    values: dict[str, object] = {
        "name": name,
        "measure_quantity": 2000,
        "measure_unit": "units",
        "period_start": dt.date(2026, 3, 1),
        "period_end": dt.date(2026, 3, 31),
        "owner_position": w.o.export_head,
        **changes,
    }
    return services.create_target(
        w.organisation,
        actor=w.admin,
        now=f.T0,
        **values,  # type: ignore[arg-type]
    )


CREATE = (
    "create",
    "--org",
    "acme",
    "--name",
    "Exports in March",
    "--quantity",
    "2000",
    "--unit",
    "units",
    "--from",
    "2026-03-01",
    "--to",
    "2026-03-31",
    "--owner-position",
    "EXP-HEAD",
)


def test_the_owner_sets_a_target_and_points_the_run_at_it(w):
    said = run(*CREATE, "--party", "EXP", "--as", "member")

    made = Target.objects.get()
    assert said == (
        f"Created target {made.pk}: Exports in March (2,000 units, 2026-03-01 to "
        "2026-03-31).\n"
    )
    assert (made.party_id, made.owner_position_id) == (
        w.o.export.pk,
        w.o.export_head.pk,
    )

    pointed = run(
        "set-run",
        str(w.run.pk),
        "--org",
        "acme",
        "--as",
        "member",
        "--target",
        str(made.pk),
    )

    assert pointed == (
        f"Run {w.run.pk} (Ship 500 units to Kota A) contributes to target {made.pk} "
        "(Exports in March).\n"
    )
    assert w.refresh().target_id == made.pk
    cleared = json.loads(
        run(
            "set-run",
            str(w.run.pk),
            "--org",
            "acme",
            "--as",
            "member",
            "--target",
            "none",
            "--json",
        )
    )
    assert cleared == {
        "run_id": w.run.pk,
        "title": "Ship 500 units to Kota A",
        "target_id": None,
        "version": w.refresh().version,
    }


def test_setting_a_target_is_refused_with_the_reason_and_nothing_written(w):
    tonnes = target(w, "Tonnes in March", measure_unit="tonnes")
    before = _state()

    not_owner = fails(*CREATE, "--as", "ani")
    zero = fails(*CREATE[:6], "0", *CREATE[7:], "--as", "member")
    no_position = fails(*CREATE[:-1], "NOPE", "--as", "member")
    bad_date = fails(*CREATE[:10], "1 March", *CREATE[11:], "--as", "member")
    other_unit = fails(
        "set-run",
        str(w.run.pk),
        "--org",
        "acme",
        "--as",
        "member",
        "--target",
        str(tonnes.pk),
    )
    partner = fails(
        "set-run", str(w.run.pk), "--org", "acme", "--as", "partner", "--target", "none"
    )

    assert (not_owner.returncode, str(not_owner)) == (
        1,
        "Only administrators and the holders of the owner position (or of the "
        "parent target's owner position) can set this target.",
    )
    assert (zero.returncode, str(zero)) == (
        1,
        "measure_quantity: The target quantity must be more than zero.",
    )
    assert (no_position.returncode, str(no_position)) == (
        2,
        "No position with the code 'NOPE' in acme.",
    )
    assert (bad_date.returncode, str(bad_date)) == (
        2,
        "--from is a date as YYYY-MM-DD, not '1 March'.",
    )
    assert (other_unit.returncode, str(other_unit)) == (
        1,
        "target: The target “Tonnes in March” is counted in tonnes and this run in "
        "units: a run counts only toward a target of its own unit.",
    )
    assert (partner.returncode, str(partner)) == (
        1,
        "You do not have permission to do this.",
    )
    assert fails(*CREATE, "--as", "nobody").returncode == 2
    assert fails(*CREATE[:2], "globex", *CREATE[3:], "--as", "member").returncode == 2
    assert _state() == before


def test_list_and_show_print_progress_and_why(w):
    march = target(w, party=w.o.export)
    kota_a = target(w, "Kota A in March", measure_quantity=500, parent=march)
    target(
        w,
        "Exports in April",
        period_start=dt.date(2026, 4, 1),
        period_end=dt.date(2026, 4, 30),
    )
    services.set_run_target(
        w.run, actor=w.o.member, expected_version=w.run.version, target=kota_a, now=f.T0
    )
    obstacle = f.make_obstacle(w, task=w.task("ship"), delay=600)

    listed = run("list", "--org", "acme").splitlines()
    current = run("list", "--org", "acme", "--period", "current", "--party", "EXP")
    shown = run("show", str(march.pk), "--org", "acme").splitlines()
    data = json.loads(
        run("show", str(kota_a.pk), "--org", "acme", "--as", "partner", "--json")
    )

    april = Target.objects.get(name="Exports in April").pk
    assert listed == [
        "ID  NAME              PERIOD                        TARGET  ACTUAL  DONE  "
        "STATUS   OWNER",
        f"{march.pk:>2}  Exports in March  2026-03-01 – 2026-03-31  2,000 units       0"
        "    0%  at_risk  EXP-HEAD",
        f"{kota_a.pk:>2}  Kota A in March   2026-03-01 – 2026-03-31    500 units       0"
        "    0%  at_risk  EXP-HEAD",
        f"{april:>2}  Exports in April  2026-04-01 – 2026-04-30  2,000 units       0"
        "    0%  at_risk  EXP-HEAD",
        "3 targets, 3 at risk.",
    ]
    assert current.splitlines()[1].startswith(f"{march.pk:>2}  Exports in March")
    assert current.splitlines()[-1] == "1 target, 1 at risk."
    assert shown[:3] == [
        f"Target {march.pk}: Exports in March [at_risk]",
        "2,000 units from 2026-03-01 to 2026-03-31; set by Export; owner Head of "
        "export (EXP-HEAD); version 1.",
        "",
    ]
    assert shown[3:10] == [
        "UNITS             QUANTITY  OF TARGET",
        "Actual                   0         0%",
        "Secure                   0",
        "At risk                500",
        "Projected                         25%",
        "After the period         0",
        "Shortfall            1,500",
    ]
    assert "Why:" in shown
    assert shown[-3:] == ["", "Under it:", f"  {kota_a.pk}: Kota A in March"]
    # a partner whose party works on the run sees the target it counts toward
    assert data["progress"]["at_risk"] == "500.00"
    assert data["children"] == []
    assert [line["run_id"] for line in data["risky_runs"]] == [w.run.pk]
    assert data["risky_runs"][0]["obstacles"] == [
        {
            "id": obstacle.pk,
            "title": "The truck is delayed",
            "severity": "medium",
            "expected_delay_minutes": 600,
        }
    ]
    missing = fails("show", "999", "--org", "acme")
    assert (missing.returncode, str(missing)) == (
        2,
        "No target with the id 999 in acme.",
    )


def test_update_and_deactivate_with_versions(w):
    march = target(w)
    kota_a = target(w, "Kota A in March", measure_quantity=500, parent=march)

    renamed = run(
        "update",
        str(march.pk),
        "--org",
        "acme",
        "--as",
        "member",
        "--name",
        "Exports Q1",
        "--quantity",
        "2500",
        "--party",
        "EXP",
    )
    stale = fails(
        "update",
        str(march.pk),
        "--org",
        "acme",
        "--as",
        "member",
        "--name",
        "X",
        "--version",
        "1",
    )
    nothing = fails("update", str(march.pk), "--org", "acme", "--as", "member")
    with_children = fails(
        "deactivate", str(march.pk), "--org", "acme", "--as", "member"
    )
    child = run("deactivate", str(kota_a.pk), "--org", "acme", "--as", "member")
    auditor = fails("deactivate", str(march.pk), "--org", "acme", "--as", "auditor")

    march.refresh_from_db()
    assert renamed == f"Target {march.pk} updated.\n"
    assert (march.name, march.measure_quantity, march.party_id, march.version) == (
        "Exports Q1",
        2500,
        w.o.export.pk,
        2,
    )
    assert stale.returncode == 1
    assert str(stale) == (
        "This record was changed by someone else in the meantime. Reload it and "
        "try again."
    )
    assert (nothing.returncode, str(nothing)) == (
        2,
        "Nothing to change: give at least one option.",
    )
    assert (with_children.returncode, str(with_children)) == (
        1,
        "Deactivate or move its active sub-target first.",
    )
    assert child == f"Target {kota_a.pk} deactivated.\n"
    assert auditor.returncode == 1
    assert list(Target.objects.order_by("pk").values_list("is_active", flat=True)) == [
        True,
        False,
    ]
    assert run("list", "--org", "acme").splitlines()[-1] == "1 target, 1 at risk."
    assert run("list", "--org", "acme", "--inactive").splitlines()[-1] == (
        "1 target, 1 at risk."
    )
