"""Data over hearsay and anticipation in the demo (docs/user-guide/evidence.md,
docs/user-guide/obstacles.md): the forwarder's delayed truck in the Kota A run
under way — reported by phone, raised as an obstacle that puts the target at risk,
backed by the forwarder's written notice and verified by someone other than its
author — a measured value nobody checked yet, the completed blameless review of
the finished late run, and the early warnings of the worker's scan."""

from __future__ import annotations

import re
from collections.abc import Iterator

import pytest
from django.db import transaction
from django.urls import reverse
from django.utils import timezone

from rantai.accounts.models import Organisation, User
from rantai.approvals.models import Timer, TimerKind, TimerStatus
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent
from rantai.chains.calendar import working_minutes_between
from rantai.chains.models import ScheduleStatus
from rantai.chains.projection import calendar_spec
from rantai.core.models import OutboxMessage
from rantai.demo import history, loader
from rantai.evidence.models import (
    Citation,
    CitingKind,
    EvidenceKind,
    InformationRecord,
    RecordKind,
    RecordStatus,
    SourceKind,
    Verdict,
    Verification,
)
from rantai.notifications import events
from rantai.notifications.models import Notification
from rantai.obstacles import reviews
from rantai.obstacles.models import (
    ActionItem,
    ContributingFactor,
    EarlyWarning,
    FactorArea,
    Mitigation,
    MitigationStatus,
    Obstacle,
    ObstacleStatus,
    Review,
    ReviewStatus,
    ReviewTrigger,
    Severity,
    WarningRecipient,
)
from rantai.org.models import Person

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[Organisation]:  # type: ignore[no-untyped-def]
    """The demo, loaded once for the module: its tests only read it (the page
    tests' requests run in savepoints). It lives in an outer transaction that is
    rolled back afterwards, so no other test sees it."""
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            yield loader.load()
        finally:
            transaction.set_rollback(True)


def the_obstacle() -> Obstacle:
    """The story's obstacle: the only one outside the generated history
    (rantai.demo.history, whose obstacles are all resolved)."""
    return (
        Obstacle.objects.select_related("run", "task")
        .exclude(run__title__contains=history.HISTORY_MARK)
        .get(organisation__slug=loader.DEMO_SLUG)
    )


def the_review() -> Review:
    """The story's review: the only one outside the generated history (whose late
    runs have completed reviews of their own)."""
    return (
        Review.objects.select_related("run")
        .exclude(run__title__contains=history.HISTORY_MARK)
        .get(organisation__slug=loader.DEMO_SLUG)
    )


def phone_record() -> InformationRecord:
    return InformationRecord.objects.get(
        organisation__slug=loader.DEMO_SLUG, title=loader.PHONE_RECORD_TITLE
    )


def test_the_phone_call_was_recorded_then_verified_by_someone_else(demo):
    record = phone_record()
    assert record.run and record.task and record.source_party and record.verified_by

    assert record.kind == RecordKind.CLAIM
    assert (record.run.title, record.task.key) == (
        "Ship 500 units to Kota A",
        "forwarder-pickup",
    )
    assert record.source_kind == SourceKind.PERSON
    assert record.source_party.name == "PT Ekspedisi Cepat"
    assert "by phone" in record.source_detail
    assert record.recorded_by.username == "budi"
    # checked by the export manager, not by whoever recorded it
    assert record.status == RecordStatus.VERIFIED
    assert record.verified_by.username == "rina"
    assert record.verified_by_id != record.recorded_by_id
    [check] = Verification.objects.filter(record=record)
    assert (check.verdict, check.previous_status, check.by.username) == (
        Verdict.VERIFIED,
        RecordStatus.UNVERIFIED,
        "rina",
    )
    assert "written notice" in check.note
    assert record.recorded_at < check.at < timezone.now()
    # the forwarder's written notice: a real PDF, uploaded by the forwarder
    [notice] = record.evidence.all()
    assert (notice.kind, notice.content_type, notice.original_name) == (
        EvidenceKind.FILE,
        "application/pdf",
        loader.NOTICE_NAME,
    )
    assert notice.added_by.username == "joko"
    with notice.file.open("rb") as stored:
        content = stored.read()
    assert content.startswith(b"%PDF-") and content.rstrip().endswith(b"%%EOF")
    assert notice.size == len(content)
    # generated the same way each time (its checksum too)
    assert content == loader._notice_pdf()


def test_production_recorded_a_measured_value_nobody_checked_yet(demo):
    story = InformationRecord.objects.filter(organisation=demo).exclude(
        run__title__contains=history.HISTORY_MARK
    )
    [record] = story.filter(kind=RecordKind.MEASUREMENT)

    assert record.status == RecordStatus.UNVERIFIED and record.is_hearsay
    assert record.task is not None
    assert (record.task.key, record.recorded_by.username) == ("produce", "agus")
    [value] = record.evidence.all()
    assert (value.kind, value.quantity, value.unit) == (
        EvidenceKind.VALUE,
        320,
        "units",
    )
    assert story.count() == 2
    # in the history, each resolved obstacle rests on one record with evidence
    resolved = Obstacle.objects.filter(
        organisation=demo, run__title__contains=history.HISTORY_MARK
    )
    assert (
        InformationRecord.objects.filter(
            organisation=demo, run__title__contains=history.HISTORY_MARK
        ).count()
        == resolved.count()
    )


def test_the_obstacle_puts_the_kota_a_run_at_risk(demo):
    obstacle = the_obstacle()
    kota_a = obstacle.run
    assert obstacle.task and kota_a.projected_finish_at and kota_a.due_at
    assert obstacle.respond_by is not None

    assert kota_a.title == "Ship 500 units to Kota A"
    assert (obstacle.task.key, obstacle.status, obstacle.severity) == (
        "forwarder-pickup",
        ObstacleStatus.OPEN,
        Severity.HIGH,
    )
    assert obstacle.raised_by.username == "budi"
    assert list(obstacle.records.all()) == [phone_record()]
    assert Citation.objects.filter(
        citing_kind=CitingKind.OBSTACLE, citing_id=obstacle.pk
    ).exists()
    # the impact as it was seen when raised: on track before, at risk after; the
    # pickup and the customer's confirmation move by the whole delay
    assert obstacle.impact["status_before"] == ScheduleStatus.ON_TRACK
    assert obstacle.impact["status_after"] in (
        ScheduleStatus.AT_RISK,
        ScheduleStatus.LATE,
    )
    assert obstacle.impact["puts_target_at_risk"] is True
    assert {
        (moved["key"], moved["shift_minutes"]) for moved in obstacle.impact["moved"]
    } == {
        ("forwarder-pickup", obstacle.expected_delay_minutes),
        ("confirm-delivery", obstacle.expected_delay_minutes),
    }
    # the delay is carried into the schedule: the run is at risk now
    assert obstacle.task.delay_minutes == obstacle.expected_delay_minutes
    assert obstacle.expected_delay_minutes % 480 == 0  # whole working days
    assert kota_a.schedule_status in (ScheduleStatus.AT_RISK, ScheduleStatus.LATE)
    slack = working_minutes_between(
        calendar_spec(demo), kota_a.projected_finish_at, kota_a.due_at
    )
    assert 0 <= slack < 480
    # without the obstacle's delay it would have had more than a working day
    assert slack + obstacle.expected_delay_minutes >= 480
    # its escalation waits for the time limit, still ahead
    [timer] = Timer.objects.filter(kind=TimerKind.OBSTACLE, subject_id=obstacle.pk)
    assert timer.status == TimerStatus.PENDING
    assert timer.deadline == obstacle.respond_by > timezone.now()


def test_the_obstacle_has_a_mitigation_with_an_owner_and_a_due_date(demo):
    [mitigation] = Mitigation.objects.filter(obstacle=the_obstacle())

    assert mitigation.status == MitigationStatus.OPEN
    assert mitigation.owner.full_name == "Yusuf Hidayat"
    assert mitigation.due_at > timezone.now()
    assert "second truck" in mitigation.description


def test_the_people_concerned_were_told_in_the_app_only(demo):
    obstacle = the_obstacle()

    told = set(
        Notification.objects.filter(
            organisation=demo, key=f"obstacle:{obstacle.pk}:raised"
        ).values_list("recipient__username", flat=True)
    )
    # the forwarder, on whose task it is; the raiser is not told
    assert "joko" in told
    assert "budi" not in told
    # the customer's task moves too: she is told on her task's page, the
    # forwarder's obstacle is not hers to read
    [to_customer] = Notification.objects.filter(
        organisation=demo,
        recipient__username="lina",
        key__startswith=f"obstacle:{obstacle.pk}:raised:task:",
    )
    assert to_customer.url.startswith(f"/o/{demo.slug}/tasks/")
    assert "/obstacles/" not in to_customer.url
    assert Notification.objects.filter(
        recipient__username="budi", event_type=events.RECORD_CHECKED
    ).exists()
    assert Notification.objects.filter(
        recipient__username="yusuf", event_type=events.MITIGATION_ASSIGNED
    ).exists()
    assert OutboxMessage.objects.count() == 0


def test_the_finished_late_run_has_a_completed_blameless_review(demo):
    review = the_review()

    assert review.run.title == "Ship 200 units to Kota A"
    assert review.trigger == ReviewTrigger.MISSED_TARGET
    assert review.status == ReviewStatus.COMPLETED
    assert review.completed_by and review.completed_by.username == "rina"
    assert review.summary == loader.REVIEW_SUMMARY
    factors = ContributingFactor.objects.filter(review=review).order_by("sort_order")
    assert [
        (
            f.area,
            f.task.key if f.task else None,
            f.next_task.key if f.next_task else None,
            f.party.code if f.party else None,
        )
        for f in factors
    ] == [
        (FactorArea.STEP, "produce", None, None),
        (FactorArea.HANDOVER, "produce", "schedule-shipment", None),
        (FactorArea.PARTY, None, None, "FWD"),
        (FactorArea.OUTSIDE, None, None, None),
    ]
    actions = ActionItem.objects.filter(review=review).order_by("created_at", "id")
    assert [
        (a.owner.full_name, a.proposes_change, a.step.key if a.step else None)
        for a in actions
    ] == [
        ("Agus Salim", True, "produce"),
        ("Budi Santoso", False, None),
        ("Joko Susilo", False, None),
    ]
    assert all(a.due_on is not None for a in actions)


def test_the_review_is_written_without_blame(demo):
    review = the_review()
    texts = [review.summary, review.learned]
    texts += ContributingFactor.objects.filter(review=review).values_list(
        "description", flat=True
    )
    texts += ActionItem.objects.filter(review=review).values_list(
        "description", flat=True
    )
    name_parts = {
        part
        for name in Person.objects.filter(organisation=demo).values_list(
            "full_name", flat=True
        )
        for part in name.split()
    }

    for text in texts:
        assert reviews.blame_hints(text, demo) == [], text
        assert not name_parts & set(re.findall(r"\w+", text)), text
    # nothing was kept as written against a hint
    kept = AuditEvent.objects.filter(
        organisation=demo,
        target_type__in=["obstacles.review", "obstacles.contributingfactor"],
    ).values_list("changes", flat=True)
    assert kept and not any(changes.get("kept_as_written") for changes in kept)


def test_the_scan_raised_early_warnings_for_the_focus_pages(demo):
    active = EarlyWarning.objects.filter(organisation=demo, resolved_at__isnull=True)

    assert active.exists()
    assert WarningRecipient.objects.filter(warning__in=active).exists()
    told = set(
        Notification.objects.filter(
            organisation=demo, event_type=events.WARNING_RAISED
        ).values_list("recipient__username", flat=True)
    )
    assert told == set(
        WarningRecipient.objects.filter(warning__in=active).values_list(
            "user__username", flat=True
        )
    )


def test_the_audit_trail_still_verifies(demo):
    assert audit.verify(demo).ok


def test_every_demo_login_can_open_its_focus_page(client, demo):
    for login in loader.logins():
        client.force_login(User.objects.get(username=login.username))

        response = client.get(reverse("focus", args=[loader.DEMO_SLUG]))

        assert response.status_code == 200, login.username


def test_the_warned_see_their_warnings_on_the_focus_page(client, demo):
    recipient = (
        WarningRecipient.objects.filter(warning__organisation=demo)
        .select_related("user")
        .first()
    )
    assert recipient is not None
    client.force_login(recipient.user)

    response = client.get(reverse("focus", args=[loader.DEMO_SLUG]))

    assert response.status_code == 200
    assert f"/warnings/{recipient.warning_id}/acknowledge/" in response.content.decode()


@pytest.mark.parametrize("username", ["admin", "rina", "budi", "auditor", "joko"])
def test_the_run_obstacle_and_review_pages_open(client, demo, username):
    client.force_login(User.objects.get(username=username))
    obstacle, review = the_obstacle(), the_review()
    pages = [
        reverse("run-detail", args=[loader.DEMO_SLUG, obstacle.run_id]),
        reverse("obstacle-detail", args=[loader.DEMO_SLUG, obstacle.pk]),
        reverse("review-detail", args=[loader.DEMO_SLUG, review.pk]),
        reverse("record-detail", args=[loader.DEMO_SLUG, phone_record().pk]),
        reverse("task-detail", args=[loader.DEMO_SLUG, obstacle.task_id]),
    ]

    for page in pages:
        response = client.get(page)

        assert response.status_code == 200, (username, page)
    html = client.get(pages[1]).content.decode()
    assert loader.OBSTACLE_TITLE.replace("'", "&#x27;") in html


def test_the_customer_does_not_see_the_forwarder_s_obstacle(client, demo):
    client.force_login(User.objects.get(username="lina"))
    obstacle = the_obstacle()

    response = client.get(
        reverse("obstacle-detail", args=[loader.DEMO_SLUG, obstacle.pk])
    )

    assert response.status_code == 404
    assert obstacle.task and obstacle.task.responsible_party
    assert obstacle.task.responsible_party.code == "FWD"


@pytest.mark.parametrize(
    ("username", "expected"),
    [
        ("budi", loader.OBSTACLE_TITLE),  # obstacles he answers for
        ("yusuf", "second truck"),  # his mitigation
        ("joko", "Confirm a truck for the next working day"),  # his action item
    ],
)
def test_the_focus_page_shows_what_is_theirs(client, demo, username, expected):
    client.force_login(User.objects.get(username=username))

    response = client.get(reverse("focus", args=[loader.DEMO_SLUG]))

    assert response.status_code == 200
    assert expected.replace("'", "&#x27;") in response.content.decode()


def test_the_reviews_timeline_starts_with_the_run(demo):
    # The run's first step asks for a consultation when the run starts: written
    # just before the start itself, yet told after it.
    entries = reviews.timeline(the_review())

    assert (entries[0].target_type, entries[0].verb) == ("chains.run", "started")
    assert any(entry.verb == "consultation_requested" for entry in entries)
    minutes = [entry.at.replace(second=0, microsecond=0) for entry in entries]
    assert minutes == sorted(minutes)
