"""Decisions, obstacles and reviews that rest on information records
(docs/design-evidence.md).

The citing side (an approval decision, a deviation decision, an obstacle, its
resolution, a review) is named by kind and id; the web and API layers write the
citations in the same transaction as the decision. Pages read the records'
current status when they show the citing thing: "rests on unverified
information" while any of them is not verified.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Iterable, Sequence

from django.db import IntegrityError, transaction
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Role, User
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.evidence.models import (
    Citation,
    CitingKind,
    InformationRecord,
    RecordStatus,
)
from rantai.evidence.records import refusal

__all__ = ["citations_for", "cite", "rests_on_unverified"]


@transaction.atomic
def cite(
    records: Sequence[InformationRecord],
    *,
    citing_kind: str,
    citing_id: int,
    actor: User,
    now: dt.datetime | None = None,
) -> list[Citation]:
    """Let a decision (or obstacle, review) rest on the records: one citation per
    record, with the status it had then; citing a record again changes nothing.
    The actor is a member who may record on each record's run or task (auditors
    cite nothing). Each new citation is audited `cited` on its record."""
    moment = now or timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("now must be timezone-aware")
    if citing_kind not in CitingKind.values:
        raise ValidationFailed({"citing_kind": [_("Choose what cites the records.")]})
    if not records:
        return []
    wanted = list(dict.fromkeys(record.pk for record in records))
    found = {
        record.pk: record
        for record in InformationRecord.objects.select_related(
            "organisation", "task"
        ).filter(pk__in=wanted)
    }
    if len(found) != len(wanted):
        raise NotFound()
    organisation_ids = {record.organisation_id for record in found.values()}
    if len(organisation_ids) != 1:
        raise ValidationFailed(
            {"records": [_("The records belong to another organisation.")]}
        )
    organisation_id = organisation_ids.pop()
    if actor is None or not actor.is_active:
        raise NotFound()
    membership = Membership.objects.filter(
        organisation_id=organisation_id, user_id=actor.pk, is_active=True
    ).first()
    if membership is None:
        raise NotFound()
    # The membership once; a partner's part in each run once.
    allowed: dict[tuple[int | None, int | None], bool] = {}
    for record in found.values():
        place = (record.run_id, record.task_id)
        if place not in allowed:
            allowed[place] = (
                refusal(membership, run_id=record.run_id, task=record.task) is None
            )
    if membership.role == Role.AUDITOR or not all(allowed.values()):
        raise PermissionDenied(_("You cannot cite this information."))
    existing = {
        citation.record_id: citation
        for citation in Citation.objects.filter(
            record_id__in=wanted, citing_kind=citing_kind, citing_id=citing_id
        )
    }
    result: list[Citation] = []
    entries: list[audit.Entry] = []
    for pk in wanted:
        if pk in existing:
            result.append(existing[pk])
            continue
        record = found[pk]
        try:
            with transaction.atomic():
                citation = Citation.objects.create(
                    organisation_id=organisation_id,
                    record=record,
                    citing_kind=citing_kind,
                    citing_id=citing_id,
                    status_when_cited=record.status,
                    cited_by=actor,
                    cited_at=moment,
                )
        except IntegrityError:
            # Cited at the same moment by someone else: theirs stands (and is
            # audited by them).
            result.append(
                Citation.objects.get(
                    record_id=pk, citing_kind=citing_kind, citing_id=citing_id
                )
            )
            continue
        result.append(citation)
        entries.append(
            audit.Entry(
                verb=AuditVerb.CITED,
                target=record,
                changes={
                    "citation": citation.pk,
                    "citing_kind": citing_kind,
                    "citing_id": citing_id,
                    "status_when_cited": record.status,
                },
            )
        )
    if entries:
        organisation = next(iter(found.values())).organisation
        audit.record_many(organisation, actor=actor, entries=entries)
    return result


def citations_for(
    citing_kind: str, citing_ids: Iterable[int]
) -> dict[int, list[InformationRecord]]:
    """{citing id: the records it cites, by title} for every id asked (an empty
    list when it cites nothing); one query."""
    ids = sorted({int(pk) for pk in citing_ids})
    cited: dict[int, list[InformationRecord]] = {pk: [] for pk in ids}
    if not ids:
        return cited
    rows = (
        Citation.objects.filter(citing_kind=citing_kind, citing_id__in=ids)
        .select_related("record")
        .order_by("citing_id", "record__title", "record_id")
    )
    for citation in rows:
        cited[int(citation.citing_id)].append(citation.record)
    return cited


def rests_on_unverified(records: Iterable[InformationRecord]) -> bool:
    """Whether any of the records is not (or no longer) verified."""
    return any(record.status != RecordStatus.VERIFIED for record in records)
