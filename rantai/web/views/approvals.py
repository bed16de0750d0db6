"""Approval pages: the inbox (what waits for the caller, the requests they made,
all requests), one request's page — its coordination map and the decision form —,
the requester's withdrawal and resubmission, nudges, and the coordination map of a
run (every request about it).

The coordination map shows a request's route in order: each stage with its status,
who approves it (and how they were found: holder, acting holder (Plt), passed up
from a vacant position, escalated), the decisions (who, on whose behalf, when, with
what comment), who is deciding now, who comes next and how long each stage took;
and every resolution of its approvers.

Reads go through `rantai.approvals.queries` (partners see no requests: 404); writes
call `rantai.approvals.services` once, which decides again at that moment. A stale
page (someone decided in the meantime) answers 409 and shows the current state; a
refusal is shown on the page and nothing is written.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from django import forms
from django.conf import settings
from django.contrib import messages
from django.core.paginator import Paginator
from django.db import transaction
from django.db.models import Prefetch, QuerySet
from django.http import HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import gettext as _
from django.utils.translation import ngettext
from django.views.decorators.http import require_http_methods, require_POST

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.approvals import adapters, services
from rantai.approvals import queries as approval_queries
from rantai.approvals.models import (
    ApprovalRequest,
    ApproverRule,
    Decision,
    Nudge,
    Outcome,
    RequestStage,
    RequestStatus,
    RouteStage,
    StageMode,
    StageStatus,
    SubjectKind,
)
from rantai.approvals.queries import ApproverView, Pending, RequestDetail, StageView
from rantai.chains import projection
from rantai.chains import queries as chains_queries
from rantai.chains.calendar import (
    CalendarSpec,
    minutes_per_working_day,
    working_minutes_between,
)
from rantai.core.errors import Conflict, PermissionDenied, ValidationFailed
from rantai.evidence.models import CitingKind, InformationRecord
from rantai.org.models import Person
from rantai.web import forms_approvals, forms_evidence
from rantai.web.access import apply_errors, org_view, render_page
from rantai.web.views import evidence as evidence_views
from rantai.web.views.runs import wall_span, working_span

PAGE_SIZE = 25
# A run's coordination map shows this many requests per page (each is a full map).
RUN_MAP_PAGE_SIZE = 10
INBOX_TABS = ("waiting", "mine", "all")
DETAIL_TEMPLATE = "web/approvals/detail.html"


# --- shared helpers ---------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _next_url(request: HttpRequest, default: str) -> str:
    """Where to go after an action: the page it was pressed on, if it is ours."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


def nudge_interval() -> dt.timedelta:
    """How long someone waits between two nudges of the same request."""
    return dt.timedelta(
        minutes=int(
            getattr(
                settings,
                "RANTAI_NUDGE_INTERVAL_MINUTES",
                services.DEFAULT_NUDGE_INTERVAL_MINUTES,
            )
        )
    )


def time_left(
    due_at: dt.datetime | None,
    *,
    calendar: CalendarSpec,
    now: dt.datetime,
    day_minutes: int,
) -> str:
    """Working time left until a stage's time limit, or how long it is overdue
    ("" without a limit). Time limits count working hours, and so does this."""
    if due_at is None:
        return ""
    if due_at < now:
        minutes = working_minutes_between(calendar, due_at, now)
        span = (
            working_span(minutes, day_minutes) if minutes else wall_span(now - due_at)
        )
        return _("overdue by %(span)s") % {"span": span}
    minutes = working_minutes_between(calendar, now, due_at)
    return _("%(span)s left") % {"span": working_span(minutes, day_minutes)}


def subject_url(access: Access, request: ApprovalRequest) -> str:
    """The page of what the request is about (its run, at the task or deviation)."""
    if request.run_id is None:
        return ""
    url = _url("run-detail", access, request.run_id)
    if request.subject_kind == SubjectKind.DEVIATION:
        return f"{url}#deviation-{request.subject_id}"
    if request.subject_kind == SubjectKind.TASK_COMPLETION:
        return f"{url}#task-{request.subject_id}"
    return url


@dataclass(frozen=True)
class Proposal:
    """A due-date change's proposal, from the request's details."""

    due_at: dt.datetime | None
    previous: dt.datetime | None
    reason: str


def proposal(request: ApprovalRequest) -> Proposal | None:
    if request.subject_kind != SubjectKind.DUE_DATE_CHANGE:
        return None
    payload = request.payload or {}

    def moment(key: str) -> dt.datetime | None:
        text = payload.get(key)
        if not isinstance(text, str):
            return None
        try:
            return adapters.parse_moment(text)
        except ValueError:
            return None

    return Proposal(
        due_at=moment("due_at"),
        previous=moment("from"),
        reason=str(payload.get("reason") or ""),
    )


# --- who approves a stage, in words ------------------------------------------------


def rule_text(stage: RouteStage) -> str:
    """Who the route says approves the stage (names loaded by the caller)."""
    if stage.rule == ApproverRule.SUPERIOR:
        if stage.levels <= 1:
            return _("the requester's superior")
        return _("the requester's superior, %(levels)d levels up") % {
            "levels": stage.levels
        }
    if stage.rule == ApproverRule.POSITION:
        title = stage.position.title if stage.position_id else "?"  # type: ignore[union-attr]
        return _("the holders of %(position)s") % {"position": title}
    if stage.rule == ApproverRule.UNIT_HEAD:
        name = stage.party.name if stage.party_id else "?"  # type: ignore[union-attr]
        return _("the head of %(party)s") % {"party": name}
    if stage.rule == ApproverRule.STEP_ACCOUNTABLE:
        return _("the accountable of the step")
    if stage.rule == ApproverRule.PERSON and stage.person_id:
        return stage.person.full_name  # type: ignore[union-attr]
    return str(stage.get_rule_display())


def mode_text(stage: RouteStage, required: int) -> str:
    if stage.mode == StageMode.ALL:
        return _("all of them approve")
    if stage.mode == StageMode.QUORUM:
        return ngettext(
            "%(count)d of them approves", "%(count)d of them approve", required
        ) % {"count": required}
    return _("one of them decides")


def limit_text(stage: RouteStage) -> str:
    if not stage.time_limit_hours:
        return ""
    return ngettext(
        "within %(count)d working hour, then: %(action)s",
        "within %(count)d working hours, then: %(action)s",
        stage.time_limit_hours,
    ) % {"count": stage.time_limit_hours, "action": stage.get_on_timeout_display()}


def route_stages(details: Iterable[RequestDetail]) -> dict[int, RouteStage]:
    """The route stages of the requests' stages with the position, party or person
    they name (one query for all of them)."""
    ids = {view.stage.stage_id for detail in details for view in detail.stages}
    if not ids:
        return {}
    return {
        stage.pk: stage
        for stage in RouteStage.objects.filter(pk__in=ids).select_related(
            "position", "party", "person"
        )
    }


# --- the coordination map ----------------------------------------------------------

NOW, NEXT = "now", "next"


@dataclass
class StageRow:
    """One stage of the map: the engine's view of it, who the route asks, where
    the request stands there and how long it took (or has left)."""

    view: StageView
    route_stage: RouteStage
    who: str
    how_many: str
    limit: str
    place: str = ""
    took: str = ""
    time_left: str = ""
    overdue: bool = False
    waiting_on: list[ApproverView] = field(default_factory=list)
    # Each approver with their decision this round: the one that counts, else the
    # latest that no longer does (the request went back behind this stage).
    slots: list[tuple[ApproverView, Decision | None]] = field(default_factory=list)

    @property
    def stage(self) -> RequestStage:
        return self.view.stage

    @property
    def is_open(self) -> bool:
        return self.stage.status == StageStatus.OPEN


@dataclass
class RequestMap:
    """A request with its stages in order and the summary of where it stands."""

    detail: RequestDetail
    rows: list[StageRow]
    subject_url: str
    proposal: Proposal | None

    @property
    def request(self) -> ApprovalRequest:
        return self.detail.request

    @property
    def now(self) -> StageRow | None:
        return next((row for row in self.rows if row.place == NOW), None)

    @property
    def next(self) -> StageRow | None:
        return next((row for row in self.rows if row.place == NEXT), None)

    @property
    def returned_by(self) -> Decision | None:
        """The decision that returned the request to the requester, while it is
        with them."""
        if self.request.status != RequestStatus.RETURNED:
            return None
        found = [
            decision
            for row in self.rows
            for decision in row.view.decisions
            if decision.outcome == Outcome.RETURN and decision.return_to_stage == 0
        ]
        return max(found, key=lambda d: (d.decided_at, d.pk)) if found else None

    @property
    def decisions(self) -> list[tuple[Decision, RequestStage]]:
        """Every decision of every stage and round with its stage, in time order."""
        return sorted(
            (
                (decision, row.stage)
                for row in self.rows
                for decision in row.view.decisions
            ),
            key=lambda pair: (pair[0].decided_at, pair[0].pk),
        )


def build_map(
    access: Access,
    detail: RequestDetail,
    *,
    stages: Mapping[int, RouteStage],
    calendar: CalendarSpec,
    now: dt.datetime,
    day_minutes: int,
) -> RequestMap:
    request = detail.request
    rows: list[StageRow] = []
    # With the requester, the request starts over at its first stage when sent
    # again; while it is open, the first waiting stage after the open one is next.
    returned = request.status == RequestStatus.RETURNED
    seen_open = False
    next_found = False
    for view in detail.stages:
        stage = view.stage
        route_stage = stages.get(stage.stage_id, stage.stage)
        row = StageRow(
            view=view,
            route_stage=route_stage,
            who=rule_text(route_stage),
            how_many=mode_text(route_stage, stage.required),
            limit=limit_text(route_stage),
        )
        for approver in view.approvers:
            decision = approver.decision
            if decision is None:
                earlier = [
                    d
                    for d in view.decisions
                    if d.slot_person_id == approver.person.pk and d.round == stage.round
                ]
                decision = earlier[-1] if earlier else None
            row.slots.append((approver, decision))
        if view.duration is not None:
            row.took = wall_span(view.duration)
        if stage.status == StageStatus.OPEN:
            row.place = NOW
            seen_open = True
            row.time_left = time_left(
                stage.due_at, calendar=calendar, now=now, day_minutes=day_minutes
            )
            row.overdue = stage.due_at is not None and stage.due_at < now
            row.waiting_on = [a for a in view.approvers if a.decision is None]
        elif (returned and not rows) or (
            stage.status == StageStatus.WAITING
            and seen_open
            and not next_found
            and request.status == RequestStatus.OPEN
        ):
            row.place = NEXT
            next_found = True
        rows.append(row)
    return RequestMap(
        detail=detail,
        rows=rows,
        subject_url=subject_url(access, request),
        proposal=proposal(request),
    )


# --- one request's page ------------------------------------------------------------


@dataclass
class RequestPage:
    """A request's map and what the caller may do on it."""

    map: RequestMap
    options: list[Pending]
    is_requester: bool
    may_take_part: bool
    nudged_at: dt.datetime | None
    # The run's records the decider may say the decision rests on.
    citable: list[InformationRecord] = field(default_factory=list)

    @property
    def request(self) -> ApprovalRequest:
        return self.map.request

    @property
    def may_decide(self) -> bool:
        return self.request.status == RequestStatus.OPEN and bool(self.options)

    @property
    def may_withdraw(self) -> bool:
        return self.is_requester and self.may_take_part and not self.request.is_final

    @property
    def may_resubmit(self) -> bool:
        return (
            self.is_requester
            and self.may_take_part
            and self.request.status == RequestStatus.RETURNED
        )

    @property
    def may_nudge(self) -> bool:
        now = self.map.now
        return (
            self.may_take_part
            and self.request.status == RequestStatus.OPEN
            and now is not None
            and bool(now.waiting_on)
            and not self.options
            and self.nudged_at is None
        )

    @property
    def nudge_again_at(self) -> dt.datetime | None:
        return self.nudged_at + nudge_interval() if self.nudged_at else None

    def behalf(self) -> list[tuple[int, str]]:
        """(person id, name) of the approvers the caller may decide for under a
        delegation; none when they decide in their own slot."""
        if any(option.on_behalf_of is None for option in self.options):
            return []
        return [
            (option.on_behalf_of.pk, option.on_behalf_of.full_name)
            for option in self.options
            if option.on_behalf_of is not None
        ]

    def behalf_person(self, person_id: int | None) -> Person | None:
        for option in self.options:
            if option.on_behalf_of is not None and option.on_behalf_of.pk == person_id:
                return option.on_behalf_of
        return None

    def decision_form(
        self, data: Any = None, initial: dict[str, Any] | None = None
    ) -> forms_approvals.DecisionForm:
        now = self.map.now
        order = now.stage.order if now is not None else 0
        form = forms_approvals.DecisionForm(
            data,
            initial={"version": self.request.version, **(initial or {})},
            requester_name=self.request.requester.full_name,
            earlier_stages=[
                (row.stage.order, row.route_stage.name)
                for row in self.map.rows
                if row.stage.order < order
            ],
            behalf=self.behalf(),
        )
        forms_evidence.add_rests_on(form, self.citable)
        return form


def load_page(access: Access, pk: int | str, *, now: dt.datetime) -> RequestPage:
    """A visible request (404 otherwise) as its page shows it."""
    detail = approval_queries.request_detail(access, pk, now=now)
    request = detail.request
    calendar = projection.calendar_spec(access.organisation)
    request_map = build_map(
        access,
        detail,
        stages=route_stages([detail]),
        calendar=calendar,
        now=now,
        day_minutes=minutes_per_working_day(calendar),
    )
    options: list[Pending] = []
    nudged_at = None
    if request.status == RequestStatus.OPEN:
        options = [
            option
            for option in approval_queries.pending_for(access, now=now)
            if option.request.pk == request.pk
        ]
        nudged_at = (
            Nudge.objects.filter(
                request_id=request.pk, by=access.user, at__gt=now - nudge_interval()
            )
            .order_by("-at")
            .values_list("at", flat=True)
            .first()
        )
    return RequestPage(
        map=request_map,
        options=options,
        is_requester=request.requester.user_id == access.user.pk,
        may_take_part=access.role in (Role.ADMIN, Role.MEMBER),
        nudged_at=nudged_at,
        citable=(
            evidence_views.citable_records(access, request.run_id) if options else []
        ),
    )


def _render(
    request: HttpRequest,
    page: RequestPage,
    *,
    form: forms_approvals.DecisionForm | None = None,
    problems: Sequence[str] = (),
    conflict: str = "",
    status: int = 200,
) -> HttpResponse:
    access = _access(request)
    detail_url = _url("approval-detail", access, page.request.pk)
    decisions = page.map.decisions
    cited = (
        evidence_views.cited(
            CitingKind.APPROVAL_DECISION,
            [decision.pk for decision, _stage in decisions],
        )
        if decisions
        else {}
    )
    return render_page(
        request,
        DETAIL_TEMPLATE,
        status=status,
        nav="approvals",
        page=page,
        map=page.map,
        form=form if form is not None else page.decision_form(),
        problems=list(problems),
        conflict=conflict,
        next_url=_next_url(request, detail_url),
        detail_url=detail_url,
        nudge_minutes=int(nudge_interval().total_seconds() // 60),
        decision_rows=[
            (decision, stage, cited.get(decision.pk)) for decision, stage in decisions
        ],
        any_cited=any(entry.records for entry in cited.values()),
        rests_on_unverified=any(entry.rests_on_unverified for entry in cited.values()),
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def request_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A request's coordination map, with the decision form for its approvers and
    the requester's and waiting people's actions."""
    access = _access(request)
    return _render(request, load_page(access, pk, now=timezone.now()))


def _messages_of(error: ValidationFailed) -> list[str]:
    return [message for problems in error.errors.values() for message in problems]


def _decided_message(outcome: str, title: str) -> str:
    if outcome == Outcome.REJECT:
        return _("You rejected “%(title)s”.") % {"title": title}
    if outcome == Outcome.RETURN:
        return _("You returned “%(title)s” for revision.") % {"title": title}
    return _("You approved “%(title)s”.") % {"title": title}


@org_view
@require_POST
def decide(request: HttpRequest, pk: int) -> HttpResponse:
    """Approve, reject or return the request's open stage (one service call)."""
    access = _access(request)
    page = load_page(access, pk, now=timezone.now())
    form = page.decision_form(request.POST)
    status = 200
    conflict = ""
    problems: list[str] = []
    if form.is_valid():
        data = form.cleaned_data
        try:
            # The decision and what it rests on are written together, or neither.
            with transaction.atomic():
                decision = services.decide(
                    page.request,
                    actor=access.user,
                    outcome=data["outcome"],
                    comment=data["comment"],
                    return_to_stage=data["return_to_stage"],
                    on_behalf_of=page.behalf_person(data.get("on_behalf_of")),
                    expected_version=data["version"],
                )
                evidence_views.cite_decision(
                    data.get(forms_evidence.REST_ON_FIELD),
                    citing_kind=CitingKind.APPROVAL_DECISION,
                    citing_id=decision.pk,
                    access=access,
                )
        except Conflict as error:
            status = 409
            conflict = error.message
            page = load_page(access, pk, now=timezone.now())
            kept = {k: v for k, v in data.items() if k != "version"}
            form = page.decision_form(initial=kept)
        except PermissionDenied as error:
            status = 403
            form.add_error(None, error.message)
        except ValidationFailed as error:
            apply_errors(form, error)
        else:
            messages.success(
                request, _decided_message(data["outcome"], page.request.title)
            )
            return redirect(
                _next_url(request, _url("approval-detail", access, page.request.pk))
            )
    if not page.may_decide and form.errors:
        # The form is not on the page (the stage moved on): say why up top.
        problems = [str(e) for errors in form.errors.values() for e in errors]
    return _render(
        request, page, form=form, problems=problems, conflict=conflict, status=status
    )


def _requester_action(
    request: HttpRequest,
    pk: int,
    *,
    form_class: type[forms.Form],
    act: Callable[[ApprovalRequest, int], Any],
    success: str,
) -> HttpResponse:
    """Withdraw or resubmit: one service call with the version the page showed."""
    access = _access(request)
    page = load_page(access, pk, now=timezone.now())
    form = form_class(request.POST)
    status = 200
    conflict = ""
    problems: list[str] = []
    if not form.is_valid():
        status = 409
        conflict = str(Conflict.default_message)
    else:
        try:
            act(page.request, form.cleaned_data["version"])
        except Conflict as error:
            status = 409
            conflict = error.message
        except PermissionDenied as error:
            status = 403
            problems = [error.message]
        except ValidationFailed as error:
            problems = _messages_of(error)
        else:
            messages.success(request, success % {"title": page.request.title})
            return redirect(_url("approval-detail", access, page.request.pk))
    if conflict:
        page = load_page(access, pk, now=timezone.now())
    return _render(request, page, problems=problems, conflict=conflict, status=status)


@org_view
@require_POST
def withdraw(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _access(request).user
    return _requester_action(
        request,
        pk,
        form_class=forms_approvals.WithdrawForm,
        act=lambda found, version: services.withdraw(
            found, actor=actor, expected_version=version
        ),
        success=_("You withdrew “%(title)s”."),
    )


@org_view
@require_POST
def resubmit(request: HttpRequest, pk: int) -> HttpResponse:
    actor = _access(request).user
    return _requester_action(
        request,
        pk,
        form_class=forms_approvals.ResubmitForm,
        act=lambda found, version: services.resubmit(
            found, actor=actor, expected_version=version
        ),
        success=_("“%(title)s” was sent for approval again, from the first stage."),
    )


@org_view
@require_POST
def nudge(request: HttpRequest, pk: int) -> HttpResponse:
    """Remind the approvers of the open stage (rate-limited by the service)."""
    access = _access(request)
    page = load_page(access, pk, now=timezone.now())
    default = _url("approval-detail", access, page.request.pk)
    try:
        services.nudge(page.request, actor=access.user)
    except ValidationFailed as error:
        messages.warning(request, " ".join(_messages_of(error)))
    else:
        messages.success(
            request,
            _("The approvers of “%(title)s” were reminded.")
            % {"title": page.request.title},
        )
    return redirect(_next_url(request, default))


# --- the inbox ---------------------------------------------------------------------


@dataclass
class InboxRow:
    """A request in a list, with the stage it waits at."""

    request: ApprovalRequest
    stage: RequestStage | None
    time_left: str
    overdue: bool


def _with_open_stage(qs: QuerySet[ApprovalRequest]) -> QuerySet[ApprovalRequest]:
    return qs.prefetch_related(
        Prefetch(
            "stages",
            queryset=RequestStage.objects.filter(
                status=StageStatus.OPEN
            ).select_related("stage"),
            to_attr="open_stages",
        )
    )


@dataclass
class WaitingRow:
    pending: Pending
    time_left: str

    @property
    def request(self) -> ApprovalRequest:
        return self.pending.request

    @property
    def stage(self) -> RequestStage:
        return self.pending.stage

    @property
    def overdue(self) -> bool:
        return self.pending.is_overdue


@org_view
@require_http_methods(["GET", "HEAD"])
def inbox(request: HttpRequest) -> HttpResponse:
    """Approvals: those waiting for the caller (soonest due first), the requests
    they made, or all the organisation's requests (by status)."""
    access = _access(request)
    access.require_whole_organisation()
    now = timezone.now()
    calendar = projection.calendar_spec(access.organisation)
    day_minutes = minutes_per_working_day(calendar)
    tab = request.GET.get("show", "")
    tab = tab if tab in INBOX_TABS else "waiting"
    status = request.GET.get("status", "")
    status = status if status in RequestStatus.values else ""
    context: dict[str, Any] = {}
    if tab == "waiting":
        waiting = Paginator(
            approval_queries.pending_for(access, now=now), PAGE_SIZE
        ).get_page(request.GET.get("page"))
        context.update(
            page=waiting,
            waiting=[
                WaitingRow(
                    pending,
                    time_left(
                        pending.stage.due_at,
                        calendar=calendar,
                        now=now,
                        day_minutes=day_minutes,
                    ),
                )
                for pending in waiting
            ],
        )
    else:
        qs = (
            approval_queries.requests_by(access)
            if tab == "mine"
            else approval_queries.requests(access)
        )
        if status:
            qs = qs.filter(status=status)
        listed = Paginator(_with_open_stage(qs), PAGE_SIZE).get_page(
            request.GET.get("page")
        )
        rows = []
        for found in listed:
            stage = next(iter(found.open_stages), None)  # type: ignore[attr-defined]
            due = stage.due_at if stage is not None else None
            rows.append(
                InboxRow(
                    request=found,
                    stage=stage,
                    time_left=time_left(
                        due, calendar=calendar, now=now, day_minutes=day_minutes
                    ),
                    overdue=due is not None and due < now,
                )
            )
        context.update(page=listed, rows=rows)
    return render_page(
        request,
        "web/approvals/inbox.html",
        partial="list-results",
        nav="approvals",
        tab=tab,
        status_filter=status,
        statuses=RequestStatus.choices,
        **context,
    )


# --- a run's coordination map --------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def run_coordination(request: HttpRequest, pk: int) -> HttpResponse:
    """Every approval request about a run (its due date, deviations and task
    completions), newest first, each with its coordination map."""
    access = _access(request)
    access.require_whole_organisation()
    now = timezone.now()
    run = chains_queries.run(access, pk)
    page = Paginator(
        approval_queries.requests(access).filter(run_id=run.pk), RUN_MAP_PAGE_SIZE
    ).get_page(request.GET.get("page"))
    details = [
        approval_queries.request_detail(access, found.pk, now=now) for found in page
    ]
    calendar = projection.calendar_spec(access.organisation)
    day_minutes = minutes_per_working_day(calendar)
    stages = route_stages(details)
    maps = [
        build_map(
            access,
            detail,
            stages=stages,
            calendar=calendar,
            now=now,
            day_minutes=day_minutes,
        )
        for detail in details
    ]
    return render_page(
        request,
        "web/approvals/run_coordination.html",
        partial="list-results",
        nav="runs",
        run=run,
        page=page,
        maps=maps,
    )
