"""A procedure drawn as a swimlane diagram: lanes are parties and positions, boxes are
steps, arrows are dependencies.

Layout: lanes are horizontal bands in the order given, labelled on the left. A step
stands in the column of its longest-path rank (its topological level), so every arrow
runs left to right; a step without predecessors moves right next to its first
successor to keep arrows short. Steps of one lane in one column stack inside the lane,
which grows. Arrows are orthogonal with rounded corners and run only through the gaps
between columns and the padding between boxes, so they never cross a box; each target
gets its own vertical track in the gap before it. A dependency cycle (possible in a
draft) is drawn rather than refused: the edges that close it are routed backwards and
marked ``svg-arrow-back``.

Usage::

    svg = render_swimlane(lanes, steps, dependencies, title=..., labels=...)
    # template: <div class="svg-scroll">{{ svg }}</div>
"""

from __future__ import annotations

import heapq
from collections.abc import Sequence
from dataclasses import dataclass, field
from typing import Literal

from django.utils.safestring import SafeString, mark_safe

from rantai.web.svg import (
    MONO_FAMILY,
    PALETTE,
    check_href,
    check_id_prefix,
    classes,
    element,
    escape,
    fit_text,
    legend,
    num,
    svg_root,
    text_width,
    title_element,
    token,
    wrap_text,
)

LaneKind = Literal["internal", "partner"]
DependencyKind = Literal["finish_to_start", "start_to_start"]

_LANE_KINDS = frozenset({"internal", "partner"})
_DEPENDENCY_KINDS = {"finish_to_start": "fs", "start_to_start": "ss"}

MARGIN = 12.0
LANE_LABEL_WIDTH = 176.0
BOX_WIDTH = 184.0
BOX_HEIGHT = 80.0
COLUMN_GAP = 64.0
LANE_PADDING = 16.0
SLOT_GAP = 16.0
TRACK_MARGIN = 14.0
BOX_CLEARANCE = 6.0
CORNER_RADIUS = 6.0
MIN_WIDTH = 640.0
FONT_SIZE = 13.0
SMALL_FONT_SIZE = 12.0
LINE_HEIGHT = 17.0
DASH_CONDITIONAL = "6 4"
DASH_START_TO_START = "6 4"


@dataclass(frozen=True, slots=True)
class Lane:
    """A band of the diagram: an internal party or position, or an external partner."""

    id: int | str
    label: str
    kind: LaneKind = "internal"


@dataclass(frozen=True, slots=True)
class StepBox:
    """A step of the procedure, drawn in the lane of its responsible party or position.

    ``lane_id`` None puts the step in a lane of its own at the bottom, labelled
    ``SwimlaneLabels.unassigned`` (a draft step nobody is responsible for yet).
    """

    id: int | str
    key: str
    label: str
    lane_id: int | str | None
    duration_label: str
    is_conditional: bool = False
    condition_label: str | None = None
    requires_evidence: bool = False
    href: str | None = None


@dataclass(frozen=True, slots=True)
class Arrow:
    """A dependency: ``to_id`` starts after ``from_id`` finishes (or starts), plus lag."""

    from_id: int | str
    to_id: int | str
    kind: DependencyKind = "finish_to_start"
    lag_label: str | None = None


@dataclass(frozen=True, slots=True)
class SwimlaneLabels:
    """Every word the drawing shows besides the data: callers pass translated text."""

    description: str  # the <desc>: one sentence saying what the drawing shows
    finish_to_start: str  # legend and tooltip: "Finish to start"
    start_to_start: str  # "Start to start"
    conditional: str  # legend: "Conditional step"
    condition_prefix: str  # in a conditional box: "if" (… value > 100)
    evidence_required: str  # "Evidence required"
    partner: str  # tag under an external partner's lane label: "Partner"
    unassigned: str  # lane of steps without a responsible: "No responsible yet"


@dataclass(slots=True)
class _Placed:
    step: StepBox
    order: int
    lane: int
    column: int = 0
    slot: int = 0
    x: float = 0.0
    y: float = 0.0

    @property
    def right(self) -> float:
        return self.x + BOX_WIDTH

    @property
    def bottom(self) -> float:
        return self.y + BOX_HEIGHT

    @property
    def middle(self) -> float:
        return self.y + BOX_HEIGHT / 2


@dataclass(slots=True)
class _Route:
    index: int
    arrow: Arrow
    source: _Placed
    target: _Placed
    backward: bool
    run_y: float | None = None  # the horizontal run through a gutter, when needed
    exit_track: bool = False  # a vertical segment in the gap after the source
    entry_track: bool = True  # a vertical segment in the gap before the target
    points: list[tuple[float, float]] = field(default_factory=list)


def render_swimlane(
    lanes: Sequence[Lane],
    steps: Sequence[StepBox],
    dependencies: Sequence[Arrow],
    *,
    title: str,
    labels: SwimlaneLabels,
    id_prefix: str = "swimlane",
) -> SafeString:
    """The procedure as an SVG swimlane diagram, escaped and ready for a template.

    Raises ValueError for input the caller must not produce: duplicate ids, a step in
    an unknown lane, a dependency on an unknown step, an unknown kind, an unsafe link.
    """
    check_id_prefix(id_prefix)
    all_lanes, placed, unassigned = _place_steps(lanes, steps, labels)
    routes = _routes(dependencies, placed)
    _assign_columns(placed, routes)
    lane_tops, lane_heights = _assign_slots(all_lanes, placed, routes)
    column_count = max((item.column for item in placed.values()), default=-1) + 1
    for item in placed.values():
        item.x = _column_left(item.column)
        item.y = (
            lane_tops[item.lane] + LANE_PADDING + item.slot * (BOX_HEIGHT + SLOT_GAP)
        )
    lanes_bottom = lane_tops[-1] + lane_heights[-1] if all_lanes else MARGIN
    content_width = _column_left(column_count) + MARGIN
    width = max(content_width, MIN_WIDTH)
    legend, legend_height = _legend(labels, id_prefix, width, lanes_bottom + 14)
    height = lanes_bottom + 14 + legend_height + MARGIN

    _route_arrows(routes, placed, lane_tops, lane_heights)

    body = [
        _defs(id_prefix),
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
        '<g class="svg-lanes">',
        *(
            _lane(
                lane,
                index,
                lane_tops[index],
                lane_heights[index],
                width,
                labels=labels,
                id_prefix=id_prefix,
                unassigned=index == unassigned,
            )
            for index, lane in enumerate(all_lanes)
        ),
        "</g>",
        # Arrows under the boxes: their wide hover strokes never cover a step's link.
        '<g class="svg-dependencies" aria-hidden="true">',
        *(_arrow(route, labels, id_prefix) for route in routes),
        *_lag_labels(routes),
        "</g>",
        '<g class="svg-steps">',
        *(
            _step(item, all_lanes[item.lane], labels, id_prefix)
            for item in placed.values()
        ),
        "</g>",
        legend,
    ]
    interactive = any(step.href for step in steps)
    # Every text and attribute value went through escape() on its way in.
    return mark_safe(
        svg_root(
            id_prefix=id_prefix,
            kind="swimlane",
            width=width,
            height=height,
            title_text=title,
            description=labels.description,
            interactive=interactive,
            body=body,
        )
    )


# --- layout ------------------------------------------------------------------------


def _column_left(column: int) -> float:
    return MARGIN + LANE_LABEL_WIDTH + COLUMN_GAP + column * (BOX_WIDTH + COLUMN_GAP)


def _place_steps(
    lanes: Sequence[Lane], steps: Sequence[StepBox], labels: SwimlaneLabels
) -> tuple[list[Lane], dict[int | str, _Placed], int | None]:
    lane_index: dict[int | str, int] = {}
    for index, lane in enumerate(lanes):
        if lane.kind not in _LANE_KINDS:
            raise ValueError(f"unknown lane kind {lane.kind!r} for lane {lane.id!r}")
        if lane.id in lane_index:
            raise ValueError(f"duplicate lane id {lane.id!r}")
        lane_index[lane.id] = index
    all_lanes = list(lanes)
    unassigned_index: int | None = None
    placed: dict[int | str, _Placed] = {}
    for order, step in enumerate(steps):
        if step.id in placed:
            raise ValueError(f"duplicate step id {step.id!r}")
        check_href(step.href)
        if step.lane_id is None:
            if unassigned_index is None:
                unassigned_index = len(all_lanes)
                all_lanes.append(Lane(id="unassigned", label=labels.unassigned))
            index = unassigned_index
        elif step.lane_id in lane_index:
            index = lane_index[step.lane_id]
        else:
            raise ValueError(f"step {step.id!r} is in unknown lane {step.lane_id!r}")
        placed[step.id] = _Placed(step=step, order=order, lane=index)
    return all_lanes, placed, unassigned_index


def _routes(
    dependencies: Sequence[Arrow], placed: dict[int | str, _Placed]
) -> list[_Route]:
    routes: list[_Route] = []
    for index, arrow in enumerate(dependencies):
        if arrow.kind not in _DEPENDENCY_KINDS:
            raise ValueError(f"unknown dependency kind {arrow.kind!r}")
        for end in (arrow.from_id, arrow.to_id):
            if end not in placed:
                raise ValueError(f"dependency on unknown step {end!r}")
        routes.append(
            _Route(
                index=index,
                arrow=arrow,
                source=placed[arrow.from_id],
                target=placed[arrow.to_id],
                backward=arrow.from_id == arrow.to_id,
            )
        )
    return routes


def _assign_columns(placed: dict[int | str, _Placed], routes: list[_Route]) -> None:
    """Longest-path ranks (Kahn); a cycle is broken at its earliest step, and the
    edges that close it become backward arrows."""
    incoming: dict[int | str, list[_Route]] = {step_id: [] for step_id in placed}
    outgoing: dict[int | str, list[_Route]] = {step_id: [] for step_id in placed}
    for route in routes:
        if route.backward:
            continue
        incoming[route.target.step.id].append(route)
        outgoing[route.source.step.id].append(route)
    waiting = {step_id: len(edges) for step_id, edges in incoming.items()}
    ready = [
        (item.order, step_id)
        for step_id, item in placed.items()
        if not waiting[step_id]
    ]
    heapq.heapify(ready)
    done: set[int | str] = set()
    while len(done) < len(placed):
        if not ready:
            _, step_id = min(
                (item.order, step_id)
                for step_id, item in placed.items()
                if step_id not in done
            )
            for route in incoming[step_id]:
                if route.source.step.id not in done:
                    route.backward = True
            waiting[step_id] = 0
            heapq.heappush(ready, (placed[step_id].order, step_id))
        _, step_id = heapq.heappop(ready)
        if step_id in done:
            continue
        done.add(step_id)
        placed[step_id].column = max(
            (r.source.column + 1 for r in incoming[step_id] if not r.backward),
            default=0,
        )
        for route in outgoing[step_id]:
            if route.backward:
                continue
            successor = route.target.step.id
            waiting[successor] -= 1
            if waiting[successor] == 0:
                heapq.heappush(ready, (route.target.order, successor))
    # A step that waits on nothing stands just left of its nearest successor.
    for step_id, item in placed.items():
        forward_in = [r for r in incoming[step_id] if not r.backward]
        forward_out = [r for r in outgoing[step_id] if not r.backward]
        if not forward_in and forward_out:
            item.column = min(r.target.column for r in forward_out) - 1


def _assign_slots(
    lanes: list[Lane], placed: dict[int | str, _Placed], routes: list[_Route]
) -> tuple[list[float], list[float]]:
    """Stack the steps of one lane and column; a step keeps the row of a predecessor
    in the same lane when it is free, so chains inside a lane draw straight."""
    cells: dict[tuple[int, int], list[_Placed]] = {}
    for item in placed.values():
        cells.setdefault((item.column, item.lane), []).append(item)
    same_lane_predecessors: dict[int | str, list[_Placed]] = {}
    for route in routes:
        if not route.backward and route.source.lane == route.target.lane:
            same_lane_predecessors.setdefault(route.target.step.id, []).append(
                route.source
            )
    slots_per_lane = [1] * len(lanes)
    for column, lane in sorted(cells):
        wished: dict[int | str, int | None] = {}
        for item in cells[(column, lane)]:
            predecessors = same_lane_predecessors.get(item.step.id, [])
            wished[item.step.id] = min((p.slot for p in predecessors), default=None)
        ordered = sorted(
            cells[(column, lane)],
            key=lambda item: (
                wished[item.step.id] is None,
                wished[item.step.id] or 0,
                item.order,
            ),
        )
        taken: set[int] = set()
        for item in ordered:
            slot = wished[item.step.id]
            if slot is None or slot in taken:
                slot = next(
                    number for number in range(len(ordered) + 1) if number not in taken
                )
            taken.add(slot)
            item.slot = slot
            slots_per_lane[lane] = max(slots_per_lane[lane], slot + 1)
    tops: list[float] = []
    heights: list[float] = []
    top = MARGIN
    for slots in slots_per_lane:
        height = 2 * LANE_PADDING + slots * BOX_HEIGHT + (slots - 1) * SLOT_GAP
        tops.append(top)
        heights.append(height)
        top += height
    return tops, heights


def _route_arrows(
    routes: list[_Route],
    placed: dict[int | str, _Placed],
    lane_tops: list[float],
    lane_heights: list[float],
) -> None:
    """Orthogonal paths: straight along a row when the columns between are clear,
    otherwise through a gutter, turning only inside the gaps between columns."""
    boxes_by_column: dict[int, list[tuple[float, float]]] = {}
    for item in placed.values():
        boxes_by_column.setdefault(item.column, []).append((item.y, item.bottom))
    gutters = _gutters(lane_tops, lane_heights)
    gutter_use: list[tuple[float, float, float]] = []  # y, from x, to x

    def free(y: float, first: int, last: int) -> bool:
        return not any(
            top - BOX_CLEARANCE <= y <= bottom + BOX_CLEARANCE
            for column in range(first, last + 1)
            for top, bottom in boxes_by_column.get(column, [])
        )

    for route in routes:
        source, target = route.source, route.target
        if not route.backward and target.column == source.column + 1:
            continue
        if not route.backward and free(
            source.middle, source.column + 1, target.column - 1
        ):
            continue  # straight along the source's row, then down into the target
        if not route.backward and free(
            target.middle, source.column + 1, target.column - 1
        ):
            route.exit_track, route.entry_track = True, False
            continue
        first, last = sorted((source.column, target.column))
        if not route.backward:
            first, last = first + 1, last - 1
        span = (_column_left(first) - COLUMN_GAP, _column_left(last) + BOX_WIDTH)

        route.run_y = _pick_gutter(
            gutters, source.middle, target.middle, span, gutter_use
        )
        gutter_use.append((route.run_y, *span))
        route.exit_track = True

    tracks = _tracks(routes)
    for route in routes:
        source, target = route.source, route.target
        start = (source.right, source.middle)
        end = (target.x, target.middle)
        entry_x = tracks.get((target.column, "entry", target.step.id))
        exit_x = tracks.get((source.column + 1, "exit", source.step.id))
        points = [start]
        if route.run_y is not None and exit_x is not None and entry_x is not None:
            points += [
                (exit_x, source.middle),
                (exit_x, route.run_y),
                (entry_x, route.run_y),
                (entry_x, target.middle),
            ]
        elif route.exit_track and exit_x is not None:
            points += [(exit_x, source.middle), (exit_x, target.middle)]
        elif entry_x is not None:
            points += [(entry_x, source.middle), (entry_x, target.middle)]
        points.append(end)
        route.points = _simplify(points)


def _pick_gutter(
    gutters: list[float],
    source_y: float,
    target_y: float,
    span: tuple[float, float],
    used: list[tuple[float, float, float]],
) -> float:
    """The gutter nearest both ends, avoiding one that another run already takes
    over the same stretch."""

    def cost(y: float) -> tuple[float, float, float]:
        crowd = sum(
            1
            for used_y, start, end in used
            if used_y == y and start < span[1] and span[0] < end
        )
        return (
            abs(y - target_y) + abs(y - source_y) + 60 * crowd,
            abs(y - target_y),
            y,
        )

    return min(gutters, key=cost)


def _gutters(lane_tops: list[float], lane_heights: list[float]) -> list[float]:
    """Heights where a horizontal run meets no box: lane padding, gaps between rows."""
    gutters: list[float] = []
    for top, height in zip(lane_tops, lane_heights, strict=True):
        gutters.append(top + LANE_PADDING / 2)
        rows = round((height - 2 * LANE_PADDING + SLOT_GAP) / (BOX_HEIGHT + SLOT_GAP))
        for row in range(1, rows):
            gutters.append(
                top + LANE_PADDING + row * (BOX_HEIGHT + SLOT_GAP) - SLOT_GAP / 2
            )
        gutters.append(top + height - LANE_PADDING / 2)
    return gutters


def _tracks(routes: list[_Route]) -> dict[tuple[int, str, int | str], float]:
    """One vertical track per target (entry) and per source (exit) in each gap:
    exits on the left of a gap, entries on the right, each ordered top to bottom."""
    wanted: dict[int, dict[tuple[str, int | str], float]] = {}
    for route in routes:
        source, target = route.source, route.target
        if route.exit_track:
            users = wanted.setdefault(source.column + 1, {})
            users[("exit", source.step.id)] = source.middle
        if route.entry_track or route.run_y is not None:
            users = wanted.setdefault(target.column, {})
            users[("entry", target.step.id)] = target.middle
    tracks: dict[tuple[int, str, int | str], float] = {}
    for gap, users in wanted.items():
        ordered = sorted(
            users.items(), key=lambda item: (item[0][0] != "exit", item[1])
        )
        left = _column_left(gap) - COLUMN_GAP + TRACK_MARGIN
        usable = COLUMN_GAP - 2 * TRACK_MARGIN
        share = usable / len(ordered)
        for position, ((role, step_id), _) in enumerate(ordered):
            tracks[(gap, role, step_id)] = left + share * (position + 0.5)
    return tracks


def _simplify(points: list[tuple[float, float]]) -> list[tuple[float, float]]:
    unique = [p for i, p in enumerate(points) if i == 0 or p != points[i - 1]]
    kept = [unique[0]]
    for index in range(1, len(unique) - 1):
        before, here, after = kept[-1], unique[index], unique[index + 1]
        if (before[0] == here[0] == after[0]) or (before[1] == here[1] == after[1]):
            continue
        kept.append(here)
    if len(unique) > 1:
        kept.append(unique[-1])
    return kept


def _rounded_path(points: list[tuple[float, float]]) -> str:
    """An orthogonal polyline with rounded corners."""
    parts = [f"M{num(points[0][0])} {num(points[0][1])}"]
    for index in range(1, len(points) - 1):
        (x0, y0), (x1, y1), (x2, y2) = (
            points[index - 1],
            points[index],
            points[index + 1],
        )
        radius = min(
            CORNER_RADIUS,
            (abs(x1 - x0) + abs(y1 - y0)) / 2,
            (abs(x2 - x1) + abs(y2 - y1)) / 2,
        )
        before = (x1 - radius * _sign(x1 - x0), y1 - radius * _sign(y1 - y0))
        after = (x1 + radius * _sign(x2 - x1), y1 + radius * _sign(y2 - y1))
        parts.append(f"L{num(before[0])} {num(before[1])}")
        parts.append(f"Q{num(x1)} {num(y1)} {num(after[0])} {num(after[1])}")
    parts.append(f"L{num(points[-1][0])} {num(points[-1][1])}")
    return " ".join(parts)


def _sign(value: float) -> int:
    return (value > 0) - (value < 0)


# --- drawing -----------------------------------------------------------------------


def _defs(id_prefix: str) -> str:
    marker = {
        "viewBox": "0 0 10 10",
        "refX": 9,
        "refY": 5,
        "markerWidth": 10,
        "markerHeight": 10,
        "markerUnits": "userSpaceOnUse",
        "orient": "auto",
    }
    finish = element(
        "marker",
        {"id": f"{id_prefix}-arrow-fs", "class": "svg-marker svg-marker-fs", **marker},
        element("path", {"d": "M0 0.5 L10 5 L0 9.5 z", "fill": PALETTE["text-muted"]}),
    )
    start = element(
        "marker",
        {"id": f"{id_prefix}-arrow-ss", "class": "svg-marker svg-marker-ss", **marker},
        element(
            "path",
            {
                "d": "M1 1 L9 5 L1 9 z",
                "fill": PALETTE["surface"],
                "stroke": PALETTE["text-muted"],
                "stroke-width": 1.5,
                "stroke-linejoin": "round",
            },
        ),
    )
    return f"<defs>{finish}{start}</defs>"


def _lane(
    lane: Lane,
    index: int,
    top: float,
    height: float,
    width: float,
    *,
    labels: SwimlaneLabels,
    id_prefix: str,
    unassigned: bool,
) -> str:
    partner = lane.kind == "partner"
    band_fill = (
        PALETTE["partner-soft"]
        if partner
        else PALETTE["bg"]
        if index % 2
        else PALETTE["surface"]
    )
    parts = [
        title_element(f"{lane.label} ({labels.partner})" if partner else lane.label),
        element(
            "rect",
            {
                "class": "svg-lane-band",
                "x": MARGIN,
                "y": top,
                "width": width - 2 * MARGIN,
                "height": height,
                "fill": band_fill,
                "stroke": PALETTE["border"],
            },
        ),
        element(
            "rect",
            {
                "class": "svg-lane-head",
                "x": MARGIN,
                "y": top,
                "width": LANE_LABEL_WIDTH,
                "height": height,
                "fill": PALETTE["partner-soft"]
                if partner
                else PALETTE["surface-muted"],
                "stroke": PALETTE["border"],
            },
        ),
        element(
            "rect",
            {
                "class": "svg-lane-accent",
                "x": MARGIN,
                "y": top,
                "width": 4,
                "height": height,
                "fill": PALETTE["partner"]
                if partner
                else PALETTE["border-strong"]
                if unassigned
                else PALETTE["primary"],
            },
        ),
    ]
    lines = wrap_text(lane.label, LANE_LABEL_WIDTH - 28, FONT_SIZE, 3, bold=True)
    block = len(lines) * LINE_HEIGHT + (LINE_HEIGHT + 2 if partner else 0)
    baseline = top + (height - block) / 2 + FONT_SIZE
    text_x = MARGIN + 16
    for number, line in enumerate(lines):
        parts.append(
            element(
                "text",
                {
                    "class": "svg-lane-label",
                    "x": text_x,
                    "y": baseline + number * LINE_HEIGHT,
                    "font-weight": 600,
                    "fill": PALETTE["text"],
                },
                escape(line),
            )
        )
    if partner:
        parts.append(
            element(
                "text",
                {
                    "class": "svg-lane-tag",
                    "x": text_x,
                    "y": baseline + len(lines) * LINE_HEIGHT + 2,
                    "font-size": SMALL_FONT_SIZE,
                    "fill": PALETTE["partner"],
                },
                escape(
                    fit_text(labels.partner, LANE_LABEL_WIDTH - 28, SMALL_FONT_SIZE)
                ),
            )
        )
    kind = "unassigned" if unassigned else lane.kind
    return element(
        "g",
        {
            "id": f"{id_prefix}-unassigned-lane"
            if unassigned
            else f"{id_prefix}-lane-{token(lane.id)}",
            "class": f"svg-lane svg-lane-{kind}",
            "data-lane-id": None if unassigned else lane.id,
        },
        "".join(parts),
    )


def _step(item: _Placed, lane: Lane, labels: SwimlaneLabels, id_prefix: str) -> str:
    step = item.step
    partner = lane.kind == "partner"
    accent = PALETTE["partner"] if partner else PALETTE["primary"]
    x, y = item.x, item.y
    inner = BOX_WIDTH - 20
    tooltip = [f"{step.key} · {step.label}", lane.label, step.duration_label]
    condition = None
    if step.is_conditional:
        condition = f"{labels.condition_prefix} {step.condition_label or '…'}"
        tooltip.append(condition)
    if step.requires_evidence:
        tooltip.append(labels.evidence_required)
    parts = [
        title_element(" — ".join(part for part in tooltip if part)),
        element(
            "rect",
            {
                "class": classes(
                    "svg-box", "svg-box-conditional" if step.is_conditional else None
                ),
                "x": x,
                "y": y,
                "width": BOX_WIDTH,
                "height": BOX_HEIGHT,
                "rx": 6,
                "fill": PALETTE["surface"],
                "stroke": accent
                if not step.is_conditional
                else PALETTE["warning-text"],
                "stroke-width": 1.5,
                "stroke-dasharray": DASH_CONDITIONAL if step.is_conditional else None,
            },
        ),
    ]
    key = fit_text(step.key, 64, SMALL_FONT_SIZE, mono=True)
    key_width = min(64.0, text_width(key, SMALL_FONT_SIZE, mono=True))
    parts.append(
        element(
            "text",
            {
                "class": "svg-step-key svg-mono",
                "x": x + 10,
                "y": y + 19,
                "font-family": MONO_FAMILY,
                "font-size": SMALL_FONT_SIZE,
                "font-weight": 700,
                "fill": accent,
            },
            escape(key),
        )
    )
    # Header row: the key on the left; the duration, and the evidence badge before
    # it, on the right.
    badge_room = 20.0 if step.requires_evidence else 0.0
    duration = fit_text(
        step.duration_label, inner - key_width - 10 - badge_room, SMALL_FONT_SIZE
    )
    duration_width = text_width(duration, SMALL_FONT_SIZE) if duration else -4.0
    if duration:
        parts.append(
            element(
                "text",
                {
                    "class": "svg-step-duration",
                    "x": x + BOX_WIDTH - 10,
                    "y": y + 19,
                    "text-anchor": "end",
                    "font-size": SMALL_FONT_SIZE,
                    "fill": PALETTE["text-muted"],
                },
                escape(duration),
            )
        )
    if step.requires_evidence:
        parts.append(_evidence_icon(x + BOX_WIDTH - 10 - duration_width - 18, y + 7))
    # Body: the label on up to three lines; a condition takes the last line, or the
    # last two when the label needs only one.
    label_lines = wrap_text(step.label, inner, FONT_SIZE, 2 if condition else 3)
    condition_lines: list[str] = []
    if condition:
        room = 2 if len(label_lines) == 1 else 1
        condition_lines = wrap_text(condition, inner, SMALL_FONT_SIZE, room)
    for number, line in enumerate(label_lines):
        parts.append(
            element(
                "text",
                {
                    "class": "svg-step-label",
                    "x": x + 10,
                    "y": y + 38 + number * LINE_HEIGHT,
                    "fill": PALETTE["text"],
                },
                escape(line),
            )
        )
    for number, line in enumerate(condition_lines):
        parts.append(
            element(
                "text",
                {
                    "class": "svg-step-condition",
                    "x": x + 10,
                    "y": y + BOX_HEIGHT - 9 - (len(condition_lines) - 1 - number) * 15,
                    "font-size": SMALL_FONT_SIZE,
                    "font-style": "italic",
                    "fill": PALETTE["warning-text"],
                },
                escape(line),
            )
        )
    content = "".join(parts)
    if step.href:
        content = element("a", {"class": "svg-step-link", "href": step.href}, content)
    return element(
        "g",
        {
            "id": f"{id_prefix}-step-{token(step.id)}",
            "class": classes(
                "svg-step",
                f"svg-step-{lane.kind}",
                "svg-step-conditional" if step.is_conditional else None,
                "svg-step-evidence" if step.requires_evidence else None,
            ),
            "data-step-id": step.id,
            "data-column": item.column,
        },
        content,
    )


def _evidence_icon(x: float, y: float) -> str:
    """A small page with a folded corner and a tick: evidence must be produced."""
    page = f"M{num(x)} {num(y)} h{num(8)} l4 4 v10 h-12 z M{num(x + 8)} {num(y)} v4 h4"
    tick = f"M{num(x + 3)} {num(y + 9)} l2.5 2.5 l4 -5"
    return (
        '<g class="svg-evidence-badge">'
        + element(
            "path",
            {
                "d": page,
                "fill": PALETTE["success-soft"],
                "stroke": PALETTE["success"],
                "stroke-width": 1.2,
                "stroke-linejoin": "round",
            },
        )
        + element(
            "path",
            {
                "d": tick,
                "fill": "none",
                "stroke": PALETTE["success"],
                "stroke-width": 1.6,
                "stroke-linecap": "round",
                "stroke-linejoin": "round",
            },
        )
        + "</g>"
    )


def _arrow(route: _Route, labels: SwimlaneLabels, id_prefix: str) -> str:
    arrow = route.arrow
    short = _DEPENDENCY_KINDS[arrow.kind]
    kind_label = labels.finish_to_start if short == "fs" else labels.start_to_start
    tooltip = f"{route.source.step.key} → {route.target.step.key}: {kind_label}"
    if arrow.lag_label:
        tooltip += f" ({arrow.lag_label})"
    path = _rounded_path(route.points)
    return element(
        "g",
        {
            "class": classes(
                "svg-dependency",
                f"svg-dependency-{short}",
                "svg-arrow-back" if route.backward else None,
            ),
            "id": f"{id_prefix}-dependency-{route.index}",
            "data-from": arrow.from_id,
            "data-to": arrow.to_id,
        },
        title_element(tooltip)
        + element(
            "path",
            {
                "class": "svg-arrow-hit",
                "d": path,
                "fill": "none",
                "stroke": "transparent",
                "stroke-width": 10,
            },
        )
        + element(
            "path",
            {
                "class": f"svg-arrow svg-arrow-{short}",
                "d": path,
                "fill": "none",
                "stroke": PALETTE["text-muted"],
                "stroke-width": 1.5,
                "stroke-dasharray": DASH_START_TO_START if short == "ss" else None,
                "marker-end": f"url(#{id_prefix}-arrow-{short})",
            },
        ),
    )


def _lag_labels(routes: list[_Route]) -> list[str]:
    """A lag sits on the arrow just after its source, where fan-in arrows differ."""
    parts: list[str] = []
    per_source: dict[int | str, int] = {}
    for route in routes:
        if not route.arrow.lag_label:
            continue
        stacked = per_source.get(route.source.step.id, 0)
        per_source[route.source.step.id] = stacked + 1
        text = fit_text(
            route.arrow.lag_label, COLUMN_GAP + BOX_WIDTH / 2, SMALL_FONT_SIZE
        )
        width = text_width(text, SMALL_FONT_SIZE) + 8
        x = route.source.right + 4
        y = route.source.middle - 18 - stacked * 17
        parts.append(
            '<g class="svg-lag">'
            + element(
                "rect",
                {
                    "x": x,
                    "y": y,
                    "width": width,
                    "height": 15,
                    "rx": 3,
                    "fill": PALETTE["surface"],
                    "stroke": PALETTE["border"],
                },
            )
            + element(
                "text",
                {
                    "x": x + 4,
                    "y": y + 11.5,
                    "font-size": SMALL_FONT_SIZE,
                    "fill": PALETTE["text-muted"],
                },
                escape(text),
            )
            + "</g>"
        )
    return parts


def _legend(
    labels: SwimlaneLabels, id_prefix: str, width: float, top: float
) -> tuple[str, float]:
    items: list[tuple[float, str, str]] = []  # icon width, icon markup at 0,0, label

    def line(short: str) -> str:
        return element(
            "path",
            {
                "d": "M0 0 H30",
                "fill": "none",
                "stroke": PALETTE["text-muted"],
                "stroke-width": 1.5,
                "stroke-dasharray": DASH_START_TO_START if short == "ss" else None,
                "marker-end": f"url(#{id_prefix}-arrow-{short})",
            },
        )

    items.append((30, line("fs"), labels.finish_to_start))
    items.append((30, line("ss"), labels.start_to_start))
    items.append(
        (
            24,
            element(
                "rect",
                {
                    "x": 0,
                    "y": -7,
                    "width": 24,
                    "height": 14,
                    "rx": 3,
                    "fill": PALETTE["surface"],
                    "stroke": PALETTE["warning-text"],
                    "stroke-width": 1.5,
                    "stroke-dasharray": "4 3",
                },
            ),
            labels.conditional,
        )
    )
    items.append((12, _evidence_icon(0, -7), labels.evidence_required))
    items.append(
        (
            24,
            element(
                "rect",
                {
                    "x": 0,
                    "y": -7,
                    "width": 24,
                    "height": 14,
                    "rx": 3,
                    "fill": PALETTE["partner-soft"],
                    "stroke": PALETTE["partner"],
                    "stroke-width": 1.5,
                },
            ),
            labels.partner,
        )
    )
    return legend(items, left=MARGIN, right=width - MARGIN, top=top)
