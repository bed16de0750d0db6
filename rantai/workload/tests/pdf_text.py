"""The text of a PDF, read without reportlab (and without a PDF library): the page
content streams unpacked (ASCII85 and Flate, as reportlab writes them) and the
strings they show. Enough to check what a report says, line by line."""

from __future__ import annotations

import base64
import re
import zlib

_STREAM = re.compile(rb"\bobj\b((?:(?!\bobj\b).)*?)stream\r?\n(.*?)endstream", re.S)
_STRING = re.compile(rb"\((?:\\.|[^\\()])*\)\s*Tj")
_ESCAPE = re.compile(rb"\\([0-7]{1,3}|.)", re.S)
_SIMPLE = {b"n": b"\n", b"r": b"\r", b"t": b"\t", b"b": b"\b", b"f": b"\f"}


def _unescape(match: re.Match[bytes]) -> bytes:
    code = match.group(1)
    if code[:1].isdigit():
        return bytes([int(code, 8)])
    return _SIMPLE.get(code, code)


def _decoded(dictionary: bytes, raw: bytes) -> bytes:
    if b"/ASCII85Decode" in dictionary:
        raw = base64.a85decode(raw.strip().removesuffix(b"~>"), adobe=False)
    if b"/FlateDecode" in dictionary:
        raw = zlib.decompressobj().decompress(raw)  # bytes after the end ignored
    return raw


def pdf_strings(data: bytes) -> list[str]:
    """Every string the pages show, in order (Windows-1252, as the built-in fonts
    encode them)."""
    assert data.startswith(b"%PDF-1."), data[:20]
    assert data.rstrip().endswith(b"%%EOF")
    shown = []
    for match in _STREAM.finditer(data):
        dictionary, raw = match.groups()
        if b"/Subtype" in dictionary:  # an image or a font, not a page
            continue
        content = _decoded(dictionary, raw)
        for string in _STRING.finditer(content):
            literal = string.group(0).rstrip()[:-2].rstrip()[1:-1]
            shown.append(_ESCAPE.sub(_unescape, literal).decode("cp1252"))
    return shown


def pdf_text(data: bytes) -> str:
    return "\n".join(pdf_strings(data))


def page_count(data: bytes) -> int:
    return len(re.findall(rb"/Type /Page\b", data))
