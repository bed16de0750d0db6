"""Every write of workload analysis (docs/design-workload.md, "services.py").

Who does what:

* the **analyst** opens an analysis (an administrator or member linked to a
  person), computes it and submits it; later the analyst's rights belong to the
  person who opened it, to whoever holds the analyst's position now, and to
  administrators;
* the **incumbents** of a sheet — the current holders of its position, acting
  holders (Plt) included — fill in its entries and submit it; the sheet of a
  position no holder can fill in (vacant, or none of its holders has a login:
  `holder_fills_in`) is filled in and submitted by the analyst;
* the position's **superior** validates a sheet, and the analyst's superior
  approves the analysis, both through the approval engine
  (`rantai.approvals.services`; the subject adapters are in `adapters.py`).

Every service runs in one transaction, checks who acts before anything else,
locks the row it changes (`select_for_update`, as the other apps do; SQLite
queues writers instead) and changes versioned rows by compare-and-set; the
audit events are its last writes. A refused action writes nothing.

Entries bind the validation decision through `PositionSheet.entries_version`
(bumped by every change of an entry); the analysis's approval binds to
`Analysis.version`.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from decimal import ROUND_HALF_UP, Decimal, InvalidOperation
from typing import Any, cast

from django.conf import settings
from django.db import IntegrityError, connection, transaction
from django.db.models import (
    BooleanField,
    Case,
    Count,
    Exists,
    F,
    Max,
    OuterRef,
    Q,
    When,
)
from django.utils import timezone, translation
from django.utils.functional import Promise, lazy
from django.utils.translation import gettext as _
from django.utils.translation import gettext_noop

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.approvals import routes
from rantai.approvals import services as approvals
from rantai.approvals.models import (
    ApprovalRequest,
    ApproverRule,
    RequestStatus,
    Route,
    RouteVersion,
    StageMode,
    SubjectKind,
    TimeoutAction,
)
from rantai.audit import services as audit
from rantai.audit.models import AuditVerb
from rantai.chains import projection
from rantai.chains.calendar import CalendarSpec, minutes_per_working_day
from rantai.core import sql
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict, NotFound, PermissionDenied, ValidationFailed
from rantai.notifications import events, webhooks
from rantai.notifications import services as notifications
from rantai.org.models import Duty, Holding, Party, PartyKind, Person, Position
from rantai.workload import method as methods
from rantai.workload import numbers
from rantai.workload.models import (
    EDITABLE_SHEET_STATUSES,
    OPEN_ANALYSIS_STATUSES,
    Analysis,
    AnalysisStatus,
    Entry,
    Period,
    PositionSheet,
    SheetStatus,
    TimeUnit,
    WorkloadSettings,
)

__all__ = [
    "MAX_VOLUME",
    "DutyChanges",
    "EntryChange",
    "Incumbents",
    "analysis_path",
    "cancel_analysis",
    "clean_figures",
    "compute",
    "holder_fills_in",
    "incumbents",
    "may_analyse",
    "may_edit_sheet",
    "may_fill_in",
    "method_for",
    "open_analysis",
    "plan_duties",
    "refresh_duties",
    "set_entries",
    "set_entry",
    "sheet_path",
    "start_revision",
    "submit_analysis",
    "submit_sheet",
    "update_settings",
    "withdraw_analysis",
    "withdraw_sheet",
]

# A volume above this, per period, is a typing error rather than a workload.
MAX_VOLUME = Decimal("1000000")
DECIMAL_PLACES = 4  # what an entry keeps (volume and standard time)
LARGE_IMPORT = 5000  # rows above which set_entries reads the whole analysis
AUDIT_SLICE = 1000  # audit events appended per statement by set_entries
WRITERS = (Role.ADMIN, Role.MEMBER)
PENDING = (RequestStatus.OPEN, RequestStatus.RETURNED)

# The default routes made when an analysis opens and the organisation has none of
# the kind (see `_ensure_default_routes`).
SHEET_ROUTE_CODE = "ABK-SHEET"
ANALYSIS_ROUTE_CODE = "ABK"
DEFAULT_TIME_LIMIT_HOURS = 40  # five working days of eight hours

_STORED = Decimal("0.000001")  # 6 decimal places (required staff, EJ, FTE)
_MINUTES = Decimal("0.0001")  # 4 decimal places (activity minutes)


# --- small helpers --------------------------------------------------------------------


def _now(now: dt.datetime | None) -> dt.datetime:
    if now is None:
        return timezone.now()
    if timezone.is_naive(now):
        raise ValueError("now must be timezone-aware")
    return now


def _local_date(organisation: Organisation, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


def _text(message: str, **params: Any) -> Promise:
    """Lazy text (a `gettext_noop` message and its values), rendered in each
    notified person's own language."""

    def render() -> str:
        translated = _(message)
        return translated % params if params else translated

    return cast(Promise, lazy(render, str)())


def _figure(value: Decimal | int) -> str:
    """A number in a message, written the active language's way (1.250 / 1,250)."""
    return numbers.format_decimal(value, None, translation.get_language() or "en")


def analysis_path(analysis: Analysis, slug: str) -> str:
    """The analysis's page inside Rantai (for notifications)."""
    return f"/o/{slug}/workload/{analysis.pk}/"


def sheet_path(sheet: PositionSheet, slug: str) -> str:
    """A sheet's page inside Rantai (for notifications)."""
    return f"/o/{slug}/workload/{sheet.analysis_id}/sheets/{sheet.pk}/"


@dataclass(frozen=True, slots=True)
class _Who:
    """The acting user in one organisation: their role, their person and the
    positions that person holds on the day (acting holdings count)."""

    user: User
    role: str
    person_id: int | None
    positions: frozenset[int]

    @property
    def is_admin(self) -> bool:
        return self.role == Role.ADMIN


def _who(organisation: Organisation, user: User | None, day: dt.date) -> _Who | None:
    """None for someone without an active membership (they learn nothing)."""
    if user is None or not user.is_active:
        return None
    row = sql.fetchone(
        f"SELECT m.role, (SELECT p.id FROM {sql.table(Person)} p WHERE "  # noqa: S608 - identifiers from model metadata
        "p.organisation_id = %s AND p.user_id = %s AND p.is_active = %s) "
        f"FROM {sql.table(Membership)} m WHERE m.organisation_id = %s "
        "AND m.user_id = %s AND m.is_active = %s",
        [organisation.pk, user.pk, True, organisation.pk, user.pk, True],
    )
    if row is None:
        return None
    role, person_id = row
    positions: frozenset[int] = frozenset()
    if person_id is not None:
        positions = frozenset(
            Holding.objects.current(day)
            .filter(organisation_id=organisation.pk, person_id=person_id)
            .values_list("position_id", flat=True)
        )
    return _Who(user, role, person_id, positions)


def _require_writer(organisation: Organisation, user: User, day: dt.date) -> _Who:
    """Administrators and members write; auditors and partners never do; someone
    outside the organisation learns nothing."""
    who = _who(organisation, user, day)
    if who is None:
        raise NotFound()
    if who.role not in WRITERS:
        raise PermissionDenied(
            _("Auditors and external partners cannot change workload analyses.")
        )
    return who


def _require_person(who: _Who) -> int:
    if who.person_id is None:
        raise PermissionDenied(
            _("Your login is not linked to a person of this organisation.")
        )
    return who.person_id


def _is_analyst(analysis: Analysis, who: _Who) -> bool:
    return (
        who.is_admin
        or (who.person_id is not None and who.person_id == analysis.analyst_id)
        or (
            analysis.analyst_position_id is not None
            and analysis.analyst_position_id in who.positions
        )
    )


def _require_analyst(analysis: Analysis, who: _Who) -> None:
    if not _is_analyst(analysis, who):
        raise PermissionDenied(
            _(
                "Only the analyst (whoever opened the analysis or holds the "
                "analyst's position) or an administrator can do this."
            )
        )


def _holders(
    organisation_id: int, position_ids: Iterable[int], day: dt.date
) -> dict[int, set[int]]:
    """Position id → the people holding it on the day (acting included)."""
    ids = sorted(set(position_ids))
    found: dict[int, set[int]] = {pk: set() for pk in ids}
    if not ids:
        return found
    for position_id, person_id in (
        Holding.objects.current(day)
        .filter(organisation_id=organisation_id, position_id__in=ids)
        .values_list("position_id", "person_id")
    ):
        found[position_id].add(person_id)
    return found


def holder_fills_in() -> Q:
    """The rule, on `Holding` rows, of a holder who can fill in the position's
    sheet themselves: an active person with an active login that has an active
    administrator or member membership of the organisation.

    When no holder of a position can — it is vacant, or its holders are people
    without a login (as the organisation import makes them) — the analyst fills
    in and submits its sheet on their behalf (`Incumbents.analyst_fills_in`)."""
    return Q(person__is_active=True, person__user__is_active=True) & Q(
        Exists(
            Membership.objects.filter(
                organisation_id=OuterRef("organisation_id"),
                user_id=OuterRef("person__user_id"),
                is_active=True,
                role__in=WRITERS,
            )
        )
    )


@dataclass(frozen=True, slots=True)
class Incumbents:
    """Who holds a position on a day (acting included) and which of them can
    fill in its sheet themselves (`holder_fills_in`)."""

    holders: frozenset[int] = frozenset()
    able: frozenset[int] = frozenset()

    @property
    def analyst_fills_in(self) -> bool:
        """Vacant, or none of the holders can: the analyst fills in the sheet."""
        return not self.able


def incumbents(
    organisation_id: int, position_ids: Iterable[int], day: dt.date
) -> dict[int, Incumbents]:
    """Position id → its `Incumbents` on the day (one query)."""
    ids = sorted(set(position_ids))
    holders: dict[int, set[int]] = {pk: set() for pk in ids}
    able: dict[int, set[int]] = {pk: set() for pk in ids}
    if ids:
        for position_id, person_id, fills_in in (
            Holding.objects.current(day)
            .filter(organisation_id=organisation_id, position_id__in=ids)
            .annotate(
                fills_in=Case(
                    When(holder_fills_in(), then=True),
                    default=False,
                    output_field=BooleanField(),
                )
            )
            .values_list("position_id", "person_id", "fills_in")
        ):
            holders[position_id].add(person_id)
            if fills_in:
                able[position_id].add(person_id)
    return {pk: Incumbents(frozenset(holders[pk]), frozenset(able[pk])) for pk in ids}


def _users_of(person_ids: Iterable[int]) -> list[User]:
    """The active logins of active people (notify checks memberships itself)."""
    ids = sorted(set(person_ids))
    if not ids:
        return []
    return list(
        User.objects.filter(
            people__pk__in=ids, people__is_active=True, is_active=True
        ).distinct()
    )


def _frozen_error(analysis: Analysis) -> ValidationFailed:
    if analysis.status == AnalysisStatus.APPROVED:
        return ValidationFailed(
            _(
                "This analysis is approved and frozen; start a new revision to "
                "change it."
            ),
            code="frozen",
        )
    return ValidationFailed(
        _("This analysis is cancelled; nothing in it can change."), code="frozen"
    )


def _require_collecting(analysis: Analysis) -> None:
    if analysis.is_frozen:
        raise _frozen_error(analysis)
    if analysis.status != AnalysisStatus.COLLECTING:
        raise ValidationFailed(
            _("This analysis is waiting for approval; withdraw it first to change it."),
            code="in_review",
        )


def _lock_analysis(analysis: Analysis) -> Analysis:
    locked = (
        Analysis.objects.select_for_update(of=("self",))
        .select_related("organisation", "unit")
        .filter(pk=analysis.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    return locked


def _lock_sheet(sheet: PositionSheet) -> PositionSheet:
    locked = (
        PositionSheet.objects.select_for_update(of=("self",))
        .select_related("analysis__organisation", "analysis__unit", "position")
        .filter(pk=sheet.pk)
        .first()
    )
    if locked is None:
        raise NotFound()
    return locked


def _check_version(instance: Any, expected_version: int | None) -> None:
    if expected_version is not None and instance.version != expected_version:
        raise Conflict()


def _pending_request(kind: str, subject_id: int) -> ApprovalRequest | None:
    return (
        ApprovalRequest.objects.filter(
            subject_kind=kind, subject_id=subject_id, status__in=PENDING
        )
        .order_by("-id")
        .first()
    )


def _withdraw_pending(
    locked: PositionSheet | Analysis,
    kind: str,
    *,
    not_waiting: str,
    actor: User,
    now: dt.datetime,
) -> None:
    """Withdraw the subject's open approval request (`not_waiting` when it has
    none), then re-read the subject the adapter's status hook has moved."""
    pending = _pending_request(kind, locked.pk)
    if pending is None:
        raise ValidationFailed(not_waiting, code="not_submitted")
    approvals.withdraw(pending, actor=actor, expected_version=None, now=now)
    locked.refresh_from_db()


# --- the method ---------------------------------------------------------------------


def method_for(organisation: Organisation) -> methods.Method:
    """The organisation's method (its settings), or the default (Permenpan RB
    1/2020)."""
    stored = (
        WorkloadSettings.objects.filter(organisation_id=organisation.pk)
        .values_list("method", flat=True)
        .first()
    )
    return methods.Method.from_json(stored or {})


@transaction.atomic
def update_settings(
    organisation: Organisation,
    *,
    actor: User,
    method: methods.Method,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> WorkloadSettings:
    """The method new analyses snapshot (administrators). Analyses already open
    keep theirs. `expected_version` is the settings' version (None: not read, or
    none stored yet)."""
    now = _now(now)
    who = _require_writer(organisation, actor, _local_date(organisation, now))
    if not who.is_admin:
        raise PermissionDenied(_("Only organisation administrators can do this."))
    method.validate()
    data = method.to_json()
    current = (
        WorkloadSettings.objects.select_for_update()
        .filter(organisation_id=organisation.pk)
        .first()
    )
    if current is None:
        if expected_version not in (None, 0):
            raise Conflict()
        before: dict[str, Any] = {}
        try:
            with transaction.atomic():
                current = WorkloadSettings.objects.create(
                    organisation=organisation,
                    method=data,
                    created_at=now,
                    updated_at=now,
                )
        except IntegrityError as error:  # created concurrently
            raise Conflict() from error
    else:
        _check_version(current, expected_version)
        before = dict(current.method or {})
        if before == data:
            return current
        compare_and_set(
            current,
            expected_version=current.version,
            fields={"method": data, "updated_at": now},
        )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.SETTINGS_CHANGED,
        target=current,
        changes={"method": [before, data]},
    )
    return current


# --- opening an analysis ---------------------------------------------------------------


def _unit_tree(organisation_id: int, unit: Party) -> list[int]:
    """The unit and its active internal sub-units, top-down (breadth first, by
    name within a level)."""
    children: dict[int | None, list[tuple[str, int]]] = defaultdict(list)
    for pk, parent_id, name in Party.objects.filter(
        organisation_id=organisation_id,
        kind=PartyKind.INTERNAL_UNIT,
        is_active=True,
    ).values_list("pk", "parent_id", "name"):
        children[parent_id].append((name, pk))
    order = [unit.pk]
    index = 0
    while index < len(order):
        order.extend(pk for _name, pk in sorted(children.get(order[index], [])))
        index += 1
    return order


def _positions_of(organisation_id: int, unit_ids: Sequence[int]) -> list[Position]:
    """The active positions of the units, in unit order then by title."""
    place = {pk: index for index, pk in enumerate(unit_ids)}
    positions = list(
        Position.objects.filter(
            organisation_id=organisation_id, party_id__in=unit_ids, is_active=True
        ).only("pk", "party_id", "title", "code", "superior_id")
    )
    positions.sort(key=lambda p: (place[p.party_id], p.title, p.pk))
    return positions


def _duties_of(position_ids: Sequence[int]) -> dict[int, list[Duty]]:
    found: dict[int, list[Duty]] = defaultdict(list)
    if not position_ids:
        return found
    for duty in (
        Duty.objects.filter(position_id__in=position_ids, is_active=True)
        .only("pk", "position_id", "title", "output_unit", "sort_order")
        .order_by("position_id", "sort_order", "id")
    ):
        found[duty.position_id].append(duty)
    return found


def working_days_in(calendar: CalendarSpec, year: int) -> int:
    """Working days of the year on the calendar (its weekdays, holidays off)."""
    day = dt.date(year, 1, 1)
    count = 0
    while day.year == year:
        if day.weekday() in calendar.working_weekdays and day not in calendar.holidays:
            count += 1
        day += dt.timedelta(days=1)
    return count


def _analyst_position(
    organisation: Organisation, who: _Who, given: Position | None
) -> Position | None:
    """The position the analyst works from (its superior approves the analysis):
    the one given (they must hold it), else the only one they hold; an
    administrator holding none may go without."""
    if given is not None:
        if given.organisation_id != organisation.pk:
            raise ValidationFailed(
                {"analyst_position": [_("This belongs to another organisation.")]}
            )
        if given.pk not in who.positions:
            raise ValidationFailed(
                {"analyst_position": [_("You do not hold this position now.")]}
            )
        return given
    if len(who.positions) > 1:
        raise ValidationFailed(
            {
                "analyst_position": [
                    _(
                        "You hold several positions: choose the one you analyse "
                        "from, so that the right superior approves the analysis."
                    )
                ]
            }
        )
    if who.positions:
        return Position.objects.get(pk=next(iter(who.positions)))
    if not who.is_admin:
        raise PermissionDenied(
            _(
                "You hold no position, so nobody could approve your analysis; ask "
                "an administrator to open it."
            )
        )
    return None


def _route_code(organisation_id: int, code: str) -> str:
    """The code, or the first free one with a number after it."""
    taken = set(
        Route.objects.filter(
            organisation_id=organisation_id, code__startswith=code
        ).values_list("code", flat=True)
    )
    if code not in taken:
        return code
    number = 2
    while f"{code}-{number}" in taken:
        number += 1
    return f"{code}-{number}"


def _ensure_default_routes(
    organisation: Organisation,
    *,
    actor: User,
    owner_position: Position | None,
    now: dt.datetime,
) -> None:
    """Create and publish the default routes of the kinds the organisation has no
    route of yet (an inactive route of the kind counts: someone chose to stop it).

    They are created through the routes services acting as the analyst, owned by
    the analyst's position — which the routes services accept from an
    administrator or from a member holding that position (open_analysis has
    checked they hold it):

    * `ABK-SHEET` (`workload_sheet`): one stage, the holders of the sheet
      position's superior position (`step_accountable`), any one of them;
    * `ABK` (`workload_analysis`): one stage, the analyst's superior (`superior`,
      one level up), any one of them.

    Both with a time limit of five working days that reminds the approvers."""
    existing = set(
        Route.objects.filter(
            organisation_id=organisation.pk,
            subject_kind__in=(
                SubjectKind.WORKLOAD_SHEET,
                SubjectKind.WORKLOAD_ANALYSIS,
            ),
        ).values_list("subject_kind", flat=True)
    )
    defaults = (
        (
            SubjectKind.WORKLOAD_SHEET,
            SHEET_ROUTE_CODE,
            _("Validation of workload entries"),
            _(
                "Made when the first workload analysis opened: the superior of "
                "each position validates its entries."
            ),
            _("Superior of the position"),
            ApproverRule.STEP_ACCOUNTABLE,
        ),
        (
            SubjectKind.WORKLOAD_ANALYSIS,
            ANALYSIS_ROUTE_CODE,
            _("Approval of workload analyses"),
            _(
                "Made when the first workload analysis opened: the analyst's "
                "superior approves the analysis."
            ),
            _("Superior of the analyst"),
            ApproverRule.SUPERIOR,
        ),
    )
    for kind, code, name, description, stage_name, rule in defaults:
        if kind in existing:
            continue
        route = routes.create_route(
            organisation,
            actor=actor,
            code=_route_code(organisation.pk, code),
            name=name,
            subject_kind=kind,
            owner_position=owner_position,
            description=description,
        )
        version = RouteVersion.objects.get(route=route, number=1)
        routes.add_stage(
            version,
            actor=actor,
            name=stage_name,
            rule=rule,
            levels=1,
            mode=StageMode.ANY,
            time_limit_hours=DEFAULT_TIME_LIMIT_HOURS,
            on_timeout=TimeoutAction.REMIND,
        )
        routes.publish(version, actor=actor, expected_version=None, now=now)


@dataclass(frozen=True, slots=True)
class _Copied:
    """An entry's figures carried into a new revision."""

    volume: Decimal | None
    volume_period: str
    standard_time: Decimal | None
    time_unit: str


def _build_sheets(
    analysis: Analysis,
    positions: Sequence[Position],
    duties: Mapping[int, Sequence[Duty]],
    *,
    now: dt.datetime,
    copied: Mapping[tuple[int, int], _Copied] | None = None,
) -> tuple[list[PositionSheet], int]:
    """One sheet per position (draft) and one entry per duty, in bulk; `copied`:
    (position id, duty id) → figures of the previous revision. The sheets and the
    number of entries."""
    sheets = PositionSheet.objects.bulk_create(
        [
            PositionSheet(
                organisation_id=analysis.organisation_id,
                analysis=analysis,
                position_id=position.pk,
                sort_order=(index + 1) * 10,
                created_at=now,
                updated_at=now,
            )
            for index, position in enumerate(positions)
        ],
        batch_size=500,
    )
    rows = []
    for sheet, position in zip(sheets, positions, strict=True):
        for order, duty in enumerate(duties.get(position.pk, ()), start=1):
            figures = (copied or {}).get((position.pk, duty.pk))
            rows.append(
                Entry(
                    organisation_id=analysis.organisation_id,
                    sheet=sheet,
                    duty_id=duty.pk,
                    title=duty.title,
                    output_unit=duty.output_unit,
                    sort_order=order * 10,
                    volume=figures.volume if figures else None,
                    volume_period=figures.volume_period if figures else Period.YEAR,
                    standard_time=figures.standard_time if figures else None,
                    time_unit=figures.time_unit if figures else TimeUnit.MINUTE,
                    created_at=now,
                    updated_at=now,
                )
            )
    Entry.objects.bulk_create(rows, batch_size=500)
    return sheets, len(rows)


def _tell_incumbents(
    analysis: Analysis,
    *,
    organisation: Organisation,
    sheets: Sequence[PositionSheet],
    day: dt.date,
    reason: str,
    key: str,
    title: Promise,
    url: str,
    now: dt.datetime,
    leave_out: Iterable[int] = (),
) -> None:
    """Notify the incumbents of the sheets' positions (one call for all)."""
    holders = _holders(organisation.pk, [s.position_id for s in sheets], day)
    people = {pk for found in holders.values() for pk in found} - set(leave_out)
    notifications.notify(
        organisation,
        recipients=_users_of(people),
        event_type=events.WORKLOAD_TO_FILL,
        key=key,
        title=title,
        url=url,
        now=now,
    )
    positions = {
        pk: (code, title)
        for pk, code, title in Position.objects.filter(
            pk__in=[s.position_id for s in sheets]
        ).values_list("pk", "code", "title")
    }
    _publish(
        organisation,
        events.WORKLOAD_TO_FILL,
        key,
        lambda: {
            "analysis": _analysis_data(analysis, organisation),
            "positions": [
                {
                    "id": sheet.position_id,
                    "code": positions[sheet.position_id][0],
                    "title": positions[sheet.position_id][1],
                }
                for sheet in sheets
            ],
            "reason": reason,
        },
        now,
    )


def _analysis_data(analysis: Analysis, organisation: Organisation) -> dict[str, Any]:
    """The analysis as webhook payloads show it."""
    unit = Party.objects.filter(pk=analysis.unit_id).values_list("code", "name").get()
    return {
        "id": analysis.pk,
        "unit": {"code": unit[0], "name": unit[1]},
        "year": analysis.year,
        "revision": analysis.revision,
        "url": settings.RANTAI_BASE_URL.rstrip("/")
        + analysis_path(analysis, organisation.slug),
    }


def _publish(
    organisation: Organisation,
    event_type: str,
    key: str,
    data: Any,
    now: dt.datetime,
) -> None:
    """Announce to the organisation's webhooks (the data is built only when some
    endpoint is active); the event id follows from the key, so announcing the same
    thing again queues nothing."""
    event_id = uuid.uuid5(_EVENT_NAMESPACE, f"{organisation.pk}:{key}")
    webhooks.publish(
        organisation,
        event_type=event_type,
        payload=lambda: events.build(
            organisation, event_type, data(), event_id=event_id, occurred_at=now
        ),
        event_id=event_id,
    )


_EVENT_NAMESPACE = uuid.UUID("0b0f9a2e-5a55-4c1e-9d7e-4f2c7a6d3b51")


def _analysis_fields(analysis: Analysis) -> dict[str, Any]:
    return {
        "unit": analysis.unit_id,
        "year": analysis.year,
        "revision": analysis.revision,
        "previous": analysis.previous_id,
        "status": analysis.status,
        "analyst": analysis.analyst_id,
        "analyst_position": analysis.analyst_position_id,
        "working_days": analysis.working_days,
        "minutes_per_day": analysis.minutes_per_day,
        "method": analysis.method,
    }


def _next_revision(organisation_id: int, unit_id: int, year: int) -> int:
    last = Analysis.objects.filter(
        organisation_id=organisation_id, unit_id=unit_id, year=year
    ).aggregate(Max("revision"))["revision__max"]
    return (last or 0) + 1


def _insert_analysis(analysis: Analysis) -> None:
    try:
        with transaction.atomic():
            analysis.save(force_insert=True)
    except IntegrityError as error:  # opened concurrently
        raise ValidationFailed(
            {
                "year": [
                    _("An analysis of this unit for this year is already in progress.")
                ]
            },
            code="already_open",
        ) from error


def _create_analysis(
    analysis: Analysis,
    unit: Party,
    *,
    actor: User,
    owner_position: Position | None,
    day: dt.date,
    now: dt.datetime,
    copied: Mapping[tuple[int, int], _Copied] | None = None,
) -> None:
    """Insert a new analysis (or revision) of `unit` with a draft sheet for every
    position of the unit's tree and an entry for every duty (`copied`: the
    figures of the revision before), make sure the default routes exist, tell the
    incumbents, and record it."""
    organisation = analysis.organisation
    _insert_analysis(analysis)
    positions = _positions_of(organisation.pk, _unit_tree(organisation.pk, unit))
    duties = _duties_of([p.pk for p in positions])
    sheets, entry_count = _build_sheets(
        analysis, positions, duties, now=now, copied=copied
    )
    _ensure_default_routes(
        organisation, actor=actor, owner_position=owner_position, now=now
    )
    _tell_opened(analysis, organisation, sheets, day, now)
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CREATED,
        target=analysis,
        changes={
            **_analysis_fields(analysis),
            "sheets": len(sheets),
            "entries": entry_count,
        },
    )


@transaction.atomic
def open_analysis(
    unit: Party,
    *,
    actor: User,
    year: int,
    analyst_position: Position | None = None,
    now: dt.datetime | None = None,
) -> Analysis:
    """Open the analysis of an internal unit (with its internal sub-units) for a
    year: a sheet for each active position, an entry for each of its active
    duties (a position without duties gets an empty sheet: "missing duties"). The
    method and the year's working days and minutes per day are snapshotted; the
    default approval routes are made if the organisation has none; the
    incumbents are told to fill in their sheets."""
    now = _now(now)
    organisation = Organisation.objects.get(pk=unit.organisation_id)
    day = _local_date(organisation, now)
    who = _require_writer(organisation, actor, day)
    person_id = _require_person(who)
    unit = Party.objects.select_for_update().get(pk=unit.pk)
    if unit.kind != PartyKind.INTERNAL_UNIT:
        raise ValidationFailed(
            {"unit": [_("Workload is analysed for internal units only.")]}
        )
    if not unit.is_active:
        raise ValidationFailed({"unit": [_("The unit is deactivated.")]})
    if isinstance(year, bool) or not isinstance(year, int) or not 2000 <= year <= 2100:
        raise ValidationFailed({"year": [_("The year must be between 2000 and 2100.")]})
    position = _analyst_position(organisation, who, analyst_position)
    same = Analysis.objects.filter(
        organisation_id=organisation.pk, unit_id=unit.pk, year=year
    )
    if same.filter(status__in=OPEN_ANALYSIS_STATUSES).exists():
        raise ValidationFailed(
            {
                "year": [
                    _("An analysis of this unit for this year is already in progress.")
                ]
            },
            code="already_open",
        )
    if same.filter(status=AnalysisStatus.APPROVED).exists():
        raise ValidationFailed(
            {
                "year": [
                    _(
                        "The analysis of this unit for this year is approved; start "
                        "a new revision of it instead."
                    )
                ]
            },
            code="already_approved",
        )
    calendar = projection.calendar_spec(organisation)
    method = method_for(organisation)
    analysis = Analysis(
        organisation=organisation,
        unit=unit,
        year=year,
        revision=_next_revision(organisation.pk, unit.pk, year),
        status=AnalysisStatus.COLLECTING,
        analyst_id=person_id,
        analyst_position=position,
        method=method.to_json(),
        working_days=working_days_in(calendar, year),
        minutes_per_day=minutes_per_working_day(calendar),
        created_at=now,
        updated_at=now,
    )
    _create_analysis(
        analysis, unit, actor=actor, owner_position=position, day=day, now=now
    )
    return analysis


def _tell_opened(
    analysis: Analysis,
    organisation: Organisation,
    sheets: Sequence[PositionSheet],
    day: dt.date,
    now: dt.datetime,
) -> None:
    unit_name = Party.objects.filter(pk=analysis.unit_id).values_list(
        "name", flat=True
    )[0]
    _tell_incumbents(
        analysis,
        organisation=organisation,
        sheets=sheets,
        day=day,
        reason="opened",
        key=f"workload:analysis:{analysis.pk}:opened",
        title=_text(
            gettext_noop("Fill in the workload of your position: %(unit)s %(year)s"),
            unit=unit_name,
            year=analysis.year,
        ),
        url=analysis_path(analysis, organisation.slug),
        now=now,
    )


# --- entries ---------------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class EntryChange:
    """New figures of one entry (`set_entries`)."""

    entry_id: int
    volume: Decimal | None
    volume_period: str
    standard_time: Decimal | None
    time_unit: str


ENTRY_FIELDS = ("volume", "volume_period", "standard_time", "time_unit")


def _decimal(value: Any) -> Decimal | None:
    if value is None or value == "":
        return None
    if isinstance(value, bool):
        raise InvalidOperation
    if isinstance(value, Decimal):
        return value
    if isinstance(value, int | str):
        return Decimal(str(value).strip())
    raise InvalidOperation


def clean_figures(
    method: methods.Method,
    volume: Any,
    volume_period: Any,
    standard_time: Any,
    time_unit: Any,
) -> tuple[dict[str, Any], dict[str, list[str]]]:
    """The rules of an entry's figures, for every way in (a form, the API, the
    import): the figures checked ({field: value}) and the problems ({field:
    messages}, in the active language, numbers written its way)."""
    errors: dict[str, list[str]] = {}
    values: dict[str, Any] = {}
    if volume_period not in Period.values:
        errors["volume_period"] = [_("Choose per day, week, month or year.")]
    if time_unit not in TimeUnit.values:
        errors["time_unit"] = [_("Choose minutes or hours.")]
    for name, raw in (("volume", volume), ("standard_time", standard_time)):
        try:
            number = _decimal(raw)
        except (InvalidOperation, ValueError):
            errors[name] = [_("Enter a number.")]
            continue
        if number is not None and not number.is_finite():
            errors[name] = [_("Enter a number.")]
            continue
        if number is not None and -number.as_tuple().exponent > DECIMAL_PLACES:  # type: ignore[operator]
            errors[name] = [
                _("Use at most %(places)s decimal places.")
                % {"places": _figure(DECIMAL_PLACES)}
            ]
            continue
        values[name] = number
    volume_value = values.get("volume")
    if volume_value is not None:
        if volume_value < 0:
            errors["volume"] = [_("The volume of work cannot be negative.")]
        elif volume_value > MAX_VOLUME:
            errors["volume"] = [
                _(
                    "More than %(limit)s per period cannot be right: check the "
                    "number and the period."
                )
                % {"limit": _figure(MAX_VOLUME)}
            ]
    time_value = values.get("standard_time")
    if time_value is not None:
        if time_value <= 0:
            errors["standard_time"] = [_("The standard time must be more than zero.")]
        elif "volume_period" not in errors and "time_unit" not in errors:
            minutes = time_value * (60 if time_unit == TimeUnit.HOUR else 1)
            effective = method.effective.of(str(volume_period))
            if minutes > effective:
                errors["standard_time"] = [
                    _(
                        "One output would take longer than the whole period's "
                        "effective working time (%(minutes)s minutes %(period)s)."
                    )
                    % {
                        "minutes": _figure(effective),
                        "period": Period(volume_period).label,
                    }
                ]
    values["volume_period"] = volume_period
    values["time_unit"] = time_unit
    return values, errors


def _stored_figures(values: Mapping[str, Any]) -> dict[str, Any]:
    """Figures as the columns keep them (4 decimal places)."""
    places = Decimal(1).scaleb(-DECIMAL_PLACES)
    return {
        name: (
            value.quantize(places)
            if isinstance(value, Decimal) and name in ("volume", "standard_time")
            else value
        )
        for name, value in values.items()
    }


def _figures_of(entry: Entry) -> dict[str, Any]:
    return {name: getattr(entry, name) for name in ENTRY_FIELDS}


def _changed(before: Mapping[str, Any], after: Mapping[str, Any]) -> dict[str, Any]:
    """{field: [old, new]} of the figures that changed (1.5 and 1.5000 are equal)."""
    return {
        name: [before[name], after[name]]
        for name in ENTRY_FIELDS
        if before[name] != after[name]
    }


def _may_edit(analysis: Analysis, who: _Who, holding: Incumbents) -> bool:
    """Incumbents fill in their position's sheet; the analyst one that no holder
    can fill in (vacant, or no holder has a login: `holder_fills_in`)."""
    if who.role not in WRITERS:
        return False
    if who.person_id is not None and who.person_id in holding.holders:
        return True
    return holding.analyst_fills_in and _is_analyst(analysis, who)


def _not_an_editor() -> PermissionDenied:
    return PermissionDenied(
        _(
            "Only the holders of this position fill in its workload (the analyst, "
            "while the position is vacant or none of its holders has a login)."
        )
    )


def _require_editor(
    sheet: PositionSheet, analysis: Analysis, who: _Who, day: dt.date
) -> Incumbents:
    holding = incumbents(analysis.organisation_id, [sheet.position_id], day)[
        sheet.position_id
    ]
    if not _may_edit(analysis, who, holding):
        raise _not_an_editor()
    return holding


def _require_editable(sheet: PositionSheet, analysis: Analysis) -> None:
    if analysis.is_frozen:
        raise _frozen_error(analysis)
    if sheet.status == SheetStatus.SUBMITTED:
        raise ValidationFailed(
            _(
                "This sheet is waiting for validation; withdraw it first to change "
                "its entries."
            ),
            code="submitted",
        )
    if sheet.status == SheetStatus.VALIDATED:
        raise ValidationFailed(
            _("This sheet is validated; its entries can no longer change."),
            code="validated",
        )
    _require_collecting(analysis)


@transaction.atomic
def set_entry(
    entry: Entry,
    *,
    actor: User,
    volume: Decimal | None,
    volume_period: str,
    standard_time: Decimal | None,
    time_unit: str,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Entry:
    """Fill in (or change) one duty's figures: the volume of work per period and
    the standard time per output unit. The sheet's `entries_version` moves, so a
    validation decided on the old figures no longer counts."""
    now = _now(now)
    sheet = _lock_sheet(PositionSheet(pk=entry.sheet_id))
    analysis = sheet.analysis
    organisation = analysis.organisation
    who = _require_writer(organisation, actor, _local_date(organisation, now))
    _require_editor(sheet, analysis, who, _local_date(organisation, now))
    _require_editable(sheet, analysis)
    current = Entry.objects.filter(pk=entry.pk, sheet_id=sheet.pk).first()
    if current is None:
        raise NotFound()
    _check_version(current, expected_version)
    values, errors = clean_figures(
        methods.Method.from_json(analysis.method),
        volume,
        volume_period,
        standard_time,
        time_unit,
    )
    if errors:
        raise ValidationFailed(errors)
    before = _figures_of(current)
    after = _stored_figures(values)
    changes = _changed(before, after)
    if not changes:
        return current
    compare_and_set(
        current,
        expected_version=current.version,
        fields={**after, "updated_at": now},
    )
    sheet.entries_version = _bump_entries_version([sheet.pk], now)[sheet.pk]
    for name, value in after.items():
        setattr(entry, name, value)
    entry.version = current.version
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.UPDATED,
        target=current,
        changes={**changes, "entries_version": sheet.entries_version},
        target_label=current.title,
    )
    return current


def _bump_entries_version(sheet_ids: Sequence[int], now: dt.datetime) -> dict[int, int]:
    """entries_version + 1 on the (locked) sheets; their new values."""
    PositionSheet.objects.filter(pk__in=sheet_ids).update(
        entries_version=F("entries_version") + 1, updated_at=now
    )
    return dict(
        PositionSheet.objects.filter(pk__in=sheet_ids).values_list(
            "pk", "entries_version"
        )
    )


@transaction.atomic
def set_entries(
    analysis: Analysis,
    *,
    actor: User,
    rows: Sequence[EntryChange],
    now: dt.datetime | None = None,
) -> int:
    """Set many entries of the analysis at once (the import): every row is
    checked as `set_entry` checks it, and either all are written or none
    (errors keyed `rows.<index>.<field>`). The number of entries changed."""
    now = _now(now)
    locked = _lock_analysis(analysis)
    organisation = locked.organisation
    day = _local_date(organisation, now)
    who = _require_writer(organisation, actor, day)
    if locked.is_frozen:
        raise _frozen_error(locked)
    _require_collecting(locked)
    wanted = [row.entry_id for row in rows]
    if len(set(wanted)) != len(wanted):
        raise ValidationFailed(
            {"rows": [_("Each entry may appear only once.")]}, code="duplicate"
        )
    found = Entry.objects.filter(sheet__analysis_id=locked.pk)
    if len(wanted) <= LARGE_IMPORT:
        found = found.filter(pk__in=wanted)  # else: the whole analysis, no huge IN
    wanted_ids = set(wanted)
    entries = {
        entry.pk: entry
        for entry in found.only("pk", "version", "sheet_id", "title", *ENTRY_FIELDS)
        if entry.pk in wanted_ids
    }
    sheet_ids = sorted({entry.sheet_id for entry in entries.values()})
    sheets = {
        sheet.pk: sheet
        for sheet in PositionSheet.objects.select_for_update(of=("self",))
        .filter(pk__in=sheet_ids)
        .order_by("pk")
    }
    holding = incumbents(organisation.pk, [s.position_id for s in sheets.values()], day)
    method = methods.Method.from_json(locked.method)
    errors: dict[str, list[str]] = {}
    refused_sheet: ValidationFailed | None = None
    writes: list[tuple[Entry, dict[str, Any], dict[str, Any]]] = []
    for index, row in enumerate(rows):
        entry = entries.get(row.entry_id)
        if entry is None:
            errors[f"rows.{index}.entry_id"] = [
                _("There is no such entry in this analysis.")
            ]
            continue
        sheet = sheets[entry.sheet_id]
        if not _may_edit(locked, who, holding[sheet.position_id]):
            raise _not_an_editor()
        if refused_sheet is None:
            try:
                _require_editable(sheet, locked)
            except ValidationFailed as error:
                refused_sheet = error
        values, problems = clean_figures(
            method, row.volume, row.volume_period, row.standard_time, row.time_unit
        )
        for name, messages in problems.items():
            errors[f"rows.{index}.{name}"] = messages
        if problems:
            continue
        after = _stored_figures(values)
        changes = _changed(_figures_of(entry), after)
        if changes:
            writes.append((entry, after, changes))
    if refused_sheet is not None:
        raise refused_sheet
    if errors:
        raise ValidationFailed(errors)
    if not writes:
        return 0
    columns = [*ENTRY_FIELDS, "updated_at"]
    assignments, _params = sql.set_clause(Entry, dict.fromkeys(columns))
    with connection.cursor() as cursor:
        cursor.executemany(
            f"UPDATE {sql.table(Entry)} SET {assignments}, "  # noqa: S608 - identifiers from model metadata
            "version = version + 1 WHERE id = %s",
            [
                [
                    *sql.set_clause(
                        Entry,
                        {name: {**after, "updated_at": now}[name] for name in columns},
                    )[1],
                    entry.pk,
                ]
                for entry, after, _changes in writes
            ],
        )
    versions = _bump_entries_version(
        sorted({entry.sheet_id for entry, _a, _c in writes}), now
    )
    events = [
        audit.Entry(
            verb=AuditVerb.UPDATED,
            target=entry,
            changes={**changes, "entries_version": versions[entry.sheet_id]},
            target_label=entry.title,
        )
        for entry, _after, changes in writes
    ]
    # In slices: one INSERT per slice keeps within the database's parameter limit.
    for start in range(0, len(events), AUDIT_SLICE):
        audit.record_many(
            organisation, actor=actor, entries=events[start : start + AUDIT_SLICE]
        )
    return len(writes)


# --- submitting and withdrawing a sheet ------------------------------------------------


def _requester_position(
    sheet: PositionSheet, analysis: Analysis, who: _Who
) -> int | None:
    """An incumbent asks from the sheet's position; the analyst (filling in for
    the holders) from the analyst's position when they hold it, else as the
    engine decides."""
    if sheet.position_id in who.positions:
        return sheet.position_id
    if (
        analysis.analyst_position_id is not None
        and analysis.analyst_position_id in who.positions
    ):
        return analysis.analyst_position_id
    return None


@transaction.atomic
def submit_sheet(
    sheet: PositionSheet,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> PositionSheet:
    """Send the sheet to the position's superior for validation (an incumbent,
    or the analyst when no holder can: `may_fill_in`): every entry filled. Starts the
    approval request, or sends a request returned for revision again."""
    now = _now(now)
    locked = _lock_sheet(sheet)
    analysis = locked.analysis
    organisation = analysis.organisation
    day = _local_date(organisation, now)
    who = _require_writer(organisation, actor, day)
    _require_editor(locked, analysis, who, day)
    _check_version(locked, expected_version)
    if locked.status == SheetStatus.SUBMITTED:
        raise ValidationFailed(
            _("This sheet is already waiting for validation."), code="submitted"
        )
    _require_editable(locked, analysis)
    entries = list(
        Entry.objects.filter(sheet_id=locked.pk).values_list(
            "title", "volume", "standard_time"
        )
    )
    if not entries:
        raise ValidationFailed(
            _(
                "This position has no duties: add them to its job description, "
                "then take the duties from the job description again on this sheet."
            ),
            code="missing_duties",
        )
    unfilled = [
        title for title, volume, time in entries if volume is None or time is None
    ]
    if unfilled:
        raise ValidationFailed(
            {
                "entries": [
                    _(
                        "Fill in the volume and the standard time of every duty "
                        "first: %(duties)s."
                    )
                    % {"duties": "; ".join(unfilled)}
                ]
            },
            code="unfilled",
        )
    if locked.position.superior_id is None:
        raise ValidationFailed(
            _(
                "This position has no superior position to validate its entries: "
                "give it one in the organisation chart first."
            ),
            code="no_superior",
        )
    before = locked.status
    compare_and_set(
        locked,
        expected_version=locked.version,
        fields={
            "status": SheetStatus.SUBMITTED,
            "submitted_at": now,
            "updated_at": now,
        },
    )
    pending = _pending_request(SubjectKind.WORKLOAD_SHEET, locked.pk)
    if pending is not None and pending.status == RequestStatus.RETURNED:
        request = approvals.resubmit(
            pending, actor=actor, expected_version=None, now=now
        )
    else:
        request = approvals.submit(
            SubjectKind.WORKLOAD_SHEET,
            locked.pk,
            actor=actor,
            requester_position=_requester_position(locked, analysis, who),
            now=now,
        )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.SUBMITTED,
        target=locked,
        changes={
            "status": [before, SheetStatus.SUBMITTED],
            "entries_version": locked.entries_version,
            "request": request.pk,
        },
    )
    sheet.status, sheet.version = locked.status, locked.version
    return locked


@transaction.atomic
def withdraw_sheet(
    sheet: PositionSheet,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> PositionSheet:
    """Take a sheet waiting for validation (or returned for revision) back: its
    request is withdrawn (by whoever submitted it) and the sheet is a draft again."""
    now = _now(now)
    locked = _lock_sheet(sheet)
    analysis = locked.analysis
    organisation = analysis.organisation
    day = _local_date(organisation, now)
    who = _require_writer(organisation, actor, day)
    _require_editor(locked, analysis, who, day)
    _check_version(locked, expected_version)
    if analysis.is_frozen:
        raise _frozen_error(analysis)
    # The adapter's status hook makes the sheet a draft and records it.
    _withdraw_pending(
        locked,
        SubjectKind.WORKLOAD_SHEET,
        not_waiting=_("This sheet is not waiting for validation."),
        actor=actor,
        now=now,
    )
    return locked


# --- the duties of a sheet -----------------------------------------------------------


@dataclass(frozen=True, slots=True)
class DutyChanges:
    """What taking the duties from the job description again changes on a sheet
    (`plan_duties`, `refresh_duties`), by duty title: entries added for active
    duties that have none; empty entries of duties no longer active removed;
    unfilled entries whose duty's title or output unit changed brought up to
    date; `kept`: entries of duties no longer active that keep their figures
    (they stay, and count, until their figures are cleared); `reordered`: the
    entries follow the job description's order again."""

    added: tuple[str, ...] = ()
    removed: tuple[str, ...] = ()
    updated: tuple[str, ...] = ()
    kept: tuple[str, ...] = ()
    reordered: bool = False

    @property
    def changes_anything(self) -> bool:
        return bool(self.added or self.removed or self.updated or self.reordered)


@dataclass(frozen=True, slots=True)
class _DutyPlan:
    changes: DutyChanges
    add: tuple[tuple[Duty, int], ...]  # the duty and its entry's place
    remove: tuple[Entry, ...]
    update: tuple[tuple[Entry, dict[str, Any]], ...]


def _plan(entries: Sequence[Entry], duties: Sequence[Duty]) -> _DutyPlan:
    """The plan (pure): the active duties in the job description's order, each
    with its entry, then the kept entries of retired duties in their order."""
    by_duty = {entry.duty_id: entry for entry in entries}
    active = {duty.pk for duty in duties}
    retired = [entry for entry in entries if entry.duty_id not in active]
    kept = [
        entry
        for entry in retired
        if entry.volume is not None or entry.standard_time is not None
    ]
    removed = [entry for entry in retired if entry not in kept]
    places: list[tuple[Entry | None, Duty | None]] = [
        (by_duty.get(duty.pk), duty) for duty in duties
    ]
    places.extend((entry, None) for entry in kept)
    add: list[tuple[Duty, int]] = []
    update: list[tuple[Entry, dict[str, Any]]] = []
    updated: list[str] = []
    reordered = False
    for index, (entry, duty) in enumerate(places, start=1):
        place = index * 10
        if entry is None:
            if duty is not None:  # always: a place has an entry or a duty
                add.append((duty, place))
            continue
        fields: dict[str, Any] = {}
        if (
            duty is not None
            and not entry.is_filled
            and (entry.title, entry.output_unit) != (duty.title, duty.output_unit)
        ):
            fields.update(title=duty.title, output_unit=duty.output_unit)
            updated.append(duty.title)
        if entry.sort_order != place:
            fields["sort_order"] = place
            reordered = True
        if fields:
            update.append((entry, fields))
    return _DutyPlan(
        DutyChanges(
            added=tuple(duty.title for duty, _place in add),
            removed=tuple(entry.title for entry in removed),
            updated=tuple(updated),
            kept=tuple(entry.title for entry in kept),
            reordered=reordered,
        ),
        tuple(add),
        tuple(removed),
        tuple(update),
    )


def _sheet_entries(sheet_id: int) -> list[Entry]:
    return list(Entry.objects.filter(sheet_id=sheet_id).order_by("sort_order", "id"))


def plan_duties(
    sheet: PositionSheet, entries: Sequence[Entry] | None = None
) -> DutyChanges:
    """What `refresh_duties` would change on the sheet now (a read: one query
    for the position's duties, one more when `entries` — the sheet's, in their
    order — are not given)."""
    if entries is None:
        entries = _sheet_entries(sheet.pk)
    duties = _duties_of([sheet.position_id]).get(sheet.position_id, [])
    return _plan(entries, duties).changes


@transaction.atomic
def refresh_duties(
    sheet: PositionSheet,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> DutyChanges:
    """Take the duties from the position's job description again, while the
    sheet can be filled in (whoever fills it in): an entry for each active duty
    that has none, in the job description's order; the entries of duties no
    longer active removed when they are empty (no volume, no standard time) —
    one with a figure stays and counts until its figures are cleared; the title
    and output unit of entries not completely filled in copied again. The
    entries' version moves; nothing is written when nothing changes."""
    now = _now(now)
    locked = _lock_sheet(sheet)
    analysis = locked.analysis
    organisation = analysis.organisation
    day = _local_date(organisation, now)
    who = _require_writer(organisation, actor, day)
    _require_editor(locked, analysis, who, day)
    _check_version(locked, expected_version)
    _require_editable(locked, analysis)
    duties = _duties_of([locked.position_id]).get(locked.position_id, [])
    plan = _plan(_sheet_entries(locked.pk), duties)
    changes = plan.changes
    if not changes.changes_anything:
        return changes
    if plan.remove:
        Entry.objects.filter(pk__in=[entry.pk for entry in plan.remove]).delete()
    for entry, fields in plan.update:
        Entry.objects.filter(pk=entry.pk).update(
            **fields, version=F("version") + 1, updated_at=now
        )
    Entry.objects.bulk_create(
        [
            Entry(
                organisation_id=organisation.pk,
                sheet_id=locked.pk,
                duty_id=duty.pk,
                title=duty.title,
                output_unit=duty.output_unit,
                sort_order=place,
                created_at=now,
                updated_at=now,
            )
            for duty, place in plan.add
        ]
    )
    before = locked.entries_version
    after = _bump_entries_version([locked.pk], now)[locked.pk]
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.UPDATED,
        target=locked,
        changes={
            "entries_added": [duty.pk for duty, _place in plan.add],
            "entries_removed": [entry.duty_id for entry in plan.remove],
            "entries_updated": {
                str(entry.duty_id): [
                    [entry.title, entry.output_unit],
                    [
                        fields.get("title", entry.title),
                        fields.get("output_unit", entry.output_unit),
                    ],
                ]
                for entry, fields in plan.update
                if "title" in fields
            },
            "entries_version": [before, after],
        },
    )
    sheet.entries_version = after
    return changes


# --- computing --------------------------------------------------------------------------


_RESULT_COLUMNS = (
    "current_holders",
    "acting_holders",
    "activity_minutes",
    "required_staff",
    "required_count",
    "effectiveness",
    "grade",
    "fte",
    "fte_category",
    "fte_count",
)


def _q(value: Decimal | None, places: Decimal) -> Decimal | None:
    return None if value is None else value.quantize(places, rounding=ROUND_HALF_UP)


def _compute(analysis: Analysis, *, now: dt.datetime) -> dict[str, Any]:
    """Work out every sheet's results and the totals (one pass over plain data)
    and store them: a fixed number of statements whatever the size. The totals."""
    organisation = analysis.organisation
    method = methods.Method.from_json(analysis.method)
    available = methods.available_minutes(
        analysis.working_days, analysis.minutes_per_day
    )
    day = _local_date(organisation, now)
    sheets = list(
        PositionSheet.objects.filter(analysis_id=analysis.pk)
        .order_by("pk")
        .values_list("pk", "position_id")
    )
    holders: dict[tuple[int, bool], int] = {
        (position_id, bool(acting)): count
        for position_id, acting, count in Holding.objects.current(day)
        .filter(
            organisation_id=organisation.pk,
            position_id__in=PositionSheet.objects.filter(
                analysis_id=analysis.pk
            ).values("position_id"),
        )
        .values_list("position_id", "is_acting")
        .annotate(count=Count("person_id", distinct=True))
        .order_by()
    }
    # Every entry in one hand-written statement (rantai.core.sql): the ORM's
    # decimal converters would cost more than the whole calculation.
    inputs: dict[int, list[methods.EntryInput]] = defaultdict(list)
    entry_input = methods.EntryInput
    number = sql.py_decimal
    for sheet_id, volume, period, time, unit in sql.fetchall(
        "SELECT e.sheet_id, e.volume, e.volume_period, e.standard_time, "  # noqa: S608 - identifiers from model metadata
        f"e.time_unit FROM {sql.table(Entry)} e "
        f"JOIN {sql.table(PositionSheet)} s ON s.id = e.sheet_id "
        "WHERE s.analysis_id = %s",
        [analysis.pk],
    ):
        inputs[sheet_id].append(entry_input(number(volume), period, number(time), unit))
    position_result = methods.position_result
    rows: list[list[Any]] = []
    required_total = Decimal(0)
    required_count = 0
    current_count = 0
    for sheet_id, position_id in sheets:
        definitive = holders.get((position_id, False), 0)
        acting = holders.get((position_id, True), 0)
        result = position_result(
            inputs.get(sheet_id, ()),
            holders=definitive,
            acting=acting,
            method=method,
            available_minutes=available,
            traces=False,  # compute stores figures; traces cost most of the time
        )
        required = _q(result.required_staff, _STORED)
        required_total += result.required_staff
        required_count += result.required_count
        current_count += result.current_holders
        rows.append(
            [
                definitive,
                acting,
                _q(result.activity_minutes, _MINUTES),
                required,
                result.required_count,
                _q(result.effectiveness, _STORED),
                result.grade,
                _q(result.fte, _STORED),
                result.fte_category,
                result.fte_count,
                sheet_id,
            ]
        )
    if rows:
        quote = connection.ops.quote_name
        assignments = ", ".join(f"{quote(name)} = %s" for name in _RESULT_COLUMNS)
        with connection.cursor() as cursor:
            cursor.executemany(
                f"UPDATE {sql.table(PositionSheet)} SET {assignments} "  # noqa: S608 - identifiers from model metadata
                "WHERE id = %s",
                rows,
            )
    totals = {
        "computed_at": now,
        "required_total": _q(required_total, _STORED),
        "required_count": required_count,
        "current_count": current_count,
    }
    compare_and_set(
        analysis,
        expected_version=analysis.version,
        fields={**totals, "updated_at": now},
    )
    return totals


@transaction.atomic
def compute(
    analysis: Analysis, *, actor: User, now: dt.datetime | None = None
) -> Analysis:
    """Work out and store the results of every sheet and the analysis's totals
    (the analyst, while entries are being collected: unfilled entries count for
    nothing). Current holders are those on the day of the computation."""
    now = _now(now)
    locked = _lock_analysis(analysis)
    organisation = locked.organisation
    who = _require_writer(organisation, actor, _local_date(organisation, now))
    _require_analyst(locked, who)
    _require_collecting(locked)
    before = {
        "required_total": locked.required_total,
        "required_count": locked.required_count,
        "current_count": locked.current_count,
    }
    totals = _compute(locked, now=now)
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.COMPUTED,
        target=locked,
        changes={
            name: [before[name], totals[name]]
            for name in ("required_total", "required_count", "current_count")
        },
    )
    return locked


# --- submitting the analysis -----------------------------------------------------------


@transaction.atomic
def submit_analysis(
    analysis: Analysis,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Analysis:
    """Ask the analyst's superior to approve the analysis (every sheet
    validated): it is computed first, then waits for approval."""
    now = _now(now)
    locked = _lock_analysis(analysis)
    organisation = locked.organisation
    who = _require_writer(organisation, actor, _local_date(organisation, now))
    _require_analyst(locked, who)
    _check_version(locked, expected_version)
    if locked.status == AnalysisStatus.IN_REVIEW:
        raise ValidationFailed(
            _("This analysis is already waiting for approval."), code="in_review"
        )
    _require_collecting(locked)
    counts = dict(
        PositionSheet.objects.filter(analysis_id=locked.pk)
        .values_list("status")
        .annotate(count=Count("id"))
        .order_by()
    )
    total = sum(counts.values())
    if total == 0:
        raise ValidationFailed(
            _("The unit has no positions, so there is nothing to approve."),
            code="no_sheets",
        )
    validated = counts.get(SheetStatus.VALIDATED, 0)
    if validated != total:
        raise ValidationFailed(
            _(
                "%(count)s of %(total)s positions are not validated yet; every "
                "position's entries must be validated first."
            )
            % {"count": _figure(total - validated), "total": _figure(total)},
            code="not_validated",
        )
    _compute(locked, now=now)
    compare_and_set(
        locked,
        expected_version=locked.version,
        fields={"status": AnalysisStatus.IN_REVIEW, "updated_at": now},
    )
    pending = _pending_request(SubjectKind.WORKLOAD_ANALYSIS, locked.pk)
    if pending is not None and pending.status == RequestStatus.RETURNED:
        request = approvals.resubmit(
            pending, actor=actor, expected_version=None, now=now
        )
    else:
        position = locked.analyst_position_id
        request = approvals.submit(
            SubjectKind.WORKLOAD_ANALYSIS,
            locked.pk,
            actor=actor,
            requester_position=position if position in who.positions else None,
            now=now,
        )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.SUBMITTED,
        target=locked,
        changes={
            "status": [AnalysisStatus.COLLECTING, AnalysisStatus.IN_REVIEW],
            "version": locked.version,
            "request": request.pk,
            "required_total": locked.required_total,
            "required_count": locked.required_count,
            "current_count": locked.current_count,
        },
    )
    return locked


@transaction.atomic
def withdraw_analysis(
    analysis: Analysis,
    *,
    actor: User,
    expected_version: int | None,
    now: dt.datetime | None = None,
) -> Analysis:
    """Take an analysis waiting for approval back to collecting entries (whoever
    submitted it)."""
    now = _now(now)
    locked = _lock_analysis(analysis)
    organisation = locked.organisation
    who = _require_writer(organisation, actor, _local_date(organisation, now))
    _require_analyst(locked, who)
    _check_version(locked, expected_version)
    if locked.is_frozen:
        raise _frozen_error(locked)
    # The adapter's status hook brings the analysis back to collecting.
    _withdraw_pending(
        locked,
        SubjectKind.WORKLOAD_ANALYSIS,
        not_waiting=_("This analysis is not waiting for approval."),
        actor=actor,
        now=now,
    )
    return locked


@transaction.atomic
def cancel_analysis(
    analysis: Analysis,
    *,
    actor: User,
    expected_version: int | None,
    reason: str,
    now: dt.datetime | None = None,
) -> Analysis:
    """Stop an analysis that is not approved (final). Not while it waits for
    approval: withdraw it first. Sheets still waiting for validation can then no
    longer be validated."""
    now = _now(now)
    locked = _lock_analysis(analysis)
    organisation = locked.organisation
    who = _require_writer(organisation, actor, _local_date(organisation, now))
    _require_analyst(locked, who)
    _check_version(locked, expected_version)
    text = (reason or "").strip()
    if not text:
        raise ValidationFailed({"reason": [_("This field is required.")]})
    if locked.is_frozen:
        raise _frozen_error(locked)
    if locked.status == AnalysisStatus.IN_REVIEW:
        raise ValidationFailed(
            _("This analysis is waiting for approval; withdraw it first."),
            code="in_review",
        )
    before = locked.status
    compare_and_set(
        locked,
        expected_version=locked.version,
        fields={"status": AnalysisStatus.CANCELLED, "updated_at": now},
    )
    audit.record(
        organisation,
        actor=actor,
        verb=AuditVerb.CANCELLED,
        target=locked,
        changes={"status": [before, AnalysisStatus.CANCELLED]},
        personal_changes={"reason": text},
    )
    return locked


# --- revisions ------------------------------------------------------------------------


@transaction.atomic
def start_revision(
    analysis: Analysis, *, actor: User, now: dt.datetime | None = None
) -> Analysis:
    """A new revision of an approved analysis, collecting again: the positions
    and duties of the unit as they are now, each entry carrying the figures of the
    revision before where the duty is the same; the method and calendar figures
    of the revision before. The approved one stays as it was."""
    now = _now(now)
    locked = _lock_analysis(analysis)
    organisation = locked.organisation
    day = _local_date(organisation, now)
    who = _require_writer(organisation, actor, day)
    _require_analyst(locked, who)
    person_id = _require_person(who)
    if locked.status != AnalysisStatus.APPROVED:
        raise ValidationFailed(
            _("Only an approved analysis can be revised."), code="not_approved"
        )
    later = Analysis.objects.filter(
        organisation_id=organisation.pk,
        unit_id=locked.unit_id,
        year=locked.year,
        revision__gt=locked.revision,
    ).exclude(status=AnalysisStatus.CANCELLED)
    if later.exists():
        raise ValidationFailed(
            _("A later revision of this analysis already exists."), code="revised"
        )
    position_id = locked.analyst_position_id
    if position_id is None or position_id not in who.positions:
        position = _analyst_position(organisation, who, None)
    else:
        position = Position.objects.get(pk=position_id)
    revision = Analysis(
        organisation=organisation,
        unit_id=locked.unit_id,
        year=locked.year,
        revision=_next_revision(organisation.pk, locked.unit_id, locked.year),
        previous=locked,
        status=AnalysisStatus.COLLECTING,
        analyst_id=person_id,
        analyst_position=position,
        method=locked.method,
        working_days=locked.working_days,
        minutes_per_day=locked.minutes_per_day,
        created_at=now,
        updated_at=now,
    )
    copied = {
        (position_id, duty_id): _Copied(volume, period, time, unit)
        for position_id, duty_id, volume, period, time, unit in Entry.objects.filter(
            sheet__analysis_id=locked.pk
        ).values_list(
            "sheet__position_id",
            "duty_id",
            "volume",
            "volume_period",
            "standard_time",
            "time_unit",
        )
    }
    _create_analysis(
        revision,
        Party.objects.get(pk=locked.unit_id),
        actor=actor,
        owner_position=position,
        day=day,
        now=now,
        copied=copied,
    )
    return revision


# --- rules for pages -------------------------------------------------------------------


def may_fill_in(
    sheet: PositionSheet, user: User | None, *, now: dt.datetime | None = None
) -> bool:
    """Whether the user is one who fills in, submits and withdraws the sheet,
    whatever its state: an incumbent, or the analyst when no holder can (the
    position is vacant, or none of its holders has a login: `holder_fills_in`)."""
    analysis = sheet.analysis
    organisation = analysis.organisation
    day = _local_date(organisation, _now(now))
    who = _who(organisation, user, day)
    if who is None:
        return False
    holding = incumbents(organisation.pk, [sheet.position_id], day)
    return _may_edit(analysis, who, holding[sheet.position_id])


def may_edit_sheet(
    sheet: PositionSheet, user: User | None, *, now: dt.datetime | None = None
) -> bool:
    """Whether the user may change the sheet's entries now (for showing the
    form): `may_fill_in`, the sheet a draft or returned, the analysis
    collecting."""
    return (
        sheet.status in EDITABLE_SHEET_STATUSES
        and sheet.analysis.status == AnalysisStatus.COLLECTING
        and may_fill_in(sheet, user, now=now)
    )


def may_analyse(
    analysis: Analysis, user: User | None, *, now: dt.datetime | None = None
) -> bool:
    """Whether the user has the analyst's rights on the analysis (compute,
    submit, withdraw, cancel, revise)."""
    organisation = analysis.organisation
    who = _who(organisation, user, _local_date(organisation, _now(now)))
    return who is not None and who.role in WRITERS and _is_analyst(analysis, who)
