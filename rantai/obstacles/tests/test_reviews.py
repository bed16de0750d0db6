"""Blameless reviews: opened when a run misses its target, for a severe obstacle
or on request; factors attributed to areas, never to a person; hints against
blame; action items with owners and proposals for the next draft; completing;
what partners see; the timeline from the audit trail
(docs/design-obstacles.md, "Blameless reviews").

The world is `factories.world()`: the run SHIP (pack → ship → store) started at
T0 and due `DUE_AT`; Rina (the member) heads export and owns the procedure, the
forwarder (Joko, the partner login) ships, Wati heads the warehouse and stores.
"""

from __future__ import annotations

import datetime as dt
import inspect

import pytest
from django.db import models

from rantai.accounts.access import Access, access_for
from rantai.accounts.models import User
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.audit.services import redact_personal_data
from rantai.chains import services as chains
from rantai.chains.models import RunResult, RunStatus, Step, Task
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.notifications import events
from rantai.notifications.models import Notification
from rantai.obstacles import obstacles, review_queries, reviews
from rantai.obstacles.models import (
    ActionItem,
    ActionStatus,
    ContributingFactor,
    FactorArea,
    Review,
    ReviewStatus,
    ReviewTrigger,
)
from rantai.obstacles.tests import factories as f
from rantai.org import services as org
from rantai.org.models import Person
from rantai.roles.tests import factories as rf
from rantai.testing import small_org

LATE = f.DUE_AT + dt.timedelta(hours=3)
ON_TIME = f.FINISH


# --- helpers -----------------------------------------------------------------------------


def finish(w: f.World, *, at: dt.datetime) -> None:
    """Complete the run's three tasks at `at` (each by someone who may)."""
    for key, actor in (
        ("pack", w.o.member),
        ("ship", w.o.partner),
        ("store", w.user(w.wati)),
    ):
        chains.complete_task(w.task(key), actor=actor, expected_version=None, now=at)
    w.refresh()


def access(w: f.World, user: User) -> Access:
    return access_for(user, w.organisation.slug)


def requested(w: f.World) -> Review:
    """A review asked for by Rina (the member)."""
    return reviews.open_review(
        w.run, trigger=ReviewTrigger.REQUESTED, actor=w.o.member, now=f.T0
    )


def factor(review: Review, w: f.World, **kwargs: object) -> ContributingFactor:
    values: dict[str, object] = {
        "area": FactorArea.OUTSIDE,
        "description": "Heavy rain closed the toll road for a day.",
    }
    values.update(kwargs)
    return reviews.add_factor(review, actor=w.o.member, now=f.T0, **values)  # type: ignore[arg-type]


def action(review: Review, w: f.World, **kwargs: object) -> ActionItem:
    values: dict[str, object] = {
        "description": "Agree a backup carrier for the rainy season.",
        "owner": w.rina,
    }
    values.update(kwargs)
    return reviews.add_action(review, actor=w.o.member, now=f.T0, **values)  # type: ignore[arg-type]


def notified(event_type: str, key_prefix: str = "") -> set[int]:
    return set(
        Notification.objects.filter(
            event_type=event_type, key__startswith=key_prefix
        ).values_list("recipient_id", flat=True)
    )


# --- opening ------------------------------------------------------------------------------


def test_a_run_completed_after_its_due_date_opens_a_missed_target_review(
    db, audit_trail
) -> None:
    # Given the world's run, when its last task is completed after the due date
    w = f.world()
    trail = audit_trail(w.organisation)
    finish(w, at=LATE)
    # then the run missed its target and one review was opened, by the system
    assert w.run.status == RunStatus.COMPLETED
    assert w.run.result == RunResult.MISSED
    review = Review.objects.get(run=w.run)
    assert review.trigger == ReviewTrigger.MISSED_TARGET
    assert review.status == ReviewStatus.OPEN
    assert review.obstacle is None
    assert review.opened_at == LATE
    created = [
        e
        for e in trail.new_events()
        if e.target_type == "obstacles.review" and e.verb == AuditVerb.CREATED
    ]
    assert len(created) == 1
    assert created[0].actor_id is None
    assert created[0].changes == {
        "run": w.run.pk,
        "trigger": "missed_target",
        "obstacle": None,
    }
    # and the internal participants were told: the assignees and the holders of
    # the accountable and owner positions — not the forwarder's partner, not the
    # director who takes no part, not the auditor
    pack_assignee = w.task("pack").assignee
    assert pack_assignee is not None
    expected = {w.o.member.pk, w.user(w.wati).pk}
    if pack_assignee.user_id is not None:
        expected.add(pack_assignee.user_id)
    assert notified(events.REVIEW_OPENED) == expected
    note = Notification.objects.filter(event_type=events.REVIEW_OPENED).first()
    assert note is not None
    assert note.url == f"/o/acme/reviews/{review.pk}/"
    assert note.title == "A review of Ship 500 units to Kota A was opened"


def test_a_run_completed_on_time_opens_no_review(db) -> None:
    w = f.world()
    finish(w, at=ON_TIME)
    assert w.run.result == RunResult.MET
    assert not Review.objects.exists()
    assert not Notification.objects.filter(event_type=events.REVIEW_OPENED).exists()


def test_opening_is_idempotent(db, audit_trail) -> None:
    # Given a review Rina asked for
    w = f.world()
    first = requested(w)
    trail = audit_trail(w.organisation)
    # when it is asked for again (by anyone)
    again = reviews.open_review(
        w.run, trigger=ReviewTrigger.REQUESTED, actor=w.user(w.ani), now=f.T0
    )
    # then it is the same review, and nothing new was written
    assert again.pk == first.pk
    assert Review.objects.count() == 1
    trail.assert_nothing_new()


def test_a_request_after_the_missed_target_review_answers_with_it(db) -> None:
    w = f.world()
    finish(w, at=LATE)
    missed = Review.objects.get(run=w.run)
    again = reviews.open_review(
        w.run, trigger=ReviewTrigger.REQUESTED, actor=w.o.member, now=LATE
    )
    assert again.pk == missed.pk
    assert Review.objects.count() == 1


def test_only_members_and_administrators_ask_for_a_review(db, audit_trail) -> None:
    w = f.world()
    trail = audit_trail(w.organisation)
    for user in (w.o.auditor, w.o.partner):
        with pytest.raises(PermissionDenied):
            reviews.open_review(w.run, trigger=ReviewTrigger.REQUESTED, actor=user)
    stranger = small_org("globex", prefix="g-").admin
    with pytest.raises(NotFound):
        reviews.open_review(w.run, trigger=ReviewTrigger.REQUESTED, actor=stranger)
    assert not Review.objects.exists()
    trail.assert_nothing_new()
    review = reviews.open_review(
        w.run, trigger=ReviewTrigger.REQUESTED, actor=w.o.admin, now=f.T0
    )
    assert review.trigger == ReviewTrigger.REQUESTED
    # the admin who asked is not told of their own request; Rina is
    assert w.o.admin.pk not in notified(events.REVIEW_OPENED)
    assert w.o.member.pk in notified(events.REVIEW_OPENED)


def test_a_severe_obstacle_opens_one_review_per_obstacle(db) -> None:
    # Given two obstacles of the run
    w = f.world()
    truck = f.make_obstacle(w, task=w.task("ship"), severity="high")
    crane = f.make_obstacle(
        w, task=w.task("store"), severity="critical", title="The crane is broken"
    )
    # when a review is opened for each, and for the first once more
    first = reviews.open_review(
        w.run, trigger=ReviewTrigger.SEVERE_OBSTACLE, obstacle=truck, actor=w.o.member
    )
    second = reviews.open_review(
        w.run, trigger=ReviewTrigger.SEVERE_OBSTACLE, obstacle=crane, actor=w.o.member
    )
    again = reviews.open_review(
        w.run, trigger=ReviewTrigger.SEVERE_OBSTACLE, obstacle=truck, actor=w.o.member
    )
    # then each obstacle has its one review
    assert first.pk != second.pk
    assert again.pk == first.pk
    assert {r.obstacle_id for r in Review.objects.all()} == {truck.pk, crane.pk}
    assert first.trigger == ReviewTrigger.SEVERE_OBSTACLE
    # and the run's missed target still gets its own review
    finish(w, at=LATE)
    assert Review.objects.filter(trigger=ReviewTrigger.MISSED_TARGET).count() == 1


def test_resolving_a_severe_obstacle_opens_its_review(db) -> None:
    # Given a high and a low obstacle, each resolved with the forwarder's notice
    w = f.world()
    truck = f.make_obstacle(w, task=w.task("ship"), severity="high")
    queue = f.make_obstacle(w, severity="low", title="A queue at the gate")
    notice = f.record(w)
    for obstacle in (truck, queue):
        obstacles.resolve(
            obstacle,
            actor=w.o.member,
            expected_version=None,
            resolution="A second truck took the load.",
            records=[notice],
            now=f.T0 + dt.timedelta(hours=5),
        )
    # then only the severe one has a review, opened when it was resolved
    review = Review.objects.get()
    assert (review.trigger, review.obstacle_id, review.opened_at) == (
        ReviewTrigger.SEVERE_OBSTACLE,
        truck.pk,
        f.T0 + dt.timedelta(hours=5),
    )
    assert review.run_id == w.run.pk


def test_a_severe_obstacle_review_names_an_obstacle_of_the_run(db) -> None:
    w = f.world()
    other_run = rf.start_run(w.run.procedure_version, actor=w.admin, title="Other")
    truck = f.make_obstacle(w, task=w.task("ship"), severity="high")
    with pytest.raises(ValidationFailed) as missing:
        reviews.open_review(w.run, trigger=ReviewTrigger.SEVERE_OBSTACLE)
    assert "obstacle" in missing.value.errors
    with pytest.raises(ValidationFailed) as elsewhere:
        reviews.open_review(
            other_run, trigger=ReviewTrigger.SEVERE_OBSTACLE, obstacle=truck
        )
    assert "obstacle" in elsewhere.value.errors
    with pytest.raises(ValidationFailed) as not_severe:
        reviews.open_review(
            w.run, trigger=ReviewTrigger.REQUESTED, obstacle=truck, actor=w.o.member
        )
    assert "obstacle" in not_severe.value.errors
    assert not Review.objects.exists()


# --- contributing factors -----------------------------------------------------------------


def test_a_factor_about_a_step_names_a_task_of_the_run(db) -> None:
    w = f.world()
    review = requested(w)
    other_run = rf.start_run(w.run.procedure_version, actor=w.admin, title="Other")
    with pytest.raises(ValidationFailed) as missing:
        factor(review, w, area=FactorArea.STEP)
    assert missing.value.errors == {"task": ["Choose the step."]}
    with pytest.raises(ValidationFailed) as elsewhere:
        factor(review, w, area=FactorArea.STEP, task=rf.task(other_run, "pack"))
    assert elsewhere.value.errors == {"task": ["Choose a step of this run."]}
    with pytest.raises(ValidationFailed) as too_much:
        factor(
            review, w, area=FactorArea.STEP, task=w.task("pack"), party=w.o.forwarder
        )
    assert too_much.value.errors == {"party": ["This area does not name this."]}
    made = factor(review, w, area=FactorArea.STEP, task=w.task("pack"))
    assert (made.area, made.task_id, made.next_task_id, made.party_id) == (
        FactorArea.STEP,
        w.task("pack").pk,
        None,
        None,
    )


def test_a_factor_about_a_party_names_a_party_of_the_organisation(db) -> None:
    w = f.world()
    review = requested(w)
    with pytest.raises(ValidationFailed) as missing:
        factor(review, w, area=FactorArea.PARTY)
    assert missing.value.errors == {"party": ["Choose the party."]}
    stranger = small_org("globex", prefix="g-")
    with pytest.raises(ValidationFailed) as elsewhere:
        factor(review, w, area=FactorArea.PARTY, party=stranger.forwarder)
    assert "party" in elsewhere.value.errors
    made = factor(review, w, area=FactorArea.PARTY, party=w.o.forwarder)
    assert made.party_id == w.o.forwarder.pk


def test_a_handover_names_two_linked_tasks_of_the_run(db) -> None:
    w = f.world()
    review = requested(w)
    pack, ship, store = w.task("pack"), w.task("ship"), w.task("store")
    with pytest.raises(ValidationFailed) as one_side:
        factor(review, w, area=FactorArea.HANDOVER, task=pack)
    assert "next_task" in one_side.value.errors
    # backwards, and across a step: no handover between them
    for handed, received in ((ship, pack), (pack, store)):
        with pytest.raises(ValidationFailed) as unlinked:
            factor(review, w, area=FactorArea.HANDOVER, task=handed, next_task=received)
        assert unlinked.value.errors == {
            "next_task": [
                f"In this run, “{handed.name}” does not hand over to “{received.name}”."
            ]
        }
    other_run = rf.start_run(w.run.procedure_version, actor=w.admin, title="Other")
    with pytest.raises(ValidationFailed) as elsewhere:
        factor(
            review,
            w,
            area=FactorArea.HANDOVER,
            task=pack,
            next_task=rf.task(other_run, "ship"),
        )
    assert elsewhere.value.errors == {"next_task": ["Choose a step of this run."]}
    made = factor(review, w, area=FactorArea.HANDOVER, task=pack, next_task=ship)
    assert (made.task_id, made.next_task_id) == (pack.pk, ship.pk)


def test_design_and_outside_factors_name_nothing_else(db, audit_trail) -> None:
    w = f.world()
    review = requested(w)
    with pytest.raises(ValidationFailed) as too_much:
        factor(review, w, area=FactorArea.PROCEDURE_DESIGN, task=w.task("pack"))
    assert too_much.value.errors == {"task": ["This area does not name this."]}
    with pytest.raises(ValidationFailed) as unknown:
        factor(review, w, area="person")
    assert "area" in unknown.value.errors
    with pytest.raises(ValidationFailed) as empty:
        factor(review, w, description="  ")
    assert "description" in empty.value.errors
    trail = audit_trail(w.organisation)
    first = factor(
        review,
        w,
        area=FactorArea.PROCEDURE_DESIGN,
        description="The procedure has no buffer between shipping and storing.",
    )
    second = factor(review, w)
    assert [first.sort_order, second.sort_order] == [0, 1]
    event = trail.new_events()[0]
    assert (event.verb, event.target_type) == (
        AuditVerb.CREATED,
        "obstacles.contributingfactor",
    )
    assert event.changes["area"] == "procedure_design"
    # the free text stays in the redactable half of the event
    assert "description" not in event.changes
    assert event.personal.changes == {
        "description": "The procedure has no buffer between shipping and storing."
    }


def test_a_factor_is_removed_while_the_review_is_open(db, audit_trail) -> None:
    w = f.world()
    review = requested(w)
    made = factor(review, w)
    with pytest.raises(PermissionDenied):
        reviews.remove_factor(made, actor=w.o.auditor)
    trail = audit_trail(w.organisation)
    reviews.remove_factor(made, actor=w.o.member)
    assert not ContributingFactor.objects.exists()
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.target_id) == (
        AuditVerb.DELETED,
        "obstacles.contributingfactor",
        str(made.pk),
    )


def test_there_is_no_field_for_a_culprit() -> None:
    # A factor points at a step, a handover, a party or nothing; the only person
    # or login it names is who wrote it down.
    def relations(model: type[models.Model]) -> dict[str, type[models.Model]]:
        return {
            field.name: field.related_model  # type: ignore[misc]
            for field in model._meta.get_fields()
            if field.is_relation and field.many_to_one and field.concrete
        }

    factor_links = relations(ContributingFactor)
    assert [n for n, m in factor_links.items() if m is Person] == []
    assert [n for n, m in factor_links.items() if m is User] == ["added_by"]
    assert not any(
        field.many_to_many for field in ContributingFactor._meta.get_fields()
    )
    review_links = relations(Review)
    assert [n for n, m in review_links.items() if m is Person] == []
    assert [n for n, m in review_links.items() if m is User] == ["completed_by"]
    # and the service takes no person
    assert set(inspect.signature(reviews.add_factor).parameters) == {
        "review",
        "actor",
        "area",
        "description",
        "task",
        "next_task",
        "party",
        "keep_as_written",
        "now",
    }
    assert "person" not in FactorArea.values


# --- blame hints --------------------------------------------------------------------------


def test_blame_hints_find_a_persons_name(db) -> None:
    w = f.world()
    organisation = w.organisation
    assert reviews.blame_hints(
        "Budi Santoso forgot to print the packing list.", organisation
    ) == [
        "“Budi Santoso” names a person. Describe the conditions and decisions "
        "that contributed, not who did it."
    ]
    # a full name in any case, a surname or given name written as a name
    assert len(reviews.blame_hints("rina kusuma signed late", organisation)) == 1
    assert len(reviews.blame_hints("Kusuma signed late", organisation)) == 1
    assert len(reviews.blame_hints("Then Wati waited.", organisation)) == 1
    # a one-word name of four letters or more in any case; shorter ones not
    assert len(reviews.blame_hints("ask dedi", organisation)) == 1
    assert reviews.blame_hints("ask ani", organisation) == []
    # not inside other words
    assert reviews.blame_hints("Rinaldi's truck", organisation) == []
    # another organisation's people are not this organisation's
    other = small_org("globex", prefix="g-")
    org.create_person(other.organisation, actor=other.admin, full_name="Sari Dewi")
    assert reviews.blame_hints("Sari Dewi was away.", organisation) == []


def test_blame_hints_find_blaming_words_in_english_and_indonesian(db) -> None:
    w = f.world()
    organisation = w.organisation
    assert reviews.blame_hints("It was the clerk's fault.", organisation) == [
        "“fault” sounds like blame. Describe what made the outcome likely "
        "instead: the step, the handover, the information, the conditions."
    ]
    assert len(reviews.blame_hints("A careless check.", organisation)) == 1
    assert len(reviews.blame_hints("That was his mistake.", organisation)) == 1
    assert len(reviews.blame_hints("Petugas gudang lalai.", organisation)) == 1
    assert len(reviews.blame_hints("Ini kesalahan admin.", organisation)) == 1
    assert len(reviews.blame_hints("Telat gara-gara sopir.", organisation)) == 1
    assert len(reviews.blame_hints("Sopirnya ceroboh dan teledor.", organisation)) == 2
    # conditions are not blame
    assert reviews.blame_hints("A faulty valve leaked.", organisation) == []
    assert reviews.blame_hints("Salah satu truk mogok di tol.", organisation) == []
    assert reviews.blame_hints("Masalah di pelabuhan.", organisation) == []
    assert (
        reviews.blame_hints(
            "The forwarder's truck broke down on the toll road.", organisation
        )
        == []
    )
    # names and words together, in the order they occur, each once
    hints = reviews.blame_hints(
        "Salah Budi Santoso. Budi Santoso, salah.", organisation
    )
    assert [hint.split("”")[0] for hint in hints] == ["“Salah", "“Budi Santoso"]


def test_a_factor_with_blame_is_kept_only_as_written(db, audit_trail) -> None:
    w = f.world()
    review = requested(w)
    trail = audit_trail(w.organisation)
    text = "Budi Santoso was careless with the packing list."
    with pytest.raises(ValidationFailed) as refused:
        factor(review, w, area=FactorArea.STEP, task=w.task("pack"), description=text)
    assert refused.value.code == reviews.BLAME_HINTS_CODE
    assert refused.value.errors == {
        "description": reviews.blame_hints(text, w.organisation)
    }
    assert len(refused.value.errors["description"]) == 2
    assert not ContributingFactor.objects.exists()
    trail.assert_nothing_new()
    kept = factor(
        review,
        w,
        area=FactorArea.STEP,
        task=w.task("pack"),
        description=text,
        keep_as_written=True,
    )
    assert kept.description == text
    assert trail.only_new_event().changes["kept_as_written"] is True


def test_the_summary_with_blame_is_kept_only_as_written(db, audit_trail) -> None:
    w = f.world()
    review = requested(w)
    with pytest.raises(ValidationFailed) as refused:
        reviews.update_review(
            review,
            actor=w.o.member,
            expected_version=review.version,
            summary="The truck left two days late.",
            learned="Gudang lalai memeriksa jadwal.",
        )
    assert set(refused.value.errors) == {"learned"}
    review.refresh_from_db()
    assert (review.summary, review.learned, review.version) == ("", "", 1)
    trail = audit_trail(w.organisation)
    updated = reviews.update_review(
        review,
        actor=w.o.member,
        expected_version=1,
        summary="The truck left two days late.",
        learned="Gudang lalai memeriksa jadwal.",
        keep_as_written=True,
    )
    assert updated.version == 2
    event = trail.only_new_event()
    assert event.changes == {"fields": ["learned", "summary"], "kept_as_written": True}
    assert event.personal.changes["summary"] == ["", "The truck left two days late."]
    # a stale version is a conflict
    with pytest.raises(Conflict):
        reviews.update_review(
            review, actor=w.o.member, expected_version=1, summary="x", learned=""
        )
    # auditors and partners read only
    with pytest.raises(PermissionDenied):
        reviews.update_review(
            review, actor=w.o.auditor, expected_version=2, summary="x", learned=""
        )


# --- action items -------------------------------------------------------------------------


def test_an_action_item_tells_its_owner(db, audit_trail) -> None:
    w = f.world()
    review = requested(w)
    trail = audit_trail(w.organisation)
    made = action(review, w, owner=w.ani, due_on=dt.date(2026, 3, 20))
    assert (made.owner_id, made.status, made.due_on) == (
        w.ani.pk,
        ActionStatus.OPEN,
        dt.date(2026, 3, 20),
    )
    assert notified(events.REVIEW_ACTION_ASSIGNED) == {w.user(w.ani).pk}
    note = Notification.objects.get(event_type=events.REVIEW_ACTION_ASSIGNED)
    assert note.url == f"/o/acme/reviews/{review.pk}/#action-{made.pk}"
    assert note.body == "Agree a backup carrier for the rainy season."
    event = trail.only_new_event()
    assert (event.verb, event.target_type) == (
        AuditVerb.CREATED,
        "obstacles.actionitem",
    )
    assert event.changes["owner"] == w.ani.pk
    # Budi has no login, and Rina gave herself the next one: nobody more is told
    action(review, w, owner=w.o.budi)
    action(review, w, owner=w.rina)
    assert notified(events.REVIEW_ACTION_ASSIGNED) == {w.user(w.ani).pk}


def test_an_action_item_needs_an_owner_of_the_organisation(db) -> None:
    w = f.world()
    review = requested(w)
    stranger = small_org("globex", prefix="g-")
    with pytest.raises(ValidationFailed) as elsewhere:
        action(review, w, owner=stranger.rina)
    assert "owner" in elsewhere.value.errors
    with pytest.raises(ValidationFailed) as empty:
        action(review, w, description="")
    assert "description" in empty.value.errors
    assert not ActionItem.objects.exists()


def test_the_owner_completes_an_action_item(db, audit_trail) -> None:
    w = f.world()
    review = requested(w)
    made = action(review, w, owner=w.joko)  # the forwarder's partner login
    with pytest.raises(PermissionDenied):
        reviews.complete_action(made, actor=w.user(w.olga), expected_version=1)
    with pytest.raises(PermissionDenied):
        reviews.complete_action(made, actor=w.o.auditor, expected_version=1)
    trail = audit_trail(w.organisation)
    done = reviews.complete_action(
        made, actor=w.o.partner, expected_version=1, now=LATE
    )
    assert (done.status, done.done_at, done.version) == (ActionStatus.DONE, LATE, 2)
    event = trail.only_new_event()
    assert (event.verb, event.actor_id) == (AuditVerb.COMPLETED, w.o.partner.pk)
    with pytest.raises(ValidationFailed):
        reviews.complete_action(made, actor=w.o.member, expected_version=2)


def test_my_actions_are_the_open_ones_i_own(db) -> None:
    w = f.world()
    review = requested(w)
    later = action(review, w, owner=w.ani, due_on=dt.date(2026, 4, 1))
    sooner = action(review, w, owner=w.ani, due_on=dt.date(2026, 3, 20))
    undated = action(review, w, owner=w.ani)
    action(review, w, owner=w.rina)
    done = action(review, w, owner=w.ani)
    reviews.complete_action(done, actor=w.user(w.ani), expected_version=1)
    mine = review_queries.my_actions(access(w, w.user(w.ani)))
    assert [a.pk for a in mine] == [sooner.pk, later.pk, undated.pk]
    assert review_queries.my_actions(access(w, w.o.auditor)) == []


# --- completing ---------------------------------------------------------------------------


def test_completing_needs_a_factor_and_an_action_item(db, audit_trail) -> None:
    w = f.world()
    review = requested(w)
    with pytest.raises(ValidationFailed) as empty:
        reviews.complete_review(review, actor=w.o.member, expected_version=1)
    assert set(empty.value.errors) == {"factors", "actions"}
    factor(review, w)
    with pytest.raises(ValidationFailed) as no_action:
        reviews.complete_review(review, actor=w.o.member, expected_version=1)
    assert set(no_action.value.errors) == {"actions"}
    made = action(review, w)
    with pytest.raises(PermissionDenied):
        reviews.complete_review(review, actor=w.o.auditor, expected_version=1)
    with pytest.raises(Conflict):
        reviews.complete_review(review, actor=w.o.member, expected_version=7)
    trail = audit_trail(w.organisation)
    completed = reviews.complete_review(
        review, actor=w.o.member, expected_version=1, now=LATE
    )
    assert (completed.status, completed.completed_at, completed.completed_by_id) == (
        ReviewStatus.COMPLETED,
        LATE,
        w.o.member.pk,
    )
    event = trail.only_new_event()
    assert (event.verb, event.target_type) == (AuditVerb.COMPLETED, "obstacles.review")
    assert event.changes == {
        "status": ["open", "completed"],
        "factors": 1,
        "actions": 1,
    }
    # a completed review no longer changes, but its action items are still done
    for change in (
        lambda: factor(review, w),
        lambda: action(review, w),
        lambda: reviews.update_review(
            review, actor=w.o.member, expected_version=2, summary="x", learned=""
        ),
        lambda: reviews.remove_factor(review.factors.get(), actor=w.o.member),
    ):
        with pytest.raises(ValidationFailed) as refused:
            change()
        assert refused.value.code == "completed"
    reviews.complete_action(made, actor=w.o.member, expected_version=1)


# --- what each reader sees ----------------------------------------------------------------


def _review_with_every_kind_of_factor(w: f.World) -> Review:
    review = requested(w)
    reviews.update_review(
        review,
        actor=w.o.member,
        expected_version=1,
        summary="The truck left two days late.",
        learned="Keep a backup carrier.",
    )
    pack, ship, store = w.task("pack"), w.task("ship"), w.task("store")
    factor(review, w, area=FactorArea.STEP, task=pack, description="pack step")
    factor(review, w, area=FactorArea.STEP, task=ship, description="ship step")
    factor(review, w, area=FactorArea.PARTY, party=w.o.forwarder, description="fwd")
    factor(review, w, area=FactorArea.PARTY, party=w.o.warehouse, description="wh")
    factor(
        review,
        w,
        area=FactorArea.HANDOVER,
        task=pack,
        next_task=ship,
        description="to ship",
    )
    factor(
        review,
        w,
        area=FactorArea.HANDOVER,
        task=ship,
        next_task=store,
        description="from ship",
    )
    factor(review, w, description="rain")
    factor(review, w, area=FactorArea.PROCEDURE_DESIGN, description="no buffer")
    action(review, w, owner=w.rina, description="rina's")
    action(review, w, owner=w.joko, description="joko's")
    return review


def test_a_partner_sees_only_what_concerns_its_party(db, django_assert_num_queries):
    w = f.world()
    review = _review_with_every_kind_of_factor(w)
    joko = access(w, w.o.partner)
    with django_assert_num_queries(3):
        view = review_queries.review(joko, review.pk)
    assert view.is_partial
    assert [x.description for x in view.factors] == [
        "ship step",
        "fwd",
        "to ship",
        "from ship",
    ]
    assert [a.description for a in view.actions] == ["joko's"]
    assert view.timeline == []
    assert (view.review.summary, view.review.learned) == ("", "")
    assert [r.pk for r in review_queries.reviews(joko)] == [review.pk]
    assert not review_queries.may_edit(joko, view.review)
    # a partner that takes no part in the run sees no review of it
    olga = access(w, w.user(w.olga))
    assert list(review_queries.reviews(olga)) == []
    with pytest.raises(NotFound):
        review_queries.review(olga, review.pk)


def test_internal_readers_see_the_whole_review(db, django_assert_num_queries):
    w = f.world()
    review = _review_with_every_kind_of_factor(w)
    member = access(w, w.o.member)
    with django_assert_num_queries(10):  # the timeline's seven included
        review_queries.review(member, review.pk)
    for user in (w.o.member, w.o.auditor, w.o.admin):
        view = review_queries.review(access(w, user), review.pk)
        assert not view.is_partial
        assert len(view.factors) == 8
        assert [a.description for a in view.actions] == ["rina's", "joko's"]
        assert view.review.summary == "The truck left two days late."
        assert view.timeline  # the run's story, at least its start
    assert review_queries.may_edit(access(w, w.o.member), review)
    assert review_queries.may_edit(access(w, w.o.admin), review)
    assert not review_queries.may_edit(access(w, w.o.auditor), review)
    # filters
    assert list(review_queries.reviews(member, run=w.run)) == [review]
    assert list(review_queries.reviews(member, run=w.run.pk + 1000)) == []
    assert list(review_queries.reviews(member, status=ReviewStatus.COMPLETED)) == []
    with pytest.raises(NotFound):
        review_queries.review(member, "not-a-number")
    # another organisation sees nothing of it
    other = small_org("globex", prefix="g-")
    outsider = access_for(other.admin, "globex")
    with pytest.raises(NotFound):
        review_queries.review(outsider, review.pk)


# --- the timeline -------------------------------------------------------------------------


def test_the_timeline_tells_the_runs_story_in_order(db) -> None:
    # Given a run with information recorded and an obstacle raised and resolved,
    # completed late
    w = f.world()
    other_run = rf.start_run(w.run.procedure_version, actor=w.admin, title="Other")
    notice = f.record(w)
    f.record(w, run=other_run, title="Not this run")
    truck = f.make_obstacle(w, task=w.task("ship"), delay=240)
    finish(w, at=LATE)
    review = Review.objects.get(run=w.run)
    # when its timeline is read
    entries = reviews.timeline(review)
    # then every event of the run's story is there, oldest first, as a sentence
    admin = w.o.admin.display_name
    rina = w.o.member.display_name
    joko = w.o.partner.display_name
    wati = w.user(w.wati).display_name
    sentences = [entry.sentence for entry in entries]
    assert sentences[0] == f"{admin} started the run."
    assert f"{rina} recorded the information “{notice.title}”." in sentences
    assert f"{rina} raised the obstacle “{truck.title}”." in sentences
    assert sentences[-4:] == [
        f"{rina} completed “Pack”.",
        f"{joko} completed “Ship”.",
        f"{wati} completed “Store”.",
        "The run was completed after its due date; the target was missed.",
    ]
    assert not any("Not this run" in sentence for sentence in sentences)
    assert [entry.at for entry in entries] == sorted(entry.at for entry in entries)
    assert entries[0].actor == admin
    assert entries[-1].verb == AuditVerb.COMPLETED
    assert entries[-1].target_type == "chains.run"


def test_the_timeline_reads_a_fixed_number_of_statements(
    db, django_assert_num_queries
) -> None:
    w = f.world()
    review = Review.objects.get(pk=requested(w).pk)
    with django_assert_num_queries(8):
        few = reviews.timeline(review)
    for minutes in range(5):
        f.record(w, title=f"Record {minutes}", now=f.T0 + dt.timedelta(minutes=minutes))
    finish(w, at=LATE)
    with django_assert_num_queries(8):
        many = reviews.timeline(review)
    assert len(many) > len(few) + 8


def test_the_timeline_keeps_redacted_names_out(db) -> None:
    w = f.world()
    review = requested(w)
    started = AuditEvent.objects.get(
        target_type="chains.run", target_id=str(w.run.pk), verb=AuditVerb.STARTED
    )
    redact_personal_data([started.pk])
    first = reviews.timeline(review)[0]
    assert first.actor == "redacted"
    assert first.sentence == "Redacted started the run."
    assert w.o.admin.display_name not in first.sentence


# --- proposals for the next draft ---------------------------------------------------------


def test_proposed_changes_feed_the_procedures_next_draft(db, audit_trail) -> None:
    # Given a review with a proposed change to the "ship" step, a proposal for the
    # whole procedure, an ordinary action item, and a proposal of another
    # procedure's run
    w = f.world()
    review = requested(w)
    ship_step = w.task("ship").step
    assert ship_step is not None
    on_step = action(review, w, proposes_change=True, step=ship_step)
    on_procedure = action(review, w, proposes_change=True)
    action(review, w)
    other_version = rf.procedure(
        w.o,
        [
            rf.StepRow(
                "count", responsible=w.o.export_staff, accountable=w.o.export_head
            )
        ],
        code="COUNT",
    )
    other_run = rf.start_run(other_version, actor=w.admin, title="Count")
    other_review = reviews.open_review(
        other_run, trigger=ReviewTrigger.REQUESTED, actor=w.o.member
    )
    action(other_review, w, proposes_change=True)
    # when the procedure gets a draft
    draft = chains.new_draft(w.run.procedure, actor=w.o.member)
    # then the draft is offered the two proposals of its procedure
    offered = reviews.proposals_for_version(draft)
    assert [a.pk for a in offered] == [on_step.pk, on_procedure.pk]
    # and taking one in marks it, audited, and offers it no more
    trail = audit_trail(w.organisation)
    assert reviews.apply_proposals(draft, [on_step.pk], actor=w.o.member) == 1
    on_step.refresh_from_db()
    assert on_step.applied_in_id == draft.pk
    event = trail.only_new_event()
    assert (event.verb, event.target_type, event.changes) == (
        AuditVerb.UPDATED,
        "obstacles.actionitem",
        {"applied_in": [None, draft.pk]},
    )
    assert [a.pk for a in reviews.proposals_for_version(draft)] == [on_procedure.pk]


def test_proposals_are_taken_into_a_draft_by_its_editors_only(db, audit_trail) -> None:
    w = f.world()
    review = requested(w)
    proposal = action(review, w, proposes_change=True)
    plain = action(review, w)
    published = w.run.procedure_version
    draft = chains.new_draft(w.run.procedure, actor=w.o.admin)
    trail = audit_trail(w.organisation)
    with pytest.raises(ValidationFailed) as not_draft:
        reviews.apply_proposals(published, [proposal.pk], actor=w.o.admin)
    assert not_draft.value.code == "not_draft"
    with pytest.raises(ValidationFailed) as not_a_proposal:
        reviews.apply_proposals(draft, [proposal.pk, plain.pk], actor=w.o.admin)
    assert "actions" in not_a_proposal.value.errors
    # Ani is a member but does not own the procedure; auditors read only
    for user in (w.user(w.ani), w.o.auditor):
        with pytest.raises(PermissionDenied):
            reviews.apply_proposals(draft, [proposal.pk], actor=user)
    proposal.refresh_from_db()
    assert proposal.applied_in_id is None
    trail.assert_nothing_new()
    assert reviews.apply_proposals(draft, [], actor=w.o.admin) == 0


def test_only_a_proposal_names_a_step_of_the_runs_procedure(db) -> None:
    w = f.world()
    review = requested(w)
    ship_step = w.task("ship").step
    assert ship_step is not None
    with pytest.raises(ValidationFailed) as not_proposal:
        action(review, w, step=ship_step)
    assert "step" in not_proposal.value.errors
    other_version = rf.procedure(
        w.o,
        [
            rf.StepRow(
                "count", responsible=w.o.export_staff, accountable=w.o.export_head
            )
        ],
        code="COUNT",
    )
    foreign = Step.objects.get(procedure_version=other_version)
    with pytest.raises(ValidationFailed) as elsewhere:
        action(review, w, proposes_change=True, step=foreign)
    assert elsewhere.value.errors == {"step": ["Choose a step of the run's procedure."]}
    assert not ActionItem.objects.exists()
    assert Task.objects.filter(run=w.run).count() == 3


# --- owners: read again, and auditors read only -----------------------------------------


def test_an_owner_deactivated_since_the_form_was_read_is_refused(
    db, audit_trail
) -> None:
    w = f.world()
    review = requested(w)
    # The page read Ani; then she left the organisation.
    ani = Person.objects.get(pk=w.ani.pk)
    Person.objects.filter(pk=ani.pk).update(is_active=False)
    trail = audit_trail(w.organisation)

    with pytest.raises(ValidationFailed) as refused:
        action(review, w, owner=ani)

    assert refused.value.errors == {"owner": ["This person is no longer active."]}
    assert not ActionItem.objects.exists()
    assert not notified(events.REVIEW_ACTION_ASSIGNED)
    trail.assert_nothing_new()


def test_an_auditor_who_owns_an_action_item_still_only_reads(db, audit_trail) -> None:
    w = f.world()
    review = requested(w)
    auditor = rf.person(w.o, "aditya", role="auditor")
    made = action(review, w, owner=auditor)
    trail = audit_trail(w.organisation)

    with pytest.raises(PermissionDenied):
        reviews.complete_action(made, actor=w.user(auditor), expected_version=1)

    made.refresh_from_db()
    assert (made.status, made.version) == (ActionStatus.OPEN, 1)
    trail.assert_nothing_new()


def test_text_with_nul_characters_is_refused_per_field(db, audit_trail) -> None:
    w = f.world()
    review = requested(w)
    trail = audit_trail(w.organisation)
    nul = ["Null characters are not allowed."]

    with pytest.raises(ValidationFailed) as summary:
        reviews.update_review(
            review,
            actor=w.o.member,
            expected_version=review.version,
            summary="Rain\x00",
            learned="",
        )
    with pytest.raises(ValidationFailed) as described:
        factor(review, w, description="Heavy rain\x00")
    with pytest.raises(ValidationFailed) as planned:
        action(review, w, description="A backup carrier\x00")

    assert summary.value.errors == {"summary": nul}
    assert described.value.errors == {"description": nul}
    assert planned.value.errors == {"description": nul}
    trail.assert_nothing_new()
    assert not ContributingFactor.objects.exists() and not ActionItem.objects.exists()


def test_a_status_filter_from_a_hostile_address_finds_nothing(db) -> None:
    w = f.world()
    requested(w)
    reader = access(w, w.o.member)

    assert list(review_queries.reviews(reader, status="open\x00")) == []
    assert len(review_queries.reviews(reader, status="open")) == 1
