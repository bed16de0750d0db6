"""The `rantai` commands: they parse arguments, call services and report plainly."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import pytest
from django.core import mail
from django.core.management import CommandError, call_command
from django.db import connection

from rantai.accounts import tokens
from rantai.accounts.models import ApiToken, Membership, Organisation, User
from rantai.audit.models import AuditEvent, AuditPersonalData
from rantai.core import outbox
from rantai.core.models import OutboxMessage, OutboxStatus
from rantai.demo import loader
from rantai.org.models import Duty, Holding, Party, Person, Position


def run(*args: str) -> tuple[str, str]:
    """Run a command; return what it wrote to stdout and stderr."""
    stdout, stderr = StringIO(), StringIO()
    call_command(*args, stdout=stdout, stderr=stderr)
    return stdout.getvalue(), stderr.getvalue()


@pytest.fixture
def writable_audit_events(db):  # type: ignore[no-untyped-def]
    """Let a test edit audit events directly (PostgreSQL's trigger refuses otherwise)."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SET CONSTRAINTS ALL IMMEDIATE")
            cursor.execute(
                "ALTER TABLE audit_auditevent DISABLE TRIGGER audit_event_append_only"
            )
    yield
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute(
                "ALTER TABLE audit_auditevent ENABLE TRIGGER audit_event_append_only"
            )


def head_of(organisation: Organisation) -> int:
    organisation.refresh_from_db()
    return organisation.audit_sequence


# --- audit ------------------------------------------------------------------------


def test_audit_verify_reports_every_organisation_ok(acme, other_org):
    acme_head, other_head = head_of(acme.organisation), head_of(other_org.organisation)

    stdout, _stderr = run("audit", "verify")

    assert stdout.splitlines() == [
        f"acme: OK, {acme_head} events, head #{acme_head}",
        f"globex: OK, {other_head} events, head #{other_head}",
    ]


def test_audit_verify_exits_1_naming_the_altered_event(
    acme, other_org, writable_audit_events
):
    AuditEvent.objects.filter(organisation=acme.organisation, sequence=5).update(
        changes={"name": "Forged"}
    )

    stdout = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command("audit", "verify", stdout=stdout)

    assert exited.value.code == 1
    other_head = head_of(other_org.organisation)
    assert stdout.getvalue().splitlines() == [
        "acme: BROKEN at event #5: Event #5 was altered: its content does not match "
        "its hash.",
        f"globex: OK, {other_head} events, head #{other_head}",
    ]


def test_audit_verify_can_check_one_organisation(
    acme, other_org, writable_audit_events
):
    AuditEvent.objects.filter(organisation=other_org.organisation, sequence=2).update(
        verb="ended"
    )
    head = head_of(acme.organisation)

    stdout, _stderr = run("audit", "verify", "--org", "acme")

    assert stdout.splitlines() == [f"acme: OK, {head} events, head #{head}"]


def test_an_exported_checkpoint_verifies(acme, tmp_path: Path):
    checkpoint, _stderr = run("audit", "checkpoint", "--org", "acme")
    document = json.loads(checkpoint)
    path = tmp_path / "acme.checkpoint.json"
    path.write_text(checkpoint, encoding="utf-8")
    head = head_of(acme.organisation)

    stdout, _stderr = run("audit", "verify", "--org", "acme", "--checkpoint", str(path))

    assert (document["organisation"], document["sequence"]) == ("acme", head)
    assert stdout.splitlines() == [f"acme: OK, {head} events, head #{head}"]


def test_a_checkpoint_can_be_written_to_a_file(acme, tmp_path: Path):
    path = tmp_path / "checkpoint.json"

    stdout, stderr = run("audit", "checkpoint", "--org", "acme", "--output", str(path))

    assert stdout == ""
    assert stderr.strip() == f"Checkpoint written to {path}"
    assert json.loads(path.read_text(encoding="utf-8"))["sequence"] == head_of(
        acme.organisation
    )


def test_a_checkpoint_catches_a_removed_tail_the_head_no_longer_shows(
    acme, tmp_path: Path, writable_audit_events
):
    # given a checkpoint kept elsewhere
    path = tmp_path / "checkpoint.json"
    run("audit", "checkpoint", "--org", "acme", "--output", str(path))
    last = head_of(acme.organisation)

    # when the last event is deleted and the head rewound to the one before
    removed = AuditEvent.objects.get(organisation=acme.organisation, sequence=last)
    AuditPersonalData.objects.filter(event=removed).delete()
    AuditEvent.objects.filter(pk=removed.pk).delete()
    Organisation.objects.filter(pk=acme.organisation.pk).update(
        audit_sequence=last - 1, audit_head_hash=removed.previous_hash
    )

    # then only verifying against the checkpoint fails
    assert run("audit", "verify", "--org", "acme")[0].startswith("acme: OK")
    stdout = StringIO()
    with pytest.raises(SystemExit) as exited:
        call_command(
            "audit", "verify", "--org", "acme", "--checkpoint", str(path), stdout=stdout
        )
    assert exited.value.code == 1
    assert stdout.getvalue().strip() == (
        f"acme: BROKEN at event #{last}: The checkpoint vouches for event #{last}, but "
        f"the chain now ends at #{last - 1}: events were removed."
    )


@pytest.mark.parametrize(
    ("args", "message"),
    [
        (("verify", "--org", "nope"), "No organisation with the short name 'nope'."),
        (
            ("checkpoint", "--org", "nope"),
            "No organisation with the short name 'nope'.",
        ),
        (("verify", "--checkpoint", "x.json"), "--checkpoint needs --org."),
    ],
)
def test_audit_refuses_unknown_organisations_and_incomplete_arguments(
    acme, args, message
):
    with pytest.raises(CommandError) as refused:
        run("audit", *args)

    assert str(refused.value) == message


def test_audit_refuses_a_missing_or_invalid_checkpoint_file(
    acme, other_org, tmp_path: Path
):
    missing = tmp_path / "missing.json"
    with pytest.raises(CommandError, match=r"^Cannot read the checkpoint: "):
        run("audit", "verify", "--org", "acme", "--checkpoint", str(missing))

    foreign = tmp_path / "globex.json"
    run("audit", "checkpoint", "--org", "globex", "--output", str(foreign))
    with pytest.raises(CommandError) as refused:
        run("audit", "verify", "--org", "acme", "--checkpoint", str(foreign))
    assert str(refused.value) == "The checkpoint belongs to another organisation."

    garbled = tmp_path / "garbled.json"
    garbled.write_text('{"signature": "nonsense"}', encoding="utf-8")
    with pytest.raises(CommandError) as refused:
        run("audit", "verify", "--org", "acme", "--checkpoint", str(garbled))
    assert str(refused.value) == (
        "The checkpoint is not valid or its signature does not match."
    )


# --- tokens -----------------------------------------------------------------------


def test_token_create_prints_a_working_token_once(acme):
    stdout, stderr = run("token", "create", "--user", "member", "--name", "laptop")

    raw = stdout.strip()
    token = ApiToken.objects.get()
    assert tokens.user_for_token(raw) == acme.member
    assert stderr.strip() == (
        f"Token {token.pk} (laptop) for member. It is shown only once:"
    )
    assert token.digest == tokens.digest_of(raw)


def test_token_list_and_revoke(acme):
    raw = run("token", "create", "--user", "member")[0].strip()
    token = ApiToken.objects.get()

    listed = run("token", "list", "--user", "member")[0]
    revoked = run("token", "revoke", "--user", "member", str(token.pk))[0]
    listed_after = run("token", "list", "--user", "member")[0]

    assert listed.strip() == f"{token.pk}\t{token.prefix}…\tactive\tcommand line"
    assert revoked.strip() == f"Token {token.pk} revoked."
    assert listed_after.strip() == f"{token.pk}\t{token.prefix}…\trevoked\tcommand line"
    assert tokens.user_for_token(raw) is None


def test_token_commands_refuse_an_unknown_user(acme):
    with pytest.raises(CommandError) as refused:
        run("token", "create", "--user", "nobody")

    assert str(refused.value) == "No user named 'nobody'."
    assert ApiToken.objects.count() == 0


def test_token_revoke_refuses_another_users_token(acme):
    run("token", "create", "--user", "member")
    token = ApiToken.objects.get()

    with pytest.raises(CommandError) as refused:
        run("token", "revoke", "--user", "auditor", str(token.pk))

    assert str(refused.value) == "No such token."
    token.refresh_from_db()
    assert token.revoked_at is None


# --- outbox -----------------------------------------------------------------------


def test_outbox_deliver_sends_what_is_still_pending(db):
    # given a message queued without its on-commit delivery having run
    outbox.enqueue_email(recipient="siti@example.test", subject="Hello", body="Body")

    stdout, _stderr = run("outbox", "deliver")

    assert stdout.strip() == "1 message(s) delivered."
    assert [m.to for m in mail.outbox] == [["siti@example.test"]]
    assert OutboxMessage.objects.get().status == OutboxStatus.SENT
    assert run("outbox", "deliver")[0].strip() == "0 message(s) delivered."


# --- demo -------------------------------------------------------------------------


def demo_counts() -> dict[str, int]:
    return {
        model.__name__: model.objects.count()
        for model in (
            Organisation,
            User,
            Membership,
            Party,
            Position,
            Duty,
            Person,
            Holding,
            AuditEvent,
        )
    }


def test_demo_loads_once_and_a_second_run_changes_nothing(db):
    first, _stderr = run("demo")
    counts = demo_counts()

    second, _stderr = run("demo")

    assert "Loading the demo organisation PT Nusantara Makmur ..." in first
    assert "Demo loaded." in first
    assert "Loading" not in second
    assert "The demo organisation is already loaded." in second
    assert demo_counts() == counts
    assert counts["Organisation"] == 1
    for text in (first, second):
        assert f"Every demo login uses the password: {loader.DEMO_PASSWORD}" in text
        assert (
            "  budi      member: Koordinator Pengiriman and acting (Plt) Kepala Gudang"
            in (text.splitlines())
        )
    assert run("audit", "verify")[0].startswith("nusantara-makmur: OK, ")
