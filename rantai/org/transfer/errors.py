"""What an import reports: problems tied to a sheet, a row and a column."""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass

from django.utils.translation import gettext as _
from django.utils.translation import ngettext

from rantai.core.errors import ValidationFailed


@dataclass(frozen=True, slots=True)
class RowError:
    """One problem (or warning) in an imported file.

    `row` is the row number as a spreadsheet shows it (the header is row 1); it is
    None for problems with the file or a whole sheet. `column` is the header as the
    file spells it (empty when the problem is not about one column).
    """

    sheet: str
    row: int | None
    column: str
    message: str

    def __str__(self) -> str:
        where = self.location
        return f"{where}: {self.message}" if where else self.message

    @property
    def location(self) -> str:
        parts = []
        if self.sheet:
            parts.append(
                _("%(sheet)s row %(row)d") % {"sheet": self.sheet, "row": self.row}
                if self.row is not None
                else self.sheet
            )
        if self.column:
            parts.append(_("column %(column)s") % {"column": self.column})
        return ", ".join(parts)


class ImportRejected(ValidationFailed):
    """The file was refused; nothing was written. `row_errors` lists every problem."""

    code = "import_rejected"

    def __init__(
        self, errors: Iterable[RowError], *, warnings: Iterable[RowError] = ()
    ) -> None:
        self.row_errors: list[RowError] = list(errors)
        self.warnings: list[RowError] = list(warnings)
        super().__init__(
            {"file": [str(error) for error in self.row_errors]}, code=self.code
        )
        count = len(self.row_errors)
        self.message = ngettext(
            "The file was not imported: %(count)d problem was found. Nothing was written.",
            "The file was not imported: %(count)d problems were found. Nothing was written.",
            count,
        ) % {"count": count}
        self.args = (self.message,)
