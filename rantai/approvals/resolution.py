"""Who the approvers of a request stage are, worked out from the organisation as it
is at a moment (docs/design-coordination.md, "Resolution").

* `superior`: from the position the request is made from, `levels` steps up the
  superior line; `position`: the holders of a position; `unit_head`: the holders of a
  unit's head position; `step_accountable`: the holders of the subject's accountable
  position; `person`: a named person.
* Holders are the current holdings on the organisation's local date, definitive and
  acting (Plt) alike: an acting holder holds the position's authority. A holder counts
  only with an active login that has an administrator or member membership of the
  organisation; a position without such a holder is vacant.
* A vacant position passes to its superior, and on up. The requester is never an
  approver, and without `allow_repeat_approver` nor is anyone whose current decision
  counts at another stage of the request: when leaving them out empties a position,
  it passes up too.
* Nobody found at the top: `ValidationFailed` naming the stage.

How each approver was found is stored as a short code (`via`) plus position ids, never
as text: `via_text` words it in the reader's language.

A `Resolver` reads the superior chain of the positions it needs with one recursive
query and their eligible holders with one more, and keeps both for the moment it was
made for, so re-resolving many stages at once (an organisation change) costs a few
queries per distinct chain, not per stage.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from django.db import connection
from django.db.models import Exists, OuterRef
from django.utils.translation import gettext as _

from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.approvals import subjects
from rantai.approvals.models import ApproverRule, Decision, RequestStage, RouteStage
from rantai.core import sql
from rantai.core.errors import ValidationFailed
from rantai.org.models import Holding, Person, Position

if TYPE_CHECKING:
    from rantai.approvals.models import ApprovalRequest

# How an approver was found (stored in StageApprover.via and Resolution.approvers).
VIA_HOLDER = "holder"  # holds the position the stage names (or reaches by levels)
VIA_ACTING = "acting"  # acting holder (Plt) of that position
VIA_NAMED = "named"  # the person the stage names
VIA_VACANT = "vacant_passed_up"  # the position had no holder: its superior decides
VIA_REQUESTER = "requester_passed_up"  # the only holder is the requester
VIA_REPEAT = "repeat_passed_up"  # the only holders decided at another stage
VIA_ESCALATED = "escalated"  # added when the stage's time limit passed

VIA_CODES = frozenset(
    {
        VIA_HOLDER,
        VIA_ACTING,
        VIA_NAMED,
        VIA_VACANT,
        VIA_REQUESTER,
        VIA_REPEAT,
        VIA_ESCALATED,
    }
)

DECIDER_ROLES = frozenset({Role.ADMIN.value, Role.MEMBER.value})

# Guards against a superior cycle (the org services refuse them; data is data).
MAX_CHAIN = 200


@dataclass(frozen=True, slots=True)
class Resolved:
    """One approver of a stage: the person, the position that gives them the
    authority (None for a named person), how they were found and, when passed up or
    escalated, the position it started from."""

    person_id: int
    position_id: int | None
    via: str
    acting: bool = False
    from_position_id: int | None = None

    def as_json(self) -> dict[str, Any]:
        return {
            "person": self.person_id,
            "position": self.position_id,
            "via": self.via,
            "acting": self.acting,
            "from_position": self.from_position_id,
        }

    @classmethod
    def from_json(cls, data: Mapping[str, Any]) -> Resolved:
        return cls(
            person_id=int(data["person"]),
            position_id=data.get("position"),
            via=str(data.get("via", VIA_HOLDER)),
            acting=bool(data.get("acting", False)),
            from_position_id=data.get("from_position"),
        )


def as_json(approvers: Iterable[Resolved]) -> list[dict[str, Any]]:
    return [approver.as_json() for approver in approvers]


def via_text(
    via: str,
    *,
    position: str | None = None,
    from_position: str | None = None,
    acting: bool = False,
) -> str:
    """How an approver was found, in the reader's language (position titles given
    by the caller, who has them loaded)."""
    holder = (
        _("acting holder (Plt) of %(position)s")
        if acting
        else _("holder of %(position)s")
    ) % {"position": position or "?"}
    if via in (VIA_HOLDER, VIA_ACTING):
        return holder
    if via == VIA_NAMED:
        return _("named in the route")
    if via == VIA_ESCALATED:
        return _("escalated: %(holder)s, above %(from)s") % {
            "holder": holder,
            "from": from_position or "?",
        }
    texts = {
        VIA_VACANT: _("vacant: %(from)s → %(holder)s"),
        VIA_REQUESTER: _("the requester holds %(from)s → %(holder)s"),
        VIA_REPEAT: _("%(from)s already decided at another stage → %(holder)s"),
    }
    text = texts.get(via)
    if text is None:
        return via
    return text % {"from": from_position or "?", "holder": holder}


def nobody_error(stage: RouteStage | RequestStage) -> ValidationFailed:
    name = stage.stage.name if isinstance(stage, RequestStage) else stage.name
    order = stage.order
    return ValidationFailed(
        {
            "approvers": [
                _(
                    "Nobody can approve stage %(order)d (%(name)s): no position up the "
                    "superior line has a holder who may decide."
                )
                % {"order": order, "name": name}
            ]
        },
        code="no_approver",
    )


def local_date(organisation: Organisation, moment: dt.datetime) -> dt.date:
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


@dataclass(frozen=True, slots=True)
class _Holder:
    person_id: int
    acting: bool


class Resolver:
    """The organisation at one moment, read lazily and kept: the superior chains of
    the positions asked about and their eligible holders."""

    def __init__(self, organisation: Organisation, *, at: dt.datetime) -> None:
        self.organisation = organisation
        self.at = at
        self.day = local_date(organisation, at)
        # position id -> (superior id, active)
        self._positions: dict[int, tuple[int | None, bool]] = {}
        # position id -> eligible holders (definitive first, then by person)
        self._holders: dict[int, list[_Holder]] = {}
        self._eligible_people: dict[int, bool] = {}
        self._held_by: dict[int, list[int]] = {}

    # --- reading the organisation ----------------------------------------------------

    def load_chains(self, position_ids: Iterable[int | None]) -> None:
        """Each position and its whole superior line (one recursive query for those
        not read yet), and the eligible holders of all of them (one more)."""
        wanted = sorted(
            {p for p in position_ids if p is not None} - set(self._positions)
        )
        if wanted:
            table = sql.table(Position)
            rows = sql.fetchall(
                "WITH RECURSIVE chain(id, superior_id, is_active) AS ("  # noqa: S608 - identifiers from model metadata
                f"SELECT id, superior_id, is_active FROM {table} "
                f"WHERE organisation_id = %s AND id IN {sql.in_list(wanted)} "
                f"UNION SELECT p.id, p.superior_id, p.is_active FROM {table} p "
                "JOIN chain c ON p.id = c.superior_id WHERE p.organisation_id = %s) "
                "SELECT id, superior_id, is_active FROM chain",
                [self.organisation.pk, *wanted, self.organisation.pk],
            )
            for pk, superior_id, is_active in rows:
                self._positions[pk] = (superior_id, bool(is_active))
        missing = sorted(set(self._positions) - set(self._holders))
        if missing:
            self._load_holders(missing)

    def _load_holders(self, position_ids: Sequence[int]) -> None:
        """The eligible current holders of the positions: definitive or acting,
        an active person with an active login that has an administrator or
        member membership of the organisation. One statement."""
        for pk in position_ids:
            self._holders[pk] = []
        day = connection.ops.adapt_datefield_value(self.day)
        organisation_id = self.organisation.pk
        rows = sql.fetchall(
            "SELECT h.position_id, h.person_id, h.is_acting "  # noqa: S608 - identifiers from model metadata
            f"FROM {sql.table(Holding)} h "
            f"JOIN {sql.table(Person)} p ON p.id = h.person_id "
            f"JOIN {sql.table(User)} u ON u.id = p.user_id "
            "WHERE h.organisation_id = %s "
            f"AND h.position_id IN {sql.in_list(position_ids)} "
            "AND h.start_date <= %s AND (h.end_date IS NULL OR h.end_date >= %s) "
            "AND p.is_active = %s AND u.is_active = %s "
            f"AND EXISTS (SELECT 1 FROM {sql.table(Membership)} m "
            "WHERE m.organisation_id = %s AND m.user_id = p.user_id "
            f"AND m.is_active = %s AND m.role IN {sql.quoted(DECIDER_ROLES)}) "
            "ORDER BY h.position_id, h.is_acting, h.person_id",
            [
                organisation_id,
                *position_ids,
                day,
                day,
                True,
                True,
                organisation_id,
                True,
            ],
        )
        for position_id, person_id, is_acting in rows:
            holders = self._holders[position_id]
            if any(h.person_id == person_id for h in holders):
                continue  # definitive and acting at once: definitive came first
            holders.append(_Holder(person_id, bool(is_acting)))
            self._eligible_people[person_id] = True

    def superior(self, position_id: int) -> int | None:
        return self._positions.get(position_id, (None, False))[0]

    def holders(self, position_id: int) -> list[_Holder]:
        active = self._positions.get(position_id, (None, False))[1]
        return self._holders.get(position_id, []) if active else []

    def person_is_eligible(self, person_id: int) -> bool:
        """An active person with an active login that may decide (administrator or
        member of the organisation)."""
        if person_id not in self._eligible_people:
            self._eligible_people[person_id] = (
                Person.objects.filter(
                    pk=person_id,
                    organisation_id=self.organisation.pk,
                    is_active=True,
                    user__is_active=True,
                )
                .filter(_may_decide(self.organisation.pk, "user_id"))
                .exists()
            )
        return self._eligible_people[person_id]

    def positions_held_by(self, person_id: int) -> list[int]:
        """The positions the person holds on the day (acting included), whether or
        not they may decide."""
        if person_id not in self._held_by:
            self._held_by[person_id] = sorted(
                set(
                    Holding.objects.current(self.day)
                    .filter(organisation_id=self.organisation.pk, person_id=person_id)
                    .values_list("position_id", flat=True)
                )
            )
        return self._held_by[person_id]

    # --- the walk up the superior line -------------------------------------------------

    def walk(
        self,
        start: int | None,
        *,
        excluded_requester: int,
        excluded_repeat: frozenset[int],
        origin: int | None = None,
        reason: str | None = None,
    ) -> list[Resolved]:
        """The eligible holders of `start`, or — when it has none once the requester
        and repeat approvers are left out — of the first position up its superior
        line that has some. `origin`/`reason` name where and why the passing up
        began when it began before `start`."""
        position = start
        origin = origin if origin is not None else start
        steps = 0
        while position is not None and steps < MAX_CHAIN:
            steps += 1
            holders = self.holders(position)
            kept = [
                h
                for h in holders
                if h.person_id != excluded_requester
                and h.person_id not in excluded_repeat
            ]
            if kept:
                passed = reason is not None
                return [
                    Resolved(
                        person_id=h.person_id,
                        position_id=position,
                        via=(
                            reason
                            if passed and reason is not None
                            else (VIA_ACTING if h.acting else VIA_HOLDER)
                        ),
                        acting=h.acting,
                        from_position_id=origin if passed else None,
                    )
                    for h in kept
                ]
            if reason is None:
                if not holders:
                    reason = VIA_VACANT
                elif any(h.person_id == excluded_requester for h in holders):
                    reason = VIA_REQUESTER
                else:
                    reason = VIA_REPEAT
            position = self.superior(position)
        return []

    def levels_up(self, start: int, levels: int) -> int | None:
        position: int | None = start
        for _step in range(levels):
            if position is None:
                return None
            position = self.superior(position)
        return position

    # --- one stage -----------------------------------------------------------------

    def resolve(
        self, request_stage: RequestStage, *, repeat: frozenset[int] | None = None
    ) -> list[Resolved]:
        """The approvers of the stage now (ValidationFailed when there is nobody).
        `repeat`: the people left out as repeat approvers, when already known."""
        request = request_stage.request
        stage = request_stage.stage
        requester = request.requester_id
        if repeat is None:
            repeat = (
                frozenset()
                if request.route_version.allow_repeat_approver
                else repeat_approvers(request, exclude_stage_id=request_stage.pk)
            )
        found: list[Resolved] = []
        if stage.rule == ApproverRule.PERSON:
            found = self._named(stage, requester=requester, repeat=repeat)
        else:
            start = self._start_position(request, stage)
            found = (
                []
                if start is None
                else self.walk(
                    start, excluded_requester=requester, excluded_repeat=repeat
                )
            )
        if not found:
            raise nobody_error(request_stage)
        return _unique(found)

    def _start_position(
        self, request: ApprovalRequest, stage: RouteStage
    ) -> int | None:
        rule = stage.rule
        if rule == ApproverRule.SUPERIOR:
            if request.requester_position_id is None:
                return None
            self.load_chains([request.requester_position_id])
            return self.levels_up(request.requester_position_id, stage.levels)
        if rule == ApproverRule.POSITION:
            start = stage.position_id
        elif rule == ApproverRule.UNIT_HEAD:
            start = stage.party.head_position_id if stage.party_id else None  # type: ignore[union-attr]
        elif rule == ApproverRule.STEP_ACCOUNTABLE:
            adapter = subjects.adapter_for(request.subject_kind)
            start = adapter.accountable_position_id(adapter.load(request.subject_id))
        else:
            raise ValueError(f"unknown approver rule {rule!r}")
        self.load_chains([start])
        return start

    def _named(
        self, stage: RouteStage, *, requester: int, repeat: frozenset[int]
    ) -> list[Resolved]:
        person_id = stage.person_id
        if person_id is None:
            return []
        if (
            person_id != requester
            and person_id not in repeat
            and self.person_is_eligible(person_id)
        ):
            return [Resolved(person_id, None, VIA_NAMED)]
        # Not available, the requester, or decided already: the superiors of the
        # positions the person holds decide instead.
        if person_id == requester:
            reason = VIA_REQUESTER
        elif person_id in repeat:
            reason = VIA_REPEAT
        else:
            reason = VIA_VACANT
        held = self.positions_held_by(person_id)
        self.load_chains(held)
        found: list[Resolved] = []
        for position in held:
            found.extend(
                self.walk(
                    self.superior(position),
                    excluded_requester=requester,
                    excluded_repeat=repeat,
                    origin=position,
                    reason=reason,
                )
            )
        return found

    # --- escalation ------------------------------------------------------------------

    def superiors_of(
        self,
        approvers: Sequence[Resolved],
        *,
        requester: int,
        exclude: frozenset[int],
    ) -> list[Resolved]:
        """The holders of the positions above the given approvers' (for a named
        approver: above the positions they hold), passing vacancies up; people in
        `exclude` (the current approvers) and the requester are left out."""
        origins: list[int] = []
        for approver in approvers:
            if approver.position_id is not None:
                origins.append(approver.position_id)
            else:
                origins.extend(self.positions_held_by(approver.person_id))
        self.load_chains(origins)
        found: list[Resolved] = []
        for origin in dict.fromkeys(origins):
            for resolved in self.walk(
                self.superior(origin),
                excluded_requester=requester,
                excluded_repeat=exclude,
                origin=origin,
                reason=VIA_ESCALATED,
            ):
                found.append(resolved)
        return _unique(found)


def _may_decide(organisation_id: int, user_field: str) -> Exists:
    return Exists(
        Membership.objects.filter(
            organisation_id=organisation_id,
            user_id=OuterRef(user_field),
            is_active=True,
            role__in=(Role.ADMIN, Role.MEMBER),
        )
    )


def _unique(found: Iterable[Resolved]) -> list[Resolved]:
    """One entry per person (the first found), in a stable order."""
    seen: dict[int, Resolved] = {}
    for resolved in found:
        seen.setdefault(resolved.person_id, resolved)
    return list(seen.values())


def repeat_approvers(
    request: ApprovalRequest, *, exclude_stage_id: int
) -> frozenset[int]:
    """People whose current decision counts at another stage of the request (as the
    approver or as the one who decided on their behalf)."""
    rows = (
        Decision.objects.filter(request_id=request.pk, is_current=True)
        .exclude(request_stage_id=exclude_stage_id)
        .values_list("slot_person_id", "decided_by_person_id")
    )
    return frozenset(pk for row in rows for pk in row)


def resolve(request_stage: RequestStage, *, at: dt.datetime) -> list[Resolved]:
    """The approvers of a request stage at the moment `at` (see the module text).

    `request_stage` should come with its request (and the request's route version
    and organisation) and its route stage loaded; a handful of queries."""
    organisation = request_stage.request.organisation
    return Resolver(organisation, at=at).resolve(request_stage)


__all__ = [
    "VIA_ACTING",
    "VIA_CODES",
    "VIA_ESCALATED",
    "VIA_HOLDER",
    "VIA_NAMED",
    "VIA_REPEAT",
    "VIA_REQUESTER",
    "VIA_VACANT",
    "Resolved",
    "Resolver",
    "as_json",
    "local_date",
    "nobody_error",
    "repeat_approvers",
    "resolve",
    "via_text",
]
