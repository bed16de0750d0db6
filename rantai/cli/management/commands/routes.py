from __future__ import annotations

import datetime as dt
from typing import Any

from django.core.management import BaseCommand, CommandError
from django.db.models import Count
from django.utils import timezone, translation

from rantai.accounts.models import Organisation, User
from rantai.approvals import routes
from rantai.approvals.models import (
    Route,
    RouteCondition,
    RouteVersion,
)
from rantai.chains.models import ConditionOperator, VersionStatus
from rantai.chains.rules import VALUELESS_OPERATORS
from rantai.cli.management.commands import _output as out
from rantai.core.errors import DomainError, NotFound, ValidationFailed


class Command(BaseCommand):
    help = (
        "Approval routes: `rantai routes list --org SLUG [--json]` lists an "
        "organisation's routes with their published and draft versions; `rantai "
        "routes show CODE --org SLUG` prints a route's versions, and the conditions "
        "and stages of its published version and its draft; `rantai routes publish "
        "CODE --org SLUG --as USERNAME` publishes the route's draft (the published "
        "version it replaces is retired), as that user. Exit code 2: the "
        "organisation, route or user does not exist; 1: the rules refused."
    )
    # Tests pass a fixed clock; everyone else publishes as of now.
    stealth_options = ("now",)

    def add_arguments(self, parser):  # type: ignore[no-untyped-def]
        sub = parser.add_subparsers(dest="action", required=True)
        listing = sub.add_parser("list", help="List the organisation's routes.")
        listing.add_argument("--org", required=True, help="organisation slug")
        listing.add_argument("--json", action="store_true", help="write JSON")
        show = sub.add_parser(
            "show", help="Print a route: versions, conditions, stages."
        )
        show.add_argument("code", metavar="CODE", help="the route's code")
        show.add_argument("--org", required=True, help="organisation slug")
        publish = sub.add_parser("publish", help="Publish a route's draft.")
        publish.add_argument("code", metavar="CODE", help="the route's code")
        publish.add_argument("--org", required=True, help="organisation slug")
        publish.add_argument(
            "--as",
            dest="actor",
            required=True,
            metavar="USERNAME",
            help=(
                "who publishes: an administrator, or a member holding the route's "
                "owner position (recorded in the audit trail)"
            ),
        )

    def handle(self, *args, **options):  # type: ignore[no-untyped-def]
        with out.quiet_broken_pipe():
            organisation = out.organisation(options["org"])
            if options["action"] == "list":
                self._list(organisation, as_json=options["json"])
            elif options["action"] == "show":
                self._show(_route(organisation, options["code"]))
            else:
                actor = out.active_user(options["actor"])
                self._publish(
                    _route(organisation, options["code"]),
                    actor,
                    options.get("now") or timezone.now(),
                )

    # --- list -------------------------------------------------------------------------

    def _list(self, organisation: Organisation, *, as_json: bool) -> None:
        found = routes.routes_for(organisation)
        versions: dict[int, dict[str, RouteVersion]] = {}
        for version in (
            RouteVersion.objects.filter(
                route__organisation=organisation,
                status__in=(VersionStatus.PUBLISHED, VersionStatus.DRAFT),
            )
            .select_related("published_by")
            .annotate(stage_count=Count("stages"))
        ):
            versions.setdefault(version.route_id, {})[version.status] = version
        if as_json:
            self.stdout.write(
                out.to_json(
                    [_route_data(route, versions.get(route.pk, {})) for route in found]
                )
            )
            return
        if not found:
            self.stdout.write(f"No approval routes in {organisation.slug}.")
            return
        rows = []
        for route in found:
            published = versions.get(route.pk, {}).get(VersionStatus.PUBLISHED)
            draft = versions.get(route.pk, {}).get(VersionStatus.DRAFT)
            rows.append(
                [
                    route.code,
                    route.name,
                    route.subject_kind,
                    str(route.priority),
                    f"v{published.number}" if published else "-",
                    str(published.stage_count) if published else "-",  # type: ignore[attr-defined]
                    f"v{draft.number}" if draft else "-",
                    route.owner_position.code if route.owner_position else "-",
                    "yes" if route.is_active else "no",
                ]
            )
        header = [
            "CODE",
            "NAME",
            "APPLIES TO",
            "PRIORITY",
            "PUBLISHED",
            "STAGES",
            "DRAFT",
            "OWNER",
            "ACTIVE",
        ]
        for line in out.table(header, rows, right=(3, 5)):
            self.stdout.write(line)

    # --- show -------------------------------------------------------------------------

    def _show(self, route: Route) -> None:
        organisation = route.organisation
        write = self.stdout.write
        write(f"Route {route.code}: {route.name}")
        write(
            f"Applies to: {route.get_subject_kind_display()} ({route.subject_kind}); "
            f"priority {route.priority}; {'active' if route.is_active else 'inactive'}."
        )
        owner = route.owner_position
        write(
            f"Process owner: {owner.title} ({owner.code})"
            if owner
            else "Process owner: - (administrators edit it)"
        )
        if route.description:
            write(route.description)
        write(f"Times in {organisation.time_zone}.")
        versions = routes.versions_of(route)
        write("")
        rows = [
            [
                f"v{version.number}",
                version.status,
                out.local(version.published_at, organisation),
                version.published_by.username if version.published_by else "-",
                out.local(version.retired_at, organisation),
            ]
            for version in versions
        ]
        for line in out.table(
            ["VERSION", "STATUS", "PUBLISHED", "BY", "RETIRED"], rows
        ):
            write(line)
        shown = [
            version
            for version in versions
            if version.status in (VersionStatus.PUBLISHED, VersionStatus.DRAFT)
        ]
        if not shown:
            write("")
            write("No published version and no draft: new requests cannot use it.")
        for version in sorted(shown, key=lambda v: v.status != VersionStatus.PUBLISHED):
            write("")
            self._version(version)

    def _version(self, version: RouteVersion) -> None:
        write = self.stdout.write
        if version.status == VersionStatus.PUBLISHED:
            write(f"Published version v{version.number} (new requests use it)")
        else:
            write(f"Draft v{version.number} (not in use until published)")
        write(
            "One person may fill several slots: "
            + ("yes" if version.allow_repeat_approver else "no")
        )
        if version.notes:
            write(f"Notes: {version.notes}")
        conditions = routes.conditions_of(version)
        if conditions:
            write("Applies when all of these hold:")
            for condition in conditions:
                write(f"  {_condition_text(condition)}")
        else:
            write("Applies to every request of its kind (no conditions).")
        stages = routes.stages_of(version)
        if not stages:
            write("No stages yet.")
            return
        rows = [
            [
                str(stage.order),
                stage.name,
                out.approvers_text(stage),
                out.mode_text(stage),
                f"{stage.time_limit_hours} working h"
                if stage.time_limit_hours
                else "-",
                stage.get_on_timeout_display() if stage.time_limit_hours else "-",
            ]
            for stage in stages
        ]
        header = ["#", "STAGE", "APPROVERS", "HOW MANY", "TIME LIMIT", "THEN"]
        for line in out.table(header, rows, right=(0,)):
            write(f"  {line}")
        if version.is_draft:
            problems = routes.publish_problems(version)
            for problem in problems:
                write(f"  Before publishing: {problem}")

    # --- publish ----------------------------------------------------------------------

    def _publish(self, route: Route, actor: User, now: dt.datetime) -> None:
        draft = routes.draft_of(route)
        if draft is None:
            raise CommandError(
                f"Route {route.code} has no draft to publish.", returncode=out.REFUSED
            )
        previous = routes.published_version(route)
        with translation.override(actor.language):
            try:
                routes.publish(
                    draft, actor=actor, expected_version=draft.version, now=now
                )
            except NotFound as error:
                raise out.bad_input(
                    f"{actor.username} is not a member of {route.organisation.slug}."
                ) from error
            except ValidationFailed as error:
                problems = [
                    message
                    for messages in error.errors.values()
                    for message in messages
                ]
                raise CommandError(
                    "\n".join(
                        [f"Route {route.code} v{draft.number} cannot be published:"]
                        + [f"  {problem}" for problem in problems]
                    ),
                    returncode=out.REFUSED,
                ) from error
            except DomainError as error:
                raise CommandError(error.message, returncode=out.REFUSED) from error
        retired = f"; v{previous.number} retired" if previous is not None else ""
        self.stdout.write(
            f"Route {route.code} v{draft.number} published by {actor.username}{retired}."
        )


# --- helpers --------------------------------------------------------------------------


def _route(organisation: Organisation, code: str) -> Route:
    route = (
        Route.objects.select_related("organisation", "owner_position")
        .filter(organisation=organisation, code=code)
        .first()
    )
    if route is None:
        raise out.bad_input(f"No route with the code {code!r} in {organisation.slug}.")
    return route


def _route_data(route: Route, versions: dict[str, RouteVersion]) -> dict[str, Any]:
    published = versions.get(VersionStatus.PUBLISHED)
    draft = versions.get(VersionStatus.DRAFT)
    return {
        "code": route.code,
        "name": route.name,
        "subject_kind": route.subject_kind,
        "priority": route.priority,
        "is_active": route.is_active,
        "owner_position": route.owner_position.code if route.owner_position else None,
        "published": (
            {
                "version": published.number,
                "stages": published.stage_count,  # type: ignore[attr-defined]
                "published_at": published.published_at,
                "published_by": (
                    published.published_by.username if published.published_by else None
                ),
            }
            if published
            else None
        ),
        "draft": {"version": draft.number} if draft else None,
    }


def _condition_text(condition: RouteCondition) -> str:
    operator = ConditionOperator(condition.operator).label
    if condition.operator in VALUELESS_OPERATORS:
        return f"{condition.field} {operator}"
    value = condition.value
    shown = ", ".join(str(v) for v in value) if isinstance(value, list) else str(value)
    return f"{condition.field} {operator} {shown}"
