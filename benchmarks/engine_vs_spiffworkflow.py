"""Task completions per second: Rantai's chains engine against SpiffWorkflow.

The peer's 5-task shipment chain — three parallel steps (set the target, produce,
price the shipping), a join, warehouse scheduling, then an approval that applies when
the shipment value is above a threshold (always, here) — run N times per round by

- **SpiffWorkflow** 3.2 (BPMN written below: a parallel gateway, three user tasks, a
  parallel join, a user task, an exclusive gateway whose condition is evaluated, the
  approval user task): each user task is completed (`task.run()`,
  `do_engine_steps()`) and the workflow's *state-only* serialization (the spec is
  parsed once and cached, not serialized) is written to SQLite after every task — one
  table, one row per instance, `UPDATE ... SET state = ?` and a commit. The workflow
  object stays in memory between tasks (it is not read back). For reference the same
  loop with Spiff's default serializer (spec included) is timed too.
- **Rantai**: a procedure with the same 5 steps and dependencies (the approval with
  the condition `shipment_value > 100,000,000`), `start_run`, then a wave of ready
  tasks at a time: the wave loaded in one query (whole Task instances, as Spiff's
  `get_tasks(state=READY)`), each task completed through
  `rantai.chains.services.complete_task` as its assignee with the version it was
  loaded with — one action per task, like Spiff's one `task.run()` (a transaction
  with the run lock, the access check, the compare-and-set, the release of
  successors, a completion guard and event handlers registered for the benchmark
  (they allow / do nothing), the schedule projection and a hash-chained audit
  event). A fresh SQLite file with the project's settings (WAL, IMMEDIATE
  transactions), DEBUG off.

The engines take turns in one process, instance by instance (who goes first
rotates), on the same number of instances; creating an instance (BPMN
workflow or run) is part of the time. Prints task completions per second for each,
`ratio: X` (Rantai / SpiffWorkflow, state-only), and the SQL statements per action.
`--profile` adds where Rantai's `complete_task` spends its time.

    .venv/bin/python benchmarks/engine_vs_spiffworkflow.py [--instances 40]
        [--rounds 5] [--profile] [--also-start-first] [--spiff-reload]

`--also-start-first` adds Rantai starting each task before completing it (two
actions per task); `--spiff-reload` adds
SpiffWorkflow reading its state back from SQLite before every task (as a web
application serving it would).
"""

from __future__ import annotations

import argparse
import cProfile
import gc
import importlib.metadata
import io
import os
import platform
import pstats
import sqlite3
import statistics
import sys
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any
from uuid import UUID

HERE = Path(__file__).resolve().parent
sys.path.insert(0, str(HERE))

import chain_fixtures as fx  # noqa: E402

DATA_DIR = fx.ROOT / "var" / "bench" / "engine"
TASKS_PER_INSTANCE = 5

SHIPMENT_BPMN = f"""<?xml version="1.0" encoding="UTF-8"?>
<bpmn:definitions xmlns:bpmn="http://www.omg.org/spec/BPMN/20100524/MODEL"
    xmlns:xsi="http://www.w3.org/2001/XMLSchema-instance"
    id="shipment_definitions" targetNamespace="http://rantai.example/benchmarks">
  <bpmn:process id="shipment" name="Shipment to a customer city" isExecutable="true">
    <bpmn:startEvent id="start"><bpmn:outgoing>f_start</bpmn:outgoing></bpmn:startEvent>
    <bpmn:sequenceFlow id="f_start" sourceRef="start" targetRef="split"/>
    <bpmn:parallelGateway id="split">
      <bpmn:incoming>f_start</bpmn:incoming>
      <bpmn:outgoing>f_target</bpmn:outgoing>
      <bpmn:outgoing>f_produce</bpmn:outgoing>
      <bpmn:outgoing>f_price</bpmn:outgoing>
    </bpmn:parallelGateway>
    <bpmn:sequenceFlow id="f_target" sourceRef="split" targetRef="set_target"/>
    <bpmn:sequenceFlow id="f_produce" sourceRef="split" targetRef="produce"/>
    <bpmn:sequenceFlow id="f_price" sourceRef="split" targetRef="price_shipping"/>
    <bpmn:userTask id="set_target" name="Set the sales target">
      <bpmn:incoming>f_target</bpmn:incoming><bpmn:outgoing>j_target</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="produce" name="Produce the goods">
      <bpmn:incoming>f_produce</bpmn:incoming><bpmn:outgoing>j_produce</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:userTask id="price_shipping" name="Price the shipping">
      <bpmn:incoming>f_price</bpmn:incoming><bpmn:outgoing>j_price</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="j_target" sourceRef="set_target" targetRef="join"/>
    <bpmn:sequenceFlow id="j_produce" sourceRef="produce" targetRef="join"/>
    <bpmn:sequenceFlow id="j_price" sourceRef="price_shipping" targetRef="join"/>
    <bpmn:parallelGateway id="join">
      <bpmn:incoming>j_target</bpmn:incoming>
      <bpmn:incoming>j_produce</bpmn:incoming>
      <bpmn:incoming>j_price</bpmn:incoming>
      <bpmn:outgoing>f_schedule</bpmn:outgoing>
    </bpmn:parallelGateway>
    <bpmn:sequenceFlow id="f_schedule" sourceRef="join" targetRef="schedule_shipment"/>
    <bpmn:userTask id="schedule_shipment" name="Schedule the shipment">
      <bpmn:incoming>f_schedule</bpmn:incoming><bpmn:outgoing>f_check</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f_check" sourceRef="schedule_shipment"
        targetRef="needs_approval"/>
    <bpmn:exclusiveGateway id="needs_approval" default="f_no_approval">
      <bpmn:incoming>f_check</bpmn:incoming>
      <bpmn:outgoing>f_approval</bpmn:outgoing>
      <bpmn:outgoing>f_no_approval</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f_approval" sourceRef="needs_approval"
        targetRef="approve_shipment">
      <bpmn:conditionExpression xsi:type="bpmn:tFormalExpression"
        >shipment_value &gt; {fx.APPROVAL_THRESHOLD}</bpmn:conditionExpression>
    </bpmn:sequenceFlow>
    <bpmn:sequenceFlow id="f_no_approval" sourceRef="needs_approval" targetRef="merge"/>
    <bpmn:userTask id="approve_shipment" name="Approve the shipment">
      <bpmn:incoming>f_approval</bpmn:incoming><bpmn:outgoing>f_approved</bpmn:outgoing>
    </bpmn:userTask>
    <bpmn:sequenceFlow id="f_approved" sourceRef="approve_shipment" targetRef="merge"/>
    <bpmn:exclusiveGateway id="merge">
      <bpmn:incoming>f_approved</bpmn:incoming>
      <bpmn:incoming>f_no_approval</bpmn:incoming>
      <bpmn:outgoing>f_end</bpmn:outgoing>
    </bpmn:exclusiveGateway>
    <bpmn:sequenceFlow id="f_end" sourceRef="merge" targetRef="end"/>
    <bpmn:endEvent id="end"><bpmn:incoming>f_end</bpmn:incoming></bpmn:endEvent>
  </bpmn:process>
</bpmn:definitions>
"""
SPIFF_START_DATA = {"quantity": 500, "destination": "Kota A", "shipment_value": 250e6}


# --- SpiffWorkflow --------------------------------------------------------------------


class SpiffEngine:
    """SpiffWorkflow driving the shipment BPMN, persisting after each user task."""

    def __init__(
        self,
        database: Path,
        *,
        state_only: bool,
        reload: bool = False,
        bpmn: str = SHIPMENT_BPMN,
        process_id: str = "shipment",
        start_data: dict[str, Any] | None = None,
    ):
        from SpiffWorkflow.bpmn import BpmnWorkflow
        from SpiffWorkflow.bpmn.parser import BpmnParser
        from SpiffWorkflow.bpmn.serializer import BpmnWorkflowSerializer
        from SpiffWorkflow.bpmn.serializer.config import DEFAULT_CONFIG
        from SpiffWorkflow.bpmn.serializer.default.workflow import (
            BpmnWorkflowConverter,
            WorkflowConverter,
        )
        from SpiffWorkflow.util.task import TaskState

        parser = BpmnParser()
        parser.add_bpmn_str(bpmn.encode(), f"{process_id}.bpmn")
        spec = parser.get_spec(process_id)  # parsed once: the cached spec
        subprocess_specs: dict[str, Any] = {}

        class StateOnlyConverter(BpmnWorkflowConverter):
            """The workflow's state without its spec (the reader has it cached)."""

            def to_dict(self, workflow):  # type: ignore[no-untyped-def]
                dct = WorkflowConverter.to_dict(self, workflow)
                dct["spec_name"] = workflow.spec.name
                dct["subprocesses"] = self.mapping_to_dict(workflow.subprocesses)
                dct["bpmn_events"] = self.registry.convert(workflow.bpmn_events)
                return dct

            def from_dict(self, dct):  # type: ignore[no-untyped-def]
                dct.pop("spec_name")
                workflow = self.target_class(spec, subprocess_specs, deserializing=True)
                workflow.tasks = self.mapping_from_dict(
                    dct["tasks"], UUID, workflow=workflow
                )
                workflow.task_tree = workflow.tasks.get(UUID(dct["root"]))
                self.set_default_attributes(workflow, dct)
                self.subprocesses_from_dict(dct["subprocesses"], workflow)
                workflow.bpmn_events = self.registry.restore(dct.pop("bpmn_events", []))
                return workflow

        if state_only:
            config = dict(DEFAULT_CONFIG)
            config[BpmnWorkflow] = StateOnlyConverter
            registry = BpmnWorkflowSerializer.configure(config)
            self.serializer = BpmnWorkflowSerializer(registry)
        else:
            self.serializer = BpmnWorkflowSerializer()
        self.spec = spec
        self.start_data = SPIFF_START_DATA if start_data is None else start_data
        self.workflow_class = BpmnWorkflow
        self.ready = TaskState.READY
        self.reload = reload
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
        self.db = sqlite3.connect(database)
        # The same durability settings as Rantai's SQLite configuration.
        self.db.execute("PRAGMA journal_mode=WAL")
        self.db.execute("PRAGMA synchronous=NORMAL")
        self.db.execute(
            "CREATE TABLE workflow (id INTEGER PRIMARY KEY, state TEXT NOT NULL)"
        )
        self.db.commit()
        self.last_id = 0

    def run_instance(self) -> tuple[int, float]:
        """One instance to the end: (user tasks completed, seconds to create it)."""
        return self.run_instance_timed()[:2]  # type: ignore[return-value]

    def run_instance_timed(self) -> tuple[int, float, list[float]]:
        """(user tasks completed, seconds to create it, seconds per user task)."""
        started = time.perf_counter()
        workflow = self.workflow_class(self.spec)
        workflow.get_tasks(state=self.ready)[0].data.update(self.start_data)
        workflow.do_engine_steps()
        cursor = self.db.execute(
            "INSERT INTO workflow (state) VALUES (?)",
            (self.serializer.serialize_json(workflow),),
        )
        workflow_id = cursor.lastrowid
        self.db.commit()
        created = time.perf_counter() - started
        done = 0
        per_task = []
        while not workflow.is_completed():
            for task in workflow.get_tasks(state=self.ready, manual=True):
                task_started = time.perf_counter()
                if self.reload:
                    workflow = self.load(workflow_id)
                    task = workflow.get_task_from_id(task.id)
                task.run()
                workflow.do_engine_steps()
                self.db.execute(
                    "UPDATE workflow SET state = ? WHERE id = ?",
                    (self.serializer.serialize_json(workflow), workflow_id),
                )
                self.db.commit()
                per_task.append(time.perf_counter() - task_started)
                done += 1
        self.last_id = workflow_id  # type: ignore[assignment]
        return done, created, per_task

    def load(self, workflow_id: int) -> Any:
        (state,) = self.db.execute(
            "SELECT state FROM workflow WHERE id = ?", (workflow_id,)
        ).fetchone()
        return self.serializer.deserialize_json(state)

    def check_last(self) -> None:
        """The last stored state restores (with the cached spec) as completed."""
        workflow = self.load(self.last_id)
        if not workflow.is_completed():
            raise SystemExit("SpiffWorkflow: the stored state is not completed")


# --- Rantai ---------------------------------------------------------------------------


class RantaiEngine:
    def __init__(
        self, slug: str = "bench-engine", *, start_first: bool = False
    ) -> None:
        from rantai.chains import extensions

        self.start_first = start_first
        self.count = 0
        self.run_ids: list[int] = []
        self.bench = fx.make_org(slug)
        self.version = fx.shipment_procedure(self.bench)
        # What the later issues plug in, at its cheapest: one completion guard and
        # one handler per event (they allow / do nothing); registered once, and not
        # at all when the installed apps already registered guards of their own.
        if extensions.registry.completion_guards:
            return
        extensions.register_completion_guard(lambda task: extensions.ALLOW)
        extensions.register_task_ready_handler(lambda event: None)
        extensions.register_task_done_handler(lambda event: None)
        extensions.register_run_completed_handler(lambda event: None)
        extensions.register_run_late_handler(lambda event: None)

    def run_instance(self) -> tuple[int, float]:
        started = time.perf_counter()
        self.count += 1
        run = fx.start_run(
            self.bench,
            self.version,
            title=f"Ship 500 units to Kota A #{self.count}",
            values=fx.SHIPMENT_VALUES,
        )
        created = time.perf_counter() - started
        self.run_ids.append(run.pk)
        return fx.work_through(self.bench, run, start_first=self.start_first), created


# --- timing ---------------------------------------------------------------------------


class Tally:
    def __init__(self, name: str) -> None:
        self.name = name
        self.tasks = 0
        self.seconds = 0.0
        self.creating = 0.0
        self.per_round: list[float] = []

    def add(self, tasks: int, seconds: float, creating: float) -> None:
        self.tasks += tasks
        self.seconds += seconds
        self.creating += creating
        self.per_round.append(tasks / seconds)

    @property
    def rate(self) -> float:
        return self.tasks / self.seconds

    @property
    def completion_rate(self) -> float:
        """Without creating the instances."""
        return self.tasks / (self.seconds - self.creating)


def timed_instance(engine: Any) -> tuple[int, float, float]:
    started = time.perf_counter()
    done, created = engine.run_instance()
    elapsed = time.perf_counter() - started
    if done != TASKS_PER_INSTANCE:
        raise SystemExit(f"{engine}: {done} tasks completed, not {TASKS_PER_INSTANCE}")
    return done, elapsed, created


def count_statements(rantai: RantaiEngine) -> list[tuple[str, int, int]]:
    """SQL statements per action for one run (BEGIN and COMMIT included)."""
    from django.db import connection, reset_queries
    from django.test.utils import CaptureQueriesContext

    from rantai.chains import services as chains
    from rantai.chains.models import Task

    bench = rantai.bench
    reset_queries()  # the log keeps 9,000 queries at most
    with CaptureQueriesContext(connection) as captured:
        run = fx.start_run(
            bench, rantai.version, title="Counted", values=fx.SHIPMENT_VALUES
        )
    rows = [("start_run", len(captured.captured_queries), 0)]
    keys = dict(Task.objects.filter(run=run).values_list("pk", "key"))
    while ready := fx.ready_tasks(run.pk):
        for task_id, assignee_id in ready:
            counts = []
            for action in (chains.start_task, chains.complete_task):
                reset_queries()  # the log keeps 9,000 queries at most
                with CaptureQueriesContext(connection) as captured:
                    fx.act(bench, task_id, assignee_id, action)
                counts.append(len(captured.captured_queries))
            rows.append((keys[task_id], counts[0], counts[1]))
    return rows


# --- where complete_task spends its time ----------------------------------------------

# Steps of complete_task, timed by wrapping the module-level functions it calls
# (each is looked up at call time, so the wrapper sees every call). Nested steps are
# reported inside their parents.
STEPS = (
    (
        "rantai.chains.services",
        "_lock_run_for",
        "lock the run; org, membership, person, calendar",
    ),
    ("rantai.chains.extensions", "check_guards", "completion guards"),
    ("rantai.chains.services", "_transition", "compare-and-set UPDATE of the task"),
    ("rantai.chains.services", "_settle", "release successors (_settle)"),
    ("rantai.chains.projection", "load_frontier", "load the tasks in flight"),
    ("rantai.chains.projection", "refresh", "schedule projection (refresh)"),
    ("rantai.chains.projection", "compute_schedule", "  of which: CPM on frontier"),
    ("rantai.audit.services", "record_many", "audit event (hash chain)"),
)


def breakdown(rantai: RantaiEngine, runs: int) -> None:
    import importlib

    from django.db import connection

    from rantai.chains import services as chains
    from rantai.chains.models import Task

    spent: dict[str, float] = defaultdict(float)
    active = [False]  # only complete_task's own calls count
    patched: list[tuple[Any, str, Any]] = []

    def wrap(label: str, function: Callable[..., Any]) -> Callable[..., Any]:
        def timed_call(*args: Any, **kwargs: Any) -> Any:
            if not active[0]:
                return function(*args, **kwargs)
            started = time.perf_counter()
            try:
                return function(*args, **kwargs)
            finally:
                spent[label] += time.perf_counter() - started

        return timed_call

    for module_name, name, label in STEPS:
        module = importlib.import_module(module_name)
        original = getattr(module, name)
        patched.append((module, name, original))
        setattr(module, name, wrap(label, original))
    # The projection imports compute_schedule by name; the audit module is imported
    # as `audit` by services (same module object, so the attribute patch holds).
    sql = {"seconds": 0.0, "statements": 0}

    def sql_timer(execute, query, params, many, context):  # type: ignore[no-untyped-def]
        started = time.perf_counter()
        try:
            return execute(query, params, many, context)
        finally:
            sql["seconds"] += time.perf_counter() - started
            sql["statements"] += 1

    real_commit = connection.commit
    commit = {"seconds": 0.0}

    def timed_commit() -> None:
        started = time.perf_counter()
        try:
            real_commit()
        finally:
            commit["seconds"] += time.perf_counter() - started

    total = 0.0
    loading = 0.0
    completions = 0
    profiler = cProfile.Profile()
    try:
        for i in range(runs):
            run = fx.start_run(
                rantai.bench,
                rantai.version,
                title=f"Profiled #{i}",
                values=fx.SHIPMENT_VALUES,
            )
            while ready := fx.ready_tasks(run.pk):
                for task_id, assignee_id in ready:
                    fx.act(rantai.bench, task_id, assignee_id, chains.start_task)
                    started = time.perf_counter()
                    task = Task.objects.get(pk=task_id)
                    loading += time.perf_counter() - started
                    user = rantai.bench.users_by_person[assignee_id]
                    connection.commit = timed_commit  # type: ignore[method-assign]
                    with connection.execute_wrapper(sql_timer):
                        active[0] = True
                        started = time.perf_counter()
                        chains.complete_task(
                            task, actor=user, expected_version=task.version
                        )
                        total += time.perf_counter() - started
                        active[0] = False
                    connection.commit = real_commit  # type: ignore[method-assign]
                    completions += 1
        # A cProfile pass over more completions, for the functions themselves.
        for module, name, original in patched:
            setattr(module, name, original)
        patched.clear()
        for i in range(runs):
            run = fx.start_run(
                rantai.bench,
                rantai.version,
                title=f"cProfiled #{i}",
                values=fx.SHIPMENT_VALUES,
            )
            while ready := fx.ready_tasks(run.pk):
                for task_id, assignee_id in ready:
                    fx.act(rantai.bench, task_id, assignee_id, chains.start_task)
                    task = Task.objects.get(pk=task_id)
                    user = rantai.bench.users_by_person[assignee_id]
                    profiler.enable()
                    chains.complete_task(
                        task, actor=user, expected_version=task.version
                    )
                    profiler.disable()
    finally:
        for module, name, original in patched:
            setattr(module, name, original)
        connection.commit = real_commit  # type: ignore[method-assign]

    per = 1000 / completions
    print()
    print(
        f"Where complete_task spends its time ({completions} completions, wall clock, "
        "ms per completion; the request's own task load is outside it):"
    )
    print(f"  {'complete_task total':<44} {total * per:7.3f} ms")
    for _module, _name, label in STEPS:
        share = spent[label] / total * 100
        print(f"  {label:<44} {spent[label] * per:7.3f} ms  {share:5.1f} %")
    print(f"  {'COMMIT':<44} {commit['seconds'] * per:7.3f} ms")
    print(
        f"  SQL executed in SQLite: {sql['statements'] / completions:.1f} statements,"
        f" {sql['seconds'] * per:.3f} ms ({sql['seconds'] / total * 100:.0f} % of the"
        f" total); commit {commit['seconds'] / total * 100:.0f} %; the rest is Python"
        " (ORM query building and compiling, row conversion, the engine, audit"
        " hashing)"
    )
    print(f"  (loading the task before the call: {loading * per:.3f} ms)")
    text = io.StringIO()
    stats = pstats.Stats(profiler, stream=text)
    stats.sort_stats("tottime").print_stats(15)
    print()
    print("cProfile of complete_task, top 15 functions by own time:")
    lines = text.getvalue().splitlines()
    start = next(i for i, line in enumerate(lines) if "ncalls" in line)
    for line in lines[start:]:
        if line.strip():
            print("  " + line.replace(str(fx.ROOT) + "/", "")[:150])
    # Own time grouped by where the code lives.
    groups: dict[str, float] = defaultdict(float)
    grand = 0.0
    for (filename, _line, function), row in stats.stats.items():  # type: ignore[attr-defined]
        own = row[2]
        grand += own
        if "sqlite3." in function or "SQLiteCursorWrapper" in function:
            groups["SQLite (C: execute, fetch, commit)"] += own
        elif "/django/db/models/" in filename:
            groups["Django ORM (queryset, query building, compiling)"] += own
        elif "/django/db/backends/" in filename:
            groups["Django DB backend (cursor wrappers, converters)"] += own
        elif "/rantai/" in filename:
            groups["Rantai code (engine, projection, audit)"] += own
        elif filename == "~":
            groups["builtins (getattr, isinstance, json, hashlib, ...)"] += own
        else:
            groups["other Python (stdlib, Django utils)"] += own
    print()
    print("cProfile own time by where the code lives:")
    for name, own in sorted(groups.items(), key=lambda item: -item[1]):
        print(f"  {name:<52} {own / grand * 100:5.1f} %")


def replay(rantai: RantaiEngine, repeat: int) -> None:
    """complete_task against the same statements replayed as plain SQL.

    One task is completed inside an outer transaction that is rolled back, its SQL
    statements and parameters recorded; then, taking turns, complete_task runs again
    that way and the recorded statements run through Django's cursor (fetching every
    row), each rolled back: the difference is what the ORM and the engine's Python
    cost on top of the database work.
    """
    from django.db import connection, transaction

    from rantai.chains import services as chains
    from rantai.chains.models import Task

    run = fx.start_run(
        rantai.bench, rantai.version, title="Replayed", values=fx.SHIPMENT_VALUES
    )
    task_id, assignee_id = fx.ready_tasks(run.pk)[0]
    fx.act(rantai.bench, task_id, assignee_id, chains.start_task)
    user = rantai.bench.users_by_person[assignee_id]
    recorded: list[tuple[str, Any]] = []

    def record(execute, sql, params, many, context):  # type: ignore[no-untyped-def]
        if not sql.startswith(("SAVEPOINT", "RELEASE", "BEGIN")):
            recorded.append((sql, params))
        return execute(sql, params, many, context)

    def via_services(capture: bool = False) -> float:
        task = Task.objects.get(pk=task_id)
        with transaction.atomic():
            started = time.perf_counter()
            if capture:
                with connection.execute_wrapper(record):
                    chains.complete_task(
                        task, actor=user, expected_version=task.version
                    )
            else:
                chains.complete_task(task, actor=user, expected_version=task.version)
            elapsed = time.perf_counter() - started
            transaction.set_rollback(True)
        return elapsed

    def via_sql() -> float:
        with transaction.atomic():
            started = time.perf_counter()
            with connection.cursor() as cursor:
                for sql, params in recorded:
                    cursor.execute(sql, params)
                    if cursor.description is not None:
                        cursor.fetchall()
            elapsed = time.perf_counter() - started
            transaction.set_rollback(True)
        return elapsed

    via_services(capture=True)
    orm, raw = [], []
    for _ in range(repeat):
        orm.append(via_services())
        raw.append(via_sql())
    orm_ms = statistics.median(orm) * 1000
    raw_ms = statistics.median(raw) * 1000
    print()
    print(
        f"complete_task (median of {repeat}, in a transaction rolled back) "
        f"{orm_ms:.3f} ms; its {len(recorded)} statements replayed as plain SQL "
        f"through Django's cursor {raw_ms:.3f} ms: the ORM and the engine's Python "
        f"are {(orm_ms - raw_ms) / orm_ms * 100:.0f} % of the time."
    )


def spiff_version() -> str:
    return importlib.metadata.version("spiffworkflow")


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument(
        "--instances", type=int, default=40, help="instances per engine per round"
    )
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--profile", action="store_true")
    parser.add_argument("--profile-runs", type=int, default=40)
    parser.add_argument(
        "--also-start-first",
        action="store_true",
        help="also time Rantai starting each task before completing it (two actions)",
    )
    parser.add_argument(
        "--spiff-reload",
        action="store_true",
        help="also time SpiffWorkflow reading its state back before every task",
    )
    args = parser.parse_args()

    fx.configure(DATA_DIR, fresh=True)
    print("Setting up (not timed) ...", file=sys.stderr, flush=True)
    rantai = RantaiEngine()
    contenders: list[tuple[Tally, Any]] = [
        (
            Tally("SpiffWorkflow, state only"),
            SpiffEngine(DATA_DIR / "spiff-state.sqlite3", state_only=True),
        ),
        (
            Tally("SpiffWorkflow, full serializer"),
            SpiffEngine(DATA_DIR / "spiff-full.sqlite3", state_only=False),
        ),
    ]
    if args.spiff_reload:
        contenders.append(
            (
                Tally("SpiffWorkflow, state only, reloaded per task"),
                SpiffEngine(
                    DATA_DIR / "spiff-reload.sqlite3", state_only=True, reload=True
                ),
            )
        )
    if args.also_start_first:
        contenders.append(
            (
                Tally("Rantai, start_task then complete_task"),
                RantaiEngine("bench-engine-two", start_first=True),
            )
        )
    contenders.append((Tally("Rantai (complete_task)"), rantai))
    for _tally, engine in contenders:  # warm up: imports, caches, first queries
        for _ in range(3):
            engine.run_instance()

    print(
        f"Python {platform.python_version()}, SpiffWorkflow {spiff_version()}, "
        f"SQLite {sqlite3.sqlite_version}; {args.rounds} rounds x {args.instances} "
        f"instances x {TASKS_PER_INSTANCE} tasks per engine, taking turns; load "
        f"average {os.getloadavg()[0]:.1f} on {os.cpu_count()} CPUs"
    )
    for round_number in range(args.rounds):
        gc.collect()
        totals = {id(tally): [0, 0.0, 0.0] for tally, _e in contenders}
        for instance in range(args.instances):
            # Instance by instance, the first to go rotating: whatever else the
            # machine does falls on every engine alike.
            shift = instance % len(contenders)
            for tally, engine in contenders[shift:] + contenders[:shift]:
                for i, value in enumerate(timed_instance(engine)):
                    totals[id(tally)][i] += value
        for tally, _engine in contenders:
            tally.add(*totals[id(tally)])  # type: ignore[arg-type]
        print(
            f"  round {round_number + 1}: "
            + ", ".join(
                f"{tally.name} {tally.per_round[-1]:,.0f}/s" for tally, _e in contenders
            ),
            flush=True,
        )
    for _tally, engine in contenders:
        if isinstance(engine, RantaiEngine):
            fx.check_completed(engine.run_ids, TASKS_PER_INSTANCE)
    for _tally, engine in contenders:
        if isinstance(engine, SpiffEngine):
            engine.check_last()

    print()
    print("Task completions per second (instance creation included; per-round median):")
    for tally, _engine in contenders:
        print(
            f"  {tally.name:<46} {tally.rate:9,.1f}/s  "
            f"(median {statistics.median(tally.per_round):,.1f}/s; "
            f"{tally.seconds / tally.tasks * 1000:.3f} ms per task; without creating "
            f"instances {tally.completion_rate:,.1f}/s)"
        )
    spiff = contenders[0][0]
    ours = contenders[-1][0]
    print(
        f"  completions only (instance creation left out): ratio "
        f"{ours.completion_rate / spiff.completion_rate:.3f}"
    )

    print()
    print(
        "Rantai SQL statements per action (loading the task, BEGIN, COMMIT included):"
    )
    for key, start, complete in count_statements(rantai):
        if key == "start_run":
            print(f"  start_run: {start}")
        else:
            print(f"  {key:<20} start_task {start:3d}   complete_task {complete:3d}")
    if args.profile:
        breakdown(rantai, args.profile_runs)
        replay(rantai, args.profile_runs * 5)
    print()
    print(f"ratio: {ours.rate / spiff.rate:.3f}")


if __name__ == "__main__":
    main()
