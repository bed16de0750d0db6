"""`rantai warnings list|scan|acknowledge` (the command file is
`early_warnings.py`; `rantai warnings` is its alias): the early-warning scan run
by hand, the warnings with why and what to do, and acknowledging one.

The world (`rantai.obstacles.tests.factories`): acme's run of SHIP started at T0,
due Tuesday 10 March 08:00, its tasks finishing Thursday 16:00. Scanned on
Monday 9 March at 08:00 (Jakarta) with nothing started, the run is projected to
finish after its due date: a `run_late` warning for Rina (user "member"), who
owns the procedure.
"""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rantai.__main__ import ALIASES
from rantai.obstacles.models import EarlyWarning, WarningKind, WarningRecipient
from rantai.obstacles.tests import factories as f

SCAN_AT = f.T0 + dt.timedelta(days=7)  # Monday 9 March, 08:00 in Jakarta


@pytest.fixture
def w(db) -> f.World:
    return f.world()


def run(*args: str) -> str:
    out = StringIO()
    call_command("early_warnings", *args, stdout=out, stderr=StringIO(), now=SCAN_AT)
    return out.getvalue()


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return caught.value


def test_rantai_warnings_is_the_early_warnings_command():
    assert ALIASES["warnings"] == "early_warnings"


def test_scan_raises_the_warnings_and_says_what_it_did(w):
    said = run("scan", "--org", "acme")
    again = json.loads(run("scan", "--json"))

    raised = EarlyWarning.objects.count()
    assert raised > 0
    assert EarlyWarning.objects.filter(kind=WarningKind.RUN_LATE).exists()
    assert said == (
        f"Scanned 1 active run: {raised} raised, 0 still holding, 0 resolved.\n"
    )
    assert again == {
        "runs_scanned": 1,
        "raised": 0,
        "refreshed": raised,
        "resolved": 0,
    }
    assert fails("scan", "--org", "nope").returncode == 2


def test_list_explains_each_warning(w):
    run("scan", "--org", "acme")
    late = EarlyWarning.objects.get(kind=WarningKind.RUN_LATE)

    lines = run("list", "--org", "acme", "--as", "member", "--mine").splitlines()
    data = json.loads(run("list", "--org", "acme", "--json"))

    heading = next(line for line in lines if line.startswith(f"{late.pk} "))
    assert heading.startswith(f"{late.pk} [run_late, active] run {w.run.pk}")
    at = lines.index(heading)
    assert lines[at + 1].startswith("  Why: ")
    assert lines[at + 2].startswith("  What to do: ")
    assert lines[-1].endswith("; times in Asia/Jakarta.")
    assert {row["id"] for row in data} == set(
        EarlyWarning.objects.values_list("pk", flat=True)
    )
    row = next(row for row in data if row["id"] == late.pk)
    assert row["why"] and row["what_to_do"]
    assert run("list", "--org", "acme", "--resolved") == (
        "No early warnings in acme.\n"
    )
    assert json.loads(run("list", "--org", "acme", "--as", "olga", "--json")) == []
    assert fails("list", "--org", "acme", "--mine").returncode == 2


def test_a_recipient_acknowledges_a_warning(w):
    run("scan", "--org", "acme")
    late = EarlyWarning.objects.get(kind=WarningKind.RUN_LATE)

    refused = fails("acknowledge", str(late.pk), "--org", "acme", "--as", "auditor")
    unknown = fails("acknowledge", "999", "--org", "acme", "--as", "member")
    said = run("acknowledge", str(late.pk), "--org", "acme", "--as", "member")

    assert (refused.returncode, str(refused)) == (
        1,
        "Only the people this warning is for can acknowledge it.",
    )
    assert unknown.returncode == 2
    assert said == f"Warning {late.pk} acknowledged by member.\n"
    assert (
        WarningRecipient.objects.get(warning=late, user=w.o.member).acknowledged_at
        == SCAN_AT
    )
    listed = run("list", "--org", "acme", "--as", "member", "--mine")
    assert f"{late.pk} [run_late, active] (acknowledged)" in listed
