"""Reads of blameless reviews for pages and the API, scoped by the caller's access
(docs/design-obstacles.md, "Blameless reviews").

* Administrators, members and auditors read every review of the organisation in
  full: what happened, the contributing factors, the action items, the timeline.
* A partner reads the reviews of runs its party takes part in, and of each only
  what concerns its party: the factors about its own steps (a step, or a handover
  from or to one) or about the party itself, and the action items owned by its
  people. The summary, what was learned and the timeline are internal.
* Administrators and members write reviews while they are open (`may_edit`).

Every helper runs a fixed number of queries, whatever the amount of data.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from django.db.models import F, Q, QuerySet

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.chains import queries as chains_queries
from rantai.chains.models import Run
from rantai.core.errors import NotFound
from rantai.obstacles.models import (
    ActionItem,
    ActionStatus,
    ContributingFactor,
    FactorArea,
    Review,
    ReviewStatus,
)
from rantai.obstacles.reviews import TimelineEntry, timeline

__all__ = [
    "ReviewView",
    "may_edit",
    "my_actions",
    "review",
    "reviews",
]


def _pk(value: Any) -> int:
    try:
        return int(value)
    except (TypeError, ValueError) as error:
        raise NotFound() from error


def reviews(
    access: Access, *, run: Run | int | None = None, status: str | None = None
) -> QuerySet[Review]:
    """The reviews the caller may read, newest first, with their run, procedure
    and obstacle; a partner's: those of runs its party takes part in. One query
    when evaluated."""
    qs = Review.objects.filter(organisation=access.organisation).select_related(
        "run", "run__procedure", "obstacle"
    )
    if access.partner_party_id is not None:
        qs = qs.filter(run__in=chains_queries.runs(access).values("pk"))
    if run is not None:
        qs = qs.filter(run_id=run.pk if isinstance(run, Run) else _pk(run))
    if status:
        # Outside the choices: nothing (never sent to the database).
        qs = qs.filter(status=status) if status in ReviewStatus.values else qs.none()
    return qs.order_by("-opened_at", "-id")


@dataclass
class ReviewView:
    """A review as the caller may read it. For a partner (`is_partial`): only the
    factors and action items about its party, no timeline, and the review's
    summary and lessons left empty (they are internal)."""

    review: Review
    factors: list[ContributingFactor]
    actions: list[ActionItem]
    timeline: list[TimelineEntry] = field(default_factory=list)
    is_partial: bool = False


def _partner_factors(party_id: int) -> Q:
    """The factors about a party: its steps, handovers from or to its steps, the
    party itself."""
    own_step = Q(task__responsible_party_id=party_id)
    return (
        (Q(area=FactorArea.STEP) & own_step)
        | Q(area=FactorArea.PARTY, party_id=party_id)
        | (
            Q(area=FactorArea.HANDOVER)
            & (own_step | Q(next_task__responsible_party_id=party_id))
        )
    )


def review(access: Access, pk: Any) -> ReviewView:
    """One review the caller may read (404 otherwise), with its factors and action
    items and, for internal readers, its timeline. Three queries for a partner,
    ten for internal readers (the timeline's included)."""
    found = reviews(access).filter(pk=_pk(pk)).first()
    if found is None:
        raise NotFound()
    found.organisation = access.organisation
    found.run.organisation = access.organisation
    factors = ContributingFactor.objects.filter(review_id=found.pk).select_related(
        "task", "next_task", "party"
    )
    actions = ActionItem.objects.filter(review_id=found.pk).select_related(
        "owner", "step", "applied_in"
    )
    party_id = access.partner_party_id
    if party_id is not None:
        found.summary = ""
        found.learned = ""
        return ReviewView(
            review=found,
            factors=list(factors.filter(_partner_factors(party_id))),
            actions=list(actions.filter(owner__party_id=party_id)),
            is_partial=True,
        )
    return ReviewView(
        review=found,
        factors=list(factors),
        actions=list(actions),
        timeline=timeline(found),
    )


def may_edit(access: Access, review: Review) -> bool:
    """Whether the caller may change the review: administrators and members, while
    it is open (auditors and partners read only)."""
    return (
        access.role in (Role.ADMIN, Role.MEMBER)
        and review.organisation_id == access.organisation.pk
        and review.status == ReviewStatus.OPEN
    )


def my_actions(access: Access) -> list[ActionItem]:
    """The open action items owned by the caller's person (their focus page), the
    soonest due first (undated last), with their review and run. One query."""
    return list(
        ActionItem.objects.filter(
            organisation=access.organisation,
            owner__user_id=access.user.pk,
            owner__organisation=access.organisation,
            status=ActionStatus.OPEN,
        )
        .select_related("review", "review__run", "step")
        .order_by(F("due_on").asc(nulls_last=True), "created_at", "id")
    )
