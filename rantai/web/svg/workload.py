"""Workload charts: horizontal bars per position, drawn on the server.

One drawing serves the three workload charts:

- required against current staff per position (two series);
- FTE per position over the category bands (underload, normal, overload shaded
  behind the bars, their limits as lines);
- the same unit in two periods (one series per year).

Like the other drawings it is a pure function — plain dataclasses in, one SVG string
out — with no database, no active language and no clock: the caller passes the
translated labels, the figures as ``Decimal`` and each figure already written the
user's way (``0,480`` or ``0.480``), and a function that writes an axis tick the
same way. Every row carries a tooltip (its ``<title>``): the caller puts the formula
with the numbers in it there, so every bar is traceable. The page shows the same
figures as a table next to the drawing for those who cannot see it.

Usage::

    svg = render_bars(rows, series=series, labels=labels, number=fmt)
    # template: <div class="svg-scroll">{{ svg }}</div>
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import ROUND_CEILING, Decimal

from django.utils.safestring import SafeString, mark_safe

from rantai.web.svg import (
    PALETTE,
    check_href,
    check_id_prefix,
    classes,
    element,
    escape,
    fit_text,
    legend,
    svg_root,
    title_element,
    token,
)

MARGIN = 12.0
LABEL_WIDTH = 240.0
PLOT_WIDTH = 520.0
VALUE_ROOM = 64.0  # right of the plot, for the value of the longest bar
BAR_HEIGHT = 14.0
BAR_GAP = 3.0
ROW_PADDING = 10.0
AXIS_HEIGHT = 28.0
BAND_LABEL_HEIGHT = 20.0
FONT_SIZE = 13.0
SMALL_FONT_SIZE = 12.0
MAX_TICKS = 8
# Steps an axis may take (times a power of ten): 1, 2, 2.5, 5.
NICE_STEPS = (Decimal(1), Decimal(2), Decimal("2.5"), Decimal(5))

# Colours of a series and of a band, by their kind (the class names say the same).
SERIES_COLOURS: dict[str, tuple[str, str]] = {
    "primary": (PALETTE["primary"], PALETTE["primary"]),
    "muted": (PALETTE["border-strong"], PALETTE["text-muted"]),
    "success": (PALETTE["success"], PALETTE["success"]),
    "warning": (PALETTE["warning-border"], PALETTE["warning-text"]),
    "partner": (PALETTE["partner"], PALETTE["partner"]),
}
BAND_COLOURS: dict[str, tuple[str, str]] = {
    "underload": (PALETTE["warning-soft"], PALETTE["warning-text"]),
    "normal": (PALETTE["success-soft"], PALETTE["success"]),
    "overload": (PALETTE["danger-soft"], PALETTE["danger"]),
}


@dataclass(frozen=True, slots=True)
class Series:
    """One bar of every row: its key (a class name), legend label and colour
    (a key of SERIES_COLOURS)."""

    key: str
    label: str
    colour: str = "primary"


@dataclass(frozen=True, slots=True)
class BarRow:
    """One position: a value per series (None: nothing to draw, ``texts`` says
    why), the values written the user's way, and the tooltip (the formulas)."""

    id: int | str
    label: str
    values: tuple[Decimal | None, ...]
    texts: tuple[str, ...]
    sublabel: str = ""
    tooltip: str = ""
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Band:
    """A shaded range of the value axis, from ``start`` to ``end`` (None: to the
    end of the axis); ``kind`` is a key of BAND_COLOURS."""

    kind: str
    label: str
    start: Decimal
    end: Decimal | None


@dataclass(frozen=True, slots=True)
class BarLabels:
    """Every word of the drawing besides the data: callers pass translated text."""

    description: str  # the <desc>: one sentence saying what the drawing shows
    axis: str  # what the value axis counts ("people", "FTE")


def nice_step(maximum: Decimal) -> Decimal:
    """The smallest 1-2-2.5-5 step that covers ``maximum`` in at most MAX_TICKS."""
    if maximum <= 0:
        return Decimal(1)
    exponent = maximum.adjusted() - 1
    while True:
        scale = Decimal(1).scaleb(exponent)
        for step in NICE_STEPS:
            candidate = step * scale
            if maximum / candidate <= MAX_TICKS:
                return candidate
        exponent += 1


def axis_end(maximum: Decimal, step: Decimal) -> Decimal:
    """The first tick at or above ``maximum`` (at least one step)."""
    ticks = (maximum / step).to_integral_value(rounding=ROUND_CEILING)
    return step * max(int(ticks), 1)


def render_bars(
    rows: Sequence[BarRow],
    *,
    series: Sequence[Series],
    labels: BarLabels,
    number: Callable[[Decimal], str],
    bands: Sequence[Band] = (),
    minimum_end: Decimal = Decimal(0),
    title: str = "",
    id_prefix: str = "bars",
) -> SafeString:
    """Rows of horizontal bars on one value axis, escaped and ready for a template.

    ``number`` writes an axis tick the user's way; ``minimum_end`` keeps the axis at
    least that long (so the FTE bands show even when every bar is short).

    Raises ValueError for rows whose values do not match the series, negative
    values, duplicate row ids, an unknown colour or an unsafe link.
    """
    check_id_prefix(id_prefix)
    _check(rows, series, bands)
    values = [v for row in rows for v in row.values if v is not None]
    limits = [band.start for band in bands] + [
        band.end for band in bands if band.end is not None
    ]
    maximum = max([Decimal(0), minimum_end, *values, *limits])
    step = nice_step(maximum)
    end = axis_end(maximum, step)
    left = MARGIN + LABEL_WIDTH
    right = left + PLOT_WIDTH
    band_room = BAND_LABEL_HEIGHT if bands else 0.0
    plot_top = MARGIN + band_room
    row_height = len(series) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP + 2 * ROW_PADDING
    row_height = max(row_height, 40.0)
    plot_bottom = plot_top + len(rows) * row_height
    width = right + VALUE_ROOM + MARGIN

    def x(value: Decimal) -> float:
        return left + float(value / end) * PLOT_WIDTH

    legend_items = [_series_icon(item) for item in series] + [
        _band_icon(band) for band in bands
    ]
    legend_top = plot_bottom + AXIS_HEIGHT + 4
    legend_markup, legend_height = legend(
        legend_items, left=MARGIN, right=width - MARGIN, top=legend_top
    )
    height = legend_top + legend_height + MARGIN

    body = [
        element(
            "rect",
            {
                "class": "svg-background",
                "x": 0,
                "y": 0,
                "width": width,
                "height": height,
                "fill": PALETTE["surface"],
            },
        ),
        '<g class="svg-rows" aria-hidden="true">',
        *(
            _row_band(index, plot_top + index * row_height, row_height, right)
            for index in range(len(rows))
        ),
        "</g>",
        _bands(bands, x=x, end=end, top=plot_top, bottom=plot_bottom, number=number),
        _axis(step, end, x=x, top=plot_top, bottom=plot_bottom, number=number),
        '<g class="svg-bar-rows">',
        *(
            _row(
                row,
                series,
                top=plot_top + index * row_height,
                height=row_height,
                x=x,
                id_prefix=id_prefix,
            )
            for index, row in enumerate(rows)
        ),
        "</g>",
        element(
            "text",
            {
                "class": "svg-axis-title",
                "x": right,
                "y": plot_bottom + AXIS_HEIGHT,
                "text-anchor": "end",
                "font-size": SMALL_FONT_SIZE,
                "fill": PALETTE["text-muted"],
            },
            escape(labels.axis),
        ),
        legend_markup,
    ]
    return mark_safe(  # every text and attribute value went through escape()
        svg_root(
            id_prefix=id_prefix,
            kind="bars",
            width=width,
            height=height,
            title_text=title or labels.description,
            description=labels.description,
            interactive=any(row.href for row in rows),
            body=body,
        )
    )


def _check(
    rows: Sequence[BarRow], series: Sequence[Series], bands: Sequence[Band]
) -> None:
    if not series:
        raise ValueError("a bar chart needs at least one series")
    for item in series:
        if item.colour not in SERIES_COLOURS:
            raise ValueError(f"unknown series colour {item.colour!r}")
    for band in bands:
        if band.kind not in BAND_COLOURS:
            raise ValueError(f"unknown band kind {band.kind!r}")
        if band.end is not None and band.end < band.start:
            raise ValueError("a band must not end before it starts")
    seen: set[int | str] = set()
    for row in rows:
        if row.id in seen:
            raise ValueError(f"duplicate row id {row.id!r}")
        seen.add(row.id)
        if len(row.values) != len(series) or len(row.texts) != len(series):
            raise ValueError(f"row {row.id!r} needs one value and text per series")
        if any(value is not None and value < 0 for value in row.values):
            raise ValueError(f"row {row.id!r} has a negative value")
        check_href(row.href)


def _row_band(index: int, top: float, height: float, right: float) -> str:
    return element(
        "rect",
        {
            "class": "svg-row-band",
            "x": MARGIN,
            "y": top,
            "width": right - MARGIN,
            "height": height,
            "fill": PALETTE["bg"] if index % 2 else PALETTE["surface"],
        },
    )


def _bands(
    bands: Sequence[Band],
    *,
    x: Callable[[Decimal], float],
    end: Decimal,
    top: float,
    bottom: float,
    number: Callable[[Decimal], str],
) -> str:
    """The shaded ranges behind the bars, with their names above the plot and a
    line at each limit."""
    parts = ['<g class="svg-bands">']
    for band in bands:
        fill, stroke = BAND_COLOURS[band.kind]
        start = min(band.start, end)
        finish = end if band.end is None else min(band.end, end)
        left, right = x(start), x(finish)
        if right - left < 1:
            continue
        limits = (
            f"≥ {number(band.start)}"
            if band.end is None
            else f"{number(band.start)} – {number(band.end)}"
        )
        parts.append(
            element(
                "g",
                {"class": f"svg-band svg-band-{token(band.kind)}"},
                title_element(f"{band.label}: {limits}")
                + element(
                    "rect",
                    {
                        "x": left,
                        "y": top,
                        "width": right - left,
                        "height": bottom - top,
                        "fill": fill,
                        "opacity": 0.7,
                    },
                )
                + element(
                    "text",
                    {
                        "x": (left + right) / 2,
                        "y": top - 6,
                        "text-anchor": "middle",
                        "font-size": SMALL_FONT_SIZE,
                        "font-weight": 600,
                        "fill": stroke,
                    },
                    escape(fit_text(band.label, right - left - 4, SMALL_FONT_SIZE)),
                ),
            )
        )
        if band.start > 0:
            parts.append(_limit_line(x(start), top, bottom, stroke))
    parts.append("</g>")
    return "".join(parts)


def _limit_line(at: float, top: float, bottom: float, colour: str) -> str:
    return element(
        "line",
        {
            "class": "svg-band-limit",
            "x1": at,
            "x2": at,
            "y1": top,
            "y2": bottom,
            "stroke": colour,
            "stroke-width": 1.5,
            "stroke-dasharray": "5 3",
        },
    )


def _axis(
    step: Decimal,
    end: Decimal,
    *,
    x: Callable[[Decimal], float],
    top: float,
    bottom: float,
    number: Callable[[Decimal], str],
) -> str:
    parts = ['<g class="svg-axis" aria-hidden="true">']
    tick = Decimal(0)
    while tick <= end:
        at = x(tick)
        parts.append(
            element(
                "line",
                {
                    "class": "svg-grid",
                    "x1": at,
                    "x2": at,
                    "y1": top,
                    "y2": bottom + 4,
                    "stroke": PALETTE["border-strong"] if tick == 0 else "#e8ecf1",
                    "stroke-width": 1,
                },
            )
        )
        parts.append(
            element(
                "text",
                {
                    "class": "svg-axis-label",
                    "x": at,
                    "y": bottom + 17,
                    "text-anchor": "middle",
                    "font-size": SMALL_FONT_SIZE,
                    "fill": PALETTE["text-muted"],
                },
                escape(number(tick)),
            )
        )
        tick += step
    parts.append(
        element(
            "line",
            {
                "class": "svg-axis-line",
                "x1": x(Decimal(0)),
                "x2": x(end),
                "y1": bottom,
                "y2": bottom,
                "stroke": PALETTE["border-strong"],
            },
        )
    )
    parts.append("</g>")
    return "".join(parts)


def _row(
    row: BarRow,
    series: Sequence[Series],
    *,
    top: float,
    height: float,
    x: Callable[[Decimal], float],
    id_prefix: str,
) -> str:
    summary = "; ".join(
        f"{item.label}: {text}" for item, text in zip(series, row.texts, strict=True)
    )
    tooltip = " — ".join(part for part in (row.label, summary, row.tooltip) if part)
    parts = [title_element(tooltip)]
    label_y = top + height / 2 + (0 if row.sublabel else 4)
    label = element(
        "text",
        {
            "class": "svg-row-label",
            "x": MARGIN + 8,
            "y": label_y,
            "font-size": FONT_SIZE,
            "fill": PALETTE["primary"] if row.href else PALETTE["text"],
            "text-decoration": "underline" if row.href else None,
        },
        escape(fit_text(row.label, LABEL_WIDTH - 16, FONT_SIZE)),
    )
    if row.href:
        label = element("a", {"class": "svg-row-link", "href": row.href}, label)
    parts.append(label)
    if row.sublabel:
        parts.append(
            element(
                "text",
                {
                    "class": "svg-row-sublabel",
                    "x": MARGIN + 8,
                    "y": label_y + 15,
                    "font-size": SMALL_FONT_SIZE,
                    "fill": PALETTE["text-muted"],
                },
                escape(fit_text(row.sublabel, LABEL_WIDTH - 16, SMALL_FONT_SIZE)),
            )
        )
    inner = len(series) * (BAR_HEIGHT + BAR_GAP) - BAR_GAP
    bar_top = top + (height - inner) / 2
    zero = x(Decimal(0))
    for index, (item, value, text) in enumerate(
        zip(series, row.values, row.texts, strict=True)
    ):
        y = bar_top + index * (BAR_HEIGHT + BAR_GAP)
        fill, stroke = SERIES_COLOURS[item.colour]
        end = zero if value is None else x(value)
        if value is not None and value > 0:
            parts.append(
                element(
                    "rect",
                    {
                        "class": classes("svg-bar", f"svg-series-{token(item.key)}"),
                        "x": zero,
                        "y": y,
                        "width": max(end - zero, 2.0),
                        "height": BAR_HEIGHT,
                        "rx": 2,
                        "fill": fill,
                        "stroke": stroke,
                        "data-value": str(value),
                    },
                )
            )
        parts.append(
            element(
                "text",
                {
                    "class": "svg-bar-value",
                    "x": max(end, zero) + 5,
                    "y": y + BAR_HEIGHT - 3,
                    "font-size": SMALL_FONT_SIZE,
                    "fill": PALETTE["text"]
                    if value is not None
                    else PALETTE["text-muted"],
                },
                escape(fit_text(text, VALUE_ROOM + PLOT_WIDTH, SMALL_FONT_SIZE)),
            )
        )
    return element(
        "g",
        {
            "id": f"{id_prefix}-row-{token(row.id)}",
            "class": "svg-bar-row",
            "data-row-id": row.id,
        },
        "".join(parts),
    )


def _series_icon(item: Series) -> tuple[float, str, str]:
    fill, stroke = SERIES_COLOURS[item.colour]
    icon = element(
        "rect",
        {
            "x": 0,
            "y": -6,
            "width": 24,
            "height": 12,
            "rx": 2,
            "fill": fill,
            "stroke": stroke,
        },
    )
    return 24.0, icon, item.label


def _band_icon(band: Band) -> tuple[float, str, str]:
    fill, stroke = BAND_COLOURS[band.kind]
    icon = element(
        "rect",
        {
            "x": 0,
            "y": -6,
            "width": 24,
            "height": 12,
            "fill": fill,
            "stroke": stroke,
            "stroke-dasharray": "3 2",
        },
    )
    return 24.0, icon, band.label
