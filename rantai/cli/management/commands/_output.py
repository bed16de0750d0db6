"""What the coordination commands (`rantai routes`, `rantai approvals`) share: finding
the organisation and the acting user (bad input exits with code 2), aligned tables,
JSON, local times and spans of time. Not a command itself (the leading underscore
keeps Django from listing it)."""

from __future__ import annotations

import datetime as dt
import json
import os
import sys
import zoneinfo
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from decimal import Decimal
from typing import Any

from django.core.management import CommandError

from rantai.accounts.access import Access
from rantai.accounts.models import Membership, Organisation, Role, User
from rantai.approvals.models import ApproverRule, RouteStage, StageMode

TIME_FORMAT = "%Y-%m-%d %H:%M"
# Exit codes: the input names nothing that exists (or is malformed) / the rules
# refused the action (nothing was written).
BAD_INPUT = 2
REFUSED = 1


def bad_input(message: str) -> CommandError:
    return CommandError(message, returncode=BAD_INPUT)


def organisation(slug: str) -> Organisation:
    found = Organisation.objects.filter(slug=slug).first()
    if found is None:
        raise bad_input(f"No organisation with the short name {slug!r}.")
    return found


def active_user(username: str) -> User:
    found = User.objects.filter(username=username, is_active=True).first()
    if found is None:
        raise bad_input(f"No active user with the username {username!r}.")
    return found


def reader(of: Organisation) -> Access:
    """The command line reads as the installation's operator: the whole
    organisation, as an auditor sees it, changing nothing."""
    return Access(
        organisation=of,
        user=User(username="rantai-cli"),
        membership=Membership(organisation=of, role=Role.AUDITOR),
    )


def local(moment: dt.datetime | None, of: Organisation) -> str:
    if moment is None:
        return "-"
    return moment.astimezone(zoneinfo.ZoneInfo(of.time_zone)).strftime(TIME_FORMAT)


def wall_span(delta: dt.timedelta) -> str:
    """Calendar time: "2 days 3 h", "45 min"."""
    minutes = int(abs(delta).total_seconds() // 60)
    days, rest = divmod(minutes, 24 * 60)
    hours, minutes = divmod(rest, 60)
    parts = [
        f"{days} day{'s' if days != 1 else ''}" if days else "",
        f"{hours} h" if hours else "",
        f"{minutes} min" if minutes and not days else "",
    ]
    return " ".join(part for part in parts if part) or "0 min"


def working_span(minutes: int, day_minutes: int) -> str:
    """Working minutes as working days, hours and minutes: "1d 3h", "20m"."""
    minutes = abs(minutes)
    if minutes == 0:
        return "0m"
    days, rest = divmod(minutes, day_minutes) if day_minutes else (0, minutes)
    hours, rest = divmod(rest, 60)
    parts = [f"{days}d" if days else "", f"{hours}h" if hours else ""]
    if rest and not days:
        parts.append(f"{rest}m")
    return " ".join(part for part in parts if part)


def table(
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


def _json_value(value: Any) -> Any:
    if isinstance(value, dt.datetime):
        return value.astimezone(dt.UTC).isoformat()
    if isinstance(value, Decimal):
        return str(value)
    raise TypeError(f"cannot write {type(value).__name__} as JSON")


def to_json(data: Any) -> str:
    """Indented JSON; times in UTC (ISO 8601)."""
    return json.dumps(data, indent=2, ensure_ascii=False, default=_json_value)


@contextmanager
def quiet_broken_pipe() -> Iterator[None]:
    """Piped into `head` or a pager that quit: stop quietly."""
    try:
        yield
    except BrokenPipeError:
        os.dup2(os.open(os.devnull, os.O_WRONLY), sys.stdout.fileno())


# --- route stages in words ------------------------------------------------------------


def approvers_text(stage: RouteStage) -> str:
    """Who a route stage asks, in words."""
    rule = stage.rule
    if rule == ApproverRule.SUPERIOR:
        if stage.levels == 1:
            return "the requester's superior"
        return f"the requester's superior, {stage.levels} levels up"
    if rule == ApproverRule.POSITION and stage.position is not None:
        return f"holders of {stage.position.title} ({stage.position.code})"
    if rule == ApproverRule.UNIT_HEAD and stage.party is not None:
        return f"the head of {stage.party.name} ({stage.party.code})"
    if rule == ApproverRule.STEP_ACCOUNTABLE:
        return "the holders of the step's accountable position"
    if rule == ApproverRule.PERSON and stage.person is not None:
        return stage.person.full_name
    return stage.get_rule_display()


def mode_text(stage: RouteStage) -> str:
    if stage.mode == StageMode.QUORUM:
        return f"{stage.quorum} of them"
    return str(StageMode(stage.mode).label)
