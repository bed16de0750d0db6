"""A Hypothesis state machine over random routes (one to three stages, random
rules, modes and quorums, repeat approvers allowed or not) and random actors
(approvers, the requester, strangers, auditors, partners, delegates — among them
the requester's own delegate and someone the requester delegated to), doing
random decisions, withdrawals, resubmissions, nudges and changes of the subject,
and checking the engine's invariants after every step:

* a refused action changes nothing (no row, no audit event);
* final states are absorbing; the request moves only along legal transitions;
* at most one stage is open — the current one — earlier ones are approved and
  later ones wait; an approved request has every stage approved;
* one decision per slot and round; an open stage has fewer approvals than it
  needs; the requester (or someone acting for them) never decides;
* without repeat approvers, one person fills one slot of the request;
* one decision audit event per decision; the subject's effects happen exactly
  once, when the request is approved or rejected; the audit chain verifies.
"""

from __future__ import annotations

import contextlib
import datetime as dt
from collections import Counter
from typing import Any

from hypothesis import HealthCheck, event, settings
from hypothesis import strategies as st
from hypothesis.stateful import (
    RuleBasedStateMachine,
    initialize,
    invariant,
    rule,
    run_state_machine_as_test,
)

from rantai.approvals import delegation, services
from rantai.approvals.models import (
    FINAL_REQUEST_STATUSES,
    ApprovalRequest,
    Decision,
    Outcome,
    RequestStage,
    RequestStatus,
    StageStatus,
)
from rantai.approvals.tests.conftest import KIND, SUBMITTED, Kit
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.core.errors import DomainError

DECISION_VERBS = (AuditVerb.APPROVED, AuditVerb.REJECTED, AuditVerb.RETURNED)
ACTORS = (
    "ayu",
    "eko",
    "fajar",
    "sari",
    "rina",
    "wawan",
    "dina",
    "dewi",
    "auditor",
    "partner",
)
STAGE_KINDS = ("qa", "superior", "director", "warehouse", "named")
LEGAL = {
    "decide": {
        (RequestStatus.OPEN, RequestStatus.OPEN),
        (RequestStatus.OPEN, RequestStatus.APPROVED),
        (RequestStatus.OPEN, RequestStatus.REJECTED),
        (RequestStatus.OPEN, RequestStatus.RETURNED),
    },
    "withdraw": {
        (RequestStatus.OPEN, RequestStatus.WITHDRAWN),
        (RequestStatus.RETURNED, RequestStatus.WITHDRAWN),
    },
    "resubmit": {(RequestStatus.RETURNED, RequestStatus.OPEN)},
    "nudge": {(RequestStatus.OPEN, RequestStatus.OPEN)},
    "subject": {
        (RequestStatus.OPEN, RequestStatus.OPEN),
        (RequestStatus.RETURNED, RequestStatus.RETURNED),
    },
}


@st.composite
def route_shapes(draw):  # type: ignore[no-untyped-def]
    count = draw(st.integers(min_value=1, max_value=3))
    stages = []
    for _ in range(count):
        kind = draw(st.sampled_from(STAGE_KINDS))
        mode = (
            draw(st.sampled_from(["any", "all", "quorum"])) if kind == "qa" else "any"
        )
        quorum = draw(st.integers(1, 3)) if mode == "quorum" else None
        stages.append((kind, mode, quorum))
    return stages, draw(st.booleans())


class ApprovalMachine(RuleBasedStateMachine):
    kit: Kit | None = None  # set by the test

    def __init__(self) -> None:
        super().__init__()
        self.request: ApprovalRequest | None = None
        self.clock = SUBMITTED
        self.subject_version = 1

    # -- set-up -------------------------------------------------------------------

    @initialize(
        shape=route_shapes(),
        delegations=st.lists(
            st.tuples(
                st.sampled_from(["rina", "sari", "ayu", "wawan", "dina"]),
                st.sampled_from(["dewi", "dina", "eko", "rina"]),
            ),
            max_size=3,
        ),
    )
    def build(self, shape, delegations):  # type: ignore[no-untyped-def]
        kit = self.kit
        assert kit is not None
        team = kit.team
        self.users = {
            name: getattr(team, name)
            for name in ("ayu", "eko", "fajar", "sari", "dina", "wawan", "dewi")
        }
        self.users["rina"] = team.rina
        self.users["auditor"] = kit.o.auditor
        self.users["partner"] = kit.o.partner
        self.names = {
            team.person(name).pk: name for name in self.users if name in team.people
        }
        stages, self.allow_repeat = shape
        specs = []
        for kind, mode, quorum in stages:
            spec: dict[str, Any] = {
                "qa": {"rule": "position", "position": team.qa},
                "superior": {"rule": "superior"},
                "director": {"rule": "position", "position": kit.o.director},
                "warehouse": {"rule": "position", "position": team.warehouse_head},
                "named": {"rule": "person", "person": team.person("wawan")},
            }[kind]
            specs.append({**spec, "mode": mode, "quorum": quorum})
        self.version = kit.route(*specs, allow_repeat=self.allow_repeat)
        # fresh delegations of this example (earlier ones are revoked)
        for grant in delegation.Delegation.objects.filter(revoked_at__isnull=True):
            delegation.revoke(
                grant, actor=kit.o.admin, expected_version=grant.version, now=SUBMITTED
            )
        for delegator, delegate in delegations:
            if delegator == delegate:
                continue
            with contextlib.suppress(DomainError):  # e.g. the same pair twice
                delegation.delegate(
                    team.person(delegator),
                    actor=kit.o.admin,
                    delegate=team.person(delegate),
                    starts_at=SUBMITTED - dt.timedelta(days=1),
                    ends_at=SUBMITTED + dt.timedelta(days=60),
                    now=SUBMITTED,
                )
        self.requester = team.person("dina").pk
        self.acting_for_requester = set(
            delegation.Delegation.objects.filter(
                revoked_at__isnull=True, delegator_id=self.requester
            ).values_list("delegate_id", flat=True)
        )
        try:
            self.request = kit.submit(self.version, now=self.clock)
        except DomainError:
            self.request = None  # e.g. N of them with too few approvers
        event("submitted" if self.request is not None else "not submitted")
        self.final_status: str | None = None
        self.effects_seen = 0

    # -- helpers ------------------------------------------------------------------

    def tick(self) -> dt.datetime:
        self.clock += dt.timedelta(minutes=7)
        return self.clock

    def snapshot(self) -> tuple:
        assert self.request is not None
        organisation = self.request.organisation
        organisation.refresh_from_db(fields=["audit_sequence"])
        return (
            organisation.audit_sequence,
            tuple(
                ApprovalRequest.objects.filter(pk=self.request.pk).values_list(
                    "status", "version", "current_stage", "subject_version"
                )
            ),
            tuple(
                RequestStage.objects.filter(request=self.request)
                .order_by("order")
                .values_list("status", "round", "required", "escalations")
            ),
            tuple(
                Decision.objects.filter(request=self.request)
                .order_by("id")
                .values_list("pk", "is_current")
            ),
        )

    def status(self) -> str:
        assert self.request is not None
        return str(
            ApprovalRequest.objects.filter(pk=self.request.pk)
            .values_list("status", flat=True)
            .get()
        )

    def act(self, name: str, action: Any) -> None:
        """Run an action: refused → nothing changed; done → a legal move."""
        assert self.request is not None
        before = self.snapshot()
        status = self.status()
        try:
            action()
        except DomainError as error:
            event(f"{name}: refused ({type(error).__name__})")
            assert self.snapshot() == before, name
            return
        after = self.status()
        event(f"{name}: {status} -> {after}")
        assert (status, after) in LEGAL[name], (name, status, after)

    # -- rules --------------------------------------------------------------------

    # -- the one rule: a random action by a random actor ---------------------------
    #
    # One rule rather than one per action, so Hypothesis' swarm testing (which
    # switches rules off per example) cannot starve the decisions; the weights
    # make decisions the usual step and the requester's moves occasional.

    @rule(
        action=st.sampled_from(
            ["decide"] * 12 + ["withdraw", "resubmit", "resubmit", "nudge", "subject"]
        ),
        pick=st.sampled_from(range(100)),
        who=st.sampled_from(ACTORS),
        outcome=st.sampled_from(["approve"] * 12 + ["reject"] + ["return"] * 4),
        back_to=st.integers(0, 2),
        behalf=st.sampled_from([None] * 15 + ["rina", "sari", "ayu", "wawan", "dina"]),
        stale=st.sampled_from([False] * 9 + [True]),
    )
    def step(self, action, pick, who, outcome, back_to, behalf, stale):  # type: ignore[no-untyped-def]
        if self.request is None:
            return
        kit = self.kit
        assert kit is not None
        request = ApprovalRequest.objects.get(pk=self.request.pk)
        expected = request.version - (1 if stale else 0)
        now = self.tick()
        if action == "decide":
            # Mostly someone the open stage waits for (or their delegate).
            waiting = self.waiting_on(request)
            if pick < 80 and waiting:
                who = waiting[pick % len(waiting)]
            self.act(
                "decide",
                lambda: services.decide(
                    request,
                    actor=self.users[who],
                    outcome=outcome,
                    comment="" if outcome == "approve" else "Have a look",
                    return_to_stage=back_to if outcome == "return" else None,
                    on_behalf_of=kit.team.person(behalf) if behalf else None,
                    expected_version=expected,
                    now=now,
                ),
            )
        elif action in ("withdraw", "resubmit"):
            # Mostly the requester, who alone may.
            actor = self.users["dina" if pick < 80 else who]
            move = services.withdraw if action == "withdraw" else services.resubmit
            self.act(
                action,
                lambda: move(request, actor=actor, expected_version=expected, now=now),
            )
        elif action == "nudge":
            self.clock = now = self.clock + dt.timedelta(hours=2)
            self.act(
                "nudge",
                lambda: services.nudge(request, actor=self.users[who], now=now),
            )
        elif request.status not in FINAL_REQUEST_STATUSES:
            self.subject_version += 1
            kit.state.versions[request.subject_id] = self.subject_version
            self.act(
                "subject",
                lambda: services.subject_changed(
                    KIND,
                    request.subject_id,
                    new_version=self.subject_version,
                    actor=kit.o.admin,
                    now=now,
                ),
            )

    def waiting_on(self, request: ApprovalRequest) -> list[str]:
        """The names of the undecided approvers of the open stage, and of the
        delegates of those who delegated."""
        stage = RequestStage.objects.filter(
            request=request, status=StageStatus.OPEN
        ).first()
        if stage is None:
            return []
        decided = set(
            Decision.objects.filter(request_stage=stage, round=stage.round).values_list(
                "slot_person_id", flat=True
            )
        )
        people = set(
            stage.approvers.exclude(person_id__in=decided).values_list(
                "person_id", flat=True
            )
        )
        people |= set(
            delegation.Delegation.objects.filter(
                revoked_at__isnull=True, delegator_id__in=people
            ).values_list("delegate_id", flat=True)
        )
        return sorted(self.names[pk] for pk in people if pk in self.names)

    # -- invariants ---------------------------------------------------------------

    @invariant()
    def final_states_are_absorbing(self) -> None:
        if self.request is None:
            return
        status = self.status()
        if self.final_status is not None:
            assert status == self.final_status
        elif status in FINAL_REQUEST_STATUSES:
            self.final_status = status

    @invariant()
    def stages_run_in_order(self) -> None:
        if self.request is None:
            return
        request = ApprovalRequest.objects.get(pk=self.request.pk)
        stages = list(RequestStage.objects.filter(request=request).order_by("order"))
        open_ = [s for s in stages if s.status == StageStatus.OPEN]
        if request.status == RequestStatus.OPEN:
            assert [s.order for s in open_] == [request.current_stage]
            for stage in stages:
                if stage.order < request.current_stage:
                    assert stage.status == StageStatus.APPROVED
                elif stage.order > request.current_stage:
                    assert stage.status == StageStatus.WAITING
            current = open_[0]
            approvals = Decision.objects.filter(
                request_stage=current,
                round=current.round,
                is_current=True,
                outcome=Outcome.APPROVE,
            ).count()
            assert approvals < current.required
        else:
            assert open_ == []
        if request.status == RequestStatus.APPROVED:
            assert {s.status for s in stages} == {StageStatus.APPROVED}

    @invariant()
    def decisions_respect_the_slots(self) -> None:
        if self.request is None:
            return
        decisions = list(Decision.objects.filter(request_id=self.request.pk))
        slots = Counter(
            (d.request_stage_id, d.round, d.slot_person_id) for d in decisions
        )
        assert set(slots.values()) <= {1}
        for decision in decisions:
            assert decision.slot_person_id != self.requester
            assert decision.decided_by_person_id != self.requester
            assert decision.decided_by_person_id not in self.acting_for_requester
            if decision.delegation_id is not None:
                assert decision.delegation.delegator_id == decision.slot_person_id
                assert decision.delegation.delegate_id == decision.decided_by_person_id
            else:
                assert decision.slot_person_id == decision.decided_by_person_id
        if not self.allow_repeat:
            current = [d for d in decisions if d.is_current]
            people = Counter(
                p for d in current for p in {d.slot_person_id, d.decided_by_person_id}
            )
            assert set(people.values()) <= {1}, people

    @invariant()
    def one_audit_event_per_decision(self) -> None:
        if self.request is None:
            return
        events = AuditEvent.objects.filter(
            verb__in=DECISION_VERBS, target_id=str(self.request.pk)
        ).count()
        assert events == Decision.objects.filter(request_id=self.request.pk).count()

    @invariant()
    def effects_happen_once(self) -> None:
        if self.request is None:
            return
        kit = self.kit
        assert kit is not None
        status = self.status()
        approved = [r for _s, r, _a in kit.state.approved if r == self.request.pk]
        rejected = [r for _s, r, _a in kit.state.rejected if r == self.request.pk]
        assert len(approved) == (status == RequestStatus.APPROVED)
        assert len(rejected) == (status == RequestStatus.REJECTED)

    def teardown(self) -> None:
        if self.request is not None:
            verification = audit.verify(self.request.organisation)
            assert verification.ok, verification.problem


def test_the_engine_keeps_its_invariants_for_random_routes_and_actors(kit):
    ApprovalMachine.kit = kit
    run_state_machine_as_test(
        ApprovalMachine,
        settings=settings(
            max_examples=20,
            stateful_step_count=25,
            deadline=None,
            suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
        ),
    )
