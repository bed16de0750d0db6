"""Data over hearsay (docs/design-evidence.md): information records with their
source and evidence — files, links, measured values — their verification by
someone other than the author, the evidence of a task, downloading a file of
evidence, and the decisions that rest on records (citations).

Administrators, members and auditors read every record of the organisation; an
external partner reads the records of the runs its party takes part in (the run's
own and those of its own party's tasks), anything else is 404. Administrators and
members record anywhere, partners on those runs (a task's record only on their
own party's tasks); auditors record nothing. The services decide (403 with the
rule that refused). Every answer with a record carries its `status` and
`is_hearsay`: not (or no longer) verified by someone other than its author.

Files are posted as multipart/form-data (`file`, `label`); they are checked by
content as well as name, size-limited and stored under a generated name — a
refused file is 422 naming `file`, and nothing is stored. A download is always
an attachment with the stored type, `nosniff` and a sandboxing CSP, as on the web.
"""

import datetime as dt
import functools
import hashlib
from collections.abc import Callable, Sequence
from decimal import Decimal
from typing import Annotated, Any, Literal

from django.core.files.storage import default_storage
from django.db.models import QuerySet
from django.http import FileResponse, HttpRequest, HttpResponse
from django.utils.translation import gettext as _
from ninja import Field, File, Form, Query, Router, Schema
from ninja.decorators import decorate_view
from ninja.files import UploadedFile
from ninja.pagination import paginate
from pydantic import AwareDatetime

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.api.common import OrgSlug, Pagination, org_access, resolve
from rantai.api.idempotency import HEADER, idempotent
from rantai.api.routers.approvals import field_names
from rantai.api.routers.workload import ExactDecimal
from rantai.api.versions import IF_MATCH, expected_version, with_etag
from rantai.approvals.models import Decision
from rantai.chains import queries as chains_queries
from rantai.chains.models import DeviationStatus
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.evidence import citations, guards, queries, records, verification
from rantai.evidence.models import (
    Citation,
    CitingKind,
    EvidenceItem,
    EvidenceKind,
    InformationRecord,
    RecordKind,
    RecordStatus,
    SourceKind,
    Verdict,
    Verification,
)
from rantai.obstacles import queries as obstacle_queries
from rantai.obstacles import review_queries
from rantai.org import queries as org_queries

router = Router(tags=["evidence"])

# A file is served as the type stored when it was checked; anything else is a
# plain download (as on the web).
FALLBACK_CONTENT_TYPE = "application/octet-stream"
FIELDS = {"run": "run_id", "source_party": "source_party_id", "task": "task_id"}


# --- uploads and Idempotency-Key --------------------------------------------------------


def fingerprint_form(
    run: Callable[..., HttpResponse],
) -> Callable[..., HttpResponse]:
    """Give an upload's `Idempotency-Key` a fingerprint of what was posted — its
    form fields and each file's name and SHA-256, read in chunks — since Django
    cannot give the raw body of a parsed multipart form, and a file of evidence is
    never read into memory whole."""

    @functools.wraps(run)
    def wrapper(request: HttpRequest, *args: Any, **kwargs: Any) -> HttpResponse:
        if HEADER in request.headers and not hasattr(request, "_body"):
            digest = hashlib.sha256()
            for name in sorted(request.POST):
                for value in request.POST.getlist(name):
                    digest.update(f"field\0{name}\0{value}\0".encode())
            for name in sorted(request.FILES):
                for upload in request.FILES.getlist(name):
                    digest.update(f"file\0{name}\0{upload.name}\0".encode())
                    for chunk in upload.chunks():
                        digest.update(chunk)
                    upload.seek(0)
            # What `idempotent` fingerprints as the request's body.
            request._body = digest.hexdigest().encode()
        return run(request, *args, **kwargs)

    return wrapper


# --- schemas ----------------------------------------------------------------------------


class LinkIn(Schema):
    """A link (http or https) to where the evidence can be seen."""

    kind: Literal["link"]
    url: str = Field(..., max_length=2000)
    label: str = Field("", description="What it shows (optional).")


class ValueIn(Schema):
    """A measured value with its unit."""

    kind: Literal["value"]
    quantity: Decimal = Field(..., description='A number, e.g. 500 or "12.5".')
    unit: str
    label: str = ""


ItemIn = Annotated[LinkIn | ValueIn, Field(discriminator="kind")]


def _new_items(items: Sequence[LinkIn | ValueIn]) -> list[records.NewItem]:
    return [
        records.NewLink(url=item.url, label=item.label)
        if isinstance(item, LinkIn)
        else records.NewValue(quantity=item.quantity, unit=item.unit, label=item.label)
        for item in items
    ]


def org_url(request: HttpRequest, rest: str) -> str:
    """The URL of `rest` under the organisation of the request's path."""
    head, _sep, tail = request.path.partition("/orgs/")
    return f"{head}/orgs/{tail.split('/', 1)[0]}/{rest}"


def _name(user: Any) -> str:
    return (user.full_name or user.get_username()) if user is not None else ""


class EvidenceItemOut(Schema):
    """One piece of evidence, never changed once added: a file (its name, type,
    size, checksum and where to download it), a link, or a value with its unit."""

    id: int
    kind: EvidenceKind
    label: str
    original_name: str = Field(..., description="A file's name as uploaded.")
    content_type: str
    size: int | None = Field(None, description="A file's size in bytes.")
    sha256: str = Field(..., description="A file's SHA-256 checksum.")
    download_url: str | None = Field(None, description="A file's download.")
    url: str = Field(..., description="A link's address.")
    quantity: ExactDecimal | None = Field(None, description="A value's number.")
    unit: str
    verification_id: int | None = Field(
        None, description="Given with this verification (the checker's evidence)."
    )
    added_by_id: int
    added_at: dt.datetime

    @staticmethod
    def resolve_download_url(item: EvidenceItem, context: Any) -> str | None:
        if item.kind != EvidenceKind.FILE:
            return None
        return org_url(context["request"], f"evidence-items/{item.pk}/download")


class VerificationOut(Schema):
    """A check of the record by someone other than its author; the newest decides
    the record's status."""

    id: int
    verdict: Verdict
    note: str
    previous_status: RecordStatus
    by_id: int
    by_name: str
    at: dt.datetime

    @staticmethod
    def resolve_by_name(check: Verification) -> str:
        return _name(check.by)


class CitationOut(Schema):
    """Something that rests on the record: an approval or deviation decision, an
    obstacle or its resolution, a review."""

    citing_kind: CitingKind
    citing_id: int
    status_when_cited: RecordStatus
    cited_by_id: int
    cited_at: dt.datetime


class RecordOut(Schema):
    id: int
    kind: RecordKind
    title: str
    statement: str
    source_kind: SourceKind
    source_detail: str = Field(
        ..., description="Who said it, which document or system."
    )
    source_party_id: int | None
    source_party_name: str | None
    run_id: int | None
    run_title: str | None
    task_id: int | None
    task_name: str | None
    observed_at: dt.datetime | None = Field(None, description="Said or measured at.")
    status: RecordStatus = Field(
        ..., description="unverified until someone else checks; the newest verdict."
    )
    is_hearsay: bool = Field(
        ..., description="Not (or no longer) verified: show it as hearsay."
    )
    evidence_count: int
    recorded_by_id: int
    recorded_by_name: str
    recorded_at: dt.datetime
    verified_by_id: int | None = Field(None, description="Who gave the newest verdict.")
    verified_at: dt.datetime | None
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_source_party_name(record: InformationRecord) -> str | None:
        party = record.source_party
        return party.name if party is not None else None

    @staticmethod
    def resolve_run_title(record: InformationRecord) -> str | None:
        run = record.run
        return run.title if run is not None else None

    @staticmethod
    def resolve_task_name(record: InformationRecord) -> str | None:
        task = record.task
        return task.name if task is not None else None

    @staticmethod
    def resolve_recorded_by_name(record: InformationRecord) -> str:
        return _name(record.recorded_by)


class TaskRecordOut(RecordOut):
    """A record with its evidence items."""

    evidence: list[EvidenceItemOut]
    may_verify: bool = Field(
        ...,
        description="You may check it (you may record here and are not its author).",
    )

    @staticmethod
    def resolve_evidence(record: InformationRecord) -> list[EvidenceItem]:
        return list(record.evidence.all())


class RecordDetailOut(TaskRecordOut):
    """A record with its evidence, its verifications and what rests on it."""

    verifications: list[VerificationOut]
    citations: list[CitationOut]

    @staticmethod
    def resolve_verifications(record: InformationRecord) -> list[Verification]:
        return list(record.verifications.all())

    @staticmethod
    def resolve_citations(record: InformationRecord) -> list[Citation]:
        return record.citations_shown  # type: ignore[attr-defined,no-any-return]


def record_answer(
    access: Access, record_id: int, response: HttpResponse
) -> InformationRecord:
    """The record as the caller sees it now, with its ETag (five queries)."""
    record = queries.record(access, record_id)
    record.evidence_count = len(record.evidence.all())  # type: ignore[attr-defined]
    record.citations_shown = list(  # type: ignore[attr-defined]
        Citation.objects.filter(record_id=record.pk).order_by("cited_at", "id")
    )
    record.may_verify = queries.may_verify(access, record)  # type: ignore[attr-defined]
    with_etag(response, record)
    return record


def _created(
    request: HttpRequest, access: Access, response: HttpResponse, record_id: int
) -> InformationRecord:
    response["Location"] = org_url(request, f"records/{record_id}")
    return record_answer(access, record_id, response)


# --- records ----------------------------------------------------------------------------


class RecordFilters(Schema):
    run_id: int | None = None
    task_id: int | None = None
    status: RecordStatus | None = None
    kind: RecordKind | None = None
    q: str | None = Field(None, description="Words of the title, statement or source.")


class RecordIn(Schema):
    """A piece of information with its source; about a run, a task of it (the
    run is then the task's) or the organisation as a whole (neither)."""

    kind: RecordKind = RecordKind.CLAIM
    title: str = Field(..., max_length=200)
    statement: str = Field(..., description="What is said or measured.")
    source_kind: SourceKind
    source_detail: str = Field(
        ..., max_length=300, description="Who said it, which document or system."
    )
    source_party_id: int | None = Field(None, description="The party it came from.")
    run_id: int | None = None
    task_id: int | None = None
    observed_at: AwareDatetime | None = Field(
        None, description="When it was said or measured (with its time zone)."
    )
    items: list[ItemIn] = Field(
        default_factory=list,
        description="Links and values now (files: POST …/records/{id}/files).",
    )


class ItemsIn(Schema):
    items: list[ItemIn] = Field(..., description="At least one link or value.")


class VerifyIn(Schema):
    """Your verdict on someone else's record, with a note (what you checked it
    against) and, if you like, your own evidence."""

    verdict: Verdict
    note: str
    items: list[ItemIn] = Field(default_factory=list)
    version: int | None = Field(None, description="The record's version.")


@router.get("/records", response=list[RecordOut])
@paginate(Pagination)
def list_records(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[RecordFilters]
) -> QuerySet[InformationRecord]:
    """The information records you may see, newest first, each with its status
    (and whether it is hearsay) and its number of evidence items."""
    return queries.records(
        org_access(request, org_slug),
        run=filters.run_id,
        task=filters.task_id,
        status=filters.status,
        kind=filters.kind,
        search=filters.q,
    )


@router.get("/records/{record_id}", response=RecordDetailOut)
def get_record(
    request: HttpRequest, org_slug: OrgSlug, record_id: int, response: HttpResponse
) -> InformationRecord:
    """A record with its evidence (files with their download address), every
    verification (newest last) and what rests on it."""
    return record_answer(org_access(request, org_slug), record_id, response)


@router.post("/records", response={201: RecordDetailOut})
@idempotent
def create_record(
    request: HttpRequest, org_slug: OrgSlug, payload: RecordIn, response: HttpResponse
) -> InformationRecord:
    """Record a piece of information with its source — unverified until someone
    else checks it — and, if you have them, links and values as evidence (add
    files with `POST /records/{id}/files`)."""
    access = org_access(request, org_slug)
    with field_names(FIELDS):
        record = records.record_information(
            access.organisation,
            actor=access.user,
            title=payload.title,
            statement=payload.statement,
            source_kind=payload.source_kind,
            source_detail=payload.source_detail,
            kind=payload.kind,
            run=resolve(chains_queries.runs(access), payload.run_id, "run_id"),
            task=resolve(chains_queries.tasks(access), payload.task_id, "task_id"),
            source_party=resolve(
                org_queries.parties(access), payload.source_party_id, "source_party_id"
            ),
            observed_at=payload.observed_at,
            items=_new_items(payload.items),
        )
    return _created(request, access, response, record.pk)


@router.post("/records/{record_id}/evidence", response=RecordDetailOut)
@idempotent
def add_evidence(
    request: HttpRequest,
    org_slug: OrgSlug,
    record_id: int,
    payload: ItemsIn,
    response: HttpResponse,
) -> InformationRecord:
    """Add links and values to a record (its status does not change)."""
    access = org_access(request, org_slug)
    records.add_evidence(
        queries.record(access, record_id),
        actor=access.user,
        items=_new_items(payload.items),
    )
    return record_answer(access, record_id, response)


@router.post("/records/{record_id}/files", response=RecordDetailOut)
@decorate_view(fingerprint_form)
@idempotent
def add_file(
    request: HttpRequest,
    org_slug: OrgSlug,
    record_id: int,
    response: HttpResponse,
    file: File[UploadedFile],
    label: Form[str] = "",
) -> InformationRecord:
    """Upload a file of evidence to a record (multipart/form-data: `file`, and
    optionally `label`). Allowed: PDF, images (PNG, JPEG, GIF, WebP), plain text,
    CSV and office documents, as the organisation allows, up to its size limit.
    The content decides and the name must agree; web pages, SVG, XML, scripts and
    programs are refused whatever their name (422 on `file`, nothing stored)."""
    access = org_access(request, org_slug)
    records.add_evidence(
        queries.record(access, record_id),
        actor=access.user,
        items=[records.NewFile(upload=file, name=file.name or "", label=label)],
    )
    return record_answer(access, record_id, response)


@router.post(
    "/records/{record_id}/verify", response=RecordDetailOut, openapi_extra=IF_MATCH
)
@idempotent
def verify_record(
    request: HttpRequest,
    org_slug: OrgSlug,
    record_id: int,
    payload: VerifyIn,
    response: HttpResponse,
) -> InformationRecord:
    """Check someone else's record: verified, disputed or refuted, with a note.
    Anyone who may record on its run or task, except its author (403). A verdict
    equal to its status is 422 (code `unchanged`). The author is told; verified
    evidence of a task that waits for it lets the task complete."""
    access = org_access(request, org_slug)
    version = expected_version(request, payload.version)
    verification.verify(
        queries.record(access, record_id),
        actor=access.user,
        verdict=payload.verdict,
        note=payload.note,
        expected_version=version,
        items=_new_items(payload.items),
    )
    return record_answer(access, record_id, response)


DOWNLOAD: dict[str, Any] = {
    "responses": {
        200: {
            "description": "The file, as an attachment (Content-Disposition), with "
            "its stored type, X-Content-Type-Options: nosniff and "
            "Content-Security-Policy: sandbox.",
            "content": {
                FALLBACK_CONTENT_TYPE: {
                    "schema": {"type": "string", "format": "binary"}
                }
            },
        }
    }
}


@router.get("/evidence-items/{item_id}/download", openapi_extra=DOWNLOAD)
def download_evidence(
    request: HttpRequest, org_slug: OrgSlug, item_id: int
) -> FileResponse:
    """A file of evidence of a record you may see (404 otherwise): always an
    attachment with the type stored when it was checked, never sniffed, and
    sandboxed should a browser open it anyway."""
    item = queries.evidence_item(org_access(request, org_slug), item_id)
    if not item.file or not item.file.name:
        raise NotFound()
    try:
        handle = default_storage.open(item.file.name, "rb")
    except OSError as error:
        raise NotFound(_("The file is no longer stored.")) from error
    response = FileResponse(
        handle,
        as_attachment=True,
        filename=item.original_name or f"evidence-{item.pk}",
        content_type=item.content_type or FALLBACK_CONTENT_TYPE,
    )
    response["X-Content-Type-Options"] = "nosniff"
    response["Content-Security-Policy"] = "sandbox; default-src 'none'"
    response["Cache-Control"] = "private, no-store"
    response["Cross-Origin-Resource-Policy"] = "same-origin"
    return response


# --- the evidence of a task ----------------------------------------------------------------


class MissingEvidenceOut(Schema):
    """What the task requires in evidence and what it has."""

    required: bool
    needs_verification: bool = Field(..., description="Verified evidence required.")
    attached: int = Field(..., description="Evidence records with at least one item.")
    verified: int = Field(..., description="Of those, the verified ones.")
    description: str = Field(..., description="The evidence the step expects.")
    ok: bool = Field(..., description="Nothing keeps the task waiting for evidence.")
    message: str = Field(..., description="What is missing, in your language.")


class TaskEvidenceOut(Schema):
    task_id: int
    missing: MissingEvidenceOut
    records: list[TaskRecordOut] = Field(..., description="Oldest first.")


class TaskEvidenceIn(Schema):
    """Evidence of your work on the task: by default titled after the task and
    described by the evidence its step expects."""

    title: str = Field("", max_length=200)
    statement: str = ""
    items: list[ItemIn] = Field(..., description="At least one link or value.")


@router.get("/tasks/{task_id}/evidence", response=TaskEvidenceOut)
def task_evidence(
    request: HttpRequest, org_slug: OrgSlug, task_id: int
) -> dict[str, Any]:
    """What evidence the task requires, what is missing, and its evidence records
    (with their items and verifications)."""
    access = org_access(request, org_slug)
    task = chains_queries.task(access, task_id)
    missing = guards.missing_evidence(task)
    found = queries.task_evidence(access, task)
    for record in found:
        record.run = task.run
        record.task = task
        record.evidence_count = len(record.evidence.all())  # type: ignore[attr-defined]
        record.may_verify = queries.may_verify(access, record)  # type: ignore[attr-defined]
    return {
        "task_id": task.pk,
        "missing": {
            "required": missing.required,
            "needs_verification": missing.needs_verification,
            "attached": missing.attached,
            "verified": missing.verified,
            "description": missing.description,
            "ok": missing.ok,
            "message": missing.message,
        },
        "records": found,
    }


def _attached(
    request: HttpRequest,
    access: Access,
    response: HttpResponse,
    task_id: int,
    items: list[records.NewItem],
    title: str,
    statement: str,
) -> InformationRecord:
    record = records.attach_task_evidence(
        chains_queries.task(access, task_id),
        actor=access.user,
        items=items,
        title=title,
        statement=statement,
    )
    return _created(request, access, response, record.pk)


@router.post("/tasks/{task_id}/evidence", response={201: RecordDetailOut})
@idempotent
def attach_task_evidence(
    request: HttpRequest,
    org_slug: OrgSlug,
    task_id: int,
    payload: TaskEvidenceIn,
    response: HttpResponse,
) -> InformationRecord:
    """Attach links and values as evidence of the task (a new `task_evidence`
    record, your own observation). Whoever may record on the task: members and
    administrators, a partner on its own party's tasks. A task waiting for its
    evidence is checked again when it arrives (verified, where its step says so)."""
    access = org_access(request, org_slug)
    return _attached(
        request,
        access,
        response,
        task_id,
        _new_items(payload.items),
        payload.title,
        payload.statement,
    )


@router.post("/tasks/{task_id}/evidence/files", response={201: RecordDetailOut})
@decorate_view(fingerprint_form)
@idempotent
def attach_task_file(
    request: HttpRequest,
    org_slug: OrgSlug,
    task_id: int,
    response: HttpResponse,
    file: File[UploadedFile],
    label: Form[str] = "",
    title: Form[str] = "",
    statement: Form[str] = "",
) -> InformationRecord:
    """Upload a file as evidence of the task (multipart/form-data: `file`, and
    optionally `label`, `title`, `statement`): a new `task_evidence` record. The
    file is checked as for `POST /records/{id}/files`."""
    access = org_access(request, org_slug)
    return _attached(
        request,
        access,
        response,
        task_id,
        [records.NewFile(upload=file, name=file.name or "", label=label)],
        title,
        statement,
    )


# --- citations ----------------------------------------------------------------------------

CITABLE = (
    CitingKind.APPROVAL_DECISION,
    CitingKind.DEVIATION_DECISION,
    CitingKind.REVIEW,
)


class CitedOut(Schema):
    """What a decision, obstacle or review rests on, with each record's status
    now."""

    citing_kind: CitingKind
    citing_id: int
    records: list[RecordOut] = Field(..., description="By title.")
    rests_on_unverified: bool = Field(
        ..., description="Some record is not (or no longer) verified."
    )


class CitedQuery(Schema):
    citing_kind: CitingKind
    citing_id: int


class CiteIn(Schema):
    """Let your decision (or a review) rest on records of its run."""

    citing_kind: Literal[
        CitingKind.APPROVAL_DECISION,
        CitingKind.DEVIATION_DECISION,
        CitingKind.REVIEW,
    ] = Field(
        ...,
        description="approval_decision, deviation_decision or review (an obstacle "
        "names its records itself: POST /obstacles/{id}/records, and its "
        "resolution when resolved).",
    )
    citing_id: int
    record_ids: list[int] = Field(..., min_length=1)


def _citing(access: Access, kind: str, citing_id: int) -> tuple[int | None, bool]:
    """(the run, whether the caller may cite on it) of a decision, obstacle or
    review the caller sees (404 otherwise). A decision is cited by whoever
    made it; a review by whoever may edit it."""
    user_id = access.user.pk
    if kind == CitingKind.APPROVAL_DECISION:
        if not access.sees_whole_organisation:
            raise NotFound()
        decision = (
            Decision.objects.filter(organisation=access.organisation, pk=citing_id)
            .select_related("request")
            .first()
        )
        if decision is None:
            raise NotFound()
        return decision.request.run_id, decision.decided_by_id == user_id
    if kind == CitingKind.DEVIATION_DECISION:
        deviation = chains_queries.deviations(access).filter(pk=citing_id).first()
        if deviation is None:
            raise NotFound()
        decided = deviation.status != DeviationStatus.REQUESTED
        return deviation.run_id, decided and deviation.decided_by_id == user_id
    if kind == CitingKind.REVIEW:
        review = review_queries.reviews(access).filter(pk=citing_id).first()
        if review is None:
            raise NotFound()
        return review.run_id, review_queries.may_edit(access, review)
    obstacle = obstacle_queries.obstacles(access).filter(pk=citing_id).first()
    if obstacle is None:
        raise NotFound()
    return obstacle.run_id, False


def _cited(access: Access, kind: str, citing_id: int) -> dict[str, Any]:
    cited = citations.citations_for(kind, [citing_id])[citing_id]
    return {
        "citing_kind": kind,
        "citing_id": citing_id,
        "records": queries.records(access)
        .filter(pk__in=[record.pk for record in cited])
        .order_by("title", "id"),
        "rests_on_unverified": citations.rests_on_unverified(cited),
    }


@router.get("/citations", response=CitedOut)
def cited_records(
    request: HttpRequest, org_slug: OrgSlug, query: Query[CitedQuery]
) -> dict[str, Any]:
    """What a decision, obstacle (or its resolution) or review rests on, and
    whether any of it is unverified."""
    access = org_access(request, org_slug)
    _citing(access, query.citing_kind, query.citing_id)
    return _cited(access, query.citing_kind, query.citing_id)


@router.post("/citations", response=CitedOut)
@idempotent
def cite(request: HttpRequest, org_slug: OrgSlug, payload: CiteIn) -> dict[str, Any]:
    """Let a decision you made (an approval or deviation decision) or a review
    you may edit rest on records of its run that you may see; citing a record
    again changes nothing. Each new citation is audited on its record. Answers
    everything it rests on now."""
    access = org_access(request, org_slug)
    if access.role not in (Role.ADMIN, Role.MEMBER, Role.PARTNER):
        raise PermissionDenied(_("Auditors read citations; they do not cite."))
    run_id, may_cite = _citing(access, payload.citing_kind, payload.citing_id)
    if not may_cite:
        raise PermissionDenied(
            _(
                "Only whoever made the decision (for a review: whoever may edit it) "
                "can say what it rests on."
            )
        )
    wanted = list(dict.fromkeys(payload.record_ids))
    found = {
        record.pk: record
        for record in queries.visible_records(access).filter(pk__in=wanted)
    }
    errors = [
        _("Record {id} is not a record of this run that you can see.").format(id=pk)
        for pk in wanted
        if pk not in found or run_id is None or found[pk].run_id != run_id
    ]
    if errors:
        raise ValidationFailed({"record_ids": errors})
    citations.cite(
        [found[pk] for pk in wanted],
        citing_kind=payload.citing_kind,
        citing_id=payload.citing_id,
        actor=access.user,
    )
    return _cited(access, payload.citing_kind, payload.citing_id)
