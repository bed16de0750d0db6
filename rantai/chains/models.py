"""Chains: working calendars, versioned procedures (steps, roles, dependencies, run
fields), runs toward a target, their tasks and the deviations recorded on them.

A run copies its procedure version's steps and dependencies into tasks, so a
deviation changes the copy and never the procedure. Published versions are frozen.
"""

from __future__ import annotations

import datetime as dt

from django.conf import settings
from django.core.exceptions import ValidationError
from django.core.validators import MinValueValidator
from django.db import models
from django.db.models import F, Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rantai.core.models import Versioned

# --- enumerations -----------------------------------------------------------------


class VersionStatus(models.TextChoices):
    DRAFT = "draft", _("draft")
    PUBLISHED = "published", _("published")
    RETIRED = "retired", _("retired")


class FieldType(models.TextChoices):
    TEXT = "text", _("text")
    INTEGER = "integer", _("whole number")
    DECIMAL = "decimal", _("decimal number")
    DATE = "date", _("date")
    CHOICE = "choice", _("choice")
    BOOLEAN = "boolean", _("yes / no")


class DurationUnit(models.TextChoices):
    WORKING_DAYS = "working_days", _("working days")
    WORKING_HOURS = "working_hours", _("working hours")


class ConditionOperator(models.TextChoices):
    EQ = "eq", _("equals")
    NE = "ne", _("does not equal")
    GT = "gt", _("is greater than")
    GTE = "gte", _("is at least")
    LT = "lt", _("is less than")
    LTE = "lte", _("is at most")
    IN = "in", _("is one of")
    NOT_IN = "not_in", _("is none of")
    IS_TRUE = "is_true", _("is yes")
    IS_FALSE = "is_false", _("is no")


class RaciRole(models.TextChoices):
    RESPONSIBLE = "R", _("Responsible")
    ACCOUNTABLE = "A", _("Accountable")
    CONSULTED = "C", _("Consulted")
    INFORMED = "I", _("Informed")


class DependencyKind(models.TextChoices):
    FINISH_TO_START = "finish_to_start", _("finish to start")
    START_TO_START = "start_to_start", _("start to start")


class RunStatus(models.TextChoices):
    ACTIVE = "active", _("active")
    SUSPENDED = "suspended", _("suspended")
    COMPLETED = "completed", _("completed")
    CANCELLED = "cancelled", _("cancelled")


class RunResult(models.TextChoices):
    NONE = "", _("not finished")
    MET = "met", _("target met")
    MISSED = "missed", _("target missed")


class ScheduleStatus(models.TextChoices):
    ON_TRACK = "on_track", _("on track")
    AT_RISK = "at_risk", _("at risk")
    LATE = "late", _("late")


class TaskStatus(models.TextChoices):
    PENDING = "pending", pgettext_lazy("task status", "pending")
    READY = "ready", _("ready")
    IN_PROGRESS = "in_progress", _("in progress")
    AWAITING = "awaiting", _("awaiting")
    DONE = "done", _("done")
    SKIPPED = "skipped", _("skipped")
    CANCELLED = "cancelled", _("cancelled")


# Task states that satisfy a dependency of each kind, and the final ones.
FINISHED_STATUSES = frozenset({TaskStatus.DONE, TaskStatus.SKIPPED})
STARTED_STATUSES = frozenset(
    {TaskStatus.IN_PROGRESS, TaskStatus.AWAITING, TaskStatus.DONE, TaskStatus.SKIPPED}
)
FINAL_TASK_STATUSES = frozenset(
    {TaskStatus.DONE, TaskStatus.SKIPPED, TaskStatus.CANCELLED}
)
OPEN_TASK_STATUSES = frozenset(
    {TaskStatus.READY, TaskStatus.IN_PROGRESS, TaskStatus.AWAITING}
)
FINAL_RUN_STATUSES = frozenset({RunStatus.COMPLETED, RunStatus.CANCELLED})


class DeviationKind(models.TextChoices):
    SKIP_STEP = "skip_step", _("skip a step")
    ADD_STEP = "add_step", _("add a step")
    REORDER = "reorder", _("change the order")


class DeviationStatus(models.TextChoices):
    REQUESTED = "requested", _("requested")
    CONFIRMED = "confirmed", _("confirmed")
    REJECTED = "rejected", _("rejected")


# --- working calendar -------------------------------------------------------------


def default_working_weekdays() -> list[int]:
    return [0, 1, 2, 3, 4]


class WorkingCalendar(Versioned):
    """An organisation's working days and daily hours (in its time zone).

    Every holiday change bumps the calendar's version, so a calendar is cached by it.
    """

    organisation = models.OneToOneField(
        "accounts.Organisation",
        on_delete=models.PROTECT,
        related_name="working_calendar",
    )
    working_weekdays = models.JSONField(
        _("working days"),
        default=default_working_weekdays,
        help_text=_("0 = Monday … 6 = Sunday"),
    )
    day_start = models.TimeField(_("working day starts"), default=dt.time(8, 0))
    day_end = models.TimeField(_("working day ends"), default=dt.time(16, 0))

    class Meta:
        verbose_name = _("working calendar")
        verbose_name_plural = _("working calendars")
        constraints = [
            models.CheckConstraint(
                condition=Q(day_end__gt=F("day_start")),
                name="working_day_ends_after_it_starts",
                violation_error_message=_("The working day must end after it starts."),
            ),
        ]

    def __str__(self) -> str:
        return str(_("Working calendar"))

    @property
    def minutes_per_day(self) -> int:
        start = self.day_start.hour * 60 + self.day_start.minute
        end = self.day_end.hour * 60 + self.day_end.minute
        return end - start

    def clean(self) -> None:
        days = self.working_weekdays
        if (
            not isinstance(days, list)
            or not days
            or any(not isinstance(d, int) or isinstance(d, bool) for d in days)
            or any(d < 0 or d > 6 for d in days)
            or len(set(days)) != len(days)
        ):
            raise ValidationError(
                {
                    "working_weekdays": _(
                        "Choose at least one working day, each once (0 = Monday … "
                        "6 = Sunday)."
                    )
                }
            )
        self.working_weekdays = sorted(days)


class Holiday(models.Model):
    """A day off for the whole organisation (public holiday or company leave day)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="holidays"
    )
    date = models.DateField(_("date"))
    name = models.CharField(_("name"), max_length=200)

    class Meta:
        verbose_name = _("holiday")
        verbose_name_plural = _("holidays")
        ordering = ["date"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "date"],
                name="one_holiday_per_date_per_org",
                violation_error_message=_("There is already a holiday on this date."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.date.isoformat()} {self.name}"


# --- procedures -------------------------------------------------------------------


class Procedure(Versioned):
    """A standard operating procedure (SOP), owned by a position, in versions."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="procedures"
    )
    code = models.CharField(_("code"), max_length=30)
    name = models.CharField(_("name"), max_length=200)
    owner_position = models.ForeignKey(
        "org.Position",
        verbose_name=_("owner position"),
        on_delete=models.PROTECT,
        related_name="owned_procedures",
    )
    description = models.TextField(_("description"), blank=True)
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("procedure")
        verbose_name_plural = _("procedures")
        ordering = ["name"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "code"],
                name="procedure_code_unique_per_org",
                violation_error_message=_("Another procedure already uses this code."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class ProcedureVersion(Versioned):
    """One version of a procedure: a draft is editable, a published one is frozen."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    procedure = models.ForeignKey(
        Procedure,
        verbose_name=_("procedure"),
        on_delete=models.PROTECT,
        related_name="versions",
    )
    number = models.PositiveIntegerField(_("version number"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=VersionStatus.choices,
        default=VersionStatus.DRAFT,
    )
    notes = models.TextField(_("notes"), blank=True)
    published_at = models.DateTimeField(_("published"), null=True, blank=True)
    published_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("published by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    retired_at = models.DateTimeField(_("retired"), null=True, blank=True)

    class Meta:
        verbose_name = _("procedure version")
        verbose_name_plural = _("procedure versions")
        ordering = ["procedure_id", "-number"]
        constraints = [
            models.UniqueConstraint(
                fields=["procedure", "number"],
                name="version_number_unique_per_procedure",
                violation_error_message=_("This version number is already used."),
            ),
            models.UniqueConstraint(
                fields=["procedure"],
                condition=Q(status="draft"),
                name="one_draft_per_procedure",
                violation_error_message=_("The procedure already has a draft version."),
            ),
            models.UniqueConstraint(
                fields=["procedure"],
                condition=Q(status="published"),
                name="one_published_version_per_procedure",
                violation_error_message=_(
                    "The procedure already has a published version."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.procedure} v{self.number}"

    @property
    def is_draft(self) -> bool:
        return self.status == VersionStatus.DRAFT


class RunField(Versioned):
    """A typed value a run fills in when it starts (e.g. quantity, destination)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    procedure_version = models.ForeignKey(
        ProcedureVersion,
        verbose_name=_("procedure version"),
        on_delete=models.CASCADE,
        related_name="fields",
    )
    key = models.SlugField(_("key"), max_length=50)
    label = models.CharField(_("label"), max_length=200)
    field_type = models.CharField(_("type"), max_length=10, choices=FieldType.choices)
    required = models.BooleanField(_("required"), default=True)
    choices = models.JSONField(_("choices"), default=list, blank=True)
    unit = models.CharField(_("unit"), max_length=50, blank=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("run field")
        verbose_name_plural = _("run fields")
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["procedure_version", "key"],
                name="run_field_key_unique_per_version",
                violation_error_message=_(
                    "Another field of this version uses this key."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.label

    def clean(self) -> None:
        choices = self.choices
        if self.field_type == FieldType.CHOICE:
            if (
                not isinstance(choices, list)
                or not choices
                or any(not isinstance(c, str) or not c.strip() for c in choices)
                or len(set(choices)) != len(choices)
            ):
                raise ValidationError(
                    {"choices": _("A choice field needs a list of distinct choices.")}
                )
        elif choices:
            raise ValidationError({"choices": _("Only a choice field has choices.")})


class Step(Versioned):
    """A step of a procedure version: what is done, how long it takes, when it
    applies (a structured condition on a run field, never evaluated as code)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    procedure_version = models.ForeignKey(
        ProcedureVersion,
        verbose_name=_("procedure version"),
        on_delete=models.CASCADE,
        related_name="steps",
    )
    key = models.SlugField(_("key"), max_length=50)
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    duty = models.ForeignKey(
        "org.Duty",
        verbose_name=_("duty"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="steps",
    )
    duration_value = models.DecimalField(
        _("duration"),
        max_digits=8,
        decimal_places=2,
        validators=[MinValueValidator(0)],
    )
    duration_unit = models.CharField(
        _("duration unit"),
        max_length=15,
        choices=DurationUnit.choices,
        default=DurationUnit.WORKING_DAYS,
    )
    evidence_description = models.TextField(_("evidence to produce"), blank=True)
    requires_evidence = models.BooleanField(_("requires evidence"), default=False)
    requires_verified_evidence = models.BooleanField(
        _("the evidence must be verified"),
        default=False,
        help_text=_(
            "The task is completed only once someone other than the one who "
            "attached it has verified the evidence."
        ),
    )
    requires_approval = models.BooleanField(
        _("requires approval"),
        default=False,
        help_text=_("The task counts as done only once its approval route approves."),
    )
    requires_consultation = models.BooleanField(
        _("requires consultation"),
        default=False,
        help_text=_(
            "The consulted positions are asked for their input when the task is "
            "ready; it is completed only once every one of them answered."
        ),
    )
    condition_field = models.SlugField(
        _("applies when field"), max_length=50, blank=True
    )
    condition_operator = models.CharField(
        _("operator"), max_length=10, choices=ConditionOperator.choices, blank=True
    )
    condition_value = models.JSONField(_("value"), null=True, blank=True)
    sort_order = models.PositiveIntegerField(_("order"), default=0)

    class Meta:
        verbose_name = _("step")
        verbose_name_plural = _("steps")
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["procedure_version", "key"],
                name="step_key_unique_per_version",
                violation_error_message=_(
                    "Another step of this version uses this key."
                ),
            ),
            models.CheckConstraint(
                condition=Q(duration_value__gt=0),
                name="step_duration_positive",
                violation_error_message=_("The duration must be more than zero."),
            ),
            models.CheckConstraint(
                condition=(Q(condition_field="") & Q(condition_operator=""))
                | (~Q(condition_field="") & ~Q(condition_operator="")),
                name="step_condition_complete",
                violation_error_message=_(
                    "A condition needs both a field and an operator."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name

    @property
    def has_condition(self) -> bool:
        return bool(self.condition_field)


class StepRole(models.Model):
    """A RACI row of a step: a position, or (responsible only) an external party."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    step = models.ForeignKey(
        Step, verbose_name=_("step"), on_delete=models.CASCADE, related_name="roles"
    )
    role = models.CharField(_("role"), max_length=1, choices=RaciRole.choices)
    position = models.ForeignKey(
        "org.Position",
        verbose_name=_("position"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="step_roles",
    )
    party = models.ForeignKey(
        "org.Party",
        verbose_name=_("party"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="step_roles",
    )

    class Meta:
        verbose_name = _("step role")
        verbose_name_plural = _("step roles")
        ordering = ["step_id", "role", "id"]
        constraints = [
            models.CheckConstraint(
                condition=(Q(position__isnull=False) & Q(party__isnull=True))
                | (Q(position__isnull=True) & Q(party__isnull=False)),
                name="step_role_names_position_or_party",
                violation_error_message=_(
                    "A step role names either a position or a party, not both."
                ),
            ),
            models.CheckConstraint(
                condition=Q(party__isnull=True) | Q(role="R"),
                name="step_role_party_only_responsible",
                violation_error_message=_(
                    "Only a responsible role can be given to an external party."
                ),
            ),
            models.UniqueConstraint(
                fields=["step", "role", "position"],
                condition=Q(position__isnull=False),
                name="step_role_position_once",
                violation_error_message=_("This position already has this role."),
            ),
            models.UniqueConstraint(
                fields=["step", "role", "party"],
                condition=Q(party__isnull=False),
                name="step_role_party_once",
                violation_error_message=_("This party already has this role."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.role}: {self.position or self.party}"


class StepDependency(Versioned):
    """The successor waits on the predecessor (its finish or its start), plus a lag."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    procedure_version = models.ForeignKey(
        ProcedureVersion,
        verbose_name=_("procedure version"),
        on_delete=models.CASCADE,
        related_name="dependencies",
    )
    predecessor = models.ForeignKey(
        Step,
        verbose_name=_("predecessor"),
        on_delete=models.CASCADE,
        related_name="successor_links",
    )
    successor = models.ForeignKey(
        Step,
        verbose_name=_("successor"),
        on_delete=models.CASCADE,
        related_name="predecessor_links",
    )
    kind = models.CharField(
        _("kind"),
        max_length=20,
        choices=DependencyKind.choices,
        default=DependencyKind.FINISH_TO_START,
    )
    lag_value = models.DecimalField(
        _("lag"),
        max_digits=8,
        decimal_places=2,
        default=0,
        validators=[MinValueValidator(0)],
    )
    lag_unit = models.CharField(
        _("lag unit"),
        max_length=15,
        choices=DurationUnit.choices,
        default=DurationUnit.WORKING_HOURS,
    )

    class Meta:
        verbose_name = _("step dependency")
        verbose_name_plural = _("step dependencies")
        constraints = [
            models.UniqueConstraint(
                fields=["predecessor", "successor"],
                name="step_dependency_once",
                violation_error_message=_("These steps are already linked."),
            ),
            models.CheckConstraint(
                condition=~Q(predecessor=F("successor")),
                name="step_not_own_predecessor",
                violation_error_message=_("A step cannot depend on itself."),
            ),
            models.CheckConstraint(
                condition=Q(lag_value__gte=0),
                name="step_dependency_lag_not_negative",
                violation_error_message=_("The lag cannot be negative."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.predecessor_id} → {self.successor_id}"


# --- targets ----------------------------------------------------------------------


class TargetStatus(models.TextChoices):
    """A target's standing, computed by `chains.targets.roll_up` (never stored)."""

    ON_TRACK = "on_track", _("on track")
    AT_RISK = "at_risk", _("at risk")
    MET = "met", _("met")
    MISSED = "missed", _("missed")


class Target(Versioned):
    """A measurable work target for a period ("10,000 units to Kota A this quarter").

    Set by the organisation (no party) or by one of its parties, owned by a position,
    optionally under a parent target of the same unit. Runs declare the target they
    contribute to; progress and status roll up from them (`chains.targets`).
    """

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="targets"
    )
    parent = models.ForeignKey(
        "self",
        verbose_name=_("part of"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="children",
    )
    party = models.ForeignKey(
        "org.Party",
        verbose_name=_("set by party"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="targets",
        help_text=_("Empty for a target of the whole organisation."),
    )
    name = models.CharField(_("name"), max_length=200)
    description = models.TextField(_("description"), blank=True)
    measure_quantity = models.DecimalField(
        _("target quantity"), max_digits=16, decimal_places=2
    )
    measure_unit = models.CharField(_("unit"), max_length=50)
    period_start = models.DateField(_("period starts"))
    period_end = models.DateField(_("period ends"))
    owner_position = models.ForeignKey(
        "org.Position",
        verbose_name=_("owner position"),
        on_delete=models.PROTECT,
        related_name="owned_targets",
    )
    is_active = models.BooleanField(_("active"), default=True)

    class Meta:
        verbose_name = _("target")
        verbose_name_plural = _("targets")
        ordering = ["period_start", "name"]
        indexes = [models.Index(fields=["organisation", "period_end"])]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "name", "period_start"],
                name="target_name_unique_per_period",
                violation_error_message=_(
                    "Another target with this name starts on the same day."
                ),
            ),
            models.CheckConstraint(
                condition=Q(measure_quantity__gt=0),
                name="target_measure_positive",
                violation_error_message=_(
                    "The target quantity must be more than zero."
                ),
            ),
            models.CheckConstraint(
                condition=Q(period_end__gte=F("period_start")),
                name="target_period_ordered",
                violation_error_message=_("The period cannot end before it starts."),
            ),
            models.CheckConstraint(
                condition=~Q(parent=F("id")),
                name="target_not_own_parent",
                violation_error_message=_("A target cannot be part of itself."),
            ),
        ]

    def __str__(self) -> str:
        return self.name


# --- runs -------------------------------------------------------------------------


class Run(Versioned):
    """One execution of a published procedure version toward a concrete target.

    `version` guards the run's own transitions (suspend, resume, cancel, due date);
    task transitions lock the run row instead, so parallel tasks do not conflict.
    `schedule_revision` counts projection refreshes (a cache key for schedules).
    """

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="runs"
    )
    procedure = models.ForeignKey(
        Procedure,
        verbose_name=_("procedure"),
        on_delete=models.PROTECT,
        related_name="runs",
    )
    procedure_version = models.ForeignKey(
        ProcedureVersion,
        verbose_name=_("procedure version"),
        on_delete=models.PROTECT,
        related_name="runs",
    )
    title = models.CharField(pgettext_lazy("run", "title"), max_length=200)
    objective = models.TextField(_("objective"), blank=True)
    measure_quantity = models.DecimalField(
        _("target quantity"), max_digits=16, decimal_places=2
    )
    measure_unit = models.CharField(_("unit"), max_length=50)
    due_at = models.DateTimeField(_("due"))
    target = models.ForeignKey(
        Target,
        verbose_name=_("contributes to target"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="runs",
    )
    field_values = models.JSONField(_("field values"), default=dict, blank=True)
    status = models.CharField(
        _("status"), max_length=10, choices=RunStatus.choices, default=RunStatus.ACTIVE
    )
    status_reason = models.TextField(_("reason"), blank=True)
    started_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("started by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    started_at = models.DateTimeField(_("started"))
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    result = models.CharField(
        _("result"),
        max_length=10,
        choices=RunResult.choices,
        default=RunResult.NONE,
        blank=True,
    )
    result_delay = models.DurationField(_("late by"), null=True, blank=True)
    actual_quantity = models.DecimalField(
        _("actual quantity"), max_digits=16, decimal_places=2, null=True, blank=True
    )
    projected_finish_at = models.DateTimeField(
        _("projected finish"), null=True, blank=True
    )
    schedule_status = models.CharField(
        _("schedule"),
        max_length=10,
        choices=ScheduleStatus.choices,
        default=ScheduleStatus.ON_TRACK,
    )
    schedule_revision = models.PositiveIntegerField(default=0, editable=False)
    hold_minutes = models.PositiveIntegerField(
        _("held up by open obstacles (working minutes)"),
        default=0,
        editable=False,
        help_text="The expected delay of the run's open obstacles on the run as a "
        "whole: every unfinished task is projected that much later.",
    )

    class Meta:
        verbose_name = _("run")
        verbose_name_plural = _("runs")
        ordering = ["-started_at", "-id"]
        indexes = [
            models.Index(fields=["organisation", "status", "due_at"]),
            models.Index(fields=["organisation", "schedule_status"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(measure_quantity__gt=0),
                name="run_measure_positive",
                violation_error_message=_(
                    "The target quantity must be more than zero."
                ),
            ),
            models.CheckConstraint(
                condition=Q(status="completed", completed_at__isnull=False)
                | (~Q(status="completed") & Q(result="")),
                name="run_result_only_when_completed",
                violation_error_message=_(
                    "Only a completed run has a completion time and a result."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_final(self) -> bool:
        return self.status in FINAL_RUN_STATUSES


class Task(Versioned):
    """A run's copy of a step. Its state changes only through the chains services."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    run = models.ForeignKey(
        Run, verbose_name=_("run"), on_delete=models.PROTECT, related_name="tasks"
    )
    step = models.ForeignKey(
        Step,
        verbose_name=_("step"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="tasks",
        help_text=_("Empty for a step added to this run by a deviation."),
    )
    added_by_deviation = models.ForeignKey(
        "chains.Deviation",
        verbose_name=_("added by deviation"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="added_tasks",
    )
    key = models.SlugField(_("key"), max_length=50)
    name = models.CharField(_("name"), max_length=200)
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    duration_minutes = models.PositiveIntegerField(_("duration (working minutes)"))
    path_to_end_minutes = models.PositiveIntegerField(
        default=0,
        editable=False,
        help_text="Longest path from this task's start to the end of the run "
        "(working minutes): the projection reads it for the tasks in flight.",
    )
    delay_minutes = models.PositiveIntegerField(
        _("expected delay from open obstacles (working minutes)"),
        default=0,
        editable=False,
        help_text="Added to the estimate of an unfinished task in every schedule.",
    )
    requires_evidence = models.BooleanField(_("requires evidence"), default=False)
    requires_verified_evidence = models.BooleanField(
        _("the evidence must be verified"), default=False
    )
    requires_approval = models.BooleanField(_("requires approval"), default=False)
    requires_consultation = models.BooleanField(
        _("requires consultation"), default=False
    )
    responsible_position = models.ForeignKey(
        "org.Position",
        verbose_name=_("responsible position"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="responsible_tasks",
    )
    responsible_party = models.ForeignKey(
        "org.Party",
        verbose_name=_("responsible party"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="responsible_tasks",
    )
    accountable_position = models.ForeignKey(
        "org.Position",
        verbose_name=_("accountable position"),
        on_delete=models.PROTECT,
        related_name="accountable_tasks",
    )
    assignee = models.ForeignKey(
        "org.Person",
        verbose_name=_("assignee"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assigned_tasks",
    )
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=TaskStatus.choices,
        default=TaskStatus.PENDING,
    )
    ready_at = models.DateTimeField(_("ready since"), null=True, blank=True)
    started_at = models.DateTimeField(_("started"), null=True, blank=True)
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    skipped_reason = models.TextField(_("why skipped"), blank=True)
    awaiting_reasons = models.JSONField(_("waiting for"), default=list, blank=True)
    flagged_after_reopen = models.BooleanField(
        _("check again: a predecessor was reopened"), default=False
    )
    reopen_count = models.PositiveIntegerField(_("times reopened"), default=0)
    last_reopen_reason = models.TextField(_("why reopened"), blank=True)

    class Meta:
        verbose_name = _("task")
        verbose_name_plural = _("tasks")
        ordering = ["run_id", "sort_order", "id"]
        indexes = [
            models.Index(fields=["run", "status"]),
            models.Index(fields=["organisation", "status", "responsible_position"]),
            models.Index(fields=["organisation", "status", "responsible_party"]),
            models.Index(fields=["assignee", "status"]),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "key"],
                name="task_key_unique_per_run",
                violation_error_message=_("Another task of this run uses this key."),
            ),
            models.CheckConstraint(
                condition=Q(responsible_position__isnull=True)
                | Q(responsible_party__isnull=True),
                name="task_responsible_position_or_party",
                violation_error_message=_(
                    "A task is the responsibility of a position or of a party, not both."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.name


class TaskRole(models.Model):
    """The run's copy of a step's RACI rows (consulted and informed included)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    task = models.ForeignKey(
        Task, verbose_name=_("task"), on_delete=models.PROTECT, related_name="roles"
    )
    role = models.CharField(_("role"), max_length=1, choices=RaciRole.choices)
    position = models.ForeignKey(
        "org.Position",
        verbose_name=_("position"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    party = models.ForeignKey(
        "org.Party",
        verbose_name=_("party"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("task role")
        verbose_name_plural = _("task roles")
        ordering = ["task_id", "role", "id"]

    def __str__(self) -> str:
        return f"{self.role}: {self.position_id or self.party_id}"


class TaskDependency(models.Model):
    """The run's copy of a step dependency, lag in working minutes."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    run = models.ForeignKey(Run, on_delete=models.PROTECT, related_name="dependencies")
    predecessor = models.ForeignKey(
        Task, on_delete=models.PROTECT, related_name="successor_links"
    )
    successor = models.ForeignKey(
        Task, on_delete=models.PROTECT, related_name="predecessor_links"
    )
    kind = models.CharField(
        max_length=20,
        choices=DependencyKind.choices,
        default=DependencyKind.FINISH_TO_START,
    )
    lag_minutes = models.PositiveIntegerField(default=0)

    class Meta:
        verbose_name = _("task dependency")
        verbose_name_plural = _("task dependencies")
        constraints = [
            models.UniqueConstraint(
                fields=["predecessor", "successor"],
                name="task_dependency_once",
                violation_error_message=_("These tasks are already linked."),
            ),
            models.CheckConstraint(
                condition=~Q(predecessor=F("successor")),
                name="task_not_own_predecessor",
                violation_error_message=_("A task cannot depend on itself."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.predecessor_id} → {self.successor_id}"


class Deviation(Versioned):
    """A recorded departure from the procedure in one run (skip, add, reorder).

    It needs a reason and the confirmation of someone other than the requester who
    holds the accountable position; it stays on the run forever.
    """

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    run = models.ForeignKey(
        Run, verbose_name=_("run"), on_delete=models.PROTECT, related_name="deviations"
    )
    kind = models.CharField(_("kind"), max_length=10, choices=DeviationKind.choices)
    task = models.ForeignKey(
        Task,
        verbose_name=_("task"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="deviations",
    )
    details = models.JSONField(_("details"), default=dict, blank=True)
    reason = models.TextField(_("reason"))
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("requested by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    requested_at = models.DateTimeField(_("requested"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=DeviationStatus.choices,
        default=DeviationStatus.REQUESTED,
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("decided by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("decided"), null=True, blank=True)
    decision_comment = models.TextField(_("comment"), blank=True)

    class Meta:
        verbose_name = _("deviation")
        verbose_name_plural = _("deviations")
        ordering = ["run_id", "requested_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="deviation_has_reason",
                violation_error_message=_("A deviation needs a reason."),
            ),
            models.CheckConstraint(
                condition=Q(kind="add_step") | Q(task__isnull=False),
                name="deviation_names_task",
                violation_error_message=_(
                    "Skipping or reordering names the task it changes."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} ({self.get_status_display()})"
