"""Export an organisation to an .xlsx workbook that imports again unchanged.

Every text cell is made inert: text that a spreadsheet would run as a formula
(starting with =, +, -, @, a tab or a carriage return) gets a leading quote, and is
written as text, never as a formula.
"""

from __future__ import annotations

import datetime as dt
import io
from collections.abc import Iterable, Sequence
from typing import Any

from openpyxl import Workbook
from openpyxl.cell import WriteOnlyCell
from openpyxl.cell.cell import ILLEGAL_CHARACTERS_RE
from openpyxl.styles import Font, PatternFill

from rantai.accounts.models import Organisation
from rantai.org.models import Duty, Holding, Party, Person, Position
from rantai.org.transfer.parsing import FORMULA_PREFIXES
from rantai.org.transfer.schema import DUTIES, HOLDERS, PEOPLE, POSITIONS, SHEETS, UNITS

DATE_FORMAT = "DD/MM/YYYY"
HEADER_FONT = Font(bold=True)
HEADER_FILL = PatternFill("solid", fgColor="DDEBF7")
XLSX_CONTENT_TYPE = "application/vnd.openxmlformats-officedocument.spreadsheetml.sheet"


def inert(value: Any) -> Any:
    """A value safe to put in a spreadsheet cell: text can never become a formula."""
    if not isinstance(value, str):
        return value
    # Plain line breaks: a workbook reads a carriage return back as a line feed.
    text = ILLEGAL_CHARACTERS_RE.sub("", value.replace("\r\n", "\n"))
    if text.startswith(FORMULA_PREFIXES):
        return "'" + text
    return text


def _topological(items: Sequence[Any], key: str, parent: str) -> list[Any]:
    """Parents before children (so a person reading top-down meets the parent first)."""
    by_key = {getattr(item, key): item for item in items}
    done: set[Any] = set()
    ordered: list[Any] = []
    for item in items:
        chain = []
        node = item
        while node is not None and getattr(node, key) not in done and node not in chain:
            chain.append(node)
            node = by_key.get(getattr(node, parent))
        for member in reversed(chain):
            done.add(getattr(member, key))
            ordered.append(member)
    return ordered


def organisation_rows(organisation: Organisation) -> dict[str, list[list[Any]]]:
    """The five sheets' rows (active objects only), in the columns of the schema."""
    parties = list(
        Party.objects.filter(organisation=organisation, is_active=True).order_by(
            "kind", "code"
        )
    )
    codes_of_party = dict(
        Party.objects.filter(organisation=organisation).values_list("pk", "code")
    )
    positions = list(
        Position.objects.filter(organisation=organisation, is_active=True).order_by(
            "code"
        )
    )
    codes_of_position = dict(
        Position.objects.filter(organisation=organisation).values_list("pk", "code")
    )
    units = _topological(parties, "pk", "parent_id")
    unit_rows = [
        [
            party.code,
            party.name,
            codes_of_party.get(party.parent_id, ""),
            party.kind,
            party.description,
            codes_of_position.get(party.head_position_id, ""),
        ]
        for party in units
    ]
    position_rows = [
        [
            position.code,
            position.title,
            codes_of_party[position.party_id],
            codes_of_position.get(position.superior_id, ""),
            position.max_holders,
            position.job_summary,
        ]
        for position in _topological(positions, "pk", "superior_id")
    ]
    duty_rows = [
        [
            codes_of_position[duty.position_id],
            duty.title,
            duty.output_unit,
            duty.description,
        ]
        for duty in Duty.objects.filter(
            organisation=organisation, is_active=True, position__is_active=True
        ).order_by("position__code", "sort_order", "id")
    ]
    people = list(
        Person.objects.filter(organisation=organisation, is_active=True).order_by(
            "full_name", "employee_number", "id"
        )
    )
    people_rows = [
        [
            person.employee_number,
            person.full_name,
            person.email,
            codes_of_party.get(person.party_id, "") if person.party_id else "",
        ]
        for person in people
    ]
    holding_rows = [
        [
            codes_of_position[holding.position_id],
            holding.person.employee_number,
            holding.person.full_name,
            holding.start_date,
            holding.end_date,
            "yes" if holding.is_acting else "no",
        ]
        for holding in Holding.objects.filter(
            organisation=organisation, position__is_active=True, person__is_active=True
        )
        .select_related("person")
        .order_by("position__code", "start_date", "person__full_name", "id")
    ]
    return {
        UNITS.name: unit_rows,
        POSITIONS.name: position_rows,
        DUTIES.name: duty_rows,
        PEOPLE.name: people_rows,
        HOLDERS.name: holding_rows,
    }


def _cells(sheet: Any, values: Iterable[Any]) -> list[Any]:
    cells = []
    for value in values:
        if isinstance(value, dt.date):
            cell = WriteOnlyCell(sheet, value=value)
            cell.number_format = DATE_FORMAT
            cells.append(cell)
        elif value is None or value == "":
            cells.append(None)
        else:
            cells.append(inert(value))
    return cells


def export_organisation(organisation: Organisation) -> bytes:
    """The organisation as an .xlsx workbook with the five import sheets."""
    rows = organisation_rows(organisation)
    workbook = Workbook(write_only=True)
    for spec in SHEETS:
        sheet = workbook.create_sheet(spec.name)
        sheet.freeze_panes = "A2"
        header = []
        for name in spec.column_names:
            cell = WriteOnlyCell(sheet, value=name)
            cell.font = HEADER_FONT
            cell.fill = HEADER_FILL
            header.append(cell)
        sheet.append(header)
        for values in rows[spec.name]:
            sheet.append(_cells(sheet, values))
    buffer = io.BytesIO()
    workbook.save(buffer)
    return buffer.getvalue()
