"""The `rantai` command line: every Django management command, plus Rantai's own
(`serve`, `demo`, `token`, `audit`, `import-org`, `export-org`, ...)."""

from __future__ import annotations

import os
import sys

ALIASES = {
    "import-org": "import_org",
    "export-org": "export_org",
    "warnings": "early_warnings",
}


def main(argv: list[str] | None = None) -> None:
    os.environ.setdefault("DJANGO_SETTINGS_MODULE", "rantai.settings")
    args = list(sys.argv if argv is None else argv)
    args[0] = "rantai"
    if len(args) > 1:
        args[1] = ALIASES.get(args[1], args[1])
    from django.core.management import execute_from_command_line

    execute_from_command_line(args)


if __name__ == "__main__":
    main()
