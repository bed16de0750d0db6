"""`rantai obstacles list|show|raise|what-if|resolve|withdraw|mitigate`: obstacles,
their impact on the target and their mitigations on the command line
(docs/design-obstacles.md)."""

from __future__ import annotations

import re
from typing import Any

from django.core.management import BaseCommand
from django.utils import timezone

from rantai.accounts.access import Access
from rantai.accounts.models import Organisation
from rantai.chains import projection
from rantai.chains.calendar import minutes_per_working_day
from rantai.cli.management.commands import _output as out
from rantai.cli.management.commands.records import (
    acting,
    add_common,
    count,
    found,
    moment,
    number,
    reading,
    refusals,
    run_of,
    status_text,
    task_of,
)
from rantai.evidence import queries as evidence_queries
from rantai.evidence.models import InformationRecord
from rantai.obstacles import impact as impacts
from rantai.obstacles import obstacles as services
from rantai.obstacles import queries
from rantai.obstacles.models import Cause, Obstacle, ObstacleStatus, Severity
from rantai.org.models import Person

_DURATION = re.compile(r"^\s*(\d+)\s*(m|min|h|d)?\s*$")


class Command(BaseCommand):
    help = (
        "Obstacles: `rantai obstacles list --org SLUG [--as USERNAME] [--run ID] "
        "[--status S] [--json]`; `show ID --org SLUG [--as USERNAME] [--json]` "
        "prints an obstacle with its impact, records and mitigations; `what-if "
        "--org SLUG --run ID [--task ID] --delay D [--as USERNAME] [--json]` shows "
        "what a delay (minutes, or 90m, 4h, 2d in working time) would do, saving "
        "nothing; `raise --org SLUG --as USERNAME --run ID [--task ID] --title T "
        "--description TEXT --delay D [--severity S] [--cause C] [--record ID]` "
        "raises one (the schedule moves at once); `resolve ID --org SLUG --as "
        "USERNAME --resolution TEXT --record ID` closes it with evidence; "
        "`withdraw ID --org SLUG --as USERNAME --reason TEXT`; `mitigate ID --org "
        "SLUG --as USERNAME --description TEXT --owner PERSON --due WHEN` adds an "
        "action. Exit code 2: something named does not exist (or an option is "
        "malformed); 1: the rules refused (nothing was written)."
    )
    # Tests pass a fixed clock; everyone else acts as of now.
    stealth_options = ("now",)

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)

        listing = sub.add_parser("list", help="List obstacles, newest first.")
        add_common(listing, acting_required=False)
        listing.add_argument("--run", metavar="ID", help="of this run")
        listing.add_argument("--status", choices=ObstacleStatus.values)

        show = sub.add_parser("show", help="Print an obstacle.")
        show.add_argument("obstacle_id", metavar="ID", help="the obstacle's id")
        add_common(show, acting_required=False)

        what_if = sub.add_parser(
            "what-if", help="What a delay would do (nothing is saved)."
        )
        add_common(what_if, acting_required=False)
        what_if.add_argument("--run", required=True, metavar="ID")
        what_if.add_argument("--task", metavar="ID", help="on this task only")
        what_if.add_argument("--delay", required=True, metavar="D", help=_DELAY_HELP)

        raising = sub.add_parser("raise", help="Raise an obstacle.")
        add_common(raising, acting_required=True)
        raising.add_argument("--run", required=True, metavar="ID")
        raising.add_argument("--task", metavar="ID", help="on this task only")
        raising.add_argument("--title", required=True)
        raising.add_argument("--description", required=True)
        raising.add_argument("--delay", required=True, metavar="D", help=_DELAY_HELP)
        raising.add_argument(
            "--severity", choices=Severity.values, default=Severity.MEDIUM
        )
        raising.add_argument("--cause", choices=Cause.values, default=Cause.OTHER)
        raising.add_argument(
            "--record",
            action="append",
            default=[],
            metavar="ID",
            help="a supporting information record (repeat)",
        )

        resolving = sub.add_parser("resolve", help="Close an obstacle as resolved.")
        resolving.add_argument("obstacle_id", metavar="ID")
        add_common(resolving, acting_required=True)
        resolving.add_argument("--resolution", required=True)
        resolving.add_argument(
            "--record",
            action="append",
            default=[],
            metavar="ID",
            help="a record with evidence of the resolution (repeat; one at least)",
        )
        resolving.add_argument("--version", type=int, metavar="N")

        withdrawing = sub.add_parser("withdraw", help="Withdraw an obstacle.")
        withdrawing.add_argument("obstacle_id", metavar="ID")
        add_common(withdrawing, acting_required=True)
        withdrawing.add_argument("--reason", required=True)
        withdrawing.add_argument("--version", type=int, metavar="N")

        mitigate = sub.add_parser("mitigate", help="Add a mitigation.")
        mitigate.add_argument("obstacle_id", metavar="ID")
        add_common(mitigate, acting_required=True)
        mitigate.add_argument("--description", required=True, help="what will be done")
        mitigate.add_argument(
            "--owner", required=True, metavar="PERSON", help="the owner's person id"
        )
        mitigate.add_argument(
            "--due", required=True, metavar="WHEN", help="YYYY-MM-DD[THH:MM]"
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        self.now = options.get("now") or timezone.now()
        with out.quiet_broken_pipe():
            organisation = out.organisation(options["org"])
            action = options["action"].replace("-", "_")
            getattr(self, f"_{action}")(organisation, options)

    # --- reading -------------------------------------------------------------------------

    def _list(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = reading(organisation, options["actor"])
        found_obstacles = list(
            queries.obstacles(
                access,
                run=number(options["run"], "run") if options["run"] else None,
                status=options["status"],
            )
        )
        if options["json"]:
            self.stdout.write(out.to_json([obstacle_data(o) for o in found_obstacles]))
            return
        if not found_obstacles:
            self.stdout.write(f"No obstacles in {organisation.slug}.")
            return
        day = _day_minutes(organisation)
        rows = [
            [
                str(obstacle.pk),
                obstacle.status,
                obstacle.severity,
                obstacle.title,
                str(obstacle.run_id),
                obstacle.task.name if obstacle.task else "(whole run)",
                out.working_span(obstacle.expected_delay_minutes, day),
                out.local(obstacle.raised_at, organisation),
            ]
            for obstacle in found_obstacles
        ]
        header = ["ID", "STATUS", "SEVERITY", "TITLE", "RUN", "ON", "DELAY", "RAISED"]
        for line in out.table(header, rows, right=(0, 4)):
            self.stdout.write(line)
        still_open = sum(1 for o in found_obstacles if o.status == ObstacleStatus.OPEN)
        self.stdout.write(
            f"{count(len(found_obstacles), 'obstacle')}, {still_open} open; times "
            f"in {organisation.time_zone}."
        )

    def _show(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = reading(organisation, options["actor"])
        obstacle = _obstacle(access, options["obstacle_id"])
        supporting = list(obstacle.records.all())
        resolution = list(obstacle.resolution_records.all())
        mitigations = list(obstacle.mitigations.all())
        stored = impacts.Impact.from_json(obstacle.impact) if obstacle.impact else None
        if options["json"]:
            data = obstacle_data(obstacle)
            data["impact"] = _impact_data(stored, access) if stored else None
            data["records"] = [_record_ref(r) for r in supporting]
            data["resolution_records"] = [_record_ref(r) for r in resolution]
            data["mitigations"] = [
                {
                    "id": m.pk,
                    "description": m.description,
                    "owner": {"id": m.owner_id, "name": m.owner.full_name},
                    "due_at": m.due_at,
                    "status": m.status,
                    "outcome": m.outcome,
                    "version": m.version,
                }
                for m in mitigations
            ]
            self.stdout.write(out.to_json(data))
            return
        write = self.stdout.write
        day = _day_minutes(organisation)
        on = (
            f"task {obstacle.task_id} ({obstacle.task.name})"
            if obstacle.task
            else ("the whole run")
        )
        write(f"Obstacle {obstacle.pk}: {obstacle.title} [{obstacle.status}]")
        write(
            f"On {on} of run {obstacle.run_id} ({obstacle.run.title}); "
            f"{obstacle.severity}, cause {obstacle.cause}; expected delay "
            f"{out.working_span(obstacle.expected_delay_minutes, day)}."
        )
        write(obstacle.description)
        write(
            f"Raised by {obstacle.raised_by.username} at "
            f"{out.local(obstacle.raised_at, organisation)}; escalates if still open "
            f"at {out.local(obstacle.respond_by, organisation)}; version "
            f"{obstacle.version}."
        )
        if obstacle.closed_at:
            write(
                f"Closed at {out.local(obstacle.closed_at, organisation)}: "
                f"{obstacle.resolution}"
            )
        if stored is not None:
            write("")
            write("Impact when raised:")
            self._impact(stored, access, organisation)
        for title, shown in (
            ("Supporting information", supporting),
            ("Evidence of the resolution", resolution),
        ):
            if shown:
                write("")
                write(f"{title}:")
                for record in shown:
                    write(f"  {record.pk}: {record.title} [{status_text(record)}]")
        if mitigations:
            write("")
            rows = [
                [
                    str(m.pk),
                    m.status,
                    m.description,
                    m.owner.full_name,
                    out.local(m.due_at, organisation),
                ]
                for m in mitigations
            ]
            for line in out.table(
                ["MITIGATION", "STATUS", "ACTION", "OWNER", "DUE"], rows, right=(0,)
            ):
                write(line)

    def _what_if(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = reading(organisation, options["actor"])
        run = run_of(access, options["run"])
        task = task_of(access, options["task"]) if options["task"] else None
        if task is not None and task.run_id != run.pk:
            raise out.bad_input(f"Task {task.pk} is not a task of run {run.pk}.")
        delay = duration(options["delay"], organisation)
        seen = impacts.what_if(run, task=task, delay_minutes=delay, now=self.now)
        if options["json"]:
            self.stdout.write(out.to_json(_impact_data(seen, access)))
            return
        on = f"task {task.pk} ({task.name})" if task else "the whole run"
        self.stdout.write(
            f"What if {on} of run {run.pk} ({run.title}) is held up "
            f"{out.working_span(delay, _day_minutes(organisation))}? Nothing is saved."
        )
        self._impact(seen, access, organisation)

    def _impact(
        self, seen: impacts.Impact, access: Access, organisation: Organisation
    ) -> None:
        write = self.stdout.write
        day = _day_minutes(organisation)
        data = _impact_data(seen, access)
        if data["moved"]:
            rows = [
                [
                    str(moved["task_id"]),
                    moved["name"],
                    out.working_span(moved["shift_minutes"], day),
                    out.local(moved["finish_before"], organisation),
                    out.local(moved["finish_after"], organisation),
                ]
                for moved in data["moved"]
            ]
            for line in out.table(
                ["TASK", "NAME", "MOVES", "FINISH BEFORE", "FINISH AFTER"],
                rows,
                right=(0,),
            ):
                write(line)
        else:
            write("No task moves.")
        if data["other_moved"]:
            write(f"…and {count(data['other_moved'], 'task')} of other parties.")
        write(
            f"Projected finish {out.local(seen.finish_before, organisation)} → "
            f"{out.local(seen.finish_after, organisation)} (due "
            f"{out.local(seen.due_at, organisation)}); {seen.status_before} → "
            f"{seen.status_after}."
        )
        if seen.puts_target_at_risk:
            write("This puts the target at risk.")

    # --- writing -------------------------------------------------------------------------

    def _raise(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        run = run_of(access, options["run"])
        task = task_of(access, options["task"]) if options["task"] else None
        delay = duration(options["delay"], organisation)
        supporting = _records(access, options["record"])
        obstacle = refusals(
            access,
            lambda: services.raise_obstacle(
                run,
                actor=access.user,
                title=options["title"],
                description=options["description"],
                expected_delay_minutes=delay,
                severity=options["severity"],
                cause=options["cause"],
                task=task,
                records=supporting,
                now=self.now,
            ),
        )
        if options["json"]:
            self.stdout.write(out.to_json(obstacle_data(obstacle)))
            return
        seen = impacts.Impact.from_json(obstacle.impact)
        self.stdout.write(
            f"Raised obstacle {obstacle.pk}: {obstacle.title}. The schedule moved: "
            f"projected finish {out.local(seen.finish_after, organisation)} "
            f"({seen.status_after})."
        )

    def _resolve(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        obstacle = _obstacle(access, options["obstacle_id"])
        evidence = _records(access, options["record"])
        closed = refusals(
            access,
            lambda: services.resolve(
                obstacle,
                actor=access.user,
                expected_version=options["version"] or obstacle.version,
                resolution=options["resolution"],
                records=evidence,
                now=self.now,
            ),
        )
        hearsay = any(record.is_hearsay for record in evidence)
        self._closed(
            options,
            closed,
            f"Obstacle {closed.pk} resolved"
            + (" (resting on unverified information)." if hearsay else "."),
        )

    def _withdraw(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        obstacle = _obstacle(access, options["obstacle_id"])
        closed = refusals(
            access,
            lambda: services.withdraw(
                obstacle,
                actor=access.user,
                expected_version=options["version"] or obstacle.version,
                reason=options["reason"],
                now=self.now,
            ),
        )
        self._closed(options, closed, f"Obstacle {closed.pk} withdrawn.")

    def _closed(self, options: dict[str, Any], obstacle: Obstacle, said: str) -> None:
        if options["json"]:
            self.stdout.write(out.to_json(obstacle_data(obstacle)))
        else:
            self.stdout.write(said)

    def _mitigate(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        obstacle = _obstacle(access, options["obstacle_id"])
        owner = Person.objects.filter(
            organisation=organisation, pk=number(options["owner"], "person")
        ).first()
        if owner is None:
            raise out.bad_input(
                f"No person with the id {options['owner']} in {organisation.slug}."
            )
        due_at = moment(options["due"], "--due", organisation)
        mitigation = refusals(
            access,
            lambda: services.add_mitigation(
                obstacle,
                actor=access.user,
                description=options["description"],
                owner=owner,
                due_at=due_at,
                now=self.now,
            ),
        )
        if options["json"]:
            self.stdout.write(
                out.to_json(
                    {
                        "id": mitigation.pk,
                        "obstacle_id": obstacle.pk,
                        "description": mitigation.description,
                        "owner": {"id": owner.pk, "name": owner.full_name},
                        "due_at": mitigation.due_at,
                        "status": mitigation.status,
                        "version": mitigation.version,
                    }
                )
            )
            return
        self.stdout.write(
            f"Mitigation {mitigation.pk} of obstacle {obstacle.pk}: "
            f"{owner.full_name}, due {out.local(mitigation.due_at, organisation)}."
        )


# --- helpers --------------------------------------------------------------------------------

_DELAY_HELP = (
    "working time: minutes (600), or 90m, 4h, 2d (a working day of the calendar)"
)


def duration(raw: str, organisation: Organisation) -> int:
    """A delay in working minutes: "600", "90m", "4h", "2d"."""
    match = _DURATION.match(raw or "")
    if match is None or int(match.group(1)) <= 0:
        raise out.bad_input(
            f"--delay is working time such as 600 (minutes), 90m, 4h or 2d, not "
            f"{raw!r}."
        )
    amount, unit = int(match.group(1)), match.group(2) or "m"
    if unit == "h":
        return amount * 60
    if unit == "d":
        return amount * _day_minutes(organisation)
    return amount


def _day_minutes(organisation: Organisation) -> int:
    return minutes_per_working_day(projection.calendar_spec(organisation))


def _obstacle(access: Access, raw: Any) -> Obstacle:
    pk = number(raw, "obstacle")
    return found(
        lambda: queries.obstacle(access, pk),
        f"No obstacle with the id {raw} in {access.organisation.slug}.",
    )


def _records(access: Access, raws: list[str]) -> list[InformationRecord]:
    wanted = [number(raw, "record") for raw in raws]
    shown = {
        record.pk: record
        for record in evidence_queries.visible_records(access).filter(pk__in=wanted)
    }
    missing = [str(pk) for pk in wanted if pk not in shown]
    if missing:
        raise out.bad_input(
            f"No information record {', '.join(missing)} in {access.organisation.slug}."
        )
    return [shown[pk] for pk in wanted]


def _record_ref(record: InformationRecord) -> dict[str, Any]:
    return {
        "id": record.pk,
        "title": record.title,
        "status": record.status,
        "is_hearsay": record.is_hearsay,
    }


def _impact_data(seen: impacts.Impact, access: Access) -> dict[str, Any]:
    """The impact; a partner sees its own party's moved tasks (others counted)."""
    party = access.partner_party_id
    shown = [m for m in seen.moved if party is None or m.party_id == party]
    return {
        "delay_minutes": seen.delay_minutes,
        "moved": [
            {
                "task_id": m.task_id,
                "key": m.key,
                "name": m.name,
                "shift_minutes": m.shift_minutes,
                "finish_before": m.finish_before,
                "finish_after": m.finish_after,
            }
            for m in shown
        ],
        "other_moved": len(seen.moved) - len(shown),
        "finish_before": seen.finish_before,
        "finish_after": seen.finish_after,
        "due_at": seen.due_at,
        "status_before": seen.status_before,
        "status_after": seen.status_after,
        "puts_target_at_risk": seen.puts_target_at_risk,
    }


def obstacle_data(obstacle: Obstacle) -> dict[str, Any]:
    return {
        "id": obstacle.pk,
        "run_id": obstacle.run_id,
        "task_id": obstacle.task_id,
        "title": obstacle.title,
        "description": obstacle.description,
        "severity": obstacle.severity,
        "cause": obstacle.cause,
        "expected_delay_minutes": obstacle.expected_delay_minutes,
        "status": obstacle.status,
        "raised_by": obstacle.raised_by.username,
        "raised_at": obstacle.raised_at,
        "respond_by": obstacle.respond_by,
        "closed_at": obstacle.closed_at,
        "resolution": obstacle.resolution,
        "version": obstacle.version,
    }
