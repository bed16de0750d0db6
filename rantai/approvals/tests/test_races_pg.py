"""Concurrent decisions with real threads and real transactions on PostgreSQL.

* 10,000 decision attempts from 8 threads on 1,000 requests: no double decision,
  no lost decision, one audit event per decision, an unforked audit chain.
* Deterministic races: two transactions paused at chosen points (a patched
  function inside `decide` waits on an event; the test waits until the other
  transaction is really blocked on a lock, as PostgreSQL reports it).

Only on PostgreSQL: under pytest the SQLite test database is in memory, one per
connection, so threads cannot share it.
"""

from __future__ import annotations

import datetime as dt
import random
import threading
import time
from collections import Counter
from collections.abc import Callable
from typing import Any

import pytest
from django.db import connection
from django.db.models import Count

from rantai.approvals import services
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    Outcome,
    RequestStatus,
    StageStatus,
)
from rantai.approvals.tests.conftest import DECIDED, KIND, SUBMITTED
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains.tests.helpers import start
from rantai.core.errors import Conflict, PermissionDenied
from rantai.org import extensions as org_extensions
from rantai.org import services as org
from rantai.org.models import Holding

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: real threads share the test database only there "
        "(the SQLite test database is in memory, one per connection)",
    ),
    pytest.mark.django_db(transaction=True),
]

THREADS = 8
REQUESTS = 1_000
ATTEMPTS = 10_000
# Rina's holding ends the day before the decisions: from then on she no longer
# holds the position (an end date is the last day held).
ENDED = SUBMITTED.date() - dt.timedelta(days=1)
DECISION_VERBS = (AuditVerb.APPROVED, AuditVerb.REJECTED, AuditVerb.RETURNED)


def run_in_threads(work: Callable[[int], Any], count: int) -> list[Any]:
    """Run `work(i)` in `count` threads started together; results (or errors)."""
    barrier = threading.Barrier(count)
    results: list[Any] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=60)
            results[index] = work(index)
        except BaseException as error:  # inspected by the test
            results[index] = error
        finally:
            connection.close()

    threads = [threading.Thread(target=target, args=(i,)) for i in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=600)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


# --- 10,000 attempts ---------------------------------------------------------------------


def test_ten_thousand_attempts_from_eight_threads_lose_nothing_and_double_nothing(
    kit,
):
    # N of M: two of the three QA officers approve; anyone may reject.
    version = kit.route(
        {"rule": "position", "position": kit.team.qa, "mode": "quorum", "quorum": 2}
    )
    runs = [kit.run] + [
        start(kit.procedure_version, kit.o.admin, title=f"Run {n}")
        for n in range(1, THREADS)
    ]

    def build(index: int) -> list[int]:
        made = []
        for _ in range(REQUESTS // THREADS):
            subject = kit.subject(runs[index])
            made.append(
                services.submit(
                    KIND,
                    subject.pk,
                    actor=kit.team.dina,
                    route_version=version,
                    now=SUBMITTED,
                ).pk
            )
        return made

    built = run_in_threads(build, THREADS)
    assert all(isinstance(r, list) for r in built), built
    request_ids = [pk for chunk in built for pk in chunk]
    assert len(request_ids) == REQUESTS

    team = kit.team
    actors = [team.ayu, team.eko, team.fajar, team.dina, team.dewi, team.rina]
    rng = random.Random(20260302)
    plan = [
        (
            rng.choice(request_ids),
            rng.choice(actors),
            Outcome.REJECT if rng.random() < 0.05 else Outcome.APPROVE,
        )
        for _ in range(ATTEMPTS)
    ]
    shares = [plan[i::THREADS] for i in range(THREADS)]

    def attempt(index: int) -> tuple[Counter, list[int]]:
        outcomes: Counter = Counter()
        written: list[int] = []
        for request_id, actor, outcome in shares[index]:
            try:
                decision = services.decide(
                    ApprovalRequest(pk=request_id),
                    actor=actor,
                    outcome=outcome,
                    comment="Not this time" if outcome == Outcome.REJECT else "",
                    now=DECIDED,
                )
            except Conflict:
                outcomes["conflict"] += 1
            except PermissionDenied:
                outcomes["refused"] += 1
            else:
                outcomes["decided"] += 1
                written.append(decision.pk)
        return outcomes, written

    results = run_in_threads(attempt, THREADS)

    errors = [r for r in results if isinstance(r, BaseException)]
    assert errors == []
    totals: Counter = Counter()
    written: list[int] = []
    for outcomes, pks in results:
        totals.update(outcomes)
        written.extend(pks)
    # every attempt has exactly one outcome
    assert sum(totals.values()) == ATTEMPTS
    # no lost decision: every success is a stored decision, and nothing else is
    stored = list(Decision.objects.values_list("pk", flat=True))
    assert sorted(written) == sorted(stored)
    assert len(set(written)) == totals["decided"]
    # no double decision: one per slot and round, at most the quorum per request
    per_slot = Decision.objects.values(
        "request_stage", "round", "slot_person"
    ).annotate(n=Count("id"))
    assert {row["n"] for row in per_slot} == {1}
    # one audit event per decision
    events = Counter(
        AuditEvent.objects.filter(verb__in=DECISION_VERBS).values_list(
            "target_id", flat=True
        )
    )
    per_request = Counter(
        str(pk) for pk in Decision.objects.values_list("request_id", flat=True)
    )
    assert events == per_request
    # every request is where its decisions put it
    approvals = Counter(
        Decision.objects.filter(outcome=Outcome.APPROVE).values_list(
            "request_id", flat=True
        )
    )
    rejected = set(
        Decision.objects.filter(outcome=Outcome.REJECT).values_list(
            "request_id", flat=True
        )
    )
    statuses = dict(ApprovalRequest.objects.values_list("pk", "status"))
    for pk in request_ids:
        if pk in rejected:
            assert statuses[pk] == RequestStatus.REJECTED
            assert approvals[pk] <= 1
        elif approvals[pk] == 2:
            assert statuses[pk] == RequestStatus.APPROVED
        else:
            assert (statuses[pk], approvals[pk] < 2) == (RequestStatus.OPEN, True)
    approved = {pk for pk, status in statuses.items() if status == "approved"}
    assert sorted(r for _s, r, _a in kit.state.approved) == sorted(approved)
    assert sorted(r for _s, r, _a in kit.state.rejected) == sorted(rejected)
    assert totals["decided"] > REQUESTS  # the race was real: most requests moved
    assert totals["conflict"] > 0 and totals["refused"] > 0
    verification = audit.verify(kit.o.organisation)
    assert verification.ok, verification.problem


def test_of_eight_racing_decisions_exactly_one_wins_and_the_rest_get_409(kit):
    # The three QA officers, each clicking "approve" (and once "reject") at once
    # on a stage that needs one of them.
    request = kit.submit(kit.route({"rule": "position", "position": kit.team.qa}))
    seen = request.version
    team = kit.team
    clicks = [
        (team.ayu, "approve"),
        (team.eko, "approve"),
        (team.fajar, "approve"),
        (team.ayu, "approve"),
        (team.eko, "reject"),
        (team.fajar, "approve"),
        (team.ayu, "approve"),
        (team.eko, "approve"),
    ]

    def click(index: int) -> Decision:
        user, outcome = clicks[index]
        return services.decide(
            ApprovalRequest(pk=request.pk),
            actor=user,
            outcome=outcome,
            comment="No" if outcome == "reject" else "",
            expected_version=seen,
            now=DECIDED,
        )

    results = run_in_threads(click, THREADS)

    assert sum(isinstance(r, Decision) for r in results) == 1, results
    assert sum(isinstance(r, Conflict) for r in results) == THREADS - 1, results
    [decision] = Decision.objects.filter(request=request)
    assert next(r for r in results if isinstance(r, Decision)).pk == decision.pk
    verbs = list(
        AuditEvent.objects.filter(
            verb__in=DECISION_VERBS, target_id=str(request.pk)
        ).values_list("verb", flat=True)
    )
    assert len(verbs) == 1
    request.refresh_from_db()
    assert request.status in (RequestStatus.APPROVED, RequestStatus.REJECTED)
    assert request.version == seen + 1
    assert audit.verify(kit.o.organisation).ok


# --- deterministic races -------------------------------------------------------------------


def wait_until_blocked(waiting: int = 1) -> None:
    """Until `waiting` other sessions of this database wait on a lock (PostgreSQL's
    own view of it, so the order of the race is certain)."""
    for _ in range(6000):
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND wait_event_type = 'Lock'"
            )
            (count,) = cursor.fetchone()
        if count >= waiting:
            return
        time.sleep(0.01)
    raise AssertionError("the other transaction never blocked")


class Pause:
    """Hold the thread named `who` inside a patched function until released."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.reached = threading.Event()
        self.release = threading.Event()

    def wrap(self, original: Callable[..., Any], *, before: bool = False) -> Any:
        def patched(*args: Any, **kwargs: Any) -> Any:
            if before and threading.current_thread().name == self.who:
                self.reached.set()
                assert self.release.wait(timeout=120)
            result = original(*args, **kwargs)
            if not before and threading.current_thread().name == self.who:
                self.reached.set()
                assert self.release.wait(timeout=120)
            return result

        return patched


def in_thread(name: str, work: Callable[[], Any]) -> tuple[threading.Thread, dict]:
    box: dict[str, Any] = {}

    def target() -> None:
        try:
            box["result"] = work()
        except BaseException as error:  # inspected by the test
            box["error"] = error
        finally:
            connection.close()

    thread = threading.Thread(target=target, name=name)
    thread.start()
    return thread, box


def joined(*threads: threading.Thread) -> None:
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"


def test_of_two_racing_nth_approvals_one_completes_the_stage_and_one_is_refused(
    kit, monkeypatch
):
    version = kit.route(
        {"rule": "position", "position": kit.team.qa, "mode": "quorum", "quorum": 2},
        {"rule": "position", "position": kit.o.director},
    )
    request = kit.submit(version)
    kit.decide(request, kit.team.ayu)
    pause = Pause("first")
    # `first` holds the request's lock, paused just after reading its stages
    monkeypatch.setattr(services, "_stages", pause.wrap(services._stages))

    def approve(user):  # type: ignore[no-untyped-def]
        return lambda: services.decide(
            ApprovalRequest(pk=request.pk), actor=user, outcome="approve", now=DECIDED
        )

    first, first_box = in_thread("first", approve(kit.team.eko))
    assert pause.reached.wait(timeout=60)
    second, second_box = in_thread("second", approve(kit.team.fajar))
    wait_until_blocked()  # `second` waits on the request's row lock
    pause.release.set()
    joined(first, second)

    assert isinstance(first_box.get("result"), Decision), first_box
    assert isinstance(second_box.get("error"), Conflict), second_box
    assert kit.statuses(request) == [StageStatus.APPROVED, StageStatus.OPEN]
    assert Decision.objects.filter(request=request).count() == 2
    opened = AuditEvent.objects.filter(
        verb=AuditVerb.STAGE_OPENED, target_id=str(request.pk)
    )
    assert sorted(e.changes["stage"] for e in opened) == [1, 2]
    assert audit.verify(kit.o.organisation).ok


def test_without_the_lock_the_unique_constraint_still_allows_one_decision(
    kit, monkeypatch
):
    # A double click: the same approver twice, both past every check before either
    # writes. With the row lock taken out, the constraint is the last defence.
    request = kit.submit(kit.route({"rule": "superior"}))

    def unlocked(request_id: int) -> ApprovalRequest:
        return ApprovalRequest.objects.select_related(
            "organisation", "route_version__route"
        ).get(pk=request_id)

    monkeypatch.setattr(services, "_lock", unlocked)
    both_checked = threading.Barrier(2)
    original = services._clean_decision

    def checked(*args: Any, **kwargs: Any) -> Any:
        result = original(*args, **kwargs)
        both_checked.wait(timeout=60)
        return result

    monkeypatch.setattr(services, "_clean_decision", checked)

    def approve() -> Decision:
        return services.decide(
            ApprovalRequest(pk=request.pk),
            actor=kit.team.rina,
            outcome="approve",
            now=DECIDED,
        )

    first, first_box = in_thread("first", approve)
    second, second_box = in_thread("second", approve)
    joined(first, second)

    boxes = [first_box, second_box]
    assert sum(1 for b in boxes if isinstance(b.get("result"), Decision)) == 1
    assert sum(1 for b in boxes if isinstance(b.get("error"), Conflict)) == 1
    assert Decision.objects.filter(request=request).count() == 1
    assert (
        AuditEvent.objects.filter(
            verb=AuditVerb.APPROVED, target_id=str(request.pk)
        ).count()
        == 1
    )
    assert audit.verify(kit.o.organisation).ok


def test_a_holding_ended_while_a_decision_waits_refuses_that_decision(kit, monkeypatch):
    org_extensions.register_holders_changed_handler(services.on_holders_changed)
    request = kit.submit(kit.route({"rule": "superior"}))
    pause = Pause("decider")
    # the decider holds the request's lock, paused before it works out who decides
    monkeypatch.setattr(
        services,
        "_reresolve_for_decision",
        pause.wrap(services._reresolve_for_decision, before=True),
    )
    decider, box = in_thread(
        "decider",
        lambda: services.decide(
            ApprovalRequest(pk=request.pk),
            actor=kit.team.rina,
            outcome="approve",
            now=DECIDED,
        ),
    )
    assert pause.reached.wait(timeout=60)

    # meanwhile Rina leaves: the org hook skips the locked request, no deadlock
    holding = Holding.objects.get(
        person=kit.team.person("rina"), position__code="EXP-HEAD"
    )
    org.end_holding(
        holding,
        actor=kit.o.admin,
        expected_version=holding.version,
        end_date=ENDED,
    )
    pause.release.set()
    joined(decider)

    assert isinstance(box.get("error"), PermissionDenied), box
    assert not Decision.objects.filter(request=request).exists()
    request.refresh_from_db()
    assert request.status == RequestStatus.OPEN
    assert audit.verify(kit.o.organisation).ok


def test_a_decision_made_before_an_org_change_commits_stands_without_deadlock(
    kit, monkeypatch
):
    org_extensions.register_holders_changed_handler(services.on_holders_changed)
    request = kit.submit(kit.route({"rule": "superior"}))
    pause = Pause("org-change")
    # the org change has written its rows and its audit event (holding the
    # organisation's chain lock) and pauses in the approvals hook
    monkeypatch.setattr(
        services,
        "reresolve_open_stages",
        pause.wrap(services.reresolve_open_stages, before=True),
    )
    holding = Holding.objects.get(
        person=kit.team.person("rina"), position__code="EXP-HEAD"
    )
    change, change_box = in_thread(
        "org-change",
        lambda: org.end_holding(
            holding,
            actor=kit.o.admin,
            expected_version=holding.version,
            end_date=ENDED,
        ),
    )
    assert pause.reached.wait(timeout=60)
    decider, decider_box = in_thread(
        "decider",
        lambda: services.decide(
            ApprovalRequest(pk=request.pk),
            actor=kit.team.rina,
            outcome="approve",
            now=DECIDED,
        ),
    )
    wait_until_blocked()  # the decision waits for the chain lock, holding the request
    pause.release.set()
    joined(change, decider)

    assert "error" not in change_box, change_box
    assert isinstance(decider_box.get("result"), Decision), decider_box
    request.refresh_from_db()
    assert request.status == RequestStatus.APPROVED
    assert audit.verify(kit.o.organisation).ok
