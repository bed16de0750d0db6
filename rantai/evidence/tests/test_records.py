"""Recording information and adding evidence: who may record where, what is
checked, what is audited."""

from __future__ import annotations

import datetime as dt
from decimal import Decimal

import pytest

from rantai.audit.models import AuditVerb
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.evidence import records, verification
from rantai.evidence.models import (
    EvidenceItem,
    EvidenceKind,
    InformationRecord,
    RecordKind,
    RecordStatus,
    SourceKind,
)
from rantai.evidence.tests import factories as ef

pytestmark = pytest.mark.django_db

NOW = ef.T0 + dt.timedelta(hours=1)
LATER = NOW + dt.timedelta(hours=1)

ONLY_RUNS = "External partners record information only on the runs they work in."
ONLY_OWN_TASKS = "External partners record information only on their own tasks."
AUDITORS = "Auditors read information records; they do not record or check them."


@pytest.fixture
def team() -> ef.Team:
    return ef.team()


def test_a_record_starts_unverified_with_its_source_and_evidence_and_is_audited(
    team, audit_trail
):
    trail = audit_trail(team.organisation)

    record = records.record_information(
        team.organisation,
        actor=team.rina_user,
        title="  The truck   leaves on the 12th ",
        statement="The dispatcher says the truck leaves on the 12th.",
        source_kind=SourceKind.PERSON,
        source_detail="The forwarder's dispatcher, by phone",
        source_party=team.o.forwarder,
        observed_at=NOW - dt.timedelta(minutes=10),
        run=team.run,
        items=[
            ef.link(label="Tracking page"),
            ef.value("12", "days"),
            ef.pdf("notice.pdf", label="Written notice"),
        ],
        now=NOW,
    )

    assert (record.status, record.kind, record.title) == (
        RecordStatus.UNVERIFIED,
        RecordKind.CLAIM,
        "The truck leaves on the 12th",
    )
    assert (record.recorded_by, record.recorded_at, record.verified_by) == (
        team.rina_user,
        NOW,
        None,
    )
    assert record.is_hearsay
    link, value, file = record.evidence.order_by("id")
    assert (link.kind, link.url, link.label) == (
        EvidenceKind.LINK,
        "https://forwarder.example.com/notice/118",
        "Tracking page",
    )
    assert (value.kind, value.quantity, value.unit) == (
        EvidenceKind.VALUE,
        Decimal("12.0000"),
        "days",
    )
    assert (file.kind, file.original_name, file.added_by) == (
        EvidenceKind.FILE,
        "notice.pdf",
        team.rina_user,
    )
    event = trail.only_new_event()
    assert (event.verb, event.target_id, event.actor) == (
        AuditVerb.RECORDED,
        str(record.pk),
        team.rina_user,
    )
    assert event.changes == {
        "kind": "claim",
        "run": team.run.pk,
        "task": None,
        "source_kind": "person",
        "source_party": team.o.forwarder.pk,
        "observed_at": "2026-03-02T01:50:00+00:00",
        "status": "unverified",
        "items": [
            {"id": link.pk, "kind": "link"},
            {"id": value.pk, "kind": "value", "quantity": "12", "unit": "days"},
            {
                "id": file.pk,
                "kind": "file",
                "sha256": file.sha256,
                "size": file.size,
                "content_type": "application/pdf",
            },
        ],
    }
    # Free text stays out of the hash: redactable under UU PDP.
    assert event.personal.changes["title"] == "The truck leaves on the 12th"
    assert event.personal.changes["source_detail"] == (
        "The forwarder's dispatcher, by phone"
    )
    assert event.personal.changes["items"][0] == {
        "id": link.pk,
        "label": "Tracking page",
        "url": "https://forwarder.example.com/notice/118",
    }


def test_a_record_about_a_task_names_the_tasks_run(team):
    record = ef.make_record(team.o, actor=team.rina_user, task=team.task("pack"))

    assert (record.run_id, record.task_id) == (team.run.pk, team.task("pack").pk)


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"title": "  "}, {"title": ["This field is required."]}),
        ({"statement": ""}, {"statement": ["This field is required."]}),
        ({"source_detail": " "}, {"source_detail": ["This field is required."]}),
        (
            {"source_kind": "rumour"},
            {"source_kind": ["Choose a source from the list."]},
        ),
        ({"kind": "gossip"}, {"kind": ["Choose a kind from the list."]}),
        (
            {"kind": RecordKind.TASK_EVIDENCE},
            {"task": ["Evidence of a task names the task."]},
        ),
        (
            {"observed_at": NOW + dt.timedelta(hours=1)},
            {"observed_at": ["This moment is still in the future."]},
        ),
        (
            {"title": "x" * 201},
            {"title": ["Ensure this value has at most 200 characters (it has 201)."]},
        ),
    ],
)
def test_bad_input_is_refused_per_field_and_nothing_is_written(
    team, audit_trail, changes, errors
):
    trail = audit_trail(team.organisation)
    arguments = {
        "actor": team.rina_user,
        "title": "The truck leaves on the 12th",
        "statement": "So says the dispatcher.",
        "source_kind": SourceKind.PERSON,
        "source_detail": "The dispatcher",
        "run": team.run,
        "now": NOW,
        **changes,
    }

    with pytest.raises(ValidationFailed) as refused:
        records.record_information(team.organisation, **arguments)

    assert refused.value.errors == errors
    assert not InformationRecord.objects.exists()
    trail.assert_nothing_new()


@pytest.mark.parametrize(
    ("item", "errors"),
    [
        (
            records.NewLink(url="javascript:alert(1)"),
            {"url": ["Enter a web address starting with http or https."]},
        ),
        (
            records.NewLink(url="ftp://files.example.com/x"),
            {"url": ["Enter a web address starting with http or https."]},
        ),
        (
            records.NewValue(quantity=Decimal("12"), unit=" "),
            {"unit": ["Give the unit of the value."]},
        ),
        (
            records.NewValue(quantity=Decimal("NaN"), unit="kg"),
            {"quantity": ["Enter a number."]},
        ),
        (
            records.NewLink(url="https://example.com", label="x" * 201),
            {"label": ["The description has at most 200 characters."]},
        ),
    ],
)
def test_bad_evidence_items_are_refused(team, item, errors):
    with pytest.raises(ValidationFailed) as refused:
        ef.make_record(team.o, actor=team.rina_user, run=team.run, items=[item])

    assert refused.value.errors == errors
    assert not InformationRecord.objects.exists()


def test_a_task_of_another_run_or_organisation_is_refused(team, other_org):
    other_run = ef.f.start_run(team.run.procedure_version, actor=team.admin)

    with pytest.raises(ValidationFailed) as refused:
        ef.make_record(
            team.o, actor=team.rina_user, run=other_run, task=team.task("pack")
        )
    assert refused.value.errors == {"task": ["This task belongs to another run."]}

    with pytest.raises(ValidationFailed) as refused:
        ef.make_record(other_org, actor=other_org.admin, run=team.run)
    assert refused.value.errors == {"run": ["This belongs to another organisation."]}
    assert not InformationRecord.objects.exists()


# --- who records ----------------------------------------------------------------------


def test_members_and_administrators_record_anywhere(team):
    for actor in (team.rina_user, team.ani_user, team.admin):
        ef.make_record(team.o, actor=actor)
        ef.make_record(team.o, actor=actor, run=team.run)
        ef.make_record(team.o, actor=actor, task=team.task("ship"))

    assert InformationRecord.objects.count() == 9


def test_partners_record_on_runs_they_take_part_in_and_on_their_own_tasks(team):
    joko = team.joko_user

    on_run = ef.make_record(team.o, actor=joko, run=team.run)
    on_own_task = ef.make_record(team.o, actor=joko, task=team.task("ship"))

    assert (on_run.run_id, on_own_task.task_id) == (team.run.pk, team.task("ship").pk)


@pytest.mark.parametrize(
    ("who", "where", "message"),
    [
        ("joko", "organisation", ONLY_RUNS),
        ("joko", "pack", ONLY_OWN_TASKS),
        ("olga", "run", ONLY_RUNS),
        ("olga", "ship", ONLY_OWN_TASKS),
        ("auditor", "run", AUDITORS),
        ("auditor", "organisation", AUDITORS),
    ],
)
def test_partners_elsewhere_and_auditors_cannot_record(
    team, audit_trail, who, where, message
):
    actor = {
        "joko": team.joko_user,
        "olga": team.olga_user,
        "auditor": team.o.auditor,
    }[who]
    place = {
        "organisation": {},
        "run": {"run": team.run},
        "pack": {"task": team.task("pack")},
        "ship": {"task": team.task("ship")},
    }[where]
    trail = audit_trail(team.organisation)

    with pytest.raises(PermissionDenied) as denied:
        ef.make_record(team.o, actor=actor, items=[ef.pdf()], **place)

    assert denied.value.message == message
    assert not InformationRecord.objects.exists()
    assert ef.stored_files(team.o) == []
    trail.assert_nothing_new()


def test_someone_outside_the_organisation_is_told_nothing(team, other_org):
    with pytest.raises(NotFound):
        ef.make_record(team.o, actor=other_org.member, run=team.run)

    assert records.may_record(team.organisation.pk, other_org.member) is False
    assert records.may_record(team.organisation.pk, team.rina_user) is True


# --- adding evidence ------------------------------------------------------------------


def test_adding_evidence_keeps_the_status_moves_the_version_and_is_audited(
    team, audit_trail
):
    record = ef.verified_record(
        team.o, actor=team.rina_user, verifier=team.ani_user, run=team.run
    )
    version = record.version
    trail = audit_trail(team.organisation)

    added = records.add_evidence(
        record, actor=team.joko_user, items=[ef.pdf("scan.pdf")], now=LATER
    )

    record.refresh_from_db()
    assert record.status == RecordStatus.VERIFIED
    assert record.version == version + 1
    [item] = added
    assert (item.record, item.added_by, item.added_at, item.verification) == (
        record,
        team.joko_user,
        LATER,
        None,
    )
    event = trail.only_new_event()
    assert event.verb == AuditVerb.EVIDENCE_ADDED
    assert event.changes == {
        "items": [
            {
                "id": item.pk,
                "kind": "file",
                "sha256": item.sha256,
                "size": item.size,
                "content_type": "application/pdf",
            }
        ]
    }
    assert event.personal.changes == {
        "items": [{"id": item.pk, "label": "", "name": "scan.pdf"}]
    }


def test_adding_nothing_is_refused(team):
    record = ef.make_record(team.o, actor=team.rina_user, run=team.run)

    with pytest.raises(ValidationFailed) as refused:
        records.add_evidence(record, actor=team.rina_user, items=[])

    assert refused.value.errors == {"items": ["Add at least one piece of evidence."]}


def test_adding_evidence_follows_the_recording_rule(team):
    on_pack = ef.make_record(team.o, actor=team.rina_user, task=team.task("pack"))

    with pytest.raises(PermissionDenied) as denied:
        records.add_evidence(on_pack, actor=team.joko_user, items=[ef.link()])

    assert denied.value.message == ONLY_OWN_TASKS
    assert not EvidenceItem.objects.exists()


def test_task_evidence_is_an_own_observation_titled_after_the_task(team):
    pack = team.task("pack")

    record = records.attach_task_evidence(
        pack, actor=team.ani_user, items=[ef.pdf()], now=NOW
    )

    assert (record.kind, record.task_id, record.run_id) == (
        RecordKind.TASK_EVIDENCE,
        pack.pk,
        team.run.pk,
    )
    assert (record.title, record.statement) == ("Evidence: Pack", "Evidence: Pack")
    assert (record.source_kind, record.source_detail) == (
        SourceKind.OBSERVATION,
        "Ani",
    )
    assert record.evidence.count() == 1


def test_task_evidence_is_described_by_the_evidence_the_step_expects():
    team = ef.team(pack="evidence")

    record = records.attach_task_evidence(
        team.task("pack"),
        actor=team.ani_user,
        items=[ef.pdf()],
        title="Signed note from the warehouse",
        now=NOW,
    )

    assert (record.title, record.statement) == (
        "Signed note from the warehouse",
        "The signed delivery note",
    )


def test_task_evidence_needs_an_item_and_the_recording_rule(team):
    with pytest.raises(ValidationFailed) as refused:
        records.attach_task_evidence(team.task("pack"), actor=team.ani_user, items=[])
    assert refused.value.errors == {"items": ["Add at least one piece of evidence."]}

    with pytest.raises(PermissionDenied) as denied:
        records.attach_task_evidence(
            team.task("pack"), actor=team.joko_user, items=[ef.link()]
        )
    assert denied.value.message == ONLY_OWN_TASKS
    assert not InformationRecord.objects.exists()


def test_a_verdict_does_not_change_by_adding_evidence_afterwards(team):
    record = ef.make_record(team.o, actor=team.rina_user, run=team.run)
    verification.verify(
        record,
        actor=team.ani_user,
        verdict="refuted",
        note="The ship leaves on the 14th.",
        expected_version=record.version,
    )

    records.add_evidence(record, actor=team.rina_user, items=[ef.link()])

    record.refresh_from_db()
    assert record.status == RecordStatus.REFUTED


NUL = ["Null characters are not allowed."]


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"title": "The truck\x00 leaves"}, {"title": NUL}),
        ({"statement": "So says\x00 the dispatcher."}, {"statement": NUL}),
        ({"source_detail": "The\x00 dispatcher"}, {"source_detail": NUL}),
        (
            {"items": [records.NewLink(url="https://example.com/notice\x00.pdf")]},
            {"url": NUL},
        ),
        (
            {"items": [records.NewLink(url="https://example.com", label="a\x00b")]},
            {"label": NUL},
        ),
        (
            {"items": [records.NewValue(quantity=Decimal("12"), unit="k\x00g")]},
            {"unit": NUL},
        ),
    ],
)
def test_text_with_nul_characters_is_refused_per_field_on_every_database(
    team, audit_trail, changes, errors
):
    # The API and the command line reach the service without a form; PostgreSQL
    # would fail on the NUL instead of saying what is wrong.
    trail = audit_trail(team.organisation)
    arguments = {
        "actor": team.rina_user,
        "title": "The truck leaves on the 12th",
        "statement": "So says the dispatcher.",
        "source_kind": SourceKind.PERSON,
        "source_detail": "The dispatcher",
        "run": team.run,
        "now": NOW,
        **changes,
    }

    with pytest.raises(ValidationFailed) as refused:
        records.record_information(team.organisation, **arguments)

    assert refused.value.errors == errors
    assert not InformationRecord.objects.exists()
    trail.assert_nothing_new()
