"""Audited create and update of a model row: the shared write path of the org and
chains services. Each validates by the model's own rules, writes (an update by
compare-and-set on `version`) and appends its audit event in the caller's
transaction. A model's `PERSONAL_FIELDS` go to the redactable half of the event."""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from typing import Any, cast

from django.db import IntegrityError, models, transaction
from django.db.models import Field
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.models import Organisation, User
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict, ValidationFailed
from rantai.core.validation import field_values, full_clean


def split_personal(
    instance: models.Model, values: Mapping[str, Any]
) -> tuple[dict[str, Any], dict[str, Any]]:
    """(public, personal) values, by the model's `PERSONAL_FIELDS`."""
    personal_fields: frozenset[str] = getattr(
        type(instance), "PERSONAL_FIELDS", frozenset()
    )
    public = {k: v for k, v in values.items() if k not in personal_fields}
    personal = {k: v for k, v in values.items() if k in personal_fields}
    return public, personal


def save_new[M: models.Model](instance: M) -> M:
    """Validate and INSERT; a unique clash is a clear error, not a crash."""
    full_clean(instance)
    try:
        with transaction.atomic():
            instance.save()
    except IntegrityError as error:
        raise ValidationFailed(_("This conflicts with an existing record.")) from error
    return instance


def create[M: models.Model](
    instance: M, *, actor: User, organisation: Organisation, fields: Iterable[str]
) -> M:
    """Save a new row and record `created` with the given fields' values."""
    save_new(instance)
    public, personal = split_personal(instance, field_values(instance, fields))
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=instance,
        changes=public,
        personal_changes=personal,
    )
    return instance


def update[M: models.Model](
    instance: M,
    *,
    actor: User,
    organisation: Organisation,
    expected_version: int | None,
    changes: Mapping[str, Any],
    allowed: Iterable[str],
    verb: str = AuditVerb.UPDATED,
) -> M:
    """Change the allowed fields by compare-and-set and record what changed (nothing
    written when nothing changed — but a stale version is still a conflict)."""
    allowed = set(allowed)
    unknown = set(changes) - allowed
    if unknown:
        raise ValidationFailed(
            {
                name: [_("This field cannot be changed here.")]
                for name in sorted(unknown)
            }
        )
    before = field_values(instance, changes)
    for name, value in changes.items():
        setattr(instance, name, value)
    full_clean(instance)
    after = field_values(instance, changes)
    changed = audit.diff(before, after)
    if not changed:
        # Compare with the stored version, not the caller's (possibly stale) copy.
        if (
            expected_version is not None
            and not type(instance)
            ._default_manager.filter(pk=instance.pk, version=expected_version)
            .exists()
        ):
            raise Conflict()
        return instance
    db_fields = {
        cast(Field, instance._meta.get_field(name)).attname: after[name]
        for name in changes
    }
    db_fields["updated_at"] = timezone.now()
    try:
        with transaction.atomic():
            compare_and_set(
                instance, expected_version=expected_version, fields=db_fields
            )
    except IntegrityError as error:
        raise ValidationFailed(_("This conflicts with an existing record.")) from error
    public, personal = split_personal(instance, changed)
    audit.record(
        organisation,
        actor=actor,
        verb=verb,
        target=instance,
        changes=public,
        personal_changes=personal,
    )
    return instance
