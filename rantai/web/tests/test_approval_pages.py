"""The approval pages: the inbox, a request's page (its coordination map and the
decision form), the requester's withdrawal and resubmission, nudges, a run's
coordination map, and the run page's approvals — who sees and may do what, that
every decision goes through the form to the service, and that a refused or stale
one writes nothing.

The team (rantai/approvals/tests/conftest.py `build_team`): Dina, an export clerk,
asks; her superior Rina (head of export) decides stage 1, Wawan (head of the
warehouse) stage 2 and Sari (director) stage 3 of the due-date route. Dewi is a
member holding nothing; the auditor reads; the partner sees no request.
"""

from __future__ import annotations

import datetime as dt
import re
from dataclasses import dataclass
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone, translation

from rantai.accounts.models import User
from rantai.approvals import delegation, requesting, routes, services
from rantai.approvals.models import (
    ApprovalRequest,
    ApproverRule,
    Decision,
    Nudge,
    RequestStatus,
    RouteVersion,
    SubjectKind,
)
from rantai.approvals.tests.conftest import Team, build_team
from rantai.audit.models import AuditEvent
from rantai.chains import services as chains
from rantai.chains.models import ProcedureVersion, Run, Task
from rantai.chains.tests.helpers import StepSpec, build_version
from rantai.org import services as org
from rantai.testing import SmallOrg, make_user

CONFLICT = "This record was changed by someone else in the meantime."
REASON = "The customer asked for a later delivery"


# --- fixtures and helpers (test_focus.py and the browser test use them too) -------------


@dataclass
class Coord:
    """The team, a shipment procedure (owned by the head of export) and a published
    three-stage route for due-date changes: the requester's superior, then the head
    of the warehouse, then the director (8 working hours each)."""

    team: Team
    shipment: ProcedureVersion
    route: RouteVersion

    @property
    def o(self) -> SmallOrg:
        return self.team.o

    @property
    def rina(self) -> User:
        return self.team.rina


def build_coord(o: SmallOrg) -> Coord:
    team = build_team(o)
    shipment = build_version(
        o,
        [
            StepSpec("pack", team.warehouse_head, o.export_head),
            StepSpec("ship", o.export_staff, o.export_head, after=["pack"]),
        ],
        code="SHIP",
    )
    route = routes.create_route(
        o.organisation,
        actor=o.admin,
        code="DUE",
        name="Due-date changes",
        subject_kind=SubjectKind.DUE_DATE_CHANGE,
    )
    version = route.versions.get()
    for name, spec in (
        ("Superior", {"rule": ApproverRule.SUPERIOR}),
        ("Warehouse", {"rule": ApproverRule.POSITION, "position": team.warehouse_head}),
        ("Director", {"rule": ApproverRule.POSITION, "position": o.director}),
    ):
        routes.add_stage(version, actor=o.admin, name=name, time_limit_hours=8, **spec)
    routes.publish(
        version,
        actor=o.admin,
        expected_version=None,
        now=timezone.now() - dt.timedelta(days=30),
    )
    version.refresh_from_db()
    return Coord(team=team, shipment=shipment, route=version)


@pytest.fixture
def coord(acme: SmallOrg) -> Coord:
    return build_coord(acme)


def start_run(
    coord: Coord,
    *,
    title: str = "Ship 500 units to Kota A",
    days: int = 30,
    now: dt.datetime | None = None,
) -> Run:
    now = now or timezone.now()
    return chains.start_run(
        coord.shipment,
        actor=coord.o.member,
        title=title,
        objective="Deliver the order",
        measure_quantity=500,
        measure_unit="units",
        due_at=now + dt.timedelta(days=days),
        now=now,
    )


def ask(
    coord: Coord,
    run: Run,
    *,
    days_later: int = 7,
    actor: User | None = None,
    now: dt.datetime | None = None,
) -> ApprovalRequest:
    """Dina asks to move the run's due date along the route."""
    run.refresh_from_db()
    made = requesting.request_due_date_change(
        run,
        actor=actor or coord.team.dina,
        due_at=run.due_at + dt.timedelta(days=days_later),
        reason=REASON,
        now=now,
    )
    assert isinstance(made, ApprovalRequest)
    return made


def decide(
    request: ApprovalRequest, user: User, outcome: str = "approve", **kwargs: Any
) -> Decision:
    request.refresh_from_db()
    if outcome != "approve":
        kwargs.setdefault("comment", "Please attach the customer's letter")
    return services.decide(
        request,
        actor=user,
        outcome=outcome,
        expected_version=request.version,
        **kwargs,
    )


def url(name: str, coord: Coord, *args: object) -> str:
    return reverse(name, args=[coord.o.organisation.slug, *args])


def text(response: Any) -> str:
    return str(response.content.decode())


def assert_csp_clean(response: Any) -> None:
    html = text(response)
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert re.search(r"\son[a-z]+=", html) is None


def section(html: str, element_id: str) -> str:
    """The HTML of the element with this id, up to the end of its section."""
    assert f'id="{element_id}"' in html, element_id
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


def snapshot() -> dict[str, list[Any]]:
    """Every row a decision could change, for 'nothing was written' checks."""
    return {
        "requests": list(ApprovalRequest.objects.order_by("pk").values_list()),
        "decisions": list(Decision.objects.order_by("pk").values_list()),
        "runs": list(Run.objects.order_by("pk").values_list()),
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
    }


def count_queries(client: Any, page: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(page)
    assert response.status_code == 200
    return len(captured.captured_queries)


# --- the request page per role ------------------------------------------------------


def test_the_request_page_shows_the_route_and_what_each_person_may_do(client, coord):
    o, team = coord.o, coord.team
    run = start_run(coord)
    request = ask(coord, run)
    page = url("approval-detail", coord, request.pk)

    # the approver of the open stage: the map and the decision form
    client.force_login(coord.rina)
    response = client.get(page)
    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert "Stage 1 (Superior) is deciding." in html
    assert "Waiting for:" in section(html, "standing-title")
    assert "Rina Kusuma" in section(html, "standing-title")
    assert "Stage 2 (Warehouse): the holders of Head of warehouse." in html
    assert "holder of Head of export" in html  # how Rina was found
    assert 'id="decide"' in html
    assert f'action="{url("approval-decide", coord, request.pk)}"' in html
    assert "Remind the approvers" not in html  # she is the one deciding
    assert "8 working hours" in html or "working hour" in html  # the time limit
    assert "Proposed due date" in html and REASON in html

    # the requester: withdraw, remind; no decision form
    client.force_login(team.dina)
    html = text(client.get(page))
    assert 'id="decide"' not in html
    assert url("approval-withdraw", coord, request.pk) in html
    assert url("approval-nudge", coord, request.pk) in html

    # someone else waiting: may remind, may not withdraw
    client.force_login(team.dewi)
    html = text(client.get(page))
    assert url("approval-nudge", coord, request.pk) in html
    assert url("approval-withdraw", coord, request.pk) not in html
    assert 'id="decide"' not in html

    # the auditor reads the map, with no actions
    client.force_login(o.auditor)
    html = text(client.get(page))
    assert "Stage 1 (Superior) is deciding." in html
    assert "request-actions" not in html and 'id="decide"' not in html

    # a partner and an outsider see nothing
    client.force_login(o.partner)
    assert client.get(page).status_code == 404
    client.force_login(make_user("stranger"))
    assert client.get(page).status_code == 404


def test_delegates_decide_on_behalf_of_the_approver(client, coord):
    team = coord.team
    run = start_run(coord)
    request = ask(coord, run)
    now = timezone.now()
    delegation.delegate(
        team.person("rina"),
        actor=coord.rina,
        delegate=team.person("dewi"),
        starts_at=now - dt.timedelta(hours=1),
        ends_at=now + dt.timedelta(days=3),
    )
    page = url("approval-detail", coord, request.pk)
    client.force_login(team.dewi)

    html = text(client.get(page))
    assert 'id="decide"' in html
    assert "On behalf of (a.n.)" in html
    assert (
        f'<option value="{team.person("rina").pk}" selected>Rina Kusuma</option>'
        in html
    )

    response = client.post(
        url("approval-decide", coord, request.pk),
        {
            "version": request.version,
            "outcome": "approve",
            "comment": "",
            "on_behalf_of": team.person("rina").pk,
        },
    )
    assert response.status_code == 302
    decision = Decision.objects.get(request=request)
    assert decision.slot_person == team.person("rina")
    assert decision.decided_by_person == team.person("dewi")
    html = text(client.get(page))
    assert "by Dewi a.n. Rina Kusuma" in html


def test_the_map_says_how_each_approver_was_found(client, coord):
    """A vacant position passes up to its superior; an acting holder (Plt) decides
    in full."""
    o, team = coord.o, coord.team
    deputy = org.create_position(
        o.organisation,
        actor=o.admin,
        party=o.head_office,
        title="Deputy director",
        code="DEP",
        superior=o.director,
    )
    quality = org.create_position(
        o.organisation,
        actor=o.admin,
        party=o.head_office,
        title="Quality lead",
        code="QL",
        superior=o.director,
    )
    org.assign_holder(
        quality,
        actor=o.admin,
        person=team.person("dewi"),
        start_date=dt.date(2026, 1, 1),
        is_acting=True,
    )
    special = routes.create_route(
        o.organisation,
        actor=o.admin,
        code="DUE-SPECIAL",
        name="Special due dates",
        subject_kind=SubjectKind.DUE_DATE_CHANGE,
        priority=10,
    )
    draft = special.versions.get()
    routes.add_stage(
        draft, actor=o.admin, name="Deputy", rule=ApproverRule.POSITION, position=deputy
    )
    routes.add_stage(
        draft,
        actor=o.admin,
        name="Quality",
        rule=ApproverRule.POSITION,
        position=quality,
    )
    routes.publish(
        draft,
        actor=o.admin,
        expected_version=None,
        now=timezone.now() - dt.timedelta(days=1),
    )
    request = ask(coord, start_run(coord))
    assert request.route_version.route == special
    decide(request, team.sari)
    client.force_login(team.dina)

    html = text(client.get(url("approval-detail", coord, request.pk)))
    route = section(html, "route-title")
    assert "vacant: Deputy director → holder of Director" in route
    assert "acting holder (Plt) of Quality lead" in route
    assert "badge-plt" in route
    assert "by Sari" in route


# --- deciding through the form --------------------------------------------------------


def test_a_three_stage_route_is_decided_through_the_form(client, coord):
    team = coord.team
    run = start_run(coord)
    request = ask(coord, run)
    page = url("approval-detail", coord, request.pk)
    decide_url = url("approval-decide", coord, request.pk)

    client.force_login(coord.rina)
    response = client.post(
        decide_url, {"version": request.version, "outcome": "approve", "comment": ""}
    )
    assert response.status_code == 302
    assert response["Location"] == page
    html = text(client.get(page))
    assert f"You approved “{request.title}”." in html
    assert "Stage 2 (Warehouse) is deciding." in html

    # Wawan returns it to stage 1 with a comment; a return needs one
    client.force_login(team.wawan)
    request.refresh_from_db()
    before = snapshot()
    response = client.post(
        decide_url,
        {
            "version": request.version,
            "outcome": "return",
            "comment": "",
            "return_to_stage": "1",
        },
    )
    assert response.status_code == 200
    assert snapshot() == before
    field = section(text(response), "decide-title")
    assert "A return for revision needs a comment." in field
    response = client.post(
        decide_url,
        {
            "version": request.version,
            "outcome": "return",
            "comment": "Check the stock first",
            "return_to_stage": "1",
        },
    )
    assert response.status_code == 302
    html = text(client.get(page))
    assert "Stage 1 (Superior) is deciding." in html
    assert "“Check the stock first”" in html
    assert "back to stage 1" in html

    # the route runs to its end: the due date moves
    request.refresh_from_db()
    decide(request, coord.rina)
    decide(request, team.wawan)
    client.force_login(team.sari)
    request.refresh_from_db()
    response = client.post(
        decide_url, {"version": request.version, "outcome": "approve", "comment": "OK"}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    run.refresh_from_db()
    assert run.due_at == dt.datetime.fromisoformat(request.payload["due_at"])
    html = text(client.get(page))
    assert "The request is approved." in html
    assert 'id="decide"' not in html
    # every stage with its decisions and how long it took
    assert html.count("took ") >= 3


def test_a_rejection_needs_a_reason_and_ends_the_request(client, coord):
    run = start_run(coord)
    request = ask(coord, run)
    decide_url = url("approval-decide", coord, request.pk)
    client.force_login(coord.rina)

    before = snapshot()
    response = client.post(
        decide_url, {"version": request.version, "outcome": "reject", "comment": " "}
    )
    assert response.status_code == 200
    assert snapshot() == before
    assert "A rejection needs a reason." in text(response)

    response = client.post(
        decide_url,
        {"version": request.version, "outcome": "reject", "comment": "Too late now"},
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.REJECTED
    run_due = run.due_at
    run.refresh_from_db()
    assert run.due_at == run_due


def test_a_stale_decision_answers_409_and_shows_the_current_state(client, coord):
    team = coord.team
    run = start_run(coord)
    request = ask(coord, run)
    read_version = request.version
    # Dina withdraws while Rina has the page open
    services.withdraw(request, actor=team.dina, expected_version=request.version)
    client.force_login(coord.rina)

    before = snapshot()
    response = client.post(
        url("approval-decide", coord, request.pk),
        {"version": read_version, "outcome": "approve", "comment": "Fine"},
    )
    assert response.status_code == 409
    assert snapshot() == before
    html = text(response)
    assert CONFLICT in html
    assert "The page below shows the current state." in html
    assert "The request is withdrawn." in html
    assert 'id="decide"' not in html


def test_a_decision_on_an_older_version_keeps_the_comment(client, coord):
    team = coord.team
    run = start_run(coord)
    request = ask(coord, run)
    stale = request.version
    decide(request, coord.rina)
    decide(request, team.wawan, "return", return_to_stage=1)
    client.force_login(coord.rina)  # asked again at stage 1, with an old page

    response = client.post(
        url("approval-decide", coord, request.pk),
        {"version": stale, "outcome": "reject", "comment": "My reasons"},
    )
    assert response.status_code == 409
    html = text(response)
    assert CONFLICT in html
    request.refresh_from_db()
    assert f'name="version" value="{request.version}"' in html
    assert "My reasons</textarea>" in html


def test_errors_are_in_the_language_of_an_indonesian_approver(client, coord):
    run = start_run(coord)
    request = ask(coord, run)
    coord.rina.language = "id"
    coord.rina.save(update_fields=["language"])
    client.force_login(coord.rina)

    response = client.post(
        url("approval-decide", coord, request.pk),
        {"version": request.version, "outcome": "reject", "comment": ""},
    )
    assert response.status_code == 200
    html = text(response)
    assert "Tidak ada yang disimpan." in html  # "Nothing was saved."
    with translation.override("id"):
        reason = str(translation.gettext("A rejection needs a reason."))
    comment_field = html.split('data-field="comment"', 1)[1].split("</div>", 2)
    assert reason in "".join(comment_field)

    response = client.post(
        url("approval-decide", coord, request.pk),
        {"version": request.version - 1, "outcome": "approve"},
    )
    assert response.status_code == 409
    assert "Data ini telah diubah oleh orang lain sementara itu." in text(response)


def test_someone_who_may_not_decide_is_refused_and_nothing_is_written(client, coord):
    team = coord.team
    run = start_run(coord)
    request = ask(coord, run)
    before = snapshot()

    client.force_login(team.wawan)  # stage 2's approver, too early
    response = client.post(
        url("approval-decide", coord, request.pk),
        {"version": request.version, "outcome": "approve"},
    )
    assert response.status_code == 403
    assert "You are not an approver of this stage." in text(response)

    client.force_login(team.dina)  # the requester
    response = client.post(
        url("approval-decide", coord, request.pk),
        {"version": request.version, "outcome": "approve"},
    )
    assert response.status_code == 403
    assert snapshot() == before


# --- the requester's moves and nudges -------------------------------------------------


def test_the_requester_resubmits_a_returned_request_and_can_withdraw(client, coord):
    team = coord.team
    run = start_run(coord)
    request = ask(coord, run)
    decide(request, coord.rina, "return", return_to_stage=0)
    page = url("approval-detail", coord, request.pk)
    client.force_login(team.dina)

    html = text(client.get(page))
    assert "Returned to Dina for revision." in html
    assert "Stage 1 (Superior): the requester" in section(html, "standing-title")
    assert "“Please attach the customer&#x27;s letter”" in html
    request.refresh_from_db()
    response = client.post(
        url("approval-resubmit", coord, request.pk), {"version": request.version}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.OPEN
    assert request.current_stage == 1
    html = text(client.get(page))
    assert "was sent for approval again" in html

    # a stale withdrawal is refused; a fresh one ends it
    response = client.post(
        url("approval-withdraw", coord, request.pk), {"version": request.version - 1}
    )
    assert response.status_code == 409
    assert CONFLICT in text(response)
    response = client.post(
        url("approval-withdraw", coord, request.pk), {"version": request.version}
    )
    assert response.status_code == 302
    request.refresh_from_db()
    assert request.status == RequestStatus.WITHDRAWN

    # nobody else may withdraw
    other = ask(coord, run)
    client.force_login(team.dewi)
    response = client.post(
        url("approval-withdraw", coord, other.pk), {"version": other.version}
    )
    assert response.status_code == 403
    other.refresh_from_db()
    assert other.status == RequestStatus.OPEN


def test_nudges_are_rate_limited(client, coord):
    team = coord.team
    run = start_run(coord)
    request = ask(coord, run)
    client.force_login(team.dewi)
    nudge = url("approval-nudge", coord, request.pk)
    page = url("approval-detail", coord, request.pk)

    response = client.post(nudge, {"next": page})
    assert response.status_code == 302
    assert Nudge.objects.filter(request=request).count() == 1
    html = text(client.get(page))
    assert f"The approvers of “{request.title}” were reminded." in html
    assert "You reminded the approvers at" in html
    assert nudge not in html  # no second button for now

    response = client.post(nudge, {"next": page}, follow=True)
    assert "You reminded the approvers a short while ago" in text(response)
    assert Nudge.objects.filter(request=request).count() == 1


# --- the inbox ------------------------------------------------------------------------


def test_the_inbox_lists_what_waits_for_me_my_requests_and_all(client, coord):
    team = coord.team
    first = ask(coord, start_run(coord, title="First run"))
    second = ask(coord, start_run(coord, title="Second run"))
    decide(second, coord.rina, "return", return_to_stage=0)
    inbox = url("approval-inbox", coord)

    client.force_login(coord.rina)
    response = client.get(inbox)
    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert "1 approval waits for you" in html
    assert first.title in html and second.title not in html
    assert f"{url('approval-detail', coord, first.pk)}?next=" in html

    client.force_login(team.dina)
    html = text(client.get(inbox, {"show": "mine"}))
    assert "2 requests" in html
    html = text(client.get(inbox, {"show": "mine", "status": "returned"}))
    assert "1 request" in html and second.title in html and first.title not in html
    # the list alone, for htmx
    response = client.get(
        inbox,
        {"show": "all"},
        headers={"HX-Request": "true", "HX-Target": "list-results"},
    )
    assert text(response).lstrip().startswith('<div id="list-results">')

    client.force_login(coord.o.partner)
    assert client.get(inbox).status_code == 404


# --- the run page and its coordination map ------------------------------------------------


def test_the_run_page_routes_due_date_changes_and_shows_pending_approvals(
    client, coord
):
    team = coord.team
    run = start_run(coord)
    client.force_login(team.dina)  # not the owner: she may ask, not move
    run_page = url("run-detail", coord, run.pk)
    html = text(client.get(run_page))
    assert url("run-due-date", coord, run.pk) in html
    assert url("run-coordination", coord, run.pk) in html

    new_date = (run.due_at + dt.timedelta(days=10)).astimezone(
        dt.timezone(dt.timedelta(hours=7))
    )
    response = client.post(
        url("run-due-date", coord, run.pk),
        {
            "version": run.version,
            "due_date": new_date.date().isoformat(),
            "reason": REASON,
        },
        follow=True,
    )
    assert response.status_code == 200
    assert "Your request was sent for approval." in text(response)
    request = ApprovalRequest.objects.get(subject_kind=SubjectKind.DUE_DATE_CHANGE)
    run_due = run.due_at
    run.refresh_from_db()
    assert run.due_at == run_due  # not moved yet
    html = text(client.get(run_page))
    approvals = section(html, "approvals-title")
    assert url("approval-detail", coord, request.pk) in approvals
    assert "at stage 1" in approvals

    # the coordination map of the run
    response = client.get(url("run-coordination", coord, run.pk))
    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert "1 request" in html
    assert "Stage 1: Superior" in html and "Stage 3: Director" in html
    assert "deciding now" in html and "comes next" in html

    client.force_login(coord.o.partner)
    assert client.get(url("run-coordination", coord, run.pk)).status_code == 404


def test_tasks_awaiting_approval_link_to_their_request(client, coord):
    o, team = coord.o, coord.team
    version = build_version(
        o,
        [
            StepSpec(
                "sign-off",
                o.export_staff,
                o.export_head,
                extra={"requires_approval": True},
            )
        ],
        code="SIGN",
    )
    route = routes.create_route(
        o.organisation,
        actor=o.admin,
        code="TASK",
        name="Sign-offs",
        subject_kind=SubjectKind.TASK_COMPLETION,
    )
    draft = route.versions.get()
    routes.add_stage(draft, actor=o.admin, name="Head", rule=ApproverRule.SUPERIOR)
    routes.publish(
        draft,
        actor=o.admin,
        expected_version=None,
        now=timezone.now() - dt.timedelta(days=1),
    )
    now = timezone.now()
    run = chains.start_run(
        version,
        actor=o.member,
        title="Sign the papers",
        measure_quantity=1,
        measure_unit="set",
        due_at=now + dt.timedelta(days=20),
        now=now,
    )
    task = Task.objects.select_related("assignee").get(run=run)
    # the assignment policy gives it to Dina, the export clerk who can log in
    assert task.assignee is not None and task.assignee.user_id == team.dina.pk
    chains.complete_task(task, actor=team.dina, expected_version=None)
    request = ApprovalRequest.objects.get(
        subject_kind=SubjectKind.TASK_COMPLETION, subject_id=task.pk
    )

    client.force_login(team.dina)
    html = text(client.get(url("run-detail", coord, run.pk)))
    row = html.split(f'id="task-{task.pk}"', 1)[1].split("</tr>", 1)[0]
    assert "awaiting approval" in row
    assert url("approval-detail", coord, request.pk) in row


# --- query counts ---------------------------------------------------------------------------

# The request page; two of them are the run's citable information records and
# what the decisions cite (issue 7).
REQUEST_PAGE_QUERIES = 18
# A run's coordination map reads each request's map (a page holds at most
# RUN_MAP_PAGE_SIZE of them), whatever its number of stages and decisions.
RUN_MAP_QUERIES_PER_REQUEST = 5


def test_the_request_page_keeps_its_query_count(client, coord):
    team = coord.team
    run = start_run(coord)
    small = ask(coord, run)
    decide(small, coord.rina)
    decide(small, team.wawan)  # at stage 3: Sari decides
    client.force_login(team.sari)
    count_queries(client, url("approval-detail", coord, small.pk))  # warm caches
    small_count = count_queries(client, url("approval-detail", coord, small.pk))

    big = ask(coord, start_run(coord, title="Big"))
    decide(big, coord.rina)
    decide(big, team.wawan, "return", return_to_stage=1)
    decide(big, coord.rina)
    decide(big, team.wawan)  # now at stage 3: Sari decides
    for n in range(3):
        ask(coord, start_run(coord, title=f"More {n}"))
    big_count = count_queries(client, url("approval-detail", coord, big.pk))

    assert small_count == big_count == REQUEST_PAGE_QUERIES


def test_the_run_coordination_map_reads_a_fixed_number_of_queries_per_request(
    client, coord
):
    team = coord.team
    run = start_run(coord)
    first = ask(coord, run)
    page = url("run-coordination", coord, run.pk)
    client.force_login(team.dewi)
    count_queries(client, page)  # warm caches
    one = count_queries(client, page)

    decide(first, coord.rina)
    decide(first, team.wawan, "return", return_to_stage=0)
    services.withdraw(first, actor=team.dina, expected_version=None)
    second = ask(coord, run)
    decide(second, coord.rina)
    decide(second, team.wawan)
    decide(second, team.sari)
    ask(coord, run)
    three = count_queries(client, page)

    assert three - one == 2 * RUN_MAP_QUERIES_PER_REQUEST
    assert "3 requests" in text(client.get(page))
