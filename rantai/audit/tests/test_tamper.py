"""Tampering with the stored trail behind the services' back is detected.

Each test edits the database directly (queryset updates and raw SQL), as someone with
database access would. On PostgreSQL a trigger refuses UPDATE and DELETE on audit
events; the tamper tests switch it off inside the test's transaction (as a database
owner could), so they run on both databases.
"""

from __future__ import annotations

import datetime as dt
import json

import pytest
from django.db import DatabaseError, connection, transaction
from django.db.models import F

from rantai.accounts.models import Organisation
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditPersonalData, AuditVerb
from rantai.core.errors import ValidationFailed
from rantai.org import services as org

on_postgresql_only = pytest.mark.skipif(
    connection.vendor != "postgresql",
    reason="the append-only trigger exists only on PostgreSQL (migration audit 0002)",
)


@pytest.fixture
def tamper(acme):  # type: ignore[no-untyped-def]
    """Direct write access to audit events; the acme chain gets a few more events."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            # Deferred foreign-key checks of this transaction's inserts must run first:
            # PostgreSQL refuses ALTER TABLE while trigger events are pending.
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only"
            )
    for number in range(4):
        org.update_party(
            acme.warehouse,
            actor=acme.admin,
            expected_version=number + 1,
            description=f"note {number}",
        )
    yield acme
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only"
            )


def events(organisation: Organisation):  # type: ignore[no-untyped-def]
    return AuditEvent.objects.filter(organisation=organisation)


def head(organisation: Organisation) -> int:
    organisation.refresh_from_db()
    return organisation.audit_sequence


def delete_event(organisation: Organisation, sequence: int) -> None:
    event = events(organisation).get(sequence=sequence)
    AuditPersonalData.objects.filter(event=event).delete()
    events(organisation).filter(sequence=sequence).delete()


def forge(
    organisation: Organisation, *, sequence: int, previous_hash: str
) -> AuditEvent:
    """An event made by someone who knows the hash algorithm."""
    event = AuditEvent(
        organisation=organisation,
        sequence=sequence,
        occurred_at=dt.datetime(2026, 2, 1, tzinfo=dt.UTC),
        actor_id=None,
        verb=AuditVerb.UPDATED,
        target_type="org.party",
        target_id="1",
        changes={"name": ["Export", "Forged"]},
        request_id="",
        previous_hash=previous_hash,
    )
    event.hash = audit.compute_hash(event)
    return event


def assert_broken(organisation: Organisation, sequence: int, problem: str, **kwargs):  # type: ignore[no-untyped-def]
    verification = audit.verify(organisation, **kwargs)
    assert (
        verification.ok,
        verification.first_broken_sequence,
        verification.problem,
    ) == (False, sequence, problem)


def altered(sequence: int) -> str:
    return f"Event #{sequence} was altered: its content does not match its hash."


# --- editing an event in the middle ------------------------------------------------


@pytest.mark.parametrize(
    "change",
    [
        lambda o: {"changes": {"description": ["note 1", "something else"]}},
        lambda o: {"verb": AuditVerb.DEACTIVATED},
        lambda o: {"actor_id": o.member.pk},
        lambda o: {"occurred_at": F("occurred_at") - dt.timedelta(seconds=1)},
        lambda o: {"target_id": str(o.export.pk)},
        lambda o: {"request_id": "req-forged"},
    ],
    ids=["changes", "verb", "actor", "occurred_at", "target", "request_id"],
)
def test_editing_a_field_of_an_event_names_exactly_that_event(tamper, change):
    organisation = tamper.organisation
    middle = head(organisation) - 2
    assert audit.verify(organisation).ok

    events(organisation).filter(sequence=middle).update(**change(tamper))

    assert_broken(organisation, middle, altered(middle))


def test_editing_an_event_with_raw_sql_is_detected(tamper):
    organisation = tamper.organisation
    middle = head(organisation) // 2
    with connection.cursor() as cursor:
        cursor.execute(
            "UPDATE audit_auditevent SET target_type = %s "
            "WHERE organisation_id = %s AND sequence = %s",
            ["org.position", organisation.pk, middle],
        )

    assert_broken(organisation, middle, altered(middle))


def test_recomputing_the_hash_of_an_edited_event_breaks_the_next_link(tamper):
    # given someone edits event k and stores a correct hash for the new content
    organisation = tamper.organisation
    middle = head(organisation) - 2
    event = events(organisation).get(sequence=middle)
    event.changes = {"description": ["note 1", "rewritten"]}
    events(organisation).filter(pk=event.pk).update(
        changes=event.changes, hash=audit.compute_hash(event)
    )

    # then event k+1 no longer links to it
    assert_broken(
        organisation,
        middle + 1,
        f"Event #{middle + 1} does not link to the event before it.",
    )


def test_editing_the_first_event_is_detected(tamper):
    organisation = tamper.organisation
    events(organisation).filter(sequence=1).update(changes={"name": "Evil Ltd"})

    assert_broken(organisation, 1, altered(1))


# --- removing events -----------------------------------------------------------------


def test_deleting_an_event_in_the_middle_names_it(tamper):
    organisation = tamper.organisation
    middle = head(organisation) // 2

    delete_event(organisation, middle)

    assert_broken(
        organisation,
        middle,
        f"Event #{middle} is missing (the next stored event is #{middle + 1}).",
    )


def test_deleting_an_event_with_raw_sql_is_detected(tamper):
    organisation = tamper.organisation
    middle = head(organisation) - 3
    event_id = events(organisation).get(sequence=middle).pk
    with connection.cursor() as cursor:
        cursor.execute(
            "DELETE FROM audit_auditpersonaldata WHERE event_id = %s", [event_id]
        )
        cursor.execute("DELETE FROM audit_auditevent WHERE id = %s", [event_id])

    assert_broken(
        organisation,
        middle,
        f"Event #{middle} is missing (the next stored event is #{middle + 1}).",
    )


def test_deleting_the_last_event_is_caught_by_the_head(tamper):
    organisation = tamper.organisation
    last = head(organisation)

    delete_event(organisation, last)

    assert_broken(
        organisation,
        last,
        f"The chain ends at event #{last - 1} but the organisation's head records "
        f"#{last}: events at the end were removed or added.",
    )


def test_deleting_the_tail_and_rewinding_the_head_is_caught_only_by_a_checkpoint(
    tamper,
):
    # given a checkpoint exported (and kept elsewhere) before the tampering
    organisation = tamper.organisation
    checkpoint = audit.export_checkpoint(organisation)
    last = head(organisation)

    # when the last two events are deleted and the head rewound consistently
    delete_event(organisation, last)
    delete_event(organisation, last - 1)
    new_head = events(organisation).get(sequence=last - 2)
    Organisation.objects.filter(pk=organisation.pk).update(
        audit_sequence=last - 2, audit_head_hash=new_head.hash
    )

    # then the chain alone looks whole, and only the checkpoint shows the removal
    assert audit.verify(organisation).ok
    assert_broken(
        organisation,
        last - 1,
        f"The checkpoint vouches for event #{last}, but the chain now ends at "
        f"#{last - 2}: events were removed.",
        checkpoint=checkpoint,
    )


def test_rewriting_the_tail_consistently_is_caught_only_by_a_checkpoint(tamper):
    # given a checkpoint exported before the tampering
    organisation = tamper.organisation
    checkpoint = audit.export_checkpoint(organisation)
    last = head(organisation)
    previous = events(organisation).get(sequence=last - 1).hash

    # when the last event is replaced by a forged one and the head updated to match
    delete_event(organisation, last)
    forged = forge(organisation, sequence=last, previous_hash=previous)
    forged.save()
    Organisation.objects.filter(pk=organisation.pk).update(audit_head_hash=forged.hash)

    assert audit.verify(organisation).ok
    assert_broken(
        organisation,
        last,
        f"Event #{last} differs from the checkpoint: the chain was rewritten.",
        checkpoint=checkpoint,
    )


# --- adding and reordering events -------------------------------------------------------


def test_an_event_appended_behind_the_services_back_is_caught_by_the_head(tamper):
    organisation = tamper.organisation
    last = events(organisation).get(sequence=head(organisation))

    forge(organisation, sequence=last.sequence + 1, previous_hash=last.hash).save()

    assert_broken(
        organisation,
        last.sequence + 1,
        f"The chain ends at event #{last.sequence + 1} but the organisation's head "
        f"records #{last.sequence}: events at the end were removed or added.",
    )


def test_a_forged_event_with_a_made_up_hash_is_named(tamper):
    organisation = tamper.organisation
    last = events(organisation).get(sequence=head(organisation))
    forged = forge(organisation, sequence=last.sequence + 1, previous_hash=last.hash)
    forged.hash = "f" * 64
    forged.save()
    Organisation.objects.filter(pk=organisation.pk).update(
        audit_sequence=forged.sequence, audit_head_hash=forged.hash
    )

    assert_broken(organisation, forged.sequence, altered(forged.sequence))


def test_an_event_slipped_into_a_gap_does_not_link(tamper):
    # given event k is replaced by a forged event linked to k-1
    organisation = tamper.organisation
    middle = head(organisation) - 2
    previous = events(organisation).get(sequence=middle - 1).hash
    delete_event(organisation, middle)

    forge(organisation, sequence=middle, previous_hash=previous).save()

    # then the genuine event k+1 does not link to the forgery
    assert_broken(
        organisation,
        middle + 1,
        f"Event #{middle + 1} does not link to the event before it.",
    )


def test_swapping_two_events_is_detected_at_the_first(tamper):
    organisation = tamper.organisation
    first = head(organisation) - 3
    second = first + 1
    parked = 10**9  # sequences are unique per organisation: swap through a free number
    events(organisation).filter(sequence=first).update(sequence=parked)
    events(organisation).filter(sequence=second).update(sequence=first)
    events(organisation).filter(sequence=parked).update(sequence=second)

    assert_broken(
        organisation, first, f"Event #{first} does not link to the event before it."
    )


def test_tampering_with_one_organisation_leaves_the_other_verifiable(tamper, other_org):
    events(tamper.organisation).filter(sequence=3).update(changes={})

    assert not audit.verify(tamper.organisation).ok
    assert audit.verify(other_org.organisation).ok


def test_editing_the_personal_half_does_not_break_the_chain(tamper):
    # the personal half is deliberately outside the hash so it can be erased
    AuditPersonalData.objects.filter(event__organisation=tamper.organisation).update(
        target_label="", actor_label=""
    )

    assert audit.verify(tamper.organisation).ok


def test_redacting_personal_data_keeps_verify_ok(tamper):
    about_people = events(tamper.organisation).filter(target_type="org.person")

    assert audit.redact_personal_data(about_people.values_list("pk", flat=True)) == 3
    assert audit.verify(tamper.organisation).ok


# --- checkpoints -------------------------------------------------------------------------


def test_a_checkpoint_with_a_bad_signature_is_refused(acme):
    document = json.loads(audit.export_checkpoint(acme.organisation))
    document["signature"] = document["signature"][:-2] + "xx"

    for text in (json.dumps(document), "not json", json.dumps({"sequence": 1}), "[]"):
        with pytest.raises(ValidationFailed) as refused:
            audit.verify(acme.organisation, checkpoint=text)
        assert refused.value.errors == {
            "checkpoint": [
                "The checkpoint is not valid or its signature does not match."
            ]
        }


def test_editing_the_readable_part_of_a_checkpoint_changes_nothing(acme):
    # the signed payload is what counts; the readable copy is for people
    document = json.loads(audit.export_checkpoint(acme.organisation))
    document["sequence"] = 10**6

    assert audit.verify(acme.organisation, checkpoint=json.dumps(document)).ok


def test_a_checkpoint_of_another_organisation_is_refused(acme, other_org):
    checkpoint = audit.export_checkpoint(other_org.organisation)

    with pytest.raises(ValidationFailed) as refused:
        audit.verify(acme.organisation, checkpoint=checkpoint)

    assert refused.value.errors == {
        "checkpoint": ["The checkpoint belongs to another organisation."]
    }


# --- the database refuses changes on PostgreSQL ---------------------------------------


@on_postgresql_only
def test_the_database_refuses_to_update_an_audit_event(acme):
    event = events(acme.organisation).get(sequence=2)

    with pytest.raises(DatabaseError, match="append-only"), transaction.atomic():
        events(acme.organisation).filter(pk=event.pk).update(changes={})

    assert events(acme.organisation).get(pk=event.pk).changes == event.changes
    assert audit.verify(acme.organisation).ok


@on_postgresql_only
def test_the_database_refuses_to_delete_an_audit_event(acme):
    last = head(acme.organisation)

    with (
        pytest.raises(DatabaseError, match="append-only"),
        transaction.atomic(),
        connection.cursor() as cursor,
    ):
        cursor.execute(
            "DELETE FROM audit_auditevent WHERE organisation_id = %s AND sequence = %s",
            [acme.organisation.pk, last],
        )

    assert events(acme.organisation).filter(sequence=last).exists()
    assert audit.verify(acme.organisation).ok


@on_postgresql_only
def test_the_database_still_accepts_new_events(acme):
    org.update_party(acme.export, actor=acme.admin, expected_version=1, name="Ekspor")

    assert audit.verify(acme.organisation).ok
