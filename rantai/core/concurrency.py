"""Compare-and-set updates: a lost race writes nothing and raises Conflict."""

from __future__ import annotations

from typing import Any

from django.db import models
from django.db.models import F

from rantai.core.errors import Conflict


def compare_and_set(
    instance: models.Model, *, expected_version: int | None, fields: dict[str, Any]
) -> int:
    """UPDATE ... SET fields, version=version+1 WHERE id=? AND version=?.

    Updates `instance` in memory and returns the new version. With
    `expected_version=None` the caller's in-memory version is used.
    """
    current = instance.version if expected_version is None else expected_version  # type: ignore[attr-defined]
    model = type(instance)
    updated = model._default_manager.filter(pk=instance.pk, version=current).update(
        **fields, version=F("version") + 1
    )
    if updated != 1:
        raise Conflict()
    for name, value in fields.items():
        setattr(instance, name, value)
    instance.version = current + 1  # type: ignore[attr-defined]
    return current + 1


def lock_current(instance: models.Model, *, expected_version: int | None) -> None:
    """SELECT ... FOR UPDATE WHERE id=? AND version=?, or raise Conflict.

    For a change that is not one UPDATE (a delete and what goes with it): the row
    stays locked until the transaction ends, so nobody changes it in between.
    With `expected_version=None` the caller's in-memory version is used.
    """
    current = instance.version if expected_version is None else expected_version  # type: ignore[attr-defined]
    model = type(instance)
    locked = (
        model._default_manager.select_for_update()
        .filter(pk=instance.pk, version=current)
        .exists()
    )
    if not locked:
        raise Conflict()
