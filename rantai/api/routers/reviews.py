"""Blameless reviews (evaluasi) of runs (docs/design-obstacles.md, "Blameless
reviews"): what happened (the timeline, assembled from the audit trail when
read), the contributing factors — attributed to a step, the procedure's design,
a party, a handover or outside conditions, never to a person — and the action
items with owners, among them proposed changes that feed the procedure's next
draft.

Administrators, members and auditors read every review in full. An external
partner reads the reviews of runs its party takes part in, and of each only the
factors about its own steps (or its party) and the action items its people own;
the summary, what was learned and the timeline are internal. Administrators and
members write reviews while they are open; auditors and partners are refused
(403) — but an action item's owner may mark it done. Text that names people or
blames is refused (422, code `blame_hints`, the hints per field) unless sent
again with `keep_as_written: true`.
"""

import datetime as dt
from typing import Any

from django.http import HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema, Status
from ninja.pagination import paginate

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    org_access,
    require,
    resolve,
)
from rantai.api.idempotency import idempotent
from rantai.api.routers.approvals import field_names
from rantai.api.routers.evidence import org_url
from rantai.api.routers.obstacles import Page
from rantai.api.versions import IF_MATCH, expected_version, with_etag
from rantai.chains import queries as chains_queries
from rantai.chains.models import ProcedureVersion, Step
from rantai.core.errors import NotFound, PermissionDenied
from rantai.obstacles import review_queries, reviews
from rantai.obstacles.models import (
    ActionItem,
    ActionStatus,
    ContributingFactor,
    FactorArea,
    Review,
    ReviewStatus,
    ReviewTrigger,
)
from rantai.org import queries as org_queries

router = Router(tags=["reviews"])

FIELDS = {
    "owner": "owner_id",
    "next_task": "next_task_id",
    "step": "step_id",
    "actions": "action_ids",
}


def _writer(request: HttpRequest, org_slug: str) -> Access:
    """Auditors and partners write no review (403, before anything is looked up)."""
    access = org_access(request, org_slug)
    if access.role not in (Role.ADMIN, Role.MEMBER):
        raise PermissionDenied(
            _("Only members and administrators can work on a review.")
        )
    return access


# --- schemas ----------------------------------------------------------------------------


class ReviewOut(Schema):
    id: int
    run_id: int
    run_title: str
    procedure_id: int
    procedure_code: str
    obstacle_id: int | None = Field(None, description="The severe obstacle it reviews.")
    trigger: ReviewTrigger
    status: ReviewStatus
    summary: str = Field(..., description="What happened (internal).")
    learned: str = Field(..., description="What we learned (internal).")
    opened_at: dt.datetime
    completed_at: dt.datetime | None
    completed_by_id: int | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_run_title(review: Review) -> str:
        return review.run.title

    @staticmethod
    def resolve_procedure_id(review: Review) -> int:
        return review.run.procedure_id

    @staticmethod
    def resolve_procedure_code(review: Review) -> str:
        return review.run.procedure.code


class FactorOut(Schema):
    """Something that contributed — attributed to an area, never to a person."""

    id: int
    review_id: int
    area: FactorArea
    task_id: int | None = Field(None, description="The step (a task of the run).")
    task_name: str | None
    next_task_id: int | None = Field(None, description="A handover: received by.")
    next_task_name: str | None
    party_id: int | None
    party_name: str | None
    description: str
    sort_order: int
    added_by_id: int
    added_at: dt.datetime

    @staticmethod
    def resolve_task_name(factor: ContributingFactor) -> str | None:
        task = factor.task
        return task.name if task is not None else None

    @staticmethod
    def resolve_next_task_name(factor: ContributingFactor) -> str | None:
        task = factor.next_task
        return task.name if task is not None else None

    @staticmethod
    def resolve_party_name(factor: ContributingFactor) -> str | None:
        party = factor.party
        return party.name if party is not None else None


class ActionOut(Schema):
    """What will change, with its owner; a proposed change to the procedure
    (its step, or the whole procedure) is offered to the next draft version."""

    id: int
    review_id: int
    description: str
    owner_id: int
    owner_name: str
    due_on: dt.date | None
    status: ActionStatus
    proposes_change: bool
    step_id: int | None = Field(None, description="The step to change.")
    step_name: str | None
    applied_in_id: int | None = Field(
        None, description="The procedure version it was taken into."
    )
    created_by_id: int
    done_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_owner_name(action: ActionItem) -> str:
        return action.owner.full_name

    @staticmethod
    def resolve_step_name(action: ActionItem) -> str | None:
        step = action.step
        return step.name if step is not None else None


class TimelineEntryOut(Schema):
    """One moment of the run's story, as a plain sentence in your language."""

    at: dt.datetime
    actor: str = Field(..., description='The display name, "system" or "redacted".')
    sentence: str
    verb: str
    target_type: str
    target_id: str


class ReviewDetailOut(ReviewOut):
    """A review as you may read it: for a partner (`is_partial`) only the factors
    and action items about its party, no summary, lessons or timeline."""

    factors: list[FactorOut]
    actions: list[ActionOut]
    timeline: list[TimelineEntryOut]
    is_partial: bool
    may_edit: bool = Field(..., description="You may change it (open, a writer).")

    @staticmethod
    def resolve_factors(review: Review) -> list[ContributingFactor]:
        return review.view.factors  # type: ignore[attr-defined,no-any-return]

    @staticmethod
    def resolve_actions(review: Review) -> list[ActionItem]:
        return review.view.actions  # type: ignore[attr-defined,no-any-return]

    @staticmethod
    def resolve_timeline(review: Review) -> list[reviews.TimelineEntry]:
        return review.view.timeline  # type: ignore[attr-defined,no-any-return]

    @staticmethod
    def resolve_is_partial(review: Review) -> bool:
        return review.view.is_partial  # type: ignore[attr-defined,no-any-return]


def review_answer(access: Access, review_id: int, response: HttpResponse) -> Review:
    """The review as the caller may read it, with its ETag."""
    view = review_queries.review(access, review_id)
    review = view.review
    review.view = view  # type: ignore[attr-defined]
    review.may_edit = review_queries.may_edit(access, review)  # type: ignore[attr-defined]
    with_etag(response, review)
    return review


def _review(access: Access, review_id: int) -> Review:
    """A review the caller may read (404 otherwise)."""
    found = review_queries.reviews(access).filter(pk=review_id).first()
    if found is None:
        raise NotFound()
    return found


# --- reviews ----------------------------------------------------------------------------


class ReviewFilters(Schema):
    run_id: int | None = None
    status: ReviewStatus | None = None


class ReviewRequestIn(Schema):
    run_id: int = Field(..., description="The run to review.")


class ReviewPatch(Schema):
    """What happened and what was learned; left out: unchanged."""

    summary: str | None = None
    learned: str | None = None
    keep_as_written: bool = Field(
        False, description="Keep text that names people or blames, as written."
    )
    version: int | None = None


@router.get("/reviews", response=list[ReviewOut])
@paginate(Pagination)
def list_reviews(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[ReviewFilters]
) -> Any:
    """The reviews you may read, newest first (a partner: of the runs its party
    takes part in, without their internal summary and lessons)."""
    access = org_access(request, org_slug)
    found = review_queries.reviews(access, run=filters.run_id, status=filters.status)

    def prepare(review: Review) -> None:
        if access.partner_party_id is not None:
            review.summary = ""
            review.learned = ""

    return Page(found, prepare)


@router.get("/reviews/{review_id}", response=ReviewDetailOut)
def get_review(
    request: HttpRequest, org_slug: OrgSlug, review_id: int, response: HttpResponse
) -> Review:
    """A review with its contributing factors, action items and (internal readers)
    the run's timeline from the audit trail."""
    return review_answer(org_access(request, org_slug), review_id, response)


@router.post("/reviews", response={200: ReviewDetailOut, 201: ReviewDetailOut})
@idempotent
def request_review(
    request: HttpRequest,
    org_slug: OrgSlug,
    payload: ReviewRequestIn,
    response: HttpResponse,
) -> Status:
    """Open a review of a run on request (members and administrators): 201 with
    the new review, or 200 with the one already open for the run (its missed
    target, or an earlier request)."""
    access = _writer(request, org_slug)
    run = require(chains_queries.runs(access), payload.run_id, "run_id")
    existing = set(Review.objects.filter(run=run).values_list("pk", flat=True))
    review = reviews.open_review(
        run, trigger=ReviewTrigger.REQUESTED, actor=access.user
    )
    status = 200 if review.pk in existing else 201
    response["Location"] = org_url(request, f"reviews/{review.pk}")
    return Status(status, review_answer(access, review.pk, response))


@router.patch("/reviews/{review_id}", response=ReviewDetailOut, openapi_extra=IF_MATCH)
def update_review(
    request: HttpRequest,
    org_slug: OrgSlug,
    review_id: int,
    payload: ReviewPatch,
    response: HttpResponse,
) -> Review:
    """Write what happened and what was learned: describe the conditions and
    decisions, not who is to blame."""
    access = _writer(request, org_slug)
    review = _review(access, review_id)
    version = expected_version(request, payload.version)
    reviews.update_review(
        review,
        actor=access.user,
        expected_version=version,
        summary=review.summary if payload.summary is None else payload.summary,
        learned=review.learned if payload.learned is None else payload.learned,
        keep_as_written=payload.keep_as_written,
    )
    return review_answer(access, review_id, response)


@router.post(
    "/reviews/{review_id}/complete",
    response=ReviewDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def complete_review(
    request: HttpRequest,
    org_slug: OrgSlug,
    review_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Review:
    """Complete the review: it needs at least one contributing factor and one
    action item (422, code `incomplete`, naming `factors` and `actions`)."""
    access = _writer(request, org_slug)
    review = _review(access, review_id)
    reviews.complete_review(
        review,
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return review_answer(access, review_id, response)


# --- contributing factors ---------------------------------------------------------------


class FactorIn(Schema):
    """What contributed: a step (`task_id`), the procedure's design, a party
    (`party_id`), a handover (`task_id` → `next_task_id`) or outside conditions.
    There is no field for a person."""

    area: FactorArea
    description: str
    task_id: int | None = None
    next_task_id: int | None = None
    party_id: int | None = None
    keep_as_written: bool = Field(
        False, description="Keep text that names people or blames, as written."
    )


@router.post("/reviews/{review_id}/factors", response={201: FactorOut})
@idempotent
def add_factor(
    request: HttpRequest,
    org_slug: OrgSlug,
    review_id: int,
    payload: FactorIn,
) -> ContributingFactor:
    """Add a contributing factor to an open review."""
    access = _writer(request, org_slug)
    review = _review(access, review_id)
    tasks = chains_queries.tasks(access)
    with field_names(FIELDS):
        factor = reviews.add_factor(
            review,
            actor=access.user,
            area=payload.area,
            description=payload.description,
            task=resolve(tasks, payload.task_id, "task_id"),
            next_task=resolve(tasks, payload.next_task_id, "next_task_id"),
            party=resolve(org_queries.parties(access), payload.party_id, "party_id"),
            keep_as_written=payload.keep_as_written,
        )
    return factor


@router.delete("/reviews/{review_id}/factors/{factor_id}", response={204: None})
def remove_factor(
    request: HttpRequest, org_slug: OrgSlug, review_id: int, factor_id: int
) -> Status:
    """Remove a factor from an open review."""
    access = _writer(request, org_slug)
    review = _review(access, review_id)
    factor = ContributingFactor.objects.filter(review=review, pk=factor_id).first()
    if factor is None:
        raise NotFound()
    reviews.remove_factor(factor, actor=access.user)
    return Status(204, None)


# --- action items ---------------------------------------------------------------------


class ActionIn(Schema):
    description: str
    owner_id: int = Field(..., description="The person who sees to it.")
    due_on: dt.date | None = None
    proposes_change: bool = Field(
        False, description="A change to the procedure, offered to its next draft."
    )
    step_id: int | None = Field(
        None, description="The step to change (none: the procedure as a whole)."
    )


@router.post("/reviews/{review_id}/actions", response={201: ActionOut})
@idempotent
def add_action(
    request: HttpRequest,
    org_slug: OrgSlug,
    review_id: int,
    payload: ActionIn,
    response: HttpResponse,
) -> ActionItem:
    """Add an action item with its owner (told); a proposed change may name a step
    of the run's procedure."""
    access = _writer(request, org_slug)
    review = _review(access, review_id)
    steps = Step.objects.filter(procedure_version__organisation=access.organisation)
    with field_names(FIELDS):
        action = reviews.add_action(
            review,
            actor=access.user,
            description=payload.description,
            owner=require(org_queries.people(access), payload.owner_id, "owner_id"),
            due_on=payload.due_on,
            proposes_change=payload.proposes_change,
            step=resolve(steps, payload.step_id, "step_id"),
        )
    with_etag(response, action)
    return _action(access, review_id, action.pk)


def _action(access: Access, review_id: int, action_id: int) -> ActionItem:
    """An action item the caller sees: of a review they read (a partner: one its
    people own)."""
    found = (
        ActionItem.objects.filter(
            review__in=review_queries.reviews(access).filter(pk=review_id).values("pk"),
            pk=action_id,
        )
        .select_related("owner", "step")
        .first()
    )
    if found is None or (
        access.partner_party_id is not None
        and found.owner.party_id != access.partner_party_id
    ):
        raise NotFound()
    return found


@router.post(
    "/reviews/{review_id}/actions/{action_id}/complete",
    response=ActionOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def complete_action(
    request: HttpRequest,
    org_slug: OrgSlug,
    review_id: int,
    action_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> ActionItem:
    """Mark an open action item done: its owner (their login), a member or an
    administrator; also once the review is completed."""
    access = org_access(request, org_slug)
    reviews.complete_action(
        _action(access, review_id, action_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    found = _action(access, review_id, action_id)
    with_etag(response, found)
    return found


# --- proposals for the next draft ---------------------------------------------------------


class ApplyIn(Schema):
    action_ids: list[int] = Field(..., min_length=1)


class AppliedOut(Schema):
    applied: int = Field(..., description="Proposals marked taken into the version.")
    proposals: list[ActionOut] = Field(..., description="Those still open.")


def _version(access: Access, procedure_id: int, number: int) -> ProcedureVersion:
    """Version `number` of a procedure of the organisation (partners: 404)."""
    access.require_whole_organisation()
    procedure = chains_queries.procedure(access, procedure_id)
    found = ProcedureVersion.objects.filter(procedure=procedure, number=number).first()
    if found is None:
        raise NotFound()
    return found


@router.get(
    "/procedures/{procedure_id}/versions/{number}/proposals",
    response=list[ActionOut],
)
def version_proposals(
    request: HttpRequest, org_slug: OrgSlug, procedure_id: int, number: int
) -> list[ActionItem]:
    """The open proposed changes from reviews of the procedure's runs not yet taken
    into a version, oldest first."""
    access = org_access(request, org_slug)
    return reviews.proposals_for_version(_version(access, procedure_id, number))


@router.post(
    "/procedures/{procedure_id}/versions/{number}/proposals/apply",
    response=AppliedOut,
)
@idempotent
def apply_proposals(
    request: HttpRequest,
    org_slug: OrgSlug,
    procedure_id: int,
    number: int,
    payload: ApplyIn,
) -> dict[str, Any]:
    """Mark proposed changes taken into this draft (administrators and holders of
    the procedure's owner position): every id must be an open proposal for the
    procedure."""
    access = _writer(request, org_slug)
    version = _version(access, procedure_id, number)
    with field_names(FIELDS):
        applied = reviews.apply_proposals(
            version, payload.action_ids, actor=access.user
        )
    return {"applied": applied, "proposals": reviews.proposals_for_version(version)}


@router.get("/me/review-actions", response=list[ActionOut])
@paginate(Pagination)
def my_actions(request: HttpRequest, org_slug: OrgSlug) -> list[ActionItem]:
    """The open action items you own, the soonest due first."""
    return review_queries.my_actions(org_access(request, org_slug))
