"""Approval requests and decisions: the engine (docs/design-coordination.md,
"Requests and decisions").

A request asks approval of one subject (through its adapter, `subjects.py`) along
one published route version, which it keeps to the end. Its stages open one after
the other; each opening works out who the approvers are (`resolution.py`), records
that resolution, sets the stage's time limit (a timer) and tells the approvers.

Every change here first locks the request's row (`SELECT ... FOR UPDATE`; SQLite's
IMMEDIATE transactions queue writers instead) and ends with a compare-and-set of the
request's version, so changes of one request serialise: of two concurrent
decisions one wins and the other sees the new state and is refused with `Conflict`
(409), nothing written. Stages, approvers and decisions are written only under
that lock; the unique constraint `one_decision_per_slot` is the last line of
defence and maps to `Conflict` too.

A decision is checked **at the moment it is made**: the request is open, the actor
is an administrator or member of the organisation, is not the requester nor acting
for them, and is an approver of the open stage as it resolves *now* (holding the
position, acting holder included) or decides in such an approver's slot under a
delegation that works now. Without the route version's `allow_repeat_approver`,
one person fills one slot of a request at most. A decision binds to the subject's
version: `subject_changed` reopens the stages whose decisions bind to an older one.

Changes that only tell people something (nudges, reminders) or change who may
decide without changing where the request stands (re-resolution, escalation) do
not change the request's version, so they never make a decider's page stale.

Every state change writes its audit events last; comments are personal data (kept
out of the hash). Notifications are keyed so a repeated effect writes nothing new;
webhooks announce requests, decisions and settled requests.
"""

from __future__ import annotations

import datetime as dt
import json
import math
import uuid
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import Any, NoReturn, cast

from django.conf import settings
from django.core.exceptions import ObjectDoesNotExist
from django.db import IntegrityError, connection, transaction
from django.utils import timezone
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.approvals import delegation as delegations
from rantai.approvals import routes, subjects, timers
from rantai.approvals.models import (
    ApprovalRequest,
    Decision,
    Delegation,
    Nudge,
    Outcome,
    RequestStage,
    RequestStatus,
    Resolution,
    ResolutionCause,
    Route,
    RouteStage,
    RouteVersion,
    StageApprover,
    StageMode,
    StageStatus,
    TimeoutAction,
    Timer,
    TimerKind,
)
from rantai.approvals.resolution import (
    VIA_ESCALATED,
    Resolved,
    Resolver,
    as_json,
    local_date,
    repeat_approvers,
)
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains import projection
from rantai.chains.calendar import CalendarSpec, add_working_minutes
from rantai.chains.models import VersionStatus
from rantai.core import sql
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.notifications import events, webhooks
from rantai.notifications import services as notifications
from rantai.notifications.bulk import insert_ignoring_conflicts
from rantai.notifications.models import WebhookEndpoint
from rantai.org.extensions import HoldersChanged
from rantai.org.models import Holding, Party, Person

# Stored or shown as is (the pages translate them).
SELF_APPROVAL = gettext_noop("You asked for this; someone else must decide.")

DECIDERS = (Role.ADMIN, Role.MEMBER)
PENDING_STATUSES = (RequestStatus.OPEN, RequestStatus.RETURNED)
DEFAULT_NUDGE_INTERVAL_MINUTES = 60

__all__ = [
    "decide",
    "nudge",
    "on_holders_changed",
    "request_path",
    "reresolve_open_stages",
    "resubmit",
    "stage_timer_rule",
    "subject_changed",
    "submit",
    "withdraw",
]


# --- small helpers ------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _text(message: str, **params: Any) -> Promise:
    """Lazy text (a `gettext_noop` message and its values), rendered in each
    notified person's own language."""

    def render() -> str:
        translated = _(message)
        return translated % params if params else translated

    return cast(Promise, lazy(render, str)())


def request_path(request: ApprovalRequest) -> str:
    """The request's page inside Rantai (for notifications and webhooks)."""
    return f"/o/{request.organisation.slug}/approvals/{request.pk}/"


def _absolute(path: str) -> str:
    return settings.RANTAI_BASE_URL.rstrip("/") + path


@dataclass(frozen=True, slots=True)
class _Member:
    """The user's active role in the organisation and their person there."""

    role: str | None
    person_id: int | None


def _member(organisation_id: int, user: User | None) -> _Member:
    """One statement (the membership and the person are each unique by a
    constraint)."""
    if user is None or not user.is_active:
        return _Member(None, None)
    row = sql.fetchone(
        f"SELECT m.role, (SELECT p.id FROM {sql.table(Person)} p WHERE "  # noqa: S608 - identifiers from model metadata
        "p.organisation_id = %s AND p.user_id = %s AND p.is_active = %s) "
        f"FROM {sql.table(Membership)} m WHERE m.organisation_id = %s "
        "AND m.user_id = %s AND m.is_active = %s",
        [organisation_id, user.pk, True, organisation_id, user.pk, True],
    )
    return _Member(row[0], row[1]) if row else _Member(None, None)


def _require_decider(organisation_id: int, user: User) -> int:
    """Administrators and members ask for and decide approvals; auditors and
    partners never do; someone outside the organisation learns nothing. The
    user's person."""
    member = _member(organisation_id, user)
    if member.role is None:
        raise NotFound()
    if member.role not in DECIDERS:
        raise PermissionDenied(
            _("Only administrators and members take part in approvals.")
        )
    if member.person_id is None:
        raise PermissionDenied(
            _("Your login is not linked to a person of this organisation.")
        )
    return member.person_id


def _users_of(person_ids: Iterable[int]) -> list[User]:
    """The active logins of active people (as bare instances: `notify` reads the
    users it writes to itself)."""
    ids = sorted(set(person_ids))
    if not ids:
        return []
    rows = sql.fetchall(
        f"SELECT DISTINCT p.user_id FROM {sql.table(Person)} p "  # noqa: S608 - identifiers from model metadata
        f"JOIN {sql.table(User)} u ON u.id = p.user_id "
        f"WHERE p.id IN {sql.in_list(ids)} AND p.is_active = %s AND u.is_active = %s",
        [*ids, True, True],
    )
    return [sql.instance(User, {"id": row[0]}) for row in rows]


def _names(person_ids: Iterable[int]) -> dict[int, str]:
    ids = sorted(set(person_ids))
    if not ids:
        return {}
    return dict(Person.objects.filter(pk__in=ids).values_list("pk", "full_name"))


# What a change of a request needs of it, its organisation and its route, read by
# one hand-written statement that also locks the request (the engine's hot path:
# see rantai.core.sql). Other fields load when read.
_REQUEST_FIELDS = (
    "id",
    "version",
    "organisation_id",
    "route_version_id",
    "subject_kind",
    "subject_id",
    "subject_version",
    "run_id",
    "title",
    "payload",
    "requested_by_id",
    "requester_id",
    "requester_position_id",
    "status",
    "current_stage",
    "submitted_at",
    "finished_at",
    "last_nudged_at",
)


def _lock(request_id: int) -> ApprovalRequest:
    """The request, locked for the change (with its organisation and route)."""
    row = sql.fetchone(
        f"SELECT {', '.join('r.' + name for name in _REQUEST_FIELDS)}, "  # noqa: S608 - identifiers from model metadata
        "o.slug, o.name, o.time_zone, v.route_id, v.number, v.status, "
        "v.allow_repeat_approver, rt.code, rt.name, rt.subject_kind, "
        "rt.owner_position_id "
        f"FROM {sql.table(ApprovalRequest)} r "
        f"JOIN {sql.table(Organisation)} o ON o.id = r.organisation_id "
        f"JOIN {sql.table(RouteVersion)} v ON v.id = r.route_version_id "
        f"JOIN {sql.table(Route)} rt ON rt.id = v.route_id "
        f"WHERE r.id = %s{sql.for_update(of='r')}",
        [request_id],
    )
    if row is None:
        raise NotFound()
    width = len(_REQUEST_FIELDS)
    values = dict(zip(_REQUEST_FIELDS, row[:width], strict=True))
    values["payload"] = sql.py_json(values["payload"])
    for name in ("submitted_at", "finished_at", "last_nudged_at"):
        values[name] = sql.py_datetime(values[name])
    request = sql.instance(ApprovalRequest, values)
    (slug, name, time_zone, route_id, number, status, repeat) = row[width : width + 7]
    code, route_name, kind, owner = row[width + 7 :]
    request.organisation = sql.instance(
        Organisation,
        {
            "id": values["organisation_id"],
            "slug": slug,
            "name": name,
            "time_zone": time_zone,
        },
    )
    version = sql.instance(
        RouteVersion,
        {
            "id": values["route_version_id"],
            "organisation_id": values["organisation_id"],
            "route_id": route_id,
            "number": number,
            "status": status,
            "allow_repeat_approver": bool(repeat),
        },
    )
    version.route = sql.instance(
        Route,
        {
            "id": route_id,
            "organisation_id": values["organisation_id"],
            "code": code,
            "name": route_name,
            "subject_kind": kind,
            "owner_position_id": owner,
        },
    )
    request.route_version = version
    return request


def _check_version(locked: ApprovalRequest, expected_version: int | None) -> None:
    if expected_version is not None and locked.version != expected_version:
        raise Conflict()


_STAGE_FIELDS = (
    "id",
    "organisation_id",
    "request_id",
    "stage_id",
    "order",
    "status",
    "round",
    "required",
    "opened_at",
    "due_at",
    "closed_at",
    "escalations",
)
_ROUTE_STAGE_FIELDS = (
    "route_version_id",
    "order",
    "name",
    "rule",
    "levels",
    "position_id",
    "party_id",
    "person_id",
    "mode",
    "quorum",
    "time_limit_hours",
    "on_timeout",
)


def _stages(request: ApprovalRequest) -> list[RequestStage]:
    """The request's stages in order, each with its route stage (and that stage's
    party's head position), pointing at the locked request. One statement."""
    quote = connection.ops.quote_name
    rows = sql.fetchall(
        f"SELECT {', '.join('rs.' + quote(name) for name in _STAGE_FIELDS)}, "  # noqa: S608 - identifiers from model metadata
        f"{', '.join('st.' + quote(name) for name in _ROUTE_STAGE_FIELDS)}, "
        "pa.head_position_id "
        f"FROM {sql.table(RequestStage)} rs "
        f"JOIN {sql.table(RouteStage)} st ON st.id = rs.stage_id "
        f"LEFT JOIN {sql.table(Party)} pa ON pa.id = st.party_id "
        f"WHERE rs.request_id = %s ORDER BY rs.{quote('order')}",
        [request.pk],
    )
    width = len(_STAGE_FIELDS)
    stages = []
    for row in rows:
        values = dict(zip(_STAGE_FIELDS, row[:width], strict=True))
        for name in ("opened_at", "due_at", "closed_at"):
            values[name] = sql.py_datetime(values[name])
        stage = sql.instance(RequestStage, values)
        route_values = dict(
            zip(
                _ROUTE_STAGE_FIELDS,
                row[width : width + len(_ROUTE_STAGE_FIELDS)],
                strict=True,
            )
        )
        route_stage = sql.instance(
            RouteStage,
            {
                "id": values["stage_id"],
                "organisation_id": values["organisation_id"],
                **route_values,
            },
        )
        if route_stage.party_id is not None:
            route_stage.party = sql.instance(
                Party, {"id": route_stage.party_id, "head_position_id": row[-1]}
            )
        stage.stage = route_stage
        stage.request = request
        stages.append(stage)
    return stages


def _route_stages(version_id: int) -> list[RouteStage]:
    """A route version's stages in order (with their party's head position)."""
    quote = connection.ops.quote_name
    rows = sql.fetchall(
        f"SELECT st.id, st.organisation_id, "  # noqa: S608 - identifiers from model metadata
        f"{', '.join('st.' + quote(name) for name in _ROUTE_STAGE_FIELDS)}, "
        "pa.head_position_id "
        f"FROM {sql.table(RouteStage)} st "
        f"LEFT JOIN {sql.table(Party)} pa ON pa.id = st.party_id "
        f"WHERE st.route_version_id = %s ORDER BY st.{quote('order')}",
        [version_id],
    )
    found = []
    for row in rows:
        route_stage = sql.instance(
            RouteStage,
            {
                "id": row[0],
                "organisation_id": row[1],
                **dict(zip(_ROUTE_STAGE_FIELDS, row[2:-1], strict=True)),
            },
        )
        if route_stage.party_id is not None:
            route_stage.party = sql.instance(
                Party, {"id": route_stage.party_id, "head_position_id": row[-1]}
            )
        found.append(route_stage)
    return found


def _save_stage(stage: RequestStage, names: Sequence[str]) -> None:
    """Write some fields of a request stage (under the request's lock)."""
    assignments, params = sql.set_clause(
        RequestStage, {name: getattr(stage, name) for name in names}
    )
    sql.execute(
        f"UPDATE {sql.table(RequestStage)} SET {assignments} WHERE id = %s",  # noqa: S608 - identifiers from model metadata
        [*params, stage.pk],
    )


def _stored_approvers(stage: RequestStage) -> list[Resolved]:
    return [
        Resolved(person_id=person, position_id=position, via=via, acting=bool(acting))
        for person, position, via, acting in sql.fetchall(
            "SELECT person_id, position_id, via, is_acting "  # noqa: S608 - identifiers from model metadata
            f"FROM {sql.table(StageApprover)} WHERE request_stage_id = %s ORDER BY id",
            [stage.pk],
        )
    ]


def _key(approvers: Iterable[Resolved]) -> set[tuple[int, int | None, str, bool]]:
    """What makes two sets of approvers the same (where the passing up started is
    shown from the resolution, and does not count)."""
    return {(r.person_id, r.position_id, r.via, r.acting) for r in approvers}


@dataclass(frozen=True, slots=True)
class _Past:
    """The request's decisions so far (one query), for checking a new one."""

    # (stage id, round, slot person, decided by person, outcome, counts)
    rows: tuple[tuple[int, int, int, int, str, bool], ...]

    @classmethod
    def of(cls, request: ApprovalRequest) -> _Past:
        return cls(
            tuple(
                (stage, round_, slot, decider, outcome, bool(current))
                for stage, round_, slot, decider, outcome, current in sql.fetchall(
                    "SELECT request_stage_id, round, slot_person_id, "  # noqa: S608 - identifiers from model metadata
                    "decided_by_person_id, outcome, is_current "
                    f"FROM {sql.table(Decision)} WHERE request_id = %s",
                    [request.pk],
                )
            )
        )

    def adding(self, decision: Decision) -> _Past:
        """These decisions and a new one (that counts)."""
        return _Past(
            (
                *self.rows,
                (
                    decision.request_stage_id,
                    decision.round,
                    decision.slot_person_id,
                    decision.decided_by_person_id,
                    decision.outcome,
                    True,
                ),
            )
        )

    def repeat(self, stage: RequestStage) -> frozenset[int]:
        """People whose decision counts at another stage."""
        return frozenset(
            person
            for stage_id, _r, slot, decider, _o, current in self.rows
            if current and stage_id != stage.pk
            for person in (slot, decider)
        )

    def decided(self, stage: RequestStage) -> set[int]:
        """The slots decided in the stage's current round."""
        return {
            slot
            for stage_id, round_, slot, _d, _o, _c in self.rows
            if stage_id == stage.pk and round_ == stage.round
        }

    def approved(self, stage: RequestStage) -> list[int]:
        return [
            slot
            for stage_id, round_, slot, _d, outcome, current in self.rows
            if stage_id == stage.pk
            and round_ == stage.round
            and current
            and outcome == Outcome.APPROVE
        ]

    def involves(self, people: set[int]) -> bool:
        """Whether any of them fills or decided a slot that counts."""
        return any(
            current and (slot in people or decider in people)
            for _s, _r, slot, decider, _o, current in self.rows
        )


def _decided_slots(stage: RequestStage) -> set[int]:
    return set(
        Decision.objects.filter(
            request_stage_id=stage.pk, round=stage.round
        ).values_list("slot_person_id", flat=True)
    )


def _approvals(stage: RequestStage) -> list[int]:
    """The slots that approved in the stage's current round."""
    return list(
        Decision.objects.filter(
            request_stage_id=stage.pk,
            round=stage.round,
            outcome=Outcome.APPROVE,
            is_current=True,
        ).values_list("slot_person_id", flat=True)
    )


def _required(
    stage: RequestStage, approvers: Sequence[Resolved], approved: Iterable[int] = ()
) -> int:
    """Approvals that complete the stage: one; N; or all of them — everyone asked
    (escalated superiors come on top) together with those who already approved in
    this round, so someone who approved and then left still counts once and the
    others still have to decide."""
    route_stage = stage.stage
    if route_stage.mode == StageMode.ANY:
        return 1
    if route_stage.mode == StageMode.QUORUM:
        return int(route_stage.quorum or 1)
    asked = {r.person_id for r in approvers if r.via != VIA_ESCALATED}
    return max(1, len(asked | set(approved)))


def _quorum_error(stage: RequestStage, count: int) -> ValidationFailed:
    return ValidationFailed(
        {
            "approvers": [
                _(
                    "Stage %(order)d (%(name)s) needs %(needed)d approvals, but only "
                    "%(count)d people can approve it."
                )
                % {
                    "order": stage.order,
                    "name": stage.stage.name,
                    "needed": stage.stage.quorum or 1,
                    "count": count,
                }
            ]
        },
        code="quorum_unreachable",
    )


# --- the work of one change -----------------------------------------------------------


class _Work:
    """What one change of one request needs and collects: the clock, the
    organisation read once (resolver, calendar) and the audit entries written at
    the end."""

    def __init__(
        self,
        request: ApprovalRequest,
        *,
        actor: User | None,
        now: dt.datetime,
        entries: list[audit.Entry] | None = None,
        resolver: Resolver | None = None,
    ) -> None:
        self.request = request
        self.organisation: Organisation = request.organisation
        self.actor = actor
        self.now = now
        self.entries = entries if entries is not None else []
        self._resolver = resolver
        self._calendar: CalendarSpec | None = None
        self.changes: dict[str, Any] = {}
        self._endpoints: list[WebhookEndpoint] | None = None

    def endpoints(self) -> list[WebhookEndpoint]:
        """The organisation's active webhook endpoints, read once a change."""
        if self._endpoints is None:
            self._endpoints = webhooks.active_endpoints(self.organisation)
        return self._endpoints

    @property
    def resolver(self) -> Resolver:
        if self._resolver is None:
            self._resolver = Resolver(self.organisation, at=self.now)
        return self._resolver

    def calendar(self) -> CalendarSpec:
        if self._calendar is None:
            self._calendar = projection.calendar_spec(self.organisation)
        return self._calendar

    def record(
        self,
        verb: str,
        changes: Mapping[str, Any],
        personal: Mapping[str, Any] | None = None,
    ) -> None:
        self.entries.append(
            audit.Entry(
                verb=verb,
                target=self.request,
                changes=changes,
                personal_changes=personal or {},
                target_label=self.request.title,
            )
        )

    def set(self, **fields: Any) -> None:
        """Request fields to change with the version at the end."""
        self.changes.update(fields)

    def save_request(self) -> None:
        """The compare-and-set of the request (under its lock: it cannot fail)."""
        compare_and_set(
            self.request,
            expected_version=self.request.version,
            fields={**self.changes, "updated_at": self.now},
        )
        self.changes = {}

    def finish(self) -> None:
        audit.record_many(self.organisation, actor=self.actor, entries=self.entries)


# --- payloads of webhooks --------------------------------------------------------------


def _request_data(request: ApprovalRequest) -> dict[str, Any]:
    return {
        "id": request.pk,
        "title": request.title,
        "subject_kind": request.subject_kind,
        "subject_id": request.subject_id,
        "run_id": request.run_id,
        "url": _absolute(request_path(request)),
    }


def _stage_data(stage: RequestStage) -> dict[str, Any]:
    return {
        "order": stage.order,
        "name": stage.stage.name,
        "round": stage.round,
        "due_at": stage.due_at,
    }


def _people_data(person_ids: Iterable[int]) -> list[dict[str, Any]]:
    ids = list(dict.fromkeys(person_ids))
    names = _names(ids)
    return [{"id": pk, "name": names.get(pk, "")} for pk in ids]


# Event ids are derived from what happened, so publishing one event again (a
# repeated effect) queues nothing new.
_EVENT_NAMESPACE = uuid.UUID("6f1b1c4e-4b7a-4f57-9a55-2f0d8c1e7a10")


def _publish(
    work: _Work,
    event_type: str,
    key: str,
    data: Callable[[], Mapping[str, Any]],
) -> None:
    """Announce an event to the organisation's webhooks (`data` is only built
    when some endpoint takes it)."""
    event_id = uuid.uuid5(_EVENT_NAMESPACE, f"{work.organisation.pk}:{key}")
    webhooks.publish(
        work.organisation,
        event_type=event_type,
        payload=lambda: events.build(
            work.organisation,
            event_type,
            data(),
            event_id=event_id,
            occurred_at=work.now,
        ),
        event_id=event_id,
        endpoints=work.endpoints(),
    )


# --- resolving and opening stages ------------------------------------------------------


def _announce_urgently(
    work: _Work,
    *,
    people: Iterable[int],
    event_type: str,
    key: str,
    title: Promise,
    data: Callable[[], Mapping[str, Any]],
    body: str | Promise = "",
) -> int:
    """Tell `people` in the app, urgently, with a link to the request, and announce
    the event to the webhooks under the same idempotency key; how many were told."""
    written = notifications.notify(
        work.organisation,
        recipients=_users_of(people),
        event_type=event_type,
        key=key,
        title=title,
        body=body,
        url=request_path(work.request),
        urgent=True,
        now=work.now,
    )
    _publish(work, event_type, key, data)
    return written


def _resolve(
    work: _Work, stage: RequestStage, *, past: _Past | None = None
) -> list[Resolved]:
    """The stage's approvers at `work.now`, escalations included (ValidationFailed
    when nobody can approve)."""
    request = work.request
    if request.route_version.allow_repeat_approver:
        repeat: frozenset[int] = frozenset()
    elif past is not None:
        repeat = past.repeat(stage)
    else:
        repeat = repeat_approvers(request, exclude_stage_id=stage.pk)
    found = work.resolver.resolve(stage, repeat=repeat)
    for _level in range(stage.escalations):
        extra = work.resolver.superiors_of(
            found,
            requester=request.requester_id,
            exclude=frozenset(r.person_id for r in found) | repeat,
        )
        if not extra:
            break
        found = [*found, *extra]
    return found


def _replace_approvers(
    work: _Work, stage: RequestStage, approvers: Sequence[Resolved], *, cause: str
) -> Resolution:
    # A stage opening for its first round has had no approvers yet: nothing to
    # delete (the hot path of submitting and of a decision opening the next stage).
    if stage.round > 1 or cause != ResolutionCause.OPENED:
        sql.execute(
            f"DELETE FROM {sql.table(StageApprover)} WHERE request_stage_id = %s",  # noqa: S608 - identifiers from model metadata
            [stage.pk],
        )
    sql.insert(
        StageApprover,
        [
            {
                "organisation_id": stage.organisation_id,
                "request_stage_id": stage.pk,
                "person_id": r.person_id,
                "position_id": r.position_id,
                "via": r.via,
                "is_acting": r.acting,
                "escalated": r.via == VIA_ESCALATED,
            }
            for r in approvers
        ],
    )
    values = {
        "organisation_id": stage.organisation_id,
        "request_stage_id": stage.pk,
        "round": stage.round,
        "at": work.now,
        "cause": cause,
        "approvers": as_json(approvers),
    }
    [pk] = sql.insert(Resolution, [values])
    resolution = Resolution(pk=pk, **values)
    resolution._state.adding = False
    return resolution


def _due_at(work: _Work, stage: RequestStage) -> dt.datetime | None:
    hours = stage.stage.time_limit_hours
    if not hours:
        return None
    return add_working_minutes(work.calendar(), work.now, hours * 60)


def _schedule(work: _Work, stage: RequestStage) -> None:
    if stage.due_at is not None:
        timers.schedule(
            stage.organisation_id,
            kind=TimerKind.APPROVAL_STAGE,
            subject_id=stage.pk,
            deadline=stage.due_at,
            action=stage.stage.on_timeout,
        )


def _open_stage(
    work: _Work,
    stage: RequestStage,
    *,
    cause: str,
    returned: bool = False,
    past: _Past | None = None,
) -> list[Resolved]:
    """Open the stage for a new round: resolve, record, time limit, tell. `past`:
    the request's decisions, when known."""
    stage.status = StageStatus.OPEN
    stage.round += 1
    stage.opened_at = work.now
    stage.closed_at = None
    stage.escalations = 0
    approvers = _resolve(work, stage, past=past)
    required = _required(stage, approvers)
    if required > len(approvers):
        raise _quorum_error(stage, len(approvers))
    stage.required = required
    stage.due_at = _due_at(work, stage)
    _save_stage(
        stage,
        [
            "status",
            "round",
            "opened_at",
            "closed_at",
            "escalations",
            "required",
            "due_at",
        ],
    )
    _replace_approvers(work, stage, approvers, cause=cause)
    _schedule(work, stage)
    request = work.request
    person_ids = [r.person_id for r in approvers]
    _tell_stage_opened(
        work,
        stage,
        person_ids,
        gettext_noop("Returned to you for another look: %(title)s")
        if returned
        else gettext_noop("Waiting for your decision: %(title)s"),
    )
    _tell_stand_ins(work, stage, person_ids)
    _publish(
        work,
        events.APPROVAL_STAGE_OPENED,
        f"approval:{request.pk}:stage:{stage.pk}:round:{stage.round}:opened",
        lambda: {
            "request": _request_data(request),
            "stage": _stage_data(stage),
            "approvers": _people_data(person_ids),
        },
    )
    work.record(
        AuditVerb.STAGE_OPENED,
        {
            "stage": stage.order,
            "round": stage.round,
            "cause": cause,
            "approvers": person_ids,
            "required": required,
            "due_at": stage.due_at,
        },
    )
    return approvers


def _tell_stand_ins(
    work: _Work, stage: RequestStage, approver_ids: Sequence[int]
) -> None:
    """Who stands in for an approver when the stage opens (an absence with a
    delegate, a delegation working now, for this route) may decide too: tell
    them. Never the requester, who cannot decide through a delegation."""
    request = work.request
    asked = set(approver_ids)
    stand_ins = [
        person_id
        for person_id in delegations.stand_ins(
            asked, at=work.now, route_id=request.route_version.route_id
        )
        if person_id not in asked and person_id != request.requester_id
    ]
    if stand_ins:
        _tell_stage_opened(
            work,
            stage,
            stand_ins,
            gettext_noop(
                "You stand in for an approver, waiting for a decision: %(title)s"
            ),
        )


def _tell_stage_opened(
    work: _Work, stage: RequestStage, person_ids: Sequence[int], title: str
) -> None:
    """Tell these people the stage opened (`title`: a `gettext_noop` message
    with the request's %(title)s), once a round each."""
    request = work.request
    notifications.notify(
        work.organisation,
        recipients=_users_of(person_ids),
        event_type=events.APPROVAL_STAGE_OPENED,
        key=f"approval:{request.pk}:stage:{stage.pk}:round:{stage.round}:opened",
        title=_text(title, title=request.title),
        body=_text(
            gettext_noop("Stage %(order)d: %(stage)s."),
            order=stage.order,
            stage=stage.stage.name,
        ),
        url=request_path(request),
        now=work.now,
    )


def _close_stage(work: _Work, stage: RequestStage, status: str) -> None:
    was_open = stage.status == StageStatus.OPEN
    stage.status = status
    stage.closed_at = work.now if was_open else stage.closed_at
    _save_stage(stage, ["status", "closed_at"])
    if was_open and stage.due_at is not None:  # no time limit: no timer
        timers.cancel(TimerKind.APPROVAL_STAGE, stage.pk, now=work.now)


def _back_to_waiting(work: _Work, stage: RequestStage) -> None:
    if stage.status == StageStatus.OPEN and stage.due_at is not None:
        timers.cancel(TimerKind.APPROVAL_STAGE, stage.pk, now=work.now)
    stage.status = StageStatus.WAITING
    stage.opened_at = None
    stage.due_at = None
    stage.closed_at = None
    _save_stage(stage, ["status", "opened_at", "due_at", "closed_at"])


def _reopen_from(
    work: _Work, stages: Sequence[RequestStage], order: int, *, returned: bool
) -> RequestStage:
    """Decisions from stage `order` on stop counting; later stages wait again; stage
    `order` opens for a new round."""
    Decision.objects.filter(
        request_id=work.request.pk, is_current=True, request_stage__order__gte=order
    ).update(is_current=False)
    target = next(s for s in stages if s.order == order)
    for stage in stages:
        if stage.order > order and stage.status != StageStatus.WAITING:
            _back_to_waiting(work, stage)
    if target.status == StageStatus.OPEN and target.due_at is not None:
        timers.cancel(TimerKind.APPROVAL_STAGE, target.pk, now=work.now)
    _open_stage(work, target, cause=ResolutionCause.REOPENED, returned=returned)
    work.set(current_stage=order)
    return target


def _settle(work: _Work, status: str, stages: Sequence[RequestStage]) -> None:
    """The request reached a final state: stages still open or waiting are
    cancelled."""
    request = work.request
    for stage in stages:
        if stage.status in (StageStatus.WAITING, StageStatus.OPEN):
            _close_stage(work, stage, StageStatus.CANCELLED)
    work.set(status=status, finished_at=work.now)
    _publish(
        work,
        events.APPROVAL_COMPLETED,
        f"approval:{request.pk}:completed:{status}",
        lambda: {
            "request": _request_data(request),
            "status": status,
            "finished_at": work.now,
        },
    )


def _complete_if_reached(
    work: _Work,
    stage: RequestStage,
    stages: Sequence[RequestStage],
    *,
    decided_by: User,
    approved: Sequence[int],
    subject: Any = None,
    past: _Past | None = None,
) -> bool:
    """Close the stage approved when its approvals (the slots that approved in
    its round) reached what it needs; open the next one, or approve the request
    (and apply it to the subject). `past`: the request's decisions, when known."""
    if len(approved) < stage.required:
        return False
    _close_stage(work, stage, StageStatus.APPROVED)
    following = [s for s in stages if s.order > stage.order]
    if following:
        _open_stage(
            work, following[0], cause=_cause_of_opening(following[0]), past=past
        )
        work.set(current_stage=following[0].order)
        return True
    request = work.request
    adapter = subjects.adapter_for(request.subject_kind)
    if subject is None:
        subject = adapter.load(request.subject_id)
    adapter.on_approved(subject, request, decided_by, work.now)
    _settle(work, RequestStatus.APPROVED, stages)
    _tell_requester(
        work,
        event_type=events.APPROVAL_COMPLETED,
        key=f"approval:{request.pk}:approved",
        title=_text(gettext_noop("Approved: %(title)s"), title=request.title),
    )
    return True


def _cause_of_opening(stage: RequestStage) -> str:
    return ResolutionCause.OPENED if stage.round == 0 else ResolutionCause.REOPENED


def _tell_requester(
    work: _Work,
    *,
    event_type: str,
    key: str,
    title: Promise,
    body: Promise | str = "",
) -> None:
    notifications.notify(
        work.organisation,
        recipients=_users_of([work.request.requester_id]),
        event_type=event_type,
        key=key,
        title=title,
        body=body,
        url=request_path(work.request),
        now=work.now,
    )


# --- submitting ------------------------------------------------------------------------


def _load_subject(subject_kind: str, subject_id: int) -> tuple[subjects.Adapter, Any]:
    try:
        adapter = subjects.adapter_for(subject_kind)
    except LookupError as error:
        raise ValidationFailed(
            {"subject_kind": [_("Approval cannot be asked for this kind of thing.")]}
        ) from error
    try:
        return adapter, adapter.load(subject_id)
    except ObjectDoesNotExist as error:
        raise NotFound() from error


def _requester_position(
    organisation: Organisation, person_id: int, chosen: Any, now: dt.datetime
) -> int | None:
    day = connection.ops.adapt_datefield_value(local_date(organisation, now))
    held = sorted(
        {
            row[0]
            for row in sql.fetchall(
                f"SELECT position_id FROM {sql.table(Holding)} "  # noqa: S608 - identifiers from model metadata
                "WHERE organisation_id = %s AND person_id = %s AND start_date <= %s "
                "AND (end_date IS NULL OR end_date >= %s)",
                [organisation.pk, person_id, day, day],
            )
        }
    )
    if chosen is not None:
        chosen_id = getattr(chosen, "pk", chosen)
        if chosen_id not in held:
            raise ValidationFailed(
                {"requester_position": [_("You do not hold this position now.")]}
            )
        return int(chosen_id)
    if len(held) > 1:
        raise ValidationFailed(
            {
                "requester_position": [
                    _(
                        "You hold several positions: choose the one you ask from, so "
                        "the right superiors decide."
                    )
                ]
            }
        )
    return held[0] if held else None


def _route_version(
    organisation: Organisation,
    subject_kind: str,
    fields: Mapping[str, Any],
    given: RouteVersion | None,
) -> RouteVersion:
    if given is None:
        version = routes.match(organisation, subject_kind, fields)
        if version is None:
            raise ValidationFailed(
                {"route_version": [_("No approval route applies to this.")]},
                code="no_route",
            )
        return version
    row = sql.fetchone(
        "SELECT v.organisation_id, v.status, v.number, v.allow_repeat_approver, "  # noqa: S608 - identifiers from model metadata
        "rt.id, rt.subject_kind, rt.is_active, rt.code, rt.name, rt.owner_position_id "
        f"FROM {sql.table(RouteVersion)} v "
        f"JOIN {sql.table(Route)} rt ON rt.id = v.route_id WHERE v.id = %s",
        [given.pk],
    )
    if row is None or row[0] != organisation.pk or row[5] != subject_kind:
        raise ValidationFailed(
            {"route_version": [_("This route is not for this kind of request.")]}
        )
    version = sql.instance(
        RouteVersion,
        {
            "id": given.pk,
            "organisation_id": row[0],
            "route_id": row[4],
            "status": row[1],
            "number": row[2],
            "allow_repeat_approver": bool(row[3]),
        },
    )
    version.route = sql.instance(
        Route,
        {
            "id": row[4],
            "organisation_id": row[0],
            "subject_kind": row[5],
            "is_active": bool(row[6]),
            "code": row[7],
            "name": row[8],
            "owner_position_id": row[9],
        },
    )
    if version.status != VersionStatus.PUBLISHED or not version.route.is_active:
        raise ValidationFailed(
            {
                "route_version": [
                    _("Only a published version of an active route can be used.")
                ]
            }
        )
    return version


def _clean_payload(payload: Any) -> dict[str, Any]:
    if payload is None:
        return {}
    if not isinstance(payload, Mapping):
        raise ValidationFailed({"payload": [_("Give the details as named values.")]})
    try:
        json.dumps(payload, allow_nan=False)
    except (TypeError, ValueError) as error:
        raise ValidationFailed(
            {
                "payload": [
                    _("Give the details as text, numbers, lists or named values.")
                ]
            }
        ) from error
    return dict(payload)


@transaction.atomic
def submit(
    subject_kind: str,
    subject_id: int,
    *,
    actor: User,
    requester_position: Any = None,
    payload: Mapping[str, Any] | None = None,
    route_version: RouteVersion | None = None,
    now: dt.datetime | None = None,
) -> ApprovalRequest:
    """Ask for approval of a subject: the route is the one that matches the
    subject (unless given), the requester the actor's person, asking from the
    position they hold (name it when they hold several). Creates the stages and
    opens the first."""
    now = _now(now)
    adapter, subject = _load_subject(subject_kind, subject_id)
    organisation = Organisation.objects.get(pk=adapter.organisation_id(subject))
    person_id = _require_decider(organisation.pk, actor)
    position_id = _requester_position(organisation, person_id, requester_position, now)
    version = _route_version(
        organisation, subject_kind, adapter.fields(subject), route_version
    )
    cleaned = _clean_payload(payload)
    pending = sql.fetchone(
        f"SELECT 1 FROM {sql.table(ApprovalRequest)} WHERE subject_kind = %s "  # noqa: S608 - identifiers from model metadata
        f"AND subject_id = %s AND status IN {sql.quoted(PENDING_STATUSES)}",
        [subject_kind, subject_id],
    )
    if pending is not None:
        raise ValidationFailed(
            {"subject_id": [_("This already has an approval request in progress.")]},
            code="already_requested",
        )
    route_stages = _route_stages(version.pk)
    if not route_stages:
        raise ValidationFailed({"route_version": [_("The route has no stages.")]})
    values = {
        "organisation_id": organisation.pk,
        "route_version_id": version.pk,
        "subject_kind": subject_kind,
        "subject_id": subject_id,
        "subject_version": adapter.version(subject),
        "run_id": adapter.run_id(subject),
        "title": str(adapter.title(subject))[:300],
        "payload": cleaned,
        "requested_by_id": actor.pk,
        "requester_id": person_id,
        "requester_position_id": position_id,
        "status": RequestStatus.OPEN,
        "current_stage": route_stages[0].order,
        "submitted_at": now,
        "created_at": now,
        "updated_at": now,
        "version": 1,
    }
    try:
        with transaction.atomic():
            [pk] = sql.insert(ApprovalRequest, [values])
    except IntegrityError as error:  # a concurrent request for the same subject
        raise Conflict(
            _("This already has an approval request in progress.")
        ) from error
    request = sql.instance(ApprovalRequest, {"id": pk, **values})
    request.organisation = organisation
    request.route_version = version
    stage_rows = [
        {
            "organisation_id": organisation.pk,
            "request_id": pk,
            "stage_id": route_stage.pk,
            "order": route_stage.order,
            "status": StageStatus.WAITING,
            "round": 0,
            "required": 1,
            "escalations": 0,
        }
        for route_stage in route_stages
    ]
    stages = []
    for stage_pk, row, route_stage in zip(
        sql.insert(RequestStage, stage_rows), stage_rows, route_stages, strict=True
    ):
        stage = sql.instance(
            RequestStage,
            {
                **row,
                "id": stage_pk,
                "opened_at": None,
                "due_at": None,
                "closed_at": None,
            },
        )
        stage.stage = route_stage
        stage.request = request
        stages.append(stage)
    work = _Work(request, actor=actor, now=now)
    work.record(
        AuditVerb.APPROVAL_REQUESTED,
        {
            "subject_kind": subject_kind,
            "subject_id": subject_id,
            "subject_version": request.subject_version,
            "route_version": version.pk,
            "requester": person_id,
            "requester_position": position_id,
        },
        personal={"payload": cleaned} if cleaned else None,
    )
    _publish(
        work,
        events.APPROVAL_REQUESTED,
        f"approval:{request.pk}:requested",
        lambda: {
            "request": _request_data(request),
            "route": {"code": version.route.code, "version": version.number},
            "requester": _people_data([person_id])[0],
        },
    )
    _open_stage(work, stages[0], cause=ResolutionCause.OPENED, past=_Past(()))
    work.finish()
    return request


# --- deciding ------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class _Slot:
    """Whose slot a decision fills, who decides and under which delegation."""

    person_id: int
    position_id: int | None
    delegation: Delegation | None


def _clean_decision(
    outcome: str, comment: str, return_to_stage: Any, current_order: int
) -> int | None:
    errors: dict[str, list[str]] = {}
    if outcome == Outcome.REJECT and not comment:
        errors["comment"] = [_("A rejection needs a reason.")]
    if outcome == Outcome.RETURN:
        if not comment:
            errors["comment"] = [_("A return for revision needs a comment.")]
        if return_to_stage is None:
            errors["return_to_stage"] = [_("Say where the request goes back to.")]
        elif (
            isinstance(return_to_stage, bool)
            or not isinstance(return_to_stage, int)
            or not 0 <= return_to_stage < current_order
        ):
            errors["return_to_stage"] = [
                _("Return it to an earlier stage or to the requester.")
            ]
    if errors:
        raise ValidationFailed(errors)
    return int(return_to_stage) if outcome == Outcome.RETURN else None


def _was_approver_elsewhere(
    request: ApprovalRequest, stage: RequestStage, person_id: int
) -> bool:
    """Whether the person was asked at another stage of the request, or in an
    earlier round of this one: what they were deciding has moved on (a lost race)."""
    if (
        sql.fetchone(
            f"SELECT 1 FROM {sql.table(StageApprover)} a "  # noqa: S608 - identifiers from model metadata
            f"JOIN {sql.table(RequestStage)} rs ON rs.id = a.request_stage_id "
            "WHERE rs.request_id = %s AND a.person_id = %s AND rs.id <> %s",
            [request.pk, person_id, stage.pk],
        )
        is not None
    ):
        return True
    earlier = Resolution.objects.filter(
        request_stage_id=stage.pk, round__lt=stage.round
    ).values_list("approvers", flat=True)
    return any(
        isinstance(entry, Mapping) and entry.get("person") == person_id
        for approvers in earlier
        for entry in (approvers or [])
    )


def _delegations_to(
    person_id: int, request: ApprovalRequest, now: dt.datetime
) -> list[Delegation]:
    """The delegations that let the person decide for someone on this request's
    route now (`delegation.active_for`). Most people hold none in their period: one
    cheap statement says so before the full rules are asked."""
    if (
        sql.fetchone(
            f"SELECT 1 FROM {sql.table(Delegation)} WHERE delegate_id = %s "  # noqa: S608 - identifiers from model metadata
            "AND starts_at <= %s AND ends_at > %s",
            [person_id, sql.db_datetime(now), sql.db_datetime(now)],
        )
        is None
    ):
        return []
    return delegations.active_for(
        person_id, at=now, route_id=request.route_version.route_id
    )


def _choose_slot(
    work: _Work,
    stage: RequestStage,
    approvers: Sequence[Resolved],
    stored: Sequence[Resolved],
    *,
    decider: int,
    on_behalf_of: Person | None,
    decided: set[int],
) -> _Slot:
    """The slot the actor decides in, checked now; refusals say why."""
    request = work.request
    by_person = {r.person_id: r for r in approvers}
    received = _delegations_to(decider, request, work.now)
    if any(d.delegator_id == request.requester_id for d in received):
        raise PermissionDenied(
            _("You act for the requester; someone else must decide.")
        )
    wanted = on_behalf_of.pk if on_behalf_of is not None else decider
    if wanted == decider:
        if decider in by_person:
            return _Slot(decider, by_person[decider].position_id, None)
        if on_behalf_of is None:
            # Not an approver in their own right: a delegation from exactly one
            # approver who has not decided yet says whose slot it is.
            usable = {
                d.delegator_id: d
                for d in received
                if d.delegator_id in by_person and d.delegator_id not in decided
            }
            if len(usable) > 1:
                raise ValidationFailed(
                    {
                        "on_behalf_of": [
                            _(
                                "You can decide on behalf of several approvers here: "
                                "choose one."
                            )
                        ]
                    }
                )
            if usable:
                chosen = next(iter(usable.values()))
                return _Slot(
                    chosen.delegator_id,
                    by_person[chosen.delegator_id].position_id,
                    chosen,
                )
        _refuse_non_approver(request, stage, decider, stored, own=True)
    if wanted not in by_person:
        _refuse_non_approver(request, stage, wanted, stored, own=False)
    for delegation in received:
        if delegation.delegator_id == wanted:
            return _Slot(wanted, by_person[wanted].position_id, delegation)
    raise PermissionDenied(
        _("You hold no delegation from this approver that works now.")
    )


def _refuse_non_approver(
    request: ApprovalRequest,
    stage: RequestStage,
    person_id: int,
    stored: Sequence[Resolved],
    *,
    own: bool,
) -> NoReturn:
    """Someone who is not an approver of the open stage now: they lost the
    authority (refused), or the stage they were asked at moved on (a lost race),
    or they never were one (refused)."""
    if any(r.person_id == person_id for r in stored):
        raise PermissionDenied(
            _("You no longer hold the authority to decide this stage.")
            if own
            else _("They no longer hold the authority to decide this stage.")
        )
    if _was_approver_elsewhere(request, stage, person_id):
        raise Conflict(_("This stage was already decided."))
    raise PermissionDenied(
        _("You are not an approver of this stage.")
        if own
        else _("They are not an approver of this stage.")
    )


def _refuse_repeats(request: ApprovalRequest, past: _Past, people: set[int]) -> None:
    """One person fills one slot of a request (unless the route allows more):
    neither the approver nor the decider may have a decision that counts already."""
    if not request.route_version.allow_repeat_approver and past.involves(people):
        raise PermissionDenied(
            _("You already decided on this request; someone else must decide here.")
        )


def _reresolve_for_decision(
    work: _Work, stage: RequestStage, past: _Past
) -> tuple[list[Resolved], list[Resolved]]:
    """(approvers now, approvers as stored); records a new resolution when the
    organisation changed since the last one."""
    stored = _stored_approvers(stage)
    try:
        now = _resolve(work, stage, past=past)
    except ValidationFailed:
        now = []
    if _key(now) != _key(stored):
        _record_reresolution(work, stage, now, stored, approved=past.approved(stage))
    return now, stored


def _record_reresolution(
    work: _Work,
    stage: RequestStage,
    approvers: Sequence[Resolved],
    before: Sequence[Resolved],
    *,
    approved: Sequence[int],
) -> Resolution:
    resolution = _replace_approvers(
        work, stage, approvers, cause=ResolutionCause.ORG_CHANGED
    )
    required = stage.required
    if stage.stage.mode == StageMode.ALL:
        required = _required(stage, approvers, approved)
        if required != stage.required:
            stage.required = required
            _save_stage(stage, ["required"])
    added = [r.person_id for r in approvers if r.person_id not in _ids(before)]
    work.record(
        AuditVerb.APPROVERS_RESOLVED,
        {
            "stage": stage.order,
            "round": stage.round,
            "cause": ResolutionCause.ORG_CHANGED,
            "approvers": [sorted(_ids(before)), sorted(_ids(approvers))],
            "required": required,
        },
    )
    _tell_owner_if_unreachable(work, stage, approvers, before, approved=approved)
    if added:
        request = work.request
        notifications.notify(
            work.organisation,
            recipients=_users_of(added),
            event_type=events.APPROVAL_STAGE_OPENED,
            key=(
                f"approval:{request.pk}:stage:{stage.pk}:round:{stage.round}"
                f":resolution:{resolution.pk}"
            ),
            title=_text(
                gettext_noop("Waiting for your decision: %(title)s"),
                title=request.title,
            ),
            body=_text(
                gettext_noop("Stage %(order)d: %(stage)s."),
                order=stage.order,
                stage=stage.stage.name,
            ),
            url=request_path(request),
            now=work.now,
        )
    return resolution


def _tell_owner_if_unreachable(
    work: _Work,
    stage: RequestStage,
    approvers: Sequence[Resolved],
    before: Sequence[Resolved],
    *,
    approved: Sequence[int],
) -> None:
    """A re-resolution left the stage with fewer people who can approve (those
    who approved in this round and those still asked) than it needs: it can no
    longer complete, and would wait silently. Tell the route's owner (the holders
    of its owner position, else the organisation's administrators) once a round,
    and audit it when it happens (not again while it stays so)."""
    needed = stage.required
    possible = len(set(approved) | _ids(approvers))
    if possible >= needed or len(set(approved) | _ids(before)) < needed:
        return
    request = work.request
    owners = _owners(work)
    recipients = _users_of(owners) if owners else _administrators(work)
    notifications.notify(
        work.organisation,
        recipients=recipients,
        event_type=events.APPROVAL_OVERDUE,
        key=(f"approval:{request.pk}:stage:{stage.pk}:round:{stage.round}:unreachable"),
        title=_text(
            gettext_noop("An approval you own can no longer be completed: %(title)s"),
            title=request.title,
        ),
        body=_text(
            gettext_noop(
                "Stage %(order)d (%(stage)s) needs %(needed)d approvals; after a "
                "change in the organisation, the people who can still approve it "
                "can give only %(possible)d. Appoint someone to the approvers' "
                "position (an acting holder will do), or ask the requester to "
                "withdraw the request and ask again."
            ),
            order=stage.order,
            stage=stage.stage.name,
            needed=needed,
            possible=possible,
        ),
        url=request_path(request),
        urgent=True,
        now=work.now,
    )
    work.record(
        AuditVerb.REMINDED,
        {
            "stage": stage.order,
            "round": stage.round,
            "unreachable": {"needed": needed, "possible": possible},
            "owners": sorted(owners),
            "administrators": (
                [] if owners else sorted(user.pk for user in recipients)
            ),
        },
    )


def _administrators(work: _Work) -> list[User]:
    """The organisation's active administrators (whom a route without an owner
    falls back to)."""
    return [
        sql.instance(User, {"id": pk})
        for pk in Membership.objects.filter(
            organisation_id=work.organisation.pk,
            role=Role.ADMIN,
            is_active=True,
            user__is_active=True,
        )
        .order_by("user_id")
        .values_list("user_id", flat=True)
    ]


def _ids(approvers: Iterable[Resolved]) -> set[int]:
    return {r.person_id for r in approvers}


def _open_stage_of(
    request: ApprovalRequest, stages: Sequence[RequestStage]
) -> RequestStage:
    for stage in stages:
        if stage.order == request.current_stage and stage.status == StageStatus.OPEN:
            return stage
    raise Conflict(_("This request is no longer waiting for a decision."))


def _check_subject_version(request: ApprovalRequest) -> Any:
    """A decision binds to the subject as the request knows it: a subject that
    changed since is decided again once its stages reopen. The subject."""
    adapter = subjects.adapter_for(request.subject_kind)
    subject = adapter.load(request.subject_id)
    if adapter.version(subject) != request.subject_version:
        raise Conflict(
            _(
                "What this request is about changed in the meantime. Reload it and "
                "decide again."
            )
        )
    return subject


@transaction.atomic
def decide(
    request: ApprovalRequest,
    *,
    actor: User,
    outcome: str,
    comment: str = "",
    return_to_stage: int | None = None,
    on_behalf_of: Person | None = None,
    expected_version: int | None = None,
    now: dt.datetime | None = None,
) -> Decision:
    """Approve, reject (with a reason) or return for revision (with a comment) to
    an earlier stage or to the requester (0), in one slot of the open stage.

    Checked now, under the request's lock: see the module's docstring. A lost race
    (stale version, stage or slot already decided) is a `Conflict` and writes
    nothing."""
    now = _now(now)
    if outcome not in Outcome.values:
        raise ValidationFailed(
            {"outcome": [_("Choose approve, reject or return for revision.")]}
        )
    comment = (comment or "").strip()
    locked = _lock(request.pk)
    _check_version(locked, expected_version)
    if locked.status != RequestStatus.OPEN:
        raise Conflict(_("This request is no longer waiting for a decision."))
    decider = _require_decider(locked.organisation_id, actor)
    if decider == locked.requester_id or (
        on_behalf_of is not None and on_behalf_of.pk == locked.requester_id
    ):
        raise PermissionDenied(_(SELF_APPROVAL))
    stages = _stages(locked)
    stage = _open_stage_of(locked, stages)
    subject = _check_subject_version(locked)
    work = _Work(locked, actor=actor, now=now)
    past = _Past.of(locked)
    decided = past.decided(stage)
    approvers, stored = _reresolve_for_decision(work, stage, past)
    slot = _choose_slot(
        work,
        stage,
        approvers,
        stored,
        decider=decider,
        on_behalf_of=on_behalf_of,
        decided=decided,
    )
    if slot.person_id in decided:
        raise Conflict(_("This approver has already decided."))
    _refuse_repeats(locked, past, {slot.person_id, decider})
    target = _clean_decision(outcome, comment, return_to_stage, stage.order)
    row = {
        "organisation_id": locked.organisation_id,
        "request_id": locked.pk,
        "request_stage_id": stage.pk,
        "round": stage.round,
        "slot_person_id": slot.person_id,
        "decided_by_person_id": decider,
        "decided_by_id": actor.pk,
        "delegation_id": slot.delegation.pk if slot.delegation else None,
        "position_id": slot.position_id,
        "outcome": outcome,
        "comment": comment,
        "return_to_stage": target,
        "subject_version": locked.subject_version,
        "decided_at": now,
        "is_current": True,
    }
    # One statement, no savepoint: a slot decided meanwhile (the constraint
    # `one_decision_per_slot`) writes nothing and is a lost race.
    written = insert_ignoring_conflicts(
        Decision,
        [row],
        unique=["request_stage_id", "round", "slot_person_id"],
        returning=["id"],
    )
    if not written:
        raise Conflict(_("This approver has already decided."))
    [(pk,)] = written
    decision = Decision(pk=pk, **row)
    decision._state.adding = False
    decision.request = locked
    decision.request_stage = stage
    decision.decided_by = actor
    decision.delegation = slot.delegation

    _publish(
        work,
        events.APPROVAL_DECIDED,
        f"approval:{locked.pk}:decision:{decision.pk}",
        lambda: _decided_data(locked, stage, decision, slot),
    )

    if outcome == Outcome.APPROVE:
        _complete_if_reached(
            work,
            stage,
            stages,
            decided_by=actor,
            approved=[*past.approved(stage), slot.person_id],
            subject=subject,
            past=past.adding(decision),
        )
    elif outcome == Outcome.REJECT:
        _close_stage(work, stage, StageStatus.REJECTED)
        adapter = subjects.adapter_for(locked.subject_kind)
        adapter.on_rejected(subject, locked, actor, now)
        _settle(work, RequestStatus.REJECTED, stages)
        _tell_requester(
            work,
            event_type=events.APPROVAL_COMPLETED,
            key=f"approval:{locked.pk}:rejected",
            title=_text(gettext_noop("Rejected: %(title)s"), title=locked.title),
        )
    else:
        _return(work, stage, stages, target or 0)

    still_open = work.changes.get("status", locked.status) == RequestStatus.OPEN
    if outcome == Outcome.APPROVE and still_open:
        _tell_requester(
            work,
            event_type=events.APPROVAL_DECIDED,
            key=f"approval:{locked.pk}:decision:{decision.pk}",
            title=_text(
                gettext_noop("Approved at stage %(order)d: %(title)s"),
                order=stage.order,
                title=locked.title,
            ),
        )
    work.save_request()
    verb = {
        Outcome.APPROVE: AuditVerb.APPROVED,
        Outcome.REJECT: AuditVerb.REJECTED,
        Outcome.RETURN: AuditVerb.RETURNED,
    }[Outcome(outcome)]
    # The decision's own event comes first, then what it set in motion.
    work.entries.insert(
        _first_after_resolution(work.entries),
        audit.Entry(
            verb=verb,
            target=locked,
            changes={
                "decision": decision.pk,
                "stage": stage.order,
                "round": stage.round,
                "outcome": outcome,
                "slot": slot.person_id,
                "decided_by": decider,
                "on_behalf_of": slot.person_id if slot.delegation else None,
                "delegation": slot.delegation.pk if slot.delegation else None,
                "return_to_stage": target,
                "subject_version": locked.subject_version,
                "status": locked.status,
            },
            personal_changes={"comment": comment} if comment else {},
            target_label=locked.title,
        ),
    )
    work.finish()
    return decision


def _decided_data(
    request: ApprovalRequest, stage: RequestStage, decision: Decision, slot: _Slot
) -> dict[str, Any]:
    people = _people_data([decision.decided_by_person_id, slot.person_id])
    return {
        "request": _request_data(request),
        "stage": _stage_data(stage),
        "outcome": decision.outcome,
        "decided_by": people[0],
        "on_behalf_of": people[-1] if slot.delegation is not None else None,
        "return_to_stage": decision.return_to_stage,
    }


def _first_after_resolution(entries: Sequence[audit.Entry]) -> int:
    index = 0
    while index < len(entries) and entries[index].verb == AuditVerb.APPROVERS_RESOLVED:
        index += 1
    return index


def _return(
    work: _Work, stage: RequestStage, stages: Sequence[RequestStage], target: int
) -> None:
    request = work.request
    if target == 0:
        Decision.objects.filter(request_id=request.pk, is_current=True).update(
            is_current=False
        )
        _close_stage(work, stage, StageStatus.RETURNED)
        work.set(status=RequestStatus.RETURNED, current_stage=None)
        _status_changed(request, RequestStatus.RETURNED, work.now)
        _tell_requester(
            work,
            event_type=events.APPROVAL_DECIDED,
            key=f"approval:{request.pk}:stage:{stage.pk}:round:{stage.round}:returned",
            title=_text(
                gettext_noop("Returned to you for revision: %(title)s"),
                title=request.title,
            ),
        )
        return
    _close_stage(work, stage, StageStatus.RETURNED)
    _reopen_from(work, stages, target, returned=True)


# --- the requester's own moves ----------------------------------------------------------


def _status_changed(request: ApprovalRequest, status: str, now: dt.datetime) -> None:
    """Tell the subject's adapter, when it asks to be told (subjects.Adapter)."""
    adapter = subjects.adapter_for(request.subject_kind)
    if adapter.on_status_changed is not None:
        adapter.on_status_changed(
            adapter.load(request.subject_id), request, status, now
        )


def _require_requester(locked: ApprovalRequest, actor: User, refusal: str) -> None:
    if _require_decider(locked.organisation_id, actor) != locked.requester_id:
        raise PermissionDenied(refusal)


@transaction.atomic
def withdraw(
    request: ApprovalRequest,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> ApprovalRequest:
    """The requester takes the request back (final; a new request may follow)."""
    now = _now(now)
    locked = _lock(request.pk)
    _require_requester(locked, actor, _("Only the requester can withdraw the request."))
    _check_version(locked, expected_version)
    if locked.is_final:
        raise ValidationFailed(
            _("The request is %(status)s; it can no longer be withdrawn.")
            % {"status": locked.get_status_display()}
        )
    work = _Work(locked, actor=actor, now=now)
    before = locked.status
    _settle(work, RequestStatus.WITHDRAWN, _stages(locked))
    work.save_request()
    _status_changed(locked, RequestStatus.WITHDRAWN, now)
    work.record(AuditVerb.WITHDRAWN, {"status": [before, RequestStatus.WITHDRAWN]})
    work.finish()
    return locked


@transaction.atomic
def resubmit(
    request: ApprovalRequest,
    *,
    actor: User,
    expected_version: int | None,
    payload: Mapping[str, Any] | None = None,
    now: dt.datetime | None = None,
) -> ApprovalRequest:
    """The requester sends a request returned for revision again: it starts over
    at the first stage, on the subject as it is now (and new details if given)."""
    now = _now(now)
    locked = _lock(request.pk)
    _require_requester(locked, actor, _("Only the requester can resubmit the request."))
    _check_version(locked, expected_version)
    if locked.status != RequestStatus.RETURNED:
        raise ValidationFailed(
            _("Only a request returned for revision can be resubmitted.")
        )
    adapter = subjects.adapter_for(locked.subject_kind)
    subject_version = adapter.version(adapter.load(locked.subject_id))
    work = _Work(locked, actor=actor, now=now)
    changes: dict[str, Any] = {
        "status": RequestStatus.OPEN,
        "subject_version": subject_version,
    }
    personal: dict[str, Any] = {}
    if payload is not None:
        changes["payload"] = _clean_payload(payload)
        personal["payload"] = changes["payload"]
    work.set(**changes)
    locked.subject_version = subject_version
    stages = _stages(locked)
    Decision.objects.filter(request_id=locked.pk, is_current=True).update(
        is_current=False
    )
    for stage in stages[1:]:
        if stage.status != StageStatus.WAITING:
            _back_to_waiting(work, stage)
    work.record(
        AuditVerb.RESUBMITTED,
        {
            "status": [RequestStatus.RETURNED, RequestStatus.OPEN],
            "subject_version": subject_version,
        },
        personal,
    )
    _open_stage(work, stages[0], cause=_cause_of_opening(stages[0]))
    work.set(current_stage=stages[0].order)
    work.save_request()
    _status_changed(locked, RequestStatus.OPEN, now)
    work.finish()
    return locked


@transaction.atomic
def nudge(
    request: ApprovalRequest, *, actor: User, now: dt.datetime | None = None
) -> Nudge:
    """Remind the approvers of the open stage who have not decided yet (urgent),
    at most once per person and request in `RANTAI_NUDGE_INTERVAL_MINUTES`."""
    now = _now(now)
    locked = _lock(request.pk)
    member = _member(locked.organisation_id, actor)
    if member.role is None or member.role == Role.PARTNER:
        raise NotFound()
    if locked.status != RequestStatus.OPEN:
        raise ValidationFailed(
            _("Only a request waiting for a decision can be nudged.")
        )
    interval = dt.timedelta(
        minutes=int(
            getattr(
                settings,
                "RANTAI_NUDGE_INTERVAL_MINUTES",
                DEFAULT_NUDGE_INTERVAL_MINUTES,
            )
        )
    )
    last = (
        Nudge.objects.filter(request_id=locked.pk, by=actor, at__gt=now - interval)
        .order_by("-at")
        .values_list("at", flat=True)
        .first()
    )
    if last is not None:
        wait = math.ceil((last + interval - now).total_seconds() / 60)
        raise ValidationFailed(
            _(
                "You reminded the approvers a short while ago; you can do so again in "
                "%(minutes)d minutes."
            )
            % {"minutes": max(wait, 1)},
            code="rate_limited",
        )
    stage = _open_stage_of(locked, _stages(locked))
    waiting_on = _undecided(stage)
    if not waiting_on:
        raise ValidationFailed(_("Nobody at this stage is left to remind."))
    made = Nudge.objects.create(
        organisation_id=locked.organisation_id, request=locked, by=actor, at=now
    )
    ApprovalRequest.objects.filter(pk=locked.pk).update(last_nudged_at=now)
    locked.last_nudged_at = now
    work = _Work(locked, actor=actor, now=now)
    nudger = member.person_id
    _announce_urgently(
        work,
        people=waiting_on,
        event_type=events.APPROVAL_NUDGED,
        key=f"approval:{locked.pk}:nudge:{made.pk}",
        title=_text(
            gettext_noop("%(name)s is waiting for your decision: %(title)s"),
            name=actor.display_name,
            title=locked.title,
        ),
        data=lambda: {
            "request": _request_data(locked),
            "stage": _stage_data(stage),
            "nudged_by": (
                _people_data([nudger])[0]
                if nudger is not None
                else {"id": 0, "name": actor.display_name}
            ),
        },
    )
    work.record(
        AuditVerb.NUDGED,
        {"stage": stage.order, "round": stage.round, "reminded": sorted(waiting_on)},
    )
    work.finish()
    return made


def _undecided(stage: RequestStage) -> list[int]:
    decided = _decided_slots(stage)
    return [r.person_id for r in _stored_approvers(stage) if r.person_id not in decided]


# --- the subject changed ------------------------------------------------------------------


@transaction.atomic
def subject_changed(
    subject_kind: str,
    subject_id: int,
    *,
    new_version: int,
    actor: User | None,
    now: dt.datetime | None = None,
) -> ApprovalRequest | None:
    """The subject of a pending request changed (now at `new_version`): decisions
    bound to an older version stop counting and their stages open again (from the
    earliest of them; later stages wait again). The request in progress, or None."""
    now = _now(now)
    pending = (
        ApprovalRequest.objects.filter(
            subject_kind=subject_kind,
            subject_id=subject_id,
            status__in=PENDING_STATUSES,
        )
        .values_list("pk", flat=True)
        .first()
    )
    if pending is None:
        return None
    locked = _lock(pending)
    if locked.status not in PENDING_STATUSES:
        return None
    if new_version <= locked.subject_version:
        return locked
    old = locked.subject_version
    locked.subject_version = new_version
    work = _Work(locked, actor=actor, now=now)
    work.set(subject_version=new_version)
    reopened: int | None = None
    if locked.status == RequestStatus.OPEN:
        stale = list(
            Decision.objects.filter(
                request_id=locked.pk, is_current=True, subject_version__lt=new_version
            ).values_list("request_stage__order", flat=True)
        )
        if stale:
            reopened = min(stale)
            _reopen_from(work, _stages(locked), reopened, returned=False)
    work.entries.insert(
        0,
        audit.Entry(
            verb=AuditVerb.UPDATED,
            target=locked,
            changes={"subject_version": [old, new_version], "reopened_stage": reopened},
            target_label=locked.title,
        ),
    )
    work.save_request()
    work.finish()
    return locked


# --- the organisation changed -------------------------------------------------------------


@transaction.atomic
def reresolve_open_stages(
    organisation: Organisation,
    *,
    now: dt.datetime | None = None,
    actor: User | None = None,
) -> int:
    """Work out again who may decide every open stage of the organisation and
    record a resolution where that changed; the number of stages whose approvers
    changed.

    Called when the organisation changed (a holder left, a Plt was appointed).
    A request being decided right now is skipped (its row is locked): the decision
    in progress resolves its stage itself, so nothing waits on it and no lock
    cycle with the organisation's audit lock can form."""
    now = _now(now)
    ids = list(
        ApprovalRequest.objects.select_for_update(skip_locked=True, of=("self",))
        .filter(organisation_id=organisation.pk, status=RequestStatus.OPEN)
        .order_by("pk")
        .values_list("pk", flat=True)
    )
    if not ids:
        return 0
    requests = {
        request.pk: request
        for request in ApprovalRequest.objects.filter(pk__in=ids).select_related(
            "organisation", "route_version__route"
        )
    }
    resolver = Resolver(organisation, at=now)
    entries: list[audit.Entry] = []
    changed = 0
    open_stages = (
        RequestStage.objects.filter(request_id__in=ids, status=StageStatus.OPEN)
        .select_related("stage__party")
        .order_by("request_id", "order")
    )
    for stage in open_stages:
        request = requests[stage.request_id]
        if stage.order != request.current_stage or request.status != RequestStatus.OPEN:
            continue
        stage.request = request
        work = _Work(request, actor=actor, now=now, entries=entries, resolver=resolver)
        stored = _stored_approvers(stage)
        try:
            approvers = _resolve(work, stage)
        except ValidationFailed:
            approvers = []
        if _key(approvers) == _key(stored):
            continue
        changed += 1
        _record_reresolution(work, stage, approvers, stored, approved=_approvals(stage))
        if stage.stage.mode == StageMode.ALL:
            _complete_after_reresolution(work, stage)
    audit.record_many(organisation, actor=actor, entries=entries)
    return changed


def _complete_after_reresolution(work: _Work, stage: RequestStage) -> None:
    """All of them: when everyone still asked has approved, the stage is complete
    (on behalf of the last approval). If what follows cannot open (nobody to ask),
    the stage stays open and the change of the organisation still goes through."""
    approvals = list(
        Decision.objects.filter(
            request_stage_id=stage.pk,
            round=stage.round,
            outcome=Outcome.APPROVE,
            is_current=True,
        )
        .select_related("decided_by")
        .order_by("decided_at", "id")
    )
    if not approvals or len(approvals) < stage.required:
        return
    stages = _stages(work.request)
    current = next(s for s in stages if s.pk == stage.pk)
    mark = len(work.entries)
    try:
        with transaction.atomic():
            _complete_if_reached(
                work,
                current,
                stages,
                decided_by=approvals[-1].decided_by,
                approved=[d.slot_person_id for d in approvals],
            )
            work.save_request()
    except ValidationFailed:
        del work.entries[mark:]
        work.changes = {}


def on_holders_changed(event: HoldersChanged) -> None:
    """The org-changed hook (`org.extensions`): re-resolve the open stages of the
    organisation as of the change."""
    organisation = Organisation.objects.get(pk=event.organisation_id)
    reresolve_open_stages(organisation, now=event.at)


# --- time limits ----------------------------------------------------------------------


def stage_timer_rule(timer: Timer, now: dt.datetime) -> str:
    """Fire a stage's time limit (timers.py, kind `approval_stage`): only while the
    stage is still open in the round the timer was set for (its due time is the
    timer's deadline); "" when it was settled meanwhile."""
    stage_row = (
        RequestStage.objects.filter(pk=timer.subject_id)
        .values_list("request_id", flat=True)
        .first()
    )
    if stage_row is None:
        return ""
    locked = _lock(stage_row)
    stage = (
        RequestStage.objects.select_related("stage__party")
        .filter(pk=timer.subject_id)
        .get()
    )
    stage.request = locked
    if (
        locked.status != RequestStatus.OPEN
        or stage.status != StageStatus.OPEN
        or stage.order != locked.current_stage
        or stage.due_at != timer.deadline
    ):
        return ""
    work = _Work(locked, actor=None, now=now)
    if timer.action == TimeoutAction.ESCALATE:
        outcome = _escalate(work, stage)
    elif timer.action == TimeoutAction.NOTIFY_OWNER:
        outcome = _notify_owner(work, stage, timer)
    else:
        outcome = _remind(work, stage, timer)
    work.finish()
    return outcome


def _remind(work: _Work, stage: RequestStage, timer: Timer) -> str:
    request = work.request
    waiting_on = _undecided(stage)
    written = _announce_urgently(
        work,
        people=waiting_on,
        event_type=events.APPROVAL_REMINDED,
        key=(
            f"approval:{request.pk}:stage:{stage.pk}:round:{stage.round}"
            f":reminded:{timer.deadline.isoformat()}"
        ),
        title=_text(
            gettext_noop("Past its time limit, waiting for your decision: %(title)s"),
            title=request.title,
        ),
        data=lambda: {
            "request": _request_data(request),
            "stage": _stage_data(stage),
            "approvers": _people_data(waiting_on),
        },
    )
    work.record(
        AuditVerb.REMINDED,
        {"stage": stage.order, "round": stage.round, "reminded": sorted(waiting_on)},
    )
    return f"reminded {written} approver(s)"


def _owners(work: _Work) -> list[int]:
    owner_position = work.request.route_version.route.owner_position_id
    if owner_position is None:
        return []
    work.resolver.load_chains([owner_position])
    return [h.person_id for h in work.resolver.holders(owner_position)]


def _notify_owner(work: _Work, stage: RequestStage, timer: Timer) -> str:
    request = work.request
    owners = _owners(work)
    if not owners:
        work.record(
            AuditVerb.REMINDED,
            {"stage": stage.order, "round": stage.round, "owners": []},
        )
        return "no process owner to notify"
    waiting_on = _undecided(stage)
    written = _announce_urgently(
        work,
        people=owners,
        event_type=events.APPROVAL_OVERDUE,
        key=(
            f"approval:{request.pk}:stage:{stage.pk}:round:{stage.round}"
            f":overdue:{timer.deadline.isoformat()}"
        ),
        title=_text(
            gettext_noop("An approval you own is past its time limit: %(title)s"),
            title=request.title,
        ),
        body=_text(
            gettext_noop("Stage %(order)d: %(stage)s."),
            order=stage.order,
            stage=stage.stage.name,
        ),
        data=lambda: {
            "request": _request_data(request),
            "stage": _stage_data(stage),
            "approvers": _people_data(waiting_on),
        },
    )
    work.record(
        AuditVerb.REMINDED,
        {"stage": stage.order, "round": stage.round, "owners": sorted(owners)},
    )
    return f"notified {written} process owner(s)"


def _escalate(work: _Work, stage: RequestStage) -> str:
    """Ask the superiors of the approvers too, and give the stage one more time
    limit; with nobody above them, tell the process owner instead."""
    request = work.request
    current = _stored_approvers(stage)
    repeat = (
        frozenset()
        if request.route_version.allow_repeat_approver
        else repeat_approvers(request, exclude_stage_id=stage.pk)
    )
    extra = work.resolver.superiors_of(
        current,
        requester=request.requester_id,
        exclude=frozenset(_ids(current)) | repeat,
    )
    if not extra:
        owners = _owners(work)
        if owners:
            notifications.notify(
                work.organisation,
                recipients=_users_of(owners),
                event_type=events.APPROVAL_OVERDUE,
                key=(
                    f"approval:{request.pk}:stage:{stage.pk}:round:{stage.round}"
                    f":overdue:{stage.escalations}"
                ),
                title=_text(
                    gettext_noop(
                        "An approval you own is past its time limit: %(title)s"
                    ),
                    title=request.title,
                ),
                url=request_path(request),
                urgent=True,
                now=work.now,
            )
        work.record(
            AuditVerb.ESCALATED,
            {
                "stage": stage.order,
                "round": stage.round,
                "added": [],
                "owners": sorted(owners),
            },
        )
        return "nobody above the approvers; process owner notified"
    approvers = [*current, *extra]
    stage.escalations += 1
    hours = stage.stage.time_limit_hours or 0
    stage.due_at = (
        add_working_minutes(work.calendar(), work.now, hours * 60) if hours else None
    )
    _save_stage(stage, ["escalations", "due_at"])
    _replace_approvers(work, stage, approvers, cause=ResolutionCause.ESCALATED)
    _schedule(work, stage)
    added = [r.person_id for r in extra]
    _announce_urgently(
        work,
        people=added,
        event_type=events.APPROVAL_ESCALATED,
        key=(
            f"approval:{request.pk}:stage:{stage.pk}:round:{stage.round}"
            f":escalated:{stage.escalations}"
        ),
        title=_text(
            gettext_noop("Escalated to you, waiting for your decision: %(title)s"),
            title=request.title,
        ),
        body=_text(
            gettext_noop("Stage %(order)d: %(stage)s."),
            order=stage.order,
            stage=stage.stage.name,
        ),
        data=lambda: {
            "request": _request_data(request),
            "stage": _stage_data(stage),
            "approvers": _people_data(added),
            "previous_approvers": _people_data(_ids(current)),
        },
    )
    work.record(
        AuditVerb.ESCALATED,
        {
            "stage": stage.order,
            "round": stage.round,
            "added": added,
            "escalations": stage.escalations,
            "due_at": stage.due_at,
        },
    )
    return f"escalated to {len(added)} approver(s)"
