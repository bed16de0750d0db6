from __future__ import annotations

import datetime as dt
from typing import Any

from django.conf import settings
from django.core.management import BaseCommand
from django.utils import timezone

from rantai.accounts.access import access_for
from rantai.accounts.models import Organisation
from rantai.approvals import queries, routes
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    Outcome,
    RequestStatus,
    ResolutionCause,
    RouteStage,
    StageStatus,
)
from rantai.approvals.services import request_path
from rantai.chains import projection
from rantai.chains.calendar import (
    CalendarSpec,
    minutes_per_working_day,
    working_minutes_between,
)
from rantai.cli.management.commands import _output as out
from rantai.core.errors import NotFound


class Command(BaseCommand):
    help = (
        "Approval requests: `rantai approvals pending --org SLUG --user USERNAME "
        "[--json]` lists what waits for that user's decision now — in their own "
        "slot or on behalf of someone who delegated to them (a.n.) — soonest due "
        "first, with the working time left; `rantai approvals show ID --org SLUG` "
        "prints a request's coordination map: its stages, who approves each and how "
        "they were found, every decision (with a.n.), how long each stage took and "
        "every resolution of its approvers. Exit code 2: the organisation, user or "
        "request does not exist."
    )
    # Tests pass a fixed clock; everyone else reads as of now.
    stealth_options = ("now",)

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)
        pending = sub.add_parser(
            "pending", help="What waits for a user's decision, soonest due first."
        )
        pending.add_argument("--org", required=True, help="organisation slug")
        pending.add_argument(
            "--user", required=True, metavar="USERNAME", help="whose decisions"
        )
        pending.add_argument("--json", action="store_true", help="write JSON")
        show = sub.add_parser("show", help="Print a request's coordination map.")
        show.add_argument("request_id", metavar="ID", help="the request's id")
        show.add_argument("--org", required=True, help="organisation slug")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        now = options.get("now") or timezone.now()
        with out.quiet_broken_pipe():
            organisation = out.organisation(options["org"])
            if options["action"] == "pending":
                self._pending(
                    organisation, options["user"], now, as_json=options["json"]
                )
            else:
                self._show(organisation, options["request_id"], now)

    # --- pending ------------------------------------------------------------------------

    def _pending(
        self,
        organisation: Organisation,
        username: str,
        now: dt.datetime,
        *,
        as_json: bool,
    ) -> None:
        user = out.active_user(username)
        try:
            access = access_for(user, organisation.slug)
        except NotFound as error:
            raise out.bad_input(
                f"{user.username} is not a member of {organisation.slug}."
            ) from error
        waiting = queries.pending_for(access, now=now)
        for item in waiting:
            item.request.organisation = organisation  # for its page's address
        calendar = projection.calendar_spec(organisation)
        day_minutes = minutes_per_working_day(calendar)
        if as_json:
            self.stdout.write(
                out.to_json([_pending_data(p, calendar, now) for p in waiting])
            )
            return
        if not waiting:
            self.stdout.write(f"Nothing waits for {user.username}'s decision.")
            return
        rows = []
        for item in waiting:
            stage, request = item.stage, item.request
            rows.append(
                [
                    str(request.pk),
                    request.title,
                    f"{stage.order}. {stage.stage.name}",
                    f"a.n. {item.on_behalf_of.full_name}" if item.on_behalf_of else "-",
                    request.requester.full_name,
                    out.local(stage.due_at, organisation),
                    _time_left(stage.due_at, calendar, now, day_minutes),
                ]
            )
        header = [
            "ID",
            "REQUEST",
            "STAGE",
            "ON BEHALF OF",
            "REQUESTED BY",
            "DUE",
            "TIME LEFT",
        ]
        for line in out.table(header, rows, right=(0,)):
            self.stdout.write(line)
        self.stdout.write(
            f"Times in {organisation.time_zone}; time left in working time."
        )

    # --- show ---------------------------------------------------------------------------

    def _show(self, organisation: Organisation, raw_id: str, now: dt.datetime) -> None:
        try:
            request_id = int(raw_id)
        except ValueError:
            raise out.bad_input(f"A request id is a number, not {raw_id!r}.") from None
        try:
            detail = queries.request_detail(
                out.reader(organisation), request_id, now=now
            )
        except NotFound as error:
            raise out.bad_input(
                f"No approval request with the id {request_id} in {organisation.slug}."
            ) from error
        request = detail.request
        route_stages = {
            stage.pk: stage for stage in routes.stages_of(request.route_version)
        }
        calendar = projection.calendar_spec(organisation)
        day_minutes = minutes_per_working_day(calendar)
        write = self.stdout.write
        version = request.route_version
        write(f"Request {request.pk}: {request.title}")
        about = f"{request.get_subject_kind_display()} ({request.subject_kind} {request.subject_id})"
        if request.run_id:
            about += f", run {request.run_id}"
        write(f"About: {about}")
        write(f"Route: {version.route.code} v{version.number}, {version.route.name}")
        asked_as = (
            f" as {request.requester_position.title} ({request.requester_position.code})"
            if request.requester_position
            else ""
        )
        write(
            f"Requested by {request.requester.full_name}{asked_as}, "
            f"{out.local(request.submitted_at, organisation)}"
        )
        write(f"Status: {_status_text(detail, organisation)}")
        write(f"Page: {_page(request)}")
        write(
            f"Times in {organisation.time_zone}; time left in working time, "
            "durations in calendar time."
        )
        for view in detail.stages:
            write("")
            self._stage(view, route_stages, organisation, calendar, day_minutes, now)

    def _stage(
        self,
        view: queries.StageView,
        route_stages: dict[int, RouteStage],
        organisation: Organisation,
        calendar: CalendarSpec,
        day_minutes: int,
        now: dt.datetime,
    ) -> None:
        write = self.stdout.write
        stage = view.stage
        route_stage = route_stages.get(stage.stage_id, stage.stage)
        status = stage.get_status_display()
        if stage.round > 1:
            status += f", round {stage.round}"
        write(f"Stage {stage.order}: {route_stage.name} — {status}")
        limit = (
            f"; {route_stage.time_limit_hours} working h, then "
            f"{route_stage.get_on_timeout_display()}"
            if route_stage.time_limit_hours
            else "; no time limit"
        )
        write(
            f"  Who: {out.approvers_text(route_stage)}; {out.mode_text(route_stage)}{limit}"
        )
        if stage.opened_at is not None:
            timing = f"  Opened {out.local(stage.opened_at, organisation)}"
            if stage.status == StageStatus.OPEN:
                timing += (
                    f", open for {out.wall_span(view.duration or dt.timedelta(0))}"
                )
                if stage.due_at is not None:
                    timing += (
                        f"; due {out.local(stage.due_at, organisation)}, "
                        f"{_time_left(stage.due_at, calendar, now, day_minutes)}"
                    )
                if stage.required > 1:
                    timing += f"; {view.approvals} of {stage.required} approvals"
            elif stage.closed_at is not None:
                timing += (
                    f", closed {out.local(stage.closed_at, organisation)}, took "
                    f"{out.wall_span(view.duration or dt.timedelta(0))}"
                )
            if stage.escalations:
                times = (
                    "once" if stage.escalations == 1 else f"{stage.escalations} times"
                )
                timing += f"; escalated {times}"
            write(timing)
        if stage.status == StageStatus.WAITING:
            write("  Its approvers are found when it opens.")
        elif view.approvers:
            write("  Approvers:")
            rows = [
                [
                    approver.person.full_name + (" (Plt)" if approver.acting else ""),
                    approver.via_text,
                    _slot_text(approver.decision, stage.status, organisation),
                ]
                for approver in view.approvers
            ]
            for line in out.table(["PERSON", "FOUND AS", "DECISION"], rows):
                write(f"    {line}")
        if view.decisions:
            write("  Decisions:")
            for decision in view.decisions:
                write(f"    {_decision_text(decision, stage.round, organisation)}")
        if view.resolutions:
            write("  Resolutions of its approvers:")
            for resolution in view.resolutions:
                names = ", ".join(
                    entry["person_name"] or f"#{entry['person']}"
                    for entry in resolution.approvers
                )
                cause = ResolutionCause(resolution.cause).label
                write(
                    f"    {out.local(resolution.resolution.at, organisation)}  "
                    f"round {resolution.resolution.round}, {cause}: {names or '-'}"
                )


# --- helpers --------------------------------------------------------------------------


def _page(request: ApprovalRequest) -> str:
    """The request's page, as people open it (`RANTAI_BASE_URL`)."""
    return settings.RANTAI_BASE_URL.rstrip("/") + request_path(request)


def _time_left(
    due_at: dt.datetime | None,
    calendar: CalendarSpec,
    now: dt.datetime,
    day_minutes: int,
) -> str:
    """Working time left until the stage's time limit, or how long it is overdue."""
    if due_at is None:
        return "no time limit"
    if due_at < now:
        minutes = working_minutes_between(calendar, due_at, now)
        span = (
            out.working_span(minutes, day_minutes)
            if minutes
            else out.wall_span(now - due_at)
        )
        return f"overdue by {span}"
    return f"{out.working_span(working_minutes_between(calendar, now, due_at), day_minutes)} left"


def _pending_data(
    item: queries.Pending, calendar: CalendarSpec, now: dt.datetime
) -> dict[str, Any]:
    stage, request = item.stage, item.request
    working_left: int | None = None
    if stage.due_at is not None:
        working_left = (
            working_minutes_between(calendar, now, stage.due_at)
            if stage.due_at >= now
            else -working_minutes_between(calendar, stage.due_at, now)
        )
    return {
        "id": request.pk,
        "title": request.title,
        "subject_kind": request.subject_kind,
        "subject_id": request.subject_id,
        "run_id": request.run_id,
        "route": {
            "code": request.route_version.route.code,
            "version": request.route_version.number,
        },
        "stage": {"order": stage.order, "name": stage.stage.name, "round": stage.round},
        "requester": {"id": request.requester_id, "name": request.requester.full_name},
        "on_behalf_of": (
            {"id": item.on_behalf_of.pk, "name": item.on_behalf_of.full_name}
            if item.on_behalf_of
            else None
        ),
        "delegation": item.delegation.pk if item.delegation else None,
        "submitted_at": request.submitted_at,
        "due_at": stage.due_at,
        "time_left_seconds": (
            int(item.time_left.total_seconds()) if item.time_left is not None else None
        ),
        "working_minutes_left": working_left,
        "overdue": item.is_overdue,
        "url": _page(request),
    }


def _status_text(detail: queries.RequestDetail, organisation: Organisation) -> str:
    request = detail.request
    if request.status == RequestStatus.OPEN:
        return (
            f"open, stage {request.current_stage} of {len(detail.stages)} is deciding"
        )
    if request.status == RequestStatus.RETURNED:
        return f"returned to {request.requester.full_name} for revision"
    return (
        f"{request.get_status_display()} {out.local(request.finished_at, organisation)}"
    )


def _outcome_text(decision: Decision) -> str:
    return str(Outcome(decision.outcome).label)


def _slot_text(
    decision: Decision | None, stage_status: str, organisation: Organisation
) -> str:
    if decision is not None:
        return (
            f"{_outcome_text(decision)} {out.local(decision.decided_at, organisation)}"
        )
    if stage_status == StageStatus.OPEN:
        return "not decided yet"
    return "did not decide"


def _decision_text(
    decision: Decision, current_round: int, organisation: Organisation
) -> str:
    who = decision.decided_by_person.full_name
    if decision.delegation_id is not None:
        who += f" a.n. {decision.slot_person.full_name}"
    if decision.position is not None:
        who += f" ({decision.position.title})"
    text = f"{out.local(decision.decided_at, organisation)}  {_outcome_text(decision)} by {who}"
    if decision.outcome == Outcome.RETURN:
        text += (
            " to the requester"
            if decision.return_to_stage == 0
            else f" to stage {decision.return_to_stage}"
        )
    if decision.comment:
        text += f": “{decision.comment}”"
    if not decision.is_current or decision.round != current_round:
        text += f" (round {decision.round}; no longer counts)"
    return text
