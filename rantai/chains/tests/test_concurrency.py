"""Concurrent task transitions with real threads and real transactions: no double
transition, no lost transition, one unforked audit chain.

Only on PostgreSQL: under pytest the SQLite test database is in memory, one per
connection, so threads cannot share it (SQLite's writer queue is covered by the
audit tests in a child process).
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable

import pytest
from django.db import connection

from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.chains import services
from rantai.chains.models import RunStatus, Task, TaskStatus
from rantai.chains.tests.helpers import StepSpec, build_version, start
from rantai.core.errors import Conflict

on_postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: real threads share the test database only there "
    "(the SQLite test database is in memory, one per connection)",
)

THREADS = 8
WIDTH = 25


def run_in_threads(work: Callable[[int], object], count: int) -> list[object]:
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
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
    assert not any(thread.is_alive() for thread in threads), "a writer hung"
    return results


@pytest.fixture
def wide_run(crew):  # type: ignore[no-untyped-def]
    """25 parallel steps of the warehouse head (Wawan) and a join after them all."""
    o = crew.o
    keys = [f"part-{n:02d}" for n in range(WIDTH)]
    version = build_version(
        o,
        [
            *(StepSpec(key, crew.warehouse_head, o.export_head) for key in keys),
            StepSpec("join", crew.warehouse_head, o.export_head, after=keys),
        ],
    )
    return start(version, o.member)


def completions(run) -> Counter:  # type: ignore[no-untyped-def]
    return Counter(
        AuditEvent.objects.filter(
            organisation=run.organisation, verb=AuditVerb.TASK_COMPLETED
        ).values_list("target_id", flat=True)
    )


@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_racing_completions_of_one_task_let_exactly_one_win(crew, wide_run):
    # 8 threads race to complete each of the 25 tasks: 200 attempts
    run = wide_run
    parts = list(Task.objects.filter(run=run).exclude(key="join").order_by("id"))
    outcomes: Counter = Counter()
    for part in parts:
        copies = [Task.objects.get(pk=part.pk) for _ in range(THREADS)]

        def work(index: int, copies: list[Task] = copies) -> str:
            services.complete_task(
                copies[index], actor=crew.wawan, expected_version=copies[index].version
            )
            return "done"

        results = run_in_threads(work, THREADS)
        assert results.count("done") == 1, results
        assert all(isinstance(r, Conflict) for r in results if r != "done"), results
        outcomes.update("done" if r == "done" else "conflict" for r in results)

    assert outcomes == {"done": WIDTH, "conflict": WIDTH * (THREADS - 1)}
    assert set(completions(run).values()) == {1}
    assert len(completions(run)) == WIDTH
    join = Task.objects.get(run=run, key="join")
    assert join.status == TaskStatus.READY
    assert join.version == 2  # became ready exactly once
    assert audit.verify(run.organisation).ok


@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_parallel_completions_of_different_tasks_lose_nothing(crew, wide_run):
    run = wide_run
    parts = list(Task.objects.filter(run=run).exclude(key="join").order_by("id"))
    per_thread = [parts[i::THREADS] for i in range(THREADS)]

    def work(index: int) -> int:
        for part in per_thread[index]:
            services.complete_task(
                Task.objects.get(pk=part.pk), actor=crew.wawan, expected_version=None
            )
        return len(per_thread[index])

    # when 8 threads complete the 25 parallel tasks at the same time
    results = run_in_threads(work, THREADS)

    # then every completion went through and the join saw all of them
    assert sum(r for r in results if isinstance(r, int)) == WIDTH, results
    assert Task.objects.filter(run=run, status=TaskStatus.DONE).count() == WIDTH
    join = Task.objects.get(run=run, key="join")
    assert (join.status, join.version) == (TaskStatus.READY, 2)
    services.complete_task(join, actor=crew.wawan, expected_version=None)
    run.refresh_from_db()
    assert run.status == RunStatus.COMPLETED
    assert (
        AuditEvent.objects.filter(
            organisation=run.organisation, verb=AuditVerb.COMPLETED
        ).count()
        == 1
    )
    verification = audit.verify(run.organisation)
    assert verification.ok
    sequences = list(
        AuditEvent.objects.filter(organisation=run.organisation)
        .order_by("sequence")
        .values_list("sequence", flat=True)
    )
    assert sequences == list(range(1, len(sequences) + 1))
