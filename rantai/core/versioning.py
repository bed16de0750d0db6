"""Versioned definitions: procedures (`chains`) and approval routes (`approvals`).

A definition has numbered versions. One draft at a time is edited; publishing it
freezes it and retires the version published before (runs and requests keep the
version they started on); a published version may be retired; a new draft starts
as a copy of another version. What those moves write is the same for every kind
of definition, and lives here: the services say who may make them, what a version
holds and what is audited (this layer knows no audit trail: it answers what
changed, as `StatusChange`s). `statuses` is the versions' status choices, with
the members DRAFT, PUBLISHED and RETIRED.

Every status change is a compare-and-set of the version's row.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from typing import Any

from django.db import models
from django.utils.translation import gettext as _

from rantai.core.concurrency import compare_and_set
from rantai.core.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class StatusChange:
    """A version's change of status, for the caller's audit trail (whose verb
    is the status it reached: `published`, `retired`)."""

    target: models.Model
    before: str
    after: str
    replaced_by: int | None = None

    def entry(self) -> dict[str, Any]:
        """The audit entry's verb, target and changes."""
        changes: dict[str, Any] = {"status": [self.before, self.after]}
        if self.replaced_by is not None:
            changes["replaced_by"] = self.replaced_by
        return {"verb": str(self.after), "target": self.target, "changes": changes}


def publish(
    version: models.Model,
    *,
    number: int,
    previous: models.Model | None,
    expected_version: int | None,
    actor_id: int,
    now: dt.datetime,
    statuses: type[models.TextChoices],
) -> list[StatusChange]:
    """Publish a draft (checked, and locked, by the caller) numbered `number`:
    the `previous` published version, if any, retires first. What changed, in
    order."""
    changes: list[StatusChange] = []
    if previous is not None:
        compare_and_set(
            previous,
            expected_version=None,
            fields={
                "status": statuses["RETIRED"],
                "retired_at": now,
                "updated_at": now,
            },
        )
        changes.append(
            StatusChange(
                previous, statuses["PUBLISHED"], statuses["RETIRED"], replaced_by=number
            )
        )
    compare_and_set(
        version,
        expected_version=expected_version,
        fields={
            "status": statuses["PUBLISHED"],
            "published_at": now,
            "published_by_id": actor_id,
            "updated_at": now,
        },
    )
    changes.append(StatusChange(version, statuses["DRAFT"], statuses["PUBLISHED"]))
    return changes


def retire(
    version: models.Model,
    *,
    expected_version: int | None,
    now: dt.datetime,
    statuses: type[models.TextChoices],
) -> StatusChange:
    """Retire a published version (the caller checked who may)."""
    if version.status != statuses["PUBLISHED"]:  # type: ignore[attr-defined]
        raise ValidationFailed(_("Only a published version can be retired."))
    compare_and_set(
        version,
        expected_version=expected_version,
        fields={"status": statuses["RETIRED"], "retired_at": now, "updated_at": now},
    )
    return StatusChange(version, statuses["PUBLISHED"], statuses["RETIRED"])


def copies[M: models.Model](
    rows: Iterable[M], fields: Sequence[str], **values: Any
) -> list[M]:
    """Unsaved copies of `rows` (for a new draft): each with the rows' `fields`
    (a foreign key copied as its id: nothing more is read) and the given `values`
    (the new version)."""
    copied: list[M] = []
    attnames: list[str] | None = None
    for row in rows:
        if attnames is None:
            attnames = [row._meta.get_field(name).attname for name in fields]  # type: ignore[union-attr]
        copied.append(
            type(row)(**{name: getattr(row, name) for name in attnames}, **values)
        )
    return copied
