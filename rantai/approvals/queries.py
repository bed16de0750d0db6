"""Reads of approval requests, scoped by the caller's access.

Administrators, members and auditors see the organisation's requests; external
partners see none (they neither ask nor decide). Every helper runs a fixed number
of queries, whatever the number of stages, approvers and decisions.
"""

from __future__ import annotations

import datetime as dt
from collections import defaultdict
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from rantai.accounts.access import Access
from rantai.approvals import delegation as delegations
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    Delegation,
    RequestStage,
    RequestStatus,
    Resolution,
    StageApprover,
    StageStatus,
)
from rantai.approvals.resolution import VIA_ESCALATED, via_text
from rantai.core.errors import NotFound
from rantai.org.models import Person, Position


def _now(now: dt.datetime | None) -> dt.datetime:
    return now or timezone.now()


def _get(qs: QuerySet, pk: int | str) -> Any:
    try:
        return qs.get(pk=int(pk))
    except (ValueError, TypeError, qs.model.DoesNotExist) as error:
        raise NotFound() from error


def _my_person_id(access: Access) -> int | None:
    return (
        Person.objects.filter(
            organisation=access.organisation, user=access.user, is_active=True
        )
        .values_list("pk", flat=True)
        .first()
    )


# --- lists ----------------------------------------------------------------------------


def requests(access: Access, *, status: str | None = None) -> QuerySet[ApprovalRequest]:
    """The organisation's requests, newest first (none for partners). One query
    when evaluated."""
    qs = ApprovalRequest.objects.filter(organisation=access.organisation)
    if access.partner_party_id is not None:
        return qs.none()
    if status:
        qs = qs.filter(status=status)
    return qs.select_related("route_version__route", "requester").order_by(
        "-submitted_at", "-id"
    )


def request(access: Access, pk: int | str) -> ApprovalRequest:
    """One visible request, with its route version, route and requester."""
    access.require_whole_organisation()
    found: ApprovalRequest = _get(requests(access), pk)
    found.organisation = access.organisation
    return found


def _stuck(now: dt.datetime) -> Q:
    """Returned to the requester, or open past the due time of its stage."""
    overdue = RequestStage.objects.filter(
        request_id=OuterRef("pk"), status=StageStatus.OPEN, due_at__lt=now
    )
    return Q(status=RequestStatus.RETURNED) | Q(
        Exists(overdue), status=RequestStatus.OPEN
    )


def requests_by(
    access: Access, *, stuck_only: bool = False, now: dt.datetime | None = None
) -> QuerySet[ApprovalRequest]:
    """The requests the caller made (as the organisation's person), newest first;
    `stuck_only`: those returned to them or past the time limit of their stage.
    One query when evaluated."""
    qs = requests(access).filter(requester__user=access.user)
    if stuck_only:
        qs = qs.filter(_stuck(_now(now)))
    return qs


def requests_for_subject(
    access: Access, subject_kind: str, subject_id: int
) -> QuerySet[ApprovalRequest]:
    """The requests about one subject, newest first. One query when evaluated."""
    return requests(access).filter(subject_kind=subject_kind, subject_id=subject_id)


# --- what waits for the caller ------------------------------------------------------------


@dataclass(frozen=True)
class Pending:
    """An open stage the caller can decide: in their own slot, or in the slot of
    someone who delegated to them (`on_behalf_of`, `delegation`)."""

    stage: RequestStage
    on_behalf_of: Person | None
    delegation: Delegation | None
    time_left: dt.timedelta | None

    @property
    def request(self) -> ApprovalRequest:
        return self.stage.request

    @property
    def is_overdue(self) -> bool:
        return self.time_left is not None and self.time_left < dt.timedelta(0)


def pending_for(access: Access, *, now: dt.datetime | None = None) -> list[Pending]:
    """Open stages where the caller's person is an approver who has not decided
    in the stage's current round — or a delegate, by a delegation working now, of
    such an approver — soonest due first. Their own requests never appear.

    At most five queries: the person, the delegations to them (and their routes),
    the stages (with their approvers and decisions among those people)."""
    now = _now(now)
    if access.partner_party_id is not None:
        return []
    me = _my_person_id(access)
    if me is None:
        return []
    received = delegations.active_for(me, at=now)
    routes_of: dict[int, set[int]] = defaultdict(set)
    if received:
        for delegation_id, route_id in Delegation.routes.through.objects.filter(
            delegation_id__in=[d.pk for d in received]
        ).values_list("delegation_id", "route_id"):
            routes_of[delegation_id].add(route_id)
    candidates = {me} | {d.delegator_id for d in received}
    stages = list(
        RequestStage.objects.filter(
            organisation=access.organisation,
            status=StageStatus.OPEN,
            request__status=RequestStatus.OPEN,
            approvers__person_id__in=candidates,
        )
        .exclude(request__requester_id=me)
        .select_related("request__route_version__route", "request__requester", "stage")
        .prefetch_related(
            Prefetch(
                "approvers",
                queryset=StageApprover.objects.filter(person_id__in=candidates),
                to_attr="candidate_approvers",
            ),
            Prefetch(
                "decisions",
                queryset=Decision.objects.filter(slot_person_id__in=candidates),
                to_attr="candidate_decisions",
            ),
        )
        .distinct()
        .order_by("due_at", "opened_at", "id")
    )
    by_delegator: dict[int, list[Delegation]] = defaultdict(list)
    for delegation in received:
        by_delegator[delegation.delegator_id].append(delegation)
    found: list[Pending] = []
    for stage in stages:
        if stage.order != stage.request.current_stage:
            continue
        decided = {
            d.slot_person_id
            for d in stage.candidate_decisions  # type: ignore[attr-defined]
            if d.round == stage.round
        }
        time_left = stage.due_at - now if stage.due_at is not None else None
        asked = {a.person_id for a in stage.candidate_approvers}  # type: ignore[attr-defined]
        if me in asked and me not in decided:
            found.append(Pending(stage, None, None, time_left))
            continue
        route_id = stage.request.route_version.route_id
        for person_id in sorted(asked - decided - {me}):
            usable = [
                d
                for d in by_delegator.get(person_id, [])
                if not routes_of.get(d.pk) or route_id in routes_of[d.pk]
            ]
            if usable and person_id != stage.request.requester_id:
                found.append(Pending(stage, usable[0].delegator, usable[0], time_left))
    return found


# --- one request: the coordination map ------------------------------------------------------


@dataclass
class ApproverView:
    """One approver of a stage as resolved now, and how they were found."""

    person: Person
    position: Position | None
    via: str
    acting: bool
    escalated: bool
    from_position: Position | None
    decision: Decision | None = None

    @property
    def via_text(self) -> str:
        """How they were found, in the reader's language."""
        return via_text(
            self.via,
            position=self.position.title if self.position else None,
            from_position=self.from_position.title if self.from_position else None,
            acting=self.acting,
        )


@dataclass
class ResolutionView:
    resolution: Resolution
    approvers: list[dict[str, Any]]

    @property
    def cause(self) -> str:
        return self.resolution.cause


@dataclass
class StageView:
    stage: RequestStage
    approvers: list[ApproverView] = field(default_factory=list)
    decisions: list[Decision] = field(default_factory=list)
    resolutions: list[ResolutionView] = field(default_factory=list)
    duration: dt.timedelta | None = None
    time_left: dt.timedelta | None = None

    @property
    def current_decisions(self) -> list[Decision]:
        """The decisions that count: this round's, not voided."""
        return [
            d for d in self.decisions if d.round == self.stage.round and d.is_current
        ]

    @property
    def approvals(self) -> int:
        return sum(1 for d in self.current_decisions if d.outcome == "approve")


@dataclass
class RequestDetail:
    request: ApprovalRequest
    stages: list[StageView]
    positions: Mapping[int, Position]
    people: Mapping[int, Person]

    @property
    def open_stage(self) -> StageView | None:
        for view in self.stages:
            if view.stage.status == StageStatus.OPEN:
                return view
        return None


def request_detail(
    access: Access, pk: int | str, *, now: dt.datetime | None = None
) -> RequestDetail:
    """A request with its stages in order, each with its approvers (how they were
    found, and their decision this round), every decision of every round (who,
    on whose behalf, when), every resolution, and how long it took or has left.

    Six queries."""
    now = _now(now)
    access.require_whole_organisation()
    found: ApprovalRequest = _get(
        requests(access).select_related(
            "requester_position", "requested_by", "route_version__route"
        ),
        pk,
    )
    found.organisation = access.organisation
    stages = list(
        RequestStage.objects.filter(request=found)
        .select_related("stage")
        .order_by("order")
    )
    approvers = list(
        StageApprover.objects.filter(request_stage__request=found)
        .select_related("person", "position")
        .order_by("request_stage_id", "escalated", "id")
    )
    decisions = list(
        Decision.objects.filter(request=found)
        .select_related(
            "slot_person", "decided_by_person", "decided_by", "position", "delegation"
        )
        .order_by("decided_at", "id")
    )
    resolutions = list(
        Resolution.objects.filter(request_stage__request=found).order_by("at", "id")
    )
    wanted: set[int] = set()
    people_ids: set[int] = set()
    for resolution in resolutions:
        for entry in resolution.approvers or []:
            if entry.get("position"):
                wanted.add(int(entry["position"]))
            if entry.get("from_position"):
                wanted.add(int(entry["from_position"]))
            people_ids.add(int(entry["person"]))
    people = {a.person_id: a.person for a in approvers}
    positions: dict[int, Position] = {
        a.position.pk: a.position for a in approvers if a.position is not None
    }
    missing_people = people_ids - set(people)
    wanted -= set(positions)
    if wanted:  # positions named only by resolutions (where passing up began)
        positions.update({p.pk: p for p in Position.objects.filter(pk__in=wanted)})
    if missing_people:  # people named only by older resolutions
        people.update({p.pk: p for p in Person.objects.filter(pk__in=missing_people)})
    views: list[StageView] = []
    for stage in stages:
        stage.request = found
        own_resolutions = [r for r in resolutions if r.request_stage_id == stage.pk]
        latest = own_resolutions[-1].approvers if own_resolutions else []
        came_from = {
            int(entry["person"]): entry.get("from_position")
            for entry in latest or []
            if isinstance(entry, Mapping)
        }
        own_decisions = [d for d in decisions if d.request_stage_id == stage.pk]
        this_round = {
            d.slot_person_id: d
            for d in own_decisions
            if d.round == stage.round and d.is_current
        }
        view = StageView(stage=stage, decisions=own_decisions)
        for approver in approvers:
            if approver.request_stage_id != stage.pk:
                continue
            origin = came_from.get(approver.person_id)
            view.approvers.append(
                ApproverView(
                    person=approver.person,
                    position=approver.position,
                    via=approver.via,
                    acting=approver.is_acting,
                    escalated=approver.escalated or approver.via == VIA_ESCALATED,
                    from_position=positions.get(int(origin)) if origin else None,
                    decision=this_round.get(approver.person_id),
                )
            )
        view.resolutions = [
            ResolutionView(
                resolution=r,
                approvers=[
                    {
                        **entry,
                        "person_name": (
                            people[int(entry["person"])].full_name
                            if int(entry["person"]) in people
                            else ""
                        ),
                        "via_text": via_text(
                            str(entry.get("via", "")),
                            position=_title(positions, entry.get("position")),
                            from_position=_title(positions, entry.get("from_position")),
                            acting=bool(entry.get("acting")),
                        ),
                    }
                    for entry in (r.approvers or [])
                ],
            )
            for r in own_resolutions
        ]
        if stage.opened_at is not None:
            view.duration = (stage.closed_at or now) - stage.opened_at
        if stage.status == StageStatus.OPEN and stage.due_at is not None:
            view.time_left = stage.due_at - now
        views.append(view)
    return RequestDetail(
        request=found, stages=views, positions=positions, people=people
    )


def _title(positions: Mapping[int, Position], pk: Any) -> str | None:
    if not pk:
        return None
    position = positions.get(int(pk))
    return position.title if position is not None else None
