"""Test data built through the services, so it obeys the same invariants."""

from __future__ import annotations

import datetime as dt
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from django.db import connection

from rantai.accounts.models import Organisation, Role, User
from rantai.accounts.services import create_user
from rantai.org import membership
from rantai.org import services as org
from rantai.org.models import Party, PartyKind, Person, Position

PASSWORD = "correct-horse-battery-9"  # noqa: S105 - test accounts only


def make_user(username: str, *, language: str = "en") -> User:
    return create_user(
        username=username,
        email=f"{username}@example.test",
        password=PASSWORD,
        full_name=username.title(),
        language=language,
    )


@dataclass
class SmallOrg:
    """An organisation with a unit tree, a partner, positions, people and every role."""

    organisation: Organisation
    admin: User
    member: User
    auditor: User
    partner: User
    head_office: Party
    export: Party
    warehouse: Party
    forwarder: Party
    director: Position
    export_head: Position
    export_staff: Position
    forwarder_ops: Position
    rina: Person
    budi: Person
    joko: Person


def small_org(slug: str = "acme", *, prefix: str = "") -> SmallOrg:
    admin = make_user(f"{prefix}admin")
    member = make_user(f"{prefix}member")
    auditor = make_user(f"{prefix}auditor")
    partner = make_user(f"{prefix}partner")
    organisation = org.create_organisation(
        f"{slug.title()} Ltd", slug=slug, actor=admin
    )
    head_office = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Head office",
        code="HO",
    )
    export = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Export",
        code="EXP",
        parent=head_office,
    )
    warehouse = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Warehouse",
        code="WH",
        parent=head_office,
    )
    forwarder = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.EXTERNAL_PARTNER,
        name="Fast Forwarding",
        code="FWD",
    )
    director = org.create_position(
        organisation, actor=admin, party=head_office, title="Director", code="DIR"
    )
    export_head = org.create_position(
        organisation,
        actor=admin,
        party=export,
        title="Head of export",
        code="EXP-HEAD",
        superior=director,
    )
    export_staff = org.create_position(
        organisation,
        actor=admin,
        party=export,
        title="Export clerk",
        code="EXP-CLERK",
        superior=export_head,
        max_holders=2,
    )
    forwarder_ops = org.create_position(
        organisation,
        actor=admin,
        party=forwarder,
        title="Forwarder operations",
        code="FWD-OPS",
    )
    org.create_duty(
        export_head, actor=admin, title="Price shipping", output_unit="quotation"
    )
    rina = org.create_person(
        organisation, actor=admin, full_name="Rina Kusuma", user=member
    )
    budi = org.create_person(organisation, actor=admin, full_name="Budi Santoso")
    joko = org.create_person(
        organisation,
        actor=admin,
        full_name="Joko Susilo",
        party=forwarder,
        user=partner,
    )
    start = dt.date(2026, 1, 1)
    org.assign_holder(export_head, actor=admin, person=rina, start_date=start)
    org.assign_holder(export_staff, actor=admin, person=budi, start_date=start)
    org.assign_holder(forwarder_ops, actor=admin, person=joko, start_date=start)
    membership.add_member(organisation, actor=admin, user=member, role=Role.MEMBER)
    membership.add_member(organisation, actor=admin, user=auditor, role=Role.AUDITOR)
    membership.add_member(
        organisation, actor=admin, user=partner, role=Role.PARTNER, party=forwarder
    )
    return SmallOrg(
        organisation,
        admin,
        member,
        auditor,
        partner,
        head_office,
        export,
        warehouse,
        forwarder,
        director,
        export_head,
        export_staff,
        forwarder_ops,
        rina,
        budi,
        joko,
    )


# --- real threads and transactions (PostgreSQL only: under pytest the SQLite test
# database is in memory, one per connection, so threads cannot share it) ------------


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
        thread.join(timeout=300)
    assert not any(thread.is_alive() for thread in threads), "a thread hung"
    return results


class Pause:
    """Hold the thread named `who` right after a patched function returned (its
    transaction still open) until released."""

    def __init__(self, who: str) -> None:
        self.who = who
        self.reached = threading.Event()
        self.release = threading.Event()

    def after(self, original: Callable[..., Any]) -> Callable[..., Any]:
        def patched(*args: Any, **kwargs: Any) -> Any:
            result = original(*args, **kwargs)
            if threading.current_thread().name == self.who:
                self.reached.set()
                assert self.release.wait(timeout=120)
            return result

        return patched


def in_thread(
    name: str, work: Callable[[], Any]
) -> tuple[threading.Thread, dict[str, Any]]:
    """Start `work()` in a thread named `name`; the box gets its "result" or its
    "error"."""
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


def blocked_or_done(thread: threading.Thread) -> bool:
    """Wait until the thread waits on a lock (PostgreSQL's own view: True) or has
    finished without waiting (False)."""
    for _ in range(3000):
        if not thread.is_alive():
            return False
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FROM pg_stat_activity WHERE datname = "
                "current_database() AND wait_event_type = 'Lock'"
            )
            (count,) = cursor.fetchone()
        if count:
            return True
        time.sleep(0.01)
    raise AssertionError("the thread neither blocked nor finished")


def joined(*threads: threading.Thread) -> None:
    """Wait for the threads; none may hang."""
    for thread in threads:
        thread.join(timeout=120)
    assert not any(t.is_alive() for t in threads), "a thread hung"
