"""Insight: the search index and personal calendar feeds.

Targets themselves live in `chains` (runs point at them); the dashboard has no
tables of its own: it reads runs, tasks and obstacles.
"""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext_lazy as _


class SearchKind(models.TextChoices):
    RUN = "run", _("run")
    PROCEDURE = "procedure", _("procedure")
    STEP = "step", _("step")
    PERSON = "person", _("person")
    POSITION = "position", _("position")
    PARTY = "party", _("party")
    RECORD = "record", _("information record")
    OBSTACLE = "obstacle", _("obstacle")
    REVIEW = "review", _("review")
    TARGET = "target", _("target")


class SearchDocument(models.Model):
    """One searchable object: its text, kept current in the transaction that changes
    the object (`insight.indexing`, driven by the audit trail).

    Full-text matching is the database's own: on PostgreSQL a stored `search_vector`
    column (simple, Indonesian and English configurations) with a GIN index; on SQLite
    the FTS5 table `insight_search_fts` kept in step by triggers. Both are created by
    migration 0001 for the database in use; the model does not name them.
    Who may see a result is decided at query time by the owning app's visibility
    rules, never stored here.
    """

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    kind = models.CharField(max_length=10, choices=SearchKind.choices)
    object_id = models.BigIntegerField()
    parent_id = models.BigIntegerField(
        null=True,
        blank=True,
        help_text="The object a result opens under, when it has no page of its own "
        "(a step's procedure version).",
    )
    title = models.CharField(max_length=300)
    subtitle = models.CharField(max_length=300, blank=True)
    body = models.TextField(blank=True)
    updated_at = models.DateTimeField(default=timezone.now)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["kind", "object_id"], name="search_document_unique_object"
            )
        ]
        indexes = [models.Index(fields=["organisation", "kind"])]

    def __str__(self) -> str:
        return f"{self.kind} {self.object_id}: {self.title}"


class CalendarFeed(models.Model):
    """A person's private, revocable calendar subscription (ICS) in one organisation.

    Only a SHA-256 digest of the secret in the address is stored; revoking sets
    `revoked_at` and a new address can be made at once.
    """

    organisation = models.ForeignKey(
        "accounts.Organisation", on_delete=models.CASCADE, related_name="+"
    )
    user = models.ForeignKey(
        settings.AUTH_USER_MODEL, on_delete=models.CASCADE, related_name="+"
    )
    token_digest = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(_("created"), default=timezone.now)
    last_used_at = models.DateTimeField(_("last read"), null=True, blank=True)
    revoked_at = models.DateTimeField(_("revoked"), null=True, blank=True)

    class Meta:
        verbose_name = _("calendar feed")
        verbose_name_plural = _("calendar feeds")
        constraints = [
            models.UniqueConstraint(
                fields=["organisation", "user"],
                condition=Q(revoked_at__isnull=True),
                name="calendar_feed_one_active_per_user",
                violation_error_message=_("You already have a calendar feed."),
            )
        ]

    def __str__(self) -> str:
        return f"calendar feed {self.pk}"
