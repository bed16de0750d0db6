from __future__ import annotations

import datetime as dt
import os
import sys
import zoneinfo
from collections.abc import Sequence

from django.core.management import BaseCommand, CommandError
from django.db.models import Count, Q
from django.utils import timezone

from rantai.accounts.models import Organisation
from rantai.chains import projection
from rantai.chains import services as chains
from rantai.chains.calendar import minutes_per_working_day
from rantai.chains.models import (
    FINISHED_STATUSES,
    Run,
    RunStatus,
    ScheduleStatus,
    Task,
)

TIME_FORMAT = "%Y-%m-%d %H:%M"


class Command(BaseCommand):
    help = (
        "Runs of procedures: `rantai runs list [--org SLUG] [--status STATUS ...] "
        "[--schedule STATUS ...]` lists runs, newest first; `rantai runs schedule "
        "RUN_ID` prints a run's schedule (critical path marked with *), its projected "
        "finish against the due date and its status; `rantai runs refresh [--org "
        "SLUG]` brings every active run's projected finish and status up to date "
        "with the clock (run it periodically, e.g. every 15 minutes from cron)."
    )
    # Tests pass a fixed clock; everyone else reads the schedule as of now.
    stealth_options = ("now",)

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List runs, newest first.")
        listing.add_argument("--org", help="organisation slug (default: all)")
        listing.add_argument(
            "--status",
            nargs="+",
            choices=RunStatus.values,
            help="keep runs in these states",
        )
        listing.add_argument(
            "--schedule",
            nargs="+",
            choices=ScheduleStatus.values,
            help="keep runs with this schedule status",
        )
        schedule = sub.add_parser("schedule", help="Print a run's schedule.")
        schedule.add_argument("run_id", metavar="RUN_ID")
        refresh = sub.add_parser(
            "refresh",
            help="Bring the active runs' projected finish and status up to date.",
        )
        refresh.add_argument("--org", help="organisation slug (default: all)")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        now = options.get("now") or timezone.now()
        try:
            if options["action"] == "list":
                self._list(options["org"], options["status"], options["schedule"])
            elif options["action"] == "refresh":
                self._refresh(options["org"], now)
            else:
                self._schedule(options["run_id"], now)
        except BrokenPipeError:
            # Piped into `head` or a pager that quit: stop quietly.
            os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())

    # --- refresh --------------------------------------------------------------------

    def _refresh(self, slug: str | None, now: dt.datetime) -> None:
        organisation = _organisation(slug) if slug else None
        result = chains.refresh_schedules(organisation=organisation, now=now)
        runs = "1 active run" if result.runs == 1 else f"{result.runs} active runs"
        self.stdout.write(
            f"{runs} refreshed; {result.changed} changed status "
            f"({result.now_at_risk} now at risk, {result.now_late} now late)."
        )

    # --- runs list ------------------------------------------------------------------

    def _list(
        self,
        slug: str | None,
        statuses: Sequence[str] | None,
        schedules: Sequence[str] | None,
    ) -> None:
        runs = Run.objects.select_related(
            "organisation", "procedure", "procedure_version"
        ).annotate(
            total=Count("tasks"),
            finished=Count("tasks", filter=Q(tasks__status__in=FINISHED_STATUSES)),
        )
        if slug:
            runs = runs.filter(organisation=_organisation(slug))
        if statuses:
            runs = runs.filter(status__in=statuses)
        if schedules:
            runs = runs.filter(schedule_status__in=schedules)
        rows = [
            [
                str(run.pk),
                run.organisation.slug,
                run.title,
                f"{run.procedure.code} v{run.procedure_version.number}",
                run.status,
                _schedule_label(run),
                _local(run.due_at, run.organisation),
                _local(_finish(run), run.organisation),
                f"{run.finished}/{run.total}",
            ]
            for run in runs.order_by("-started_at", "-id")
        ]
        if not rows:
            self.stdout.write("No runs.")
            return
        header = [
            "ID",
            "ORG",
            "TITLE",
            "PROCEDURE",
            "STATUS",
            "SCHEDULE",
            "DUE",
            "FINISH",
            "DONE",
        ]
        for line in _table(header, rows, right=(0, 8)):
            self.stdout.write(line)

    # --- one run's schedule -----------------------------------------------------------

    def _schedule(self, raw_id: str, now: dt.datetime) -> None:
        try:
            run_id = int(raw_id)
        except ValueError:
            raise CommandError(f"A run id is a number, not {raw_id!r}.") from None
        run = (
            Run.objects.select_related("organisation", "procedure", "procedure_version")
            .filter(pk=run_id)
            .first()
        )
        if run is None:
            raise CommandError(f"No run with the id {run_id}.")
        organisation = run.organisation
        tasks = list(
            Task.objects.filter(run=run)
            .select_related("assignee", "responsible_position", "responsible_party")
            .order_by("sort_order", "id")
        )
        write = self.stdout.write
        write(f"Run {run.pk}: {run.title}")
        write(
            f"Procedure: {run.procedure.name} ({run.procedure.code} "
            f"v{run.procedure_version.number}); organisation: {organisation.slug}"
        )
        target = f"{run.measure_quantity.normalize():f} {run.measure_unit}"
        write(f"Target: {target}, due {_local(run.due_at, organisation)}")
        write(f"Times in {organisation.time_zone}; slack in working time.")
        if run.status == RunStatus.CANCELLED:
            write(
                f"Status: cancelled ({run.status_reason}). A cancelled run has no schedule."
            )
            return
        calendar = projection.calendar_spec(organisation)
        day_minutes = minutes_per_working_day(calendar)
        schedule = projection.full_schedule(run, now=now)
        if run.status == RunStatus.COMPLETED and run.completed_at is not None:
            finish = run.completed_at
            write(
                f"Status: completed {_local(finish, organisation)}, "
                f"{_against_due(finish, run.due_at)}: {run.get_result_display()}."
            )
        else:
            finish = schedule.projected_finish
            status = ScheduleStatus(schedule.status).label
            write(
                f"Status: {run.get_status_display()}; projected finish "
                f"{_local(finish, organisation)}, {_against_due(finish, run.due_at)}: "
                f"{status}."
            )
        write("")
        critical = set(schedule.critical_path)
        rows = []
        for task in sorted(
            tasks,
            key=lambda t: (
                schedule.tasks[t.pk].earliest_start
                if t.pk in schedule.tasks
                else dt.datetime.max.replace(tzinfo=dt.UTC),
                t.sort_order,
                t.pk,
            ),
        ):
            timing = schedule.tasks.get(task.pk)
            rows.append(
                [
                    "*" if task.pk in critical else "",
                    task.key,
                    task.name,
                    task.status,
                    _who(task),
                    _local(timing.earliest_start, organisation) if timing else "-",
                    _local(timing.earliest_finish, organisation) if timing else "-",
                    _local(timing.latest_finish, organisation) if timing else "-",
                    _working_time(timing.slack_minutes, day_minutes) if timing else "-",
                ]
            )
        header = [
            "",
            "STEP",
            "NAME",
            "STATUS",
            "WHO",
            "START",
            "FINISH",
            "LATEST",
            "SLACK",
        ]
        for line in _table(header, rows, right=(8,)):
            write(line)
        keys = {task.pk: task.key for task in tasks}
        write("")
        write(
            "* critical path: "
            + (
                " -> ".join(keys[pk] for pk in schedule.critical_path if pk in keys)
                or "-"
            )
        )


# --- helpers --------------------------------------------------------------------------


def _organisation(slug: str) -> Organisation:
    organisation = Organisation.objects.filter(slug=slug).first()
    if organisation is None:
        raise CommandError(f"No organisation with the short name {slug!r}.")
    return organisation


def _local(moment: dt.datetime | None, organisation: Organisation) -> str:
    if moment is None:
        return "-"
    zone = zoneinfo.ZoneInfo(organisation.time_zone)
    return moment.astimezone(zone).strftime(TIME_FORMAT)


def _finish(run: Run) -> dt.datetime | None:
    if run.status == RunStatus.COMPLETED:
        return run.completed_at
    if run.status == RunStatus.CANCELLED:
        return None
    return run.projected_finish_at


def _schedule_label(run: Run) -> str:
    if run.status == RunStatus.CANCELLED:
        return "-"
    if run.status == RunStatus.COMPLETED:
        return run.result or "-"
    return run.schedule_status


def _who(task: Task) -> str:
    if task.assignee is not None:
        return task.assignee.full_name
    if task.responsible_party is not None:
        return task.responsible_party.code
    if task.responsible_position is not None:
        return f"({task.responsible_position.code})"
    return "-"


def _against_due(finish: dt.datetime, due: dt.datetime) -> str:
    """How a finish compares with the due date, in wall-clock time."""
    difference = finish - due
    if abs(difference) < dt.timedelta(minutes=1):
        return "on the due date"
    text = _duration(abs(difference))
    return (
        f"{text} after the due date"
        if difference > dt.timedelta(0)
        else (f"{text} before the due date")
    )


def _duration(delta: dt.timedelta) -> str:
    minutes = int(delta.total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{days} day{'s' if days != 1 else ''}" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes and not days else "",
    ]
    return " ".join(part for part in parts if part) or "0 min"


def _working_time(minutes: int, day_minutes: int) -> str:
    """Working minutes as working days and hours (a day = the calendar's day)."""
    if minutes <= 0:
        return "0"
    days, rest = divmod(minutes, day_minutes)
    hours, rest = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else ""]
    if rest:
        parts.append(f"{rest}m")
    return " ".join(part for part in parts if part)


def _table(
    header: list[str], rows: list[list[str]], *, right: Sequence[int] = ()
) -> list[str]:
    """Columns aligned to their widest cell, two spaces apart."""
    widths = [
        max(len(row[column]) for row in [header, *rows])
        for column in range(len(header))
    ]

    def line(cells: list[str]) -> str:
        return "  ".join(
            cell.rjust(width) if column in right else cell.ljust(width)
            for column, (cell, width) in enumerate(zip(cells, widths, strict=True))
        ).rstrip()

    return [line(header), *(line(row) for row in rows)]
