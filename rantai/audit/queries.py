from __future__ import annotations

from django.db import models
from django.db.models import QuerySet

from rantai.accounts.models import Organisation
from rantai.audit.models import AuditEvent
from rantai.audit.services import target_type_of


def events_of(organisation: Organisation) -> QuerySet[AuditEvent]:
    return (
        AuditEvent.objects.filter(organisation=organisation)
        .select_related("personal")
        .order_by("-sequence")
    )


def history_of(
    organisation: Organisation, target: models.Model
) -> QuerySet[AuditEvent]:
    """Every event about one object, newest first."""
    return events_of(organisation).filter(
        target_type=target_type_of(target), target_id=str(target.pk)
    )
