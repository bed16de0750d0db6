"""Role checks (docs/design-roles.md, "Role checks"): the six rules as pure
functions over plain rows, one loader that reads what they need in a fixed number
of queries, acknowledging (and withdrawing) a warning, and the publish guard.

| rule | severity |
|---|---|
| `accountable_count` — a step without exactly one accountable | error |
| `external_accountable` — an external partner's position accountable for a step an internal position does | error |
| `duty_not_covered` — the responsible position's job description lacks the step's duty | warning |
| `vacant_position` — a responsible or accountable position without holder, on a live procedure | warning |
| `over_capacity` — a person with more estimated work than working time in the load window | warning |
| `consulted_bottleneck` — a position consulted on too many published steps | warning |

The first four are about one procedure version (`check_version`; their subject
keys start with `v<version id>:`); the last two about the whole organisation
(`check_organisation` runs every rule over the published versions — vacancies
also over versions that still have runs under way — plus these two). A finding
names a stable `subject`; an acknowledged warning is covered for as long as its
`CheckAcknowledgement` (same rule and subject) is not withdrawn. Errors cannot be
acknowledged: publishing a version with one is refused (`publish_guard`).
"""

from __future__ import annotations

import dataclasses
import datetime as dt
import functools
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from decimal import ROUND_HALF_UP, Decimal
from typing import Any

from django.db import models, transaction
from django.db.models import Exists, OuterRef, Q, QuerySet, Sum
from django.utils import formats, timezone, translation
from django.utils.translation import gettext as _
from django.utils.translation import gettext_lazy, ngettext

from rantai.accounts.access import Access
from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.audit import services as audit
from rantai.audit import writes
from rantai.audit.models import AuditVerb
from rantai.chains import projection
from rantai.chains import services as chains
from rantai.chains.calendar import (
    CalendarSpec,
    add_working_minutes,
    minutes_per_working_day,
    working_minutes_between,
)
from rantai.chains.models import (
    OPEN_TASK_STATUSES,
    ProcedureVersion,
    RaciRole,
    Run,
    RunStatus,
    Step,
    StepRole,
    Task,
    TaskStatus,
    VersionStatus,
)
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.org.models import Absence, Holding, PartyKind, Person, Position
from rantai.roles import policy
from rantai.roles.models import CheckAcknowledgement, CheckRule, RoleSettings

__all__ = [
    "ERROR_RULES",
    "ORGANISATION_RULES",
    "VERSION_RULES",
    "Facts",
    "Finding",
    "PersonLoad",
    "Severity",
    "acknowledge",
    "check_organisation",
    "check_version",
    "may_acknowledge",
    "may_view",
    "publish_guard",
    "withdraw",
]


class Severity(models.TextChoices):
    ERROR = "error", gettext_lazy("error")
    WARNING = "warning", gettext_lazy("warning")


ERROR_RULES = frozenset({CheckRule.ACCOUNTABLE_COUNT, CheckRule.EXTERNAL_ACCOUNTABLE})
VERSION_RULES = frozenset(
    {
        CheckRule.ACCOUNTABLE_COUNT,
        CheckRule.EXTERNAL_ACCOUNTABLE,
        CheckRule.DUTY_NOT_COVERED,
        CheckRule.VACANT_POSITION,
    }
)
ORGANISATION_RULES = frozenset(
    {CheckRule.OVER_CAPACITY, CheckRule.CONSULTED_BOTTLENECK}
)
# The order findings of one step are listed in.
RULE_ORDER = {
    rule: index
    for index, rule in enumerate(
        (
            CheckRule.ACCOUNTABLE_COUNT,
            CheckRule.EXTERNAL_ACCOUNTABLE,
            CheckRule.DUTY_NOT_COVERED,
            CheckRule.VACANT_POSITION,
            CheckRule.OVER_CAPACITY,
            CheckRule.CONSULTED_BOTTLENECK,
        )
    )
}
# Runs that still need their positions filled.
LIVE_RUN_STATUSES = (RunStatus.ACTIVE, RunStatus.SUSPENDED)


def severity_of(rule: str) -> str:
    return Severity.ERROR if rule in ERROR_RULES else Severity.WARNING


@dataclass(frozen=True, slots=True)
class Finding:
    """One problem a role check found.

    `subject` is a stable key (`v12:step:34`, `v12:step:34:position:7`,
    `v12:position:7`, `person:5`, `position:7`) an acknowledgement refers to;
    `fix` names what to change, `("step", id)` / `("position", id)` /
    `("person", id)`, for the web layer to link to; `message` and `explanation`
    are in the language active when the check ran.
    """

    rule: str
    severity: str
    subject: str
    message: str
    explanation: str
    fix: tuple[str, int]
    procedure_id: int | None = None
    version_id: int | None = None
    step_id: int | None = None
    owner_position_id: int | None = None  # the procedure's owner (who may acknowledge)
    acknowledged: CheckAcknowledgement | None = field(default=None, compare=False)

    @property
    def is_error(self) -> bool:
        return self.severity == Severity.ERROR

    @property
    def is_acknowledged(self) -> bool:
        return self.acknowledged is not None

    @property
    def is_open(self) -> bool:
        """An error, or a warning nobody acknowledged."""
        return not self.is_acknowledged


# --- plain rows ----------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class VersionRow:
    id: int
    procedure_id: int
    procedure_code: str
    procedure_name: str
    owner_position_id: int
    number: int
    status: str
    has_live_runs: bool
    # Whether the structural rules (accountable, external, duty) apply: a version
    # checked on its own, or the published one; a retired version with runs still
    # under way is checked for vacancies only.
    structural: bool = True

    @property
    def is_live(self) -> bool:
        """New runs start from it (published), it is about to (a draft being
        checked), or runs of it are under way."""
        return self.status != VersionStatus.RETIRED or self.has_live_runs


@dataclass(frozen=True, slots=True)
class StepRow:
    id: int
    version_id: int
    key: str
    name: str
    sort_order: int
    duty_id: int | None
    duty_title: str
    duty_position_id: int | None
    duty_active: bool


@dataclass(frozen=True, slots=True)
class RoleRow:
    step_id: int
    role: str
    position_id: int | None
    party_id: int | None


@dataclass(frozen=True, slots=True)
class PositionRow:
    id: int
    title: str
    code: str
    party_id: int
    party_name: str
    is_external: bool


@dataclass(frozen=True, slots=True)
class PersonLoad:
    """A person's estimated work and working time in the load window (minutes)."""

    person_id: int
    name: str
    work_minutes: int
    capacity_minutes: int


@dataclass
class Facts:
    """What the version rules read: versions, their steps (in order), the roles of
    each step, the positions named, and how many current holders each has."""

    versions: dict[int, VersionRow] = field(default_factory=dict)
    steps: list[StepRow] = field(default_factory=list)
    roles: dict[int, list[RoleRow]] = field(default_factory=dict)
    positions: dict[int, PositionRow] = field(default_factory=dict)
    holders: dict[int, int] = field(default_factory=dict)

    def roles_of(self, step_id: int, role: str) -> list[RoleRow]:
        return [row for row in self.roles.get(step_id, ()) if row.role == role]

    labels: dict[int, str] = field(default_factory=dict)

    def title(self, position_id: int | None) -> str:
        row = self.positions.get(position_id) if position_id is not None else None
        return row.title if row is not None else "?"

    def label(self, version: VersionRow) -> str:
        """ "Procedure X, version 2" (translated once per version)."""
        label = self.labels.get(version.id)
        if label is None:
            label = self.labels[version.id] = _version_label(version)
        return label


# --- the texts -------------------------------------------------------------------------


def _version_label(version: VersionRow) -> str:
    return _("%(procedure)s, version %(number)d") % {
        "procedure": version.procedure_name,
        "number": version.number,
    }


def _listing(names: Iterable[str]) -> str:
    return ", ".join(names)


def _hours(minutes: int, decimal_separator: str = ".") -> str:
    """Minutes as hours for people, with the active language's decimal mark."""
    hours = (Decimal(minutes) / 60).quantize(Decimal("0.1"), rounding=ROUND_HALF_UP)
    return _("%(hours)s h") % {"hours": str(hours).replace(".", decimal_separator)}


EXPLANATIONS = {
    CheckRule.ACCOUNTABLE_COUNT: gettext_lazy(
        "Every step needs exactly one accountable position: the one who answers for "
        "the result, receives the escalations of late tasks and confirms "
        "deviations. With none, nobody answers for the step; with several, each "
        "expects the other to. Keep one accountable position on the step."
    ),
    CheckRule.EXTERNAL_ACCOUNTABLE: gettext_lazy(
        "An outside partner cannot answer for work done inside the organisation: "
        "the accountable position confirms deviations and receives the escalations "
        "of the organisation's own staff. Make an internal position accountable, "
        "for example the superior of the responsible position."
    ),
    CheckRule.DUTY_NOT_COVERED: gettext_lazy(
        "People carry out the tasks their job description names. Name the duty of "
        "the responsible position that this step performs (or add it to the "
        "position's job description), so the task goes to holders whose job "
        "covers it."
    ),
    CheckRule.VACANT_POSITION: gettext_lazy(
        "The tasks of a vacant responsible position are left without an assignee, "
        "and nobody receives the escalations of a vacant accountable one, while "
        "this procedure is in use. Appoint a holder — an acting holder (Plt) while "
        "the position is vacant — or give the steps to another position in a new "
        "version."
    ),
    CheckRule.OVER_CAPACITY: gettext_lazy(
        "The estimated work counts the open tasks assigned to the person and the "
        "unassigned tasks still to come in running procedures whose responsible "
        "position they hold alone; the capacity is their working time in the load window minus their "
        "recorded absences. Reassign or rebalance tasks, appoint another holder or "
        "move due dates."
    ),
    CheckRule.CONSULTED_BOTTLENECK: gettext_lazy(
        "A step that requires consultation waits until every consulted position "
        "answered, so a position consulted on many steps holds up every chain it "
        "takes part in. Consult it only where its input changes the outcome, "
        "inform it elsewhere, or share the role with another position."
    ),
}


@functools.cache
def _explanation(rule: str, language: str) -> str:
    """A rule's explanation in `language` (the active one: part of the key)."""
    return str(EXPLANATIONS[CheckRule(rule)])


def _finding(
    rule: str,
    subject: str,
    message: str,
    fix: tuple[str, int],
    *,
    version: VersionRow | None = None,
    step_id: int | None = None,
) -> Finding:
    return Finding(
        rule=rule,
        severity=severity_of(rule),
        subject=subject,
        message=message,
        explanation=_explanation(rule, translation.get_language() or ""),
        fix=fix,
        procedure_id=version.procedure_id if version else None,
        version_id=version.id if version else None,
        step_id=step_id,
        owner_position_id=version.owner_position_id if version else None,
    )


def step_subject(version_id: int, step_id: int) -> str:
    return f"v{version_id}:step:{step_id}"


# --- the rules (pure) ------------------------------------------------------------------


def _structural_steps(facts: Facts) -> Iterable[tuple[VersionRow, StepRow]]:
    for step in facts.steps:
        version = facts.versions[step.version_id]
        if version.structural:
            yield version, step


def accountable_count(facts: Facts) -> list[Finding]:
    """Error: a step with no accountable position, or with more than one."""
    found = []
    for version, step in _structural_steps(facts):
        accountable = facts.roles_of(step.id, RaciRole.ACCOUNTABLE)
        if len(accountable) == 1:
            continue
        values = {"step": step.name, "version": facts.label(version)}
        if not accountable:
            message = _("Step “%(step)s” of %(version)s has no accountable position.")
        else:
            values["count"] = len(accountable)  # type: ignore[assignment]
            values["positions"] = _listing(
                facts.title(row.position_id) for row in accountable
            )
            message = _(
                "Step “%(step)s” of %(version)s has %(count)d accountable positions "
                "(%(positions)s)."
            )
        found.append(
            _finding(
                CheckRule.ACCOUNTABLE_COUNT,
                step_subject(version.id, step.id),
                message % values,
                ("step", step.id),
                version=version,
                step_id=step.id,
            )
        )
    return found


def external_accountable(facts: Facts) -> list[Finding]:
    """Error: the accountable position belongs to an external partner while an
    internal position is responsible for the step."""
    found = []
    for version, step in _structural_steps(facts):
        internal = [
            facts.positions[row.position_id]
            for row in facts.roles_of(step.id, RaciRole.RESPONSIBLE)
            if row.position_id in facts.positions
            and not facts.positions[row.position_id].is_external
        ]
        if not internal:
            continue
        for row in facts.roles_of(step.id, RaciRole.ACCOUNTABLE):
            accountable = facts.positions.get(row.position_id)  # type: ignore[arg-type]
            if accountable is None or not accountable.is_external:
                continue
            found.append(
                _finding(
                    CheckRule.EXTERNAL_ACCOUNTABLE,
                    step_subject(version.id, step.id),
                    _(
                        "Step “%(step)s” of %(version)s is done by %(responsible)s, "
                        "an internal position, but %(accountable)s of the outside "
                        "partner %(party)s is accountable for it."
                    )
                    % {
                        "step": step.name,
                        "version": facts.label(version),
                        "responsible": _listing(p.title for p in internal),
                        "accountable": accountable.title,
                        "party": accountable.party_name,
                    },
                    ("step", step.id),
                    version=version,
                    step_id=step.id,
                )
            )
    return found


def duty_not_covered(facts: Facts) -> list[Finding]:
    """Warning: a responsible position whose job description does not contain the
    step's duty — no duty named, a duty of another position, or one taken out of
    the position's job description."""
    found = []
    no_duty = other_duty = removed_duty = ""  # translated once, when first needed
    for version, step in _structural_steps(facts):
        for row in facts.roles_of(step.id, RaciRole.RESPONSIBLE):
            if row.position_id is None:
                continue  # an external party's step: its own business
            if step.duty_id is None:
                no_duty = no_duty or _(
                    "Step “%(step)s” of %(version)s names no duty, so it is not part "
                    "of the job description of %(position)s, its responsible."
                )
                message = no_duty
            elif step.duty_position_id != row.position_id:
                other_duty = other_duty or _(
                    "Step “%(step)s” of %(version)s is the duty “%(duty)s” of "
                    "%(owner)s, which is not in the job description of "
                    "%(position)s, its responsible."
                )
                message = other_duty
            elif not step.duty_active:
                removed_duty = removed_duty or _(
                    "Step “%(step)s” of %(version)s is the duty “%(duty)s”, which "
                    "is no longer in the job description of %(position)s."
                )
                message = removed_duty
            else:
                continue
            found.append(
                _finding(
                    CheckRule.DUTY_NOT_COVERED,
                    f"{step_subject(version.id, step.id)}:position:{row.position_id}",
                    message
                    % {
                        "step": step.name,
                        "version": facts.label(version),
                        "position": facts.title(row.position_id),
                        "duty": step.duty_title,
                        "owner": facts.title(step.duty_position_id),
                    },
                    ("step", step.id),
                    version=version,
                    step_id=step.id,
                )
            )
    return found


def vacant_position(facts: Facts) -> list[Finding]:
    """Warning: a responsible or accountable position without a current holder, in
    a version in use (published, being checked as a draft, or with runs under
    way); one finding per version and position, naming its steps."""
    steps_of: dict[tuple[int, int], list[StepRow]] = defaultdict(list)
    for step in facts.steps:
        version = facts.versions[step.version_id]
        if not version.is_live:
            continue
        seen: set[int] = set()
        for row in facts.roles.get(step.id, ()):
            if (
                row.role in (RaciRole.RESPONSIBLE, RaciRole.ACCOUNTABLE)
                and row.position_id is not None
                and row.position_id not in seen
                and facts.holders.get(row.position_id, 0) == 0
            ):
                seen.add(row.position_id)
                steps_of[(version.id, row.position_id)].append(step)
    found = []
    for (version_id, position_id), steps in steps_of.items():
        version = facts.versions[version_id]
        found.append(
            _finding(
                CheckRule.VACANT_POSITION,
                f"v{version_id}:position:{position_id}",
                ngettext(
                    "%(position)s has no holder, and it is responsible or "
                    "accountable for %(count)d step of %(version)s (%(steps)s).",
                    "%(position)s has no holder, and it is responsible or "
                    "accountable for %(count)d steps of %(version)s (%(steps)s).",
                    len(steps),
                )
                % {
                    "position": facts.title(position_id),
                    "count": len(steps),
                    "version": facts.label(version),
                    "steps": _listing(step.name for step in steps),
                },
                ("position", position_id),
                version=version,
                step_id=steps[0].id,
            )
        )
    return found


def consulted_bottleneck(facts: Facts, *, threshold: int) -> list[Finding]:
    """Warning: a position consulted on more steps of published versions than
    `threshold`."""
    counts: dict[int, int] = defaultdict(int)
    for step in facts.steps:
        if facts.versions[step.version_id].status != VersionStatus.PUBLISHED:
            continue
        for position_id in {
            row.position_id
            for row in facts.roles_of(step.id, RaciRole.CONSULTED)
            if row.position_id is not None
        }:
            counts[position_id] += 1
    return [
        _finding(
            CheckRule.CONSULTED_BOTTLENECK,
            f"position:{position_id}",
            ngettext(
                "%(position)s is consulted on %(count)d step of the published "
                "procedures (more than %(limit)d).",
                "%(position)s is consulted on %(count)d steps of the published "
                "procedures (more than %(limit)d).",
                count,
            )
            % {
                "position": facts.title(position_id),
                "count": count,
                "limit": threshold,
            },
            ("position", position_id),
        )
        for position_id, count in sorted(
            counts.items(), key=lambda item: (-item[1], facts.title(item[0]))
        )
        if count > threshold
    ]


def over_capacity(loads: Iterable[PersonLoad], *, window_days: int) -> list[Finding]:
    """Warning: a person whose estimated work exceeds their working time in the
    load window."""
    separator = str(formats.get_format("DECIMAL_SEPARATOR"))
    return [
        _finding(
            CheckRule.OVER_CAPACITY,
            f"person:{load.person_id}",
            ngettext(
                "%(person)s has %(work)s of estimated work in the next %(days)d "
                "working day, but can work %(capacity)s in it.",
                "%(person)s has %(work)s of estimated work in the next %(days)d "
                "working days, but can work %(capacity)s in them.",
                window_days,
            )
            % {
                "person": load.name,
                "work": _hours(load.work_minutes, separator),
                "days": window_days,
                "capacity": _hours(load.capacity_minutes, separator),
            },
            ("person", load.person_id),
        )
        for load in sorted(
            loads,
            key=lambda load: (
                load.capacity_minutes - load.work_minutes,
                load.name,
                load.person_id,
            ),
        )
        if load.work_minutes > load.capacity_minutes
    ]


VERSION_RULE_FUNCTIONS = (
    accountable_count,
    external_accountable,
    duty_not_covered,
    vacant_position,
)


# --- load and capacity (pure) ----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class WorkRow:
    """Estimated minutes of open or pending tasks, grouped by their assignee (or
    None) and responsible position (`pending`: not ready yet)."""

    assignee_id: int | None
    position_id: int | None
    pending: bool
    minutes: int


def estimated_work(
    rows: Iterable[WorkRow], sole_holders: Mapping[int, int]
) -> dict[int, int]:
    """person -> minutes: the tasks assigned to them, and the unassigned tasks
    (pending, or open but not yet claimed) of positions they hold alone
    (`sole_holders`: position -> person): nobody else will do those."""
    work: dict[int, int] = defaultdict(int)
    for row in rows:
        if row.assignee_id is not None:
            work[row.assignee_id] += row.minutes
        elif row.position_id is not None:
            holder = sole_holders.get(row.position_id)
            if holder is not None:
                work[holder] += row.minutes
    return dict(work)


def capacity_minutes(
    calendar: CalendarSpec,
    start: dt.datetime,
    end: dt.datetime,
    absences: Iterable[tuple[dt.datetime, dt.datetime]] = (),
) -> int:
    """Working minutes from `start` to `end` outside the absences (overlapping
    absences counted once)."""
    total = max(0, working_minutes_between(calendar, start, end))
    away = 0
    cursor = start
    for away_from, away_until in sorted(absences):
        low, high = max(away_from, cursor), min(away_until, end)
        if high > low:
            away += working_minutes_between(calendar, low, high)
            cursor = high
    return max(0, total - away)


# --- reading the organisation ----------------------------------------------------------


def role_settings(organisation: Organisation) -> RoleSettings:
    """The organisation's thresholds (created with the defaults when missing)."""
    return policy.settings_for(organisation)


def _local_date(time_zone: str, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(time_zone)).date()


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _versions(
    condition: Q, *, structural_only_published: bool
) -> tuple[dict[int, VersionRow], QuerySet[ProcedureVersion]]:
    """The versions matching `condition` (one query) and that queryset, to read
    their parts by subquery (no long lists of ids)."""
    selected = ProcedureVersion.objects.filter(condition)
    rows = (
        selected.annotate(
            has_live_runs=Exists(
                Run.objects.filter(
                    procedure_version=OuterRef("pk"), status__in=LIVE_RUN_STATUSES
                )
            )
        )
        .order_by("procedure__name", "procedure_id", "number")
        .values_list(
            "pk",
            "procedure_id",
            "procedure__code",
            "procedure__name",
            "procedure__owner_position_id",
            "number",
            "status",
            "has_live_runs",
        )
    )
    versions = {}
    for pk, procedure_id, code, name, owner, number, status, live in rows:
        versions[pk] = VersionRow(
            pk,
            procedure_id,
            code,
            name,
            owner,
            number,
            status,
            bool(live),
            structural=not structural_only_published
            or status == VersionStatus.PUBLISHED,
        )
    return versions, selected


def _facts(
    organisation_id: int,
    versions: dict[int, VersionRow],
    selected: QuerySet[ProcedureVersion],
    *,
    day: dt.date,
    holdings: Mapping[int, set[int]] | None = None,
) -> Facts:
    """Steps, roles, positions and (unless given) the current holders of the
    selected versions: four queries, whatever their number."""
    version_ids = selected.values("pk")
    steps = [
        StepRow(
            id=pk,
            version_id=version_id,
            key=key,
            name=name,
            sort_order=sort_order,
            duty_id=duty_id,
            duty_title=duty_title or "",
            duty_position_id=duty_position_id,
            duty_active=bool(duty_active),
        )
        for (
            pk,
            version_id,
            key,
            name,
            sort_order,
            duty_id,
            duty_title,
            duty_position_id,
            duty_active,
        ) in Step.objects.filter(procedure_version_id__in=version_ids)
        .order_by("procedure_version_id", "sort_order", "id")
        .values_list(
            "pk",
            "procedure_version_id",
            "key",
            "name",
            "sort_order",
            "duty_id",
            "duty__title",
            "duty__position_id",
            "duty__is_active",
        )
    ]
    roles: dict[int, list[RoleRow]] = defaultdict(list)
    role_rows = StepRole.objects.filter(step__procedure_version_id__in=version_ids)
    for step_id, role, position_id, party_id in role_rows.order_by(
        "step_id", "role", "id"
    ).values_list("step_id", "role", "position_id", "party_id"):
        roles[step_id].append(RoleRow(step_id, role, position_id, party_id))
    named = role_rows.filter(position_id__isnull=False).values("position_id")
    if holdings is None:  # one version: the positions it names
        wanted = Position.objects.filter(
            Q(pk__in=named)
            | Q(
                pk__in=Step.objects.filter(
                    procedure_version_id__in=version_ids, duty__isnull=False
                ).values("duty__position_id")
            )
        )
    else:  # the organisation: all of them (cheaper than picking)
        wanted = Position.objects.filter(organisation_id=organisation_id)
    positions = {
        pk: PositionRow(
            pk, title, code, party_id, party_name, kind == PartyKind.EXTERNAL_PARTNER
        )
        for pk, title, code, party_id, party_name, kind in wanted.values_list(
            "pk", "title", "code", "party_id", "party__name", "party__kind"
        )
    }
    if holdings is None:
        holdings = _current_holdings(organisation_id, day, position_ids=named)
    return Facts(
        versions=versions,
        steps=steps,
        roles=dict(roles),
        positions=positions,
        holders={position: len(people) for position, people in holdings.items()},
    )


def _current_holdings(
    organisation_id: int, day: dt.date, *, position_ids: Any = None
) -> dict[int, set[int]]:
    """position -> its current holders (active people; acting holders count)."""
    holdings = Holding.objects.current(day).filter(
        organisation_id=organisation_id, person__is_active=True
    )
    if position_ids is not None:
        holdings = holdings.filter(position_id__in=position_ids)
    found: dict[int, set[int]] = defaultdict(set)
    for position_id, person_id in holdings.values_list("position_id", "person_id"):
        found[position_id].add(person_id)
    return dict(found)


def _loads(
    organisation: Organisation,
    *,
    now: dt.datetime,
    window_days: int,
    holdings: Mapping[int, set[int]],
) -> list[PersonLoad]:
    """Every person with estimated work, with their capacity in the load window:
    one grouped query of the tasks, then (only when someone has work) the
    calendar, the absences in the window and the names of those over capacity."""
    sole_holders = {
        position: next(iter(people))
        for position, people in holdings.items()
        if len(people) == 1
    }
    rows = (
        Task.objects.filter(organisation_id=organisation.pk)
        .filter(
            Q(status__in=OPEN_TASK_STATUSES)
            | Q(
                status=TaskStatus.PENDING,
                run__status=RunStatus.ACTIVE,
                skipped_reason="",  # marked to be skipped: takes no time
            )
        )
        .values("assignee_id", "responsible_position_id", "status")
        .annotate(minutes=Sum("duration_minutes"))
        .order_by()
    )
    work = estimated_work(
        (
            WorkRow(
                row["assignee_id"],
                row["responsible_position_id"],
                row["status"] == TaskStatus.PENDING,
                row["minutes"] or 0,
            )
            for row in rows
        ),
        sole_holders,
    )
    if not work:
        return []
    calendar = projection.calendar_spec(organisation)
    end = add_working_minutes(
        calendar, now, window_days * minutes_per_working_day(calendar)
    )
    absences: dict[int, list[tuple[dt.datetime, dt.datetime]]] = defaultdict(list)
    for person_id, starts_at, ends_at in Absence.objects.filter(
        organisation_id=organisation.pk,
        cancelled_at__isnull=True,
        starts_at__lt=end,
        ends_at__gt=now,
    ).values_list("person_id", "starts_at", "ends_at"):
        absences[person_id].append((starts_at, ends_at))
    capacity = {
        person_id: capacity_minutes(calendar, now, end, absences.get(person_id, ()))
        for person_id in work
    }
    over = [
        person_id
        for person_id, minutes in work.items()
        if minutes > capacity[person_id]
    ]
    names = dict(
        Person.objects.filter(pk__in=over, is_active=True).values_list(
            "pk", "full_name"
        )
    )
    return [
        PersonLoad(person_id, names[person_id], work[person_id], capacity[person_id])
        for person_id in over
        if person_id in names
    ]


def _acknowledged(
    findings: Iterable[Finding], acknowledgements: Iterable[CheckAcknowledgement]
) -> list[Finding]:
    """The findings, each warning with the active acknowledgement covering it."""
    by_key = {(ack.rule, ack.subject): ack for ack in acknowledgements}
    return [
        dataclasses.replace(
            finding, acknowledged=by_key[(finding.rule, finding.subject)]
        )
        if not finding.is_error and (finding.rule, finding.subject) in by_key
        else finding
        for finding in findings
    ]


def _ordered(findings: Iterable[Finding], facts: Facts) -> list[Finding]:
    """Errors first; then by procedure, version and step; then the organisation-
    wide findings (each rule keeps its own order: the worst first)."""
    version_rank = {pk: index for index, pk in enumerate(facts.versions)}
    step_rank = {step.id: index for index, step in enumerate(facts.steps)}
    last = len(version_rank)
    return sorted(
        findings,
        key=lambda f: (
            0 if f.is_error else 1,
            version_rank.get(f.version_id, last),  # type: ignore[arg-type]
            step_rank.get(f.step_id, -1),  # type: ignore[arg-type]
            RULE_ORDER[CheckRule(f.rule)],
        ),
    )


def _active_acknowledgements(organisation_id: int) -> QuerySet[CheckAcknowledgement]:
    return CheckAcknowledgement.objects.filter(
        organisation_id=organisation_id, withdrawn_at__isnull=True
    ).select_related("acknowledged_by")


# --- the checks ------------------------------------------------------------------------


def check_version(
    version: ProcedureVersion, *, now: dt.datetime | None = None
) -> list[Finding]:
    """The findings of the version rules on `version` (any status: a draft is
    checked before it is published), with their acknowledgements. Seven queries."""
    now = _now(now)
    time_zone = (
        Organisation.objects.filter(pk=version.organisation_id)
        .values_list("time_zone", flat=True)
        .get()
    )
    versions, selected = _versions(Q(pk=version.pk), structural_only_published=False)
    facts = _facts(
        version.organisation_id, versions, selected, day=_local_date(time_zone, now)
    )
    findings = [finding for rule in VERSION_RULE_FUNCTIONS for finding in rule(facts)]
    return _ordered(
        _acknowledged(
            findings,
            _active_acknowledgements(version.organisation_id).filter(
                procedure_version_id=version.pk
            ),
        ),
        facts,
    )


def check_organisation(
    organisation: Organisation, *, now: dt.datetime | None = None
) -> list[Finding]:
    """Every rule: the version rules over the published versions (vacancies also
    over versions with runs still under way), the consulted bottlenecks and the
    people over capacity in the load window; with their acknowledgements. A fixed
    number of queries (at most thirteen), whatever the organisation's size."""
    now = _now(now)
    settings = role_settings(organisation)
    versions, selected = _versions(
        Q(organisation_id=organisation.pk)
        & (
            Q(status=VersionStatus.PUBLISHED)
            | Q(
                Exists(
                    Run.objects.filter(
                        procedure_version=OuterRef("pk"),
                        status__in=LIVE_RUN_STATUSES,
                    )
                )
            )
        ),
        structural_only_published=True,
    )
    holdings = _current_holdings(
        organisation.pk, _local_date(organisation.time_zone, now)
    )
    facts = _facts(
        organisation.pk,
        versions,
        selected,
        day=_local_date(organisation.time_zone, now),
        holdings=holdings,
    )
    findings = [finding for rule in VERSION_RULE_FUNCTIONS for finding in rule(facts)]
    findings += consulted_bottleneck(
        facts, threshold=settings.consulted_bottleneck_steps
    )
    findings += over_capacity(
        _loads(
            organisation,
            now=now,
            window_days=settings.load_window_days,
            holdings=holdings,
        ),
        window_days=settings.load_window_days,
    )
    return _ordered(
        _acknowledged(findings, _active_acknowledgements(organisation.pk)), facts
    )


def publish_guard(version_id: int) -> list[str]:
    """The messages of the errors that refuse publishing the version (registered
    with chains). A step without exactly one accountable is left out: chains'
    own validation refuses it already, in its own words."""
    version = ProcedureVersion.objects.filter(pk=version_id).first()
    if version is None:
        return []
    return [
        finding.message
        for finding in check_version(version)
        if finding.is_error and finding.rule != CheckRule.ACCOUNTABLE_COUNT
    ]


# --- who may see and acknowledge -------------------------------------------------------


def may_view(access: Access) -> bool:
    """Administrators, members and auditors see the role checks; partners do not."""
    return access.role in (Role.ADMIN, Role.MEMBER, Role.AUDITOR)


def may_acknowledge(viewer: chains.Actor, finding: Finding) -> bool:
    """Whether `viewer` (chains' `actor(...)`) may acknowledge the warning or
    withdraw its acknowledgement: administrators; for a version's warning also
    the holders of the procedure's owner position."""
    if finding.is_error or viewer.role is None:
        return False
    if viewer.role == Role.ADMIN:
        return True
    return (
        finding.version_id is not None
        and viewer.role == Role.MEMBER
        and viewer.holds(finding.owner_position_id)
    )


def _require_acknowledger(
    organisation: Organisation,
    actor: User,
    version: ProcedureVersion | None,
    *,
    now: dt.datetime,
) -> None:
    membership = (
        Membership.objects.filter(
            organisation_id=organisation.pk, user_id=actor.pk, is_active=True
        ).first()
        if actor.is_active
        else None
    )
    if membership is None:
        raise NotFound()
    if membership.role == Role.ADMIN:
        return
    if version is None:
        raise PermissionDenied(
            _("Only administrators can acknowledge warnings about the organisation.")
        )
    owner = version.procedure.owner_position_id
    if membership.role != Role.MEMBER or not chains.holds_position(
        organisation, actor, owner, on=_local_date(organisation.time_zone, now)
    ):
        raise PermissionDenied(
            _(
                "Only administrators and the procedure's owner can acknowledge its "
                "warnings."
            )
        )


@transaction.atomic
def acknowledge(
    organisation: Organisation,
    *,
    actor: User,
    rule: str,
    subject: str,
    reason: str,
    procedure_version: ProcedureVersion | None = None,
    now: dt.datetime | None = None,
) -> CheckAcknowledgement:
    """Accept a current warning with a reason, so it no longer counts as open.

    A version's warning (`procedure_version` given): administrators and holders of
    the procedure's owner position; a warning about the whole organisation:
    administrators. Errors cannot be acknowledged. Audited `acknowledged` (the
    reason in the redactable part: it may speak about a person)."""
    now = _now(now)
    if procedure_version is not None and (
        procedure_version.organisation_id != organisation.pk
    ):
        raise NotFound()
    if procedure_version is not None:
        procedure_version = ProcedureVersion.objects.select_related("procedure").get(
            pk=procedure_version.pk
        )
    _require_acknowledger(organisation, actor, procedure_version, now=now)
    if rule not in CheckRule.values:
        raise ValidationFailed({"rule": [_("Unknown check.")]})
    if rule in ERROR_RULES:
        raise ValidationFailed(
            {"rule": [_("Only warnings can be acknowledged: an error must be fixed.")]}
        )
    if rule in VERSION_RULES and procedure_version is None:
        raise ValidationFailed(
            {"procedure_version": [_("Name the procedure version of this warning.")]}
        )
    if rule in ORGANISATION_RULES and procedure_version is not None:
        raise ValidationFailed(
            {
                "procedure_version": [
                    _("This warning is about the organisation, not a version.")
                ]
            }
        )
    reason = (reason or "").strip()
    if not reason:
        raise ValidationFailed(
            {"reason": [_("Give the reason for accepting this warning.")]}
        )
    findings = (
        check_version(procedure_version, now=now)
        if procedure_version is not None
        else check_organisation(organisation, now=now)
    )
    finding = next(
        (f for f in findings if f.rule == rule and f.subject == subject), None
    )
    if finding is None:
        raise ValidationFailed(
            {"subject": [_("There is no such warning now; it may have been resolved.")]}
        )
    if finding.acknowledged is not None:
        raise ValidationFailed(
            {"subject": [_("This warning is already acknowledged.")]}
        )
    acknowledgement = CheckAcknowledgement(
        organisation=organisation,
        rule=rule,
        subject=subject,
        procedure_version=procedure_version,
        reason=reason,
        acknowledged_by=actor,
        acknowledged_at=now,
    )
    writes.save_new(acknowledgement)
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.ACKNOWLEDGED,
        target=acknowledgement,
        changes={
            "rule": rule,
            "subject": subject,
            "procedure_version": procedure_version.pk if procedure_version else None,
        },
        personal_changes={"reason": reason},
    )
    return acknowledgement


@transaction.atomic
def withdraw(
    acknowledgement: CheckAcknowledgement,
    *,
    actor: User,
    now: dt.datetime | None = None,
) -> CheckAcknowledgement:
    """Withdraw an acknowledgement: the warning counts as open again. The same
    people as for acknowledging it; audited `acknowledgement_withdrawn`."""
    now = _now(now)
    acknowledgement = CheckAcknowledgement.objects.select_related(
        "organisation", "procedure_version__procedure"
    ).get(pk=acknowledgement.pk)
    organisation = acknowledgement.organisation
    _require_acknowledger(
        organisation, actor, acknowledgement.procedure_version, now=now
    )
    if acknowledgement.withdrawn_at is not None:
        raise ValidationFailed(_("This acknowledgement was already withdrawn."))
    changed = CheckAcknowledgement.objects.filter(
        pk=acknowledgement.pk, withdrawn_at__isnull=True
    ).update(withdrawn_at=now, withdrawn_by=actor)
    if not changed:
        raise Conflict()
    acknowledgement.withdrawn_at = now
    acknowledgement.withdrawn_by = actor
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.ACKNOWLEDGEMENT_WITHDRAWN,
        target=acknowledgement,
        changes={
            "rule": acknowledgement.rule,
            "subject": acknowledgement.subject,
            "withdrawn_at": [None, now],
        },
    )
    return acknowledgement
