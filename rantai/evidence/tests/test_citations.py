"""Citations: decisions rest on records; the records' current status tells whether
they rest on unverified information."""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection
from django.test.utils import CaptureQueriesContext

from rantai.audit.models import AuditVerb
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.evidence import citations, verification
from rantai.evidence.models import Citation, CitingKind, RecordStatus, Verdict
from rantai.evidence.tests import factories as ef

pytestmark = pytest.mark.django_db

CITED = ef.T0 + dt.timedelta(hours=2)


@pytest.fixture
def team() -> ef.Team:
    return ef.team()


def test_a_decision_cites_records_with_their_status_then_and_is_audited(
    team, audit_trail
):
    heard = ef.make_record(team.o, actor=team.rina_user, run=team.run)
    checked = ef.verified_record(
        team.o, actor=team.rina_user, verifier=team.ani_user, run=team.run
    )
    trail = audit_trail(team.organisation)

    made = citations.cite(
        [heard, checked],
        citing_kind=CitingKind.OBSTACLE,
        citing_id=41,
        actor=team.ani_user,
        now=CITED,
    )

    assert [(c.record, c.status_when_cited, c.cited_by, c.cited_at) for c in made] == [
        (heard, RecordStatus.UNVERIFIED, team.ani_user, CITED),
        (checked, RecordStatus.VERIFIED, team.ani_user, CITED),
    ]
    events = trail.new_events()
    assert [(e.verb, e.target_id) for e in events] == [
        (AuditVerb.CITED, str(heard.pk)),
        (AuditVerb.CITED, str(checked.pk)),
    ]
    assert events[0].changes == {
        "citation": made[0].pk,
        "citing_kind": "obstacle",
        "citing_id": 41,
        "status_when_cited": "unverified",
    }


def test_citing_again_changes_nothing(team, audit_trail):
    record = ef.make_record(team.o, actor=team.rina_user, run=team.run)
    first = citations.cite(
        [record], citing_kind=CitingKind.REVIEW, citing_id=7, actor=team.rina_user
    )
    trail = audit_trail(team.organisation)

    again = citations.cite(
        [record, record],
        citing_kind=CitingKind.REVIEW,
        citing_id=7,
        actor=team.ani_user,
    )

    assert again == first
    assert Citation.objects.count() == 1
    trail.assert_nothing_new()


def test_citations_are_read_for_many_decisions_in_one_query(
    team, django_assert_num_queries
):
    a = ef.make_record(team.o, actor=team.rina_user, run=team.run, title="A note")
    b = ef.make_record(team.o, actor=team.rina_user, run=team.run, title="B note")
    kind = CitingKind.APPROVAL_DECISION
    citations.cite([b, a], citing_kind=kind, citing_id=1, actor=team.ani_user)
    citations.cite([b], citing_kind=kind, citing_id=2, actor=team.ani_user)
    citations.cite([a], citing_kind=CitingKind.REVIEW, citing_id=3, actor=team.ani_user)

    with django_assert_num_queries(1):
        found = citations.citations_for(kind, [1, 2, 3])

    assert {pk: [r.title for r in rs] for pk, rs in found.items()} == {
        1: ["A note", "B note"],
        2: ["B note"],
        3: [],
    }


def test_a_decision_rests_on_unverified_information_while_any_record_is_not_verified(
    team,
):
    record = ef.make_record(team.o, actor=team.rina_user, run=team.run)
    checked = ef.verified_record(
        team.o, actor=team.rina_user, verifier=team.ani_user, run=team.run
    )
    assert citations.rests_on_unverified([record, checked]) is True
    assert citations.rests_on_unverified([checked]) is False
    assert citations.rests_on_unverified([]) is False

    verification.verify(
        checked,
        actor=team.admin,
        verdict=Verdict.REFUTED,
        note="The notice was withdrawn.",
        expected_version=checked.version,
    )
    assert citations.rests_on_unverified([checked]) is True


def test_auditors_partners_elsewhere_and_outsiders_cite_nothing(team, other_org):
    record = ef.make_record(team.o, actor=team.rina_user, run=team.run)

    for actor in (team.o.auditor, team.olga_user):
        with pytest.raises(PermissionDenied) as denied:
            citations.cite(
                [record], citing_kind=CitingKind.OBSTACLE, citing_id=1, actor=actor
            )
        assert denied.value.message == "You cannot cite this information."
    with pytest.raises(NotFound):
        citations.cite(
            [record],
            citing_kind=CitingKind.OBSTACLE,
            citing_id=1,
            actor=other_org.member,
        )
    with pytest.raises(ValidationFailed) as refused:
        citations.cite(
            [record], citing_kind="rumour", citing_id=1, actor=team.rina_user
        )
    assert refused.value.errors == {"citing_kind": ["Choose what cites the records."]}
    assert not Citation.objects.exists()


def test_the_citers_membership_is_read_once_whatever_the_number_of_records(team):
    records = [
        ef.make_record(team.o, actor=team.rina_user, run=team.run, title=f"Call {n}")
        for n in range(5)
    ]

    with CaptureQueriesContext(connection) as captured:
        citations.cite(
            records, citing_kind=CitingKind.OBSTACLE, citing_id=7, actor=team.joko_user
        )

    reads = [
        query["sql"]
        for query in captured.captured_queries
        if query["sql"].startswith("SELECT")
        and (
            'FROM "accounts_membership"' in query["sql"]
            or 'FROM "chains_task"' in query["sql"]
        )
    ]
    # The partner's membership, and once whether its party takes part in the run.
    assert len(reads) == 2, reads
    assert Citation.objects.filter(citing_id=7).count() == 5


def test_a_citation_made_at_the_same_moment_by_someone_else_stands(team, monkeypatch):
    record = ef.make_record(team.o, actor=team.rina_user, run=team.run)
    first = citations.cite(
        [record], citing_kind=CitingKind.OBSTACLE, citing_id=9, actor=team.ani_user
    )
    # The second citer read no citation yet (the first had not committed then).
    real_filter = Citation.objects.filter

    def nothing_yet(*args, **kwargs):  # type: ignore[no-untyped-def]
        if "citing_id" in kwargs and "record_id__in" in kwargs:
            return Citation.objects.none()
        return real_filter(*args, **kwargs)

    monkeypatch.setattr(Citation.objects, "filter", nothing_yet)

    again = citations.cite(
        [record], citing_kind=CitingKind.OBSTACLE, citing_id=9, actor=team.admin
    )

    assert [c.pk for c in again] == [c.pk for c in first]
    assert Citation.objects.filter(citing_id=9).count() == 1
