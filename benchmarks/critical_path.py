"""Critical path of a generated 10,000-step procedure with 30,000 dependencies.

Generates (seeded) a random DAG: durations of 30 minutes to a working day, edges from
a lower to a higher step index (80 % finish-to-start, 20 % start-to-start, some with
lags). Times, as the median of several runs taking turns:

- ``critical_path_offsets``: Rantai's critical path method on working-minute
  offsets (graph build from the ``DepInput`` list, topological order, forward and
  backward pass, earliest and latest start and finish of every step as dicts, the
  critical path), with the steps and dependencies in procedure order (as a run
  reads them) and, for comparison, in a random order;
- ``compute_schedule``: the full schedule of a run (calendar, UTC datetimes, a
  TaskSchedule per step);
- ``longest_remaining_paths``: the per-version precomputation of the engine;
- networkx's ``dag_longest_path`` with edge weights on the same graph (built before
  timing, so networkx is timed on the longest path alone; node durations are edge
  weights plus an end node).

Prints the figures, checks that both find the same longest path length, and prints
``ratio: X`` = networkx time / Rantai time (procedure order; > 1: Rantai is faster).
The issue's target is under 50 ms for the critical path.

    .venv/bin/python benchmarks/critical_path.py [--repeat 9] [--steps 10000]
        [--dependencies 30000] [--seed 42]
"""

from __future__ import annotations

import argparse
import datetime as dt
import gc
import random
import statistics
import sys
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

import networkx as nx  # noqa: E402

from rantai.chains.calendar import CalendarSpec  # noqa: E402
from rantai.chains.scheduling import (  # noqa: E402
    DepInput,
    TaskInput,
    compute_schedule,
    critical_path_offsets,
    longest_remaining_paths,
)

TARGET_MS = 50.0
END = -1  # networkx end node: every step leads to it, weighted by its duration


def generate(
    steps: int, dependencies: int, seed: int
) -> tuple[dict[int, int], list[DepInput]]:
    rng = random.Random(seed)
    durations = {step: rng.randrange(30, 481, 15) for step in range(steps)}
    pairs: set[tuple[int, int]] = set()
    while len(pairs) < dependencies:
        a, b = rng.sample(range(steps), 2)
        pairs.add((min(a, b), max(a, b)))
    deps = [
        DepInput(
            predecessor,
            successor,
            "start_to_start" if rng.random() < 0.2 else "finish_to_start",
            rng.choice((0, 0, 0, 0, 30, 60, 240, 480)),
        )
        for predecessor, successor in sorted(pairs)
    ]
    return durations, deps


def networkx_graph(durations: dict[int, int], deps: list[DepInput]) -> nx.DiGraph:
    graph = nx.DiGraph()
    graph.add_nodes_from(durations)
    graph.add_node(END)
    for dep in deps:
        weight = dep.lag_minutes
        if dep.kind == "finish_to_start":
            weight += durations[dep.predecessor]
        graph.add_edge(dep.predecessor, dep.successor, weight=weight)
    for step, minutes in durations.items():
        graph.add_edge(step, END, weight=minutes)
    return graph


def medians_ms(
    functions: dict[str, Callable[[], Any]], repeat: int
) -> tuple[dict[str, float], dict[str, Any]]:
    """Median time of each function; the functions take turns, so a busy machine
    slows them alike."""
    results = {name: function() for name, function in functions.items()}  # warm-up
    times: dict[str, list[float]] = {name: [] for name in functions}
    for _ in range(repeat):
        for name, function in functions.items():
            gc.collect()
            started = time.perf_counter()
            function()
            times[name].append(time.perf_counter() - started)
    medians = {name: statistics.median(values) * 1000 for name, values in times.items()}
    return medians, results


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n", 1)[0])
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--dependencies", type=int, default=30_000)
    parser.add_argument("--repeat", type=int, default=9)
    parser.add_argument("--seed", type=int, default=42)
    options = parser.parse_args()

    durations, deps = generate(options.steps, options.dependencies, options.seed)
    # The same procedure listed in a random order, built afresh in that order (as
    # a query with another ORDER BY would): the topological sort has work to do.
    shuffled_steps = list(durations)
    random.Random(options.seed + 1).shuffle(shuffled_steps)
    shuffled = {step: durations[step] for step in shuffled_steps}
    shuffled_deps = [
        DepInput(dep.predecessor, dep.successor, dep.kind, dep.lag_minutes)
        for dep in random.Random(options.seed + 2).sample(deps, len(deps))
    ]
    graph = networkx_graph(durations, deps)
    calendar = CalendarSpec(
        time_zone="Asia/Jakarta",
        working_weekdays=frozenset(range(5)),
        day_start=dt.time(8),
        day_end=dt.time(16),
        holidays=frozenset(),
    )
    now = dt.datetime(2025, 8, 11, 1, tzinfo=dt.UTC)  # Monday 08:00 in Jakarta
    tasks = [TaskInput(step, minutes, "pending") for step, minutes in durations.items()]

    repeat = options.repeat
    medians, results = medians_ms(
        {
            "ours": lambda: critical_path_offsets(durations, deps),
            "shuffled": lambda: critical_path_offsets(shuffled, shuffled_deps),
            "schedule": lambda: compute_schedule(tasks, deps, calendar, now, None),
            "remaining": lambda: longest_remaining_paths(
                list(durations), deps, durations
            ),
            "networkx": lambda: nx.dag_longest_path(graph, weight="weight"),
        },
        repeat,
    )
    ours_ms, offsets = medians["ours"], results["ours"]
    shuffled_ms, shuffled_offsets = medians["shuffled"], results["shuffled"]
    schedule_ms, schedule = medians["schedule"], results["schedule"]
    remaining_ms, remaining = medians["remaining"], results["remaining"]
    networkx_ms, path = medians["networkx"], results["networkx"]

    networkx_length = nx.path_weight(graph, path, weight="weight")
    agree = (
        offsets.finish
        == shuffled_offsets.finish
        == networkx_length
        == max(remaining.values())
        and offsets.critical_path == shuffled_offsets.critical_path
        and len(schedule.tasks) == options.steps
    )
    print(
        f"{options.steps:,} steps, {len(deps):,} dependencies (seed {options.seed}), "
        f"median of {repeat} runs, Python {sys.version.split()[0]}"
    )
    print(
        f"critical path (offsets), procedure order: {ours_ms:7.1f} ms"
        f"  (target < {TARGET_MS:.0f} ms: {'met' if ours_ms < TARGET_MS else 'MISSED'})"
    )
    print(f"critical path (offsets), shuffled order:  {shuffled_ms:7.1f} ms")
    print(f"full schedule with calendar and datetimes: {schedule_ms:6.1f} ms")
    print(f"longest remaining paths (per version):     {remaining_ms:6.1f} ms")
    print(
        f"networkx {nx.__version__} dag_longest_path:          {networkx_ms:6.1f} ms"
        "  (graph built before timing)"
    )
    print(
        f"longest path: {offsets.finish:,} working minutes, "
        f"{len(offsets.critical_path)} steps; "
        f"same length as networkx: {'yes' if agree else 'NO'}"
    )
    print(f"ratio (shuffled order): {networkx_ms / shuffled_ms:.2f}")
    print(f"ratio: {networkx_ms / ours_ms:.2f}")
    return 0 if agree else 1


if __name__ == "__main__":
    sys.exit(main())
