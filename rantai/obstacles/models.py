"""Anticipation: obstacles with their impact on the target and their mitigations,
early warnings found by the worker's scan, and blameless reviews
(docs/design-obstacles.md).

An open obstacle's expected delay is carried into the run's schedule through the
chains engine (`Task.delay_minutes` for an obstacle on a task, `Run.hold_minutes`
for one on the whole run), so the projection, the Gantt chart and the "at risk"
status all see it until it is closed.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rantai.core.models import Versioned

# --- settings ---------------------------------------------------------------------


class AnticipationSettings(Versioned):
    """An organisation's thresholds for obstacles and early warnings (created with
    the defaults the first time they are read)."""

    organisation = models.OneToOneField(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    obstacle_response_hours = models.PositiveSmallIntegerField(
        _("an open obstacle escalates after (working hours)"),
        default=16,
        validators=[MinValueValidator(1), MaxValueValidator(2000)],
    )
    slack_warning_percent = models.PositiveSmallIntegerField(
        _("warn when a task has used this much of its slack (%)"),
        default=80,
        validators=[MinValueValidator(1), MaxValueValidator(100)],
    )
    approval_warning_hours = models.PositiveSmallIntegerField(
        _("warn this long before an approval's time limit (working hours)"),
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
    )
    vacancy_horizon_days = models.PositiveSmallIntegerField(
        _("warn about a vacant responsible position this many working days ahead"),
        default=5,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
    )
    evidence_warning_hours = models.PositiveSmallIntegerField(
        _("warn about missing evidence this long before a task is due (working hours)"),
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(500)],
    )

    class Meta:
        verbose_name = _("anticipation settings")
        verbose_name_plural = _("anticipation settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(slack_warning_percent__gte=1)
                & Q(slack_warning_percent__lte=100),
                name="anticipation_slack_percent_in_range",
                violation_error_message=_("The slack threshold is 1 to 100 %."),
            ),
        ]

    def __str__(self) -> str:
        return str(_("Anticipation settings"))


# --- obstacles --------------------------------------------------------------------


class Severity(models.TextChoices):
    LOW = "low", _("low")
    MEDIUM = "medium", _("medium")
    HIGH = "high", _("high")
    CRITICAL = "critical", _("critical")


SEVERE = (Severity.HIGH, Severity.CRITICAL)


class Cause(models.TextChoices):
    """Where an obstacle comes from (for the dashboard's "obstacles by cause")."""

    PARTNER = "partner", _("a partner")
    TRANSPORT = "transport", _("transport")
    MATERIAL = "material", _("material or supply")
    EQUIPMENT = "equipment", _("equipment")
    STAFFING = "staffing", _("staffing")
    INFORMATION = "information", _("missing or wrong information")
    APPROVAL = "approval", _("an approval")
    OUTSIDE = "outside", _("outside conditions")
    OTHER = "other", _("other")


class ObstacleStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("obstacle", "open")
    RESOLVED = "resolved", _("resolved")
    WITHDRAWN = "withdrawn", _("withdrawn")


class Obstacle(Versioned):
    """Something that threatens a run (or one task of it), with the delay it is
    expected to cause. Open until resolved (with a resolution backed by evidence)
    or withdrawn (raised by mistake)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    run = models.ForeignKey(
        "chains.Run",
        verbose_name=pgettext_lazy("procedure", "run"),
        on_delete=models.PROTECT,
        related_name="obstacles",
    )
    task = models.ForeignKey(
        "chains.Task",
        verbose_name=_("task"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="obstacles",
        help_text=_("Empty: the obstacle holds up the whole run."),
    )
    title = models.CharField(_("title"), max_length=200)
    description = models.TextField(_("description"))
    cause = models.CharField(
        _("cause"), max_length=15, choices=Cause.choices, default=Cause.OTHER
    )
    severity = models.CharField(
        _("severity"), max_length=10, choices=Severity.choices, default=Severity.MEDIUM
    )
    expected_delay_minutes = models.PositiveIntegerField(
        _("expected delay (working minutes)")
    )
    records = models.ManyToManyField(
        "evidence.InformationRecord",
        verbose_name=_("supporting information"),
        blank=True,
        related_name="obstacles",
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ObstacleStatus.choices,
        default=ObstacleStatus.OPEN,
    )
    raised_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("raised by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    raised_at = models.DateTimeField(_("raised"))
    respond_by = models.DateTimeField(
        _("escalates if still open at"), null=True, blank=True
    )
    escalation_level = models.PositiveSmallIntegerField(_("escalated"), default=0)
    # The impact computed when it was raised (what-if), kept as it was then.
    impact = models.JSONField(_("impact when raised"), default=dict, blank=True)
    closed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("closed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    closed_at = models.DateTimeField(_("closed"), null=True, blank=True)
    resolution = models.TextField(_("resolution"), blank=True)
    resolution_records = models.ManyToManyField(
        "evidence.InformationRecord",
        verbose_name=_("evidence of the resolution"),
        blank=True,
        related_name="resolved_obstacles",
    )

    class Meta:
        verbose_name = _("obstacle")
        verbose_name_plural = _("obstacles")
        ordering = ["-raised_at", "-id"]
        indexes = [models.Index(fields=["organisation", "status"])]
        constraints = [
            models.CheckConstraint(
                condition=Q(status=ObstacleStatus.OPEN)
                | (Q(closed_at__isnull=False) & ~Q(resolution="")),
                name="obstacle_closed_has_resolution",
                violation_error_message=_(
                    "A closed obstacle says how it was resolved or why it was "
                    "withdrawn."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_open(self) -> bool:
        return self.status == ObstacleStatus.OPEN


class MitigationStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("mitigation", "open")
    DONE = "done", pgettext_lazy("mitigation", "done")
    CANCELLED = "cancelled", pgettext_lazy("mitigation", "cancelled")


class Mitigation(Versioned):
    """An action against an obstacle, with an owner and a due date."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    obstacle = models.ForeignKey(
        Obstacle,
        verbose_name=_("obstacle"),
        on_delete=models.PROTECT,
        related_name="mitigations",
    )
    description = models.TextField(_("action"))
    owner = models.ForeignKey(
        "org.Person",
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="mitigations",
    )
    due_at = models.DateTimeField(_("due"))
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=MitigationStatus.choices,
        default=MitigationStatus.OPEN,
    )
    outcome = models.TextField(_("outcome"), blank=True)
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("created by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    done_at = models.DateTimeField(_("done"), null=True, blank=True)
    done_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("done by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("mitigation")
        verbose_name_plural = _("mitigations")
        ordering = ["due_at", "id"]

    def __str__(self) -> str:
        return self.description[:80]


# --- early warnings ------------------------------------------------------------------


class WarningKind(models.TextChoices):
    SLACK_LOW = "slack_low", _("slack nearly used up")
    RUN_LATE = "run_late", _("projected finish past the target date")
    APPROVAL_DUE = "approval_due", _("approval near its time limit")
    VACANT_POSITION = "vacant_position", _("nobody to do a step due soon")
    EVIDENCE_MISSING = "evidence_missing", _("evidence missing close to the due date")


class EarlyWarning(models.Model):
    """A condition the worker's scan found, while it holds. The scan raises it
    once (one active warning per kind and subject), refreshes its facts, and
    resolves it when the condition no longer holds."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    kind = models.CharField(_("kind"), max_length=20, choices=WarningKind.choices)
    # "task:12", "run:3", "approval:7": one active warning per kind and subject.
    subject_key = models.CharField(max_length=40)
    run = models.ForeignKey(
        "chains.Run",
        verbose_name=pgettext_lazy("procedure", "run"),
        on_delete=models.PROTECT,
        related_name="warnings",
    )
    task = models.ForeignKey(
        "chains.Task",
        verbose_name=_("task"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="warnings",
    )
    # Numbers and names the explanation is written from (in the reader's language).
    facts = models.JSONField(_("facts"), default=dict, blank=True)
    raised_at = models.DateTimeField(_("raised"))
    checked_at = models.DateTimeField(_("last checked"))
    resolved_at = models.DateTimeField(_("resolved"), null=True, blank=True)
    recipients = models.ManyToManyField(
        settings.AUTH_USER_MODEL,
        through="obstacles.WarningRecipient",
        related_name="+",
    )

    class Meta:
        verbose_name = _("early warning")
        verbose_name_plural = _("early warnings")
        ordering = ["-raised_at", "-id"]
        indexes = [models.Index(fields=["organisation", "resolved_at"])]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "kind", "subject_key"],
                condition=Q(resolved_at__isnull=True),
                name="one_active_warning_per_subject",
            )
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.subject_key}"

    @property
    def is_active(self) -> bool:
        return self.resolved_at is None


class WarningRecipient(models.Model):
    """Who a warning is for, and whether they have taken it in."""

    warning = models.ForeignKey(
        EarlyWarning, on_delete=models.CASCADE, related_name="deliveries"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    acknowledged_at = models.DateTimeField(
        pgettext_lazy("warning", "acknowledged"), null=True, blank=True
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["warning", "user"], name="warning_recipient_once"
            )
        ]

    def __str__(self) -> str:
        return f"{self.warning_id} for {self.user_id}"


class WarningScan(models.Model):
    """One pass of the early-warning scan over every organisation's active runs.
    The worker starts one when the latest is older than the scan interval; the
    row written first (under a lock) is how two workers avoid scanning twice."""

    started_at = models.DateTimeField(_("started"))
    finished_at = models.DateTimeField(_("finished"), null=True, blank=True)
    owner = models.CharField(_("worker"), max_length=100, blank=True)
    runs_scanned = models.PositiveIntegerField(_("runs scanned"), default=0)
    raised = models.PositiveIntegerField(_("warnings raised"), default=0)
    refreshed = models.PositiveIntegerField(_("warnings still holding"), default=0)
    resolved = models.PositiveIntegerField(_("warnings resolved"), default=0)

    class Meta:
        verbose_name = _("warning scan")
        verbose_name_plural = _("warning scans")
        ordering = ["-started_at", "-id"]

    def __str__(self) -> str:
        return f"scan {self.started_at:%Y-%m-%d %H:%M}"


# --- reviews ---------------------------------------------------------------------------


class ReviewTrigger(models.TextChoices):
    MISSED_TARGET = "missed_target", _("the run missed its target")
    SEVERE_OBSTACLE = "severe_obstacle", _("a severe obstacle was closed")
    REQUESTED = "requested", _("requested")


class ReviewStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("review", "open")
    COMPLETED = "completed", _("completed")


class Review(Versioned):
    """A blameless review (evaluasi) of a run: what happened (the timeline is
    assembled from the audit trail when read), what contributed, what to change.
    There is deliberately no field for a person to blame."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    run = models.ForeignKey(
        "chains.Run",
        verbose_name=pgettext_lazy("procedure", "run"),
        on_delete=models.PROTECT,
        related_name="reviews",
    )
    obstacle = models.ForeignKey(
        Obstacle,
        verbose_name=_("obstacle"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="reviews",
    )
    trigger = models.CharField(
        _("opened because"), max_length=20, choices=ReviewTrigger.choices
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ReviewStatus.choices,
        default=ReviewStatus.OPEN,
    )
    summary = models.TextField(
        _("what happened"),
        blank=True,
        help_text=_("Describe the conditions and decisions, not who is to blame."),
    )
    learned = models.TextField(_("what we learned"), blank=True)
    opened_at = models.DateTimeField(_("opened"))
    completed_at = models.DateTimeField(_("completed"), null=True, blank=True)
    completed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("completed by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("review")
        verbose_name_plural = _("reviews")
        ordering = ["-opened_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["run", "trigger"],
                condition=Q(obstacle__isnull=True),
                name="one_review_per_run_trigger",
            ),
            models.UniqueConstraint(
                fields=["obstacle"],
                condition=Q(obstacle__isnull=False),
                name="one_review_per_obstacle",
            ),
        ]

    def __str__(self) -> str:
        return f"{self.run} ({self.get_trigger_display()})"


class FactorArea(models.TextChoices):
    STEP = "step", _("a step")
    PROCEDURE_DESIGN = "procedure_design", _("the procedure's design")
    PARTY = "party", _("a party")
    HANDOVER = "handover", _("a handover between steps")
    OUTSIDE = "outside", _("outside conditions")


class ContributingFactor(models.Model):
    """Something that contributed, attributed to a step, the procedure, a party, a
    handover or outside conditions — never to a person."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    review = models.ForeignKey(Review, on_delete=models.CASCADE, related_name="factors")
    area = models.CharField(_("area"), max_length=20, choices=FactorArea.choices)
    task = models.ForeignKey(
        "chains.Task",
        verbose_name=_("step"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    next_task = models.ForeignKey(
        "chains.Task",
        verbose_name=_("handed over to"),
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
    description = models.TextField(_("what contributed"))
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    added_at = models.DateTimeField(_("added"))

    class Meta:
        verbose_name = _("contributing factor")
        verbose_name_plural = _("contributing factors")
        ordering = ["sort_order", "id"]
        constraints = [
            models.CheckConstraint(
                condition=~Q(area=FactorArea.STEP) | Q(task__isnull=False),
                name="factor_step_names_task",
                violation_error_message=_("Choose the step."),
            ),
            models.CheckConstraint(
                condition=~Q(area=FactorArea.PARTY) | Q(party__isnull=False),
                name="factor_party_names_party",
                violation_error_message=_("Choose the party."),
            ),
            models.CheckConstraint(
                condition=~Q(area=FactorArea.HANDOVER)
                | (Q(task__isnull=False) & Q(next_task__isnull=False)),
                name="factor_handover_names_tasks",
                violation_error_message=_(
                    "Choose the step that handed over and the one that received."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.description[:80]


class ActionStatus(models.TextChoices):
    OPEN = "open", pgettext_lazy("action", "open")
    DONE = "done", pgettext_lazy("action", "done")
    CANCELLED = "cancelled", pgettext_lazy("action", "cancelled")


class ActionItem(Versioned):
    """What will change, with an owner. A proposed change to the procedure is
    offered to its next draft version and marked applied there."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    review = models.ForeignKey(Review, on_delete=models.PROTECT, related_name="actions")
    description = models.TextField(_("action"))
    owner = models.ForeignKey(
        "org.Person",
        verbose_name=_("owner"),
        on_delete=models.PROTECT,
        related_name="review_actions",
    )
    due_on = models.DateField(_("due"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ActionStatus.choices,
        default=ActionStatus.OPEN,
    )
    # A proposed change to the procedure (its step, or the procedure as a whole).
    proposes_change = models.BooleanField(
        _("proposes a change to the procedure"), default=False
    )
    step = models.ForeignKey(
        "chains.Step",
        verbose_name=_("step to change"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    applied_in = models.ForeignKey(
        "chains.ProcedureVersion",
        verbose_name=_("taken into version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+"
    )
    done_at = models.DateTimeField(_("done"), null=True, blank=True)

    class Meta:
        verbose_name = _("action item")
        verbose_name_plural = _("action items")
        ordering = ["created_at", "id"]
        constraints = [
            models.CheckConstraint(
                condition=Q(proposes_change=True) | Q(step__isnull=True),
                name="action_step_only_for_change",
                violation_error_message=_(
                    "Only a proposed change to the procedure names a step."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.description[:80]
