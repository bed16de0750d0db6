"""Import an organisation from a workbook: all or nothing.

The file is read and checked in full first; every problem is reported with its
sheet, row and column. Only a file without problems is written, in one transaction,
creating new objects and updating existing ones found by their code or employee
number (it never deletes). The rules are those of `rantai.org.services`; the rows
are written with the model layer and audited with one `record_many` call at the
end, so the lock on the audit chain head is taken last (docs/decisions/0003).
"""

from __future__ import annotations

import datetime as dt
import re
import zoneinfo
from collections import defaultdict
from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any

from django.core.exceptions import ValidationError
from django.db import IntegrityError, models, transaction
from django.utils import timezone
from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from rantai.accounts.models import Organisation, User
from rantai.audit import services as audit
from rantai.audit import writes
from rantai.audit.models import AuditVerb
from rantai.core.concurrency import compare_and_set
from rantai.core.errors import Conflict
from rantai.org.models import Duty, Holding, Party, PartyKind, Person, Position
from rantai.org.services import (
    DUTY_FIELDS,
    HOLDING_FIELDS,
    PARTY_FIELDS,
    PERSON_FIELDS,
    POSITION_FIELDS,
)
from rantai.org.transfer.errors import ImportRejected, RowError
from rantai.org.transfer.parsing import (
    CellError,
    RawSheet,
    normalise_text,
    parse_bool,
    parse_date,
    parse_int,
    parse_text,
    read_workbook,
)
from rantai.org.transfer.schema import (
    HOLDER_PERSON_COLUMNS,
    HOLDERS,
    SHEET_NAMES,
    SHEETS,
    SheetSpec,
    normalise_name,
)

Progress = Callable[[str], None]

MAX_HOLDERS_LIMIT = 32767  # PositiveSmallIntegerField

KIND_WORDS = {
    PartyKind.INTERNAL_UNIT: {
        "internal_unit", "internal", "unit", "unit_internal", "unit_kerja", "satuan_kerja",
    },
    PartyKind.EXTERNAL_PARTNER: {
        "external_partner", "external", "partner", "mitra", "mitra_eksternal",
        "pihak_eksternal", "eksternal", "mitra_kerja",
    },
}  # fmt: skip


# --- the result ---------------------------------------------------------------------


@dataclass
class SheetCounts:
    sheet: str
    created: int = 0
    updated: int = 0
    unchanged: int = 0


@dataclass
class ImportResult:
    """What an import did (or, for a dry run, would do), sheet by sheet."""

    counts: dict[str, SheetCounts]
    warnings: list[RowError] = field(default_factory=list)
    dry_run: bool = False

    @property
    def sheets(self) -> list[SheetCounts]:
        return [self.counts[name] for name in SHEET_NAMES if name in self.counts]

    @property
    def created(self) -> dict[str, int]:
        return {c.sheet: c.created for c in self.sheets}

    @property
    def updated(self) -> dict[str, int]:
        return {c.sheet: c.updated for c in self.sheets}

    @property
    def total_created(self) -> int:
        return sum(c.created for c in self.sheets)

    @property
    def total_updated(self) -> int:
        return sum(c.updated for c in self.sheets)

    @property
    def changed(self) -> bool:
        return bool(self.total_created or self.total_updated)


# --- tables: a sheet with its columns understood ---------------------------------------


@dataclass
class Table:
    spec: SheetSpec
    title: str
    columns: dict[str, int]
    headers: dict[str, str]
    rows: list[tuple[int, list[Any]]]

    def has(self, name: str) -> bool:
        return name in self.columns

    def raw(self, values: list[Any], name: str) -> Any:
        index = self.columns.get(name)
        if index is None or index >= len(values):
            return None
        return values[index]

    def header(self, name: str) -> str:
        return self.headers.get(name, name)


def _tables(
    sheets: Mapping[str, RawSheet], warnings: list[RowError]
) -> tuple[dict[str, Table], list[RowError]]:
    """Match each sheet's headers to columns; missing required columns are errors."""
    tables: dict[str, Table] = {}
    errors: list[RowError] = []
    for spec in SHEETS:
        sheet = sheets.get(spec.name)
        if sheet is None:
            continue
        columns: dict[str, int] = {}
        headers: dict[str, str] = {}
        for index, header in enumerate(sheet.headers):
            if not header:
                continue
            name = spec.canonical_column(header)
            if name is None:
                warnings.append(
                    RowError(
                        sheet.title,
                        None,
                        header,
                        _("Rantai does not know this column; it was ignored."),
                    )
                )
            elif name in columns:
                errors.append(
                    RowError(
                        sheet.title,
                        None,
                        header,
                        _(
                            "The column %(name)s appears twice (as “%(first)s” and “%(second)s”)."
                        )
                        % {"name": name, "first": headers[name], "second": header},
                    )
                )
            else:
                columns[name] = index
                headers[name] = header
        for name in spec.required_columns:
            if name not in columns:
                errors.append(
                    RowError(
                        sheet.title, None, name, _("This required column is missing.")
                    )
                )
        if spec is HOLDERS and not any(
            name in columns for name in HOLDER_PERSON_COLUMNS
        ):
            errors.append(
                RowError(
                    sheet.title,
                    None,
                    "employee_number",
                    _(
                        "The sheet needs an employee_number or a full_name column to "
                        "say who holds each position."
                    ),
                )
            )
        tables[spec.name] = Table(spec, sheet.title, columns, headers, sheet.rows)
    return tables, errors


# --- nodes: the organisation as it will be after the import ----------------------------


@dataclass(eq=False)
class UnitNode:
    code: str
    kind: str
    name: str
    description: str
    parent_code: str | None
    head_code: str | None
    instance: Party | None = None
    row: int | None = None

    @property
    def is_active(self) -> bool:
        return self.instance is None or self.instance.is_active


@dataclass(eq=False)
class PositionNode:
    code: str
    title: str
    unit_code: str
    superior_code: str | None
    max_holders: int
    job_summary: str
    instance: Position | None = None
    row: int | None = None

    @property
    def is_active(self) -> bool:
        return self.instance is None or self.instance.is_active


@dataclass(eq=False)
class DutyPlan:
    position_code: str
    title: str
    output_unit: str
    description: str
    instance: Duty | None
    row: int


@dataclass(eq=False)
class PersonNode:
    employee_number: str
    full_name: str
    email: str
    party_code: str | None
    instance: Person | None = None
    row: int | None = None

    @property
    def is_active(self) -> bool:
        return self.instance is None or self.instance.is_active


@dataclass(eq=False)
class HoldingNode:
    position_code: str
    person: PersonNode
    start_date: dt.date
    end_date: dt.date | None
    is_acting: bool
    instance: Holding | None = None
    row: int | None = None

    def overlaps(self, start: dt.date, end: dt.date | None) -> bool:
        return (end is None or self.start_date <= end) and (
            self.end_date is None or start <= self.end_date
        )


def _name_key(name: str) -> str:
    return " ".join(name.split()).casefold()


def _blank_to_none(text: str) -> str | None:
    return text or None


# --- the importer ---------------------------------------------------------------------


class _Importer:
    """Builds the organisation as it will be, collecting every problem on the way."""

    def __init__(self, organisation: Organisation, tables: dict[str, Table]) -> None:
        self.organisation = organisation
        self.tables = tables
        self.errors: list[RowError] = []
        self.warnings: list[RowError] = []
        self._flagged: set[tuple[str, int | None, str]] = set()
        self._error_order: list[tuple[int, int]] = []
        self._folded: dict[int, dict[str, str]] = {}
        # final state, by key
        self.units: dict[str, UnitNode] = {}
        self.positions: dict[str, PositionNode] = {}
        self.people: list[PersonNode] = []
        self.holdings: list[HoldingNode] = []
        # what the file says
        self.file_units: list[UnitNode] = []
        self.file_positions: list[PositionNode] = []
        self.file_duties: list[DutyPlan] = []
        self.file_people: list[PersonNode] = []
        self.file_holdings: list[HoldingNode] = []
        self.counts = {name: SheetCounts(name) for name in tables}

    # -- reporting

    def error(self, table: Table, row: int | None, column: str, message: str) -> None:
        """Record a problem; only the first one per cell is kept."""
        key = (table.spec.name, row, column)
        if key in self._flagged:
            return
        self._flagged.add(key)
        self.errors.append(RowError(table.title, row, table.header(column), message))
        self._error_order.append((SHEET_NAMES.index(table.spec.name), row or 0))

    def sorted_errors(self) -> list[RowError]:
        """Sheet by sheet, row by row; problems of one row in the order found."""
        pairs = sorted(
            zip(self._error_order, self.errors, strict=True), key=lambda p: p[0]
        )
        return [error for _key, error in pairs]

    def warn(self, table: Table, row: int | None, column: str, message: str) -> None:
        self.warnings.append(RowError(table.title, row, table.header(column), message))

    def has_error(self, table: Table, row: int, column: str) -> bool:
        return (table.spec.name, row, column) in self._flagged

    # -- reading cells

    def text(self, table: Table, number: int, values: list[Any], column: str) -> str:
        return parse_text(table.raw(values, column))

    def employee_number(self, table: Table, number: int, values: list[Any]) -> str:
        """An employee number; refused when a spreadsheet has already rounded it."""
        raw = table.raw(values, "employee_number")
        text = parse_text(raw)
        rounded = (isinstance(raw, float) and abs(raw) >= 1e15) or bool(
            re.fullmatch(r"\d+([.,]\d+)?[eE]\+?\d+", text)
        )
        if rounded:
            self.error(
                table,
                number,
                "employee_number",
                _(
                    "The spreadsheet has turned this long number into %(value)s and lost "
                    "its last digits. Format the column as Text and type the number "
                    "again."
                )
                % {"value": f"{raw:.14E}" if isinstance(raw, float) else text},
            )
        return text

    def required(
        self, table: Table, number: int, values: list[Any], column: str
    ) -> str:
        value = self.text(table, number, values, column)
        if not value:
            self.error(table, number, column, _("This cell is required."))
        return value

    def check_fields(
        self,
        table: Table,
        number: int,
        model: type[models.Model],
        values: Mapping[str, tuple[str, Any]],
    ) -> None:
        """The model's own field rules (lengths, e-mail, choices), reported per column.

        `values` maps a column to (model field, value).
        """
        for column, (name, value) in values.items():
            try:
                model._meta.get_field(name).clean(value, None)  # type: ignore[union-attr]
            except ValidationError as error:
                self.error(table, number, column, error.messages[0])

    def unknown(
        self, table: Table, number: int, column: str, code: str, known: Iterable[str]
    ) -> None:
        """A reference to a code that is neither in the file nor in Rantai."""
        if known is self.positions:
            message = _(
                "No position has the code “%(code)s” in this file or in Rantai."
            )
        elif column == "parent_code":
            message = _("No unit has the code “%(code)s” in this file or in Rantai.")
        else:
            message = _(
                "No unit or partner has the code “%(code)s” in this file or in Rantai."
            )
        message %= {"code": code}
        index = self._folded.get(id(known))
        if index is None:
            index = self._folded[id(known)] = {k.casefold(): k for k in known}
        similar = index.get(code.casefold())
        if similar is not None:
            message += " " + _("Codes are case-sensitive: did you mean “%(code)s”?") % {
                "code": similar
            }
        self.error(table, number, column, message)

    # -- loading what exists

    def load(self) -> None:
        organisation = self.organisation
        parties = list(Party.objects.filter(organisation=organisation))
        party_codes = {p.pk: p.code for p in parties}
        positions = list(Position.objects.filter(organisation=organisation))
        position_codes = {p.pk: p.code for p in positions}
        for party in parties:
            self.units[party.code] = UnitNode(
                code=party.code,
                kind=party.kind,
                name=party.name,
                description=party.description,
                parent_code=party_codes.get(party.parent_id)
                if party.parent_id
                else None,
                head_code=position_codes.get(party.head_position_id)
                if party.head_position_id
                else None,
                instance=party,
            )
        for position in positions:
            self.positions[position.code] = PositionNode(
                code=position.code,
                title=position.title,
                unit_code=party_codes[position.party_id],
                superior_code=position_codes.get(position.superior_id)
                if position.superior_id
                else None,
                max_holders=position.max_holders,
                job_summary=position.job_summary,
                instance=position,
            )
        self.db_duties: dict[tuple[str, str], Duty] = {}
        self.db_duty_order: dict[str, int] = defaultdict(int)
        if "duties" in self.tables:
            for duty in Duty.objects.filter(organisation=organisation).order_by(
                "-is_active", "id"
            ):
                code = position_codes[duty.position_id]
                self.db_duties.setdefault((code, duty.title), duty)
                self.db_duty_order[code] = max(
                    self.db_duty_order[code], duty.sort_order
                )
        people = list(Person.objects.filter(organisation=organisation))
        people_by_pk: dict[int, PersonNode] = {}
        for person in people:
            node = PersonNode(
                employee_number=person.employee_number,
                full_name=person.full_name,
                email=person.email,
                party_code=party_codes.get(person.party_id)
                if person.party_id
                else None,
                instance=person,
            )
            self.people.append(node)
            people_by_pk[person.pk] = node
        if "holders" in self.tables:
            table = self.tables["holders"]
            codes = {
                parse_text(table.raw(values, "position_code"))
                for _n, values in table.rows
            }
            # Serialise appointments to these positions, as assign_holder does.
            locked = [p.pk for p in positions if p.code in codes]
            list(
                Position.objects.select_for_update()
                .filter(pk__in=locked)
                .order_by("pk")
                .values_list("pk", flat=True)
            )
        if "holders" in self.tables or "positions" in self.tables:
            for holding in Holding.objects.filter(organisation=organisation):
                self.holdings.append(
                    HoldingNode(
                        position_code=position_codes[holding.position_id],
                        person=people_by_pk[holding.person_id],
                        start_date=holding.start_date,
                        end_date=holding.end_date,
                        is_acting=holding.is_acting,
                        instance=holding,
                    )
                )

    # -- reading the sheets

    def read_units(self) -> None:
        table = self.tables.get("units")
        if table is None:
            return
        seen: dict[str, int] = {}
        for number, values in table.rows:
            code = self.required(table, number, values, "code")
            name = self.required(table, number, values, "name")
            existing = self.units.get(code) if code else None
            instance = existing.instance if existing else None
            kind_text = self.text(table, number, values, "kind")
            kind = instance.kind if instance else PartyKind.INTERNAL_UNIT
            if kind_text:
                parsed = _parse_kind(kind_text)
                if parsed is None:
                    self.error(
                        table,
                        number,
                        "kind",
                        _(
                            "“%(value)s” is not a kind of party. Write internal_unit (unit "
                            "internal) or external_partner (mitra eksternal)."
                        )
                        % {"value": kind_text},
                    )
                elif instance is not None and parsed != instance.kind:
                    self.error(
                        table,
                        number,
                        "kind",
                        _(
                            "%(code)s is already an %(kind)s in Rantai; the kind of a party "
                            "cannot be changed."
                        )
                        % {
                            "code": code,
                            "kind": PartyKind(instance.kind).label.lower(),
                        },
                    )
                else:
                    kind = parsed
            node = UnitNode(
                code=code,
                kind=kind,
                name=name,
                description=self.text(table, number, values, "description")
                if table.has("description")
                else (instance.description if instance else ""),
                parent_code=_blank_to_none(
                    self.text(table, number, values, "parent_code")
                )
                if table.has("parent_code")
                else (existing.parent_code if existing else None),
                head_code=_blank_to_none(
                    self.text(table, number, values, "head_position_code")
                )
                if table.has("head_position_code")
                else (existing.head_code if existing else None),
                instance=instance,
                row=number,
            )
            self.check_fields(
                table,
                number,
                Party,
                {
                    "code": ("code", node.code),
                    "name": ("name", node.name),
                    "kind": ("kind", node.kind),
                    "description": ("description", node.description),
                },
            )
            if not code:
                continue
            if code in seen:
                self.error(
                    table,
                    number,
                    "code",
                    _("The code “%(code)s” appears already in row %(row)d.")
                    % {"code": code, "row": seen[code]},
                )
                continue
            seen[code] = number
            self.file_units.append(node)
            self.units[code] = node

    def read_positions(self) -> None:
        table = self.tables.get("positions")
        if table is None:
            return
        seen: dict[str, int] = {}
        for number, values in table.rows:
            code = self.required(table, number, values, "code")
            title = self.required(table, number, values, "title")
            unit_code = self.required(table, number, values, "unit_code")
            existing = self.positions.get(code) if code else None
            instance = existing.instance if existing else None
            max_holders = 1
            if table.has("max_holders"):
                raw = table.raw(values, "max_holders")
                if parse_text(raw):
                    try:
                        max_holders = parse_int(raw)
                        if not 1 <= max_holders <= MAX_HOLDERS_LIMIT:
                            raise CellError(
                                _(
                                    "The number of holders must be between 1 and %(max)d."
                                )
                                % {"max": MAX_HOLDERS_LIMIT}
                            )
                    except CellError as error:
                        self.error(table, number, "max_holders", error.message)
                        max_holders = instance.max_holders if instance else 1
            elif instance is not None:
                max_holders = instance.max_holders
            node = PositionNode(
                code=code,
                title=title,
                unit_code=unit_code,
                superior_code=_blank_to_none(
                    self.text(table, number, values, "superior_code")
                )
                if table.has("superior_code")
                else (existing.superior_code if existing else None),
                max_holders=max_holders,
                job_summary=self.text(table, number, values, "job_description")
                if table.has("job_description")
                else (instance.job_summary if instance else ""),
                instance=instance,
                row=number,
            )
            self.check_fields(
                table,
                number,
                Position,
                {
                    "code": ("code", code),
                    "title": ("title", title),
                    "job_description": ("job_summary", node.job_summary),
                },
            )
            if not code:
                continue
            if code in seen:
                self.error(
                    table,
                    number,
                    "code",
                    _("The code “%(code)s” appears already in row %(row)d.")
                    % {"code": code, "row": seen[code]},
                )
                continue
            seen[code] = number
            self.file_positions.append(node)
            self.positions[code] = node

    def read_duties(self) -> None:
        table = self.tables.get("duties")
        if table is None:
            return
        seen: dict[tuple[str, str], int] = {}
        for number, values in table.rows:
            position_code = self.required(table, number, values, "position_code")
            title = self.required(table, number, values, "duty")
            output_unit = self.required(table, number, values, "output_unit")
            description = self.text(table, number, values, "description")
            instance = self.db_duties.get((position_code, title))
            self.check_fields(
                table,
                number,
                Duty,
                {
                    "duty": ("title", title),
                    "output_unit": ("output_unit", output_unit),
                    "description": ("description", description),
                },
            )
            if not (position_code and title):
                continue
            if position_code not in self.positions:
                self.unknown(
                    table, number, "position_code", position_code, self.positions
                )
                continue
            key = (position_code, title)
            if key in seen:
                self.error(
                    table,
                    number,
                    "duty",
                    _("The position %(code)s has this duty already in row %(row)d.")
                    % {"code": position_code, "row": seen[key]},
                )
                continue
            seen[key] = number
            if not table.has("description") and instance is not None:
                description = instance.description
            if instance is None and not self.positions[position_code].is_active:
                self.error(
                    table, number, "position_code", _("The position is deactivated.")
                )
            self.file_duties.append(
                DutyPlan(
                    position_code, title, output_unit, description, instance, number
                )
            )

    def read_people(self) -> None:
        table = self.tables.get("people")
        if table is None:
            return
        by_number = {p.employee_number: p for p in self.people if p.employee_number}
        by_name: dict[str, list[PersonNode]] = defaultdict(list)
        for person in self.people:
            by_name[_name_key(person.full_name)].append(person)
        claimed: dict[int, int] = {}  # id(existing node) -> row that updates it
        numbers_seen: dict[str, int] = {}
        names_seen: dict[str, int] = {}
        for number, values in table.rows:
            employee_number = self.employee_number(table, number, values)
            full_name = self.required(table, number, values, "full_name")
            email = self.text(table, number, values, "email").lower()
            party_code = _blank_to_none(self.text(table, number, values, "party_code"))
            self.check_fields(
                table,
                number,
                Person,
                {
                    "full_name": ("full_name", full_name),
                    "email": ("email", email),
                    "employee_number": ("employee_number", employee_number),
                },
            )
            if party_code is not None and party_code not in self.units:
                self.unknown(table, number, "party_code", party_code, self.units)
            if not full_name and not employee_number:
                continue
            # Find the person again: by employee number, else by name.
            existing: PersonNode | None = None
            if employee_number:
                if employee_number in numbers_seen:
                    self.error(
                        table,
                        number,
                        "employee_number",
                        _(
                            "The employee number “%(number)s” appears already in row %(row)d."
                        )
                        % {
                            "number": employee_number,
                            "row": numbers_seen[employee_number],
                        },
                    )
                    continue
                numbers_seen[employee_number] = number
                existing = by_number.get(employee_number)
                if existing is None and full_name:
                    unnumbered = [
                        p
                        for p in by_name.get(_name_key(full_name), [])
                        if not p.employee_number
                    ]
                    if len(unnumbered) > 1:
                        self.error(
                            table,
                            number,
                            "full_name",
                            _(
                                "%(count)d people without an employee number are called "
                                "“%(name)s” in Rantai; give them their numbers there first."
                            )
                            % {"count": len(unnumbered), "name": full_name},
                        )
                        continue
                    existing = unnumbered[0] if unnumbered else None
            else:
                key = _name_key(full_name)
                if key in names_seen:
                    self.error(
                        table,
                        number,
                        "full_name",
                        _(
                            "“%(name)s” appears already in row %(row)d; give each person an "
                            "employee number to tell them apart."
                        )
                        % {"name": full_name, "row": names_seen[key]},
                    )
                    continue
                names_seen[key] = number
                matches = by_name.get(key, [])
                if len(matches) > 1:
                    self.error(
                        table,
                        number,
                        "full_name",
                        _(
                            "%(count)d people are called “%(name)s” in Rantai; give the "
                            "employee number to say which one."
                        )
                        % {"count": len(matches), "name": full_name},
                    )
                    continue
                existing = matches[0] if matches else None
            if existing is not None:
                if id(existing) in claimed:
                    self.error(
                        table,
                        number,
                        "full_name",
                        _("This is the same person as in row %(row)d.")
                        % {"row": claimed[id(existing)]},
                    )
                    continue
                claimed[id(existing)] = number
            if existing is None:
                node = PersonNode(
                    employee_number=employee_number,
                    full_name=full_name,
                    email=email,
                    party_code=party_code,
                    row=number,
                )
                self.people.append(node)
            else:
                # Updated in place, so holdings keep pointing at the same node. The key
                # is never cleared: a row without a number keeps the person's number.
                node = existing
                node.employee_number = employee_number or node.employee_number
                node.full_name = full_name
                if table.has("email"):
                    node.email = email
                if table.has("party_code"):
                    node.party_code = party_code
                node.row = number
            self.file_people.append(node)

    def read_holders(self) -> None:
        table = self.tables.get("holders")
        if table is None:
            return
        by_number = {p.employee_number: p for p in self.people if p.employee_number}
        by_name: dict[str, list[PersonNode]] = defaultdict(list)
        for known in self.people:
            by_name[_name_key(known.full_name)].append(known)
        existing = {
            (h.position_code, id(h.person), h.start_date): h for h in self.holdings
        }
        seen: dict[tuple[str, int, dt.date], int] = {}
        person_column = (
            "employee_number" if table.has("employee_number") else "full_name"
        )
        for number, values in table.rows:
            position_code = self.required(table, number, values, "position_code")
            employee_number = self.employee_number(table, number, values)
            full_name = self.text(table, number, values, "full_name")
            start_date = end_date = None
            try:
                start_date = parse_date(table.raw(values, "start_date"))
            except CellError as error:
                self.error(table, number, "start_date", error.message)
            if parse_text(table.raw(values, "end_date")):
                try:
                    end_date = parse_date(table.raw(values, "end_date"))
                except CellError as error:
                    self.error(table, number, "end_date", error.message)
            try:
                is_acting = parse_bool(table.raw(values, "acting"))
            except CellError as error:
                self.error(table, number, "acting", error.message)
                is_acting = False
            if start_date and end_date and end_date < start_date:
                self.error(
                    table,
                    number,
                    "end_date",
                    _("The end date must not be before the start date."),
                )
            if position_code and position_code not in self.positions:
                self.unknown(
                    table, number, "position_code", position_code, self.positions
                )
            # who
            person: PersonNode | None = None
            if employee_number:
                person = by_number.get(employee_number)
                if person is None:
                    self.error(
                        table,
                        number,
                        "employee_number",
                        _(
                            "No person has the employee number “%(number)s” in the people "
                            "sheet or in Rantai."
                        )
                        % {"number": employee_number},
                    )
                elif full_name and _name_key(full_name) != _name_key(person.full_name):
                    self.warn(
                        table,
                        number,
                        "full_name",
                        _(
                            "“%(name)s” is not the name of employee number %(number)s "
                            "(“%(known)s”); the employee number was used."
                        )
                        % {
                            "name": full_name,
                            "number": employee_number,
                            "known": person.full_name,
                        },
                    )
            elif full_name:
                matches = by_name.get(_name_key(full_name), [])
                if not matches:
                    self.error(
                        table,
                        number,
                        "full_name",
                        _(
                            "No person is called “%(name)s” in the people sheet or in Rantai."
                        )
                        % {"name": full_name},
                    )
                elif len(matches) > 1:
                    self.error(
                        table,
                        number,
                        "full_name",
                        _(
                            "%(count)d people are called “%(name)s”; give the employee "
                            "number to say which one."
                        )
                        % {"count": len(matches), "name": full_name},
                    )
                else:
                    person = matches[0]
            else:
                self.error(
                    table,
                    number,
                    person_column,
                    _("Give the employee number or the full name of the holder."),
                )
            if (
                person is None
                or start_date is None
                or position_code not in self.positions
                or self.has_error(table, number, "end_date")
            ):
                continue
            key = (position_code, id(person), start_date)
            if key in seen:
                self.error(
                    table,
                    number,
                    "start_date",
                    _(
                        "The same holding (position, person and start date) appears "
                        "already in row %(row)d."
                    )
                    % {"row": seen[key]},
                )
                continue
            seen[key] = number
            node = existing.get(key)
            if node is None:
                node = HoldingNode(
                    position_code=position_code,
                    person=person,
                    start_date=start_date,
                    end_date=end_date,
                    is_acting=is_acting,
                    row=number,
                )
                self.holdings.append(node)
            else:
                if table.has("end_date"):
                    node.end_date = end_date
                if table.has("acting"):
                    node.is_acting = is_acting
                node.row = number
            self.file_holdings.append(node)

    # -- rules across rows

    def check_units(self) -> None:
        table = self.tables.get("units")
        if table is None:
            return
        for node in self.file_units:
            assert node.row is not None
            changed_parent = (
                node.instance is None or node.parent_code != self._db_parent(node)
            )
            if node.parent_code is not None:
                parent = self.units.get(node.parent_code)
                if parent is None:
                    self.unknown(
                        table, node.row, "parent_code", node.parent_code, self.units
                    )
                elif node.kind != PartyKind.INTERNAL_UNIT:
                    self.error(
                        table,
                        node.row,
                        "parent_code",
                        _("Only internal units can sit under a parent unit."),
                    )
                elif parent.kind != PartyKind.INTERNAL_UNIT:
                    self.error(
                        table,
                        node.row,
                        "parent_code",
                        _("The parent must be an internal unit."),
                    )
                elif changed_parent and not parent.is_active:
                    self.error(
                        table,
                        node.row,
                        "parent_code",
                        _("The parent unit is deactivated."),
                    )
            if node.head_code is not None:
                head = self.positions.get(node.head_code)
                if head is None:
                    self.unknown(
                        table,
                        node.row,
                        "head_position_code",
                        node.head_code,
                        self.positions,
                    )
                elif head.unit_code != node.code:
                    self.error(
                        table,
                        node.row,
                        "head_position_code",
                        _(
                            "The head position must belong to this unit (%(code)s belongs to "
                            "%(unit)s)."
                        )
                        % {"code": head.code, "unit": head.unit_code},
                    )
        parents = {code: node.parent_code for code, node in self.units.items()}
        for row, text in _cycle_rows(find_cycles(parents), self.units):
            self.error(
                table,
                row,
                "parent_code",
                _(
                    "These units form a cycle: %(cycle)s. A unit cannot sit under itself "
                    "or one of its own sub-units."
                )
                % {"cycle": text},
            )

    def check_positions(self) -> None:
        table = self.tables.get("positions")
        if table is None:
            return
        # Units outside the file keep their head position: it may not move away
        # (move_position's rule). Units in the file are checked by check_units.
        self._heads = {
            unit.head_code: unit
            for unit in self.units.values()
            if unit.row is None and unit.head_code is not None and unit.is_active
        }
        for node in self.file_positions:
            assert node.row is not None
            instance = node.instance
            unit = self.units.get(node.unit_code) if node.unit_code else None
            if node.unit_code and unit is None:
                self.unknown(table, node.row, "unit_code", node.unit_code, self.units)
            elif (
                unit is not None
                and not unit.is_active
                and (
                    instance is None
                    or unit.instance is None
                    or instance.party_id != unit.instance.pk
                )
            ):
                self.error(table, node.row, "unit_code", _("The party is deactivated."))
            moved = (
                instance is not None
                and unit is not None
                and (unit.instance is None or instance.party_id != unit.instance.pk)
            )
            if moved:
                headed = self._heads.get(node.code)
                if headed is not None and headed.code != node.unit_code:
                    self.error(
                        table,
                        node.row,
                        "unit_code",
                        _(
                            "It heads the unit %(code)s; choose another head position "
                            "there first."
                        )
                        % {"code": headed.code},
                    )
            if node.superior_code is not None:
                superior = self.positions.get(node.superior_code)
                db_superior = self._db_superior(node)
                if superior is None:
                    self.unknown(
                        table,
                        node.row,
                        "superior_code",
                        node.superior_code,
                        self.positions,
                    )
                elif not superior.is_active and node.superior_code != db_superior:
                    self.error(
                        table,
                        node.row,
                        "superior_code",
                        _("The superior position is deactivated."),
                    )
        superiors = {code: node.superior_code for code, node in self.positions.items()}
        for row, text in _cycle_rows(find_cycles(superiors), self.positions):
            self.error(
                table,
                row,
                "superior_code",
                _(
                    "These positions form a cycle in the superior line: %(cycle)s. A "
                    "position cannot be its own superior."
                )
                % {"cycle": text},
            )

    def check_holders(self) -> None:
        """Capacity and overlaps, as assign_holder checks them, row after row."""
        table = self.tables.get("holders")
        if table is None:
            return
        changed = [h for h in self.file_holdings if _holding_changed(h)]
        changed_ids = {id(h) for h in changed}
        by_position: dict[str, list[HoldingNode]] = defaultdict(list)
        for holding in self.holdings:
            if id(holding) not in changed_ids:
                by_position[holding.position_code].append(holding)
        for holding in changed:
            assert holding.row is not None
            position = self.positions[holding.position_code]
            problem = False
            if not position.is_active:
                self.error(
                    table,
                    holding.row,
                    "position_code",
                    _("The position is deactivated."),
                )
                problem = True
            if not holding.person.is_active:
                self.error(
                    table,
                    holding.row,
                    self._person_column(table, holding),
                    _("The person is deactivated."),
                )
                problem = True
            others = [
                h
                for h in by_position[holding.position_code]
                if h.overlaps(holding.start_date, holding.end_date)
            ]
            same = [h for h in others if h.person is holding.person]
            if same:
                self.error(
                    table,
                    holding.row,
                    self._person_column(table, holding),
                    _(
                        "This person already holds the position in that period (%(where)s)."
                    )
                    % {"where": self._where(same[0])},
                )
                problem = True
            elif not holding.is_acting:
                definitive = [h for h in others if not h.is_acting]
                if len(definitive) >= position.max_holders:
                    if position.max_holders == 1:
                        message = _(
                            "The position %(code)s allows one holder and already has "
                            "%(name)s in that period (%(where)s). End that holding first, "
                            "or mark this one as acting (Plt)."
                        ) % {
                            "code": position.code,
                            "name": definitive[0].person.full_name,
                            "where": self._where(definitive[0]),
                        }
                    else:
                        message = _(
                            "The position %(code)s allows %(max)d holders and already has "
                            "%(count)d in that period."
                        ) % {
                            "code": position.code,
                            "max": position.max_holders,
                            "count": len(definitive),
                        }
                    self.error(table, holding.row, "position_code", message)
                    problem = True
            if not problem:
                by_position[holding.position_code].append(holding)
        self._final_holdings = by_position

    def check_capacity_reductions(self) -> None:
        """A position may not allow fewer holders than it has today (update_position)."""
        table = self.tables.get("positions")
        if table is None:
            return
        today = (
            timezone.now()
            .astimezone(zoneinfo.ZoneInfo(self.organisation.time_zone))
            .date()
        )
        holdings = getattr(self, "_final_holdings", None)
        if holdings is None:
            holdings = defaultdict(list)
            for holding in self.holdings:
                holdings[holding.position_code].append(holding)
        for node in self.file_positions:
            if node.instance is None or node.max_holders >= node.instance.max_holders:
                continue
            current = [
                h
                for h in holdings.get(node.code, [])
                if not h.is_acting and h.overlaps(today, today)
            ]
            if len(current) > node.max_holders:
                assert node.row is not None
                self.error(
                    table,
                    node.row,
                    "max_holders",
                    _(
                        "The position has %(count)d current holders; end some holdings first."
                    )
                    % {"count": len(current)},
                )

    def _where(self, holding: HoldingNode) -> str:
        if holding.row is not None:
            return _("row %(row)d") % {"row": holding.row}
        return _("already in Rantai")

    def _person_column(self, table: Table, holding: HoldingNode) -> str:
        return "employee_number" if table.has("employee_number") else "full_name"

    def _db_parent(self, node: UnitNode) -> str | None:
        instance = node.instance
        if instance is None or instance.parent_id is None:
            return None
        return self._party_codes_by_pk.get(instance.parent_id)

    def _db_superior(self, node: PositionNode) -> str | None:
        instance = node.instance
        if instance is None or instance.superior_id is None:
            return None
        return self._position_codes_by_pk.get(instance.superior_id)

    # -- the whole check

    def validate(self) -> None:
        self._position_codes_by_pk = {
            n.instance.pk: code for code, n in self.positions.items() if n.instance
        }
        self._party_codes_by_pk = {
            n.instance.pk: code for code, n in self.units.items() if n.instance
        }
        self.read_units()
        self.read_positions()
        self.read_duties()
        self.read_people()
        self.read_holders()
        self.check_units()
        self.check_positions()
        self.check_holders()
        self.check_capacity_reductions()

    def count(self) -> None:
        """Created, updated and unchanged rows per sheet (for a file without problems)."""

        def tally(sheet: str, created: bool, changed: bool) -> None:
            counts = self.counts[sheet]
            if created:
                counts.created += 1
            elif changed:
                counts.updated += 1
            else:
                counts.unchanged += 1

        for unit in self.file_units:
            tally("units", unit.instance is None, bool(self._party_changes(unit)))
        for position in self.file_positions:
            tally(
                "positions",
                position.instance is None,
                bool(self._position_changes(position)),
            )
        for duty in self.file_duties:
            tally("duties", duty.instance is None, bool(_duty_changes(duty)))
        for person in self.file_people:
            tally("people", person.instance is None, bool(self._person_changes(person)))
        for holding in self.file_holdings:
            tally("holders", holding.instance is None, _holding_changed(holding))

    # -- differences with what exists

    def _party_changes(self, node: UnitNode) -> dict[str, Any]:
        instance = node.instance
        if instance is None:
            return {}
        wanted = {
            "name": node.name,
            "description": node.description,
            "parent_id": self._pk_of_unit(node.parent_code),
            "head_position_id": self._pk_of_position(node.head_code),
        }
        return {
            k: v
            for k, v in wanted.items()
            if v is ... or _differs(getattr(instance, k), v)
        }

    def _position_changes(self, node: PositionNode) -> dict[str, Any]:
        instance = node.instance
        if instance is None:
            return {}
        wanted = {
            "title": node.title,
            "job_summary": node.job_summary,
            "max_holders": node.max_holders,
            "party_id": self._pk_of_unit(node.unit_code),
            "superior_id": self._pk_of_position(node.superior_code),
        }
        return {
            k: v
            for k, v in wanted.items()
            if v is ... or _differs(getattr(instance, k), v)
        }

    def _person_changes(self, node: PersonNode) -> dict[str, Any]:
        instance = node.instance
        if instance is None:
            return {}
        wanted = {
            "full_name": node.full_name,
            "email": node.email,
            "employee_number": node.employee_number,
            "party_id": self._pk_of_unit(node.party_code),
        }
        return {
            k: v
            for k, v in wanted.items()
            if v is ... or _differs(getattr(instance, k), v)
        }

    def _pk_of_unit(self, code: str | None) -> Any:
        """The primary key of a unit; `...` while the unit is still to be created."""
        if code is None:
            return None
        node = self.units[code]
        if node.instance is None:
            return ...
        return node.instance.pk

    def _pk_of_position(self, code: str | None) -> Any:
        if code is None:
            return None
        node = self.positions[code]
        if node.instance is None:
            return ...
        return node.instance.pk

    # -- writing

    def write(self) -> list[audit.Entry]:
        """Create and update the rows; return the audit entries (created, then updated)."""
        organisation = self.organisation
        now = timezone.now()
        entries: list[audit.Entry] = []
        existing_units = [n for n in self.file_units if n.instance is not None]
        existing_positions = [n for n in self.file_positions if n.instance is not None]
        existing_people = [n for n in self.file_people if n.instance is not None]

        # New units and positions are created level by level, parents first, so
        # each row is inserted with its parent (or superior) already in place.
        new_units = [n for n in self.file_units if n.instance is None]
        for level in _levels(new_units, self.units, lambda n: n.parent_code):
            for node in level:
                node.instance = Party(
                    organisation=organisation,
                    kind=node.kind,
                    name=node.name,
                    code=node.code,
                    description=node.description,
                    parent=self.units[node.parent_code].instance
                    if node.parent_code
                    else None,
                )
            Party.objects.bulk_create([n.instance for n in level], batch_size=500)  # type: ignore[misc]
        new_positions = [n for n in self.file_positions if n.instance is None]
        for level in _levels(new_positions, self.positions, lambda n: n.superior_code):
            for node in level:
                node.instance = Position(
                    organisation=organisation,
                    party=self.units[node.unit_code].instance,
                    title=node.title,
                    code=node.code,
                    job_summary=node.job_summary,
                    max_holders=node.max_holders,
                    superior=self.positions[node.superior_code].instance
                    if node.superior_code
                    else None,
                )
            Position.objects.bulk_create([n.instance for n in level], batch_size=500)  # type: ignore[misc]
        # a new unit's head position exists only now
        headed = []
        for node in new_units:
            if node.head_code:
                party = node.instance
                assert party is not None
                party.head_position = self.positions[node.head_code].instance
                headed.append(party)
        Party.objects.bulk_update(headed, ["head_position"], batch_size=500)
        for node in new_units:
            entries.append(_created(node.instance, PARTY_FIELDS))  # type: ignore[arg-type]
        for node in new_positions:
            entries.append(_created(node.instance, POSITION_FIELDS))  # type: ignore[arg-type]

        # Existing rows, compared now that every unit and position has a key.
        for node in existing_units:
            entries.extend(
                _update(
                    node.instance,  # type: ignore[arg-type]
                    self._party_changes(node),
                    now,
                    placement={"parent_id"},
                )  # type: ignore[arg-type]
            )
        for node in existing_positions:
            entries.extend(
                _update(
                    node.instance,  # type: ignore[arg-type]
                    self._position_changes(node),
                    now,
                    placement={"party_id", "superior_id"},
                )
            )

        # duties
        new_duties = []
        next_order = dict(self.db_duty_order)
        for plan in self.file_duties:
            if plan.instance is not None:
                changes = _duty_changes(plan)
                entries.extend(_update(plan.instance, changes, now))
                continue
            next_order[plan.position_code] = next_order.get(plan.position_code, 0) + 10
            position = self.positions[plan.position_code].instance
            plan.instance = Duty(
                organisation=organisation,
                position=position,
                title=plan.title,
                output_unit=plan.output_unit,
                description=plan.description,
                sort_order=next_order[plan.position_code],
            )
            new_duties.append(plan.instance)
        Duty.objects.bulk_create(new_duties, batch_size=500)
        entries.extend(_created(duty, DUTY_FIELDS) for duty in new_duties)

        # people
        new_people = []
        for node in self.file_people:
            if node.instance is None:
                node.instance = Person(
                    organisation=organisation,
                    full_name=node.full_name,
                    email=node.email,
                    employee_number=node.employee_number,
                    party=self.units[node.party_code].instance
                    if node.party_code
                    else None,
                )
                new_people.append(node.instance)
        Person.objects.bulk_create(new_people, batch_size=500)
        entries.extend(_created(person, PERSON_FIELDS) for person in new_people)
        for node in existing_people:
            entries.extend(_update(node.instance, self._person_changes(node), now))  # type: ignore[arg-type]

        # holders
        new_holdings = []
        for holding in self.file_holdings:
            if holding.instance is None:
                holding.instance = Holding(
                    organisation=organisation,
                    position=self.positions[holding.position_code].instance,
                    person=holding.person.instance,
                    start_date=holding.start_date,
                    end_date=holding.end_date,
                    is_acting=holding.is_acting,
                )
                new_holdings.append(holding.instance)
            elif _holding_changed(holding):
                instance = holding.instance
                changes = {
                    k: v
                    for k, v in (
                        ("end_date", holding.end_date),
                        ("is_acting", holding.is_acting),
                    )
                    if getattr(instance, k) != v
                }
                entries.extend(_update(instance, changes, now))
        Holding.objects.bulk_create(new_holdings, batch_size=500)
        entries.extend(_created(holding, HOLDING_FIELDS) for holding in new_holdings)
        return entries


def _parse_kind(text: str) -> str | None:
    key = normalise_name(text)
    for kind, words in KIND_WORDS.items():
        if key in words or key == normalise_name(str(kind.label)):
            return kind
    return None


def _duty_changes(plan: DutyPlan) -> dict[str, Any]:
    instance = plan.instance
    if instance is None:
        return {}
    wanted = {"output_unit": plan.output_unit, "description": plan.description}
    return {k: v for k, v in wanted.items() if _differs(getattr(instance, k), v)}


def _differs(current: Any, wanted: Any) -> bool:
    """Whether a value in the file changes the stored one. Text read from a workbook
    is trimmed and has plain line breaks, so stored text is compared the same way."""
    if isinstance(current, str) and isinstance(wanted, str):
        return normalise_text(current) != wanted
    return bool(current != wanted)


def _holding_changed(holding: HoldingNode) -> bool:
    instance = holding.instance
    return instance is None or (
        instance.end_date != holding.end_date or instance.is_acting != holding.is_acting
    )


def _levels(
    nodes: list[Any], every: Mapping[str, Any], parent_of: Callable[[Any], str | None]
) -> list[list[Any]]:
    """New nodes grouped by depth below the nearest existing row (acyclic input)."""
    depth: dict[int, int] = {}
    for node in nodes:
        chain = []
        current = node
        while current.instance is None and id(current) not in depth:
            chain.append(current)
            parent_code = parent_of(current)
            if parent_code is None:
                break
            current = every[parent_code]
        base = depth.get(id(current), -1) if chain and chain[-1] is not current else -1
        for offset, member in enumerate(reversed(chain)):
            depth[id(member)] = base + 1 + offset
    levels: list[list[Any]] = []
    for node in nodes:
        level = depth[id(node)]
        while len(levels) <= level:
            levels.append([])
        levels[level].append(node)
    return levels


def _cycle_rows(
    cycles: list[list[str]], nodes: Mapping[str, UnitNode | PositionNode]
) -> list[tuple[int, str]]:
    """(row, 'A → B → A' seen from that row) for each row of the file in a cycle."""
    rows = []
    for cycle in cycles:
        for index, code in enumerate(cycle):
            row = nodes[code].row
            if row is not None:
                turn = cycle[index:] + cycle[:index]
                rows.append((row, " → ".join([*turn, turn[0]])))
    return sorted(rows)


def find_cycles(parents: Mapping[str, str | None]) -> list[list[str]]:
    """Every cycle in a forest given as child -> parent (each node has one parent)."""
    state: dict[str, int] = {}  # 1 = on the current path, 2 = done
    cycles: list[list[str]] = []
    for start in parents:
        path: list[str] = []
        node: str | None = start
        while node is not None and node in parents and state.get(node) is None:
            state[node] = 1
            path.append(node)
            node = parents[node]
        if node is not None and state.get(node) == 1:
            cycles.append(path[path.index(node) :])
        for visited in path:
            state[visited] = 2
    return cycles


# --- audit entries ---------------------------------------------------------------------


_split = writes.split_personal


def _created(instance: models.Model, fields: Iterable[str]) -> audit.Entry:
    """The same event a create_* service writes."""
    values = {
        name: getattr(instance, instance._meta.get_field(name).attname)  # type: ignore[union-attr]
        for name in fields
    }
    public, personal = _split(instance, values)
    return audit.Entry(
        verb=AuditVerb.CREATED,
        target=instance,
        changes=public,
        personal_changes=personal,
    )


def _update(
    instance: models.Model,
    changes: Mapping[str, Any],
    now: dt.datetime,
    *,
    placement: Iterable[str] = (),
) -> list[audit.Entry]:
    """Compare-and-set the changed fields; audit moves and edits like the services."""
    if not changes:
        return []
    before = {name: getattr(instance, name) for name in changes}
    compare_and_set(
        instance, expected_version=None, fields={**changes, "updated_at": now}
    )
    entries = []
    placement = set(placement)
    moved = {k: v for k, v in changes.items() if k in placement}
    edited = {k: v for k, v in changes.items() if k not in placement}
    for verb, part in ((AuditVerb.MOVED, moved), (AuditVerb.UPDATED, edited)):
        if not part:
            continue
        diff = audit.diff(
            {_field_name(instance, k): before[k] for k in part},
            {_field_name(instance, k): v for k, v in part.items()},
        )
        public, personal = _split(instance, diff)
        entries.append(
            audit.Entry(
                verb=verb, target=instance, changes=public, personal_changes=personal
            )
        )
    return entries


def _field_name(instance: models.Model, attname: str) -> str:
    for model_field in instance._meta.concrete_fields:
        if model_field.attname == attname:
            return model_field.name
    return attname


# --- the service -----------------------------------------------------------------------


def _changed_while_importing() -> ImportRejected:
    return ImportRejected(
        [
            RowError(
                "",
                None,
                "",
                _(
                    "The organisation was changed by someone else while the file was "
                    "being imported. Nothing was written; import the file again."
                ),
            )
        ]
    )


def import_organisation(
    organisation: Organisation,
    *,
    actor: User,
    file_name: str,
    data: bytes,
    dry_run: bool = False,
    progress: Progress | None = None,
) -> ImportResult:
    """Import units, positions, duties, people and holders from an .xlsx workbook or a
    zip of CSV files. All or nothing: raises ImportRejected listing every problem.

    With `dry_run` the file is checked against the organisation and the counts of
    what would change are returned; nothing is written.
    """
    report = progress or (lambda message: None)
    report(_("Reading %(name)s") % {"name": file_name})
    workbook = read_workbook(file_name, data)
    tables, structure_errors = _tables(workbook.sheets, workbook.warnings)
    if structure_errors:
        raise ImportRejected(structure_errors, warnings=workbook.warnings)
    rows = sum(len(t.rows) for t in tables.values())
    try:
        with transaction.atomic():
            report(
                ngettext("Checking %(count)d row", "Checking %(count)d rows", rows)
                % {"count": rows}
            )
            importer = _Importer(organisation, tables)
            importer.load()
            importer.validate()
            warnings = [*workbook.warnings, *importer.warnings]
            if importer.errors:
                raise ImportRejected(importer.sorted_errors(), warnings=warnings)
            importer.count()
            result = ImportResult(
                counts=importer.counts, warnings=warnings, dry_run=dry_run
            )
            if dry_run or not result.changed:
                return result
            report(_("Writing"))
            entries = importer.write()
            report(_("Recording the audit trail"))
            _recheck_cycles(organisation, importer)
            summary = {
                counts.sheet: {"created": counts.created, "updated": counts.updated}
                for counts in result.sheets
            }
            entries.append(
                audit.Entry(
                    verb=AuditVerb.IMPORTED,
                    target=organisation,
                    changes={"sheets": summary},
                    personal_changes={"file_name": file_name},
                )
            )
            # Last, and once: the lock on the audit chain head.
            audit.record_many(organisation, actor=actor, entries=entries)
            report(_("Done"))
            return result
    except (IntegrityError, Conflict) as error:
        raise _changed_while_importing() from error


def _recheck_cycles(organisation: Organisation, importer: _Importer) -> None:
    """Look for cycles again in the rows as written, under the organisation lock.

    move_party and move_position check cycles holding that lock; taking it here, just
    before the audit trail (which takes it anyway), keeps the import's own lock last
    while no concurrent move can slip in between the check and the commit.
    """
    if not importer.file_units and not importer.file_positions:
        return
    Organisation.objects.select_for_update().only("id").get(pk=organisation.pk)
    parties = Party.objects.filter(organisation=organisation).values_list(
        "pk", "parent_id"
    )
    positions = Position.objects.filter(organisation=organisation).values_list(
        "pk", "superior_id"
    )
    for pairs in (parties, positions):
        graph = {str(pk): (str(parent) if parent else None) for pk, parent in pairs}
        if find_cycles(graph):
            raise _changed_while_importing()
