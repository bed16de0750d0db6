"""`rantai records list|show|add|verify|attach`: information records on the command
line — output, exit codes (2: the input names nothing that exists or is
malformed; 1: the rules refused) and nothing written when refused.

The team (`rantai.evidence.tests.factories`): acme's run of SHIP — `pack` (Export
clerk: Budi and Ani; accountable Rina = user "member") then `ship` (the forwarder,
Joko = user "partner"). Olga ("olga") is a partner of the Other Carrier, which
takes no part in the run. Times print in Jakarta time.
"""

from __future__ import annotations

import datetime as dt
import json
from io import StringIO
from pathlib import Path

import pytest
from django.core.management import CommandError, call_command

from rantai.evidence.models import EvidenceItem, InformationRecord, Verification
from rantai.evidence.tests import factories as ef

NOW = ef.T0 + dt.timedelta(hours=2)  # Monday 2 March 2026, 10:00 in Jakarta
HTML = b"<!DOCTYPE html><html><body><script>alert(1)</script></body></html>"


@pytest.fixture(autouse=True)
def media_root(settings, tmp_path: Path) -> Path:  # type: ignore[no-untyped-def]
    root = tmp_path / "media"
    settings.MEDIA_ROOT = str(root)
    return root


@pytest.fixture
def t(db) -> ef.Team:
    return ef.team()


def run(*args: str) -> str:
    out = StringIO()
    call_command("records", *args, stdout=out, stderr=StringIO(), now=NOW)
    return out.getvalue()


def fails(*args: str) -> CommandError:
    with pytest.raises(CommandError) as caught:
        run(*args)
    return caught.value


def _state() -> list[object]:
    return [
        sorted(InformationRecord.objects.values_list("pk", "version", "status")),
        sorted(EvidenceItem.objects.values_list("pk")),
        sorted(Verification.objects.values_list("pk")),
    ]


def _record(t: ef.Team, **options: object) -> InformationRecord:
    return ef.make_record(t.o, actor=t.rina_user, run=t.run, **options)  # type: ignore[arg-type]


# --- list and show ------------------------------------------------------------------------


def test_list_prints_each_record_with_its_status_marking_hearsay(t):
    claim = _record(t, items=[ef.link(), ef.value()])
    checked = ef.verified_record(t.o, actor=t.rina_user, verifier=t.ani_user, run=t.run)

    lines = run("list", "--org", "acme").splitlines()

    assert lines[0].split() == [
        "ID",
        "STATUS",
        "KIND",
        "TITLE",
        "SOURCE",
        "RUN",
        "ITEMS",
        "RECORDED",
    ]
    assert lines[1].split()[:3] == [str(checked.pk), "verified", "claim"]
    assert lines[2].split()[:4] == [str(claim.pk), "unverified", "HEARSAY", "claim"]
    assert "2  2026-03-02 08:30" in lines[2]
    assert lines[-1] == "2 records, 1 not verified (HEARSAY); times in Asia/Jakarta."


def test_list_as_json_and_as_a_partner(t):
    on_run = _record(t)
    _record(t, task=t.task("pack"), title="Packed")

    data = json.loads(run("list", "--org", "acme", "--as", "partner", "--json"))
    nothing = run("list", "--org", "acme", "--as", "olga")

    assert [row["id"] for row in data] == [on_run.pk]
    assert data[0]["status"] == "unverified"
    assert data[0]["is_hearsay"] is True
    assert data[0]["recorded_by"] == "member"
    assert nothing == "No information records in acme.\n"


def test_show_prints_the_evidence_and_the_verifications(t):
    record = ef.verified_record(
        t.o,
        actor=t.rina_user,
        verifier=t.ani_user,
        run=t.run,
        items=[ef.pdf(label="Notice"), ef.value("12.5", "tonnes")],
    )
    pdf = EvidenceItem.objects.filter(record=record).first()
    assert pdf is not None

    lines = run("show", str(record.pk), "--org", "acme").splitlines()

    assert lines[0] == f"Record {record.pk}: The truck leaves on the 12th [verified]"
    assert lines[2] == "Source: person, The forwarder's dispatcher, by phone"
    assert lines[3] == f"About: run {t.run.pk} ({t.run.title})"
    assert any(
        line.strip().startswith(f"{pdf.pk}  file")
        and "delivery-note.pdf" in line
        and "— Notice" in line
        for line in lines
    )
    assert any("value  12.5 tonnes" in line for line in lines)
    assert lines[-1].endswith(
        "ani: verified (was unverified) — Matches the forwarder's written notice."
    )


def test_show_of_something_that_does_not_exist_or_is_hidden_exits_2(t):
    hidden = _record(t, task=t.task("pack"))

    assert fails("show", "999", "--org", "acme").returncode == 2
    assert fails("show", "x", "--org", "acme").returncode == 2
    refused = fails("show", str(hidden.pk), "--org", "acme", "--as", "partner")
    assert refused.returncode == 2
    assert str(refused) == (
        f"No information record with the id {hidden.pk} that partner can see."
    )
    assert fails("list", "--org", "nope").returncode == 2
    assert fails("list", "--org", "acme", "--as", "nobody").returncode == 2


# --- add ------------------------------------------------------------------------------------


def test_add_records_information_with_links_values_and_files(t, tmp_path):
    notice = tmp_path / "notice.pdf"
    notice.write_bytes(ef.sample_pdf_bytes())

    said = run(
        "add",
        "--org",
        "acme",
        "--as",
        "member",
        "--run",
        str(t.run.pk),
        "--title",
        "The truck leaves on the 12th",
        "--statement",
        "The dispatcher says so.",
        "--source-kind",
        "person",
        "--source",
        "The forwarder's dispatcher, by phone",
        "--source-party",
        "FWD",
        "--observed-at",
        "2026-03-02T09:00",
        "--link",
        "https://forwarder.example.com/n/118",
        "--value",
        "500 boxes",
        "--file",
        str(notice),
    )

    record = InformationRecord.objects.get()
    assert said == (
        f"Recorded {record.pk}: The truck leaves on the 12th (unverified, "
        "3 evidence items).\n"
    )
    assert record.source_party == t.o.forwarder
    assert record.observed_at == ef.T0 + dt.timedelta(hours=1)
    assert record.recorded_at == NOW
    assert sorted(EvidenceItem.objects.values_list("kind", flat=True)) == [
        "file",
        "link",
        "value",
    ]
    assert len(ef.stored_files(t.o)) == 1


def _add(t: ef.Team, *extra: str, who: str = "member") -> list[str]:
    return [
        "add",
        "--org",
        "acme",
        "--as",
        who,
        "--run",
        str(t.run.pk),
        "--title",
        "Heard",
        "--statement",
        "Something.",
        "--source-kind",
        "person",
        "--source",
        "Someone",
        *extra,
    ]


def test_a_hostile_file_is_refused_and_nothing_is_stored(t, tmp_path):
    page = tmp_path / "note.pdf"
    page.write_bytes(HTML)
    before = _state()

    refused = fails(*_add(t, "--file", str(page)))

    assert refused.returncode == 1
    assert str(refused) == (
        "file: This file is a web page, SVG or XML document; it cannot be uploaded."
    )
    assert _state() == before
    assert ef.stored_files(t.o) == []


def test_add_refusals_and_bad_input(t, tmp_path):
    before = _state()

    auditor = fails(*_add(t, who="auditor"))
    empty_title = fails(*_add(t)[:-8], "--title", " ", *_add(t)[-6:])
    missing = fails(*_add(t, "--file", str(tmp_path / "nowhere.pdf")))
    bad_value = fails(*_add(t, "--value", "many boxes"))
    bad_link = fails(*_add(t, "--link", "ftp://example.com/x"))
    stranger = fails(*_add(t, who="olga"))
    bad_moment = fails(*_add(t, "--observed-at", "yesterday"))

    assert auditor.returncode == 1
    assert str(auditor) == (
        "Auditors read information records; they do not record or check them."
    )
    assert (empty_title.returncode, str(empty_title)) == (
        1,
        "title: This field is required.",
    )
    assert missing.returncode == 2
    assert str(missing).startswith("Cannot read ")
    assert bad_value.returncode == 2
    assert (bad_link.returncode, str(bad_link)) == (
        1,
        "url: Enter a web address starting with http or https.",
    )
    assert (stranger.returncode, str(stranger)) == (
        2,
        f"No run with the id {t.run.pk} that olga can see.",
    )
    assert bad_moment.returncode == 2
    assert _state() == before


# --- verify and attach ------------------------------------------------------------------------


def test_someone_else_verifies_but_not_the_author(t):
    record = _record(t, items=[ef.link()])
    before = _state()

    author = fails(
        "verify",
        str(record.pk),
        "--org",
        "acme",
        "--as",
        "member",
        "--verdict",
        "verified",
        "--note",
        "Mine.",
    )
    stale = fails(
        "verify",
        str(record.pk),
        "--org",
        "acme",
        "--as",
        "ani",
        "--verdict",
        "verified",
        "--note",
        "Checked.",
        "--version",
        "9",
    )
    assert (author.returncode, str(author)) == (
        1,
        "You recorded this information; someone else has to check it.",
    )
    assert stale.returncode == 1
    assert _state() == before

    said = run(
        "verify",
        str(record.pk),
        "--org",
        "acme",
        "--as",
        "ani",
        "--verdict",
        "disputed",
        "--note",
        "The notice says the 14th.",
        "--link",
        "https://forwarder.example.com/n/119",
    )

    assert said == f"Record {record.pk} is now disputed (checked by ani).\n"
    record.refresh_from_db()
    assert record.status == "disputed"
    assert EvidenceItem.objects.filter(record=record).count() == 2


def test_attach_adds_evidence_to_a_record_or_a_task(t, tmp_path):
    record = _record(t)
    scan = tmp_path / "scan.png"
    scan.write_bytes(ef.sample_png_bytes())

    to_record = run(
        "attach", str(record.pk), "--org", "acme", "--as", "ani", "--file", str(scan)
    )
    to_task = json.loads(
        run(
            "attach",
            "--task",
            str(t.task("ship").pk),
            "--org",
            "acme",
            "--as",
            "partner",
            "--link",
            "https://example.com/bill",
            "--json",
        )
    )

    assert to_record == (
        f"Added to record {record.pk}: 1 evidence item (unverified).\n"
    )
    assert to_task["kind"] == "task_evidence"
    assert to_task["task_id"] == t.task("ship").pk
    assert to_task["evidence_count"] == 1
    neither = fails("attach", "--org", "acme", "--as", "ani", "--link", "https://x.io")
    both = fails(
        "attach",
        str(record.pk),
        "--task",
        "1",
        "--org",
        "acme",
        "--as",
        "ani",
        "--link",
        "https://x.io",
    )
    nothing = fails("attach", str(record.pk), "--org", "acme", "--as", "ani")
    other_party = fails(
        "attach",
        "--task",
        str(t.task("pack").pk),
        "--org",
        "acme",
        "--as",
        "partner",
        "--link",
        "https://example.com/x",
    )
    assert [e.returncode for e in (neither, both, nothing, other_party)] == [2, 2, 2, 2]
