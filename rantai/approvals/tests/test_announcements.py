"""Completed and late runs are announced to the people answerable for them (the
holders of the procedure's owner position and whoever started the run), once."""

from __future__ import annotations

from rantai.chains import services as chains
from rantai.chains.models import RunResult, RunStatus, Task
from rantai.chains.tests.helpers import StepSpec, at, build_version, start
from rantai.notifications import events
from rantai.notifications.models import Notification


def _one_step(acme):  # type: ignore[no-untyped-def]
    # Rina (login "member") holds the export head, the procedure's owner position.
    return build_version(
        acme, [StepSpec("pack", acme.export_head, acme.export_head, days="1")]
    )


def test_a_completed_run_is_announced_once_to_its_owner_and_starter(acme):
    version = _one_step(acme)
    run = start(version, acme.admin)
    task = Task.objects.get(run=run)

    chains.complete_task(task, actor=acme.member, expected_version=None, now=at(30))

    run.refresh_from_db()
    assert (run.status, run.result) == (RunStatus.COMPLETED, RunResult.MET)
    sent = Notification.objects.filter(event_type=events.RUN_COMPLETED)
    assert sorted(n.recipient.username for n in sent) == ["admin", "member"]
    assert {n.key for n in sent} == {f"run:{run.pk}:completed"}
    assert all(n.url == f"/o/acme/runs/{run.pk}/" for n in sent)
    assert all(run.title in n.title and "met" in n.title for n in sent)


def test_a_run_projected_past_its_due_date_is_announced(acme):
    version = _one_step(acme)
    # due in one hour, but the step takes a working day: late from the start
    run = chains.start_run(
        version,
        actor=acme.admin,
        title="Rush order",
        objective="Deliver today",
        measure_quantity=1,
        measure_unit="units",
        due_at=at(60),
        field_values={},
        now=at(),
    )

    run.refresh_from_db()
    assert run.schedule_status == "late"
    late = Notification.objects.filter(event_type=events.RUN_LATE)
    assert sorted(n.recipient.username for n in late) == ["admin", "member"]
    assert all(n.urgent for n in late)
