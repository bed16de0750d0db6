"""Concurrent writers: real threads, real transactions, one unforked chain.

The threaded tests need a database that several connections share with real row locks:
PostgreSQL. (Under pytest the SQLite test database lives in memory and is not shared
between threads.) SQLite's own writer queue — IMMEDIATE transactions, WAL and a busy
timeout — is exercised by the last test, in a child process with a file database.
"""

from __future__ import annotations

import datetime as dt
import itertools
import json
import os
import subprocess
import sys
import threading
from collections import Counter
from collections.abc import Callable
from pathlib import Path

import pytest
from django.db import connection

from rantai.accounts.models import Membership, Role
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent
from rantai.core.errors import Conflict, ValidationFailed
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Holding, Party, PartyKind, Position
from rantai.testing import make_user

on_postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="needs PostgreSQL: real threads share the test database only there "
    "(the SQLite test database is in memory, one per connection)",
)

JAN_1 = dt.date(2026, 1, 1)
THREADS = 8
WRITES_PER_THREAD = 25


def run_in_threads(work: Callable[[int], object], count: int) -> list[object]:
    """Run work(0..count-1) in threads started together; return results or exceptions."""
    barrier = threading.Barrier(count)
    results: list[object] = [None] * count

    def target(index: int) -> None:
        try:
            barrier.wait(timeout=30)
            results[index] = work(index)
        except BaseException as error:  # collected and inspected by the test
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


def assert_one_unforked_chain(organisation, *, expected_events: int) -> None:  # type: ignore[no-untyped-def]
    events = list(
        AuditEvent.objects.filter(organisation=organisation).order_by("sequence")
    )
    assert len(events) == expected_events
    assert [e.sequence for e in events] == list(range(1, expected_events + 1))
    forks = [h for h, n in Counter(e.previous_hash for e in events).items() if n > 1]
    assert forks == []
    assert all(b.previous_hash == a.hash for a, b in itertools.pairwise(events))
    verification = audit.verify(organisation)
    assert (verification.ok, verification.events_checked) == (True, expected_events)


@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_concurrent_writers_extend_one_contiguous_chain(acme):
    # given one unit per writer and a shared position for duties
    units = [
        org.create_party(
            acme.organisation,
            actor=acme.admin,
            kind=PartyKind.INTERNAL_UNIT,
            name=f"Unit {n}",
            code=f"U{n}",
            parent=acme.head_office,
        )
        for n in range(THREADS)
    ]
    acme.organisation.refresh_from_db()
    before = acme.organisation.audit_sequence

    def work(index: int) -> int:
        for write in range(WRITES_PER_THREAD):
            if write % 2:
                unit = Party.objects.get(pk=units[index].pk)
                org.update_party(
                    unit,
                    actor=acme.admin,
                    expected_version=unit.version,
                    description=f"writer {index}, write {write}",
                )
            else:
                org.create_duty(
                    acme.export_staff,
                    actor=acme.admin,
                    title=f"Duty {index}.{write}",
                    output_unit="document",
                )
        return WRITES_PER_THREAD

    # when 8 writers make 25 changes each at the same time
    results = run_in_threads(work, THREADS)

    # then every change succeeded and the chain grew by exactly 200 linked events
    assert results == [WRITES_PER_THREAD] * THREADS
    assert_one_unforked_chain(
        acme.organisation, expected_events=before + THREADS * WRITES_PER_THREAD
    )
    assert [Party.objects.get(pk=u.pk).version for u in units] == [1 + 12] * THREADS


@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_racing_updates_with_the_same_version_let_exactly_one_win(acme):
    acme.organisation.refresh_from_db()
    before = acme.organisation.audit_sequence
    copies = [Party.objects.get(pk=acme.export.pk) for _ in range(THREADS)]

    def work(index: int) -> str:
        org.update_party(
            copies[index], actor=acme.admin, expected_version=1, name=f"Name {index}"
        )
        return f"Name {index}"

    results = run_in_threads(work, THREADS)

    winners = [r for r in results if isinstance(r, str)]
    losers = [r for r in results if not isinstance(r, str)]
    assert len(winners) == 1
    assert len(losers) == THREADS - 1
    assert all(isinstance(r, Conflict) for r in losers), losers
    stored = Party.objects.get(pk=acme.export.pk)
    assert (stored.name, stored.version) == (winners[0], 2)
    new_events = AuditEvent.objects.filter(
        organisation=acme.organisation, sequence__gt=before
    )
    assert [e.changes for e in new_events] == [{"name": ["Export", winners[0]]}]
    assert_one_unforked_chain(acme.organisation, expected_events=before + 1)


@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_racing_appointments_to_a_single_holder_position_leave_one_holder(acme):
    # given the vacant director position and one candidate per writer
    candidates = [
        org.create_person(
            acme.organisation, actor=acme.admin, full_name=f"Candidate {n}"
        )
        for n in range(THREADS)
    ]
    acme.organisation.refresh_from_db()
    before = acme.organisation.audit_sequence
    director = Position.objects.get(pk=acme.director.pk)

    def work(index: int) -> int:
        holding = org.assign_holder(
            director,
            actor=acme.admin,
            person=candidates[index],
            start_date=JAN_1,
        )
        return holding.pk

    results = run_in_threads(work, THREADS)

    appointed = [r for r in results if isinstance(r, int)]
    refused = [r for r in results if not isinstance(r, int)]
    assert len(appointed) == 1
    assert all(isinstance(r, ValidationFailed) for r in refused), refused
    assert len(refused) == THREADS - 1
    assert list(
        Holding.objects.filter(position=director).values_list("pk", flat=True)
    ) == (appointed)
    assert_one_unforked_chain(acme.organisation, expected_events=before + 1)


@on_postgresql_only
@pytest.mark.django_db(transaction=True)
def test_two_admins_demoting_each_other_at_once_leave_one_admin(acme):
    # given two administrators
    deputy = make_user("deputy")
    membership.add_member(
        acme.organisation, actor=acme.admin, user=deputy, role=Role.ADMIN
    )
    admins = [
        Membership.objects.get(user=user, organisation=acme.organisation)
        for user in (acme.admin, deputy)
    ]

    def work(index: int) -> str:
        target = admins[1 - index]
        membership.change_role(
            target, actor=target.user, expected_version=target.version, role=Role.MEMBER
        )
        return "demoted"

    results = run_in_threads(work, 2)

    assert sorted(map(type, results), key=str) == sorted(
        [str, ValidationFailed], key=str
    )
    assert (
        Membership.objects.filter(
            organisation=acme.organisation, role=Role.ADMIN, is_active=True
        ).count()
        == 1
    )
    assert audit.verify(acme.organisation).ok


SQLITE_WRITERS = r"""
import json, sys, threading
import django
django.setup()
from django.core.management import call_command
from django.db import connection
call_command("migrate", interactive=False, verbosity=0)
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent
from rantai.org import services as org
from rantai.testing import small_org

acme = small_org("acme")
before = AuditEvent.objects.count()
threads, writes = int(sys.argv[1]), int(sys.argv[2])
errors = []
barrier = threading.Barrier(threads)

def work(index):
    try:
        barrier.wait()
        for write in range(writes):
            org.create_duty(acme.export_staff, actor=acme.admin,
                            title=f"Duty {index}.{write}", output_unit="document")
    except Exception as error:
        errors.append(repr(error))
    finally:
        connection.close()

pool = [threading.Thread(target=work, args=(i,)) for i in range(threads)]
for t in pool:
    t.start()
for t in pool:
    t.join()
events = list(AuditEvent.objects.order_by("sequence"))
previous = [e.previous_hash for e in events]
print(json.dumps({
    "journal_mode": connection.cursor().execute("PRAGMA journal_mode").fetchone()[0],
    "errors": errors,
    "new_events": len(events) - before,
    "sequences_contiguous": [e.sequence for e in events] == list(range(1, len(events) + 1)),
    "forks": len(previous) - len(set(previous)),
    "verified": audit.verify(acme.organisation).ok,
}))
"""


def test_sqlite_queues_concurrent_writers_into_one_chain(tmp_path: Path):
    # given a file database in WAL mode, as Rantai runs it by default
    if connection.vendor != "sqlite":
        pytest.skip("exercises the SQLite writer queue; runs in the SQLite suite run")
    env = {
        key: value
        for key, value in os.environ.items()
        if key not in {"DATABASE_URL", "RANTAI_TEST_SQLITE"}
    }
    env |= {
        "DJANGO_SETTINGS_MODULE": "rantai.settings",
        "RANTAI_DATA_DIR": str(tmp_path),
        "RANTAI_TESTING": "1",
        "DEBUG": "1",
    }

    # when 4 threads write 10 changes each at the same time
    finished = subprocess.run(
        [sys.executable, "-c", SQLITE_WRITERS, "4", "10"],
        env=env,
        capture_output=True,
        text=True,
        timeout=300,
        cwd=Path(__file__).resolve().parents[3],
    )

    # then every write waited its turn: 40 events, linked, no fork
    assert finished.returncode == 0, finished.stderr
    assert json.loads(finished.stdout.strip().splitlines()[-1]) == {
        "journal_mode": "wal",
        "errors": [],
        "new_events": 40,
        "sequences_contiguous": True,
        "forks": 0,
        "verified": True,
    }
