"""`rantai dashboard procedure|party ID`: the owner's dashboard on the command line
— where a procedure or a party loses time over the runs completed in a period —
printed, as JSON, or written to an Excel workbook or a PDF
(docs/design-insight.md, "Owner's dashboard")."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from pathlib import Path
from typing import Any

from django.core.management import BaseCommand
from django.utils import timezone, translation

from rantai.accounts.models import Organisation
from rantai.cli.management.commands import _output as out
from rantai.cli.management.commands.records import add_common, count, number, reading
from rantai.core.errors import NotFound, ValidationFailed
from rantai.insight import dashboard as dashboards
from rantai.insight import exports

DEFAULT_DAYS = 90


class Command(BaseCommand):
    help = (
        "The owner's dashboard: `rantai dashboard procedure ID --org SLUG` or "
        "`rantai dashboard party ID --org SLUG`, with `[--from DATE] [--to DATE]` "
        "(the runs completed in that period, both days included; by default the "
        "last 90 days up to today) and `[--as USERNAME]` (what that member may "
        "see), prints the runs finished and on time, lead times, each step's "
        "cycle, waiting and working time, handovers between parties, the critical "
        "paths, obstacles by cause and the trend; `--json` writes them as JSON, "
        "`--xlsx FILE` as an Excel workbook, `--pdf FILE` as a PDF. Hours are "
        "wall-clock hours (median / 90th percentile). Exit code 2: the "
        "organisation, user, procedure or party does not exist (dashboards are "
        "for the whole organisation's members), or an option is malformed."
    )
    # Tests pass a fixed clock; everyone else reads as of now.
    stealth_options = ("now",)

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="kind", required=True)
        for kind, what in (("procedure", "a procedure"), ("party", "a party")):
            scope = sub.add_parser(kind, help=f"The dashboard of {what}.")
            scope.add_argument("scope_id", metavar="ID", help=f"{what}'s id")
            add_common(scope, acting_required=False, json=False)
            scope.add_argument(
                "--from", dest="start", metavar="DATE", help="first day, YYYY-MM-DD"
            )
            scope.add_argument(
                "--to", dest="end", metavar="DATE", help="last day, YYYY-MM-DD"
            )
            scope.add_argument(
                "--language",
                choices=("en", "id"),
                default="en",
                help="of the workbook and the PDF (default: en)",
            )
            written = scope.add_mutually_exclusive_group()
            written.add_argument("--json", action="store_true", help="write JSON")
            written.add_argument("--xlsx", metavar="FILE", help="write an Excel file")
            written.add_argument("--pdf", metavar="FILE", help="write a PDF")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        now = options.get("now") or timezone.now()
        with out.quiet_broken_pipe():
            organisation = out.organisation(options["org"])
            access = reading(organisation, options["actor"])
            kind = options["kind"]
            pk = number(options["scope_id"], kind)
            try:
                scope = dashboards.scope_for(access, kind, pk)
            except NotFound as error:
                raise out.bad_input(
                    f"No {kind} with the id {options['scope_id']} in "
                    f"{organisation.slug}."
                ) from error
            start, end = _period(organisation, options, now)
            try:
                board = dashboards.dashboard(
                    access, scope, start=start, end=end, now=now
                )
            except ValidationFailed as error:
                raise out.bad_input(_period_problem(error)) from error
            if options["xlsx"]:
                with translation.override(options["language"]):
                    data = exports.dashboard_xlsx(board)
                self._write_file(data, options["xlsx"])
            elif options["pdf"]:
                with translation.override(options["language"]):
                    data = exports.dashboard_pdf(board)
                self._write_file(data, options["pdf"])
            elif options["json"]:
                self.stdout.write(out.to_json(dashboard_data(board)))
            else:
                self._print(board)

    def _write_file(self, data: bytes, output: str) -> None:
        path = Path(output)
        try:
            path.write_bytes(data)
        except OSError as error:
            raise out.bad_input(f"Cannot write {path}: {error.strerror}.") from error
        self.stdout.write(f"Wrote {path} ({len(data):,} bytes).")

    def _print(self, board: dashboards.Dashboard) -> None:
        write = self.stdout.write
        scope = board.scope
        write(
            f"Dashboard of {scope.kind} {scope.id} ({scope.label}), runs completed "
            f"{board.start} to {board.end}."
        )
        if not board.finished:
            write("No run was completed in this period.")
        else:
            write(
                f"{count(board.finished, 'run')} finished, {board.on_time} on time "
                f"({_rate(board.on_time_rate)}); lead time {_hours(board.lead)}."
            )
            write(
                f"All tasks together: {board.waiting_hours:.1f} h waiting, "
                f"{board.working_hours:.1f} h working."
            )
        if board.steps:
            write("")
            rows = [
                [
                    step.key,
                    step.name,
                    str(step.runs),
                    _hours(step.cycle),
                    _hours(step.waiting),
                    _hours(step.working),
                    str(step.on_critical_path),
                    str(step.caused_delay),
                ]
                for step in board.steps
            ]
            for line in out.table(
                [
                    "STEP",
                    "NAME",
                    "RUNS",
                    "CYCLE H",
                    "WAITING H",
                    "WORKING H",
                    "CRITICAL",
                    "DELAYED",
                ],
                rows,
                right=(2, 6, 7),
            ):
                write(line)
        if board.handovers:
            write("")
            rows = [
                [h.from_party, h.to_party, str(h.wait.count), _hours(h.wait)]
                for h in board.handovers
            ]
            for line in out.table(
                ["FROM", "TO", "HANDOVERS", "WAIT H"], rows, right=(2,)
            ):
                write(line)
        if board.positions:
            write("")
            rows = [
                [p.title, str(p.on_critical_path), str(p.caused_delay)]
                for p in board.positions
            ]
            for line in out.table(
                ["POSITION", "CRITICAL", "DELAYED"], rows, right=(1, 2)
            ):
                write(line)
        if board.causes:
            write("")
            rows = [
                [str(c.label), str(c.count), str(c.delay_minutes)] for c in board.causes
            ]
            for line in out.table(
                ["OBSTACLE CAUSE", "COUNT", "DELAY MIN"], rows, right=(1, 2)
            ):
                write(line)
        if board.trend:
            write("")
            rows = [
                [
                    f"{point.start} – {point.end}",
                    str(point.finished),
                    str(point.on_time),
                    _hours(point.lead),
                ]
                for point in board.trend
            ]
            for line in out.table(
                ["PERIOD", "FINISHED", "ON TIME", "LEAD H"], rows, right=(1, 2)
            ):
                write(line)
        write("Hours: median / 90th percentile, wall-clock.")


def _period(
    organisation: Organisation, options: dict[str, Any], now: dt.datetime
) -> tuple[dt.date, dt.date]:
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    end = (
        _date(options["end"], "--to") if options["end"] else now.astimezone(zone).date()
    )
    start = (
        _date(options["start"], "--from")
        if options["start"]
        else end - dt.timedelta(days=DEFAULT_DAYS - 1)
    )
    if start > end:
        raise out.bad_input("The period ends (--to) before it starts (--from).")
    return start, end


def _period_problem(error: ValidationFailed) -> str:
    """The dashboard's refusal of a period, naming the options."""
    options = {"start": "--from", "end": "--to"}
    return " ".join(
        f"{options.get(field, field)}: {' '.join(messages)}"
        for field, messages in error.errors.items()
    )


def _date(raw: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise out.bad_input(f"{option} is a date as YYYY-MM-DD, not {raw!r}.") from None


def _number(hours: float | None) -> str:
    return "-" if hours is None else f"{hours:.1f}"


def _hours(seen: Any) -> str:
    """ "12.5 / 30.0" (median / 90th percentile), "-" without values."""
    if not seen.count:
        return "-"
    return f"{_number(seen.median_hours)} / {_number(seen.p90_hours)}"


def _rate(rate: float | None) -> str:
    return "-" if rate is None else f"{rate * 100:.0f}%"


def _distribution(seen: Any) -> dict[str, Any]:
    return {
        "count": seen.count,
        "median_hours": seen.median_hours,
        "p90_hours": seen.p90_hours,
    }


def dashboard_data(board: dashboards.Dashboard) -> dict[str, Any]:
    return {
        "scope": {
            "kind": board.scope.kind,
            "id": board.scope.id,
            "label": board.scope.label,
        },
        "start": board.start.isoformat(),
        "end": board.end.isoformat(),
        "finished": board.finished,
        "on_time": board.on_time,
        "on_time_rate": board.on_time_rate,
        "lead": _distribution(board.lead),
        "waiting_hours": board.waiting_hours,
        "working_hours": board.working_hours,
        "steps": [
            {
                "key": s.key,
                "name": s.name,
                "runs": s.runs,
                "cycle": _distribution(s.cycle),
                "waiting": _distribution(s.waiting),
                "working": _distribution(s.working),
                "on_critical_path": s.on_critical_path,
                "caused_delay": s.caused_delay,
            }
            for s in board.steps
        ],
        "handovers": [
            {
                "from_party_id": h.from_party_id,
                "from_party": h.from_party,
                "to_party_id": h.to_party_id,
                "to_party": h.to_party,
                "wait": _distribution(h.wait),
            }
            for h in board.handovers
        ],
        "positions": [
            {
                "position_id": p.position_id,
                "title": p.title,
                "on_critical_path": p.on_critical_path,
                "caused_delay": p.caused_delay,
            }
            for p in board.positions
        ],
        "causes": [
            {
                "cause": str(c.cause),
                "label": str(c.label),
                "count": c.count,
                "delay_minutes": c.delay_minutes,
            }
            for c in board.causes
        ],
        "trend": [
            {
                "start": p.start.isoformat(),
                "end": p.end.isoformat(),
                "finished": p.finished,
                "on_time": p.on_time,
                "lead": _distribution(p.lead),
            }
            for p in board.trend
        ],
    }
