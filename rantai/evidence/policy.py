"""An organisation's upload rules (`EvidenceSettings`): read with their defaults the
first time, changed by administrators only. The allowed file types can be
narrowed to a part of the standard list (`uploads.FILE_TYPES`), never widened."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import writes
from rantai.audit.models import AuditVerb
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.evidence.models import EvidenceSettings
from rantai.evidence.uploads import FILE_TYPES

__all__ = [
    "SETTINGS_FIELDS",
    "allowed_types",
    "max_file_bytes",
    "settings_for",
    "update_settings",
]

# What `update_settings` may change.
SETTINGS_FIELDS = ("allowed_types", "max_file_megabytes")


def settings_for(organisation: Organisation | int) -> EvidenceSettings:
    """The organisation's settings, created with the defaults on the first read
    (two first reads at once create one row: the loser reads the winner's)."""
    organisation_id = (
        organisation.pk if isinstance(organisation, Organisation) else organisation
    )
    found = EvidenceSettings.objects.filter(organisation_id=organisation_id).first()
    if found is not None:
        return found
    settings, _created = EvidenceSettings.objects.get_or_create(
        organisation_id=organisation_id
    )
    return settings


def allowed_types(settings: EvidenceSettings) -> list[str]:
    """The type codes people may upload: the organisation's list (only codes of
    the standard list count), or the whole standard list when it is empty."""
    chosen = [code for code in settings.allowed_types or [] if code in FILE_TYPES]
    return chosen or list(FILE_TYPES)


def max_file_bytes(settings: EvidenceSettings) -> int:
    return int(settings.max_file_megabytes) * 1024 * 1024


def _clean_types(value: Any) -> list[str]:
    if not isinstance(value, list | tuple) or not all(
        isinstance(code, str) for code in value
    ):
        raise ValidationFailed(
            {"allowed_types": [_("Choose file types from the list.")]}
        )
    unknown = sorted({code for code in value if code not in FILE_TYPES})
    if unknown:
        raise ValidationFailed(
            {
                "allowed_types": [
                    _("These file types cannot be allowed: {types}.").format(
                        types=", ".join(unknown)
                    )
                ]
            }
        )
    # Stored in the standard list's order, each once.
    return [code for code in FILE_TYPES if code in set(value)]


@transaction.atomic
def update_settings(
    organisation: Organisation,
    *,
    actor: User,
    expected_version: int | None,
    **changes: Any,
) -> EvidenceSettings:
    """Change the upload rules (administrators): compare-and-set on the settings'
    version, audited `settings_changed` with what changed."""
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
    if "allowed_types" in changes:
        changes["allowed_types"] = _clean_types(changes["allowed_types"])
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
