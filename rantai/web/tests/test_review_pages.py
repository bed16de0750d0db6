"""The review pages: the list (scoped, a fixed number of queries), a review with
its timeline, factors and action items per role (a partner reads only what
concerns its party), writing it — with the gentle hints against blame and the
"keep as written" box — adding factors and actions, completing it, asking for
the review of a run, and the proposals of reviews on a draft version's page.

The world is `rantai.obstacles.tests.factories.world()` (see test_reviews.py):
the run SHIP (pack → ship → store), Rina (the member) owns the procedure, the
forwarder (Joko, the partner login) ships, Wati heads the warehouse.
"""

from __future__ import annotations

import re

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse

from rantai.audit.models import AuditEvent
from rantai.chains import services as chains
from rantai.chains.models import Step
from rantai.obstacles import reviews
from rantai.obstacles.models import (
    ActionItem,
    ActionStatus,
    ContributingFactor,
    FactorArea,
    Review,
    ReviewStatus,
    ReviewTrigger,
)
from rantai.obstacles.tests import factories
from rantai.obstacles.tests.factories import T0, World
from rantai.roles.tests import factories as f
from rantai.web.tests.test_procedure_pages import assert_csp_clean

pytestmark = pytest.mark.django_db


@pytest.fixture
def w() -> World:
    return factories.world()


def url(name: str, w: World, *args: object) -> str:
    return reverse(name, args=[w.organisation.slug, *args])


def text(response) -> str:  # type: ignore[no-untyped-def]
    return response.content.decode()


def events() -> list[int]:
    return list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True))


def requested(w: World, run=None) -> Review:  # type: ignore[no-untyped-def]
    return reviews.open_review(
        run or w.run, trigger=ReviewTrigger.REQUESTED, actor=w.o.member, now=T0
    )


def section(html: str, title_id: str) -> str:
    return html.split(f'id="{title_id}"', 1)[1].split("</section>", 1)[0]


def filled(w: World) -> Review:
    """A review with a factor on each of pack (the clerk's) and ship (the
    forwarder's), an outside one, and an action for Ani and one for Joko."""
    review = requested(w)
    reviews.update_review(
        review,
        actor=w.o.member,
        expected_version=review.version,
        summary="The truck waited two days for its papers.",
        learned="Papers first, truck second.",
    )
    for area, task, description in (
        (FactorArea.STEP, w.task("pack"), "The packing list came late."),
        (FactorArea.STEP, w.task("ship"), "The truck had no spare tyre."),
        (FactorArea.OUTSIDE, None, "Heavy rain closed the toll road."),
    ):
        reviews.add_factor(
            review, actor=w.o.member, area=area, task=task, description=description
        )
    reviews.add_action(
        review,
        actor=w.o.member,
        description="Send the packing list a day earlier",
        owner=w.ani,
    )
    reviews.add_action(
        review,
        actor=w.o.member,
        description="Carry a spare tyre",
        owner=w.joko,
        proposes_change=True,
        step=Step.objects.get(procedure_version=w.run.procedure_version, key="ship"),
    )
    review.refresh_from_db()
    return review


# --- the list -------------------------------------------------------------------------


def runs_listed(html: str) -> list[str]:
    return re.findall(
        r'<th scope="row"><a href="/o/acme/reviews/\d+/">([^<]+)</a>', html
    )


@pytest.mark.parametrize("role", ["admin", "member", "auditor", "partner"])
def test_the_list_shows_the_reviews_of_runs_the_reader_takes_part_in(client, w, role):
    requested(w)
    internal = f.procedure(
        w.o,
        [f.StepRow("count", responsible=w.o.export_staff, accountable=w.o.export_head)],
        code="COUNT",
    )
    requested(w, f.start_run(internal, actor=w.admin, title="Count the stock"))
    client.force_login(getattr(w.o, role))

    response = client.get(url("review-list", w))

    assert response.status_code == 200
    expected = ["Count the stock", "Ship 500 units to Kota A"]
    if role == "partner":  # the forwarder takes no part in the stock count
        expected = ["Ship 500 units to Kota A"]
    assert sorted(runs_listed(text(response))) == sorted(expected)
    assert_csp_clean(response)


def test_the_list_filters_and_keeps_its_query_count(client, w):
    client.force_login(w.o.member)
    requested(w)
    client.get(url("review-list", w))
    with CaptureQueriesContext(connection) as small:
        client.get(url("review-list", w))
    version = w.run.procedure_version
    for n in range(6):
        requested(w, f.start_run(version, actor=w.admin, title=f"Run {n}"))
    with CaptureQueriesContext(connection) as big:
        html = text(client.get(url("review-list", w)))
    assert len(runs_listed(html)) == 7
    # session, user, membership, the count, the page
    assert len(small) == len(big) == REVIEW_LIST_QUERIES

    assert (
        runs_listed(text(client.get(url("review-list", w) + "?status=completed"))) == []
    )
    assert (
        len(runs_listed(text(client.get(url("review-list", w) + "?trigger=requested"))))
        == 7
    )
    assert (
        runs_listed(text(client.get(url("review-list", w) + "?trigger=missed_target")))
        == []
    )


REVIEW_LIST_QUERIES = 5


# --- a review ---------------------------------------------------------------------------


@pytest.mark.parametrize("role", ["admin", "member", "auditor"])
def test_the_organisation_reads_the_whole_review(client, w, role):
    review = filled(w)
    client.force_login(getattr(w.o, role))

    response = client.get(url("review-detail", w, review.pk))

    assert response.status_code == 200
    html = text(response)
    assert "Review of “Ship 500 units to Kota A”" in html
    assert "The truck waited two days for its papers." in html
    factors = section(html, "factors-title")
    assert "The packing list came late." in factors
    assert "The truck had no spare tyre." in factors
    assert "Heavy rain closed the toll road." in factors
    actions = section(html, "actions-title")
    assert "Send the packing list a day earlier" in actions
    assert "Carry a spare tyre" in actions and "step “Ship”" in actions
    assert 'id="timeline-title"' in html
    editing = role in ("admin", "member")
    assert (f'action="/o/acme/reviews/{review.pk}/text/"' in html) is editing
    assert (f'action="/o/acme/reviews/{review.pk}/complete/"' in html) is editing
    assert_csp_clean(response)


def test_a_partner_reads_what_concerns_its_party_only(client, w):
    review = filled(w)
    client.force_login(w.o.partner)

    html = text(client.get(url("review-detail", w, review.pk)))

    assert "You see what concerns your party" in html
    assert "The truck had no spare tyre." in html
    assert "The packing list came late." not in html
    assert "Heavy rain" not in html
    assert "Carry a spare tyre" in html
    assert "Send the packing list" not in html
    assert "The truck waited two days" not in html  # the summary is internal
    assert 'id="timeline-title"' not in html
    assert "/text/" not in html and "/factors/" not in html
    # Joko owns the spare tyre: he may mark it done
    action = ActionItem.objects.get(description="Carry a spare tyre")
    assert f'action="/o/acme/review-actions/{action.pk}/complete/"' in html
    response = client.post(
        url("review-action-complete", w, action.pk), {"version": action.version}
    )
    assert response.status_code == 302
    action.refresh_from_db()
    assert action.status == ActionStatus.DONE


def test_a_partner_of_a_party_not_in_the_run_gets_404(client, w):
    review = filled(w)
    client.force_login(w.user(w.olga))
    assert client.get(url("review-detail", w, review.pk)).status_code == 404
    assert runs_listed(text(client.get(url("review-list", w)))) == []
    action = ActionItem.objects.get(description="Carry a spare tyre")
    assert (
        client.post(
            url("review-action-complete", w, action.pk), {"version": action.version}
        ).status_code
        == 404
    )


def test_text_that_blames_gets_a_gentle_hint_and_can_be_kept(client, w):
    review = requested(w)
    before = events()
    client.force_login(w.o.member)
    page = url("review-text", w, review.pk)
    blaming = {
        "version": review.version,
        "summary": "Rina Kusuma was careless with the packing list.",
        "learned": "",
    }

    hinted = client.post(page, blaming)

    assert hinted.status_code == 200  # a hint, not an error: nothing is saved
    html = text(hinted)
    assert "A gentle hint before saving" in html
    assert "“Rina Kusuma” names a person." in html
    assert "“careless” sounds like blame." in html
    assert 'name="keep_as_written"' in html
    assert "Rina Kusuma was careless with the packing list." in html  # kept in the form
    assert events() == before
    review.refresh_from_db()
    assert review.summary == ""

    kept = client.post(page, {**blaming, "keep_as_written": "on"})
    assert kept.status_code == 302
    review.refresh_from_db()
    assert review.summary == "Rina Kusuma was careless with the packing list."


def test_the_keep_box_shows_only_when_there_are_hints(client, w):
    review = requested(w)
    client.force_login(w.o.member)
    html = text(client.get(url("review-detail", w, review.pk)))
    assert 'name="keep_as_written"' not in html
    assert "A gentle hint" not in html
    plain = client.post(
        url("review-text", w, review.pk),
        {"version": review.version, "summary": "The papers came late.", "learned": ""},
    )
    assert plain.status_code == 302


def test_a_stale_text_is_refused(client, w):
    review = requested(w)
    client.force_login(w.o.member)
    response = client.post(
        url("review-text", w, review.pk),
        {"version": review.version + 5, "summary": "The papers came late."},
    )
    assert response.status_code == 409
    assert "changed by someone else" in text(response)


def test_factors_are_added_with_their_area_and_refused_without_it(client, w):
    review = requested(w)
    client.force_login(w.o.member)
    add = url("review-factor-new", w, review.pk)

    no_step = client.post(add, {"area": "step", "description": "Late papers."})
    assert no_step.status_code == 422
    assert "Choose the step." in text(no_step)
    handover = client.post(
        add,
        {
            "area": "handover",
            "task": w.task("store").pk,
            "next_task": w.task("pack").pk,
            "description": "The papers did not travel with the goods.",
        },
    )
    assert handover.status_code == 422
    assert "does not hand over to" in text(handover)
    blamed = client.post(
        add, {"area": "outside", "description": "Joko was lazy about the rain."}
    )
    assert blamed.status_code == 200
    assert "sounds like blame" in text(blamed)
    assert 'name="keep_as_written"' in text(blamed)
    assert not ContributingFactor.objects.exists()

    done = client.post(
        add,
        {
            "area": "handover",
            "task": w.task("pack").pk,
            "next_task": w.task("ship").pk,
            "description": "The papers did not travel with the goods.",
        },
    )
    assert done.status_code == 302
    factor = ContributingFactor.objects.get()
    assert (factor.area, factor.task, factor.next_task) == (
        FactorArea.HANDOVER,
        w.task("pack"),
        w.task("ship"),
    )
    html = text(client.get(url("review-detail", w, review.pk)))
    assert 'Pack <span aria-hidden="true">→</span>' in html

    removed = client.post(url("review-factor-remove", w, factor.pk))
    assert removed.status_code == 302
    assert not ContributingFactor.objects.exists()


def test_actions_are_added_and_a_step_only_for_a_proposed_change(client, w):
    review = requested(w)
    client.force_login(w.o.member)
    add = url("review-action-new", w, review.pk)
    ship = Step.objects.get(procedure_version=w.run.procedure_version, key="ship")

    refused = client.post(
        add, {"description": "Check tyres", "owner": w.ani.pk, "step": ship.pk}
    )
    assert refused.status_code == 422
    assert "Only a proposed change to the procedure names a step." in text(refused)
    missing = client.post(add, {"description": "", "owner": ""})
    assert missing.status_code == 422
    assert not ActionItem.objects.exists()

    done = client.post(
        add,
        {
            "description": "Check tyres before loading",
            "owner": w.ani.pk,
            "due_on": "2026-04-01",
            "proposes_change": "on",
            "step": ship.pk,
        },
    )
    assert done.status_code == 302
    action = ActionItem.objects.get()
    assert (action.owner, action.step, action.proposes_change) == (w.ani, ship, True)
    assert str(action.due_on) == "2026-04-01"


def test_completing_needs_a_factor_and_an_action(client, w):
    review = requested(w)
    client.force_login(w.o.member)

    refused = client.post(
        url("review-complete", w, review.pk), {"version": review.version}, follow=True
    )
    html = text(refused)
    assert "Add at least one thing that contributed." in html
    assert "Add at least one action item." in html
    review.refresh_from_db()
    assert review.status == ReviewStatus.OPEN

    review = filled(w)
    done = client.post(
        url("review-complete", w, review.pk), {"version": review.version}
    )
    assert done.status_code == 302
    review.refresh_from_db()
    assert review.status == ReviewStatus.COMPLETED
    html = text(client.get(url("review-detail", w, review.pk)))
    assert "/text/" not in html  # completed: read only
    assert "The truck waited two days for its papers." in html


def test_auditors_and_partners_cannot_write(client, w):
    review = requested(w)
    for user in (w.o.auditor, w.o.partner):
        client.force_login(user)
        assert (
            client.post(
                url("review-text", w, review.pk),
                {"version": review.version, "summary": "x"},
            ).status_code
            == 403
        )
        assert (
            client.post(
                url("review-factor-new", w, review.pk),
                {"area": "outside", "description": "x"},
            ).status_code
            == 403
        )
        assert client.get(url("run-review-new", w, w.run.pk)).status_code == 403
    review.refresh_from_db()
    assert review.summary == ""


# --- asking for a review ------------------------------------------------------------------


def test_a_member_asks_for_the_review_of_a_run(client, w):
    client.force_login(w.o.member)
    page = client.get(url("run-review-new", w, w.run.pk))
    assert page.status_code == 200
    assert "Review “Ship 500 units to Kota A”" in text(page)

    response = client.post(url("run-review-new", w, w.run.pk))

    review = Review.objects.get()
    assert response["Location"] == url("review-detail", w, review.pk)
    assert review.trigger == ReviewTrigger.REQUESTED
    # asking again shows the same review
    again = client.post(url("run-review-new", w, w.run.pk))
    assert again["Location"] == url("review-detail", w, review.pk)
    assert Review.objects.count() == 1
    # the run's page links it
    html = text(client.get(url("run-detail", w, w.run.pk)))
    assert url("review-detail", w, review.pk) in html


# --- proposals on a draft version -----------------------------------------------------------


def test_a_draft_version_offers_the_proposals_of_reviews(client, w):
    review = filled(w)
    proposal = ActionItem.objects.get(proposes_change=True)
    procedure = w.run.procedure
    draft = chains.new_draft(procedure, actor=w.admin)
    client.force_login(w.o.member)  # Rina owns the procedure

    html = text(client.get(url("procedure-version", w, draft.pk)))

    panel = section(html, "proposals-title")
    assert "Carry a spare tyre" in panel
    assert "Send the packing list" not in panel  # not a proposed change
    assert f'value="{proposal.pk}"' in panel
    assert url("review-detail", w, review.pk) in panel

    empty = client.post(url("version-proposals-apply", w, draft.pk), {})
    assert empty.status_code == 200
    assert "Choose the proposals taken into this draft." in text(empty)
    done = client.post(
        url("version-proposals-apply", w, draft.pk), {"actions": [proposal.pk]}
    )
    assert done.status_code == 302
    proposal.refresh_from_db()
    assert proposal.applied_in == draft
    html = text(client.get(url("procedure-version", w, draft.pk)))
    assert 'id="proposals-title"' not in html
    # the published version offers none
    published = text(
        client.get(url("procedure-version", w, w.run.procedure_version_id))
    )
    assert 'id="proposals-title"' not in published


def test_an_auditor_reads_the_proposals_without_the_form(client, w):
    filled(w)
    draft = chains.new_draft(w.run.procedure, actor=w.admin)
    client.force_login(w.o.auditor)
    html = text(client.get(url("procedure-version", w, draft.pk)))
    panel = section(html, "proposals-title")
    assert "Carry a spare tyre" in panel
    assert 'name="actions"' not in panel
    assert (
        client.post(url("version-proposals-apply", w, draft.pk), {}).status_code == 403
    )
