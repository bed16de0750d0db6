"""Append-only, hash-chained audit events, one chain per organisation.

Personal data (names, e-mail addresses, free text about a person) is kept in
`AuditPersonalData`, outside what the hash covers, so it can be erased without
breaking the chain.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.utils.translation import gettext_lazy as _
from django.utils.translation import pgettext_lazy


class AuditVerb(models.TextChoices):
    CREATED = "created", _("created")
    UPDATED = "updated", _("updated")
    MOVED = "moved", _("moved")
    DEACTIVATED = "deactivated", _("deactivated")
    REACTIVATED = "reactivated", _("reactivated")
    ENDED = "ended", _("ended")
    IMPORTED = "imported", _("imported")
    INVITED = "invited", _("invited")
    INVITATION_REVOKED = "invitation_revoked", _("invitation revoked")
    JOINED = "joined", _("joined")
    MEMBERSHIP_CHANGED = "membership_changed", _("membership changed")
    MEMBERSHIP_ENDED = "membership_ended", _("membership ended")
    SETTINGS_CHANGED = "settings_changed", _("settings changed")
    DELETED = "deleted", _("deleted")
    PUBLISHED = "published", _("published")
    RETIRED = "retired", _("retired")
    STARTED = "started", _("started")
    TASK_STARTED = "task_started", _("task started")
    TASK_COMPLETED = "task_completed", _("task completed")
    TASK_AWAITING = "task_awaiting", _("task awaiting")
    TASK_REOPENED = "task_reopened", _("task reopened")
    TASK_SKIPPED = "task_skipped", _("task skipped")
    CLAIMED = "claimed", _("claimed")
    SUSPENDED = "suspended", _("suspended")
    RESUMED = "resumed", _("resumed")
    CANCELLED = "cancelled", _("cancelled")
    DUE_DATE_MOVED = "due_date_moved", _("due date moved")
    DEVIATION_REQUESTED = "deviation_requested", _("deviation requested")
    DEVIATION_CONFIRMED = "deviation_confirmed", _("deviation confirmed")
    DEVIATION_REJECTED = "deviation_rejected", _("deviation rejected")
    COMPLETED = "completed", _("completed")
    RESULT_RECORDED = "result_recorded", _("result recorded")
    APPROVAL_REQUESTED = "approval_requested", _("approval requested")
    STAGE_OPENED = "stage_opened", _("approval stage opened")
    APPROVERS_RESOLVED = "approvers_resolved", _("approvers worked out again")
    APPROVED = "approved", _("approved")
    REJECTED = "rejected", _("rejected")
    RETURNED = "returned", _("returned for revision")
    WITHDRAWN = "withdrawn", _("withdrawn")
    RESUBMITTED = "resubmitted", _("resubmitted")
    ESCALATED = "escalated", _("escalated")
    REMINDED = "reminded", _("reminded")
    NUDGED = "nudged", _("nudged")
    DELEGATED = "delegated", _("authority delegated")
    DELEGATION_REVOKED = "delegation_revoked", _("delegation revoked")
    ABSENCE_RECORDED = "absence_recorded", _("absence recorded")
    ABSENCE_CANCELLED = "absence_cancelled", _("absence cancelled")
    SUBMITTED = "submitted", _("submitted")
    VALIDATED = "validated", _("validated")
    COMPUTED = "computed", _("computed")
    ASSIGNED = "assigned", _("assigned")
    CONSULTATION_REQUESTED = "consultation_requested", _("consultation requested")
    CONSULTATION_ANSWERED = "consultation_answered", _("consultation answered")
    BRIEFED = "briefed", _("briefing issued")
    ACKNOWLEDGED = "acknowledged", _("acknowledged")
    ACKNOWLEDGEMENT_WITHDRAWN = (
        "acknowledgement_withdrawn",
        _("acknowledgement withdrawn"),
    )
    REBALANCED = "rebalanced", _("rebalanced")
    RECORDED = "recorded", _("information recorded")
    EVIDENCE_ADDED = "evidence_added", _("evidence added")
    VERIFIED = "verified", _("information checked")
    CITED = "cited", _("information cited")
    RAISED = "raised", pgettext_lazy("obstacle", "raised")
    RESOLVED = "resolved", pgettext_lazy("obstacle", "resolved")


class AuditEvent(models.Model):
    organisation = models.ForeignKey(
        "accounts.Organisation",
        on_delete=models.DO_NOTHING,
        db_constraint=True,
        related_name="audit_events",
    )
    sequence = models.PositiveBigIntegerField()
    occurred_at = models.DateTimeField()
    # A plain reference, not a cascading key: the trail outlives accounts.
    actor = models.ForeignKey(
        settings.AUTH_USER_MODEL,
        on_delete=models.DO_NOTHING,
        db_constraint=False,
        null=True,
        related_name="+",
    )
    verb = models.CharField(max_length=40, choices=AuditVerb.choices)
    target_type = models.CharField(max_length=60)
    target_id = models.CharField(max_length=64)
    changes = models.JSONField(default=dict)
    request_id = models.CharField(max_length=64, blank=True)
    previous_hash = models.CharField(max_length=64)
    hash = models.CharField(max_length=64)

    class Meta:
        verbose_name = _("audit event")
        verbose_name_plural = _("audit events")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "sequence"],
                name="audit_sequence_unique_per_org",
            )
        ]
        indexes = [
            models.Index(
                fields=["organisation", "target_type", "target_id", "sequence"]
            ),
        ]
        ordering = ["organisation_id", "sequence"]

    def __str__(self) -> str:
        return f"#{self.sequence} {self.verb} {self.target_type}:{self.target_id}"


class AuditPersonalData(models.Model):
    """The redactable half of an event: labels and values that describe a person."""

    event = models.OneToOneField(
        AuditEvent,
        on_delete=models.DO_NOTHING,
        primary_key=True,
        related_name="personal",
    )
    actor_label = models.CharField(max_length=200, blank=True)
    target_label = models.CharField(max_length=300, blank=True)
    changes = models.JSONField(default=dict)
    redacted_at = models.DateTimeField(null=True, blank=True)

    def __str__(self) -> str:
        return f"personal data of event {self.event_id}"
