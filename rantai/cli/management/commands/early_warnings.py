"""`rantai warnings list|scan|acknowledge` (this file is named so that it does not
shadow Python's `warnings` module; `rantai warnings` is its alias): the early
warnings of the worker's scan on the command line (docs/design-obstacles.md,
"Early warnings")."""

from __future__ import annotations

from typing import Any

from django.core.management import BaseCommand
from django.utils import timezone, translation

from rantai.accounts.models import Organisation
from rantai.cli.management.commands import _output as out
from rantai.cli.management.commands.records import (
    acting,
    add_common,
    count,
    number,
    reading,
    refusals,
)
from rantai.obstacles import warnings
from rantai.obstacles.models import EarlyWarning, WarningKind


class Command(BaseCommand):
    help = (
        "Early warnings: `rantai warnings list --org SLUG [--as USERNAME [--mine]] "
        "[--resolved | --all] [--kind K] [--json]` lists the warnings that hold "
        "(as that member sees them, or the whole organisation's), each with why "
        "and what to do; `scan [--org SLUG]` runs the early-warning scan now (every "
        "organisation without --org) and prints what it raised, refreshed and "
        "resolved; `acknowledge ID --org SLUG --as USERNAME` says a recipient has "
        "taken a warning in. Exit code 2: the organisation, user or warning does "
        "not exist; 1: the rules refused (nothing was written)."
    )
    # Tests pass a fixed clock; everyone else scans as of now.
    stealth_options = ("now",)

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)

        listing = sub.add_parser("list", help="List early warnings.")
        add_common(listing, acting_required=False)
        listing.add_argument(
            "--mine", action="store_true", help="only those for --as USERNAME"
        )
        which = listing.add_mutually_exclusive_group()
        which.add_argument(
            "--resolved", action="store_true", help="those that no longer hold"
        )
        which.add_argument(
            "--all", action="store_true", help="active and resolved ones"
        )
        listing.add_argument("--kind", choices=WarningKind.values)

        scan = sub.add_parser("scan", help="Run the early-warning scan now.")
        scan.add_argument("--org", help="only this organisation (slug)")
        scan.add_argument("--json", action="store_true", help="write JSON")

        acknowledge = sub.add_parser("acknowledge", help="Acknowledge a warning.")
        acknowledge.add_argument("warning_id", metavar="ID")
        add_common(acknowledge, acting_required=True, json=False)

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        now = options.get("now") or timezone.now()
        with out.quiet_broken_pipe():
            action = options["action"]
            if action == "scan":
                self._scan(options, now)
                return
            organisation = out.organisation(options["org"])
            if action == "list":
                self._list(organisation, options)
            else:
                self._acknowledge(organisation, options, now)

    def _list(self, organisation: Organisation, options: dict[str, Any]) -> None:
        if options["mine"] and not options["actor"]:
            raise out.bad_input("--mine needs --as USERNAME: whose warnings?")
        access = reading(organisation, options["actor"])
        active: bool | None = None if options["all"] else not options["resolved"]
        found = warnings.warnings(access, kind=options["kind"], active=active)
        if options["mine"]:
            found = found.filter(is_mine=True)  # type: ignore[misc]
        shown = list(found)
        for warning in shown:
            warning.organisation = organisation
        language = access.user.language or "en"
        with translation.override(language):
            explained = [(w, *warnings.explain(w)) for w in shown]
        if options["json"]:
            self.stdout.write(
                out.to_json([_data(w, why, todo) for w, why, todo in explained])
            )
            return
        if not shown:
            self.stdout.write(f"No early warnings in {organisation.slug}.")
            return
        write = self.stdout.write
        for warning, why, todo in explained:
            state = "resolved" if warning.resolved_at else "active"
            acknowledged = getattr(warning, "acknowledged_at", None)
            mark = " (acknowledged)" if acknowledged else ""
            write(
                f"{warning.pk} [{warning.kind}, {state}]{mark} run {warning.run_id}"
                + (f", task {warning.task_id}" if warning.task_id else "")
                + f" — raised {out.local(warning.raised_at, organisation)}"
            )
            write(f"  Why: {why}")
            write(f"  What to do: {todo}")
        write(f"{count(len(shown), 'warning')}; times in {organisation.time_zone}.")

    def _scan(self, options: dict[str, Any], now: Any) -> None:
        organisation_ids = (
            [out.organisation(options["org"]).pk] if options["org"] else None
        )
        result = warnings.scan(now=now, organisation_ids=organisation_ids)
        data = {
            "runs_scanned": result.runs_scanned,
            "raised": result.raised,
            "refreshed": result.refreshed,
            "resolved": result.resolved,
        }
        if options["json"]:
            self.stdout.write(out.to_json(data))
            return
        self.stdout.write(
            f"Scanned {count(result.runs_scanned, 'active run')}: "
            f"{result.raised} raised, {result.refreshed} still holding, "
            f"{result.resolved} resolved."
        )

    def _acknowledge(
        self, organisation: Organisation, options: dict[str, Any], now: Any
    ) -> None:
        access = acting(organisation, options["actor"])
        pk = number(options["warning_id"], "warning")
        warning: EarlyWarning | None = (
            warnings.warnings(access, active=None).filter(pk=pk).first()
        )
        if warning is None:
            raise out.bad_input(
                f"No early warning with the id {options['warning_id']} that "
                f"{access.user.username} can see."
            )
        warning.organisation = organisation
        refusals(
            access,
            lambda: warnings.acknowledge(warning, actor=access.user, now=now),
        )
        self.stdout.write(
            f"Warning {warning.pk} acknowledged by {access.user.username}."
        )


def _data(warning: EarlyWarning, why: str, todo: str) -> dict[str, Any]:
    return {
        "id": warning.pk,
        "kind": warning.kind,
        "subject_key": warning.subject_key,
        "run_id": warning.run_id,
        "task_id": warning.task_id,
        "why": why,
        "what_to_do": todo,
        "facts": warning.facts,
        "raised_at": warning.raised_at,
        "checked_at": warning.checked_at,
        "resolved_at": warning.resolved_at,
        "is_mine": bool(getattr(warning, "is_mine", False)),
        "acknowledged_at": getattr(warning, "acknowledged_at", None),
    }
