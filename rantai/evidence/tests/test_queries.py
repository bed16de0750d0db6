"""Reads: partners see the records of runs they take part in (their own party's
task records only); everyone else in the organisation sees every record; a fixed
number of queries."""

from __future__ import annotations

import pytest

from rantai.accounts.access import access_for
from rantai.core.errors import NotFound
from rantai.evidence import queries
from rantai.evidence.models import RecordKind, RecordStatus
from rantai.evidence.tests import factories as ef

pytestmark = pytest.mark.django_db


@pytest.fixture
def team() -> ef.Team:
    return ef.team()


@pytest.fixture
def spread(team):
    """A record of the organisation, of the run, of each task, and the ship task's
    evidence (by Joko)."""
    return {
        "organisation": ef.make_record(team.o, actor=team.rina_user, title="Org"),
        "run": ef.make_record(team.o, actor=team.rina_user, run=team.run, title="Run"),
        "pack": ef.make_record(
            team.o, actor=team.rina_user, task=team.task("pack"), title="Pack"
        ),
        "ship": ef.make_record(
            team.o, actor=team.rina_user, task=team.task("ship"), title="Ship"
        ),
        "ship-evidence": ef.make_record(
            team.o,
            actor=team.joko_user,
            task=team.task("ship"),
            kind=RecordKind.TASK_EVIDENCE,
            items=[ef.pdf()],
            title="Ship evidence",
        ),
    }


def titles(records) -> set[str]:
    return {record.title for record in records}


def test_members_administrators_and_auditors_see_every_record(team, spread):
    for user in (team.rina_user, team.admin, team.o.auditor):
        access = access_for(user, "acme")
        assert titles(queries.records(access)) == {
            "Org",
            "Run",
            "Pack",
            "Ship",
            "Ship evidence",
        }


def test_a_partner_sees_the_run_it_takes_part_in_and_only_its_own_tasks(team, spread):
    joko = access_for(team.joko_user, "acme")

    assert titles(queries.records(joko)) == {"Run", "Ship", "Ship evidence"}
    assert queries.record(joko, spread["run"].pk) == spread["run"]
    for hidden in ("organisation", "pack"):
        with pytest.raises(NotFound):
            queries.record(joko, spread[hidden].pk)


def test_a_partner_of_a_party_outside_the_run_sees_nothing(team, spread):
    olga = access_for(team.olga_user, "acme")

    assert list(queries.records(olga)) == []
    with pytest.raises(NotFound):
        queries.record(olga, spread["run"].pk)
    file_item = spread["ship-evidence"].evidence.get()
    with pytest.raises(NotFound):
        queries.evidence_item(olga, file_item.pk)


def test_records_are_filtered_and_counted_in_one_query(
    team, spread, django_assert_num_queries
):
    access = access_for(team.rina_user, "acme")
    ship = team.task("ship")

    with django_assert_num_queries(1):
        on_ship = list(queries.records(access, task=ship))
    # Newest first (recorded at the same moment: the later one first).
    assert [r.title for r in on_ship] == ["Ship evidence", "Ship"]
    counts = {r.title: r.evidence_count for r in on_ship}  # type: ignore[attr-defined]
    assert counts == {"Ship": 0, "Ship evidence": 1}
    assert titles(queries.records(access, run=team.run)) == {
        "Run",
        "Pack",
        "Ship",
        "Ship evidence",
    }
    assert titles(queries.records(access, kind=RecordKind.TASK_EVIDENCE)) == {
        "Ship evidence"
    }
    assert titles(queries.records(access, search="ship EVIDENCE")) == {"Ship evidence"}
    assert titles(queries.records(access, status=RecordStatus.VERIFIED)) == set()


def test_one_record_comes_with_its_evidence_and_checks_in_three_queries(
    team, django_assert_num_queries
):
    record = ef.verified_record(
        team.o,
        actor=team.rina_user,
        verifier=team.ani_user,
        run=team.run,
        items=[ef.link(), ef.pdf()],
    )
    access = access_for(team.joko_user, "acme")

    with django_assert_num_queries(3):
        found = queries.record(access, record.pk)
        evidence = [
            (item.kind, item.added_by.username) for item in found.evidence.all()
        ]
        checks = [(v.verdict, v.by.username) for v in found.verifications.all()]
        assert found.run is not None and found.run.procedure.code == "SHIP"

    assert evidence == [("link", "member"), ("file", "member")]
    assert checks == [("verified", "ani")]


def test_a_file_item_is_found_for_its_download_links_are_not(team, spread):
    record = spread["ship-evidence"]
    file_item = record.evidence.get()
    link_record = ef.make_record(
        team.o, actor=team.rina_user, run=team.run, items=[ef.link()]
    )
    joko = access_for(team.joko_user, "acme")

    found = queries.evidence_item(joko, file_item.pk)

    assert (found, found.record) == (file_item, record)
    with pytest.raises(NotFound):
        queries.evidence_item(joko, link_record.evidence.get().pk)
    with pytest.raises(NotFound):
        queries.evidence_item(joko, "not-a-number")


def test_a_tasks_evidence_records_with_their_items(
    team, spread, django_assert_num_queries
):
    access = access_for(team.rina_user, "acme")
    ship = team.task("ship")

    with django_assert_num_queries(2):
        found = queries.task_evidence(access, ship)
        assert [len(r.evidence.all()) for r in found] == [1]

    assert found == [spread["ship-evidence"]]
    assert (
        queries.task_evidence(access_for(team.olga_user, "acme"), team.task("ship"))
        == []
    )


def test_who_may_record_and_verify_for_pages(team, spread):
    rina = access_for(team.rina_user, "acme")
    joko = access_for(team.joko_user, "acme")
    auditor = access_for(team.o.auditor, "acme")

    assert queries.may_record(rina) is True
    assert queries.may_record(joko) is False
    assert queries.may_record(joko, run=team.run) is True
    assert queries.may_record(joko, task=team.task("pack")) is False
    assert queries.may_record(auditor, run=team.run) is False
    assert queries.may_verify(rina, spread["run"]) is False  # her own
    assert queries.may_verify(joko, spread["run"]) is True
    assert queries.may_verify(joko, spread["pack"]) is False
    assert queries.may_verify(rina, spread["ship-evidence"]) is True


def test_filters_from_a_hostile_address_find_nothing_instead_of_failing(team, spread):
    # A crafted `?status=%00...`: PostgreSQL refuses NUL characters outright.
    access = access_for(team.rina_user, "acme")

    assert titles(queries.records(access, status="verified\x00")) == set()
    assert titles(queries.records(access, kind="claim\x00")) == set()
    assert titles(queries.records(access, status="no such status")) == set()
    assert titles(queries.records(access, search="Ship\x00")) == {
        "Ship",
        "Ship evidence",
    }
