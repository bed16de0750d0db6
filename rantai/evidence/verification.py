"""Checking a record: someone other than its author gives a verdict (verified,
disputed or refuted) with a note and, if they like, the evidence they checked it
against (docs/design-evidence.md, "Who verifies").

The newest verdict is the record's status. Audited `verified`; the author is told
(`record.checked`). A verified task evidence record checks its task again when
the task is awaiting its evidence, so the task completes when the last missing
thing arrives.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Sequence
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone
from django.utils.text import format_lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rantai.accounts.models import User
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains.models import Run
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.evidence import records, uploads
from rantai.evidence.guards import recheck_if_waiting
from rantai.evidence.models import (
    InformationRecord,
    RecordKind,
    RecordStatus,
    Verdict,
    Verification,
)
from rantai.notifications import events, services, webhooks
from rantai.org.models import Person

__all__ = ["record_path", "verify"]

_NAMESPACE = uuid.UUID("5d0c4b7e-1f3a-4c47-9b8e-2a6f0e9d7c31")
_NOTE_LENGTH = 5000


def record_path(record: InformationRecord) -> str:
    """Where a record is shown: its own page."""
    return f"/o/{record.organisation.slug}/information/{record.pk}/"


def _absolute(path: str) -> str:
    return settings.RANTAI_BASE_URL.rstrip("/") + path


def verify(
    record: InformationRecord,
    *,
    actor: User,
    verdict: str,
    note: str,
    expected_version: int | None,
    items: Sequence[records.NewItem] = (),
    now: dt.datetime | None = None,
) -> Verification:
    """Give a verdict on someone else's record (anyone who may record on its run
    or task, except its author), compare-and-set on the record's version. A
    verdict equal to the current status is refused; disputed and refuted records
    keep their evidence. `record` is brought up to date in memory."""
    with uploads.removed_on_failure() as stored, transaction.atomic():
        moment = now or timezone.now()
        if timezone.is_naive(moment):
            raise ValueError("now must be timezone-aware")
        locked = (
            InformationRecord.objects.select_for_update(of=("self",))
            .select_related("organisation", "task", "run__procedure")
            .filter(pk=record.pk)
            .first()
        )
        if locked is None:
            raise NotFound()
        records.require_may_record(
            locked.organisation_id, actor, run_id=locked.run_id, task=locked.task
        )
        if locked.recorded_by_id == actor.pk:
            raise PermissionDenied(
                _("You recorded this information; someone else has to check it.")
            )
        if expected_version is not None and locked.version != expected_version:
            raise Conflict()
        if verdict not in Verdict.values:
            raise ValidationFailed({"verdict": [_("Choose a verdict from the list.")]})
        if locked.status == verdict:
            raise ValidationFailed(
                {
                    "verdict": [
                        _("This information is already marked {status}.").format(
                            status=RecordStatus(verdict).label
                        )
                    ]
                },
                code="unchanged",
            )
        text = (note or "").strip()
        if not text:
            raise ValidationFailed(
                {"note": [_("Say what you checked the information against.")]}
            )
        if len(text) > _NOTE_LENGTH:
            raise ValidationFailed(
                {"note": [_("The note has at most 5000 characters.")]}
            )
        records.refuse_nul_characters(note=text)
        prepared = records.prepare_items(locked.organisation_id, items)
        previous = locked.status
        compare_and_set(
            locked,
            expected_version=expected_version,
            fields={
                "status": verdict,
                "verified_by": actor,
                "verified_at": moment,
                "updated_at": moment,
            },
        )
        verification = Verification.objects.create(
            organisation_id=locked.organisation_id,
            record=locked,
            verdict=verdict,
            note=text,
            previous_status=previous,
            by=actor,
            at=moment,
        )
        made = records.write_items(
            locked,
            prepared,
            actor=actor,
            now=moment,
            stored=stored,
            verification=verification,
        )
        public_items, personal_items = records.items_audit(made)
        audit.record(
            locked.organisation,
            actor=actor,
            verb=AuditVerb.VERIFIED,
            target=locked,
            changes={
                "verification": verification.pk,
                "verdict": verdict,
                "previous_status": previous,
                "note_length": len(text),
                "items": public_items,
            },
            personal_changes={"note": text, "items": personal_items},
        )
        _tell_author(locked, verification, actor, moment)
        if (
            verdict == Verdict.VERIFIED
            and locked.kind == RecordKind.TASK_EVIDENCE
            and locked.task is not None
        ):
            recheck_if_waiting(locked.task, actor=actor, now=moment)
        for name in (
            "status",
            "verified_by_id",
            "verified_at",
            "updated_at",
            "version",
        ):
            setattr(record, name, getattr(locked, name))
        return verification


def _person_data(organisation_id: int, user: User) -> dict[str, Any] | None:
    person = (
        Person.objects.filter(
            organisation_id=organisation_id, user_id=user.pk, is_active=True
        )
        .values_list("pk", "full_name")
        .first()
    )
    return None if person is None else {"id": person[0], "name": person[1]}


def _run_data(run: Run | None) -> dict[str, Any] | None:
    if run is None:
        return None
    return {
        "id": run.pk,
        "title": run.title,
        "procedure": run.procedure.code,
        "due_at": run.due_at,
        "url": _absolute(f"/o/{run.organisation.slug}/runs/{run.pk}/"),
    }


def _tell_author(
    record: InformationRecord,
    verification: Verification,
    actor: User,
    now: dt.datetime,
) -> None:
    """The author is told of the verdict (`record.checked`), and the webhooks."""
    organisation = record.organisation
    if record.run is not None:
        record.run.organisation = organisation
    key = f"record:{record.pk}:verification:{verification.pk}:checked"
    verdict_label = Verdict(verification.verdict).label
    services.notify(
        organisation,
        recipients=User.objects.filter(pk=record.recorded_by_id),
        event_type=events.RECORD_CHECKED,
        key=key,
        title=format_lazy(
            gettext_lazy("Your information was checked ({verdict}): {title}"),
            verdict=verdict_label,
            title=record.title,
        ),
        body=verification.note,
        url=record_path(record),
        now=now,
    )
    event_id = uuid.uuid5(_NAMESPACE, f"{organisation.pk}:{key}")
    webhooks.publish(
        organisation,
        event_type=events.RECORD_CHECKED,
        payload=lambda: events.build(
            organisation,
            events.RECORD_CHECKED,
            {
                "record": {
                    "id": record.pk,
                    "title": record.title,
                    "status": record.status,
                    "url": _absolute(record_path(record)),
                },
                "verdict": verification.verdict,
                "checked_by": _person_data(organisation.pk, actor),
                "run": _run_data(record.run),
            },
            event_id=event_id,
            occurred_at=now,
        ),
        event_id=event_id,
    )
