"""Verification: someone other than the author checks a record, with a note; the
newest verdict is the status; audited; the author is told."""

from __future__ import annotations

import datetime as dt

import pytest

from rantai.accounts.models import Membership
from rantai.audit.models import AuditVerb
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.evidence import records, verification
from rantai.evidence.models import (
    EvidenceItem,
    RecordStatus,
    Verdict,
    Verification,
)
from rantai.evidence.tests import factories as ef
from rantai.notifications import events, webhooks
from rantai.notifications.models import Notification, WebhookDelivery
from rantai.org import membership

pytestmark = pytest.mark.django_db

RECORDED = ef.T0 + dt.timedelta(minutes=30)
CHECKED = ef.T0 + dt.timedelta(hours=2)
NOTE = "Matches the forwarder's written notice no. 118."


@pytest.fixture
def team() -> ef.Team:
    return ef.team()


@pytest.fixture
def record(team):
    """A claim on the run, recorded by Rina with a link."""
    return ef.make_record(
        team.o, actor=team.rina_user, run=team.run, items=[ef.link()], now=RECORDED
    )


def check(record, actor, verdict=Verdict.VERIFIED, **kwargs):
    kwargs.setdefault("note", NOTE)
    kwargs.setdefault("expected_version", record.version)
    kwargs.setdefault("now", CHECKED)
    return verification.verify(record, actor=actor, verdict=verdict, **kwargs)


def test_someone_else_verifies_and_the_verdict_becomes_the_status(team, record):
    checked = check(record, team.ani_user)

    record.refresh_from_db()
    assert (record.status, record.verified_by, record.verified_at) == (
        RecordStatus.VERIFIED,
        team.ani_user,
        CHECKED,
    )
    assert not record.is_hearsay
    assert (
        checked.record,
        checked.verdict,
        checked.note,
        checked.previous_status,
        checked.by,
        checked.at,
    ) == (record, "verified", NOTE, "unverified", team.ani_user, CHECKED)


def test_the_author_cannot_verify_their_own_record(team, record, audit_trail):
    trail = audit_trail(team.organisation)

    with pytest.raises(PermissionDenied) as denied:
        check(record, team.rina_user)

    assert denied.value.message == (
        "You recorded this information; someone else has to check it."
    )
    record.refresh_from_db()
    assert (record.status, record.version, record.verified_by) == (
        RecordStatus.UNVERIFIED,
        1,
        None,
    )
    assert not Verification.objects.exists()
    assert not Notification.objects.filter(event_type=events.RECORD_CHECKED).exists()
    trail.assert_nothing_new()


def test_a_verification_is_audited_with_the_verdict_and_previous_status(
    team, record, audit_trail
):
    trail = audit_trail(team.organisation)

    checked = check(
        record, team.ani_user, verdict=Verdict.DISPUTED, items=[ef.pdf("notice.pdf")]
    )

    event = trail.only_new_event()
    item = EvidenceItem.objects.get(verification=checked)
    assert (event.verb, event.actor, event.target_type, event.target_id) == (
        AuditVerb.VERIFIED,
        team.ani_user,
        "evidence.informationrecord",
        str(record.pk),
    )
    assert event.changes == {
        "verification": checked.pk,
        "verdict": "disputed",
        "previous_status": "unverified",
        "note_length": len(NOTE),
        "items": [
            {
                "id": item.pk,
                "kind": "file",
                "sha256": item.sha256,
                "size": item.size,
                "content_type": "application/pdf",
            }
        ],
    }
    assert event.personal.changes == {
        "note": NOTE,
        "items": [{"id": item.pk, "label": "", "name": "notice.pdf"}],
    }


def test_the_verifiers_evidence_is_kept_with_the_check(team, record):
    checked = check(
        record, team.ani_user, verdict=Verdict.REFUTED, items=[ef.value("14", "day")]
    )

    kinds = list(record.evidence.order_by("id").values_list("kind", "verification_id"))
    assert kinds == [("link", None), ("value", checked.pk)]


def test_a_stale_version_is_a_conflict_and_changes_nothing(team, record):
    seen = record.version
    records.add_evidence(record, actor=team.rina_user, items=[ef.link()])

    with pytest.raises(Conflict):
        check(record, team.ani_user, expected_version=seen)

    record.refresh_from_db()
    assert (record.status, record.version) == (RecordStatus.UNVERIFIED, seen + 1)
    assert not Verification.objects.exists()


def test_a_verdict_equal_to_the_current_status_is_refused(team, record):
    check(record, team.ani_user)

    with pytest.raises(ValidationFailed) as refused:
        check(record, team.admin)

    assert refused.value.errors == {
        "verdict": ["This information is already marked verified."]
    }
    assert Verification.objects.count() == 1


def test_the_newest_verdict_decides_and_evidence_stays(team, record):
    check(record, team.ani_user)
    disputed = check(
        record,
        team.admin,
        verdict=Verdict.DISPUTED,
        note="The notice is for another truck.",
        now=CHECKED + dt.timedelta(hours=1),
    )

    record.refresh_from_db()
    assert (record.status, record.verified_by) == (RecordStatus.DISPUTED, team.admin)
    assert disputed.previous_status == RecordStatus.VERIFIED
    assert record.is_hearsay
    assert record.evidence.count() == 1
    assert list(record.verifications.values_list("verdict", flat=True)) == [
        "verified",
        "disputed",
    ]


@pytest.mark.parametrize(
    ("changes", "errors"),
    [
        ({"note": "   "}, {"note": ["Say what you checked the information against."]}),
        ({"verdict": "probably"}, {"verdict": ["Choose a verdict from the list."]}),
        ({"verdict": "unverified"}, {"verdict": ["Choose a verdict from the list."]}),
    ],
)
def test_a_verdict_needs_a_known_value_and_a_note(team, record, changes, errors):
    with pytest.raises(ValidationFailed) as refused:
        verification.verify(
            record,
            actor=team.ani_user,
            verdict=changes.get("verdict", Verdict.VERIFIED),
            note=changes.get("note", NOTE),
            expected_version=record.version,
        )

    assert refused.value.errors == errors
    assert not Verification.objects.exists()


def test_auditors_and_partners_outside_the_run_cannot_verify(team, record):
    with pytest.raises(PermissionDenied) as denied:
        check(record, team.o.auditor)
    assert denied.value.message == (
        "Auditors read information records; they do not record or check them."
    )

    with pytest.raises(PermissionDenied) as denied:
        check(record, team.olga_user)
    assert denied.value.message == (
        "External partners record information only on the runs they work in."
    )
    assert not Verification.objects.exists()


def test_a_partner_verifies_on_their_run_but_not_another_partys_task(team, record):
    check(record, team.joko_user)
    on_pack = ef.make_record(team.o, actor=team.rina_user, task=team.task("pack"))

    with pytest.raises(PermissionDenied) as denied:
        check(on_pack, team.joko_user)

    assert denied.value.message == (
        "External partners record information only on their own tasks."
    )
    record.refresh_from_db()
    assert record.verified_by == team.joko_user


def test_the_author_is_told_of_the_verdict(team, record):
    checked = check(record, team.ani_user, verdict=Verdict.DISPUTED)

    [told] = Notification.objects.filter(event_type=events.RECORD_CHECKED)
    assert (told.recipient, told.event_type, told.key, told.url) == (
        team.rina_user,
        "record.checked",
        f"record:{record.pk}:verification:{checked.pk}:checked",
        f"/o/acme/information/{record.pk}/",
    )
    assert told.title == (
        "Your information was checked (disputed): The truck leaves on the 12th"
    )
    assert told.body == NOTE


def test_webhooks_receive_record_checked_in_its_documented_shape(team, record):
    webhooks.create_endpoint(
        team.organisation,
        actor=team.admin,
        name="ERP",
        url="https://erp.example.com/hooks/rantai",
        event_types=[events.RECORD_CHECKED],
    )

    check(record, team.ani_user)

    [delivery] = WebhookDelivery.objects.all()
    events.validate_payload(delivery.payload)
    data = delivery.payload["data"]
    assert data["record"] == {
        "id": record.pk,
        "title": "The truck leaves on the 12th",
        "status": "verified",
        "url": f"http://127.0.0.1:8000/o/acme/information/{record.pk}/",
    }
    assert data["verdict"] == "verified"
    assert data["checked_by"] == {"id": team.ani.pk, "name": "Ani"}
    assert data["run"]["id"] == team.run.pk
    assert data["run"]["procedure"] == "SHIP"


def test_a_verifier_who_is_no_person_of_the_organisation_is_sent_as_null(team, record):
    webhooks.create_endpoint(
        team.organisation,
        actor=team.admin,
        name="ERP",
        url="https://erp.example.com/hooks/rantai",
        event_types=[events.RECORD_CHECKED],
    )

    check(record, team.admin)  # the administrator has a login but no person

    [delivery] = WebhookDelivery.objects.all()
    events.validate_payload(delivery.payload)
    assert delivery.payload["data"]["checked_by"] is None


def test_the_record_passed_in_is_brought_up_to_date(team, record):
    check(record, team.ani_user)

    assert (record.status, record.version, record.verified_by_id) == (
        RecordStatus.VERIFIED,
        2,
        team.ani_user.pk,
    )


def test_someone_whose_membership_ended_neither_verifies_nor_adds_evidence(
    team, audit_trail
):
    record = ef.make_record(team.o, actor=team.rina_user, run=team.run)
    membership.end_membership(
        Membership.objects.get(user=team.ani_user, is_active=True),
        actor=team.admin,
        expected_version=None,
    )
    trail = audit_trail(team.organisation)

    with pytest.raises(NotFound):
        verification.verify(
            record,
            actor=team.ani_user,
            verdict=Verdict.VERIFIED,
            note="Matches the letter.",
            expected_version=record.version,
        )
    with pytest.raises(NotFound):
        records.add_evidence(record, actor=team.ani_user, items=[ef.link()])

    trail.assert_nothing_new()
    record.refresh_from_db()
    assert (record.status, record.evidence.count()) == (RecordStatus.UNVERIFIED, 0)


def test_a_note_with_nul_characters_is_refused(team, record, audit_trail):
    trail = audit_trail(team.organisation)

    with pytest.raises(ValidationFailed) as refused:
        verification.verify(
            record,
            actor=team.ani_user,
            verdict=Verdict.VERIFIED,
            note="Matches\x00 the letter.",
            expected_version=record.version,
        )

    assert refused.value.errors == {"note": ["Null characters are not allowed."]}
    trail.assert_nothing_new()
    assert not Verification.objects.exists()
