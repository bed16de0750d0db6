"""Decisions and their invariants: legal transitions only and final states
absorbing; one decision per slot (a database constraint); sequential stages;
N of M completing exactly once; no self-approval through any path; authority
evaluated at the moment of the decision; delegations (a.n., never chained); one
person one slot; one audit event per decision; a decision bound to the subject's
version."""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import IntegrityError, transaction
from django.test import Client
from django.urls import reverse

from rantai.accounts.models import Membership
from rantai.accounts.tokens import create_token
from rantai.approvals import delegation, services
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    Outcome,
    RequestStatus,
    Resolution,
    ResolutionCause,
    StageStatus,
)
from rantai.approvals.tests.conftest import DECIDED, SUBMITTED, Kit
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.notifications import events
from rantai.notifications.models import Notification
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Holding
from rantai.testing import small_org

LATER = DECIDED + dt.timedelta(hours=1)
DECISION_VERBS = (AuditVerb.APPROVED, AuditVerb.REJECTED, AuditVerb.RETURNED)


def two_stages(kit: Kit, **options):  # type: ignore[no-untyped-def]
    """Stage 1: Dina's superior (Rina); stage 2: the director (Sari)."""
    return kit.route(
        {"rule": "superior"},
        {"rule": "position", "position": kit.o.director},
        **options,
    )


def snapshot(request: ApprovalRequest) -> tuple:
    request.organisation.refresh_from_db(fields=["audit_sequence"])
    return (
        request.organisation.audit_sequence,
        tuple(
            ApprovalRequest.objects.filter(pk=request.pk).values_list(
                "status", "version", "current_stage"
            )
        ),
        tuple(
            request.stages.order_by("order").values_list(
                "status", "round", "required", "escalations"
            )
        ),
        tuple(Decision.objects.filter(request=request).values_list("pk", "is_current")),
        Resolution.objects.filter(request_stage__request=request).count(),
    )


def delegate(kit: Kit, delegator: str, to: str, **kwargs):  # type: ignore[no-untyped-def]
    return delegation.delegate(
        kit.team.person(delegator),
        actor=kit.o.admin,
        delegate=kit.team.person(to),
        starts_at=kwargs.pop("starts_at", SUBMITTED - dt.timedelta(days=1)),
        ends_at=kwargs.pop("ends_at", SUBMITTED + dt.timedelta(days=30)),
        now=SUBMITTED - dt.timedelta(days=1),
        **kwargs,
    )


# --- the happy paths --------------------------------------------------------------


def test_approving_a_stage_opens_the_next_and_the_last_approves_the_request(kit):
    request = kit.submit(two_stages(kit))
    assert kit.statuses(request) == [StageStatus.OPEN, StageStatus.WAITING]
    assert kit.approvers(request, 2) == set()  # resolved only when it opens

    first = kit.decide(request, kit.team.rina)

    assert (first.outcome, first.round, first.slot_person_id) == (
        Outcome.APPROVE,
        1,
        kit.team.person("rina").pk,
    )
    assert first.position_id == kit.o.export_head.pk
    request.refresh_from_db()
    assert (request.status, request.current_stage) == (RequestStatus.OPEN, 2)
    assert kit.statuses(request) == [StageStatus.APPROVED, StageStatus.OPEN]
    assert kit.approvers(request, 2) == kit.ids("sari")
    assert kit.state.approved == []

    kit.decide(request, kit.team.sari, now=LATER)

    request.refresh_from_db()
    assert (request.status, request.finished_at) == (RequestStatus.APPROVED, LATER)
    assert kit.statuses(request) == [StageStatus.APPROVED, StageStatus.APPROVED]
    assert kit.state.approved == [(request.subject_id, request.pk, kit.team.sari.pk)]


def test_a_rejection_needs_a_reason_and_ends_the_request(kit):
    request = kit.submit(two_stages(kit))
    before = snapshot(request)

    with pytest.raises(ValidationFailed) as refused:
        kit.decide(request, kit.team.rina, "reject", comment="  ")
    assert list(refused.value.errors) == ["comment"]
    assert snapshot(request) == before

    kit.decide(request, kit.team.rina, "reject", comment="Wrong customer")

    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED
    assert kit.statuses(request) == [StageStatus.REJECTED, StageStatus.CANCELLED]
    assert kit.state.rejected == [(request.subject_id, request.pk, kit.team.rina.pk)]
    assert kit.state.approved == []


def test_a_return_to_the_requester_voids_the_decisions_until_resubmitted(kit):
    request = kit.submit(two_stages(kit))
    kit.decide(request, kit.team.rina)

    kit.decide(request, kit.team.sari, "return", return_to_stage=0, now=LATER)

    request.refresh_from_db()
    assert (request.status, request.current_stage) == (RequestStatus.RETURNED, None)
    assert not Decision.objects.filter(request=request, is_current=True).exists()
    assert kit.statuses(request) == [StageStatus.APPROVED, StageStatus.RETURNED]

    services.resubmit(
        request,
        actor=kit.team.dina,
        expected_version=request.version,
        payload={"note": "numbers fixed"},
        now=LATER,
    )

    request.refresh_from_db()
    assert (request.status, request.current_stage, request.payload) == (
        RequestStatus.OPEN,
        1,
        {"note": "numbers fixed"},
    )
    assert kit.statuses(request) == [StageStatus.OPEN, StageStatus.WAITING]
    assert kit.stage(request, 1).round == 2
    # Rina's first approval no longer counts, so she is asked again
    assert kit.approvers(request, 1) == kit.ids("rina")
    kit.decide(request, kit.team.rina, now=LATER)
    assert kit.statuses(request) == [StageStatus.APPROVED, StageStatus.OPEN]


def test_a_return_to_an_earlier_stage_reopens_it_and_later_stages_wait(kit):
    version = kit.route(
        {"rule": "superior"},
        {"rule": "position", "position": kit.team.warehouse_head},
        {"rule": "position", "position": kit.o.director},
    )
    request = kit.submit(version)
    kit.decide(request, kit.team.rina)
    kit.decide(request, kit.team.wawan)

    decision = kit.decide(request, kit.team.sari, "return", return_to_stage=1)

    assert decision.return_to_stage == 1
    request.refresh_from_db()
    assert (request.status, request.current_stage) == (RequestStatus.OPEN, 1)
    assert kit.statuses(request) == [
        StageStatus.OPEN,
        StageStatus.WAITING,
        StageStatus.WAITING,
    ]
    stage = kit.stage(request, 1)
    assert stage.round == 2
    assert not Decision.objects.filter(request=request, is_current=True).exists()
    reopened = Resolution.objects.filter(request_stage=stage).order_by("id").last()
    assert reopened is not None and reopened.cause == ResolutionCause.REOPENED


@pytest.mark.parametrize("target", [2, 3, -1, None, True])
def test_a_return_names_an_earlier_stage_or_the_requester(kit, target):
    request = kit.submit(two_stages(kit))
    kit.decide(request, kit.team.rina)
    before = snapshot(request)

    with pytest.raises(ValidationFailed) as refused:
        kit.decide(request, kit.team.sari, "return", return_to_stage=target)

    assert list(refused.value.errors) == ["return_to_stage"]
    assert snapshot(request) == before


def test_an_unknown_outcome_is_refused(kit):
    request = kit.submit(two_stages(kit))

    with pytest.raises(ValidationFailed) as refused:
        kit.decide(request, kit.team.rina, "maybe")

    assert list(refused.value.errors) == ["outcome"]


# --- legal transitions only, final states absorbing ---------------------------------------


def finish(kit: Kit, how: str) -> ApprovalRequest:
    request = kit.submit(kit.route({"rule": "superior"}))
    if how == RequestStatus.APPROVED:
        kit.decide(request, kit.team.rina)
    elif how == RequestStatus.REJECTED:
        kit.decide(request, kit.team.rina, "reject")
    elif how == RequestStatus.RETURNED:
        kit.decide(request, kit.team.rina, "return", return_to_stage=0)
    elif how == RequestStatus.WITHDRAWN:
        request.refresh_from_db()
        services.withdraw(
            request, actor=kit.team.dina, expected_version=request.version, now=LATER
        )
    request.refresh_from_db()
    assert request.status == how
    return request


ACTIONS = {
    "decide": lambda kit, r: kit.decide(r, kit.team.rina, now=LATER),
    "withdraw": lambda kit, r: services.withdraw(
        r, actor=kit.team.dina, expected_version=r.version, now=LATER
    ),
    "resubmit": lambda kit, r: services.resubmit(
        r, actor=kit.team.dina, expected_version=r.version, now=LATER
    ),
    "nudge": lambda kit, r: services.nudge(r, actor=kit.team.dina, now=LATER),
}
# (status, action) -> the status after it; missing: refused
LEGAL = {
    (RequestStatus.OPEN, "decide"): RequestStatus.APPROVED,
    (RequestStatus.OPEN, "withdraw"): RequestStatus.WITHDRAWN,
    (RequestStatus.OPEN, "nudge"): RequestStatus.OPEN,
    (RequestStatus.RETURNED, "withdraw"): RequestStatus.WITHDRAWN,
    (RequestStatus.RETURNED, "resubmit"): RequestStatus.OPEN,
}


@pytest.mark.parametrize("action", sorted(ACTIONS))
@pytest.mark.parametrize("status", [s.value for s in RequestStatus])
def test_only_legal_transitions_happen_and_final_states_are_absorbing(
    kit, status, action
):
    request = finish(kit, status)
    before = snapshot(request)
    request.refresh_from_db()

    if (status, action) in LEGAL:
        ACTIONS[action](kit, request)
        request.refresh_from_db()
        assert request.status == LEGAL[status, action]
    else:
        with pytest.raises((ValidationFailed, Conflict)):
            ACTIONS[action](kit, request)
        assert snapshot(request) == before


# --- one decision per slot ------------------------------------------------------------


def test_the_database_allows_one_decision_per_slot_and_round(kit):
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.team.qa, "mode": "all"})
    )
    decision = kit.decide(request, kit.team.ayu)

    with pytest.raises(IntegrityError), transaction.atomic():
        Decision.objects.create(
            organisation_id=decision.organisation_id,
            request=request,
            request_stage_id=decision.request_stage_id,
            round=decision.round,
            slot_person_id=decision.slot_person_id,
            decided_by_person_id=decision.decided_by_person_id,
            decided_by=decision.decided_by,
            outcome=Outcome.APPROVE,
            subject_version=1,
            decided_at=LATER,
        )


def test_deciding_a_slot_again_is_a_conflict_with_nothing_written(kit):
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.team.qa, "mode": "all"})
    )
    kit.decide(request, kit.team.ayu)
    before = snapshot(request)

    with pytest.raises(Conflict):
        kit.decide(request, kit.team.ayu, now=LATER)

    assert snapshot(request) == before


def test_a_stale_version_is_a_conflict_with_nothing_written(kit):
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.team.qa, "mode": "all"})
    )
    seen = request.version
    kit.decide(request, kit.team.ayu)
    before = snapshot(request)

    with pytest.raises(Conflict):
        kit.decide(request, kit.team.eko, expected_version=seen)

    assert snapshot(request) == before


def test_a_stage_decided_meanwhile_is_a_conflict_for_its_other_approvers(kit):
    request = kit.submit(
        kit.route(
            {"rule": "position", "position": kit.team.qa},
            {"rule": "position", "position": kit.o.director},
        )
    )
    kit.decide(request, kit.team.ayu)
    before = snapshot(request)

    with pytest.raises(Conflict):
        kit.decide(request, kit.team.eko, expected_version=None)

    assert snapshot(request) == before


# --- stages in order, N of M, all of them ---------------------------------------------


def test_a_later_stages_approver_cannot_decide_before_it_opens(kit):
    request = kit.submit(two_stages(kit))

    with pytest.raises(PermissionDenied):
        kit.decide(request, kit.team.sari)

    assert kit.statuses(request) == [StageStatus.OPEN, StageStatus.WAITING]


def test_n_of_m_completes_exactly_once_when_the_nth_approval_commits(kit):
    version = kit.route(
        {"rule": "position", "position": kit.team.qa, "mode": "quorum", "quorum": 2},
        {"rule": "position", "position": kit.o.director},
    )
    request = kit.submit(version)
    assert kit.stage(request, 1).required == 2

    kit.decide(request, kit.team.ayu)
    assert kit.statuses(request) == [StageStatus.OPEN, StageStatus.WAITING]

    kit.decide(request, kit.team.eko)
    assert kit.statuses(request) == [StageStatus.APPROVED, StageStatus.OPEN]

    with pytest.raises(Conflict):
        kit.decide(request, kit.team.fajar, expected_version=None)
    opened = AuditEvent.objects.filter(
        verb=AuditVerb.STAGE_OPENED, target_id=str(request.pk)
    )
    assert [e.changes["stage"] for e in opened.order_by("sequence")] == [1, 2]
    assert kit.stage(request, 1).closed_at == DECIDED


def test_all_of_them_needs_every_approver(kit):
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.team.qa, "mode": "all"})
    )
    assert kit.stage(request, 1).required == 3

    for user in (kit.team.ayu, kit.team.eko):
        kit.decide(request, user)
        request.refresh_from_db()
        assert request.status == RequestStatus.OPEN
    kit.decide(request, kit.team.fajar)

    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert len(kit.state.approved) == 1


# --- no self-approval through any path ------------------------------------------------


def test_the_requester_cannot_approve_their_own_request(kit):
    # Dina asks; the clerks' position would name her, but she is passed over.
    version = kit.route({"rule": "position", "position": kit.o.export_staff})
    request = kit.submit(version)
    before = snapshot(request)

    with pytest.raises(PermissionDenied) as refused:
        kit.decide(request, kit.team.dina)

    assert refused.value.message == "You asked for this; someone else must decide."
    assert snapshot(request) == before


def test_an_administrator_cannot_approve_their_own_request(kit):
    admin_person = org.create_person(
        kit.o.organisation, actor=kit.o.admin, full_name="Admin", user=kit.o.admin
    )
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.o.director}),
        actor=kit.o.admin,
    )
    assert request.requester_id == admin_person.pk

    with pytest.raises(PermissionDenied) as refused:
        kit.decide(request, kit.o.admin)
    assert refused.value.message == "You asked for this; someone else must decide."


def test_an_administrator_who_is_not_an_approver_cannot_decide(kit):
    org.create_person(
        kit.o.organisation, actor=kit.o.admin, full_name="Admin", user=kit.o.admin
    )
    request = kit.submit(kit.route({"rule": "superior"}))

    with pytest.raises(PermissionDenied):
        kit.decide(request, kit.o.admin)


def test_the_requester_cannot_approve_through_a_delegation(kit):
    # Rina, the approver, delegated to Dina — who asks.
    delegate(kit, "rina", "dina")
    request = kit.submit(kit.route({"rule": "superior"}))
    before = snapshot(request)

    for on_behalf_of in (None, kit.team.person("rina")):
        with pytest.raises(PermissionDenied) as refused:
            kit.decide(request, kit.team.dina, on_behalf_of=on_behalf_of)
        assert refused.value.message == (
            "You asked for this; someone else must decide."
        )
    assert snapshot(request) == before


def test_nobody_acting_for_the_requester_can_approve(kit):
    # Dina (the requester) delegated to Rina, her approver: Rina acts for her.
    delegate(kit, "dina", "rina")
    request = kit.submit(kit.route({"rule": "superior"}))

    with pytest.raises(PermissionDenied) as refused:
        kit.decide(request, kit.team.rina)

    assert refused.value.message == (
        "You act for the requester; someone else must decide."
    )


def test_the_requester_cannot_approve_through_the_api_or_the_pages_either(kit):
    request = kit.submit(kit.route({"rule": "superior"}))
    before = snapshot(request)
    _token, raw = create_token(kit.team.dina, name="tests")

    answer = Client().post(
        f"/api/v1/orgs/acme/approvals/requests/{request.pk}/decide",
        data=json.dumps({"outcome": "approve", "version": request.version}),
        content_type="application/json",
        headers={"Authorization": f"Bearer {raw}"},
    )
    assert answer.status_code == 403, answer.content
    assert snapshot(request) == before

    browser = Client()
    browser.force_login(kit.team.dina)
    page = browser.post(
        reverse("approval-decide", kwargs={"org": "acme", "pk": request.pk}),
        {"outcome": "approve", "comment": "", "version": request.version},
    )
    assert page.status_code == 403, page.status_code
    assert snapshot(request) == before


def test_nobody_decides_on_behalf_of_the_requester(kit):
    request = kit.submit(kit.route({"rule": "superior"}))

    with pytest.raises(PermissionDenied):
        kit.decide(request, kit.team.rina, on_behalf_of=kit.team.person("dina"))


# --- authority at the moment of the decision ---------------------------------------------


def test_a_holder_removed_mid_request_is_refused_and_nothing_is_written(kit):
    request = kit.submit(kit.route({"rule": "superior"}))
    holding = Holding.objects.get(
        person=kit.team.person("rina"), position__code="EXP-HEAD"
    )
    org.end_holding(
        holding,
        actor=kit.o.admin,
        expected_version=holding.version,
        end_date=SUBMITTED.date(),
    )
    before = snapshot(request)

    with pytest.raises(PermissionDenied) as refused:
        kit.decide(request, kit.team.rina, now=SUBMITTED + dt.timedelta(days=1))

    assert "no longer hold" in refused.value.message
    assert snapshot(request) == before
    # the position is vacant now: the director decides, and that is recorded
    kit.decide(request, kit.team.sari, now=SUBMITTED + dt.timedelta(days=1))
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    causes = list(
        Resolution.objects.filter(request_stage__request=request)
        .order_by("id")
        .values_list("cause", flat=True)
    )
    assert causes == [ResolutionCause.OPENED, ResolutionCause.ORG_CHANGED]


def test_an_ended_membership_ends_the_authority_at_once(kit):
    request = kit.submit(kit.route({"rule": "superior"}))
    rina = Membership.objects.get(user=kit.team.rina, is_active=True)
    membership.end_membership(rina, actor=kit.o.admin, expected_version=rina.version)

    with pytest.raises(NotFound):
        kit.decide(request, kit.team.rina)


@pytest.mark.parametrize("who", ["auditor", "partner"])
def test_auditors_and_partners_never_decide(kit, who):
    request = kit.submit(kit.route({"rule": "superior"}))

    with pytest.raises(PermissionDenied):
        kit.decide(request, getattr(kit.o, who))


def test_someone_outside_the_organisation_learns_nothing(kit):
    other = small_org("globex", prefix="g-")
    request = kit.submit(kit.route({"rule": "superior"}))

    with pytest.raises(NotFound):
        kit.decide(request, other.admin)


def test_a_member_who_is_not_an_approver_is_refused(kit):
    request = kit.submit(kit.route({"rule": "superior"}))

    with pytest.raises(PermissionDenied) as refused:
        kit.decide(request, kit.team.dewi)

    assert refused.value.message == "You are not an approver of this stage."


# --- delegations ---------------------------------------------------------------------


def test_a_delegate_decides_in_the_delegators_slot_and_both_are_recorded(kit):
    grant = delegate(kit, "rina", "dewi")
    request = kit.submit(kit.route({"rule": "superior"}))

    decision = kit.decide(request, kit.team.dewi)

    assert (decision.slot_person_id, decision.decided_by_person_id) == (
        kit.team.person("rina").pk,
        kit.team.person("dewi").pk,
    )
    assert (decision.delegation_id, decision.decided_by_id) == (
        grant.pk,
        kit.team.dewi.pk,
    )
    event = AuditEvent.objects.get(verb=AuditVerb.APPROVED, target_id=str(request.pk))
    assert event.changes["on_behalf_of"] == kit.team.person("rina").pk
    assert event.changes["delegation"] == grant.pk
    assert event.actor_id == kit.team.dewi.pk


def test_delegations_are_not_re_delegable(kit):
    delegate(kit, "rina", "dewi")
    delegate(kit, "dewi", "wawan")
    request = kit.submit(kit.route({"rule": "superior"}))
    before = snapshot(request)

    for on_behalf_of in (None, kit.team.person("rina")):
        with pytest.raises(PermissionDenied):
            kit.decide(request, kit.team.wawan, on_behalf_of=on_behalf_of)

    assert snapshot(request) == before


def test_a_delegation_works_only_in_its_period(kit):
    delegate(kit, "rina", "dewi", ends_at=DECIDED)
    request = kit.submit(kit.route({"rule": "superior"}))

    with pytest.raises(PermissionDenied):
        kit.decide(request, kit.team.dewi, now=DECIDED)  # it stops on the minute

    kit.decide(request, kit.team.dewi, now=DECIDED - dt.timedelta(minutes=1))


def test_a_revoked_delegation_stops_at_once(kit):
    grant = delegate(kit, "rina", "dewi")
    request = kit.submit(kit.route({"rule": "superior"}))
    delegation.revoke(
        grant, actor=kit.o.admin, expected_version=grant.version, now=SUBMITTED
    )

    with pytest.raises(PermissionDenied):
        kit.decide(request, kit.team.dewi)


def test_one_person_fills_one_slot_of_a_request_unless_the_route_allows_more(kit):
    # Ayu is a QA officer and holds Eko's delegation: two slots of one stage.
    delegate(kit, "eko", "ayu")
    stage = {"rule": "position", "position": kit.team.qa, "mode": "all"}
    request = kit.submit(kit.route(stage))
    kit.decide(request, kit.team.ayu)

    with pytest.raises(PermissionDenied) as refused:
        kit.decide(request, kit.team.ayu, on_behalf_of=kit.team.person("eko"))
    assert "already decided" in refused.value.message

    allowing = kit.submit(kit.route(stage, allow_repeat=True))
    kit.decide(allowing, kit.team.ayu)
    decision = kit.decide(allowing, kit.team.ayu, on_behalf_of=kit.team.person("eko"))
    assert decision.slot_person_id == kit.team.person("eko").pk


def test_a_delegate_with_several_delegators_at_the_stage_chooses_one(kit):
    delegate(kit, "ayu", "dewi")
    delegate(kit, "eko", "dewi")
    request = kit.submit(
        kit.route({"rule": "position", "position": kit.team.qa, "mode": "all"})
    )

    with pytest.raises(ValidationFailed) as refused:
        kit.decide(request, kit.team.dewi)
    assert list(refused.value.errors) == ["on_behalf_of"]

    decision = kit.decide(request, kit.team.dewi, on_behalf_of=kit.team.person("eko"))
    assert decision.slot_person_id == kit.team.person("eko").pk


def opened_notices(user) -> list[tuple[str, str]]:  # type: ignore[no-untyped-def]
    return list(
        Notification.objects.filter(
            recipient=user, event_type=events.APPROVAL_STAGE_OPENED
        )
        .order_by("id")
        .values_list("key", "title")
    )


def test_whoever_stands_in_for_an_approver_is_told_when_the_stage_opens(kit):
    # Dewi stands in for Rina (a delegation), Wawan for Sari (Sari's absence with
    # a delegate); the requester, Dina, stands in for nobody who decides.
    delegate(kit, "rina", "dewi")
    delegation.record_absence(
        kit.team.person("sari"),
        actor=kit.o.admin,
        kind="leave",
        starts_at=SUBMITTED - dt.timedelta(days=1),
        ends_at=SUBMITTED + dt.timedelta(days=2),
        delegate=kit.team.person("wawan"),
        now=SUBMITTED - dt.timedelta(days=1),
    )
    request = kit.submit(two_stages(kit))
    [stage_1, stage_2] = [kit.stage(request, order) for order in (1, 2)]
    title = request.title

    assert opened_notices(kit.team.dewi) == [
        (
            f"approval:{request.pk}:stage:{stage_1.pk}:round:1:opened",
            f"You stand in for an approver, waiting for a decision: {title}",
        )
    ]
    assert opened_notices(kit.o.member) == [
        (
            f"approval:{request.pk}:stage:{stage_1.pk}:round:1:opened",
            f"Waiting for your decision: {title}",
        )
    ]
    assert opened_notices(kit.team.wawan) == []  # stage 2 is not open yet

    kit.decide(request, kit.team.dewi)

    assert opened_notices(kit.team.wawan) == [
        (
            f"approval:{request.pk}:stage:{stage_2.pk}:round:1:opened",
            f"You stand in for an approver, waiting for a decision: {title}",
        )
    ]
    assert len(opened_notices(kit.team.dewi)) == 1


def test_stand_ins_are_told_only_for_their_route_and_never_the_requester(kit):
    other = kit.route({"rule": "superior"}, priority=200)
    delegate(kit, "rina", "dewi", routes=[other.route])
    delegate(kit, "rina", "dina")  # the requester: she cannot decide her own request
    request = kit.submit(kit.route({"rule": "superior"}, priority=1))

    assert opened_notices(kit.team.dewi) == []
    assert opened_notices(kit.team.dina) == []
    assert [key for key, _title in opened_notices(kit.o.member)] == [
        f"approval:{request.pk}:stage:{kit.stage(request, 1).pk}:round:1:opened"
    ]


# --- audit ---------------------------------------------------------------------------


def test_each_decision_writes_exactly_one_decision_event_with_the_comment_kept_apart(
    kit, audit_trail
):
    request = kit.submit(two_stages(kit))
    trail = audit_trail(kit.o.organisation)

    kit.decide(request, kit.team.rina, comment="Fine by me")
    kit.decide(request, kit.team.sari, "return", return_to_stage=1, comment="Redo")
    kit.decide(request, kit.team.rina, "reject", comment="Too late now")

    events = trail.new_events()
    decisions = [e for e in events if e.verb in DECISION_VERBS]
    assert [e.verb for e in decisions] == [
        AuditVerb.APPROVED,
        AuditVerb.RETURNED,
        AuditVerb.REJECTED,
    ]
    assert Decision.objects.filter(request=request).count() == 3
    assert [e.personal.changes for e in decisions] == [
        {"comment": "Fine by me"},
        {"comment": "Redo"},
        {"comment": "Too late now"},
    ]
    assert all("comment" not in e.changes for e in decisions)
    assert decisions[1].changes["return_to_stage"] == 1
    assert audit.verify(kit.o.organisation).ok


# --- the subject's version ------------------------------------------------------------


def test_changing_the_subject_after_a_decision_reopens_the_affected_stages(kit):
    request = kit.submit(two_stages(kit))
    kit.decide(request, kit.team.rina)
    kit.state.versions[request.subject_id] = 2

    services.subject_changed(
        request.subject_kind,
        request.subject_id,
        new_version=2,
        actor=kit.o.admin,
        now=LATER,
    )

    request.refresh_from_db()
    assert (request.subject_version, request.current_stage) == (2, 1)
    assert kit.statuses(request) == [StageStatus.OPEN, StageStatus.WAITING]
    assert kit.stage(request, 1).round == 2
    assert not Decision.objects.filter(request=request, is_current=True).exists()
    again = kit.decide(request, kit.team.rina, now=LATER)
    assert (again.round, again.subject_version) == (2, 2)


def test_a_decision_on_a_subject_that_changed_meanwhile_is_a_conflict(kit):
    request = kit.submit(two_stages(kit))
    kit.state.versions[request.subject_id] = 2
    before = snapshot(request)

    with pytest.raises(Conflict):
        kit.decide(request, kit.team.rina)

    assert snapshot(request) == before


def test_a_change_of_the_subject_with_nothing_decided_keeps_the_stage(kit):
    request = kit.submit(two_stages(kit))
    kit.state.versions[request.subject_id] = 2

    services.subject_changed(
        request.subject_kind,
        request.subject_id,
        new_version=2,
        actor=kit.o.admin,
        now=LATER,
    )

    assert kit.stage(request, 1).round == 1
    kit.decide(request, kit.team.rina, now=LATER)
