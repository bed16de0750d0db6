"""The Lorenz curve of the fairness report: how work is shared among people.

People are sorted from the least to the most loaded; the curve runs through
(share of people, share of the work they carry together). If everyone carries the
same, the curve is the diagonal (the line of equality); the more the work is
concentrated on a few, the further the curve sags below it. The area between the
two, shaded, is half the Gini coefficient.

Like the other drawings it is a pure function — plain points in, one SVG string
out — with no database, no active language and no clock: the caller passes the
translated labels, the Gini coefficient already written the user's way and a
function that writes a percentage. The page shows the same figures as a table for
those who cannot see the drawing.

Usage::

    svg = render_lorenz(report.lorenz, labels=labels, gini_text="0,25",
                        percent=fmt)
    # template: <div class="svg-scroll">{{ svg }}</div>
"""

from __future__ import annotations

import itertools
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from decimal import Decimal

from django.utils.safestring import SafeString, mark_safe

from rantai.web.svg import (
    PALETTE,
    check_id_prefix,
    element,
    escape,
    legend,
    num,
    svg_root,
    title_element,
)

MARGIN = 12.0
AXIS_ROOM = 56.0  # left of the plot: the tick labels and the vertical axis title
PLOT_SIZE = 320.0
BOTTOM_ROOM = 44.0  # below the plot: tick labels and the horizontal axis title
FONT_SIZE = 13.0
SMALL_FONT_SIZE = 12.0
TICKS = (0, 25, 50, 75, 100)


@dataclass(frozen=True, slots=True)
class LorenzLabels:
    """Every word of the drawing besides the data: callers pass translated text."""

    description: str  # the <desc>: one sentence saying what the drawing shows
    people_axis: str  # "Share of people, least loaded first"
    work_axis: str  # "Share of the work"
    equality: str  # "Everyone carries the same"
    curve: str  # "Actual share"
    gini: str  # "Gini coefficient" (followed by ": " and gini_text)


def check_points(points: Sequence[tuple[Decimal, Decimal]]) -> None:
    """A Lorenz curve runs from (0, 0) to (1, 1) and never goes back or down."""
    if len(points) < 2:
        raise ValueError("a Lorenz curve needs at least two points")
    if points[0] != (0, 0) or points[-1] != (1, 1):
        raise ValueError("a Lorenz curve runs from (0, 0) to (1, 1)")
    for (p0, s0), (p1, s1) in itertools.pairwise(points):
        if p1 < p0 or s1 < s0:
            raise ValueError("a Lorenz curve never goes back or down")


def render_lorenz(
    points: Sequence[tuple[Decimal, Decimal]],
    *,
    labels: LorenzLabels,
    gini_text: str,
    percent: Callable[[int], str],
    title: str = "",
    id_prefix: str = "lorenz",
) -> SafeString:
    """The Lorenz curve through ``points`` (share of people, share of the work
    they carry, least loaded first: `rantai.roles.fairness.lorenz`) over the line
    of equality, with the area between them shaded and the Gini coefficient
    written in the corner. ``percent`` writes a share in percent (0 to 100) the
    user's way.

    Raises ValueError for points that are not a Lorenz curve or a bad id prefix.
    """
    check_id_prefix(id_prefix)
    check_points(points)
    left = MARGIN + AXIS_ROOM
    top = MARGIN + 8
    right = left + PLOT_SIZE
    bottom = top + PLOT_SIZE
    width = right + MARGIN + 24

    def x(share: Decimal | float) -> float:
        return left + float(share) * PLOT_SIZE

    def y(share: Decimal | float) -> float:
        return bottom - float(share) * PLOT_SIZE

    curve = " ".join(f"{num(x(p))},{num(y(s))}" for p, s in points)
    # The area between the diagonal and the curve: along the curve, back along
    # the diagonal.
    area = curve + f" {num(x(1))},{num(y(1))} {num(x(0))},{num(y(0))}"
    legend_items = [
        (
            24.0,
            element(
                "line",
                {
                    "x1": 0,
                    "x2": 24,
                    "y1": 0,
                    "y2": 0,
                    "stroke": PALETTE["border-strong"],
                    "stroke-width": 1.5,
                    "stroke-dasharray": "5 3",
                },
            ),
            labels.equality,
        ),
        (
            24.0,
            element(
                "line",
                {
                    "x1": 0,
                    "x2": 24,
                    "y1": 0,
                    "y2": 0,
                    "stroke": PALETTE["primary"],
                    "stroke-width": 2.5,
                },
            ),
            labels.curve,
        ),
    ]
    legend_top = bottom + BOTTOM_ROOM
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
        _grid(
            x=x, y=y, left=left, right=right, top=top, bottom=bottom, percent=percent
        ),
        element(
            "polygon",
            {
                "class": "svg-lorenz-gap",
                "points": area,
                "fill": PALETTE["warning-soft"],
                "stroke": "none",
            },
            title_element(f"{labels.gini}: {gini_text}"),
        ),
        element(
            "line",
            {
                "class": "svg-lorenz-equality",
                "x1": x(0),
                "y1": y(0),
                "x2": x(1),
                "y2": y(1),
                "stroke": PALETTE["border-strong"],
                "stroke-width": 1.5,
                "stroke-dasharray": "5 3",
            },
        ),
        element(
            "polyline",
            {
                "class": "svg-lorenz-curve",
                "points": curve,
                "fill": "none",
                "stroke": PALETTE["primary"],
                "stroke-width": 2.5,
                "stroke-linejoin": "round",
            },
        ),
        '<g class="svg-lorenz-points">',
        *(
            element(
                "circle",
                {
                    "cx": x(p),
                    "cy": y(s),
                    "r": 3,
                    "fill": PALETTE["primary"],
                },
                title_element(
                    f"{labels.people_axis}: {percent(_whole(p))} — "
                    f"{labels.work_axis}: {percent(_whole(s))}"
                ),
            )
            for p, s in points[1:-1]
        ),
        "</g>",
        element(
            "text",
            {
                "class": "svg-lorenz-gini",
                "x": x(0) + 10,
                "y": top + 18,
                "font-size": FONT_SIZE,
                "font-weight": 600,
                "fill": PALETTE["text"],
            },
            escape(f"{labels.gini}: {gini_text}"),
        ),
        element(
            "text",
            {
                "class": "svg-axis-title",
                "x": (left + right) / 2,
                "y": bottom + 36,
                "text-anchor": "middle",
                "font-size": SMALL_FONT_SIZE,
                "fill": PALETTE["text-muted"],
            },
            escape(labels.people_axis),
        ),
        element(
            "text",
            {
                "class": "svg-axis-title",
                "x": 0,
                "y": 0,
                "transform": (
                    f"translate({num(MARGIN + 10)} {num((top + bottom) / 2)}) "
                    "rotate(-90)"
                ),
                "text-anchor": "middle",
                "font-size": SMALL_FONT_SIZE,
                "fill": PALETTE["text-muted"],
            },
            escape(labels.work_axis),
        ),
        legend_markup,
    ]
    return mark_safe(  # every text and attribute value went through escape()
        svg_root(
            id_prefix=id_prefix,
            kind="lorenz",
            width=width,
            height=height,
            title_text=title or labels.description,
            description=labels.description,
            interactive=False,
            body=body,
        )
    )


def _whole(share: Decimal) -> int:
    return int((share * 100).to_integral_value())


def _grid(
    *,
    x: Callable[[float], float],
    y: Callable[[float], float],
    left: float,
    right: float,
    top: float,
    bottom: float,
    percent: Callable[[int], str],
) -> str:
    parts = ['<g class="svg-axis" aria-hidden="true">']
    for tick in TICKS:
        share = tick / 100
        colour = PALETTE["border-strong"] if tick == 0 else "#e8ecf1"
        parts.append(
            element(
                "line",
                {
                    "class": "svg-grid",
                    "x1": x(share),
                    "x2": x(share),
                    "y1": top,
                    "y2": bottom + 4,
                    "stroke": colour,
                    "stroke-width": 1,
                },
            )
        )
        parts.append(
            element(
                "line",
                {
                    "class": "svg-grid",
                    "x1": left - 4,
                    "x2": right,
                    "y1": y(share),
                    "y2": y(share),
                    "stroke": colour,
                    "stroke-width": 1,
                },
            )
        )
        parts.append(
            element(
                "text",
                {
                    "class": "svg-axis-label",
                    "x": x(share),
                    "y": bottom + 17,
                    "text-anchor": "middle",
                    "font-size": SMALL_FONT_SIZE,
                    "fill": PALETTE["text-muted"],
                },
                escape(percent(tick)),
            )
        )
        parts.append(
            element(
                "text",
                {
                    "class": "svg-axis-label",
                    "x": left - 8,
                    "y": y(share) + 4,
                    "text-anchor": "end",
                    "font-size": SMALL_FONT_SIZE,
                    "fill": PALETTE["text-muted"],
                },
                escape(percent(tick)),
            )
        )
    parts.append(
        element(
            "rect",
            {
                "class": "svg-plot-frame",
                "x": left,
                "y": top,
                "width": right - left,
                "height": bottom - top,
                "fill": "none",
                "stroke": PALETTE["border-strong"],
            },
        )
    )
    parts.append("</g>")
    return "".join(parts)
