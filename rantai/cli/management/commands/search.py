"""`rantai search <text>` and `rantai search reindex`: search on the command line,
and rebuilding the search index (docs/design-insight.md, "Search")."""

from __future__ import annotations

import html
import re
from typing import Any

from django.core.management import BaseCommand

from rantai.accounts.models import Organisation
from rantai.cli.management.commands import _output as out
from rantai.cli.management.commands.records import count, reading
from rantai.core.errors import ValidationFailed
from rantai.insight import indexing
from rantai.insight import search as searching
from rantai.insight.models import SearchKind

# The search's field names, as options.
OPTIONS = {"q": "WORDS", "kind": "--kind", "limit": "--limit", "offset": "--offset"}
_MARKUP = re.compile(r"</?mark>")


class Command(BaseCommand):
    help = (
        "Search: `rantai search WORDS --org SLUG [--as USERNAME] [--kind K] "
        "[--limit N] [--offset N] [--json]` finds runs, procedures, steps, people, "
        "positions, parties, information records, obstacles, reviews and targets "
        "in which every word matches (as a member sees them with --as; without "
        "it, the whole organisation), best first, with the count per kind; "
        "`--kind` (repeat) keeps only those kinds. `rantai search reindex [--org "
        "SLUG]` rebuilds the index of one organisation, or of all (after a "
        "restore, or to fill it the first time), showing its progress. Exit code "
        "2: the organisation or user does not exist, or an option is malformed."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        parser.add_argument(
            "words",
            nargs="+",
            metavar="WORDS",
            help='what to find (or "reindex" to rebuild the index)',
        )
        parser.add_argument(
            "--org", help="organisation slug (searching: required; reindex: all)"
        )
        parser.add_argument(
            "--as",
            dest="actor",
            metavar="USERNAME",
            help="search as this member (default: the whole organisation)",
        )
        parser.add_argument(
            "--kind",
            action="append",
            choices=SearchKind.values,
            default=[],
            help="only this kind (repeat)",
        )
        parser.add_argument("--limit", type=int, default=20, metavar="N")
        parser.add_argument("--offset", type=int, default=0, metavar="N")
        parser.add_argument("--json", action="store_true", help="write JSON")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        with out.quiet_broken_pipe():
            if options["words"] == ["reindex"]:
                self._reindex(options)
                return
            if not options["org"]:
                raise out.bad_input("Give the organisation to search: --org SLUG.")
            self._search(out.organisation(options["org"]), options)

    def _search(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = reading(organisation, options["actor"])
        text = " ".join(options["words"])
        try:
            found = searching.search(
                access,
                text,
                kinds=options["kind"] or None,
                limit=options["limit"],
                offset=options["offset"],
            )
        except ValidationFailed as error:
            raise out.bad_input(_problem(error)) from error
        hits = [
            {
                "kind": str(hit.kind),
                "object_id": hit.object_id,
                "parent_id": hit.parent_id,
                "title": hit.title,
                "subtitle": hit.subtitle,
                "snippet": plain(hit.snippet),
            }
            for hit in found.hits
        ]
        if options["json"]:
            self.stdout.write(
                out.to_json(
                    {
                        "query": found.query,
                        "total": found.total,
                        "counts": dict(found.counts),
                        "limit": found.limit,
                        "offset": found.offset,
                        "hits": hits,
                    }
                )
            )
            return
        if not hits:
            self.stdout.write(f"Nothing found for {text!r} in {organisation.slug}.")
            return
        rows = [
            [str(hit.kind), str(hit.object_id), hit.title, hit.subtitle]
            for hit in found.hits
        ]
        for line in out.table(["KIND", "ID", "TITLE", "UNDER"], rows, right=(1,)):
            self.stdout.write(line)
        first = found.offset + 1
        last = found.offset + len(hits)
        per_kind = ", ".join(
            f"{kind} {number}"
            for kind, number in sorted(found.counts.items())
            if number
        )
        self.stdout.write(
            f"{first}–{last} of {count(found.total, 'result')} ({per_kind})."
        )

    def _reindex(self, options: dict[str, Any]) -> None:
        organisation = out.organisation(options["org"]) if options["org"] else None
        where = organisation.slug if organisation else "every organisation"
        self.stdout.write(f"Rebuilding the search index of {where}…")

        def progress(message: str) -> None:
            self.stdout.write(f"  {message}")
            self.stdout.flush()

        total = indexing.reindex(organisation, progress=progress)
        self.stdout.write(f"Indexed {count(total, 'document')}.")


def _problem(error: ValidationFailed) -> str:
    return " ".join(
        f"{OPTIONS.get(field, field)}: {' '.join(messages)}"
        for field, messages in error.errors.items()
    )


def plain(snippet: str) -> str:
    """A snippet without its highlighting, as plain text."""
    return html.unescape(_MARKUP.sub("", snippet))
