"""The audit trail: events, one object's history, verification and checkpoints.

For administrators and auditors. Personal data (labels, personal changes) sits
outside the hash and reads empty once erased.
"""

import datetime as dt
import json
from typing import Any

from django.core.exceptions import ObjectDoesNotExist
from django.db.models import QuerySet
from django.http import HttpRequest
from ninja import Query, Router, Schema
from ninja.pagination import paginate

from rantai.api.common import OrgSlug, Pagination, oversight_access
from rantai.api.idempotency import idempotent
from rantai.audit import queries as audit_queries
from rantai.audit import services as audit
from rantai.audit.models import AuditEvent, AuditPersonalData, AuditVerb

router = Router(tags=["audit"])


def _personal(event: AuditEvent) -> AuditPersonalData | None:
    try:
        return event.personal
    except ObjectDoesNotExist:
        return None


class AuditEventOut(Schema):
    sequence: int
    occurred_at: dt.datetime
    actor_id: int | None
    actor_label: str
    verb: AuditVerb
    target_type: str
    target_id: str
    target_label: str
    changes: dict[str, Any]
    personal_changes: dict[str, Any]
    redacted: bool
    request_id: str
    previous_hash: str
    hash: str

    @staticmethod
    def resolve_actor_label(event: AuditEvent) -> str:
        personal = _personal(event)
        return personal.actor_label if personal else ""

    @staticmethod
    def resolve_target_label(event: AuditEvent) -> str:
        personal = _personal(event)
        return personal.target_label if personal else ""

    @staticmethod
    def resolve_personal_changes(event: AuditEvent) -> dict[str, Any]:
        personal = _personal(event)
        return personal.changes if personal else {}

    @staticmethod
    def resolve_redacted(event: AuditEvent) -> bool:
        personal = _personal(event)
        return personal is not None and personal.redacted_at is not None


class AuditEventFilters(Schema):
    verb: AuditVerb | None = None
    target_type: str | None = None
    target_id: str | None = None
    actor_id: int | None = None


class Checkpoint(Schema):
    """A signed statement of the chain head, to keep somewhere else."""

    organisation: str
    organisation_id: int
    sequence: int
    hash: str
    exported_at: str
    signature: str


class VerifyIn(Schema):
    checkpoint: Checkpoint | None = None


class VerificationOut(Schema):
    organisation: str
    ok: bool
    events_checked: int
    head_sequence: int
    first_broken_sequence: int | None
    problem: str


@router.get("/audit/events", response=list[AuditEventOut])
@paginate(Pagination)
def list_audit_events(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[AuditEventFilters]
) -> QuerySet[AuditEvent]:
    """The organisation's audit events, newest first."""
    access = oversight_access(request, org_slug)
    events = audit_queries.events_of(access.organisation)
    if filters.verb is not None:
        events = events.filter(verb=filters.verb)
    if filters.target_type:
        events = events.filter(target_type=filters.target_type)
    if filters.target_id:
        events = events.filter(target_id=filters.target_id)
    if filters.actor_id is not None:
        events = events.filter(actor_id=filters.actor_id)
    return events


@router.get("/audit/history/{target_type}/{target_id}", response=list[AuditEventOut])
@paginate(Pagination)
def object_history(
    request: HttpRequest, org_slug: OrgSlug, target_type: str, target_id: str
) -> QuerySet[AuditEvent]:
    """Every event about one object (e.g. `org.party` and its id), newest first."""
    access = oversight_access(request, org_slug)
    return audit_queries.events_of(access.organisation).filter(
        target_type=target_type, target_id=target_id
    )


@router.post("/audit/verify", response=VerificationOut)
@idempotent
def verify_audit_trail(
    request: HttpRequest, org_slug: OrgSlug, payload: VerifyIn
) -> dict[str, Any]:
    """Recompute the hash chain; with a checkpoint, also prove nothing was rewritten
    or removed since it was exported."""
    access = oversight_access(request, org_slug)
    checkpoint = (
        json.dumps(payload.checkpoint.model_dump()) if payload.checkpoint else None
    )
    return audit.verify(access.organisation, checkpoint=checkpoint).as_dict()


@router.get("/audit/checkpoint", response=Checkpoint)
def audit_checkpoint(request: HttpRequest, org_slug: OrgSlug) -> dict[str, Any]:
    """Export a signed checkpoint of the chain head."""
    access = oversight_access(request, org_slug)
    document: dict[str, Any] = json.loads(audit.export_checkpoint(access.organisation))
    return document
