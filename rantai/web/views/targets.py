"""Pages of targets (docs/design-insight.md, "Targets", issue 8):

* the targets as a tree, each with its progress bar (actual, projected secure,
  at risk) and its status (on track, at risk, met, missed), filtered by period
  (current, upcoming, past, all);
* a target's page: its figures and status, the explanation — each line names
  the run behind it and, under it, the run's open obstacles, so a manager goes
  from "at risk" to the run and on to the obstacle that causes it — its
  sub-targets and the runs that contribute (completed and under way);
* creating, changing and deactivating a target (compare-and-set: a stale page
  answers 409 and writes nothing).

Reads go through `rantai.insight` (visibility: a partner sees the targets its
party sets or works toward, and only its own runs under them); writes call one
`rantai.chains.targets` service each, which decides again. Each page keeps a
fixed number of queries, whatever the number of targets and runs.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Sequence
from dataclasses import dataclass, field, replace
from decimal import Decimal
from typing import Any

from django.core.exceptions import PermissionDenied as DjangoPermissionDenied
from django.http import HttpRequest, HttpResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.safestring import SafeString, mark_safe
from django.utils.translation import gettext as _
from django.views.decorators.http import require_http_methods

from rantai.accounts.access import Access
from rantai.accounts.models import Role
from rantai.chains import projection
from rantai.chains import targets as target_services
from rantai.chains.calendar import minutes_per_working_day
from rantai.chains.models import RunStatus, Target, TargetStatus
from rantai.core.errors import PermissionDenied, ValidationFailed
from rantai.insight import queries as insight_queries
from rantai.insight import targets as insight_targets
from rantai.obstacles.models import Severity
from rantai.web import forms_targets
from rantai.web.access import confirm_action, form_page, org_view, render_page
from rantai.web.svg import PALETTE, element, svg_root
from rantai.web.views.runs import number, working_span

# The period filter of the list: the value in the address and the default.
PERIOD_CURRENT = "current"
PERIOD_UPCOMING = "upcoming"
PERIOD_PAST = "past"
PERIOD_ALL = "all"
PERIODS = (PERIOD_CURRENT, PERIOD_UPCOMING, PERIOD_PAST, PERIOD_ALL)

# A status as the pages mark it (the badge classes of runs and results).
STATUS_BADGES: dict[str, str] = {
    TargetStatus.ON_TRACK: "badge-schedule-on_track",
    TargetStatus.AT_RISK: "badge-schedule-at_risk",
    TargetStatus.MET: "badge-result-met",
    TargetStatus.MISSED: "badge-result-missed",
}

# Runs under way: they count as projected (secure or at risk) until they finish.
UNDER_WAY = frozenset({RunStatus.ACTIVE, RunStatus.SUSPENDED})

# Why a run is named in an explanation (insight.targets.RunLine.reason).
REASON_LATE = insight_targets.REASON_LATE
REASON_AT_RISK = insight_targets.REASON_AT_RISK
REASON_SUSPENDED = insight_targets.REASON_SUSPENDED
REASON_AFTER_PERIOD = insight_targets.REASON_AFTER_PERIOD


# --- shared helpers -----------------------------------------------------------------


def _access(request: HttpRequest) -> Access:
    return request.access  # type: ignore[attr-defined,no-any-return]


def _url(name: str, access: Access, *args: Any) -> str:
    return reverse(name, args=[access.organisation.slug, *args])


def _today(access: Access, now: dt.datetime) -> dt.date:
    return now.astimezone(zoneinfo.ZoneInfo(access.organisation.time_zone)).date()


def _day_minutes(access: Access) -> int:
    return minutes_per_working_day(projection.calendar_spec(access.organisation))


def may_create(access: Access, *, parent: Target | None = None) -> bool:
    """Whether the caller may set up a target (under `parent`): administrators,
    members holding a position (the service decides again on the owner)."""
    return target_services.may_create_target(access, access.organisation, parent=parent)


def may_manage(access: Access, target: Target) -> bool:
    """Administrators and holders of the owner position change a target (the
    service decides again)."""
    return target_services.may_manage_target(access, target)


def status_label(status: str) -> str:
    return str(TargetStatus(status).label) if status in TargetStatus.values else ""


def in_period(target: Target, period: str, today: dt.date) -> bool:
    """Whether the target's period is current (it contains today), upcoming
    (starts after today) or past (ended before today); "all" keeps every one."""
    if period == PERIOD_CURRENT:
        return target.period_start <= today <= target.period_end
    if period == PERIOD_UPCOMING:
        return target.period_start > today
    if period == PERIOD_PAST:
        return target.period_end < today
    return True


# --- the progress bar ---------------------------------------------------------------

BAR_WIDTH = 260.0
BAR_HEIGHT = 14.0


def _part(value: Decimal, scale: Decimal) -> float:
    return float(value / scale) * BAR_WIDTH if scale > 0 else 0.0


def progress_bar(
    progress: insight_targets.TargetProgress, *, id_prefix: str
) -> SafeString:
    """The target's progress as one bar: what is done (solid), what runs on track
    will add within the period (lighter), what runs at risk might add (amber,
    hatched), with a mark at the target quantity when the projection goes past
    it. Colours are presentation attributes (the CSP forbids style attributes);
    the same figures are written out next to the bar."""
    quantity = progress.target.measure_quantity
    actual = max(progress.actual, Decimal(0))
    secure = max(progress.secure, Decimal(0))
    at_risk = max(progress.at_risk, Decimal(0))
    scale = max(quantity, actual + secure + at_risk)
    pattern = f"{id_prefix}-hatch"
    body = [
        element(
            "defs",
            {},
            element(
                "pattern",
                {
                    "id": pattern,
                    "width": 6,
                    "height": 6,
                    "patternUnits": "userSpaceOnUse",
                    "patternTransform": "rotate(45)",
                },
                element(
                    "rect",
                    {"width": 6, "height": 6, "fill": PALETTE["warning-soft"]},
                )
                + element(
                    "rect",
                    {"width": 3, "height": 6, "fill": PALETTE["warning-border"]},
                ),
            ),
        ),
        element(
            "rect",
            {
                "x": 0,
                "y": 0,
                "width": BAR_WIDTH,
                "height": BAR_HEIGHT,
                "rx": 3,
                "fill": PALETTE["surface-muted"],
                "stroke": PALETTE["border-strong"],
            },
        ),
    ]
    x = 0.0
    for value, fill, opacity, kind in (
        (actual, PALETTE["primary"], None, "actual"),
        (secure, PALETTE["primary"], 0.4, "secure"),
        (at_risk, f"url(#{pattern})", None, "at-risk"),
    ):
        width = _part(value, scale)
        if width <= 0:
            continue
        body.append(
            element(
                "rect",
                {
                    "class": f"target-bar-{kind}",
                    "x": x,
                    "y": 0,
                    "width": width,
                    "height": BAR_HEIGHT,
                    "fill": fill,
                    "fill-opacity": opacity,
                },
            )
        )
        x += width
    if scale > quantity:
        mark = _part(quantity, scale)
        body.append(
            element(
                "line",
                {
                    "x1": mark,
                    "x2": mark,
                    "y1": 0,
                    "y2": BAR_HEIGHT,
                    "stroke": PALETTE["text"],
                    "stroke-width": 2,
                },
            )
        )
    unit = progress.target.measure_unit
    summary = _(
        "%(actual)s of %(quantity)s %(unit)s done; %(secure)s more on track and "
        "%(at_risk)s at risk within the period."
    ) % {
        "actual": number(progress.actual),
        "quantity": number(quantity),
        "unit": unit,
        "secure": number(progress.secure),
        "at_risk": number(progress.at_risk),
    }
    # Every value is escaped by the svg helpers.
    return mark_safe(
        svg_root(
            id_prefix=id_prefix,
            kind="target-bar",
            width=BAR_WIDTH,
            height=BAR_HEIGHT,
            title_text=summary,
            description=_(
                "Solid: done. Lighter: runs on track that finish within the "
                "period. Hatched: runs at risk, late or suspended."
            ),
            interactive=False,
            body=body,
        )
    )


# --- the rows the pages show ----------------------------------------------------------


@dataclass
class ObstacleRow:
    obstacle_id: int
    title: str
    severity: str
    severity_label: str
    delay: str


@dataclass
class RunRow:
    """A run named in a target's explanation (insight.targets.RunLine) as the
    page writes it, with its open obstacles."""

    line: insight_targets.RunLine
    reason_label: str
    obstacles: list[ObstacleRow] = field(default_factory=list)


@dataclass
class ExplanationLine:
    """One line of a target's explanation; the run it names, if any."""

    text: str
    run: RunRow | None = None


@dataclass
class TargetNode:
    """A target in the tree, with its bar, its status and its sub-targets."""

    progress: insight_targets.TargetProgress
    bar: SafeString
    status_label: str
    badge: str
    first_line: str
    children: list[TargetNode] = field(default_factory=list)

    @property
    def target(self) -> Target:
        return self.progress.target


def _reason_label(reason: str) -> str:
    labels = {
        REASON_LATE: _("late"),
        REASON_AT_RISK: _("at risk"),
        REASON_SUSPENDED: _("suspended"),
        REASON_AFTER_PERIOD: _("finishes after the period"),
    }
    return labels.get(reason, "")


def run_row(line: insight_targets.RunLine, *, day_minutes: int) -> RunRow:
    severities = dict(Severity.choices)
    return RunRow(
        line=line,
        reason_label=_reason_label(line.reason),
        obstacles=[
            ObstacleRow(
                obstacle_id=obstacle.id,
                title=obstacle.title,
                severity=obstacle.severity,
                severity_label=str(
                    severities.get(obstacle.severity, obstacle.severity)
                ),
                delay=working_span(obstacle.expected_delay_minutes, day_minutes),
            )
            for obstacle in line.obstacles
        ],
    )


def explanation(
    progress: insight_targets.TargetProgress, *, day_minutes: int
) -> list[ExplanationLine]:
    """The explanation's lines, each with the run it names: the runs at risk or
    late, suspended and finishing after the period come first, one line each and
    in the same order as `risky_runs`; the lines after them (the shortfall) name
    no run."""
    risky = [run_row(line, day_minutes=day_minutes) for line in progress.risky_runs]
    lines = []
    for index, text in enumerate(progress.explanation):
        lines.append(
            ExplanationLine(text=text, run=risky[index] if index < len(risky) else None)
        )
    return lines


def summary_line(progress: insight_targets.TargetProgress) -> str:
    """The first thing to know about a target, from its figures alone (the full
    explanation is on its page): what nothing covers, what is at risk."""
    target = progress.target
    values = {"unit": target.measure_unit}
    if progress.status == TargetStatus.MISSED:
        return _("The period ended %(quantity)s %(unit)s short of the target.") % {
            **values,
            "quantity": number(target.measure_quantity - progress.actual),
        }
    if progress.status != TargetStatus.AT_RISK:
        return ""
    if progress.shortfall > 0:
        return _("Nothing under way covers the remaining %(quantity)s %(unit)s.") % {
            **values,
            "quantity": number(progress.shortfall),
        }
    return _("%(quantity)s %(unit)s depend on runs at risk, late or suspended.") % {
        **values,
        "quantity": number(progress.at_risk),
    }


# The order of the focus page: what needs attention first.
STATUS_ORDER: dict[str, int] = {
    TargetStatus.AT_RISK: 0,
    TargetStatus.MISSED: 1,
    TargetStatus.ON_TRACK: 2,
    TargetStatus.MET: 3,
}


def node(
    progress: insight_targets.TargetProgress,
    *,
    id_prefix: str,
    with_children: bool = True,
) -> TargetNode:
    """A target as the tree shows it (with its sub-targets unless told)."""
    return TargetNode(
        progress=progress,
        bar=progress_bar(progress, id_prefix=f"{id_prefix}-{progress.target.pk}"),
        status_label=status_label(progress.status),
        badge=STATUS_BADGES.get(progress.status, ""),
        first_line=progress.explanation[0]
        if progress.explanation
        else summary_line(progress),
        children=[node(child, id_prefix=id_prefix) for child in progress.children]
        if with_children
        else [],
    )


def _filtered(
    tree: Iterable[insight_targets.TargetProgress], period: str, today: dt.date
) -> list[insight_targets.TargetProgress]:
    """The targets of the period, each with those of its sub-targets that are of
    the period too; a target outside the period stays only as the parent of one
    inside it (so the tree keeps its shape)."""
    kept = []
    for progress in tree:
        children = _filtered(progress.children, period, today)
        if in_period(progress.target, period, today) or children:
            kept.append(_with_children(progress, children))
    return kept


def _with_children(
    progress: insight_targets.TargetProgress,
    children: Sequence[insight_targets.TargetProgress],
) -> insight_targets.TargetProgress:
    if tuple(children) == tuple(progress.children):
        return progress
    return replace(progress, children=tuple(children))


def _count(nodes: Iterable[TargetNode]) -> int:
    return sum(1 + _count(item.children) for item in nodes)


# --- the list -------------------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def target_list(request: HttpRequest) -> HttpResponse:
    """The visible targets as a tree with their progress, of one period."""
    access = _access(request)
    now = timezone.now()
    period = request.GET.get("period", PERIOD_CURRENT)
    period = period if period in PERIODS else PERIOD_CURRENT
    include_inactive = request.GET.get("inactive") == "1"
    tree = insight_targets.target_tree(
        access, now=now, include_inactive=include_inactive
    )
    nodes = [
        node(progress, id_prefix="target-bar")
        for progress in _filtered(tree, period, _today(access, now))
    ]
    return render_page(
        request,
        "web/targets/list.html",
        partial="target-results",
        nav="targets",
        nodes=nodes,
        shown=_count(nodes),
        periods=[
            (PERIOD_CURRENT, _("Current")),
            (PERIOD_UPCOMING, _("Upcoming")),
            (PERIOD_PAST, _("Past")),
            (PERIOD_ALL, _("All periods")),
        ],
        period=period,
        include_inactive=include_inactive,
        may_create=may_create(access),
    )


# --- one target -----------------------------------------------------------------------


@org_view
@require_http_methods(["GET", "HEAD"])
def target_detail(request: HttpRequest, pk: int) -> HttpResponse:
    """A target: its figures and status, why (run by run, with the obstacles
    that hold them up), its sub-targets and the runs that contribute."""
    access = _access(request)
    now = timezone.now()
    target = insight_queries.target(access, pk)
    progress = insight_targets.progress(access, target, now=now)
    day_minutes = _day_minutes(access)
    manage = may_manage(access, target)
    # The runs of the target and of its sub-targets (its figures count theirs).
    runs = list(
        insight_queries.runs_of_target(access, target, include_descendants=True)
        .select_related("target")
        .order_by("-started_at", "-id")
    )
    # A partner may see a target of its party whose parent it does not see.
    parent_visible = target.parent_id is not None and (
        access.sees_whole_organisation
        or insight_queries.targets(access).filter(pk=target.parent_id).exists()
    )
    return render_page(
        request,
        "web/targets/detail.html",
        nav="targets",
        target=target,
        parent_visible=parent_visible,
        progress=progress,
        bar=progress_bar(progress, id_prefix="target-progress"),
        status_label=status_label(progress.status),
        badge=STATUS_BADGES.get(progress.status, ""),
        explanation=explanation(progress, day_minutes=day_minutes),
        children=[node(child, id_prefix="target-child") for child in progress.children],
        active_runs=[run for run in runs if run.status in UNDER_WAY],
        completed_runs=[run for run in runs if run.status == RunStatus.COMPLETED],
        may_start_run=target.is_active and access.role in (Role.ADMIN, Role.MEMBER),
        may_manage=manage and target.is_active,
        may_create=target.is_active and may_create(access, parent=target),
    )


# --- creating, changing, deactivating --------------------------------------------------


def _data(request: HttpRequest) -> Any:
    return request.POST if request.method == "POST" else None


@org_view
@require_http_methods(["GET", "POST"])
def target_create(request: HttpRequest) -> HttpResponse:
    """Set up a target (`?parent=<pk>`: as part of that one)."""
    access = _access(request)
    if not may_create(access):
        raise DjangoPermissionDenied
    initial: dict[str, Any] = {}
    parent = request.GET.get("parent", "")
    if parent.isdigit():
        initial["parent"] = int(parent)
    form = forms_targets.TargetForm(
        _data(request), initial=initial, organisation=access.organisation
    )

    def save(data: dict[str, Any]) -> str:
        try:
            target = target_services.create_target(
                access.organisation, actor=access.user, **form.changes()
            )
        except PermissionDenied as error:
            # A member may set a target only for a position they hold (or under
            # a target they manage): say so on the owner position.
            raise ValidationFailed({"owner_position": [error.message]}) from error
        return _url("target-detail", access, target.pk)

    return form_page(
        request,
        form,
        title=_("New target"),
        submit=_("Create the target"),
        cancel_url=_url("target-list", access),
        save=save,
        success=_("The target was created."),
        intro=_(
            "A target counts what the runs that contribute to it achieve within "
            "its period. Runs contribute only to a target of their own unit."
        ),
        nav="targets",
    )


def _managed(request: HttpRequest, pk: int) -> tuple[Access, Target]:
    """An active target the caller may change (404 if they cannot see it, 403
    if they may not change it)."""
    access = _access(request)
    target = insight_queries.target(access, pk)
    if not (target.is_active and may_manage(access, target)):
        raise DjangoPermissionDenied
    return access, target


@org_view
@require_http_methods(["GET", "POST"])
def target_edit(request: HttpRequest, pk: int) -> HttpResponse:
    """Change a target; a stale page answers 409 and changes nothing."""
    access, target = _managed(request, pk)
    initial = {
        "name": target.name,
        "parent": target.parent_id,
        "party": target.party_id,
        "owner_position": target.owner_position_id,
        # Written plainly ("1000", "2.5"): "1,000" would read back as one.
        "measure_quantity": format(target.measure_quantity.normalize(), "f"),
        "measure_unit": target.measure_unit,
        "period_start": target.period_start,
        "period_end": target.period_end,
        "description": target.description,
        "version": target.version,
    }
    form = forms_targets.TargetEditForm(
        _data(request),
        initial=initial,
        organisation=access.organisation,
        target=target,
    )
    name = target.name

    def save(data: dict[str, Any]) -> str:
        target_services.update_target(
            target,
            actor=access.user,
            expected_version=data["version"],
            **form.changes(),
        )
        return _url("target-detail", access, target.pk)

    return form_page(
        request,
        form,
        title=_("Edit “%(name)s”") % {"name": name},
        submit=_("Save"),
        cancel_url=_url("target-detail", access, target.pk),
        save=save,
        success=_("The changes were saved."),
        nav="targets",
    )


@org_view
@require_http_methods(["GET", "POST"])
def target_deactivate(request: HttpRequest, pk: int) -> HttpResponse:
    """Deactivate a target: it stays with its history; no new run may feed it."""
    access, target = _managed(request, pk)
    back = _url("target-detail", access, target.pk)

    def act(version: int) -> str:
        target_services.deactivate_target(
            target, actor=access.user, expected_version=version
        )
        return back

    return confirm_action(
        request,
        version=target.version,
        act=act,
        success=_("The target “%(name)s” was deactivated.") % {"name": target.name},
        title=_("Deactivate “%(name)s”") % {"name": target.name},
        submit=_("Deactivate"),
        cancel_url=back,
        intro=_(
            "A deactivated target keeps its history and the runs that fed it, "
            "but no run can be pointed at it any more."
        ),
        danger=True,
        nav="targets",
    )
