"""`rantai reviews list|show|open|complete`: blameless reviews on the command line —
output, exit codes (2: the input names nothing that exists or is malformed; 1:
the rules refused) and nothing written when refused.

The world (`rantai.obstacles.tests.factories`): acme's run of SHIP — `pack`
(Export clerk: Budi and Ani; accountable Rina = user "member"), `ship` (the
forwarder: Joko = user "partner"), `store` (Head of warehouse: Wati).
"""

from __future__ import annotations

import json
from io import StringIO

import pytest
from django.core.management import CommandError, call_command

from rantai.obstacles import reviews
from rantai.obstacles.models import Review, ReviewTrigger
from rantai.obstacles.tests import factories as f

NOW = f.T0


@pytest.fixture
def w(db) -> f.World:
    return f.world()


def run(*args: str) -> str:
    out = StringIO()
    call_command("reviews", *args, stdout=out, stderr=StringIO(), now=NOW)
    return out.getvalue()


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return caught.value


def test_open_a_review_and_asking_again_names_the_same(w):
    said = run("open", "--org", "acme", "--as", "member", "--run", str(w.run.pk))
    again = run("open", "--org", "acme", "--as", "admin", "--run", str(w.run.pk))

    review = Review.objects.get()
    assert said == f"Opened review {review.pk} of run {w.run.pk} ({w.run.title}).\n"
    assert again == (
        f"Run {w.run.pk} is already under review: review {review.pk} (requested).\n"
    )
    refused = fails("open", "--org", "acme", "--as", "auditor", "--run", str(w.run.pk))
    assert (refused.returncode, str(refused)) == (
        1,
        "Only members and administrators can work on a review.",
    )
    assert (
        fails("open", "--org", "acme", "--as", "member", "--run", "999").returncode == 2
    )
    assert Review.objects.count() == 1


def test_list_and_show_with_a_partners_partial_view(w):
    review = reviews.open_review(w.run, trigger=ReviewTrigger.REQUESTED, actor=w.admin)
    reviews.update_review(
        review,
        actor=w.admin,
        expected_version=review.version,
        summary="The truck broke down.",
        learned="Keep a second forwarder on call.",
    )
    reviews.add_factor(
        review,
        actor=w.admin,
        area="step",
        task=w.task("ship"),
        description="The forwarder had one truck.",
    )
    reviews.add_factor(
        review,
        actor=w.admin,
        area="handover",
        task=w.task("pack"),
        next_task=w.task("pack").successor_links.first().successor,
        description="The packing list came late.",
    )
    reviews.add_action(
        review, actor=w.admin, description="Agree a second forwarder.", owner=w.ani
    )

    listed = run("list", "--org", "acme").splitlines()
    shown = run("show", str(review.pk), "--org", "acme").splitlines()
    partial = json.loads(
        run("show", str(review.pk), "--org", "acme", "--as", "partner", "--json")
    )

    assert listed[0].split() == [
        "ID",
        "STATUS",
        "OPENED",
        "BECAUSE",
        "RUN",
        "TITLE",
        "OPENED",
    ]
    assert listed[-1] == "1 review, 1 open."
    assert shown[1] == "What happened: The truck broke down."
    assert shown[2] == "What we learned: Keep a second forwarder on call."
    assert any("[step: Ship] The forwarder had one truck." in line for line in shown)
    assert any("[handover: Pack → Ship]" in line for line in shown)
    assert any("Agree a second forwarder. — Ani" in line for line in shown)
    assert "Timeline:" in shown
    assert (partial["summary"], partial["learned"], partial["timeline"]) == ("", "", [])
    assert [factor["area"] for factor in partial["factors"]] == ["step", "handover"]
    assert partial["actions"] == []
    assert json.loads(run("list", "--org", "acme", "--as", "olga", "--json")) == []
    assert fails("show", "999", "--org", "acme").returncode == 2


def test_complete_needs_a_factor_and_an_action(w):
    review = reviews.open_review(w.run, trigger=ReviewTrigger.REQUESTED, actor=w.admin)

    incomplete = fails("complete", str(review.pk), "--org", "acme", "--as", "member")

    assert incomplete.returncode == 1
    assert str(incomplete) == (
        "factors: Add at least one thing that contributed. actions: Add at least "
        "one action item."
    )
    reviews.add_factor(review, actor=w.admin, area="outside", description="Heavy rain.")
    reviews.add_action(
        review, actor=w.admin, description="Check the forecast.", owner=w.ani
    )
    stale = fails(
        "complete", str(review.pk), "--org", "acme", "--as", "member", "--version", "5"
    )
    assert stale.returncode == 1
    assert run("complete", str(review.pk), "--org", "acme", "--as", "member") == (
        f"Review {review.pk} completed.\n"
    )
    review.refresh_from_db()
    assert review.status == "completed"
