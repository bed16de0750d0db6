"""The coordination flow of the demo: the approval route of high-value shipments, an
export approval waiting for the acting head of the warehouse (escalated for real to
the director), the director away with his approvals delegated, and notifications."""

from __future__ import annotations

from collections.abc import Iterator
from io import StringIO

import pytest
from django.core.management import call_command
from django.db import transaction
from django.utils import timezone

from rantai.accounts.access import access_for
from rantai.accounts.models import Organisation, User
from rantai.approvals import adapters, queries, routes
from rantai.approvals import delegation as delegations
from rantai.approvals.models import (
    ApprovalRequest,
    Delegation,
    Resolution,
    RouteVersion,
    StageApprover,
    SubjectKind,
    Timer,
    TimerKind,
    TimerStatus,
)
from rantai.approvals.resolution import VIA_ACTING, VIA_ESCALATED
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains.models import Run, Step, Task, TaskStatus, VersionStatus
from rantai.core.models import OutboxMessage
from rantai.demo import history, loader
from rantai.demo.tests.helpers import story_bells
from rantai.notifications import events
from rantai.notifications.models import Delivery, Notification
from rantai.notifications.queries import get_preference
from rantai.org import absences
from rantai.org.models import AbsenceKind, Person

# The bells of roles: consultations, the informed, late tasks, manual assignments
# and briefings (test_demo_roles.py).
ROLES_EVENTS = (
    events.TASK_ASSIGNED,
    events.TASK_COMPLETED,
    events.TASK_ESCALATED,
    events.CONSULTATION_REQUESTED,
    events.CONSULTATION_ANSWERED,
    events.BRIEFING_ISSUED,
    events.BRIEFING_REMINDER,
)
# The bells of anticipation: the obstacle, its mitigation, the checked record, the
# review of the finished run and the early warnings (test_demo_anticipation.py).
ANTICIPATION_EVENTS = (
    events.OBSTACLE_RAISED,
    events.MITIGATION_ASSIGNED,
    events.RECORD_CHECKED,
    events.REVIEW_OPENED,
    events.REVIEW_ACTION_ASSIGNED,
    events.WARNING_RAISED,
)


pytestmark = pytest.mark.django_db


@pytest.fixture(scope="module")
def demo(django_db_setup, django_db_blocker) -> Iterator[Organisation]:  # type: ignore[no-untyped-def]
    """The demo, loaded once for the module (its history makes a load take a
    while): its tests only read it. It lives in an outer transaction that is
    rolled back afterwards, so no other test sees it."""
    with django_db_blocker.unblock(), transaction.atomic():
        try:
            yield loader.load()
        finally:
            transaction.set_rollback(True)


def person(demo: Organisation, name: str) -> Person:
    return Person.objects.get(organisation=demo, full_name=name)


def waiting_for(username: str) -> list[tuple[str, str | None]]:
    """(request title, on whose behalf) of what waits for the user now."""
    access = access_for(User.objects.get(username=username), loader.DEMO_SLUG)
    return [
        (p.request.title, p.on_behalf_of.full_name if p.on_behalf_of else None)
        for p in queries.pending_for(access)
    ]


def the_request(demo: Organisation) -> ApprovalRequest:
    return ApprovalRequest.objects.get(
        organisation=demo, run__title=loader.APPROVAL_RUN_TITLE
    )


def test_a_published_route_approves_shipments_above_the_value_limit(demo):
    # (the workload analysis's default routes: test_demo_workload.py)
    [route] = [
        route
        for route in routes.routes_for(demo)
        if route.subject_kind == SubjectKind.TASK_COMPLETION
    ]
    assert route.owner_position is not None
    assert (route.code, route.subject_kind, route.owner_position.code) == (
        "SHIP-HIGH",
        SubjectKind.TASK_COMPLETION,
        "EXP-HEAD",
    )
    version = RouteVersion.objects.get(route=route)
    assert (version.number, version.status) == (1, VersionStatus.PUBLISHED)
    assert version.allow_repeat_approver is True
    assert [(c.field, c.operator, c.value) for c in routes.conditions_of(version)] == [
        ("procedure", "eq", "SHIP"),
        ("run.shipment_value", "gt", loader.APPROVAL_THRESHOLD),
    ]
    assert [
        (
            s.order,
            s.rule,
            s.position.code if s.position else None,
            s.levels,
            s.mode,
            s.time_limit_hours,
            s.on_timeout,
        )
        for s in routes.stages_of(version)
    ] == [
        (1, "position", "WH-HEAD", 1, "any", 8, "escalate"),
        (2, "superior", None, 1, "any", 16, "remind"),
    ]
    # the export manager's approval step requires it, and only where it applies
    step = Step.objects.get(
        procedure_version__procedure__code="SHIP", key="approve-shipment"
    )
    assert step.requires_approval is True
    for title, matches in [
        ("Ship 800 units to Kota A", True),  # Rp 1,200,000,000
        ("Ship 500 units to Kota A", True),  # Rp 750,000,000
        ("Ship 200 units to Kota A", False),  # Rp 300,000,000
    ]:
        task = adapters.load_task(
            Task.objects.get(run__title=title, key="approve-shipment").pk
        )
        found = routes.match(
            demo, SubjectKind.TASK_COMPLETION, adapters.task_fields(task)
        )
        assert (found == version) is matches, title


def test_the_export_approval_waits_for_the_right_people(demo):
    request = the_request(demo)
    task = Task.objects.get(pk=request.subject_id)
    title = "Ship 800 units to Kota A — Persetujuan manajer ekspor (export manager approval)"

    assert (request.title, request.status, request.current_stage) == (title, "open", 1)
    assert (request.requester.full_name, request.requester_position.code) == (  # type: ignore[union-attr]
        "Rina Kusuma",
        "EXP-HEAD",
    )
    assert (task.status, task.awaiting_reasons) == (TaskStatus.AWAITING, ["approval"])
    # the acting (Plt) head of the warehouse decides in his own right; the director
    # was added by the escalation and, away this week, decides through the head of
    # marketing; the requester and everyone else have nothing waiting (rina only
    # her staff's workload entries, see test_demo_workload.py)
    assert waiting_for("budi") == [(title, None)]
    assert waiting_for("hendra") == [(title, None)]
    assert waiting_for("sari") == [(title, "Hendra Wijaya")]
    assert title not in [found for found, _behalf in waiting_for("rina")]
    for username in ("agus", "admin", "fajar"):
        assert waiting_for(username) == [], username
    # the command line tells the same
    stdout = StringIO()
    call_command(
        "approvals",
        "pending",
        "--org",
        loader.DEMO_SLUG,
        "--user",
        "sari",
        stdout=stdout,
    )
    assert "a.n. Hendra Wijaya" in stdout.getvalue()
    assert title in stdout.getvalue()
    # the run carrying it is in progress, the other shipments as before
    assert Run.objects.get(pk=task.run_id).status == "active"
    # (beside the four months of finished history: rantai.demo.history)
    assert (
        Run.objects.filter(organisation=demo, procedure__code="SHIP")
        .exclude(title__contains=history.HISTORY_MARK)
        .count()
        == 3
    )


def test_the_director_is_away_and_his_approvals_are_delegated(demo):
    now = timezone.now()
    hendra, sari = person(demo, "Hendra Wijaya"), person(demo, "Sari Lestari")

    [delegation] = delegations.active_for(sari.pk, at=now)
    away = absences.absence_at(hendra.pk, at=now)

    assert delegation.delegator == hendra
    assert list(delegation.routes.all()) == []  # every route
    assert away is not None and away.kind == AbsenceKind.TRAVEL
    assert delegation.absence == away
    assert (delegation.starts_at, delegation.ends_at) == (away.starts_at, away.ends_at)
    # the head of production's leave is recorded, without a delegation, for later
    [leave] = absences.absences_of(person(demo, "Agus Salim").pk)
    assert leave.kind == AbsenceKind.LEAVE and leave.starts_at > now
    assert not Delegation.objects.filter(absence=leave).exists()


def test_the_first_stage_was_escalated_by_the_timer_service(demo):
    now = timezone.now()
    request = the_request(demo)
    stage = request.stages.get(order=1)
    timers = list(
        Timer.objects.filter(
            kind=TimerKind.APPROVAL_STAGE, subject_id=stage.pk
        ).order_by("deadline")
    )

    assert stage.escalations == 1
    # the first time limit fired (escalating); the new one runs from the escalation
    assert [(t.action, t.status, t.outcome) for t in timers] == [
        ("escalate", TimerStatus.FIRED, "escalated to 1 approver(s)"),
        ("escalate", TimerStatus.PENDING, ""),
    ]
    assert timers[0].deadline < now < timers[1].deadline == stage.due_at
    assert list(
        Resolution.objects.filter(request_stage=stage).values_list("cause", flat=True)
    ) == ["opened", "escalated"]
    assert sorted(
        (a.person.full_name, a.via, a.is_acting, a.escalated)
        for a in StageApprover.objects.filter(request_stage=stage)
    ) == [
        ("Budi Santoso", VIA_ACTING, True, False),
        ("Hendra Wijaya", VIA_ESCALATED, False, True),
    ]
    verbs = set(
        AuditEvent.objects.filter(organisation=demo, target_id=request.pk).values_list(
            "verb", flat=True
        )
    )
    assert {
        AuditVerb.APPROVAL_REQUESTED,
        AuditVerb.NUDGED,
        AuditVerb.ESCALATED,
    } <= verbs
    # the bells: what the approvers were told, and the finished run's owner (the
    # workload analysis's bells: test_demo_workload.py)
    workload = tuple(
        f"approval:{pk}:"
        for pk in ApprovalRequest.objects.filter(
            organisation=demo,
            subject_kind__in=(
                SubjectKind.WORKLOAD_SHEET,
                SubjectKind.WORKLOAD_ANALYSIS,
            ),
        ).values_list("pk", flat=True)
    )
    bells = {
        (n.recipient.username, n.event_type, n.read_at is not None)
        for n in story_bells(
            demo,
            Notification.objects.filter(organisation=demo)
            .exclude(event_type__in=ROLES_EVENTS + ANTICIPATION_EVENTS)
            .select_related("recipient"),
        )
        if not n.key.startswith(("workload:", *workload))
    }
    # (the four months of history rang bells too, all read: test_demo_insight.py)
    assert bells == {
        ("budi", "approval.stage_opened", True),
        ("budi", "approval.nudged", False),
        ("hendra", "approval.escalated", False),
        # the finished run announced itself twice: when it went late, and when it
        # completed (approvals/announcements.py)
        ("rina", "run.late", False),
        ("rina", "run.completed", False),
    }
    # nobody is e-mailed about the demo's past; from now on, urgent events are
    assert OutboxMessage.objects.count() == 0
    budi = User.objects.get(username="budi")
    assert get_preference(demo, budi).urgent == Delivery.IMMEDIATE
    nudged = Notification.objects.get(
        recipient__username="budi", event_type="approval.nudged"
    )
    assert nudged.title.startswith("Rina Kusuma ")
