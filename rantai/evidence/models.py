"""Data over hearsay: information records with their source and evidence, their
verification by someone other than the author, and the decisions that cite them
(docs/design-evidence.md).

A record's `status` is the verdict of its latest `Verification` (unverified until
someone else looked at it). Evidence items are immutable once added; a file's bytes
live in Django's default storage under a generated name, with the checksum, type and
size checked when it was uploaded.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy

from rantai.core.models import Versioned


class RecordKind(models.TextChoices):
    STATUS = "status", _("status")
    CLAIM = "claim", _("claim")
    MEASUREMENT = "measurement", _("measured value")
    TASK_EVIDENCE = "task_evidence", _("evidence of a task")


class SourceKind(models.TextChoices):
    PERSON = "person", _("a person said so")
    DOCUMENT = "document", _("a document")
    SYSTEM = "system", _("a system")
    OBSERVATION = "observation", _("own observation")


class RecordStatus(models.TextChoices):
    UNVERIFIED = "unverified", _("unverified")
    VERIFIED = "verified", _("verified")
    DISPUTED = "disputed", _("disputed")
    REFUTED = "refuted", _("refuted")


class InformationRecord(Versioned):
    """A piece of information that matters to a run (or a task of it) or to the
    organisation, with where it came from. Changed only by its services: adding
    evidence, verifying (status), citing."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    run = models.ForeignKey(
        "chains.Run",
        verbose_name=pgettext_lazy("procedure", "run"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="information_records",
    )
    task = models.ForeignKey(
        "chains.Task",
        verbose_name=_("task"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="information_records",
    )
    kind = models.CharField(
        _("kind"), max_length=15, choices=RecordKind.choices, default=RecordKind.CLAIM
    )
    title = models.CharField(_("title"), max_length=200)
    statement = models.TextField(
        _("information"),
        help_text=_("What is said or measured, as precisely as you can."),
    )
    source_kind = models.CharField(
        _("source"), max_length=15, choices=SourceKind.choices
    )
    source_detail = models.CharField(
        _("who said it, or which document or system"),
        max_length=300,
        help_text=_('For example "the forwarder\'s dispatcher, by phone".'),
    )
    source_party = models.ForeignKey(
        "org.Party",
        verbose_name=_("from party"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    observed_at = models.DateTimeField(_("said or measured at"), null=True, blank=True)
    status = models.CharField(
        _("status"),
        max_length=12,
        choices=RecordStatus.choices,
        default=RecordStatus.UNVERIFIED,
    )
    recorded_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("recorded by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    recorded_at = models.DateTimeField(_("recorded"))
    # The latest verification (denormalised from `Verification` for lists).
    verified_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("checked by"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="+",
    )
    verified_at = models.DateTimeField(_("checked"), null=True, blank=True)

    class Meta:
        verbose_name = _("information record")
        verbose_name_plural = _("information records")
        ordering = ["-recorded_at", "-id"]
        indexes = [
            models.Index(fields=["organisation", "status"]),
            models.Index(fields=["task", "kind"]),
            models.Index(
                fields=["organisation", "-recorded_at", "-id"],
                name="record_org_recorded",
            ),
        ]
        constraints = [
            models.CheckConstraint(
                condition=Q(task__isnull=True) | Q(run__isnull=False),
                name="record_task_has_run",
                violation_error_message=_(
                    "A record about a task also names the task's run."
                ),
            ),
            models.CheckConstraint(
                condition=~Q(kind=RecordKind.TASK_EVIDENCE) | Q(task__isnull=False),
                name="record_task_evidence_has_task",
                violation_error_message=_("Evidence of a task names the task."),
            ),
            models.CheckConstraint(
                condition=Q(status=RecordStatus.UNVERIFIED)
                | Q(verified_by__isnull=False),
                name="record_checked_has_checker",
                violation_error_message=_(
                    "A verified, disputed or refuted record names who checked it."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.title

    @property
    def is_hearsay(self) -> bool:
        """Not (or no longer) backed by someone else's verification."""
        return self.status != RecordStatus.VERIFIED


class EvidenceKind(models.TextChoices):
    FILE = "file", _("file")
    LINK = "link", _("link")
    VALUE = "value", _("measured value")


class EvidenceItem(models.Model):
    """One piece of evidence for a record: a file, a link or a value with its unit.
    Added by the author (or anyone adding to the record) or by a verifier with their
    verdict (`verification`). Never changed afterwards."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    record = models.ForeignKey(
        InformationRecord,
        verbose_name=_("information record"),
        on_delete=models.PROTECT,
        related_name="evidence",
    )
    verification = models.ForeignKey(
        "evidence.Verification",
        verbose_name=_("given with the check"),
        on_delete=models.PROTECT,
        null=True,
        blank=True,
        related_name="evidence",
    )
    kind = models.CharField(_("kind"), max_length=10, choices=EvidenceKind.choices)
    label = models.CharField(_("description"), max_length=200, blank=True)
    # A file: stored under a generated name; the name the user gave is kept apart.
    file = models.FileField(_("file"), max_length=200, blank=True)
    original_name = models.CharField(_("file name"), max_length=255, blank=True)
    content_type = models.CharField(_("file type"), max_length=100, blank=True)
    size = models.PositiveBigIntegerField(_("size (bytes)"), null=True, blank=True)
    sha256 = models.CharField(_("SHA-256 checksum"), max_length=64, blank=True)
    # A link.
    url = models.URLField(_("address"), max_length=2000, blank=True)
    # A measured value.
    quantity = models.DecimalField(
        _("value"), max_digits=18, decimal_places=4, null=True, blank=True
    )
    unit = models.CharField(_("unit"), max_length=50, blank=True)
    added_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("added by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    added_at = models.DateTimeField(_("added"))

    class Meta:
        verbose_name = _("evidence item")
        verbose_name_plural = _("evidence items")
        ordering = ["added_at", "id"]
        indexes = [
            # The orphan sweep asks which stored names are still referenced.
            models.Index(fields=["organisation", "file"], name="evidence_item_org_file")
        ]
        constraints = [
            models.CheckConstraint(
                condition=~Q(kind=EvidenceKind.FILE)
                | (~Q(file="") & ~Q(sha256="") & Q(size__isnull=False)),
                name="evidence_file_complete",
                violation_error_message=_("A file item needs its file."),
            ),
            models.CheckConstraint(
                condition=~Q(kind=EvidenceKind.LINK) | ~Q(url=""),
                name="evidence_link_complete",
                violation_error_message=_("A link needs its address."),
            ),
            models.CheckConstraint(
                condition=~Q(kind=EvidenceKind.VALUE)
                | (Q(quantity__isnull=False) & ~Q(unit="")),
                name="evidence_value_complete",
                violation_error_message=_(
                    "A measured value needs a number and a unit."
                ),
            ),
        ]

    def __str__(self) -> str:
        return self.label or self.original_name or self.url or f"{self.quantity}"


class Verdict(models.TextChoices):
    VERIFIED = "verified", _("verified")
    DISPUTED = "disputed", _("disputed")
    REFUTED = "refuted", _("refuted")


class Verification(models.Model):
    """Someone other than the author checked a record: the verdict, their note and
    (as `evidence`) what they checked it against. Append-only; the newest decides
    the record's status."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    record = models.ForeignKey(
        InformationRecord,
        verbose_name=_("information record"),
        on_delete=models.PROTECT,
        related_name="verifications",
    )
    verdict = models.CharField(_("verdict"), max_length=10, choices=Verdict.choices)
    note = models.TextField(_("note"))
    previous_status = models.CharField(
        _("status before"), max_length=12, choices=RecordStatus.choices
    )
    by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("checked by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    at = models.DateTimeField(_("checked"))

    class Meta:
        verbose_name = _("verification")
        verbose_name_plural = _("verifications")
        ordering = ["at", "id"]

    def __str__(self) -> str:
        return f"{self.record_id}: {self.verdict}"


class CitingKind(models.TextChoices):
    """What can rest on an information record."""

    APPROVAL_DECISION = "approval_decision", _("approval decision")
    DEVIATION_DECISION = "deviation_decision", _("deviation decision")
    OBSTACLE = "obstacle", _("obstacle")
    OBSTACLE_RESOLUTION = "obstacle_resolution", _("obstacle resolution")
    REVIEW = "review", _("review")


class Citation(models.Model):
    """A decision (or obstacle, review) rests on a record. The record's current
    status is read when the citing thing is shown: "rests on unverified
    information" while it is not verified."""

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    record = models.ForeignKey(
        InformationRecord,
        verbose_name=_("information record"),
        on_delete=models.PROTECT,
        related_name="citations",
    )
    citing_kind = models.CharField(
        _("cited by"), max_length=20, choices=CitingKind.choices
    )
    citing_id = models.PositiveBigIntegerField()
    status_when_cited = models.CharField(
        _("status when cited"), max_length=12, choices=RecordStatus.choices
    )
    cited_by = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        verbose_name=_("cited by"),
        on_delete=models.PROTECT,
        related_name="+",
    )
    cited_at = models.DateTimeField(_("cited"))

    class Meta:
        verbose_name = _("citation")
        verbose_name_plural = _("citations")
        indexes = [models.Index(fields=["citing_kind", "citing_id"])]
        constraints = [
            models.UniqueConstraint(
                fields=["record", "citing_kind", "citing_id"],
                name="citation_once",
                violation_error_message=_("This record is already cited here."),
            )
        ]

    def __str__(self) -> str:
        return f"{self.citing_kind}:{self.citing_id} cites {self.record_id}"


class EvidenceSettings(Versioned):
    """An organisation's upload rules (created with the defaults on first read)."""

    organisation = models.OneToOneField(
        "accounts.Organisation", on_delete=models.PROTECT, related_name="+"
    )
    allowed_types = models.JSONField(
        _("allowed file types"),
        default=list,
        blank=True,
        help_text=_(
            "File types people may upload (PDF, images, office documents, text). "
            "Empty: the standard list."
        ),
    )
    max_file_megabytes = models.PositiveSmallIntegerField(
        _("largest file (MB)"), default=20
    )

    class Meta:
        verbose_name = _("evidence settings")
        verbose_name_plural = _("evidence settings")
        constraints = [
            models.CheckConstraint(
                condition=Q(max_file_megabytes__gte=1) & Q(max_file_megabytes__lte=500),
                name="evidence_settings_size_in_range",
                violation_error_message=_("The largest file is 1 to 500 MB."),
            )
        ]

    def __str__(self) -> str:
        return str(_("Evidence settings"))
