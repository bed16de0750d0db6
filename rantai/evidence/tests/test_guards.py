"""Required evidence: a task cannot complete until its evidence is attached (and
verified, where the step says so); the task shows what is missing."""

from __future__ import annotations

import datetime as dt

import pytest

from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.models import TaskStatus
from rantai.evidence import guards, records, verification
from rantai.evidence.models import RecordKind, Verdict
from rantai.evidence.tests import factories as ef

pytestmark = pytest.mark.django_db

COMPLETED = ef.T0 + dt.timedelta(hours=3)
ATTACHED = COMPLETED + dt.timedelta(hours=1)
CHECKED = ATTACHED + dt.timedelta(hours=1)


def complete(t: ef.Team, key: str = "pack"):
    """Rina (accountable) completes the task; the task as it is afterwards."""
    task = t.task(key)
    chains.complete_task(task, actor=t.rina_user, expected_version=None, now=COMPLETED)
    task.refresh_from_db()
    return task


def attach(t: ef.Team, key: str = "pack", actor=None):
    return records.attach_task_evidence(
        t.task(key), actor=actor or t.ani_user, items=[ef.pdf()], now=ATTACHED
    )


def test_the_guard_and_its_label_are_registered():
    assert guards.completion_guard in extensions.registry.completion_guards
    assert extensions.reason_label("evidence") == "waiting for the required evidence"


def test_a_task_requiring_evidence_waits_until_it_is_attached():
    t = ef.team(pack="evidence")

    task = complete(t)

    assert (task.status, task.awaiting_reasons) == (TaskStatus.AWAITING, ["evidence"])
    assert t.task("ship").status == TaskStatus.PENDING
    missing = guards.missing_evidence(task)
    assert (missing.ok, missing.attached, missing.description) == (
        False,
        0,
        "The signed delivery note",
    )
    assert missing.message == (
        "Attach the evidence this task requires before completing it."
    )

    attach(t)  # the task waited only for this: it completes at once

    task.refresh_from_db()
    assert (task.status, task.awaiting_reasons) == (TaskStatus.DONE, [])
    assert t.task("ship").status == TaskStatus.READY
    assert guards.missing_evidence(task).ok


def test_evidence_attached_before_completing_lets_the_task_complete_at_once():
    t = ef.team(pack="evidence")
    attach(t)

    task = complete(t)

    assert task.status == TaskStatus.DONE


def test_a_record_on_the_task_without_items_or_of_another_kind_does_not_count():
    t = ef.team(pack="evidence")
    pack = t.task("pack")
    ef.make_record(t.o, actor=t.ani_user, task=pack, kind=RecordKind.TASK_EVIDENCE)
    ef.make_record(t.o, actor=t.ani_user, task=pack, items=[ef.pdf()])

    task = complete(t)

    assert (task.status, task.awaiting_reasons) == (TaskStatus.AWAITING, ["evidence"])


def test_the_steps_wishes_are_copied_to_its_tasks():
    t = ef.team(pack="verified", ship="evidence")

    pack, ship = t.task("pack"), t.task("ship")

    assert (pack.requires_evidence, pack.requires_verified_evidence) == (True, True)
    assert (ship.requires_evidence, ship.requires_verified_evidence) == (True, False)


def test_verified_evidence_required_keeps_an_attached_unverified_task_awaiting():
    t = ef.team(pack="verified")
    complete(t)
    attach(t)
    task = t.task("pack")

    chains.recheck_task(task, actor=t.rina_user, expected_version=None, now=ATTACHED)

    task.refresh_from_db()
    assert (task.status, task.awaiting_reasons) == (TaskStatus.AWAITING, ["evidence"])
    missing = guards.missing_evidence(task)
    assert (missing.required, missing.needs_verification) == (True, True)
    assert (missing.attached, missing.verified, missing.ok) == (1, 0, False)
    assert missing.message == (
        "The evidence is attached but not yet checked: someone other than its "
        "author has to verify it before the task can be completed."
    )


def test_verifying_the_evidence_completes_the_awaiting_task_by_itself():
    t = ef.team(pack="verified")
    complete(t)
    record = attach(t)

    verification.verify(
        record,
        actor=t.rina_user,
        verdict=Verdict.VERIFIED,
        note="Signed by the warehouse head.",
        expected_version=record.version,
        now=CHECKED,
    )

    task = t.task("pack")
    assert (task.status, task.done_at, task.awaiting_reasons) == (
        TaskStatus.DONE,
        CHECKED,
        [],
    )
    assert t.task("ship").status == TaskStatus.READY
    verbs = list(
        AuditEvent.objects.filter(organisation=t.organisation)
        .order_by("-sequence")
        .values_list("verb", flat=True)[:2]
    )
    assert set(verbs) == {AuditVerb.VERIFIED, AuditVerb.TASK_COMPLETED}


def test_a_disputed_verdict_keeps_the_task_awaiting():
    t = ef.team(pack="verified")
    complete(t)
    record = attach(t)

    verification.verify(
        record,
        actor=t.rina_user,
        verdict=Verdict.DISPUTED,
        note="The signature is missing.",
        expected_version=record.version,
        now=CHECKED,
    )

    task = t.task("pack")
    assert (task.status, task.awaiting_reasons) == (TaskStatus.AWAITING, ["evidence"])


def test_verifying_evidence_of_a_task_that_is_not_awaiting_changes_no_task():
    t = ef.team(pack="verified")
    record = attach(t)

    verification.verify(
        record,
        actor=t.rina_user,
        verdict=Verdict.VERIFIED,
        note="Signed.",
        expected_version=record.version,
        now=CHECKED,
    )

    assert t.task("pack").status == TaskStatus.READY
    assert complete(t).status == TaskStatus.DONE


def test_the_guard_costs_no_query_for_a_task_that_requires_nothing(
    django_assert_num_queries,
):
    t = ef.team()
    task = t.task("pack")

    with django_assert_num_queries(0):
        assert guards.completion_guard(task) == extensions.ALLOW
        missing = guards.missing_evidence(task)

    assert (missing.required, missing.ok, missing.message) == (False, True, "")


def test_the_guard_costs_one_query_for_a_task_that_requires_evidence(
    django_assert_num_queries,
):
    t = ef.team(pack="verified")
    task = t.task("pack")

    with django_assert_num_queries(1):
        assert guards.completion_guard(task) == extensions.GuardResult(
            ok=False, reason="evidence"
        )
