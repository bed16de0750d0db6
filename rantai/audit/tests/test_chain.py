"""The audit trail: one append-only hash chain per organisation, verifiable end to end."""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from decimal import Decimal

import pytest
from django.db import transaction
from django.utils import timezone

from rantai.accounts.models import Organisation
from rantai.audit import queries
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditPersonalData, AuditVerb
from rantai.core.request_context import reset_request_id, set_request_id
from rantai.org import services as org
from rantai.org.models import Party, Person
from rantai.testing import make_user

GENESIS = "0" * 64


def chain_of(organisation: Organisation) -> list[AuditEvent]:
    return list(
        AuditEvent.objects.filter(organisation=organisation).order_by("sequence")
    )


def assert_well_formed(organisation: Organisation) -> list[AuditEvent]:
    """Sequences 1..n without gaps, each event linked to the one before, head = last."""
    events = chain_of(organisation)
    assert [event.sequence for event in events] == list(range(1, len(events) + 1))
    assert [event.previous_hash for event in events] == [GENESIS] + [
        event.hash for event in events[:-1]
    ]
    for event in events:
        assert event.hash == hashlib.sha256(audit.canonical_bytes(event)).hexdigest()
    organisation.refresh_from_db()
    assert (organisation.audit_sequence, organisation.audit_head_hash) == (
        len(events),
        events[-1].hash,
    )
    return events


def churn(small_org, rounds: int) -> None:  # type: ignore[no-untyped-def]
    """Four changes per round in one organisation, through the services."""
    for _ in range(rounds):
        party = Party.objects.get(pk=small_org.warehouse.pk)
        number = party.version
        org.update_party(
            party,
            actor=small_org.admin,
            expected_version=party.version,
            description=f"round {number}",
        )
        org.create_duty(
            small_org.export_staff,
            actor=small_org.admin,
            title=f"Duty {number}",
            output_unit="document",
        )
        person = org.create_person(
            small_org.organisation, actor=small_org.admin, full_name=f"Person {number}"
        )
        org.deactivate_person(person, actor=small_org.admin, expected_version=1)


def test_each_organisation_has_its_own_contiguous_linked_chain(acme, other_org):
    # given two organisations built the same way, then changed in turns
    for _ in range(3):
        churn(acme, 2)
        churn(other_org, 1)

    acme_events = assert_well_formed(acme.organisation)
    other_events = assert_well_formed(other_org.organisation)

    # then both start at #1 from the genesis hash and never share an event
    assert (acme_events[0].sequence, other_events[0].sequence) == (1, 1)
    assert {e.hash for e in acme_events}.isdisjoint({e.hash for e in other_events})
    assert len(acme_events) - len(other_events) == 3 * 4
    for organisation, events in (
        (acme.organisation, acme_events),
        (other_org.organisation, other_events),
    ):
        verification = audit.verify(organisation)
        assert verification.as_dict() == {
            "organisation": organisation.slug,
            "ok": True,
            "events_checked": len(events),
            "head_sequence": len(events),
            "first_broken_sequence": None,
            "problem": "",
        }


def test_an_event_records_who_did_what_to_which_object(acme, audit_trail):
    trail = audit_trail(acme.organisation)
    before = timezone.now()
    token = set_request_id("req-0123456789")
    try:
        org.update_party(
            acme.export, actor=acme.member, expected_version=1, name="Ekspor"
        )
    finally:
        reset_request_id(token)

    event = trail.only_new_event()
    assert (
        event.organisation_id,
        event.actor_id,
        event.verb,
        event.target_type,
        event.target_id,
        event.changes,
        event.request_id,
    ) == (
        acme.organisation.pk,
        acme.member.pk,
        AuditVerb.UPDATED,
        "org.party",
        str(acme.export.pk),
        {"name": ["Export", "Ekspor"]},
        "req-0123456789",
    )
    assert before <= event.occurred_at <= timezone.now()
    assert (event.personal.actor_label, event.personal.target_label) == (
        "Member",
        "Ekspor",
    )


def test_several_entries_are_appended_under_one_lock_in_order(acme):
    head = acme.organisation.audit_sequence
    with transaction.atomic():
        events = audit.record_many(
            acme.organisation,
            actor=acme.admin,
            entries=[
                audit.Entry(
                    verb=AuditVerb.IMPORTED, target=acme.export, changes={"n": 1}
                ),
                audit.Entry(
                    verb=AuditVerb.IMPORTED, target=acme.warehouse, changes={"n": 2}
                ),
            ],
        )

    assert [(e.sequence, e.target_id, e.changes) for e in events] == [
        (head + 1, str(acme.export.pk), {"n": 1}),
        (head + 2, str(acme.warehouse.pk), {"n": 2}),
    ]
    assert events[1].previous_hash == events[0].hash
    assert audit.record_many(acme.organisation, actor=None, entries=[]) == []
    assert_well_formed(acme.organisation)
    assert audit.verify(acme.organisation).ok


@pytest.mark.django_db(transaction=True)
def test_recording_outside_a_transaction_is_refused():
    admin = make_user("founder")
    organisation = org.create_organisation("Sinar", slug="sinar", actor=admin)
    count = AuditEvent.objects.count()

    with pytest.raises(RuntimeError, match="must run inside the service's transaction"):
        audit.record(
            organisation, actor=admin, verb=AuditVerb.UPDATED, target=organisation
        )

    assert AuditEvent.objects.count() == count


def test_a_checkpoint_vouches_for_a_prefix_of_a_growing_chain(acme):
    checkpoint = audit.export_checkpoint(acme.organisation)
    document = json.loads(checkpoint)
    head = chain_of(acme.organisation)[-1]

    churn(acme, 2)

    assert (document["organisation"], document["organisation_id"]) == (
        "acme",
        acme.organisation.pk,
    )
    assert (document["sequence"], document["hash"]) == (head.sequence, head.hash)
    assert document["signature"]
    verification = audit.verify(acme.organisation, checkpoint=checkpoint)
    assert verification.ok
    assert verification.events_checked == head.sequence + 8


def test_personal_data_is_outside_the_hash(acme):
    # given a person whose name is recorded in the personal half
    person = org.create_person(
        acme.organisation,
        actor=acme.admin,
        full_name="Siti Aminah",
        email="siti@example.test",
    )
    event = AuditEvent.objects.get(target_type="org.person", target_id=str(person.pk))

    # then the hashed bytes name no personal data
    hashed = audit.canonical_bytes(event).decode()
    assert "Siti" not in hashed and "siti@example.test" not in hashed
    assert event.personal.changes == {
        "full_name": "Siti Aminah",
        "email": "siti@example.test",
        "employee_number": "",
    }


def test_redacting_personal_data_keeps_the_chain_verifiable(acme):
    # given events about Budi (created, renamed)
    org.update_person(
        acme.budi, actor=acme.admin, expected_version=1, full_name="Budi S."
    )
    about_budi = list(
        AuditEvent.objects.filter(target_type="org.person", target_id=str(acme.budi.pk))
    )
    hashes = [event.hash for event in about_budi]

    # when his personal data is erased (UU PDP)
    erased = audit.redact_personal_data(event.pk for event in about_budi)

    # then the personal halves are blank, the hashed halves untouched, the chain valid
    assert erased == 2
    rows = AuditPersonalData.objects.filter(event__in=about_budi).order_by("event_id")
    assert [
        (p.actor_label, p.target_label, p.changes, p.redacted_at is not None)
        for p in rows
    ] == [("", "", {}, True)] * 2
    assert [
        event.hash for event in chain_of(acme.organisation) if event in about_budi
    ] == (hashes)
    assert audit.verify(acme.organisation).ok
    assert Person.objects.get(pk=acme.budi.pk).full_name == "Budi S."


def test_history_lists_events_about_one_object_newest_first(acme):
    org.update_party(acme.export, actor=acme.admin, expected_version=1, name="Ekspor")
    org.move_party(acme.export, actor=acme.admin, expected_version=2, parent=None)

    history = list(queries.history_of(acme.organisation, acme.export))

    assert [(e.verb, e.changes) for e in history] == [
        (AuditVerb.MOVED, {"parent": [acme.head_office.pk, None]}),
        (AuditVerb.UPDATED, {"name": ["Export", "Ekspor"]}),
        (
            AuditVerb.CREATED,
            {
                "kind": "internal_unit",
                "name": "Export",
                "code": "EXP",
                "parent": acme.head_office.pk,
                "description": "",
                "head_position": None,
            },
        ),
    ]
    newest = list(queries.events_of(acme.organisation)[:1])
    acme.organisation.refresh_from_db()
    assert newest[0].sequence == acme.organisation.audit_sequence


def test_values_are_normalised_so_they_survive_a_json_column(acme):
    jakarta = dt.timezone(dt.timedelta(hours=7))

    assert audit.to_jsonable(
        {
            "aware": dt.datetime(2026, 1, 1, 7, 0, tzinfo=jakarta),
            "naive": dt.datetime(2026, 1, 1, 7, 0),
            "date": dt.date(2026, 1, 1),
            "decimal": Decimal("1.50"),
            "float": 0.1,
            "model": acme.export,
            "set": {3},
            "tuple": (1, "a\x00b"),
            "nested": {1: None, "t": True},
            "other": AuditVerb.CREATED,
        }
    ) == {
        "aware": "2026-01-01T00:00:00+00:00",
        "naive": "2026-01-01T07:00:00",
        "date": "2026-01-01",
        "decimal": "1.50",
        "float": "0.1",
        "model": acme.export.pk,
        "set": [3],
        "tuple": [1, "ab"],
        "nested": {"1": None, "t": True},
        "other": "created",
    }


def test_a_diff_lists_only_changed_fields_as_old_and_new():
    assert audit.diff(
        {"name": "A", "start": dt.date(2026, 1, 1), "same": 1},
        {"name": "B", "start": dt.date(2026, 1, 2), "same": 1, "new": None},
    ) == {"name": ["A", "B"], "start": ["2026-01-01", "2026-01-02"]}
