"""Pages of fair assignment (docs/design-roles.md, issue 6):

* the task page's panels (`task_panels`, shown by `runs.task_detail`): why the
  task has its assignee, in plain language (`assigning.explain`), the history of
  its assignments, the reassign form (the policy's candidates first, anyone else
  as an override with a reason) and the consultations of the task with the
  answer form for the holders of the consulted positions;
* reassigning a task and answering a consultation (a page each, used by the
  task page's forms and without JavaScript);
* rebalancing a unit: propose a reassignment of its ready tasks that evens out
  the load, preview the moves and everyone's load before and after (a bar chart
  and the Gini coefficients), apply or discard it;
* the fairness report of a period — load per person per position (table and
  bars), its spread (Gini coefficient, Lorenz curve), manual overrides and how
  concentrated each assigner's picks are — and its Excel export.

Writes call one `rantai.roles` service each, which decides again; reads keep a
fixed number of queries. Partners see neither the rationale nor the report
(404); they see the consultations of their own party's tasks.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.contrib import messages
from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import redirect
from django.urls import reverse
from django.utils import timezone
from django.utils.http import url_has_allowed_host_and_scheme
from django.utils.translation import get_language, ngettext
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from rantai.accounts.access import Access
from rantai.chains import queries as chains_queries
from rantai.chains import services as chains_services
from rantai.chains.models import OPEN_TASK_STATUSES, RunStatus, Task
from rantai.core.errors import Conflict, ValidationFailed
from rantai.org.models import Holding, Party, PartyKind, Person
from rantai.roles import assigning, consulting, fairness, rebalancing
from rantai.roles import queries as roles_queries
from rantai.roles.models import (
    Assignment,
    Consultation,
    ConsultationStatus,
    RebalanceProposal,
    RebalanceStatus,
)
from rantai.web import forms_assignment
from rantai.web.access import handle_form, org_view, render_page
from rantai.web.svg.fairness import LorenzLabels, render_lorenz
from rantai.web.svg.workload import BarLabels, BarRow, Series, render_bars
from rantai.workload.numbers import format_decimal

XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
# The default period of the fairness report: the last 90 days, today included.
DEFAULT_PERIOD_DAYS = 90
# The bar chart draws the most loaded people; the table lists everyone.
CHART_PEOPLE = 40


# --- shared helpers -----------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    """The caller's access; partners see nothing of these pages (404)."""
    access: Access = request.access  # type: ignore[attr-defined]
    if not access.sees_whole_organisation:
        raise Http404
    return access


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _positive_int(value: str | None) -> int | None:
    try:
        number = int(value or "")
    except ValueError:
        return None
    return number if number > 0 else None


def _language() -> str:
    return get_language() or "en"


def _today(access: Access) -> dt.date:
    zone = zoneinfo.ZoneInfo(access.organisation.time_zone)
    return timezone.now().astimezone(zone).date()


def hours(minutes: int) -> str:
    """Minutes of work as hours the reader's way, one decimal at most: 7,5."""
    value = (Decimal(minutes) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return format_decimal(value.normalize() if value else Decimal(0), None, _language())


def percent(share: Decimal) -> str:
    """A share (0 to 1) in percent the reader's way: 42,5 %."""
    value = (share * 100).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    text = format_decimal(value.normalize() if value else Decimal(0), None, _language())
    return f"{text} %"


def decimal_text(value: Decimal, places: int = 2) -> str:
    return format_decimal(value, places, _language())


def _download(data: bytes, content_type: str, file_name: str) -> HttpResponse:
    response = HttpResponse(data, content_type=content_type)
    response["Content-Disposition"] = f'attachment; filename="{file_name}"'
    response["Cache-Control"] = "no-store"
    response["X-Content-Type-Options"] = "nosniff"
    return response


def _next_url(request: HttpRequest, default: str) -> str:
    """Where to go after an action: the page it was pressed on, if it is ours."""
    wanted = request.POST.get("next") or request.GET.get("next") or ""
    if wanted and url_has_allowed_host_and_scheme(
        wanted, allowed_hosts={request.get_host()}, require_https=request.is_secure()
    ):
        return wanted
    return default


# --- the task page: rationale, reassigning, consultations ---------------------------


@dataclass
class CandidateRow:
    """Someone the task could go to, as the policy sees them now."""

    person_id: int
    name: str
    hours: str
    open_count: int
    acting: bool
    covers_duty: bool
    available: bool
    eligible: bool
    is_assignee: bool


@dataclass
class Choices:
    """The reassign form's people: the policy's candidates (least loaded first),
    then everyone else of the organisation (an override)."""

    candidates: list[CandidateRow]
    holders: list[CandidateRow]  # every holder, eligible or not, for the table
    others: list[tuple[int, str]]
    names: dict[int, str]  # everyone who may be chosen

    def form_choices(self) -> tuple[list[tuple[int, str]], list[tuple[int, str]]]:
        candidates = [
            (
                row.person_id,
                _("%(person)s (%(hours)s h of open work)")
                % {"person": row.name, "hours": row.hours},
            )
            for row in self.candidates
            if not row.is_assignee
        ]
        return candidates, self.others


def reassign_choices(access: Access, task: Task, *, now: dt.datetime) -> Choices:
    """The policy's candidates for the task as it stands now (holders of its
    responsible position who cover the duty and are not away, with their open
    work) and the organisation's other active people. The candidates' queries
    (`assigning.candidates_for`) and one for the people."""
    pool = assigning.candidates_for(
        access.organisation.pk, [assigning.work_of(task)], now=now
    )[task.pk]
    names = dict(
        Person.objects.filter(
            organisation=access.organisation, is_active=True, party__isnull=True
        )
        .order_by("full_name", "pk")
        .values_list("pk", "full_name")
    )
    rows = [
        CandidateRow(
            person_id=candidate.person_id,
            name=names.get(candidate.person_id, ""),
            hours=hours(candidate.load),
            open_count=candidate.open_count,
            acting=candidate.acting,
            covers_duty=candidate.covers_duty,
            available=candidate.available,
            eligible=candidate.eligible,
            is_assignee=candidate.person_id == task.assignee_id,
        )
        for candidate in sorted(pool, key=lambda c: (c.load, c.open_count, c.person_id))
    ]
    eligible = {row.person_id for row in rows if row.eligible}
    others = [
        (pk, name)
        for pk, name in names.items()
        if pk not in eligible and pk != task.assignee_id
    ]
    return Choices(
        candidates=[row for row in rows if row.eligible],
        holders=rows,
        others=others,
        names=names,
    )


@dataclass
class ConsultationRow:
    consultation: Consultation
    is_current: bool  # of the task's current round
    may_answer: bool


def _may_reassign_now(task: Task) -> bool:
    """The task can be given to someone by hand at all (before asking who may)."""
    return (
        task.run.status == RunStatus.ACTIVE
        and task.status in assigning.OPEN_STATUSES
        and task.responsible_position_id is not None
    )


def task_panels(
    access: Access,
    task: Task,
    *,
    actor: chains_services.Actor,
    now: dt.datetime,
) -> dict[str, Any]:
    """The task page's assignment and consultation panels. A fixed number of
    queries: the assignments and the names in their rationale (not for
    partners), whether the caller may reassign (and then the candidates and the
    people) and the consultations."""
    history: list[Assignment] = []
    rationale: list[str] = []
    form = None
    choices = None
    if access.sees_whole_organisation:
        history = list(
            Assignment.objects.filter(task_id=task.pk)
            .select_related("person", "previous_person", "assigned_by")
            .order_by("-created_at", "-id")
        )
        if history:
            rationale = assigning.explain(history[0])
        if _may_reassign_now(task) and assigning.may_assign(task, access.user, now=now):
            choices = reassign_choices(access, task, now=now)
            candidates, others = choices.form_choices()
            form = forms_assignment.ReassignForm(
                initial={"version": task.version},
                candidates=candidates,
                others=others,
                auto_id="reassign-%s",
            )
    consultations = [
        ConsultationRow(
            consultation=consultation,
            is_current=consultation.round == task.reopen_count,
            may_answer=consultation.status == ConsultationStatus.REQUESTED
            and consultation.round == task.reopen_count
            and task.status in OPEN_TASK_STATUSES
            and actor.holds(consultation.position_id),
        )
        for consultation in Consultation.objects.filter(task_id=task.pk)
        .select_related("position", "answered_by")
        .order_by("-round", "position__title", "id")
    ]
    return {
        "history": history,
        "rationale": rationale,
        "reassign_form": form,
        "choices": choices,
        "consultations": consultations,
        "waiting_consultations": sum(
            1
            for row in consultations
            if row.is_current
            and row.consultation.status == ConsultationStatus.REQUESTED
        ),
    }


def _task_url(access: Access, task: Task) -> str:
    return _url("task-detail", access, task.pk)


@org_view
@require_http_methods(["GET", "POST"])
def task_reassign(request: HttpRequest, pk: int) -> HttpResponse:
    """Give an open task to someone else (administrators, the holders of the
    procedure's owner position or of the task's accountable position): the
    policy's candidates with their open work, anyone else as an override with a
    reason."""
    access = _access(request)
    now = timezone.now()
    task = (
        chains_queries.tasks(access)
        .select_related("run__procedure", "assignee", "responsible_position", "step")
        .filter(pk=pk)
        .first()
    )
    if task is None:
        raise Http404
    task.run.organisation = access.organisation
    task.organisation = access.organisation
    if not assigning.may_assign(task, access.user, now=now):
        raise DjangoPermissionDenied
    back = _task_url(access, task) + "#assignment"
    open_now = _may_reassign_now(task)
    choices = reassign_choices(access, task, now=now) if open_now else None
    candidates, others = choices.form_choices() if choices else ([], [])
    form = forms_assignment.ReassignForm(
        request.POST if request.method == "POST" else None,
        initial={"version": task.version},
        candidates=candidates,
        others=others,
    )

    def save(data: dict[str, Any]) -> str:
        person = Person.objects.get(organisation=access.organisation, pk=data["person"])
        assigning.assign_task(
            task,
            actor=access.user,
            person=person,
            reason=data["reason"],
            expected_version=data["version"],
        )
        return _next_url(request, back)

    name = (
        choices.names.get(form.cleaned_data["person"], "")
        if choices is not None and request.method == "POST" and form.is_valid()
        else ""
    )
    return handle_form(
        request,
        form,
        save,
        success=_("“%(task)s” was assigned to %(person)s.")
        % {"task": task.name, "person": name},
        page=lambda status: render_page(
            request,
            "web/assignment/reassign.html",
            status=status,
            nav="runs",
            task=task,
            run=task.run,
            form=form,
            choices=choices,
            open_now=open_now,
            cancel_url=back,
            next_url=_next_url(request, back),
        ),
    )


@org_view
@require_http_methods(["GET", "POST"])
def consultation_answer(request: HttpRequest, pk: int) -> HttpResponse:
    """A consulted position's holder gives their input on a task."""
    access: Access = request.access  # type: ignore[attr-defined]
    # Of a task the caller sees, or asked of a position they hold (else 404).
    consultation = roles_queries.consultation(access, pk)
    task = consultation.task
    task.run.organisation = access.organisation
    actor = chains_services.actor(
        access.organisation, access.user, membership=access.membership
    )
    if not actor.holds(consultation.position_id):
        raise DjangoPermissionDenied
    back = _url("task-detail", access, task.pk) + "#consultations"
    form = forms_assignment.AnswerForm(
        request.POST if request.method == "POST" else None,
        initial={"version": consultation.version},
    )

    def save(data: dict[str, Any]) -> str:
        consulting.answer(
            consultation,
            actor=access.user,
            answer=data["answer"],
            expected_version=data["version"],
        )
        return _next_url(request, back)

    return handle_form(
        request,
        form,
        save,
        success=_("Thank you: your input on “%(task)s” was given.")
        % {"task": task.name},
        page=lambda status: render_page(
            request,
            "web/assignment/answer.html",
            status=status,
            nav="focus",
            task=task,
            run=task.run,
            consultation=consultation,
            form=form,
            cancel_url=back,
            next_url=_next_url(request, back),
        ),
    )


# --- rebalancing a unit -------------------------------------------------------------

# Proposals listed on a unit's rebalancing page.
PROPOSALS_SHOWN = 10
# The before/after chart draws at most this many people (those whose load changes
# most); the table lists everyone.
CHART_MOVES_PEOPLE = 40


def _unit(access: Access, party_pk: int) -> Party:
    """An internal unit of the organisation (404 otherwise)."""
    unit = (
        Party.objects.filter(
            organisation=access.organisation,
            kind=PartyKind.INTERNAL_UNIT,
            pk=party_pk,
        )
        .select_related("head_position")
        .first()
    )
    if unit is None:
        raise Http404
    return unit


def _rebalance_rights(access: Access, unit: Party) -> bool:
    """Whether the caller may propose, apply and discard (administrators and the
    holders of the unit's head position); others who may read the unit's
    proposals are auditors. Anyone else: 403."""
    may = rebalancing.may_rebalance(unit, access.user)
    if not may and not access.is_auditor:
        raise DjangoPermissionDenied
    return may


@org_view
@require_http_methods(["GET", "HEAD", "POST"])
def unit_rebalance(request: HttpRequest, party_pk: int) -> HttpResponse:
    """A unit's rebalancing: its proposals and, for those who may, a button that
    proposes a new one (POST) and shows it."""
    access = _access(request)
    unit = _unit(access, party_pk)
    may = _rebalance_rights(access, unit)
    error = ""
    status = 200
    if request.method == "POST":
        if not may:
            raise DjangoPermissionDenied
        try:
            proposal = rebalancing.propose(unit, actor=access.user)
        except ValidationFailed as failure:
            error = failure.message
            status = 422
        else:
            messages.success(
                request,
                ngettext(
                    "A rebalancing was proposed: %(count)d task would move.",
                    "A rebalancing was proposed: %(count)d tasks would move.",
                    len(proposal.moves),
                )
                % {"count": len(proposal.moves)},
            )
            return redirect(_url("rebalance-proposal", access, unit.pk, proposal.pk))
    proposals = list(
        RebalanceProposal.objects.filter(organisation=access.organisation, unit=unit)
        .select_related("created_by", "decided_by")
        .order_by("-created_at", "-id")[:PROPOSALS_SHOWN]
    )
    return render_page(
        request,
        "web/assignment/rebalance.html",
        status=status,
        nav="chart",
        unit=unit,
        may_rebalance=may,
        proposals=[
            {
                "proposal": proposal,
                "moves": len(proposal.moves),
                "gini_before": decimal_text(proposal.gini_before, 2),
                "gini_after": decimal_text(proposal.gini_after, 2),
            }
            for proposal in proposals
        ],
        error=error,
    )


@dataclass
class MoveRow:
    task_id: int
    task: Task | None
    from_name: str
    to_name: str
    hours: str


@dataclass
class LoadLine:
    person_id: int
    name: str
    before: int
    after: int
    before_hours: str
    after_hours: str

    @property
    def change(self) -> int:
        return self.after - self.before

    @property
    def change_hours(self) -> str:
        text = hours(abs(self.change))
        if self.change > 0:
            return f"+{text}"
        if self.change < 0:
            return f"−{text}"
        return "0"


def _proposal(access: Access, unit: Party, pk: int) -> RebalanceProposal:
    proposal = (
        RebalanceProposal.objects.filter(
            organisation=access.organisation, unit=unit, pk=pk
        )
        .select_related("created_by", "decided_by")
        .first()
    )
    if proposal is None:
        raise Http404
    return proposal


def _load_lines(proposal: RebalanceProposal) -> list[LoadLine]:
    """Everyone of the proposal with their load before and after (one query for
    the names), the most loaded before first."""
    before = {int(pk): minutes for pk, minutes in proposal.load_before.items()}
    after = {int(pk): minutes for pk, minutes in proposal.load_after.items()}
    people = sorted(set(before) | set(after))
    names = dict(Person.objects.filter(pk__in=people).values_list("pk", "full_name"))
    lines = [
        LoadLine(
            person_id=pk,
            name=names.get(pk, ""),
            before=before.get(pk, 0),
            after=after.get(pk, 0),
            before_hours=hours(before.get(pk, 0)),
            after_hours=hours(after.get(pk, 0)),
        )
        for pk in people
    ]
    lines.sort(key=lambda line: (-line.before, line.name, line.person_id))
    return lines


def _moves(proposal: RebalanceProposal, names: dict[int, str]) -> list[MoveRow]:
    """The proposal's moves with their tasks (one query)."""
    ids = [move["task"] for move in proposal.moves]
    tasks = {
        task.pk: task
        for task in Task.objects.filter(pk__in=ids).select_related(
            "run", "responsible_position"
        )
    }
    rows = [
        MoveRow(
            task_id=move["task"],
            task=tasks.get(move["task"]),
            from_name=names.get(move["from"], "") if move["from"] else "",
            to_name=names.get(move["to"], ""),
            hours=hours(move["minutes"]),
        )
        for move in proposal.moves
    ]
    rows.sort(key=lambda row: (row.to_name, row.task_id))
    return rows


def _moves_chart(proposal: RebalanceProposal, lines: list[LoadLine]) -> str:
    if not lines:
        return ""
    shown = [line for line in lines if line.change] or lines
    if len(shown) > CHART_MOVES_PEOPLE:
        shown = sorted(shown, key=lambda line: -abs(line.change))[:CHART_MOVES_PEOPLE]
        shown.sort(key=lambda line: (-line.before, line.name, line.person_id))
    rows = [
        BarRow(
            id=line.person_id,
            label=line.name,
            sublabel=_("change: %(change)s h") % {"change": line.change_hours}
            if line.change
            else "",
            values=(Decimal(line.before) / 60, Decimal(line.after) / 60),
            texts=(f"{line.before_hours} h", f"{line.after_hours} h"),
        )
        for line in shown
    ]
    return render_bars(
        rows,
        series=[
            Series("before", _("Before"), "muted"),
            Series("after", _("After the proposal"), "primary"),
        ],
        labels=BarLabels(
            description=_(
                "Each person's open work before and after the proposed moves, in "
                "hours of estimated work."
            ),
            axis=_("hours"),
        ),
        number=lambda value: format_decimal(value, None, _language()),
        title=_("Load before and after"),
        id_prefix=f"rebalance-{proposal.pk}",
    )


def _proposal_page(
    request: HttpRequest,
    access: Access,
    unit: Party,
    proposal: RebalanceProposal,
    *,
    may: bool,
    status: int = 200,
    conflict: str = "",
    error: str = "",
) -> HttpResponse:
    lines = _load_lines(proposal)
    names = {line.person_id: line.name for line in lines}
    maximum_before = max((line.before for line in lines), default=0)
    maximum_after = max((line.after for line in lines), default=0)
    return render_page(
        request,
        "web/assignment/proposal.html",
        status=status,
        nav="chart",
        unit=unit,
        proposal=proposal,
        may_decide=may and proposal.status == RebalanceStatus.PROPOSED,
        moves=_moves(proposal, names),
        lines=lines,
        chart=_moves_chart(proposal, lines),
        gini_before=decimal_text(proposal.gini_before, 2),
        gini_after=decimal_text(proposal.gini_after, 2),
        max_before=hours(maximum_before),
        max_after=hours(maximum_after),
        conflict=conflict,
        error=error,
    )


@org_view
@require_http_methods(["GET", "HEAD"])
def rebalance_proposal(request: HttpRequest, party_pk: int, pk: int) -> HttpResponse:
    """A proposal: the moves, everyone's load before and after with the Gini
    coefficients, and the buttons to apply or discard it."""
    access = _access(request)
    unit = _unit(access, party_pk)
    may = _rebalance_rights(access, unit)
    return _proposal_page(request, access, unit, _proposal(access, unit, pk), may=may)


def _decide_proposal(
    request: HttpRequest, party_pk: int, pk: int, *, applying: bool
) -> HttpResponse:
    access = _access(request)
    unit = _unit(access, party_pk)
    if not _rebalance_rights(access, unit):
        raise DjangoPermissionDenied
    proposal = _proposal(access, unit, pk)
    back = _url("rebalance-proposal", access, unit.pk, proposal.pk)
    if request.method != "POST":
        return redirect(back)
    form = forms_assignment.ProposalForm(request.POST)
    if not form.is_valid():
        return _proposal_page(
            request,
            access,
            unit,
            proposal,
            may=True,
            status=400,
            error=_("The page was incomplete: nothing was changed. Try again."),
        )
    service = rebalancing.apply if applying else rebalancing.discard
    try:
        service(
            proposal, actor=access.user, expected_version=form.cleaned_data["version"]
        )
    except Conflict as failure:
        proposal.refresh_from_db()
        return _proposal_page(
            request,
            access,
            unit,
            proposal,
            may=True,
            status=409,
            conflict=failure.message,
        )
    except ValidationFailed as failure:
        proposal.refresh_from_db()
        return _proposal_page(
            request, access, unit, proposal, may=True, status=422, error=failure.message
        )
    if applying:
        messages.success(
            request,
            ngettext(
                "The rebalancing was applied: %(count)d task was moved.",
                "The rebalancing was applied: %(count)d tasks were moved.",
                len(proposal.moves),
            )
            % {"count": len(proposal.moves)},
        )
    else:
        messages.success(request, _("The proposal was discarded; nothing was moved."))
    return redirect(back)


@org_view
@require_http_methods(["GET", "POST"])
def rebalance_apply(request: HttpRequest, party_pk: int, pk: int) -> HttpResponse:
    return _decide_proposal(request, party_pk, pk, applying=True)


@org_view
@require_http_methods(["GET", "POST"])
def rebalance_discard(request: HttpRequest, party_pk: int, pk: int) -> HttpResponse:
    return _decide_proposal(request, party_pk, pk, applying=False)


# --- the fairness report ------------------------------------------------------------


def viewable_units(access: Access, today: dt.date) -> list[Party]:
    """The internal units whose report the caller may read: every unit for
    administrators and auditors; for a member, the units whose head position they
    hold (acting included) and the units below them (`fairness.may_view`'s rule).
    Two queries at most."""
    units = list(
        Party.objects.filter(
            organisation=access.organisation, kind=PartyKind.INTERNAL_UNIT
        ).order_by("name", "pk")
    )
    if access.is_admin or access.is_auditor:
        return [unit for unit in units if unit.is_active]
    held = set(
        Holding.objects.current(today)
        .filter(
            organisation=access.organisation,
            person__user=access.user,
            person__is_active=True,
        )
        .values_list("position_id", flat=True)
    )
    children: dict[int | None, list[int]] = defaultdict(list)
    for unit in units:
        children[unit.parent_id].append(unit.pk)
    allowed: set[int] = set()
    stack = [unit.pk for unit in units if unit.head_position_id in held]
    while stack:
        pk = stack.pop()
        if pk not in allowed:
            allowed.add(pk)
            stack.extend(children.get(pk, []))
    return [unit for unit in units if unit.pk in allowed and unit.is_active]


@dataclass
class PositionBlock:
    """A position of the report with its holders' loads."""

    spread: fairness.PositionSpread
    gini: str
    hours: str
    rows: list[dict[str, Any]] = field(default_factory=list)


def _position_blocks(report: fairness.FairnessReport) -> list[PositionBlock]:
    spreads = {spread.position_id: spread for spread in report.positions}
    blocks: dict[int, PositionBlock] = {}
    for row in report.rows:
        spread = spreads[row.position_id]
        block = blocks.get(row.position_id)
        if block is None:
            block = blocks[row.position_id] = PositionBlock(
                spread=spread,
                gini=decimal_text(spread.gini, 2),
                hours=hours(spread.minutes),
            )
        block.rows.append(
            {
                "row": row,
                "hours": hours(row.minutes),
                "share": percent(Decimal(row.minutes) / spread.minutes)
                if spread.minutes
                else "—",
            }
        )
    return list(blocks.values())


def _load_chart(report: fairness.FairnessReport) -> str:
    if not report.people:
        return ""
    positions: dict[int, list[str]] = defaultdict(list)
    for row in report.rows:
        positions[row.person_id].append(row.position_title)
    rows = [
        BarRow(
            id=person.person_id,
            label=person.person_name,
            sublabel=", ".join(positions[person.person_id]),
            values=(Decimal(person.minutes) / 60,),
            texts=(f"{hours(person.minutes)} h",),
            tooltip=ngettext("%(count)d task", "%(count)d tasks", person.tasks)
            % {"count": person.tasks},
        )
        for person in report.people[:CHART_PEOPLE]
    ]
    return render_bars(
        rows,
        series=[Series("load", _("Estimated work (hours)"))],
        labels=BarLabels(
            description=_(
                "The estimated work of the tasks assigned to each person in the "
                "period, most loaded first."
            ),
            axis=_("hours"),
        ),
        number=lambda value: format_decimal(value, None, _language()),
        title=_("Load per person"),
        id_prefix="fairness-load",
    )


def _lorenz_chart(report: fairness.FairnessReport) -> str:
    if not report.people:
        return ""
    return render_lorenz(
        report.lorenz,
        labels=LorenzLabels(
            description=_(
                "The Lorenz curve: the share of the work carried by the least "
                "loaded people. The further it sags below the diagonal, the more "
                "the work falls on a few."
            ),
            people_axis=_("Share of people, least loaded first"),
            work_axis=_("Share of the work"),
            equality=_("Everyone carries the same"),
            curve=_("How the work was shared"),
            gini=_("Gini coefficient"),
        ),
        gini_text=decimal_text(report.gini, 2),
        percent=lambda value: f"{value} %",
        title=_("Lorenz curve"),
        id_prefix="fairness-lorenz",
    )


def _period(
    form: forms_assignment.FairnessFilterForm, today: dt.date
) -> tuple[dt.date, dt.date]:
    data = form.cleaned_data if form.is_valid() else {}
    until = data.get("until") or today
    since = data.get("since") or until - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1)
    if since > until:
        since = until
    return since, until


@org_view
@require_http_methods(["GET", "HEAD"])
def fairness_report(request: HttpRequest) -> HttpResponse:
    """Who carried how much work in a period, how evenly, and whether those who
    assign by hand keep picking the same people; `?format=xlsx` downloads it."""
    access = _access(request)
    today = _today(access)
    units = viewable_units(access, today)
    if not units and not (access.is_admin or access.is_auditor):
        raise DjangoPermissionDenied
    whole = access.is_admin or access.is_auditor
    form = forms_assignment.FairnessFilterForm(
        request.GET or None,
        units=units,
        whole=whole,
        initial={
            "since": today - dt.timedelta(days=DEFAULT_PERIOD_DAYS - 1),
            "until": today,
        },
    )
    if form.is_bound and "unit" in form.errors:
        # Another organisation's unit, or one the caller may not read.
        wanted = _positive_int(request.GET.get("unit"))
        if (
            wanted is not None
            and Party.objects.filter(
                organisation=access.organisation, pk=wanted
            ).exists()
        ):
            raise DjangoPermissionDenied
        raise Http404
    since, until = _period(form, today)
    by_id = {unit.pk: unit for unit in units}
    unit = by_id.get(form.cleaned_data.get("unit") or 0) if form.is_valid() else None
    if unit is None and not whole:
        unit = units[0]  # a member reads the report of a unit they head
    if not fairness.may_view(access, unit=unit, on=today):
        raise DjangoPermissionDenied
    report = fairness.report(access.organisation, since=since, until=until, unit=unit)
    if request.GET.get("format") == "xlsx":
        scope = unit.code if unit is not None else access.organisation.slug
        return _download(
            fairness.to_excel(report, language=_language()),
            XLSX_CONTENT_TYPE,
            f"fairness-{scope}-{since:%Y%m%d}-{until:%Y%m%d}.xlsx".lower(),
        )
    query = request.GET.copy()
    query["format"] = "xlsx"
    query["since"], query["until"] = since.isoformat(), until.isoformat()
    if unit is not None:
        query["unit"] = str(unit.pk)
    return render_page(
        request,
        "web/assignment/fairness.html",
        nav="fairness",
        tab="fairness",
        form=form,
        report=report,
        unit=unit,
        since=since,
        until=until,
        gini=decimal_text(report.gini, 2),
        blocks=_position_blocks(report),
        people=[
            {"person": person, "hours": hours(person.minutes)}
            for person in report.people
        ],
        overrides=[
            {"item": item, "share": percent(item.share)} for item in report.overrides
        ],
        concentration=[
            {
                "item": item,
                "share": percent(item.share),
                "expected": percent(item.expected_share),
                "ratio": decimal_text(item.ratio, 2),
            }
            for item in report.concentration
        ],
        override_count=sum(item.overrides for item in report.overrides),
        flag_picks=fairness.FLAG_MIN_PICKS,
        flag_ratio=decimal_text(fairness.FLAG_MIN_RATIO, 0),
        load_chart=_load_chart(report),
        lorenz_chart=_lorenz_chart(report),
        chart_limited=len(report.people) > CHART_PEOPLE,
        chart_people=CHART_PEOPLE,
        excel_url=f"{request.path}?{query.urlencode()}",
    )
