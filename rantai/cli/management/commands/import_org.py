from __future__ import annotations

import sys
from pathlib import Path
from typing import NoReturn

from django.core.management import BaseCommand, CommandError
from django.utils import translation

from rantai.accounts.access import access_for
from rantai.accounts.models import User
from rantai.core.errors import NotFound, PermissionDenied
from rantai.org import transfer


class Command(BaseCommand):
    help = (
        "Import units, positions, duties, people and holders from an .xlsx workbook or "
        "a zip of CSV files: `rantai import-org FILE --org SLUG --as USERNAME`. The "
        "whole file is checked first; on any problem every problem is printed as "
        "'sheet row N, column C: message', nothing is written and the exit code is 1."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("file", help="the .xlsx workbook or .zip of CSV files")
        parser.add_argument(
            "--org", required=True, help="organisation short name (slug)"
        )
        parser.add_argument(
            "--as",
            dest="actor",
            required=True,
            metavar="USERNAME",
            help="the administrator the import is recorded under in the audit log",
        )
        parser.add_argument(
            "--dry-run",
            action="store_true",
            help="check the file and print what would change; write nothing",
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        user = User.objects.filter(username=options["actor"], is_active=True).first()
        if user is None:
            raise CommandError(
                f"No active user with the username {options['actor']!r}."
            )
        try:
            access = access_for(user, options["org"])
            access.require_admin()
        except NotFound as error:
            raise CommandError(
                f"{user.username} is not a member of an organisation called "
                f"{options['org']!r}."
            ) from error
        except PermissionDenied as error:
            raise CommandError(
                f"{user.username} is not an administrator of {options['org']}."
            ) from error
        path = Path(options["file"])
        with translation.override(user.language):
            try:
                transfer.check_size(path.stat().st_size)
                data = path.read_bytes()
            except OSError as error:
                raise CommandError(f"Cannot read {path}: {error.strerror}") from error
            except transfer.ImportRejected as error:
                self._rejected(error)
            try:
                result = transfer.import_organisation(
                    access.organisation,
                    actor=user,
                    file_name=path.name,
                    data=data,
                    dry_run=options["dry_run"],
                    progress=lambda message: self.stderr.write(f"{message}…"),
                )
            except transfer.ImportRejected as error:
                self._rejected(error)
            for warning in result.warnings:
                self.stderr.write(f"warning: {warning}")
            verb = "would be" if result.dry_run else "were"
            for counts in result.sheets:
                self.stdout.write(
                    f"{counts.sheet}: {counts.created} {verb} created, {counts.updated} "
                    f"{verb} updated, {counts.unchanged} unchanged"
                )
            if result.dry_run:
                self.stdout.write("Dry run: nothing was written.")

    def _rejected(self, error: transfer.ImportRejected) -> NoReturn:
        for problem in error.row_errors:
            self.stderr.write(str(problem))
        for warning in error.warnings:
            self.stderr.write(f"warning: {warning}")
        self.stderr.write(error.message)
        sys.exit(1)
