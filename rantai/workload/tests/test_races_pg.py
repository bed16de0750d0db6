"""Concurrent writes of workload entries and sheets, with real threads and real
transactions on PostgreSQL: of two writers on the same version one wins and the
other gets `Conflict`, and nothing is written twice.

Only on PostgreSQL: under pytest the SQLite test database is in memory, one per
connection, so threads cannot share it.
"""

from __future__ import annotations

import threading
from collections.abc import Callable
from decimal import Decimal
from typing import Any

import pytest
from django.db import connection

from rantai.approvals.models import ApprovalRequest, SubjectKind
from rantai.audit.models import AuditEvent
from rantai.core.errors import Conflict, ValidationFailed
from rantai.org import services as org
from rantai.workload import services
from rantai.workload.models import Entry, SheetStatus
from rantai.workload.tests.conftest import FIGURES, NOW, START, Team

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: real threads share the test database only there "
        "(the SQLite test database is in memory, one per connection)",
    ),
    pytest.mark.django_db(transaction=True),
]


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
        thread.join(timeout=120)
    return results


def test_two_incumbents_changing_one_entry_at_once(team: Team):
    acme = team.acme
    org.assign_holder(
        acme.export_staff,
        actor=acme.admin,
        person=team.eko_person,
        start_date=START,
        is_acting=True,
    )
    analysis = team.open()
    entry = Entry.objects.get(sheet__analysis=analysis, title="Prepare documents")
    actors = (team.dina, team.eko)

    def change(index: int) -> Entry:
        return services.set_entry(
            Entry.objects.get(pk=entry.pk),
            actor=actors[index],
            volume=Decimal(100 + index),
            volume_period="year",
            standard_time=Decimal(30),
            time_unit="minute",
            expected_version=1,
            now=NOW,
        )

    results = run_in_threads(change, 2)

    assert sorted(type(r).__name__ for r in results) == ["Conflict", "Entry"]
    entry.refresh_from_db()
    assert entry.version == 2
    assert entry.sheet.entries_version == 2
    assert (
        AuditEvent.objects.filter(
            target_type="workload.entry", target_id=str(entry.pk)
        ).count()
        == 1
    )


def test_two_incumbents_submitting_one_sheet_at_once(team: Team):
    acme = team.acme
    org.assign_holder(
        acme.export_staff,
        actor=acme.admin,
        person=team.eko_person,
        start_date=START,
        is_acting=True,
    )
    analysis = team.open()
    sheet = team.fill(analysis, acme.export_staff, team.dina, FIGURES)
    actors = (team.dina, team.eko)

    def submit(index: int) -> Any:
        return services.submit_sheet(
            sheet, actor=actors[index], expected_version=sheet.version, now=NOW
        )

    results = run_in_threads(submit, 2)

    failures = [r for r in results if isinstance(r, Exception)]
    assert len(failures) == 1
    assert isinstance(failures[0], Conflict | ValidationFailed)
    sheet.refresh_from_db()
    assert sheet.status == SheetStatus.SUBMITTED
    assert (
        ApprovalRequest.objects.filter(
            subject_kind=SubjectKind.WORKLOAD_SHEET, subject_id=sheet.pk
        ).count()
        == 1
    )
