"""Pages of blameless reviews (evaluasi; docs/design-obstacles.md, issue 7):

* the reviews list, by status and why they were opened;
* a review: the run's story assembled from the audit trail, what contributed
  (attributed to a step, the procedure's design, a party, a handover or outside
  conditions — there is no field for a person), the action items with their
  owners, and what happened and what was learned. Text that names a person or
  blames is held back with a gentle hint; the writer may keep it as written.
  A partner reads only what concerns its own party;
* asking for the review of a run;
* taking the proposed changes of reviews into a procedure's draft version.

Writes call one `rantai.obstacles.reviews` service each, which decides again;
reads go through `rantai.obstacles.review_queries`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.core.paginator import Paginator
from django.db.models import QuerySet
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.chains import queries as chains_queries
from rantai.chains.models import ProcedureVersion, Step, Task, VersionStatus
from rantai.core.errors import Conflict, NotFound, ValidationFailed
from rantai.obstacles import review_queries, reviews
from rantai.obstacles.models import (
    ActionItem,
    ActionStatus,
    ContributingFactor,
    ReviewStatus,
    ReviewTrigger,
)
from rantai.org.models import Party, Person
from rantai.web import forms_obstacles as obstacle_forms
from rantai.web.access import (
    FORM_PAGE_TEMPLATE,
    apply_errors,
    handle_form,
    org_view,
    render_page,
)
from rantai.web.forms import RantaiForm, VersionedForm

PAGE_SIZE = 25


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _may_write(access: Access) -> bool:
    return access.role in (Role.ADMIN, Role.MEMBER)


# --- the list -------------------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def review_list(request: HttpRequest) -> HttpResponse:
    """Reviews, newest first, by status and by why they were opened."""
    access = _access(request)
    status = request.GET.get("status", "")
    status = status if status in ReviewStatus.values else ""
    trigger = request.GET.get("trigger", "")
    trigger = trigger if trigger in ReviewTrigger.values else ""
    qs = review_queries.reviews(access, status=status or None)
    if trigger:
        qs = qs.filter(trigger=trigger)
    page = Paginator(qs, PAGE_SIZE).get_page(request.GET.get("page"))
    return render_page(
        request,
        "web/reviews/list.html",
        partial="list-results",
        nav="reviews",
        page=page,
        statuses=ReviewStatus.choices,
        triggers=ReviewTrigger.choices,
        status_filter=status,
        trigger_filter=trigger,
    )


# --- a review ---------------------------------------------------------------------------


def _run_tasks(view: review_queries.ReviewView) -> QuerySet[Task]:
    return Task.objects.filter(run_id=view.review.run_id).order_by("sort_order", "id")


def _parties(access: Access) -> QuerySet[Party]:
    return Party.objects.filter(
        organisation=access.organisation, is_active=True
    ).order_by("-kind", "name")


def _people(access: Access) -> QuerySet[Person]:
    return Person.objects.filter(
        organisation=access.organisation, is_active=True
    ).order_by("full_name", "pk")


def _steps(view: review_queries.ReviewView) -> QuerySet[Step]:
    return Step.objects.filter(
        procedure_version_id=view.review.run.procedure_version_id
    ).order_by("sort_order", "id")


def _text_form(view: review_queries.ReviewView, data: Any = None) -> Any:
    review = view.review
    form = obstacle_forms.ReviewTextForm(
        data,
        initial={
            "version": review.version,
            "summary": review.summary,
            "learned": review.learned,
        },
        auto_id="review-%s",
    )
    return form


def _review_page(
    request: HttpRequest,
    pk: int,
    *,
    status: int = 200,
    text_hints: list[str] | None = None,
    factor_hints: list[str] | None = None,
    **forms_in_error: Any,
) -> HttpResponse:
    """The review page; a refused form is shown in place with its errors (and,
    for blame hints, the "keep as written" box)."""
    access = _access(request)
    view = review_queries.review(access, pk)
    review = view.review
    may_edit = review_queries.may_edit(access, review)
    context: dict[str, Any] = {}
    if may_edit:
        context = {
            "text_form": _text_form(view),
            "factor_form": obstacle_forms.FactorForm(
                tasks=_run_tasks(view), parties=_parties(access), auto_id="factor-%s"
            ),
            "action_form": obstacle_forms.ActionForm(
                people=_people(access), steps=_steps(view), auto_id="action-%s"
            ),
        }
        context.update(forms_in_error)
    actions = [
        (
            action,
            action.status == ActionStatus.OPEN
            and (
                _may_write(access)
                or (
                    action.owner.user_id is not None
                    and action.owner.user_id == access.user.pk
                )
            ),
        )
        for action in view.actions
    ]
    return render_page(
        request,
        "web/reviews/detail.html",
        status=status,
        nav="reviews",
        view=view,
        review=review,
        run=review.run,
        may_edit=may_edit,
        actions=actions,
        text_hints=text_hints or [],
        factor_hints=factor_hints or [],
        next_url=_url("review-detail", access, review.pk),
        **context,
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def review_detail(request: HttpRequest, pk: int) -> HttpResponse:
    return _review_page(request, pk)


def _editable(
    request: HttpRequest, pk: int
) -> tuple[Access, review_queries.ReviewView]:
    access = _access(request)
    view = review_queries.review(access, pk)
    if not review_queries.may_edit(access, view.review):
        raise DjangoPermissionDenied
    return access, view


def _hints(error: ValidationFailed) -> list[str]:
    """The blame hints of a refusal, in order, each once. (Shown as a hint on
    the page, not as an error: the answer is a 200.)"""
    found: list[str] = []
    for problems in error.errors.values():
        for problem in problems:
            if problem not in found:
                found.append(problem)
    return found


def _save_section(
    request: HttpRequest,
    access: Access,
    pk: int,
    form: Any,
    save: Callable[[dict[str, Any]], object],
    *,
    name: str,
    success: str,
    anchor: str,
    hints: bool = False,
) -> HttpResponse:
    """The POST of one section form (`name`: text, factor, action) of the review
    page: saved, back to the section; refused, the page with the form in place
    (409 on a conflict, 422 on errors; with `hints`, blame hints are shown as
    hints, a 200)."""
    if form.is_valid():
        try:
            save(form.cleaned_data)
        except Conflict as error:
            form.add_error(None, error.message)
            return _review_page(request, pk, status=409, **{f"{name}_form": form})
        except ValidationFailed as error:
            if hints and error.code == reviews.BLAME_HINTS_CODE:
                return _review_page(
                    request,
                    pk,
                    status=200,
                    **{f"{name}_form": form, f"{name}_hints": _hints(error)},
                )
            apply_errors(form, error)
        else:
            messages.success(request, success)
            return redirect(_url("review-detail", access, pk) + anchor)
    return _review_page(request, pk, status=422, **{f"{name}_form": form})


@org_view
@require_http_methods(["POST"])
def review_text(request: HttpRequest, pk: int) -> HttpResponse:
    """Write what happened and what was learned."""
    access, view = _editable(request, pk)
    form = _text_form(view, request.POST)
    return _save_section(
        request,
        access,
        pk,
        form,
        lambda data: reviews.update_review(
            view.review,
            actor=access.user,
            expected_version=data["version"],
            summary=data["summary"],
            learned=data["learned"],
            keep_as_written=data["keep_as_written"],
        ),
        name="text",
        success=_("The review was saved."),
        anchor="#summary",
        hints=True,
    )


@org_view
@require_http_methods(["POST"])
def factor_new(request: HttpRequest, pk: int) -> HttpResponse:
    """Add what contributed, attributed to an area (never to a person)."""
    access, view = _editable(request, pk)
    form = obstacle_forms.FactorForm(
        request.POST,
        tasks=_run_tasks(view),
        parties=_parties(access),
        auto_id="factor-%s",
    )
    return _save_section(
        request,
        access,
        pk,
        form,
        lambda data: reviews.add_factor(
            view.review,
            actor=access.user,
            area=data["area"],
            description=data["description"],
            task=data["task"],
            next_task=data["next_task"],
            party=data["party"],
            keep_as_written=data["keep_as_written"],
        ),
        name="factor",
        success=_("The contributing factor was added."),
        anchor="#factors",
        hints=True,
    )


@org_view
@require_http_methods(["POST"])
def factor_remove(request: HttpRequest, pk: int) -> HttpResponse:
    access = _access(request)
    factor = (
        ContributingFactor.objects.filter(organisation=access.organisation, pk=pk)
        .select_related("review")
        .first()
    )
    if factor is None:
        raise Http404
    view = review_queries.review(access, factor.review_id)
    if not review_queries.may_edit(access, view.review):
        raise DjangoPermissionDenied
    try:
        reviews.remove_factor(factor, actor=access.user)
    except (NotFound, ValidationFailed) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The contributing factor was removed."))
    return redirect(_url("review-detail", access, view.review.pk) + "#factors")


@org_view
@require_http_methods(["POST"])
def action_new(request: HttpRequest, pk: int) -> HttpResponse:
    """An action item with its owner; a proposed change to the procedure is
    offered to its next draft version."""
    access, view = _editable(request, pk)
    form = obstacle_forms.ActionForm(
        request.POST,
        people=_people(access),
        steps=_steps(view),
        auto_id="action-%s",
    )
    return _save_section(
        request,
        access,
        pk,
        form,
        lambda data: reviews.add_action(
            view.review,
            actor=access.user,
            description=data["description"],
            owner=data["owner"],
            due_on=data["due_on"],
            proposes_change=data["proposes_change"],
            step=data["step"],
        ),
        name="action",
        success=_("The action item was added; its owner is told."),
        anchor="#actions",
    )


@org_view
@require_http_methods(["POST"])
def action_complete(request: HttpRequest, pk: int) -> HttpResponse:
    """The owner of an action item, a member or an administrator marks it done."""
    access = _access(request)
    action = (
        ActionItem.objects.filter(organisation=access.organisation, pk=pk)
        .select_related("owner")
        .first()
    )
    if action is None:
        raise Http404
    view = review_queries.review(access, action.review_id)
    if action.pk not in {item.pk for item in view.actions}:
        raise Http404
    form = VersionedForm(request.POST)
    back = _url("review-detail", access, view.review.pk) + "#actions"
    if not form.is_valid():
        messages.error(request, _("Reload the page and try again."))
        return redirect(back)
    try:
        reviews.complete_action(
            action, actor=access.user, expected_version=form.cleaned_data["version"]
        )
    except (Conflict, ValidationFailed) as error:
        messages.error(request, error.message)
    else:
        messages.success(request, _("The action item is done."))
    return redirect(back)


@org_view
@require_http_methods(["POST"])
def review_complete(request: HttpRequest, pk: int) -> HttpResponse:
    """Complete the review: it needs a contributing factor and an action item."""
    access, view = _editable(request, pk)
    form = VersionedForm(request.POST)
    back = _url("review-detail", access, pk)
    if not form.is_valid():
        messages.error(request, _("Reload the page and try again."))
        return redirect(back)
    try:
        reviews.complete_review(
            view.review,
            actor=access.user,
            expected_version=form.cleaned_data["version"],
        )
    except (Conflict, ValidationFailed) as error:
        problems = (
            [p for ps in error.errors.values() for p in ps]
            if isinstance(error, ValidationFailed)
            else [error.message]
        )
        for problem in problems:
            messages.error(request, problem)
        return redirect(back + "#complete")
    messages.success(request, _("The review was completed."))
    return redirect(back)


# --- asking for a review of a run ---------------------------------------------------------


@org_view
@require_http_methods(["GET", "POST"])
def run_review_new(request: HttpRequest, pk: int) -> HttpResponse:
    """A member or an administrator asks for the blameless review of a run (the
    one already open for it, if any, is shown instead)."""
    access = _access(request)
    run = chains_queries.run(access, pk)
    if not _may_write(access):
        raise DjangoPermissionDenied
    form = RantaiForm(request.POST if request.method == "POST" else None)
    back = _url("run-detail", access, run.pk)
    opened: dict[str, Any] = {}

    def save(data: dict[str, Any]) -> str:
        review = reviews.open_review(
            run, trigger=ReviewTrigger.REQUESTED, actor=access.user
        )
        opened["review"] = review
        return _url("review-detail", access, review.pk)

    return handle_form(
        request,
        form,
        save,
        success=_("The review of “%(title)s” is open.") % {"title": run.title},
        page=lambda status: render_page(
            request,
            FORM_PAGE_TEMPLATE,
            status=status,
            nav="reviews",
            form=form,
            title=_("Review “%(title)s”") % {"title": run.title},
            submit=_("Open the review"),
            cancel_url=back,
            intro=_(
                "A blameless review looks at what made the outcome likely — the "
                "steps, the procedure's design, the parties, the handovers, the "
                "conditions — and agrees on what to change. The run's internal "
                "participants are told."
            ),
        ),
    )


# --- proposals of reviews on a draft version ------------------------------------------------


def proposals_panel(
    access: Access, version: ProcedureVersion, *, may_edit: bool
) -> dict[str, Any]:
    """The draft version page's "proposed by reviews" panel: the open proposed
    changes for the procedure (one query) and, for its editors, the form that
    takes them into this draft."""
    if version.status != VersionStatus.DRAFT or not access.sees_whole_organisation:
        return {"proposals": [], "proposals_form": None}
    proposals = reviews.proposals_for_version(version)
    form = (
        obstacle_forms.ProposalsForm(
            choices=[(action.pk, action.description) for action in proposals],
            auto_id="proposal-%s",
        )
        if may_edit and proposals
        else None
    )
    return {"proposals": proposals, "proposals_form": form}


@org_view
@require_http_methods(["GET", "POST"])
def proposals_apply(request: HttpRequest, pk: int) -> HttpResponse:
    """Mark proposed changes of reviews as taken into this draft version."""
    access = _access(request)
    version = chains_queries.version(access, pk)
    if not access.sees_whole_organisation or access.is_auditor:
        raise DjangoPermissionDenied
    proposals = reviews.proposals_for_version(version)
    form = obstacle_forms.ProposalsForm(
        request.POST if request.method == "POST" else None,
        choices=[(action.pk, action.description) for action in proposals],
    )
    back = _url("procedure-version", access, version.pk) + "#proposals"

    def save(data: dict[str, Any]) -> str:
        count = reviews.apply_proposals(version, data["actions"], actor=access.user)
        saved["count"] = count
        return back

    saved: dict[str, int] = {}
    return handle_form(
        request,
        form,
        save,
        success=_("The proposals were taken into this draft."),
        page=lambda status: render_page(
            request,
            FORM_PAGE_TEMPLATE,
            status=status,
            nav="procedures",
            form=form,
            title=_("Take proposals into version %(number)d")
            % {"number": version.number},
            submit=_("Take into this draft"),
            cancel_url=back,
            intro=_(
                "Change the draft's steps as each proposal says, then mark the "
                "proposals taken into it: the review shows in which version."
            ),
        ),
    )
