"""Roles with teeth: the organisation's assignment policy, the rationale of every
assignment, consultations that hold a task until the consulted answered, role
briefings with their acknowledgement, acknowledged role-check warnings and
rebalancing proposals (docs/design-roles.md).

The RACI rows themselves are the chains app's `StepRole` (per procedure version)
and `TaskRole` (the run's copy); this app makes them drive behaviour.
"""

from __future__ import annotations

from django.conf import settings
from django.core.validators import MaxValueValidator, MinValueValidator
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rantai.core.models import Versioned

# --- the policy -------------------------------------------------------------------


class AssignmentRule(models.TextChoices):
    LEAST_LOADED = "least_loaded", _("least loaded first")
    ROUND_ROBIN = "round_robin", _("round robin")


class RoleSettings(Versioned):
    """An organisation's assignment policy and the thresholds of its role checks
    (created with the defaults the first time it is read)."""

    organisation = models.OneToOneField(
        "accounts.Organisation",
        on_delete=models.PROTECT,
        related_name="role_settings",
    )
    assignment_rule = models.CharField(
        _("assignment rule"),
        max_length=20,
        choices=AssignmentRule.choices,
        default=AssignmentRule.LEAST_LOADED,
    )
    require_duty_coverage = models.BooleanField(
        _("only holders whose job description covers the step's duty"),
        default=True,
        help_text=_(
            "When no holder's job description covers the duty, the task is left "
            "for the holders to claim and the role checks show why."
        ),
    )
    load_window_days = models.PositiveSmallIntegerField(
        _("load window (working days)"),
        default=10,
        validators=[MinValueValidator(1), MaxValueValidator(120)],
        help_text=_(
            "Capacity is weighed against the estimated work of the coming working days."
        ),
    )
    consulted_bottleneck_steps = models.PositiveSmallIntegerField(
        _("consulted on more steps than this is a bottleneck"),
        default=8,
        validators=[MinValueValidator(1), MaxValueValidator(1000)],
    )
    briefing_reminder_days = models.PositiveSmallIntegerField(
        _("remind about an unacknowledged briefing after (days)"),
        default=3,
        validators=[MinValueValidator(1), MaxValueValidator(60)],
    )
    escalate_late_tasks = models.BooleanField(
        _("escalate late tasks to the accountable"),
        default=True,
        help_text=_(
            "A task still open when its estimated duration has passed is escalated "
            "to the holders of its accountable position, then to their superior."
        ),
    )

    class Meta:
        verbose_name = _("role settings")
        verbose_name_plural = _("role settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(load_window_days__gte=1) & Q(load_window_days__lte=120),
                name="role_settings_window_in_range",
                violation_error_message=_("The load window is 1 to 120 working days."),
            ),
            models.CheckConstraint(
                condition=Q(consulted_bottleneck_steps__gte=1),
                name="role_settings_bottleneck_positive",
                violation_error_message=_(
                    "The bottleneck threshold must be at least 1."
                ),
            ),
            models.CheckConstraint(
                condition=Q(briefing_reminder_days__gte=1)
                & Q(briefing_reminder_days__lte=60),
                name="role_settings_reminder_in_range",
                violation_error_message=_(
                    "Briefing reminders come after 1 to 60 days."
                ),
            ),
        ]

    def __str__(self) -> str:
        return str(_("Role settings"))


# --- assignments ------------------------------------------------------------------


class AssignmentKind(models.TextChoices):
    AUTOMATIC = "automatic", _("by the policy")
    CLAIMED = "claimed", _("claimed by the holder")
    MANUAL = "manual", _("assigned by hand")
    REBALANCED = "rebalanced", _("rebalanced")


class AssignmentOutcome(models.TextChoices):
    """Why an automatic assignment chose whom it chose (or nobody)."""

    CHOSEN = "chosen", _("chosen among the candidates")
    SOLE_CANDIDATE = "sole_candidate", _("the only candidate")
    PARTY = "party", _("the task belongs to an external party")
    VACANT = "vacant", _("the responsible position has no holder")
    NOT_COVERED = "not_covered", _("no holder's job description covers the duty")
    ALL_AWAY = "all_away", _("every candidate is away")
    NO_LOGIN = "no_login", _("no available candidate can log in")
    KEPT = "kept", _("the task kept its assignee")


class Assignment(models.Model):
    """Why a task has the assignee it has: one row per (re)assignment, appended,
    never changed. The newest row of a task is its current rationale."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    task = models.ForeignKey(
        "chains.Task",
        verbose_name=_("task"),
        on_delete=models.PROTECT,
        related_name="assignments",
    )
    position = models.ForeignKey(
        "org.Position",
        verbose_name=_("responsible position"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    person = models.ForeignKey(
        "org.Person",
        verbose_name=_("assignee"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="assignments",
    )
    previous_person = models.ForeignKey(
        "org.Person",
        verbose_name=_("previous assignee"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    kind = models.CharField(_("how"), max_length=12, choices=AssignmentKind.choices)
    rule = models.CharField(
        _("rule"), max_length=20, choices=AssignmentRule.choices, blank=True
    )
    outcome = models.CharField(
        _("outcome"),
        max_length=20,
        choices=AssignmentOutcome.choices,
        default=AssignmentOutcome.CHOSEN,
    )
    # [{"person": id, "load": minutes, "open": n, "acting": bool, "covers_duty":
    #   bool, "available": bool, "last_assigned": iso | null}], ids only.
    candidates = models.JSONField(_("candidates"), default=list, blank=True)
    minutes = models.PositiveIntegerField(_("estimated work (minutes)"), default=0)
    is_override = models.BooleanField(
        _("override"),
        default=False,
        help_text=_("Assigned by hand to someone outside the candidates."),
    )
    reason = models.TextField(_("reason"), blank=True)
    assigned_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("assigned by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    created_at = models.DateTimeField(_("assigned"))

    class Meta:
        verbose_name = _("assignment")
        verbose_name_plural = _("assignments")
        ordering = ["-created_at", "-id"]
        indexes = [
            models.Index(fields=["task", "-created_at"]),
            models.Index(fields=["organisation", "created_at"]),
            models.Index(fields=["position", "person", "created_at"]),
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(is_override=True) | ~Q(reason=""),
                name="assignment_override_has_reason",
                violation_error_message=_(
                    "Assigning someone outside the candidates needs a reason."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_id} → {self.person_id}"


# --- consultations ----------------------------------------------------------------


class ConsultationStatus(models.TextChoices):
    REQUESTED = "requested", _("waiting for input")
    ANSWERED = "answered", _("answered")
    CANCELLED = "cancelled", _("cancelled")


class Consultation(Versioned):
    """A consulted position's input on one completion round of a task whose step
    requires consultation; the task is not completed before every request of its
    round is answered."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    task = models.ForeignKey(
        "chains.Task",
        verbose_name=_("task"),
        on_delete=models.PROTECT,
        related_name="consultations",
    )
    position = models.ForeignKey(
        "org.Position",
        verbose_name=_("consulted position"),
        on_delete=models.PROTECT,
        related_name="consultations",
    )
    round = models.PositiveIntegerField(_("round"), default=0)
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=ConsultationStatus.choices,
        default=ConsultationStatus.REQUESTED,
    )
    requested_at = models.DateTimeField(_("asked"))
    answer = models.TextField(_("input"), blank=True)
    answered_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("answered by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    answered_at = models.DateTimeField(_("answered"), null=True, blank=True)

    class Meta:
        verbose_name = _("consultation")
        verbose_name_plural = _("consultations")
        ordering = ["task_id", "round", "id"]
        indexes = [models.Index(fields=["organisation", "status", "position"])]
        constraints = [
            models.UniqueConstraint(
                fields=["task", "position", "round"],
                name="consultation_once_per_round",
                violation_error_message=_(
                    "This position is already consulted on this task."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(status="answered")
                | (~Q(answer="") & Q(answered_at__isnull=False)),
                name="consultation_answer_complete",
                violation_error_message=_("An answer needs its text."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.task_id}: {self.position_id}"


# --- briefings --------------------------------------------------------------------


class BriefingReason(models.TextChoices):
    VERSION_PUBLISHED = "version_published", _("a procedure version was published")
    STARTED_HOLDING = "started_holding", _("started holding a position")


class Briefing(Versioned):
    """A person's roles in plain language, frozen when issued, to acknowledge."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    person = models.ForeignKey(
        "org.Person",
        verbose_name=_("person"),
        on_delete=models.PROTECT,
        related_name="briefings",
    )
    reason = models.CharField(_("why"), max_length=20, choices=BriefingReason.choices)
    procedure_version = models.ForeignKey(
        "chains.ProcedureVersion",
        verbose_name=_("procedure version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="briefings",
    )
    holding = models.ForeignKey(
        "org.Holding",
        verbose_name=_("holding"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="briefings",
    )
    # The roles as issued (docs/design-roles.md, "Briefing content"): ids and
    # frozen texts, so a later edit does not change what was acknowledged.
    content = models.JSONField(_("content"), default=dict)
    issued_at = models.DateTimeField(_("issued"))
    acknowledged_at = models.DateTimeField(_("acknowledged"), null=True, blank=True)
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reminders_sent = models.PositiveSmallIntegerField(_("reminders sent"), default=0)
    last_reminded_at = models.DateTimeField(_("last reminded"), null=True, blank=True)

    class Meta:
        verbose_name = _("briefing")
        verbose_name_plural = _("briefings")
        ordering = ["-issued_at", "-id"]
        indexes = [models.Index(fields=["person", "acknowledged_at"])]
        constraints = [
            models.CheckConstraint(
                condition=(Q(procedure_version__isnull=False) & Q(holding__isnull=True))
                | (Q(procedure_version__isnull=True) & Q(holding__isnull=False)),
                name="briefing_about_version_or_holding",
                violation_error_message=_(
                    "A briefing is about a procedure version or a holding."
                ),
            ),
            models.UniqueConstraint(
                fields=["person", "procedure_version"],
                condition=Q(procedure_version__isnull=False),
                name="briefing_once_per_person_version",
                violation_error_message=_(
                    "This person already has a briefing for this version."
                ),
            ),
            models.UniqueConstraint(
                fields=["person", "holding"],
                condition=Q(holding__isnull=False),
                name="briefing_once_per_holding",
                violation_error_message=_(
                    "This person already has a briefing for this position."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.person} ({self.get_reason_display()})"

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged_at is not None


# --- role checks ------------------------------------------------------------------


class CheckRule(models.TextChoices):
    ACCOUNTABLE_COUNT = "accountable_count", _("exactly one accountable")
    DUTY_NOT_COVERED = "duty_not_covered", _("duty in the job description")
    VACANT_POSITION = "vacant_position", _("vacant responsible or accountable")
    OVER_CAPACITY = "over_capacity", _("more work than capacity")
    CONSULTED_BOTTLENECK = "consulted_bottleneck", _("consulted too often")
    EXTERNAL_ACCOUNTABLE = (
        "external_accountable",
        _("outside partner accountable for internal work"),
    )


class CheckAcknowledgement(models.Model):
    """A role-check warning someone accepted, with their reason. It covers the
    finding with the same rule and subject key for as long as it is not withdrawn."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    rule = models.CharField(_("check"), max_length=30, choices=CheckRule.choices)
    subject = models.CharField(_("about"), max_length=120)
    procedure_version = models.ForeignKey(
        "chains.ProcedureVersion",
        verbose_name=_("procedure version"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    reason = models.TextField(_("reason"))
    acknowledged_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("acknowledged by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    acknowledged_at = models.DateTimeField(pgettext_lazy("warning", "acknowledged"))
    withdrawn_at = models.DateTimeField(_("withdrawn"), null=True, blank=True)
    withdrawn_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("withdrawn by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("acknowledged warning")
        verbose_name_plural = _("acknowledged warnings")
        ordering = ["-acknowledged_at", "-id"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "rule", "subject"],
                condition=Q(withdrawn_at__isnull=True),
                name="check_acknowledged_once",
                violation_error_message=_("This warning is already acknowledged."),
            ),
            models.CheckConstraint(
                condition=~Q(reason=""),
                name="check_acknowledgement_has_reason",
                violation_error_message=_("Acknowledging a warning needs a reason."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.rule}: {self.subject}"


# --- rebalancing ------------------------------------------------------------------


class RebalanceStatus(models.TextChoices):
    PROPOSED = "proposed", _("proposed")
    APPLIED = "applied", _("applied")
    DISCARDED = "discarded", _("discarded")


class RebalanceProposal(Versioned):
    """A proposed reassignment of a unit's open tasks that evens out load, to
    preview and apply in one step (it applies only if none of its tasks changed)."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    unit = models.ForeignKey(
        "org.Party",
        verbose_name=_("unit"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(
        _("status"),
        max_length=10,
        choices=RebalanceStatus.choices,
        default=RebalanceStatus.PROPOSED,
    )
    # [{"task": id, "task_version": n, "from": person|null, "to": person,
    #   "minutes": n}]
    moves = models.JSONField(_("moves"), default=list)
    # {"<person id>": minutes} before and after the moves, every person of the unit.
    load_before = models.JSONField(_("load before"), default=dict)
    load_after = models.JSONField(_("load after"), default=dict)
    gini_before = models.DecimalField(
        _("Gini before"), max_digits=6, decimal_places=4, default=0
    )
    gini_after = models.DecimalField(
        _("Gini after"), max_digits=6, decimal_places=4, default=0
    )
    created_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("proposed by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    decided_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("applied or discarded by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    decided_at = models.DateTimeField(_("applied or discarded"), null=True, blank=True)

    class Meta:
        verbose_name = _("rebalancing proposal")
        verbose_name_plural = _("rebalancing proposals")
        ordering = ["-created_at", "-id"]

    def __str__(self) -> str:
        return f"{self.unit} ({self.get_status_display()})"
