"""An organisation's thresholds for obstacles and early warnings
(`AnticipationSettings`): read with their defaults the first time, changed by
administrators only."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import writes
from rantai.audit.models import AuditVerb
from rantai.core.errors import NotFound, PermissionDenied
from rantai.obstacles.models import AnticipationSettings

__all__ = ["SETTINGS_FIELDS", "settings_for", "update_settings"]

# What `update_settings` may change.
SETTINGS_FIELDS = (
    "obstacle_response_hours",
    "slack_warning_percent",
    "approval_warning_hours",
    "vacancy_horizon_days",
    "evidence_warning_hours",
)


def settings_for(organisation: Organisation | int) -> AnticipationSettings:
    """The organisation's settings, created with the defaults on the first read
    (two first reads at once create one row: the loser reads the winner's)."""
    organisation_id = (
        organisation.pk if isinstance(organisation, Organisation) else organisation
    )
    found = AnticipationSettings.objects.filter(organisation_id=organisation_id).first()
    if found is not None:
        return found
    settings, _created = AnticipationSettings.objects.get_or_create(
        organisation_id=organisation_id
    )
    return settings


@transaction.atomic
def update_settings(
    organisation: Organisation,
    *,
    actor: User,
    expected_version: int | None,
    **changes: Any,
) -> AnticipationSettings:
    """Change the thresholds (administrators): the model's rules, compare-and-set
    on the settings' version, audited `settings_changed` with what changed. The
    new response time applies to obstacles raised from then on."""
    role = (
        Membership.objects.filter(
            organisation_id=organisation.pk, user_id=actor.pk, is_active=True
        )
        .values_list("role", flat=True)
        .first()
        if actor.is_active
        else None
    )
    if role is None:
        raise NotFound()
    if role != Role.ADMIN:
        raise PermissionDenied(_("Only organisation administrators can do this."))
    settings = settings_for(organisation)
    return writes.update(
        settings,
        actor=actor,
        organisation=organisation,
        expected_version=expected_version,
        changes=changes,
        allowed=SETTINGS_FIELDS,
        verb=AuditVerb.SETTINGS_CHANGED,
    )
