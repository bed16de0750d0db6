"""`rantai search WORDS` and `rantai search reindex`: search on the command line —
what a member (or the operator) finds, per kind, as JSON, and rebuilding the
index with its progress — and exit code 2 for malformed input.

The world (`rantai.obstacles.tests.factories`): acme's run of SHIP with an
obstacle "The truck is delayed" on the forwarder's step, and a target "Truck
deliveries in March". Olga is a partner of a party that takes no part.
"""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rantai.chains import targets
from rantai.insight.models import SearchDocument
from rantai.obstacles.tests import factories as f


@pytest.fixture
def w(db) -> f.World:
    world = f.world()
    f.make_obstacle(world, task=world.task("ship"))
    targets.create_target(
        world.organisation,
        actor=world.admin,
        name="Truck deliveries in March",
        description="Every truck that leaves the warehouse.",
        measure_quantity=40,
        measure_unit="trucks",
        period_start=dt.date(2026, 3, 1),
        period_end=dt.date(2026, 3, 31),
        owner_position=world.o.export_head,
        now=f.T0,
    )
    return world


def run(*args: str) -> str:
    out = StringIO()
    call_command("search", *args, stdout=out, stderr=StringIO())
    return out.getvalue()


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return caught.value


def test_search_prints_what_is_found_with_the_counts_per_kind(w):
    obstacle = w.run.obstacles.get()
    target = targets.Target.objects.get()

    lines = run("truck", "--org", "acme").splitlines()
    only = json.loads(run("truck", "--org", "acme", "--kind", "target", "--json"))
    olga = run("truck", "--org", "acme", "--as", "olga")

    n = max(2, len(str(obstacle.pk)), len(str(target.pk)))
    assert lines[0] == f"KIND      {'ID':>{n}}  {'TITLE':<25}  UNDER"
    # best first: the order is the database's ranking
    assert sorted(lines[1:-1]) == [
        f"obstacle  {obstacle.pk:>{n}}  {'The truck is delayed':<25}  Ship 500 units "
        "to Kota A",
        f"target    {target.pk:>{n}}  Truck deliveries in March",
    ]
    assert lines[-1] == "1–2 of 2 results (obstacle 1, target 1)."
    assert only["total"] == 1
    assert only["counts"] == {"obstacle": 1, "target": 1}
    assert [(hit["kind"], hit["object_id"], hit["title"]) for hit in only["hits"]] == [
        ("target", target.pk, "Truck deliveries in March")
    ]
    assert only["hits"][0]["snippet"] == "Every truck that leaves the warehouse."
    assert olga == "Nothing found for 'truck' in acme.\n"


def test_reindex_rebuilds_the_index_and_shows_its_progress(w):
    SearchDocument.objects.all().delete()
    assert run("truck", "--org", "acme") == "Nothing found for 'truck' in acme.\n"

    said = run("reindex", "--org", "acme").splitlines()

    written = SearchDocument.objects.filter(organisation=w.organisation).count()
    assert said[0] == "Rebuilding the search index of acme…"
    assert "  acme: 1 of kind “obstacle” indexed" in said
    assert "  acme: 1 of kind “target” indexed" in said
    assert said[-1] == f"Indexed {written} documents."
    assert run("truck", "--org", "acme").splitlines()[-1] == (
        "1–2 of 2 results (obstacle 1, target 1)."
    )


def test_search_refuses_malformed_input_with_exit_code_2(w):
    no_org = fails("truck")
    long = fails("x" * 201, "--org", "acme")
    limit = fails("truck", "--org", "acme", "--limit", "0")

    assert (no_org.returncode, str(no_org)) == (
        2,
        "Give the organisation to search: --org SLUG.",
    )
    assert (long.returncode, str(long)) == (
        2,
        "WORDS: Search for at most 200 characters.",
    )
    assert (limit.returncode, str(limit)) == (
        2,
        "--limit: Ask for between 1 and 100 results.",
    )
    assert fails("truck", "--org", "nowhere").returncode == 2
    assert fails("truck", "--org", "acme", "--as", "nobody").returncode == 2
