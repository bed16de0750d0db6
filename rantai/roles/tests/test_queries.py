"""Reads of consultations and briefings, scoped by the caller's access."""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass

import pytest

from rantai.accounts.access import Access, access_for
from rantai.accounts.models import User
from rantai.approvals import timers
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.models import ProcedureVersion, Run
from rantai.core.errors import NotFound, PermissionDenied
from rantai.org import extensions as org_extensions
from rantai.org.models import Person, Position
from rantai.roles import briefings, consulting, queries
from rantai.roles.models import Briefing, Consultation
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg

T0 = f.T0


@contextmanager
def roles_registry() -> Iterator[None]:
    """Consultations on ready tasks and briefings on publication, nothing else."""
    with (
        extensions.isolated_registry(),
        org_extensions.isolated_registry(),
        timers.isolated_rules({}),
    ):
        extensions.register_completion_guard(consulting.completion_guard)
        extensions.register_task_ready_handler(consulting.on_task_ready)
        extensions.register_task_reopened_handler(consulting.on_task_reopened)
        extensions.register_version_published_handler(briefings.on_version_published)
        yield


@dataclass
class World:
    o: SmallOrg
    clerk: Position
    legal: Position
    ani: Person  # clerk, responsible
    lia: Person  # legal officer, consulted
    version: ProcedureVersion
    run: Run

    def access(self, who: Person | User) -> Access:
        user = f.user_of(who) if isinstance(who, Person) else who
        return access_for(user, self.o.organisation.slug)


@pytest.fixture
def world(db) -> World:
    with extensions.isolated_registry(), org_extensions.isolated_registry():
        o = f.organisation()
        clerk = f.position(
            o, party=o.export, title="Clerk", code="CLK", superior=o.export_head
        )
        legal = f.position(o, party=o.head_office, title="Legal officer", code="LEG")
        ani, lia = f.person(o, "ani"), f.person(o, "lia")
        f.hold(o, clerk, ani)
        f.hold(o, legal, lia)
    with roles_registry():
        version = f.procedure(
            o,
            [
                f.StepRow(
                    "book",
                    responsible=clerk,
                    accountable=o.export_head,
                    consulted=[legal],
                    requires_consultation=True,
                ),
                f.StepRow(
                    "ship",
                    responsible=clerk,
                    accountable=o.export_head,
                    after=["book"],
                ),
            ],
        )
        run = f.start_run(version, actor=o.admin)
    return World(o, clerk, legal, ani, lia, version, run)


# --- consultations ---------------------------------------------------------------------


def test_the_consulted_holder_sees_what_waits_for_their_input(
    world, django_assert_num_queries
):
    w = world
    consultation = Consultation.objects.get()
    access = w.access(w.lia)

    with django_assert_num_queries(1):
        waiting = queries.consultations_waiting(access)
        assert [(c.task.key, c.position.title, c.task.run.title) for c in waiting] == [
            ("book", "Legal officer", "Ship 500 units to Kota A")
        ]
    assert waiting[0].pk == consultation.pk
    assert queries.consultations_waiting(w.access(w.ani)) == []
    assert queries.consultations_waiting(w.access(w.o.rina)) == []

    with roles_registry():
        consulting.answer(
            consultation, actor=f.user_of(w.lia), answer="Yes.", expected_version=1
        )
    assert queries.consultations_waiting(access) == []


def test_a_new_round_replaces_the_old_one_on_the_focus_page(world):
    w = world
    task = f.task(w.run, "book")
    with roles_registry():
        consulting.answer(
            Consultation.objects.get(),
            actor=f.user_of(w.lia),
            answer="Yes.",
            expected_version=1,
        )
        chains.complete_task(task, actor=f.user_of(w.ani), expected_version=None)
        chains.reopen_task(
            task, actor=w.o.admin, expected_version=None, reason="Wrong container."
        )

    waiting = queries.consultations_waiting(w.access(w.lia))

    assert [(c.task_id, c.round) for c in waiting] == [(task.pk, 1)]


def test_a_tasks_consultations_are_read_by_those_who_see_the_task(world):
    w = world
    task = f.task(w.run, "book")

    rows = queries.task_consultations(w.access(w.o.rina), task.pk)

    assert [(c.position.title, c.round, c.status) for c in rows] == [
        ("Legal officer", 0, "requested")
    ]
    with pytest.raises(NotFound):  # the partner's party owns no task of the run
        queries.task_consultations(w.access(w.o.partner), task.pk)
    assert queries.consultation(w.access(w.lia), rows[0].pk).pk == rows[0].pk
    with pytest.raises(NotFound):
        queries.consultation(w.access(w.o.partner), rows[0].pk)


# --- briefings -------------------------------------------------------------------------


def _people(found) -> list[str]:
    return sorted(b.person.full_name for b in found)


def test_people_read_their_own_briefings_and_the_owner_those_of_its_versions(world):
    w = world
    everyone = ["Ani", "Lia", "Rina Kusuma"]
    assert _people(Briefing.objects.all()) == everyone

    assert _people(queries.my_briefings(w.access(w.ani))) == ["Ani"]
    assert _people(queries.briefings(w.access(w.ani))) == ["Ani"]
    assert _people(queries.briefings(w.access(w.lia))) == ["Lia"]
    assert _people(queries.briefings(w.access(w.o.rina))) == everyone  # the owner
    assert _people(queries.briefings(w.access(w.o.admin))) == everyone
    assert _people(queries.briefings(w.access(w.o.auditor))) == everyone
    assert _people(queries.briefings(w.access(w.o.partner))) == []

    ani = Briefing.objects.get(person=w.ani)
    assert queries.briefing(w.access(w.ani), ani.pk).pk == ani.pk
    assert queries.briefing(w.access(w.o.rina), ani.pk).pk == ani.pk
    for outsider in (w.lia, w.o.partner):
        with pytest.raises(NotFound):
            queries.briefing(w.access(outsider), ani.pk)
    with pytest.raises(NotFound):
        queries.briefing(w.access(w.ani), "not-a-number")


def test_briefings_to_acknowledge_leave_out_the_acknowledged(world):
    w = world
    ani = Briefing.objects.get(person=w.ani)
    assert [b.pk for b in queries.briefings_to_acknowledge(w.access(w.ani))] == [ani.pk]

    briefings.acknowledge(ani, actor=f.user_of(w.ani), expected_version=1)

    assert queries.briefings_to_acknowledge(w.access(w.ani)) == []
    assert [b.pk for b in queries.my_briefings(w.access(w.ani))] == [ani.pk]


def test_the_status_of_a_version_is_for_admins_auditors_and_the_owner(world):
    w = world

    status = queries.version_briefing_status(w.access(w.o.rina), w.version.pk)

    assert [(r.person_name, r.acknowledged_at) for r in status.rows] == [
        ("Ani", None),
        ("Lia", None),
        ("Rina Kusuma", None),
    ]
    assert (status.may_remind, status.acknowledged) == (True, 0)
    assert queries.version_briefing_status(w.access(w.o.admin), w.version.pk).may_remind
    assert not queries.version_briefing_status(
        w.access(w.o.auditor), w.version.pk
    ).may_remind
    with pytest.raises(PermissionDenied):
        queries.version_briefing_status(w.access(w.ani), w.version.pk)
    with pytest.raises(NotFound):
        queries.version_briefing_status(w.access(w.o.partner), w.version.pk)
