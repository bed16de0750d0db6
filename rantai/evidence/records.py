"""Recording information and adding evidence to it (docs/design-evidence.md).

* **Who records**: administrators and members anywhere in their organisation;
  partners on runs their party takes part in (it owns a task of the run), and a
  task's record only on their own party's tasks. Auditors read only.
* A record starts `unverified`; adding evidence later never changes its status
  (it bumps the record's version, so a verifier who saw less is told to reload).
* Evidence items are files (checked and stored by `uploads.py`), links (http or
  https) or measured values with a unit; never changed once added.

Every input is checked before anything is written; files are stored only after
their checks passed and are deleted again when the service fails.
"""

from __future__ import annotations

import datetime as dt
from collections.abc import Sequence
from dataclasses import dataclass
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.exceptions import ValidationError
from django.core.files import File
from django.core.validators import URLValidator
from django.db import transaction
from django.db.models import F
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains.models import Run, Task
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.core.validation import full_clean
from rantai.evidence import guards, policy, uploads
from rantai.evidence.models import (
    EvidenceItem,
    EvidenceKind,
    InformationRecord,
    RecordKind,
    RecordStatus,
    SourceKind,
    Verification,
)
from rantai.org.models import Party, Person

__all__ = [
    "NewFile",
    "NewItem",
    "NewLink",
    "NewValue",
    "add_evidence",
    "attach_task_evidence",
    "may_record",
    "prepare_items",
    "record_information",
    "refusal",
    "refuse_nul_characters",
    "require_may_record",
    "write_items",
]

# A moment "said or measured at" may be this far ahead of the server's clock.
_CLOCK_SKEW = dt.timedelta(minutes=5)
_URL = URLValidator(schemes=["http", "https"])


@dataclass(frozen=True)
class NewFile:
    """A file to add: the upload and the name the user gave it."""

    upload: File
    name: str
    label: str = ""


@dataclass(frozen=True)
class NewLink:
    url: str
    label: str = ""


@dataclass(frozen=True)
class NewValue:
    """A measured value with its unit."""

    quantity: Decimal
    unit: str
    label: str = ""


NewItem = NewFile | NewLink | NewValue


# --- who records ----------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    moment = now or timezone.now()
    if timezone.is_naive(moment):
        raise ValueError("now must be timezone-aware")
    return moment


def _membership(organisation_id: int, user: User | None) -> Membership | None:
    if user is None or not user.is_active:
        return None
    return Membership.objects.filter(
        organisation_id=organisation_id, user_id=user.pk, is_active=True
    ).first()


def _party_takes_part(run_id: int, party_id: int | None) -> bool:
    """Whether the party owns a task of the run (a partner's view of a run)."""
    return (
        party_id is not None
        and Task.objects.filter(run_id=run_id, responsible_party_id=party_id).exists()
    )


def refusal(
    membership: Membership | None, *, run_id: int | None, task: Task | None
) -> str | None:
    """Why the member may not record (or check) information on the run or task
    (None: allowed); `NotFound` for a non-member."""
    if membership is None:
        raise NotFound()
    if membership.role in (Role.ADMIN, Role.MEMBER):
        return None
    if membership.role != Role.PARTNER:
        return _("Auditors read information records; they do not record or check them.")
    if run_id is None:
        return _("External partners record information only on the runs they work in.")
    if task is not None and task.responsible_party_id != membership.party_id:
        return _("External partners record information only on their own tasks.")
    if task is None and not _party_takes_part(run_id, membership.party_id):
        return _("External partners record information only on the runs they work in.")
    return None


def require_may_record(
    organisation_id: int,
    actor: User | None,
    *,
    run_id: int | None = None,
    task: Task | None = None,
) -> Membership:
    """The actor's membership if they may record (and check) information on the
    run or task; `NotFound` for a non-member, `PermissionDenied` otherwise."""
    membership = _membership(organisation_id, actor)
    reason = refusal(membership, run_id=run_id, task=task)
    if reason is not None:
        raise PermissionDenied(reason)
    assert membership is not None
    return membership


def may_record(
    organisation_id: int,
    user: User | None,
    *,
    run_id: int | None = None,
    task: Task | None = None,
) -> bool:
    """Whether the user may record information on the run or task (for pages)."""
    membership = _membership(organisation_id, user)
    return (
        membership is not None and refusal(membership, run_id=run_id, task=task) is None
    )


# --- evidence items -------------------------------------------------------------------


@dataclass(frozen=True)
class PreparedItem:
    """An item checked and ready to be written (a file not yet stored)."""

    item: EvidenceItem
    upload: File | None = None
    checked: uploads.CheckedFile | None = None


def _label(value: str) -> str:
    label = " ".join((value or "").split())
    refuse_nul_characters(label=label)
    if len(label) > 200:
        raise ValidationFailed(
            {"label": [_("The description has at most 200 characters.")]}
        )
    return label


def prepare_items(organisation_id: int, items: Sequence[NewItem]) -> list[PreparedItem]:
    """Check every item (files by content, size and type) without storing any."""
    if not items:
        return []
    settings = policy.settings_for(organisation_id)
    allowed = policy.allowed_types(settings)
    max_bytes = policy.max_file_bytes(settings)
    prepared: list[PreparedItem] = []
    for new in items:
        base = {"organisation_id": organisation_id, "label": _label(new.label)}
        if isinstance(new, NewFile):
            checked = uploads.check(
                new.upload, name=new.name, allowed=allowed, max_bytes=max_bytes
            )
            item = EvidenceItem(
                kind=EvidenceKind.FILE,
                original_name=checked.original_name,
                content_type=checked.content_type,
                size=checked.size,
                sha256=checked.sha256,
                **base,
            )
            prepared.append(PreparedItem(item, new.upload, checked))
        elif isinstance(new, NewLink):
            url = (new.url or "").strip()
            refuse_nul_characters(url=url)
            try:
                _URL(url)
            except ValidationError as error:
                raise ValidationFailed(
                    {"url": [_("Enter a web address starting with http or https.")]}
                ) from error
            if len(url) > 2000:
                raise ValidationFailed(
                    {"url": [_("The address has at most 2000 characters.")]}
                )
            prepared.append(
                PreparedItem(EvidenceItem(kind=EvidenceKind.LINK, url=url, **base))
            )
        elif isinstance(new, NewValue):
            prepared.append(PreparedItem(_value_item(new, base)))
        else:  # pragma: no cover - the type says it cannot happen
            raise TypeError(f"not an evidence item: {new!r}")
    return prepared


def _value_item(new: NewValue, base: dict[str, Any]) -> EvidenceItem:
    try:
        quantity = Decimal(str(new.quantity))
    except (InvalidOperation, ValueError) as error:
        raise ValidationFailed({"quantity": [_("Enter a number.")]}) from error
    if not quantity.is_finite():
        raise ValidationFailed({"quantity": [_("Enter a number.")]})
    unit = " ".join((new.unit or "").split())
    if not unit:
        raise ValidationFailed({"unit": [_("Give the unit of the value.")]})
    refuse_nul_characters(unit=unit)
    item = EvidenceItem(kind=EvidenceKind.VALUE, quantity=quantity, unit=unit, **base)
    # The value's digits and the unit's length, by the model's own rules.
    full_clean(
        item,
        exclude=[
            "organisation",
            "record",
            "verification",
            "added_by",
            "added_at",
            "file",
            "original_name",
            "content_type",
            "size",
            "sha256",
            "url",
            "label",
        ],
    )
    return item


def write_items(
    record: InformationRecord,
    prepared: Sequence[PreparedItem],
    *,
    actor: User,
    now: dt.datetime,
    stored: list[str],
    verification: Verification | None = None,
) -> list[EvidenceItem]:
    """Store the prepared files (their names appended to `stored`, for the
    cleanup when the service fails) and insert the items."""
    made: list[EvidenceItem] = []
    for entry in prepared:
        item = entry.item
        if entry.upload is not None and entry.checked is not None:
            name = uploads.store(
                entry.upload,
                entry.checked,
                organisation_id=record.organisation_id,
                now=now,
            )
            stored.append(name)
            item.file.name = name
        item.record = record
        item.verification = verification
        item.added_by = actor
        item.added_at = now
        item.save()
        made.append(item)
    return made


def items_audit(
    items: Sequence[EvidenceItem],
) -> tuple[list[dict[str, Any]], list[dict[str, Any]]]:
    """(public, personal) audit data of items: kinds, checksums, sizes and values
    in the hash; descriptions, file names and addresses redactable."""
    public: list[dict[str, Any]] = []
    personal: list[dict[str, Any]] = []
    for item in items:
        entry: dict[str, Any] = {"id": item.pk, "kind": item.kind}
        if item.kind == EvidenceKind.FILE:
            entry.update(
                sha256=item.sha256, size=item.size, content_type=item.content_type
            )
        elif item.kind == EvidenceKind.VALUE:
            entry.update(quantity=str(item.quantity), unit=item.unit)
        public.append(entry)
        detail: dict[str, Any] = {"id": item.pk, "label": item.label}
        if item.kind == EvidenceKind.FILE:
            detail["name"] = item.original_name
        elif item.kind == EvidenceKind.LINK:
            detail["url"] = item.url
        personal.append(detail)
    return public, personal


# --- recording ------------------------------------------------------------------------


def _same_organisation(organisation_id: int, name: str, obj: Any) -> None:
    if obj is not None and obj.organisation_id != organisation_id:
        raise ValidationFailed({name: [_("This belongs to another organisation.")]})


def _required(name: str, value: str) -> str:
    text = (value or "").strip()
    if not text:
        raise ValidationFailed({name: [_("This field is required.")]})
    refuse_nul_characters(**{name: text})
    return text


def refuse_nul_characters(**texts: str | None) -> None:
    """Refuse text with NUL characters, per field (PostgreSQL stores none: the
    database would fail instead; the web forms refuse them the same way, the API
    and the command line reach the services directly)."""
    errors = {
        name: [_("Null characters are not allowed.")]
        for name, text in texts.items()
        if text and "\x00" in text
    }
    if errors:
        raise ValidationFailed(errors)


def record_information(
    organisation: Organisation,
    *,
    actor: User,
    title: str,
    statement: str,
    source_kind: str,
    source_detail: str,
    kind: str = RecordKind.CLAIM,
    run: Run | None = None,
    task: Task | None = None,
    source_party: Party | None = None,
    observed_at: dt.datetime | None = None,
    items: Sequence[NewItem] = (),
    now: dt.datetime | None = None,
) -> InformationRecord:
    """Record a piece of information with its source (and evidence), unverified;
    audited `recorded`. A task's record names the task's run."""
    with uploads.removed_on_failure() as stored, transaction.atomic():
        return _record(
            organisation,
            actor=actor,
            title=title,
            statement=statement,
            source_kind=source_kind,
            source_detail=source_detail,
            kind=kind,
            run=run,
            task=task,
            source_party=source_party,
            observed_at=observed_at,
            items=items,
            now=_now(now),
            stored=stored,
        )


def _record(
    organisation: Organisation,
    *,
    actor: User,
    title: str,
    statement: str,
    source_kind: str,
    source_detail: str,
    kind: str,
    run: Run | None,
    task: Task | None,
    source_party: Party | None,
    observed_at: dt.datetime | None,
    items: Sequence[NewItem],
    now: dt.datetime,
    stored: list[str],
) -> InformationRecord:
    for name, obj in (("run", run), ("task", task), ("source_party", source_party)):
        _same_organisation(organisation.pk, name, obj)
    if task is not None:
        if run is not None and run.pk != task.run_id:
            raise ValidationFailed({"task": [_("This task belongs to another run.")]})
        run_id: int | None = task.run_id
    else:
        run_id = run.pk if run is not None else None
    require_may_record(organisation.pk, actor, run_id=run_id, task=task)
    if kind not in RecordKind.values:
        raise ValidationFailed({"kind": [_("Choose a kind from the list.")]})
    if kind == RecordKind.TASK_EVIDENCE and task is None:
        raise ValidationFailed({"task": [_("Evidence of a task names the task.")]})
    if source_kind not in SourceKind.values:
        raise ValidationFailed({"source_kind": [_("Choose a source from the list.")]})
    if observed_at is not None:
        if timezone.is_naive(observed_at):
            raise ValueError("observed_at must be timezone-aware")
        if observed_at > now + _CLOCK_SKEW:
            raise ValidationFailed(
                {"observed_at": [_("This moment is still in the future.")]}
            )
    record = InformationRecord(
        organisation=organisation,
        run_id=run_id,
        task=task,
        kind=kind,
        title=" ".join(_required("title", title).split()),
        statement=_required("statement", statement),
        source_kind=source_kind,
        source_detail=" ".join(_required("source_detail", source_detail).split()),
        source_party=source_party,
        observed_at=observed_at,
        status=RecordStatus.UNVERIFIED,
        recorded_by=actor,
        recorded_at=now,
        created_at=now,
        updated_at=now,
    )
    full_clean(
        record,
        exclude=[
            "organisation",
            "run",
            "task",
            "source_party",
            "recorded_by",
            "verified_by",
        ],
    )
    prepared = prepare_items(organisation.pk, items)
    record.save()
    made = write_items(record, prepared, actor=actor, now=now, stored=stored)
    public_items, personal_items = items_audit(made)
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.RECORDED,
        target=record,
        changes={
            "kind": record.kind,
            "run": record.run_id,
            "task": record.task_id,
            "source_kind": record.source_kind,
            "source_party": record.source_party_id,
            "observed_at": record.observed_at,
            "status": record.status,
            "items": public_items,
        },
        personal_changes={
            "title": record.title,
            "statement": record.statement,
            "source_detail": record.source_detail,
            "items": personal_items,
        },
    )
    return record


def add_evidence(
    record: InformationRecord,
    *,
    actor: User,
    items: Sequence[NewItem],
    now: dt.datetime | None = None,
) -> list[EvidenceItem]:
    """Add evidence to a record (anyone who may record on its run or task); its
    status stays, its version moves on. Audited `evidence_added`."""
    with uploads.removed_on_failure() as stored, transaction.atomic():
        moment = _now(now)
        locked = (
            InformationRecord.objects.select_for_update(of=("self",))
            .select_related("organisation", "task")
            .filter(pk=record.pk)
            .first()
        )
        if locked is None:
            raise NotFound()
        require_may_record(
            locked.organisation_id, actor, run_id=locked.run_id, task=locked.task
        )
        if not items:
            raise ValidationFailed(
                {"items": [_("Add at least one piece of evidence.")]}
            )
        prepared = prepare_items(locked.organisation_id, items)
        InformationRecord.objects.filter(pk=locked.pk).update(
            version=F("version") + 1, updated_at=moment
        )
        made = write_items(locked, prepared, actor=actor, now=moment, stored=stored)
        public_items, personal_items = items_audit(made)
        audit.record(
            locked.organisation,
            actor=actor,
            verb=AuditVerb.EVIDENCE_ADDED,
            target=locked,
            changes={"items": public_items},
            personal_changes={"items": personal_items},
        )
        record.version = locked.version + 1
        record.updated_at = moment
        task = locked.task
        if (
            locked.kind == RecordKind.TASK_EVIDENCE
            and task is not None
            and not task.requires_verified_evidence
        ):
            guards.recheck_if_waiting(task, actor=actor, now=moment)
        return made


def attach_task_evidence(
    task: Task,
    *,
    actor: User,
    items: Sequence[NewItem],
    title: str = "",
    statement: str = "",
    now: dt.datetime | None = None,
) -> InformationRecord:
    """Attach evidence of a task's work: a `task_evidence` record (own
    observation of the actor) with at least one item. Titled after the task and
    described by the step's expected evidence unless given."""
    with uploads.removed_on_failure() as stored, transaction.atomic():
        moment = _now(now)
        if not items:
            raise ValidationFailed(
                {"items": [_("Add at least one piece of evidence.")]}
            )
        found = (
            Task.objects.select_related("organisation", "step")
            .filter(pk=task.pk)
            .first()
        )
        if found is None:
            raise NotFound()
        require_may_record(
            found.organisation_id, actor, run_id=found.run_id, task=found
        )
        expected = found.step.evidence_description if found.step is not None else ""
        default_title = _("Evidence: {task}").format(task=found.name)
        observer = (
            Person.objects.filter(
                organisation_id=found.organisation_id, user_id=actor.pk, is_active=True
            )
            .values_list("full_name", flat=True)
            .first()
        )
        record = _record(
            found.organisation,
            actor=actor,
            title=(title or "").strip() or default_title[:200],
            statement=(statement or "").strip() or expected or default_title,
            source_kind=SourceKind.OBSERVATION,
            source_detail=(observer or actor.full_name or actor.get_username())[:300],
            kind=RecordKind.TASK_EVIDENCE,
            run=None,
            task=found,
            source_party=None,
            observed_at=None,
            items=items,
            now=moment,
            stored=stored,
        )
        if not found.requires_verified_evidence:
            # What the task waited for may be here now.
            guards.recheck_if_waiting(found, actor=actor, now=moment)
        return record
