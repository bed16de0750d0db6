"""Targets (docs/design-insight.md): measurable work targets for a period ("10,000
units to Kota A this quarter"), set by the organisation or one of its parties,
owned by a position, optionally part of a larger target of the same unit — and
the runs that contribute to them.

Progress is computed when read, never stored: the actual quantity of the runs
completed in the period, the projected quantity of the runs under way (secure
when on track; at risk when at risk, late or suspended), what finishes after the
period, the shortfall, and the status (met, on track, at risk, missed) with the
explanation behind it — the runs at risk with the obstacles that hold them up.
A parent's figures include all its descendants'.

Administrators, members and auditors read every target; an external partner
reads the targets its party set and those the runs its party takes part in
contribute to (figures whole, only its own runs listed); others are 404.
Administrators and holders of the owner position manage a target; a run's
target is set by whoever may manage the run (its process owner). Auditors read
only (403 before anything is looked up).
"""

import datetime as dt
import zoneinfo
from decimal import Decimal
from typing import Any, Literal

from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.utils import timezone
from django.utils.translation import gettext as _
from ninja import Field, Query, Router, Schema
from ninja.pagination import paginate

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.api.common import (
    NO_VERSION,
    OrgSlug,
    Pagination,
    VersionIn,
    created,
    org_access,
    require,
    resolve,
    single,
)
from rantai.api.idempotency import idempotent
from rantai.api.routers.approvals import field_names
from rantai.api.routers.procedures import two_places
from rantai.api.routers.runs import RunOut
from rantai.api.versions import IF_MATCH, expected_version
from rantai.chains import queries as chains_queries
from rantai.chains import targets as services
from rantai.chains.models import Run, RunStatus, ScheduleStatus, Target, TargetStatus
from rantai.core.errors import PermissionDenied
from rantai.insight import queries
from rantai.insight import targets as progress
from rantai.obstacles.models import Severity
from rantai.org import queries as org_queries

router = Router(tags=["targets"])

FIELDS = {"target": "target_id"}


def now() -> dt.datetime:
    """The moment progress is computed for (tests fix it)."""
    return timezone.now()


def _writer(request: HttpRequest, org_slug: str) -> Access:
    """Auditors read targets and change nothing (403, before anything is looked
    up); the services decide the rest."""
    access = org_access(request, org_slug)
    if access.role not in (Role.ADMIN, Role.MEMBER, Role.PARTNER):
        raise PermissionDenied(_("Auditors read targets; they do not change them."))
    return access


def _member(request: HttpRequest, org_slug: str, refusal: str) -> Access:
    """Setting a target and steering a run are for administrators and members
    (the services' first rule, answered with 403 before anything is looked up,
    so that a partner learns nothing from ids it cannot see)."""
    access = org_access(request, org_slug)
    if access.role not in (Role.ADMIN, Role.MEMBER):
        raise PermissionDenied(refusal)
    return access


# --- schemas ------------------------------------------------------------------------


class ProgressOut(Schema):
    """The target's figures as of now (quantities in its unit).

    * `actual`: completed runs whose completion falls in the period;
    * `secure` / `at_risk`: runs under way projected to finish by the end of the
      period — on track, or at risk, late or suspended;
    * `after_period`: runs under way projected to finish after it (not counted);
    * `shortfall`: what nothing under way covers (target − actual − secure −
      at risk, never below zero).
    """

    status: TargetStatus
    actual: Decimal
    secure: Decimal
    at_risk: Decimal
    after_period: Decimal
    shortfall: Decimal
    percent_actual: int = Field(..., description="actual / target × 100, rounded down.")
    percent_projected: int = Field(
        ..., description="(actual + secure + at risk) / target × 100, rounded down."
    )
    completed_runs: int = Field(..., description="Runs counted in `actual`.")
    active_runs: int = Field(..., description="Runs counted in the projection.")


class TargetOut(Schema):
    id: int
    name: str
    description: str
    measure_quantity: Decimal
    measure_unit: str
    period_start: dt.date = Field(..., description="Inclusive (organisation's days).")
    period_end: dt.date = Field(..., description="Inclusive (organisation's days).")
    parent_id: int | None = Field(None, description="The target it is part of.")
    party_id: int | None = Field(
        None, description="The party that set it (empty: the whole organisation)."
    )
    party_name: str | None
    owner_position_id: int
    owner_position_title: str
    is_active: bool
    progress: ProgressOut
    version: int
    created_at: dt.datetime
    updated_at: dt.datetime

    @staticmethod
    def resolve_measure_quantity(target: Target) -> Decimal:
        return two_places(target.measure_quantity)

    @staticmethod
    def resolve_party_name(target: Target) -> str | None:
        return target.party.name if target.party is not None else None

    @staticmethod
    def resolve_owner_position_title(target: Target) -> str:
        return target.owner_position.title

    @staticmethod
    def resolve_progress(target: Target) -> dict[str, Any]:
        return _figures(target.progress)  # type: ignore[attr-defined]


class ObstacleLineOut(Schema):
    """An open obstacle holding the run up."""

    id: int
    title: str
    severity: Severity
    expected_delay_minutes: int = Field(..., description="Working minutes.")


class RunLineOut(Schema):
    """A run the explanation names: at risk or late, suspended, or finishing
    after the period."""

    run_id: int
    title: str
    procedure_name: str
    status: RunStatus
    schedule_status: ScheduleStatus
    quantity: Decimal
    projected_finish_at: dt.datetime | None
    completed_at: dt.datetime | None
    reason: str = Field(..., description="Why it is listed.")
    obstacles: list[ObstacleLineOut]


class TargetDetailOut(TargetOut):
    """A target with its progress, the explanation of its status (in your
    language, in order: runs at risk or late with their obstacles, suspended
    runs, runs finishing after the period, the shortfall), those runs, and the
    targets directly under it that you may see."""

    explanation: list[str]
    risky_runs: list[RunLineOut]
    children: list[int] = Field(
        ..., description="Ids of the targets directly under it (that you see)."
    )

    @staticmethod
    def resolve_explanation(target: Target) -> list[str]:
        return list(target.progress.explanation)  # type: ignore[attr-defined]

    @staticmethod
    def resolve_risky_runs(target: Target) -> list[dict[str, Any]]:
        return [
            _run_line(line)
            for line in target.progress.risky_runs  # type: ignore[attr-defined]
        ]

    @staticmethod
    def resolve_children(target: Target) -> list[int]:
        return [
            child.target.pk
            for child in target.progress.children  # type: ignore[attr-defined]
        ]


class TargetFilters(Schema):
    active: Literal["true", "false", "all"] = Field(
        "true",
        description="true (default): active targets; false: deactivated ones; "
        "all: both.",
    )
    period: Literal["current", "upcoming", "past"] | None = Field(
        None,
        description="current: the period contains today; upcoming: starts after "
        "today; past: ended before today (the organisation's days).",
    )
    party_id: int | None = Field(
        None, description="Set by this party (0: by the whole organisation)."
    )
    parent_id: int | None = Field(
        None, description="Directly under this target (0: top-level targets)."
    )


class TargetIn(Schema):
    name: str
    description: str = ""
    measure_quantity: Decimal = Field(..., description="More than zero.")
    measure_unit: str = Field(..., description='"units", "tonnes".')
    period_start: dt.date
    period_end: dt.date
    owner_position_id: int = Field(..., description="The position that owns it.")
    parent_id: int | None = Field(None, description="Part of this target.")
    party_id: int | None = Field(
        None, description="Set by this party (empty: the whole organisation)."
    )


class TargetPatch(Schema):
    """Change a target; fields left out keep their value (`parent_id` and
    `party_id` may be set to null)."""

    name: str | None = None
    description: str | None = None
    measure_quantity: Decimal | None = None
    measure_unit: str | None = None
    period_start: dt.date | None = None
    period_end: dt.date | None = None
    owner_position_id: int | None = None
    parent_id: int | None = None
    party_id: int | None = None
    version: int | None = None


class RunTargetIn(Schema):
    target_id: int | None = Field(
        ..., description="An active target of the run's unit; null clears it."
    )
    version: int | None = Field(None, description="The run's version (or If-Match).")


# --- helpers ------------------------------------------------------------------------


def _figures(seen: progress.TargetProgress) -> dict[str, Any]:
    return {
        "status": seen.status,
        "actual": two_places(seen.actual),
        "secure": two_places(seen.secure),
        "at_risk": two_places(seen.at_risk),
        "after_period": two_places(seen.after_period),
        "shortfall": two_places(seen.shortfall),
        "percent_actual": seen.percent_actual,
        "percent_projected": seen.percent_projected,
        "completed_runs": seen.completed_runs,
        "active_runs": seen.active_runs,
    }


def _run_line(line: progress.RunLine) -> dict[str, Any]:
    return {
        "run_id": line.run_id,
        "title": line.title,
        "procedure_name": line.procedure_name,
        "status": line.status,
        "schedule_status": line.schedule_status,
        "quantity": two_places(line.quantity),
        "projected_finish_at": line.projected_finish_at,
        "completed_at": line.completed_at,
        "reason": str(line.reason),
        "obstacles": [
            {
                "id": obstacle.id,
                "title": obstacle.title,
                "severity": obstacle.severity,
                "expected_delay_minutes": obstacle.expected_delay_minutes,
            }
            for obstacle in line.obstacles
        ],
    }


def today(access: Access) -> dt.date:
    """Today in the organisation's time zone."""
    zone = zoneinfo.ZoneInfo(access.organisation.time_zone)
    return now().astimezone(zone).date()


def filtered(access: Access, filters: TargetFilters) -> QuerySet[Target]:
    """The targets the caller sees, filtered as the list's parameters say."""
    found = queries.targets(access).select_related("party", "owner_position")
    if filters.active != "all":
        found = found.filter(is_active=filters.active == "true")
    day = today(access)
    if filters.period == "current":
        found = found.filter(period_start__lte=day, period_end__gte=day)
    elif filters.period == "upcoming":
        found = found.filter(period_start__gt=day)
    elif filters.period == "past":
        found = found.filter(period_end__lt=day)
    # 0 asks for none: targets of the whole organisation, top-level targets.
    if filters.party_id == 0:
        found = found.filter(party__isnull=True)
    elif filters.party_id is not None:
        found = found.filter(party_id=filters.party_id)
    if filters.parent_id == 0:
        found = found.filter(parent__isnull=True)
    elif filters.parent_id is not None:
        found = found.filter(parent_id=filters.parent_id)
    return found.order_by("period_start", "name", "id")


def with_progress(access: Access, rows: list[Target]) -> list[Target]:
    """Attach each target's figures (one roll-up for the page)."""
    figures = progress.roll_up(access.organisation, rows, now=now())
    for row in rows:
        row.progress = figures[row.pk]  # type: ignore[attr-defined]
    return rows


class TargetPage:
    """The targets answered a page at a time: the pagination counts and slices
    the query, then the page's figures come from one roll-up."""

    def __init__(self, access: Access, found: QuerySet[Target]) -> None:
        self.access = access
        self.found = found

    def all(self) -> "TargetPage":
        return self

    def count(self) -> int:
        return self.found.count()

    def __getitem__(self, page: slice) -> list[Target]:
        return with_progress(self.access, list(self.found[page]))


def target_answer(access: Access, target_id: int, response: HttpResponse) -> Target:
    """The target with its progress, explanation and visible children; ETag."""
    target = queries.target(access, target_id)
    seen = progress.progress(access, target, now=now())
    target.progress = seen  # type: ignore[attr-defined]
    return single(response, target)


# --- targets ------------------------------------------------------------------------


@router.get("/targets", response=list[TargetOut])
@paginate(Pagination)
def list_targets(
    request: HttpRequest, org_slug: OrgSlug, filters: Query[TargetFilters]
) -> Any:
    """The targets you may see (active ones unless `active` says otherwise), by
    the start of their period, each with its progress and status as of now."""
    access = org_access(request, org_slug)
    return TargetPage(access, filtered(access, filters))


@router.get("/targets/{target_id}", response=TargetDetailOut)
def get_target(
    request: HttpRequest, org_slug: OrgSlug, target_id: int, response: HttpResponse
) -> Target:
    """A target with its progress, its status and why (the runs at risk with the
    obstacles that hold them up, suspended runs, runs finishing after the period,
    the shortfall), and the targets under it."""
    return target_answer(org_access(request, org_slug), target_id, response)


@router.post("/targets", response={201: TargetDetailOut})
@idempotent
def create_target(
    request: HttpRequest, org_slug: OrgSlug, payload: TargetIn, response: HttpResponse
) -> Target:
    """Set a target (administrators and holders of the owner position): its
    quantity and unit, its period (dates, both inclusive), the owner position,
    and optionally the party that sets it and the target it is part of (same
    unit, same organisation)."""
    access = _member(
        request,
        org_slug,
        _(
            "Only administrators and the holders of the owner position (or of "
            "the parent target's owner position) can set this target."
        ),
    )
    target = services.create_target(
        access.organisation,
        actor=access.user,
        name=payload.name,
        description=payload.description,
        measure_quantity=payload.measure_quantity,
        measure_unit=payload.measure_unit,
        period_start=payload.period_start,
        period_end=payload.period_end,
        owner_position=require(
            org_queries.positions(access),
            payload.owner_position_id,
            "owner_position_id",
        ),
        parent=resolve(queries.targets(access), payload.parent_id, "parent_id"),
        party=resolve(org_queries.parties(access), payload.party_id, "party_id"),
        now=now(),
    )
    created(request, response, target)
    return target_answer(access, target.pk, response)


@router.patch("/targets/{target_id}", response=TargetDetailOut, openapi_extra=IF_MATCH)
def update_target(
    request: HttpRequest,
    org_slug: OrgSlug,
    target_id: int,
    payload: TargetPatch,
    response: HttpResponse,
) -> Target:
    """Change a target's name, description, quantity, unit, period, owner
    position, party or parent (administrators and holders of the owner
    position). A new unit must still fit its parent, its children and the runs
    that contribute to it."""
    access = _writer(request, org_slug)
    target = queries.target(access, target_id)
    changes = payload.dict(exclude_unset=True)
    body_version = changes.pop("version", None)
    version = expected_version(request, body_version)
    references = {
        "owner_position_id": ("owner_position", org_queries.positions(access)),
        "parent_id": ("parent", queries.targets(access)),
        "party_id": ("party", org_queries.parties(access)),
    }
    for field, (name, found) in references.items():
        if field in changes:
            pk = changes.pop(field)
            if pk is None and field == "owner_position_id":
                continue
            changes[name] = resolve(found, pk, field)
    services.update_target(
        target,
        actor=access.user,
        expected_version=version,
        **{
            name: value
            for name, value in changes.items()
            if value is not None or name in ("parent", "party")
        },
    )
    return target_answer(access, target_id, response)


@router.post(
    "/targets/{target_id}/deactivate",
    response=TargetDetailOut,
    openapi_extra=IF_MATCH,
)
@idempotent
def deactivate_target(
    request: HttpRequest,
    org_slug: OrgSlug,
    target_id: int,
    response: HttpResponse,
    payload: VersionIn = NO_VERSION,
) -> Target:
    """Deactivate a target: it stays with its history and the runs that
    contributed to it, but no new run can be pointed at it."""
    access = _writer(request, org_slug)
    services.deactivate_target(
        queries.target(access, target_id),
        actor=access.user,
        expected_version=expected_version(request, payload.version),
    )
    return target_answer(access, target_id, response)


@router.get("/targets/{target_id}/runs", response=list[RunOut])
@paginate(Pagination)
def target_runs(
    request: HttpRequest, org_slug: OrgSlug, target_id: int
) -> QuerySet[Run]:
    """The runs that contribute to the target (itself, not its children), newest
    first; a partner: those its party takes part in."""
    access = org_access(request, org_slug)
    return queries.runs_of_target(access, queries.target(access, target_id))


@router.post("/runs/{run_id}/target", response=RunOut, openapi_extra=IF_MATCH)
@idempotent
def set_run_target(
    request: HttpRequest,
    org_slug: OrgSlug,
    run_id: int,
    payload: RunTargetIn,
    response: HttpResponse,
) -> Run:
    """Point the run at the target it contributes to, or clear it (`target_id`
    null): whoever may manage the run (its process owner). The target must be
    active, of the run's unit and in the organisation; a finished run may still
    be re-pointed (its actuals count where it is declared)."""
    access = _member(
        request,
        org_slug,
        _("Only the procedure's owner (or an administrator) can do this."),
    )
    run = chains_queries.run(access, run_id)
    version = expected_version(request, payload.version)
    target = resolve(queries.targets(access), payload.target_id, "target_id")
    with field_names(FIELDS):
        services.set_run_target(
            run, actor=access.user, expected_version=version, target=target
        )
    return single(response, chains_queries.run(access, run_id))
