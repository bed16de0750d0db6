from __future__ import annotations

from django.core.management import BaseCommand

from rantai.core import outbox


class Command(BaseCommand):
    help = "Deliver pending outbox messages (e-mails) now: `rantai outbox deliver`."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("action", choices=["deliver"])

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        sent = outbox.deliver_pending()
        self.stdout.write(f"{sent} message(s) delivered.")
