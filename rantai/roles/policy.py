"""An organisation's assignment policy and role-check thresholds (`RoleSettings`):
read with its defaults the first time, changed by administrators only."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import writes
from rantai.audit.models import AuditVerb
from rantai.core.errors import NotFound, PermissionDenied
from rantai.roles.models import RoleSettings

# What `update_settings` may change.
SETTINGS_FIELDS = (
    "assignment_rule",
    "require_duty_coverage",
    "load_window_days",
    "consulted_bottleneck_steps",
    "briefing_reminder_days",
    "escalate_late_tasks",
)


def settings_for(organisation: Organisation | int) -> RoleSettings:
    """The organisation's settings, created with the defaults on the first read.

    Race-safe: two first reads at once create one row (the loser of the unique
    organisation constraint reads the winner's)."""
    organisation_id = (
        organisation.pk if isinstance(organisation, Organisation) else organisation
    )
    found = RoleSettings.objects.filter(organisation_id=organisation_id).first()
    if found is not None:
        return found
    settings, _created = RoleSettings.objects.get_or_create(
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
) -> RoleSettings:
    """Change the policy (administrators): the model's rules, compare-and-set on
    the settings' version, audited `updated` with what changed."""
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
        verb=AuditVerb.UPDATED,
    )
