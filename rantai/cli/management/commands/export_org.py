from __future__ import annotations

from pathlib import Path

from django.core.management import BaseCommand, CommandError

from rantai.accounts.models import Organisation
from rantai.org import transfer


class Command(BaseCommand):
    help = (
        "Export an organisation's units, positions, duties, people and holders to an "
        ".xlsx workbook that `rantai import-org` reads back: "
        "`rantai export-org FILE --org SLUG`."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("file", help="the .xlsx workbook to write")
        parser.add_argument(
            "--org", required=True, help="organisation short name (slug)"
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        organisation = Organisation.objects.filter(slug=options["org"]).first()
        if organisation is None:
            raise CommandError(
                f"No organisation with the short name {options['org']!r}."
            )
        path = Path(options["file"])
        data = transfer.export_organisation(organisation)
        try:
            path.write_bytes(data)
        except OSError as error:
            raise CommandError(f"Cannot write {path}: {error.strerror}") from error
        self.stdout.write(
            f"Exported {organisation.slug} to {path} ({len(data):,} bytes)."
        )
