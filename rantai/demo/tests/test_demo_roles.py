"""Roles with teeth in the demo (docs/user-guide/roles.md): a consultation waiting
for the acting head of the warehouse, the informed of the last step, one role-check
warning in the shipment procedure, one briefing a demo login has not acknowledged,
and export documents assigned by hand that the fairness report flags."""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterator
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from rantai.accounts.access import access_for
from rantai.accounts.models import Organisation, User
from rantai.chains.models import (
    ProcedureVersion,
    RaciRole,
    Step,
    StepRole,
    Task,
    TaskStatus,
    VersionStatus,
)
from rantai.demo import history, loader
from rantai.demo.tests.helpers import history_bells, story_bells
from rantai.notifications import events
from rantai.notifications.models import Notification
from rantai.org.models import Person
from rantai.roles import checks, fairness, queries
from rantai.roles.models import (
    Assignment,
    AssignmentKind,
    Briefing,
    Consultation,
    ConsultationStatus,
)

pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[Organisation]:  # type: ignore[no-untyped-def]
    """The demo, loaded once for the module: its tests only read it. It lives in
    an outer transaction (each test's own is a savepoint inside it) that is rolled
    back afterwards, so no other test sees it."""
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            yield loader.load()
        finally:
            transaction.set_rollback(True)


def access(username: str):  # type: ignore[no-untyped-def]
    return access_for(User.objects.get(username=username), loader.DEMO_SLUG)


def version_of(code: str) -> ProcedureVersion:
    return ProcedureVersion.objects.get(
        procedure__code=code, status=VersionStatus.PUBLISHED
    )


def roles_of(step: Step, role: str) -> list[str]:
    return sorted(
        StepRole.objects.filter(step=step, role=role).values_list(
            "position__code", flat=True
        )
    )


def test_production_asks_the_warehouse_and_the_delivery_informs_two_heads(demo):
    version = version_of("SHIP")
    produce = version.steps.get(key="produce")
    delivery = version.steps.get(key="confirm-delivery")

    assert produce.requires_consultation is True
    assert roles_of(produce, RaciRole.CONSULTED) == ["WH-HEAD"]
    assert roles_of(delivery, RaciRole.INFORMED) == ["EXP-HEAD", "WH-HEAD"]
    assert [step.key for step in version.steps.all() if step.requires_consultation] == [
        "produce"
    ]


def test_one_consultation_waits_for_the_acting_head_of_the_warehouse(demo):
    consultations = {
        (c.task.run.title, c.position.code, c.status, c.answered_by_id is not None)
        for c in Consultation.objects.filter(organisation=demo)
        .exclude(task__run__title__contains=history.HISTORY_MARK)
        .select_related("task__run", "position")
    }
    # the four months of history: Budi answered every one
    past = Consultation.objects.filter(
        organisation=demo, task__run__title__contains=history.HISTORY_MARK
    )
    assert past.count() == len(history.plans(demo, now=timezone.now()))
    assert set(past.values_list("status", "answered_by__username")) == {
        (ConsultationStatus.ANSWERED, "budi")
    }
    # the two runs whose production finished had Budi's answer first
    assert consultations == {
        ("Ship 200 units to Kota A", "WH-HEAD", ConsultationStatus.ANSWERED, True),
        ("Ship 800 units to Kota A", "WH-HEAD", ConsultationStatus.ANSWERED, True),
        ("Ship 500 units to Kota A", "WH-HEAD", ConsultationStatus.REQUESTED, False),
    }
    [waiting] = queries.consultations_waiting(access("budi"))
    assert (waiting.task.run.title, waiting.task.key, waiting.task.status) == (
        "Ship 500 units to Kota A",
        "produce",
        TaskStatus.IN_PROGRESS,
    )
    for username in ("rina", "agus", "admin", "hendra"):
        assert queries.consultations_waiting(access(username)) == [], username
    # Budi read the bells of the questions he answered, not the waiting one's
    asked = {
        n.key: n.read_at is not None
        for n in Notification.objects.filter(
            organisation=demo,
            recipient__username="budi",
            event_type=events.CONSULTATION_REQUESTED,
        )
    }
    assert asked == {
        f"consultation:{c.pk}:requested": c.status == ConsultationStatus.ANSWERED
        for c in Consultation.objects.filter(organisation=demo)
    }


def test_the_shipment_procedure_shows_one_role_check_warning(demo):
    version = version_of("SHIP")
    schedule = version.steps.get(key="schedule-shipment")

    findings = checks.check_version(version)

    assert [(f.rule, f.severity, f.fix, f.acknowledged) for f in findings] == [
        ("duty_not_covered", "warning", ("step", schedule.pk), None)
    ]
    assert "Schedule outgoing shipments" in findings[0].message
    # a warning, not an error: the version is published and its runs go on
    assert version.status == VersionStatus.PUBLISHED
    # and it is the organisation's only finding
    assert [(f.rule, f.subject) for f in checks.check_organisation(demo)] == [
        (findings[0].rule, findings[0].subject)
    ]
    # Budi covers the duty as the acting head of the warehouse: the schedule
    # step still found its candidate
    task = Task.objects.get(run__title="Ship 800 units to Kota A", key=schedule.key)
    assert task.assignee is not None and task.assignee.full_name == "Budi Santoso"


def test_one_briefing_of_a_demo_login_is_not_acknowledged(demo):
    logins = {login.username for login in loader.logins()}
    unacknowledged = list(
        Briefing.objects.filter(
            organisation=demo,
            acknowledged_at__isnull=True,
            person__user__username__in=logins,
        ).values_list("person__user__username", "procedure_version__procedure__code")
    )

    assert unacknowledged == [loader.UNACKNOWLEDGED_BRIEFING] == [("yusuf", "DOC")]
    [waiting] = queries.briefings_to_acknowledge(access("yusuf"))
    assert waiting.procedure_version == version_of("DOC")
    for username in logins - {"yusuf"}:
        assert queries.briefings_to_acknowledge(access(username)) == [], username
    # the process owner sees who has not acknowledged the export documents
    status = queries.version_briefing_status(access("rina"), version_of("DOC").pk)
    assert [
        (row.person_name, row.has_login, row.acknowledged_at is not None)
        for row in status.rows
    ] == [
        ("Maya Sari", False, False),  # no login: she cannot acknowledge in Rantai
        ("Rina Kusuma", True, True),
        ("Yusuf Hidayat", True, False),
    ]
    # publishing briefed every holder of a position with a role in the version (the
    # holdings are older than the procedures: nobody was briefed for starting one)
    assert sorted(
        Briefing.objects.filter(organisation=demo).values_list(
            "procedure_version__procedure__code", "person__full_name"
        )
    ) == [
        ("DOC", "Maya Sari"),
        ("DOC", "Rina Kusuma"),
        ("DOC", "Yusuf Hidayat"),
        ("SHIP", "Agus Salim"),
        ("SHIP", "Andi Pratama"),
        ("SHIP", "Budi Santoso"),
        ("SHIP", "Maya Sari"),
        ("SHIP", "Rina Kusuma"),
        ("SHIP", "Sari Lestari"),
        ("SHIP", "Yusuf Hidayat"),
    ]


def test_rina_handed_export_documents_to_dimas_outside_the_candidates(demo):
    manual = Assignment.objects.filter(
        organisation=demo, kind=AssignmentKind.MANUAL
    ).order_by("created_at", "id")
    dimas = Person.objects.get(organisation=demo, full_name="Dimas Saputra")

    assert list(
        manual.values_list(
            "task__run__title",
            "task__key",
            "person__full_name",
            "assigned_by__username",
        )
    ) == [
        (f"Dokumen ekspor {order}", "prepare-documents", "Dimas Saputra", "rina")
        for order in loader.DOCUMENT_ORDERS
    ]
    assert set(manual.values_list("is_override", "reason")) == {
        (True, loader.OVERRIDE_REASON)
    }
    # the policy had given each to the least loaded Staf Dokumen Ekspor first
    tasks = manual.values("task_id")
    assert list(
        Assignment.objects.filter(
            task__in=tasks, kind=AssignmentKind.AUTOMATIC
        ).values_list("person__full_name", flat=True)
    ) == ["Yusuf Hidayat"] * len(loader.DOCUMENT_ORDERS)
    # and Dimas holds them now
    assert set(
        Task.objects.filter(pk__in=tasks).values_list("assignee_id", flat=True)
    ) == {dimas.pk}


def test_the_fairness_report_shows_the_overrides_and_flags_the_concentration(demo):
    today = timezone.localdate()

    report = fairness.report(demo, since=today - dt.timedelta(days=30), until=today)

    assert [
        (o.assigner_name, o.manual, o.overrides, o.share) for o in report.overrides
    ] == [("Rina Kusuma", 5, 5, Decimal("1.0000"))]
    [rina] = report.concentration
    # her five picks all went to Dimas; a fair pick among each task's pool (the
    # Staf Dokumen Ekspor who can log in — Yusuf; Maya has no login — and Dimas)
    # would give him half of them
    assert (
        rina.assigner_name,
        rina.picks,
        rina.top_person_name,
        rina.top_picks,
        rina.share,
        rina.expected_share,
        rina.ratio,
        rina.flagged,
    ) == (
        "Rina Kusuma",
        5,
        "Dimas Saputra",
        5,
        Decimal("1.0000"),
        Decimal("0.5000"),
        Decimal("2.00"),
        True,
    )
    assert report.flagged == (rina,)


def test_the_bells_of_roles(demo):
    roles_bells = Notification.objects.filter(
        organisation=demo,
        event_type__in=(
            events.TASK_ASSIGNED,
            events.TASK_COMPLETED,
            events.TASK_ESCALATED,
            events.CONSULTATION_REQUESTED,
            events.CONSULTATION_ANSWERED,
            events.BRIEFING_ISSUED,
            events.BRIEFING_REMINDER,
        ),
    ).select_related("recipient")
    bells = {
        (n.recipient.username, n.event_type, n.read_at is not None)
        for n in story_bells(demo, roles_bells)
    }
    # the four months of history rang the same bells, and all were read
    past = history_bells(demo, roles_bells)
    assert {
        (n.recipient.username, n.event_type, n.read_at is not None) for n in past
    } == {
        ("budi", "consultation.requested", True),
        ("agus", "consultation.answered", True),
        ("rina", "task.completed", True),
        ("budi", "task.completed", True),
    }

    assert bells == {
        # every briefing bell was followed and acknowledged, but Yusuf's about DOC
        *(
            (username, "briefing.issued", True)
            for username in ("agus", "budi", "rina", "sari", "yusuf")
        ),
        ("yusuf", "briefing.issued", False),
        # Budi was asked three times and answered twice; Agus heard both answers
        ("budi", "consultation.requested", True),
        ("budi", "consultation.requested", False),
        ("agus", "consultation.answered", False),
        # the informed of the finished shipment's steps
        ("rina", "task.completed", False),
        ("budi", "task.completed", False),
        # the export manager's sign-off of the 800 units outlived its estimate
        ("rina", "task.escalated", False),
        # the export documents Rina gave Dimas
        ("dimas", "task.assigned", False),
    }
    # no reminder was due: everyone acknowledged in time, and Yusuf's briefing
    # is two days old
    assert not Notification.objects.filter(
        organisation=demo, event_type=events.BRIEFING_REMINDER
    ).exists()
