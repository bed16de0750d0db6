from __future__ import annotations

import os
import sys

from django.conf import settings
from django.core.management import BaseCommand, CommandError, call_command


class Command(BaseCommand):
    help = (
        "Serve Rantai with gunicorn on 127.0.0.1:$PORT (default 8000). Honours PORT, "
        "HOST, WEB_CONCURRENCY and DATABASE_URL; applies pending migrations first."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument("--host", default=os.environ.get("HOST", "127.0.0.1"))
        parser.add_argument("--port", type=int, default=None)
        parser.add_argument("--workers", type=int, default=None)
        parser.add_argument("--no-migrate", action="store_true")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        port = options["port"] or int(os.environ.get("PORT", "8000"))
        workers = options["workers"] or int(os.environ.get("WEB_CONCURRENCY", "2"))
        if not options["no_migrate"]:
            call_command("migrate", interactive=False, verbosity=0)
            # An installation upgraded from before search gets its index once; the
            # audit trail keeps it current from then on.
            from rantai.insight.indexing import reindex_missing

            built = reindex_missing()
            if built:
                self.stdout.write(f"Search index built: {built} documents")
        if not settings.DEBUG:
            call_command("collectstatic", interactive=False, verbosity=0)
        bind = f"{options['host']}:{port}"
        self.stdout.write(f"Rantai is serving at http://{bind}/ (Ctrl+C stops it)")
        self.stdout.flush()
        try:
            from gunicorn.app.wsgiapp import run
        except ImportError as error:  # pragma: no cover - gunicorn is a dependency
            raise CommandError(
                "gunicorn is not installed; run the setup script."
            ) from error
        sys.argv = [
            "gunicorn",
            "rantai.wsgi:application",
            "--bind",
            bind,
            "--workers",
            str(workers),
            "--threads",
            "4",
            "--access-logfile",
            "-",
            "--graceful-timeout",
            "5",
        ]
        run()
