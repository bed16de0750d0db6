"""Writing and verifying the hash-chained audit trail.

Services call `record()` as the last write of their transaction: it takes the lock
on the organisation's chain head, so holding it briefly keeps writers flowing.
"""

from __future__ import annotations

import datetime as dt
import hashlib
import json
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from typing import Any

from django.core import signing
from django.db import connection, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.models import Organisation, User
from rantai.audit import observers
from rantai.audit.models import AuditEvent, AuditPersonalData
from rantai.core import sql
from rantai.core.errors import ValidationFailed
from rantai.core.request_context import current_request_id

GENESIS_HASH = "0" * 64
CHECKPOINT_SALT = "rantai.audit.checkpoint"


def to_jsonable(value: Any) -> Any:
    """Normalise a value so it survives a JSON column unchanged on every database."""
    if value is None or isinstance(value, bool | int):
        return value
    if isinstance(value, str):
        return value.replace("\x00", "")
    if isinstance(value, dt.datetime):
        return (
            value.astimezone(dt.UTC).isoformat()
            if timezone.is_aware(value)
            else value.isoformat()
        )
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Decimal | float):
        return str(value)
    if isinstance(value, models.Model):
        return value.pk
    if isinstance(value, Mapping):
        return {str(k): to_jsonable(v) for k, v in value.items()}
    if isinstance(value, list | tuple | set | frozenset):
        return [to_jsonable(v) for v in value]
    return str(value)


def target_type_of(instance: models.Model) -> str:
    meta = instance._meta
    return f"{meta.app_label}.{meta.model_name}"


@dataclass(frozen=True, slots=True)
class Entry:
    """One audit event to append."""

    verb: str
    target: models.Model
    changes: Mapping[str, Any] = field(default_factory=dict)
    personal_changes: Mapping[str, Any] = field(default_factory=dict)
    target_label: str | None = None


def canonical_bytes(event: AuditEvent) -> bytes:
    payload = {
        "organisation": event.organisation_id,
        "sequence": event.sequence,
        "occurred_at": event.occurred_at.astimezone(dt.UTC).isoformat(),
        "actor": event.actor_id,
        "verb": event.verb,
        "target_type": event.target_type,
        "target_id": event.target_id,
        "changes": event.changes,
        "request_id": event.request_id,
        "previous_hash": event.previous_hash,
    }
    return json.dumps(
        payload,
        sort_keys=True,
        separators=(",", ":"),
        ensure_ascii=False,
        allow_nan=False,
    ).encode()


def compute_hash(event: AuditEvent) -> str:
    return hashlib.sha256(canonical_bytes(event)).hexdigest()


def record(
    organisation: Organisation,
    *,
    actor: User | None,
    verb: str,
    target: models.Model,
    changes: Mapping[str, Any] | None = None,
    personal_changes: Mapping[str, Any] | None = None,
    target_label: str | None = None,
) -> AuditEvent:
    """Append one event to the organisation's chain (inside the caller's transaction)."""
    entry = Entry(
        verb=verb,
        target=target,
        changes=changes or {},
        personal_changes=personal_changes or {},
        target_label=target_label,
    )
    return record_many(organisation, actor=actor, entries=[entry])[0]


def record_many(
    organisation: Organisation, *, actor: User | None, entries: Sequence[Entry]
) -> list[AuditEvent]:
    """Append several events under one lock of the chain head (imports, bulk changes)."""
    if not connection.in_atomic_block:
        raise RuntimeError("audit.record must run inside the service's transaction")
    if not entries:
        return []
    organisation_table = sql.table(Organisation)
    row = sql.fetchone(
        f"SELECT audit_sequence, audit_head_hash FROM {organisation_table} "
        f"WHERE id = %s{sql.for_update()}",
        [organisation.pk],
    )
    if row is None:
        raise Organisation.DoesNotExist()
    sequence, previous = row[0], row[1] or GENESIS_HASH
    now = timezone.now()
    request_id = current_request_id()
    actor_id = actor.pk if actor is not None else None
    actor_label = (actor.display_name if actor is not None else "")[:200]
    events: list[AuditEvent] = []
    for entry in entries:
        sequence += 1
        event = AuditEvent(
            organisation_id=organisation.pk,
            sequence=sequence,
            occurred_at=now,
            actor_id=actor_id,
            verb=entry.verb,
            target_type=target_type_of(entry.target),
            target_id=str(entry.target.pk),
            changes=to_jsonable(dict(entry.changes)),
            request_id=request_id,
            previous_hash=previous,
        )
        event.hash = previous = compute_hash(event)
        events.append(event)
    # Hand-written INSERTs (rantai.core.sql): this runs on every state change.
    ids = sql.insert(
        AuditEvent,
        [
            {
                "organisation_id": e.organisation_id,
                "sequence": e.sequence,
                "occurred_at": e.occurred_at,
                "actor_id": e.actor_id,
                "verb": e.verb,
                "target_type": e.target_type,
                "target_id": e.target_id,
                "changes": e.changes,
                "request_id": e.request_id,
                "previous_hash": e.previous_hash,
                "hash": e.hash,
            }
            for e in events
        ],
    )
    for event, pk in zip(events, ids, strict=True):
        event.pk = pk
        event._state.adding = False
    sql.insert(
        AuditPersonalData,
        [
            {
                "event_id": event.pk,
                "actor_label": actor_label,
                "target_label": (
                    entry.target_label
                    if entry.target_label is not None
                    else str(entry.target)
                )[:300],
                "changes": to_jsonable(dict(entry.personal_changes)),
            }
            for entry, event in zip(entries, events, strict=True)
        ],
    )
    sql.execute(
        f"UPDATE {organisation_table} SET audit_sequence = %s, audit_head_hash = %s "
        "WHERE id = %s",
        [sequence, previous, organisation.pk],
    )
    organisation.audit_sequence = sequence
    organisation.audit_head_hash = previous
    observers.notify(organisation, events)
    return events


def diff(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, list[Any]]:
    """{field: [old, new]} for the fields whose value changed."""
    return {
        name: [to_jsonable(before.get(name)), to_jsonable(value)]
        for name, value in after.items()
        if to_jsonable(before.get(name)) != to_jsonable(value)
    }


# --- verification -------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Verification:
    organisation: str
    ok: bool
    events_checked: int
    head_sequence: int
    first_broken_sequence: int | None = None
    problem: str = ""

    def as_dict(self) -> dict[str, Any]:
        return {
            "organisation": self.organisation,
            "ok": self.ok,
            "events_checked": self.events_checked,
            "head_sequence": self.head_sequence,
            "first_broken_sequence": self.first_broken_sequence,
            "problem": self.problem,
        }


def verify(
    organisation: Organisation, *, checkpoint: str | None = None
) -> Verification:
    """Recompute the chain; compare with the stored head and an optional checkpoint."""
    organisation.refresh_from_db(fields=["audit_sequence", "audit_head_hash"])
    head_sequence = organisation.audit_sequence
    previous = GENESIS_HASH
    checked = 0
    seen_hashes: dict[int, str] = {}
    checkpoint_data = _read_checkpoint(organisation, checkpoint) if checkpoint else None

    def broken(sequence: int, problem: str) -> Verification:
        return Verification(
            organisation.slug, False, checked, head_sequence, sequence, problem
        )

    events: Iterable[AuditEvent] = (
        AuditEvent.objects.filter(organisation_id=organisation.pk)
        .order_by("sequence")
        .iterator(chunk_size=2000)
    )
    for expected_sequence, event in enumerate(events, start=1):
        if event.sequence != expected_sequence:
            return broken(
                expected_sequence,
                _(
                    "Event #%(expected)d is missing (the next stored event is #%(found)d)."
                )
                % {"expected": expected_sequence, "found": event.sequence},
            )
        if event.previous_hash != previous:
            return broken(
                event.sequence,
                _("Event #%(n)d does not link to the event before it.")
                % {"n": event.sequence},
            )
        if compute_hash(event) != event.hash:
            return broken(
                event.sequence,
                _("Event #%(n)d was altered: its content does not match its hash.")
                % {"n": event.sequence},
            )
        previous = event.hash
        checked += 1
        if checkpoint_data and event.sequence == checkpoint_data["sequence"]:
            seen_hashes[event.sequence] = event.hash

    if checked != head_sequence or previous != (
        organisation.audit_head_hash or GENESIS_HASH
    ):
        return broken(
            checked + 1 if checked < head_sequence else checked,
            _(
                "The chain ends at event #%(last)d but the organisation's head records "
                "#%(head)d: events at the end were removed or added."
            )
            % {"last": checked, "head": head_sequence},
        )
    if checkpoint_data:
        wanted = checkpoint_data["sequence"]
        if wanted > checked:
            return broken(
                checked + 1,
                _(
                    "The checkpoint vouches for event #%(n)d, but the chain now ends at "
                    "#%(last)d: events were removed."
                )
                % {"n": wanted, "last": checked},
            )
        if wanted and seen_hashes.get(wanted) != checkpoint_data["hash"]:
            return broken(
                wanted,
                _("Event #%(n)d differs from the checkpoint: the chain was rewritten.")
                % {"n": wanted},
            )
    return Verification(organisation.slug, True, checked, head_sequence)


def export_checkpoint(organisation: Organisation) -> str:
    """A signed statement of the chain head, to be kept somewhere else."""
    organisation.refresh_from_db(fields=["audit_sequence", "audit_head_hash"])
    data = {
        "organisation": organisation.slug,
        "organisation_id": organisation.pk,
        "sequence": organisation.audit_sequence,
        "hash": organisation.audit_head_hash or GENESIS_HASH,
        "exported_at": timezone.now().isoformat(),
    }
    signed = signing.dumps(data, salt=CHECKPOINT_SALT, compress=False)
    return json.dumps({**data, "signature": signed}, indent=2) + "\n"


def _read_checkpoint(organisation: Organisation, text: str) -> dict[str, Any]:
    try:
        document = json.loads(text)
        data = signing.loads(document["signature"], salt=CHECKPOINT_SALT)
    except (ValueError, KeyError, TypeError, signing.BadSignature) as error:
        raise ValidationFailed(
            {
                "checkpoint": [
                    _("The checkpoint is not valid or its signature does not match.")
                ]
            }
        ) from error
    if data.get("organisation_id") != organisation.pk:
        raise ValidationFailed(
            {"checkpoint": [_("The checkpoint belongs to another organisation.")]}
        )
    return data


@transaction.atomic
def redact_personal_data(event_ids: Iterable[int]) -> int:
    """Erase the personal half of events (UU PDP); the chain stays verifiable."""
    return AuditPersonalData.objects.filter(event_id__in=list(event_ids)).update(
        actor_label="", target_label="", changes={}, redacted_at=timezone.now()
    )
