"""Model validation shared by the services: one path to the model's own rules."""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any, cast

from django.core.exceptions import ValidationError
from django.db import models
from django.db.models import Field

from rantai.core.errors import ValidationFailed


def full_clean(instance: models.Model, *, exclude: Iterable[str] = ()) -> None:
    """Run the model's field rules, clean() and constraints; raise ValidationFailed."""
    try:
        instance.full_clean(exclude=list(exclude))
    except ValidationError as error:
        raise ValidationFailed(error.message_dict) from error


def field_values(instance: models.Model, names: Iterable[str]) -> dict[str, Any]:
    """{name: stored value} (foreign keys as ids), for audit diffs."""
    values: dict[str, Any] = {}
    for name in names:
        model_field = cast(Field, instance._meta.get_field(name))
        values[name] = getattr(instance, model_field.attname)
    return values
