"""The catalogue of event types: what can happen, in which payload version, and
whether it is urgent by default.

Every event that reaches a person (a notification) or another system (a webhook)
has a type from this catalogue. A webhook payload is versioned: its `data` has
exactly the shape documented here for the type's version, and a change of shape
is a new version, never an edit of an existing one
(docs/user-guide/webhooks.md lists them all with examples).

Personal data in payloads is kept to what a receiver needs to say who did what:
people appear as `{"id": <person id>, "name": <display name>}` and nothing more
(no e-mail addresses, user names or comments). Everything else is ids, codes,
titles and links back into Rantai, where the receiver's users see the details
with their own access.
"""

from __future__ import annotations

import datetime as dt
import uuid
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

from django.utils import timezone
from django.utils.functional import Promise
from django.utils.translation import gettext_lazy as _

from rantai.accounts.models import Organisation

# --- payload shapes -----------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Field:
    """One value of a payload: its kind, whether it may be null, and for objects
    and lists of objects the shape inside; for a choice, the allowed values."""

    kind: str  # "int" | "str" | "bool" | "datetime" | "choice" | "object" | "list"
    nullable: bool = False
    shape: Mapping[str, Field] | None = None
    choices: tuple[str, ...] = ()


INT = Field("int")
STR = Field("str")
BOOL = Field("bool")
OPTIONAL_STR = Field("str", nullable=True)
DATETIME = Field("datetime")
OPTIONAL_INT = Field("int", nullable=True)
OPTIONAL_DATETIME = Field("datetime", nullable=True)


def obj(shape: Mapping[str, Field], *, nullable: bool = False) -> Field:
    return Field("object", nullable=nullable, shape=shape)


def list_of(shape: Mapping[str, Field]) -> Field:
    return Field("list", shape=shape)


def choice(*values: str) -> Field:
    return Field("choice", choices=values)


PERSON: Mapping[str, Field] = {"id": INT, "name": STR}
REQUEST: Mapping[str, Field] = {
    "id": INT,
    "title": STR,
    "subject_kind": STR,
    "subject_id": INT,
    "run_id": OPTIONAL_INT,
    "url": STR,
}
ROUTE: Mapping[str, Field] = {"code": STR, "version": INT}
STAGE: Mapping[str, Field] = {
    "order": INT,
    "name": STR,
    "round": INT,
    "due_at": OPTIONAL_DATETIME,
}
RUN: Mapping[str, Field] = {
    "id": INT,
    "title": STR,
    "procedure": STR,
    "due_at": DATETIME,
    "url": STR,
}
TASK: Mapping[str, Field] = {"id": INT, "key": STR, "name": STR, "url": STR}
UNIT: Mapping[str, Field] = {"code": STR, "name": STR}
ANALYSIS: Mapping[str, Field] = {
    "id": INT,
    "unit": obj(UNIT),
    "year": INT,
    "revision": INT,
    "url": STR,
}
POSITION: Mapping[str, Field] = {"id": INT, "code": STR, "title": STR}
CONSULTATION: Mapping[str, Field] = {"id": INT, "round": INT, "url": STR}
BRIEFING: Mapping[str, Field] = {
    "id": INT,
    "reason": choice("version_published", "started_holding"),
    "issued_at": DATETIME,
    "url": STR,
}
PROCEDURE_VERSION: Mapping[str, Field] = {
    "procedure": STR,
    "name": STR,
    "number": INT,
}
RECORD: Mapping[str, Field] = {
    "id": INT,
    "title": STR,
    "status": choice("unverified", "verified", "disputed", "refuted"),
    "url": STR,
}
OBSTACLE: Mapping[str, Field] = {
    "id": INT,
    "title": STR,
    "severity": choice("low", "medium", "high", "critical"),
    "status": choice("open", "resolved", "withdrawn"),
    "url": STR,
}
MITIGATION: Mapping[str, Field] = {
    "id": INT,
    "due_at": DATETIME,
    "status": choice("open", "done", "cancelled"),
    "url": STR,
}
WARNING: Mapping[str, Field] = {
    "id": INT,
    "kind": choice(
        "slack_low", "run_late", "approval_due", "vacant_position", "evidence_missing"
    ),
    "url": STR,
}
REVIEW: Mapping[str, Field] = {
    "id": INT,
    "trigger": choice("missed_target", "severe_obstacle", "requested"),
    "status": choice("open", "completed"),
    "url": STR,
}
ACTION: Mapping[str, Field] = {
    "id": INT,
    "due_on": OPTIONAL_STR,  # a date, YYYY-MM-DD
    "status": choice("open", "done", "cancelled"),
    "url": STR,
}


# --- the catalogue ------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EventType:
    """One type of event in one payload version."""

    name: str
    version: int
    urgent: bool
    label: Promise | str
    shape: Mapping[str, Field]
    example: Mapping[str, Any] = field(default_factory=dict)


_REQUEST_EXAMPLE = {
    "id": 42,
    "title": "Skip the quality check for run 2026-118",
    "subject_kind": "deviation",
    "subject_id": 7,
    "run_id": 118,
    "url": "https://rantai.example.com/o/acme/approvals/42/",
}
_STAGE_EXAMPLE = {
    "order": 1,
    "name": "Head of export",
    "round": 1,
    "due_at": "2026-03-02T09:00:00+00:00",
}
_RUN_EXAMPLE = {
    "id": 118,
    "title": "Export order 2026-118",
    "procedure": "EXPORT",
    "due_at": "2026-03-10T10:00:00+00:00",
    "url": "https://rantai.example.com/o/acme/runs/118/",
}
_RINA = {"id": 3, "name": "Rina Kusuma"}
_BUDI = {"id": 4, "name": "Budi Santoso"}
_DEWI = {"id": 9, "name": "Dewi Lestari"}

APPROVAL_REQUESTED = "approval.requested"
APPROVAL_STAGE_OPENED = "approval.stage_opened"
APPROVAL_DECIDED = "approval.decided"
APPROVAL_COMPLETED = "approval.completed"
APPROVAL_REMINDED = "approval.reminded"
APPROVAL_ESCALATED = "approval.escalated"
APPROVAL_OVERDUE = "approval.overdue"
APPROVAL_NUDGED = "approval.nudged"
TASK_READY = "task.ready"
RUN_COMPLETED = "run.completed"
RUN_LATE = "run.late"
WORKLOAD_TO_FILL = "workload.to_fill"
WORKLOAD_SHEETS_VALIDATED = "workload.sheets_validated"
WORKLOAD_ANALYSIS_DECIDED = "workload.analysis_decided"
TASK_ASSIGNED = "task.assigned"
TASK_COMPLETED = "task.completed"
TASK_ESCALATED = "task.escalated"
CONSULTATION_REQUESTED = "consultation.requested"
CONSULTATION_ANSWERED = "consultation.answered"
BRIEFING_ISSUED = "briefing.issued"
BRIEFING_REMINDER = "briefing.reminder"
RECORD_CHECKED = "record.checked"
OBSTACLE_RAISED = "obstacle.raised"
OBSTACLE_ESCALATED = "obstacle.escalated"
OBSTACLE_RESOLVED = "obstacle.resolved"
MITIGATION_ASSIGNED = "mitigation.assigned"
WARNING_RAISED = "warning.raised"
REVIEW_OPENED = "review.opened"
REVIEW_ACTION_ASSIGNED = "review.action_assigned"

_ANALYSIS_EXAMPLE = {
    "id": 12,
    "unit": {"code": "EXP", "name": "Export"},
    "year": 2026,
    "revision": 1,
    "url": "https://rantai.example.com/o/acme/workload/12/",
}

_TASK_EXAMPLE = {
    "id": 1204,
    "key": "price-shipping",
    "name": "Price the shipping",
    "url": "https://rantai.example.com/o/acme/tasks/1204/",
}
_CONSULTATION_EXAMPLE = {
    "id": 31,
    "round": 0,
    "url": "https://rantai.example.com/o/acme/tasks/1204/#consultation-31",
}
_LEGAL = {"id": 11, "code": "EXP-LEGAL", "title": "Export legal officer"}
_HEAD = {"id": 5, "code": "EXP-HEAD", "title": "Head of export"}
_BRIEFING_EXAMPLE = {
    "id": 77,
    "reason": "version_published",
    "issued_at": "2026-03-02T01:00:00+00:00",
    "url": "https://rantai.example.com/o/acme/briefings/77/",
}
_VERSION_EXAMPLE = {"procedure": "EXPORT", "name": "Export order", "number": 3}
_RECORD_EXAMPLE = {
    "id": 56,
    "title": "The forwarder's truck leaves on the 12th",
    "status": "verified",
    "url": "https://rantai.example.com/o/acme/records/56/",
}
_OBSTACLE_EXAMPLE = {
    "id": 14,
    "title": "The forwarder's truck is delayed",
    "severity": "high",
    "status": "open",
    "url": "https://rantai.example.com/o/acme/obstacles/14/",
}
_MITIGATION_EXAMPLE = {
    "id": 21,
    "due_at": "2026-03-04T09:00:00+00:00",
    "status": "open",
    "url": "https://rantai.example.com/o/acme/obstacles/14/#mitigation-21",
}
_WARNING_EXAMPLE = {
    "id": 88,
    "kind": "slack_low",
    "url": "https://rantai.example.com/o/acme/warnings/88/",
}
_REVIEW_EXAMPLE = {
    "id": 6,
    "trigger": "severe_obstacle",
    "status": "open",
    "url": "https://rantai.example.com/o/acme/reviews/6/",
}
_ACTION_EXAMPLE = {
    "id": 19,
    "due_on": "2026-03-20",
    "status": "open",
    "url": "https://rantai.example.com/o/acme/reviews/6/#action-19",
}

_TYPES = (
    EventType(
        APPROVAL_REQUESTED,
        1,
        urgent=False,
        label=_("An approval was requested"),
        shape={"request": obj(REQUEST), "route": obj(ROUTE), "requester": obj(PERSON)},
        example={
            "request": _REQUEST_EXAMPLE,
            "route": {"code": "DEVIATIONS", "version": 2},
            "requester": _BUDI,
        },
    ),
    EventType(
        APPROVAL_STAGE_OPENED,
        1,
        urgent=True,
        label=_("An approval waits for your decision"),
        shape={
            "request": obj(REQUEST),
            "stage": obj(STAGE),
            "approvers": list_of(PERSON),
        },
        example={
            "request": _REQUEST_EXAMPLE,
            "stage": _STAGE_EXAMPLE,
            "approvers": [_RINA],
        },
    ),
    EventType(
        APPROVAL_DECIDED,
        1,
        urgent=False,
        label=_("Someone decided on an approval"),
        shape={
            "request": obj(REQUEST),
            "stage": obj(STAGE),
            "outcome": choice("approve", "reject", "return"),
            "decided_by": obj(PERSON),
            "on_behalf_of": obj(PERSON, nullable=True),
            "return_to_stage": OPTIONAL_INT,
        },
        example={
            "request": _REQUEST_EXAMPLE,
            "stage": _STAGE_EXAMPLE,
            "outcome": "approve",
            "decided_by": _DEWI,
            "on_behalf_of": _RINA,
            "return_to_stage": None,
        },
    ),
    EventType(
        APPROVAL_COMPLETED,
        1,
        urgent=False,
        label=_("An approval request was settled"),
        shape={
            "request": obj(REQUEST),
            "status": choice("approved", "rejected", "withdrawn"),
            "finished_at": DATETIME,
        },
        example={
            "request": _REQUEST_EXAMPLE,
            "status": "approved",
            "finished_at": "2026-03-02T08:15:00+00:00",
        },
    ),
    EventType(
        APPROVAL_REMINDED,
        1,
        urgent=True,
        label=_("A reminder of an approval past its time limit"),
        shape={
            "request": obj(REQUEST),
            "stage": obj(STAGE),
            "approvers": list_of(PERSON),
        },
        example={
            "request": _REQUEST_EXAMPLE,
            "stage": _STAGE_EXAMPLE,
            "approvers": [_RINA],
        },
    ),
    EventType(
        APPROVAL_ESCALATED,
        1,
        urgent=True,
        label=_("An approval was escalated"),
        shape={
            "request": obj(REQUEST),
            "stage": obj(STAGE),
            "approvers": list_of(PERSON),
            "previous_approvers": list_of(PERSON),
        },
        example={
            "request": _REQUEST_EXAMPLE,
            "stage": {**_STAGE_EXAMPLE, "due_at": "2026-03-03T09:00:00+00:00"},
            "approvers": [{"id": 1, "name": "Sari Wijaya"}],
            "previous_approvers": [_RINA],
        },
    ),
    EventType(
        APPROVAL_OVERDUE,
        1,
        urgent=True,
        label=_("An approval stage you own is past its time limit"),
        shape={
            "request": obj(REQUEST),
            "stage": obj(STAGE),
            "approvers": list_of(PERSON),
        },
        example={
            "request": _REQUEST_EXAMPLE,
            "stage": _STAGE_EXAMPLE,
            "approvers": [_RINA],
        },
    ),
    EventType(
        APPROVAL_NUDGED,
        1,
        urgent=True,
        label=_("Someone asks you to decide on an approval"),
        shape={
            "request": obj(REQUEST),
            "stage": obj(STAGE),
            "nudged_by": obj(PERSON),
        },
        example={
            "request": _REQUEST_EXAMPLE,
            "stage": _STAGE_EXAMPLE,
            "nudged_by": _BUDI,
        },
    ),
    EventType(
        TASK_READY,
        1,
        urgent=False,
        label=_("A task is ready to start"),
        shape={
            "task": obj(TASK),
            "run": obj(RUN),
            "assignee": obj(PERSON, nullable=True),
        },
        example={
            "task": {
                "id": 1204,
                "key": "price-shipping",
                "name": "Price the shipping",
                "url": "https://rantai.example.com/o/acme/tasks/1204/",
            },
            "run": _RUN_EXAMPLE,
            "assignee": _RINA,
        },
    ),
    EventType(
        RUN_COMPLETED,
        1,
        urgent=False,
        label=_("A run was completed"),
        shape={
            "run": obj(RUN),
            "result": choice("met", "missed"),
            "completed_at": DATETIME,
            "late_by_minutes": OPTIONAL_INT,
        },
        example={
            "run": _RUN_EXAMPLE,
            "result": "missed",
            "completed_at": "2026-03-11T03:30:00+00:00",
            "late_by_minutes": 1050,
        },
    ),
    EventType(
        RUN_LATE,
        1,
        urgent=True,
        label=_("A run will finish after its due date"),
        shape={"run": obj(RUN), "projected_finish_at": DATETIME},
        example={
            "run": _RUN_EXAMPLE,
            "projected_finish_at": "2026-03-11T03:30:00+00:00",
        },
    ),
    EventType(
        TASK_ASSIGNED,
        1,
        urgent=True,
        label=_("A task was assigned to you"),
        shape={
            "task": obj(TASK),
            "run": obj(RUN),
            "assignee": obj(PERSON),
            "assigned_by": obj(PERSON, nullable=True),
            "kind": choice("automatic", "claimed", "manual", "rebalanced"),
        },
        example={
            "task": _TASK_EXAMPLE,
            "run": _RUN_EXAMPLE,
            "assignee": _RINA,
            "assigned_by": _DEWI,
            "kind": "manual",
        },
    ),
    EventType(
        TASK_COMPLETED,
        1,
        urgent=False,
        label=_("A task you are informed of was completed"),
        shape={
            "task": obj(TASK),
            "run": obj(RUN),
            "completed_by": obj(PERSON, nullable=True),
            "completed_at": DATETIME,
        },
        example={
            "task": _TASK_EXAMPLE,
            "run": _RUN_EXAMPLE,
            "completed_by": _RINA,
            "completed_at": "2026-03-03T04:20:00+00:00",
        },
    ),
    EventType(
        TASK_ESCALATED,
        1,
        urgent=True,
        label=_("A task you are accountable for is late"),
        shape={
            "task": obj(TASK),
            "run": obj(RUN),
            "assignee": obj(PERSON, nullable=True),
            "position": obj(POSITION),
            "level": INT,
            "expected_done_at": DATETIME,
        },
        example={
            "task": _TASK_EXAMPLE,
            "run": _RUN_EXAMPLE,
            "assignee": _RINA,
            "position": _HEAD,
            "level": 1,
            "expected_done_at": "2026-03-03T09:00:00+00:00",
        },
    ),
    EventType(
        CONSULTATION_REQUESTED,
        1,
        urgent=True,
        label=_("Your input is asked before a task is completed"),
        shape={
            "consultation": obj(CONSULTATION),
            "task": obj(TASK),
            "run": obj(RUN),
            "position": obj(POSITION),
        },
        example={
            "consultation": _CONSULTATION_EXAMPLE,
            "task": _TASK_EXAMPLE,
            "run": _RUN_EXAMPLE,
            "position": _LEGAL,
        },
    ),
    EventType(
        CONSULTATION_ANSWERED,
        1,
        urgent=False,
        label=_("A consulted position gave its input"),
        shape={
            "consultation": obj(CONSULTATION),
            "task": obj(TASK),
            "run": obj(RUN),
            "position": obj(POSITION),
            "answered_by": obj(PERSON),
            "open_in_round": INT,
        },
        example={
            "consultation": _CONSULTATION_EXAMPLE,
            "task": _TASK_EXAMPLE,
            "run": _RUN_EXAMPLE,
            "position": _LEGAL,
            "answered_by": _DEWI,
            "open_in_round": 0,
        },
    ),
    EventType(
        BRIEFING_ISSUED,
        1,
        urgent=False,
        label=_("A briefing of your roles waits for your acknowledgement"),
        shape={
            "briefing": obj(BRIEFING),
            "person": obj(PERSON),
            "procedure_version": obj(PROCEDURE_VERSION, nullable=True),
            "positions": list_of(POSITION),
        },
        example={
            "briefing": _BRIEFING_EXAMPLE,
            "person": _RINA,
            "procedure_version": _VERSION_EXAMPLE,
            "positions": [{"id": 7, "code": "EXP-CLERK", "title": "Export clerk"}],
        },
    ),
    EventType(
        BRIEFING_REMINDER,
        1,
        urgent=False,
        label=_("A reminder to acknowledge a briefing of your roles"),
        shape={
            "briefing": obj(BRIEFING),
            "person": obj(PERSON),
            "procedure_version": obj(PROCEDURE_VERSION, nullable=True),
            "reminder": INT,
            "reminded_by": obj(PERSON, nullable=True),
        },
        example={
            "briefing": _BRIEFING_EXAMPLE,
            "person": _RINA,
            "procedure_version": _VERSION_EXAMPLE,
            "reminder": 1,
            "reminded_by": None,
        },
    ),
    EventType(
        WORKLOAD_TO_FILL,
        1,
        urgent=False,
        label=_("Workload entries of your position wait for you"),
        shape={
            "analysis": obj(ANALYSIS),
            "positions": list_of(POSITION),
            "reason": choice("opened", "returned"),
        },
        example={
            "analysis": _ANALYSIS_EXAMPLE,
            "positions": [{"id": 7, "code": "EXP-CLERK", "title": "Export clerk"}],
            "reason": "opened",
        },
    ),
    EventType(
        WORKLOAD_SHEETS_VALIDATED,
        1,
        urgent=False,
        label=_("Every position of a workload analysis is validated"),
        shape={"analysis": obj(ANALYSIS)},
        example={"analysis": _ANALYSIS_EXAMPLE},
    ),
    EventType(
        WORKLOAD_ANALYSIS_DECIDED,
        1,
        urgent=False,
        label=_("A workload analysis was approved, rejected or returned"),
        shape={
            "analysis": obj(ANALYSIS),
            "status": choice("approved", "rejected", "returned"),
            "decided_by": obj(PERSON),
        },
        example={
            "analysis": _ANALYSIS_EXAMPLE,
            "status": "approved",
            "decided_by": _DEWI,
        },
    ),
    EventType(
        RECORD_CHECKED,
        1,
        urgent=False,
        label=_("Information you recorded was checked"),
        shape={
            "record": obj(RECORD),
            "verdict": choice("verified", "disputed", "refuted"),
            "checked_by": obj(PERSON, nullable=True),
            "run": obj(RUN, nullable=True),
        },
        example={
            "record": _RECORD_EXAMPLE,
            "verdict": "verified",
            "checked_by": _DEWI,
            "run": _RUN_EXAMPLE,
        },
    ),
    EventType(
        OBSTACLE_RAISED,
        1,
        urgent=True,
        label=_("An obstacle threatens a run you take part in"),
        shape={
            "obstacle": obj(OBSTACLE),
            "run": obj(RUN),
            "task": obj(TASK, nullable=True),
            "raised_by": obj(PERSON, nullable=True),
            "expected_delay_minutes": INT,
            "projected_finish_at": DATETIME,
            "due_at": DATETIME,
            "puts_target_at_risk": BOOL,
        },
        example={
            "obstacle": _OBSTACLE_EXAMPLE,
            "run": _RUN_EXAMPLE,
            "task": _TASK_EXAMPLE,
            "raised_by": _BUDI,
            "expected_delay_minutes": 960,
            "projected_finish_at": "2026-03-11T03:30:00+00:00",
            "due_at": "2026-03-10T10:00:00+00:00",
            "puts_target_at_risk": True,
        },
    ),
    EventType(
        OBSTACLE_ESCALATED,
        1,
        urgent=True,
        label=_("An obstacle is still open past its time limit"),
        shape={
            "obstacle": obj(OBSTACLE),
            "run": obj(RUN),
            "task": obj(TASK, nullable=True),
            "position": obj(POSITION),
            "level": INT,
        },
        example={
            "obstacle": _OBSTACLE_EXAMPLE,
            "run": _RUN_EXAMPLE,
            "task": _TASK_EXAMPLE,
            "position": _HEAD,
            "level": 1,
        },
    ),
    EventType(
        OBSTACLE_RESOLVED,
        1,
        urgent=False,
        label=_("An obstacle was resolved or withdrawn"),
        shape={
            "obstacle": obj(OBSTACLE),
            "run": obj(RUN),
            "task": obj(TASK, nullable=True),
            "closed_by": obj(PERSON, nullable=True),
            "outcome": choice("resolved", "withdrawn"),
        },
        example={
            "obstacle": {**_OBSTACLE_EXAMPLE, "status": "resolved"},
            "run": _RUN_EXAMPLE,
            "task": _TASK_EXAMPLE,
            "closed_by": _RINA,
            "outcome": "resolved",
        },
    ),
    EventType(
        MITIGATION_ASSIGNED,
        1,
        urgent=False,
        label=_("An action against an obstacle was given to you"),
        shape={
            "mitigation": obj(MITIGATION),
            "obstacle": obj(OBSTACLE),
            "run": obj(RUN),
            "owner": obj(PERSON),
        },
        example={
            "mitigation": _MITIGATION_EXAMPLE,
            "obstacle": _OBSTACLE_EXAMPLE,
            "run": _RUN_EXAMPLE,
            "owner": _RINA,
        },
    ),
    EventType(
        WARNING_RAISED,
        1,
        urgent=False,
        label=_("An early warning about a run you take part in"),
        shape={
            "warning": obj(WARNING),
            "run": obj(RUN),
            "task": obj(TASK, nullable=True),
        },
        example={
            "warning": _WARNING_EXAMPLE,
            "run": _RUN_EXAMPLE,
            "task": _TASK_EXAMPLE,
        },
    ),
    EventType(
        REVIEW_OPENED,
        1,
        urgent=False,
        label=_("A blameless review of a run was opened"),
        shape={"review": obj(REVIEW), "run": obj(RUN)},
        example={"review": _REVIEW_EXAMPLE, "run": _RUN_EXAMPLE},
    ),
    EventType(
        REVIEW_ACTION_ASSIGNED,
        1,
        urgent=False,
        label=_("An action item of a review was given to you"),
        shape={
            "action": obj(ACTION),
            "review": obj(REVIEW),
            "run": obj(RUN),
            "owner": obj(PERSON),
        },
        example={
            "action": _ACTION_EXAMPLE,
            "review": _REVIEW_EXAMPLE,
            "run": _RUN_EXAMPLE,
            "owner": _RINA,
        },
    ),
)

CATALOGUE: Mapping[str, EventType] = {event.name: event for event in _TYPES}


def get(name: str) -> EventType:
    """The catalogue entry of an event type (ValueError for an unknown one: event
    types are constants of the code, so this is a programming error)."""
    try:
        return CATALOGUE[name]
    except KeyError:
        raise ValueError(
            f"unknown event type {name!r}; known: {', '.join(CATALOGUE)}"
        ) from None


def is_known(name: object) -> bool:
    return isinstance(name, str) and name in CATALOGUE


def choices() -> list[tuple[str, Promise | str]]:
    """(type, label) pairs in catalogue order, for forms."""
    return [(event.name, event.label) for event in _TYPES]


# --- payloads -----------------------------------------------------------------------


def _plain(value: Any) -> Any:
    """Datetimes and dates as ISO 8601 (datetimes in UTC); containers recursively."""
    if isinstance(value, dt.datetime):
        if timezone.is_naive(value):
            raise ValueError("payload datetimes must be aware")
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, dt.date):
        return value.isoformat()
    if isinstance(value, Mapping):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [_plain(v) for v in value]
    if isinstance(value, Promise):
        return str(value)
    return value


def _check(value: Any, spec: Field, path: str) -> None:
    if value is None:
        if not spec.nullable:
            raise ValueError(f"{path} must not be null")
        return
    kind = spec.kind
    if kind == "int":
        ok = isinstance(value, int) and not isinstance(value, bool)
    elif kind == "bool":
        ok = isinstance(value, bool)
    elif kind == "str":
        ok = isinstance(value, str)
    elif kind == "datetime":
        ok = isinstance(value, str) and _is_iso_datetime(value)
    elif kind == "choice":
        ok = value in spec.choices
    elif kind == "object":
        ok = isinstance(value, Mapping)
        if ok and spec.shape is not None:
            check_shape(value, spec.shape, path)
    elif kind == "list":
        ok = isinstance(value, list)
        if ok and spec.shape is not None:
            for index, item in enumerate(value):
                _check(item, Field("object", shape=spec.shape), f"{path}[{index}]")
    else:  # pragma: no cover - a mistake in the catalogue itself
        raise ValueError(f"unknown field kind {kind!r} at {path}")
    if not ok:
        raise ValueError(f"{path} is not a valid {kind}: {value!r}")


def _is_iso_datetime(value: str) -> bool:
    try:
        parsed = dt.datetime.fromisoformat(value)
    except ValueError:
        return False
    return parsed.tzinfo is not None


def check_shape(data: Mapping[str, Any], shape: Mapping[str, Field], path: str) -> None:
    """Exactly the documented keys, each of its kind (ValueError naming the path)."""
    missing = [key for key in shape if key not in data]
    unknown = [key for key in data if key not in shape]
    if missing or unknown:
        raise ValueError(
            f"{path} does not match its documented shape: "
            f"missing {missing or 'nothing'}, unknown {unknown or 'nothing'}"
        )
    for key, spec in shape.items():
        _check(data[key], spec, f"{path}.{key}")


def build(
    organisation: Organisation,
    event_type: str,
    data: Mapping[str, Any],
    *,
    event_id: uuid.UUID | None = None,
    occurred_at: dt.datetime | None = None,
) -> dict[str, Any]:
    """The versioned payload of one event:
    `{"type", "version", "id", "occurred_at", "organisation", "data"}`.

    `data` must have exactly the shape the catalogue documents for the type
    (datetimes may be given as aware datetimes); anything else is a ValueError, so a
    payload never drifts from its documented version.
    """
    event = get(event_type)
    plain = _plain(dict(data))
    check_shape(plain, event.shape, "data")
    return {
        "type": event.name,
        "version": event.version,
        "id": str(event_id or uuid.uuid4()),
        "occurred_at": _plain(occurred_at or timezone.now()),
        "organisation": organisation.slug,
        "data": plain,
    }


def validate_payload(payload: Mapping[str, Any]) -> None:
    """Check a payload made by `build` (ValueError when it was not)."""
    expected = {"type", "version", "id", "occurred_at", "organisation", "data"}
    if not isinstance(payload, Mapping) or set(payload) != expected:
        raise ValueError(f"a payload has exactly the keys {sorted(expected)}")
    event = get(payload["type"])
    if payload["version"] != event.version:
        raise ValueError(
            f"{event.name} payloads are version {event.version}, "
            f"not {payload['version']!r}"
        )
    uuid.UUID(str(payload["id"]))
    if not isinstance(payload["occurred_at"], str) or not _is_iso_datetime(
        payload["occurred_at"]
    ):
        raise ValueError("occurred_at must be an ISO 8601 datetime with a time zone")
    check_shape(payload["data"], event.shape, "data")
