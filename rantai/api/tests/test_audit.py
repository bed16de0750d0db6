"""The audit trail through the API: events, history, verification, checkpoints."""

from django.db import connection

from rantai.api.tests.conftest import problem_of
from rantai.audit.models import AuditEvent


def test_events_newest_first_and_paginated(acme, api_as):
    head = acme.organisation.audit_sequence

    response = api_as("auditor").get("/orgs/acme/audit/events", limit=2)

    assert response.status_code == 200
    body = response.json()
    assert body["count"] == head
    assert [e["sequence"] for e in body["items"]] == [head, head - 1]
    newest = body["items"][0]
    assert (newest["verb"], newest["target_type"], newest["actor_id"]) == (
        "joined",
        "accounts.membership",
        acme.admin.pk,
    )
    assert newest["target_label"] == "Partner"
    assert newest["redacted"] is False


def test_filter_events(acme, api_as):
    response = api_as("admin").get(
        "/orgs/acme/audit/events", verb="created", target_type="org.party"
    )

    assert [e["target_id"] for e in response.json()["items"]] == [
        str(p.pk)
        for p in (acme.forwarder, acme.warehouse, acme.export, acme.head_office)
    ]


def test_history_of_one_object(acme, api_as):
    api = api_as("admin")
    api.patch(f"/orgs/acme/parties/{acme.export.pk}", {"name": "Exports", "version": 1})

    response = api.get(f"/orgs/acme/audit/history/org.party/{acme.export.pk}")

    assert response.status_code == 200
    assert [(e["verb"], e["changes"]) for e in response.json()["items"]] == [
        ("updated", {"name": ["Export", "Exports"]}),
        (
            "created",
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


def test_auditor_verifies_the_chain(acme, api_as):
    response = api_as("auditor").post("/orgs/acme/audit/verify")

    assert response.status_code == 200
    assert response.json() == {
        "organisation": "acme",
        "ok": True,
        "events_checked": acme.organisation.audit_sequence,
        "head_sequence": acme.organisation.audit_sequence,
        "first_broken_sequence": None,
        "problem": "",
    }


def test_verify_against_an_exported_checkpoint(acme, api_as):
    api = api_as("auditor")
    checkpoint = api.get("/orgs/acme/audit/checkpoint")
    assert checkpoint.status_code == 200
    document = checkpoint.json()
    assert (document["organisation"], document["sequence"]) == (
        "acme",
        acme.organisation.audit_sequence,
    )
    api_as("admin").patch(
        f"/orgs/acme/parties/{acme.export.pk}", {"name": "Exports", "version": 1}
    )

    response = api.post("/orgs/acme/audit/verify", {"checkpoint": document})

    assert response.status_code == 200
    assert response.json()["ok"] is True
    assert response.json()["events_checked"] == document["sequence"] + 1


def test_a_forged_checkpoint_is_422(acme, api_as):
    api = api_as("auditor")
    document = api.get("/orgs/acme/audit/checkpoint").json()
    document["signature"] = document["signature"][:-4] + "AAAA"

    response = api.post("/orgs/acme/audit/verify", {"checkpoint": document})

    assert response.status_code == 422
    assert problem_of(response)["errors"] == {
        "checkpoint": ["The checkpoint is not valid or its signature does not match."]
    }


def test_verify_reports_a_tampered_event(acme, api_as):
    # Tampering below the application, e.g. a doctored backup: on PostgreSQL the
    # append-only trigger is bypassed for this one statement, as a superuser could.
    event = AuditEvent.objects.get(organisation=acme.organisation, sequence=3)
    postgresql = connection.vendor == "postgresql"
    with connection.cursor() as cursor:
        if postgresql:
            cursor.execute("SET LOCAL session_replication_role = replica")
        cursor.execute(
            "UPDATE audit_auditevent SET verb = 'updated' WHERE id = %s", [event.pk]
        )
        if postgresql:
            cursor.execute("SET LOCAL session_replication_role = DEFAULT")

    response = api_as("auditor").post("/orgs/acme/audit/verify")

    assert response.status_code == 200
    body = response.json()
    assert (body["ok"], body["first_broken_sequence"]) == (False, 3)
    assert body["problem"] == (
        "Event #3 was altered: its content does not match its hash."
    )
