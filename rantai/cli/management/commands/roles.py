from __future__ import annotations

import datetime as dt
import sys
from collections.abc import Callable
from pathlib import Path
from typing import Any

from django.core.management import BaseCommand, CommandError
from django.utils import timezone, translation

from rantai.accounts.access import Access, access_for
from rantai.accounts.models import Membership, Organisation, User
from rantai.chains.models import Procedure, ProcedureVersion, Task, VersionStatus
from rantai.cli.management.commands import _output as out
from rantai.core.errors import DomainError, NotFound
from rantai.org.models import Party, PartyKind, Person
from rantai.roles import (
    assigning,
    briefings,
    checks,
    exports,
    fairness,
    queries,
    raci,
    rebalancing,
)
from rantai.roles.models import Briefing, RebalanceProposal

MATRIX_FORMATS = ("table", "json", "xlsx", "pdf")
# Exit code of `checks` when a role check found an error (publishing is refused).
ERRORS_FOUND = 1


class Command(BaseCommand):
    help = (
        "Roles with teeth (RACI, role checks, briefings, fair assignment). "
        "`rantai roles raci CODE [--org SLUG] [--version N] [--format "
        "table|json|xlsx|pdf] [--output FILE]` prints or writes a procedure's RACI "
        "matrix (the published version unless --version); `mine --user USERNAME "
        "[--org SLUG]` lists that user's roles; `checks --org SLUG [--json]` runs "
        "the role checks (exit code 1 when one finds an error); `briefings --org "
        "SLUG [--user USERNAME]` lists briefings and who acknowledged them; "
        "`acknowledge ID --user USERNAME` acknowledges that user's briefing; "
        "`assign TASK --to PERSON --user USERNAME [--reason TEXT]` assigns a task "
        "by hand (ids); `rebalance UNIT --user USERNAME [--org SLUG] [--apply]` "
        "proposes (and applies) an even spread of a unit's ready tasks; `fairness "
        "--org SLUG --since DATE --until DATE [--unit CODE] [--json | --xlsx FILE]` "
        "prints the fairness report. Exit code 2: the organisation, user, "
        "procedure, task, person or unit does not exist; 1: the rules refused."
    )
    # Tests pass a fixed clock; everyone else acts as of now.
    stealth_options = ("now",)

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)

        matrix = sub.add_parser("raci", help="A procedure's RACI matrix.")
        matrix.add_argument("code", metavar="CODE", help="the procedure's code")
        matrix.add_argument("--org", help="organisation slug (when several have CODE)")
        matrix.add_argument(
            "--version",
            type=int,
            dest="number",
            metavar="N",
            help="the version number (default: the published one, else the latest)",
        )
        matrix.add_argument("--format", choices=MATRIX_FORMATS, default="table")
        matrix.add_argument(
            "--output", metavar="FILE", help="write to FILE (default: stdout)"
        )
        matrix.add_argument(
            "--language",
            choices=("id", "en"),
            default="en",
            help="language of xlsx and pdf (default: en)",
        )

        mine = sub.add_parser("mine", help="A user's roles in published procedures.")
        mine.add_argument("--user", required=True, metavar="USERNAME")
        mine.add_argument("--org", help="organisation slug (when several)")
        mine.add_argument("--json", action="store_true", help="write JSON")

        check = sub.add_parser("checks", help="Run the organisation's role checks.")
        check.add_argument("--org", required=True, help="organisation slug")
        check.add_argument("--json", action="store_true", help="write JSON")

        listing = sub.add_parser("briefings", help="Briefings and acknowledgements.")
        listing.add_argument("--org", required=True, help="organisation slug")
        listing.add_argument(
            "--user", metavar="USERNAME", help="only this user's own briefings"
        )

        acknowledge = sub.add_parser("acknowledge", help="Acknowledge a briefing.")
        acknowledge.add_argument("briefing_id", metavar="ID", help="the briefing's id")
        acknowledge.add_argument(
            "--user", required=True, metavar="USERNAME", help="the person briefed"
        )

        assign = sub.add_parser("assign", help="Assign a task by hand.")
        assign.add_argument("task_id", metavar="TASK", help="the task's id")
        assign.add_argument(
            "--to", required=True, dest="person_id", metavar="PERSON", help="person id"
        )
        assign.add_argument(
            "--reason",
            default="",
            help="why (required for someone outside the candidates)",
        )
        assign.add_argument(
            "--user", required=True, metavar="USERNAME", help="who assigns"
        )

        rebalance = sub.add_parser("rebalance", help="Even out a unit's ready tasks.")
        rebalance.add_argument("unit", metavar="UNIT", help="the unit's code")
        rebalance.add_argument(
            "--user", required=True, metavar="USERNAME", help="who rebalances"
        )
        rebalance.add_argument("--org", help="organisation slug (when several)")
        rebalance.add_argument(
            "--apply", action="store_true", help="apply the proposal at once"
        )

        report = sub.add_parser("fairness", help="The fairness report of a period.")
        report.add_argument("--org", required=True, help="organisation slug")
        report.add_argument("--since", required=True, help="first day, YYYY-MM-DD")
        report.add_argument("--until", required=True, help="last day, YYYY-MM-DD")
        report.add_argument("--unit", metavar="CODE", help="a unit and its sub-units")
        kind = report.add_mutually_exclusive_group()
        kind.add_argument("--json", action="store_true", help="write JSON")
        kind.add_argument("--xlsx", metavar="FILE", help="write an Excel workbook")

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        now = options.get("now") or timezone.now()
        action = options["action"]
        with out.quiet_broken_pipe():
            if action == "raci":
                self._raci(options)
            elif action == "mine":
                self._mine(options["user"], options["org"], as_json=options["json"])
            elif action == "checks":
                self._checks(out.organisation(options["org"]), now, options["json"])
            elif action == "briefings":
                self._briefings(out.organisation(options["org"]), options["user"])
            elif action == "acknowledge":
                self._acknowledge(options["briefing_id"], options["user"], now)
            elif action == "assign":
                self._assign(options, now)
            elif action == "rebalance":
                self._rebalance(options, now)
            else:
                self._fairness(options)

    # --- raci -----------------------------------------------------------------------

    def _raci(self, options: dict[str, Any]) -> None:
        version = _version(options["org"], options["code"], options["number"])
        matrix = raci.matrix(version)
        kind = options["format"]
        if kind == "table":
            self._matrix_table(matrix)
            return
        if kind == "json":
            self._write(
                out.to_json(_matrix_data(matrix)) + "\n", options["output"], "json"
            )
            return
        language = options["language"]
        data = (
            exports.matrix_xlsx(matrix, language=language)
            if kind == "xlsx"
            else exports.matrix_pdf(matrix, language=language)
        )
        self._write(data, options["output"], kind)

    def _matrix_table(self, matrix: raci.Matrix) -> None:
        write = self.stdout.write
        status = VersionStatus(matrix.status).label
        write(
            f"RACI matrix of {matrix.procedure_name} ({matrix.procedure_code}), "
            f"version {matrix.number} ({status})"
        )
        if not matrix.rows:
            write("No steps.")
            return
        header = ["#", "STEP", *(column.code for column in matrix.columns)]
        rows = [
            [
                str(number),
                row.name + (" *" if row.requires_consultation else ""),
                *(
                    matrix.label(row.step_id, column) or "-"
                    for column in matrix.columns
                ),
            ]
            for number, row in enumerate(matrix.rows, start=1)
        ]
        for line in out.table(header, rows, right=(0,)):
            write(line)
        write("")
        for column in matrix.columns:
            outside = ", outside partner" if column.is_external else ""
            if column.kind == raci.PARTY:
                write(f"{column.code}: {column.title} (the party itself{outside})")
            else:
                write(f"{column.code}: {column.title} ({column.party_name}{outside})")
        write("R = Responsible, A = Accountable, C = Consulted, I = Informed.")
        if any(row.requires_consultation for row in matrix.rows):
            write("*: the consulted must answer before the task is completed.")

    def _write(self, data: str | bytes, output: str | None, kind: str) -> None:
        """Text or a file to the standard output or to `output`."""
        if output is None:
            if isinstance(data, str):
                self.stdout.write(data, ending="")
                return
            stream = getattr(self.stdout, "_out", sys.stdout)
            binary = getattr(stream, "buffer", None)
            isatty = getattr(stream, "isatty", None)
            if binary is None or (isatty and isatty()):
                raise out.bad_input(
                    f"The {kind} file is binary: give --output FILE or redirect the "
                    "standard output to a file."
                )
            stream.flush()
            binary.write(data)
            binary.flush()
            return
        path = Path(output)
        raw = data.encode() if isinstance(data, str) else data
        try:
            path.write_bytes(raw)
        except OSError as error:
            raise out.bad_input(f"Cannot write {path}: {error.strerror}") from error
        self.stdout.write(f"Wrote {path} ({len(raw):,} bytes).")

    # --- mine -----------------------------------------------------------------------

    def _mine(self, username: str, slug: str | None, *, as_json: bool) -> None:
        user = out.active_user(username)
        access = _access(user, _organisation_of(user, slug))
        roles = raci.roles_of_user(access)
        if as_json:
            self.stdout.write(out.to_json([_role_data(role) for role in roles]))
            return
        if not roles:
            self.stdout.write(
                f"{user.username} has no role in a published procedure of "
                f"{access.organisation.slug}."
            )
            return
        rows = [
            [
                f"{role.procedure_name} ({role.procedure_code})",
                str(role.version_number),
                role.step_name,
                role.role,
                role.position_title + (" (Plt)" if role.acting else ""),
            ]
            for role in roles
        ]
        header = ["PROCEDURE", "VERSION", "STEP", "ROLE", "THROUGH"]
        for line in out.table(header, rows, right=(1,)):
            self.stdout.write(line)
        self.stdout.write(
            "R = Responsible, A = Accountable, C = Consulted, I = Informed; "
            "(Plt): as acting holder."
        )

    # --- checks ---------------------------------------------------------------------

    def _checks(
        self, organisation: Organisation, now: dt.datetime, as_json: bool
    ) -> None:
        with translation.override("en"):
            findings = checks.check_organisation(organisation, now=now)
        errors = sum(1 for finding in findings if finding.is_error)
        if as_json:
            self.stdout.write(out.to_json([_finding_data(f) for f in findings]))
        elif not findings:
            self.stdout.write(f"The role checks of {organisation.slug} found nothing.")
        else:
            rows = [
                [
                    finding.severity.upper(),
                    finding.rule,
                    finding.subject,
                    "acknowledged" if finding.is_acknowledged else "-",
                    finding.message,
                ]
                for finding in findings
            ]
            header = ["SEVERITY", "CHECK", "SUBJECT", "ACK", "FINDING"]
            for line in out.table(header, rows):
                self.stdout.write(line)
            warnings = len(findings) - errors
            acknowledged = sum(1 for f in findings if f.is_acknowledged)
            self.stdout.write(
                f"{_count(errors, 'error')}, {_count(warnings, 'warning')} "
                f"({acknowledged} acknowledged)."
            )
        if errors:
            raise CommandError(
                f"The role checks of {organisation.slug} found "
                f"{_count(errors, 'error')}: versions with errors cannot be "
                "published.",
                returncode=ERRORS_FOUND,
            )

    # --- briefings ------------------------------------------------------------------

    def _briefings(self, organisation: Organisation, username: str | None) -> None:
        if username:
            user = out.active_user(username)
            found = queries.my_briefings(_access(user, organisation))
        else:
            found = list(
                queries.briefings(out.reader(organisation)).order_by(
                    "person__full_name", "-issued_at", "-id"
                )
            )
        if not found:
            self.stdout.write(
                f"{username} has no briefings in {organisation.slug}."
                if username
                else f"{organisation.slug} has no briefings."
            )
            return
        with translation.override("en"):
            rows = [
                [
                    str(briefing.pk),
                    briefing.person.full_name,
                    briefings.heading(briefing),
                    out.local(briefing.issued_at, organisation),
                    out.local(briefing.acknowledged_at, organisation)
                    if briefing.acknowledged_at
                    else "not yet",
                    str(briefing.reminders_sent),
                ]
                for briefing in found
            ]
        header = ["ID", "PERSON", "ABOUT", "ISSUED", "ACKNOWLEDGED", "REMINDERS"]
        for line in out.table(header, rows, right=(0, 5)):
            self.stdout.write(line)
        waiting = sum(1 for briefing in found if briefing.acknowledged_at is None)
        self.stdout.write(
            f"{_count(waiting, 'briefing')} not acknowledged yet; times in "
            f"{organisation.time_zone}."
        )

    def _acknowledge(self, raw_id: str, username: str, now: dt.datetime) -> None:
        user = out.active_user(username)
        found = (
            Briefing.objects.select_related("organisation", "person")
            .filter(pk=_number(raw_id, "briefing"))
            .first()
        )
        if found is None:
            raise out.bad_input(f"No briefing with the id {raw_id}.")
        _access(user, found.organisation)
        _refusals(
            user,
            lambda: briefings.acknowledge(
                found, actor=user, expected_version=found.version, now=now
            ),
        )
        self.stdout.write(
            f"Briefing {found.pk} of {found.person.full_name} acknowledged by "
            f"{user.username}."
        )

    # --- assign ---------------------------------------------------------------------

    def _assign(self, options: dict[str, Any], now: dt.datetime) -> None:
        user = out.active_user(options["user"])
        raw_task = options["task_id"]
        task = (
            Task.objects.select_related("organisation")
            .filter(pk=_number(raw_task, "task"))
            .first()
        )
        if task is None:
            raise out.bad_input(f"No task with the id {raw_task}.")
        organisation = task.organisation
        _access(user, organisation)
        person = Person.objects.filter(
            organisation=organisation, pk=_number(options["person_id"], "person")
        ).first()
        if person is None:
            raise out.bad_input(
                f"No person with the id {options['person_id']} in {organisation.slug}."
            )
        assignment = _refusals(
            user,
            lambda: assigning.assign_task(
                task,
                actor=user,
                person=person,
                reason=options["reason"],
                expected_version=task.version,
                now=now,
            ),
        )
        override = f" (override: {assignment.reason})" if assignment.is_override else ""
        self.stdout.write(
            f"Task {task.pk} ({task.name}) assigned to {person.full_name} by "
            f"{user.username}{override}."
        )

    # --- rebalance ------------------------------------------------------------------

    def _rebalance(self, options: dict[str, Any], now: dt.datetime) -> None:
        user = out.active_user(options["user"])
        unit = _unit(options["org"], options["unit"])
        _access(user, unit.organisation)
        proposal = _refusals(
            user, lambda: rebalancing.propose(unit, actor=user, now=now)
        )
        self._proposal(proposal, unit)
        if not options["apply"]:
            if proposal.moves:
                self.stdout.write(
                    f"Proposal {proposal.pk} is not applied: nothing moved "
                    "(--apply moves the tasks)."
                )
            return
        if not proposal.moves:
            return
        applied = _refusals(
            user,
            lambda: rebalancing.apply(
                proposal, actor=user, expected_version=proposal.version, now=now
            ),
        )
        self.stdout.write(
            f"Applied proposal {applied.pk}: {_count(len(applied.moves), 'task')} "
            "moved."
        )

    def _proposal(self, proposal: RebalanceProposal, unit: Party) -> None:
        write = self.stdout.write
        before = {int(k): int(v) for k, v in proposal.load_before.items()}
        after = {int(k): int(v) for k, v in proposal.load_after.items()}
        moves = list(proposal.moves)
        people = set(before) | set(after)
        people.update(move["to"] for move in moves)
        people.update(move["from"] for move in moves if move.get("from"))
        names = dict(
            Person.objects.filter(pk__in=people).values_list("pk", "full_name")
        )
        tasks = dict(
            Task.objects.filter(pk__in=[move["task"] for move in moves]).values_list(
                "pk", "name"
            )
        )
        write(f"Rebalancing of {unit.name} ({unit.code}): proposal {proposal.pk}")
        if not moves:
            write("The load is already as even as the candidates allow: no move.")
        else:
            rows = [
                [
                    str(move["task"]),
                    tasks.get(move["task"], "?"),
                    names.get(move["from"], "-") if move.get("from") else "nobody",
                    names.get(move["to"], "?"),
                    _hours(move["minutes"]),
                ]
                for move in moves
            ]
            for line in out.table(
                ["TASK", "NAME", "FROM", "TO", "HOURS"], rows, right=(0, 4)
            ):
                write(line)
        write("")
        rows = [
            [
                names.get(person, f"#{person}"),
                _hours(before.get(person, 0)),
                _hours(after.get(person, 0)),
            ]
            for person in sorted(
                people, key=lambda p: (-before.get(p, 0), names.get(p, ""), p)
            )
        ]
        for line in out.table(
            ["PERSON", "BEFORE (H)", "AFTER (H)"], rows, right=(1, 2)
        ):
            write(line)
        write(
            f"Maximum load {_hours(max(before.values(), default=0))} h → "
            f"{_hours(max(after.values(), default=0))} h; Gini "
            f"{proposal.gini_before} → {proposal.gini_after}."
        )

    # --- fairness -------------------------------------------------------------------

    def _fairness(self, options: dict[str, Any]) -> None:
        organisation = out.organisation(options["org"])
        since = _date(options["since"], "--since")
        until = _date(options["until"], "--until")
        if until < since:
            raise out.bad_input("The period ends (--until) before it starts (--since).")
        unit = _unit(organisation.slug, options["unit"]) if options["unit"] else None
        report = fairness.report(organisation, since=since, until=until, unit=unit)
        if options["xlsx"]:
            self._write(
                fairness.to_excel(report, language="en"), options["xlsx"], "xlsx"
            )
            return
        if options["json"]:
            self.stdout.write(out.to_json(_fairness_data(report)))
            return
        write = self.stdout.write
        scope = f"{report.unit_name} and its sub-units" if unit else organisation.name
        write(
            f"Fairness of assignment in {scope}, {since.isoformat()} to "
            f"{until.isoformat()}: {_count(report.assignments, 'task')} counted."
        )
        rows = [
            [person.person_name, str(person.tasks), _hours(person.minutes)]
            for person in report.people
        ]
        if rows:
            for line in out.table(["PERSON", "TASKS", "HOURS"], rows, right=(1, 2)):
                write(line)
        write(f"Gini coefficient of the load: {report.gini} (0: everyone the same).")
        if report.overrides:
            write("")
            rows = [
                [o.assigner_name, str(o.manual), str(o.overrides), _percent(o.share)]
                for o in report.overrides
            ]
            for line in out.table(
                ["ASSIGNER", "BY HAND", "OVERRIDES", "SHARE"], rows, right=(1, 2, 3)
            ):
                write(line)
        if report.concentration:
            write("")
            rows = [
                [
                    c.assigner_name,
                    str(c.picks),
                    c.top_person_name,
                    _percent(c.share),
                    _percent(c.expected_share),
                    str(c.ratio),
                    "FLAGGED" if c.flagged else "-",
                ]
                for c in report.concentration
            ]
            header = [
                "ASSIGNER",
                "PICKS",
                "MOST PICKED",
                "SHARE",
                "EXPECTED",
                "RATIO",
                "",
            ]
            for line in out.table(header, rows, right=(1, 3, 4, 5)):
                write(line)
            write(
                "Flagged: at least 5 picks, and their favourite got at least twice "
                "the share a pick among the candidates would give."
            )


# --- helpers --------------------------------------------------------------------------


def _count(number: int, noun: str) -> str:
    return f"{number} {noun}{'' if number == 1 else 's'}"


def _hours(minutes: int) -> str:
    return f"{minutes / 60:.1f}"


def _percent(share: Any) -> str:
    return f"{share * 100:.1f}%"


def _number(raw: str, what: str) -> int:
    try:
        return int(raw)
    except (TypeError, ValueError):
        raise out.bad_input(f"A {what} id is a number, not {raw!r}.") from None


def _date(raw: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise out.bad_input(f"{option} is a date as YYYY-MM-DD, not {raw!r}.") from None


def _access(user: User, organisation: Organisation) -> Access:
    try:
        return access_for(user, organisation.slug)
    except NotFound as error:
        raise out.bad_input(
            f"{user.username} is not a member of {organisation.slug}."
        ) from error


def _organisation_of(user: User, slug: str | None) -> Organisation:
    """The organisation named, or the user's only one."""
    if slug:
        return out.organisation(slug)
    memberships = list(
        Membership.objects.filter(
            user=user, is_active=True, organisation__is_active=True
        ).select_related("organisation")[:2]
    )
    if not memberships:
        raise out.bad_input(f"{user.username} is not a member of any organisation.")
    if len(memberships) > 1:
        raise out.bad_input(
            f"{user.username} belongs to several organisations: name one with --org."
        )
    return memberships[0].organisation


def _refusals[T](user: User, action: Callable[[], T]) -> T:
    """Run a service as `user`, in their language; a refusal exits with code 1."""
    with translation.override(user.language or "en"):
        try:
            return action()
        except DomainError as error:
            raise CommandError(error.message, returncode=out.REFUSED) from error


def _version(slug: str | None, code: str, number: int | None) -> ProcedureVersion:
    procedures = Procedure.objects.filter(code=code).select_related("organisation")
    if slug:
        procedures = procedures.filter(organisation=out.organisation(slug))
    found = list(procedures[:2])
    if not found:
        where = f" in {slug}" if slug else ""
        raise out.bad_input(f"No procedure with the code {code!r}{where}.")
    if len(found) > 1:
        raise out.bad_input(
            f"Several organisations have a procedure {code!r}: name one with --org."
        )
    versions = ProcedureVersion.objects.filter(procedure=found[0])
    if number is not None:
        version = versions.filter(number=number).first()
        if version is None:
            raise out.bad_input(f"Procedure {code} has no version {number}.")
        return version
    version = (
        versions.filter(status=VersionStatus.PUBLISHED).first()
        or versions.order_by("-number").first()
    )
    if version is None:
        raise out.bad_input(f"Procedure {code} has no version.")
    return version


def _unit(slug: str | None, code: str) -> Party:
    units = Party.objects.filter(
        code=code, kind=PartyKind.INTERNAL_UNIT
    ).select_related("organisation")
    if slug:
        units = units.filter(organisation=out.organisation(slug))
    found = list(units[:2])
    if not found:
        where = f" in {slug}" if slug else ""
        raise out.bad_input(f"No unit with the code {code!r}{where}.")
    if len(found) > 1:
        raise out.bad_input(
            f"Several organisations have a unit {code!r}: name one with --org."
        )
    return found[0]


def _matrix_data(matrix: raci.Matrix) -> dict[str, Any]:
    return {
        "procedure": {
            "id": matrix.procedure_id,
            "code": matrix.procedure_code,
            "name": matrix.procedure_name,
        },
        "version": {
            "id": matrix.version_id,
            "number": matrix.number,
            "status": matrix.status,
        },
        "columns": [
            {
                "key": f"{column.kind}:{column.id}",
                "kind": column.kind,
                "id": column.id,
                "code": column.code,
                "title": column.title,
                "party": column.party_name,
                "is_external": column.is_external,
            }
            for column in matrix.columns
        ],
        "rows": [
            {
                "step_id": row.step_id,
                "key": row.key,
                "name": row.name,
                "requires_consultation": row.requires_consultation,
                "cells": {
                    f"{column.kind}:{column.id}": list(
                        matrix.roles_in(row.step_id, column)
                    )
                    for column in matrix.columns
                    if matrix.cell(row.step_id, column)
                },
            }
            for row in matrix.rows
        ],
    }


def _role_data(role: raci.PersonRole) -> dict[str, Any]:
    return {
        "procedure": {
            "id": role.procedure_id,
            "code": role.procedure_code,
            "name": role.procedure_name,
        },
        "version": role.version_number,
        "step": {"id": role.step_id, "key": role.step_key, "name": role.step_name},
        "role": role.role,
        "position": {"id": role.position_id, "title": role.position_title},
        "acting": role.acting,
    }


def _finding_data(finding: checks.Finding) -> dict[str, Any]:
    acknowledgement = finding.acknowledged
    return {
        "rule": finding.rule,
        "severity": finding.severity,
        "subject": finding.subject,
        "message": finding.message,
        "explanation": finding.explanation,
        "fix": {"kind": finding.fix[0], "id": finding.fix[1]},
        "procedure_id": finding.procedure_id,
        "version_id": finding.version_id,
        "step_id": finding.step_id,
        "acknowledged": (
            {
                "id": acknowledgement.pk,
                "reason": acknowledgement.reason,
                "at": acknowledgement.acknowledged_at,
            }
            if acknowledgement is not None
            else None
        ),
    }


def _fairness_data(report: fairness.FairnessReport) -> dict[str, Any]:
    return {
        "organisation_id": report.organisation_id,
        "unit_id": report.unit_id,
        "since": report.since.isoformat(),
        "until": report.until.isoformat(),
        "assignments": report.assignments,
        "gini": report.gini,
        "people": [
            {
                "person_id": p.person_id,
                "name": p.person_name,
                "tasks": p.tasks,
                "minutes": p.minutes,
            }
            for p in report.people
        ],
        "rows": [
            {
                "person_id": r.person_id,
                "position_id": r.position_id,
                "position_code": r.position_code,
                "tasks": r.tasks,
                "minutes": r.minutes,
            }
            for r in report.rows
        ],
        "positions": [
            {
                "position_id": p.position_id,
                "position_code": p.position_code,
                "people": p.people,
                "tasks": p.tasks,
                "minutes": p.minutes,
                "gini": p.gini,
            }
            for p in report.positions
        ],
        "overrides": [
            {
                "assigner_id": o.assigner_id,
                "name": o.assigner_name,
                "manual": o.manual,
                "overrides": o.overrides,
                "share": o.share,
            }
            for o in report.overrides
        ],
        "concentration": [
            {
                "assigner_id": c.assigner_id,
                "name": c.assigner_name,
                "picks": c.picks,
                "top_person_id": c.top_person_id,
                "top_picks": c.top_picks,
                "share": c.share,
                "expected_share": c.expected_share,
                "ratio": c.ratio,
                "flagged": c.flagged,
            }
            for c in report.concentration
        ],
        "lorenz": [list(point) for point in report.lorenz],
    }
