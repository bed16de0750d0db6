"""Workload analysis (analisis beban kerja, ABK) of a unit for a year.

An analysis snapshots the organisation's method (method.py) when it opens, has one
sheet per position of the unit (and its sub-units) and one entry per duty of that
position's job description. Incumbents fill in volumes and standard times, their
superior validates each sheet, the analyst computes and submits the analysis, and the
analyst's superior approves it: the last two through the approval engine (subject
kinds `workload_sheet` and `workload_analysis`). An approved analysis is frozen; a
new revision copies it.

Results are stored on the sheet and the analysis by `services.compute`, so reports
and lists read them without recomputing; per-entry figures are derived on read
(method.py is pure and fast).
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rantai.core.models import Versioned


class Period(models.TextChoices):
    """The period a volume of work (beban kerja) is counted over."""

    DAY = "day", _("per day")
    WEEK = "week", _("per week")
    MONTH = "month", _("per month")
    YEAR = "year", _("per year")


class TimeUnit(models.TextChoices):
    MINUTE = "minute", _("minutes")
    HOUR = "hour", _("hours")


class AnalysisStatus(models.TextChoices):
    COLLECTING = "collecting", _("collecting entries")
    IN_REVIEW = "in_review", _("awaiting approval")
    APPROVED = "approved", _("approved")
    CANCELLED = "cancelled", pgettext_lazy("workload analysis", "cancelled")


OPEN_ANALYSIS_STATUSES = (AnalysisStatus.COLLECTING, AnalysisStatus.IN_REVIEW)


class SheetStatus(models.TextChoices):
    DRAFT = "draft", pgettext_lazy("workload sheet", "being filled in")
    SUBMITTED = "submitted", _("awaiting validation")
    RETURNED = "returned", _("returned for revision")
    VALIDATED = "validated", _("validated")


EDITABLE_SHEET_STATUSES = (SheetStatus.DRAFT, SheetStatus.RETURNED)


class WorkloadSettings(Versioned):
    """The organisation's workload method (method.Method as JSON): what a new
    analysis snapshots. Absent until an administrator changes the defaults."""

    organisation = models.OneToOneField(
        "accounts.Organisation",
        on_delete=models.PROTECT,
        related_name="workload_settings",
    )
    method = models.JSONField(_("method"), default=dict)

    class Meta:
        verbose_name = _("workload settings")
        verbose_name_plural = _("workload settings")


class Analysis(Versioned):
    """One revision of the workload analysis of a unit for a year."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    unit = models.ForeignKey(
        "org.Party",
        verbose_name=_("unit"),
        on_delete=models.PROTECT,
        related_name="workload_analyses",
    )
    year = models.PositiveSmallIntegerField(_("year"))
    revision = models.PositiveSmallIntegerField(_("revision"), default=1)
    previous = models.ForeignKey(
        "self",
        verbose_name=_("previous revision"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=AnalysisStatus.choices,
        default=AnalysisStatus.COLLECTING,
    )
    analyst = models.ForeignKey(
        "org.Person",
        verbose_name=_("analyst"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    analyst_position = models.ForeignKey(
        "org.Position",
        verbose_name=_("analyst's position"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
        help_text=_("The superior of this position approves the analysis."),
    )
    # method.Method as JSON, snapshotted from WorkloadSettings when the analysis opens.
    method = models.JSONField(_("method"), default=dict)
    # FTE: the available time of the year from the organisation's calendar.
    working_days = models.PositiveIntegerField(_("working days in the year"), default=0)
    minutes_per_day = models.PositiveIntegerField(
        _("working minutes per day"), default=0
    )
    # Totals stored by services.compute (None until computed).
    computed_at = models.DateTimeField(_("computed"), null=True, blank=True)
    required_total = models.DecimalField(
        _("required staff (exact)"),
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
    )
    required_count = models.PositiveIntegerField(
        _("required staff"), null=True, blank=True
    )
    current_count = models.PositiveIntegerField(
        _("current staff"), null=True, blank=True
    )
    approved_at = models.DateTimeField(_("approved"), null=True, blank=True)
    approved_by = models.ForeignKey(
        "org.Person",
        verbose_name=_("approved by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    approved_by_position = models.ForeignKey(
        "org.Position",
        verbose_name=_("approved as"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )

    class Meta:
        verbose_name = _("workload analysis")
        verbose_name_plural = _("workload analyses")
        ordering = ["-year", "unit__name", "-revision"]
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "unit", "year", "revision"],
                name="workload_analysis_revision_unique",
                violation_error_message=_(
                    "This unit already has this revision for this year."
                ),
            ),
            models.UniqueConstraint(
                fields=["organisation", "unit", "year"],
                condition=Q(status__in=["collecting", "in_review"]),
                name="workload_one_open_analysis_per_unit_year",
                violation_error_message=_(
                    "An analysis of this unit for this year is already in progress."
                ),
            ),
            models.CheckConstraint(
                condition=Q(year__gte=2000) & Q(year__lte=2100),
                name="workload_analysis_year_sensible",
                violation_error_message=_("The year must be between 2000 and 2100."),
            ),
            models.CheckConstraint(
                condition=Q(revision__gte=1),
                name="workload_analysis_revision_positive",
                violation_error_message=_("Revisions count from 1."),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.unit} {self.year} r{self.revision}"

    @property
    def is_frozen(self) -> bool:
        return self.status in (AnalysisStatus.APPROVED, AnalysisStatus.CANCELLED)


class PositionSheet(Versioned):
    """The entries of one position in one analysis, validated by the incumbent's
    superior; holds the position's computed results."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    analysis = models.ForeignKey(
        Analysis,
        verbose_name=_("analysis"),
        on_delete=models.CASCADE,
        related_name="sheets",
    )
    position = models.ForeignKey(
        "org.Position",
        verbose_name=_("position"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    status = models.CharField(
        _("status"),
        max_length=20,
        choices=SheetStatus.choices,
        default=SheetStatus.DRAFT,
    )
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    # Moves with every change of the entries: what a validation decision binds to.
    entries_version = models.PositiveIntegerField(default=1, editable=False)
    submitted_at = models.DateTimeField(_("submitted"), null=True, blank=True)
    validated_at = models.DateTimeField(_("validated"), null=True, blank=True)
    validated_by = models.ForeignKey(
        "org.Person",
        verbose_name=_("validated by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    # Results stored by services.compute (None until computed).
    current_holders = models.PositiveIntegerField(_("current staff"), default=0)
    acting_holders = models.PositiveIntegerField(_("acting holders (Plt)"), default=0)
    activity_minutes = models.DecimalField(
        _("activity time per year (minutes)"),
        max_digits=20,
        decimal_places=4,
        null=True,
        blank=True,
    )
    required_staff = models.DecimalField(
        _("required staff (exact)"),
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
    )
    required_count = models.PositiveIntegerField(
        _("required staff"), null=True, blank=True
    )
    effectiveness = models.DecimalField(
        _("job effectiveness (EJ)"),
        max_digits=18,
        decimal_places=6,
        null=True,
        blank=True,
    )
    grade = models.CharField(_("job performance grade (PJ)"), max_length=4, blank=True)
    fte = models.DecimalField(
        _("FTE"), max_digits=18, decimal_places=6, null=True, blank=True
    )
    fte_category = models.CharField(_("FTE category"), max_length=20, blank=True)
    fte_count = models.PositiveIntegerField(
        _("required staff (FTE)"), null=True, blank=True
    )

    class Meta:
        verbose_name = _("position sheet")
        verbose_name_plural = _("position sheets")
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["analysis", "position"],
                name="workload_one_sheet_per_position",
                violation_error_message=_(
                    "This position already has a sheet in this analysis."
                ),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.analysis} — {self.position}"


class Entry(Versioned):
    """A duty of the position in one analysis: its volume of work (beban kerja) over a
    period and its standard time (norma waktu) per output unit. Title and output unit
    are copied from the duty, so a later change of the job description does not change
    an approved analysis."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    sheet = models.ForeignKey(
        PositionSheet,
        verbose_name=_("position sheet"),
        on_delete=models.CASCADE,
        related_name="entries",
    )
    duty = models.ForeignKey(
        "org.Duty",
        verbose_name=_("duty"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    title = models.CharField(_("duty"), max_length=300)
    output_unit = models.CharField(_("output unit"), max_length=100)
    sort_order = models.PositiveIntegerField(_("order"), default=0)
    volume = models.DecimalField(
        _("volume of work"), max_digits=16, decimal_places=4, null=True, blank=True
    )
    volume_period = models.CharField(
        _("per"), max_length=10, choices=Period.choices, default=Period.YEAR
    )
    standard_time = models.DecimalField(
        _("standard time"), max_digits=12, decimal_places=4, null=True, blank=True
    )
    time_unit = models.CharField(
        _("time unit"), max_length=10, choices=TimeUnit.choices, default=TimeUnit.MINUTE
    )

    class Meta:
        verbose_name = _("workload entry")
        verbose_name_plural = _("workload entries")
        ordering = ["sort_order", "id"]
        constraints = [
            models.UniqueConstraint(
                fields=["sheet", "duty"],
                name="workload_one_entry_per_duty",
                violation_error_message=_("This duty already has an entry."),
            ),
            models.CheckConstraint(
                condition=Q(volume__isnull=True) | Q(volume__gte=0),
                name="workload_volume_not_negative",
                violation_error_message=_("The volume of work cannot be negative."),
            ),
            models.CheckConstraint(
                condition=Q(standard_time__isnull=True) | Q(standard_time__gt=0),
                name="workload_standard_time_positive",
                violation_error_message=_("The standard time must be more than zero."),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_filled(self) -> bool:
        return self.volume is not None and self.standard_time is not None
