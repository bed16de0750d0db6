"""What the chains engine tells people and webhooks about runs: a run completed (met
or missed its target) and a run whose projected finish moved past its due date.

Registered on the chains event handlers in `wiring.py`. Both events are rare (once
per run, and once per crossing of the due date), so each costs a few queries in the
transaction that caused it; the notifications and webhook deliveries it writes are
sent by the worker. Keys make them idempotent. `task.ready` is deliberately not
announced per task: it would sit on the engine's hot path, and a ready task already
shows on its people's Focus page.
"""

from __future__ import annotations

import datetime as dt
import uuid
import zoneinfo
from typing import Any

from django.conf import settings
from django.db.models import Q
from django.utils.text import format_lazy
from django.utils.translation import gettext_lazy as _

from rantai.accounts.models import Organisation, User
from rantai.chains import extensions
from rantai.chains.models import Run
from rantai.notifications import events, services, webhooks
from rantai.org.models import Holding

_NAMESPACE = uuid.UUID("6f1f3f2e-52b8-4f33-9a55-0c9b1a7d2e41")


def _run(run_id: int) -> Run:
    return Run.objects.select_related("organisation", "procedure").get(pk=run_id)


def _run_path(run: Run) -> str:
    return f"/o/{run.organisation.slug}/runs/{run.pk}/"


def _run_data(run: Run) -> dict[str, Any]:
    return {
        "id": run.pk,
        "title": run.title,
        "procedure": run.procedure.code,
        "due_at": run.due_at,
        "url": settings.RANTAI_BASE_URL.rstrip("/") + _run_path(run),
    }


def _owners_and_starter(run: Run, at: dt.datetime) -> list[User]:
    """The holders (acting included) of the procedure's owner position, and whoever
    started the run: the people answerable for its target."""
    day = at.astimezone(zoneinfo.ZoneInfo(run.organisation.time_zone)).date()
    owner_users = Holding.objects.current(day).filter(
        position_id=run.procedure.owner_position_id,
        person__is_active=True,
        person__user__isnull=False,
    )
    return list(
        User.objects.filter(
            Q(pk__in=owner_users.values("person__user_id")) | Q(pk=run.started_by_id)
        )
    )


def _publish(
    organisation: Organisation, event_type: str, key: str, data: dict[str, Any]
) -> None:
    event_id = uuid.uuid5(_NAMESPACE, f"{organisation.pk}:{key}")
    webhooks.publish(
        organisation,
        event_type=event_type,
        payload=lambda: events.build(organisation, event_type, data, event_id=event_id),
        event_id=event_id,
    )


def on_run_completed(event: extensions.RunCompleted) -> None:
    run = _run(event.run_id)
    late = event.completed_at - event.due_at
    late_by = int(late.total_seconds() // 60) if late > dt.timedelta(0) else None
    key = f"run:{run.pk}:completed"
    title = (
        format_lazy(_("Run completed, target met: {title}"), title=run.title)
        if event.result == "met"
        else format_lazy(_("Run completed, target missed: {title}"), title=run.title)
    )
    services.notify(
        run.organisation,
        recipients=_owners_and_starter(run, event.completed_at),
        event_type=events.RUN_COMPLETED,
        key=key,
        title=title,
        url=_run_path(run),
        now=event.completed_at,
    )
    _publish(
        run.organisation,
        events.RUN_COMPLETED,
        key,
        {
            "run": _run_data(run),
            "result": event.result,
            "completed_at": event.completed_at,
            "late_by_minutes": late_by,
        },
    )


def on_run_late(event: extensions.RunLate) -> None:
    run = _run(event.run_id)
    # One announcement per projected finish past the due date (a later slip of the
    # same run announces again; the same projection twice does not).
    key = f"run:{run.pk}:late:{event.projected_finish_at.isoformat()}"
    services.notify(
        run.organisation,
        recipients=_owners_and_starter(run, event.projected_finish_at),
        event_type=events.RUN_LATE,
        key=key,
        title=format_lazy(
            _("Run will finish after its due date: {title}"), title=run.title
        ),
        url=_run_path(run),
    )
    _publish(
        run.organisation,
        events.RUN_LATE,
        key,
        {"run": _run_data(run), "projected_finish_at": event.projected_finish_at},
    )
