"""Swimlane and Gantt drawings: pure functions from plain data to a safe SVG string.

No database: the drawings take dataclasses. The sample builders at the top are also
used to render the screenshots a person looks at (see ``sample_drawings``).
"""

from __future__ import annotations

import itertools
import random
import re
import xml.etree.ElementTree as ET
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from zoneinfo import ZoneInfo

import pytest

from rantai.web.svg import PALETTE, text_width
from rantai.web.svg.gantt import GanttLabels, GanttRow, render_gantt
from rantai.web.svg.swimlane import (
    BOX_HEIGHT,
    BOX_WIDTH,
    Arrow,
    Lane,
    StepBox,
    SwimlaneLabels,
    render_swimlane,
)

SVG = "{http://www.w3.org/2000/svg}"
JAKARTA = ZoneInfo("Asia/Jakarta")
CSS = Path(__file__).resolve().parents[1] / "static" / "web" / "rantai.css"

SWIMLANE_LABELS = SwimlaneLabels(
    description="Steps of the procedure by party and position, with dependencies.",
    finish_to_start="Finish to start",
    start_to_start="Start to start",
    conditional="Conditional step",
    condition_prefix="if",
    evidence_required="Evidence required",
    partner="Partner",
    unassigned="No responsible yet",
)
GANTT_LABELS = GanttLabels(
    description="Tasks of the run on a timeline, with today and the due date.",
    today="Today",
    due="Due",
    critical_path="Critical path",
    slack="Slack",
    done="Done",
    scheduled="Scheduled",
    month_abbreviations=(
        "Jan",
        "Feb",
        "Mar",
        "Apr",
        "May",
        "Jun",
        "Jul",
        "Aug",
        "Sep",
        "Oct",
        "Nov",
        "Dec",
    ),
    non_working="Non-working day",
)


# --- sample data -------------------------------------------------------------------


def shipment_procedure() -> tuple[list[Lane], list[StepBox], list[Arrow]]:
    """The article's chain: ship 500 units to Kota A across four units and two
    partners."""
    lanes = [
        Lane("marketing", "Pemasaran", "internal"),
        Lane("production", "Produksi", "internal"),
        Lane("export", "Ekspor", "internal"),
        Lane("warehouse", "Gudang", "internal"),
        Lane("forwarder", "PT Ekspedisi Cepat", "partner"),
        Lane("customer", "Customer Kota A", "partner"),
    ]
    steps = [
        StepBox(1, "S1", "Set the delivery target", "marketing", "1 d", href="/s/1"),
        StepBox(
            2,
            "S2",
            "Produce 500 units",
            "production",
            "5 d",
            requires_evidence=True,
            href="/s/2",
        ),
        StepBox(3, "S3", "Price the shipping cost", "export", "2 d", href="/s/3"),
        StepBox(4, "S4", "Schedule the shipment", "warehouse", "1 d", href="/s/4"),
        StepBox(
            5,
            "S5",
            "Approve the shipment (export manager)",
            "export",
            "4 h",
            is_conditional=True,
            condition_label="shipment value > Rp 100.000.000",
            requires_evidence=True,
            href="/s/5",
        ),
        StepBox(6, "S6", "Pick up the goods", "forwarder", "1 d", href="/s/6"),
        StepBox(
            7,
            "S7",
            "Confirm delivery in Kota A",
            "customer",
            "3 d",
            requires_evidence=True,
            href="/s/7",
        ),
    ]
    arrows = [
        Arrow(1, 4),
        Arrow(2, 3, "start_to_start", "+2 d"),
        Arrow(2, 4),
        Arrow(3, 4),
        Arrow(4, 5),
        Arrow(5, 6, lag_label="+1 d"),
        Arrow(6, 7),
    ]
    return lanes, steps, arrows


INTERNAL_LANES = [
    "Pemasaran",
    "Produksi",
    "Ekspor",
    "Gudang",
    "Keuangan",
    "Quality Control",
    "Pengadaan Bahan Baku dan Logistik Masuk",
    "Legal",
    "Kepala Bagian Ekspor",
    "Direktur",
]
PARTNER_LANES = ["PT Ekspedisi Cepat Nusantara", "Customer Kota A"]
VERBS = ["Check", "Prepare", "Approve", "Send", "Record", "Confirm", "Inspect", "Pay"]
THINGS = [
    "the purchase order",
    "invoice",
    "packing list and certificate of origin",
    "raw material stock",
    "shipment",
    "quality report",
    "customs declaration (PEB)",
    "payment",
]


def generated_procedure(
    step_count: int, lane_count: int, *, seed: int = 7
) -> tuple[list[Lane], list[StepBox], list[Arrow]]:
    """A random but repeatable procedure: each step depends on one to three earlier
    steps, mostly recent ones, so it has both long chains and parallel branches."""
    rng = random.Random(seed)
    names = [*INTERNAL_LANES[: lane_count - 2], *PARTNER_LANES]
    lanes = [
        Lane(
            f"lane-{index}",
            names[index],
            "partner" if index >= lane_count - 2 else "internal",
        )
        for index in range(lane_count)
    ]
    steps: list[StepBox] = []
    arrows: list[Arrow] = []
    for index in range(step_count):
        label = f"{rng.choice(VERBS)} {rng.choice(THINGS)}"
        steps.append(
            StepBox(
                id=index + 1,
                key=f"S{index + 1}",
                label=label,
                lane_id=lanes[rng.randrange(lane_count)].id,
                duration_label=f"{rng.randint(1, 5)} d",
                is_conditional=rng.random() < 0.12,
                condition_label="value > 100 jt" if rng.random() < 0.5 else None,
                requires_evidence=rng.random() < 0.3,
            )
        )
        if index == 0:
            continue
        candidates = list(range(max(0, index - 6), index))
        for predecessor in sorted(
            rng.sample(candidates, k=min(len(candidates), rng.randint(1, 2)))
        ):
            kind = "start_to_start" if rng.random() < 0.1 else "finish_to_start"
            lag = f"+{rng.randint(1, 3)} d" if rng.random() < 0.08 else None
            arrows.append(Arrow(predecessor + 1, index + 1, kind, lag))
    return lanes, steps, arrows


def _at(day: int, hour: int = 8, month: int = 3) -> datetime:
    return datetime(2026, month, day, hour, tzinfo=JAKARTA).astimezone(UTC)


def task(
    number: int,
    label: str,
    lane: str,
    status: str,
    bar: tuple[datetime, datetime],
    latest_finish: datetime | None,
    *,
    critical: bool = False,
) -> GanttRow:
    done = status == "done"
    return GanttRow(
        id=number,
        label=label,
        lane_label=lane,
        status=status,
        bar_start=bar[0],
        bar_finish=bar[1],
        latest_finish=latest_finish,
        critical=critical,
        done=done,
        href=f"/t/{number}" if number < 8 else None,
    )


def shipment_run() -> tuple[list[GanttRow], dict[str, datetime]]:
    """The run "Ship 500 units to Kota A", a week in; production is the critical path."""
    # fmt: off
    rows = [
        task(1, "S1 Set the delivery target", "Pemasaran", "done", (_at(2), _at(2, 17)), None),
        task(2, "S2 Produce 500 units", "Produksi", "in_progress", (_at(2), _at(6, 17)), _at(6, 17), critical=True),
        task(3, "S3 Price the shipping cost", "Ekspor", "done", (_at(4), _at(5, 17)), None),
        task(4, "S4 Schedule the shipment", "Gudang", "pending", (_at(9), _at(9, 17)), _at(9, 17), critical=True),
        task(5, "S5 Approve the shipment", "Ekspor", "pending", (_at(10), _at(10, 12)), _at(10, 12), critical=True),
        task(6, "S6 Pick up the goods", "PT Ekspedisi Cepat", "pending", (_at(12), _at(12, 17)), _at(12, 17), critical=True),
        task(7, "S7 Confirm delivery in Kota A", "Customer Kota A", "pending", (_at(13), _at(17, 17)), _at(17, 17), critical=True),
        task(8, "Prepare the export documents for customs", "Ekspor", "ready", (_at(9), _at(10, 17)), _at(12, 8)),
    ]
    # fmt: on
    frame = {
        "start": _at(1, 0),
        "end": _at(22, 0),
        "today": _at(9, 10),
        "due": _at(20, 17),
    }
    return rows, frame


def generated_run(
    step_count: int = 35, lane_count: int = 8
) -> tuple[list[GanttRow], dict[str, datetime]]:
    """A schedule for the generated procedure by the critical path method (calendar
    days, no lags): enough for a drawing, not a second scheduler."""
    lanes, steps, arrows = generated_procedure(step_count, lane_count)
    lane_label = {lane.id: lane.label for lane in lanes}
    duration = {step.id: int(step.duration_label.split()[0]) for step in steps}
    predecessors: dict[int | str, list[int | str]] = {step.id: [] for step in steps}
    successors: dict[int | str, list[int | str]] = {step.id: [] for step in steps}
    for arrow in arrows:
        predecessors[arrow.to_id].append(arrow.from_id)
        successors[arrow.from_id].append(arrow.to_id)
    earliest_finish: dict[int | str, int] = {}
    for step in steps:  # ids are already in topological order
        begin = max((earliest_finish[p] for p in predecessors[step.id]), default=0)
        earliest_finish[step.id] = begin + duration[step.id]
    project = max(earliest_finish.values())
    latest_finish: dict[int | str, int] = {}
    for step in reversed(steps):
        latest_finish[step.id] = min(
            (latest_finish[s] - duration[s] for s in successors[step.id]),
            default=project,
        )
    origin = _at(2, 0)
    today = origin + timedelta(days=project // 3, hours=10)
    rows = []
    for step in steps:
        finish = origin + timedelta(days=earliest_finish[step.id])
        begin = finish - timedelta(days=duration[step.id])
        rows.append(
            GanttRow(
                id=step.id,
                label=f"{step.key} {step.label}",
                lane_label=lane_label[step.lane_id] if step.lane_id else "",
                status="done" if finish <= today else "pending",
                bar_start=begin,
                bar_finish=finish,
                latest_finish=origin + timedelta(days=latest_finish[step.id]),
                critical=latest_finish[step.id] == earliest_finish[step.id],
                done=finish <= today,
                href=f"/t/{step.id}",
            )
        )
    frame = {
        "start": origin - timedelta(days=1),
        "end": origin + timedelta(days=project + 5),
        "today": today,
        "due": origin + timedelta(days=project + 2, hours=17),
    }
    return rows, frame


def days_off(frame: dict[str, datetime]) -> set[date]:
    """Weekends in the frame, and Nyepi (19 March 2026), as a working calendar says."""
    first = frame["start"].astimezone(JAKARTA).date()
    last = frame["end"].astimezone(JAKARTA).date()
    days = (first + timedelta(days=n) for n in range((last - first).days + 1))
    return {day for day in days if day.weekday() >= 5} | {date(2026, 3, 19)}


def sample_drawings() -> dict[str, str]:
    """The drawings a person looks at before a change to the layout is accepted."""
    lanes, steps, arrows = shipment_procedure()
    big_lanes, big_steps, big_arrows = generated_procedure(35, 8)
    shipment_rows, shipment_frame = shipment_run()
    big_rows, big_frame = generated_run(35, 8)
    long_rows, long_frame = generated_run(60, 10)
    return {
        "swimlane-shipment": render_swimlane(
            lanes, steps, arrows, title="Pengiriman Produk", labels=SWIMLANE_LABELS
        ),
        "swimlane-generated-35": render_swimlane(
            big_lanes,
            big_steps,
            big_arrows,
            title="Generated procedure",
            labels=SWIMLANE_LABELS,
        ),
        "gantt-shipment": render_gantt(
            shipment_rows,
            labels=GANTT_LABELS,
            time_zone="Asia/Jakarta",
            non_working_days=days_off(shipment_frame),
            **shipment_frame,
        ),
        "gantt-generated-35": render_gantt(
            big_rows,
            labels=GANTT_LABELS,
            time_zone="Asia/Jakarta",
            non_working_days=days_off(big_frame),
            **big_frame,
        ),
        "gantt-generated-60": render_gantt(
            long_rows,
            labels=GANTT_LABELS,
            time_zone="Asia/Jakarta",
            non_working_days=days_off(long_frame),
            **long_frame,
        ),
    }


# --- helpers -----------------------------------------------------------------------


def parse(svg: str) -> ET.Element:
    return ET.fromstring(svg)  # noqa: S314 — our own output, parsed to check it


def by_class(root: ET.Element, tag: str, name: str) -> list[ET.Element]:
    return [
        element
        for element in root.iter(f"{SVG}{tag}")
        if name in element.get("class", "").split()
    ]


def box(step_group: ET.Element) -> tuple[float, float, float, float]:
    (rect,) = by_class(step_group, "rect", "svg-box")
    return (
        float(rect.get("x", "")),
        float(rect.get("y", "")),
        float(rect.get("width", "")),
        float(rect.get("height", "")),
    )


def path_points(d: str) -> list[tuple[float, float]]:
    """The corner points of an arrow path (end points of its L and Q commands)."""
    points = []
    for command, numbers in re.findall(r"([MLQ])([^MLQ]+)", d):
        values = [float(value) for value in numbers.split()]
        points.append((values[-2], values[-1]))
        assert command in "MLQ"
    return points


def swimlane(
    data: tuple[list[Lane], list[StepBox], list[Arrow]] | None = None,
) -> tuple[str, ET.Element]:
    lanes, steps, arrows = data or shipment_procedure()
    svg = render_swimlane(
        lanes, steps, arrows, title="Pengiriman Produk", labels=SWIMLANE_LABELS
    )
    return svg, parse(svg)


def gantt(**overrides) -> tuple[str, ET.Element]:
    rows, frame = shipment_run()
    arguments = {
        "rows": rows,
        **frame,
        "labels": GANTT_LABELS,
        "time_zone": "Asia/Jakarta",
    }
    arguments.update(overrides)
    svg = render_gantt(**arguments)
    return svg, parse(svg)


# --- swimlane ----------------------------------------------------------------------


def test_swimlane_is_one_well_formed_svg_named_by_its_title_and_description():
    _, root = swimlane()

    assert root.tag == f"{SVG}svg"
    assert root.get("role") == "group"  # its steps are links, reachable and named
    assert root.get("aria-labelledby") == "swimlane-title swimlane-desc"
    assert root.find(f"{SVG}title").get("id") == "swimlane-title"
    assert root.find(f"{SVG}title").text == "Pengiriman Produk"
    assert root.find(f"{SVG}desc").text == SWIMLANE_LABELS.description
    assert root.get("viewBox") == f"0 0 {root.get('width')} {root.get('height')}"
    assert "svg-drawing" in root.get("class").split()


def test_a_drawing_without_links_is_a_single_image():
    lanes, steps, arrows = shipment_procedure()
    steps = [StepBox(s.id, s.key, s.label, s.lane_id, s.duration_label) for s in steps]

    _, root = swimlane((lanes, steps, arrows))

    assert root.get("role") == "img"
    assert not list(root.iter(f"{SVG}a"))


def test_every_lane_and_step_is_one_group_with_its_id_and_kind():
    _, root = swimlane()

    lanes = by_class(root, "g", "svg-lane")
    steps = by_class(root, "g", "svg-step")

    assert [lane.get("id") for lane in lanes] == [
        "swimlane-lane-marketing",
        "swimlane-lane-production",
        "swimlane-lane-export",
        "swimlane-lane-warehouse",
        "swimlane-lane-forwarder",
        "swimlane-lane-customer",
    ]
    assert [lane.get("class") for lane in lanes[-2:]] == [
        "svg-lane svg-lane-partner",
        "svg-lane svg-lane-partner",
    ]
    assert [step.get("id") for step in steps] == [
        f"swimlane-step-{n}" for n in range(1, 8)
    ]
    assert steps[5].get("class") == "svg-step svg-step-partner"
    assert [a.get("href") for a in root.iter(f"{SVG}a")] == [
        f"/s/{n}" for n in range(1, 8)
    ]


def test_steps_stand_in_their_lane_and_in_columns_by_dependency_rank():
    _, root = swimlane()
    lane_band = {
        lane.get("data-lane-id"): by_class(lane, "rect", "svg-lane-band")[0]
        for lane in by_class(root, "g", "svg-lane")
    }
    _, steps, _ = shipment_procedure()
    groups = {g.get("data-step-id"): g for g in by_class(root, "g", "svg-step")}

    for step in steps:
        _, y, _, height = box(groups[str(step.id)])
        band = lane_band[step.lane_id]
        assert float(band.get("y")) < y
        assert y + height < float(band.get("y")) + float(band.get("height"))
    columns = {key: int(g.get("data-column")) for key, g in groups.items()}
    # S1 has no predecessor and moves next to its successor S4; S3 follows S2 (SS).
    assert columns == {"1": 1, "2": 0, "3": 1, "4": 2, "5": 3, "6": 4, "7": 5}


def test_each_dependency_is_an_arrow_from_source_to_target_with_its_marker():
    _, root = swimlane()
    _, _, arrows = shipment_procedure()
    groups = {g.get("data-step-id"): g for g in by_class(root, "g", "svg-step")}
    drawn = by_class(root, "g", "svg-dependency")

    assert [(g.get("data-from"), g.get("data-to")) for g in drawn] == [
        (str(a.from_id), str(a.to_id)) for a in arrows
    ]
    for arrow, group in zip(arrows, drawn, strict=True):
        (path,) = by_class(group, "path", "svg-arrow")
        short = "ss" if arrow.kind == "start_to_start" else "fs"
        assert path.get("marker-end") == f"url(#swimlane-arrow-{short})"
        assert (path.get("stroke-dasharray") is not None) == (short == "ss")
        points = path_points(path.get("d"))
        source_x, source_y, source_width, source_height = box(
            groups[str(arrow.from_id)]
        )
        target_x, target_y, _, target_height = box(groups[str(arrow.to_id)])
        assert points[0] == (source_x + source_width, source_y + source_height / 2)
        assert points[-1] == (target_x, target_y + target_height / 2)
    marker_ids = {marker.get("id") for marker in root.iter(f"{SVG}marker")}
    assert marker_ids == {"swimlane-arrow-fs", "swimlane-arrow-ss"}


def test_conditional_steps_are_dashed_with_their_condition_and_evidence_has_a_badge():
    _, root = swimlane()
    groups = {g.get("data-step-id"): g for g in by_class(root, "g", "svg-step")}

    (conditional_box,) = by_class(groups["5"], "rect", "svg-box")
    assert conditional_box.get("stroke-dasharray") == "6 4"
    (condition,) = by_class(groups["5"], "text", "svg-step-condition")
    assert condition.text.startswith("if shipment value")
    assert condition.text.endswith("…")
    assert (
        "if shipment value > Rp 100.000.000" in groups["5"].find(f".//{SVG}title").text
    )
    (plain_box,) = by_class(groups["4"], "rect", "svg-box")
    assert plain_box.get("stroke-dasharray") is None
    with_badge = {
        key for key, g in groups.items() if by_class(g, "g", "svg-evidence-badge")
    }
    assert with_badge == {"2", "5", "7"}


def test_lag_is_written_on_its_arrow():
    _, root = swimlane()

    lags = [
        text.text for text in root.iter(f"{SVG}text") if text.text in {"+1 d", "+2 d"}
    ]

    assert sorted(lags) == ["+1 d", "+2 d"]


def test_every_text_is_escaped():
    hostile = '<script>alert("x")</script> & more'
    lanes = [Lane("a", 'R&D <"lab">', "internal")]
    steps = [StepBox("s<1>", "K&1", hostile, "a", "1 d", href="/s/?a=1&b=<2>")]

    svg, root = swimlane((lanes, steps, []))

    assert "<script>" not in svg
    assert "&lt;script&gt;alert(&quot;x&quot;)&lt;/script&gt; &amp; more" in svg
    assert "R&amp;D &lt;&quot;lab&quot;&gt;" in svg
    (step,) = by_class(root, "g", "svg-step")
    assert step.get("id") == "swimlane-step-s-1-"
    assert step.get("data-step-id") == "s<1>"
    assert hostile in step.find(f".//{SVG}title").text
    assert root.find(f".//{SVG}a").get("href") == "/s/?a=1&b=<2>"


def test_script_links_are_refused():
    lanes = [Lane("a", "A", "internal")]
    steps = [StepBox(1, "S1", "x", "a", "1 d", href="javascript:alert(1)")]

    with pytest.raises(ValueError, match="scheme"):
        render_swimlane(lanes, steps, [], title="t", labels=SWIMLANE_LABELS)


@pytest.mark.parametrize(
    ("steps", "arrows", "message"),
    [
        ([StepBox(1, "S1", "x", "nowhere", "1 d")], [], "unknown lane"),
        ([StepBox(1, "S1", "x", "a", "1 d")], [Arrow(1, 2)], "unknown step"),
        (
            [StepBox(1, "S1", "x", "a", "1 d"), StepBox(1, "S2", "y", "a", "1 d")],
            [],
            "duplicate step",
        ),
    ],
)
def test_inconsistent_input_is_refused(steps, arrows, message):
    with pytest.raises(ValueError, match=message):
        render_swimlane(
            [Lane("a", "A")], steps, arrows, title="t", labels=SWIMLANE_LABELS
        )


def test_a_step_without_a_responsible_stands_in_its_own_lane_at_the_bottom():
    lanes = [Lane("a", "A")]
    steps = [StepBox(1, "S1", "x", "a", "1 d"), StepBox(2, "S2", "y", None, "1 d")]

    _, root = swimlane((lanes, steps, [Arrow(1, 2)]))

    lane_groups = by_class(root, "g", "svg-lane")
    assert [g.get("id") for g in lane_groups] == [
        "swimlane-lane-a",
        "swimlane-unassigned-lane",
    ]
    assert "No responsible yet" in "".join(lane_groups[1].itertext())


def test_a_cycle_in_a_draft_is_drawn_with_a_backward_arrow():
    lanes = [Lane("a", "A"), Lane("b", "B")]
    steps = [StepBox(1, "S1", "x", "a", "1 d"), StepBox(2, "S2", "y", "b", "1 d")]

    _, root = swimlane((lanes, steps, [Arrow(1, 2), Arrow(2, 1)]))

    drawn = by_class(root, "g", "svg-dependency")
    assert [g.get("class") for g in drawn] == [
        "svg-dependency svg-dependency-fs",
        "svg-dependency svg-dependency-fs svg-arrow-back",
    ]


def test_the_same_input_draws_the_same_string():
    first, _ = swimlane(generated_procedure(40, 10))
    second, _ = swimlane(generated_procedure(40, 10))

    assert first == second
    assert gantt()[0] == gantt()[0]


def test_a_forty_step_procedure_in_ten_lanes_stays_readable():
    lanes, steps, arrows = generated_procedure(40, 10)

    _, root = swimlane((lanes, steps, arrows))

    width, height = float(root.get("width")), float(root.get("height"))
    assert 640 <= width <= 40 * (BOX_WIDTH + 64) + 300
    assert 10 * (BOX_HEIGHT + 32) <= height <= 4000
    boxes = [box(g) for g in by_class(root, "g", "svg-step")]
    assert len(boxes) == 40
    for (x1, y1, w1, h1), (x2, y2, w2, h2) in itertools.combinations(boxes, 2):
        overlap = x1 < x2 + w2 and x2 < x1 + w1 and y1 < y2 + h2 and y2 < y1 + h1
        assert not overlap
    assert len(by_class(root, "g", "svg-dependency")) == len(arrows)
    sizes = [float(t.get("font-size", "13")) for t in root.iter(f"{SVG}text")]
    assert min(sizes) >= 12


def test_arrows_never_cross_a_box():
    lanes, steps, arrows = generated_procedure(40, 10)

    _, root = swimlane((lanes, steps, arrows))

    boxes = [box(g) for g in by_class(root, "g", "svg-step")]
    for path in by_class(root, "path", "svg-arrow"):
        points = path_points(path.get("d"))
        for (ax, ay), (bx, by) in itertools.pairwise(points):
            for x, y, w, h in boxes:
                # The segment's bounding box against the box's inside (edges excluded).
                inside_x = min(ax, bx) < x + w - 1 and x + 1 < max(ax, bx)
                inside_y = min(ay, by) < y + h - 1 and y + 1 < max(ay, by)
                assert not (inside_x and inside_y), (path.get("d"), (x, y))


def random_procedure(seed: int) -> tuple[list[Lane], list[StepBox], list[Arrow]]:
    """Any shape a draft can take: empty lanes, unassigned steps, stacked columns,
    long and backward edges, cycles and self-dependencies (every third seed)."""
    rng = random.Random(seed)
    lane_count, step_count = rng.randint(1, 8), rng.randint(0, 40)
    kinds = ("internal", "partner")
    lanes = [Lane(n, f"Lane {n}", kinds[rng.random() < 0.3]) for n in range(lane_count)]
    steps = [
        StepBox(
            n,
            f"S{n}",
            "word " * rng.randint(1, 20),
            rng.choice([*range(lane_count), None]),
            "1 d",
            is_conditional=rng.random() < 0.2,
            requires_evidence=rng.random() < 0.3,
        )
        for n in range(step_count)
    ]
    arrows = []
    for _ in range(rng.randint(0, 2 * step_count)):
        first, second = rng.randrange(step_count), rng.randrange(step_count)
        if first < second or seed % 3 == 0:
            kind = rng.choice(("finish_to_start", "start_to_start"))
            arrows.append(Arrow(first, second, kind, rng.choice((None, "+1 d"))))
    return lanes, steps, arrows


@pytest.mark.parametrize("seed", range(24))
def test_no_procedure_shape_makes_boxes_overlap_or_arrows_cross_them(seed):
    lanes, steps, arrows = random_procedure(seed)

    _, root = swimlane((lanes, steps, arrows))

    boxes = [box(g) for g in by_class(root, "g", "svg-step")]
    assert len(boxes) == len(steps)
    for (x1, y1, w1, h1), (x2, y2, w2, h2) in itertools.combinations(boxes, 2):
        assert not (x1 < x2 + w2 and x2 < x1 + w1 and y1 < y2 + h2 and y2 < y1 + h1)
    paths = by_class(root, "path", "svg-arrow")
    assert len(paths) == len(arrows)
    for path in paths:
        for (ax, ay), (bx, by) in itertools.pairwise(path_points(path.get("d"))):
            for x, y, w, h in boxes:
                inside_x = min(ax, bx) < x + w - 1 and x + 1 < max(ax, bx)
                inside_y = min(ay, by) < y + h - 1 and y + 1 < max(ay, by)
                assert not (inside_x and inside_y)


def test_long_labels_are_cut_with_an_ellipsis_and_kept_whole_in_the_tooltip():
    label = "Prepare and check the packing list, certificate of origin " * 3
    lanes = [Lane("a", "Pengadaan Bahan Baku dan Logistik Masuk Wilayah Timur")]

    _, root = swimlane((lanes, [StepBox(1, "S1", label, "a", "2 d")], []))

    (step,) = by_class(root, "g", "svg-step")
    lines = [t.text for t in by_class(step, "text", "svg-step-label")]
    assert len(lines) == 3
    assert lines[-1].endswith("…")
    assert all(text_width(line, 13) <= BOX_WIDTH - 20 for line in lines)
    assert label.strip() in step.find(f"{SVG}title").text
    (lane,) = by_class(root, "g", "svg-lane")
    assert lane.find(f"{SVG}title").text == lanes[0].label


# --- both drawings -----------------------------------------------------------------


def test_no_drawing_carries_a_style_attribute_or_element():
    for svg in sample_drawings().values():
        assert not re.search(r"\sstyle\s*=", svg)
        root = parse(svg)
        assert not list(root.iter(f"{SVG}style"))
        assert all("style" not in element.attrib for element in root.iter())


def test_the_palette_is_the_style_sheet_palette():
    variables = dict(re.findall(r"--([a-z-]+):\s*(#[0-9a-f]{6});", CSS.read_text()))

    assert {name: variables.get(name) for name in PALETTE} == dict(PALETTE)


def test_the_style_sheet_styles_the_drawings():
    css = CSS.read_text()

    for selector in (".svg-scroll", ".svg-drawing", ".svg-step-link:focus-visible"):
        assert selector in css


# --- gantt -------------------------------------------------------------------------


def x_of(root: ET.Element, moment: datetime, start: datetime, end: datetime) -> float:
    (plot,) = by_class(root, "rect", "svg-plot")
    share = (moment - start) / (end - start)
    return float(plot.get("x")) + float(plot.get("width")) * share


def test_gantt_has_one_row_per_task_in_order():
    rows, _ = shipment_run()

    _, root = gantt()

    drawn = by_class(root, "g", "svg-gantt-row")
    assert [g.get("id") for g in drawn] == [f"gantt-row-{row.id}" for row in rows]
    assert root.get("role") == "group"
    assert root.find(f"{SVG}desc").text == GANTT_LABELS.description


def test_today_and_due_lines_stand_at_their_moments():
    _, frame = shipment_run()

    _, root = gantt()

    (today,) = by_class(root, "line", "svg-today-line")
    (due,) = by_class(root, "line", "svg-due-line")
    expected_today = x_of(root, frame["today"], frame["start"], frame["end"])
    expected_due = x_of(root, frame["due"], frame["start"], frame["end"])
    assert float(today.get("x1")) == pytest.approx(expected_today, abs=0.1)
    assert float(due.get("x1")) == pytest.approx(expected_due, abs=0.1)
    assert due.get("stroke-dasharray") == "6 4"
    assert by_class(root, "text", "svg-today-label")[0].text == "Today"
    assert by_class(root, "text", "svg-due-label")[0].text == "Due 20 Mar 17:00"


def test_lines_outside_the_range_are_left_out():
    _, frame = shipment_run()

    _, root = gantt(due=None, today=frame["end"] + timedelta(days=1))

    assert not by_class(root, "line", "svg-today-line")
    assert not by_class(root, "line", "svg-due-line")


def test_critical_and_done_bars_carry_their_classes_and_colours():
    rows, _ = shipment_run()

    _, root = gantt()

    bars = {
        g.get("data-row-id"): by_class(g, "rect", "svg-bar")[0]
        for g in by_class(root, "g", "svg-gantt-row")
    }
    critical = {
        key for key, bar in bars.items() if "svg-bar-critical" in bar.get("class")
    }
    done = {key for key, bar in bars.items() if "svg-bar-done" in bar.get("class")}
    assert critical == {str(row.id) for row in rows if row.critical}
    assert done == {str(row.id) for row in rows if row.done}
    assert bars["2"].get("fill") == PALETTE["danger"]
    assert bars["1"].get("fill") == PALETTE["success-soft"]
    assert bars["8"].get("fill") == PALETTE["primary"]
    assert "svg-status-in_progress" in bars["2"].get("class").split()


def test_bars_span_their_start_and_finish():
    rows, frame = shipment_run()

    _, root = gantt()

    for row, group in zip(rows, by_class(root, "g", "svg-gantt-row"), strict=True):
        (bar,) = by_class(group, "rect", "svg-bar")
        left = x_of(root, row.bar_start, frame["start"], frame["end"])
        right = x_of(root, row.bar_finish, frame["start"], frame["end"])
        assert float(bar.get("x")) == pytest.approx(left, abs=0.1)
        assert float(bar.get("width")) == pytest.approx(right - left, abs=0.2)


def test_slack_runs_from_the_finish_to_the_latest_finish():
    rows, frame = shipment_run()

    _, root = gantt()

    groups = {g.get("data-row-id"): g for g in by_class(root, "g", "svg-gantt-row")}
    with_slack = {key for key, g in groups.items() if by_class(g, "path", "svg-slack")}
    assert with_slack == {"8"}  # the one task off the critical path and not done
    (slack,) = by_class(groups["8"], "path", "svg-slack")
    finish, latest = (float(v) for v in re.findall(r"[MH]([\d.]+)", slack.get("d"))[:2])
    assert finish == pytest.approx(
        x_of(root, rows[7].bar_finish, frame["start"], frame["end"]), abs=0.1
    )
    assert latest == pytest.approx(
        x_of(root, rows[7].latest_finish, frame["start"], frame["end"]), abs=0.1
    )


def test_short_ranges_tick_each_local_day_and_long_ones_each_week():
    _, frame = shipment_run()

    _, short = gantt()
    long_rows, long_frame = generated_run(60, 10)
    long_svg = render_gantt(
        long_rows, labels=GANTT_LABELS, time_zone="Asia/Jakarta", **long_frame
    )
    long = parse(long_svg)

    day_lines = by_class(short, "line", "svg-grid-day") + by_class(
        short, "line", "svg-grid-week"
    )
    # 1 March 00:00 WIB to 22 March 00:00 WIB: 22 midnights, the first at the left edge.
    assert len(day_lines) == 22
    first = min(float(line.get("x1")) for line in day_lines)
    assert first == pytest.approx(
        x_of(short, frame["start"], frame["start"], frame["end"]), abs=0.1
    )
    day_numbers = [
        t.text for t in by_class(short, "text", "svg-axis-label") if t.text.isdigit()
    ]
    assert day_numbers == [str(day) for day in range(1, 22)]
    long_numbers = [
        int(t.text)
        for t in by_class(long, "text", "svg-axis-label")
        if t.text.isdigit()
    ]
    mondays = [
        day.day
        for day in (
            long_frame["start"].astimezone(JAKARTA).date() + timedelta(days=n)
            for n in range((long_frame["end"] - long_frame["start"]).days + 1)
        )
        if day.weekday() == 0
    ]
    assert long_numbers == mondays[: len(long_numbers)]
    assert len(long_numbers) >= len(mondays) - 1


def test_the_axis_follows_the_organisation_time_zone():
    start = datetime(2026, 3, 1, tzinfo=UTC)
    end = start + timedelta(days=3)
    arguments = {
        "rows": [],
        "start": start,
        "end": end,
        "today": start,
        "due": None,
        "labels": GANTT_LABELS,
    }

    utc = parse(render_gantt(**arguments, time_zone="UTC"))
    jakarta = parse(render_gantt(**arguments, time_zone="Asia/Jakarta"))

    def midnights(root: ET.Element) -> list[float]:
        return sorted(
            float(line.get("x1")) for line in by_class(root, "line", "svg-grid-day")
        )

    day_width = (x_of(utc, end, start, end) - x_of(utc, start, start, end)) / 3
    # Midnight in Jakarta is 17:00 UTC the day before: 7 hours earlier on the axis.
    assert midnights(jakarta)[0] == pytest.approx(
        midnights(utc)[1] - day_width * 7 / 24, abs=0.1
    )


def test_gantt_refuses_naive_datetimes_and_an_empty_range():
    _, frame = shipment_run()

    with pytest.raises(ValueError, match="aware"):
        gantt(today=datetime(2026, 3, 9, 10))
    with pytest.raises(ValueError, match="end after start"):
        gantt(end=frame["start"])


def test_gantt_labels_come_from_the_caller():
    labels = GanttLabels(
        description="Tugas pada garis waktu.",
        today="Hari ini",
        due="Tenggat",
        critical_path="Jalur kritis",
        slack="Kelonggaran",
        done="Selesai",
        scheduled="Terjadwal",
        month_abbreviations=(
            "Jan",
            "Feb",
            "Mar",
            "Apr",
            "Mei",
            "Jun",
            "Jul",
            "Agu",
            "Sep",
            "Okt",
            "Nov",
            "Des",
        ),
    )

    svg, root = gantt(labels=labels)

    texts = {t.text for t in root.iter(f"{SVG}text")}
    assert {"Hari ini", "Tenggat 20 Mar 17:00", "Jalur kritis", "Kelonggaran"} <= texts
    assert "Today" not in svg


def test_non_working_days_are_shaded_from_local_midnight_to_midnight():
    _, frame = shipment_run()
    weekend = {date(2026, 3, 8), date(2026, 3, 7)}

    _, root = gantt(non_working_days=weekend)

    bands = by_class(root, "rect", "svg-non-working")
    assert [band.get("data-date") for band in bands] == ["2026-03-07", "2026-03-08"]
    saturday = datetime(2026, 3, 7, tzinfo=JAKARTA)
    assert float(bands[0].get("x")) == pytest.approx(
        x_of(root, saturday, frame["start"], frame["end"]), abs=0.1
    )
    day_width = x_of(root, saturday + timedelta(days=1), frame["start"], frame["end"])
    day_width -= x_of(root, saturday, frame["start"], frame["end"])
    assert float(bands[0].get("width")) == pytest.approx(day_width, abs=0.2)
    legend = [t.text for t in by_class(root, "g", "svg-legend")[0].iter(f"{SVG}text")]
    assert legend[-1] == "Non-working day"


def test_without_a_calendar_nothing_is_shaded_or_explained():
    _, root = gantt()

    assert not by_class(root, "rect", "svg-non-working")
    assert "Non-working day" not in "".join(root.itertext())
