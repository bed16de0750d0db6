"""Reads of procedures, runs and tasks, scoped by the caller's access.

External partners see only runs in which their party owns a task, and of those runs
only their own tasks. Every helper runs a fixed number of queries, whatever the
amount of data.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from dataclasses import dataclass, field
from typing import Any

from django.db.models import Exists, OuterRef, Prefetch, Q, QuerySet
from django.utils import timezone

from rantai.accounts.access import Access
from rantai.chains.models import (
    OPEN_TASK_STATUSES,
    Deviation,
    Holiday,
    Procedure,
    ProcedureVersion,
    Run,
    RunField,
    RunStatus,
    Step,
    StepDependency,
    StepRole,
    Task,
    TaskDependency,
    TaskStatus,
)
from rantai.core.errors import NotFound
from rantai.org.models import Holding, Party


def _today(access: Access, now: dt.datetime | None = None) -> dt.date:
    moment = now or timezone.now()
    return moment.astimezone(zoneinfo.ZoneInfo(access.organisation.time_zone)).date()


def _get(qs: QuerySet, pk: int | str) -> Any:
    try:
        return qs.get(pk=int(pk))
    except (ValueError, TypeError, qs.model.DoesNotExist) as error:
        raise NotFound() from error


# --- procedures -------------------------------------------------------------------


def procedures(access: Access) -> QuerySet[Procedure]:
    """Procedures of the organisation (partners: those with a step of their party)."""
    qs = Procedure.objects.filter(organisation=access.organisation).select_related(
        "owner_position"
    )
    if access.partner_party_id is not None:
        qs = qs.filter(
            Exists(
                StepRole.objects.filter(
                    step__procedure_version__procedure=OuterRef("pk"),
                    party_id=access.partner_party_id,
                )
            )
        )
    return qs


def procedure(access: Access, pk: int | str) -> Procedure:
    """One visible procedure, with its owner position and that position's party."""
    return _get(  # type: ignore[no-any-return]
        procedures(access).select_related("owner_position__party"), pk
    )


# A version and its parts are the organisation's own: partners get 404 (they see
# only the steps of their party, through the published version's page).


def version(access: Access, pk: int | str) -> ProcedureVersion:
    """One version of the organisation, with its procedure."""
    access.require_whole_organisation()
    return _get(  # type: ignore[no-any-return]
        ProcedureVersion.objects.filter(
            organisation=access.organisation
        ).select_related("organisation", "procedure", "procedure__owner_position"),
        pk,
    )


def run_field(access: Access, pk: int | str) -> RunField:
    """One run field, with its version and procedure."""
    access.require_whole_organisation()
    return _get(  # type: ignore[no-any-return]
        RunField.objects.filter(organisation=access.organisation).select_related(
            "procedure_version__procedure"
        ),
        pk,
    )


def step(access: Access, pk: int | str) -> Step:
    """One step, with its version and procedure."""
    access.require_whole_organisation()
    return _get(  # type: ignore[no-any-return]
        Step.objects.filter(organisation=access.organisation).select_related(
            "procedure_version__procedure"
        ),
        pk,
    )


def step_role(access: Access, pk: int | str) -> StepRole:
    """One RACI row, with its step, version, procedure, position and party."""
    access.require_whole_organisation()
    return _get(  # type: ignore[no-any-return]
        StepRole.objects.filter(organisation=access.organisation).select_related(
            "step__procedure_version__procedure", "position", "party"
        ),
        pk,
    )


def step_dependency(access: Access, pk: int | str) -> StepDependency:
    """One dependency, with its version, procedure and both steps."""
    access.require_whole_organisation()
    return _get(  # type: ignore[no-any-return]
        StepDependency.objects.filter(organisation=access.organisation).select_related(
            "procedure_version__procedure", "predecessor", "successor"
        ),
        pk,
    )


def holidays(access: Access) -> QuerySet[Holiday]:
    """The organisation's holidays (not for partners)."""
    access.require_whole_organisation()
    return Holiday.objects.filter(organisation=access.organisation)


def holiday(access: Access, pk: int | str) -> Holiday:
    return _get(holidays(access), pk)  # type: ignore[no-any-return]


@dataclass
class VersionDetail:
    version: ProcedureVersion
    fields: list[RunField]
    steps: list[Step]
    dependencies: list[StepDependency]


def version_detail(access: Access, pk: int | str) -> VersionDetail:
    """A procedure version with its fields, steps (roles prefetched) and links.

    Five queries.
    """
    access.require_whole_organisation()
    version = _get(
        ProcedureVersion.objects.filter(
            organisation=access.organisation
        ).select_related("procedure", "procedure__owner_position"),
        pk,
    )
    steps = list(
        Step.objects.filter(procedure_version=version)
        .select_related("duty")
        .prefetch_related(
            Prefetch(
                "roles",
                queryset=StepRole.objects.select_related("position", "party"),
            )
        )
        .order_by("sort_order", "id")
    )
    return VersionDetail(
        version=version,
        fields=list(RunField.objects.filter(procedure_version=version)),
        steps=steps,
        dependencies=list(
            StepDependency.objects.filter(procedure_version=version).order_by("id")
        ),
    )


# --- the difference between two versions ------------------------------------------

STEP_COMPARED = (
    "name",
    "description",
    "duty_id",
    "duration_value",
    "duration_unit",
    "evidence_description",
    "requires_evidence",
    "requires_verified_evidence",
    "requires_approval",
    "requires_consultation",
    "condition_field",
    "condition_operator",
    "condition_value",
    "sort_order",
)
FIELD_COMPARED = ("label", "field_type", "required", "choices", "unit", "sort_order")


@dataclass
class StepChange:
    key: str
    changes: dict[str, tuple[Any, Any]] = field(default_factory=dict)
    roles_added: list[str] = field(default_factory=list)
    roles_removed: list[str] = field(default_factory=list)


@dataclass
class VersionDiff:
    """What changed from version `a` to version `b` (steps matched by key)."""

    steps_added: list[str] = field(default_factory=list)
    steps_removed: list[str] = field(default_factory=list)
    steps_changed: list[StepChange] = field(default_factory=list)
    fields_added: list[str] = field(default_factory=list)
    fields_removed: list[str] = field(default_factory=list)
    fields_changed: dict[str, dict[str, tuple[Any, Any]]] = field(default_factory=dict)
    dependencies_added: list[tuple[str, str]] = field(default_factory=list)
    dependencies_removed: list[tuple[str, str]] = field(default_factory=list)
    dependencies_changed: dict[tuple[str, str], dict[str, tuple[Any, Any]]] = field(
        default_factory=dict
    )

    @property
    def is_empty(self) -> bool:
        return not any(
            (
                self.steps_added,
                self.steps_removed,
                self.steps_changed,
                self.fields_added,
                self.fields_removed,
                self.fields_changed,
                self.dependencies_added,
                self.dependencies_removed,
                self.dependencies_changed,
            )
        )


def _role_label(role: StepRole) -> str:
    holder = role.position.code if role.position else role.party.code  # type: ignore[union-attr]
    return f"{role.role}: {holder}"


def _snapshot(version: ProcedureVersion) -> tuple[dict, dict, dict, dict]:
    steps = {s.pk: s for s in Step.objects.filter(procedure_version=version)}
    roles: dict[str, set[str]] = {s.key: set() for s in steps.values()}
    for role in StepRole.objects.filter(step__procedure_version=version).select_related(
        "position", "party"
    ):
        roles[steps[role.step_id].key].add(_role_label(role))
    links = {
        (steps[d.predecessor_id].key, steps[d.successor_id].key): {
            "kind": d.kind,
            "lag_value": d.lag_value,
            "lag_unit": d.lag_unit,
        }
        for d in StepDependency.objects.filter(procedure_version=version)
        if d.predecessor_id in steps and d.successor_id in steps
    }
    fields = {f.key: f for f in RunField.objects.filter(procedure_version=version)}
    return {s.key: s for s in steps.values()}, roles, links, fields


def _changes(a: Any, b: Any, names: tuple[str, ...]) -> dict[str, tuple[Any, Any]]:
    return {
        name: (getattr(a, name), getattr(b, name))
        for name in names
        if getattr(a, name) != getattr(b, name)
    }


def diff_versions(a: ProcedureVersion, b: ProcedureVersion) -> VersionDiff:
    """Structured differences from `a` to `b`: steps (field by field, roles), run
    fields and dependencies. Eight queries."""
    steps_a, roles_a, links_a, fields_a = _snapshot(a)
    steps_b, roles_b, links_b, fields_b = _snapshot(b)
    diff = VersionDiff(
        steps_added=sorted(set(steps_b) - set(steps_a)),
        steps_removed=sorted(set(steps_a) - set(steps_b)),
        fields_added=sorted(set(fields_b) - set(fields_a)),
        fields_removed=sorted(set(fields_a) - set(fields_b)),
        dependencies_added=sorted(set(links_b) - set(links_a)),
        dependencies_removed=sorted(set(links_a) - set(links_b)),
    )
    for key in sorted(set(steps_a) & set(steps_b)):
        change = StepChange(
            key=key,
            changes=_changes(steps_a[key], steps_b[key], STEP_COMPARED),
            roles_added=sorted(roles_b[key] - roles_a[key]),
            roles_removed=sorted(roles_a[key] - roles_b[key]),
        )
        if change.changes or change.roles_added or change.roles_removed:
            diff.steps_changed.append(change)
    for key in sorted(set(fields_a) & set(fields_b)):
        changed = _changes(fields_a[key], fields_b[key], FIELD_COMPARED)
        if changed:
            diff.fields_changed[key] = changed
    for link in sorted(set(links_a) & set(links_b)):
        changed_link = {
            name: (links_a[link][name], links_b[link][name])
            for name in links_a[link]
            if links_a[link][name] != links_b[link][name]
        }
        if changed_link:
            diff.dependencies_changed[link] = changed_link
    return diff


# --- runs -------------------------------------------------------------------------


def runs(
    access: Access,
    *,
    status: str | None = None,
    procedure: int | None = None,
    party: int | None = None,
    schedule_status: str | None = None,
) -> QuerySet[Run]:
    """Runs, newest first, filtered; partners see runs where their party owns a task.

    `party` keeps runs in which the party takes part (it owns a task, or one of its
    positions is responsible for one). One query when evaluated.
    """
    qs = Run.objects.filter(organisation=access.organisation).select_related(
        "procedure", "procedure_version"
    )
    if access.partner_party_id is not None:
        qs = qs.filter(
            Exists(
                Task.objects.filter(
                    run=OuterRef("pk"), responsible_party_id=access.partner_party_id
                )
            )
        )
    if status:
        qs = qs.filter(status=status)
    if procedure:
        qs = qs.filter(procedure_id=procedure)
    if schedule_status:
        qs = qs.filter(schedule_status=schedule_status)
    if party:
        qs = qs.filter(
            Exists(
                Task.objects.filter(run=OuterRef("pk")).filter(
                    Q(responsible_party_id=party)
                    | Q(responsible_position__party_id=party)
                )
            )
        )
    return qs.order_by("-started_at", "-id")


def run(access: Access, pk: int | str) -> Run:
    """One visible run, with its procedure and version."""
    found: Run = _get(runs(access), pk)
    found.organisation = access.organisation  # the same row: saves a query
    return found


def tasks(access: Access) -> QuerySet[Task]:
    """The organisation's tasks; a partner's: those of its own party."""
    qs = Task.objects.filter(organisation=access.organisation)
    if access.partner_party_id is not None:
        qs = qs.filter(responsible_party_id=access.partner_party_id)
    return qs


def task(access: Access, pk: int | str) -> Task:
    """One visible task, with its run, the run's procedure, its assignee and its
    responsible position or party."""
    found: Task = _get(
        tasks(access).select_related(
            "run__procedure",
            "assignee",
            "responsible_position",
            "responsible_party",
        ),
        pk,
    )
    found.run.organisation = access.organisation
    return found


def task_detail(access: Access, pk: int | str) -> Task:
    """One visible task with its roles and its links to the tasks it waits on and
    that wait on it (for a partner: only links between its own tasks). Four
    queries."""
    links = TaskDependency.objects.order_by("id")
    if access.partner_party_id is not None:
        links = links.filter(
            predecessor__responsible_party_id=access.partner_party_id,
            successor__responsible_party_id=access.partner_party_id,
        )
    return _get(  # type: ignore[no-any-return]
        tasks(access).prefetch_related(
            "roles",
            Prefetch("predecessor_links", queryset=links),
            Prefetch("successor_links", queryset=links),
        ),
        pk,
    )


def deviations(access: Access) -> QuerySet[Deviation]:
    """The organisation's deviations; a partner's: those about its own tasks."""
    qs = Deviation.objects.filter(organisation=access.organisation)
    if access.partner_party_id is not None:
        qs = qs.filter(task__responsible_party_id=access.partner_party_id)
    return qs


def deviation(access: Access, pk: int | str) -> Deviation:
    """One visible deviation, with its run, the run's procedure and its task."""
    found: Deviation = _get(
        deviations(access).select_related("run__procedure", "task"), pk
    )
    found.run.organisation = access.organisation
    return found


@dataclass
class RunDetail:
    run: Run
    tasks: list[Task]
    dependencies: list[TaskDependency]
    deviations: list[Deviation]


def run_detail(access: Access, pk: int | str) -> RunDetail:
    """A run with its tasks, dependencies and deviations. Four queries."""
    run = _get(runs(access), pk)
    tasks_qs = Task.objects.filter(run=run).select_related(
        "responsible_position",
        "responsible_party",
        "accountable_position",
        "assignee",
    )
    deviations_qs = Deviation.objects.filter(run=run).select_related(
        "task", "requested_by", "decided_by"
    )
    if access.partner_party_id is not None:
        tasks_qs = tasks_qs.filter(responsible_party_id=access.partner_party_id)
        deviations_qs = deviations_qs.filter(
            task__responsible_party_id=access.partner_party_id
        )
    tasks = list(tasks_qs.order_by("sort_order", "id"))
    visible = {task.pk for task in tasks}
    dependencies = [
        link
        for link in TaskDependency.objects.filter(run=run).order_by("id")
        if link.predecessor_id in visible and link.successor_id in visible
    ]
    return RunDetail(
        run=run,
        tasks=tasks,
        dependencies=dependencies,
        deviations=list(deviations_qs.order_by("requested_at", "id")),
    )


def my_tasks(
    access: Access, *, now: dt.datetime | None = None, include_pending: bool = False
) -> list[Task]:
    """The caller's next actions in active runs: tasks assigned to them, tasks
    they can claim through their current positions (acting included) and, for a
    partner, their party's tasks. With `include_pending`, also those still waiting
    on other tasks (what comes next). One query."""
    statuses = set(OPEN_TASK_STATUSES)
    if include_pending:
        statuses.add(TaskStatus.PENDING)
    qs = Task.objects.filter(
        organisation=access.organisation,
        status__in=statuses,
        run__status=RunStatus.ACTIVE,
    ).select_related("run", "responsible_position", "responsible_party", "assignee")
    if access.partner_party_id is not None:
        qs = qs.filter(responsible_party_id=access.partner_party_id)
    else:
        positions = (
            Holding.objects.current(_today(access, now))
            .filter(
                organisation=access.organisation,
                person__user=access.user,
                person__is_active=True,
            )
            .values("position_id")
        )
        qs = qs.filter(
            Q(assignee__user=access.user)
            | Q(assignee__isnull=True, responsible_position_id__in=positions)
        )
    return list(qs.order_by("run__due_at", "ready_at", "id"))


def parties_in_runs(access: Access) -> QuerySet[Party]:
    """Parties that own a task in some run (for the runs list's party filter)."""
    qs = Party.objects.filter(organisation=access.organisation)
    if access.partner_party_id is not None:
        return qs.filter(pk=access.partner_party_id)
    return qs.filter(
        Q(Exists(Task.objects.filter(responsible_party=OuterRef("pk"))))
        | Q(Exists(Task.objects.filter(responsible_position__party=OuterRef("pk"))))
    ).order_by("name")
