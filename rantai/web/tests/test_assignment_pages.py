"""The pages of fair assignment: the task page (why a task has its assignee, the
history of its assignments, reassigning it — a candidate, or anyone else as an
override with a reason — and its consultations with the answer form), rebalancing
a unit (propose, preview, apply, discard, a conflict) and the fairness report
(tables, charts, Excel) — who sees and does what, and that a refused or failed
action writes nothing.

The people (built through the services, `rantai.roles.tests.factories`): Rina
(member) holds Head of export, the owner position of the procedure and the
accountable of its steps, and heads the Export unit; Ani and Beni (members) hold
Clerk, whose job description has "Book freight"; Sari (member) is the Director,
consulted on booking; Joko is the forwarder's partner user; Dewi is a member who
holds nothing. The procedure: "book" (Clerk, needs the Director's input) then
"ship" (the forwarder).
"""

from __future__ import annotations

import datetime as dt
import re
import xml.etree.ElementTree as ET
from dataclasses import dataclass
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext
from django.urls import reverse
from django.utils import timezone

from rantai.accounts.models import User
from rantai.audit.models import AuditEvent
from rantai.chains import services as chains
from rantai.chains.models import ProcedureVersion, Run, Task, TaskStatus
from rantai.org import services as org
from rantai.org.models import Person, Position
from rantai.roles import assigning
from rantai.roles.models import (
    Assignment,
    Consultation,
    ConsultationStatus,
    RebalanceProposal,
    RebalanceStatus,
)
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg
from rantai.web.svg.fairness import LorenzLabels, render_lorenz

CONFLICT = "This record was changed by someone else in the meantime."


@dataclass
class Team:
    o: SmallOrg
    clerk: Position
    ani: Person
    beni: Person
    sari: Person
    dewi: Person
    version: ProcedureVersion

    @property
    def rina(self) -> User:
        return self.o.member

    def user(self, person: Person) -> User:
        return f.user_of(person)


@pytest.fixture
def team(db: Any) -> Team:
    o = f.organisation()
    clerk = f.position(
        o, party=o.export, title="Clerk", code="CLK", duties=["Book freight"]
    )
    ani, beni = f.person(o, "ani"), f.person(o, "beni")
    f.hold(o, clerk, ani)
    f.hold(o, clerk, beni)
    sari = f.person(o, "sari")
    f.hold(o, o.director, sari)
    dewi = f.person(o, "dewi")
    org.update_party(
        o.export, actor=o.admin, expected_version=None, head_position=o.export_head
    )
    version = f.procedure(
        o,
        [
            f.StepRow(
                "book",
                responsible=clerk,
                accountable=o.export_head,
                duty=f.duty_of(clerk, "Book freight"),
                consulted=[o.director],
                requires_consultation=True,
            ),
            f.StepRow(
                "ship",
                responsible=o.forwarder,
                accountable=o.export_head,
                after=["book"],
            ),
        ],
    )
    return Team(o, clerk, ani, beni, sari, dewi, version)


def url(name: str, *args: object) -> str:
    return reverse(name, args=["acme", *args])


def text(response: Any) -> str:
    return str(response.content.decode())


def assert_csp_clean(response: Any) -> None:
    html = text(response)
    assert " style=" not in html
    assert re.search(r"<script(?![^>]*\bsrc=)[^>]*>", html) is None
    assert re.search(r"\son[a-z]+=", html) is None


def section(html: str, element_id: str) -> str:
    assert f'id="{element_id}"' in html, element_id
    return html.split(f'id="{element_id}"', 1)[1].split("</section>", 1)[0]


def count_queries(client: Any, page: str) -> int:
    with CaptureQueriesContext(connection) as captured:
        response = client.get(page)
    assert response.status_code == 200
    return len(captured.captured_queries)


def snapshot() -> dict[str, list[Any]]:
    """Every row these pages could change, for 'nothing was written' checks."""
    return {
        "tasks": list(Task.objects.order_by("pk").values_list()),
        "assignments": list(Assignment.objects.order_by("pk").values_list()),
        "consultations": list(Consultation.objects.order_by("pk").values_list()),
        "proposals": list(RebalanceProposal.objects.order_by("pk").values_list()),
        "events": list(AuditEvent.objects.order_by("pk").values_list("pk", flat=True)),
    }


def start(team: Team, title: str = "Ship 500 units to Kota A") -> Run:
    return f.start_run(
        team.version, actor=team.o.admin, title=title, now=timezone.now()
    )


def book(run: Run) -> Task:
    return f.task(run, "book")


def options(html: str, group: str) -> list[str]:
    """The option texts of an <optgroup> of the reassign form."""
    found = re.search(
        rf'<optgroup label="{re.escape(group)}">(.*?)</optgroup>', html, re.S
    )
    assert found, group
    return re.findall(r"<option [^>]*>([^<]+)</option>", found.group(1))


# --- the task page ----------------------------------------------------------------


def test_the_task_page_explains_why_the_task_has_its_assignee(client, team):
    run = start(team)
    task = book(run)
    assert task.status == TaskStatus.READY and task.assignee_id == team.ani.pk
    client.force_login(team.rina)

    response = client.get(url("task-detail", task.pk))

    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert "<h1>Book</h1>" in html
    why = section(html, "assignment-title")
    assert re.findall(r"<li>([^<]+)</li>", why.split("</ul>", 1)[0]) == [
        "Assigned to Ani by the policy (least loaded first).",
        "The policy chose among the candidates.",
        "The task&#x27;s estimated work: 8.0 hours.",
        "Ani: 0.0 hours of open work (0 open tasks) — chosen.",
        "Beni: 0.0 hours of open work (0 open tasks) — passed over: as much open "
        "work and as many open tasks; the tie goes to the person registered first.",
    ]
    # the owner may reassign: the candidates first, everyone else as an override
    assert f'action="{url("task-reassign", task.pk)}"' in why
    assert options(why, "Candidates") == ["Beni (0 h of open work)"]
    assert options(why, "Others (an override: give a reason)") == [
        "Budi Santoso",
        "Dewi",
        "Rina Kusuma",
        "Sari",
    ]
    # one assignment so far: no history table yet
    assert "Assignment history" not in html
    # the Director's input is asked
    consulted = section(html, "consultations-title")
    assert "Director" in consulted and "waiting for input" in consulted
    assert "1 input is still missing." in consulted
    assert "consultation-answer" not in consulted and "/answer/" not in consulted
    # the run page links to it
    run_page = text(client.get(reverse("run-detail", args=["acme", run.pk])))
    assert f'href="{url("task-detail", task.pk)}"' in run_page


@pytest.mark.parametrize(
    ("who", "sees_rationale", "may_reassign"),
    [
        ("admin", True, True),
        ("rina", True, True),  # owner and accountable
        ("ani", True, False),  # the assignee
        ("auditor", True, False),
        ("dewi", True, False),  # a member holding nothing
    ],
)
def test_who_sees_the_rationale_and_who_may_reassign(
    client, team, who, sees_rationale, may_reassign
):
    task = book(start(team))
    users = {
        "admin": team.o.admin,
        "rina": team.rina,
        "ani": team.user(team.ani),
        "auditor": team.o.auditor,
        "dewi": team.user(team.dewi),
    }
    client.force_login(users[who])

    html = text(client.get(url("task-detail", task.pk)))

    assert ('id="assignment-title"' in html) is sees_rationale
    assert (f'action="{url("task-reassign", task.pk)}"' in html) is may_reassign
    reassign = client.get(url("task-reassign", task.pk))
    assert reassign.status_code == (200 if may_reassign else 403)


def test_partners_see_only_their_party_tasks_and_no_rationale(client, team):
    run = start(team)
    task = book(run)
    chains.complete_task(task, actor=team.user(team.ani), expected_version=None)
    ship = f.task(run, "ship")
    client.force_login(team.o.partner)

    assert client.get(url("task-detail", task.pk)).status_code == 404
    assert client.get(url("task-reassign", task.pk)).status_code == 404
    response = client.get(url("task-detail", ship.pk))
    assert response.status_code == 200
    html = text(response)
    assert "Fast Forwarding" in html
    assert 'id="assignment-title"' not in html


def test_another_organisations_task_is_not_found(client, team):
    task = book(start(team))
    other = f.organisation("other", prefix="other-")
    client.force_login(other.admin)
    assert client.get(url("task-detail", task.pk)).status_code == 404
    assert (
        client.get(reverse("task-detail", args=["other", task.pk])).status_code == 404
    )


def test_reassigning_to_a_candidate(client, team):
    task = book(start(team))
    client.force_login(team.rina)

    response = client.post(
        url("task-reassign", task.pk),
        {
            "person": team.beni.pk,
            "reason": "",
            "version": task.version,
            "next": url("task-detail", task.pk) + "#assignment",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == url("task-detail", task.pk) + "#assignment"
    task.refresh_from_db()
    assert task.assignee_id == team.beni.pk
    manual = Assignment.objects.get(task=task, kind="manual")
    assert (manual.person_id, manual.previous_person_id) == (team.beni.pk, team.ani.pk)
    assert manual.is_override is False and manual.assigned_by == team.rina
    html = text(client.get(url("task-detail", task.pk)))
    assert "“Book” was assigned to Beni." in html
    why = section(html, "assignment-title")
    assert "<li>Assigned to Beni by hand by Member.</li>" in why
    assert "<li>Before, it was assigned to Ani.</li>" in why
    history = why.split('id="assignment-history"', 1)[1]
    assert history.count("<tr>") == 1 + 2
    assert "Assigned by hand" in history and "By the policy" in history


def test_an_override_needs_a_reason_and_without_one_nothing_is_written(client, team):
    task = book(start(team))
    client.force_login(team.rina)
    before = snapshot()

    response = client.post(
        url("task-reassign", task.pk),
        {"person": team.sari.pk, "reason": "  ", "version": task.version},
    )

    assert response.status_code == 200
    html = text(response)
    assert "Nothing was saved." in html
    assert "This person is not among the candidates" in html
    assert snapshot() == before

    response = client.post(
        url("task-reassign", task.pk),
        {
            "person": team.sari.pk,
            "reason": "Both clerks are at the port inspection",
            "version": task.version,
        },
    )
    assert response.status_code == 302
    override = Assignment.objects.get(task=task, kind="manual")
    assert override.is_override is True and override.person_id == team.sari.pk
    assert override.reason == "Both clerks are at the port inspection"
    html = text(client.get(url("task-detail", task.pk)))
    assert (
        "Override: Sari was not among the candidates. Reason: Both clerks are at "
        "the port inspection" in html
    )
    assert '<span class="badge badge-flag">override</span>' in html


def test_a_stale_reassignment_answers_409_and_writes_nothing(client, team):
    task = book(start(team))
    stale = task.version
    chains.start_task(task, actor=team.user(team.ani), expected_version=None)
    client.force_login(team.rina)
    before = snapshot()

    response = client.post(
        url("task-reassign", task.pk), {"person": team.beni.pk, "version": stale}
    )

    assert response.status_code == 409
    assert CONFLICT in text(response)
    assert snapshot() == before


def test_those_who_may_not_reassign_write_nothing(client, team):
    task = book(start(team))
    before = snapshot()
    for user, status in (
        (team.user(team.ani), 403),
        (team.o.auditor, 403),
        (team.o.partner, 404),
    ):
        client.force_login(user)
        response = client.post(
            url("task-reassign", task.pk),
            {"person": team.beni.pk, "version": task.version},
        )
        assert response.status_code == status
    assert snapshot() == before


def test_a_finished_task_cannot_be_reassigned(client, team):
    task = book(start(team))
    chains.complete_task(task, actor=team.user(team.ani), expected_version=None)
    task.refresh_from_db()
    assert task.status == TaskStatus.AWAITING  # the Director's input is missing
    chains.cancel_run(
        task.run, actor=team.rina, expected_version=None, reason="Order withdrawn"
    )
    client.force_login(team.rina)

    html = text(client.get(url("task-detail", task.pk)))

    assert f'action="{url("task-reassign", task.pk)}"' not in html
    page = text(client.get(url("task-reassign", task.pk)))
    assert "Only an open task" in page and 'name="person"' not in page


# --- consultations on the task page -------------------------------------------------


def test_the_consulted_holder_answers_on_the_task_page(client, team):
    task = book(start(team))
    chains.complete_task(task, actor=team.user(team.ani), expected_version=None)
    task.refresh_from_db()
    assert task.status == TaskStatus.AWAITING
    consultation = Consultation.objects.get(task=task)
    client.force_login(team.user(team.sari))

    html = text(client.get(url("task-detail", task.pk)))
    assert "waiting for the input of the consulted" in html  # the awaiting reason
    asked = section(html, "consultations-title")
    answer_url = url("consultation-answer", consultation.pk)
    assert f'action="{answer_url}"' in asked
    assert "Your input as Director" in asked

    response = client.post(
        answer_url,
        {
            "answer": "Book with the usual forwarder; the price is agreed.",
            "version": consultation.version,
            "next": url("task-detail", task.pk) + "#consultations",
        },
    )

    assert response.status_code == 302
    assert response["Location"] == url("task-detail", task.pk) + "#consultations"
    consultation.refresh_from_db()
    assert consultation.status == ConsultationStatus.ANSWERED
    task.refresh_from_db()
    assert task.status == TaskStatus.DONE  # the last input rechecked it
    html = text(client.get(url("task-detail", task.pk)))
    answered = section(html, "consultations-title")
    assert "Book with the usual forwarder; the price is agreed." in answered
    assert "answered by Sari" in answered
    assert f'action="{answer_url}"' not in answered


def test_an_answer_refused_or_stale_writes_nothing(client, team):
    task = book(start(team))
    consultation = Consultation.objects.get(task=task)
    answer_url = url("consultation-answer", consultation.pk)
    other = f.organisation("other", prefix="other-")
    before = snapshot()

    client.force_login(team.user(team.ani))  # sees the task, does not hold Director
    assert client.get(answer_url).status_code == 403
    response = client.post(answer_url, {"answer": "Yes", "version": 1})
    assert response.status_code == 403

    client.force_login(team.user(team.sari))
    response = client.post(
        answer_url, {"answer": "   ", "version": consultation.version}
    )
    assert response.status_code == 200
    assert "Nothing was saved." in text(response)
    response = client.post(
        answer_url, {"answer": "Fine", "version": consultation.version + 1}
    )
    assert response.status_code == 409
    assert CONFLICT in text(response)

    client.force_login(other.admin)
    assert client.get(answer_url).status_code == 404
    assert snapshot() == before


# --- query counts -------------------------------------------------------------------

# The session, the user and the membership; the task; the caller's person and
# positions; the working calendar; the assignments and the names in the
# rationale; whether the caller may assign (the run, the membership, the
# holdings); the current candidates (`assigning.candidates_for`: the policy and
# calendar, the duty, the holders with their loads, absences and last
# assignments) and the organisation's people; the consultations. Since issue 7:
# the task's obstacles, its information records and the upload settings of the
# attach-evidence form.
TASK_PAGE_QUERIES = 20


def test_the_task_page_keeps_its_query_count(client, team):
    """The same number of queries with one assignment, one consultation and two
    holders as with a long history, three consultations and six holders."""
    o = team.o
    small = book(start(team, "Small"))
    client.force_login(team.rina)
    count_queries(client, url("task-detail", small.pk))  # warm the calendar cache
    few = count_queries(client, url("task-detail", small.pk))

    for n in range(3):  # five clerks at most
        f.hold(o, team.clerk, f.person(o, f"clerk{n}"))
    consulted = [o.director]
    for code in ("AUD", "LEG"):
        position = f.position(o, party=o.head_office, title=f"{code} head", code=code)
        f.hold(o, position, f.person(o, f"{code.lower()}person"))
        consulted.append(position)
    wider = f.procedure(
        o,
        [
            f.StepRow(
                "book",
                responsible=team.clerk,
                accountable=o.export_head,
                duty=f.duty_of(team.clerk, "Book freight"),
                consulted=consulted,
                requires_consultation=True,
            )
        ],
        code="WIDE",
        now=timezone.now(),
    )
    big = book(f.start_run(wider, actor=o.admin, title="Big", now=timezone.now()))
    assert Consultation.objects.filter(task=big).count() == 3
    for person in (team.beni, team.ani, team.beni, team.ani):
        big.refresh_from_db()
        if big.assignee_id == person.pk:
            continue
        assigning.assign_task(
            big, actor=team.rina, person=person, expected_version=big.version
        )
    many = count_queries(client, url("task-detail", big.pk))
    html = text(client.get(url("task-detail", big.pk)))
    assert section(html, "assignment-title").count("<tr>") >= 1 + 4
    assert len(options(html, "Candidates")) == 4  # every clerk but the assignee
    assert section(html, "consultations-title").count("<li ") == 3

    assert few == many == TASK_PAGE_QUERIES


# --- rebalancing --------------------------------------------------------------------


def unbalanced(team: Team, runs: int = 4) -> list[Task]:
    """`runs` booking tasks, all given to Ani by hand (she is a candidate)."""
    tasks = []
    for n in range(runs):
        task = book(start(team, f"Order {n}"))
        if task.assignee_id != team.ani.pk:
            assigning.assign_task(
                task, actor=team.o.admin, person=team.ani, expected_version=task.version
            )
            task.refresh_from_db()
        tasks.append(task)
    return tasks


def test_a_proposal_evens_out_the_load_and_applies_in_one_step(client, team):
    tasks = unbalanced(team)
    client.force_login(team.rina)  # heads Export
    page = client.get(url("unit-rebalance", team.o.export.pk))
    assert page.status_code == 200
    assert "No rebalancing was proposed for this unit yet." in text(page)

    response = client.post(url("unit-rebalance", team.o.export.pk))

    proposal = RebalanceProposal.objects.get()
    assert response.status_code == 302
    assert response["Location"] == url(
        "rebalance-proposal", team.o.export.pk, proposal.pk
    )
    assert len(proposal.moves) == 2
    response = client.get(response["Location"])
    assert_csp_clean(response)
    html = text(response)
    assert "A rebalancing was proposed: 2 tasks would move." in html
    moves = section(html, "moves-title")
    assert moves.count("<strong>Beni</strong>") == 2
    assert "<td>Ani</td>" in moves
    # Rina, Budi, Ani and Beni hold Export's positions: 32, 0, 0, 0 hours before
    assert "<dd>0.75 → 0.50</dd>" in html  # Gini before → after
    assert "<dd>32 → 16</dd>" in html  # the most loaded, in hours
    loads = section(html, "loads-title")
    assert 'class="svg-drawing svg-bars"' in loads
    assert '<th scope="row">Ani</th>' in loads and "−16" in loads

    response = client.post(
        url("rebalance-apply", team.o.export.pk, proposal.pk),
        {"version": proposal.version},
    )

    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.status == RebalanceStatus.APPLIED
    assignees = sorted(
        Task.objects.filter(pk__in=[t.pk for t in tasks]).values_list(
            "assignee_id", flat=True
        )
    )
    assert assignees == sorted([team.ani.pk] * 2 + [team.beni.pk] * 2)
    assert Assignment.objects.filter(kind="rebalanced").count() == 2
    html = text(client.get(response["Location"]))
    assert "The rebalancing was applied: 2 tasks were moved." in html
    assert "rebalance-apply" not in html and "Apply: move the tasks" not in html


def test_a_changed_task_makes_the_proposal_a_conflict_and_nothing_moves(client, team):
    tasks = unbalanced(team)
    client.force_login(team.rina)
    client.post(url("unit-rebalance", team.o.export.pk))
    proposal = RebalanceProposal.objects.get()
    moved = Task.objects.get(pk=proposal.moves[0]["task"])
    chains.start_task(moved, actor=team.user(team.ani), expected_version=None)
    before = snapshot()

    response = client.post(
        url("rebalance-apply", team.o.export.pk, proposal.pk),
        {"version": proposal.version},
    )

    assert response.status_code == 409
    html = text(response)
    assert "Nothing was moved." in html
    assert "Some of these tasks changed since the proposal was made" in html
    assert "Propose again" in html
    assert snapshot() == before
    assert all(
        task.assignee_id == team.ani.pk
        for task in Task.objects.filter(pk__in=[t.pk for t in tasks])
    )


def test_a_proposal_is_discarded_and_a_stale_page_writes_nothing(client, team):
    unbalanced(team, runs=2)
    client.force_login(team.o.admin)
    client.post(url("unit-rebalance", team.o.export.pk))
    proposal = RebalanceProposal.objects.get()
    before = snapshot()

    response = client.post(
        url("rebalance-discard", team.o.export.pk, proposal.pk),
        {"version": proposal.version + 1},
    )
    assert response.status_code == 409
    assert snapshot() == before

    response = client.post(
        url("rebalance-discard", team.o.export.pk, proposal.pk),
        {"version": proposal.version},
    )
    assert response.status_code == 302
    proposal.refresh_from_db()
    assert proposal.status == RebalanceStatus.DISCARDED
    html = text(client.get(response["Location"]))
    assert "The proposal was discarded; nothing was moved." in html
    # a decided proposal cannot be applied any more
    before = snapshot()
    response = client.post(
        url("rebalance-apply", team.o.export.pk, proposal.pk),
        {"version": proposal.version},
    )
    assert response.status_code == 422
    assert "This proposal is already discarded." in text(response)
    assert snapshot() == before


def test_who_may_rebalance(client, team):
    unbalanced(team, runs=2)
    client.force_login(team.o.admin)
    client.post(url("unit-rebalance", team.o.export.pk))
    proposal = RebalanceProposal.objects.get()
    page = url("rebalance-proposal", team.o.export.pk, proposal.pk)
    other = f.organisation("other", prefix="other-")
    before = snapshot()

    # the auditor reads the proposals, without the buttons, and cannot act
    client.force_login(team.o.auditor)
    html = text(client.get(page))
    assert "Tasks to move" in html and "Apply: move the tasks" not in html
    assert "Propose a rebalancing" not in text(
        client.get(url("unit-rebalance", team.o.export.pk))
    )
    assert client.post(url("unit-rebalance", team.o.export.pk)).status_code == 403
    # a clerk does not head the unit; the partner sees nothing of it
    for user, status in ((team.user(team.ani), 403), (team.o.partner, 404)):
        client.force_login(user)
        assert client.get(page).status_code == status
        assert client.post(url("unit-rebalance", team.o.export.pk)).status_code == (
            status
        )
        response = client.post(
            url("rebalance-apply", team.o.export.pk, proposal.pk),
            {"version": proposal.version},
        )
        assert response.status_code == status
    # Rina heads Export, not the Warehouse; a partner party is no unit
    client.force_login(team.rina)
    assert client.get(url("unit-rebalance", team.o.warehouse.pk)).status_code == 403
    assert client.get(url("unit-rebalance", team.o.forwarder.pk)).status_code == 404
    # another organisation's admin
    client.force_login(other.admin)
    assert client.get(page).status_code == 404
    assert (
        client.get(
            reverse("unit-rebalance", args=["other", team.o.export.pk])
        ).status_code
        == 404
    )
    assert snapshot() == before


# --- the fairness report ------------------------------------------------------------


def fair_and_unfair(team: Team) -> None:
    """Six booking tasks; Rina (by hand) gives five of them to Ani — four times a
    candidate, once away from Beni — and one stays with Beni; Sari gets one as an
    override."""
    tasks = [book(start(team, f"Order {n}")) for n in range(6)]
    for task in tasks[:5]:
        task.refresh_from_db()
        target = team.ani if task.assignee_id != team.ani.pk else team.beni
        assigning.assign_task(
            task, actor=team.rina, person=target, expected_version=task.version
        )
    last = tasks[5]
    last.refresh_from_db()
    assigning.assign_task(
        last,
        actor=team.o.admin,
        person=team.sari,
        reason="Urgent customer",
        expected_version=last.version,
    )


def test_the_fairness_report_shows_loads_spread_overrides_and_concentration(
    client, team
):
    fair_and_unfair(team)
    client.force_login(team.o.admin)

    response = client.get(url("fairness-report"))

    assert response.status_code == 200
    assert_csp_clean(response)
    html = text(response)
    assert "6 assigned tasks counted." in html
    people = section(html, "load-title")
    assert 'class="svg-drawing svg-bars"' in people
    assert 'class="svg-drawing svg-lorenz"' in people
    rows = re.findall(
        r'<tr>\s*<th scope="row">([^<]+)</th>\s*<td class="numeric">(\d+)</td>'
        r'\s*<td class="numeric">([^<]+)</td>',
        people,
    )
    loads = {name: (int(tasks), hours) for name, tasks, hours in rows}
    assert sum(tasks for tasks, _hours in loads.values()) == 6
    assert loads["Sari"] == (1, "8")
    overrides = section(html, "overrides-title")
    assert re.search(
        r'Admin</th>\s*<td class="numeric">1</td>\s*<td class="numeric">1</td>'
        r'\s*<td class="numeric">100 %</td>',
        overrides,
    )
    assert re.search(
        r'Member</th>\s*<td class="numeric">5</td>\s*<td class="numeric">0</td>',
        overrides,
    )
    concentration = section(html, "concentration-title")
    assert "flagged from 5 choices and a ratio of 2 or more" in concentration
    assert "Member" in concentration
    positions = section(html, "positions-title")
    assert "Clerk" in positions and "Director" in positions


def test_the_fairness_report_downloads_as_excel(client, team):
    fair_and_unfair(team)
    client.force_login(team.o.auditor)
    today = timezone.localdate()
    since = (today - dt.timedelta(days=6)).isoformat()

    response = client.get(
        url("fairness-report"),
        {
            "since": since,
            "until": today.isoformat(),
            "unit": team.o.export.pk,
            "format": "xlsx",
        },
    )

    assert response.status_code == 200
    assert response["Content-Type"].startswith(
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"
    )
    assert response["Content-Disposition"].startswith(
        'attachment; filename="fairness-exp-'
    )
    assert response.content[:2] == b"PK"


def test_who_may_read_the_fairness_report(client, team):
    client.force_login(team.o.auditor)
    assert client.get(url("fairness-report")).status_code == 200
    # Rina heads Export: its report, not the organisation's nor the Warehouse's
    client.force_login(team.rina)
    response = client.get(url("fairness-report"))
    assert response.status_code == 200
    assert "Export and its sub-units" in text(response)
    assert "The whole organisation" not in text(response)
    assert (
        client.get(url("fairness-report"), {"unit": team.o.warehouse.pk}).status_code
        == 403
    )
    # a clerk heads nothing; partners see nothing of it
    client.force_login(team.user(team.ani))
    assert client.get(url("fairness-report")).status_code == 403
    client.force_login(team.o.partner)
    assert client.get(url("fairness-report")).status_code == 404
    # another organisation's unit, and another organisation
    other = f.organisation("other", prefix="other-")
    client.force_login(team.o.admin)
    assert (
        client.get(url("fairness-report"), {"unit": other.export.pk}).status_code == 404
    )
    client.force_login(other.admin)
    assert client.get(reverse("fairness-report", args=["other"])).status_code == 200
    assert client.get(url("fairness-report")).status_code == 404


def test_a_period_that_ends_before_it_starts_is_refused(client, team):
    client.force_login(team.o.admin)
    response = client.get(
        url("fairness-report"), {"since": "2026-05-01", "until": "2026-04-01"}
    )
    assert response.status_code == 200
    html = text(response)
    assert "The period ends before it starts." in html
    assert "The report below covers the last 90 days." in html


# The session, the user and the membership; the units; the loader (positions,
# assignments, holdings, people's and assigners' names).
FAIRNESS_QUERIES = 9


def test_the_fairness_report_keeps_its_query_count(client, team):
    """The same number of queries for one manual pick as for many more people,
    positions and picks. (With no manual pick at all the loader skips the
    assigners' names: one query fewer.)"""
    task = book(start(team))  # given to Ani, then to Beni by hand
    assigning.assign_task(
        task, actor=team.rina, person=team.beni, expected_version=task.version
    )
    client.force_login(team.o.admin)
    count_queries(client, url("fairness-report"))
    few = count_queries(client, url("fairness-report"))

    fair_and_unfair(team)
    for n in range(3):
        extra = f.position(
            team.o, party=team.o.warehouse, title=f"Packer {n}", code=f"PK{n}"
        )
        f.hold(team.o, extra, f.person(team.o, f"packer{n}"))
    many = count_queries(client, url("fairness-report"))

    assert few == many == FAIRNESS_QUERIES


# --- the Lorenz curve -----------------------------------------------------------------

LABELS = LorenzLabels(
    description="How the work is shared",
    people_axis="People",
    work_axis="Work",
    equality="Equal",
    curve="Actual",
    gini="Gini",
)


def points(*pairs: tuple[str, str]) -> list[tuple[Decimal, Decimal]]:
    return [(Decimal(a), Decimal(b)) for a, b in pairs]


def test_the_lorenz_curve_is_one_svg_through_its_points():
    curve = points(("0", "0"), ("0.5", "0.25"), ("1", "1"))

    svg = render_lorenz(
        curve, labels=LABELS, gini_text="0.25", percent=lambda v: f"{v}%"
    )

    root = ET.fromstring(svg)  # noqa: S314 — our own output, parsed to check it
    assert root.get("class") == "svg-drawing svg-lorenz"
    assert root.get("role") == "img"
    ns = {"s": "http://www.w3.org/2000/svg"}
    assert root.find("s:title", ns).text == "How the work is shared"
    polyline = root.find(".//s:polyline[@class='svg-lorenz-curve']", ns)
    # the plot is 320 px square from (68, 340) at the origin
    assert polyline.get("points") == "68,340 228,260 388,20"
    equality = root.find(".//s:line[@class='svg-lorenz-equality']", ns)
    assert (equality.get("x1"), equality.get("y1")) == ("68", "340")
    assert (equality.get("x2"), equality.get("y2")) == ("388", "20")
    assert "Gini: 0.25" in svg
    assert " style=" not in svg
    assert svg == render_lorenz(
        curve, labels=LABELS, gini_text="0.25", percent=lambda v: f"{v}%"
    )


@pytest.mark.parametrize(
    "bad",
    [
        points(("0", "0")),
        points(("0", "0.1"), ("1", "1")),
        points(("0", "0"), ("0.5", "0.6"), ("0.4", "0.7"), ("1", "1")),
        points(("0", "0"), ("0.5", "0.6"), ("0.7", "0.5"), ("1", "1")),
    ],
)
def test_what_is_not_a_lorenz_curve_is_refused(bad):
    with pytest.raises(ValueError, match="Lorenz curve"):
        render_lorenz(bad, labels=LABELS, gini_text="0", percent=str)


def test_lorenz_labels_are_escaped():
    labels = LorenzLabels(
        description="<b>x</b>",
        people_axis="A & B",
        work_axis="W",
        equality="E",
        curve="C",
        gini="G",
    )
    svg = render_lorenz(
        points(("0", "0"), ("1", "1")), labels=labels, gini_text="0", percent=str
    )
    assert "<b>" not in svg and "&lt;b&gt;x&lt;/b&gt;" in svg
    assert "A &amp; B" in svg
    ET.fromstring(svg)  # noqa: S314 — our own output, parsed to check it
