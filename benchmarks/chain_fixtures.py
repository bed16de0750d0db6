"""Shared by the chains benchmarks: a benchmark database, an organisation whose
positions each have one holder with a login, procedures built through the
services, and runs driven through the services the way their users drive them.

`configure()` must run before Django is set up (it picks the database file and a
production-like configuration: DEBUG off, so Django does not record every query).
"""

from __future__ import annotations

import datetime as dt
import os
import secrets
import sys
from collections.abc import Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent


def configure(data_dir: Path, *, fresh: bool) -> Path:
    """Point Django at `data_dir`/rantai.sqlite3 (deleted first when `fresh`) with the
    project's settings (SQLite WAL, IMMEDIATE transactions) and DEBUG off."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "static").mkdir(exist_ok=True)  # STATIC_ROOT (WhiteNoise asks)
    database = data_dir / "rantai.sqlite3"
    if fresh:
        for suffix in ("", "-wal", "-shm"):
            Path(f"{database}{suffix}").unlink(missing_ok=True)
    sys.path.insert(0, str(ROOT))
    os.environ["RANTAI_DATA_DIR"] = str(data_dir)
    os.environ.pop("DATABASE_URL", None)
    os.environ["DJANGO_SETTINGS_MODULE"] = "rantai.settings"
    os.environ["DEBUG"] = "0"
    os.environ["SECRET_KEY"] = secrets.token_urlsafe(64)
    os.environ["ALLOWED_HOSTS"] = "testserver,localhost"
    os.environ["SECURE_SSL_REDIRECT"] = "0"
    os.environ["SESSION_COOKIE_SECURE"] = "0"
    os.environ["CSRF_COOKIE_SECURE"] = "0"
    os.environ["AXES_ENABLED"] = "0"
    os.environ["RANTAI_TESTING"] = "1"  # fast password hashing for the generated users
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)
    return database


def configure_postgresql(url: str, data_dir: Path) -> None:
    """Like `configure`, on the PostgreSQL database `url` (`data_dir` holds the
    static and media folders)."""
    data_dir.mkdir(parents=True, exist_ok=True)
    (data_dir / "static").mkdir(exist_ok=True)  # STATIC_ROOT (WhiteNoise asks)
    sys.path.insert(0, str(ROOT))
    os.environ.update(
        DATABASE_URL=url,
        RANTAI_DATA_DIR=str(data_dir),
        DJANGO_SETTINGS_MODULE="rantai.settings",
        DEBUG="0",
        SECRET_KEY=secrets.token_urlsafe(64),
        ALLOWED_HOSTS="testserver,localhost",
        SECURE_SSL_REDIRECT="0",
        SESSION_COOKIE_SECURE="0",
        CSRF_COOKIE_SECURE="0",
        AXES_ENABLED="0",
        RANTAI_TESTING="1",  # fast password hashing for the generated users
    )
    import django

    django.setup()
    from django.core.management import call_command

    call_command("migrate", interactive=False, verbosity=0)


# --- everything below needs Django set up -------------------------------------------


@dataclass(frozen=True)
class StepDef:
    key: str
    name: str
    position: int  # index into BenchOrg.positions (responsible and accountable)
    duration: str = "1"
    unit: str = "working_days"
    after: Sequence[str] = ()
    condition: tuple[str, str, Any] | None = None


@dataclass
class BenchOrg:
    organisation: Any
    admin: Any
    owner: Any  # the user who starts runs (holds positions[0], the process owner)
    positions: list[Any]
    users_by_person: dict[int, Any] = field(default_factory=dict)


POSITION_TITLES = (
    ("MKT", "Marketing manager"),
    ("PROD", "Production supervisor"),
    ("EXP", "Export clerk"),
    ("WH", "Warehouse head"),
    ("EXP-MGR", "Export manager"),
)


def make_org(
    slug: str,
    *,
    titles: Sequence[tuple[str, str]] = POSITION_TITLES,
    holidays: bool = True,
) -> BenchOrg:
    """An organisation with one unit and positions (code, title), each held by one
    person with a member login; Indonesian public holidays loaded for this year and
    next. The first position's holder starts runs."""
    from rantai.accounts.models import Role
    from rantai.chains import services as chains
    from rantai.org import membership
    from rantai.org import services as org
    from rantai.org.models import PartyKind
    from rantai.testing import make_user

    admin = make_user(f"{slug}-admin")
    organisation = org.create_organisation(
        f"Bench {slug}", slug=slug, actor=admin, time_zone="Asia/Jakarta"
    )
    unit = org.create_party(
        organisation,
        actor=admin,
        kind=PartyKind.INTERNAL_UNIT,
        name="Operations",
        code="OPS",
    )
    bench = BenchOrg(organisation, admin, None, [])
    start = dt.date.today() - dt.timedelta(days=365)
    for code, title in titles:
        position = org.create_position(
            organisation, actor=admin, party=unit, title=title, code=code
        )
        user = make_user(f"{slug}-{code.lower()}")
        membership.add_member(organisation, actor=admin, user=user, role=Role.MEMBER)
        person = org.create_person(
            organisation, actor=admin, full_name=title + " holder", user=user
        )
        org.assign_holder(position, actor=admin, person=person, start_date=start)
        bench.positions.append(position)
        bench.users_by_person[person.pk] = user
        if bench.owner is None:
            bench.owner = user
    if holidays:
        year = dt.date.today().year
        for y in (year, year + 1):
            chains.load_public_holidays(organisation, actor=admin, year=y)
    return bench


def build_procedure(
    bench: BenchOrg,
    *,
    code: str,
    name: str,
    steps: Sequence[StepDef],
    fields: Sequence[dict[str, Any]] = (),
) -> Any:
    """A published procedure version, built step by step through the services."""
    from rantai.chains import services as chains
    from rantai.chains.models import RaciRole

    admin = bench.admin
    procedure = chains.create_procedure(
        bench.organisation,
        actor=admin,
        code=code,
        name=name,
        owner_position=bench.positions[0],
    )
    version = procedure.versions.get()
    for spec in fields:
        chains.add_run_field(version, actor=admin, **spec)
    made = {}
    for step_def in steps:
        condition: dict[str, Any] = {}
        if step_def.condition:
            condition = dict(
                zip(
                    ("condition_field", "condition_operator", "condition_value"),
                    step_def.condition,
                    strict=True,
                )
            )
        step = chains.add_step(
            version,
            actor=admin,
            key=step_def.key,
            name=step_def.name,
            duration_value=step_def.duration,
            duration_unit=step_def.unit,
            **condition,
        )
        position = bench.positions[step_def.position]
        chains.add_step_role(
            step, actor=admin, role=RaciRole.RESPONSIBLE, position=position
        )
        chains.add_step_role(
            step, actor=admin, role=RaciRole.ACCOUNTABLE, position=position
        )
        made[step_def.key] = step
    for step_def in steps:
        for key in step_def.after:
            chains.add_dependency(
                version,
                actor=admin,
                predecessor=made[key],
                successor=made[step_def.key],
            )
    chains.publish(version, actor=admin, expected_version=None)
    version.refresh_from_db()
    return version


# The peer's 5-task shipment chain: three parallel steps, a join, warehouse
# scheduling, then the export manager's approval, which applies when the shipment
# value is above 100 million (always, in the benchmark).
SHIPMENT_FIELDS = (
    {"key": "quantity", "label": "Quantity", "field_type": "integer", "unit": "units"},
    {"key": "destination", "label": "Destination", "field_type": "text"},
    {
        "key": "shipment_value",
        "label": "Shipment value",
        "field_type": "decimal",
        "unit": "IDR",
    },
)
APPROVAL_THRESHOLD = 100_000_000
SHIPMENT_VALUES = {
    "quantity": 500,
    "destination": "Kota A",
    "shipment_value": "250000000",
}
SHIPMENT_STEPS = (
    StepDef("set-target", "Set the sales target", 0, "1"),
    StepDef("produce", "Produce the goods", 1, "5"),
    StepDef("price-shipping", "Price the shipping", 2, "1"),
    StepDef(
        "schedule-shipment",
        "Schedule the shipment",
        3,
        "1",
        after=("set-target", "produce", "price-shipping"),
    ),
    StepDef(
        "approve-shipment",
        "Approve the shipment",
        4,
        "4",
        unit="working_hours",
        after=("schedule-shipment",),
        condition=("shipment_value", "gt", str(APPROVAL_THRESHOLD)),
    ),
)


def shipment_procedure(bench: BenchOrg, code: str = "SHIP") -> Any:
    return build_procedure(
        bench,
        code=code,
        name="Shipment to a customer city",
        steps=SHIPMENT_STEPS,
        fields=SHIPMENT_FIELDS,
    )


def sequential_steps(count: int) -> list[StepDef]:
    return [
        StepDef(
            f"s{i:03d}",
            f"Step {i}",
            i % 5,
            "1",
            unit="working_hours",
            after=(f"s{i - 1:03d}",) if i else (),
        )
        for i in range(count)
    ]


def parallel_steps(width: int) -> list[StepDef]:
    """A split step, `width` parallel steps, a join step."""
    middle = [
        StepDef(f"p{i:03d}", f"Parallel {i}", i % 5, "1", after=("split",))
        for i in range(width)
    ]
    return [
        StepDef("split", "Split", 0, "1"),
        *middle,
        StepDef("join", "Join", 4, "1", after=tuple(s.key for s in middle)),
    ]


# --- driving runs ---------------------------------------------------------------------


def start_run(
    bench: BenchOrg, version: Any, *, title: str, values: dict[str, Any] | None = None
) -> Any:
    from django.utils import timezone

    from rantai.chains import services as chains

    return chains.start_run(
        version,
        actor=bench.owner,
        title=title,
        objective="Deliver the order",
        measure_quantity=500,
        measure_unit="units",
        due_at=timezone.now() + dt.timedelta(days=120),
        field_values=values or {},
    )


def ready_tasks(run_id: int) -> list[tuple[int, int | None]]:
    from rantai.chains.models import Task, TaskStatus

    return list(
        Task.objects.filter(run_id=run_id, status=TaskStatus.READY)
        .order_by("sort_order", "id")
        .values_list("pk", "assignee_id")
    )


def ready_task_objects(run_id: int) -> list[Any]:
    """The run's ready tasks, whole model instances, in one query (like Spiff's
    `get_tasks(state=READY)`); a raw query, so Django's query compiler (about a
    millisecond per query here) is not what gets timed."""
    from rantai.chains.models import Task, TaskStatus

    return list(
        Task.objects.raw(
            f"SELECT * FROM {Task._meta.db_table} WHERE run_id = %s AND status = %s "
            "ORDER BY sort_order, id",
            [run_id, TaskStatus.READY],
        )
    )


def work_through(bench: BenchOrg, run: Any, *, start_first: bool) -> int:
    """Complete every task of the run, a wave of ready tasks at a time: each wave
    is loaded in one query, then each task is completed through the service as its
    assignee with the version it was loaded with (`start_first`: started, then
    completed — two actions). The number of tasks completed."""
    from rantai.chains import services as chains

    done = 0
    while ready := ready_task_objects(run.pk):
        for task in ready:
            user = bench.users_by_person[task.assignee_id]
            if start_first:
                chains.start_task(task, actor=user, expected_version=task.version)
            chains.complete_task(task, actor=user, expected_version=task.version)
            done += 1
    return done


def act(bench: BenchOrg, task_id: int, assignee_id: int | None, action: Any) -> Any:
    """One user action on a task, as a request does it: load the task, call the
    service as its assignee with the version it saw."""
    from rantai.chains.models import Task

    task = Task.objects.get(pk=task_id)
    user = bench.users_by_person[assignee_id]  # type: ignore[index]
    return action(task, actor=user, expected_version=task.version)


def drive(bench: BenchOrg, run: Any) -> int:
    """Start and complete every ready task until the run completes; the number of
    tasks completed."""
    from rantai.chains import services as chains

    done = 0
    while ready := ready_tasks(run.pk):
        for task_id, assignee_id in ready:
            act(bench, task_id, assignee_id, chains.start_task)
            act(bench, task_id, assignee_id, chains.complete_task)
            done += 1
    return done


def drive_timed(bench: BenchOrg, run: Any) -> list[float]:
    """Like `drive`, timing each task's two actions (seconds per task, in order)."""
    from time import perf_counter

    from rantai.chains import services as chains

    times = []
    while ready := ready_tasks(run.pk):
        for task_id, assignee_id in ready:
            started = perf_counter()
            act(bench, task_id, assignee_id, chains.start_task)
            act(bench, task_id, assignee_id, chains.complete_task)
            times.append(perf_counter() - started)
    return times


def check_completed(run_ids: Sequence[int], tasks_per_run: int) -> None:
    """Every run completed with all its tasks done (outside the timed part)."""
    from django.db.models import Count, Q

    from rantai.chains.models import Run, RunStatus, TaskStatus

    rows = (
        Run.objects.filter(pk__in=list(run_ids))
        .annotate(done=Count("tasks", filter=Q(tasks__status=TaskStatus.DONE)))
        .values_list("status", "done")
    )
    problems = [
        (status, done)
        for status, done in rows
        if status != RunStatus.COMPLETED or done != tasks_per_run
    ]
    if len(rows) != len(run_ids) or problems:
        raise SystemExit(f"Runs did not complete as expected: {problems[:5]}")
