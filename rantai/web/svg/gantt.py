"""A run drawn as a timeline (Gantt): one row per task, a date axis, today and the
target due date as vertical lines, the critical path highlighted and slack drawn as a
thin extension to each task's latest finish.

The axis is laid out in the organisation's time zone: day ticks fall on its midnights,
and week ticks (on Mondays) replace them when a day is too narrow to label. Today and
the due date are drawn only when they fall between ``start`` and ``end``; the caller
chooses a range that includes them.

Usage::

    svg = render_gantt(rows, start=..., end=..., today=now, due=run.due_at,
                       labels=..., time_zone=organisation.time_zone)
    # template: <div class="svg-scroll">{{ svg }}</div>
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

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
    num,
    svg_root,
    text_width,
    title_element,
    token,
)

MARGIN = 12.0
LABEL_WIDTH = 264.0
ROW_HEIGHT = 40.0
BAR_HEIGHT = 16.0
FLAG_HEIGHT = 18.0
AXIS_ROW_HEIGHT = 20.0
HEADER_HEIGHT = 2 * FLAG_HEIGHT + 6 + 2 * AXIS_ROW_HEIGHT
TARGET_PLOT_WIDTH = 880.0  # with the labels, a short run fits a 1200px page
MIN_PLOT_WIDTH = 480.0
MIN_DAY_WIDTH = 6.0
MAX_DAY_WIDTH = 64.0
DAY_LABEL_MIN_WIDTH = 22.0  # narrower days are labelled by week
MIN_BAR_WIDTH = 3.0
FONT_SIZE = 13.0
SMALL_FONT_SIZE = 12.0
SECONDS_PER_DAY = 86_400.0


@dataclass(frozen=True, slots=True)
class GanttRow:
    """One task of the run: its bar (actual where known, planned otherwise) and, for
    slack, the latest finish that does not delay the run."""

    id: int | str
    label: str
    lane_label: str
    status: str  # the task status value; becomes the class svg-status-<status>
    bar_start: datetime
    bar_finish: datetime
    latest_finish: datetime | None = None
    critical: bool = False
    done: bool = False
    href: str | None = None


@dataclass(frozen=True, slots=True)
class GanttLabels:
    """Every word the drawing shows besides the data: callers pass translated text."""

    description: str  # the <desc>: one sentence saying what the drawing shows
    today: str  # "Today"
    due: str  # "Due" (the run's target due date)
    critical_path: str  # "Critical path"
    slack: str  # "Slack"
    done: str  # "Done"
    scheduled: str  # an ordinary bar in the legend: "Scheduled"
    month_abbreviations: tuple[str, ...]  # twelve, January first: ("Jan", "Feb", ...)
    non_working: str = ""  # legend for shaded days: "Non-working day"


@dataclass(frozen=True, slots=True)
class _Scale:
    start: datetime
    end: datetime
    left: float
    day_width: float

    @property
    def right(self) -> float:
        return self.x(self.end)

    def x(self, moment: datetime) -> float:
        days = (moment - self.start).total_seconds() / SECONDS_PER_DAY
        return self.left + days * self.day_width

    def clamp(self, x: float) -> float:
        return min(max(x, self.left), self.right)


def render_gantt(
    rows: Sequence[GanttRow],
    *,
    start: datetime,
    end: datetime,
    today: datetime,
    due: datetime | None,
    labels: GanttLabels,
    time_zone: str,
    non_working_days: Collection[date] = (),
    title: str = "",
    id_prefix: str = "gantt",
) -> SafeString:
    """The run as an SVG timeline, escaped and ready for a template.

    ``non_working_days`` (local dates from the organisation's working calendar:
    weekends, holidays) are shaded; ``title`` defaults to the description.

    All datetimes must be aware. Raises ValueError for naive datetimes, an empty or
    reversed range, a wrong number of month names, duplicate row ids or an unsafe link.
    """
    check_id_prefix(id_prefix)
    _check(rows, start=start, end=end, today=today, due=due, labels=labels)
    zone = ZoneInfo(time_zone)
    days = (end - start).total_seconds() / SECONDS_PER_DAY
    day_width = min(max(TARGET_PLOT_WIDTH / days, MIN_DAY_WIDTH), MAX_DAY_WIDTH)
    day_width = max(day_width, MIN_PLOT_WIDTH / days)
    scale = _Scale(start=start, end=end, left=MARGIN + LABEL_WIDTH, day_width=day_width)
    rows_top = MARGIN + HEADER_HEIGHT
    rows_bottom = rows_top + len(rows) * ROW_HEIGHT
    width = scale.right + 3 * MARGIN
    shaded = sorted(set(non_working_days))
    legend, legend_height = _legend(
        labels, width, rows_bottom + 14, shaded=bool(shaded)
    )
    height = rows_bottom + 14 + legend_height + MARGIN
    months = labels.month_abbreviations
    with_time = any(
        _has_time(moment, zone)
        for row in rows
        for moment in (row.bar_start, row.bar_finish)
    )

    axis_grid, axis_labels = _axis(scale, zone, months, rows_top, rows_bottom)
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
        element(
            "rect",
            {
                "class": "svg-plot",
                "x": scale.left,
                "y": rows_top,
                "width": scale.right - scale.left,
                "height": rows_bottom - rows_top,
                "fill": "none",
            },
        ),
        '<g class="svg-rows">',
        *(
            _row_band(index, rows_top + index * ROW_HEIGHT, scale.right)
            for index in range(len(rows))
        ),
        "</g>",
        _non_working(scale, zone, shaded, rows_top, rows_bottom),
        axis_grid,
        '<g class="svg-tasks">',
        *(
            _row(
                row,
                rows_top + index * ROW_HEIGHT,
                scale,
                zone=zone,
                labels=labels,
                id_prefix=id_prefix,
                with_time=with_time,
            )
            for index, row in enumerate(rows)
        ),
        "</g>",
        _markers(scale, zone, months, today, due, labels, rows_bottom),
        axis_labels,
        legend,
    ]
    return mark_safe(  # every text and attribute value went through escape()
        svg_root(
            id_prefix=id_prefix,
            kind="gantt",
            width=width,
            height=height,
            title_text=title or labels.description,
            description=labels.description,
            interactive=any(row.href for row in rows),
            body=body,
        )
    )


def _check(
    rows: Sequence[GanttRow],
    *,
    start: datetime,
    end: datetime,
    today: datetime,
    due: datetime | None,
    labels: GanttLabels,
) -> None:
    moments = [start, end, today, *([due] if due else [])]
    for row in rows:
        moments += [row.bar_start, row.bar_finish]
        if row.latest_finish is not None:
            moments.append(row.latest_finish)
    if any(moment.utcoffset() is None for moment in moments):
        raise ValueError("the Gantt chart needs aware datetimes")
    if end <= start:
        raise ValueError("the Gantt chart needs end after start")
    if len(labels.month_abbreviations) != 12:
        raise ValueError("month_abbreviations needs twelve names")
    seen: set[int | str] = set()
    for row in rows:
        if row.id in seen:
            raise ValueError(f"duplicate row id {row.id!r}")
        seen.add(row.id)
        check_href(row.href)


def _has_time(moment: datetime, zone: ZoneInfo) -> bool:
    return moment.astimezone(zone).time() != time(0)


def _format(
    moment: datetime, zone: ZoneInfo, months: tuple[str, ...], *, with_time: bool
) -> str:
    local = moment.astimezone(zone)
    text = f"{local.day} {months[local.month - 1]}"
    return f"{text} {local:%H:%M}" if with_time else text


def _midnights(scale: _Scale, zone: ZoneInfo) -> list[tuple[date, datetime]]:
    """Every local midnight within the range, with its date."""
    first = scale.start.astimezone(zone).date()
    last = scale.end.astimezone(zone).date()
    found: list[tuple[date, datetime]] = []
    day = first
    while day <= last:
        midnight = datetime.combine(day, time(0), tzinfo=zone)
        if scale.start <= midnight <= scale.end:
            found.append((day, midnight))
        day += timedelta(days=1)
    return found


def _non_working(
    scale: _Scale,
    zone: ZoneInfo,
    days: list[date],
    rows_top: float,
    rows_bottom: float,
) -> str:
    """A quiet band behind each non-working day, from local midnight to midnight."""
    bands: list[str] = []
    for day in days:
        begin = datetime.combine(day, time(0), tzinfo=zone)
        finish = datetime.combine(day + timedelta(days=1), time(0), tzinfo=zone)
        left = scale.clamp(scale.x(begin))
        right = scale.clamp(scale.x(finish))
        if right - left < 1:
            continue
        bands.append(
            element(
                "rect",
                {
                    "class": "svg-non-working",
                    "x": left,
                    "y": rows_top,
                    "width": right - left,
                    "height": rows_bottom - rows_top,
                    "fill": PALETTE["surface-muted"],
                    "data-date": day.isoformat(),
                },
            )
        )
    return '<g class="svg-calendar" aria-hidden="true">' + "".join(bands) + "</g>"


def _axis(
    scale: _Scale,
    zone: ZoneInfo,
    months: tuple[str, ...],
    rows_top: float,
    rows_bottom: float,
) -> tuple[str, str]:
    """The grid (drawn under the bars) and the labels (drawn over the today and due
    lines, with a halo, so a line never hides a date)."""
    month_y = MARGIN + 2 * FLAG_HEIGHT + 6
    day_y = month_y + AXIS_ROW_HEIGHT
    daily = scale.day_width >= DAY_LABEL_MIN_WIDTH
    grid: list[str] = []
    texts: list[str] = []
    midnights = _midnights(scale, zone)
    month_starts = [(day, x) for day, x in midnights if day.day == 1]
    for day, midnight in midnights:
        x = scale.x(midnight)
        monday = day.weekday() == 0
        if daily or monday or scale.day_width >= 8:
            strong = day.day == 1 or (not daily and monday)
            grid.append(
                element(
                    "line",
                    {
                        "class": "svg-grid-week" if monday else "svg-grid-day",
                        "x1": x,
                        "x2": x,
                        "y1": month_y if day.day == 1 else day_y,
                        "y2": rows_bottom,
                        "stroke": PALETTE["border"] if strong or monday else "#e8ecf1",
                        "stroke-width": 1,
                    },
                )
            )
        if daily:
            right = min(x + scale.day_width, scale.right)
            if right - x >= DAY_LABEL_MIN_WIDTH - 2:
                texts.append(
                    _axis_text(
                        str(day.day), (x + right) / 2, day_y + 14, anchor="middle"
                    )
                )
        elif monday and scale.right - x >= 20:
            texts.append(_axis_text(str(day.day), x + 3, day_y + 14, anchor="start"))
    # A month name at each first of the month, and at the left edge when there is room.
    month_labels: list[tuple[float, date]] = [
        (scale.x(midnight), day) for day, midnight in month_starts
    ]
    first_local = scale.start.astimezone(zone).date()
    if not month_labels or month_labels[0][0] - scale.left >= 90:
        month_labels.insert(0, (scale.left, first_local))
    for index, (x, day) in enumerate(month_labels):
        if index + 1 < len(month_labels):
            room = month_labels[index + 1][0] - x
        else:  # the last month may run into the right margin
            room = scale.right + 2 * MARGIN - x
        text = fit_text(
            f"{months[day.month - 1]} {day.year}", room - 8, SMALL_FONT_SIZE
        )
        if room >= 24:
            texts.append(
                _axis_text(text, x + 4, month_y + 14, anchor="start", bold=True)
            )
    frame = [
        element(
            "line",
            {
                "class": "svg-axis-line",
                "x1": scale.left,
                "x2": scale.right,
                "y1": rows_top,
                "y2": rows_top,
                "stroke": PALETTE["border-strong"],
            },
        ),
        element(
            "line",
            {
                "class": "svg-axis-edge",
                "x1": scale.left,
                "x2": scale.left,
                "y1": month_y,
                "y2": rows_bottom,
                "stroke": PALETTE["border-strong"],
            },
        ),
        element(
            "line",
            {
                "class": "svg-axis-edge",
                "x1": scale.right,
                "x2": scale.right,
                "y1": month_y,
                "y2": rows_bottom,
                "stroke": PALETTE["border-strong"],
            },
        ),
    ]
    return (
        '<g class="svg-axis" aria-hidden="true">' + "".join(grid + frame) + "</g>",
        '<g class="svg-axis-labels" aria-hidden="true">' + "".join(texts) + "</g>",
    )


def _axis_text(
    text: str, x: float, y: float, *, anchor: str, bold: bool = False
) -> str:
    return element(
        "text",
        {
            "class": "svg-axis-label",
            "x": x,
            "y": y,
            "text-anchor": anchor,
            "font-size": SMALL_FONT_SIZE,
            "font-weight": 600 if bold else None,
            "fill": PALETTE["text"] if bold else PALETTE["text-muted"],
            "stroke": PALETTE["surface"],
            "stroke-width": 4,
            "stroke-linejoin": "round",
            "paint-order": "stroke",
        },
        escape(text),
    )


def _row_band(index: int, top: float, right: float) -> str:
    return element(
        "rect",
        {
            "class": "svg-row-band",
            "x": MARGIN,
            "y": top,
            "width": right - MARGIN,
            "height": ROW_HEIGHT,
            "fill": PALETTE["bg"] if index % 2 else PALETTE["surface"],
        },
    )


def _row(
    row: GanttRow,
    top: float,
    scale: _Scale,
    *,
    zone: ZoneInfo,
    labels: GanttLabels,
    id_prefix: str,
    with_time: bool,
) -> str:
    months = labels.month_abbreviations
    finish_text = _format(row.bar_finish, zone, months, with_time=with_time)
    tooltip = [
        row.label,
        row.lane_label,
        f"{_format(row.bar_start, zone, months, with_time=with_time)} – {finish_text}",
    ]
    has_slack = (
        row.latest_finish is not None
        and row.latest_finish > row.bar_finish
        and not row.done
    )
    if has_slack and row.latest_finish is not None:
        latest = _format(row.latest_finish, zone, months, with_time=with_time)
        tooltip.append(f"{labels.slack}: {finish_text} – {latest}")
    if row.critical:
        tooltip.append(labels.critical_path)
    if row.done:
        tooltip.append(labels.done)
    parts = [title_element(" — ".join(part for part in tooltip if part))]

    label = element(
        "text",
        {
            "class": "svg-row-label",
            "x": MARGIN + 10,
            "y": top + 17,
            "font-size": FONT_SIZE,
            "fill": PALETTE["primary"] if row.href else PALETTE["text"],
            "text-decoration": "underline" if row.href else None,
        },
        escape(fit_text(row.label, LABEL_WIDTH - 22, FONT_SIZE)),
    )
    if row.href:
        label = element("a", {"class": "svg-row-link", "href": row.href}, label)
    parts.append(label)
    parts.append(
        element(
            "text",
            {
                "class": "svg-row-lane",
                "x": MARGIN + 10,
                "y": top + 32,
                "font-size": SMALL_FONT_SIZE,
                "fill": PALETTE["text-muted"],
            },
            escape(fit_text(row.lane_label, LABEL_WIDTH - 22, SMALL_FONT_SIZE)),
        )
    )

    bar_top = top + (ROW_HEIGHT - BAR_HEIGHT) / 2
    middle = bar_top + BAR_HEIGHT / 2
    if has_slack and row.latest_finish is not None:
        slack_from = scale.clamp(scale.x(row.bar_finish))
        slack_to = scale.clamp(scale.x(row.latest_finish))
        if slack_to > slack_from:
            parts.append(
                element(
                    "path",
                    {
                        "class": "svg-slack",
                        "d": (
                            f"M{num(slack_from)} {num(middle)} H{num(slack_to)} "
                            f"M{num(slack_to)} {num(middle - 5)} V{num(middle + 5)}"
                        ),
                        "fill": "none",
                        "stroke": PALETTE["text-muted"],
                        "stroke-width": 2,
                    },
                )
            )
    left = scale.x(row.bar_start)
    right = scale.x(row.bar_finish)
    if right >= scale.left and left <= scale.right:
        left, right = scale.clamp(left), scale.clamp(right)
        if right - left < MIN_BAR_WIDTH:
            left = min(left, scale.right - MIN_BAR_WIDTH)
            right = left + MIN_BAR_WIDTH
        if row.done:
            fill, stroke = PALETTE["success-soft"], PALETTE["success"]
        elif row.critical:
            fill, stroke = PALETTE["danger"], PALETTE["danger"]
        else:
            fill, stroke = PALETTE["primary"], PALETTE["primary"]
        parts.append(
            element(
                "rect",
                {
                    "class": classes(
                        "svg-bar",
                        f"svg-status-{token(row.status)}",
                        "svg-bar-critical" if row.critical else None,
                        "svg-bar-done" if row.done else None,
                    ),
                    "x": left,
                    "y": bar_top,
                    "width": right - left,
                    "height": BAR_HEIGHT,
                    "rx": 3,
                    "fill": fill,
                    "stroke": stroke,
                    "stroke-width": 1,
                    "data-start": row.bar_start.isoformat(),
                    "data-finish": row.bar_finish.isoformat(),
                },
            )
        )
    return element(
        "g",
        {
            "id": f"{id_prefix}-row-{token(row.id)}",
            "class": classes(
                "svg-gantt-row",
                "svg-row-critical" if row.critical else None,
                "svg-row-done" if row.done else None,
            ),
            "data-row-id": row.id,
        },
        "".join(parts),
    )


def _markers(
    scale: _Scale,
    zone: ZoneInfo,
    months: tuple[str, ...],
    today: datetime,
    due: datetime | None,
    labels: GanttLabels,
    rows_bottom: float,
) -> str:
    """The due line (dashed, flag on the first header line) and today (solid, flag on
    the second) — two lines of flags so the two labels never cover each other."""
    parts: list[str] = []
    if due is not None and scale.start <= due <= scale.end:
        text = (
            f"{labels.due} {_format(due, zone, months, with_time=_has_time(due, zone))}"
        )
        parts.append(
            _marker(
                "svg-due",
                scale,
                scale.x(due),
                MARGIN,
                text,
                rows_bottom,
                line=PALETTE["text"],
                flag=PALETTE["text"],
                flag_text=PALETTE["surface"],
                dashed=True,
            )
        )
    if scale.start <= today <= scale.end:
        parts.append(
            _marker(
                "svg-today",
                scale,
                scale.x(today),
                MARGIN + FLAG_HEIGHT + 2,
                labels.today,
                rows_bottom,
                line=PALETTE["warning-text"],
                flag=PALETTE["warning-soft"],
                flag_text=PALETTE["warning-text"],
                dashed=False,
            )
        )
    return '<g class="svg-markers">' + "".join(parts) + "</g>"


def _marker(
    kind: str,
    scale: _Scale,
    x: float,
    flag_top: float,
    text: str,
    rows_bottom: float,
    *,
    line: str,
    flag: str,
    flag_text: str,
    dashed: bool,
) -> str:
    text = fit_text(text, 200, SMALL_FONT_SIZE, bold=True)
    flag_width = text_width(text, SMALL_FONT_SIZE, bold=True) + 12
    # Keep the flag inside the plot; its line still marks the exact moment.
    flag_left = min(
        max(x - flag_width / 2, scale.left - 8), scale.right + 8 - flag_width
    )
    return element(
        "g",
        {"class": f"svg-marker-line {kind}"},
        title_element(text)
        + element(
            "line",
            {
                "class": f"{kind}-line",
                "x1": x,
                "x2": x,
                "y1": flag_top + FLAG_HEIGHT - 2,
                "y2": rows_bottom,
                "stroke": line,
                "stroke-width": 2,
                "stroke-dasharray": "6 4" if dashed else None,
            },
        )
        + element(
            "rect",
            {
                "class": f"{kind}-flag",
                "x": flag_left,
                "y": flag_top,
                "width": flag_width,
                "height": FLAG_HEIGHT - 2,
                "rx": 3,
                "fill": flag,
                "stroke": line,
            },
        )
        + element(
            "text",
            {
                "class": f"{kind}-label",
                "x": flag_left + flag_width / 2,
                "y": flag_top + 12,
                "text-anchor": "middle",
                "font-size": SMALL_FONT_SIZE,
                "font-weight": 600,
                "fill": flag_text,
            },
            escape(text),
        ),
    )


def _legend(
    labels: GanttLabels, width: float, top: float, *, shaded: bool
) -> tuple[str, float]:
    def bar(fill: str, stroke: str) -> str:
        return element(
            "rect",
            {
                "x": 0,
                "y": -6,
                "width": 24,
                "height": 12,
                "rx": 3,
                "fill": fill,
                "stroke": stroke,
            },
        )

    def rule(color: str, *, dashed: bool) -> str:
        return element(
            "path",
            {
                "d": "M6 -8 V8",
                "stroke": color,
                "stroke-width": 2,
                "stroke-dasharray": "4 3" if dashed else None,
            },
        )

    items = [
        (24.0, bar(PALETTE["primary"], PALETTE["primary"]), labels.scheduled),
        (24.0, bar(PALETTE["danger"], PALETTE["danger"]), labels.critical_path),
        (24.0, bar(PALETTE["success-soft"], PALETTE["success"]), labels.done),
        (
            24.0,
            element(
                "path",
                {
                    "d": "M0 0 H22 M22 -5 V5",
                    "fill": "none",
                    "stroke": PALETTE["text-muted"],
                    "stroke-width": 2,
                },
            ),
            labels.slack,
        ),
        (12.0, rule(PALETTE["warning-text"], dashed=False), labels.today),
        (12.0, rule(PALETTE["text"], dashed=True), labels.due),
    ]
    if shaded and labels.non_working:
        items.append(
            (24.0, bar(PALETTE["surface-muted"], PALETTE["border"]), labels.non_working)
        )
    return legend(items, left=MARGIN, right=width - MARGIN, top=top)
