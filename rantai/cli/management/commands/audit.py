from __future__ import annotations

import sys
from pathlib import Path

from django.core.management import BaseCommand, CommandError

from rantai.accounts.models import Organisation
from rantai.audit import services as audit
from rantai.core.errors import DomainError


class Command(BaseCommand):
    help = (
        "The audit trail: `rantai audit verify [--org SLUG] [--checkpoint FILE]` recomputes "
        "each organisation's hash chain and exits non-zero naming the first broken event; "
        "`rantai audit checkpoint --org SLUG [--output FILE]` exports a signed checkpoint."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)
        verify = sub.add_parser("verify", help="Verify the hash chain.")
        verify.add_argument("--org", help="organisation slug (default: all)")
        verify.add_argument("--checkpoint", help="a checkpoint file exported earlier")
        checkpoint = sub.add_parser("checkpoint", help="Export a signed checkpoint.")
        checkpoint.add_argument("--org", required=True)
        checkpoint.add_argument(
            "--output", help="file to write (default: standard output)"
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        if options["action"] == "checkpoint":
            organisation = self._organisation(options["org"])
            text = audit.export_checkpoint(organisation)
            if options["output"]:
                Path(options["output"]).write_text(text, encoding="utf-8")
                self.stderr.write(f"Checkpoint written to {options['output']}")
            else:
                self.stdout.write(text, ending="")
            return
        organisations = (
            [self._organisation(options["org"])]
            if options["org"]
            else list(Organisation.objects.order_by("slug"))
        )
        checkpoint = None
        if options["checkpoint"]:
            if not options["org"]:
                raise CommandError("--checkpoint needs --org.")
            try:
                checkpoint = Path(options["checkpoint"]).read_text(encoding="utf-8")
            except OSError as error:
                raise CommandError(f"Cannot read the checkpoint: {error}") from error
        failed = False
        for organisation in organisations:
            try:
                result = audit.verify(organisation, checkpoint=checkpoint)
            except DomainError as error:
                raise CommandError(error.message) from error
            if result.ok:
                self.stdout.write(
                    f"{organisation.slug}: OK, {result.events_checked} events, head #{result.head_sequence}"
                )
            else:
                failed = True
                self.stdout.write(
                    f"{organisation.slug}: BROKEN at event #{result.first_broken_sequence}: {result.problem}"
                )
        if failed:
            sys.exit(1)

    @staticmethod
    def _organisation(slug: str) -> Organisation:
        organisation = Organisation.objects.filter(slug=slug).first()
        if organisation is None:
            raise CommandError(f"No organisation with the short name {slug!r}.")
        return organisation
