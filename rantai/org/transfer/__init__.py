"""Moving a whole organisation in and out of Rantai as a workbook.

`import_organisation` reads an .xlsx workbook or a zip of CSV files (all or
nothing), `export_organisation` writes an .xlsx workbook that imports again, and
`template_xlsx` / `template_csv_zip` give people a file to fill in.
"""

from rantai.org.transfer.errors import ImportRejected, RowError
from rantai.org.transfer.exporting import XLSX_CONTENT_TYPE, export_organisation
from rantai.org.transfer.importing import ImportResult, SheetCounts, import_organisation
from rantai.org.transfer.parsing import (
    check_size,
    max_size,
    parse_bool,
    parse_date,
    parse_decimal,
    parse_int,
)
from rantai.org.transfer.template import (
    ZIP_CONTENT_TYPE,
    template_csv_zip,
    template_xlsx,
)

__all__ = [
    "XLSX_CONTENT_TYPE",
    "ZIP_CONTENT_TYPE",
    "ImportRejected",
    "ImportResult",
    "RowError",
    "SheetCounts",
    "check_size",
    "export_organisation",
    "import_organisation",
    "max_size",
    "parse_bool",
    "parse_date",
    "parse_decimal",
    "parse_int",
    "template_csv_zip",
    "template_xlsx",
]
