"""Does the cost of a task grow with the size of the procedure?

Rantai's cost per task — `start_task` then `complete_task` through the services as
the task's assignee, each loading the task first as a request does (see
engine_vs_spiffworkflow.py) — on three procedures:

- the 5-step shipment chain (three parallel steps, a join, warehouse scheduling, an
  approval that applies);
- a 200-step sequential procedure (each step waits on the one before);
- a 50-wide parallel procedure (a split step, 50 parallel steps, a join step).

Instances of the three are interleaved (shuffled within each round) in one process,
on a fresh SQLite file with the project's settings, DEBUG off. Prints per shape the
median, mean and p95 time per task, `start_run` per instance, the SQL statements
per action, and `ratio <shape>: X` = mean per-task time / the 5-step chain's (the
issue's target: at most 1.5). For the 200-step chain it also compares the first and
the last tenth of its tasks.

`--with-spiffworkflow` times SpiffWorkflow on the same three shapes (BPMN generated
here; state-only serialization written to SQLite after every task), for contrast.

    .venv/bin/python benchmarks/engine_scaling.py [--rounds 3] [--with-spiffworkflow]
"""

from __future__ import annotations

import argparse
import gc
import os
import random
import statistics
import sys
import time
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402

DATA_DIR = fx.ROOT / "var" / "bench" / "scaling"
TARGET = 1.5


@dataclass
class Shape:
    name: str
    steps: list[fx.StepDef]
    per_round: int  # instances per round (about the same number of tasks each)
    fields: tuple[dict[str, Any], ...] = ()
    values: dict[str, Any] = field(default_factory=dict)
    version: Any = None
    task_times: list[float] = field(default_factory=list)
    start_times: list[float] = field(default_factory=list)
    first_tenth: list[float] = field(default_factory=list)
    last_tenth: list[float] = field(default_factory=list)
    spiff: Any = None
    spiff_times: list[float] = field(default_factory=list)
    spiff_start_times: list[float] = field(default_factory=list)

    @property
    def tasks(self) -> int:
        return len(self.steps)


def shapes() -> list[Shape]:
    return [
        Shape(
            "5-step shipment chain",
            list(fx.SHIPMENT_STEPS),
            40,
            fx.SHIPMENT_FIELDS,
            fx.SHIPMENT_VALUES,
        ),
        Shape("200-step sequential", fx.sequential_steps(200), 1),
        Shape("50-wide parallel (+split, join)", fx.parallel_steps(50), 4),
    ]


# --- SpiffWorkflow, for contrast ------------------------------------------------------

BPMN_HEAD = """<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    id="d_{pid}" targetNamespace="http://rantai.example/benchmarks">
  <bpmn:process id="{pid}" isExecutable="true">
"""
BPMN_TAIL = "  </bpmn:process>\n</bpmn:definitions>\n"


def _flow(source: str, target: str) -> str:
    return (
        f'    <bpmn:sequenceFlow id="f_{source}_{target}" sourceRef="{source}" '
        f'targetRef="{target}"/>\n'
    )


def _node(tag: str, node_id: str, incoming: list[str], outgoing: list[str]) -> str:
    links = "".join(f"<bpmn:incoming>{f}</bpmn:incoming>" for f in incoming)
    links += "".join(f"<bpmn:outgoing>{f}</bpmn:outgoing>" for f in outgoing)
    return f'    <bpmn:{tag} id="{node_id}">{links}</bpmn:{tag}>\n'


def bpmn_sequential(count: int) -> str:
    names = ["start", *[f"s{i:03d}" for i in range(count)], "end"]
    body = []
    for i, name in enumerate(names):
        incoming = [f"f_{names[i - 1]}_{name}"] if i else []
        outgoing = [f"f_{name}_{names[i + 1]}"] if i < len(names) - 1 else []
        tag = {"start": "startEvent", "end": "endEvent"}.get(name, "userTask")
        body.append(_node(tag, name, incoming, outgoing))
        if outgoing:
            body.append(_flow(name, names[i + 1]))
    return BPMN_HEAD.format(pid="sequential") + "".join(body) + BPMN_TAIL


def bpmn_parallel(width: int) -> str:
    middle = [f"p{i:03d}" for i in range(width)]
    body = [
        _node("startEvent", "start", [], ["f_start_split"]),
        _flow("start", "split"),
        _node("userTask", "split", ["f_start_split"], ["f_split_fork"]),
        _flow("split", "fork"),
        _node(
            "parallelGateway",
            "fork",
            ["f_split_fork"],
            [f"f_fork_{m}" for m in middle],
        ),
        _node(
            "parallelGateway",
            "merge",
            [f"f_{m}_merge" for m in middle],
            ["f_merge_join"],
        ),
        _flow("merge", "join"),
        _node("userTask", "join", ["f_merge_join"], ["f_join_end"]),
        _flow("join", "end"),
        _node("endEvent", "end", ["f_join_end"], []),
    ]
    for m in middle:
        body.append(_flow("fork", m))
        body.append(_node("userTask", m, [f"f_fork_{m}"], [f"f_{m}_merge"]))
        body.append(_flow(m, "merge"))
    return BPMN_HEAD.format(pid="parallel") + "".join(body) + BPMN_TAIL


def attach_spiff(all_shapes: list[Shape]) -> None:
    from engine_vs_spiffworkflow import SpiffEngine

    sources = [
        (None, "shipment"),
        (bpmn_sequential(200), "sequential"),
        (bpmn_parallel(50), "parallel"),
    ]
    for shape, (bpmn, pid) in zip(all_shapes, sources, strict=True):
        options: dict[str, Any] = {"state_only": True, "process_id": pid}
        if bpmn is not None:
            options.update(bpmn=bpmn, start_data={})
        shape.spiff = SpiffEngine(DATA_DIR / f"spiff-{pid}.sqlite3", **options)


# --- measuring ------------------------------------------------------------------------


def one_instance(bench: fx.BenchOrg, shape: Shape, number: int) -> None:
    started = time.perf_counter()
    run = fx.start_run(
        bench, shape.version, title=f"{shape.name} #{number}", values=shape.values
    )
    shape.start_times.append(time.perf_counter() - started)
    times = fx.drive_timed(bench, run)
    if len(times) != shape.tasks:
        raise SystemExit(f"{shape.name}: {len(times)} tasks done, not {shape.tasks}")
    shape.task_times.extend(times)
    tenth = max(1, len(times) // 10)
    shape.first_tenth.extend(times[:tenth])
    shape.last_tenth.extend(times[-tenth:])


def one_spiff_instance(shape: Shape) -> None:
    done, created, times = shape.spiff.run_instance_timed()
    if done != shape.tasks:
        raise SystemExit(f"SpiffWorkflow {shape.name}: {done} tasks, not {shape.tasks}")
    shape.spiff_start_times.append(created)
    shape.spiff_times.extend(times)


def statements(bench: fx.BenchOrg, shape: Shape) -> tuple[int, list[int], list[int]]:
    """SQL statements of start_run and of each start_task / complete_task (loading
    the task, BEGIN and COMMIT included), over one instance."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from rantai.chains import services as chains

    reset_queries()  # the log keeps 9,000 queries at most
    with CaptureQueriesContext(connection) as captured:
        run = fx.start_run(bench, shape.version, title="Counted", values=shape.values)
    starting = len(captured.captured_queries)
    starts, completes = [], []
    while ready := fx.ready_tasks(run.pk):
        for task_id, assignee_id in ready:
            for action, counts in (
                (chains.start_task, starts),
                (chains.complete_task, completes),
            ):
                reset_queries()  # the log keeps 9,000 queries at most
                with CaptureQueriesContext(connection) as captured:
                    fx.act(bench, task_id, assignee_id, action)
                counts.append(len(captured.captured_queries))
    return starting, starts, completes


def p95(values: list[float]) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, round(0.95 * (len(ordered) - 1)))]


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--rounds", type=int, default=3)
    parser.add_argument("--with-spiffworkflow", action="store_true")
    args = parser.parse_args()

    fx.configure(DATA_DIR, fresh=True)
    print("Setting up (not timed) ...", file=sys.stderr, flush=True)
    bench = fx.make_org("bench-scaling")
    all_shapes = shapes()
    for number, shape in enumerate(all_shapes):
        shape.version = fx.build_procedure(
            bench,
            code=f"SHAPE{number}",
            name=shape.name,
            steps=shape.steps,
            fields=shape.fields,
        )
    if args.with_spiffworkflow:
        attach_spiff(all_shapes)
    for shape in all_shapes:  # warm up, then forget the figures
        one_instance(bench, shape, 0)
        if shape.spiff is not None:
            one_spiff_instance(shape)
        shape.task_times.clear()
        shape.start_times.clear()
        shape.first_tenth.clear()
        shape.last_tenth.clear()
        shape.spiff_times.clear()
        shape.spiff_start_times.clear()

    for round_number in range(args.rounds):
        plan = [shape for shape in all_shapes for _ in range(shape.per_round)]
        random.Random(round_number).shuffle(plan)
        gc.collect()
        started = time.perf_counter()
        for number, shape in enumerate(plan, start=1):
            one_instance(bench, shape, number)
            if shape.spiff is not None:
                one_spiff_instance(shape)
        print(
            f"  round {round_number + 1}: {len(plan)} instances in "
            f"{time.perf_counter() - started:.1f} s",
            file=sys.stderr,
            flush=True,
        )

    base = statistics.fmean(all_shapes[0].task_times)
    print(
        f"Rantai: time per task (start_task + complete_task, each loading the task), "
        f"{args.rounds} rounds; load average {os.getloadavg()[0]:.1f} on "
        f"{os.cpu_count()} CPUs"
    )
    print(
        f"  {'procedure':<32} {'tasks':>6} {'median':>9} {'mean':>9} {'p95':>9} "
        f"{'start_run':>10} {'vs 5-step':>9}"
    )
    for shape in all_shapes:
        times = shape.task_times
        mean = statistics.fmean(times)
        print(
            f"  {shape.name:<32} {len(times):>6} "
            f"{statistics.median(times) * 1000:>7.2f}ms {mean * 1000:>7.2f}ms "
            f"{p95(times) * 1000:>7.2f}ms "
            f"{statistics.fmean(shape.start_times) * 1000:>8.1f}ms "
            f"{mean / base:>8.2f}x"
        )
    sequential = all_shapes[1]
    print(
        f"  200-step chain: first tenth of its tasks "
        f"{statistics.fmean(sequential.first_tenth) * 1000:.2f} ms, last tenth "
        f"{statistics.fmean(sequential.last_tenth) * 1000:.2f} ms per task"
    )
    print()
    print("SQL statements per action (min-max over one instance):")
    for shape in all_shapes:
        starting, starts, completes = statements(bench, shape)
        print(
            f"  {shape.name:<32} start_run {starting:>4}   start_task "
            f"{min(starts)}-{max(starts)}   complete_task "
            f"{min(completes)}-{max(completes)}"
        )
    if args.with_spiffworkflow:
        spiff_base = statistics.fmean(all_shapes[0].spiff_times)
        print()
        print(
            "SpiffWorkflow 3.2, state-only serialization to SQLite after every task "
            "(same instances, interleaved):"
        )
        for shape in all_shapes:
            mean = statistics.fmean(shape.spiff_times)
            print(
                f"  {shape.name:<32} mean {mean * 1000:7.2f} ms per task, creating "
                f"{statistics.fmean(shape.spiff_start_times) * 1000:6.1f} ms, "
                f"{mean / spiff_base:5.2f}x the 5-step chain"
            )
    print()
    for shape in all_shapes[1:]:
        ratio = statistics.fmean(shape.task_times) / base
        print(
            f"ratio {shape.name}: {ratio:.2f} (target at most {TARGET}: "
            f"{'met' if ratio <= TARGET else 'NOT met'})"
        )


if __name__ == "__main__":
    main()
