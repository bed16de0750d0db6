"""Builders of the evidence tests (and of other apps' tests that need records),
all through the services.

A typical test:

    t = factories.team(pack="verified")    # the organisation, its people, a run
    record = factories.make_record(t.o, actor=t.rina_user, run=t.run,
                                   items=[factories.pdf()])
    factories.verified_record(t.o, actor=t.rina_user, verifier=t.ani_user,
                              run=t.run)

The team, on the working calendar of `rantai.roles.tests.factories` (Monday to
Friday, 08:00 to 16:00 in Jakarta; `T0` is Monday 2 March 2026, 08:00):

    Head of export (EXP-HEAD)  Rina (acme.member): accountable for both steps
    Export clerk (EXP-CLERK)   Budi (no login) and Ani (member, login)
    Forwarder operations       Joko (acme.partner), the forwarder's partner login
    Other Carrier (OTH)        Olga, a partner login of a party not in the run

The procedure SHIP: `pack` (R export clerk, A head of export, 1 day), then
`ship` (R the forwarder, A head of export, 2 days). `pack` requires evidence
when `team(pack="evidence")`, verified evidence with `pack="verified"`; `ship`
likewise with `ship=`. The run starts at T0.

Files: `sample_pdf_bytes()`, `sample_png_bytes()`, `office_bytes(kind)` make
small real files; `upload(name, content)` wraps bytes as an upload and `pdf()`
makes a `NewFile` of a PDF. Stored files go to `default_storage`: point
`MEDIA_ROOT` at a temporary folder in tests that store files (this package's
`conftest.py` does it for every evidence test); `stored_files(organisation)`
lists what is stored for an organisation.
"""

from __future__ import annotations

import datetime as dt
import io
import struct
import zipfile
import zlib
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.core.files.storage import default_storage
from django.core.files.uploadedfile import SimpleUploadedFile

from rantai.accounts.models import Organisation, Role, User
from rantai.chains.models import Run, Task
from rantai.evidence import records, verification
from rantai.evidence.models import (
    InformationRecord,
    RecordKind,
    SourceKind,
    Verdict,
)
from rantai.org.models import Party, Person
from rantai.roles.tests import factories as f
from rantai.testing import SmallOrg

__all__ = [
    "T0",
    "Team",
    "duplicate_member",
    "make_record",
    "office_bytes",
    "patch_zip",
    "pdf",
    "sample_pdf_bytes",
    "sample_png_bytes",
    "stored_files",
    "streamed_zip_bytes",
    "team",
    "upload",
    "verified_record",
    "zip_bytes",
]

T0 = f.T0


# --- files ----------------------------------------------------------------------------


def sample_pdf_bytes(text: str = "Delivery note 118") -> bytes:
    """A small, well-formed one-page PDF."""
    stream = f"BT /F1 12 Tf 72 720 Td ({text}) Tj ET".encode()
    objects = [
        b"<< /Type /Catalog /Pages 2 0 R >>",
        b"<< /Type /Pages /Kids [3 0 R] /Count 1 >>",
        b"<< /Type /Page /Parent 2 0 R /MediaBox [0 0 612 792] /Contents 4 0 R >>",
        b"<< /Length %d >>\nstream\n" % len(stream) + stream + b"\nendstream",
    ]
    body = io.BytesIO()
    body.write(b"%PDF-1.4\n")
    offsets = []
    for number, content in enumerate(objects, start=1):
        offsets.append(body.tell())
        body.write(b"%d 0 obj\n" % number + content + b"\nendobj\n")
    xref = body.tell()
    body.write(b"xref\n0 %d\n0000000000 65535 f \n" % (len(objects) + 1))
    for offset in offsets:
        body.write(b"%010d 00000 n \n" % offset)
    body.write(
        b"trailer\n<< /Size %d /Root 1 0 R >>\nstartxref\n%d\n%%%%EOF\n"
        % (len(objects) + 1, xref)
    )
    return body.getvalue()


def sample_png_bytes() -> bytes:
    """A 1×1 white PNG image."""

    def chunk(kind: bytes, data: bytes) -> bytes:
        return (
            struct.pack(">I", len(data))
            + kind
            + data
            + struct.pack(">I", zlib.crc32(kind + data) & 0xFFFFFFFF)
        )

    header = struct.pack(">IIBBBBB", 1, 1, 8, 2, 0, 0, 0)
    pixels = zlib.compress(b"\x00\xff\xff\xff")
    return (
        b"\x89PNG\r\n\x1a\n"
        + chunk(b"IHDR", header)
        + chunk(b"IDAT", pixels)
        + chunk(b"IEND", b"")
    )


def zip_bytes(
    members: Sequence[tuple[str, bytes]],
    *,
    stored_first: bool = False,
) -> bytes:
    """A ZIP archive of the members (name, content), deflated (the first one
    stored when `stored_first`, as OpenDocument wants its `mimetype`)."""
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        for index, (name, content) in enumerate(members):
            info = zipfile.ZipInfo(name, date_time=(2026, 3, 2, 8, 0, 0))
            info.compress_type = (
                zipfile.ZIP_STORED
                if stored_first and index == 0
                else zipfile.ZIP_DEFLATED
            )
            archive.writestr(info, content)
    return buffer.getvalue()


_XML = b'<?xml version="1.0" encoding="UTF-8"?>'
_OFFICE_MEMBERS: dict[str, list[tuple[str, bytes]]] = {
    "docx": [
        ("[Content_Types].xml", _XML + b"<Types/>"),
        ("_rels/.rels", _XML + b"<Relationships/>"),
        ("word/document.xml", _XML + b"<w:document/>"),
    ],
    "xlsx": [
        ("[Content_Types].xml", _XML + b"<Types/>"),
        ("_rels/.rels", _XML + b"<Relationships/>"),
        ("xl/workbook.xml", _XML + b"<workbook/>"),
    ],
    "pptx": [
        ("[Content_Types].xml", _XML + b"<Types/>"),
        ("_rels/.rels", _XML + b"<Relationships/>"),
        ("ppt/presentation.xml", _XML + b"<p:presentation/>"),
    ],
    "odt": [
        ("mimetype", b"application/vnd.oasis.opendocument.text"),
        ("content.xml", _XML + b"<office:document-content/>"),
        ("META-INF/manifest.xml", _XML + b"<manifest:manifest/>"),
    ],
    "ods": [
        ("mimetype", b"application/vnd.oasis.opendocument.spreadsheet"),
        ("content.xml", _XML + b"<office:document-content/>"),
        ("META-INF/manifest.xml", _XML + b"<manifest:manifest/>"),
    ],
}


def streamed_zip_bytes(members: Sequence[tuple[str, bytes]]) -> bytes:
    """A ZIP archive written as a stream (as a web server or a phone app writes
    one): every member's sizes follow its data in a data descriptor, its local
    header says zero."""

    class Stream(io.RawIOBase):
        def __init__(self) -> None:
            self.buffer = bytearray()

        def writable(self) -> bool:
            return True

        def write(self, data: bytes) -> int:  # type: ignore[override]
            self.buffer += data
            return len(data)

    stream = Stream()
    with zipfile.ZipFile(stream, "w", zipfile.ZIP_DEFLATED) as archive:
        for name, content in members:
            with archive.open(name, "w") as member:
                member.write(content)
    return bytes(stream.buffer)


def patch_zip(
    data: bytes,
    member: str,
    *,
    file_size: int | None = None,
    crc: int | None = None,
    compress_type: int | None = None,
    local_name: bytes | None = None,
    descriptor: bool = False,
) -> bytes:
    """The archive with one member's headers rewritten — its uncompressed size,
    checksum or compression method in the local header and the directory alike
    (and in its data descriptor with `descriptor`), or the name in the local
    header alone: what a hostile file says about itself."""
    patched = bytearray(data)
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        info = archive.getinfo(member)
        start_dir = archive.start_dir
    local = info.header_offset
    name_length, extra_length = struct.unpack_from("<HH", patched, local + 26)
    if file_size is not None:
        struct.pack_into("<I", patched, local + 22, file_size)
    if crc is not None:
        struct.pack_into("<I", patched, local + 14, crc)
    if compress_type is not None:
        struct.pack_into("<H", patched, local + 8, compress_type)
    if local_name is not None:
        assert len(local_name) == name_length
        patched[local + 30 : local + 30 + name_length] = local_name
    if descriptor and file_size is not None:
        found = patched.index(
            b"PK\x07\x08", local + 30 + name_length + extra_length + info.compress_size
        )
        struct.pack_into("<I", patched, found + 12, file_size)
    position = start_dir
    while patched[position : position + 4] == b"PK\x01\x02":
        name_length, extra_length, comment_length = struct.unpack_from(
            "<HHH", patched, position + 28
        )
        name = bytes(patched[position + 46 : position + 46 + name_length])
        if name == member.encode():
            if file_size is not None:
                struct.pack_into("<I", patched, position + 24, file_size)
            if crc is not None:
                struct.pack_into("<I", patched, position + 16, crc)
            if compress_type is not None:
                struct.pack_into("<H", patched, position + 10, compress_type)
        position += 46 + name_length + extra_length + comment_length
    return bytes(patched)


def duplicate_member(data: bytes, member: str) -> bytes:
    """The archive with a second directory entry for the member, pointing at the
    same data (overlapping members: each read unpacks the same bytes again)."""
    with zipfile.ZipFile(io.BytesIO(data)) as archive:
        start_dir = archive.start_dir
    end = data.rindex(b"PK\x05\x06")
    directory = data[start_dir:end]
    position = 0
    copy = b""
    while position < len(directory):
        name_length, extra_length, comment_length = struct.unpack_from(
            "<HHH", directory, position + 28
        )
        size = 46 + name_length + extra_length + comment_length
        if directory[position + 46 : position + 46 + name_length] == member.encode():
            copy = directory[position : position + size]
        position += size
    assert copy, member
    record = bytearray(data[end : end + 22])
    entries, total, size, offset = struct.unpack_from("<HHII", record, 8)
    struct.pack_into(
        "<HHII", record, 8, entries + 1, total + 1, size + len(copy), offset
    )
    return data[:end] + copy + bytes(record) + data[end + 22 :]


def office_bytes(kind: str, *, extra: Sequence[tuple[str, bytes]] = ()) -> bytes:
    """A minimal office file of the kind (docx, xlsx, pptx, odt, ods), with
    `extra` members added."""
    return zip_bytes(
        [*_OFFICE_MEMBERS[kind], *extra], stored_first=kind in ("odt", "ods")
    )


def upload(
    name: str,
    content: bytes,
    content_type: str = "application/octet-stream",
) -> SimpleUploadedFile:
    """The bytes as an uploaded file (the content type is what a browser claims:
    the checks ignore it)."""
    return SimpleUploadedFile(name, content, content_type=content_type)


def pdf(name: str = "delivery-note.pdf", *, label: str = "") -> records.NewFile:
    """A `NewFile` of a small PDF."""
    return records.NewFile(
        upload=upload(name, sample_pdf_bytes()), name=name, label=label
    )


def link(
    url: str = "https://forwarder.example.com/notice/118", *, label: str = ""
) -> records.NewLink:
    return records.NewLink(url=url, label=label)


def value(quantity: str = "500", unit: str = "units") -> records.NewValue:
    return records.NewValue(quantity=Decimal(quantity), unit=unit)


def stored_files(organisation: Organisation | SmallOrg) -> list[str]:
    """The names stored under the organisation's evidence folder (recursively)."""
    organisation_id = _organisation(organisation).pk
    found: list[str] = []
    pending = [f"evidence/{organisation_id}"]
    while pending:
        folder = pending.pop()
        if not default_storage.exists(folder):
            continue
        folders, files = default_storage.listdir(folder)
        found.extend(f"{folder}/{name}" for name in files)
        pending.extend(f"{folder}/{name}" for name in folders)
    return sorted(found)


# --- the team and its run -------------------------------------------------------------


@dataclass
class Team:
    o: SmallOrg
    run: Run
    other_carrier: Party
    ani: Person  # an export clerk with a login
    olga: Person  # a partner of the other carrier, not in the run

    @property
    def organisation(self) -> Organisation:
        return self.o.organisation

    @property
    def admin(self) -> User:
        return self.o.admin

    @property
    def rina_user(self) -> User:
        """The Head of export (accountable for both steps)."""
        return self.o.member

    @property
    def ani_user(self) -> User:
        return f.user_of(self.ani)

    @property
    def joko_user(self) -> User:
        """The forwarder's partner login (responsible for `ship`)."""
        return self.o.partner

    @property
    def olga_user(self) -> User:
        return f.user_of(self.olga)

    def task(self, key: str) -> Task:
        return f.task(self.run, key)


def _step_extra(requires: str) -> dict[str, object]:
    """`add_step` keywords besides `requires_evidence` for a step requiring
    "evidence" or "verified" evidence."""
    if not requires:
        return {}
    return {
        "evidence_description": "The signed delivery note",
        "requires_verified_evidence": requires == "verified",
    }


def team(*, pack: str = "", ship: str = "", slug: str = "acme") -> Team:
    """The organisation, its people and a run started at T0 (see the module);
    `pack` and `ship`: "" (no evidence), "evidence" or "verified"."""
    o = f.organisation(slug)
    other_carrier = f.partner_party(o, name="Other Carrier", code="OTH")
    ani = f.person(o, "ani")
    olga = f.person(o, "olga", role=Role.PARTNER, party=other_carrier)
    f.hold(o, o.export_staff, ani)
    version = f.procedure(
        o,
        [
            f.StepRow(
                "pack",
                responsible=o.export_staff,
                accountable=o.export_head,
                requires_evidence=bool(pack),
                extra=_step_extra(pack),
            ),
            f.StepRow(
                "ship",
                responsible=o.forwarder,
                accountable=o.export_head,
                days="2",
                after=["pack"],
                requires_evidence=bool(ship),
                extra=_step_extra(ship),
            ),
        ],
    )
    run = f.start_run(version, actor=o.admin)
    return Team(o, run, other_carrier, ani, olga)


# --- records --------------------------------------------------------------------------


def _organisation(organisation: Organisation | SmallOrg) -> Organisation:
    return (
        organisation.organisation
        if isinstance(organisation, SmallOrg)
        else organisation
    )


def make_record(
    organisation: Organisation | SmallOrg,
    *,
    actor: User,
    run: Run | None = None,
    task: Task | None = None,
    kind: str = RecordKind.CLAIM,
    items: Sequence[records.NewItem] = (),
    title: str = "The truck leaves on the 12th",
    statement: str = "The forwarder's dispatcher says the truck leaves on the 12th.",
    source_kind: str = SourceKind.PERSON,
    source_detail: str = "The forwarder's dispatcher, by phone",
    now: dt.datetime | None = None,
) -> InformationRecord:
    """An information record (a claim heard by phone unless told otherwise)."""
    return records.record_information(
        _organisation(organisation),
        actor=actor,
        title=title,
        statement=statement,
        source_kind=source_kind,
        source_detail=source_detail,
        kind=kind,
        run=run,
        task=task,
        items=items,
        now=now or T0 + dt.timedelta(minutes=30),
    )


def verified_record(
    organisation: Organisation | SmallOrg,
    *,
    actor: User,
    verifier: User,
    run: Run | None = None,
    task: Task | None = None,
    kind: str | None = None,
    items: Sequence[records.NewItem] | None = None,
    note: str = "Matches the forwarder's written notice.",
    now: dt.datetime | None = None,
) -> InformationRecord:
    """A record by `actor` (with a link unless `items`), verified by `verifier`;
    a task's record is its evidence (`task_evidence`) unless `kind` says
    otherwise."""
    moment = now or T0 + dt.timedelta(minutes=30)
    record = make_record(
        organisation,
        actor=actor,
        run=run,
        task=task,
        kind=kind or (RecordKind.TASK_EVIDENCE if task else RecordKind.CLAIM),
        items=[link()] if items is None else items,
        now=moment,
    )
    verification.verify(
        record,
        actor=verifier,
        verdict=Verdict.VERIFIED,
        note=note,
        expected_version=record.version,
        now=moment + dt.timedelta(minutes=5),
    )
    return record
