"""Checking an uploaded evidence file before anything is stored
(docs/design-evidence.md, "Uploads").

The content decides and the name must agree: the file's first bytes must be those
of the type its extension claims (office files are ZIP archives with the members
of their format, checked against zip bombs and unsafe member paths; text must be
UTF-8 without NUL bytes). Markup (HTML, SVG, XML), scripts and programs are refused
whatever their name. The upload is read in chunks, never whole; its size, SHA-256
checksum and type come from that one pass.

A checked file is stored through `default_storage` under a generated name
(`evidence/<organisation id>/<yyyy>/<mm>/<uuid4 hex>.<ext>`); the name the user
gave is kept only as a cleaned `original_name`. `removed_on_failure()` deletes
what was stored when the block around it fails, so a rolled-back service leaves
no orphan file behind. A caller's own transaction may still roll back after the
service returned (its files stay, referenced by no row): the worker's
`sweep_due` deletes such orphans once they are an hour old.
"""

from __future__ import annotations

import codecs
import datetime as dt
import hashlib
import re
import struct
import tempfile
import unicodedata
import uuid
import zipfile
import zlib
from collections.abc import Collection, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from typing import IO, cast

from django.core.files import File
from django.core.files.storage import default_storage
from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rantai.core.errors import ValidationFailed
from rantai.evidence.models import EvidenceItem

__all__ = [
    "CHUNK_BYTES",
    "FILE_TYPES",
    "MAX_COMPRESSION_RATIO",
    "MAX_UNCOMPRESSED_BYTES",
    "MAX_ZIP_DEPTH",
    "MAX_ZIP_MEMBERS",
    "ORPHAN_AGE",
    "SWEEP_EVERY",
    "CheckedFile",
    "FileType",
    "check",
    "clean_name",
    "removed_on_failure",
    "storage_name",
    "store",
    "sweep_due",
    "sweep_orphans",
]

CHUNK_BYTES = 64 * 1024
# What is looked at for magic numbers and markup.
HEAD_BYTES = 1024
# Against zip bombs: the size of all members together (archives inside included),
# the ratio of any member's size to its compressed size (for members big enough
# to matter), and the number of members — first as the archive declares them,
# then as the members really unpack.
MAX_UNCOMPRESSED_BYTES = 200 * 1024 * 1024
MAX_COMPRESSION_RATIO = 100
RATIO_CHECKED_FROM_BYTES = 1024 * 1024
MAX_ZIP_MEMBERS = 5000
# Archives inside archives (a chart's workbook inside a presentation) are
# checked too, this many levels deep at most (the file itself is level 1).
MAX_ZIP_DEPTH = 3
_LOCAL_HEADER_SIZE = 30
_EOCD_SIZE = 22
_ZIP_MAGIC = b"PK\x03\x04"
# An archive inside an archive is spooled to a temporary file past this size.
_SPOOL_IN_MEMORY_BYTES = 1024 * 1024
# The OpenDocument `mimetype` member is a short line.
MIMETYPE_BYTES = 100


@dataclass(frozen=True, slots=True)
class FileType:
    """One allowed type of evidence file."""

    code: str
    label: str | Promise  # a format's own name, or a lazy translation
    extensions: tuple[str, ...]  # the first one is used for the stored name
    content_type: str
    family: str  # "pdf" | "image" | "text" | "ooxml" | "odf"


FILE_TYPES: dict[str, FileType] = {
    file_type.code: file_type
    for file_type in (
        FileType("pdf", "PDF", ("pdf",), "application/pdf", "pdf"),
        FileType("png", "PNG", ("png",), "image/png", "image"),
        FileType("jpeg", "JPEG", ("jpg", "jpeg"), "image/jpeg", "image"),
        FileType("gif", "GIF", ("gif",), "image/gif", "image"),
        FileType("webp", "WebP", ("webp",), "image/webp", "image"),
        FileType(
            "txt", gettext_lazy("Text"), ("txt",), "text/plain; charset=utf-8", "text"
        ),
        FileType("csv", "CSV", ("csv",), "text/csv; charset=utf-8", "text"),
        FileType(
            "docx",
            "Word",
            ("docx",),
            "application/vnd.openxmlformats-officedocument.wordprocessingml.document",
            "ooxml",
        ),
        FileType(
            "xlsx",
            "Excel",
            ("xlsx",),
            "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
            "ooxml",
        ),
        FileType(
            "pptx",
            "PowerPoint",
            ("pptx",),
            "application/vnd.openxmlformats-officedocument.presentationml.presentation",
            "ooxml",
        ),
        FileType(
            "odt",
            gettext_lazy("OpenDocument text"),
            ("odt",),
            "application/vnd.oasis.opendocument.text",
            "odf",
        ),
        FileType(
            "ods",
            gettext_lazy("OpenDocument spreadsheet"),
            ("ods",),
            "application/vnd.oasis.opendocument.spreadsheet",
            "odf",
        ),
    )
}

# The member an Office Open XML file of each type must have.
_OOXML_MAIN = {
    "docx": "word/document.xml",
    "xlsx": "xl/workbook.xml",
    "pptx": "ppt/presentation.xml",
}
_ODF_MIMETYPE = {
    "odt": b"application/vnd.oasis.opendocument.text",
    "ods": b"application/vnd.oasis.opendocument.spreadsheet",
}
# Signatures of content refused whatever the name: programs (and "MZ", Windows
# programs, in `_looks_like_program`).
_PROGRAMS = (
    b"\x7fELF",  # Linux programs
    b"\xfe\xed\xfa\xce",  # Mach-O (macOS)
    b"\xfe\xed\xfa\xcf",
    b"\xce\xfa\xed\xfe",
    b"\xcf\xfa\xed\xfe",
    b"\xca\xfe\xba\xbe",  # Mach-O universal, Java classes
    b"#!",  # scripts
)
# Markup looked for (lower case) in a text file's first bytes.
_MARKUP = (
    b"<!doctype",
    b"<html",
    b"<head",
    b"<body",
    b"<script",
    b"<svg",
    b"<?xml",
    b"<iframe",
    b"<object",
    b"<embed",
    b"<meta",
    b"<a ",
    b"<img",
    b"<style",
    b"<xml",
)
_CONTROL = re.compile(r"[\x00-\x1f\x7f]")
# Unicode categories dropped from a shown file name: controls, format characters
# (bidirectional overrides and isolates, zero-width marks), line and paragraph
# separators, private use, surrogates.
_NOT_IN_NAMES = frozenset({"Cc", "Cf", "Zl", "Zp", "Co", "Cs"})
_NAME_LENGTH = 255


@dataclass(frozen=True, slots=True)
class CheckedFile:
    """What the check learned about an upload; `store` writes it."""

    original_name: str
    file_type: str
    extension: str
    content_type: str
    size: int
    sha256: str


# --- names ----------------------------------------------------------------------------


def clean_name(name: str) -> str:
    """The user's file name without folders, control and format characters (such
    as right-to-left overrides), line breaks, private-use characters and lone
    surrogates (a name read from a disk in another encoding: no database stores
    them) or surrounding spaces and dots, at most 255 characters (the extension
    kept)."""
    text = str(name or "")
    base = re.split(r"[/\\]", text)[-1]
    base = "".join(
        char for char in base if unicodedata.category(char) not in _NOT_IN_NAMES
    )
    base = unicodedata.normalize("NFC", base)
    base = _CONTROL.sub("", base).strip().strip(".").strip()
    if len(base) > _NAME_LENGTH:
        stem, dot, extension = base.rpartition(".")
        if dot and len(extension) < 20:
            base = stem[: _NAME_LENGTH - len(extension) - 1] + "." + extension
        else:
            base = base[:_NAME_LENGTH]
    return base


def _extension(name: str) -> str:
    _stem, dot, extension = name.rpartition(".")
    return extension.lower() if dot else ""


def storage_name(organisation_id: int, extension: str, now: dt.datetime) -> str:
    """`evidence/<organisation id>/<yyyy>/<mm>/<uuid4 hex>.<ext>` (month in UTC)."""
    moment = now.astimezone(dt.UTC)
    return (
        f"evidence/{int(organisation_id)}/{moment:%Y}/{moment:%m}/"
        f"{uuid.uuid4().hex}.{extension}"
    )


# --- checking -------------------------------------------------------------------------


def _refused(message: str) -> ValidationFailed:
    return ValidationFailed({"file": [message]}, code="file_refused")


def _type_for(extension: str, allowed: Collection[str]) -> FileType:
    """The allowed type the extension names, or a refusal naming the allowed ones."""
    for code in allowed:
        file_type = FILE_TYPES.get(code)
        if file_type is not None and extension in file_type.extensions:
            return file_type
    names = ", ".join(
        f".{FILE_TYPES[code].extensions[0]}" for code in allowed if code in FILE_TYPES
    )
    if not extension:
        raise _refused(
            _("The file name has no extension. Allowed: {types}.").format(types=names)
        )
    raise _refused(
        _("Files of type .{extension} cannot be uploaded. Allowed: {types}.").format(
            extension=extension, types=names
        )
    )


def _looks_like_program(head: bytes) -> bool:
    """A program or script: its signature (Windows programs: "MZ" followed by the
    binary header, so a text starting with those letters passes)."""
    if head.startswith(b"MZ"):
        return b"\x00" in head[:64]
    return head.startswith(_PROGRAMS)


def _looks_like_markup(head: bytes, *, anywhere: bool) -> bool:
    """HTML, SVG or XML: a tag at the start (after a byte order mark or spaces),
    or with `anywhere` (text files) a telling tag anywhere in the first bytes."""
    text = head.lower()
    if text.startswith(b"\xef\xbb\xbf"):
        text = text[3:]
    text = text.lstrip()
    if re.match(rb"<[a-z!?/]", text):
        return True
    return anywhere and any(marker in text for marker in _MARKUP)


def _matches_magic(file_type: FileType, head: bytes) -> bool:
    if file_type.code == "pdf":
        return head.startswith(b"%PDF-")
    if file_type.code == "png":
        return head.startswith(b"\x89PNG\r\n\x1a\n")
    if file_type.code == "jpeg":
        return head.startswith(b"\xff\xd8\xff")
    if file_type.code == "gif":
        return head.startswith((b"GIF87a", b"GIF89a"))
    if file_type.code == "webp":
        return head[:4] == b"RIFF" and head[8:12] == b"WEBP"
    if file_type.family in ("ooxml", "odf"):
        return head.startswith(b"PK\x03\x04")
    return True  # text: checked while reading


def _not_this_type(file_type: FileType) -> ValidationFailed:
    return _refused(
        _(
            "The content of this file is not {type}, although its name ends in "
            ".{extension}."
        ).format(type=str(file_type.label), extension=file_type.extensions[0])
    )


def _unsafe_member(name: str) -> bool:
    """An absolute path, a drive letter or a `..` part: extracting it would write
    outside the folder it is extracted to."""
    if name.startswith(("/", "\\")) or re.match(r"^[A-Za-z]:", name):
        return True
    return ".." in re.split(r"[/\\]", name)


_ZIP_ERRORS = (
    zipfile.BadZipFile,
    OSError,
    ValueError,
    EOFError,
    NotImplementedError,
    zlib.error,
)


def _unsafe(member: zipfile.ZipInfo) -> ValidationFailed:
    return _refused(
        _(
            "This file contains a part with an unsafe path ({name}); it cannot be "
            "uploaded."
        ).format(name=clean_name(member.filename) or "?")
    )


def _bomb() -> ValidationFailed:
    return _refused(
        _(
            "This file unpacks to far more than its size (a zip bomb?); "
            "it cannot be uploaded."
        )
    )


def _too_big_unpacked() -> ValidationFailed:
    return _refused(
        _(
            "This file unpacks to more than {megabytes} MB; it cannot be uploaded."
        ).format(megabytes=MAX_UNCOMPRESSED_BYTES // (1024 * 1024))
    )


def _damaged() -> ValidationFailed:
    return _refused(
        _(
            "The parts of this file do not match what the file says about them "
            "(damaged, or made to mislead); it cannot be uploaded."
        )
    )


def _too_many_parts() -> ValidationFailed:
    return _refused(_("This archive has too many parts to be checked safely."))


class _Budget:
    """What may still be unpacked, over every member of the archive and of the
    archives inside it; spending past it refuses the file."""

    def __init__(self) -> None:
        # Read when the check runs, so a test (or a deployment) may change it.
        self.bytes_left = MAX_UNCOMPRESSED_BYTES
        self.members_left = MAX_ZIP_MEMBERS

    def unpacked(self, count: int) -> None:
        self.bytes_left -= count
        if self.bytes_left < 0:
            raise _too_big_unpacked()

    def members(self, count: int) -> None:
        self.members_left -= count
        if self.members_left < 0:
            raise _too_many_parts()


def _directory_entries(source: IO[bytes]) -> int:
    """How many members the archive's end record announces, read before the
    directory itself is parsed (a directory of millions of tiny entries would
    take the memory before they could be counted). -1 when there is no end
    record (not an archive)."""
    source.seek(0, 2)
    end = source.tell()
    window = min(end, _EOCD_SIZE + 0xFFFF)
    source.seek(end - window)
    tail = source.read(window)
    position = tail.rfind(b"PK\x05\x06")
    if position < 0 or len(tail) - position < _EOCD_SIZE:
        return -1
    (entries,) = struct.unpack("<H", tail[position + 10 : position + 12])
    if entries != 0xFFFF:
        return int(entries)
    # ZIP64: the locator before the end record names the ZIP64 end record.
    locator = tail[position - 20 : position] if position >= 20 else b""
    if len(locator) != 20 or not locator.startswith(b"PK\x06\x07"):
        return -1
    (offset,) = struct.unpack("<Q", locator[8:16])
    source.seek(offset)
    record = source.read(56)
    if len(record) != 56 or not record.startswith(b"PK\x06\x06"):
        return -1
    (entries,) = struct.unpack("<Q", record[32:40])
    return int(entries)


def _raw_chunks(
    source: IO[bytes], member: zipfile.ZipInfo, after: int
) -> tuple[int, Iterator[bytes]]:
    """Where the member's data ends, and its compressed bytes in chunks, read
    from its local header: the header must agree with the archive's directory
    (name, method, and sizes unless they follow the data) and the data must not
    overlap the member before it (ends at `after`)."""
    if member.header_offset < after:
        # Members sharing their data: each read again unpacks the same bytes.
        raise _bomb()
    source.seek(member.header_offset)
    header = source.read(_LOCAL_HEADER_SIZE)
    if len(header) != _LOCAL_HEADER_SIZE or not header.startswith(b"PK\x03\x04"):
        raise _damaged()
    (flags, method, crc, compressed, size, name_length, extra_length) = struct.unpack(
        "<6xHH4xIIIHH", header
    )
    raw_name = source.read(name_length)
    try:
        name = raw_name.decode("utf-8" if flags & 0x800 else "cp437")
    except UnicodeDecodeError as error:
        raise _damaged() from error
    if name != member.orig_filename or method != member.compress_type:
        raise _damaged()
    # With bit 3 the sizes follow the data (the directory's are checked below
    # against what really unpacks); otherwise the two headers must agree.
    if not flags & 0x8 and (
        crc != member.CRC
        or (
            compressed != 0xFFFFFFFF
            and (compressed, size) != (member.compress_size, member.file_size)
        )
    ):
        raise _damaged()
    start = member.header_offset + _LOCAL_HEADER_SIZE + name_length + extra_length

    def chunks() -> Iterator[bytes]:
        source.seek(start)
        remaining = member.compress_size
        while remaining:
            chunk = source.read(min(CHUNK_BYTES, remaining))
            if not chunk:
                raise _damaged()
            remaining -= len(chunk)
            yield chunk

    return start + member.compress_size, chunks()


def _unpacked(member: zipfile.ZipInfo, raw: Iterator[bytes]) -> Iterator[bytes]:
    """The member's content in pieces of at most `CHUNK_BYTES`, however much the
    compressed bytes claim to unpack to; a deflated stream must end exactly
    where its compressed bytes do."""
    if member.compress_type == zipfile.ZIP_STORED:
        yield from raw
        return
    inflater = zlib.decompressobj(-zlib.MAX_WBITS)
    try:
        for chunk in raw:
            data = inflater.decompress(chunk, CHUNK_BYTES)
            while data:
                yield data
                data = inflater.decompress(inflater.unconsumed_tail, CHUNK_BYTES)
        data = inflater.decompress(b"", CHUNK_BYTES)
        while data:
            yield data
            data = inflater.decompress(inflater.unconsumed_tail, CHUNK_BYTES)
    except zlib.error as error:
        raise _damaged() from error
    if not inflater.eof or inflater.unused_data:
        # Another reader would see a different end of this member.
        raise _damaged()


def _inflate_members(source: IO[bytes], budget: _Budget, depth: int) -> None:
    """Unpack every member for real, counting what comes out against the
    budget (not what the archive declares), checking each member's size and
    checksum against the directory and its ratio against zip bombs; archives
    inside are checked the same way, sharing the budget, at most
    `MAX_ZIP_DEPTH` deep."""
    entries = _directory_entries(source)
    if entries < 0:
        raise _damaged()
    budget.members(entries)
    source.seek(0)
    try:
        archive = zipfile.ZipFile(source)  # type: ignore[arg-type]
        members = archive.infolist()
    except _ZIP_ERRORS:
        raise _damaged() from None
    if len(members) != entries:
        raise _damaged()
    with archive:
        after = 0
        for member in sorted(members, key=lambda found: found.header_offset):
            if _unsafe_member(member.filename):
                raise _unsafe(member)
            if member.flag_bits & 0x1:
                raise _refused(_("Encrypted documents cannot be uploaded."))
            if member.compress_type not in (zipfile.ZIP_STORED, zipfile.ZIP_DEFLATED):
                raise _damaged()
            after, raw = _raw_chunks(source, member, after)
            _inflate_member(member, raw, budget, depth)


def _inflate_member(
    member: zipfile.ZipInfo, raw: Iterator[bytes], budget: _Budget, depth: int
) -> None:
    """Unpack one member, counting its real size against the budget and the
    directory's claims; an archive inside is spooled and checked in turn."""
    size = 0
    crc = 0
    head: bytes | None = (
        b""  # the first bytes, until it is known whether it is an archive
    )
    nested: IO[bytes] | None = None
    try:
        for data in _unpacked(member, raw):
            size += len(data)
            budget.unpacked(len(data))
            if size > member.file_size:
                # More than the directory declares: its sizes lie.
                raise _bomb()
            if size >= RATIO_CHECKED_FROM_BYTES and (
                size > member.compress_size * MAX_COMPRESSION_RATIO
            ):
                raise _bomb()
            crc = zlib.crc32(data, crc)
            if nested is not None:
                nested.write(data)
            elif head is not None:
                head += data
                if len(head) >= len(_ZIP_MAGIC):
                    if head.startswith(_ZIP_MAGIC):
                        nested = tempfile.SpooledTemporaryFile(  # noqa: SIM115
                            max_size=_SPOOL_IN_MEMORY_BYTES
                        )
                        nested.write(head)
                    head = None
        if size != member.file_size or crc != member.CRC:
            raise _damaged()
        if nested is not None:
            if depth >= MAX_ZIP_DEPTH:
                raise _refused(
                    _(
                        "This file holds archives inside archives too deeply to "
                        "be checked safely."
                    )
                )
            _inflate_members(nested, budget, depth + 1)
    finally:
        if nested is not None:
            nested.close()


def _check_zip(upload: File, file_type: FileType) -> None:
    """The archive's member names, sizes and compression ratios — declared, then
    as really unpacked — and the members that say which format it is."""
    source = cast(IO[bytes], upload)
    entries = _directory_entries(source)
    if entries < 0:
        raise _not_this_type(file_type)
    if entries > MAX_ZIP_MEMBERS:
        raise _too_many_parts()
    upload.seek(0)
    try:
        archive = zipfile.ZipFile(upload)  # type: ignore[arg-type]
    except _ZIP_ERRORS as error:
        raise _not_this_type(file_type) from error
    with archive:
        members = archive.infolist()
        if len(members) > MAX_ZIP_MEMBERS:
            raise _too_many_parts()
        total = 0
        for member in members:
            if _unsafe_member(member.filename):
                raise _unsafe(member)
            if member.flag_bits & 0x1:
                raise _refused(_("Encrypted documents cannot be uploaded."))
            total += member.file_size
            if member.file_size >= RATIO_CHECKED_FROM_BYTES and (
                member.compress_size == 0
                or member.file_size / member.compress_size > MAX_COMPRESSION_RATIO
            ):
                raise _bomb()
        if total > MAX_UNCOMPRESSED_BYTES:
            raise _too_big_unpacked()
        names = {member.filename for member in members}
        if any(name.lower().endswith("vbaproject.bin") for name in names):
            raise _refused(_("Documents with macros cannot be uploaded."))
        if file_type.family == "ooxml":
            if "[Content_Types].xml" not in names or (
                _OOXML_MAIN[file_type.code] not in names
            ):
                raise _not_this_type(file_type)
        elif "mimetype" not in names or "content.xml" not in names:
            raise _not_this_type(file_type)
    # What the directory declares is only a claim: unpack everything for real.
    _inflate_members(source, _Budget(), depth=1)
    if file_type.family == "odf":
        upload.seek(0)
        try:
            with (
                zipfile.ZipFile(upload) as archive,  # type: ignore[arg-type]
                archive.open("mimetype") as member_file,
            ):
                mimetype = member_file.read(MIMETYPE_BYTES).strip()
        except _ZIP_ERRORS as error:
            raise _damaged() from error
        if mimetype != _ODF_MIMETYPE[file_type.code]:
            raise _not_this_type(file_type)


def check(
    upload: File,
    *,
    name: str,
    allowed: Collection[str],
    max_bytes: int,
) -> CheckedFile:
    """Check an upload against the allowed type codes and the size limit, reading
    it once in chunks; `ValidationFailed({"file": [...]})` says why it is refused.
    Nothing is stored."""
    original_name = clean_name(name)
    extension = _extension(original_name)
    file_type = _type_for(extension, allowed)
    declared = getattr(upload, "size", None)
    too_big = _refused(
        _("The file is larger than {megabytes} MB.").format(
            megabytes=max(1, max_bytes // (1024 * 1024))
        )
    )
    if isinstance(declared, int) and declared > max_bytes:
        raise too_big
    digest = hashlib.sha256()
    size = 0
    head = b""
    is_text = file_type.family == "text"
    has_nul = False
    is_utf8 = True
    decoder = codecs.getincrementaldecoder("utf-8")()
    upload.seek(0)
    for chunk in upload.chunks(CHUNK_BYTES):
        size += len(chunk)
        if size > max_bytes:
            raise too_big
        digest.update(chunk)
        if len(head) < HEAD_BYTES:
            head += chunk[: HEAD_BYTES - len(head)]
        if is_text and not has_nul and is_utf8:
            has_nul = b"\x00" in chunk
            try:
                decoder.decode(chunk)
            except UnicodeDecodeError:
                is_utf8 = False
    if is_text and is_utf8:
        try:
            decoder.decode(b"", final=True)
        except UnicodeDecodeError:
            is_utf8 = False
    if size == 0:
        raise _refused(_("The file is empty."))
    if _looks_like_program(head):
        raise _refused(_("This file is a program or a script; it cannot be uploaded."))
    if file_type.family in ("text", "pdf", "image") and _looks_like_markup(
        head, anywhere=is_text
    ):
        # Web pages, SVG and XML could run in a browser: refused whatever the name.
        raise _refused(
            _("This file is a web page, SVG or XML document; it cannot be uploaded.")
        )
    if has_nul:
        raise _refused(
            _(
                "This text file contains NUL bytes: it is not plain text and cannot "
                "be uploaded."
            )
        )
    if not is_utf8:
        raise _refused(
            _("This text file is not in UTF-8; save it as UTF-8 and try again.")
        )
    if not _matches_magic(file_type, head):
        raise _not_this_type(file_type)
    if file_type.family in ("ooxml", "odf"):
        _check_zip(upload, file_type)
    return CheckedFile(
        original_name=original_name,
        file_type=file_type.code,
        extension=file_type.extensions[0],
        content_type=file_type.content_type,
        size=size,
        sha256=digest.hexdigest(),
    )


# --- storing --------------------------------------------------------------------------


def store(
    upload: File, checked: CheckedFile, *, organisation_id: int, now: dt.datetime
) -> str:
    """Write a checked upload to the default storage under a generated name; the
    name it was stored under."""
    upload.seek(0)
    return default_storage.save(
        storage_name(organisation_id, checked.extension, now), upload
    )


@contextmanager
def removed_on_failure() -> Iterator[list[str]]:
    """Collect the storage names written in the block (append to the list); when
    the block fails, delete them again, so a rolled-back transaction keeps no
    orphan file. Use it around the `atomic` block that writes the rows."""
    stored: list[str] = []
    try:
        yield stored
    except BaseException:
        for name in stored:
            default_storage.delete(name)
        raise


# --- orphans --------------------------------------------------------------------------

EVIDENCE_FOLDER = "evidence"
# A file no evidence item references is an orphan once it is this old (younger,
# its transaction may still be about to commit), and the worker looks for them
# this often.
ORPHAN_AGE = dt.timedelta(hours=1)
SWEEP_EVERY = dt.timedelta(hours=1)
_SWEEP_BATCH = 500
# When this process last swept (the worker's only state; sweeping twice is
# harmless, so several workers need not agree).
_last_sweep: dt.datetime | None = None


def _stored_folders() -> Iterator[tuple[str, list[str]]]:
    """(folder, file names) of every folder under `evidence/` in the default
    storage, through its listing API only (object storage works alike)."""
    pending = [EVIDENCE_FOLDER]
    while pending:
        folder = pending.pop()
        try:
            folders, files = default_storage.listdir(folder)
        except (FileNotFoundError, NotADirectoryError):
            continue
        pending.extend(f"{folder}/{name}" for name in sorted(folders, reverse=True))
        if files:
            yield folder, sorted(files)


def _organisation_of(folder: str) -> int | None:
    """The organisation a folder `evidence/<id>/...` belongs to (to use the
    evidence items' organisation index), if its name says so."""
    parts = folder.split("/")
    return int(parts[1]) if len(parts) > 1 and parts[1].isdigit() else None


def _modified(name: str) -> dt.datetime | None:
    try:
        moment = default_storage.get_modified_time(name)
    except (FileNotFoundError, NotImplementedError, OSError):
        return None
    return timezone.make_aware(moment, dt.UTC) if timezone.is_naive(moment) else moment


def sweep_orphans(*, now: dt.datetime, older_than: dt.timedelta = ORPHAN_AGE) -> int:
    """Delete the files under `evidence/` in the default storage that no evidence
    item references and that were last written more than `older_than` before
    `now` (a caller's transaction rolled back after the file was stored); how
    many were deleted. One query per 500 stored files, the age asked only of
    the unreferenced ones; idempotent."""
    cutoff = now - older_than
    deleted = 0
    for folder, files in _stored_folders():
        items = EvidenceItem.objects.all()
        organisation_id = _organisation_of(folder)
        if organisation_id is not None:
            items = items.filter(organisation_id=organisation_id)
        for start in range(0, len(files), _SWEEP_BATCH):
            names = [f"{folder}/{name}" for name in files[start : start + _SWEEP_BATCH]]
            referenced = set(
                items.filter(file__in=names).values_list("file", flat=True)
            )
            for name in names:
                if name in referenced:
                    continue
                modified = _modified(name)
                if modified is None or modified > cutoff:
                    continue
                # Referenced since the batch was read: it is no orphan.
                if EvidenceItem.objects.filter(file=name).exists():
                    continue
                default_storage.delete(name)
                deleted += 1
    return deleted


def sweep_due(*, now: dt.datetime) -> int:
    """The worker's drainer: sweep the orphan files if this process has not done
    so in the last `SWEEP_EVERY`; how many were deleted."""
    global _last_sweep
    if _last_sweep is not None and abs(now - _last_sweep) < SWEEP_EVERY:
        return 0
    # Set first: a sweep that fails is not retried in every round.
    _last_sweep = now
    return sweep_orphans(now=now)
