"""`rantai targets list|show|create|update|deactivate|set-run`: work targets, their
progress and the runs that contribute to them on the command line
(docs/design-insight.md, "Targets")."""

from __future__ import annotations

import datetime as dt
import zoneinfo
from decimal import Decimal, InvalidOperation
from typing import Any

from django.core.management import BaseCommand
from django.db.models import QuerySet
from django.utils import timezone

from rantai.accounts.access import Access
from rantai.accounts.models import Organisation
from rantai.chains import targets as services
from rantai.chains.models import Target
from rantai.cli.management.commands import _output as out
from rantai.cli.management.commands.records import (
    acting,
    add_common,
    count,
    found,
    number,
    reading,
    refusals,
    run_of,
)
from rantai.insight import queries
from rantai.insight import targets as progress
from rantai.org import queries as org_queries
from rantai.org.models import Party, Position

PERIODS = ("current", "upcoming", "past")


class Command(BaseCommand):
    help = (
        "Work targets: `rantai targets list --org SLUG [--as USERNAME] [--all | "
        "--inactive] [--period current|upcoming|past] [--party CODE] [--parent ID] "
        "[--json]` lists targets with their progress and status; `show ID --org "
        "SLUG [--as USERNAME] [--json]` prints a target's figures, why it stands "
        "where it does (the runs at risk and their obstacles) and the targets under "
        "it; `create --org SLUG --as USERNAME --name N --quantity Q --unit U --from "
        "DATE --to DATE --owner-position CODE [--party CODE] [--parent ID] "
        "[--description TEXT]` sets one; `update ID --org SLUG --as USERNAME "
        "[--name N] [--quantity Q] [--unit U] [--from DATE] [--to DATE] "
        "[--owner-position CODE] [--party CODE|none] [--parent ID|none] "
        "[--description TEXT] [--version N]` changes it; `deactivate ID --org SLUG "
        "--as USERNAME [--version N]`; `set-run RUN --org SLUG --as USERNAME "
        "--target ID|none [--version N]` points a run at the target it contributes "
        "to. Exit code 2: something named does not exist (or an option is "
        "malformed); 1: the rules refused (nothing was written)."
    )
    # Tests pass a fixed clock; everyone else acts as of now.
    stealth_options = ("now",)

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)

        listing = sub.add_parser("list", help="List targets with their progress.")
        add_common(listing, acting_required=False)
        which = listing.add_mutually_exclusive_group()
        which.add_argument(
            "--all", action="store_true", help="active and deactivated targets"
        )
        which.add_argument(
            "--inactive", action="store_true", help="deactivated targets only"
        )
        listing.add_argument("--period", choices=PERIODS)
        listing.add_argument("--party", metavar="CODE", help="set by this party")
        listing.add_argument("--parent", metavar="ID", help="directly under this one")

        show = sub.add_parser("show", help="Print a target's progress and why.")
        show.add_argument("target_id", metavar="ID", help="the target's id")
        add_common(show, acting_required=False)

        create = sub.add_parser("create", help="Set a target.")
        add_common(create, acting_required=True)
        create.add_argument("--name", required=True)
        create.add_argument("--quantity", required=True, metavar="Q")
        create.add_argument("--unit", required=True, help='e.g. "units", "tonnes"')
        create.add_argument(
            "--from", dest="start", required=True, metavar="DATE", help="YYYY-MM-DD"
        )
        create.add_argument(
            "--to", dest="end", required=True, metavar="DATE", help="YYYY-MM-DD"
        )
        create.add_argument(
            "--owner-position", dest="owner_position", required=True, metavar="CODE"
        )
        create.add_argument("--party", metavar="CODE", help="the party that sets it")
        create.add_argument("--parent", metavar="ID", help="part of this target")
        create.add_argument("--description", default="")

        update = sub.add_parser("update", help="Change a target.")
        update.add_argument("target_id", metavar="ID")
        add_common(update, acting_required=True)
        update.add_argument("--name")
        update.add_argument("--quantity", metavar="Q")
        update.add_argument("--unit")
        update.add_argument("--from", dest="start", metavar="DATE")
        update.add_argument("--to", dest="end", metavar="DATE")
        update.add_argument("--owner-position", dest="owner_position", metavar="CODE")
        update.add_argument("--party", metavar="CODE", help="a party's code, or none")
        update.add_argument("--parent", metavar="ID", help="a target's id, or none")
        update.add_argument("--description")
        update.add_argument(
            "--version", type=int, metavar="N", help="default: the current one"
        )

        deactivate = sub.add_parser("deactivate", help="Deactivate a target.")
        deactivate.add_argument("target_id", metavar="ID")
        add_common(deactivate, acting_required=True)
        deactivate.add_argument("--version", type=int, metavar="N")

        set_run = sub.add_parser("set-run", help="Set the target a run works toward.")
        set_run.add_argument("run_id", metavar="RUN", help="the run's id")
        add_common(set_run, acting_required=True)
        set_run.add_argument(
            "--target", required=True, metavar="ID", help="a target's id, or none"
        )
        set_run.add_argument(
            "--version", type=int, metavar="N", help="the run's (default: current)"
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
        targets = list(_filtered(access, options, self.now))
        figures = progress.roll_up(organisation, targets, now=self.now)
        if options["json"]:
            self.stdout.write(
                out.to_json([target_data(t, figures[t.pk]) for t in targets])
            )
            return
        if not targets:
            self.stdout.write(f"No targets in {organisation.slug}.")
            return
        rows = [
            [
                str(target.pk),
                target.name + ("" if target.is_active else " (inactive)"),
                f"{target.period_start} – {target.period_end}",
                f"{_amount(target.measure_quantity)} {target.measure_unit}",
                _amount(figures[target.pk].actual),
                f"{_percent(figures[target.pk].percent_actual)}%",
                str(figures[target.pk].status),
                target.owner_position.code,
            ]
            for target in targets
        ]
        header = ["ID", "NAME", "PERIOD", "TARGET", "ACTUAL", "DONE", "STATUS", "OWNER"]
        for line in out.table(header, rows, right=(0, 3, 4, 5)):
            self.stdout.write(line)
        at_risk = sum(1 for t in targets if figures[t.pk].status == "at_risk")
        self.stdout.write(f"{count(len(targets), 'target')}, {at_risk} at risk.")

    def _show(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = reading(organisation, options["actor"])
        target = _target(access, options["target_id"])
        seen = progress.progress(access, target, now=self.now)
        children = list(
            queries.targets(access)
            .filter(parent_id=target.pk)
            .order_by("period_start", "name", "id")
        )
        if options["json"]:
            data = target_data(target, seen)
            data["explanation"] = list(seen.explanation)
            data["risky_runs"] = [_line_data(line) for line in seen.risky_runs]
            data["children"] = [child.pk for child in children]
            self.stdout.write(out.to_json(data))
            return
        write = self.stdout.write
        unit = target.measure_unit
        write(
            f"Target {target.pk}: {target.name} [{seen.status}]"
            + ("" if target.is_active else " (inactive)")
        )
        write(
            f"{_amount(target.measure_quantity)} {unit} from {target.period_start} "
            f"to {target.period_end}; set by "
            f"{target.party.name if target.party else 'the whole organisation'}; "
            f"owner {target.owner_position.title} ({target.owner_position.code}); "
            f"version {target.version}."
        )
        if target.parent is not None:
            write(f"Part of target {target.parent.pk} ({target.parent.name}).")
        if target.description:
            write(target.description)
        write("")
        rows = [
            ["Actual", _amount(seen.actual), f"{_percent(seen.percent_actual)}%"],
            ["Secure", _amount(seen.secure), ""],
            ["At risk", _amount(seen.at_risk), ""],
            ["Projected", "", f"{_percent(seen.percent_projected)}%"],
            ["After the period", _amount(seen.after_period), ""],
            ["Shortfall", _amount(seen.shortfall), ""],
        ]
        for line in out.table(
            [unit.upper(), "QUANTITY", "OF TARGET"], rows, right=(1, 2)
        ):
            write(line)
        if seen.explanation:
            write("")
            write("Why:")
            for said in seen.explanation:
                write(f"  {said}")
        if seen.risky_runs:
            write("")
            rows = [
                [
                    str(line.run_id),
                    line.title,
                    str(line.reason),
                    _amount(line.quantity),
                    out.local(line.projected_finish_at, organisation),
                    "; ".join(
                        f"{o.title} ({o.expected_delay_minutes} min)"
                        for o in line.obstacles
                    )
                    or "-",
                ]
                for line in seen.risky_runs
            ]
            for line in out.table(
                ["RUN", "TITLE", "WHY", "QUANTITY", "PROJECTED FINISH", "OBSTACLES"],
                rows,
                right=(0, 3),
            ):
                write(line)
        if children:
            write("")
            write("Under it:")
            for child in children:
                write(f"  {child.pk}: {child.name}")

    # --- writing -------------------------------------------------------------------------

    def _create(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        arguments = {
            "name": options["name"],
            "description": options["description"],
            "measure_quantity": _quantity(options["quantity"]),
            "measure_unit": options["unit"],
            "period_start": _date(options["start"], "--from"),
            "period_end": _date(options["end"], "--to"),
            "owner_position": _position(access, options["owner_position"]),
            "party": _party(access, options["party"]) if options["party"] else None,
            "parent": _target(access, options["parent"]) if options["parent"] else None,
        }
        target = refusals(
            access,
            lambda: services.create_target(
                organisation, actor=access.user, now=self.now, **arguments
            ),
        )
        self._done(
            options,
            access,
            target,
            f"Created target {target.pk}: {target.name} "
            f"({_amount(target.measure_quantity)} {target.measure_unit}, "
            f"{target.period_start} to {target.period_end}).",
        )

    def _update(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        target = _target(access, options["target_id"])
        changes: dict[str, Any] = {}
        for option, field in (
            ("name", "name"),
            ("unit", "measure_unit"),
            ("description", "description"),
        ):
            if options[option] is not None:
                changes[field] = options[option]
        if options["quantity"] is not None:
            changes["measure_quantity"] = _quantity(options["quantity"])
        if options["start"] is not None:
            changes["period_start"] = _date(options["start"], "--from")
        if options["end"] is not None:
            changes["period_end"] = _date(options["end"], "--to")
        if options["owner_position"] is not None:
            changes["owner_position"] = _position(access, options["owner_position"])
        if options["party"] is not None:
            changes["party"] = (
                None if _none(options["party"]) else _party(access, options["party"])
            )
        if options["parent"] is not None:
            changes["parent"] = (
                None if _none(options["parent"]) else _target(access, options["parent"])
            )
        if not changes:
            raise out.bad_input("Nothing to change: give at least one option.")
        refusals(
            access,
            lambda: services.update_target(
                target,
                actor=access.user,
                expected_version=options["version"] or target.version,
                **changes,
            ),
        )
        self._done(options, access, target, f"Target {target.pk} updated.")

    def _deactivate(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        target = _target(access, options["target_id"])
        refusals(
            access,
            lambda: services.deactivate_target(
                target,
                actor=access.user,
                expected_version=options["version"] or target.version,
            ),
        )
        self._done(options, access, target, f"Target {target.pk} deactivated.")

    def _set_run(self, organisation: Organisation, options: dict[str, Any]) -> None:
        access = acting(organisation, options["actor"])
        run = run_of(access, options["run_id"])
        target = (
            None if _none(options["target"]) else _target(access, options["target"])
        )
        refusals(
            access,
            lambda: services.set_run_target(
                run,
                actor=access.user,
                expected_version=options["version"] or run.version,
                target=target,
            ),
        )
        run.refresh_from_db()
        if options["json"]:
            self.stdout.write(
                out.to_json(
                    {
                        "run_id": run.pk,
                        "title": run.title,
                        "target_id": run.target_id,
                        "version": run.version,
                    }
                )
            )
        elif target is None:
            self.stdout.write(f"Run {run.pk} contributes to no target now.")
        else:
            self.stdout.write(
                f"Run {run.pk} ({run.title}) contributes to target {target.pk} "
                f"({target.name})."
            )

    def _done(
        self, options: dict[str, Any], access: Access, target: Target, said: str
    ) -> None:
        if options["json"]:
            fresh = _target(access, target.pk)
            seen = progress.progress(access, fresh, now=self.now)
            self.stdout.write(out.to_json(target_data(fresh, seen)))
        else:
            self.stdout.write(said)


# --- helpers --------------------------------------------------------------------------------


def _filtered(
    access: Access, options: dict[str, Any], now: dt.datetime
) -> QuerySet[Target]:
    found = queries.targets(access).select_related("party", "owner_position")
    if options["inactive"]:
        found = found.filter(is_active=False)
    elif not options["all"]:
        found = found.filter(is_active=True)
    today = now.astimezone(zoneinfo.ZoneInfo(access.organisation.time_zone)).date()
    if options["period"] == "current":
        found = found.filter(period_start__lte=today, period_end__gte=today)
    elif options["period"] == "upcoming":
        found = found.filter(period_start__gt=today)
    elif options["period"] == "past":
        found = found.filter(period_end__lt=today)
    if options["party"]:
        found = found.filter(party=_party(access, options["party"]))
    if options["parent"]:
        found = found.filter(parent_id=number(options["parent"], "target"))
    return found.order_by("period_start", "name", "id")


def _none(raw: str) -> bool:
    return raw.strip().lower() == "none"


def _target(access: Access, raw: Any) -> Target:
    pk = number(raw, "target")
    return found(
        lambda: queries.target(access, pk),
        f"No target with the id {raw} in {access.organisation.slug}.",
    )


def _position(access: Access, code: str) -> Position:
    position = org_queries.positions(access).filter(code=code).first()
    if position is None:
        raise out.bad_input(
            f"No position with the code {code!r} in {access.organisation.slug}."
        )
    return position


def _party(access: Access, code: str) -> Party:
    party = org_queries.parties(access).filter(code=code).first()
    if party is None:
        raise out.bad_input(
            f"No party with the code {code!r} in {access.organisation.slug}."
        )
    return party


def _quantity(raw: str) -> Decimal:
    try:
        quantity = Decimal(raw)
    except InvalidOperation:
        raise out.bad_input(f"--quantity is a number, not {raw!r}.") from None
    if not quantity.is_finite():
        raise out.bad_input(f"--quantity is a number, not {raw!r}.")
    return quantity


def _date(raw: str, option: str) -> dt.date:
    try:
        return dt.date.fromisoformat(raw)
    except ValueError:
        raise out.bad_input(f"{option} is a date as YYYY-MM-DD, not {raw!r}.") from None


def _amount(value: Any) -> str:
    """A quantity with thousands separators, without needless decimals."""
    amount = Decimal(value).quantize(Decimal("0.01"))
    if amount == amount.to_integral_value():
        return f"{amount:,.0f}"
    return f"{amount:,.2f}"


def _percent(value: Any) -> str:
    return f"{Decimal(str(value)).quantize(Decimal('1')):f}"


def target_data(target: Target, seen: progress.TargetProgress) -> dict[str, Any]:
    return {
        "id": target.pk,
        "name": target.name,
        "description": target.description,
        "measure_quantity": target.measure_quantity,
        "measure_unit": target.measure_unit,
        "period_start": target.period_start.isoformat(),
        "period_end": target.period_end.isoformat(),
        "parent_id": target.parent_id,
        "party": target.party.code if target.party else None,
        "owner_position": target.owner_position.code,
        "is_active": target.is_active,
        "version": target.version,
        "progress": {
            "status": str(seen.status),
            "actual": seen.actual,
            "secure": seen.secure,
            "at_risk": seen.at_risk,
            "after_period": seen.after_period,
            "shortfall": seen.shortfall,
            "percent_actual": seen.percent_actual,
            "percent_projected": seen.percent_projected,
        },
    }


def _line_data(line: progress.RunLine) -> dict[str, Any]:
    return {
        "run_id": line.run_id,
        "title": line.title,
        "procedure_name": line.procedure_name,
        "status": str(line.status),
        "schedule_status": str(line.schedule_status),
        "quantity": line.quantity,
        "projected_finish_at": line.projected_finish_at,
        "completed_at": line.completed_at,
        "reason": str(line.reason),
        "obstacles": [
            {
                "id": o.id,
                "title": o.title,
                "severity": str(o.severity),
                "expected_delay_minutes": o.expected_delay_minutes,
            }
            for o in line.obstacles
        ],
    }
