"""Records, evidence, verification and citations under real concurrency: real
threads and real transactions on PostgreSQL.

* Eight people verifying the same record at once: one verdict, seven 409s.
* Evidence added while someone verifies: the verifier waits for the row and is
  told the record changed (they checked less than there is now).
* Two decisions citing the same record at the same moment: one citation, no
  error for the second.

Only on PostgreSQL: under pytest the SQLite test database is in memory, one per
connection, so threads cannot share it.
"""

from __future__ import annotations

import datetime as dt

import pytest
from django.db import connection

from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditVerb
from rantai.core.errors import Conflict
from rantai.evidence import citations, records, verification
from rantai.evidence.models import (
    Citation,
    CitingKind,
    EvidenceItem,
    InformationRecord,
    RecordStatus,
    Verdict,
    Verification,
)
from rantai.evidence.tests import factories as ef
from rantai.roles.tests import factories as rf
from rantai.testing import Pause, blocked_or_done, in_thread, joined, run_in_threads

pytestmark = [
    pytest.mark.postgres_only,
    pytest.mark.skipif(
        connection.vendor != "postgresql",
        reason="needs PostgreSQL: real threads share the test database only there "
        "(the SQLite test database is in memory, one per connection)",
    ),
    pytest.mark.django_db(transaction=True),
]

CHECKED = ef.T0 + dt.timedelta(hours=2)


# --- the races ------------------------------------------------------------------------


def test_of_eight_people_verifying_at_once_one_verdict_stands():
    team = ef.team()
    record = ef.make_record(team.o, actor=team.rina_user, run=team.run)
    checkers = [team.ani_user, team.admin] + [
        rf.user_of(rf.person(team.o, f"checker{n}")) for n in range(6)
    ]
    seen = record.version

    def check(index: int) -> Verification:
        return verification.verify(
            InformationRecord(pk=record.pk),
            actor=checkers[index],
            verdict=Verdict.VERIFIED if index % 2 else Verdict.DISPUTED,
            note="Compared with the forwarder's letter.",
            expected_version=seen,
            now=CHECKED,
        )

    results = run_in_threads(check, len(checkers))

    won = [r for r in results if isinstance(r, Verification)]
    assert len(won) == 1, results
    assert all(isinstance(r, Conflict) for r in results if r is not won[0]), results
    stored = InformationRecord.objects.get(pk=record.pk)
    assert (stored.status, stored.version) == (won[0].verdict, seen + 1)
    assert Verification.objects.filter(record=record).count() == 1
    assert (
        AuditEvent.objects.filter(
            verb=AuditVerb.VERIFIED, target_id=str(record.pk)
        ).count()
        == 1
    )
    assert audit.verify(team.organisation).ok


def test_evidence_added_while_someone_verifies_makes_the_verifier_reload(monkeypatch):
    team = ef.team()
    record = ef.make_record(team.o, actor=team.rina_user, run=team.run)
    seen = record.version
    pause = Pause("adder")
    monkeypatch.setattr(records.audit, "record", pause.after(audit.record))

    adder, added = in_thread(
        "adder",
        lambda: records.add_evidence(
            InformationRecord(pk=record.pk),
            actor=team.rina_user,
            items=[ef.link("https://forwarder.example.com/notice/119")],
            now=CHECKED,
        ),
    )
    assert pause.reached.wait(timeout=60)
    checker, checked = in_thread(
        "checker",
        lambda: verification.verify(
            InformationRecord(pk=record.pk),
            actor=team.ani_user,
            verdict=Verdict.VERIFIED,
            note="Matches the letter.",
            expected_version=seen,
            now=CHECKED,
        ),
    )
    # The verifier waits for the record's row while evidence is being added.
    try:
        assert blocked_or_done(checker) is True
    finally:
        pause.release.set()
    joined(adder, checker)

    assert "error" not in added, added
    assert isinstance(checked.get("error"), Conflict), checked
    stored = InformationRecord.objects.get(pk=record.pk)
    assert (stored.status, stored.version) == (RecordStatus.UNVERIFIED, seen + 1)
    assert EvidenceItem.objects.filter(record=record).count() == 1
    assert not Verification.objects.exists()


def test_two_decisions_citing_a_record_at_the_same_moment_make_one_citation(
    monkeypatch,
):
    team = ef.team()
    record = ef.make_record(team.o, actor=team.rina_user, run=team.run)
    pause = Pause("first")
    monkeypatch.setattr(citations.audit, "record_many", pause.after(audit.record_many))

    def cite(actor):  # type: ignore[no-untyped-def]
        return lambda: citations.cite(
            [InformationRecord.objects.get(pk=record.pk)],
            citing_kind=CitingKind.APPROVAL_DECISION,
            citing_id=17,
            actor=actor,
            now=CHECKED,
        )

    first, first_box = in_thread("first", cite(team.ani_user))
    assert pause.reached.wait(timeout=60)
    second, second_box = in_thread("second", cite(team.admin))
    # The second insert waits on the first's uncommitted row of the same pair.
    try:
        assert blocked_or_done(second) is True
    finally:
        pause.release.set()
    joined(first, second)

    assert "error" not in first_box, first_box
    assert "error" not in second_box, second_box
    [citation] = Citation.objects.filter(record=record)
    assert [c.pk for c in first_box["result"]] == [citation.pk]
    assert [c.pk for c in second_box["result"]] == [citation.pk]
    assert citation.cited_by_id == team.ani_user.pk
    assert (
        AuditEvent.objects.filter(
            verb=AuditVerb.CITED, target_id=str(record.pk)
        ).count()
        == 1
    )
