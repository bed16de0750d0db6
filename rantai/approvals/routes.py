"""Approval routes, versioned like procedures: the write path and its reads.

A route applies to one kind of subject (`SubjectKind`). It has numbered versions,
**draft → published → retired**: only a draft changes (its stages, conditions and
settings); `publish` checks it and retires the version it replaces in the same
transaction, so a route has at most one published version and that is the one new
requests use; a request keeps the version it started on. `new_draft` copies the
published version (or, when none is, the latest).

Who may change a route: administrators of the organisation, and members who
currently hold the route's owner position (acting holders count). Everyone else
learns nothing (no membership: `NotFound`) or is refused (`PermissionDenied`);
who may is checked before what state the version is in.

A condition is data — `field operator value` — tested against the fields the
subject's adapter offers (`subjects.Adapter.field_names`; `run.<key>` for any run
field) and never run as code. `match` finds the route for a subject: the published
versions of the active routes of its kind, lowest priority first (then by code),
the first whose conditions all hold (no conditions: always). Numbers compare as
numbers (`Decimal`), other values as text; a missing field fails its condition.

Every change runs in one transaction, versioned rows change by compare-and-set (a
lost race raises `Conflict` and writes nothing) and the audit event is the last
write.
"""

from __future__ import annotations

import datetime as dt
import re
from collections.abc import Iterable, Mapping
from decimal import Decimal, InvalidOperation
from typing import Any

from django.db import models, transaction
from django.db.models import F, Max
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.approvals import subjects
from rantai.approvals.models import (
    ApproverRule,
    Route,
    RouteCondition,
    RouteStage,
    RouteVersion,
    StageMode,
    TimeoutAction,
)
from rantai.audit import services as audit
from rantai.audit import writes
from rantai.audit.models import AuditVerb
from rantai.chains.models import ConditionOperator, VersionStatus
from rantai.chains.rules import (
    FALSE_WORDS,
    LIST_OPERATORS,
    TRUE_WORDS,
    VALUELESS_OPERATORS,
)
from rantai.chains.services import holds_position
from rantai.core import versioning
from rantai.core.concurrency import lock_current
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.core.validation import field_values
from rantai.org.models import Party, PartyKind, Person, Position

ROUTE_FIELDS = (
    "code",
    "name",
    "subject_kind",
    "priority",
    "owner_position",
    "description",
)
STAGE_FIELDS = (
    "name",
    "rule",
    "levels",
    "position",
    "party",
    "person",
    "mode",
    "quorum",
    "time_limit_hours",
    "on_timeout",
)
CONDITION_FIELDS = ("route_version", "field", "operator", "value")

# The field each rule names (the other rules name none).
TARGET_OF_RULE = {
    ApproverRule.POSITION: "position",
    ApproverRule.UNIT_HEAD: "party",
    ApproverRule.PERSON: "person",
}
TARGET_FIELDS = ("position", "party", "person")
ORDERING_OPERATORS = frozenset(
    {
        ConditionOperator.GT,
        ConditionOperator.GTE,
        ConditionOperator.LT,
        ConditionOperator.LTE,
    }
)
RUN_PREFIX = "run."
_RUN_FIELD = re.compile(r"^run\.[-a-zA-Z0-9_]+$")
_FIELD_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


# --- shared helpers ---------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _same_org(organisation_id: int, name: str, obj: models.Model | None) -> None:
    if obj is not None and obj.organisation_id != organisation_id:  # type: ignore[attr-defined]
        raise ValidationFailed({name: [_("This belongs to another organisation.")]})


def _whole_number(value: Any) -> int | None:
    """The value if it is a whole number (not a bool), else None."""
    if isinstance(value, int) and not isinstance(value, bool):
        return value
    return None


def _delete(
    instance: models.Model,
    *,
    actor: User,
    organisation: Organisation,
    changes: Mapping[str, Any] | None = None,
) -> None:
    pk = instance.pk
    label = str(instance)
    instance.delete()
    instance.pk = pk  # the audit event names what was deleted
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.DELETED,
        target=instance,
        changes=changes,
        target_label=label,
    )


# --- who may change a route -------------------------------------------------------


def _require_member(organisation_id: int, actor: User) -> Membership:
    """An active administrator or member; others are not told the route exists."""
    membership = (
        Membership.objects.filter(
            organisation_id=organisation_id, user=actor, is_active=True
        ).first()
        if actor.is_active
        else None
    )
    if membership is None:
        raise NotFound()
    if membership.role not in (Role.ADMIN, Role.MEMBER):
        raise PermissionDenied()
    return membership


def _require_route_editor(route: Route, actor: User) -> None:
    """Administrators, and members holding the route's owner position."""
    membership = _require_member(route.organisation_id, actor)
    if membership.role == Role.ADMIN:
        return
    if route.owner_position_id is None or not holds_position(
        route.organisation, actor, route.owner_position_id
    ):
        raise PermissionDenied(
            _(
                "Only administrators and holders of the route's owner position can "
                "change it."
            )
        )


def may_edit(route: Route, user: User) -> bool:
    """Whether the user may change the route (for showing the edit actions)."""
    try:
        _require_route_editor(route, user)
    except (NotFound, PermissionDenied):
        return False
    return True


def _check_owner_position(organisation_id: int, position: Position | None) -> None:
    _same_org(organisation_id, "owner_position", position)
    if position is not None and not position.is_active:
        raise ValidationFailed({"owner_position": [_("The position is deactivated.")]})


def _check_code_free(
    organisation_id: int, code: str, *, exclude_id: int | None
) -> None:
    taken = Route.objects.filter(organisation_id=organisation_id, code=code)
    if exclude_id is not None:
        taken = taken.exclude(pk=exclude_id)
    if code and taken.exists():
        raise ValidationFailed({"code": [_("Another route already uses this code.")]})


# --- routes and versions ----------------------------------------------------------


@transaction.atomic
def create_route(
    organisation: Organisation,
    *,
    actor: User,
    code: str,
    name: str,
    subject_kind: str,
    priority: int = 100,
    owner_position: Position | None = None,
    description: str = "",
) -> Route:
    """A new route with an empty draft version 1.

    Administrators create routes; a member may create one owned by a position they
    hold."""
    membership = _require_member(organisation.pk, actor)
    _check_owner_position(organisation.pk, owner_position)
    if membership.role != Role.ADMIN and (
        owner_position is None
        or not holds_position(organisation, actor, owner_position.pk)
    ):
        raise PermissionDenied(
            _(
                "Only administrators and holders of the owner position create "
                "approval routes."
            )
        )
    route = Route(
        organisation=organisation,
        code=(code or "").strip(),
        name=(name or "").strip(),
        subject_kind=subject_kind,
        priority=priority,
        owner_position=owner_position,
        description=description or "",
    )
    _check_code_free(organisation.pk, route.code, exclude_id=None)
    writes.save_new(route)
    version = RouteVersion(organisation=organisation, route=route, number=1)
    writes.save_new(version)
    audit.record_many(
        organisation,
        actor=actor,
        entries=[
            audit.Entry(
                verb=AuditVerb.CREATED,
                target=route,
                changes=field_values(route, ROUTE_FIELDS),
            ),
            audit.Entry(
                verb=AuditVerb.CREATED,
                target=version,
                changes={"route": route.pk, "number": 1},
            ),
        ],
    )
    return route


@transaction.atomic
def update_route(
    route: Route, *, actor: User, expected_version: int | None, **changes: Any
) -> Route:
    """Code, name, priority, owner position, description and `is_active` (these are
    not versioned: requests keep their route version, not these settings)."""
    _require_route_editor(route, actor)
    if "owner_position" in changes:
        _check_owner_position(route.organisation_id, changes["owner_position"])
    if "code" in changes:
        changes["code"] = (changes["code"] or "").strip()
        _check_code_free(route.organisation_id, changes["code"], exclude_id=route.pk)
    if "name" in changes:
        changes["name"] = (changes["name"] or "").strip()
    return writes.update(
        route,
        actor=actor,
        organisation=route.organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={
            "code",
            "name",
            "priority",
            "owner_position",
            "description",
            "is_active",
        },
    )


def _edit_draft(version_id: int, actor: User) -> RouteVersion:
    """The draft, locked against a concurrent publish, if the actor may edit it.

    Only the version's row is locked (`of=self`): the organisation's row is the
    audit chain's head, taken last (by `audit.record`), never first."""
    version = (
        RouteVersion.objects.select_for_update(of=("self",))
        .select_related("route", "organisation")
        .get(pk=version_id)
    )
    _require_route_editor(version.route, actor)
    if version.status != VersionStatus.DRAFT:
        raise ValidationFailed(
            _(
                "Version %(number)d is %(status)s and can no longer change; create a "
                "new draft to change the route."
            )
            % {"number": version.number, "status": version.get_status_display()}
        )
    return version


@transaction.atomic
def new_draft(route: Route, *, actor: User, notes: str = "") -> RouteVersion:
    """A new draft: a copy of the published version's settings, stages and
    conditions (when no version is published, of the latest one)."""
    _require_route_editor(route, actor)
    route = (
        Route.objects.select_for_update(of=("self",))
        .select_related("organisation")
        .get(pk=route.pk)
    )
    versions = RouteVersion.objects.filter(route=route)
    if versions.filter(status=VersionStatus.DRAFT).exists():
        raise ValidationFailed(_("The route already has a draft version."))
    source = (
        versions.filter(status=VersionStatus.PUBLISHED).first()
        or versions.order_by("-number").first()
    )
    number = (versions.aggregate(Max("number"))["number__max"] or 0) + 1
    draft = RouteVersion(
        organisation_id=route.organisation_id,
        route=route,
        number=number,
        allow_repeat_approver=(
            source.allow_repeat_approver if source is not None else False
        ),
        notes=notes,
    )
    writes.save_new(draft)
    if source is not None:
        _copy_version(source, draft)
    audit.record(
        route.organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=draft,
        changes={
            "route": route.pk,
            "number": number,
            "copied_from": source.number if source is not None else None,
        },
    )
    return draft


def _copy_version(source: RouteVersion, target: RouteVersion) -> None:
    RouteStage.objects.bulk_create(
        versioning.copies(
            RouteStage.objects.filter(route_version=source).order_by("order"),
            ("organisation", "order", *STAGE_FIELDS),
            route_version=target,
        )
    )
    RouteCondition.objects.bulk_create(
        versioning.copies(
            RouteCondition.objects.filter(route_version=source).order_by("id"),
            ("organisation", "field", "operator", "value"),
            route_version=target,
        )
    )


@transaction.atomic
def update_version(
    version: RouteVersion, *, actor: User, expected_version: int | None, **changes: Any
) -> RouteVersion:
    """A draft's settings: `allow_repeat_approver` and `notes`."""
    locked = _edit_draft(version.pk, actor)
    return writes.update(
        version,
        actor=actor,
        organisation=locked.organisation,
        expected_version=expected_version,
        changes=changes,
        allowed={"allow_repeat_approver", "notes"},
    )


@transaction.atomic
def publish(
    version: RouteVersion,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> RouteVersion:
    """Check and freeze a draft; it replaces (retires) the published version."""
    now = _now(now)
    locked = _edit_draft(version.pk, actor)
    problems = publish_problems(locked)
    if problems:
        raise ValidationFailed({"__all__": problems}, code="unpublishable")
    changes = versioning.publish(
        version,
        number=locked.number,
        previous=(
            RouteVersion.objects.select_for_update()
            .filter(route_id=locked.route_id, status=VersionStatus.PUBLISHED)
            .first()
        ),
        expected_version=expected_version,
        actor_id=actor.pk,
        now=now,
        statuses=VersionStatus,
    )
    audit.record_many(
        locked.organisation,
        actor=actor,
        entries=[audit.Entry(**change.entry()) for change in changes],
    )
    return version


@transaction.atomic
def retire(
    version: RouteVersion,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> RouteVersion:
    """Stop new requests on a published version; open requests keep it."""
    now = _now(now)
    _require_route_editor(version.route, actor)
    change = versioning.retire(
        version, expected_version=expected_version, now=now, statuses=VersionStatus
    )
    audit.record_many(
        version.organisation, actor=actor, entries=[audit.Entry(**change.entry())]
    )
    return version


# --- checking a version before it is published ------------------------------------


def _member_may_decide(person: Person) -> bool:
    return (
        person.user_id is not None
        and Membership.objects.filter(
            organisation_id=person.organisation_id,
            user_id=person.user_id,
            user__is_active=True,
            is_active=True,
            role__in=(Role.ADMIN, Role.MEMBER),
        ).exists()
    )


def _stage_problem(stage: RouteStage) -> str | None:
    """What keeps a stage's rule from finding approvers, or None."""
    if (
        stage.rule == ApproverRule.POSITION
        and stage.position is not None
        and not stage.position.is_active
    ):
        return _("the position “%(position)s” is deactivated.") % {
            "position": stage.position.title
        }
    if stage.rule == ApproverRule.UNIT_HEAD and stage.party is not None:
        if not stage.party.is_active:
            return _("the unit “%(party)s” is deactivated.") % {
                "party": stage.party.name
            }
        if stage.party.head_position_id is None:
            return _("the unit “%(party)s” has no head position.") % {
                "party": stage.party.name
            }
    if stage.rule == ApproverRule.PERSON and stage.person is not None:
        if not stage.person.is_active:
            return _("%(person)s is deactivated.") % {"person": stage.person.full_name}
        if not _member_may_decide(stage.person):
            return _(
                "%(person)s has no login with a member's rights in this "
                "organisation, so they cannot decide."
            ) % {"person": stage.person.full_name}
    return None


def publish_problems(version: RouteVersion) -> list[str]:
    """Everything that keeps a version from being published (empty list: fine)."""
    problems: list[str] = []
    stages = list(
        RouteStage.objects.filter(route_version=version)
        .select_related("position", "party", "person")
        .order_by("order")
    )
    if not stages:
        problems.append(_("The route has no stages yet."))
    for stage in stages:
        problem = _stage_problem(stage)
        if problem:
            problems.append(
                _("Stage %(order)d “%(stage)s”: %(problem)s")
                % {"order": stage.order, "stage": stage.name, "problem": problem}
            )
    kind = version.route.subject_kind
    for condition in RouteCondition.objects.filter(route_version=version).order_by(
        "id"
    ):
        try:
            _clean_condition(kind, condition.field, condition.operator, condition.value)
        except ValidationFailed as error:
            problems.append(
                _("Condition “%(condition)s”: %(problem)s")
                % {"condition": str(condition), "problem": error.message}
            )
    return problems


# --- stages -----------------------------------------------------------------------


def _clean_stage(
    organisation_id: int, values: dict[str, Any], given: set[str]
) -> dict[str, Any]:
    """Check a stage's settings as a whole; clear what its rule and mode do not use
    unless the caller gave it (then it is an error). Returns the cleaned values."""
    errors: dict[str, list[str]] = {}
    values["name"] = (values.get("name") or "").strip()
    if not values["name"]:
        errors["name"] = [_("This field is required.")]
    rule = values.get("rule")
    if rule not in ApproverRule.values:
        errors["rule"] = [_("Choose who approves.")]
    mode = values.get("mode")
    if mode not in StageMode.values:
        errors["mode"] = [_("Choose how many of the approvers must approve.")]
    if values.get("on_timeout") not in TimeoutAction.values:
        errors["on_timeout"] = [_("Choose what happens when the time limit passes.")]
    levels = _whole_number(values.get("levels"))
    if levels is None or levels < 1:
        errors["levels"] = [_("Levels up must be at least 1.")]
    limit = values.get("time_limit_hours")
    if limit is not None and ((_whole_number(limit) or 0) < 1):
        errors["time_limit_hours"] = [
            _("Enter a time limit of at least one working hour, or leave it empty.")
        ]

    missing = {
        "position": _("Choose the position whose holders approve."),
        "party": _("Choose the unit or party whose head approves."),
        "person": _("Choose the person who approves."),
    }
    unused = {
        "position": _("A position is named only when its holders approve."),
        "party": _("A unit is named only when its head approves."),
        "person": _("A person is named only when a named person approves."),
    }
    for name in TARGET_FIELDS:
        target = values.get(name)
        if rule in ApproverRule.values and TARGET_OF_RULE.get(rule) == name:
            if target is None:
                errors[name] = [missing[name]]
            else:
                problem = _target_problem(organisation_id, name, target)
                if problem:
                    errors[name] = [problem]
        elif target is not None:
            if name in given:
                errors[name] = [unused[name]]
            else:
                values[name] = None  # the rule changed: it no longer names one

    quorum = values.get("quorum")
    if mode == StageMode.QUORUM:
        quorum = _whole_number(quorum)
        if quorum is None or quorum < 1:
            errors["quorum"] = [
                _("N of them needs the number of approvals (at least 1).")
            ]
        elif rule == ApproverRule.PERSON and quorum > 1:
            errors["quorum"] = [_("A named person can give only one approval.")]
    elif quorum is not None:
        if "quorum" in given:
            errors["quorum"] = [
                _("The number of approvals is set only for “N of them”.")
            ]
        else:
            values["quorum"] = None
    if errors:
        raise ValidationFailed(errors)
    return values


def _target_problem(organisation_id: int, name: str, target: Any) -> str | None:
    expected = {"position": Position, "party": Party, "person": Person}[name]
    if not isinstance(target, Position | Party | Person) or not isinstance(
        target, expected
    ):
        return _("Choose a valid option.")
    if target.organisation_id != organisation_id:
        return _("This belongs to another organisation.")
    if isinstance(target, Position):
        if not target.is_active:
            return _("The position is deactivated.")
        if target.party.kind != PartyKind.INTERNAL_UNIT:
            return _("Choose a position of an internal unit.")
    if isinstance(target, Party):
        if not target.is_active:
            return _("The party is deactivated.")
        if target.kind != PartyKind.INTERNAL_UNIT:
            return _("Choose an internal unit.")
    if isinstance(target, Person) and not target.is_active:
        return _("The person is deactivated.")
    return None


@transaction.atomic
def add_stage(
    version: RouteVersion,
    *,
    actor: User,
    name: str,
    rule: str,
    levels: int = 1,
    position: Position | None = None,
    party: Party | None = None,
    person: Person | None = None,
    mode: str = StageMode.ANY,
    quorum: int | None = None,
    time_limit_hours: int | None = None,
    on_timeout: str = TimeoutAction.REMIND,
) -> RouteStage:
    """Append a stage to a draft (its order is the last plus one)."""
    version = _edit_draft(version.pk, actor)
    values = {
        "name": name,
        "rule": rule,
        "levels": levels,
        "position": position,
        "party": party,
        "person": person,
        "mode": mode,
        "quorum": quorum,
        "time_limit_hours": time_limit_hours,
        "on_timeout": on_timeout,
    }
    given = {key for key in (*TARGET_FIELDS, "quorum") if values[key] is not None}
    values = _clean_stage(version.organisation_id, values, given)
    last = RouteStage.objects.filter(route_version=version).aggregate(Max("order"))[
        "order__max"
    ]
    stage = RouteStage(
        organisation_id=version.organisation_id,
        route_version=version,
        order=(last or 0) + 1,
        **values,
    )
    return writes.create(
        stage,
        actor=actor,
        organisation=version.organisation,
        fields=("route_version", "order", *STAGE_FIELDS),
    )


@transaction.atomic
def update_stage(
    stage: RouteStage, *, actor: User, expected_version: int | None, **changes: Any
) -> RouteStage:
    """Change a draft's stage (not its place: `move_stage`). Changing the rule
    clears the position, unit or person the old rule named."""
    version = _edit_draft(stage.route_version_id, actor)
    unknown = set(changes) - set(STAGE_FIELDS)
    if unknown:
        raise ValidationFailed(
            {
                name: [_("This field cannot be changed here.")]
                for name in sorted(unknown)
            }
        )
    values = {name: getattr(stage, name) for name in STAGE_FIELDS}
    values.update(changes)
    given = {key for key in changes if changes[key] is not None}
    values = _clean_stage(version.organisation_id, values, given)
    cleaned = {
        name: values[name]
        for name in STAGE_FIELDS
        if name in changes or values[name] != getattr(stage, name)
    }
    return writes.update(
        stage,
        actor=actor,
        organisation=version.organisation,
        expected_version=expected_version,
        changes=cleaned,
        allowed=set(STAGE_FIELDS),
    )


def _renumber(version: RouteVersion, ordered_ids: list[int], now: dt.datetime) -> None:
    """Give the version's stages the orders 1..n in the order given.

    The unique (version, order) constraint is checked row by row, so the stages
    that move are first lifted above every order in use, then set; each moved stage
    gets a new row version."""
    current = dict(
        RouteStage.objects.filter(route_version=version).values_list("pk", "order")
    )
    moves = {
        pk: order
        for order, pk in enumerate(ordered_ids, start=1)
        if current[pk] != order
    }
    if not moves:
        return
    offset = max(current.values()) + len(current) + 1
    RouteStage.objects.filter(pk__in=moves).update(order=F("order") + offset)
    for pk, order in moves.items():
        RouteStage.objects.filter(pk=pk).update(
            order=order, version=F("version") + 1, updated_at=now
        )


@transaction.atomic
def delete_stage(
    stage: RouteStage, *, actor: User, expected_version: int | None
) -> None:
    """Delete a draft's stage; the stages after it move up (orders stay 1..n)."""
    version = _edit_draft(stage.route_version_id, actor)
    lock_current(stage, expected_version=expected_version)
    order = RouteStage.objects.filter(pk=stage.pk).values_list("order", flat=True).get()
    _delete(
        stage,
        actor=actor,
        organisation=version.organisation,
        changes={"route_version": version.pk, "order": order},
    )
    remaining = list(
        RouteStage.objects.filter(route_version=version)
        .order_by("order")
        .values_list("pk", flat=True)
    )
    _renumber(version, remaining, timezone.now())


@transaction.atomic
def move_stage(
    stage: RouteStage, *, actor: User, expected_version: int | None, order: int
) -> RouteStage:
    """Put a draft's stage at place `order` (1..n); the others shift around it."""
    version = _edit_draft(stage.route_version_id, actor)
    lock_current(stage, expected_version=expected_version)
    ids = list(
        RouteStage.objects.filter(route_version=version)
        .order_by("order")
        .values_list("pk", flat=True)
    )
    place = _whole_number(order)
    if place is None or not 1 <= place <= len(ids):
        raise ValidationFailed(
            {"order": [_("Choose a place from 1 to %(count)d.") % {"count": len(ids)}]}
        )
    old = ids.index(stage.pk) + 1
    if old == place:
        stage.refresh_from_db()
        return stage
    ids.remove(stage.pk)
    ids.insert(place - 1, stage.pk)
    _renumber(version, ids, timezone.now())
    stage.refresh_from_db()
    audit.record(
        version.organisation,
        actor=actor,
        verb=AuditVerb.MOVED,
        target=stage,
        changes={"order": [old, place]},
    )
    return stage


# --- conditions -------------------------------------------------------------------


def condition_fields(subject_kind: str) -> dict[str, str] | None:
    """{name: label} of the fields a route for the kind may test (besides
    `run.<key>`), or None when no adapter is registered for the kind."""
    try:
        adapter = subjects.adapter_for(subject_kind)
    except LookupError:
        return None
    return dict(adapter.field_names())


def _number(value: Any) -> Decimal | None:
    """The value as a finite Decimal, or None when it is not a number."""
    if isinstance(value, bool):
        return None
    try:
        if isinstance(value, int | Decimal):
            number = Decimal(value)
        elif isinstance(value, float | str):
            number = Decimal(str(value).strip())
        else:
            return None
    except (InvalidOperation, ValueError):
        return None
    return number if number.is_finite() else None


def _canonical_number(number: Decimal) -> int | str:
    """A JSON-safe number: a whole one as int, otherwise its plain decimal text."""
    normal = number.normalize()
    if normal == normal.to_integral_value():
        return int(normal)
    return format(normal, "f")


def _canonical_scalar(value: Any) -> tuple[bool, Any]:
    """(ok, canonical value) for one value a condition compares with."""
    if isinstance(value, bool):
        return True, value
    if isinstance(value, int):
        return True, value
    if isinstance(value, float | Decimal):
        number = _number(value)
        return (
            (True, _canonical_number(number)) if number is not None else (False, value)
        )
    if isinstance(value, str):
        text = value.strip()
        return (True, text) if text else (False, value)
    return False, value


def _clean_field_name(subject_kind: str, field: str) -> str:
    name = (field or "").strip()
    if not name:
        raise ValidationFailed({"field": [_("This field is required.")]})
    if name.startswith(RUN_PREFIX):
        if not _RUN_FIELD.match(name):
            raise ValidationFailed(
                {
                    "field": [
                        _(
                            "Write run. followed by the key of a run field (letters, "
                            "digits, - and _)."
                        )
                    ]
                }
            )
        return name
    offered = condition_fields(subject_kind)
    if offered is None:
        if not _FIELD_NAME.match(name):
            raise ValidationFailed(
                {
                    "field": [
                        _(
                            "Enter a field name (lowercase letters, digits and _), or "
                            "run.<key> for a run field."
                        )
                    ]
                }
            )
    elif name not in offered:
        raise ValidationFailed(
            {
                "field": [
                    _(
                        "“%(field)s” is not a field of this kind of subject. Choose "
                        "one of: %(fields)s, or run.<key> for a run field."
                    )
                    % {"field": name, "fields": ", ".join(sorted(offered))}
                ]
            }
        )
    return name


def _clean_condition(
    subject_kind: str, field: str, operator: str, value: Any
) -> tuple[str, str, Any]:
    """(field, operator, canonical value) of a valid condition, or ValidationFailed
    naming the part that is wrong."""
    name = _clean_field_name(subject_kind, field)
    if operator not in ConditionOperator.values:
        raise ValidationFailed({"operator": [_("Choose a valid operator.")]})
    if operator in VALUELESS_OPERATORS:
        if value is not None and value != "":
            raise ValidationFailed({"value": [_("This operator takes no value.")]})
        return name, operator, None
    if operator in LIST_OPERATORS:
        if not isinstance(value, list | tuple) or not value:
            raise ValidationFailed(
                {"value": [_("The condition needs a list of values.")]}
            )
        items = []
        for item in value:
            ok, canonical = _canonical_scalar(item)
            if not ok:
                raise ValidationFailed(
                    {
                        "value": [
                            _("Every value in the list must be a word or a number.")
                        ]
                    }
                )
            items.append(canonical)
        return name, operator, items
    if operator in ORDERING_OPERATORS:
        number = _number(value)
        if number is None:
            raise ValidationFailed({"value": [_("Enter a number.")]})
        return name, operator, _canonical_number(number)
    ok, canonical = _canonical_scalar(value)
    if not ok:
        raise ValidationFailed({"value": [_("The condition needs one value.")]})
    return name, operator, canonical


@transaction.atomic
def add_condition(
    version: RouteVersion, *, actor: User, field: str, operator: str, value: Any
) -> RouteCondition:
    """`field operator value` on the subject's fields; the version applies to a
    subject only when all its conditions hold."""
    version = _edit_draft(version.pk, actor)
    name, operator, canonical = _clean_condition(
        version.route.subject_kind, field, operator, value
    )
    condition = RouteCondition(
        organisation_id=version.organisation_id,
        route_version=version,
        field=name,
        operator=operator,
        value=canonical,
    )
    return writes.create(
        condition,
        actor=actor,
        organisation=version.organisation,
        fields=CONDITION_FIELDS,
    )


@transaction.atomic
def remove_condition(condition: RouteCondition, *, actor: User) -> None:
    version = _edit_draft(condition.route_version_id, actor)
    if not (
        RouteCondition.objects.select_for_update().filter(pk=condition.pk).exists()
    ):
        raise Conflict()
    _delete(
        condition,
        actor=actor,
        organisation=version.organisation,
        changes=field_values(condition, CONDITION_FIELDS),
    )


# --- matching a subject -----------------------------------------------------------


def _truth(value: Any) -> bool | None:
    if isinstance(value, bool):
        return value
    if isinstance(value, str):
        word = value.strip().lower()
        if word in TRUE_WORDS:
            return True
        if word in FALSE_WORDS:
            return False
    return None


def _equal(expected: Any, actual: Any) -> bool:
    if isinstance(actual, bool):
        return _truth(expected) is actual
    left, right = _number(expected), _number(actual)
    if left is not None and right is not None:
        return left == right
    return str(expected).strip() == str(actual).strip()


def condition_holds(operator: str, expected: Any, actual: Any) -> bool:
    """Whether `actual operator expected` holds. A missing value (None) never does;
    two numbers compare as Decimals, anything else as text; `is_true`/`is_false`
    read yes/no words too."""
    if actual is None:
        return False
    if operator == ConditionOperator.IS_TRUE:
        return _truth(actual) is True
    if operator == ConditionOperator.IS_FALSE:
        return _truth(actual) is False
    if operator in LIST_OPERATORS:
        if not isinstance(expected, list):
            return False
        found = any(_equal(option, actual) for option in expected)
        return found if operator == ConditionOperator.IN else not found
    if operator == ConditionOperator.EQ:
        return _equal(expected, actual)
    if operator == ConditionOperator.NE:
        return not _equal(expected, actual)
    if operator in ORDERING_OPERATORS:
        value, limit = _number(actual), _number(expected)
        if value is None or limit is None:
            return False
        match operator:
            case ConditionOperator.GT:
                return value > limit
            case ConditionOperator.GTE:
                return value >= limit
            case ConditionOperator.LT:
                return value < limit
            case ConditionOperator.LTE:
                return value <= limit
    return False


def conditions_hold(
    conditions: Iterable[RouteCondition], fields: Mapping[str, Any]
) -> bool:
    return all(
        condition_holds(c.operator, c.value, fields.get(c.field)) for c in conditions
    )


def match(
    organisation: Organisation, subject_kind: str, fields: Mapping[str, Any]
) -> RouteVersion | None:
    """The published version of the first active route of the kind (lowest
    priority, then code) whose conditions all hold for the subject's fields."""
    versions = (
        RouteVersion.objects.filter(
            organisation_id=organisation.pk,
            status=VersionStatus.PUBLISHED,
            route__is_active=True,
            route__subject_kind=subject_kind,
        )
        .select_related("route")
        .prefetch_related("conditions")
        .order_by("route__priority", "route__code", "route_id")
    )
    for version in versions:
        if conditions_hold(version.conditions.all(), fields):
            return version
    return None


# --- reads ------------------------------------------------------------------------


def routes_for(
    organisation: Organisation,
    *,
    subject_kind: str | None = None,
    include_inactive: bool = True,
) -> list[Route]:
    """The organisation's routes (by kind, priority, name)."""
    routes = Route.objects.filter(organisation_id=organisation.pk).select_related(
        "owner_position"
    )
    if subject_kind is not None:
        routes = routes.filter(subject_kind=subject_kind)
    if not include_inactive:
        routes = routes.filter(is_active=True)
    return list(routes.order_by("subject_kind", "priority", "name", "id"))


def versions_of(route: Route) -> list[RouteVersion]:
    """The route's versions, newest first."""
    return list(
        RouteVersion.objects.filter(route=route)
        .select_related("published_by")
        .order_by("-number")
    )


def published_version(route: Route) -> RouteVersion | None:
    return RouteVersion.objects.filter(
        route=route, status=VersionStatus.PUBLISHED
    ).first()


def draft_of(route: Route) -> RouteVersion | None:
    return RouteVersion.objects.filter(route=route, status=VersionStatus.DRAFT).first()


def stages_of(version: RouteVersion) -> list[RouteStage]:
    """A version's stages in order, with what they name."""
    return list(
        RouteStage.objects.filter(route_version=version)
        .select_related("position", "party", "person")
        .order_by("order")
    )


def conditions_of(version: RouteVersion) -> list[RouteCondition]:
    return list(RouteCondition.objects.filter(route_version=version).order_by("id"))
