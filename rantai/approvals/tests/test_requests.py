"""Requests: submitting (route matching, versions kept, who may ask), withdrawing,
resubmitting, nudging (rate-limited), the stage time limits (remind, escalate,
notify the owner; timers at most once), re-resolution when the organisation
changes, and what people and webhooks are told."""

from __future__ import annotations

import datetime as dt

import pytest

from rantai.approvals import routes, services, timers
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    Nudge,
    RequestStage,
    RequestStatus,
    Resolution,
    ResolutionCause,
    StageApprover,
    StageStatus,
    Timer,
    TimerKind,
    TimerStatus,
)
from rantai.approvals.resolution import VIA_ACTING, VIA_ESCALATED, VIA_VACANT
from rantai.approvals.tests.conftest import DECIDED, KIND, SUBMITTED, Kit
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.notifications import events, webhooks
from rantai.notifications.models import Notification, WebhookDelivery
from rantai.org import extensions as org_extensions
from rantai.org import services as org
from rantai.org.models import Holding

LATER = DECIDED + dt.timedelta(hours=1)


def notices(user, event_type: str | None = None) -> list[Notification]:  # type: ignore[no-untyped-def]
    qs = Notification.objects.filter(recipient=user)
    if event_type:
        qs = qs.filter(event_type=event_type)
    return list(qs.order_by("id"))


def verbs(request: ApprovalRequest) -> list[str]:
    return list(
        AuditEvent.objects.filter(
            target_type="approvals.approvalrequest", target_id=str(request.pk)
        )
        .order_by("sequence")
        .values_list("verb", flat=True)
    )


# --- submitting -----------------------------------------------------------------------


def test_submitting_creates_the_stages_and_opens_the_first(kit):
    version = kit.route(
        {"rule": "superior", "time_limit_hours": 2},
        {"rule": "position", "position": kit.o.director},
    )

    request = kit.submit(payload={"reason": "customer asked"})

    assert request.route_version_id == version.pk  # found by matching
    assert (request.status, request.current_stage, request.subject_version) == (
        RequestStatus.OPEN,
        1,
        1,
    )
    assert request.requester_id == kit.team.person("dina").pk
    assert request.requested_by_id == kit.team.dina.pk
    assert request.run_id == kit.run.pk
    assert kit.statuses(request) == [StageStatus.OPEN, StageStatus.WAITING]
    stage = kit.stage(request, 1)
    assert (stage.round, stage.required, stage.opened_at) == (1, 1, SUBMITTED)
    # two working hours after Monday 08:00 in Jakarta
    assert stage.due_at == SUBMITTED + dt.timedelta(hours=2)
    assert verbs(request) == [AuditVerb.APPROVAL_REQUESTED, AuditVerb.STAGE_OPENED]
    requested = AuditEvent.objects.get(verb=AuditVerb.APPROVAL_REQUESTED)
    assert requested.personal.changes == {"payload": {"reason": "customer asked"}}
    [notice] = notices(kit.team.rina, events.APPROVAL_STAGE_OPENED)
    assert notice.key == f"approval:{request.pk}:stage:{stage.pk}:round:1:opened"
    assert notice.url == f"/o/acme/approvals/{request.pk}/"
    assert audit.verify(kit.o.organisation).ok


def test_without_a_matching_route_nothing_is_asked(kit):
    with pytest.raises(ValidationFailed) as refused:
        kit.submit()

    assert refused.value.code == "no_route"
    assert not ApprovalRequest.objects.exists()


def test_a_subject_has_one_request_in_progress_at_a_time(kit):
    version = kit.route({"rule": "superior"})
    subject = kit.subject()
    kit.submit(version, subject=subject)

    with pytest.raises(ValidationFailed) as refused:
        kit.submit(version, subject=subject)

    assert refused.value.code == "already_requested"
    assert ApprovalRequest.objects.count() == 1


def test_a_request_keeps_the_route_version_it_started_on(kit):
    v1 = kit.route(
        {"rule": "superior"},
        {"rule": "position", "position": kit.o.director},
    )
    request = kit.submit(v1)
    draft = routes.new_draft(v1.route, actor=kit.o.admin)
    last = draft.stages.get(order=2)
    routes.update_stage(
        last,
        actor=kit.o.admin,
        expected_version=last.version,
        position=kit.team.warehouse_head,
    )
    routes.publish(draft, actor=kit.o.admin, expected_version=None, now=SUBMITTED)

    kit.decide(request, kit.team.rina)

    request.refresh_from_db()
    assert request.route_version_id == v1.pk
    assert kit.approvers(request, 2) == kit.ids("sari")  # v1's second stage
    assert kit.submit().route_version_id == draft.pk  # new requests use v2


def test_a_retired_route_version_cannot_be_used(kit):
    version = kit.route({"rule": "superior"})
    routes.retire(version, actor=kit.o.admin, expected_version=None, now=SUBMITTED)

    with pytest.raises(ValidationFailed) as refused:
        kit.submit(version)

    assert list(refused.value.errors) == ["route_version"]


@pytest.mark.parametrize("who", ["auditor", "partner"])
def test_auditors_and_partners_do_not_ask_for_approval(kit, who):
    kit.route({"rule": "superior"})

    with pytest.raises(PermissionDenied):
        kit.submit(actor=getattr(kit.o, who))


def test_a_login_without_a_person_cannot_ask(kit):
    kit.route({"rule": "superior"})

    with pytest.raises(PermissionDenied):
        kit.submit(actor=kit.o.admin)


@pytest.mark.parametrize("payload", [["not", "named"], {"when": dt.date(2026, 3, 2)}])
def test_details_must_be_named_plain_values(kit, payload):
    kit.route({"rule": "superior"})

    with pytest.raises(ValidationFailed) as refused:
        kit.submit(payload=payload)

    assert list(refused.value.errors) == ["payload"]
    assert not ApprovalRequest.objects.exists()


def test_an_unknown_subject_is_not_found(kit):
    kit.route({"rule": "superior"})

    with pytest.raises(NotFound):
        services.submit(KIND, 999_999, actor=kit.team.dina, now=SUBMITTED)


# --- withdrawing and resubmitting --------------------------------------------------------


def test_the_requester_withdraws_and_may_ask_again(kit):
    version = kit.route({"rule": "superior", "time_limit_hours": 2})
    subject = kit.subject()
    request = kit.submit(version, subject=subject)

    with pytest.raises(PermissionDenied):
        services.withdraw(
            request, actor=kit.team.rina, expected_version=request.version
        )
    with pytest.raises(Conflict):
        services.withdraw(
            request, actor=kit.team.dina, expected_version=request.version - 1
        )
    services.withdraw(
        request, actor=kit.team.dina, expected_version=request.version, now=DECIDED
    )

    request.refresh_from_db()
    assert (request.status, request.finished_at) == (RequestStatus.WITHDRAWN, DECIDED)
    assert kit.statuses(request) == [StageStatus.CANCELLED]
    assert Timer.objects.get().status == TimerStatus.CANCELLED
    assert verbs(request)[-1] == AuditVerb.WITHDRAWN
    again = kit.submit(version, subject=subject)
    assert again.pk != request.pk


def test_only_the_requester_resubmits_and_only_a_returned_request(kit):
    request = kit.submit(kit.route({"rule": "superior"}))
    with pytest.raises(ValidationFailed):
        services.resubmit(request, actor=kit.team.dina, expected_version=None)
    kit.decide(request, kit.team.rina, "return", return_to_stage=0)
    request.refresh_from_db()

    with pytest.raises(PermissionDenied):
        services.resubmit(
            request, actor=kit.team.rina, expected_version=request.version
        )
    kit.state.versions[request.subject_id] = 3
    services.resubmit(
        request, actor=kit.team.dina, expected_version=request.version, now=LATER
    )

    request.refresh_from_db()
    assert (request.status, request.subject_version) == (RequestStatus.OPEN, 3)
    assert verbs(request)[-2:] == [AuditVerb.RESUBMITTED, AuditVerb.STAGE_OPENED]


# --- nudging ----------------------------------------------------------------------------


def test_anyone_waiting_can_nudge_the_approvers_once_an_hour(kit, settings):
    settings.RANTAI_NUDGE_INTERVAL_MINUTES = 60
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.team.qa, "mode": "all"})
    )
    kit.decide(request, kit.team.ayu)

    nudge = services.nudge(request, actor=kit.team.dina, now=LATER)

    assert nudge.at == LATER
    reminded = {
        user.username
        for user in (kit.team.ayu, kit.team.eko, kit.team.fajar)
        if notices(user, events.APPROVAL_NUDGED)
    }
    assert reminded == {"eko", "fajar"}  # not Ayu, who decided
    assert all(n.urgent for n in notices(kit.team.eko, events.APPROVAL_NUDGED))
    request.refresh_from_db()
    assert request.last_nudged_at == LATER
    assert verbs(request)[-1] == AuditVerb.NUDGED

    with pytest.raises(ValidationFailed) as refused:
        services.nudge(
            request, actor=kit.team.dina, now=LATER + dt.timedelta(minutes=59)
        )
    assert refused.value.code == "rate_limited"
    assert Nudge.objects.count() == 1
    services.nudge(request, actor=kit.team.sari, now=LATER + dt.timedelta(minutes=1))
    services.nudge(request, actor=kit.team.dina, now=LATER + dt.timedelta(minutes=60))
    assert Nudge.objects.count() == 3


def test_partners_cannot_nudge_and_a_returned_request_is_not_nudged(kit):
    request = kit.submit(kit.route({"rule": "superior"}))
    with pytest.raises(NotFound):
        services.nudge(request, actor=kit.o.partner, now=LATER)

    kit.decide(request, kit.team.rina, "return", return_to_stage=0)
    with pytest.raises(ValidationFailed):
        services.nudge(request, actor=kit.team.dina, now=LATER)


# --- time limits ---------------------------------------------------------------------------


def fire(now: dt.datetime) -> int:
    with timers.isolated_rules({TimerKind.APPROVAL_STAGE: services.stage_timer_rule}):
        return timers.fire_due(owner="test-worker", now=now)


def test_a_passed_time_limit_reminds_the_approvers_at_most_once(kit):
    request = kit.submit(kit.route({"rule": "superior", "time_limit_hours": 2}))
    due = kit.stage(request, 1).due_at
    assert due is not None

    assert fire(due - dt.timedelta(minutes=1)) == 0
    assert fire(due) == 1
    assert fire(due + dt.timedelta(hours=5)) == 0

    [notice] = notices(kit.team.rina, events.APPROVAL_REMINDED)
    assert notice.urgent
    timer = Timer.objects.get()
    assert (timer.status, timer.outcome) == (
        TimerStatus.FIRED,
        "reminded 1 approver(s)",
    )
    assert verbs(request).count(AuditVerb.REMINDED) == 1


def test_a_stage_decided_in_time_cancels_its_timer(kit):
    request = kit.submit(kit.route({"rule": "superior", "time_limit_hours": 2}))
    kit.decide(request, kit.team.rina)

    timer = Timer.objects.get()
    assert timer.status == TimerStatus.CANCELLED
    assert services.stage_timer_rule(timer, LATER) == ""  # settled: nothing happens
    assert notices(kit.team.rina, events.APPROVAL_REMINDED) == []


def test_escalation_asks_the_approvers_superior_too_with_a_new_time_limit(kit):
    request = kit.submit(
        kit.route({"rule": "superior", "time_limit_hours": 2, "on_timeout": "escalate"})
    )
    stage = kit.stage(request, 1)
    due = stage.due_at
    assert due is not None

    assert fire(due) == 1

    stage.refresh_from_db()
    assert stage.escalations == 1
    assert stage.due_at == due + dt.timedelta(hours=2)
    sari = StageApprover.objects.get(request_stage=stage, escalated=True)
    assert (sari.person_id, sari.via) == (kit.team.person("sari").pk, VIA_ESCALATED)
    resolution = Resolution.objects.filter(request_stage=stage).order_by("id").last()
    assert resolution is not None and resolution.cause == ResolutionCause.ESCALATED
    assert [a["person"] for a in resolution.approvers] == [
        kit.team.person("rina").pk,
        kit.team.person("sari").pk,
    ]
    assert notices(kit.team.sari, events.APPROVAL_ESCALATED)[0].urgent
    pending = Timer.objects.filter(status=TimerStatus.PENDING).get()
    assert pending.deadline == stage.due_at
    assert verbs(request)[-1] == AuditVerb.ESCALATED

    # the escalated superior decides; the escalation survives a re-resolution
    kit.decide(request, kit.team.sari, now=due + dt.timedelta(minutes=5))
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert Timer.objects.filter(status=TimerStatus.PENDING).count() == 0


def test_notify_owner_tells_the_holders_of_the_routes_owner_position(kit):
    version = kit.route(
        {"rule": "superior", "time_limit_hours": 1, "on_timeout": "notify_owner"},
        owner=kit.o.director,
    )
    request = kit.submit(version)
    due = kit.stage(request, 1).due_at
    assert due is not None

    assert fire(due) == 1

    [notice] = notices(kit.team.sari, events.APPROVAL_OVERDUE)
    assert notice.urgent and notice.url == f"/o/acme/approvals/{request.pk}/"
    assert Timer.objects.get().outcome == "notified 1 process owner(s)"


def test_a_timer_of_an_older_round_does_nothing(kit):
    request = kit.submit(
        kit.route(
            {"rule": "superior", "time_limit_hours": 2},
            {"rule": "position", "position": kit.o.director},
        )
    )
    first = Timer.objects.get()
    kit.decide(request, kit.team.rina)
    kit.decide(request, kit.team.sari, "return", return_to_stage=1)

    assert services.stage_timer_rule(first, LATER) == ""
    assert notices(kit.team.rina, events.APPROVAL_REMINDED) == []


# --- the organisation changes ----------------------------------------------------------------


@pytest.fixture
def hooked(kit: Kit) -> Kit:
    org_extensions.register_holders_changed_handler(services.on_holders_changed)
    return kit


def test_a_holder_leaving_and_a_plt_appointed_re_resolve_the_open_stage(hooked):
    kit = hooked
    request = kit.submit(kit.route({"rule": "superior"}))
    stage = kit.stage(request, 1)
    holding = Holding.objects.get(
        person=kit.team.person("rina"), position__code="EXP-HEAD"
    )

    org.end_holding(
        holding,
        actor=kit.o.admin,
        expected_version=holding.version,
        end_date=dt.date(2026, 2, 1),
    )

    assert kit.approvers(request, 1) == kit.ids("sari")
    assert StageApprover.objects.get(request_stage=stage).via == VIA_VACANT
    assert notices(kit.team.sari, events.APPROVAL_STAGE_OPENED)

    org.assign_holder(
        kit.o.export_head,
        actor=kit.o.admin,
        person=kit.team.person("wawan"),
        start_date=dt.date(2026, 2, 2),
        is_acting=True,
    )

    approver = StageApprover.objects.get(request_stage=stage)
    assert (approver.person_id, approver.via, approver.is_acting) == (
        kit.team.person("wawan").pk,
        VIA_ACTING,
        True,
    )
    causes = list(
        Resolution.objects.filter(request_stage=stage)
        .order_by("id")
        .values_list("cause", flat=True)
    )
    assert causes == [ResolutionCause.OPENED] + [ResolutionCause.ORG_CHANGED] * 2
    assert verbs(request).count(AuditVerb.APPROVERS_RESOLVED) == 2
    request.refresh_from_db()
    assert request.version == 1  # who decides changed, not where it stands


def test_a_change_that_does_not_touch_the_approvers_records_nothing(hooked):
    kit = hooked
    request = kit.submit(kit.route({"rule": "superior"}))

    holding = Holding.objects.get(person=kit.team.person("ayu"))
    org.end_holding(
        holding,
        actor=kit.o.admin,
        expected_version=holding.version,
        end_date=dt.date(2026, 2, 1),
    )

    assert Resolution.objects.filter(request_stage__request=request).count() == 1


def test_all_of_them_completes_when_the_last_undecided_approver_leaves(hooked):
    kit = hooked
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.team.qa, "mode": "all"})
    )
    kit.decide(request, kit.team.ayu)
    kit.decide(request, kit.team.eko)
    holding = Holding.objects.get(person=kit.team.person("fajar"))

    org.end_holding(
        holding,
        actor=kit.o.admin,
        expected_version=holding.version,
        end_date=dt.date(2026, 2, 1),
    )

    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert kit.state.approved == [(request.subject_id, request.pk, kit.team.eko.pk)]
    assert kit.stage(request, 1).required == 2


def test_someone_who_approved_and_left_still_counts_once(hooked):
    kit = hooked
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.team.qa, "mode": "all"})
    )
    kit.decide(request, kit.team.ayu)
    holding = Holding.objects.get(person=kit.team.person("ayu"))

    org.end_holding(
        holding,
        actor=kit.o.admin,
        expected_version=holding.version,
        end_date=dt.date(2026, 2, 1),
    )

    assert kit.approvers(request, 1) == kit.ids("eko", "fajar")
    assert kit.stage(request, 1).required == 3
    kit.decide(request, kit.team.eko)
    request.refresh_from_db()
    assert request.status == RequestStatus.OPEN
    kit.decide(request, kit.team.fajar)
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED


def leave(kit: Kit, name: str, end_date: dt.date = dt.date(2026, 2, 1)) -> None:
    holding = Holding.objects.get(person=kit.team.person(name), end_date=None)
    org.end_holding(
        holding,
        actor=kit.o.admin,
        expected_version=holding.version,
        end_date=end_date,
    )


def unreachable(user) -> list[tuple[str, str, str]]:  # type: ignore[no-untyped-def]
    return [
        (notice.key, notice.title, notice.body)
        for notice in notices(user, events.APPROVAL_OVERDUE)
        if notice.key.endswith(":unreachable")
    ]


def test_a_stage_that_can_no_longer_reach_its_quorum_tells_the_owner_once(hooked):
    kit = hooked
    # Two of the three QA officers must approve; the director owns the route.
    request = kit.submit(
        kit.route(
            {
                "rule": "position",
                "position": kit.team.qa,
                "mode": "quorum",
                "quorum": 2,
            },
            owner=kit.o.director,
        )
    )
    stage = kit.stage(request, 1)

    leave(kit, "eko")  # Ayu and Fajar can still give the two approvals
    assert unreachable(kit.team.sari) == []

    leave(kit, "fajar", dt.date(2026, 2, 2))  # only Ayu is left

    assert unreachable(kit.team.sari) == [
        (
            f"approval:{request.pk}:stage:{stage.pk}:round:1:unreachable",
            f"An approval you own can no longer be completed: {request.title}",
            "Stage 1 (Stage 1) needs 2 approvals; after a change in the "
            "organisation, the people who can still approve it can give only 1. "
            "Appoint someone to the approvers' position (an acting holder will "
            "do), or ask the requester to withdraw the request and ask again.",
        )
    ]
    assert [n.urgent for n in notices(kit.team.sari, events.APPROVAL_OVERDUE)] == [True]
    assert notices(kit.o.admin, events.APPROVAL_OVERDUE) == []  # the owner is
    told = AuditEvent.objects.filter(
        verb=AuditVerb.REMINDED, target_id=str(request.pk)
    ).get()
    assert told.changes == {
        "stage": 1,
        "round": 1,
        "unreachable": {"needed": 2, "possible": 1},
        "owners": [kit.team.person("sari").pk],
        "administrators": [],
    }
    request.refresh_from_db()
    assert (request.status, request.version) == (RequestStatus.OPEN, 1)

    # Ayu leaves too (the director is asked instead): still short, nothing new.
    leave(kit, "ayu", dt.date(2026, 2, 3))

    assert kit.approvers(request, 1) == kit.ids("sari")
    assert len(unreachable(kit.team.sari)) == 1
    assert verbs(request).count(AuditVerb.REMINDED) == 1


def test_approvals_given_still_count_towards_the_quorum(hooked):
    kit = hooked
    request = kit.submit(
        kit.route(
            {
                "rule": "position",
                "position": kit.team.qa,
                "mode": "quorum",
                "quorum": 2,
            },
            owner=kit.o.director,
        )
    )
    kit.decide(request, kit.team.ayu)

    leave(kit, "eko")
    leave(kit, "ayu", dt.date(2026, 2, 2))  # approved, then left: her approval counts

    assert unreachable(kit.team.sari) == []
    assert verbs(request).count(AuditVerb.REMINDED) == 0

    # Fajar leaves too: the vacant position passes up to the director, whose
    # approval would be the second.
    leave(kit, "fajar", dt.date(2026, 2, 3))

    assert kit.approvers(request, 1) == kit.ids("sari")
    assert unreachable(kit.team.sari) == []


def test_a_route_without_an_owner_tells_the_administrators(hooked):
    kit = hooked
    request = kit.submit(
        kit.route(
            {"rule": "position", "position": kit.team.qa, "mode": "quorum", "quorum": 3}
        )
    )

    leave(kit, "fajar")

    [(key, _title, body)] = unreachable(kit.o.admin)
    assert key.startswith(f"approval:{request.pk}:stage:")
    assert body.startswith("Stage 1 (Stage 1) needs 3 approvals; after a change")
    assert "can give only 2." in body
    assert unreachable(kit.team.sari) == []
    told = AuditEvent.objects.get(verb=AuditVerb.REMINDED, target_id=str(request.pk))
    assert (told.changes["owners"], told.changes["administrators"]) == (
        [],
        [kit.o.admin.pk],
    )


# --- webhooks ------------------------------------------------------------------------------


def test_requests_decisions_and_settled_requests_reach_the_webhooks(kit):
    webhooks.create_endpoint(
        kit.o.organisation,
        actor=kit.o.admin,
        name="ERP",
        url="https://erp.example.com/hooks/rantai",
    )
    request = kit.submit(kit.route({"rule": "superior"}))
    decision = kit.decide(request, kit.team.rina)

    sent = list(WebhookDelivery.objects.order_by("id"))
    assert [d.event_type for d in sent] == [
        events.APPROVAL_REQUESTED,
        events.APPROVAL_STAGE_OPENED,
        events.APPROVAL_DECIDED,
        events.APPROVAL_COMPLETED,
    ]
    for delivery in sent:
        events.validate_payload(delivery.payload)
    decided = sent[2].payload["data"]
    assert decided["outcome"] == "approve"
    assert decided["decided_by"] == {
        "id": kit.team.person("rina").pk,
        "name": "Rina Kusuma",
    }
    assert decided["request"]["url"].endswith(f"/o/acme/approvals/{request.pk}/")
    assert sent[3].payload["data"]["status"] == "approved"
    assert decision.pk


def test_no_webhook_endpoint_means_no_deliveries(kit):
    request = kit.submit(kit.route({"rule": "superior"}))
    kit.decide(request, kit.team.rina)

    assert not WebhookDelivery.objects.exists()
    assert RequestStage.objects.filter(request=request).count() == 1
    assert Decision.objects.filter(request=request).count() == 1
