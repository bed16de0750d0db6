"""Keeping the search index current, in the transaction of every change.

`follow_audit` is an audit observer (`insight/wiring.py`): `audit.record_many` hands
it the events it has just appended, inside the service's transaction. For each event
about an indexed model it re-reads the object and upserts its `SearchDocument`, or
deletes the document when the object is gone; changes that alter other documents'
text re-index those too (a procedure renamed: its runs and current steps; a version
published, retired or drafted: the procedure's steps; a party renamed: its positions
and targets). Events about anything else cost one dictionary lookup: the engine's
hot path (tasks, timers, notifications) writes nothing here.

Per call: one read per kind, one bulk upsert, at most one delete.

`reindex` rebuilds an organisation's documents from scratch (after a restore, to
backfill); `reindex_missing` does it for organisations that have objects but no
documents yet (an upgraded installation), and is cheap when there are none.
"""

from __future__ import annotations

import unicodedata
from collections import defaultdict
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from django.db import transaction
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.utils import timezone, translation
from django.utils.translation import gettext as _

from rantai.accounts.models import Organisation
from rantai.chains.models import (
    Procedure,
    ProcedureVersion,
    Run,
    Step,
    Target,
    VersionStatus,
)
from rantai.evidence.models import InformationRecord
from rantai.insight.models import SearchDocument, SearchKind
from rantai.obstacles.models import Cause, Obstacle, Review, ReviewTrigger
from rantai.org.models import Party, Person, Position

if TYPE_CHECKING:
    from rantai.audit.models import AuditEvent

__all__ = [
    "document_for",
    "follow_audit",
    "reindex",
    "reindex_missing",
]

BATCH = 1000
# The limits of the document's columns (title and subtitle are CharFields).
TITLE_MAX = 300
SUBTITLE_MAX = 300
# Labels of choices go into the text in both languages, so either finds them.
LANGUAGES = ("en", "id")


# --- the text of each kind ------------------------------------------------------------


def _clean(value: str | None, limit: int | None = None) -> str:
    """NFC (so composed and decomposed accents index alike), no NUL, trimmed."""
    text = unicodedata.normalize("NFC", value or "").replace("\x00", "").strip()
    if limit is not None and len(text) > limit:
        text = text[: limit - 1].rstrip() + "…"
    return text


def _labels(label: Any) -> str:
    """A choice's label in every language of the interface, once each."""
    seen: list[str] = []
    for language in LANGUAGES:
        with translation.override(language):
            text = str(label)
        if text not in seen:
            seen.append(text)
    return " · ".join(seen)


def _join(*parts: str) -> str:
    return "\n\n".join(part for part in parts if part)


def _document(
    kind: str,
    obj: Any,
    *,
    title: str,
    subtitle: str = "",
    body: str = "",
    parent_id: int | None = None,
) -> SearchDocument:
    return SearchDocument(
        organisation_id=obj.organisation_id,
        kind=kind,
        object_id=obj.pk,
        parent_id=parent_id,
        title=_clean(title, TITLE_MAX) or "—",
        subtitle=_clean(subtitle, SUBTITLE_MAX),
        body=_clean(body),
        updated_at=getattr(obj, "updated_at", None) or timezone.now(),
    )


def _run_document(run: Run) -> SearchDocument:
    return _document(
        SearchKind.RUN,
        run,
        title=run.title,
        subtitle=run.procedure.name,
        body=run.objective,
    )


def _procedure_document(procedure: Procedure) -> SearchDocument:
    return _document(
        SearchKind.PROCEDURE,
        procedure,
        title=procedure.name,
        subtitle=procedure.code,
        body=procedure.description,
    )


def _step_document(step: Step) -> SearchDocument:
    return _document(
        SearchKind.STEP,
        step,
        title=step.name,
        subtitle=step.procedure_version.procedure.name,
        body=step.description,
        parent_id=step.procedure_version_id,
    )


def _person_document(person: Person) -> SearchDocument:
    # The e-mail address is not indexed (personal data nobody searches by).
    return _document(
        SearchKind.PERSON,
        person,
        title=person.full_name,
        subtitle=person.employee_number,
    )


def _position_document(position: Position) -> SearchDocument:
    return _document(
        SearchKind.POSITION,
        position,
        title=position.title,
        subtitle=position.party.name,
        body=position.code,
    )


def _party_document(party: Party) -> SearchDocument:
    return _document(SearchKind.PARTY, party, title=party.name, subtitle=party.code)


def _record_document(record: InformationRecord) -> SearchDocument:
    return _document(
        SearchKind.RECORD,
        record,
        title=record.title,
        subtitle=record.source_detail,
        body=record.statement,
    )


def _obstacle_document(obstacle: Obstacle) -> SearchDocument:
    return _document(
        SearchKind.OBSTACLE,
        obstacle,
        title=obstacle.title,
        subtitle=obstacle.run.title,
        body=_join(obstacle.description, _labels(Cause(obstacle.cause).label)),
    )


def _review_document(review: Review) -> SearchDocument:
    trigger = (
        _labels(ReviewTrigger(review.trigger).label)
        if review.trigger in ReviewTrigger.values
        else ""
    )
    return _document(
        SearchKind.REVIEW,
        review,
        title=review.run.title,
        subtitle=review.obstacle.title if review.obstacle is not None else trigger,
        body=_join(review.summary, review.learned),
    )


def _target_document(target: Target) -> SearchDocument:
    return _document(
        SearchKind.TARGET,
        target,
        title=target.name,
        subtitle=target.party.name if target.party is not None else "",
        body=target.description,
    )


@dataclass(frozen=True)
class _Kind:
    kind: str
    model: Any
    related: tuple[str, ...]
    build: Callable[[Any], SearchDocument]

    def objects(self) -> QuerySet[Any]:
        qs = self.model.objects.order_by()
        return qs.select_related(*self.related) if self.related else qs


KINDS: dict[str, _Kind] = {
    k.kind: k
    for k in (
        _Kind(SearchKind.RUN, Run, ("procedure",), _run_document),
        _Kind(SearchKind.PROCEDURE, Procedure, (), _procedure_document),
        _Kind(SearchKind.STEP, Step, ("procedure_version__procedure",), _step_document),
        _Kind(SearchKind.PERSON, Person, (), _person_document),
        _Kind(SearchKind.POSITION, Position, ("party",), _position_document),
        _Kind(SearchKind.PARTY, Party, (), _party_document),
        _Kind(SearchKind.RECORD, InformationRecord, (), _record_document),
        _Kind(SearchKind.OBSTACLE, Obstacle, ("run",), _obstacle_document),
        _Kind(SearchKind.REVIEW, Review, ("run", "obstacle"), _review_document),
        _Kind(SearchKind.TARGET, Target, ("party",), _target_document),
    )
}


def document_for(obj: Any) -> SearchDocument:
    """The (unsaved) document of one indexed object, as the index holds it.

    A step's document is built whatever its version; only the procedure's current
    version's steps are kept in the index (see `current_versions`)."""
    for spec in KINDS.values():
        if isinstance(obj, spec.model):
            return spec.build(obj)
    raise TypeError(f"{type(obj).__name__} is not indexed")


def current_versions(procedure_ids: Iterable[int]) -> dict[int, int]:
    """{procedure id: id of its current version}: the published one, else the draft
    (a procedure with neither has no current version, and no steps in the index)."""
    current: dict[int, tuple[int, int]] = {}
    preference: dict[str, int] = {VersionStatus.PUBLISHED: 0, VersionStatus.DRAFT: 1}
    rows = ProcedureVersion.objects.filter(
        procedure_id__in=list(procedure_ids),
        status__in=list(preference),
    ).values_list("procedure_id", "pk", "status")
    for procedure_id, version_id, status in rows:
        rank = preference[status]
        if procedure_id not in current or rank < current[procedure_id][0]:
            current[procedure_id] = (rank, version_id)
    return {procedure_id: pair[1] for procedure_id, pair in current.items()}


# --- following the audit trail ----------------------------------------------------------


@dataclass
class _Plan:
    """What one batch of events asks to re-index."""

    ids: dict[str, set[int]] = field(default_factory=lambda: defaultdict(set))
    # Dependants, by the id of what they depend on.
    runs_of_procedures: set[int] = field(default_factory=set)
    steps_of_procedures: set[int] = field(default_factory=set)
    positions_of_parties: set[int] = field(default_factory=set)
    targets_of_parties: set[int] = field(default_factory=set)
    obstacles_of_runs: set[int] = field(default_factory=set)
    reviews_of_runs: set[int] = field(default_factory=set)
    reviews_of_obstacles: set[int] = field(default_factory=set)

    def add(self, kind: str, event: AuditEvent) -> int | None:
        try:
            pk = int(event.target_id)
        except (TypeError, ValueError):
            return None
        self.ids[kind].add(pk)
        return pk


def _changed(event: AuditEvent, name: str) -> bool:
    """Whether the event may have changed the named field: an update that lists
    its changes says so; any other event (created, deleted, imported) may have."""
    changes = event.changes
    if event.verb == "updated" and isinstance(changes, dict):
        return name in changes
    return True


# Verbs that change an object's state but never its indexed text. Runs' are on the
# engine's hot path (a task completion may complete its run).
_RUN_QUIET = frozenset(
    {
        "suspended",
        "resumed",
        "cancelled",
        "completed",
        "due_date_moved",
        "result_recorded",
        "deviation_requested",
        "deviation_confirmed",
        "deviation_rejected",
    }
)
_RECORD_QUIET = frozenset({"evidence_added", "verified", "cited"})
_OBSTACLE_QUIET = frozenset({"escalated", "resolved", "withdrawn"})


def _on_run(plan: _Plan, event: AuditEvent) -> None:
    if event.verb in _RUN_QUIET:
        return
    pk = plan.add(SearchKind.RUN, event)
    if pk is not None and event.verb != "started" and _changed(event, "title"):
        plan.obstacles_of_runs.add(pk)
        plan.reviews_of_runs.add(pk)


def _on_procedure(plan: _Plan, event: AuditEvent) -> None:
    pk = plan.add(SearchKind.PROCEDURE, event)
    if pk is not None and event.verb != "created" and _changed(event, "name"):
        plan.runs_of_procedures.add(pk)
        plan.steps_of_procedures.add(pk)


def _on_version(plan: _Plan, event: AuditEvent) -> None:
    # Published, retired or a new draft: which version is current may have changed.
    changes = event.changes if isinstance(event.changes, dict) else {}
    procedure_id = changes.get("procedure")
    if isinstance(procedure_id, int):
        plan.steps_of_procedures.add(procedure_id)
        return
    try:
        version_id = int(event.target_id)
    except (TypeError, ValueError):
        return
    plan.ids["version"].add(version_id)


def _on_step(plan: _Plan, event: AuditEvent) -> None:
    plan.add(SearchKind.STEP, event)


def _on_party(plan: _Plan, event: AuditEvent) -> None:
    pk = plan.add(SearchKind.PARTY, event)
    if pk is not None and event.verb != "created" and _changed(event, "name"):
        plan.positions_of_parties.add(pk)
        plan.targets_of_parties.add(pk)


def _on_obstacle(plan: _Plan, event: AuditEvent) -> None:
    if event.verb in _OBSTACLE_QUIET:
        return
    pk = plan.add(SearchKind.OBSTACLE, event)
    if pk is not None and event.verb != "raised" and _changed(event, "title"):
        plan.reviews_of_obstacles.add(pk)


def _on_record(plan: _Plan, event: AuditEvent) -> None:
    if event.verb not in _RECORD_QUIET:
        plan.add(SearchKind.RECORD, event)


def _simple(kind: str) -> Callable[[_Plan, AuditEvent], None]:
    def follow(plan: _Plan, event: AuditEvent) -> None:
        plan.add(kind, event)

    return follow


# target_type (audit.services.target_type_of) -> what its events ask for.
_FOLLOWED: dict[str, Callable[[_Plan, AuditEvent], None]] = {
    "chains.run": _on_run,
    "chains.procedure": _on_procedure,
    "chains.procedureversion": _on_version,
    "chains.step": _on_step,
    "chains.target": _simple(SearchKind.TARGET),
    "org.person": _simple(SearchKind.PERSON),
    "org.position": _simple(SearchKind.POSITION),
    "org.party": _on_party,
    "evidence.informationrecord": _on_record,
    "obstacles.obstacle": _on_obstacle,
    "obstacles.review": _simple(SearchKind.REVIEW),
}


def follow_audit(organisation: Organisation, events: Sequence[AuditEvent]) -> None:
    """Re-index the objects the events are about (an audit observer: runs inside
    the service's transaction, so the index commits or rolls back with it)."""
    plan: _Plan | None = None
    followed = _FOLLOWED
    for event in events:
        follow = followed.get(event.target_type)
        if follow is None:
            continue
        if plan is None:
            plan = _Plan()
        follow(plan, event)
    if plan is not None:
        _apply(organisation.pk, plan)


def _or(conditions: Iterable[Q]) -> Q | None:
    combined: Q | None = None
    for condition in conditions:
        combined = condition if combined is None else combined | condition
    return combined


def _apply(organisation_id: int, plan: _Plan) -> None:
    ids = plan.ids
    conditions: dict[str, list[Q]] = defaultdict(list)
    for kind, pks in ids.items():
        if kind in KINDS and pks:
            conditions[kind].append(Q(pk__in=sorted(pks)))
    if plan.runs_of_procedures:
        conditions[SearchKind.RUN].append(
            Q(procedure_id__in=sorted(plan.runs_of_procedures))
        )
    if plan.positions_of_parties:
        conditions[SearchKind.POSITION].append(
            Q(party_id__in=sorted(plan.positions_of_parties))
        )
    if plan.targets_of_parties:
        conditions[SearchKind.TARGET].append(
            Q(party_id__in=sorted(plan.targets_of_parties))
        )
    if plan.obstacles_of_runs:
        conditions[SearchKind.OBSTACLE].append(
            Q(run_id__in=sorted(plan.obstacles_of_runs))
        )
    if plan.reviews_of_runs or plan.reviews_of_obstacles:
        conditions[SearchKind.REVIEW].append(
            Q(run_id__in=sorted(plan.reviews_of_runs))
            | Q(obstacle_id__in=sorted(plan.reviews_of_obstacles))
        )
    procedures_for_steps = set(plan.steps_of_procedures)
    if ids.get("version"):
        procedures_for_steps.update(
            ProcedureVersion.objects.filter(
                pk__in=sorted(ids["version"]), organisation_id=organisation_id
            ).values_list("procedure_id", flat=True)
        )
    if procedures_for_steps:
        conditions[SearchKind.STEP].append(
            Q(procedure_version__procedure_id__in=sorted(procedures_for_steps))
        )

    upserts: list[SearchDocument] = []
    removals: dict[str, set[int]] = defaultdict(set)
    for kind, kind_conditions in conditions.items():
        spec = KINDS[kind]
        where = _or(kind_conditions)
        found = list(spec.objects().filter(where, organisation_id=organisation_id))
        if kind == SearchKind.STEP:
            current = current_versions(
                {step.procedure_version.procedure_id for step in found}
            )
            kept = []
            for step in found:
                if current.get(step.procedure_version.procedure_id) == (
                    step.procedure_version_id
                ):
                    kept.append(step)
                else:
                    removals[kind].add(step.pk)
            found = kept
        upserts.extend(spec.build(obj) for obj in found)
        found_ids = {obj.pk for obj in found}
        removals[kind].update(ids.get(kind, set()) - found_ids)
    _remove(removals)
    _upsert(upserts)


def _remove(removals: dict[str, set[int]]) -> None:
    where = _or(
        Q(kind=kind, object_id__in=sorted(pks)) for kind, pks in removals.items() if pks
    )
    if where is not None:
        SearchDocument.objects.filter(where).delete()


def _upsert(documents: list[SearchDocument]) -> None:
    if not documents:
        return
    SearchDocument.objects.bulk_create(
        documents,
        batch_size=500,
        update_conflicts=True,
        unique_fields=["kind", "object_id"],
        update_fields=[
            "organisation",
            "parent_id",
            "title",
            "subtitle",
            "body",
            "updated_at",
        ],
    )


# --- rebuilding -----------------------------------------------------------------------------


def _chunks(qs: QuerySet[Any], size: int = BATCH) -> Iterator[list[Any]]:
    """The rows of a queryset in primary-key order, `size` at a time (keyset)."""
    last = 0
    while True:
        chunk = list(qs.filter(pk__gt=last).order_by("pk")[:size])
        if not chunk:
            return
        yield chunk
        last = chunk[-1].pk


def _documents_of(organisation_id: int, kind: str) -> Iterator[list[SearchDocument]]:
    spec = KINDS[kind]
    qs = spec.objects().filter(organisation_id=organisation_id)
    if kind == SearchKind.STEP:
        current = ProcedureVersion.objects.filter(
            organisation_id=organisation_id
        ).values_list("procedure_id", flat=True)
        versions = current_versions(set(current))
        qs = qs.filter(procedure_version_id__in=sorted(versions.values()))
    for chunk in _chunks(qs):
        yield [spec.build(obj) for obj in chunk]


def reindex(
    organisation: Organisation | None = None,
    *,
    progress: Callable[[str], None] | None = None,
) -> int:
    """Rebuild the documents of one organisation (or all), each in one transaction:
    its old documents go, every indexed object's is written, in batches. The number
    of documents written."""
    organisations = (
        [organisation]
        if organisation is not None
        else list(Organisation.objects.order_by("pk"))
    )
    total = 0
    for each in organisations:
        total += _reindex_one(each, progress)
    return total


def _reindex_one(
    organisation: Organisation, progress: Callable[[str], None] | None
) -> int:
    written = 0
    with transaction.atomic():
        SearchDocument.objects.filter(organisation_id=organisation.pk).delete()
        for kind in KINDS:
            count = 0
            for documents in _documents_of(organisation.pk, kind):
                SearchDocument.objects.bulk_create(documents, batch_size=500)
                count += len(documents)
            written += count
            if progress is not None and count:
                progress(
                    _("%(organisation)s: %(count)d of kind “%(kind)s” indexed")
                    % {
                        "organisation": organisation.slug,
                        "count": count,
                        "kind": SearchKind(kind).label,
                    }
                )
    return written


def _has_objects() -> Q:
    """Organisations with at least one object of an indexed kind (every kind's
    parent chain starts at a party, procedure or person)."""
    organisation = OuterRef("pk")
    return (
        Q(Exists(Party.objects.filter(organisation=organisation)))
        | Q(Exists(Person.objects.filter(organisation=organisation)))
        | Q(Exists(Procedure.objects.filter(organisation=organisation)))
        | Q(Exists(InformationRecord.objects.filter(organisation=organisation)))
        | Q(Exists(Target.objects.filter(organisation=organisation)))
    )


def organisations_missing_index() -> QuerySet[Organisation]:
    return (
        Organisation.objects.filter(_has_objects())
        .exclude(Exists(SearchDocument.objects.filter(organisation=OuterRef("pk"))))
        .order_by("pk")
    )


def reindex_missing(*, progress: Callable[[str], None] | None = None) -> int:
    """Build the index of every organisation that has objects but no documents (an
    installation upgraded from before search); the number of documents written.
    One query when there is nothing to do."""
    total = 0
    for organisation in organisations_missing_index():
        total += _reindex_one(organisation, progress)
    return total
