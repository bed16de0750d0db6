"""Reads of information records and their evidence, scoped by the caller's access.

Administrators, members and auditors see every record of their organisation.
External partners see the records of runs their party takes part in (it owns a
task of the run): the run's own records and those of their party's tasks, never
another party's task records nor the organisation's records without a run. Every
helper runs a fixed number of queries, whatever the amount of data.
"""

from __future__ import annotations

from typing import Any

from django.db.models import Count, Exists, OuterRef, Prefetch, Q, QuerySet

from rantai.accounts.access import Access
from rantai.chains.models import Run, Task
from rantai.core.errors import NotFound
from rantai.evidence import records as recording
from rantai.evidence.models import (
    EvidenceItem,
    EvidenceKind,
    InformationRecord,
    RecordKind,
    RecordStatus,
    Verification,
)

__all__ = [
    "evidence_item",
    "may_record",
    "may_verify",
    "record",
    "records",
    "task_evidence",
    "visible_records",
]


def _id(value: Any) -> int:
    """The id of a row or an id given as such (a bad one is not found)."""
    try:
        return int(getattr(value, "pk", value))
    except (TypeError, ValueError) as error:
        raise NotFound() from error


def visible_records(access: Access) -> QuerySet[InformationRecord]:
    """The organisation's records the caller may see (no ordering, no joins)."""
    qs = InformationRecord.objects.filter(organisation=access.organisation)
    party_id = access.partner_party_id
    if party_id is not None:
        qs = qs.filter(
            Exists(
                Task.objects.filter(
                    run_id=OuterRef("run_id"), responsible_party_id=party_id
                )
            )
        ).filter(Q(task__isnull=True) | Q(task__responsible_party_id=party_id))
    return qs


def records(
    access: Access,
    *,
    run: Run | int | None = None,
    task: Task | int | None = None,
    status: str | None = None,
    kind: str | None = None,
    search: str | None = None,
) -> QuerySet[InformationRecord]:
    """Visible records, newest first, with their run, task, authors and the number
    of evidence items (`evidence_count`); filtered by run, task, status, kind and
    words of the title, statement or source. One query when evaluated."""
    qs = visible_records(access).select_related(
        "run", "task", "recorded_by", "verified_by", "source_party"
    )
    if run is not None:
        qs = qs.filter(run_id=_id(run))
    if task is not None:
        qs = qs.filter(task_id=_id(task))
    # A value outside the choices matches nothing (and is never sent to the
    # database: PostgreSQL refuses some characters, such as NUL, outright).
    if status:
        qs = qs.filter(status=status) if status in RecordStatus.values else qs.none()
    if kind:
        qs = qs.filter(kind=kind) if kind in RecordKind.values else qs.none()
    for word in (search or "").replace("\x00", " ").split():
        qs = qs.filter(
            Q(title__icontains=word)
            | Q(statement__icontains=word)
            | Q(source_detail__icontains=word)
        )
    return qs.annotate(evidence_count=Count("evidence")).order_by("-recorded_at", "-id")


def _evidence() -> Prefetch:
    return Prefetch(
        "evidence",
        queryset=EvidenceItem.objects.select_related("added_by").order_by(
            "added_at", "id"
        ),
    )


def record(access: Access, pk: int | str) -> InformationRecord:
    """One visible record with its evidence (and who added each item) and its
    verifications (who checked, newest last): three queries."""
    qs = (
        visible_records(access)
        .select_related(
            "run__procedure", "task", "recorded_by", "verified_by", "source_party"
        )
        .prefetch_related(
            _evidence(),
            Prefetch(
                "verifications",
                queryset=Verification.objects.select_related("by").order_by("at", "id"),
            ),
        )
    )
    try:
        found: InformationRecord = qs.get(pk=int(pk))
    except (ValueError, TypeError, InformationRecord.DoesNotExist) as error:
        raise NotFound() from error
    found.organisation = access.organisation
    return found


def evidence_item(access: Access, pk: int | str) -> EvidenceItem:
    """One file item of a visible record (for its download), with the record."""
    try:
        found: EvidenceItem = (
            EvidenceItem.objects.select_related("record")
            .filter(
                kind=EvidenceKind.FILE,
                record__in=visible_records(access),
            )
            .get(pk=int(pk))
        )
    except (ValueError, TypeError, EvidenceItem.DoesNotExist) as error:
        raise NotFound() from error
    return found


def task_evidence(access: Access, task: Task | int) -> list[InformationRecord]:
    """The visible evidence records of a task, oldest first, with their items:
    two queries."""
    return list(
        visible_records(access)
        .filter(task_id=_id(task), kind=RecordKind.TASK_EVIDENCE)
        .select_related("recorded_by", "verified_by")
        .prefetch_related(_evidence())
        .order_by("recorded_at", "id")
    )


def may_record(
    access: Access, *, run: Run | None = None, task: Task | None = None
) -> bool:
    """Whether the caller may record information on the run or task (or on the
    organisation, with neither): for showing the form."""
    run_id = task.run_id if task is not None else (run.pk if run else None)
    return recording.refusal(access.membership, run_id=run_id, task=task) is None


def may_verify(access: Access, record: InformationRecord) -> bool:
    """Whether the caller may check the record: someone who may record on its run
    or task, other than its author."""
    if record.recorded_by_id == access.user.pk:
        return False
    return (
        recording.refusal(access.membership, run_id=record.run_id, task=record.task)
        is None
    )
