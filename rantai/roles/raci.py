"""The RACI matrix of a procedure version, editing a cell of a draft, and the roles
of a person ("my roles") and of a party (docs/design-roles.md, "RACI matrix").

The rows are chains' `StepRole`s: responsible may be a position or an external
party, accountable, consulted and informed are positions. Editing goes through
`chains.services.add_step_role` / `remove_step_role`, so the rights (administrators
and holders of the procedure's owner position) and the rules (one accountable,
parties only responsible) are the chains' own. Every read runs a fixed number of
queries, whatever the size of the version or the organisation.
"""

from __future__ import annotations

import datetime as dt
import zoneinfo
from collections import defaultdict
from collections.abc import Iterable
from dataclasses import dataclass, field

from django.db import transaction
from django.db.models import Q
from django.utils import timezone
from django.utils.translation import gettext as _

from rantai.accounts.access import Access
from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.chains import services as chains
from rantai.chains.models import (
    ProcedureVersion,
    RaciRole,
    Step,
    StepRole,
    VersionStatus,
)
from rantai.core.errors import NotFound, PermissionDenied, ValidationFailed
from rantai.org.models import Holding, Party, PartyKind, Person, Position

__all__ = [
    "PARTY",
    "POSITION",
    "ROLE_ORDER",
    "Column",
    "Matrix",
    "PartyRole",
    "PersonRole",
    "Row",
    "matrix",
    "may_edit",
    "ordered_roles",
    "person_of",
    "roles_of_party",
    "roles_of_person",
    "roles_of_user",
    "set_cell",
    "visible_matrix",
]

POSITION = "position"
PARTY = "party"
# R, A, C, I: the order a cell lists its roles in.
ROLE_ORDER = tuple(role.value for role in RaciRole)
_RANK = {role: index for index, role in enumerate(ROLE_ORDER)}


def ordered_roles(roles: Iterable[str]) -> tuple[str, ...]:
    """The roles of a cell in R, A, C, I order."""
    return tuple(sorted(set(roles), key=_RANK.__getitem__))


def _local_date(
    organisation: Organisation, moment: dt.datetime | None = None
) -> dt.date:
    moment = moment or timezone.now()
    return moment.astimezone(zoneinfo.ZoneInfo(organisation.time_zone)).date()


# --- the matrix ---------------------------------------------------------------------


@dataclass(frozen=True, slots=True)
class Column:
    """A position or an external party with a role in the version."""

    kind: str  # POSITION | PARTY
    id: int
    title: str
    code: str
    party_id: int  # the position's party, or the party itself
    party_name: str
    is_external: bool

    @property
    def key(self) -> tuple[str, int]:
        return (self.kind, self.id)


@dataclass(frozen=True, slots=True)
class Row:
    """A step of the version, in sort order."""

    step_id: int
    key: str
    name: str
    sort_order: int
    requires_consultation: bool


@dataclass(frozen=True, slots=True)
class Matrix:
    """Steps × positions and parties; a cell is the set of roles (a position may be
    responsible and consulted on the same step)."""

    organisation_id: int
    procedure_id: int
    procedure_code: str
    procedure_name: str
    owner_position_id: int
    version_id: int
    number: int
    status: str
    rows: tuple[Row, ...]
    columns: tuple[Column, ...]
    cells: dict[tuple[int, tuple[str, int]], frozenset[str]] = field(
        default_factory=dict
    )

    @property
    def is_draft(self) -> bool:
        return self.status == VersionStatus.DRAFT

    def cell(self, step_id: int, column: Column | tuple[str, int]) -> frozenset[str]:
        key = column.key if isinstance(column, Column) else column
        return self.cells.get((step_id, key), frozenset())

    def roles_in(
        self, step_id: int, column: Column | tuple[str, int]
    ) -> tuple[str, ...]:
        """The cell's roles in R, A, C, I order."""
        return ordered_roles(self.cell(step_id, column))

    def label(self, step_id: int, column: Column | tuple[str, int]) -> str:
        """The cell as written in a table: "R", "R, C", or ""."""
        return ", ".join(self.roles_in(step_id, column))

    def accountable_of(self, step_id: int) -> list[Column]:
        return [
            column
            for column in self.columns
            if RaciRole.ACCOUNTABLE in self.cell(step_id, column)
        ]


def _column_order(column: Column) -> tuple[str, int, int, str, int]:
    # By party, the party itself before its positions, then by title.
    return (
        column.party_name.casefold(),
        column.party_id,
        0 if column.kind == PARTY else 1,
        column.title.casefold(),
        column.id,
    )


def matrix(version: ProcedureVersion) -> Matrix:
    """The RACI matrix of `version`: three queries, whatever its size."""
    version = ProcedureVersion.objects.select_related("procedure").get(pk=version.pk)
    rows = tuple(
        Row(pk, key, name, sort_order, bool(consultation))
        for pk, key, name, sort_order, consultation in Step.objects.filter(
            procedure_version_id=version.pk
        )
        .order_by("sort_order", "id")
        .values_list("pk", "key", "name", "sort_order", "requires_consultation")
    )
    columns: dict[tuple[str, int], Column] = {}
    cells: dict[tuple[int, tuple[str, int]], set[str]] = defaultdict(set)
    for step_role in StepRole.objects.filter(
        step__procedure_version_id=version.pk
    ).select_related("position__party", "party"):
        column = _column_of(step_role)
        columns.setdefault(column.key, column)
        cells[(step_role.step_id, column.key)].add(step_role.role)
    procedure = version.procedure
    return Matrix(
        organisation_id=version.organisation_id,
        procedure_id=procedure.pk,
        procedure_code=procedure.code,
        procedure_name=procedure.name,
        owner_position_id=procedure.owner_position_id,
        version_id=version.pk,
        number=version.number,
        status=version.status,
        rows=rows,
        columns=tuple(sorted(columns.values(), key=_column_order)),
        cells={key: frozenset(roles) for key, roles in cells.items()},
    )


def _column_of(step_role: StepRole) -> Column:
    if step_role.position is not None:
        position = step_role.position
        return Column(
            kind=POSITION,
            id=position.pk,
            title=position.title,
            code=position.code,
            party_id=position.party_id,
            party_name=position.party.name,
            is_external=position.party.kind == PartyKind.EXTERNAL_PARTNER,
        )
    party = step_role.party
    assert party is not None  # a step role names a position or a party
    return Column(
        kind=PARTY,
        id=party.pk,
        title=party.name,
        code=party.code,
        party_id=party.pk,
        party_name=party.name,
        is_external=party.kind == PartyKind.EXTERNAL_PARTNER,
    )


def visible_matrix(access: Access, version: ProcedureVersion) -> Matrix:
    """The matrix as `access` may see it: whole for administrators, members and
    auditors; for a partner, only the columns of its own party (the party and its
    positions) and the steps where one of them has a role — of published or
    retired versions its party takes part in (anything else: NotFound)."""
    if version.organisation_id != access.organisation.pk:
        raise NotFound()
    whole = matrix(version)
    party_id = access.partner_party_id
    if access.sees_whole_organisation:
        return whole
    if party_id is None or whole.is_draft:
        raise NotFound()
    columns = tuple(c for c in whole.columns if c.party_id == party_id)
    keys = {column.key for column in columns}
    cells = {key: roles for key, roles in whole.cells.items() if key[1] in keys}
    steps = {step_id for step_id, _column in cells}
    if not steps:
        raise NotFound()
    return Matrix(
        organisation_id=whole.organisation_id,
        procedure_id=whole.procedure_id,
        procedure_code=whole.procedure_code,
        procedure_name=whole.procedure_name,
        owner_position_id=whole.owner_position_id,
        version_id=whole.version_id,
        number=whole.number,
        status=whole.status,
        rows=tuple(row for row in whole.rows if row.step_id in steps),
        columns=columns,
        cells=cells,
    )


# --- editing a cell --------------------------------------------------------------------


def _editor_membership(organisation_id: int, user: User | None) -> Membership | None:
    if user is None or not user.is_active:
        return None
    return Membership.objects.filter(
        organisation_id=organisation_id, user_id=user.pk, is_active=True
    ).first()


def may_edit(version: ProcedureVersion, user: User | None) -> bool:
    """Whether `user` may change the matrix: a draft, and an administrator or a
    holder of the procedure's owner position (acting counts) — chains' own rule."""
    if version.status != VersionStatus.DRAFT:
        return False
    membership = _editor_membership(version.organisation_id, user)
    if membership is None or user is None:
        return False
    if membership.role == Role.ADMIN:
        return True
    if membership.role != Role.MEMBER:
        return False
    procedure = version.procedure
    return chains.holds_position(
        procedure.organisation, user, procedure.owner_position_id
    )


def _require_editor(version: ProcedureVersion, actor: User) -> None:
    """chains' `_require_procedure_editor`, asked before anything else, so someone
    without the right learns nothing (also when the cell would not change)."""
    membership = _editor_membership(version.organisation_id, actor)
    if membership is None:
        raise NotFound()
    if membership.role == Role.ADMIN:
        return
    procedure = version.procedure
    if membership.role != Role.MEMBER or not chains.holds_position(
        procedure.organisation, actor, procedure.owner_position_id
    ):
        raise PermissionDenied(
            _("Only administrators and the procedure's owner can change it.")
        )


def _clean_roles(roles: Iterable[str], *, party: Party | None) -> set[str]:
    wanted = {str(role) for role in roles}
    unknown = wanted - set(ROLE_ORDER)
    if unknown:
        raise ValidationFailed(
            {
                "roles": [
                    _("Unknown role “%(role)s”: use R, A, C or I.") % {"role": role}
                    for role in sorted(unknown)
                ]
            }
        )
    if party is not None and wanted - {RaciRole.RESPONSIBLE}:
        raise ValidationFailed(
            {"roles": [_("An external party can only be responsible for a step.")]}
        )
    return wanted


@transaction.atomic
def set_cell(
    step: Step,
    *,
    actor: User,
    position: Position | None = None,
    party: Party | None = None,
    roles: Iterable[str],
) -> frozenset[str]:
    """Make the roles of `position` (or of the external `party`) on `step` exactly
    `roles` (a subset of R, A, C, I; empty clears the cell), in one transaction:
    the roles no longer wanted are removed and the new ones added through the
    chains services. A draft only; a second accountable is refused."""
    if (position is None) == (party is None):
        raise ValidationFailed(
            {"__all__": [_("Name either a position or a party, not both.")]}
        )
    # Lock the version first, as chains' own edits do (then the step roles), so a
    # concurrent publish or edit of the same draft waits instead of interleaving.
    version = (
        ProcedureVersion.objects.select_for_update(of=("self",))
        .select_related("procedure__organisation")
        .get(pk=step.procedure_version_id)
    )
    _require_editor(version, actor)
    if version.status != VersionStatus.DRAFT:
        raise ValidationFailed(
            _(
                "Version %(number)d is %(status)s and can no longer change; create a "
                "new draft to change the procedure."
            )
            % {"number": version.number, "status": version.get_status_display()}
        )
    subject = position if position is not None else party
    assert subject is not None
    if subject.organisation_id != version.organisation_id:
        name = "position" if position is not None else "party"
        raise ValidationFailed({name: [_("This belongs to another organisation.")]})
    wanted = _clean_roles(roles, party=party)
    existing = list(
        StepRole.objects.filter(step_id=step.pk).select_related("position", "party")
    )

    def is_subject(row: StepRole) -> bool:
        if position is not None:
            return row.position_id == position.pk
        return party is not None and row.party_id == party.pk

    mine = {row.role: row for row in existing if is_subject(row)}
    if RaciRole.ACCOUNTABLE in wanted and RaciRole.ACCOUNTABLE not in mine:
        other = next(
            (
                row
                for row in existing
                if row.role == RaciRole.ACCOUNTABLE and not is_subject(row)
            ),
            None,
        )
        if other is not None:
            raise ValidationFailed(
                {
                    "roles": [
                        _(
                            "Step “%(step)s” already has its accountable position, "
                            "%(position)s: a step has exactly one. Remove it there "
                            "first."
                        )
                        % {"step": step.name, "position": other.position}
                    ]
                }
            )
    for role, row in sorted(mine.items(), key=lambda item: _RANK[item[0]]):
        if role not in wanted:
            chains.remove_step_role(row, actor=actor)
    for role in ordered_roles(wanted - set(mine)):
        chains.add_step_role(
            step, actor=actor, role=role, position=position, party=party
        )
    return frozenset(wanted)


# --- a person's and a party's roles ----------------------------------------------------


@dataclass(frozen=True, slots=True)
class PersonRole:
    """One role of a person on a step of a published version, through a position
    they hold (`acting`: only as an acting holder, Plt)."""

    procedure_id: int
    procedure_code: str
    procedure_name: str
    version_id: int
    version_number: int
    step_id: int
    step_key: str
    step_name: str
    sort_order: int
    role: str
    position_id: int
    position_title: str
    party_id: int  # the position's party
    acting: bool


@dataclass(frozen=True, slots=True)
class PartyRole:
    """One role of a party on a step of a published version: the party itself
    (responsible) or one of its positions."""

    procedure_id: int
    procedure_code: str
    procedure_name: str
    version_id: int
    version_number: int
    step_id: int
    step_key: str
    step_name: str
    sort_order: int
    role: str
    position_id: int | None
    position_title: str


_PUBLISHED_ROLE_COLUMNS = (
    "step_id",
    "role",
    "position_id",
    "party_id",
    "step__key",
    "step__name",
    "step__sort_order",
    "step__procedure_version_id",
    "step__procedure_version__number",
    "step__procedure_version__procedure_id",
    "step__procedure_version__procedure__code",
    "step__procedure_version__procedure__name",
)


def _published_roles(organisation_id: int, condition: Q) -> list[tuple]:
    return list(
        StepRole.objects.filter(
            condition,
            organisation_id=organisation_id,
            step__procedure_version__status=VersionStatus.PUBLISHED,
        ).values_list(*_PUBLISHED_ROLE_COLUMNS, "position__title", "position__party_id")
    )


def _order(row: PersonRole | PartyRole) -> tuple[str, int, int, int, int, str]:
    return (
        row.procedure_name.casefold(),
        row.procedure_id,
        row.sort_order,
        row.step_id,
        _RANK[row.role],
        row.position_title.casefold(),
    )


def roles_of_person(person: Person, *, on: dt.date | None = None) -> list[PersonRole]:
    """Every role of `person` in the published versions: each step where a
    position they hold on `on` (the organisation's today by default; acting
    holders included) is responsible, accountable, consulted or informed. Ordered
    by procedure, step, role. Three queries."""
    person = Person.objects.select_related("organisation").get(pk=person.pk)
    day = on or _local_date(person.organisation)
    # position -> acting only (a definitive holding wins over an acting one)
    acting: dict[int, bool] = {}
    for position_id, is_acting in (
        Holding.objects.current(day)
        .filter(organisation_id=person.organisation_id, person_id=person.pk)
        .values_list("position_id", "is_acting")
    ):
        acting[position_id] = acting.get(position_id, True) and is_acting
    if not acting or not person.is_active:
        return []
    found = [
        PersonRole(
            procedure_id=row[9],
            procedure_code=row[10],
            procedure_name=row[11],
            version_id=row[7],
            version_number=row[8],
            step_id=row[0],
            step_key=row[4],
            step_name=row[5],
            sort_order=row[6],
            role=row[1],
            position_id=row[2],
            position_title=row[12],
            party_id=row[13],
            acting=acting[row[2]],
        )
        for row in _published_roles(
            person.organisation_id, Q(position_id__in=sorted(acting))
        )
    ]
    return sorted(found, key=_order)


def roles_of_party(party: Party) -> list[PartyRole]:
    """Every role of `party` in the published versions: the steps it is
    responsible for itself, and every role of its positions. One query."""
    found = [
        PartyRole(
            procedure_id=row[9],
            procedure_code=row[10],
            procedure_name=row[11],
            version_id=row[7],
            version_number=row[8],
            step_id=row[0],
            step_key=row[4],
            step_name=row[5],
            sort_order=row[6],
            role=row[1],
            position_id=row[2],
            position_title=row[12] or "",
        )
        for row in _published_roles(
            party.organisation_id, Q(party_id=party.pk) | Q(position__party_id=party.pk)
        )
    ]
    return sorted(found, key=_order)


def person_of(access: Access) -> Person | None:
    """The caller's own active person in the organisation, if their login has one."""
    return (
        Person.objects.select_related("organisation")
        .filter(
            organisation_id=access.organisation.pk,
            user_id=access.user.pk,
            is_active=True,
        )
        .first()
    )


def roles_of_user(access: Access, *, on: dt.date | None = None) -> list[PersonRole]:
    """ "My roles": `roles_of_person` of the caller's own person (none without one).
    A partner's person holds only positions of its party, so it sees only those."""
    person = person_of(access)
    if person is None:
        return []
    roles = roles_of_person(person, on=on)
    party_id = access.partner_party_id
    if party_id is not None:
        roles = [role for role in roles if role.party_id == party_id]
    return roles
