"""Server-side SVG drawings: shared primitives.

The drawings themselves live in :mod:`rantai.web.svg.swimlane` (a procedure as lanes,
boxes and arrows) and :mod:`rantai.web.svg.gantt` (a run as a timeline). Both are pure
functions — plain dataclasses in, one SVG string out — with no database access, no
active-language lookups and no clock: the caller passes translated labels and the time.

Rules every drawing keeps:

- every text and attribute value is escaped here, so the result is returned as a
  ``SafeString`` that a template can output as ``{{ svg }}``;
- no ``style`` attribute (the Content Security Policy allows style sheets from 'self'
  only): colours are SVG presentation attributes (``fill``, ``stroke``) taken from
  :data:`PALETTE`, which mirrors the variables of ``rantai.css``; interaction (hover,
  focus), fonts and the scrolling frame come from the ``svg-`` classes in that sheet;
- one unit of the ``viewBox`` is one CSS pixel, and the ``width``/``height``
  attributes are the natural size, so 13px text stays 13px however large the drawing
  grows: wrap it in ``<div class="svg-scroll">`` and wide drawings scroll sideways
  instead of shrinking into illegibility (printing fits them to the page);
- the output is deterministic: the same input gives the same string, byte for byte.
"""

from __future__ import annotations

import html
import re
import unicodedata
from collections.abc import Iterable, Mapping, Sequence
from urllib.parse import urlsplit

# Mirrors :root in rantai/web/static/web/rantai.css (test_svg keeps the two in step).
PALETTE: Mapping[str, str] = {
    "bg": "#f5f7fa",
    "surface": "#ffffff",
    "surface-muted": "#eef1f5",
    "text": "#1b2430",
    "text-muted": "#4f5b69",
    "border": "#d5dbe3",
    "border-strong": "#aab4c0",
    "primary": "#0b5cad",
    "primary-soft": "#e7f0fa",
    "danger": "#b42318",
    "danger-soft": "#fdecea",
    "success": "#146c43",
    "success-soft": "#e6f4ec",
    "warning-text": "#7a4100",
    "warning-soft": "#fff1d6",
    "warning-border": "#e9b45c",
    "partner": "#5b2a86",
    "partner-soft": "#f1e9fb",
}

FONT_FAMILY = (
    "system-ui, -apple-system, 'Segoe UI', Roboto, 'Noto Sans', 'Helvetica Neue', "
    "Arial, sans-serif"
)
MONO_FAMILY = (
    "ui-monospace, SFMono-Regular, Menlo, Consolas, 'Liberation Mono', monospace"
)
SVG_NAMESPACE = "http://www.w3.org/2000/svg"
ELLIPSIS = "…"

_ID_PREFIX = re.compile(r"[A-Za-z][A-Za-z0-9_-]*\Z")
_NOT_TOKEN = re.compile(r"[^A-Za-z0-9_-]")
# Characters XML 1.0 does not allow at all; they would make the document ill-formed.
_NOT_XML = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
_SPACE = re.compile(r"\s+")
_SAFE_SCHEMES = frozenset({"", "http", "https", "mailto"})

# Advance widths in em of a typical UI sans serif, rounded up so that the widest common
# fallback (DejaVu Sans on a bare Linux) still fits: text is measured without a browser.
_NARROW = frozenset("ijl.,:;'|!()[]{}ı`")
_SEMI_NARROW = frozenset('frtI -/\\"')
_WIDE = frozenset("mwMW@%")
_WIDTH_NARROW = 0.32
_WIDTH_SEMI_NARROW = 0.42
_WIDTH_WIDE = 0.92
_WIDTH_UPPER = 0.72
_WIDTH_DIGIT = 0.64
_WIDTH_LOWER = 0.61
_WIDTH_OTHER = 0.66
_WIDTH_MONO = 0.62
_BOLD_FACTOR = 1.12


def clean_text(text: object) -> str:
    """One line of printable text: XML-illegal characters out, whitespace collapsed."""
    return _SPACE.sub(" ", _NOT_XML.sub("", str(text))).strip()


def escape(text: object) -> str:
    """Text or attribute value, cleaned and escaped for XML and HTML alike."""
    return html.escape(clean_text(text), quote=True)


def token(value: object) -> str:
    """A value made safe for an id or a class name (letters, digits, _ and -)."""
    return _NOT_TOKEN.sub("-", clean_text(value)) or "-"


def check_id_prefix(id_prefix: str) -> str:
    """Ids inside a drawing start with this prefix; two drawings on a page differ."""
    if not _ID_PREFIX.match(id_prefix):
        raise ValueError(f"id_prefix must be letters, digits, _ or -: {id_prefix!r}")
    return id_prefix


def check_href(href: str | None) -> str | None:
    """A link target from our own URL building: refuse script and data URLs."""
    if href is None:
        return None
    if urlsplit(clean_text(href)).scheme.lower() not in _SAFE_SCHEMES:
        raise ValueError(f"refusing a link with this scheme: {href!r}")
    return href


def num(value: float) -> str:
    """A coordinate with one decimal at most, always written the same way."""
    rounded = round(value, 1)
    if rounded == int(rounded):
        return str(int(rounded))
    return f"{rounded:.1f}"


def attributes(values: Mapping[str, object | None]) -> str:
    """`` name="value"`` pairs in the given order; ``None`` leaves an attribute out."""
    parts: list[str] = []
    for name, value in values.items():
        if value is None:
            continue
        if isinstance(value, float | int) and not isinstance(value, bool):
            text = num(value)
        else:
            text = escape(value)
        parts.append(f' {name}="{text}"')
    return "".join(parts)


def element(tag: str, values: Mapping[str, object | None], content: str = "") -> str:
    """One element; ``content`` is markup that is already escaped."""
    if content:
        return f"<{tag}{attributes(values)}>{content}</{tag}>"
    return f"<{tag}{attributes(values)}/>"


def title_element(text: str) -> str:
    """A ``<title>`` child: the tooltip and accessible name of its parent."""
    return f"<title>{escape(text)}</title>"


def classes(*names: str | None) -> str:
    """A class attribute value from the names that are set."""
    return " ".join(name for name in names if name)


def char_width(character: str) -> float:
    """Estimated advance width of one character, in em."""
    if character in _NARROW:
        return _WIDTH_NARROW
    if character in _SEMI_NARROW:
        return _WIDTH_SEMI_NARROW
    if character in _WIDE:
        return _WIDTH_WIDE
    if character.isdigit():
        return _WIDTH_DIGIT
    if character.isascii():
        return _WIDTH_UPPER if character.isupper() else _WIDTH_LOWER
    if unicodedata.east_asian_width(character) in {"W", "F"}:
        return 1.0
    if unicodedata.combining(character):
        return 0.0
    return _WIDTH_OTHER


def text_width(
    text: str, size: float, *, bold: bool = False, mono: bool = False
) -> float:
    """Estimated rendered width of ``text`` in pixels at font size ``size``."""
    if mono:
        return len(text) * _WIDTH_MONO * size
    width = sum(char_width(character) for character in text) * size
    return width * _BOLD_FACTOR if bold else width


def fit_text(
    text: str, max_width: float, size: float, *, bold: bool = False, mono: bool = False
) -> str:
    """``text`` as it is when it fits, else cut and ended with an ellipsis."""
    text = clean_text(text)
    if text_width(text, size, bold=bold, mono=mono) <= max_width:
        return text
    room = max_width - text_width(ELLIPSIS, size, bold=bold, mono=mono)
    kept: list[str] = []
    used = 0.0
    for character in text:
        width = text_width(character, size, bold=bold, mono=mono)
        if used + width > room:
            break
        kept.append(character)
        used += width
    return "".join(kept).rstrip() + ELLIPSIS


def wrap_text(
    text: str,
    max_width: float,
    size: float,
    max_lines: int,
    *,
    bold: bool = False,
) -> list[str]:
    """Greedy word wrap into at most ``max_lines``; the last line ends with an ellipsis
    when text is left over, and a word longer than a line is cut the same way."""
    words = clean_text(text).split(" ")
    lines: list[str] = []
    current = ""
    index = 0
    while index < len(words) and len(lines) < max_lines:
        word = words[index]
        candidate = f"{current} {word}" if current else word
        if text_width(candidate, size, bold=bold) <= max_width:
            current = candidate
            index += 1
            continue
        if current:
            lines.append(current)
            current = ""
            continue
        # A single word wider than the line: cut it rather than overflow the box.
        lines.append(fit_text(word, max_width, size, bold=bold))
        index += 1
    if current and len(lines) < max_lines:
        lines.append(current)
    if index < len(words) and lines:
        rest = " ".join([lines[-1], *words[index:]])
        lines[-1] = fit_text(rest, max_width, size, bold=bold)
        if not lines[-1].endswith(ELLIPSIS):
            lines[-1] = fit_text(lines[-1] + " " + ELLIPSIS, max_width, size, bold=bold)
    return [line for line in lines if line] or [""]


def svg_root(
    *,
    id_prefix: str,
    kind: str,
    width: float,
    height: float,
    title_text: str,
    description: str,
    interactive: bool,
    body: Iterable[str],
) -> str:
    """The outer ``<svg>`` element with its accessible name and description.

    A drawing without links is one image to assistive technology (``role="img"``);
    with links it is a ``group`` so that the links inside stay reachable and named.
    """
    opening = attributes(
        {
            "xmlns": SVG_NAMESPACE,
            "class": f"svg-drawing svg-{kind}",
            "id": id_prefix,
            "role": "group" if interactive else "img",
            "aria-labelledby": f"{id_prefix}-title {id_prefix}-desc",
            "viewBox": f"0 0 {num(width)} {num(height)}",
            "width": width,
            "height": height,
            "font-family": FONT_FAMILY,
            "font-size": 13,
            "fill": PALETTE["text"],
        }
    )
    head = (
        f'<title id="{id_prefix}-title">{escape(title_text)}</title>'
        f'<desc id="{id_prefix}-desc">{escape(description)}</desc>'
    )
    return f"<svg{opening}>{head}{''.join(body)}</svg>"


LEGEND_ROW_HEIGHT = 24.0
LEGEND_FONT_SIZE = 12.0


def legend(
    items: Sequence[tuple[float, str, str]], *, left: float, right: float, top: float
) -> tuple[str, float]:
    """A legend of (icon width, icon markup drawn around y=0, label) items, flowing
    into as many rows as the width needs; returns the markup and its height."""
    parts = ['<g class="svg-legend" aria-hidden="true">']
    x, y = left, top + LEGEND_ROW_HEIGHT / 2
    rows = 1
    for icon_width, icon, label in items:
        text = fit_text(label, 260, LEGEND_FONT_SIZE)
        item_width = icon_width + 8 + text_width(text, LEGEND_FONT_SIZE)
        if x > left and x + item_width > right:
            x, y, rows = left, y + LEGEND_ROW_HEIGHT, rows + 1
        parts.append(
            element(
                "g",
                {
                    "class": "svg-legend-item",
                    "transform": f"translate({num(x)} {num(y)})",
                },
                icon
                + element(
                    "text",
                    {
                        "x": icon_width + 8,
                        "y": 4,
                        "font-size": LEGEND_FONT_SIZE,
                        "fill": PALETTE["text-muted"],
                    },
                    escape(text),
                ),
            )
        )
        x += item_width + 24
    parts.append("</g>")
    return "".join(parts), rows * LEGEND_ROW_HEIGHT
