from __future__ import annotations

from django.conf import settings
from django.core.management import BaseCommand, call_command
from django.db import connection

from rantai.demo import loader


class Command(BaseCommand):
    help = "Load the demo organisation PT Nusantara Makmur (idempotent) and print the logins."

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "--reset",
            action="store_true",
            help="Recreate the database from scratch first (audit events are never deleted "
            "one by one: the whole database is recreated).",
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        if options["reset"]:
            self._recreate_database()
        call_command("migrate", interactive=False, verbosity=0)
        if loader.demo_exists():
            self.stdout.write("The demo organisation is already loaded.")
        else:
            self.stdout.write("Loading the demo organisation PT Nusantara Makmur ...")
            loader.load()
            self.stdout.write(self.style.SUCCESS("Demo loaded."))
        self._print_logins()

    def _recreate_database(self) -> None:
        vendor = connection.vendor
        if vendor == "sqlite":
            from pathlib import Path

            name = Path(str(settings.DATABASES["default"]["NAME"]))
            connection.close()
            for suffix in ("", "-wal", "-shm", "-journal"):
                candidate = name.with_name(name.name + suffix)
                if candidate.exists():
                    candidate.unlink()
        elif vendor == "postgresql":
            with connection.cursor() as cursor:
                cursor.execute("DROP SCHEMA public CASCADE; CREATE SCHEMA public;")
        else:
            raise SystemExit(f"--reset does not support the {vendor} database.")
        self.stdout.write("Database recreated.")

    def _print_logins(self) -> None:
        base = settings.RANTAI_BASE_URL
        self.stdout.write("")
        self.stdout.write(f"Rantai demo at {base}/  (organisation: {loader.DEMO_SLUG})")
        self.stdout.write(f"Every demo login uses the password: {loader.DEMO_PASSWORD}")
        for login in loader.logins():
            self.stdout.write(f"  {login.username:<9} {login.description}")
        self.stdout.write("")
