"""Uploads: the content decides, the name must agree; hostile files are refused with
a clear message and nothing is stored; a failed service leaves no file behind."""

from __future__ import annotations

import datetime as dt
import hashlib
import os
import re

import pytest
from django.core.files.base import ContentFile
from django.core.files.storage import default_storage
from django.db import transaction
from django.utils import timezone

from rantai.core.errors import ValidationFailed
from rantai.evidence import policy, records, uploads
from rantai.evidence.models import EvidenceItem, InformationRecord
from rantai.evidence.tests import factories as ef
from rantai.testing import SmallOrg

pytestmark = pytest.mark.django_db

NOW = ef.T0 + dt.timedelta(hours=1)
ALLOWED = ".pdf, .png, .jpg, .gif, .webp, .txt, .csv, .docx, .xlsx, .pptx, .odt, .ods"
STORED_NAME = re.compile(r"^evidence/(\d+)/2026/03/[0-9a-f]{32}\.([a-z]+)$")

PROGRAM = "This file is a program or a script; it cannot be uploaded."
MARKUP = "This file is a web page, SVG or XML document; it cannot be uploaded."
HTML = b"<!DOCTYPE html><html><body><script>alert(document.cookie)</script></body>"
SVG = (
    b'<?xml version="1.0"?>\n<svg xmlns="http://www.w3.org/2000/svg">'
    b"<script>alert(1)</script></svg>"
)
EXE = b"MZ\x90\x00\x03\x00\x00\x00\x04\x00\x00\x00\xff\xff\x00\x00" + b"\x00" * 200


@pytest.fixture
def team() -> ef.Team:
    return ef.team()


def attach(t: ef.Team, name: str, content: bytes) -> InformationRecord:
    """Record information on the run with one file, as Rina."""
    return ef.make_record(
        t.o,
        actor=t.rina_user,
        run=t.run,
        items=[records.NewFile(upload=ef.upload(name, content), name=name)],
        now=NOW,
    )


def zip_bomb_xlsx() -> bytes:
    """An .xlsx whose sheet unpacks from a few kilobytes to 8 MB of zeros."""
    return ef.office_bytes(
        "xlsx", extra=[("xl/worksheets/sheet1.xml", b"0" * 8_000_000)]
    )


HOSTILE = [
    pytest.param("invoice.pdf", EXE, PROGRAM, id="program-renamed-pdf"),
    pytest.param("scan.jpg", b"\x7fELF\x02\x01\x01" + b"\x00" * 100, PROGRAM, id="elf"),
    pytest.param("notes.txt", b"#!/bin/sh\nrm -rf /\n", PROGRAM, id="script-as-txt"),
    pytest.param("invoice.pdf", HTML, MARKUP, id="html-renamed-pdf"),
    pytest.param("page.txt", HTML, MARKUP, id="html-named-txt"),
    pytest.param("chart.png", SVG, MARKUP, id="svg-renamed-png"),
    pytest.param(
        "notes.txt",
        b"Meeting notes\n<script>fetch('/o/acme/')</script>\n",
        MARKUP,
        id="script-inside-txt",
    ),
    pytest.param(
        "chart.svg",
        SVG,
        f"Files of type .svg cannot be uploaded. Allowed: {ALLOWED}.",
        id="svg",
    ),
    pytest.param(
        "page.html",
        HTML,
        f"Files of type .html cannot be uploaded. Allowed: {ALLOWED}.",
        id="html",
    ),
    pytest.param(
        "invoice.pdf.exe",
        ef.sample_pdf_bytes(),
        f"Files of type .exe cannot be uploaded. Allowed: {ALLOWED}.",
        id="double-extension",
    ),
    pytest.param(
        "README",
        b"plain words",
        f"The file name has no extension. Allowed: {ALLOWED}.",
        id="no-extension",
    ),
    pytest.param(
        "report.xlsx",
        zip_bomb_xlsx(),
        "This file unpacks to far more than its size (a zip bomb?); it cannot be "
        "uploaded.",
        id="zip-bomb",
    ),
    pytest.param(
        "letter.docx",
        ef.office_bytes("docx", extra=[("../../evil.sh", b"echo owned")]),
        "This file contains a part with an unsafe path (evil.sh); it cannot be "
        "uploaded.",
        id="docx-dot-dot-member",
    ),
    pytest.param(
        "letter.docx",
        ef.office_bytes("docx", extra=[("/etc/cron.d/evil", b"* * * * * root x")]),
        "This file contains a part with an unsafe path (evil); it cannot be uploaded.",
        id="docx-absolute-member",
    ),
    pytest.param(
        "letter.docx",
        ef.office_bytes("docx", extra=[("word/vbaProject.bin", b"macro")]),
        "Documents with macros cannot be uploaded.",
        id="docx-with-macros",
    ),
    pytest.param(
        "letter.docx",
        ef.office_bytes("xlsx"),
        "The content of this file is not Word, although its name ends in .docx.",
        id="xlsx-renamed-docx",
    ),
    pytest.param(
        "sheet.ods",
        ef.office_bytes("odt"),
        "The content of this file is not OpenDocument spreadsheet, although its "
        "name ends in .ods.",
        id="odt-renamed-ods",
    ),
    pytest.param(
        "letter.docx",
        b"PK\x03\x04 this is no archive at all",
        "The content of this file is not Word, although its name ends in .docx.",
        id="broken-zip",
    ),
    pytest.param(
        "photo.png",
        ef.sample_pdf_bytes(),
        "The content of this file is not PNG, although its name ends in .png.",
        id="pdf-renamed-png",
    ),
    pytest.param(
        "scan.pdf",
        ef.sample_png_bytes(),
        "The content of this file is not PDF, although its name ends in .pdf.",
        id="png-renamed-pdf",
    ),
    pytest.param(
        "figures.csv",
        b"item,quantity\nboxes,\x0012\n",
        "This text file contains NUL bytes: it is not plain text and cannot be "
        "uploaded.",
        id="nul-bytes-csv",
    ),
    pytest.param(
        "notes.txt",
        "Pengiriman ditunda sampai Senin".encode("utf-16"),
        "This text file contains NUL bytes: it is not plain text and cannot be "
        "uploaded.",
        id="utf16-txt",
    ),
    pytest.param(
        "notes.txt",
        "Café crème".encode("latin-1"),
        "This text file is not in UTF-8; save it as UTF-8 and try again.",
        id="latin1-txt",
    ),
    pytest.param("empty.pdf", b"", "The file is empty.", id="empty"),
]


@pytest.mark.parametrize(("name", "content", "message"), HOSTILE)
def test_hostile_files_are_refused_with_a_clear_message_and_nothing_is_stored(
    team, audit_trail, name, content, message
):
    trail = audit_trail(team.organisation)

    with pytest.raises(ValidationFailed) as refused:
        attach(team, name, content)

    assert refused.value.errors == {"file": [message]}
    assert ef.stored_files(team.o) == []
    assert not InformationRecord.objects.exists()
    assert not EvidenceItem.objects.exists()
    trail.assert_nothing_new()


def test_an_oversized_file_is_refused_by_the_organisations_limit(team):
    policy.update_settings(
        team.organisation,
        actor=team.admin,
        expected_version=None,
        max_file_megabytes=1,
    )
    content = ef.sample_pdf_bytes() + b"%" * (1024 * 1024)

    with pytest.raises(ValidationFailed) as refused:
        attach(team, "big.pdf", content)

    assert refused.value.errors == {"file": ["The file is larger than 1 MB."]}
    assert ef.stored_files(team.o) == []
    # One byte less than the limit passes.
    accepted = attach(team, "fits.pdf", content[: 1024 * 1024])
    assert accepted.evidence.get().size == 1024 * 1024


def test_the_size_is_counted_while_reading_not_taken_from_the_upload(team):
    policy.update_settings(
        team.organisation,
        actor=team.admin,
        expected_version=None,
        max_file_megabytes=1,
    )
    lying = ef.upload("big.pdf", ef.sample_pdf_bytes() + b"%" * (2 * 1024 * 1024))
    lying.size = 100  # what a client claims

    with pytest.raises(ValidationFailed) as refused:
        ef.make_record(
            team.o,
            actor=team.rina_user,
            run=team.run,
            items=[records.NewFile(upload=lying, name="big.pdf")],
        )

    assert refused.value.errors == {"file": ["The file is larger than 1 MB."]}
    assert ef.stored_files(team.o) == []


class NoWholeReads(ContentFile):
    """A file that refuses to be read whole: the check must read in chunks."""

    sizes: list[int]

    def read(self, size: int | None = -1) -> bytes:  # type: ignore[override]
        assert size is not None and size > 0, "the upload was read whole"
        self.sizes.append(size)
        return super().read(size)


def test_an_upload_is_read_in_chunks_never_whole():
    content = ef.sample_pdf_bytes() + b"%" * (3 * uploads.CHUNK_BYTES)
    upload = NoWholeReads(content, name="long.pdf")
    upload.sizes = []

    checked = uploads.check(
        upload, name="long.pdf", allowed=list(uploads.FILE_TYPES), max_bytes=10**7
    )

    assert checked.size == len(content)
    assert checked.sha256 == hashlib.sha256(content).hexdigest()
    assert set(upload.sizes) == {uploads.CHUNK_BYTES}


def test_an_archive_unpacking_past_the_total_limit_is_refused(team, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UNCOMPRESSED_BYTES", 1024 * 1024)
    # Random text compresses about twofold: no ratio alarm, only the total.
    sheet = os.urandom(600 * 1024).hex().encode()

    with pytest.raises(ValidationFailed) as refused:
        attach(team, "report.xlsx", ef.office_bytes("xlsx", extra=[("s.xml", sheet)]))

    assert refused.value.errors == {
        "file": ["This file unpacks to more than 1 MB; it cannot be uploaded."]
    }
    assert ef.stored_files(team.o) == []


GOOD = [
    ("notice.pdf", ef.sample_pdf_bytes(), "application/pdf"),
    ("photo.png", ef.sample_png_bytes(), "image/png"),
    ("photo.JPG", b"\xff\xd8\xff\xe0\x00\x10JFIF\x00" + b"\x01" * 50, "image/jpeg"),
    ("anim.gif", b"GIF89a\x01\x00\x01\x00" + b"\x00" * 20, "image/gif"),
    ("shot.webp", b"RIFF\x24\x00\x00\x00WEBPVP8 " + b"\x00" * 20, "image/webp"),
    (
        "catatan.txt",
        "Truk berangkat tanggal 12 — kata petugas.\n".encode(),
        "text/plain; charset=utf-8",
    ),
    ("figures.csv", b"item,quantity\nboxes,12\n", "text/csv; charset=utf-8"),
    (
        "letter.docx",
        ef.office_bytes("docx"),
        "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
    ),
    (
        "sheet.xlsx",
        ef.office_bytes("xlsx"),
        "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    ),
    (
        "slides.pptx",
        ef.office_bytes("pptx"),
        "application/vnd.openxmlformats-officedocument.presentationml.presentation",
    ),
    ("letter.odt", ef.office_bytes("odt"), "application/vnd.oasis.opendocument.text"),
    (
        "sheet.ods",
        ef.office_bytes("ods"),
        "application/vnd.oasis.opendocument.spreadsheet",
    ),
]


@pytest.mark.parametrize(("name", "content", "content_type"), GOOD)
def test_allowed_files_are_stored_under_a_generated_name_with_their_checksum(
    team, name, content, content_type
):
    record = attach(team, name, content)

    item = record.evidence.get()
    match = STORED_NAME.match(str(item.file.name))
    assert match is not None, item.file.name
    assert match.group(1) == str(team.organisation.pk)
    assert match.group(2) == uploads.FILE_TYPES[_code(content_type)].extensions[0]
    assert item.original_name == name
    assert item.content_type == content_type
    assert item.size == len(content)
    assert item.sha256 == hashlib.sha256(content).hexdigest()
    assert ef.stored_files(team.o) == [item.file.name]
    with item.file.open("rb") as stored:
        assert stored.read() == content


def _code(content_type: str) -> str:
    return next(
        code
        for code, file_type in uploads.FILE_TYPES.items()
        if file_type.content_type == content_type
    )


def test_markup_inside_a_pdf_is_its_own_business(team):
    # PDFs carry XML metadata; only a text file is refused for tags inside it.
    content = ef.sample_pdf_bytes().replace(
        b"%PDF-1.4\n", b"%PDF-1.4\n% <?xml version='1.0'?><svg><html>\n", 1
    )

    record = attach(team, "notice.pdf", content)

    assert record.evidence.get().size == len(content)


def test_a_path_in_the_original_name_is_dropped_and_the_file_stored_under_a_new_name(
    team,
):
    record = attach(team, "../../etc/passwd.pdf", ef.sample_pdf_bytes())

    item = record.evidence.get()
    assert item.original_name == "passwd.pdf"
    stored = str(item.file.name)
    assert STORED_NAME.match(stored)
    assert "passwd" not in stored and ".." not in stored


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        ("../../etc/passwd.pdf", "passwd.pdf"),
        ("C:\\Users\\budi\\Desktop\\nota.pdf", "nota.pdf"),
        ("nota\x00\x1b[31m.pdf", "nota[31m.pdf"),
        ("invoice\u202egpj.pdf", "invoicegpj.pdf"),  # a right-to-left override
        ("  ..hidden.pdf. ", "hidden.pdf"),
        ("a" * 300 + ".pdf", "a" * 251 + ".pdf"),
    ],
)
def test_original_names_are_cleaned_of_folders_and_control_characters(given, cleaned):
    assert uploads.clean_name(given) == cleaned


def test_an_organisation_can_narrow_the_allowed_types(team):
    policy.update_settings(
        team.organisation,
        actor=team.admin,
        expected_version=None,
        allowed_types=["pdf", "csv"],
    )

    with pytest.raises(ValidationFailed) as refused:
        attach(team, "photo.png", ef.sample_png_bytes())

    assert refused.value.errors == {
        "file": ["Files of type .png cannot be uploaded. Allowed: .pdf, .csv."]
    }
    assert attach(team, "notice.pdf", ef.sample_pdf_bytes()).evidence.count() == 1


# --- no orphan files ------------------------------------------------------------------


def test_a_failure_after_the_file_was_stored_deletes_it_again(team, monkeypatch):
    def broken(*args, **kwargs):
        raise RuntimeError("the database went away")

    monkeypatch.setattr(records.audit, "record", broken)

    with pytest.raises(RuntimeError):
        attach(team, "notice.pdf", ef.sample_pdf_bytes())

    assert ef.stored_files(team.o) == []
    assert not InformationRecord.objects.exists()


def test_a_failure_storing_the_second_file_deletes_the_first(team, monkeypatch):
    real_store = uploads.store
    calls: list[str] = []

    def store_once(*args, **kwargs):
        if calls:
            raise OSError("disk full")
        name = real_store(*args, **kwargs)
        calls.append(name)
        return name

    monkeypatch.setattr(uploads, "store", store_once)

    with pytest.raises(OSError):
        ef.make_record(
            team.o,
            actor=team.rina_user,
            run=team.run,
            items=[ef.pdf("one.pdf"), ef.pdf("two.pdf")],
        )

    assert len(calls) == 1
    assert ef.stored_files(team.o) == []
    assert not EvidenceItem.objects.exists()


def test_a_refused_item_after_a_good_file_stores_nothing(team):
    with pytest.raises(ValidationFailed) as refused:
        ef.make_record(
            team.o,
            actor=team.rina_user,
            run=team.run,
            items=[ef.pdf(), records.NewLink(url="javascript:alert(1)")],
        )

    assert refused.value.errors == {
        "url": ["Enter a web address starting with http or https."]
    }
    assert ef.stored_files(team.o) == []


# --- archives: what they really unpack to, not what they say ----------------------------

DAMAGED = (
    "The parts of this file do not match what the file says about them (damaged, "
    "or made to mislead); it cannot be uploaded."
)
ZIP_BOMB = (
    "This file unpacks to far more than its size (a zip bomb?); it cannot be uploaded."
)
SHEET = "xl/worksheets/sheet1.xml"


def lying_xlsx(*, streamed: bool = False) -> bytes:
    """An .xlsx whose sheet unpacks to 8 MB of zeros while its headers (or its
    data descriptor, when written as a stream) say 1,000 bytes."""
    members = [
        *ef._OFFICE_MEMBERS["xlsx"],
        (SHEET, b"0" * 8_000_000),
    ]
    if streamed:
        return ef.patch_zip(
            ef.streamed_zip_bytes(members), SHEET, file_size=1000, descriptor=True
        )
    return ef.patch_zip(ef.zip_bytes(members), SHEET, file_size=1000)


def nested(levels: int, inner: bytes) -> bytes:
    """`inner` as a workbook embedded `levels` deep, each level a .docx."""
    content = inner
    for _level in range(levels):
        content = ef.office_bytes(
            "docx", extra=[("word/embeddings/Workbook.xlsx", content)]
        )
    return content


ARCHIVES = [
    pytest.param("report.xlsx", lying_xlsx(), ZIP_BOMB, id="sizes-lie-in-headers"),
    pytest.param(
        "report.xlsx",
        lying_xlsx(streamed=True),
        ZIP_BOMB,
        id="sizes-lie-in-the-data-descriptor",
    ),
    pytest.param(
        "letter.docx",
        nested(1, zip_bomb_xlsx()),
        ZIP_BOMB,
        id="zip-bomb-inside-an-embedded-workbook",
    ),
    pytest.param(
        "letter.docx",
        nested(3, ef.office_bytes("xlsx")),
        "This file holds archives inside archives too deeply to be checked safely.",
        id="archives-nested-too-deep",
    ),
    pytest.param(
        "letter.docx",
        ef.duplicate_member(ef.office_bytes("docx"), "word/document.xml"),
        ZIP_BOMB,
        id="two-members-sharing-their-data",
    ),
    pytest.param(
        "letter.docx",
        ef.patch_zip(ef.office_bytes("docx"), "word/document.xml", crc=12345),
        DAMAGED,
        id="wrong-checksum",
    ),
    pytest.param(
        "letter.odt",
        ef.patch_zip(ef.office_bytes("odt"), "mimetype", local_name=b"mimetypf"),
        DAMAGED,
        id="local-name-differs-from-directory",
    ),
    pytest.param(
        "letter.odt",
        ef.patch_zip(ef.office_bytes("odt"), "mimetype", compress_type=99),
        DAMAGED,
        id="unsupported-compression",
    ),
]


@pytest.mark.parametrize(("name", "content", "message"), ARCHIVES)
def test_archives_are_checked_by_what_they_really_unpack_to(
    team, audit_trail, name, content, message
):
    trail = audit_trail(team.organisation)

    with pytest.raises(ValidationFailed) as refused:
        attach(team, name, content)

    assert refused.value.errors == {"file": [message]}
    assert ef.stored_files(team.o) == []
    assert not EvidenceItem.objects.exists()
    trail.assert_nothing_new()


def test_an_embedded_workbook_and_a_streamed_archive_are_fine(team):
    # Charts in presentations and documents carry their workbook inside.
    embedded = nested(2, ef.office_bytes("xlsx"))
    streamed = ef.streamed_zip_bytes(ef._OFFICE_MEMBERS["xlsx"])

    first = attach(team, "slides.docx", embedded)
    second = attach(team, "sheet.xlsx", streamed)

    assert first.evidence.get().size == len(embedded)
    assert second.evidence.get().size == len(streamed)


def test_the_parts_of_archives_inside_count_against_the_limits(team, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_ZIP_MEMBERS", 6)
    # Three parts outside, four in the embedded workbook: seven in all.
    content = ef.office_bytes(
        "docx", extra=[("word/embeddings/Workbook.xlsx", ef.office_bytes("xlsx"))]
    )

    with pytest.raises(ValidationFailed) as refused:
        attach(team, "letter.docx", content)

    assert refused.value.errors == {
        "file": ["This archive has too many parts to be checked safely."]
    }


def test_many_small_parts_are_refused_before_the_directory_is_read(team, monkeypatch):
    content = ef.office_bytes(
        "xlsx", extra=[(f"xl/part{n}.xml", b"<x/>") for n in range(8)]
    )
    monkeypatch.setattr(uploads, "MAX_ZIP_MEMBERS", 10)
    parsed: list[object] = []
    real = uploads.zipfile.ZipFile

    def counting(*args, **kwargs):
        parsed.append(args)
        return real(*args, **kwargs)

    monkeypatch.setattr(uploads.zipfile, "ZipFile", counting)

    with pytest.raises(ValidationFailed) as refused:
        attach(team, "sheet.xlsx", content)

    assert refused.value.errors == {
        "file": ["This archive has too many parts to be checked safely."]
    }
    assert parsed == []


def test_what_archives_inside_unpack_to_counts_against_the_total(team, monkeypatch):
    monkeypatch.setattr(uploads, "MAX_UNCOMPRESSED_BYTES", 1024 * 1024)
    # Random text compresses about twofold. The document declares 400 KB of
    # text and a workbook of about 350 KB; the workbook unpacks to 700 KB more.
    workbook = ef.office_bytes(
        "xlsx", extra=[(SHEET, os.urandom(350 * 1024).hex().encode())]
    )
    content = ef.office_bytes(
        "docx",
        extra=[
            ("word/media/notes.xml", os.urandom(200 * 1024).hex().encode()),
            ("word/embeddings/Workbook.xlsx", workbook),
        ],
    )

    with pytest.raises(ValidationFailed) as refused:
        attach(team, "letter.docx", content)

    assert refused.value.errors == {
        "file": ["This file unpacks to more than 1 MB; it cannot be uploaded."]
    }


# --- polyglots: stored and served as the type they were checked as ---------------------


@pytest.mark.parametrize(
    ("name", "content", "content_type"),
    [
        pytest.param(
            "notice.pdf",
            b"%PDF-1.4\n<html><body><script>alert(document.cookie)</script>\n"
            + ef.sample_pdf_bytes()[9:],
            "application/pdf",
            id="pdf-that-is-also-html",
        ),
        pytest.param(
            "photo.png",
            ef.sample_png_bytes() + b"<html><script>alert(1)</script></html>",
            "image/png",
            id="png-with-html-after-the-image",
        ),
    ],
)
def test_a_polyglot_keeps_the_type_it_was_checked_as_whatever_the_browser_claimed(
    team, name, content, content_type
):
    # Served only as an attachment of this type with `nosniff` (the download
    # view), the markup inside is never run: it is the type's own business, as
    # with any PDF or image.
    upload = ef.upload(name, content, content_type="text/html")

    record = ef.make_record(
        team.o,
        actor=team.rina_user,
        run=team.run,
        items=[records.NewFile(upload=upload, name=name)],
        now=NOW,
    )

    item = record.evidence.get()
    assert item.content_type == content_type
    assert STORED_NAME.match(str(item.file.name))
    assert not str(item.file.name).endswith((".html", ".htm", ".svg"))


# --- names that would mislead or break ------------------------------------------------


@pytest.mark.parametrize(
    ("given", "cleaned"),
    [
        # A file name from a disk in another encoding (read with surrogateescape).
        ("nota\udcff\udce9.pdf", "nota.pdf"),
        ("nota\u2028baru\u2029.pdf", "notabaru.pdf"),  # line and paragraph breaks
        ("\u2066invoice\u2069\u200e.pdf", "invoice.pdf"),  # isolates and marks
        ("\ue000private.pdf", "private.pdf"),  # a private-use character
    ],
)
def test_names_lose_unencodable_and_invisible_characters(given, cleaned):
    assert uploads.clean_name(given) == cleaned


def test_a_file_name_with_unencodable_characters_is_stored_cleaned(team):
    record = attach(team, "nota\udcff.pdf", ef.sample_pdf_bytes())

    item = EvidenceItem.objects.get(record=record)
    assert item.original_name == "nota.pdf"


# --- orphan files: left behind when the caller's transaction rolled back ----------------


def orphan(t: ef.Team | SmallOrg, name: str = "notice.pdf") -> str:
    """A file stored by a service whose caller's transaction then rolled back:
    no row references it any more."""
    stored: list[str] = []
    with pytest.raises(RuntimeError), transaction.atomic():
        if isinstance(t, ef.Team):
            record = attach(t, name, ef.sample_pdf_bytes())
        else:
            record = ef.make_record(t, actor=t.member, items=[ef.pdf(name)], now=NOW)
        stored.append(str(record.evidence.get().file.name))
        raise RuntimeError("the caller's transaction rolls back")
    assert not EvidenceItem.objects.filter(file=stored[0]).exists()
    return stored[0]


def test_a_rolled_back_caller_leaves_a_file_that_the_sweep_deletes_when_old(team):
    kept = str(attach(team, "kept.pdf", ef.sample_pdf_bytes()).evidence.get().file.name)
    lost = orphan(team)
    default_storage.save("exports/report.pdf", ContentFile(b"not evidence"))
    assert ef.stored_files(team.o) == sorted([kept, lost])
    now = timezone.now()

    # Younger than an hour: its transaction may still be about to commit.
    assert uploads.sweep_orphans(now=now + dt.timedelta(minutes=50)) == 0
    assert ef.stored_files(team.o) == sorted([kept, lost])

    assert uploads.sweep_orphans(now=now + dt.timedelta(minutes=70)) == 1
    assert ef.stored_files(team.o) == [kept]
    assert default_storage.exists("exports/report.pdf")
    # Idempotent: nothing more to do.
    assert uploads.sweep_orphans(now=now + dt.timedelta(minutes=70)) == 0
    assert ef.stored_files(team.o) == [kept]


def test_the_sweep_uses_only_the_storage_api(team, other_org, settings):
    settings.STORAGES = {
        **settings.STORAGES,
        "default": {"BACKEND": "django.core.files.storage.InMemoryStorage"},
    }
    kept = str(attach(team, "kept.pdf", ef.sample_pdf_bytes()).evidence.get().file.name)
    lost = orphan(team)
    other = orphan(other_org)

    deleted = uploads.sweep_orphans(
        now=timezone.now() + dt.timedelta(hours=2), older_than=dt.timedelta(hours=1)
    )

    assert deleted == 2
    assert default_storage.exists(kept)
    assert not default_storage.exists(lost) and not default_storage.exists(other)


def test_the_sweep_reads_a_fixed_number_of_statements_per_folder(
    team, django_assert_num_queries
):
    for number in range(3):
        attach(team, f"kept-{number}.pdf", ef.sample_pdf_bytes())
    orphan(team)

    # One folder: one statement for the references, one to re-check the orphan.
    with django_assert_num_queries(2):
        deleted = uploads.sweep_orphans(now=timezone.now() + dt.timedelta(hours=2))

    assert deleted == 1


def test_the_worker_sweeps_at_most_once_an_hour(team, monkeypatch):
    monkeypatch.setattr(uploads, "_last_sweep", None)
    now = timezone.now() + dt.timedelta(hours=2)
    first = orphan(team, "first.pdf")

    assert uploads.sweep_due(now=now) == 1
    second = orphan(team, "second.pdf")
    assert uploads.sweep_due(now=now + dt.timedelta(minutes=59)) == 0
    assert default_storage.exists(second)
    assert uploads.sweep_due(now=now + dt.timedelta(minutes=61)) == 1
    assert not default_storage.exists(first) and not default_storage.exists(second)


def test_the_worker_drains_orphan_files():
    from rantai.cli.management.commands import worker as worker_command

    found, _missing = worker_command.available_drainers()
    drains = {drainer.name: drain for drainer, drain in found}
    assert drains["orphan files"] is uploads.sweep_due
