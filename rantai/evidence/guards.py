"""Required evidence on tasks (docs/design-evidence.md, "Required evidence").

A task whose step requires evidence cannot complete until a `task_evidence`
record on it has at least one item; where the step requires verified evidence,
until such a record is verified. The completion guard (reason `evidence`) costs
no query for a task that requires nothing and one otherwise.
"""

from __future__ import annotations

import datetime as dt
from dataclasses import dataclass

from django.db import transaction
from django.db.models import Count, Exists, OuterRef, Q
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy

from rantai.accounts.models import User
from rantai.chains import extensions
from rantai.chains import services as chains
from rantai.chains.models import Run, RunStatus, Step, Task, TaskStatus
from rantai.core.errors import PermissionDenied
from rantai.evidence.models import (
    EvidenceItem,
    InformationRecord,
    RecordKind,
    RecordStatus,
)

__all__ = [
    "REASON",
    "REASON_LABELS",
    "MissingEvidence",
    "completion_guard",
    "evidence_counts",
    "missing_evidence",
    "recheck_if_waiting",
]

# The awaiting reason a task shows while its required evidence is missing.
REASON = "evidence"
REASON_LABELS = {REASON: gettext_lazy("waiting for the required evidence")}


@dataclass(frozen=True)
class MissingEvidence:
    """What a task requires in evidence and what it has: records with at least
    one item (`attached`), and of those the verified ones."""

    required: bool
    needs_verification: bool
    attached: int
    verified: int
    description: str

    @property
    def ok(self) -> bool:
        """Nothing keeps the task from completing for want of evidence."""
        if not self.required:
            return True
        if self.needs_verification:
            return self.verified > 0
        return self.attached > 0

    @property
    def message(self) -> str:
        """What is missing, in the reader's language ("" when nothing is)."""
        if self.ok:
            return ""
        if self.attached == 0:
            text = _("Attach the evidence this task requires before completing it.")
            if self.needs_verification:
                text += " " + _("Someone other than you then has to check it.")
            return text
        return _(
            "The evidence is attached but not yet checked: someone other than its "
            "author has to verify it before the task can be completed."
        )


def _requires(task: Task) -> tuple[bool, bool]:
    needs_verification = bool(task.requires_verified_evidence)
    return bool(task.requires_evidence) or needs_verification, needs_verification


def evidence_counts(task: Task) -> tuple[int, int]:
    """(records with at least one item, verified ones among them) of the task's
    evidence: one query."""
    counts = (
        InformationRecord.objects.filter(task_id=task.pk, kind=RecordKind.TASK_EVIDENCE)
        .filter(Exists(EvidenceItem.objects.filter(record_id=OuterRef("pk"))))
        .aggregate(
            attached=Count("pk"),
            verified=Count("pk", filter=Q(status=RecordStatus.VERIFIED)),
        )
    )
    return int(counts["attached"] or 0), int(counts["verified"] or 0)


def _description(task: Task) -> str:
    if task.step_id is None:
        return ""
    if Task.step.is_cached(task):  # type: ignore[attr-defined]
        return task.step.evidence_description if task.step is not None else ""
    return (
        Step.objects.filter(pk=task.step_id)
        .values_list("evidence_description", flat=True)
        .first()
        or ""
    )


def missing_evidence(task: Task) -> MissingEvidence:
    """What the task's evidence lacks, for its page: no query for a task that
    requires nothing; otherwise the counts and the step's description of the
    evidence expected (one more query unless the step is loaded)."""
    required, needs_verification = _requires(task)
    if not required:
        return MissingEvidence(False, False, 0, 0, "")
    attached, verified = evidence_counts(task)
    return MissingEvidence(
        required, needs_verification, attached, verified, _description(task)
    )


def completion_guard(task: Task) -> extensions.GuardResult:
    """A task that requires evidence waits (reason `evidence`) until it has it."""
    required, needs_verification = _requires(task)
    if not required:
        return extensions.ALLOW
    attached, verified = evidence_counts(task)
    missing = MissingEvidence(required, needs_verification, attached, verified, "")
    return (
        extensions.ALLOW
        if missing.ok
        else extensions.GuardResult(ok=False, reason=REASON)
    )


def recheck_if_waiting(task: Task, *, actor: User, now: dt.datetime) -> None:
    """Check the task again if it is awaiting its evidence in an active run (the
    evidence just arrived or was verified): it completes when nothing else is
    missing."""
    run_status = (
        Run.objects.select_for_update()
        .filter(pk=task.run_id)
        .values_list("status", flat=True)
        .get()
    )
    task.refresh_from_db()
    if (
        task.status != TaskStatus.AWAITING
        or run_status != RunStatus.ACTIVE
        or REASON not in (task.awaiting_reasons or [])
    ):
        return
    try:
        with transaction.atomic():
            chains.recheck_task(task, actor=actor, expected_version=None, now=now)
    except PermissionDenied:
        # Someone who may not act on the task (another party's partner): the
        # evidence stands; the task's people check it again.
        task.refresh_from_db()
