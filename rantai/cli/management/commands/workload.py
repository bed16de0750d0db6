from __future__ import annotations

import sys
from pathlib import Path
from typing import Any

from django.core.management import BaseCommand
from django.db.models import QuerySet
from django.utils import translation

from rantai.accounts.models import Organisation
from rantai.cli.management.commands import _output as out
from rantai.org.models import Party, PartyKind
from rantai.workload import reports, spreadsheet
from rantai.workload.models import Analysis

FORMATS = ("pdf", "xlsx", "json")


class Command(BaseCommand):
    help = (
        "Workload analyses (ABK): `rantai workload list [--org SLUG]` lists them, "
        "newest year first; `rantai workload show UNIT YEAR [--revision N] [--org "
        "SLUG]` prints an analysis's positions with their results; `rantai workload "
        "report UNIT YEAR --format pdf|xlsx|json [--revision N] [--output FILE] "
        "[--language id|en] [--org SLUG]` writes its report (PDF and xlsx need "
        "--output or a redirected standard output). UNIT is the unit's code; the "
        "latest revision unless --revision. Exit code 2: no such organisation, unit, "
        "year or revision."
    )

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List workload analyses.")
        listing.add_argument("--org", help="organisation slug (default: all)")
        for name, text in (
            ("show", "Print an analysis's positions and results."),
            ("report", "Write an analysis's report as PDF, xlsx or JSON."),
        ):
            action = sub.add_parser(name, help=text)
            action.add_argument("unit", metavar="UNIT", help="the unit's code")
            action.add_argument("year", metavar="YEAR", help="the year, e.g. 2026")
            action.add_argument(
                "--revision", type=int, help="the revision (default: the latest)"
            )
            action.add_argument(
                "--org", help="organisation slug (needed when several have UNIT)"
            )
            if name == "report":
                action.add_argument("--format", required=True, choices=FORMATS)
                action.add_argument(
                    "--output", metavar="FILE", help="write to FILE (default: stdout)"
                )
                action.add_argument(
                    "--language",
                    choices=("id", "en"),
                    default="en",
                    help="language of words and numbers (default: en)",
                )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        with out.quiet_broken_pipe():
            if options["action"] == "list":
                self._list(options["org"])
                return
            analysis = _analysis(
                options["org"], options["unit"], options["year"], options["revision"]
            )
            if options["action"] == "show":
                self._show(analysis)
            else:
                self._report(
                    analysis,
                    options["format"],
                    options["output"],
                    options["language"],
                )

    # --- list ------------------------------------------------------------------------

    def _list(self, slug: str | None) -> None:
        analyses: QuerySet[Analysis] = Analysis.objects.select_related(
            "organisation", "unit"
        ).order_by("organisation__slug", "-year", "unit__code", "-revision")
        if slug:
            analyses = analyses.filter(organisation=out.organisation(slug))
        rows = [
            [
                analysis.organisation.slug,
                analysis.unit.code,
                analysis.unit.name,
                str(analysis.year),
                str(analysis.revision),
                analysis.status,
                _figure(analysis.current_count),
                _figure(analysis.required_total, 3),
                _figure(analysis.required_count),
                out.local(analysis.computed_at, analysis.organisation),
            ]
            for analysis in analyses
        ]
        if not rows:
            self.stdout.write("No workload analyses.")
            return
        header = [
            "ORG",
            "UNIT",
            "NAME",
            "YEAR",
            "REV",
            "STATUS",
            "CURRENT",
            "REQUIRED",
            "ROUNDED",
            "COMPUTED",
        ]
        for line in out.table(header, rows, right=(3, 4, 6, 7, 8)):
            self.stdout.write(line)

    # --- show ------------------------------------------------------------------------

    def _show(self, analysis: Analysis) -> None:
        report = reports.build(analysis)
        write = self.stdout.write
        with translation.override("en"):
            write(
                f"Workload analysis of {report.unit_name} ({report.unit_code}), "
                f"{report.year}, revision {report.revision}; organisation: "
                f"{report.organisation_slug}"
            )
            write(f"Status: {report.status}")
            write(f"Method: {reports.preset_name(report.preset)}")
            wke = ", ".join(
                f"{reports.figure(minutes, 'en')} min {reports.period_label(period)}"
                for period, minutes in report.effective_minutes.items()
            )
            write(f"Effective working time (WKE): {wke}")
            if report.computed_at is None:
                write("Not computed yet: `compute` stores the results.")
            else:
                write(
                    "Computed: "
                    f"{out.local(report.computed_at, analysis.organisation)} "
                    f"({analysis.organisation.time_zone})"
                )
            signature = report.signature
            if signature.approved:
                on_behalf = (
                    f", a.n. {signature.on_behalf_of}" if signature.on_behalf_of else ""
                )
                write(
                    f"Approved by {signature.name} ({signature.position}{on_behalf}) "
                    f"{out.local(signature.approved_at, analysis.organisation)}"
                )
            else:
                write("Draft — not approved.")
            write("")
            rows = [
                [
                    str(position.number),
                    position.code,
                    position.title,
                    position.status,
                    str(len(position.entries)),
                    str(position.current_holders),
                    _figure(position.required_staff, 3),
                    _figure(position.required_count),
                    _signed(position.shortage),
                    _figure(position.effectiveness, 2),
                    position.grade or "-",
                    _figure(position.fte, 2),
                    position.fte_category or "-",
                ]
                for position in report.positions
            ]
            totals = report.totals
            rows.append(
                [
                    "",
                    "",
                    "Total",
                    "",
                    str(sum(len(p.entries) for p in report.positions)),
                    _figure(totals.current_staff),
                    _figure(totals.required_staff, 3),
                    _figure(totals.required_count),
                    _signed(totals.shortage),
                    "",
                    "",
                    "",
                    "",
                ]
            )
            header = [
                "NO",
                "CODE",
                "POSITION",
                "SHEET",
                "DUTIES",
                "CURRENT",
                "REQUIRED",
                "ROUNDED",
                "+/-",
                "EJ",
                "PJ",
                "FTE",
                "CATEGORY",
            ]
            for line in out.table(header, rows, right=(0, 4, 5, 6, 7, 8, 9, 11)):
                write(line)
            write("+/-: shortage (+) or surplus (-) of staff; EJ: job effectiveness;")
            write("PJ: job performance grade.")

    # --- report ------------------------------------------------------------------------

    def _report(
        self,
        analysis: Analysis,
        kind: str,
        output: str | None,
        language: str,
    ) -> None:
        stream = getattr(self.stdout, "_out", sys.stdout)
        if kind != "json" and output is None and _is_terminal(stream):
            raise out.bad_input(
                f"A {kind} report is binary: give --output FILE or redirect the "
                "standard output to a file."
            )
        data: bytes
        if kind == "json":
            report = reports.build(analysis)
            text = out.to_json(reports.as_json(report)) + "\n"
            if output is None:
                self.stdout.write(text, ending="")
                return
            data = text.encode()
        elif kind == "pdf":
            data = reports.pdf(reports.build(analysis), language=language)
        else:
            data = spreadsheet.export(analysis, language=language)
        if output is None:
            binary = getattr(stream, "buffer", None)
            if binary is None:
                raise out.bad_input(
                    f"A {kind} report is binary: give --output FILE or redirect the "
                    "standard output to a file."
                )
            stream.flush()
            binary.write(data)
            binary.flush()
            return
        path = Path(output)
        try:
            path.write_bytes(data)
        except OSError as error:
            raise out.bad_input(f"Cannot write {path}: {error.strerror}") from error
        self.stdout.write(
            f"Wrote the {kind} report of {analysis.unit.code} {analysis.year} "
            f"revision {analysis.revision} to {path} ({len(data):,} bytes)."
        )


def _is_terminal(stream: Any) -> bool:
    isatty = getattr(stream, "isatty", None)
    return bool(isatty and isatty())


def _figure(value: Any, places: int | None = None) -> str:
    if value is None:
        return "-"
    return reports.figure(value, "en", places)


def _signed(value: int | None) -> str:
    return "-" if value is None else reports.signed(value, "en")


def _analysis(
    slug: str | None, unit_code: str, raw_year: str, revision: int | None
) -> Analysis:
    """The analysis of the unit with the code `unit_code` for the year: the given
    revision or the latest."""
    try:
        year = int(raw_year)
    except ValueError:
        raise out.bad_input(f"A year is a number, not {raw_year!r}.") from None
    units = Party.objects.filter(code=unit_code, kind=PartyKind.INTERNAL_UNIT)
    organisation: Organisation | None = None
    if slug:
        organisation = out.organisation(slug)
        units = units.filter(organisation=organisation)
    found = list(units.select_related("organisation")[:2])
    if not found:
        where = f" in {organisation.slug}" if organisation else ""
        raise out.bad_input(f"No unit with the code {unit_code!r}{where}.")
    if len(found) > 1:
        raise out.bad_input(
            f"Several organisations have a unit {unit_code!r}: name one with --org."
        )
    unit = found[0]
    analyses = Analysis.objects.select_related("organisation", "unit").filter(
        organisation=unit.organisation, unit=unit, year=year
    )
    if revision is not None:
        analyses = analyses.filter(revision=revision)
    analysis = analyses.order_by("-revision").first()
    if analysis is not None:
        return analysis
    if revision is not None and Analysis.objects.filter(unit=unit, year=year).exists():
        raise out.bad_input(
            f"The workload analysis of {unit_code} for {year} has no revision "
            f"{revision}."
        )
    years = sorted(
        set(Analysis.objects.filter(unit=unit).values_list("year", flat=True))
    )
    known = (
        f" (it has: {', '.join(str(y) for y in years)})" if years else " (it has none)"
    )
    raise out.bad_input(
        f"{unit.organisation.slug} has no workload analysis of {unit_code} for "
        f"{year}{known}."
    )
